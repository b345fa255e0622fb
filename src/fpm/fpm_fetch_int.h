/*
 * fpm_fetch_int.h: pieces of the fetch façade that other requests through
 * a pool reuse (private to the project, not installed): fpm_opcache runs
 * its script with the same endpoint and the same transport error classes
 * and messages as a status fetch.
 */
#ifndef FPM_FPM_FETCH_INT_H
#define FPM_FPM_FETCH_INT_H

#include "fpm_fetch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fetcher's resolved endpoint (borrowed: lives as long as f). */
const fcgi_endpoint *fpm_fetcher_ep(const fpm_fetcher *f);

/* The one-line message of a transport failure e (in phase, with fcgi's
 * errmsg, which may be NULL) as a status fetch words it: "ENDPOINT: cause
 * (detail); hint", into out (cap bytes, truncated). Returns its class. */
fpm_err fpm_fetch_transport_message(const char *endpoint, fcgi_err e,
                                    fcgi_phase phase, const char *errmsg,
                                    char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_FETCH_INT_H */
