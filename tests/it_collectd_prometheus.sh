#!/usr/bin/env bash
# End-to-end for Prometheus users: phpfpm plugin -> collectd's own
# write_prometheus (loopback port) -> /metrics -> `promtool check metrics`,
# lint included (exit 0: no parse error and no lint problem). Also checks
# that the plugin's series are there under the names docs/prometheus.md
# gives, with a value that can be checked (a static pool of 4 workers), and
# that the parse_* gauges use the objects type (a count type became
# collectd_phpfpm_count, which promtool rejects).
# Needs: collectd-core with write_prometheus (libmicrohttpd12,
# libprotobuf-c1), prometheus (promtool), FPMT_BUILD_DIR with phpfpm.so.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"

plugdir=$(phpfpm_plugin_dir) || exit 1
command -v promtool >/dev/null || { echo "FAIL: promtool is missing (Debian: prometheus)"; exit 1; }
wp=/usr/lib/collectd/write_prometheus.so
missing=$(ldd "$wp" 2>/dev/null | awk '/not found/ { print $1 }')
[ -z "$missing" ] || {
  echo "FAIL: $wp cannot load: $missing missing (Debian: libmicrohttpd12 libprotobuf-c1)"
  exit 1
}
dir=$(mktemp -d /tmp/fpmt-cdprom.XXXXXX)
cleanup() {
  collectd_stop
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$here/harness/tap.sh"

fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start"; exit 1; }

port=$(sinks_free_ports 1 tcp)
cd_dir=$dir/cd
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  cat <<CONF
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "$port"
</Plugin>
CONF
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
    Timeout 0.5
    Interval 1
    Workers "summary"
    MaxChildren 4
  </Pool>
</Plugin>
CONF
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

metrics=$dir/metrics.txt
scrape() { curl -sS --max-time 5 -o "$metrics" "http://127.0.0.1:$port/metrics"; }
# ready when a round with the worker summary has been exposed
has_round() {
  scrape 2>/dev/null &&
    grep -q '^collectd_phpfpm_objects{.*type="parse_phantom"' "$metrics" &&
    grep -q '^collectd_phpfpm_vs_processes{.*type="total"' "$metrics"
}
if ! check "write_prometheus exposes the plugin's series on 127.0.0.1:$port" wait_until 20 has_round; then
  echo "--- /metrics:"
  cat "$metrics" 2>/dev/null | head -40
  echo "--- collectd.log:"
  tail -n 20 "$cd_dir/collectd.log"
  exit 1
fi
# a second scrape after the next round: the file checked is a whole exposition
sleep 1.2
scrape || bad "second scrape failed"

out=$(promtool check metrics <"$metrics" 2>&1)
rc=$?
if [ $rc = 0 ]; then
  ok "promtool check metrics: exit 0 ($(grep -vc '^#' "$metrics") series)"
else
  bad "promtool check metrics: exit $rc: $out"
fi

series() { grep -E "^$1\{" "$metrics"; }
v=$(series collectd_phpfpm_vs_processes | grep 'type="total"' | awk '{ print $2 }')
check "collectd_phpfpm_vs_processes{type=\"total\"} is 4 (got '$v')" test "$v" = 4
check "every series carries phpfpm=\"www\" and instance=\"testhost\"" \
  bash -c "! grep -E '^collectd_phpfpm' '$metrics' | grep -v 'phpfpm=\"www\"' | grep -q . &&
           ! grep -E '^collectd_phpfpm' '$metrics' | grep -v 'instance=\"testhost\"' | grep -q ."
check "counters end in _total (collectd_phpfpm_total_requests_total{type=\"accepted\"})" \
  bash -c "grep -qE '^collectd_phpfpm_total_requests_total\{.*type=\"accepted\"' '$metrics'"
check "no collectd_phpfpm_count series" bash -c "! grep -q '^collectd_phpfpm_count' '$metrics'"
for t in parse_repaired parse_dropped parse_phantom; do
  check "collectd_phpfpm_objects{type=\"$t\"} present" \
    bash -c "grep -qE '^collectd_phpfpm_objects\{.*type=\"$t\"' '$metrics'"
done
v=$(series collectd_phpfpm_percent | grep 'type="utilisation_max_children"' | awk '{ print $2 }')
check "utilisation_max_children is a number in [0, 100] (got '$v')" \
  is_true "\"$v\" != \"\" && $v >= 0 && $v <= 100"

echo "# $((fails)) failure(s)"
exit $((fails > 0))
