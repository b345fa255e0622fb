/*
 * test_plugin_discover.c: <Plugin phpfpm> Discover against the daemon mock:
 * the scan callback registers one read per monitorable pool with its
 * pm.max_children and status path, logs a pool without a status page once
 * with the line to add, leaves a name configured by <Pool> to that block,
 * and on a re-scan stops removed pools and restarts changed ones (and
 * nothing else). Bad Discover options are rejected like bad pool keys.
 * DiscoverIgnore: an ignored pool is neither read nor warned about, each
 * pattern's set is logged once per change. <DiscoverDefaults>: its settings
 * reach the discovered pools (read path included), the keys discovery
 * derives are refused by name.
 */
#include "fpm_master.h"
#include "mock_collectd.h"
#include "phpfpm.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[256];

static void write_file(const char *rel, const char *text) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/phpfpm-disc.XXXXXX");
  assert_non_null(mkdtemp(dir));
  char sub[300];
  snprintf(sub, sizeof sub, "%s/pool.d", dir);
  assert_int_equal(mkdir(sub, 0755), 0);
  mock_reset();
  module_register();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  mock_reset();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int run_config(oconfig_item_t *root) {
  int (*cb)(oconfig_item_t *) = mock_config_cb();
  assert_non_null(cb);
  int rc = cb(root);
  mock_ci_free(root);
  return rc;
}

static const struct phpfpm_pool *pool_of(const char *cb_name) {
  const struct mock_read *r = mock_read_find(cb_name);
  if (r == NULL)
    fail_msg("no read callback %s", cb_name);
  assert_ptr_equal(r->cb, phpfpm_read);
  return r->ud.data;
}

static void write_main(void) {
  char text[600];
  snprintf(text, sizeof text,
           "[global]\npid = %s/fpm.pid\ninclude = %s/pool.d/*.conf\n", dir,
           dir);
  write_file("php-fpm.conf", text);
}

static void configure(double interval) {
  char path[300];
  snprintf(path, sizeof path, "%s/php-fpm.conf", dir);
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "manual"), "Socket",
              "/tmp/manual.sock");
  mock_ci_str(root, "Discover", path);
  mock_ci_num(root, "DiscoverInterval", interval);
  assert_int_equal(run_config(root), 0);
}

static void test_scan_registers_pools(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/$pool.sock\n"
                              "pm = static\npm.max_children = 5\n"
                              "pm.status_path = /st\nping.path = /pi\n");
  write_file("pool.d/b.conf", "[b]\nlisten = 127.0.0.1:9001\n"
                              "pm = dynamic\npm.max_children = 7\n"
                              "pm.status_path = /status\n"
                              "pm.status_listen = 127.0.0.1:9002\n");
  write_file("pool.d/c.conf", "[nost]\nlisten = /run/nost.sock\n"
                              "pm.max_children = 2\n");
  write_file("pool.d/m.conf", "[manual]\nlisten = /run/other.sock\n"
                              "pm.status_path = /status\n");
  mock_set_interval(3); /* the plugin's interval at config time */
  configure(7);
  mock_set_interval(7); /* collectd: the scan callback's own, inside it */
  const struct mock_read *scan = mock_read_find(PHPFPM_DISCOVER_CB);
  assert_non_null(scan);
  assert_true(scan->interval == DOUBLE_TO_CDTIME_T(7.0));
  /* the first scan ran in the config callback (not from a read: see
   * phpfpm_discover.c): manual + the scan + a + b */
  assert_int_equal(mock_n_reads(), 4);
  const struct phpfpm_pool *a = pool_of("phpfpm/a");
  assert_string_equal(a->conf.endpoint, "unix:/run/a.sock");
  assert_string_equal(a->conf.status_path, "/st");
  assert_string_equal(a->conf.ping_path, "/pi");
  assert_int_equal(a->conf.max_children, 5);
  assert_true(a->conf.timeout_s < a->conf.interval_s);
  /* read at the plugin's interval, not at DiscoverInterval */
  assert_true(a->conf.interval_s == 3.0);
  assert_true(mock_read_find("phpfpm/a")->interval == DOUBLE_TO_CDTIME_T(3.0));
  const struct phpfpm_pool *b = pool_of("phpfpm/b");
  assert_string_equal(b->conf.endpoint, "127.0.0.1:9002");
  assert_int_equal(b->conf.max_children, 7);
  assert_null(mock_read_find("phpfpm/nost"));
  /* the <Pool "manual"> block keeps its own settings */
  assert_string_equal(pool_of("phpfpm/manual")->conf.endpoint,
                      "unix:/tmp/manual.sock");
  assert_int_equal(mock_count_logs(LOG_WARNING,
                                   "pool \"nost\" (discovered) is not read: "
                                   "pool [nost] has no status page: add the "
                                   "line \"pm.status_path = /status\""),
                   1);
  assert_int_equal(mock_count_logs(LOG_INFO, "configured by a <Pool "
                                             "\"manual\"> block"),
                   1);

  /* an unchanged re-scan changes nothing and repeats no message */
  size_t n_reads = mock_n_reads(), n_logs = mock_n_logs();
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_n_reads(), n_reads);
  assert_int_equal(mock_n_unregistered(), 0);
  assert_int_equal(mock_n_logs(), n_logs);
}

