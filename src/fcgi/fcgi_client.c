/*
 * fcgi_client.c: the client object: per-endpoint capabilities (from
 * FCGI_GET_VALUES_RESULT), a bounded list of idle kept connections with an
 * idle timeout and a liveness check before reuse, and counters. One mutex
 * guards it all; engines on several threads may share one client.
 */
#include "fcgi_client.h"
#include "fcgi_net.h"
#include "fcgi_record.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct idle_conn {
  int fd;
  int64_t since;
  uint64_t conn_id;
  struct idle_conn *next;
};

struct ep_state {
  char *key; /* canonical endpoint text */
  struct fcgi_caps caps;
  struct fcgi_client_stats st;
  struct idle_conn *idle; /* most recently used first */
  uint64_t next_conn_id;
  struct ep_state *next;
};

struct fcgi_client {
  pthread_mutex_t mu;
  struct fcgi_client_opts o;
  struct ep_state *eps;
};

fcgi_client *fcgi_client_new(const struct fcgi_client_opts *opts) {
  fcgi_client *cl = calloc(1, sizeof *cl);
  if (!cl)
    return NULL;
  if (pthread_mutex_init(&cl->mu, NULL) != 0) {
    free(cl);
    return NULL;
  }
  if (opts)
    cl->o = *opts;
  if (!cl->o.max_idle)
    cl->o.max_idle = 4;
  if (cl->o.idle_timeout_ms <= 0)
    cl->o.idle_timeout_ms = 30000;
  if (cl->o.probe_timeout_ms <= 0)
    cl->o.probe_timeout_ms = 300;
  return cl;
}

static void close_idle_list(struct ep_state *e) {
  while (e->idle) {
    struct idle_conn *i = e->idle;
    e->idle = i->next;
    fcgi_net_close(i->fd);
    free(i);
  }
  e->st.idle = 0;
}

void fcgi_client_free(fcgi_client *cl) {
  if (!cl)
    return;
  while (cl->eps) {
    struct ep_state *e = cl->eps;
    cl->eps = e->next;
    close_idle_list(e);
    free(e->key);
    free(e);
  }
  pthread_mutex_destroy(&cl->mu);
  free(cl);
}

void fcgi_client_opts_get(fcgi_client *cl, struct fcgi_client_opts *out) {
  *out = cl->o; /* immutable after new */
}

/* The state of ep, created on first use; NULL on out of memory. Locked. */
static struct ep_state *ep_get(fcgi_client *cl, const fcgi_endpoint *ep) {
  const char *key = fcgi_endpoint_str(ep);
  for (struct ep_state *e = cl->eps; e; e = e->next)
    if (strcmp(e->key, key) == 0)
      return e;
  struct ep_state *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->key = strdup(key);
  if (!e->key) {
    free(e);
    return NULL;
  }
  e->caps.mpxs_conns = -1;
  e->caps.max_conns = e->caps.max_reqs = -1;
  e->next = cl->eps;
  cl->eps = e;
  return e;
}

void fcgi_client_caps(fcgi_client *cl, const fcgi_endpoint *ep,
                      struct fcgi_caps *out) {
  memset(out, 0, sizeof *out);
  out->mpxs_conns = -1;
  out->max_conns = out->max_reqs = -1;
  if (!cl || !ep)
    return;
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e)
    *out = e->caps;
  pthread_mutex_unlock(&cl->mu);
}

/* A decimal value of a GET_VALUES_RESULT pair; -1 when not a number. */
static long nv_number(const uint8_t *v, size_t n) {
  long x = 0;
  if (n == 0 || n > 9)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

static int nv_is(const struct fcgi_pair *p, const char *name) {
  size_t n = strlen(name);
  return p->name_len == n && memcmp(p->name, name, n) == 0;
}

void fcgi_client_caps_result(fcgi_client *cl, const fcgi_endpoint *ep,
                             const uint8_t *nv, size_t len) {
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e) {
    struct fcgi_pair p;
    size_t off = 0;
    e->caps.state = FCGI_CAPS_KNOWN;
    while (fcgi_pair_next(nv, len, &off, &p) == 1) {
      long v = nv_number(p.value, p.value_len);
      if (nv_is(&p, "FCGI_MPXS_CONNS"))
        e->caps.mpxs_conns = v == 1 ? 1 : 0;
      else if (nv_is(&p, "FCGI_MAX_CONNS"))
        e->caps.max_conns = v;
      else if (nv_is(&p, "FCGI_MAX_REQS"))
        e->caps.max_reqs = v;
    }
  }
  pthread_mutex_unlock(&cl->mu);
}

