/*
 * fcgi_multi.c: the engine. Many requests under one poll(), the earliest
 * deadline as the poll timeout, cancellation via the cancel handles'
 * eventfds, finished requests queued for fcgi_multi_next_done (curl multi
 * shape). fcgi_do is a one-request loop over it.
 *
 * Two kinds of transport:
 *  - a request on a connection of its own (fcgi_conn owns the socket):
 *    the default, and always without a client;
 *  - a shared connection ("link", this file) for engines bound to a client
 *    when the request asked for keep_conn or multiplex: the link owns the
 *    socket, an output queue and the record decoder, and routes records by
 *    request id to attached fcgi_conns (fcgi_conn_record). A link can be a
 *    GET_VALUES probe, a kept connection (one request at a time) or a
 *    multiplexed one (many ids in flight).
 *
 * Rules (see fcgi.h and docs/client-library.md):
 *  - Never two requests in flight on one connection unless the server said
 *    FCGI_MPXS_CONNS=1 (AUTO) or never answered (FORCE).
 *  - A request that ends early (deadline, cancel, a cap) on a multiplexed
 *    link gets ABORT_REQUEST; its id stays reserved until its END_REQUEST
 *    and its late records are dropped. On a one-request link the link is
 *    closed instead (php-fpm ignores ABORT_REQUEST and then closes).
 *  - Retry once on a fresh connection only when the link was reused, no
 *    byte came back on it since, and it failed (EOF, ECONNRESET, EPIPE)
 *    while this request was still being sent.
 */
#include "fcgi_client.h"
#include "fcgi_conn.h"
#include "fcgi_net.h"
#include "fcgi_trace.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINK_RECV_CHUNK 65536
#define LINK_RECV_ROUNDS 4
#define MUX_DEFAULT_MAX 256

struct link;

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

struct link {
  struct link *next;
  const fcgi_endpoint *ep;
  int fd;
  int connecting;
  size_t addr_index;
  uint64_t conn_id;
  int reused, mux, probe, keep;
  int dead;                 /* being torn down: never attach to it */
  uint64_t in_since_attach; /* bytes received */
  /* Writing: whole records only, round robin over the attached requests
   * (so records of concurrent requests interleave, as FastCGI intends and
   * libfcgi needs to notice a second request); out holds management
   * records and the rest of a record whose request went away, and goes
   * first at a record boundary. */
  uint8_t *out;
  size_t out_off, out_len, out_cap;
  struct mreq *cur; /* request whose record is being written */
  size_t cur_left;  /* bytes of that record still to write */
  size_t rr;        /* round-robin position in reqs */
  struct fcgi_decoder *dec;
  struct fcgi_nvstream nv;
  struct mreq **reqs;
  size_t nreq, reqcap;
  uint16_t *zombies;
  size_t nzombie, zcap;
  unsigned max_reqs;
  uint16_t next_id;
  int64_t probe_deadline;
  int64_t addr_until; /* connecting: move on to the next address then */
};

struct fcgi_multi {
  fcgi_client *client;
  struct mreq *running;
  struct mreq *done_head, *done_tail;
  int n_running, n_pending;
  struct link *links;
  struct pollfd *pfds; /* pfds_small, or malloc'ed when more are needed */
  size_t pfds_cap;
  struct pollfd pfds_small[8]; /* the usual few sockets: no allocation */
};

fcgi_multi *fcgi_multi_new(void) {
  fcgi_multi *m = calloc(1, sizeof(fcgi_multi));
  if (m) {
    m->pfds = m->pfds_small;
    m->pfds_cap = sizeof m->pfds_small / sizeof m->pfds_small[0];
  }
  return m;
}

fcgi_multi *fcgi_multi_new_client(fcgi_client *cl) {
  fcgi_multi *m = fcgi_multi_new();
  if (m)
    m->client = cl;
  return m;
}

/* ------------------------------------------------------------- links */

static struct link *link_new(fcgi_multi *m, const fcgi_endpoint *ep) {
  struct link *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->dec = fcgi_decoder_new();
  if (!l->dec) {
    free(l);
    return NULL;
  }
  l->ep = ep;
  l->fd = -1;
  l->next_id = 1;
  l->max_reqs = 1;
  l->next = m->links;
  m->links = l;
  return l;
}