static void test_rescan_follows_changes(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.max_children = 5\npm.status_path = /s\n");
  write_file("pool.d/b.conf", "[b]\nlisten = /run/b.sock\n"
                              "pm.max_children = 3\npm.status_path = /s\n");
  write_file("pool.d/c.conf", "[c]\nlisten = /run/c.sock\n"
                              "pm.max_children = 4\npm.status_path = /s\n");
  configure(2);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_non_null(mock_read_find("phpfpm/a"));
  assert_non_null(mock_read_find("phpfpm/b"));
  assert_non_null(mock_read_find("phpfpm/c"));

  /* b removed, c gets another pm.max_children, d added */
  char path[600];
  snprintf(path, sizeof path, "%s/pool.d/b.conf", dir);
  assert_int_equal(unlink(path), 0);
  write_file("pool.d/c.conf", "[c]\nlisten = /run/c.sock\n"
                              "pm.max_children = 9\npm.status_path = /s\n");
  write_file("pool.d/d.conf", "[d]\nlisten = 127.0.0.1:9100\n"
                              "pm.status_path = /s\n");
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_null(mock_read_find("phpfpm/b"));
  assert_int_equal(pool_of("phpfpm/c")->conf.max_children, 9);
  assert_int_equal(pool_of("phpfpm/d")->conf.max_children, 0);
  assert_non_null(mock_read_find("phpfpm/a"));
  assert_int_equal(mock_n_unregistered(), 2); /* b, and the old c */
  assert_int_equal(mock_count_logs(LOG_INFO, "pool \"b\": stopped reading"), 1);

  /* a pool that loses its status page stops and is reported */
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n");
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_null(mock_read_find("phpfpm/a"));
  assert_int_equal(mock_count_logs(LOG_WARNING, "pool \"a\" (discovered) is "
                                                "not read"),
                   1);
}

static void test_unreadable_keeps_pools(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\nbroken line\n");
  configure(2);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_non_null(mock_read_find("phpfpm/a"));
  assert_int_equal(mock_count_logs(LOG_WARNING, "a.conf:4: syntax error"), 1);
  /* the whole configuration disappears: the pools found stay, one error */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s/php-fpm.conf' '%s/pool.d'", dir, dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_non_null(mock_read_find("phpfpm/a"));
  assert_int_equal(mock_count_logs(LOG_ERR, "Discover: no php-fpm "
                                            "configuration could be read"),
                   1);
  /* the syntax error was logged once although scanned once more */
  assert_int_equal(mock_count_logs(LOG_WARNING, "syntax error"), 1);
}

static void test_bad_options(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(root, "Discover", "relative/path");
  mock_ci_num(root, "DiscoverInterval", 0);
  mock_ci_str(mock_ci_block(root, "Pool", "ok"), "Socket", "/tmp/a.sock");
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, "Discover: expected true, false "
                                            "or the absolute path"),
                   1);
  assert_int_equal(mock_count_logs(LOG_ERR, "DiscoverInterval: expected a "
                                            "number of seconds greater than "
                                            "0"),
                   1);
  assert_null(mock_read_find(PHPFPM_DISCOVER_CB));
  assert_non_null(mock_read_find("phpfpm/ok"));
  assert_non_null(mock_read_find("phpfpm-config"));
  /* Discover false: no scan */
  mock_reset();
  module_register();
  root = mock_ci_new("Plugin");
  mock_ci_bool(root, "Discover", 0);
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_n_reads(), 0);
}

static void discover_block(oconfig_item_t *root) {
  char path[300];
  snprintf(path, sizeof path, "%s/php-fpm.conf", dir);
  mock_ci_str(root, "Discover", path);
}

/* collectd 5.12 frees the user data of a failed registration itself; the
 * plugin must neither free it again nor read it (ASan catches both). */
