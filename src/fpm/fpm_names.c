/*
 * fpm_names.c: FPM's spellings of pool fields and worker states, shared by
 * the parsers, the model and every output.
 */
#include "fpm_status.h"

#include <string.h>

static const char *const pool_field_names[FPM_F__COUNT] = {
    "pool",
    "process manager",
    "start time",
    "start since",
    "accepted conn",
    "listen queue",
    "max listen queue",
    "listen queue len",
    "idle processes",
    "active processes",
    "total processes",
    "max active processes",
    "max children reached",
    "slow requests",
    "memory peak",
};

const char *fpm_pool_field_name(enum fpm_pool_field f) {
  if ((unsigned)f >= FPM_F__COUNT)
    return "?";
  return pool_field_names[f];
}

static const struct {
  const char *name; /* FPM's spelling */
  const char *key;  /* stable metric key */
} states[FPM_STATE__COUNT] = {
    [FPM_STATE_IDLE] = {"Idle", "idle"},
    [FPM_STATE_READING_HEADERS] = {"Reading headers", "reading_headers"},
    [FPM_STATE_GETTING_INFO] = {"Getting request information",
                                "getting_request_info"},
    [FPM_STATE_RUNNING] = {"Running", "running"},
    [FPM_STATE_ENDING] = {"Ending", "ending"},
    [FPM_STATE_FINISHING] = {"Finishing", "finishing"},
    [FPM_STATE_UNKNOWN] = {"Unknown", "unknown"},
};

const char *fpm_state_name(enum fpm_state s) {
  if ((unsigned)s >= FPM_STATE__COUNT)
    s = FPM_STATE_UNKNOWN;
  return states[s].name;
}

const char *fpm_state_key(enum fpm_state s) {
  if ((unsigned)s >= FPM_STATE__COUNT)
    s = FPM_STATE_UNKNOWN;
  return states[s].key;
}

enum fpm_state fpm_state_parse(const char *s, size_t len) {
  /* PHP 7.3 spelled the INFO stage "Getting request informations". */
  static const char informations[] = "Getting request informations";
  if (len == sizeof informations - 1 && memcmp(s, informations, len) == 0)
    return FPM_STATE_GETTING_INFO;
  for (int i = 0; i < FPM_STATE_UNKNOWN; i++) {
    size_t n = strlen(states[i].name);
    if (n == len && memcmp(s, states[i].name, n) == 0)
      return (enum fpm_state)i;
  }
  return FPM_STATE_UNKNOWN;
}
