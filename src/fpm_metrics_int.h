/*
 * fpm_metrics_int.h: fpm_metrics_samples for writers that do not print
 * collectd names (private to the project, not installed).
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

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_METRICS_INT_H */
