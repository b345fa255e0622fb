/*
 * it_fcgi_reuse.c: connection reuse (FCGI_KEEP_CONN) against a real
 * php-fpm (harness/with-fpm.sh): two sequential requests share one
 * connection; a php-fpm reload (SIGUSR2) between two requests is absorbed
 * (the dead kept connection is discarded or the request retried); and the
 * pinned-worker effect: N idle kept connections add N to "active
 * processes", in state "Reading headers", and none with reuse off.
 */
#include "fcgi.h"
#include "fcgi_testutil.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <cmocka.h>

struct traced {
  int n;
  struct fcgi_trace t[16];
};

static void on_trace(void *ud, const struct fcgi_trace *t) {
  struct traced *tr = ud;
  if (tr->n < 16)
    tr->t[tr->n++] = *t;
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v)
    fail_msg("%s is not set: run this under tests/harness/with-fpm.sh", name);
  return v;
}

static fcgi_request *fpm_rq(const char *script, const char *query) {
  char fn[512];
  if (script[0] == '/' && strcmp(script, "/status") && strcmp(script, "/ping"))
    snprintf(fn, sizeof fn, "%s%s", env("FPMT_DOCROOT"), script);
  else
    snprintf(fn, sizeof fn, "%s", script);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(rq, "SCRIPT_NAME", script);
  fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", fn);
  fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET");
  fcgi_request_add_param_str(rq, "QUERY_STRING", query);
  return rq;
}

static fcgi_endpoint *www(void) {
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(env("FPMT_WWW_SOCK"), &ep, NULL, 0),
                   FCGI_OK);
  return ep;
}

static struct fcgi_call_opts kept(struct traced *tr) {
  struct fcgi_call_opts o = {0};
  o.deadline_ms = fcgi_now_ms() + 10000 * fcgit_tolerance_ms(1);
  o.keep_conn = 1;
  o.on_trace = on_trace;
  o.on_trace_ud = tr;
  return o;
}

static void test_two_sequential_share_one_connection(void **state) {
  (void)state;
  fcgi_endpoint *ep = www();
  fcgi_client *cl = fcgi_client_new(NULL);
  fcgi_request *rq = fpm_rq("/hello.php", "");
  struct traced tr = {0};
  for (int i = 0; i < 2; i++) {
    struct fcgi_response r;
    fcgi_response_init(&r);
    struct fcgi_call_opts o = kept(&tr);
    if (fcgi_client_do(cl, ep, rq, &o, &r) != FCGI_OK)
      fail_msg("%d: %s", i, r.errmsg);
    assert_memory_equal(r.body, "hello\n", 6);
    fcgi_response_clear(&r);
  }
  assert_int_equal(tr.n, 2);
  assert_int_equal(tr.t[0].reused, 0);
  assert_int_equal(tr.t[1].reused, 1);
  assert_int_equal(tr.t[0].conn_id, tr.t[1].conn_id);
  assert_int_equal(tr.t[1].t_connect_ms, 0);
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  assert_int_equal(st.opened, 1);
  assert_int_equal(st.reused, 1);
  assert_int_equal(st.idle, 1);
  fcgi_request_free(rq);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
}

