/*
 * fcgi_probe.h (private): the FCGI_GET_VALUES probe. It asks an endpoint
 * for FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS on a link of its
 * own, caches the answer in the client and then places the requests that
 * waited for it. Built on fcgi_link.c.
 */
#ifndef FPM_FCGI_PROBE_H
#define FPM_FCGI_PROBE_H

#include "fcgi_link.h"

/* The probe link of ep running in m, or NULL. */
struct link *fcgi_probe_find(fcgi_multi *m, const fcgi_endpoint *ep);
/* Start probing ep (m must be bound to a client). Returns 0, or ENOMEM /
 * the connect errno when no probe runs. */
int fcgi_probe_start(fcgi_multi *m, const fcgi_endpoint *ep, int64_t now);
/* Queue a GET_VALUES record on l. -1 on out of memory. */
int fcgi_probe_queue(struct link *l);
/* The link policy for id-0 records: a GET_VALUES_RESULT is cached for l's
 * endpoint on any link; on a probe link it ends the probe (returns 1, l is
 * freed). */
int fcgi_probe_mgmt(fcgi_multi *m, struct link *l, const struct fcgi_record *r,
                    int64_t now);

#endif /* FPM_FCGI_PROBE_H */
