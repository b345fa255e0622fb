#!/usr/bin/env bash
# it_memory.sh: worker memory and --advise against a real php-fpm 8.2.
#  - for the static (www), dynamic (dyn, TCP) and ondemand (od, after
#    requests made it spawn two workers) pools of tests/harness/fpm.sh,
#    fpmstat's memory figures (workers, rss_total, rss_max, and with --pss
#    pss_total) agree
#    within 5 % with awk over /proc/PID/smaps_rollup for the PIDs the status
#    page listed, read here independently; master_pid is php-fpm's.
#  - "remote": a second php-fpm, listening on loopback TCP, runs in its own
#    PID namespace (unshare --pid --fork --mount-proc). Its status page lists
#    the PIDs it sees there (2, 3, ...), which here are other processes
#    (kthreadd and kernel threads, or nothing): exactly a pool whose PIDs
#    mean nothing on this host, as with a pool on another machine or in a
#    container. fpmstat must say "not local" with a reason and read nothing;
#    --advise must give no figures.
#  - --advise (json and text) with --discover: pm.max_children from the
#    configuration (file:line), the arithmetic (budget = MemAvailable + the
#    pool's PSS, usable = budget less headroom, fits = usable / p95 PSS),
#    --headroom, the cold label (a fresh pool) and its absence after 100
#    requests over 4 workers, and the evidence: the dynamic pool with its 3
#    workers busy is "active 3 of 3 (at pm.max_children)".
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/tap.sh"

B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
dir=$(mktemp -d /tmp/fpmt-mem.XXXXXX)
bg=()
ns_pid=
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "$ns_pid" ] && ns_stop
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The namespaced php-fpm: unshare blocks SIGTERM while it waits for its
# child, so the master (unshare's child; PID 1 in its namespace) is
# signalled, by its PID here, and unshare exits with it.
ns_stop() {
  local master
  master=$(pgrep -P "$ns_pid" | head -n 1)
  [ -n "$master" ] && kill -TERM "$master" 2>/dev/null
  wait "$ns_pid" 2>/dev/null
  ns_pid=
}

request() { # TARGET SCRIPT [QUERY]
  env -i SCRIPT_NAME="/$2" SCRIPT_FILENAME="$FPMT_DOCROOT/$2" \
    REQUEST_METHOD=GET QUERY_STRING="${3:-}" \
    timeout 30 cgi-fcgi -bind -connect "$1" >/dev/null 2>&1
}

# within A B PCT: |A - B| <= PCT % of B
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * p / 100) }'; }

# The kernel's figures for PIDs, in bytes: "n rss_total rss_max pss_total".
proc_figures() {
  local p
  for p in "$@"; do cat "/proc/$p/smaps_rollup"; done 2>/dev/null |
    awk '/^Rss:/ { n++; r += $2 * 1024; if ($2 * 1024 > m) m = $2 * 1024 }
         /^Pss:/ { s += $2 * 1024 }
         END { printf "%d %d %d %d\n", n, r, m, s }'
}

# One pool: fpmstat's memory object against /proc. Tries twice: a worker
# respawned between the two reads changes what both see.
check_pool() { # NAME TARGET
  local name=$1 target=$2 try json pids mem n r m s kn kr km ks
  for try in 1 2; do
    json=$("$B" -F json --full --pss "$target") || { bad "$name: fpmstat failed"; return; }
    pids=$(jq -r '.workers[].pid' <<<"$json")
    read -r kn kr km ks <<<"$(proc_figures $pids)"
    mem=$(jq -c .memory <<<"$json")
    n=$(jq .workers <<<"$mem") r=$(jq .rss_total <<<"$mem")
    m=$(jq .rss_max <<<"$mem") s=$(jq .pss_total <<<"$mem")
    if [ "$(jq .local <<<"$mem")" = true ] && [ "$n" = "$kn" ] &&
      [ "$n" = "$(wc -w <<<"$pids")" ] && within "$r" "$kr" 5 &&
      within "$m" "$km" 5 && within "$s" "$ks" 5 &&
      [ "$(jq .master_pid <<<"$mem")" = "$FPMT_PHP_FPM_PID" ]; then
      ok "$name: $n workers, RSS $r (proc $kr), max $m (proc $km), PSS $s (proc $ks), master $FPMT_PHP_FPM_PID"
      return
    fi
  done
  bad "$name: fpmstat $mem; /proc: n=$kn rss=$kr max=$km pss=$ks for pids $pids"
}

