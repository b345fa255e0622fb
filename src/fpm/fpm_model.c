/*
 * fpm_model.c: the metric model. Owns worker accounting (recount by state,
 * exclusion of the scrape's own request), utilisation, the bounded worker
 * statistics and the per-pool history (restart and respawn detection,
 * deltas). Allocates only the history's pid arrays and, above 256 workers,
 * one scratch array while computing percentiles.
 */
#include "fpm_model.h"
#include "fpm_num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Up to this many values are sorted on the stack; above it in one heap
 * scratch array, or (over opts->stats_sort_cap, or out of memory) the ranks
 * are found by bisection over the value range: exact, no memory, slower. */
#define FPM_STATS_STACK 256

/* A request duration at or above 2^63 us is a wrapped negative (php bug
 * 62382), not a duration: it is left out of every statistic. */
#define FPM_DURATION_SANE_MAX (UINT64_C(1) << 63)

static int has_w(const struct fpm_worker *w, enum fpm_worker_field f) {
  return (w->present >> f) & 1u;
}

static enum fpm_state worker_state(const struct fpm_worker *w) {
  if (!has_w(w, FPM_W_STATE) || (unsigned)w->state >= FPM_STATE__COUNT)
    return FPM_STATE_UNKNOWN;
  return w->state;
}

static int uri_has(const struct fpm_worker *w, const char *needle) {
  return needle != NULL && needle[0] != '\0' && w->uri != NULL &&
         strstr(w->uri, needle) != NULL;
}

/* Index of our own request's worker: the first non-Idle worker whose uri
 * carries the marker; -1 if none. */
static long find_self(const struct fpm_status *st, const char *marker) {
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    if (worker_state(w) != FPM_STATE_IDLE && uri_has(w, marker))
      return (long)i;
  }
  return -1;
}

/* ------------------------------------------------------------- counts */

static void count_from_list(const struct fpm_status *st, long self,
                            struct fpm_metrics *m) {
  for (size_t i = 0; i < st->n_workers; i++)
    m->by_state[worker_state(&st->workers[i])]++;
  /* Entries the parser dropped still exist. Those FPM's own idle figure
   * accounts for beyond the listed Idle rows are taken as Idle (old PHP
   * keeps a broken uri on Idle rows), the rest as unknown (active). */
  uint64_t dropped = st->dropped, dropped_idle = 0;
  if (dropped > 0 && fpm_status_has(st, FPM_F_IDLE_PROCESSES)) {
    uint64_t fpm_idle = st->v[FPM_F_IDLE_PROCESSES];
    uint64_t listed = m->by_state[FPM_STATE_IDLE];
    if (fpm_idle > listed)
      dropped_idle = fpm_idle - listed < dropped ? fpm_idle - listed : dropped;
  }
  m->by_state[FPM_STATE_IDLE] += (uint32_t)dropped_idle;
  m->by_state[FPM_STATE_UNKNOWN] += (uint32_t)(dropped - dropped_idle);
  if (self >= 0) {
    m->by_state[worker_state(&st->workers[self])]--;
    m->by_state[FPM_STATE_IDLE]++;
  }
  m->total = st->n_workers + dropped;
  m->idle = m->by_state[FPM_STATE_IDLE];
  m->active = m->total - m->idle;
  m->have_counts = 1;
}

static void count_from_pool(const struct fpm_status *st,
                            struct fpm_metrics *m) {
  if (!fpm_status_has(st, FPM_F_ACTIVE_PROCESSES) ||
      !fpm_status_has(st, FPM_F_IDLE_PROCESSES))
    return;
  m->active = st->v[FPM_F_ACTIVE_PROCESSES];
  m->idle = st->v[FPM_F_IDLE_PROCESSES];
  m->total = fpm_status_has(st, FPM_F_TOTAL_PROCESSES)
                 ? st->v[FPM_F_TOTAL_PROCESSES]
                 : m->active + m->idle;
  m->have_counts = 1;
}

