/*
 * fpm_repair.c: the repairing pre-lexer between the input chunks and yajl.
 *
 * FPM prints its JSON status on one line, keys in a fixed order, values of
 * known types; the only whitespace is `, "processes":[` (FPM_STATUS.md A.9).
 * Older versions print request method, uri, user, script and (all versions)
 * the pool name raw, so a value can hold `"`, `\` and control bytes (A.10).
 * This small state machine tracks keys and nesting and, inside a string
 * value, decides from that grammar:
 *   - a `"` ends the value only when the exact continuation FPM prints next
 *     follows (`,"request uri":` after "request method", ...); otherwise it
 *     is content and goes to yajl as `\"`. `\"` followed by that
 *     continuation is a raw backslash that ended the value.
 *   - a `\` not starting a valid JSON escape is content (sent as `\\`); in
 *     the pool name every `\` is content (FPM never escapes it, and the INI
 *     parser forbids `"` there, so its first quote ends it).
 *   - control bytes are sent as \u00XX. Bytes >= 0x80 pass unchanged (yajl
 *     runs with yajl_dont_validate_strings: invalid or cut UTF-8 is kept).
 * A decision needs at most 23 bytes of lookahead, held back across feeds. A
 * string longer than FPM can print for its key means the end was missed:
 * the worker entry is dropped and lexing resumes at the next `},{"pid":`.
 * When fpm_json.c's fast path handed over after a yajl error, the first
 * entry end past that error hands back (lx->yield).
 */
#include "fpm_json_int.h"

#include <string.h>

enum { L_START = 0, L_OUT, L_KEY, L_VAL, L_SKIP };
enum { LX_OK = 0, LX_MORE, LX_STOP, LX_YIELD };
enum {
  K_OTHER = 0,
  K_POOL,
  K_PM,
  K_STATE,
  K_METHOD,
  K_URI,
  K_USER,
  K_SCRIPT,
  K_PROCESSES,
  K__COUNT
};

struct cont {
  const char *s;
  size_t len;
};
#define C(s)                                                                   \
  { s, sizeof s - 1 }
static const struct cont conts_method[] = {C(",\"request uri\":"), {NULL, 0}};
static const struct cont conts_uri[] = {C(",\"content length\":"), {NULL, 0}};
static const struct cont conts_user[] = {C(",\"script\":"), {NULL, 0}};
/* 7.x builds without HAVE_FPM_LQ omit "last request cpu" (A.4) */
static const struct cont conts_script[] = {
    C(",\"last request cpu\":"), C(",\"last request memory\":"), {NULL, 0}};
#undef C

static const struct vkey_def {
  const char *name;
  size_t name_len;
  size_t cap; /* raw bytes FPM can print, escaped 6x, plus slack */
  const struct cont *conts; /* NULL: the first unescaped quote ends it */
} vkeys[K__COUNT] = {
    [K_OTHER] = {"", 0, 65536, NULL},
    [K_POOL] = {"pool", 4, 1024, NULL},
    [K_PM] = {"process manager", 15, 256, NULL},
    [K_STATE] = {"state", 5, 256, NULL},
    [K_METHOD] = {"request method", 14, 256, conts_method},
    [K_URI] = {"request uri", 11, 4096, conts_uri},
    [K_USER] = {"user", 4, 256, conts_user},
    [K_SCRIPT] = {"script", 6, 2048, conts_script},
    [K_PROCESSES] = {"processes", 9, 65536, NULL},
};

#define KEY_IS(k, lit) (memcmp((k), lit, sizeof lit - 1) == 0)
/* What kind of string value follows key k (fixed-size compares). */
static int key_kind(const char *k, size_t len) {
  switch (len) {
  case 4:
    return KEY_IS(k, "pool") ? K_POOL : KEY_IS(k, "user") ? K_USER : K_OTHER;
  case 5:
    return KEY_IS(k, "state") ? K_STATE : K_OTHER;
  case 6:
    return KEY_IS(k, "script") ? K_SCRIPT : K_OTHER;
  case 11:
    return KEY_IS(k, "request uri") ? K_URI : K_OTHER;
  case 14:
    return KEY_IS(k, "request method") ? K_METHOD : K_OTHER;
  case 15:
    return KEY_IS(k, "process manager") ? K_PM : K_OTHER;
  default:
    return K_OTHER;
  }
}
#undef KEY_IS

