/* libFuzzer target: the JSON status parser with its recovery
 * (src/fpm/include/fpm_status.h). The payload is parsed whole, in chunks whose
 * sizes come from the input, and whole or chunked (flag bit 0) through the
 * repairing pre-lexer alone (always_repair). Each must end without a sanitizer
 * report and leave a snapshot usable as documented, and the metric model runs
 * over it. All three must give the same code and snapshot (fpm_status_diff) on
 * every input, as fpm_status.h promises. */
#include "fuzz_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int has_snapshot(fpm_perr e) {
  return e == FPM_P_OK || e == FPM_P_ETRUNCATED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fz_split s;
  if (fz_split_init(&s, data, size))
    return 0;
  struct fpm_status a, b, c;
  fpm_status_init(&a);
  fpm_status_init(&b);
  fpm_status_init(&c);
  fpm_perr ea = fz_parse(&s, FPM_FORMAT_JSON, 0, 0, &a);
  fpm_perr eb = fz_parse(&s, FPM_FORMAT_JSON, 1, 0, &b);
  fpm_perr ec = fz_parse(&s, FPM_FORMAT_JSON, (s.flags & 1), 1, &c);
  /* any split gives the same result, and so does the repairing path from
   * the first byte (seed fast_truncated_vs_repair_notstatus: a body behind
   * a byte only yajl skips as whitespace, \v, was ETRUNCATED on the fast
   * path and ESCHEMA, not a status page, repaired; ESCHEMA on both now) */
  FZ_CHECK(ea == eb, "whole %s, chunked %s", fpm_perr_str(ea),
           fpm_perr_str(eb));
  FZ_CHECK(ea == ec, "fast path %s, always_repair %s", fpm_perr_str(ea),
           fpm_perr_str(ec));
  if (has_snapshot(ea)) {
    char why[256];
    fz_check_snapshot(&a);
    fz_model(&a);
    FZ_CHECK(fz_pool_diff(&a, &b) == 0,
             "pool figures differ between whole and chunked");
    FZ_CHECK(fpm_status_diff(&a, &b, why, sizeof why) == 0,
             "whole vs chunked: %s", why);
    FZ_CHECK(fpm_status_diff(&a, &c, why, sizeof why) == 0,
             "fast path vs always_repair: %s", why);
  }
  if (has_snapshot(eb))
    fz_check_snapshot(&b);
  if (has_snapshot(ec)) {
    fz_check_snapshot(&c);
    fz_model(&c);
  }
  fpm_status_clear(&a);
  fpm_status_clear(&b);
  fpm_status_clear(&c);
  return 0;
}
