/*
 * fpm_procmem.c: worker memory from /proc (fpm_procmem.h has the contract).
 * Owns the parentage checks that decide whether a listed PID is the pool's
 * worker on this host, the reading of smaps_rollup / status, the summary of
 * the figures and MemAvailable.
 *
 * Every file is read with one open and a few reads into a stack buffer:
 * the files are small (smaps_rollup about 1 KiB) and this runs per worker
 * per scrape.
 */
#include "fpm_procmem.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROC_DEFAULT "/proc"
#define MASTER_PREFIX "php-fpm: master process"
#define WORKER_PREFIX "php-fpm: pool "
#define DEFAULT_TOLERANCE_S 3

/* ------------------------------------------------------------- summary */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The ceil(p/100 * n)-th smallest of n sorted values (1-based rank). */
static uint64_t rank_value(const uint64_t *sorted, size_t n, unsigned p) {
  size_t k = (size_t)(((uint64_t)n * p + 99) / 100);
  if (k < 1)
    k = 1;
  return sorted[k - 1];
}

void fpm_mem_summarise(uint64_t *values, size_t n,
                       struct fpm_mem_summary *out) {
  memset(out, 0, sizeof *out);
  if (n == 0)
    return;
  qsort(values, n, sizeof *values, cmp_u64);
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++)
    total = values[i] > UINT64_MAX - total ? UINT64_MAX : total + values[i];
  out->n = n;
  out->total = total;
  out->p50 = rank_value(values, n, 50);
  out->p95 = rank_value(values, n, 95);
  out->max = values[n - 1];
}

/* ---------------------------------------------------------- /proc files */

/* The file at root/pid/name (pid < 0: root/name) into buf (NUL-terminated,
 * at most cap - 1 bytes): its length, or -1 with errno set. */
static long read_proc(const char *root, int64_t pid, const char *name,
                      char *buf, size_t cap) {
  char path[512];
  int n = pid >= 0 ? snprintf(path, sizeof path, "%s/%" PRId64 "/%s", root, pid,
                              name)
                   : snprintf(path, sizeof path, "%s/%s", root, name);
  if (n < 0 || (size_t)n >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    if (r == 0)
      break;
    len += (size_t)r;
    /* a /proc file that fits is returned by one read (the kernel formats
     * it whole): a short read is its end, which saves a read per file */
    if (len + 1 < cap)
      break;
  }
  close(fd);
  buf[len] = '\0';
  return (long)len;
}

/* What follows "key" at the start of a line of buf, or NULL. */
static const char *after_key(const char *buf, const char *key) {
  size_t klen = strlen(key);
  for (const char *p = buf; p != NULL && *p != '\0';) {
    if (strncmp(p, key, klen) == 0)
      return p + klen;
    p = strchr(p, '\n');
    if (p != NULL)
      p++;
  }
  return NULL;
}

/* The number after "key" at the start of a line of buf (e.g. "Pss:" in
 * smaps_rollup, "MemAvailable:" in meminfo): 0 and *v set, or -1. */
static int line_number(const char *buf, const char *key, uint64_t *v) {
  const char *p = after_key(buf, key);
  if (p == NULL)
    return -1;
  char *end = NULL;
  errno = 0;
  unsigned long long x = strtoull(p, &end, 10);
  if (errno != 0 || end == p)
    return -1;
  *v = x;
  return 0;
}

/* The NSpid line of a /proc/PID/status: the process's PID in each PID
 * namespace from this /proc's down to its own. Returns how many (0: no
 * such line, a kernel before 4.1), the first in *outer, the last in
 * *inner. */
static int nspid_of(const char *status, int64_t *outer, int64_t *inner) {
  const char *p = after_key(status, "NSpid:");
  int n = 0;
  while (p != NULL) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (!isdigit((unsigned char)*p))
      break;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno != 0 || v > INT64_MAX)
      return 0;
    if (n++ == 0)
      *outer = (int64_t)v;
    *inner = (int64_t)v;
    p = end;
  }
  return n;
}

