/*
 * test_fpm_proc.c: finding php-fpm masters (process titles, command lines,
 * a binary's default configuration) and reading their files safely
 * (fpm_nsroot: the trust rules, paths and include globs confined to a
 * root, fpm_conf through those hooks, pool names with a container's tag).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fpm_nsroot.h"
#include "fpm_proc.h"
#include "openat_root.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD(s) s, sizeof s - 1 /* a cmdline literal with its NULs */

static void test_title(void **state) {
  (void)state;
  char c[512];
  assert_int_equal(
      fpm_proc_parse_title(CMD("php-fpm: master process (/etc/php-fpm.conf)\0"),
                           c, sizeof c),
      1);
  assert_string_equal(c, "/etc/php-fpm.conf");
  /* padded with NULs and spaces, as a rewritten argv area is */
  assert_int_equal(
      fpm_proc_parse_title(
          CMD("php-fpm: master process (/a b/(x)/php-fpm.conf)  \0\0\0\0"), c,
          sizeof c),
      1);
  assert_string_equal(c, "/a b/(x)/php-fpm.conf");
  assert_int_equal(
      fpm_proc_parse_title(CMD("php-fpm8.2: master process (fpm.conf)\0"), c,
                           sizeof c),
      1);
  assert_string_equal(c, "fpm.conf");
  /* not a master's title */
  assert_int_equal(
      fpm_proc_parse_title(CMD("php-fpm: pool www\0"), c, sizeof c), 0);
  assert_int_equal(
      fpm_proc_parse_title(CMD("perl: master process (/etc/shadow)\0"), c,
                           sizeof c),
      0);
  assert_int_equal(fpm_proc_parse_title(
                       CMD("php-fpm: master process (/etc/x\0"), c, sizeof c),
                   0);
  assert_int_equal(
      fpm_proc_parse_title(CMD("php-fpm: master process ()\0"), c, sizeof c),
      0);
  assert_int_equal(fpm_proc_parse_title("", 0, c, sizeof c), 0);
}

static void test_cmdline(void **state) {
  (void)state;
  char c[256], p[256];
  assert_int_equal(fpm_proc_parse_cmdline(
                       CMD("/usr/sbin/php-fpm8.2\0-R\0-y\0/srv/fpm.conf\0"), c,
                       sizeof c, p, sizeof p),
                   1);
  assert_string_equal(c, "/srv/fpm.conf");
  assert_string_equal(p, "");
  assert_int_equal(
      fpm_proc_parse_cmdline(CMD("php-fpm\0-y/a.conf\0--prefix\0/opt/x\0"), c,
                             sizeof c, p, sizeof p),
      1);
  assert_string_equal(c, "/a.conf");
  assert_string_equal(p, "/opt/x");
  assert_int_equal(
      fpm_proc_parse_cmdline(CMD("php-fpm82\0--fpm-config=/b.conf\0-p/pre\0"),
                             c, sizeof c, p, sizeof p),
      1);
  assert_string_equal(c, "/b.conf");
  assert_string_equal(p, "/pre");
  assert_int_equal(fpm_proc_parse_cmdline(
                       CMD("php-fpm\0--fpm-config\0/c.conf\0--nodaemonize\0"),
                       c, sizeof c, p, sizeof p),
                   1);
  assert_string_equal(c, "/c.conf");
  /* the binary's default: no -y */
  assert_int_equal(fpm_proc_parse_cmdline(CMD("/usr/local/sbin/php-fpm\0-F\0"),
                                          c, sizeof c, p, sizeof p),
                   1);
  assert_string_equal(c, "");
  /* a -y with nothing after it */
  assert_int_equal(
      fpm_proc_parse_cmdline(CMD("php-fpm\0-y\0"), c, sizeof c, p, sizeof p),
      1);
  assert_string_equal(c, "");
  /* not php-fpm */
  assert_int_equal(
      fpm_proc_parse_cmdline(CMD("bash\0-y\0/x\0"), c, sizeof c, p, sizeof p),
      0);
  assert_int_equal(fpm_proc_parse_cmdline(CMD("php-fpm: pool www\0"), c,
                                          sizeof c, p, sizeof p),
                   0);
  assert_int_equal(fpm_proc_parse_cmdline(CMD("/usr/bin/php\0-y\0/x\0"), c,
                                          sizeof c, p, sizeof p),
                   0);
}

