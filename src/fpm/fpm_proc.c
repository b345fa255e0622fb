/*
 * fpm_proc.c: running php-fpm masters from /proc, and their pools
 * (fpm_proc.h). File access goes through fpm_nsroot (trust checks, paths
 * confined to a container's root); parsing is fpm_conf.
 */
#include "fpm_proc.h"

#include "fpm_master.h"
#include "fpm_nsroot.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMDLINE_MAX 8192

/* ------------------------------------------------------------- parsing */

int fpm_proc_is_fpm_name(const char *base) {
  if (base == NULL || strpbrk(base, ": /") != NULL)
    return 0;
  if (strncmp(base, "php-fpm", 7) == 0)
    return 1;
  return strncmp(base, "php", 3) == 0 && strstr(base, "-fpm") != NULL;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL ? s + 1 : path;
}

int fpm_proc_parse_title(const char *cmdline, size_t len, char *config,
                         size_t cap) {
  static const char mark[] = ": master process (";
  char first[CMDLINE_MAX];
  size_t n = strnlen(cmdline, len);
  if (n == 0 || n >= sizeof first)
    return 0;
  memcpy(first, cmdline, n);
  first[n] = '\0';
  while (n > 0 && (first[n - 1] == ' ' || first[n - 1] == '\0'))
    first[--n] = '\0'; /* titles may be padded */
  char *m = strstr(first, mark);
  if (m == NULL || n == 0 || first[n - 1] != ')')
    return 0;
  *m = '\0';
  if (!fpm_proc_is_fpm_name(first))
    return 0;
  const char *cfg = m + sizeof mark - 1;
  size_t cl = (size_t)(first + n - 1 - cfg);
  if (cl == 0 || cl >= cap)
    return 0;
  memcpy(config, cfg, cl);
  config[cl] = '\0';
  return 1;
}

/* The NUL-separated arguments of cmdline, at most max, into argv. */
static size_t split_args(const char *cmdline, size_t len, const char **argv,
                         size_t max) {
  size_t argc = 0, i = 0;
  while (i < len && argc < max) {
    argv[argc++] = cmdline + i;
    i += strnlen(cmdline + i, len - i) + 1;
  }
  return argc;
}

/* The value of option short/long at argv[*i] ("-y F", "-yF", "--long F",
 * "--long=F"), or NULL; *i is moved past a separate value. */
static const char *opt_value(const char *const *argv, size_t argc, size_t *i,
                             const char *shrt, const char *lng) {
  const char *a = argv[*i];
  size_t sl = strlen(shrt), ll = strlen(lng);
  if (strcmp(a, shrt) == 0 || strcmp(a, lng) == 0)
    return *i + 1 < argc ? argv[++*i] : NULL;
  if (strncmp(a, lng, ll) == 0 && a[ll] == '=')
    return a + ll + 1;
  if (strncmp(a, shrt, sl) == 0 && a[1] != '-' && a[sl] != '\0')
    return a + sl;
  return NULL;
}

int fpm_proc_parse_cmdline(const char *cmdline, size_t len, char *config,
                           size_t ccap, char *prefix, size_t pcap) {
  const char *argv[64];
  size_t argc = split_args(cmdline, len, argv, 64);
  config[0] = prefix[0] = '\0';
  if (argc == 0 || !fpm_proc_is_fpm_name(base_name(argv[0])))
    return 0;
  for (size_t i = 1; i < argc; i++) {
    const char *v;
    if ((v = opt_value(argv, argc, &i, "-y", "--fpm-config")) != NULL)
      snprintf(config, ccap, "%s", v);
    else if ((v = opt_value(argv, argc, &i, "-p", "--prefix")) != NULL)
      snprintf(prefix, pcap, "%s", v);
  }
  return 1;
}

