/*
 * fcgi_cgi.c: splits a CGI response (FastCGI STDOUT) into the header block
 * and the body, and reads headers from the block. Pure: no I/O.
 */
#include "fcgi_cgi.h"

#include <string.h>

/* States: IN_LINE, AT_LINE_START (just after "\n"), AFTER_CR (line start then
 * "\r"). A "\n" at AT_LINE_START or AFTER_CR ends the block. */
enum { IN_LINE = 0, AT_LINE_START, AFTER_CR };

void fcgi_cgi_init(struct fcgi_cgi *c, size_t max) {
  c->max = max ? max : 16384;
  c->seen = 0;
  c->state = AT_LINE_START;
  c->done = 0;
}

int fcgi_cgi_feed(struct fcgi_cgi *c, const char *buf, size_t len,
                  size_t *hdr_bytes) {
  *hdr_bytes = 0;
  if (c->done)
    return 1;
  /* Only the bytes that keep the block within max are looked at; inside a
   * line nothing but its "\n" matters, so memchr skips to it. */
  size_t room = c->max > c->seen ? c->max - c->seen : 0;
  size_t lim = len < room ? len : room, i = 0;
  while (i < lim) {
    if (c->state == IN_LINE) {
      const char *nl = memchr(buf + i, '\n', lim - i);
      if (!nl) {
        i = lim;
        break;
      }
      i = (size_t)(nl - buf) + 1;
      c->state = AT_LINE_START;
      continue;
    }
    char ch = buf[i++];
    if (ch == '\n') { /* at a line start, or after its "\r": the end */
      c->done = 1;
      c->seen += i;
      *hdr_bytes = i;
      return 1;
    }
    c->state = ch == '\r' && c->state == AT_LINE_START ? AFTER_CR : IN_LINE;
  }
  if (i < len)
    return -1; /* the next byte would pass max */
  c->seen += len;
  *hdr_bytes = len;
  return 0;
}

size_t fcgi_cgi_trim(const char *block, size_t len) {
  for (int k = 0; k < 2 && len > 0; k++) {
    if (block[len - 1] == '\n')
      len--;
    if (len > 0 && block[len - 1] == '\r')
      len--;
  }
  return len;
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p;
}

/* strncasecmp(a, b, n) == 0 over ASCII (header names are ASCII; no locale,
 * no library call). */
static int ascii_caseeq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z')
      x = (unsigned char)(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z')
      y = (unsigned char)(y - 'A' + 'a');
    if (x != y)
      return 0;
    if (x == '\0')
      return 1;
  }
  return 1;
}

const char *fcgi_cgi_header(const char *block, size_t len, const char *name,
                            size_t *value_len) {
  size_t nlen = strlen(name);
  const char *p = block, *end = block + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = eol ? eol : end;
    const char *colon = memchr(p, ':', (size_t)(line_end - p));
    if (colon && (size_t)(colon - p) == nlen && ascii_caseeq(p, name, nlen)) {
      const char *v = skip_ws(colon + 1, line_end), *ve = line_end;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      if (value_len)
        *value_len = (size_t)(ve - v);
      return v;
    }
    p = eol ? eol + 1 : end;
  }
  return NULL;
}

int fcgi_cgi_status(const char *block, size_t len) {
  size_t vlen;
  const char *v = fcgi_cgi_header(block, len, "Status", &vlen);
  if (!v)
    return 200;
  if (vlen < 3)
    return -1;
  int code = 0;
  for (int i = 0; i < 3; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    code = code * 10 + (v[i] - '0');
  }
  if (code < 100 || (vlen > 3 && v[3] != ' ' && v[3] != '\t'))
    return -1;
  return code;
}
