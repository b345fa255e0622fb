/* Unit tests of the PHP-FPM configuration reader (fpm_conf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fpm_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void write_file(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
  for (char *s = path + strlen(tmpdir) + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = '\0';
    mkdir(path, 0755);
    *s = '/';
  }
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/fpmconf.XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

static const struct fpm_conf_pool *pool(const struct fpm_conf *c,
                                        const char *name) {
  for (size_t i = 0; i < c->n_pools; i++)
    if (strcmp(c->pools[i].name, name) == 0)
      return &c->pools[i];
  fail_msg("pool %s not found", name);
  return NULL;
}

static int has_diag(const struct fpm_conf *c, const char *file_part, int line,
                    const char *msg_part) {
  for (size_t i = 0; i < c->n_diags; i++)
    if (strstr(c->diags[i].file, file_part) &&
        (line < 0 || c->diags[i].line == line) &&
        strstr(c->diags[i].message, msg_part))
      return 1;
  return 0;
}

static const char *fake_env(void *ud, const char *name) {
  (void)ud;
  if (strcmp(name, "FPM_PORT") == 0)
    return "9123";
  if (strcmp(name, "RUN") == 0)
    return "/run/php";
  return NULL;
}

static void test_main_file_with_include_glob(void **state) {
  (void)state;
  char main_conf[1024];
  snprintf(main_conf, sizeof main_conf,
           "; main file\n"
           "[global]\n"
           "pid = /run/php/php-fpm.pid\n"
           "error_log = /var/log/php-fpm.log\n"
           "\n"
           "include=%s/pool.d/*.conf\n",
           tmpdir);
  write_file("php-fpm.conf", main_conf);
  write_file("pool.d/a-www.conf", "[www]\n"
                                  "user = www-data\n"
                                  "listen = /run/php/php8.2-fpm.sock\n"
                                  "listen.owner = www-data\n"
                                  "listen.group = www-data\n"
                                  "listen.mode = 0660\n"
                                  "pm = dynamic\n"
                                  "pm.max_children = 5\n"
                                  "pm.status_path = /status ; inline comment\n"
                                  "ping.path = /ping\n"
                                  "ping.response = \"pong; really\"\n"
                                  "php_admin_value[memory_limit] = 64M\n");
  write_file("pool.d/b-api.conf", "[api]\n"
                                  "listen = 127.0.0.1:9001\n"
                                  "pm = static\n"
                                  "pm.max_children = 12\n"
                                  "pm.status_path = /fpm-status\n");
  write_file("pool.d/notes.txt", "[ignored]\nlisten = /nope\n");

  char path[512];
  snprintf(path, sizeof path, "%s/php-fpm.conf", tmpdir);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_files, 3);
  assert_int_equal(c.n_pools, 2);
  assert_string_equal(c.pools[0].name, "www"); /* glob order: sorted */
  const struct fpm_conf_pool *w = pool(&c, "www");
  assert_string_equal(w->listen, "/run/php/php8.2-fpm.sock");
  assert_string_equal(w->status_path, "/status");
  assert_string_equal(w->ping_path, "/ping");
  assert_string_equal(w->ping_response, "pong; really");
  assert_string_equal(w->pm, "dynamic");
  assert_int_equal(w->max_children, 5);
  assert_string_equal(w->listen_owner, "www-data");
  assert_string_equal(w->listen_mode, "0660");
  assert_true(w->monitorable);
  assert_false(w->via_status_listen);
  assert_string_equal(w->endpoint, "unix:/run/php/php8.2-fpm.sock");
  assert_string_equal(w->query_path, "/status");
  assert_non_null(strstr(w->file, "a-www.conf"));
  assert_int_equal(w->line, 1);
  const struct fpm_conf_pool *a = pool(&c, "api");
  assert_string_equal(a->endpoint, "127.0.0.1:9001");
  assert_string_equal(a->query_path, "/fpm-status");
  assert_int_equal(a->max_children, 12);
  assert_int_equal(c.n_diags, 0);
  fpm_conf_free(&c);
}

