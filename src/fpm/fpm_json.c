/*
 * fpm_json.c: PHP-FPM's JSON status page -> struct fpm_status, on yajl's
 * callback API, behind a repairing pre-lexer (fpm_repair.c).
 *
 * The pre-lexer hands yajl byte ranges that are valid JSON even when FPM
 * printed raw quotes, backslashes or control characters (docs/status-page.md,
 * "The broken JSON FPM prints"), and tells this file where worker entries begin
 * and end. When yajl still fails inside a worker entry, the entry is rolled
 * back here, yajl is restarted in the middle of the "processes" array, and the
 * pre-lexer resynchronises at the next entry (fpm_repair.c). Worker string
 * fields hold arena offsets until parsing ends (the arena may move while it
 * grows).
 */
#include "fpm_json_int.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- key tables */

/* Key dispatch by length, then a compare against a literal: the compiler
 * turns each fixed-size memcmp into a few loads (this runs 13 times per
 * worker). */
#define KEY_IS(k, lit) (memcmp((k), lit, sizeof lit - 1) == 0)
static int worker_key(const char *k, size_t len) {
  switch (len) {
  case 3:
    return KEY_IS(k, "pid") ? FPM_W_PID : -1;
  case 4:
    return KEY_IS(k, "user") ? FPM_W_USER : -1;
  case 5:
    return KEY_IS(k, "state") ? FPM_W_STATE : -1;
  case 6:
    return KEY_IS(k, "script") ? FPM_W_SCRIPT : -1;
  case 8:
    return KEY_IS(k, "requests") ? FPM_W_REQUESTS : -1;
  case 10:
    return KEY_IS(k, "start time") ? FPM_W_START_TIME : -1;
  case 11:
    if (KEY_IS(k, "start since"))
      return FPM_W_START_SINCE;
    return KEY_IS(k, "request uri") ? FPM_W_REQUEST_URI : -1;
  case 14:
    if (KEY_IS(k, "request method"))
      return FPM_W_REQUEST_METHOD;
    return KEY_IS(k, "content length") ? FPM_W_CONTENT_LENGTH : -1;
  case 16:
    if (KEY_IS(k, "request duration"))
      return FPM_W_REQUEST_DURATION;
    return KEY_IS(k, "last request cpu") ? FPM_W_LAST_REQUEST_CPU : -1;
  case 19:
    return KEY_IS(k, "last request memory") ? FPM_W_LAST_REQUEST_MEMORY : -1;
  default:
    return -1;
  }
}
#undef KEY_IS

enum { KEY_UNKNOWN = -1, KEY_PROCESSES = -2 };

/* ----------------------------------------------------------- callbacks */

static int cb_fatal(struct fpm_json *j, fpm_perr code, const char *msg) {
  j->cb_err = code;
  snprintf(j->cb_msg, sizeof j->cb_msg, "%s", msg);
  return 0;
}

/*
 * Fast-path guards. yajl takes valid JSON; the repairing path reads some
 * valid JSON otherwise, by FPM's grammar (fpm_repair.c): a worker string
 * ends only before the continuation FPM prints next, a pool name is raw,
 * a string longer than FPM can print has a missed end. So that both paths
 * give the same snapshot, the fast path hands over (need_slow) wherever
 * they could differ: a byte yajl skips but JSON does not (\v, \f) before
 * the top-level `{`, a pool name with escapes, a string over its cap, a
 * worker string not followed by its exact continuation. Offsets are raw:
 * yajl's consumed count after a token plus the start of the buffer it is
 * parsing.
 */
static uint64_t fast_end(const struct fpm_json *j) {
  return j->fast_base + yajl_get_bytes_consumed(j->h);
}

/* The raw token ending at end (just past its closing quote) decodes to n
 * bytes: 1 when it holds no escape (it is then n + 2 bytes long). In valid
 * JSON a quote inside a string is escaped, so the byte n + 2 back is the
 * opening quote exactly when nothing was escaped. */
static int fast_plain(const struct fpm_json *j, uint64_t end, size_t n) {
  if (end < (uint64_t)n + 3 || end > j->keep_len)
    return 0;
  const char *q = j->keep + (end - n - 2);
  return q[0] == '"' && q[-1] != '\\';
}

