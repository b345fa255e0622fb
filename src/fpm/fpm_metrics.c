/*
 * fpm_metrics.c: the metric definition table (key, kind, unit, help, collectd
 * type and type instance of every metric) and the flattening of a computed
 * model into samples, in one stable order. docs/metrics.md
 * documents the same table; tests check both against each other and against
 * types.db.
 */
#include "fpm_metrics_int.h"
#include "fpm_model.h"
#include "fpm_procmem.h"

#include <stdio.h>
#include <string.h>

#define PLAIN(id_, key_, kind_, unit_, type_, ti_, help_)                      \
  [id_] = {id_, key_, kind_, unit_, help_, type_, 0, ti_, ""}
#define FAMILY(id_, key_, kind_, unit_, type_, pre_, suf_, help_)              \
  [id_] = {id_, key_, kind_, unit_, help_, type_, 1, pre_, suf_}

static const struct fpm_metric_def defs[FPM_M__COUNT] = {
    PLAIN(FPM_M_UP, "up", FPM_KIND_GAUGE, "bool", "bool", "up",
          "1 if the status page was fetched and parsed, else 0"),
    PLAIN(FPM_M_ACCEPTED, "accepted_conn", FPM_KIND_COUNTER, "requests",
          "total_requests", "accepted",
          "requests accepted by the pool since (re)start, scrapes included"),
    PLAIN(FPM_M_SLOW, "slow_requests", FPM_KIND_COUNTER, "requests",
          "total_requests", "slow",
          "requests that hit request_slowlog_timeout since (re)start"),
    PLAIN(FPM_M_MAX_CHILDREN_REACHED, "max_children_reached", FPM_KIND_COUNTER,
          "events", "total_events", "max_children_reached",
          "times the process manager hit pm.max_children (dynamic, ondemand)"),
    PLAIN(FPM_M_LISTEN_QUEUE, "listen_queue", FPM_KIND_GAUGE, "connections",
          "queue_length", "listen",
          "connections waiting in the accept queue (TCP listeners only)"),
    PLAIN(FPM_M_MAX_LISTEN_QUEUE, "max_listen_queue", FPM_KIND_GAUGE,
          "connections", "queue_length", "max_listen",
          "highest listen queue since (re)start (high-water mark)"),
    PLAIN(FPM_M_LISTEN_QUEUE_LEN, "listen_queue_len", FPM_KIND_GAUGE,
          "connections", "queue_length", "listen_len",
          "size of the accept queue, the backlog (TCP listeners only)"),
    PLAIN(FPM_M_ACTIVE, "active_processes", FPM_KIND_GAUGE, "processes",
          "vs_processes", "active",
          "workers serving a request, our own scrape excluded"),
    PLAIN(FPM_M_IDLE, "idle_processes", FPM_KIND_GAUGE, "processes",
          "vs_processes", "idle", "workers waiting for a request (Idle)"),
    PLAIN(FPM_M_TOTAL, "total_processes", FPM_KIND_GAUGE, "processes",
          "vs_processes", "total", "workers in the pool"),
    PLAIN(FPM_M_MAX_ACTIVE, "max_active_processes", FPM_KIND_GAUGE, "processes",
          "vs_processes", "max_active",
          "highest active processes since (re)start, scrapes included"),
    PLAIN(FPM_M_MAX_CHILDREN, "max_children", FPM_KIND_GAUGE, "processes",
          "vs_processes", "max_children", "pm.max_children (configured)"),
    PLAIN(FPM_M_START_SINCE, "start_since", FPM_KIND_GAUGE, "seconds", "uptime",
          "", "seconds since the pool (re)started"),
    PLAIN(FPM_M_MEMORY_PEAK, "memory_peak", FPM_KIND_GAUGE, "bytes", "memory",
          "peak", "largest request memory peak since (re)start (PHP 8.4+)"),
    PLAIN(FPM_M_UTILISATION, "utilisation", FPM_KIND_GAUGE, "percent",
          "percent", "utilisation", "active over total processes"),
    PLAIN(FPM_M_UTILISATION_MAX, "utilisation_max_children", FPM_KIND_GAUGE,
          "percent", "percent", "utilisation_max_children",
          "active processes over pm.max_children"),
    FAMILY(FPM_M_STATE, "state", FPM_KIND_GAUGE, "processes", "ps_state", "",
           "", "workers per state (FPM's state names), own scrape as Idle"),
    FAMILY(FPM_M_DURATION, "request_duration", FPM_KIND_GAUGE, "seconds",
           "duration", "request_", "",
           "last request duration over Idle workers (min avg max p50 p95 "
           "p99)"),
    PLAIN(FPM_M_OLDEST_RUNNING, "oldest_running_request", FPM_KIND_GAUGE,
          "seconds", "duration", "oldest_running",
          "age of the oldest request in progress (0: none)"),
    PLAIN(FPM_M_RUNNING_SLOW, "running_slow", FPM_KIND_GAUGE, "processes",
          "vs_processes", "running_slow",
          "requests in progress for longer than the slow threshold"),
    FAMILY(FPM_M_CPU, "last_request_cpu", FPM_KIND_GAUGE, "percent", "percent",
           "last_request_cpu_", "",
           "last request CPU over Idle workers (min avg max p50 p95 p99)"),
    FAMILY(FPM_M_MEMORY, "last_request_memory", FPM_KIND_GAUGE, "bytes",
           "memory", "last_request_", "",
           "last request memory peak over Idle workers (min avg max p50 p95 "
           "p99)"),
    PLAIN(FPM_M_MEM_WORKERS, "memory_workers", FPM_KIND_GAUGE, "processes",
          "vs_processes", "memory_measured",
          "workers whose memory was read from /proc (local pools only)"),
    PLAIN(FPM_M_MEM_RSS_TOTAL, "memory_rss_total", FPM_KIND_GAUGE, "bytes",
          "memory", "rss_total",
          "resident set of the workers, summed (shared pages counted in each)"),
    PLAIN(FPM_M_MEM_RSS_P50, "memory_rss_p50", FPM_KIND_GAUGE, "bytes",
          "memory", "rss_p50", "median resident set of one worker"),
    PLAIN(FPM_M_MEM_RSS_MAX, "memory_rss_max", FPM_KIND_GAUGE, "bytes",
          "memory", "rss_max", "largest resident set of one worker"),
    PLAIN(FPM_M_MEM_PSS_TOTAL, "memory_pss_total", FPM_KIND_GAUGE, "bytes",
          "memory", "pss_total",
          "proportional set of the workers, summed: what they cost the host"),
    PLAIN(FPM_M_RESTARTS, "restarts", FPM_KIND_COUNTER, "events",
          "total_events", "restarts",
          "pool restarts or reloads seen since monitoring began"),
    PLAIN(FPM_M_RESPAWNS, "respawns", FPM_KIND_COUNTER, "events",
          "total_events", "respawns",
          "workers replaced or gone between scrapes, restarts excluded"),
    PLAIN(FPM_M_EXTERNAL, "external_requests", FPM_KIND_COUNTER, "requests",
          "total_requests", "external",
          "accepted conn minus this monitor's own requests (needs history)"),
    PLAIN(FPM_M_PARSE_REPAIRED, "parse_repaired", FPM_KIND_GAUGE, "entries",
          "objects", "parse_repaired",
          "worker entries with a broken string that was repaired"),
    PLAIN(FPM_M_PARSE_DROPPED, "parse_dropped", FPM_KIND_GAUGE, "entries",
          "objects", "parse_dropped",
          "worker entries lost to broken JSON (beyond repair)"),
    PLAIN(FPM_M_PARSE_PHANTOM, "parse_phantom", FPM_KIND_GAUGE, "entries",
          "objects", "parse_phantom",
          "listed slots that are no worker (pid 0, state \"(null)\")"),
    FAMILY(FPM_M_EXTRA, "extra", FPM_KIND_GAUGE, "value", "gauge", "", "",
           "numeric pool field this version does not know, by FPM key"),
    FAMILY(FPM_M_SLOT_STATE, "slot_state", FPM_KIND_GAUGE, "state", "ps_state",
           "slot", "", "state of slot N (enum fpm_state number)"),
    FAMILY(FPM_M_SLOT_REQUESTS, "slot_requests", FPM_KIND_COUNTER, "requests",
           "total_requests", "slot", "", "requests begun by slot N's worker"),
    FAMILY(FPM_M_SLOT_DURATION, "slot_request_duration", FPM_KIND_GAUGE,
           "seconds", "duration", "slot", "_request",
           "slot N: last request (Idle) or the one in progress"),
    FAMILY(FPM_M_SLOT_CPU, "slot_last_request_cpu", FPM_KIND_GAUGE, "percent",
           "percent", "slot", "_last_request_cpu",
           "slot N: last request CPU (0 unless Idle)"),
    FAMILY(FPM_M_SLOT_MEMORY, "slot_last_request_memory", FPM_KIND_GAUGE,
           "bytes", "memory", "slot", "_last_request",
           "slot N: last request memory peak (0 unless Idle)"),
};

