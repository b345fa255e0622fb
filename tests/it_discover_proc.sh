#!/usr/bin/env bash
# End-to-end: discovery of running php-fpm masters from /proc (no PATH).
# Real php-fpm 8.2 masters, each with pool names of its own:
#   A  on the host, configuration outside /etc/php ($dir/a), unix socket
#   B  in a private mount namespace, chrooted into a tmpfs root only it
#      sees (configuration /srv/php-fpm.conf, socket /srv/run/b.sock); once
#      it runs, symbolic links to a host file holding a secret marker are
#      planted in its pool.d (absolute, and ".." climbing out)
#   C, D  each in a private network and mount namespace, a pool of the same
#      name (pc_<token>) on 127.0.0.1:9000 (loopback brought up inside), its configuration on
#      a tmpfs only it sees
#   two impostors titled "php-fpm: master process (<secret file>)": a copy
#      of sleep under another name, and one named php-fpm but not owned by
#      root
# fpmstat --discover (no PATH) must list and read A, B, C and D (C's and D's
# pc_<token> as two pools, each tagged with its mount namespace), refuse both
# impostors with the reason, not follow the planted links out of B's root,
# and never print the secret marker; with --opcache it reads OPcache once
# per master, named after the master's configuration (B's as B sees it).
# Run as nobody it must finish, saying
# why each master is not read and that root is needed; as root without
# CAP_SYS_ADMIN it must name C's and D's pools with the reason (no setns)
# and the fix, and still read B. A real collectd with
# Discover true (collectd -T: one read round) must find and read A and C.
# Other tests may run php-fpm masters meanwhile (hundreds of pools): only
# ours are asserted on, and the others' pools are left out with ignore
# patterns (every name not starting with pa_, pb_ or pc_), so that reading
# them cannot slow this test down.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/tap.sh"

build=${FPMT_BUILD_DIR:?}
fpmstat=$build/fpmstat
plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-dproc.XXXXXX)
chmod 755 "$dir" # nobody must reach the impostor binary
tok=$$_$RANDOM
secret="SECRET_hproc_$tok"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the host file nobody may see through a container or an impostor
printf '[%s]\nlisten = /tmp/%s.sock\npm.status_path = /status\n' \
  "$secret" "$secret" >"$dir/secret.conf"
chmod 600 "$dir/secret.conf"

pool_conf() { # NAME LISTEN
  printf '[%s]\nlisten = %s\npm = static\npm.max_children = 2\npm.status_path = /status\nping.path = /ping\nuser = root\ngroup = root\n' "$1" "$2"
}

wait_pid_ping() { # PID TARGET [NETNS]: until TARGET answers ping
  local i
  for i in $(seq 1 200); do
    kill -0 "$1" 2>/dev/null || return 1
    if [ -n "${3:-}" ]; then
      [ "$(nsenter --net="$3" bash -c ". '$here/harness/fpm.sh'; fpm_ping '$2'")" = pong ] && return 0
    else
      [ "$(fpm_ping "$2")" = pong ] && return 0
    fi
    sleep 0.05
  done
  return 1
}

# ------------------------------------------------------------ A: host
a=$dir/a
mkdir -p "$a/run" "$a/log"
{
  printf '[global]\npid = %s/run/fpm.pid\nerror_log = %s/log/php-fpm.log\ndaemonize = no\n' "$a" "$a"
  pool_conf "pa_$tok" "$a/run/a.sock"
} >"$a/php-fpm.conf"
fpm_start_conf "$a" "$a/php-fpm.conf" "$a/run/a.sock" || { echo "FAIL: master A did not start"; exit 1; }

