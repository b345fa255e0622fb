/*
 * fpm_advise.h: pm.max_children sizing advice from what a pool's workers
 * cost the machine (fpm_procmem.h) and the memory it has left.
 *
 * The arithmetic: a worker is taken at the p95 of the measured workers'
 * PSS; the memory the pool may use is the host's MemAvailable plus what the
 * pool's workers hold now (their PSS, summed), less a headroom share; the
 * workers that fit are that memory divided by the per-worker figure,
 * rounded down. Next to it: the evidence that the pool needs more workers
 * (listen queue now and its high-water mark, max children reached, active
 * workers at pm.max_children now or since start), and how solid the sample
 * is (a cold pool, with few workers or few requests per worker, has not
 * grown to its working size yet).
 *
 * MemAvailable is shared by every pool and every other process on the
 * host: the figure is what this pool alone could grow to. Pure functions
 * over caller-owned data; thread-safe.
 */
#ifndef FPM_FPM_ADVISE_H
#define FPM_FPM_ADVISE_H

#include "fpm_model.h"
#include "fpm_procmem.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FPM_ADVISE_DEFAULT_HEADROOM 20.0 /* percent */
/* Below either, the sample is labelled cold: PHP workers grow over their
 * first requests (caches, autoloaded classes, opcache pages touched). */
#define FPM_ADVISE_COLD_WORKERS 3
#define FPM_ADVISE_COLD_REQUESTS 20 /* per worker, on average */

struct fpm_advise_in {
  const struct fpm_metrics *m;   /* the pool's model; m->st its snapshot */
  const struct fpm_procmem *mem; /* its workers' memory; NULL: not read */
  int have_mem_available;
  uint64_t mem_available; /* MemAvailable, bytes */
  uint64_t max_children;  /* pm.max_children; 0: unknown */
  double headroom_pct;    /* kept free, 0 <= x < 100 */
};

enum fpm_advice_status {
  FPM_ADVICE_OK = 0,         /* the figures below are computed */
  FPM_ADVICE_NO_MEMORY,      /* worker memory not read: why */
  FPM_ADVICE_NO_WORKERS,     /* no worker to measure */
  FPM_ADVICE_NO_PSS,         /* only RSS readable: why */
  FPM_ADVICE_NO_MEMAVAILABLE /* /proc/meminfo has no MemAvailable */
};

enum fpm_advice_fit {
  FPM_FIT_UNKNOWN = 0, /* pm.max_children unknown (or no figures) */
  FPM_FIT_FITS,        /* pm.max_children <= fits */
  FPM_FIT_OVER         /* pm.max_children > fits: a full pool would not fit */
};

struct fpm_advice {
  enum fpm_advice_status status;
  char why[300]; /* status != OK: what is missing, in words */

  /* the figures (status OK) */
  uint64_t workers;       /* measured */
  uint64_t pss_p95;       /* per worker, bytes */
  uint64_t pool_pss;      /* the workers' PSS now, summed */
  uint64_t mem_available; /* MemAvailable */
  uint64_t budget;        /* mem_available + pool_pss */
  double headroom_pct;
  uint64_t usable; /* budget less the headroom */
  uint64_t fits;   /* usable / pss_p95, rounded down */
  uint64_t max_children;
  enum fpm_advice_fit fit;

  /* evidence that the pool needs more workers (have_*: FPM printed it) */
  int have_listen_queue, have_max_listen_queue, have_reached, have_max_active;
  uint64_t listen_queue, max_listen_queue, max_children_reached, max_active;
  int have_active;
  uint64_t active;       /* now, our own scrape excluded */
  int active_at_max;     /* active >= max_children now */
  int max_active_at_max; /* max active processes >= max_children */
  int needs_more;        /* any of the evidence above */

  /* how solid the sample is */
  int cold;                   /* fewer than FPM_ADVISE_COLD_WORKERS workers
                                 or FPM_ADVISE_COLD_REQUESTS per worker */
  double requests_per_worker; /* average over the measured workers */
};

/* Compute the advice for one pool. Never fails: what is missing is a
 * status and a why. */
void fpm_advise(const struct fpm_advise_in *in, struct fpm_advice *out);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_ADVISE_H */
