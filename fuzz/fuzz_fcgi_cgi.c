/* libFuzzer target: the CGI header splitter (src/fcgi/fcgi_cgi.h). The payload
 * is split whole and in chunks whose sizes come from the input: both must agree
 * on where the header block ends (or that it is over the cap), and the
 * block's Status: and header lookups must stay inside it. */
#include "fcgi_cgi.h"
#include "fuzz_split.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_cut {
  int rc;      /* 1 block ended, 0 needs more, -1 over the cap */
  size_t hdr;  /* header bytes (blank line included) */
  size_t seen; /* what the splitter counted */
};

static struct fz_cut cut_chunked(const struct fz_split *s, size_t max,
                                 int whole) {
  struct fcgi_cgi c;
  fcgi_cgi_init(&c, max);
  struct fz_cut r = {0, 0, 0};
  size_t off = 0;
  for (size_t i = 0; off < s->size || (whole && i == 0); i++) {
    size_t n = whole ? s->size : fz_chunk(s, i);
    if (n > s->size - off)
      n = s->size - off;
    size_t h = 99999;
    int rc = fcgi_cgi_feed(&c, (const char *)s->data + off, n, &h);
    if (rc < 0) {
      r.rc = -1;
      break;
    }
    FZ_CHECK(h <= n, "hdr_bytes %zu of %zu", h, n);
    FZ_CHECK(rc == 1 || h == n, "rc 0 but only %zu of %zu bytes taken", h, n);
    r.hdr += h;
    off += n;
    if (rc == 1) {
      r.rc = 1;
      /* once done, more bytes are body */
      FZ_CHECK(fcgi_cgi_feed(&c, "x\n\n", 3, &h) == 1 && h == 0, "not done");
      break;
    }
  }
  r.seen = c.seen;
  if (r.rc == 1)
    FZ_CHECK(c.done && c.seen == r.hdr && r.hdr <= c.max, "done state");
  return r;
}

static void check_block(const char *b, size_t n) {
  size_t t = fcgi_cgi_trim(b, n);
  FZ_CHECK(t <= n, "trim grew the block");
  int st = fcgi_cgi_status(b, t);
  FZ_CHECK(st == -1 || (st >= 100 && st <= 999), "status %d", st);
  static const char *const names[] = {"Status", "Content-Type", "X-Powered-By",
                                      "", ":"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t vl = 12345;
    const char *v = fcgi_cgi_header(b, t, names[i], &vl);
    if (v)
      FZ_CHECK(v >= b && v + vl <= b + t, "header value outside the block");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fz_split s;
  if (fz_split_init(&s, data, size))
    return 0;
  size_t max = s.flags ? (size_t)s.flags * 64 : 0;
  struct fz_cut w = cut_chunked(&s, max, 1), c = cut_chunked(&s, max, 0);
  FZ_CHECK(w.rc == c.rc, "rc %d vs %d", w.rc, c.rc);
  if (w.rc == 1) {
    FZ_CHECK(w.hdr == c.hdr, "block of %zu vs %zu bytes", w.hdr, c.hdr);
    /* the block ends with "\n\n" or "\n\r\n" (or is just "\n" / "\r\n") */
    const uint8_t *e = s.data + w.hdr;
    FZ_CHECK(w.hdr >= 1 && e[-1] == '\n', "block does not end a line");
    char *copy = malloc(w.hdr); /* exact size: ASan sees any over-read */
    FZ_CHECK(copy != NULL, "out of memory");
    memcpy(copy, s.data, w.hdr);
    check_block(copy, w.hdr);
    free(copy);
  } else if (w.rc == 0) {
    FZ_CHECK(w.hdr == s.size && c.hdr == s.size, "partial block size");
  }
  /* the lookups never read outside arbitrary (unterminated) text either */
  char *all = malloc(s.size ? s.size : 1);
  FZ_CHECK(all != NULL, "out of memory");
  if (s.size)
    memcpy(all, s.data, s.size);
  check_block(all, s.size);
  free(all);
  return 0;
}