static void test_quoting_env_and_pool_expansion(void **state) {
  (void)state;
  const char *text = "[shop]\n"
                     "listen = ${RUN}/$pool.sock\n"
                     "pm.status_path = \"/st;a\\\"tus\"\n"
                     "ping.path = '/p${RUN}'\n"
                     "ping.response = \"${FPM_PORT}-$pool\"\n"
                     "pm.status_listen = 127.0.0.1:${FPM_PORT}\n"
                     "slowlog = /var/log/$pool.slow\n";
  struct fpm_conf_opts o = {.getenv_fn = fake_env};
  struct fpm_conf c;
  assert_int_equal(
      fpm_conf_load_buffer("shop.conf", text, strlen(text), &o, &c), 0);
  const struct fpm_conf_pool *p = pool(&c, "shop");
  assert_string_equal(p->listen, "/run/php/shop.sock");
  assert_string_equal(p->status_path, "/st;a\"tus");
  assert_string_equal(p->ping_path, "/p${RUN}"); /* single quotes are raw */
  assert_string_equal(p->ping_response, "9123-shop");
  assert_string_equal(p->status_listen, "127.0.0.1:9123");
  /* pm.status_listen is preferred: it does not queue behind busy workers */
  assert_true(p->monitorable);
  assert_true(p->via_status_listen);
  assert_string_equal(p->endpoint, "127.0.0.1:9123");
  assert_string_equal(p->query_path, "/st;a\"tus");
  assert_int_equal(c.n_diags, 0);
  fpm_conf_free(&c);
}

static void test_status_listen_without_status_path_uses_root(void **state) {
  (void)state;
  const char *text =
      "[x]\nlisten = /run/x.sock\npm.status_listen = [::]:9002\n";
  struct fpm_conf c;
  fpm_conf_load_buffer("x.conf", text, strlen(text), NULL, &c);
  const struct fpm_conf_pool *p = pool(&c, "x");
  assert_true(p->via_status_listen);
  assert_string_equal(p->endpoint, "[::1]:9002");
  assert_string_equal(p->query_path, "/");
  fpm_conf_free(&c);
}

static void test_not_monitorable_says_what_to_add(void **state) {
  (void)state;
  const char *text = "; first line\n\n[legacy]\nlisten = /run/legacy.sock\n"
                     "[nolisten]\npm.status_path = /status\n";
  struct fpm_conf c;
  fpm_conf_load_buffer("/etc/php/8.2/fpm/pool.d/legacy.conf", text,
                       strlen(text), NULL, &c);
  const struct fpm_conf_pool *p = pool(&c, "legacy");
  assert_false(p->monitorable);
  assert_non_null(strstr(p->why, "pm.status_path = /status"));
  assert_non_null(strstr(p->why, "/etc/php/8.2/fpm/pool.d/legacy.conf"));
  assert_non_null(strstr(p->why, "line 3"));
  assert_string_equal(p->endpoint, "unix:/run/legacy.sock");
  const struct fpm_conf_pool *n = pool(&c, "nolisten");
  assert_false(n->monitorable);
  assert_non_null(strstr(n->why, "no listen"));
  fpm_conf_free(&c);
}

static void test_section_repeated_across_files_merges(void **state) {
  (void)state;
  write_file("d/10-www.conf", "[www]\nlisten = /run/www.sock\n"
                              "pm.max_children = 4\n");
  write_file("d/20-www-status.conf", "[www]\npm.status_path = /status\n"
                                     "pm.max_children = 9\n");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/d", tmpdir);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(dir, NULL, &c), 0);
  assert_int_equal(c.n_pools, 1);
  const struct fpm_conf_pool *p = pool(&c, "www");
  assert_int_equal(p->max_children, 9); /* the later file wins */
  assert_true(p->monitorable);
  assert_non_null(strstr(p->file, "10-www.conf"));
  fpm_conf_free(&c);
}