/* A "Key:   N kB" line in bytes. */
static int line_kb(const char *buf, const char *key, uint64_t *bytes) {
  uint64_t kb;
  if (line_number(buf, key, &kb) != 0 || kb > UINT64_MAX / 1024)
    return -1;
  *bytes = kb * 1024;
  return 0;
}

/* ppid, starttime (clock ticks after boot) and rss (pages) from
 * /proc/PID/stat: the fields after the last ')' (the command name may hold
 * anything). */
static int parse_stat(const char *buf, int64_t *ppid, uint64_t *start,
                      uint64_t *rss_pages) {
  const char *p = strrchr(buf, ')');
  if (p == NULL)
    return -1;
  p++;
  /* field 3 is the state; ppid is field 4, starttime 22, rss 24 */
  for (int field = 3; field <= 24; field++) {
    while (*p == ' ')
      p++;
    if (*p == '\0')
      return -1;
    if (field == 4 || field == 22 || field == 24) {
      char *end = NULL;
      errno = 0;
      unsigned long long v = strtoull(p, &end, 10);
      if (errno != 0 || end == p)
        return -1;
      if (field == 4)
        *ppid = (int64_t)v;
      else if (field == 22)
        *start = v;
      else
        *rss_pages = v;
      p = end;
    } else {
      while (*p != ' ' && *p != '\0')
        p++;
    }
  }
  return 0;
}

/* cmdline's first word (the process title php-fpm sets is one string) in
 * printable form for a message. */
static void title_of(const char *cmdline, char *out, size_t cap) {
  size_t i = 0;
  for (; cmdline[i] != '\0' && i + 1 < cap; i++) {
    unsigned char c = (unsigned char)cmdline[i];
    out[i] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
  }
  out[i] = '\0';
}

/* ------------------------------------------------------------- checks */

struct ctx {
  const char *root;
  long tck;
  int64_t boot_s;
  uint64_t tolerance_s;
  uint64_t page_size;
  int pss;           /* read smaps_rollup too */
  int title_checked; /* one worker's title was checked */
  int64_t ns_master; /* opts->ns_master_pid: the master's pid here, or 0 */
  const struct fpm_status *st;
  struct fpm_procmem *out;
};

__attribute__((format(printf, 3, 4))) static enum fpm_procmem_state
verdict(struct fpm_procmem *out, enum fpm_procmem_state s, const char *fmt,
        ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->reason, sizeof out->reason, fmt, ap);
  va_end(ap);
  out->state = s;
  return s;
}

/* "pid 7", or "pid 7 (host pid 4242)" for a listed PID of the master's
 * PID namespace read here as hpid. */
static const char *pid_label(char *buf, size_t cap, int64_t pid, int64_t hpid) {
  if (hpid == pid)
    snprintf(buf, cap, "pid %" PRId64, pid);
  else
    snprintf(buf, cap, "pid %" PRId64 " (host pid %" PRId64 ")", pid, hpid);
  return buf;
}

/* The parent every worker must share: a php-fpm master (the one the caller
 * named, when it named one). who is the worker's pid_label. */
static int check_master(struct ctx *c, const char *who, int64_t ppid) {
  char buf[512], title[96];
  if (c->ns_master > 0 && ppid != c->ns_master) {
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
            "%s has parent %" PRId64 ", not the pool's master (host pid "
            "%" PRId64 "): the master restarted, or the status page is "
            "another master's",
            who, ppid, c->ns_master);
    return -1;
  }
  if (read_proc(c->root, ppid, "cmdline", buf, sizeof buf) < 0) {
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
            "%s's parent %" PRId64
            " cannot be read (%s): the pool is not on this host, or in a "
            "PID namespace this process cannot see",
            who, ppid, strerror(errno));
    return -1;
  }
  if (strncmp(buf, MASTER_PREFIX, strlen(MASTER_PREFIX)) != 0) {
    title_of(buf, title, sizeof title);
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
            "%s's parent %" PRId64
            " is \"%s\", not a php-fpm master: the listed PIDs are not this "
            "host's workers (another host, or another PID namespace)",
            who, ppid, title);
    return -1;
  }
  c->out->master_pid = ppid;
  return 0;
}

/* "php-fpm: pool NAME" for the status page's pool (a process title may be
 * cut short, so a long name may match by its start). */
