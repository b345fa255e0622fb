/*
 * fpm_nsroot.c: trusted, root-confined opening of a php-fpm master's
 * configuration files (fpm_nsroot.h).
 */
#include "fpm_nsroot.h"

#include "openat_root.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GLOB_MATCHES 100000 /* memory bound only */

int fpm_nsroot_init(struct fpm_nsroot *r, const char *root, uid_t uid,
                    gid_t gid, uid_t root_uid, char *why, size_t whylen) {
  memset(r, 0, sizeof *r);
  r->root_fd = -1;
  r->uid = uid;
  r->gid = gid;
  r->root_uid = root_uid;
  if (root == NULL || root[0] == '\0')
    return 0;
  if (strlen(root) >= sizeof r->root) {
    snprintf(why, whylen, "root path %s is too long", root);
    return -1;
  }
  snprintf(r->root, sizeof r->root, "%s", root);
  r->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (r->root_fd < 0) {
    int e = errno;
    snprintf(why, whylen, "cannot open its root %s: %s%s", root, strerror(e),
             e == EACCES || e == EPERM ? " (reading another process's files "
                                         "needs root: run as root)"
                                       : "");
    return -1;
  }
  return 0;
}

void fpm_nsroot_close(struct fpm_nsroot *r) {
  if (r->root_fd >= 0)
    close(r->root_fd);
  r->root_fd = -1;
}

int fpm_nsroot_trusted(const struct stat *st, uid_t uid, gid_t gid,
                       uid_t root_uid, char *why, size_t whylen) {
  unsigned mode = (unsigned)(st->st_mode & 07777);
  if (!S_ISREG(st->st_mode)) {
    snprintf(why, whylen, "not a regular file");
    return -1;
  }
  if (st->st_uid != root_uid && st->st_uid != uid) {
    snprintf(why, whylen,
             "owned by uid %u, neither root nor the master's user (uid %u)",
             (unsigned)st->st_uid, (unsigned)uid);
    return -1;
  }
  if (mode & S_IWOTH) {
    snprintf(why, whylen, "writable by every user (mode %04o)", mode);
    return -1;
  }
  if ((mode & S_IWGRP) && st->st_gid != 0 && st->st_gid != gid) {
    snprintf(why, whylen,
             "writable by group %u, neither root's nor the master's (mode "
             "%04o)",
             (unsigned)st->st_gid, mode);
    return -1;
  }
  if (uid != root_uid && st->st_uid != uid && !(mode & S_IROTH) &&
      !((mode & S_IRGRP) && st->st_gid == gid)) {
    snprintf(why, whylen,
             "the master runs as uid %u, which cannot read this file (owner "
             "uid %u, mode %04o)",
             (unsigned)uid, (unsigned)st->st_uid, mode);
    return -1;
  }
  return 0;
}

/* path inside the root: without the root's prefix when it has it. */
static const char *inner(const struct fpm_nsroot *r, const char *path) {
  size_t n = strlen(r->root);
  if (n > 0 && strncmp(path, r->root, n) == 0 &&
      (path[n] == '/' || path[n] == '\0'))
    return path[n] != '\0' ? path + n : "/";
  return path;
}

/* open(2) of path (inside the root when there is one). */
static int open_in(const struct fpm_nsroot *r, const char *path, int flags) {
  if (r->root_fd < 0)
    return open(path, flags | O_CLOEXEC);
  return openat_root(r->root_fd, path, flags);
}

