/*
 * test_fcgi_record.c: the FastCGI record codec. Encoder golden bytes
 * (including the captured php-fpm requests re-encoded byte for byte),
 * decoder over every captured response whole, one byte at a time and at
 * every split offset, and every malformed input kind.
 */
#include "fcgi_record.h"
#include "fcgi_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *const fixtures[] = {
    "php82_wire_404_primary_script_unknown",
    "php82_wire_big_200000_bytes",
    "php82_wire_exit3_appstatus_still_0",
    "php82_wire_fatal_error",
    "php82_wire_get_values",
    "php82_wire_keepconn_two_sequential_requests",
    "php82_wire_ping",
    "php82_wire_reqid_513",
    "php82_wire_status_json",
    "php82_wire_status_json_full",
    "php82_wire_status_openmetrics",
    "php82_wire_stdout_stderr_interleaved",
};

struct rec_copy {
  unsigned type, id;
  size_t clen, plen;
  uint64_t sum; /* content checksum */
};

struct rec_list {
  struct rec_copy r[64];
  size_t n;
};

static uint64_t checksum(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* Decode buf fed in chunks of `step` bytes (0 = whole); -1 on error. */
static int decode(const uint8_t *buf, size_t len, size_t step,
                  struct rec_list *out, struct fcgi_decoder *d) {
  fcgi_decoder_init(d);
  out->n = 0;
  size_t off = 0;
  while (off < len) {
    size_t n = step && step < len - off ? step : len - off;
    const uint8_t *p = buf + off;
    off += n;
    while (n > 0) {
      struct fcgi_record rec;
      size_t used;
      int rc = fcgi_decoder_feed(d, p, n, &used, &rec);
      if (rc < 0)
        return -1;
      p += used;
      n -= used;
      if (rc == 1 && out->n < 64)
        out->r[out->n++] = (struct rec_copy){
            rec.type, rec.request_id, rec.content_len, rec.padding_len,
            checksum(rec.content, rec.content_len)};
    }
  }
  return 0;
}

static int type_of(const char *name) {
  for (unsigned t = 1; t <= 11; t++)
    if (!strcmp(fcgi_type_name(t), name))
      return (int)t;
  return -1;
}

/* Parse the capture's *.records.txt: "TYPE id=N clen=N pad=N ...". */
static size_t expected_records(const char *name, struct rec_copy *exp) {
  char rel[128];
  size_t len, n = 0;
  snprintf(rel, sizeof rel, "wire/%s.records.txt", name);
  char *txt = (char *)fcgit_read_fixture(rel, &len);
  assert_non_null(txt);
  for (char *line = txt; line && *line; line = strchr(line, '\n')) {
    if (*line == '\n')
      line++;
    if (*line == '#' || !*line)
      continue;
    char type[32];
    unsigned id, clen, pad;
    assert_int_equal(
        sscanf(line, "%31s id=%u clen=%u pad=%u", type, &id, &clen, &pad), 4);
    exp[n++] = (struct rec_copy){(unsigned)type_of(type), id, clen, pad, 0};
  }
  free(txt);
  return n;
}

static void test_decode_fixtures(void **state) {
  (void)state;
  struct fcgi_decoder *d = fcgi_decoder_new();
  struct rec_list *whole = malloc(sizeof *whole),
                  *bytes = malloc(sizeof *bytes);
  assert_non_null(d);
  for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
    char rel[128];
    size_t len;
    struct rec_copy exp[64];
    snprintf(rel, sizeof rel, "wire/%s.response.fcgi", fixtures[f]);
    uint8_t *buf = fcgit_read_fixture(rel, &len);
    assert_non_null(buf);
    size_t nexp = expected_records(fixtures[f], exp);
    assert_int_equal(decode(buf, len, 0, whole, d), 0);
    assert_true(fcgi_decoder_idle(d));
    assert_int_equal(whole->n, nexp);
    for (size_t i = 0; i < nexp; i++) {
      assert_int_equal(whole->r[i].type, exp[i].type);
      assert_int_equal(whole->r[i].id, exp[i].id);
      assert_int_equal(whole->r[i].clen, exp[i].clen);
      assert_int_equal(whole->r[i].plen, exp[i].plen);
    }
    assert_int_equal(decode(buf, len, 1, bytes, d), 0);
    assert_int_equal(bytes->n, whole->n);
    assert_memory_equal(bytes->r, whole->r, whole->n * sizeof whole->r[0]);
    free(buf);
  }
  fcgi_decoder_free(d);
  free(whole);
  free(bytes);
}