const struct fpm_metric_def *fpm_metric_def_get(enum fpm_metric_id id) {
  if ((unsigned)id >= FPM_M__COUNT)
    return NULL;
  return &defs[id];
}

/* ------------------------------------------------------------ samples */

struct emitter {
  struct fpm_sample *out;
  size_t cap, n;
  int bare; /* type_instance left "" (fpm_metrics_samples_bare) */
};

/* Copies src to dst at pos (pos < cap), truncated so that dst keeps its
 * terminating NUL; returns the new end. A loop, not strlen and memcpy: the
 * strings are a few bytes and this runs for every sample of every scrape. */
static size_t append(char *dst, size_t cap, size_t pos, const char *src) {
  while (pos + 1 < cap && *src != '\0')
    dst[pos++] = *src++;
  dst[pos] = '\0';
  return pos;
}

static void emit(struct emitter *e, enum fpm_metric_id id, const char *instance,
                 double value) {
  if (e->n < e->cap) {
    struct fpm_sample *s = &e->out[e->n];
    const struct fpm_metric_def *d = &defs[id];
    s->def = d;
    /* The strings snprintf "%s" and "%s%s%s" would give (truncated to
     * fit), built by copying. */
    append(s->instance, sizeof s->instance, 0, instance);
    s->type_instance[0] = '\0';
    if (!e->bare) {
      size_t t =
          append(s->type_instance, sizeof s->type_instance, 0, d->cd_prefix);
      t = append(s->type_instance, sizeof s->type_instance, t, instance);
      append(s->type_instance, sizeof s->type_instance, t, d->cd_suffix);
    }
    s->value = value;
  }
  e->n++;
}

