/*
 * fpm_text.c: PHP-FPM's plain-text status page (the default format, and
 * `full` with its `************************` blocks) -> struct fpm_status.
 *
 * Text is FPM's fallback when JSON is beyond repair, so it is parsed by the
 * known label set and order, not line by line: FPM prints values raw, and a
 * request URI or script can span several lines (docs/status-page.md, "Raw
 * strings and newlines in the text format"). A line continues the current
 * string value unless it starts with the label of a later field of the block.
 * The body is buffered (capped) and parsed at finish; any split of the input
 * gives the same result.
 */
#include "fpm_parse_int.h"

#include <stdlib.h>
#include <string.h>

#define STARS "************************"
#define STARS_LEN 24
#define LABEL_COLUMNS 22

struct fpm_text {
  char *buf;
  size_t len, cap;
};

struct line {
  const char *s;
  size_t n;
  size_t next; /* offset after the line's '\n' */
  int has_nl;
};

int fpm_text_new(fpm_parser *p) {
  p->text = calloc(1, sizeof *p->text);
  return p->text == NULL ? -1 : 0;
}

void fpm_text_free(fpm_parser *p) {
  if (p->text != NULL)
    free(p->text->buf);
  free(p->text);
  p->text = NULL;
}

fpm_perr fpm_text_feed(fpm_parser *p, const char *buf, size_t len) {
  struct fpm_text *t = p->text;
  if (len > FPM_TEXT_MAX_BYTES - t->len)
    return fpm_parser_fail(p, FPM_P_ETOOBIG, t->len, NULL, 0, 0,
                           "text status body larger than %u bytes",
                           FPM_TEXT_MAX_BYTES);
  if (t->cap - t->len < len) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap - t->len < len)
      cap *= 2;
    char *b = realloc(t->buf, cap);
    if (b == NULL)
      return fpm_parser_fail(p, FPM_P_ENOMEM, t->len, NULL, 0, 0,
                             "out of memory buffering the text status body");
    t->buf = b;
    t->cap = cap;
  }
  memcpy(t->buf + t->len, buf, len);
  t->len += len;
  return FPM_P_OK;
}

static struct line get_line(const char *b, size_t len, size_t at) {
  struct line l = {b + at, 0, len, 0};
  const char *nl = memchr(b + at, '\n', len - at);
  if (nl != NULL) {
    l.n = (size_t)(nl - (b + at));
    l.next = at + l.n + 1;
    l.has_nl = 1;
  } else {
    l.n = len - at;
  }
  return l;
}

/* Start of the value after "label:" (the label is padded to 22 columns). */
static size_t value_start(const struct line *l, size_t colon) {
  size_t v = colon + 1;
  while (v < l->n && v < LABEL_COLUMNS && l->s[v] == ' ')
    v++;
  if (v == colon + 1 && v < l->n && l->s[v] == ' ')
    v++;
  return v;
}

/* ------------------------------------------------------------- dates */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int num_at(const char *s, size_t n, size_t *i, size_t digits,
                  unsigned *out) {
  unsigned v = 0;
  for (size_t k = 0; k < digits; k++, (*i)++) {
    if (*i >= n || s[*i] < '0' || s[*i] > '9')
      return -1;
    v = v * 10 + (unsigned)(s[*i] - '0');
  }
  *out = v;
  return 0;
}

/* "28/Nov/2026:14:02:31 +0000" (strftime "%d/%b/%Y:%H:%M:%S %z", C
 * locale month names) -> unix epoch. */
int fpm_text_parse_date(const char *s, size_t n, uint64_t *epoch) {
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  unsigned d, y, hh, mm, ss, oh, om;
  size_t i = 0;
  if (num_at(s, n, &i, 2, &d) || i + 5 > n || s[i] != '/' || s[i + 4] != '/')
    return -1;
  unsigned mon = 0;
  for (unsigned k = 0; k < 12 && mon == 0; k++)
    if (memcmp(months + 3 * k, s + i + 1, 3) == 0)
      mon = k + 1;
  i += 5;
  if (mon == 0 || num_at(s, n, &i, 4, &y) || i >= n || s[i++] != ':' ||
      num_at(s, n, &i, 2, &hh) || i >= n || s[i++] != ':' ||
      num_at(s, n, &i, 2, &mm) || i >= n || s[i++] != ':' ||
      num_at(s, n, &i, 2, &ss) || i + 1 >= n || s[i++] != ' ')
    return -1;
  int sign = s[i] == '-' ? -1 : 1;
  if (s[i] != '+' && s[i] != '-')
    return -1;
  i++;
  if (num_at(s, n, &i, 2, &oh) || num_at(s, n, &i, 2, &om) || i != n)
    return -1;
  if (d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60)
    return -1;
  int64_t t = days_from_civil(y, mon, d) * 86400 + hh * 3600 + mm * 60 + ss;
  t -= sign * (int64_t)(oh * 3600 + om * 60);
  if (t < 0)
    return -1;
  *epoch = (uint64_t)t;
  return 0;
}

