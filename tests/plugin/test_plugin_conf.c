/*
 * test_plugin_conf.c: the <Plugin phpfpm> configuration: every key, the
 * defaults, the documented error messages, Socket/Address rules, Timeout
 * clamping, duplicate names, and that a failing pool is not registered while
 * the others are, with the callback returning 0 (collectd keeps running)
 * and the one-shot "phpfpm-config" read that fails `collectd -T`. Runs the
 * plugin's real config callback against the daemon mock.
 */
#include "mock_collectd.h"
#include "phpfpm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int setup(void **state) {
  (void)state;
  mock_reset();
  module_register();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  mock_reset();
  return 0;
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
  assert_non_null(r);
  assert_ptr_equal(r->cb, phpfpm_read);
  assert_ptr_equal(r->ud.free_func, phpfpm_pool_free);
  return r->ud.data;
}

/* Rejected blocks: the callback returned 0 and registered the one-shot
 * read that reports them; no pool read of the given name. */
static void expect_rejected_reported(const char *pool_cb) {
  assert_non_null(mock_read_find("phpfpm-config"));
  if (pool_cb != NULL)
    assert_null(mock_read_find(pool_cb));
}

static void expect_one_error(const char *text) {
  size_t n = mock_count_logs(LOG_ERR, text);
  if (n != 1) {
    fprintf(stderr, "wanted one error containing: %s\n", text);
    mock_dump_logs();
  }
  assert_int_equal(n, 1);
}

static void test_every_key(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  oconfig_item_t *p = mock_ci_block(root, "Pool", "www");
  mock_ci_str(p, "Socket", "/run/php/php8.2-fpm.sock");
  mock_ci_str(p, "StatusPath", "/fpm-status");
  mock_ci_str(p, "PingPath", "/fpm-ping");
  mock_ci_num(p, "Timeout", 0.5);
  mock_ci_num(p, "Interval", 5);
  mock_ci_str(p, "workers", "slots"); /* keys are case-insensitive */
  mock_ci_num(p, "MaxSlots", 16);
  mock_ci_num(p, "SlowThreshold", 2.5);
  mock_ci_num(p, "MaxChildren", 8);
  mock_ci_bool(p, "Notifications", 0);
  mock_ci_bool(p, "WorkerMemory", 1);
  mock_ci_bool(p, "WorkerPSS", 1);
  mock_ci_num(p, "WorkerMemoryRefresh", 1);
  mock_ci_num(p, "WorkerPSSRefresh", 12);
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_n_reads(), 1);
  const struct phpfpm_pool *pool = pool_of("phpfpm/www");
  const struct phpfpm_conf *c = &pool->conf;
  assert_string_equal(c->name, "www");
  assert_string_equal(c->endpoint, "unix:/run/php/php8.2-fpm.sock");
  assert_int_equal(c->is_socket, 1);
  assert_string_equal(c->status_path, "/fpm-status");
  assert_string_equal(c->ping_path, "/fpm-ping");
  assert_true(c->timeout_s == 0.5);
  assert_true(c->interval_s == 5.0);
  assert_int_equal(c->workers, FPM_WORKERS_SLOTS);
  assert_int_equal(c->max_slots, 16);
  assert_true(c->slow_threshold_s == 2.5);
  assert_int_equal(c->max_children, 8);
  assert_int_equal(c->notifications, 0);
  assert_int_equal(c->worker_memory, 1);
  assert_int_equal(c->worker_pss, 1);
  assert_int_equal(c->rss_every, 1);
  assert_int_equal(c->pss_every, 12);
  assert_string_equal(pool->instance, "www");
  /* registered with the pool's own interval */
  assert_true(mock_read_find("phpfpm/www")->interval ==
              DOUBLE_TO_CDTIME_T(5.0));
  assert_int_equal(mock_count_logs(LOG_ERR, ""), 0);
  assert_int_equal(mock_count_logs(LOG_WARNING, ""), 0);
}

static void test_defaults(void **state) {
  (void)state;
  mock_set_interval(20);
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "www"), "Socket", "/tmp/x.sock");
  assert_int_equal(run_config(root), 0);
  const struct phpfpm_conf *c = &pool_of("phpfpm/www")->conf;
  assert_string_equal(c->status_path, "/status");
  assert_string_equal(c->ping_path, "/ping");
  assert_true(c->interval_s == 20.0);
  assert_int_equal(c->interval_set, 0);
  assert_true(c->timeout_s > 17.99 && c->timeout_s < 18.01); /* 90% */
  assert_int_equal(c->workers, FPM_WORKERS_SUMMARY);
  assert_int_equal(c->max_slots, 64);
  assert_true(c->slow_threshold_s == 1.0);
  assert_int_equal(c->max_children, 0);
  assert_int_equal(c->notifications, 1);
  assert_int_equal(c->worker_memory, 0); /* opt-in: docs/memory.md */
  assert_int_equal(c->worker_pss, 0);
  assert_int_equal(c->rss_every, 5); /* docs/memory.md, "Cost" */
  assert_int_equal(c->pss_every, 50);
  /* no Interval: collectd's own (0 = the plugin's interval) */
  assert_true(mock_read_find("phpfpm/www")->interval == 0);
}

