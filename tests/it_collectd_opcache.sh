#!/usr/bin/env bash
# End-to-end: collectd with the phpfpm plugin's Opcache (Interval 1) against
# a php-fpm master with OPcache (tests/harness/opcache.sh) and csv output.
#   - pools oca and ocb name one Master "m1": ONE series set
#     phpfpm_opcache-m1 and none per pool; the script runs about once per
#     interval over both pools together (counted in FPM's access logs), not
#     once per pool;
#   - cache_result-hits grows by at least the N requests made;
#   - pool "off" (php_admin_value[opcache.enable] = 0, Master "offm") gives
#     bool-enabled 0, no other series, and one NOTICE, not one per interval;
#   - pool "lim" (security.limit_extensions, Master "limm") logs the hint
#     a few times at most (back-off), and its status is still read;
#   - then Discover on the same master: one series set under the name of
#     its configuration (docs/opcache.md: the path, sanitised),
#     enabled (the pool with OPcache off for itself hands its turn on), at
#     most one run per interval over oca and ocb;
#   - a pool of a second master under the same Master name: a WARNING.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/sinks.sh"
. "$here/harness/opcache.sh"
. "$here/harness/tap.sh"

plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-cdoc.XXXXXX)
cleanup() {
  collectd_stop
  oc_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

extra="
[off]
listen = $dir/oc/run/off.sock
pm = static
pm.max_children = 1
pm.status_path = /status
user = root
group = root
php_admin_value[opcache.enable] = 0

[lim]
listen = $dir/oc/run/lim.sock
pm = static
pm.max_children = 1
pm.status_path = /status
user = root
group = root
security.limit_extensions = .php7
"
oc_start "$dir/oc" "$extra" || { echo "FAIL: php-fpm with OPcache did not start"; exit 1; }

# A <Pool> block read every second with Opcache on: NAME SOCKET MASTER.
oc_pool() {
  cat <<CONF
  <Pool "$1">
    Socket "$2"
    Interval 1
    Timeout 0.8
    Opcache true
    OpcacheScript "$OC_SCRIPT"
    Master "$3"
  </Pool>
CONF
}

cd_dir=$dir/cd
csv=$cd_dir/csv
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
$(oc_pool oca "$OC_A_SOCK" m1)
$(oc_pool ocb "$OC_B_SOCK" m1)
$(oc_pool off "$dir/oc/run/off.sock" offm)
$(oc_pool lim "$dir/oc/run/lim.sock" limm)
</Plugin>
CONF
} >"$cd_dir/collectd.conf"

collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

id() { printf 'testhost/phpfpm_opcache-%s/%s' "$1" "$2"; }
rows() { csv_rows "$csv" "$(id "$1" "$2")" 2>/dev/null; }
have_rows() { [ "$(rows "$1" "$2" | wc -l)" -ge "$3" ]; }

check "m1 cache_result-hits rows arrive" wait_until 15 have_rows m1 cache_result-hits 2
check "offm bool-enabled rows arrive" wait_until 15 have_rows offm bool-enabled 2

# one series set per master, none per pool
collectd_listval >"$dir/listval"
n_m1=$(grep -c '^testhost/phpfpm_opcache-m1/' "$dir/listval")
check "m1 has its series ($n_m1)" test "$n_m1" -ge 14
check "no OPcache series per pool" \
  test "$(grep -c -E '^testhost/phpfpm_opcache-(oca|ocb|off|lim)/' "$dir/listval")" = 0
for t in cache_result-hits cache_result-misses cache_ratio-hits memory-used \
  memory-free memory-wasted cache_size-scripts cache_size-keys \
  cache_size-max_keys total_events-oom_restarts \
  total_events-hash_restarts total_events-manual_restarts \
  memory-interned_strings_used memory-interned_strings_free bool-enabled \
  bool-cache_full; do
  grep -q -x "testhost/phpfpm_opcache-m1/$t" "$dir/listval" || bad "m1: no $t"
done
check "offm: only bool-enabled" \
  test "$(grep -c '^testhost/phpfpm_opcache-offm/' "$dir/listval")" = 1
