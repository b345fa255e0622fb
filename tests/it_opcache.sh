#!/usr/bin/env bash
# it_opcache.sh: fpmstat --opcache against real php-fpm 8.2 masters with
# OPcache loaded (php8.2-opcache): hits and cached scripts follow what PHP's
# own opcache_get_status() says (read independently through cgi-fcgi), two
# pools of one master report one OPcache, a pool with OPcache disabled and a
# master without it give a clear "disabled" result (exit 0), and each way
# the script cannot run gives its own hint: missing, unreadable by the
# pool's user, security.limit_extensions, chroot. open_basedir does not
# stop it. Every format carries the series; promtool checks them.
# Scripts get an old mtime: OPcache never caches a file younger than
# opcache.file_update_protection (2 s), so no sleep is needed.
# Needs: FPMT_BUILD_DIR (fpmstat), FPMT_SOURCE_DIR, cgi-fcgi, jq, promtool.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/tap.sh"
B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
SRC=${FPMT_SOURCE_DIR:-$(cd "$here/.." && pwd)}
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
dir=$(mktemp -d /tmp/fpmt-opcache.XXXXXX)
chmod 755 "$dir"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir/run" "$dir/log" "$dir/www" "$dir/share" "$dir/closed" \
  "$dir/jail/tmp" "$dir/run2"
OC=$dir/share/opcache.php
cp "$SRC/data/fpmstat-opcache.php" "$OC"
chmod 644 "$OC"
cp "$OC" "$dir/jail/opcache.php"
cp "$OC" "$dir/closed/opcache.php"
chmod 700 "$dir/closed"
echo '<?php echo "hit\n";' > "$dir/www/hit.php"
cat > "$dir/www/check.php" <<'PHP'
<?php header('Content-Type: application/json');
$s = opcache_get_status(false);
echo json_encode(['hits' => $s['opcache_statistics']['hits'],
  'misses' => $s['opcache_statistics']['misses'],
  'cached_scripts' => $s['opcache_statistics']['num_cached_scripts'],
  'used_memory' => $s['memory_usage']['used_memory']]), "\n";
PHP
touch -d '2020-01-01 00:00:00' "$OC" "$dir/jail/opcache.php" \
  "$dir/closed/opcache.php" "$dir/www/hit.php" "$dir/www/check.php"

cat > "$dir/php.ini" <<'INI'
zend_extension = opcache.so
extension = posix.so
opcache.enable = 1
opcache.file_update_protection = 2
display_errors = Off
log_errors = On
INI
common="pm = static
pm.max_children = 1
pm.status_path = /status
ping.path = /ping"
cat > "$dir/php-fpm.conf" <<CONF
[global]
pid = $dir/run/php-fpm.pid
error_log = $dir/log/php-fpm.log
daemonize = no

[a]
listen = $dir/run/a.sock
user = root
group = root
$common

[b]
listen = $dir/run/b.sock
user = root
group = root
$common

[off]
listen = $dir/run/off.sock
user = root
group = root
php_admin_value[opcache.enable] = 0
$common

[lim]
listen = $dir/run/lim.sock
user = root
group = root
security.limit_extensions = .php7
$common

[nobody]
listen = $dir/run/nobody.sock
listen.mode = 0666
user = nobody
group = nogroup
$common

[basedir]
listen = $dir/run/basedir.sock
user = root
group = root
php_admin_value[open_basedir] = $dir/www
$common

[restrict]
listen = $dir/run/restrict.sock
user = root
group = root
php_admin_value[opcache.restrict_api] = $dir/www
$common

[jail]
listen = $dir/run/jail.sock
user = root
group = root
chroot = $dir/jail
$common
CONF
# a second master without OPcache (-n: no php.ini, no extension)
cat > "$dir/php-fpm2.conf" <<CONF
[global]
pid = $dir/run2/php-fpm.pid
error_log = $dir/log/php-fpm2.log
daemonize = no

[plain]
listen = $dir/run2/plain.sock
user = root
group = root
$common
CONF

# start one master; the ini scan directory is off so only php.ini counts
start_master() { # CONF SOCK... (extra php-fpm args in MASTER_ARGS)
  local conf=$1 i t ok
  shift
  PHP_INI_SCAN_DIR= "$FPM_BIN" -R -F ${MASTER_ARGS:-} -y "$conf" \
    >>"$dir/log/stdout.log" 2>&1 &
  pids+=($!)
  for i in $(seq 1 200); do
    ok=1
    for t in "$@"; do
      [ "$(fpm_ping "$t")" = pong ] || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "php-fpm ($conf) did not come up:"
  cat "$dir/log/"*.log
  return 1
}
MASTER_ARGS="-c $dir/php.ini" start_master "$dir/php-fpm.conf" \
  "$dir/run/a.sock" "$dir/run/b.sock" "$dir/run/off.sock" \
  "$dir/run/lim.sock" "$dir/run/nobody.sock" "$dir/run/basedir.sock" \
  "$dir/run/jail.sock" "$dir/run/restrict.sock" || exit 1
