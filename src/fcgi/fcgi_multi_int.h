/*
 * fcgi_multi_int.h (private): the engine's internals for the layers built on
 * it. The engine (fcgi_multi.c) runs requests on connections of their own;
 * everything else plugs in through struct fcgi_multi_hooks, set when the
 * engine is created (fcgi_front.c wires the public constructors):
 *
 *   fcgi_front.c   constructors, placement policy, fcgi_do, fcgi_client_do
 *     fcgi_mux.c     multiplexing: decision, ABORT_REQUEST, CANT_MPX fallback
 *       fcgi_probe.c   FCGI_GET_VALUES probe, fcgi_client_probe
 *     fcgi_reuse.c   keep-alive: idle checkout and checkin, retry once
 *       fcgi_link.c    shared connections (the transport of the three above)
 *     fcgi_trace.c   W3C trace context and the on_trace report
 *   fcgi_multi.c   the engine: requests, own connections, poll, done queue
 *
 * A file calls only files below it; the engine reaches up only through the
 * hooks, and fcgi_link.c only through struct fcgi_link_policy (fcgi_link.h).
 */
#ifndef FPM_FCGI_MULTI_INT_H
#define FPM_FCGI_MULTI_INT_H

#include "fcgi.h"
#include "fcgi_conn.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

struct link; /* a shared connection (fcgi_link.h); opaque to the engine */

/* One request in an engine. */
struct mreq {
  struct fcgi_conn conn;
  void *user;
  struct mreq *next;
  const fcgi_endpoint *ep;
  const fcgi_request *rq;
  struct fcgi_call_opts opts; /* as given */
  struct link *link;          /* attached to (NULL: own socket / waiting) */
  size_t lsent;               /* bytes of its wire the link has written */
  int waiting;                /* for the GET_VALUES probe of ep */
  int no_mux;                 /* after CANT_MPX_CONN */
  int attempts;
  int reused, muxed;
  uint64_t conn_id;
  int64_t t_add, real_add;
  struct fcgi_trace tr; /* trace ids (filled when traceparent is on) */
};

/*
 * A transport other than "one connection per request" (fcgi_link.c). The
 * engine owns the list head (fcgi_multi.links) but never looks inside.
 */
struct fcgi_xport_ops {
  /* Append the descriptors to watch at fds[i...] (up to n, as
   * fcgi_multi_fds); returns the new count i. */
  size_t (*fds)(fcgi_multi *m, struct pollfd *fds, size_t n, size_t i);
  /* Handle revents for fd; returns 1 when fd belonged to the transport. */
  int (*step)(fcgi_multi *m, int fd, short rev, int64_t now);
  /* Act on the transport's own timers (runs before requests are swept). */
  void (*sweep)(fcgi_multi *m, int64_t now);
  /* The earliest of those timers, FCGI_NO_DEADLINE when none. */
  int64_t (*due)(const fcgi_multi *m);
  /* q ended early (deadline, cancel) while attached (q->link set). */
  void (*abandon)(fcgi_multi *m, struct mreq *q, int64_t now);
  /* Free everything (the engine is being freed; requests are detached). */
  void (*free_all)(fcgi_multi *m);
};

/* How the engine reaches the layers above it. Every member may be NULL. */
struct fcgi_multi_hooks {
  /* At fcgi_multi_add, before the wire is built: -1 rejects the request
   * (FCGI_EINVAL; an invalid traceparent_in). */
  int (*req_start)(struct mreq *q);
  /* q ended; runs once, before q is queued for fcgi_multi_next_done. */
  void (*req_end)(struct mreq *q);
  /* Put q, which asked for keep_conn or multiplex on an engine bound to a
   * client, on a transport. Returns 1 when q is already DONE. */
  int (*place)(fcgi_multi *m, struct mreq *q, int64_t now);
  const struct fcgi_xport_ops *xport;
};

struct fcgi_multi {
  const struct fcgi_multi_hooks *hooks; /* never NULL */
  fcgi_client *client;
  struct mreq *running;
  struct mreq *done_head, *done_tail;
  int n_running, n_pending;
  struct link *links;  /* the transport's (fcgi_link.c) */
  struct pollfd *pfds; /* pfds_small, or malloc'ed when more are needed */
  size_t pfds_cap;
  struct pollfd pfds_small[8]; /* the usual few sockets: no allocation */
};

/* An engine with hooks (static, never NULL) and an optional client. NULL on
 * out of memory. */
fcgi_multi *fcgi_multi_create(const struct fcgi_multi_hooks *hooks,
                              fcgi_client *cl);
/* q on a connection of its own (the default transport). Returns 1 when q
 * is already DONE (the connect failed at once). */
int fcgi_multi_place_own(fcgi_multi *m, struct mreq *q, int64_t now);
/* Start q again from scratch on a new connection (retry or fallback): the
 * wire is rebuilt and q placed again. Returns 1 when q is DONE. */
int fcgi_multi_restart(fcgi_multi *m, struct mreq *q, int64_t now);
/* Place the requests that waited for ep's probe, in the order they were
 * added; no_mux 1: none of them may multiplex. */
void fcgi_multi_release_waiters(fcgi_multi *m, const fcgi_endpoint *ep,
                                int no_mux, int64_t now);
/* One request on m, run to its end; m is freed. m NULL is out of memory. */
fcgi_err fcgi_multi_do_one(fcgi_multi *m, const fcgi_endpoint *ep,
                           const fcgi_request *rq,
                           const struct fcgi_call_opts *opts,
                           struct fcgi_response *resp);
/* 1 when a and b name the same endpoint (canonical text). */
int fcgi_multi_same_ep(const fcgi_endpoint *a, const fcgi_endpoint *b);

#endif /* FPM_FCGI_MULTI_INT_H */
