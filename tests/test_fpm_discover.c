/* Unit tests of fpm_discover.c: fetch targets from configured pools, and
 * the changes between two scans (removals before additions, a failed start
 * offered again only once changed, a pool without a status page reported once),
 * ignore patterns: their check, their match, and pools they leave out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fpm_discover.h"

#include <stdio.h>
#include <string.h>

static void load(const char *text, struct fpm_conf *c) {
  assert_int_equal(fpm_conf_load_buffer("t.conf", text, strlen(text), NULL, c),
                   0);
}

struct log {
  char ev[16][80];
  int n;
  int add_result; /* what ADDED answers */
  const char *fail_name;
};

static int record(void *ud, enum fpm_disc_event ev,
                  const struct fpm_disc_entry *old,
                  const struct fpm_conf_pool *now) {
  struct log *l = ud;
  static const char *const names[] = {"removed", "added", "unmonitorable"};
  const char *name = old != NULL ? old->name : now->name;
  assert_true(l->n < 16);
  snprintf(l->ev[l->n++], sizeof l->ev[0], "%s %s%s", names[ev], name,
           old != NULL && old->active ? " (active)" : "");
  if (ev != FPM_DISC_ADDED)
    return 0;
  if (l->fail_name != NULL && strcmp(name, l->fail_name) == 0)
    return -1;
  return l->add_result;
}

static void scan(struct fpm_disc_set *set, const char *text, struct log *l) {
  struct fpm_conf c;
  load(text, &c);
  l->n = 0;
  assert_true(fpm_discover_update(set, &c, record, l) >= 0);
  fpm_conf_free(&c);
}

static void test_target_and_describe(void **state) {
  (void)state;
  struct fpm_conf c;
  load("[a]\nlisten = /run/a.sock\npm.status_path = /s\nping.path = /p\n"
       "ping.response = ok\n"
       "[b]\nlisten = 9000\npm.status_listen = 127.0.0.1:9001\n"
       "[c]\nlisten = /run/c.sock\n",
       &c);
  struct fpm_target t;
  assert_int_equal(fpm_discover_target(&c.pools[0], &t), 0);
  assert_string_equal(t.endpoint, "unix:/run/a.sock");
  assert_string_equal(t.status_path, "/s");
  assert_string_equal(t.ping_path, "/p");
  assert_string_equal(t.ping_response, "ok");
  assert_int_equal(fpm_discover_target(&c.pools[1], &t), 0);
  assert_string_equal(t.endpoint, "127.0.0.1:9001");
  assert_string_equal(t.status_path, "/"); /* status_listen default */
  assert_null(t.ping_path);
  assert_int_equal(fpm_discover_target(&c.pools[2], &t), -1);
  char d[1600];
  fpm_discover_describe(&c.pools[1], d, sizeof d);
  assert_string_equal(d, "127.0.0.1:9001 / (pm.status_listen)");
  fpm_discover_describe(&c.pools[2], d, sizeof d);
  assert_non_null(strstr(d, "not monitorable: pool [c] has no status page: "
                            "add the line \"pm.status_path = /status\""));
  fpm_conf_free(&c);
}

static void test_update_sequence(void **state) {
  (void)state;
  struct fpm_disc_set set = {0};
  struct log l = {.add_result = 1};
  scan(&set,
       "[a]\nlisten = /a\npm.status_path = /s\n"
       "[b]\nlisten = /b\npm.status_path = /s\npm.max_children = 3\n"
       "[c]\nlisten = /c\n",
       &l);
  assert_int_equal(l.n, 3);
  assert_string_equal(l.ev[0], "added a");
  assert_string_equal(l.ev[1], "added b");
  assert_string_equal(l.ev[2], "unmonitorable c");

  /* the same again: nothing */
  scan(&set,
       "[a]\nlisten = /a\npm.status_path = /s\n"
       "[b]\nlisten = /b\npm.status_path = /s\npm.max_children = 3\n"
       "[c]\nlisten = /c\n",
       &l);
  assert_int_equal(l.n, 0);

  /* a gone, b changed (max_children), c gets a status page: removals come
   * first, each with what the previous scan recorded */
  scan(&set,
       "[b]\nlisten = /b\npm.status_path = /s\npm.max_children = 4\n"
       "[c]\nlisten = /c\npm.status_path = /s\n",
       &l);
  assert_int_equal(l.n, 4);
  assert_string_equal(l.ev[0], "removed a (active)");
  assert_string_equal(l.ev[1], "removed b (active)");
  assert_string_equal(l.ev[2], "added b");
  assert_string_equal(l.ev[3], "added c");
  fpm_disc_set_free(&set);
}

