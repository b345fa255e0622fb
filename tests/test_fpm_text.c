/*
 * test_fpm_text.c: the plain-text status parser on hand-made bodies: the
 * date format, values with embedded newlines, fields of other versions,
 * truncation, caps and bodies that are not status pages.
 */
#include "fpm_parse_int.h"
#include "test_fpm_status_helpers.h"

#define TEXT FPM_FORMAT_TEXT

static const char pool_part[] = "pool:                 www\n"
                                "process manager:      dynamic\n"
                                "start time:           28/Nov/2026:13:50:06 "
                                "+0000\n"
                                "start since:          248\n"
                                "accepted conn:        46\n"
                                "listen queue:         0\n"
                                "max listen queue:     0\n"
                                "listen queue len:     0\n"
                                "idle processes:       1\n"
                                "active processes:     1\n"
                                "total processes:      2\n"
                                "max active processes: 4\n"
                                "max children reached: 3\n"
                                "slow requests:        0\n";

static void add_block(struct sbuf *b, int pid, const char *state,
                      const char *method, const char *uri, const char *user,
                      const char *script) {
  sb_printf(b,
            "\n************************\n"
            "pid:                  %d\n"
            "state:                %s\n"
            "start time:           28/Nov/2026:13:50:07 +0000\n"
            "start since:          247\n"
            "requests:             6\n"
            "request duration:     11\n",
            pid, state);
  sb_printf(b, "request method:       %s\n", method);
  sb_printf(b, "request URI:          %s\n", uri);
  sb_printf(b, "content length:       0\nuser:                 %s\n", user);
  sb_printf(b,
            "script:               %s\n"
            "last request cpu:     12.50\n"
            "last request memory:  2097152\n",
            script);
}

static void test_dates(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int ok;
    uint64_t epoch;
  } cases[] = {
      {"28/Nov/2026:13:50:06 +0000", 1, 1795873806},
      {"28/Nov/2026:14:50:06 +0100", 1, 1795873806},
      {"28/Nov/2026:08:50:06 -0500", 1, 1795873806},
      {"29/Feb/2024:00:00:00 +0000", 1, 1709164800},
      {"01/Jan/1970:00:00:00 +0000", 1, 0},
      {"31/Dec/1999:23:59:59 +0000", 1, 946684799},
      {"28/Foo/2026:13:50:06 +0000", 0, 0},
      {"28/Nov/2026:13:50:06", 0, 0},
      {"28/Nov/2026:25:50:06 +0000", 0, 0},
      {"28/Nov/2026:13:50:06 +0000x", 0, 0},
      {"", 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t e = 12345;
    int rc = fpm_text_parse_date(cases[i].s, strlen(cases[i].s), &e);
    assert_int_equal(rc == 0, cases[i].ok);
    if (cases[i].ok)
      assert_int_equal(e, cases[i].epoch);
  }
}

static void test_pool_only(void **state) {
  (void)state;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(pool_part, sizeof pool_part - 1, TEXT, &st);
  assert_string_equal(st.pool, "www");
  assert_string_equal(st.process_manager, "dynamic");
  assert_int_equal(st.v[FPM_F_START_TIME], 1795873806);
  assert_int_equal(st.v[FPM_F_MAX_CHILDREN_REACHED], 3);
  assert_int_equal(st.present, (1u << FPM_F_MEMORY_PEAK) - 1);
  assert_false(st.has_workers);
  fpm_status_clear(&st);
}

/* Raw strings, newlines inside values (docs/status-page.md, "Raw strings and
 * newlines in the text format"). */
static void test_multiline_values(void **state) {
  (void)state;
  struct sbuf b = {0};
  sb_add(&b, pool_part, sizeof pool_part - 1);
  add_block(&b, 11, "Idle", "GE\"T\\", "/ctl\x01\tx?c=\n\x1b[31m\nuser: no",
            "DOMAIN\\u\"x", "/srv/a\nb.php");
  add_block(&b, 12, "Running", "GET", "/status?full", "-", "-");
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b.s, b.n, TEXT, &st);
  assert_true(st.has_workers);
  assert_int_equal(st.n_workers, 2);
  const struct fpm_worker *w = &st.workers[0];
  assert_int_equal(w->present, (1u << FPM_W__COUNT) - 1);
  assert_int_equal(w->pid, 11);
  assert_int_equal(w->start_time, 1795873807);
  assert_string_equal(w->method, "GE\"T\\");
  assert_string_equal(w->uri, "/ctl\x01\tx?c=\n\x1b[31m\nuser: no");
  assert_string_equal(w->user, "DOMAIN\\u\"x");
  assert_string_equal(w->script, "/srv/a\nb.php");
  assert_float_equal(w->last_request_cpu, 12.5, 1e-12);
  assert_int_equal(w->last_request_memory, 2097152);
  assert_int_equal(st.workers[1].state, FPM_STATE_RUNNING);
  assert_string_equal(st.workers[1].uri, "/status?full");
  assert_int_equal(st.dropped, 0);
  fpm_status_clear(&st);
  free(b.s);
}

/* 8.4 adds memory peak; 7.3 spells a state differently; 7.x without
 * HAVE_FPM_LQ has no listen-queue lines and no last request cpu. */
