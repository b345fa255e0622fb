/*
 * it_plugin_host.c: a small collectd stand-in that dlopen()s the real
 * phpfpm.so (the daemon symbols come from mock_collectd.c, exported from this
 * program) and drives it against the real php-fpm of tests/harness:
 * two live pools (www over a unix socket, dyn over TCP), a dead one and a
 * hung one (a socket nobody accepts on). Checks exact counter deltas, the
 * active count with busy workers, slow-request notifications, one
 * rate-limited error for a dead pool, reads bounded by Timeout, a reload
 * (SIGUSR2) seen as a restart, then the read path many times with a stable
 * number of open fds.
 */
#include "fcgi.h"
#include "mock_collectd.h"

#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

struct host {
  void *so;
  int hung_fd;
  char hung_path[256], dead_path[256];
};

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0')
    fail_msg("%s is not set: run this under tests/harness/with-fpm.sh", name);
  return v;
}

static int under_valgrind(void) {
  const char *v = getenv("FPMT_VALGRIND");
  return v != NULL && strcmp(v, "1") == 0;
}

static double now_s(void) {
  return (double)fcgi_now_ms() / 1000.0;
}

/* One GET of a docroot script on the pool at the endpoint in env var. */
static fcgi_err get(const char *var, const char *script, const char *query,
                    int64_t timeout_ms) {
  fcgi_endpoint *ep = NULL;
  char err[256], filename[512];
  if (fcgi_endpoint_parse(env(var), &ep, err, sizeof err) != FCGI_OK)
    fail_msg("%s", err);
  snprintf(filename, sizeof filename, "%s%s", env("FPMT_DOCROOT"), script);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  assert_non_null(rq);
  fcgi_request_add_param_str(rq, "SCRIPT_NAME", script);
  fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", filename);
  fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET");
  fcgi_request_add_param_str(rq, "REQUEST_URI", script);
  fcgi_request_add_param_str(rq, "QUERY_STRING", query ? query : "");
  struct fcgi_call_opts o = {.deadline_ms = fcgi_now_ms() + timeout_ms};
  struct fcgi_response r;
  fcgi_response_init(&r);
  fcgi_err e = fcgi_do(ep, rq, &o, &r);
  fcgi_response_clear(&r);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  return e;
}

