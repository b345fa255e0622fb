/* libFuzzer target: the FastCGI name-value pair codec and the request
 * encoder (src/fcgi/fcgi_record.h). Input: a factor byte, a 16-bit request id,
 * then a pair stream (whatever follows the pairs is the body). Each
 * execution checks:
 *  - decode: pairs from arbitrary bytes stay inside the buffer and the
 *    offset only moves forward;
 *  - round trip: the decoded pairs, encoded again, decode to the same pairs,
 *    and encoding is canonical (encode . decode . encode = encode);
 *  - reassembly: the stream appended in chunks is the stream, and a cap
 *    below its length refuses it;
 *  - request image: fcgi_wire_build over the pairs and the body (values and
 *    body repeated by a factor from the first byte: 38, 75 or 112 when it is
 *    1, 2 or 3, else 1, so that records split; lowered so that params plus
 *    body stay within FZ_WIRE_CAP, two full records and some) decodes to
 *    BEGIN_REQUEST, PARAMS records that each hold whole pairs (php-fpm needs
 *    that), padded to 8, the empty PARAMS record, STDIN records with the
 *    body, the empty STDIN record, and nothing else; a pair over
 *    FCGI_MAX_PAIR is refused with FCGI_EINVAL. */
#include "fcgi_record.h"
#include "fuzz_split.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ASan keeps freed memory in a quarantine (256 MiB by default) so that a
 * use after free finds it poisoned. One execution here frees well under
 * 1 MiB and no memory outlives it, so 16 MiB still covers every use after
 * free within an execution (and many executions after it), while the
 * allocator hands out memory that is still mapped and in cache: about 1.3
 * to 1.5 times the executions per second. ASAN_OPTIONS overrides it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "quarantine_size_mb=16";
}

/* Most bytes of params plus body an expanded request carries: two full
 * records and some, so that a pair over FCGI_MAX_PAIR, a PARAMS split, a
 * STDIN split and both splits in one request stay reachable, while the
 * image stays small enough that the fuzzer is not dominated by copying
 * (and by ASan mapping) hundreds of KiB per execution. */
#define FZ_WIRE_CAP (2 * (size_t)FCGI_MAX_WRITE_CONTENT + 4096)

struct fz_pairs {
  struct fcgi_pair *v;
  size_t n, cap;
};

static void pairs_add(struct fz_pairs *ps, const struct fcgi_pair *p) {
  if (ps->n == ps->cap) {
    ps->cap = ps->cap ? ps->cap * 2 : 16;
    ps->v = realloc(ps->v, ps->cap * sizeof *ps->v);
    FZ_CHECK(ps->v != NULL, "out of memory");
  }
  ps->v[ps->n++] = *p;
}

/* Decode buf; returns the offset where decoding stopped. */
static size_t decode(const uint8_t *buf, size_t len, struct fz_pairs *ps,
                     int *bad) {
  size_t off = 0;
  struct fcgi_pair p;
  int rc;
  while ((rc = fcgi_pair_next(buf, len, &off, &p)) == 1) {
    FZ_CHECK(p.name >= buf && p.value == p.name + p.name_len &&
                 p.value + p.value_len == buf + off && off <= len,
             "pair outside the buffer");
    pairs_add(ps, &p);
  }
  *bad = rc < 0;
  return off;
}

/* dst = src repeated rep times (n bytes each), in log2(rep) copies. */
static void repeat(uint8_t *dst, const uint8_t *src, size_t n, size_t rep) {
  size_t have = n, total = n * rep;
  if (n)
    memcpy(dst, src, n);
  while (have < total) {
    size_t k = have < total - have ? have : total - have;
    memcpy(dst + have, dst, k);
    have += k;
  }
}

/* Encode ps with every value repeated rep times; *sizes gets each pair's
 * encoded size. With rep 1 the values are encoded from where they are. */
