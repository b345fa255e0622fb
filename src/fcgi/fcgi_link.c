/*
 * fcgi_link.c: shared connections ("links"), the transport under the
 * GET_VALUES probe, kept connections and multiplexing. A link owns the
 * socket, an output queue and the record decoder, writes the attached
 * requests' records round robin and routes what comes back by request id.
 * What to do when a request ends, a link dies or goes idle is the opener's
 * policy (struct fcgi_link_policy); this file only carries bytes.
 *
 * Rules (see fcgi.h and docs/client-library.md):
 *  - A request that ends early on a one-request link closes the link
 *    (php-fpm ignores ABORT_REQUEST and then closes); a multiplexed link
 *    asks its policy (fcgi_mux.c aborts the id and keeps the link).
 *  - A record for an id not in flight (and not reserved) is a protocol
 *    error that ends every request on the link.
 */
#include "fcgi_link.h"
#include "fcgi_net.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINK_RECV_CHUNK 65536
#define LINK_RECV_ROUNDS 4

struct link *fcgi_link_new(fcgi_multi *m, const fcgi_endpoint *ep,
                           const struct fcgi_link_policy *pol) {
  struct link *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->dec = fcgi_decoder_new();
  if (!l->dec) {
    free(l);
    return NULL;
  }
  l->pol = pol;
  l->ep = ep;
  l->fd = -1;
  l->next_id = 1;
  l->max_reqs = 1;
  l->next = m->links;
  m->links = l;
  return l;
}

void fcgi_link_free(fcgi_multi *m, struct link *l) {
  for (struct link **pp = &m->links; *pp; pp = &(*pp)->next)
    if (*pp == l) {
      *pp = l->next;
      break;
    }
  fcgi_net_close(l->fd);
  free(l->out);
  fcgi_decoder_free(l->dec);
  fcgi_nvstream_clear(&l->nv);
  free(l->reqs);
  free(l->zombies);
  free(l);
}

/* A probe link ends (outcome as fcgi_link_policy.probe_end); l is freed. */
static void probe_end(fcgi_multi *m, struct link *l, int outcome, int64_t now) {
  if (l->pol && l->pol->probe_end)
    l->pol->probe_end(m, l, outcome, now);
  else
    fcgi_link_free(m, l);
}

static int link_queue(struct link *l, const uint8_t *p, size_t n) {
  if (l->out_off > 0 && l->out_off == l->out_len)
    l->out_off = l->out_len = 0;
  if (l->out_len + n > l->out_cap) {
    if (l->out_off > 0) {
      memmove(l->out, l->out + l->out_off, l->out_len - l->out_off);
      l->out_len -= l->out_off;
      l->out_off = 0;
    }
    size_t cap = l->out_cap ? l->out_cap : 4096;
    while (cap < l->out_len + n)
      cap *= 2;
    uint8_t *nb = realloc(l->out, cap);
    if (!nb)
      return -1;
    l->out = nb;
    l->out_cap = cap;
  }
  memcpy(l->out + l->out_len, p, n);
  l->out_len += n;
  return 0;
}

/* Put p in front of the queued management records (the unfinished rest of
 * a record must go out before anything else). */
static int link_queue_front(struct link *l, const uint8_t *p, size_t n) {
  size_t pending = l->out_len - l->out_off;
  if (pending)
    memmove(l->out, l->out + l->out_off, pending);
  l->out_off = 0;
  l->out_len = pending;
  if (link_queue(l, p, n) < 0) /* grows; bytes land at the end */
    return -1;
  memmove(l->out + n, l->out, pending);
  memcpy(l->out, p, n);
  return 0;
}

int fcgi_link_queue_mgmt(struct link *l, unsigned type, unsigned id,
                         const uint8_t *content, size_t n) {
  uint8_t rec[FCGI_HEADER_LEN + 64];
  size_t pad = (8 - n % 8) % 8;
  fcgi_header_put(rec, type, id, (unsigned)n, (unsigned)pad);
  if (n)
    memcpy(rec + FCGI_HEADER_LEN, content, n);
  memset(rec + FCGI_HEADER_LEN + n, 0, pad);
  return link_queue(l, rec, FCGI_HEADER_LEN + n + pad);
}

