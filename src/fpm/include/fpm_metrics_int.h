/*
 * fpm_metrics_int.h: the model's metrics for writers that do not print
 * collectd names, without building samples (private to the project, not
 * installed). The sample list is built from these same functions.
 */
#ifndef FPM_FPM_METRICS_INT_H
#define FPM_FPM_METRICS_INT_H

#include "fpm_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fpm_metrics_samples (same samples, same order, same count) with every
 * type_instance left "": the json writer reads def, instance and value
 * only, and building the collectd names was a fifth of its cost. */
size_t fpm_metrics_samples_bare(const struct fpm_metrics *m,
                                enum fpm_worker_detail detail, size_t max_slots,
                                struct fpm_sample *out, size_t cap);

/* The value of the plain (non-family) metric id in m at that detail, as
 * its sample would carry it: 1 and *v set when the sample exists, else 0
 * (families: always 0). fpm_metrics_samples emits exactly these. */
int fpm_metrics_plain(const struct fpm_metrics *m, enum fpm_metric_id id,
                      enum fpm_worker_detail detail, double *v);

/* The statistics behind the family FPM_M_DURATION, FPM_M_CPU or
 * FPM_M_MEMORY when their six samples exist at that detail, else NULL. */
const struct fpm_stats *fpm_metrics_stats(const struct fpm_metrics *m,
                                          enum fpm_metric_id id,
                                          enum fpm_worker_detail detail);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_METRICS_INT_H */