void fpm_repair_init(struct fpm_repair *lx) {
  memset(lx, 0, sizeof *lx);
  lx->state = L_START;
}

void fpm_repair_resume(struct fpm_repair *lx, uint64_t off) {
  fpm_repair_init(lx);
  lx->state = L_OUT;
  lx->depth = 2;
  lx->arr_bits = (uint64_t)1 << 2;
  lx->procs_open = 1;
  lx->pos = off;
}

/* ------------------------------------------------------------ output */

static int flush(struct fpm_json *j) {
  struct fpm_repair *lx = &j->lx;
  if (lx->span_len == 0)
    return 0;
  const char *s = lx->span;
  size_t n = lx->span_len;
  lx->span_len = 0;
  return fpm_json_yajl(j, s, n, lx->span_off, 1);
}

/* Input bytes for yajl; contiguous ones are merged into one call. */
static int out_span(struct fpm_json *j, const char *s, size_t n, uint64_t off) {
  struct fpm_repair *lx = &j->lx;
  if (lx->span_len > 0 && lx->span + lx->span_len == s) {
    lx->span_len += n;
    return 0;
  }
  int rc = flush(j);
  if (rc != 0)
    return rc;
  lx->span = s;
  lx->span_len = n;
  lx->span_off = off;
  return 0;
}

/* Repair bytes for yajl. */
static int out_lit(struct fpm_json *j, const char *s, size_t n, uint64_t off) {
  int rc = flush(j);
  if (rc != 0)
    return rc;
  return fpm_json_yajl(j, s, n, off, 0);
}

static void mark_repaired(struct fpm_repair *lx) {
  if (lx->in_entry)
    lx->entry_repaired = 1;
}

/* The last 3 raw bytes of the current string value. */
static void vprev_push(struct fpm_repair *lx, const char *p, size_t n) {
  for (size_t k = n > 3 ? n - 3 : 0; k < n; k++) {
    lx->vprev[0] = lx->vprev[1];
    lx->vprev[1] = lx->vprev[2];
    lx->vprev[2] = p[k];
  }
}

/* After yajl dropped the entry in the middle: skip to the next one. */
static void resync(struct fpm_repair *lx) {
  lx->state = L_SKIP;
  lx->in_entry = 0;
  lx->span_len = 0;
}

static void tail_push(struct fpm_repair *lx, const char *d, size_t n) {
  const size_t cap = sizeof lx->tail;
  if (n >= cap) {
    memcpy(lx->tail, d + n - cap, cap);
    lx->tail_len = cap;
    return;
  }
  size_t keep = lx->tail_len + n > cap ? cap - n : lx->tail_len;
  memmove(lx->tail, lx->tail + lx->tail_len - keep, keep);
  memcpy(lx->tail + keep, d, n);
  lx->tail_len = keep + n;
}

/* ------------------------------------------------------------ states */

static int lex_start(struct fpm_json *j, const char *d, size_t n, uint64_t base,
                     size_t *ip) {
  size_t i = *ip;
  while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
    i++;
  *ip = i;
  if (i == n)
    return LX_MORE;
  if (d[i] == '{') {
    j->lx.state = L_OUT;
    return LX_OK;
  }
  fpm_parser_fail(j->p, FPM_P_ESCHEMA, base + i, d, n, i,
                  "not a PHP-FPM JSON status page: the body starts with "
                  "'%c' where a JSON object '{' was expected (an error page "
                  "such as \"File not found.\" or HTML?)",
                  (d[i] >= 0x20 && d[i] < 0x7f) ? d[i] : '?');
  return LX_STOP;
}

