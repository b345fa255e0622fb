/*
 * fpm_output_metrics.c: the line formats for monitoring systems: collectd
 * PUTVAL (exec plugin), Graphite plaintext (paths as collectd's
 * write_graphite derives them), InfluxDB line protocol (Telegraf's phpfpm
 * measurements) and Prometheus text (hipages/php-fpm_exporter's names).
 * Values are the shared model's samples; names and escaping are all that
 * happens here.
 */
#include "fpm_num.h"
#include "fpm_output.h"
#include "fpm_output_opcache.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ numbers */

/* Integral values print as integers (exact up to 2^53), others with 15
 * significant digits. */
static void put_num(struct fpm_buf *b, double v) {
  char s[32];
  size_t n = fpm_out_num(s, sizeof s, v);
  fpm_buf_add(b, s, n);
}

/* A counter as an unsigned integer. */
static void put_counter(struct fpm_buf *b, double v) {
  uint64_t u = 0;
  if (isfinite(v) && v > 0)
    u = v >= 18446744073709549568.0 ? UINT64_MAX : fpm_round_u64(v);
  fpm_buf_printf(b, "%" PRIu64, u);
}

static const char *host_of(const struct fpm_output_opts *o) {
  return o->host != NULL && o->host[0] != '\0' ? o->host : "localhost";
}

static const char *pool_of(const struct fpm_output_item *it) {
  if (it->m != NULL && it->res != NULL)
    return it->res->status.pool;
  return it->pool != NULL ? it->pool : "";
}

/* Our own request is shown as Idle, as the model counts it. */
static enum fpm_state worker_state(const struct fpm_output_item *it, size_t i) {
  const struct fpm_worker *w = &it->res->status.workers[i];
  if ((long)i == fpm_output_self_index(it))
    return FPM_STATE_IDLE;
  return w->state;
}

/* ------------------------------------------------------------- putval */

int fpm_output_putval(const struct fpm_output_opts *o,
                      const struct fpm_output_item *it, struct fpm_buf *out) {
  if (it->m == NULL)
    return 0;
  struct fpm_sample *s;
  size_t n = fpm_output_samples(o, it->m, &s);
  if (n == (size_t)-1)
    return -1;
  for (size_t i = 0; i < n; i++) {
    fpm_out_putval_id(out, host_of(o), "phpfpm", pool_of(it), s[i].def->cd_type,
                      s[i].type_instance, o->interval_s);
    if (s[i].def->kind == FPM_KIND_COUNTER)
      put_counter(out, s[i].value);
    else if (isfinite(s[i].value))
      put_num(out, s[i].value);
    else
      fpm_buf_putc(out, 'U');
    fpm_buf_putc(out, '\n');
  }
  free(s);
  fpm_output_opcache_putval(o, it, out);
  return out->oom ? -1 : 0;
}

/* ----------------------------------------------------------- graphite */

int fpm_output_graphite(const struct fpm_output_opts *o,
                        const struct fpm_output_item *it, struct fpm_buf *out) {
  if (it->m == NULL)
    return 0;
  struct fpm_sample *s;
  size_t n = fpm_output_samples(o, it->m, &s);
  if (n == (size_t)-1)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(s[i].value))
      continue; /* carbon drops NaN anyway */
    fpm_out_graphite_id(out, o->graphite_prefix, host_of(o), "phpfpm",
                        pool_of(it), s[i].def->cd_type, s[i].type_instance);
    if (s[i].def->kind == FPM_KIND_COUNTER)
      put_counter(out, s[i].value);
    else
      put_num(out, s[i].value);
    fpm_buf_printf(out, " %" PRId64 "\n", o->now_s);
  }
  free(s);
  fpm_output_opcache_graphite(o, it, out);
  return out->oom ? -1 : 0;
}

/* ------------------------------------------------------------- influx */

/* Telegraf's phpfpm fields (plugins/inputs/phpfpm), all integers. */
static const struct {
  enum fpm_metric_id id;
  const char *field;
} telegraf_fields[] = {
    {FPM_M_ACCEPTED, "accepted_conn"},
    {FPM_M_LISTEN_QUEUE, "listen_queue"},
    {FPM_M_MAX_LISTEN_QUEUE, "max_listen_queue"},
    {FPM_M_LISTEN_QUEUE_LEN, "listen_queue_len"},
    {FPM_M_IDLE, "idle_processes"},
    {FPM_M_ACTIVE, "active_processes"},
    {FPM_M_TOTAL, "total_processes"},
    {FPM_M_MAX_ACTIVE, "max_active_processes"},
    {FPM_M_MAX_CHILDREN_REACHED, "max_children_reached"},
    {FPM_M_SLOW, "slow_requests"},
    {FPM_M_START_SINCE, "start_since"},
};
#define N_TELEGRAF (sizeof telegraf_fields / sizeof telegraf_fields[0])

