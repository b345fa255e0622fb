/*
 * fpmstat.c: the command line front end (the project's only main()).
 *
 * Owns: option parsing, one fetcher per TARGET, one concurrent fetch of all
 * of them (fpm_fetch_many), the model per pool, handing the results to a
 * formatter, the error lines on stderr and the exit status (the highest
 * fpm_err over the targets). --watch hands over to fpm_watch_run;
 * --discover to discover_main (the functions at the end: the targets come
 * from php-fpm's configuration through fpm_conf and fpm_discover).
 */
#include "fpm_discover.h"
#include "fpm_fdlimit.h"
#include "fpm_fetch.h"
#include "fpm_model.h"
#include "fpm_num.h"
#include "fpm_opcache.h"
#include "fpm_output.h"
#include "fpm_output_memory.h"
#include "fpm_proc.h"
#include "fpm_procmem.h"
#include "fpm_watch.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef FPMSTAT_VERSION
#define FPMSTAT_VERSION "0"
#endif

#define FPMSTAT_MAX_IGNORE 64 /* --discover-ignore patterns */

struct cli {
  struct fpm_target t;
  int ping;
  double timeout_s;
  double watch_s;
  double slow_threshold_s;
  uint64_t max_children;
  struct fpm_output_opts out;
  char host[256];
  char **targets;
  size_t n_targets;
  int discover;              /* --discover */
  const char *discover_path; /* its PATH; NULL: Debian's defaults */
  const char *ignore[FPMSTAT_MAX_IGNORE]; /* --discover-ignore, into argv */
  size_t n_ignore;
  int no_memory;              /* --no-memory: do not read workers from /proc */
  int pss;                    /* --pss: their PSS too (smaps_rollup) */
  int advise;                 /* --advise: the sizing report instead */
  double headroom_pct;        /* --headroom; -1: the default */
  int opcache;                /* --opcache */
  const char *opcache_script; /* --opcache-script; NULL: the default */
};

static const char usage_text[] =
    "Usage: fpmstat [OPTIONS] TARGET...\n"
    "       fpmstat --discover [PATH] [OPTIONS]\n"
    "Fetch PHP-FPM pool status over FastCGI, straight from the pool's socket.\n"
    "\n"
    "TARGET is a unix socket (/run/php/www.sock, unix:/path) or host:port\n"
    "(127.0.0.1:9000, [::1]:9000, tcp://host:port). Several targets are\n"
    "fetched at once (in turns when there are more than free file\n"
    "descriptors; the soft limit is raised to the hard one) and printed in\n"
    "order.\n"
    "\n"
    "  -F, --format FMT         text (default), json, putval, graphite, "
    "influx,\n"
    "                           prometheus\n"
    "  -f, --full               print per-worker data\n"
    "      --no-full            do not ask FPM for the worker list (then our "
    "own\n"
    "                           request is counted active, as FPM does)\n"
    "  -s, --status-path PATH   pm.status_path of the pool (default /status)\n"
    "  -p, --ping               ping instead of status (ping.path)\n"
    "      --ping-path PATH     ping.path of the pool (default /ping)\n"
    "      --ping-response TEXT ping.response of the pool (default pong)\n"
    "  -t, --timeout SECONDS    per target, connect to last byte (default 2)\n"
    "      --slow-threshold S   a request running longer counts slow "
    "(default 1)\n"
    "      --max-children N     pm.max_children, for utilisation against it\n"
    "      --host NAME          host for putval/graphite (default\n"
    "                           $COLLECTD_HOSTNAME, else the host name)\n"
    "      --interval SECONDS   putval interval (default $COLLECTD_INTERVAL)\n"
    "      --graphite-prefix P  prefix of graphite paths (default none)\n"
    "  -w, --watch SECONDS      redraw a live view every SECONDS; Ctrl-C "
    "quits\n"
    "  -d, --discover [PATH]    find the pools in php-fpm's configuration "
    "(PATH:\n"
    "                           a php-fpm.conf or a directory of pool .conf\n"
    "                           files; none: every running php-fpm master's\n"
    "                           own configuration, containers' included,\n"
    "                           then /etc/php/*/fpm/php-fpm.conf and the\n"
    "                           other usual places), list\n"
    "                           them and read every monitorable one, as\n"
    "                           many at once as descriptors allow\n"
    "      --discover-ignore GLOB\n"
    "                           with --discover: leave out the pools whose\n"
    "                           name matches GLOB (fnmatch, e.g. 'www@*';\n"
    "                           repeatable): listed as ignored, not read\n"
    "      --no-memory          do not read the workers' memory from /proc\n"
    "                           (RSS, read by default for pools on this "
    "host)\n"
    "      --pss                also their PSS (smaps_rollup: costs more than\n"
    "                           the fetch; needs root or the workers' user)\n"
    "      --advise             pm.max_children sizing advice per pool (text\n"
    "                           or json): worker PSS, MemAvailable, evidence\n"
    "      --headroom PCT       memory --advise keeps free (default 20)\n"
    "      --opcache            also run fpmstat's OPcache script through\n"
    "                           each TARGET (with --discover: one pool per\n"
    "                           master) and report its OPcache figures\n"
    "      --opcache-script PATH  that script's path as the pool sees it\n"
    "                           (default: the installed opcache.php)\n"
    "  -h, --help               this text\n"
    "  -V, --version            the version\n"
    "\n"
    "Exit status: 0 ok, 1 usage, 2 cannot connect, 3 timeout, 4 FastCGI\n"
    "protocol error or refused, 5 status page error (not 200, e.g. wrong\n"
    "status path), 6 the answer is not a status page, 7 out of memory.\n"
    "With several targets, the highest. Errors: one line per target on\n"
    "stderr.\n"
    "With --discover: the highest over the pools read, 5 for a pool without\n"
    "a status page (not monitorable, as its page would answer 404), and 1\n"
    "when the configuration could not be read, has errors or has no pool.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                             ...) {
  va_list ap;
  dprintf(STDERR_FILENO, "fpmstat: ");
  va_start(ap, fmt);
  vdprintf(STDERR_FILENO, fmt, ap);
  va_end(ap);
  dprintf(STDERR_FILENO, "\nTry 'fpmstat --help'.\n");
  return FPM_EUSAGE;
}

