/* libFuzzer target: the PHP-FPM configuration reader on arbitrary text. */
#include "fpm_conf.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_env(void *ud, const char *name) {
  (void)ud;
  (void)name;
  return "x";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Includes would read the machine's files: report them instead. */
  struct fpm_conf_opts o = {.getenv_fn = no_env, .no_includes = 1};
  struct fpm_conf c;
  fpm_conf_load_buffer("fuzz.conf", (const char *)data, size, &o, &c);
  fpm_conf_free(&c);
  return 0;
}