MASTER_ARGS="-n" start_master "$dir/php-fpm2.conf" "$dir/run2/plain.sock" ||
  exit 1
# a third master with the JIT on (its buffer is allocated at start-up)
mkdir -p "$dir/run3"
sed -e 's/^opcache.enable = 1$/opcache.enable = 1\nopcache.jit = tracing\nopcache.jit_buffer_size = 8M/' \
  "$dir/php.ini" >"$dir/php-jit.ini"
sed -e "s|$dir/run2|$dir/run3|g; s|php-fpm2.log|php-fpm3.log|; s|\\[plain\\]|[jit]|; s|plain.sock|jit.sock|" \
  "$dir/php-fpm2.conf" >"$dir/php-fpm3.conf"
MASTER_ARGS="-c $dir/php-jit.ini" start_master "$dir/php-fpm3.conf" \
  "$dir/run3/jit.sock" || exit 1

run_php() { # SOCK SCRIPT: the body of one request
  env -i SCRIPT_NAME="$2" SCRIPT_FILENAME="$2" REQUEST_METHOD=GET \
    QUERY_STRING= timeout 5 cgi-fcgi -bind -connect "$1" 2>/dev/null |
    sed '1,/^\r$/d'
}
fs() { "$B" --opcache --opcache-script "$OC" "$@"; }

# ------------------------------------------------ figures follow PHP's own
A=$dir/run/a.sock
run_php "$A" "$dir/www/check.php" >/dev/null # cached from now on
fs -F json "$A" >"$dir/f1.json" 2>"$dir/err" || bad "first read failed: $(cat "$dir/err")"
check "json has an opcache object, enabled" \
  test "$(jq -r '.opcache.enabled' "$dir/f1.json")" = true
for k in hits misses hit_ratio memory_used memory_free memory_wasted \
  cached_scripts cached_keys max_cached_keys oom_restarts hash_restarts \
  manual_restarts interned_strings_used interned_strings_free; do
  jq -e ".opcache | has(\"$k\")" "$dir/f1.json" >/dev/null || bad "json: no opcache.$k"
done
N=12
for i in $(seq 1 $N); do run_php "$A" "$dir/www/hit.php" >/dev/null; done
fs -F json "$A" >"$dir/f2.json" 2>"$dir/err" || bad "second read failed: $(cat "$dir/err")"
c2=$(run_php "$A" "$dir/www/check.php")
h1=$(jq .opcache.hits "$dir/f1.json") h2=$(jq .opcache.hits "$dir/f2.json")
s1=$(jq .opcache.cached_scripts "$dir/f1.json")
s2=$(jq .opcache.cached_scripts "$dir/f2.json")
# N requests: one compile (miss) and N-1 hits, plus the script's own hit
check "hits grew by $N after $N requests (was $h1, now $h2)" test $((h2 - h1)) = $N
check "one more cached script ($s1 -> $s2)" test $((s2 - s1)) = 1
ch=$(jq .hits <<<"$c2") cs=$(jq .cached_scripts <<<"$c2")
check "PHP's own figures agree: hits $ch = $h2 + 1 (check.php's own)" test "$ch" = $((h2 + 1))
check "PHP's own figures agree: cached scripts $cs = $s2" test "$cs" = "$s2"
ratio=$(jq .opcache.hit_ratio "$dir/f2.json")
m2=$(jq .opcache.misses "$dir/f2.json")
check "hit_ratio is hits/(hits+misses) ($ratio)" \
  is_true "($ratio - $h2 / ($h2 + $m2))^2 < 1e-12"

# two pools of one master: one OPcache (same master, same figures)
fs -F json "$dir/run/b.sock" >"$dir/b.json" 2>"$dir/err" || bad "pool b: $(cat "$dir/err")"
check "pool b reports the same master as pool a" \
  test "$(jq .opcache.master_pid "$dir/b.json")" = "$(jq .opcache.master_pid "$dir/f2.json")"
check "pool b sees pool a's cache (hits $(jq .opcache.hits "$dir/b.json") > $h2)" \
  test "$(jq .opcache.hits "$dir/b.json")" -gt "$h2"