/* A positive, finite number of seconds. */
static int parse_seconds(const char *s, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0 ||
      v > 86400.0 * 365)
    return -1;
  *out = v;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  if (s[0] == '-' || s[0] == '\0')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = v;
  return 0;
}

enum {
  OPT_NO_FULL = 256,
  OPT_PING_PATH,
  OPT_PING_RESPONSE,
  OPT_SLOW,
  OPT_MAX_CHILDREN,
  OPT_HOST,
  OPT_INTERVAL,
  OPT_PREFIX,
  OPT_DISCOVER_IGNORE,
  OPT_NO_MEMORY,
  OPT_PSS,
  OPT_ADVISE,
  OPT_HEADROOM,
  OPT_OPCACHE,
  OPT_OPCACHE_SCRIPT
};

static const char short_opts[] = "F:fs:pt:w:dhV";
static const struct option long_opts[] = {
    {"format", required_argument, NULL, 'F'},
    {"full", no_argument, NULL, 'f'},
    {"no-full", no_argument, NULL, OPT_NO_FULL},
    {"status-path", required_argument, NULL, 's'},
    {"ping", no_argument, NULL, 'p'},
    {"ping-path", required_argument, NULL, OPT_PING_PATH},
    {"ping-response", required_argument, NULL, OPT_PING_RESPONSE},
    {"timeout", required_argument, NULL, 't'},
    {"slow-threshold", required_argument, NULL, OPT_SLOW},
    {"max-children", required_argument, NULL, OPT_MAX_CHILDREN},
    {"host", required_argument, NULL, OPT_HOST},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"graphite-prefix", required_argument, NULL, OPT_PREFIX},
    {"watch", required_argument, NULL, 'w'},
    {"discover", optional_argument, NULL, 'd'},
    {"discover-ignore", required_argument, NULL, OPT_DISCOVER_IGNORE},
    {"no-memory", no_argument, NULL, OPT_NO_MEMORY},
    {"pss", no_argument, NULL, OPT_PSS},
    {"advise", no_argument, NULL, OPT_ADVISE},
    {"headroom", required_argument, NULL, OPT_HEADROOM},
    {"opcache", no_argument, NULL, OPT_OPCACHE},
    {"opcache-script", required_argument, NULL, OPT_OPCACHE_SCRIPT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* --discover-ignore GLOB: checked now, so a typo is a usage error. */
static int add_ignore(struct cli *c, const char *glob) {
  char why[128];
  if (fpm_discover_pattern_check(glob, why, sizeof why) != 0)
    return usage_error("--discover-ignore '%s': not a usable pattern: %s", glob,
                       why);
  if (c->n_ignore == FPMSTAT_MAX_IGNORE)
    return usage_error("at most %d --discover-ignore patterns",
                       FPMSTAT_MAX_IGNORE);
  c->ignore[c->n_ignore++] = glob;
  return -1;
}

/* --headroom PCT: 0 <= PCT < 100 (a trailing '%' is accepted). */
static int parse_headroom(struct cli *c, const char *arg) {
  char *end = NULL;
  errno = 0;
  double v = strtod(arg, &end);
  if (end != NULL && *end == '%')
    end++;
  if (errno != 0 || end == arg || *end != '\0' || !(v >= 0 && v < 100))
    return usage_error("--headroom wants a percentage from 0 to below 100, "
                       "not '%s'",
                       arg);
  c->headroom_pct = v;
  return -1;
}

/* --advise: what it needs, checked with the other options. Returns -1 to
 * go on, else an exit status. */
static int check_advise(const struct cli *c) {
  if (c->pss && c->no_memory)
    return usage_error("%s", "--pss reads worker memory, which --no-memory "
                             "turns off");
  if (!c->advise)
    return c->headroom_pct >= 0
               ? usage_error("%s", "--headroom goes with --advise")
               : -1;
  if (c->out.format != FPM_OUT_TEXT && c->out.format != FPM_OUT_JSON)
    return usage_error("--advise prints text or json, not %s",
                       fpm_outfmt_name(c->out.format));
  if (c->no_memory || c->t.no_full || c->ping || c->watch_s > 0)
    return usage_error("%s", "--advise reads the workers' memory from the "
                             "worker list: no --no-memory, --no-full, --ping "
                             "or --watch with it");
  return -1;
}

/* Returns -1 to go on, else an exit status. */
static int parse_opt(struct cli *c, int opt, const char *arg) {
  switch (opt) {
  case 'F':
    if (fpm_outfmt_parse(arg, &c->out.format) != 0)
      return usage_error("unknown format '%s' (text, json, putval, graphite, "
                         "influx, prometheus)",
                         arg);
    return -1;
  case 'f':
    c->out.full = 1;
    return -1;
  case OPT_NO_FULL:
    c->t.no_full = 1;
    return -1;
  case OPT_OPCACHE:
    c->opcache = 1;
    return -1;
  case OPT_OPCACHE_SCRIPT:
    if (arg[0] != '/')
      return usage_error("--opcache-script wants an absolute path (as the "
                         "pool sees it), not '%s'",
                         arg);
    c->opcache = 1;
    c->opcache_script = arg;
    return -1;
  case 's':
    c->t.status_path = arg;
    return -1;
  case 'p':
    c->ping = 1;
    return -1;
  case OPT_PING_PATH:
    c->t.ping_path = arg;
    return -1;
  case OPT_PING_RESPONSE:
    c->t.ping_response = arg;
    return -1;
  case 't':
    return parse_seconds(arg, &c->timeout_s) == 0
               ? -1
               : usage_error("--timeout wants seconds > 0, not '%s'", arg);
  case OPT_SLOW:
    return parse_seconds(arg, &c->slow_threshold_s) == 0
               ? -1
               : usage_error("--slow-threshold wants seconds > 0, not '%s'",
                             arg);
  case OPT_MAX_CHILDREN:
    return parse_u64(arg, &c->max_children) == 0 && c->max_children > 0
               ? -1
               : usage_error("--max-children wants a number > 0, not '%s'",
                             arg);
  case OPT_HOST:
    c->out.host = arg;
    return -1;
  case OPT_INTERVAL:
    return parse_seconds(arg, &c->out.interval_s) == 0
               ? -1
               : usage_error("--interval wants seconds > 0, not '%s'", arg);
  case OPT_PREFIX:
    c->out.graphite_prefix = arg;
    return -1;
  case 'w':
    return parse_seconds(arg, &c->watch_s) == 0
               ? -1
               : usage_error("--watch wants seconds > 0, not '%s'", arg);
  case 'd':
    c->discover = 1;
    c->discover_path = arg;
    return -1;
  case OPT_DISCOVER_IGNORE:
    return add_ignore(c, arg);
  case OPT_NO_MEMORY:
    c->no_memory = 1;
    return -1;
  case OPT_PSS:
    c->pss = 1;
    return -1;
  case OPT_ADVISE:
    c->advise = 1;
    return -1;
  case OPT_HEADROOM:
    return parse_headroom(c, arg);
  case 'h':
    printf("%s",
           usage_text); /* printf: no stdout reference, no copy relocation */
    return 0;
  case 'V':
    printf("fpmstat %s\n", FPMSTAT_VERSION);
    return 0;
  default:
    dprintf(STDERR_FILENO, "Try 'fpmstat --help'.\n");
    return FPM_EUSAGE;
  }
}

/* Host and interval defaults: what collectd's exec plugin hands its
 * children, else the host name. Only putval and graphite print them. */
static void defaults_from_env(struct cli *c) {
  if (c->out.format != FPM_OUT_PUTVAL && c->out.format != FPM_OUT_GRAPHITE)
    return;
  if (c->out.host == NULL) {
    const char *h = getenv("COLLECTD_HOSTNAME");
    if (h != NULL && h[0] != '\0') {
      c->out.host = h;
    } else if (gethostname(c->host, sizeof c->host - 1) == 0) {
      c->host[sizeof c->host - 1] = '\0';
      c->out.host = c->host;
    }
  }
  if (c->out.interval_s <= 0) {
    const char *iv = getenv("COLLECTD_INTERVAL");
    double v;
    if (iv != NULL && parse_seconds(iv, &v) == 0)
      c->out.interval_s = v;
  }
}

/* Options and operands in any order (GNU getopt_long: "--" ends the
 * options); the operands end up, in order, at argv[optind..argc). Returns -1
 * to go on, else an exit status. */
static int parse_words(struct cli *c, int argc, char **argv, int *nops) {
  int opt, rc = -1;
  while (rc < 0 &&
         (opt = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1)
    rc = parse_opt(c, opt, optarg);
  *nops = argc - optind;
  return rc;
}

static int parse_discover_args(struct cli *c, int nops, char **ops);
static int discover_main(struct cli *c);

static int parse_args(struct cli *c, int argc, char **argv) {
  int nops;
  c->timeout_s = 2.0;
  c->headroom_pct = -1;
  int rc = parse_words(c, argc, argv, &nops);
  if (rc >= 0)
    return rc;
  rc = check_advise(c);
  if (rc >= 0)
    return rc;
  char **ops = argv + optind;
  if (c->discover)
    return parse_discover_args(c, nops, ops);
  if (c->n_ignore > 0)
    return usage_error("%s", "--discover-ignore goes with --discover");
  if (nops == 0)
    return usage_error("%s", "no TARGET given");
  if (c->ping && c->out.format != FPM_OUT_TEXT && c->out.format != FPM_OUT_JSON)
    return usage_error("--ping prints text or json, not %s",
                       fpm_outfmt_name(c->out.format));
  if (c->out.full && c->t.no_full)
    return usage_error("%s", "--full prints the worker list, which --no-full "
                             "does not fetch");
  if (c->opcache && (c->ping || c->watch_s > 0))
    return usage_error("%s", "--opcache goes with a status read, not with "
                             "--ping or --watch");
  if (c->watch_s > 0 && (c->ping || c->out.format != FPM_OUT_TEXT))
    return usage_error("%s", "--watch draws its own view: no --ping or "
                             "--format with it");
  c->targets = ops;
  c->n_targets = (size_t)nops;
  defaults_from_env(c);
  return -1;
}

static int write_stdout(const struct fpm_buf *b) {
  size_t off = 0;
  while (off < b->len) {
    ssize_t w = write(STDOUT_FILENO, b->data + off, b->len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    off += (size_t)w;
  }
  return 0;
}

static void print_ping(const struct cli *c, const char *name,
                       const struct fpm_result *r, struct fpm_buf *out) {
  if (c->out.format == FPM_OUT_JSON) {
    fpm_buf_puts(out, "{\"target\":\"");
    struct fpm_buf esc;
    fpm_buf_init(&esc);
    fpm_out_prom_label(&esc, name); /* same escapes as JSON needs here */
    fpm_buf_puts(out, esc.data ? esc.data : "");
    fpm_buf_free(&esc);
    fpm_buf_printf(out, "\",\"ok\":%s,\"code\":%d,\"duration_s\":%.6f}\n",
                   r->err == FPM_OK ? "true" : "false", (int)r->err,
                   r->duration_s);
    return;
  }
  if (r->err == FPM_OK) {
    fpm_out_text_str(out, name, 512);
    fpm_buf_printf(out, ": %s in %.1f ms\n",
                   c->t.ping_response ? c->t.ping_response : "pong",
                   r->duration_s * 1000.0);
  }
}

/* One TARGET: its fetcher, or why it could not be made. */
struct tgt {
  fpm_fetcher *f;
  const char *name; /* canonical endpoint, else the argument */
  struct fpm_result res;
  struct fpm_metrics m;
  struct fpm_procmem mem; /* its workers' memory, when read */
  int64_t ns_master;      /* a container's master: fpm_procmem_opts */
};

static void compute(const struct cli *c, struct tgt *t,
                    struct fpm_output_item *it) {
  struct fpm_model_opts mo;
  memset(&mo, 0, sizeof mo);
  mo.self_marker = t->res.marker;
  mo.scrape_tag = "fpmstat=";
  mo.slow_threshold_s = c->slow_threshold_s;
  mo.max_children = c->max_children;
  fpm_model_compute(&t->res.status, &mo, NULL, &t->m);
  if (!c->no_memory) {
    struct fpm_procmem_opts po = {.pss = c->pss || c->advise,
                                  .ns_master_pid = t->ns_master};
    fpm_procmem_read(&t->res.status, &po, &t->mem);
    t->m.procmem = &t->mem;
  }
  it->m = &t->m;
}

/* The --advise report instead of the format's output; from[i] says where
 * item i's pm.max_children comes from (NULL: --max-children or unknown). */
static int render_advice(const struct cli *c, const struct fpm_output_item *it,
                         const uint64_t *max_children, const char *const *from,
                         size_t n, struct fpm_buf *out) {
  struct fpm_advise_item *ai = calloc(n ? n : 1, sizeof *ai);
  if (ai == NULL)
    return -1;
  struct fpm_advise_opts ao = {
      c->out.format,
      c->headroom_pct >= 0 ? c->headroom_pct : FPM_ADVISE_DEFAULT_HEADROOM, 0,
      0};
  ao.have_mem_available = fpm_meminfo_available(NULL, &ao.mem_available) == 0;
  for (size_t i = 0; i < n; i++) {
    ai[i].it = &it[i];
    ai[i].max_children =
        max_children != NULL ? max_children[i] : c->max_children;
    ai[i].max_children_from = from != NULL && from[i] != NULL ? from[i]
                              : ai[i].max_children > 0        ? "--max-children"
                                                              : NULL;
  }
  int rc = fpm_output_advise(&ao, ai, n, out);
  free(ai);
  return rc;
}

/* Fetch every target once, print, and return the exit status. */
static int one_shot(struct cli *c, struct tgt *tg, size_t n, int worst) {
  fpm_fetcher **fs = calloc(n, sizeof *fs);
  /* each result is initialised below before use: no zeroing here */
  struct fpm_result *res = malloc(n * sizeof *res);
  struct fpm_output_item *items = calloc(n, sizeof *items);
  if (fs == NULL || res == NULL || items == NULL) {
    dprintf(STDERR_FILENO, "fpmstat: out of memory\n");
    free(fs), free(res), free(items);
    return FPM_ENOMEM;
  }
  size_t k = 0; /* the targets that parsed are fetched together */
  for (size_t i = 0; i < n; i++)
    if (tg[i].f != NULL) {
      fpm_result_init(&res[k]);
      fs[k++] = tg[i].f;
    }
  int64_t deadline =
      fcgi_now_ms() + (int64_t)fpm_round_u64(c->timeout_s * 1000.0);
  fpm_fetch_many(fs, k, c->ping ? FPM_FETCH_PING : FPM_FETCH_STATUS, deadline,
                 NULL, res);
  struct fpm_opcache_result *ocr = NULL;
  if (c->opcache && k > 0) {
    /* one more request per target, within the same deadline: --timeout
     * bounds the whole read */
    ocr = calloc(k, sizeof *ocr);
    if (ocr == NULL) {
      dprintf(STDERR_FILENO, "fpmstat: out of memory\n");
      worst = worst > FPM_ENOMEM ? worst : FPM_ENOMEM;
    } else {
      fpm_opcache_fetch_many(fs, k, c->opcache_script, deadline, NULL, ocr);
    }
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  c->out.now_s = (int64_t)now.tv_sec;
  c->out.now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  struct fpm_buf out;
  fpm_buf_init(&out);
  for (size_t i = 0, j = 0; i < n; i++) {
    items[i].target = tg[i].name;
    items[i].res = &tg[i].res;
    if (tg[i].f == NULL)
      continue; /* reported when it failed */
    /* move the result into the target (the snapshot's memory goes along) */
    if (ocr != NULL) {
      items[i].opcache = &ocr[j];
      if (ocr[j].err != FPM_OK) {
        dprintf(STDERR_FILENO, "fpmstat: %s\n", ocr[j].message);
        worst = (int)ocr[j].err > worst ? (int)ocr[j].err : worst;
      }
    }
    tg[i].res = res[j++];
    if (tg[i].res.err != FPM_OK) {
      dprintf(STDERR_FILENO, "fpmstat: %s\n", tg[i].res.message);
      worst = (int)tg[i].res.err > worst ? (int)tg[i].res.err : worst;
    }
    if (c->ping)
      print_ping(c, tg[i].name, &tg[i].res, &out);
    else if (tg[i].res.err == FPM_OK)
      compute(c, &tg[i], &items[i]);
  }
  if (!c->ping &&
      (c->advise ? render_advice(c, items, NULL, NULL, n, &out)
                 : fpm_output_render(&c->out, items, n, &out)) != 0) {
    dprintf(STDERR_FILENO, "fpmstat: out of memory while formatting\n");
    worst = worst > FPM_ENOMEM ? worst : FPM_ENOMEM;
  }
  if (write_stdout(&out) != 0) {
    dprintf(STDERR_FILENO, "fpmstat: cannot write the output: %s\n",
            strerror(errno));
    worst = worst > FPM_EUSAGE ? worst : FPM_EUSAGE;
  }
  fpm_buf_free(&out);
  free(fs), free(res), free(items), free(ocr);
  return worst;
}

int main(int argc, char **argv) {
  struct cli c;
  memset(&c, 0, sizeof c);
  int rc = parse_args(&c, argc, argv);
  if (rc >= 0)
    return rc;
  fpm_fd_raise_soft_limit(); /* more pools read per turn; we poll() */
  if (c.discover)
    return discover_main(&c);
  size_t n = c.n_targets;
  struct tgt *tg = calloc(n, sizeof *tg);
  fpm_fetcher **fs = calloc(n, sizeof *fs);
  const char **names = calloc(n, sizeof *names);
  if (tg == NULL || fs == NULL || names == NULL) {
    dprintf(STDERR_FILENO, "fpmstat: out of memory\n");
    free(tg), free(fs), free(names);
    return FPM_ENOMEM;
  }
  int worst = FPM_OK;
  for (size_t i = 0; i < n; i++) {
    struct fpm_target t = c.t;
    t.endpoint = c.targets[i];
    fpm_result_init(&tg[i].res);
    tg[i].name = c.targets[i];
    fpm_err e = fpm_fetcher_create(&t, &tg[i].f, tg[i].res.message,
                                   sizeof tg[i].res.message);
    if (e != FPM_OK) {
      tg[i].res.err = e;
      dprintf(STDERR_FILENO, "fpmstat: %s\n", tg[i].res.message);
      worst = (int)e > worst ? (int)e : worst;
      continue;
    }
    tg[i].name = fpm_fetcher_endpoint(tg[i].f);
    fs[i] = tg[i].f;
    names[i] = tg[i].name;
  }
  if (c.watch_s > 0) {
    struct fpm_watch_opts wo = {c.watch_s,      c.timeout_s, c.slow_threshold_s,
                                c.max_children, c.out.top_n, STDOUT_FILENO,
                                !c.no_memory,   c.pss};
    rc = worst != FPM_OK ? worst : fpm_watch_run(&wo, fs, names, n);
  } else {
    rc = one_shot(&c, tg, n, worst);
  }
  for (size_t i = 0; i < n; i++) {
    fpm_result_clear(&tg[i].res);
    fpm_fetcher_free(tg[i].f);
  }
  free(tg), free(fs), free(names);
  return rc;
}

/* ------------------------------------------------------------ --discover */

/* --discover [PATH]: PATH as --discover=PATH or as the one operand. */
static int parse_discover_args(struct cli *c, int nops, char **ops) {
  if (nops > 1 || (nops == 1 && c->discover_path != NULL))
    return usage_error("%s", "--discover takes one PATH (a php-fpm.conf or "
                             "a directory of pool files), not TARGETs");
  if (nops == 1)
    c->discover_path = ops[0];
  if (c->watch_s > 0 || c->ping)
    return usage_error("%s", "--discover reads each pool's status once: no "
                             "--watch or --ping with it");
  if (c->t.status_path != NULL || c->t.ping_path != NULL ||
      c->t.ping_response != NULL)
    return usage_error("%s", "--discover takes each pool's status path from "
                             "its configuration: no --status-path, "
                             "--ping-path or --ping-response with it");
  if (c->out.full && c->t.no_full)
    return usage_error("%s", "--full prints the worker list, which --no-full "
                             "does not fetch");
  defaults_from_env(c);
  return -1;
}

/* Diagnostics on stderr; returns FPM_EUSAGE when the configuration could
 * not be read, has errors or has no pool, else FPM_OK. */
static int discover_check_conf(const struct cli *c, const struct fpm_conf *conf,
                               int load_rc) {
  for (size_t i = 0; i < conf->n_diags; i++) {
    const struct fpm_conf_diag *d = &conf->diags[i];
    if (d->line > 0)
      dprintf(STDERR_FILENO, "fpmstat: %s:%d: %s\n", d->file, d->line,
              d->message);
    else
      dprintf(STDERR_FILENO, "fpmstat: %s: %s\n", d->file, d->message);
  }
  const char *where =
      c->discover_path != NULL ? c->discover_path : FPM_CONF_DEFAULT_WHERE;
  if (load_rc != 0) {
    dprintf(STDERR_FILENO,
            "fpmstat: no php-fpm configuration could be read from %s\n", where);
    return FPM_EUSAGE;
  }
  if (conf->n_pools == 0) {
    dprintf(STDERR_FILENO,
            "fpmstat: no pool section in the %zu file(s) read from %s\n",
            conf->n_files, where);
    return FPM_EUSAGE;
  }
  for (size_t i = 0; i < conf->n_diags; i++)
    if (!conf->diags[i].warning)
      return FPM_EUSAGE; /* a warning (a pool renamed name@version) is not */
  return FPM_OK;
}

/* The index of the --discover-ignore pattern that matches the pool, or -1. */
static int ignored_by(const struct cli *c, const struct fpm_conf_pool *p) {
  return fpm_discover_ignored(p->name, c->ignore, c->n_ignore);
}

/* What the QUERY column says: what is queried, why the pool is not
 * monitorable, or the pattern that leaves it out. */
static void discover_what(const struct cli *c, const struct fpm_conf_pool *p,
                          char *what, size_t len) {
  int ig = ignored_by(c, p);
  if (ig >= 0)
    snprintf(what, len, "ignored (--discover-ignore '%s')", c->ignore[ig]);
  else
    fpm_discover_describe(p, what, len);
}

/* The table of pools and what is queried for each. */
static void discover_list(const struct cli *c, const struct fpm_conf *conf,
                          struct fpm_buf *b) {
  size_t n_ignored = 0;
  for (size_t i = 0; i < conf->n_pools; i++)
    n_ignored += ignored_by(c, &conf->pools[i]) >= 0;
  fpm_buf_printf(b, "%zu pool(s) found in %zu configuration file(s)",
                 conf->n_pools, conf->n_files);
  if (n_ignored > 0)
    fpm_buf_printf(b, ", %zu ignored", n_ignored);
  fpm_buf_putc(b, '\n');
  fpm_buf_printf(b, "%-20s %-9s %5s  %s\n", "POOL", "PM", "MAX", "QUERY");
  struct fpm_buf name;
  fpm_buf_init(&name);
  for (size_t i = 0; i < conf->n_pools; i++) {
    const struct fpm_conf_pool *p = &conf->pools[i];
    char max[24] = "-", what[1600];
    if (p->max_children >= 0)
      snprintf(max, sizeof max, "%ld", p->max_children);
    discover_what(c, p, what, sizeof what);
    fpm_buf_reset(&name);
    fpm_out_text_str(&name, p->name, 64);
    fpm_buf_printf(b, "%-20s %-9s %5s  ", name.data ? name.data : "",
                   p->pm[0] != '\0' ? p->pm : "-", max);
    fpm_out_text_str(b, what, sizeof what);
    fpm_buf_putc(b, '\n');
  }
  fpm_buf_free(&name);
}

struct disc_read {
  struct tgt *tg;         /* one per monitorable pool */
  uint64_t *max_children; /* its pm.max_children, else --max-children */
  const struct fpm_conf_pool **pool; /* where it is configured */
  size_t n;
};

/* Fetchers for the monitorable pools; returns the worst exit status so far
 * (FPM_EHTTP for a pool without a status page). */
static int discover_targets(const struct cli *c, const struct fpm_conf *conf,
                            struct disc_read *dr, int worst) {
  for (size_t i = 0; i < conf->n_pools; i++) {
    const struct fpm_conf_pool *p = &conf->pools[i];
    struct fpm_target t;
    if (ignored_by(c, p) >= 0)
      continue; /* listed as ignored, not read, not an error */
    if (fpm_discover_target(p, &t) != 0) {
      worst = worst > FPM_EHTTP ? worst : FPM_EHTTP;
      continue;
    }
    t.no_full = c->t.no_full;
    struct tgt *g = &dr->tg[dr->n];
    dr->pool[dr->n] = p;
    dr->max_children[dr->n++] =
        p->max_children > 0 ? (uint64_t)p->max_children : c->max_children;
    fpm_result_init(&g->res);
    g->name = p->endpoint;
    /* a container's master lists the PIDs of its own PID namespace */
    g->ns_master = p->tag[0] != '\0' ? p->master_pid : 0;
    fpm_err e =
        fpm_fetcher_create(&t, &g->f, g->res.message, sizeof g->res.message);
    if (e != FPM_OK) {
      g->res.err = e;
      dprintf(STDERR_FILENO, "fpmstat: pool %s (%s:%d): %s\n", p->name, p->file,
              p->line, g->res.message);
      worst = (int)e > worst ? (int)e : worst;
      continue;
    }
    g->name = fpm_fetcher_endpoint(g->f);
  }
  return worst;
}

/* --advise with --discover: each pool's pm.max_children and the file and
 * line of its section. */
static int discover_advice(const struct cli *c, const struct disc_read *dr,
                           const struct fpm_output_item *items,
                           struct fpm_buf *out) {
  size_t n = dr->n;
  char(*where)[600] = calloc(n ? n : 1, sizeof *where);
  const char **from = calloc(n ? n : 1, sizeof *from);
  int rc = -1;
  if (where != NULL && from != NULL) {
    for (size_t i = 0; i < n; i++) {
      const struct fpm_conf_pool *p = dr->pool[i];
      if (p->max_children <= 0)
        continue; /* from --max-children, if given */
      snprintf(where[i], sizeof where[i], "pool %s in %s:%d", p->name, p->file,
               p->line);
      from[i] = where[i];
    }
    rc = render_advice(c, items, dr->max_children, from, n, out);
  }
  free(where);
  free(from);
  return rc;
}

/* Read every target (in turns the descriptor limit allows, each with its
 * own timeout), model each against its
 * pm.max_children, render in the chosen format. */
/* --discover --opcache: OPcache belongs to a master, so it is read once per
 * master (fpm_conf_pool.master: named after its main configuration, see
 * fpm_master.h; a master in a container is its own), through the first
 * pool of that master (in configuration order) whose status was read and
 * that can run the script; the result and the master's name go with that
 * pool's item. Pools that could not run it are named on stderr; they count
 * in the exit status only when no pool of their master could. ocr has room
 * for one result per pool. */
/* The master of a discovered pool. */
static const char *master_of(const struct fpm_conf_pool *p) {
  return p->master[0] != '\0' ? p->master : "default";
}

static int discover_opcache(const struct cli *c, struct disc_read *dr,
                            struct fpm_output_item *items,
                            struct fpm_opcache_result *ocr, int worst) {
  const char **done = calloc(dr->n + 1, sizeof *done); /* masters read */
  if (done == NULL) {
    dprintf(STDERR_FILENO, "fpmstat: out of memory\n");
    return worst > FPM_ENOMEM ? worst : FPM_ENOMEM;
  }
  size_t n_done = 0;
  for (size_t i = 0; i < dr->n; i++) {
    const char *master = master_of(dr->pool[i]);
    int seen = 0;
    for (size_t k = 0; k < n_done && !seen; k++)
      seen = strcmp(done[k], master) == 0;
    if (seen)
      continue;
    fpm_err last = FPM_OK;
    int ok = 0;
    for (size_t j = i; j < dr->n && !ok; j++) {
      struct tgt *g = &dr->tg[j];
      if (g->f == NULL || g->res.err != FPM_OK ||
          strcmp(master_of(dr->pool[j]), master) != 0)
        continue;
      fpm_opcache_fetch_many(&g->f, 1, c->opcache_script,
                             fcgi_now_ms() +
                                 (int64_t)fpm_round_u64(c->timeout_s * 1000.0),
                             NULL, &ocr[j]);
      if (ocr[j].err == FPM_OK) {
        items[j].opcache = &ocr[j];
        items[j].master = master;
        ok = 1;
      } else {
        last = ocr[j].err;
        dprintf(STDERR_FILENO, "fpmstat: pool %s: OPcache of %s not read: %s\n",
                dr->pool[j]->name, master, ocr[j].message);
      }
    }
    if (!ok && last == FPM_OK)
      dprintf(STDERR_FILENO,
              "fpmstat: OPcache of %s not read: no pool's status was read\n",
              master);
    worst = (int)last > worst && !ok ? (int)last : worst;
    done[n_done++] = master;
  }
  free(done);
  return worst;
}

static int discover_fetch(struct cli *c, struct disc_read *dr,
                          struct fpm_buf *out, int worst) {
  size_t n = dr->n;
  fpm_fetcher **fs = calloc(n + 1, sizeof *fs);
  struct fpm_result *res = calloc(n + 1, sizeof *res);
  struct fpm_output_item *items = calloc(n + 1, sizeof *items);
  if (fs == NULL || res == NULL || items == NULL) {
    free(fs), free(res), free(items);
    dprintf(STDERR_FILENO, "fpmstat: out of memory\n");
    return FPM_ENOMEM;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (dr->tg[i].f != NULL) {
      fpm_result_init(&res[k]);
      fs[k++] = dr->tg[i].f;
    }
  /* in turns sized from the descriptor limit, each pool its own timeout */
  struct fpm_fetch_opts fo = {0, (int64_t)fpm_round_u64(c->timeout_s * 1000.0),
                              1};
  fpm_fetch_many_opts(fs, k, FPM_FETCH_STATUS, 0, NULL, &fo, res);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  c->out.now_s = (int64_t)now.tv_sec;
  c->out.now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  struct cli pc = *c; /* per pool: its pm.max_children */
  for (size_t i = 0, j = 0; i < n; i++) {
    struct tgt *g = &dr->tg[i];
    items[i].target = g->name;
    items[i].res = &g->res;
    items[i].pool = dr->pool[i]->section;
    if (g->f == NULL)
      continue;
    g->res = res[j++];
    if (g->res.err != FPM_OK) {
      dprintf(STDERR_FILENO, "fpmstat: pool %s (%s:%d): %s\n",
              dr->pool[i]->name, dr->pool[i]->file, dr->pool[i]->line,
              g->res.message);
      worst = (int)g->res.err > worst ? (int)g->res.err : worst;
      continue;
    }
    pc.max_children = dr->max_children[i];
    compute(&pc, g, &items[i]);
  }
  struct fpm_opcache_result *ocr =
      c->opcache ? calloc(n + 1, sizeof *ocr) : NULL;
  if (ocr != NULL)
    worst = discover_opcache(c, dr, items, ocr, worst);
  if ((c->advise ? discover_advice(c, dr, items, out)
                 : fpm_output_render(&c->out, items, n, out)) != 0) {
    dprintf(STDERR_FILENO, "fpmstat: out of memory while formatting\n");
    worst = worst > FPM_ENOMEM ? worst : FPM_ENOMEM;
  }
  free(fs), free(res), free(items), free(ocr);
  return worst;
}

/* fpmstat --discover [PATH]: read php-fpm's configuration, list its pools
 * (on stdout for text, else on stderr so stdout stays in the format), read
 * every monitorable pool (in turns the descriptor limit allows), except
 * those --discover-ignore names. */
static int discover_main(struct cli *c) {
  struct fpm_conf conf;
  int load_rc = fpm_discover_load(c->discover_path, NULL, &conf);
  int worst = discover_check_conf(c, &conf, load_rc);
  if (load_rc != 0 || conf.n_pools == 0) {
    fpm_conf_free(&conf);
    return worst;
  }
  struct fpm_buf list, out;
  fpm_buf_init(&list);
  fpm_buf_init(&out);
  discover_list(c, &conf, &list);
  int to_stdout = c->out.format == FPM_OUT_TEXT;
  if (to_stdout)
    fpm_buf_putc(&list, '\n');
  else
    dprintf(STDERR_FILENO, "%s", list.data != NULL ? list.data : "");
  struct disc_read dr = {calloc(conf.n_pools, sizeof *dr.tg),
                         calloc(conf.n_pools, sizeof *dr.max_children),
                         calloc(conf.n_pools, sizeof *dr.pool), 0};
  if (dr.tg == NULL || dr.max_children == NULL || dr.pool == NULL) {
    dprintf(STDERR_FILENO, "fpmstat: out of memory\n");
    worst = FPM_ENOMEM;
  } else {
    worst = discover_targets(c, &conf, &dr, worst);
    worst = discover_fetch(c, &dr, &out, worst);
  }
  if ((to_stdout && write_stdout(&list) != 0) || write_stdout(&out) != 0) {
    dprintf(STDERR_FILENO, "fpmstat: cannot write the output: %s\n",
            strerror(errno));
    worst = worst > FPM_EUSAGE ? worst : FPM_EUSAGE;
  }
  for (size_t i = 0; i < dr.n; i++) {
    fpm_result_clear(&dr.tg[i].res);
    fpm_fetcher_free(dr.tg[i].f);
  }
  free(dr.tg), free(dr.max_children), free(dr.pool);
  fpm_buf_free(&list), fpm_buf_free(&out);
  fpm_conf_free(&conf);
  return worst;
}