static void test_fpm_names(void **state) {
  (void)state;
  assert_true(fpm_proc_is_fpm_name("php-fpm"));
  assert_true(fpm_proc_is_fpm_name("php-fpm8.2"));
  assert_true(fpm_proc_is_fpm_name("php81-fpm"));
  assert_false(fpm_proc_is_fpm_name("php"));
  assert_false(fpm_proc_is_fpm_name("sleep"));
  assert_false(fpm_proc_is_fpm_name("php-fpm: pool www"));
  assert_false(fpm_proc_is_fpm_name(NULL));
}

static void dflt(const char *exe, const char *want, const char *want_prefix) {
  char c[512], p[512];
  fpm_proc_default_config(exe, c, sizeof c, p, sizeof p);
  assert_string_equal(c, want);
  assert_string_equal(p, want_prefix);
}

static void test_default_config(void **state) {
  (void)state;
  dflt("/usr/sbin/php-fpm8.2", "/etc/php/8.2/fpm/php-fpm.conf", "/usr");
  dflt("/usr/sbin/php-fpm8.1 (deleted)", "/etc/php/8.1/fpm/php-fpm.conf",
       "/usr");
  dflt("/usr/sbin/php-fpm", "/etc/php-fpm.conf", "/usr");
  dflt("/usr/local/sbin/php-fpm", "/usr/local/etc/php-fpm.conf", "/usr/local");
  dflt("/opt/cpanel/ea-php81/root/usr/sbin/php-fpm",
       "/opt/cpanel/ea-php81/root/etc/php-fpm.conf",
       "/opt/cpanel/ea-php81/root/usr");
  dflt("/opt/remi/php81/root/usr/sbin/php-fpm",
       "/etc/opt/remi/php81/php-fpm.conf", "/opt/remi/php81/root/usr");
  dflt("/opt/plesk/php/8.2/sbin/php-fpm", "/opt/plesk/php/8.2/etc/php-fpm.conf",
       "/opt/plesk/php/8.2");
}

/* ----------------------------------------------------------- trust */

static struct stat st_of(mode_t mode, uid_t uid, gid_t gid) {
  struct stat st;
  memset(&st, 0, sizeof st);
  st.st_mode = mode;
  st.st_uid = uid;
  st.st_gid = gid;
  return st;
}

static int trusted(mode_t mode, uid_t fu, gid_t fg, uid_t mu, gid_t mg,
                   char *why) {
  struct stat st = st_of(mode, fu, fg);
  why[0] = '\0';
  return fpm_nsroot_trusted(&st, mu, mg, 0, why, 200);
}

