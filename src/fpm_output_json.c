/*
 * fpm_output_json.c: the json format: one object per target and line,
 * normalised snake_case keys that are the same for every PHP version (an
 * absent value is null, never missing and never 0). Written by hand, byte
 * for byte what yajl_gen (no beautify) wrote before: strings go through
 * fpm_out_json_str, which makes them valid UTF-8 (invalid bytes become
 * U+FFFD) and escapes quotes, backslashes and control characters, so the
 * output is valid JSON whatever FPM printed. fpmstat runs once per scrape:
 * the generator and its per-token callbacks were a quarter of its cost.
 */
#include "fpm_output.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The writer: sep says a value was just completed, so the next key, value
 * or container needs a comma before it (inside a map, a key's value never
 * does: jkey clears sep). Tokens are written straight into the buffer. */
struct jw {
  struct fpm_buf *b;
  int sep;
};

/* Room for more bytes (plus the comma when one is due, which it writes):
 * the write position, or NULL after out of memory. */
static char *jbegin(struct jw *j, size_t more) {
  struct fpm_buf *b = j->b;
  if (b->oom ||
      (b->len + more + 2 > b->cap && fpm_buf_reserve(b, more + 1) != 0))
    return NULL;
  char *p = b->data + b->len;
  if (j->sep)
    *p++ = ',';
  return p;
}

static void jend(struct jw *j, char *p, int sep) {
  j->b->len = (size_t)(p - j->b->data);
  *p = '\0';
  j->sep = sep;
}

static void jopen(struct jw *j, char c) {
  char *p = jbegin(j, 1);
  if (p == NULL)
    return;
  *p++ = c;
  jend(j, p, 0);
}

static void jclose(struct jw *j, char c) {
  j->sep = 0;
  char *p = jbegin(j, 1);
  if (p == NULL)
    return;
  *p++ = c;
  jend(j, p, 1);
}

/* "s": or "s" (a key, or a string value), escaped */
static void jquoted(struct jw *j, const char *s, int key) {
  size_t n = strlen(s);
  if (n > (SIZE_MAX - 8) / 6) {
    j->b->oom = 1; /* cannot be sized: fail like out of memory */
    return;
  }
  char *p = jbegin(j, 6 * n + 3);
  if (p == NULL)
    return;
  *p++ = '"';
  p = fpm_out_json_body(p, s, n);
  *p++ = '"';
  if (key)
    *p++ = ':';
  jend(j, p, !key);
}

static void jkey(struct jw *j, const char *k) {
  jquoted(j, k, 1);
}

