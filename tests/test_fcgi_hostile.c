/*
 * test_fcgi_hostile.c: the FastCGI client against a scripted, misbehaving
 * server (tests/support/hostile_fcgi.c, a forked child): deadlines, caps,
 * cancellation, every malformed record kind, tolerated oddities, and the
 * typed connect errors (ENOENT, ECONNREFUSED, EBACKLOG, EACCES).
 *
 * The machine may be heavily loaded while this runs, so no assertion needs
 * the process to be scheduled promptly: "ends at the deadline" is checked
 * as "not before it, and within LATE_MS after it" (a hang never ends),
 * "at once" as "far sooner than the deadline that would otherwise end it",
 * and no outcome depends on which of two concurrent things happens first.
 * Every server child dies with this process (hostile_fcgi_child_guard) and
 * a failed test's servers are stopped by the teardown.
 */
#include "fcgi.h"
#include "fcgi_net.h"
#include "fcgi_testutil.h"
#include "hostile_fcgi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* How late after its deadline a request may end: scheduling delay on a
 * loaded machine only. A request that ignores its deadline never ends. */
#define LATE_MS fcgit_tolerance_ms(5000)
/* Deadline of the requests whose timing is not under test. */
#define RUN_DEADLINE_MS fcgit_tolerance_ms(30000)
/* A watchdog per test, in seconds: a hang fails the run in minutes, not at
 * the runner's timeout (the longest test takes seconds). */
#define WATCHDOG_S ((unsigned)fcgit_tolerance_ms(240))

/* Run one request against a fresh hostile server. */
static fcgi_err run(const char *scenario, int tcp,
                    const struct fcgi_call_opts *opts, const fcgi_request *rq,
                    struct fcgi_response *r) {
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, scenario, tcp), 0);
  fcgi_endpoint *ep;
  char err[256];
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, err, sizeof err), FCGI_OK);
  fcgi_request *own = NULL;
  if (!rq) {
    own = fcgi_request_new(FCGI_ROLE_RESPONDER);
    fcgi_request_add_param_str(own, "SCRIPT_NAME", "/x");
    rq = own;
  }
  struct fcgi_call_opts o = {0};
  if (opts)
    o = *opts;
  if (!o.deadline_ms)
    o.deadline_ms = fcgi_now_ms() + RUN_DEADLINE_MS;
  fcgi_response_init(r);
  fcgi_err e = fcgi_do(ep, rq, &o, r);
  fcgi_request_free(own);
  fcgi_endpoint_free(ep);
  hostile_fcgi_stop(&h);
  return e;
}

static void expect(const struct fcgi_response *r, fcgi_err want,
                   const char *frag) {
  if (r->err != want)
    fail_msg("got %s (%s), want %s", fcgi_err_name(r->err), r->errmsg,
             fcgi_err_name(want));
  if (frag && !strstr(r->errmsg, frag))
    fail_msg("errmsg \"%s\" lacks \"%s\"", r->errmsg, frag);
}

/* First, so that ru_maxrss reflects this test and not a later one. */
static void test_flood_is_capped(void **state) {
  (void)state;
  struct fcgi_response r;
  long before = fcgit_peak_rss_kib();
  run("flood", 0, NULL, NULL, &r);
  long peak = fcgit_peak_rss_kib();
  fcgi_err err = r.err;
  uint64_t bytes_in = r.bytes_in;
  print_message("flood: 200 MB offered, %llu bytes read, peak RSS %ld KiB "
                "(before %ld KiB): %s\n",
                (unsigned long long)bytes_in, peak, before, r.errmsg);
  int capped = strstr(r.errmsg, "stdout is over its cap of 16777216") != NULL;
  fcgi_response_clear(&r);
  assert_int_equal(err, FCGI_ETOOBIG);
  assert_true(capped);
  assert_true(bytes_in < (uint64_t)20 << 20); /* stopped reading */
  /* under valgrind the tool's own memory is in ru_maxrss: count growth */
  if (fcgit_tolerance_ms(1) > 1)
    peak -= before;
  assert_true(peak < 64 * 1024);
}

