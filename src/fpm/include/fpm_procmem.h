/*
 * fpm_procmem.h: what a pool's workers cost the machine, read from /proc.
 *
 * The status page's `last request memory` is PHP's allocator peak for one
 * request; what a worker really holds is its resident set. For every worker
 * the status page lists, this reads the kernel's figures: the resident set
 * (RSS) from /proc/PID/stat, one small read per worker that also gives the
 * parent and the start time; on request (opts->pss) the proportional set
 * size from /proc/PID/smaps_rollup (PSS shares each shared page among the
 * processes that map it, so it adds up to what the pool costs).
 * smaps_rollup walks the worker's page tables: several times the cost of
 * everything else together (docs/memory.md has the figures), and it needs
 * root or the workers' user (CAP_SYS_PTRACE); unreadable, PSS is unknown.
 *
 * A listed PID is only read when it verifiably is that pool's worker on
 * this host: every listed worker has the same parent, that parent is a
 * php-fpm master (its cmdline starts "php-fpm: master process"), the first
 * worker's cmdline is "php-fpm: pool <the status page's pool name>", and
 * each worker's start time (from /proc/PID/stat) agrees with the status
 * page's `start time`. Anything else (a pool on another host, a PID
 * namespace we cannot see, a PID reused by another process) gives "not
 * local" with the reason, never a guess. A pool whose master runs in
 * another PID namespace (a container) lists that namespace's PIDs: when
 * the caller knows the master's PID here (opts->ns_master_pid), they are
 * translated first, then checked the same way. Workers that exited between the
 * status fetch and the read are counted as gone and left out.
 *
 * Thread-safety: no global state; the functions only read files, and a
 * cache (fpm_memcache) is used by one reader at a time.
 */
#ifndef FPM_FPM_PROCMEM_H
#define FPM_FPM_PROCMEM_H

#include "fpm_status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A set of per-worker byte counts, summarised. Percentiles are nearest
 * rank (the ceil(p/100 * n)-th smallest value, exact), as in fpm_model.h. */
struct fpm_mem_summary {
  uint64_t n; /* values; 0: nothing below is valid */
  uint64_t total, p50, p95, max;
};

/* Summarise values[0..n): sorts values in place. n 0 gives n 0. Totals
 * saturate at UINT64_MAX (never wrap). */
void fpm_mem_summarise(uint64_t *values, size_t n, struct fpm_mem_summary *out);

enum fpm_procmem_state {
  FPM_PROCMEM_UNREAD = 0,  /* not attempted (zero-initialised) */
  FPM_PROCMEM_LOCAL,       /* the workers were read: figures valid */
  FPM_PROCMEM_NOT_LOCAL,   /* the listed PIDs are not this host's workers
                              of this pool (reason says which check failed) */
  FPM_PROCMEM_UNAVAILABLE, /* nothing to read: no worker list, no worker
                              (reason says which) */
};

struct fpm_procmem {
  enum fpm_procmem_state state;
  char reason[256]; /* NOT_LOCAL, UNAVAILABLE: why, in words */
  int64_t master_pid;
  uint64_t listed; /* workers the status page listed */
  uint64_t gone;   /* listed workers that exited before they were read */
  struct fpm_mem_summary rss; /* bytes, over the workers read (n) */
  int pss_read;               /* PSS was asked for (opts->pss) */
  int pss_known; /* PSS is known (read now or kept) for every one of them */
  struct fpm_mem_summary pss; /* bytes; valid when pss_known */
  uint64_t requests;          /* requests served by the workers read */
  uint64_t rss_reads; /* workers whose /proc/PID/stat was read this time */
  uint64_t pss_reads; /* workers whose smaps_rollup was read this time */
  uint64_t ns_reads;  /* /proc/PID/status read to translate PIDs of another
                         PID namespace this time (opts->ns_master_pid) */
};

/*
 * A pool's worker figures kept from one read to the next (the collectd
 * plugin, a reader that polls): a worker that was verified and read, and is
 * listed again with the same PID and the same start time, is the same
 * process, so its figures may be kept for a few reads instead of reading
 * /proc for every worker every time (see fpm_procmem_opts.rss_every).
 * Workers no longer listed are forgotten, so the cache holds at most one
 * entry per listed worker. Opaque; one per pool; not thread-safe (one
 * reader at a time); owned by the caller.
 */
