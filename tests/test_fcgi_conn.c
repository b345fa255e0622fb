/*
 * test_fcgi_conn.c: the per-request state machine driven by hand with a
 * fake clock: every time it records comes from the `now` it was given, and
 * expiry is the driver's decision.
 */
#include "fcgi_conn.h"
#include "hostile_fcgi.h"

#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct rig {
  struct hostile_fcgi h;
  fcgi_endpoint *ep;
  fcgi_request *rq;
  struct fcgi_conn c;
  struct fcgi_response r;
};

static void rig_start(struct rig *g, const char *scenario, int64_t now) {
  assert_int_equal(hostile_fcgi_start(&g->h, scenario, 0), 0);
  assert_int_equal(fcgi_endpoint_parse(g->h.spec, &g->ep, NULL, 0), FCGI_OK);
  g->rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(g->rq, "SCRIPT_NAME", "/x");
  fcgi_response_init(&g->r);
  struct fcgi_call_opts o = {0};
  o.deadline_ms = now + 100;
  assert_int_equal(fcgi_conn_start(&g->c, g->ep, g->rq, &o, &g->r, now),
                   FCGI_OK);
}

static void rig_stop(struct rig *g) {
  fcgi_conn_cleanup(&g->c);
  fcgi_response_clear(&g->r);
  fcgi_request_free(g->rq);
  fcgi_endpoint_free(g->ep);
  hostile_fcgi_stop(&g->h);
}

static void test_fake_clock_drives_times(void **state) {
  (void)state;
  struct rig g;
  int64_t now = 1000;
  rig_start(&g, "ok", now);
  /* a unix connect completes at once: already sending or receiving */
  assert_int_not_equal(g.c.state, FCGI_CONN_CONNECTING);
  assert_int_equal(g.r.t_connect_ms, 0);
  int steps = 0;
  while (g.c.state != FCGI_CONN_DONE && steps < 1000) {
    struct pollfd p = {g.c.fd, fcgi_conn_events(&g.c), 0};
    assert_true(p.events != 0);
    assert_true(poll(&p, 1, 2000) > 0);
    now += 7; /* fake time moves only when we say */
    fcgi_conn_step(&g.c, p.revents, now);
    steps++;
  }
  assert_int_equal(g.c.state, FCGI_CONN_DONE);
  assert_int_equal(g.r.err, FCGI_OK);
  assert_int_equal(g.r.t_end_ms, now - 1000);
  assert_true(g.r.t_first_byte_ms > 0 && g.r.t_first_byte_ms <= now - 1000);
  assert_int_equal(fcgi_conn_events(&g.c), 0);
  assert_memory_equal(g.r.body, "hello", 5);
  rig_stop(&g);
}

static void test_abort_uses_given_time(void **state) {
  (void)state;
  struct rig g;
  rig_start(&g, "hang", 5000);
  struct pollfd p = {g.c.fd, fcgi_conn_events(&g.c), 0};
  while (g.c.state == FCGI_CONN_SENDING && poll(&p, 1, 1000) > 0)
    fcgi_conn_step(&g.c, p.revents, 5001);
  assert_int_equal(g.c.state, FCGI_CONN_RECEIVING);
  assert_int_equal(fcgi_conn_events(&g.c), POLLIN);
  fcgi_conn_abort(&g.c, FCGI_ETIMEDOUT, "timed out", 5100);
  assert_int_equal(g.r.err, FCGI_ETIMEDOUT);
  assert_int_equal(g.r.phase, FCGI_PHASE_RECV);
  assert_int_equal(g.r.t_end_ms, 100);
  assert_non_null(strstr(g.r.errmsg, "timed out after 100 ms while waiting "
                                     "for the response"));
  /* aborting again changes nothing */
  fcgi_conn_abort(&g.c, FCGI_ECANCELED, "cancelled", 9000);
  assert_int_equal(g.r.err, FCGI_ETIMEDOUT);
  rig_stop(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fake_clock_drives_times),
      cmocka_unit_test(test_abort_uses_given_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
