#!/usr/bin/env bash
# A private, throwaway php-fpm for tests and demos (sourced, not run).
#
#   fpm_start DIR      write a config under DIR, start php-fpm in the foreground
#                      (as root with -R), wait until every pool answers ping,
#                      and export the FPMT_* variables below
#   fpm_stop           stop it by PID (TERM, then KILL after 5 s) and wait
#   fpm_reload         SIGUSR2, then wait until the pools answer again
#   fpm_ping SOCK|ADDR [PATH]   one ping through cgi-fcgi; prints the body
#
# Pools (all with pm.status_path=/status and ping.path=/ping unless noted):
#   www       static, 4 workers, unix socket   FPMT_WWW_SOCK
#   dyn       dynamic, max 3, TCP              FPMT_DYN_ADDR (host:port)
#             with pm.status_listen            FPMT_DYN_STATUS_ADDR
#   od        ondemand, max 2, unix socket     FPMT_OD_SOCK
#   one       static, 1 worker, unix socket    FPMT_ONE_SOCK (saturation tests)
#   nostatus  static, 1 worker, no status path FPMT_NOSTATUS_SOCK
# Scripts under $FPMT_DOCROOT: slow.php?s=SECONDS, stderr.php?msg=TEXT,
# echo.php (echoes the POST body), hello.php, big.php?n=BYTES.
# FPM_POOLS_EXTRA may hold extra pool sections appended to the config.

FPM_BIN=${FPM_BIN:-$(command -v php-fpm8.2 || echo /usr/sbin/php-fpm8.2)}

# fpm_free_ports N: N distinct free loopback ports, one per line. All N are
# bound at once before any is released: two separate probes can get the
# same port back from the kernel (php-fpm then refuses "listen address
# already used in another pool").
fpm_free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
PY
}

fpm_free_port() { fpm_free_ports 1; }

# fpm_perm_pool SOCK: a pool block for FPM_POOLS_EXTRA whose socket only
# root may use (root:root, mode 0660), for the permission fault tests.
fpm_perm_pool() {
  printf '\n[perm]\nlisten = %s\nlisten.owner = root\nlisten.group = root\nlisten.mode = 0660\npm = static\npm.max_children = 1\npm.status_path = /status\nuser = root\ngroup = root\n' "$1"
}

fpm_ping() {
  local target=$1 path=${2:-/ping}
  env -i SCRIPT_NAME="$path" SCRIPT_FILENAME="$path" REQUEST_METHOD=GET \
    QUERY_STRING= timeout 5 cgi-fcgi -bind -connect "$target" 2>/dev/null | sed '1,/^\r$/d'
}

fpm_write_config() {
  local d=$1
  mkdir -p "$d/run" "$d/log" "$d/www"
  cat > "$d/php.ini" <<INI
display_errors = Off
log_errors = On
fastcgi.logging = 1
opcache.enable = 0
INI
  cat > "$d/www/slow.php" <<'PHP'
<?php $s = isset($_GET['s']) ? (float)$_GET['s'] : 1.0; usleep((int)($s * 1e6)); echo "slept $s\n";
PHP
  cat > "$d/www/stderr.php" <<'PHP'
<?php $m = $_GET['msg'] ?? 'to-stderr'; echo "before\n"; flush(); error_log($m); echo "after\n";
PHP
  cat > "$d/www/echo.php" <<'PHP'
<?php header('Content-Type: application/octet-stream'); echo file_get_contents('php://input');
PHP
  cat > "$d/www/hello.php" <<'PHP'
<?php echo "hello\n";
PHP
  cat > "$d/www/big.php" <<'PHP'
<?php $n = (int)($_GET['n'] ?? 1000); $c = str_repeat('x', 65536); while ($n > 0) { $k = min($n, 65536); echo substr($c, 0, $k); $n -= $k; }
PHP
  local pool_common="user = root
group = root
pm.status_path = /status
ping.path = /ping
catch_workers_output = yes
request_terminate_timeout = 120"
  cat > "$d/php-fpm.conf" <<CONF
[global]
pid = $d/run/php-fpm.pid
error_log = $d/log/php-fpm.log
daemonize = no
log_level = notice

[www]
listen = $FPMT_WWW_SOCK
pm = static
pm.max_children = 4
$pool_common

[dyn]
listen = $FPMT_DYN_ADDR
pm = dynamic
pm.max_children = 3
pm.start_servers = 1
pm.min_spare_servers = 1
pm.max_spare_servers = 2
pm.status_listen = $FPMT_DYN_STATUS_ADDR
$pool_common

[od]
listen = $FPMT_OD_SOCK
pm = ondemand
pm.max_children = 2
pm.process_idle_timeout = 10s
$pool_common

[one]
listen = $FPMT_ONE_SOCK
pm = static
pm.max_children = 1
listen.backlog = 1
$pool_common

[nostatus]
listen = $FPMT_NOSTATUS_SOCK
pm = static
pm.max_children = 1
user = root
group = root
${FPM_POOLS_EXTRA:-}
CONF
}