static const char *telegraf_field(enum fpm_metric_id id) {
  for (size_t i = 0; i < N_TELEGRAF; i++)
    if (telegraf_fields[i].id == id)
      return telegraf_fields[i].field;
  return NULL;
}

static int is_slot(enum fpm_metric_id id) {
  return id >= FPM_M_SLOT_STATE && id <= FPM_M_SLOT_MEMORY;
}

/* measurement plus the pool and url tags (an empty tag is left out: line
 * protocol has no empty tag values). */
static void influx_series(struct fpm_buf *b, const char *meas,
                          const struct fpm_output_item *it) {
  fpm_buf_puts(b, meas);
  if (pool_of(it)[0] != '\0') {
    fpm_buf_puts(b, ",pool=");
    fpm_out_influx_tag(b, pool_of(it));
  }
  if (it->target != NULL && it->target[0] != '\0') {
    fpm_buf_puts(b, ",url=");
    fpm_out_influx_tag(b, it->target);
  }
}

static void influx_opt_tag(struct fpm_buf *b, const char *key, const char *v) {
  if (v == NULL || v[0] == '\0')
    return;
  fpm_buf_printf(b, ",%s=", key);
  fpm_out_influx_tag(b, v);
}

/* One phpfpm_process line per worker, as Telegraf's JSON mode writes. */
static void influx_workers(const struct fpm_output_opts *o,
                           const struct fpm_output_item *it,
                           struct fpm_buf *b) {
  const struct fpm_status *st = &it->res->status;
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    influx_series(b, "phpfpm_process", it);
    influx_opt_tag(b, "request_method", w->method);
    influx_opt_tag(b, "request_uri", w->uri);
    influx_opt_tag(b, "script", w->script);
    influx_opt_tag(b, "user", w->user);
    fpm_buf_printf(
        b, " content_length=%" PRIu64 "i,pid=%" PRId64 "i,last_request_cpu=",
        w->content_length, w->pid);
    put_num(b, w->last_request_cpu);
    fpm_buf_printf(b,
                   ",last_request_memory=%" PRIu64 ",request_duration=%" PRIu64
                   "i,requests=%" PRIu64 "i,start_time=%" PRIu64 "i,state=",
                   w->last_request_memory, w->request_duration_us, w->requests,
                   w->start_time);
    fpm_out_influx_str(b, fpm_state_name(worker_state(it, i)));
    fpm_buf_printf(b, " %" PRId64 "\n", o->now_ns);
  }
}

int fpm_output_influx(const struct fpm_output_opts *o,
                      const struct fpm_output_item *it, struct fpm_buf *out) {
  if (it->m == NULL)
    return 0;
  struct fpm_sample *s;
  size_t n = fpm_output_samples(o, it->m, &s);
  if (n == (size_t)-1)
    return -1;
  /* phpfpm: Telegraf's fields, integers */
  int nf = 0;
  for (size_t i = 0; i < n; i++) {
    const char *f = telegraf_field(s[i].def->id);
    if (f == NULL)
      continue;
    if (nf == 0)
      influx_series(out, "phpfpm", it);
    fpm_buf_printf(out, "%c%s=", nf++ ? ',' : ' ', f);
    put_counter(out, s[i].value);
    fpm_buf_putc(out, 'i');
  }
  if (nf > 0)
    fpm_buf_printf(out, " %" PRId64 "\n", o->now_ns);
  /* phpfpm_fpmstat: every other model figure, always floats */
  nf = 0;
  for (size_t i = 0; i < n; i++) {
    enum fpm_metric_id id = s[i].def->id;
    if (telegraf_field(id) != NULL || is_slot(id) || !isfinite(s[i].value))
      continue;
    if (nf == 0)
      influx_series(out, "phpfpm_fpmstat", it);
    fpm_buf_printf(out, "%c%s", nf++ ? ',' : ' ', s[i].def->key);
    if (s[i].instance[0] != '\0') {
      fpm_buf_putc(out, '_');
      fpm_out_influx_tag(out, s[i].instance);
    }
    fpm_buf_putc(out, '=');
    put_num(out, s[i].value);
  }
  if (nf > 0)
    fpm_buf_printf(out, " %" PRId64 "\n", o->now_ns);
  if (o->full)
    influx_workers(o, it, out);
  free(s);
  fpm_output_opcache_influx(o, it, out);
  return out->oom ? -1 : 0;
}

