/*
 * test_fpm_model.c: fpm_model_compute on hand-built snapshots: worker counts
 * and self exclusion, utilisation, worker statistics, and the history
 * (restart and respawn detection, deltas).
 */
#include "fpm_model.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MARKER "fpmstat=5e1f00aa"
#define SELF_URI "/status?json&full&" MARKER
#define WALL                                                                   \
  (1u << FPM_W_PID | 1u << FPM_W_STATE | 1u << FPM_W_START_TIME |              \
   1u << FPM_W_REQUESTS | 1u << FPM_W_REQUEST_DURATION |                       \
   1u << FPM_W_REQUEST_URI | 1u << FPM_W_LAST_REQUEST_CPU |                    \
   1u << FPM_W_LAST_REQUEST_MEMORY)

static void set_field(struct fpm_status *st, enum fpm_pool_field f,
                      uint64_t v) {
  st->present |= 1u << f;
  st->v[f] = v;
}

/* A JSON snapshot with the given workers and FPM's figures as printed. */
static void make_status(struct fpm_status *st, struct fpm_worker *w, size_t n,
                        uint64_t active, uint64_t idle) {
  memset(st, 0, sizeof *st);
  snprintf(st->pool, sizeof st->pool, "www");
  set_field(st, FPM_F_POOL, 0);
  set_field(st, FPM_F_START_TIME, 1700000000);
  set_field(st, FPM_F_START_SINCE, 100);
  set_field(st, FPM_F_ACCEPTED_CONN, 1000);
  set_field(st, FPM_F_SLOW_REQUESTS, 2);
  set_field(st, FPM_F_MAX_CHILDREN_REACHED, 1);
  set_field(st, FPM_F_ACTIVE_PROCESSES, active);
  set_field(st, FPM_F_IDLE_PROCESSES, idle);
  set_field(st, FPM_F_TOTAL_PROCESSES, active + idle);
  st->workers = w;
  st->n_workers = n;
  st->has_workers = w != NULL;
  st->format = FPM_FORMAT_JSON;
}

static struct fpm_worker worker(int64_t pid, enum fpm_state s, uint64_t dur_us,
                                const char *uri) {
  struct fpm_worker w;
  memset(&w, 0, sizeof w);
  w.present = WALL;
  w.pid = pid;
  w.state = s;
  w.start_time = 1700000000;
  w.requests = 5;
  w.request_duration_us = dur_us;
  w.uri = uri;
  w.method = w.user = w.script = "-";
  return w;
}

static const struct fpm_model_opts self_opts = {.self_marker = MARKER};

/* ----------------------------------------------------------- counts */

static void test_self_excluded_idle_pool(void **state) {
  (void)state;
  struct fpm_worker w[4] = {
      worker(10, FPM_STATE_IDLE, 900, "/index.php"),
      worker(11, FPM_STATE_IDLE, 800, "/index.php"),
      worker(12, FPM_STATE_RUNNING, 120, SELF_URI),
      worker(13, FPM_STATE_IDLE, 700, "/index.php"),
  };
  struct fpm_status st;
  make_status(&st, w, 4, 1, 3); /* FPM counts the scrape as active */
  struct fpm_metrics m;
  fpm_model_compute(&st, &self_opts, NULL, &m);
  assert_true(m.from_list);
  assert_true(m.self_found);
  assert_int_equal(m.self_index, 2);
  assert_true(m.have_counts);
  assert_int_equal(m.active, 0);
  assert_int_equal(m.idle, 4);
  assert_int_equal(m.total, 4);
  assert_int_equal(m.by_state[FPM_STATE_RUNNING], 0);
  assert_int_equal(m.by_state[FPM_STATE_IDLE], 4);
  assert_true(m.utilisation == 0.0);
}