/* Two chunks split at every offset give the same records. */
static void test_decode_every_split(void **state) {
  (void)state;
  static const char *const few[] = {"php82_wire_stdout_stderr_interleaved",
                                    "php82_wire_status_json",
                                    "php82_wire_404_primary_script_unknown"};
  struct fcgi_decoder *d = fcgi_decoder_new();
  struct rec_list whole, split;
  for (size_t f = 0; f < 3; f++) {
    char rel[128];
    size_t len;
    snprintf(rel, sizeof rel, "wire/%s.response.fcgi", few[f]);
    uint8_t *buf = fcgit_read_fixture(rel, &len);
    assert_non_null(buf);
    assert_int_equal(decode(buf, len, 0, &whole, d), 0);
    for (size_t cut = 1; cut < len; cut++) {
      /* first chunk `cut` bytes, the rest in one */
      fcgi_decoder_init(d);
      split.n = 0;
      const uint8_t *parts[2] = {buf, buf + cut};
      size_t lens[2] = {cut, len - cut};
      for (int k = 0; k < 2; k++) {
        const uint8_t *p = parts[k];
        size_t n = lens[k];
        while (n) {
          struct fcgi_record rec;
          size_t used;
          int rc = fcgi_decoder_feed(d, p, n, &used, &rec);
          assert_true(rc >= 0);
          p += used;
          n -= used;
          if (rc == 1)
            split.r[split.n++] = (struct rec_copy){
                rec.type, rec.request_id, rec.content_len, rec.padding_len,
                checksum(rec.content, rec.content_len)};
        }
      }
      assert_int_equal(split.n, whole.n);
      assert_memory_equal(split.r, whole.r, whole.n * sizeof whole.r[0]);
    }
    free(buf);
  }
  fcgi_decoder_free(d);
}

/* Decode a captured request, re-encode its params and body with our
 * encoder, and compare byte for byte. */
static void check_reencode(const char *name) {
  char rel[128];
  size_t len;
  snprintf(rel, sizeof rel, "wire/%s.request.fcgi", name);
  uint8_t *buf = fcgit_read_fixture(rel, &len);
  assert_non_null(buf);
  struct fcgi_decoder *d = fcgi_decoder_new();
  fcgi_decoder_init(d);
  struct fcgi_nvstream nv = {0};
  uint8_t *pairs = malloc(len);
  size_t sizes[64], count = 0, plen = 0, off = 0;
  unsigned id = 0, role = 0;
  while (off < len) {
    struct fcgi_record rec;
    size_t used;
    int rc = fcgi_decoder_feed(d, buf + off, len - off, &used, &rec);
    assert_true(rc >= 0);
    off += used;
    if (rc != 1)
      continue;
    if (rec.type == FCGI_TYPE_BEGIN_REQUEST) {
      id = rec.request_id;
      role = (unsigned)rec.content[0] << 8 | rec.content[1];
    }
    if (rec.type == FCGI_TYPE_PARAMS)
      assert_int_equal(fcgi_nvstream_append(&nv, rec.content, rec.content_len),
                       FCGI_OK);
    if (rec.type == FCGI_TYPE_STDIN && rec.content_len == 0)
      break; /* keepconn fixtures hold a second request */
  }
  size_t o = 0;
  struct fcgi_pair pr;
  while (fcgi_pair_next(nv.buf, nv.len, &o, &pr) == 1) {
    sizes[count++] =
        fcgi_pair_put(pairs + plen, (const char *)pr.name, pr.name_len,
                      (const char *)pr.value, pr.value_len);
    plen += sizes[count - 1];
  }
  assert_int_equal(o, nv.len);
  struct fcgi_wire_params params = {pairs, sizes, count};
  uint8_t *wire;
  size_t wlen;
  assert_int_equal(fcgi_wire_build(id, role, 0, &params, NULL, 0, &wire, &wlen),
                   FCGI_OK);
  assert_true(wlen <= len);
  assert_memory_equal(wire, buf, wlen);
  free(wire);
  free(pairs);
  fcgi_nvstream_clear(&nv);
  fcgi_decoder_free(d);
  free(buf);
}