/* Wait until the pool answers ping again (bounded). */
static void wait_ping(fcgi_endpoint *ep) {
  fcgi_request *rq = fpm_rq("/ping", "");
  int64_t until = fcgi_now_ms() + 10000;
  for (;;) {
    struct fcgi_response r;
    struct fcgi_call_opts o = {0};
    o.deadline_ms = fcgi_now_ms() + 1000;
    fcgi_response_init(&r);
    fcgi_err e = fcgi_do(ep, rq, &o, &r);
    int ok = e == FCGI_OK && r.body_len == 4;
    fcgi_response_clear(&r);
    if (ok)
      break;
    if (fcgi_now_ms() > until)
      fail_msg("php-fpm did not answer ping within 10 s after the reload");
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  fcgi_request_free(rq);
}

static void test_reload_between_requests(void **state) {
  (void)state;
  fcgi_endpoint *ep = www();
  fcgi_client *cl = fcgi_client_new(NULL);
  fcgi_request *rq = fpm_rq("/hello.php", "");
  struct traced tr = {0};
  struct fcgi_response r;
  fcgi_response_init(&r);
  struct fcgi_call_opts o = kept(&tr);
  assert_int_equal(fcgi_client_do(cl, ep, rq, &o, &r), FCGI_OK);
  fcgi_response_clear(&r);
  /* reload: the master re-execs, every worker (and the kept connection's
   * worker) is killed; the listening socket stays */
  pid_t pid = (pid_t)strtol(env("FPMT_PHP_FPM_PID"), NULL, 10);
  assert_int_equal(kill(pid, SIGUSR2), 0);
  struct timespec ts = {0, 300 * 1000000};
  nanosleep(&ts, NULL); /* let the old workers go (not a readiness wait) */
  wait_ping(ep);
  o = kept(&tr);
  if (fcgi_client_do(cl, ep, rq, &o, &r) != FCGI_OK)
    fail_msg("after reload: %s", r.errmsg);
  assert_memory_equal(r.body, "hello\n", 6);
  fcgi_response_clear(&r);
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  /* the kept connection was dead: a fresh one carried the request, either
   * because the liveness check saw the close or by the one retry */
  assert_int_equal(st.opened, 2);
  assert_int_equal(tr.n, 2);
  assert_int_not_equal(tr.t[0].conn_id, tr.t[1].conn_id);
  print_message("reload: second request reused=%d attempts=%d retried=%llu\n",
                tr.t[1].reused, tr.t[1].attempts,
                (unsigned long long)st.retried);
  fcgi_request_free(rq);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
}

struct pool_view {
  long active;
  int reading;
};

/* The library's own status fetch (text, full), checked by substring.
 * php-fpm answers a concurrent scrape with a transient 500 now and then
 * (scoreboard lock contention, docs/status-page.md, "5xx from scoreboard lock
 * contention"): that is retried, a bounded number of times. */
static struct pool_view status_view(fcgi_endpoint *ep) {
  fcgi_request *rq = fpm_rq("/status", "full");
  struct fcgi_response r;
  struct fcgi_call_opts o = {0};
  const char *a = NULL;
  fcgi_response_init(&r);
  for (int attempt = 0; attempt < 20 && a == NULL; attempt++) {
    fcgi_response_clear(&r);
    o.deadline_ms = fcgi_now_ms() + 5000;
    if (fcgi_do(ep, rq, &o, &r) != FCGI_OK)
      fail_msg("status: %s", r.errmsg);
    if (r.status == 200 && r.body != NULL)
      a = strstr(r.body, "\nactive processes:");
  }
  struct pool_view v = {-1, 0};
  if (a == NULL)
    fail_msg("status: no pool figures after 20 tries (last status %d)",
             r.status);
  char *end;
  v.active = strtol(a + strlen("\nactive processes:"), &end, 10);
  for (const char *p = r.body; (p = strstr(p, "Reading headers")); p++)
    v.reading++;
  fcgi_response_clear(&r);
  fcgi_request_free(rq);
  return v;
}

/* php-fpm updates a worker's scoreboard slot a moment after the response
 * (request end bookkeeping): poll until active is want, bounded. */
static struct pool_view settle(fcgi_endpoint *ep, long want) {
  int64_t until = fcgi_now_ms() + 3000 * fcgit_tolerance_ms(1);
  struct pool_view v;
  do
    v = status_view(ep);
  while (v.active != want && fcgi_now_ms() < until);
  return v;
}

/* Open n connections at once (slow requests) and leave them idle. */
static void open_n(fcgi_client *cl, fcgi_endpoint *ep, int n, int keep) {
  fcgi_multi *m = fcgi_multi_new_client(cl);
  fcgi_request *rq = fpm_rq("/slow.php", "s=0.2");
  struct fcgi_response r[4];
  for (int i = 0; i < n; i++) {
    struct fcgi_call_opts o = {0};
    o.deadline_ms = fcgi_now_ms() + 10000 * fcgit_tolerance_ms(1);
    o.keep_conn = keep;
    fcgi_response_init(&r[i]);
    assert_int_equal(fcgi_multi_add(m, ep, rq, &o, &r[i], NULL), FCGI_OK);
  }
  fcgi_multi_run(m);
  for (int i = 0; i < n; i++) {
    assert_int_equal(r[i].err, FCGI_OK);
    fcgi_response_clear(&r[i]);
  }
  fcgi_multi_free(m);
  fcgi_request_free(rq);
}

static void test_kept_connections_pin_workers(void **state) {
  (void)state;
  enum { N = 2 };
  fcgi_endpoint *ep = www();
  struct pool_view base = settle(ep, 1);
  assert_int_equal(base.active, 1); /* the status request itself */
  assert_int_equal(base.reading, 0);
  fcgi_client *cl = fcgi_client_new(NULL);
  open_n(cl, ep, N, 0); /* reuse off: nothing stays */
  struct pool_view off = settle(ep, 1);
  assert_int_equal(off.active, 1);
  assert_int_equal(off.reading, 0);
  open_n(cl, ep, N, 1); /* reuse on: N idle kept connections */
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  assert_int_equal(st.idle, N);
  struct pool_view on = settle(ep, 1 + N);
  struct timespec ts = {0, 300 * 1000000};
  nanosleep(&ts, NULL); /* and they stay pinned */
  on = status_view(ep);
  print_message("active processes: %ld idle-reuse-off, %ld with %d kept "
                "connections (%d in Reading headers)\n",
                off.active, on.active, N, on.reading);
  assert_int_equal(on.active, 1 + N);
  assert_int_equal(on.reading, N);
  fcgi_client_close_idle(cl); /* the workers are released again */
  struct pool_view after = settle(ep, 1);
  assert_int_equal(after.active, 1);
  assert_int_equal(after.reading, 0);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_sequential_share_one_connection),
      cmocka_unit_test(test_kept_connections_pin_workers),
      cmocka_unit_test(test_reload_between_requests),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
