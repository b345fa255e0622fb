/*
 * fuzz_status.h: shared by the status parser targets (JSON and text): parse
 * a payload whole or in chunks, check a snapshot's invariants, and run the
 * metric model and the sample list over it.
 */
#ifndef FPMT_FUZZ_STATUS_H
#define FPMT_FUZZ_STATUS_H

#include "fpm_model.h"
#include "fpm_status.h"
#include "fuzz_split.h"

#include <string.h>

/* Parse s->data with chunks from the schedule (whole when chunked is 0). */
static inline fpm_perr fz_parse(const struct fz_split *s, enum fpm_format fmt,
                                int chunked, int always_repair,
                                struct fpm_status *st) {
  /* a small worker cap now and then, so ETOOBIG is reached; otherwise 256
   * (the parser reserves up to "total processes" entries ahead: a cap keeps
   * a made-up huge count from costing megabytes per input) */
  struct fpm_parser_opts o = {.always_repair = always_repair,
                              .max_workers = (s->flags & 4) ? 3 : 256};
  fpm_parser *p = fpm_parser_new(fmt, st, &o);
  FZ_CHECK(p != NULL, "out of memory");
  const char *d = (const char *)s->data;
  if (!chunked) {
    fpm_parser_feed(p, d, s->size);
  } else {
    for (size_t off = 0, i = 0; off < s->size; i++) {
      size_t n = fz_chunk(s, i);
      if (n > s->size - off)
        n = s->size - off;
      fpm_parser_feed(p, d + off, n);
      off += n;
    }
  }
  fpm_perr e = fpm_parser_finish(p);
  const struct fpm_parse_error *pe = fpm_parser_error(p);
  FZ_CHECK(pe->code == e, "error record %d, result %d", pe->code, e);
  if (e != FPM_P_OK) {
    FZ_CHECK(pe->offset <= s->size, "error offset %llu past %zu",
             (unsigned long long)pe->offset, s->size);
    FZ_CHECK(memchr(pe->excerpt, '\0', sizeof pe->excerpt) &&
                 memchr(pe->message, '\0', sizeof pe->message),
             "unterminated error text");
  }
  fpm_parser_free(p);
  return e;
}

static inline void fz_check_str(const char *s, const char *what) {
  FZ_CHECK(s != NULL, "%s is NULL", what);
  (void)strlen(s); /* ASan: terminated inside its allocation */
}

/* The pool part of two snapshots (presence, numbers, strings, extra
 * fields) and whether a worker list came: 0 when equal. */
static inline int fz_pool_diff(const struct fpm_status *a,
                               const struct fpm_status *b) {
  if (a->present != b->present || a->n_extra != b->n_extra ||
      a->has_workers != b->has_workers ||
      memcmp(a->v, b->v, sizeof a->v) != 0 || strcmp(a->pool, b->pool) != 0 ||
      strcmp(a->process_manager, b->process_manager) != 0)
    return 1;
  for (unsigned i = 0; i < a->n_extra; i++)
    if (strcmp(a->extra[i].name, b->extra[i].name) != 0 ||
        a->extra[i].value != b->extra[i].value)
      return 1;
  return 0;
}

/* A finished snapshot (OK or ETRUNCATED) is usable as documented. */
static inline void fz_check_snapshot(const struct fpm_status *st) {
  FZ_CHECK(memchr(st->pool, '\0', sizeof st->pool), "pool unterminated");
  FZ_CHECK(memchr(st->process_manager, '\0', sizeof st->process_manager),
           "process manager unterminated");
  FZ_CHECK(st->n_extra <= FPM_MAX_EXTRA, "%u extra fields", st->n_extra);
  for (unsigned i = 0; i < st->n_extra; i++)
    FZ_CHECK(memchr(st->extra[i].name, '\0', sizeof st->extra[i].name),
             "extra name unterminated");
  FZ_CHECK(st->n_workers == 0 || st->workers != NULL, "workers NULL");
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    fz_check_str(w->method, "method");
    fz_check_str(w->uri, "uri");
    fz_check_str(w->user, "user");
    fz_check_str(w->script, "script");
    FZ_CHECK(w->state < FPM_STATE__COUNT, "state %d", (int)w->state);
  }
}

/* Model and samples over the snapshot, once alone and once after a
 * history (the same snapshot twice: nothing restarted, deltas 0). */
static inline void fz_model(const struct fpm_status *st) {
  struct fpm_model_opts mo = {.self_marker = "fpmstat=0123456789abcdef",
                              .scrape_tag = "fpmstat=",
                              .max_children = 4,
                              .stats_sort_cap = 8};
  struct fpm_history h = {0};
  struct fpm_metrics m;
  struct fpm_sample smp[64];
  for (int round = 0; round < 2; round++) {
    fpm_model_compute(st, &mo, &h, &m);
    size_t n = fpm_metrics_samples(&m, FPM_WORKERS_SLOTS, 16, NULL, 0);
    size_t got = fpm_metrics_samples(&m, FPM_WORKERS_SLOTS, 16, smp, 64);
    FZ_CHECK(n == got, "sample count %zu then %zu", n, got);
    for (size_t i = 0; i < (n < 64 ? n : 64); i++) {
      FZ_CHECK(smp[i].def != NULL, "sample without a definition");
      FZ_CHECK(memchr(smp[i].type_instance, '\0', sizeof smp[i].type_instance),
               "type instance unterminated");
      FZ_CHECK(smp[i].value == smp[i].value || smp[i].def->id == FPM_M_EXTRA,
               "NaN in %s", smp[i].def->key);
    }
    if (m.from_list) {
      uint64_t sum = 0;
      for (int k = 0; k < FPM_STATE__COUNT; k++)
        sum += m.by_state[k];
      int util_ok = m.total == 0
                        ? m.utilisation < 0.0
                        : m.utilisation >= 0.0 && m.utilisation <= 100.0 + 1e-9;
      FZ_CHECK(m.active + m.idle == m.total && sum == m.total && util_ok,
               "list counts: active %llu idle %llu total %llu states %llu",
               (unsigned long long)m.active, (unsigned long long)m.idle,
               (unsigned long long)m.total, (unsigned long long)sum);
    }
    if (round == 1)
      FZ_CHECK(!m.restarted && m.d_accepted == 0 && m.d_slow == 0,
               "the same snapshot twice shows a restart or a delta");
  }
  fpm_history_free(&h);
}

#endif /* FPMT_FUZZ_STATUS_H */
