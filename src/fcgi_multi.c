/*
 * fcgi_multi.c: the engine. Many requests (one connection each) under one
 * poll(), the earliest deadline as the poll timeout, cancellation via the
 * cancel handles' eventfds, finished requests queued for
 * fcgi_multi_next_done (curl multi shape). fcgi_do is a one-request loop.
 */
#include "fcgi_conn.h"
#include "fcgi_net.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mreq {
  struct fcgi_conn conn;
  void *user;
  struct mreq *next;
};

struct fcgi_multi {
  struct mreq *running;
  struct mreq *done_head, *done_tail;
  int n_running, n_pending;
  struct pollfd *pfds;
  size_t pfds_cap;
};

fcgi_multi *fcgi_multi_new(void) {
  return calloc(1, sizeof(fcgi_multi));
}

static void free_list(struct mreq *q) {
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
  for (struct mreq *q = m->running; q; q = q->next)
    fcgi_conn_abort(&q->conn, FCGI_ECANCELED, "cancelled (engine freed)", now);
  free_list(m->running);
  free_list(m->done_head);
  free(m->pfds);
  free(m);
}

static void push_done(fcgi_multi *m, struct mreq *q) {
  fcgi_conn_cleanup(&q->conn);
  q->next = NULL;
  if (m->done_tail)
    m->done_tail->next = q;
  else
    m->done_head = q;
  m->done_tail = q;
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
  fcgi_err err = fcgi_conn_start(&q->conn, ep, rq, opts, resp, fcgi_now_ms());
  if (err != FCGI_OK) {
    free(q);
    return err;
  }
  q->user = user;
  m->n_pending++;
  if (q->conn.state == FCGI_CONN_DONE) {
    push_done(m, q);
    return FCGI_OK;
  }
  q->next = m->running;
  m->running = q;
  m->n_running++;
  return FCGI_OK;
}

/* Expire or cancel requests that are due; move finished ones out. */
static void sweep(fcgi_multi *m, int64_t now) {
  struct mreq **pp = &m->running;
  while (*pp) {
    struct mreq *q = *pp;
    struct fcgi_conn *c = &q->conn;
    if (c->state == FCGI_CONN_CONNECTING && now >= fcgi_conn_timer(c))
      fcgi_conn_on_timer(c, now);
    if (c->state != FCGI_CONN_DONE && fcgi_cancel_is_triggered(c->opts.cancel))
      fcgi_conn_abort(c, FCGI_ECANCELED, "cancelled", now);
    if (c->state != FCGI_CONN_DONE && now >= c->opts.deadline_ms)
      fcgi_conn_abort(c, FCGI_ETIMEDOUT, "timed out", now);
    if (c->state == FCGI_CONN_DONE) {
      *pp = q->next;
      m->n_running--;
      push_done(m, q);
    } else {
      pp = &q->next;
    }
  }
}

static int poll_timeout(const fcgi_multi *m, int64_t now, int max_wait_ms) {
  int64_t t = max_wait_ms < 0 ? INT64_MAX : max_wait_ms;
  for (const struct mreq *q = m->running; q; q = q->next) {
    int64_t left = fcgi_conn_timer(&q->conn) - now;
    if (left < t)
      t = left < 0 ? 0 : left;
  }
  if (t == INT64_MAX)
    return -1;
  return t > 60000 ? 60000 : (int)t;
}

static int build_pollset(fcgi_multi *m) {
  size_t need = (size_t)m->n_running * 2;
  if (need > m->pfds_cap) {
    struct pollfd *p = realloc(m->pfds, need * sizeof *p);
    if (!p)
      return -1;
    m->pfds = p;
    m->pfds_cap = need;
  }
  size_t i = 0;
  for (struct mreq *q = m->running; q; q = q->next) {
    m->pfds[i++] = (struct pollfd){q->conn.fd, fcgi_conn_events(&q->conn), 0};
    m->pfds[i++] =
        (struct pollfd){fcgi_cancel_fd(q->conn.opts.cancel), POLLIN, 0};
  }
  return 0;
}

int fcgi_multi_poll(fcgi_multi *m, int max_wait_ms) {
  if (!m)
    return 0;
  int64_t now = fcgi_now_ms();
  sweep(m, now);
  if (!m->running)
    return 0;
  if (build_pollset(m) < 0) {
    for (struct mreq *q = m->running; q; q = q->next)
      fcgi_conn_abort(&q->conn, FCGI_ENOMEM, "out of memory", now);
    sweep(m, now);
    return 0;
  }
  size_t n = (size_t)m->n_running * 2;
  fcgi_net_poll(m->pfds, n, poll_timeout(m, now, max_wait_ms));
  now = fcgi_now_ms();
  size_t i = 0;
  for (struct mreq *q = m->running; q; q = q->next, i += 2) {
    short rev = m->pfds[i].revents;
    if (rev && q->conn.state != FCGI_CONN_DONE)
      fcgi_conn_step(&q->conn, rev, now);
  }
  sweep(m, now);
  return m->n_running;
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

fcgi_err fcgi_do(const fcgi_endpoint *ep, const fcgi_request *rq,
                 const struct fcgi_call_opts *opts,
                 struct fcgi_response *resp) {
  if (!resp)
    return FCGI_EINVAL;
  fcgi_multi *m = fcgi_multi_new();
  fcgi_err err = m ? fcgi_multi_add(m, ep, rq, opts, resp, NULL) : FCGI_ENOMEM;
  if (err != FCGI_OK) {
    fcgi_multi_free(m);
    fcgi_response_clear(resp);
    resp->err = err;
    snprintf(resp->errmsg, sizeof resp->errmsg, "%s: %s",
             ep ? fcgi_endpoint_str(ep) : "(no endpoint)",
             err == FCGI_EINVAL ? "invalid request (a param over 65527 "
                                  "encoded bytes, or a NULL argument)"
                                : fcgi_strerror(err));
    return err;
  }
  fcgi_multi_run(m);
  fcgi_multi_next_done(m, NULL, NULL);
  fcgi_multi_free(m);
  return resp->err;
}
