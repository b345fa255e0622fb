#!/usr/bin/env bash
# bench_collectd.sh: collectd's cost of reading PHP-FPM, the phpfpm plugin
# against the usual curl_json-through-nginx recipe (collectd's
# contrib/curl_json/php-fpm.conf), in one run against the same pool.
#
#   bench/bench_collectd.sh [SECONDS]
#
# Environment: BENCH_SECONDS (measured window, default 60), BENCH_POOLS
# (pool blocks per collectd, all pointing at the same pool, default 4),
# BENCH_WARMUP (seconds before measuring, default 5), FPMT_BUILD_DIR (the
# build dir with collectd-plugin/phpfpm.so; default <repo>/build).
#
# It starts a private php-fpm (tests/harness/fpm.sh), nginx-light on a
# loopback port (one process: master_process off) with a location that
# fastcgi_passes /status to the www pool,
# and four collectd instances side by side (Interval 1, logfile + unixsock,
# a PostCacheChain that stops every value after the cache, so no writer runs
# and only the reads and the dispatch differ):
#   baseline      neither plugin
#   floor         the stock `load` plugin read POOLS times a second (Interval
#                 1/POOLS): collectd's own cost of one read that dispatches one
#                 value list, the floor under any reader
#   phpfpm        BENCH_POOLS <Pool> blocks, Workers "summary" (the default;
#                 it fetches the full worker list)
#   phpfpm-none   the same with Workers "none" (the short page, like curl_json)
#   curl_json     BENCH_POOLS <URL "http://127.0.0.1:PORT/status?json"> blocks
#                 with the recipe's Key map (accepted conn, slow requests,
#                 listen queue, active processes, total processes)
# Running them at the same time puts them under the same machine noise.
#
# CPU: utime+stime from /proc/PID/stat (10 ms ticks) and, with ns resolution,
# the sum of /proc/PID/task/*/schedstat run times, both as deltas over the
# window, divided by the reads (pools x window / interval). nginx's own CPU
# is reported too (the recipe needs it). RSS: VmRSS from /proc/PID/status at
# the end of the window. Goals: phpfpm CPU per read <= 1/10 of curl_json's
# (baseline subtracted), added RSS <= 1 MiB over the baseline.
# Each variant's values are checked (vs_processes-total = 4 for every pool)
# so that a failing read cannot pass for a cheap one.
# Exit status: 0 when the run is valid (goals are reported, not enforced),
# 1 on a set-up or validity failure, 2 when the plugin is missing (the other
# variants are still measured and printed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$repo/tests/harness/fpm.sh"
. "$repo/tests/harness/sinks.sh"
. "$repo/bench/bench_lib.sh"

SECONDS_WIN=${1:-${BENCH_SECONDS:-60}}
POOLS=${BENCH_POOLS:-4}
WARMUP=${BENCH_WARMUP:-5}
export FPMT_BUILD_DIR=${FPMT_BUILD_DIR:-$repo/build}

die() { echo "bench_collectd: $*" >&2; exit 1; }
command -v nginx >/dev/null || die "nginx is missing (Debian: apt-get install nginx-light)"
[ -f /usr/lib/collectd/curl_json.so ] || die "/usr/lib/collectd/curl_json.so is missing (collectd-core)"
plugdir=$(phpfpm_plugin_dir 2>/dev/null) || plugdir=""
[ -n "$plugdir" ] || echo "bench_collectd: no phpfpm.so under $FPMT_BUILD_DIR/collectd-plugin: measuring without the plugin" >&2

dir=$(mktemp -d /tmp/fpmt-bench.XXXXXX)
variants=()
# shellcheck disable=SC2317 # called from the trap
cleanup() {
  local v
  for v in "${variants[@]}"; do sinks_kill "CD_${v//-/_}"; done
  sinks_kill NGINX
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fpm_start "$dir/fpm" || die "php-fpm did not start"

# ------------------------------------------------------------------ nginx
port=$(sinks_free_ports 1 tcp)
mkdir -p "$dir/nginx/tmp"
cat >"$dir/nginx/nginx.conf" <<CONF
user root;
worker_processes 1;
master_process off;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/tmp/body;
  proxy_temp_path $dir/nginx/tmp/proxy;
  fastcgi_temp_path $dir/nginx/tmp/fastcgi;
  uwsgi_temp_path $dir/nginx/tmp/uwsgi;
  scgi_temp_path $dir/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    location = /status {
      fastcgi_pass unix:$FPMT_WWW_SOCK;
      fastcgi_param SCRIPT_NAME /status;
      fastcgi_param SCRIPT_FILENAME /status;
      fastcgi_param QUERY_STRING \$query_string;
      fastcgi_param REQUEST_METHOD \$request_method;
      fastcgi_param REQUEST_URI \$request_uri;
    }
  }
}
CONF
sinks_spawn NGINX "$dir/nginx/out.log" nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" ||
  die "nginx did not start: $(cat "$dir/nginx/out.log")"