static void test_trust(void **state) {
  (void)state;
  char why[200];
  /* a root master: root's files */
  assert_int_equal(trusted(S_IFREG | 0644, 0, 0, 0, 0, why), 0);
  assert_int_equal(trusted(S_IFREG | 0600, 0, 0, 0, 0, why), 0);
  assert_int_equal(trusted(S_IFREG | 0664, 0, 0, 0, 0, why), 0);
  assert_int_equal(trusted(S_IFREG | 0644, 1000, 1000, 0, 0, why), -1);
  assert_non_null(strstr(why, "owned by uid 1000, neither root nor"));
  assert_int_equal(trusted(S_IFREG | 0646, 0, 0, 0, 0, why), -1);
  assert_non_null(strstr(why, "writable by every user (mode 0646)"));
  assert_int_equal(trusted(S_IFREG | 0664, 0, 50, 0, 0, why), -1);
  assert_non_null(strstr(why, "writable by group 50"));
  assert_int_equal(trusted(S_IFDIR | 0755, 0, 0, 0, 0, why), -1);
  assert_non_null(strstr(why, "not a regular file"));
  /* a master running as 33:33 */
  assert_int_equal(trusted(S_IFREG | 0600, 33, 33, 33, 33, why), 0);
  assert_int_equal(trusted(S_IFREG | 0664, 33, 33, 33, 33, why), 0);
  assert_int_equal(trusted(S_IFREG | 0644, 0, 0, 33, 33, why), 0);
  assert_int_equal(trusted(S_IFREG | 0640, 0, 33, 33, 33, why), 0);
  /* /etc/shadow-like: root's, not readable by the master: never read */
  assert_int_equal(trusted(S_IFREG | 0640, 0, 42, 33, 33, why), -1);
  assert_non_null(strstr(why, "the master runs as uid 33, which cannot read"));
  assert_int_equal(trusted(S_IFREG | 0644, 34, 34, 33, 33, why), -1);
  /* a user namespace: root is uid 100000 on the host */
  struct stat st = st_of(S_IFREG | 0644, 100000, 100000);
  assert_int_equal(fpm_nsroot_trusted(&st, 100000, 100000, 100000, why, 200),
                   0);
  assert_int_equal(fpm_nsroot_trusted(&st, 100033, 100033, 0, why, 200), -1);
}

/* --------------------------------------------------- files in a root */

struct tree {
  char base[64];
  char root[128];
  char secret[160];
};

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void make_tree(struct tree *t) {
  char p[300];
  snprintf(t->base, sizeof t->base, "/tmp/fpm-proc.XXXXXX");
  assert_non_null(mkdtemp(t->base));
  snprintf(t->root, sizeof t->root, "%s/root", t->base);
  snprintf(t->secret, sizeof t->secret, "%s/secret.conf", t->base);
  put(t->secret, "[SECRET_MARKER]\nlisten = /s.sock\npm.status_path = /s\n");
  mkdir(t->root, 0755);
  snprintf(p, sizeof p, "%s/etc", t->root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/etc/pool.d", t->root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/etc/php-fpm.conf", t->root);
  put(p, "[global]\ninclude = /etc/pool.d/*.conf\n");
  snprintf(p, sizeof p, "%s/etc/pool.d/10-www.conf", t->root);
  put(p, "[www]\nlisten = /run/www.sock\npm.status_path = /status\n");
  /* planted: an absolute link and a ".." link to the host's secret */
  snprintf(p, sizeof p, "%s/etc/pool.d/20-abs.conf", t->root);
  assert_int_equal(symlink(t->secret, p), 0);
  char up[300];
  snprintf(up, sizeof up, "../../../../../../..%s", t->secret);
  snprintf(p, sizeof p, "%s/etc/pool.d/30-up.conf", t->root);
  assert_int_equal(symlink(up, p), 0);
  /* a world-writable file */
  snprintf(p, sizeof p, "%s/etc/pool.d/40-ww.conf", t->root);
  put(p, "[ww]\nlisten = /run/ww.sock\n");
  chmod(p, 0666);
  /* an in-root absolute link: allowed, it stays inside */
  snprintf(p, sizeof p, "%s/etc/pool.d/50-in.conf", t->root);
  assert_int_equal(symlink("/etc/other.conf", p), 0);
  snprintf(p, sizeof p, "%s/etc/other.conf", t->root);
  put(p, "[other]\nlisten = 127.0.0.1:9000\npm.status_path = /status\n");
}

static void drop_tree(struct tree *t) {
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->base);
  assert_int_equal(system(cmd), 0);
}

