#!/usr/bin/env bash
# shellcheck disable=SC2034 # loop counters and exported results
# Private, throwaway metric sinks for end-to-end tests (sourced, not run):
# carbon-cache (Graphite), InfluxDB 1.x with its collectd listener, and
# collectd itself. Every server listens on loopback ports picked at run time
# (or unix sockets under the given DIR), runs under `timeout` (bounded by
# SINKS_MAX_LIFETIME seconds, default 900), is waited for by a readiness
# check, and is stopped by PID. The *_stop functions are idempotent: call
# them all from an EXIT trap.
#
#   wait_until TIMEOUT CMD...      poll CMD every 0.1 s until it succeeds;
#                                  rc 1 after TIMEOUT seconds (may be 0.5)
#   sinks_free_ports N [tcp|udp]   print N distinct free loopback ports
#   sinks_spawn NAME LOG CMD...    run any server the same way: sets NAME_PID
#                                  (CMD's pid) and NAME_WRAP (the timeout pid)
#   sinks_wait_ready NAME LOG TIMEOUT CMD...   wait for CMD while NAME runs
#   sinks_kill NAME                stop it: TERM, TERM, KILL; idempotent
#
#   carbon_start DIR / carbon_stop
#       exports CARBON_PORT (plaintext), CARBON_STORAGE (whisper dir),
#       CARBON_PID; config in DIR/carbon.conf, 1s:1h retention
#   carbon_send PATH VALUE [EPOCH] one plaintext line through socat
#   carbon_fetch PATH [SECONDS]    print "epoch<TAB>value" for the non-None
#                                  points of the last SECONDS (default 60)
#   carbon_wait_metric PATH TIMEOUT
#
#   influx_start DIR / influx_stop
#       exports INFLUX_HTTP_PORT, INFLUX_COLLECTD_PORT (UDP, stock types.db,
#       database "collectd", batch-timeout 1s), INFLUX_PID
#   influx_query DB QUERY          JSON answer of /query (POST) on stdout
#   influx_write DB LINES          line protocol, precision=s; rc 0 on 204
#
#   collectd_conf_base DIR         print a config prelude (Hostname testhost,
#                                  Interval 1, logfile DIR/collectd.log,
#                                  unixsock DIR/collectd.sock, csv DIR/csv
#                                  with StoreRates false); tests append to it
#   collectd_start DIR CONF / collectd_stop
#       collectd -f -C CONF; exports COLLECTD_PID (collectd itself),
#       COLLECTD_SOCK (DIR/collectd.sock), COLLECTD_LOG (DIR/collectd.log)
#   collectd_cmd ARGS...           run collectd once (e.g. -T -C conf)
#   collectd_sanitizer_errors DIR  sanitizer reports in DIR/collectd.out that
#                                  concern the plugin
#                                  (sanitizer builds preload the ASan/UBSan
#                                  runtimes into the stock collectd)
#   collectd_getval IDENT          the value of a one-DS identifier (GETVAL:
#                                  rates for DERIVE), e.g. 3.000000e+00
#   collectd_listval               identifiers, one a line
#   csv_rows CSVDIR IDENT          all "epoch,value" rows (date files merged)
#   csv_last CSVDIR IDENT          the newest row
#   csv_rows_since CSVDIR IDENT EPOCH   rows whose time is after EPOCH
#                                  (fractional seconds allowed)
#   collectd_conf_phpfpm PLUGINDIR print the lines that load phpfpm.so from
#                                  PLUGINDIR (after the stock plugins: the
#                                  PluginDir switch applies in file order)
#
#   phpfpm_plugin_dir              the directory holding phpfpm.so under
#                                  FPMT_BUILD_DIR; rc 1 with a message if absent
#   fcgi_get TARGET SCRIPT [QUERY] one FastCGI GET of $FPMT_DOCROOT/SCRIPT
#                                  through cgi-fcgi; prints the body
#   sinks_stop_all                 stop everything started here

SINKS_MAX_LIFETIME=${SINKS_MAX_LIFETIME:-900}
SINKS_TYPESDB=${SINKS_TYPESDB:-/usr/share/collectd/types.db}