static void test_other_versions(void **state) {
  (void)state;
  static const char body[] =
      "pool:                 w\n"
      "process manager:      ondemand\n"
      "start time:           01/Jan/2020:00:00:00 +0000\n"
      "start since:          18446744073709551000\n"
      "accepted conn:        18446744073709551615\n"
      "idle processes:       0\n"
      "active processes:     1\n"
      "total processes:      1\n"
      "max active processes: 1\n"
      "max children reached: 0\n"
      "slow requests:        0\n"
      "memory peak:          4194304\n"
      "future gauge:         7\n"
      "\n************************\n"
      "pid:                  5\n"
      "state:                Getting request informations\n"
      "start time:           01/Jan/2020:00:00:01 +0000\n"
      "start since:          9\n"
      "requests:             1\n"
      "request duration:     3\n"
      "request method:       -\n"
      "request URI:          -\n"
      "content length:       0\n"
      "user:                 -\n"
      "script:               -\n"
      "last request memory:  0\n";
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(body, sizeof body - 1, TEXT, &st);
  assert_true(st.v[FPM_F_ACCEPTED_CONN] == UINT64_MAX);
  assert_true(st.v[FPM_F_START_SINCE] == 18446744073709551000u);
  assert_int_equal(st.v[FPM_F_START_TIME], 1577836800);
  assert_int_equal(st.v[FPM_F_MEMORY_PEAK], 4194304);
  assert_false(fpm_status_has(&st, FPM_F_LISTEN_QUEUE));
  assert_int_equal(st.n_extra, 1);
  assert_string_equal(st.extra[0].name, "future gauge");
  assert_int_equal(st.n_workers, 1);
  assert_int_equal(st.workers[0].state, FPM_STATE_GETTING_INFO);
  assert_false((st.workers[0].present >> FPM_W_LAST_REQUEST_CPU) & 1u);
  assert_true((st.workers[0].present >> FPM_W_LAST_REQUEST_MEMORY) & 1u);
  fpm_status_clear(&st);
}

static void test_truncated(void **state) {
  (void)state;
  struct sbuf b = {0};
  sb_add(&b, pool_part, sizeof pool_part - 1);
  add_block(&b, 11, "Idle", "GET", "/a", "-", "-");
  add_block(&b, 12, "Idle", "GET", "/b", "-", "-");
  const char *second = strstr(b.s, "pid:                  12");
  assert_non_null(second);
  size_t cuts[] = {(size_t)(second - b.s) + 60, b.n - 3, 30};
  for (size_t i = 0; i < 3; i++) {
    struct fpm_status st;
    struct fpm_parse_error err;
    fpm_status_init(&st);
    assert_int_equal(parse_all_splits(b.s, cuts[i], TEXT, &st, &err),
                     FPM_P_ETRUNCATED);
    assert_true(strlen(err.message) > 10);
    if (i < 2) {
      assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 46);
      assert_int_equal(st.n_workers, 1);
      assert_int_equal(st.dropped, 1);
      assert_int_equal(st.workers[0].pid, 11);
    } else {
      assert_string_equal(st.pool, "www");
    }
    fpm_status_clear(&st);
  }
  free(b.s);
}

static void test_not_status(void **state) {
  (void)state;
  static const char *const bodies[] = {
      "File not found.\n",
      "Access denied.\n",
      "<html><head><title>502 Bad Gateway</title></head></html>\n",
      "{\"pool\":\"www\",\"accepted conn\":1}",
      "[]",
      "\n\n",
      "Status: 500\nInternal error\n"};
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    struct fpm_status st;
    struct fpm_parse_error err;
    fpm_status_init(&st);
    fpm_perr e =
        parse_all_splits(bodies[i], strlen(bodies[i]), TEXT, &st, &err);
    if (e != FPM_P_ESCHEMA)
      fail_msg("body %zu: %s (%s)", i, fpm_perr_str(e), err.message);
    assert_int_equal(err.offset, 0);
    assert_true(strlen(err.message) > 10);
    assert_int_equal(st.present, 0);
    fpm_status_clear(&st);
  }
  struct fpm_status st;
  struct fpm_parse_error err;
  fpm_status_init(&st);
  assert_int_equal(fpm_status_parse("", 0, TEXT, &st, &err), FPM_P_ETRUNCATED);
  fpm_status_clear(&st);
}

static void test_max_workers(void **state) {
  (void)state;
  struct sbuf b = {0};
  sb_add(&b, pool_part, sizeof pool_part - 1);
  for (int i = 0; i < 5; i++)
    add_block(&b, 100 + i, "Idle", "GET", "/", "-", "-");
  struct fpm_status st;
  fpm_status_init(&st);
  struct fpm_parser_opts o = {.max_workers = 4};
  fpm_parser *p = fpm_parser_new(TEXT, &st, &o);
  assert_non_null(p);
  assert_int_equal(fpm_parser_feed(p, b.s, b.n), FPM_P_OK);
  assert_int_equal(fpm_parser_finish(p), FPM_P_ETOOBIG);
  assert_int_equal(fpm_parser_error(p)->code, FPM_P_ETOOBIG);
  fpm_parser_free(p);
  fpm_status_clear(&st);
  free(b.s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dates),
      cmocka_unit_test(test_pool_only),
      cmocka_unit_test(test_multiline_values),
      cmocka_unit_test(test_other_versions),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_not_status),
      cmocka_unit_test(test_max_workers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
