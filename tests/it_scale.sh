#!/usr/bin/env bash
# Shared-hosting scale: one real php-fpm master with 1,000 ondemand pools in
# 1,000 files (one per site, unix sockets in a temp dir; the master gets the
# descriptors for its 1,000 listening sockets).
#   1. fpmstat --discover PATH under `ulimit -n 256`: every pool is read
#      (1,000 JSON lines, all "ok":true, exit 0), none fails with "Too many
#      open files"; the pools are read in turns sized from the limit.
#   2. a real collectd with the built plugin, `Discover` pointed at the
#      same php-fpm.conf, its own descriptor limit lowered to 256 before it
#      starts (checked in /proc/PID/limits): all 1,000 pools dispatch values
#      (phpfpm-siteNNNN/... for every site in LISTVAL) and nothing is
#      logged about descriptors.
# FPMT_SCALE_POOLS overrides 1,000 (e.g. for a quick local run).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/fpm_scale.sh"
. "$here/harness/sinks.sh"
. "$here/harness/tap.sh"

build=${FPMT_BUILD_DIR:?}
fpmstat=$build/fpmstat
plugdir=$(phpfpm_plugin_dir) || exit 1
n=${FPMT_SCALE_POOLS:-1000}
dir=$(mktemp -d /tmp/fpmt-scale.XXXXXX)
cleanup() {
  collectd_stop
  fpm_scale_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export FPM_SCALE_IDLE=120s # workers stay up between fpmstat and collectd
fpm_scale_start "$dir/fpm" "$n" || { echo "FAIL: php-fpm with $n pools did not start"; exit 1; }
pass "php-fpm runs $n ondemand pools from $n files"

# ------------------------------------------------------------ fpmstat
# A cold ondemand pool waits for the master to fork its worker, one after
# the other; the timeout is generous so a loaded test machine passes.
(
  ulimit -n 256
  [ -n "${FPMT_SCALE_SKIP_FPMSTAT:-}" ] && exit 0
  exec "$fpmstat" --discover "$dir/fpm/php-fpm.conf" -F json --timeout 60
) >"$dir/disc.json" 2>"$dir/disc.err"
rc=$?
check "fpmstat --discover under ulimit -n 256 exits 0 (got $rc)" test "$rc" = 0
lines=$(grep -c . "$dir/disc.json")
up=$(grep -c '"ok":true' "$dir/disc.json")
check "fpmstat --discover: $n pools in the JSON output (got $lines), all up (got $up)" \
  test "$lines" = "$n" -a "$up" = "$n"
check "fpmstat --discover: $n pools listed from $((n + 1)) files" \
  grep -q "^$n pool(s) found in $((n + 1)) configuration file(s)" "$dir/disc.err"
if grep -q 'Too many open files' "$dir/disc.err"; then
  fail "fpmstat --discover: a pool failed for want of descriptors:"
  grep -m 3 'Too many open files' "$dir/disc.err"
else
  pass "fpmstat --discover: no 'Too many open files'"
fi
sites=$(sed -n 's/.*"pool":"\(site[0-9]*\)".*/\1/p' "$dir/disc.json" | sort -u | wc -l)
check "fpmstat --discover: $n distinct pools answered (got $sites)" test "$sites" = "$n"

# ------------------------------------------------------------ collectd
cd_dir=$dir/cd
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir" | sed -e 's/^Interval 1$/Interval 10/' \
    -e '/^LoadPlugin csv$/,/^<\/Plugin>$/d'
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
# every read thread may wait for a cold pool's first worker
ReadThreads 16
# no writer: values stop after the cache (else collectd logs every one)
PostCacheChain "scale"
<Chain "scale">
  Target "stop"
</Chain>
<Plugin phpfpm>
  Discover "$dir/fpm/php-fpm.conf"
  DiscoverInterval 60
  <DiscoverDefaults>
    Timeout 4
    Workers "none"
  </DiscoverDefaults>
</Plugin>
CONF
} >"$cd_dir/collectd.conf"
# collectd's own descriptor limit, soft and hard, lowered before it starts
ulimit -n 256
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }
lim=$(awk '/^Max open files/ { print $4 "/" $5 }' "/proc/$COLLECTD_PID/limits")
check "collectd runs with 256 descriptors (soft/hard: $lim)" test "$lim" = 256/256

# every pool's first read spawns its worker: allow a few intervals
got=0
for _ in $(seq 1 300); do
  got=$(collectd_listval | sed -n 's|^[^/]*/phpfpm-\(site[0-9]*\)/.*|\1|p' | sort -u | wc -l)
  [ "$got" = "$n" ] && break
  kill -0 "$COLLECTD_PID" 2>/dev/null || break
  sleep 1
done
check "collectd: all $n discovered pools dispatched values (got $got)" test "$got" = "$n"
for i in 1 "$n"; do
  site=$(fpm_scale_site "$i")
  v=$(collectd_getval "testhost/phpfpm-$site/bool-up")
  check "collectd: $site is up (bool-up $v)" test "$v" = 1.000000e+00
done
if grep -qiE 'Too many open files|file descriptor' "$COLLECTD_LOG"; then
  fail "collectd logged a descriptor shortage:"
  grep -m 3 -iE 'Too many open files|file descriptor' "$COLLECTD_LOG"
else
  pass "collectd: nothing logged about descriptors"
fi
check "collectd: $n pools registered by Discover" \
  bash -c "[ \$(grep -c 'phpfpm plugin: pool \"site[0-9]*\": reading ' '$COLLECTD_LOG') = $n ]"
collectd_stop
if san=$(collectd_sanitizer_errors "$cd_dir"); then
  fail "collectd printed a sanitizer report:"
  printf '%s\n' "$san" | head -n 20
fi
echo "it_scale: $fails failure(s)"
[ "$fails" = 0 ]