static void test_busy_workers_plus_self(void **state) {
  (void)state;
  struct fpm_worker w[6] = {
      worker(10, FPM_STATE_RUNNING, 5000, "/a.php"),
      worker(11, FPM_STATE_IDLE, 800, "/a.php"),
      worker(12, FPM_STATE_RUNNING, 120, SELF_URI),
      worker(13, FPM_STATE_RUNNING, 7000, "/b.php?x=1"),
      worker(14, FPM_STATE_IDLE, 700, "/a.php"),
      worker(15, FPM_STATE_RUNNING, 9000, "/c.php"),
  };
  struct fpm_status st;
  make_status(&st, w, 6, 4, 2);
  struct fpm_metrics m;
  fpm_model_compute(&st, &self_opts, NULL, &m);
  assert_int_equal(m.active, 3);
  assert_int_equal(m.by_state[FPM_STATE_RUNNING], 3);
  assert_int_equal(m.idle, 3);
  assert_int_equal(m.total, 6);
  assert_true(fabs(m.utilisation - 50.0) < 1e-9);
}

static void test_no_marker_no_exclusion(void **state) {
  (void)state;
  struct fpm_worker w[2] = {
      worker(10, FPM_STATE_IDLE, 900, "/index.php"),
      worker(12, FPM_STATE_RUNNING, 120, SELF_URI),
  };
  struct fpm_status st;
  make_status(&st, w, 2, 1, 1);
  struct fpm_metrics m;
  fpm_model_compute(&st, NULL, NULL, &m);
  assert_false(m.self_found);
  assert_int_equal(m.self_index, -1);
  assert_int_equal(m.active, 1);
  assert_int_equal(m.by_state[FPM_STATE_RUNNING], 1);
  /* An empty marker would match every uri: it must mean "none". */
  struct fpm_model_opts empty = {.self_marker = ""};
  fpm_model_compute(&st, &empty, NULL, &m);
  assert_false(m.self_found);
  assert_int_equal(m.active, 1);
}

static void test_marker_not_found(void **state) {
  (void)state;
  /* Scraped through pm.status_listen: our request is not in this pool. An
   * Idle worker holding the marker (a reused marker) is not "self". */
  struct fpm_worker w[3] = {
      worker(10, FPM_STATE_RUNNING, 900, "/slow.php"),
      worker(11, FPM_STATE_IDLE, 300, SELF_URI),
      worker(12, FPM_STATE_IDLE, 800, "/index.php"),
  };
  struct fpm_status st;
  make_status(&st, w, 3, 1, 2);
  struct fpm_metrics m;
  fpm_model_compute(&st, &self_opts, NULL, &m);
  assert_false(m.self_found);
  assert_int_equal(m.active, 1);
  assert_int_equal(m.idle, 2);
  assert_int_equal(m.by_state[FPM_STATE_RUNNING], 1);
  /* but the Idle scrape row is not an application request */
  assert_int_equal(m.duration_s.n, 1);
  assert_true(fabs(m.duration_s.max - 0.0008) < 1e-12);
}

static void test_recount_all_states(void **state) {
  (void)state;
  struct fpm_worker w[8] = {
      worker(1, FPM_STATE_IDLE, 1, "/"),
      worker(2, FPM_STATE_READING_HEADERS, 1, "-"),
      worker(3, FPM_STATE_GETTING_INFO, 1, "/"),
      worker(4, FPM_STATE_RUNNING, 1, "/"),
      worker(5, FPM_STATE_ENDING, 1, "/"),
      worker(6, FPM_STATE_FINISHING, 1, "/"),
      worker(7, FPM_STATE_UNKNOWN, 1, "/"),
      worker(8, (enum fpm_state)42, 1, "/"), /* out of range */
  };
  struct fpm_status st;
  make_status(&st, w, 8, 1, 9); /* FPM's figures disagree with the list */
  struct fpm_metrics m;
  fpm_model_compute(&st, NULL, NULL, &m);
  for (int s = 0; s < FPM_STATE_UNKNOWN; s++)
    assert_int_equal(m.by_state[s], 1);
  assert_int_equal(m.by_state[FPM_STATE_UNKNOWN], 2);
  assert_int_equal(m.idle, 1);
  assert_int_equal(m.active, 7);
  assert_int_equal(m.total, 8);
  /* a worker without a state field counts as unknown */
  w[0].present &= ~(1u << FPM_W_STATE);
  fpm_model_compute(&st, NULL, NULL, &m);
  assert_int_equal(m.by_state[FPM_STATE_IDLE], 0);
  assert_int_equal(m.by_state[FPM_STATE_UNKNOWN], 3);
}

