#!/usr/bin/env bash
# A private php-fpm master WITH OPcache (sourced, not run), for the
# --opcache and Opcache tests. tests/harness/fpm.sh's master runs without
# it (-n, opcache.enable = 0); this one loads opcache.so and posix.so from
# its own php.ini, with the ini scan directory off.
#
#   oc_start DIR [EXTRA]   write DIR/php.ini, DIR/php-fpm.conf (pools oca and
#                          ocb, static, 1 worker each, pm.status_path /status,
#                          ping.path /ping, access log DIR/log/POOL.access
#                          with one "%f" line per request) plus the pool
#                          sections in EXTRA; copy data/fpmstat-opcache.php
#                          to DIR/share/opcache.php; start the master and
#                          wait until both pools answer ping. Exports
#                          OC_DIR, OC_SCRIPT, OC_DOCROOT (DIR/www, with
#                          hit.php), OC_A_SOCK, OC_B_SOCK, OC_PID.
#   oc_stop                stop it by PID
#   oc_runs POOL           how many times POOL ran the OPcache script
#   oc_get SOCK SCRIPT     one FastCGI GET of SCRIPT (absolute); the body
#
# Every script gets an old mtime: OPcache never caches a file younger than
# opcache.file_update_protection (2 s), so nothing has to wait for it.

OC_FPM_BIN=${FPM_BIN:-$(command -v php-fpm8.2 || echo /usr/sbin/php-fpm8.2)}

oc_start() {
  local d=$1 extra=${2:-} src i
  src=${FPMT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
  mkdir -p "$d/run" "$d/log" "$d/www" "$d/share"
  chmod 755 "$d" "$d/www" "$d/share"
  export OC_DIR=$d OC_SCRIPT=$d/share/opcache.php OC_DOCROOT=$d/www
  export OC_A_SOCK=$d/run/oca.sock OC_B_SOCK=$d/run/ocb.sock
  cp "$src/data/fpmstat-opcache.php" "$OC_SCRIPT"
  chmod 644 "$OC_SCRIPT"
  echo '<?php echo "hit\n";' >"$d/www/hit.php"
  touch -d '2020-01-01 00:00:00' "$OC_SCRIPT" "$d/www/hit.php"
  cat >"$d/php.ini" <<'INI'
zend_extension = opcache.so
extension = posix.so
opcache.enable = 1
display_errors = Off
log_errors = On
INI
  local p common
  common="pm = static
pm.max_children = 1
pm.status_path = /status
ping.path = /ping
user = root
group = root"
  {
    printf '[global]\npid = %s/run/php-fpm.pid\nerror_log = %s/log/php-fpm.log\ndaemonize = no\n' "$d" "$d"
    for p in oca ocb; do
      printf '\n[%s]\nlisten = %s/run/%s.sock\naccess.log = %s/log/%s.access\naccess.format = "%%f"\n%s\n' \
        "$p" "$d" "$p" "$d" "$p" "$common"
    done
    printf '%s\n' "$extra"
  } >"$d/php-fpm.conf"
  PHP_INI_SCAN_DIR= "$OC_FPM_BIN" -R -F -c "$d/php.ini" -y "$d/php-fpm.conf" \
    >"$d/log/stdout.log" 2>&1 &
  export OC_PID=$!
  for i in $(seq 1 200); do
    if [ "$(oc_ping "$OC_A_SOCK")" = pong ] && [ "$(oc_ping "$OC_B_SOCK")" = pong ]; then
      return 0
    fi
    kill -0 "$OC_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "opcache.sh: php-fpm with OPcache did not come up:" >&2
  cat "$d/log/php-fpm.log" "$d/log/stdout.log" >&2 2>/dev/null
  return 1
}

oc_ping() {
  env -i SCRIPT_NAME=/ping SCRIPT_FILENAME=/ping REQUEST_METHOD=GET \
    QUERY_STRING= timeout 5 cgi-fcgi -bind -connect "$1" 2>/dev/null | sed '1,/^\r$/d'
}

oc_get() {
  env -i SCRIPT_NAME="$2" SCRIPT_FILENAME="$2" REQUEST_METHOD=GET \
    QUERY_STRING= timeout 5 cgi-fcgi -bind -connect "$1" 2>/dev/null | sed '1,/^\r$/d'
}

oc_runs() {
  local n
  n=$(cat "$OC_DIR/log/$1.access" 2>/dev/null | grep -c -F -x "$OC_SCRIPT")
  echo "${n:-0}"
}

oc_stop() {
  [ -n "${OC_PID:-}" ] || return 0
  kill -TERM "$OC_PID" 2>/dev/null
  local i
  for i in $(seq 1 100); do
    kill -0 "$OC_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$OC_PID" 2>/dev/null
  wait "$OC_PID" 2>/dev/null
  unset OC_PID
  return 0
}
