/*
 * fpm_fetch.h: fetch and parse PHP-FPM status (or ping) over FastCGI.
 *
 * The one façade both front ends call (fpmstat and the collectd plugin), so
 * the request params, the self marker, the status-code and content checks,
 * the JSON-to-text fallback and the error classification with their hints
 * exist once.
 *
 * A status fetch sends SCRIPT_NAME = SCRIPT_FILENAME = the status path,
 * REQUEST_METHOD=GET and QUERY_STRING="json&full&fpmstat=<marker>"; the marker
 * is unique per fetch and lets the model remove our own worker from the
 * counts. A body that is not valid status JSON even after repair is fetched
 * again as text within the same deadline.
 *
 * Thread-safety: an fpm_fetcher is immutable after creation except for its
 * per-fetch marker; use one fetcher per thread (or per pool), or one batch.
 */
#ifndef FPM_FPM_FETCH_H
#define FPM_FPM_FETCH_H

#include "fcgi.h"
#include "fpm_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Outcome classes; the numbers double as fpmstat's exit codes. */
typedef enum fpm_err {
  FPM_OK = 0,
  FPM_EUSAGE = 1,    /* bad target or option */
  FPM_ECONNECT = 2,  /* cannot connect: no socket, refused, permission,
                        backlog full, name did not resolve */
  FPM_ETIMEOUT = 3,  /* deadline passed (or cancelled) */
  FPM_EPROTOCOL = 4, /* FastCGI protocol error, connection closed early,
                        server refused (overloaded, role, too big) */
  FPM_EHTTP = 5,     /* the status page answered with a status other than
                        200 (404: wrong path or status not enabled, 403,
                        5xx), or ping did not answer pong */
  FPM_EPARSE = 6,    /* 200, but the body is not a status page */
  FPM_ENOMEM = 7,    /* out of memory */
  FPM_ERR_LAST
} fpm_err;

/* "cannot connect", "timeout", ... Never NULL. */
const char *fpm_err_str(fpm_err e);

struct fpm_target {
  const char *endpoint;      /* as fcgi_endpoint_parse accepts it */
  const char *status_path;   /* NULL = "/status" */
  const char *ping_path;     /* NULL = "/ping" */
  const char *ping_response; /* NULL = "pong" */
  int no_full;               /* 1: do not ask for per-worker data */
  /* For a pool inside a container (fcgi_endpoint_opts): the network
   * namespace to connect from, the root its unix socket path is resolved
   * in, and the tag that names the container in the endpoint text. NULL:
   * none (the host). */
  const char *netns, *root, *tag;
  /* The pool the status page must be (a discovered pool's section name):
   * a page that names another pool is FPM_EPARSE, "another pool answers
   * here", never that pool's figures under this pool's name. Compared
   * without case, up to 63 bytes. NULL or "": any pool. */
  const char *pool;
};

typedef struct fpm_fetcher fpm_fetcher;

/* Parse and resolve the target (blocking name resolution happens here, never
 * inside a deadline). Returns NULL with a sentence in errbuf on a bad target
 * or out of memory. Strings are copied. */
fpm_fetcher *fpm_fetcher_new(const struct fpm_target *t, char *errbuf,
                             size_t errlen);
/* The same, saying why it failed: FPM_EUSAGE (bad endpoint syntax or path),
 * FPM_ECONNECT (the host name did not resolve) or FPM_EPROTOCOL (out of
 * memory). On FPM_OK *out is the new fetcher. */
fpm_err fpm_fetcher_create(const struct fpm_target *t, fpm_fetcher **out,
                           char *errbuf, size_t errlen);
void fpm_fetcher_free(fpm_fetcher *f); /* NULL is a no-op */
/* The canonical endpoint text ("unix:/run/php/www.sock"). */
const char *fpm_fetcher_endpoint(const fpm_fetcher *f);

/* The result of one fetch. Init with fpm_result_init, free with
 * fpm_result_clear (also makes it reusable). */
