#!/usr/bin/env bash
# The real collectd 5.12 with phpfpm.so from a private PluginDir (docs/
# collectd-plugin.md, "What the plugin relies on in collectd 5.12")
# against a private php-fpm:
#   1. bad configurations: `collectd -T` exits 1 with the documented message;
#   2. a good one: `collectd -T` exits 0 and the csv plugin got bool-up 1;
#   3. the daemon at Interval 1 across an FPM reload (SIGUSR2): a restart
#      notification is logged and the stored accepted-requests rate is never
#      negative or giant (the raw DERIVE falls; types.db's min 0 gives NaN);
#      a hung pool (a socket nobody accepts on) beside it delays neither the
#      www values nor the daemon's shutdown by more than its Timeout.
# Skipped (77) in sanitizer builds: the stock daemon cannot load an ASan .so.
set -u
src=${FPMT_SOURCE_DIR:?}
so=${PHPFPM_SO:?}
collectd=${COLLECTD_BIN:-/usr/sbin/collectd}
if [ "${FPM_SANITIZERS:-OFF}" = ON ]; then
  echo "skip: sanitizer build (collectd cannot dlopen an ASan plugin)"; exit 77
fi
[ -x "$collectd" ] || { echo "skip: no $collectd"; exit 77; }
. "$src/tests/harness/fpm.sh"
d=$(mktemp -d /tmp/fpmt-cd.XXXXXX)
CD=""
HUNG=""
cleanup() {
  [ -n "$CD" ] && kill -TERM "$CD" 2>/dev/null && wait "$CD" 2>/dev/null
  [ -n "$HUNG" ] && kill -TERM "$HUNG" 2>/dev/null && wait "$HUNG" 2>/dev/null
  fpm_stop
  rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fpm_start "$d/fpm" || exit 1
mkdir -p "$d/plugins" && cp "$so" "$d/plugins/phpfpm.so"
# the examples load these after our PluginDir (collectd does not follow
# symlinks there, so copy them)
for p in write_graphite network; do
  [ -f "/usr/lib/collectd/$p.so" ] && cp "/usr/lib/collectd/$p.so" "$d/plugins/"
done
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }

# write_conf NAME STORE_RATES, pool blocks on stdin
write_conf() {
  local name=$1 rates=$2
  cat > "$d/$name.conf" <<CONF
Hostname "testhost"
FQDNLookup false
BaseDir "$d"
PIDFile "$d/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$d/$name.log"
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$d/csv-$name"
  StoreRates $rates
</Plugin>
PluginDir "$d/plugins"
LoadPlugin phpfpm
<Plugin phpfpm>
$(cat)
</Plugin>
CONF
}

# 1. bad configurations
check_bad() { # name expected-message
  local name=$1 want=$2
  timeout 30 "$collectd" -T -C "$d/$name.conf" >"$d/$name.out" 2>&1
  local rc=$?
  if [ $rc = 1 ] && grep -qF -- "$want" "$d/$name.log"; then
    ok "$name: collectd -T rc 1 and: $want"
  else
    bad "$name: rc $rc; log:"; cat "$d/$name.log" "$d/$name.out"
  fi
}
write_conf bad-workers false <<P
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
    Workers "all"
  </Pool>
P
check_bad bad-workers 'phpfpm plugin: pool "www": Workers: expected one of none, summary, slots; got "all"'
write_conf bad-both false <<P
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
    Address "$FPMT_DYN_ADDR"
  </Pool>
P
check_bad bad-both 'phpfpm plugin: pool "www": expected exactly one of Socket "/path/to.sock" or Address "host:port"; got both'
write_conf bad-key false <<P
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
    Sockett "/x"
  </Pool>
P
check_bad bad-key 'phpfpm plugin: pool "www": unknown option "Sockett"; expected one of Socket, Address'

# 2. a good configuration, one read
write_conf good false <<P
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
  </Pool>
  <Pool "dyn">
    Address "$FPMT_DYN_ADDR"
    Workers "none"
  </Pool>
P
timeout 30 "$collectd" -T -C "$d/good.conf" >"$d/good.out" 2>&1
rc=$?
# (-T stops the write threads right after the read: some value lists may be
# dropped, "N value lists were left", so look for any pool's up value)
up=$(cat "$d"/csv-good/testhost/phpfpm-*/bool-up-* 2>/dev/null | grep '^[0-9]' | cut -d, -f2 | sort -u)
if [ $rc = 0 ] && [ "$up" = "1.000000" ] && ! grep -q '\[error\]' "$d/good.log"; then
  ok "good: collectd -T rc 0, up=$up, no error logged"
