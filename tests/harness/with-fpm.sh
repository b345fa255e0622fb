#!/usr/bin/env bash
# with-fpm.sh PROGRAM [ARGS...]: start a private php-fpm (see fpm.sh), run
# PROGRAM with the FPMT_* variables exported, stop php-fpm by PID, and exit
# with PROGRAM's status. FPMT_VALGRIND=1 runs PROGRAM under valgrind
# (memcheck, leaks are errors).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/fpm.sh"
dir=$(mktemp -d /tmp/fpmt.XXXXXX)
trap 'fpm_stop; rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM
fpm_start "$dir" || exit 1
if [ "${FPMT_VALGRIND:-0}" = 1 ]; then
  valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --track-fds=no "$@"
else
  "$@"
fi
