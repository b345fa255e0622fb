#!/usr/bin/env bash
# End-to-end: two php-fpm masters with OPcache, both configured outside
# /etc/php (two temp directories), found from /proc (no PATH given):
#   A  $dir/a/php-fpm.conf, pools qa1_<token> and qa2_<token>,
#      opcache.memory_consumption 32 (MiB), max_accelerated_files 1000
#   B  $dir/b/php-fpm.conf, pool qb1_<token>,
#      opcache.memory_consumption 96, max_accelerated_files 20000
# Each master is named after its configuration (docs/opcache.md): here its
# path without the leading '/' and ".conf", '/' made '_'.
#   - fpmstat --discover --opcache -F json: two OPcache objects, one per
#     master, each with its master's name and its own figures (the worker's
#     parent is that master's pid; its memory and hash table sizes are the
#     ones its php.ini set); pool qa2 has none (one read per master);
#   - the same in text: "opcache of master:" once per master;
#   - collectd with Discover true and Opcache true: two phpfpm_opcache
#     instances, one per master, each enabled;
#   - hand-configured <Pool> blocks of both masters without Master share
#     "default": the WARNING says so and gives the fix.
# Other tests may run php-fpm masters meanwhile: only ours are asserted on,
# and the others' pools are left out with ignore patterns (every name not
# starting with qa or qb and '_' after one character more).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/opcache.sh"
. "$here/harness/tap.sh"

