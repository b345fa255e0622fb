#!/usr/bin/env bash
# phpfpm.so exports module_register and nothing else, needs no fpmcore
# symbol from outside (fpmcore is linked in), and every collectd symbol it
# needs is exported by the real daemon (else LoadPlugin fails at dlopen).
set -u
so=${PHPFPM_SO:?PHPFPM_SO is not set}
collectd=${COLLECTD_BIN:-/usr/sbin/collectd}
fail=0
defined=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -vE '^(_init|_fini)$' | sort)
if [ "$defined" != "module_register" ]; then
  echo "FAIL: phpfpm.so exports more than module_register:"; echo "$defined"; fail=1
else
  echo "ok: exports only module_register"
fi
undef=$(nm -D --undefined-only "$so" | awk '{print $2}')
core=$(echo "$undef" | grep -E '^(fpm|fcgi)_' || true)
if [ -n "$core" ]; then
  echo "FAIL: fpmcore symbols left undefined:"; echo "$core"; fail=1
else
  echo "ok: fpmcore is linked in"
fi
if [ "${FPM_SANITIZERS:-OFF}" != ON ] && [ -x "$collectd" ]; then
  # what the daemon and the plugin's own shared libraries (yajl, libc) give
  daemon=$( (nm -D --defined-only "$collectd"
    for lib in $(ldd "$so" | awk '$3 ~ /^\// {print $3}'); do
      nm -D --defined-only "$lib"
    done) | awk '{print $3}' | sed 's/@.*//' | sort -u)
  missing=""
  for s in $(echo "$undef" | grep -v '@' | grep -vE '^(_|__)' ); do
    echo "$daemon" | grep -qx "$s" || missing="$missing $s"
  done
  if [ -n "$missing" ]; then
    echo "FAIL: not exported by $collectd:$missing"; fail=1
  else
    echo "ok: every collectd symbol phpfpm.so needs is exported by $collectd"
  fi
fi
exit $fail
