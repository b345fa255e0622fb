/*
 * fpm_output_opcache.h: the OPcache part of fpmstat's output formats
 * (private to the project, not installed). Each renderer of fpm_output.h
 * calls its function here when the item carries an OPcache result
 * (fpm_output_item.opcache); names per format are in docs/opcache.md.
 */
#ifndef FPM_FPM_OUTPUT_OPCACHE_H
#define FPM_FPM_OUTPUT_OPCACHE_H

#include "fpm_opcache.h"
#include "fpm_output.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The JSON value of "opcache" (an object): the figures, or enabled false
 * with the reason, or ok false with the error; "master" first when master
 * (the master's name, fpm_output_item.master) is not NULL. */
void fpm_output_opcache_json(struct fpm_buf *b,
                             const struct fpm_opcache_result *r,
                             const char *master);
/* Text lines for the target's block (two-space indent, as the others),
 * naming the master when master is not NULL. */
void fpm_output_opcache_text(struct fpm_buf *b,
                             const struct fpm_opcache_result *r,
                             const char *master);
/* Line formats: nothing when the item has no OPcache result or it failed. */
void fpm_output_opcache_putval(const struct fpm_output_opts *o,
                               const struct fpm_output_item *it,
                               struct fpm_buf *out);
void fpm_output_opcache_graphite(const struct fpm_output_opts *o,
                                 const struct fpm_output_item *it,
                                 struct fpm_buf *out);
void fpm_output_opcache_influx(const struct fpm_output_opts *o,
                               const struct fpm_output_item *it,
                               struct fpm_buf *out);
/* Every OPcache family over the n items, after the other families. */
void fpm_output_opcache_prometheus(const struct fpm_output_opts *o,
                                   const struct fpm_output_item *items,
                                   size_t n, struct fpm_buf *out);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_OUTPUT_OPCACHE_H */
