/*
 * test_plugin_read.c: the read path with a scripted fetch (the pool's fetch
 * seam): value lists match fpm_model's samples one for one (type, type
 * instance, DERIVE for counters, GAUGE for gauges, per types.db), absent
 * fields are not dispatched, failures dispatch up=0 and log once
 * (rate-limited), notifications fire once per event, the deadline is start +
 * Timeout. Status bodies are FPM-format JSON parsed by the real parser.
 */
#include "mock_collectd.h"
#include "phpfpm.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MARK "fpmstat=selfmark0123"

struct step {
  fpm_err err;      /* status fetch outcome */
  const char *json; /* body when err == FPM_OK */
  fpm_err ping_err; /* ping outcome */
};

static struct {
  struct step steps[16];
  size_t n, next;
  int status_calls, ping_calls;
  int64_t deadline, called_at;
} fk;

static fpm_err fake_fetch(fpm_fetcher *f, enum fpm_fetch_kind kind,
                          int64_t deadline_ms, fcgi_cancel *cancel,
                          struct fpm_result *r) {
  (void)f;
  (void)cancel;
  assert_true(fk.n > 0);
  size_t i = fk.next > 0 ? fk.next - 1 : 0;
  if (kind == FPM_FETCH_PING) {
    fk.ping_calls++;
    r->err = fk.steps[i].ping_err;
    return r->err;
  }
  i = fk.next < fk.n ? fk.next++ : fk.n - 1;
  fk.status_calls++;
  fk.deadline = deadline_ms;
  fk.called_at = fcgi_now_ms();
  const struct step *s = &fk.steps[i];
  snprintf(r->marker, sizeof r->marker, "%s", MARK);
  r->err = s->err;
  if (s->err != FPM_OK) {
    snprintf(r->message, sizeof r->message,
             "unix:/tmp/none.sock: %s (scripted failure %d)",
             fpm_err_str(s->err), (int)s->err);
    return s->err;
  }
  r->http_status = 200;
  struct fpm_parse_error pe;
  fpm_perr rc = fpm_status_parse(s->json, strlen(s->json), FPM_FORMAT_JSON,
                                 &r->status, &pe);
  if (rc != FPM_P_OK)
    fprintf(stderr, "fixture does not parse: %s\n", pe.message);
  assert_int_equal(rc, FPM_P_OK);
  return FPM_OK;
}

static void script(const struct step *steps, size_t n) {
  memset(&fk, 0, sizeof fk);
  memcpy(fk.steps, steps, n * sizeof *steps);
  fk.n = n;
}

/* A status page in FPM's JSON layout. workers: the "processes" array
 * members, NULL for a short page. */
static char *status_json(uint64_t start_time, uint64_t accepted, uint64_t mcr,
                         const char *workers) {
  size_t len = 4096 + (workers ? strlen(workers) : 0);
  char *buf = malloc(len);
  assert_non_null(buf);
  snprintf(buf, len,
           "{\"pool\":\"www\",\"process manager\":\"static\",\"start "
           "time\":%llu,\"start since\":100,\"accepted conn\":%llu,\"listen "
           "queue\":0,\"max listen queue\":1,\"listen queue len\":511,\"idle "
           "processes\":2,\"active processes\":2,\"total processes\":4,\"max "
           "active processes\":3,\"max children reached\":%llu,\"slow "
           "requests\":0%s%s%s}",
           (unsigned long long)start_time, (unsigned long long)accepted,
           (unsigned long long)mcr, workers ? ", \"processes\":[" : "",
           workers ? workers : "", workers ? "]" : "");
  return buf;
}

static void worker_json(char *buf, size_t len, long pid, const char *state,
                        uint64_t requests, uint64_t duration_us,
                        const char *uri, const char *script_name) {
  snprintf(buf, len,
           "{\"pid\":%ld,\"state\":\"%s\",\"start time\":1000,\"start "
           "since\":100,\"requests\":%llu,\"request duration\":%llu,"
           "\"request method\":\"GET\",\"request uri\":\"%s\",\"content "
           "length\":0,\"user\":\"-\",\"script\":\"%s\",\"last request "
           "cpu\":0.00,\"last request memory\":2097152}",
           pid, state, (unsigned long long)requests,
           (unsigned long long)duration_us, uri, script_name);
}