static void test_addresses(void **state) {
  (void)state;
  static const struct {
    const char *given, *endpoint;
  } cases[] = {
      {"127.0.0.1:9000", "tcp://127.0.0.1:9000"},
      {"[::1]:9000", "tcp://[::1]:9000"},
      {"localhost:9000", "tcp://localhost:9000"},
      {"tcp://127.0.0.1:9001", "tcp://127.0.0.1:9001"},
  };
  oconfig_item_t *root = mock_ci_new("Plugin");
  char name[16];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(name, sizeof name, "p%zu", i);
    mock_ci_str(mock_ci_block(root, "Pool", name), "Address", cases[i].given);
  }
  assert_int_equal(run_config(root), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char cb[32];
    snprintf(cb, sizeof cb, "phpfpm/p%zu", i);
    const struct phpfpm_conf *c = &pool_of(cb)->conf;
    assert_string_equal(c->endpoint, cases[i].endpoint);
    assert_int_equal(c->is_socket, 0);
  }
}

enum vkind { V_STR, V_NUM, V_BOOL };
struct bad_case {
  const char *key;
  enum vkind kind;
  const char *s;
  double d;
  const char *message; /* the whole logged line */
};

static const struct bad_case bad_cases[] = {
    {"Workers", V_STR, "all", 0,
     "phpfpm plugin: pool \"www\": Workers: expected one of none, summary, "
     "slots; got \"all\""},
    {"Timeout", V_NUM, NULL, -1,
     "phpfpm plugin: pool \"www\": Timeout: expected a number of seconds "
     "greater than 0; got -1"},
    {"Timeout", V_STR, "1s", 0,
     "phpfpm plugin: pool \"www\": Timeout: expected a number of seconds "
     "greater than 0; got \"1s\""},
    {"Interval", V_NUM, NULL, 0,
     "phpfpm plugin: pool \"www\": Interval: expected a number of seconds "
     "greater than 0; got 0"},
    {"MaxSlots", V_NUM, NULL, 0,
     "phpfpm plugin: pool \"www\": MaxSlots: expected a whole number from 1 "
     "to 65535; got 0"},
    {"MaxSlots", V_NUM, NULL, 1.5,
     "phpfpm plugin: pool \"www\": MaxSlots: expected a whole number from 1 "
     "to 65535; got 1.5"},
    {"MaxChildren", V_STR, "8", 0,
     "phpfpm plugin: pool \"www\": MaxChildren: expected a whole number from "
     "1 to 1000000000; got \"8\""},
    {"SlowThreshold", V_NUM, NULL, 0,
     "phpfpm plugin: pool \"www\": SlowThreshold: expected a number of "
     "seconds greater than 0; got 0"},
    {"Notifications", V_STR, "maybe", 0,
     "phpfpm plugin: pool \"www\": Notifications: expected true or false; "
     "got \"maybe\""},
    {"Notifications", V_NUM, NULL, 1,
     "phpfpm plugin: pool \"www\": Notifications: expected true or false; "
     "got 1"},
    {"StatusPath", V_STR, "status", 0,
     "phpfpm plugin: pool \"www\": StatusPath: expected a path starting with "
     "'/', e.g. \"/status\"; got \"status\""},
    {"PingPath", V_BOOL, NULL, 1,
     "phpfpm plugin: pool \"www\": PingPath: expected a path starting with "
     "'/', e.g. \"/status\"; got true"},
    {"Frobnicate", V_NUM, NULL, 1,
     "phpfpm plugin: pool \"www\": unknown option \"Frobnicate\"; expected "
     "one of Socket, Address, StatusPath, PingPath, Timeout, Interval, "
     "Workers, MaxSlots, SlowThreshold, MaxChildren, Notifications, "
     "WorkerMemory, WorkerPSS, WorkerMemoryRefresh, WorkerPSSRefresh, Opcache, "
     "OpcacheScript, Master"},
    {"WorkerPSSRefresh", V_NUM, NULL, 0,
     "phpfpm plugin: pool \"www\": WorkerPSSRefresh: expected a whole number "
     "from 1 to 100000; got 0"},
    {"Opcache", V_STR, "sometimes", 0,
     "phpfpm plugin: pool \"www\": Opcache: expected true or false; got "
     "\"sometimes\""},
    {"OpcacheScript", V_STR, "opcache.php", 0,
     "phpfpm plugin: pool \"www\": OpcacheScript: expected the absolute "
     "path of fpmstat's opcache.php as the pool sees it (inside its chroot, "
     "if it has one); got \"opcache.php\""},
    {"Master", V_STR, "", 0,
     "phpfpm plugin: pool \"www\": Master: expected a name of 1 to 63 bytes "
     "for the php-fpm master of the pool, e.g. \"php8.2-fpm\"; got \"\""},
};