static void link_free(fcgi_multi *m, struct link *l) {
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

static int link_queue_mgmt(struct link *l, unsigned type, unsigned id,
                           const uint8_t *content, size_t n) {
  uint8_t rec[FCGI_HEADER_LEN + 64];
  size_t pad = (8 - n % 8) % 8;
  fcgi_header_put(rec, type, id, (unsigned)n, (unsigned)pad);
  if (n)
    memcpy(rec + FCGI_HEADER_LEN, content, n);
  memset(rec + FCGI_HEADER_LEN + n, 0, pad);
  return link_queue(l, rec, FCGI_HEADER_LEN + n + pad);
}

static int link_queue_get_values(struct link *l) {
  static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                      "FCGI_MPXS_CONNS"};
  uint8_t nv[64];
  size_t n = 0;
  for (size_t i = 0; i < 3; i++)
    n += fcgi_pair_put(nv + n, names[i], strlen(names[i]), "", 0);
  return link_queue_mgmt(l, FCGI_TYPE_GET_VALUES, 0, nv, n);
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

static void link_detach(struct link *l, struct mreq *q) {
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

static void link_add_zombie(struct link *l, unsigned id) {
  if (l->nzombie == l->zcap) {
    size_t cap = l->zcap ? l->zcap * 2 : 8;
    uint16_t *z = realloc(l->zombies, cap * sizeof *z);
    if (!z)
      return; /* then its late records are a protocol error: link dies */
    l->zombies = z;
    l->zcap = cap;
  }
  l->zombies[l->nzombie++] = (uint16_t)id;
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

/* -------------------------------------------------------- done queue */

static void push_done_list(fcgi_multi *m, struct mreq *q) {
  q->next = NULL;
  if (m->done_tail)
    m->done_tail->next = q;
  else
    m->done_head = q;
  m->done_tail = q;
}

static void emit_trace(struct mreq *q) {
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

/* q has ended (its conn is DONE): it leaves the running list's count. */
static void finish_req(fcgi_multi *m, struct mreq *q) {
  emit_trace(q);
  fcgi_conn_cleanup(&q->conn);
  push_done_list(m, q);
}

/* ----------------------------------------------------------- placing */

static int place(fcgi_multi *m, struct mreq *q, int64_t now);

/* Patch a built wire for another request id and the KEEP_CONN flag. */
static void wire_patch(uint8_t *w, size_t len, unsigned id, int keep) {
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

/* Attach q to l: give it an id, queue its wire. */
static int attach(struct link *l, struct mreq *q, int64_t now) {
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
  wire_patch(q->conn.wire, q->conn.wire_len, id, 1);
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

/* Start connecting l; 0 when pending or done, else errno of the last
 * address (l->fd -1). */
/* The earliest deadline of what waits on l. */
static int64_t link_deadline(const struct link *l) {
  int64_t d = l->probe ? l->probe_deadline : FCGI_NO_DEADLINE;
  for (size_t i = 0; i < l->nreq; i++)
    if (l->reqs[i]->conn.opts.deadline_ms < d)
      d = l->reqs[i]->conn.opts.deadline_ms;
  return d;
}

/* While more addresses remain, a pending connect gets an equal share of
 * the time left (as fcgi_conn does for a connection of its own). */
static void link_slice(struct link *l, int64_t now) {
  size_t left = l->ep->naddr - l->addr_index;
  int64_t d = link_deadline(l);
  l->addr_until = FCGI_NO_DEADLINE;
  if (l->connecting && left > 1 && d != FCGI_NO_DEADLINE) {
    int64_t slice = (d - now) / (int64_t)left;
    l->addr_until = now + (slice > 0 ? slice : 0);
  }
}

static int link_connect(struct link *l, int64_t now) {
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
  link_slice(l, now);
  return rc == EINPROGRESS ? 0 : rc;
}

/* A new link to ep (not probe): connect or take an idle one. NULL with
 * *rc set (errno) when the connect failed at once, or ENOMEM. */
static struct link *link_open(fcgi_multi *m, const fcgi_endpoint *ep, int mux,
                              int want_keep, int64_t now, int *rc) {
  struct link *l = link_new(m, ep);
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
  *rc = link_connect(l, now);
  if (*rc) {
    link_free(m, l);
    return NULL;
  }
  l->conn_id = fcgi_client_opened(m->client, ep);
  return l;
}

static unsigned mux_limit(fcgi_multi *m, const struct fcgi_caps *caps) {
  struct fcgi_client_opts o;
  fcgi_client_opts_get(m->client, &o);
  unsigned lim = o.max_mux ? o.max_mux : MUX_DEFAULT_MAX;
  if (!o.max_mux && caps->max_reqs > 0 && (unsigned long)caps->max_reqs < lim)
    lim = (unsigned)caps->max_reqs;
  return lim ? lim : 1;
}

static struct link *find_probe(fcgi_multi *m, const fcgi_endpoint *ep) {
  for (struct link *l = m->links; l; l = l->next)
    if (l->probe &&
        strcmp(fcgi_endpoint_str(l->ep), fcgi_endpoint_str(ep)) == 0)
      return l;
  return NULL;
}

static int start_probe(fcgi_multi *m, const fcgi_endpoint *ep, int64_t now) {
  struct fcgi_client_opts o;
  fcgi_client_opts_get(m->client, &o);
  struct link *l = link_new(m, ep);
  if (!l)
    return -1;
  l->probe = 1;
  l->probe_deadline = now + o.probe_timeout_ms;
  fcgi_client_count(m->client, ep, FCGI_COUNT_PROBE);
  int rc = link_queue_get_values(l) < 0 ? ENOMEM : link_connect(l, now);
  if (rc) {
    link_free(m, l);
    return rc;
  }
  return 0;
}

/* The endpoint's mux decision: 1 multiplex, 0 not, -1 wait for a probe. */
static int mux_decision(fcgi_multi *m, struct mreq *q, int64_t now,
                        struct fcgi_caps *caps) {
  if (q->no_mux || q->opts.multiplex == FCGI_MUX_OFF)
    return 0;
  fcgi_client_caps(m->client, q->ep, caps);
  if (caps->cant_mpx)
    return 0;
  if (caps->state == FCGI_CAPS_UNPROBED) {
    if (find_probe(m, q->ep))
      return -1;
    if (start_probe(m, q->ep, now) != 0)
      return 0; /* cannot probe: no multiplexing, the request says why */
    return -1;
  }
  if (caps->state == FCGI_CAPS_KNOWN)
    return caps->mpxs_conns == 1;
  return q->opts.multiplex == FCGI_MUX_FORCE;
}

static struct link *find_mux_link(fcgi_multi *m, const fcgi_endpoint *ep) {
  for (struct link *l = m->links; l; l = l->next)
    if (l->mux && !l->probe && !l->dead && l->fd >= 0 &&
        l->nreq < l->max_reqs &&
        strcmp(fcgi_endpoint_str(l->ep), fcgi_endpoint_str(ep)) == 0)
      return l;
  return NULL;
}

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

/* q on a connection of its own (the default transport). */
static int place_own(fcgi_multi *m, struct mreq *q, int64_t now) {
  if (m->client)
    q->conn_id = fcgi_client_opened(m->client, q->ep);
  fcgi_conn_connect(&q->conn, now);
  return q->conn.state == FCGI_CONN_DONE;
}

/* Put q on a transport. Returns 1 when q is already DONE. */
static int place(fcgi_multi *m, struct mreq *q, int64_t now) {
  q->waiting = 0;
  if (!m->client || (!q->opts.keep_conn && q->opts.multiplex == FCGI_MUX_OFF))
    return place_own(m, q, now);
  struct fcgi_caps caps;
  int mux = mux_decision(m, q, now, &caps);
  if (mux < 0) {
    q->waiting = 1;
    return 0;
  }
  if (!mux && !q->opts.keep_conn) {
    q->conn.opts.keep_conn = 0;
    wire_patch(q->conn.wire, q->conn.wire_len, q->conn.opts.request_id, 0);
    return place_own(m, q, now);
  }
  struct link *l = mux ? find_mux_link(m, q->ep) : NULL;
  int fresh = 0;
  if (!l) {
    int rc;
    l = link_open(m, q->ep, mux, q->opts.keep_conn, now, &rc);
    if (!l) {
      fail_connect(q, q->ep, rc, now);
      return 1;
    }
    l->max_reqs = mux ? mux_limit(m, &caps) : 1;
    fresh = 1;
  }
  int64_t until = l->addr_until;
  if (attach(l, q, now) < 0) {
    fcgi_conn_fail(&q->conn, FCGI_ENOMEM, now, "out of memory");
    if (fresh && l->nreq == 0)
      link_free(m, l);
    return 1;
  }
  /* Servers that answer GET_VALUES only once a request came (libfcgi):
   * ask again on the first forced link; the answer is taken whenever. */
  if (fresh && mux && caps.state == FCGI_CAPS_NO_ANSWER)
    link_queue_get_values(l);
  if (l->mux)
    fcgi_client_in_flight(m->client, q->ep, (unsigned)l->nreq);
  if (l->connecting) /* its deadline may be the earliest now */
    link_slice(l, now);
  if (l->addr_until > until && !fresh)
    l->addr_until = until; /* never extend a slice already running */
  return 0;
}

/* Start q again from scratch on a new connection (retry or fallback). */
static int restart(fcgi_multi *m, struct mreq *q, int64_t now) {
  struct fcgi_call_opts o = q->opts;
  q->attempts++;
  fcgi_conn_cleanup(&q->conn);
  fcgi_err err =
      fcgi_conn_setup(&q->conn, q->ep, q->rq, &o, q->conn.resp, now,
                      q->opts.traceparent ? q->tr.traceparent : NULL);
  q->conn.t_start = q->t_add; /* times stay relative to the first add */
  if (err != FCGI_OK) {
    q->conn.resp->err = err;
    q->conn.state = FCGI_CONN_DONE;
    return 1;
  }
  q->reused = q->muxed = 0;
  return place(m, q, now);
}

/* ------------------------------------------------------ link traffic */

/* Put the requests that wait for ep's probe on their transports. */
static int waits_for(const struct mreq *q, const fcgi_endpoint *ep) {
  return q->waiting &&
         strcmp(fcgi_endpoint_str(q->ep), fcgi_endpoint_str(ep)) == 0;
}

/* Place the requests that waited for ep's probe, in the order they were
 * added (the running list is newest first). */
static void release_waiters(fcgi_multi *m, const fcgi_endpoint *ep, int no_mux,
                            int64_t now) {
  size_t n = 0, i = 0;
  for (struct mreq *q = m->running; q; q = q->next)
    n += (size_t)waits_for(q, ep);
  struct mreq **v = n ? malloc(n * sizeof *v) : NULL;
  for (struct mreq *q = m->running; q && v; q = q->next)
    if (waits_for(q, ep))
      v[i++] = q;
  while (v && i-- > 0) {
    v[i]->no_mux |= no_mux;
    if (fcgi_conn_timer(&v[i]->conn) > now) /* else sweep expires it */
      place(m, v[i], now);
  }
  if (!v) /* out of memory: newest first, still correct */
    for (struct mreq *q = m->running; q; q = q->next)
      if (waits_for(q, ep)) {
        q->no_mux |= no_mux;
        place(m, q, now);
      }
  free(v);
}

/* outcome: 1 answered, 0 no answer (deadline, EOF), -1 connect failed
 * (nothing is cached; the waiting requests go without multiplexing and
 * meet the connect error themselves). */
static void probe_done(fcgi_multi *m, struct link *l, int outcome,
                       int64_t now) {
  const fcgi_endpoint *ep = l->ep;
  if (outcome == 0)
    fcgi_client_caps_no_answer(m->client, ep);
  link_free(m, l); /* never reused: php-fpm <= 8.2.12 closes it anyway */
  release_waiters(m, ep, outcome < 0, now);
}

/* An id-0 record: GET_VALUES_RESULT is taken on any link. Returns 1 when
 * it completed a probe (l is freed). */
static int on_mgmt(fcgi_multi *m, struct link *l, const struct fcgi_record *r,
                   int64_t now) {
  if (r->type != FCGI_TYPE_GET_VALUES_RESULT || !m->client)
    return 0; /* UNKNOWN_TYPE and the like change nothing */
  if (fcgi_nvstream_append(&l->nv, r->content, r->content_len) != FCGI_OK)
    return 0;
  fcgi_client_caps_result(m->client, l->ep, l->nv.buf, l->nv.len);
  fcgi_nvstream_clear(&l->nv);
  if (!l->probe)
    return 0;
  probe_done(m, l, 1, now);
  return 1;
}

/* An attached request ended while its link lives on. */
static void req_ended(fcgi_multi *m, struct link *l, struct mreq *q,
                      int64_t now) {
  link_detach(l, q);
  fcgi_err err = q->conn.resp->err;
  if (err == FCGI_ECANTMPX && l->mux && q->attempts == 1) {
    fcgi_client_caps_cant_mpx(m->client, q->ep);
    fcgi_client_count(m->client, q->ep, FCGI_COUNT_FALLBACK);
    q->no_mux = 1;
    if (!restart(m, q, now))
      return; /* running again on a connection of its own */
  }
  (void)now;
}

/* A request ended early with its END_REQUEST not read (deadline, cancel,
 * cap, on_body): abort it on a multiplexed link, else the link must go. */
static int link_abandon(struct link *l, struct mreq *q) {
  unsigned id = q->conn.opts.request_id;
  int begun = q->lsent > 0;
  link_detach(l, q); /* a record half written is finished first */
  if (!l->mux)
    return -1;
  if (!begun)
    return 0; /* the server never heard of it */
  link_add_zombie(l, id);
  return link_queue_mgmt(l, FCGI_TYPE_ABORT_REQUEST, id, NULL, 0);
}

static void link_close_all(fcgi_multi *m, struct link *l, fcgi_err err,
                           const char *why, int64_t now);

/* Route one record. Returns -1 when the link must die (l->... intact),
 * 1 when l was freed (probe done), 0 otherwise. */
static int route(fcgi_multi *m, struct link *l, const struct fcgi_record *r,
                 int64_t now) {
  if (r->request_id == 0)
    return on_mgmt(m, l, r, now);
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
    link_close_all(m, l, FCGI_EPROTO, why, now);
    return -1;
  }
  size_t wire = FCGI_HEADER_LEN + r->content_len + r->padding_len;
  q->conn.resp->bytes_in += wire;
  if (!fcgi_conn_record(&q->conn, r, now))
    return 0;
  if (q->conn.resp->protocol_status >= 0 || !l->mux) {
    if (q->conn.resp->protocol_status < 0) {
      link_detach(l, q); /* ended without END_REQUEST: link unusable */
      link_close_all(m, l, FCGI_EIO, NULL, now);
      return -1;
    }
    req_ended(m, l, q, now);
    return 0;
  }
  if (link_abandon(l, q) < 0) {
    link_close_all(m, l, FCGI_EIO, NULL, now);
    return -1;
  }
  return 0;
}

static int retry_ok(const struct link *l, const struct mreq *q, int rc) {
  return l->reused && l->in_since_attach == 0 && q->attempts == 1 &&
         q->conn.resp->bytes_in == 0 &&
         (rc == 0 || rc == ECONNRESET || rc == EPIPE) &&
         q->conn.state != FCGI_CONN_RECEIVING;
}

/* The link died (rc 0 = EOF, else errno; or a protocol error when err is
 * set): every attached request ends or is retried. l is freed. */
static void link_close_all(fcgi_multi *m, struct link *l, fcgi_err err,
                           const char *why, int64_t now) {
  l->dead = 1;
  if (l->probe) {
    probe_done(m, l, 0, now);
    return;
  }
  while (l->nreq) {
    struct mreq *q = l->reqs[l->nreq - 1];
    link_detach(l, q);
    if (err == FCGI_EPROTO && why) {
      char msg[sizeof q->conn.resp->errmsg];
      snprintf(msg, sizeof msg, "%s: %s", fcgi_endpoint_str(l->ep), why);
      fcgi_conn_fail(&q->conn, err, now, msg);
    } else {
      fcgi_conn_fail(&q->conn, FCGI_EIO, now, NULL);
    }
  }
  link_free(m, l);
}

static void link_lost(fcgi_multi *m, struct link *l, int rc, int64_t now) {
  l->dead = 1;
  if (l->probe) {
    probe_done(m, l, 0, now);
    return;
  }
  while (l->nreq) {
    struct mreq *q = l->reqs[l->nreq - 1];
    int again = retry_ok(l, q, rc);
    link_detach(l, q);
    if (again) {
      fcgi_client_count(m->client, q->ep, FCGI_COUNT_RETRIED);
      restart(m, q, now);
    } else {
      fcgi_conn_lost(&q->conn, rc, now);
    }
  }
  link_free(m, l);
}

/* Returns errno of a failed send (EPIPE...), 0 otherwise. */
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
        link_close_all(m, l, l->dec->err, l->dec->errmsg, now);
        gone = 1;
      } else if (d == 1 && route(m, l, &rec, now) != 0) {
        gone = 1;
      }
    }
  }
  free(buf);
  return gone;
}

/* An idle link (no request, no zombie): keep it or close it. */
static void link_settle(fcgi_multi *m, struct link *l, int64_t now) {
  if (l->probe || l->nreq || l->connecting)
    return;
  int clean = !l->dead && l->nzombie == 0 && !link_has_output(l) &&
              fcgi_decoder_idle(l->dec);
  if (l->keep && clean && m->client) {
    fcgi_client_checkin(m->client, l->ep, l->fd, l->conn_id, now);
    l->fd = -1;
  }
  link_free(m, l);
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
    link_detach(l, q);
    fcgi_conn_fail(&q->conn, err, now, msg);
  }
  if (l->probe)
    probe_done(m, l, -1, now);
  else
    link_free(m, l);
}