static void test_ok_unix_and_tcp(void **state) {
  (void)state;
  for (int tcp = 0; tcp < 2; tcp++) {
    struct fcgi_response r;
    assert_int_equal(run("ok", tcp, NULL, NULL, &r), FCGI_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    assert_string_equal(r.out + r.out_len - 5, "hello");
    size_t vlen;
    const char *v = fcgi_response_header(&r, "content-type", &vlen);
    assert_non_null(v);
    assert_int_equal(vlen, 10);
    assert_memory_equal(v, "text/plain", 10);
    assert_int_equal(r.protocol_status, 0);
    assert_null(r.err_text);
    assert_true(r.t_end_ms >= r.t_first_byte_ms && r.t_first_byte_ms >= 0);
    assert_true(r.bytes_out > 0 && r.bytes_in > 0);
    fcgi_response_clear(&r);
  }
}

static void test_tolerated_oddities(void **state) {
  (void)state;
  static const struct {
    const char *scenario, *body;
  } cases[] = {{"terminator", "hello"},
               {"no_terminator", "hello"},
               {"after_end", "hello"},
               {"mgmt", "hello"},
               {"padding", "body!"},
               {"empty_stdout_mid", "firstsecond"},
               {"stderr_first", "first second"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fcgi_response r;
    run(cases[i].scenario, 0, NULL, NULL, &r);
    if (r.err != FCGI_OK)
      fail_msg("%s: %s", cases[i].scenario, r.errmsg);
    assert_int_equal(r.body_len, strlen(cases[i].body));
    assert_memory_equal(r.body, cases[i].body, r.body_len);
    assert_int_equal(r.status, 200);
    fcgi_response_clear(&r);
  }
  struct fcgi_response r;
  run("stderr_first", 0, NULL, NULL, &r);
  assert_string_equal(r.err_text, "PHP message: early warning; second");
  fcgi_response_clear(&r);
}

static fcgi_err replay(const char *name, uint16_t id, struct fcgi_response *r) {
  char scenario[512];
  struct fcgi_call_opts o = {0};
  o.request_id = id;
  snprintf(scenario, sizeof scenario, "replay:%s/wire/%s.response.fcgi",
           FPMT_FIXTURES_DIR, name);
  return run(scenario, 0, &o, NULL, r);
}

/* The captured php-fpm streams through the whole client. */
static void test_replay_captures(void **state) {
  (void)state;
  struct fcgi_response r;
  replay("php82_wire_404_primary_script_unknown", 0, &r);
  expect(&r, FCGI_OK, NULL);
  assert_int_equal(r.status, 404);
  assert_string_equal(r.body, "File not found.\n");
  assert_string_equal(r.err_text, "Primary script unknown");
  fcgi_response_clear(&r);
  replay("php82_wire_big_200000_bytes", 0, &r);
  expect(&r, FCGI_OK, NULL);
  assert_int_equal(r.body_len, 200000);
  assert_int_equal(strspn(r.body, "x"), 200000);
  fcgi_response_clear(&r);
  replay("php82_wire_stdout_stderr_interleaved", 0, &r);
  expect(&r, FCGI_OK, NULL);
  assert_string_equal(r.body, "before\nafter\n");
  assert_non_null(strstr(r.err_text, "custom error_log line one"));
  fcgi_response_clear(&r);
  replay("php82_wire_fatal_error", 0, &r);
  expect(&r, FCGI_OK, NULL);
  assert_string_equal(r.body, "partial\n");
  assert_non_null(strstr(r.err_text, "PHP Fatal error"));
  fcgi_response_clear(&r);
  replay("php82_wire_status_json", 0, &r);
  expect(&r, FCGI_OK, NULL);
  assert_int_equal(r.body[0], '{');
  size_t vlen;
  const char *ct = fcgi_response_header(&r, "content-type", &vlen);
  assert_non_null(ct);
  assert_int_equal(vlen, 16);
  assert_memory_equal(ct, "application/json", 16);
  fcgi_response_clear(&r);
  /* request id 513 is ours only when we asked for it */
  replay("php82_wire_reqid_513", 513, &r);
  expect(&r, FCGI_OK, NULL);
  fcgi_response_clear(&r);
  replay("php82_wire_reqid_513", 0, &r);
  expect(&r, FCGI_EPROTO, "record for request id 513, expected 1");
  fcgi_response_clear(&r);
  /* two responses on one connection: the first END_REQUEST ends ours */
  replay("php82_wire_keepconn_two_sequential_requests", 0, &r);
  expect(&r, FCGI_OK, NULL);
  assert_null(strstr(r.out, "application/json"));
  fcgi_response_clear(&r);
  /* only a management record, then close */
  replay("php82_wire_get_values", 0, &r);
  expect(&r, FCGI_ECLOSED, "before END_REQUEST");
  fcgi_response_clear(&r);
}

static void test_malformed_is_eproto(void **state) {
  (void)state;
  static const struct {
    const char *scenario, *frag;
  } cases[] = {
      {"bad_version", "version 2, expected 1"},
      {"bad_type", "unexpected record type 99"},
      {"client_type", "unexpected record type 1 (BEGIN_REQUEST)"},
      {"other_id", "record for request id 2, expected 1"},
      {"short_end", "END_REQUEST with 4 content bytes, expected 8"},
      {"bad_protocol_status", "unknown protocolStatus 7"},
      {"garbage", "HTTP server"},
      {"bad_status_header", "invalid CGI Status"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fcgi_response r;
    int64_t t0 = fcgi_now_ms();
    run(cases[i].scenario, i % 2, NULL, NULL, &r);
    /* an answer that starts like HTTP has a code of its own */
    fcgi_err want =
        strcmp(cases[i].scenario, "garbage") == 0 ? FCGI_ENOTFCGI : FCGI_EPROTO;
    if (r.err != want || !strstr(r.errmsg, cases[i].frag))
      fail_msg("%s: %s: %s", cases[i].scenario, fcgi_err_name(r.err), r.errmsg);
    /* at once, not at the deadline */
    assert_true(fcgi_now_ms() - t0 < RUN_DEADLINE_MS / 2);
    assert_non_null(strstr(r.errmsg, i % 2 ? "tcp://127.0.0.1:" : "unix:/"));
    fcgi_response_clear(&r);
  }
}

static void test_protocol_status(void **state) {
  (void)state;
  struct fcgi_response r;
  run("overloaded", 0, NULL, NULL, &r);
  expect(&r, FCGI_EOVERLOADED, "OVERLOADED");
  assert_int_equal(r.protocol_status, 2);
  fcgi_response_clear(&r);
  run("cantmpx", 0, NULL, NULL, &r);
  expect(&r, FCGI_ECANTMPX, "CANT_MPX_CONN");
  fcgi_response_clear(&r);
  run("unknownrole", 0, NULL, NULL, &r);
  expect(&r, FCGI_EUNKNOWNROLE, "UNKNOWN_ROLE");
  fcgi_response_clear(&r);
}

/* The most a TCP send buffer grows to (the third field of tcp_wmem). */
static size_t tcp_wmem_max(void) {
  unsigned long lo, def, max = 0;
  FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
  if (f) {
    if (fscanf(f, "%lu %lu %lu", &lo, &def, &max) != 3)
      max = 0;
    fclose(f);
  }
  return max >= ((size_t)4 << 20) ? max : (size_t)4 << 20;
}

static void test_closed_early(void **state) {
  (void)state;
  struct fcgi_response r;
  run("close_mid", 0, NULL, NULL, &r);
  expect(&r, FCGI_ECLOSED, "10 of 100 content bytes of a STDOUT record");
  assert_int_equal(r.phase, FCGI_PHASE_RECV);
  /* the partial data is kept */
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 7);
  assert_memory_equal(r.body, "partial", 7);
  assert_int_equal(r.protocol_status, -1);
  fcgi_response_clear(&r);
  run("close_early", 1, NULL, NULL, &r);
  expect(&r, FCGI_ECLOSED, "closed before END_REQUEST");
  fcgi_response_clear(&r);
  /* closed without reading the body: the send fails, in the send phase.
   * The body is twice what our socket buffer can hold (the server's is
   * small), so however late the server closes, the send is still on. */
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  size_t blen = 2 * tcp_wmem_max();
  char *body = calloc(1, blen);
  assert_int_equal(fcgi_request_set_stdin(rq, body, blen), FCGI_OK);
  free(body);
  for (int tcp = 0; tcp < 2; tcp++) {
    run("slam", tcp, NULL, rq, &r);
    expect(&r, FCGI_EIO, "send failed after");
    assert_int_equal(r.phase, FCGI_PHASE_SEND);
    fcgi_response_clear(&r);
  }
  fcgi_request_free(rq);
}

/* A request to a server that never finishes its answer ends with
 * FCGI_ETIMEDOUT in the response phase: not before its deadline, and not
 * long after. The deadline leaves the connect and the send (unix: at
 * once; loopback TCP: one poll round) ample time on a loaded machine. */
static void check_deadline(const char *scenario, int tcp) {
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, scenario, tcp), 0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  struct fcgi_response r;
  struct fcgi_call_opts o = {0};
  fcgi_response_init(&r);
  o.deadline_ms = fcgi_now_ms() + 1000;
  fcgi_do(ep, rq, &o, &r);
  int64_t late = fcgi_now_ms() - o.deadline_ms;
  print_message("%s: ended %lld ms after the deadline\n", scenario,
                (long long)late);
  expect(&r, FCGI_ETIMEDOUT, "waiting for the response");
  assert_int_equal(r.phase, FCGI_PHASE_RECV);
  assert_true(late >= 0);
  assert_true(late < LATE_MS);
  fcgi_response_clear(&r);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  hostile_fcgi_stop(&h);
}

static void test_hang_ends_at_deadline(void **state) {
  (void)state;
  check_deadline("hang", 0);
  check_deadline("hang", 1);
}

/* A zero-initialised fcgi_call_opts is bounded: deadline 0 means
 * FCGI_DEFAULT_TIMEOUT_MS from the add; only FCGI_NO_DEADLINE means none. A
 * deadline already past ends the request at once. Read from the engine's
 * timer, so the test does not wait for the default to pass. */
static void test_default_deadline(void **state) {
  (void)state;
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "hang", 0), 0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  struct fcgi_response r;
  struct fcgi_call_opts zero = {0};
  struct fcgi_call_opts none = {.deadline_ms = FCGI_NO_DEADLINE};
  struct fcgi_call_opts past = {.deadline_ms = -1};

  fcgi_multi *m = fcgi_multi_new();
  fcgi_response_init(&r);
  assert_int_equal(fcgi_multi_add(m, ep, rq, &zero, &r, NULL), FCGI_OK);
  int t = fcgi_multi_timeout_ms(m);
  print_message("default deadline: timer %d ms\n", t);
  assert_true(t <= FCGI_DEFAULT_TIMEOUT_MS);
  assert_true(t > FCGI_DEFAULT_TIMEOUT_MS / 2); /* the default, not 0 */
  fcgi_multi_free(m);
  expect(&r, FCGI_ECANCELED, "engine freed");
  fcgi_response_clear(&r);

  m = fcgi_multi_new();
  fcgi_response_init(&r);
  assert_int_equal(fcgi_multi_add(m, ep, rq, &none, &r, NULL), FCGI_OK);
  t = fcgi_multi_timeout_ms(m); /* no deadline: only the 60 s poll cap */
  assert_true(t < 0 || t > FCGI_DEFAULT_TIMEOUT_MS);
  fcgi_multi_free(m);
  fcgi_response_clear(&r);

  fcgi_response_init(&r);
  int64_t t0 = fcgi_now_ms();
  assert_int_equal(fcgi_do(ep, rq, &past, &r), FCGI_ETIMEDOUT);
  /* at once, not after the default */
  assert_true(fcgi_now_ms() - t0 < FCGI_DEFAULT_TIMEOUT_MS / 2);
  fcgi_response_clear(&r);

  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  hostile_fcgi_stop(&h);
}

