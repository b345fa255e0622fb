/*
 * phpfpm_fdgate.h: the plugin's reads in flight, bounded by collectd's
 * descriptor limit. Not installed.
 *
 * Every pool is its own read callback and collectd runs them on its read
 * threads (ReadThreads); each read in flight holds one socket. The gate
 * lets at most `limit` reads run at once (by default collectd's soft
 * RLIMIT_NOFILE minus the descriptors open at the first read minus
 * FPM_FD_RESERVE), so a host with more pools than descriptors never fails a
 * read for want of one. A read that waits for a slot waits at most until
 * its own deadline. A read whose connect still fails for want of a
 * descriptor (EMFILE/ENFILE: another plugin took them) while other reads
 * run waits for one of them to end and tries again, within its deadline;
 * the limit then shrinks to the reads that were running.
 *
 * The plugin does not raise collectd's RLIMIT_NOFILE: other plugins may
 * use select(), which breaks on descriptors past FD_SETSIZE.
 *
 * Thread-safety: a gate is shared by all read threads (a mutex inside).
 */
#ifndef PHPFPM_FDGATE_H
#define PHPFPM_FDGATE_H

#include "phpfpm.h"

#include <pthread.h>

struct phpfpm_fd_gate {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* a read ended (CLOCK_MONOTONIC waits) */
  size_t in_flight;
  size_t limit; /* 0: computed at the first read */
};

/* limit 0: from the process's descriptors at the first read. 0, or -1. */
int phpfpm_fd_gate_init(struct phpfpm_fd_gate *g, size_t limit);
void phpfpm_fd_gate_destroy(struct phpfpm_fd_gate *g);

/* fetch(f, ...) through the gate. When no slot frees up before
 * deadline_ms, result says so (FPM_ETIMEOUT, naming the limit). */
fpm_err phpfpm_fd_gate_fetch(struct phpfpm_fd_gate *g, phpfpm_fetch_fn fetch,
                             fpm_fetcher *f, enum fpm_fetch_kind kind,
                             int64_t deadline_ms, fcgi_cancel *cancel,
                             struct fpm_result *result);

/* fpm_fetch through the plugin's one gate (a phpfpm_fetch_fn). */
fpm_err phpfpm_fetch_gated(fpm_fetcher *f, enum fpm_fetch_kind kind,
                           int64_t deadline_ms, fcgi_cancel *cancel,
                           struct fpm_result *result);

#endif /* PHPFPM_FDGATE_H */