static int check_title(struct ctx *c, int64_t hpid, const char *who) {
  char buf[512], title[96];
  if (read_proc(c->root, hpid, "cmdline", buf, sizeof buf) < 0) {
    if (errno == ENOENT || errno == ESRCH)
      return 1; /* gone */
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL, "cannot read %s's cmdline: %s", who,
            strerror(errno));
    return -1;
  }
  size_t pl = strlen(WORKER_PREFIX);
  int ok = strncmp(buf, WORKER_PREFIX, pl) == 0;
  if (ok && fpm_status_has(c->st, FPM_F_POOL)) {
    const char *name = buf + pl, *want = c->st->pool;
    size_t n = strlen(name), w = strlen(want);
    ok = n == w
             ? strcmp(name, want) == 0
             : (n >= 15 && w >= 15 && strncmp(name, want, n < w ? n : w) == 0);
  }
  if (ok)
    return 0;
  title_of(buf, title, sizeof title);
  verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
          "%s is \"%s\", not a worker of pool \"%.64s\": a "
          "reused PID, or the pool is on another host or in another PID "
          "namespace",
          who, title, c->st->pool);
  return -1;
}

/* The kernel's start time of pid against the status page's. */
static int check_start(struct ctx *c, const struct fpm_worker *w,
                       const char *who, uint64_t ticks) {
  if (!((w->present >> FPM_W_START_TIME) & 1u) || c->boot_s <= 0)
    return 0;
  int64_t started = c->boot_s + (int64_t)(ticks / (uint64_t)c->tck);
  int64_t listed = (int64_t)w->start_time;
  int64_t diff = started > listed ? started - listed : listed - started;
  if ((uint64_t)diff <= c->tolerance_s)
    return 0;
  verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
          "%s started at %" PRId64 ", the status page says %" PRId64
          " (%" PRId64 " s apart): a reused PID, or another PID namespace's",
          who, started, listed, diff);
  return -1;
}

/* PSS of a verified worker (smaps_rollup walks its page tables: the
 * expensive read, hence optional). Unreadable (another user's worker
 * without CAP_SYS_PTRACE, a kernel before 4.14, gone meanwhile): *have_pss
 * stays 0. */
static void read_pss(struct ctx *c, int64_t pid, uint64_t *pss, int *have_pss) {
  char buf[4096];
  *have_pss = read_proc(c->root, pid, "smaps_rollup", buf, sizeof buf) >= 0 &&
              line_kb(buf, "Pss:", pss) == 0;
}

/* One listed worker, read here as hpid (its PID in this /proc: w->pid,
 * or the translation of it), and its PSS when want_pss: 0 read, 1 gone, -1
 * not local (reason set). */
static int one_worker(struct ctx *c, const struct fpm_worker *w, int64_t hpid,
                      int want_pss, uint64_t *rss, uint64_t *pss,
                      int *have_pss) {
  char buf[1024], who[64];
  pid_label(who, sizeof who, w->pid, hpid);
  if (read_proc(c->root, hpid, "stat", buf, sizeof buf) < 0) {
    if (errno == ENOENT || errno == ESRCH)
      return 1;
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL, "cannot read %s's stat: %s", who,
            strerror(errno));
    return -1;
  }
  int64_t ppid = 0;
  uint64_t ticks = 0, pages = 0;
  if (parse_stat(buf, &ppid, &ticks, &pages) != 0) {
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
            "%s's stat is not in the kernel's format", who);
    return -1;
  }
  if (c->out->master_pid == 0) {
    if (check_master(c, who, ppid) != 0)
      return -1;
  } else if (ppid != c->out->master_pid) {
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
            "%s has parent %" PRId64 ", the pool's other workers "
            "%" PRId64 ": not the workers of one master (a reused PID?)",
            who, ppid, c->out->master_pid);
    return -1;
  }
  /* the pool name, on one worker: its siblings share its parent, and a
   * reused PID is caught by its start time */
  if (!c->title_checked) {
    int t = check_title(c, hpid, who);
    if (t != 0)
      return t;
    c->title_checked = 1;
  }
  if (check_start(c, w, who, ticks) != 0)
    return -1;
  if (pages == 0)
    return 1; /* a zombie: it is exiting */
  *rss = pages > UINT64_MAX / c->page_size ? UINT64_MAX : pages * c->page_size;
  *have_pss = 0;
  if (want_pss)
    read_pss(c, hpid, pss, have_pss);
  return 0;
}