static void test_bad_files_report_file_and_line(void **state) {
  (void)state;
  write_file("bad/a.conf", "[good1]\n"
                           "listen = /run/g1.sock\n"
                           "pm.status_path = /status\n"
                           "this line has no equals sign\n"
                           "pm.max_children = lots\n"
                           "ping.response = \"unterminated\n"
                           "[\n"
                           "[good2]\n"
                           "listen = 9000\n"
                           "pm.status_path = /status\n"
                           "include = /nonexistent-dir-xyz/*.conf\n");
  char path[512];
  snprintf(path, sizeof path, "%s/bad/a.conf", tmpdir);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_pools, 2);
  assert_true(pool(&c, "good1")->monitorable);
  assert_true(pool(&c, "good2")->monitorable);
  assert_string_equal(pool(&c, "good2")->endpoint, "127.0.0.1:9000");
  assert_true(has_diag(&c, "a.conf", 4, "expected \"key = value\""));
  assert_true(has_diag(&c, "a.conf", 5, "pm.max_children"));
  assert_true(has_diag(&c, "a.conf", 6, "unterminated"));
  assert_true(has_diag(&c, "a.conf", 7, "section"));
  assert_true(has_diag(&c, "a.conf", 11, "include: "));
  assert_int_equal(pool(&c, "good1")->max_children, -1);
  fpm_conf_free(&c);
}

static void test_missing_path_and_include_cycle(void **state) {
  (void)state;
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load("/nonexistent/php-fpm.conf", NULL, &c), -1);
  assert_true(has_diag(&c, "/nonexistent/php-fpm.conf", 0, "cannot open"));
  fpm_conf_free(&c);

  char self[1024];
  snprintf(self, sizeof self,
           "[loop]\nlisten=/run/l.sock\ninclude=%s/loop.conf\n", tmpdir);
  write_file("loop.conf", self);
  char path[512];
  snprintf(path, sizeof path, "%s/loop.conf", tmpdir);
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_pools, 1);
  assert_true(has_diag(&c, "loop.conf", 0, "include loop at "));
  char at[600];
  snprintf(at, sizeof at, "include loop at %s/loop.conf:3", tmpdir);
  assert_true(has_diag(&c, "loop.conf", 0, at));
  assert_int_equal(c.n_diags, 1);
  assert_int_equal(c.n_files, 1);
  fpm_conf_free(&c);

  /* a.conf -> b.conf -> a.conf, through another spelling of the path */
  char text[1024];
  snprintf(text, sizeof text, "[a]\ninclude=%s/./b.conf\n", tmpdir);
  write_file("a.conf", text);
  snprintf(text, sizeof text, "[b]\ninclude=%s//a.conf\n", tmpdir);
  write_file("b.conf", text);
  snprintf(path, sizeof path, "%s/a.conf", tmpdir);
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_files, 2);
  assert_int_equal(c.n_diags, 1);
  snprintf(at, sizeof at, "include loop at %s/./b.conf:2", tmpdir);
  assert_true(has_diag(&c, "a.conf", 0, at));
  fpm_conf_free(&c);
}

/* Includes nest 5 levels deep at most, as in php-fpm. */
static void test_include_depth(void **state) {
  (void)state;
  for (int i = 0; i <= 7; i++) {
    char rel[64], text[600];
    snprintf(rel, sizeof rel, "deep/d%d.conf", i);
    snprintf(text, sizeof text, "[p%d]\ninclude = %s/deep/d%d.conf\n", i,
             tmpdir, i + 1);
    write_file(rel, text);
  }
  char path[512];
  snprintf(path, sizeof path, "%s/deep/d0.conf", tmpdir);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_files, 6); /* d0 and five nested levels */
  assert_int_equal(c.n_pools, 6);
  assert_true(has_diag(&c, "d5.conf", 2, "nested deeper than 5 levels"));
  fpm_conf_free(&c);
}

/* A junk file yields 20 diagnostics and one line for the rest; many bad
 * files stay within 200 per load. */
