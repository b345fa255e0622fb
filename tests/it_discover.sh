#!/usr/bin/env bash
# End-to-end: pool discovery from php-fpm's own configuration (issue #7).
# A real php-fpm 8.2 runs on a multi-file configuration written here:
# php-fpm.conf includes pool.d/*.conf, with
#   web     unix socket ($pool in its path), static, pm.max_children 5
#   api     TCP, dynamic, max 4, pm.status_path /fpm-status and
#           pm.status_listen on another port (preferred by discovery)
#   legacy  unix socket, no pm.status_path (not monitorable)
#   skip    unix socket, static 1, a status page: the one ignore patterns
#           leave out
#   and a second [web] section in another file (sections repeat across files)
# fpmstat --discover must list every pool, give legacy's exact line to add,
# read web, api and skip at once, and compute utilisation against the
# configured pm.max_children (3 busy workers of 5 = 60 %); with
# --discover-ignore 'sk*' --discover-ignore=legacy it lists both as ignored,
# exits 0 and does not read skip (skip's accepted conn, read directly before
# and after, grows by our own read only). Then a real collectd with the
# built plugin (Interval 1, Discover, DiscoverInterval 2, DiscoverIgnore
# "sk*", <DiscoverDefaults> Timeout 0.8 Workers "none") must deliver values
# for web and api with max_children 5 and 4 and 60 % while 3 workers are
# busy, with the defaults' timeout and no worker statistics, never read skip,
# log legacy once; after a pool file is added and another removed and
# php-fpm reloaded (SIGUSR2), the new pool's values must arrive within two
# re-scan intervals (4 s) and the removed pool must stop being read.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/tap.sh"