static void test_failed_registrations_free_once(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n");
  oconfig_item_t *one = mock_ci_new("Plugin");
  discover_block(one);
  assert_int_equal(run_config(one), 0);
  assert_non_null(mock_read_find("phpfpm/a"));
  /* a second block: Discover again, and a <Pool> named like the
   * discovered pool */
  oconfig_item_t *two = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(two, "Pool", "a"), "Socket", "/tmp/other.sock");
  discover_block(two);
  assert_int_equal(run_config(two), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, "pool \"a\": cannot register "
                                            "the read callback \"phpfpm/a\""),
                   1);
  assert_int_equal(mock_count_logs(LOG_ERR,
                                   "Discover: cannot register the "
                                   "read callback \"phpfpm-discover\""),
                   1);
  /* the first block's pool and scan are untouched */
  assert_string_equal(pool_of("phpfpm/a")->conf.endpoint, "unix:/run/a.sock");
  assert_non_null(mock_read_find(PHPFPM_DISCOVER_CB));
  assert_non_null(mock_read_find("phpfpm-config"));
}

/* A discovered pool that cannot start (unix path too long, a name taken by
 * another block) is tried and logged once, then again only once changed. */
static void test_failed_start_once(void **state) {
  (void)state;
  char long_path[200];
  memset(long_path, 'x', sizeof long_path);
  long_path[0] = '/';
  long_path[sizeof long_path - 1] = '\0';
  char text[400];
  snprintf(text, sizeof text, "[long]\nlisten = %s\npm.status_path = /s\n",
           long_path);
  write_main();
  write_file("pool.d/l.conf", text);
  write_file("pool.d/t.conf", "[taken]\nlisten = /run/t.sock\n"
                              "pm.status_path = /s\n");
  /* "taken" is a <Pool> of another <Plugin phpfpm> block */
  oconfig_item_t *other = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(other, "Pool", "taken"), "Socket", "/tmp/t.sock");
  assert_int_equal(run_config(other), 0);
  oconfig_item_t *root = mock_ci_new("Plugin");
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_null(mock_read_find("phpfpm/long"));
  assert_int_equal(mock_count_logs(LOG_ERR, "pool \"long\""), 1);
  assert_int_equal(mock_count_logs(LOG_ERR, "pool \"taken\": cannot "
                                            "register"),
                   1);
  size_t n_logs = mock_n_logs();
  for (int i = 0; i < 4; i++)
    assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_n_logs(), n_logs);
  /* changed: tried again, and now it starts */
  write_file("pool.d/l.conf", "[long]\nlisten = /run/l.sock\n"
                              "pm.status_path = /s\n");
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_string_equal(pool_of("phpfpm/long")->conf.endpoint,
                      "unix:/run/l.sock");
}

/* A rejected <Pool "a"> block does not hide the discovered pool "a". */
static void test_rejected_block_hides_nothing(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n");
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_num(mock_ci_block(root, "Pool", "a"), "Timeout", 1); /* no Socket */
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_string_equal(pool_of("phpfpm/a")->conf.endpoint, "unix:/run/a.sock");
  assert_int_equal(mock_count_logs(LOG_INFO, "configured by a <Pool"), 0);
}

/* The scan callback's first run follows the config-time scan at once
 * (collectd runs a new callback immediately): it does not scan again, so
 * under `collectd -T` no callback is registered from a read. */
static void test_first_run_skipped(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n");
  configure(5);
  write_file("pool.d/b.conf", "[b]\nlisten = /run/b.sock\n"
                              "pm.status_path = /s\n");
  size_t n_reads = mock_n_reads();
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_n_reads(), n_reads);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_non_null(mock_read_find("phpfpm/b"));
}

/* Discover "/dir": a pool file that cannot be read in one scan keeps its
 * pools (logged once); once the last file is gone, the last pool retires. */
