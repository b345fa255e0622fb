#!/usr/bin/env bash
# it_fault_plugin.sh: faults of a real php-fpm 8.2 seen through collectd and
# the phpfpm plugin (Interval 1, csv with raw counters):
#   - the master stopped: every interval gives bool-up 0 and the log names
#     the pool, the socket and the cause; collectd's CPU stays low while the
#     pools are down (no busy loop); after a start on the same directory
#     (sockets recreated) the pools report up again with no operator action,
#     the plugin sends a restart notification and no accepted-conn rate is
#     negative;
#   - the worker serving the plugin's request killed with SIGKILL: an error
#     line for that pool (connection closed/reset), collectd alive, the next
#     reads fine;
#   - a saturated pool (one worker busy, backlog full): its reads end at the
#     pool's Timeout and the other pools keep a row every interval.
#   - collectd run as nobody (collectd -T) against a 0660 root:root socket:
#     the log names the pool, "permission denied", the socket's owner and
#     mode and the fix; a TCP pool in the same run reads fine.
# Needs: FPMT_BUILD_DIR with collectd-plugin/phpfpm.so, collectd, cgi-fcgi.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
src_dir=${FPMT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if [ ! -d "$src_dir/collectd-plugin" ] || [ ! -f "$here/harness/sinks.sh" ]; then
  echo "SKIP: this source tree has no collectd plugin or tests/harness/sinks.sh"
  exit 0
fi
. "$here/harness/sinks.sh"

plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-fplug.XXXXXX)
bg=()
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  collectd_stop
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$here/harness/tap.sh"
now_s() { date +%s.%N; }
slack=1
[ "${FPMT_VALGRIND:-0}" = 1 ] && slack=10

PERM_SOCK=$dir/fpm/run/perm.sock
export FPM_POOLS_EXTRA=$(fpm_perm_pool "$PERM_SOCK")
fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start"; exit 1; }
cat >"$FPMT_DOCROOT/killme.php" <<PHP
<?php touch('$dir/killme.running'); usleep(4000000); echo "late\n";
PHP
cat >"$FPMT_DOCROOT/mark.php" <<'PHP'
<?php touch($_GET['f']); usleep((int)((float)$_GET['s'] * 1e6)); echo "done\n";
PHP

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
    Timeout 0.5
    Interval 1
  </Pool>
  <Pool "od">
    Socket "$FPMT_OD_SOCK"
    Timeout 0.5
    Interval 1
  </Pool>
  <Pool "one">
    Socket "$FPMT_ONE_SOCK"
    Timeout 1
    Interval 1
  </Pool>
  <Pool "victim">
    Socket "$FPMT_WWW_SOCK"
    StatusPath "$FPMT_DOCROOT/killme.php"
    Timeout 8
    Interval 5
  </Pool>
</Plugin>
CONF
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

ident() { printf 'testhost/phpfpm-%s/%s' "$1" "$2"; }
rows_since() { csv_rows_since "$csv" "$(ident "$1" "$2")" "$3" 2>/dev/null; }
n_since() { rows_since "$1" "$2" "$3" | awk -F, -v v="$4" '$2 == v {n++} END {print n + 0}'; }
have() { [ "$(n_since "$1" bool-up "$2" "$3")" -ge "$4" ]; }
cpu_ticks() { awk '{print $14 + $15}' /proc/"$COLLECTD_PID"/stat; }

for p in www od one; do
  wait_until 10 have "$p" 0 1 2 || bad "$p: not reported up at the start"
done

# ------------------------------------------------- the master stopped
fpm_stop
t_down=$(now_s)
cpu0=$(cpu_ticks)
sleep 5
cpu1=$(cpu_ticks)
hz=$(getconf CLK_TCK)
pct=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz / 5 * 100 }')
awk -v p="$pct" -v s=$slack 'BEGIN { exit !(p < 5 * s) }' &&
  ok "pools down for 5 s: collectd used ${pct}% of a core" || bad "pools down: collectd used ${pct}% of a core"