struct fpm_result {
  fpm_err err;
  fcgi_err fcgi;            /* transport detail when err is 2, 3 or 4 */
  int http_status;          /* CGI status (200 when absent), 0 if none */
  char message[768];        /* one line: target, cause, hint where known */
  char stderr_excerpt[256]; /* FastCGI stderr, first line(s), sanitised */
  char marker[40];          /* the self marker this fetch used */
  struct fpm_status status; /* parsed snapshot (status fetches, err == 0) */
  int fell_back_to_text;    /* JSON beyond repair, text parsed instead */
  double duration_s;        /* wall time of the fetch */
  int retried;              /* a transient 5xx was retried once */
  unsigned requests;        /* FastCGI requests this fetch sent to the pool
                               that got past connecting (the first, a
                               retry, the text fallback): each one is an
                               accepted connection in the pool's counter */
};
void fpm_result_init(struct fpm_result *r);
void fpm_result_clear(struct fpm_result *r);

enum fpm_fetch_kind { FPM_FETCH_STATUS = 0, FPM_FETCH_PING = 1 };

/*
 * Fetch from n targets at once over one engine (fcgi_multi), at most as
 * many in flight as the descriptor limit allows (fpm_fetch_many_opts):
 * each target is bounded by deadline_ms (absolute, fcgi_now_ms clock); a dead
 * or slow target never delays the others. cancel may be NULL. results[i]
 * belongs to fs[i]; each must have been initialised (fpm_result_init) and is
 * cleared first, so a result can be reused fetch after fetch. Returns the
 * highest fpm_err among them.
 */
fpm_err fpm_fetch_many(fpm_fetcher *const *fs, size_t n,
                       enum fpm_fetch_kind kind, int64_t deadline_ms,
                       fcgi_cancel *cancel, struct fpm_result *results);

/* How fpm_fetch_many_opts spreads its reads; zero means the default. */
struct fpm_fetch_opts {
  /* Reads in flight at once (one socket each); the next starts as one
   * ends. 0: from the process's descriptor limit (fpm_fd_budget). */
  size_t max_in_flight;
  /* > 0: each target's deadline is its own start + timeout_ms (never past
   * deadline_ms), so a target that waits for its turn still gets its full
   * timeout. 0: every target ends by deadline_ms. */
  int64_t timeout_ms;
  /* 1: start with at most FPM_FETCH_FIRST_WINDOW reads in flight, one more
   * (up to max_in_flight) for each read that ends in time, half as many
   * (never fewer than FPM_FETCH_FIRST_WINDOW) after a timeout. A cold
   * ondemand pool waits for php-fpm's master to start a worker, and the
   * master starts them one after the other: more reads queued than it
   * starts within the timeout would only time out. The floor keeps hung
   * pools from making the rest wait one timeout each. */
  int adaptive;
};
#define FPM_FETCH_FIRST_WINDOW 32

/*
 * fpm_fetch_many with bounded concurrency. At most opts->max_in_flight
 * reads run at once; a read whose connect fails for want of a descriptor
 * (EMFILE, ENFILE) while others run is started again when one of them
 * ends, and the window shrinks to what the process holds. deadline_ms 0 is
 * no overall deadline (then set timeout_ms). opts NULL: all defaults.
 * fpm_fetch_many is this with opts NULL: with more targets than free
 * descriptors, it reads them in turns, all by deadline_ms.
 */
fpm_err fpm_fetch_many_opts(fpm_fetcher *const *fs, size_t n,
                            enum fpm_fetch_kind kind, int64_t deadline_ms,
                            fcgi_cancel *cancel,
                            const struct fpm_fetch_opts *opts,
                            struct fpm_result *results);

/* One target. */
fpm_err fpm_fetch(fpm_fetcher *f, enum fpm_fetch_kind kind, int64_t deadline_ms,
                  fcgi_cancel *cancel, struct fpm_result *result);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_FETCH_H */
