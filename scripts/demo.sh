#!/usr/bin/env bash
# The main job: show PHP-FPM pool metrics through fpmstat and through collectd.
#
#   scripts/demo.sh [TARGET...]
#
# TARGET is a pool endpoint (unix:/run/php/php8.2-fpm.sock, /path.sock,
# host:port, [v6]:port). With no TARGET, a throwaway php-fpm with private
# pools is started in a temporary directory (and stopped at the end).
# Installs the packages it needs (as root) and builds into build/demo (the
# test suite builds in directories of its own).
# Environment: STATUS_PATH (default /status), DEMO_SECONDS (collectd run, 5).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
STATUS_PATH=${STATUS_PATH:-/status}
DEMO_SECONDS=${DEMO_SECONDS:-5}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing packages (if missing) and building"
bash scripts/install-deps.sh
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF -DBUILD_BENCH=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" >/dev/null
FPMSTAT=$top/build/demo/fpmstat
PLUGIN_DIR=$top/build/demo/collectd-plugin

work=$(mktemp -d /tmp/fpmstat-demo.XXXXXX)
collectd_pid=
busy_pids=()
cleanup() {
  for p in "${busy_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$collectd_pid" ]; then kill -TERM "$collectd_pid" 2>/dev/null || true; wait "$collectd_pid" 2>/dev/null || true; fi
  if declare -F fpm_stop >/dev/null; then fpm_stop; fi
  rm -rf "$work"
}
trap cleanup EXIT

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  say "no target given: starting a throwaway php-fpm in $work/fpm"
  . tests/harness/fpm.sh
  fpm_start "$work/fpm"
  targets=("unix:$FPMT_WWW_SOCK" "$FPMT_DYN_ADDR")
  echo "pools: www (static, 4 workers) at unix:$FPMT_WWW_SOCK, dyn (dynamic, max 3) at $FPMT_DYN_ADDR"
  # some traffic: a few quick requests and two requests that stay busy for a while
  for i in 1 2 3 4 5; do
    env -i SCRIPT_NAME=/hello.php SCRIPT_FILENAME="$FPMT_DOCROOT/hello.php" REQUEST_METHOD=GET \
      cgi-fcgi -bind -connect "$FPMT_WWW_SOCK" >/dev/null 2>&1
  done
  for i in 1 2; do
    env -i SCRIPT_NAME=/slow.php SCRIPT_FILENAME="$FPMT_DOCROOT/slow.php" REQUEST_METHOD=GET \
      QUERY_STRING="s=$((DEMO_SECONDS + 30))" cgi-fcgi -bind -connect "$FPMT_WWW_SOCK" >/dev/null 2>&1 &
    busy_pids+=($!)
  done
  # wait until both slow requests are running (checked through fpmstat itself)
  for i in $(seq 1 50); do
    n=$("$FPMSTAT" --format json "unix:$FPMT_WWW_SOCK" 2>/dev/null | jq -r '.states.running // 0' 2>/dev/null || echo 0)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.1
  done
fi

say "fpmstat ${targets[*]}"
"$FPMSTAT" --status-path "$STATUS_PATH" "${targets[@]}" || echo "(fpmstat exit code $?)"

say "fpmstat --format putval (the identifiers the collectd plugin dispatches)"
"$FPMSTAT" --status-path "$STATUS_PATH" --format putval --host demo "${targets[0]}" | head -n 25 || true

say "collectd with the phpfpm plugin (Interval 1, ${DEMO_SECONDS} s)"
mkdir -p "$work/collectd"
{
  cat <<CONF
Hostname "demo"
FQDNLookup false
BaseDir "$work/collectd"
Interval 1
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$work/collectd/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin unixsock
<Plugin unixsock>
  SocketFile "$work/collectd/collectd.sock"
  SocketGroup "root"
  DeleteSocket true
</Plugin>
PluginDir "$PLUGIN_DIR"
LoadPlugin phpfpm
<Plugin phpfpm>
CONF
  i=0
  for t in "${targets[@]}"; do
    i=$((i + 1))
    name=$("$FPMSTAT" --status-path "$STATUS_PATH" --format json "$t" 2>/dev/null | jq -r '.pool // empty' || true)
    [ -n "$name" ] || name="pool$i"
    case "$t" in
      unix:*) key=Socket; val=${t#unix:} ;;
      /*) key=Socket; val=$t ;;
      *) key=Address; val=${t#tcp://} ;;
    esac
    printf '  <Pool "%s">\n    %s "%s"\n    StatusPath "%s"\n  </Pool>\n' "$name" "$key" "$val" "$STATUS_PATH"
  done
  echo "</Plugin>"
} > "$work/collectd/collectd.conf"
collectd -f -C "$work/collectd/collectd.conf" >"$work/collectd/stdout.log" 2>&1 &
collectd_pid=$!
sock=$work/collectd/collectd.sock
for i in $(seq 1 100); do
  collectdctl -s "$sock" listval 2>/dev/null | grep -q phpfpm && break
  sleep 0.1
done
sleep "$DEMO_SECONDS"
idents=$(collectdctl -s "$sock" listval 2>/dev/null | grep phpfpm | sort || true)
if [ -z "$idents" ]; then
  echo "collectd dispatched no phpfpm value; its log:"; cat "$work/collectd/collectd.log"
  exit 1
fi
printf '%-60s %s\n' IDENTIFIER VALUE
while read -r id; do
  v=$(collectdctl -s "$sock" getval "$id" 2>/dev/null | tr '\n' ' ')
  printf '%-60s %s\n' "$id" "$v"
done <<<"$idents"
say "collectd log (phpfpm lines)"
grep -i phpfpm "$work/collectd/collectd.log" | tail -n 10 || true