static int id_in_use(const struct link *l, unsigned id) {
  for (size_t i = 0; i < l->nreq; i++)
    if (l->reqs[i]->conn.opts.request_id == id)
      return 1;
  for (size_t i = 0; i < l->nzombie; i++)
    if (l->zombies[i] == id)
      return 1;
  return 0;
}

static unsigned link_alloc_id(struct link *l) {
  for (unsigned tries = 0; tries < 65535; tries++) {
    unsigned id = l->next_id;
    l->next_id = (uint16_t)(l->next_id == 65535 ? 1 : l->next_id + 1);
    if (!id_in_use(l, id))
      return id;
  }
  return 0;
}

void fcgi_link_detach(struct link *l, struct mreq *q) {
  if (l->cur == q) {
    if (link_queue_front(l, q->conn.wire + q->lsent, l->cur_left) < 0)
      l->dead = 1; /* framing cannot be kept: never reuse */
    l->cur = NULL;
  }
  if (q->lsent < q->conn.wire_len)
    l->keep = 0; /* part of it never went out: the server may wait for it */
  for (size_t i = 0; i < l->nreq; i++)
    if (l->reqs[i] == q) {
      l->reqs[i] = l->reqs[--l->nreq];
      break;
    }
  q->link = NULL;
}

int fcgi_link_add_zombie(struct link *l, unsigned id) {
  if (l->nzombie == l->zcap) {
    size_t cap = l->zcap ? l->zcap * 2 : 8;
    uint16_t *z = realloc(l->zombies, cap * sizeof *z);
    if (!z)
      return -1;
    l->zombies = z;
    l->zcap = cap;
  }
  l->zombies[l->nzombie++] = (uint16_t)id;
  return 0;
}

static int link_is_zombie(struct link *l, unsigned id, int end) {
  for (size_t i = 0; i < l->nzombie; i++)
    if (l->zombies[i] == id) {
      if (end)
        l->zombies[i] = l->zombies[--l->nzombie];
      return 1;
    }
  return 0;
}

void fcgi_wire_patch(uint8_t *w, size_t len, unsigned id, int keep) {
  size_t off = 0;
  if (len > 10)
    w[10] = (uint8_t)(keep ? (w[10] | FCGI_FLAG_KEEP_CONN)
                           : (w[10] & ~FCGI_FLAG_KEEP_CONN));
  while (off + FCGI_HEADER_LEN <= len) {
    size_t clen = ((size_t)w[off + 4] << 8) | w[off + 5];
    w[off + 2] = (uint8_t)(id >> 8);
    w[off + 3] = (uint8_t)id;
    off += FCGI_HEADER_LEN + clen + w[off + 6];
  }
}

int fcgi_link_attach(struct link *l, struct mreq *q, int64_t now) {
  unsigned id =
      l->mux ? link_alloc_id(l) : (q->opts.request_id ? q->opts.request_id : 1);
  if (!id)
    return -1;
  if (l->nreq == l->reqcap) {
    size_t cap = l->reqcap ? l->reqcap * 2 : 4;
    struct mreq **r = realloc(l->reqs, cap * sizeof *r);
    if (!r)
      return -1;
    l->reqs = r;
    l->reqcap = cap;
  }
  q->conn.opts.request_id = (uint16_t)id;
  q->conn.opts.keep_conn = 1;
  fcgi_wire_patch(q->conn.wire, q->conn.wire_len, id, 1);
  q->lsent = 0;
  l->reqs[l->nreq++] = q;
  l->keep = l->keep && q->opts.keep_conn;
  q->link = l;
  q->reused = l->reused;
  q->muxed = l->mux;
  q->conn_id = l->conn_id;
  if (!l->connecting)
    fcgi_conn_attached(&q->conn, now);
  return 0;
}

/* The earliest deadline of what waits on l. */
static int64_t link_deadline(const struct link *l) {
  int64_t d = l->probe ? l->probe_deadline : FCGI_NO_DEADLINE;
  for (size_t i = 0; i < l->nreq; i++)
    if (l->reqs[i]->conn.opts.deadline_ms < d)
      d = l->reqs[i]->conn.opts.deadline_ms;
  return d;
}

void fcgi_link_slice(struct link *l, int64_t now) {
  size_t left = l->ep->naddr - l->addr_index;
  int64_t d = link_deadline(l);
  l->addr_until = FCGI_NO_DEADLINE;
  if (l->connecting && left > 1 && d != FCGI_NO_DEADLINE) {
    int64_t slice = (d - now) / (int64_t)left;
    l->addr_until = now + (slice > 0 ? slice : 0);
  }
}

