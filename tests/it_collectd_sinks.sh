#!/usr/bin/env bash
# End-to-end: phpfpm plugin -> collectd -> real sinks.
#   write_graphite (FlushInterval 1) -> carbon-cache -> whisper files
#   network plugin -> InfluxDB 1.x collectd listener with the STOCK types.db
# and csv (raw counters) as the reference. Checks that the series arrive
# under the default names with the right values, that the DERIVE counter
# is a plain non-negative rate in Graphite and the raw counter in InfluxDB
# (the same numbers csv has), and that influxd dropped nothing for an
# unknown type. WorkerMemory and WorkerPSS true: the workers' memory (stock types memory
# and vs_processes) reaches both sinks, RSS within 10 % of /proc's.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/opcache.sh"

plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-cdsinks.XXXXXX)
cleanup() {
  sinks_stop_all
  fpm_stop
  oc_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$here/harness/tap.sh"

fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start"; exit 1; }
# a second master, with OPcache: its series go under phpfpm_opcache-m1
oc_start "$dir/oc" || { echo "FAIL: php-fpm with OPcache did not start"; exit 1; }
carbon_start "$dir/carbon" || { echo "FAIL: carbon-cache did not start"; exit 1; }
influx_start "$dir/influx" || { echo "FAIL: influxd did not start"; exit 1; }

cd_dir=$dir/cd
csv=$cd_dir/csv
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
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
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
    StatusPath "/status"
    Timeout 0.5
    Interval 1
    Workers "summary"
    WorkerMemory true
    WorkerPSS true
  </Pool>
  <Pool "oca">
    Socket "$OC_A_SOCK"
    Timeout 0.5
    Interval 1
    Opcache true
    OpcacheScript "$OC_SCRIPT"
    Master "m1"
  </Pool>
</Plugin>
CONF
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

# some traffic so that the counter moves by more than the scrapes
for i in $(seq 1 20); do fcgi_get "$FPMT_WWW_SOCK" hello.php "i=$i" >/dev/null; done

# ---------------------------------------------------------------- Graphite
g=collectd.testhost.phpfpm-www
last_value() { carbon_fetch "$1" 600 | awk -F'\t' '{ v = $2 } END { print v }'; }

check "carbon has $g.vs_processes-total" carbon_wait_metric "$g.vs_processes-total" 20
v=$(last_value "$g.vs_processes-total")
check "graphite vs_processes-total is 4 (static pool of 4; got '$v')" test "$v" = 4.000000
check "carbon has $g.bool-up" carbon_wait_metric "$g.bool-up" 10
v=$(last_value "$g.bool-up")
check "graphite bool-up is 1 (got '$v')" test "$v" = 1.000000
check "carbon has $g.vs_processes-active" carbon_wait_metric "$g.vs_processes-active" 10
active_is_0() { [ "$(last_value "$g.vs_processes-active")" = 0.000000 ]; }
check "graphite vs_processes-active is 0 on an idle pool (last: $(last_value "$g.vs_processes-active"))" \
  wait_until 5 active_is_0

# worker memory (WorkerMemory true): 4 workers; RSS summed near /proc's
www_rss() { # the www workers' RSS summed, bytes, read here from /proc
  local p
  for p in $(pgrep -P "$FPMT_PHP_FPM_PID" -f '^php-fpm: pool www'); do
    cat "/proc/$p/smaps_rollup"
  done | awk '/^Rss:/ { r += $2 * 1024 } END { printf "%.0f\n", r }'
}
check "carbon has $g.vs_processes-memory_measured" carbon_wait_metric "$g.vs_processes-memory_measured" 20
v=$(last_value "$g.vs_processes-memory_measured")
check "graphite vs_processes-memory_measured is 4 (got '$v')" test "$v" = 4.000000
for ti in rss_total rss_p50 rss_max pss_total; do
  check "carbon has $g.memory-$ti" carbon_wait_metric "$g.memory-$ti" 10
done
# the stored value is the last read's and the workers' RSS moves between
# reads (they served the traffic above): compare until a read agrees
rss_near() {
  v=$(last_value "$g.memory-rss_total") k=$(www_rss)
  awk -v a="$v" -v b="$k" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b / 10) }'
}
check "graphite memory-rss_total within 10 % of /proc's" wait_until 15 rss_near
echo "# graphite memory-rss_total $v, /proc $k"

# DERIVE with StoreRates true: a rate; the first sample is NaN (carbon drops
# it), then one scrape per second is at least ~1/s on the pool's own socket
have_two_rates() { [ "$(carbon_fetch "$g.total_requests-accepted" 600 | wc -l)" -ge 2 ]; }
check "carbon has two rates of $g.total_requests-accepted" wait_until 20 have_two_rates
rates=$(carbon_fetch "$g.total_requests-accepted" 600 | cut -f2 | tr '\n' ' ')
check "graphite accepted rates are >= 0 and < 1000/s, one at least 0.5/s (got: $rates)" \
  awk -v r="$rates" 'BEGIN { n = split(r, a, " "); if (!n) exit 1
    for (i = 1; i <= n; i++) { if (a[i] + 0 < 0 || a[i] + 0 >= 1000) exit 1; if (a[i] + 0 >= 0.5) big = 1 }
    exit !big }'

