/*
 * test_fpm_status.c: the status parsers on real php-fpm 8.2.36 captures
 * (tests/fixtures/status/, copied from the shared fixtures): exact values
 * read from the captures, every split of the input giving the same
 * snapshot, and JSON and text of the same pool agreeing.
 */
#include "fpm_model.h"
#include "test_fpm_status_helpers.h"

#define JSON FPM_FORMAT_JSON
#define TEXT FPM_FORMAT_TEXT

static void assert_pool(const struct fpm_status *st, const char *pool,
                        const char *pm) {
  assert_true(fpm_status_has(st, FPM_F_POOL));
  assert_true(fpm_status_has(st, FPM_F_PROCESS_MANAGER));
  assert_string_equal(st->pool, pool);
  assert_string_equal(st->process_manager, pm);
}

static void test_www_idle_json(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_fixture("php82_www_idle_status_json.raw", JSON, &st);
  assert_pool(&st, "www", "static");
  assert_int_equal(st.v[FPM_F_START_TIME], 1795873806);
  assert_int_equal(st.v[FPM_F_START_SINCE], 248);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
  assert_int_equal(st.v[FPM_F_IDLE_PROCESSES], 7);
  assert_int_equal(st.v[FPM_F_ACTIVE_PROCESSES], 1);
  assert_int_equal(st.v[FPM_F_TOTAL_PROCESSES], 8);
  assert_int_equal(st.v[FPM_F_MAX_ACTIVE_PROCESSES], 4);
  /* 8.2 has no memory peak: absent, not zero */
  assert_false(fpm_status_has(&st, FPM_F_MEMORY_PEAK));
  assert_int_equal(st.present, (1u << FPM_F_MEMORY_PEAK) - 1);
  assert_false(st.has_workers);
  assert_int_equal(st.n_workers, 0);
  assert_int_equal(st.format, FPM_FORMAT_JSON);
  fpm_status_clear(&st);
}

static void test_www_idle_json_full(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_fixture("php82_www_idle_status_json_full.raw", JSON, &st);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 49);
  assert_true(st.has_workers);
  assert_int_equal(st.n_workers, 8);
  assert_int_equal(st.repaired, 0);
  assert_int_equal(st.dropped, 0);
  const struct fpm_worker *w = &st.workers[0];
  assert_int_equal(w->present, (1u << FPM_W__COUNT) - 1);
  assert_int_equal(w->pid, 20559);
  assert_int_equal(w->state, FPM_STATE_RUNNING);
  assert_int_equal(w->start_time, 1795873806);
  assert_int_equal(w->requests, 7);
  assert_int_equal(w->request_duration_us, 87);
  assert_string_equal(w->method, "GET");
  assert_string_equal(w->uri, "/status?json&full");
  assert_string_equal(w->user, "-");
  assert_string_equal(w->script, "-");
  w = &st.workers[7];
  assert_int_equal(w->pid, 20566);
  assert_int_equal(w->state, FPM_STATE_IDLE);
  assert_int_equal(w->request_duration_us, 2000488);
  assert_string_equal(w->uri, "/finish.php?s=2");
  assert_string_equal(w->script, "/tmp/fpmres/www/finish.php");
  assert_int_equal(w->last_request_memory, 2097152);
  assert_string_equal(st.workers[5].method, "HEAD");
  fpm_status_clear(&st);
}

static void test_www_idle_text(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_fixture("php82_www_idle_status_text.raw", TEXT, &st);
  assert_pool(&st, "www", "static");
  /* 28/Nov/2026:13:50:06 +0000, the same instant as JSON's epoch */
  assert_int_equal(st.v[FPM_F_START_TIME], 1795873806);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 46);
  assert_int_equal(st.v[FPM_F_MAX_ACTIVE_PROCESSES], 4);
  assert_int_equal(st.present, (1u << FPM_F_MEMORY_PEAK) - 1);
  assert_false(st.has_workers);
  assert_int_equal(st.format, FPM_FORMAT_TEXT);
  fpm_status_clear(&st);
}