int fcgi_link_connect(struct link *l, int64_t now) {
  int rc = ENOENT;
  for (; l->addr_index < l->ep->naddr; l->addr_index++) {
    rc = fcgi_net_connect(l->ep, l->addr_index, &l->fd);
    if (rc == 0 || rc == EINPROGRESS)
      break;
    fcgi_net_close(l->fd);
    l->fd = -1;
    if (l->addr_index + 1 == l->ep->naddr)
      break;
  }
  l->connecting = rc == EINPROGRESS;
  fcgi_link_slice(l, now);
  return rc == EINPROGRESS ? 0 : rc;
}

/* ------------------------------------------------------ link traffic */

/* q ended before its END_REQUEST: the policy detaches it. Returns FCGI_OK,
 * or the error l must be closed with. */
static fcgi_err abandon(struct link *l, struct mreq *q) {
  if (l->pol && l->pol->abandon)
    return l->pol->abandon(l, q);
  fcgi_link_detach(l, q);
  return FCGI_EIO;
}

/* Close l after a failed abandon (err from abandon()). */
static void close_abandoned(fcgi_multi *m, struct link *l, fcgi_err err,
                            int64_t now) {
  fcgi_link_close_all(m, l, err,
                      err == FCGI_ENOMEM ? "out of memory aborting a request "
                                           "on a multiplexed connection"
                                         : NULL,
                      now);
}

/* Route one record. Returns -1 when the link must die (l->... intact),
 * 1 when l was freed (probe done), 0 otherwise. */
static int route(fcgi_multi *m, struct link *l, const struct fcgi_record *r,
                 int64_t now) {
  if (r->request_id == 0)
    return l->pol && l->pol->mgmt ? l->pol->mgmt(m, l, r, now) : 0;
  struct mreq *q = NULL;
  for (size_t i = 0; i < l->nreq && !q; i++)
    if (l->reqs[i]->conn.opts.request_id == r->request_id)
      q = l->reqs[i];
  if (!q) {
    if (link_is_zombie(l, r->request_id, r->type == FCGI_TYPE_END_REQUEST))
      return 0; /* late record of an aborted request: dropped */
    char why[160];
    snprintf(why, sizeof why,
             "%s record for request id %u, which is not in "
             "flight on this connection",
             fcgi_type_name(r->type), r->request_id);
    fcgi_link_close_all(m, l, FCGI_EPROTO, why, now);
    return -1;
  }
  size_t wire = FCGI_HEADER_LEN + r->content_len + r->padding_len;
  q->conn.resp->bytes_in += wire;
  if (!fcgi_conn_record(&q->conn, r, now))
    return 0;
  if (q->conn.resp->protocol_status >= 0 || !l->mux) {
    if (q->conn.resp->protocol_status < 0) {
      fcgi_link_detach(l, q); /* ended without END_REQUEST: link unusable */
      fcgi_link_close_all(m, l, FCGI_EIO, NULL, now);
      return -1;
    }
    fcgi_link_detach(l, q);
    if (l->pol && l->pol->ended)
      l->pol->ended(m, l, q, now);
    return 0;
  }
  fcgi_err err = abandon(l, q);
  if (err != FCGI_OK) {
    close_abandoned(m, l, err, now);
    return -1;
  }
  return 0;
}

void fcgi_link_close_all(fcgi_multi *m, struct link *l, fcgi_err err,
                         const char *why, int64_t now) {
  l->dead = 1;
  if (l->probe) {
    probe_end(m, l, 0, now);
    return;
  }
  while (l->nreq) {
    struct mreq *q = l->reqs[l->nreq - 1];
    fcgi_link_detach(l, q);
    if ((err == FCGI_EPROTO || err == FCGI_ENOTFCGI || err == FCGI_ENOMEM) &&
        why) {
      char msg[sizeof q->conn.resp->errmsg];
      snprintf(msg, sizeof msg, "%s: %s", fcgi_endpoint_str(l->ep), why);
      fcgi_conn_fail(&q->conn, err, now, msg);
    } else {
      fcgi_conn_fail(&q->conn, FCGI_EIO, now, NULL);
    }
  }
  fcgi_link_free(m, l);
}

/* The link died (rc 0 = EOF, else errno): every attached request ends or
 * is started again (the policy's retry). l is freed. */
