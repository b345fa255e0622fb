#!/usr/bin/env bash
# it_fpmstat_sinks.sh: every machine format of fpmstat, taken from a real
# php-fpm 8.2 (with hostile request strings in flight and a pool named
# "we ird,pool=x"), handed to the real consumer:
#   prometheus -> promtool check metrics (exit 0, lint included)
#   influx     -> InfluxDB 1.x over HTTP (204), then queried back
#   graphite   -> carbon-cache, read back from whisper
#   putval     -> collectd's exec plugin running fpmstat as nobody, read back
#                 with collectdctl getval and from the csv files
# Worker memory (memory_* series: RSS by default for local pools, PSS with
# --pss) is in every format and reaches every sink; as nobody (collectd
# exec) smaps_rollup is not readable, so RSS arrives and PSS does not.
# Servers come from tests/harness/fpm.sh and sinks.sh, are waited for by
# readiness checks and stopped by PID.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
if [ ! -f "$here/harness/sinks.sh" ]; then
  echo "FAIL: tests/harness/sinks.sh is missing"
  exit 1
fi
. "$here/harness/sinks.sh"
. "$here/harness/opcache.sh"
B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
dir=$(mktemp -d /tmp/fpmt-sinks.XXXXXX)
chmod 755 "$dir"
bg=()
cleanup() {
  local p
  sinks_stop_all
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  fpm_stop
  oc_stop
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$here/harness/tap.sh"

export FPM_POOLS_EXTRA="
[we ird,pool=x]
listen = $dir/run/weird.sock
pm = static
pm.max_children = 2
pm.status_path = /status
user = root
group = root

[pub]
listen = $dir/run/pub.sock
listen.mode = 0666
pm = static
pm.max_children = 2
pm.status_path = /status
user = root
group = root
"
fpm_start "$dir" || { echo "FAIL: php-fpm did not start"; exit 1; }
WEIRD=$dir/run/weird.sock PUB=$dir/run/pub.sock
wait_until 5 test -S "$WEIRD" && wait_until 5 test -S "$PUB" || bad "extra pools did not come up"

# hostile strings in flight in www and in the weird pool
q=$(printf '&a="q"&b=\\x\\&c=x,y=z w&nl=%s&bad=%s&e=a\\' $'\n' $'\xff\xc3')
fpm_slow "$FPMT_WWW_SOCK" 60 "$q"
fpm_slow "$WEIRD" 60 "$q"
wait_until 5 fpm_slow_running "$FPMT_WWW_SOCK" 1 && wait_until 5 fpm_slow_running "$WEIRD" 1 ||
  bad "the hostile requests did not start"
TARGETS=("$FPMT_WWW_SOCK" "$FPMT_DYN_ADDR" "$FPMT_OD_SOCK" "$WEIRD")

# a master with OPcache for --opcache (docs/opcache.md); ocpub's socket is
# open to nobody, for the collectd exec plugin below
oc_start "$dir/oc" "
[ocpub]
listen = $dir/oc/run/ocpub.sock
listen.mode = 0666
pm = static
pm.max_children = 1
pm.status_path = /status
user = root
group = root
" || bad "php-fpm with OPcache did not start"
OCPUB=$dir/oc/run/ocpub.sock
OCF=(--opcache --opcache-script "$OC_SCRIPT")

# ----------------------------------------------------------- prometheus
for full in "" --full; do
  "$B" --format prometheus --pss $full "${TARGETS[@]}" >"$dir/prom.txt" 2>"$dir/err"
  rc=$?
  out=$(promtool check metrics <"$dir/prom.txt" 2>&1)
  prc=$?
  if [ "$rc" = 0 ] && [ "$prc" = 0 ]; then
    ok "promtool check metrics: exit 0 (prometheus ${full:-summary}, $(grep -vc '^#' "$dir/prom.txt") series)"
  else
    bad "prometheus ${full}: fpmstat $rc, promtool $prc: $out $(cat "$dir/err")"
  fi
done
"$B" --format prometheus "${OCF[@]}" "$OC_A_SOCK" "$OC_B_SOCK" >"$dir/prom-oc.txt" 2>"$dir/err"
rc=$?
out=$(promtool check metrics <"$dir/prom-oc.txt" 2>&1)
prc=$?
if [ "$rc" = 0 ] && [ "$prc" = 0 ] &&
  [ "$(grep -c '^phpfpm_opcache_hits_total{pool="oc[ab]"' "$dir/prom-oc.txt")" = 2 ]; then
  ok "promtool check metrics: exit 0 with --opcache ($(grep -c '^phpfpm_opcache' "$dir/prom-oc.txt") OPcache series)"
else
  bad "prometheus --opcache: fpmstat $rc, promtool $prc: $out $(cat "$dir/err")"
fi
grep -q '^phpfpm_active_processes{pool="www",scrape_uri="unix:[^"]*"} 1$' "$dir/prom.txt" &&
  grep -q '^phpfpm_up{pool="we ird,pool=x",' "$dir/prom.txt" &&
  [ "$(grep -c '^phpfpm_process_state{pool="www",' "$dir/prom.txt")" = 24 ] &&
  ok "prometheus values: www active 1 (the hostile request), 4x6 state series" ||
  bad "prometheus values: $(grep -E '^phpfpm_(active|up)' "$dir/prom.txt")"
grep -q '^phpfpm_memory_measured_processes{pool="www",scrape_uri="unix:[^"]*"} 4$' "$dir/prom.txt" &&
  [ "$(grep -c '^phpfpm_memory_\(rss_sum\|rss_p50\|rss_max\|pss_sum\)_bytes{pool="www",' "$dir/prom.txt")" = 4 ] &&
  ok "prometheus: www worker memory, 4 workers measured, RSS and PSS series" ||
  bad "prometheus memory: $(grep '^phpfpm_memory_' "$dir/prom.txt")"

# ------------------------------------------------------------- influxdb
if influx_start "$dir/influx"; then
  influx_query "" "CREATE DATABASE fpm" >/dev/null
  "$B" --format influx --full --pss "${TARGETS[@]}" >"$dir/lines.txt"
  code=$(curl -sS --max-time 10 -o "$dir/influx.err" -w '%{http_code}' -XPOST \
    "http://127.0.0.1:$INFLUX_HTTP_PORT/write?db=fpm" --data-binary @"$dir/lines.txt")
  [ "$code" = 204 ] && ok "InfluxDB accepted $(wc -l <"$dir/lines.txt") lines (HTTP 204)" ||
    bad "InfluxDB write: HTTP $code $(cat "$dir/influx.err")"
  r=$(influx_query fpm "SELECT active_processes, total_processes FROM phpfpm WHERE pool = 'www'")
  [ "$(jq -c '.results[0].series[0].values[0][1:]' <<<"$r")" = "[1,4]" ] &&
    ok "InfluxDB: www active 1, total 4" || bad "InfluxDB query: $r"
  r=$(influx_query fpm "SELECT total_processes FROM phpfpm WHERE pool = 'we ird,pool=x'")
  [ "$(jq -c '.results[0].series[0].values[0][1]' <<<"$r")" = 2 ] &&
    ok "InfluxDB: the pool tag 'we ird,pool=x' round-trips" || bad "InfluxDB weird pool: $r"
  r=$(influx_query fpm "SELECT memory_workers, memory_rss_total, memory_pss_total FROM phpfpm_fpmstat WHERE pool = 'www'")
  jq -e '.results[0].series[0].values[0] | .[1] == 4 and .[2] > 0 and .[3] > 0' <<<"$r" >/dev/null &&
    ok "InfluxDB: www memory_workers 4, memory_rss_total and memory_pss_total > 0" ||
    bad "InfluxDB memory: $r"
  r=$(influx_query fpm "SELECT count(pid) FROM phpfpm_process WHERE pool = 'www'")
  [ "$(jq -c '.results[0].series[0].values[0][1]' <<<"$r")" = 4 ] &&
    ok "InfluxDB: 4 phpfpm_process points for www" || bad "InfluxDB process count: $r"
  r=$(influx_query fpm "SHOW TAG VALUES FROM phpfpm_process WITH KEY = request_uri WHERE pool = 'www'")
  jq -e '.results[0].series[0].values[] | select(.[1] | test("slow.php.*a=\"q\""))' <<<"$r" >/dev/null &&
    ok "InfluxDB: the hostile uri is one tag value" || bad "InfluxDB uri tags: $r"
  "$B" --format influx "${OCF[@]}" "$OC_A_SOCK" >"$dir/lines-oc.txt"
  code=$(curl -sS --max-time 10 -o "$dir/influx.err" -w '%{http_code}' -XPOST \
    "http://127.0.0.1:$INFLUX_HTTP_PORT/write?db=fpm" --data-binary @"$dir/lines-oc.txt")
  [ "$code" = 204 ] && ok "InfluxDB accepted the --opcache lines (HTTP 204)" ||
    bad "InfluxDB --opcache write: HTTP $code $(cat "$dir/influx.err")"
  r=$(influx_query fpm "SELECT enabled, cached_scripts, hit_ratio, memory_used FROM phpfpm_opcache WHERE pool = 'oca'")
  jq -e '.results[0].series[0].values[0] | .[1] == 1 and .[2] >= 1 and .[3] >= 0 and .[3] <= 1 and .[4] > 1000000' <<<"$r" >/dev/null &&
    ok "InfluxDB: phpfpm_opcache enabled 1, cached_scripts, hit_ratio, memory_used read back" ||
    bad "InfluxDB opcache query: $r"
  influx_stop
else
  bad "influxd did not start"
fi

# ---------------------------------------------------------------- carbon
if carbon_start "$dir/carbon"; then
  "$B" --format graphite --full --pss --graphite-prefix fpmt. --host test.host "${TARGETS[@]}" >"$dir/graphite.txt"
  socat -u -T 5 - "TCP:127.0.0.1:$CARBON_PORT" <"$dir/graphite.txt"
  if carbon_wait_metric fpmt.test_host.phpfpm-www.vs_processes-total 20; then
    v=$(carbon_fetch fpmt.test_host.phpfpm-www.vs_processes-total 3600 | tail -n 1 | cut -f2)
    [ "${v%.*}" = 4 ] && ok "carbon: www total 4 read back from whisper" || bad "carbon value: $v"
  else
    bad "carbon: www total never arrived"
  fi
  if carbon_wait_metric fpmt.test_host.phpfpm-www.vs_processes-memory_measured 20 &&
    carbon_wait_metric fpmt.test_host.phpfpm-www.memory-pss_total 20; then
    v=$(carbon_fetch fpmt.test_host.phpfpm-www.vs_processes-memory_measured 3600 | tail -n 1 | cut -f2)
    [ "${v%.*}" = 4 ] && ok "carbon: www memory measured 4, memory-pss_total arrived" ||
      bad "carbon memory value: $v"
  else
    bad "carbon: www memory series never arrived"
  fi
  carbon_wait_metric "fpmt.test_host.phpfpm-we_ird_pool=x.vs_processes-active" 20 &&
    ok "carbon: the weird pool's path, escaped as write_graphite does" ||
    bad "carbon: weird pool path missing: $(ls "$CARBON_STORAGE/fpmt/test_host")"
  ! grep -qi 'invalid line' "$CARBON_DIR/log/carbon-cache.out" &&
    ok "carbon: no invalid line in $(wc -l <"$dir/graphite.txt") lines" ||
    bad "carbon: $(grep -i 'invalid line' "$CARBON_DIR/log/carbon-cache.out" | head -3)"
  "$B" --format graphite "${OCF[@]}" --graphite-prefix fpmt. --host test.host "$OC_A_SOCK" >"$dir/graphite-oc.txt"
  socat -u -T 5 - "TCP:127.0.0.1:$CARBON_PORT" <"$dir/graphite-oc.txt"
  if carbon_wait_metric fpmt.test_host.phpfpm_opcache-oca.cache_size-scripts 20; then
    v=$(carbon_fetch fpmt.test_host.phpfpm_opcache-oca.memory-used 3600 | tail -n 1 | cut -f2)
    [ "${v%.*}" -gt 1000000 ] 2>/dev/null && ok "carbon: OPcache memory-used $v read back from whisper" ||
      bad "carbon OPcache memory-used: '$v'"
  else
    bad "carbon: the OPcache series never arrived"
  fi
  carbon_stop
else
  bad "carbon-cache did not start"
fi

# -------------------------------------------------------- collectd exec
# exec refuses to run children as root: fpmstat runs as nobody, from a copy
# nobody can reach, against the pool whose socket is 0666
mkdir -p "$dir/bin" && cp "$B" "$dir/bin/fpmstat" && chmod 755 "$dir/bin" "$dir/bin/fpmstat"
asnobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
asnobody "$dir/bin/fpmstat" "$PUB" >/dev/null 2>&1 && ok "nobody can read the pub pool" ||
  bad "nobody cannot run fpmstat against $PUB"
asnobody "$dir/bin/fpmstat" "$FPMT_WWW_SOCK" >/dev/null 2>"$dir/eacces"
rc=$?
[ "$rc" = 2 ] && grep -q 'permission denied' "$dir/eacces" && grep -q 'mode' "$dir/eacces" &&
  ok "nobody against a 0660 root socket: exit 2, the message names owner and mode" ||
  bad "EACCES: exit $rc: $(cat "$dir/eacces")"
mkdir -p "$dir/cd"
{
  collectd_conf_base "$dir/cd"
  cat <<CONF
LoadPlugin exec
<Plugin exec>
  Exec "nobody:nogroup" "$dir/bin/fpmstat" "--format" "putval" "--full" "--pss" "$PUB"
  Exec "nobody:nogroup" "$dir/bin/fpmstat" "--format" "putval" "--opcache" "--opcache-script" "$OC_SCRIPT" "$OCPUB"
</Plugin>
CONF
} >"$dir/cd/collectd.conf"
chmod 755 "$dir/cd"
if collectd_start "$dir/cd" "$dir/cd/collectd.conf"; then
  total_is_2() { [ "$(collectd_getval testhost/phpfpm-pub/vs_processes-total 2>/dev/null)" = 2.000000e+00 ]; }
  if wait_until 20 total_is_2; then
    ok "collectd exec: getval testhost/phpfpm-pub/vs_processes-total = 2"
  else
    bad "collectd: $(collectd_listval | head -5) $(tail -5 "$COLLECTD_LOG")"
  fi
  a=$(collectd_getval testhost/phpfpm-pub/vs_processes-active 2>/dev/null)
  [ "$a" = 0.000000e+00 ] && ok "collectd: pub active 0 (our own request excluded)" ||
    bad "collectd: pub active $a"
  wait_until 10 csv_last "$dir/cd/csv" testhost/phpfpm-pub/total_requests-accepted >/dev/null &&
    ok "collectd csv: $(csv_last "$dir/cd/csv" testhost/phpfpm-pub/total_requests-accepted) (raw counter)" ||
    bad "collectd csv: no accepted counter"
  rss_there() { collectd_getval testhost/phpfpm-pub/memory-rss_total >/dev/null 2>&1; }
  if wait_until 10 rss_there; then
    v=$(collectd_getval testhost/phpfpm-pub/memory-rss_total 2>/dev/null)
    if awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' &&
      ! collectd_listval | grep -q 'testhost/phpfpm-pub/memory-pss_total'; then
      ok "collectd exec as nobody with --pss: memory-rss_total $v, no pss_total (smaps_rollup not readable)"
    else
      bad "collectd exec memory: rss $v, $(collectd_listval | grep 'phpfpm-pub/memory-')"
    fi
  else
    bad "collectd exec: no memory-rss_total for pub"
  fi
  oc_enabled() { [ "$(collectd_getval testhost/phpfpm_opcache-ocpub/bool-enabled 2>/dev/null)" = 1.000000e+00 ]; }
  wait_until 20 oc_enabled &&
    ok "collectd exec --opcache: getval testhost/phpfpm_opcache-ocpub/bool-enabled = 1" ||
    bad "collectd exec --opcache: $(collectd_listval | grep opcache | head -3)"
  n=$(collectd_listval | grep -c 'testhost/phpfpm_opcache-ocpub/')
  [ "$n" -ge 14 ] && ok "collectd: $n phpfpm_opcache-ocpub identifiers" || bad "collectd: only $n OPcache identifiers"
  n=$(collectd_listval | grep -c 'testhost/phpfpm-pub/')
  [ "$n" -ge 30 ] && ok "collectd: $n phpfpm-pub identifiers" || bad "collectd: only $n identifiers"
  if grep -iE 'exec plugin.*(error|unable|fail)|parse' "$COLLECTD_LOG" | grep -v 'Cowardly' | grep -q .; then
    bad "collectd log: $(grep -iE 'error|unable|fail|parse' "$COLLECTD_LOG" | head -3)"
  else
    ok "collectd log: no exec or parse errors"
  fi
  collectd_stop
else
  bad "collectd did not start"
fi

echo "# $fails failure(s)"
[ "$fails" = 0 ]
