#!/usr/bin/env bash
# TAP-style checks for the shell tests (sourced, not run):
#   pass MSG / ok MSG           print "ok - MSG"
#   fail MSG / bad MSG          print a failure line and count it in $fails
#   check MSG CMD...            run CMD: pass or fail with MSG
#   now                         wall clock in seconds with nanoseconds
#   add A B                     A + B to 3 decimals
#   is_true EXPR                awk's truth of EXPR ("1.5 <= 2")
#   now_ms                      wall clock in milliseconds
#   wait_for SECONDS CMD...     poll CMD every 50 ms until it succeeds;
#                               1 when SECONDS pass first
# A test ends with its own summary and `exit $((fails > 0))`.
fails=0
pass() { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
ok() { pass "$@"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
now() { date +%s.%N; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
is_true() { awk "BEGIN { exit !($1) }"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
wait_for() {
  local end=$(($(now_ms) + ${1%.*} * 1000))
  shift
  until "$@"; do
    [ "$(now_ms)" -lt "$end" ] || return 1
    sleep 0.05
  done
}