/* Four workers: ours (the scrape), one slow running request, one idle, one
 * short running request. */
static char *four_workers(uint64_t slow_requests_count) {
  char w[4][640];
  worker_json(w[0], sizeof w[0], 40, "Running", 3, 5000000,
              "/status?json&full&" MARK, "-");
  worker_json(w[1], sizeof w[1], 42, "Running", slow_requests_count, 5000000,
              "/x.php?token=abc\\u0001def", "/var/www/x.php");
  worker_json(w[2], sizeof w[2], 44, "Idle", 9, 9000000, "/idle.php",
              "/var/www/idle.php");
  worker_json(w[3], sizeof w[3], 45, "Running", 2, 200000, "/quick.php",
              "/var/www/quick.php");
  char *all = malloc(4 * 640 + 8);
  assert_non_null(all);
  snprintf(all, 4 * 640 + 8, "%s,%s,%s,%s", w[0], w[1], w[2], w[3]);
  return all;
}

/* ---------------------------------------------------------- plumbing */

static struct phpfpm_pool *configure(const char *extra_key, double extra_num,
                                     const char *extra_str) {
  mock_reset();
  module_register();
  oconfig_item_t *root = mock_ci_new("Plugin");
  oconfig_item_t *p = mock_ci_block(root, "Pool", "www");
  mock_ci_str(p, "Socket", "/tmp/none.sock");
  if (extra_key != NULL && extra_str != NULL)
    mock_ci_str(p, extra_key, extra_str);
  else if (extra_key != NULL)
    mock_ci_num(p, extra_key, extra_num);
  int rc = mock_config_cb()(root);
  mock_ci_free(root);
  assert_int_equal(rc, 0);
  const struct mock_read *r = mock_read_find("phpfpm/www");
  assert_non_null(r);
  struct phpfpm_pool *pool = r->ud.data;
  pool->fetch = fake_fetch;
  return pool;
}

static int read_once(void) {
  return mock_call_read("phpfpm/www");
}

static int teardown(void **state) {
  (void)state;
  mock_reset();
  return 0;
}

/* The samples the model gives for json, with a fresh history (as the
 * plugin's first read). */
static size_t expected_samples(const char *json, enum fpm_worker_detail d,
                               size_t max_slots, struct fpm_sample **out) {
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(
      fpm_status_parse(json, strlen(json), FPM_FORMAT_JSON, &st, NULL),
      FPM_P_OK);
  struct fpm_model_opts o = {.self_marker = MARK, .slow_threshold_s = 1.0};
  struct fpm_history h = {0};
  struct fpm_metrics m;
  fpm_model_compute(&st, &o, &h, &m);
  fpm_history_free(&h);
  size_t n = fpm_metrics_samples(&m, d, max_slots, NULL, 0);
  *out = calloc(n + 1, sizeof **out);
  assert_non_null(*out);
  assert_int_equal(fpm_metrics_samples(&m, d, max_slots, *out, n), n);
  fpm_status_clear(&st);
  return n;
}

static void check_mapping(const char *json, enum fpm_worker_detail d,
                          size_t max_slots) {
  struct fpm_sample *want;
  size_t n = expected_samples(json, d, max_slots, &want);
  assert_true(n > 1);
  assert_int_equal(mock_n_values(), n);
  for (size_t i = 0; i < n; i++) {
    const struct mock_value *v = mock_value_at(i);
    assert_string_equal(v->plugin, "phpfpm");
    assert_string_equal(v->plugin_instance, "www");
    assert_string_equal(v->type, want[i].def->cd_type);
    assert_string_equal(v->type_instance, want[i].type_instance);
    assert_true(v->interval == DOUBLE_TO_CDTIME_T(10.0));
    if (want[i].def->kind == FPM_KIND_COUNTER) {
      assert_int_equal(v->ds_type, DS_TYPE_DERIVE);
      assert_true(v->value == floor(want[i].value));
    } else {
      assert_int_equal(v->ds_type, DS_TYPE_GAUGE);
      assert_true(v->value == want[i].value ||
                  (isnan(v->value) && isnan(want[i].value)));
    }
  }
  free(want);
}

