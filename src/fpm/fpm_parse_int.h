/*
 * fpm_parse_int.h: private glue of the status parsers: the parser object
 * (fpm_status.c dispatches), the toolbox both back ends build on
 * (fpm_snapshot.c: string arena, worker array, errors with a printable
 * excerpt, numbers) and the back ends' entry points (fpm_json.c,
 * fpm_text.c).
 */
#ifndef FPM_FPM_PARSE_INT_H
#define FPM_FPM_PARSE_INT_H

#include "fpm_status.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define FPM_DEFAULT_MAX_WORKERS 100000u
/* The text parser buffers the whole body; more than this is ETOOBIG. */
#define FPM_TEXT_MAX_BYTES (64u * 1024u * 1024u)

struct fpm_json;
struct fpm_text;

struct fpm_parser {
  enum fpm_format fmt;
  struct fpm_status *st;
  size_t max_workers;
  int always_repair;
  fpm_perr code; /* sticky */
  uint64_t fed;  /* body bytes fed so far: no error offset points past it */
  int fixed;     /* worker string offsets turned into pointers */
  struct fpm_parse_error err;
  struct fpm_json *json;
  struct fpm_text *text;
};

/* Records the first error (later ones are ignored) and returns code. The
 * excerpt is taken from ctx[0..ctx_len) around position ctx_pos. */
fpm_perr fpm_parser_fail(fpm_parser *p, fpm_perr code, uint64_t offset,
                         const char *ctx, size_t ctx_len, size_t ctx_pos,
                         const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Copies s[0..n) NUL-terminated into the arena; *off receives its offset.
 * Returns 0, or -1 on out of memory. */
int fpm_arena_put(struct fpm_status *st, const char *s, size_t n, size_t *off);

/* Grows the worker array and the arena ahead (from "total processes"), so
 * that a big process list is not copied while it grows. 0 or -1 (OOM). */
int fpm_status_reserve(struct fpm_status *st, size_t workers,
                       size_t arena_bytes);

/* Appends a zeroed worker (strings at offset 0, i.e. ""). NULL when out of
 * memory. The caller checks the max_workers cap first. */
struct fpm_worker *fpm_status_add_worker(struct fpm_status *st);

/* Sets a worker's state from FPM's text (FPM_WORKER_NULL_STATE for
 * "(null)"). */
void fpm_worker_set_state(struct fpm_worker *w, const char *s, size_t n);

/* Takes phantom slots (pid 0, or state "(null)") out of the worker list and
 * counts them in st->phantom. Called once when parsing ends. */
void fpm_status_drop_phantoms(struct fpm_status *st);

/* Turns the arena offsets stored in the worker string fields while parsing
 * into pointers. Called once when parsing ends. */
void fpm_status_fixup(struct fpm_status *st);

/* Worker string fields hold arena offsets until fpm_status_fixup. */
static inline const char *fpm_off_ptr(size_t off) {
  return (const char *)(uintptr_t)off;
}

/* FPM's text date "28/Nov/2026:14:02:31 +0000" -> epoch; 0 on success. */
int fpm_text_parse_date(const char *s, size_t n, uint64_t *epoch);

/* Format back ends. */
int fpm_json_new(fpm_parser *p);
fpm_perr fpm_json_feed(fpm_parser *p, const char *buf, size_t len);
fpm_perr fpm_json_finish(fpm_parser *p);
void fpm_json_free(fpm_parser *p);

int fpm_text_new(fpm_parser *p);
fpm_perr fpm_text_feed(fpm_parser *p, const char *buf, size_t len);
fpm_perr fpm_text_finish(fpm_parser *p);
void fpm_text_free(fpm_parser *p);

/* Pool field by FPM's name (JSON key or text label), or -1. */
int fpm_pool_field_lookup(const char *name, size_t len);
/* Worker field by JSON key or text label ("request URI" too), or -1. */
int fpm_worker_field_lookup(const char *name, size_t len);

/* Parses an unsigned decimal; returns 0 on success. */
int fpm_parse_u64(const char *s, size_t n, uint64_t *out);
/* Parses a decimal number (integer or fraction); returns 0 on success. */
int fpm_parse_double(const char *s, size_t n, double *out);

/* Stores a numeric value of pool field f (ignored when not a number). */
void fpm_status_set_field(struct fpm_status *st, int f, const char *num,
                          size_t num_len);
/* Stores a numeric pool value: known field or st->extra by name. */
void fpm_status_set_number(struct fpm_status *st, const char *key,
                           size_t key_len, const char *num, size_t num_len);

#endif /* FPM_FPM_PARSE_INT_H */
