/*
 * fpm_output_json.c: the json format: one object per target and line,
 * normalised snake_case keys that are the same for every PHP version (an
 * absent value is null, never missing and never 0). Generated with yajl_gen,
 * which escapes quotes, backslashes and control characters; strings are
 * made valid UTF-8 first (invalid bytes become U+FFFD), so the output is
 * valid JSON whatever FPM printed.
 */
#include "fpm_output.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

struct jctx {
  yajl_gen g;
  struct fpm_buf tmp; /* UTF-8 cleaning */
};

static void print_cb(void *ctx, const char *str, size_t len) {
  fpm_buf_add(ctx, str, len);
}

static void jkey(struct jctx *j, const char *k) {
  yajl_gen_string(j->g, (const unsigned char *)k, strlen(k));
}

static void jstr(struct jctx *j, const char *s) {
  if (s == NULL) {
    yajl_gen_null(j->g);
    return;
  }
  fpm_buf_reset(&j->tmp);
  fpm_out_utf8(&j->tmp, s, strlen(s));
  yajl_gen_string(j->g, (const unsigned char *)(j->tmp.data ? j->tmp.data : ""),
                  j->tmp.len);
}

static void ju64(struct jctx *j, uint64_t v) {
  char b[24];
  yajl_gen_number(j->g, b, fpm_out_u64(b, sizeof b, v));
}

static void ji64(struct jctx *j, int64_t v) {
  char b[24];
  yajl_gen_number(j->g, b, fpm_out_i64(b, sizeof b, v));
}

/* A double: integral values as integers, non-finite as null. */
static void jnum(struct jctx *j, double v) {
  if (!isfinite(v)) {
    yajl_gen_null(j->g);
    return;
  }
  char b[32];
  size_t n = fpm_out_num(b, sizeof b, v);
  yajl_gen_number(j->g, b, n);
}

static void jbool(struct jctx *j, int v) {
  yajl_gen_bool(j->g, v != 0);
}

static const struct fpm_sample *find(const struct fpm_sample *s, size_t n,
                                     enum fpm_metric_id id,
                                     const char *instance) {
  for (size_t i = 0; i < n; i++)
    if (s[i].def->id == id &&
        (instance == NULL || strcmp(s[i].instance, instance) == 0))
      return &s[i];
  return NULL;
}

static int is_family_or_slot(const struct fpm_metric_def *d) {
  return d->family || (d->id >= FPM_M_SLOT_STATE && d->id <= FPM_M_SLOT_MEMORY);
}

/* metrics: every plain metric of the model, null when absent */
static void j_metrics(struct jctx *j, const struct fpm_sample *s, size_t n) {
  jkey(j, "metrics");
  yajl_gen_map_open(j->g);
  for (int id = 0; id < FPM_M__COUNT; id++) {
    const struct fpm_metric_def *d = fpm_metric_def_get((enum fpm_metric_id)id);
    if (d == NULL || is_family_or_slot(d))
      continue;
    const struct fpm_sample *x = find(s, n, (enum fpm_metric_id)id, NULL);
    jkey(j, d->key);
    if (x == NULL)
      yajl_gen_null(j->g);
    else
      jnum(j, x->value);
  }
  yajl_gen_map_close(j->g);
}

static void j_states(struct jctx *j, const struct fpm_sample *s, size_t n) {
  jkey(j, "states");
  yajl_gen_map_open(j->g);
  for (int st = 0; st < FPM_STATE__COUNT; st++) {
    const char *k = fpm_state_key((enum fpm_state)st);
    const struct fpm_sample *x = find(s, n, FPM_M_STATE, k);
    jkey(j, k);
    if (x == NULL)
      yajl_gen_null(j->g);
    else
      jnum(j, x->value);
  }
  yajl_gen_map_close(j->g);
}