static void test_www_idle_text_full(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_fixture("php82_www_idle_status_text_full.raw", TEXT, &st);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 47);
  assert_int_equal(st.n_workers, 8);
  const struct fpm_worker *w = &st.workers[0];
  assert_int_equal(w->present, (1u << FPM_W__COUNT) - 1);
  assert_int_equal(w->pid, 20559);
  assert_int_equal(w->state, FPM_STATE_IDLE);
  assert_int_equal(w->start_time, 1795873806);
  assert_int_equal(w->request_duration_us, 11);
  assert_string_equal(w->uri, "-");
  assert_int_equal(w->last_request_memory, 2097152);
  assert_int_equal(st.workers[1].state, FPM_STATE_RUNNING);
  assert_string_equal(st.workers[1].uri, "/status?full");
  assert_string_equal(st.workers[2].method, "-");
  assert_string_equal(st.workers[3].script, "/tmp/fpmres/www/fatal.php");
  fpm_status_clear(&st);
}

/* The hostile strings of the load capture: JSON (escaped by 8.2.36) and
 * text (raw) must decode to the same bytes. */
static void test_load_json_and_text_full(void **state) {
  (void)state;
  struct fpm_status js, tx;
  fpm_status_init(&js);
  fpm_status_init(&tx);
  parse_fixture("php82_www_load_status_json_full.raw", JSON, &js);
  parse_fixture("php82_www_load_status_text_full.raw", TEXT, &tx);
  assert_int_equal(js.v[FPM_F_SLOW_REQUESTS], 7);
  assert_int_equal(js.v[FPM_F_ACTIVE_PROCESSES], 8);
  assert_int_equal(js.n_workers, 8);
  assert_int_equal(tx.n_workers, 8);
  assert_int_equal(js.repaired, 0); /* 8.2.36 JSON needs no repair */
  static const char ctl[] = "/ctl\x01\x1f\x7f\tname.php?s=10&c=\x01\x02\t\n"
                            "\x1b[31m";
  assert_string_equal(js.workers[0].uri, ctl);
  assert_string_equal(tx.workers[0].uri, ctl);
  assert_string_equal(js.workers[1].uri, "/slow.php?s=10&q=\"quoted\"&b=back"
                                         "\\slash&t=<tag>&a=amp&x");
  assert_string_equal(js.workers[2].script,
                      "/tmp/fpmres/www/we\"ird\\name.php");
  assert_string_equal(js.workers[3].user, "us\"er\\x");
  assert_string_equal(js.workers[3].method, "POST");
  assert_int_equal(js.workers[3].content_length, 11);
  assert_string_equal(js.workers[4].uri,
                      "/\xc3\xbcn\xc3\xaf"
                      "c\xc3\xb6"
                      "d\xc3\xa9/\xe6\x97\xa5"
                      "\xe6\x9c\xac.php?s=10&emoji=\xf0\x9f\x98\x80&bad=");
  /* text keeps the invalid bytes JSON dropped */
  assert_memory_equal(tx.workers[4].uri + strlen(js.workers[4].uri), "\xff\xfe",
                      3);
  for (size_t i = 0; i < 8; i++) {
    if (i == 4 || i == 5)
      continue; /* invalid UTF-8: dropped in JSON, raw in text */
    if (i == 6)
      continue; /* the scrape itself (a different request each) */
    assert_string_equal(js.workers[i].uri, tx.workers[i].uri);
    assert_string_equal(js.workers[i].user, tx.workers[i].user);
    assert_string_equal(js.workers[i].script, tx.workers[i].script);
    assert_string_equal(js.workers[i].method, tx.workers[i].method);
    assert_int_equal(js.workers[i].pid, tx.workers[i].pid);
  }
  fpm_status_clear(&js);
  fpm_status_clear(&tx);
}

static void test_weird_method_finishing(void **state) {
  (void)state;
  struct fpm_status js, tx;
  fpm_status_init(&js);
  fpm_status_init(&tx);
  parse_fixture(
      "php82_www_status_json_full_weird_method_and_finishing_state.raw", JSON,
      &js);
  parse_fixture(
      "php82_www_status_text_full_weird_method_and_finishing_state.raw", TEXT,
      &tx);
  assert_int_equal(js.workers[0].state, FPM_STATE_FINISHING);
  assert_int_equal(js.workers[0].pid, 4172);
  assert_string_equal(js.workers[6].method, "GE\"T\\<x>&");
  assert_string_equal(tx.workers[6].method, "GE\"T\\<x>&");
  assert_int_equal(tx.workers[0].state, FPM_STATE_FINISHING);
  fpm_status_clear(&js);
  fpm_status_clear(&tx);
}