typedef struct fpm_memcache fpm_memcache;

/* Refresh rates that keep a polling reader's cost per read well under the
 * status fetch for a 50-worker pool (docs/memory.md, "Cost"): each
 * worker's RSS at least every 5th read, its PSS every 50th. */
#define FPM_MEMCACHE_RSS_EVERY 5
#define FPM_MEMCACHE_PSS_EVERY 50

/* A new, empty cache, or NULL when out of memory. */
fpm_memcache *fpm_memcache_new(void);
/* Frees c and everything it holds. NULL is a no-op. */
void fpm_memcache_free(fpm_memcache *c);

/* Where to look; zero fields take the defaults. */
struct fpm_procmem_opts {
  const char *proc_root;      /* NULL: "/proc" (tests point elsewhere) */
  long clk_tck;               /* 0: sysconf(_SC_CLK_TCK) */
  int64_t boot_time_s;        /* 0: the clock's (realtime - boottime) */
  uint64_t start_tolerance_s; /* 0: 3; a worker whose start time differs
                                 from the status page's by more is not the
                                 listed worker */
  int pss;                    /* 1: read PSS too (smaps_rollup) */
  /* With a cache: a new worker (a PID not in the cache, or one whose start
   * time changed) is read in full at once; of the known ones, only the
   * ceil(known / rss_every) whose RSS was read longest ago are read again
   * (their stat: RSS, parent, start time), and the ceil(known /
   * pss_every) whose PSS was read longest ago get a smaps_rollup too. So
   * every worker's RSS is at most about rss_every reads old and its PSS
   * pss_every, and a read costs a fraction of reading every worker. 0 or
   * 1: every read. Without a cache every listed worker is read. */
  fpm_memcache *cache;
  unsigned rss_every, pss_every;
  /* 0: the listed PIDs are read as PIDs of this /proc. Else the PID, in
   * this /proc, of the pool's master as discovery found it (a master in a
   * container, fpm_conf_pool.master_pid): the status page's PIDs are of
   * the master's PID namespace, and are translated to this /proc's. Each
   * of the master's children (/proc/M/task/M/children, or a scan of /proc
   * for its children on a kernel without that file) has a line "NSpid:"
   * in its /proc/PID/status, its PID in every namespace from this /proc's
   * down to its own: the last field is the listed PID, the first where to
   * read it. A master that shares this /proc's PID namespace (one field)
   * lists this /proc's PIDs. Then every check above still holds, and each
   * worker's parent must be this master. With a cache, only new workers
   * are translated (and only the children not already known are looked
   * up). The master gone, or a kernel without NSpid (before 4.1): NOT_LOCAL
   * with the reason. The caller must know that the status page is this
   * master's (discovery reaches it through the master's own namespaces);
   * the start time check still guards a PID that is not. */
  int64_t ns_master_pid;
};

/*
 * Read the memory of the workers st lists (st must have a worker list:
 * st->has_workers) into *out, which is overwritten. o may be NULL. Returns
 * out->state. Never fails otherwise: a file that cannot be read is a
 * reason (NOT_LOCAL, UNAVAILABLE) or an unknown PSS, and out of memory is
 * reported as UNAVAILABLE. Cost without a cache: one /proc read per worker
 * (stat), two for the master and the first worker (cmdline), and with
 * opts->pss one smaps_rollup per worker; with a cache, see opts->cache.
 * With opts->ns_master_pid and a listed worker not in the cache, also the
 * master's status, its children file and the status of each child not
 * known yet.
 * With a cache, a result other than LOCAL empties it (the next read starts
 * over and verifies everything again).
 */
enum fpm_procmem_state fpm_procmem_read(const struct fpm_status *st,
                                        const struct fpm_procmem_opts *o,
                                        struct fpm_procmem *out);

/* MemAvailable from <proc_root>/meminfo (NULL: /proc), in bytes: 0 and
 * *bytes set, or -1 (file unreadable, or a kernel before 3.14 without the
 * field). */
int fpm_meminfo_available(const char *proc_root, uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_PROCMEM_H */
