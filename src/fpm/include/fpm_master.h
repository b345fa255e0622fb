/*
 * fpm_master.h: the name of a php-fpm master, for what belongs to a master
 * rather than to a pool (OPcache: fpm_opcache.h, docs/opcache.md).
 *
 * A master is named after its main configuration file (the php-fpm.conf it
 * was started with; discovery knows it, fpm_conf_pool.master_conf), so the
 * name is the same across restarts and reloads and two masters get two
 * names. Known layouts get a short name:
 *
 *   /etc/php/8.2/...               php8.2-fpm        (Debian, Ubuntu)
 *   /opt/cpanel/ea-php81/...       ea-php81-fpm      (cPanel EasyApache)
 *   /opt/plesk/php/8.1/...         plesk-php8.1-fpm  (Plesk)
 *   /etc/opt/remi/php81/...        remi-php81-fpm    (Remi's SCL packages)
 *   /etc/php-fpm.conf, /etc/php-fpm.d/...            php-fpm
 *   /usr/local/etc/php-fpm.conf, .../php-fpm.d/...   local-php-fpm
 *
 * Any other path gives its own sanitised form: the leading '/' and a
 * trailing ".conf" dropped, '/' made '_', every byte outside [A-Za-z0-9_.-]
 * made '-' ("/srv/fpm-a/php-fpm.conf" gives "srv_fpm-a_php-fpm"); a form
 * longer than FPM_MASTER_BASE_MAX keeps its last part and gets "-" and 8
 * hex digits of a hash of the whole path. A master in a container has its
 * tag first ("ns4026532001-local-php-fpm"). Names use only [A-Za-z0-9_.-]:
 * no '/', so they are usable as a collectd plugin instance, a Graphite path
 * part, an InfluxDB tag or a Prometheus label as they are.
 *
 * Thread-safety: no global state.
 */
#ifndef FPM_FPM_MASTER_H
#define FPM_FPM_MASTER_H

#include "fpm_conf.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest name from a path alone, in bytes (no NUL). */
#define FPM_MASTER_BASE_MAX 40

/* The name of the master whose main configuration is conf_path (a path as
 * the master sees it: in its own root), before fpm_master_name_pools tells
 * colliding masters apart. NULL or "" gives "default". Into out (cap bytes;
 * FPM_MASTER_BASE_MAX + 1 is always enough). */
void fpm_master_name_of(const char *conf_path, char *out, size_t cap);

/* 1 when conf_path is the standard configuration of its known layout
 * (/etc/php/<v>/fpm/php-fpm.conf, /opt/cpanel/<x>/root/etc/php-fpm.conf,
 * /opt/plesk/php/<v>/etc/php-fpm.conf, /etc/opt/remi/<x>/php-fpm.conf,
 * /etc/php-fpm.conf, /usr/local/etc/php-fpm.conf): the master that keeps
 * the short name when another configuration of that layout would get it
 * too. Else 0. */
int fpm_master_is_standard(const char *conf_path);

/*
 * Set every pool's `master` in conf: its tag and "-" when it has a tag,
 * then fpm_master_name_of(master_conf). A pool without master_conf (a
 * struct not filled by a loader) is named from its file, and shares its
 * name with every pool whose file gives the same name (as before master
 * configurations were known).
 *
 * Two different master configurations that would get the same name are
 * told apart, deterministically: the standard one (fpm_master_is_standard)
 * keeps the name, each other gets "-" and 8 hex digits of a hash of its
 * path appended. So the standard master's name never changes, and the
 * others' depend only on their own paths.
 *
 * The loaders (fpm_conf_load, fpm_conf_load_buffer, fpm_proc_load) call it;
 * call it again after changing master_conf or tag. Costs one pass over the
 * pools plus a comparison per pair of distinct masters.
 */
void fpm_master_name_pools(struct fpm_conf *conf);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_MASTER_H */
