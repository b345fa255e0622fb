#!/usr/bin/env bash
# bench_scale.sh: the cost of many pools on a shared host (one php-fpm
# master, one ondemand pool per site, one file each).
#
#   bench/bench_scale.sh [SECONDS]
#
# Environment: BENCH_SECONDS (measured window, default 60), BENCH_WARMUP
# (seconds after every pool has values, default 10), BENCH_SIZES (pool
# counts, default "10 100 1000"; the largest is the master's), FPMT_BUILD_DIR
# (the build dir with fpmstat and collectd-plugin/phpfpm.so; default
# <repo>/build).
#
# 1. collectd: one php-fpm master with the largest count of ondemand pools
#    (tests/harness/fpm_scale.sh; pm.process_idle_timeout 120s so the
#    workers stay warm between reads), and side by side one collectd per
#    size whose phpfpm plugin discovers a directory holding that many of
#    the pool files (Discover DIR), plus a baseline collectd without the
#    plugin. Interval 10, ReadThreads 16, Workers "none", no writer (a PostCacheChain stops
#    every value after the cache, as in bench_collectd.sh). Once every pool
#    has values and BENCH_WARMUP more seconds have passed, the CPU of each
#    collectd (summed /proc/PID/task/*/schedstat run time) is taken over the
#    window; per read = (CPU - baseline CPU) / (pools x window / 10). RSS is
#    VmRSS at the end of the window.
# 2. fpmstat --discover: the master is restarted (every pool cold: no
#    worker), then `fpmstat --discover CONF -F json --timeout 60` runs under
#    `ulimit -n 256`; wall time and peak RSS from /usr/bin/time, and every
#    pool must be up in its output. The same read is run once more with
#    every worker up (warm): fpmstat's own cost, printed for comparison.
#
# Goals (this machine): per-read CPU at the largest size <= 1.3 x the figure
# at the smallest and < 400 us; collectd RSS at the largest size < 64 MiB;
# fpmstat --discover over the largest size < 10 s and < 128 MiB. Each is
# printed with PASS/FAIL. Exit status: 0 when the run is valid (goals are
# reported, not enforced), 1 on a set-up or validity failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$repo/tests/harness/fpm.sh"
. "$repo/tests/harness/fpm_scale.sh"
. "$repo/tests/harness/sinks.sh"
. "$repo/bench/bench_lib.sh"

SECONDS_WIN=${1:-${BENCH_SECONDS:-60}}
WARMUP=${BENCH_WARMUP:-10}
read -r -a SIZES <<<"${BENCH_SIZES:-10 100 1000}"
export FPMT_BUILD_DIR=${FPMT_BUILD_DIR:-$repo/build}
INTERVAL=10
fpmstat=$FPMT_BUILD_DIR/fpmstat

die() { echo "bench_scale: $*" >&2; exit 1; }
[ -x "$fpmstat" ] || die "no fpmstat in $FPMT_BUILD_DIR"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian: apt-get install time)"
plugdir=$(phpfpm_plugin_dir) || die "no phpfpm.so under $FPMT_BUILD_DIR/collectd-plugin"
max=0
for s in "${SIZES[@]}"; do [ "$s" -gt "$max" ] && max=$s; done
small=${SIZES[0]}

