/*
 * it_fcgi_fpm.c: the FastCGI client against a real php-fpm 8.2 started by
 * harness/with-fpm.sh: status JSON, ping, a POST body echoed, stdout and
 * stderr apart, a wrong status path, a stopped pool (ENOENT, ECONNREFUSED),
 * a saturated pool timing out at the deadline, 8 threads at once, and one
 * engine over several pools.
 */
#include "fcgi.h"
#include "fcgi_testutil.h"
#include "hostile_fcgi.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v)
    fail_msg("%s is not set: run this under tests/harness/with-fpm.sh", name);
  return v;
}

static fcgi_endpoint *ep_of(const char *var) {
  fcgi_endpoint *ep;
  char err[256];
  if (fcgi_endpoint_parse(env(var), &ep, err, sizeof err) != FCGI_OK)
    fail_msg("%s", err);
  return ep;
}

/* A GET (or POST when body) for a script path under the docroot, or an
 * absolute FPM path such as /status (script == filename). */
static fcgi_request *make_rq(const char *script, const char *query,
                             const void *body, size_t blen) {
  char filename[512], clen[32];
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  assert_non_null(rq);
  if (strcmp(script, "/status") && strcmp(script, "/ping") &&
      strncmp(script, "/nonexistent", 12))
    snprintf(filename, sizeof filename, "%s%s", env("FPMT_DOCROOT"), script);
  else
    snprintf(filename, sizeof filename, "%s", script);
  fcgi_request_add_param_str(rq, "SCRIPT_NAME", script);
  fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", filename);
  fcgi_request_add_param_str(rq, "REQUEST_METHOD", body ? "POST" : "GET");
  fcgi_request_add_param_str(rq, "QUERY_STRING", query ? query : "");
  fcgi_request_add_param_str(rq, "SERVER_PROTOCOL", "HTTP/1.1");
  if (body) {
    snprintf(clen, sizeof clen, "%zu", blen);
    fcgi_request_add_param_str(rq, "CONTENT_LENGTH", clen);
    fcgi_request_add_param_str(rq, "CONTENT_TYPE", "application/octet-stream");
    assert_int_equal(fcgi_request_set_stdin(rq, body, blen), FCGI_OK);
  }
  return rq;
}

static fcgi_err call(const char *var, const char *script, const char *query,
                     int64_t timeout_ms, struct fcgi_response *r) {
  fcgi_endpoint *ep = ep_of(var);
  fcgi_request *rq = make_rq(script, query, NULL, 0);
  struct fcgi_call_opts o = {0};
  o.deadline_ms = fcgi_now_ms() + timeout_ms;
  fcgi_response_init(r);
  fcgi_err e = fcgi_do(ep, rq, &o, r);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  return e;
}

static void must_ok(const struct fcgi_response *r) {
  if (r->err != FCGI_OK)
    fail_msg("%s: %s", fcgi_err_name(r->err), r->errmsg);
}

static void test_status_json(void **state) {
  (void)state;
  struct fcgi_response r;
  call("FPMT_WWW_SOCK", "/status", "json", 5000, &r);
  must_ok(&r);
  assert_int_equal(r.status, 200);
  size_t vlen;
  const char *ct = fcgi_response_header(&r, "Content-Type", &vlen);
  assert_non_null(ct);
  assert_true(vlen >= 16 && strncmp(ct, "application/json", 16) == 0);
  assert_true(r.body_len > 2 && r.body[0] == '{');
  assert_non_null(strstr(r.body, "\"pool\":\"www\""));
  assert_int_equal(r.protocol_status, 0);
  assert_int_equal(r.app_status, 0);
  assert_null(r.err_text);
  fcgi_response_clear(&r);
}

static void test_ping_unix_and_tcp(void **state) {
  (void)state;
  static const char *const vars[] = {"FPMT_WWW_SOCK", "FPMT_DYN_ADDR",
                                     "FPMT_OD_SOCK", "FPMT_DYN_STATUS_ADDR"};
  for (int i = 0; i < 4; i++) {
    struct fcgi_response r;
    call(vars[i], "/ping", "", 5000, &r);
    must_ok(&r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "pong", 4);
    fcgi_response_clear(&r);
  }
}

static void test_post_echo(void **state) {
  (void)state;
  size_t blen = 200 * 1000;
  char *body = malloc(blen);
  for (size_t i = 0; i < blen; i++)
    body[i] = (char)(i % 251);
  fcgi_endpoint *ep = ep_of("FPMT_WWW_SOCK");
  fcgi_request *rq = make_rq("/echo.php", "", body, blen);
  struct fcgi_call_opts o = {0};
  o.deadline_ms = fcgi_now_ms() + 10000;
  struct fcgi_response r;
  fcgi_response_init(&r);
  fcgi_do(ep, rq, &o, &r);
  must_ok(&r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, blen);
  assert_memory_equal(r.body, body, blen);
  assert_true(r.bytes_out > blen);
  fcgi_response_clear(&r);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  free(body);
}

