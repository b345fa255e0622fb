/*
 * fpm_watch.h: fpmstat --watch, a top-like view of one or more pools redrawn
 * in place (plain ANSI sequences, no curses).
 *
 * Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken
 * by one helper thread (sigwait), which cancels a fetch in flight
 * (fcgi_cancel_trigger) and wakes the main loop; no signal handler and no
 * global state. SIGPIPE is ignored so a closed terminal shows up as EPIPE or
 * EIO on write, which also ends the view cleanly. The cursor is restored on
 * every way out.
 */
#ifndef FPM_FPM_WATCH_H
#define FPM_FPM_WATCH_H

#include "fpm_fetch.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fpm_watch_opts {
  double interval_s;       /* between the starts of two fetches, > 0 */
  double timeout_s;        /* per fetch, > 0 */
  double slow_threshold_s; /* model option; 0 = default */
  uint64_t max_children;   /* model option; 0 = unknown */
  size_t top_n;            /* slowest requests shown per pool; 0 = 5 */
  int fd;                  /* where to draw (a terminal), usually 1 */
  int memory; /* show the workers' memory: RSS of every worker every frame,
                 PSS (with pss) kept between frames (fpm_memcache) */
  int pss;
};

/* Run until SIGINT, SIGTERM, SIGHUP, or a write error on fd. Returns the
 * exit status: 0 when stopped by a signal or a closed terminal, 1 when it
 * could not start (the reason on stderr). names[i] names fs[i]. */
int fpm_watch_run(const struct fpm_watch_opts *o, fpm_fetcher *const *fs,
                  const char *const *names, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_WATCH_H */