static void test_unreadable_file_keeps_its_pools(void **state) {
  (void)state;
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n");
  write_file("pool.d/b.conf", "[b]\nlisten = /run/b.sock\n"
                              "pm.status_path = /s\n");
  char pd[300], b[400];
  snprintf(pd, sizeof pd, "%s/pool.d", dir);
  snprintf(b, sizeof b, "%s/b.conf", pd);
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(root, "Discover", pd);
  assert_int_equal(run_config(root), 0);
  assert_non_null(mock_read_find("phpfpm/a"));
  assert_non_null(mock_read_find("phpfpm/b"));
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0); /* skipped */
  /* b.conf matches the glob but cannot be opened (a dangling link, as
   * during a symlink swap; root opens any mode) */
  assert_int_equal(unlink(b), 0);
  assert_int_equal(symlink("/nonexistent/b.conf", b), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_non_null(mock_read_find("phpfpm/b"));
  assert_int_equal(mock_n_unregistered(), 0);
  assert_int_equal(mock_count_logs(LOG_WARNING, "b.conf: cannot open"), 1);
  /* readable again, unchanged: nothing to do */
  assert_int_equal(unlink(b), 0);
  write_file("pool.d/b.conf", "[b]\nlisten = /run/b.sock\n"
                              "pm.status_path = /s\n");
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_n_unregistered(), 0);
  /* removed: retired; the directory emptied: the last pool retires too */
  assert_int_equal(unlink(b), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_null(mock_read_find("phpfpm/b"));
  snprintf(b, sizeof b, "%s/a.conf", pd);
  assert_int_equal(unlink(b), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_null(mock_read_find("phpfpm/a"));
  assert_int_equal(mock_n_unregistered(), 2);
  assert_int_equal(mock_count_logs(LOG_ERR, "no php-fpm configuration"), 0);
}

/* A retired pool whose outage was notified gets one OKAY, so the alert
 * clears; a scan that changes something logs one summary line. */
static void test_retired_pool_clears_alert(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /nonexistent/a.sock\n"
                              "pm.status_path = /s\n");
  write_file("pool.d/b.conf", "[b]\nlisten = /nonexistent/b.sock\n"
                              "pm.status_path = /s\n");
  configure(2);
  assert_int_equal(mock_count_logs(LOG_INFO, "Discover: 2 discovered pool(s) "
                                             "read; this scan started 2"),
                   1);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0); /* skipped */
  assert_int_equal(mock_call_read("phpfpm/a"), 0);         /* a is down */
  assert_int_equal(mock_count_notifs(NOTIF_FAILURE, "unreachable"), 1);
  size_t n_info = mock_count_logs(LOG_INFO, "Discover: ");
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0); /* unchanged */
  assert_int_equal(mock_count_logs(LOG_INFO, "Discover: "), n_info);
  char path[600];
  snprintf(path, sizeof path, "%s/pool.d/a.conf", dir);
  assert_int_equal(unlink(path), 0);
  snprintf(path, sizeof path, "%s/pool.d/b.conf", dir);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  char want[700];
  snprintf(want, sizeof want, "pool retired (gone from %s/pool.d/a.conf)", dir);
  assert_int_equal(mock_count_notifs(NOTIF_OKAY, want), 1);
  /* b never failed: no OKAY for it */
  assert_int_equal(mock_count_notifs(NOTIF_OKAY, "pool retired"), 1);
  const struct mock_notif *n = mock_notif_at(mock_n_notifs() - 1);
  assert_string_equal(n->plugin_instance, "a");
  assert_int_equal(mock_count_logs(LOG_INFO, "Discover: 0 discovered pool(s) "
                                             "read; this scan started 0, "
                                             "stopped 2"),
                   1);
}

/* ------------------------------------------------------ DiscoverIgnore */

static void test_ignore(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n");
  write_file("pool.d/s1.conf", "[skip1]\nlisten = /run/s1.sock\n"
                               "pm.status_path = /s\n");
  /* no status page: ignored, so not warned about either */
  write_file("pool.d/s2.conf", "[skip2]\nlisten = /run/s2.sock\n");
  oconfig_item_t *root = mock_ci_new("Plugin");
  /* before Discover: the order of the keys does not matter */
  mock_ci_str(root, "DiscoverIgnore", "skip*");
  mock_ci_str(root, "DiscoverIgnore", "nomatch");
  /* a <Pool> block is read whatever its name */
  mock_ci_str(mock_ci_block(root, "Pool", "skip1"), "Socket",
              "/tmp/skip1.sock");
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_non_null(mock_read_find("phpfpm/a"));
  assert_string_equal(pool_of("phpfpm/skip1")->conf.endpoint,
                      "unix:/tmp/skip1.sock");
  assert_null(mock_read_find("phpfpm/skip2"));
  assert_int_equal(mock_n_reads(), 3); /* a, skip1 (the block), the scan */
  assert_int_equal(mock_count_logs(LOG_WARNING, "skip2"), 0);
  assert_int_equal(mock_count_logs(LOG_INFO, "configured by a <Pool"), 0);
  assert_int_equal(mock_count_logs(LOG_INFO,
                                   "Discover: DiscoverIgnore \"skip*\" "
                                   "ignores 2 pool(s), not read: skip1, "
                                   "skip2"),
                   1);
  assert_int_equal(mock_count_logs(LOG_INFO, "DiscoverIgnore \"nomatch\" "
                                             "ignores no pool (it matches "
                                             "no discovered pool name)"),
                   1);
  assert_null(mock_read_find("phpfpm-config")); /* no error */

  /* re-scans without a change log nothing */
  size_t n_logs = mock_n_logs();
  for (int i = 0; i < 3; i++)
    assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_n_logs(), n_logs);

  /* a third matching pool: not read, the new set logged once */
  write_file("pool.d/s3.conf", "[skip3]\nlisten = /run/s3.sock\n"
                               "pm.status_path = /s\n");
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_null(mock_read_find("phpfpm/skip3"));
  assert_int_equal(mock_count_logs(LOG_INFO, "ignores 3 pool(s), not read: "
                                             "skip1, skip2, skip3"),
                   1);
  assert_int_equal(mock_count_logs(LOG_INFO, "\"nomatch\""), 1);
  /* all gone: logged once as such */
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -f '%s'/pool.d/s?.conf", dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_call_read(PHPFPM_DISCOVER_CB), 0);
  assert_int_equal(mock_count_logs(LOG_INFO, "DiscoverIgnore \"skip*\" "
                                             "ignores no pool now"),
                   1);
  assert_int_equal(mock_n_unregistered(), 0); /* nothing was read */
}