static int push(struct fpm_json *j, int is_array, uint64_t off) {
  struct fpm_repair *lx = &j->lx;
  if (lx->depth >= 60) {
    fpm_parser_fail(j->p, FPM_P_ESYNTAX, off, NULL, 0, 0,
                    "JSON nested deeper than a status page can be");
    return -1;
  }
  lx->depth++;
  if (is_array)
    lx->arr_bits |= (uint64_t)1 << lx->depth;
  else
    lx->arr_bits &= ~((uint64_t)1 << lx->depth);
  return 0;
}

static int top_is_object(const struct fpm_repair *lx) {
  return lx->depth > 0 && !((lx->arr_bits >> lx->depth) & 1u);
}

/* A structural byte outside strings. */
static int lex_struct(struct fpm_json *j, const char *d, size_t i,
                      uint64_t off) {
  struct fpm_repair *lx = &j->lx;
  char c = d[i];
  int rc = 0;
  switch (c) {
  case '{':
    if (lx->procs_open && lx->depth == 2 && !lx->in_entry) {
      lx->in_entry = 1;
      lx->entry_repaired = 0;
    }
    if (push(j, 0, off) != 0)
      return LX_STOP;
    lx->expect_key = 1;
    break;
  case '[':
    if (push(j, 1, off) != 0)
      return LX_STOP;
    if (lx->depth == 2 && lx->key_len == 9 &&
        memcmp(lx->key, "processes", 9) == 0)
      lx->procs_open = 1;
    lx->expect_key = 0;
    break;
  case '}':
  case ']': {
    int entry_end = c == '}' && lx->in_entry && lx->depth == 3;
    if (lx->depth > 0)
      lx->depth--;
    lx->expect_key = 0;
    rc = out_span(j, d + i, 1, off);
    if (rc == 0 && entry_end)
      rc = flush(j); /* a yajl error now lies inside this entry */
    if (rc == 0 && entry_end && j->resumable && !j->slow_until_end &&
        off >= j->slow_until) {
      lx->in_entry = 0;
      lx->yield = 1; /* past the breakage: the fast path takes over */
      return LX_YIELD;
    }
    if (entry_end)
      lx->in_entry = 0;
    if (rc < 0)
      return LX_STOP;
    if (rc > 0)
      resync(lx);
    return LX_OK;
  }
  case ',':
    lx->expect_key = top_is_object(lx);
    break;
  case ':':
    lx->expect_key = 0;
    break;
  default:
    break;
  }
  rc = out_span(j, d + i, 1, off);
  if (rc < 0)
    return LX_STOP;
  if (rc > 0)
    resync(lx);
  return LX_OK;
}

/* Opening quote of a key or a value. */
static void string_start(struct fpm_repair *lx) {
  if (lx->expect_key) {
    lx->state = L_KEY;
    lx->key_len = 0;
    return;
  }
  lx->state = L_VAL;
  lx->vkey =
      lx->key_len <= sizeof lx->key ? key_kind(lx->key, lx->key_len) : K_OTHER;
  lx->vlen = 0;
  memset(lx->vprev, 0, sizeof lx->vprev);
}

/* Outside strings: numbers, `:` and `,` pass in one run up to the next
 * string (its quote included) or bracket. */