check "offm: bool-enabled is 0" is_true "$(rows offm bool-enabled | tail -n 1 | cut -d, -f2) == 0"
check "m1: bool-enabled is 1" is_true "$(rows m1 bool-enabled | tail -n 1 | cut -d, -f2) == 1"

# cost: one run per master per interval, over both pools of m1
a0=$(oc_runs oca) b0=$(oc_runs ocb) t0=$(date +%s.%N)
sleep_until() { is_true "$(date +%s.%N) >= $1"; }
wait_until 20 sleep_until "$(add "$t0" 6)"
a1=$(oc_runs oca) b1=$(oc_runs ocb) t1=$(date +%s.%N)
runs=$((a1 - a0 + b1 - b0))
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a + 0.5 }')
check "m1: $runs runs of the script in ${secs} s over two pools (oca $((a1 - a0)), ocb $((b1 - b0))): one per interval, not two" \
  is_true "$runs >= $secs - 2 && $runs <= $secs + 1"

# hits follow requests
h0=$(rows m1 cache_result-hits | tail -n 1 | cut -d, -f2)
N=20
for i in $(seq 1 $N); do oc_get "$OC_A_SOCK" "$OC_DOCROOT/hit.php" >/dev/null; done
t_done=$(date +%s.%N)
have_new() { [ "$(csv_rows_since "$csv" "$(id m1 cache_result-hits)" "$(add "$t_done" 1)" | wc -l)" -ge 1 ]; }
check "a hits row after the requests" wait_until 10 have_new
h1=$(csv_rows_since "$csv" "$(id m1 cache_result-hits)" "$(add "$t_done" 1)" | head -n 1 | cut -d, -f2)
check "m1 hits ${h0%.*} -> ${h1%.*}: grew by at least $((N - 1))" \
  is_true "${h1%.*} - ${h0%.*} >= $N - 1"

# disabled: one NOTICE; limit_extensions: the hint, rate-limited
n_notice=$(grep -c 'Master "offm": OPcache is disabled (opcache.enable=0' "$COLLECTD_LOG")
check "offm: one NOTICE that OPcache is disabled (got $n_notice)" test "$n_notice" = 1
n_lim=$(grep -c 'OPcache of master "limm" not read: .*security.limit_extensions' "$COLLECTD_LOG")
check "limm: the limit_extensions hint is logged, not every interval (got $n_lim)" \
  test "$n_lim" -ge 1 -a "$n_lim" -le 3
check "lim's own status is still read" \
  test -n "$(csv_rows "$csv" testhost/phpfpm-lim/bool-up 2>/dev/null | tail -n 1)"

# sanitizer builds: nothing from the plugin (collectd runs with the runtimes
# preloaded)
san_check() {
  local san
  if san=$(collectd_sanitizer_errors "$1"); then
    fail "collectd (with the plugin) printed a sanitizer report:"
    printf '%s\n' "$san" | sed 's/^/#   /'
  else
    pass "no sanitizer report from collectd"
  fi
}

# ------------------------------------------------ discovered pools
# Discover the same master: its pools (oca, ocb, off, lim) are one master,
# named after its configuration (not in a known layout: its path, the
# leading '/' and ".conf" dropped, '/' made '_'; every byte of it is a name
# byte here). The pool
# with OPcache off for itself hands the turn on; the series says enabled.
collectd_stop
san_check "$cd_dir"
cd2=$dir/cd2
mkdir -p "$cd2"
{
  collectd_conf_base "$cd2"
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
  Discover "$OC_DIR/php-fpm.conf"
  <DiscoverDefaults>
    Interval 1
    Timeout 0.8
    Opcache true
    OpcacheScript "$OC_SCRIPT"
  </DiscoverDefaults>
</Plugin>
CONF
} >"$cd2/collectd.conf"
collectd_start "$cd2" "$cd2/collectd.conf" || { echo "FAIL: collectd (Discover) did not start"; exit 1; }
csv2=$cd2/csv
dm=$(printf '%s' "${OC_DIR#/}/php-fpm" | tr / _)
d_rows() { csv_rows "$csv2" "testhost/phpfpm_opcache-$dm/$1" 2>/dev/null; }
d_enabled_rows() { [ "$(d_rows bool-enabled | wc -l)" -ge 4 ]; }
check "discovered: phpfpm_opcache-$dm rows arrive" wait_until 15 d_enabled_rows
collectd_listval >"$dir/listval2"
check "discovered: OPcache series only under the master '$dm'" \
  test "$(grep -c '^testhost/phpfpm_opcache-' "$dir/listval2")" = \
  "$(grep -c "^testhost/phpfpm_opcache-$dm/" "$dir/listval2")"
