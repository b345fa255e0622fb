#!/usr/bin/env bash
# bench_fpmstat.sh [BUILD_DIR] [RUNS]: the cost of one fpmstat scrape next to
# the bare minimum, cgi-fcgi fetching the same page, in one run against the
# same throwaway php-fpm (tests/harness/fpm.sh, pool www: static, 4 workers):
#   - instructions (valgrind --tool=callgrind, whole process, one run each)
#   - wall time per run (hyperfine when installed, else a loop of RUNS runs)
# fpmstat does more than cgi-fcgi: it parses the JSON, computes the model
# (self-exclusion, statistics) and writes normalised JSON; cgi-fcgi only
# copies the bytes. Prints a table, the ratios and where fpmstat's
# instructions go (callgrind_annotate, inclusive). Default RUNS: 200.
# Both run with the same environment (env -i and the four CGI variables
# cgi-fcgi needs): the dynamic loader's start-up work grows with the size of
# the environment (~500 instructions per variable in glibc 2.36's tunables
# parsing), which would otherwise be charged to whichever runs with more.
# FPMT_BENCH_KEEP=DIR keeps the callgrind files there.
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

ENV=(env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET
  QUERY_STRING='json&full')
cgi() { "${ENV[@]}" "$@" -bind -connect "$SOCK"; }
# Like for like, fpmstat runs with --no-memory: cgi-fcgi reads no /proc, and
# the bound (1.15x cgi-fcgi's instructions) is for a fetch that parses and
# formats. The default run, which also reads the workers' RSS from /proc, is
# measured and printed beside it.
fpm() { "${ENV[@]}" "$@" --format json --no-memory "$SOCK"; }
fpm_default() { "${ENV[@]}" "$@" --format json "$SOCK"; }
fpmstat_run() { fpm "$B"; }
cgi_run() { cgi "$CGI"; }

# sanity: both fetch the status page
fpmstat_run | grep -q '"pool":"www"' || { echo "bench_fpmstat: fpmstat failed" >&2; exit 1; }
cgi_run | grep -q '"pool":"www"' || { echo "bench_fpmstat: cgi-fcgi failed" >&2; exit 1; }

# instructions, whole process (start-up, connect, parse, output)
ir() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
fpm "$VG" --tool=callgrind --callgrind-out-file="$dir/cg.fpmstat" "$B" \
  >/dev/null 2>"$dir/vg.fpmstat" || { cat "$dir/vg.fpmstat" >&2; exit 1; }
cgi "$VG" --tool=callgrind --callgrind-out-file="$dir/cg.cgi" "$CGI" \
  >/dev/null 2>"$dir/vg.cgi" || { cat "$dir/vg.cgi" >&2; exit 1; }
fpm_default "$VG" --tool=callgrind --callgrind-out-file="$dir/cg.fpmstat.mem" "$B" \
  >/dev/null 2>"$dir/vg.fpmstat.mem" || { cat "$dir/vg.fpmstat.mem" >&2; exit 1; }
ir_f=$(ir "$dir/cg.fpmstat")
ir_m=$(ir "$dir/cg.fpmstat.mem")
ir_c=$(ir "$dir/cg.cgi")

# wall time per run, in microseconds
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$dir/h.json" \
    "env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET QUERY_STRING=json&full $B --format json --no-memory $SOCK" >/dev/null 2>&1
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
printf '%-34s %16s %14s\n' "fpmstat --format json --no-memory" "$ir_f" "$us_f"
printf '%-34s %16s %14s\n' "fpmstat --format json (+worker RSS)" "$ir_m" "-"
printf '%-34s %16s %14s\n' "cgi-fcgi (json&full, raw bytes)" "$ir_c" "$us_c"
python3 - "$ir_f" "$ir_c" "$us_f" "$us_c" "$ir_m" <<'PY'
import sys
f, c, uf, uc, m = map(float, sys.argv[1:])
print(f"ratio fpmstat/cgi-fcgi: instructions {f / c:.2f}x (bound 1.15x: "
      f"{'met' if f / c <= 1.15 else 'MISSED'}), wall time {uf / uc:.2f}x; "
      f"with the default worker RSS read {m / c:.2f}x")
PY
echo "(wall time: $how)"

# where fpmstat's instructions go: inclusive counts of the main parts
if command -v callgrind_annotate >/dev/null; then
  callgrind_annotate --inclusive=yes "$dir/cg.fpmstat" 2>/dev/null >"$dir/ann"
  part() { # LABEL REGEX: the first (largest) inclusive line that matches
    awk -v re="$2" -v l="$1" '$0 ~ re { gsub(",", "", $1); printf "  %-44s %9s\n", l, $1; exit }' "$dir/ann"
  }
  echo "fpmstat, inclusive instructions by part:"
  part "dynamic loader start-up (_dl_start)" ':_dl_start '
  part "lazy symbol binding (_dl_runtime_resolve)" ':_dl_runtime_resolve'
  part "main" 'fpmstat.c:main '
  part "  fetch (fpm_fetch_many)" 'fpm_fetch_many '
  part "    JSON parse (yajl_parse)" ':yajl_parse '
  part "  model (fpm_model_compute)" 'fpm_model_compute '
  part "  output (fpm_output_render)" 'fpm_output_render '
fi
if [ -n "${FPMT_BENCH_KEEP:-}" ]; then
  mkdir -p "$FPMT_BENCH_KEEP" && cp "$dir"/cg.* "$FPMT_BENCH_KEEP"/ &&
    echo "(callgrind files kept in $FPMT_BENCH_KEEP)"
fi