static void test_counts_without_list(void **state) {
  (void)state;
  struct fpm_status st;
  make_status(&st, NULL, 0, 3, 5);
  struct fpm_metrics m;
  fpm_model_compute(&st, &self_opts, NULL, &m);
  assert_false(m.from_list);
  assert_false(m.self_found);
  assert_true(m.have_counts);
  assert_int_equal(m.active, 3); /* as FPM prints it, scrape included */
  assert_int_equal(m.idle, 5);
  assert_int_equal(m.total, 8);
  assert_true(fabs(m.utilisation - 37.5) < 1e-9);
  assert_int_equal(m.duration_s.n, 0);
  /* total absent: derived from active + idle */
  st.present &= ~(1u << FPM_F_TOTAL_PROCESSES);
  fpm_model_compute(&st, NULL, NULL, &m);
  assert_int_equal(m.total, 8);
  /* active absent: no counts, no utilisation */
  st.present &= ~(1u << FPM_F_ACTIVE_PROCESSES);
  fpm_model_compute(&st, NULL, NULL, &m);
  assert_false(m.have_counts);
  assert_true(m.utilisation < 0);
  assert_true(m.utilisation_max_children < 0);
}

static void test_utilisation_and_max_children(void **state) {
  (void)state;
  struct fpm_status st;
  make_status(&st, NULL, 0, 3, 1);
  struct fpm_model_opts o = {.max_children = 12};
  struct fpm_metrics m;
  fpm_model_compute(&st, &o, NULL, &m);
  assert_int_equal(m.max_children, 12);
  assert_true(fabs(m.utilisation - 75.0) < 1e-9);
  assert_true(fabs(m.utilisation_max_children - 25.0) < 1e-9);
  /* FPM's racy counters can exceed max_children: kept as measured */
  o.max_children = 2;
  fpm_model_compute(&st, &o, NULL, &m);
  assert_true(fabs(m.utilisation_max_children - 150.0) < 1e-9);
  /* unknown max_children; empty pool */
  make_status(&st, NULL, 0, 0, 0);
  fpm_model_compute(&st, NULL, NULL, &m);
  assert_int_equal(m.max_children, 0);
  assert_true(m.utilisation < 0);
  assert_true(m.utilisation_max_children < 0);
}

static void test_dropped_entries_counted(void **state) {
  (void)state;
  struct fpm_worker w[3] = {
      worker(1, FPM_STATE_IDLE, 1, "/"),
      worker(2, FPM_STATE_IDLE, 1, "/"),
      worker(3, FPM_STATE_RUNNING, 1, SELF_URI),
  };
  struct fpm_status st;
  make_status(&st, w, 3, 2, 4); /* 6 workers; 3 entries dropped */
  st.dropped = 3;
  struct fpm_metrics m;
  fpm_model_compute(&st, &self_opts, NULL, &m);
  assert_int_equal(m.total, 6);
  /* FPM saw 4 Idle, 2 listed: 2 of the dropped are Idle, 1 unknown */
  assert_int_equal(m.by_state[FPM_STATE_UNKNOWN], 1);
  assert_int_equal(m.idle, 5); /* 2 listed + 2 dropped + self */
  assert_int_equal(m.active, 1);
  uint64_t sum = 0;
  for (int s = 0; s < FPM_STATE__COUNT; s++)
    sum += m.by_state[s];
  assert_int_equal(sum, m.total);
}

/* ------------------------------------------------------- statistics */