static void test_stdout_and_stderr_apart(void **state) {
  (void)state;
  struct fcgi_response r;
  call("FPMT_WWW_SOCK", "/stderr.php", "msg=marker-from-it-fcgi", 5000, &r);
  must_ok(&r);
  assert_int_equal(r.body_len, strlen("before\nafter\n"));
  assert_memory_equal(r.body, "before\nafter\n", r.body_len);
  assert_non_null(r.err_text);
  assert_non_null(strstr(r.err_text, "marker-from-it-fcgi"));
  assert_null(strstr(r.out, "marker-from-it-fcgi"));
  fcgi_response_clear(&r);
}

static void test_wrong_status_path(void **state) {
  (void)state;
  struct fcgi_response r;
  call("FPMT_WWW_SOCK", "/nonexistent-status", "json", 5000, &r);
  must_ok(&r); /* the transport worked; the HTTP status says 404 */
  assert_int_equal(r.status, 404);
  assert_int_equal(r.body_len, strlen("File not found.\n"));
  assert_memory_equal(r.body, "File not found.\n", r.body_len);
  assert_non_null(r.err_text);
  assert_non_null(strstr(r.err_text, "Primary script unknown"));
  fcgi_response_clear(&r);
  /* a pool without pm.status_path answers the same */
  call("FPMT_NOSTATUS_SOCK", "/status", "json", 5000, &r);
  must_ok(&r);
  assert_int_equal(r.status, 404);
  fcgi_response_clear(&r);
}

static void test_stopped_pool(void **state) {
  (void)state;
  char path[512];
  struct fcgi_response r;
  fcgi_endpoint *ep;
  fcgi_request *rq = make_rq("/status", "json", NULL, 0);
  struct fcgi_call_opts o = {0};
  o.deadline_ms = fcgi_now_ms() + 2000;
  snprintf(path, sizeof path, "%s/run/stopped.sock", env("FPMT_DIR"));
  assert_int_equal(fcgi_endpoint_parse(path, &ep, NULL, 0), FCGI_OK);
  fcgi_response_init(&r);
  fcgi_do(ep, rq, &o, &r);
  assert_int_equal(r.err, FCGI_ENOENT);
  assert_non_null(strstr(r.errmsg, path));
  /* a socket file left behind with nobody listening */
  int fd = hostile_fcgi_listen_unix(path, 1);
  assert_true(fd >= 0);
  close(fd);
  fcgi_do(ep, rq, &o, &r);
  assert_int_equal(r.err, FCGI_ECONNREFUSED);
  assert_non_null(strstr(r.errmsg, "is php-fpm running"));
  unlink(path);
  fcgi_response_clear(&r);
  fcgi_endpoint_free(ep);
  fcgi_request_free(rq);
}

/* Pool "one" has one worker and listen.backlog 1: occupy the worker with
 * slow.php, then a status request connects into the backlog and waits. */
static void test_busy_pool_times_out_at_deadline(void **state) {
  (void)state;
  fcgi_endpoint *ep = ep_of("FPMT_ONE_SOCK");
  fcgi_request *slow = make_rq("/slow.php", "s=3", NULL, 0);
  fcgi_request *st = make_rq("/status", "json", NULL, 0);
  fcgi_multi *m = fcgi_multi_new();
  struct fcgi_response rs, r;
  struct fcgi_call_opts os = {0}, o = {0};
  os.deadline_ms = fcgi_now_ms() + 15000;
  fcgi_response_init(&rs);
  assert_int_equal(fcgi_multi_add(m, ep, slow, &os, &rs, NULL), FCGI_OK);
  for (int i = 0; i < 20; i++) /* let it be sent and picked up (~200 ms) */
    fcgi_multi_poll(m, 10);
  assert_int_equal(fcgi_multi_pending(m), 1);
  o.deadline_ms = fcgi_now_ms() + 500;
  fcgi_response_init(&r);
  fcgi_do(ep, st, &o, &r);
  int64_t late = fcgi_now_ms() - o.deadline_ms;
  print_message("busy pool: %s after the deadline by %lld ms (%s)\n",
                fcgi_err_name(r.err), (long long)late, r.errmsg);
  assert_int_equal(r.err, FCGI_ETIMEDOUT);
  assert_int_equal(r.phase, FCGI_PHASE_RECV);
  assert_true(late >= 0 && late < fcgit_tolerance_ms(50));
  /* now fill the backlog: the next connect is refused at once */
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s", env("FPMT_ONE_SOCK"));
  int fds[8], n = 0;
  for (; n < 8; n++) {
    fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(fds[n], (struct sockaddr *)&sun, sizeof sun) < 0) {
      close(fds[n]);
      break;
    }
  }
  o.deadline_ms = fcgi_now_ms() + 500;
  int64_t t0 = fcgi_now_ms();
  fcgi_do(ep, st, &o, &r);
  print_message("busy pool, backlog filled with %d: %s in %lld ms\n", n,
                fcgi_err_name(r.err), (long long)(fcgi_now_ms() - t0));
  assert_int_equal(r.err, FCGI_EBACKLOG);
  assert_true(fcgi_now_ms() - t0 < fcgit_tolerance_ms(50));
  for (int i = 0; i < n; i++)
    close(fds[i]);
  fcgi_multi_run(m);
  struct fcgi_response *done;
  assert_int_equal(fcgi_multi_next_done(m, &done, NULL), 1);
  must_ok(done);
  assert_non_null(strstr(done->body, "slept 3"));
  fcgi_multi_free(m);
  fcgi_response_clear(&r);
  fcgi_response_clear(&rs);
  fcgi_request_free(slow);
  fcgi_request_free(st);
  fcgi_endpoint_free(ep);
}