for p in www od one; do
  n=$(n_since "$p" bool-up "$t_down" 0)
  [ "$n" -ge 4 ] && ok "$p down: $n bool-up 0 rows in 5 s" || bad "$p down: $n bool-up 0 rows in 5 s"
done
if grep -q "pool \"www\".*$FPMT_WWW_SOCK.*cannot connect" "$COLLECTD_LOG"; then
  ok "the log names the pool, the socket and the cause: $(grep "pool \"www\".*cannot connect" "$COLLECTD_LOG" | tail -1 | cut -c1-220)"
else
  bad "no clear error line for www: $(grep phpfpm "$COLLECTD_LOG" | tail -3)"
fi
fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start again"; exit 1; }
t_up=$(now_s)
for p in www od one; do
  wait_until $((5 * slack)) have "$p" "$t_up" 1 1 && ok "$p up again after the start, no operator action" ||
    bad "$p: not up within 5 s of the start"
done
wait_until 5 grep -q 'Notification:.*plugin_instance = www' "$COLLECTD_LOG" &&
  ok "restart notification for www: $(grep 'Notification:.*plugin_instance = www' "$COLLECTD_LOG" | tail -1 | cut -c1-200)" ||
  bad "no restart notification for www"
neg=0
for i in 1 2 3 4 5 6; do
  v=$(collectd_getval "$(ident www total_requests-accepted)" 2>/dev/null | head -1)
  awk -v v="$v" 'BEGIN { exit !(v ~ /^-/) }' && neg=$((neg + 1))
  sleep 0.5
done
[ $neg = 0 ] && ok "no negative accepted-conn rate after the restart" || bad "$neg negative rates"

# ------------------------------------------------- worker killed mid-request
# the pool "victim" has a slow script as its status path: each of its reads
# runs it (4 s) through the plugin's own fetch; that worker gets SIGKILL
rm -f "$dir/killme.running"
if wait_until $((12 * slack)) test -e "$dir/killme.running"; then
  wpid=$(env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET QUERY_STRING=full \
    timeout 5 cgi-fcgi -bind -connect "$FPMT_WWW_SOCK" 2>/dev/null |
    awk '/^pid:/{p=$2} /^script:.*killme.php/{print p; exit}')
  if [ -n "$wpid" ]; then
    kill -KILL "$wpid"
    if wait_until 3 grep -qE 'pool "victim".*(closed|reset)' "$COLLECTD_LOG"; then
      ok "worker killed mid-request: $(grep -E 'pool "victim".*(closed|reset)' "$COLLECTD_LOG" | tail -1 | cut -c1-220)"
    else
      bad "worker killed: no closed/reset error for victim: $(grep 'pool "victim"' "$COLLECTD_LOG" | tail -2)"
    fi
  else
    bad "no worker runs killme.php"
  fi
  kill -0 "$COLLECTD_PID" && ok "collectd alive after the kill" || bad "collectd died"
  wait_until 3 have www "$(now_s)" 1 1 && ok "www reads fine after the kill" || bad "www: no up row after the kill"
else
  bad "the plugin's slow request did not start"
fi

# ------------------------------------------------- a saturated pool
env -i SCRIPT_NAME=/mark.php SCRIPT_FILENAME="$FPMT_DOCROOT/mark.php" REQUEST_METHOD=GET \
  QUERY_STRING="s=8&f=$dir/one.running" timeout 20 cgi-fcgi -bind -connect "$FPMT_ONE_SOCK" >/dev/null 2>&1 &
bg+=($!)
wait_until 5 test -e "$dir/one.running" || bad "the one-worker pool did not get busy"
t_s=$(now_s)
sleep 5
n0=$(n_since one bool-up "$t_s" 0)
[ "$n0" -ge 3 ] && ok "saturated pool: $n0 bool-up 0 rows in 5 s (reads end at the Timeout)" ||
  bad "saturated pool: $n0 bool-up 0 rows in 5 s"
