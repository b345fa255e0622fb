# shellcheck shell=bash
# cpu_sample.sh: what a process has cost so far, from /proc (sourced by
# bench_collectd.sh and bench_scale.sh, which take deltas over a window).
#   ticks PID     utime + stime from /proc/PID/stat, in clock ticks
#                 (1/CLK_TCK s: coarse, printed for reference)
#   sched_ns PID  the run time of all its threads, in ns, summed from
#                 /proc/PID/task/*/schedstat (the figure the goals use)
#   rss_kib PID   its resident set now (VmRSS), in KiB

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
