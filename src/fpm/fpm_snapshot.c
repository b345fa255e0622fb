/*
 * fpm_snapshot.c: the toolbox both status parsers (fpm_json.c, fpm_text.c)
 * build on: the snapshot (init, clear, string arena, worker array, phantom
 * slots), snapshot comparison, typed parse errors with a printable excerpt,
 * and the number and key helpers. The dispatcher is fpm_status.c.
 */
#include "fpm_parse_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fpm_status_init(struct fpm_status *st) {
  memset(st, 0, sizeof *st);
}

void fpm_status_clear(struct fpm_status *st) {
  free(st->workers);
  free(st->arena_);
  fpm_status_init(st);
}

const char *fpm_perr_str(fpm_perr e) {
  switch (e) {
  case FPM_P_OK:
    return "success";
  case FPM_P_ENOMEM:
    return "out of memory";
  case FPM_P_ESYNTAX:
    return "status body is malformed beyond repair";
  case FPM_P_ETRUNCATED:
    return "status body ended in the middle";
  case FPM_P_ESCHEMA:
    return "body is not a PHP-FPM status page";
  case FPM_P_ETOOBIG:
    return "status body exceeds the configured limits";
  case FPM_P_ERR_LAST:
    break;
  }
  return "unknown parse error";
}

/* ------------------------------------------------------------ arena */

static int arena_reserve(struct fpm_status *st, size_t need) {
  if (st->arena_cap_ - st->arena_len_ >= need)
    return 0;
  size_t cap = st->arena_cap_ ? st->arena_cap_ : 4096;
  while (cap - st->arena_len_ < need) {
    if (cap > SIZE_MAX / 2)
      return -1;
    cap *= 2;
  }
  char *a = realloc(st->arena_, cap);
  if (a == NULL)
    return -1;
  st->arena_ = a;
  st->arena_cap_ = cap;
  return 0;
}

int fpm_arena_put(struct fpm_status *st, const char *s, size_t n, size_t *off) {
  if (st->arena_len_ == 0) {
    /* offset 0 is the shared empty string */
    if (arena_reserve(st, 1) != 0)
      return -1;
    st->arena_[0] = '\0';
    st->arena_len_ = 1;
  }
  if (n == 0) {
    *off = 0;
    return 0;
  }
  if (n > SIZE_MAX - 2 || arena_reserve(st, n + 1) != 0)
    return -1;
  memcpy(st->arena_ + st->arena_len_, s, n);
  st->arena_[st->arena_len_ + n] = '\0';
  *off = st->arena_len_;
  st->arena_len_ += n + 1;
  return 0;
}

int fpm_status_reserve(struct fpm_status *st, size_t workers,
                       size_t arena_bytes) {
  if (workers > st->workers_cap_ && workers < SIZE_MAX / sizeof *st->workers) {
    struct fpm_worker *w = realloc(st->workers, workers * sizeof *w);
    if (w == NULL)
      return -1;
    st->workers = w;
    st->workers_cap_ = workers;
  }
  if (arena_bytes > st->arena_len_ &&
      arena_reserve(st, arena_bytes - st->arena_len_) != 0)
    return -1;
  return 0;
}

struct fpm_worker *fpm_status_add_worker(struct fpm_status *st) {
  if (st->n_workers == st->workers_cap_) {
    size_t cap = st->workers_cap_ ? st->workers_cap_ * 2 : 16;
    if (cap > SIZE_MAX / sizeof *st->workers)
      return NULL;
    struct fpm_worker *w = realloc(st->workers, cap * sizeof *w);
    if (w == NULL)
      return NULL;
    st->workers = w;
    st->workers_cap_ = cap;
  }
  struct fpm_worker *w = &st->workers[st->n_workers++];
  memset(w, 0, sizeof *w);
  w->method = w->uri = w->user = w->script = fpm_off_ptr(0);
  return w;
}

void fpm_worker_set_state(struct fpm_worker *w, const char *s, size_t n) {
  static const char null_state[] = "(null)";
  w->state = fpm_state_parse(s, n);
  w->present |= 1u << FPM_W_STATE;
  if (n == sizeof null_state - 1 && memcmp(s, null_state, n) == 0)
    w->flags |= FPM_WORKER_NULL_STATE;
}

static int is_phantom(const struct fpm_worker *w) {
  return (w->flags & FPM_WORKER_NULL_STATE) != 0 ||
         (((w->present >> FPM_W_PID) & 1u) && w->pid == 0);
}

