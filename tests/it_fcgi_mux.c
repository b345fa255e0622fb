/*
 * it_fcgi_mux.c: multiplexing against real servers. Net::Async::FastCGI
 * (tests/servers/naf_server.pl) multiplexes: 64 requests on one
 * connection, answered out of order, one cancelled mid-way, driven through
 * the external-loop API. libfcgi via the Perl FCGI module
 * (fcgi_server.pl) refuses a second request with CANT_MPX_CONN: the
 * library falls back to a new connection. php-fpm (harness/with-fpm.sh)
 * answers FCGI_MPXS_CONNS=0: never two requests on one connection, even
 * when the caller asks for multiplexing (AUTO or FORCE).
 */
#include "fcgi.h"
#include "fcgi_testutil.h"
#include "servers/perl_server.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NREQ 64
#define CANCEL_IX 10

struct traced {
  int n;
  struct fcgi_trace t[4 * NREQ];
};

static void on_trace(void *ud, const struct fcgi_trace *t) {
  struct traced *tr = ud;
  if (tr->n < 4 * NREQ)
    tr->t[tr->n++] = *t;
}

static fcgi_request *naf_rq(const char *query, const void *body, size_t len) {
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  assert_non_null(rq);
  assert_int_equal(fcgi_request_add_param_str(rq, "QUERY_STRING", query),
                   FCGI_OK);
  assert_int_equal(
      fcgi_request_add_param_str(rq, "REQUEST_METHOD", body ? "POST" : "GET"),
      FCGI_OK);
  if (body) {
    char clen[32];
    snprintf(clen, sizeof clen, "%zu", len);
    fcgi_request_add_param_str(rq, "CONTENT_LENGTH", clen);
    assert_int_equal(fcgi_request_set_stdin(rq, body, len), FCGI_OK);
  }
  return rq;
}

/* Drive m with fcgi_multi_fds / timeout / perform (an external loop). */
static void external_loop_step(fcgi_multi *m) {
  struct pollfd fds[4 * NREQ + 8];
  size_t n = fcgi_multi_fds(m, fds, sizeof fds / sizeof fds[0]);
  assert_true(n <= sizeof fds / sizeof fds[0]);
  poll(fds, n, fcgi_multi_timeout_ms(m));
  fcgi_multi_perform(m, fds, n, fcgi_now_ms());
}