fpm_start "$dir" || { echo "FAIL: php-fpm did not start"; exit 1; }

# ----------------------------------------------------- local pools
check_pool "www (static)" "$FPMT_WWW_SOCK"
check_pool "dyn (dynamic, TCP)" "$FPMT_DYN_ADDR"
# ondemand (pm.max_children 2): a slow request takes one worker; the status
# request that sees it running needs a second one, which php-fpm spawns;
# both stay for pm.process_idle_timeout (10 s) after the slow one ends
request "$FPMT_OD_SOCK" slow.php s=2 &
bg+=($!)
od_busy() { "$B" -F json "$FPMT_OD_SOCK" | jq -e '.metrics.active_processes == 1' >/dev/null; }
wait_until 10 od_busy || bad "od: the slow request did not start"
wait "${bg[@]}"
bg=()
n_od=$("$B" -F json --full "$FPMT_OD_SOCK" | jq '.memory.workers')
[ "$n_od" = 2 ] && ok "od (ondemand): 2 workers after requests made it spawn them" ||
  bad "od: $n_od workers measured"
check_pool "od (ondemand)" "$FPMT_OD_SOCK"

out=$("$B" "$FPMT_WWW_SOCK")
grep -Eq '^  worker memory: +RSS total [0-9.]+ [KMG]iB, p50 [0-9.]+ [KMG]iB, max [0-9.]+ [KMG]iB \(4 workers\)$' <<<"$out" &&
  ok "text: the worker memory line (RSS by default)" || bad "text: $(grep 'worker memory' <<<"$out")"
out=$("$B" --pss "$FPMT_WWW_SOCK")
grep -Eq '^  worker memory: +RSS total [0-9.]+ [KMG]iB, p50 .*; PSS total [0-9.]+ [KMG]?i?B \(4 workers\)$' <<<"$out" &&
  ok "text: the worker memory line with --pss" || bad "text --pss: $(grep 'worker memory' <<<"$out")"
out=$("$B" -F json "$FPMT_WWW_SOCK" | jq -c '[.memory.pss, .memory.pss_total, .metrics.memory_pss_total]')
[ "$out" = '["not asked",null,null]' ] && ok "json without --pss: PSS not asked, null" || bad "json PSS default: $out"
out=$("$B" --no-memory -F json "$FPMT_WWW_SOCK" | jq -c '[.memory, .metrics.memory_rss_total]')
[ "$out" = '[null,null]' ] && ok "--no-memory: memory null, no memory metrics" || bad "--no-memory: $out"
out=$("$B" -F json --pss "$FPMT_WWW_SOCK" | jq -c '[.metrics.memory_workers, .metrics.memory_pss_total > 0]')
[ "$out" = '[4,true]' ] && ok "json metrics: memory_workers 4, memory_pss_total > 0" || bad "json metrics: $out"

# -------------------------------------------- remote: another PID namespace
ns=$dir/ns
mkdir -p "$ns/log" "$ns/run"
ns_port=$(fpm_free_port)
cat >"$ns/php-fpm.conf" <<CONF
[global]
pid = $ns/run/php-fpm.pid
error_log = $ns/log/php-fpm.log
daemonize = no

[remote]
listen = 127.0.0.1:$ns_port
pm = static
pm.max_children = 3
pm.status_path = /status
ping.path = /ping
user = root
group = root
CONF
unshare --pid --fork --mount-proc \
  "$FPM_BIN" -R -F -n -y "$ns/php-fpm.conf" >"$ns/log/stdout.log" 2>&1 &
