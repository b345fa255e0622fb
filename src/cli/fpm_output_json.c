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
#include "fpm_metrics_int.h"
#include "fpm_output.h"
#include "fpm_output_memory.h"
#include "fpm_output_opcache.h"

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
static inline char *jbegin(struct jw *j, size_t more) {
  struct fpm_buf *b = j->b;
  if (b->oom ||
      (b->len + more + 2 > b->cap && fpm_buf_reserve(b, more + 1) != 0))
    return NULL;
  char *p = b->data + b->len;
  if (j->sep)
    *p++ = ',';
  return p;
}

static inline void jend(struct jw *j, char *p, int sep) {
  j->b->len = (size_t)(p - j->b->data);
  *p = '\0';
  j->sep = sep;
}

/* n bytes that need no escaping, then sep as jend takes it. Inlined, so a
 * literal's copy is a few moves: most tokens are literals. */
static inline __attribute__((always_inline)) void
jlit(struct jw *j, const char *s, size_t n, int sep) {
  char *p = jbegin(j, n);
  if (p == NULL)
    return;
  memcpy(p, s, n);
  jend(j, p + n, sep);
}

/* A key written in the source: "k": as it is (C string literals only). */
#define JKEY(j, k) jlit((j), "\"" k "\":", sizeof("\"" k "\":") - 1, 0)

static void jopen(struct jw *j, char c) {
  jlit(j, &c, 1, 0);
}

