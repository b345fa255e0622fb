/*
 * fpm_fetch.c: the fetch façade shared by fpmstat and the collectd plugin.
 *
 * Owns: the status and ping request params (with the per-fetch self
 * marker), the run of many targets on one fcgi_multi, streaming the body into
 * the status parser, the CGI status and Content-Type checks, the retry of a
 * transient 5xx, the JSON-to-text fallback, and the mapping of every failure
 * to an fpm_err class with a one-line message that names the target, the
 * cause and, where known, the fix.
 */
#include "fpm_fetch.h"
#include "fpm_fdlimit.h"
#include "fpm_fetch_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifndef FPMSTAT_VERSION
#define FPMSTAT_VERSION "0"
#endif

#define HEAD_CAP 256 /* first body bytes kept for messages */

struct fpm_fetcher {
  fcgi_endpoint *ep;
  char *status_path;
  char *ping_path;
  char *ping_response;
  int no_full;
  char pool[64]; /* fpm_target.pool; "": any */
  uint64_t seq;  /* fetches so far: part of the marker fallback */
};

/* ------------------------------------------------------------- classes */

const char *fpm_err_str(fpm_err e) {
  switch (e) {
  case FPM_OK:
    return "ok";
  case FPM_EUSAGE:
    return "usage error";
  case FPM_ECONNECT:
    return "cannot connect";
  case FPM_ETIMEOUT:
    return "timeout";
  case FPM_EPROTOCOL:
    return "FastCGI protocol error";
  case FPM_EHTTP:
    return "status page error";
  case FPM_EPARSE:
    return "not a status page";
  case FPM_ENOMEM:
    return "out of memory";
  case FPM_ERR_LAST:
    break;
  }
  return "unknown error";
}

static fpm_err class_of(fcgi_err e) {
  switch (e) {
  case FCGI_OK:
    return FPM_OK;
  case FCGI_ENOENT:
  case FCGI_EACCES:
  case FCGI_ECONNREFUSED:
  case FCGI_EBACKLOG:
  case FCGI_ERESOLVE:
  case FCGI_ECONNECT:
  case FCGI_ENOFILES:
    return FPM_ECONNECT;
  case FCGI_ETIMEDOUT:
  case FCGI_ECANCELED:
    return FPM_ETIMEOUT;
  case FCGI_ENOMEM:
    return FPM_ENOMEM;
  default:
    return FPM_EPROTOCOL;
  }
}

/* The fix for a transport error, or NULL. */
static const char *transport_hint(fcgi_err e, fcgi_phase phase) {
  switch (e) {
  case FCGI_ENOENT:
    return "is php-fpm running, and is this the pool's `listen` path?";
  case FCGI_ENOFILES:
    return "raise the open-files limit (ulimit -n, systemd LimitNOFILE)";
  case FCGI_EACCES:
    return "run as the socket's owner or group, or set listen.owner, "
           "listen.group and listen.mode (or listen.acl_users) in the pool";
  case FCGI_ECONNREFUSED:
    return "nothing accepts connections there: php-fpm is stopped, the "
           "socket is stale, or the port is wrong";
  case FCGI_EBACKLOG:
    return "the listen queue is full because every worker is busy; "
           "pm.status_listen gives status its own socket";
  case FCGI_ERESOLVE:
    return "check the host name";
  case FCGI_ETIMEDOUT:
    if (phase == FCGI_PHASE_CONNECT)
      return "the server did not accept the connection in time";
    return "the pool is probably saturated (every worker busy, the request "
           "waits in the listen queue); pm.status_listen gives status its "
           "own socket, or raise the timeout (fpmstat --timeout, plugin "
           "Timeout)";
  case FCGI_ECLOSED:
  case FCGI_EPROTO:
    return "is this a FastCGI (php-fpm) socket, and not HTTP?";
  case FCGI_EOVERLOADED:
    return "the server refused the request as overloaded";
  case FCGI_ETOOBIG:
    return "the answer is larger than the size cap";
  default:
    return NULL;
  }
}