void fpm_status_drop_phantoms(struct fpm_status *st) {
  size_t kept = 0;
  for (size_t i = 0; i < st->n_workers; i++) {
    if (is_phantom(&st->workers[i])) {
      st->phantom++;
      continue;
    }
    if (kept != i)
      st->workers[kept] = st->workers[i];
    kept++;
  }
  st->n_workers = kept;
}

void fpm_status_fixup(struct fpm_status *st) {
  static const char empty[] = "";
  for (size_t i = 0; i < st->n_workers; i++) {
    struct fpm_worker *w = &st->workers[i];
    const char **f[4] = {&w->method, &w->uri, &w->user, &w->script};
    for (int k = 0; k < 4; k++) {
      uintptr_t off = (uintptr_t)*f[k];
      *f[k] = (st->arena_ != NULL && off < st->arena_len_) ? st->arena_ + off
                                                           : empty;
    }
  }
}

/* ------------------------------------------------------------- diff */

static int differ(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int differ(char *why, size_t cap, const char *fmt, ...) {
  if (why != NULL && cap > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return 1;
}

static int worker_diff(const struct fpm_worker *a, const struct fpm_worker *b,
                       size_t i, char *why, size_t cap) {
  const char *sa[4] = {a->method, a->uri, a->user, a->script};
  const char *sb[4] = {b->method, b->uri, b->user, b->script};
  static const char *const sn[4] = {"method", "uri", "user", "script"};
  if (a->present != b->present || a->flags != b->flags)
    return differ(why, cap, "worker %zu: present %#x/%#x flags %#x/%#x", i,
                  a->present, b->present, a->flags, b->flags);
  if (a->pid != b->pid || a->state != b->state ||
      a->start_time != b->start_time || a->start_since != b->start_since ||
      a->requests != b->requests ||
      a->request_duration_us != b->request_duration_us ||
      a->content_length != b->content_length ||
      a->last_request_cpu != b->last_request_cpu ||
      a->last_request_memory != b->last_request_memory)
    return differ(why, cap, "worker %zu (pid %lld/%lld): numbers differ", i,
                  (long long)a->pid, (long long)b->pid);
  for (int k = 0; k < 4; k++) {
    if (strcmp(sa[k], sb[k]) != 0)
      return differ(why, cap, "worker %zu: %s \"%s\" vs \"%s\"", i, sn[k],
                    sa[k], sb[k]);
  }
  return 0;
}

int fpm_status_diff(const struct fpm_status *a, const struct fpm_status *b,
                    char *why, size_t cap) {
  if (a->present != b->present)
    return differ(why, cap, "present %#x vs %#x", a->present, b->present);
  for (int f = 0; f < FPM_F__COUNT; f++) {
    if (a->v[f] != b->v[f])
      return differ(why, cap, "%s: %llu vs %llu", fpm_pool_field_name(f),
                    (unsigned long long)a->v[f], (unsigned long long)b->v[f]);
  }
  if (strcmp(a->pool, b->pool) != 0 ||
      strcmp(a->process_manager, b->process_manager) != 0)
    return differ(why, cap, "pool/pm \"%s\"/\"%s\" vs \"%s\"/\"%s\"", a->pool,
                  a->process_manager, b->pool, b->process_manager);
  if (a->n_extra != b->n_extra)
    return differ(why, cap, "extra fields %u vs %u", a->n_extra, b->n_extra);
  for (unsigned i = 0; i < a->n_extra; i++) {
    if (strcmp(a->extra[i].name, b->extra[i].name) != 0 ||
        a->extra[i].value != b->extra[i].value)
      return differ(why, cap, "extra field %u differs", i);
  }
  if (a->has_workers != b->has_workers || a->n_workers != b->n_workers ||
      a->repaired != b->repaired || a->dropped != b->dropped ||
      a->phantom != b->phantom)
    return differ(why, cap,
                  "workers %d/%zu repaired %u dropped %u phantom %u vs "
                  "%d/%zu %u %u %u",
                  a->has_workers, a->n_workers, a->repaired, a->dropped,
                  a->phantom, b->has_workers, b->n_workers, b->repaired,
                  b->dropped, b->phantom);
  for (size_t i = 0; i < a->n_workers; i++) {
    if (worker_diff(&a->workers[i], &b->workers[i], i, why, cap))
      return 1;
  }
  return 0;
}

/* ------------------------------------------------------------ names */

int fpm_pool_field_lookup(const char *name, size_t len) {
  for (int f = 0; f < FPM_F__COUNT; f++) {
    const char *n = fpm_pool_field_name((enum fpm_pool_field)f);
    if (strlen(n) == len && memcmp(n, name, len) == 0)
      return f;
  }
  return -1;
}

int fpm_worker_field_lookup(const char *name, size_t len) {
  static const char *const names[FPM_W__COUNT] = {"pid",
                                                  "state",
                                                  "start time",
                                                  "start since",
                                                  "requests",
                                                  "request duration",
                                                  "request method",
                                                  "request uri",
                                                  "content length",
                                                  "user",
                                                  "script",
                                                  "last request cpu",
                                                  "last request memory"};
  if (len == 11 && memcmp(name, "request URI", 11) == 0)
    return FPM_W_REQUEST_URI; /* text spelling */
  for (int f = 0; f < FPM_W__COUNT; f++) {
    if (strlen(names[f]) == len && memcmp(names[f], name, len) == 0)
      return f;
  }
  return -1;
}

/* ----------------------------------------------------------- numbers */

int fpm_parse_u64(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  if (n == 0)
    return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned d = (unsigned char)s[i] - '0';
    if (d > 9)
      return -1;
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int fpm_parse_double(const char *s, size_t n, double *out) {
  char tmp[64];
  if (n == 0 || n >= sizeof tmp)
    return -1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  char *end = NULL;
  errno = 0;
  double d = strtod(tmp, &end);
  if (end != tmp + n || errno == ERANGE || !isfinite(d))
    return -1;
  *out = d;
  return 0;
}

void fpm_status_set_field(struct fpm_status *st, int f, const char *num,
                          size_t num_len) {
  uint64_t u = 0;
  double d = 0;
  if (f < 0 || f >= FPM_F__COUNT || f == FPM_F_POOL ||
      f == FPM_F_PROCESS_MANAGER)
    return; /* string fields; a number there is not FPM's */
  if (fpm_parse_u64(num, num_len, &u) != 0) {
    if (fpm_parse_double(num, num_len, &d) != 0 || d < 0 ||
        d >= 18446744073709551616.0)
      return; /* not a number FPM prints: the field stays absent */
    u = (uint64_t)d;
  }
  st->v[f] = u;
  st->present |= 1u << f;
}

void fpm_status_set_number(struct fpm_status *st, const char *key,
                           size_t key_len, const char *num, size_t num_len) {
  int f = fpm_pool_field_lookup(key, key_len);
  if (f >= 0) {
    fpm_status_set_field(st, f, num, num_len);
    return;
  }
  double d;
  if (st->n_extra >= FPM_MAX_EXTRA || fpm_parse_double(num, num_len, &d) != 0)
    return;
  struct fpm_extra_field *x = &st->extra[st->n_extra++];
  size_t n = key_len < sizeof x->name - 1 ? key_len : sizeof x->name - 1;
  memcpy(x->name, key, n);
  x->name[n] = '\0';
  x->value = d;
}

/* ------------------------------------------------------------ errors */

static void excerpt(char *dst, size_t cap, const char *ctx, size_t len,
                    size_t pos) {
  size_t start = pos > 12 ? pos - 12 : 0;
  size_t o = 0;
  for (size_t i = start; i < len && o + 5 < cap; i++) {
    unsigned char c = (unsigned char)ctx[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      dst[o++] = (char)c;
    } else if (c == '\\') {
      dst[o++] = '\\';
      dst[o++] = '\\';
    } else if (c == '\n') {
      dst[o++] = '\\';
      dst[o++] = 'n';
    } else {
      snprintf(dst + o, cap - o, "\\x%02x", c);
      o += 4;
    }
  }
  dst[o < cap ? o : cap - 1] = '\0';
}

fpm_perr fpm_parser_fail(fpm_parser *p, fpm_perr code, uint64_t offset,
                         const char *ctx, size_t ctx_len, size_t ctx_pos,
                         const char *fmt, ...) {
  if (p->code != FPM_P_OK)
    return p->code;
  p->code = code;
  p->err.code = code;
  /* an offset counted in a repaired buffer (longer than the raw bytes it
   * stands for) can run past them: never past the body */
  p->err.offset = offset < p->fed ? offset : p->fed;
  p->err.excerpt[0] = '\0';
  if (ctx != NULL)
    excerpt(p->err.excerpt, sizeof p->err.excerpt, ctx, ctx_len, ctx_pos);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err.message, sizeof p->err.message, fmt, ap);
  va_end(ap);
  return code;
}
