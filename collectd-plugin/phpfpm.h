/*
 * phpfpm.h: internals of the collectd "phpfpm" plugin, shared by its files
 * and its unit tests. Not installed. phpfpm.so is linked with a version
 * script, so nothing declared here is exported: module_register is the only
 * dynamic symbol.
 *
 * Ownership: a struct phpfpm_pool is created by the config callback (a
 * <Pool> block) or by the Discover scan callback, handed to collectd as the
 * read callback's user_data and freed by collectd through phpfpm_pool_free:
 * at shutdown (after the read threads have been joined), or on a read
 * thread after plugin_unregister_read (a discovered pool that went away).
 * collectd never runs one read callback concurrently with itself, so a pool
 * needs no lock.
 */
#ifndef PHPFPM_PLUGIN_H
#define PHPFPM_PLUGIN_H

#include "collectd_compat.h"

#include "fpm_discover.h"
#include "fpm_fetch.h"
#include "fpm_model.h"
#include "fpm_procmem.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PHPFPM_PLUGIN_NAME "phpfpm"
#define PHPFPM_DEFAULT_STATUS_PATH "/status"
#define PHPFPM_DEFAULT_PING_PATH "/ping"
#define PHPFPM_DEFAULT_MAX_SLOTS 64
#define PHPFPM_DEFAULT_SLOW_THRESHOLD 1.0
/* WorkerMemoryRefresh, WorkerPSSRefresh: each worker's RSS is read again at
 * least every 5th read, its PSS every 50th (docs/memory.md, "Cost") */
#define PHPFPM_DEFAULT_RSS_EVERY FPM_MEMCACHE_RSS_EVERY
#define PHPFPM_DEFAULT_PSS_EVERY FPM_MEMCACHE_PSS_EVERY
#define PHPFPM_TIMEOUT_SHARE 0.9 /* default Timeout: 90% of the interval */
#define PHPFPM_MAX_POOL_NAME 127 /* fits collectd's plugin_instance */
#define PHPFPM_MAX_SLOTS_LIMIT 65535
/* Bytes of a request uri and script kept in a slow-request notification, so
 * the whole message fits NOTIF_MAX_MSG_LEN (256). */
#define PHPFPM_DEFAULT_DISCOVER_INTERVAL 60.0
/* The scan callback's name: never "phpfpm/<pool>", so no pool takes it. */
#define PHPFPM_DISCOVER_CB "phpfpm-discover"
#define PHPFPM_NOTIF_URI_MAX 90
#define PHPFPM_NOTIF_SCRIPT_MAX 70

/* One <Pool> block, validated. Strings are owned (free with
 * phpfpm_conf_clear). */
struct phpfpm_conf {
  char *name;        /* as configured */
  char *endpoint;    /* "unix:/path" or "tcp://host:port" */
  int is_socket;     /* 1: from Socket, 0: from Address */
  char *status_path; /* default /status */
  char *ping_path;   /* default /ping */
  double timeout_s;  /* effective: below interval_s */
  double interval_s; /* effective: Interval or collectd's */
  int interval_set;  /* Interval was given (register with it) */
  enum fpm_worker_detail workers;
  size_t max_slots;
  double slow_threshold_s;
  uint64_t max_children; /* 0 = unknown */
  int notifications;
  int worker_memory;    /* WorkerMemory: read the workers from /proc */
  int worker_pss;       /* WorkerPSS: their PSS too (smaps_rollup) */
  unsigned rss_every;   /* WorkerMemoryRefresh: re-read RSS every N reads */
  unsigned pss_every;   /* WorkerPSSRefresh: re-read PSS every N reads */
  int opcache;          /* Opcache: read the master's OPcache too */
  char *opcache_script; /* OpcacheScript; NULL: the installed script */
  char *master;         /* Master; NULL: PHPFPM_DEFAULT_MASTER */
  /* A discovered pool inside a container (fpm_target): NULL on the host. */
  char *root, *netns, *tag;
  /* A discovered pool: its section name, which its status page must show
   * (fpm_target.pool); NULL for a <Pool> block (any name). */
  char *section;
  /* Its master's host PID (fpm_procmem_opts.ns_master_pid); 0 on the host.
   * A new master is a new root/netns path, so a new pool. */
  int64_t ns_master_pid;
};

