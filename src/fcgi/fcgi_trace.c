/*
 * fcgi_trace.c: W3C Trace Context (traceparent, version 00) for requests:
 * "00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>", lower case,
 * neither id all zeros. The request is a client span: it keeps the
 * caller's trace id, records the caller's span as its parent and sends
 * its own fresh span id to the application.
 *
 * Also the engine's tracing hooks: the context is made when a request is
 * added, and the finished request is reported to fcgi_call_opts.on_trace.
 */
#include "fcgi_trace.h"
#include "fcgi_multi_int.h"
#include "fcgi_net.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int is_lower_hex(const char *s, size_t n) {
  int nonzero = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return -1;
    nonzero |= c != '0';
  }
  return nonzero;
}

static void hex(const uint8_t *b, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
  out[2 * n] = '\0';
}

/* A random non-zero id of n bytes as hex. */
static void fresh_id(size_t n, char *out) {
  uint8_t b[16];
  do
    fcgi_net_random(b, n);
  while (is_lower_hex((hex(b, n, out), out), 2 * n) == 0);
}

int fcgi_trace_context(const char *in, struct fcgi_trace *t) {
  char flags[3] = "01";
  if (in) {
    /* 00-32-16-2 = 55 characters; other versions are not accepted. */
    if (strlen(in) != 55 || memcmp(in, "00-", 3) || in[35] != '-' ||
        in[52] != '-' || is_lower_hex(in + 3, 32) != 1 ||
        is_lower_hex(in + 36, 16) != 1 || is_lower_hex(in + 53, 2) < 0)
      return -1;
    memcpy(t->trace_id, in + 3, 32);
    t->trace_id[32] = '\0';
    memcpy(t->parent_span_id, in + 36, 16);
    t->parent_span_id[16] = '\0';
    memcpy(flags, in + 53, 2);
  } else {
    fresh_id(16, t->trace_id);
    t->parent_span_id[0] = '\0';
  }
  fresh_id(8, t->span_id);
  snprintf(t->traceparent, sizeof t->traceparent, "00-%s-%s-%s", t->trace_id,
           t->span_id, flags);
  return 0;
}

int fcgi_trace_req_start(struct mreq *q) {
  if (!q->opts.traceparent)
    return 0;
  return fcgi_trace_context(q->opts.traceparent_in, &q->tr);
}

void fcgi_trace_req_end(struct mreq *q) {
  if (!q->opts.on_trace)
    return;
  struct fcgi_response *r = q->conn.resp;
  struct fcgi_trace *t = &q->tr;
  int64_t shift = q->conn.t_start - q->t_add; /* a retry restarts the conn */
  t->endpoint = fcgi_endpoint_str(q->ep);
  t->user = q->user;
  t->request_id = q->conn.opts.request_id;
  t->conn_id = q->conn_id;
  t->reused = q->reused;
  t->multiplexed = q->muxed;
  t->attempts = q->attempts;
  t->start_unix_ns = q->real_add;
  t->t_connect_ms = r->t_connect_ms < 0 ? -1 : r->t_connect_ms + shift;
  t->t_first_byte_ms = r->t_first_byte_ms < 0 ? -1 : r->t_first_byte_ms + shift;
  t->t_end_ms = r->t_end_ms < 0 ? -1 : r->t_end_ms + shift;
  t->end_unix_ns = q->real_add + (t->t_end_ms < 0 ? 0 : t->t_end_ms) * 1000000;
  t->bytes_in = r->bytes_in;
  t->bytes_out = r->bytes_out;
  t->err = r->err;
  t->protocol_status = r->protocol_status;
  t->status = r->status;
  t->errmsg = r->errmsg;
  q->opts.on_trace(q->opts.on_trace_ud, t);
}
