#!/usr/bin/env bash
# packages.sh: the Debian packages, end to end, on this machine (as root):
#   1. build them from the tracked files only (a copy of `git ls-files` in a
#      temporary directory; no build tree or untracked file can leak in) with
#      dpkg-buildpackage -b -us -uc;
#   2. lintian on the result: any E: line fails (W: lines are printed);
#   3. apt-get install -y ./*.deb (the four packages, not the -dbgsym ones);
#   4. use each installed piece against a throwaway php-fpm
#      (tests/harness/fpm.sh):
#        fpmstat       /usr/bin/fpmstat reads the static pool (4 workers);
#                      its man page is installed
#        fpmstat-collectd  `collectd -T` loads the installed phpfpm.so from
#                      collectd's own plugin directory with the shipped
#                      /etc/collectd/collectd.conf.d/phpfpm.conf uncommented
#                      (socket path adapted) and stores bool-up 1 in csv
#        libfpmfcgi0 + -dev  the installed example (fcgi_status.c) built with
#                      `cc $(pkg-config --cflags --libs fpmfcgi)` fetches the
#                      pool's JSON status through the installed library; the
#                      header compiles alone in C and C++;
#   5. apt-get purge -y, then every file the packages had (dpkg -L before the
#      purge) is gone, their directories too unless another package owns
#      them, the conffile included, and dpkg knows none of the packages.
# Not run by ctest (its name is not it_*): scripts/test.sh calls it after
# the release tests when running as root with dpkg-buildpackage available.
# It refuses to run when one of the packages is installed already or a file
# they ship exists outside dpkg (the purge would remove it).
# Exit 0 when all passed, 1 otherwise, 77 when it cannot run here.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
PKGS=(fpmstat fpmstat-collectd libfpmfcgi0 libfpmfcgi-dev)

[ "$(id -u)" = 0 ] || { echo "skip: packages.sh installs packages: run it as root"; exit 77; }
for t in dpkg-buildpackage dh lintian apt-get git; do
  command -v "$t" >/dev/null || { echo "skip: $t is missing (scripts/install-deps.sh)"; exit 77; }
done