/*
 * Parse one <Pool "name"> block into *out. default_interval_s is collectd's
 * interval for the plugin. Errors and warnings are logged through
 * plugin_log, each naming the pool, the key and what was expected. Returns 0,
 * or -1 (then *out is cleared).
 */
int phpfpm_conf_parse(const oconfig_item_t *ci, double default_interval_s,
                      struct phpfpm_conf *out);
void phpfpm_conf_clear(struct phpfpm_conf *c);

/* What every discovered pool is read with: a <DiscoverDefaults> block, or
 * the built-in defaults (those of a <Pool> without keys). Effective
 * values: interval_s is the block's Interval or the plugin's, timeout_s
 * the block's Timeout (below the interval) or 90% of the interval. */
struct phpfpm_defaults {
  double interval_s;
  double timeout_s;
  enum fpm_worker_detail workers;
  size_t max_slots;
  double slow_threshold_s;
  int notifications;
  int worker_memory;
  int worker_pss;
  unsigned rss_every, pss_every;
  int opcache;              /* Opcache */
  char opcache_script[256]; /* OpcacheScript; "": the installed script */
  char master[64];          /* Master; "": derived (phpfpm_opcache.c) */
};
/* The built-in defaults; default_interval_s is the plugin's interval. */
void phpfpm_defaults_init(struct phpfpm_defaults *d, double default_interval_s);
/*
 * Parse a <DiscoverDefaults> block: the keys of <Pool> except those
 * discovery derives for each pool (Socket, Address, StatusPath, PingPath,
 * MaxChildren), which are refused with a message naming the key. Unset keys
 * keep the built-in defaults. Errors are logged; returns 0, or -1 (then
 * *out is untouched).
 */
int phpfpm_defaults_parse(const oconfig_item_t *ci, double default_interval_s,
                          struct phpfpm_defaults *out);
/* "none", "summary" or "slots". */
const char *phpfpm_workers_name(enum fpm_worker_detail d);

/* ---------------------------------------------------------- pure helpers */

/* Copy name into out (size outsz > 0) for collectd's plugin_instance: '/'
 * and control characters become '_'; truncated to fit. */
void phpfpm_instance_name(const char *name, char *out, size_t outsz);

/* Copy in into out for a log line or a notification: control characters
 * and DEL become '?', at most max bytes are kept (then "..." is appended).
 * out is always NUL-terminated. */
void phpfpm_clean_text(const char *in, size_t max, char *out, size_t outsz);

/* A running request, identified by its worker's pid and request count (both
 * fixed while the request runs). */
struct phpfpm_req_key {
  int64_t pid;
  uint64_t requests;
};

/* The slow requests already notified, so each is notified once. */
struct phpfpm_slow {
  struct phpfpm_req_key *keys; /* sorted */
  size_t n, cap;
};
void phpfpm_slow_free(struct phpfpm_slow *s);

typedef void (*phpfpm_slow_cb)(void *ud, const struct fpm_worker *w);
/*
 * Find the non-idle workers of st whose request has run longer than
 * threshold_s (the one whose uri contains marker, our own scrape, is
 * skipped), call cb for each one not seen by the previous call, and remember
 * the current set. Returns the number of new slow requests, or -1 when out
 * of memory (the set is then left as it was).
 */
int phpfpm_slow_update(struct phpfpm_slow *s, const struct fpm_status *st,
                       const char *marker, double threshold_s,
                       phpfpm_slow_cb cb, void *ud);

/* ------------------------------------------------------------ the pool */

/* Shared by a discovered pool and the scan callback, which hold one
 * reference each (whoever drops the last frees it): the pool records
 * whether a FAILURE notification is outstanding, so the scan can clear it
 * with an OKAY one when it retires the pool. Atomics: the pool's read
 * thread writes, the scan's reads. */
struct phpfpm_link {
  atomic_int refs;
  atomic_int down; /* a FAILURE was sent and no OKAY since */
  char name[64];
};
/* A link with two references, or NULL when out of memory. */
struct phpfpm_link *phpfpm_link_new(const char *name);
void phpfpm_link_put(struct phpfpm_link *l);

typedef fpm_err (*phpfpm_fetch_fn)(fpm_fetcher *f, enum fpm_fetch_kind kind,
                                   int64_t deadline_ms, fcgi_cancel *cancel,
                                   struct fpm_result *result);

