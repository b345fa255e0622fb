#!/usr/bin/env bash
# it_fault_retry.sh: FPM's status page answers 500 now and then under
# concurrent scrapes ("scoreboard: failed to lock", 8.0.17+/8.1.4+, A.13).
# php-fpm rarely does it on demand, so a small scripted FastCGI server
# (python, unix socket) plays it: "once" answers the first request of each
# pair with FPM's 500 and the next with a captured 200 status page; "always"
# answers 500 every time. fpmstat must retry once within its deadline
# (json: retried true, exit 0) or report the 500 (exit 5, 500 named): never
# a parse error or a crash. Needs: FPMT_BUILD_DIR (fpmstat), python3, jq.
set -u
src_dir=${FPMT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
src=${FPMT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
dir=$(mktemp -d /tmp/fpmt-retry.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$src_dir/tests/harness/tap.sh"

cat >"$dir/fpm500.py" <<'PY'
import os, socket, struct, sys
mode, path, page = sys.argv[1], sys.argv[2], open(sys.argv[3], 'rb').read()
E500 = (b"Status: 500 Internal Server Error\r\nContent-type: text/html; "
        b"charset=UTF-8\r\n\r\nInternal error. Please review log file for errors.\n")
def rec(t, rid, body):
    out = b""
    for i in range(0, max(len(body), 1), 65528):
        c = body[i:i + 65528]
        pad = (8 - len(c) % 8) % 8
        out += struct.pack(">BBHHBx", 1, t, rid, len(c), pad) + c + b"\0" * pad
    return out
def read_request(c):
    buf, rid = b"", 1
    while True:
        while len(buf) >= 8:
            _, t, rid, cl, pl = struct.unpack(">BBHHBx", buf[:8])
            if len(buf) < 8 + cl + pl:
                break
            buf = buf[8 + cl + pl:]
            if t == 4 and cl == 0:
                return rid
        d = c.recv(65536)
        if not d:
            return None
        buf += d
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(64)
print("READY", flush=True)
n = 0
while True:
    c, _ = s.accept()
    rid = read_request(c)
    if rid is not None:
        body = E500 if mode == "always" or n % 2 == 0 else page
        n += 1
        c.sendall(rec(6, rid, body) + struct.pack(">BBHHBx", 1, 3, rid, 8, 0) + b"\0" * 8)
    c.close()
PY

start() { # MODE SOCK
  python3 "$dir/fpm500.py" "$1" "$2" "$src/tests/fixtures/status/php82_www_idle_status_json_full.raw" \
    >"$dir/$1.ready" 2>"$dir/$1.log" &
  pids+=($!)
  local i
  for i in $(seq 1 100); do grep -q READY "$dir/$1.ready" && return 0; sleep 0.05; done
  bad "the scripted server ($1) did not start: $(cat "$dir/$1.log")"
  return 1
}

if start once "$dir/once.sock"; then
  for i in 1 2 3; do
    "$B" --timeout 2 -F json "unix:$dir/once.sock" >"$dir/out" 2>"$dir/err"
    rc=$?
    r=$(jq -r '.. | objects | select(has("retried")) | .retried' "$dir/out" 2>/dev/null | head -1)
    if [ $rc = 0 ] && [ "$r" = true ]; then ok "500 then 200: exit 0, retried once (read $i)"; else
      bad "500 then 200: exit $rc, retried '$r': $(cat "$dir/err")"; fi
  done
fi
if start always "$dir/always.sock"; then
  for f in text json prometheus; do
    "$B" --timeout 2 -F $f "unix:$dir/always.sock" >"$dir/out" 2>"$dir/err"
    rc=$?
    if [ $rc = 5 ] && grep -q 500 "$dir/err"; then ok "500 every time ($f): exit 5: $(head -c 200 "$dir/err")"; else
      bad "500 every time ($f): exit $rc: $(cat "$dir/err")"; fi
  done
fi
echo "it_fault_retry: $fails failure(s)"
[ $fails = 0 ]
