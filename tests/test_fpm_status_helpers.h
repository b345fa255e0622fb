/*
 * test_fpm_status_helpers.h: shared helpers of the status parser tests
 * (fixture loading, parsing with every split, FPM-style body builder).
 * Header-only: each test executable includes it once.
 */
#ifndef FPMT_TEST_FPM_STATUS_HELPERS_H
#define FPMT_TEST_FPM_STATUS_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fpm_status.h"

#define FPMT_UNUSED __attribute__((unused))

/* The whole file at path (what names it in a failure: "fixture", "seed"),
 * NUL-terminated; *len excludes the NUL. malloc'd. */
FPMT_UNUSED static char *read_all(const char *path, const char *what,
                                  size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s %s", what, path);
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap);
  assert_non_null(b);
  for (;;) {
    n += fread(b + n, 1, cap - n, f);
    if (n < cap)
      break;
    cap *= 2;
    b = realloc(b, cap);
    assert_non_null(b);
  }
  fclose(f);
  b[n] = '\0';
  *len = n;
  return b;
}

/* Body of tests/fixtures/status/<name> (CGI headers stripped); malloc'd. */
FPMT_UNUSED static char *fx_body(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/status/%s", FPMT_FIXTURES_DIR, name);
  size_t n;
  char *b = read_all(path, "fixture", &n);
  const char *sep = NULL;
  for (size_t i = 0; i + 3 < n; i++) {
    if (memcmp(b + i, "\r\n\r\n", 4) == 0) {
      sep = b + i + 4;
      break;
    }
  }
  assert_non_null(sep);
  *len = n - (size_t)(sep - b);
  char *body = malloc(*len + 1);
  assert_non_null(body);
  memcpy(body, sep, *len);
  body[*len] = '\0';
  free(b);
  return body;
}

FPMT_UNUSED static fpm_perr parse_split_opts(const char *b, size_t n,
                                             enum fpm_format fmt, size_t chunk,
                                             struct fpm_status *st,
                                             struct fpm_parse_error *err,
                                             int always_repair) {
  struct fpm_parser_opts o = {.always_repair = always_repair};
  fpm_parser *p = fpm_parser_new(fmt, st, &o);
  assert_non_null(p);
  for (size_t i = 0; i < n; i += chunk)
    fpm_parser_feed(p, b + i, n - i < chunk ? n - i : chunk);
  fpm_perr e = fpm_parser_finish(p);
  if (err != NULL)
    *err = *fpm_parser_error(p);
  fpm_parser_free(p);
  return e;
}

FPMT_UNUSED static fpm_perr parse_split(const char *b, size_t n,
                                        enum fpm_format fmt, size_t chunk,
                                        struct fpm_status *st,
                                        struct fpm_parse_error *err) {
  return parse_split_opts(b, n, fmt, chunk, st, err, 0);
}

/* Feeding b in chunks of 1..31 bytes, halves and 4 KiB must give *ref
 * and code e. */
FPMT_UNUSED static void check_splits(const char *b, size_t n,
                                     enum fpm_format fmt, int always_repair,
                                     const struct fpm_status *ref, fpm_perr e) {
  size_t chunks[33];
  for (size_t c = 1; c <= 31; c++)
    chunks[c - 1] = c;
  chunks[31] = n / 2 ? n / 2 : 1;
  chunks[32] = 4096;
  for (size_t k = 0; k < 33; k++) {
    struct fpm_status other;
    fpm_status_init(&other);
    fpm_perr e2 =
        parse_split_opts(b, n, fmt, chunks[k], &other, NULL, always_repair);
    char why[256] = "";
    int d = fpm_status_diff(ref, &other, why, sizeof why);
    if (e2 != e || d != 0)
      fail_msg("chunk size %zu%s differs from whole: codes %d/%d: %s",
               chunks[k], always_repair ? " (always repair)" : "", e, e2, why);
    fpm_status_clear(&other);
  }
}

/* Parses whole into *st, then checks that every split gives the same code
 * and snapshot; for JSON also the repairing path alone, which must agree
 * with the fast path when paths_agree (bodies in FPM's grammar; valid JSON
 * with keys FPM never prints may differ: only the fast path accepts it). */
