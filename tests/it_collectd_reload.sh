#!/usr/bin/env bash
# End-to-end: php-fpm is reloaded (SIGUSR2, every counter resets) while
# collectd with the phpfpm plugin reads it.
#   - FPM really restarted: the pools' uptime went down;
#   - the plugin sends a notification per pool, which the logfile plugin
#     writes to collectd.log ("Notification: severity = ..., plugin = phpfpm,
#     plugin_instance = <pool>, message = ...");
#   - total_events-restarts grows by at least 1;
#   - every rate that unixsock GETVAL returns for total_requests-accepted
#     around the reload (sampled about every 0.1-0.3 s) is NaN or in [0, 1000)/s:
#     no negative or giant rate from the counter reset.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"

plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-cdreload.XXXXXX)
sampler=""
traffic_pid=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
  [ -n "$traffic_pid" ] && kill "$traffic_pid" 2>/dev/null && wait "$traffic_pid" 2>/dev/null
  collectd_stop
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$here/harness/tap.sh"

fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start"; exit 1; }

cd_dir=$dir/cd
csv=$cd_dir/csv
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
    StatusPath "/status"
    Timeout 0.5
    Interval 1
  </Pool>
  <Pool "dyn">
    Address "$FPMT_DYN_STATUS_ADDR"
    StatusPath "/status"
    Timeout 0.5
    Interval 1
  </Pool>
</Plugin>
CONF
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

pools="www dyn"
id() { printf 'testhost/phpfpm-%s/%s' "$1" "$2"; }
rows() { csv_rows "$csv" "$(id "$1" "$2")" 2>/dev/null; }
have_rows() { [ "$(rows "$1" "$2" | wc -l)" -ge "$3" ]; }
for p in $pools; do
  check "$p: 3 accepted rows before the reload" wait_until 10 have_rows "$p" total_requests-accepted 3
done

# sample GETVAL rates in the background (every 0.1 s plus the time the
# collectdctl calls take), and make some traffic on www in another loop
sample() {
  local p v
  while :; do
    for p in $pools; do
      v=$(collectd_getval "$(id "$p" total_requests-accepted)" 2>/dev/null) || v=missing
      printf '%s %s %s\n' "$EPOCHREALTIME" "$p" "$v"
    done
    sleep 0.1
  done
}
traffic() {
  while :; do
    fcgi_get "$FPMT_WWW_SOCK" hello.php >/dev/null
    sleep 0.2
  done
}
sample >"$dir/rates.txt" &
sampler=$!
traffic &
traffic_pid=$!

before_up=$(date +%s.%N)
have_samples_after() { [ "$(awk -v t="$1" '$1 + 0 > t + 0' "$dir/rates.txt" | wc -l)" -ge "$2" ]; }
check "rates are sampled before the reload" wait_until 10 have_samples_after "$before_up" 6

declare -A uptime_before restarts_before
for p in $pools; do
  uptime_before[$p]=$(rows "$p" uptime | tail -n 1 | cut -d, -f2)
  restarts_before[$p]=$(rows "$p" total_events-restarts | tail -n 1 | cut -d, -f2)
  restarts_before[$p]=${restarts_before[$p]:-0}
done
uptime_at_least() { awk -v u="$(rows "$1" uptime | tail -n 1 | cut -d, -f2)" -v m="$2" 'BEGIN { exit !(u + 0 >= m) }'; }
for p in $pools; do
  check "$p: uptime reaches 4 s before the reload" wait_until 8 uptime_at_least "$p" 4
done
for p in $pools; do uptime_before[$p]=$(rows "$p" uptime | tail -n 1 | cut -d, -f2); done

t_reload=$(now)
fpm_reload || { echo "FAIL: php-fpm did not come back after SIGUSR2"; exit 1; }
t_back=$(now)
echo "# reload at $t_reload, pools answer again at $t_back"

after() { rows_since_reload "$1" "$2" | tail -n 1 | cut -d, -f2; }
rows_since_reload() { csv_rows_since "$csv" "$(id "$1" "$2")" "$(add "$t_back" 0.5)" 2>/dev/null; }
have_after() { [ "$(rows_since_reload "$1" "$2" | wc -l)" -ge "$3" ]; }
for p in $pools; do
  check "$p: rows arrive after the reload" wait_until 10 have_after "$p" total_requests-accepted 3
  # the smallest uptime seen after the reload (later rows grow again)
  u=$(rows_since_reload "$p" uptime | cut -d, -f2 | sort -g | head -n 1)
  check "$p: FPM restarted: uptime ${uptime_before[$p]} before, down to $u after" \
    awk -v a="${uptime_before[$p]}" -v b="$u" 'BEGIN { exit !(b != "" && b + 0 < a + 0) }'
  r=$(after "$p" total_events-restarts)
  check "$p: total_events-restarts ${restarts_before[$p]:-?} -> $r (want +1 or more)" \
    awk -v a="${restarts_before[$p]}" -v b="$r" 'BEGIN { exit !(a != "" && b != "" && b + 0 >= a + 1) }'
done

notif() { grep -E "Notification: severity = [A-Z]+, .*plugin = phpfpm, plugin_instance = $1, .*message = " "$COLLECTD_LOG" |
  grep -iE 'restart|reload'; }
for p in $pools; do
  check "$p: a restart notification in collectd.log" wait_until 5 eval "notif $p >/dev/null"
  echo "#   $(notif "$p" | head -n 1)"
done

# keep sampling for 3 s after the pools came back
wait_until 10 have_samples_after "$(add "$t_back" 3)" 10
kill "$sampler" "$traffic_pid" 2>/dev/null
wait "$sampler" "$traffic_pid" 2>/dev/null
sampler=""
traffic_pid=""

n=$(grep -c . "$dir/rates.txt")
bad=$(awk '$3 == "missing" { next } { v = tolower($3) } v ~ /nan/ { next }
  { if (v + 0 < 0 || v + 0 >= 1000) print }' "$dir/rates.txt")
echo "# $n GETVAL samples; around the reload:"
awk -v a="$(add "$t_reload" -1)" -v b="$(add "$t_back" 2)" '$1 + 0 > a && $1 + 0 < b { print "#   " $0 }' "$dir/rates.txt"
check "every GETVAL rate is NaN or in [0, 1000)/s ($n samples; bad: ${bad:-none})" test -z "$bad"
finite_after() {
  awk -v t="$(add "$t_back" 1)" -v p="$1" '$1 + 0 > t && $2 == p && tolower($3) !~ /nan|missing/' "$dir/rates.txt" | grep -q .
}
for p in $pools; do
  check "$p: finite rates again after the reload" finite_after "$p"
done
check "collectd is still running" kill -0 "$COLLECTD_PID"

collectd_stop
if san=$(collectd_sanitizer_errors "$cd_dir"); then
  fail "collectd (with the plugin) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
else
  pass "no sanitizer report from collectd"
fi
echo "it_collectd_reload: $fails failure(s)"
[ "$fails" = 0 ]
