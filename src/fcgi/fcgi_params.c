/*
 * fcgi_params.c: FastCGI name-value pair codec (1-byte lengths below 128,
 * 4-byte lengths with the top bit set otherwise) and the reassembly buffer
 * for name-value streams. Pure: no I/O.
 */
#include "fcgi_record.h"

#include <stdlib.h>
#include <string.h>

static size_t len_size(size_t n) {
  return n < 128 ? 1 : 4;
}

size_t fcgi_pair_size(size_t name_len, size_t value_len) {
  return len_size(name_len) + len_size(value_len) + name_len + value_len;
}

static uint8_t *len_put(uint8_t *p, size_t n) {
  if (n < 128) {
    *p++ = (uint8_t)n;
    return p;
  }
  uint32_t v = (uint32_t)n | 0x80000000u;
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
  return p + 4;
}

size_t fcgi_pair_put(uint8_t *out, const char *name, size_t name_len,
                     const char *value, size_t value_len) {
  uint8_t *p = len_put(out, name_len);
  p = len_put(p, value_len);
  if (name_len)
    memcpy(p, name, name_len);
  p += name_len;
  if (value_len)
    memcpy(p, value, value_len);
  p += value_len;
  return (size_t)(p - out);
}

/* Read one length at *off; -1 when it runs past len. */
static int len_get(const uint8_t *buf, size_t len, size_t *off, size_t *n) {
  if (*off >= len)
    return -1;
  if (buf[*off] < 128) {
    *n = buf[(*off)++];
    return 0;
  }
  if (len - *off < 4)
    return -1;
  const uint8_t *p = buf + *off;
  *n = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16) |
       ((size_t)p[2] << 8) | p[3];
  *off += 4;
  return 0;
}

int fcgi_pair_next(const uint8_t *buf, size_t len, size_t *off,
                   struct fcgi_pair *pair) {
  size_t o = *off, nl, vl;
  if (o >= len)
    return 0;
  if (len_get(buf, len, &o, &nl) || len_get(buf, len, &o, &vl))
    return -1;
  if (nl > len - o || vl > len - o - nl)
    return -1;
  pair->name = buf + o;
  pair->name_len = nl;
  pair->value = buf + o + nl;
  pair->value_len = vl;
  *off = o + nl + vl;
  return 1;
}

fcgi_err fcgi_nvstream_append(struct fcgi_nvstream *s, const uint8_t *p,
                              size_t n) {
  size_t max = s->max ? s->max : (size_t)1 << 20;
  if (n > max - s->len)
    return FCGI_ETOOBIG;
  if (s->len + n > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + n)
      cap *= 2;
    uint8_t *nb = realloc(s->buf, cap);
    if (!nb)
      return FCGI_ENOMEM;
    s->buf = nb;
    s->cap = cap;
  }
  if (n)
    memcpy(s->buf + s->len, p, n);
  s->len += n;
  return FCGI_OK;
}

void fcgi_nvstream_clear(struct fcgi_nvstream *s) {
  free(s->buf);
  s->buf = NULL;
  s->len = s->cap = 0;
}