struct phpfpm_pool {
  struct phpfpm_conf conf;
  char instance[DATA_MAX_NAME_LEN]; /* sanitised plugin_instance */
  cdtime_t interval;                /* for value lists */
  fpm_fetcher *fetcher;
  phpfpm_fetch_fn fetch; /* fpm_fetch; unit tests swap it */
  struct fpm_history hist;
  c_complain_t complaint; /* rate-limits the "cannot read" error */
  int down;               /* an outage was notified */
  int types_checked;
  uint64_t bad_types; /* 1 << fpm_metric_id: type unusable */
  struct phpfpm_slow slow;
  struct fpm_sample *samples;
  size_t samples_cap;
  struct phpfpm_link *link;          /* discovered pools only, else NULL */
  struct fpm_procmem mem;            /* WorkerMemory: the last read */
  fpm_memcache *memcache;            /* its workers' figures, kept */
  enum fpm_procmem_state mem_logged; /* the state last logged */
  struct phpfpm_oc *oc;              /* Opcache: its state (phpfpm_opcache.c) */
};

/* WorkerMemory: read the workers st lists from /proc into p->mem and hand
 * the figures to m (m->procmem). Logs once per change of state: why a pool
 * is not local (NOTICE), and when it is read again (INFO). */
void phpfpm_memory_read(struct phpfpm_pool *p, const struct fpm_status *st,
                        struct fpm_metrics *m);

/* Resolve p's endpoint, set its run-time fields and register its read
 * callback "phpfpm/<name>". On failure the cause is logged, p is freed and
 * -1 returned. Safe from a read callback (collectd takes its read lock). */
int phpfpm_pool_start(struct phpfpm_pool *p);

/* The read callback (registered as "phpfpm/<pool>"). Always returns 0: a
 * failed read dispatches up=0 and logs (rate-limited), so the next read
 * comes after one interval and "pool back" is seen at once. */
int phpfpm_read(user_data_t *ud);
void phpfpm_pool_free(void *pool);
/* The <Plugin phpfpm> callback. A rejected <Pool> block (or option) is
 * logged and skipped: the valid pools are read and the callback returns 0,
 * so collectd keeps running; phpfpm_config_errors_read then makes the first
 * read round fail once, so `collectd -T` exits 1. With Discover, the first
 * scan runs here (see phpfpm_discover_read). */
int phpfpm_config(oconfig_item_t *ci);
/* Registered as "phpfpm-config" when blocks were rejected: its first call
 * logs the count and returns -1 (a daemon logs one NOTICE for it), later
 * calls (daily) return 0. */
struct phpfpm_config_errors {
  int n;        /* rejected blocks and options */
  int reported; /* the first call was made */
};
int phpfpm_config_errors_read(user_data_t *ud);

/* ------------------------------------------------------------ discovery */

/*
 * Discover true | "/path": the pools in php-fpm's own configuration.
 * Owned by the scan callback (PHPFPM_DISCOVER_CB, every DiscoverInterval),
 * freed by collectd through phpfpm_discovery_free. It holds names and
 * settings only, never a pointer to a pool: a discovered pool belongs to its
 * own read callback, which collectd frees after plugin_unregister_read (at
 * the callback's next due time, on a read thread), so neither can outlive
 * the other's memory. Only the scan callback touches it after the config
 * phase; collectd never runs it twice at once: no lock.
 */
struct phpfpm_discovery {
  char *path;        /* file or directory; NULL: the Debian defaults */
  double interval_s; /* DiscoverInterval */
  /* the plugin's interval, taken at config time: inside the scan callback
   * plugin_get_interval() answers DiscoverInterval (collectd sets the read
   * context's interval to the callback's own) */
  double pool_interval_s;
  char **manual; /* names of the <Pool> blocks: they win */
  size_t n_manual;
  struct phpfpm_defaults defaults; /* <DiscoverDefaults>, or built-in */
  int defaults_given;              /* a <DiscoverDefaults> block was seen */
  char **ignore;                   /* DiscoverIgnore patterns, in order */
  size_t n_ignore;
  /* per pattern: the pools it ignored at the last scan, as logged ("" =
   * none; NULL: not logged yet), so a change is logged once */
  char **ignore_logged;
  struct fpm_disc_set set;    /* the pools of the last scan */
  struct phpfpm_link **links; /* of the pools it started and still reads */
  size_t n_links, cap_links;
  /* during a scan: its configuration and what it did (the summary line) */
  const struct fpm_conf *scan_conf;
  int n_started, n_stopped, n_failed, n_unmonitorable;
  char **diags; /* configuration problems of the last scan */
  size_t n_diags;
  int load_failed; /* the last scan read no file (logged once) */
  int skip_next;   /* the config phase scanned: the callback's first run
                      does not scan again (see phpfpm_discover_scan) */
  /* registration hooks: collectd's, unit tests may swap them */
  int (*start)(struct phpfpm_pool *p);
  int (*stop)(const char *cb_name);
};

