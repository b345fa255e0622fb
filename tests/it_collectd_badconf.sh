#!/usr/bin/env bash
# End-to-end: the configuration policy of issue #5. A bad <Pool> block (an
# unknown key, a bad value, neither or both of Socket and Address) is
# rejected with a message naming the pool, the key and what was expected,
# and skipped: the valid pools are read and collectd keeps running.
#   - `collectd -T -C conf` (parse, init, one read round, shutdown; Debian's
#     `-t` checks nothing) with each bad block next to a good pool: rc 1
#     (the plugin's one-shot "phpfpm-config" read fails on purpose), the
#     documented message, the summary line, and the good pool was read in
#     that same run (a bool-up 1 row);
#   - a real daemon (collectd -f) with all the bad blocks and the good pool:
#     it keeps running, each message is logged once, and the good pool's
#     values keep arriving every interval;
#   - the control: a clean configuration gives rc 0 under -T.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"

plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-cdbad.XXXXXX)
cleanup() {
  collectd_stop
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$here/harness/tap.sh"

fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start"; exit 1; }

# run_T NAME POOL_BLOCK: collectd -T with the block; sets rc and out (the
# command's output and collectd.log together)
run_T() {
  local d=$dir/$1
  mkdir -p "$d"
  {
    collectd_conf_base "$d"
    collectd_conf_phpfpm "$plugdir"
    printf '<Plugin phpfpm>\n%s\n</Plugin>\n' "$2"
  } >"$d/collectd.conf"
  collectd_cmd -T -C "$d/collectd.conf" >"$d/out.txt" 2>&1
  rc=$?
  out=$(cat "$d/out.txt" "$d/collectd.log" 2>/dev/null)
  local san
  if san=$(collectd_sanitizer_errors "$d/out.txt"); then
    fail "$1: collectd -T printed a sanitizer report:"
    printf '%s\n' "$san" | sed 's/^/#   /'
  fi
}

good_block="  <Pool \"www\">
    Socket \"$FPMT_WWW_SOCK\"
    Timeout 0.5
    Interval 1
    MaxChildren 4
  </Pool>"

# www_read: the good pool was registered and read without an error in the
# -T run ($out). The csv is not a witness: collectd -T stops its write
# threads right after the read round and may drop queued values ("N value
# lists were left after shutting down the write threads").
www_read() {
  printf '%s\n' "$out" | grep -q 'phpfpm plugin: pool "www": reading unix:.* every ' &&
    ! printf '%s\n' "$out" | grep -F '[error]' | grep -qF 'pool "www"'
}

# expect_refused NAME POOL KEY_REGEX BLOCK: -T with BLOCK and the good pool
expect_refused() {
  local name=$1 pool=$2 key=$3
  run_T "$name" "$4
$good_block"
  local msg
  msg=$(printf '%s\n' "$out" | grep -F '[error]' | grep -F "\"$pool\"" | grep -E "$key" | head -n 1)
  if [ "$rc" = 1 ] && [ -n "$msg" ] && www_read &&
    printf '%s\n' "$out" | grep -q 'phpfpm plugin: 1 configuration error(s) above'; then
    pass "$name: -T rc 1, the good pool read in the same run, and: ${msg#*\] }"
  else
    fail "$name: want rc 1, an error naming pool '$pool' and /$key/, the summary and www read without an error; got rc $rc, output:"
    printf '%s\n' "$out" | sed 's/^/#   /'
  fi
}

bad_unknown="  <Pool \"alpha\">
    Socket \"$FPMT_WWW_SOCK\"
    Frobnicate 3
  </Pool>"
bad_workers="  <Pool \"beta\">
    Socket \"$FPMT_WWW_SOCK\"
    Workers \"lots\"
  </Pool>"
bad_timeout="  <Pool \"gamma\">
    Socket \"$FPMT_WWW_SOCK\"
    Timeout -1
  </Pool>"
bad_none="  <Pool \"delta\">
    StatusPath \"/status\"
    Timeout 0.5
  </Pool>"
bad_both="  <Pool \"epsilon\">
    Socket \"$FPMT_WWW_SOCK\"
    Address \"$FPMT_DYN_ADDR\"
  </Pool>"

expect_refused unknown-key alpha 'unknown option "Frobnicate"; expected one of Socket' "$bad_unknown"
expect_refused bad-workers beta 'Workers: expected one of none, summary, slots; got "lots"' "$bad_workers"
expect_refused bad-timeout gamma 'Timeout: expected a number of seconds greater than 0; got -1' "$bad_timeout"
expect_refused no-endpoint delta 'expected exactly one of Socket .* or Address .*; got neither' "$bad_none"
expect_refused both-endpoints epsilon 'expected exactly one of Socket .* or Address .*; got both' "$bad_both"

# the control: a good configuration passes -T and reads once
run_T good "$good_block"
if [ "$rc" = 0 ] && www_read && ! printf '%s\n' "$out" | grep -q '\[error\]'; then
  pass "good: rc 0, www registered and read, no error"
else
  fail "good: want rc 0, www's 'reading ... every' line and no error; got rc $rc, output:"
  printf '%s\n' "$out" | sed 's/^/#   /'
fi

# the daemon: every bad block at once next to the good pool
d=$dir/daemon
mkdir -p "$d"
{
  collectd_conf_base "$d"
  collectd_conf_phpfpm "$plugdir"
  printf '<Plugin phpfpm>\n%s\n%s\n%s\n%s\n%s\n%s\n</Plugin>\n' "$bad_unknown" \
    "$bad_workers" "$good_block" "$bad_timeout" "$bad_none" "$bad_both"
} >"$d/collectd.conf"
t0=$(now)
if collectd_start "$d" "$d/collectd.conf"; then
  pass "daemon: collectd started with 5 rejected blocks and 1 good one"
else
  fail "daemon: collectd did not start"
fi
test_rows() { [ "$(csv_rows_since "$d/csv" testhost/phpfpm-www/bool-up "$t0" 2>/dev/null | wc -l)" -ge "$1" ]; }
check "daemon: the good pool delivers values (3 rows)" wait_until 8 test_rows 3
t1=$(now)
sleep 3 # an observation window of 3 intervals, not a readiness wait
n=$(csv_rows_since "$d/csv" testhost/phpfpm-www/bool-up "$t1" 2>/dev/null | grep -c ',1.000000$')
check "daemon: $n more bool-up 1 rows of the good pool in 3 s (want >= 2)" test "$n" -ge 2
check "daemon: collectd is still running" kill -0 "$COLLECTD_PID"
for p in alpha beta gamma delta epsilon; do
  c=$(grep -F '[error]' "$COLLECTD_LOG" | grep -c "phpfpm plugin: pool \"$p\"")
  check "daemon: pool $p rejected with one error line (got $c)" test "$c" = 1
done
check "daemon: the summary names 5 configuration errors once" \
  test "$(grep -c 'phpfpm plugin: 5 configuration error(s) above' "$COLLECTD_LOG")" = 1
check "daemon: no phpfpm read of a rejected pool" \
  bash -c "! ls '$d/csv/testhost' | grep -qE 'phpfpm-(alpha|beta|gamma|delta|epsilon)'"
collectd_stop
if san=$(collectd_sanitizer_errors "$d"); then
  fail "daemon: collectd (with the plugin) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi

echo "it_collectd_badconf: $fails failure(s)"
[ "$fails" = 0 ]
