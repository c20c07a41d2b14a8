#!/usr/bin/env bash
# Runs the whole test suite (unit, property, protocol, integration with real tools) and prints one summary line:
# "Tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
dotnet build Cairn.slnx -c Release -nologo -v q -clp:ErrorsOnly || exit 1
dotnet test Cairn.slnx -c Release --no-build -nologo -v q --logger "console;verbosity=normal" 2>&1 | tee "$log"
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
rm -f "$log"
exit "$status"
