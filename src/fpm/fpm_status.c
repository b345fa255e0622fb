/*
 * fpm_status.c: the status parser object, which dispatches to the JSON
 * (fpm_json.c) or text (fpm_text.c) back end; both build on fpm_snapshot.c.
 */
#include "fpm_parse_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ parser */

fpm_parser *fpm_parser_new(enum fpm_format fmt, struct fpm_status *out,
                           const struct fpm_parser_opts *opts) {
  if (out == NULL || (fmt != FPM_FORMAT_JSON && fmt != FPM_FORMAT_TEXT))
    return NULL;
  fpm_parser *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  fpm_status_clear(out);
  out->format = fmt;
  p->fmt = fmt;
  p->st = out;
  p->max_workers = (opts != NULL && opts->max_workers != 0)
                       ? opts->max_workers
                       : FPM_DEFAULT_MAX_WORKERS;
  p->always_repair = opts != NULL && opts->always_repair;
  int rc = fmt == FPM_FORMAT_JSON ? fpm_json_new(p) : fpm_text_new(p);
  if (rc != 0) {
    free(p);
    return NULL;
  }
  return p;
}

fpm_perr fpm_parser_feed(fpm_parser *p, const char *buf, size_t len) {
  if (p->code != FPM_P_OK)
    return p->code;
  if (len == 0)
    return FPM_P_OK;
  p->fed += len;
  return p->fmt == FPM_FORMAT_JSON ? fpm_json_feed(p, buf, len)
                                   : fpm_text_feed(p, buf, len);
}

fpm_perr fpm_parser_finish(fpm_parser *p) {
  if (p->code == FPM_P_OK) {
    if (p->fmt == FPM_FORMAT_JSON)
      fpm_json_finish(p);
    else
      fpm_text_finish(p);
  }
  /* pointers are usable even after an error (partial snapshot) */
  if (!p->fixed) {
    fpm_status_drop_phantoms(p->st);
    fpm_status_fixup(p->st);
    p->fixed = 1;
  }
  return p->code;
}

const struct fpm_parse_error *fpm_parser_error(const fpm_parser *p) {
  return &p->err;
}

void fpm_parser_free(fpm_parser *p) {
  if (p == NULL)
    return;
  if (p->fmt == FPM_FORMAT_JSON)
    fpm_json_free(p);
  else
    fpm_text_free(p);
  if (!p->fixed)
    fpm_status_fixup(p->st);
  free(p);
}

fpm_perr fpm_status_parse(const char *buf, size_t len, enum fpm_format fmt,
                          struct fpm_status *out, struct fpm_parse_error *err) {
  fpm_parser *p = fpm_parser_new(fmt, out, NULL);
  if (p == NULL) {
    if (err != NULL) {
      memset(err, 0, sizeof *err);
      err->code = FPM_P_ENOMEM;
      snprintf(err->message, sizeof err->message,
               "out of memory creating the status parser");
    }
    return FPM_P_ENOMEM;
  }
  fpm_perr e = fpm_parser_feed(p, buf, len);
  fpm_perr e2 = fpm_parser_finish(p);
  if (e == FPM_P_OK)
    e = e2;
  if (err != NULL)
    *err = p->err;
  fpm_parser_free(p);
  return e;
}
