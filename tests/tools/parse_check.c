/*
 * parse_check.c: parses captured PHP-FPM status pages (raw cgi-fcgi output:
 * CGI headers, blank line, body; or a bare body) whole, one byte at a time
 * and in chunks of 1..31 bytes, and checks that every split gives the same
 * snapshot and that a `full` page has one worker per "total processes".
 *
 *   parse_check [-d] [-C] [-j|-t] FILE...
 *     -d dumps each snapshot; -C skips the workers == total processes check
 *     (a pool that is spawning may show a slot more than the count); -j/-t
 *     force the format (default: Content-Type or the body's first byte)
 * Exit status: 0 all good, 1 a check failed, 2 usage or I/O error.
 */
#include "fpm_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 65536, n = 0;
  char *b = malloc(cap);
  while (b != NULL) {
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (n < cap)
      break;
    char *nb = realloc(b, cap * 2);
    if (nb == NULL) {
      free(b);
      b = NULL;
      break;
    }
    b = nb;
    cap *= 2;
  }
  fclose(f);
  *len = n;
  return b;
}

/* Body of a raw capture; *fmt from Content-Type when headers exist. */
static const char *body_of(const char *raw, size_t len, size_t *blen,
                           int *fmt) {
  const char *sep = NULL;
  for (size_t i = 0; i + 3 < len && i < 8192; i++) {
    if (memcmp(raw + i, "\r\n\r\n", 4) == 0) {
      sep = raw + i;
      break;
    }
  }
  if (sep == NULL || raw[0] == '{' || strncmp(raw, "pool:", 5) == 0) {
    *blen = len;
    *fmt = len > 0 && raw[0] == '{' ? FPM_FORMAT_JSON : FPM_FORMAT_TEXT;
    return raw;
  }
  size_t hlen = (size_t)(sep - raw);
  *fmt = FPM_FORMAT_TEXT;
  for (size_t i = 0; i + 16 <= hlen; i++) {
    if (strncasecmp(raw + i, "application/json", 16) == 0)
      *fmt = FPM_FORMAT_JSON;
  }
  *blen = len - hlen - 4;
  return sep + 4;
}

static fpm_perr parse_chunked(const char *b, size_t n, int fmt, size_t chunk,
                              int always_repair, struct fpm_status *st) {
  struct fpm_parser_opts o = {.always_repair = always_repair};
  fpm_parser *p = fpm_parser_new((enum fpm_format)fmt, st, &o);
  if (p == NULL)
    return FPM_P_ENOMEM;
  for (size_t i = 0; i < n; i += chunk)
    fpm_parser_feed(p, b + i, n - i < chunk ? n - i : chunk);
  fpm_perr e = fpm_parser_finish(p);
  fpm_parser_free(p);
  return e;
}

static void dump(const struct fpm_status *st) {
  printf("  pool=\"%s\" pm=\"%s\" present=%#x\n", st->pool, st->process_manager,
         st->present);
  for (int f = 2; f < FPM_F__COUNT; f++) {
    if (fpm_status_has(st, f))
      printf("  %s=%llu\n", fpm_pool_field_name(f),
             (unsigned long long)st->v[f]);
  }
  for (unsigned i = 0; i < st->n_extra; i++)
    printf("  extra %s=%g\n", st->extra[i].name, st->extra[i].value);
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    printf("  [%zu] pid=%lld %s flags=%u req=%llu dur=%llu cpu=%.2f mem=%llu "
           "cl=%llu\n       method=\"%s\" uri=\"%s\" user=\"%s\" "
           "script=\"%s\"\n",
           i, (long long)w->pid, fpm_state_name(w->state), w->flags,
           (unsigned long long)w->requests,
           (unsigned long long)w->request_duration_us, w->last_request_cpu,
           (unsigned long long)w->last_request_memory,
           (unsigned long long)w->content_length, w->method, w->uri, w->user,
           w->script);
  }
}

static int check_file(const char *path, int force_fmt, int do_dump,
                      int count_check) {
  size_t len, blen;
  int fmt;
  char *raw = slurp(path, &len);
  if (raw == NULL) {
    fprintf(stderr, "parse_check: cannot read %s\n", path);
    return 2;
  }
  const char *b = body_of(raw, len, &blen, &fmt);
  if (force_fmt >= 0)
    fmt = force_fmt;
  struct fpm_status whole, part;
  fpm_status_init(&whole);
  fpm_status_init(&part);
  struct fpm_parse_error err;
  fpm_perr e = fpm_status_parse(b, blen, (enum fpm_format)fmt, &whole, &err);
  int bad = 0;
  char why[256];
  /* byte by byte, 2..31-byte chunks and whole; JSON also through the
   * repairing path alone */
  for (int rep = 0; rep < (fmt == FPM_FORMAT_JSON ? 2 : 1); rep++) {
    for (size_t chunk = 1; chunk <= 32 && !bad; chunk++) {
      size_t c = chunk == 32 ? (blen ? blen : 1) : chunk;
      fpm_perr e2 = parse_chunked(b, blen, fmt, c, rep, &part);
      if (e2 != e || fpm_status_diff(&whole, &part, why, sizeof why)) {
        printf("FAIL %s: chunk size %zu%s differs from whole: %s (%s vs "
               "%s)\n",
               path, c, rep ? " (always repair)" : "",
               e2 != e ? "error code" : why, fpm_perr_str(e), fpm_perr_str(e2));
        bad = 1;
      }
      fpm_status_clear(&part);
    }
  }
  if (!bad && count_check && e == FPM_P_OK && whole.has_workers &&
      fpm_status_has(&whole, FPM_F_TOTAL_PROCESSES) &&
      whole.n_workers + whole.dropped != whole.v[FPM_F_TOTAL_PROCESSES]) {
    printf("FAIL %s: %zu workers (+%u dropped) but total processes %llu\n",
           path, whole.n_workers, whole.dropped,
           (unsigned long long)whole.v[FPM_F_TOTAL_PROCESSES]);
    bad = 1;
  }
  if (!bad)
    printf("%s %s: %s, %s, pool \"%s\", %zu workers, repaired %u, dropped "
           "%u%s%s\n",
           e == FPM_P_OK ? "ok" : "ERR", path,
           fmt == FPM_FORMAT_JSON ? "json" : "text", fpm_perr_str(e),
           whole.pool, whole.n_workers, whole.repaired, whole.dropped,
           e == FPM_P_OK ? "" : ": ", e == FPM_P_OK ? "" : err.message);
  if (e != FPM_P_OK)
    printf("  offset %llu excerpt \"%s\"\n", (unsigned long long)err.offset,
           err.excerpt);
  if (do_dump)
    dump(&whole);
  fpm_status_clear(&whole);
  free(raw);
  return bad ? 1 : (e == FPM_P_OK ? 0 : 1);
}

int main(int argc, char **argv) {
  int force = -1, do_dump = 0, rc = 0, files = 0, count_check = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-d") == 0) {
      do_dump = 1;
    } else if (strcmp(argv[i], "-C") == 0) {
      count_check = 0;
    } else if (strcmp(argv[i], "-j") == 0) {
      force = FPM_FORMAT_JSON;
    } else if (strcmp(argv[i], "-t") == 0) {
      force = FPM_FORMAT_TEXT;
    } else {
      int r = check_file(argv[i], force, do_dump, count_check);
      if (r > rc)
        rc = r;
      files++;
    }
  }
  if (files == 0) {
    fprintf(stderr, "usage: parse_check [-d] [-C] [-j|-t] FILE...\n");
    return 2;
  }
  return rc;
}