static void test_ignore_bad(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n");
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(root, "DiscoverIgnore", "");
  mock_ci_str(root, "DiscoverIgnore", "ww[w");
  mock_ci_num(root, "DiscoverIgnore", 3);
  mock_ci_str(root, "DiscoverIgnore", "a");
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, "DiscoverIgnore \"\": not a "
                                            "usable pattern: it is empty"),
                   1);
  assert_int_equal(mock_count_logs(LOG_ERR, "DiscoverIgnore \"ww[w\": not a "
                                            "usable pattern: its '[' at "
                                            "byte 3 has no closing ']'"),
                   1);
  assert_int_equal(mock_count_logs(LOG_ERR, "DiscoverIgnore: expected one "
                                            "string"),
                   1);
  /* the valid pattern still applies; collectd -T would exit 1 */
  assert_null(mock_read_find("phpfpm/a"));
  assert_non_null(mock_read_find("phpfpm-config"));
  assert_int_equal(mock_call_read("phpfpm-config"), -1);
  assert_int_equal(mock_count_logs(LOG_ERR, "3 configuration error(s)"), 1);

  /* without Discover: a warning, nothing else */
  mock_reset();
  module_register();
  root = mock_ci_new("Plugin");
  mock_ci_str(root, "DiscoverIgnore", "a*");
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_count_logs(LOG_WARNING, "DiscoverIgnore and "
                                                "<DiscoverDefaults> only "
                                                "apply with Discover"),
                   1);
  assert_int_equal(mock_n_reads(), 0);
}

/* ---------------------------------------------------- DiscoverDefaults */

#define MARK "fpmstat=discmark0123"

static struct {
  int calls;
  int64_t budget_ms; /* deadline - now at the last call */
} fk;

/* A status page with its worker list: our scrape, a request running for
 * 3 s, an idle worker with a finished request. */
static fpm_err fake_fetch(fpm_fetcher *f, enum fpm_fetch_kind kind,
                          int64_t deadline_ms, fcgi_cancel *cancel,
                          struct fpm_result *r) {
  (void)f;
  (void)cancel;
  assert_int_equal(kind, FPM_FETCH_STATUS);
  fk.calls++;
  fk.budget_ms = deadline_ms - fcgi_now_ms();
  static const char body[] =
      "{\"pool\":\"x\",\"process manager\":\"static\",\"start time\":1000,"
      "\"start since\":100,\"accepted conn\":50,\"listen queue\":0,\"max "
      "listen queue\":0,\"listen queue len\":511,\"idle processes\":2,"
      "\"active processes\":1,\"total processes\":3,\"max active "
      "processes\":2,\"max children reached\":0,\"slow requests\":0,"
      "\"processes\":["
      "{\"pid\":10,\"state\":\"Running\",\"start time\":1000,\"start "
      "since\":100,\"requests\":3,\"request duration\":100,\"request "
      "method\":\"GET\",\"request uri\":\"/status?json&full&" MARK "\","
      "\"content length\":0,\"user\":\"-\",\"script\":\"-\",\"last request "
      "cpu\":0.00,\"last request memory\":0},"
      "{\"pid\":11,\"state\":\"Running\",\"start time\":1000,\"start "
      "since\":100,\"requests\":4,\"request duration\":3000000,\"request "
      "method\":\"GET\",\"request uri\":\"/slow.php\",\"content length\":0,"
      "\"user\":\"-\",\"script\":\"/w/slow.php\",\"last request cpu\":0.00,"
      "\"last request memory\":0},"
      "{\"pid\":12,\"state\":\"Idle\",\"start time\":1000,\"start "
      "since\":100,\"requests\":5,\"request duration\":20000,\"request "
      "method\":\"GET\",\"request uri\":\"/i.php\",\"content length\":0,"
      "\"user\":\"-\",\"script\":\"/w/i.php\",\"last request cpu\":10.00,"
      "\"last request memory\":2097152}]}";
  snprintf(r->marker, sizeof r->marker, "%s", MARK);
  r->http_status = 200;
  struct fpm_parse_error pe;
  assert_int_equal(
      fpm_status_parse(body, strlen(body), FPM_FORMAT_JSON, &r->status, &pe),
      FPM_P_OK);
  return FPM_OK;
}