static void test_nsroot_open_glob(void **state) {
  (void)state;
  struct tree t;
  make_tree(&t);
  struct fpm_nsroot r;
  char why[300], p[300];
  assert_int_equal(fpm_nsroot_init(&r, t.root, 0, 0, 0, why, sizeof why), 0);
  int fd = fpm_nsroot_open(&r, "/etc/php-fpm.conf", why, sizeof why);
  assert_true(fd >= 0);
  close(fd);
  snprintf(p, sizeof p, "%s/etc/php-fpm.conf", t.root); /* with the prefix */
  fd = fpm_nsroot_open(&r, p, why, sizeof why);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(
      fpm_nsroot_open(&r, "/etc/pool.d/20-abs.conf", why, sizeof why), -1);
  assert_non_null(strstr(why, "No such file"));
  assert_int_equal(
      fpm_nsroot_open(&r, "/etc/pool.d/30-up.conf", why, sizeof why), -1);
  assert_int_equal(
      fpm_nsroot_open(&r, "/etc/pool.d/40-ww.conf", why, sizeof why), -1);
  assert_non_null(strstr(why, "not trusted, not read: writable by every"));
  fd = fpm_nsroot_open(&r, "/etc/pool.d/50-in.conf", why, sizeof why);
  assert_true(fd >= 0);
  close(fd);

  char **v = NULL;
  size_t n = 0;
  assert_int_equal(
      fpm_nsroot_glob(&r, "/etc/pool.d/*.conf", &v, &n, why, sizeof why), 0);
  assert_int_equal(n, 5);
  snprintf(p, sizeof p, "%s/etc/pool.d/10-www.conf", t.root);
  assert_string_equal(v[0], p);
  snprintf(p, sizeof p, "%s/etc/pool.d/50-in.conf", t.root);
  assert_string_equal(v[4], p);
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
  assert_int_equal(
      fpm_nsroot_glob(&r, "/e*/pool.d/1*.conf", &v, &n, why, sizeof why), 0);
  assert_int_equal(n, 1);
  free(v[0]);
  free(v);
  assert_int_equal(
      fpm_nsroot_glob(&r, "/nowhere/*.conf", &v, &n, why, sizeof why), 1);
  assert_int_equal(fpm_nsroot_glob(&r, "rel/*.conf", &v, &n, why, sizeof why),
                   -1);
  fpm_nsroot_close(&r);

  /* a root that cannot be opened */
  assert_int_equal(
      fpm_nsroot_init(&r, "/nonexistent-root", 0, 0, 0, why, sizeof why), -1);
  assert_non_null(strstr(why, "cannot open its root /nonexistent-root"));
  drop_tree(&t);
}

/* The walk without openat2 resolves as openat2 does: same file or same
 * failure for each path. */
static void test_walk_as_openat2(void **state) {
  (void)state;
  struct tree t;
  make_tree(&t);
  char p[300];
  snprintf(p, sizeof p, "%s/etc/loop", t.root);
  assert_int_equal(symlink("/etc/loop", p), 0);
  snprintf(p, sizeof p, "%s/etc/self", t.root);
  assert_int_equal(symlink("/proc/self/fd/0", p), 0);
  snprintf(p, sizeof p, "%s/etc/dir", t.root);
  assert_int_equal(symlink("pool.d", p), 0);
  int root = open(t.root, O_PATH | O_DIRECTORY);
  assert_true(root >= 0);
  static const char *const paths[] = {"/etc/php-fpm.conf",
                                      "etc/php-fpm.conf",
                                      "/etc/../etc/php-fpm.conf",
                                      "../../../etc/php-fpm.conf",
                                      "/etc/pool.d/20-abs.conf",
                                      "/etc/pool.d/30-up.conf",
                                      "/etc/pool.d/50-in.conf",
                                      "/etc/loop",
                                      "/etc/self",
                                      "/etc/dir/10-www.conf",
                                      "/etc/dir/../other.conf",
                                      "/etc/php-fpm.conf/x",
                                      "/",
                                      "/etc/",
                                      "/nope"};
  static const int flags[] = {O_RDONLY, O_PATH | O_NOFOLLOW,
                              O_RDONLY | O_NOFOLLOW};
  for (size_t k = 0; k < 3 * sizeof paths / sizeof paths[0]; k++) {
    size_t i = k / 3;
    int a = openat_root(root, paths[i], flags[k % 3]);
    int ea = errno;
    int b = openat_root_walk(root, paths[i], flags[k % 3]);
    int eb = errno;
    print_message("%s flags %#x: openat2 %d (%d), walk %d (%d)\n", paths[i],
                  (unsigned)flags[k % 3], a, a < 0 ? ea : 0, b, b < 0 ? eb : 0);
    assert_int_equal(a >= 0, b >= 0);
    if (a >= 0) {
      struct stat sa, sb;
      fstat(a, &sa);
      fstat(b, &sb);
      assert_true(sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev);
      close(a);
      close(b);
    } else {
      assert_int_equal(ea, eb);
    }
  }
  close(root);
  drop_tree(&t);
}