static void link_lost(fcgi_multi *m, struct link *l, int rc, int64_t now) {
  l->dead = 1;
  if (l->probe) {
    probe_end(m, l, 0, now);
    return;
  }
  while (l->nreq) {
    struct mreq *q = l->reqs[l->nreq - 1];
    fcgi_link_detach(l, q);
    if (!(l->pol && l->pol->retry && l->pol->retry(m, l, q, rc, now)))
      fcgi_conn_lost(&q->conn, rc, now);
  }
  fcgi_link_free(m, l);
}

static size_t record_len_at(const uint8_t *w, size_t off) {
  return FCGI_HEADER_LEN + (((size_t)w[off + 4] << 8) | w[off + 5]) +
         w[off + 6];
}

static struct mreq *pick_next(struct link *l) {
  for (size_t k = 0; k < l->nreq; k++) {
    struct mreq *q = l->reqs[(l->rr + k) % l->nreq];
    if (q->lsent < q->conn.wire_len) {
      l->rr = (l->rr + k + 1) % l->nreq;
      return q;
    }
  }
  return NULL;
}

static int link_has_output(const struct link *l) {
  if (l->cur || l->out_off < l->out_len)
    return 1;
  for (size_t i = 0; i < l->nreq; i++)
    if (l->reqs[i]->lsent < l->reqs[i]->conn.wire_len)
      return 1;
  return 0;
}

/* Write whole records until the socket is full. Returns the errno of a
 * failed send (EPIPE, ...) or 0. */
static int link_send(struct link *l, int64_t now) {
  for (;;) {
    const uint8_t *p;
    size_t n, sent;
    if (l->cur) {
      p = l->cur->conn.wire + l->cur->lsent;
      n = l->cur_left;
    } else if (l->out_off < l->out_len) {
      p = l->out + l->out_off;
      n = l->out_len - l->out_off;
    } else if ((l->cur = pick_next(l)) != NULL) {
      l->cur_left = record_len_at(l->cur->conn.wire, l->cur->lsent);
      continue;
    } else {
      return 0;
    }
    int rc = fcgi_net_send(l->fd, p, n, &sent);
    if (rc)
      return rc;
    if (sent == 0)
      return 0;
    if (l->cur) {
      l->cur->lsent += sent;
      l->cur_left -= sent;
      fcgi_conn_sent(&l->cur->conn, l->cur->lsent, now);
      if (!l->cur_left)
        l->cur = NULL;
    } else {
      l->out_off += sent;
    }
  }
}

/* Read and route. Returns 1 when l is gone. */
static int link_recv(fcgi_multi *m, struct link *l, int64_t now) {
  uint8_t *buf = malloc(LINK_RECV_CHUNK);
  if (!buf)
    return 0; /* try again next round */
  int gone = 0;
  for (int round = 0; round < LINK_RECV_ROUNDS && !gone; round++) {
    size_t got;
    int rc = fcgi_net_recv(l->fd, buf, LINK_RECV_CHUNK, &got);
    if (rc == EAGAIN)
      break;
    if (rc || got == 0) {
      link_lost(m, l, rc, now);
      gone = 1;
      break;
    }
    l->in_since_attach += got;
    const uint8_t *p = buf;
    while (got > 0 && !gone) {
      struct fcgi_record rec;
      size_t used = 0;
      int d = fcgi_decoder_feed(l->dec, p, got, &used, &rec);
      p += used;
      got -= used;
      if (d < 0) {
        fcgi_link_close_all(m, l, l->dec->err, l->dec->errmsg, now);
        gone = 1;
      } else if (d == 1 && route(m, l, &rec, now) != 0) {
        gone = 1;
      }
    }
  }
  free(buf);
  return gone;
}

/* An idle link (no request, no zombie): the policy keeps it, or it is
 * closed. */
static void link_settle(fcgi_multi *m, struct link *l, int64_t now) {
  if (l->probe || l->nreq || l->connecting)
    return;
  int clean = !l->dead && l->nzombie == 0 && !link_has_output(l) &&
              fcgi_decoder_idle(l->dec);
  if (clean && l->pol && l->pol->idle)
    l->pol->idle(m, l, now);
  fcgi_link_free(m, l);
}

/* Connecting l failed on its last address: every request on it ends with
 * the connect error; l is freed. */
