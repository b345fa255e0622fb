/*
 * fcgi_trace.h (private): W3C trace context for requests: validate a
 * caller's traceparent, make fresh ids, format the value sent to the
 * application (pure except for the random bytes, fcgi_net_random); and the
 * engine hooks that report a finished request to fcgi_call_opts.on_trace.
 */
#ifndef FPM_FCGI_TRACE_H
#define FPM_FCGI_TRACE_H

#include "fcgi.h"

/* Fill t->trace_id, span_id, parent_span_id and traceparent. in may be
 * NULL (a new trace). Returns 0, or -1 when in is not a valid version-00
 * traceparent (then t is untouched). */
int fcgi_trace_context(const char *in, struct fcgi_trace *t);

struct mreq; /* fcgi_multi_int.h */
/* Engine hook (req_start): make q's trace context when it asked for a
 * traceparent. -1 when traceparent_in is invalid. */
int fcgi_trace_req_start(struct mreq *q);
/* Engine hook (req_end): hand q's struct fcgi_trace to on_trace. */
void fcgi_trace_req_end(struct mreq *q);

#endif /* FPM_FCGI_TRACE_H */