/* The boot time in wall-clock seconds, as the kernel computes /proc/stat's
 * btime (now minus the time since boot), without reading /proc/stat (its
 * interrupt lines run to many KiB on large hosts). */
static int64_t boot_time(void) {
  struct timespec real, boot;
  if (clock_gettime(CLOCK_REALTIME, &real) != 0 ||
      clock_gettime(CLOCK_BOOTTIME, &boot) != 0)
    return 0;
  int64_t ns = ((int64_t)real.tv_sec - (int64_t)boot.tv_sec) * 1000000000 +
               ((int64_t)real.tv_nsec - (int64_t)boot.tv_nsec);
  return (ns + 500000000) / 1000000000;
}

static void setup(struct ctx *c, const struct fpm_status *st,
                  const struct fpm_procmem_opts *o, struct fpm_procmem *out) {
  memset(c, 0, sizeof *c);
  c->st = st;
  c->out = out;
  c->root = o != NULL && o->proc_root != NULL ? o->proc_root : PROC_DEFAULT;
  c->tck = o != NULL && o->clk_tck > 0 ? o->clk_tck : sysconf(_SC_CLK_TCK);
  if (c->tck <= 0)
    c->tck = 100;
  c->boot_s = o != NULL && o->boot_time_s > 0 ? o->boot_time_s : boot_time();
  c->tolerance_s = o != NULL && o->start_tolerance_s > 0 ? o->start_tolerance_s
                                                         : DEFAULT_TOLERANCE_S;
  long ps = sysconf(_SC_PAGESIZE);
  c->page_size = ps > 0 ? (uint64_t)ps : 4096;
  c->pss = o != NULL && o->pss;
  c->ns_master = o != NULL && o->ns_master_pid > 0 ? o->ns_master_pid : 0;
  out->pss_read = c->pss;
}

/* ---------------------------------------------------------------- cache */

struct mc_entry {
  int64_t pid;
  int64_t hpid;        /* its PID in this /proc (pid, or translated) */
  uint64_t start_time; /* the status page's, 0 when it printed none */
  uint64_t rss, pss;
  int has_pss;
  uint64_t rss_seq, pss_seq; /* the read (fpm_memcache.seq) that read them */
};

struct fpm_memcache {
  struct mc_entry *e; /* sorted by pid */
  size_t n;
  uint64_t seq;       /* reads so far */
  int64_t master_pid; /* the entries' verified master */
  int64_t ns_master;  /* the opts->ns_master_pid they were read with */
  int title_checked;  /* the pool name was checked on one of them */
};

fpm_memcache *fpm_memcache_new(void) {
  return calloc(1, sizeof(fpm_memcache));
}

void fpm_memcache_free(fpm_memcache *c) {
  if (c == NULL)
    return;
  free(c->e);
  free(c);
}

static void cache_clear(fpm_memcache *c) {
  free(c->e);
  c->e = NULL;
  c->n = 0;
  c->master_pid = 0;
  c->ns_master = 0;
  c->title_checked = 0;
}

static uint64_t listed_start(const struct fpm_worker *w) {
  return (w->present >> FPM_W_START_TIME) & 1u ? w->start_time : 0;
}