/* dirname of path into out ("/" for "/x"). */
static void dir_of(const char *path, char *out, size_t cap) {
  const char *s = strrchr(path, '/');
  size_t n = s == NULL ? 0 : (size_t)(s - path);
  if (n == 0) {
    snprintf(out, cap, "%s", s != NULL ? "/" : ".");
    return;
  }
  snprintf(out, cap, "%.*s", (int)n, path);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

void fpm_proc_default_config(const char *exe, char *config, size_t ccap,
                             char *prefix, size_t pcap) {
  char bin[512], dir[512], pre[512];
  snprintf(bin, sizeof bin, "%s", exe);
  char *del = strstr(bin, " (deleted)");
  if (del != NULL)
    *del = '\0';
  dir_of(bin, dir, sizeof dir);
  dir_of(dir, pre, sizeof pre);
  snprintf(prefix, pcap, "%s", pre);
  const char *base = base_name(bin);
  if (strcmp(dir, "/usr/sbin") == 0 && strncmp(base, "php-fpm", 7) == 0 &&
      base[7] != '\0') { /* Debian: php-fpm8.2 */
    snprintf(config, ccap, "/etc/php/%s/fpm/php-fpm.conf", base + 7);
  } else if (strcmp(pre, "/usr") == 0) { /* RHEL */
    snprintf(config, ccap, "/etc/php-fpm.conf");
  } else if (ends_with(pre, "/root/usr")) { /* software collections */
    char scl[512];
    snprintf(scl, sizeof scl, "%.*s", (int)(strlen(pre) - 9), pre);
    if (strncmp(scl, "/opt/remi/", 10) == 0)
      snprintf(config, ccap, "/etc/opt/remi/%s/php-fpm.conf", base_name(scl));
    else
      snprintf(config, ccap, "%s/root/etc/php-fpm.conf", scl);
  } else { /* /usr/local, /opt/plesk/php/8.2, ... */
    snprintf(config, ccap, "%s/etc/php-fpm.conf",
             strcmp(pre, "/") == 0 ? "" : pre);
  }
}

/* --------------------------------------------------------------- /proc */

/* Up to cap - 1 bytes of fd, NUL-terminated; the count. */
static size_t read_small_fd(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n < cap - 1) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  return n;
}

static size_t read_small(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  size_t n = read_small_fd(fd, buf, cap);
  close(fd);
  return n;
}

static void proc_path(char *out, size_t cap, const char *proc, long pid,
                      const char *what) {
  snprintf(out, cap, "%s/%ld/%s", proc, pid, what);
}

static int ns_inode(const char *proc, const char *pid, const char *ns,
                    unsigned long *ino) {
  char p[128];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s/ns/%s", proc, pid, ns);
  if (stat(p, &st) != 0)
    return -1;
  *ino = (unsigned long)st.st_ino;
  return 0;
}

/* Effective uid and gid from /proc/PID/status. */
static void ids_of(const char *proc, long pid, uid_t *uid, gid_t *gid) {
  char p[128], buf[4096];
  proc_path(p, sizeof p, proc, pid, "status");
  read_small(p, buf, sizeof buf);
  const char *u = strstr(buf, "\nUid:");
  const char *g = strstr(buf, "\nGid:");
  unsigned long r, e;
  *uid = (uid_t)-1;
  *gid = (gid_t)-1;
  if (u != NULL && sscanf(u + 5, "%lu %lu", &r, &e) == 2)
    *uid = (uid_t)e;
  if (g != NULL && sscanf(g + 5, "%lu %lu", &r, &e) == 2)
    *gid = (gid_t)e;
}

/* The host uid its user namespace maps 0 to (0 outside user namespaces). */
static uid_t root_uid_of(const char *proc, long pid) {
  char p[128], buf[4096];
  proc_path(p, sizeof p, proc, pid, "uid_map");
  if (read_small(p, buf, sizeof buf) == 0)
    return 0;
  for (char *line = buf; line != NULL && *line != '\0';) {
    unsigned long in, out, count;
    if (sscanf(line, "%lu %lu %lu", &in, &out, &count) == 3 && in == 0 &&
        count > 0)
      return (uid_t)out;
    line = strchr(line, '\n');
    line = line != NULL ? line + 1 : NULL;
  }
  return 0;
}

static long parent_of(const char *proc, long pid) {
  char p[128], buf[1024];
  proc_path(p, sizeof p, proc, pid, "stat");
  if (read_small(p, buf, sizeof buf) == 0)
    return -1;
  const char *close = strrchr(buf, ')'); /* comm may hold spaces */
  long ppid = -1;
  char state;
  if (close == NULL || sscanf(close + 1, " %c %ld", &state, &ppid) != 2)
    return -1;
  return ppid;
}