/* Raw content length of the valid JSON string ending at end, when it is at
 * most cap; cap + 1 when it is longer. */
static size_t fast_raw_len(const struct fpm_json *j, uint64_t end, size_t cap) {
  const char *k = j->keep;
  uint64_t p = end - 1; /* the closing quote */
  size_t len = 0;
  while (p > 0 && len <= cap) {
    p--;
    if (k[p] == '"') {
      uint64_t b = p;
      while (b > 0 && k[b - 1] == '\\')
        b--;
      if (((p - b) & 1u) == 0)
        return len; /* an unescaped quote: the opening one */
    }
    len++;
  }
  return cap + 1;
}

/* A worker string's continuation is pending: the next key and its `:`
 * must be exactly what FPM prints after it. 1 when fine. */
static int fast_cont_ok(struct fpm_json *j) {
  uint64_t from = j->cont_off, to = j->key_end + 1;
  j->cont_off = 0;
  if (j->key_end < from || to > j->keep_len)
    return 0;
  return fpm_repair_cont_is(j->cont_kind, j->keep + from, (size_t)(to - from));
}

/* Called first by every value callback: 1 to go on, 0 to hand over. */
static int fast_value(struct fpm_json *j) {
  if (j->cont_off == 0 || fast_cont_ok(j))
    return 1;
  j->need_slow = 1;
  return 0;
}

/* The kind the pre-lexer gives the string value now being parsed, from
 * its key (a key with escapes counts as FPM's when decoded: that only makes
 * the fast path stricter than the pre-lexer, which reads it as another). */
static int fast_kind(const struct fpm_json *j) {
  if (j->cb_depth == 1)
    return j->cb_key == FPM_F_POOL              ? R_POOL
           : j->cb_key == FPM_F_PROCESS_MANAGER ? R_PM
                                                : R_OTHER;
  if (j->cb_depth != 3 || !j->cb_in_worker)
    return R_OTHER;
  switch (j->cb_key) {
  case FPM_W_STATE:
    return R_STATE;
  case FPM_W_REQUEST_METHOD:
    return R_METHOD;
  case FPM_W_REQUEST_URI:
    return R_URI;
  case FPM_W_USER:
    return R_USER;
  case FPM_W_SCRIPT:
    return R_SCRIPT;
  default:
    return R_OTHER;
  }
}

/* The fast path's view of a string value: 1 to go on, 0 to hand over. */
static int fast_string(struct fpm_json *j, size_t n) {
  int kind = fast_kind(j);
  size_t cap = fpm_repair_kind_cap(kind);
  int conts = fpm_repair_kind_has_conts(kind);
  if (n <= cap / 6 && kind != R_POOL && !conts)
    return 1; /* 6 raw bytes at most per decoded byte */
  uint64_t end = fast_end(j);
  int plain = fast_plain(j, end, n);
  if ((kind == R_POOL && !plain) ||
      (plain ? n > cap : (n > cap / 6 && fast_raw_len(j, end, cap) > cap))) {
    j->need_slow = 1;
    return 0;
  }
  if (conts) {
    j->cont_off = end;
    j->cont_kind = kind;
  }
  return 1;
}

/* The top-level `{` just lexed (it ends at fast_end) has only JSON's own
 * whitespace (RFC 8259: space, tab, CR, LF) before it. yajl also skips \v
 * and \f there; the pre-lexer does not (a body that is not JSON from its
 * first byte is not FPM's status page), so the fast path hands such a body
 * over and both paths report it alike. */
static int fast_json_start(const struct fpm_json *j) {
  uint64_t brace = fast_end(j) - 1;
  if (brace >= j->keep_len)
    return 0;
  for (uint64_t i = 0; i < brace; i++)
    if (!fpm_repair_is_space(j->keep[i]))
      return 0;
  return 1;
}

static int cb_null(void *ctx) {
  return fast_value(ctx);
}

static int cb_bool(void *ctx, int b) {
  (void)b;
  return fast_value(ctx);
}