static void jclose(struct jw *j, char c) {
  j->sep = 0;
  jlit(j, &c, 1, 1);
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

/* A name of the project's own tables (metric keys and units, state keys
 * and names): printable ASCII without '"' or '\\' (test_output checks
 * every one), so it is copied, not escaped. */
static void jname(struct jw *j, const char *s, int key) {
  size_t n = strlen(s);
  char *p = jbegin(j, n + 3);
  if (p == NULL)
    return;
  *p++ = '"';
  memcpy(p, s, n);
  p += n;
  *p++ = '"';
  if (key)
    *p++ = ':';
  jend(j, p, !key);
}

static void jnull(struct jw *j) {
  jlit(j, "null", 4, 1);
}

static void jbool(struct jw *j, int v) {
  if (v)
    jlit(j, "true", 4, 1);
  else
    jlit(j, "false", 5, 1);
}

static void jstr(struct jw *j, const char *s) {
  if (s == NULL)
    jnull(j);
  else
    jquoted(j, s, 0);
}

/* Numbers are formatted in place: the formatters want 32 bytes of room. */
static void ju64(struct jw *j, uint64_t v) {
  char *p = jbegin(j, 20);
  if (p != NULL)
    jend(j, fpm_out_u64_at(p, v), 1);
}

static void ji64(struct jw *j, int64_t v) {
  char *p = jbegin(j, 32);
  if (p != NULL)
    jend(j, p + fpm_out_i64(p, 32, v), 1);
}

/* A double: integral values as integers, non-finite as null. */
static void jnum(struct jw *j, double v) {
  if (v >= 0 && v < 9007199254740992.0 && (double)(uint64_t)v == v) {
    ju64(j, (uint64_t)v); /* what fpm_out_num prints, most values */
    return;
  }
  if (!isfinite(v)) {
    jnull(j);
    return;
  }
  char *p = jbegin(j, 32);
  if (p != NULL)
    jend(j, p + fpm_out_num(p, 32, v), 1);
}

static void jnum_or_null(struct jw *j, int present, double v) {
  if (present)
    jnum(j, v);
  else
    jnull(j);
}

static int is_family_or_slot(const struct fpm_metric_def *d) {
  return d->family || (d->id >= FPM_M_SLOT_STATE && d->id <= FPM_M_SLOT_MEMORY);
}

/* The values come from the model through the functions the sample list is
 * built with (fpm_metrics_plain, fpm_metrics_stats): the same numbers as
 * every other format, without building samples. */

/* metrics: every plain metric of the model, null when absent */
static void j_metrics(struct jw *j, const struct fpm_metrics *m) {
  JKEY(j, "metrics");
  jopen(j, '{');
  for (int id = 0; id < FPM_M__COUNT; id++) {
    const struct fpm_metric_def *d = fpm_metric_def_get((enum fpm_metric_id)id);
    if (d == NULL || is_family_or_slot(d))
      continue;
    double v = 0;
    int has =
        fpm_metrics_plain(m, (enum fpm_metric_id)id, FPM_WORKERS_SUMMARY, &v);
    jname(j, d->key, 1);
    jnum_or_null(j, has, v);
  }
  jclose(j, '}');
}

static void j_states(struct jw *j, const struct fpm_metrics *m) {
  JKEY(j, "states");
  jopen(j, '{');
  for (int st = 0; st < FPM_STATE__COUNT; st++) {
    jname(j, fpm_state_key((enum fpm_state)st), 1);
    jnum_or_null(j, m->from_list, (double)m->by_state[st]);
  }
  jclose(j, '}');
}

/* The model's samples without the per-slot series and collectd names, for
 * the extra fields: into the caller's array of SAMPLES_STACK in the usual
 * case, else malloc'ed (*heap set). NULL on out of memory. */
#define SAMPLES_STACK 64

static struct fpm_sample *get_samples(const struct fpm_metrics *m,
                                      struct fpm_sample *stack, size_t *n,
                                      struct fpm_sample **heap) {
  *heap = NULL;
  size_t k =
      fpm_metrics_samples_bare(m, FPM_WORKERS_SUMMARY, 0, stack, SAMPLES_STACK);
  if (k <= SAMPLES_STACK) {
    *n = k;
    return stack;
  }
  struct fpm_sample *s = malloc(k * sizeof *s);
  if (s == NULL)
    return NULL;
  size_t got = fpm_metrics_samples_bare(m, FPM_WORKERS_SUMMARY, 0, s, k);
  *n = got < k ? got : k;
  *heap = s;
  return s;
}

/* extra: FPM's numeric fields this version does not know, by their
 * sanitised keys (the samples hold the sanitising and the duplicates) */
static int j_extra(struct jw *j, const struct fpm_metrics *m) {
  JKEY(j, "extra");
  jopen(j, '{');
  if (m->st->n_extra > 0) {
    size_t n = 0;
    struct fpm_sample stack[SAMPLES_STACK], *heap;
    const struct fpm_sample *s = get_samples(m, stack, &n, &heap);
    if (s == NULL)
      return -1;
    for (size_t i = 0; i < n; i++)
      if (s[i].def->id == FPM_M_EXTRA) {
        jkey(j, s[i].instance);
        jnum(j, s[i].value);
      }
    free(heap);
  }
  jclose(j, '}');
  return 0;
}

static void j_stats(struct jw *j, const struct fpm_metrics *m) {
  static const enum fpm_metric_id fams[] = {FPM_M_DURATION, FPM_M_CPU,
                                            FPM_M_MEMORY};
  JKEY(j, "stats");
  jopen(j, '{');
  for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
    const struct fpm_metric_def *d = fpm_metric_def_get(fams[f]);
    const struct fpm_stats *s =
        fpm_metrics_stats(m, fams[f], FPM_WORKERS_SUMMARY);
    int has = s != NULL;
    jname(j, d->key, 1);
    jopen(j, '{');
    JKEY(j, "unit");
    jname(j, d->unit, 0);
    JKEY(j, "min");
    jnum_or_null(j, has, has ? s->min : 0);
    JKEY(j, "avg");
    jnum_or_null(j, has, has ? s->avg : 0);
    JKEY(j, "max");
    jnum_or_null(j, has, has ? s->max : 0);
    JKEY(j, "p50");
    jnum_or_null(j, has, has ? s->p50 : 0);
    JKEY(j, "p95");
    jnum_or_null(j, has, has ? s->p95 : 0);
    JKEY(j, "p99");
    jnum_or_null(j, has, has ? s->p99 : 0);
    jclose(j, '}');
  }
  jclose(j, '}');
}

