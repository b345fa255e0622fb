/*
 * fcgi_reuse.h (private): connection reuse (FCGI_KEEP_CONN), opt-in per
 * call. A kept link goes back to the client's idle list when it is clean
 * and idle; a request sent on a reused link that dies before any answer is
 * sent again once on a fresh connection. Built on fcgi_link.c.
 */
#ifndef FPM_FCGI_REUSE_H
#define FPM_FCGI_REUSE_H

#include "fcgi_link.h"

/* A new request link to ep with policy pol: an idle kept connection from
 * the client when want_keep and one passes the liveness check, else a
 * fresh connect. NULL with *rc set (errno) when the connect failed at
 * once, or ENOMEM. */
struct link *fcgi_reuse_open(fcgi_multi *m, const fcgi_endpoint *ep,
                             const struct fcgi_link_policy *pol, int mux,
                             int want_keep, int64_t now, int *rc);
/* Link policy (retry): start q again when l was reused, no byte came back
 * on it since, and it failed (EOF, ECONNRESET, EPIPE) while q was still
 * being sent. Returns 1 when q was started again. */
int fcgi_reuse_retry(fcgi_multi *m, struct link *l, struct mreq *q, int rc,
                     int64_t now);
/* Link policy (idle): give a kept link's socket back to the client. */
int fcgi_reuse_idle(fcgi_multi *m, struct link *l, int64_t now);

#endif /* FPM_FCGI_REUSE_H */