static int by_pid(const void *a, const void *b) {
  const struct mc_entry *x = a, *y = b;
  return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* The cached entry of the listed worker w: same PID, same start time. */
static const struct mc_entry *cache_find(const fpm_memcache *c,
                                         const struct fpm_worker *w) {
  if (c == NULL || c->n == 0)
    return NULL;
  struct mc_entry key = {.pid = w->pid};
  const struct mc_entry *e = bsearch(&key, c->e, c->n, sizeof *c->e, by_pid);
  return e != NULL && e->start_time == listed_start(w) ? e : NULL;
}

/* --------------------------------------------------------------- reading */

/* A listed worker, its cached figures (NULL: new) and what to read now. */
struct slot {
  const struct fpm_worker *w;
  const struct mc_entry *old;
  int64_t hpid; /* where to read it in this /proc; 0: not there (gone) */
  int rss_due, pss_due;
  int kept;            /* read, or taken from the cache (not gone) */
  struct mc_entry now; /* the figures used this time */
};

/* Read longest ago first; equal ages by PID, so the choice is the same
 * from run to run. */
static int older(uint64_t seq_a, uint64_t seq_b, const struct slot *x,
                 const struct slot *y) {
  if (seq_a != seq_b)
    return seq_a < seq_b ? -1 : 1;
  return x->w->pid < y->w->pid ? -1 : x->w->pid > y->w->pid;
}

static int by_rss_seq(const void *a, const void *b) {
  const struct slot *x = *(struct slot *const *)a,
                    *y = *(struct slot *const *)b;
  return older(x->old->rss_seq, y->old->rss_seq, x, y);
}

static int by_pss_seq(const void *a, const void *b) {
  const struct slot *x = *(struct slot *const *)a,
                    *y = *(struct slot *const *)b;
  return older(x->old->pss_seq, y->old->pss_seq, x, y);
}

/* Mark the ceil(n / every) known slots read longest ago as due (every 0 or
 * 1: all of them). known[] holds the n known slots; it is reordered. */
static void mark_due(struct slot **known, size_t n, unsigned every, int pss) {
  size_t k = every <= 1 ? n : (n + every - 1) / every;
  if (k < n)
    qsort(known, n, sizeof *known, pss ? by_pss_seq : by_rss_seq);
  for (size_t i = 0; i < k && i < n; i++) {
    if (pss)
      known[i]->pss_due = 1;
    else
      known[i]->rss_due = 1;
  }
}

/* Which listed workers are new, and which known ones are read again. */
static void plan(struct ctx *c, struct slot *slots, size_t n, struct slot **tmp,
                 unsigned rss_every, unsigned pss_every) {
  size_t known = 0;
  int pss_readable = 0;
  for (size_t i = 0; i < n; i++)
    if (slots[i].old != NULL) {
      tmp[known++] = &slots[i];
      pss_readable |= slots[i].old->has_pss;
    }
  mark_due(tmp, known, rss_every, 0);
  if (c->pss)
    mark_due(tmp, known, pss_every, 1);
  for (size_t i = 0; i < n; i++) {
    struct slot *s = &slots[i];
    /* a known worker whose PSS could not be read (it raced its own exit,
     * say) is tried again at once while others' PSS reads work, so one
     * miss does not hide pss_total for pss_every reads */
    if (s->old == NULL || (pss_readable && !s->old->has_pss))
      s->pss_due = 1;
    if (s->old == NULL)
      s->rss_due = 1;
    s->pss_due &= c->pss;
    /* a PSS read re-reads the stat too (the checks, and RSS of the same
     * moment): at most ceil(known / rss_every) + ceil(known / pss_every)
     * stat reads, and every age bound holds */
    s->rss_due |= s->pss_due;
  }
}

/* The figures of this read's kept slots become the cache (sorted by pid).
 * Out of memory: the cache is emptied, and the next read reads them all. */
static void cache_keep(fpm_memcache *cache, const struct slot *slots,
                       size_t listed, size_t n, uint64_t seq,
                       const struct ctx *c) {
  struct mc_entry *e = malloc(n * sizeof *e);
  if (e == NULL) {
    cache_clear(cache);
    return;
  }
  size_t k = 0;
  for (size_t i = 0; i < listed; i++)
    if (slots[i].kept)
      e[k++] = slots[i].now;
  qsort(e, n, sizeof *e, by_pid);
  free(cache->e);
  cache->e = e;
  cache->n = n;
  cache->seq = seq;
  cache->master_pid = c->out->master_pid;
  cache->ns_master = c->ns_master;
  cache->title_checked = c->title_checked;
}

/* ------------------------------------------- PID namespace translation */

/* A listed PID (of the master's PID namespace) and its PID here. */
struct nsmap {
  int64_t ns, host;
};

static int by_ns(const void *a, const void *b) {
  const struct nsmap *x = a, *y = b;
  return x->ns < y->ns ? -1 : x->ns > y->ns;
}

static int by_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

struct children {
  struct nsmap *v;
  size_t n, cap;
  const int64_t *known; /* PIDs here already mapped (sorted): skipped */
  size_t n_known;
  int levels; /* the master's NSpid fields: its children have as many */
};

/* hpid, when it is a child of the master, joins the map with its PID in
 * the master's namespace (the last NSpid field). 0, or -1 out of memory. */
static int add_child(struct ctx *c, struct children *ch, int64_t hpid) {
  if (ch->n_known > 0 &&
      bsearch(&hpid, ch->known, ch->n_known, sizeof hpid, by_i64) != NULL)
    return 0;
  char buf[4096];
  int64_t outer = 0, inner = 0;
  uint64_t ppid = 0;
  c->out->ns_reads++;
  if (read_proc(c->root, hpid, "status", buf, sizeof buf) < 0 ||
      line_number(buf, "PPid:", &ppid) != 0 || ppid != (uint64_t)c->ns_master ||
      nspid_of(buf, &outer, &inner) != ch->levels || outer != hpid)
    return 0; /* gone meanwhile, or not the master's child */
  if (ch->n == ch->cap) {
    size_t cap = ch->cap ? ch->cap * 2 : 64;
    struct nsmap *v = realloc(ch->v, cap * sizeof *v);
    if (v == NULL)
      return -1;
    ch->v = v;
    ch->cap = cap;
  }
  ch->v[ch->n++] = (struct nsmap){inner, hpid};
  return 0;
}

/* The master's children from /proc/M/task/M/children (a php-fpm master has
 * one thread). The file may be long: read whole into a growing buffer.
 * 0, 1 when the kernel has no such file (CONFIG_PROC_CHILDREN off), -1
 * (reason set). */
static int children_file(struct ctx *c, struct children *ch) {
  char name[64];
  snprintf(name, sizeof name, "task/%" PRId64 "/children", c->ns_master);
  char *buf = NULL;
  for (size_t cap = 4096;; cap *= 2) {
    char *nb = realloc(buf, cap);
    if (nb == NULL) {
      free(buf);
      verdict(c->out, FPM_PROCMEM_UNAVAILABLE,
              "out of memory for the children of the pool's master");
      return -1;
    }
    buf = nb;
    long len = read_proc(c->root, c->ns_master, name, buf, cap);
    if (len < 0) {
      int e = errno;
      free(buf);
      if (e == ENOENT)
        return 1;
      verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
              "cannot read the children of the pool's master (host pid "
              "%" PRId64 "): %s",
              c->ns_master, strerror(e));
      return -1;
    }
    if ((size_t)len + 1 < cap)
      break; /* the whole file */
  }
  int rc = 0;
  for (char *p = buf, *end; rc == 0 && *p != '\0'; p = end) {
    long long v = strtoll(p, &end, 10);
    if (end == p)
      break;
    if (v > 0 && add_child(c, ch, v) != 0)
      rc = -1;
  }
  free(buf);
  if (rc != 0)
    verdict(c->out, FPM_PROCMEM_UNAVAILABLE,
            "out of memory for the children of the pool's master");
  return rc;
}