static void test_trickle_ends_at_deadline(void **state) {
  (void)state;
  check_deadline("trickle", 0);
}

struct canceller {
  fcgi_cancel *c;
  int64_t fired_at;
};

static void *cancel_later(void *arg) {
  struct canceller *k = arg;
  struct timespec ts = {0, 200 * 1000000L};
  nanosleep(&ts, NULL);
  k->fired_at = fcgi_now_ms();
  fcgi_cancel_trigger(k->c);
  return NULL;
}

/* The trigger wakes a request that would otherwise wait a minute for its
 * deadline: it ends within LATE_MS of the trigger. */
static void test_cancel_wakes_at_once(void **state) {
  (void)state;
  struct canceller k = {fcgi_cancel_new(), 0};
  struct fcgi_call_opts o = {0};
  o.cancel = k.c;
  o.deadline_ms = fcgi_now_ms() + 60000;
  pthread_t t;
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "hang", 0), 0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  struct fcgi_response r;
  fcgi_response_init(&r);
  pthread_create(&t, NULL, cancel_later, &k);
  fcgi_do(ep, rq, &o, &r);
  int64_t woke = fcgi_now_ms() - k.fired_at;
  pthread_join(t, NULL);
  print_message("cancel: woke %lld ms after the trigger\n", (long long)woke);
  expect(&r, FCGI_ECANCELED, "cancelled");
  assert_int_equal(r.phase, FCGI_PHASE_RECV);
  assert_true(woke >= 0 && woke < LATE_MS);
  /* a handle left triggered stops the next request at once */
  fcgi_do(ep, rq, &o, &r);
  expect(&r, FCGI_ECANCELED, NULL);
  fcgi_cancel_reset(k.c);
  fcgi_response_clear(&r);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  fcgi_cancel_free(k.c);
  hostile_fcgi_stop(&h);
}

