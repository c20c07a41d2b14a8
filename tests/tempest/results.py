#!/usr/bin/env python3
"""Summarizes a Tempest (stestr) subunit v2 stream read from stdin.

Writes one JSON object per test to the file given as the first argument ({"id", "status", "reason"}; status is
success, fail, skip, xfail, uxsuccess or error; reason is the skip reason or the first lines of the failure) and prints
a summary: counts, then every failure with its traceback tail, then every skip with its reason. Exit code: 0 when
nothing failed and at least one test passed, 1 otherwise.
"""
import json
import sys

import subunit
import testtools

FAILED = {"fail", "uxsuccess", "error"}


def detail_text(details, name):
    content = details.get(name)
    if content is None:
        return ""
    try:
        return "".join(chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
                       for chunk in content.iter_bytes())
    except Exception:  # an attachment we cannot read is not worth failing the summary over
        return ""


def failure_summary(trace):
    """The exception lines of a traceback (its unindented lines: the exception, its message, Tempest's "Details:"),
    then the last frames in the test and in Tempest's service client, which say which call failed."""
    lines = trace.strip().splitlines()
    said = [l[:300] for l in lines if l.strip() and not l.startswith((" ", "\t", "Traceback", "During handling"))][:6]
    for where in ("/tempest/api/", "/tempest/lib/services/"):
        frames = [l.strip() for l in lines if l.strip().startswith('File "') and where in l]
        if frames:
            said.append("at " + frames[-1][:300])
    return "\n".join(said) if said else "\n".join(lines[-15:])


def main():
    out_path = sys.argv[1]
    tests = []
    stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
    result = testtools.StreamToDict(tests.append)
    result.startTestRun()
    try:
        stream.run(result)
    finally:
        result.stopTestRun()

    rows = []
    for t in tests:
        if t["id"] is None or t["id"] == "":
            continue
        status = t["status"]
        if status in ("skip",):
            reason = detail_text(t["details"], "reason").strip()
        elif status in FAILED:
            reason = failure_summary(detail_text(t["details"], "traceback") or detail_text(t["details"], "reason"))
        else:
            reason = ""
        rows.append({"id": t["id"], "status": status, "reason": reason})

    with open(out_path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")

    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    passed = counts.get("success", 0) + counts.get("xfail", 0)
    failed = sum(counts.get(s, 0) for s in FAILED)
    print("tempest: %d passed, %d failed, %d skipped (%d in all)"
          % (passed, failed, counts.get("skip", 0), len(rows)))
    for r in rows:
        if r["status"] in FAILED:
            print("FAILED %s\n    %s" % (r["id"], r["reason"].replace("\n", "\n    ")))
    for r in rows:
        if r["status"] == "skip":
            print("SKIPPED %s: %s" % (r["id"], r["reason"]))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