static void test_encode_matches_captures(void **state) {
  (void)state;
  check_reencode("php82_wire_ping");
  check_reencode("php82_wire_status_json");
  check_reencode("php82_wire_status_json_full");
  check_reencode("php82_wire_reqid_513");
  check_reencode("php82_wire_404_primary_script_unknown");
}

static void test_encode_begin_and_short_pairs(void **state) {
  (void)state;
  uint8_t pairs[64];
  size_t sizes[2];
  sizes[0] = fcgi_pair_put(pairs, "A", 1, "bc", 2);
  sizes[1] = fcgi_pair_put(pairs + sizes[0], "", 0, "", 0);
  struct fcgi_wire_params params = {pairs, sizes, 2};
  uint8_t *w;
  size_t n;
  assert_int_equal(
      fcgi_wire_build(1, 1, 1, &params, (const uint8_t *)"xyz", 3, &w, &n),
      FCGI_OK);
  static const uint8_t golden[] = {
      1,   1,   0,   1,   0,   8, 0, 0,
      0,   1,   1,   0,   0,   0, 0, 0, /* BEGIN, keep conn */
      1,   4,   0,   1,   0,   7, 1, 0,
      1,   2,   'A', 'b', 'c', 0, 0, 0, /* PARAMS */
      1,   4,   0,   1,   0,   0, 0, 0, /* end PARAMS */
      1,   5,   0,   1,   0,   3, 5, 0,
      'x', 'y', 'z', 0,   0,   0, 0, 0,  /* STDIN */
      1,   5,   0,   1,   0,   0, 0, 0}; /* end STDIN */
  assert_int_equal(n, sizeof golden);
  assert_memory_equal(w, golden, n);
  free(w);
}

static void test_encode_long_lengths(void **state) {
  (void)state;
  char name[128], value[300];
  memset(name, 'N', sizeof name);
  memset(value, 'v', sizeof value);
  uint8_t out[600];
  /* 127 -> 1 byte; 128 -> 4 bytes with the top bit */
  assert_int_equal(fcgi_pair_size(127, 300), 1 + 4 + 127 + 300);
  size_t n = fcgi_pair_put(out, name, 128, value, 300);
  assert_int_equal(n, 4 + 4 + 128 + 300);
  static const uint8_t head[] = {0x80, 0, 0, 128, 0x80, 0, 0x01, 0x2c};
  assert_memory_equal(out, head, 8);
  size_t off = 0;
  struct fcgi_pair p;
  assert_int_equal(fcgi_pair_next(out, n, &off, &p), 1);
  assert_int_equal(p.name_len, 128);
  assert_int_equal(p.value_len, 300);
  assert_int_equal(off, n);
  assert_int_equal(fcgi_pair_next(out, n, &off, &p), 0);
  /* a length running past the end */
  off = 0;
  assert_int_equal(fcgi_pair_next(out, n - 1, &off, &p), -1);
  off = 0;
  assert_int_equal(fcgi_pair_next(out, 3, &off, &p), -1);
}

/* Walk a wire image and check every record is well framed. */
static size_t count_records(const uint8_t *w, size_t n, unsigned type,
                            size_t *max_content) {
  size_t off = 0, count = 0;
  *max_content = 0;
  while (off < n) {
    assert_true(n - off >= 8);
    size_t clen = (size_t)w[off + 4] << 8 | w[off + 5], pad = w[off + 6];
    assert_int_equal(w[off], 1);
    assert_true(clen + pad <= 65535);
    assert_true(pad == 0 || clen <= 65528);
    if (w[off + 1] == type) {
      count++;
      if (clen > *max_content)
        *max_content = clen;
    }
    off += 8 + clen + pad;
  }
  assert_int_equal(off, n);
  return count;
}