/* --------------------------------------------------------- pool part */

static void pool_line(struct fpm_status *st, const struct line *l,
                      size_t colon) {
  size_t v = value_start(l, colon);
  const char *val = l->s + v;
  size_t vn = l->n - v;
  int f = fpm_pool_field_lookup(l->s, colon);
  uint64_t epoch;
  switch (f) {
  case FPM_F_POOL:
  case FPM_F_PROCESS_MANAGER: {
    char *dst = f == FPM_F_POOL ? st->pool : st->process_manager;
    size_t cap = f == FPM_F_POOL ? sizeof st->pool : sizeof st->process_manager;
    size_t m = vn < cap - 1 ? vn : cap - 1;
    memcpy(dst, val, m);
    dst[m] = '\0';
    st->present |= 1u << f;
    break;
  }
  case FPM_F_START_TIME:
    if (fpm_text_parse_date(val, vn, &epoch) == 0) {
      st->v[f] = epoch;
      st->present |= 1u << f;
    }
    break;
  default:
    fpm_status_set_number(st, l->s, colon, val, vn);
    break;
  }
}

/* Parses the pool lines; returns the offset after them or (size_t)-1. */
static size_t parse_pool(fpm_parser *p, const char *b, size_t len) {
  struct fpm_status *st = p->st;
  size_t at = 0;
  while (at < len) {
    struct line l = get_line(b, len, at);
    if (l.n == 0 || (l.n == STARS_LEN && memcmp(l.s, STARS, STARS_LEN) == 0))
      break;
    const char *colon = memchr(l.s, ':', l.n);
    if (colon == NULL ||
        (at == 0 && fpm_pool_field_lookup(l.s, (size_t)(colon - l.s)) < 0)) {
      if (st->present != 0)
        break;
      fpm_parser_fail(p, FPM_P_ESCHEMA, at, b, len, at,
                      "not a PHP-FPM text status page: line %s does not "
                      "start with a pool field label such as \"pool:\"",
                      at == 0 ? "1" : "after the pool fields");
      return (size_t)-1;
    }
    pool_line(st, &l, (size_t)(colon - l.s));
    at = l.next;
  }
  return at;
}

/* ------------------------------------------------------- worker part */

struct wstate {
  struct fpm_worker *w;
  int field;      /* current field, -1 before the first */
  const char *vs; /* current value */
  size_t vn;
};

static int is_string_field(int f) {
  return f == FPM_W_REQUEST_METHOD || f == FPM_W_REQUEST_URI ||
         f == FPM_W_USER || f == FPM_W_SCRIPT;
}

static int finish_field(struct fpm_status *st, struct wstate *ws) {
  struct fpm_worker *w = ws->w;
  int f = ws->field;
  uint64_t v = 0;
  size_t off;
  if (f < 0)
    return 0;
  if (is_string_field(f)) {
    if (fpm_arena_put(st, ws->vs, ws->vn, &off) != 0)
      return -1;
    const char *o = fpm_off_ptr(off);
    if (f == FPM_W_REQUEST_METHOD)
      w->method = o;
    else if (f == FPM_W_REQUEST_URI)
      w->uri = o;
    else if (f == FPM_W_USER)
      w->user = o;
    else
      w->script = o;
  } else if (f == FPM_W_STATE) {
    fpm_worker_set_state(w, ws->vs, ws->vn);
  } else if (f == FPM_W_LAST_REQUEST_CPU) {
    if (fpm_parse_double(ws->vs, ws->vn, &w->last_request_cpu) != 0)
      return 0;
  } else if (f == FPM_W_START_TIME) {
    if (fpm_text_parse_date(ws->vs, ws->vn, &w->start_time) != 0)
      return 0;
  } else {
    if (fpm_parse_u64(ws->vs, ws->vn, &v) != 0)
      return 0;
    if (f == FPM_W_PID)
      w->pid = (int64_t)v;
    else if (f == FPM_W_START_SINCE)
      w->start_since = v;
    else if (f == FPM_W_REQUESTS)
      w->requests = v;
    else if (f == FPM_W_REQUEST_DURATION)
      w->request_duration_us = v;
    else if (f == FPM_W_CONTENT_LENGTH)
      w->content_length = v;
    else if (f == FPM_W_LAST_REQUEST_MEMORY)
      w->last_request_memory = v;
  }
  w->present |= 1u << f;
  return 0;
}

/* The field a line starts, if it is the next one of the block in FPM's
 * fixed order (7.x builds without HAVE_FPM_LQ skip "last request cpu");
 * else -1: the line continues the current value. */