/* ------------------------------------------------------------- tests */

static void test_dispatch_mapping(void **state) {
  (void)state;
  char *workers = four_workers(7);
  char *json = status_json(1000, 100, 0, workers);
  struct step s[] = {{FPM_OK, json, FPM_OK}};
  configure(NULL, 0, NULL);
  script(s, 1);
  assert_int_equal(read_once(), 0);
  check_mapping(json, FPM_WORKERS_SUMMARY, 64);
  /* anchors, independent of the model's table */
  const struct mock_value *v = mock_value_find("www", "bool", "up");
  assert_non_null(v);
  assert_true(v->value == 1.0);
  v = mock_value_find("www", "total_requests", "accepted");
  assert_non_null(v);
  assert_int_equal(v->ds_type, DS_TYPE_DERIVE);
  assert_true(v->value == 100.0);
  v = mock_value_find("www", "vs_processes", "active");
  assert_non_null(v);
  assert_int_equal(v->ds_type, DS_TYPE_GAUGE);
  assert_true(v->value == 2.0); /* 3 non-idle in the list, minus the scrape */
  assert_int_equal(mock_count_logs(LOG_ERR, ""), 0);
  free(json);
  free(workers);
}

static void test_slots_mode(void **state) {
  (void)state;
  char *workers = four_workers(7);
  char *json = status_json(1000, 100, 0, workers);
  struct step s[] = {{FPM_OK, json, FPM_OK}};
  struct phpfpm_pool *p = configure("Workers", 0, "slots");
  p->conf.max_slots = 2;
  script(s, 1);
  assert_int_equal(read_once(), 0);
  check_mapping(json, FPM_WORKERS_SLOTS, 2);
  size_t slot_values = 0;
  for (size_t i = 0; i < mock_n_values(); i++)
    if (strstr(mock_value_at(i)->type_instance, "slot") != NULL) {
      slot_values++;
      assert_null(strstr(mock_value_at(i)->type_instance, "slot2"));
    }
  assert_true(slot_values > 0);
  free(json);
  free(workers);
}

static void test_absent_fields_not_dispatched(void **state) {
  (void)state;
  /* an old FPM without "max children reached" and "slow requests" */
  static const char *json =
      "{\"pool\":\"www\",\"process manager\":\"static\",\"start "
      "time\":1000,\"start since\":100,\"accepted conn\":7,\"listen "
      "queue\":0,\"max listen queue\":0,\"listen queue len\":0,\"idle "
      "processes\":3,\"active processes\":1,\"total processes\":4,\"max "
      "active processes\":1}";
  struct step s[] = {{FPM_OK, json, FPM_OK}};
  configure(NULL, 0, NULL);
  script(s, 1);
  assert_int_equal(read_once(), 0);
  check_mapping(json, FPM_WORKERS_SUMMARY, 64);
  assert_null(mock_value_find("www", "total_events", "max_children_reached"));
  assert_null(mock_value_find("www", "total_requests", "slow"));
  for (size_t i = 0; i < mock_n_values(); i++)
    assert_null(strstr(mock_value_at(i)->type_instance, "max_children_r"));
}

