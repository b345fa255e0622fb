/*
 * test_fcgi_pool.c: connection reuse rules against a scripted server
 * (forked here, on a unix socket): the retry rule on a kept connection
 * (retried once only when the server closed it while the request was
 * still being sent and nothing came back; never after the request was
 * sent whole, never after a response byte), the idle list's bound, and
 * the probe of a server that never answers GET_VALUES.
 */
#include "fcgi.h"
#include "fcgi_testutil.h"
#include "hostile_fcgi.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* Read one whole request (to the empty STDIN record); its id. */
static int read_request(int fd) {
  static uint8_t content[65536 + 256];
  for (;;) {
    uint8_t h[8];
    if (fcgit_read_full(fd, h, 8))
      return -1;
    size_t clen = ((size_t)h[4] << 8) | h[5];
    if (fcgit_read_full(fd, content, clen + h[6]))
      return -1;
    if (h[1] == 5 && clen == 0)
      return (h[2] << 8) | h[3];
  }
}

static void answer(int fd, int id, int end) {
  static const char body[] = "Content-Type: text/plain\r\n\r\nok\n";
  uint8_t out[8 + sizeof body + 8 + 16];
  size_t n = sizeof body - 1, pad = (8 - n % 8) % 8, o = 0;
  uint8_t h[8] = {1, 6,          (uint8_t)(id >> 8), (uint8_t)id,
                  0, (uint8_t)n, (uint8_t)pad,       0};
  memcpy(out, h, 8);
  memcpy(out + 8, body, n);
  memset(out + 8 + n, 0, pad);
  o = 8 + n + pad;
  if (end) {
    uint8_t e[16] = {1, 3, (uint8_t)(id >> 8), (uint8_t)id, 0, 8, 0, 0};
    memcpy(out + o, e, 16);
    o += 16;
  }
  if (write(fd, out, o) < 0)
    _exit(1);
}

enum script {
  CLOSE_WHILE_SENDING, /* 2nd request: read 8 bytes, close (RST) */
  CLOSE_AFTER_SENT,    /* 2nd request: read it whole, close */
  CLOSE_AFTER_BYTE     /* 2nd request: read it, send a STDOUT, close */
};

static void serve(int lfd, enum script s) {
  int a = accept(lfd, NULL, NULL);
  answer(a, read_request(a), 1);
  uint8_t h[8];
  if (s == CLOSE_WHILE_SENDING) {
    if (fcgit_read_full(a, h, 8) == 0)
      close(a); /* unread data: the client sees a reset */
  } else {
    int id = read_request(a);
    if (s == CLOSE_AFTER_BYTE)
      answer(a, id, 0);
    close(a);
  }
  for (;;) { /* later connections: plain one-shot service */
    int b = accept(lfd, NULL, NULL);
    if (b < 0)
      continue;
    int id = read_request(b);
    if (id >= 0)
      answer(b, id, 1);
    close(b);
  }
}

struct rig {
  pid_t pid;
  char dir[64], path[128], spec[160];
  fcgi_endpoint *ep;
  fcgi_client *cl;
  fcgi_request *rq;
};

static void rig_start(struct rig *g, enum script s, size_t body) {
  snprintf(g->dir, sizeof g->dir, "/tmp/fpmt-pool.XXXXXX");
  assert_non_null(mkdtemp(g->dir));
  snprintf(g->path, sizeof g->path, "%s/s.sock", g->dir);
  snprintf(g->spec, sizeof g->spec, "unix:%s", g->path);
  int lfd = hostile_fcgi_listen_unix(g->path, 16);
  assert_true(lfd >= 0);
  pid_t parent = getpid();
  g->pid = fork();
  assert_true(g->pid >= 0);
  if (g->pid == 0) {
    hostile_fcgi_child_guard(parent, lfd); /* never outlives the test */
    serve(lfd, s);
    _exit(0);
  }
  close(lfd);
  assert_int_equal(fcgi_endpoint_parse(g->spec, &g->ep, NULL, 0), FCGI_OK);
  g->cl = fcgi_client_new(NULL);
  g->rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(g->rq, "SCRIPT_NAME", "/x");
  uint8_t *b = calloc(1, body + 1);
  fcgi_request_set_stdin(g->rq, b, body);
  free(b);
}