static int field_line(const struct line *l, int after, size_t *colon) {
  const char *c = memchr(l->s, ':', l->n < 32 ? l->n : 32);
  if (c == NULL)
    return -1;
  int f = fpm_worker_field_lookup(l->s, (size_t)(c - l->s));
  int ok = f == after + 1 || (after + 1 == FPM_W_LAST_REQUEST_CPU &&
                              f == FPM_W_LAST_REQUEST_MEMORY);
  if (f < 0 || !ok)
    return -1;
  *colon = (size_t)(c - l->s);
  return f;
}

static int is_block_end(const char *b, size_t len, const struct line *l) {
  if (l->n != 0 || !l->has_nl)
    return 0;
  struct line nx = get_line(b, len, l->next);
  return nx.n == STARS_LEN && memcmp(nx.s, STARS, STARS_LEN) == 0;
}

static fpm_perr oom(fpm_parser *p, size_t at) {
  return fpm_parser_fail(p, FPM_P_ENOMEM, at, NULL, 0, 0,
                         "out of memory storing text status workers");
}

/* One block after its stars line; returns the offset after it. */
static size_t parse_block(fpm_parser *p, const char *b, size_t len, size_t at) {
  struct fpm_status *st = p->st;
  if (st->n_workers >= p->max_workers) {
    fpm_parser_fail(p, FPM_P_ETOOBIG, at, NULL, 0, 0,
                    "more worker blocks than max_workers (%zu)",
                    p->max_workers);
    return (size_t)-1;
  }
  struct wstate ws = {fpm_status_add_worker(st), -1, NULL, 0};
  if (ws.w == NULL) {
    oom(p, at);
    return (size_t)-1;
  }
  while (at < len) {
    struct line l = get_line(b, len, at);
    size_t colon;
    int f = field_line(&l, ws.field, &colon);
    if (f >= 0) {
      if (finish_field(st, &ws) != 0) {
        oom(p, at);
        return (size_t)-1;
      }
      size_t v = value_start(&l, colon);
      ws.field = f;
      ws.vs = l.s + v;
      ws.vn = l.n - v;
    } else if (is_block_end(b, len, &l) || ws.field < 0) {
      break;
    } else if (is_string_field(ws.field)) {
      ws.vn = (size_t)(l.s + l.n - ws.vs); /* a value with a newline */
    }
    at = l.next;
  }
  if (finish_field(st, &ws) != 0) {
    oom(p, at);
    return (size_t)-1;
  }
  return at;
}

static fpm_perr parse_all(fpm_parser *p, const char *b, size_t len) {
  struct fpm_status *st = p->st;
  size_t at = parse_pool(p, b, len);
  if (at == (size_t)-1)
    return p->code;
  if ((st->present & ((1u << FPM_F__COUNT) - 1)) == 0)
    return fpm_parser_fail(p, FPM_P_ESCHEMA, 0, b, len, 0,
                           "not a PHP-FPM text status page: no pool fields");
  while (at < len) {
    struct line l = get_line(b, len, at);
    at = l.next;
    if (l.n == STARS_LEN && memcmp(l.s, STARS, STARS_LEN) == 0) {
      st->has_workers = 1;
      at = parse_block(p, b, len, at);
      if (at == (size_t)-1)
        return p->code;
    }
  }
  return FPM_P_OK;
}

fpm_perr fpm_text_finish(fpm_parser *p) {
  struct fpm_text *t = p->text;
  struct fpm_status *st = p->st;
  if (t->len == 0)
    return fpm_parser_fail(p, FPM_P_ETRUNCATED, 0, NULL, 0, 0,
                           "empty body where a PHP-FPM text status page was "
                           "expected");
  /* FPM ends every line with '\n': without it the body was cut, and the
   * last line's value may be cut too, so it is left out */
  size_t whole = t->len;
  int cut = t->buf[t->len - 1] != '\n';
  if (cut) {
    while (whole > 0 && t->buf[whole - 1] != '\n')
      whole--;
    if (whole == 0)
      whole = t->len; /* one partial line: still tell what it is */
  }
  if (parse_all(p, t->buf, whole) != FPM_P_OK)
    return p->code;
  if (!cut)
    return FPM_P_OK;
  if (st->has_workers && st->n_workers > 0 &&
      !((st->workers[st->n_workers - 1].present >> FPM_W_LAST_REQUEST_MEMORY) &
        1u)) {
    st->n_workers--;
    st->dropped++;
  }
  return fpm_parser_fail(p, FPM_P_ETRUNCATED, t->len, t->buf, t->len, t->len,
                         "text status body ended in the middle of a line "
                         "after %zu bytes; %zu complete worker blocks kept",
                         t->len, st->n_workers);
}