# ------------------------------------------- B: private mount ns, chroot
b=$dir/ctrb
mkdir -p "$b" "$dir/bsrc/pool.d"
printf '[global]\npid = /srv/run/fpm.pid\nerror_log = /srv/log/php-fpm.log\ndaemonize = no\ninclude = /srv/pool.d/*.conf\n' >"$dir/bsrc/php-fpm.conf"
pool_conf "pb_$tok" /srv/run/b.sock >"$dir/bsrc/pool.d/10-b.conf"
unshare --mount --propagation private -- bash -c '
  set -e
  r=$1 src=$2 bin=$3
  mount -t tmpfs -o mode=755 hproc "$r"
  mkdir -p "$r/usr" "$r/etc" "$r/dev" "$r/tmp" "$r/srv/run" "$r/srv/log"
  ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"
  ln -s usr/bin "$r/bin"; ln -s usr/sbin "$r/sbin"
  mount --rbind /usr "$r/usr"; mount --rbind /etc "$r/etc"; mount --rbind /dev "$r/dev"
  cp -r "$src/." "$r/srv/"
  exec chroot "$r" "$bin" -R -F -n -y /srv/php-fpm.conf
' _ "$b" "$dir/bsrc" "$FPM_BIN" >"$dir/b.out" 2>&1 &
pid_b=$!
pids+=("$pid_b")
wait_pid_ping "$pid_b" "/proc/$pid_b/root/srv/run/b.sock" ||
  { echo "FAIL: master B did not start"; cat "$dir/b.out"; exit 1; }
# planted after start (php-fpm does not read them): links out of the root
ln -s "$dir/secret.conf" "/proc/$pid_b/root/srv/pool.d/20-evil.conf"
ln -s "../../../../../../..$dir/secret.conf" "/proc/$pid_b/root/srv/pool.d/30-up.conf"
check "B: the planted link reaches the secret from the host's view (so the test can fail)" \
  grep -q "$secret" "/proc/$pid_b/root/srv/pool.d/20-evil.conf"
check "B: its configuration is not on the host" test ! -e "$b/php-fpm.conf"

# ---------------------------------- C, D: private network + mount ns
start_net() { # NAME
  local c=$dir/$1
  mkdir -p "$c"
  unshare --net --mount --propagation private -- bash -c '
    set -e
    c=$1 bin=$2 pool=$3
    ip link set lo up
    mount -t tmpfs -o mode=755 hproc "$c"
    mkdir -p "$c/run" "$c/log"
    printf "[global]\npid = %s/run/fpm.pid\nerror_log = %s/log/php-fpm.log\ndaemonize = no\n" "$c" "$c" >"$c/php-fpm.conf"
    printf "%s" "$pool" >>"$c/php-fpm.conf"
    exec "$bin" -R -F -n -y "$c/php-fpm.conf"
  ' _ "$c" "$FPM_BIN" "$(pool_conf "pc_$tok" 127.0.0.1:9000)" >"$dir/$1.out" 2>&1 &
  pids+=($!)
  eval "pid_$1=$!"
  wait_pid_ping $! 127.0.0.1:9000 "/proc/$!/ns/net" ||
    { echo "FAIL: master $1 did not start"; cat "$dir/$1.out"; exit 1; }
}
start_net c
start_net d
# shellcheck disable=SC2154 # set by start_net
ns_of() { stat -L -c %i "/proc/$1/ns/mnt"; }
ns_b=$(ns_of "$pid_b")
ns_c=$(ns_of "$pid_c")
ns_d=$(ns_of "$pid_d")

# ------------------------------------------------------------ impostors
cp "$(command -v sleep)" "$dir/sleepcopy"
(exec -a "php-fpm: master process ($dir/secret.conf)" "$dir/sleepcopy" 600) &
pid_e1=$!
pids+=("$pid_e1")
mkdir -p "$dir/imp"
cp "$(command -v sleep)" "$dir/imp/php-fpm"
chown 65534 "$dir/imp/php-fpm"
(exec -a "php-fpm: master process ($dir/secret.conf)" "$dir/imp/php-fpm" 600) &
pid_e2=$!
pids+=("$pid_e2")
title_is() { tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "master process"; }
check "impostors are running with their titles" bash -c "$(declare -f title_is); title_is $pid_e1 && title_is $pid_e2"

# ------------------------------------------------------------ fpmstat
ign=(--discover-ignore '[!p]*' --discover-ignore 'p[!abc]*' --discover-ignore 'p[abc][!_]*')
"$fpmstat" --discover "${ign[@]}" >"$dir/out" 2>"$dir/err"
rc=$?
echo "# fpmstat --discover: rc $rc; listing of ours:"
grep -E "_$tok|@ns($ns_b|$ns_c|$ns_d)" "$dir/out" | grep -v '^==' | sed 's/^/#   /'
grep -E "master ($pid_e1|$pid_e2)|$b|/proc/$pid_b/" "$dir/err" | sed 's/^/#   /'
check "A (host, config outside /etc/php) listed" \
  grep -qE "^pa_$tok +static +2  unix:$a/run/a.sock /status\$" "$dir/out"