static void test_failed_and_skipped(void **state) {
  (void)state;
  struct fpm_disc_set set = {0};
  struct log l = {.add_result = 0, .fail_name = "x"};
  const char *conf = "[x]\nlisten = /x\npm.status_path = /s\n"
                     "[y]\nlisten = /y\npm.status_path = /s\n";
  scan(&set, conf, &l);
  assert_int_equal(l.n, 2);
  /* x failed, y was skipped (0): both recorded, neither offered again
   * while unchanged (a failure is tried and reported once) */
  scan(&set, conf, &l);
  assert_int_equal(l.n, 0);
  assert_int_equal(set.n, 2);
  assert_true(set.v[0].failed);
  assert_false(set.v[1].failed);
  /* y removed: reported first, not active (the caller did not read it);
   * x changed: offered again */
  scan(&set, "[x]\nlisten = /x2\npm.status_path = /s\n", &l);
  assert_int_equal(l.n, 3);
  assert_string_equal(l.ev[0], "removed x");
  assert_string_equal(l.ev[1], "removed y");
  assert_string_equal(l.ev[2], "added x");
  fpm_disc_set_free(&set);

  struct fpm_disc_set s2 = {0};
  struct log l2 = {.add_result = 0};
  scan(&s2, "[y]\nlisten = /y\npm.status_path = /s\n", &l2);
  scan(&s2, "", &l2);
  assert_int_equal(l2.n, 1);
  assert_string_equal(l2.ev[0], "removed y");
  fpm_disc_set_free(&s2);
}

static void test_pattern_check(void **state) {
  (void)state;
  char why[128];
  static const char *const ok[] = {"www",  "www@*",        "*@8.[12]", "[!a]*",
                                   "[]x]", "[[:digit:]]*", "a\\*",     "?"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    why[0] = '\0';
    if (fpm_discover_pattern_check(ok[i], why, sizeof why) != 0)
      fail_msg("'%s' refused: %s", ok[i], why);
  }
  assert_int_equal(fpm_discover_pattern_check("", why, sizeof why), -1);
  assert_string_equal(why, "it is empty");
  assert_int_equal(fpm_discover_pattern_check("ww[w", why, sizeof why), -1);
  assert_string_equal(why, "its '[' at byte 3 has no closing ']'");
  assert_int_equal(fpm_discover_pattern_check("[[:digit:]", why, sizeof why),
                   -1);
  assert_int_equal(fpm_discover_pattern_check("w\\", why, sizeof why), -1);
  assert_string_equal(why, "it ends in a lone '\\'");
  assert_int_equal(fpm_discover_pattern_check("a\tb", why, sizeof why), -1);
  assert_string_equal(why, "byte 2 is a control character");
  /* control bytes inside brackets and after a backslash too */
  assert_int_equal(fpm_discover_pattern_check("a[\t]", why, sizeof why), -1);
  assert_string_equal(why, "byte 3 is a control character");
  assert_int_equal(fpm_discover_pattern_check("a\\\n", why, sizeof why), -1);
  assert_string_equal(why, "byte 3 is a control character");
  /* glibc's fnmatch reads '\' in brackets as an escape: "[\]" is unclosed
   * there, and fnmatch would take it literally */
  assert_int_equal(fpm_discover_pattern_check("[\\]", why, sizeof why), -1);
  assert_string_equal(why, "its '[' at byte 1 has no closing ']'");
  assert_int_equal(fpm_discover_pattern_check("ab[x\\]", why, sizeof why), -1);
  assert_int_equal(fpm_discover_pattern_check("[\\]]", why, sizeof why), 0);
  assert_int_equal(fpm_discover_ignored("]", (const char *[]){"[\\]]"}, 1), 0);
  /* a class name fnmatch does not know never matches anything */
  assert_int_equal(fpm_discover_pattern_check("[[:digt:]]*", why, sizeof why),
                   -1);
  assert_string_equal(why, "its '[:' at byte 2 names no character class "
                           "(alpha, digit, alnum, lower, upper, space, "
                           "punct, ...)");
  char longp[FPM_DISC_PATTERN_MAX + 2];
  memset(longp, 'x', sizeof longp - 1);
  longp[sizeof longp - 1] = '\0';
  assert_int_equal(fpm_discover_pattern_check(longp, why, sizeof why), -1);
  longp[FPM_DISC_PATTERN_MAX] = '\0';
  assert_int_equal(fpm_discover_pattern_check(longp, why, sizeof why), 0);
}