ns_pid=$!
ns_up() { [ "$(fpm_ping "127.0.0.1:$ns_port")" = pong ]; }
if wait_until 10 ns_up; then
  json=$("$B" -F json --full "127.0.0.1:$ns_port")
  pids=$(jq -c '[.workers[].pid]' <<<"$json")
  mem=$(jq -c .memory <<<"$json")
  if [ "$(jq .ok <<<"$json")" = true ] && [ "$(jq .local <<<"$mem")" = false ] &&
    [ -n "$(jq -r .reason <<<"$mem")" ] && [ "$(jq .rss_total <<<"$mem")" = null ] &&
    [ "$(jq .metrics.memory_rss_total <<<"$json")" = null ]; then
    ok "PID namespace pool (pids $pids): memory not local: $(jq -r .reason <<<"$mem")"
  else
    bad "PID namespace pool: $json"
  fi
  out=$("$B" "127.0.0.1:$ns_port")
  grep -q '^  worker memory: *not local: ' <<<"$out" && ok "text: worker memory: not local" ||
    bad "text: $(grep 'worker memory' <<<"$out")"
  out=$("$B" --advise "127.0.0.1:$ns_port")
  grep -q '^  advice: *none: memory: not local: ' <<<"$out" && ! grep -q '^  fits:' <<<"$out" &&
    ok "--advise on the remote pool: no figures, says not local" || bad "--advise remote: $out"
  out=$("$B" -F prometheus "127.0.0.1:$ns_port" | grep -c '^phpfpm_memory_')
  [ "$out" = 0 ] && ok "prometheus: no memory series for the remote pool" || bad "prometheus remote: $out series"
else
  bad "php-fpm in its own PID namespace did not answer: $(cat "$ns/log/"*.log)"
fi
ns_stop

# ------------------------------------------------------------ --advise
conf=$dir/php-fpm.conf
www_line=$(grep -n '^\[www\]' "$conf" | cut -d: -f1)
adv=$("$B" --discover "$conf" --advise -F json 2>/dev/null | jq -c 'select(.pool == "www")')
a=$(jq -c .advice <<<"$adv")
mc_from=$(jq -r .max_children_from <<<"$a")
[ "$(jq .max_children <<<"$a")" = 4 ] && [ "$mc_from" = "pool www in $conf:$www_line" ] &&
  ok "--advise: pm.max_children 4 from $mc_from" || bad "--advise max_children: $a"
read -r avail budget pool_pss usable fits p95 hr <<<"$(jq -r '[.mem_available, .budget, .pool_pss, .usable, .fits, .pss_p95, .headroom_pct] | @tsv' <<<"$a")"
memavail=$(awk '/^MemAvailable:/ { print $2 * 1024 }' /proc/meminfo)
arith=$(awk -v a="$avail" -v b="$budget" -v p="$pool_pss" -v u="$usable" -v f="$fits" -v q="$p95" -v h="$hr" 'BEGIN {
  if (b != a + p) { print "budget"; exit }
  if (u != int(b * (100 - h) / 100)) { print "usable"; exit }
  if (f != int(u / q)) { print "fits"; exit }
  print "ok" }')
[ "$arith" = ok ] && [ "$hr" = 20 ] && [ "$(jq -r .status <<<"$a")" = ok ] &&
  ok "--advise arithmetic: ($avail + $pool_pss) x 0.8 / $p95 = $fits" || bad "--advise arithmetic ($arith): $a"
within "$avail" "$memavail" 5 && ok "--advise: MemAvailable $avail (/proc/meminfo now: $memavail)" ||
  bad "--advise MemAvailable $avail vs $memavail"
[ "$(jq -r .fit <<<"$a")" = "$(awk -v f="$fits" 'BEGIN { print (4 <= f) ? "fits" : "over" }')" ] &&
  ok "--advise: fit $(jq -r .fit <<<"$a")" || bad "--advise fit: $a"
[ "$(jq .basis.cold <<<"$a")" = true ] && [ "$(jq .basis.samples <<<"$a")" = 1 ] &&
  jq -r .basis.text <<<"$a" | grep -q 'cold pool' &&
  ok "--advise: a fresh pool is labelled cold, one sample" || bad "--advise cold: $a"