static int cb_start_map(void *ctx) {
  struct fpm_json *j = ctx;
  if (!fast_value(j))
    return 0;
  j->cb_depth++;
  if (j->cb_depth == 1 && !j->replay) {
    if (j->fast && !fast_json_start(j)) {
      j->need_slow = 1; /* the pre-lexer rejects it (lex_start) */
      return 0;
    }
    j->cb_root = 1;
    return 1;
  }
  if (j->cb_depth != 3 || !j->cb_in_procs)
    return 1;
  struct fpm_status *st = j->p->st;
  if (st->n_workers >= j->p->max_workers)
    return cb_fatal(j, FPM_P_ETOOBIG, "more worker entries than max_workers");
  j->mark_workers = st->n_workers;
  j->mark_arena = st->arena_len_;
  if (fpm_status_add_worker(st) == NULL)
    return cb_fatal(j, FPM_P_ENOMEM, "out of memory growing the worker list");
  j->cb_in_worker = 1;
  return 1;
}

/* A point the fast path can fall back to: right after the processes `[`
 * or after a worker entry's `}`, with the snapshot as it is there. */
static void set_checkpoint(struct fpm_json *j, uint64_t off, int after_entry) {
  j->ckpt_ok = 1;
  j->ckpt_off = off;
  j->ckpt_after_entry = after_entry;
  j->ckpt_workers = j->p->st->n_workers;
  j->ckpt_arena = j->p->st->arena_len_;
  j->ckpt_pool_ok = 0; /* the pool part stays as it is until "processes"
                          ends (pool_save) */
}

/* The fast path leaves "processes" past its checkpoint: inside the array
 * the pool part did not change, so it is the checkpoint's. Saved once, at
 * the first `]` after the checkpoint; what comes after it (pool fields,
 * unknown ones appended as extra fields) is rolled back by fall_back. */
static void pool_save(struct fpm_json *j) {
  const struct fpm_status *st = j->p->st;
  struct fpm_json_pool *c = &j->ckpt_pool;
  if (!j->fast || j->replay || !j->ckpt_ok || j->ckpt_pool_ok)
    return;
  c->present = st->present;
  memcpy(c->v, st->v, sizeof c->v);
  memcpy(c->pool, st->pool, sizeof c->pool);
  memcpy(c->process_manager, st->process_manager, sizeof c->process_manager);
  c->n_extra = st->n_extra;
  c->has_workers = st->has_workers;
  j->ckpt_pool_ok = 1;
}

static void pool_restore(struct fpm_json *j) {
  struct fpm_status *st = j->p->st;
  const struct fpm_json_pool *c = &j->ckpt_pool;
  if (!j->ckpt_pool_ok)
    return;
  st->present = c->present;
  memcpy(st->v, c->v, sizeof st->v);
  memcpy(st->pool, c->pool, sizeof st->pool);
  memcpy(st->process_manager, c->process_manager, sizeof st->process_manager);
  if (st->n_extra > c->n_extra) /* appended since: as if never read */
    memset(&st->extra[c->n_extra], 0,
           (st->n_extra - c->n_extra) * sizeof st->extra[0]);
  st->n_extra = c->n_extra;
  st->has_workers = c->has_workers;
  j->ckpt_pool_ok = 0;
}

static int cb_end_map(void *ctx) {
  struct fpm_json *j = ctx;
  if (j->cb_depth == 3 && j->cb_in_worker) {
    struct fpm_status *st = j->p->st;
    const uint32_t all = (1u << FPM_W__COUNT) - 1;
    if (j->fast && ((st->workers[st->n_workers - 1].present & all) != all ||
                    j->cont_off != 0)) {
      /* FPM prints every key: an entry that ends early is valid JSON only
       * because a raw `"` in a string (a request uri with `"},{"pid":...`)
       * ended it; the repairing path reads it by FPM's grammar */
      j->need_slow = 1;
      return 0;
    }
    j->cb_in_worker = 0;
    if (j->lx.entry_repaired) {
      st->workers[st->n_workers - 1].flags |= FPM_WORKER_REPAIRED;
      st->repaired++;
      j->lx.entry_repaired = 0;
    }
    if (j->fast)
      set_checkpoint(j, j->fast_base + yajl_get_bytes_consumed(j->h), 1);
  }
  j->cb_depth--;
  return 1;
}