static void utilisation(struct fpm_metrics *m) {
  m->utilisation = -1.0;
  m->utilisation_max_children = -1.0;
  if (!m->have_counts)
    return;
  if (m->total > 0)
    m->utilisation = (double)m->active / (double)m->total * 100.0;
  if (m->max_children > 0)
    m->utilisation_max_children =
        (double)m->active / (double)m->max_children * 100.0;
}

/* --------------------------------------------------------- statistics */

/* Which value of a worker a statistic is over. */
enum stat_field { SF_DURATION, SF_CPU, SF_MEMORY };

struct stat_ctx {
  const struct fpm_status *st;
  long self;
  const char *marker, *tag;
  size_t sort_cap;
  /* in_set of the first FPM_STATS_STACK workers, worked out once: each
   * statistic asks twice per worker, and the uri searches were most of it */
  unsigned char member[FPM_STATS_STACK];
};

/* Worker i is in the set: Idle, not ours, with a finished request and not
 * a monitoring scrape. */
static int in_set(const struct stat_ctx *c, size_t i) {
  const struct fpm_worker *w = &c->st->workers[i];
  if ((long)i == c->self || worker_state(w) != FPM_STATE_IDLE)
    return 0;
  if (has_w(w, FPM_W_REQUESTS) && w->requests == 0)
    return 0;
  return !uri_has(w, c->marker) && !uri_has(w, c->tag);
}

static void mark_members(struct stat_ctx *c) {
  for (size_t i = 0; i < c->st->n_workers && i < FPM_STATS_STACK; i++)
    c->member[i] = (unsigned char)in_set(c, i);
}

/* The value of worker i for field f as an integer (duration us, cpu in
 * hundredths of a percent, memory bytes); 0 if the worker is not in the
 * set or the field is absent. */
