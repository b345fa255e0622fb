/*
 * bench_procmem.c TARGET [ROUNDS]: what reading the workers' memory costs
 * next to the status fetch it follows, in the same run: ROUNDS times (a)
 * one full status fetch of TARGET (connect, request, the worker list,
 * parse), (b) fpm_procmem_read over the workers that fetch listed, RSS
 * only (one stat per worker, two cmdlines) and (c) the same with PSS
 * (plus one smaps_rollup per worker). Prints the median and p90 of each
 * in microseconds, and their ratios to the fetch. Then what the collectd
 * plugin pays per read in steady state: the same reads through a cache
 * (fpm_memcache) with the plugin's default refresh (WorkerMemoryRefresh 5,
 * WorkerPSSRefresh 50), after the first read that reads every worker.
 * Run by bench_procmem.sh against a 50-worker static pool.
 */
#include "fpm_fetch.h"
#include "fpm_procmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, int n, int p) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  int k = (n * p + 99) / 100;
  return v[k > 0 ? k - 1 : 0];
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_procmem TARGET [ROUNDS]\n");
    return 2;
  }
  int rounds = argc > 2 ? atoi(argv[2]) : 200;
  if (rounds < 1)
    rounds = 1;
  struct fpm_target t = {.endpoint = argv[1]};
  char err[512];
  fpm_fetcher *f = fpm_fetcher_new(&t, err, sizeof err);
  if (f == NULL) {
    fprintf(stderr, "bench_procmem: %s\n", err);
    return 1;
  }
  double *fetch = calloc((size_t)rounds, sizeof *fetch);
  double *mem = calloc((size_t)rounds, sizeof *mem);
  double *pss = calloc((size_t)rounds, sizeof *pss);
  double *c_rss = calloc((size_t)rounds, sizeof *c_rss);
  double *c_pss = calloc((size_t)rounds, sizeof *c_pss);
  fpm_memcache *cache_rss = fpm_memcache_new();
  fpm_memcache *cache_pss = fpm_memcache_new();
  if (fetch == NULL || mem == NULL || pss == NULL || c_rss == NULL ||
      c_pss == NULL || cache_rss == NULL || cache_pss == NULL)
    return 1;
  uint64_t stat_reads = 0, smaps_reads = 0;
  uint64_t workers = 0, pss_known = 1;
  for (int i = 0; i < rounds; i++) {
    struct fpm_result r;
    fpm_result_init(&r);
    double t0 = now_us();
    fpm_err e = fpm_fetch(f, FPM_FETCH_STATUS, fcgi_now_ms() + 5000, NULL, &r);
    double t1 = now_us();
    if (e != FPM_OK) {
      fprintf(stderr, "bench_procmem: %s\n", r.message);
      return 1;
    }
    struct fpm_procmem pm;
    struct fpm_procmem_opts with_pss = {.pss = 1};
    double t2 = now_us();
    enum fpm_procmem_state s = fpm_procmem_read(&r.status, NULL, &pm);
    double t3 = now_us();
    if (s == FPM_PROCMEM_LOCAL)
      s = fpm_procmem_read(&r.status, &with_pss, &pm);
    double t4 = now_us();
    if (s != FPM_PROCMEM_LOCAL) {
      fprintf(stderr, "bench_procmem: memory not read: %s\n", pm.reason);
      return 1;
    }
    workers = pm.rss.n;
    pss_known &= (uint64_t)pm.pss_known;
    /* the plugin's way: a cache per pool, the default refresh */
    struct fpm_procmem_opts cached = {.cache = cache_rss,
                                      .rss_every = FPM_MEMCACHE_RSS_EVERY,
                                      .pss_every = FPM_MEMCACHE_PSS_EVERY};
    if (i == 0) /* the first read reads every worker: not steady state */
      fpm_procmem_read(&r.status, &cached, &pm);
    double t5 = now_us();
    s = fpm_procmem_read(&r.status, &cached, &pm);
    double t6 = now_us();
    cached.cache = cache_pss;
    cached.pss = 1;
    if (i == 0)
      fpm_procmem_read(&r.status, &cached, &pm);
    double t7 = now_us();
    if (s == FPM_PROCMEM_LOCAL)
      s = fpm_procmem_read(&r.status, &cached, &pm);
    double t8 = now_us();
    if (s != FPM_PROCMEM_LOCAL || !pm.pss_known) {
      fprintf(stderr, "bench_procmem: cached read failed: %s\n", pm.reason);
      return 1;
    }
    stat_reads += pm.rss_reads;
    smaps_reads += pm.pss_reads;
    fetch[i] = t1 - t0;
    mem[i] = t3 - t2;
    pss[i] = t4 - t3;
    c_rss[i] = t6 - t5;
    c_pss[i] = t8 - t7;
    fpm_result_clear(&r);
  }
  double f50 = pct(fetch, rounds, 50), f90 = pct(fetch, rounds, 90);
  double m50 = pct(mem, rounds, 50), m90 = pct(mem, rounds, 90);
  double p50 = pct(pss, rounds, 50), p90 = pct(pss, rounds, 90);
  printf("workers %llu (PSS %s), %d rounds\n", (unsigned long long)workers,
         pss_known ? "read" : "not readable", rounds);
  printf("status fetch (full list): median %.0f us, p90 %.0f us\n", f50, f90);
  printf("worker RSS from /proc:    median %.0f us, p90 %.0f us\n", m50, m90);
  printf("worker RSS + PSS:         median %.0f us, p90 %.0f us\n", p50, p90);
  printf("RSS / fetch: %.2f, RSS+PSS / fetch: %.2f (medians)\n", m50 / f50,
         p50 / f50);
  double cr50 = pct(c_rss, rounds, 50), cr90 = pct(c_rss, rounds, 90);
  double cp50 = pct(c_pss, rounds, 50), cp90 = pct(c_pss, rounds, 90);
  printf("steady state with the plugin's cache (each worker's RSS re-read "
         "every %d reads, PSS every %d):\n",
         FPM_MEMCACHE_RSS_EVERY, FPM_MEMCACHE_PSS_EVERY);
  printf("  RSS per read:           median %.0f us, p90 %.0f us\n", cr50, cr90);
  printf("  RSS + PSS per read:     median %.0f us, p90 %.0f us (%.1f stat, "
         "%.1f smaps_rollup reads a read)\n",
         cp50, cp90, (double)stat_reads / rounds, (double)smaps_reads / rounds);
  printf("cached RSS / fetch: %.2f, cached RSS+PSS / fetch: %.2f (medians)\n",
         cr50 / f50, cp50 / f50);
  free(fetch);
  free(mem);
  free(pss);
  free(c_rss);
  free(c_pss);
  fpm_memcache_free(cache_rss);
  fpm_memcache_free(cache_pss);
  fpm_fetcher_free(f);
  return 0;
}
