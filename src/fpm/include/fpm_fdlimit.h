/*
 * fpm_fdlimit.h: how many FastCGI connections a process may have open at
 * once, from its descriptor limit (RLIMIT_NOFILE).
 *
 * Reading a list of pools opens one socket per read in flight. A host with
 * more pools than descriptors (a shared host has thousands of pools; a
 * systemd service often runs with 1,024 descriptors, a shell with 256)
 * must read them in turns: fpm_fetch_many keeps at most
 * fpm_fd_window(...) reads in flight and starts the next as one ends.
 *
 * Thread-safety: every function may be called from any thread; the counts
 * are a snapshot (another thread may open descriptors meanwhile, so callers
 * keep a reserve and treat EMFILE as "wait for a read to end").
 */
#ifndef FPM_FPM_FDLIMIT_H
#define FPM_FPM_FDLIMIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Descriptors left free for everything else (logs, the configuration,
 * resolvers, other threads) when sizing a window. */
#define FPM_FD_RESERVE 16

/* The soft RLIMIT_NOFILE; SIZE_MAX when unlimited or unknown. */
size_t fpm_fd_soft_limit(void);

/* Raise the soft RLIMIT_NOFILE to the hard one (allowed without
 * privileges). For programs that poll(), never for a library loaded into
 * a process whose code may use select() (descriptors past FD_SETSIZE).
 * Returns the soft limit in force afterwards, as fpm_fd_soft_limit. */
size_t fpm_fd_raise_soft_limit(void);

/* Descriptors open in this process now whose numbers are below the soft
 * limit (a new descriptor takes the lowest free number, so those above it,
 * e.g. inherited from a shell, take no room), counted in /proc/self/fd,
 * else by probing each number below the limit. */
size_t fpm_fd_open_count(void);

/* Reads that may be in flight at once: limit - open - reserve, at least 1
 * (a read always makes progress) and at most want. limit SIZE_MAX means
 * unlimited. Pure: no system call. */
size_t fpm_fd_window(size_t limit, size_t open, size_t reserve, size_t want);

/* fpm_fd_window for this process now, with FPM_FD_RESERVE. */
size_t fpm_fd_budget(size_t want);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_FDLIMIT_H */
