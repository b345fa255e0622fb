/*
 * fcgi_front.c: the engine's public front. The constructors wire the layers
 * into the engine (tracing always; shared connections, reuse, multiplexing
 * and the probe for an engine bound to a client), the placement policy
 * decides which transport a request goes on, and fcgi_do / fcgi_client_do
 * run one request to its end.
 */
#include "fcgi_client.h"
#include "fcgi_mux.h"
#include "fcgi_net.h"
#include "fcgi_probe.h"
#include "fcgi_reuse.h"
#include "fcgi_trace.h"

#include <errno.h>
#include <stdio.h>

/* Links that carry requests: kept (reuse) and multiplexed (mux) ones. */
static const struct fcgi_link_policy request_links = {
    .mgmt = fcgi_probe_mgmt, /* a forced link may learn the caps late */
    .ended = fcgi_mux_ended,
    .abandon = fcgi_mux_abandon,
    .retry = fcgi_reuse_retry,
    .idle = fcgi_reuse_idle,
};

static void fail_connect(struct mreq *q, const fcgi_endpoint *ep, int rc,
                         int64_t now) {
  char msg[sizeof q->conn.resp->errmsg];
  fcgi_err err = rc == ENOMEM
                     ? FCGI_ENOMEM
                     : fcgi_net_explain_connect(ep, 0, rc, msg, sizeof msg);
  if (err == FCGI_ENOMEM)
    snprintf(msg, sizeof msg, "%s: out of memory", fcgi_endpoint_str(ep));
  fcgi_conn_fail(&q->conn, err, now, msg);
}

/* Placement for a request that asked for keep_conn or multiplex on an
 * engine bound to a client: wait for the probe, share a multiplexed link,
 * take a kept one, open a new link, or go on a connection of its own.
 * Returns 1 when q is already DONE. */
static int place(fcgi_multi *m, struct mreq *q, int64_t now) {
  struct fcgi_caps caps;
  int mux = fcgi_mux_decide(m, q, now, &caps);
  if (mux < 0) {
    q->waiting = 1;
    return 0;
  }
  if (!mux && !q->opts.keep_conn) {
    q->conn.opts.keep_conn = 0;
    fcgi_wire_patch(q->conn.wire, q->conn.wire_len, q->conn.opts.request_id, 0);
    return fcgi_multi_place_own(m, q, now);
  }
  struct link *l = mux ? fcgi_mux_find(m, q->ep) : NULL;
  int fresh = 0;
  if (!l) {
    int rc;
    l = fcgi_reuse_open(m, q->ep, &request_links, mux, q->opts.keep_conn, now,
                        &rc);
    if (!l) {
      fail_connect(q, q->ep, rc, now);
      return 1;
    }
    l->max_reqs = mux ? fcgi_mux_limit(m, &caps) : 1;
    fresh = 1;
  }
  int64_t until = l->addr_until;
  if (fcgi_link_attach(l, q, now) < 0) {
    char msg[sizeof q->conn.resp->errmsg];
    snprintf(msg, sizeof msg, "%s: out of memory attaching the request",
             fcgi_endpoint_str(q->ep));
    fcgi_conn_fail(&q->conn, FCGI_ENOMEM, now, msg);
    if (fresh && l->nreq == 0)
      fcgi_link_free(m, l);
    return 1;
  }
  /* Servers that answer GET_VALUES only once a request came (libfcgi):
   * ask again on the first forced link; the answer is taken whenever. */
  if (fresh && mux && caps.state == FCGI_CAPS_NO_ANSWER)
    fcgi_probe_queue(l);
  if (l->mux)
    fcgi_client_in_flight(m->client, q->ep, (unsigned)l->nreq);
  if (l->connecting) /* its deadline may be the earliest now */
    fcgi_link_slice(l, now);
  if (l->addr_until > until && !fresh)
    l->addr_until = until; /* never extend a slice already running */
  return 0;
}

static const struct fcgi_multi_hooks plain_engine = {
    .req_start = fcgi_trace_req_start,
    .req_end = fcgi_trace_req_end,
};

static const struct fcgi_multi_hooks client_engine = {
    .req_start = fcgi_trace_req_start,
    .req_end = fcgi_trace_req_end,
    .place = place,
    .xport = &fcgi_link_xport,
};

fcgi_multi *fcgi_multi_new(void) {
  return fcgi_multi_create(&plain_engine, NULL);
}

fcgi_multi *fcgi_multi_new_client(fcgi_client *cl) {
  return fcgi_multi_create(&client_engine, cl);
}

fcgi_err fcgi_do(const fcgi_endpoint *ep, const fcgi_request *rq,
                 const struct fcgi_call_opts *opts,
                 struct fcgi_response *resp) {
  return fcgi_multi_do_one(resp ? fcgi_multi_new() : NULL, ep, rq, opts, resp);
}

fcgi_err fcgi_client_do(fcgi_client *cl, const fcgi_endpoint *ep,
                        const fcgi_request *rq,
                        const struct fcgi_call_opts *opts,
                        struct fcgi_response *resp) {
  return fcgi_multi_do_one(resp ? fcgi_multi_new_client(cl) : NULL, ep, rq,
                           opts, resp);
}
