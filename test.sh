#!/usr/bin/env bash
# Runs the whole test suite (unit, property, protocol, integration with real tools) and prints one summary line:
# "Tests: N passed, N failed, N skipped", then, outside CI, each skipped test with its reason (a missing tool's reason
# names the Debian package that brings it; in CI a missing tool fails its test instead). Arguments go to dotnet test
# (e.g. --filter …); CAIRN_TEST_NO_BUILD=1 skips the build.
# The test projects run at the same time (each uses its own ephemeral ports, temp directories and uniquely named
# zpools); CAIRN_TEST_PROJECTS=1 runs them one after another.
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
# Each test skipped for a missing tool appends "TEST: REASON" here (ExternalTool): the console logger shows a skipped
# test's name, never its reason.
CAIRN_SKIP_LOG=$(mktemp)
export CAIRN_SKIP_LOG
[ "${CAIRN_TEST_NO_BUILD:-}" = 1 ] || dotnet build Cairn.slnx -c Release -nologo -v q -clp:ErrorsOnly || exit 1
dotnet test Cairn.slnx -c Release --no-build -nologo -v q -m:"${CAIRN_TEST_PROJECTS:-5}" \
  --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
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
# Every skipped test: its reason from the skip log when it has one, else the logger's "Skipped NAME" line.
sed -n 's/^  Skipped \(.*\) \[[^]]*\]$/\1/p' "$log" | sort -u | while IFS= read -r name; do
  reason=$(grep -F -m1 -- "$name: " "$CAIRN_SKIP_LOG" | cut -c$((${#name} + 3))-)
  printf '  skipped: %s: %s\n' "$name" "${reason:-(no reason recorded: an explicit test, or one that skipped itself)}"
done
# A fixture (tgtd, a zpool) that skips its whole class is named by its reason only.
grep -F '(fixture): ' "$CAIRN_SKIP_LOG" | sort -u | sed 's/^(fixture): /  skipped (class fixture): /'
rm -f "$log" "$CAIRN_SKIP_LOG"
exit "$status"