/* A bare token: null, true, false. */
static void jraw(struct jw *j, const char *s, size_t n) {
  char *p = jbegin(j, n);
  if (p == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    *p++ = s[i];
  jend(j, p, 1);
}

static void jnull(struct jw *j) {
  jraw(j, "null", 4);
}

static void jbool(struct jw *j, int v) {
  if (v)
    jraw(j, "true", 4);
  else
    jraw(j, "false", 5);
}

static void jstr(struct jw *j, const char *s) {
  if (s == NULL)
    jnull(j);
  else
    jquoted(j, s, 0);
}

/* Numbers are formatted in place: the formatters want 32 bytes of room. */
static void ju64(struct jw *j, uint64_t v) {
  char *p = jbegin(j, 32);
  if (p != NULL)
    jend(j, p + fpm_out_u64(p, 32, v), 1);
}

static void ji64(struct jw *j, int64_t v) {
  char *p = jbegin(j, 32);
  if (p != NULL)
    jend(j, p + fpm_out_i64(p, 32, v), 1);
}

/* A double: integral values as integers, non-finite as null. */
static void jnum(struct jw *j, double v) {
  if (!isfinite(v)) {
    jnull(j);
    return;
  }
  char *p = jbegin(j, 32);
  if (p != NULL)
    jend(j, p + fpm_out_num(p, 32, v), 1);
}

/* The samples with a given id sit in [lo, hi) (fpm_metrics_samples groups
 * them by id): a lookup scans that span only, not the whole list. */
struct span {
  size_t lo, hi;
};

struct samples {
  const struct fpm_sample *s;
  struct span by_id[FPM_M__COUNT];
};

static void index_samples(struct samples *x, const struct fpm_sample *s,
                          size_t n) {
  x->s = s;
  memset(x->by_id, 0, sizeof x->by_id);
  for (size_t i = n; i-- > 0;) {
    unsigned id = (unsigned)s[i].def->id;
    if (id >= FPM_M__COUNT)
      continue;
    if (x->by_id[id].hi == 0)
      x->by_id[id].hi = i + 1;
    x->by_id[id].lo = i;
  }
}

/* The first sample of id (with that instance unless NULL), or NULL. */
static const struct fpm_sample *
find(const struct samples *x, enum fpm_metric_id id, const char *instance) {
  const struct span *sp = &x->by_id[id];
  for (size_t i = sp->lo; i < sp->hi; i++)
    if (x->s[i].def->id == id &&
        (instance == NULL || strcmp(x->s[i].instance, instance) == 0))
      return &x->s[i];
  return NULL;
}

static void jsample(struct jw *j, const struct fpm_sample *x) {
  if (x == NULL)
    jnull(j);
  else
    jnum(j, x->value);
}

static int is_family_or_slot(const struct fpm_metric_def *d) {
  return d->family || (d->id >= FPM_M_SLOT_STATE && d->id <= FPM_M_SLOT_MEMORY);
}

/* metrics: every plain metric of the model, null when absent */
static void j_metrics(struct jw *j, const struct samples *x) {
  jkey(j, "metrics");
  jopen(j, '{');
  for (int id = 0; id < FPM_M__COUNT; id++) {
    const struct fpm_metric_def *d = fpm_metric_def_get((enum fpm_metric_id)id);
    if (d == NULL || is_family_or_slot(d))
      continue;
    jkey(j, d->key);
    jsample(j, find(x, (enum fpm_metric_id)id, NULL));
  }
  jclose(j, '}');
}

static void j_states(struct jw *j, const struct samples *x) {
  jkey(j, "states");
  jopen(j, '{');
  for (int st = 0; st < FPM_STATE__COUNT; st++) {
    const char *k = fpm_state_key((enum fpm_state)st);
    jkey(j, k);
    jsample(j, find(x, FPM_M_STATE, k));
  }
  jclose(j, '}');
}

static void j_stats(struct jw *j, const struct samples *x) {
  static const enum fpm_metric_id fams[] = {FPM_M_DURATION, FPM_M_CPU,
                                            FPM_M_MEMORY};
  static const char *const members[] = {"min", "avg", "max",
                                        "p50", "p95", "p99"};
  jkey(j, "stats");
  jopen(j, '{');
  for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
    const struct fpm_metric_def *d = fpm_metric_def_get(fams[f]);
    jkey(j, d->key);
    jopen(j, '{');
    jkey(j, "unit");
    jstr(j, d->unit);
    for (size_t k = 0; k < sizeof members / sizeof members[0]; k++) {
      jkey(j, members[k]);
      jsample(j, find(x, fams[f], members[k]));
    }
    jclose(j, '}');
  }
  jclose(j, '}');
  jkey(j, "extra");
  jopen(j, '{');
  const struct span *sp = &x->by_id[FPM_M_EXTRA];
  for (size_t i = sp->lo; i < sp->hi; i++)
    if (x->s[i].def->id == FPM_M_EXTRA) {
      jkey(j, x->s[i].instance);
      jnum(j, x->s[i].value);
    }
  jclose(j, '}');
}

#define HAS(w, f) (((w)->present >> (f)) & 1u)

static void j_worker(struct jw *j, const struct fpm_worker *w, size_t slot,
                     int self) {
  jopen(j, '{');
  jkey(j, "slot");
  ju64(j, slot);
  jkey(j, "self");
  jbool(j, self);
  jkey(j, "pid");
  if (HAS(w, FPM_W_PID))
    ji64(j, w->pid);
  else
    jnull(j);
  jkey(j, "state");
  jstr(j, HAS(w, FPM_W_STATE) ? fpm_state_name(w->state) : NULL);
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
      jnull(j);
  }
  jkey(j, "last_request_cpu");
  if (HAS(w, FPM_W_LAST_REQUEST_CPU))
    jnum(j, w->last_request_cpu);
  else
    jnull(j);
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
  jclose(j, '}');
}

