#!/usr/bin/env bash
# Install the Debian 12 packages that building, testing and the demo need.
# Idempotent: installs only what is missing. Run as root.
set -euo pipefail
PKGS=(
  # build
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libyajl-dev libcmocka-dev collectd-dev
  # Debian packages (debian/, tests/packages.sh)
  debhelper lintian fakeroot
  # the real servers the tests and the demo start
  php8.2-fpm php8.2-cli php8.2-opcache libfcgi-bin collectd-core collectd-utils
  libnet-async-fastcgi-perl libfcgi-perl nginx-light
  # sinks and consumers
  graphite-carbon python3-whisper influxdb influxdb-client prometheus
  # collectd's write_prometheus plugin (collectd-core only suggests them)
  libmicrohttpd12 libprotobuf-c1
  # tools
  socat curl jq valgrind tmux procps iproute2
  util-linux # unshare, nsenter, setpriv: it_discover_proc.sh
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
# Do not let package scripts start system services (influxdb, prometheus,
# nginx, collectd, php-fpm) on their default ports during installation.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
echo "install-deps: done"
