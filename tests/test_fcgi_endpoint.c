/*
 * test_fcgi_endpoint.c: endpoint parsing table, error strings for every
 * code, phase names, request argument checks.
 */
#include "fcgi.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct ep_case {
  const char *spec;
  fcgi_err err;
  const char *canon; /* or a fragment of the error text */
  int is_unix;
};

static const struct ep_case cases[] = {
    {"unix:/run/php/fpm.sock", FCGI_OK, "unix:/run/php/fpm.sock", 1},
    {"/run/php/fpm.sock", FCGI_OK, "unix:/run/php/fpm.sock", 1},
    {"tcp://127.0.0.1:9000", FCGI_OK, "tcp://127.0.0.1:9000", 0},
    {"127.0.0.1:9000", FCGI_OK, "tcp://127.0.0.1:9000", 0},
    {"localhost:9000", FCGI_OK, "tcp://localhost:9000", 0},
    {"[::1]:9000", FCGI_OK, "tcp://[::1]:9000", 0},
    {"tcp://[::1]:65535", FCGI_OK, "tcp://[::1]:65535", 0},
    {"", FCGI_EINVAL, "empty endpoint", 0},
    {"unix:", FCGI_EINVAL, "empty socket path", 0},
    {"127.0.0.1", FCGI_EINVAL, "missing port", 0},
    {"127.0.0.1:", FCGI_EINVAL, "missing port", 0},
    {"tcp://127.0.0.1", FCGI_EINVAL, "missing port", 0},
    {"127.0.0.1:0", FCGI_EINVAL, "bad port", 0},
    {"127.0.0.1:65536", FCGI_EINVAL, "bad port", 0},
    {"127.0.0.1:90x", FCGI_EINVAL, "bad port", 0},
    {"127.0.0.1:-1", FCGI_EINVAL, "bad port", 0},
    {"[::1]9000", FCGI_EINVAL, "missing port", 0},
    {"[::1:9000", FCGI_EINVAL, "missing ']'", 0},
    {"::1:9000", FCGI_EINVAL, "brackets", 0},
    {":9000", FCGI_EINVAL, "empty host", 0},
    {"http://127.0.0.1:80", FCGI_EINVAL, "unknown scheme", 0},
    {"no-such-host.invalid:9000", FCGI_ERESOLVE, "did not resolve", 0},
};

static void test_parse_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct ep_case *c = &cases[i];
    fcgi_endpoint *ep = (fcgi_endpoint *)(uintptr_t)1;
    char err[256];
    fcgi_err rc = fcgi_endpoint_parse(c->spec, &ep, err, sizeof err);
    if (rc != c->err)
      fail_msg("%s: got %s (%s), want %s", c->spec, fcgi_err_name(rc), err,
               fcgi_err_name(c->err));
    if (rc == FCGI_OK) {
      assert_string_equal(fcgi_endpoint_str(ep), c->canon);
      assert_int_equal(fcgi_endpoint_is_unix(ep), c->is_unix);
      assert_string_equal(err, "");
      fcgi_endpoint_free(ep);
    } else {
      assert_null(ep);
      if (!strstr(err, c->canon))
        fail_msg("%s: error \"%s\" lacks \"%s\"", c->spec, err, c->canon);
      assert_non_null(strstr(err, c->spec)); /* names the endpoint */
    }
  }
}

static void test_parse_long_path(void **state) {
  (void)state;
  char spec[200], err[512];
  memset(spec, 'a', sizeof spec - 1);
  spec[0] = '/';
  spec[sizeof spec - 1] = '\0';
  fcgi_endpoint *ep;
  assert_int_equal(fcgi_endpoint_parse(spec, &ep, err, sizeof err),
                   FCGI_EINVAL);
  assert_non_null(strstr(err, "at most 107"));
  spec[107] = '\0'; /* 107 bytes fit */
  assert_int_equal(fcgi_endpoint_parse(spec, &ep, NULL, 0), FCGI_OK);
  fcgi_endpoint_free(ep);
  fcgi_endpoint_free(NULL);
}

static void test_error_strings(void **state) {
  (void)state;
  for (int e = 0; e < FCGI_ERR_LAST; e++) {
    const char *s = fcgi_err_str((fcgi_err)e);
    const char *n = fcgi_err_name((fcgi_err)e);
    assert_true(strlen(s) > 5);
    assert_true(strncmp(n, "FCGI_", 5) == 0);
    for (int o = 0; o < e; o++) {
      assert_string_not_equal(s, fcgi_err_str((fcgi_err)o));
      assert_string_not_equal(n, fcgi_err_name((fcgi_err)o));
    }
  }
  assert_string_equal(fcgi_err_name(FCGI_ETIMEDOUT), "FCGI_ETIMEDOUT");
  assert_string_equal(fcgi_err_name(FCGI_ETOOBIG), "FCGI_ETOOBIG");
  assert_non_null(strstr(fcgi_err_str(FCGI_ECONNREFUSED), "refused"));
  assert_non_null(fcgi_err_str(FCGI_ERR_LAST));
  assert_non_null(fcgi_err_str((fcgi_err)-1));
  assert_string_equal(fcgi_err_name((fcgi_err)99), "FCGI_E?");
  assert_string_equal(fcgi_phase_name(FCGI_PHASE_CONNECT), "connect");
  assert_string_equal(fcgi_phase_name(FCGI_PHASE_SEND), "send");
  assert_string_equal(fcgi_phase_name(FCGI_PHASE_RECV), "response");
  assert_string_equal(fcgi_phase_name(FCGI_PHASE_NONE), "none");
}

static void test_request_args(void **state) {
  (void)state;
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  assert_non_null(rq);
  static char big[70000];
  memset(big, 'v', sizeof big);
  assert_int_equal(fcgi_request_add_param_str(rq, "A", "b"), FCGI_OK);
  assert_int_equal(fcgi_request_add_param(rq, "N", 1, big, 65527 - 6), FCGI_OK);
  assert_int_equal(fcgi_request_add_param(rq, "N", 1, big, 65527 - 5),
                   FCGI_EINVAL);
  assert_int_equal(fcgi_request_add_param(rq, NULL, 3, "x", 1), FCGI_EINVAL);
  assert_int_equal(fcgi_request_add_param_str(rq, "A", NULL), FCGI_EINVAL);
  assert_int_equal(fcgi_request_set_stdin(rq, big, sizeof big), FCGI_OK);
  assert_int_equal(fcgi_request_set_stdin(rq, NULL, 0), FCGI_OK);
  fcgi_request_free(rq);
  fcgi_request_free(NULL);
  struct fcgi_response r;
  fcgi_response_init(&r);
  assert_int_equal(r.protocol_status, -1);
  assert_null(fcgi_response_header(&r, "Status", NULL));
  fcgi_response_clear(&r);
}

static void test_cancel_handle(void **state) {
  (void)state;
  fcgi_cancel *c = fcgi_cancel_new();
  assert_non_null(c);
  assert_false(fcgi_cancel_is_triggered(c));
  fcgi_cancel_trigger(c);
  fcgi_cancel_trigger(c);
  assert_true(fcgi_cancel_is_triggered(c));
  fcgi_cancel_reset(c);
  assert_false(fcgi_cancel_is_triggered(c));
  fcgi_cancel_free(c);
  fcgi_cancel_free(NULL);
  int64_t a = fcgi_now_ms(), b = fcgi_now_ms();
  assert_true(a > 0 && b >= a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_parse_long_path),
      cmocka_unit_test(test_error_strings),
      cmocka_unit_test(test_request_args),
      cmocka_unit_test(test_cancel_handle),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
