#!/usr/bin/env bash
# fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# Runs each libFuzzer target for SECONDS on a copy of its seed corpus
# (fuzz/corpus/<target>/, plus whatever earlier runs added under
# BUILD_DIR/fuzz-corpus/<target>/). Prints executions per target and exits
# non-zero if any target crashed, leaked, or hit a sanitizer report.
# Long campaign: fuzz/run.sh build/fuzz 3600
set -uo pipefail
build=$1; secs=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for b in "$build"/fuzz/fuzz_*; do [ -x "$b" ] && targets+=("$(basename "$b")"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz/run.sh: no fuzz targets in $build/fuzz"; exit 1; }
fail=0
printf '%-28s %14s %s\n' TARGET EXECUTIONS RESULT
for t in "${targets[@]}"; do
  corpus=$build/fuzz-corpus/$t
  mkdir -p "$corpus" "$build/fuzz-artifacts/$t"
  [ -d "$here/corpus/$t" ] && cp -n "$here/corpus/$t"/* "$corpus"/ 2>/dev/null
  log=$build/fuzz-artifacts/$t/log.txt
  "$build/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t/" \
    "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  if [ $rc = 0 ]; then res=ok; else res="FAILED (rc $rc, see $log)"; fail=1; tail -n 30 "$log"; fi
  printf '%-28s %14s %s\n' "$t" "${execs:-?}" "$res"
done
exit $fail
