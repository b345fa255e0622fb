#!/usr/bin/env bash
# Self-test of tests/harness/sinks.sh: start carbon-cache, InfluxDB and
# collectd, push one value into each and read it back, route a collectd value
# through write_graphite and the network plugin into the two sinks, check that
# notifications reach collectd.log, then stop everything and check that no
# process is left and no port still listens.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/sinks.sh"

dir=$(mktemp -d /tmp/fpmt-sinks.XXXXXX)
trap 'sinks_stop_all; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

. "$here/harness/tap.sh"

# --- wait_until itself: true at once, false after about the timeout
check "wait_until returns 0 when the command succeeds" wait_until 1 true
t0=$(date +%s%N)
wait_until 0.5 false
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "wait_until returns 1 on timeout (rc=$rc after ${ms} ms, want 400..3000)" \
  test "$rc" = 1 -a "$ms" -ge 400 -a "$ms" -le 3000

# --- carbon: a plaintext line in, whisper-fetch out
carbon_start "$dir/carbon" || { echo "FAIL: carbon_start"; exit 1; }
carbon_pid=$CARBON_PID
now=$(date +%s)
carbon_send selftest.sinks.answer 42 "$now"
check "carbon stores a plaintext line" carbon_wait_metric selftest.sinks.answer 15
got=$(carbon_fetch selftest.sinks.answer 60)
check "whisper-fetch gives back 42 at $now (got '$got')" \
  test "$got" = "$(printf '%s\t42.000000' "$now")"

# --- InfluxDB: line protocol over HTTP, then a query
influx_start "$dir/influx" || { echo "FAIL: influx_start"; exit 1; }
influx_pid=$INFLUX_PID
influx_query selftest 'CREATE DATABASE selftest' >/dev/null
check "influx accepts a line-protocol write" \
  influx_write selftest "selftest,pool=www active=3i $now"
got=$(influx_query selftest 'SELECT active FROM selftest' | jq -c '.results[0].series[0].values[0][1]')
check "influx query gives back active=3 (got '$got')" test "$got" = 3

# --- collectd: unixsock + csv, and through write_graphite / network
mkdir -p "$dir/cd"
{
  collectd_conf_base "$dir/cd"
  cat <<CONF
<LoadPlugin write_graphite>
  FlushInterval 1
</LoadPlugin>
<Plugin write_graphite>
  <Node "carbon">
    Host "127.0.0.1"
    Port "$CARBON_PORT"
    Protocol "tcp"
    Prefix "collectd."
    StoreRates true
    AlwaysAppendDS false
    EscapeCharacter "_"
    SeparateInstances false
    LogSendErrors true
  </Node>
</Plugin>
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  Server "127.0.0.1" "$INFLUX_COLLECTD_PORT"
</Plugin>
CONF
} >"$dir/cd/collectd.conf"
collectd_start "$dir/cd" "$dir/cd/collectd.conf" || { echo "FAIL: collectd_start"; exit 1; }
collectd_pid=$COLLECTD_PID
check "collectd's pid $collectd_pid is collectd" \
  test "$(cat "/proc/$collectd_pid/comm" 2>/dev/null)" = collectd

ident=testhost/selftest-www/vs_processes-total
putval_and() { # push the value again, then run the check
  collectdctl -s "$COLLECTD_SOCK" putval "$ident" N:5 >/dev/null 2>&1
  "$@"
}
csv_has_5() { csv_last "$dir/cd/csv" "$ident" | grep -q ',5\.000000$'; }
check "collectd writes the value to csv" wait_until 10 putval_and csv_has_5
got=$(collectd_getval "$ident")
check "collectd_getval gives 5 (got '$got')" test "$got" = 5.000000e+00
listed() { collectd_listval | grep -qxF "$ident"; }
check "collectd_listval lists the identifier" listed

path=collectd.testhost.selftest-www.vs_processes-total
check "write_graphite delivers $path to carbon" \
  wait_until 15 putval_and _carbon_has "$path"
got=$(carbon_fetch "$path" 60 | awk -F'\t' '{ v = $2 } END { print v }')
check "the carbon value is 5 (got '$got')" test "$got" = 5.000000

influx_has() {
  influx_query collectd "SELECT value FROM selftest_value WHERE instance='www' AND type='vs_processes' AND type_instance='total'" |
    jq -e '.results[0].series[0].values[-1][1] == 5' >/dev/null
}
check "network delivers selftest_value{instance=www,type=vs_processes} = 5 to InfluxDB" \
  wait_until 15 putval_and influx_has

printf 'PUTNOTIF severity=warning time=%s host=testhost plugin=selftest plugin_instance=www message=selftest-notification\n' \
  "$(date +%s)" | socat -t 2 - "UNIX-CONNECT:$COLLECTD_SOCK" >/dev/null
log_has_notif() { grep -q 'Notification: severity = WARNING.*plugin_instance = www, message = selftest-notification' "$COLLECTD_LOG"; }
check "notifications are written to collectd.log by the logfile plugin" wait_until 5 log_has_notif

# --- stop all, twice (idempotent), and check nothing is left
ports="$CARBON_PORT $INFLUX_HTTP_PORT"
udp_port=$INFLUX_COLLECTD_PORT
sinks_stop_all
sinks_stop_all
for p in $carbon_pid $influx_pid $collectd_pid; do
  check "pid $p is gone after stop" bash -c "! kill -0 $p 2>/dev/null"
done
for p in $ports; do
  check "tcp port $p no longer listens" bash -c "! ss -ltnH 'sport = :$p' | grep -q ."
done
check "udp port $udp_port no longer listens" bash -c "! ss -lunH 'sport = :$udp_port' | grep -q ."
check "collectd logged a normal exit" grep -q 'Exiting normally' "$dir/cd/collectd.log"

echo "it_sinks_selftest: $fails failure(s)"
[ "$fails" = 0 ]
