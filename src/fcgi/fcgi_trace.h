/*
 * fcgi_trace.h (private): W3C trace context for requests: validate a
 * caller's traceparent, make fresh ids, format the value sent to the
 * application. Pure except for the random bytes (fcgi_net_random).
 */
#ifndef FPM_FCGI_TRACE_H
#define FPM_FCGI_TRACE_H

#include "fcgi.h"

/* Fill t->trace_id, span_id, parent_span_id and traceparent. in may be
 * NULL (a new trace). Returns 0, or -1 when in is not a valid version-00
 * traceparent (then t is untouched). */
int fcgi_trace_context(const char *in, struct fcgi_trace *t);

#endif /* FPM_FCGI_TRACE_H */
