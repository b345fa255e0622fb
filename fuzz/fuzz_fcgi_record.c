/* libFuzzer target: the FastCGI record decoder (src/fcgi/fcgi_record.h). The
 * payload is decoded whole and in chunks whose sizes come from the input;
 * both must yield the same records, the same error and the same end state. */
#include "fcgi_record.h"
#include "fuzz_split.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a decode produced: every record (header fields and content) appended
 * to one log, then the outcome. */
struct fz_log {
  uint8_t *buf;
  size_t len, cap;
  int rc;         /* -1 error, 0 ended between or inside records */
  char tail[200]; /* error message or fcgi_decoder_describe text */
  uint64_t records;
};

static void log_add(struct fz_log *l, const void *p, size_t n) {
  if (l->len + n > l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4096;
    while (cap < l->len + n)
      cap *= 2;
    l->buf = realloc(l->buf, cap);
    FZ_CHECK(l->buf != NULL, "out of memory");
    l->cap = cap;
  }
  memcpy(l->buf + l->len, p, n);
  l->len += n;
}

static void log_record(struct fz_log *l, const struct fcgi_record *r) {
  FZ_CHECK(r->content_len <= FCGI_MAX_CONTENT, "content %zu", r->content_len);
  FZ_CHECK(r->padding_len <= 255, "padding %zu", r->padding_len);
  FZ_CHECK(r->type <= 255 && r->request_id <= 65535, "type/id out of range");
  uint32_t h[4] = {r->type, r->request_id, (uint32_t)r->content_len,
                   (uint32_t)r->padding_len};
  log_add(l, h, sizeof h);
  if (r->content_len)
    log_add(l, r->content, r->content_len);
}

/* Feed one chunk; returns -1 once the decoder failed. */
static int feed(struct fcgi_decoder *d, const uint8_t *p, size_t n,
                struct fz_log *l) {
  size_t off = 0;
  do {
    size_t used = 7777;
    struct fcgi_record rec;
    int rc = fcgi_decoder_feed(d, p + off, n - off, &used, &rec);
    FZ_CHECK(used <= n - off, "used %zu of %zu", used, n - off);
    off += used;
    if (rc < 0) {
      FZ_CHECK((d->err == FCGI_EPROTO || d->err == FCGI_ENOTFCGI) &&
                   d->errmsg[0],
               "error without detail");
      return -1;
    }
    if (rc == 1)
      log_record(l, &rec);
    else
      FZ_CHECK(off == n, "rc 0 with %zu bytes left", n - off);
  } while (off < n);
  return 0;
}

static void finish(struct fcgi_decoder *d, int rc, struct fz_log *l) {
  l->rc = rc;
  l->records = d->records;
  if (rc < 0)
    snprintf(l->tail, sizeof l->tail, "%s", d->errmsg);
  else
    fcgi_decoder_describe(d, l->tail, sizeof l->tail);
  /* errors are sticky */
  if (rc < 0) {
    size_t used = 1;
    struct fcgi_record rec;
    FZ_CHECK(fcgi_decoder_feed(d, (const uint8_t *)"\1\6\0\1\0\0\0\0", 8, &used,
                               &rec) == -1 &&
                 used == 0,
             "error not sticky");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fz_split s;
  if (fz_split_init(&s, data, size))
    return 0;
  struct fcgi_decoder *d = fcgi_decoder_new();
  FZ_CHECK(d != NULL, "out of memory");
  struct fz_log whole = {0}, chunked = {0};

  fcgi_decoder_init(d);
  finish(d, feed(d, s.data, s.size, &whole), &whole);

  fcgi_decoder_init(d);
  int rc = 0;
  for (size_t off = 0, i = 0; off < s.size && rc == 0; i++) {
    size_t n = fz_chunk(&s, i);
    if (n > s.size - off)
      n = s.size - off;
    rc = feed(d, s.data + off, n, &chunked);
    off += n;
  }
  finish(d, rc, &chunked);

  FZ_CHECK(whole.rc == chunked.rc, "rc %d vs %d", whole.rc, chunked.rc);
  FZ_CHECK(whole.records == chunked.records, "records %llu vs %llu",
           (unsigned long long)whole.records,
           (unsigned long long)chunked.records);
  FZ_CHECK(
      whole.len == chunked.len &&
          (whole.len == 0 || memcmp(whole.buf, chunked.buf, whole.len) == 0),
      "records differ");
  FZ_CHECK(strcmp(whole.tail, chunked.tail) == 0, "end \"%s\" vs \"%s\"",
           whole.tail, chunked.tail);
  free(whole.buf);
  free(chunked.buf);
  fcgi_decoder_free(d);
  return 0;
}
