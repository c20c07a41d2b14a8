#!/usr/bin/env bash
# Runs the whole test suite (unit, property, protocol, integration with real tools) and prints one summary line:
# "Tests: N passed, N failed, N skipped", then, outside CI, each skipped test with its reason (a missing tool's reason
# names the Debian package that brings it; in CI a missing tool fails its test instead).
# The test projects run at the same time (each uses its own ephemeral ports, temp directories and uniquely named
# zpools); CAIRN_TEST_PROJECTS=1 runs them one after another.
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
dotnet build Cairn.slnx -c Release -nologo -v q -clp:ErrorsOnly || exit 1
dotnet test Cairn.slnx -c Release --no-build -nologo -v q -m:"${CAIRN_TEST_PROJECTS:-5}" \
  --logger "console;verbosity=normal" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '
  /^Total tests: *[0-9]+/ { runs++ }
  /^ +Passed: +[0-9]+ *$/  { p += $2 }
  /^ +Failed: +[0-9]+ *$/  { f += $2 }
  /^ +Skipped: +[0-9]+ *$/ { s += $2 }
  END {
    if (runs == 0) { print "no test results found"; exit 1 }
    printf "Tests: %d passed, %d failed, %d skipped\n", p, f, s
  }' "$log" || status=1
# xunit prints a skipped test as "[xUnit.net …]     NAME [SKIP]" and its reason on the next line.
awk '
  want { sub(/^\[xUnit\.net [^]]*\] */, ""); printf "  skipped: %s: %s\n", name, $0; want = 0; next }
  /^\[xUnit\.net [^]]*\] +.* \[SKIP\]$/ { name = $0; sub(/^\[xUnit\.net [^]]*\] +/, "", name); sub(/ \[SKIP\]$/, "", name); want = 1 }
' "$log" | sort -u
rm -f "$log"
exit "$status"