static int cb_start_array(void *ctx) {
  struct fpm_json *j = ctx;
  if (!fast_value(j))
    return 0;
  j->cb_depth++;
  if (j->cb_depth == 1 && !j->replay)
    return cb_fatal(j, FPM_P_ESCHEMA,
                    "top-level JSON array: not a PHP-FPM status object");
  if (j->cb_depth == 2 && j->cb_key == KEY_PROCESSES) {
    struct fpm_status *st = j->p->st;
    j->cb_in_procs = 1;
    if (!st->has_workers && fpm_status_has(st, FPM_F_TOTAL_PROCESSES)) {
      /* FPM prints one entry per process: size the arrays once; 128
       * bytes of strings per entry covers typical uris */
      uint64_t n = st->v[FPM_F_TOTAL_PROCESSES] + 1;
      if (n > j->p->max_workers)
        n = j->p->max_workers;
      if (n > 16384)
        n = 16384; /* a claim, not a fact: beyond this, grow as they come */
      if (fpm_status_reserve(st, (size_t)n, (size_t)n * 128) != 0)
        return cb_fatal(j, FPM_P_ENOMEM,
                        "out of memory sizing the worker "
                        "list");
    }
    st->has_workers = 1;
    if (j->fast && !j->replay)
      set_checkpoint(j, j->fast_base + yajl_get_bytes_consumed(j->h), 0);
  }
  return 1;
}

static int cb_end_array(void *ctx) {
  struct fpm_json *j = ctx;
  if (j->cb_depth == 2 && j->cb_in_procs) {
    pool_save(j);
    j->cb_in_procs = 0;
  }
  j->cb_depth--;
  return 1;
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t len) {
  struct fpm_json *j = ctx;
  const char *key = (const char *)k;
  if (j->cont_off != 0)
    j->key_end = fast_end(j); /* checked with the value (fast_value) */
  if (j->cb_depth == 1) {
    int f = fpm_pool_field_lookup(key, len);
    if (f >= 0) {
      j->cb_key = f;
    } else if (len == 9 && memcmp(key, "processes", 9) == 0) {
      j->cb_key = KEY_PROCESSES;
      if (j->fast && !j->replay && !fast_plain(j, fast_end(j), len)) {
        j->need_slow = 1; /* the pre-lexer knows only the raw key */
        return 0;
      }
    } else {
      j->cb_key = KEY_UNKNOWN;
      j->cb_keylen = len < sizeof j->cb_keybuf ? len : sizeof j->cb_keybuf;
      memcpy(j->cb_keybuf, key, j->cb_keylen);
    }
    return 1;
  }
  if (j->cb_depth == 3 && j->cb_in_worker) {
    int f = worker_key(key, len);
    j->cb_key = f;
    if (f >= 0 &&
        (j->p->st->workers[j->p->st->n_workers - 1].present >> f) & 1u) {
      j->cb_drop = 1; /* a key twice: a string swallowed the real end */
      return 0;
    }
  }
  return 1;
}

static void worker_number(struct fpm_worker *w, int f, const char *s,
                          size_t n) {
  uint64_t v = 0;
  if (f == FPM_W_LAST_REQUEST_CPU) {
    double d;
    if (fpm_parse_double(s, n, &d) != 0)
      return;
    w->last_request_cpu = d;
  } else if (fpm_parse_u64(s, n, &v) != 0) {
    return; /* not FPM's unsigned decimal: leave the field absent */
  }
  switch (f) {
  case FPM_W_PID:
    w->pid = (int64_t)v;
    break;
  case FPM_W_START_TIME:
    w->start_time = v;
    break;
  case FPM_W_START_SINCE:
    w->start_since = v;
    break;
  case FPM_W_REQUESTS:
    w->requests = v;
    break;
  case FPM_W_REQUEST_DURATION:
    w->request_duration_us = v;
    break;
  case FPM_W_CONTENT_LENGTH:
    w->content_length = v;
    break;
  case FPM_W_LAST_REQUEST_MEMORY:
    w->last_request_memory = v;
    break;
  case FPM_W_LAST_REQUEST_CPU:
    break;
  default:
    return; /* a string field given as a number */
  }
  w->present |= 1u << f;
}