static void rig_stop(struct rig *g) {
  kill(g->pid, SIGKILL);
  waitpid(g->pid, NULL, 0);
  unlink(g->path);
  rmdir(g->dir);
  fcgi_request_free(g->rq);
  fcgi_client_free(g->cl);
  fcgi_endpoint_free(g->ep);
}

struct traced {
  int n;
  struct fcgi_trace t[4];
};

static void on_trace(void *ud, const struct fcgi_trace *t) {
  struct traced *tr = ud;
  if (tr->n < 4)
    tr->t[tr->n++] = *t;
}

/* Two kept requests; returns the second one's error. */
static fcgi_err two(struct rig *g, struct traced *tr, char *msg, size_t len) {
  fcgi_err e = FCGI_OK;
  for (int i = 0; i < 2; i++) {
    struct fcgi_call_opts o = {0};
    o.deadline_ms = fcgi_now_ms() + 5000 * fcgit_tolerance_ms(1);
    o.keep_conn = 1;
    o.on_trace = on_trace;
    o.on_trace_ud = tr;
    struct fcgi_response r;
    fcgi_response_init(&r);
    e = fcgi_client_do(g->cl, g->ep, g->rq, &o, &r);
    if (i == 0)
      assert_int_equal(e, FCGI_OK);
    snprintf(msg, len, "%s", r.errmsg);
    fcgi_response_clear(&r);
  }
  return e;
}

static void test_retry_when_closed_while_sending(void **state) {
  (void)state;
  struct rig g;
  rig_start(&g, CLOSE_WHILE_SENDING, 4 << 20); /* big: still sending */
  struct traced tr = {0};
  char msg[512];
  fcgi_err e = two(&g, &tr, msg, sizeof msg);
  if (e != FCGI_OK)
    fail_msg("second request: %s: %s", fcgi_err_name(e), msg);
  struct fcgi_client_stats st;
  fcgi_client_stats(g.cl, g.ep, &st);
  assert_int_equal(st.reused, 1);
  assert_int_equal(st.retried, 1);
  assert_int_equal(tr.n, 2);
  assert_int_equal(tr.t[1].attempts, 2);
  rig_stop(&g);
}

static void test_no_retry_once_sent_whole(void **state) {
  (void)state;
  struct rig g;
  rig_start(&g, CLOSE_AFTER_SENT, 0);
  struct traced tr = {0};
  char msg[512];
  fcgi_err e = two(&g, &tr, msg, sizeof msg);
  /* the server may have run it: not retried */
  assert_int_equal(e, FCGI_ECLOSED);
  struct fcgi_client_stats st;
  fcgi_client_stats(g.cl, g.ep, &st);
  assert_int_equal(st.reused, 1);
  assert_int_equal(st.retried, 0);
  assert_int_equal(tr.t[1].attempts, 1);
  rig_stop(&g);
}

static void test_no_retry_after_a_response_byte(void **state) {
  (void)state;
  struct rig g;
  rig_start(&g, CLOSE_AFTER_BYTE, 0);
  struct traced tr = {0};
  char msg[512];
  assert_int_equal(two(&g, &tr, msg, sizeof msg), FCGI_ECLOSED);
  struct fcgi_client_stats st;
  fcgi_client_stats(g.cl, g.ep, &st);
  assert_int_equal(st.retried, 0);
  assert_true(tr.t[1].bytes_in > 0);
  rig_stop(&g);
}

/* A server that never answers GET_VALUES: the probe ends at its own short
 * deadline and "no answer" is cached (do not multiplex). */
