/*
 * fpm_opcache.h: OPcache figures of a php-fpm master, read by running a
 * small PHP script (data/fpmstat-opcache.php, installed as
 * FPM_OPCACHE_SCRIPT) through one of its pools over FastCGI.
 *
 * OPcache's shared memory belongs to the master: every pool of one master
 * reports the same figures, so callers read it once per master, named as
 * fpm_master.h says (the collectd plugin does; see docs/opcache.md). The
 * request carries only SCRIPT_FILENAME, SCRIPT_NAME, REQUEST_METHOD=GET, an
 * empty QUERY_STRING, SERVER_SOFTWARE and REMOTE_ADDR: never PHP_VALUE or
 * PHP_ADMIN_VALUE, so it changes nothing in the pool.
 *
 * Errors use the fetch classes of fpm_fetch.h (connect, timeout, protocol:
 * worded as a status fetch words them; FPM_EHTTP for an answer other than
 * 200, with the fix: script missing or unreadable for the pool's user,
 * chroot, security.limit_extensions; FPM_EPARSE when the answer is not the
 * script's JSON, or opcache.restrict_api refuses the script's directory).
 * OPcache not loaded or disabled is NOT an error: the result is FPM_OK with
 * loaded or enabled 0 and a reason.
 *
 * Thread-safety: no global state; a result belongs to its caller.
 */
#ifndef FPM_FPM_OPCACHE_H
#define FPM_FPM_OPCACHE_H

#include "fpm_fetch.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The installed script, set by the build (CMake: DATADIR/fpmstat). */
#ifndef FPM_OPCACHE_SCRIPT
#define FPM_OPCACHE_SCRIPT "/usr/local/share/fpmstat/opcache.php"
#endif

/* What the script reported. Figures are valid when enabled is 1. */
struct fpm_opcache {
  int loaded;      /* the extension is loaded in the pool */
  int enabled;     /* opcache_get_status answered opcache_enabled */
  char reason[64]; /* when not enabled: "not loaded", "opcache.enable=0",
                      "opcache.restrict_api", ... (sanitised) */
  char php_version[32];
  char restrict_api[128]; /* opcache.restrict_api when it refused us */
  int64_t master_pid;     /* the pool worker's parent, -1 when unknown */
  int64_t start_time;     /* OPcache start (epoch s): with master_pid, names
                             the master's shared memory */
  int64_t last_restart_time;
  int cache_full, restart_pending, restart_in_progress;
  uint64_t hits, misses, blacklist_misses;
  uint64_t memory_used, memory_free, memory_wasted;
  uint64_t cached_scripts, cached_keys, max_cached_keys;
  uint64_t oom_restarts, hash_restarts, manual_restarts;
  uint64_t interned_strings_used, interned_strings_free, interned_strings_n;
  int jit_on; /* JIT compiled in, enabled and on */
  uint64_t jit_buffer_size, jit_buffer_free;
};

/* The script to run when none is given: FPM_OPCACHE_SCRIPT when it is
 * readable here, else the source tree's copy when this is a build tree
 * (tests), else FPM_OPCACHE_SCRIPT. A static string. */
const char *fpm_opcache_default_script(void);

/* hits / (hits + misses), 0 when both are 0. */
double fpm_opcache_hit_ratio(const struct fpm_opcache *oc);

/*
 * Parse the script's JSON answer (len bytes, need not be NUL-terminated)
 * into *out. Returns 0, or -1 with the reason in why (a body that is not
 * the script's JSON: a different script, a PHP error page, ...).
 */
int fpm_opcache_parse(const char *body, size_t len, struct fpm_opcache *out,
                      char *why, size_t whylen);

/* The result of one run of the script. */
struct fpm_opcache_result {
  fpm_err err;
  fcgi_err fcgi;            /* transport detail when err is 2, 3 or 4 */
  int http_status;          /* CGI status (200 when absent), 0 if none */
  char message[768];        /* one line: target, script, cause and fix */
  char stderr_excerpt[256]; /* FastCGI stderr, first line, sanitised */
  double duration_s;
  struct fpm_opcache oc; /* when err == FPM_OK */
};

/*
 * Run script (an absolute path as the pool sees it: inside its chroot when
 * it has one) through each of the n fetchers at once, each bounded by
 * deadline_ms (absolute, fcgi_now_ms clock); cancel may be NULL. results[i]
 * belongs to fs[i] and is overwritten. script NULL means
 * fpm_opcache_default_script(). Returns the highest fpm_err among them.
 */
fpm_err fpm_opcache_fetch_many(fpm_fetcher *const *fs, size_t n,
                               const char *script, int64_t deadline_ms,
                               fcgi_cancel *cancel,
                               struct fpm_opcache_result *results);

/* ------------------------------------------------------------- metrics */

/* Every OPcache figure that is reported, in one stable order. */
enum fpm_opcache_metric {
  FPM_OC_ENABLED = 0,
  FPM_OC_HITS,
  FPM_OC_MISSES,
  FPM_OC_HIT_RATIO,
  FPM_OC_MEMORY_USED,
  FPM_OC_MEMORY_FREE,
  FPM_OC_MEMORY_WASTED,
  FPM_OC_CACHED_SCRIPTS,
  FPM_OC_CACHED_KEYS,
  FPM_OC_MAX_CACHED_KEYS,
  FPM_OC_OOM_RESTARTS,
  FPM_OC_HASH_RESTARTS,
  FPM_OC_MANUAL_RESTARTS,
  FPM_OC_INTERNED_USED,
  FPM_OC_INTERNED_FREE,
  FPM_OC_CACHE_FULL,
  FPM_OC_JIT_BUFFER_USED,
  FPM_OC_JIT_BUFFER_FREE,
  FPM_OC__COUNT
};

struct fpm_opcache_def {
  enum fpm_opcache_metric id;
  const char *key;              /* json key, influx field, text label */
  int counter;                  /* 1: monotonic since OPcache (re)start */
  const char *unit;             /* "bool", "requests", "bytes", "ratio", ... */
  const char *cd_type;          /* collectd type (stock types.db) */
  const char *cd_type_instance; /* collectd type instance */
  double cd_scale;              /* collectd value = value * cd_scale */
  const char *prom_name;        /* Prometheus family */
  const char *help;
};

/* The definition of id; NULL when out of range. */
const struct fpm_opcache_def *fpm_opcache_def_get(enum fpm_opcache_metric id);

/* The value of id in oc: 1 and *v set when the figure is reported, else
 * 0. A disabled or missing OPcache reports only FPM_OC_ENABLED (0); the JIT
 * figures exist only while the JIT is on. */
int fpm_opcache_value(const struct fpm_opcache *oc, enum fpm_opcache_metric id,
                      double *v);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_OPCACHE_H */