static void test_failure_rate_limited(void **state) {
  (void)state;
  char *json = status_json(1000, 100, 0, NULL);
  struct step s[] = {{FPM_ECONNECT, NULL, FPM_ECONNECT},
                     {FPM_ECONNECT, NULL, FPM_ECONNECT},
                     {FPM_ECONNECT, NULL, FPM_ECONNECT},
                     {FPM_ECONNECT, NULL, FPM_ECONNECT},
                     {FPM_OK, json, FPM_OK},
                     {FPM_ETIMEOUT, NULL, FPM_ETIMEOUT}};
  configure(NULL, 0, NULL);
  script(s, 6);
  mock_set_time(1000);
  assert_int_equal(read_once(), 0); /* 0: no collectd back-off */
  assert_int_equal(mock_n_values(), 1);
  const struct mock_value *v = mock_value_at(0);
  assert_string_equal(v->type, "bool");
  assert_string_equal(v->type_instance, "up");
  assert_true(v->value == 0.0);
  const char *err = "phpfpm plugin: pool \"www\": unix:/tmp/none.sock: ";
  assert_int_equal(mock_count_logs(LOG_ERR, err), 1);
  assert_int_equal(mock_count_notifs(NOTIF_FAILURE, "unreachable"), 1);
  assert_string_equal(mock_notif_at(0)->plugin, "phpfpm");
  assert_string_equal(mock_notif_at(0)->plugin_instance, "www");
  assert_non_null(strstr(mock_notif_at(0)->message, "scripted failure 2"));

  assert_int_equal(read_once(), 0); /* same second: no new log line */
  assert_int_equal(mock_count_logs(LOG_ERR, err), 1);
  mock_set_time(1010); /* one interval later: reported again */
  assert_int_equal(read_once(), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, err), 2);
  mock_set_time(1020); /* then the gap doubles */
  assert_int_equal(read_once(), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, err), 2);
  assert_int_equal(mock_count_notifs(-1, ""), 1); /* once per outage */
  assert_int_equal(fk.ping_calls, 0); /* no ping on connect errors */

  mock_set_time(1030);
  assert_int_equal(read_once(), 0); /* back */
  assert_int_equal(mock_count_notifs(NOTIF_OKAY, "reachable again"), 1);
  assert_int_equal(mock_count_logs(LOG_INFO, "status readable again"), 1);
  assert_true(mock_value_find("www", "bool", "up")->value == 1.0);

  assert_int_equal(read_once(), 0); /* a new outage: logged at once */
  assert_int_equal(mock_count_logs(LOG_ERR, err), 3);
  assert_int_equal(mock_count_notifs(NOTIF_FAILURE, "unreachable"), 2);
  free(json);
}

static void test_ping_hint(void **state) {
  (void)state;
  struct step s[] = {{FPM_EHTTP, NULL, FPM_OK}, {FPM_EPARSE, NULL, FPM_EHTTP}};
  configure(NULL, 0, NULL);
  script(s, 2);
  mock_set_time(1000);
  assert_int_equal(read_once(), 0);
  assert_int_equal(fk.ping_calls, 1);
  assert_int_equal(mock_count_logs(LOG_ERR,
                                   "(ping /ping answers: php-fpm runs, the "
                                   "status page is the problem"),
                   1);
  mock_set_time(2000);
  assert_int_equal(read_once(), 0);
  assert_int_equal(fk.ping_calls, 2);
  assert_int_equal(mock_count_logs(LOG_ERR, "ping /ping answers"), 1);
  assert_int_equal(mock_count_logs(LOG_ERR, "scripted failure 6"), 1);
}

static void test_restart(void **state) {
  (void)state;
  char *before = status_json(1000, 500, 0, NULL);
  char *after = status_json(2000, 3, 0, NULL);
  struct step s[] = {{FPM_OK, before, FPM_OK}, {FPM_OK, after, FPM_OK}};
  configure(NULL, 0, NULL);
  script(s, 2);
  assert_int_equal(read_once(), 0);
  assert_int_equal(mock_count_notifs(-1, ""), 0);
  assert_true(mock_value_find("www", "total_requests", "accepted")->value ==
              500);
  assert_int_equal(read_once(), 0);
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "restarted"), 1);
  /* the raw counter goes down; collectd turns the negative DERIVE rate into
   * NaN because the type's minimum is 0: no negative or giant rate */
  const struct mock_value *v =
      mock_value_find("www", "total_requests", "accepted");
  assert_int_equal(v->ds_type, DS_TYPE_DERIVE);
  assert_true(v->value == 3);
  const data_set_t *ds = plugin_get_ds("total_requests");
  assert_non_null(ds);
  assert_true(ds->ds[0].min == 0.0);
  free(before);
  free(after);
}

static void test_max_children_reached(void **state) {
  (void)state;
  char *a = status_json(1000, 10, 0, NULL);
  char *b = status_json(1000, 20, 2, NULL);
  struct step s[] = {
      {FPM_OK, a, FPM_OK}, {FPM_OK, b, FPM_OK}, {FPM_OK, b, FPM_OK}};
  configure(NULL, 0, NULL);
  script(s, 3);
  for (int i = 0; i < 3; i++)
    assert_int_equal(read_once(), 0);
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "max children reached "
                                                    "went up by 2 to 2"),
                   1);
  assert_int_equal(mock_n_notifs(), 1);
  free(a);
  free(b);
}

