/*
 * fcgi_conn.c: the per-request state machine (connect, send the encoded
 * request, decode the response records into stdout / stderr / END_REQUEST),
 * with the caps, the CGI header split and the typed errors. Time comes in
 * as a parameter; sockets only through fcgi_net.
 */
#include "fcgi_conn.h"
#include "fcgi_net.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_STDOUT ((size_t)16 << 20)
#define DEFAULT_MAX_STDERR ((size_t)64 << 10)
#define DEFAULT_MAX_HEADERS ((size_t)16 << 10)
#define RECV_CHUNK                                                             \
  16384 /* on the stack: deeper frames (the streaming parser) run below it */
#define RECV_ROUNDS 4 /* reads per step, so one flood cannot starve others */

static fcgi_phase state_phase(enum fcgi_conn_state s) {
  switch (s) {
  case FCGI_CONN_CONNECTING:
    return FCGI_PHASE_CONNECT;
  case FCGI_CONN_SENDING:
    return FCGI_PHASE_SEND;
  case FCGI_CONN_RECEIVING:
    return FCGI_PHASE_RECV;
  default:
    return FCGI_PHASE_NONE;
  }
}

/* Give the response its final shape: NUL-terminated out, the header block
 * and body views, the Status. */
static void finalize(struct fcgi_conn *c) {
  struct fcgi_response *r = c->resp;
  if (!r->out && r->err == FCGI_OK) {
    r->out = calloc(1, 1);
    if (!r->out) {
      r->err = FCGI_ENOMEM;
      snprintf(r->errmsg, sizeof r->errmsg,
               "%s: out of memory for the response", c->ep->text);
    }
  }
  if (r->out)
    r->out[r->out_len] = '\0';
  if (r->err_text)
    r->err_text[r->err_len] = '\0';
  if (!c->cgi.done || !r->out)
    return;
  r->headers = r->out;
  r->headers_len = fcgi_cgi_trim(r->out, c->cgi.seen);
  r->status = fcgi_cgi_status(r->out, c->cgi.seen);
  if (c->opts.on_body) {
    r->body = NULL;
    r->body_len = (size_t)(c->body_total - c->cgi.seen);
  } else {
    r->body = r->out + c->cgi.seen;
    r->body_len = r->out_len - c->cgi.seen;
  }
  if (r->status < 0) {
    r->status = 0;
    if (r->err == FCGI_OK) {
      r->err = FCGI_EPROTO;
      snprintf(r->errmsg, sizeof r->errmsg,
               "%s: invalid CGI Status header (expected a 3-digit code)",
               c->ep->text);
    }
  }
}

static int finish(struct fcgi_conn *c, fcgi_err err, int64_t now,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* End the request with err (and a detail sentence unless fmt is NULL). */
static int finish(struct fcgi_conn *c, fcgi_err err, int64_t now,
                  const char *fmt, ...) {
  struct fcgi_response *r = c->resp;
  r->err = err;
  r->phase = err == FCGI_OK ? FCGI_PHASE_NONE : state_phase(c->state);
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
  }
  r->t_end_ms = now - c->t_start;
  fcgi_net_close(c->fd);
  c->fd = -1;
  c->state = FCGI_CONN_DONE;
  finalize(c);
  return 1;
}

/* Grow a NUL-terminable buffer to hold need bytes (+1), capped near max. */
static int reserve(char **buf, size_t *cap, size_t need, size_t max) {
  if (need + 1 <= *cap)
    return 0;
  size_t n = *cap ? *cap : 4096;
  while (n < need + 1)
    n *= 2;
  if (n > max + 1)
    n = max + 1;
  char *nb = realloc(*buf, n);
  if (!nb)
    return -1;
  *buf = nb;
  *cap = n;
  return 0;
}

static int append(struct fcgi_conn *c, char **buf, size_t *len, size_t *cap,
                  const uint8_t *p, size_t n, size_t max, int64_t now) {
  if (reserve(buf, cap, *len + n, max))
    return finish(c, FCGI_ENOMEM, now, "%s: out of memory for the response",
                  c->ep->text);
  memcpy(*buf + *len, p, n);
  *len += n;
  return 0;
}