static void test_ignored_match(void **state) {
  (void)state;
  const char *const pats[] = {"www@*", "legacy", "api-[0-9]"};
  assert_int_equal(fpm_discover_ignored("www@8.1", pats, 3), 0);
  assert_int_equal(fpm_discover_ignored("www", pats, 3), -1);
  assert_int_equal(fpm_discover_ignored("legacy", pats, 3), 1);
  assert_int_equal(fpm_discover_ignored("Legacy", pats, 3), -1); /* case */
  assert_int_equal(fpm_discover_ignored("api-7", pats, 3), 2);
  assert_int_equal(fpm_discover_ignored("api-77", pats, 3), -1);
  assert_int_equal(fpm_discover_ignored("x", NULL, 0), -1);
  /* the first matching pattern is the one reported */
  const char *const both[] = {"a*", "*b"};
  assert_int_equal(fpm_discover_ignored("ab", both, 2), 0);
  assert_int_equal(fpm_discover_ignored("xb", both, 2), 1);
}

static void scan_ign(struct fpm_disc_set *set, const char *text,
                     const char *const *pats, size_t n, struct log *l) {
  struct fpm_conf c;
  load(text, &c);
  l->n = 0;
  assert_true(fpm_discover_update_ignoring(set, &c, pats, n, record, l) >= 0);
  fpm_conf_free(&c);
}

static void test_update_ignoring(void **state) {
  (void)state;
  struct fpm_disc_set set = {0};
  struct log l = {.add_result = 1};
  const char *const pats[] = {"skip*", "old"};
  const char *conf = "[a]\nlisten = /a\npm.status_path = /s\n"
                     "[skip1]\nlisten = /s1\npm.status_path = /s\n"
                     "[old]\nlisten = /o\n"; /* no status page, ignored */
  scan_ign(&set, conf, pats, 2, &l);
  /* neither ADDED for skip1 nor UNMONITORABLE for old */
  assert_int_equal(l.n, 1);
  assert_string_equal(l.ev[0], "added a");
  assert_int_equal(set.n, 3);
  assert_int_equal(set.v[0].ignored, 0);
  assert_int_equal(set.v[1].ignored, 1);
  assert_int_equal(set.v[2].ignored, 2);
  assert_false(set.v[1].active);
  /* unchanged: nothing; an ignored pool that changes: still nothing */
  scan_ign(&set, conf, pats, 2, &l);
  assert_int_equal(l.n, 0);
  scan_ign(&set,
           "[a]\nlisten = /a\npm.status_path = /s\n"
           "[skip1]\nlisten = /s2\npm.status_path = /s\n"
           "[old]\nlisten = /o\n",
           pats, 2, &l);
  assert_int_equal(l.n, 0);
  /* no patterns any more: the two are offered like new pools */
  scan_ign(&set, conf, NULL, 0, &l);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.ev[0], "added skip1");
  assert_string_equal(l.ev[1], "unmonitorable old");
  /* ignored again: the pool read so far is removed, nothing else */
  scan_ign(&set, conf, pats, 2, &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.ev[0], "removed skip1 (active)");
  fpm_disc_set_free(&set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_target_and_describe),
      cmocka_unit_test(test_update_sequence),
      cmocka_unit_test(test_failed_and_skipped),
      cmocka_unit_test(test_pattern_check),
      cmocka_unit_test(test_ignored_match),
      cmocka_unit_test(test_update_ignoring),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
