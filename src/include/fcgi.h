/*
 * fcgi.h: a FastCGI client library (the "web server" side of FastCGI 1.0).
 *
 * It knows nothing about PHP-FPM. It connects to a FastCGI application over a
 * unix or TCP socket, sends one request (role, params, optional body) and
 * returns the application's stdout and stderr apart, the CGI header block
 * split from the body, and the END_REQUEST statuses.
 *
 * Guarantees:
 *  - One absolute deadline per request covers connect, send and receive up to
 *    END_REQUEST. A peer that trickles bytes still fails at the deadline.
 *  - A request can be cancelled from another thread (fcgi_cancel); a blocked
 *    request wakes at once.
 *  - No signals are raised or used: sockets are non-blocking and close-on-exec,
 *    writes use MSG_NOSIGNAL. Names are resolved before a request starts
 *    (fcgi_endpoint_parse), never inside a deadline.
 *  - Every error is a typed fcgi_err plus a detail text that names the
 *    endpoint and the cause. The library never prints or logs.
 *  - Memory per request is bounded by the caps in fcgi_call_opts.
 *  - No idle connection is kept by default: FCGI_KEEP_CONN pins one PHP-FPM
 *    worker per idle connection (see README, "Why no keep-alive by default").
 *
 * Time is int64_t milliseconds of CLOCK_MONOTONIC (fcgi_now_ms()); deadlines
 * are absolute and FCGI_NO_DEADLINE means none.
 *
 * Thread-safety: an fcgi_endpoint is immutable after parsing and may be shared
 * by any number of threads. An fcgi_request is read-only while requests run,
 * so one request object may be sent by several threads at once. An fcgi_multi
 * (and its requests' fcgi_response) belongs to one thread at a time.
 * fcgi_cancel_trigger() may be called from any thread or signal handler.
 */
#ifndef FPM_FCGI_H
#define FPM_FCGI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/*
 * Error codes. Numbering is append-only: a retired code keeps its slot.
 * fcgi_strerror() gives one sentence per code; the detail (endpoint, errno
 * text, socket owner and mode, what was malformed) is in fcgi_response.errmsg.
 */
typedef enum fcgi_err {
  FCGI_OK = 0,
  FCGI_AGAIN = 1,    /* internal: more I/O needed; never returned to users */
  FCGI_ENOMEM = 2,   /* out of memory */
  FCGI_EINVAL = 3,   /* bad argument: endpoint syntax, param too large */
  FCGI_ERESOLVE = 4, /* host name did not resolve */
  FCGI_ENOENT = 5,   /* no such socket (path missing) */
  FCGI_EACCES = 6,   /* permission denied on the socket or a directory */
  FCGI_ECONNREFUSED = 7,  /* nobody listening (stale socket, stopped server) */
  FCGI_EBACKLOG = 8,      /* listen backlog full (EAGAIN on a unix socket) */
  FCGI_ECONNECT = 9,      /* any other connect failure (EHOSTUNREACH, ...) */
  FCGI_EIO = 10,          /* send or receive failed (ECONNRESET, EPIPE, ...) */
  FCGI_ETIMEDOUT = 11,    /* deadline passed; fcgi_response.phase says where */
  FCGI_ECANCELED = 12,    /* fcgi_cancel_trigger() was called */
  FCGI_ECLOSED = 13,      /* peer closed the connection before END_REQUEST */
  FCGI_EPROTO = 14,       /* malformed record or stream; errmsg says what */
  FCGI_EOVERLOADED = 15,  /* END_REQUEST protocolStatus FCGI_OVERLOADED */
  FCGI_ECANTMPX = 16,     /* END_REQUEST protocolStatus FCGI_CANT_MPX_CONN */
  FCGI_EUNKNOWNROLE = 17, /* END_REQUEST protocolStatus FCGI_UNKNOWN_ROLE */
  FCGI_ETOOBIG = 18,      /* stdout, stderr or the CGI headers over their cap */
  FCGI_ERR_LAST           /* never use */
} fcgi_err;

/* One static sentence for a code ("connection refused"). Never NULL. */
const char *fcgi_strerror(fcgi_err err);
/* The code's symbolic name ("FCGI_ETIMEDOUT"). Never NULL. */
const char *fcgi_err_name(fcgi_err err);

/* Where a request was when it failed (meaningful for FCGI_ETIMEDOUT,
 * FCGI_ECANCELED, FCGI_EIO and FCGI_ECLOSED). */
