/*
 * test_fpm_fdlimit.c: sizing the reads in flight from the descriptor limit
 * (fpm_fdlimit.c): the window arithmetic, the open-descriptor count against
 * descriptors this test opens, the soft limit raised to the hard one, and
 * and EMFILE/ENFILE as a code of their own (FCGI_ENOFILES).
 */
#include "fcgi_net.h"
#include "fpm_fdlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

/* limit - open - reserve, at least 1, at most what is wanted. */
static void test_window(void **state) {
  (void)state;
  /* ulimit -n 256, 3 open, 16 reserved: 237 at once */
  assert_int_equal(fpm_fd_window(256, 3, 16, 1000), 237);
  /* fewer pools than descriptors: all at once */
  assert_int_equal(fpm_fd_window(256, 3, 16, 10), 10);
  /* systemd's 1,024 with 40 open (a collectd with plugins) */
  assert_int_equal(fpm_fd_window(1024, 40, 16, 5000), 968);
  /* nothing left: still one at a time, never zero */
  assert_int_equal(fpm_fd_window(20, 10, 16, 1000), 1);
  assert_int_equal(fpm_fd_window(16, 16, 16, 1000), 1);
  assert_int_equal(fpm_fd_window(0, 0, 0, 1000), 1);
  /* unlimited */
  assert_int_equal(fpm_fd_window(SIZE_MAX, 3, 16, 50000), 50000);
  /* the reserve alone exceeds the limit: still progress */
  assert_int_equal(fpm_fd_window(8, 0, 16, 3), 1);
  assert_int_equal(fpm_fd_window(256, 3, 16, 0), 1);
}

/* Opening 10 descriptors raises the count by 10; the budget follows. */
static void test_open_count(void **state) {
  (void)state;
  size_t before = fpm_fd_open_count();
  assert_true(before >= 1);
  int fds[10];
  for (int i = 0; i < 10; i++) {
    fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fds[i] >= 0);
  }
  assert_int_equal(fpm_fd_open_count(), before + 10);

  struct rlimit saved, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
  low = saved;
  low.rlim_cur = (rlim_t)(fds[9] + 1 + FPM_FD_RESERVE + 40);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  assert_int_equal(fpm_fd_soft_limit(), (size_t)low.rlim_cur);
  /* only descriptors numbered below the limit count (a shell may pass
   * high-numbered ones: they take no number a socket could get) */
  size_t below = fpm_fd_open_count();
  assert_true(below >= 10 && below <= before + 10);
  size_t budget = fpm_fd_budget(1000);
  assert_int_equal(budget, (size_t)low.rlim_cur - below - FPM_FD_RESERVE);
  assert_true(budget >= 40);
  assert_int_equal(fpm_fd_budget(7), 7);
  for (int i = 0; i < 10; i++)
    close(fds[i]);
  assert_int_equal(fpm_fd_budget(1000), budget + 10);

  /* raised back to the hard limit */
  size_t now = fpm_fd_raise_soft_limit();
  if (saved.rlim_max == RLIM_INFINITY)
    assert_true(now == SIZE_MAX || now > (size_t)low.rlim_cur);
  else
    assert_int_equal(now, (size_t)saved.rlim_max);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/* Running out of descriptors is a code of its own, which the turns and the
 * plugin's gate wait on (the same read succeeds once another has ended). */
static void test_exhausted_code(void **state) {
  (void)state;
  fcgi_endpoint *ep = NULL;
  char msg[256];
  assert_int_equal(
      fcgi_endpoint_parse("unix:/run/p.sock", &ep, msg, sizeof msg), FCGI_OK);
  assert_int_equal(fcgi_net_explain_connect(ep, 0, EMFILE, msg, sizeof msg),
                   FCGI_ENOFILES);
  assert_non_null(strstr(msg, "unix:/run/p.sock"));
  assert_int_equal(fcgi_net_explain_connect(ep, 0, ENFILE, msg, sizeof msg),
                   FCGI_ENOFILES);
  assert_int_equal(
      fcgi_net_explain_connect(ep, 0, EHOSTUNREACH, msg, sizeof msg),
      FCGI_ECONNECT);
  fcgi_endpoint_free(ep);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window),
      cmocka_unit_test(test_open_count),
      cmocka_unit_test(test_exhausted_code),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
