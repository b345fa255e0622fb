#!/usr/bin/env bash
# exports.sh LIB HEADER MAP: the shared libfpmfcgi exports exactly the
# functions its public header declares, each under a version node of the map
# (none unversioned, no internal helper), and its soname is libfpmfcgi.so.0.
set -u
lib=$1 header=$2 map=$3
fail=0
bad() { echo "FAIL: $*"; fail=1; }

declared=$(grep -oE '\bfcgi_[a-z0-9_]+\(' "$header" | tr -d '(' | sort -u)
# defined dynamic symbols of type function, with their version
exported=$(nm -D --defined-only --with-symbol-versions "$lib" |
  awk '$2 == "T" { print $3 }' | sort -u)
names=$(printf '%s\n' "$exported" | sed 's/@.*//' | sort -u)
in_map=$(grep -oE '^ +fcgi_[a-z0-9_]+;' "$map" | tr -d ' ;' | sort -u)

extra=$(comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$names"))
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$names"))
[ -z "$extra" ] || bad "exported but not in $(basename "$header"): $extra"
[ -z "$missing" ] || bad "declared in $(basename "$header") but not exported: $missing"
notmap=$(comm -3 <(printf '%s\n' "$declared") <(printf '%s\n' "$in_map"))
[ -z "$notmap" ] || bad "header and $(basename "$map") differ on: $notmap"
unversioned=$(printf '%s\n' "$exported" | grep -v '@@\?FPMFCGI_' || true)
[ -z "$unversioned" ] || bad "exported without an FPMFCGI_ version node: $unversioned"
others=$(nm -D --defined-only "$lib" | awk '$2 != "T" && $2 != "A" { print $3 }')
[ -z "$others" ] || bad "non-function symbols exported: $others"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libfpmfcgi.so.0 ] || bad "soname is '$soname', expected libfpmfcgi.so.0"
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
case $needed in
*yajl* | *collectd*) bad "needs more than libc: $needed" ;;
esac
n=$(printf '%s\n' "$names" | grep -c .)
[ $fail = 0 ] && echo "ok: $n functions exported, all versioned; soname $soname; needs: $needed"
exit $fail