/* --------------------------------------------------------- prometheus */

enum prom_src { PS_SAMPLE = 0, PS_WORKER };
enum prom_worker_field {
  PW_REQUESTS = 0,
  PW_MEMORY,
  PW_CPU,
  PW_DURATION,
  PW_STATE
};

struct prom_family {
  const char *name;
  const char *type;
  const char *help;
  enum prom_src src;
  int id;            /* enum fpm_metric_id or enum prom_worker_field */
  const char *label; /* label carrying the sample instance, or NULL */
};

/* hipages/php-fpm_exporter's names first (their counters without _total are
 * declared untyped, so promtool's lint passes and dashboards keep working),
 * then fpmstat's own figures. */
static const struct prom_family prom_families[] = {
    {"phpfpm_up", "gauge", "Could PHP-FPM be reached?", PS_SAMPLE, FPM_M_UP,
     NULL},
    {"phpfpm_start_since", "gauge",
     "The number of seconds since FPM has started.", PS_SAMPLE,
     FPM_M_START_SINCE, NULL},
    {"phpfpm_accepted_connections", "untyped",
     "The number of requests accepted by the pool (counter).", PS_SAMPLE,
     FPM_M_ACCEPTED, NULL},
    {"phpfpm_listen_queue", "gauge",
     "The number of requests in the queue of pending connections.", PS_SAMPLE,
     FPM_M_LISTEN_QUEUE, NULL},
    {"phpfpm_max_listen_queue", "gauge",
     "The maximum number of requests in the queue of pending connections "
     "since FPM has started.",
     PS_SAMPLE, FPM_M_MAX_LISTEN_QUEUE, NULL},
    {"phpfpm_listen_queue_length", "gauge",
     "The size of the socket queue of pending connections.", PS_SAMPLE,
     FPM_M_LISTEN_QUEUE_LEN, NULL},
    {"phpfpm_idle_processes", "gauge",
     "The number of idle processes (the scrape's own worker counted idle).",
     PS_SAMPLE, FPM_M_IDLE, NULL},
    {"phpfpm_active_processes", "gauge",
     "The number of active processes (the scrape itself excluded).", PS_SAMPLE,
     FPM_M_ACTIVE, NULL},
    {"phpfpm_total_processes", "gauge",
     "The number of idle + active processes.", PS_SAMPLE, FPM_M_TOTAL, NULL},
    {"phpfpm_max_active_processes", "gauge",
     "The maximum number of active processes since FPM has started.", PS_SAMPLE,
     FPM_M_MAX_ACTIVE, NULL},
    {"phpfpm_max_children_reached", "untyped",
     "The number of times the process limit has been reached (counter).",
     PS_SAMPLE, FPM_M_MAX_CHILDREN_REACHED, NULL},
    {"phpfpm_slow_requests", "untyped",
     "The number of requests that exceeded request_slowlog_timeout "
     "(counter).",
     PS_SAMPLE, FPM_M_SLOW, NULL},
    {"phpfpm_process_requests", "untyped",
     "The number of requests the process has served (counter).", PS_WORKER,
     PW_REQUESTS, NULL},
    {"phpfpm_process_last_request_memory", "gauge",
     "The max amount of memory the last request consumed.", PS_WORKER,
     PW_MEMORY, NULL},
    {"phpfpm_process_last_request_cpu", "gauge",
     "The %cpu the last request consumed.", PS_WORKER, PW_CPU, NULL},
    {"phpfpm_process_request_duration", "gauge",
     "The duration in microseconds of the requests.", PS_WORKER, PW_DURATION,
     NULL},
    {"phpfpm_process_state", "gauge",
     "The state of the process (Idle, Running, ...).", PS_WORKER, PW_STATE,
     NULL},
    {"phpfpm_max_children", "gauge", "pm.max_children as configured.",
     PS_SAMPLE, FPM_M_MAX_CHILDREN, NULL},
    {"phpfpm_memory_peak_bytes", "gauge",
     "Largest request memory peak since (re)start (PHP 8.4+).", PS_SAMPLE,
     FPM_M_MEMORY_PEAK, NULL},
    {"phpfpm_utilisation_percent", "gauge",
     "Active over total processes, in percent.", PS_SAMPLE, FPM_M_UTILISATION,
     NULL},
    {"phpfpm_utilisation_max_children_percent", "gauge",
     "Active processes over pm.max_children, in percent.", PS_SAMPLE,
     FPM_M_UTILISATION_MAX, NULL},
    {"phpfpm_processes_by_state", "gauge",
     "Workers per state (the scrape's own worker counted idle).", PS_SAMPLE,
     FPM_M_STATE, "state"},
    {"phpfpm_last_request_duration_seconds", "gauge",
     "Last request duration over idle workers (min avg max p50 p95 p99).",
     PS_SAMPLE, FPM_M_DURATION, "stat"},
    {"phpfpm_oldest_running_request_seconds", "gauge",
     "Age of the oldest request in progress (0: none).", PS_SAMPLE,
     FPM_M_OLDEST_RUNNING, NULL},
    {"phpfpm_running_slow_processes", "gauge",
     "Requests in progress for longer than the slow threshold.", PS_SAMPLE,
     FPM_M_RUNNING_SLOW, NULL},
    {"phpfpm_last_request_cpu_percent", "gauge",
     "Last request CPU over idle workers (min avg max p50 p95 p99).", PS_SAMPLE,
     FPM_M_CPU, "stat"},
    {"phpfpm_last_request_memory_bytes", "gauge",
     "Last request memory peak over idle workers (min avg max p50 p95 p99).",
     PS_SAMPLE, FPM_M_MEMORY, "stat"},
    {"phpfpm_memory_measured_processes", "gauge",
     "Workers whose memory was read from /proc (local pools only).", PS_SAMPLE,
     FPM_M_MEM_WORKERS, NULL},
    {"phpfpm_memory_rss_sum_bytes", "gauge",
     "Resident set of the workers, summed (shared pages in each).", PS_SAMPLE,
     FPM_M_MEM_RSS_TOTAL, NULL},
    {"phpfpm_memory_rss_p50_bytes", "gauge",
     "Median resident set of one worker.", PS_SAMPLE, FPM_M_MEM_RSS_P50, NULL},
    {"phpfpm_memory_rss_max_bytes", "gauge",
     "Largest resident set of one worker.", PS_SAMPLE, FPM_M_MEM_RSS_MAX, NULL},
    {"phpfpm_memory_pss_sum_bytes", "gauge",
     "Proportional set of the workers, summed: what they cost the host.",
     PS_SAMPLE, FPM_M_MEM_PSS_TOTAL, NULL},
    {"phpfpm_restarts_total", "counter",
     "Pool restarts or reloads seen since monitoring began.", PS_SAMPLE,
     FPM_M_RESTARTS, NULL},
    {"phpfpm_external_requests_total", "counter",
     "Accepted requests minus this monitor's own (status, ping, retries).",
     PS_SAMPLE, FPM_M_EXTERNAL, NULL},
    {"phpfpm_respawns_total", "counter",
     "Workers replaced between scrapes, restarts excluded.", PS_SAMPLE,
     FPM_M_RESPAWNS, NULL},
    {"phpfpm_parse_repaired_entries", "gauge",
     "Worker entries with a broken string that was repaired.", PS_SAMPLE,
     FPM_M_PARSE_REPAIRED, NULL},
    {"phpfpm_parse_dropped_entries", "gauge",
     "Worker entries lost to broken JSON.", PS_SAMPLE, FPM_M_PARSE_DROPPED,
     NULL},
    {"phpfpm_parse_phantom_slots", "gauge",
     "Listed slots that are no worker (pid 0, state (null)), left out.",
     PS_SAMPLE, FPM_M_PARSE_PHANTOM, NULL},
    {"phpfpm_extra_field", "gauge",
     "Numeric pool field this version does not know, by FPM key.", PS_SAMPLE,
     FPM_M_EXTRA, "field"},
};
#define N_PROM (sizeof prom_families / sizeof prom_families[0])