static void j_stats(struct jctx *j, const struct fpm_sample *s, size_t n) {
  static const enum fpm_metric_id fams[] = {FPM_M_DURATION, FPM_M_CPU,
                                            FPM_M_MEMORY};
  static const char *const members[] = {"min", "avg", "max",
                                        "p50", "p95", "p99"};
  jkey(j, "stats");
  yajl_gen_map_open(j->g);
  for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
    const struct fpm_metric_def *d = fpm_metric_def_get(fams[f]);
    jkey(j, d->key);
    yajl_gen_map_open(j->g);
    jkey(j, "unit");
    jstr(j, d->unit);
    for (size_t k = 0; k < sizeof members / sizeof members[0]; k++) {
      const struct fpm_sample *x = find(s, n, fams[f], members[k]);
      jkey(j, members[k]);
      if (x == NULL)
        yajl_gen_null(j->g);
      else
        jnum(j, x->value);
    }
    yajl_gen_map_close(j->g);
  }
  yajl_gen_map_close(j->g);
  jkey(j, "extra");
  yajl_gen_map_open(j->g);
  for (size_t i = 0; i < n; i++)
    if (s[i].def->id == FPM_M_EXTRA) {
      jkey(j, s[i].instance);
      jnum(j, s[i].value);
    }
  yajl_gen_map_close(j->g);
}

#define HAS(w, f) (((w)->present >> (f)) & 1u)

static void j_worker(struct jctx *j, const struct fpm_worker *w, size_t slot,
                     int self) {
  yajl_gen_map_open(j->g);
  jkey(j, "slot");
  ju64(j, slot);
  jkey(j, "self");
  jbool(j, self);
  jkey(j, "pid");
  if (HAS(w, FPM_W_PID))
    ji64(j, w->pid);
  else
    yajl_gen_null(j->g);
  jkey(j, "state");
  if (HAS(w, FPM_W_STATE))
    jstr(j, fpm_state_name(w->state));
  else
    yajl_gen_null(j->g);
  static const struct {
    const char *key;
    enum fpm_worker_field f;
  } nums[] = {{"start_time", FPM_W_START_TIME},
              {"start_since", FPM_W_START_SINCE},
              {"requests", FPM_W_REQUESTS},
              {"request_duration_us", FPM_W_REQUEST_DURATION},
              {"content_length", FPM_W_CONTENT_LENGTH},
              {"last_request_memory", FPM_W_LAST_REQUEST_MEMORY}};
  const uint64_t vals[] = {w->start_time,     w->start_since,
                           w->requests,       w->request_duration_us,
                           w->content_length, w->last_request_memory};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    jkey(j, nums[i].key);
    if (HAS(w, nums[i].f))
      ju64(j, vals[i]);
    else
      yajl_gen_null(j->g);
  }
  jkey(j, "last_request_cpu");
  if (HAS(w, FPM_W_LAST_REQUEST_CPU))
    jnum(j, w->last_request_cpu);
  else
    yajl_gen_null(j->g);
  jkey(j, "request_method");
  jstr(j, HAS(w, FPM_W_REQUEST_METHOD) ? w->method : NULL);
  jkey(j, "request_uri");
  jstr(j, HAS(w, FPM_W_REQUEST_URI) ? w->uri : NULL);
  jkey(j, "user");
  jstr(j, HAS(w, FPM_W_USER) ? w->user : NULL);
  jkey(j, "script");
  jstr(j, HAS(w, FPM_W_SCRIPT) ? w->script : NULL);
  jkey(j, "repaired");
  jbool(j, (w->flags & FPM_WORKER_REPAIRED) != 0);
  yajl_gen_map_close(j->g);
}

static void j_pool(struct jctx *j, const struct fpm_status *st) {
  jkey(j, "pool");
  jstr(j, fpm_status_has(st, FPM_F_POOL) ? st->pool : NULL);
  jkey(j, "process_manager");
  jstr(j,
       fpm_status_has(st, FPM_F_PROCESS_MANAGER) ? st->process_manager : NULL);
  jkey(j, "start_time");
  if (fpm_status_has(st, FPM_F_START_TIME))
    ju64(j, st->v[FPM_F_START_TIME]);
  else
    yajl_gen_null(j->g);
}

