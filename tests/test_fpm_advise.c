/*
 * test_fpm_advise.c: the sizing arithmetic (fpm_advise.h): budget,
 * headroom, workers that fit and the verdict against pm.max_children; the
 * evidence that a pool needs more workers; the cold-sample label; and no
 * figures when there is nothing sound to base them on.
 */
#include "fpm_advise.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define MIB (UINT64_C(1) << 20)

struct fix {
  struct fpm_status st;
  struct fpm_metrics m;
  struct fpm_procmem mem;
  struct fpm_advise_in in;
};

/* A quiet pool of 5 workers, PSS p95 50 MiB, 100 MiB in all; 1000 MiB
 * available; pm.max_children 10; 20 % headroom; 100 requests each. */
static void fix_init(struct fix *f) {
  memset(f, 0, sizeof *f);
  fpm_status_init(&f->st);
  f->st.present = 1u << FPM_F_LISTEN_QUEUE | 1u << FPM_F_MAX_LISTEN_QUEUE |
                  1u << FPM_F_MAX_CHILDREN_REACHED |
                  1u << FPM_F_MAX_ACTIVE_PROCESSES;
  f->st.v[FPM_F_MAX_ACTIVE_PROCESSES] = 3;
  f->m.st = &f->st;
  f->m.have_counts = 1;
  f->m.active = 1;
  f->mem.state = FPM_PROCMEM_LOCAL;
  f->mem.listed = 5;
  f->mem.rss =
      (struct fpm_mem_summary){5, 300 * MIB, 60 * MIB, 70 * MIB, 70 * MIB};
  f->mem.pss_read = 1;
  f->mem.pss_known = 1;
  f->mem.pss =
      (struct fpm_mem_summary){5, 100 * MIB, 20 * MIB, 50 * MIB, 50 * MIB};
  f->mem.requests = 500;
  f->in = (struct fpm_advise_in){&f->m, &f->mem, 1, 1000 * MIB, 10, 20.0};
}

static void test_arithmetic(void **state) {
  (void)state;
  struct fix f;
  fix_init(&f);
  struct fpm_advice a;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_OK);
  assert_int_equal(a.workers, 5);
  assert_int_equal(a.pss_p95, 50 * MIB);
  assert_int_equal(a.pool_pss, 100 * MIB);
  assert_int_equal(a.budget, 1100 * MIB);
  assert_int_equal(a.usable, 880 * MIB);
  assert_int_equal(a.fits, 17); /* 880 / 50 = 17.6, rounded down */
  assert_int_equal(a.fit, FPM_FIT_FITS);
  assert_false(a.needs_more);
  assert_false(a.cold);
  assert_true(a.requests_per_worker == 100.0);

  f.in.max_children = 17; /* exactly what fits */
  fpm_advise(&f.in, &a);
  assert_int_equal(a.fit, FPM_FIT_FITS);
  f.in.max_children = 18;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.fit, FPM_FIT_OVER);
  f.in.max_children = 0;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.fit, FPM_FIT_UNKNOWN);
  assert_int_equal(a.fits, 17);

  f.in.headroom_pct = 0; /* 1100 / 50 = 22 */
  fpm_advise(&f.in, &a);
  assert_int_equal(a.fits, 22);
  f.in.headroom_pct = 150; /* out of range: the default */
  fpm_advise(&f.in, &a);
  assert_true(a.headroom_pct == FPM_ADVISE_DEFAULT_HEADROOM);
  assert_int_equal(a.fits, 17);
}

static void test_evidence(void **state) {
  (void)state;
  struct fix f;
  fix_init(&f);
  struct fpm_advice a;
  f.st.v[FPM_F_LISTEN_QUEUE] = 2;
  fpm_advise(&f.in, &a);
  assert_true(a.needs_more && a.listen_queue == 2);
  fix_init(&f);
  f.st.v[FPM_F_MAX_LISTEN_QUEUE] = 7;
  fpm_advise(&f.in, &a);
  assert_true(a.needs_more);
  fix_init(&f);
  f.st.v[FPM_F_MAX_CHILDREN_REACHED] = 1;
  fpm_advise(&f.in, &a);
  assert_true(a.needs_more);
  fix_init(&f);
  f.m.active = 10; /* all of pm.max_children busy now */
  fpm_advise(&f.in, &a);
  assert_true(a.needs_more && a.active_at_max && !a.max_active_at_max);
  fix_init(&f);
  f.st.v[FPM_F_MAX_ACTIVE_PROCESSES] = 10;
  fpm_advise(&f.in, &a);
  assert_true(a.needs_more && a.max_active_at_max && !a.active_at_max);
  /* pm.max_children unknown: "at max" cannot be said */
  f.in.max_children = 0;
  fpm_advise(&f.in, &a);
  assert_false(a.needs_more || a.max_active_at_max);
  /* absent fields are no evidence */
  fix_init(&f);
  f.st.present = 0;
  f.st.v[FPM_F_LISTEN_QUEUE] = 9;
  fpm_advise(&f.in, &a);
  assert_false(a.needs_more || a.have_listen_queue);
}

static void test_cold(void **state) {
  (void)state;
  struct fix f;
  fix_init(&f);
  struct fpm_advice a;
  f.mem.requests = 5 * FPM_ADVISE_COLD_REQUESTS - 1; /* just below */
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_OK);
  assert_true(a.cold);
  fix_init(&f);
  f.mem.rss.n = f.mem.pss.n = FPM_ADVISE_COLD_WORKERS - 1;
  fpm_advise(&f.in, &a);
  assert_true(a.cold);
  fix_init(&f);
  f.mem.requests = 5 * FPM_ADVISE_COLD_REQUESTS;
  fpm_advise(&f.in, &a);
  assert_false(a.cold);
}

static void test_no_advice(void **state) {
  (void)state;
  struct fix f;
  struct fpm_advice a;
  fix_init(&f);
  f.mem.pss_known = 0;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_NO_PSS);
  assert_non_null(strstr(a.why, "PSS unreadable"));
  assert_int_equal(a.fits, 0);
  f.mem.pss_read = 0;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_NO_PSS);
  assert_string_equal(a.why, "PSS was not read");
  fix_init(&f);
  f.mem.state = FPM_PROCMEM_NOT_LOCAL;
  snprintf(f.mem.reason, sizeof f.mem.reason, "pid 7's parent 1 is init");
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_NO_MEMORY);
  assert_string_equal(a.why, "memory: not local: pid 7's parent 1 is init");
  fix_init(&f);
  f.mem.state = FPM_PROCMEM_UNAVAILABLE;
  f.mem.listed = 0;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_NO_WORKERS);
  fix_init(&f);
  f.in.mem = NULL;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_NO_MEMORY);
  fix_init(&f);
  f.in.have_mem_available = 0;
  fpm_advise(&f.in, &a);
  assert_int_equal(a.status, FPM_ADVICE_NO_MEMAVAILABLE);
  /* the evidence is there even without figures */
  fix_init(&f);
  f.mem.pss_known = 0;
  f.st.v[FPM_F_LISTEN_QUEUE] = 3;
  fpm_advise(&f.in, &a);
  assert_true(a.needs_more);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_arithmetic),
      cmocka_unit_test(test_evidence),
      cmocka_unit_test(test_cold),
      cmocka_unit_test(test_no_advice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