static struct phpfpm_pool *fake_pool(const char *cb_name) {
  const struct mock_read *r = mock_read_find(cb_name);
  assert_non_null(r);
  struct phpfpm_pool *p = r->ud.data;
  p->fetch = fake_fetch;
  return p;
}

static size_t values_of(const char *instance) {
  size_t n = 0;
  for (size_t i = 0; i < mock_n_values(); i++)
    n += strcmp(mock_value_at(i)->plugin_instance, instance) == 0;
  return n;
}

static size_t notifs_of(const char *instance) {
  size_t n = 0;
  for (size_t i = 0; i < mock_n_notifs(); i++)
    n += strcmp(mock_notif_at(i)->plugin_instance, instance) == 0;
  return n;
}

static void test_defaults_reach_pools(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.max_children = 6\npm.status_path = /s\n");
  mock_set_interval(10);
  oconfig_item_t *root = mock_ci_new("Plugin");
  oconfig_item_t *df = mock_ci_block(root, "DiscoverDefaults", NULL);
  mock_ci_str(df, "Workers", "none");
  mock_ci_num(df, "Timeout", 0.5);
  mock_ci_num(df, "Interval", 30);
  mock_ci_num(df, "SlowThreshold", 2.5);
  mock_ci_bool(df, "Notifications", 0);
  mock_ci_bool(df, "WorkerMemory", 1);
  mock_ci_bool(df, "WorkerPSS", 1);
  mock_ci_num(df, "WorkerMemoryRefresh", 3);
  mock_ci_num(df, "MaxSlots", 8);
  /* a <Pool> with the built-in settings, for comparison */
  mock_ci_str(mock_ci_block(root, "Pool", "m"), "Socket", "/tmp/m.sock");
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_null(mock_read_find("phpfpm-config"));
  const struct phpfpm_pool *a = pool_of("phpfpm/a");
  assert_int_equal(a->conf.workers, FPM_WORKERS_NONE);
  assert_true(a->conf.timeout_s == 0.5);
  assert_true(a->conf.interval_s == 30.0);
  assert_true(mock_read_find("phpfpm/a")->interval == DOUBLE_TO_CDTIME_T(30.0));
  assert_true(a->conf.slow_threshold_s == 2.5);
  assert_int_equal(a->conf.notifications, 0);
  assert_int_equal(a->conf.worker_memory, 1);
  assert_int_equal(a->conf.worker_pss, 1);
  assert_int_equal(a->conf.rss_every, 3);
  /* its status page must name it: another pool's page is a failed read */
  assert_string_equal(a->conf.section, "a");
  assert_int_equal(a->conf.pss_every, 50); /* not set: the default */
  assert_int_equal(pool_of("phpfpm/m")->conf.worker_memory, 0);
  assert_int_equal(a->conf.max_slots, 8);
  /* still derived from php-fpm's configuration */
  assert_int_equal(a->conf.max_children, 6);
  assert_string_equal(a->conf.status_path, "/s");
  assert_int_equal(mock_count_logs(LOG_INFO, "pool \"a\": reading "
                                             "unix:/run/a.sock every 30 s, "
                                             "timeout 0.5 s, workers none"),
                   1);

  /* the read path: the same page, read by both */
  fake_pool("phpfpm/a");
  fake_pool("phpfpm/m");
  memset(&fk, 0, sizeof fk);
  assert_int_equal(mock_call_read("phpfpm/a"), 0);
  assert_int_equal(fk.calls, 1);
  /* Timeout 0.5: the budget left when the fetch starts (above 0, at most
   * 500 ms; the default would be 9000) */
  assert_true(fk.budget_ms > 0 && fk.budget_ms <= 500);
  assert_int_equal(mock_call_read("phpfpm/m"), 0);
  assert_true(fk.budget_ms > 5000); /* m: 90% of 10 s */
  /* Workers "none": no worker statistics for a; m (summary) has them */
  assert_non_null(mock_value_find("a", "bool", "up"));
  assert_non_null(mock_value_find("a", "vs_processes", "max_children"));
  assert_null(mock_value_find("a", "vs_processes", "running_slow"));
  assert_null(mock_value_find("a", "duration", "oldest_running"));
  assert_non_null(mock_value_find("m", "vs_processes", "running_slow"));
  assert_non_null(mock_value_find("m", "duration", "oldest_running"));
  assert_true(values_of("a") < values_of("m"));
  /* Notifications false: m warns about the 3 s request, a says nothing */
  assert_true(notifs_of("m") >= 1);
  assert_int_equal(notifs_of("a"), 0);
}