static void test_encode_params_split_at_pairs(void **state) {
  (void)state;
  /* 40 pairs of ~3000 bytes: > 65535 in total, so several records */
  size_t total = 0, sizes[40];
  uint8_t *pairs = malloc(40 * 3100);
  char value[3000];
  memset(value, 'q', sizeof value);
  for (int i = 0; i < 40; i++) {
    char name[16];
    snprintf(name, sizeof name, "P%02d", i);
    sizes[i] = fcgi_pair_put(pairs + total, name, 3, value, sizeof value);
    total += sizes[i];
  }
  assert_true(total > 65535);
  struct fcgi_wire_params params = {pairs, sizes, 40};
  uint8_t *w;
  size_t n, maxc;
  assert_int_equal(fcgi_wire_build(1, 1, 0, &params, NULL, 0, &w, &n), FCGI_OK);
  /* 2 data records + the empty one */
  assert_int_equal(count_records(w, n, FCGI_TYPE_PARAMS, &maxc), 3);
  assert_true(maxc <= 65528);
  /* each PARAMS record decodes on its own into whole pairs */
  size_t off = 0, seen = 0;
  while (off < n) {
    size_t clen = (size_t)w[off + 4] << 8 | w[off + 5], pad = w[off + 6];
    if (w[off + 1] == FCGI_TYPE_PARAMS) {
      size_t o = 0;
      struct fcgi_pair p;
      int rc;
      while ((rc = fcgi_pair_next(w + off + 8, clen, &o, &p)) == 1)
        seen++;
      assert_int_equal(rc, 0);
    }
    off += 8 + clen + pad;
  }
  assert_int_equal(seen, 40);
  free(w);
  /* one pair over 65527 bytes cannot be sent */
  sizes[0] = 65528;
  struct fcgi_wire_params big = {pairs, sizes, 1};
  assert_int_equal(fcgi_wire_build(1, 1, 0, &big, NULL, 0, &w, &n),
                   FCGI_EINVAL);
  free(pairs);
}

static void test_encode_big_stdin(void **state) {
  (void)state;
  size_t blen = 200000;
  uint8_t *body = malloc(blen);
  for (size_t i = 0; i < blen; i++)
    body[i] = (uint8_t)(i * 7);
  struct fcgi_wire_params params = {NULL, NULL, 0};
  uint8_t *w;
  size_t n, maxc;
  assert_int_equal(fcgi_wire_build(1, 1, 0, &params, body, blen, &w, &n),
                   FCGI_OK);
  /* 65528 * 3 = 196584, so 4 data records + the empty one */
  assert_int_equal(count_records(w, n, FCGI_TYPE_STDIN, &maxc), 5);
  assert_int_equal(maxc, 65528);
  /* the body comes back in order */
  uint8_t *back = malloc(blen);
  size_t off = 0, got = 0;
  while (off < n) {
    size_t clen = (size_t)w[off + 4] << 8 | w[off + 5], pad = w[off + 6];
    if (w[off + 1] == FCGI_TYPE_STDIN) {
      memcpy(back + got, w + off + 8, clen);
      got += clen;
    }
    off += 8 + clen + pad;
  }
  assert_int_equal(got, blen);
  assert_memory_equal(back, body, blen);
  free(back);
  free(body);
  free(w);
}

static int feed_all(struct fcgi_decoder *d, const uint8_t *b, size_t n,
                    struct rec_list *out) {
  out->n = 0;
  while (n) {
    struct fcgi_record rec;
    size_t used;
    int rc = fcgi_decoder_feed(d, b, n, &used, &rec);
    if (rc < 0)
      return -1;
    b += used;
    n -= used;
    if (rc == 1)
      out->r[out->n++] = (struct rec_copy){rec.type, rec.request_id,
                                           rec.content_len, rec.padding_len, 0};
  }
  return 0;
}

