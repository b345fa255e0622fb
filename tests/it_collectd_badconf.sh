#!/usr/bin/env bash
# End-to-end: `collectd -T -C conf` (parse, init, one read, shutdown; note
# that Debian's `-t` checks nothing) with phpfpm configurations that must be
# refused: an unknown key, bad values, a Pool with neither Socket nor
# Address. Each must give rc 1 and a message naming the pool and the key.
# A good configuration against a live pool is the control: rc 0 and one
# bool-up = 1 row in csv (so rc 1 above is not collectd failing for some
# other reason).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"

plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-cdbad.XXXXXX)
cleanup() {
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

# expect_refused NAME POOL KEY_REGEX BLOCK
expect_refused() {
  local name=$1 pool=$2 key=$3
  run_T "$name" "$4"
  local msg
  msg=$(printf '%s\n' "$out" | grep -F "$pool" | grep -E "$key" | head -n 1)
  if [ "$rc" = 1 ] && [ -n "$msg" ]; then
    pass "$name: rc 1 and a message naming pool '$pool' and /$key/: $msg"
  else
    fail "$name: want rc 1 and a message naming pool '$pool' and /$key/; got rc $rc, output:"
    printf '%s\n' "$out" | sed 's/^/#   /'
  fi
}

expect_refused unknown-key alpha 'Frobnicate' "  <Pool \"alpha\">
    Socket \"$FPMT_WWW_SOCK\"
    Frobnicate 3
  </Pool>"

expect_refused bad-workers beta 'Workers' "  <Pool \"beta\">
    Socket \"$FPMT_WWW_SOCK\"
    Workers \"lots\"
  </Pool>"

expect_refused bad-timeout gamma 'Timeout' "  <Pool \"gamma\">
    Socket \"$FPMT_WWW_SOCK\"
    Timeout -1
  </Pool>"

expect_refused no-endpoint delta 'Socket|Address' "  <Pool \"delta\">
    StatusPath \"/status\"
    Timeout 0.5
  </Pool>"

expect_refused both-endpoints epsilon 'Socket|Address' "  <Pool \"epsilon\">
    Socket \"$FPMT_WWW_SOCK\"
    Address \"$FPMT_DYN_ADDR\"
  </Pool>"

# the control: a good configuration passes -T and reads once
run_T good "  <Pool \"www\">
    Socket \"$FPMT_WWW_SOCK\"
    StatusPath \"/status\"
    Timeout 0.5
    Interval 1
    Workers \"summary\"
    MaxChildren 4
    SlowThreshold 2
  </Pool>"
up=$(csv_last "$dir/good/csv" testhost/phpfpm-www/bool-up 2>/dev/null | cut -d, -f2)
if [ "$rc" = 0 ] && [ "$up" = 1.000000 ]; then
  pass "good: rc 0 and one read with bool-up 1"
else
  fail "good: want rc 0 and bool-up 1; got rc $rc, bool-up '${up}', output:"
  printf '%s\n' "$out" | sed 's/^/#   /'
fi

echo "it_collectd_badconf: $fails failure(s)"
[ "$fails" = 0 ]