static void on_sigusr1(int sig) {
  (void)sig;
}

struct interrupter {
  pthread_t target;
  atomic_int stop;
  int sent;
};

static void *interrupt_loop(void *arg) {
  struct interrupter *it = arg;
  while (!atomic_load(&it->stop)) {
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
    pthread_kill(it->target, SIGUSR1);
    it->sent++;
  }
  return NULL;
}

/* Signals interrupt poll() (no SA_RESTART): the wait is recomputed and the
 * request still ends at its deadline, neither early nor late. The server
 * is started and stopped outside the storm (fork, waitpid). */
static void test_eintr_keeps_deadline(void **state) {
  (void)state;
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "hang", 0), 0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  struct sigaction sa = {0}, old;
  sa.sa_handler = on_sigusr1;
  sigaction(SIGUSR1, &sa, &old);
  struct interrupter it = {pthread_self(), 0, 0};
  pthread_t t;
  pthread_create(&t, NULL, interrupt_loop, &it);
  struct fcgi_response r;
  struct fcgi_call_opts o = {0};
  fcgi_response_init(&r);
  o.deadline_ms = fcgi_now_ms() + 1000;
  fcgi_do(ep, rq, &o, &r);
  int64_t late = fcgi_now_ms() - o.deadline_ms;
  atomic_store(&it.stop, 1);
  pthread_join(t, NULL);
  sigaction(SIGUSR1, &old, NULL);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  hostile_fcgi_stop(&h);
  print_message("EINTR: %d signals, ended %lld ms after the deadline\n",
                it.sent, (long long)late);
  expect(&r, FCGI_ETIMEDOUT, NULL);
  assert_true(it.sent >= 5); /* of about 100 */
  assert_true(late >= 0 && late < LATE_MS);
  fcgi_response_clear(&r);
}