static void test_slow_requests(void **state) {
  (void)state;
  char *w7 = four_workers(7), *w8 = four_workers(8);
  char *j7 = status_json(1000, 10, 0, w7), *j8 = status_json(1000, 11, 0, w8);
  struct step s[] = {
      {FPM_OK, j7, FPM_OK}, {FPM_OK, j7, FPM_OK}, {FPM_OK, j8, FPM_OK}};
  configure(NULL, 0, NULL);
  script(s, 3);
  assert_int_equal(read_once(), 0);
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "slow request"), 1);
  const struct mock_notif *n = mock_notif_at(0);
  assert_non_null(strstr(n->message, "pid 42 has run 5.0 s"));
  assert_non_null(strstr(n->message, "GET /x.php?token=abc?def"));
  assert_non_null(strstr(n->message, "script /var/www/x.php"));
  for (const char *c = n->message; *c; c++)
    assert_true((unsigned char)*c >= 0x20);
  assert_int_equal(read_once(), 0); /* same request: no new notification */
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "slow request"), 1);
  assert_int_equal(read_once(), 0); /* pid 42's next request is slow too */
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "slow request"), 2);
  assert_int_equal(mock_count_notifs(-1, "pid 40"), 0); /* the scrape */
  assert_int_equal(mock_count_notifs(-1, "pid 44"), 0); /* idle */
  assert_int_equal(mock_count_notifs(-1, "pid 45"), 0); /* short */
  free(w7);
  free(w8);
  free(j7);
  free(j8);
}

static void test_slow_message_fits(void **state) {
  (void)state;
  char uri[400], scr[300], w[1200];
  memset(uri, 'u', sizeof uri - 1);
  uri[0] = '/';
  uri[sizeof uri - 1] = '\0';
  memset(scr, 's', sizeof scr - 1);
  scr[0] = '/';
  scr[sizeof scr - 1] = '\0';
  worker_json(w, sizeof w, 1234567, "Running", 99999, 123456789012ull, uri,
              scr);
  char *j = status_json(1000, 10, 0, w);
  struct step s[] = {{FPM_OK, j, FPM_OK}};
  configure(NULL, 0, NULL);
  script(s, 1);
  assert_int_equal(read_once(), 0);
  assert_int_equal(mock_count_notifs(NOTIF_WARNING, "slow request"), 1);
  const char *msg = mock_notif_at(0)->message;
  size_t len = strlen(msg);
  assert_true(len < NOTIF_MAX_MSG_LEN - 1); /* not cut by collectd's limit */
  assert_int_equal(msg[len - 1], ')');
  assert_non_null(strstr(msg, "uuu... (script /sss"));
  assert_non_null(strstr(msg, "sss...)"));
  free(j);
}

static void test_notifications_off(void **state) {
  (void)state;
  char *w = four_workers(7);
  char *j = status_json(1000, 10, 0, w);
  struct step s[] = {{FPM_ECONNECT, NULL, FPM_OK}, {FPM_OK, j, FPM_OK}};
  struct phpfpm_pool *p = configure("Notifications", 0, "false");
  assert_int_equal(p->conf.notifications, 0);
  script(s, 2);
  assert_int_equal(read_once(), 0);
  assert_int_equal(read_once(), 0);
  assert_int_equal(mock_n_notifs(), 0);
  assert_int_equal(mock_count_logs(LOG_ERR, "pool \"www\""), 1);
  free(w);
  free(j);
}

/* WorkerMemory true on a status page whose PIDs are not this host's
 * php-fpm workers (the fixture's pids 40..45 are kernel threads or
 * nothing here): no memory value is dispatched, the other values are, and
 * the reason is logged once, not at every read. */