static void test_diagnostics_capped(void **state) {
  (void)state;
  size_t n = 100000;
  char *junk = malloc(n * 5 + 1);
  assert_non_null(junk);
  for (size_t i = 0; i < n; i++)
    memcpy(junk + i * 5, "junk\n", 5);
  junk[n * 5] = '\0';
  write_file("junk/big.conf", junk);
  free(junk);
  char path[512];
  snprintf(path, sizeof path, "%s/junk/big.conf", tmpdir);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_diags, 21);
  assert_true(has_diag(&c, "big.conf", 20, "syntax error"));
  assert_true(has_diag(&c, "big.conf", 0,
                       "99980 more problem(s) in this "
                       "file not shown"));
  fpm_conf_free(&c);

  for (int i = 0; i < 30; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "many/f%02d.conf", i);
    write_file(rel, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n");
  }
  snprintf(path, sizeof path, "%s/many", tmpdir);
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_files, 30);
  assert_int_equal(c.n_diags, 201);
  assert_true(has_diag(&c, "many", 0, "130 more problem(s)"));
  fpm_conf_free(&c);
}

/* No count cap: a shared host has one pool file per site. 1,000 files
 * (more than the 256 an earlier version stopped at) are all read, through
 * a directory and through an include glob, with no diagnostic. */
static void test_many_files(void **state) {
  (void)state;
  for (int i = 0; i < 1000; i++) {
    char rel[64], text[96];
    snprintf(rel, sizeof rel, "cap/f%04d.conf", i);
    snprintf(text, sizeof text,
             "[p%04d]\nlisten = /run/p%04d.sock\npm.status_path = /s\n", i, i);
    write_file(rel, text);
  }
  char path[512];
  snprintf(path, sizeof path, "%s/cap", tmpdir);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_files, 1000);
  assert_int_equal(c.n_pools, 1000);
  assert_int_equal(c.n_diags, 0);
  assert_string_equal(c.pools[999].name, "p0999");
  assert_true(c.pools[999].monitorable);
  fpm_conf_free(&c);

  char text[600];
  snprintf(text, sizeof text, "[global]\ninclude = %s/cap/*.conf\n", tmpdir);
  write_file("cap-main.conf", text);
  snprintf(path, sizeof path, "%s/cap-main.conf", tmpdir);
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_files, 1001);
  assert_int_equal(c.n_pools, 1000);
  assert_int_equal(c.n_diags, 0);
  fpm_conf_free(&c);
}

/* A directory without pool files is an empty configuration, not an
 * unreadable one; section names compare without case. */
static void test_empty_dir_and_case(void **state) {
  (void)state;
  char path[512];
  snprintf(path, sizeof path, "%s/empty", tmpdir);
  assert_int_equal(mkdir(path, 0755), 0);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(path, NULL, &c), 0);
  assert_int_equal(c.n_pools, 0);
  assert_int_equal(c.n_diags, 0);
  fpm_conf_free(&c);
  const char *text = "[Web]\nlisten = /run/w.sock\n[WEB]\n"
                     "pm.status_path = /s\n";
  assert_int_equal(fpm_conf_load_buffer("t.conf", text, strlen(text), NULL, &c),
                   0);
  assert_int_equal(c.n_pools, 1);
  assert_true(c.pools[0].monitorable);
  fpm_conf_free(&c);
}

static void test_relative_include_uses_prefix(void **state) {
  (void)state;
  write_file("prefix/etc/pools/p.conf",
             "[rel]\nlisten = var/run/rel.sock\npm.status_path = /s\n");
  char main_conf[256];
  snprintf(main_conf, sizeof main_conf,
           "[global]\ninclude = etc/pools/*.conf\n");
  write_file("prefix/etc/main.conf", main_conf);
  char prefix[512], path[600];
  snprintf(prefix, sizeof prefix, "%s/prefix", tmpdir);
  snprintf(path, sizeof path, "%s/etc/main.conf", prefix);
  struct fpm_conf_opts o = {.prefix = prefix};
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(path, &o, &c), 0);
  const struct fpm_conf_pool *p = pool(&c, "rel");
  char want[700];
  snprintf(want, sizeof want, "unix:%s/var/run/rel.sock", prefix);
  assert_string_equal(p->endpoint, want);
  fpm_conf_free(&c);
}