static void test_stats_known_data(void **state) {
  (void)state;
  /* 20 Idle workers with durations 1..20 ms (shuffled), cpu i*1.25 %,
   * memory i MiB; plus workers that must not count. */
  struct fpm_worker w[25];
  for (int i = 0; i < 20; i++) {
    int v = (i * 7) % 20 + 1; /* a permutation of 1..20 */
    w[i] = worker(100 + i, FPM_STATE_IDLE, (uint64_t)v * 1000, "/app.php");
    w[i].last_request_cpu = v * 1.25;
    w[i].last_request_memory = (uint64_t)v << 20;
  }
  w[20] = worker(200, FPM_STATE_RUNNING, 9000000, "/slow.php");
  w[21] = worker(201, FPM_STATE_RUNNING, 50, SELF_URI);
  w[22] = worker(202, FPM_STATE_IDLE, 99000000, "/never"); /* requests 0 */
  w[22].requests = 0;
  w[23] = worker(203, FPM_STATE_IDLE, 77, "/status?json&full&fpmstat=00ff");
  w[24] = worker(204, FPM_STATE_IDLE, 66000000, "/x"); /* no duration */
  w[24].present &= ~(1u << FPM_W_REQUEST_DURATION);
  w[24].present &= ~(1u << FPM_W_LAST_REQUEST_CPU);
  w[24].present &= ~(1u << FPM_W_LAST_REQUEST_MEMORY);
  struct fpm_status st;
  make_status(&st, w, 25, 2, 23);
  struct fpm_model_opts o = {.self_marker = MARKER, .scrape_tag = "fpmstat="};
  struct fpm_metrics m;
  fpm_model_compute(&st, &o, NULL, &m);

  /* nearest rank: p50 = 10th, p95 = 19th, p99 = 20th of 20 */
  assert_int_equal(m.duration_s.n, 20);
  assert_true(fabs(m.duration_s.min - 0.001) < 1e-12);
  assert_true(fabs(m.duration_s.max - 0.020) < 1e-12);
  assert_true(fabs(m.duration_s.avg - 0.0105) < 1e-12);
  assert_true(fabs(m.duration_s.p50 - 0.010) < 1e-12);
  assert_true(fabs(m.duration_s.p95 - 0.019) < 1e-12);
  assert_true(fabs(m.duration_s.p99 - 0.020) < 1e-12);

  assert_int_equal(m.cpu_pct.n, 20);
  assert_true(fabs(m.cpu_pct.min - 1.25) < 1e-9);
  assert_true(fabs(m.cpu_pct.avg - 13.125) < 1e-9);
  assert_true(fabs(m.cpu_pct.p50 - 12.5) < 1e-9);
  assert_true(fabs(m.cpu_pct.p95 - 23.75) < 1e-9);
  assert_true(fabs(m.cpu_pct.max - 25.0) < 1e-9);

  assert_int_equal(m.memory_bytes.n, 20);
  assert_true(m.memory_bytes.min == 1048576.0);
  assert_true(m.memory_bytes.p50 == 10485760.0);
  assert_true(m.memory_bytes.p99 == 20971520.0);
  assert_true(m.memory_bytes.avg == 10.5 * 1048576.0);

  /* without scrape_tag the old scrape row (77 us) is a sample */
  o.scrape_tag = NULL;
  fpm_model_compute(&st, &o, NULL, &m);
  assert_int_equal(m.duration_s.n, 21);
  assert_true(fabs(m.duration_s.min - 0.000077) < 1e-12);
}

static void test_stats_single_value(void **state) {
  (void)state;
  struct fpm_worker w[1] = {worker(1, FPM_STATE_IDLE, 4200, "/")};
  struct fpm_status st;
  make_status(&st, w, 1, 0, 1);
  struct fpm_metrics m;
  fpm_model_compute(&st, NULL, NULL, &m);
  assert_int_equal(m.duration_s.n, 1);
  assert_true(m.duration_s.min == m.duration_s.p99);
  assert_true(fabs(m.duration_s.p50 - 0.0042) < 1e-12);
}

/* The same statistics whether the values are sorted on the stack (up to
 * 256), in a heap scratch array, or found by bisection (over the sort
 * cap): checked against an independent nearest-rank computation on a
 * sorted copy. */
