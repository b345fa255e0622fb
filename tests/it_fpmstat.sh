#!/usr/bin/env bash
# it_fpmstat.sh: fpmstat against a real php-fpm 8.2 (tests/harness/fpm.sh):
# every exit code from a real cause, exact self-exclusion with idle and busy
# workers (json, asserted with jq against FPM's own raw figures), several
# targets at once, ping, hostile request strings while --full runs, and a
# pool whose name holds a space, a comma and an equals sign.
# Needs: FPMT_BUILD_DIR (fpmstat, tests/hostile_fcgi), cgi-fcgi, jq.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
dir=$(mktemp -d /tmp/fpmt-cli.XXXXXX)
chmod 755 "$dir"
bg=()
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  fpm_stop
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$here/harness/tap.sh"

# rc_is WANT DESC CMD...: run CMD (stdout discarded), check its exit status
rc_is() {
  local want=$1 desc=$2 rc
  shift 2
  "$@" >/dev/null 2>"$dir/stderr"
  rc=$?
  if [ "$rc" = "$want" ]; then ok "$desc: exit $rc"; else
    bad "$desc: exit $rc, expected $want"
    cat "$dir/stderr"
  fi
}


# FPM's own status, straight from cgi-fcgi (no fpmstat involved)
raw_status() {
  env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET \
    QUERY_STRING="json&full" timeout 5 cgi-fcgi -bind -connect "$1" 2>/dev/null |
    sed '1,/^\r$/d'
}

export FPM_POOLS_EXTRA="
[we ird,pool=x]
listen = $dir/run/weird.sock
listen.mode = 0666
pm = static
pm.max_children = 2
pm.status_path = /status
ping.path = /ping
user = root
group = root

[back\\slash]
listen = $dir/run/backslash.sock
pm = static
pm.max_children = 1
pm.status_path = /status
user = root
group = root
"
fpm_start "$dir" || { echo "FAIL: php-fpm did not start"; exit 1; }
WEIRD=$dir/run/weird.sock
wait_for 5 test -S "$WEIRD" || bad "the weird pool did not come up"

# ----------------------------------------------------------- exit codes
rc_is 0 "status of an idle pool" "$B" "$FPMT_WWW_SOCK"
rc_is 1 "no target" "$B"
rc_is 1 "unknown format" "$B" --format xml "$FPMT_WWW_SOCK"
rc_is 1 "bad timeout" "$B" --timeout -1 "$FPMT_WWW_SOCK"
rc_is 1 "unknown option" "$B" --frobnicate "$FPMT_WWW_SOCK"
rc_is 1 "--full with --no-full" "$B" --full --no-full "$FPMT_WWW_SOCK"
rc_is 1 "--watch with a machine format" "$B" --watch 1 --format json "$FPMT_WWW_SOCK"
rc_is 1 "bad endpoint" "$B" "tcp://[::1"
rc_is 2 "missing socket" "$B" "$dir/run/nonexistent.sock"
grep -q "is php-fpm running" "$dir/stderr" || bad "missing socket: no hint in: $(cat "$dir/stderr")"
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$dir/run/stale.sock"
rc_is 2 "stopped pool (stale socket, nobody listening)" "$B" "$dir/run/stale.sock"
rc_is 2 "stopped pool (closed TCP port)" "$B" "127.0.0.1:$(fpm_free_port)"
rc_is 5 "wrong status path" "$B" --status-path /nope "$FPMT_WWW_SOCK"
grep -q 'pm.status_path = /nope' "$dir/stderr" || bad "wrong path: no hint in: $(cat "$dir/stderr")"
grep -q 'Primary script unknown' "$dir/stderr" || bad "wrong path: no FPM stderr in: $(cat "$dir/stderr")"
rc_is 5 "pool without pm.status_path" "$B" "$FPMT_NOSTATUS_SOCK"
rc_is 6 "status path reaching a real PHP script" "$B" --status-path "$FPMT_DOCROOT/hello.php" "$FPMT_WWW_SOCK"
grep -q 'text/html' "$dir/stderr" || bad "script page: no Content-Type in: $(cat "$dir/stderr")"
[ "$(grep -c . "$dir/stderr")" = 1 ] || bad "more than one error line: $(cat "$dir/stderr")"

