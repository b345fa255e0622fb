/*
 * fcgi_mux.c: multiplexing. Whether a request may share a link, which link,
 * how many requests per link, aborting one request without closing the
 * link, and the fallback after CANT_MPX_CONN.
 *
 * Rules (see fcgi.h and docs/client-library.md):
 *  - Never two requests in flight on one connection unless the server said
 *    FCGI_MPXS_CONNS=1 (AUTO) or never answered (FORCE).
 *  - A request that ends early (deadline, cancel, a cap) on a multiplexed
 *    link gets ABORT_REQUEST; its id stays reserved until its END_REQUEST
 *    and its late records are dropped.
 */
#include "fcgi_mux.h"
#include "fcgi_client.h"
#include "fcgi_probe.h"

#define MUX_DEFAULT_MAX 256

unsigned fcgi_mux_limit(fcgi_multi *m, const struct fcgi_caps *caps) {
  struct fcgi_client_opts o;
  fcgi_client_opts_get(m->client, &o);
  unsigned lim = o.max_mux ? o.max_mux : MUX_DEFAULT_MAX;
  if (!o.max_mux && caps->max_reqs > 0 && (unsigned long)caps->max_reqs < lim)
    lim = (unsigned)caps->max_reqs;
  return lim ? lim : 1;
}

int fcgi_mux_decide(fcgi_multi *m, struct mreq *q, int64_t now,
                    struct fcgi_caps *caps) {
  if (q->no_mux || q->opts.multiplex == FCGI_MUX_OFF)
    return 0;
  fcgi_client_caps(m->client, q->ep, caps);
  if (caps->cant_mpx)
    return 0;
  if (caps->state == FCGI_CAPS_UNPROBED) {
    if (fcgi_probe_find(m, q->ep))
      return -1;
    if (fcgi_probe_start(m, q->ep, now) != 0)
      return 0; /* cannot probe: no multiplexing, the request says why */
    return -1;
  }
  if (caps->state == FCGI_CAPS_KNOWN)
    return caps->mpxs_conns == 1;
  return q->opts.multiplex == FCGI_MUX_FORCE;
}

struct link *fcgi_mux_find(fcgi_multi *m, const fcgi_endpoint *ep) {
  for (struct link *l = m->links; l; l = l->next)
    if (l->mux && !l->probe && !l->dead && l->fd >= 0 &&
        l->nreq < l->max_reqs && fcgi_multi_same_ep(l->ep, ep))
      return l;
  return NULL;
}

fcgi_err fcgi_mux_abandon(struct link *l, struct mreq *q) {
  unsigned id = q->conn.opts.request_id;
  int begun = q->lsent > 0;
  fcgi_link_detach(l, q); /* a record half written is finished first */
  if (!l->mux)
    return FCGI_EIO;
  if (!begun)
    return FCGI_OK; /* the server never heard of it */
  if (fcgi_link_add_zombie(l, id) < 0 ||
      fcgi_link_queue_mgmt(l, FCGI_TYPE_ABORT_REQUEST, id, NULL, 0) < 0)
    return FCGI_ENOMEM;
  return FCGI_OK;
}

void fcgi_mux_ended(fcgi_multi *m, struct link *l, struct mreq *q,
                    int64_t now) {
  if (q->conn.resp->err != FCGI_ECANTMPX || !l->mux || q->attempts != 1)
    return;
  fcgi_client_caps_cant_mpx(m->client, q->ep);
  fcgi_client_count(m->client, q->ep, FCGI_COUNT_FALLBACK);
  q->no_mux = 1;
  fcgi_multi_restart(m, q, now); /* on a connection of its own */
}