#define HAS(w, f) (((w)->present >> (f)) & 1u)

static void ju64_or_null(struct jw *j, int has, uint64_t v) {
  if (has)
    ju64(j, v);
  else
    jnull(j);
}

static void j_worker(struct jw *j, const struct fpm_worker *w, size_t slot,
                     int self) {
  jopen(j, '{');
  JKEY(j, "slot");
  ju64(j, slot);
  JKEY(j, "self");
  jbool(j, self);
  JKEY(j, "pid");
  if (HAS(w, FPM_W_PID))
    ji64(j, w->pid);
  else
    jnull(j);
  JKEY(j, "state");
  if (HAS(w, FPM_W_STATE))
    jname(j, fpm_state_name(w->state), 0);
  else
    jnull(j);
  JKEY(j, "start_time");
  ju64_or_null(j, HAS(w, FPM_W_START_TIME), w->start_time);
  JKEY(j, "start_since");
  ju64_or_null(j, HAS(w, FPM_W_START_SINCE), w->start_since);
  JKEY(j, "requests");
  ju64_or_null(j, HAS(w, FPM_W_REQUESTS), w->requests);
  JKEY(j, "request_duration_us");
  ju64_or_null(j, HAS(w, FPM_W_REQUEST_DURATION), w->request_duration_us);
  JKEY(j, "content_length");
  ju64_or_null(j, HAS(w, FPM_W_CONTENT_LENGTH), w->content_length);
  JKEY(j, "last_request_memory");
  ju64_or_null(j, HAS(w, FPM_W_LAST_REQUEST_MEMORY), w->last_request_memory);
  JKEY(j, "last_request_cpu");
  if (HAS(w, FPM_W_LAST_REQUEST_CPU))
    jnum(j, w->last_request_cpu);
  else
    jnull(j);
  JKEY(j, "request_method");
  jstr(j, HAS(w, FPM_W_REQUEST_METHOD) ? w->method : NULL);
  JKEY(j, "request_uri");
  jstr(j, HAS(w, FPM_W_REQUEST_URI) ? w->uri : NULL);
  JKEY(j, "user");
  jstr(j, HAS(w, FPM_W_USER) ? w->user : NULL);
  JKEY(j, "script");
  jstr(j, HAS(w, FPM_W_SCRIPT) ? w->script : NULL);
  JKEY(j, "repaired");
  jbool(j, (w->flags & FPM_WORKER_REPAIRED) != 0);
  jclose(j, '}');
}

static void j_pool(struct jw *j, const struct fpm_status *st) {
  JKEY(j, "pool");
  jstr(j, fpm_status_has(st, FPM_F_POOL) ? st->pool : NULL);
  JKEY(j, "process_manager");
  jstr(j,
       fpm_status_has(st, FPM_F_PROCESS_MANAGER) ? st->process_manager : NULL);
  JKEY(j, "start_time");
  if (fpm_status_has(st, FPM_F_START_TIME))
    ju64(j, st->v[FPM_F_START_TIME]);
  else
    jnull(j);
}

static void j_error(struct jw *j, const struct fpm_result *r) {
  JKEY(j, "error");
  if (r == NULL || r->err == FPM_OK) {
    jnull(j);
    return;
  }
  jopen(j, '{');
  JKEY(j, "code");
  ju64(j, (uint64_t)r->err);
  JKEY(j, "class");
  jstr(j, fpm_err_str(r->err));
  JKEY(j, "message");
  jstr(j, r->message);
  JKEY(j, "fcgi");
  jstr(j, r->fcgi != FCGI_OK ? fcgi_err_name(r->fcgi) : NULL);
  JKEY(j, "http_status");
  if (r->http_status != 0)
    ju64(j, (uint64_t)r->http_status);
  else
    jnull(j);
  JKEY(j, "stderr");
  jstr(j, r->stderr_excerpt[0] ? r->stderr_excerpt : NULL);
  jclose(j, '}');
}

