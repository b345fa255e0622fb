/*
 * fpm_metrics.c: the metric definition table (key, kind, unit, help, collectd
 * type and type instance of every metric) and the flattening of a computed
 * model into samples, in one stable order. README.md ("Metrics reference")
 * documents the same table; tests check both against each other and against
 * types.db.
 */
#include "fpm_metrics_int.h"
#include "fpm_model.h"

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
    PLAIN(FPM_M_RESTARTS, "restarts", FPM_KIND_COUNTER, "events",
          "total_events", "restarts",
          "pool restarts or reloads seen since monitoring began"),
    PLAIN(FPM_M_RESPAWNS, "respawns", FPM_KIND_COUNTER, "events",
          "total_events", "respawns",
          "workers replaced or gone between scrapes, restarts excluded"),
    PLAIN(FPM_M_PARSE_REPAIRED, "parse_repaired", FPM_KIND_GAUGE, "entries",
          "count", "parse_repaired",
          "worker entries with a broken string that was repaired"),
    PLAIN(FPM_M_PARSE_DROPPED, "parse_dropped", FPM_KIND_GAUGE, "entries",
          "count", "parse_dropped",
          "worker entries lost to broken JSON (beyond repair)"),
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

static void emit_field(struct emitter *e, const struct fpm_status *st,
                       enum fpm_metric_id id, enum fpm_pool_field f) {
  if (fpm_status_has(st, f))
    emit(e, id, "", (double)st->v[f]);
}

static void emit_stats(struct emitter *e, enum fpm_metric_id id,
                       const struct fpm_stats *s) {
  if (s->n == 0)
    return;
  emit(e, id, "min", s->min);
  emit(e, id, "avg", s->avg);
  emit(e, id, "max", s->max);
  emit(e, id, "p50", s->p50);
  emit(e, id, "p95", s->p95);
  emit(e, id, "p99", s->p99);
}

static void emit_pool(struct emitter *e, const struct fpm_metrics *m) {
  const struct fpm_status *st = m->st;
  emit_field(e, st, FPM_M_ACCEPTED, FPM_F_ACCEPTED_CONN);
  emit_field(e, st, FPM_M_SLOW, FPM_F_SLOW_REQUESTS);
  emit_field(e, st, FPM_M_MAX_CHILDREN_REACHED, FPM_F_MAX_CHILDREN_REACHED);
  emit_field(e, st, FPM_M_LISTEN_QUEUE, FPM_F_LISTEN_QUEUE);
  emit_field(e, st, FPM_M_MAX_LISTEN_QUEUE, FPM_F_MAX_LISTEN_QUEUE);
  emit_field(e, st, FPM_M_LISTEN_QUEUE_LEN, FPM_F_LISTEN_QUEUE_LEN);
  if (m->have_counts) {
    emit(e, FPM_M_ACTIVE, "", (double)m->active);
    emit(e, FPM_M_IDLE, "", (double)m->idle);
    emit(e, FPM_M_TOTAL, "", (double)m->total);
  }
  emit_field(e, st, FPM_M_MAX_ACTIVE, FPM_F_MAX_ACTIVE_PROCESSES);
  if (m->max_children > 0)
    emit(e, FPM_M_MAX_CHILDREN, "", (double)m->max_children);
  emit_field(e, st, FPM_M_START_SINCE, FPM_F_START_SINCE);
  emit_field(e, st, FPM_M_MEMORY_PEAK, FPM_F_MEMORY_PEAK);
  if (m->utilisation >= 0)
    emit(e, FPM_M_UTILISATION, "", m->utilisation);
  if (m->utilisation_max_children >= 0)
    emit(e, FPM_M_UTILISATION_MAX, "", m->utilisation_max_children);
  if (m->from_list)
    for (int s = 0; s < FPM_STATE__COUNT; s++)
      emit(e, FPM_M_STATE, fpm_state_key((enum fpm_state)s),
           (double)m->by_state[s]);
}

static void emit_summary(struct emitter *e, const struct fpm_metrics *m) {
  if (!m->from_list)
    return;
  emit_stats(e, FPM_M_DURATION, &m->duration_s);
  emit(e, FPM_M_OLDEST_RUNNING, "", m->oldest_running_s);
  emit(e, FPM_M_RUNNING_SLOW, "", (double)m->running_over_threshold);
  emit_stats(e, FPM_M_CPU, &m->cpu_pct);
  emit_stats(e, FPM_M_MEMORY, &m->memory_bytes);
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
  emit(&e, FPM_M_UP, "", 1.0);
  emit_pool(&e, m);
  if (detail >= FPM_WORKERS_SUMMARY)
    emit_summary(&e, m);
  if (m->have_history) {
    emit(&e, FPM_M_RESTARTS, "", (double)m->restarts_total);
    emit(&e, FPM_M_RESPAWNS, "", (double)m->respawns_total);
  }
  if (m->st->has_workers && m->st->format == FPM_FORMAT_JSON) {
    emit(&e, FPM_M_PARSE_REPAIRED, "", (double)m->st->repaired);
    emit(&e, FPM_M_PARSE_DROPPED, "", (double)m->st->dropped);
  }
  emit_extra(&e, m->st);
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
