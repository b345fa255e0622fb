/*
 * fuzz_split.h: shared by the libFuzzer targets that check "any split gives
 * the same result". The first input byte holds flags (high nibble, for the
 * target) and the length of a chunk-size schedule (low 3 bits + 1); the next
 * bytes are the schedule; the rest is the payload. Chunks cycle through the
 * schedule: a byte b < 128 is a chunk of b + 1 bytes (0 for b == 127, so
 * empty feeds happen too,
 * except at the schedule's first position), a larger one a chunk of (b - 127) *
 * 509 bytes.
 */
#ifndef FPMT_FUZZ_SPLIT_H
#define FPMT_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fz_split {
  unsigned flags;       /* high nibble of the first byte */
  const uint8_t *sched; /* chunk sizes */
  size_t nsched;
  const uint8_t *data; /* payload */
  size_t size;
};

/* 0 and *s filled, or -1 when the input is empty. */
static inline int fz_split_init(struct fz_split *s, const uint8_t *in,
                                size_t n) {
  if (n == 0)
    return -1;
  s->flags = in[0] >> 4;
  s->nsched = (size_t)(in[0] & 7) + 1;
  if (s->nsched > n - 1)
    s->nsched = n - 1;
  s->sched = in + 1;
  s->data = in + 1 + s->nsched;
  s->size = n - 1 - s->nsched;
  return 0;
}

/* Size of chunk number i (a zero-length schedule gives 1-byte chunks). */
static inline size_t fz_chunk(const struct fz_split *s, size_t i) {
  if (s->nsched == 0)
    return 1;
  unsigned b = s->sched[i % s->nsched];
  if (b == 127)
    return i % s->nsched == 0 ? 1 : 0; /* never only empty chunks */
  return b < 128 ? (size_t)b + 1 : (size_t)(b - 127) * 509;
}

/* A broken invariant: print it and abort, so libFuzzer records the input. */
#define FZ_CHECK(cond, ...)                                                    \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz check failed: %s: ", #cond);                       \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#endif /* FPMT_FUZZ_SPLIT_H */