fpm_wait_ready() {
  local i t
  for i in $(seq 1 100); do
    if ! kill -0 "$FPMT_PHP_FPM_PID" 2>/dev/null; then
      echo "fpm.sh: php-fpm exited during start-up; its log:" >&2
      cat "$FPMT_DIR/log/php-fpm.log" >&2
      return 1
    fi
    local ok=1
    for t in "$FPMT_WWW_SOCK" "$FPMT_DYN_ADDR" "$FPMT_DYN_STATUS_ADDR" "$FPMT_OD_SOCK" "$FPMT_ONE_SOCK"; do
      [ "$(fpm_ping "$t")" = pong ] || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    sleep 0.05
  done
  echo "fpm.sh: php-fpm did not answer ping within 5 s" >&2
  return 1
}

fpm_start() {
  local d=$1
  mkdir -p "$d"
  export FPMT_DIR=$d FPMT_DOCROOT=$d/www
  export FPMT_WWW_SOCK=$d/run/www.sock FPMT_OD_SOCK=$d/run/od.sock
  export FPMT_ONE_SOCK=$d/run/one.sock FPMT_NOSTATUS_SOCK=$d/run/nostatus.sock
  local ports
  ports=$(fpm_free_ports 2)
  export FPMT_DYN_ADDR=127.0.0.1:${ports%%$'\n'*}
  export FPMT_DYN_STATUS_ADDR=127.0.0.1:${ports##*$'\n'}
  fpm_write_config "$d"
  "$FPM_BIN" -R -F -n -c "$d/php.ini" -y "$d/php-fpm.conf" >"$d/log/stdout.log" 2>&1 &
  export FPMT_PHP_FPM_PID=$!
  fpm_wait_ready
}

fpm_reload() {
  # The master re-execs itself and logs "ready to handle connections" again:
  # wait for that new line, then until every pool answers ping.
  local log=$FPMT_DIR/log/php-fpm.log before i
  before=$(grep -c 'ready to handle connections' "$log" 2>/dev/null || echo 0)
  kill -USR2 "$FPMT_PHP_FPM_PID"
  for i in $(seq 1 200); do
    [ "$(grep -c 'ready to handle connections' "$log" 2>/dev/null || echo 0)" -gt "$before" ] && break
    sleep 0.025
  done
  fpm_wait_ready
}

fpm_stop() {
  [ -n "${FPMT_PHP_FPM_PID:-}" ] || return 0
  kill -TERM "$FPMT_PHP_FPM_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    kill -0 "$FPMT_PHP_FPM_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$FPMT_PHP_FPM_PID" 2>/dev/null || true
  wait "$FPMT_PHP_FPM_PID" 2>/dev/null || true
  unset FPMT_PHP_FPM_PID
  return 0
}

# ------------------------------------------------ custom configurations
# For tests that write their own php-fpm configuration (several files,
# pools of their own), e.g. tests/it_discover.sh:
#
#   fpm_start_conf DIR CONF TARGET...   start php-fpm (as root, -R -F) on
#                      CONF with DIR/php.ini when present, output in
#                      DIR/log/stdout.log; wait until every TARGET (socket
#                      or host:port) answers ping at /ping; exports
#                      FPMT_PHP_FPM_PID and FPMT_DIR=DIR. CONF must log to
#                      DIR/log/php-fpm.log (fpm_reload_conf reads it).
#   fpm_reload_conf TARGET...           SIGUSR2, wait for php-fpm's next
#                      "ready to handle connections" (fails after 5 s
#                      without it), then until every TARGET answers ping
#   fpm_stop                            as above (by PID)

fpm_wait_pings() { # TIMEOUT_S TARGET...
  local n=$(($1 * 20)) i t ok
  shift
  for i in $(seq 1 "$n"); do
    if ! kill -0 "$FPMT_PHP_FPM_PID" 2>/dev/null; then
      echo "fpm.sh: php-fpm exited; its log:" >&2
      cat "$FPMT_DIR/log/php-fpm.log" "$FPMT_DIR/log/stdout.log" >&2 2>/dev/null
      return 1
    fi
    ok=1
    for t in "$@"; do
      [ "$(fpm_ping "$t")" = pong ] || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    sleep 0.05
  done
  echo "fpm.sh: php-fpm did not answer ping on all of $* within $n polls" >&2
  return 1
}

fpm_start_conf() {
  local d=$1 conf=$2 ini=()
  shift 2
  mkdir -p "$d/log" "$d/run"
  [ -f "$d/php.ini" ] && ini=(-c "$d/php.ini")
  export FPMT_DIR=$d
  "$FPM_BIN" -R -F -n "${ini[@]}" -y "$conf" >"$d/log/stdout.log" 2>&1 &
  export FPMT_PHP_FPM_PID=$!
  fpm_wait_pings 5 "$@"
}

fpm_reload_conf() {
  local log=$FPMT_DIR/log/php-fpm.log before i
  before=$(grep -c 'ready to handle connections' "$log" 2>/dev/null || echo 0)
  kill -USR2 "$FPMT_PHP_FPM_PID" || {
    echo "fpm.sh: cannot signal php-fpm (pid $FPMT_PHP_FPM_PID) to reload" >&2
    return 1
  }
  for i in $(seq 1 200); do
    if [ "$(grep -c 'ready to handle connections' "$log" 2>/dev/null || echo 0)" -gt "$before" ]; then
      fpm_wait_pings 5 "$@"
      return
    fi
    sleep 0.025
  done
  echo "fpm.sh: php-fpm did not log a new 'ready to handle connections' within 5 s of SIGUSR2; $log:" >&2
  tail -n 20 "$log" >&2 2>/dev/null
  return 1
}

# fpm_slow SOCK|ADDR SECONDS [QUERY_SUFFIX]: one request to slow.php in the
# background, running SECONDS; its PID is appended to the caller's bg array.
fpm_slow() {
  env -i SCRIPT_NAME=/slow.php SCRIPT_FILENAME="$FPMT_DOCROOT/slow.php" \
    REQUEST_METHOD=GET QUERY_STRING="s=$2${3:-}" \
    timeout $(($2 + 60)) cgi-fcgi -bind -connect "$1" >/dev/null 2>&1 &
  bg+=($!)
}

# fpm_slow_running SOCK|ADDR N: exactly N workers run slow.php, by FPM's own
# text list (its JSON can be invalid with hostile strings)
fpm_slow_running() {
  local n
  n=$(env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET \
    QUERY_STRING=full timeout 5 cgi-fcgi -bind -connect "$1" 2>/dev/null |
    awk '/^state:/ { run = ($2 == "Running") }
         /^request URI:/ && run && /slow\.php/ { n++ } END { print n + 0 }')
  [ "$n" = "$2" ]
}