dir=$(mktemp -d /tmp/fpmt-bscale.XXXXXX)
variants=()
# shellcheck disable=SC2317 # called from the trap
cleanup() {
  local v
  for v in "${variants[@]}"; do sinks_kill "CD_$v"; done
  fpm_scale_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export FPM_SCALE_IDLE=120s
fpm_scale_start "$dir/fpm" "$max" || die "php-fpm with $max pools did not start"
for s in "${SIZES[@]}"; do
  mkdir -p "$dir/pools$s"
  for i in $(seq 1 "$s"); do
    ln -s "$dir/fpm/pool.d/$(fpm_scale_site "$i").conf" "$dir/pools$s/"
  done
done

# ------------------------------------------------------------- collectds
conf() { # DIR SIZE (0: baseline)
  bench_collectd_base "$1" "$INTERVAL"
  echo "ReadThreads 16"
  [ "$2" = 0 ] && return
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
  Discover "$dir/pools$2"
  DiscoverInterval 3600
  <DiscoverDefaults>
    Timeout 8
    Workers "none"
  </DiscoverDefaults>
</Plugin>
CONF
}
variants=(baseline)
for s in "${SIZES[@]}"; do variants+=("p$s"); done
for v in "${variants[@]}"; do
  s=${v#p}
  [ "$v" = baseline ] && s=0
  mkdir -p "$dir/$v"
  conf "$dir/$v" "$s" >"$dir/$v/collectd.conf"
  sinks_spawn "CD_$v" "$dir/$v/out.log" collectd -f -C "$dir/$v/collectd.conf" ||
    die "collectd ($v) did not start"
  # shellcheck disable=SC2317 # called by sinks_wait_ready
  answers() { collectdctl -s "$1/collectd.sock" listval >/dev/null 2>&1; }
  sinks_wait_ready "CD_$v" "$dir/$v/out.log" 60 answers "$dir/$v" || die "collectd ($v) does not answer"
done
pid_of() { local p="CD_${1}_PID"; printf '%s' "${!p}"; }
pools_with_values() { # VARIANT
  collectdctl -s "$dir/$1/collectd.sock" listval 2>/dev/null |
    sed -n 's|^[^/]*/phpfpm-\(site[0-9]*\)/.*|\1|p' | sort -u | wc -l
}
# every pool read once (the first read of a cold pool spawns its worker)
for s in "${SIZES[@]}"; do
  for _ in $(seq 1 $((INTERVAL * 30))); do
    [ "$(pools_with_values "p$s")" = "$s" ] && break
    sleep 1
  done
  got=$(pools_with_values "p$s")
  [ "$got" = "$s" ] || die "collectd p$s: $got of $s pools have values after $((INTERVAL * 30)) s"
done
echo "bench_scale: every pool has values; warming up ${WARMUP} s, then measuring ${SECONDS_WIN} s" >&2
sleep "$WARMUP"
declare -A c0 c1 rss
for v in "${variants[@]}"; do c0[$v]=$(sched_ns "$(pid_of "$v")"); done
w0=$(date +%s%N)
sleep "$SECONDS_WIN"
for v in "${variants[@]}"; do
  c1[$v]=$(sched_ns "$(pid_of "$v")")
  rss[$v]=$(rss_kib "$(pid_of "$v")")
done
w1=$(date +%s%N)
win_s=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
valid=1
for s in "${SIZES[@]}"; do
  errs=$(grep -E '\[(error|warning)\]' "$dir/p$s/collectd.log" | grep -v 'No write callback has been registered')
  if [ -n "$errs" ]; then
    echo "bench_scale: INVALID: collectd p$s logged errors:" >&2
    printf '%s\n' "$errs" | head -n 5 >&2
    valid=0
  fi
done
for v in "${variants[@]}"; do sinks_kill "CD_$v"; done

b_ns=$((c1[baseline] - c0[baseline]))
declare -A per_read
printf '\ncollectd 5.12, Interval %s, Workers "none", no writer; window %s s (php-fpm %s, %s ondemand pools in one master)\n' \
  "$INTERVAL" "$win_s" "$("$FPM_BIN" -v | head -n 1 | awk '{ print $2 }')" "$max"
printf '%-10s %7s %9s %10s %10s %9s\n' variant pools reads cpu_ms us/read RSS_KiB
for v in "${variants[@]}"; do
  s=${v#p}
  [ "$v" = baseline ] && s=0
  ns=$((c1[$v] - c0[$v]))
  reads=$(awk -v w="$win_s" -v p="$s" -v i="$INTERVAL" 'BEGIN { printf "%d", w * p / i }')
  pr=-
  if [ "$s" != 0 ]; then
    pr=$(awk -v n="$ns" -v b="$b_ns" -v r="$reads" 'BEGIN { printf "%.1f", (n - b) / 1000 / r }')
    per_read[$s]=$pr
  fi
  printf '%-10s %7s %9s %10.1f %10s %9s\n' "$v" "$s" "$reads" \
    "$(awk -v n="$ns" 'BEGIN { print n / 1e6 }')" "$pr" "${rss[$v]}"
done
echo "us/read: (collectd's CPU - the baseline collectd's) / reads, reads = pools x window / Interval"

# ------------------------------------------------------------- fpmstat
fpm_scale_stop
fpm_scale_start "$dir/fpm" "$max" >/dev/null || die "php-fpm did not restart"
(
  ulimit -n 256
  exec /usr/bin/time -f '%e %M' -o "$dir/time.out" "$fpmstat" --discover "$dir/fpm/php-fpm.conf" -F json --timeout 60
) >"$dir/disc.json" 2>"$dir/disc.err"
rc=$?
read -r wall_s peak_kib <"$dir/time.out"
up=$(grep -c '"ok":true' "$dir/disc.json")
if [ "$rc" != 0 ] || [ "$up" != "$max" ]; then
  echo "bench_scale: INVALID: fpmstat --discover exited $rc with $up of $max pools up:" >&2
  grep -m 3 '^fpmstat: pool' "$dir/disc.err" >&2
  valid=0
fi
printf '\nfpmstat --discover, %s cold ondemand pools, ulimit -n 256: %s s wall, %s KiB peak RSS, %s pools up, exit %s\n' \
  "$max" "$wall_s" "$peak_kib" "$up" "$rc"
# the same read again, every worker now up: fpmstat's own cost, apart from
# php-fpm forking a worker per cold pool
(
  ulimit -n 256
  exec /usr/bin/time -f '%e %M' -o "$dir/time2.out" "$fpmstat" --discover "$dir/fpm/php-fpm.conf" -F json --timeout 60
) >"$dir/disc2.json" 2>"$dir/disc2.err"
read -r warm_s warm_kib <"$dir/time2.out"
printf 'fpmstat --discover again, the same pools warm: %s s wall, %s KiB peak RSS, %s pools up\n' \
  "$warm_s" "$warm_kib" "$(grep -c '"ok":true' "$dir/disc2.json")"

# ------------------------------------------------------------- goals
big=$max
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo FAIL; fi; }
echo
printf 'goal: per-read CPU at %s pools <= 1.3 x at %s pools (%s vs %s us): %s\n' "$big" "$small" \
  "${per_read[$big]}" "${per_read[$small]}" "$(verdict "${per_read[$big]} <= 1.3 * ${per_read[$small]}")"
printf 'goal: per-read CPU at %s pools < 400 us (%s us): %s\n' "$big" "${per_read[$big]}" \
  "$(verdict "${per_read[$big]} < 400")"
printf 'goal: collectd RSS at %s pools < 64 MiB (%s KiB): %s\n' "$big" "${rss[p$big]}" \
  "$(verdict "${rss[p$big]} < 65536")"
printf 'goal: fpmstat --discover over %s cold pools < 10 s (%s s): %s\n' "$big" "$wall_s" \
  "$(verdict "$wall_s < 10")"
printf 'goal: fpmstat --discover peak RSS < 128 MiB (%s KiB): %s\n' "$peak_kib" \
  "$(verdict "$peak_kib < 131072")"
[ "$valid" = 1 ] || { echo "bench_scale: the run is INVALID (see above)" >&2; exit 1; }
exit 0
