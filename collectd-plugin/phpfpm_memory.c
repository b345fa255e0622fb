/*
 * phpfpm_memory.c: WorkerMemory. After a successful fetch, the workers the
 * status page lists are read from /proc (fpm_procmem: RSS and PSS, only
 * once each PID is verified as the pool's worker on this host) and handed
 * to the model, so the memory_* samples are dispatched with the others
 * (stock types memory and vs_processes). A pool whose workers cannot be
 * read says why in the log, once per change, and dispatches no memory
 * values (absent, never zero). PSS (WorkerPSS) costs a page-table walk
 * per worker, several times the fetch itself: it is a separate choice.
 * The pool's fpm_memcache keeps each worker's figures between reads, so a
 * read re-reads only the workers read longest ago (WorkerMemoryRefresh,
 * WorkerPSSRefresh) and every new one. A discovered pool in a container
 * lists its own PID namespace's PIDs: its master's host PID from discovery
 * lets fpm_procmem translate them.
 */
#include "phpfpm.h"

#define P PHPFPM_PLUGIN_NAME " plugin: "

void phpfpm_memory_read(struct phpfpm_pool *p, const struct fpm_status *st,
                        struct fpm_metrics *m) {
  if (p->memcache == NULL)
    p->memcache = fpm_memcache_new(); /* NULL: every worker, every read */
  struct fpm_procmem_opts o = {.pss = p->conf.worker_pss,
                               .cache = p->memcache,
                               .rss_every = p->conf.rss_every,
                               .pss_every = p->conf.pss_every,
                               .ns_master_pid = p->conf.ns_master_pid};
  enum fpm_procmem_state s = fpm_procmem_read(st, &o, &p->mem);
  m->procmem = &p->mem;
  if (s == p->mem_logged)
    return;
  enum fpm_procmem_state before = p->mem_logged;
  p->mem_logged = s;
  if (s == FPM_PROCMEM_LOCAL) {
    if (before != FPM_PROCMEM_UNREAD)
      INFO(P "pool \"%s\": worker memory read from /proc again", p->conf.name);
    else if (p->mem.pss_read && !p->mem.pss_known)
      INFO(P "pool \"%s\": worker memory: PSS unreadable (smaps_rollup "
             "needs root or the workers' user), RSS only",
           p->conf.name);
    return;
  }
  NOTICE(P "pool \"%s\": WorkerMemory: %s: %s; no memory values until that "
           "changes",
         p->conf.name,
         s == FPM_PROCMEM_NOT_LOCAL ? "not local" : "nothing to read",
         p->mem.reason);
}
