/*
 * test_fpm_procmem.c: worker memory from /proc (fpm_procmem.h) against a
 * fake proc tree written in a temporary directory: the summary arithmetic,
 * the parentage checks that keep a PID that is not the pool's worker out
 * (wrong parent, parent not a php-fpm master, another pool's title, a start
 * time that disagrees, PIDs that do not exist), the VmRSS fallback without
 * PSS, the memory_* samples the model emits from it, and the cache that
 * lets a polling reader re-read only some workers each time, and the
 * translation of a container's PIDs (another PID namespace) through the
 * master's children and their NSpid lines.
 */
#include "fpm_metrics_int.h"
#include "fpm_model.h"
#include "fpm_procmem.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define BOOT 1700000000
#define TCK 100
#define MIB (UINT64_C(1) << 20)

/* ------------------------------------------------------------ summary */

static void test_summary_empty_and_one(void **state) {
  (void)state;
  struct fpm_mem_summary s;
  fpm_mem_summarise(NULL, 0, &s);
  assert_int_equal(s.n, 0);
  assert_int_equal(s.total, 0);
  uint64_t v[1] = {42};
  fpm_mem_summarise(v, 1, &s);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.total, 42);
  assert_int_equal(s.p50, 42);
  assert_int_equal(s.p95, 42);
  assert_int_equal(s.max, 42);
}

/* Nearest rank: p50 of 20 values is the 10th smallest, p95 the 19th. */
static void test_summary_ranks(void **state) {
  (void)state;
  uint64_t v[20];
  for (int i = 0; i < 20; i++)
    v[i] = (uint64_t)(20 - i) * 10; /* 200, 190, ..., 10: unsorted */
  struct fpm_mem_summary s;
  fpm_mem_summarise(v, 20, &s);
  assert_int_equal(s.n, 20);
  assert_int_equal(s.total, 2100);
  assert_int_equal(s.p50, 100);
  assert_int_equal(s.p95, 190);
  assert_int_equal(s.max, 200);
  /* 3 values: p50 the 2nd, p95 the 3rd */
  uint64_t w[3] = {5, 1, 3};
  fpm_mem_summarise(w, 3, &s);
  assert_int_equal(s.p50, 3);
  assert_int_equal(s.p95, 5);
  assert_int_equal(s.total, 9);
}

static void test_summary_saturates(void **state) {
  (void)state;
  uint64_t v[3] = {UINT64_MAX - 1, 5, 7};
  struct fpm_mem_summary s;
  fpm_mem_summarise(v, 3, &s);
  assert_true(s.total == UINT64_MAX);
  assert_true(s.max == UINT64_MAX - 1);
}

/* ----------------------------------------------------------- fake /proc */

struct fake {
  char root[64];
  struct fpm_status st;
  struct fpm_worker w[8];
  int pss; /* read_fake asks for PSS */
};

static void put(const struct fake *f, const char *rel, const char *data,
                size_t len) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", f->root, rel);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  fclose(fp);
}