/* The value of a pool field, when the snapshot has it. */
static int field(const struct fpm_status *st, enum fpm_pool_field f,
                 double *v) {
  if (!fpm_status_has(st, f))
    return 0;
  *v = (double)st->v[f];
  return 1;
}

static int when(int present, double value, double *v) {
  if (present)
    *v = value;
  return present;
}

/* The /proc figures, when the pool's workers were read. */
static int procmem(const struct fpm_metrics *m, enum fpm_metric_id id,
                   double *v) {
  const struct fpm_procmem *p = m->procmem;
  if (p == NULL || p->state != FPM_PROCMEM_LOCAL)
    return 0;
  switch (id) {
  case FPM_M_MEM_WORKERS:
    return when(1, (double)p->rss.n, v);
  case FPM_M_MEM_RSS_TOTAL:
    return when(1, (double)p->rss.total, v);
  case FPM_M_MEM_RSS_P50:
    return when(1, (double)p->rss.p50, v);
  case FPM_M_MEM_RSS_MAX:
    return when(1, (double)p->rss.max, v);
  case FPM_M_MEM_PSS_TOTAL:
    return when(p->pss_known, (double)p->pss.total, v);
  default:
    return 0;
  }
}

int fpm_metrics_plain(const struct fpm_metrics *m, enum fpm_metric_id id,
                      enum fpm_worker_detail detail, double *v) {
  const struct fpm_status *st = m->st;
  int summary = detail >= FPM_WORKERS_SUMMARY && m->from_list;
  int parse = st->has_workers && st->format == FPM_FORMAT_JSON;
  switch (id) {
  case FPM_M_UP:
    return when(1, 1.0, v);
  case FPM_M_ACCEPTED:
    return field(st, FPM_F_ACCEPTED_CONN, v);
  case FPM_M_SLOW:
    return field(st, FPM_F_SLOW_REQUESTS, v);
  case FPM_M_MAX_CHILDREN_REACHED:
    return field(st, FPM_F_MAX_CHILDREN_REACHED, v);
  case FPM_M_LISTEN_QUEUE:
    return field(st, FPM_F_LISTEN_QUEUE, v);
  case FPM_M_MAX_LISTEN_QUEUE:
    return field(st, FPM_F_MAX_LISTEN_QUEUE, v);
  case FPM_M_LISTEN_QUEUE_LEN:
    return field(st, FPM_F_LISTEN_QUEUE_LEN, v);
  case FPM_M_ACTIVE:
    return when(m->have_counts, (double)m->active, v);
  case FPM_M_IDLE:
    return when(m->have_counts, (double)m->idle, v);
  case FPM_M_TOTAL:
    return when(m->have_counts, (double)m->total, v);
  case FPM_M_MAX_ACTIVE:
    return field(st, FPM_F_MAX_ACTIVE_PROCESSES, v);
  case FPM_M_MAX_CHILDREN:
    return when(m->max_children > 0, (double)m->max_children, v);
  case FPM_M_START_SINCE:
    return field(st, FPM_F_START_SINCE, v);
  case FPM_M_MEMORY_PEAK:
    return field(st, FPM_F_MEMORY_PEAK, v);
  case FPM_M_UTILISATION:
    return when(m->utilisation >= 0, m->utilisation, v);
  case FPM_M_UTILISATION_MAX:
    return when(m->utilisation_max_children >= 0, m->utilisation_max_children,
                v);
  case FPM_M_OLDEST_RUNNING:
    return when(summary, m->oldest_running_s, v);
  case FPM_M_RUNNING_SLOW:
    return when(summary, (double)m->running_over_threshold, v);
  case FPM_M_MEM_WORKERS:
  case FPM_M_MEM_RSS_TOTAL:
  case FPM_M_MEM_RSS_P50:
  case FPM_M_MEM_RSS_MAX:
  case FPM_M_MEM_PSS_TOTAL:
    return procmem(m, id, v);
  case FPM_M_RESTARTS:
    return when(m->have_history, (double)m->restarts_total, v);
  case FPM_M_RESPAWNS:
    return when(m->have_history, (double)m->respawns_total, v);
  case FPM_M_EXTERNAL:
    return when(m->have_external, (double)m->external, v);
  case FPM_M_PARSE_REPAIRED:
    return when(parse, (double)st->repaired, v);
  case FPM_M_PARSE_DROPPED:
    return when(parse, (double)st->dropped, v);
  case FPM_M_PARSE_PHANTOM:
    return when(st->has_workers, (double)st->phantom, v);
  default: /* families */
    return 0;
  }
}

