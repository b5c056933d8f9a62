#!/usr/bin/env bash
# run.sh NAME... — run each harness build-fuzz/fuzz_NAME for FUZZ_SECONDS, or until FUZZ_RUNS
# executions when that comes first (one harness after the other), from the committed seeds in tests/fuzz/corpus/NAME plus what earlier runs found in
# build-fuzz/corpus/NAME, with the format's dictionary when there is one. Prints one line per
# harness (executions, exec/s, result) and exits non-zero if any harness crashed, hung,
# leaked or tripped a sanitizer; the input that did it is in build-fuzz/artifacts/NAME/.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
RUNS=${FUZZ_RUNS:--1}
failed=0
for name in "$@"; do
  mkdir -p "$B/corpus/$name" "$B/artifacts/$name" "$B/logs"
  log="$B/logs/$name.log"
  dict=()
  [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: memory a file cannot justify.
  "$B/fuzz_$name" -max_total_time="$SECONDS_EACH" -runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$name/" "${dict[@]}" "$B/corpus/$name" "tests/fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ $rc -eq 0 ]; then result=ok; else result="FAILED (exit $rc, see $log)"; failed=1; fi
  printf 'fuzz %-22s %12s runs %8s exec/s  %s\n' "$name" "${runs:-?}" "${speed:-?}" "$result"
  [ $rc -ne 0 ] && grep -m5 -E 'ERROR|SUMMARY|property failed|Test unit written' "$log" | sed 's/^/    /'
done
exit $failed
