/*
 * fpm_proc.h: find the running php-fpm masters in /proc and read each
 * one's own configuration (on the host or inside its container), with the
 * configuration files at the usual places as the fallback for masters
 * that are not running.
 *
 * How a master is found: a process whose title is "php-fpm: master process
 * (FILE)" names its configuration; otherwise a php-fpm process whose
 * parent is not php-fpm is a master, and its configuration is the -y FILE
 * / --fpm-config FILE of its command line, or else the binary's default
 * (PREFIX/etc/php-fpm.conf, /etc/php/X.Y/fpm/php-fpm.conf for Debian's
 * php-fpmX.Y).
 *
 * Trust (discovery runs as root, and a process writes its own title): a
 * master's configuration is read only when its /proc/PID/exe is a regular
 * file named php-fpm* (or php*-fpm*), owned by root and writable by no one
 * else; and each file is checked as fpm_nsroot_trusted says. A master in
 * another mount namespace is read through /proc/PID/root, every path
 * resolved inside that root. A refused master is reported as a warning
 * that names the process and the reason, never the content of a file.
 *
 * Thread-safety: no global state.
 */
#ifndef FPM_FPM_PROC_H
#define FPM_FPM_PROC_H

#include "fpm_conf.h"

#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fpm_master {
  pid_t pid;
  char config[512];  /* its configuration, a path in its own root */
  char prefix[256];  /* -p PREFIX, else the binary's (".../sbin/.." ) */
  const char *found; /* "process title", "command line" or "default" */
  char exe[512];     /* /proc/PID/exe, as the host sees it */
  uid_t uid;         /* effective uid */
  gid_t gid;         /* effective gid */
  uid_t root_uid;    /* host uid of root in its user namespace (0) */
  int other_mnt;     /* in another mount namespace: read via root */
  int other_net;     /* in another network namespace: connect via netns */
  char root[40];     /* "/proc/PID/root" when other_mnt, else "" */
  char netns[40];    /* "/proc/PID/ns/net" when other_net, else "" */
  char tag[40];      /* "ns<inode>" naming the container, "" on the host */
  int trusted;       /* 1: its executable is a root-owned php-fpm */
  char why[1400];    /* when not trusted: why */
};

/* From a process's /proc/PID/cmdline (len bytes, NUL-separated): 1 with
 * its configuration in config when it is titled "php-fpm: master process
 * (FILE)", 0 when it is not (a pool worker's title, anything else). */
int fpm_proc_parse_title(const char *cmdline, size_t len, char *config,
                         size_t cap);

/* From an untitled php-fpm command line: 1 when argv[0]'s base name is
 * php-fpm* or php*-fpm*, with -y/--fpm-config FILE in config ("" when not
 * given) and -p/--prefix DIR in prefix (""); 0 otherwise. Accepts "-y F",
 * "-yF", "--fpm-config F" and "--fpm-config=F". */
int fpm_proc_parse_cmdline(const char *cmdline, size_t len, char *config,
                           size_t ccap, char *prefix, size_t pcap);

/* Whether base (a file's base name) is a php-fpm binary's name. */
int fpm_proc_is_fpm_name(const char *base);

/* The configuration a php-fpm binary at exe reads by default, and its
 * prefix. */
void fpm_proc_default_config(const char *exe, char *config, size_t ccap,
                             char *prefix, size_t pcap);

/* Every php-fpm master under proc ("/proc"; tests may point elsewhere),
 * sorted: the host's first (by configuration path), then the containers'
 * (by tag). *v is malloc'd (free it). Returns 0, or -1 when proc cannot be
 * read. */
int fpm_proc_scan(const char *proc, struct fpm_master **v, size_t *n);

/*
 * The pools of every running master, then of the fallback configurations
 * whose master is not running (opts->default_glob, else
 * /etc/php/<v>/fpm/php-fpm.conf, /etc/php-fpm.conf,
 * /etc/opt/remi/<php>/php-fpm.conf, /opt/cpanel/<ea-php>/root/etc/
 * php-fpm.conf, /opt/plesk/php/<v>/etc/php-fpm.conf and
 * /usr/local/etc/php-fpm.conf). A configuration is read once however it
 * was found. A container's pools are named "<pool>@<tag>" and carry its
 * root, netns and tag (fpm_conf_pool); a host pool whose name an earlier
 * master already has is named "<pool>@<label>" (the version or directory
 * in its configuration's path, e.g. "www@8.1", "www@ea-php81").
 * Returns 0 when at least one file was read, else -1 (conf->diags says
 * why). Free conf with fpm_conf_free either way.
 */
int fpm_proc_load(const struct fpm_conf_opts *opts, struct fpm_conf *conf);

/* fpm_proc_load for path NULL, fpm_conf_load otherwise: what `Discover
 * true` and `fpmstat --discover` read. */
int fpm_discover_load(const char *path, const struct fpm_conf_opts *opts,
                      struct fpm_conf *conf);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_PROC_H */