/* Parse Discover, DiscoverInterval, DiscoverIgnore and <DiscoverDefaults>
 * at the <Plugin phpfpm> level into *d (set up by phpfpm_config: its
 * pool_interval_s and built-in defaults first). Returns 1 when the key is
 * one of them (then *rc is 0, or -1 with the error logged), 0 for another
 * key. */
int phpfpm_discover_option(const oconfig_item_t *o, struct phpfpm_discovery *d,
                           int *enabled, int *rc);
/* The scan callback: one scan (read the configuration, stop the pools that
 * are gone or changed, start the new ones, log what is not monitorable,
 * once), except its first run after the config phase, which already
 * scanned (skip_next). Always returns 0. */
int phpfpm_discover_read(user_data_t *ud);
/* The scan itself, called from the config phase (the first scan) and by
 * phpfpm_discover_read (later ones). */
void phpfpm_discover_scan(struct phpfpm_discovery *d);
void phpfpm_discovery_free(void *d);
/* A pool for a discovered one: its endpoint and status path, ping.path,
 * pm.max_children; read every df->interval_s (registered with it), with
 * df's Timeout, Workers, MaxSlots, SlowThreshold and Notifications. NULL
 * when out of memory. */
struct phpfpm_pool *phpfpm_pool_from_conf(const struct fpm_conf_pool *cp,
                                          const struct phpfpm_defaults *df);

/* -------------------------------------------------------------- OPcache */

/* The master name of hand-configured pools without a Master key. */
#define PHPFPM_DEFAULT_MASTER "default"
/* The collectd plugin name OPcache values go under; the plugin instance
 * names the master. */
#define PHPFPM_OPCACHE_PLUGIN "phpfpm_opcache"

/*
 * Opcache true: OPcache belongs to the php-fpm master, so it is read once
 * per master per interval, by the first pool of that master whose read
 * callback runs in the interval and can run the script (a pool whose run
 * failed waits PHPFPM_OC_BACKOFF intervals, so another pool takes over).
 * The masters are shared by name (Master, or derived) in a registry under
 * a mutex; each pool holds a reference to its own.
 */
#define PHPFPM_OC_BACKOFF 10
/* A pool that sees OPcache disabled waits this many intervals, so that
 * pools of the same master where it is enabled get their turn (a pool may
 * turn it off for itself with php_admin_value[opcache.enable] = 0). */
#define PHPFPM_OC_DISABLED_BACKOFF 3
/* Set up p's OPcache state from p->conf (called by phpfpm_pool_start):
 * 0, or -1 when out of memory (logged). No-op without Opcache. */
int phpfpm_opcache_pool_init(struct phpfpm_pool *p);
/* After a good status read: read OPcache when this pool's turn has come
 * and dispatch it under PHPFPM_OPCACHE_PLUGIN / master, within the status
 * read's deadline_ms (so the callback stays within Timeout). */
void phpfpm_opcache_read(struct phpfpm_pool *p, int64_t deadline_ms);
/* Drop p's reference (phpfpm_pool_free). NULL-safe. */
void phpfpm_opcache_pool_free(struct phpfpm_pool *p);
/* The master name of the discovered pool cp: df->master when set (after
 * cp's container tag and "-", if any), else the name discovery gave its
 * master (cp->master: fpm_master.h), else PHPFPM_DEFAULT_MASTER. */
void phpfpm_opcache_master_name(const struct fpm_conf_pool *cp,
                                const struct phpfpm_defaults *df, char *out,
                                size_t outsz);

#endif /* PHPFPM_PLUGIN_H */
