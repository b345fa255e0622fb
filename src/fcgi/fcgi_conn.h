/*
 * fcgi_conn.h (private): one request on one connection, as a state machine
 * driven from outside: fcgi_conn_start() begins connecting,
 * fcgi_conn_events() says what to poll for, fcgi_conn_step() consumes
 * revents at time `now`, fcgi_conn_expire() ends it at its deadline. It
 * never reads the clock; all syscalls go through fcgi_net.
 */
#ifndef FPM_FCGI_CONN_H
#define FPM_FCGI_CONN_H

#include "fcgi.h"
#include "fcgi_cgi.h"
#include "fcgi_record.h"

#include <stdint.h>

struct fcgi_request {
  int role;
  uint8_t *pairs; /* encoded pairs, concatenated */
  size_t pairs_len, pairs_cap;
  size_t *sizes; /* size of each pair */
  size_t count, sizes_cap;
  uint8_t *body;
  size_t body_len;
};

enum fcgi_conn_state {
  FCGI_CONN_CONNECTING = 0,
  FCGI_CONN_SENDING,
  FCGI_CONN_RECEIVING,
  FCGI_CONN_DONE
};

struct fcgi_conn {
  enum fcgi_conn_state state;
  const fcgi_endpoint *ep;
  struct fcgi_call_opts opts; /* copy, defaults filled in */
  struct fcgi_response *resp;
  int fd;
  size_t addr_index;
  int64_t addr_until; /* give up on this address then (more to try) */
  int64_t t_start;
  uint8_t *wire; /* the encoded request */
  size_t wire_len, wire_sent;
  int send_errno; /* send failed; keep reading what the peer said */
  size_t out_cap, err_cap;
  uint64_t body_total; /* stdout bytes seen (with on_body too) */
  struct fcgi_cgi cgi;
  struct fcgi_decoder *dec;
};

/* Set up and start connecting. resp is cleared first. On an error return
 * (ENOMEM, EINVAL) nothing is left to free. A connection error does NOT
 * fail here: the conn is then DONE with resp->err set. */
fcgi_err fcgi_conn_start(struct fcgi_conn *c, const fcgi_endpoint *ep,
                         const fcgi_request *rq,
                         const struct fcgi_call_opts *opts,
                         struct fcgi_response *resp, int64_t now);
/* fcgi_conn_start in two steps: set up (build the wire, with an extra
 * HTTP_TRACEPARENT param when traceparent is not NULL) and connect. */
fcgi_err fcgi_conn_setup(struct fcgi_conn *c, const fcgi_endpoint *ep,
                         const fcgi_request *rq,
                         const struct fcgi_call_opts *opts,
                         struct fcgi_response *resp, int64_t now,
                         const char *traceparent);
void fcgi_conn_connect(struct fcgi_conn *c, int64_t now);

/*
 * Attached mode: a conn set up but never connected owns no socket (fd -1).
 * The engine's shared connection (fcgi_link.c) writes c->wire and routes
 * the records with this request's id here. State moves CONNECTING ->
 * SENDING (fcgi_conn_attached) -> RECEIVING (fcgi_conn_sent, all sent).
 */
void fcgi_conn_attached(struct fcgi_conn *c, int64_t now);
void fcgi_conn_sent(struct fcgi_conn *c, size_t wire_sent, int64_t now);
/* One record for this request (whole, bytes_in already counted by the
 * caller). Returns 1 when the request ended. */
int fcgi_conn_record(struct fcgi_conn *c, const struct fcgi_record *rec,
                     int64_t now);
/* The shared connection died: rc 0 = EOF, else the errno of send or recv.
 * Ends the request (EIO in the send phase when nothing came back, else
 * ECLOSED / EIO), as a conn of its own would have. */
void fcgi_conn_lost(struct fcgi_conn *c, int rc, int64_t now);
/* End with err and a detail already written into c->resp->errmsg (or fmt). */
void fcgi_conn_fail(struct fcgi_conn *c, fcgi_err err, int64_t now,
                    const char *msg);

/* POLLIN / POLLOUT wanted (0 when DONE). */
short fcgi_conn_events(const struct fcgi_conn *c);
/* Handle revents at time now. Returns 1 when the conn is DONE. */
int fcgi_conn_step(struct fcgi_conn *c, short revents, int64_t now);
/* The next time the conn needs attention without I/O: its deadline, or
 * earlier when a slow connect should move on to the next address. */
int64_t fcgi_conn_timer(const struct fcgi_conn *c);
/* Handle that time: past addr_until while connecting with more addresses
 * left, close and try the next one. Returns 1 when the conn is DONE. */
int fcgi_conn_on_timer(struct fcgi_conn *c, int64_t now);
/* End a running conn with err (ETIMEDOUT or ECANCELED), naming the phase. */
void fcgi_conn_abort(struct fcgi_conn *c, fcgi_err err, const char *why,
                     int64_t now);
/* Release the socket and buffers (not the response). */
void fcgi_conn_cleanup(struct fcgi_conn *c);

#endif /* FPM_FCGI_CONN_H */
