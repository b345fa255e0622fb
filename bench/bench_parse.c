/*
 * bench_parse.c: how much the status parser costs over bare yajl.
 *
 * Builds a synthetic `full` JSON status body with 10,000 workers in memory
 * (realistic strings, every state, escaped as 8.2.36 prints them), then
 * times, best of N runs with CLOCK_MONOTONIC, in the same process:
 *   (a) yajl alone on the same bytes, every callback set and returning 1
 *       (with the same yajl_dont_validate_strings setting we use, and with
 *       yajl's default UTF-8 validation for reference);
 *   (b) our parser, whole and in 4 KiB chunks as a socket delivers it
 *       (fast path: valid JSON straight to yajl + snapshot), and with
 *       always_repair (every byte through the repairing pre-lexer).
 * It prints the times and the ratio (goal: (b) <= 1.5 x (a)), then the same
 * for a body in old-FPM style with raw quotes, backslashes and control
 * bytes in 10% of the entries (the repair path; yajl alone gets the same
 * body repaired by hand, since it cannot parse the broken one).
 *
 *   bench_parse [workers] [runs]     defaults: 10000 30
 */
#include "fpm_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>

struct buf {
  char *s;
  size_t n, cap;
};

static void add(struct buf *b, const char *s, size_t n) {
  if (b->cap - b->n < n + 1) {
    size_t cap = (b->cap + n + 1) * 2;
    char *ns = realloc(b->s, cap);
    if (ns == NULL) {
      fprintf(stderr, "bench_parse: out of memory\n");
      exit(2);
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

static void addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void addf(struct buf *b, const char *fmt, ...) {
  char tmp[2048];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k > 0)
    add(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static const char *const states[] = {
    "Idle",    "Reading headers", "Getting request information",
    "Running", "Ending",          "Finishing"};

/* broken: old-FPM style raw strings with quotes, backslashes and control
 * bytes in every 10th entry; repaired: the same entries as valid JSON. */
enum style { ESCAPED, BROKEN, REPAIRED };

static void worker(struct buf *b, size_t i, enum style style) {
  static const char *const paths[] = {
      "\\/wp-admin\\/admin-ajax.php", "\\/index.php", "\\/api\\/v2\\/orders",
      "\\/caf\\u00e9\\/men\\u00fc.php", "\\/status"};
  static const char *const users[] = {"-", "alice", "-", "-", "bob"};
  const char *path = paths[i % 5];
  int bad = style != ESCAPED && i % 10 == 3;
  addf(b,
       "%s{\"pid\":%zu,\"state\":\"%s\",\"start time\":1795873806,"
       "\"start since\":%zu,\"requests\":%zu,\"request duration\":%zu,"
       "\"request method\":\"%s\",",
       i ? "," : "", 20000 + i, states[i % 6], 1000 + i, i * 3 + 1,
       (i * 7919) % 5000000, i % 7 ? "GET" : "POST");
  if (!bad)
    addf(b,
         "\"request uri\":\"%s?action=heartbeat&_nonce=%08zx&page=%zu\","
         "\"content length\":%zu,\"user\":\"%s\","
         "\"script\":\"\\/var\\/www\\/html%s\",",
         path, (size_t)(i * 2654435761u % 0xffffffffu), i % 50,
         (size_t)(i % 7 ? 0 : 1234), users[i % 5], path);
  else if (style == BROKEN)
    addf(b,
         "\"request uri\":\"/we\"ird\\name.php?q=\"x\"&c=\x01\t%zu\","
         "\"content length\":0,\"user\":\"DOMAIN\\user\","
         "\"script\":\"/var/www/we\"ird\\name.php\",",
         i);
  else
    addf(b,
         "\"request uri\":\"/we\\\"ird\\\\name.php?q=\\\"x\\\"&c=\\u0001\\t"
         "%zu\",\"content length\":0,\"user\":\"DOMAIN\\\\user\","
         "\"script\":\"/var/www/we\\\"ird\\\\name.php\",",
         i);
  addf(b, "\"last request cpu\":%s,\"last request memory\":%s}",
       i % 6 ? "0.00" : "12.34", i % 6 ? "0" : "2097152");
}

static struct buf make_body(size_t nw, enum style style) {
  struct buf b = {0};
  addf(&b,
       "{\"pool\":\"www\",\"process manager\":\"static\","
       "\"start time\":1795873806,\"start since\":248,"
       "\"accepted conn\":123456789,\"listen queue\":0,"
       "\"max listen queue\":0,\"listen queue len\":0,"
       "\"idle processes\":%zu,\"active processes\":%zu,"
       "\"total processes\":%zu,\"max active processes\":%zu,"
       "\"max children reached\":0,\"slow requests\":0, \"processes\":[",
       nw / 6, nw - nw / 6, nw, nw);
  for (size_t i = 0; i < nw; i++)
    worker(&b, i, style);
  add(&b, "]}", 2);
  return b;
}

/* ---------------------------------------------------------------- yajl */

static int y_null(void *c) {
  (void)c;
  return 1;
}
static int y_bool(void *c, int v) {
  (void)c;
  (void)v;
  return 1;
}
static int y_int(void *c, long long v) {
  (void)c;
  (void)v;
  return 1;
}
static int y_double(void *c, double v) {
  (void)c;
  (void)v;
  return 1;
}
static int y_number(void *c, const char *s, size_t n) {
  (void)c;
  (void)s;
  (void)n;
  return 1;
}
static int y_str(void *c, const unsigned char *s, size_t n) {
  (void)c;
  (void)s;
  (void)n;
  return 1;
}
static int y_map(void *c) {
  (void)c;
  return 1;
}

static const yajl_callbacks empty_cbs = {y_null,   y_bool, y_int, y_double,
                                         y_number, y_str,  y_map, y_str,
                                         y_map,    y_map,  y_map};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double run_yajl(const struct buf *b, int validate) {
  double t0 = now_s();
  yajl_handle h = yajl_alloc(&empty_cbs, NULL, NULL);
  yajl_config(h, yajl_dont_validate_strings, !validate);
  yajl_status s = yajl_parse(h, (const unsigned char *)b->s, b->n);
  if (s == yajl_status_ok)
    s = yajl_complete_parse(h);
  yajl_free(h);
  double t = now_s() - t0;
  if (s != yajl_status_ok) {
    fprintf(stderr, "bench_parse: yajl rejected the body\n");
    exit(2);
  }
  return t;
}

static double run_ours(const struct buf *b, size_t chunk, size_t want_workers,
                       unsigned *repaired, int always_repair) {
  struct fpm_status st;
  fpm_status_init(&st);
  struct fpm_parser_opts o = {.always_repair = always_repair};
  double t0 = now_s();
  fpm_parser *p = fpm_parser_new(FPM_FORMAT_JSON, &st, &o);
  for (size_t i = 0; p != NULL && i < b->n; i += chunk)
    fpm_parser_feed(p, b->s + i, b->n - i < chunk ? b->n - i : chunk);
  fpm_perr e = p != NULL ? fpm_parser_finish(p) : FPM_P_ENOMEM;
  fpm_parser_free(p);
  double t = now_s() - t0;
  if (e != FPM_P_OK || st.n_workers != want_workers) {
    fprintf(stderr, "bench_parse: parse failed: %s, %zu workers\n",
            fpm_perr_str(e), st.n_workers);
    exit(2);
  }
  *repaired = st.repaired;
  fpm_status_clear(&st);
  return t;
}

static void keep_min(double *best, double t) {
  if (t < *best)
    *best = t;
}

static void report(const char *title, const struct buf *ours_body,
                   const struct buf *yajl_body, size_t nw, int runs) {
  unsigned rep = 0;
  double ynv = 1e30, yv = 1e30, whole = 1e30, chunked = 1e30, rep_only = 1e30;
  /* interleaved, so that both sides see the same machine load */
  for (int r = 0; r < runs; r++) {
    keep_min(&ynv, run_yajl(yajl_body, 0));
    keep_min(&whole, run_ours(ours_body, ours_body->n, nw, &rep, 0));
    keep_min(&yv, run_yajl(yajl_body, 1));
    keep_min(&chunked, run_ours(ours_body, 4096, nw, &rep, 0));
    keep_min(&rep_only, run_ours(ours_body, ours_body->n, nw, &rep, 1));
  }
  double mb = (double)ours_body->n / 1e6;
  printf("%s: %zu workers, %.2f MB, repaired %u\n", title, nw, mb, rep);
  printf("  yajl, empty callbacks, no UTF-8 check : %8.3f ms  %6.1f MB/s\n",
         ynv * 1e3, mb / ynv);
  printf("  yajl, empty callbacks, UTF-8 checked  : %8.3f ms  %6.1f MB/s\n",
         yv * 1e3, mb / yv);
  printf("  fpm_status parser, whole body         : %8.3f ms  %6.1f MB/s\n",
         whole * 1e3, mb / whole);
  printf("  fpm_status parser, 4 KiB chunks       : %8.3f ms  %6.1f MB/s\n",
         chunked * 1e3, mb / chunked);
  printf("  repairing path only (always_repair)   : %8.3f ms  %6.1f MB/s\n",
         rep_only * 1e3, mb / rep_only);
  printf("  ratio ours/yajl (same yajl config)    : %.2f whole, %.2f "
         "chunked, %.2f repairing path only (goal <= 1.50)\n",
         whole / ynv, chunked / ynv, rep_only / ynv);
}

int main(int argc, char **argv) {
  size_t nw = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000;
  int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 30;
  if (nw == 0 || runs <= 0) {
    fprintf(stderr, "usage: bench_parse [workers] [runs]\n");
    return 2;
  }
  struct buf esc = make_body(nw, ESCAPED);
  struct buf broken = make_body(nw, BROKEN);
  struct buf repaired = make_body(nw, REPAIRED);
  printf("best of %d runs\n", runs);
  report("escaped body (8.2.36 style)", &esc, &esc, nw, runs);
  report("broken body (old-FPM raw strings in 10% of entries)", &broken,
         &repaired, nw, runs);
  free(esc.s);
  free(broken.s);
  free(repaired.s);
  return 0;
}
