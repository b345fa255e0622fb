/*
 * fcgi_record.c: FastCGI record framing. Builds the wire image of a request
 * and decodes a response byte stream with a push state machine (header,
 * content, padding), the shape of nginx's ngx_http_fastcgi_process_record.
 * Pure: no I/O, no clock, no allocation in the decoder.
 */
#include "fcgi_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_HEADER = 0, ST_CONTENT, ST_PADDING, ST_ERROR };

const char *fcgi_type_name(unsigned type) {
  static const char *const names[] = {"type0",
                                      "BEGIN_REQUEST",
                                      "ABORT_REQUEST",
                                      "END_REQUEST",
                                      "PARAMS",
                                      "STDIN",
                                      "STDOUT",
                                      "STDERR",
                                      "DATA",
                                      "GET_VALUES",
                                      "GET_VALUES_RESULT",
                                      "UNKNOWN_TYPE"};
  return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

void fcgi_header_put(uint8_t out[FCGI_HEADER_LEN], unsigned type,
                     unsigned request_id, unsigned content_len,
                     unsigned padding_len) {
  out[0] = FCGI_VERSION_1;
  out[1] = (uint8_t)type;
  out[2] = (uint8_t)(request_id >> 8);
  out[3] = (uint8_t)request_id;
  out[4] = (uint8_t)(content_len >> 8);
  out[5] = (uint8_t)content_len;
  out[6] = (uint8_t)padding_len;
  out[7] = 0;
}

/* Append one record (content may be NULL when n is 0); padded to 8. */
static uint8_t *put_record(uint8_t *p, unsigned type, unsigned id,
                           const uint8_t *content, size_t n) {
  size_t pad = (8 - n % 8) % 8;
  fcgi_header_put(p, type, id, (unsigned)n, (unsigned)pad);
  p += FCGI_HEADER_LEN;
  if (n)
    memcpy(p, content, n);
  p += n;
  memset(p, 0, pad);
  return p + pad;
}

/* Upper bound of the encoded size of a stream of n bytes. */
static size_t stream_bound(size_t n, size_t records) {
  return n + (records + 1) * (FCGI_HEADER_LEN + 7);
}

fcgi_err fcgi_wire_build(unsigned request_id, unsigned role, unsigned flags,
                         const struct fcgi_wire_params *params,
                         const uint8_t *body, size_t body_len, uint8_t **out,
                         size_t *out_len) {
  size_t plen = 0;
  for (size_t i = 0; i < params->count; i++) {
    if (params->sizes[i] > FCGI_MAX_PAIR)
      return FCGI_EINVAL;
    plen += params->sizes[i];
  }
  size_t cap = 16 + stream_bound(plen, params->count) +
               stream_bound(body_len, body_len / FCGI_MAX_WRITE_CONTENT + 1);
  uint8_t *buf = malloc(cap), *p = buf;
  if (!buf)
    return FCGI_ENOMEM;
  uint8_t begin[8] = {(uint8_t)(role >> 8), (uint8_t)role, (uint8_t)flags};
  p = put_record(p, FCGI_TYPE_BEGIN_REQUEST, request_id, begin, 8);
  /* PARAMS: pack whole pairs into records of at most 65528 bytes. */
  size_t start = 0, off = 0;
  for (size_t i = 0; i < params->count; i++) {
    if (off + params->sizes[i] - start > FCGI_MAX_WRITE_CONTENT) {
      p = put_record(p, FCGI_TYPE_PARAMS, request_id, params->pairs + start,
                     off - start);
      start = off;
    }
    off += params->sizes[i];
  }
  if (off > start)
    p = put_record(p, FCGI_TYPE_PARAMS, request_id, params->pairs + start,
                   off - start);
  p = put_record(p, FCGI_TYPE_PARAMS, request_id, NULL, 0);
  for (size_t o = 0; o < body_len; o += FCGI_MAX_WRITE_CONTENT) {
    size_t n = body_len - o;
    if (n > FCGI_MAX_WRITE_CONTENT)
      n = FCGI_MAX_WRITE_CONTENT;
    p = put_record(p, FCGI_TYPE_STDIN, request_id, body + o, n);
  }
  p = put_record(p, FCGI_TYPE_STDIN, request_id, NULL, 0);
  *out = buf;
  *out_len = (size_t)(p - buf);
  return FCGI_OK;
}

struct fcgi_decoder *fcgi_decoder_new(void) {
  struct fcgi_decoder *d = calloc(1, sizeof *d);
  if (d != NULL)
    fcgi_decoder_init(d);
  return d;
}

void fcgi_decoder_free(struct fcgi_decoder *d) {
  if (d == NULL)
    return;
  free(d->content);
  free(d);
}

void fcgi_decoder_init(struct fcgi_decoder *d) {
  d->rec_content = NULL;
  d->state = ST_HEADER;
  d->have = 0;
  memset(d->header, 0, sizeof d->header);
  d->content_len = d->padding_len = 0;
  d->err = FCGI_OK;
  d->errmsg[0] = '\0';
  d->records = 0;
}

static int fail_as(struct fcgi_decoder *d, fcgi_err err, const char *what) {
  d->state = ST_ERROR;
  d->err = err;
  snprintf(d->errmsg, sizeof d->errmsg, "%s", what);
  return -1;
}

/* Room for the whole content of the current record in d->content. */
static int reserve_content(struct fcgi_decoder *d) {
  if (d->content_cap >= d->content_len)
    return 0;
  size_t cap = d->content_len < 4096 ? 4096 : FCGI_MAX_CONTENT;
  uint8_t *p = realloc(d->content, cap);
  if (p == NULL)
    return fail_as(d, FCGI_ENOMEM, "out of memory for a record");
  d->content = p;
  d->content_cap = cap;
  return 0;
}

/* A complete header is in d->header: validate it and pick the next state. */
static int header_done(struct fcgi_decoder *d) {
  const uint8_t *h = d->header;
  if (h[0] != FCGI_VERSION_1) {
    char msg[160];
    int http = memcmp(h, "HTTP", 4) == 0 || memcmp(h, "<", 1) == 0;
    snprintf(msg, sizeof msg,
             "record with protocol version %u, expected 1 (after %llu "
             "records)%s",
             h[0], (unsigned long long)d->records,
             http ? "; the peer looks like an HTTP server, not FastCGI" : "");
    return fail_as(d, http ? FCGI_ENOTFCGI : FCGI_EPROTO, msg);
  }
  d->content_len = ((size_t)h[4] << 8) | h[5];
  d->padding_len = h[6];
  d->have = 0;
  d->rec_content = d->header; /* an empty record: a valid, unread pointer */
  d->state =
      d->content_len ? ST_CONTENT : (d->padding_len ? ST_PADDING : ST_HEADER);
  return d->state == ST_HEADER;
}

static void fill_record(struct fcgi_decoder *d, struct fcgi_record *rec) {
  rec->type = d->header[1];
  rec->request_id = ((unsigned)d->header[2] << 8) | d->header[3];
  rec->content = d->rec_content;
  rec->content_len = d->content_len;
  rec->padding_len = d->padding_len;
  d->records++;
}

int fcgi_decoder_feed(struct fcgi_decoder *d, const uint8_t *buf, size_t len,
                      size_t *used, struct fcgi_record *rec) {
  size_t i = 0;
  int rc = 0;
  if (d->state == ST_ERROR) {
    *used = 0;
    return -1;
  }
  while (i < len && rc == 0) {
    size_t n;
    switch (d->state) {
    case ST_HEADER:
      n = FCGI_HEADER_LEN - d->have;
      n = n < len - i ? n : len - i;
      memcpy(d->header + d->have, buf + i, n);
      d->have += n;
      i += n;
      if (d->have == FCGI_HEADER_LEN)
        rc = header_done(d);
      break;
    case ST_CONTENT:
      if (d->have == 0 && len - i >= d->content_len + d->padding_len) {
        d->rec_content = buf + i; /* whole in this buffer: no copy */
        i += d->content_len + d->padding_len;
        d->state = ST_HEADER;
        rc = 1;
        break;
      }
      if (d->have == 0 && reserve_content(d) != 0) {
        rc = -1;
        break;
      }
      d->rec_content = d->content;
      n = d->content_len - d->have;
      n = n < len - i ? n : len - i;
      memcpy(d->content + d->have, buf + i, n);
      d->have += n;
      i += n;
      if (d->have == d->content_len) {
        d->have = 0;
        d->state = d->padding_len ? ST_PADDING : ST_HEADER;
        rc = d->state == ST_HEADER;
      }
      break;
    default: /* ST_PADDING */
      n = d->padding_len - d->have;
      n = n < len - i ? n : len - i;
      d->have += n;
      i += n;
      if (d->have == d->padding_len) {
        d->have = 0;
        d->state = ST_HEADER;
        rc = 1;
      }
      break;
    }
  }
  *used = i;
  if (rc == 1) {
    fill_record(d, rec);
    d->have = 0;
  }
  return rc;
}

int fcgi_decoder_idle(const struct fcgi_decoder *d) {
  return d->state == ST_HEADER && d->have == 0;
}

void fcgi_decoder_describe(const struct fcgi_decoder *d, char *buf,
                           size_t len) {
  const char *type = fcgi_type_name(d->header[1]);
  switch (d->state) {
  case ST_HEADER:
    if (d->have)
      snprintf(buf, len, "%zu of 8 bytes of a record header", d->have);
    else
      snprintf(buf, len, "between records");
    break;
  case ST_CONTENT:
    snprintf(buf, len, "%zu of %zu content bytes of a %s record", d->have,
             d->content_len, type);
    break;
  case ST_PADDING:
    snprintf(buf, len, "%zu of %zu padding bytes of a %s record", d->have,
             d->padding_len, type);
    break;
  default:
    snprintf(buf, len, "after a protocol error");
    break;
  }
}
