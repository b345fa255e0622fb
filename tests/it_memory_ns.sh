#!/usr/bin/env bash
# it_memory_ns.sh: worker memory of pools whose master runs in its own PID
# namespace (a container), found by discovery from /proc. Real php-fpm 8.2:
#   N  in its own PID and mount namespace (unshare --pid --fork --mount-proc),
#      its configuration on a tmpfs only it sees; pool pn_<tok> on loopback
#      TCP of the host (static, 3 workers), pool pu_<tok> on a unix socket in
#      that tmpfs (static, 2 workers)
#   K  in its own PID, mount and network namespace (as a php:fpm container):
#      pool pk_<tok> on 127.0.0.1:9000 inside (static, 2 workers)
# Their status pages list the PIDs of their namespace (2, 3, ...). fpmstat
# --discover (no PATH) must report each pool's worker memory as local, with
# the master's host PID, the right worker count, and RSS within 5 % of awk
# over /proc/<host pid>/smaps_rollup of the master's children titled with
# the pool, read here independently; the listed PIDs must differ from the
# host's (so the translation is what the test sees). A plain TCP target to
# pn_<tok> (not discovered: no master known) must still say not local. A
# real collectd with Discover true and WorkerMemory true must dispatch
# pn_<tok>'s memory the same way.
# Only our pools are read: every other name is left out by patterns.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/tap.sh"

