/*
 * fpm_fdlimit.c: descriptor budget for reading many pools at once (see
 * fpm_fdlimit.h).
 */
#include "fpm_fdlimit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static size_t to_size(rlim_t v) {
  if (v == RLIM_INFINITY || (uintmax_t)v > SIZE_MAX)
    return SIZE_MAX;
  return (size_t)v;
}

size_t fpm_fd_soft_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return SIZE_MAX;
  return to_size(rl.rlim_cur);
}

size_t fpm_fd_raise_soft_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return SIZE_MAX;
  if (rl.rlim_cur != rl.rlim_max) {
    struct rlimit up = {rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      return to_size(up.rlim_cur);
  }
  return to_size(rl.rlim_cur);
}

size_t fpm_fd_open_count(void) {
  size_t limit = fpm_fd_soft_limit(), n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (e->d_name[0] != '.' && strtoull(e->d_name, NULL, 10) < limit)
        n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
  }
  if (limit > 65536)
    limit = 65536; /* probing further costs more than it tells */
  for (size_t fd = 0; fd < limit; fd++)
    if (fcntl((int)fd, F_GETFD) != -1 || errno != EBADF)
      n++;
  return n;
}

size_t fpm_fd_window(size_t limit, size_t open, size_t reserve, size_t want) {
  size_t w = want;
  if (limit != SIZE_MAX) {
    size_t used = open + reserve;
    size_t free_fds = limit > used ? limit - used : 0;
    if (free_fds < w)
      w = free_fds;
  }
  return w > 0 ? w : 1;
}

size_t fpm_fd_budget(size_t want) {
  return fpm_fd_window(fpm_fd_soft_limit(), fpm_fd_open_count(), FPM_FD_RESERVE,
                       want);
}