static int cb_number(void *ctx, const char *s, size_t n) {
  struct fpm_json *j = ctx;
  struct fpm_status *st = j->p->st;
  if (!fast_value(j))
    return 0;
  if (j->cb_depth == 1) {
    if (j->cb_key >= 0)
      fpm_status_set_field(st, j->cb_key, s, n);
    else if (j->cb_key == KEY_UNKNOWN)
      fpm_status_set_number(st, j->cb_keybuf, j->cb_keylen, s, n);
  } else if (j->cb_depth == 3 && j->cb_in_worker && j->cb_key >= 0) {
    worker_number(&st->workers[st->n_workers - 1], j->cb_key, s, n);
  }
  return 1;
}

static void copy_fixed(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, s, n);
  dst[n] = '\0';
}

static int worker_string(struct fpm_json *j, const char *s, size_t n) {
  struct fpm_status *st = j->p->st;
  struct fpm_worker *w = &st->workers[st->n_workers - 1];
  const char **dst = NULL;
  switch (j->cb_key) {
  case FPM_W_STATE:
    fpm_worker_set_state(w, s, n);
    return 1;
  case FPM_W_REQUEST_METHOD:
    dst = &w->method;
    break;
  case FPM_W_REQUEST_URI:
    dst = &w->uri;
    break;
  case FPM_W_USER:
    dst = &w->user;
    break;
  case FPM_W_SCRIPT:
    dst = &w->script;
    break;
  default:
    return 1;
  }
  size_t off;
  if (fpm_arena_put(st, s, n, &off) != 0)
    return cb_fatal(j, FPM_P_ENOMEM, "out of memory storing a worker string");
  *dst = fpm_off_ptr(off);
  w->present |= 1u << j->cb_key;
  return 1;
}

static int cb_string(void *ctx, const unsigned char *u, size_t n) {
  struct fpm_json *j = ctx;
  const char *s = (const char *)u;
  struct fpm_status *st = j->p->st;
  if (!fast_value(j))
    return 0;
  if (j->fast && !fast_string(j, n))
    return 0;
  if (j->cb_depth == 1) {
    if (j->cb_key == FPM_F_POOL) {
      copy_fixed(st->pool, sizeof st->pool, s, n);
      st->present |= 1u << FPM_F_POOL;
    } else if (j->cb_key == FPM_F_PROCESS_MANAGER) {
      copy_fixed(st->process_manager, sizeof st->process_manager, s, n);
      st->present |= 1u << FPM_F_PROCESS_MANAGER;
    }
    return 1;
  }
  if (j->cb_depth == 3 && j->cb_in_worker)
    return worker_string(j, s, n);
  return 1;
}

static const yajl_callbacks callbacks = {
    cb_null,    cb_bool,        NULL,         NULL,
    cb_number,  cb_string,      cb_start_map, cb_map_key,
    cb_end_map, cb_start_array, cb_end_array};

/* ---------------------------------------------------------- yajl handle */

static int open_yajl(struct fpm_json *j) {
  j->h = yajl_alloc(&callbacks, NULL, j);
  if (j->h == NULL)
    return -1;
  /* Invalid UTF-8 is kept as bytes (the header documents it): FPM cuts
   * strings byte-wise and old versions print raw bytes. */
  yajl_config(j->h, yajl_dont_validate_strings, 1);
  return 0;
}

/* A fresh yajl positioned inside the "processes" array after an element:
 * the next byte it sees is `,` (another entry) or `]`. The element stands
 * for the entry and must be complete, as the entry's `}` is: a bare `0`
 * would be a number yajl holds open, and a following `e`, `.` or digit
 * would extend it where after `}` it is an error. */
static int restart_yajl(struct fpm_json *j, int after_entry) {
  static const char prefix[] = "{\"processes\":[0 ";
  size_t plen = sizeof prefix - (after_entry ? 1 : 3);
  yajl_free(j->h);
  if (open_yajl(j) != 0)
    return -1;
  j->cb_depth = 0;
  j->cb_in_procs = 0;
  j->cb_in_worker = 0;
  j->replay = 1;
  yajl_status ys = yajl_parse(j->h, (const unsigned char *)prefix, plen);
  j->replay = 0;
  return ys == yajl_status_ok ? 0 : -1;
}