static uint8_t *encode(const struct fz_pairs *ps, size_t rep, size_t *len,
                       size_t **sizes) {
  size_t total = 0, vmax = 0;
  *sizes = malloc((ps->n + 1) * sizeof **sizes);
  FZ_CHECK(*sizes != NULL, "out of memory");
  for (size_t i = 0; i < ps->n; i++) {
    (*sizes)[i] = fcgi_pair_size(ps->v[i].name_len, ps->v[i].value_len * rep);
    total += (*sizes)[i];
    if (ps->v[i].value_len > vmax)
      vmax = ps->v[i].value_len;
  }
  uint8_t *out = malloc(total + 1), *p = out;
  uint8_t *val = rep > 1 ? malloc(vmax * rep + 1) : NULL;
  FZ_CHECK(out != NULL && (rep == 1 || val != NULL), "out of memory");
  for (size_t i = 0; i < ps->n; i++) {
    size_t vl = ps->v[i].value_len * rep;
    const uint8_t *v = ps->v[i].value;
    if (rep > 1) {
      repeat(val, v, ps->v[i].value_len, rep);
      v = val;
    }
    size_t w = fcgi_pair_put(p, (const char *)ps->v[i].name, ps->v[i].name_len,
                             (const char *)v, vl);
    FZ_CHECK(w == (*sizes)[i], "pair_put wrote %zu, pair_size said %zu", w,
             (*sizes)[i]);
    p += w;
  }
  free(val);
  *len = total;
  return out;
}

/* The factor the input asked for, lowered until the expanded params and
 * body together fit FZ_WIRE_CAP. */
static size_t clamp_rep(const struct fz_pairs *ps, size_t rep,
                        size_t tail_len) {
  size_t fixed = 0, grow = tail_len;
  for (size_t i = 0; i < ps->n; i++) {
    fixed += ps->v[i].name_len + 8; /* name and the two lengths */
    grow += ps->v[i].value_len;
  }
  if (grow == 0 || fixed >= FZ_WIRE_CAP)
    return 1;
  size_t most = (FZ_WIRE_CAP - fixed) / grow;
  return rep < most ? rep : most > 1 ? most : 1;
}

static void same_pairs(const struct fz_pairs *a, const struct fz_pairs *b) {
  FZ_CHECK(a->n == b->n, "%zu pairs vs %zu", a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    FZ_CHECK(a->v[i].name_len == b->v[i].name_len &&
                 a->v[i].value_len == b->v[i].value_len &&
                 memcmp(a->v[i].name, b->v[i].name, a->v[i].name_len) == 0 &&
                 memcmp(a->v[i].value, b->v[i].value, a->v[i].value_len) == 0,
             "pair %zu differs", i);
  }
}

static void check_reassembly(const uint8_t *buf, size_t len) {
  struct fcgi_nvstream s = {0};
  for (size_t off = 0, i = 0; off < len; i++) {
    size_t n = (size_t)buf[i % len] % 97 + 1;
    if (n > len - off)
      n = len - off;
    FZ_CHECK(fcgi_nvstream_append(&s, buf + off, n) == FCGI_OK, "append");
    off += n;
  }
  FZ_CHECK(s.len == len && (len == 0 || memcmp(s.buf, buf, len) == 0),
           "reassembled stream differs");
  fcgi_nvstream_clear(&s);
  struct fcgi_nvstream cap = {.max = len / 2};
  if (len > 1)
    FZ_CHECK(fcgi_nvstream_append(&cap, buf, len) == FCGI_ETOOBIG, "no cap");
  fcgi_nvstream_clear(&cap);
}

/* Walks the image of one request and checks its shape. */
struct fz_image {
  const uint8_t *pairs; /* expected PARAMS stream */
  size_t pairs_len;
  const uint8_t *body; /* expected STDIN stream */
  size_t body_len;
};

