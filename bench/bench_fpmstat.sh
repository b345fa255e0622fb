#!/usr/bin/env bash
# bench_fpmstat.sh [BUILD_DIR] [RUNS]: the cost of one fpmstat scrape next to
# the bare minimum, cgi-fcgi fetching the same page, in one run against the
# same throwaway php-fpm (tests/harness/fpm.sh, pool www: static, 4 workers):
#   - instructions (valgrind --tool=callgrind, whole process, one run each)
#   - wall time per run (hyperfine when installed, else a loop of RUNS runs)
# fpmstat does more than cgi-fcgi: it parses the JSON, computes the model
# (self-exclusion, statistics) and writes normalised JSON; cgi-fcgi only
# copies the bytes. Prints a table and the ratios. Default RUNS: 200.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${FPMT_BUILD_DIR:-$top/build}}
runs=${2:-200}
B=$build/fpmstat
[ -x "$B" ] || { echo "bench_fpmstat: no fpmstat in $build (build first)" >&2; exit 1; }
for t in valgrind cgi-fcgi; do
  command -v "$t" >/dev/null || { echo "bench_fpmstat: $t is not installed" >&2; exit 1; }
done
. "$top/tests/harness/fpm.sh"
dir=$(mktemp -d /tmp/fpmt-bench.XXXXXX)
trap 'fpm_stop; rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM
fpm_start "$dir" || exit 1
SOCK=$FPMT_WWW_SOCK
CGI=$(command -v cgi-fcgi)
VG=$(command -v valgrind)

cgi() { env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET \
  QUERY_STRING='json&full' "$@" -bind -connect "$SOCK"; }
fpmstat_run() { "$B" --format json "$SOCK"; }
cgi_run() { cgi "$CGI"; }

# sanity: both fetch the status page
fpmstat_run | grep -q '"pool":"www"' || { echo "bench_fpmstat: fpmstat failed" >&2; exit 1; }
cgi_run | grep -q '"pool":"www"' || { echo "bench_fpmstat: cgi-fcgi failed" >&2; exit 1; }

# instructions, whole process (start-up, connect, parse, output)
ir() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
"$VG" --tool=callgrind --callgrind-out-file="$dir/cg.fpmstat" "$B" --format json "$SOCK" \
  >/dev/null 2>"$dir/vg.fpmstat" || { cat "$dir/vg.fpmstat" >&2; exit 1; }
cgi "$VG" --tool=callgrind --callgrind-out-file="$dir/cg.cgi" "$CGI" \
  >/dev/null 2>"$dir/vg.cgi" || { cat "$dir/vg.cgi" >&2; exit 1; }
ir_f=$(ir "$dir/cg.fpmstat")
ir_c=$(ir "$dir/cg.cgi")

# wall time per run, in microseconds
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$dir/h.json" \
    "$B --format json $SOCK" >/dev/null 2>&1
  us_f=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["results"][0]["mean"]*1e6))' "$dir/h.json")
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$dir/h2.json" \
    "env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET QUERY_STRING=json&full $CGI -bind -connect $SOCK" >/dev/null 2>&1
  us_c=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["results"][0]["mean"]*1e6))' "$dir/h2.json")
  how="hyperfine, $runs runs"
else
  # interleaved (A B A B ...) so drift on a shared machine hits both alike;
  # $EPOCHREALTIME needs no fork. Median of the per-run times.
  for i in $(seq 1 20); do fpmstat_run >/dev/null; cgi_run >/dev/null; done
  : >"$dir/t.f"
  : >"$dir/t.c"
  for i in $(seq 1 "$runs"); do
    t0=${EPOCHREALTIME/./}
    fpmstat_run >/dev/null
    t1=${EPOCHREALTIME/./}
    cgi_run >/dev/null
    t2=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$dir/t.f"
    echo $((t2 - t1)) >>"$dir/t.c"
  done
  median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  us_f=$(median "$dir/t.f")
  us_c=$(median "$dir/t.c")
  how="shell loop, $runs interleaved runs, median, fork+exec included"
fi

bytes=$(cgi_run | sed '1,/^\r$/d' | wc -c)
printf '\nfpmstat bench: pool www (4 workers, status json&full %s bytes), %s\n' "$bytes" "$(date -u +%FT%TZ)"
printf '%-34s %16s %14s\n' "command" "instructions" "wall us/run"
printf '%-34s %16s %14s\n' "fpmstat --format json" "$ir_f" "$us_f"
printf '%-34s %16s %14s\n' "cgi-fcgi (json&full, raw bytes)" "$ir_c" "$us_c"
python3 - "$ir_f" "$ir_c" "$us_f" "$us_c" <<'PY'
import sys
f, c, uf, uc = map(float, sys.argv[1:])
print(f"ratio fpmstat/cgi-fcgi: instructions {f / c:.2f}x, wall time {uf / uc:.2f}x")
PY
echo "(wall time: $how)"
