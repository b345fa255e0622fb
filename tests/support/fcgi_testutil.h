/*
 * fcgi_testutil.h: small helpers shared by the FastCGI client tests.
 */
#ifndef FPMT_FCGI_TESTUTIL_H
#define FPMT_FCGI_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole file under tests/fixtures (relative name); malloc'ed, NUL
 * added after *len bytes. NULL when missing. */
uint8_t *fcgit_read_fixture(const char *rel, size_t *len);
/* Peak RSS of this process in KiB (getrusage ru_maxrss). */
long fcgit_peak_rss_kib(void);
/* Reads exactly n bytes from fd (retrying on EINTR); 0, or -1 on EOF or a
 * read error. */
int fcgit_read_full(int fd, void *buf, size_t n);
/* Timing tolerance scaled for valgrind (FPMT_VALGRIND=1: 10x). */
long fcgit_tolerance_ms(long base);

#endif /* FPMT_FCGI_TESTUTIL_H */