static void check_image(const uint8_t *img, size_t len,
                        const struct fz_image *want, unsigned id) {
  struct fcgi_decoder *d = fcgi_decoder_new();
  FZ_CHECK(d != NULL, "out of memory");
  fcgi_decoder_init(d);
  size_t off = 0, pdone = 0, bdone = 0;
  int stage = 0; /* 0 begin, 1 params, 2 stdin, 3 done */
  while (off < len) {
    size_t used;
    struct fcgi_record r;
    int rc = fcgi_decoder_feed(d, img + off, len - off, &used, &r);
    FZ_CHECK(rc == 1, "image does not decode (rc %d: %s)", rc, d->errmsg);
    off += used;
    FZ_CHECK(r.request_id == id, "request id %u", r.request_id);
    FZ_CHECK((r.content_len + r.padding_len) % 8 == 0 &&
                 r.content_len <= FCGI_MAX_WRITE_CONTENT,
             "record of %zu+%zu bytes", r.content_len, r.padding_len);
    if (stage == 0) {
      FZ_CHECK(r.type == FCGI_TYPE_BEGIN_REQUEST && r.content_len == 8,
               "first record is not BEGIN_REQUEST");
      stage = 1;
    } else if (stage == 1) {
      FZ_CHECK(r.type == FCGI_TYPE_PARAMS, "type %u in params", r.type);
      if (r.content_len == 0) {
        stage = 2;
        continue;
      }
      /* whole pairs in each record */
      size_t o = 0;
      struct fcgi_pair p;
      while (fcgi_pair_next(r.content, r.content_len, &o, &p) == 1)
        ;
      FZ_CHECK(o == r.content_len, "a pair spans two PARAMS records");
      FZ_CHECK(pdone + r.content_len <= want->pairs_len &&
                   memcmp(want->pairs + pdone, r.content, r.content_len) == 0,
               "PARAMS content differs");
      pdone += r.content_len;
    } else if (stage == 2) {
      FZ_CHECK(r.type == FCGI_TYPE_STDIN, "type %u in stdin", r.type);
      if (r.content_len == 0) {
        stage = 3;
        continue;
      }
      FZ_CHECK(bdone + r.content_len <= want->body_len &&
                   memcmp(want->body + bdone, r.content, r.content_len) == 0,
               "STDIN content differs");
      bdone += r.content_len;
    } else {
      FZ_CHECK(0, "record after the empty STDIN record");
    }
  }
  FZ_CHECK(stage == 3 && pdone == want->pairs_len && bdone == want->body_len,
           "image incomplete: stage %d, %zu/%zu params, %zu/%zu body", stage,
           pdone, want->pairs_len, bdone, want->body_len);
  fcgi_decoder_free(d);
}

static void check_wire(const struct fz_pairs *ps, size_t rep,
                       const uint8_t *tail, size_t tail_len, unsigned id) {
  size_t plen, *sizes;
  uint8_t *pairs = encode(ps, rep, &plen, &sizes);
  size_t blen = tail_len * rep;
  uint8_t *copy = rep > 1 ? malloc(blen + 1) : NULL;
  FZ_CHECK(rep == 1 || copy != NULL, "out of memory");
  if (rep > 1)
    repeat(copy, tail, tail_len, rep);
  const uint8_t *body = rep > 1 ? copy : tail;
  int too_big = 0;
  for (size_t i = 0; i < ps->n; i++)
    too_big |= sizes[i] > FCGI_MAX_PAIR;
  struct fcgi_wire_params wp = {.pairs = pairs, .sizes = sizes, .count = ps->n};
  uint8_t *img = NULL;
  size_t ilen = 0;
  fcgi_err e =
      fcgi_wire_build(id, FCGI_ROLE_RESPONDER, 0, &wp, body, blen, &img, &ilen);
  if (too_big) {
    FZ_CHECK(e == FCGI_EINVAL, "a pair over the cap was accepted");
  } else {
    FZ_CHECK(e == FCGI_OK, "wire_build failed: %d", (int)e);
    struct fz_image want = {pairs, plen, body, blen};
    check_image(img, ilen, &want, id);
  }
  free(img);
  free(copy);
  free(pairs);
  free(sizes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  /* mostly 1; a first byte below 4 makes values and body longer */
  size_t rep = data[0] < 4 ? 1 + (size_t)data[0] * 37 : 1;
  unsigned id = ((unsigned)data[1] << 8) | data[2];
  data += 3;
  size -= 3;
  struct fz_pairs a = {0}, b = {0};
  int bad;
  size_t used = decode(data, size, &a, &bad);
  FZ_CHECK(used <= size && (bad || used == size), "stopped at %zu of %zu", used,
           size);

  size_t len1, len2, *s1, *s2;
  uint8_t *e1 = encode(&a, 1, &len1, &s1);
  int bad2;
  FZ_CHECK(decode(e1, len1, &b, &bad2) == len1 && !bad2, "re-decode failed");
  same_pairs(&a, &b);
  uint8_t *e2 = encode(&b, 1, &len2, &s2);
  FZ_CHECK(len1 == len2 && memcmp(e1, e2, len1) == 0, "encoding not canonical");
  FZ_CHECK(len1 <= used, "canonical form longer than the input");

  check_reassembly(data, size);
  check_wire(&a, clamp_rep(&a, rep, size - used), data + used, size - used, id);

  free(e1);
  free(e2);
  free(s1);
  free(s2);
  free(a.v);
  free(b.v);
  return 0;
}