/* Opcache, OpcacheScript and Master in <DiscoverDefaults> reach every
 * discovered pool; without Master the pools of one configuration share
 * the master named after it (fpm_master.h), and a <Pool> block without
 * Master belongs to "default". */
static void test_opcache_defaults_reach_pools(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n"
                              "[b]\nlisten = /run/b.sock\n"
                              "pm.status_path = /s\n");
  oconfig_item_t *root = mock_ci_new("Plugin");
  oconfig_item_t *df = mock_ci_block(root, "DiscoverDefaults", NULL);
  mock_ci_bool(df, "Opcache", 1);
  mock_ci_str(df, "OpcacheScript", "/srv/opcache.php");
  oconfig_item_t *m = mock_ci_block(root, "Pool", "m");
  mock_ci_str(m, "Socket", "/tmp/m.sock");
  mock_ci_bool(m, "Opcache", 1);
  oconfig_item_t *n = mock_ci_block(root, "Pool", "n");
  mock_ci_str(n, "Socket", "/tmp/n.sock");
  mock_ci_str(n, "Master", "php7.4-fpm");
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_null(mock_read_find("phpfpm-config"));
  char conf[300], master[FPM_MASTER_BASE_MAX + 1], logged[128];
  snprintf(conf, sizeof conf, "%s/php-fpm.conf", dir);
  fpm_master_name_of(conf, master, sizeof master);
  const char *names[] = {"phpfpm/a", "phpfpm/b"};
  for (size_t i = 0; i < 2; i++) {
    const struct phpfpm_pool *p = pool_of(names[i]);
    assert_int_equal(p->conf.opcache, 1);
    assert_string_equal(p->conf.opcache_script, "/srv/opcache.php");
    assert_string_equal(p->conf.master, master);
    assert_non_null(p->oc);
  }
  const struct phpfpm_pool *pm = pool_of("phpfpm/m");
  assert_int_equal(pm->conf.opcache, 1);
  assert_null(pm->conf.opcache_script); /* the installed script */
  assert_null(pm->conf.master);         /* PHPFPM_DEFAULT_MASTER */
  assert_non_null(pm->oc);
  const struct phpfpm_pool *pn = pool_of("phpfpm/n");
  assert_int_equal(pn->conf.opcache, 0); /* Master alone reads nothing */
  assert_null(pn->oc);
  assert_int_equal(mock_count_logs(LOG_INFO, "OPcache of master \"default\""),
                   1);
  snprintf(logged, sizeof logged, "OPcache of master \"%s\"", master);
  assert_int_equal(mock_count_logs(LOG_INFO, logged), 2);
  /* only the <Pool> without Master is told that such pools share one */
  assert_int_equal(
      mock_count_logs(LOG_INFO, "no Master key: every <Pool> without one"), 1);

  struct phpfpm_defaults d;
  phpfpm_defaults_init(&d, 10);
  char out[160];
  struct fpm_conf_pool cp;
  memset(&cp, 0, sizeof cp);
  /* discovery's name for the master */
  snprintf(cp.master, sizeof cp.master, "php8.2-fpm");
  phpfpm_opcache_master_name(&cp, &d, out, sizeof out);
  assert_string_equal(out, "php8.2-fpm");
  /* none (a pool not from a loader): the default */
  cp.master[0] = '\0';
  phpfpm_opcache_master_name(&cp, &d, out, sizeof out);
  assert_string_equal(out, "default");
  /* <DiscoverDefaults> Master wins, after a container's tag */
  snprintf(cp.master, sizeof cp.master, "ns7-local-php-fpm");
  snprintf(cp.tag, sizeof cp.tag, "ns7");
  snprintf(d.master, sizeof d.master, "edge");
  phpfpm_opcache_master_name(&cp, &d, out, sizeof out);
  assert_string_equal(out, "ns7-edge");
  cp.tag[0] = '\0';
  phpfpm_opcache_master_name(&cp, &d, out, sizeof out);
  assert_string_equal(out, "edge");
}

