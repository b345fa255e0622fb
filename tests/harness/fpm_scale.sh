#!/usr/bin/env bash
# A shared-hosting php-fpm (sourced, not run): one master, N ondemand pools
# in N files (one per site, as Plesk, cPanel and ISPConfig write them), unix
# sockets in DIR/run. Needs tests/harness/fpm.sh sourced first.
# FPM_SCALE_IDLE: the pools' pm.process_idle_timeout (default 10s).
#
#   fpm_scale_write DIR N   write DIR/php-fpm.conf (includes DIR/pool.d/*.conf)
#                           and DIR/pool.d/site0001.conf ... siteN.conf
#   fpm_scale_start DIR N   write, then start php-fpm on it (as root, -R -F)
#                           with room for its N listening sockets
#                           (rlimit_files, and the shell's own soft limit
#                           raised for the master); wait until the first and
#                           the last pool answer ping. FPMT_PHP_FPM_PID set.
#   fpm_scale_site I        the name of pool I (1-based): site0001
#   fpm_scale_stop          stop the master (up to 60 s) and its workers
fpm_scale_site() { printf 'site%04d' "$1"; }

fpm_scale_write() {
  local d=$1 n=$2
  mkdir -p "$d/pool.d" "$d/run" "$d/log"
  rm -rf "$d/pool.d" "$d/run"
  mkdir -p "$d/pool.d" "$d/run"
  cat >"$d/php-fpm.conf" <<CONF
; a shared host: one ondemand pool per site, one file each
[global]
pid = $d/run/php-fpm.pid
error_log = $d/log/php-fpm.log
log_level = warning
daemonize = no
rlimit_files = $((n * 2 + 1024))
include = $d/pool.d/*.conf
CONF
  # one process writes them all (a shell loop forks per file)
  python3 - "$d" "$n" "${FPM_SCALE_IDLE:-10s}" <<'PY'
import sys
d, n, idle = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(1, n + 1):
    name = "site%04d" % i
    with open("%s/pool.d/%s.conf" % (d, name), "w") as f:
        f.write("[%s]\nuser = root\ngroup = root\nlisten = %s/run/%s.sock\n"
                "pm = ondemand\npm.max_children = 2\n"
                "pm.process_idle_timeout = %s\npm.status_path = /status\n"
                "ping.path = /ping\n" % (name, d, name, idle))
PY
}

fpm_scale_start() {
  local d=$1 n=$2 want=$(($2 * 2 + 1024))
  fpm_scale_write "$d" "$n"
  # php-fpm's master holds one listening socket per pool
  if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null || { echo "fpm_scale: cannot raise the descriptor limit to $want" >&2; return 1; }
  fi
  ulimit -Sn "$want"
  fpm_start_conf "$d" "$d/php-fpm.conf" "$d/run/$(fpm_scale_site 1).sock" "$d/run/$(fpm_scale_site "$n").sock"
}

# fpm_scale_stop: stop the master and every worker it started, by PID. A
# master with a thousand workers takes longer to stop than fpm_stop waits,
# and a master killed first would leave its workers running.
fpm_scale_stop() {
  [ -n "${FPMT_PHP_FPM_PID:-}" ] || return 0
  local workers
  workers=$(pgrep -P "$FPMT_PHP_FPM_PID" | tr '\n' ' ')
  kill -TERM "$FPMT_PHP_FPM_PID" 2>/dev/null
  for _ in $(seq 1 600); do
    kill -0 "$FPMT_PHP_FPM_PID" 2>/dev/null || break
    sleep 0.1
  done
  # shellcheck disable=SC2086 # one PID per word
  [ -n "$workers" ] && kill -KILL $workers 2>/dev/null
  fpm_stop
}