static void j_pool(struct jw *j, const struct fpm_status *st) {
  jkey(j, "pool");
  jstr(j, fpm_status_has(st, FPM_F_POOL) ? st->pool : NULL);
  jkey(j, "process_manager");
  jstr(j,
       fpm_status_has(st, FPM_F_PROCESS_MANAGER) ? st->process_manager : NULL);
  jkey(j, "start_time");
  if (fpm_status_has(st, FPM_F_START_TIME))
    ju64(j, st->v[FPM_F_START_TIME]);
  else
    jnull(j);
}

static void j_error(struct jw *j, const struct fpm_result *r) {
  jkey(j, "error");
  if (r == NULL || r->err == FPM_OK) {
    jnull(j);
    return;
  }
  jopen(j, '{');
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
    jnull(j);
  jkey(j, "stderr");
  jstr(j, r->stderr_excerpt[0] ? r->stderr_excerpt : NULL);
  jclose(j, '}');
}

static void j_source(struct jw *j, const struct fpm_output_item *it) {
  const struct fpm_result *r = it->res;
  const struct fpm_status *st = &r->status;
  jkey(j, "self");
  jopen(j, '{');
  jkey(j, "marker");
  jstr(j, r->marker);
  jkey(j, "found");
  jbool(j, it->m->self_found);
  jkey(j, "slot");
  if (it->m->self_found)
    ji64(j, (int64_t)it->m->self_index);
  else
    jnull(j);
  jclose(j, '}');
  jkey(j, "source");
  jopen(j, '{');
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
  jclose(j, '}');
}

/* The model's samples without the per-slot series (json prints the worker
 * list itself, from the snapshot): one call in the usual case, two when
 * the first guess of the count is short. NULL on out of memory. */
#define SAMPLES_GUESS 64

static struct fpm_sample *get_samples(const struct fpm_metrics *m, size_t *n) {
  struct fpm_sample *s = malloc(SAMPLES_GUESS * sizeof *s);
  if (s == NULL)
    return NULL;
  size_t k = fpm_metrics_samples(m, FPM_WORKERS_SUMMARY, 0, s, SAMPLES_GUESS);
  if (k > SAMPLES_GUESS) {
    struct fpm_sample *t = realloc(s, k * sizeof *s);
    if (t == NULL) {
      free(s);
      return NULL;
    }
    s = t;
    size_t got = fpm_metrics_samples(m, FPM_WORKERS_SUMMARY, 0, s, k);
    k = got < k ? got : k;
  }
  *n = k;
  return s;
}

static int j_body(struct jw *j, const struct fpm_output_opts *o,
                  const struct fpm_output_item *it) {
  const struct fpm_result *r = it->res;
  jopen(j, '{');
  jkey(j, "target");
  jstr(j, it->target != NULL ? it->target : "");
  jkey(j, "ok");
  jbool(j, it->m != NULL);
  j_error(j, r);
  if (it->m == NULL) {
    jclose(j, '}');
    return 0;
  }
  j_pool(j, &r->status);
  size_t n = 0;
  struct fpm_sample *s = get_samples(it->m, &n);
  if (s == NULL)
    return -1;
  struct samples x;
  index_samples(&x, s, n);
  j_metrics(j, &x);
  j_states(j, &x);
  j_stats(j, &x);
  free(s);
  j_source(j, it);
  if (o->full) {
    jkey(j, "workers");
    jopen(j, '[');
    long self = fpm_output_self_index(it);
    for (size_t i = 0; i < r->status.n_workers; i++)
      j_worker(j, &r->status.workers[i], i, (long)i == self);
    jclose(j, ']');
  }
  jclose(j, '}');
  return 0;
}

int fpm_output_json(const struct fpm_output_opts *o,
                    const struct fpm_output_item *it, struct fpm_buf *out) {
  struct jw j = {out, 0};
  int rc = j_body(&j, o, it);
  fpm_buf_putc(out, '\n');
  return rc != 0 || out->oom ? -1 : 0;
}
