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
 *    worker per idle connection (see docs/client-library.md, "Why no keep-alive
 * by default"). Reuse and multiplexing are opt-in per call (keep_conn,
 * multiplex) on an engine bound to an fcgi_client; without them nothing
 * changes: one connection per request, request id 1, closed after END_REQUEST.
 *
 * Time is int64_t milliseconds of CLOCK_MONOTONIC (fcgi_now_ms()); deadlines
 * are absolute. A deadline of 0 (a zero-initialised fcgi_call_opts) means
 * the default, FCGI_DEFAULT_TIMEOUT_MS after the request starts; only
 * FCGI_NO_DEADLINE means none.
 *
 * Ownership and lifetimes, in one place (each section repeats its part):
 *  - Objects made by a *_new / *_parse function belong to the caller, who
 *    frees them with the matching *_free (NULL is always a no-op).
 *  - What a call borrows (endpoint, request, cancel handle, response,
 *    client) must stay valid until the call returns, or for fcgi_multi_add
 *    until the request is returned by fcgi_multi_next_done (or the engine is
 *    freed). Options structs are copied; the pointers inside them are
 *    borrowed the same way.
 *  - Strings the library returns are static (fcgi_err_str, fcgi_err_name,
 *    fcgi_phase_name) or live as long as the object they came from
 *    (fcgi_endpoint_str, the fields of fcgi_response).
 *
 * Thread-safety: an fcgi_endpoint is immutable after parsing and may be shared
 * by any number of threads. An fcgi_request is read-only while requests run,
 * so one request object may be sent by several threads at once; building it
 * (add_param, set_stdin) is not safe while it is in use or from two threads.
 * An fcgi_multi (and its requests' fcgi_response) belongs to one thread at a
 * time. An fcgi_client is thread-safe and may be shared by engines on many
 * threads. fcgi_cancel_trigger() may be called from any thread or signal
 * handler. fcgi_do, fcgi_client_do and fcgi_client_probe may run on many
 * threads at once. Every function without an object (fcgi_now_ms, the
 * string functions) is thread-safe. The library has no global state.
 */
#ifndef FPM_FCGI_H
#define FPM_FCGI_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/*
 * Error codes. Numbering is append-only: a retired code keeps its slot.
 * fcgi_err_str() gives one sentence per code; the detail (endpoint, errno
 * text, socket owner and mode, what was malformed) is in fcgi_response.errmsg.
 * The string functions of the project's error enums are all named after
 * their type: fcgi_err_str (here), fpm_err_str, fpm_perr_str.
 */
typedef enum fcgi_err {
  FCGI_OK = 0,
  FCGI_AGAIN = 1,    /* internal: more I/O needed; never returned to users */
  FCGI_ENOMEM = 2,   /* out of memory: an allocation failed, or the kernel
                        said ENOMEM / ENOBUFS for a socket */
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
  FCGI_ENOTFCGI = 19,     /* the peer does not speak FastCGI: its answer
                             starts like HTTP or HTML (a web server port) */
  FCGI_ENOFILES = 20,     /* no descriptor for the socket: the process
                             (EMFILE) or the system (ENFILE) is at its limit */
  FCGI_ERR_LAST           /* never use */
} fcgi_err;

/* One static sentence for a code ("connection refused"). Never NULL; an
 * unknown code gets a sentence too. */
const char *fcgi_err_str(fcgi_err err);
/* The code's symbolic name ("FCGI_ETIMEDOUT"), static. Never NULL. */
const char *fcgi_err_name(fcgi_err err);

/* Where a request was when it failed (meaningful for FCGI_ETIMEDOUT,
 * FCGI_ECANCELED, FCGI_EIO and FCGI_ECLOSED). */
typedef enum fcgi_phase {
  FCGI_PHASE_NONE = 0,
  FCGI_PHASE_CONNECT, /* waiting for the connection to be established */
  FCGI_PHASE_SEND,    /* writing BEGIN_REQUEST, PARAMS, STDIN */
  FCGI_PHASE_RECV     /* waiting for / reading the response */
} fcgi_phase;

/* "connect", "send", "response" or "none" (static). */
const char *fcgi_phase_name(fcgi_phase phase);

/* ------------------------------------------------------------------ time */

/* fcgi_call_opts.deadline_ms: no deadline at all (the request can then
 * wait forever on a peer that never answers; prefer a real deadline). */
#define FCGI_NO_DEADLINE INT64_MAX
/* What deadline_ms 0 means: this many ms after the request starts
 * (fcgi_multi_add, fcgi_do). */
#define FCGI_DEFAULT_TIMEOUT_MS 10000

/* Milliseconds of CLOCK_MONOTONIC. Thread-safe. */
int64_t fcgi_now_ms(void);

/* ------------------------------------------------------------- endpoints */

/* A parsed, resolved endpoint. Immutable once made: any number of threads
 * and requests may use it at once. It must outlive every request that uses
 * it (fcgi_multi_add borrows it); a client keeps no pointer to it (it keys
 * its state by the endpoint's text). */
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

/* Where an endpoint is reached from, for a server inside a container. */
struct fcgi_endpoint_opts {
  /* Path of a network namespace file (e.g. "/proc/PID/ns/net"): each
   * socket is created inside that namespace (setns(CLONE_NEWNET) on the
   * calling thread around socket(2), then back at once), so a TCP address
   * is the one that namespace sees. Needs CAP_SYS_ADMIN; without it the
   * connect fails with FCGI_EACCES and a sentence saying so. NULL: the
   * caller's namespace. */
  const char *netns;
  /* Directory that a unix socket path is resolved in as if it were "/"
   * (openat2 RESOLVE_IN_ROOT at each connect, e.g. "/proc/PID/root"): no
   * symbolic link or ".." in the path leads out of it. NULL: "/". */
  const char *root;
  /* Appended to the canonical text as "@tag" (tells two containers' equal
   * addresses apart). NULL: nothing. */
  const char *tag;
};

/* fcgi_endpoint_parse, reached as o says (o may be NULL). The strings are
 * copied; the namespace and root are opened at each connect. */
fcgi_err fcgi_endpoint_parse_opts(const char *spec,
                                  const struct fcgi_endpoint_opts *o,
                                  fcgi_endpoint **out, char *errbuf,
                                  size_t errlen);
/* The canonical text ("unix:/run/php.sock", "tcp://127.0.0.1:9000"); valid
 * as long as ep. */
const char *fcgi_endpoint_str(const fcgi_endpoint *ep);
/* 1 for a unix socket, 0 for TCP. */
int fcgi_endpoint_is_unix(const fcgi_endpoint *ep);

/* ------------------------------------------------------------ cancelling */

typedef struct fcgi_cancel fcgi_cancel;

/* A cancellation handle (an atomic flag plus an eventfd that poll() sees).
 * Owned by the caller; requests borrow it (fcgi_call_opts.cancel), so it
 * must outlive them. One handle may serve many requests on many threads.
 * NULL on out of memory or no file descriptors. */
fcgi_cancel *fcgi_cancel_new(void);
/* Wake every request using this handle; they end with FCGI_ECANCELED.
 * Async-signal-safe and callable from any thread. Stays triggered until
 * fcgi_cancel_reset(). */
void fcgi_cancel_trigger(fcgi_cancel *c);
/* Clear the trigger. Any thread; not async-signal-safe. A request that
 * already ended with FCGI_ECANCELED stays ended. */
void fcgi_cancel_reset(fcgi_cancel *c);
/* 1 once triggered (and not reset). Any thread. */
int fcgi_cancel_is_triggered(const fcgi_cancel *c);
/* Only when no request uses it any more. NULL is a no-op. */
void fcgi_cancel_free(fcgi_cancel *c);

/* -------------------------------------------------------------- requests */

#define FCGI_ROLE_RESPONDER 1
#define FCGI_ROLE_AUTHORIZER 2
#define FCGI_ROLE_FILTER 3

typedef struct fcgi_request fcgi_request;

/* A request description: role, ordered params, optional stdin body.
 * Owned by the caller; a request borrows it (fcgi_multi_add: until it is
 * returned done; fcgi_do: during the call), so free it only after. Build it
 * first (add_param, set_stdin: one thread, not while it is in use); once
 * built it is only read, so any number of threads and requests may send it
 * at once. NULL on out of memory. */
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

struct fcgi_trace; /* defined below (tracing) */

/* Per-call options. Zero-initialise, then set what you need: all zeros is
 * a bounded call with default caps. The struct is copied by the call; the
 * pointers in it are borrowed as the call's other arguments are. */
struct fcgi_call_opts {
  /* Absolute (fcgi_now_ms clock), covering connect to END_REQUEST.
   * 0: FCGI_DEFAULT_TIMEOUT_MS after the request starts. FCGI_NO_DEADLINE:
   * none. A time already past (or negative) ends the request with
   * FCGI_ETIMEDOUT without waiting. A retry or fallback keeps the request's
   * deadline. */
  int64_t deadline_ms;
  fcgi_cancel *cancel; /* optional, borrowed */
  size_t max_stdout;   /* 0 = 16 MiB. Over it: FCGI_ETOOBIG */
  size_t max_stderr;   /* 0 = 64 KiB. Over it: FCGI_ETOOBIG */
  size_t max_headers;  /* 0 = 16 KiB of CGI headers */
  uint16_t request_id; /* 0 = 1 */
  /* Connection reuse (FCGI_KEEP_CONN), opt-in. Takes effect only on an
   * engine bound to a client (fcgi_multi_new_client, fcgi_client_do): the
   * connection then goes back to the client's idle list after END_REQUEST.
   * Without a client it only sets the flag and the connection is closed
   * after the request, as before. 0 = off (see "Why no keep-alive by
   * default" in docs/client-library.md: each idle kept connection pins a
   * php-fpm worker). */
  int keep_conn;
  /* Optional body sink. When set, the body (stdout after the CGI header
   * block) is handed over chunk by chunk and NOT stored in the response; the
   * header block is still parsed and stored. Return 0 to go on, non-zero to
   * abort the request (it then ends with FCGI_ECANCELED and errmsg says the
   * sink stopped it). Called on the thread driving the request; buf is
   * valid only during the call; the sink must not drive or free the engine
   * running the request. max_stdout still bounds the total. */
  int (*on_body)(void *ud, const char *buf, size_t len);
  void *on_body_ud;

  /* ---- added for multiplexing, reuse and tracing (all off when 0) ---- */

  /* FCGI_MUX_OFF (0), FCGI_MUX_AUTO or FCGI_MUX_FORCE; needs a client. */
  int multiplex;
  /* Called once when the request ends (before fcgi_multi_next_done can
   * return it), on the thread driving the engine. t and its strings are
   * valid only during the call; it must not drive or free that engine. */
  void (*on_trace)(void *ud, const struct fcgi_trace *t);
  void *on_trace_ud;
  /* 1: send a W3C traceparent to the application as the HTTP_TRACEPARENT
   * param. The trace id comes from traceparent_in when given (validated:
   * "00-<32 hex>-<16 hex>-<2 hex>", lower case, ids not all zero; an
   * invalid value is FCGI_EINVAL), else it is random; the span id sent is
   * always a fresh random one (this request's client span). */
  int traceparent;
  const char *traceparent_in; /* optional, borrowed during the add call */
};

/* Multiplexing modes (fcgi_call_opts.multiplex).
 * AUTO: several requests in flight on one connection only when the server
 *       answered FCGI_GET_VALUES with FCGI_MPXS_CONNS=1 (php-fpm says 0).
 * FORCE: also when the server never answered the probe (AnyEvent::FCGI
 *       multiplexes but never answers GET_VALUES). Never when the server
 *       said 0 or once it answered a request with CANT_MPX_CONN.
 * A request refused with END_REQUEST(CANT_MPX_CONN) is sent again on a new
 * connection of its own within its deadline. */
#define FCGI_MUX_OFF 0
#define FCGI_MUX_AUTO 1
#define FCGI_MUX_FORCE 2

/*
 * The outcome of one request. The struct is the caller's (stack or heap);
 * zero-initialise it (or fcgi_response_init) before use and call
 * fcgi_response_clear() after; clear frees what the library allocated and
 * makes it reusable. All pointers are owned by the response and valid until
 * it is cleared or reused. While a request runs (fcgi_multi_add until
 * fcgi_multi_next_done returns it) the engine writes it: do not read, clear
 * or free it then. Not thread-safe; one thread at a time.
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
 * uses its own connection). ep, rq and opts are borrowed for the call only;
 * opts may be NULL (all defaults). This is a thin loop over fcgi_multi.
 */
fcgi_err fcgi_do(const fcgi_endpoint *ep, const fcgi_request *rq,
                 const struct fcgi_call_opts *opts, struct fcgi_response *resp);

/* ---------------------------------------------------- many at once (engine) */

/* An engine: any number of requests driven by one poll(). Owned by the
 * caller; not thread-safe: one thread at a time drives it (every fcgi_multi_*
 * call), though different engines run on different threads at once. Never
 * call it from an on_body or on_trace callback of its own requests. */
typedef struct fcgi_multi fcgi_multi;

/* An engine of its own (no client: one connection per request). NULL on
 * out of memory. */
fcgi_multi *fcgi_multi_new(void);
/* Ends every request still running (their responses get FCGI_ECANCELED and
 * are not reported) and frees the engine; borrowed objects are released
 * after it returns. NULL is a no-op. */
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
 * is waiting. The response's err says how it ended. From here on the
 * engine holds nothing of that request: its endpoint, request and response
 * are the caller's again. */
int fcgi_multi_next_done(fcgi_multi *m, struct fcgi_response **resp,
                         void **user);

/* Number of requests added and not yet popped by fcgi_multi_next_done. */
int fcgi_multi_pending(const fcgi_multi *m);

/* Run until every request has finished (each bounded by its own deadline). */
void fcgi_multi_run(fcgi_multi *m);

/* ------------------------------------------- external event loops */

/*
 * For callers with their own poll/epoll loop. fcgi_multi_fds() writes the
 * descriptors to watch (sockets and cancel handles) into fds (up to n) and
 * returns how many there are (call again with a bigger array when that is
 * more than n). fcgi_multi_timeout_ms() is how long the loop may sleep
 * before fcgi_multi_perform() must run again (-1 = no timer). Then pass the
 * same array, with revents filled in, to fcgi_multi_perform() with the
 * current fcgi_now_ms(); it drives every request and returns the number
 * still running. The set changes after every perform: fetch it again.
 * fcgi_multi_poll() is exactly fds + poll() + perform.
 */
size_t fcgi_multi_fds(fcgi_multi *m, struct pollfd *fds, size_t n);
int fcgi_multi_timeout_ms(fcgi_multi *m);
int fcgi_multi_perform(fcgi_multi *m, const struct pollfd *fds, size_t n,
                       int64_t now);

/* ------------------------------------------------------------- tracing */

/* One finished request, handed to fcgi_call_opts.on_trace. Owned by the
 * engine and valid, with its strings, only during the callback: copy what
 * you keep. Times are ms since the request was added (-1 = did not
 * happen). */
struct fcgi_trace {
  const char *endpoint; /* canonical endpoint text */
  void *user;           /* the user pointer of fcgi_multi_add */
  uint16_t request_id;  /* the id used on the wire (last attempt) */
  uint64_t conn_id;     /* the client's connection number (0: no client) */
  int reused;           /* 1: sent on a kept connection from the idle list */
  int multiplexed;      /* 1: shared its connection with other requests */
  int attempts;         /* 1, or 2 after a retry or a CANT_MPX fallback */
  int64_t start_unix_ns, end_unix_ns; /* wall clock (CLOCK_REALTIME) */
  int64_t t_connect_ms, t_first_byte_ms, t_end_ms;
  uint64_t bytes_in, bytes_out;
  fcgi_err err;
  int protocol_status; /* -1 when no END_REQUEST came */
  int status;          /* CGI status, 0 when none */
  const char *errmsg;  /* "" on success */
  /* W3C ids as lower-case hex ("" when traceparent was off); parent is
   * the span id of traceparent_in, "" without one. */
  char trace_id[33], span_id[17], parent_span_id[17];
  char traceparent[56]; /* the value sent as HTTP_TRACEPARENT, or "" */
};

/* ------------------------------------- client: capabilities, idle pool */

/*
 * A client owns per-endpoint state shared by every engine bound to it:
 * the capabilities learnt with FCGI_GET_VALUES and the idle kept
 * connections. It is thread-safe (one mutex): several threads may each
 * run their own fcgi_multi bound to the same client, and every fcgi_client_*
 * function may be called from any thread. A connection with requests in
 * flight belongs to the engine driving it; only idle ones are shared.
 * Endpoints are matched by their canonical text (the client copies it, so
 * an endpoint may be freed while the client lives). Owned by the caller; it
 * must outlive every engine bound to it.
 */
typedef struct fcgi_client fcgi_client;

struct fcgi_client_opts {
  size_t max_idle;          /* idle connections kept per endpoint; 0 = 4 */
  int64_t idle_timeout_ms;  /* idle longer than this: closed (checked on
                               every checkout and checkin: there is no timer
                               thread; fcgi_client_close_idle() closes all
                               at once); 0 = 30000 */
  int64_t probe_timeout_ms; /* GET_VALUES probe deadline; 0 = 300 */
  unsigned max_mux;         /* requests per multiplexed connection; 0 =
                               the server's FCGI_MAX_REQS, at most 256 */
};

/* opts may be NULL (defaults); it is copied. NULL on out of memory. */
fcgi_client *fcgi_client_new(const struct fcgi_client_opts *opts);
/* Closes every idle connection. Engines bound to it must be freed first.
 * NULL is a no-op. */
void fcgi_client_free(fcgi_client *cl);

/* What the client knows about an endpoint. */
enum fcgi_caps_state {
  FCGI_CAPS_UNPROBED = 0, /* nobody asked yet */
  FCGI_CAPS_KNOWN,        /* a GET_VALUES_RESULT came */
  FCGI_CAPS_NO_ANSWER     /* the probe got no answer: do not multiplex */
};
struct fcgi_caps {
  enum fcgi_caps_state state;
  int mpxs_conns; /* FCGI_MPXS_CONNS: 1, 0, or -1 when not given */
  long max_conns; /* FCGI_MAX_CONNS, -1 when not given */
  long max_reqs;  /* FCGI_MAX_REQS, -1 when not given */
  int cant_mpx;   /* 1 once a request got END_REQUEST(CANT_MPX_CONN) */
};
/* Copy the cached capabilities of ep into *out (the caller's; state
 * UNPROBED when none). */
void fcgi_client_caps(fcgi_client *cl, const fcgi_endpoint *ep,
                      struct fcgi_caps *out);
/* Probe now (blocking, on a connection of its own that is then closed):
 * send FCGI_GET_VALUES and wait for the answer until the client's probe
 * timeout or deadline_ms, whichever is first (0 or FCGI_NO_DEADLINE: the
 * probe timeout alone; a deadline already past, negative too, ends it at
 * once with FCGI_ETIMEDOUT); the result is cached. out may be NULL. Returns
 * FCGI_OK when an answer came, FCGI_ETIMEDOUT when none did (cached as
 * NO_ANSWER), or the connect error. errbuf (may be NULL) gets the detail. */
fcgi_err fcgi_client_probe(fcgi_client *cl, const fcgi_endpoint *ep,
                           int64_t deadline_ms, struct fcgi_caps *out,
                           char *errbuf, size_t errlen);

/* Counters per endpoint, for tests and monitoring (a copy, the caller's). */
struct fcgi_client_stats {
  uint64_t opened;    /* connections opened for requests (probes excluded) */
  uint64_t reused;    /* requests sent on an idle kept connection */
  uint64_t retried;   /* requests retried on a fresh connection */
  uint64_t fallbacks; /* requests re-sent after CANT_MPX_CONN */
  uint64_t probes;    /* GET_VALUES probes sent */
  size_t idle;        /* idle connections now */
  unsigned max_in_flight; /* most requests seen at once on one connection */
};
void fcgi_client_stats(fcgi_client *cl, const fcgi_endpoint *ep,
                       struct fcgi_client_stats *out);
/* Close every idle connection now (all endpoints). */
void fcgi_client_close_idle(fcgi_client *cl);

/* An engine bound to a client: keep_conn and multiplex take effect. The
 * engine borrows cl (free the engine first). cl NULL is fcgi_multi_new().
 * NULL on out of memory. */
fcgi_multi *fcgi_multi_new_client(fcgi_client *cl);
/* fcgi_do through a client (one request on a temporary bound engine);
 * thread-safe like fcgi_do. */
fcgi_err fcgi_client_do(fcgi_client *cl, const fcgi_endpoint *ep,
                        const fcgi_request *rq,
                        const struct fcgi_call_opts *opts,
                        struct fcgi_response *resp);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FCGI_H */
