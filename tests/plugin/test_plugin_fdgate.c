/*
 * test_plugin_fdgate.c: the plugin's reads in flight bounded across read
 * threads (phpfpm_fdgate.c), with a fake fetch in place of fpm_fetch:
 * never more reads at once than the limit, a read that finds no slot by
 * its deadline fails naming the limit, and a read that fails with EMFILE
 * while others run is tried again once one ends (and the limit shrinks).
 */
#include "mock_collectd.h"
#include "phpfpm_fdgate.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int running, most, calls, emfile_above; /* fake's bookkeeping */
static int hold_ms = 30;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A fetch that takes hold_ms; with emfile_above > 0 it fails as connect
 * fails for want of descriptors when more than emfile_above run. */
static fpm_err fake_fetch(fpm_fetcher *f, enum fpm_fetch_kind kind,
                          int64_t deadline_ms, fcgi_cancel *cancel,
                          struct fpm_result *r) {
  (void)f, (void)kind, (void)deadline_ms, (void)cancel;
  pthread_mutex_lock(&mu);
  running++;
  calls++;
  int now = running;
  most = now > most ? now : most;
  pthread_mutex_unlock(&mu);
  fpm_result_clear(r);
  if (emfile_above < 0 || (emfile_above > 0 && now > emfile_above)) {
    r->err = FPM_ECONNECT;
    r->fcgi = FCGI_ENOFILES;
    snprintf(r->message, sizeof r->message,
             "unix:/run/p.sock: cannot connect (connect: %s)",
             strerror(EMFILE));
  } else {
    sleep_ms(hold_ms);
  }
  pthread_mutex_lock(&mu);
  running--;
  pthread_mutex_unlock(&mu);
  return r->err;
}

static struct phpfpm_fd_gate gate;
static fpm_fetcher *fetcher;

struct reader {
  pthread_t t;
  int64_t timeout_ms;
  fpm_err err;
  char message[768];
};

static void *read_once(void *arg) {
  struct reader *rd = arg;
  struct fpm_result r;
  fpm_result_init(&r);
  rd->err = phpfpm_fd_gate_fetch(&gate, fake_fetch, fetcher, FPM_FETCH_STATUS,
                                 fcgi_now_ms() + rd->timeout_ms, NULL, &r);
  snprintf(rd->message, sizeof rd->message, "%s", r.message);
  fpm_result_clear(&r);
  return NULL;
}

static void run_readers(struct reader *rd, int n, int64_t timeout_ms) {
  for (int i = 0; i < n; i++) {
    rd[i].timeout_ms = timeout_ms;
    assert_int_equal(pthread_create(&rd[i].t, NULL, read_once, &rd[i]), 0);
  }
  for (int i = 0; i < n; i++)
    pthread_join(rd[i].t, NULL);
}

static int setup(void **state) {
  (void)state;
  running = most = calls = emfile_above = 0;
  hold_ms = 30;
  char err[256];
  struct fpm_target t = {.endpoint = "unix:/run/p.sock"};
  fetcher = fpm_fetcher_new(&t, err, sizeof err);
  assert_non_null(fetcher);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fpm_fetcher_free(fetcher);
  phpfpm_fd_gate_destroy(&gate);
  return 0;
}

/* 12 read threads, a limit of 3: never more than 3 at once, all read. */
static void test_bounded(void **state) {
  (void)state;
  assert_int_equal(phpfpm_fd_gate_init(&gate, 3), 0);
  struct reader rd[12];
  run_readers(rd, 12, 10000);
  for (int i = 0; i < 12; i++)
    assert_int_equal(rd[i].err, FPM_OK);
  assert_int_equal(calls, 12);
  assert_true(most <= 3);
  assert_int_equal(gate.in_flight, 0);
}

/* A limit of 1 held for 400 ms; a read with 50 ms to go fails, naming
 * the limit and the fix. */
static void test_no_slot_by_deadline(void **state) {
  (void)state;
  assert_int_equal(phpfpm_fd_gate_init(&gate, 1), 0);
  hold_ms = 400;
  struct reader slow = {.timeout_ms = 10000};
  assert_int_equal(pthread_create(&slow.t, NULL, read_once, &slow), 0);
  while (__atomic_load_n(&calls, __ATOMIC_SEQ_CST) == 0)
    sleep_ms(1);
  struct reader late = {.timeout_ms = 50};
  read_once(&late);
  pthread_join(slow.t, NULL);
  assert_int_equal(slow.err, FPM_OK);
  assert_int_equal(late.err, FPM_ETIMEOUT);
  assert_non_null(strstr(late.message, "unix:/run/p.sock: timed out waiting "
                                       "for a file descriptor: 1 reads in "
                                       "flight already use the 1"));
  assert_non_null(strstr(late.message, "raise LimitNOFILE"));
  assert_int_equal(calls, 1);
}

/* The process holds only 2 descriptors (another plugin took the rest):
 * with a limit of 8, reads past the second fail with EMFILE, wait for a
 * running read to end and try again; none fails, the limit shrinks. */
static void test_emfile_retried(void **state) {
  (void)state;
  assert_int_equal(phpfpm_fd_gate_init(&gate, 8), 0);
  emfile_above = 2;
  struct reader rd[8];
  run_readers(rd, 8, 10000);
  for (int i = 0; i < 8; i++) {
    if (rd[i].err != FPM_OK)
      fail_msg("read %d: %s", i, rd[i].message);
  }
  assert_true(calls > 8); /* some were tried again */
  assert_true(gate.limit < 8);
  assert_true(gate.limit >= 1);
}

/* EMFILE with no other read running: nothing to wait for, it fails at
 * once with the transport's message. */
static void test_emfile_alone_fails(void **state) {
  (void)state;
  assert_int_equal(phpfpm_fd_gate_init(&gate, 4), 0);
  emfile_above = -1; /* every call fails */
  struct reader one = {.timeout_ms = 5000};
  read_once(&one);
  assert_int_equal(one.err, FPM_ECONNECT);
  assert_non_null(strstr(one.message, strerror(EMFILE)));
  assert_int_equal(calls, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_slot_by_deadline, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_emfile_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(test_emfile_alone_fails, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