/* Without the children file: every process of this /proc whose parent is
 * the master (one status read per process on the host). 0, or -1. */
static int children_scan(struct ctx *c, struct children *ch) {
  DIR *d = opendir(c->root);
  if (d == NULL) {
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL, "cannot list %s: %s", c->root,
            strerror(errno));
    return -1;
  }
  int rc = 0;
  for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
    if (!isdigit((unsigned char)e->d_name[0]))
      continue;
    char *end = NULL;
    long long v = strtoll(e->d_name, &end, 10);
    if (*end == '\0' && v > 0 && add_child(c, ch, v) != 0)
      rc = -1;
  }
  closedir(d);
  if (rc != 0)
    verdict(c->out, FPM_PROCMEM_UNAVAILABLE,
            "out of memory for the children of the pool's master");
  return rc;
}

/* Where each listed worker is in this /proc, for a master named by
 * opts->ns_master_pid. Known workers keep the cache's PID. For new ones:
 * a master in this /proc's PID namespace (one NSpid field) lists PIDs of
 * this /proc; else each of its children (but the known ones) is looked up
 * by NSpid, whose last field is its PID in the master's namespace, the one
 * the status page lists. A listed PID that is no child of the master keeps
 * hpid 0 (gone). 0, or -1 (reason set): never a guess. */