static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void check_percentiles(size_t n, size_t sort_cap) {
  struct fpm_worker *w = calloc(n, sizeof *w);
  uint64_t *sorted = calloc(n, sizeof *sorted);
  assert_non_null(w);
  assert_non_null(sorted);
  uint64_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t d = (x >> 33) % 5000000; /* with repeats */
    w[i] = worker((int64_t)i + 1, FPM_STATE_IDLE, d, "/");
    sorted[i] = d;
  }
  qsort(sorted, n, sizeof *sorted, cmp_u64);
  struct fpm_status st;
  make_status(&st, w, n, 0, n);
  struct fpm_metrics m;
  struct fpm_model_opts o = {.stats_sort_cap = sort_cap};
  fpm_model_compute(&st, &o, NULL, &m);
  assert_int_equal(m.duration_s.n, n);
  const unsigned pct[3] = {50, 95, 99};
  const double got[3] = {m.duration_s.p50, m.duration_s.p95, m.duration_s.p99};
  for (int j = 0; j < 3; j++) {
    size_t rank = (size_t)ceil(pct[j] / 100.0 * (double)n);
    assert_true(got[j] == (double)sorted[rank - 1] * 1e-6);
  }
  assert_true(m.duration_s.min == (double)sorted[0] * 1e-6);
  assert_true(m.duration_s.max == (double)sorted[n - 1] * 1e-6);
  free(w);
  free(sorted);
}

static void test_percentiles_small_and_large(void **state) {
  (void)state;
  check_percentiles(7, 0);      /* stack */
  check_percentiles(256, 0);    /* stack */
  check_percentiles(257, 0);    /* heap scratch */
  check_percentiles(3001, 0);   /* heap scratch */
  check_percentiles(257, 256);  /* bisection */
  check_percentiles(3001, 300); /* bisection */
}

static void test_no_idle_workers_stats_absent(void **state) {
  (void)state;
  struct fpm_worker w[4] = {
      worker(1, FPM_STATE_RUNNING, 500000, "/a"),
      worker(2, FPM_STATE_RUNNING, 2000000, "/b"),
      worker(3, FPM_STATE_FINISHING, 3000000, "/c"),
      worker(4, FPM_STATE_RUNNING, 5000000, SELF_URI), /* ours: ignored */
  };
  struct fpm_status st;
  make_status(&st, w, 4, 4, 0);
  struct fpm_metrics m;
  fpm_model_compute(&st, &self_opts, NULL, &m);
  assert_int_equal(m.duration_s.n, 0);
  assert_int_equal(m.cpu_pct.n, 0);
  assert_int_equal(m.memory_bytes.n, 0);
  assert_true(fabs(m.oldest_running_s - 3.0) < 1e-12);
  assert_int_equal(m.running_over_threshold, 2); /* default 1 s */
  struct fpm_model_opts o = {.self_marker = MARKER, .slow_threshold_s = 2.5};
  fpm_model_compute(&st, &o, NULL, &m);
  assert_int_equal(m.running_over_threshold, 1);
}

static void test_wrapped_durations_ignored(void **state) {
  (void)state;
  struct fpm_worker w[3] = {
      worker(1, FPM_STATE_IDLE, UINT64_MAX, "/a"),
      worker(2, FPM_STATE_IDLE, 3000, "/b"),
      worker(3, FPM_STATE_RUNNING, UINT64_MAX - 5, "/c"),
  };
  struct fpm_status st;
  make_status(&st, w, 3, 1, 2);
  struct fpm_metrics m;
  fpm_model_compute(&st, NULL, NULL, &m);
  assert_int_equal(m.duration_s.n, 1);
  assert_true(fabs(m.duration_s.max - 0.003) < 1e-12);
  assert_true(m.oldest_running_s == 0.0);
  assert_int_equal(m.running_over_threshold, 0);
}

/* ---------------------------------------------------------- history */

static void test_restart_on_start_time_change(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  make_status(&st, NULL, 0, 1, 1);
  set_field(&st, FPM_F_ACCEPTED_CONN, 500);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.have_history);
  assert_false(m.have_prev);
  assert_int_equal(m.restarts_total, 0);

  set_field(&st, FPM_F_ACCEPTED_CONN, 540);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.have_prev);
  assert_false(m.restarted);
  assert_int_equal(m.d_accepted, 40);

  /* reload: new start time; accepted went to 1000 (> 540!) */
  set_field(&st, FPM_F_START_TIME, 1700000500);
  set_field(&st, FPM_F_ACCEPTED_CONN, 1000);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.restarted);
  assert_int_equal(m.d_accepted, 1000); /* counted from 0 again */
  assert_int_equal(m.restarts_total, 1);

  set_field(&st, FPM_F_ACCEPTED_CONN, 1007);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_false(m.restarted);
  assert_int_equal(m.d_accepted, 7);
  assert_int_equal(m.restarts_total, 1);
  fpm_history_free(&h);
  assert_null(h.prev_pids);
}