gap=$(rows_since www bool-up "$t_s" | awk -F, '{ if (n && $1 - t > g) g = $1 - t; t = $1; n++ } END { printf "%.2f", g }')
awk -v g="$gap" 'BEGIN { exit !(g <= 2.5) }' && ok "www keeps a row every interval meanwhile (largest gap $gap s)" ||
  bad "www: a gap of $gap s while one was saturated"
grep -qE 'pool "one".*(timeout|timed out|backlog)' "$COLLECTD_LOG" &&
  ok "the log says why: $(grep -E 'pool "one".*(timeout|timed out|backlog)' "$COLLECTD_LOG" | tail -1 | cut -c1-200)" ||
  bad "no timeout line for one: $(grep 'pool "one"' "$COLLECTD_LOG" | tail -2)"

# stop collectd first: LeakSanitizer reports at exit
collectd_stop

# ------------------------------------------------- socket refusing collectd
# collectd as nobody (collectd -T: init, one read of each pool, shutdown)
# against a 0660 root:root socket: the log must name the pool, the cause,
# the socket's owner and mode, and the fix. The TCP pool next to it is the
# control: nobody reads it fine in the same run.
perm_run() {
  local pd=$dir/perm pre
  mkdir -p "$pd/csv"
  cp "$plugdir/phpfpm.so" "$pd/"
  cat >"$pd/collectd.conf" <<CONF
Hostname "testhost"
FQDNLookup false
BaseDir "$pd"
PIDFile "$pd/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "$SINKS_TYPESDB"
Interval 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$pd/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$pd/csv"
</Plugin>
PluginDir "$pd"
LoadPlugin phpfpm
<Plugin phpfpm>
  <Pool "perm">
    Socket "$PERM_SOCK"
    Timeout 1
  </Pool>
  <Pool "dyn">
    Address "$FPMT_DYN_ADDR"
    Timeout 1
  </Pool>
</Plugin>
CONF
  chmod 755 "$dir" "$dir/fpm" "$dir/fpm/run"
  chown -R nobody:nogroup "$pd"
  pre=$(sinks_sanitizer_preload)
  timeout -k 5 120 setpriv --reuid=nobody --regid=nogroup --clear-groups \
    env ${pre:+LD_PRELOAD="$pre"} collectd -T -C "$pd/collectd.conf" >"$pd/collectd.out" 2>&1
}
if command -v setpriv >/dev/null; then
  perm_run
  pl=$(grep 'pool "perm"' "$dir/perm/collectd.log" | grep -i 'permission denied' | head -1)
  if grep -q 'owner root:root mode 0660' <<<"$pl" && grep -q 'listen.mode' <<<"$pl"; then
    ok "socket refusing collectd (as nobody): $(cut -c1-300 <<<"$pl")"
  else
    bad "socket refusing collectd: no permission line naming owner, mode and fix; log: $(tail -5 "$dir/perm/collectd.log")"
  fi
  up=$(csv_last "$dir/perm/csv/testhost/phpfpm-dyn" bool-up | cut -d, -f2)
  [ "${up%%.*}" = 1 ] && ok "the TCP pool in the same run as nobody: bool-up 1" ||
    bad "the TCP pool as nobody: bool-up '${up}'"
  if collectd_sanitizer_errors "$dir/perm/collectd.out" >"$dir/san-perm.txt"; then
    bad "sanitizer reports (nobody run): $(head -c 2000 "$dir/san-perm.txt")"
  fi
else
  bad "setpriv is missing"
fi
if collectd_sanitizer_errors "$cd_dir" >"$dir/san.txt"; then
  bad "sanitizer reports: $(head -c 2000 "$dir/san.txt")"
else
  ok "no sanitizer report through phpfpm.so"
fi
echo "it_fault_plugin: $fails failure(s)"
[ $fails = 0 ]