void fcgi_client_caps_no_answer(fcgi_client *cl, const fcgi_endpoint *ep) {
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e && e->caps.state != FCGI_CAPS_KNOWN)
    e->caps.state = FCGI_CAPS_NO_ANSWER;
  pthread_mutex_unlock(&cl->mu);
}

void fcgi_client_caps_cant_mpx(fcgi_client *cl, const fcgi_endpoint *ep) {
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e)
    e->caps.cant_mpx = 1;
  pthread_mutex_unlock(&cl->mu);
}

/* Close idle connections past the idle timeout, every endpoint (there is
 * no timer thread: this runs on every checkout and checkin). Locked. */
static void reap_expired(fcgi_client *cl, int64_t now) {
  for (struct ep_state *e = cl->eps; e; e = e->next) {
    struct idle_conn **pp = &e->idle;
    while (*pp) {
      struct idle_conn *i = *pp;
      if (now - i->since > cl->o.idle_timeout_ms) {
        *pp = i->next;
        fcgi_net_close(i->fd);
        free(i);
        e->st.idle--;
      } else {
        pp = &i->next;
      }
    }
  }
}

int fcgi_client_checkout(fcgi_client *cl, const fcgi_endpoint *ep, int64_t now,
                         uint64_t *conn_id) {
  int fd = -1;
  pthread_mutex_lock(&cl->mu);
  reap_expired(cl, now);
  struct ep_state *e = ep_get(cl, ep);
  while (e && e->idle && fd < 0) {
    struct idle_conn *i = e->idle;
    e->idle = i->next;
    e->st.idle--;
    if (now - i->since <= cl->o.idle_timeout_ms &&
        fcgi_net_idle_usable(i->fd)) {
      fd = i->fd;
      *conn_id = i->conn_id;
      e->st.reused++;
    } else {
      fcgi_net_close(i->fd); /* expired, or the server closed it */
    }
    free(i);
  }
  pthread_mutex_unlock(&cl->mu);
  return fd;
}

void fcgi_client_checkin(fcgi_client *cl, const fcgi_endpoint *ep, int fd,
                         uint64_t conn_id, int64_t now) {
  pthread_mutex_lock(&cl->mu);
  reap_expired(cl, now);
  struct ep_state *e = ep_get(cl, ep);
  struct idle_conn *i = NULL;
  if (e && e->st.idle < cl->o.max_idle)
    i = malloc(sizeof *i);
  if (i) {
    *i = (struct idle_conn){fd, now, conn_id, e->idle};
    e->idle = i;
    e->st.idle++;
    fd = -1;
  }
  pthread_mutex_unlock(&cl->mu);
  fcgi_net_close(fd);
}

uint64_t fcgi_client_opened(fcgi_client *cl, const fcgi_endpoint *ep) {
  uint64_t id = 0;
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e) {
    e->st.opened++;
    id = ++e->next_conn_id;
  }
  pthread_mutex_unlock(&cl->mu);
  return id;
}

void fcgi_client_count(fcgi_client *cl, const fcgi_endpoint *ep,
                       enum fcgi_client_counter which) {
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e) {
    switch (which) {
    case FCGI_COUNT_REUSED:
      break; /* counted at checkout */
    case FCGI_COUNT_RETRIED:
      e->st.retried++;
      break;
    case FCGI_COUNT_FALLBACK:
      e->st.fallbacks++;
      break;
    case FCGI_COUNT_PROBE:
      e->st.probes++;
      break;
    }
  }
  pthread_mutex_unlock(&cl->mu);
}

void fcgi_client_in_flight(fcgi_client *cl, const fcgi_endpoint *ep,
                           unsigned n) {
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e && n > e->st.max_in_flight)
    e->st.max_in_flight = n;
  pthread_mutex_unlock(&cl->mu);
}

void fcgi_client_stats(fcgi_client *cl, const fcgi_endpoint *ep,
                       struct fcgi_client_stats *out) {
  memset(out, 0, sizeof *out);
  if (!cl || !ep)
    return;
  pthread_mutex_lock(&cl->mu);
  struct ep_state *e = ep_get(cl, ep);
  if (e)
    *out = e->st;
  pthread_mutex_unlock(&cl->mu);
}

void fcgi_client_close_idle(fcgi_client *cl) {
  if (!cl)
    return;
  pthread_mutex_lock(&cl->mu);
  for (struct ep_state *e = cl->eps; e; e = e->next)
    close_idle_list(e);
  pthread_mutex_unlock(&cl->mu);
}
