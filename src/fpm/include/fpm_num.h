/* fpm_num.h: small numeric helpers shared by the model, the outputs and
 * fpmstat, written so that optimised builds need nothing from libm (the
 * collectd plugin would otherwise be the first thing to load libm into
 * collectd: about 330 KiB of resident memory, and fpmstat would pay the loader
 * for it on every run). Private header. */
#ifndef FPM_NUM_H
#define FPM_NUM_H

#include <stdint.h>

/* v rounded to the nearest integer, halves away from zero: equal to
 * llround(v) for 0 <= v < 2^63, exact up to 2^64; 0 for v <= 0 and NaN,
 * UINT64_MAX from 2^64 on. Truncating a double gives a double, so v - t
 * is computed without error. */
static inline uint64_t fpm_round_u64(double v) {
  if (!(v > 0))
    return 0;
  if (v >= 18446744073709551616.0)
    return UINT64_MAX;
  uint64_t t = (uint64_t)v;
  return t + (v - (double)t >= 0.5);
}

#endif
