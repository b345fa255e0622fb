#!/usr/bin/env bash
# it_phantom.sh: php-fpm 8.2 ondemand pools list, now and then, a scoreboard
# slot that no process holds: {"pid":0,"state":"(null)","start time":0,
# "request duration":<about the epoch>,...}. The slot is taken before the
# fork of a new worker and gets its pid only once the child runs, so a status
# page rendered in that window shows it. This test catches real ones:
#   1. raw: the status page (cgi-fcgi, ?json&full) fetched in a loop until a
#      body lists a phantom; that body is printed (a fresh capture);
#   2. fpmstat --format json --full in a loop until it reports
#      source.phantom >= 1, and that very output is truthful: no worker with
#      pid 0, no unknown state, the state counts add up to the total,
#      utilisation <= 100 %, the oldest running request a few seconds (not
#      the epoch), running_slow 0;
#   3. the collectd plugin under real collectd until it has read a phantom
#      (objects-parse_phantom >= 1 in its csv; it goes on up to 3 such reads
#      within the time limit), with no "slow request: pid 0" notification
#      in collectd's log.
# Pools: three ondemand pools, pm.process_idle_timeout = 1s (FPM's smallest)
# and pm.max_requests = 1, so that every request needs a new worker: with the
# idle timeout alone, spawns are rare and a phantom can take many thousand
# fetches (none in 8 minutes on a loaded 2-core machine); with both, the
# first one comes within tens of fetches. Background traffic (bursts of
# concurrent requests) makes the spawns that the status page catches.
# Every loop is bounded in count and time; a run without a phantom fails
# with the counts.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/tap.sh"
B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
command -v cgi-fcgi >/dev/null || { echo "FAIL: cgi-fcgi (libfcgi-bin) is not installed"; exit 1; }
LIMIT_S=${PHANTOM_LIMIT_S:-240}   # per phase
LIMIT_N=${PHANTOM_LIMIT_N:-3000}  # fetches per phase
dir=$(mktemp -d /tmp/fpmt-phantom.XXXXXX)
traffic_pid=""
cleanup() {
  collectd_stop
  if [ -n "$traffic_pid" ]; then
    kill "$traffic_pid" 2>/dev/null
    wait "$traffic_pid" 2>/dev/null
  fi
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ php-fpm
POOLS="ph1 ph2 ph3"
mkdir -p "$dir/www" "$dir/run" "$dir/log"
echo '<?php usleep(30000); echo "ok\n";' >"$dir/www/w.php"
{
  cat <<CONF
[global]
pid = $dir/run/php-fpm.pid
error_log = $dir/log/php-fpm.log
daemonize = no
log_level = warning
CONF
  for p in $POOLS; do
    cat <<CONF

[$p]
listen = $dir/run/$p.sock
pm = ondemand
pm.max_children = 4
pm.process_idle_timeout = 1s
pm.max_requests = 1
pm.status_path = /status
ping.path = /ping
user = root
group = root
CONF
  done
} >"$dir/php-fpm.conf"
socks=()
for p in $POOLS; do socks+=("$dir/run/$p.sock"); done
fpm_start_conf "$dir" "$dir/php-fpm.conf" "${socks[@]}" ||
  { echo "FAIL: php-fpm did not start"; exit 1; }

# Bursts of 3 concurrent requests to every pool, a short pause between
# them; bounded by time (the phases stop it earlier).
traffic() {
  local end=$((SECONDS + 3 * LIMIT_S + 60)) s pids
  while [ $SECONDS -lt $end ]; do
    pids=()
    for s in "${socks[@]}"; do
      for _ in 1 2 3; do
        env -i SCRIPT_NAME=/w.php SCRIPT_FILENAME="$dir/www/w.php" REQUEST_METHOD=GET \
          QUERY_STRING= timeout 10 cgi-fcgi -bind -connect "$s" >/dev/null 2>&1 &
        pids+=($!)
      done
    done
    wait "${pids[@]}"
    sleep "0.$((RANDOM % 4 + 1))"
  done
}
traffic &
traffic_pid=$!

raw_status() { # SOCK: the body of one ?json&full fetch
  env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET \
    QUERY_STRING='json&full' timeout 10 cgi-fcgi -bind -connect "$1" 2>/dev/null | sed '1,/^\r$/d'
}

# ------------------------------------------------------------ 1. raw
n=0
t0=$SECONDS
found=""
while [ -z "$found" ] && [ $n -lt "$LIMIT_N" ] && [ $((SECONDS - t0)) -lt "$LIMIT_S" ]; do
  for s in "${socks[@]}"; do
    n=$((n + 1))
    body=$(raw_status "$s")
    if printf '%s' "$body" | grep -q '"pid":0,"state":"(null)"'; then
      found=$s
      break
    fi
  done
done
if [ -n "$found" ]; then
  pass "raw: a phantom slot after $n fetches in $((SECONDS - t0)) s (pool $(basename "$found" .sock))"
  echo "# the raw body (php-fpm's own output, fetched now):"
  printf '#   %s\n' "$body"
else
  fail "raw: no phantom slot in $n fetches over $((SECONDS - t0)) s (limits $LIMIT_N fetches, $LIMIT_S s)"
fi

# ------------------------------------------------------------ 2. fpmstat
# One json document per pool per run; the checks run on the run that
# reported a phantom, or that listed a pid 0 worker (a regression: the
# phantom not recognised).
check_json() { # FILE: prints "phantom N seen M" then any lie it finds
  python3 - "$1" <<'PY'
import json, sys
# one JSON document per target, one per line
pools = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
phantom = seen = 0
lies = []
for p in pools:
    src = p.get("source", {})
    workers = p.get("workers") or []
    pids = [w.get("pid") for w in workers]
    if src.get("phantom", 0) < 1 and 0 not in pids:
        continue
    seen += 1
    phantom += src.get("phantom", 0)
    name = p.get("pool") or p.get("target")
    if src.get("phantom", 0) < 1:
        lies.append("%s: source.phantom is %s" % (name, src.get("phantom")))
    if 0 in pids:
        lies.append("%s: a worker with pid 0 is listed" % name)
    states = p.get("states", {})
    if states.get("unknown"):
        lies.append("%s: %s unknown state(s)" % (name, states["unknown"]))
    m = p.get("metrics", {})
    total = m.get("total_processes")
    if total is None or sum(v for v in states.values() if v) != total:
        lies.append("%s: states %s do not add up to total %s" % (name, states, total))
    if m.get("utilisation") is None or m["utilisation"] > 100:
        lies.append("%s: utilisation %s" % (name, m.get("utilisation")))
    if m.get("oldest_running_request") is None or m["oldest_running_request"] > 60:
        lies.append("%s: oldest running request %s s" % (name, m.get("oldest_running_request")))
    if m.get("running_slow") != 0:
        lies.append("%s: running_slow %s" % (name, m.get("running_slow")))
    if len(workers) != total:
        lies.append("%s: %d workers listed, total %s" % (name, len(workers), total))
print("phantom %d seen %d" % (phantom, seen))
for l in lies:
    print(l)
PY
}
n=0
t0=$SECONDS
got=""
while [ -z "$got" ] && [ $n -lt "$LIMIT_N" ] && [ $((SECONDS - t0)) -lt "$LIMIT_S" ]; do
  n=$((n + 3))
  "$B" --format json --full --timeout 5 "${socks[@]}" >"$dir/fpmstat.json" 2>"$dir/fpmstat.err" || continue
  res=$(check_json "$dir/fpmstat.json") || { fail "fpmstat: output is not the JSON expected: $res"; break; }
  [ "${res%%$'\n'*}" = "phantom 0 seen 0" ] || got=$res
done
if [ -n "$got" ]; then
  pass "fpmstat: a phantom (${got%%$'\n'*}) after $n pool reads in $((SECONDS - t0)) s"
  lies=$(printf '%s\n' "$got" | tail -n +2)
  if [ -z "$lies" ]; then
    pass "fpmstat: with a phantom, no pid 0 worker, no unknown state, states sum to total, utilisation <= 100, oldest running and running_slow sane"
  else
    fail "fpmstat: with a phantom the output is wrong:"
    printf '%s\n' "$lies" | sed 's/^/#   /'
    sed 's/^/#   /' "$dir/fpmstat.json"
  fi
else
  fail "fpmstat: no source.phantom >= 1 in $n pool reads over $((SECONDS - t0)) s"
fi

# ------------------------------------------------------------ 3. collectd
plugdir=$(phpfpm_plugin_dir) || { fail "collectd: no plugin"; exit 1; }
cd_dir=$dir/cd
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  echo "<Plugin phpfpm>"
  for p in $POOLS; do
    cat <<CONF
  <Pool "$p">
    Socket "$dir/run/$p.sock"
    Interval 1
    Timeout 0.9
    Workers "summary"
    SlowThreshold 1
  </Pool>
CONF
  done
  echo "</Plugin>"
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { fail "collectd did not start"; exit 1; }
phantom_rows() {
  local p
  for p in $POOLS; do
    csv_rows "$cd_dir/csv" "testhost/phpfpm-$p/objects-parse_phantom" 2>/dev/null
  done | awk -F, '$2 + 0 >= 1'
}
t0=$SECONDS
# a few reads with a phantom (at least one), so that the notifications had
# their chances too
until [ "$(phantom_rows | wc -l)" -ge 3 ] || [ $((SECONDS - t0)) -ge "$LIMIT_S" ]; do sleep 0.5; done
rows=$(phantom_rows)
reads=$(for p in $POOLS; do csv_rows "$cd_dir/csv" "testhost/phpfpm-$p/objects-parse_phantom" 2>/dev/null; done | wc -l)
if [ -n "$rows" ]; then
  pass "collectd: the plugin read a phantom (objects-parse_phantom >= 1 in $(printf "%s\n" "$rows" | grep -c .) of $reads reads, after $((SECONDS - t0)) s)"
else
  fail "collectd: no read with a phantom in $reads reads over $((SECONDS - t0)) s"
fi
collectd_stop
if san=$(collectd_sanitizer_errors "$cd_dir"); then
  fail "collectd (with the plugin) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi
# (slow-request notifications for real workers may come: on a loaded
# machine a request can run past SlowThreshold; none may name pid 0)
if grep -q 'pid 0[^0-9]' "$COLLECTD_LOG"; then
  fail "collectd: a notification names pid 0:"
  grep 'pid 0[^0-9]' "$COLLECTD_LOG" | head -n 5 | sed 's/^/#   /'
else
  pass "collectd: no notification names pid 0 ($(grep -c 'slow request' "$COLLECTD_LOG") slow-request notifications for real pids in $(wc -l <"$COLLECTD_LOG") log lines)"
fi

exit $((fails > 0))