build=${FPMT_BUILD_DIR:?}
fpmstat=$build/fpmstat
plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-disc.XXXXXX)
slow_pids=()
cleanup() {
  collectd_stop
  if [ ${#slow_pids[@]} -gt 0 ]; then
    kill "${slow_pids[@]}" 2>/dev/null
    wait "${slow_pids[@]}" 2>/dev/null
  fi
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

slack=1 # wall-clock tolerance factor
[ "${FPMT_VALGRIND:-0}" = 1 ] && slack=10

# ------------------------------------------------------------ php-fpm
f=$dir/fpm
mkdir -p "$f/pool.d" "$f/www" "$f/log" "$f/run"
read -r api_port api_status_port fresh_port <<<"$(sinks_free_ports 3 tcp)"
export FPMT_DOCROOT=$f/www
cat >"$f/php.ini" <<'INI'
display_errors = Off
log_errors = On
opcache.enable = 0
INI
cat >"$f/www/slow.php" <<'PHP'
<?php $s = isset($_GET['s']) ? (float)$_GET['s'] : 1.0; usleep((int)($s * 1e6)); echo "slept $s\n";
PHP
cat >"$f/www/hello.php" <<'PHP'
<?php echo "hello\n";
PHP
cat >"$f/php-fpm.conf" <<CONF
; written by it_discover.sh
[global]
pid = $f/run/php-fpm.pid
error_log = $f/log/php-fpm.log
daemonize = no
include = $f/pool.d/*.conf
CONF
common="user = root
group = root
ping.path = /ping
catch_workers_output = yes"
cat >"$f/pool.d/10-web.conf" <<CONF
[web]
listen = $f/run/\$pool.sock
pm = static
pm.max_children = 5
pm.status_path = /status
$common
CONF
cat >"$f/pool.d/20-api.conf" <<CONF
[api]
listen = 127.0.0.1:$api_port
pm = dynamic
pm.max_children = 4
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 2
pm.status_path = /fpm-status
pm.status_listen = 127.0.0.1:$api_status_port
$common
CONF
cat >"$f/pool.d/30-legacy.conf" <<CONF
; no pm.status_path: not monitorable
[legacy]
listen = "$f/run/\$pool.sock"
pm = static
pm.max_children = 1
$common
CONF
cat >"$f/pool.d/50-skip.conf" <<CONF
[skip]
listen = $f/run/\$pool.sock
pm = static
pm.max_children = 1
pm.status_path = /status
$common
CONF
cat >"$f/pool.d/90-web-extra.conf" <<CONF
[web]
request_terminate_timeout = 120
CONF
web_sock=$f/run/web.sock
legacy_sock=$f/run/legacy.sock
skip_sock=$f/run/skip.sock
api_addr=127.0.0.1:$api_port
fpm_start_conf "$f" "$f/php-fpm.conf" "$web_sock" "$api_addr" "$legacy_sock" "$skip_sock" ||
  { echo "FAIL: php-fpm did not start"; exit 1; }

# ------------------------------------------------------------ fpmstat
"$fpmstat" --discover "$f/php-fpm.conf" >"$dir/list.out" 2>"$dir/list.err"
rc=$?
sed 's/^/#   /' "$dir/list.out" | head -n 8
check "fpmstat --discover exits 5 (legacy has no status page; got $rc)" test "$rc" = 5
line() { grep -E "^$1 " "$dir/list.out"; }
check "lists 4 pools in 6 files" grep -q '^4 pool(s) found in 6 configuration file(s)$' "$dir/list.out"
check "web: static, 5, its socket with \$pool expanded, /status" \
  bash -c "grep -E '^web +static +5  unix:$web_sock /status\$' '$dir/list.out'"
check "api: dynamic, 4, queried on pm.status_listen at /fpm-status" \
  bash -c "grep -E '^api +dynamic +4  127.0.0.1:$api_status_port /fpm-status \\(pm.status_listen\\)\$' '$dir/list.out'"
want="not monitorable: pool [legacy] has no status page: add the line \"pm.status_path = /status\" to its section in $f/pool.d/30-legacy.conf (line 2) and reload php-fpm"
legacy_line=$(grep -E '^legacy ' "$dir/list.out")
ends_with() { case "$1" in *"$2") return 0 ;; esac; echo "# got: $1"; return 1; }
check "legacy: not monitorable, with the exact line and file" \
  ends_with "$legacy_line" "  $want"
check "the monitorable pools were read (text output names web, api, skip)" \
  bash -c "grep -q '^  pool: *web (static)' '$dir/list.out' && grep -q '^  pool: *api (dynamic)' '$dir/list.out' && grep -q '^  pool: *skip (static)' '$dir/list.out'"
check "nothing on stderr for a clean configuration (got: $(head -c 300 "$dir/list.err"))" \
  test ! -s "$dir/list.err"

# the directory form reads the pool files themselves
"$fpmstat" --discover "$f/pool.d" -F prometheus >"$dir/dir.out" 2>"$dir/dir.err"
rc=$?
check "--discover DIR: rc 5 and the listing on stderr (prometheus on stdout)" \
  bash -c "[ $rc = 5 ] && grep -q '^4 pool(s) found in 5 configuration file(s)' '$dir/dir.err'"
check "--discover DIR: phpfpm_up 1 for web and api" \
  bash -c "grep -q '^phpfpm_up{pool=\"web\".*} 1\$' '$dir/dir.out' && grep -q '^phpfpm_up{pool=\"api\".*} 1\$' '$dir/dir.out'"

# --discover-ignore: skip and legacy listed as ignored (one line each, with
# the pattern), not read, and legacy's missing status page no longer counts
# (rc 0). skip's accepted conn (its own counter, read straight from its
# socket) grows by 1 across the run, our own second read; the plain
# --discover run afterwards makes it grow by 2, so the check can fail.
skip_accepted() {
  "$fpmstat" -F prometheus "$skip_sock" 2>/dev/null |
    awk '/^phpfpm_accepted_conn[_a-z]*\{/ { print $NF; exit }'
}
a1=$(skip_accepted)
"$fpmstat" --discover "$f/php-fpm.conf" --discover-ignore 'sk*' \
  --discover-ignore=legacy >"$dir/ign.out" 2>"$dir/ign.err"
rc=$?
a2=$(skip_accepted)
"$fpmstat" --discover "$f/php-fpm.conf" >/dev/null 2>&1
a3=$(skip_accepted)
sed 's/^/#   /' "$dir/ign.out" | head -n 7
check "--discover-ignore: rc 0 (legacy ignored; got $rc: $(head -c 200 "$dir/ign.err"))" test "$rc" = 0
check "--discover-ignore: the count line says 2 ignored" \
  grep -q '^4 pool(s) found in 6 configuration file(s), 2 ignored$' "$dir/ign.out"
check "--discover-ignore: skip listed as ignored with its pattern" \
  grep -qE "^skip +static +1  ignored \(--discover-ignore 'sk\*'\)\$" "$dir/ign.out"
check "--discover-ignore=: legacy listed as ignored with its pattern" \
  grep -qE "^legacy +static +1  ignored \(--discover-ignore 'legacy'\)\$" "$dir/ign.out"
check "--discover-ignore: web and api read, skip not" \
  bash -c "grep -q '^  pool: *web (static)' '$dir/ign.out' && grep -q '^  pool: *api (dynamic)' '$dir/ign.out' && ! grep -q '^  pool: *skip' '$dir/ign.out'"
check "--discover-ignore: skip's accepted conn grew by our own read only ($a1 -> $a2), by 2 with a plain --discover ($a2 -> $a3)" \
  bash -c "[ -n '$a1' ] && [ \$(($a2 - $a1)) = 1 ] && [ \$(($a3 - $a2)) = 2 ]"
"$fpmstat" --discover "$f/php-fpm.conf" --discover-ignore 'sk[' >/dev/null 2>"$dir/ignbad.err"
rc=$?
check "--discover-ignore with a malformed pattern: rc 1, named ($(head -n 1 "$dir/ignbad.err"))" \
  bash -c "[ $rc = 1 ] && grep -q \"^fpmstat: --discover-ignore 'sk\[': not a usable pattern\" '$dir/ignbad.err'"

# a configuration that cannot be read, and one with a syntax error
"$fpmstat" --discover "$dir/absent.conf" >/dev/null 2>"$dir/absent.err"
rc=$?
check "--discover on a missing file: rc 1 and a message naming it (got $rc: $(head -n 1 "$dir/absent.err"))" \
  bash -c "[ $rc = 1 ] && grep -q 'no php-fpm configuration could be read from $dir/absent.conf' '$dir/absent.err'"
mkdir -p "$dir/broken"
cp "$f/pool.d/10-web.conf" "$dir/broken/"
printf '[oops\nthis is not a directive\n' >"$dir/broken/50-bad.conf"
"$fpmstat" --discover "$dir/broken" >"$dir/broken.out" 2>"$dir/broken.err"
rc=$?
check "--discover with a syntax error: rc 1, FILE:LINE on stderr, web still read (got $rc: $(head -n 1 "$dir/broken.err"))" \
  bash -c "[ $rc = 1 ] && grep -q '^fpmstat: $dir/broken/50-bad.conf:1: syntax error' '$dir/broken.err' && grep -q '^  pool: *web (static)' '$dir/broken.out'"

# a pool that does not answer: the error names the pool and FILE:LINE
mkdir -p "$dir/dead"
printf '; nobody listens\n[dead]\nlisten = %s\npm.status_path = /status\n' \
  "$dir/nobody.sock" >"$dir/dead/10-dead.conf"
"$fpmstat" --discover "$dir/dead" >/dev/null 2>"$dir/dead.err"
rc=$?
check "--discover with a dead pool: rc != 0, stderr names the pool, FILE:LINE and the endpoint (got $rc: $(head -n 1 "$dir/dead.err"))" \
  bash -c "[ $rc != 0 ] && grep -q '^fpmstat: pool dead ($dir/dead/10-dead.conf:2): .*$dir/nobody.sock' '$dir/dead.err'"

# a configuration whose master is not running, with pools on web's socket:
# [shop] is answered by web (an error naming both, no figures as shop's);
# a [web] there reads web's page as its own
mkdir -p "$dir/stale"
printf '[shop]\nlisten = %s\npm.status_path = /status\n' "$web_sock" >"$dir/stale/10-shop.conf"
"$fpmstat" --discover "$dir/stale" -F prometheus >"$dir/stale.out" 2>"$dir/stale.err"
rc=$?
check "--discover, another pool answers: rc 6, both named (got $rc: $(grep -m1 'pool shop' "$dir/stale.err"))" \
  bash -c "[ $rc = 6 ] && grep -q '^fpmstat: pool shop ($dir/stale/10-shop.conf:1): .*another pool answers here (the status page is pool \"web\"'\"'\"'s, expected \"shop\")' '$dir/stale.err'"
check "--discover, another pool answers: no figures for shop (phpfpm_up 0)" \
  bash -c "grep -q '^phpfpm_up{pool=\"shop\"' '$dir/stale.out' && ! grep -q 'phpfpm_active_processes{pool=\"shop\"' '$dir/stale.out' && ! grep -q 'pool=\"web\"' '$dir/stale.out'"
printf '[web]\nlisten = %s\npm.status_path = /status\n' "$web_sock" >"$dir/stale/10-shop.conf"
"$fpmstat" --discover "$dir/stale" >/dev/null 2>"$dir/stale2.err"
rc=$?
check "--discover, the same pool name at that address: rc 0 (got $rc: $(head -c 200 "$dir/stale2.err"))" test "$rc" = 0

# ------------------------------------------------------------ collectd
cd_dir=$dir/cd
csv=$cd_dir/csv
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
  DiscoverIgnore "sk*"
  Discover "$f/php-fpm.conf"
  DiscoverInterval 2
  <DiscoverDefaults>
    Timeout 0.8
    Workers "none"
  </DiscoverDefaults>
</Plugin>
CONF
} >"$cd_dir/collectd.conf"
# collectd -T (parse, init, one read round): the discovered pools are read
# once; the first scan runs in the config phase, so nothing is registered
# from a read callback (under -T that would touch freed callback names)
a_cd0=$(skip_accepted) # skip: not read by either collectd run below
mkdir -p "$dir/cdT"
sed "s|$cd_dir|$dir/cdT|g" "$cd_dir/collectd.conf" >"$dir/cdT/collectd.conf"
collectd_cmd -T -C "$dir/cdT/collectd.conf" >"$dir/cdT/collectd.out" 2>&1
rc=$?
check "collectd -T with Discover: rc 0 (got $rc)" test "$rc" = 0
# collectd -T stops its write threads right after the read round and drops
# what is still queued ("N value lists were left after shutting down the
# write threads"), so the csv may miss a pool: each pool must have no error
# line, its "discovered in" and "reading ... every" lines, and the values
# that did reach the csv must say up.
for p in web api; do
  check "collectd -T with Discover: $p discovered, registered, read without an error" \
    bash -c "grep -q 'phpfpm plugin: pool \"$p\": discovered in $f/pool.d/' '$dir/cdT/collectd.log' &&
      grep -q 'phpfpm plugin: pool \"$p\": reading .* every ' '$dir/cdT/collectd.log' &&
      ! grep -q '\\[error\\] phpfpm plugin: pool \"$p\"' '$dir/cdT/collectd.log'"
done
check "collectd -T with Discover: no value that reached the csv says down" \
  bash -c "! cat '$dir'/cdT/csv/testhost/phpfpm-*/bool-up-* 2>/dev/null | grep -q ',0.000000\$'"
if san=$(collectd_sanitizer_errors "$dir/cdT/collectd.out"); then
  fail "collectd -T with Discover printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi

t_collectd=$(now)
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

id() { printf 'testhost/phpfpm-%s/%s' "$1" "$2"; }
rows() { csv_rows "$csv" "$(id "$1" "$2")" 2>/dev/null; }
rows_since() { csv_rows_since "$csv" "$(id "$1" "$2")" "$3" 2>/dev/null; }
have_rows() { [ "$(rows "$1" "$2" | wc -l)" -ge "$3" ]; }
last_is() { [ "$(rows "$1" "$2" | tail -n 1 | cut -d, -f2)" = "$3" ]; }
any_since_is() { rows_since "$1" "$2" "$3" | cut -d, -f2 | grep -qx "$4"; }

for p in web api; do
  check "collectd: $p values arrive (bool-up 1)" wait_until $((8 * slack)) last_is "$p" bool-up 1.000000
done
# utilisation against pm.max_children: 3 busy of 5, started once collectd
# runs, long enough (scaled by slack) for fpmstat's and collectd's checks
t_slow=$(now)
for k in 1 2 3; do
  fcgi_get "$web_sock" slow.php "s=$((8 * slack))&k=$k" >"$dir/slow$k.out" &
  slow_pids+=($!)
done
util_is() { # WANT: web's utilisation_max_children from fpmstat
  "$fpmstat" --discover "$f/php-fpm.conf" -F prometheus --discover-ignore skip 2>/dev/null |
    grep -q "^phpfpm_utilisation_max_children_percent{pool=\"web\".*} $1\$"
}
check "fpmstat: web utilisation is 60 % of pm.max_children 5 with 3 slow.php running" \
  wait_until $((3 * slack)) util_is 60
"$fpmstat" --discover "$f/php-fpm.conf" -F prometheus --discover-ignore skip 2>/dev/null |
  grep -E '^phpfpm_(max_children|utilisation_max_children_percent)\{' | sed 's/^/#   /'
check "fpmstat: api utilisation is 0 % of pm.max_children 4 (status_listen: own scrape not counted)" \
  bash -c "'$fpmstat' --discover '$f/php-fpm.conf' -F prometheus --discover-ignore skip 2>/dev/null | grep -q '^phpfpm_utilisation_max_children_percent{pool=\"api\".*} 0\$'"
check "collectd: web vs_processes-max_children is 5" last_is web vs_processes-max_children 5.000000
for p in web api; do
  check "collectd: $p registered with <DiscoverDefaults> (timeout 0.8 s, workers none)" \
    grep -q "phpfpm plugin: pool \"$p\": reading .* every 1 s, timeout 0.8 s, workers none" "$COLLECTD_LOG"
done
check "collectd: Workers none: no worker statistics for web (e.g. duration-oldest_running)" \
  bash -c "! ls '$csv/testhost/phpfpm-web' | grep -q '^duration-'"
check "collectd: skip is never read (no csv, no read line)" \
  bash -c "[ ! -e '$csv/testhost/phpfpm-skip' ] && ! grep -q 'pool \"skip\": reading' '$COLLECTD_LOG'"
a_cd1=$(skip_accepted)
check "collectd: skip's accepted conn grew by our own read only over both collectd runs ($a_cd0 -> $a_cd1)" \
  bash -c "[ -n '$a_cd0' ] && [ \$(($a_cd1 - $a_cd0)) = 1 ]"
check "collectd: api vs_processes-max_children is 4" last_is api vs_processes-max_children 4.000000
check "collectd: web utilisation_max_children is 60 while 3 slow.php run" \
  wait_until $((4 * slack)) any_since_is web percent-utilisation_max_children "$t_slow" 60.000000
wait "${slow_pids[@]}"
slow_pids=()

# ------------------------------------------------ add one pool, remove one
cat >"$f/pool.d/40-fresh.conf" <<CONF
[fresh]
listen = 127.0.0.1:$fresh_port
pm = static
pm.max_children = 2
pm.status_path = /status
$common
CONF
rm "$f/pool.d/20-api.conf"
t_change=$(now)
fpm_reload_conf "$web_sock" "127.0.0.1:$fresh_port" "$legacy_sock" ||
  { echo "FAIL: php-fpm did not come back after the reload"; exit 1; }
t_reload=$(now)
fresh_here() { have_rows fresh vs_processes-max_children 1; }
limit=$((4 * slack))
if wait_until "$((limit + 2))" fresh_here; then
  took=$(awk -v a="$t_reload" -v b="$(rows fresh vs_processes-max_children | head -n 1 | cut -d, -f1)" \
    'BEGIN { printf "%.2f", b - a }')
  since_change=$(awk -v a="$t_change" -v b="$(rows fresh vs_processes-max_children | head -n 1 | cut -d, -f1)" \
    'BEGIN { printf "%.2f", b - a }')
  check "collectd: the added pool's first values came $since_change s after the file and SIGUSR2 ($took s after php-fpm answered again; want <= $limit s: two re-scans)" \
    is_true "$since_change <= $limit"
else
  fail "collectd: no values for the added pool within $((limit + 2)) s"
fi
check "collectd: fresh vs_processes-max_children is 2" last_is fresh vs_processes-max_children 2.000000
check "collectd: fresh bool-up is 1" wait_until 3 last_is fresh bool-up 1.000000
check "collectd: the pool read was logged as discovered" grep -q 'pool "fresh": discovered in' "$COLLECTD_LOG"
check "collectd: the removed pool's read was stopped" \
  wait_until "$((limit + 1))" grep -q 'pool "api": stopped reading it' "$COLLECTD_LOG"
# a read that was running when it was stopped may still land: it ends by its
# Timeout (0.9 of Interval 1), so once web has two more rows, none is left
t_stopped=$(now)
web_moved_on() { [ "$(rows_since web bool-up "$t_stopped" | wc -l)" -ge 2 ]; }
check "collectd: web read twice since api was stopped" wait_until $((3 * slack)) web_moved_on
sleep_until_quiet=$(now)
n_api=$(rows api bool-up | wc -l)
sleep 3.5 # an observation window (3 reads of every other pool), not a wait
n_api2=$(rows api bool-up | wc -l)
check "collectd: no api rows after it was removed ($n_api then $n_api2)" test "$n_api" = "$n_api2"
n_web=$(rows_since web bool-up "$sleep_until_quiet" | wc -l)
check "collectd: web kept being read at Interval 1 meanwhile ($n_web rows in 3.5 s, want >= 3)" test "$n_web" -ge 3
check "collectd: legacy is never read" bash -c "! ls '$csv/testhost' | grep -q phpfpm-legacy"
n_scans=$(awk -v a="$t_collectd" -v b="$(now)" 'BEGIN { printf "%d", (b - a) / 2 }')
legacy_lines=$(grep -c 'pool "legacy" (discovered) is not read: pool \[legacy\] has no status page: add the line "pm.status_path = /status" to its section in '"$f"'/pool.d/30-legacy.conf' "$COLLECTD_LOG")
check "collectd: legacy logged once with the line to add, over about $n_scans scans (got $legacy_lines)" test "$legacy_lines" = 1
ign_lines=$(grep -c 'Discover: DiscoverIgnore "sk\*" ignores 1 pool(s), not read: skip$' "$COLLECTD_LOG")
check "collectd: DiscoverIgnore logged once over about $n_scans scans (got $ign_lines)" test "$ign_lines" = 1
check "collectd is still running" kill -0 "$COLLECTD_PID"
collectd_stop
if san=$(collectd_sanitizer_errors "$cd_dir"); then
  fail "collectd (with the plugin) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
else
  pass "no sanitizer report from collectd"
fi
echo "it_discover: $fails failure(s)"
[ "$fails" = 0 ]