# --------------------------------------------------- disabled, not loaded
fs -F json "$dir/run/off.sock" >"$dir/off.json" 2>"$dir/err"
rc=$?
check "pool with opcache.enable=0: exit 0 (rc $rc)" test $rc = 0
check "... enabled false, reason opcache.enable=0" \
  test "$(jq -r '.opcache | "\(.enabled) \(.reason)"' "$dir/off.json")" = "false opcache.enable=0"
check "... no figures" test "$(jq '.opcache | has("hits")' "$dir/off.json")" = false
fs "$dir/run/off.sock" >"$dir/off.txt" 2>&1
check "... text says disabled" grep -q 'opcache: *disabled (opcache.enable=0)' "$dir/off.txt"
fs -F prometheus "$dir/run/off.sock" >"$dir/off.prom"
check "... prometheus: phpfpm_opcache_enabled 0, no other opcache series" \
  test "$(grep -c '^phpfpm_opcache' "$dir/off.prom")" = 1 -a \
  "$(grep '^phpfpm_opcache_enabled' "$dir/off.prom" | awk '{print $2}')" = 0
fs -F json "$dir/run2/plain.sock" >"$dir/plain.json" 2>"$dir/err"
rc=$?
check "master without the extension: exit 0, reason 'not loaded' (rc $rc)" \
  test $rc = 0 -a "$(jq -r '.opcache | "\(.loaded) \(.enabled) \(.reason)"' "$dir/plain.json")" = "false false not loaded"

# JIT: its buffer figures appear only while it is on
fs -F json "$dir/run3/jit.sock" >"$dir/jit.json" 2>"$dir/err" || bad "jit: $(cat "$dir/err")"
jsum=$(jq '.opcache.jit_buffer_used + .opcache.jit_buffer_free' "$dir/jit.json")
check "JIT on: jit true, buffer used + free = $jsum, about 8 MiB (PHP keeps a few bytes)" \
  test "$(jq -r .opcache.jit "$dir/jit.json")" = true -a "$jsum" -gt $((8388608 - 65536)) -a "$jsum" -le 8388608
check "JIT off: no JIT buffer figures" \
  test "$(jq '.opcache | has("jit_buffer_used")' "$dir/f2.json")" = false

# ------------------------------------------------------------ the hints
expect_fail() { # DESC RC PATTERN fpmstat-args...
  local desc=$1 want=$2 pat=$3 rc
  shift 3
  "$B" --opcache "$@" >/dev/null 2>"$dir/err"
  rc=$?
  if [ "$rc" = "$want" ] && grep -q -- "$pat" "$dir/err"; then
    ok "$desc: exit $rc, hint given"
  else
    bad "$desc: exit $rc (want $want), stderr lacks '$pat': $(cat "$dir/err")"
  fi
}
expect_fail "script missing" 5 "does not exist on this host either" \
  --opcache-script "$dir/share/nope.php" "$A"
expect_fail "script unreadable for the pool's user" 5 "closed to the pool's .user." \
  --opcache-script "$dir/closed/opcache.php" "$dir/run/nobody.sock"
# a copy no root pool ran: OPcache serves a cached script without checking
# the reader's permission (opcache.validate_permission is off by default)
cp "$OC" "$dir/share/private.php"
chmod 600 "$dir/share/private.php"
expect_fail "script not readable by the pool's user" 5 "may not read the script" \
  --opcache-script "$dir/share/private.php" "$dir/run/nobody.sock"
expect_fail "security.limit_extensions" 5 "security.limit_extensions" \
  --opcache-script "$OC" "$dir/run/lim.sock"
expect_fail "opcache.restrict_api elsewhere" 5 "opcache.restrict_api.* allows it only to scripts under" \
  --opcache-script "$OC" "$dir/run/restrict.sock"
expect_fail "chrooted pool, path outside the chroot" 5 "chroot" \
  --opcache-script "$OC" "$dir/run/jail.sock"
expect_fail "relative script path" 1 "absolute path" \
  --opcache-script share/opcache.php "$A"
expect_fail "--opcache with --ping" 1 "not with" --ping "$A"
"$B" --opcache --opcache-script /opcache.php -F json "$dir/run/jail.sock" \
  >"$dir/jail.json" 2>"$dir/err"
check "chrooted pool, path as seen inside: enabled ($(cat "$dir/err"))" \
  test "$(jq .opcache.enabled "$dir/jail.json")" = true
fs -F json "$dir/run/basedir.sock" >"$dir/basedir.json" 2>"$dir/err"
check "open_basedir excluding the script does not stop it ($(cat "$dir/err"))" \
  test "$(jq .opcache.enabled "$dir/basedir.json")" = true
[ "$(grep -c . "$dir/err")" = 0 ] || bad "open_basedir: stderr: $(cat "$dir/err")"