static void link_connect_failed(fcgi_multi *m, struct link *l, int rc,
                                int64_t now) {
  char msg[512];
  fcgi_err err = fcgi_net_explain_connect(
      l->ep, l->addr_index < l->ep->naddr ? l->addr_index : 0, rc, msg,
      sizeof msg);
  while (l->nreq) {
    struct mreq *q = l->reqs[l->nreq - 1];
    fcgi_link_detach(l, q);
    fcgi_conn_fail(&q->conn, err, now, msg);
  }
  if (l->probe)
    probe_end(m, l, -1, now);
  else
    fcgi_link_free(m, l);
}

/* Give up on the current address (failed or too slow); try the next. */
static void link_next_addr(fcgi_multi *m, struct link *l, int rc, int64_t now) {
  fcgi_net_close(l->fd);
  l->fd = -1;
  if (l->addr_index + 1 < l->ep->naddr) {
    l->addr_index++;
    rc = fcgi_link_connect(l, now);
  }
  if (rc || l->fd < 0)
    link_connect_failed(m, l, rc ? rc : ETIMEDOUT, now);
}

static void link_step(fcgi_multi *m, struct link *l, short rev, int64_t now) {
  if (l->connecting) {
    int rc = fcgi_net_connect_result(l->fd);
    if (rc) {
      link_next_addr(m, l, rc, now);
      return;
    }
    l->connecting = 0;
    for (size_t i = 0; i < l->nreq; i++)
      fcgi_conn_attached(&l->reqs[i]->conn, now);
    rev |= POLLOUT;
  }
  if ((rev & (POLLIN | POLLHUP | POLLERR)) && link_recv(m, l, now))
    return;
  if (rev & (POLLOUT | POLLERR)) {
    int rc = link_send(l, now);
    if (rc) {
      if (link_recv(m, l, now)) /* what the peer said before closing */
        return;
      link_lost(m, l, rc, now);
      return;
    }
  }
  link_settle(m, l, now);
}

static short link_events(const struct link *l) {
  if (l->connecting)
    return POLLOUT;
  return (short)(POLLIN | (link_has_output(l) ? POLLOUT : 0));
}

/* ------------------------------------------- the engine's transport */

static size_t xport_fds(fcgi_multi *m, struct pollfd *fds, size_t n, size_t i) {
  for (struct link *l = m->links; l; l = l->next)
    if (l->fd >= 0) {
      if (i < n)
        fds[i] = (struct pollfd){l->fd, link_events(l), 0};
      i++;
    }
  return i;
}

static int xport_step(fcgi_multi *m, int fd, short rev, int64_t now) {
  for (struct link *l = m->links; l; l = l->next)
    if (l->fd == fd) {
      link_step(m, l, rev, now);
      return 1;
    }
  return 0;
}

static void xport_sweep(fcgi_multi *m, int64_t now) {
  struct link *nx;
  for (struct link *l = m->links; l; l = nx) {
    nx = l->next;
    if (l->connecting && now >= l->addr_until &&
        l->addr_index + 1 < l->ep->naddr)
      link_next_addr(m, l, 0, now); /* this address is too slow */
    else if (l->probe && now >= l->probe_deadline)
      probe_end(m, l, 0, now);
  }
}

static int64_t xport_due(const fcgi_multi *m) {
  int64_t first = FCGI_NO_DEADLINE;
  for (const struct link *l = m->links; l; l = l->next) {
    int64_t due = l->probe ? l->probe_deadline : FCGI_NO_DEADLINE;
    if (l->connecting && l->addr_until < due)
      due = l->addr_until;
    if (due < first)
      first = due;
  }
  return first;
}

/* q ended early (deadline, cancel) while attached to a link. */
static void xport_abandon(fcgi_multi *m, struct mreq *q, int64_t now) {
  struct link *l = q->link;
  fcgi_err err = abandon(l, q);
  if (err != FCGI_OK) {
    close_abandoned(m, l, err, now);
    return;
  }
  if (l->nreq == 0)
    fcgi_link_free(m, l); /* closing is the surest abort when nothing else
                             runs */
}

static void xport_free_all(fcgi_multi *m) {
  while (m->links)
    fcgi_link_free(m, m->links);
}

const struct fcgi_xport_ops fcgi_link_xport = {xport_fds,     xport_step,
                                               xport_sweep,   xport_due,
                                               xport_abandon, xport_free_all};