static int on_stdout(struct fcgi_conn *c, const uint8_t *p, size_t n,
                     int64_t now) {
  struct fcgi_response *r = c->resp;
  c->body_total += n;
  if (c->body_total > c->opts.max_stdout)
    return finish(c, FCGI_ETOOBIG, now,
                  "%s: stdout is over its cap of %zu bytes; stopped reading",
                  c->ep->text, c->opts.max_stdout);
  size_t hdr = 0;
  if (!c->cgi.done && fcgi_cgi_feed(&c->cgi, (const char *)p, n, &hdr) < 0)
    return finish(c, FCGI_ETOOBIG, now,
                  "%s: CGI header block is over its cap of %zu bytes "
                  "(no blank line yet)",
                  c->ep->text, c->opts.max_headers);
  if (!c->opts.on_body)
    return append(c, &r->out, &r->out_len, &c->out_cap, p, n,
                  c->opts.max_stdout, now);
  if (hdr && append(c, &r->out, &r->out_len, &c->out_cap, p, hdr,
                    c->opts.max_headers, now))
    return 1;
  if (n > hdr &&
      c->opts.on_body(c->opts.on_body_ud, (const char *)p + hdr, n - hdr) != 0)
    return finish(c, FCGI_ECANCELED, now,
                  "%s: the on_body sink stopped the request", c->ep->text);
  return 0;
}

static int on_end_request(struct fcgi_conn *c, const struct fcgi_record *rec,
                          int64_t now) {
  struct fcgi_response *r = c->resp;
  const uint8_t *b = rec->content;
  if (rec->content_len < 8)
    return finish(c, FCGI_EPROTO, now,
                  "%s: END_REQUEST with %zu content bytes, expected 8",
                  c->ep->text, rec->content_len);
  r->app_status = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
                  ((uint32_t)b[2] << 8) | b[3];
  r->protocol_status = b[4];
  switch (b[4]) {
  case 0:
    return finish(c, FCGI_OK, now, NULL);
  case 1:
    return finish(c, FCGI_ECANTMPX, now,
                  "%s: END_REQUEST protocolStatus 1 (CANT_MPX_CONN)",
                  c->ep->text);
  case 2:
    return finish(c, FCGI_EOVERLOADED, now,
                  "%s: END_REQUEST protocolStatus 2 (OVERLOADED)", c->ep->text);
  case 3:
    return finish(c, FCGI_EUNKNOWNROLE, now,
                  "%s: END_REQUEST protocolStatus 3 (UNKNOWN_ROLE) for role "
                  "%d",
                  c->ep->text, c->wire[9]);
  default:
    return finish(c, FCGI_EPROTO, now,
                  "%s: END_REQUEST with unknown protocolStatus %u", c->ep->text,
                  b[4]);
  }
}

/* Returns 1 when the request ended. */
static int on_record(struct fcgi_conn *c, const struct fcgi_record *rec,
                     int64_t now) {
  struct fcgi_response *r = c->resp;
  if (rec->request_id == 0)
    return 0; /* management record (UNKNOWN_TYPE, GET_VALUES_RESULT) */
  if (rec->request_id != c->opts.request_id)
    return finish(c, FCGI_EPROTO, now,
                  "%s: %s record for request id %u, expected %u", c->ep->text,
                  fcgi_type_name(rec->type), rec->request_id,
                  (unsigned)c->opts.request_id);
  switch (rec->type) {
  case FCGI_TYPE_STDOUT: /* an empty one may come mid-stream (#72185) */
    return rec->content_len ? on_stdout(c, rec->content, rec->content_len, now)
                            : 0;
  case FCGI_TYPE_STDERR:
    if (r->err_len + rec->content_len > c->opts.max_stderr)
      return finish(c, FCGI_ETOOBIG, now,
                    "%s: stderr is over its cap of %zu bytes; stopped "
                    "reading",
                    c->ep->text, c->opts.max_stderr);
    return append(c, &r->err_text, &r->err_len, &c->err_cap, rec->content,
                  rec->content_len, c->opts.max_stderr, now);
  case FCGI_TYPE_END_REQUEST:
    return on_end_request(c, rec, now);
  default:
    return finish(c, FCGI_EPROTO, now,
                  "%s: unexpected record type %u (%s) for request id %u",
                  c->ep->text, rec->type, fcgi_type_name(rec->type),
                  rec->request_id);
  }
}

/* The peer stopped reading our request (EPIPE, ECONNRESET) and sent no
 * byte back: report the send failure, in the send phase. */
static int send_failed(struct fcgi_conn *c, int64_t now) {
  char eb[128];
  c->state = FCGI_CONN_SENDING;
  return finish(c, FCGI_EIO, now,
                "%s: send failed after %zu of %zu request bytes: %s (the "
                "server closed the connection without answering)",
                c->ep->text, c->wire_sent, c->wire_len,
                strerror_r(c->send_errno, eb, sizeof eb));
}

