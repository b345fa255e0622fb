#!/usr/bin/env bash
# it_status_capture.sh: fresh status pages from a real php-fpm 8.2 parse the
# same whole and byte by byte, and a `full` page lists one worker per
# "total processes".
#
# Starts a private php-fpm (tests/harness/fpm.sh), captures with cgi-fcgi
# json, json&full, text and text full from the static (www), dynamic (dyn,
# over TCP and through its pm.status_listen) and ondemand (od) pools, then
# again while requests with hostile SCRIPT_NAME, QUERY_STRING, method and
# basic-auth user run on www, and runs tests/tools/parse_check on every
# capture. php-fpm and the background requests are stopped by PID.
# Needs FPMT_BUILD_DIR and FPMT_SOURCE_DIR (set by ctest).
set -u
src=${FPMT_SOURCE_DIR:?}
check=${FPMT_BUILD_DIR:?}/tests/parse_check
. "$src/tests/harness/fpm.sh"

dir=$(mktemp -d /tmp/fpmt-capture.XXXXXX)
bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  fpm_stop
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail=0
die() {
  echo "it_status_capture: $*" >&2
  fail=1
}

[ -x "$check" ] || { echo "it_status_capture: $check not built" >&2; exit 1; }
fpm_start "$dir/fpm" || exit 1

# capture NAME TARGET QUERY: raw cgi-fcgi output (headers + body)
capture() {
  local name=$1 target=$2 query=$3
  env -i SCRIPT_NAME=/status SCRIPT_FILENAME=/status REQUEST_METHOD=GET \
    QUERY_STRING="$query" timeout 10 cgi-fcgi -bind -connect "$target" \
    >"$dir/$name.raw" 2>"$dir/$name.err"
  [ -s "$dir/$name.raw" ] || die "empty capture $name from $target"
}

queries=("json" "json&full" "" "full")
names=(json json_full text text_full)
for pool in www dyn dyn_listen od; do
  case $pool in
  www) t=$FPMT_WWW_SOCK ;;
  dyn) t=$FPMT_DYN_ADDR ;;
  dyn_listen) t=$FPMT_DYN_STATUS_ADDR ;;
  od) t=$FPMT_OD_SOCK ;;
  esac
  for i in 0 1 2 3; do
    capture "${pool}_${names[$i]}" "$t" "${queries[$i]}"
  done
done

# Hostile requests on www (4 workers): 3 slow ones with weird strings. FPM
# matches SCRIPT_FILENAME to the file; SCRIPT_NAME is what it records.
hostile() {
  local name=$1 method=$2 query=$3 auth=$4
  env -i SCRIPT_NAME="$name" SCRIPT_FILENAME="$FPMT_DOCROOT/slow.php" \
    REQUEST_METHOD="$method" QUERY_STRING="$query" HTTP_AUTHORIZATION="$auth" \
    timeout 20 cgi-fcgi -bind -connect "$FPMT_WWW_SOCK" >/dev/null 2>&1 &
  bg_pids+=($!)
}
user_auth="Basic $(printf '%s' 'us"er\x:pw' | base64)"
hostile '/we"ird\name.php' GET "s=4&q=\"quoted\"&b=back\\slash&c=$(printf '\001\t')x" "$user_auth"
hostile '/ctl'"$(printf '\001\037')"'name.php' 'GE"T\<x>&' "s=4&u=$(printf '\303\251\377')" ""
hostile '/<tag>&amp.php' POST "s=4&h=</td><script>" "Basic $(printf 'DOMAIN\\user:pw' | base64)"

# wait (bounded) until the three show up as running
deadline=$((SECONDS + 10))
while :; do
  capture probe "$FPMT_WWW_SOCK" "full"
  n=$(grep -c '^script: *'"$FPMT_DOCROOT"'/slow.php' "$dir/probe.raw")
  [ "${n:-0}" -ge 3 ] && break
  [ $SECONDS -ge $deadline ] && { die "hostile requests did not start"; break; }
  sleep 0.05
done
for i in 0 1 2 3; do
  capture "load_${names[$i]}" "$FPMT_WWW_SOCK" "${queries[$i]}"
done

rm -f "$dir/probe.raw" "$dir/probe.err"
files=("$dir"/*.raw)
out=$("$check" "${files[@]}")
rc=$?
echo "$out"
[ $rc = 0 ] || die "parse_check failed (exit $rc)"
n_ok=$(grep -c '^ok ' <<<"$out")
[ "$n_ok" -eq 20 ] || die "expected 20 parsed captures, got $n_ok"

# the hostile strings decode to what was sent (8.2.36 escapes them in JSON;
# text prints them raw)
for f in load_json_full load_text_full; do
  dump=$("$check" -d "$dir/$f.raw")
  grep -aE '^       method=' <<<"$dump" | cat -v
  grep -qF 'uri="/we"ird\name.php?s=4&q="quoted"&b=back\slash&c=' <<<"$dump" ||
    die "$f: the quoted uri was not decoded"
  grep -qF 'user="us"er\x"' <<<"$dump" || die "$f: the user was not decoded"
  grep -qF 'user="DOMAIN\user"' <<<"$dump" || die "$f: DOMAIN\\user lost"
  grep -qF 'method="GE"T\<x>&"' <<<"$dump" || die "$f: the method was not decoded"
  grep -qF 'uri="/<tag>&amp.php?s=4&h=</td><script>"' <<<"$dump" ||
    die "$f: the markup uri was not decoded"
done
# pool figures of JSON and text agree on the static pool
for p in www od; do
  a=$("$check" -d "$dir/${p}_json.raw" | grep -E '^  (pool=|total processes|start time)')
  b=$("$check" -d "$dir/${p}_text.raw" | grep -E '^  (pool=|total processes|start time)')
  [ "$a" = "$b" ] || die "$p: JSON and text pool figures differ: $a / $b"
done

[ $fail = 0 ] && echo "it_status_capture: all checks passed"
exit $fail