const struct fpm_stats *fpm_metrics_stats(const struct fpm_metrics *m,
                                          enum fpm_metric_id id,
                                          enum fpm_worker_detail detail) {
  if (detail < FPM_WORKERS_SUMMARY || !m->from_list)
    return NULL;
  const struct fpm_stats *s = id == FPM_M_DURATION ? &m->duration_s
                              : id == FPM_M_CPU    ? &m->cpu_pct
                              : id == FPM_M_MEMORY ? &m->memory_bytes
                                                   : NULL;
  return s != NULL && s->n > 0 ? s : NULL;
}

static void emit_stats(struct emitter *e, enum fpm_metric_id id,
                       const struct fpm_stats *s) {
  if (s == NULL)
    return;
  emit(e, id, "min", s->min);
  emit(e, id, "avg", s->avg);
  emit(e, id, "max", s->max);
  emit(e, id, "p50", s->p50);
  emit(e, id, "p95", s->p95);
  emit(e, id, "p99", s->p99);
}

/* Lower-case, [a-z0-9_] only, others become '_'; "" becomes "_". */
static void sanitise_key(const char *in, char *out, size_t outlen) {
  size_t i = 0;
  for (; in[i] != '\0' && i + 1 < outlen; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    out[i] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? (char)c : '_';
  }
  if (i == 0 && outlen > 1)
    out[i++] = '_';
  out[i] = '\0';
}

/* Unknown numeric pool fields; a name that sanitises to one seen before is
 * skipped so that every identifier stays unique. */