# OPcache (docs/opcache.md): gauges as they are, the DERIVE hits as a rate
o=collectd.testhost.phpfpm_opcache-m1
check "carbon has $o.cache_size-scripts" carbon_wait_metric "$o.cache_size-scripts" 20
v=$(last_value "$o.cache_size-scripts")
check "graphite OPcache cached scripts >= 1 (got '$v')" is_true "${v:-0} >= 1"
check "carbon has $o.memory-used" carbon_wait_metric "$o.memory-used" 10
v=$(last_value "$o.memory-used")
check "graphite OPcache memory used > 1 MB (got '$v')" is_true "${v:-0} > 1000000"
check "carbon has $o.bool-enabled" carbon_wait_metric "$o.bool-enabled" 10
have_hit_rates() { [ "$(carbon_fetch "$o.cache_result-hits" 600 | wc -l)" -ge 1 ]; }
check "carbon has a rate of $o.cache_result-hits" wait_until 20 have_hit_rates
check "carbon has $o.cache_ratio-hits" carbon_wait_metric "$o.cache_ratio-hits" 10

# ---------------------------------------------------------------- InfluxDB
q_last() { # TYPE TYPE_INSTANCE
  influx_query collectd "SELECT last(value) FROM phpfpm_value WHERE host='testhost' AND instance='www' AND type='$1' AND type_instance='$2'" |
    jq -r '.results[0].series[0].values[0][1] // empty'
}
influx_has() { [ -n "$(q_last "$1" "$2")" ]; }
check "influx has phpfpm_value{instance=www,type=vs_processes,type_instance=total}" \
  wait_until 20 influx_has vs_processes total
v=$(q_last vs_processes total)
check "influx vs_processes total is 4 (got '$v')" test "$v" = 4
check "influx has bool up" wait_until 10 influx_has bool up
v=$(q_last bool up)
check "influx bool up is 1 (got '$v')" test "$v" = 1
check "influx has memory pss_total" wait_until 10 influx_has memory pss_total
check "influx has memory rss_total" wait_until 10 influx_has memory rss_total
v=$(q_last vs_processes memory_measured)
check "influx vs_processes memory_measured is 4 (got '$v')" test "$v" = 4

oc_last() { # TYPE TYPE_INSTANCE
  influx_query collectd "SELECT last(value) FROM phpfpm_opcache_value WHERE host='testhost' AND instance='m1' AND type='$1' AND type_instance='$2'" |
    jq -r '.results[0].series[0].values[0][1] // empty'
}
oc_has() { [ -n "$(oc_last "$1" "$2")" ]; }
check "influx has phpfpm_opcache_value{instance=m1,type=cache_size,type_instance=scripts}" \
  wait_until 20 oc_has cache_size scripts
v=$(oc_last cache_size scripts)
csv_v=$(csv_last "$csv" testhost/phpfpm_opcache-m1/cache_size-scripts | cut -d, -f2)
check "influx OPcache cached scripts $v >= 1, as csv has ($csv_v)" \
  is_true "${v:-0} >= 1 && ${csv_v:-0} >= 1"
check "influx has the DERIVE OPcache hits" wait_until 10 oc_has cache_result hits
check "influx has OPcache bool enabled = 1" wait_until 10 oc_has bool enabled
v=$(oc_last bool enabled)
check "influx OPcache enabled is 1 (got '$v')" test "$v" = 1

check "influx has the DERIVE total_requests accepted" wait_until 10 influx_has total_requests accepted
three_points() { [ "$(influx_query collectd "SELECT count(value) FROM phpfpm_value WHERE instance='www' AND type='total_requests' AND type_instance='accepted'" |
  jq -r '.results[0].series[0].values[0][1] // 0')" -ge 3 ]; }
check "influx has 3 accepted points" wait_until 10 three_points
influx_acc=$(influx_query collectd "SELECT value FROM phpfpm_value WHERE instance='www' AND type='total_requests' AND type_instance='accepted'" |
  jq -r '.results[0].series[0].values[][1]' | tr '\n' ' ')
csv_acc=$(csv_rows "$csv" testhost/phpfpm-www/total_requests-accepted | cut -d, -f2 | awk '{ printf "%d ", $1 }')
echo "# influx accepted: $influx_acc"
echo "# csv accepted:    $csv_acc"
check "influx accepted is the raw counter: non-decreasing, >= 20, each value also in csv" \
  awk -v i="$influx_acc" -v c="$csv_acc" 'BEGIN {
    n = split(i, a, " "); m = split(c, b, " "); if (n < 3) exit 1
    for (k = 1; k <= m; k++) seen[b[k] + 0] = 1
    for (k = 1; k <= n; k++) { if (!((a[k] + 0) in seen)) exit 1; if (k > 1 && a[k] + 0 < a[k - 1] + 0) exit 1 }
    exit !(a[n] + 0 >= 20) }'
check "influxd found every type in the stock types.db" \
  bash -c "! grep -q 'unable to find' '$INFLUX_DIR/influxd.log'"
meas=$(influx_query collectd 'SHOW MEASUREMENTS' | jq -r '[.results[0].series[0].values[][0]] | join(" ")')
check "measurements are phpfpm_<DS name> only, phpfpm_value among them (got: $meas)" \
  awk -v m="$meas" 'BEGIN { n = split(m, a, " "); for (i = 1; i <= n; i++) { if (a[i] !~ /^phpfpm_/) exit 1; if (a[i] == "phpfpm_value") v = 1 } exit !v }'

check "collectd logged no write errors" \
  bash -c "! grep -E '\[error\].*(write_graphite|network)' '$COLLECTD_LOG'"
collectd_stop
if san=$(collectd_sanitizer_errors "$cd_dir"); then
  fail "collectd (with the plugin) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
else
  pass "no sanitizer report from collectd"
fi
echo "it_collectd_sinks: $fails failure(s)"
[ "$fails" = 0 ]