static void j_error(struct jctx *j, const struct fpm_result *r) {
  jkey(j, "error");
  if (r == NULL || r->err == FPM_OK) {
    yajl_gen_null(j->g);
    return;
  }
  yajl_gen_map_open(j->g);
  jkey(j, "code");
  ju64(j, (uint64_t)r->err);
  jkey(j, "class");
  jstr(j, fpm_strerror(r->err));
  jkey(j, "message");
  jstr(j, r->message);
  jkey(j, "fcgi");
  jstr(j, r->fcgi != FCGI_OK ? fcgi_err_name(r->fcgi) : NULL);
  jkey(j, "http_status");
  if (r->http_status != 0)
    ju64(j, (uint64_t)r->http_status);
  else
    yajl_gen_null(j->g);
  jkey(j, "stderr");
  jstr(j, r->stderr_excerpt[0] ? r->stderr_excerpt : NULL);
  yajl_gen_map_close(j->g);
}

static void j_source(struct jctx *j, const struct fpm_output_item *it) {
  const struct fpm_result *r = it->res;
  const struct fpm_status *st = &r->status;
  jkey(j, "self");
  yajl_gen_map_open(j->g);
  jkey(j, "marker");
  jstr(j, r->marker);
  jkey(j, "found");
  jbool(j, it->m->self_found);
  jkey(j, "slot");
  if (it->m->self_found)
    ji64(j, (int64_t)it->m->self_index);
  else
    yajl_gen_null(j->g);
  yajl_gen_map_close(j->g);
  jkey(j, "source");
  yajl_gen_map_open(j->g);
  jkey(j, "format");
  jstr(j, st->format == FPM_FORMAT_JSON ? "json" : "text");
  jkey(j, "fell_back_to_text");
  jbool(j, r->fell_back_to_text);
  jkey(j, "workers_listed");
  jbool(j, st->has_workers);
  jkey(j, "repaired");
  ju64(j, st->repaired);
  jkey(j, "dropped");
  ju64(j, st->dropped);
  jkey(j, "retried");
  jbool(j, r->retried);
  jkey(j, "duration_s");
  jnum(j, r->duration_s);
  yajl_gen_map_close(j->g);
}

static int j_body(struct jctx *j, const struct fpm_output_opts *o,
                  const struct fpm_output_item *it) {
  const struct fpm_result *r = it->res;
  yajl_gen_map_open(j->g);
  jkey(j, "target");
  jstr(j, it->target != NULL ? it->target : "");
  jkey(j, "ok");
  jbool(j, it->m != NULL);
  j_error(j, r);
  if (it->m == NULL) {
    yajl_gen_map_close(j->g);
    return 0;
  }
  j_pool(j, &r->status);
  struct fpm_sample *s;
  size_t n = fpm_output_samples(o, it->m, &s);
  if (n == (size_t)-1)
    return -1;
  j_metrics(j, s, n);
  j_states(j, s, n);
  j_stats(j, s, n);
  free(s);
  j_source(j, it);
  if (o->full) {
    jkey(j, "workers");
    yajl_gen_array_open(j->g);
    long self = fpm_output_self_index(it);
    for (size_t i = 0; i < r->status.n_workers; i++)
      j_worker(j, &r->status.workers[i], i, (long)i == self);
    yajl_gen_array_close(j->g);
  }
  yajl_gen_map_close(j->g);
  return 0;
}

int fpm_output_json(const struct fpm_output_opts *o,
                    const struct fpm_output_item *it, struct fpm_buf *out) {
  struct jctx j;
  memset(&j, 0, sizeof j);
  j.g = yajl_gen_alloc(NULL);
  if (j.g == NULL)
    return -1;
  yajl_gen_config(j.g, yajl_gen_print_callback, print_cb, (void *)out);
  int rc = j_body(&j, o, it);
  if (j.tmp.oom)
    rc = -1;
  yajl_gen_free(j.g);
  fpm_buf_free(&j.tmp);
  fpm_buf_putc(out, '\n');
  return rc != 0 || out->oom ? -1 : 0;
}