static int lex_out(struct fpm_json *j, const char *d, size_t n, uint64_t base,
                   size_t *ip) {
  struct fpm_repair *lx = &j->lx;
  size_t i = *ip;
  size_t s = i;
  int bracket = 0;
  while (i < n && !bracket) {
    switch (d[i]) {
    case ':':
      lx->expect_key = 0;
      i++;
      break;
    case ',':
      lx->expect_key = top_is_object(lx);
      i++;
      break;
    case '"':
      string_start(lx);
      i++;
      goto run_done;
    case '{':
    case '}':
    case '[':
    case ']':
      bracket = 1;
      break;
    default:
      i++;
      break;
    }
  }
run_done:
  if (i > s) {
    int rc = out_span(j, d + s, i - s, base + s);
    if (rc != 0) {
      *ip = i;
      if (rc < 0)
        return LX_STOP;
      resync(lx);
      return LX_OK;
    }
  }
  if (!bracket) {
    *ip = i;
    return LX_OK;
  }
  int r = lex_struct(j, d, i, base + i);
  *ip = i + 1;
  return r;
}
static int lex_key(struct fpm_json *j, const char *d, size_t n, uint64_t base,
                   size_t *ip) {
  struct fpm_repair *lx = &j->lx;
  size_t i = *ip;
  size_t s = i;
  const char *q = memchr(d + i, '"', n - i);
  i = q != NULL ? (size_t)(q - d) : n;
  size_t m = i - s;
  if (lx->key_len + m <= sizeof lx->key) {
    memcpy(lx->key + lx->key_len, d + s, m);
    lx->key_len += m;
  } else {
    lx->key_len = sizeof lx->key + 1; /* too long for any key we know */
  }
  if (i < n) {
    lx->state = L_OUT; /* the key is looked at when a string value or an
                          array follows it */
    i++;               /* the closing quote */
  }
  int rc = i > s ? out_span(j, d + s, i - s, base + s) : 0;
  *ip = i;
  if (rc < 0)
    return LX_STOP;
  if (rc > 0)
    resync(lx);
  return LX_OK;
}

/* 1: the quote at d[q] ends the value; 0: it is content; -1: need more. */
static int quote_ends(const struct fpm_repair *lx, const char *d, size_t n,
                      size_t q, int eof) {
  const struct cont *c = vkeys[lx->vkey].conts;
  if (c == NULL)
    return 1;
  size_t avail = n - q - 1;
  int partial = 0;
  for (; c->s != NULL; c++) {
    size_t m = avail < c->len ? avail : c->len;
    if (memcmp(d + q + 1, c->s, m) == 0) {
      if (m == c->len)
        return 1;
      partial = 1;
    }
  }
  if (partial)
    return eof ? 1 : -1; /* a cut body: take the quote as the end */
  return 0;
}

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* Length of a valid JSON escape at d[b] ('\\'), 0 if invalid, -1 if more
 * input is needed to tell. */
static int escape_len(const char *d, size_t n, size_t b, int eof) {
  if (b + 1 >= n)
    return eof ? 0 : -1;
  switch (d[b + 1]) {
  case '"':
  case '\\':
  case '/':
  case 'b':
  case 'f':
  case 'n':
  case 'r':
  case 't':
    return 2;
  case 'u':
    for (size_t k = 2; k < 6; k++) {
      if (b + k >= n)
        return eof ? 0 : -1;
      if (!is_hex(d[b + k]))
        return 0;
    }
    return 6;
  default:
    return 0;
  }
}

static int lex_backslash(struct fpm_json *j, const char *d, size_t n,
                         uint64_t base, size_t *ip, int eof) {
  struct fpm_repair *lx = &j->lx;
  size_t b = *ip;
  int rc;
  if (lx->vkey != K_POOL) {
    int el = escape_len(d, n, b, eof);
    if (el < 0)
      return LX_MORE;
    if (el == 2 && d[b + 1] == '"' && vkeys[lx->vkey].conts != NULL) {
      /* `\"`: an escaped quote, or a raw backslash ending the value */
      int e = quote_ends(lx, d, n, b + 1, eof);
      if (e < 0)
        return LX_MORE;
      if (e > 0)
        el = 0;
    }
    if (el > 0) {
      vprev_push(lx, d + b, (size_t)el);
      rc = out_span(j, d + b, (size_t)el, base + b);
      *ip = b + (size_t)el;
      lx->vlen += (size_t)el;
      if (rc < 0)
        return LX_STOP;
      if (rc > 0)
        resync(lx);
      return LX_OK;
    }
    mark_repaired(lx);
  }
  vprev_push(lx, "\\", 1);
  rc = out_lit(j, "\\\\", 2, base + b);
  *ip = b + 1;
  lx->vlen++;
  if (rc < 0)
    return LX_STOP;
  if (rc > 0)
    resync(lx);
  return LX_OK;
}

