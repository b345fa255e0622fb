#!/usr/bin/env bash
# it_soak.sh: collectd with the phpfpm plugin reads 20 pools of one php-fpm
# at Interval 1 for SOAK_SECONDS (default 60; SOAK_SECONDS=600 for the full
# run) while the master is reloaded (SIGUSR2) at random moments and, once,
# stopped and started again (sockets removed and recreated). Checks:
#   - collectd's open fds, threads and RSS after warm-up vs at the end
#     (fds: the fewest seen over 20 samples in 2 s, since a read in flight
#     holds a socket, may not grow by more than 2; threads equal within 2;
#     RSS within 10% + 4 MiB; RSS is not compared in sanitizer builds, where
#     LeakSanitizer reports leaks);
#   - no value lost: every pool has a bool-up row in every interval (no gap
#     over 2.5 s between rows, up or down) and reports up again at the end;
#   - no sanitizer report through phpfpm.so (sanitizer builds preload the
#     ASan/UBSan runtimes into collectd, tests/harness/sinks.sh);
#   - collectd is still alive and its log has no crash.
# Prints the figures as "# soak:" lines. Needs: FPMT_BUILD_DIR with
# collectd-plugin/phpfpm.so, collectd, cgi-fcgi.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
src_dir=${FPMT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
if [ ! -d "$src_dir/collectd-plugin" ] || [ ! -f "$here/harness/sinks.sh" ]; then
  echo "SKIP: this source tree has no collectd plugin or tests/harness/sinks.sh"
  exit 0
fi
. "$here/harness/sinks.sh"

SOAK_SECONDS=${SOAK_SECONDS:-60}
NPOOLS=${SOAK_POOLS:-20}
plugdir=$(phpfpm_plugin_dir) || exit 1
dir=$(mktemp -d /tmp/fpmt-soak.XXXXXX)
cleanup() {
  collectd_stop
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$here/harness/tap.sh"
now_s() { date +%s; }

extra=""
pools=""
for i in $(seq -w 1 "$NPOOLS"); do
  pools="$pools p$i"
  extra="$extra
[p$i]
listen = $dir/fpm/run/p$i.sock
pm = static
pm.max_children = 1
pm.status_path = /status
user = root
group = root"
done
export FPM_POOLS_EXTRA=$extra
fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start"; exit 1; }

cd_dir=$dir/cd
csv=$cd_dir/csv
mkdir -p "$cd_dir"
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  echo '<Plugin phpfpm>'
  for p in $pools; do
    printf '  <Pool "%s">\n    Socket "%s"\n    Timeout 0.5\n    Interval 1\n  </Pool>\n' \
      "$p" "$dir/fpm/run/$p.sock"
  done
  echo '</Plugin>'
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

id() { printf 'testhost/phpfpm-%s/bool-up' "$1"; }
have_rows() { [ "$(csv_rows "$csv" "$(id "$1")" 2>/dev/null | wc -l)" -ge "$2" ]; }
for p in $pools; do
  wait_until 15 have_rows "$p" 2 || bad "$p: no bool-up rows after 15 s"
done

# collectd's resources: fds threads rss_kib. A read in flight holds its
# socket open, so one sample counts up to ReadThreads sockets that are not
# leaked: the fd figure is the fewest seen over 20 samples 0.1 s apart
# (two Intervals), which is collectd's idle baseline.
res() {
  local pid=$COLLECTD_PID n fds min=""
  [ -d /proc/"$pid" ] || { echo "0 0 0"; return; } # gone: every check fails
  for n in $(seq 20); do
    fds=$(ls /proc/"$pid"/fd | wc -l)
    if [ -z "$min" ] || [ "$fds" -lt "$min" ]; then min=$fds; fi
    sleep 0.1
  done
  echo "$min $(ls /proc/"$pid"/task | wc -l) $(awk '/^VmRSS/ {print $2}' /proc/"$pid"/status)"
}
cpu_ticks() { awk '{print $14 + $15}' /proc/"$COLLECTD_PID"/stat; }

warm=$((SOAK_SECONDS / 6))
[ $warm -lt 5 ] && warm=5
sleep "$warm"
read -r fd0 th0 rss0 < <(res)
t_begin=$(now_s)
cpu0=$(cpu_ticks)
t_end=$((t_begin + SOAK_SECONDS))
reloads=0 restarts=0
RANDOM=$$
while [ "$(now_s)" -lt $((t_end - 6)) ]; do
  sleep "$((2 + RANDOM % 5)).$((RANDOM % 10))"
  [ "$(now_s)" -lt $((t_end - 6)) ] || break
  if [ $restarts = 0 ] && [ "$(now_s)" -ge $((t_begin + SOAK_SECONDS / 2)) ]; then
    fpm_stop
    sleep 2
    fpm_start "$dir/fpm" || { bad "php-fpm did not start again"; break; }
    restarts=$((restarts + 1))
  else
    fpm_reload || bad "php-fpm did not answer after a reload"
    reloads=$((reloads + 1))
  fi
done
while [ "$(now_s)" -lt "$t_end" ]; do sleep 0.5; done
# every pool up again within a few intervals
since=$(now_s)
last_up() { csv_rows "$csv" "$(id "$1")" 2>/dev/null | awk -F, -v s="$since" '$1 > s && $2 == 1 {n++} END {exit !(n >= 1)}'; }
for p in $pools; do
  wait_until 6 last_up "$p" || bad "$p: not reported up after the soak"
done
cpu1=$(cpu_ticks) # before res, which takes 2 s
read -r fd1 th1 rss1 < <(res)
hz=$(getconf CLK_TCK)

echo "# soak: $SOAK_SECONDS s, $NPOOLS pools, $reloads reloads, $restarts stop/start"
echo "# soak: collectd fds $fd0 -> $fd1, threads $th0 -> $th1, RSS $rss0 -> $rss1 KiB"
echo "# soak: collectd CPU $(awk -v a="$cpu0" -v b="$cpu1" -v hz="$hz" -v s="$SOAK_SECONDS" 'BEGIN { printf "%.1f%%", (b - a) / hz / s * 100 }') of one core"
# a leak grows the idle baseline; a lower end figure is a read that was in
# flight at the first sampling, not a fault
[ "$fd1" -gt 0 ] && [ $((fd1 - fd0)) -le 2 ] && ok "open fds not grown ($fd0 -> $fd1, fewest of 20 samples)" ||
  bad "open fds grew $fd0 -> $fd1 (fewest of 20 samples)"
[ $((th1 - th0)) -le 2 ] && [ $((th0 - th1)) -le 2 ] && ok "threads flat ($th0 -> $th1)" ||
  bad "threads $th0 -> $th1"
lim=$((rss0 + rss0 / 10 + 4096))
if [ -n "$(sinks_sanitizer_preload)" ]; then
  # ASan's quarantine and allocator caches grow RSS by design: leaks are
  # LeakSanitizer's job here (checked with the other reports below)
  echo "# soak: sanitizer build: RSS not compared ($rss0 -> $rss1 KiB)"
elif [ "$rss1" -le $lim ]; then
  ok "RSS flat ($rss0 -> $rss1 KiB, limit $lim)"
else
  bad "RSS $rss0 -> $rss1 KiB (limit $lim)"
fi

# no value lost: a bool-up row every interval, for every pool
worst=0
rows_total=0
for p in $pools; do
  g=$(csv_rows "$csv" "$(id "$p")" 2>/dev/null | awk -F, -v a="$t_begin" -v b="$t_end" \
    '$1 >= a && $1 <= b { if (n && $1 - t > g) g = $1 - t; t = $1; n++ } END { printf "%d %.2f", n, g }')
  n=${g% *}
  gap=${g#* }
  rows_total=$((rows_total + n))
  awk -v g="$gap" 'BEGIN { exit !(g > 2.5) }' && bad "$p: a gap of $gap s between bool-up rows"
  [ "$n" -ge $((SOAK_SECONDS - 3)) ] || bad "$p: $n bool-up rows in $SOAK_SECONDS s"
  awk -v g="$gap" -v w="$worst" 'BEGIN { exit !(g > w) }' && worst=$gap
done
echo "# soak: $rows_total bool-up rows over $NPOOLS pools, largest gap $worst s"
ok "values every interval checked (largest gap $worst s)"

kill -0 "$COLLECTD_PID" 2>/dev/null && ok "collectd alive" || bad "collectd died"
# stop collectd first: LeakSanitizer reports at exit
collectd_stop
if collectd_sanitizer_errors "$cd_dir" >"$dir/san.txt"; then
  bad "sanitizer reports: $(head -c 2000 "$dir/san.txt")"
else
  ok "no sanitizer report through phpfpm.so"
fi
echo "it_soak: $fails failure(s)"
[ $fails = 0 ]