# 3: the one-worker pool is busy past the timeout; bounded by --timeout
fpm_slow "$FPMT_ONE_SOCK" 6
busy_rc() {
  local t0 t1
  t0=$(now_ms)
  "$B" --timeout 0.4 "$FPMT_ONE_SOCK" >/dev/null 2>"$dir/stderr"
  BUSY_RC=$?
  t1=$(now_ms)
  BUSY_MS=$((t1 - t0))
  [ "$BUSY_RC" = 3 ]
}
if wait_for 5 busy_rc; then
  ok "busy pool past the timeout: exit 3 after ${BUSY_MS} ms"
  # the bound is 400 ms plus what starting the same binary costs here (an
  # ASan build on a loaded machine takes hundreds of ms just to start)
  s0=$(now_ms)
  "$B" --version >/dev/null 2>&1
  start_ms=$(($(now_ms) - s0))
  limit=$((900 + 2 * start_ms))
  [ "${FPMT_VALGRIND:-0}" = 1 ] && limit=$((4000 + 2 * start_ms))
  [ "$BUSY_MS" -le "$limit" ] || bad "busy pool: took ${BUSY_MS} ms for a 400 ms timeout (limit ${limit} ms, start-up ${start_ms} ms)"
  grep -q 'timeout' "$dir/stderr" || bad "busy pool: message: $(cat "$dir/stderr")"
else
  bad "busy pool: last exit ${BUSY_RC:-none}, expected 3"
fi

# 4: a server that does not speak FastCGI properly
H=${FPMT_BUILD_DIR}/tests/hostile_fcgi
if [ -x "$H" ]; then
  for sc in garbage overloaded close_early; do
    "$H" "$sc" "$dir/run/hostile-$sc.sock" >"$dir/hostile-$sc.out" 2>&1 &
    bg+=($!)
    wait_for 5 grep -q READY "$dir/hostile-$sc.out" || bad "hostile_fcgi $sc did not start"
    rc_is 4 "hostile server ($sc)" "$B" --timeout 2 "$dir/run/hostile-$sc.sock"
  done
else
  bad "no hostile_fcgi in $FPMT_BUILD_DIR/tests"
fi

# several targets: fetched at once, printed in order, highest code wins
rc_is 5 "several targets with one bad" "$B" "$FPMT_WWW_SOCK" "$FPMT_DYN_ADDR" "$FPMT_NOSTATUS_SOCK"
order=$("$B" --format json "$FPMT_WWW_SOCK" "$FPMT_DYN_ADDR" "$FPMT_OD_SOCK" 2>/dev/null | jq -r .pool | tr '\n' ' ')
[ "$order" = "www dyn od " ] && ok "several targets in order" || bad "target order: '$order'"
"$B" --format json "$FPMT_NOSTATUS_SOCK" "$FPMT_WWW_SOCK" 2>/dev/null >"$dir/two.json"
[ "$(jq -s 'map(.ok) | tostring' "$dir/two.json")" = '"[false,true]"' ] &&
  [ "$(jq -s '.[0].error.code' "$dir/two.json")" = 5 ] &&
  ok "json: a failed target is an object with its error" ||
  bad "json with a failed target: $(cat "$dir/two.json")"

rc_is 0 "ping" "$B" --ping "$FPMT_WWW_SOCK" "$FPMT_DYN_ADDR"
rc_is 5 "ping of a pool without ping.path" "$B" --ping "$FPMT_NOSTATUS_SOCK"

# --------------------------------------------------------- self-exclusion
j=$("$B" --format json "$FPMT_WWW_SOCK")
raw=$(raw_status "$FPMT_WWW_SOCK")
if [ "$(jq '.metrics.active_processes' <<<"$j")" = 0 ] &&
  [ "$(jq '.states.running' <<<"$j")" = 0 ] &&
  [ "$(jq '.self.found' <<<"$j")" = true ] &&
  [ "$(jq '."active processes"' <<<"$raw")" -ge 1 ]; then
  ok "idle pool: active 0 and running 0 (FPM itself says $(jq '."active processes"' <<<"$raw"))"
