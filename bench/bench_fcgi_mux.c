/*
 * bench_fcgi_mux.c: what multiplexing and connection reuse buy, in one run
 * (a benchmark program, not a test; prints a table).
 *
 *  1. Net::Async::FastCGI (tests/servers/naf_server.pl, started here):
 *     rounds of 64 concurrent requests over ONE multiplexed connection,
 *     over 64 kept connections, and over 64 new connections per round.
 *  2. php-fpm, when FPMT_WWW_SOCK and FPMT_DOCROOT are set (run it through
 *     bench/bench_fcgi_mux.sh, which starts a private php-fpm): sequential
 *     requests on one reused connection against a new connection each.
 *
 * Client CPU per request is user+system time from getrusage(RUSAGE_SELF).
 * Usage: bench_fcgi_mux [ROUNDS] (default 40 rounds of 64).
 */
#include "fcgi.h"

#include "../tests/servers/perl_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define CONC 64

struct result {
  const char *name;
  int ok, failed;
  double wall_s, cpu_s;
  unsigned long long opened;
};

static double cpu_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void print_row(const struct result *r, double base_rps) {
  double rps = r->ok / r->wall_s;
  printf("%-44s %7d %4d %9.0f %7.1f%% %8.1f %8llu\n", r->name, r->ok, r->failed,
         rps, base_rps > 0 ? 100.0 * rps / base_rps : 100.0,
         1e6 * r->cpu_s / (r->ok ? r->ok : 1), r->opened);
}

/* rounds x conc requests of rq, conc at once per round. */
static struct result run(const char *name, fcgi_client *cl,
                         const fcgi_endpoint *ep, const fcgi_request *rq,
                         int rounds, int conc, int keep, int mux) {
  struct result res = {name, 0, 0, 0, 0, 0};
  struct fcgi_response *resp = calloc((size_t)conc, sizeof *resp);
  struct fcgi_client_stats st0, st1;
  fcgi_client_stats(cl, ep, &st0);
  double c0 = cpu_now();
  int64_t t0 = fcgi_now_ms();
  fcgi_multi *m = fcgi_multi_new_client(cl);
  for (int round = 0; round < rounds; round++) {
    for (int i = 0; i < conc; i++) {
      struct fcgi_call_opts o = {0};
      o.deadline_ms = fcgi_now_ms() + 30000;
      o.keep_conn = keep;
      o.multiplex = mux;
      fcgi_multi_add(m, ep, rq, &o, &resp[i], NULL);
    }
    fcgi_multi_run(m);
    struct fcgi_response *r;
    while (fcgi_multi_next_done(m, &r, NULL)) {
      if (r->err == FCGI_OK && r->status == 200)
        res.ok++;
      else
        res.failed++;
      fcgi_response_clear(r);
    }
  }
  fcgi_multi_free(m);
  res.wall_s = (double)(fcgi_now_ms() - t0) / 1000.0;
  res.cpu_s = cpu_now() - c0;
  fcgi_client_stats(cl, ep, &st1);
  res.opened = (unsigned long long)(st1.opened - st0.opened);
  free(resp);
  return res;
}

static fcgi_request *rq_new(const char *script, const char *filename) {
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(rq, "SCRIPT_NAME", script);
  fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", filename);
  fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET");
  fcgi_request_add_param_str(rq, "QUERY_STRING", "tag=bench");
  return rq;
}

static void header(const char *title) {
  printf("\n%s\n%-44s %7s %4s %9s %8s %8s %8s\n", title, "mode", "ok", "fail",
         "req/s", "vs base", "cpu us", "conns");
}