static void prom_labels(struct fpm_buf *b, const struct fpm_output_item *it,
                        const char *child, const char *k2, const char *v2) {
  fpm_buf_puts(b, "{pool=\"");
  fpm_out_prom_label(b, pool_of(it));
  fpm_buf_putc(b, '"');
  if (child != NULL)
    fpm_buf_printf(b, ",child=\"%s\"", child);
  if (k2 != NULL) {
    fpm_buf_printf(b, ",%s=\"", k2);
    fpm_out_prom_label(b, v2);
    fpm_buf_putc(b, '"');
  }
  fpm_buf_puts(b, ",scrape_uri=\"");
  fpm_out_prom_label(b, it->target != NULL ? it->target : "");
  fpm_buf_puts(b, "\"}");
}

static void prom_value(struct fpm_buf *b, double v) {
  if (isnan(v))
    fpm_buf_puts(b, " NaN\n");
  else if (isinf(v))
    fpm_buf_puts(b, v > 0 ? " +Inf\n" : " -Inf\n");
  else {
    fpm_buf_putc(b, ' ');
    put_num(b, v);
    fpm_buf_putc(b, '\n');
  }
}

static void prom_header(struct fpm_buf *b, const struct prom_family *f,
                        int *done) {
  if (*done)
    return;
  *done = 1;
  fpm_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                 f->type);
}

