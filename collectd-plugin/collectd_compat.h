/*
 * collectd_compat.h: the one place that knows where collectd's headers are.
 *
 * Debian's collectd-dev 5.12 installs them under /usr/include/collectd with
 * "collectd/core/..." include paths (build with -DHAVE_CONFIG_H and
 * -I/usr/include/collectd); an upstream source tree uses "plugin.h" and
 * friends instead (define PHPFPM_UPSTREAM_TREE).
 */
#ifndef PHPFPM_COLLECTD_COMPAT_H
#define PHPFPM_COLLECTD_COMPAT_H

#ifdef PHPFPM_UPSTREAM_TREE
#include "collectd.h"

#include "plugin.h"
#include "utils_complain.h"
#else
#include "collectd/core/daemon/collectd.h"

#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_complain.h"
#endif

#endif /* PHPFPM_COLLECTD_COMPAT_H */