static void j_source(struct jw *j, const struct fpm_output_item *it) {
  const struct fpm_result *r = it->res;
  const struct fpm_status *st = &r->status;
  JKEY(j, "self");
  jopen(j, '{');
  JKEY(j, "marker");
  jstr(j, r->marker);
  JKEY(j, "found");
  jbool(j, it->m->self_found);
  JKEY(j, "slot");
  if (it->m->self_found)
    ji64(j, (int64_t)it->m->self_index);
  else
    jnull(j);
  jclose(j, '}');
  JKEY(j, "source");
  jopen(j, '{');
  JKEY(j, "format");
  jstr(j, st->format == FPM_FORMAT_JSON ? "json" : "text");
  JKEY(j, "fell_back_to_text");
  jbool(j, r->fell_back_to_text);
  JKEY(j, "workers_listed");
  jbool(j, st->has_workers);
  JKEY(j, "repaired");
  ju64(j, st->repaired);
  JKEY(j, "dropped");
  ju64(j, st->dropped);
  JKEY(j, "phantom");
  ju64(j, st->phantom);
  JKEY(j, "retried");
  jbool(j, r->retried);
  JKEY(j, "duration_s");
  jnum(j, r->duration_s);
  jclose(j, '}');
}

/* "opcache": {...} when --opcache asked for it. */
static void j_opcache(struct jw *j, const struct fpm_output_item *it) {
  if (it->opcache == NULL)
    return;
  JKEY(j, "opcache");
  fpm_output_opcache_json(j->b, it->opcache, it->master);
  j->sep = 1;
}

static int j_body(struct jw *j, const struct fpm_output_opts *o,
                  const struct fpm_output_item *it) {
  const struct fpm_result *r = it->res;
  jopen(j, '{');
  JKEY(j, "target");
  jstr(j, it->target != NULL ? it->target : "");
  JKEY(j, "ok");
  jbool(j, it->m != NULL);
  j_error(j, r);
  if (it->m == NULL) {
    if (it->pool != NULL) {
      JKEY(j, "pool");
      jstr(j, it->pool);
    }
    j_opcache(j, it);
    jclose(j, '}');
    return 0;
  }
  j_pool(j, &r->status);
  j_metrics(j, it->m);
  j_states(j, it->m);
  j_stats(j, it->m);
  JKEY(j, "memory"); /* worker memory from /proc, or why not */
  fpm_output_json_memory(j->b, it->m->procmem);
  j->sep = 1;
  if (j_extra(j, it->m) != 0)
    return -1;
  j_source(j, it);
  if (o->full) {
    JKEY(j, "workers");
    jopen(j, '[');
    long self = fpm_output_self_index(it);
    for (size_t i = 0; i < r->status.n_workers; i++)
      j_worker(j, &r->status.workers[i], i, (long)i == self);
    jclose(j, ']');
  }
  j_opcache(j, it);
  jclose(j, '}');
  return 0;
}

int fpm_output_json(const struct fpm_output_opts *o,
                    const struct fpm_output_item *it, struct fpm_buf *out) {
  /* room for the usual object at once (about 1.2 KB, and 330 bytes per
   * listed worker), not by doubling from 256: one allocation, not four */
  size_t guess = 2048;
  if (o->full && it->m != NULL && it->res->status.n_workers < 65536)
    guess += 512 * it->res->status.n_workers;
  fpm_buf_reserve(out, guess);
  struct jw j = {out, 0};
  int rc = j_body(&j, o, it);
  fpm_buf_putc(out, '\n');
  return rc != 0 || out->oom ? -1 : 0;
}