static void test_bad_values(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const struct bad_case *b = &bad_cases[i];
    mock_reset();
    module_register();
    oconfig_item_t *root = mock_ci_new("Plugin");
    oconfig_item_t *p = mock_ci_block(root, "Pool", "www");
    mock_ci_str(p, "Socket", "/tmp/x.sock");
    if (b->kind == V_STR)
      mock_ci_str(p, b->key, b->s);
    else if (b->kind == V_NUM)
      mock_ci_num(p, b->key, b->d);
    else
      mock_ci_bool(p, b->key, (int)b->d);
    assert_int_equal(run_config(root), 0);
    assert_int_equal(mock_n_reads(), 1);
    expect_rejected_reported("phpfpm/www");
    size_t exact = 0;
    for (size_t k = 0; k < mock_n_logs(); k++)
      if (mock_log_at(k)->level == LOG_ERR &&
          strcmp(mock_log_at(k)->message, b->message) == 0)
        exact++;
    if (exact != 1) {
      fprintf(stderr, "case %zu: wanted exactly:\n  %s\n", i, b->message);
      mock_dump_logs();
    }
    assert_int_equal(exact, 1);
  }
}

static void test_socket_and_address_rules(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_num(mock_ci_block(root, "Pool", "neither"), "Timeout", 1);
  oconfig_item_t *both = mock_ci_block(root, "Pool", "both");
  mock_ci_str(both, "Socket", "/tmp/a.sock");
  mock_ci_str(both, "Address", "127.0.0.1:9000");
  mock_ci_str(mock_ci_block(root, "Pool", "rel"), "Socket", "run/a.sock");
  mock_ci_str(mock_ci_block(root, "Pool", "path"), "Address", "/run/a.sock");
  mock_ci_str(mock_ci_block(root, "Pool", "noport"), "Address", "localhost");
  oconfig_item_t *twice = mock_ci_block(root, "Pool", "twice");
  mock_ci_str(twice, "Socket", "/tmp/a.sock");
  mock_ci_str(twice, "Socket", "/tmp/b.sock");
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_n_reads(), 1);
  expect_rejected_reported(NULL);
  expect_one_error("pool \"neither\": expected exactly one of Socket "
                   "\"/path/to.sock\" or Address \"host:port\"; got neither");
  expect_one_error("pool \"both\": expected exactly one of Socket "
                   "\"/path/to.sock\" or Address \"host:port\"; got both");
  expect_one_error("pool \"rel\": Socket: expected the absolute path of "
                   "php-fpm's unix socket");
  expect_one_error("pool \"path\": Address: expected \"host:port\"");
  expect_one_error("pool \"noport\": Address: expected \"host:port\"");
  expect_one_error("pool \"twice\": Socket: given more than once");
}

static void test_timeout_clamped(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  oconfig_item_t *p = mock_ci_block(root, "Pool", "www");
  mock_ci_str(p, "Socket", "/tmp/x.sock");
  mock_ci_num(p, "Interval", 2);
  mock_ci_num(p, "Timeout", 5);
  assert_int_equal(run_config(root), 0);
  const struct phpfpm_conf *c = &pool_of("phpfpm/www")->conf;
  assert_true(c->timeout_s > 1.79 && c->timeout_s < 1.81);
  assert_int_equal(mock_count_logs(LOG_WARNING,
                                   "phpfpm plugin: pool \"www\": Timeout 5 is "
                                   "not below the interval (2 s); using 1.8 s "
                                   "(90% of the interval)"),
                   1);
  /* equal to the interval is clamped as well */
  mock_reset();
  module_register();
  root = mock_ci_new("Plugin");
  p = mock_ci_block(root, "Pool", "eq");
  mock_ci_str(p, "Socket", "/tmp/x.sock");
  mock_ci_num(p, "Timeout", 10); /* mock interval: 10 s */
  assert_int_equal(run_config(root), 0);
  assert_true(pool_of("phpfpm/eq")->conf.timeout_s < 10);
  assert_int_equal(mock_count_logs(LOG_WARNING, "Timeout 10 is not below"), 1);
}