/* Give up on the current address (failed or too slow); try the next. */
static void link_next_addr(fcgi_multi *m, struct link *l, int rc, int64_t now) {
  fcgi_net_close(l->fd);
  l->fd = -1;
  if (l->addr_index + 1 < l->ep->naddr) {
    l->addr_index++;
    rc = link_connect(l, now);
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

/* ------------------------------------------------------------ engine */

static void free_done_list(struct mreq *q) {
  while (q) {
    struct mreq *next = q->next;
    fcgi_conn_cleanup(&q->conn);
    free(q);
    q = next;
  }
}

void fcgi_multi_free(fcgi_multi *m) {
  if (!m)
    return;
  int64_t now = fcgi_now_ms();
  for (struct mreq *q = m->running; q; q = q->next) {
    fcgi_conn_abort(&q->conn, FCGI_ECANCELED, "cancelled (engine freed)", now);
    q->link = NULL;
  }
  while (m->links)
    link_free(m, m->links);
  free_done_list(m->running);
  free_done_list(m->done_head);
  if (m->pfds != m->pfds_small)
    free(m->pfds);
  free(m);
}

/* q ended early (deadline, cancel) while attached to a link. */
static void abandon_attached(fcgi_multi *m, struct mreq *q, int64_t now) {
  struct link *l = q->link;
  if (link_abandon(l, q) < 0) {
    link_close_all(m, l, FCGI_EIO, NULL, now);
    return;
  }
  if (l->nreq == 0)
    link_free(m, l); /* closing is the surest abort when nothing else runs */
}

/* Expire or cancel what is due; move finished requests to the done queue. */
static void sweep(fcgi_multi *m, int64_t now) {
  struct link *nx;
  for (struct link *l = m->links; l; l = nx) {
    nx = l->next;
    if (l->connecting && now >= l->addr_until &&
        l->addr_index + 1 < l->ep->naddr)
      link_next_addr(m, l, 0, now); /* this address is too slow */
    else if (l->probe && now >= l->probe_deadline)
      probe_done(m, l, 0, now);
  }
  struct mreq **pp = &m->running;
  while (*pp) {
    struct mreq *q = *pp;
    struct fcgi_conn *c = &q->conn;
    if (!q->link && !q->waiting && c->state == FCGI_CONN_CONNECTING &&
        now >= fcgi_conn_timer(c))
      fcgi_conn_on_timer(c, now);
    if (c->state != FCGI_CONN_DONE && fcgi_cancel_is_triggered(c->opts.cancel))
      fcgi_conn_abort(c, FCGI_ECANCELED, "cancelled", now);
    if (c->state != FCGI_CONN_DONE && now >= c->opts.deadline_ms)
      fcgi_conn_abort(c, FCGI_ETIMEDOUT, "timed out", now);
    if (c->state == FCGI_CONN_DONE && q->link)
      abandon_attached(m, q, now);
    if (c->state == FCGI_CONN_DONE) {
      *pp = q->next;
      m->n_running--;
      finish_req(m, q);
    } else {
      pp = &q->next;
    }
  }
}

fcgi_err fcgi_multi_add(fcgi_multi *m, const fcgi_endpoint *ep,
                        const fcgi_request *rq,
                        const struct fcgi_call_opts *opts,
                        struct fcgi_response *resp, void *user) {
  if (!m)
    return FCGI_EINVAL;
  struct mreq *q = calloc(1, sizeof *q);
  if (!q)
    return FCGI_ENOMEM;
  int64_t now = fcgi_now_ms();
  if (opts)
    q->opts = *opts;
  if (q->opts.traceparent &&
      fcgi_trace_context(q->opts.traceparent_in, &q->tr) < 0) {
    free(q);
    return FCGI_EINVAL;
  }
  q->opts.traceparent_in = NULL; /* borrowed only during this call */
  fcgi_err err =
      fcgi_conn_setup(&q->conn, ep, rq, opts, resp, now,
                      q->opts.traceparent ? q->tr.traceparent : NULL);
  if (err != FCGI_OK) {
    free(q);
    return err;
  }
  q->ep = ep;
  q->rq = rq;
  q->user = user;
  q->attempts = 1;
  q->t_add = now;
  q->real_add = fcgi_net_realtime_ns();
  m->n_pending++;
  q->next = m->running;
  m->running = q;
  m->n_running++;
  if (place(m, q, now) && m->running == q) {
    m->running = q->next;
    m->n_running--;
    finish_req(m, q);
  }
  return FCGI_OK;
}

static int timeout_ms(const fcgi_multi *m, int64_t now, int max_wait_ms) {
  int64_t t = max_wait_ms < 0 ? INT64_MAX : max_wait_ms;
  for (const struct mreq *q = m->running; q; q = q->next) {
    int64_t left = fcgi_conn_timer(&q->conn) - now;
    if (left < t)
      t = left < 0 ? 0 : left;
  }
  for (const struct link *l = m->links; l; l = l->next) {
    int64_t due = l->probe ? l->probe_deadline : FCGI_NO_DEADLINE;
    if (l->connecting && l->addr_until < due)
      due = l->addr_until;
    if (due != FCGI_NO_DEADLINE && due - now < t)
      t = due - now < 0 ? 0 : due - now;
  }
  if (t == INT64_MAX)
    return -1;
  return t > 60000 ? 60000 : (int)t;
}

int fcgi_multi_timeout_ms(fcgi_multi *m) {
  return m ? timeout_ms(m, fcgi_now_ms(), -1) : -1;
}

size_t fcgi_multi_fds(fcgi_multi *m, struct pollfd *fds, size_t n) {
  size_t i = 0;
  if (!m)
    return 0;
#define PUT(f, ev)                                                             \
  do {                                                                         \
    if (i < n)                                                                 \
      fds[i] = (struct pollfd){(f), (ev), 0};                                  \
    i++;                                                                       \
  } while (0)
  for (struct mreq *q = m->running; q; q = q->next) {
    if (!q->link && !q->waiting && q->conn.fd >= 0)
      PUT(q->conn.fd, fcgi_conn_events(&q->conn));
    if (q->conn.opts.cancel)
      PUT(fcgi_cancel_fd(q->conn.opts.cancel), POLLIN);
  }
  for (struct link *l = m->links; l; l = l->next)
    if (l->fd >= 0)
      PUT(l->fd, link_events(l));
#undef PUT
  return i;
}

/* Step whatever owns fd. */
static void step_fd(fcgi_multi *m, int fd, short rev, int64_t now) {
  for (struct link *l = m->links; l; l = l->next)
    if (l->fd == fd) {
      link_step(m, l, rev, now);
      return;
    }
  for (struct mreq *q = m->running; q; q = q->next)
    if (!q->link && q->conn.fd == fd && q->conn.state != FCGI_CONN_DONE) {
      fcgi_conn_step(&q->conn, rev, now);
      return;
    }
}

int fcgi_multi_perform(fcgi_multi *m, const struct pollfd *fds, size_t n,
                       int64_t now) {
  if (!m)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (fds[i].revents && fds[i].fd >= 0)
      step_fd(m, fds[i].fd, fds[i].revents, now);
  sweep(m, now);
  return m->n_running;
}

int fcgi_multi_poll(fcgi_multi *m, int max_wait_ms) {
  if (!m)
    return 0;
  int64_t now = fcgi_now_ms();
  sweep(m, now);
  if (!m->running)
    return 0;
  size_t need = fcgi_multi_fds(m, m->pfds, m->pfds_cap);
  if (need > m->pfds_cap) {
    struct pollfd *p =
        realloc(m->pfds == m->pfds_small ? NULL : m->pfds, need * sizeof *p);
    if (!p) {
      for (struct mreq *q = m->running; q; q = q->next)
        fcgi_conn_abort(&q->conn, FCGI_ENOMEM, "out of memory", now);
      sweep(m, now);
      return m->n_running;
    }
    m->pfds = p;
    m->pfds_cap = need;
    fcgi_multi_fds(m, m->pfds, m->pfds_cap);
  }
  fcgi_net_poll(m->pfds, need, timeout_ms(m, now, max_wait_ms));
  return fcgi_multi_perform(m, m->pfds, need, fcgi_now_ms());
}

int fcgi_multi_next_done(fcgi_multi *m, struct fcgi_response **resp,
                         void **user) {
  if (!m || !m->done_head)
    return 0;
  struct mreq *q = m->done_head;
  m->done_head = q->next;
  if (!m->done_head)
    m->done_tail = NULL;
  if (resp)
    *resp = q->conn.resp;
  if (user)
    *user = q->user;
  m->n_pending--;
  free(q);
  return 1;
}

int fcgi_multi_pending(const fcgi_multi *m) {
  return m ? m->n_pending : 0;
}

void fcgi_multi_run(fcgi_multi *m) {
  while (fcgi_multi_poll(m, -1) > 0)
    ;
}

static fcgi_err do_one(fcgi_multi *m, const fcgi_endpoint *ep,
                       const fcgi_request *rq,
                       const struct fcgi_call_opts *opts,
                       struct fcgi_response *resp) {
  if (!resp) {
    fcgi_multi_free(m);
    return FCGI_EINVAL;
  }
  fcgi_err err = m ? fcgi_multi_add(m, ep, rq, opts, resp, NULL) : FCGI_ENOMEM;
  if (err != FCGI_OK) {
    fcgi_multi_free(m);
    fcgi_response_clear(resp);
    resp->err = err;
    snprintf(resp->errmsg, sizeof resp->errmsg, "%s: %s",
             ep ? fcgi_endpoint_str(ep) : "(no endpoint)",
             err == FCGI_EINVAL ? "invalid request (a param over 65527 "
                                  "encoded bytes, an invalid traceparent, "
                                  "or a NULL argument)"
                                : fcgi_strerror(err));
    return err;
  }
  fcgi_multi_run(m);
  fcgi_multi_next_done(m, NULL, NULL);
  fcgi_multi_free(m);
  return resp->err;
}

fcgi_err fcgi_do(const fcgi_endpoint *ep, const fcgi_request *rq,
                 const struct fcgi_call_opts *opts,
                 struct fcgi_response *resp) {
  return do_one(resp ? fcgi_multi_new() : NULL, ep, rq, opts, resp);
}

fcgi_err fcgi_client_do(fcgi_client *cl, const fcgi_endpoint *ep,
                        const fcgi_request *rq,
                        const struct fcgi_call_opts *opts,
                        struct fcgi_response *resp) {
  return do_one(resp ? fcgi_multi_new_client(cl) : NULL, ep, rq, opts, resp);
}

fcgi_err fcgi_client_probe(fcgi_client *cl, const fcgi_endpoint *ep,
                           int64_t deadline_ms, struct fcgi_caps *out,
                           char *errbuf, size_t errlen) {
  char msg[512] = "";
  fcgi_err err = FCGI_OK;
  if (!cl || !ep)
    return FCGI_EINVAL;
  fcgi_multi *m = fcgi_multi_new_client(cl);
  if (!m)
    return FCGI_ENOMEM;
  int64_t now = fcgi_now_ms();
  int rc = start_probe(m, ep, now);
  struct link *l = find_probe(m, ep);
  if (rc || !l) {
    err = rc == ENOMEM ? FCGI_ENOMEM
                       : fcgi_net_explain_connect(ep, 0, rc, msg, sizeof msg);
  } else {
    if (deadline_ms > 0 && deadline_ms < l->probe_deadline)
      l->probe_deadline = deadline_ms;
    struct pollfd p;
    while ((l = find_probe(m, ep)) != NULL) {
      fcgi_multi_fds(m, &p, 1);
      fcgi_net_poll(&p, 1, timeout_ms(m, fcgi_now_ms(), -1));
      fcgi_multi_perform(m, &p, 1, fcgi_now_ms());
    }
  }
  fcgi_multi_free(m);
  struct fcgi_caps caps;
  fcgi_client_caps(cl, ep, &caps);
  if (err == FCGI_OK && caps.state != FCGI_CAPS_KNOWN) {
    err = FCGI_ETIMEDOUT;
    snprintf(msg, sizeof msg,
             "%s: no answer to FCGI_GET_VALUES before the probe deadline "
             "(cached: do not multiplex)",
             fcgi_endpoint_str(ep));
  }
  if (out)
    *out = caps;
  if (errbuf && errlen)
    snprintf(errbuf, errlen, "%s", msg);
  return err;
}