static void prom_worker_lines(struct fpm_buf *b, const struct prom_family *f,
                              const struct fpm_output_item *it, int *done) {
  const struct fpm_status *st = &it->res->status;
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    char child[24];
    snprintf(child, sizeof child, "%zu", i);
    if (f->id == PW_STATE) {
      enum fpm_state cur = worker_state(it, i);
      for (int s = 0; s < FPM_STATE_UNKNOWN; s++) {
        prom_header(b, f, done);
        fpm_buf_puts(b, f->name);
        prom_labels(b, it, child, "state", fpm_state_name((enum fpm_state)s));
        prom_value(b, cur == (enum fpm_state)s ? 1 : 0);
      }
      continue;
    }
    double v;
    enum fpm_worker_field need;
    switch ((enum prom_worker_field)f->id) {
    case PW_REQUESTS:
      v = (double)w->requests;
      need = FPM_W_REQUESTS;
      break;
    case PW_MEMORY:
      v = (double)w->last_request_memory;
      need = FPM_W_LAST_REQUEST_MEMORY;
      break;
    case PW_CPU:
      v = w->last_request_cpu;
      need = FPM_W_LAST_REQUEST_CPU;
      break;
    default:
      v = (double)w->request_duration_us;
      need = FPM_W_REQUEST_DURATION;
      break;
    }
    if (!(w->present & (1u << need)))
      continue;
    prom_header(b, f, done);
    fpm_buf_puts(b, f->name);
    prom_labels(b, it, child, NULL, NULL);
    prom_value(b, v);
  }
}

int fpm_output_prometheus(const struct fpm_output_opts *o,
                          const struct fpm_output_item *items, size_t n,
                          struct fpm_buf *out) {
  struct fpm_sample **s = calloc(n ? n : 1, sizeof *s);
  size_t *ns = calloc(n ? n : 1, sizeof *ns);
  int rc = (s == NULL || ns == NULL) ? -1 : 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    ns[i] = fpm_output_samples(o, items[i].m, &s[i]);
    if (ns[i] == (size_t)-1) {
      ns[i] = 0;
      rc = -1;
    }
  }
  for (size_t f = 0; rc == 0 && f < N_PROM; f++) {
    const struct prom_family *fam = &prom_families[f];
    int done = 0;
    for (size_t i = 0; i < n; i++) {
      if (fam->src == PS_WORKER) {
        if (o->full && items[i].m != NULL)
          prom_worker_lines(out, fam, &items[i], &done);
        continue;
      }
      for (size_t k = 0; k < ns[i]; k++) {
        if ((int)s[i][k].def->id != fam->id)
          continue;
        prom_header(out, fam, &done);
        fpm_buf_puts(out, fam->name);
        prom_labels(out, &items[i], NULL, fam->label, s[i][k].instance);
        prom_value(out, s[i][k].value);
      }
    }
  }
  if (rc == 0)
    fpm_output_opcache_prometheus(o, items, n, out);
  for (size_t i = 0; s != NULL && i < n; i++)
    free(s[i]);
  free(s);
  free(ns);
  return rc != 0 || out->oom ? -1 : 0;
}
