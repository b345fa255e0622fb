/*
 * fcgi_reuse.c: connection reuse (FCGI_KEEP_CONN). Checkout of an idle kept
 * connection when a request link opens, checkin when it settles idle and
 * clean, and the single retry on a fresh connection.
 *
 * Rule: retry once on a fresh connection only when the link was reused, no
 * byte came back on it since, and it failed (EOF, ECONNRESET, EPIPE) while
 * this request was still being sent (the server may have closed an idle
 * connection just as it was taken; nothing can have run twice).
 */
#include "fcgi_reuse.h"
#include "fcgi_client.h"

#include <errno.h>

struct link *fcgi_reuse_open(fcgi_multi *m, const fcgi_endpoint *ep,
                             const struct fcgi_link_policy *pol, int mux,
                             int want_keep, int64_t now, int *rc) {
  struct link *l = fcgi_link_new(m, ep, pol);
  *rc = ENOMEM;
  if (!l)
    return NULL;
  l->mux = mux;
  l->keep = want_keep;
  uint64_t cid = 0;
  int fd = want_keep ? fcgi_client_checkout(m->client, ep, now, &cid) : -1;
  if (fd >= 0) {
    l->fd = fd;
    l->reused = 1;
    l->conn_id = cid;
    *rc = 0;
    return l;
  }
  *rc = fcgi_link_connect(l, now);
  if (*rc) {
    fcgi_link_free(m, l);
    return NULL;
  }
  l->conn_id = fcgi_client_opened(m->client, ep);
  return l;
}

static int retry_ok(const struct link *l, const struct mreq *q, int rc) {
  return l->reused && l->in_since_attach == 0 && q->attempts == 1 &&
         q->conn.resp->bytes_in == 0 &&
         (rc == 0 || rc == ECONNRESET || rc == EPIPE) &&
         q->conn.state != FCGI_CONN_RECEIVING;
}

int fcgi_reuse_retry(fcgi_multi *m, struct link *l, struct mreq *q, int rc,
                     int64_t now) {
  if (!retry_ok(l, q, rc))
    return 0;
  fcgi_client_count(m->client, q->ep, FCGI_COUNT_RETRIED);
  fcgi_multi_restart(m, q, now);
  return 1;
}

int fcgi_reuse_idle(fcgi_multi *m, struct link *l, int64_t now) {
  if (!l->keep || !m->client)
    return 0;
  fcgi_client_checkin(m->client, l->ep, l->fd, l->conn_id, now);
  l->fd = -1;
  return 1;
}
