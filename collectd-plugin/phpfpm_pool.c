/*
 * phpfpm_pool.c: one monitored pool: its read callback (one complex read
 * callback per pool, so collectd reads pools in parallel), which turns a
 * fetch into fpm_model samples and value lists and raises notifications;
 * its start and its end; and the links that tell a discovered pool's
 * registration that the pool is gone. Fetching, parsing and every computed
 * number live in fpmcore (fpm_fetch, fpm_model). The configuration entry
 * point is phpfpm.c; discovery (phpfpm_discover.c) starts pools here too.
 *
 * Timeouts and shutdown: each read ends by its deadline (start + Timeout,
 * Timeout < interval). collectd 5.12 joins the read threads before it runs
 * shutdown callbacks (plugin_shutdown_all: stop_read_threads, then the
 * free_funcs, then the shutdown list), so no plugin callback can cancel an
 * in-flight read; shutdown waits at most one Timeout for it.
 */
#include "phpfpm.h"
#include "phpfpm_fdgate.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P PHPFPM_PLUGIN_NAME " plugin: "

_Static_assert(FPM_M__COUNT <= 64, "bad_types is a 64-bit mask");

/* ------------------------------------------------------------ dispatch */

static void copy_field(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src);
}

static void submit(const struct phpfpm_pool *p, const struct fpm_sample *s) {
  value_t v;
  if (s->def->kind == FPM_KIND_COUNTER) {
    double d = s->value;
    v.derive = (d > 0 && d < 9.2e18) ? (derive_t)d : 0;
  } else {
    v.gauge = s->value;
  }
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = &v;
  vl.values_len = 1;
  vl.interval = p->interval;
  copy_field(vl.plugin, sizeof vl.plugin, PHPFPM_PLUGIN_NAME);
  copy_field(vl.plugin_instance, sizeof vl.plugin_instance, p->instance);
  copy_field(vl.type, sizeof vl.type, s->def->cd_type);
  copy_field(vl.type_instance, sizeof vl.type_instance, s->type_instance);
  plugin_dispatch_values(&vl);
}

/* Once per pool, at its first read (types.db is loaded by then): a metric
 * whose type is missing or has another data source type is not dispatched,
 * and the cause is logged once. */
static void check_types(struct phpfpm_pool *p) {
  p->types_checked = 1;
  for (int id = 0; id < FPM_M__COUNT; id++) {
    const struct fpm_metric_def *def = fpm_metric_def_get(id);
    if (def == NULL || def->cd_type == NULL)
      continue;
    int want = def->kind == FPM_KIND_COUNTER ? DS_TYPE_DERIVE : DS_TYPE_GAUGE;
    const data_set_t *ds = plugin_get_ds(def->cd_type);
    if (ds != NULL && ds->ds_num == 1 && ds->ds[0].type == want)
      continue;
    p->bad_types |= UINT64_C(1) << id;
    ERROR(P "pool \"%s\": type \"%s\" is %s%s in types.db, so %s is not "
            "dispatched; keep collectd's stock types.db in TypesDB",
          p->conf.name, def->cd_type, ds == NULL ? "missing" : "not a single ",
          ds == NULL ? "" : DS_TYPE_TO_STRING(want), def->key);
  }
}

static void dispatch_samples(struct phpfpm_pool *p,
                             const struct fpm_metrics *m) {
  size_t n =
      fpm_metrics_samples(m, p->conf.workers, p->conf.max_slots, NULL, 0);
  if (n > p->samples_cap) {
    struct fpm_sample *s = realloc(p->samples, n * sizeof *s);
    if (s == NULL) {
      ERROR(P "pool \"%s\": out of memory for %zu samples", p->conf.name, n);
      return;
    }
    p->samples = s;
    p->samples_cap = n;
  }
  n = fpm_metrics_samples(m, p->conf.workers, p->conf.max_slots, p->samples,
                          p->samples_cap);
  if (!p->types_checked)
    check_types(p);
  for (size_t i = 0; i < n && i < p->samples_cap; i++) {
    const struct fpm_sample *s = &p->samples[i];
    if (s->def != NULL && !((p->bad_types >> s->def->id) & 1u))
      submit(p, s);
  }
}

/* ------------------------------------------------------- notifications */

