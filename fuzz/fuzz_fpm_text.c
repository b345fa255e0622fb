/* libFuzzer target: the text status parser (FPM's default format,
 * src/fpm/include/fpm_status.h). The payload is parsed whole and in chunks
 * whose sizes come from the input: same result, same snapshot
 * (fpm_status_diff). The snapshot must be usable as documented, and the metric
 * model runs over it. */
#include "fuzz_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct fz_split s;
  if (fz_split_init(&s, data, size))
    return 0;
  struct fpm_status a, b;
  fpm_status_init(&a);
  fpm_status_init(&b);
  fpm_perr ea = fz_parse(&s, FPM_FORMAT_TEXT, 0, 0, &a);
  fpm_perr eb = fz_parse(&s, FPM_FORMAT_TEXT, 1, 0, &b);
  FZ_CHECK(ea == eb, "whole %s, chunked %s", fpm_perr_str(ea),
           fpm_perr_str(eb));
  if (ea == FPM_P_OK || ea == FPM_P_ETRUNCATED) {
    char why[256];
    FZ_CHECK(fpm_status_diff(&a, &b, why, sizeof why) == 0,
             "whole vs chunked: %s", why);
    fz_check_snapshot(&a);
    fz_model(&a);
  }
  fpm_status_clear(&a);
  fpm_status_clear(&b);
  return 0;
}