build=${FPMT_BUILD_DIR:?}
fpmstat=$build/fpmstat
plugdir=$(phpfpm_plugin_dir) || exit 1
src=${FPMT_SOURCE_DIR:-$(cd "$here/.." && pwd)}
dir=$(mktemp -d /tmp/fpmt-ocm.XXXXXX)
chmod 755 "$dir"
tok=$$_$RANDOM
pids=()
cleanup() {
  local p i
  collectd_stop
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do
    for i in $(seq 1 100); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

script=$dir/share/opcache.php
mkdir -p "$dir/share"
cp "$src/data/fpmstat-opcache.php" "$script"
chmod 644 "$script"
# OPcache never caches a file younger than opcache.file_update_protection
touch -d '2020-01-01 00:00:00' "$script"

start_master() { # NAME MEMORY_MB MAX_FILES POOL...
  local m=$1 mem=$2 files=$3 d=$dir/$1 p ok
  shift 3
  mkdir -p "$d/run" "$d/log"
  cat >"$d/php.ini" <<INI
zend_extension = opcache.so
extension = posix.so
opcache.enable = 1
opcache.memory_consumption = $mem
opcache.max_accelerated_files = $files
display_errors = Off
log_errors = On
INI
  {
    printf '[global]\npid = %s/run/php-fpm.pid\nerror_log = %s/log/php-fpm.log\ndaemonize = no\n' "$d" "$d"
    for p in "$@"; do
      printf '\n[%s]\nlisten = %s/run/%s.sock\npm = static\npm.max_children = 1\npm.status_path = /status\nping.path = /ping\nuser = root\ngroup = root\n' \
        "$p" "$d" "$p"
    done
  } >"$d/php-fpm.conf"
  PHP_INI_SCAN_DIR= "$OC_FPM_BIN" -R -F -c "$d/php.ini" -y "$d/php-fpm.conf" \
    >"$d/log/stdout.log" 2>&1 &
  pids+=($!)
  eval "pid_$m=$!"
  for _ in $(seq 1 200); do
    ok=1
    for p in "$@"; do
      [ "$(oc_ping "$d/run/$p.sock")" = pong ] || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "master $m did not come up:" >&2
  cat "$d/log/php-fpm.log" "$d/log/stdout.log" >&2 2>/dev/null
  return 1
}

start_master a 32 1000 "qa1_$tok" "qa2_$tok" || { echo "FAIL: master A did not start"; exit 1; }
start_master b 96 20000 "qb1_$tok" || { echo "FAIL: master B did not start"; exit 1; }
# shellcheck disable=SC2154 # set by start_master
echo "# masters: A pid $pid_a, B pid $pid_b"
name_a=$(printf '%s' "${dir#/}/a/php-fpm" | tr / _)
name_b=$(printf '%s' "${dir#/}/b/php-fpm" | tr / _)

ign=(--discover-ignore '[!q]*' --discover-ignore 'q[!ab]*' --discover-ignore 'q[ab]?[!_]*')

# ------------------------------------------------------------ fpmstat
"$fpmstat" --discover "${ign[@]}" --opcache --opcache-script "$script" \
  -F json >"$dir/disc.json" 2>"$dir/err"
rc=$?
grep -i opcache "$dir/err" | sed 's/^/#   stderr: /'
check "fpmstat --discover --opcache: our pools read, no OPcache error (rc $rc)" \
  bash -c "! grep -q -E 'OPcache of .*not read' '$dir/err'"
jq -c "select(.pool != null and (.pool | test(\"_$tok\$\"))) |
  {pool, master: .opcache.master, pid: .opcache.master_pid,
   mem: (if .opcache then .opcache.memory_used + .opcache.memory_free + .opcache.memory_wasted else null end),
   keys: .opcache.max_cached_keys}" "$dir/disc.json" >"$dir/ours"
sed 's/^/#   /' "$dir/ours"
check "all three pools are in the output" test "$(grep -c . "$dir/ours")" = 3
n_oc=$(jq -r "select(.pool != null and (.pool | test(\"_$tok\$\")) and .opcache != null) | .opcache.master" \
  "$dir/disc.json" | sort | tr '\n' ' ')
check "two OPcache objects, one per master ($n_oc)" \
  test "$n_oc" = "$(printf '%s\n' "$name_a" "$name_b" | sort | tr '\n' ' ')"
field() { # POOL FIELD
  jq -r "select(.pool == \"$1\") | .$2" "$dir/ours"
}
check "A's OPcache comes with its first pool qa1, named $name_a" \
  test "$(field "qa1_$tok" master)" = "$name_a"
check "qa2 (same master as qa1) carries no second read" \
  test "$(field "qa2_$tok" master)" = null
check "A's figures are A's: the worker's parent is A (pid $pid_a)" \
  test "$(field "qa1_$tok" pid)" = "$pid_a"
check "B's figures are B's: the worker's parent is B (pid $pid_b)" \
  test "$(field "qb1_$tok" pid)" = "$pid_b"
mem_a=$(field "qa1_$tok" mem) mem_b=$(field "qb1_$tok" mem)
check "A's shared memory is its 32 MiB ($mem_a bytes)" \
  is_true "$mem_a > 24 * 1048576 && $mem_a <= 32 * 1048576"
check "B's shared memory is its 96 MiB ($mem_b bytes)" \
  is_true "$mem_b > 88 * 1048576 && $mem_b <= 96 * 1048576"
keys_a=$(field "qa1_$tok" keys) keys_b=$(field "qb1_$tok" keys)
check "hash tables sized by each php.ini (A $keys_a, B $keys_b keys)" \
  is_true "$keys_a >= 1000 && $keys_a < 20000 && $keys_b >= 20000"

"$fpmstat" --discover "${ign[@]}" --opcache --opcache-script "$script" \
  >"$dir/disc.txt" 2>/dev/null
check "text: each master named once (opcache of master: ...)" \
  test "$(grep -c -E "^  opcache of master: +($name_a|$name_b)\$" "$dir/disc.txt")" = 2

# ------------------------------------------------------------ collectd
oc_series() { # CSV-DIR MASTER: rows of its bool-enabled
  csv_rows "$1" "testhost/phpfpm_opcache-$2/bool-enabled" 2>/dev/null
}
cd1=$dir/cd1
mkdir -p "$cd1"
{
  collectd_conf_base "$cd1"
  collectd_conf_phpfpm "$plugdir"
  printf '<Plugin phpfpm>\n  Discover true\n  DiscoverInterval 60\n'
  printf '  DiscoverIgnore "%s"\n' '[!q]*' 'q[!ab]*' 'q[ab]?[!_]*'
  printf '  <DiscoverDefaults>\n    Opcache true\n    OpcacheScript "%s"\n    Timeout 0.8\n  </DiscoverDefaults>\n' "$script"
  printf '</Plugin>\n'
} >"$cd1/collectd.conf"
collectd_start "$cd1" "$cd1/collectd.conf" || { echo "FAIL: collectd (Discover) did not start"; exit 1; }
both_series() {
  [ -n "$(oc_series "$cd1/csv" "$name_a")" ] && [ -n "$(oc_series "$cd1/csv" "$name_b")" ]
}
check "collectd Discover: phpfpm_opcache-$name_a and -$name_b both arrive" \
  wait_until 20 both_series
collectd_listval >"$dir/listval1"
insts=$(sed -n 's|^testhost/phpfpm_opcache-\([^/]*\)/bool-enabled$|\1|p' "$dir/listval1" |
  grep -x -e "$name_a" -e "$name_b" | sort | tr '\n' ' ')
check "collectd Discover: two phpfpm_opcache instances, one per master ($insts)" \
  test "$insts" = "$(printf '%s\n' "$name_a" "$name_b" | sort | tr '\n' ' ')"
check "collectd Discover: both enabled" \
  test "$(oc_series "$cd1/csv" "$name_a" | tail -n 1 | cut -d, -f2 | awk '{ printf "%d", $1 }')$(oc_series "$cd1/csv" "$name_b" | tail -n 1 | cut -d, -f2 | awk '{ printf "%d", $1 }')" = 11
check "collectd Discover: no master shares a name" \
  bash -c "! grep -q 'two masters share the name' '$COLLECTD_LOG'"
collectd_stop
if san=$(collectd_sanitizer_errors "$cd1"); then
  fail "collectd (Discover) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi

# hand-configured pools without Master: both "default", the fix is given
cd2=$dir/cd2
mkdir -p "$cd2"
{
  collectd_conf_base "$cd2"
  collectd_conf_phpfpm "$plugdir"
  printf '<Plugin phpfpm>\n'
  for p in "a/run/qa1_$tok" "b/run/qb1_$tok"; do
    printf '  <Pool "%s">\n    Socket "%s"\n    Opcache true\n    OpcacheScript "%s"\n    Timeout 0.8\n  </Pool>\n' \
      "${p##*/}" "$dir/$p.sock" "$script"
  done
  printf '</Plugin>\n'
} >"$cd2/collectd.conf"
collectd_start "$cd2" "$cd2/collectd.conf" || { echo "FAIL: collectd (Pool blocks) did not start"; exit 1; }
warned() { grep -q 'Master "default": pool "q[ab]1_[0-9_]*" answers from php-fpm master pid [0-9]*, other pools of that name from pid [0-9]*: two masters share the name, and only one is reported; a <Pool> without a Master key belongs to master "default": give each master.s pools a Master of their own' "$COLLECTD_LOG"; }
check "<Pool> blocks without Master: the WARNING names \"default\" and the fix" \
  wait_until 15 warned
collectd_stop
if san=$(collectd_sanitizer_errors "$cd2"); then
  fail "collectd (Pool blocks) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi

echo "it_opcache_masters: $fails failure(s)"
[ "$fails" = 0 ]