struct worker {
  const fcgi_endpoint *ep;
  const fcgi_request *rq;
  int ok, failed, contended;
  char last_err[600];
};

/* Eight threads scraping at once make php-fpm (8.0.17+) answer some of
 * them with a transient 500 "Internal error" (scoreboard lock contention,
 * docs/status-page.md, "5xx from scoreboard lock contention"). The client must
 * deliver that 500 intact; the test retries it a bounded number of times, and
 * anything else is a failure. */
static void *worker_main(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < 10; i++) {
    struct fcgi_response r;
    struct fcgi_call_opts o = {0};
    fcgi_response_init(&r);
    int done = 0;
    for (int attempt = 0; attempt < 20 && !done; attempt++) {
      fcgi_response_clear(&r);
      o.deadline_ms = fcgi_now_ms() + fcgit_tolerance_ms(10000);
      int rc = fcgi_do(w->ep, w->rq, &o, &r);
      if (rc == FCGI_OK && r.status == 200 && r.body_len > 0 &&
          r.body[0] == '{') {
        w->ok++;
        done = 1;
      } else if (rc == FCGI_OK && r.status == 500 && r.body != NULL &&
                 strstr(r.body, "Internal error") != NULL) {
        w->contended++;
      } else {
        snprintf(w->last_err, sizeof w->last_err, "rc %d status %d: %.500s", rc,
                 r.status, r.errmsg);
        break;
      }
    }
    if (!done)
      w->failed++;
    fcgi_response_clear(&r);
  }
  return NULL;
}

static void test_eight_threads(void **state) {
  (void)state;
  fcgi_endpoint *ep = ep_of("FPMT_WWW_SOCK");
  fcgi_request *rq = make_rq("/status", "json", NULL, 0);
  struct worker w[8];
  pthread_t t[8];
  for (int i = 0; i < 8; i++) {
    w[i] = (struct worker){ep, rq, 0, 0, 0, ""};
    assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
  }
  int ok = 0, contended = 0;
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    ok += w[i].ok;
    contended += w[i].contended;
    if (w[i].failed)
      fail_msg("thread %d: %d failed, last: %s", i, w[i].failed, w[i].last_err);
  }
  print_message("eight threads: 80 scrapes, %d transient 500s retried\n",
                contended);
  assert_int_equal(ok, 80);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
}

static void test_multi_over_pools(void **state) {
  (void)state;
  static const char *const vars[] = {"FPMT_WWW_SOCK", "FPMT_DYN_ADDR",
                                     "FPMT_OD_SOCK", "FPMT_DYN_STATUS_ADDR"};
  static const char *const pools[] = {"www", "dyn", "od", "dyn"};
  fcgi_endpoint *ep[4];
  struct fcgi_response r[4];
  fcgi_request *rq = make_rq("/status", "json", NULL, 0);
  fcgi_multi *m = fcgi_multi_new();
  for (int i = 0; i < 4; i++) {
    ep[i] = ep_of(vars[i]);
    struct fcgi_call_opts o = {0};
    o.deadline_ms = fcgi_now_ms() + 5000;
    fcgi_response_init(&r[i]);
    assert_int_equal(fcgi_multi_add(m, ep[i], rq, &o, &r[i], NULL), FCGI_OK);
  }
  fcgi_multi_run(m);
  int n = 0;
  while (fcgi_multi_next_done(m, NULL, NULL))
    n++;
  assert_int_equal(n, 4);
  for (int i = 0; i < 4; i++) {
    char want[64];
    must_ok(&r[i]);
    snprintf(want, sizeof want, "\"pool\":\"%s\"", pools[i]);
    assert_non_null(strstr(r[i].body, want));
    fcgi_response_clear(&r[i]);
    fcgi_endpoint_free(ep[i]);
  }
  fcgi_multi_free(m);
  fcgi_request_free(rq);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_json),
      cmocka_unit_test(test_ping_unix_and_tcp),
      cmocka_unit_test(test_post_echo),
      cmocka_unit_test(test_stdout_and_stderr_apart),
      cmocka_unit_test(test_wrong_status_path),
      cmocka_unit_test(test_stopped_pool),
      cmocka_unit_test(test_busy_pool_times_out_at_deadline),
      cmocka_unit_test(test_eight_threads),
      cmocka_unit_test(test_multi_over_pools),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