wait_until() {
  local timeout=$1
  shift
  local deadline
  deadline=$(($(date +%s%N) / 1000000 + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')))
  while :; do
    "$@" && return 0
    [ $(($(date +%s%N) / 1000000)) -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

sinks_free_ports() {
  python3 - "$1" "${2:-tcp}" <<'PY'
import socket, sys
n, kind = int(sys.argv[1]), sys.argv[2]
typ = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
held = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, typ)
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
for s in held:
    s.close()
PY
}

# ---------------------------------------------------------------- processes

# alive PID: running and not a zombie
_sinks_alive() {
  local st
  [ -n "${1:-}" ] || return 1
  st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# sinks_spawn PREFIX LOG CMD...: run CMD under timeout in the background;
# sets PREFIX_WRAP (the timeout pid) and PREFIX_PID (CMD's pid).
sinks_spawn() {
  local prefix=$1 log=$2
  shift 2
  timeout -k 5 "$SINKS_MAX_LIFETIME" "$@" >"$log" 2>&1 &
  local wrap=$! child="" i
  for i in $(seq 1 100); do
    child=$(pgrep -P "$wrap" | head -n 1)
    [ -n "$child" ] && break
    _sinks_alive "$wrap" || break
    sleep 0.02
  done
  printf -v "${prefix}_WRAP" %s "$wrap"
  printf -v "${prefix}_PID" %s "$child"
  export "${prefix}_PID"
  [ -n "$child" ]
}

# sinks_kill PREFIX: TERM the server; a second TERM after 2.5 s (influxd
# 1.6 can hang in a clean shutdown once its collectd listener got data, and
# takes a second signal as "hard shutdown"); KILL after 5 s; reap the wrapper.
# The server is signalled, not the timeout wrapper: timeout forwards, and a
# killed wrapper would orphan the server.
sinks_kill() {
  local prefix=$1 wvar="${1}_WRAP" pvar="${1}_PID"
  local wrap=${!wvar:-} pid=${!pvar:-} target round i
  [ -n "$wrap" ] || return 0
  target=${pid:-$wrap}
  for round in TERM TERM KILL; do
    _sinks_alive "$target" || break
    [ "$round" = KILL ] && echo "sinks.sh: $prefix (pid $target) still runs 5 s after SIGTERM; SIGKILL" >&2
    kill "-$round" "$target" 2>/dev/null
    for i in $(seq 1 50); do
      _sinks_alive "$target" || break
      sleep 0.05
    done
  done
  # the wrapper exits as soon as its child has gone
  for i in $(seq 1 40); do
    _sinks_alive "$wrap" || break
    sleep 0.05
  done
  _sinks_alive "$wrap" && kill -KILL "$wrap" 2>/dev/null
  wait "$wrap" 2>/dev/null
  unset "$wvar" "$pvar"
  return 0
}

# sinks_wait_ready PREFIX LOG TIMEOUT CMD...: wait for CMD while the server runs
sinks_wait_ready() {
  local prefix=$1 log=$2 timeout=$3 pvar="${1}_PID"
  shift 3
  local deadline=$(($(date +%s) + timeout))
  while :; do
    if ! _sinks_alive "${!pvar:-}"; then
      echo "sinks.sh: $prefix exited during start-up; its output ($log):" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
    "$@" && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "sinks.sh: $prefix not ready within ${timeout} s; its output ($log):" >&2
      tail -n 30 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
}

_sinks_listening() { # PORT tcp|udp
  local flag=-ltnH
  [ "$2" = udp ] && flag=-lunH
  ss "$flag" "sport = :$1" 2>/dev/null | grep -q .
}

# ------------------------------------------------------------------ carbon

carbon_start() {
  local d=$1 ports
  [ -z "${CARBON_WRAP:-}" ] || { echo "sinks.sh: carbon already running" >&2; return 1; }
  mkdir -p "$d/conf" "$d/storage/whisper" "$d/storage/lists" "$d/log" "$d/run"
  read -r -a ports <<<"$(sinks_free_ports 3 tcp)"
  cat >"$d/conf/carbon.conf" <<CONF
[cache]
STORAGE_DIR = $d/storage/
LOCAL_DATA_DIR = $d/storage/whisper/
WHITELISTS_DIR = $d/storage/lists/
CONF_DIR = $d/conf/
LOG_DIR = $d/log/
PID_DIR = $d/run/
ENABLE_LOGROTATION = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
MIN_TIMESTAMP_RESOLUTION = 1
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = ${ports[0]}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = ${ports[1]}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = ${ports[2]}
USE_FLOW_CONTROL = True
LOG_UPDATES = False
LOG_CREATES = True
WHISPER_AUTOFLUSH = True
WHISPER_FALLOCATE_CREATE = False
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
CONF
  cat >"$d/conf/storage-schemas.conf" <<'CONF'
[everything_1s]
pattern = .*
retentions = 1s:1h
CONF
  export CARBON_PORT=${ports[0]} CARBON_STORAGE=$d/storage/whisper CARBON_DIR=$d
  sinks_spawn CARBON "$d/log/carbon-cache.out" \
    carbon-cache --config="$d/conf/carbon.conf" --pidfile="$d/run/carbon.pid" --debug start ||
    { echo "sinks.sh: carbon-cache did not start" >&2; cat "$d/log/carbon-cache.out" >&2; return 1; }
  sinks_wait_ready CARBON "$d/log/carbon-cache.out" 30 _sinks_listening "$CARBON_PORT" tcp
}

carbon_stop() { sinks_kill CARBON; }

carbon_send() {
  printf '%s %s %s\n' "$1" "$2" "${3:-$(date +%s)}" |
    socat -u -T 5 - "TCP:127.0.0.1:$CARBON_PORT"
}

_carbon_file() { printf '%s/%s.wsp' "$CARBON_STORAGE" "${1//.//}"; }

carbon_fetch() {
  local f
  f=$(_carbon_file "$1")
  [ -f "$f" ] || return 1
  whisper-fetch --from=$(($(date +%s) - ${2:-60})) "$f" 2>/dev/null | awk -F'\t' '$2 != "None"'
}

_carbon_has() { [ -n "$(carbon_fetch "$1" 3600)" ]; }

carbon_wait_metric() {
  wait_until "$2" _carbon_has "$1" || {
    echo "sinks.sh: no value for $1 in carbon within $2 s (looked at $(_carbon_file "$1"))" >&2
    return 1
  }
}

# ---------------------------------------------------------------- influxdb

influx_start() {
  local d=$1 tcp udp
  [ -z "${INFLUX_WRAP:-}" ] || { echo "sinks.sh: influxd already running" >&2; return 1; }
  mkdir -p "$d/meta" "$d/data" "$d/wal"
  read -r -a tcp <<<"$(sinks_free_ports 2 tcp)"
  udp=$(sinks_free_ports 1 udp)
  cat >"$d/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:${tcp[1]}"

[meta]
  dir = "$d/meta"

[data]
  dir = "$d/data"
  wal-dir = "$d/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${tcp[0]}"
  log-enabled = false

[[collectd]]
  enabled = true
  bind-address = "127.0.0.1:$udp"
  database = "collectd"
  typesdb = "$SINKS_TYPESDB"
  security-level = "none"
  batch-timeout = "1s"
  parse-multivalue-plugin = "split"
CONF
  export INFLUX_HTTP_PORT=${tcp[0]} INFLUX_COLLECTD_PORT=$udp INFLUX_DIR=$d
  sinks_spawn INFLUX "$d/influxd.log" \
    influxd -config "$d/influxdb.conf" -pidfile "$d/influxd.pid" ||
    { echo "sinks.sh: influxd did not start" >&2; cat "$d/influxd.log" >&2; return 1; }
  sinks_wait_ready INFLUX "$d/influxd.log" 30 _influx_ready
}

_influx_ready() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$INFLUX_HTTP_PORT/ping")" = 204 ] &&
    _sinks_listening "$INFLUX_COLLECTD_PORT" udp
}

influx_stop() { sinks_kill INFLUX; }

influx_query() {
  curl -sS --max-time 10 -XPOST "http://127.0.0.1:$INFLUX_HTTP_PORT/query" \
    --data-urlencode "db=$1" --data-urlencode "q=$2"
}

influx_write() {
  local code
  code=$(curl -sS --max-time 10 -o /dev/stderr -w '%{http_code}' -XPOST \
    "http://127.0.0.1:$INFLUX_HTTP_PORT/write?db=$1&precision=s" --data-binary "$2")
  [ "$code" = 204 ] || { echo "sinks.sh: influx write answered HTTP $code" >&2; return 1; }
}

# ---------------------------------------------------------------- collectd

collectd_conf_base() {
  local d=$1
  cat <<CONF
Hostname "testhost"
FQDNLookup false
BaseDir "$d"
PIDFile "$d/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "$SINKS_TYPESDB"
Interval 1

LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$d/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>

LoadPlugin unixsock
<Plugin unixsock>
  SocketFile "$d/collectd.sock"
  SocketPerms "0660"
  SocketGroup "$(id -gn)"
  DeleteSocket true
</Plugin>

LoadPlugin csv
<Plugin csv>
  DataDir "$d/csv"
  StoreRates false
</Plugin>
CONF
}

# In a sanitizer build (ENABLE_SANITIZERS in FPMT_BUILD_DIR's CMake cache)
# phpfpm.so needs the ASan/UBSan runtimes loaded first; the stock collectd is
# not instrumented, so they are preloaded. Prints the LD_PRELOAD value, or
# nothing for a normal build.
sinks_sanitizer_preload() {
  local cache=${FPMT_BUILD_DIR:-}/CMakeCache.txt cc libs lib f out=""
  grep -q '^ENABLE_SANITIZERS:BOOL=ON' "$cache" 2>/dev/null || return 0
  cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
  cc=${cc:-cc}
  if "$cc" --version 2>/dev/null | grep -qi clang; then
    libs="libclang_rt.asan-x86_64.so"
  else
    libs="libasan.so libubsan.so"
  fi
  for lib in $libs; do
    f=$("$cc" -print-file-name="$lib" 2>/dev/null)
    [ -f "$f" ] && out="$out $f"
  done
  printf '%s\n' "${out# }"
}

# collectd_cmd ARGS...: run collectd once, bounded (SINKS_CMD_TIMEOUT, default
# 120 s), with the sanitizer preload if needed
collectd_cmd() {
  local pre
  pre=$(sinks_sanitizer_preload)
  timeout -k 5 "${SINKS_CMD_TIMEOUT:-120}" env ${pre:+LD_PRELOAD="$pre"} collectd "$@"
}

# collectd_sanitizer_errors FILE|DIR: print the sanitizer reports in FILE
# (or DIR/collectd.out, after collectd_stop) that concern us: every ASan or
# UBSan error, and the leaks whose stack goes through phpfpm.so (the stock
# daemon has small leaks of its own in some set-ups, e.g. 6 bytes strdup'ed
# per plugin_register_read); rc 1 if there is none.
collectd_sanitizer_errors() {
  local f=$1
  [ -d "$f" ] && f=$f/collectd.out
  [ -f "$f" ] || return 1
  awk 'BEGIN { RS = ""; found = 0 }
    /ERROR: AddressSanitizer|runtime error:/ { print; print ""; found = 1; next }
    /(Direct|Indirect) leak/ && /phpfpm\.so/ { print; print ""; found = 1 }
    END { exit !found }' "$f"
}

collectd_start() {
  local d=$1 conf=$2 pre
  [ -z "${COLLECTD_WRAP:-}" ] || { echo "sinks.sh: collectd already running" >&2; return 1; }
  export COLLECTD_SOCK=$d/collectd.sock COLLECTD_LOG=$d/collectd.log COLLECTD_DIR=$d
  pre=$(sinks_sanitizer_preload)
  sinks_spawn COLLECTD "$d/collectd.out" env ${pre:+LD_PRELOAD="$pre"} collectd -f -C "$conf" ||
    { echo "sinks.sh: collectd did not start" >&2; cat "$d/collectd.out" >&2; return 1; }
  sinks_wait_ready COLLECTD "$d/collectd.out" 30 _collectd_answers || {
    [ -f "$COLLECTD_LOG" ] && tail -n 30 "$COLLECTD_LOG" >&2
    return 1
  }
}

_collectd_answers() { [ -S "$COLLECTD_SOCK" ] && collectdctl -s "$COLLECTD_SOCK" listval >/dev/null 2>&1; }

collectd_stop() { sinks_kill COLLECTD; }

collectd_listval() { collectdctl -s "$COLLECTD_SOCK" listval 2>/dev/null; }

collectd_getval() {
  local out
  out=$(collectdctl -s "$COLLECTD_SOCK" getval "$1" 2>&1) || {
    echo "sinks.sh: getval $1: $out" >&2
    return 1
  }
  printf '%s\n' "$out" | sed -n '1s/^[^=]*=//p'
}

csv_rows() {
  local f found=0
  for f in "$1/$2"-????-??-??; do
    [ -f "$f" ] || continue
    found=1
    tail -n +2 "$f"
  done
  [ $found = 1 ]
}

csv_last() { csv_rows "$1" "$2" | tail -n 1; }

csv_rows_since() { csv_rows "$1" "$2" | awk -F, -v t="$3" '$1 + 0 > t + 0'; }

collectd_conf_phpfpm() {
  cat <<CONF
# the phpfpm plugin from the build tree (stock plugins are loaded above)
PluginDir "$1"
LoadPlugin phpfpm
CONF
}

# ------------------------------------------------------------------- misc

phpfpm_plugin_dir() {
  local d=${FPMT_BUILD_DIR:-}/collectd-plugin
  if [ -z "${FPMT_BUILD_DIR:-}" ] || [ ! -f "$d/phpfpm.so" ]; then
    echo "FAIL: the collectd plugin is missing: no phpfpm.so in '${d}'" \
      "(set FPMT_BUILD_DIR to a build dir where collectd-plugin/phpfpm.so was built)" >&2
    return 1
  fi
  printf '%s\n' "$d"
}

fcgi_get() {
  local target=$1 script=$2 query=${3:-}
  env -i SCRIPT_NAME="/$script" SCRIPT_FILENAME="$FPMT_DOCROOT/$script" \
    REQUEST_METHOD=GET QUERY_STRING="$query" REQUEST_URI="/$script${query:+?$query}" \
    timeout 30 cgi-fcgi -bind -connect "$target" 2>/dev/null | sed '1,/^\r$/d'
}

sinks_stop_all() {
  collectd_stop
  influx_stop
  carbon_stop
}
