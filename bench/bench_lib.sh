# shellcheck shell=bash
# bench_lib.sh: what the collectd benchmarks share (sourced by
# bench_collectd.sh and bench_scale.sh).
#
# What a process has cost so far, from /proc (the scripts take deltas over
# a window):
#   ticks PID     utime + stime from /proc/PID/stat, in clock ticks
#                 (1/CLK_TCK s: coarse, printed for reference)
#   sched_ns PID  the run time of all its threads, in ns, summed from
#                 /proc/PID/task/*/schedstat (the figure the goals use)
#   rss_kib PID   its resident set now (VmRSS), in KiB
#
# bench_collectd_base DIR INTERVAL: the global part of a benchmark
# collectd's configuration (logfile, unixsock in DIR; no writer: values go
# into the cache and stop there, see the chain below).

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sched_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

bench_collectd_base() {
  cat <<CONF
Hostname "testhost"
FQDNLookup false
BaseDir "$1"
PluginDir "/usr/lib/collectd"
TypesDB "$SINKS_TYPESDB"
Interval $2
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$1/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin unixsock
<Plugin unixsock>
  SocketFile "$1/collectd.sock"
  SocketGroup "$(id -gn)"
  DeleteSocket true
</Plugin>
# values go into the cache (GETVAL checks them) and stop there: no writer.
# Without this chain collectd's built-in write target logs "Available write
# targets:: [none]" for every value, which would dominate the figures.
PostCacheChain "bench"
<Chain "bench">
  Target "stop"
</Chain>
CONF
}