FPMT_UNUSED static fpm_perr parse_all_splits_ex(const char *b, size_t n,
                                                enum fpm_format fmt,
                                                struct fpm_status *st,
                                                struct fpm_parse_error *err,
                                                int paths_agree) {
  fpm_perr e = parse_split(b, n, fmt, n ? n : 1, st, err);
  check_splits(b, n, fmt, 0, st, e);
  if (fmt != FPM_FORMAT_JSON)
    return e;
  struct fpm_status rep;
  fpm_status_init(&rep);
  fpm_perr er = parse_split_opts(b, n, fmt, n ? n : 1, &rep, NULL, 1);
  check_splits(b, n, fmt, 1, &rep, er);
  char why[256] = "";
  if (paths_agree && (er != e || fpm_status_diff(st, &rep, why, sizeof why)))
    fail_msg("the repairing path differs from the fast path: codes %d/%d: %s",
             e, er, why);
  fpm_status_clear(&rep);
  return e;
}

FPMT_UNUSED static fpm_perr parse_all_splits(const char *b, size_t n,
                                             enum fpm_format fmt,
                                             struct fpm_status *st,
                                             struct fpm_parse_error *err) {
  return parse_all_splits_ex(b, n, fmt, st, err, 1);
}

FPMT_UNUSED static void parse_ok(const char *b, size_t n, enum fpm_format fmt,
                                 struct fpm_status *st) {
  struct fpm_parse_error err;
  fpm_perr e = parse_all_splits(b, n, fmt, st, &err);
  if (e != FPM_P_OK)
    fail_msg("parse failed: %s: %s at %llu \"%s\"", fpm_perr_str(e),
             err.message, (unsigned long long)err.offset, err.excerpt);
}

FPMT_UNUSED static void parse_fixture(const char *name, enum fpm_format fmt,
                                      struct fpm_status *st) {
  size_t n;
  char *b = fx_body(name, &n);
  parse_ok(b, n, fmt, st);
  free(b);
}

/* ---------------------------------------------- FPM-style JSON builder */

/* A worker as old FPM prints it: strings raw, not escaped. */
struct raw_worker {
  int pid;
  const char *state, *method, *uri, *user, *script;
};

struct sbuf {
  char *s;
  size_t n, cap;
};

FPMT_UNUSED static void sb_add(struct sbuf *b, const char *s, size_t n) {
  if (b->cap - b->n < n + 1) {
    b->cap = (b->cap + n + 1) * 2;
    b->s = realloc(b->s, b->cap);
    assert_non_null(b->s);
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

FPMT_UNUSED static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
FPMT_UNUSED static void sb_printf(struct sbuf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  assert_true(k >= 0 && (size_t)k < sizeof tmp);
  sb_add(b, tmp, (size_t)k);
}

FPMT_UNUSED static void sb_str(struct sbuf *b, const char *key, const char *raw,
                               int last) {
  sb_printf(b, "\"%s\":\"", key);
  sb_add(b, raw, strlen(raw));
  sb_add(b, last ? "\"" : "\",", last ? 1 : 2);
}

/* The JSON FPM <= 8.1.19 prints for this pool and these workers (strings
 * not escaped). Returns a malloc'd NUL-terminated body. */
FPMT_UNUSED static char *fpm_json_body(const char *pool,
                                       const struct raw_worker *w, size_t nw,
                                       size_t *len) {
  struct sbuf b = {0};
  sb_add(&b, "{", 1);
  sb_str(&b, "pool", pool, 0);
  sb_printf(&b,
            "\"process manager\":\"static\",\"start time\":1795873806,"
            "\"start since\":248,\"accepted conn\":48,\"listen queue\":0,"
            "\"max listen queue\":0,\"listen queue len\":0,"
            "\"idle processes\":%zu,\"active processes\":1,"
            "\"total processes\":%zu,\"max active processes\":4,"
            "\"max children reached\":0,\"slow requests\":0",
            nw ? nw - 1 : 0, nw);
  if (w != NULL) {
    sb_add(&b, ", \"processes\":[", 15);
    for (size_t i = 0; i < nw; i++) {
      sb_printf(&b,
                "%s{\"pid\":%d,\"state\":\"%s\",\"start time\":1795873806,"
                "\"start since\":248,\"requests\":%zu,"
                "\"request duration\":%zu,",
                i ? "," : "", w[i].pid, w[i].state, i + 1, 100 + i);
      sb_str(&b, "request method", w[i].method, 0);
      sb_str(&b, "request uri", w[i].uri, 0);
      sb_add(&b, "\"content length\":0,", 19);
      sb_str(&b, "user", w[i].user, 0);
      sb_str(&b, "script", w[i].script, 0);
      sb_add(&b, "\"last request cpu\":0.00,\"last request memory\":0}", 48);
    }
    sb_add(&b, "]", 1);
  }
  sb_add(&b, "}", 1);
  *len = b.n;
  return b.s;
}

#endif /* FPMT_TEST_FPM_STATUS_HELPERS_H */
