/*
 * test_fpm_own_requests.c: the count of our own requests in a pool's history
 * and the external_requests series (accepted conn minus them): one-shots
 * have none, scrapes, retries and pings are counted as ours, a restart
 * starts the count again, the series never goes down within one pool
 * instance, and it is a sample only with a history.
 */
#include "fpm_model.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void set_field(struct fpm_status *st, enum fpm_pool_field f,
                      uint64_t v) {
  st->present |= 1u << f;
  st->v[f] = v;
}

/* A pool snapshot without a worker list. */
static void make_status(struct fpm_status *st, uint64_t start_time,
                        uint64_t accepted) {
  memset(st, 0, sizeof *st);
  snprintf(st->pool, sizeof st->pool, "www");
  set_field(st, FPM_F_POOL, 0);
  set_field(st, FPM_F_START_TIME, start_time);
  set_field(st, FPM_F_START_SINCE, 100);
  set_field(st, FPM_F_ACCEPTED_CONN, accepted);
  set_field(st, FPM_F_ACTIVE_PROCESSES, 1);
  set_field(st, FPM_F_IDLE_PROCESSES, 0);
  set_field(st, FPM_F_TOTAL_PROCESSES, 1);
  st->format = FPM_FORMAT_JSON;
}

/* One scrape that sent `own` requests and read accepted conn `accepted`. */
static void scrape(struct fpm_history *h, uint64_t start_time,
                   uint64_t accepted, uint64_t own, struct fpm_status *st,
                   struct fpm_metrics *m) {
  make_status(st, start_time, accepted);
  struct fpm_model_opts o = {.own_requests = own};
  fpm_model_compute(st, &o, h, m);
}

static int has_sample(const struct fpm_metrics *m, enum fpm_metric_id id,
                      double *v) {
  struct fpm_sample s[64];
  size_t n = fpm_metrics_samples(m, FPM_WORKERS_SUMMARY, 0, s, 64);
  assert_true(n <= 64);
  for (size_t i = 0; i < n; i++)
    if (s[i].def->id == id) {
      *v = s[i].value;
      return 1;
    }
  return 0;
}

static void test_one_shot_has_no_external(void **state) {
  (void)state;
  struct fpm_status st;
  struct fpm_metrics m;
  make_status(&st, 1700000000, 500);
  struct fpm_model_opts o = {.own_requests = 1};
  fpm_model_compute(&st, &o, NULL, &m);
  assert_false(m.have_external);
  double v;
  assert_false(has_sample(&m, FPM_M_EXTERNAL, &v));
  assert_true(has_sample(&m, FPM_M_ACCEPTED, &v)); /* raw counter unchanged */
  assert_true(v == 500.0);
}

static void test_idle_pool_rate_zero(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  /* accepted includes the scrape's own request: +1 per scrape */
  scrape(&h, 1700000000, 500, 1, &st, &m);
  assert_true(m.have_external);
  assert_false(m.have_prev);
  assert_int_equal(m.own_requests, 1);
  assert_int_equal(m.external, 499); /* earlier traffic, or other monitors */
  assert_int_equal(m.d_external, 0);
  for (uint64_t k = 1; k <= 10; k++) {
    scrape(&h, 1700000000, 500 + k, 1, &st, &m);
    assert_int_equal(m.d_accepted, 1);
    assert_int_equal(m.d_external, 0);
    assert_int_equal(m.external, 499);
    assert_int_equal(m.own_requests, 1 + k);
  }
  double v;
  assert_true(has_sample(&m, FPM_M_EXTERNAL, &v));
  assert_true(v == 499.0);
  assert_true(has_sample(&m, FPM_M_ACCEPTED, &v));
  assert_true(v == 510.0);
  /* real traffic shows: 5 requests of others between two scrapes */
  scrape(&h, 1700000000, 516, 1, &st, &m);
  assert_int_equal(m.d_external, 5);
  assert_int_equal(m.external, 504);
  fpm_history_free(&h);
}

static void test_retries_and_pings_counted(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  scrape(&h, 1700000000, 100, 1, &st, &m);
  /* a retried scrape (5xx, then 200): two requests */
  scrape(&h, 1700000000, 102, 2, &st, &m);
  assert_int_equal(m.d_external, 0);
  /* a failed fetch (2 requests) and a ping, then a JSON fetch that fell
   * back to text (2 requests) */
  fpm_history_add_requests(&h, 2);
  fpm_history_add_requests(&h, 1);
  fpm_history_add_requests(NULL, 7); /* no-op */
  scrape(&h, 1700000000, 107, 2, &st, &m);
  assert_int_equal(m.d_external, 0);
  assert_int_equal(m.external, 99);
  assert_int_equal(m.own_requests, 8);
  assert_int_equal(h.own_pending, 0);
  fpm_history_free(&h);
}