static int exe_of(const char *proc, long pid, char *out, size_t cap) {
  char p[128];
  proc_path(p, sizeof p, proc, pid, "exe");
  ssize_t n = readlink(p, out, cap - 1);
  if (n < 0) {
    out[0] = '\0';
    return -1;
  }
  out[n] = '\0';
  return 0;
}

/* Whether the executable of pid is a root-owned php-fpm binary. */
static int check_exe(const char *proc, struct fpm_master *m) {
  char p[128], base[512];
  struct stat st;
  if (m->exe[0] == '\0') {
    snprintf(m->why, sizeof m->why,
             "cannot read its executable (%s/%ld/exe): %s", proc, (long)m->pid,
             geteuid() != 0 ? "run as root"
                            : "needs CAP_SYS_PTRACE (run as root without "
                              "dropping it)");
    return -1;
  }
  snprintf(base, sizeof base, "%s", base_name(m->exe));
  char *del = strstr(base, " (deleted)");
  if (del != NULL)
    *del = '\0';
  if (!fpm_proc_is_fpm_name(base)) {
    snprintf(m->why, sizeof m->why,
             "its executable %s is not php-fpm: a process that only calls "
             "itself a php-fpm master",
             m->exe);
    return -1;
  }
  proc_path(p, sizeof p, proc, m->pid, "exe");
  if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(m->why, sizeof m->why, "cannot check its executable %s: %s",
             m->exe, strerror(errno));
    return -1;
  }
  if ((st.st_uid != 0 && st.st_uid != m->root_uid) ||
      (st.st_mode & (S_IWGRP | S_IWOTH))) {
    snprintf(m->why, sizeof m->why,
             "its executable %s is owned by uid %u with mode %04o: a real "
             "php-fpm binary is owned by root and writable by root only",
             m->exe, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return -1;
  }
  return 0;
}

/* A relative configuration path is relative to the master's working
 * directory. */
static void absolute(const char *proc, struct fpm_master *m) {
  if (m->config[0] == '/' || m->config[0] == '\0')
    return;
  char p[128], cwd[512], full[sizeof m->config];
  proc_path(p, sizeof p, proc, m->pid, "cwd");
  ssize_t n = readlink(p, cwd, sizeof cwd - 1);
  if (n <= 0 || cwd[0] != '/')
    return; /* left relative: reported when it cannot be opened */
  cwd[n] = '\0';
  if (snprintf(full, sizeof full, "%s/%s", strcmp(cwd, "/") ? cwd : "",
               m->config) < (int)sizeof full)
    snprintf(m->config, sizeof m->config, "%s", full);
}

/* Fill m for pid when it is a php-fpm master; 0 when it is not one. */
static int examine(const char *proc, const char *name, struct fpm_master *m,
                   const unsigned long self[2]) {
  char p[128], cmd[CMDLINE_MAX];
  long pid = strtol(name, NULL, 10);
  memset(m, 0, sizeof *m);
  m->pid = (pid_t)pid;
  proc_path(p, sizeof p, proc, pid, "cmdline");
  size_t len = read_small(p, cmd, sizeof cmd);
  if (len == 0)
    return 0; /* kernel thread, or gone */
  char prefix[sizeof m->prefix] = "";
  if (exe_of(proc, pid, m->exe, sizeof m->exe) != 0 && errno == ENOENT)
    return 0; /* exited meanwhile, or a kernel thread */
  if (fpm_proc_parse_title(cmd, len, m->config, sizeof m->config)) {
    m->found = "process title";
  } else if (fpm_proc_parse_cmdline(cmd, len, m->config, sizeof m->config,
                                    prefix, sizeof prefix)) {
    char pexe[512];
    long ppid = parent_of(proc, pid);
    if (ppid > 0 && exe_of(proc, ppid, pexe, sizeof pexe) == 0 &&
        strcmp(pexe, m->exe) == 0)
      return 0; /* a worker not yet titled */
    m->found = m->config[0] != '\0' ? "command line" : "default";
  } else {
    return 0;
  }
  char dflt[sizeof m->config], dprefix[sizeof m->prefix];
  fpm_proc_default_config(m->exe[0] ? m->exe : "/usr/sbin/php-fpm", dflt,
                          sizeof dflt, dprefix, sizeof dprefix);
  if (m->config[0] == '\0')
    snprintf(m->config, sizeof m->config, "%s", dflt);
  snprintf(m->prefix, sizeof m->prefix, "%s", prefix[0] ? prefix : dprefix);
  ids_of(proc, pid, &m->uid, &m->gid);
  m->root_uid = root_uid_of(proc, pid);
  unsigned long mnt = 0, net = 0;
  if (ns_inode(proc, name, "mnt", &mnt) == 0 && mnt != self[0]) {
    m->other_mnt = 1;
    snprintf(m->root, sizeof m->root, "%s/%ld/root", proc, pid);
    snprintf(m->tag, sizeof m->tag, "ns%lu", mnt);
  }
  if (ns_inode(proc, name, "net", &net) == 0 && net != self[1]) {
    m->other_net = 1;
    snprintf(m->netns, sizeof m->netns, "%s/%ld/ns/net", proc, pid);
    if (m->tag[0] == '\0')
      snprintf(m->tag, sizeof m->tag, "net%lu", net);
  }
  if (!m->other_mnt)
    absolute(proc, m);
  else if (m->config[0] != '/')
    snprintf(m->why, sizeof m->why,
             "its configuration path %s is relative, inside another mount "
             "namespace: start it with an absolute -y path",
             m->config);
  m->trusted = m->why[0] == '\0' && check_exe(proc, m) == 0;
  return 1;
}

