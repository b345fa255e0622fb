/*
 * it_proc_load.c: fpm_proc_load against the real php-fpm that
 * harness/with-fpm.sh runs. Its master is found in /proc by its title,
 * read once even when the fallback pattern names the same file (one master
 * seen twice is one master), its pools carry no container root or tag, and
 * its monitorable pools are read through fpm_discover_target. Each pool
 * carries its master's configuration and name (fpm_master.h). Other
 * masters may run meanwhile: only this one's pools are asserted on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fpm_discover.h"
#include "fpm_master.h"
#include "fpm_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || v[0] == '\0')
    fail_msg("%s is not set: run under harness/with-fpm.sh", name);
  return v;
}

static void test_master_found_once(void **state) {
  (void)state;
  char conf_path[512], glob[600];
  snprintf(conf_path, sizeof conf_path, "%s/php-fpm.conf", env("FPMT_DIR"));
  long pid = strtol(env("FPMT_PHP_FPM_PID"), NULL, 10);
  /* the fallback names the same file the master's title does */
  snprintf(glob, sizeof glob, "%s", conf_path);
  struct fpm_conf_opts o = {.default_glob = glob};
  struct fpm_conf c;
  assert_int_equal(fpm_proc_load(&o, &c), 0);

  struct fpm_master *v = NULL;
  size_t n = 0, ours = 0;
  assert_int_equal(fpm_proc_scan("/proc", &v, &n), 0);
  for (size_t i = 0; i < n; i++)
    if (v[i].pid == (pid_t)pid) {
      ours++;
      assert_string_equal(v[i].config, conf_path);
      assert_string_equal(v[i].found, "process title");
      assert_true(v[i].trusted);
      assert_false(v[i].other_mnt);
      assert_string_equal(v[i].tag, "");
    }
  free(v);
  assert_int_equal(ours, 1);

  char master[FPM_MASTER_BASE_MAX + 1];
  fpm_master_name_of(conf_path, master, sizeof master);
  /* its five pools, each once (no "<pool>@<label>" copy of its own) */
  static const char *const pools[] = {"www", "dyn", "od", "one", "nostatus"};
  for (size_t k = 0; k < 5; k++) {
    size_t seen = 0;
    for (size_t i = 0; i < c.n_pools; i++) {
      const struct fpm_conf_pool *p = &c.pools[i];
      if (strcmp(p->file, conf_path) != 0)
        continue;
      const char *at = strchr(p->name, '@');
      size_t len = at != NULL ? (size_t)(at - p->name) : strlen(p->name);
      if (strlen(pools[k]) != len || strncmp(p->name, pools[k], len) != 0)
        continue;
      seen++;
      assert_string_equal(p->root, "");
      assert_string_equal(p->netns, "");
      /* its master: the configuration its title names, and its name */
      assert_string_equal(p->master_conf, conf_path);
      assert_string_equal(p->master, master);
      assert_int_equal(p->master_pid, pid); /* the master it was read from */
      struct fpm_target t;
      if (strcmp(pools[k], "nostatus") == 0) {
        assert_int_equal(fpm_discover_target(p, &t), -1);
        continue;
      }
      assert_int_equal(fpm_discover_target(p, &t), 0);
      assert_null(t.root);
      assert_null(t.netns);
      char err[256];
      fpm_fetcher *f = fpm_fetcher_new(&t, err, sizeof err);
      assert_non_null(f);
      struct fpm_result r;
      fpm_result_init(&r);
      assert_int_equal(
          fpm_fetch(f, FPM_FETCH_STATUS, fcgi_now_ms() + 5000, NULL, &r),
          FPM_OK);
      assert_string_equal(r.status.pool, pools[k]);
      fpm_result_clear(&r);
      fpm_fetcher_free(f);
    }
    print_message("pool %s: %zu time(s)\n", pools[k], seen);
    assert_int_equal(seen, 1);
  }
  fpm_conf_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_master_found_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