static int translate(struct ctx *c, struct slot *slots, size_t n) {
  size_t fresh = 0, n_known = 0;
  for (size_t i = 0; i < n; i++)
    fresh += slots[i].old == NULL;
  if (fresh == 0)
    return 0;
  char buf[4096];
  int64_t outer = 0, inner = 0;
  c->out->ns_reads++;
  if (read_proc(c->root, c->ns_master, "status", buf, sizeof buf) < 0) {
    int e = errno;
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
            "cannot read the pool's master (host pid %" PRId64 "): %s: %s",
            c->ns_master, strerror(e),
            e == ENOENT ? "it exited (restarted?), or /proc hides it from "
                          "this user (hidepid: run as root)"
                        : "run as root");
    return -1;
  }
  int levels = nspid_of(buf, &outer, &inner);
  if (levels == 0 || outer != c->ns_master) {
    verdict(c->out, FPM_PROCMEM_NOT_LOCAL,
            "%s/%" PRId64 "/status has no usable NSpid line (Linux 4.1 or "
            "later shows it): the status page's PIDs, of the master's PID "
            "namespace, cannot be translated to this host's",
            c->root, c->ns_master);
    return -1;
  }
  if (levels == 1)
    return 0; /* the master shares this /proc's PID namespace: hpid = pid */
  int64_t *known = malloc(n * sizeof *known);
  if (known == NULL) {
    verdict(c->out, FPM_PROCMEM_UNAVAILABLE,
            "out of memory for the children of the pool's master");
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    if (slots[i].old != NULL)
      known[n_known++] = slots[i].hpid;
  qsort(known, n_known, sizeof *known, by_i64);
  struct children ch = {.known = known, .n_known = n_known, .levels = levels};
  int r = children_file(c, &ch);
  if (r > 0)
    r = children_scan(c, &ch);
  if (r == 0) {
    qsort(ch.v, ch.n, sizeof *ch.v, by_ns);
    for (size_t i = 0; i < n; i++) {
      struct nsmap key = {slots[i].w->pid, 0};
      if (slots[i].old != NULL)
        continue;
      const struct nsmap *m =
          ch.n > 0 ? bsearch(&key, ch.v, ch.n, sizeof key, by_ns) : NULL;
      slots[i].hpid = m != NULL ? m->host : 0;
    }
  }
  free(ch.v);
  free(known);
  return r;
}

/* Every listed worker: verified and read (or taken from the cache), or the
 * first failed check. */