static void test_restart_on_counter_down(void **state) {
  (void)state;
  static const enum fpm_pool_field counters[3] = {
      FPM_F_ACCEPTED_CONN, FPM_F_SLOW_REQUESTS, FPM_F_MAX_CHILDREN_REACHED};
  for (int c = 0; c < 3; c++) {
    struct fpm_history h = {0};
    struct fpm_status st;
    struct fpm_metrics m;
    make_status(&st, NULL, 0, 1, 1);
    set_field(&st, counters[c], 50);
    fpm_model_compute(&st, NULL, &h, &m);
    set_field(&st, counters[c], 3); /* same start time */
    fpm_model_compute(&st, NULL, &h, &m);
    assert_true(m.restarted);
    uint64_t d = counters[c] == FPM_F_ACCEPTED_CONN ? m.d_accepted
                 : counters[c] == FPM_F_SLOW_REQUESTS
                     ? m.d_slow
                     : m.d_max_children_reached;
    assert_int_equal(d, 3);
    assert_int_equal(m.restarts_total, 1);
    fpm_history_free(&h);
  }
}

static void test_restart_on_start_since(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  /* no start time (e.g. an OpenMetrics-like source): start since fell */
  make_status(&st, NULL, 0, 1, 1);
  st.present &= ~(1u << FPM_F_START_TIME);
  set_field(&st, FPM_F_START_SINCE, 100);
  fpm_model_compute(&st, NULL, &h, &m);
  set_field(&st, FPM_F_START_SINCE, 5);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.restarted);
  fpm_history_free(&h);

  /* start time known and unchanged: the wall clock stepped back and
   * forth (start since wrapped, A.7), not a restart */
  make_status(&st, NULL, 0, 1, 1);
  set_field(&st, FPM_F_START_SINCE, UINT64_MAX - 30);
  fpm_model_compute(&st, NULL, &h, &m);
  set_field(&st, FPM_F_START_SINCE, 50);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_false(m.restarted);
  assert_int_equal(m.restarts_total, 0);
  fpm_history_free(&h);
}

static void test_deltas_giant_values(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  make_status(&st, NULL, 0, 1, 1);
  set_field(&st, FPM_F_ACCEPTED_CONN, UINT64_MAX - 10);
  set_field(&st, FPM_F_SLOW_REQUESTS, UINT64_MAX);
  fpm_model_compute(&st, NULL, &h, &m);
  set_field(&st, FPM_F_ACCEPTED_CONN, UINT64_MAX - 1);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_false(m.restarted);
  assert_int_equal(m.d_accepted, 9);
  assert_int_equal(m.d_slow, 0);
  set_field(&st, FPM_F_ACCEPTED_CONN, 5);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.restarted);
  assert_int_equal(m.d_accepted, 5);
  assert_true(m.d_slow == UINT64_MAX); /* restarted: the new value */
  /* a counter absent in one snapshot gives no delta */
  st.present &= ~(1u << FPM_F_ACCEPTED_CONN);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_int_equal(m.d_accepted, 0);
  fpm_history_free(&h);
}

