/*
 * test_fpm_master.c: the name of a php-fpm master (fpm_master.h): known
 * layouts, sanitised paths, long paths, the standard configuration of a
 * layout, and a whole load's masters told apart (collisions, containers,
 * pools without a master configuration, the loaders setting it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fpm_conf.h"
#include "fpm_master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void assert_name_bytes(const char *s) {
  assert_true(s[0] != '\0');
  for (const char *c = s; *c != '\0'; c++)
    assert_non_null(
        strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
               "0123456789_.-",
               *c));
}

static void test_table(void **state) {
  (void)state;
  static const struct {
    const char *path, *name;
  } t[] = {
      /* Debian, Ubuntu: as before, whatever the file under the version */
      {"/etc/php/8.2/fpm/php-fpm.conf", "php8.2-fpm"},
      {"/etc/php/7.4/fpm/pool.d/www.conf", "php7.4-fpm"},
      {"/etc/php/8.2/fpm/pool.d", "php8.2-fpm"},
      {"/opt/cpanel/ea-php81/root/etc/php-fpm.conf", "ea-php81-fpm"},
      {"/opt/cpanel/ea-php74/root/etc/php-fpm.d/x.conf", "ea-php74-fpm"},
      {"/opt/plesk/php/8.1/etc/php-fpm.conf", "plesk-php8.1-fpm"},
      {"/etc/opt/remi/php81/php-fpm.conf", "remi-php81-fpm"},
      {"/etc/php-fpm.conf", "php-fpm"},
      {"/etc/php-fpm.d/www.conf", "php-fpm"},
      {"/etc/php-fpm.d", "php-fpm"},
      {"/usr/local/etc/php-fpm.conf", "local-php-fpm"},
      {"/usr/local/etc/php-fpm.d/www.conf", "local-php-fpm"},
      /* anything else: the path, sanitised */
      {"/srv/fpm-a/php-fpm.conf", "srv_fpm-a_php-fpm"},
      {"/tmp/tmp.Ab12/php-fpm.conf", "tmp_tmp.Ab12_php-fpm"},
      {"/srv/pools/", "srv_pools"},
      {"/opt/php 8/x@y.conf", "opt_php-8_x-y"},
      {"/etc/php-fpm.conf.bak", "etc_php-fpm.conf.bak"},
      {"/etc/php-fpm.dx/a.conf", "etc_php-fpm.dx_a"},
      {"/etc/php/", "etc_php"},
      {"/etc/php/x y/fpm/php-fpm.conf", "etc_php_x-y_fpm_php-fpm"},
      {"relative.conf", "relative"},
      {"/", "default"},
      {"", "default"},
      {NULL, "default"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char m[FPM_MASTER_BASE_MAX + 1];
    fpm_master_name_of(t[i].path, m, sizeof m);
    if (strcmp(m, t[i].name) != 0)
      fail_msg("%s: \"%s\", expected \"%s\"", t[i].path ? t[i].path : "NULL", m,
               t[i].name);
    assert_name_bytes(m);
  }
  char small[6];
  fpm_master_name_of("/etc/php/8.2/x", small, sizeof small);
  assert_string_equal(small, "php8.");
}