int fpm_nsroot_open(const struct fpm_nsroot *r, const char *path, char *why,
                    size_t whylen) {
  int fd = open_in(r, inner(r, path), O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    snprintf(why, whylen, "cannot open: %s", strerror(errno));
    return -1;
  }
  struct stat st;
  char reason[200];
  if (fstat(fd, &st) != 0) {
    snprintf(why, whylen, "cannot stat: %s", strerror(errno));
    close(fd);
    return -1;
  }
  if (fpm_nsroot_trusted(&st, r->uid, r->gid, r->root_uid, reason,
                         sizeof reason) != 0) {
    snprintf(why, whylen,
             "not trusted, not read: %s (a php-fpm configuration file must "
             "be owned by root or the master's user and not writable by "
             "others)",
             reason);
    close(fd);
    return -1;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0)
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

/* ---------------------------------------------------------------- glob */

struct matches {
  char **v;
  size_t n, cap;
  int err;
};

static void add_match(struct matches *m, const char *s) {
  if (m->err)
    return;
  if (m->n == m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 8;
    char **nv =
        ncap <= MAX_GLOB_MATCHES ? realloc(m->v, ncap * sizeof *nv) : NULL;
    if (nv == NULL) {
      m->err = 1;
      return;
    }
    m->v = nv;
    m->cap = ncap;
  }
  if ((m->v[m->n] = strdup(s)) == NULL)
    m->err = 1;
  else
    m->n++;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_pattern(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '*' || s[i] == '?' || s[i] == '[')
      return 1;
  return 0;
}

/* A directory entry at path (inside the root) that is not a directory?
 * A symbolic link counts as it is (its target is checked when opened, so
 * a link that leads nowhere in the root is reported, not skipped). */
static int is_file(const struct fpm_nsroot *r, const char *path) {
  int fd = open_in(r, path, O_PATH | O_NOFOLLOW);
  if (fd < 0)
    return 0;
  struct stat st;
  int ok = fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode);
  close(fd);
  return ok;
}

/* Match rest (components left) below done (a path inside the root, ""
 * for the root itself). Depth is bounded by the pattern's length. */
static void walk(const struct fpm_nsroot *r, const char *done, const char *rest,
                 struct matches *m) {
  while (*rest == '/')
    rest++;
  if (*rest == '\0') {
    if (done[0] != '\0' && is_file(r, done))
      add_match(m, done);
    return;
  }
  size_t cl = strcspn(rest, "/");
  const char *after = rest + cl;
  char path[4096];
  if (!is_pattern(rest, cl)) {
    if (snprintf(path, sizeof path, "%s/%.*s", done, (int)cl, rest) <
        (int)sizeof path)
      walk(r, path, after, m);
    return;
  }
  char comp[256];
  if (cl >= sizeof comp)
    return;
  memcpy(comp, rest, cl);
  comp[cl] = '\0';
  int dfd = open_in(r, done[0] != '\0' ? done : "/", O_RDONLY | O_DIRECTORY);
  DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (d == NULL) {
    if (dfd >= 0)
      close(dfd);
    return;
  }
  struct matches here = {0};
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (fnmatch(comp, e->d_name, FNM_PERIOD) == 0)
      add_match(&here, e->d_name);
  }
  closedir(d);
  if (here.n > 1)
    qsort(here.v, here.n, sizeof *here.v, by_name);
  for (size_t i = 0; i < here.n; i++) {
    if (snprintf(path, sizeof path, "%s/%s", done, here.v[i]) <
        (int)sizeof path)
      walk(r, path, after, m);
    free(here.v[i]);
  }
  free(here.v);
  m->err |= here.err;
}

int fpm_nsroot_glob(const struct fpm_nsroot *r, const char *pattern,
                    char ***paths, size_t *n, char *why, size_t whylen) {
  *paths = NULL;
  *n = 0;
  const char *in = inner(r, pattern);
  if (in[0] != '/') {
    snprintf(why, whylen, "not an absolute path");
    return -1;
  }
  struct matches m = {0};
  walk(r, "", in, &m);
  if (m.err) {
    for (size_t i = 0; i < m.n; i++)
      free(m.v[i]);
    free(m.v);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  if (m.n == 0) {
    free(m.v);
    return 1;
  }
  size_t rl = strlen(r->root);
  for (size_t i = 0; rl > 0 && i < m.n; i++) { /* show where it is */
    size_t l = strlen(m.v[i]);
    char *s = malloc(rl + l + 1);
    if (s == NULL)
      continue; /* shown without the prefix: still opened in the root */
    memcpy(s, r->root, rl);
    memcpy(s + rl, m.v[i], l + 1);
    free(m.v[i]);
    m.v[i] = s;
  }
  *paths = m.v;
  *n = m.n;
  return 0;
}

static int fs_open(void *ud, const char *path, char *why, size_t whylen) {
  return fpm_nsroot_open(ud, path, why, whylen);
}

static int fs_glob(void *ud, const char *pattern, char ***paths, size_t *n,
                   char *why, size_t whylen) {
  return fpm_nsroot_glob(ud, pattern, paths, n, why, whylen);
}

void fpm_nsroot_fs(struct fpm_nsroot *r, struct fpm_conf_fs *fs) {
  fs->open_fn = fs_open;
  fs->glob_fn = fs_glob;
  fs->ud = r;
}