/* ------------------------------------------------------------- helpers */

/* Replace control bytes with spaces, so a message stays on one line. */
static void one_line(char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      *s = ' ';
}

/* Copy at most max bytes of src[0..len) to dst (cap bytes) as printable
 * ASCII (other bytes become '?'), stopping at the first line end when
 * first_line is set. */
static void excerpt(char *dst, size_t cap, const char *src, size_t len,
                    size_t max, int first_line) {
  size_t o = 0;
  if (cap == 0)
    return;
  for (size_t i = 0; i < len && i < max && o + 1 < cap; i++) {
    unsigned char c = (unsigned char)src[i];
    if (first_line && (c == '\n' || c == '\r'))
      break;
    dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' ? ' ' : '?');
  }
  dst[o] = '\0';
}

/* Append to the NUL-terminated text in buf (cap bytes), truncating. */
__attribute__((format(printf, 3, 4))) static void
appendf(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strnlen(buf, cap);
  if (len + 1 >= cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* 16 hex digits, unique per fetch: getrandom, else counter, time and pid. */
static void make_marker(fpm_fetcher *f, char *out, size_t cap) {
  uint64_t r = 0;
  f->seq++;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r = mix64((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
        mix64(f->seq ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)f);
  }
  /* "%016" PRIx64, truncated to cap like snprintf */
  static const char hex[] = "0123456789abcdef";
  char d[16];
  for (int i = 15; i >= 0; i--, r >>= 4)
    d[i] = hex[r & 15];
  size_t n = cap == 0 ? 0 : cap - 1 < 16 ? cap - 1 : 16;
  if (cap > 0) {
    memcpy(out, d, n);
    out[n] = '\0';
  }
}

/* A path we can send: starts with '/', no control bytes, no '?'. */
static int path_ok(const char *p) {
  if (p[0] != '/')
    return 0;
  for (; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '?')
      return 0;
  return 1;
}

/* ------------------------------------------------------------- fetcher */

fpm_err fpm_fetcher_create(const struct fpm_target *t, fpm_fetcher **out,
                           char *errbuf, size_t errlen) {
  char eb[256] = "";
  char dummy[1];
  if (errbuf == NULL || errlen == 0) {
    errbuf = dummy;
    errlen = sizeof dummy;
  }
  errbuf[0] = '\0';
  *out = NULL;
  if (t == NULL || t->endpoint == NULL || t->endpoint[0] == '\0') {
    snprintf(errbuf, errlen, "no target given");
    return FPM_EUSAGE;
  }
  const char *sp = t->status_path != NULL ? t->status_path : "/status";
  const char *pp = t->ping_path != NULL ? t->ping_path : "/ping";
  if (!path_ok(sp) || !path_ok(pp)) {
    snprintf(errbuf, errlen,
             "%s: a status or ping path must start with '/' and hold no '?' "
             "or control characters",
             t->endpoint);
    return FPM_EUSAGE;
  }
  /* one block: the fetcher, then its three strings */
  const char *pr = t->ping_response != NULL ? t->ping_response : "pong";
  size_t ls = strlen(sp) + 1, lp = strlen(pp) + 1, lr = strlen(pr) + 1;
  fpm_fetcher *f = calloc(1, sizeof *f + ls + lp + lr);
  if (f == NULL)
    goto oom;
  f->status_path = (char *)(f + 1);
  f->ping_path = f->status_path + ls;
  f->ping_response = f->ping_path + lp;
  memcpy(f->status_path, sp, ls);
  memcpy(f->ping_path, pp, lp);
  memcpy(f->ping_response, pr, lr);
  f->no_full = t->no_full;
  if (t->pool != NULL)
    snprintf(f->pool, sizeof f->pool, "%s", t->pool);
  struct fcgi_endpoint_opts eo = {t->netns, t->root, t->tag};
  fcgi_err e = fcgi_endpoint_parse_opts(
      t->endpoint, t->netns || t->root || t->tag ? &eo : NULL, &f->ep, eb,
      sizeof eb);
  if (e != FCGI_OK) {
    snprintf(errbuf, errlen, "%s", eb[0] ? eb : fcgi_err_str(e));
    free(f);
    return e == FCGI_ENOMEM   ? FPM_ENOMEM
           : e == FCGI_EINVAL ? FPM_EUSAGE
                              : FPM_ECONNECT;
  }
  *out = f;
  return FPM_OK;
oom:
  snprintf(errbuf, errlen, "%s: out of memory", t->endpoint);
  return FPM_ENOMEM;
}

fpm_fetcher *fpm_fetcher_new(const struct fpm_target *t, char *errbuf,
                             size_t errlen) {
  fpm_fetcher *f = NULL;
  fpm_fetcher_create(t, &f, errbuf, errlen);
  return f;
}

void fpm_fetcher_free(fpm_fetcher *f) {
  if (f == NULL)
    return;
  fcgi_endpoint_free(f->ep);
  free(f);
}

const char *fpm_fetcher_endpoint(const fpm_fetcher *f) {
  return fcgi_endpoint_str(f->ep);
}

/* -------------------------------------------------------------- result */

/* Everything but the snapshot to zero: the snapshot's own init and clear
 * zero it, and it is more than half the struct (2.5 KB, set up four times
 * per scrape). */
static void zero_but_status(struct fpm_result *r) {
  size_t at = offsetof(struct fpm_result, status),
         after = at + sizeof r->status;
  memset(r, 0, at);
  memset((char *)r + after, 0, sizeof *r - after);
}

void fpm_result_init(struct fpm_result *r) {
  zero_but_status(r);
  fpm_status_init(&r->status);
}

void fpm_result_clear(struct fpm_result *r) {
  fpm_status_clear(&r->status);
  zero_but_status(r);
}

/* ---------------------------------------------------------------- jobs */

enum stage { STAGE_JSON = 0, STAGE_TEXT, STAGE_PING };

/* One target's fetch: one or more requests (retry, text fallback). */
struct job {
  fpm_fetcher *f;
  struct fpm_result *res;
  enum stage stage;
  int64_t deadline_ms;
  int64_t t0_ms;
  fcgi_cancel *cancel;
  fcgi_request *rq;
  struct fcgi_response resp;
  int resp_live; /* resp holds data to clear */
  fpm_parser *parser;
  fpm_perr perr; /* first parser error while streaming */
  char head[HEAD_CAP];
  size_t head_len;
  struct fpm_parse_error json_err; /* why JSON failed, for the text stage */
  int running;
  int started;      /* its first request was started */
  int64_t t_end_ms; /* when its last request ended */
};

static fcgi_err add_param(fcgi_request *rq, const char *k, const char *v) {
  return fcgi_request_add_param_str(rq, k, v);
}

/* Appends src to dst (cap bytes, text up to pos), truncated so dst keeps
 * its NUL; returns the new end. */
static size_t put(char *dst, size_t cap, size_t pos, const char *src) {
  while (pos + 1 < cap && *src != '\0')
    dst[pos++] = *src++;
  dst[pos] = '\0';
  return pos;
}

static fcgi_request *build_request(const struct job *j) {
  const fpm_fetcher *f = j->f;
  char query[96];
  const char *path = f->status_path;
  if (j->stage == STAGE_PING) {
    path = f->ping_path;
    query[0] = '\0';
  } else {
    /* "%s%sfpmstat=%s" by copying, truncated to fit as snprintf would */
    size_t n = 0;
    n = put(query, sizeof query, n, j->stage == STAGE_JSON ? "json&" : "");
    n = put(query, sizeof query, n, f->no_full ? "" : "full&");
    n = put(query, sizeof query, n, "fpmstat=");
    put(query, sizeof query, n, j->res->marker);
  }
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  if (rq == NULL)
    return NULL;
  if (add_param(rq, "SCRIPT_FILENAME", path) != FCGI_OK ||
      add_param(rq, "SCRIPT_NAME", path) != FCGI_OK ||
      add_param(rq, "REQUEST_METHOD", "GET") != FCGI_OK ||
      add_param(rq, "QUERY_STRING", query) != FCGI_OK ||
      add_param(rq, "SERVER_SOFTWARE", "fpmstat/" FPMSTAT_VERSION) != FCGI_OK ||
      add_param(rq, "REMOTE_ADDR", "127.0.0.1") != FCGI_OK) {
    fcgi_request_free(rq);
    return NULL;
  }
  return rq;
}

/* Expected Content-Type of the stage's page (prefix, case-insensitive). */
static const char *expected_type(enum stage s) {
  return s == STAGE_JSON ? "application/json" : "text/plain";
}

/* 1 when the response's Content-Type rules out the page we asked for. A
 * missing header is given the benefit of the doubt (other servers). */
static int wrong_type(const struct job *j) {
  size_t len = 0;
  const char *ct = fcgi_response_header(&j->resp, "Content-Type", &len);
  if (ct == NULL)
    return 0;
  const char *want = expected_type(j->stage);
  size_t wl = strlen(want);
  return len < wl || strncasecmp(ct, want, wl) != 0;
}

static int on_body(void *ud, const char *buf, size_t len) {
  struct job *j = ud;
  if (j->head_len < HEAD_CAP) {
    size_t k = HEAD_CAP - j->head_len < len ? HEAD_CAP - j->head_len : len;
    memcpy(j->head + j->head_len, buf, k);
    j->head_len += k;
  }
  /* the parse result is used only once the status and Content-Type have
   * been checked (check_status_body) */
  if (j->perr == FPM_P_OK)
    j->perr = fpm_parser_feed(j->parser, buf, len);
  return 0;
}

static void job_reset_request(struct job *j) {
  if (j->resp_live)
    fcgi_response_clear(&j->resp);
  j->resp_live = 0;
  fcgi_request_free(j->rq);
  j->rq = NULL;
  fpm_parser_free(j->parser);
  j->parser = NULL;
  j->perr = FPM_P_OK;
  j->head_len = 0;
}

static void set_msg(struct job *j, fpm_err err, const char *cause,
                    const char *detail, const char *hint) {
  struct fpm_result *r = j->res;
  r->err = err;
  r->message[0] = '\0';
  appendf(r->message, sizeof r->message, "%s: %s", fpm_fetcher_endpoint(j->f),
          cause);
  if (detail != NULL && detail[0] != '\0')
    appendf(r->message, sizeof r->message, " (%s)", detail);
  if (hint != NULL && hint[0] != '\0')
    appendf(r->message, sizeof r->message, "; %s", hint);
  one_line(r->message);
}

fpm_err fpm_fetch_transport_message(const char *endpoint, fcgi_err e,
                                    fcgi_phase phase, const char *errmsg,
                                    char *out, size_t cap) {
  const char *detail = errmsg != NULL ? errmsg : "";
  /* fcgi's detail starts with the endpoint; the message already has it */
  size_t tl = strlen(endpoint);
  if (strncmp(detail, endpoint, tl) == 0 && detail[tl] == ':')
    detail += tl + 1 + (detail[tl + 1] == ' ');
  if (strcmp(detail, "timed out") == 0)
    detail = "";
  char cause[128];
  const char *hint = transport_hint(e, phase);
  if (class_of(e) == FPM_ECONNECT) {
    /* fcgi explains connect failures (socket owner and mode, is php-fpm
     * running, backlog): its detail is the better hint */
    snprintf(cause, sizeof cause, "cannot connect");
    if (detail[0] != '\0' && e != FCGI_ENOFILES)
      hint = NULL;
    else
      detail = fcgi_err_str(e);
  } else if (e == FCGI_ETIMEDOUT && detail[0] != '\0') {
    snprintf(cause, sizeof cause, "timeout"); /* fcgi's detail says where */
  } else if (e == FCGI_ETIMEDOUT) {
    snprintf(cause, sizeof cause, "timed out waiting for the %s",
             phase == FCGI_PHASE_CONNECT ? "connection"
             : phase == FCGI_PHASE_SEND  ? "server to read the request"
                                         : "answer");
  } else {
    snprintf(cause, sizeof cause, "%s", fcgi_err_str(e));
  }
  if (e == FCGI_ENOTFCGI)
    hint = NULL; /* fcgi's detail already says it looks like HTTP */
  out[0] = '\0';
  appendf(out, cap, "%s: %s", endpoint, cause);
  if (detail[0] != '\0')
    appendf(out, cap, " (%s)", detail);
  if (hint != NULL && hint[0] != '\0')
    appendf(out, cap, "; %s", hint);
  one_line(out);
  return class_of(e);
}

const fcgi_endpoint *fpm_fetcher_ep(const fpm_fetcher *f) {
  return f->ep;
}

static void fail_transport(struct job *j, fcgi_err e, const char *errmsg) {
  struct fpm_result *r = j->res;
  r->fcgi = e;
  r->err =
      fpm_fetch_transport_message(fpm_fetcher_endpoint(j->f), e, j->resp.phase,
                                  errmsg, r->message, sizeof r->message);
}

static int job_start(struct job *j, fcgi_multi *m);

/* The time left lets one more request start. */
static int time_left(const struct job *j) {
  return j->deadline_ms <= 0 || fcgi_now_ms() < j->deadline_ms;
}

static void fail_http(struct job *j) {
  int st = j->resp.status;
  char detail[200], body[72];
  excerpt(body, sizeof body, j->head, j->head_len, 64, 1);
  detail[0] = '\0';
  appendf(detail, sizeof detail, "%d \"%s\"", st, body);
  if (j->res->stderr_excerpt[0] != '\0')
    appendf(detail, sizeof detail, ", stderr \"%s\"", j->res->stderr_excerpt);
  char hint[256] = "";
  const char *path =
      j->stage == STAGE_PING ? j->f->ping_path : j->f->status_path;
  const char *directive =
      j->stage == STAGE_PING ? "ping.path" : "pm.status_path";
  if (st == 404)
    appendf(hint, sizeof hint,
            "wrong %s path, or %s not set in the pool: add `%s = %s`",
            j->stage == STAGE_PING ? "ping" : "status", directive, directive,
            path);
  else if (st == 403)
    appendf(hint, sizeof hint,
            "no %s matched, so %s went to a real file, which may not run "
            "(security.limit_extensions): fix the path, or add `%s = %s`",
            directive, path, directive, path);
  else if (st >= 500)
    appendf(hint, sizeof hint,
            "the server failed twice (scoreboard busy?); see the php-fpm "
            "log");
  set_msg(j, FPM_EHTTP,
          j->stage == STAGE_PING ? "ping page answered an error"
                                 : "status page answered an error",
          detail, hint);
}

static void fail_parse(struct job *j, const struct fpm_parse_error *pe,
                       const char *extra) {
  char detail[400];
  detail[0] = '\0';
  appendf(detail, sizeof detail,
          "%s format: %s at byte %" PRIu64 " near \"%s\"",
          j->stage == STAGE_JSON ? "json" : "text",
          pe->message[0] ? pe->message : fpm_perr_str(pe->code), pe->offset,
          pe->excerpt);
  if (extra != NULL)
    appendf(detail, sizeof detail, "; %s", extra);
  if (pe->code == FPM_P_ENOMEM) {
    set_msg(j, FPM_ENOMEM, "out of memory parsing the status page", detail,
            NULL);
    return;
  }
  set_msg(j, FPM_EPARSE, "the answer is not a status page", detail,
          "does the status path reach pm.status_path, and not a script?");
}

static void check_ping(struct job *j) {
  const char *want = j->f->ping_response;
  size_t wl = strlen(want);
  if (j->resp.body_len == wl && memcmp(j->resp.body, want, wl) == 0) {
    j->res->err = FPM_OK;
    return;
  }
  char got[72], detail[160];
  excerpt(got, sizeof got, j->resp.body ? j->resp.body : "", j->resp.body_len,
          64, 0);
  detail[0] = '\0';
  appendf(detail, sizeof detail, "answered \"%s\", expected \"%.64s\"", got,
          want);
  set_msg(j, FPM_EHTTP, "unexpected ping answer", detail,
          "is ping.path set to this path, and ping.response as expected?");
}

/* A parsed status page: ours, or another pool's (fpm_target.pool). */
static void check_pool(struct job *j) {
  const struct fpm_status *st = &j->res->status;
  const char *want = j->f->pool;
  if (want[0] == '\0' || !fpm_status_has(st, FPM_F_POOL) ||
      strncasecmp(st->pool, want, sizeof st->pool - 1) == 0) {
    j->res->err = FPM_OK;
    return;
  }
  char got[72], detail[200];
  excerpt(got, sizeof got, st->pool, strlen(st->pool), 64, 1);
  detail[0] = '\0';
  appendf(detail, sizeof detail,
          "the status page is pool \"%s\"'s, expected \"%.64s\"", got, want);
  set_msg(j, FPM_EPARSE, "another pool answers here", detail,
          "two pools share this address (two masters, or a configuration "
          "whose master is not running): check their listen and "
          "pm.status_listen; its figures are not reported as this pool's");
}

static void check_status_body(struct job *j, fcgi_multi *m) {
  struct fpm_parse_error pe;
  memset(&pe, 0, sizeof pe);
  if (wrong_type(j)) {
    size_t len = 0;
    const char *ct = fcgi_response_header(&j->resp, "Content-Type", &len);
    char body[72], detail[300];
    excerpt(body, sizeof body, j->head, j->head_len, 64, 1);
    detail[0] = '\0';
    appendf(detail, sizeof detail,
            "Content-Type \"%.*s\", expected %s; body \"%s\"",
            (int)(len > 80 ? 80 : len), ct, expected_type(j->stage), body);
    set_msg(j, FPM_EPARSE, "the answer is not a status page", detail,
            "the status path ran a script or another page: is "
            "pm.status_path set to exactly this path?");
    return;
  }
  fpm_perr pr = j->perr;
  if (pr == FPM_P_OK)
    pr = fpm_parser_finish(j->parser);
  if (pr == FPM_P_OK) {
    check_pool(j);
    return;
  }
  const struct fpm_parse_error *e = fpm_parser_error(j->parser);
  if (e != NULL)
    pe = *e;
  else
    pe.code = pr;
  if (j->stage == STAGE_JSON &&
      (pr == FPM_P_ESYNTAX || pr == FPM_P_ETRUNCATED) && time_left(j)) {
    j->json_err = pe;
    j->res->fell_back_to_text = 1;
    j->stage = STAGE_TEXT;
    job_start(j, m); /* on failure it has set the result */
    return;
  }
  char extra[200] = "";
  if (j->stage == STAGE_TEXT && j->res->fell_back_to_text)
    appendf(extra, sizeof extra, "json failed before: %s at byte %" PRIu64,
            j->json_err.message[0] ? j->json_err.message
                                   : fpm_perr_str(j->json_err.code),
            j->json_err.offset);
  fail_parse(j, &pe, extra[0] ? extra : NULL);
}

static void job_done(struct job *j, fcgi_multi *m) {
  j->running = 0;
  j->t_end_ms = fcgi_now_ms();
  struct fpm_result *r = j->res;
  /* a request that got a connection reached the pool's accept queue: php-fpm
   * counts it as accepted, even when we gave up waiting for the answer */
  if (j->resp.err == FCGI_OK || j->resp.phase == FCGI_PHASE_SEND ||
      j->resp.phase == FCGI_PHASE_RECV)
    r->requests++;
  if (j->resp.err_text != NULL)
    excerpt(r->stderr_excerpt, sizeof r->stderr_excerpt, j->resp.err_text,
            j->resp.err_len, sizeof r->stderr_excerpt - 1, 0);
  if (j->resp.err != FCGI_OK) {
    fail_transport(j, j->resp.err, j->resp.errmsg);
    return;
  }
  r->http_status = j->resp.status;
  if (j->stage == STAGE_PING && j->resp.body != NULL) {
    j->head_len = j->resp.body_len < HEAD_CAP ? j->resp.body_len : HEAD_CAP;
    memcpy(j->head, j->resp.body, j->head_len);
  }
  if (j->resp.status >= 500 && !r->retried && time_left(j)) {
    r->retried = 1; /* scoreboard lock contention is transient (A.13) */
    job_start(j, m);
    return;
  }
  if (j->resp.status != 200) {
    fail_http(j);
    return;
  }
  if (j->stage == STAGE_PING)
    check_ping(j);
  else
    check_status_body(j, m);
}

/* Start the job's current stage. Returns 0 when a request runs; otherwise
 * the failure is recorded in the result. */
static int job_start(struct job *j, fcgi_multi *m) {
  job_reset_request(j);
  j->rq = build_request(j);
  if (j->rq == NULL) {
    fail_transport(j, FCGI_ENOMEM, "cannot build the request");
    return -1;
  }
  struct fcgi_call_opts o;
  memset(&o, 0, sizeof o);
  o.deadline_ms = j->deadline_ms == 0 ? FCGI_NO_DEADLINE : j->deadline_ms;
  o.cancel = j->cancel;
  if (j->stage != STAGE_PING) {
    enum fpm_format fmt =
        j->stage == STAGE_JSON ? FPM_FORMAT_JSON : FPM_FORMAT_TEXT;
    j->parser = fpm_parser_new(fmt, &j->res->status, NULL);
    if (j->parser == NULL) {
      fail_transport(j, FCGI_ENOMEM, "cannot create the parser");
      return -1;
    }
    o.on_body = on_body;
    o.on_body_ud = j;
  }
  fcgi_response_init(&j->resp);
  j->resp_live = 1;
  fcgi_err e = fcgi_multi_add(m, j->f->ep, j->rq, &o, &j->resp, j);
  if (e != FCGI_OK) {
    fail_transport(j, e, j->resp.errmsg);
    return -1;
  }
  j->running = 1;
  return 0;
}

static void job_finish(struct job *j) {
  struct fpm_result *r = j->res;
  int64_t end = j->t_end_ms > 0 ? j->t_end_ms : fcgi_now_ms();
  r->duration_s = (double)(end - j->t0_ms) / 1000.0;
  if (r->err != FPM_OK)
    fpm_status_clear(&r->status);
  job_reset_request(j);
}

/* The first start of target i's fetch. */
static void job_first_start(struct job *j, fcgi_multi *m, int64_t deadline_ms,
                            const struct fpm_fetch_opts *o) {
  j->started = 1;
  j->t0_ms = fcgi_now_ms();
  j->deadline_ms = deadline_ms;
  if (o != NULL && o->timeout_ms > 0 && j->t0_ms + o->timeout_ms < deadline_ms)
    j->deadline_ms = j->t0_ms + o->timeout_ms;
  job_start(j, m);
}

/* A connect that failed because the process (or the system) ran out of
 * descriptors while other reads were in flight: it is started again when
 * one of them ends, instead of failing for want of a descriptor another
 * turn would have had. */
static int lacked_fd(const struct job *j, size_t in_flight) {
  return in_flight > 1 && j->resp.err == FCGI_ENOFILES;
}

/* Run the jobs with at most `window` in flight; the next starts when one
 * ends (its result final, not a retry or a fallback of the same job). */
static void run_window(struct job *jobs, size_t n, fcgi_multi *m, size_t window,
                       int64_t deadline_ms, const struct fpm_fetch_opts *o) {
  size_t *again = malloc(n * sizeof *again); /* waiting for a descriptor */
  size_t n_again = 0, next = 0, in_flight = 0;
  if (again == NULL)
    window = n; /* no room to queue: all at once, as before windows */
  /* adaptive: `win` reads at once within `window` (see fpm_fetch_opts) */
  int adapt = o != NULL && o->adaptive;
  size_t win = adapt && window > FPM_FETCH_FIRST_WINDOW ? FPM_FETCH_FIRST_WINDOW
                                                        : window;
  int64_t last_cut = 0; /* reads started before it do not halve win again */
  while (next < n || n_again > 0 || in_flight > 0) {
    while (in_flight < win && (n_again > 0 || next < n)) {
      struct job *j = n_again > 0 ? &jobs[again[--n_again]] : &jobs[next++];
      if (!j->started)
        job_first_start(j, m, deadline_ms, o);
      else
        job_start(j, m);
      in_flight += j->running != 0;
    }
    if (in_flight == 0)
      continue;
    fcgi_multi_poll(m, -1);
    struct fcgi_response *resp;
    void *user;
    while (fcgi_multi_next_done(m, &resp, &user)) {
      struct job *j = user;
      if (again != NULL && lacked_fd(j, in_flight)) {
        j->running = 0;
        job_reset_request(j);
        again[n_again++] = (size_t)(j - jobs);
        in_flight--;
        window = in_flight; /* what this process can hold now */
        win = win < window ? win : window;
        continue;
      }
      job_done(j, m);
      if (j->running)
        continue;
      in_flight--;
      if (adapt && j->res->err == FPM_ETIMEOUT && j->t0_ms >= last_cut) {
        win =
            win / 2 > FPM_FETCH_FIRST_WINDOW ? win / 2 : FPM_FETCH_FIRST_WINDOW;
        win = win < window ? win : window;
        last_cut = fcgi_now_ms();
      } else if (adapt && j->res->err != FPM_ETIMEOUT && win < window) {
        win++;
      }
    }
  }
  free(again);
}

fpm_err fpm_fetch_many_opts(fpm_fetcher *const *fs, size_t n,
                            enum fpm_fetch_kind kind, int64_t deadline_ms,
                            fcgi_cancel *cancel,
                            const struct fpm_fetch_opts *opts,
                            struct fpm_result *results) {
  if (n == 0)
    return FPM_OK;
  if (deadline_ms <= 0)
    deadline_ms = FCGI_NO_DEADLINE;
  struct job *jobs = calloc(n, sizeof *jobs);
  fcgi_multi *m = jobs != NULL ? fcgi_multi_new() : NULL;
  for (size_t i = 0; i < n; i++) {
    fpm_result_clear(&results[i]);
    if (m == NULL) {
      results[i].err = FPM_ENOMEM;
      results[i].fcgi = FCGI_ENOMEM;
      snprintf(results[i].message, sizeof results[i].message,
               "%s: out of memory", fpm_fetcher_endpoint(fs[i]));
      continue;
    }
    struct job *j = &jobs[i];
    j->f = fs[i];
    j->res = &results[i];
    j->stage = kind == FPM_FETCH_PING ? STAGE_PING : STAGE_JSON;
    j->cancel = cancel;
    make_marker(fs[i], results[i].marker, sizeof results[i].marker);
  }
  if (m != NULL) {
    size_t window = opts != NULL ? opts->max_in_flight : 0;
    if (window == 0)
      window = n > 1 ? fpm_fd_budget(n) : 1;
    run_window(jobs, n, m, window, deadline_ms, opts);
  }
  fpm_err worst = FPM_OK;
  for (size_t i = 0; i < n; i++) {
    if (m != NULL)
      job_finish(&jobs[i]);
    if (results[i].err > worst)
      worst = results[i].err;
  }
  fcgi_multi_free(m);
  free(jobs);
  return worst;
}

fpm_err fpm_fetch_many(fpm_fetcher *const *fs, size_t n,
                       enum fpm_fetch_kind kind, int64_t deadline_ms,
                       fcgi_cancel *cancel, struct fpm_result *results) {
  return fpm_fetch_many_opts(fs, n, kind, deadline_ms, cancel, NULL, results);
}

fpm_err fpm_fetch(fpm_fetcher *f, enum fpm_fetch_kind kind, int64_t deadline_ms,
                  fcgi_cancel *cancel, struct fpm_result *result) {
  return fpm_fetch_many(&f, 1, kind, deadline_ms, cancel, result);
}