static void test_long_path(void **state) {
  (void)state;
  const char *a = "/srv/customers/alpha/sites/www.example.org/php/"
                  "php-fpm.conf";
  const char *b = "/srv/customers/omega/sites/www.example.org/php/"
                  "php-fpm.conf";
  char ma[64], mb[64], ma2[64];
  fpm_master_name_of(a, ma, sizeof ma);
  fpm_master_name_of(b, mb, sizeof mb);
  fpm_master_name_of(a, ma2, sizeof ma2);
  assert_true(strlen(ma) <= FPM_MASTER_BASE_MAX);
  assert_true(strlen(mb) <= FPM_MASTER_BASE_MAX);
  assert_name_bytes(ma);
  /* the last part, then a hash of the whole path */
  assert_non_null(strstr(ma, "example.org_php_php-fpm-"));
  assert_string_not_equal(ma, mb);
  assert_string_equal(ma, ma2);
  /* exactly the limit: kept as it is */
  char p40[64], m40[64];
  snprintf(p40, sizeof p40, "/%.*s.conf", FPM_MASTER_BASE_MAX,
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  fpm_master_name_of(p40, m40, sizeof m40);
  assert_int_equal(strlen(m40), FPM_MASTER_BASE_MAX);
  assert_null(strchr(m40, '-'));
  /* a path of every byte still gives a usable name */
  char wild[300];
  for (int i = 0; i < 255; i++)
    wild[i] = (char)(i + 1);
  wild[255] = '\0';
  char mw[64];
  fpm_master_name_of(wild, mw, sizeof mw);
  assert_name_bytes(mw);
  assert_true(strlen(mw) <= FPM_MASTER_BASE_MAX);
}

static void test_standard(void **state) {
  (void)state;
  assert_true(fpm_master_is_standard("/etc/php/8.2/fpm/php-fpm.conf"));
  assert_true(
      fpm_master_is_standard("/opt/cpanel/ea-php81/root/etc/php-fpm.conf"));
  assert_true(fpm_master_is_standard("/opt/plesk/php/8.1/etc/php-fpm.conf"));
  assert_true(fpm_master_is_standard("/etc/opt/remi/php81/php-fpm.conf"));
  assert_true(fpm_master_is_standard("/etc/php-fpm.conf"));
  assert_true(fpm_master_is_standard("/usr/local/etc/php-fpm.conf"));
  assert_false(fpm_master_is_standard("/etc/php/8.2/fpm/other.conf"));
  assert_false(fpm_master_is_standard("/etc/php/8.2/fpm/pool.d"));
  assert_false(fpm_master_is_standard("/etc/php-fpm.d/www.conf"));
  assert_false(fpm_master_is_standard("/srv/a/php-fpm.conf"));
  assert_false(fpm_master_is_standard(NULL));
}

/* ------------------------------------------------------- a whole load */

struct spec {
  const char *file, *master_conf, *tag;
};

static void conf_of(struct fpm_conf *c, const struct spec *s, size_t n) {
  memset(c, 0, sizeof *c);
  c->pools = calloc(n, sizeof *c->pools);
  assert_non_null(c->pools);
  c->n_pools = n;
  for (size_t i = 0; i < n; i++) {
    struct fpm_conf_pool *p = &c->pools[i];
    snprintf(p->name, sizeof p->name, "p%zu", i);
    snprintf(p->file, sizeof p->file, "%s", s[i].file);
    snprintf(p->master_conf, sizeof p->master_conf, "%s",
             s[i].master_conf ? s[i].master_conf : "");
    snprintf(p->tag, sizeof p->tag, "%s", s[i].tag ? s[i].tag : "");
  }
  fpm_master_name_pools(c);
}

static void test_pools_two_masters(void **state) {
  (void)state;
  const struct spec s[] = {
      {"/srv/a/php-fpm.conf", "/srv/a/php-fpm.conf", NULL},
      {"/srv/a/pool.d/x.conf", "/srv/a/php-fpm.conf", NULL},
      {"/srv/b/php-fpm.conf", "/srv/b/php-fpm.conf", NULL},
      {"/etc/php/8.2/fpm/pool.d/www.conf", "/etc/php/8.2/fpm/php-fpm.conf",
       NULL},
      /* the same configuration in two containers: two masters */
      {"/usr/local/etc/php-fpm.d/www.conf", "/usr/local/etc/php-fpm.conf",
       "ns1"},
      {"/usr/local/etc/php-fpm.d/www.conf", "/usr/local/etc/php-fpm.conf",
       "ns2"},
  };
  struct fpm_conf c;
  conf_of(&c, s, sizeof s / sizeof s[0]);
  assert_string_equal(c.pools[0].master, "srv_a_php-fpm");
  assert_string_equal(c.pools[1].master, "srv_a_php-fpm");
  assert_string_equal(c.pools[2].master, "srv_b_php-fpm");
  assert_string_equal(c.pools[3].master, "php8.2-fpm");
  assert_string_equal(c.pools[4].master, "ns1-local-php-fpm");
  assert_string_equal(c.pools[5].master, "ns2-local-php-fpm");
  fpm_conf_free(&c);
}

static void test_pools_collision(void **state) {
  (void)state;
  /* a second master of PHP 8.2 from its own file beside the standard one,
   * and two paths that sanitise alike: each its own name */
  const struct spec s[] = {
      {"/etc/php/8.2/fpm/pool2.d/b.conf", "/etc/php/8.2/fpm/second.conf", NULL},
      {"/etc/php/8.2/fpm/pool.d/www.conf", "/etc/php/8.2/fpm/php-fpm.conf",
       NULL},
      {"/srv/a_b.conf", "/srv/a_b.conf", NULL},
      {"/srv/a/b.conf", "/srv/a/b.conf", NULL},
      {"/etc/php/8.2/fpm/pool2.d/c.conf", "/etc/php/8.2/fpm/second.conf", NULL},
  };
  struct fpm_conf c;
  conf_of(&c, s, sizeof s / sizeof s[0]);
  /* the standard configuration keeps the short name */
  assert_string_equal(c.pools[1].master, "php8.2-fpm");
  assert_int_equal(strlen(c.pools[0].master), strlen("php8.2-fpm-") + 8);
  assert_memory_equal(c.pools[0].master, "php8.2-fpm-", 11);
  assert_string_equal(c.pools[4].master, c.pools[0].master);
  assert_int_equal(strlen(c.pools[2].master), strlen("srv_a_b-") + 8);
  assert_int_equal(strlen(c.pools[3].master), strlen("srv_a_b-") + 8);
  assert_string_not_equal(c.pools[2].master, c.pools[3].master);
  char keep[5][96];
  for (size_t i = 0; i < 5; i++) {
    assert_name_bytes(c.pools[i].master);
    snprintf(keep[i], sizeof keep[i], "%s", c.pools[i].master);
  }
  fpm_conf_free(&c);

  /* the same masters in another order: the same names (nothing depends on
   * which was found first) */
  const struct spec r[] = {s[4], s[3], s[2], s[1], s[0]};
  conf_of(&c, r, sizeof r / sizeof r[0]);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(c.pools[4 - i].master, keep[i]);
  fpm_conf_free(&c);

  /* alone, the second master has the short name: nothing to tell apart */
  conf_of(&c, s, 1);
  assert_string_equal(c.pools[0].master, "php8.2-fpm");
  fpm_conf_free(&c);
}

static void test_pools_without_master_conf(void **state) {
  (void)state;
  /* not filled by a loader: named from the file, shared by name */
  const struct spec s[] = {
      {"/etc/php/8.2/fpm/pool.d/a.conf", NULL, NULL},
      {"/etc/php/8.2/fpm/pool.d/b.conf", NULL, NULL},
      {"", NULL, NULL},
  };
  struct fpm_conf c;
  conf_of(&c, s, sizeof s / sizeof s[0]);
  assert_string_equal(c.pools[0].master, "php8.2-fpm");
  assert_string_equal(c.pools[1].master, "php8.2-fpm");
  assert_string_equal(c.pools[2].master, "default");
  fpm_conf_free(&c);
}

static void test_many_pools(void **state) {
  (void)state;
  /* 3,000 pools of 3 masters, interleaved: each named as its master */
  size_t n = 3000;
  struct spec *s = calloc(n, sizeof *s);
  assert_non_null(s);
  const char *confs[] = {"/srv/m0/php-fpm.conf", "/srv/m1/php-fpm.conf",
                         "/etc/php-fpm.conf"};
  for (size_t i = 0; i < n; i++) {
    s[i].file = "/x.conf";
    s[i].master_conf = confs[i % 3];
  }
  struct fpm_conf c;
  conf_of(&c, s, n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(c.pools[i].master, i % 3 == 0   ? "srv_m0_php-fpm"
                                           : i % 3 == 1 ? "srv_m1_php-fpm"
                                                        : "php-fpm");
  fpm_conf_free(&c);
  free(s);
}

/* The loaders set master_conf and master. */
static void test_loaders(void **state) {
  (void)state;
  char dir[] = "/tmp/fpmt-master.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char main_conf[128], pool_dir[128], pool_file[160];
  snprintf(main_conf, sizeof main_conf, "%s/php-fpm.conf", dir);
  snprintf(pool_dir, sizeof pool_dir, "%s/pool.d", dir);
  snprintf(pool_file, sizeof pool_file, "%s/www.conf", pool_dir);
  assert_int_equal(mkdir(pool_dir, 0755), 0);
  FILE *f = fopen(main_conf, "w");
  assert_non_null(f);
  fprintf(f, "[global]\ninclude = %s/*.conf\n[main]\nlisten = /run/m.sock\n",
          pool_dir);
  fclose(f);
  f = fopen(pool_file, "w");
  assert_non_null(f);
  fprintf(f, "[www]\nlisten = /run/w.sock\n");
  fclose(f);

  char expect[64];
  fpm_master_name_of(main_conf, expect, sizeof expect);
  struct fpm_conf c;
  assert_int_equal(fpm_conf_load(main_conf, NULL, &c), 0);
  assert_int_equal(c.n_pools, 2);
  for (size_t i = 0; i < c.n_pools; i++) {
    assert_string_equal(c.pools[i].master_conf, main_conf);
    assert_string_equal(c.pools[i].master, expect);
  }
  fpm_conf_free(&c);

  /* a directory of pool files: the directory names the master */
  fpm_master_name_of(pool_dir, expect, sizeof expect);
  assert_int_equal(fpm_conf_load(pool_dir, NULL, &c), 0);
  assert_int_equal(c.n_pools, 1);
  assert_string_equal(c.pools[0].master_conf, pool_dir);
  assert_string_equal(c.pools[0].master, expect);
  fpm_conf_free(&c);

  /* each version of the Debian layout is its own master */
  char pattern[160];
  snprintf(pattern, sizeof pattern, "%s/*/fpm/php-fpm.conf", dir);
  const char *versions[] = {"7.4", "8.2"};
  for (size_t v = 0; v < 2; v++) {
    char d[200], p[240];
    snprintf(d, sizeof d, "%s/%s", dir, versions[v]);
    assert_int_equal(mkdir(d, 0755), 0);
    snprintf(d, sizeof d, "%s/%s/fpm", dir, versions[v]);
    assert_int_equal(mkdir(d, 0755), 0);
    snprintf(p, sizeof p, "%s/php-fpm.conf", d);
    f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "[www]\nlisten = /run/%s.sock\n", versions[v]);
    fclose(f);
  }
  struct fpm_conf_opts o = {.default_glob = pattern};
  assert_int_equal(fpm_conf_load(NULL, &o, &c), 0);
  assert_int_equal(c.n_pools, 2);
  assert_string_not_equal(c.pools[0].master, c.pools[1].master);
  assert_non_null(strstr(c.pools[0].master, "_7.4_fpm_php-fpm"));
  assert_non_null(strstr(c.pools[1].master, "_8.2_fpm_php-fpm"));
  fpm_conf_free(&c);

  /* a buffer: its name is the configuration */
  const char *text = "[a]\nlisten = /run/a.sock\n";
  assert_int_equal(fpm_conf_load_buffer("/etc/opt/remi/php81/php-fpm.conf",
                                        text, strlen(text), NULL, &c),
                   0);
  assert_string_equal(c.pools[0].master, "remi-php81-fpm");
  fpm_conf_free(&c);

  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_long_path),
      cmocka_unit_test(test_standard),
      cmocka_unit_test(test_pools_two_masters),
      cmocka_unit_test(test_pools_collision),
      cmocka_unit_test(test_pools_without_master_conf),
      cmocka_unit_test(test_many_pools),
      cmocka_unit_test(test_loaders),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