/* `},{"pid":` inside a value: the value's end was missed (a raw quote
 * mangled it) and the next entry starts here. Drop the broken entry and
 * restart at this boundary, so the next entry survives. The quote at *ip is
 * the one of "pid". */
static int restart_at_boundary(struct fpm_json *j, uint64_t off) {
  struct fpm_repair *lx = &j->lx;
  int rc = flush(j); /* an earlier yajl error comes first */
  if (rc < 0)
    return LX_STOP;
  if (rc > 0) {
    resync(lx);
    return LX_OK;
  }
  if (fpm_json_drop_entry(j) != 0)
    return LX_STOP;
  rc = out_lit(j, ",{", 2, off);
  if (rc < 0)
    return LX_STOP;
  lx->state = L_OUT;
  lx->depth = 3;
  lx->arr_bits = (uint64_t)1 << 2;
  lx->in_entry = 1;
  lx->entry_repaired = 0;
  lx->expect_key = 1;
  return LX_OK;
}

/* 1: the content quote at d[q] is the `"` of `},{"pid":`; -1: need more. */
static int entry_boundary(const struct fpm_repair *lx, const char *d, size_t n,
                          size_t q, int eof) {
  static const char pid[] = "pid\":";
  const size_t plen = sizeof pid - 1;
  if (!lx->in_entry || memcmp(lx->vprev, "},{", 3) != 0)
    return 0;
  size_t avail = n - q - 1;
  if (avail < plen)
    return (eof || memcmp(d + q + 1, pid, avail) != 0) ? 0 : -1;
  return memcmp(d + q + 1, pid, plen) == 0;
}

static int lex_quote(struct fpm_json *j, const char *d, size_t n, uint64_t base,
                     size_t *ip, int eof) {
  struct fpm_repair *lx = &j->lx;
  size_t q = *ip;
  int e = quote_ends(lx, d, n, q, eof);
  if (e < 0)
    return LX_MORE;
  int rc;
  if (e > 0) {
    rc = out_span(j, d + q, 1, base + q);
    lx->state = L_OUT;
    lx->expect_key = 0;
  } else {
    int b = entry_boundary(lx, d, n, q, eof);
    if (b < 0)
      return LX_MORE;
    if (b > 0)
      return restart_at_boundary(j, base + q);
    mark_repaired(lx);
    vprev_push(lx, "\"", 1);
    rc = out_lit(j, "\\\"", 2, base + q);
    lx->vlen++;
  }
  *ip = q + 1;
  if (rc < 0)
    return LX_STOP;
  if (rc > 0)
    resync(lx);
  return LX_OK;
}

static int lex_control(struct fpm_json *j, unsigned char c, uint64_t off,
                       size_t *ip) {
  static const char hex[] = "0123456789abcdef";
  char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
  mark_repaired(&j->lx);
  j->lx.vlen++;
  vprev_push(&j->lx, (const char *)&c, 1);
  (*ip)++;
  int rc = out_lit(j, esc, sizeof esc, off);
  if (rc < 0)
    return LX_STOP;
  if (rc > 0)
    resync(&j->lx);
  return LX_OK;
}

static int runaway(struct fpm_json *j, uint64_t off) {
  struct fpm_repair *lx = &j->lx;
  int rc = flush(j); /* an earlier yajl error comes first */
  if (rc < 0)
    return LX_STOP;
  if (rc > 0) {
    resync(lx);
    return LX_OK;
  }
  if (lx->in_entry && lx->procs_open) {
    if (fpm_json_drop_entry(j) != 0)
      return LX_STOP;
    resync(lx);
    return LX_OK;
  }
  fpm_parser_fail(j->p, FPM_P_ESYNTAX, off, NULL, 0, 0,
                  "the \"%s\" string does not end where FPM's grammar says "
                  "it must (longer than %zu bytes)",
                  vkeys[lx->vkey].name, vkeys[lx->vkey].cap);
  return LX_STOP;
}

