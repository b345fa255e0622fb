/*
 * fcgi_multi.c: the engine. Many requests under one poll(), the earliest
 * deadline as the poll timeout, cancellation via the cancel handles'
 * eventfds, finished requests queued for fcgi_multi_next_done (curl multi
 * shape). fcgi_do is a one-request loop over it.
 *
 * The engine itself runs each request on a connection of its own
 * (fcgi_conn owns the socket): the default, and always without a client.
 * Shared connections (keep-alive, multiplexing, the GET_VALUES probe) and
 * tracing are layers above it; the engine reaches them only through the
 * hooks it was created with (fcgi_multi_int.h).
 */
#include "fcgi_client.h"
#include "fcgi_multi_int.h"
#include "fcgi_net.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fcgi_multi *fcgi_multi_create(const struct fcgi_multi_hooks *hooks,
                              fcgi_client *cl) {
  fcgi_multi *m = calloc(1, sizeof(fcgi_multi));
  if (m) {
    m->hooks = hooks;
    m->client = cl;
    m->pfds = m->pfds_small;
    m->pfds_cap = sizeof m->pfds_small / sizeof m->pfds_small[0];
  }
  return m;
}

int fcgi_multi_same_ep(const fcgi_endpoint *a, const fcgi_endpoint *b) {
  return strcmp(fcgi_endpoint_str(a), fcgi_endpoint_str(b)) == 0;
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

/* q has ended (its conn is DONE): it leaves the running list's count. */
static void finish_req(fcgi_multi *m, struct mreq *q) {
  if (m->hooks->req_end)
    m->hooks->req_end(q);
  fcgi_conn_cleanup(&q->conn);
  push_done_list(m, q);
}

/* ----------------------------------------------------------- placing */

int fcgi_multi_place_own(fcgi_multi *m, struct mreq *q, int64_t now) {
  q->waiting = 0;
  if (m->client)
    q->conn_id = fcgi_client_opened(m->client, q->ep);
  fcgi_conn_connect(&q->conn, now);
  return q->conn.state == FCGI_CONN_DONE;
}

/* Put q on a transport. Returns 1 when q is already DONE. */
static int place(fcgi_multi *m, struct mreq *q, int64_t now) {
  q->waiting = 0;
  if (!m->client || !m->hooks->place ||
      (!q->opts.keep_conn && q->opts.multiplex == FCGI_MUX_OFF))
    return fcgi_multi_place_own(m, q, now);
  return m->hooks->place(m, q, now);
}

static const char *traceparent_of(const struct mreq *q) {
  return q->opts.traceparent && q->tr.traceparent[0] ? q->tr.traceparent : NULL;
}

int fcgi_multi_restart(fcgi_multi *m, struct mreq *q, int64_t now) {
  struct fcgi_call_opts o = q->opts;
  q->attempts++;
  fcgi_conn_cleanup(&q->conn);
  fcgi_err err = fcgi_conn_setup(&q->conn, q->ep, q->rq, &o, q->conn.resp, now,
                                 traceparent_of(q));
  q->conn.t_start = q->t_add; /* times stay relative to the first add */
  if (err != FCGI_OK) {
    q->conn.resp->err = err;
    q->conn.state = FCGI_CONN_DONE;
    return 1;
  }
  q->reused = q->muxed = 0;
  return place(m, q, now);
}

static int waits_for(const struct mreq *q, const fcgi_endpoint *ep) {
  return q->waiting && fcgi_multi_same_ep(q->ep, ep);
}

void fcgi_multi_release_waiters(fcgi_multi *m, const fcgi_endpoint *ep,
                                int no_mux, int64_t now) {
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
  if (m->hooks->xport)
    m->hooks->xport->free_all(m);
  free_done_list(m->running);
  free_done_list(m->done_head);
  if (m->pfds != m->pfds_small)
    free(m->pfds);
  free(m);
}

/* Expire or cancel what is due; move finished requests to the done queue. */
static void sweep(fcgi_multi *m, int64_t now) {
  const struct fcgi_xport_ops *x = m->hooks->xport;
  if (x)
    x->sweep(m, now);
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
    if (c->state == FCGI_CONN_DONE && q->link && x)
      x->abandon(m, q, now);
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
  if (!q->opts.deadline_ms) /* fixed here: a retry keeps the same deadline */
    q->opts.deadline_ms = now + FCGI_DEFAULT_TIMEOUT_MS;
  q->t_add = now;
  if (m->hooks->req_start && m->hooks->req_start(q) < 0) {
    free(q);
    return FCGI_EINVAL;
  }
  q->opts.traceparent_in = NULL; /* borrowed only during this call */
  fcgi_err err =
      fcgi_conn_setup(&q->conn, ep, rq, &q->opts, resp, now, traceparent_of(q));
  if (err != FCGI_OK) {
    free(q);
    return err;
  }
  q->ep = ep;
  q->rq = rq;
  q->user = user;
  q->attempts = 1;
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
  int64_t due = m->hooks->xport ? m->hooks->xport->due(m) : FCGI_NO_DEADLINE;
  if (due != FCGI_NO_DEADLINE && due - now < t)
    t = due - now < 0 ? 0 : due - now;
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
  for (struct mreq *q = m->running; q; q = q->next) {
    if (!q->link && !q->waiting && q->conn.fd >= 0) {
      if (i < n)
        fds[i] = (struct pollfd){q->conn.fd, fcgi_conn_events(&q->conn), 0};
      i++;
    }
    if (q->conn.opts.cancel) {
      if (i < n)
        fds[i] =
            (struct pollfd){fcgi_cancel_fd(q->conn.opts.cancel), POLLIN, 0};
      i++;
    }
  }
  if (m->hooks->xport)
    i = m->hooks->xport->fds(m, fds, n, i);
  return i;
}

/* Step whatever owns fd. */
static void step_fd(fcgi_multi *m, int fd, short rev, int64_t now) {
  if (m->hooks->xport && m->hooks->xport->step(m, fd, rev, now))
    return;
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

fcgi_err fcgi_multi_do_one(fcgi_multi *m, const fcgi_endpoint *ep,
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
                                : fcgi_err_str(err));
    return err;
  }
  fcgi_multi_run(m);
  fcgi_multi_next_done(m, NULL, NULL);
  fcgi_multi_free(m);
  return resp->err;
}