/* Rolls back the worker entry being parsed and restarts yajl. */
static int drop_entry(struct fpm_json *j) {
  struct fpm_status *st = j->p->st;
  if (j->cb_in_worker) {
    st->n_workers = j->mark_workers;
    st->arena_len_ = j->mark_arena;
  }
  st->dropped++;
  j->cb_drop = 0;
  j->yfail = 0;
  j->lx.entry_repaired = 0;
  if (restart_yajl(j, 1) != 0) {
    fpm_parser_fail(j->p, FPM_P_ENOMEM, j->lx.pos, NULL, 0, 0,
                    "out of memory restarting the JSON parser");
    return -1;
  }
  return 0;
}

static void yajl_message(struct fpm_json *j, char *dst, size_t cap) {
  unsigned char *e = yajl_get_error(j->h, 0, NULL, 0);
  snprintf(dst, cap, "%s", e != NULL ? (const char *)e : "parse error");
  if (e != NULL)
    yajl_free_error(j->h, e);
  size_t n = strlen(dst);
  while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
    dst[--n] = '\0';
}

/* Feeds one range to yajl. 0: fine, or yajl failed inside "processes"
 * (j->yfail, acted on by the pre-lexer at the next unit boundary; what
 * comes until then is not fed); -1: fatal (error recorded in the parser). */
static int feed_yajl(struct fpm_json *j, const char *buf, size_t len,
                     uint64_t raw_off) {
  if (j->yfail)
    return 0;
  yajl_status ys = yajl_parse(j->h, (const unsigned char *)buf, len);
  if (ys == yajl_status_ok)
    return 0;
  size_t at = yajl_get_bytes_consumed(j->h);
  if (at > len)
    at = len;
  if (j->cb_err != FPM_P_OK) {
    fpm_parser_fail(j->p, j->cb_err, raw_off + at, buf, len, at, "%s",
                    j->cb_msg);
    return -1;
  }
  /* yajl's own state decides (not the pre-lexer's, which runs ahead) */
  if (j->cb_in_procs || j->cb_in_worker || j->cb_drop) {
    j->yfail = 1;
    return 0;
  }
  char msg[120];
  yajl_message(j, msg, sizeof msg);
  uint64_t where = raw_off + at; /* at counts repaired bytes, if any */
  if (where > j->p->fed)
    where = j->p->fed;
  fpm_parser_fail(j->p, j->cb_root ? FPM_P_ESYNTAX : FPM_P_ESCHEMA, where, buf,
                  len, at, "invalid status JSON near byte %llu: %s",
                  (unsigned long long)where, msg);
  return -1;
}

/* The pre-lexer's output (struct fpm_repair_out) is yajl, here. */
static int out_feed(void *ctx, const char *buf, size_t len, uint64_t raw_off) {
  return feed_yajl(ctx, buf, len, raw_off);
}

static int out_drop_entry(void *ctx) {
  return drop_entry(ctx);
}

static int out_failed(void *ctx) {
  const struct fpm_json *j = ctx;
  return j->yfail;
}

/* Hand back to the fast path once past the breakage, unless the body is
 * complete. */
static int out_may_yield(void *ctx, uint64_t off) {
  const struct fpm_json *j = ctx;
  return j->resumable && !j->slow_until_end && off >= j->slow_until;
}

/* --------------------------------------------------------------- API */

int fpm_json_new(fpm_parser *p) {
  struct fpm_json *j = calloc(1, sizeof *j);
  if (j == NULL)
    return -1;
  j->p = p;
  j->cb_key = KEY_UNKNOWN;
  j->fast = j->resumable = !p->always_repair;
  if (open_yajl(j) != 0) {
    free(j);
    return -1;
  }
  j->lx.out = (struct fpm_repair_out){.p = p,
                                      .ctx = j,
                                      .feed = out_feed,
                                      .drop_entry = out_drop_entry,
                                      .failed = out_failed,
                                      .may_yield = out_may_yield};
  fpm_repair_init(&j->lx);
  p->json = j;
  return 0;
}