static int on_eof(struct fcgi_conn *c, int64_t now) {
  char where[128];
  struct fcgi_response *r = c->resp;
  if (c->send_errno && r->bytes_in == 0)
    return send_failed(c, now);
  fcgi_decoder_describe(c->dec, where, sizeof where);
  return finish(c, FCGI_ECLOSED, now,
                "%s: connection closed before END_REQUEST (%llu bytes "
                "received, %s)",
                c->ep->text, (unsigned long long)r->bytes_in, where);
}

static int feed(struct fcgi_conn *c, const uint8_t *p, size_t n, int64_t now) {
  while (n > 0) {
    struct fcgi_record rec;
    size_t used = 0;
    int rc = fcgi_decoder_feed(c->dec, p, n, &used, &rec);
    p += used;
    n -= used;
    if (rc < 0)
      return finish(c, c->dec->err, now, "%s: %s", c->ep->text, c->dec->errmsg);
    if (rc == 1 && on_record(c, &rec, now))
      return 1; /* anything after END_REQUEST is ignored */
  }
  return 0;
}

static int do_recv(struct fcgi_conn *c, int64_t now) {
  uint8_t buf[RECV_CHUNK];
  for (int round = 0; round < RECV_ROUNDS; round++) {
    size_t got;
    int rc = fcgi_net_recv(c->fd, buf, sizeof buf, &got);
    if (rc == EAGAIN)
      return 0;
    if (rc && c->state == FCGI_CONN_SENDING && !c->send_errno)
      c->send_errno = rc; /* reset while we were still sending */
    if (rc && c->send_errno && c->resp->bytes_in == 0)
      return send_failed(c, now);
    if (rc) {
      char eb[128];
      return finish(c, FCGI_EIO, now, "%s: recv: %s", c->ep->text,
                    strerror_r(rc, eb, sizeof eb));
    }
    if (got == 0)
      return on_eof(c, now);
    if (c->resp->t_first_byte_ms < 0)
      c->resp->t_first_byte_ms = now - c->t_start;
    c->resp->bytes_in += got;
    if (feed(c, buf, got, now))
      return 1;
  }
  return 0;
}

static int do_send(struct fcgi_conn *c, int64_t now) {
  while (c->wire_sent < c->wire_len) {
    size_t sent;
    int rc = fcgi_net_send(c->fd, c->wire + c->wire_sent,
                           c->wire_len - c->wire_sent, &sent);
    if (rc == EPIPE || rc == ECONNRESET) {
      c->send_errno = rc; /* the peer may have answered: read it */
      c->state = FCGI_CONN_RECEIVING;
      return 0;
    }
    if (rc) {
      char eb[128];
      return finish(c, FCGI_EIO, now, "%s: send: %s", c->ep->text,
                    strerror_r(rc, eb, sizeof eb));
    }
    if (sent == 0)
      return 0; /* would block */
    c->wire_sent += sent;
    c->resp->bytes_out += sent;
  }
  c->state = FCGI_CONN_RECEIVING;
  return 0;
}

/* Try addresses from c->addr_index on; returns 1 when the request ended. */
static int try_connect(struct fcgi_conn *c, int64_t now) {
  int rc = ENOENT;
  for (; c->addr_index < c->ep->naddr; c->addr_index++) {
    rc = fcgi_net_connect(c->ep, c->addr_index, &c->fd);
    if (rc == 0 || rc == EINPROGRESS)
      break;
    fcgi_net_close(c->fd);
    c->fd = -1;
    if (c->addr_index + 1 == c->ep->naddr)
      break;
  }
  if (rc == EINPROGRESS) {
    /* With more addresses to try, this one gets its share of the time. */
    size_t left = c->ep->naddr - c->addr_index;
    c->state = FCGI_CONN_CONNECTING;
    c->addr_until = FCGI_NO_DEADLINE;
    if (left > 1 && c->opts.deadline_ms != FCGI_NO_DEADLINE) {
      int64_t slice = (c->opts.deadline_ms - now) / (int64_t)left;
      c->addr_until = now + (slice > 0 ? slice : 0);
    }
    return 0;
  }
  if (rc != 0) {
    size_t i = c->addr_index < c->ep->naddr ? c->addr_index : 0;
    fcgi_err err = fcgi_net_explain_connect(c->ep, i, rc, c->resp->errmsg,
                                            sizeof c->resp->errmsg);
    return finish(c, err, now, NULL);
  }
  c->state = FCGI_CONN_SENDING;
  c->resp->t_connect_ms = now - c->t_start;
  return do_send(c, now);
}