static void test_naf_64_on_one_connection(void **state) {
  (void)state;
  struct perl_server srv;
  assert_int_equal(perl_server_start(&srv, FPMT_SOURCE_DIR, "naf_server.pl"),
                   0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(srv.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_client *cl = fcgi_client_new(NULL);
  fcgi_multi *m = fcgi_multi_new_client(cl);
  fcgi_cancel *cancel = fcgi_cancel_new();
  struct traced *tr = calloc(1, sizeof *tr);
  static struct fcgi_response resp[NREQ];
  fcgi_request *rq[NREQ];
  char *body[NREQ];
  int order[NREQ], ndone = 0;
  int64_t t0 = fcgi_now_ms();
  long tol = fcgit_tolerance_ms(1);
  for (int i = 0; i < NREQ; i++) {
    char q[64];
    /* later requests answer sooner: out of order on the same connection */
    int sleep_ms = i == CANCEL_IX ? 600 : (NREQ - i) * 8;
    snprintf(q, sizeof q, "tag=r%d&sleep=%d", i, sleep_ms * (int)tol);
    size_t blen = (size_t)i * 100;
    body[i] = malloc(blen + 1);
    for (size_t k = 0; k < blen; k++)
      body[i][k] = (char)('a' + (i + k) % 26);
    rq[i] = naf_rq(q, blen ? body[i] : NULL, blen);
    struct fcgi_call_opts o = {0};
    o.deadline_ms = t0 + 20000 * tol;
    o.multiplex = FCGI_MUX_AUTO;
    o.on_trace = on_trace;
    o.on_trace_ud = tr;
    o.cancel = i == CANCEL_IX ? cancel : NULL;
    fcgi_response_init(&resp[i]);
    assert_int_equal(
        fcgi_multi_add(m, ep, rq[i], &o, &resp[i], (void *)(intptr_t)i),
        FCGI_OK);
  }
  int cancelled = 0;
  while (fcgi_multi_pending(m) > 0) {
    external_loop_step(m);
    struct fcgi_response *r;
    void *user;
    while (fcgi_multi_next_done(m, &r, &user))
      order[ndone++] = (int)(intptr_t)user;
    /* cancel mid-way: some answered, the cancelled one still running */
    if (!cancelled && ndone >= 10) {
      fcgi_cancel_trigger(cancel);
      cancelled = 1;
    }
  }
  assert_int_equal(ndone, NREQ);
  assert_int_equal(resp[CANCEL_IX].err, FCGI_ECANCELED);
  for (int i = 0; i < NREQ; i++) {
    if (i == CANCEL_IX)
      continue;
    if (resp[i].err != FCGI_OK)
      fail_msg("request %d: %s: %s", i, fcgi_err_name(resp[i].err),
               resp[i].errmsg);
    char head[128];
    int hl = snprintf(head, sizeof head, "tag=r%d conn=1 id=", i);
    assert_true(resp[i].body_len > (size_t)hl);
    assert_memory_equal(resp[i].body, head, (size_t)hl);
    const char *nl = memchr(resp[i].body, '\n', resp[i].body_len);
    assert_non_null(nl);
    size_t blen = (size_t)i * 100;
    assert_int_equal(resp[i].body_len - (size_t)(nl + 1 - resp[i].body), blen);
    assert_memory_equal(nl + 1, body[i], blen);
    size_t vl;
    const char *conns = fcgi_response_header(&resp[i], "X-Conns", &vl);
    assert_non_null(conns);
    assert_memory_equal(conns, "1", vl);
  }
  /* out of order: the last added (shortest sleep) came back first */
  assert_int_equal(order[0], NREQ - 1);
  int inversions = 0;
  for (int i = 1; i < NREQ; i++)
    inversions += order[i] < order[i - 1];
  assert_true(inversions > NREQ / 2);
  /* one connection, 64 in flight on it; the trace agrees */
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  assert_int_equal(st.opened, 1);
  assert_int_equal(st.max_in_flight, NREQ);
  assert_int_equal(st.probes, 1);
  assert_int_equal(tr->n, NREQ);
  for (int i = 0; i < tr->n; i++) {
    assert_int_equal(tr->t[i].multiplexed, 1);
    assert_int_equal(tr->t[i].conn_id, tr->t[0].conn_id);
  }
  struct fcgi_caps caps;
  fcgi_client_caps(cl, ep, &caps);
  assert_int_equal(caps.state, FCGI_CAPS_KNOWN);
  assert_int_equal(caps.mpxs_conns, 1);
  assert_int_equal(caps.max_reqs, 1024);
  fcgi_multi_free(m);
  for (int i = 0; i < NREQ; i++) {
    fcgi_response_clear(&resp[i]);
    fcgi_request_free(rq[i]);
    free(body[i]);
  }
  free(tr);
  fcgi_cancel_free(cancel);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
  perl_server_stop(&srv);
}

/* A request timing out on a multiplexed connection: ABORT_REQUEST for its
 * id, the others on the connection go on, the late answer is dropped. */
static void test_naf_deadline_does_not_disturb(void **state) {
  (void)state;
  struct perl_server srv;
  assert_int_equal(perl_server_start(&srv, FPMT_SOURCE_DIR, "naf_server.pl"),
                   0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(srv.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_client *cl = fcgi_client_new(NULL);
  fcgi_multi *m = fcgi_multi_new_client(cl);
  long tol = fcgit_tolerance_ms(1);
  int64_t t0 = fcgi_now_ms();
  struct fcgi_response r[3];
  fcgi_request *rq[3];
  /* a: past its deadline; b: answered first; c: answered after a's
   * deadline and after a's late answer (dropped) */
  static const char *const tags[] = {"a", "b", "c"};
  static const int sleeps[] = {300, 50, 600};
  for (int i = 0; i < 3; i++) {
    char q[64];
    snprintf(q, sizeof q, "tag=%s&sleep=%ld", tags[i], sleeps[i] * tol);
    rq[i] = naf_rq(q, NULL, 0);
    struct fcgi_call_opts o = {0};
    o.multiplex = FCGI_MUX_AUTO;
    o.deadline_ms = t0 + (i == 0 ? 150 : 5000) * tol;
    fcgi_response_init(&r[i]);
    assert_int_equal(fcgi_multi_add(m, ep, rq[i], &o, &r[i], NULL), FCGI_OK);
  }
  fcgi_multi_run(m);
  while (fcgi_multi_next_done(m, NULL, NULL))
    ;
  assert_int_equal(r[0].err, FCGI_ETIMEDOUT);
  assert_int_equal(r[1].err, FCGI_OK);
  assert_int_equal(r[2].err, FCGI_OK);
  assert_non_null(strstr(r[2].body, "tag=c conn=1"));
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  assert_int_equal(st.opened, 1);
  fcgi_multi_free(m);
  for (int i = 0; i < 3; i++) {
    fcgi_response_clear(&r[i]);
    fcgi_request_free(rq[i]);
  }
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
  perl_server_stop(&srv);
}

static void test_libfcgi_cant_mpx_falls_back(void **state) {
  (void)state;
  struct perl_server srv;
  assert_int_equal(perl_server_start(&srv, FPMT_SOURCE_DIR, "fcgi_server.pl"),
                   0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(srv.spec, &ep, NULL, 0), FCGI_OK);
  struct fcgi_client_opts co = {0};
  co.probe_timeout_ms = 200;
  fcgi_client *cl = fcgi_client_new(&co);
  fcgi_multi *m = fcgi_multi_new_client(cl);
  struct traced *tr = calloc(1, sizeof *tr);
  struct fcgi_response r[2];
  fcgi_request *rq[2] = {naf_rq("tag=one&sleep=300", NULL, 0),
                         naf_rq("tag=two", NULL, 0)};
  for (int i = 0; i < 2; i++) {
    struct fcgi_call_opts o = {0};
    o.multiplex = FCGI_MUX_FORCE; /* libfcgi never answers the probe */
    o.deadline_ms = fcgi_now_ms() + 10000 * fcgit_tolerance_ms(1);
    o.on_trace = on_trace;
    o.on_trace_ud = tr;
    fcgi_response_init(&r[i]);
    assert_int_equal(fcgi_multi_add(m, ep, rq[i], &o, &r[i], NULL), FCGI_OK);
  }
  fcgi_multi_run(m);
  while (fcgi_multi_next_done(m, NULL, NULL))
    ;
  for (int i = 0; i < 2; i++)
    if (r[i].err != FCGI_OK)
      fail_msg("request %d: %s: %s", i, fcgi_err_name(r[i].err), r[i].errmsg);
  assert_non_null(strstr(r[0].body, "tag=one"));
  assert_non_null(strstr(r[1].body, "tag=two"));
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  assert_int_equal(st.fallbacks, 1);
  assert_int_equal(st.opened, 2);
  int retried = 0;
  for (int i = 0; i < tr->n; i++)
    retried += tr->t[i].attempts == 2;
  assert_int_equal(retried, 1);
  struct fcgi_caps caps;
  fcgi_client_caps(cl, ep, &caps);
  assert_int_equal(caps.cant_mpx, 1);
  fcgi_multi_free(m);
  for (int i = 0; i < 2; i++) {
    fcgi_response_clear(&r[i]);
    fcgi_request_free(rq[i]);
  }
  free(tr);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
  perl_server_stop(&srv);
}

static fcgi_request *fpm_rq(const char *script, const char *query) {
  char fn[512];
  const char *root = getenv("FPMT_DOCROOT");
  if (!root)
    fail_msg("FPMT_DOCROOT is not set: run under tests/harness/with-fpm.sh");
  snprintf(fn, sizeof fn, "%s%s", root, script);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(rq, "SCRIPT_NAME", script);
  fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", fn);
  fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET");
  fcgi_request_add_param_str(rq, "QUERY_STRING", query);
  return rq;
}

static void test_fpm_never_multiplexed(void **state) {
  (void)state;
  fcgi_endpoint *ep;
  const char *sock = getenv("FPMT_WWW_SOCK");
  assert_non_null(sock);
  assert_int_equal(fcgi_endpoint_parse(sock, &ep, NULL, 0), FCGI_OK);
  fcgi_client *cl = fcgi_client_new(NULL);
  struct fcgi_caps caps;
  char err[256];
  assert_int_equal(
      fcgi_client_probe(cl, ep, fcgi_now_ms() + 2000, &caps, err, sizeof err),
      FCGI_OK);
  assert_int_equal(caps.state, FCGI_CAPS_KNOWN);
  assert_int_equal(caps.mpxs_conns, 0);
  assert_int_equal(caps.max_reqs, -1); /* php-fpm never sends it */
  fcgi_multi *m = fcgi_multi_new_client(cl);
  struct traced *tr = calloc(1, sizeof *tr);
  enum { N = 8 };
  struct fcgi_response r[N];
  fcgi_request *rq = fpm_rq("/slow.php", "s=0.1");
  for (int i = 0; i < N; i++) {
    struct fcgi_call_opts o = {0};
    o.multiplex = i % 2 ? FCGI_MUX_FORCE : FCGI_MUX_AUTO;
    o.keep_conn = i >= N / 2; /* kept connections never carry two either */
    o.deadline_ms = fcgi_now_ms() + 20000 * fcgit_tolerance_ms(1);
    o.on_trace = on_trace;
    o.on_trace_ud = tr;
    fcgi_response_init(&r[i]);
    assert_int_equal(fcgi_multi_add(m, ep, rq, &o, &r[i], NULL), FCGI_OK);
  }
  fcgi_multi_run(m);
  while (fcgi_multi_next_done(m, NULL, NULL))
    ;
  for (int i = 0; i < N; i++) {
    if (r[i].err != FCGI_OK)
      fail_msg("request %d: %s: %s", i, fcgi_err_name(r[i].err), r[i].errmsg);
    assert_non_null(strstr(r[i].body, "slept 0.1"));
  }
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  assert_true(st.max_in_flight <= 1);
  assert_int_equal(st.opened, N);
  assert_int_equal(tr->n, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(tr->t[i].multiplexed, 0);
    for (int k = 0; k < i; k++) /* N at once: N different connections */
      assert_true(tr->t[i].conn_id != tr->t[k].conn_id);
  }
  fcgi_multi_free(m);
  for (int i = 0; i < N; i++)
    fcgi_response_clear(&r[i]);
  fcgi_request_free(rq);
  free(tr);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
}

/* traceparent: the caller's trace id goes through, the span id sent is a
 * fresh one, an invalid value is refused. */
static void test_naf_traceparent(void **state) {
  (void)state;
  struct perl_server srv;
  assert_int_equal(perl_server_start(&srv, FPMT_SOURCE_DIR, "naf_server.pl"),
                   0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(srv.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_request *rq = naf_rq("tag=tp", NULL, 0);
  struct traced *tr = calloc(1, sizeof *tr);
  struct fcgi_call_opts o = {0};
  o.deadline_ms = fcgi_now_ms() + 5000 * fcgit_tolerance_ms(1);
  o.traceparent = 1;
  o.traceparent_in = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  o.on_trace = on_trace;
  o.on_trace_ud = tr;
  struct fcgi_response r;
  fcgi_response_init(&r);
  assert_int_equal(fcgi_do(ep, rq, &o, &r), FCGI_OK);
  assert_int_equal(tr->n, 1);
  const struct fcgi_trace *t = &tr->t[0];
  assert_string_equal(t->trace_id, "0af7651916cd43dd8448eb211c80319c");
  assert_string_equal(t->parent_span_id, "b7ad6b7169203331");
  assert_int_equal(strlen(t->span_id), 16);
  assert_string_not_equal(t->span_id, "b7ad6b7169203331");
  char want[128];
  snprintf(want, sizeof want, "tp=%s\n", t->traceparent);
  assert_non_null(strstr(r.body, want));
  fcgi_response_clear(&r);
  /* generated when none is given */
  o.traceparent_in = NULL;
  assert_int_equal(fcgi_do(ep, rq, &o, &r), FCGI_OK);
  assert_int_equal(tr->n, 2);
  assert_int_equal(strlen(tr->t[1].trace_id), 32);
  assert_string_equal(tr->t[1].parent_span_id, "");
  assert_string_not_equal(tr->t[1].trace_id, t->trace_id);
  fcgi_response_clear(&r);
  o.traceparent_in = "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01";
  assert_int_equal(fcgi_do(ep, rq, &o, &r), FCGI_EINVAL);
  o.traceparent_in = "00-00000000000000000000000000000000-b7ad6b7169203331-01";
  assert_int_equal(fcgi_do(ep, rq, &o, &r), FCGI_EINVAL);
  fcgi_response_clear(&r);
  fcgi_request_free(rq);
  free(tr);
  fcgi_endpoint_free(ep);
  perl_server_stop(&srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_naf_64_on_one_connection),
      cmocka_unit_test(test_naf_deadline_does_not_disturb),
      cmocka_unit_test(test_libfcgi_cant_mpx_falls_back),
      cmocka_unit_test(test_fpm_never_multiplexed),
      cmocka_unit_test(test_naf_traceparent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