static void test_idle_after_weird(void **state) {
  (void)state;
  struct fpm_status js, tx;
  fpm_status_init(&js);
  fpm_status_init(&tx);
  parse_fixture("php82_www_idle_after_weird_status_json_full.raw", JSON, &js);
  parse_fixture("php82_www_idle_after_weird_status_text_full.raw", TEXT, &tx);
  assert_int_equal(js.n_workers, 8);
  assert_int_equal(tx.n_workers, 8);
  /* Idle rows keep the previous request's strings */
  size_t weird = 0;
  for (size_t i = 0; i < js.n_workers; i++) {
    if (strcmp(js.workers[i].user, "us\"er\\x") == 0) {
      weird++;
      assert_int_equal(js.workers[i].state, FPM_STATE_IDLE);
    }
  }
  assert_int_equal(weird, 1);
  fpm_status_clear(&js);
  fpm_status_clear(&tx);
}

static void test_cpu_float(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_fixture("php82_www_status_json_full_after_cpu_requests.raw", JSON, &st);
  assert_int_equal(st.workers[3].pid, 20562);
  assert_float_equal(st.workers[3].last_request_cpu, 69.68, 1e-9);
  assert_float_equal(st.workers[4].last_request_cpu, 55.36, 1e-9);
  assert_string_equal(st.workers[1].user, "us\"er\\x");
  assert_int_equal(st.v[FPM_F_SLOW_REQUESTS], 8);
  fpm_status_clear(&st);
}

static void test_dynamic_tcp(void **state) {
  (void)state;
  struct fpm_status js, tx;
  fpm_status_init(&js);
  fpm_status_init(&tx);
  parse_fixture("php82_dyn_tcp_saturated_via_status_listen_status_json.raw",
                JSON, &js);
  parse_fixture("php82_dyn_tcp_saturated_via_status_listen_status_text.raw",
                TEXT, &tx);
  assert_pool(&js, "dyn", "dynamic");
  assert_int_equal(js.v[FPM_F_LISTEN_QUEUE], 4);
  assert_int_equal(js.v[FPM_F_MAX_LISTEN_QUEUE], 5);
  assert_int_equal(js.v[FPM_F_LISTEN_QUEUE_LEN], 64);
  assert_int_equal(js.v[FPM_F_ACCEPTED_CONN], 13);
  char why[256];
  /* the same moment in both formats: every pool figure agrees */
  assert_int_equal(fpm_status_diff(&js, &tx, why, sizeof why), 0);
  fpm_status_clear(&js);
  fpm_status_clear(&tx);
  parse_fixture(
      "php82_dyn_tcp_saturated_via_status_listen_status_json_full.raw", JSON,
      &js);
  parse_fixture(
      "php82_dyn_tcp_saturated_via_status_listen_status_text_full.raw", TEXT,
      &tx);
  assert_int_equal(js.n_workers, 3);
  assert_int_equal(tx.n_workers, 3);
  assert_string_equal(js.workers[0].uri, "/slow.php?s=5&i=1");
  fpm_status_clear(&js);
  fpm_status_clear(&tx);
  parse_fixture("php82_dyn_tcp_idle_via_pool_port_status_text_full.raw", TEXT,
                &tx);
  assert_int_equal(tx.n_workers, 1);
  assert_int_equal(tx.workers[0].pid, 20567);
  assert_string_equal(tx.workers[0].uri, "/fpm-status?full");
  assert_int_equal(tx.v[FPM_F_LISTEN_QUEUE_LEN], 64);
  fpm_status_clear(&tx);
}

/* Pool figures of JSON and text captured at nearly the same time: the ones
 * that cannot move between the two scrapes must agree. */
static void assert_stable_agree(const char *json, const char *text) {
  struct fpm_status js, tx;
  fpm_status_init(&js);
  fpm_status_init(&tx);
  parse_fixture(json, JSON, &js);
  parse_fixture(text, TEXT, &tx);
  assert_string_equal(js.pool, tx.pool);
  assert_string_equal(js.process_manager, tx.process_manager);
  assert_int_equal(js.present, tx.present);
  static const enum fpm_pool_field stable[] = {
      FPM_F_START_TIME, FPM_F_LISTEN_QUEUE_LEN, FPM_F_TOTAL_PROCESSES,
      FPM_F_MAX_CHILDREN_REACHED};
  for (size_t i = 0; i < sizeof stable / sizeof stable[0]; i++)
    assert_int_equal(js.v[stable[i]], tx.v[stable[i]]);
  /* counters only grow between the two scrapes */
  assert_true(js.v[FPM_F_ACCEPTED_CONN] + 10 > tx.v[FPM_F_ACCEPTED_CONN]);
  fpm_status_clear(&js);
  fpm_status_clear(&tx);
}