static int stat_value(const struct stat_ctx *c, size_t i, enum stat_field f,
                      uint64_t *out) {
  const struct fpm_worker *w = &c->st->workers[i];
  if (!(i < FPM_STATS_STACK ? c->member[i] : in_set(c, i)))
    return 0;
  switch (f) {
  case SF_DURATION:
    if (!has_w(w, FPM_W_REQUEST_DURATION) ||
        w->request_duration_us >= FPM_DURATION_SANE_MAX)
      return 0;
    *out = w->request_duration_us;
    return 1;
  case SF_CPU:
    if (!has_w(w, FPM_W_LAST_REQUEST_CPU) || !(w->last_request_cpu >= 0.0) ||
        !(w->last_request_cpu < 1e15))
      return 0;
    *out = fpm_round_u64(w->last_request_cpu * 100.0);
    return 1;
  case SF_MEMORY:
    if (!has_w(w, FPM_W_LAST_REQUEST_MEMORY))
      return 0;
    *out = w->last_request_memory;
    return 1;
  }
  return 0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* 1-based nearest rank of percentile p among n values. */
static uint64_t nearest_rank(unsigned p, uint64_t n) {
  uint64_t r = (n * p + 99) / 100; /* ceil(p/100 * n) without overflow for
                                      any realistic n */
  return r == 0 ? 1 : r;
}

/* The k-th smallest value (1-based) by bisection over [lo, hi]: the least v
 * with at least k values <= v. */
static uint64_t kth_by_bisection(const struct stat_ctx *c, enum stat_field f,
                                 uint64_t k, uint64_t lo, uint64_t hi) {
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2, le = 0, v;
    for (size_t i = 0; i < c->st->n_workers; i++)
      if (stat_value(c, i, f, &v) && v <= mid)
        le++;
    if (le >= k)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* The values of the set in a scratch array: the stack buffer when they fit,
 * else a heap array unless over the cap or out of memory (NULL: bisect). */
static uint64_t *gather(const struct stat_ctx *c, enum stat_field f, uint64_t n,
                        uint64_t *stackbuf) {
  uint64_t *a = stackbuf, v;
  if (n > FPM_STATS_STACK) {
    if ((c->sort_cap > 0 && n > c->sort_cap) || n > SIZE_MAX / sizeof *a)
      return NULL;
    a = malloc((size_t)n * sizeof *a);
    if (a == NULL)
      return NULL;
  }
  size_t k = 0;
  for (size_t i = 0; i < c->st->n_workers && k < n; i++)
    if (stat_value(c, i, f, &v))
      a[k++] = v;
  if (k <= 16) { /* the usual few: no library call */
    for (size_t i = 1; i < k; i++) {
      uint64_t x = a[i];
      size_t j = i;
      for (; j > 0 && a[j - 1] > x; j--)
        a[j] = a[j - 1];
      a[j] = x;
    }
  } else {
    qsort(a, k, sizeof *a, cmp_u64);
  }
  return a;
}

static void compute_stats(const struct stat_ctx *c, enum stat_field f,
                          double scale, struct fpm_stats *s) {
  uint64_t buf[FPM_STATS_STACK], v, n = 0, lo = UINT64_MAX, hi = 0;
  long double sum = 0;
  for (size_t i = 0; i < c->st->n_workers; i++) {
    if (!stat_value(c, i, f, &v))
      continue;
    n++;
    sum += v;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  memset(s, 0, sizeof *s);
  if (n == 0)
    return;
  static const unsigned pct[3] = {50, 95, 99};
  double *out[3] = {&s->p50, &s->p95, &s->p99};
  uint64_t *sorted = gather(c, f, n, buf);
  for (int j = 0; j < 3; j++) {
    uint64_t k = nearest_rank(pct[j], n);
    uint64_t x =
        sorted != NULL ? sorted[k - 1] : kth_by_bisection(c, f, k, lo, hi);
    *out[j] = (double)x * scale;
  }
  if (sorted != buf)
    free(sorted);
  s->n = n;
  s->min = (double)lo * scale;
  s->max = (double)hi * scale;
  s->avg = (double)(sum / (long double)n) * scale;
}

static void running_stats(const struct fpm_status *st, long self,
                          double threshold_s, struct fpm_metrics *m) {
  uint64_t oldest = 0;
  double limit_us = threshold_s * 1e6;
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    if ((long)i == self || worker_state(w) == FPM_STATE_IDLE ||
        !has_w(w, FPM_W_REQUEST_DURATION) ||
        w->request_duration_us >= FPM_DURATION_SANE_MAX)
      continue;
    if (w->request_duration_us > oldest)
      oldest = w->request_duration_us;
    if ((double)w->request_duration_us > limit_us)
      m->running_over_threshold++;
  }
  m->oldest_running_s = (double)oldest / 1e6;
}

/* ------------------------------------------------------------ history */

static int pair_less(int64_t pa, uint64_t sa, int64_t pb, uint64_t sb) {
  return pa < pb || (pa == pb && sa < sb);
}

static void sift_down(int64_t *p, uint64_t *s, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n &&
        pair_less(p[child], s[child], p[child + 1], s[child + 1]))
      child++;
    if (!pair_less(p[root], s[root], p[child], s[child]))
      return;
    int64_t tp = p[root];
    uint64_t ts = s[root];
    p[root] = p[child];
    s[root] = s[child];
    p[child] = tp;
    s[child] = ts;
    root = child;
  }
}

/* Heapsort of the parallel arrays by (pid, start time); no allocation. */
static void sort_pairs(int64_t *p, uint64_t *s, size_t n) {
  for (size_t i = n / 2; i-- > 0;)
    sift_down(p, s, i, n);
  for (size_t end = n; end-- > 1;) {
    int64_t tp = p[0];
    uint64_t ts = s[0];
    p[0] = p[end];
    s[0] = s[end];
    p[end] = tp;
    s[end] = ts;
    sift_down(p, s, 0, end);
  }
}

static uint64_t worker_start(const struct fpm_worker *w) {
  return has_w(w, FPM_W_START_TIME) ? w->start_time : 0;
}

static int prev_has_pair(const struct fpm_history *h, int64_t pid,
                         uint64_t start) {
  size_t lo = 0, hi = h->n_prev_pids;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (pair_less(h->prev_pids[mid], h->prev_pid_start[mid], pid, start))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < h->n_prev_pids && h->prev_pids[lo] == pid &&
         h->prev_pid_start[lo] == start;
}

