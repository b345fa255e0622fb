/*
 * fpm_output_memory.h: fpmstat's worker-memory lines (text, json) and the
 * --advise report (private to the project, not installed). The figures
 * come from fpm_procmem (read by fpmstat) and fpm_advise; this file only
 * prints them. Pure over caller-owned data.
 */
#ifndef FPM_FPM_OUTPUT_MEMORY_H
#define FPM_FPM_OUTPUT_MEMORY_H

#include "fpm_advise.h"
#include "fpm_output.h"
#include "fpm_procmem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes in binary units ("12.3 MiB", "512 B"). */
void fpm_out_bytes(struct fpm_buf *b, double v);

/* The text format's "worker memory:" line (nothing when m->procmem is
 * NULL: not asked for). */
void fpm_output_text_memory(struct fpm_buf *b, const struct fpm_metrics *m);

/* The json format's "memory" value: null (not read), {"local":true, ...
 * figures}, {"local":false,"reason":...} or {"local":null,"reason":...}
 * (nothing to read). */
void fpm_output_json_memory(struct fpm_buf *b, const struct fpm_procmem *p);

/* One pool of an --advise report. */
struct fpm_advise_item {
  const struct fpm_output_item *it; /* it->m NULL: the fetch failed */
  uint64_t max_children;            /* 0: unknown */
  const char *max_children_from;    /* where it comes from ("FILE:LINE",
                                       "--max-children"); NULL: unknown */
};

struct fpm_advise_opts {
  enum fpm_outfmt format; /* FPM_OUT_TEXT or FPM_OUT_JSON */
  double headroom_pct;
  int have_mem_available;
  uint64_t mem_available;
};

/* The --advise report of n pools (text: a block per pool; json: an object
 * per pool and line). Returns 0, or -1 on out of memory. */
int fpm_output_advise(const struct fpm_advise_opts *o,
                      const struct fpm_advise_item *items, size_t n,
                      struct fpm_buf *out);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_OUTPUT_MEMORY_H */