static void test_respawns(void **state) {
  (void)state;
  struct fpm_history h = {0};
  struct fpm_worker w[4] = {
      worker(40, FPM_STATE_IDLE, 1, "/"), worker(11, FPM_STATE_IDLE, 1, "/"),
      worker(30, FPM_STATE_IDLE, 1, "/"), worker(12, FPM_STATE_IDLE, 1, "/")};
  struct fpm_status st;
  struct fpm_metrics m;
  make_status(&st, w, 4, 0, 4);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_false(m.have_respawned);
  assert_int_equal(h.n_prev_pids, 4);

  w[2].pid = 99; /* one worker replaced (pm.max_requests) */
  w[2].start_time += 60;
  set_field(&st, FPM_F_ACCEPTED_CONN, 1100);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.have_respawned);
  assert_false(m.restarted);
  assert_int_equal(m.respawned, 1);
  assert_int_equal(m.respawns_total, 1);

  fpm_model_compute(&st, NULL, &h, &m); /* nothing changed */
  assert_int_equal(m.respawned, 0);

  w[0].start_time += 5; /* pid reused by a new worker */
  fpm_model_compute(&st, NULL, &h, &m);
  assert_int_equal(m.respawned, 1);
  assert_int_equal(m.respawns_total, 2);

  st.n_workers = 2; /* two workers gone (ondemand idle kill) */
  fpm_model_compute(&st, NULL, &h, &m);
  assert_int_equal(m.respawned, 2);
  assert_int_equal(m.respawns_total, 4);

  /* reload: new start time, every pid new: a restart, not respawns */
  st.n_workers = 4;
  for (int i = 0; i < 4; i++)
    w[i].pid += 1000;
  set_field(&st, FPM_F_START_TIME, 1700009999);
  set_field(&st, FPM_F_ACCEPTED_CONN, 1);
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.restarted);
  assert_int_equal(m.respawned, 0);
  assert_int_equal(m.respawns_total, 4);
  assert_int_equal(m.restarts_total, 1);

  /* a snapshot without a list: respawns unknown */
  st.has_workers = 0;
  st.n_workers = 0;
  fpm_model_compute(&st, NULL, &h, &m);
  assert_false(m.have_respawned);
  st.has_workers = 1;
  st.n_workers = 4;
  fpm_model_compute(&st, NULL, &h, &m);
  assert_false(m.have_respawned); /* previous had no list */
  fpm_model_compute(&st, NULL, &h, &m);
  assert_true(m.have_respawned);
  assert_int_equal(m.respawned, 0);
  fpm_history_free(&h);
  assert_int_equal(h.n_prev_pids, 0);
  assert_false(h.have_prev);
  fpm_history_free(NULL);
}

static void test_respawns_many_workers(void **state) {
  (void)state;
  enum { N = 2000 };
  struct fpm_worker *w = calloc(N, sizeof *w);
  assert_non_null(w);
  for (int i = 0; i < N; i++) /* unsorted pids */
    w[i] = worker((int64_t)((i * 7919) % 100003), FPM_STATE_IDLE, 1, "/");
  struct fpm_history h = {0};
  struct fpm_status st;
  struct fpm_metrics m;
  make_status(&st, w, N, 0, N);
  fpm_model_compute(&st, NULL, &h, &m);
  for (int i = 0; i < N; i += 100)
    w[i].pid = 200000 + i;
  fpm_model_compute(&st, NULL, &h, &m);
  assert_int_equal(m.respawned, N / 100);
  fpm_history_free(&h);
  free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_self_excluded_idle_pool),
      cmocka_unit_test(test_busy_workers_plus_self),
      cmocka_unit_test(test_no_marker_no_exclusion),
      cmocka_unit_test(test_marker_not_found),
      cmocka_unit_test(test_recount_all_states),
      cmocka_unit_test(test_counts_without_list),
      cmocka_unit_test(test_utilisation_and_max_children),
      cmocka_unit_test(test_dropped_entries_counted),
      cmocka_unit_test(test_stats_known_data),
      cmocka_unit_test(test_stats_single_value),
      cmocka_unit_test(test_percentiles_small_and_large),
      cmocka_unit_test(test_no_idle_workers_stats_absent),
      cmocka_unit_test(test_wrapped_durations_ignored),
      cmocka_unit_test(test_restart_on_start_time_change),
      cmocka_unit_test(test_restart_on_counter_down),
      cmocka_unit_test(test_restart_on_start_since),
      cmocka_unit_test(test_deltas_giant_values),
      cmocka_unit_test(test_respawns),
      cmocka_unit_test(test_respawns_many_workers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