static void test_defaults_rejected(void **state) {
  (void)state;
  write_main();
  write_file("pool.d/a.conf", "[a]\nlisten = /run/a.sock\n"
                              "pm.status_path = /s\n");
  static const struct {
    const char *key, *from;
  } derived[] = {{"Socket", "listen (or pm.status_listen)"},
                 {"Address", "listen (or pm.status_listen)"},
                 {"StatusPath", "pm.status_path"},
                 {"PingPath", "ping.path"},
                 {"MaxChildren", "pm.max_children"}};
  for (size_t i = 0; i < sizeof derived / sizeof derived[0]; i++) {
    mock_reset();
    module_register();
    oconfig_item_t *root = mock_ci_new("Plugin");
    oconfig_item_t *df = mock_ci_block(root, "DiscoverDefaults", NULL);
    mock_ci_str(df, "Workers", "none");
    if (strcmp(derived[i].key, "MaxChildren") == 0)
      mock_ci_num(df, derived[i].key, 4);
    else
      mock_ci_str(df, derived[i].key, "/x");
    discover_block(root);
    assert_int_equal(run_config(root), 0);
    char want[300];
    snprintf(want, sizeof want,
             "DiscoverDefaults: %s cannot be set here: discovery takes it "
             "from each pool's %s",
             derived[i].key, derived[i].from);
    if (mock_count_logs(LOG_ERR, want) != 1) {
      mock_dump_logs();
      fail_msg("no error naming %s", derived[i].key);
    }
    /* the rejected block is skipped whole: built-in settings, -T fails */
    assert_int_equal(pool_of("phpfpm/a")->conf.workers, FPM_WORKERS_SUMMARY);
    assert_non_null(mock_read_find("phpfpm-config"));
  }

  mock_reset();
  module_register();
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "DiscoverDefaults", NULL), "Sockett", "/x");
  mock_ci_str(mock_ci_block(root, "DiscoverDefaults", NULL), "Workers", "all");
  mock_ci_num(mock_ci_block(root, "DiscoverDefaults", "x"), "Timeout", 1);
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_count_logs(LOG_ERR,
                                   "DiscoverDefaults: unknown option "
                                   "\"Sockett\"; expected one of Timeout, "
                                   "Interval, Workers, MaxSlots, "
                                   "SlowThreshold, Notifications"),
                   1);
  assert_int_equal(mock_count_logs(LOG_ERR, "<DiscoverDefaults>: given more "
                                            "than once"),
                   2);
  assert_int_equal(mock_count_logs(LOG_ERR, "Workers: expected"), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, "takes no argument"), 0);
  assert_non_null(mock_read_find("phpfpm/a"));

  /* a bad value and an argument, each in its own plugin block */
  mock_reset();
  module_register();
  root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "DiscoverDefaults", NULL), "Workers", "all");
  assert_int_equal(run_config(root), 0);
  root = mock_ci_new("Plugin");
  mock_ci_num(mock_ci_block(root, "DiscoverDefaults", "x"), "Timeout", 1);
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, "DiscoverDefaults: Workers: "
                                            "expected one of none, summary, "
                                            "slots; got \"all\""),
                   1);
  assert_int_equal(mock_count_logs(LOG_ERR, "<DiscoverDefaults> takes no "
                                            "argument"),
                   1);

  /* Timeout not below the interval: clamped, with a warning */
  mock_reset();
  module_register();
  mock_set_interval(3);
  root = mock_ci_new("Plugin");
  mock_ci_num(mock_ci_block(root, "DiscoverDefaults", NULL), "Timeout", 5);
  discover_block(root);
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_count_logs(LOG_WARNING, "DiscoverDefaults: Timeout 5 "
                                                "is not below the interval (3 "
                                                "s); using 2.7 s"),
                   1);
  assert_true(fabs(pool_of("phpfpm/a")->conf.timeout_s - 2.7) < 1e-9);
  assert_null(mock_read_find("phpfpm-config"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_retired_pool_clears_alert, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_scan_registers_pools, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rescan_follows_changes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_keeps_pools, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_registrations_free_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_start_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rejected_block_hides_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_first_run_skipped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_file_keeps_its_pools,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_ignore, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ignore_bad, setup, teardown),
      cmocka_unit_test_setup_teardown(test_opcache_defaults_reach_pools, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_defaults_reach_pools, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_defaults_rejected, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
