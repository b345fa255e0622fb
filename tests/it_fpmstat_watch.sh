#!/usr/bin/env bash
# it_fpmstat_watch.sh: fpmstat --watch in a real terminal (tmux, on a
# private server socket) against a real php-fpm 8.2: the screen shows the
# pool and the state bar, it redraws, a busy worker shows up with its script
# and age, Ctrl-C ends it with exit status 0 and the cursor visible again,
# and a closed terminal (SIGHUP) ends it too.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/harness/fpm.sh"
B=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}/fpmstat
[ -x "$B" ] || { echo "FAIL: $B is missing"; exit 1; }
command -v tmux >/dev/null || { echo "FAIL: tmux is not installed"; exit 1; }
dir=$(mktemp -d /tmp/fpmt-watch.XXXXXX)
T="tmux -L fpmt-watch-$$"
bg=()
cleanup() {
  local p
  $T kill-server 2>/dev/null
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  fpm_stop
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$here/harness/tap.sh"
pane() { $T capture-pane -p -t "$1" 2>/dev/null; }
shows() { pane "$1" | grep -qE "$2"; }
accepted() { pane "$1" | sed -n 's/.*accepted \([0-9]*\).*/\1/p' | head -n 1; }

fpm_start "$dir" || { echo "FAIL: php-fpm did not start"; exit 1; }

# ------------------------------------------------------------ Ctrl-C
$T new-session -d -s w1 -x 120 -y 40 \
  "$B --watch 0.3 $FPMT_WWW_SOCK $FPMT_DYN_ADDR; echo EXIT=\$? > $dir/exit1; exec sleep 60"
if wait_for 10 shows w1 'POOL www' && shows w1 'POOL dyn' && shows w1 '\[\.+\]'; then
  ok "the screen shows both pools and the worker-state bar"
else
  bad "screen: $(pane w1)"
fi
# worker memory, read from /proc every frame: www's 4 workers
if wait_for 5 shows w1 'worker memory: +RSS total [0-9.]+ [KMG]iB.*\(4 workers\)'; then
  ok "worker memory shows: $(pane w1 | grep -m1 'worker memory' | sed 's/  */ /g')"
else
  bad "no worker memory line: $(pane w1)"
fi
a1=$(accepted w1)
redrawn() { [ -n "$a1" ] && [ "$(accepted w1)" != "$a1" ]; }
wait_for 5 redrawn && ok "it redraws (accepted $a1 -> $(accepted w1))" || bad "no redraw: $(pane w1)"
fpm_slow "$FPMT_WWW_SOCK" 8
if wait_for 5 shows w1 'slowest running' && wait_for 5 shows w1 'slow\.php' &&
  wait_for 5 shows w1 '\[R'; then
  ok "a busy worker shows: $(pane w1 | grep -m1 'slow\.php' | sed 's/  */ /g')"
else
  bad "busy worker not shown: $(pane w1)"
fi
# a reload (SIGUSR2) restarts the pool: the history shows it
if fpm_reload && wait_for 10 shows w1 'POOL www' && wait_for 10 shows w1 'restarts [1-9]'; then
  ok "a reload shows as a restart: $(pane w1 | grep -m1 'restarts' | sed 's/  */ /g')"
else
  bad "reload not shown: $(pane w1)"
fi
[ "$($T display -p -t w1 '#{cursor_flag}')" = 0 ] && ok "the cursor is hidden while drawing" ||
  bad "cursor visible while drawing"
$T send-keys -t w1 C-c
if wait_for 5 test -s "$dir/exit1"; then
  [ "$(cat "$dir/exit1")" = EXIT=0 ] && ok "Ctrl-C: exit status 0" || bad "Ctrl-C: $(cat "$dir/exit1")"
  [ "$($T display -p -t w1 '#{cursor_flag}')" = 1 ] && ok "Ctrl-C: the cursor is visible again" ||
    bad "Ctrl-C: cursor still hidden"
else
  bad "Ctrl-C did not end --watch: $(pane w1)"
fi

# ------------------------------------------------- a closed terminal
$T new-session -d -s w2 -x 100 -y 30 "exec $B --watch 0.3 $FPMT_WWW_SOCK"
wait_for 10 shows w2 'POOL www' || bad "second view did not draw"
pid=$($T display -p -t w2 '#{pane_pid}')
$T kill-session -t w2 # the pane's terminal goes away: SIGHUP
gone() { ! kill -0 "$pid" 2>/dev/null; }
wait_for 5 gone && ok "a closed terminal ends --watch (pid $pid gone)" ||
  bad "fpmstat $pid still runs after its terminal closed"

echo "# $fails failure(s)"
[ "$fails" = 0 ]
