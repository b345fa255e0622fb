/*
 * fpm_repair.c: the repairing pre-lexer between the input chunks and yajl.
 *
 * FPM prints its JSON status on one line, keys in a fixed order, values of
 * known types; the only whitespace is `, "processes":[` (docs/status-page.md,
 * "Raw strings and newlines in the text format"). Older versions print request
 * method, uri, user, script and (all versions) the pool name raw, so a value
 * can hold `"`, `\` and control bytes (A.10). This small state machine tracks
 * keys and nesting and, inside a string value, decides from that grammar:
 *   - in a worker entry of "processes", a `"` ends the request method, uri,
 *     user or script only when the exact continuation FPM prints next
 *     follows (`,"request uri":` after the method, ...); otherwise it is
 *     content and goes to yajl as `\"`. `\"` followed by that continuation
 *     is a raw backslash that ended the value. Elsewhere (and for the other
 *     keys) strings are plain JSON strings.
 *   - a `\` not starting a valid JSON escape is content (sent as `\\`); in
 *     the pool name every `\` is content (FPM never escapes it, and the INI
 *     parser forbids `"` there, so its first quote ends it).
 *   - control bytes are sent as \u00XX. Bytes >= 0x80 pass unchanged (yajl
 *     runs with yajl_dont_validate_strings: invalid or cut UTF-8 is kept).
 *   - `},{` followed by the head FPM prints for every entry (`"pid":`, its
 *     keys in FPM's order up to the request method, digits and a state name
 *     where they go; entry_head) starts the next entry even inside a string:
 *     the value's end was missed. A forged `},{"pid":` followed by anything
 *     else is the string's content.
 * A decision needs at most 240 bytes of lookahead, held back across feeds. A
 * string longer than FPM can print for its key means the end was missed:
 * the worker entry is dropped and lexing resumes at the next entry head.
 * When yajl fails inside "processes" the entry is dropped at the end of the
 * unit that holds the failure (settle), never where the failing byte
 * happened to be fed, so the result does not depend on the split.
 * When fpm_json.c's fast path handed over after a yajl error, the first
 * entry end past that error hands back (lx->yield).
 */
#include "fpm_repair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L_START = 0, L_OUT, L_KEY, L_VAL, L_SKIP };
enum { LX_OK = 0, LX_MORE, LX_STOP, LX_YIELD };

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

static const struct kind_def {
  const char *name;
  const struct cont *conts; /* NULL: the first unescaped quote ends it */
} kinds[R__COUNT] = {
    [R_OTHER] = {"", NULL},
    [R_POOL] = {"pool", NULL},
    [R_PM] = {"process manager", NULL},
    [R_STATE] = {"state", NULL},
    [R_METHOD] = {"request method", conts_method},
    [R_URI] = {"request uri", conts_uri},
    [R_USER] = {"user", conts_user},
    [R_SCRIPT] = {"script", conts_script},
};

#define KEY_IS(k, lit) (memcmp((k), lit, sizeof lit - 1) == 0)
int fpm_repair_key_kind(const char *k, size_t len) {
  switch (len) {
  case 4:
    return KEY_IS(k, "pool") ? R_POOL : KEY_IS(k, "user") ? R_USER : R_OTHER;
  case 5:
    return KEY_IS(k, "state") ? R_STATE : R_OTHER;
  case 6:
    return KEY_IS(k, "script") ? R_SCRIPT : R_OTHER;
  case 11:
    return KEY_IS(k, "request uri") ? R_URI : R_OTHER;
  case 14:
    return KEY_IS(k, "request method") ? R_METHOD : R_OTHER;
  case 15:
    return KEY_IS(k, "process manager") ? R_PM : R_OTHER;
  default:
    return R_OTHER;
  }
}
#undef KEY_IS