static void test_decode_padding_and_max_content(void **state) {
  (void)state;
  struct fcgi_decoder *d = fcgi_decoder_new();
  struct rec_list out;
  size_t n = 8 + 65535 + 255 + 8 + 0 + 255;
  uint8_t *b = calloc(1, n);
  fcgi_header_put(b, FCGI_TYPE_STDOUT, 1, 65535, 255);
  memset(b + 8, 'z', 65535);
  fcgi_header_put(b + 8 + 65535 + 255, FCGI_TYPE_STDERR, 1, 0, 255);
  fcgi_decoder_init(d);
  assert_int_equal(feed_all(d, b, n, &out), 0);
  assert_int_equal(out.n, 2);
  assert_int_equal(out.r[0].clen, 65535);
  assert_int_equal(out.r[0].plen, 255);
  assert_int_equal(out.r[1].clen, 0);
  assert_int_equal(out.r[1].plen, 255);
  assert_true(fcgi_decoder_idle(d));
  free(b);
  fcgi_decoder_free(d);
}

static void test_decode_errors(void **state) {
  (void)state;
  struct fcgi_decoder *d = fcgi_decoder_new();
  struct rec_list out;
  uint8_t b[32];
  char what[160];
  /* version 2 */
  fcgi_header_put(b, FCGI_TYPE_STDOUT, 1, 0, 0);
  b[0] = 2;
  fcgi_decoder_init(d);
  assert_int_equal(feed_all(d, b, 8, &out), -1);
  assert_int_equal(d->err, FCGI_EPROTO);
  assert_non_null(strstr(d->errmsg, "version 2"));
  /* sticky */
  fcgi_header_put(b, FCGI_TYPE_STDOUT, 1, 0, 0);
  assert_int_equal(feed_all(d, b, 8, &out), -1);
  /* version 0 and an HTTP answer */
  fcgi_decoder_init(d);
  assert_int_equal(feed_all(d, (const uint8_t *)"HTTP/1.1 400", 12, &out), -1);
  assert_int_equal(d->err, FCGI_ENOTFCGI);
  assert_non_null(strstr(d->errmsg, "HTTP"));
  /* truncated header: not an error, but not idle */
  fcgi_decoder_init(d);
  assert_int_equal(feed_all(d, b, 5, &out), 0);
  assert_false(fcgi_decoder_idle(d));
  fcgi_decoder_describe(d, what, sizeof what);
  assert_non_null(strstr(what, "5 of 8"));
  /* lying length: declares 100, carries 10 */
  fcgi_decoder_init(d);
  fcgi_header_put(b, FCGI_TYPE_STDOUT, 1, 100, 0);
  memset(b + 8, 'a', 10);
  assert_int_equal(feed_all(d, b, 18, &out), 0);
  assert_int_equal(out.n, 0);
  fcgi_decoder_describe(d, what, sizeof what);
  assert_non_null(strstr(what, "10 of 100 content bytes of a STDOUT"));
  /* unknown types and other ids are framing-valid: the decoder passes them
   * on, the connection layer rejects them */
  fcgi_decoder_init(d);
  fcgi_header_put(b, 99, 7, 0, 0);
  fcgi_header_put(b + 8, FCGI_TYPE_END_REQUEST, 2, 4, 4);
  memset(b + 16, 0, 8);
  assert_int_equal(feed_all(d, b, 24, &out), 0);
  assert_int_equal(out.n, 2);
  assert_int_equal(out.r[0].type, 99);
  assert_int_equal(out.r[0].id, 7);
  assert_int_equal(out.r[1].clen, 4);
  assert_string_equal(fcgi_type_name(99), "unknown");
  fcgi_decoder_free(d);
}