/* Previous workers (pid + start time) not present any more. */
static uint64_t count_respawned(const struct fpm_history *h,
                                const struct fpm_status *st) {
  uint64_t matched = 0;
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    if (has_w(w, FPM_W_PID) && prev_has_pair(h, w->pid, worker_start(w)))
      matched++;
  }
  return matched >= h->n_prev_pids ? 0 : h->n_prev_pids - matched;
}

static int both(const struct fpm_history *h, const struct fpm_status *st,
                enum fpm_pool_field f) {
  return ((h->prev_present >> f) & 1u) && fpm_status_has(st, f);
}

static int fell(const struct fpm_history *h, const struct fpm_status *st,
                enum fpm_pool_field f, uint64_t prev) {
  return both(h, st, f) && st->v[f] < prev;
}

/* start time changed; or, when start time is not in both snapshots, start
 * since went down (with start time known and unchanged, a smaller start
 * since is the wall clock stepping, A.7); or a counter went down. */
static int detect_restart(const struct fpm_history *h,
                          const struct fpm_status *st) {
  if (both(h, st, FPM_F_START_TIME)) {
    if (st->v[FPM_F_START_TIME] != h->prev_start_time)
      return 1;
  } else if (fell(h, st, FPM_F_START_SINCE, h->prev_start_since)) {
    return 1;
  }
  return fell(h, st, FPM_F_ACCEPTED_CONN, h->prev_accepted) ||
         fell(h, st, FPM_F_SLOW_REQUESTS, h->prev_slow) ||
         fell(h, st, FPM_F_MAX_CHILDREN_REACHED, h->prev_max_children_reached);
}

static uint64_t delta(const struct fpm_history *h, const struct fpm_status *st,
                      enum fpm_pool_field f, uint64_t prev, int restarted) {
  if (!both(h, st, f))
    return 0;
  if (restarted)
    return st->v[f];
  return st->v[f] >= prev ? st->v[f] - prev : 0;
}

static void store_pids(struct fpm_history *h, const struct fpm_status *st) {
  size_t n = st->n_workers;
  h->prev_has_list = 0;
  h->n_prev_pids = 0;
  if (!st->has_workers)
    return;
  if (n > 0) {
    int64_t *p = realloc(h->prev_pids, n * sizeof *p);
    if (p == NULL)
      return;
    h->prev_pids = p;
    uint64_t *s = realloc(h->prev_pid_start, n * sizeof *s);
    if (s == NULL)
      return;
    h->prev_pid_start = s;
  }
  for (size_t i = 0; i < n; i++) {
    const struct fpm_worker *w = &st->workers[i];
    if (!has_w(w, FPM_W_PID))
      continue;
    h->prev_pids[h->n_prev_pids] = w->pid;
    h->prev_pid_start[h->n_prev_pids] = worker_start(w);
    h->n_prev_pids++;
  }
  sort_pairs(h->prev_pids, h->prev_pid_start, h->n_prev_pids);
  h->prev_has_list = 1;
}

/* Our own requests since the pool's (re)start, and accepted conn without
 * them. After a restart only this scrape's requests can be in the new
 * counter (pending ones may have gone to the old instance: left out). */
static void own_requests(const struct fpm_status *st, uint64_t scrape,
                         struct fpm_history *h, struct fpm_metrics *m) {
  if (m->restarted || !h->have_prev)
    h->own_requests = m->restarted ? 0 : h->own_pending;
  else
    h->own_requests += h->own_pending;
  h->own_requests += scrape;
  h->own_pending = 0;
  if (!fpm_status_has(st, FPM_F_ACCEPTED_CONN))
    return;
  uint64_t acc = st->v[FPM_F_ACCEPTED_CONN];
  if (h->own_requests > acc)
    h->own_requests = acc;
  uint64_t ext = acc - h->own_requests;
  int comparable = m->have_prev && !m->restarted &&
                   ((h->prev_present >> FPM_F_ACCEPTED_CONN) & 1u);
  if (comparable && ext < h->prev_external) {
    /* we counted a request the pool never saw (it failed on the way) */
    ext = h->prev_external;
    h->own_requests = acc - ext;
  }
  m->have_external = 1;
  m->own_requests = h->own_requests;
  m->external = ext;
  /* as the other deltas: after a restart, the new value */
  m->d_external = m->restarted ? ext : comparable ? ext - h->prev_external : 0;
}