. "$here/harness/fpm.sh"
. "$here/harness/tap.sh"
export DEBIAN_FRONTEND=noninteractive
work=$(mktemp -d /tmp/fpmt-pkg.XXXXXX)
chmod 755 "$work"
installed=0
cleanup() {
  fpm_stop
  if [ $installed = 1 ]; then
    echo "packages.sh: purging the packages after a failure"
    apt-get purge -y -qq "${PKGS[@]}" >/dev/null 2>&1
  fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
phase_start=$t0
phase() { # print how long the previous phase took
  local now
  now=$(date +%s)
  echo "# $1: $((now - phase_start)) s"
  phase_start=$now
}
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

for p in "${PKGS[@]}"; do
  if pkg_installed "$p"; then
    echo "FAIL: $p is installed already; purge it first (apt-get purge ${PKGS[*]})"
    exit 1
  fi
done
for f in /usr/bin/fpmstat /usr/lib/collectd/phpfpm.so /usr/include/fpmfcgi \
  /etc/collectd/collectd.conf.d/phpfpm.conf; do
  if [ -e "$f" ]; then
    echo "FAIL: $f exists outside any package (a cmake --install?); the purge would remove it: move it away first"
    exit 1
  fi
done
if compgen -G "/usr/lib/*/libfpmfcgi.so*" >/dev/null; then
  echo "FAIL: a libfpmfcgi.so is installed outside dpkg: $(echo /usr/lib/*/libfpmfcgi.so*)"
  exit 1
fi

# ------------------------------------------------------------------ build
# the package version is the project's (the library's VERSION comes from it)
pv=$(sed -n 's/^project(fpmstat VERSION \([^ )]*\).*/\1/p' "$top/CMakeLists.txt")
dv=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
check "debian/changelog's version $dv is the project's ($pv; bump both together)" \
  test "${dv%%-*}" = "$pv"
src=$work/fpmstat
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$src") || { echo "FAIL: cannot copy the tracked files"; exit 1; }
if (cd "$src" && dpkg-buildpackage -b -us -uc -J"$(nproc)") >"$work/build.log" 2>&1; then
  ok "dpkg-buildpackage -b -us -uc from the tracked files"
else
  bad "dpkg-buildpackage failed; the end of its log:"
  tail -n 40 "$work/build.log"
  exit 1
fi
debs=()
for p in "${PKGS[@]}"; do
  f=$(ls "$work"/"${p}"_*.deb 2>/dev/null | head -n 1)
  [ -n "$f" ] || { bad "no ${p}_*.deb was built"; exit 1; }
  debs+=("$f")
done
phase "build"

# ---------------------------------------------------------------- lintian
lintian "$work"/fpmstat_*.changes >"$work/lintian.txt" 2>&1
errors=$(grep -c '^E:' "$work/lintian.txt")
warnings=$(grep -c '^W:' "$work/lintian.txt")
if [ "$errors" = 0 ]; then
  ok "lintian: no error ($warnings warning(s))"
else
  bad "lintian: $errors error(s)"
fi
grep -E '^(E|W):' "$work/lintian.txt"
phase "lintian"

# ---------------------------------------------------------------- install
installed=1
if apt-get install -y -qq --no-install-recommends "${debs[@]}" >"$work/install.log" 2>&1; then
  ok "apt-get install ${PKGS[*]}"
else
  bad "apt-get install failed:"
  tail -n 30 "$work/install.log"
  exit 1
fi
for p in "${PKGS[@]}"; do
  dpkg -L "$p" | sort >"$work/$p.files"
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' "${PKGS[@]}" | awk 'NF { print $1 }')
check "/etc/collectd/collectd.conf.d/phpfpm.conf is a conffile of fpmstat-collectd" \
  grep -qx /etc/collectd/collectd.conf.d/phpfpm.conf <<<"$conffiles"
phase "install"

# ------------------------------------------------------ use the packages
fpm_start "$work/fpm" || { bad "php-fpm did not start"; exit 1; }

# fpmstat
out=$(/usr/bin/fpmstat -F json "$FPMT_WWW_SOCK" 2>"$work/fpmstat.err")
rc=$?
n=$(jq -r '.metrics.total_processes' <<<"$out" 2>/dev/null)
if [ $rc = 0 ] && [ "$n" = 4 ]; then
  ok "installed fpmstat reads the static pool: total_processes 4"
else
  bad "installed fpmstat: exit $rc, total_processes '$n': $(head -c 400 <<<"$out") $(cat "$work/fpmstat.err")"
fi
check "fpmstat's man page is installed" grep -qx /usr/share/man/man1/fpmstat.1.gz "$work/fpmstat.files"
check "the OPcache script is installed read-only, owned by root" \
  test "$(stat -c '%U %a' /usr/share/fpmstat/opcache.php 2>&1)" = "root 444"
out=$(/usr/bin/fpmstat -F json --opcache "$FPMT_WWW_SOCK" 2>"$work/opcache.err")
rc=$?
e=$(jq -r '.opcache.enabled' <<<"$out" 2>/dev/null)
if [ $rc = 0 ] && { [ "$e" = true ] || [ "$e" = false ] || [ "$e" = 1 ] || [ "$e" = 0 ]; }; then
  ok "installed fpmstat --opcache runs the packaged script through the pool (enabled $e)"
else
  bad "installed fpmstat --opcache: exit $rc, enabled '$e': $(head -c 300 <<<"$out") $(cat "$work/opcache.err")"
fi

# fpmstat-collectd: collectd -T with the shipped snippet, uncommented
cd_dir=$work/collectd
mkdir -p "$cd_dir"
sed -e '/^#LoadPlugin phpfpm/,$ s/^#//' \
  -e "s#\"/run/php/php8.2-fpm.sock\"#\"$FPMT_WWW_SOCK\"#" \
  /etc/collectd/collectd.conf.d/phpfpm.conf >"$cd_dir/phpfpm.conf"
cat >"$cd_dir/collectd.conf" <<CONF
Hostname "testhost"
FQDNLookup false
BaseDir "$cd_dir"
PIDFile "$cd_dir/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$cd_dir/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$cd_dir/csv"
  StoreRates false
</Plugin>
Include "$cd_dir/phpfpm.conf"
CONF
timeout -k 5 60 collectd -T -C "$cd_dir/collectd.conf" >"$cd_dir/collectd.out" 2>&1
rc=$?
up=$(tail -n 1 "$cd_dir"/csv/testhost/phpfpm-www/bool-up-* 2>/dev/null | cut -d, -f2)
if [ $rc = 0 ] && [ "$up" = 1.000000 ]; then
  ok "collectd -T loads the installed phpfpm.so with the shipped snippet: bool-up 1"
else
  bad "collectd -T: exit $rc, bool-up '$up'"
  cat "$cd_dir/collectd.out" "$cd_dir/collectd.log" 2>/dev/null | tail -n 20
fi
check "collectd loaded phpfpm from PluginDir /usr/lib/collectd (the only plugin directory)" \
  grep -q 'plugin "phpfpm" successfully loaded' "$cd_dir/collectd.log"

# libfpmfcgi0 + libfpmfcgi-dev: the installed example against the library
ex=/usr/share/doc/libfpmfcgi-dev/examples/fcgi_status.c
flags=$(pkg-config --cflags --libs fpmfcgi 2>&1)
# shellcheck disable=SC2086 # the flags are words
if cc -std=c11 -Wall -Wextra -Werror -o "$work/fcgi_status" "$ex" $flags 2>"$work/cc.err"; then
  ok "the example builds with cc \$(pkg-config --cflags --libs fpmfcgi) ($flags)"
else
  bad "the example does not build: $(cat "$work/cc.err")"
fi
lib=$(ldd "$work/fcgi_status" 2>/dev/null | awk '$1 == "libfpmfcgi.so.0" { print $3 }')
shipped=$(grep '/libfpmfcgi\.so\.0$' "$work/libfpmfcgi0.files")
# compared by real path: with merged /usr, ldd names /lib/... for /usr/lib/...
check "it runs with the packaged library ($lib, shipped as ${shipped:-nothing})" \
  test -n "$lib" -a -n "$shipped" -a "$(realpath "$lib" 2>/dev/null)" = "$(realpath "$shipped" 2>/dev/null)"
n=$("$work/fcgi_status" "$FPMT_WWW_SOCK" /status json 2>"$work/ex.err" | jq -r '."total processes"')
check "fcgi_status reads the pool's JSON status: total processes 4 (got '$n')" test "$n" = 4
"$work/fcgi_status" "unix:$work/none.sock" >/dev/null 2>"$work/ex.err"
rc=$?
check "fcgi_status on a missing socket: exit 1 and a typed error ($(cat "$work/ex.err"))" \
  bash -c "[ $rc = 1 ] && grep -q 'FCGI_ENOENT' '$work/ex.err'"
hdr_alone() { # COMPILER LANGUAGE STANDARD
  # shellcheck disable=SC2046 # the flags are words
  echo '#include <fpmfcgi/fcgi.h>' | "$1" -x "$2" -std="$3" -Wall -Wextra \
    -pedantic -Werror -fsyntax-only $(pkg-config --cflags fpmfcgi) -
}
check "<fpmfcgi/fcgi.h> compiles alone as C99" hdr_alone cc c c99
check "<fpmfcgi/fcgi.h> compiles alone as C++11" hdr_alone c++ c++ c++11
fpm_stop
phase "use"

# ------------------------------------------------------------------ purge
if apt-get purge -y -qq "${PKGS[@]}" >"$work/purge.log" 2>&1; then
  ok "apt-get purge ${PKGS[*]}"
  installed=0
else
  bad "apt-get purge failed:"
  tail -n 30 "$work/purge.log"
fi
left=""
for p in "${PKGS[@]}"; do
  pkg_installed "$p" && bad "$p is still installed"
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'config-files' &&
    bad "$p is left in config-files state"
  while IFS= read -r f; do
    [ "$f" = /. ] && continue
    if [ -d "$f" ] && [ ! -L "$f" ]; then
      # a directory may stay when another package owns it (/usr/lib/collectd)
      dpkg-query -S "$f" >/dev/null 2>&1 || left="$left $f"
    elif [ -e "$f" ] || [ -L "$f" ]; then
      left="$left $f"
    fi
  done <"$work/$p.files"
done
if [ -z "$left" ]; then
  ok "after the purge no file or directory of the packages is left ($(cat "$work"/*.files | sort -u | grep -c .) paths checked)"
else
  bad "left after the purge:$left"
fi
for f in $conffiles; do
  check "conffile $f is gone (no .dpkg-* copy either)" \
    bash -c "! compgen -G '$f*' >/dev/null"
done
phase "purge"

echo "# packages.sh: $(($(date +%s) - t0)) s in all"
echo "# $fails failure(s)"
exit $((fails > 0))