static int is_special_val(unsigned char c) {
  return c <= '\\' && (c < 0x20 || c == '"' || c == '\\');
}

static int lex_val(struct fpm_json *j, const char *d, size_t n, uint64_t base,
                   size_t *ip, int eof) {
  struct fpm_repair *lx = &j->lx;
  size_t i = *ip;
  size_t s = i;
  while (i < n && !is_special_val((unsigned char)d[i]))
    i++;
  lx->vlen += i - s;
  vprev_push(lx, d + s, i - s);
  if (lx->vlen > vkeys[lx->vkey].cap) {
    *ip = i;
    return runaway(j, base + i);
  }
  size_t run = i - s;
  int ends = 0;
  if (i < n && d[i] == '"') {
    ends = quote_ends(lx, d, n, i, eof);
    if (ends > 0)
      run++; /* the closing quote goes with the run */
  }
  if (run > 0) {
    int rc = out_span(j, d + s, run, base + s);
    if (rc != 0) {
      *ip = s + run;
      if (rc < 0)
        return LX_STOP;
      resync(lx);
      return LX_OK;
    }
  }
  *ip = i;
  if (ends > 0) {
    lx->state = L_OUT;
    lx->expect_key = 0;
    *ip = i + 1;
    return LX_OK;
  }
  if (i == n)
    return LX_OK;
  if (ends < 0)
    return LX_MORE;
  unsigned char c = (unsigned char)d[i];
  if (c == '"')
    return lex_quote(j, d, n, base, ip, eof);
  if (c == '\\')
    return lex_backslash(j, d, n, base, ip, eof);
  return lex_control(j, c, base + i, ip);
}
static int lex_skip(struct fpm_json *j, const char *d, size_t n, size_t *ip,
                    int eof) {
  static const char boundary[] = "},{\"pid\":";
  const size_t blen = sizeof boundary - 1;
  struct fpm_repair *lx = &j->lx;
  size_t i = *ip;
  while (i < n) {
    const char *b = memchr(d + i, '}', n - i);
    if (b == NULL) {
      *ip = n;
      return LX_OK;
    }
    size_t k = (size_t)(b - d);
    if (n - k < blen) {
      *ip = eof ? n : k;
      return eof ? LX_OK : LX_MORE;
    }
    if (memcmp(d + k, boundary, blen) == 0) {
      /* resume at the `,` of the next entry, inside the array */
      lx->state = L_OUT;
      lx->depth = 2;
      lx->arr_bits = (uint64_t)1 << 2;
      lx->expect_key = 0;
      *ip = k + 1;
      return LX_OK;
    }
    i = k + 1;
  }
  *ip = i;
  return LX_OK;
}

/* Lexes d[0..n) (at raw offset lx->pos); returns the bytes consumed. What
 * is left (fewer than the lookahead needs) must be offered again. */
static int lex_step(struct fpm_json *j, const char *d, size_t n, uint64_t base,
                    size_t *ip, int eof) {
  switch (j->lx.state) {
  case L_START:
    return lex_start(j, d, n, base, ip);
  case L_OUT:
    return lex_out(j, d, n, base, ip);
  case L_KEY:
    return lex_key(j, d, n, base, ip);
  case L_VAL:
    return lex_val(j, d, n, base, ip, eof);
  default:
    return lex_skip(j, d, n, ip, eof);
  }
}

/* After yajl failed inside an entry, skipping starts where it failed, not
 * where the pre-lexer got to: the outcome must not depend on how far ahead
 * the input was split. */