typedef enum fcgi_phase {
  FCGI_PHASE_NONE = 0,
  FCGI_PHASE_CONNECT, /* waiting for the connection to be established */
  FCGI_PHASE_SEND,    /* writing BEGIN_REQUEST, PARAMS, STDIN */
  FCGI_PHASE_RECV     /* waiting for / reading the response */
} fcgi_phase;

/* "connect", "send", "response" or "none". */
const char *fcgi_phase_name(fcgi_phase phase);

/* ------------------------------------------------------------------ time */

#define FCGI_NO_DEADLINE INT64_MAX

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t fcgi_now_ms(void);

/* ------------------------------------------------------------- endpoints */

typedef struct fcgi_endpoint fcgi_endpoint;

/*
 * Parse and resolve an endpoint. Accepted forms:
 *   unix:/path/to.sock   /path/to.sock   (a path: any spec starting with '/')
 *   tcp://host:port      host:port       [v6addr]:port   tcp://[v6addr]:port
 * Host names are resolved here (getaddrinfo, blocking); every resolved address
 * is kept and tried in order when connecting: on a connect error the next
 * one is tried at once, and while more remain a pending connect gets an equal
 * share of the time left before the deadline.
 * Returns FCGI_OK and *out (owned by the caller, free with
 * fcgi_endpoint_free), or an error with a sentence in errbuf (may be NULL).
 */
fcgi_err fcgi_endpoint_parse(const char *spec, fcgi_endpoint **out,
                             char *errbuf, size_t errlen);
void fcgi_endpoint_free(fcgi_endpoint *ep); /* NULL is a no-op */
/* The canonical text ("unix:/run/php.sock", "tcp://127.0.0.1:9000"); valid
 * as long as ep. */
const char *fcgi_endpoint_str(const fcgi_endpoint *ep);
/* 1 for a unix socket, 0 for TCP. */
int fcgi_endpoint_is_unix(const fcgi_endpoint *ep);

/* ------------------------------------------------------------ cancelling */

typedef struct fcgi_cancel fcgi_cancel;

/* A cancellation handle (an atomic flag plus an eventfd that poll() sees).
 * NULL on out of memory or no file descriptors. */
fcgi_cancel *fcgi_cancel_new(void);
/* Wake every request using this handle; they end with FCGI_ECANCELED.
 * Async-signal-safe and callable from any thread. Stays triggered until
 * fcgi_cancel_reset(). */
void fcgi_cancel_trigger(fcgi_cancel *c);
void fcgi_cancel_reset(fcgi_cancel *c);
int fcgi_cancel_is_triggered(const fcgi_cancel *c);
void fcgi_cancel_free(fcgi_cancel *c); /* NULL is a no-op */

/* -------------------------------------------------------------- requests */

#define FCGI_ROLE_RESPONDER 1
#define FCGI_ROLE_AUTHORIZER 2
#define FCGI_ROLE_FILTER 3

typedef struct fcgi_request fcgi_request;

/* A request description: role, ordered params, optional stdin body.
 * NULL on out of memory. */
fcgi_request *fcgi_request_new(int role);
void fcgi_request_free(fcgi_request *rq); /* NULL is a no-op */
/* Append a param (copied; any bytes, any length up to 2^31-1). A pair is
 * never split across PARAMS records (php-fpm closes the connection on that),
 * so a single pair larger than 65535 - 8 encoded bytes is FCGI_EINVAL. */
fcgi_err fcgi_request_add_param(fcgi_request *rq, const char *name,
                                size_t name_len, const char *value,
                                size_t value_len);
/* NUL-terminated convenience form. */
fcgi_err fcgi_request_add_param_str(fcgi_request *rq, const char *name,
                                    const char *value);
/* Set (replace) the stdin body; copied. Sent in STDIN records of at most
 * 65528 bytes, followed by the empty STDIN record. */
fcgi_err fcgi_request_set_stdin(fcgi_request *rq, const void *body, size_t len);

/* ------------------------------------------------------------- responses */

/* Per-call options. Zero-initialise, then set what you need. */
struct fcgi_call_opts {
  int64_t deadline_ms; /* absolute; 0 is taken as FCGI_NO_DEADLINE */
  fcgi_cancel *cancel; /* optional, borrowed */
  size_t max_stdout;   /* 0 = 16 MiB. Over it: FCGI_ETOOBIG */
  size_t max_stderr;   /* 0 = 64 KiB. Over it: FCGI_ETOOBIG */
  size_t max_headers;  /* 0 = 16 KiB of CGI headers */
  uint16_t request_id; /* 0 = 1 */
  int keep_conn;       /* reserved for connection reuse; 0 = off */
  /* Optional body sink. When set, the body (stdout after the CGI header
   * block) is handed over chunk by chunk and NOT stored in the response; the
   * header block is still parsed and stored. Return 0 to go on, non-zero to
   * abort the request (it then ends with FCGI_ECANCELED and errmsg says the
   * sink stopped it). Called on the thread driving the request. max_stdout
   * still bounds the total. */
  int (*on_body)(void *ud, const char *buf, size_t len);
  void *on_body_ud;
};