static void test_json_text_agree(void **state) {
  (void)state;
  assert_stable_agree("php82_www_idle_status_json.raw",
                      "php82_www_idle_status_text.raw");
  assert_stable_agree("php82_www_idle_status_json_full.raw",
                      "php82_www_idle_status_text_full.raw");
  assert_stable_agree("php82_www_load_status_json.raw",
                      "php82_www_load_status_text.raw");
  assert_stable_agree("php82_dyn_tcp_idle_via_pool_port_status_json.raw",
                      "php82_dyn_tcp_idle_via_pool_port_status_text.raw");
  assert_stable_agree(
      "php82_dyn_tcp_idle_via_status_listen_status_json_full.raw",
      "php82_dyn_tcp_idle_via_status_listen_status_text_full.raw");
  assert_stable_agree("php82_poolname_backslash_markup_status_json.raw",
                      "php82_poolname_backslash_markup_status_text.raw");
}

static void test_weird_pool_name(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  /* invalid JSON even on 8.2.36: `\o` in the raw pool name */
  parse_fixture("php82_poolname_backslash_markup_status_json_full.raw", JSON,
                &st);
  assert_string_equal(st.pool, "p\\o<o>&l \xc3\xb6l");
  assert_int_equal(st.n_workers, 2);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.workers[1].pid, 30000);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 6);
  fpm_status_clear(&st);
  parse_fixture("php82_poolname_backslash_markup_status_text.raw", TEXT, &st);
  assert_string_equal(st.pool, "p\\o<o>&l \xc3\xb6l");
  fpm_status_clear(&st);
}

static void test_reload(void **state) {
  (void)state;
  struct fpm_status a, b;
  fpm_status_init(&a);
  fpm_status_init(&b);
  parse_fixture("php82_www_status_json_before_sigusr2.raw", JSON, &a);
  parse_fixture("php82_www_status_json_full_after_sigusr2.raw", JSON, &b);
  assert_int_equal(a.v[FPM_F_START_TIME], 1795873806);
  assert_int_equal(a.v[FPM_F_ACCEPTED_CONN], 174);
  assert_int_equal(b.v[FPM_F_START_TIME], 1795874189);
  assert_int_equal(b.v[FPM_F_ACCEPTED_CONN], 1);
  assert_int_equal(b.n_workers, 8);
  assert_int_equal(b.workers[1].requests, 0);
  assert_string_equal(b.workers[1].method, "-");
  fpm_status_clear(&a);
  fpm_status_clear(&b);
  parse_fixture("php82_www_status_json_after_sigusr1.raw", JSON, &a);
  assert_int_equal(a.v[FPM_F_START_TIME], 1795873806);
  fpm_status_clear(&a);
}