static void test_get_values_result(void **state) {
  (void)state;
  size_t len;
  uint8_t *buf =
      fcgit_read_fixture("wire/php82_wire_get_values.response.fcgi", &len);
  assert_non_null(buf);
  struct fcgi_decoder *d = fcgi_decoder_new();
  fcgi_decoder_init(d);
  struct fcgi_nvstream nv = {0};
  /* feed it a byte at a time; reassemble the pairs */
  for (size_t i = 0; i < len; i++) {
    struct fcgi_record rec;
    size_t used;
    if (fcgi_decoder_feed(d, buf + i, 1, &used, &rec) == 1) {
      assert_int_equal(rec.type, FCGI_TYPE_GET_VALUES_RESULT);
      assert_int_equal(rec.request_id, 0);
      /* split the content in two appends as if two records came */
      size_t half = rec.content_len / 2;
      assert_int_equal(fcgi_nvstream_append(&nv, rec.content, half), FCGI_OK);
      assert_int_equal(
          fcgi_nvstream_append(&nv, rec.content + half, rec.content_len - half),
          FCGI_OK);
    }
  }
  size_t off = 0;
  struct fcgi_pair p;
  assert_int_equal(fcgi_pair_next(nv.buf, nv.len, &off, &p), 1);
  assert_int_equal(p.name_len, 15);
  assert_memory_equal(p.name, "FCGI_MPXS_CONNS", 15);
  assert_int_equal(p.value_len, 1);
  assert_int_equal(p.value[0], '0');
  assert_int_equal(fcgi_pair_next(nv.buf, nv.len, &off, &p), 0);
  nv.max = nv.len;
  assert_int_equal(fcgi_nvstream_append(&nv, (const uint8_t *)"x", 1),
                   FCGI_ETOOBIG);
  fcgi_nvstream_clear(&nv);
  fcgi_decoder_free(d);
  free(buf);
}

/* Whole records in one buffer are delivered in place (no copy, nothing
 * allocated); a record split across feeds is gathered in the decoder's
 * buffer, sized on first need, and delivered intact. */
static void test_decode_in_place_and_split(void **state) {
  (void)state;
  uint8_t wire[2 * (FCGI_HEADER_LEN + 16)];
  for (int k = 0; k < 2; k++) {
    uint8_t *h = wire + k * (FCGI_HEADER_LEN + 16);
    const uint8_t hdr[FCGI_HEADER_LEN] = {1, FCGI_TYPE_STDOUT, 0, 1, 0, 13, 3,
                                          0};
    memcpy(h, hdr, sizeof hdr);
    memcpy(h + FCGI_HEADER_LEN, k ? "second record" : "first record!", 13);
    memset(h + FCGI_HEADER_LEN + 13, 0, 3);
  }
  struct fcgi_decoder *d = fcgi_decoder_new();
  assert_non_null(d);
  struct fcgi_record rec;
  size_t used;
  assert_int_equal(fcgi_decoder_feed(d, wire, sizeof wire, &used, &rec), 1);
  assert_int_equal(used, FCGI_HEADER_LEN + 16);
  assert_ptr_equal(rec.content, wire + FCGI_HEADER_LEN);
  assert_null(d->content); /* nothing allocated */
  /* the second record split in the middle of its content */
  const uint8_t *second = wire + used;
  size_t cut = FCGI_HEADER_LEN + 5;
  assert_int_equal(fcgi_decoder_feed(d, second, cut, &used, &rec), 0);
  assert_int_equal(used, cut);
  uint8_t tail[16 - 5];
  memcpy(tail, second + cut, sizeof tail);
  assert_int_equal(fcgi_decoder_feed(d, tail, sizeof tail, &used, &rec), 1);
  assert_non_null(d->content);
  assert_true(d->content_cap >= 13);
  assert_int_equal(rec.content_len, 13);
  assert_memory_equal(rec.content, "second record", 13);
  assert_true(fcgi_decoder_idle(d));
  fcgi_decoder_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_fixtures),
      cmocka_unit_test(test_decode_every_split),
      cmocka_unit_test(test_encode_matches_captures),
      cmocka_unit_test(test_encode_begin_and_short_pairs),
      cmocka_unit_test(test_encode_long_lengths),
      cmocka_unit_test(test_encode_params_split_at_pairs),
      cmocka_unit_test(test_encode_big_stdin),
      cmocka_unit_test(test_decode_padding_and_max_content),
      cmocka_unit_test(test_decode_errors),
      cmocka_unit_test(test_get_values_result),
      cmocka_unit_test(test_decode_in_place_and_split),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
