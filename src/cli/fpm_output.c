/*
 * fpm_output.c: format names and the dispatch of targets to the renderer of
 * the chosen format (fpm_output_text.c, fpm_output_json.c,
 * fpm_output_metrics.c), which build on the toolbox in fpm_outbuf.c.
 */
#include "fpm_output.h"

#include <string.h>

/* ------------------------------------------------------------ formats */

static const char *const fmt_names[FPM_OUT__COUNT] = {
    "text", "json", "putval", "graphite", "influx", "prometheus",
};

int fpm_outfmt_parse(const char *name, enum fpm_outfmt *out) {
  for (int i = 0; i < FPM_OUT__COUNT; i++)
    if (strcmp(name, fmt_names[i]) == 0) {
      *out = (enum fpm_outfmt)i;
      return 0;
    }
  return -1;
}

const char *fpm_outfmt_name(enum fpm_outfmt f) {
  return (unsigned)f < FPM_OUT__COUNT ? fmt_names[f] : "?";
}

/* ------------------------------------------------------------ dispatch */

int fpm_output_render(const struct fpm_output_opts *o,
                      const struct fpm_output_item *items, size_t n,
                      struct fpm_buf *out) {
  if (o->format == FPM_OUT_PROMETHEUS)
    return fpm_output_prometheus(o, items, n, out);
  for (size_t i = 0; i < n; i++) {
    int rc = 0;
    switch (o->format) {
    case FPM_OUT_TEXT:
      rc = fpm_output_text(o, &items[i], out);
      break;
    case FPM_OUT_JSON:
      rc = fpm_output_json(o, &items[i], out);
      break;
    case FPM_OUT_PUTVAL:
      rc = fpm_output_putval(o, &items[i], out);
      break;
    case FPM_OUT_GRAPHITE:
      rc = fpm_output_graphite(o, &items[i], out);
      break;
    case FPM_OUT_INFLUX:
      rc = fpm_output_influx(o, &items[i], out);
      break;
    default:
      return -1;
    }
    if (rc != 0)
      return -1;
  }
  return out->oom ? -1 : 0;
}