static void test_caps(void **state) {
  (void)state;
  struct fcgi_response r;
  run("stderr_flood", 0, NULL, NULL, &r);
  expect(&r, FCGI_ETOOBIG, "stderr is over its cap of 65536");
  fcgi_response_clear(&r);
  run("header_flood", 0, NULL, NULL, &r);
  expect(&r, FCGI_ETOOBIG, "CGI header block is over its cap of 16384");
  assert_int_equal(r.status, 0);
  fcgi_response_clear(&r);
  struct fcgi_call_opts o = {0};
  o.max_stdout = 100000;
  run("big", 0, &o, NULL, &r);
  expect(&r, FCGI_ETOOBIG, "cap of 100000");
  assert_true(r.out_len <= 100000);
  fcgi_response_clear(&r);
}

struct sink {
  size_t total, calls;
  int stop_after;
};

static int sink_cb(void *ud, const char *buf, size_t len) {
  struct sink *s = ud;
  for (size_t i = 0; i < len; i++)
    if (buf[i] != 'x')
      return -1;
  s->total += len;
  s->calls++;
  return s->stop_after && (int)s->calls >= s->stop_after;
}

static void test_on_body_streams(void **state) {
  (void)state;
  struct fcgi_response r;
  struct sink s = {0, 0, 0};
  struct fcgi_call_opts o = {0};
  o.on_body = sink_cb;
  o.on_body_ud = &s;
  run("big", 1, &o, NULL, &r);
  expect(&r, FCGI_OK, NULL);
  assert_true(s.total >= (size_t)1 << 20);
  assert_int_equal(r.body_len, s.total);
  assert_null(r.body);
  assert_int_equal(r.out_len, strlen("Content-Type: text/plain\r\n\r\n"));
  assert_int_equal(r.status, 200);
  assert_non_null(fcgi_response_header(&r, "Content-Type", NULL));
  fcgi_response_clear(&r);
  struct sink stop = {0, 0, 2};
  o.on_body_ud = &stop;
  run("big", 0, &o, NULL, &r);
  expect(&r, FCGI_ECANCELED, "sink stopped");
  fcgi_response_clear(&r);
}

static void test_echo_big_request(void **state) {
  (void)state;
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  char value[3000];
  memset(value, 'p', sizeof value);
  for (int i = 0; i < 40; i++) { /* > 65535 bytes of params */
    char name[16];
    snprintf(name, sizeof name, "HTTP_X_%d", i);
    assert_int_equal(
        fcgi_request_add_param(rq, name, strlen(name), value, sizeof value),
        FCGI_OK);
  }
  size_t blen = 200 * 1024;
  char *body = malloc(blen);
  for (size_t i = 0; i < blen; i++)
    body[i] = (char)(i * 31 + 7);
  assert_int_equal(fcgi_request_set_stdin(rq, body, blen), FCGI_OK);
  struct fcgi_response r;
  run("echo", 0, NULL, rq, &r);
  expect(&r, FCGI_OK, NULL);
  assert_int_equal(r.body_len, blen);
  assert_memory_equal(r.body, body, blen);
  assert_true(r.bytes_out > blen + 40 * 3000);
  fcgi_response_clear(&r);
  free(body);
  fcgi_request_free(rq);
}

/* One engine, six servers. Request 0 never ends (its server hangs and it
 * has no deadline) and is added first: the others still end, each with its
 * own outcome, so none waits behind another. Request 2 hangs too and ends
 * at its deadline. Nothing here depends on which ends first. */