static void test_duplicates_and_partial_failure(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "www"), "Socket", "/tmp/a.sock");
  mock_ci_str(mock_ci_block(root, "Pool", "www"), "Socket", "/tmp/b.sock");
  mock_ci_str(mock_ci_block(root, "Pool", "bad"), "Workers", "all");
  mock_ci_str(mock_ci_block(root, "Pool", "dyn"), "Address", "127.0.0.1:1");
  assert_int_equal(run_config(root), 0);
  /* the good pools are registered, the failing ones are not */
  assert_int_equal(mock_n_reads(), 3);
  expect_rejected_reported("phpfpm/bad");
  assert_string_equal(pool_of("phpfpm/www")->conf.endpoint, "unix:/tmp/a.sock");
  assert_non_null(mock_read_find("phpfpm/dyn"));
  assert_null(mock_read_find("phpfpm/bad"));
  expect_one_error("pool \"www\": duplicate pool name");
  expect_one_error("pool \"bad\": Workers: expected one of none, summary, "
                   "slots; got \"all\"");
}

static void test_block_errors(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(root, "Socket", "/tmp/a.sock"); /* outside a <Pool> */
  oconfig_item_t *noname = mock_ci_block(root, "Pool", "");
  mock_ci_str(noname, "Socket", "/tmp/a.sock");
  oconfig_item_t *num = mock_ci_num(root, "Pool", 3);
  mock_ci_str(num, "Socket", "/tmp/a.sock");
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_n_reads(), 1);
  expect_rejected_reported(NULL);
  expect_one_error("phpfpm plugin: unknown option \"Socket\" in <Plugin "
                   "phpfpm>; expected <Pool \"name\"> blocks, Discover, "
                   "DiscoverInterval, DiscoverIgnore or <DiscoverDefaults>");
  assert_int_equal(mock_count_logs(LOG_ERR, "<Pool> expects exactly one "
                                            "string argument, the pool name"),
                   2);
}

static void test_instance_sanitised(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "shop/api\x01-v2"), "Socket",
              "/tmp/a.sock");
  assert_int_equal(run_config(root), 0);
  const struct phpfpm_pool *p = pool_of("phpfpm/shop/api\x01-v2");
  assert_string_equal(p->conf.name, "shop/api\x01-v2");
  assert_string_equal(p->instance, "shop_api_-v2");
}

static void test_registration_failure(void **state) {
  (void)state;
  mock_fail_registration(1);
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "www"), "Socket", "/tmp/a.sock");
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_n_reads(), 0);
  expect_one_error("pool \"www\": cannot register the read callback "
                   "\"phpfpm/www\"");
}

static void test_endpoint_rejected(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "www"), "Address",
              "bad.invalid:99999");
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_n_reads(), 1);
  expect_rejected_reported("phpfpm/www");
  expect_one_error("phpfpm plugin: pool \"www\": Address: ");
}

static void test_name_too_long(void **state) {
  (void)state;
  char name[200];
  memset(name, 'a', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", name), "Socket", "/tmp/a.sock");
  assert_int_equal(run_config(root), 0);
  expect_rejected_reported(NULL);
  expect_one_error("the name is longer than 127 bytes");
}

/* The read that reports rejected blocks: fails once (so `collectd -T`
 * exits 1) and says how many, then succeeds quietly. */
static void test_config_errors_read(void **state) {
  (void)state;
  oconfig_item_t *root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "a"), "Workers", "all");
  mock_ci_str(mock_ci_block(root, "Pool", "b"), "Frob", "x");
  mock_ci_str(mock_ci_block(root, "Pool", "ok"), "Socket", "/tmp/a.sock");
  assert_int_equal(run_config(root), 0);
  assert_int_equal(mock_n_reads(), 2);
  /* a day: the daemon calls it at start, then rarely */
  assert_true(mock_read_find("phpfpm-config")->interval ==
              TIME_T_TO_CDTIME_T(86400));
  assert_int_equal(mock_call_read("phpfpm-config"), -1);
  expect_one_error("phpfpm plugin: 2 configuration error(s) above");
  /* later calls succeed quietly; it never unregisters (see phpfpm.c) */
  assert_int_equal(mock_call_read("phpfpm-config"), 0);
  expect_one_error("configuration error(s) above");
  assert_int_equal(mock_n_unregistered(), 0);
  assert_non_null(mock_read_find("phpfpm/ok"));
  /* a clean configuration registers no such read */
  mock_reset();
  module_register();
  root = mock_ci_new("Plugin");
  mock_ci_str(mock_ci_block(root, "Pool", "ok"), "Socket", "/tmp/a.sock");
  assert_int_equal(run_config(root), 0);
  assert_null(mock_read_find("phpfpm-config"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
      cmocka_unit_test_setup_teardown(test_socket_and_address_rules, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_timeout_clamped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicates_and_partial_failure,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_block_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_instance_sanitised, setup, teardown),
      cmocka_unit_test_setup_teardown(test_registration_failure, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_endpoint_rejected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_name_too_long, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_errors_read, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