void fpm_json_free(fpm_parser *p) {
  struct fpm_json *j = p->json;
  if (j == NULL)
    return;
  if (j->h != NULL)
    yajl_free(j->h);
  free(j->keep);
  fpm_repair_free(&j->lx);
  free(j);
  p->json = NULL;
}

/*
 * Fast path: valid JSON (every 8.2.36 page but a pool name with `\`) goes
 * straight to yajl, and the input is kept. On the first sign of FPM's
 * broken JSON (a yajl error, a key twice in an entry, a raw `\` in the
 * pool name, a cut body) the snapshot is reset and the kept input is parsed
 * again through the repairing pre-lexer, which then takes the rest. Either
 * way the result depends only on the bytes, not on how they were split.
 */
/* Bytes the fast path gathers before it parses on (see fpm_json_feed). */
#define FPM_JSON_BATCH 512

static int keep_input(struct fpm_json *j, const char *buf, size_t len) {
  if (j->keep_cap - j->keep_len < len) {
    size_t cap = j->keep_cap ? j->keep_cap : 16384;
    while (cap - j->keep_len < len) {
      if (cap > SIZE_MAX / 2)
        return -1;
      cap *= 2;
    }
    char *k = realloc(j->keep, cap);
    if (k == NULL)
      return -1;
    j->keep = k;
    j->keep_cap = cap;
  }
  memcpy(j->keep + j->keep_len, buf, len);
  j->keep_len += len;
  return 0;
}

/* The fast path failed at raw offset fail_off: roll back to the last
 * checkpoint (or to the start when there is none) and let the repairing
 * path take over from there; it hands back to the fast path at the first
 * entry end past fail_off (fpm_repair.c). */
static fpm_perr fall_back(fpm_parser *p, uint64_t fail_off) {
  struct fpm_json *j = p->json;
  struct fpm_status *st = p->st;
  j->fast = 0;
  j->cb_drop = j->need_slow = j->yfail = 0;
  j->cont_off = 0;
  j->cb_err = FPM_P_OK;
  j->slow_until = fail_off;
  fpm_repair_init(&j->lx);
  if (!j->ckpt_ok) {
    fpm_status_clear(st);
    st->format = FPM_FORMAT_JSON;
    yajl_free(j->h);
    j->cb_depth = j->cb_root = j->cb_in_procs = j->cb_in_worker = 0;
    j->cb_key = KEY_UNKNOWN;
    j->done_off = 0;
    if (open_yajl(j) != 0)
      goto oom;
    return FPM_P_OK;
  }
  st->n_workers = j->ckpt_workers;
  st->arena_len_ = j->ckpt_arena;
  pool_restore(j);
  if (restart_yajl(j, j->ckpt_after_entry) != 0)
    goto oom;
  fpm_repair_resume(&j->lx, j->ckpt_off);
  j->done_off = j->ckpt_off;
  return FPM_P_OK;
oom:
  j->h = NULL;
  return fpm_parser_fail(p, FPM_P_ENOMEM, fail_off, NULL, 0, 0,
                         "out of memory restarting the JSON parser");
}

static fpm_perr fast_fatal(fpm_parser *p) {
  struct fpm_json *j = p->json;
  /* limits and memory fail the same way on both paths */
  return fpm_parser_fail(p, j->cb_err, j->keep_len, NULL, 0, 0, "%s",
                         j->cb_msg);
}

static int fast_failed(const struct fpm_json *j, yajl_status ys) {
  return ys != yajl_status_ok || j->need_slow;
}

/* Runs the kept input from done_off on, switching paths as needed. */
static fpm_perr run(fpm_parser *p) {
  struct fpm_json *j = p->json;
  while (p->code == FPM_P_OK && j->done_off < j->keep_len) {
    const char *d = j->keep + j->done_off;
    size_t n = j->keep_len - j->done_off;
    if (!j->fast) {
      fpm_repair_feed(&j->lx, d, n);
      if (j->lx.yield) { /* an entry ended past the failure: go fast */
        j->lx.yield = 0;
        j->lx.hold_len = 0;
        j->done_off = j->lx.pos;
        j->fast = 1;
        set_checkpoint(j, j->done_off, 1);
      } else {
        j->done_off = j->keep_len;
      }
      continue;
    }
    j->fast_base = j->done_off;
    yajl_status ys = yajl_parse(j->h, (const unsigned char *)d, n);
    if (!fast_failed(j, ys)) {
      j->done_off = j->keep_len;
      break;
    }
    if (j->cb_err == FPM_P_ETOOBIG || j->cb_err == FPM_P_ENOMEM)
      return fast_fatal(p);
    fall_back(p, j->done_off + yajl_get_bytes_consumed(j->h));
  }
  return p->code;
}