static void test_multi_mixed(void **state) {
  (void)state;
  static const char *const sc[] = {"hang", "ok",       "hang",
                                   "echo", "bad_type", "ok"};
  enum { N = sizeof sc / sizeof sc[0] };
  struct hostile_fcgi h[N];
  fcgi_endpoint *ep[N];
  struct fcgi_response r[N];
  int64_t ended[N] = {0};
  fcgi_multi *m = fcgi_multi_new();
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_set_stdin(rq, "abc", 3);
  for (int i = 0; i < N; i++) {
    assert_int_equal(hostile_fcgi_start(&h[i], sc[i], i % 2), 0);
    assert_int_equal(fcgi_endpoint_parse(h[i].spec, &ep[i], NULL, 0), FCGI_OK);
  }
  int64_t t0 = fcgi_now_ms();
  for (int i = 0; i < N; i++) {
    struct fcgi_call_opts o = {0};
    o.deadline_ms = i == 0   ? FCGI_NO_DEADLINE
                    : i == 2 ? t0 + 1000
                             : t0 + RUN_DEADLINE_MS;
    fcgi_response_init(&r[i]);
    assert_int_equal(fcgi_multi_add(m, ep[i], rq, &o, &r[i], &r[i]), FCGI_OK);
  }
  assert_int_equal(fcgi_multi_pending(m), N);
  int n = 0;
  while (n < N - 1) {
    fcgi_multi_poll(m, -1);
    struct fcgi_response *done;
    void *user;
    while (fcgi_multi_next_done(m, &done, &user)) {
      assert_ptr_equal(done, user);
      assert_true(done != &r[0]); /* it has nothing that could end it */
      ended[done - r] = fcgi_now_ms();
      n++;
    }
  }
  assert_int_equal(fcgi_multi_pending(m), 1);
  expect(&r[1], FCGI_OK, NULL);
  expect(&r[2], FCGI_ETIMEDOUT, NULL);
  int64_t late = ended[2] - (t0 + 1000);
  print_message("multi: the hung one ended %lld ms after its deadline\n",
                (long long)late);
  assert_true(late >= 0 && late < LATE_MS);
  expect(&r[3], FCGI_OK, NULL);
  assert_int_equal(r[3].body_len, 3);
  expect(&r[4], FCGI_EPROTO, NULL);
  expect(&r[5], FCGI_OK, NULL);
  /* a request still running when the engine is freed */
  fcgi_multi_poll(m, 10);
  fcgi_multi_free(m);
  expect(&r[0], FCGI_ECANCELED, "engine freed");
  for (int i = 0; i < N; i++) {
    fcgi_response_clear(&r[i]);
    fcgi_endpoint_free(ep[i]);
    hostile_fcgi_stop(&h[i]);
  }
  fcgi_request_free(rq);
}

static fcgi_err do_spec(const char *spec, struct fcgi_response *r,
                        int64_t deadline) {
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(spec, &ep, NULL, 0), FCGI_OK);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  struct fcgi_call_opts o = {0};
  o.deadline_ms = deadline;
  fcgi_response_init(r);
  fcgi_err e = fcgi_do(ep, rq, &o, r);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  return e;
}

static void test_enoent_and_refused(void **state) {
  (void)state;
  struct fcgi_response r;
  char dir[] = "/tmp/fcgi_t.XXXXXX", path[128];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/missing.sock", dir);
  do_spec(path, &r, FCGI_NO_DEADLINE);
  expect(&r, FCGI_ENOENT, "no such socket");
  assert_non_null(strstr(r.errmsg, path));
  assert_null(strstr(r.errmsg, "does not exist either"));
  fcgi_response_clear(&r);
  snprintf(path, sizeof path, "%s/nodir/x.sock", dir);
  do_spec(path, &r, FCGI_NO_DEADLINE);
  expect(&r, FCGI_ENOENT, "does not exist either");
  fcgi_response_clear(&r);
  /* a socket file nobody listens on */
  snprintf(path, sizeof path, "%s/stale.sock", dir);
  int fd = hostile_fcgi_listen_unix(path, 1);
  assert_true(fd >= 0);
  close(fd);
  do_spec(path, &r, FCGI_NO_DEADLINE);
  expect(&r, FCGI_ECONNREFUSED, "nobody is listening");
  assert_int_equal(r.phase, FCGI_PHASE_CONNECT);
  fcgi_response_clear(&r);
  unlink(path);
  rmdir(dir);
  /* TCP: a closed port */
  int port = 0;
  fd = hostile_fcgi_listen_tcp(&port);
  close(fd);
  snprintf(path, sizeof path, "127.0.0.1:%d", port);
  do_spec(path, &r, FCGI_NO_DEADLINE);
  expect(&r, FCGI_ECONNREFUSED, "nobody is listening");
  fcgi_response_clear(&r);
}