static int by_master(const void *a, const void *b) {
  const struct fpm_master *x = a, *y = b;
  if (x->other_mnt + x->other_net != y->other_mnt + y->other_net)
    return (x->other_mnt || x->other_net) ? 1 : -1;
  int c = strcmp(x->tag, y->tag);
  if (c == 0)
    c = strcmp(x->config, y->config);
  return c != 0 ? c : (x->pid > y->pid) - (x->pid < y->pid);
}

int fpm_proc_scan(const char *proc, struct fpm_master **v, size_t *n) {
  *v = NULL;
  *n = 0;
  DIR *d = opendir(proc);
  if (d == NULL)
    return -1;
  unsigned long self[2] = {0, 0};
  ns_inode(proc, "self", "mnt", &self[0]);
  ns_inode(proc, "self", "net", &self[1]);
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    if (*n == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      struct fpm_master *nv = realloc(*v, ncap * sizeof *nv);
      if (nv == NULL)
        break; /* the masters found so far */
      *v = nv;
      cap = ncap;
    }
    if (examine(proc, e->d_name, &(*v)[*n], self))
      (*n)++;
  }
  closedir(d);
  if (*n > 1)
    qsort(*v, *n, sizeof **v, by_master);
  return 0;
}

/* ------------------------------------------------------------- loading */

struct file_key {
  dev_t dev;
  ino_t ino;
};

struct loader {
  struct fpm_conf *conf;
  struct file_key *seen;
  size_t n_seen, cap_seen;
};

static void add_diag(struct fpm_conf *c, const char *file, int warning,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_diag(struct fpm_conf *c, const char *file, int warning,
                     const char *fmt, ...) {
  struct fpm_conf_diag *nd = realloc(c->diags, (c->n_diags + 1) * sizeof *nd);
  if (nd == NULL)
    return;
  c->diags = nd;
  struct fpm_conf_diag *d = &c->diags[c->n_diags++];
  memset(d, 0, sizeof *d);
  snprintf(d->file, sizeof d->file, "%s", file);
  d->warning = warning;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->message, sizeof d->message, fmt, ap);
  va_end(ap);
}

/* 1 when the file was seen already, else it is remembered. */
static int seen_file(struct loader *l, dev_t dev, ino_t ino) {
  for (size_t i = 0; i < l->n_seen; i++)
    if (l->seen[i].dev == dev && l->seen[i].ino == ino)
      return 1;
  if (l->n_seen == l->cap_seen) {
    size_t ncap = l->cap_seen ? l->cap_seen * 2 : 8;
    struct file_key *nv = realloc(l->seen, ncap * sizeof *nv);
    if (nv == NULL)
      return 0;
    l->seen = nv;
    l->cap_seen = ncap;
  }
  l->seen[l->n_seen].dev = dev;
  l->seen[l->n_seen++].ino = ino;
  return 0;
}