build=${FPMT_BUILD_DIR:?}
fpmstat=$build/fpmstat
[ -x "$fpmstat" ] || { echo "FAIL: $fpmstat is missing"; exit 1; }
plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-memns.XXXXXX)
tok=$$_$RANDOM
pids=() # the unshare processes
cleanup() {
  local p m
  collectd_stop
  # unshare waits for its child with SIGTERM blocked: the master (its
  # child, PID 1 inside) is signalled by its PID here
  for p in "${pids[@]}"; do
    for m in $(pgrep -P "$p"); do kill -TERM "$m" 2>/dev/null; done
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pool_conf() { # NAME LISTEN MAX_CHILDREN
  printf '[%s]\nlisten = %s\npm = static\npm.max_children = %s\npm.status_path = /status\nping.path = /ping\nuser = root\ngroup = root\n' "$1" "$2" "$3"
}

# A master in new namespaces (unshare's options first), its configuration
# written inside on a tmpfs at $dir/NAME; sets master_NAME to its host PID.
start_master() { # NAME POOLS UNSHARE-OPTIONS...
  local name=$1 pools=$2 c=$dir/$1
  shift 2
  mkdir -p "$c"
  unshare --pid --fork --mount-proc --propagation private "$@" -- bash -c '
    set -e
    c=$1 bin=$2 pools=$3
    ip link set lo up # a no-op unless --net
    mount -t tmpfs -o mode=755 memns "$c"
    mkdir -p "$c/run" "$c/log"
    printf "[global]\npid = %s/run/fpm.pid\nerror_log = %s/log/php-fpm.log\ndaemonize = no\n%s" \
      "$c" "$c" "$pools" >"$c/php-fpm.conf"
    exec "$bin" -R -F -n -y "$c/php-fpm.conf"
  ' _ "$c" "$FPM_BIN" "$pools" >"$dir/$name.out" 2>&1 &
  pids+=($!)
  local u=$! m='' _
  for _ in $(seq 1 200); do
    m=$(pgrep -P "$u" | head -n 1)
    [ -n "$m" ] && grep -q "master process" "/proc/$m/cmdline" 2>/dev/null && break
    m=
    sleep 0.05
  done
  [ -n "$m" ] || { echo "FAIL: master $name did not start"; cat "$dir/$name.out"; exit 1; }
  eval "master_$name=$m"
}

pings() { # TARGET [NETNS]
  if [ -n "${2:-}" ]; then
    [ "$(nsenter --net="$2" bash -c ". '$here/harness/fpm.sh'; fpm_ping '$1'")" = pong ]
  else
    [ "$(fpm_ping "$1")" = pong ]
  fi
}

port=$(fpm_free_port)
start_master n "$(pool_conf "pn_$tok" "127.0.0.1:$port" 3; pool_conf "pu_$tok" "$dir/n/run/u.sock" 2)"
start_master k "$(pool_conf "pk_$tok" 127.0.0.1:9000 2)" --net
# shellcheck disable=SC2154 # set by start_master
{
  wait_until 10 pings "127.0.0.1:$port" &&
    wait_until 10 pings "/proc/$master_n/root$dir/n/run/u.sock" &&
    wait_until 10 pings 127.0.0.1:9000 "/proc/$master_k/ns/net"
} || { echo "FAIL: the pools did not answer"; cat "$dir"/*.out; exit 1; }
check "N's configuration is not on the host (only its mount namespace has it)" \
  test ! -e "$dir/n/php-fpm.conf"
ns_n=$(stat -L -c %i "/proc/$master_n/ns/mnt")
ns_k=$(stat -L -c %i "/proc/$master_k/ns/mnt")

# The master's children titled "php-fpm: pool POOL", by their host PIDs.
host_workers() { # MASTER POOL
  local c t
  for c in $(cat "/proc/$1/task/$1/children"); do
    t=$(tr -d '\0' <"/proc/$c/cmdline" 2>/dev/null)
    [ "$t" = "php-fpm: pool $2" ] && echo "$c"
  done
}
# "n rss_total" in bytes from smaps_rollup of those PIDs.
host_rss() {
  local p
  for p in "$@"; do cat "/proc/$p/smaps_rollup"; done 2>/dev/null |
    awk '/^Rss:/ { n++; r += $2 * 1024 } END { printf "%d %d\n", n, r }'
}
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * p / 100) }'; }

ign=(--discover-ignore '[!p]*' --discover-ignore 'p[!nuk]*' --discover-ignore 'p[nuk][!_]*')

# One discovered pool: fpmstat's memory object against the host's /proc.
# Tries twice: a worker respawned between the two reads changes both.
check_pool() { # POOL DISCOVERED-NAME MASTER WORKERS
  local pool=$1 name=$2 master=$3 want=$4 _ json mem hp kn kr n r listed hosts
  for _ in 1 2; do
    "$fpmstat" --discover "${ign[@]}" -F json --full >"$dir/disc.json" 2>"$dir/disc.err"
    json=$(jq -c "select(.pool == \"$pool\")" "$dir/disc.json")
    mem=$(jq -c .memory <<<"$json")
    hp=$(host_workers "$master" "$pool")
    # shellcheck disable=SC2086 # one PID a word
    read -r kn kr <<<"$(host_rss $hp)"
    n=$(jq .workers <<<"$mem") r=$(jq .rss_total <<<"$mem")
    listed=$(jq -r '[.workers[].pid] | sort | join(" ")' <<<"$json")
    hosts=$(tr '\n' ' ' <<<"$hp" | sed 's/ $//')
    if [ "$(jq .local <<<"$mem")" = true ] && [ "$n" = "$want" ] &&
      [ "$kn" = "$want" ] && within "$r" "$kr" 5 &&
      [ "$(jq .master_pid <<<"$mem")" = "$master" ] &&
      [ -n "$listed" ] && [ "$listed" != "$hosts" ]; then
      ok "$name: local, $n workers (listed as $listed, host pids $hosts), RSS $r (host /proc $kr), master $master"
      return
    fi
  done
  bad "$name: fpmstat $mem (listed $listed); host: n=$kn rss=$kr pids $hosts; stderr: $(cat "$dir/disc.err")"
}

# shellcheck disable=SC2154 # set by start_master
check_pool "pn_$tok" "pn_$tok@ns$ns_n (PID + mount namespace, host TCP)" "$master_n" 3
check_pool "pu_$tok" "pu_$tok@ns$ns_n (PID + mount namespace, unix socket in it)" "$master_n" 2
check_pool "pk_$tok" "pk_$tok@ns$ns_k (PID + mount + network namespace)" "$master_k" 2
check "the discovered names carry the mount namespace tags" \
  grep -qE "^pn_$tok@ns$ns_n " "$dir/disc.err"
out=$("$fpmstat" --discover "${ign[@]}" 2>/dev/null)
grep -Eq '^  worker memory: +RSS total [0-9.]+ [KMG]iB, .*\(3 workers\)$' <<<"$out" &&
  ok "text: pn_$tok's worker memory line" || bad "text: $(grep 'worker memory' <<<"$out")"

# the same pool as a plain TCP target: no master known, its PIDs mean
# nothing here
json=$("$fpmstat" -F json --full "127.0.0.1:$port")
mem=$(jq -c .memory <<<"$json")
[ "$(jq .ok <<<"$json")" = true ] && [ "$(jq .local <<<"$mem")" = false ] &&
  [ "$(jq .rss_total <<<"$mem")" = null ] && [ -n "$(jq -r .reason <<<"$mem")" ] &&
  ok "plain TCP target 127.0.0.1:$port: not local: $(jq -r .reason <<<"$mem")" ||
  bad "plain TCP target: $json"

# ------------------------------------------------------------ collectd
cd_dir=$dir/cd
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  printf '<Plugin phpfpm>\n  Discover true\n  DiscoverInterval 60\n'
  printf '  DiscoverIgnore "%s"\n' '[!p]*' 'p[!nuk]*' 'p[nuk][!_]*'
  printf '  <DiscoverDefaults>\n    WorkerMemory true\n  </DiscoverDefaults>\n'
  printf '</Plugin>\n'
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { bad "collectd did not start"; exit 1; }
log=$cd_dir/collectd.log
csv=$cd_dir/csv/testhost/phpfpm-pn_$tok@ns$ns_n
# A read agrees with the host's /proc (read again each time: figures move)
rss_agrees() {
  local v w
  v=$(csv_last "$csv" memory-rss_total | cut -d, -f2)
  w=$(csv_last "$csv" vs_processes-memory_measured | cut -d, -f2)
  # shellcheck disable=SC2046 # one PID a word
  read -r kn kr <<<"$(host_rss $(host_workers "$master_n" "pn_$tok"))"
  got="memory-rss_total '$v', memory_measured '$w', host $kn workers, RSS $kr"
  [ -n "$v" ] && within "$v" "$kr" 5 && [ "${w%.*}" = 3 ]
}
if wait_until 20 rss_agrees; then
  ok "collectd: pn_$tok@ns$ns_n: $got"
else
  bad "collectd: $got; log:"
  grep "pn_$tok" "$log" | sed 's/^/#   /'
fi
collectd_stop
check "collectd: no 'not local' for our pools" \
  bash -c "! grep -E 'p[nuk]_$tok.*not local' '$log'"
if san=$(collectd_sanitizer_errors "$cd_dir"); then
  fail "collectd printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi
echo "it_memory_ns: $fails failure(s)"
[ "$fails" = 0 ]