int fpm_repair_kind_at(int kind, unsigned depth, int in_entry) {
  if (kind == R_POOL || kind == R_PM)
    return depth == 1 ? kind : R_OTHER;
  if (kind != R_OTHER && !(in_entry && depth == 3))
    return R_OTHER;
  return kind;
}

int fpm_repair_cont_is(int kind, const char *s, size_t n) {
  for (const struct cont *c = kinds[kind].conts; c != NULL && c->s != NULL; c++)
    if (n == c->len && memcmp(s, c->s, n) == 0)
      return 1;
  return 0;
}

void fpm_repair_init(struct fpm_repair *lx) {
  struct fpm_repair_out out = lx->out;
  memset(lx, 0, sizeof *lx);
  lx->out = out;
  lx->state = L_START;
}

void fpm_repair_free(struct fpm_repair *lx) {
  free(lx->out.obuf);
  lx->out.obuf = NULL;
  lx->out.ocap = 0;
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

static int flush(struct fpm_repair *lx) {
  if (lx->olen > 0) {
    size_t n = lx->olen;
    lx->olen = 0;
    return lx->out.feed(lx->out.ctx, lx->out.obuf, n, lx->ooff);
  }
  if (lx->span_len == 0)
    return 0;
  const char *s = lx->span;
  size_t n = lx->span_len;
  lx->span_len = 0;
  return lx->out.feed(lx->out.ctx, s, n, lx->span_off);
}

/* Appends to the gathered output (the first bytes stand at raw off). 0 or
 * -1 on out of memory (recorded). */
static int gather(struct fpm_repair *lx, const char *s, size_t n,
                  uint64_t off) {
  if (lx->out.ocap - lx->olen < n) {
    size_t cap = lx->out.ocap ? lx->out.ocap : 1024;
    while (cap - lx->olen < n && cap <= SIZE_MAX / 2)
      cap *= 2;
    char *b = cap - lx->olen < n ? NULL : realloc(lx->out.obuf, cap);
    if (b == NULL) {
      fpm_parser_fail(lx->out.p, FPM_P_ENOMEM, off, NULL, 0, 0,
                      "out of memory repairing the status JSON");
      return -1;
    }
    lx->out.obuf = b;
    lx->out.ocap = cap;
  }
  if (lx->olen == 0)
    lx->ooff = off;
  memcpy(lx->out.obuf + lx->olen, s, n);
  lx->olen += n;
  return 0;
}

/* Input bytes for yajl; contiguous ones are merged into one call, and
 * after a repair literal they are gathered with it. 0, or -1 on a fatal
 * error. */
static int out_span(struct fpm_repair *lx, const char *s, size_t n,
                    uint64_t off) {
  if (lx->olen > 0)
    return gather(lx, s, n, off);
  if (lx->span_len > 0 && lx->span + lx->span_len == s) {
    lx->span_len += n;
    return 0;
  }
  int rc = flush(lx);
  if (rc != 0)
    return rc;
  lx->span = s;
  lx->span_len = n;
  lx->span_off = off;
  return 0;
}

/* Repair bytes for yajl, standing for the raw byte at off: gathered with
 * the bytes around them, so that yajl sees a repaired string in one call
 * (it scans a token held across calls again on each call). */
static int out_lit(struct fpm_repair *lx, const char *s, size_t n,
                   uint64_t off) {
  if (lx->span_len > 0) {
    size_t m = lx->span_len;
    lx->span_len = 0;
    if (gather(lx, lx->span, m, lx->span_off) != 0)
      return -1;
  }
  return gather(lx, s, n, off);
}

/*
 * yajl failing inside "processes" is acted on only at the end of a unit
 * (a string value with the keys and other bytes before it, or a bracket;
 * bytes of two units never go to yajl in one call), at a recognised entry start
 * inside a string, at a runaway string and at the end of the body. Where yajl
 * reports the failing byte depends on the split (it counts from the start
 * of the call, or of a token it held across calls); the token holding it
 * does not. 1: the entry was dropped and yajl restarted after it; 0:
 * nothing pending; -1: fatal.
 */
static int settle(struct fpm_repair *lx) {
  if (flush(lx) < 0)
    return -1;
  if (!lx->out.failed(lx->out.ctx))
    return 0;
  return lx->out.drop_entry(lx->out.ctx) == 0 ? 1 : -1;
}

/* After an entry was dropped in the middle: skip to the next one. */
static void resync(struct fpm_repair *lx) {
  lx->state = L_SKIP;
  lx->in_entry = 0;
  lx->span_len = 0;
  lx->olen = 0;
}

/* A unit (see settle) ends here: a failure in it drops the entry and the
 * pre-lexer skips on from here. LX_OK or LX_STOP. */
static int token_end(struct fpm_repair *lx) {
  int s = settle(lx);
  if (s < 0)
    return LX_STOP;
  if (s > 0)
    resync(lx);
  return LX_OK;
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

/* ------------------------------------------------------ entry heads */

enum { H_DIGITS, H_STATE, H_END };

/* Matches the head FPM prints for every worker entry, from the quote of
 * "pid" to the quote that opens the request method: its fixed keys in
 * FPM's order, 1 to 20 digits where a number goes, a state name (1 to 40
 * bytes, no quote, backslash or control byte). 1: it is one; 0: it is not;
 * -1: more input is needed to tell (at most 237 bytes from at). */
static int entry_head(const char *d, size_t n, size_t at, int eof) {
  static const struct {
    const char *lit;
    size_t len;
    int then;
  } seq[] = {
#define H(s, t) {s, sizeof s - 1, t}
      H("\"pid\":", H_DIGITS),
      H(",\"state\":\"", H_STATE),
      H("\",\"start time\":", H_DIGITS),
      H(",\"start since\":", H_DIGITS),
      H(",\"requests\":", H_DIGITS),
      H(",\"request duration\":", H_DIGITS),
      H(",\"request method\":\"", H_END),
#undef H
  };
  size_t i = at;
  for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++) {
    size_t m = n - i < seq[k].len ? n - i : seq[k].len;
    if (memcmp(d + i, seq[k].lit, m) != 0)
      return 0;
    if (m < seq[k].len)
      return eof ? 0 : -1;
    i += m;
    if (seq[k].then == H_END)
      return 1;
    size_t cnt = 0, max = seq[k].then == H_DIGITS ? 20 : 40;
    for (; i < n && cnt <= max; i++, cnt++) {
      unsigned char c = (unsigned char)d[i];
      int ok = seq[k].then == H_DIGITS ? (c >= '0' && c <= '9')
                                       : (c >= 0x20 && c != '"' && c != '\\');
      if (!ok)
        break;
    }
    if (cnt > max || (i < n && cnt == 0))
      return 0;
    if (i == n)
      return eof ? 0 : -1;
  }
  return 0;
}

/* ------------------------------------------------------------ states */

static int lex_start(struct fpm_repair *lx, const char *d, size_t n,
                     uint64_t base, size_t *ip) {
  size_t i = *ip;
  while (i < n && fpm_repair_is_space(d[i]))
    i++;
  *ip = i;
  if (i == n)
    return LX_MORE;
  if (d[i] == '{') {
    lx->state = L_OUT;
    return LX_OK;
  }
  unsigned char c = (unsigned char)d[i];
  char what[16];
  if (c >= 0x20 && c < 0x7f)
    snprintf(what, sizeof what, "'%c'", c);
  else
    snprintf(what, sizeof what, "byte 0x%02x", c);
  fpm_parser_fail(lx->out.p, FPM_P_ESCHEMA, base + i, d, n, i,
                  "not a PHP-FPM JSON status page: the body starts with "
                  "%s where a JSON object '{' was expected (an error page "
                  "such as \"File not found.\" or HTML?)",
                  what);
  return LX_STOP;
}

static int push(struct fpm_repair *lx, int is_array, uint64_t off) {
  if (lx->depth >= 60) {
    fpm_parser_fail(lx->out.p, FPM_P_ESYNTAX, off, NULL, 0, 0,
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

/* The `}` that closes a worker entry was fed (or, the entry dropped, stood
 * for by yajl's restart): hand back to the fast path when past the
 * breakage. */
static int entry_closed(struct fpm_repair *lx, uint64_t off) {
  lx->in_entry = 0;
  if (lx->out.may_yield(lx->out.ctx, off)) {
    lx->yield = 1;
    return LX_YIELD;
  }
  return LX_OK;
}

/* A bracket outside strings, at d[*ip]: a unit boundary. */
static int lex_struct(struct fpm_repair *lx, const char *d, size_t *ip,
                      uint64_t off) {
  size_t i = *ip;
  char c = d[i];
  int entry_end = c == '}' && lx->in_entry && lx->depth == 3;
  int s = settle(lx);
  if (s < 0)
    return LX_STOP;
  if (s > 0 && !entry_end) {
    resync(lx); /* skip on from this bracket */
    return LX_OK;
  }
  *ip = i + 1;
  if (s > 0) { /* the broken entry's own end */
    lx->depth--;
    lx->expect_key = 0;
    return entry_closed(lx, off);
  }
  switch (c) {
  case '{':
    if (lx->procs_open && lx->depth == 2 && !lx->in_entry) {
      lx->in_entry = 1;
      lx->entry_repaired = 0;
    }
    if (push(lx, 0, off) != 0)
      return LX_STOP;
    lx->expect_key = 1;
    break;
  case '[':
    if (push(lx, 1, off) != 0)
      return LX_STOP;
    if (lx->depth == 2 && lx->key_len == 9 &&
        memcmp(lx->key, "processes", 9) == 0)
      lx->procs_open = 1;
    lx->expect_key = 0;
    break;
  default: /* '}' or ']' */
    if (c == ']' && lx->depth == 2)
      lx->procs_open = 0;
    if (lx->depth > 0)
      lx->depth--;
    lx->expect_key = 0;
    break;
  }
  if (out_span(lx, d + i, 1, off) != 0)
    return LX_STOP;
  s = settle(lx); /* the bracket is a token of its own */
  if (s < 0)
    return LX_STOP;
  if (entry_end)
    return entry_closed(lx, off); /* dropped or not, the entry is over */
  if (s > 0)
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
  int kind = lx->key_len <= sizeof lx->key
                 ? fpm_repair_key_kind(lx->key, lx->key_len)
                 : R_OTHER;
  lx->vkey = fpm_repair_kind_at(kind, lx->depth, lx->in_entry);
  lx->vlen = 0;
  memset(lx->vprev, 0, sizeof lx->vprev);
}

/* Outside strings: numbers, `:` and `,` pass in one run up to the next
 * string (its quote included) or bracket. */
static int lex_out(struct fpm_repair *lx, const char *d, size_t n,
                   uint64_t base, size_t *ip) {
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
  *ip = i;
  if (i > s && out_span(lx, d + s, i - s, base + s) != 0)
    return LX_STOP;
  if (bracket)
    return lex_struct(lx, d, ip, base + i);
  if (i == n)
    return LX_OK; /* the run may go on in the next chunk */
  /* a quote: the run goes with the string it opens */
  string_start(lx);
  *ip = i + 1;
  return out_span(lx, d + i, 1, base + i) != 0 ? LX_STOP : LX_OK;
}

/* A key: up to its first unescaped quote, passed as it is (FPM's keys
 * never hold escapes; yajl decodes what it gets). */
static int lex_key(struct fpm_repair *lx, const char *d, size_t n,
                   uint64_t base, size_t *ip, int eof) {
  size_t i = *ip;
  size_t s = i;
  int more = 0;
  while (i < n && d[i] != '"') {
    if (d[i] != '\\') {
      i++;
      continue;
    }
    if (i + 1 == n) {
      more = !eof;
      i += eof;
      break;
    }
    i += 2; /* the escaped byte cannot end the key */
  }
  size_t m = i - s;
  if (lx->key_len + m <= sizeof lx->key) {
    memcpy(lx->key + lx->key_len, d + s, m);
    lx->key_len += m;
  } else {
    lx->key_len = sizeof lx->key + 1; /* too long for any key we know */
  }
  if (i < n && !more) {
    lx->state = L_OUT; /* the key is looked at when a string value or an
                          array follows it */
    i++;               /* the closing quote */
  }
  *ip = i;
  if (i > s && out_span(lx, d + s, i - s, base + s) != 0)
    return LX_STOP;
  return more ? LX_MORE : LX_OK;
}

/* 1: the quote at d[q] ends the value; 0: it is content; -1: need more. */
static int quote_ends(const struct fpm_repair *lx, const char *d, size_t n,
                      size_t q, int eof) {
  const struct cont *c = kinds[lx->vkey].conts;
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

static int lex_backslash(struct fpm_repair *lx, const char *d, size_t n,
                         uint64_t base, size_t *ip, int eof) {
  size_t b = *ip;
  if (lx->vkey != R_POOL) {
    int el = escape_len(d, n, b, eof);
    if (el < 0)
      return LX_MORE;
    if (el == 2 && d[b + 1] == '"' && kinds[lx->vkey].conts != NULL) {
      /* `\"`: an escaped quote, or a raw backslash ending the value */
      int e = quote_ends(lx, d, n, b + 1, eof);
      if (e < 0)
        return LX_MORE;
      if (e > 0)
        el = 0;
    }
    if (el > 0) {
      vprev_push(lx, d + b, (size_t)el);
      *ip = b + (size_t)el;
      lx->vlen += (size_t)el;
      return out_span(lx, d + b, (size_t)el, base + b) < 0 ? LX_STOP : LX_OK;
    }
    mark_repaired(lx);
  }
  vprev_push(lx, "\\", 1);
  *ip = b + 1;
  lx->vlen++;
  return out_lit(lx, "\\\\", 2, base + b) < 0 ? LX_STOP : LX_OK;
}

/* A worker entry's head (`},{"pid":` and the rest of entry_head) inside a
 * string: the value's end was missed and the next entry starts here. A
 * forged `},{"pid":` followed by anything but FPM's key sequence is the
 * string's content. Drop
 * the broken entry (once, also when yajl already failed in it) and restart
 * at this boundary, so the next entry survives. The quote at *ip is the
 * one of "pid". */
static int restart_at_boundary(struct fpm_repair *lx, uint64_t off) {
  if (flush(lx) < 0 || lx->out.drop_entry(lx->out.ctx) != 0)
    return LX_STOP;
  if (out_lit(lx, ",{", 2, off) < 0)
    return LX_STOP;
  lx->state = L_OUT;
  lx->depth = 3;
  lx->arr_bits = (uint64_t)1 << 2;
  lx->in_entry = 1;
  lx->entry_repaired = 0;
  lx->expect_key = 1;
  return LX_OK;
}

static int lex_quote(struct fpm_repair *lx, const char *d, size_t n,
                     uint64_t base, size_t *ip, int eof) {
  size_t q = *ip;
  int e = quote_ends(lx, d, n, q, eof);
  if (e < 0)
    return LX_MORE;
  int rc;
  if (e > 0) {
    *ip = q + 1;
    lx->state = L_OUT;
    lx->expect_key = 0;
    if (out_span(lx, d + q, 1, base + q) != 0)
      return LX_STOP;
    return token_end(lx);
  } else {
    mark_repaired(lx);
    vprev_push(lx, "\"", 1);
    rc = out_lit(lx, "\\\"", 2, base + q);
    lx->vlen++;
  }
  *ip = q + 1;
  return rc < 0 ? LX_STOP : LX_OK;
}

static int lex_control(struct fpm_repair *lx, unsigned char c, uint64_t off,
                       size_t *ip) {
  static const char hex[] = "0123456789abcdef";
  char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
  mark_repaired(lx);
  lx->vlen++;
  vprev_push(lx, (const char *)&c, 1);
  (*ip)++;
  return out_lit(lx, esc, sizeof esc, off) < 0 ? LX_STOP : LX_OK;
}

/* The string at off is longer than its cap: its end was missed. */
static int runaway(struct fpm_repair *lx, uint64_t off) {
  if (flush(lx) < 0)
    return LX_STOP;
  if ((lx->in_entry && lx->procs_open) || lx->out.failed(lx->out.ctx)) {
    if (lx->out.drop_entry(lx->out.ctx) != 0)
      return LX_STOP;
    resync(lx);
    return LX_OK;
  }
  int named = lx->vkey > R_OTHER && lx->vkey < R__COUNT;
  fpm_parser_fail(lx->out.p, FPM_P_ESYNTAX, off, NULL, 0, 0,
                  "the %s%s%sstring does not end where FPM's grammar says "
                  "it must (longer than %zu bytes)",
                  named ? "\"" : "", named ? kinds[lx->vkey].name : "",
                  named ? "\" " : "", fpm_repair_kind_cap(lx->vkey));
  return LX_STOP;
}

static int is_special_val(unsigned char c) {
  return c <= '\\' && (c < 0x20 || c == '"' || c == '\\');
}

static int lex_val(struct fpm_repair *lx, const char *d, size_t n,
                   uint64_t base, size_t *ip, int eof) {
  size_t i = *ip;
  size_t s = i;
  size_t cap = fpm_repair_kind_cap(lx->vkey);
  if (lx->vlen > cap) /* an escape took it over */
    return runaway(lx, base + i);
  /* the run stops at the cap's first byte over, wherever the input was
   * split, so that a runaway string is cut at the same byte */
  size_t lim = cap + 1 - lx->vlen;
  size_t stop = n - i > lim ? i + lim : n;
  while (i < stop && !is_special_val((unsigned char)d[i]))
    i++;
  lx->vlen += i - s;
  vprev_push(lx, d + s, i - s);
  if (lx->vlen > cap) {
    *ip = i;
    return runaway(lx, base + i);
  }
  size_t run = i - s;
  int ends = 0;
  if (i < n && d[i] == '"' && lx->in_entry &&
      memcmp(lx->vprev, "},{", 3) == 0) {
    /* `},{` + FPM's entry head: in valid JSON no string ends before
     * `pid":`, so whatever the quote would be, the value's end was missed
     * (or a stray quote opened it) and the next entry starts here */
    int h = entry_head(d, n, i, eof);
    if (h != 0) {
      *ip = i;
      if (run > 0 && out_span(lx, d + s, run, base + s) != 0)
        return LX_STOP;
      return h < 0 ? LX_MORE : restart_at_boundary(lx, base + i);
    }
  }
  if (i < n && d[i] == '"') {
    ends = quote_ends(lx, d, n, i, eof);
    if (ends > 0)
      run++; /* the closing quote goes with the run */
  }
  if (run > 0 && out_span(lx, d + s, run, base + s) != 0) {
    *ip = s + run;
    return LX_STOP;
  }
  *ip = i;
  if (ends > 0) {
    lx->state = L_OUT;
    lx->expect_key = 0;
    *ip = i + 1;
    return token_end(lx);
  }
  if (i == n)
    return LX_OK;
  if (ends < 0)
    return LX_MORE;
  unsigned char c = (unsigned char)d[i];
  if (c == '"')
    return lex_quote(lx, d, n, base, ip, eof);
  if (c == '\\')
    return lex_backslash(lx, d, n, base, ip, eof);
  return lex_control(lx, c, base + i, ip);
}

/* After a dropped entry: skip to the next `},{` that starts a worker entry
 * as FPM prints it, and resume at its `,`. */
static int lex_skip(struct fpm_repair *lx, const char *d, size_t n, size_t *ip,
                    int eof) {
  size_t i = *ip;
  while (i < n) {
    const char *b = memchr(d + i, '}', n - i);
    if (b == NULL) {
      *ip = n;
      return LX_OK;
    }
    size_t k = (size_t)(b - d);
    int h = 0;
    if (n - k < 3)
      h = eof ? 0 : -1;
    else if (memcmp(d + k, "},{", 3) == 0)
      h = entry_head(d, n, k + 3, eof);
    if (h < 0) {
      *ip = k;
      return LX_MORE;
    }
    if (h > 0) {
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

/* One step in the current state from d[*ip]. */
static int lex_step(struct fpm_repair *lx, const char *d, size_t n,
                    uint64_t base, size_t *ip, int eof) {
  switch (lx->state) {
  case L_START:
    return lex_start(lx, d, n, base, ip);
  case L_OUT:
    return lex_out(lx, d, n, base, ip);
  case L_KEY:
    return lex_key(lx, d, n, base, ip, eof);
  case L_VAL:
    return lex_val(lx, d, n, base, ip, eof);
  default:
    return lex_skip(lx, d, n, ip, eof);
  }
}

/* Lexes d[0..n) (at raw offset lx->pos); returns the bytes consumed. What
 * is left (fewer than the lookahead needs) must be offered again. */
static size_t lex(struct fpm_repair *lx, const char *d, size_t n, int eof) {
  uint64_t base = lx->pos;
  size_t i = 0;
  int r = LX_OK;
  while (i < n && r == LX_OK)
    r = lex_step(lx, d, n, base, &i, eof);
  if (lx->out.p->code == FPM_P_OK)
    flush(lx); /* spans may point into the hold buffer */
  if (lx->out.p->code != FPM_P_OK)
    i = n;
  tail_push(lx, d, i);
  lx->pos += i;
  return i;
}

void fpm_repair_feed(struct fpm_repair *lx, const char *buf, size_t len) {
  if (lx->hold_len + len < FPM_REPAIR_BATCH) {
    /* small feeds gather first: yajl scans a token it holds across calls
     * again on each call (a long string a byte at a time: length squared) */
    memcpy(lx->hold + lx->hold_len, buf, len);
    lx->hold_len += len;
    return;
  }
  while (lx->hold_len > 0 && len > 0 && lx->out.p->code == FPM_P_OK) {
    size_t old = lx->hold_len;
    size_t take = len < FPM_REPAIR_HOLD - old ? len : FPM_REPAIR_HOLD - old;
    memcpy(lx->hold + old, buf, take);
    lx->hold_len += take;
    size_t used = lex(lx, lx->hold, lx->hold_len, 0);
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
  if (len > 0 && lx->out.p->code == FPM_P_OK) {
    size_t used = lex(lx, buf, len, 0);
    if (lx->yield)
      return;
    size_t rest = len - used;
    if (rest > FPM_REPAIR_HOLD)
      rest = FPM_REPAIR_HOLD; /* cannot happen: lookahead < 256 bytes */
    memcpy(lx->hold, buf + used, rest);
    lx->hold_len = rest;
  }
}

int fpm_repair_finish(struct fpm_repair *lx) {
  fpm_parser *p = lx->out.p;
  if (p->code == FPM_P_OK && lx->hold_len > 0) {
    size_t n = lx->hold_len;
    lex(lx, lx->hold, n, 1);
    lx->hold_len = 0;
  }
  if (p->code != FPM_P_OK)
    return -1;
  int s = settle(lx); /* the end is a unit boundary too */
  if (s < 0)
    return -1;
  if (s > 0)
    resync(lx);
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
      if (out_lit(lx, "]}", 2, lx->pos) < 0 || settle(lx) < 0)
        return -1;
    }
  }
  return 0;
}