section_pool() { # SECTION-HEADER POOL: the section shows that pool
  awk -v h="$1" -v p="$2" '$0 == h { on = 1; next } /^== / { on = 0 }
    on && $1 == "pool:" && $2 == p { found = 1 } END { exit !found }' "$dir/out"
}
check "A read (its status section says pool pa_$tok)" section_pool "== unix:$a/run/a.sock ==" "pa_$tok"
check "B (private mount ns, chroot) listed as pb_$tok@ns$ns_b" \
  grep -qE "^pb_$tok@ns$ns_b +static +2  unix:/srv/run/b.sock /status\$" "$dir/out"
check "B read through its root" \
  section_pool "== unix:/srv/run/b.sock@ns$ns_b ==" "pb_$tok"
for x in c d; do
  eval "ns=\$ns_$x"
  check "$x (private net ns) listed as pc_$tok@ns$ns, 127.0.0.1:9000" \
    grep -qE "^pc_$tok@ns$ns +static +2  127.0.0.1:9000 /status\$" "$dir/out"
  check "$x read from inside its network namespace" \
    section_pool "== tcp://127.0.0.1:9000@ns$ns ==" "pc_$tok"
done
check "C and D are two pools (two tags)" test "$ns_c" != "$ns_d"
check "B's planted absolute link is not followed out of its root (reported, not read)" \
  grep -q "^fpmstat: /proc/$pid_b/root/srv/pool.d/20-evil.conf: not read: cannot open: No such file" "$dir/err"
check "B's planted '..' link is not followed out of its root" \
  grep -q "^fpmstat: /proc/$pid_b/root/srv/pool.d/30-up.conf: not read: cannot open: No such file" "$dir/err"
check "impostor 1 refused: its executable is not php-fpm" \
  grep -q "^fpmstat: php-fpm master $pid_e1: titled as the master of $dir/secret.conf, not read: its executable $dir/sleepcopy is not php-fpm" "$dir/err"
check "impostor 2 refused: its executable is not owned by root" \
  grep -q "^fpmstat: php-fpm master $pid_e2: titled as the master of $dir/secret.conf, not read: its executable $dir/imp/php-fpm is owned by uid 65534" "$dir/err"
check "the secret marker is in no output of fpmstat" \
  bash -c "! grep -q '$secret' '$dir/out' '$dir/err'"

# prometheus: the pools of both containers' pc_ are two targets
"$fpmstat" --discover "${ign[@]}" -F prometheus >"$dir/prom" 2>"$dir/prom.err"
check "prometheus: C's and D's pc_$tok are two endpoints" \
  bash -c "grep -q '^phpfpm_up{.*scrape_uri=\"tcp://127.0.0.1:9000@ns$ns_c\"} 1' '$dir/prom' &&
    grep -q '^phpfpm_up{.*scrape_uri=\"tcp://127.0.0.1:9000@ns$ns_d\"} 1' '$dir/prom'"
check "the secret marker is in no prometheus output" \
  bash -c "! grep -q '$secret' '$dir/prom' '$dir/prom.err'"

# --opcache (the masters run without OPcache: "not loaded" is a result):
# one read per master, each named after its configuration as the master
# sees it, with its container's tag first (docs/opcache.md)
"$fpmstat" --discover "${ign[@]}" --opcache -F json >"$dir/oc.json" 2>"$dir/oc.err"
name_of() { printf '%s' "${1#/}" | sed 's/\.conf$//' | tr / _; }
got=$(jq -r 'select(.opcache.master != null) | .opcache.master' "$dir/oc.json" | sort | tr '\n' ' ')
want=$(printf '%s\n' "$(name_of "$a/php-fpm.conf")" "ns$ns_c-$(name_of "$dir/c/php-fpm.conf")" \
  "ns$ns_d-$(name_of "$dir/d/php-fpm.conf")" | sort | tr '\n' ' ')