static double value_of(const char *pool, const char *type, const char *ti) {
  const struct mock_value *v = mock_value_find(pool, type, ti);
  if (v == NULL)
    fail_msg("no value %s/%s-%s dispatched", pool, type, ti);
  return v->value;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static void add_pool(oconfig_item_t *root, const char *name, const char *key,
                     const char *target, double timeout) {
  oconfig_item_t *p = mock_ci_block(root, "Pool", name);
  mock_ci_str(p, key, target);
  if (timeout > 0)
    mock_ci_num(p, "Timeout", timeout);
  mock_ci_num(p, "MaxChildren", strcmp(name, "dyn") == 0 ? 3 : 4);
}

static int setup(void **state) {
  static struct host h;
  memset(&h, 0, sizeof h);
  mock_reset();
  h.so = dlopen(PHPFPM_SO, RTLD_NOW | RTLD_LOCAL);
  if (h.so == NULL)
    fail_msg("dlopen %s: %s", PHPFPM_SO, dlerror());
  void (*reg)(void) = (void (*)(void))dlsym(h.so, "module_register");
  assert_non_null(reg);
  reg();

  /* a hung pool: listening, never accepting, never answering */
  snprintf(h.hung_path, sizeof h.hung_path, "%s/run/hung.sock",
           env("FPMT_DIR"));
  snprintf(h.dead_path, sizeof h.dead_path, "%s/run/dead.sock",
           env("FPMT_DIR"));
  h.hung_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(h.hung_fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(h.hung_path) >= sizeof sa.sun_path)
    fail_msg("socket path too long: %s", h.hung_path);
  memcpy(sa.sun_path, h.hung_path, strlen(h.hung_path) + 1);
  unlink(h.hung_path);
  assert_int_equal(bind(h.hung_fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(h.hung_fd, 16), 0);

  oconfig_item_t *root = mock_ci_new("Plugin");
  add_pool(root, "www", "Socket", env("FPMT_WWW_SOCK"), 0);
  add_pool(root, "dyn", "Address", env("FPMT_DYN_ADDR"), 0);
  add_pool(root, "dead", "Socket", h.dead_path, 0.5);
  add_pool(root, "hung", "Socket", h.hung_path, 0.3);
  int (*cb)(oconfig_item_t *) = mock_config_cb();
  assert_non_null(cb);
  int rc = cb(root);
  mock_ci_free(root);
  if (rc != 0)
    mock_dump_logs();
  assert_int_equal(rc, 0);
  assert_int_equal(mock_n_reads(), 4);
  *state = &h;
  return 0;
}

static int teardown(void **state) {
  struct host *h = *state;
  mock_reset(); /* frees the pools through their free_func */
  close(h->hung_fd);
  unlink(h->hung_path);
  dlclose(h->so);
  return 0;
}

/* accepted conn grows by exactly the requests made, plus our own scrape */
static void check_exact_delta(const char *pool, const char *var) {
  char cb[64];
  snprintf(cb, sizeof cb, "phpfpm/%s", pool);
  mock_clear_values();
  assert_int_equal(mock_call_read(cb), 0);
  assert_true(value_of(pool, "bool", "up") == 1.0);
  double a1 = value_of(pool, "total_requests", "accepted");
  const int k = 5;
  for (int i = 0; i < k; i++)
    assert_int_equal(get(var, "/hello.php", NULL, 5000), FCGI_OK);
  mock_clear_values();
  assert_int_equal(mock_call_read(cb), 0);
  double a2 = value_of(pool, "total_requests", "accepted");
  assert_true(a2 - a1 == k + 1);
}

static void test_exact_counters(void **state) {
  (void)state;
  check_exact_delta("www", "FPMT_WWW_SOCK");
  assert_true(value_of("www", "vs_processes", "total") == 4.0);
  assert_true(value_of("www", "vs_processes", "max_children") == 4.0);
  check_exact_delta("dyn", "FPMT_DYN_ADDR");
  assert_true(value_of("dyn", "vs_processes", "max_children") == 3.0);
  assert_int_equal(mock_count_logs(LOG_ERR, ""), 0);
}

struct busy {
  pthread_t t;
  fcgi_err err;
};

static void *busy_main(void *arg) {
  struct busy *b = arg;
  b->err = get("FPMT_WWW_SOCK", "/slow.php", "s=2.5", 10000);
  return NULL;
}

static void test_busy_workers_and_slow_requests(void **state) {
  (void)state;
  struct busy b[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&b[i].t, NULL, busy_main, &b[i]), 0);
  /* wait (by reading, no sleep) until both requests run and no earlier
   * request is still in FPM's short Finishing state */
  double active = -1, running = -1;
  double limit = now_s() + (under_valgrind() ? 20 : 2);
  while (now_s() < limit) {
    mock_clear_values();
    assert_int_equal(mock_call_read("phpfpm/www"), 0);
    active = value_of("www", "vs_processes", "active");
    running = value_of("www", "ps_state", "running");
    if (active == 2.0 && running == 2.0)
      break;
  }
  assert_true(running == 2.0);
  assert_true(active == 2.0); /* the scrape's own worker is not counted */
  /* past SlowThreshold (1 s): one notification per request, however many
   * reads see it */
  size_t slow = 0;
  limit = now_s() + (under_valgrind() ? 20 : 2.3);
  while (now_s() < limit && slow < 2) {
    assert_int_equal(mock_call_read("phpfpm/www"), 0);
    slow = mock_count_notifs(NOTIF_WARNING, "slow request");
  }
  assert_int_equal(slow, 2);
  for (int i = 0; i < 3; i++)
    assert_int_equal(mock_call_read("phpfpm/www"), 0);
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "slow request"), 2);
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "/slow.php"), 2);
  for (int i = 0; i < 2; i++) {
    pthread_join(b[i].t, NULL);
    assert_int_equal(b[i].err, FCGI_OK);
  }
}

static void test_dead_pool_one_error(void **state) {
  (void)state;
  double tolerance = under_valgrind() ? 2.0 : 0.2;
  for (int i = 0; i < 5; i++) {
    mock_clear_values();
    double t0 = now_s();
    assert_int_equal(mock_call_read("phpfpm/dead"), 0);
    assert_true(now_s() - t0 < 0.5 + tolerance);
    assert_int_equal(mock_n_values(), 1);
    assert_true(value_of("dead", "bool", "up") == 0.0);
  }
  size_t errors = mock_count_logs(LOG_ERR, "phpfpm plugin: pool \"dead\": ");
  if (errors != 1)
    mock_dump_logs();
  assert_int_equal(errors, 1);
  assert_int_equal(mock_count_logs(LOG_ERR, "dead.sock"), 1);
  assert_int_equal(mock_count_logs(LOG_ERR, "FCGI_ENOENT]"), 1);
  assert_int_equal(mock_count_notifs(NOTIF_FAILURE, "unreachable"), 1);
}

static void test_hung_pool_bounded_by_timeout(void **state) {
  (void)state;
  double tolerance = under_valgrind() ? 0.5 : 0.05;
  for (int i = 0; i < 3; i++) {
    double t0 = now_s();
    assert_int_equal(mock_call_read("phpfpm/hung"), 0);
    double took = now_s() - t0;
    assert_true(took >= 0.29);
    assert_true(took < 0.3 + tolerance);
  }
  assert_int_equal(mock_count_logs(LOG_ERR, "pool \"hung\""), 1);
  assert_int_equal(mock_count_logs(LOG_ERR, "[timeout, FCGI_ETIMEDOUT]"), 1);
  assert_true(value_of("hung", "bool", "up") == 0.0);
}

