/*
 * fpm_nsroot.h: open the files of a running php-fpm master's configuration
 * safely, as root, on the host or inside the master's container.
 *
 * A context names the root the paths resolve in (the host's "/", or a
 * container's "/proc/PID/root", where every path is resolved as
 * openat_root.h says: an absolute symbolic link or ".." never leads out of
 * it)
 * and the master the files belong to (its uid and gid, and the host uid
 * that stands for root where the master is: 0, or what its user namespace
 * maps 0 to). Every file opened is checked on the descriptor itself (no
 * window between check and read) with fpm_nsroot_trusted.
 *
 * Paths given to fpm_nsroot_open and returned by fpm_nsroot_glob carry the
 * root as a prefix ("/proc/123/root/usr/local/etc/php-fpm.conf") so that a
 * diagnostic shows where the file is; a path without that prefix is taken
 * as a path inside the root.
 *
 * Thread-safety: a context is read-only after fpm_nsroot_init and may be
 * used by one thread at a time (it holds one descriptor).
 */
#ifndef FPM_FPM_NSROOT_H
#define FPM_FPM_NSROOT_H

#include "fpm_conf.h"

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fpm_nsroot {
  int root_fd;    /* O_PATH descriptor of the root; -1: the host's "/" */
  char root[40];  /* "/proc/PID/root", or "" for the host */
  uid_t uid;      /* the master's user */
  gid_t gid;      /* the master's group */
  uid_t root_uid; /* the host uid of root where the master runs (0, or the
                     uid its user namespace maps 0 to) */
};

/* Open root (NULL or "": the host) and set the master's ids. Returns 0, or
 * -1 with the reason and the fix in why. Free with fpm_nsroot_close. */
int fpm_nsroot_init(struct fpm_nsroot *r, const char *root, uid_t uid,
                    gid_t gid, uid_t root_uid, char *why, size_t whylen);
void fpm_nsroot_close(struct fpm_nsroot *r);

/*
 * Whether a file with status st may be read for a master running as
 * uid/gid where root is root_uid. It must be a regular file; owned by
 * root_uid or uid; not writable by others, nor by a group other than
 * root's (0) and the master's; and, for a master that does not run as
 * root, readable by it (owned by it, or readable by its group or by
 * others): a file the master itself could not read is never read for it.
 * Returns 0, or -1 with the reason in why (which names no content).
 */
int fpm_nsroot_trusted(const struct stat *st, uid_t uid, gid_t gid,
                       uid_t root_uid, char *why, size_t whylen);

/* A descriptor open for reading on path (see above), resolved in the
 * root, that passed fpm_nsroot_trusted; or -1 with the reason in why. */
int fpm_nsroot_open(const struct fpm_nsroot *r, const char *path, char *why,
                    size_t whylen);

/* The non-directory files that pattern (a glob: '*', '?', '[...]' in any
 * component) matches inside the root, sorted, each with the root as
 * prefix. Same contract as fpm_conf_fs.glob_fn. */
int fpm_nsroot_glob(const struct fpm_nsroot *r, const char *pattern,
                    char ***paths, size_t *n, char *why, size_t whylen);

/* fs hooks for fpm_conf_opts that open and expand through r. */
void fpm_nsroot_fs(struct fpm_nsroot *r, struct fpm_conf_fs *fs);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_NSROOT_H */
