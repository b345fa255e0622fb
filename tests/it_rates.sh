#!/usr/bin/env bash
# it_rates.sh: the request rate users read leaves out our own requests
# (docs/rates.md), against a real php-fpm 8.2 and its idle static pool www:
#   1. collectd (Interval 1) with the built plugin, csv with raw counters:
#      over >= 10 reads of the idle pools, total_requests-external stays put
#      (rate 0) while the raw total_requests-accepted of www grows by about
#      one per read (our scrapes); collectd's own rate of the external
#      series (unixsock GETVAL) is 0; then N requests of others make the
#      external series grow by exactly N. The same for dyn read through
#      pm.status_listen, where FPM does not count our scrapes at all; and
#      for www after a reload (our count starts again);
#   2. fpmstat --watch in tmux on the idle pool shows "requests 0.0/s" on
#      several redraws while "accepted" keeps growing; a burst of requests
#      shows a rate above 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
. "$here/harness/sinks.sh"
. "$here/harness/tap.sh"
B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
plugdir=$(phpfpm_plugin_dir) || exit 1
command -v tmux >/dev/null || { echo "FAIL: tmux is not installed"; exit 1; }
dir=$(mktemp -d /tmp/fpmt-rates.XXXXXX)
T="tmux -L fpmt-rates-$$"
cleanup() {
  $T kill-server 2>/dev/null
  collectd_stop
  fpm_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fpm_start "$dir/fpm" || { echo "FAIL: php-fpm did not start"; exit 1; }

# ------------------------------------------------------------ 1. collectd
cd_dir=$dir/cd
csv=$cd_dir/csv
mkdir -p "$cd_dir"
# www through its own socket (every scrape is an accepted request of www);
# dyn through pm.status_listen (another pool serves the scrape: dyn's
# counter does not see it, and nothing may be subtracted)
{
  collectd_conf_base "$cd_dir"
  collectd_conf_phpfpm "$plugdir"
  cat <<CONF
<Plugin phpfpm>
  <Pool "www">
    Socket "$FPMT_WWW_SOCK"
    Interval 1
    Workers "summary"
  </Pool>
  <Pool "dyn">
    Address "$FPMT_DYN_STATUS_ADDR"
    Interval 1
    Workers "summary"
  </Pool>
</Plugin>
CONF
} >"$cd_dir/collectd.conf"
collectd_start "$cd_dir" "$cd_dir/collectd.conf" || { echo "FAIL: collectd did not start"; exit 1; }

ext() { echo "testhost/phpfpm-$1/total_requests-external"; }
acc() { echo "testhost/phpfpm-$1/total_requests-accepted"; }
n_rows() { csv_rows "$csv" "$1" 2>/dev/null | wc -l; }
have_rows() { [ "$(n_rows "$1")" -ge "$2" ]; }
val() { echo "${1#*,}"; }
diff_of() { awk -v a="$(val "$1")" -v b="$(val "$2")" 'BEGIN { printf "%d", b - a }'; }

for p in www dyn; do
  check "$p: the first external and accepted rows arrive" \
    wait_until 15 eval 'have_rows "$(ext $p)" 1 && have_rows "$(acc $p)" 1'
done
declare -A e0 a0 r0
for p in www dyn; do
  e0[$p]=$(csv_last "$csv" "$(ext $p)")
  a0[$p]=$(csv_last "$csv" "$(acc $p)")
  r0[$p]=$(n_rows "$(ext $p)")
done
# ten more reads, whatever the machine's load (bounded: 60 s)
for p in www dyn; do
  check "$p: ten more reads within 60 s" wait_until 60 have_rows "$(ext $p)" $((r0[$p] + 10))
done
is_zero() { [[ $1 =~ ^[-+0-9.eE]+$ ]] && is_true "$1 + 0 == 0"; }
declare -A e1
for p in www dyn; do
  e1[$p]=$(csv_last "$csv" "$(ext $p)")
  a1=$(csv_last "$csv" "$(acc $p)")
  reads=$(($(n_rows "$(ext $p)") - r0[$p]))
  de=$(diff_of "${e0[$p]}" "${e1[$p]}")
  da=$(diff_of "${a0[$p]}" "$a1")
  echo "# $p idle: $reads reads; accepted $(val "${a0[$p]}") -> $(val "$a1") (+$da), external $(val "${e0[$p]}") -> $(val "${e1[$p]}") (+$de)"
  check "$p idle: external requests did not grow over $reads reads (+$de, rate 0/s)" test "$de" = 0
  if [ $p = www ]; then
    # every read is one accepted request of ours (a retried one, two): the
    # raw counter keeps its meaning
    check "www idle: the raw accepted counter grew by about one per read (+$da for $reads reads)" \
      test "$da" -ge "$reads" -a "$da" -le $((reads + 3))
  else
    check "dyn idle: the raw accepted counter did not see the scrapes (+$da)" test "$da" = 0
  fi
  rate=$(collectd_getval "$(ext $p)")
  check "$p idle: collectd's rate of total_requests-external is 0 (GETVAL: $rate)" is_zero "$rate"
done

# others' traffic shows, exactly
N=7
got=0
for i in $(seq 1 $N); do
  [ "$(fcgi_get "$FPMT_WWW_SOCK" hello.php "i=$i")" = hello ] && got=$((got + 1))
  [ "$(fcgi_get "$FPMT_DYN_ADDR" hello.php "i=$i")" = hello ] && got=$((got + 1))
done
check "all $((2 * N)) hello.php requests answered (got $got)" test "$got" = $((2 * N))
t_done=$(now)
after() { [ -n "$(csv_rows_since "$csv" "$(ext "$1")" "$(add "$t_done" 1)")" ]; }
for p in www dyn; do
  check "$p: a read after the requests" wait_until 15 after $p
  e2=$(csv_rows_since "$csv" "$(ext $p)" "$(add "$t_done" 1)" | head -n 1)
  de=$(diff_of "${e1[$p]}" "$e2")
  check "$p: external grew by exactly the $N requests of others (+$de)" test "$de" = $N
done
if grep -q '\[error\]' "$COLLECTD_LOG"; then
  fail "collectd logged an error before the reload:"
  grep '\[error\]' "$COLLECTD_LOG" | head -n 5 | sed 's/^/#   /'
fi
# a reload (SIGUSR2) restarts the pools: our count starts again with the
# new counter, so after it the external series still counts exactly the
# requests of others
check "php-fpm reloaded" fpm_reload
t_rl=$(now)
reads_after_reload() { [ "$(csv_rows_since "$csv" "$(ext www)" "$(add "$t_rl" 1)" | wc -l)" -ge 2 ]; }
check "www: two reads after the reload" wait_until 15 reads_after_reload
e3=$(csv_last "$csv" "$(ext www)")
for i in $(seq 1 $N); do fcgi_get "$FPMT_WWW_SOCK" hello.php "r=$i" >/dev/null; done
t_done=$(now)
check "www: a read after the requests" wait_until 15 after www
e4=$(csv_rows_since "$csv" "$(ext www)" "$(add "$t_done" 1)" | head -n 1)
de=$(diff_of "$e3" "$e4")
check "www after the reload: external grew by exactly the $N requests of others (+$de)" test "$de" = $N
collectd_stop
if san=$(collectd_sanitizer_errors "$cd_dir"); then
  fail "collectd (with the plugin) printed a sanitizer report:"
  printf '%s\n' "$san" | sed 's/^/#   /'
fi

# ------------------------------------------------------------ 2. --watch
pane() { $T capture-pane -p -t "$1" 2>/dev/null; }
shows() { pane "$1" | grep -qE "$2"; }
rate_of() { pane "$1" | sed -n 's/.*requests \([0-9.]*\)\/s.*/\1/p' | head -n 1; }
accepted() { pane "$1" | sed -n 's/.*accepted \([0-9]*\).*/\1/p' | head -n 1; }
$T new-session -d -s w1 -x 140 -y 40 "exec $B --watch 0.5 $FPMT_WWW_SOCK"
check "--watch shows a request rate" wait_until 15 shows w1 'requests [0-9.]+/s'
# five redraws: each shows 0.0/s while accepted grows
rates=""
acc_first=$(accepted w1)
prev=$acc_first
for _ in 1 2 3 4 5; do
  changed() { a=$(accepted w1); [ -n "$a" ] && [ "$a" != "$prev" ]; }
  wait_until 10 changed || break
  prev=$(accepted w1)
  rates="$rates $(rate_of w1)"
done
echo "# watch: accepted $acc_first -> $prev, rates:$rates"
check "--watch redrew 5 times (accepted $acc_first -> $prev)" test "$(echo $rates | wc -w)" = 5
zero=1
for r in $rates; do [ "$r" = 0.0 ] || zero=0; done
check "--watch on an idle pool: requests 0.0/s on every redraw ($rates)" test $zero = 1
# a positive control: a burst of requests of others shows
busy() {
  local r i
  for i in 1 2 3 4 5 6 7 8; do fcgi_get "$FPMT_WWW_SOCK" hello.php >/dev/null; done
  r=$(rate_of w1)
  is_true "${r:-0} > 0"
}
if wait_until 20 busy; then
  pass "--watch shows a rate above 0 under traffic ($(rate_of w1)/s)"
else
  fail "--watch shows no rate above 0 under traffic: $(pane w1)"
fi

echo "# $fails failure(s)"
exit $((fails > 0))
