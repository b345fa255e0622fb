/*
 * fcgi_client.h (private): the client object's per-endpoint state as the
 * engine and its layers (fcgi_front.c, fcgi_mux.c, fcgi_probe.c,
 * fcgi_reuse.c) use it: capabilities learnt from
 * GET_VALUES_RESULT, the idle kept connections, counters. Every function
 * takes the client's mutex; none blocks.
 */
#ifndef FPM_FCGI_CLIENT_H
#define FPM_FCGI_CLIENT_H

#include "fcgi.h"

#include <stddef.h>
#include <stdint.h>

/* The options with defaults filled in. */
void fcgi_client_opts_get(fcgi_client *cl, struct fcgi_client_opts *out);
/* Record a GET_VALUES_RESULT name-value stream for ep (state KNOWN). */
void fcgi_client_caps_result(fcgi_client *cl, const fcgi_endpoint *ep,
                             const uint8_t *nv, size_t len);
/* The probe got no answer (state NO_ANSWER unless already KNOWN). */
void fcgi_client_caps_no_answer(fcgi_client *cl, const fcgi_endpoint *ep);
/* A request got CANT_MPX_CONN: never multiplex to ep again. */
void fcgi_client_caps_cant_mpx(fcgi_client *cl, const fcgi_endpoint *ep);

/* Take an idle connection of ep that passes the liveness check; closes
 * expired and dead ones on the way. Returns the fd (and *conn_id) or -1. */
int fcgi_client_checkout(fcgi_client *cl, const fcgi_endpoint *ep, int64_t now,
                         uint64_t *conn_id);
/* Give a connection back (kept when there is room, else closed). */
void fcgi_client_checkin(fcgi_client *cl, const fcgi_endpoint *ep, int fd,
                         uint64_t conn_id, int64_t now);
/* A new connection number for ep; counts it as opened. */
uint64_t fcgi_client_opened(fcgi_client *cl, const fcgi_endpoint *ep);

enum fcgi_client_counter {
  FCGI_COUNT_REUSED,
  FCGI_COUNT_RETRIED,
  FCGI_COUNT_FALLBACK,
  FCGI_COUNT_PROBE
};
void fcgi_client_count(fcgi_client *cl, const fcgi_endpoint *ep,
                       enum fcgi_client_counter which);
void fcgi_client_in_flight(fcgi_client *cl, const fcgi_endpoint *ep,
                           unsigned n);

#endif /* FPM_FCGI_CLIENT_H */