static void test_unix_backlog_full(void **state) {
  (void)state;
  char dir[] = "/tmp/fcgi_t.XXXXXX", path[128];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/full.sock", dir);
  int lfd = hostile_fcgi_listen_unix(path, 0), fds[16], n = 0;
  assert_true(lfd >= 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  memcpy(sun.sun_path, path, strlen(path) + 1);
  for (; n < 16; n++) { /* fill the queue: nobody accepts */
    fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(fds[n], (struct sockaddr *)&sun, sizeof sun) < 0) {
      assert_int_equal(errno, EAGAIN);
      close(fds[n]);
      break;
    }
  }
  assert_true(n < 16);
  struct fcgi_response r;
  int64_t t0 = fcgi_now_ms();
  do_spec(path, &r, t0 + 60000);
  expect(&r, FCGI_EBACKLOG, "listen backlog full");
  /* at once: no waiting for room until the deadline, a minute away */
  assert_true(fcgi_now_ms() - t0 < LATE_MS);
  fcgi_response_clear(&r);
  for (int i = 0; i < n; i++)
    close(fds[i]);
  close(lfd);
  unlink(path);
  rmdir(dir);
}

/* A TCP listener whose accept queue is full: Linux then drops SYNs, so a
 * new connect stays pending. On loopback the handshake of a connect that
 * is let in completes within connect() itself, so a second of no answer
 * means dropped, even on a loaded machine. */
struct full_tcp {
  int lfd, port, n;
  int fds[64];
};

static int connect_hangs(int port) {
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(0x7f000001)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
  struct pollfd p = {fd, POLLOUT, 0};
  int hangs = rc < 0 && errno == EINPROGRESS && poll(&p, 1, 1000) == 0;
  close(fd);
  return hangs;
}

static void full_tcp_open(struct full_tcp *f) {
  f->port = 0;
  f->n = 0;
  f->lfd = hostile_fcgi_listen_tcp(&f->port);
  assert_true(f->lfd >= 0);
  listen(f->lfd, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)f->port),
                            .sin_addr.s_addr = htonl(0x7f000001)};
  while (f->n < 64) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fd, (struct sockaddr *)&sin, sizeof sin);
    f->fds[f->n++] = fd;
    if (f->n >= 2 && connect_hangs(f->port))
      return;
  }
  fail_msg("could not fill the accept queue of port %d", f->port);
}

static void full_tcp_close(struct full_tcp *f) {
  for (int i = 0; i < f->n; i++)
    close(f->fds[i]);
  close(f->lfd);
}

static void test_tcp_connect_phase_timeout(void **state) {
  (void)state;
  struct full_tcp f;
  full_tcp_open(&f);
  char spec[64], frag[64];
  snprintf(spec, sizeof spec, "127.0.0.1:%d", f.port);
  snprintf(frag, sizeof frag, "while connecting to 127.0.0.1:%d", f.port);
  struct fcgi_response r;
  int64_t deadline = fcgi_now_ms() + 300;
  do_spec(spec, &r, deadline);
  int64_t late = fcgi_now_ms() - deadline;
  print_message("connect: ended %lld ms after the deadline\n", (long long)late);
  expect(&r, FCGI_ETIMEDOUT, frag);
  assert_int_equal(r.phase, FCGI_PHASE_CONNECT);
  assert_true(late >= 0 && late < LATE_MS);
  assert_int_equal(r.t_connect_ms, -1);
  fcgi_response_clear(&r);
  full_tcp_close(&f);
}

/* An endpoint with two addresses, built by hand (a resolver would give
 * them for a dual-stack name). */
static fcgi_endpoint *two_addrs(int port0, int port1) {
  fcgi_endpoint *ep = calloc(1, sizeof *ep + 2 * sizeof ep->addr[0]);
  assert_non_null(ep);
  ep->text = strdup("tcp://two-addresses:0");
  ep->naddr = 2;
  int ports[2] = {port0, port1};
  for (int i = 0; i < 2; i++) {
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)ports[i]),
                              .sin_addr.s_addr = htonl(0x7f000001)};
    memcpy(&ep->addr[i].sa, &sin, sizeof sin);
    ep->addr[i].len = sizeof sin;
    snprintf(ep->addr[i].text, sizeof ep->addr[i].text, "127.0.0.1:%d",
             ports[i]);
  }
  return ep;
}