static enum fpm_procmem_state read_all(struct ctx *c, fpm_memcache *cache,
                                       const struct fpm_procmem_opts *o,
                                       struct slot *slots, struct slot **tmp,
                                       uint64_t *values) {
  const struct fpm_status *st = c->st;
  struct fpm_procmem *out = c->out;
  size_t listed = 0, matched = 0;
  /* entries read for another master are not this one's workers */
  const fpm_memcache *known =
      cache != NULL && cache->ns_master == c->ns_master ? cache : NULL;
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    if (!((w->present >> FPM_W_PID) & 1u) || w->pid <= 0)
      continue;
    const struct mc_entry *old = cache_find(known, w);
    slots[listed] = (struct slot){
        .w = w, .old = old, .hpid = old != NULL ? old->hpid : w->pid};
    matched += old != NULL;
    listed++;
  }
  out->listed = listed;
  if (listed == 0)
    return verdict(out, FPM_PROCMEM_UNAVAILABLE,
                   "the status page lists no worker");
  if (c->ns_master > 0 && translate(c, slots, listed) != 0)
    return out->state;
  if (matched > 0) {
    /* known workers: their master and pool name were verified */
    out->master_pid = cache->master_pid;
    c->title_checked = cache->title_checked;
  }
  uint64_t seq = cache != NULL ? cache->seq + 1 : 1;
  plan(c, slots, listed, tmp, o != NULL ? o->rss_every : 0,
       o != NULL ? o->pss_every : 0);
  size_t n = 0;
  int all_pss = 1;
  for (size_t i = 0; i < listed; i++) {
    struct slot *s = &slots[i];
    struct mc_entry *fig = &s->now;
    if (s->old != NULL)
      *fig = *s->old;
    fig->pid = s->w->pid;
    fig->hpid = s->hpid;
    fig->start_time = listed_start(s->w);
    if (s->hpid <= 0) { /* not among the master's children: exited */
      out->gone++;
      continue;
    }
    if (s->rss_due) {
      int have_pss = 0;
      uint64_t pss = 0;
      int r =
          one_worker(c, s->w, s->hpid, s->pss_due, &fig->rss, &pss, &have_pss);
      if (r < 0)
        return out->state;
      if (r > 0) {
        out->gone++;
        continue;
      }
      out->rss_reads++;
      fig->rss_seq = seq;
      if (s->pss_due) {
        out->pss_reads++;
        fig->pss = pss;
        fig->has_pss = have_pss;
        fig->pss_seq = seq;
      }
    }
    s->kept = 1;
    all_pss &= fig->has_pss;
    if ((s->w->present >> FPM_W_REQUESTS) & 1u)
      out->requests += s->w->requests;
    values[n++] = fig->rss;
  }
  if (n == 0 && c->ns_master > 0)
    return verdict(out, FPM_PROCMEM_NOT_LOCAL,
                   "none of the %" PRIu64 " listed PIDs is a worker of the "
                   "pool's master (host pid %" PRId64 "): the status page is "
                   "another master's",
                   out->listed, c->ns_master);
  if (n == 0)
    return verdict(out, FPM_PROCMEM_NOT_LOCAL,
                   "none of the %" PRIu64 " listed PIDs exists here: the pool "
                   "is on another host or in another PID namespace",
                   out->listed);
  fpm_mem_summarise(values, n, &out->rss);
  out->pss_known = all_pss && c->pss;
  if (out->pss_known) {
    size_t k = 0;
    for (size_t i = 0; i < listed; i++)
      if (slots[i].kept)
        values[k++] = slots[i].now.pss;
    fpm_mem_summarise(values, n, &out->pss);
  }
  out->state = FPM_PROCMEM_LOCAL;
  if (cache != NULL)
    cache_keep(cache, slots, listed, n, seq, c);
  return out->state;
}

enum fpm_procmem_state fpm_procmem_read(const struct fpm_status *st,
                                        const struct fpm_procmem_opts *o,
                                        struct fpm_procmem *out) {
  memset(out, 0, sizeof *out);
  fpm_memcache *cache = o != NULL ? o->cache : NULL;
  enum fpm_procmem_state s;
  if (!st->has_workers) {
    s = verdict(out, FPM_PROCMEM_UNAVAILABLE,
                "no worker list (the status page was read without "
                "\"full\"), so no PID to read");
  } else {
    struct ctx c;
    setup(&c, st, o, out);
    size_t n = st->n_workers > 0 ? st->n_workers : 1;
    struct slot *slots = malloc(n * sizeof *slots);
    struct slot **tmp = malloc(n * sizeof *tmp);
    uint64_t *values = malloc(n * sizeof *values);
    if (slots == NULL || tmp == NULL || values == NULL)
      s = verdict(out, FPM_PROCMEM_UNAVAILABLE,
                  "out of memory for %zu workers' figures", n);
    else
      s = read_all(&c, cache, o, slots, tmp, values);
    free(slots);
    free(tmp);
    free(values);
  }
  if (s != FPM_PROCMEM_LOCAL && cache != NULL)
    cache_clear(cache);
  return s;
}

int fpm_meminfo_available(const char *proc_root, uint64_t *bytes) {
  char buf[8192];
  if (read_proc(proc_root != NULL ? proc_root : PROC_DEFAULT, -1, "meminfo",
                buf, sizeof buf) < 0)
    return -1;
  return line_kb(buf, "MemAvailable:", bytes);
}
