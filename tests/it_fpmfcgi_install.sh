#!/usr/bin/env bash
# it_fpmfcgi_install.sh: `cmake --install` of the library components alone
# (fpmfcgi, fpmfcgi-dev) into a temporary prefix gives exactly the runtime
# library, the header, the .so link and fpmfcgi.pc; the documented example
# (docs/examples/fcgi_status.c) builds with
# `cc $(pkg-config --cflags --libs fpmfcgi)` against that copy (the .pc
# relocated with --define-variable=prefix), runs with it, and reads a real
# pool's JSON status. Needs: FPMT_BUILD_DIR, FPMT_SOURCE_DIR, cmake, cc, jq.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${FPMT_SOURCE_DIR:-$(cd "$here/.." && pwd)}
build=${FPMT_BUILD_DIR:?FPMT_BUILD_DIR is not set}
. "$here/harness/fpm.sh"
. "$here/harness/tap.sh"
dir=$(mktemp -d /tmp/fpmt-fcgiinst.XXXXXX)
chmod 755 "$dir"
cleanup() {
  fpm_stop
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$build/fpmfcgi.pc" ] || { echo "FAIL: no fpmfcgi.pc in $build (libfpmfcgi not configured)"; exit 1; }
p=$dir/prefix
for c in fpmfcgi fpmfcgi-dev; do
  cmake --install "$build" --prefix "$p" --component "$c" >"$dir/install-$c.log" 2>&1 ||
    { bad "cmake --install --component $c: $(cat "$dir/install-$c.log")"; exit 1; }
done
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
libdir=${libdir:-lib}
got=$(cd "$p" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
want="./include/fpmfcgi/fcgi.h ./$libdir/libfpmfcgi.so ./$libdir/libfpmfcgi.so.0 ./$libdir/libfpmfcgi.so.0.1.0 ./$libdir/pkgconfig/fpmfcgi.pc "
check "the two components install exactly: $want" test "$got" = "$want"

pc() { PKG_CONFIG_PATH=$p/$libdir/pkgconfig pkg-config --define-variable=prefix="$p" "$@" fpmfcgi; }
flags="$(pc --cflags) $(pc --libs)"
# a sanitizer build's library needs the runtimes linked into the program
grep -q '^ENABLE_SANITIZERS:BOOL=ON' "$build/CMakeCache.txt" &&
  flags="$flags -fsanitize=address,undefined"
# shellcheck disable=SC2086 # the flags are words
if cc -std=c11 -Wall -Wextra -pedantic -Werror -o "$dir/fcgi_status" \
  "$src/docs/examples/fcgi_status.c" $flags 2>"$dir/cc.err"; then
  ok "docs/examples/fcgi_status.c builds against the installed copy ($flags)"
else
  bad "the example does not build: $(cat "$dir/cc.err")"
  exit 1
fi
lib=$(LD_LIBRARY_PATH=$p/$libdir ldd "$dir/fcgi_status" | awk '$1 == "libfpmfcgi.so.0" { print $3 }')
check "it loads the installed libfpmfcgi.so.0 (got '$lib')" test "$lib" = "$p/$libdir/libfpmfcgi.so.0"

fpm_start "$dir/fpm" || { bad "php-fpm did not start"; exit 1; }
n=$(LD_LIBRARY_PATH=$p/$libdir "$dir/fcgi_status" "$FPMT_WWW_SOCK" /status json 2>"$dir/ex.err" |
  jq -r '."total processes"')
check "fcgi_status reads the static pool: total processes 4 (got '$n'; $(cat "$dir/ex.err"))" test "$n" = 4
LD_LIBRARY_PATH=$p/$libdir "$dir/fcgi_status" "$FPMT_NOSTATUS_SOCK" >/dev/null 2>"$dir/ex.err"
rc=$?
check "a pool without a status page: exit 1, HTTP 404 named ($(cat "$dir/ex.err"))" \
  bash -c "[ $rc = 1 ] && grep -q 'HTTP 404' '$dir/ex.err'"

echo "# $fails failure(s)"
exit $((fails > 0))