/* Encode rq's pairs plus HTTP_TRACEPARENT into fresh arrays. */
static fcgi_err build_wire(struct fcgi_conn *c, const fcgi_request *rq,
                           const char *tp) {
  unsigned flags = c->opts.keep_conn ? FCGI_FLAG_KEEP_CONN : 0;
  struct fcgi_wire_params params = {rq->pairs, rq->sizes, rq->count};
  if (!tp)
    return fcgi_wire_build(c->opts.request_id, (unsigned)rq->role, flags,
                           &params, rq->body, rq->body_len, &c->wire,
                           &c->wire_len);
  static const char name[] = "HTTP_TRACEPARENT";
  size_t extra = fcgi_pair_size(sizeof name - 1, strlen(tp));
  uint8_t *pairs = malloc(rq->pairs_len + extra);
  size_t *sizes = malloc((rq->count + 1) * sizeof *sizes);
  fcgi_err err = FCGI_ENOMEM;
  if (!pairs || !sizes)
    goto out;
  if (rq->pairs_len)
    memcpy(pairs, rq->pairs, rq->pairs_len);
  if (rq->count)
    memcpy(sizes, rq->sizes, rq->count * sizeof *sizes);
  fcgi_pair_put(pairs + rq->pairs_len, name, sizeof name - 1, tp, strlen(tp));
  sizes[rq->count] = extra;
  struct fcgi_wire_params p2 = {pairs, sizes, rq->count + 1};
  err = fcgi_wire_build(c->opts.request_id, (unsigned)rq->role, flags, &p2,
                        rq->body, rq->body_len, &c->wire, &c->wire_len);
out:
  free(pairs);
  free(sizes);
  return err;
}

fcgi_err fcgi_conn_setup(struct fcgi_conn *c, const fcgi_endpoint *ep,
                         const fcgi_request *rq,
                         const struct fcgi_call_opts *opts,
                         struct fcgi_response *resp, int64_t now,
                         const char *traceparent) {
  static const struct fcgi_call_opts none;
  memset(c, 0, sizeof *c);
  c->fd = -1;
  if (!ep || !rq || !resp)
    return FCGI_EINVAL;
  c->opts = opts ? *opts : none;
  if (!c->opts.deadline_ms)
    c->opts.deadline_ms = now + FCGI_DEFAULT_TIMEOUT_MS;
  if (!c->opts.max_stdout)
    c->opts.max_stdout = DEFAULT_MAX_STDOUT;
  if (!c->opts.max_stderr)
    c->opts.max_stderr = DEFAULT_MAX_STDERR;
  if (!c->opts.max_headers)
    c->opts.max_headers = DEFAULT_MAX_HEADERS;
  if (!c->opts.request_id)
    c->opts.request_id = 1;
  fcgi_response_clear(resp);
  c->ep = ep;
  c->resp = resp;
  c->t_start = now;
  c->addr_until = FCGI_NO_DEADLINE;
  fcgi_cgi_init(&c->cgi, c->opts.max_headers);
  c->dec = fcgi_decoder_new();
  if (!c->dec)
    return FCGI_ENOMEM;
  fcgi_err err = build_wire(c, rq, traceparent);
  if (err != FCGI_OK) {
    fcgi_decoder_free(c->dec);
    c->dec = NULL;
    return err;
  }
  return FCGI_OK;
}

void fcgi_conn_connect(struct fcgi_conn *c, int64_t now) {
  try_connect(c, now);
}

fcgi_err fcgi_conn_start(struct fcgi_conn *c, const fcgi_endpoint *ep,
                         const fcgi_request *rq,
                         const struct fcgi_call_opts *opts,
                         struct fcgi_response *resp, int64_t now) {
  fcgi_err err = fcgi_conn_setup(c, ep, rq, opts, resp, now, NULL);
  if (err == FCGI_OK)
    try_connect(c, now);
  return err;
}

void fcgi_conn_attached(struct fcgi_conn *c, int64_t now) {
  if (c->state != FCGI_CONN_CONNECTING)
    return;
  c->state = FCGI_CONN_SENDING;
  c->resp->t_connect_ms = now - c->t_start;
}

void fcgi_conn_sent(struct fcgi_conn *c, size_t wire_sent, int64_t now) {
  (void)now;
  if (c->state == FCGI_CONN_DONE || wire_sent <= c->wire_sent)
    return;
  c->resp->bytes_out += wire_sent - c->wire_sent;
  c->wire_sent = wire_sent;
  if (c->wire_sent >= c->wire_len && c->state == FCGI_CONN_SENDING)
    c->state = FCGI_CONN_RECEIVING;
}

int fcgi_conn_record(struct fcgi_conn *c, const struct fcgi_record *rec,
                     int64_t now) {
  if (c->state == FCGI_CONN_DONE)
    return 1;
  if (c->resp->t_first_byte_ms < 0)
    c->resp->t_first_byte_ms = now - c->t_start;
  return on_record(c, rec, now);
}