static int name_taken(const struct fpm_conf *c, const char *name) {
  for (size_t i = 0; i < c->n_pools; i++)
    if (strcasecmp(c->pools[i].name, name) == 0)
      return 1;
  return 0;
}

/* What tells a configuration apart in a pool name: the first directory of
 * its path (from the file up) holding a digit ("8.1", "ea-php81",
 * "php81"), else the directory it is in. */
static void label_of(const char *path, char *out, size_t cap) {
  char dir[512];
  dir_of(path, dir, sizeof dir);
  for (char *end = dir + strlen(dir); end > dir;) {
    char *s = end;
    while (s > dir && s[-1] != '/')
      s--;
    if (strpbrk(s, "0123456789") != NULL && (size_t)(end - s) < cap) {
      snprintf(out, cap, "%.*s", (int)(end - s), s);
      return;
    }
    end = s > dir ? s - 1 : dir;
  }
  snprintf(out, cap, "%.63s", base_name(dir));
}

/* Append tmp's pools and diagnostics to conf; m is the master (NULL: a
 * fallback configuration at path). */
static int merge(struct fpm_conf *conf, struct fpm_conf *tmp,
                 const struct fpm_master *m, const char *path) {
  struct fpm_conf_pool *np =
      realloc(conf->pools, (conf->n_pools + tmp->n_pools + 1) * sizeof *np);
  if (np == NULL)
    return -1;
  conf->pools = np;
  char label[64];
  label_of(path, label, sizeof label);
  for (size_t i = 0; i < tmp->n_pools; i++) {
    struct fpm_conf_pool *p = &conf->pools[conf->n_pools];
    *p = tmp->pools[i];
    if ((m == NULL || m->tag[0] == '\0') && name_taken(conf, p->name)) {
      char renamed[sizeof p->name];
      snprintf(renamed, sizeof renamed, "%.40s@%.20s", p->name, label);
      for (int k = 2; name_taken(conf, renamed) && k < 1000; k++)
        snprintf(renamed, sizeof renamed, "%.40s@%.14s-%d", p->name, label, k);
      add_diag(tmp, p->file, 1,
               "pool [%s] is also the name of a pool of another php-fpm "
               "configuration: this one is named \"%s\"",
               p->name, renamed);
      snprintf(p->name, sizeof p->name, "%s", renamed);
    }
    if (m != NULL) {
      snprintf(p->root, sizeof p->root, "%s", m->root);
      snprintf(p->netns, sizeof p->netns, "%s", m->netns);
      snprintf(p->tag, sizeof p->tag, "%s", m->tag);
      /* as the master names it, not as read from here (/proc/PID/root) */
      snprintf(p->master_conf, sizeof p->master_conf, "%s", m->config);
      p->master_pid = (long)m->pid;
    }
    conf->n_pools++;
  }
  struct fpm_conf_diag *nd =
      realloc(conf->diags, (conf->n_diags + tmp->n_diags + 1) * sizeof *nd);
  if (nd == NULL)
    return -1;
  conf->diags = nd;
  if (tmp->n_diags > 0)
    memcpy(conf->diags + conf->n_diags, tmp->diags,
           tmp->n_diags * sizeof *tmp->diags);
  conf->n_diags += tmp->n_diags;
  conf->n_files += tmp->n_files;
  return 0;
}

