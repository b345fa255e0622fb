/*
 * openat_root.c: a path opened inside a root directory (openat_root.h).
 */
#include "openat_root.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LINKS 40  /* as the kernel's path walk */
#define MAX_DEPTH 256 /* directories below the root */
#define PATH_CAP 8192 /* the path left to walk, links expanded */

int openat_root(int root_fd, const char *path, int flags) {
  struct open_how how = {.flags = (unsigned)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS)
    return fd;
  return openat_root_walk(root_fd, path, flags);
}

struct walk {
  int dirs[MAX_DEPTH + 1]; /* dirs[0] is the root (not ours to close) */
  int depth;
  char rest_of_path[PATH_CAP]; /* what is left of the path */
};

static void pop_to(struct walk *w, int depth) {
  while (w->depth > depth)
    close(w->dirs[w->depth--]);
}

static int fail(struct walk *w, int e) {
  pop_to(w, 0);
  errno = e;
  return -1;
}

/* Replace rest_of_path with target + "/" + rest (rest points into
 * rest_of_path). */
static int expand_link(struct walk *w, const char *target, const char *rest) {
  char next[PATH_CAP];
  int n = snprintf(next, sizeof next, "%s/%s", target, rest);
  if (n < 0 || (size_t)n >= sizeof next)
    return -1;
  memcpy(w->rest_of_path, next, (size_t)n + 1);
  return 0;
}

int openat_root_walk(int root_fd, const char *path, int flags) {
  struct walk w;
  w.dirs[0] = root_fd;
  w.depth = 0;
  if (strlen(path) >= sizeof w.rest_of_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  snprintf(w.rest_of_path, sizeof w.rest_of_path, "%s", path);
  int links = 0;
  const char *s = w.rest_of_path;
  for (;;) {
    while (*s == '/')
      s++;
    if (*s == '\0') /* the path names a directory reached so far */
      break;
    size_t cl = strcspn(s, "/");
    char comp[NAME_MAX + 1];
    if (cl > NAME_MAX)
      return fail(&w, ENAMETOOLONG);
    memcpy(comp, s, cl);
    comp[cl] = '\0';
    const char *rest = s + cl;
    while (*rest == '/')
      rest++;
    int last = *rest == '\0';
    if (strcmp(comp, ".") == 0) {
      s = rest;
      continue;
    }
    if (strcmp(comp, "..") == 0) { /* never above the root */
      if (w.depth > 0)
        pop_to(&w, w.depth - 1);
      s = rest;
      continue;
    }
    int cur = w.dirs[w.depth];
    int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
      return fail(&w, errno);
    if (fstat(fd, &st) != 0) {
      int e = errno;
      close(fd);
      return fail(&w, e);
    }
    if (S_ISLNK(st.st_mode) && last && (flags & O_NOFOLLOW)) {
      if (flags & O_PATH) { /* the link itself, as open(2) gives it */
        pop_to(&w, 0);
        return fd;
      }
      close(fd);
      return fail(&w, ELOOP);
    }
    if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlinkat(fd, "", target, sizeof target - 1);
      close(fd);
      if (n < 0)
        return fail(&w, errno);
      target[n] = '\0';
      if (++links > MAX_LINKS)
        return fail(&w, ELOOP);
      if (target[0] == '/')
        pop_to(&w, 0); /* absolute: from the root again */
      if (expand_link(&w, target, rest) != 0)
        return fail(&w, ENAMETOOLONG);
      s = w.rest_of_path;
      continue;
    }
    if (last) {
      int out = fd;
      if ((flags & O_PATH) == 0) {
        /* the real open, of the same name, still without following */
        out = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (out < 0)
          return fail(&w, e);
      }
      pop_to(&w, 0);
      return out;
    }
    if (!S_ISDIR(st.st_mode)) {
      close(fd);
      return fail(&w, ENOTDIR);
    }
    if (w.depth >= MAX_DEPTH) {
      close(fd);
      return fail(&w, ENAMETOOLONG);
    }
    w.dirs[++w.depth] = fd;
    s = rest;
  }
  int out = openat(w.dirs[w.depth], ".", flags | O_CLOEXEC);
  int e = errno;
  pop_to(&w, 0);
  errno = e;
  return out;
}