static void test_worker_memory_not_local(void **state) {
  (void)state;
  char *w = four_workers(7);
  char *j = status_json(1000, 10, 0, w);
  struct step s[] = {{FPM_OK, j, FPM_OK}, {FPM_OK, j, FPM_OK}};
  struct phpfpm_pool *p = configure("WorkerMemory", 0, "true");
  assert_int_equal(p->conf.worker_memory, 1);
  script(s, 2);
  assert_int_equal(read_once(), 0);
  assert_int_equal(read_once(), 0);
  assert_non_null(mock_value_find("www", "vs_processes", "total"));
  for (size_t i = 0; i < mock_n_values(); i++) {
    const struct mock_value *v = mock_value_at(i);
    assert_null(strstr(v->type_instance, "rss_"));
    assert_null(strstr(v->type_instance, "pss_"));
    assert_null(strstr(v->type_instance, "memory_measured"));
  }
  assert_int_equal(
      mock_count_logs(LOG_NOTICE, "pool \"www\": WorkerMemory: not local: "),
      1);
  assert_int_equal(p->mem.state, FPM_PROCMEM_NOT_LOCAL);
  free(w);
  free(j);
}

static void test_deadline_is_start_plus_timeout(void **state) {
  (void)state;
  char *j = status_json(1000, 10, 0, NULL);
  struct step s[] = {{FPM_OK, j, FPM_OK}};
  configure("Timeout", 0.25, NULL);
  script(s, 1);
  int64_t before = fcgi_now_ms();
  assert_int_equal(read_once(), 0);
  assert_true(fk.deadline >= before + 250);
  assert_true(fk.deadline <= fk.called_at + 250);
  free(j);
}

static void test_types_are_stock(void **state) {
  (void)state;
  for (int id = 0; id < FPM_M__COUNT; id++) {
    const struct fpm_metric_def *def = fpm_metric_def_get(id);
    assert_non_null(def);
    const data_set_t *ds = plugin_get_ds(def->cd_type);
    if (ds == NULL)
      fprintf(stderr, "type %s (%s) missing\n", def->cd_type, def->key);
    assert_non_null(ds);
    assert_int_equal(ds->ds_num, 1);
    assert_int_equal(ds->ds[0].type, def->kind == FPM_KIND_COUNTER
                                         ? DS_TYPE_DERIVE
                                         : DS_TYPE_GAUGE);
    if (def->kind == FPM_KIND_COUNTER)
      assert_true(ds->ds[0].min == 0.0); /* resets give NaN, not < 0 */
  }
}

static void test_text_helpers(void **state) {
  (void)state;
  char out[32];
  phpfpm_clean_text("a\tb\x7f"
                    "c",
                    100, out, sizeof out);
  assert_string_equal(out, "a?b?c");
  phpfpm_clean_text("abcdefghij", 4, out, sizeof out);
  assert_string_equal(out, "abcd...");
  phpfpm_clean_text("abcdefghij", 100, out, 8);
  assert_string_equal(out, "abcd...");
  phpfpm_clean_text("abc", 100, out, 4);
  assert_string_equal(out, "abc");
  phpfpm_instance_name("a/b\nc", out, sizeof out);
  assert_string_equal(out, "a_b_c");
  phpfpm_instance_name("abcdef", out, 4);
  assert_string_equal(out, "abc");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_dispatch_mapping, teardown),
      cmocka_unit_test_teardown(test_slots_mode, teardown),
      cmocka_unit_test_teardown(test_absent_fields_not_dispatched, teardown),
      cmocka_unit_test_teardown(test_failure_rate_limited, teardown),
      cmocka_unit_test_teardown(test_ping_hint, teardown),
      cmocka_unit_test_teardown(test_restart, teardown),
      cmocka_unit_test_teardown(test_max_children_reached, teardown),
      cmocka_unit_test_teardown(test_slow_requests, teardown),
      cmocka_unit_test_teardown(test_slow_message_fits, teardown),
      cmocka_unit_test_teardown(test_notifications_off, teardown),
      cmocka_unit_test_teardown(test_worker_memory_not_local, teardown),
      cmocka_unit_test_teardown(test_deadline_is_start_plus_timeout, teardown),
      cmocka_unit_test_teardown(test_types_are_stock, teardown),
      cmocka_unit_test_teardown(test_text_helpers, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