/*
 * The outcome of one request. Zero-initialise (or fcgi_response_init) before
 * use and fcgi_response_clear() after; clear also makes it reusable.
 * All pointers are owned by the response and valid until it is cleared.
 */
struct fcgi_response {
  fcgi_err err;     /* FCGI_OK when END_REQUEST(REQUEST_COMPLETE) came */
  fcgi_phase phase; /* where it failed */
  char errmsg[512]; /* detail: names the endpoint and the cause */

  /* Whole stdout, NUL-terminated. With on_body it holds only the CGI header
   * block (blank line included). On an error it keeps what arrived (partial
   * data, e.g. FCGI_ECLOSED); NULL when nothing did. */
  char *out;
  size_t out_len;
  char *err_text; /* stderr, NUL-terminated; NULL if none */
  size_t err_len;

  int status;          /* CGI Status: code; 200 when the header is absent;
                          0 when no complete header block arrived (an
                          invalid Status: value is FCGI_EPROTO) */
  const char *headers; /* the CGI header block, without the blank line */
  size_t headers_len;
  const char *body; /* stdout after the header block (points into out);
                       NULL with on_body or without a header block */
  size_t body_len;  /* with on_body: bytes handed to the sink */

  uint32_t app_status; /* END_REQUEST appStatus */
  int protocol_status; /* END_REQUEST protocolStatus; -1 if none came */

  uint64_t bytes_in, bytes_out;                    /* on the wire */
  int64_t t_connect_ms, t_first_byte_ms, t_end_ms; /* since start; -1 = n/a */
};

void fcgi_response_init(struct fcgi_response *r);
void fcgi_response_clear(struct fcgi_response *r);
/* Value of a CGI response header (case-insensitive name) or NULL; *len gets
 * its length. Points into the response. */
const char *fcgi_response_header(const struct fcgi_response *r,
                                 const char *name, size_t *len);

/* ------------------------------------------------------ one blocking call */

/*
 * Send rq to ep and wait for END_REQUEST, the deadline or cancellation.
 * Returns resp->err. Safe to call from several threads at once (each call
 * uses its own connection). This is a thin loop over fcgi_multi.
 */
fcgi_err fcgi_do(const fcgi_endpoint *ep, const fcgi_request *rq,
                 const struct fcgi_call_opts *opts, struct fcgi_response *resp);

/* ---------------------------------------------------- many at once (engine) */

typedef struct fcgi_multi fcgi_multi;

fcgi_multi *fcgi_multi_new(void);
/* Ends every request still running (they are reported as FCGI_ECANCELED to
 * nobody) and frees the engine. NULL is a no-op. */
void fcgi_multi_free(fcgi_multi *m);

/*
 * Start a request. ep, rq, opts->cancel and resp are borrowed and must stay
 * valid until the request is returned by fcgi_multi_next_done(); opts itself
 * is copied. resp is cleared first. On an error return (FCGI_ENOMEM, or
 * FCGI_EINVAL for NULL arguments) nothing was started and the request will
 * never be reported done. Connecting starts at once (non-blocking); a
 * connect that fails at once (ENOENT, EACCES, ECONNREFUSED, EBACKLOG) is
 * still reported through fcgi_multi_next_done with resp->err set.
 */
fcgi_err fcgi_multi_add(fcgi_multi *m, const fcgi_endpoint *ep,
                        const fcgi_request *rq,
                        const struct fcgi_call_opts *opts,
                        struct fcgi_response *resp, void *user);

/* Wait up to max_wait_ms (-1 = until the next deadline) for I/O, drive every
 * request, expire overdue ones. Returns the number still running. */
int fcgi_multi_poll(fcgi_multi *m, int max_wait_ms);

/* Pop one finished request: returns 1 and sets *resp / *user, or 0 when none
 * is waiting. The response's err says how it ended. */
int fcgi_multi_next_done(fcgi_multi *m, struct fcgi_response **resp,
                         void **user);

/* Number of requests added and not yet popped by fcgi_multi_next_done. */
int fcgi_multi_pending(const fcgi_multi *m);

/* Run until every request has finished (each bounded by its own deadline). */
void fcgi_multi_run(fcgi_multi *m);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FCGI_H */
