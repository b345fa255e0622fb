/*
 * it_fetch.c: the fetch façade against the real php-fpm 8.2 that
 * tests/harness/with-fpm.sh starts (runs under valgrind in CI): every pool
 * at once over one engine, the self marker found in FPM's own worker list
 * and removed by the model, the pm.status_listen socket (served by a hidden
 * pool, so no own worker in the list), ping, the error classes of a
 * pool without a status path and of a missing socket, and a target that
 * names its pool answered by another pool.
 */
#include "fpm_fetch.h"
#include "fpm_model.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || v[0] == '\0')
    fail_msg("%s is not set: run under tests/harness/with-fpm.sh", name);
  return v;
}

static fpm_fetcher *make(const char *endpoint) {
  struct fpm_target t = {.endpoint = endpoint};
  char err[256];
  fpm_fetcher *f = fpm_fetcher_new(&t, err, sizeof err);
  if (f == NULL)
    fail_msg("%s: %s", endpoint, err);
  return f;
}

static int marker_in_list(const struct fpm_result *r) {
  for (size_t i = 0; i < r->status.n_workers; i++)
    if (strstr(r->status.workers[i].uri, r->marker) != NULL)
      return 1;
  return 0;
}

static void test_all_pools_at_once(void **state) {
  (void)state;
  char missing[512];
  snprintf(missing, sizeof missing, "%s/run/missing.sock", env("FPMT_DIR"));
  const char *eps[] = {env("FPMT_WWW_SOCK"),        env("FPMT_DYN_ADDR"),
                       env("FPMT_OD_SOCK"),         env("FPMT_NOSTATUS_SOCK"),
                       env("FPMT_DYN_STATUS_ADDR"), missing};
  enum { N = sizeof eps / sizeof eps[0] };
  fpm_fetcher *fs[N];
  struct fpm_result r[N];
  for (size_t i = 0; i < N; i++) {
    fs[i] = make(eps[i]);
    fpm_result_init(&r[i]);
  }
  assert_int_equal(
      fpm_fetch_many(fs, N, FPM_FETCH_STATUS, fcgi_now_ms() + 5000, NULL, r),
      FPM_EHTTP);
  static const char *const pools[] = {"www", "dyn", "od"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(r[i].err, FPM_OK);
    assert_string_equal(r[i].status.pool, pools[i]);
    assert_true(r[i].status.has_workers);
    assert_true(marker_in_list(&r[i])); /* FPM shows our own request */
    struct fpm_model_opts mo = {.self_marker = r[i].marker};
    struct fpm_metrics m;
    fpm_model_compute(&r[i].status, &mo, NULL, &m);
    assert_true(m.self_found);
    assert_int_equal(m.active, 0); /* idle pools: the scrape is not active */
    assert_true(r[i].status.v[FPM_F_ACTIVE_PROCESSES] >= 1); /* FPM's: is */
  }
  assert_int_equal(r[3].err, FPM_EHTTP);
  assert_int_equal(r[3].http_status, 404);
  assert_non_null(strstr(r[3].message, "pm.status_path"));
  /* status_listen: served by the hidden pool, our request is not listed */
  assert_int_equal(r[4].err, FPM_OK);
  assert_string_equal(r[4].status.pool, "dyn");
  assert_false(marker_in_list(&r[4]));
  assert_int_equal(r[5].err, FPM_ECONNECT);
  assert_int_equal(r[5].fcgi, FCGI_ENOENT);
  for (size_t i = 0; i < N; i++) {
    if (r[i].err != FPM_OK) { /* one line that starts with the target */
      const char *ep = fpm_fetcher_endpoint(fs[i]);
      assert_int_equal(strncmp(r[i].message, ep, strlen(ep)), 0);
      assert_null(strchr(r[i].message, '\n'));
    }
    fpm_result_clear(&r[i]);
    fpm_fetcher_free(fs[i]);
  }
}

static void test_ping_and_reuse(void **state) {
  (void)state;
  fpm_fetcher *f = make(env("FPMT_WWW_SOCK"));
  struct fpm_result r;
  fpm_result_init(&r);
  for (int i = 0; i < 3; i++) { /* one result reused fetch after fetch */
    assert_int_equal(
        fpm_fetch(f, FPM_FETCH_PING, fcgi_now_ms() + 2000, NULL, &r), FPM_OK);
    assert_int_equal(
        fpm_fetch(f, FPM_FETCH_STATUS, fcgi_now_ms() + 2000, NULL, &r), FPM_OK);
    assert_string_equal(r.status.pool, "www");
  }
  fpm_result_clear(&r);
  fpm_fetcher_free(f);
}

static void test_no_full(void **state) {
  (void)state;
  struct fpm_target t = {.endpoint = env("FPMT_WWW_SOCK"), .no_full = 1};
  fpm_fetcher *f = fpm_fetcher_new(&t, NULL, 0);
  assert_non_null(f);
  struct fpm_result r;
  fpm_result_init(&r);
  assert_int_equal(
      fpm_fetch(f, FPM_FETCH_STATUS, fcgi_now_ms() + 2000, NULL, &r), FPM_OK);
  assert_false(r.status.has_workers);
  assert_true(fpm_status_has(&r.status, FPM_F_ACCEPTED_CONN));
  fpm_result_clear(&r);
  fpm_fetcher_free(f);
}

/* fpm_target.pool: the page must be that pool's (case aside); another
 * pool's page is an error that names both, not figures. */
static void test_expected_pool(void **state) {
  (void)state;
  const char *names[] = {"www", "WWW", "shop"};
  for (int i = 0; i < 3; i++) {
    struct fpm_target t = {.endpoint = env("FPMT_WWW_SOCK"), .pool = names[i]};
    fpm_fetcher *f = fpm_fetcher_new(&t, NULL, 0);
    assert_non_null(f);
    struct fpm_result r;
    fpm_result_init(&r);
    fpm_err e = fpm_fetch(f, FPM_FETCH_STATUS, fcgi_now_ms() + 2000, NULL, &r);
    if (i < 2) {
      assert_int_equal(e, FPM_OK);
    } else {
      assert_int_equal(e, FPM_EPARSE);
      if (strstr(r.message, "another pool answers here (the status page is "
                            "pool \"www\"'s, expected \"shop\")") == NULL)
        fail_msg("message: %s", r.message);
    }
    fpm_result_clear(&r);
    fpm_fetcher_free(f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all_pools_at_once),
      cmocka_unit_test(test_ping_and_reuse),
      cmocka_unit_test(test_no_full),
      cmocka_unit_test(test_expected_pool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
