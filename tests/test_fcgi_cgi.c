/*
 * test_fcgi_cgi.c: the CGI header splitter (any chunking, CRLF and LF,
 * caps) and header / Status parsing.
 */
#include "fcgi_cgi.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Feed s in chunks of step bytes; return the header byte count or -1. */
static long split(const char *s, size_t step, size_t max) {
  struct fcgi_cgi c;
  fcgi_cgi_init(&c, max);
  size_t len = strlen(s), total = 0;
  for (size_t off = 0; off < len; off += step) {
    size_t n = step < len - off ? step : len - off, hdr;
    int rc = fcgi_cgi_feed(&c, s + off, n, &hdr);
    if (rc < 0)
      return -1;
    total += hdr;
    if (rc == 1) {
      assert_int_equal(c.seen, total);
      return (long)total;
    }
    assert_int_equal(hdr, n);
  }
  return -2; /* no blank line */
}

static void test_split_any_chunking(void **state) {
  (void)state;
  const char *resp = "X-Powered-By: PHP/8.2\r\nContent-type: text/plain\r\n"
                     "\r\nbody\r\n\r\nmore";
  long want = (long)(strstr(resp, "\r\n\r\n") - resp) + 4;
  for (size_t step = 1; step <= strlen(resp); step++)
    assert_int_equal(split(resp, step, 0), want);
}

static void test_split_lf_only_and_mixed(void **state) {
  (void)state;
  assert_int_equal(split("A: b\n\nbody", 1, 0), 6);
  assert_int_equal(split("A: b\n\r\nbody", 3, 0), 7);
  assert_int_equal(split("\r\nbody", 1, 0), 2); /* empty block */
  assert_int_equal(split("A: b\r\nC: d\r\nbody without blank line", 4, 0), -2);
  /* a lone CR inside a line is not a line end */
  assert_int_equal(split("A: b\rc\r\n\r\nx", 1, 0), 10);
}

static void test_split_cap(void **state) {
  (void)state;
  char big[300];
  memset(big, 'h', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(split(big, 7, 100), -1);
  /* exactly at the cap is fine */
  assert_int_equal(split("A: b\r\n\r\nxx", 1, 8), 8);
  assert_int_equal(split("A: b\r\n\r\nxx", 1, 7), -1);
}

static void test_status_and_headers(void **state) {
  (void)state;
  const char *b = "Status: 404 Not Found\r\nX-Powered-By: PHP\r\n"
                  "Content-type:  text/html; charset=UTF-8 \r\n\r\n";
  size_t len = strlen(b), vlen;
  assert_int_equal(fcgi_cgi_status(b, len), 404);
  const char *v = fcgi_cgi_header(b, len, "content-TYPE", &vlen);
  assert_non_null(v);
  assert_int_equal(vlen, strlen("text/html; charset=UTF-8"));
  assert_memory_equal(v, "text/html; charset=UTF-8", vlen);
  assert_null(fcgi_cgi_header(b, len, "Content", &vlen));
  assert_int_equal(fcgi_cgi_trim(b, len), len - 4);
  assert_int_equal(fcgi_cgi_trim("A: b\n\n", 6), 4);
  /* no Status: 200; odd ones */
  assert_int_equal(fcgi_cgi_status("A: b\r\n", 6), 200);
  assert_int_equal(fcgi_cgi_status("Status: 418\r\n", 13), 418);
  assert_int_equal(fcgi_cgi_status("status:503 busy\n", 16), 503);
  assert_int_equal(fcgi_cgi_status("Status: abc\r\n", 13), -1);
  assert_int_equal(fcgi_cgi_status("Status: 20\r\n", 12), -1);
  assert_int_equal(fcgi_cgi_status("Status: 2000\r\n", 14), -1);
  assert_int_equal(fcgi_cgi_status("Status: 099\r\n", 13), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split_any_chunking),
      cmocka_unit_test(test_split_lf_only_and_mixed),
      cmocka_unit_test(test_split_cap),
      cmocka_unit_test(test_status_and_headers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