static void test_probe_no_answer(void **state) {
  (void)state;
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "hang", 0), 0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, NULL, 0), FCGI_OK);
  struct fcgi_client_opts co = {0};
  co.probe_timeout_ms = 100;
  fcgi_client *cl = fcgi_client_new(&co);
  struct fcgi_caps caps;
  char err[256];
  int64_t t0 = fcgi_now_ms();
  assert_int_equal(
      fcgi_client_probe(cl, ep, FCGI_NO_DEADLINE, &caps, err, sizeof err),
      FCGI_ETIMEDOUT);
  int64_t took = fcgi_now_ms() - t0;
  /* at its deadline: not before, and not long after (a loaded machine
   * only delays the wake-up) */
  assert_true(took >= 100 && took < 100 + fcgit_tolerance_ms(5000));
  assert_int_equal(caps.state, FCGI_CAPS_NO_ANSWER);
  assert_non_null(strstr(err, "no answer to FCGI_GET_VALUES"));
  fcgi_client_caps(cl, ep, &caps);
  assert_int_equal(caps.state, FCGI_CAPS_NO_ANSWER);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
  hostile_fcgi_stop(&h);
}

/* A deadline already past ends the probe at once, as it ends a request:
 * a negative one too (it is not "none"), not after the probe timeout. */
static void test_probe_past_deadline(void **state) {
  (void)state;
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "hang", 0), 0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, NULL, 0), FCGI_OK);
  struct fcgi_client_opts co = {0};
  co.probe_timeout_ms = 60000;
  static const int64_t past[] = {-1, 1};
  for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
    fcgi_client *cl = fcgi_client_new(&co);
    struct fcgi_caps caps;
    char err[256];
    int64_t t0 = fcgi_now_ms();
    assert_int_equal(fcgi_client_probe(cl, ep, past[i], &caps, err, sizeof err),
                     FCGI_ETIMEDOUT);
    int64_t took = fcgi_now_ms() - t0;
    print_message("probe, deadline %lld: ended after %lld ms\n",
                  (long long)past[i], (long long)took);
    assert_true(took < fcgit_tolerance_ms(5000)); /* not the 60 s timeout */
    assert_non_null(strstr(err, "no answer to FCGI_GET_VALUES"));
    fcgi_client_free(cl);
  }
  fcgi_endpoint_free(ep);
  hostile_fcgi_stop(&h);
}

/* The default path is unchanged: an engine with a client but no
 * keep_conn / multiplex opens a connection per request and keeps none. */
static void test_defaults_keep_nothing(void **state) {
  (void)state;
  struct hostile_fcgi h;
  assert_int_equal(hostile_fcgi_start(&h, "ok", 0), 0);
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(h.spec, &ep, NULL, 0), FCGI_OK);
  fcgi_client *cl = fcgi_client_new(NULL);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  for (int i = 0; i < 3; i++) {
    struct fcgi_call_opts o = {0};
    o.deadline_ms = fcgi_now_ms() + 5000;
    struct fcgi_response r;
    fcgi_response_init(&r);
    assert_int_equal(fcgi_client_do(cl, ep, rq, &o, &r), FCGI_OK);
    fcgi_response_clear(&r);
  }
  struct fcgi_client_stats st;
  fcgi_client_stats(cl, ep, &st);
  assert_int_equal(st.opened, 3);
  assert_int_equal(st.idle, 0);
  assert_int_equal(st.probes, 0);
  /* an invalid traceparent is refused at add; nothing is reported */
  fcgi_multi *m = fcgi_multi_new_client(cl);
  struct fcgi_call_opts o = {0};
  o.traceparent = 1;
  o.traceparent_in = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  struct fcgi_response r;
  fcgi_response_init(&r);
  assert_int_equal(fcgi_multi_add(m, ep, rq, &o, &r, NULL), FCGI_EINVAL);
  assert_int_equal(fcgi_multi_pending(m), 0);
  assert_int_equal(fcgi_multi_fds(m, NULL, 0), 0);
  assert_int_equal(fcgi_multi_timeout_ms(m), -1);
  fcgi_multi_free(m);
  fcgi_request_free(rq);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
  hostile_fcgi_stop(&h);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* the scripted server's writes */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_when_closed_while_sending),
      cmocka_unit_test(test_no_retry_once_sent_whole),
      cmocka_unit_test(test_no_retry_after_a_response_byte),
      cmocka_unit_test(test_probe_no_answer),
      cmocka_unit_test(test_probe_past_deadline),
      cmocka_unit_test(test_defaults_keep_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