/* wait (by pinging, bounded) until www answers again after a reload */
static void wait_www_back(void) {
  double limit = now_s() + 10;
  while (now_s() < limit)
    if (get("FPMT_WWW_SOCK", "/hello.php", NULL, 500) == FCGI_OK)
      return;
  fail_msg("www did not come back after SIGUSR2");
}

/* The DERIVE values of one read of www. */
struct counters {
  size_t n;
  struct {
    char id[2 * DATA_MAX_NAME_LEN];
    double v;
  } c[64];
};

static void snap_counters(struct counters *cs) {
  cs->n = 0;
  for (size_t i = 0; i < mock_n_values() && cs->n < 64; i++) {
    const struct mock_value *v = mock_value_at(i);
    if (v->ds_type != DS_TYPE_DERIVE || strcmp(v->plugin_instance, "www"))
      continue;
    snprintf(cs->c[cs->n].id, sizeof cs->c[cs->n].id, "%s-%s", v->type,
             v->type_instance);
    cs->c[cs->n++].v = v->value;
  }
}

/* How many counters of now are below their value in prev. */
static size_t fallen(const struct counters *prev, const struct counters *now) {
  size_t k = 0;
  for (size_t i = 0; i < now->n; i++)
    for (size_t j = 0; j < prev->n; j++)
      if (strcmp(now->c[i].id, prev->c[j].id) == 0 &&
          now->c[i].v < prev->c[j].v)
        k++;
  return k;
}

static void test_reload_is_a_restart(void **state) {
  (void)state;
  for (int i = 0; i < 20; i++) /* a counter well above its post-reload value */
    assert_int_equal(get("FPMT_WWW_SOCK", "/hello.php", NULL, 5000), FCGI_OK);
  mock_clear_values();
  assert_int_equal(mock_call_read("phpfpm/www"), 0);
  double before = value_of("www", "total_requests", "accepted");
  double restarts0 = value_of("www", "total_events", "restarts");
  size_t notes0 = mock_count_notifs(NOTIF_WARNING, "restarted");
  static struct counters prev, now;
  snap_counters(&prev);

  pid_t fpm = (pid_t)strtol(env("FPMT_PHP_FPM_PID"), NULL, 10);
  assert_int_equal(kill(fpm, SIGUSR2), 0);
  /* the old master may answer a last request before it re-execs: read until
   * the new start time shows, bounded */
  double limit = now_s() + 10;
  while (now_s() < limit &&
         mock_count_notifs(NOTIF_WARNING, "restarted") == notes0) {
    wait_www_back();
    size_t n0 = mock_count_notifs(NOTIF_WARNING, "restarted");
    mock_clear_values();
    assert_int_equal(mock_call_read("phpfpm/www"), 0);
    snap_counters(&now);
    /* no counter goes backwards without a restart notification */
    if (now.n > 0 && fallen(&prev, &now) > 0)
      assert_int_equal(mock_count_notifs(NOTIF_WARNING, "restarted"), n0 + 1);
    if (now.n > 0)
      prev = now;
  }
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "restarted"), notes0 + 1);
  double after = value_of("www", "total_requests", "accepted");
  assert_true(after < before); /* the raw counter fell ... */
  assert_true(value_of("www", "total_events", "restarts") ==
              restarts0 + 1); /* ... and it was detected */
}

static void test_many_reads_no_leak(void **state) {
  (void)state;
  int n = under_valgrind() ? 200 : 10000;
  const char *e = getenv("PHPFPM_IT_READS");
  if (e != NULL)
    n = (int)strtol(e, NULL, 10);
  mock_clear_values();
  assert_int_equal(mock_call_read("phpfpm/www"), 0); /* warm-up */
  double a0 = value_of("www", "total_requests", "accepted");
  int fds0 = count_fds();
  size_t errors0 = mock_count_logs(LOG_ERR, "");
  for (int i = 0; i < n; i++) {
    mock_clear_values();
    assert_int_equal(mock_call_read("phpfpm/www"), 0);
    if (count_fds() != fds0)
      fail_msg("read %d: %d fds open, %d before", i, count_fds(), fds0);
  }
  double a1 = value_of("www", "total_requests", "accepted");
  assert_true(value_of("www", "bool", "up") == 1.0);
  /* every read was one real request; fpm_fetch may repeat one now and then
   * (a 5xx from scoreboard lock contention is retried, docs/status-page.md,
   * "5xx from scoreboard lock contention") */
  if (a1 - a0 < n || a1 - a0 > n + 5 + n / 1000)
    fail_msg("accepted conn grew by %.0f over %d reads", a1 - a0, n);
  assert_int_equal(mock_count_logs(LOG_ERR, ""), errors0);
  assert_int_equal(count_fds(), fds0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_counters),
      cmocka_unit_test(test_busy_workers_and_slow_requests),
      cmocka_unit_test(test_dead_pool_one_error),
      cmocka_unit_test(test_hung_pool_bounded_by_timeout),
      cmocka_unit_test(test_many_reads_no_leak),
      cmocka_unit_test(test_reload_is_a_restart),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