/* fpm_conf through the hooks: the pools inside the root, none from the
 * host's secret, the tag on every name, each refusal a diagnostic that
 * quotes nothing of a file. */
static void test_conf_in_root(void **state) {
  (void)state;
  struct tree t;
  make_tree(&t);
  struct fpm_nsroot r;
  char why[300], path[300];
  assert_int_equal(fpm_nsroot_init(&r, t.root, 0, 0, 0, why, sizeof why), 0);
  struct fpm_conf_fs fs;
  fpm_nsroot_fs(&r, &fs);
  struct fpm_conf_opts o = {.fs = &fs, .name_suffix = "ns7"};
  struct fpm_conf c;
  snprintf(path, sizeof path, "%s/etc/php-fpm.conf", t.root);
  assert_int_equal(fpm_conf_load(path, &o, &c), 0);
  assert_int_equal(c.n_pools, 2);
  assert_string_equal(c.pools[0].name, "www@ns7");
  assert_string_equal(c.pools[0].endpoint, "unix:/run/www.sock");
  assert_string_equal(c.pools[1].name, "other@ns7");
  int refused = 0;
  for (size_t i = 0; i < c.n_diags; i++) {
    assert_null(strstr(c.diags[i].message, "SECRET"));
    assert_null(strstr(c.diags[i].file, "SECRET"));
    refused += c.diags[i].unreadable;
  }
  assert_int_equal(refused, 3); /* 20-abs, 30-up, 40-ww */
  fpm_conf_free(&c);
  fpm_nsroot_close(&r);

  /* the same tree read as a non-root master's (uid 33): root's 0600 file
   * is refused, as that master could not read it */
  snprintf(path, sizeof path, "%s/etc/php-fpm.conf", t.root);
  chmod(path, 0600);
  assert_int_equal(fpm_nsroot_init(&r, t.root, 33, 33, 0, why, sizeof why), 0);
  fpm_nsroot_fs(&r, &fs);
  assert_int_equal(fpm_conf_load(path, &o, &c), -1);
  assert_int_equal(c.n_diags, 1);
  assert_non_null(strstr(c.diags[0].message, "uid 33, which cannot read"));
  fpm_conf_free(&c);
  fpm_nsroot_close(&r);
  drop_tree(&t);
}

/* The scan of this machine's /proc: whatever runs, it returns sorted,
 * plausible masters and no error. */
static void test_scan_self(void **state) {
  (void)state;
  struct fpm_master *v = NULL;
  size_t n = 0;
  assert_int_equal(fpm_proc_scan("/proc", &v, &n), 0);
  for (size_t i = 0; i < n; i++) {
    assert_true(v[i].pid > 0);
    assert_true(v[i].config[0] != '\0');
    assert_true(v[i].trusted || v[i].why[0] != '\0');
    if (i > 0)
      assert_true(!(v[i - 1].other_mnt || v[i - 1].other_net) ||
                  v[i].other_mnt || v[i].other_net);
  }
  free(v);
  assert_int_equal(fpm_proc_scan("/nonexistent-proc", &v, &n), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_title),
      cmocka_unit_test(test_cmdline),
      cmocka_unit_test(test_fpm_names),
      cmocka_unit_test(test_default_config),
      cmocka_unit_test(test_trust),
      cmocka_unit_test(test_nsroot_open_glob),
      cmocka_unit_test(test_walk_as_openat2),
      cmocka_unit_test(test_conf_in_root),
      cmocka_unit_test(test_scan_self),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