a=$("$B" --advise --headroom 50 -F json --max-children 4 "$FPMT_WWW_SOCK" | jq -c .advice)
read -r budget usable fits p95 <<<"$(jq -r '[.budget, .usable, .fits, .pss_p95] | @tsv' <<<"$a")"
[ "$usable" = "$(awk -v b="$budget" 'BEGIN { printf "%.0f", int(b / 2) }')" ] &&
  [ "$fits" = "$(awk -v u="$usable" -v q="$p95" 'BEGIN { printf "%.0f", int(u / q) }')" ] &&
  [ "$(jq -r .max_children_from <<<"$a")" = --max-children ] &&
  ok "--headroom 50: usable = budget / 2, fits $fits" || bad "--headroom 50: $a"
for args in "--advise --headroom 100" "--advise -F prometheus" "--headroom 10" \
  "--advise --no-full"; do
  # shellcheck disable=SC2086 # the words are the options
  "$B" $args "$FPMT_WWW_SOCK" >/dev/null 2>"$dir/usage.err"
  rc=$?
  if [ "$rc" = 1 ] && grep -q 'fpmstat: ' "$dir/usage.err"; then
    ok "$args: usage error ($(head -n 1 "$dir/usage.err"))"
  else
    bad "$args: exit $rc: $(cat "$dir/usage.err")"
  fi
done

# warm: 100 requests over the 4 workers of www
for i in $(seq 1 100); do request "$FPMT_WWW_SOCK" hello.php; done
a=$("$B" --advise -F json "$FPMT_WWW_SOCK" | jq -c .advice)
[ "$(jq .basis.cold <<<"$a")" = false ] && is_true "$(jq .basis.requests_per_worker <<<"$a") >= 20" &&
  ok "--advise after 100 requests: not cold ($(jq .basis.requests_per_worker <<<"$a") requests per worker)" ||
  bad "--advise warm: $a"

# evidence: dyn (pm.max_children 3) with three requests running; its status
# page is served by pm.status_listen's own pool, so the scrape does not
# queue behind them
for i in 1 2 3; do
  request "$FPMT_DYN_ADDR" slow.php s=20 &
  bg+=($!)
done
busy() { "$B" -F json "$FPMT_DYN_STATUS_ADDR" | jq -e '.metrics.active_processes == 3' >/dev/null; }
if wait_until 15 busy; then
  a=$("$B" --advise -F json --max-children 3 "$FPMT_DYN_STATUS_ADDR" | jq -c .advice)
  [ "$(jq -c '[.evidence.active, .evidence.active_at_max_children, .evidence.needs_more, .workers]' <<<"$a")" = '[3,true,true,3]' ] &&
    ok "--advise evidence: active 3 of pm.max_children 3, needs more" || bad "--advise evidence: $a"
  out=$("$B" --advise --max-children 3 "$FPMT_DYN_STATUS_ADDR")
  grep -q '^  needs more workers?: .*active 3 of 3 (at pm.max_children).*: the pool has run out of workers' <<<"$out" &&
    grep -q '^  pm.max_children: *3 (--max-children)$' <<<"$out" &&
    grep -q '^  worker size: *PSS p95 [0-9.]* [KM]iB over 3 workers$' <<<"$out" &&
    grep -q '^  memory for the pool: .* = MemAvailable .* its workers hold now$' <<<"$out" &&
    grep -q '^  fits: *[0-9]* workers with 20% headroom' <<<"$out" &&
    grep -q '^  verdict: *pm.max_children 3 fits .*; raising it up to [0-9]* fits in memory$' <<<"$out" &&
    grep -q '^  basis: *one sample, now, of 3 workers .*cold pool' <<<"$out" &&
    ok "--advise text: labels, figures and evidence" || bad "--advise text: $out"
else
  bad "the slow requests on dyn did not start"
fi

echo "# $fails failure(s)"
[ "$fails" = 0 ]