nginx_ok() { curl -s --max-time 2 "http://127.0.0.1:$port/status?json" | grep -q '"pool":"www"'; }
sinks_wait_ready NGINX "$dir/nginx/error.log" 10 nginx_ok || die "nginx does not serve /status?json"

# ------------------------------------------------------------- collectds

variant_conf() { # VARIANT DIR
  local v=$1 d=$2 i
  bench_collectd_base "$d" 1
  case $v in
  baseline) ;;
  floor)
    echo '<LoadPlugin load>'
    echo "  Interval $(awk -v p="$POOLS" 'BEGIN { printf "%.4f", 1 / p }')"
    echo '</LoadPlugin>'
    ;;
  curl_json)
    echo 'LoadPlugin curl_json'
    echo '<Plugin curl_json>'
    for i in $(seq 1 "$POOLS"); do
      cat <<CONF
  <URL "http://127.0.0.1:$port/status?json">
    Plugin "phpfpm"
    Instance "p$i"
    <Key "accepted conn">
      Type "total_requests"
      Instance "accepted"
    </Key>
    <Key "slow requests">
      Type "total_requests"
      Instance "slow"
    </Key>
    <Key "listen queue">
      Type "queue_length"
      Instance "listen"
    </Key>
    <Key "active processes">
      Type "vs_processes"
      Instance "active"
    </Key>
    <Key "total processes">
      Type "vs_processes"
      Instance "total"
    </Key>
  </URL>
CONF
    done
    echo '</Plugin>'
    ;;
  phpfpm | phpfpm-none)
    local workers=summary
    [ "$v" = phpfpm-none ] && workers=none
    collectd_conf_phpfpm "$plugdir"
    echo '<Plugin phpfpm>'
    for i in $(seq 1 "$POOLS"); do
      cat <<CONF
  <Pool "p$i">
    Socket "$FPMT_WWW_SOCK"
    StatusPath "/status"
    Timeout 0.5
    Interval 1
    Workers "$workers"
  </Pool>
CONF
    done
    echo '</Plugin>'
    ;;
  esac
}

variants=(baseline floor curl_json)
[ -n "$plugdir" ] && variants=(baseline floor phpfpm phpfpm-none curl_json)
for v in "${variants[@]}"; do
  d=$dir/$v
  mkdir -p "$d"
  variant_conf "$v" "$d" >"$d/collectd.conf"
  p=CD_${v//-/_}
  sinks_spawn "$p" "$d/out.log" collectd -f -C "$d/collectd.conf" || die "collectd ($v) did not start"
  answers() { collectdctl -s "$1/collectd.sock" listval >/dev/null 2>&1; }
  sinks_wait_ready "$p" "$d/out.log" 20 answers "$d" || die "collectd ($v) does not answer on its socket"
done

pid_of() { local p="CD_${1//-/_}_PID"; printf '%s' "${!p}"; }
now_ns() { date +%s%N; }

echo "bench_collectd: warming up ${WARMUP} s, then measuring ${SECONDS_WIN} s; ${POOLS} pools per collectd, Interval 1" >&2
sleep "$WARMUP"
declare -A t0 s0 t1 s1 rss
for v in "${variants[@]}"; do t0[$v]=$(ticks "$(pid_of "$v")"); s0[$v]=$(sched_ns "$(pid_of "$v")"); done
n_t0=$(ticks "$NGINX_PID")
n_s0=$(sched_ns "$NGINX_PID")
w0=$(now_ns)
sleep "$SECONDS_WIN"
for v in "${variants[@]}"; do
  pid=$(pid_of "$v")
  t1[$v]=$(ticks "$pid")
  s1[$v]=$(sched_ns "$pid")
  rss[$v]=$(rss_kib "$pid")
done
n_t1=$(ticks "$NGINX_PID")
n_s1=$(sched_ns "$NGINX_PID")
w1=$(now_ns)
win_s=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')

# ------------------------------------------------------------- validity
valid=1
for v in "${variants[@]}"; do
  [ "$v" = baseline ] && continue
  if [ "$v" = floor ]; then
    collectdctl -s "$dir/$v/collectd.sock" getval testhost/load/load >/dev/null 2>&1 ||
      { echo "bench_collectd: INVALID: the floor variant has no load value" >&2; valid=0; }
    continue
  fi
  sock=$dir/$v/collectd.sock
  for i in $(seq 1 "$POOLS"); do
    got=$(collectdctl -s "$sock" getval "testhost/phpfpm-p$i/vs_processes-total" 2>&1 | sed -n 's/^value=//p')
    if [ "$got" != 4.000000e+00 ]; then
      echo "bench_collectd: INVALID: $v pool p$i vs_processes-total is '${got}', want 4" >&2
      valid=0
    fi
  done
  # the newest value must be fresh (reads kept happening to the end)
  age=$(printf 'LISTVAL\n' | socat -t 2 - "UNIX-CONNECT:$sock" |
    awk -v now="$(date +%s)" '/phpfpm-p1\/vs_processes-total$/ { printf "%.1f", now - $1 }')
  if [ -z "$age" ] || awk -v a="$age" 'BEGIN { exit !(a > 3) }'; then
    echo "bench_collectd: INVALID: $v's newest value is ${age:-?} s old" >&2
    valid=0
  fi
  # (collectd warns once that no writer is loaded: expected here)
  errs=$(grep -E '\[(error|warning)\]' "$dir/$v/collectd.log" | grep -v 'No write callback has been registered')
  if [ -n "$errs" ]; then
    echo "bench_collectd: INVALID: $v logged errors:" >&2
    printf '%s\n' "$errs" | head -n 5 >&2
    if [ "$v" = curl_json ] && [ -s "$dir/nginx/error.log" ]; then
      echo "bench_collectd: nginx's error log:" >&2
      tail -n 5 "$dir/nginx/error.log" >&2
    fi
    valid=0
  fi
done

# ------------------------------------------------------------- report
reads=$(awk -v w="$win_s" -v p="$POOLS" 'BEGIN { printf "%d", w * p }')
per_read() { awk -v ns="$1" -v r="$reads" 'BEGIN { printf "%.1f", ns / 1000 / r }'; }
cpu_ns() { echo $((s1[$1] - s0[$1])); }
n_values() { # value lists one read dispatches (identifiers of pool p1)
  case $1 in
  baseline) echo 0 ;;
  floor) echo 1 ;;
  *) collectdctl -s "$dir/$1/collectd.sock" listval 2>/dev/null | grep -c '^testhost/phpfpm-p1/' ;;
  esac
}
b_ns=$(cpu_ns baseline)
f_ns=$(cpu_ns floor)
printf '\ncollectd 5.12, %s pools x Interval 1 for %s s = %s reads per collectd (php-fpm %s, nginx %s)\n' \
  "$POOLS" "$win_s" "$reads" "$("$FPM_BIN" -v | head -n 1 | awk '{ print $2 }')" "$(nginx -v 2>&1 | sed 's|.*/||')"