/* /proc/PID (already there: its files are rewritten by the caller). */
static void mkproc(const struct fake *f, long pid) {
  char path[256];
  snprintf(path, sizeof path, "%s/%ld", f->root, pid);
  assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void put_master(const struct fake *f, long pid, const char *title) {
  char rel[64], buf[256] = {0}; /* the padding NULs are written */
  mkproc(f, pid);
  snprintf(rel, sizeof rel, "%ld/cmdline", pid);
  size_t n = (size_t)snprintf(buf, sizeof buf, "%s", title);
  put(f, rel, buf, n + 3); /* php-fpm pads its title with NULs */
}

/* A worker process: parent, title, start (seconds after boot), RSS and PSS
 * in kB (pss < 0: no smaps_rollup, VmRSS only). */
static void put_worker(const struct fake *f, long pid, long ppid,
                       const char *title, long start_s, long rss_kb,
                       long pss_kb) {
  char rel[64], buf[1024] = {0}; /* the padding NULs are written */
  mkproc(f, pid);
  snprintf(rel, sizeof rel, "%ld/stat", pid);
  /* a command name with ") " in it: the fields start after the last ')' */
  int n = snprintf(buf, sizeof buf,
                   "%ld (php-fpm) x) S %ld %ld %ld 0 -1 4194624 100 0 0 0 "
                   "1 2 0 0 20 0 1 0 %ld 123456 %ld 18446744073709551615\n",
                   pid, ppid, ppid, ppid, start_s * TCK,
                   rss_kb * 1024 / sysconf(_SC_PAGESIZE));
  put(f, rel, buf, (size_t)n);
  snprintf(rel, sizeof rel, "%ld/cmdline", pid);
  n = snprintf(buf, sizeof buf, "%s", title);
  put(f, rel, buf, (size_t)n + 5);
  snprintf(rel, sizeof rel, "%ld/status", pid);
  n = snprintf(buf, sizeof buf,
               "Name:\tphp-fpm8.2\nPPid:\t%ld\nVmPeak:\t  999 kB\n"
               "VmRSS:\t    %ld kB\nThreads:\t1\n",
               ppid, rss_kb);
  put(f, rel, buf, (size_t)n);
  if (pss_kb >= 0) {
    snprintf(rel, sizeof rel, "%ld/smaps_rollup", pid);
    n = snprintf(buf, sizeof buf,
                 "55dc0eabe000-7ffd59767000 ---p 00000000 00:00 0   "
                 "[rollup]\nRss:    %ld kB\nPss:    %ld kB\nPss_Dirty:  1 kB\n"
                 "Shared_Clean:  3 kB\n",
                 rss_kb, pss_kb);
    put(f, rel, buf, (size_t)n);
  }
}

static void list_worker(struct fake *f, int64_t pid, long start_s,
                        uint64_t requests) {
  struct fpm_worker *w = &f->w[f->st.n_workers++];
  memset(w, 0, sizeof *w);
  w->present = 1u << FPM_W_PID | 1u << FPM_W_START_TIME | 1u << FPM_W_REQUESTS;
  w->pid = pid;
  w->start_time = (uint64_t)(BOOT + start_s);
  w->requests = requests;
}

static int setup(void **state) {
  struct fake *f = calloc(1, sizeof *f);
  assert_non_null(f);
  snprintf(f->root, sizeof f->root, "/tmp/fpmt-procmem.XXXXXX");
  assert_non_null(mkdtemp(f->root));
  fpm_status_init(&f->st);
  f->st.present = 1u << FPM_F_POOL;
  snprintf(f->st.pool, sizeof f->st.pool, "www");
  f->st.has_workers = 1;
  f->st.workers = f->w;
  f->pss = 1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fake *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static enum fpm_procmem_state read_fake(struct fake *f, struct fpm_procmem *m) {
  struct fpm_procmem_opts o = {
      .proc_root = f->root, .clk_tck = TCK, .boot_time_s = BOOT, .pss = f->pss};
  return fpm_procmem_read(&f->st, &o, m);
}

/* Three workers of master 100: figures in bytes, PSS known. */
static void three_workers(struct fake *f) {
  put_master(f, 100, "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)");
  put_worker(f, 101, 100, "php-fpm: pool www", 50, 10000, 4000);
  put_worker(f, 102, 100, "php-fpm: pool www", 50, 30000, 6000);
  put_worker(f, 103, 100, "php-fpm: pool www", 51, 20000, 5000);
  list_worker(f, 101, 50, 10);
  list_worker(f, 102, 50, 20);
  list_worker(f, 103, 51, 30);
}

static void test_local_pool(void **state) {
  struct fake *f = *state;
  three_workers(f);
  struct fpm_procmem m;
  assert_int_equal(read_fake(f, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.master_pid, 100);
  assert_int_equal(m.listed, 3);
  assert_int_equal(m.gone, 0);
  assert_int_equal(m.rss.n, 3);
  assert_int_equal(m.rss.total, 60000 * 1024);
  assert_int_equal(m.rss.p50, 20000 * 1024);
  assert_int_equal(m.rss.max, 30000 * 1024);
  assert_true(m.pss_known);
  assert_int_equal(m.pss.total, 15000 * 1024);
  assert_int_equal(m.pss.p95, 6000 * 1024);
  assert_int_equal(m.requests, 60);
}

/* Without smaps_rollup (another user's worker): RSS, PSS unknown. */
static void test_pss_unreadable(void **state) {
  struct fake *f = *state;
  put_master(f, 100, "php-fpm: master process (x)");
  put_worker(f, 101, 100, "php-fpm: pool www", 50, 10000, 4000);
  put_worker(f, 102, 100, "php-fpm: pool www", 50, 12000, -1);
  list_worker(f, 101, 50, 1);
  list_worker(f, 102, 50, 1);
  struct fpm_procmem m;
  assert_int_equal(read_fake(f, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss.total, 22000 * 1024);
  assert_true(m.pss_read);
  assert_false(m.pss_known);
}

/* PSS not asked for: RSS from stat alone, no smaps_rollup read. */
static void test_rss_only(void **state) {
  struct fake *f = *state;
  three_workers(f);
  f->pss = 0;
  struct fpm_procmem m;
  assert_int_equal(read_fake(f, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss.total, 60000 * 1024);
  assert_false(m.pss_read);
  assert_false(m.pss_known);
}

/* A worker that exited after the fetch is gone, not a failure. */
static void test_gone_worker(void **state) {
  struct fake *f = *state;
  three_workers(f);
  list_worker(f, 104, 50, 1); /* no /proc/104 */
  struct fpm_procmem m;
  assert_int_equal(read_fake(f, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.listed, 4);
  assert_int_equal(m.gone, 1);
  assert_int_equal(m.rss.n, 3);
}

static void expect_not_local(struct fake *f, const char *needle) {
  struct fpm_procmem m;
  assert_int_equal(read_fake(f, &m), FPM_PROCMEM_NOT_LOCAL);
  if (strstr(m.reason, needle) == NULL)
    fail_msg("reason \"%s\" lacks \"%s\"", m.reason, needle);
}

static void test_other_parent(void **state) {
  struct fake *f = *state;
  three_workers(f);
  put_master(f, 200, "php-fpm: master process (y)");
  put_worker(f, 201, 200, "php-fpm: pool www", 50, 1000, 100);
  list_worker(f, 201, 50, 1);
  expect_not_local(f, "pid 201 has parent 200");
}

static void test_parent_not_master(void **state) {
  struct fake *f = *state;
  put_master(f, 1, "/sbin/init");
  put_worker(f, 2, 1, "php-fpm: pool www", 50, 1000, 100);
  list_worker(f, 2, 50, 1);
  expect_not_local(f, "not a php-fpm master");
}

static void test_other_pool_title(void **state) {
  struct fake *f = *state;
  put_master(f, 100, "php-fpm: master process (x)");
  put_worker(f, 101, 100, "php-fpm: pool api", 50, 1000, 100);
  list_worker(f, 101, 50, 1);
  expect_not_local(f, "not a worker of pool \"www\"");
}

/* A reused PID: right parent and title, but it started much later. */
static void test_start_time_mismatch(void **state) {
  struct fake *f = *state;
  put_master(f, 100, "php-fpm: master process (x)");
  put_worker(f, 101, 100, "php-fpm: pool www", 500, 1000, 100);
  list_worker(f, 101, 50, 1);
  expect_not_local(f, "450 s apart");
}

/* Another PID namespace: none of the listed PIDs exists here. */
static void test_no_pid_exists(void **state) {
  struct fake *f = *state;
  list_worker(f, 7, 50, 1);
  list_worker(f, 8, 50, 1);
  expect_not_local(f, "none of the 2 listed PIDs exists here");
}

static void test_no_list(void **state) {
  struct fake *f = *state;
  struct fpm_procmem m;
  f->st.has_workers = 0;
  assert_int_equal(read_fake(f, &m), FPM_PROCMEM_UNAVAILABLE);
  assert_non_null(strstr(m.reason, "no worker list"));
  f->st.has_workers = 1; /* an empty list */
  assert_int_equal(read_fake(f, &m), FPM_PROCMEM_UNAVAILABLE);
  assert_non_null(strstr(m.reason, "lists no worker"));
}

static void test_meminfo(void **state) {
  struct fake *f = *state;
  static const char mi[] = "MemTotal:       32000000 kB\n"
                           "MemFree:         1000000 kB\n"
                           "MemAvailable:   20000000 kB\n"
                           "Buffers:           1000 kB\n";
  uint64_t v = 0;
  assert_int_equal(fpm_meminfo_available(f->root, &v), -1); /* no file */
  put(f, "meminfo", mi, sizeof mi - 1);
  assert_int_equal(fpm_meminfo_available(f->root, &v), 0);
  assert_true(v == UINT64_C(20000000) * 1024);
  static const char old[] = "MemTotal: 1 kB\nMemFree: 1 kB\n";
  put(f, "meminfo", old, sizeof old - 1);
  assert_int_equal(fpm_meminfo_available(f->root, &v), -1);
}

/* The memory_* samples: present only for a local read, pss_total only when
 * PSS is known. */
static void test_samples(void **state) {
  struct fake *f = *state;
  three_workers(f);
  struct fpm_procmem pm;
  assert_int_equal(read_fake(f, &pm), FPM_PROCMEM_LOCAL);
  struct fpm_metrics m;
  fpm_model_compute(&f->st, NULL, NULL, &m);
  double v = 0;
  assert_false(fpm_metrics_plain(&m, FPM_M_MEM_RSS_TOTAL, 1, &v));
  m.procmem = &pm;
  assert_true(fpm_metrics_plain(&m, FPM_M_MEM_WORKERS, 0, &v));
  assert_true(v == 3);
  assert_true(fpm_metrics_plain(&m, FPM_M_MEM_RSS_TOTAL, 0, &v));
  assert_true(v == 60000.0 * 1024);
  assert_true(fpm_metrics_plain(&m, FPM_M_MEM_RSS_P50, 0, &v));
  assert_true(v == 20000.0 * 1024);
  assert_true(fpm_metrics_plain(&m, FPM_M_MEM_RSS_MAX, 0, &v));
  assert_true(v == 30000.0 * 1024);
  assert_true(fpm_metrics_plain(&m, FPM_M_MEM_PSS_TOTAL, 0, &v));
  assert_true(v == 15000.0 * 1024);
  pm.pss_known = 0;
  assert_false(fpm_metrics_plain(&m, FPM_M_MEM_PSS_TOTAL, 0, &v));
  assert_true(fpm_metrics_plain(&m, FPM_M_MEM_RSS_TOTAL, 0, &v));
  pm.state = FPM_PROCMEM_NOT_LOCAL;
  for (int id = FPM_M_MEM_WORKERS; id <= FPM_M_MEM_PSS_TOTAL; id++)
    assert_false(fpm_metrics_plain(&m, (enum fpm_metric_id)id, 0, &v));
}

/* ---------------------------------------------------------------- cache */

/* Six workers of master 100, RSS 10000 + 1000 i kB, PSS 100 + i kB, plus
 * delta (kB) on both; listed once (list 0: only the files change). */
static void six_workers(struct fake *f, long delta, int list) {
  put_master(f, 100, "php-fpm: master process (x)");
  for (long i = 0; i < 6; i++) {
    put_worker(f, 101 + i, 100, "php-fpm: pool www", 50,
               10000 + 1000 * i + delta, 100 + i + delta);
    if (list)
      list_worker(f, 101 + i, 50, 1);
  }
}

static enum fpm_procmem_state read_cached(struct fake *f, fpm_memcache *c,
                                          unsigned rss_every,
                                          unsigned pss_every,
                                          struct fpm_procmem *m) {
  struct fpm_procmem_opts o = {.proc_root = f->root,
                               .clk_tck = TCK,
                               .boot_time_s = BOOT,
                               .pss = f->pss,
                               .cache = c,
                               .rss_every = rss_every,
                               .pss_every = pss_every};
  return fpm_procmem_read(&f->st, &o, m);
}

#define RSS0 ((uint64_t)(6 * 10000 + 15000) * 1024) /* six_workers, delta 0 */
#define PSS0 ((uint64_t)(6 * 100 + 15) * 1024)

/* The first read reads everyone; then each read re-reads the
 * ceil(6 / every) workers read longest ago, so that after `every` reads
 * every worker's figure is new again (PSS: exactly one more a read). */
static void test_cache_refreshes_oldest(void **state) {
  struct fake *f = *state;
  fpm_memcache *c = fpm_memcache_new();
  assert_non_null(c);
  struct fpm_procmem m;
  six_workers(f, 0, 1);
  assert_int_equal(read_cached(f, c, 3, 6, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss_reads, 6);
  assert_int_equal(m.pss_reads, 6);
  assert_true(m.rss.total == RSS0);
  assert_true(m.pss.total == PSS0);
  six_workers(f, 1000, 0); /* every worker grows by 1000 kB */
  for (int r = 1; r <= 6; r++) {
    assert_int_equal(read_cached(f, c, 3, 6, &m), FPM_PROCMEM_LOCAL);
    /* the 2 (ceil 6/3) RSS read longest ago, the 1 PSS read longest ago
     * (its stat too): 2 or 3 stat reads, 1 smaps_rollup */
    assert_in_range(m.rss_reads, 2, 3);
    assert_int_equal(m.pss_reads, 1);
    uint64_t fresh = (m.rss.total - RSS0) / (1000 * 1024);
    assert_true(m.rss.total == RSS0 + fresh * 1000 * 1024);
    assert_in_range(fresh, (uint64_t)(2 * r < 6 ? 2 * r : 6), 6);
    assert_true(m.pss.total == PSS0 + (uint64_t)r * 1000 * 1024);
    assert_true(m.pss_known);
    assert_int_equal(m.rss.n, 6);
  }
  fpm_memcache_free(c);
}

/* A new worker, and a PID that now belongs to a later process (its start
 * time changed), are read at once; a worker no longer listed is
 * forgotten. */
static void test_cache_new_workers_read_at_once(void **state) {
  struct fake *f = *state;
  fpm_memcache *c = fpm_memcache_new();
  struct fpm_procmem m;
  six_workers(f, 0, 1);
  assert_int_equal(read_cached(f, c, 100, 100, &m), FPM_PROCMEM_LOCAL);
  put_worker(f, 107, 100, "php-fpm: pool www", 60, 50000, 7000);
  list_worker(f, 107, 60, 1);
  assert_int_equal(read_cached(f, c, 100, 100, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss_reads, 2); /* the new one, and one known one */
  assert_int_equal(m.pss_reads, 2);
  assert_true(m.rss.max == 50000 * 1024);
  assert_true(m.pss.total == PSS0 + 7000 * 1024);
  /* pid 101 exits and is reused by a worker started at 70 s */
  put_worker(f, 101, 100, "php-fpm: pool www", 70, 80000, 9000);
  f->w[0].start_time = BOOT + 70;
  assert_int_equal(read_cached(f, c, 100, 100, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss_reads, 2);
  assert_true(m.rss.max == 80000 * 1024);
  /* 107 leaves the list; listed again later, it is new again */
  f->st.n_workers = 6;
  assert_int_equal(read_cached(f, c, 100, 100, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss.n, 6);
  assert_int_equal(m.rss_reads, 1);
  f->st.n_workers = 7;
  assert_int_equal(read_cached(f, c, 100, 100, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss_reads, 2);
  fpm_memcache_free(c);
}

/* A worker whose PSS could not be read is tried again at the next read
 * (while the others' can be read), not only when its turn comes. */
static void test_cache_retries_missing_pss(void **state) {
  struct fake *f = *state;
  fpm_memcache *c = fpm_memcache_new();
  struct fpm_procmem m;
  six_workers(f, 0, 1);
  char path[256];
  snprintf(path, sizeof path, "%s/103/smaps_rollup", f->root);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(read_cached(f, c, 100, 100, &m), FPM_PROCMEM_LOCAL);
  assert_false(m.pss_known);
  six_workers(f, 0, 0); /* smaps_rollup back */
  assert_int_equal(read_cached(f, c, 100, 100, &m), FPM_PROCMEM_LOCAL);
  assert_true(m.pss_known);
  assert_true(m.pss.total == PSS0);
  assert_int_equal(m.pss_reads, 2); /* its turn's one, and pid 103 */
  fpm_memcache_free(c);
}

/* A failed check empties the cache: the next read verifies and reads every
 * worker again. A master that restarted (no listed worker known) is
 * verified anew, not taken for a foreign parent. */
static void test_cache_starts_over(void **state) {
  struct fake *f = *state;
  fpm_memcache *c = fpm_memcache_new();
  struct fpm_procmem m;
  six_workers(f, 0, 1);
  assert_int_equal(read_cached(f, c, 6, 6, &m), FPM_PROCMEM_LOCAL);
  put_master(f, 200, "php-fpm: master process (y)");
  put_worker(f, 201, 200, "php-fpm: pool www", 50, 1000, 100);
  list_worker(f, 201, 50, 1);
  assert_int_equal(read_cached(f, c, 6, 6, &m), FPM_PROCMEM_NOT_LOCAL);
  assert_non_null(strstr(m.reason, "pid 201 has parent 200"));
  f->st.n_workers = 6;
  assert_int_equal(read_cached(f, c, 6, 6, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss_reads, 6);
  /* the master restarts: its workers are all new, under another parent */
  f->st.n_workers = 0;
  for (long i = 0; i < 3; i++) {
    put_worker(f, 301 + i, 200, "php-fpm: pool www", 80, 2000, 200);
    list_worker(f, 301 + i, 80, 1);
  }
  assert_int_equal(read_cached(f, c, 6, 6, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.master_pid, 200);
  assert_int_equal(m.rss_reads, 3);
  fpm_memcache_free(c);
}

/* ----------------------------------------------- another PID namespace */

/* A status file with the PPid and NSpid lines (nspid: "4101\t7"; NULL: a
 * kernel before 4.1, no such line). */
static void put_status(const struct fake *f, long pid, long ppid,
                       const char *nspid) {
  char rel[64], buf[512];
  snprintf(rel, sizeof rel, "%ld/status", pid);
  int n = snprintf(buf, sizeof buf,
                   "Name:\tphp-fpm8.2\nTgid:\t%ld\nPid:\t%ld\nPPid:\t%ld\n"
                   "%s%s%sVmRSS:\t    1 kB\nThreads:\t1\n",
                   pid, pid, ppid, nspid ? "NSpid:\t" : "", nspid ? nspid : "",
                   nspid ? "\n" : "");
  put(f, rel, buf, (size_t)n);
}

static void put_children(const struct fake *f, long master, const char *list) {
  char rel[64], path[256];
  snprintf(path, sizeof path, "%s/%ld/task", f->root, master);
  assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
  snprintf(path, sizeof path, "%s/%ld/task/%ld", f->root, master, master);
  assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
  snprintf(rel, sizeof rel, "%ld/task/%ld/children", master, master);
  put(f, rel, list, strlen(list));
}

/* A container's master, host pid 4100 (1 in its namespace), with workers
 * 4101..4103 (7, 8, 9 there) and a child that is not a worker (4104);
 * the status page lists 7, 8, 9. The host's own 7, 8 and 9 are something
 * else entirely. children 0: no children file (the kernel has none). */
static void container_pool(struct fake *f, int children) {
  put_master(f, 2, "kthreadd");
  put_master(f, 4100, "php-fpm: master process (/etc/php-fpm.conf)");
  put_status(f, 4100, 4000, "4100\t1");
  for (long i = 0; i < 3; i++) {
    char ns[32], host[8];
    put_worker(f, 4101 + i, 4100, "php-fpm: pool www", 50, 10000 * (i + 1),
               1000 * (i + 1));
    snprintf(ns, sizeof ns, "%ld\t%ld", 4101 + i, 7 + i);
    put_status(f, 4101 + i, 4100, ns);
    list_worker(f, 7 + i, 50, 1);
    put_worker(f, 7 + i, 2, "kthreadd-ish", 1, 4, 4); /* the host's 7..9 */
    snprintf(host, sizeof host, "%ld", 7 + i);
    put_status(f, 7 + i, 2, host);
  }
  put_worker(f, 4104, 4100, "sh", 60, 100, 100);
  put_status(f, 4104, 4100, "4104\t12");
  if (children)
    put_children(f, 4100, "4101 4102 4103 4104 ");
}

static enum fpm_procmem_state read_ns(struct fake *f, int64_t master,
                                      fpm_memcache *c, struct fpm_procmem *m) {
  struct fpm_procmem_opts o = {.proc_root = f->root,
                               .clk_tck = TCK,
                               .boot_time_s = BOOT,
                               .pss = f->pss,
                               .cache = c,
                               .ns_master_pid = master};
  return fpm_procmem_read(&f->st, &o, m);
}

/* Listed as 7, 8, 9, read as 4101..4103: the master's children are looked
 * up by their NSpid; without the master's PID they are the host's 7..9,
 * whose parent is no php-fpm master. */
static void test_ns_translates(void **state) {
  struct fake *f = *state;
  struct fpm_procmem m;
  container_pool(f, 1);
  assert_int_equal(read_ns(f, 4100, NULL, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.master_pid, 4100);
  assert_int_equal(m.rss.n, 3);
  assert_true(m.rss.total == (uint64_t)60000 * 1024);
  assert_true(m.pss.total == (uint64_t)6000 * 1024);
  assert_int_equal(m.gone, 0);
  assert_int_equal(m.ns_reads, 5); /* the master and its 4 children */
  assert_int_equal(read_ns(f, 0, NULL, &m), FPM_PROCMEM_NOT_LOCAL);
  assert_non_null(strstr(m.reason, "not a php-fpm master"));
}

/* No children file: the same answer from a scan of /proc for the master's
 * children (one status read per process). */
static void test_ns_scan_without_children_file(void **state) {
  struct fake *f = *state;
  struct fpm_procmem m;
  container_pool(f, 0);
  assert_int_equal(read_ns(f, 4100, NULL, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss.n, 3);
  assert_true(m.rss.total == (uint64_t)60000 * 1024);
  assert_true(m.ns_reads > 5);
}

/* A listed PID that is no child of the master exited: gone, not guessed;
 * none of them a child: not local. */
static void test_ns_gone_and_foreign(void **state) {
  struct fake *f = *state;
  struct fpm_procmem m;
  container_pool(f, 1);
  put_children(f, 4100, "4101 4103 4104\n");
  assert_int_equal(read_ns(f, 4100, NULL, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.gone, 1);
  assert_int_equal(m.rss.n, 2);
  put_children(f, 4100, "4104\n");
  assert_int_equal(read_ns(f, 4100, NULL, &m), FPM_PROCMEM_NOT_LOCAL);
  assert_non_null(strstr(m.reason, "none of the 3 listed PIDs is a worker "
                                   "of the pool's master (host pid 4100)"));
}

/* Translation impossible: said so, never guessed. */
static void test_ns_cannot_translate(void **state) {
  struct fake *f = *state;
  struct fpm_procmem m;
  container_pool(f, 1);
  assert_int_equal(read_ns(f, 4999, NULL, &m), FPM_PROCMEM_NOT_LOCAL);
  assert_non_null(
      strstr(m.reason, "cannot read the pool's master (host pid 4999)"));
  assert_non_null(strstr(m.reason, "exited"));
  put_status(f, 4100, 4000, NULL); /* a kernel before 4.1 */
  assert_int_equal(read_ns(f, 4100, NULL, &m), FPM_PROCMEM_NOT_LOCAL);
  assert_non_null(strstr(m.reason, "no usable NSpid line"));
}

/* A master in this /proc's PID namespace (one NSpid field, e.g. a container
 * sharing the host's PIDs) lists PIDs of this /proc; its workers' parent
 * must still be that master. */
static void test_ns_same_namespace(void **state) {
  struct fake *f = *state;
  struct fpm_procmem m;
  three_workers(f);
  put_status(f, 100, 1, "100");
  assert_int_equal(read_ns(f, 100, NULL, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.rss.n, 3);
  assert_int_equal(m.ns_reads, 1);
  put_master(f, 200, "php-fpm: master process (y)");
  put_status(f, 200, 1, "200");
  assert_int_equal(read_ns(f, 200, NULL, &m), FPM_PROCMEM_NOT_LOCAL);
  assert_non_null(strstr(m.reason, "pid 101 has parent 100, not the pool's "
                                   "master (host pid 200)"));
}

/* With a cache, only new workers are translated, and only the children
 * not known yet are looked up; a cache read for another master is not
 * used. */
static void test_ns_cache(void **state) {
  struct fake *f = *state;
  fpm_memcache *c = fpm_memcache_new();
  struct fpm_procmem m;
  container_pool(f, 1);
  assert_int_equal(read_ns(f, 4100, c, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.ns_reads, 5);
  assert_int_equal(read_ns(f, 4100, c, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.ns_reads, 0);
  assert_int_equal(m.rss_reads, 3);
  assert_true(m.rss.total == (uint64_t)60000 * 1024);
  /* a new worker: 10 in the namespace, 4105 here */
  put_worker(f, 4105, 4100, "php-fpm: pool www", 70, 40000, 4000);
  put_status(f, 4105, 4100, "4105\t10");
  put_children(f, 4100, "4101 4102 4103 4104 4105\n");
  list_worker(f, 10, 70, 1);
  assert_int_equal(read_ns(f, 4100, c, &m), FPM_PROCMEM_LOCAL);
  assert_int_equal(m.ns_reads, 3); /* the master, 4104 and 4105 */
  assert_int_equal(m.rss.n, 4);
  assert_true(m.rss.max == (uint64_t)40000 * 1024);
  /* read without the translation, 7..10 are the host's: the entries kept
   * for the container's master are not used */
  assert_int_equal(read_ns(f, 0, c, &m), FPM_PROCMEM_NOT_LOCAL);
  assert_non_null(strstr(m.reason, "is \"kthreadd\", not a php-fpm master"));
  fpm_memcache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_summary_empty_and_one),
      cmocka_unit_test(test_summary_ranks),
      cmocka_unit_test(test_summary_saturates),
      cmocka_unit_test_setup_teardown(test_local_pool, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pss_unreadable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rss_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gone_worker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_parent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parent_not_master, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_pool_title, setup, teardown),
      cmocka_unit_test_setup_teardown(test_start_time_mismatch, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_no_pid_exists, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_meminfo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_samples, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_refreshes_oldest, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_cache_new_workers_read_at_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_cache_retries_missing_pss, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_cache_starts_over, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ns_translates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ns_scan_without_children_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ns_gone_and_foreign, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ns_cannot_translate, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ns_same_namespace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ns_cache, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