static void load_master(struct loader *l, const struct fpm_master *m,
                        const struct fpm_conf_opts *opts) {
  char where[64];
  snprintf(where, sizeof where, "php-fpm master %ld", (long)m->pid);
  if (!m->trusted) {
    if (strcmp(m->found, "process title") == 0)
      add_diag(l->conf, where, 1, "titled as the master of %s, not read: %s",
               m->config, m->why);
    else
      add_diag(l->conf, where, 1,
               "a php-fpm command line (configuration %s), not read: %s",
               m->config, m->why);
    return;
  }
  struct fpm_nsroot r;
  char why[300], path[600];
  if (fpm_nsroot_init(&r, m->root, m->uid, m->gid, m->root_uid, why,
                      sizeof why) != 0) {
    add_diag(l->conf, where, 1, "%s not read: %s", m->config, why);
    return;
  }
  snprintf(path, sizeof path, "%s%s", m->root, m->config);
  int fd = fpm_nsroot_open(&r, path, why, sizeof why);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    add_diag(l->conf, path, 1, "configuration of %s (found by its %s): %s",
             where, m->found, fd < 0 ? why : strerror(errno));
    if (fd >= 0)
      close(fd);
    fpm_nsroot_close(&r);
    return;
  }
  close(fd);
  if (seen_file(l, st.st_dev, st.st_ino)) {
    fpm_nsroot_close(&r);
    return; /* one master seen twice */
  }
  struct fpm_conf_fs fs;
  fpm_nsroot_fs(&r, &fs);
  struct fpm_conf_opts o = {0};
  if (opts != NULL)
    o = *opts;
  o.fs = &fs;
  o.prefix = m->prefix;
  o.name_suffix = m->tag[0] != '\0' ? m->tag : NULL;
  o.default_glob = NULL;
  struct fpm_conf tmp;
  fpm_conf_load(path, &o, &tmp);
  if (merge(l->conf, &tmp, m, m->config) != 0)
    add_diag(l->conf, path, 0, "out of memory");
  fpm_conf_free(&tmp);
  fpm_nsroot_close(&r);
}

static const char *const fallbacks[] = {
    FPM_CONF_DEFAULT_GLOB,
    "/etc/php-fpm.conf",
    "/etc/opt/remi/*/php-fpm.conf",
    "/opt/cpanel/*/root/etc/php-fpm.conf",
    "/opt/plesk/php/*/etc/php-fpm.conf",
    "/usr/local/etc/php-fpm.conf",
};

static void load_fallback(struct loader *l, const char *pattern,
                          const struct fpm_conf_opts *opts) {
  glob_t g;
  memset(&g, 0, sizeof g);
  if (glob(pattern, 0, NULL, &g) != 0) {
    globfree(&g);
    return;
  }
  for (size_t i = 0; i < g.gl_pathc; i++) {
    struct stat st;
    if (stat(g.gl_pathv[i], &st) != 0 || seen_file(l, st.st_dev, st.st_ino))
      continue;
    struct fpm_conf_opts o = {0};
    if (opts != NULL)
      o = *opts;
    o.default_glob = NULL;
    o.fs = NULL;
    o.name_suffix = NULL;
    struct fpm_conf tmp;
    fpm_conf_load(g.gl_pathv[i], &o, &tmp);
    if (merge(l->conf, &tmp, NULL, g.gl_pathv[i]) != 0)
      add_diag(l->conf, g.gl_pathv[i], 0, "out of memory");
    fpm_conf_free(&tmp);
  }
  globfree(&g);
}

int fpm_proc_load(const struct fpm_conf_opts *opts, struct fpm_conf *conf) {
  memset(conf, 0, sizeof *conf);
  struct loader l = {conf, NULL, 0, 0};
  struct fpm_master *v = NULL;
  size_t n = 0;
  if (fpm_proc_scan("/proc", &v, &n) != 0)
    add_diag(conf, "/proc", 1, "cannot list the processes: %s",
             strerror(errno));
  for (size_t i = 0; i < n; i++)
    load_master(&l, &v[i], opts);
  free(v);
  if (opts != NULL && opts->default_glob != NULL) {
    load_fallback(&l, opts->default_glob, opts);
  } else {
    for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++)
      load_fallback(&l, fallbacks[i], opts);
  }
  free(l.seen);
  fpm_master_name_pools(conf); /* now that every master's pools are in */
  if (conf->n_files == 0) {
    add_diag(conf, "php-fpm configuration", 0,
             "no running php-fpm master and no configuration at the usual "
             "places (/etc/php/*/fpm, /etc/php-fpm.conf, /usr/local/etc, "
             "/opt/cpanel, /opt/plesk, /etc/opt/remi): is php-fpm "
             "installed?");
    return -1;
  }
  return 0;
}

int fpm_discover_load(const char *path, const struct fpm_conf_opts *opts,
                      struct fpm_conf *conf) {
  if (path != NULL)
    return fpm_conf_load(path, opts, conf);
  return fpm_proc_load(opts, conf);
}