static void test_listen_forms(void **state) {
  (void)state;
  static const struct {
    const char *listen, *want;
  } ok[] = {
      {"/run/php/x.sock", "unix:/run/php/x.sock"},
      {"run/x.sock", "unix:/usr/run/x.sock"},
      {"9000", "127.0.0.1:9000"},
      {"127.0.0.1:9000", "127.0.0.1:9000"},
      {"0.0.0.0:9000", "127.0.0.1:9000"},
      {"*:9000", "127.0.0.1:9000"},
      {"[::]:9000", "[::1]:9000"},
      {"[::1]:9001", "[::1]:9001"},
      {"localhost:9002", "localhost:9002"},
      {"10.1.2.3:9003", "10.1.2.3:9003"},
  };
  char out[300];
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    assert_int_equal(
        fpm_conf_listen_endpoint(ok[i].listen, NULL, out, sizeof out), 0);
    assert_string_equal(out, ok[i].want);
  }
  static const char *const bad[] = {"", "host:", "host:abc", "1.2.3.4:9x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(fpm_conf_listen_endpoint(bad[i], NULL, out, sizeof out),
                     -1);
}

/* Debian defaults with two PHP versions, each with a [www] pool: both are
 * found, apart; the later one is named www@8.2, $pool still says "www". */
static void test_defaults_two_versions(void **state) {
  (void)state;
  write_file("versions/etc/php/7.4/fpm/php-fpm.conf",
             "[global]\npid = /run/x.pid\n[www]\n"
             "listen = /run/php/php7.4-fpm.sock\npm.status_path = /s74\n");
  write_file("versions/etc/php/8.2/fpm/php-fpm.conf",
             "[www]\nlisten = /run/php/$pool-8.2.sock\n"
             "pm.status_path = /status\n[WWW]\npm.max_children = 9\n"
             "[api]\nlisten = 9001\npm.status_path = /status\n");
  char pattern[512];
  snprintf(pattern, sizeof pattern, "%s/versions/etc/php/*/fpm/php-fpm.conf",
           tmpdir);
  struct fpm_conf_opts o = {.default_glob = pattern, .prefix = tmpdir};
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(NULL, &o, &c), 0);
  assert_int_equal(c.n_files, 2);
  assert_int_equal(c.n_pools, 3);
  const struct fpm_conf_pool *a = pool(&c, "www");
  assert_string_equal(a->endpoint, "unix:/run/php/php7.4-fpm.sock");
  assert_string_equal(a->query_path, "/s74");
  const struct fpm_conf_pool *b = pool(&c, "www@8.2");
  assert_string_equal(b->endpoint, "unix:/run/php/www-8.2.sock");
  assert_int_equal(b->max_children, 9); /* its repeated section merged */
  assert_string_equal(pool(&c, "api")->endpoint, "127.0.0.1:9001");
  /* one warning naming both files (not an error) */
  assert_int_equal(c.n_diags, 1);
  assert_true(c.diags[0].warning);
  assert_true(has_diag(&c, "8.2/fpm/php-fpm.conf", 1,
                       "pool [www] is also defined in "));
  assert_true(has_diag(&c, "8.2", 1, "7.4/fpm/php-fpm.conf (line 3)"));
  assert_true(has_diag(&c, "8.2", 1, "this one is named \"www@8.2\""));
  fpm_conf_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_two_versions),
      cmocka_unit_test(test_main_file_with_include_glob),
      cmocka_unit_test(test_quoting_env_and_pool_expansion),
      cmocka_unit_test(test_status_listen_without_status_path_uses_root),
      cmocka_unit_test(test_not_monitorable_says_what_to_add),
      cmocka_unit_test(test_section_repeated_across_files_merges),
      cmocka_unit_test(test_bad_files_report_file_and_line),
      cmocka_unit_test(test_missing_path_and_include_cycle),
      cmocka_unit_test(test_relative_include_uses_prefix),
      cmocka_unit_test(test_listen_forms),
      cmocka_unit_test(test_include_depth),
      cmocka_unit_test(test_diagnostics_capped),
      cmocka_unit_test(test_empty_dir_and_case),
      cmocka_unit_test(test_many_files),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