static void test_next_address(void **state) {
  (void)state;
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "ok", 1), 0);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  struct fcgi_response r;
  struct fcgi_call_opts o = {0};
  fcgi_response_init(&r);
  /* first address refuses: the second one answers */
  int closed = 0, fd = hostile_fcgi_listen_tcp(&closed);
  close(fd);
  fcgi_endpoint *ep = two_addrs(closed, h.port);
  o.deadline_ms = fcgi_now_ms() + 2000;
  fcgi_do(ep, rq, &o, &r);
  expect(&r, FCGI_OK, NULL);
  assert_memory_equal(r.body, "hello", 5);
  fcgi_endpoint_free(ep);
  /* first address hangs: it gets half of the time left when the request
   * starts, then the second one has the other half to answer. A start
   * delayed by load only moves the switch later, never earlier. */
  struct full_tcp f;
  full_tcp_open(&f);
  ep = two_addrs(f.port, h.port);
  int64_t t0 = fcgi_now_ms();
  o.deadline_ms = t0 + 3000;
  fcgi_do(ep, rq, &o, &r);
  int64_t took = fcgi_now_ms() - t0;
  print_message("next address: first one hung, answered after %lld ms\n",
                (long long)took);
  expect(&r, FCGI_OK, NULL);
  assert_true(took >= 1500);
  /* t_connect_ms counts from the start s (t0 <= s <= t0 + delay): the
   * second connect began at or after s + (deadline - s) / 2 */
  int64_t delay = took - r.t_end_ms;
  assert_true(r.t_connect_ms >= (o.deadline_ms - t0 - delay) / 2);
  fcgi_response_clear(&r);
  fcgi_endpoint_free(ep);
  full_tcp_close(&f);
  fcgi_request_free(rq);
  hostile_fcgi_stop(&h);
}

static void test_eacces_names_owner_and_mode(void **state) {
  (void)state;
  if (geteuid() != 0) {
    print_message("skipped: needs root to drop to nobody\n");
    skip();
  }
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "ok", 0), 0);
  chmod(h.dir, 0755);
  chmod(h.path, 0600);
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t parent = getpid(), pid = fork();
  if (pid == 0) {
    close(pfd[0]);
    struct fcgi_response r;
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
      _exit(3);
    hostile_fcgi_child_guard(parent, pfd[1]); /* after setuid: it resets */
    fcgi_endpoint *ep;
    if (fcgi_endpoint_parse(h.spec, &ep, NULL, 0) != FCGI_OK)
      _exit(4);
    fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
    struct fcgi_call_opts o = {0};
    fcgi_response_init(&r);
    fcgi_do(ep, rq, &o, &r);
    char line[700];
    int n =
        snprintf(line, sizeof line, "%s|%s", fcgi_err_name(r.err), r.errmsg);
    ssize_t w = write(pfd[1], line, (size_t)n);
    fcgi_response_clear(&r);
    fcgi_request_free(rq);
    fcgi_endpoint_free(ep);
    _exit(w == n ? 0 : 5);
  }
  close(pfd[1]);
  char buf[800] = {0};
  size_t got = 0;
  ssize_t k;
  while ((k = read(pfd[0], buf + got, sizeof buf - 1 - got)) > 0)
    got += (size_t)k;
  close(pfd[0]);
  int status = -1;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  hostile_fcgi_stop(&h);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child status 0x%x: %s", (unsigned)status, buf);
  print_message("EACCES: %s\n", buf);
  assert_non_null(strstr(buf, "FCGI_EACCES|"));
  assert_non_null(strstr(buf, "owner root:root mode 0600"));
  assert_non_null(strstr(buf, "uid 65534 gid 65534"));
  assert_non_null(strstr(buf, "listen.owner"));
}

static int watchdog_on(void **state) {
  (void)state;
  alarm(WATCHDOG_S); /* SIGALRM ends the run; the children die with it */
  return 0;
}

/* Runs after a failed test too: its servers must not outlive it. */
static int stop_leftovers(void **state) {
  (void)state;
  alarm(0);
  size_t n = hostile_fcgi_stop_all();
  if (n)
    print_message("stopped %zu server(s) the test left running\n", n);
  return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, watchdog_on, stop_leftovers)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_flood_is_capped),
      T(test_ok_unix_and_tcp),
      T(test_tolerated_oddities),
      T(test_replay_captures),
      T(test_malformed_is_eproto),
      T(test_protocol_status),
      T(test_closed_early),
      T(test_hang_ends_at_deadline),
      T(test_default_deadline),
      T(test_trickle_ends_at_deadline),
      T(test_cancel_wakes_at_once),
      T(test_eintr_keeps_deadline),
      T(test_caps),
      T(test_on_body_streams),
      T(test_echo_big_request),
      T(test_multi_mixed),
      T(test_enoent_and_refused),
      T(test_unix_backlog_full),
      T(test_tcp_connect_phase_timeout),
      T(test_next_address),
      T(test_eacces_names_owner_and_mode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
