/*
 * fcgi_mux.h (private): multiplexing, several requests in flight on one
 * link (fcgi_call_opts.multiplex). Built on fcgi_link.c and the probe.
 */
#ifndef FPM_FCGI_MUX_H
#define FPM_FCGI_MUX_H

#include "fcgi_link.h"

/* May q multiplex? 1 yes, 0 no, -1 wait for ep's probe (started here when
 * none runs). *caps gets what the client knows of q's endpoint. */
int fcgi_mux_decide(fcgi_multi *m, struct mreq *q, int64_t now,
                    struct fcgi_caps *caps);
/* A multiplexed link to ep with room for one more request, or NULL. */
struct link *fcgi_mux_find(fcgi_multi *m, const fcgi_endpoint *ep);
/* Requests per multiplexed link: the client's max_mux, else the server's
 * FCGI_MAX_REQS up to 256. */
unsigned fcgi_mux_limit(fcgi_multi *m, const struct fcgi_caps *caps);
/* Link policy (abandon): on a multiplexed link send ABORT_REQUEST and keep
 * q's id reserved until its END_REQUEST (FCGI_OK; FCGI_ENOMEM when that
 * cannot be queued); elsewhere FCGI_EIO (close the link). */
fcgi_err fcgi_mux_abandon(struct link *l, struct mreq *q);
/* Link policy (ended): a request refused with CANT_MPX_CONN on a
 * multiplexed link is sent again on a connection of its own, and the
 * endpoint is never multiplexed again. */
void fcgi_mux_ended(fcgi_multi *m, struct link *l, struct mreq *q, int64_t now);

#endif /* FPM_FCGI_MUX_H */