static void notify(const struct phpfpm_pool *p, int severity, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

static void notify(const struct phpfpm_pool *p, int severity, const char *fmt,
                   ...) {
  if (!p->conf.notifications)
    return;
  notification_t n = {.severity = severity, .time = cdtime()};
  copy_field(n.plugin, sizeof n.plugin, PHPFPM_PLUGIN_NAME);
  copy_field(n.plugin_instance, sizeof n.plugin_instance, p->instance);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(n.message, sizeof n.message, fmt, ap);
  va_end(ap);
  plugin_dispatch_notification(&n);
}

static void notify_slow(void *ud, const struct fpm_worker *w) {
  const struct phpfpm_pool *p = ud;
  char uri[PHPFPM_NOTIF_URI_MAX + 4], script[PHPFPM_NOTIF_SCRIPT_MAX + 4];
  char method[16];
  phpfpm_clean_text(w->uri != NULL ? w->uri : "", PHPFPM_NOTIF_URI_MAX, uri,
                    sizeof uri);
  phpfpm_clean_text(w->script != NULL ? w->script : "", PHPFPM_NOTIF_SCRIPT_MAX,
                    script, sizeof script);
  phpfpm_clean_text(w->method != NULL ? w->method : "", 10, method,
                    sizeof method);
  notify(p, NOTIF_WARNING,
         "slow request: pid %" PRId64 " has run %.1f s (SlowThreshold %g s): "
         "%s %s (script %s)",
         w->pid, (double)w->request_duration_us / 1e6, p->conf.slow_threshold_s,
         method, uri, script);
}

static void notify_changes(struct phpfpm_pool *p, const struct fpm_metrics *m,
                           const struct fpm_result *r) {
  const struct fpm_status *st = &r->status;
  if (m->have_prev && m->restarted)
    notify(p, NOTIF_WARNING,
           "php-fpm pool restarted (start time changed or counters fell); "
           "counters start again from %" PRIu64 " accepted connections",
           st->v[FPM_F_ACCEPTED_CONN]);
  if (m->have_prev && m->d_max_children_reached > 0)
    notify(p, NOTIF_WARNING,
           "max children reached went up by %" PRIu64 " to %" PRIu64
           ": the pool ran out of workers (raise pm.max_children?)",
           m->d_max_children_reached, st->v[FPM_F_MAX_CHILDREN_REACHED]);
  if (phpfpm_slow_update(&p->slow, st, r->marker, p->conf.slow_threshold_s,
                         notify_slow, p) < 0)
    ERROR(P "pool \"%s\": out of memory tracking slow requests", p->conf.name);
}

/* ---------------------------------------------------------------- read */

/* A failed status fetch: find out whether php-fpm answers at all (ping,
 * within the same deadline) when the status page itself was the problem. */
static void ping_hint(struct phpfpm_pool *p, const struct fpm_result *r,
                      int64_t deadline, char *buf, size_t len) {
  buf[0] = '\0';
  if (r->err != FPM_EHTTP && r->err != FPM_EPARSE)
    return;
  if (fcgi_now_ms() >= deadline)
    return;
  struct fpm_result ping;
  fpm_result_init(&ping);
  if (p->fetch(p->fetcher, FPM_FETCH_PING, deadline, NULL, &ping) == FPM_OK)
    snprintf(buf, len,
             " (ping %s answers: php-fpm runs, the status page is the "
             "problem; check pm.status_path against StatusPath)",
             p->conf.ping_path);
  fpm_history_add_requests(&p->hist, ping.requests); /* ours, not traffic */
  fpm_result_clear(&ping);
}

/* The typed codes, for searching logs: "[cannot connect, FCGI_ENOENT]". */
static void error_codes(const struct fpm_result *r, char *buf, size_t len) {
  if (r->fcgi != FCGI_OK)
    snprintf(buf, len, " [%s, %s]", fpm_err_str(r->err),
             fcgi_err_name(r->fcgi));
  else if (r->http_status != 0 && r->http_status != 200)
    snprintf(buf, len, " [%s, HTTP %d]", fpm_err_str(r->err), r->http_status);
  else
    snprintf(buf, len, " [%s]", fpm_err_str(r->err));
}

static void read_failed(struct phpfpm_pool *p, const struct fpm_result *r,
                        int64_t deadline) {
  char hint[192], codes[96];
  fpm_history_add_requests(&p->hist, r->requests);
  ping_hint(p, r, deadline, hint, sizeof hint);
  error_codes(r, codes, sizeof codes);
  c_complain(LOG_ERR, &p->complaint, P "pool \"%s\": %s%s%s", p->conf.name,
             r->message[0] != '\0' ? r->message : fpm_err_str(r->err), hint,
             codes);
  if (!p->down) {
    p->down = 1;
    if (p->link != NULL && p->conf.notifications)
      atomic_store(&p->link->down, 1);
    notify(p, NOTIF_FAILURE, "php-fpm pool unreachable: %s",
           r->message[0] != '\0' ? r->message : fpm_err_str(r->err));
  }
  dispatch_samples(p, NULL);
}

static void read_ok(struct phpfpm_pool *p, const struct fpm_result *r) {
  c_release(LOG_INFO, &p->complaint, P "pool \"%s\": status readable again",
            p->conf.name);
  if (p->down) {
    p->down = 0;
    if (p->link != NULL)
      atomic_store(&p->link->down, 0);
    notify(p, NOTIF_OKAY, "php-fpm pool reachable again");
  }
  /* scrape_tag: Idle workers whose last request was a scrape (ours or
   * fpmstat's) stay out of the last-request statistics */
  struct fpm_model_opts o = {.self_marker = r->marker,
                             .slow_threshold_s = p->conf.slow_threshold_s,
                             .max_children = p->conf.max_children,
                             .scrape_tag = "fpmstat=",
                             .own_requests = r->requests};
  struct fpm_metrics m;
  fpm_model_compute(&r->status, &o, &p->hist, &m);
  if (p->conf.worker_memory)
    phpfpm_memory_read(p, &r->status, &m);
  dispatch_samples(p, &m);
  notify_changes(p, &m, r);
}

int phpfpm_read(user_data_t *ud) {
  struct phpfpm_pool *p = ud->data;
  int64_t timeout_ms = (int64_t)(p->conf.timeout_s * 1000.0 + 0.5);
  int64_t deadline = fcgi_now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
  struct fpm_result r;
  fpm_result_init(&r);
  if (p->fetch(p->fetcher, FPM_FETCH_STATUS, deadline, NULL, &r) == FPM_OK) {
    read_ok(p, &r);
    if (p->conf.opcache)
      phpfpm_opcache_read(p, deadline);
  } else
    read_failed(p, &r, deadline);
  fpm_result_clear(&r);
  return 0;
}

/* -------------------------------------------------------------- config */

void phpfpm_pool_free(void *data) {
  struct phpfpm_pool *p = data;
  if (p == NULL)
    return;
  fpm_fetcher_free(p->fetcher);
  fpm_history_free(&p->hist);
  phpfpm_slow_free(&p->slow);
  fpm_memcache_free(p->memcache);
  free(p->samples);
  phpfpm_link_put(p->link);
  phpfpm_opcache_pool_free(p);
  phpfpm_conf_clear(&p->conf);
  free(p);
}

/* collectd 5.12 calls ud's free_func itself when the registration fails
 * (plugin_register_complex_read: free_userdata), so p belongs to collectd
 * from the call on: everything logged afterwards is copied before it. */
static int pool_register(struct phpfpm_pool *p) {
  char cb_name[DATA_MAX_NAME_LEN + 16], name[PHPFPM_MAX_POOL_NAME + 1];
  char info[1024];
  snprintf(name, sizeof name, "%s", p->conf.name);
  snprintf(cb_name, sizeof cb_name, PHPFPM_PLUGIN_NAME "/%s", name);
  char mem[128] = "";
  if (p->conf.worker_memory && p->conf.worker_pss)
    snprintf(mem, sizeof mem,
             ", worker memory from /proc (each worker's RSS at least every "
             "%u reads, PSS every %u)",
             p->conf.rss_every, p->conf.pss_every);
  else if (p->conf.worker_memory)
    snprintf(mem, sizeof mem,
             ", worker memory from /proc (each worker's RSS at least every "
             "%u reads)",
             p->conf.rss_every);
  snprintf(info, sizeof info,
           P "pool \"%s\": reading %s every %g s, timeout %g s, workers %s%s",
           p->conf.name, p->conf.endpoint, p->conf.interval_s,
           p->conf.timeout_s, phpfpm_workers_name(p->conf.workers), mem);
  cdtime_t interval =
      p->conf.interval_set ? DOUBLE_TO_CDTIME_T(p->conf.interval_s) : 0;
  user_data_t ud = {.data = p, .free_func = phpfpm_pool_free};
  if (plugin_register_complex_read(NULL, cb_name, phpfpm_read, interval, &ud) !=
      0) {
    ERROR(P "pool \"%s\": cannot register the read callback \"%s\" (is a "
            "pool of that name configured twice, or in two <Plugin phpfpm> "
            "blocks?)",
          name, cb_name);
    return -1;
  }
  INFO("%s", info);
  return 0;
}

int phpfpm_pool_start(struct phpfpm_pool *p) {
  const struct phpfpm_conf *c = &p->conf;
  struct fpm_target t = {.endpoint = c->endpoint,
                         .status_path = c->status_path,
                         .ping_path = c->ping_path,
                         .root = c->root,
                         .netns = c->netns,
                         .tag = c->tag,
                         .pool = c->section};
  char err[512] = "";
  p->fetcher = fpm_fetcher_new(&t, err, sizeof err);
  if (p->fetcher == NULL) {
    ERROR(P "pool \"%s\": %s: %s", c->name, c->is_socket ? "Socket" : "Address",
          err[0] != '\0' ? err : "out of memory");
    phpfpm_pool_free(p);
    return -1;
  }
  p->fetch = phpfpm_fetch_gated; /* reads bounded by descriptors */
  p->interval = DOUBLE_TO_CDTIME_T(c->interval_s);
  phpfpm_instance_name(c->name, p->instance, sizeof p->instance);
  C_COMPLAIN_INIT(&p->complaint);
  if (phpfpm_opcache_pool_init(p) != 0) {
    phpfpm_pool_free(p);
    return -1;
  }
  return pool_register(p);
}

/* -------------------------------------------------------------- links */

struct phpfpm_link *phpfpm_link_new(const char *name) {
  struct phpfpm_link *l = calloc(1, sizeof *l);
  if (l == NULL)
    return NULL;
  atomic_init(&l->refs, 2);
  atomic_init(&l->down, 0);
  snprintf(l->name, sizeof l->name, "%s", name);
  return l;
}

void phpfpm_link_put(struct phpfpm_link *l) {
  if (l != NULL && atomic_fetch_sub(&l->refs, 1) == 1)
    free(l);
}
