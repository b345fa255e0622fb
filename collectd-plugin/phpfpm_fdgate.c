/*
 * phpfpm_fdgate.c: reads in flight bounded by collectd's descriptor limit
 * (see phpfpm_fdgate.h).
 */
#include "phpfpm_fdgate.h"

#include "fpm_fdlimit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

int phpfpm_fd_gate_init(struct phpfpm_fd_gate *g, size_t limit) {
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0)
    return -1;
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* fcgi_now_ms's clock */
  int rc = pthread_cond_init(&g->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0)
    return -1;
  if (pthread_mutex_init(&g->mu, NULL) != 0) {
    pthread_cond_destroy(&g->cv);
    return -1;
  }
  g->in_flight = 0;
  g->limit = limit;
  return 0;
}

void phpfpm_fd_gate_destroy(struct phpfpm_fd_gate *g) {
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
}

/* Wait (mu held) for a read to end, until deadline_ms. 0, or -1 when the
 * deadline passed. */
static int wait_for_end(struct phpfpm_fd_gate *g, int64_t deadline_ms) {
  if (fcgi_now_ms() >= deadline_ms)
    return -1;
  struct timespec ts = {(time_t)(deadline_ms / 1000),
                        (long)(deadline_ms % 1000) * 1000000L};
  int rc = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
  return rc == ETIMEDOUT && fcgi_now_ms() >= deadline_ms ? -1 : 0;
}

static int lacked_fd(const struct fpm_result *r) {
  return r->fcgi == FCGI_ENOFILES;
}

fpm_err phpfpm_fd_gate_fetch(struct phpfpm_fd_gate *g, phpfpm_fetch_fn fetch,
                             fpm_fetcher *f, enum fpm_fetch_kind kind,
                             int64_t deadline_ms, fcgi_cancel *cancel,
                             struct fpm_result *result) {
  pthread_mutex_lock(&g->mu);
  if (g->limit == 0)
    g->limit = fpm_fd_budget(SIZE_MAX);
  for (;;) {
    while (g->in_flight >= g->limit) {
      if (wait_for_end(g, deadline_ms) != 0) {
        size_t busy = g->in_flight, limit = g->limit;
        pthread_mutex_unlock(&g->mu);
        fpm_result_clear(result);
        result->err = FPM_ETIMEOUT;
        snprintf(result->message, sizeof result->message,
                 "%s: timed out waiting for a file descriptor: %zu reads in "
                 "flight already use the %zu that collectd's descriptor "
                 "limit leaves to this plugin (raise LimitNOFILE or "
                 "ulimit -n for collectd)",
                 fpm_fetcher_endpoint(f), busy, limit);
        return FPM_ETIMEOUT;
      }
    }
    g->in_flight++;
    pthread_mutex_unlock(&g->mu);
    fpm_err e = fetch(f, kind, deadline_ms, cancel, result);
    pthread_mutex_lock(&g->mu);
    g->in_flight--;
    pthread_cond_broadcast(&g->cv);
    if (e == FPM_OK || !lacked_fd(result) || g->in_flight == 0 ||
        fcgi_now_ms() >= deadline_ms)
      break;
    /* another plugin holds descriptors: fewer reads at once, and this one
     * again once a running read has ended */
    g->limit = g->in_flight;
    if (wait_for_end(g, deadline_ms) != 0)
      break;
  }
  pthread_mutex_unlock(&g->mu);
  return result->err;
}

static pthread_once_t gate_once = PTHREAD_ONCE_INIT;
static struct phpfpm_fd_gate gate;
static int gate_ok;

static void gate_init(void) {
  gate_ok = phpfpm_fd_gate_init(&gate, 0) == 0;
}

fpm_err phpfpm_fetch_gated(fpm_fetcher *f, enum fpm_fetch_kind kind,
                           int64_t deadline_ms, fcgi_cancel *cancel,
                           struct fpm_result *result) {
  pthread_once(&gate_once, gate_init);
  if (!gate_ok)
    return fpm_fetch(f, kind, deadline_ms, cancel, result);
  return phpfpm_fd_gate_fetch(&gate, fpm_fetch, f, kind, deadline_ms, cancel,
                              result);
}