/*
 * Fast path: valid JSON (every 8.2.36 page but a pool name with `\`) goes
 * straight to yajl; the input is kept. On the first sign of FPM's broken
 * JSON (a yajl error, a key twice in an entry, a raw `\` in the pool name,
 * a cut body) the snapshot goes back to the last entry boundary and the
 * kept input from there is parsed by the repairing pre-lexer, which hands
 * back after the broken entry. The result depends only on the bytes, not
 * on how they were split. With always_repair everything takes the
 * repairing path and nothing is kept.
 */
fpm_perr fpm_json_feed(fpm_parser *p, const char *buf, size_t len) {
  struct fpm_json *j = p->json;
  if (!j->resumable) {
    fpm_repair_feed(&j->lx, buf, len);
    return p->code;
  }
  if (keep_input(j, buf, len) != 0)
    return fpm_parser_fail(p, FPM_P_ENOMEM, j->keep_len, NULL, 0, 0,
                           "out of memory buffering the status body");
  /* small feeds wait in the kept input: yajl scans a token it holds across
   * calls again on each call, so a long string fed a few bytes at a time
   * would cost its length squared */
  if (j->keep_len - j->done_off < FPM_JSON_BATCH)
    return p->code;
  return run(p);
}

static fpm_perr schema_check(fpm_parser *p) {
  struct fpm_status *st = p->st;
  const uint32_t pool_mask = (1u << FPM_F__COUNT) - 1;
  if ((st->present & pool_mask) == 0)
    return fpm_parser_fail(p, FPM_P_ESCHEMA, 0, NULL, 0, 0,
                           "JSON has none of the status page's pool fields "
                           "(pool, accepted conn, ...): not a PHP-FPM status "
                           "page");
  return FPM_P_OK;
}

fpm_perr fpm_json_finish(fpm_parser *p) {
  struct fpm_json *j = p->json;
  if (j->resumable && run(p) != FPM_P_OK)
    return p->code;
  if (j->fast) {
    yajl_status ys = yajl_complete_parse(j->h);
    if (!fast_failed(j, ys) && j->cb_root && j->keep_len > 0)
      return schema_check(p);
    if (j->cb_err == FPM_P_ETOOBIG || j->cb_err == FPM_P_ENOMEM)
      return fast_fatal(p);
    j->slow_until_end = 1; /* no hand-back: the body is complete */
    if (fall_back(p, j->keep_len) != FPM_P_OK || run(p) != FPM_P_OK)
      return p->code;
  }
  j->slow_until_end = 1; /* no hand-back to the fast path at the end */
  if (fpm_repair_finish(&j->lx) != 0)
    return p->code;
  if (p->code != FPM_P_OK)
    return p->code;
  yajl_status ys = yajl_complete_parse(j->h);
  if (ys != yajl_status_ok) {
    if (j->cb_err != FPM_P_OK)
      return fpm_parser_fail(p, j->cb_err, j->lx.pos, NULL, 0, 0, "%s",
                             j->cb_msg);
    if (j->cb_in_worker) {
      struct fpm_status *st = p->st;
      st->n_workers = j->mark_workers;
      st->arena_len_ = j->mark_arena;
      st->dropped++;
    }
    return fpm_parser_fail(
        p, FPM_P_ETRUNCATED, j->lx.pos, j->lx.tail, j->lx.tail_len,
        j->lx.tail_len,
        "status JSON ended in the middle after %llu bytes (%s); %zu complete "
        "worker entries kept",
        (unsigned long long)j->lx.pos,
        j->cb_in_procs ? "inside the process list" : "inside the pool fields",
        p->st->n_workers);
  }
  return schema_check(p);
}