else
  bad "idle pool: $(jq -c '{m: .metrics.active_processes, s: .states, self: .self}' <<<"$j")"
fi
fpm_slow "$FPMT_WWW_SOCK" 5
fpm_slow "$FPMT_WWW_SOCK" 5
if wait_for 5 fpm_slow_running "$FPMT_WWW_SOCK" 2; then
  j=$("$B" --format json "$FPMT_WWW_SOCK")
  if [ "$(jq '.metrics.active_processes' <<<"$j")" = 2 ] &&
    [ "$(jq '.states.running' <<<"$j")" = 2 ] &&
    [ "$(jq '.metrics.idle_processes' <<<"$j")" = 2 ]; then
    ok "2 busy workers: active 2, running 2, idle 2"
  else
    bad "2 busy workers: $(jq -c '{m: .metrics, s: .states}' <<<"$j")"
  fi
  "$B" --full "$FPMT_WWW_SOCK" >"$dir/full.txt"
  [ "$(grep -c 'slow.php' "$dir/full.txt")" -ge 2 ] && grep -q '^\*' "$dir/full.txt" &&
    ok "text --full lists the slow requests and marks our own" ||
    bad "text --full: $(cat "$dir/full.txt")"
  # without the list FPM's own count (with our request) is all there is
  n=$("$B" --no-full --format json "$FPMT_WWW_SOCK" | jq .metrics.active_processes)
  [ "$n" = 3 ] && ok "--no-full: FPM's count, 3 with our own request" || bad "--no-full: active $n"
else
  bad "the two slow requests did not start"
fi

# ------------------------------------------- hostile strings, weird pool
q=$(printf '&a="q"&b=\\x\\&c=x,y=z w&nl=%s&bad=%s' $'\n' $'\xff\xc3')
fpm_slow "$WEIRD" 4 "$q"
if wait_for 5 fpm_slow_running "$WEIRD" 1; then
  js=$("$B" --full --format json "$WEIRD")
  if [ "$(jq -r .pool <<<"$js")" = "we ird,pool=x" ] &&
    [ "$(jq '.workers | length' <<<"$js")" = 2 ] &&
    jq -e '.workers[] | select(.request_uri | test("\n"))' <<<"$js" >/dev/null; then
    ok "json --full with a newline, quotes and invalid UTF-8 in a uri"
  else
    bad "json --full, weird pool: $js"
  fi
  pv=$("$B" --full --format putval --interval 10 --host h "$WEIRD")
  bad_lines=$(grep -vcE '^PUTVAL "h/phpfpm-we ird,pool=x/[a-z_]+(-[A-Za-z0-9_]+)?" interval=10 N:[-0-9.e+U]+$' <<<"$pv")
  [ "$bad_lines" = 0 ] && ok "putval --full: every line well-formed ($(wc -l <<<"$pv") lines)" ||
    bad "putval: $bad_lines malformed lines"
  gr=$("$B" --full --format graphite --host h.example "$WEIRD")
  [ "$(awk 'NF != 3 || $1 !~ /^h_example\.phpfpm-we_ird_pool=x\.[^.]+$/' <<<"$gr" | wc -l)" = 0 ] &&
    ok "graphite --full: 3 fields, 3 path parts on every line" || bad "graphite: $gr"
  inf=$("$B" --full --format influx "$WEIRD")
  [ "$(grep -c '^phpfpm_process,' <<<"$inf")" = 2 ] && ! grep -q $'\r' <<<"$inf" &&
    ok "influx --full: one phpfpm_process line per worker" || bad "influx: $inf"
  txt=$("$B" --full "$WEIRD")
  grep -q 'nl=\\n' <<<"$txt" && ok "text --full shows the newline escaped" || bad "text: $txt"
else
  bad "the hostile request did not start"
fi

# FPM 8.2 prints a backslash in the pool name unescaped (invalid JSON)
p=$("$B" --format json "$dir/run/backslash.sock" | jq -r .pool)
[ "$p" = 'back\slash' ] && ok "a pool named back\\slash (FPM's JSON is invalid there)" ||
  bad "backslash pool: '$p'"

echo "# $fails failure(s)"
[ "$fails" = 0 ]