static void apply_history(const struct fpm_status *st, uint64_t scrape,
                          struct fpm_history *h, struct fpm_metrics *m) {
  m->have_history = 1;
  if (h->have_prev) {
    m->have_prev = 1;
    m->restarted = detect_restart(h, st);
    m->d_accepted =
        delta(h, st, FPM_F_ACCEPTED_CONN, h->prev_accepted, m->restarted);
    m->d_slow = delta(h, st, FPM_F_SLOW_REQUESTS, h->prev_slow, m->restarted);
    m->d_max_children_reached =
        delta(h, st, FPM_F_MAX_CHILDREN_REACHED, h->prev_max_children_reached,
              m->restarted);
    if (h->prev_has_list && st->has_workers) {
      m->have_respawned = 1;
      m->respawned = m->restarted ? 0 : count_respawned(h, st);
    }
    h->restarts_total += (uint64_t)m->restarted;
    h->respawns_total += m->respawned;
  }
  m->restarts_total = h->restarts_total;
  m->respawns_total = h->respawns_total;
  own_requests(st, scrape, h, m);

  h->have_prev = 1;
  h->prev_present = st->present;
  h->prev_start_time = st->v[FPM_F_START_TIME];
  h->prev_start_since = st->v[FPM_F_START_SINCE];
  h->prev_accepted = st->v[FPM_F_ACCEPTED_CONN];
  h->prev_slow = st->v[FPM_F_SLOW_REQUESTS];
  h->prev_max_children_reached = st->v[FPM_F_MAX_CHILDREN_REACHED];
  h->prev_external = m->external;
  store_pids(h, st);
}

void fpm_history_add_requests(struct fpm_history *h, uint64_t n) {
  if (h != NULL)
    h->own_pending += n;
}

void fpm_history_free(struct fpm_history *h) {
  if (h == NULL)
    return;
  free(h->prev_pids);
  free(h->prev_pid_start);
  memset(h, 0, sizeof *h);
}

/* ------------------------------------------------------------ compute */

void fpm_model_compute(const struct fpm_status *st,
                       const struct fpm_model_opts *o, struct fpm_history *h,
                       struct fpm_metrics *m) {
  static const struct fpm_model_opts defaults = {0};
  if (o == NULL)
    o = &defaults;
  memset(m, 0, sizeof *m);
  m->st = st;
  m->max_children = o->max_children;
  m->self_index = -1;
  double threshold = o->slow_threshold_s > 0 ? o->slow_threshold_s : 1.0;

  long self = -1;
  if (st->has_workers) {
    self = find_self(st, o->self_marker);
    m->from_list = 1;
    m->self_found = self >= 0;
    m->self_index = self;
    count_from_list(st, self, m);
    struct stat_ctx c = {.st = st,
                         .self = self,
                         .marker = o->self_marker,
                         .tag = o->scrape_tag,
                         .sort_cap = o->stats_sort_cap};
    mark_members(&c);
    compute_stats(&c, SF_DURATION, 1e-6, &m->duration_s);
    compute_stats(&c, SF_CPU, 0.01, &m->cpu_pct);
    compute_stats(&c, SF_MEMORY, 1.0, &m->memory_bytes);
    running_stats(st, self, threshold, m);
  } else {
    count_from_pool(st, m);
  }
  utilisation(m);
  /* a worker list without our marked request: another pool served it
   * (pm.status_listen), this pool did not count the scrape */
  int elsewhere = st->has_workers && self < 0 && o->self_marker != NULL &&
                  o->self_marker[0] != '\0';
  if (h != NULL)
    apply_history(st, elsewhere ? 0 : o->own_requests, h, m);
}