static void test_query_variants(void **state) {
  (void)state;
  static const struct {
    const char *name;
    enum fpm_format fmt;
    size_t workers;
  } cases[] = {
      {"php82_status_query_json-eq-0.raw", JSON, 0},
      {"php82_status_query_json-array-eq-1.raw", JSON, 0},
      {"php82_status_query_prefix-key-j.raw", JSON, 0},
      {"php82_status_query_json_full-eq-no.raw", JSON, 8},
      {"php82_status_query_prefix-key-f.raw", TEXT, 8},
      {"php82_status_query_full-eq-0.raw", TEXT, 8},
      {"php82_status_query_JSON-uppercase.raw", TEXT, 0},
      {"php82_status_query_unknown-param-foo.raw", TEXT, 0},
      {"php82_www_after_10_scrapes_status_text_full.raw", TEXT, 8},
      {"php82_www_status_text_full_with_4_nginx_keepalive_conns_pinned.raw",
       TEXT, 8},
      {"php82_dyn_tcp_saturated_via_pool_port_json_full_QUEUED.raw", JSON, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fpm_status st;
    fpm_status_init(&st);
    parse_fixture(cases[i].name, cases[i].fmt, &st);
    assert_int_equal(st.n_workers, cases[i].workers);
    assert_true(fpm_status_has(&st, FPM_F_ACCEPTED_CONN));
    assert_true(st.pool[0] != '\0');
    fpm_status_clear(&st);
  }
}

/* The pinned keep-alive capture: 4 workers in "Reading headers". */
static void test_keepalive_pinned(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_fixture(
      "php82_www_status_text_full_with_4_nginx_keepalive_conns_pinned.raw",
      TEXT, &st);
  size_t reading = 0;
  for (size_t i = 0; i < st.n_workers; i++)
    reading += st.workers[i].state == FPM_STATE_READING_HEADERS;
  assert_int_equal(reading, 4);
  fpm_status_clear(&st);
}

static void test_error_pages(void **state) {
  (void)state;
  static const char *const names[] = {
      "php82_status_not_configured_404.raw",
      "php82_status_not_configured_existing_nonphp_file_403.raw",
      "php82_status_query_html_json.raw"};
  for (size_t i = 0; i < 3; i++) {
    for (int fmt = 0; fmt < 2; fmt++) {
      size_t n;
      char *b = fx_body(names[i], &n);
      struct fpm_status st;
      struct fpm_parse_error err;
      fpm_status_init(&st);
      fpm_perr e = parse_all_splits(b, n, (enum fpm_format)fmt, &st, &err);
      assert_int_equal(e, FPM_P_ESCHEMA);
      assert_int_equal(err.code, FPM_P_ESCHEMA);
      assert_int_equal(err.offset, 0);
      assert_true(strlen(err.message) > 20);
      assert_memory_equal(err.excerpt, b, 6);
      assert_int_equal(st.present, 0);
      fpm_status_clear(&st);
      free(b);
    }
  }
  size_t n;
  char *b = fx_body("php82_status_no_request_method.raw", &n);
  assert_int_equal(n, 0);
  struct fpm_status st;
  fpm_status_init(&st);
  struct fpm_parse_error err;
  assert_int_equal(fpm_status_parse(b, n, JSON, &st, &err), FPM_P_ETRUNCATED);
  assert_non_null(strstr(err.message, "empty"));
  assert_int_equal(fpm_status_parse(b, n, TEXT, &st, &err), FPM_P_ETRUNCATED);
  fpm_status_clear(&st);
  free(b);
}

/* A slot no process holds (seen on php-fpm 8.2 ondemand pools under steady
 * scraping): pid 0, state "(null)", start time 0 and a request duration of
 * about the whole epoch. It is no worker: left out of the list, counted in
 * phantom, and the model's counts, utilisation and running statistics are
 * those of the real worker alone. */
#define PHANTOM_POOL_JSON                                                      \
  "{\"pool\":\"od\",\"process manager\":\"ondemand\",\"start time\":"          \
  "1733580000,\"start since\":120,\"accepted conn\":40,\"listen queue\":0,"    \
  "\"max listen queue\":0,\"listen queue len\":0,\"idle processes\":0,"        \
  "\"active processes\":1,\"total processes\":1,\"max active processes\":1,"   \
  "\"max children reached\":0,\"slow requests\":0, \"processes\":["
#define PHANTOM_SELF_JSON                                                      \
  "{\"pid\":4242,\"state\":\"Running\",\"start time\":1733580100,\"start "     \
  "since\":20,\"requests\":7,\"request duration\":120,\"request method\":"     \
  "\"GET\",\"request uri\":\"/status?json&full&fpmstat=me\",\"content "        \
  "length\":0,\"user\":\"-\",\"script\":\"-\",\"last request cpu\":0.00,"      \
  "\"last request memory\":0}"
#define PHANTOM_SLOT_JSON                                                      \
  "{\"pid\":0,\"state\":\"(null)\",\"start time\":0,\"start since\":"          \
  "1733580120,\"requests\":0,\"request duration\":1698000000,\"request "       \
  "method\":\"-\",\"request uri\":\"-\",\"content length\":0,\"user\":\"-\","  \
  "\"script\":\"-\",\"last request cpu\":0.00,\"last request memory\":0}"

static const char phantom_text[] =
    "pool:                 od\n"
    "process manager:      ondemand\n"
    "start time:           07/Dec/2024:14:00:00 +0000\n"
    "start since:          120\n"
    "accepted conn:        40\n"
    "listen queue:         0\n"
    "max listen queue:     0\n"
    "listen queue len:     0\n"
    "idle processes:       0\n"
    "active processes:     1\n"
    "total processes:      1\n"
    "max active processes: 1\n"
    "max children reached: 0\n"
    "slow requests:        0\n"
    "\n"
    "************************\n"
    "pid:                  0\n"
    "state:                (null)\n"
    "start time:           01/Jan/1970:00:00:00 +0000\n"
    "start since:          1733580120\n"
    "requests:             0\n"
    "request duration:     1698000000\n"
    "request method:       -\n"
    "request URI:          -\n"
    "content length:       0\n"
    "user:                 -\n"
    "script:               -\n"
    "last request cpu:     0.00\n"
    "last request memory:  0\n"
    "\n"
    "************************\n"
    "pid:                  4242\n"
    "state:                Running\n"
    "start time:           07/Dec/2024:14:01:40 +0000\n"
    "start since:          20\n"
    "requests:             7\n"
    "request duration:     120\n"
    "request method:       GET\n"
    "request URI:          /status?full&fpmstat=me\n"
    "content length:       0\n"
    "user:                 -\n"
    "script:               -\n"
    "last request cpu:     0.00\n"
    "last request memory:  0\n";

static void check_phantom(const char *b, size_t n, enum fpm_format fmt) {
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b, n, fmt, &st);
  assert_int_equal(st.n_workers, 1);
  assert_int_equal(st.phantom, 1);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.workers[0].pid, 4242);
  struct fpm_model_opts o = {.self_marker = "fpmstat=me"};
  struct fpm_metrics m;
  fpm_model_compute(&st, &o, NULL, &m);
  assert_true(m.from_list);
  assert_true(m.self_found);
  assert_int_equal(m.total, 1);
  assert_int_equal(m.active, 0);
  assert_int_equal(m.idle, 1);
  assert_int_equal(m.by_state[FPM_STATE_UNKNOWN], 0);
  assert_true(m.utilisation == 0.0);
  assert_true(m.oldest_running_s == 0.0);
  assert_int_equal(m.running_over_threshold, 0);
  fpm_status_clear(&st);
}

