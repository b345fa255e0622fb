/*
 * fpm_advise.c: the sizing arithmetic of fpm_advise.h (figures, evidence,
 * cold-sample label). Printing is the CLI's (fpm_output_advise.c).
 */
#include "fpm_advise.h"

#include <stdio.h>
#include <string.h>

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* What the pool says about needing more workers. */
static void evidence(const struct fpm_advise_in *in, struct fpm_advice *a) {
  const struct fpm_status *st = in->m->st;
  a->max_children = in->max_children;
  a->have_listen_queue = fpm_status_has(st, FPM_F_LISTEN_QUEUE);
  a->listen_queue = st->v[FPM_F_LISTEN_QUEUE];
  a->have_max_listen_queue = fpm_status_has(st, FPM_F_MAX_LISTEN_QUEUE);
  a->max_listen_queue = st->v[FPM_F_MAX_LISTEN_QUEUE];
  a->have_reached = fpm_status_has(st, FPM_F_MAX_CHILDREN_REACHED);
  a->max_children_reached = st->v[FPM_F_MAX_CHILDREN_REACHED];
  a->have_max_active = fpm_status_has(st, FPM_F_MAX_ACTIVE_PROCESSES);
  a->max_active = st->v[FPM_F_MAX_ACTIVE_PROCESSES];
  a->have_active = in->m->have_counts;
  a->active = in->m->active;
  a->active_at_max =
      a->have_active && in->max_children > 0 && a->active >= in->max_children;
  a->max_active_at_max = a->have_max_active && in->max_children > 0 &&
                         a->max_active >= in->max_children;
  a->needs_more = (a->have_listen_queue && a->listen_queue > 0) ||
                  (a->have_max_listen_queue && a->max_listen_queue > 0) ||
                  (a->have_reached && a->max_children_reached > 0) ||
                  a->active_at_max || a->max_active_at_max;
}

/* Whether the figures can be computed; sets status and why when not. */
static int usable_input(const struct fpm_advise_in *in, struct fpm_advice *a) {
  const struct fpm_procmem *p = in->mem;
  if (p == NULL || p->state == FPM_PROCMEM_UNREAD) {
    a->status = FPM_ADVICE_NO_MEMORY;
    snprintf(a->why, sizeof a->why, "worker memory was not read");
    return 0;
  }
  if (p->state != FPM_PROCMEM_LOCAL) {
    a->status = p->state == FPM_PROCMEM_UNAVAILABLE && p->listed == 0
                    ? FPM_ADVICE_NO_WORKERS
                    : FPM_ADVICE_NO_MEMORY;
    snprintf(a->why, sizeof a->why, "%s%s",
             p->state == FPM_PROCMEM_NOT_LOCAL ? "memory: not local: " : "",
             p->reason);
    return 0;
  }
  if (p->rss.n == 0) {
    a->status = FPM_ADVICE_NO_WORKERS;
    snprintf(a->why, sizeof a->why, "no worker to measure");
    return 0;
  }
  if (!p->pss_known && !p->pss_read) {
    a->status = FPM_ADVICE_NO_PSS;
    snprintf(a->why, sizeof a->why, "PSS was not read");
    return 0;
  }
  if (!p->pss_known) {
    a->status = FPM_ADVICE_NO_PSS;
    snprintf(a->why, sizeof a->why,
             "PSS unreadable (smaps_rollup needs root or the workers' user): "
             "RSS counts shared pages in every worker, so it cannot say how "
             "many fit");
    return 0;
  }
  if (!in->have_mem_available) {
    a->status = FPM_ADVICE_NO_MEMAVAILABLE;
    snprintf(a->why, sizeof a->why,
             "/proc/meminfo has no MemAvailable (kernel before 3.14?)");
    return 0;
  }
  return 1;
}

void fpm_advise(const struct fpm_advise_in *in, struct fpm_advice *out) {
  memset(out, 0, sizeof *out);
  evidence(in, out);
  const struct fpm_procmem *p = in->mem;
  if (p != NULL && p->state == FPM_PROCMEM_LOCAL && p->rss.n > 0) {
    out->workers = p->rss.n;
    out->requests_per_worker = (double)p->requests / (double)p->rss.n;
    out->cold = p->rss.n < FPM_ADVISE_COLD_WORKERS ||
                out->requests_per_worker < FPM_ADVISE_COLD_REQUESTS;
  }
  if (!usable_input(in, out))
    return;
  double h = in->headroom_pct;
  if (!(h >= 0 && h < 100))
    h = FPM_ADVISE_DEFAULT_HEADROOM;
  out->headroom_pct = h;
  out->pss_p95 = p->pss.p95;
  out->pool_pss = p->pss.total;
  out->mem_available = in->mem_available;
  out->budget = add_sat(in->mem_available, p->pss.total);
  out->usable = (uint64_t)((double)out->budget * (100.0 - h) / 100.0);
  /* a worker of PSS 0 (impossible for a live process) would fit without
   * end: count it as one page */
  uint64_t per = out->pss_p95 > 0 ? out->pss_p95 : 4096;
  out->fits = out->usable / per;
  if (in->max_children > 0)
    out->fit = in->max_children <= out->fits ? FPM_FIT_FITS : FPM_FIT_OVER;
}