static void test_restart_resets(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  scrape(&h, 1700000000, 1000, 1, &st, &m);
  scrape(&h, 1700000000, 1001, 1, &st, &m);
  assert_int_equal(m.own_requests, 2);
  fpm_history_add_requests(&h, 3); /* pings; then the pool reloads */
  /* reload: new start time, accepted counts from 0; our scrape is the
   * first request of the new instance */
  scrape(&h, 1700000900, 1, 1, &st, &m);
  assert_true(m.restarted);
  assert_int_equal(m.own_requests, 1);
  assert_int_equal(m.external, 0);
  assert_int_equal(m.d_external, 0);
  scrape(&h, 1700000900, 2, 1, &st, &m);
  assert_false(m.restarted);
  assert_int_equal(m.own_requests, 2);
  assert_int_equal(m.d_external, 0);
  /* a restart with traffic in between: the new value is the delta */
  scrape(&h, 1700001800, 6, 1, &st, &m);
  assert_true(m.restarted);
  assert_int_equal(m.external, 5);
  assert_int_equal(m.d_external, 5);
  /* a restart seen only as accepted going down (no start time change) */
  scrape(&h, 1700001800, 3, 1, &st, &m);
  assert_true(m.restarted);
  assert_int_equal(m.own_requests, 1);
  assert_int_equal(m.external, 2);
  fpm_history_free(&h);
}

/* We counted a request the pool never saw (e.g. it failed on the way):
 * external must not go down, our count is lowered instead. */
static void test_never_goes_down(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  scrape(&h, 1700000000, 50, 1, &st, &m);
  assert_int_equal(m.external, 49);
  fpm_history_add_requests(&h, 4);
  scrape(&h, 1700000000, 52, 1, &st, &m); /* +2, not +5 */
  assert_int_equal(m.external, 49);
  assert_int_equal(m.d_external, 0);
  assert_int_equal(m.own_requests, 3);
  scrape(&h, 1700000000, 54, 1, &st, &m);
  assert_int_equal(m.external, 50);
  assert_int_equal(m.d_external, 1);
  /* more own requests than accepted at all (first scrape of a history) */
  struct fpm_history h2 = {0};
  fpm_history_add_requests(&h2, 10);
  scrape(&h2, 1700000000, 3, 1, &st, &m);
  assert_int_equal(m.external, 0);
  assert_int_equal(m.own_requests, 3);
  fpm_history_free(&h);
  fpm_history_free(&h2);
}

static void test_without_accepted_absent(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  make_status(&st, 1700000000, 10);
  st.present &= ~(1u << FPM_F_ACCEPTED_CONN);
  struct fpm_model_opts o = {.own_requests = 1};
  fpm_model_compute(&st, &o, &h, &m);
  assert_false(m.have_external);
  double v;
  assert_false(has_sample(&m, FPM_M_EXTERNAL, &v));
  /* our request still counts once accepted conn shows up again */
  scrape(&h, 1700000000, 12, 1, &st, &m);
  assert_true(m.have_external);
  assert_int_equal(m.own_requests, 2);
  assert_int_equal(m.external, 10);
  assert_int_equal(m.d_external, 0); /* no previous value to compare */
  fpm_history_free(&h);
}

/* Through pm.status_listen another pool serves the scrape: the worker list
 * lacks our marked request and the pool's accepted conn does not move. */
static void test_scrape_served_elsewhere(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  struct fpm_worker w;
  memset(&w, 0, sizeof w);
  w.present = 1u << FPM_W_PID | 1u << FPM_W_STATE | 1u << FPM_W_REQUEST_URI;
  w.pid = 42;
  w.state = FPM_STATE_IDLE;
  w.uri = "/app.php";
  w.method = w.user = w.script = "-";
  struct fpm_model_opts o = {.self_marker = "fpmstat=feed", .own_requests = 1};
  for (uint64_t k = 0; k < 5; k++) {
    make_status(&st, 1700000000, 20 + (k == 4 ? 3 : 0));
    st.workers = &w;
    st.n_workers = 1;
    st.has_workers = 1;
    fpm_model_compute(&st, &o, &h, &m);
    assert_false(m.self_found);
    assert_int_equal(m.own_requests, 0);
  }
  assert_int_equal(m.external, 23);
  assert_int_equal(m.d_external, 3); /* others' requests, all of them */
  /* with our request in the list, the scrape is ours */
  w.uri = "/status?json&full&fpmstat=feed";
  w.state = FPM_STATE_RUNNING;
  make_status(&st, 1700000000, 24);
  st.workers = &w;
  st.n_workers = 1;
  st.has_workers = 1;
  fpm_model_compute(&st, &o, &h, &m);
  assert_true(m.self_found);
  assert_int_equal(m.own_requests, 1);
  assert_int_equal(m.d_external, 0);
  fpm_history_free(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_shot_has_no_external),
      cmocka_unit_test(test_idle_pool_rate_zero),
      cmocka_unit_test(test_retries_and_pings_counted),
      cmocka_unit_test(test_restart_resets),
      cmocka_unit_test(test_never_goes_down),
      cmocka_unit_test(test_without_accepted_absent),
      cmocka_unit_test(test_scrape_served_elsewhere),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