static int bench_naf(const char *srcdir, int rounds) {
  struct perl_server srv;
  if (perl_server_start(&srv, srcdir, "naf_server.pl") != 0)
    return 1;
  fcgi_endpoint *ep;
  fcgi_endpoint_parse(srv.spec, &ep, NULL, 0);
  struct fcgi_client_opts co = {0};
  co.max_idle = CONC;
  fcgi_client *cl = fcgi_client_new(&co);
  fcgi_request *rq = rq_new("/x", "/x");
  /* warm up: probe, perl's first-call costs, and the kept connections */
  run("warm-up", cl, ep, rq, 2, CONC, 1, FCGI_MUX_AUTO);
  run("warm-up", cl, ep, rq, 2, CONC, 1, FCGI_MUX_OFF);
  header("Net::Async::FastCGI, rounds of 64 concurrent requests");
  struct result kept = run("64 kept connections (keep_conn)", cl, ep, rq,
                           rounds, CONC, 1, FCGI_MUX_OFF);
  struct result mux = run("1 multiplexed connection (multiplex+keep)", cl, ep,
                          rq, rounds, CONC, 1, FCGI_MUX_AUTO);
  struct result fresh = run("64 new connections per round (default)", cl, ep,
                            rq, rounds, CONC, 0, FCGI_MUX_OFF);
  print_row(&kept, 0);
  print_row(&mux, kept.ok / kept.wall_s);
  print_row(&fresh, kept.ok / kept.wall_s);
  printf("multiplexed / 64 kept connections: %.0f%%; / 64 new connections: "
         "%.0f%%\n",
         100.0 * (mux.ok / mux.wall_s) / (kept.ok / kept.wall_s),
         100.0 * (mux.ok / mux.wall_s) / (fresh.ok / fresh.wall_s));
  fcgi_request_free(rq);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
  perl_server_stop(&srv);
  return 0;
}

static int bench_fpm(int rounds) {
  const char *sock = getenv("FPMT_WWW_SOCK");
  const char *root = getenv("FPMT_DOCROOT");
  if (!sock || !root) {
    printf("\nphp-fpm: skipped (run bench/bench_fcgi_mux.sh to start one)\n");
    return 0;
  }
  char fn[512];
  snprintf(fn, sizeof fn, "%s/hello.php", root);
  fcgi_endpoint *ep;
  if (fcgi_endpoint_parse(sock, &ep, NULL, 0) != FCGI_OK)
    return 1;
  fcgi_client *cl = fcgi_client_new(NULL);
  fcgi_request *rq = rq_new("/hello.php", fn);
  int n = rounds * CONC;
  run("warm-up", cl, ep, rq, 50, 1, 1, FCGI_MUX_OFF);
  header("php-fpm (static pool, 4 workers), hello.php, one at a time");
  struct result fresh = run("new connection per request (default)", cl, ep, rq,
                            n, 1, 0, FCGI_MUX_OFF);
  struct result kept = run("one reused connection (keep_conn)", cl, ep, rq, n,
                           1, 1, FCGI_MUX_OFF);
  print_row(&fresh, 0);
  print_row(&kept, fresh.ok / fresh.wall_s);
  header("php-fpm, 4 at a time (one per worker)");
  struct result fresh4 =
      run("new connections (default)", cl, ep, rq, n / 4, 4, 0, FCGI_MUX_OFF);
  struct result kept4 = run("4 reused connections (keep_conn)", cl, ep, rq,
                            n / 4, 4, 1, FCGI_MUX_OFF);
  print_row(&fresh4, 0);
  print_row(&kept4, fresh4.ok / fresh4.wall_s);
  fcgi_request_free(rq);
  fcgi_client_free(cl);
  fcgi_endpoint_free(ep);
  return 0;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 40;
  if (rounds <= 0)
    rounds = 40;
  char srcdir[256];
  snprintf(srcdir, sizeof srcdir, "%s", __FILE__);
  char *cut = strstr(srcdir, "/bench/bench_fcgi_mux.c");
  if (cut)
    *cut = '\0';
  else
    snprintf(srcdir, sizeof srcdir, "%s", ".");
  printf("bench_fcgi_mux: %d rounds of %d; client CPU per request from "
         "getrusage\n",
         rounds, CONC);
  int rc = bench_naf(srcdir, rounds);
  return rc ? rc : bench_fpm(rounds);
}