void fcgi_conn_lost(struct fcgi_conn *c, int rc, int64_t now) {
  if (c->state == FCGI_CONN_DONE)
    return;
  if (c->state == FCGI_CONN_SENDING && !c->send_errno)
    c->send_errno = rc ? rc : EPIPE;
  if (c->send_errno && c->resp->bytes_in == 0) {
    send_failed(c, now);
    return;
  }
  if (rc == 0) {
    on_eof(c, now);
    return;
  }
  char eb[128];
  finish(c, FCGI_EIO, now, "%s: recv: %s", c->ep->text,
         strerror_r(rc, eb, sizeof eb));
}

void fcgi_conn_fail(struct fcgi_conn *c, fcgi_err err, int64_t now,
                    const char *msg) {
  if (c->state == FCGI_CONN_DONE)
    return;
  if (msg)
    finish(c, err, now, "%s", msg);
  else
    finish(c, err, now, NULL);
}

short fcgi_conn_events(const struct fcgi_conn *c) {
  switch (c->state) {
  case FCGI_CONN_CONNECTING:
    return POLLOUT;
  case FCGI_CONN_SENDING:
    return POLLOUT | POLLIN;
  case FCGI_CONN_RECEIVING:
    return POLLIN;
  default:
    return 0;
  }
}

int fcgi_conn_step(struct fcgi_conn *c, short revents, int64_t now) {
  if (c->state == FCGI_CONN_CONNECTING && revents) {
    int rc = fcgi_net_connect_result(c->fd);
    if (rc != 0) {
      fcgi_net_close(c->fd);
      c->fd = -1;
      if (c->addr_index + 1 < c->ep->naddr) {
        c->addr_index++;
        return try_connect(c, now);
      }
      fcgi_err err = fcgi_net_explain_connect(
          c->ep, c->addr_index, rc, c->resp->errmsg, sizeof c->resp->errmsg);
      return finish(c, err, now, NULL);
    }
    c->state = FCGI_CONN_SENDING;
    c->resp->t_connect_ms = now - c->t_start;
    revents = POLLOUT;
  }
  if (c->state == FCGI_CONN_SENDING && (revents & (POLLIN | POLLHUP)) &&
      do_recv(c, now))
    return 1;
  if (c->state == FCGI_CONN_SENDING && (revents & (POLLOUT | POLLERR)) &&
      do_send(c, now))
    return 1;
  if (c->state == FCGI_CONN_RECEIVING &&
      (revents & (POLLIN | POLLHUP | POLLERR)))
    return do_recv(c, now);
  return c->state == FCGI_CONN_DONE;
}

int64_t fcgi_conn_timer(const struct fcgi_conn *c) {
  if (c->state == FCGI_CONN_CONNECTING && c->addr_until < c->opts.deadline_ms)
    return c->addr_until;
  return c->opts.deadline_ms;
}

int fcgi_conn_on_timer(struct fcgi_conn *c, int64_t now) {
  if (c->state != FCGI_CONN_CONNECTING || now < c->addr_until ||
      c->addr_index + 1 >= c->ep->naddr)
    return c->state == FCGI_CONN_DONE;
  fcgi_net_close(c->fd); /* this address is too slow: try the next one */
  c->fd = -1;
  c->addr_index++;
  return try_connect(c, now);
}

void fcgi_conn_abort(struct fcgi_conn *c, fcgi_err err, const char *why,
                     int64_t now) {
  if (c->state == FCGI_CONN_DONE)
    return;
  char addr[96] = "";
  if (c->state == FCGI_CONN_CONNECTING && !c->ep->is_unix)
    snprintf(addr, sizeof addr, " to %s", c->ep->addr[c->addr_index].text);
  const char *doing = c->state == FCGI_CONN_CONNECTING ? "connecting"
                      : c->state == FCGI_CONN_SENDING  ? "sending the request"
                                                       : "waiting for the "
                                                         "response";
  finish(c, err, now,
         "%s: %s after %lld ms while %s%s (%zu of %zu request "
         "bytes sent, %llu response bytes received)",
         c->ep->text, why, (long long)(now - c->t_start), doing, addr,
         c->wire_sent, c->wire_len, (unsigned long long)c->resp->bytes_in);
}

void fcgi_conn_cleanup(struct fcgi_conn *c) {
  fcgi_net_close(c->fd);
  c->fd = -1;
  free(c->wire);
  c->wire = NULL;
  fcgi_decoder_free(c->dec);
  c->dec = NULL;
}