printf '%-12s %7s %6s %9s %9s %9s %10s %8s %8s\n' variant values ticks cpu_ms us/read -baseline -floor RSS_KiB +RSS_KiB
for v in "${variants[@]}"; do
  ns=$(cpu_ns "$v")
  printf '%-12s %7s %6s %9.1f %9s %9s %10s %8s %8s\n' "$v" "$(n_values "$v")" "$((t1[$v] - t0[$v]))" \
    "$(awk -v n="$ns" 'BEGIN { print n / 1e6 }')" "$(per_read "$ns")" \
    "$(per_read $((ns - b_ns)))" "$(per_read $((ns - f_ns)))" "${rss[$v]}" "$((rss[$v] - rss[baseline]))"
done
n_ns=$((n_s1 - n_s0))
printf '%-12s %7s %6s %9.1f %9s %9s %10s %8s %8s\n' "(nginx)" - "$((n_t1 - n_t0))" \
  "$(awk -v n="$n_ns" 'BEGIN { print n / 1e6 }')" "$(per_read "$n_ns")" - - "$(rss_kib "$NGINX_PID")" -
cat <<EOF
values: value lists dispatched per read; ticks: utime+stime from /proc/PID/stat
(1/$(getconf CLK_TCK) s, too coarse here); cpu_ms, us/read: summed /proc/PID/task/*/schedstat
run time over the window and per read; -baseline: minus the idle collectd;
-floor: minus the floor variant (collectd's own cost of a trivial read), i.e. the
reader's own work plus the dispatch of its extra value lists.
EOF

if [ -n "$plugdir" ]; then
  c_ns=$(cpu_ns curl_json)
  for v in phpfpm phpfpm-none; do
    awk -v p="$(cpu_ns "$v")" -v c="$c_ns" -v b="$b_ns" -v f="$f_ns" -v n="$n_ns" -v v="$v" 'BEGIN {
      r = (c - b > 0) ? (p - b) / (c - b) : 0
      rf = (c - f > 0) ? (p - f) / (c - f) : 0
      rn = (c - b + n > 0) ? (p - b) / (c - b + n) : 0
      printf "%-12s CPU per read / curl_json (baseline subtracted): %.3f (goal <= 0.100: %s)\n", v, r, (r <= 0.1 ? "met" : "MISSED")
      printf "%-12s   same over the floor: %.3f; over curl_json + its nginx: %.3f\n", "", rf, rn }'
  done
  for v in phpfpm phpfpm-none; do
    add=$((rss[$v] - rss[baseline]))
    printf '%-12s added RSS: %s KiB (goal <= 1024: %s); curl_json added %s KiB\n' "$v" "$add" \
      "$([ "$add" -le 1024 ] && echo met || echo MISSED)" "$((rss[curl_json] - rss[baseline]))"
  done
fi
[ "$valid" = 1 ] || { echo "bench_collectd: the run is INVALID (see above)" >&2; exit 1; }
[ -n "$plugdir" ] || { echo "bench_collectd: phpfpm.so missing: plugin not measured" >&2; exit 2; }
exit 0