# --discover: the configuration is one master: one OPcache read, through
# its first pool, and one opcache object in the output
"$B" --discover "$dir/php-fpm.conf" --opcache --opcache-script "$OC" -F json \
  >"$dir/disc.json" 2>"$dir/err"
rc=$?
check "--discover --opcache: exit 0 (rc $rc, $(head -c 300 "$dir/err"))" test $rc = 0
check "--discover --opcache: one opcache object, with pool a, enabled" \
  test "$(jq -r 'select(.opcache != null) | "\(.pool) \(.opcache.enabled)"' "$dir/disc.json" | tr '\n' ' ')" = "a true "

# what goes over the wire: the script's path, GET, nothing that could
# change the pool (no PHP_VALUE, no PHP_ADMIN_VALUE), no query string
run_php "$A" "$OC" >"$dir/answer.json"
python3 "$here/servers/params_recorder.py" "$dir/run/rec.sock" "$dir/params" \
  "$dir/answer.json" >"$dir/rec.out" 2>&1 &
pids+=($!)
wait_ready() { grep -q READY "$dir/rec.out" 2>/dev/null; }
for i in $(seq 1 100); do wait_ready && break; sleep 0.05; done
"$B" --opcache --opcache-script "$OC" -s /status -F json "$dir/run/rec.sock" \
  >"$dir/rec.json" 2>"$dir/err"
# the status request got the script's JSON (not a status page); the OPcache
# request is the second block of parameters
awk 'BEGIN { RS = "" } NR == 2' "$dir/params" >"$dir/oc-params"
check "the OPcache request sends SCRIPT_FILENAME = the script" \
  grep -q -x "SCRIPT_FILENAME=$OC" "$dir/oc-params"
check "... REQUEST_METHOD=GET and an empty QUERY_STRING" \
  test "$(grep -c -x -e 'REQUEST_METHOD=GET' -e 'QUERY_STRING=' "$dir/oc-params")" = 2
check "... no PHP_VALUE or PHP_ADMIN_VALUE in any request ($(cut -d= -f1 "$dir/params" | sort -u | tr '\n' ' '))" \
  test "$(grep -c -E '^PHP_(ADMIN_)?VALUE=' "$dir/params")" = 0
check "... and the answer was read as OPcache figures" \
  test "$(jq .opcache.enabled "$dir/rec.json")" = true

# --------------------------------------------------------------- formats
fs -F prometheus "$A" "$dir/run/b.sock" >"$dir/m.prom" 2>"$dir/err" || bad "prometheus: $(cat "$dir/err")"
if promtool check metrics <"$dir/m.prom" >"$dir/promtool.out" 2>&1; then
  ok "promtool check metrics passes with the opcache families"
else
  bad "promtool: $(cat "$dir/promtool.out")"
fi
for f in phpfpm_opcache_hits_total phpfpm_opcache_misses_total \
  phpfpm_opcache_hit_ratio phpfpm_opcache_memory_used_bytes \
  phpfpm_opcache_cached_scripts phpfpm_opcache_oom_restarts_total \
  phpfpm_opcache_interned_strings_used_bytes; do
  [ "$(grep -c "^$f{pool=" "$dir/m.prom")" = 2 ] || bad "prometheus: $f not once per target"
  [ "$(grep -c "^# TYPE $f " "$dir/m.prom")" = 1 ] || bad "prometheus: $f TYPE not once"
done
fs -F putval --host h1 "$A" >"$dir/m.putval"
check "putval: cache_result-hits under phpfpm_opcache-a" \
  grep -q '^PUTVAL "h1/phpfpm_opcache-a/cache_result-hits" N:[0-9]' "$dir/m.putval"
check "putval: memory-used" grep -q '^PUTVAL "h1/phpfpm_opcache-a/memory-used" N:[0-9]' "$dir/m.putval"
fs -F graphite --host h1 "$A" >"$dir/m.graphite"
check "graphite: h1.phpfpm_opcache-a.cache_size-scripts" \
  grep -q '^h1\.phpfpm_opcache-a\.cache_size-scripts [0-9]* [0-9]*$' "$dir/m.graphite"
fs -F influx "$A" >"$dir/m.influx"
check "influx: phpfpm_opcache line with hits and hit_ratio" \
  grep -q '^phpfpm_opcache,pool=a,url=unix:.* enabled=1i,hits=[0-9]*i,.*hit_ratio=' "$dir/m.influx"
fs "$A" >"$dir/m.txt"
check "text: opcache lines" grep -q '^  opcache: *enabled, [0-9]* hits' "$dir/m.txt"

echo "# it_opcache: $fails failed"
exit $((fails > 0))
