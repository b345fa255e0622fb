/*
 * fcgi_testutil.c: fixture loading, peak RSS and timing tolerance for the
 * FastCGI client tests.
 */
#include "fcgi_testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

uint8_t *fcgit_read_fixture(const char *rel, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", FPMT_FIXTURES_DIR, rel);
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap + 1);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap)
      break;
    cap *= 2;
    uint8_t *nb = realloc(buf, cap + 1);
    if (!nb) {
      free(buf);
      buf = NULL;
    }
    buf = nb;
  }
  fclose(f);
  if (buf) {
    buf[n] = 0;
    *len = n;
  }
  return buf;
}

long fcgit_peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

long fcgit_tolerance_ms(long base) {
  const char *v = getenv("FPMT_VALGRIND");
  return v && strcmp(v, "1") == 0 ? base * 10 : base;
}

int fcgit_read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return 0;
}