static void test_phantom_slots(void **state) {
  (void)state;
  /* the phantom before, between and after real entries */
  static const char *const bodies[] = {
      PHANTOM_POOL_JSON PHANTOM_SLOT_JSON "," PHANTOM_SELF_JSON "]}",
      PHANTOM_POOL_JSON PHANTOM_SELF_JSON "," PHANTOM_SLOT_JSON "]}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    check_phantom(bodies[i], strlen(bodies[i]), FPM_FORMAT_JSON);
  check_phantom(phantom_text, sizeof phantom_text - 1, FPM_FORMAT_TEXT);

  /* pid 0 alone, or "(null)" alone, is enough */
  char *b =
      strdup(PHANTOM_POOL_JSON PHANTOM_SELF_JSON "," PHANTOM_SLOT_JSON "]}");
  assert_non_null(b);
  char *st_null = strstr(b, "\"(null)\"");
  memcpy(st_null, "\"Idle\"  ", 8);
  check_phantom(b, strlen(b), FPM_FORMAT_JSON);
  free(b);
  b = strdup(PHANTOM_POOL_JSON PHANTOM_SELF_JSON "," PHANTOM_SLOT_JSON "]}");
  assert_non_null(b);
  char *pid0 = strstr(b, "\"pid\":0,");
  memcpy(pid0, "\"pid\":9,", 8);
  check_phantom(b, strlen(b), FPM_FORMAT_JSON);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_www_idle_json),
      cmocka_unit_test(test_www_idle_json_full),
      cmocka_unit_test(test_www_idle_text),
      cmocka_unit_test(test_www_idle_text_full),
      cmocka_unit_test(test_load_json_and_text_full),
      cmocka_unit_test(test_weird_method_finishing),
      cmocka_unit_test(test_idle_after_weird),
      cmocka_unit_test(test_cpu_float),
      cmocka_unit_test(test_dynamic_tcp),
      cmocka_unit_test(test_json_text_agree),
      cmocka_unit_test(test_weird_pool_name),
      cmocka_unit_test(test_reload),
      cmocka_unit_test(test_query_variants),
      cmocka_unit_test(test_keepalive_pinned),
      cmocka_unit_test(test_error_pages),
      cmocka_unit_test(test_phantom_slots),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