check "--opcache: A, C and D read once each, named after their configurations ($got)" \
  test "$got" = "$want"
check "--opcache: B's master named from /srv/php-fpm.conf in its root (ns$ns_b-srv_php-fpm)" \
  grep -q "OPcache of ns$ns_b-srv_php-fpm not read" "$dir/oc.err"

# ------------------------------------------------ not root: no hang, why
setpriv --reuid=65534 --regid=65534 --clear-groups \
  timeout 60 "$fpmstat" --discover "${ign[@]}" >"$dir/nobody.out" 2>"$dir/nobody.err"
rc=$?
check "as nobody: fpmstat finishes (rc $rc, not a timeout)" test "$rc" != 124
check "as nobody: master A named as not read, saying to run as root" \
  grep -q "^fpmstat: php-fpm master $FPMT_PHP_FPM_PID: titled as the master of $a/php-fpm.conf, not read: .*run as root" "$dir/nobody.err"
check "as nobody: master C named as not read, saying to run as root" \
  grep -q "^fpmstat: php-fpm master $pid_c: .*run as root" "$dir/nobody.err"
check "as nobody: the secret marker is in no output" \
  bash -c "! grep -q '$secret' '$dir/nobody.out' '$dir/nobody.err'"

# ------------------------- root without CAP_SYS_ADMIN: no setns, why
setpriv --bounding-set=-sys_admin \
  timeout 60 "$fpmstat" --discover "${ign[@]}" >"$dir/nocap.out" 2>"$dir/nocap.err"
rc=$?
grep -E "pc_$tok" "$dir/nocap.err" | sed 's/^/#   /'
check "without CAP_SYS_ADMIN: fpmstat finishes (rc $rc, not a timeout, not 0)" \
  bash -c "[ $rc != 124 ] && [ $rc != 0 ]"
check "without CAP_SYS_ADMIN: C's pool named, with the reason and the fix" \
  grep -q "^fpmstat: pool pc_$tok@ns$ns_c (/proc/$pid_c/root$dir/c/php-fpm.conf:[0-9]*): tcp://127.0.0.1:9000@ns$ns_c: .*cannot enter the network namespace /proc/$pid_c/ns/net .*needs root (CAP_SYS_ADMIN)" "$dir/nocap.err"
check "without CAP_SYS_ADMIN: B (unix socket in its root, no setns) still read" \
  grep -q "^  pool: *pb_$tok (static)" "$dir/nocap.out"

# ------------------------------------------------------------ collectd
cd_dir=$dir/cd
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  printf '<Plugin phpfpm>\n  Discover true\n  DiscoverInterval 60\n'
  printf '  DiscoverIgnore "%s"\n' '[!p]*' 'p[!abc]*' 'p[abc][!_]*'
  printf '</Plugin>\n'
} >"$cd_dir/collectd.conf"
collectd_cmd -T -C "$cd_dir/collectd.conf" >"$cd_dir/collectd.out" 2>&1
rc=$?
check "collectd -T with Discover true: rc 0 (got $rc)" test "$rc" = 0
log=$cd_dir/collectd.log
for p in "pa_$tok" "pc_$tok@ns$ns_c" "pc_$tok@ns$ns_d" "pb_$tok@ns$ns_b"; do
  check "collectd: $p discovered and read without an error" \
    bash -c "grep -q 'phpfpm plugin: pool \"$p\": discovered in ' '$log' &&
      grep -q 'phpfpm plugin: pool \"$p\": reading ' '$log' &&
      ! grep -q '\\[error\\] phpfpm plugin: pool \"$p\"' '$log'"
done
check "collectd: the impostors are logged as not read" \
  grep -q "php-fpm master $pid_e1: titled as the master of $dir/secret.conf, not read" "$log"
check "the secret marker is in no collectd output" \
  bash -c "! grep -rq '$secret' '$cd_dir'"
if san=$(collectd_sanitizer_errors "$cd_dir/collectd.out"); then
  fail "collectd -T printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi
echo "it_discover_proc: $fails failure(s)"
[ "$fails" = 0 ]
