/*
 * fpm_outbuf.c: the toolbox every format renderer builds on: the output
 * buffer, the per-format escaping rules, numbers, and the sample list of a
 * target. The dispatch over formats is fpm_output.c.
 */
#include "fpm_output.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- buffer */

void fpm_buf_init(struct fpm_buf *b) {
  memset(b, 0, sizeof *b);
}

void fpm_buf_free(struct fpm_buf *b) {
  free(b->data);
  fpm_buf_init(b);
}

void fpm_buf_reset(struct fpm_buf *b) {
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = '\0';
}

int fpm_buf_reserve(struct fpm_buf *b, size_t more) {
  if (b->oom)
    return -1;
  if (b->len + more + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return -1;
    }
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (p == NULL) {
    b->oom = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void fpm_buf_add(struct fpm_buf *b, const char *s, size_t n) {
  /* the common case, room left, without the call: yajl_gen prints token by
   * token, hundreds of times per document */
  if (b->oom || (b->len + n + 1 > b->cap && fpm_buf_reserve(b, n) != 0))
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void fpm_buf_puts(struct fpm_buf *b, const char *s) {
  fpm_buf_add(b, s, strlen(s));
}

void fpm_buf_putc(struct fpm_buf *b, char c) {
  fpm_buf_add(b, &c, 1);
}

void fpm_buf_printf(struct fpm_buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    fpm_buf_add(b, small, (size_t)n);
    return;
  }
  if (fpm_buf_reserve(b, (size_t)n) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* ----------------------------------------------------------- escaping */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0fu;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3fu);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

void fpm_out_utf8(struct fpm_buf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    size_t k = utf8_len(u + i, n - i);
    if (k == 0) {
      fpm_buf_add(b, "\xef\xbf\xbd", 3);
      i++;
    } else {
      fpm_buf_add(b, s + i, k);
      i += k;
    }
  }
}

/* How yajl_gen escapes a byte below 0x80 inside a string (yajl_encode.c,
 * solidus not escaped): 0 copies it, 'u' means \u00XX with upper-case hex,
 * anything else is the letter after the backslash. DEL (0x7f) is copied. */
static const char json_esc[128] = {
    ['\0'] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u',  [0x04] = 'u',
    [0x05] = 'u', [0x06] = 'u', [0x07] = 'u', ['\b'] = 'b',  ['\t'] = 't',
    ['\n'] = 'n', [0x0b] = 'u', ['\f'] = 'f', ['\r'] = 'r',  [0x0e] = 'u',
    [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u', [0x12] = 'u',  [0x13] = 'u',
    [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u',  [0x18] = 'u',
    [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u',  [0x1d] = 'u',
    [0x1e] = 'u', [0x1f] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

/* Nonzero when one of the 8 bytes of w needs more than a copy: below 0x20,
 * '"', '\\' or 0x80 and above (exact for "any", the classic haszero and
 * hasless(w, 0x20) tests). */
static uint64_t json_word_special(uint64_t w) {
  const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
  uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
  return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) |
          w) &
         high;
}

char *fpm_out_json_body(char *p, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s, *end = u + n;
  while (u < end) {
    uint64_t w;
    /* eight plain bytes at a time, the usual case */
    if (end - u >= 8 && (memcpy(&w, u, 8), json_word_special(w) == 0)) {
      memcpy(p, &w, 8);
      p += 8;
      u += 8;
      continue;
    }
    unsigned char c = *u;
    if (c < 0x80) {
      char e = json_esc[c];
      u++;
      if (e == 0) {
        *p++ = (char)c;
        continue;
      }
      *p++ = '\\';
      *p++ = e;
      if (e == 'u') {
        *p++ = '0';
        *p++ = '0';
        *p++ = "0123456789ABCDEF"[c >> 4];
        *p++ = "0123456789ABCDEF"[c & 15];
      }
      continue;
    }
    size_t k = utf8_len(u, (size_t)(end - u));
    if (k == 0) { /* as fpm_out_utf8: each invalid byte becomes U+FFFD */
      memcpy(p, "\xef\xbf\xbd", 3);
      p += 3;
      u++;
    } else {
      memcpy(p, u, k);
      p += k;
      u += k;
    }
  }
  return p;
}

void fpm_out_json_str(struct fpm_buf *b, const char *s, size_t n) {
  /* worst case 6 bytes out per byte in (\u00XX), plus the quotes */
  if (n > (SIZE_MAX - 3) / 6)
    b->oom = 1; /* cannot be sized: fail like out of memory */
  if (b->oom || fpm_buf_reserve(b, 6 * n + 2) != 0)
    return;
  char *p = b->data + b->len;
  *p++ = '"';
  p = fpm_out_json_body(p, s, n);
  *p++ = '"';
  *p = '\0';
  b->len = (size_t)(p - b->data);
}

/* Walk s as UTF-8: calls fn for each ASCII byte and for each byte of an
 * invalid sequence (those are >= 0x80), copies valid multi-byte sequences as
 * they are. */
typedef void (*byte_fn)(struct fpm_buf *b, unsigned char c);

static void walk(struct fpm_buf *b, const char *s, size_t max, byte_fn fn) {
  const unsigned char *u = (const unsigned char *)s;
  size_t n = strlen(s);
  if (n > max)
    n = max;
  size_t i = 0;
  while (i < n) {
    size_t k = utf8_len(u + i, n - i);
    if (k == 1) {
      fn(b, u[i]);
      i++;
    } else if (k == 0) {
      fn(b, u[i]);
      i++;
    } else {
      fpm_buf_add(b, s + i, k);
      i += k;
    }
  }
}

static void cd_byte(struct fpm_buf *b, unsigned char c) {
  if (c < 0x20 || c == 0x7f || c >= 0x80 || c == '/' || c == '"' || c == '\\')
    c = '_';
  fpm_buf_putc(b, (char)c);
}

void fpm_out_cd_part(struct fpm_buf *b, const char *s, size_t max) {
  if (s == NULL || s[0] == '\0') {
    fpm_buf_putc(b, '_');
    return;
  }
  /* never cut a UTF-8 sequence: back off to a boundary */
  size_t n = strlen(s);
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
      n--;
  }
  walk(b, s, n, cd_byte);
}

static void graphite_byte(struct fpm_buf *b, unsigned char c) {
  /* gr_copy_escape_part: '.', isspace, iscntrl; then escape_graphite_string
   * over GRAPHITE_FORBIDDEN " \t\"\\:!,/()\n\r" */
  if (c <= 0x20 || c == 0x7f || c >= 0x80 || strchr(".\"\\:!,/()", c) != NULL)
    c = '_';
  fpm_buf_putc(b, (char)c);
}

void fpm_out_graphite_part(struct fpm_buf *b, const char *s) {
  walk(b, s, strlen(s), graphite_byte);
}

void fpm_out_putval_id(struct fpm_buf *b, const char *host, const char *plugin,
                       const char *instance, const char *type,
                       const char *type_instance, double interval_s) {
  fpm_buf_puts(b, "PUTVAL \"");
  fpm_out_cd_part(b, host, 63);
  fpm_buf_printf(b, "/%s-", plugin);
  fpm_out_cd_part(b, instance, 63);
  fpm_buf_printf(b, "/%s", type);
  if (type_instance != NULL && type_instance[0] != '\0') {
    fpm_buf_putc(b, '-');
    fpm_out_cd_part(b, type_instance, 63);
  }
  fpm_buf_putc(b, '"');
  if (interval_s > 0)
    fpm_buf_printf(b, " interval=%g", interval_s);
  fpm_buf_puts(b, " N:");
}

void fpm_out_graphite_id(struct fpm_buf *b, const char *prefix,
                         const char *host, const char *plugin,
                         const char *instance, const char *type,
                         const char *type_instance) {
  for (const char *p = prefix; p != NULL && *p != '\0'; p++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c >= 0x7f || strchr("\"\\:!,/()", c) != NULL)
      c = '_';
    fpm_buf_putc(b, (char)c);
  }
  fpm_out_graphite_part(b, host);
  fpm_buf_printf(b, ".%s-", plugin);
  fpm_out_graphite_part(b, instance != NULL && instance[0] ? instance : "_");
  fpm_buf_putc(b, '.');
  fpm_out_graphite_part(b, type);
  if (type_instance != NULL && type_instance[0] != '\0') {
    fpm_buf_putc(b, '-');
    fpm_out_graphite_part(b, type_instance);
  }
  fpm_buf_putc(b, ' ');
}

static void influx_tag_byte(struct fpm_buf *b, unsigned char c) {
  switch (c) {
  case ',':
  case '=':
  case ' ':
    fpm_buf_putc(b, '\\');
    fpm_buf_putc(b, (char)c);
    return;
  case '\n':
    fpm_buf_puts(b, "\\n");
    return;
  case '\r':
    fpm_buf_puts(b, "\\r");
    return;
  case '\t':
    fpm_buf_puts(b, "\\t");
    return;
  default:
    break;
  }
  if (c >= 0x80) {
    fpm_buf_add(b, "\xef\xbf\xbd", 3);
    return;
  }
  if (c < 0x20 || c == 0x7f)
    c = '?';
  fpm_buf_putc(b, (char)c);
}

/* InfluxDB 1.x takes a separator as escaped when the byte before it is a
 * backslash (models/points.go scanTagsValue: buf[i-1] != '\\'), and undoes
 * only \, \= and \space. A backslash inside a value needs nothing, and one
 * before an escaped separator still works ("\\," reads back as "\,"), but
 * a backslash at the very end would swallow the separator after it: trailing
 * backslashes are left out. */
static size_t trim_backslashes(const char *s) {
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == '\\')
    n--;
  return n;
}

void fpm_out_influx_tag(struct fpm_buf *b, const char *s) {
  walk(b, s, trim_backslashes(s), influx_tag_byte);
}

static void influx_str_byte(struct fpm_buf *b, unsigned char c) {
  if (c == '"' || c == '\\') {
    fpm_buf_putc(b, '\\');
    fpm_buf_putc(b, (char)c);
  } else if (c == '\n') {
    fpm_buf_puts(b, "\\n");
  } else if (c >= 0x80) {
    fpm_buf_add(b, "\xef\xbf\xbd", 3);
  } else if (c < 0x20 || c == 0x7f) {
    fpm_buf_putc(b, ' ');
  } else {
    fpm_buf_putc(b, (char)c);
  }
}

void fpm_out_influx_str(struct fpm_buf *b, const char *s) {
  fpm_buf_putc(b, '"');
  walk(b, s, trim_backslashes(s), influx_str_byte);
  fpm_buf_putc(b, '"');
}

static void prom_byte(struct fpm_buf *b, unsigned char c) {
  if (c == '\\')
    fpm_buf_puts(b, "\\\\");
  else if (c == '"')
    fpm_buf_puts(b, "\\\"");
  else if (c == '\n')
    fpm_buf_puts(b, "\\n");
  else if (c >= 0x80)
    fpm_buf_add(b, "\xef\xbf\xbd", 3);
  else if (c < 0x20 || c == 0x7f)
    fpm_buf_putc(b, ' ');
  else
    fpm_buf_putc(b, (char)c);
}

void fpm_out_prom_label(struct fpm_buf *b, const char *s) {
  walk(b, s, strlen(s), prom_byte);
}

static void text_byte(struct fpm_buf *b, unsigned char c) {
  if (c == '\n')
    fpm_buf_puts(b, "\\n");
  else if (c == '\t')
    fpm_buf_puts(b, "\\t");
  else if (c < 0x20 || c >= 0x7f)
    fpm_buf_printf(b, "\\x%02x", c);
  else
    fpm_buf_putc(b, (char)c);
}

void fpm_out_text_str(struct fpm_buf *b, const char *s, size_t max) {
  walk(b, s, max, text_byte);
}

/* ------------------------------------------------------------ numbers */

/* Most values are integers (counts, bytes, epochs): their digits are
 * written here, as printf would, because printf's general path costs about
 * a thousand instructions a number, several times the cost of a scrape's
 * numbers put together. Other values go through printf's %.15g. */

/* The digits of v, written backwards ending just before end; returns where
 * they start. */
static char *digits_before(char *end, uint64_t v) {
  do {
    *--end = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return end;
}

char *fpm_out_u64_at(char *p, uint64_t v) {
  char tmp[20];
  char *start = digits_before(tmp + sizeof tmp, v);
  size_t n = (size_t)(tmp + sizeof tmp - start);
  memcpy(p, start, n);
  return p + n;
}

size_t fpm_out_u64(char *buf, size_t cap, uint64_t v) {
  if (cap < 21) {
    if (cap > 0)
      buf[0] = '\0';
    return 0;
  }
  char *end = fpm_out_u64_at(buf, v);
  *end = '\0';
  return (size_t)(end - buf);
}

size_t fpm_out_i64(char *buf, size_t cap, int64_t v) {
  if (v >= 0)
    return fpm_out_u64(buf, cap, (uint64_t)v);
  if (cap < 22) {
    if (cap > 0)
      buf[0] = '\0';
    return 0;
  }
  buf[0] = '-';
  /* 0 - (uint64_t)v: the magnitude, INT64_MIN included */
  return 1 + fpm_out_u64(buf + 1, cap - 1, 0 - (uint64_t)v);
}

size_t fpm_out_num(char *buf, size_t cap, double v) {
  if (fabs(v) < 9007199254740992.0 && v == trunc(v)) /* integral, < 2^53 */
    return fpm_out_i64(buf, cap, (int64_t)v);
  int n = snprintf(buf, cap, "%.15g", v);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ------------------------------------------------------------ samples */

size_t fpm_output_samples(const struct fpm_output_opts *o,
                          const struct fpm_metrics *m,
                          struct fpm_sample **out) {
  enum fpm_worker_detail d = o->full ? FPM_WORKERS_SLOTS : FPM_WORKERS_SUMMARY;
  size_t slots = o->max_slots ? o->max_slots : 4096;
  size_t n = fpm_metrics_samples(m, d, slots, NULL, 0);
  /* fpm_metrics_samples sets every field of the n samples: no zeroing */
  *out = malloc((n ? n : 1) * sizeof **out);
  if (*out == NULL)
    return (size_t)-1;
  size_t got = fpm_metrics_samples(m, d, slots, *out, n);
  return got < n ? got : n;
}

long fpm_output_self_index(const struct fpm_output_item *it) {
  if (it->m == NULL || !it->m->self_found)
    return -1;
  return it->m->self_index;
}
