/*
 * fcgi_probe.c: the FCGI_GET_VALUES probe, on a link of its own that is
 * never reused (php-fpm <= 8.2.12 closes it anyway), and the blocking
 * fcgi_client_probe. The answer (or its absence) is cached in the client;
 * the requests that waited for it are then placed by the engine.
 */
#include "fcgi_probe.h"
#include "fcgi_client.h"
#include "fcgi_net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct link *fcgi_probe_find(fcgi_multi *m, const fcgi_endpoint *ep) {
  for (struct link *l = m->links; l; l = l->next)
    if (l->probe && fcgi_multi_same_ep(l->ep, ep))
      return l;
  return NULL;
}

int fcgi_probe_queue(struct link *l) {
  static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                      "FCGI_MPXS_CONNS"};
  uint8_t nv[64];
  size_t n = 0;
  for (size_t i = 0; i < 3; i++)
    n += fcgi_pair_put(nv + n, names[i], strlen(names[i]), "", 0);
  return fcgi_link_queue_mgmt(l, FCGI_TYPE_GET_VALUES, 0, nv, n);
}

/* outcome: 1 answered, 0 no answer (deadline, EOF), -1 connect failed
 * (nothing is cached; the waiting requests go without multiplexing and
 * meet the connect error themselves). l is freed. */
static void probe_done(fcgi_multi *m, struct link *l, int outcome,
                       int64_t now) {
  const fcgi_endpoint *ep = l->ep;
  if (outcome == 0)
    fcgi_client_caps_no_answer(m->client, ep);
  fcgi_link_free(m, l); /* never reused: php-fpm <= 8.2.12 closes it anyway */
  fcgi_multi_release_waiters(m, ep, outcome < 0, now);
}

int fcgi_probe_mgmt(fcgi_multi *m, struct link *l, const struct fcgi_record *r,
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

static const struct fcgi_link_policy probe_policy = {
    .mgmt = fcgi_probe_mgmt,
    .probe_end = probe_done,
};

int fcgi_probe_start(fcgi_multi *m, const fcgi_endpoint *ep, int64_t now) {
  struct fcgi_client_opts o;
  fcgi_client_opts_get(m->client, &o);
  struct link *l = fcgi_link_new(m, ep, &probe_policy);
  if (!l)
    return ENOMEM;
  l->probe = 1;
  l->probe_deadline = now + o.probe_timeout_ms;
  fcgi_client_count(m->client, ep, FCGI_COUNT_PROBE);
  int rc = fcgi_probe_queue(l) < 0 ? ENOMEM : fcgi_link_connect(l, now);
  if (rc) {
    fcgi_link_free(m, l);
    return rc;
  }
  return 0;
}

/* The blocking probe runs on an engine of its own with links only. */
static const struct fcgi_multi_hooks probe_engine = {.xport = &fcgi_link_xport};

fcgi_err fcgi_client_probe(fcgi_client *cl, const fcgi_endpoint *ep,
                           int64_t deadline_ms, struct fcgi_caps *out,
                           char *errbuf, size_t errlen) {
  char msg[512] = "";
  fcgi_err err = FCGI_OK;
  if (!cl || !ep)
    return FCGI_EINVAL;
  fcgi_multi *m = fcgi_multi_create(&probe_engine, cl);
  if (!m)
    return FCGI_ENOMEM;
  int64_t now = fcgi_now_ms();
  int rc = fcgi_probe_start(m, ep, now);
  struct link *l = fcgi_probe_find(m, ep);
  if (rc || !l) {
    err = rc == ENOMEM ? FCGI_ENOMEM
                       : fcgi_net_explain_connect(ep, 0, rc, msg, sizeof msg);
    if (err == FCGI_ENOMEM)
      snprintf(msg, sizeof msg, "%s: out of memory for the probe",
               fcgi_endpoint_str(ep));
  } else {
    /* 0: the probe timeout alone; any other deadline, a past one (even
     * negative) included, ends it sooner when it comes first */
    if (deadline_ms != 0 && deadline_ms < l->probe_deadline)
      l->probe_deadline = deadline_ms;
    struct pollfd p;
    while ((l = fcgi_probe_find(m, ep)) != NULL) {
      fcgi_multi_fds(m, &p, 1);
      fcgi_net_poll(&p, 1, fcgi_multi_timeout_ms(m));
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