static void emit_extra(struct emitter *e, const struct fpm_status *st) {
  char keys[FPM_MAX_EXTRA][sizeof st->extra[0].name];
  unsigned n = st->n_extra < FPM_MAX_EXTRA ? st->n_extra : FPM_MAX_EXTRA;
  for (unsigned i = 0; i < n; i++) {
    sanitise_key(st->extra[i].name, keys[i], sizeof keys[i]);
    int dup = 0;
    for (unsigned j = 0; j < i && !dup; j++)
      dup = strcmp(keys[i], keys[j]) == 0;
    if (!dup)
      emit(e, FPM_M_EXTRA, keys[i], st->extra[i].value);
  }
}

static void emit_slots(struct emitter *e, const struct fpm_metrics *m,
                       size_t max_slots) {
  const struct fpm_status *st = m->st;
  size_t n = st->n_workers < max_slots ? st->n_workers : max_slots;
  for (size_t i = 0; i < n; i++) {
    const struct fpm_worker *w = &st->workers[i];
    uint32_t p = w->present;
    char num[24];
    snprintf(num, sizeof num, "%zu", i);
    if (p & (1u << FPM_W_STATE)) {
      /* Our own request shows as Idle, as in the counts. */
      unsigned s = (unsigned)w->state < FPM_STATE__COUNT ? (unsigned)w->state
                                                         : FPM_STATE_UNKNOWN;
      if (m->self_found && m->self_index == (long)i)
        s = FPM_STATE_IDLE;
      emit(e, FPM_M_SLOT_STATE, num, (double)s);
    }
    if (p & (1u << FPM_W_REQUESTS))
      emit(e, FPM_M_SLOT_REQUESTS, num, (double)w->requests);
    if (p & (1u << FPM_W_REQUEST_DURATION))
      emit(e, FPM_M_SLOT_DURATION, num, (double)w->request_duration_us / 1e6);
    if (p & (1u << FPM_W_LAST_REQUEST_CPU))
      emit(e, FPM_M_SLOT_CPU, num, w->last_request_cpu);
    if (p & (1u << FPM_W_LAST_REQUEST_MEMORY))
      emit(e, FPM_M_SLOT_MEMORY, num, (double)w->last_request_memory);
  }
}

static size_t samples(const struct fpm_metrics *m,
                      enum fpm_worker_detail detail, size_t max_slots,
                      struct fpm_sample *out, size_t cap, int bare) {
  struct emitter e = {out, out == NULL ? 0 : cap, 0, bare};
  if (m == NULL || m->st == NULL) {
    emit(&e, FPM_M_UP, "", 0.0);
    return e.n;
  }
  /* the ids in enum order; the slots (one set per slot) come last */
  for (int i = 0; i < FPM_M_SLOT_STATE; i++) {
    enum fpm_metric_id id = (enum fpm_metric_id)i;
    double v;
    if (id == FPM_M_STATE) {
      if (m->from_list)
        for (int st = 0; st < FPM_STATE__COUNT; st++)
          emit(&e, id, fpm_state_key((enum fpm_state)st),
               (double)m->by_state[st]);
    } else if (id == FPM_M_DURATION || id == FPM_M_CPU || id == FPM_M_MEMORY) {
      emit_stats(&e, id, fpm_metrics_stats(m, id, detail));
    } else if (id == FPM_M_EXTRA) {
      emit_extra(&e, m->st);
    } else if (fpm_metrics_plain(m, id, detail, &v)) {
      emit(&e, id, "", v);
    }
  }
  if (detail >= FPM_WORKERS_SLOTS && m->from_list)
    emit_slots(&e, m, max_slots);
  return e.n;
}

size_t fpm_metrics_samples(const struct fpm_metrics *m,
                           enum fpm_worker_detail detail, size_t max_slots,
                           struct fpm_sample *out, size_t cap) {
  return samples(m, detail, max_slots, out, cap, 0);
}

size_t fpm_metrics_samples_bare(const struct fpm_metrics *m,
                                enum fpm_worker_detail detail, size_t max_slots,
                                struct fpm_sample *out, size_t cap) {
  return samples(m, detail, max_slots, out, cap, 1);
}
