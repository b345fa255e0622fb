#!/usr/bin/env bash
# bench_procmem.sh [BUILD_DIR] [ROUNDS]: start a private php-fpm with one
# static pool of 50 workers (tests/harness/fpm.sh, fpm_start_conf), warm
# the workers with 200 requests, run bench_procmem against it (status fetch
# vs reading the 50 workers' memory, in the same run), stop php-fpm by PID.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
. "$here/../tests/harness/fpm.sh"
dir=$(mktemp -d /tmp/fpmbench-mem.XXXXXX)
trap 'fpm_stop; rm -rf "$dir"' EXIT
mkdir -p "$dir/www" "$dir/log" "$dir/run"
echo '<?php $a = str_repeat("x", 1 << 20); echo strlen($a), "\n";' >"$dir/www/hello.php"
cat >"$dir/php-fpm.conf" <<CONF
[global]
pid = $dir/run/php-fpm.pid
error_log = $dir/log/php-fpm.log
daemonize = no

[big]
listen = $dir/run/big.sock
pm = static
pm.max_children = 50
pm.status_path = /status
ping.path = /ping
user = root
group = root
CONF
fpm_start_conf "$dir" "$dir/php-fpm.conf" "$dir/run/big.sock" || exit 1
for i in $(seq 1 200); do
  env -i SCRIPT_NAME=/hello.php SCRIPT_FILENAME="$dir/www/hello.php" \
    REQUEST_METHOD=GET QUERY_STRING= cgi-fcgi -bind -connect "$dir/run/big.sock" >/dev/null 2>&1
done
"$build/bench/bench_procmem" "unix:$dir/run/big.sock" "${2:-300}"
