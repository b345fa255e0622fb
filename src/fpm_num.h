/* fpm_num.h: small numeric helpers shared by the model and the outputs,
 * written so that fpmcore needs nothing from libm (the collectd plugin
 * would otherwise be the first thing to load libm into collectd: about
 * 330 KiB of resident memory for one llround). Private header. */
#ifndef FPM_NUM_H
#define FPM_NUM_H

#include <stdint.h>

/* v rounded to the nearest integer, halves away from zero, as llround()
 * does. The caller guarantees 0 <= v < 2^64 (not NaN). Exact: truncating a
 * double gives a double, so v - t is computed without error. */
static inline uint64_t fpm_round_u64(double v) {
  uint64_t t = (uint64_t)v;
  return v - (double)t >= 0.5 ? t + 1 : t;
}

#endif
