#!/usr/bin/env bash
# bench_fcgi_mux.sh [BUILD_DIR] [ROUNDS]: start a private php-fpm
# (tests/harness/fpm.sh), run bench_fcgi_mux (which starts its own
# Net::Async::FastCGI server), stop php-fpm by PID.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
. "$here/../tests/harness/fpm.sh"
dir=$(mktemp -d /tmp/fpmbench.XXXXXX)
trap 'fpm_stop; rm -rf "$dir"' EXIT
fpm_start "$dir" || exit 1
"$build/bench/bench_fcgi_mux" "${2:-40}"