check "discovered: the pools' status is read too" \
  grep -q -x 'testhost/phpfpm-oca/bool-up' "$dir/listval2"
a0=$(oc_runs oca) b0=$(oc_runs ocb) t0=$(date +%s.%N)
wait_until 20 sleep_until "$(add "$t0" 6)"
a1=$(oc_runs oca) b1=$(oc_runs ocb) t1=$(date +%s.%N)
runs=$((a1 - a0 + b1 - b0))
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", b - a + 0.5 }')
check "discovered: $runs runs through oca and ocb in ${secs} s: at most one per interval" \
  is_true "$runs >= $secs - 3 && $runs <= $secs + 1"
last_enabled=$(d_rows bool-enabled | tail -n 3 | cut -d, -f2 | awk '{ printf "%d ", $1 }')
check "discovered: the last bool-enabled values are 1 (got $last_enabled)" \
  test "$last_enabled" = "1 1 1 "
# pool off takes a turn only when its read comes first in an interval
# (timing): when it did, it was taken as disabled for itself, never as the
# master's state once the master was seen enabled
recent=$(d_rows bool-enabled | tail -n 6 | cut -d, -f2 | awk '{ printf "%d ", $1 }')
check "discovered: no flapping, the last 6 bool-enabled values are 1 (got $recent)" \
  test "$recent" = "1 1 1 1 1 1 "
if grep -q "pool \"off\": OPcache is disabled in this pool (opcache.enable=0) but enabled in master \"$dm\"" "$COLLECTD_LOG"; then
  pass "discovered: pool off was logged as disabled for itself"
else
  echo "# note: pool off never took the turn in this run"
fi

collectd_stop
san_check "$cd2"

# ------------------------------------------ two masters, one Master name
# A pool of a second php-fpm master configured with Master "m1" as well:
# each pool checks once which master it reaches, so the mix-up is logged
# even when the same pool always takes the turn.
mkdir -p "$dir/oc2/run" "$dir/oc2/log"
cat >"$dir/oc2/php-fpm.conf" <<CONF
[global]
pid = $dir/oc2/run/php-fpm.pid
error_log = $dir/oc2/log/php-fpm.log
daemonize = no

[other]
listen = $dir/oc2/run/other.sock
pm = static
pm.max_children = 1
pm.status_path = /status
ping.path = /ping
user = root
group = root
CONF
PHP_INI_SCAN_DIR= "$OC_FPM_BIN" -R -F -c "$OC_DIR/php.ini" -y "$dir/oc2/php-fpm.conf" \
  >"$dir/oc2/log/stdout.log" 2>&1 &
oc2_pid=$!
other_up() { [ "$(oc_ping "$dir/oc2/run/other.sock")" = pong ]; }
check "a second master with OPcache comes up" wait_until 10 other_up
cd3=$dir/cd3
mkdir -p "$cd3"
{
  collectd_conf_base "$cd3"
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
$(oc_pool oca "$OC_A_SOCK" m1)
$(oc_pool other "$dir/oc2/run/other.sock" m1)
</Plugin>
CONF
} >"$cd3/collectd.conf"
collectd_start "$cd3" "$cd3/collectd.conf" || bad "collectd (two masters) did not start"
warned() { grep -q 'Master "m1": pool "[a-z]*" answers from php-fpm master pid [0-9]*, other pools of that name from pid [0-9]*: two masters share the name' "$COLLECTD_LOG"; }
check "two masters under one Master name: WARNING naming both pids" wait_until 10 warned
collectd_stop
san_check "$cd3"
kill -TERM "$oc2_pid" 2>/dev/null
wait "$oc2_pid" 2>/dev/null

echo "# it_collectd_opcache: $fails failed"
exit $((fails > 0))