static void apply_rewind(struct fpm_repair *lx, uint64_t base, size_t n,
                         size_t *ip) {
  lx->rewind = 0;
  if (lx->rewind_off >= base && lx->rewind_off - base <= n &&
      lx->rewind_off - base < *ip)
    *ip = (size_t)(lx->rewind_off - base);
}

/* Lexes d[0..n) (at raw offset lx->pos); returns the bytes consumed. What
 * is left (fewer than the lookahead needs) must be offered again. */
static size_t lex(struct fpm_json *j, const char *d, size_t n, int eof) {
  struct fpm_repair *lx = &j->lx;
  uint64_t base = lx->pos;
  size_t i = 0;
  for (;;) {
    int r = LX_OK;
    while (i < n && r == LX_OK) {
      r = lex_step(j, d, n, base, &i, eof);
      if (lx->rewind)
        apply_rewind(lx, base, n, &i);
    }
    if (r == LX_STOP || r == LX_YIELD || j->p->code != FPM_P_OK)
      break;
    if (flush(j) <= 0) /* spans may point into the hold buffer */
      break;
    resync(lx); /* dropped: skip on from where yajl failed */
    apply_rewind(lx, base, n, &i);
  }
  if (j->p->code != FPM_P_OK)
    i = n;
  tail_push(lx, d, i);
  lx->pos += i;
  return i;
}

void fpm_repair_feed(struct fpm_json *j, const char *buf, size_t len) {
  struct fpm_repair *lx = &j->lx;
  while (lx->hold_len > 0 && len > 0 && j->p->code == FPM_P_OK) {
    size_t old = lx->hold_len;
    size_t take = len < FPM_REPAIR_HOLD - old ? len : FPM_REPAIR_HOLD - old;
    memcpy(lx->hold + old, buf, take);
    lx->hold_len += take;
    size_t used = lex(j, lx->hold, lx->hold_len, 0);
    if (lx->yield)
      return;
    if (used >= old) {
      /* the held bytes are done: go on from the caller's buffer */
      size_t fresh = used - old;
      buf += fresh;
      len -= fresh;
      lx->hold_len = 0;
      break;
    }
    memmove(lx->hold, lx->hold + used, lx->hold_len - used);
    lx->hold_len -= used;
    buf += take;
    len -= take;
  }
  if (len > 0 && j->p->code == FPM_P_OK) {
    size_t used = lex(j, buf, len, 0);
    if (lx->yield)
      return;
    size_t rest = len - used;
    if (rest > FPM_REPAIR_HOLD)
      rest = FPM_REPAIR_HOLD; /* cannot happen: lookahead < 32 bytes */
    memcpy(lx->hold, buf + used, rest);
    lx->hold_len = rest;
  }
}

int fpm_repair_finish(struct fpm_json *j) {
  struct fpm_repair *lx = &j->lx;
  fpm_parser *p = j->p;
  if (p->code == FPM_P_OK && lx->hold_len > 0) {
    size_t n = lx->hold_len;
    lex(j, lx->hold, n, 1);
    lx->hold_len = 0;
  }
  if (p->code != FPM_P_OK)
    return -1;
  if (lx->state == L_START) {
    fpm_parser_fail(p, lx->pos == 0 ? FPM_P_ETRUNCATED : FPM_P_ESCHEMA, lx->pos,
                    NULL, 0, 0,
                    lx->pos == 0 ? "empty body where PHP-FPM status JSON was "
                                   "expected"
                                 : "body holds only whitespace, no PHP-FPM "
                                   "status JSON");
    return -1;
  }
  if (lx->state == L_SKIP) {
    /* dropped the last entry: the array still ends the body */
    static const char end[] = "}]}";
    if (lx->tail_len >= 3 && memcmp(lx->tail + lx->tail_len - 3, end, 3) == 0) {
      lx->state = L_OUT;
      if (out_lit(j, "]}", 2, lx->pos) < 0)
        return -1;
    }
  }
  return 0;
}