else
  bad "good: rc $rc up='$up'"; cat "$d/good.log" "$d/good.out"
fi

# 2b. the example configurations in conf/, uncommented, pass `collectd -T`
# (only the pool's socket is changed; write_graphite/network have no peer,
# which does not fail a test run)
for ex in "$src"/conf/phpfpm*.conf; do
  name=example-$(basename "$ex" .conf)
  # drop one '#' from the lines between "#LoadPlugin"/"#<LoadPlugin" and
  # "#</Plugin>"; options that stay commented there keep their second '#'
  body=$(awk '/^#<?LoadPlugin/ {on = 1} on {sub(/^#/, ""); print} /^#?<\/Plugin>/ {on = 0}' "$ex" |
    sed "s|/run/php/php8.2-fpm.sock|$FPMT_WWW_SOCK|")
  cat > "$d/$name.conf" <<CONF
Hostname "testhost"
FQDNLookup false
BaseDir "$d"
PIDFile "$d/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$d/$name.log"
  PrintSeverity true
</Plugin>
PluginDir "$d/plugins"
$body
CONF
  timeout 30 "$collectd" -T -C "$d/$name.conf" >"$d/$name.out" 2>&1
  rc=$?
  if [ $rc = 0 ] && grep -q 'phpfpm plugin: pool "www": reading' "$d/$name.log" &&
     ! grep -q 'phpfpm.*\[error\]\|\[error\].*phpfpm' "$d/$name.log"; then
    ok "$name: uncommented, collectd -T rc 0"
  else
    bad "$name: rc $rc"; cat "$d/$name.conf" "$d/$name.log" "$d/$name.out"
  fi
done

# 3. the daemon across a reload, with a hung pool beside www
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(64); time.sleep(120)' \
  "$d/hung.sock" &
HUNG=$!
for i in $(seq 1 50); do [ -S "$d/hung.sock" ] && break; sleep 0.1; done
[ -S "$d/hung.sock" ] || bad "the hung listener did not start"
write_conf daemon true <<P
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
  </Pool>
  <Pool "hung">
    Socket "$d/hung.sock"
    Timeout 0.9
  </Pool>
P
rows() { cat "$d"/csv-daemon/testhost/phpfpm-www/total_requests-accepted-* 2>/dev/null | grep -c '^[0-9]'; }
wait_rows() { # n seconds
  local i
  for i in $(seq 1 $(( $2 * 10 ))); do
    [ "$(rows)" -ge "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
timeout 60 "$collectd" -f -C "$d/daemon.conf" >"$d/daemon.out" 2>&1 &
CD=$!
wait_rows 3 15 || bad "daemon: fewer than 3 csv rows after 15 s"
for i in $(seq 1 30); do fpm_ping "$FPMT_WWW_SOCK" >/dev/null; done
before=$(rows)
fpm_reload || bad "php-fpm did not come back after SIGUSR2"
wait_rows $((before + 4)) 15 || bad "daemon: no new csv rows after the reload"
for i in $(seq 1 50); do
  grep -q 'php-fpm pool restarted' "$d/daemon.log" && break
  sleep 0.1
done
t0=$(date +%s.%N)
kill -TERM "$CD"; wait "$CD"; CD=""
took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
if awk -v t="$took" 'BEGIN { exit !(t < 2.5) }'; then
  ok "daemon: stopped in $took s with a hung pool (Timeout 0.9 s)"
else
  bad "daemon: shutdown took $took s with a hung pool"
fi
if grep -q 'pool "hung": .*timed out' "$d/daemon.log"; then
  ok "daemon: the hung pool's timeout is logged"
else
  bad "daemon: no timeout logged for the hung pool"
fi
if grep -q 'plugin = phpfpm, plugin_instance = www.*php-fpm pool restarted' "$d/daemon.log"; then
  ok "daemon: restart notification logged"
else
  bad "daemon: no restart notification"; cat "$d/daemon.log"
fi
# rates (StoreRates true): never negative, never giant; NaN allowed once
rates=$(cat "$d"/csv-daemon/testhost/phpfpm-www/total_requests-accepted-* | grep '^[0-9]' | cut -d, -f2)
negative=$(echo "$rates" | awk '$1 != "nan" && $1+0 < 0' | wc -l)
giant=$(echo "$rates" | awk '$1 != "nan" && $1+0 > 1000' | wc -l)
nans=$(echo "$rates" | grep -c nan)
if [ "$negative" = 0 ] && [ "$giant" = 0 ]; then
  ok "daemon: $(echo "$rates" | wc -l) accepted rates, none negative or giant ($nans NaN)"
else
  bad "daemon: rates: $(echo $rates)"
fi
exit $fail
