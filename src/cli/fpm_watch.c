/*
 * fpm_watch.c: fpmstat --watch. Owns the signal thread, the fetch/draw loop
 * with one fpm_history per target (so restarts and respawns show), and the
 * screen layout. Figures come from the shared model; the screen code only
 * places them.
 */
#include "fpm_watch.h"

#include "fpm_model.h"
#include "fpm_output.h"
#include "fpm_output_memory.h"
#include "fpm_procmem.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Shared between the main loop and the signal thread (owned by the run). */
struct sigctx {
  sigset_t set;
  fcgi_cancel *cancel;
  int wake[2]; /* pipe: the signal thread writes one byte */
  atomic_int stop;
};

static void *sig_thread(void *arg) {
  struct sigctx *c = arg;
  for (;;) {
    int sig = 0;
    if (sigwait(&c->set, &sig) != 0)
      continue;
    if (sig == SIGUSR1 && atomic_load(&c->stop))
      return NULL; /* the main loop is done and asks us to go */
    if (sig == SIGUSR1)
      continue;
    atomic_store(&c->stop, 1);
    fcgi_cancel_trigger(c->cancel);
    char b = 1;
    ssize_t w = write(c->wake[1], &b, 1);
    (void)w;
    return NULL;
  }
}

/* Write all of buf; -1 on any error (EPIPE, EIO: the terminal is gone). */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    buf += w;
    len -= (size_t)w;
  }
  return 0;
}

static size_t term_width(int fd) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

/* Append line to screen cut to width bytes (not inside a UTF-8 sequence),
 * then clear to the end of the line. */
static void put_line(struct fpm_buf *screen, struct fpm_buf *line,
                     size_t width) {
  size_t n = line->len;
  if (n > width) {
    n = width;
    while (n > 0 && ((unsigned char)line->data[n] & 0xc0) == 0x80)
      n--;
  }
  if (n > 0)
    fpm_buf_add(screen, line->data, n);
  fpm_buf_puts(screen, "\033[K\n");
  fpm_buf_reset(line);
}

/* Title, counts and the state bar. */
static void draw_head(struct fpm_buf *s, struct fpm_buf *l, size_t width,
                      const struct fpm_output_item *it) {
  const struct fpm_metrics *m = it->m;
  const struct fpm_status *st = &it->res->status;
  fpm_buf_puts(l, "\033[1mPOOL ");
  fpm_out_text_str(l, st->pool, sizeof st->pool);
  fpm_buf_puts(l, "\033[0m  ");
  fpm_out_text_str(l, st->process_manager, sizeof st->process_manager);
  fpm_buf_puts(l, "  ");
  fpm_out_text_str(l, it->target, 200);
  if (fpm_status_has(st, FPM_F_START_SINCE)) {
    uint64_t u = st->v[FPM_F_START_SINCE];
    fpm_buf_printf(l, "  up %" PRIu64 "d %02" PRIu64 ":%02" PRIu64, u / 86400,
                   u / 3600 % 24, u / 60 % 60);
  }
  put_line(s, l, width);
  if (m->have_counts)
    fpm_buf_printf(
        l, "  processes  active %" PRIu64 "  idle %" PRIu64 "  total %" PRIu64,
        m->active, m->idle, m->total);
  if (m->utilisation >= 0)
    fpm_buf_printf(l, "  util %.0f%%", m->utilisation);
  if (m->utilisation_max_children >= 0)
    fpm_buf_printf(l, " (%.0f%% of max_children %" PRIu64 ")",
                   m->utilisation_max_children, m->max_children);
  put_line(s, l, width);
  if (m->from_list) {
    fpm_buf_puts(l, "  states     ");
    size_t bw = width > 60 ? width - 40 : 20;
    fpm_output_state_bar(l, m, bw > 60 ? 60 : bw);
    for (int k = 0; k < FPM_STATE__COUNT; k++)
      if (m->by_state[k] > 0)
        fpm_buf_printf(l, " %s %" PRIu32, fpm_state_key((enum fpm_state)k),
                       m->by_state[k]);
    put_line(s, l, width);
  }
}

/* Queue, counters and what changed while watching. */
static void draw_counters(struct fpm_buf *s, struct fpm_buf *l, size_t width,
                          const struct fpm_output_item *it, double dt_s) {
  const struct fpm_metrics *m = it->m;
  const struct fpm_status *st = &it->res->status;
  fpm_buf_puts(l, "  queue      ");
  if (fpm_status_has(st, FPM_F_LISTEN_QUEUE))
    fpm_buf_printf(l, "%" PRIu64 " (max %" PRIu64 ", backlog %" PRIu64 ")",
                   st->v[FPM_F_LISTEN_QUEUE], st->v[FPM_F_MAX_LISTEN_QUEUE],
                   st->v[FPM_F_LISTEN_QUEUE_LEN]);
  else
    fpm_buf_puts(l, "n/a");
  fpm_buf_printf(l, "  accepted %" PRIu64, st->v[FPM_F_ACCEPTED_CONN]);
  if (m->have_prev)
    fpm_buf_printf(l, " (+%" PRIu64 ")", m->d_accepted);
  /* the pool's traffic: accepted minus our own scrapes (docs/rates.md) */
  if (m->have_prev && m->have_external && dt_s > 0)
    fpm_buf_printf(l, "  requests %.1f/s", (double)m->d_external / dt_s);
  fpm_buf_printf(l, "  slow %" PRIu64, st->v[FPM_F_SLOW_REQUESTS]);
  fpm_buf_printf(l, "  max_children_reached %" PRIu64,
                 st->v[FPM_F_MAX_CHILDREN_REACHED]);
  put_line(s, l, width);
  if (m->have_history) {
    fpm_buf_printf(l, "  restarts %" PRIu64 "  respawns %" PRIu64,
                   m->restarts_total, m->respawns_total);
    if (m->restarted)
      fpm_buf_puts(l, "  \033[7m RESTARTED \033[0m");
    put_line(s, l, width);
  }
}

/* The slowest requests in progress, with script and age. */
static void draw_slowest(struct fpm_buf *s, struct fpm_buf *l, size_t width,
                         const struct fpm_watch_opts *o,
                         const struct fpm_output_item *it) {
  size_t cap = o->top_n ? o->top_n : 5, idx[32];
  if (cap > 32)
    cap = 32;
  size_t k = fpm_output_slowest(it, idx, cap);
  if (k > 0) {
    fpm_buf_puts(l, "  slowest running requests (age, pid, request, script):");
    put_line(s, l, width);
  }
  for (size_t i = 0; i < k; i++) {
    const struct fpm_worker *w = &it->res->status.workers[idx[i]];
    fpm_buf_printf(l, "  %8.1fs %-7" PRId64 " ",
                   (double)w->request_duration_us / 1e6, w->pid);
    fpm_out_text_str(l, w->method, 12);
    fpm_buf_putc(l, ' ');
    fpm_out_text_str(l, w->uri, 200);
    fpm_buf_puts(l, "  ");
    fpm_out_text_str(l, w->script, 200);
    put_line(s, l, width);
  }
}

static void draw_pool(struct fpm_buf *s, struct fpm_buf *l, size_t width,
                      const struct fpm_watch_opts *o,
                      const struct fpm_output_item *it, double dt_s) {
  draw_head(s, l, width, it);
  draw_counters(s, l, width, it, dt_s);
  if (it->m->procmem != NULL) {
    fpm_output_text_memory(l, it->m);
    if (l->len > 0 && l->data[l->len - 1] == '\n')
      l->len--; /* put_line ends the line */
    put_line(s, l, width);
  }
  draw_slowest(s, l, width, o, it);
  put_line(s, l, width);
}

static void draw(struct fpm_buf *s, const struct fpm_watch_opts *o,
                 const struct fpm_output_item *items, size_t n, double dt_s) {
  struct fpm_buf l;
  fpm_buf_init(&l);
  size_t width = term_width(o->fd);
  fpm_buf_reset(s);
  fpm_buf_puts(s, "\033[H");
  time_t now = time(NULL);
  struct tm tm;
  char when[32] = "";
  if (gmtime_r(&now, &tm) != NULL)
    strftime(when, sizeof when, "%H:%M:%S UTC", &tm);
  fpm_buf_printf(&l, "fpmstat --watch %gs  %s  (Ctrl-C quits)", o->interval_s,
                 when);
  put_line(s, &l, width);
  put_line(s, &l, width);
  for (size_t i = 0; i < n; i++) {
    if (items[i].m != NULL) {
      draw_pool(s, &l, width, o, &items[i], dt_s);
      continue;
    }
    fpm_buf_puts(&l, "\033[1m");
    fpm_out_text_str(&l, items[i].target, 200);
    fpm_buf_puts(&l, "\033[0m  ERROR ");
    fpm_out_text_str(&l, items[i].res->message, 600);
    put_line(s, &l, width);
    put_line(s, &l, width);
  }
  fpm_buf_puts(s, "\033[J");
  fpm_buf_free(&l);
}

struct run {
  const struct fpm_watch_opts *o;
  fpm_fetcher *const *fs;
  const char *const *names;
  size_t n;
  struct fpm_result *res;
  struct fpm_history *hist;
  struct fpm_metrics *m;
  struct fpm_output_item *items;
  fpm_memcache **mc;       /* o->memory: one per target (NULL: none kept) */
  struct fpm_procmem *mem; /* o->memory: the last read, per target */
  struct sigctx *sc;
  int64_t prev_fetch_ms; /* when the previous frame's fetch began; 0 none */
};

/* One fetch and one frame. Returns 0 to go on, 1 to stop. */
static int frame(struct run *r, struct fpm_buf *screen) {
  int64_t now = fcgi_now_ms();
  double dt_s =
      r->prev_fetch_ms > 0 ? (double)(now - r->prev_fetch_ms) / 1e3 : 0.0;
  r->prev_fetch_ms = now;
  int64_t deadline = now + (int64_t)(r->o->timeout_s * 1000.0);
  fpm_fetch_many(r->fs, r->n, FPM_FETCH_STATUS, deadline, r->sc->cancel,
                 r->res);
  if (atomic_load(&r->sc->stop))
    return 1;
  for (size_t i = 0; i < r->n; i++) {
    r->items[i].target = r->names[i];
    r->items[i].res = &r->res[i];
    r->items[i].m = NULL;
    if (r->res[i].err != FPM_OK) {
      fpm_history_add_requests(&r->hist[i], r->res[i].requests);
      continue;
    }
    struct fpm_model_opts mo;
    memset(&mo, 0, sizeof mo);
    mo.self_marker = r->res[i].marker;
    mo.scrape_tag = "fpmstat=";
    mo.slow_threshold_s = r->o->slow_threshold_s;
    mo.max_children = r->o->max_children;
    mo.own_requests = r->res[i].requests;
    fpm_model_compute(&r->res[i].status, &mo, &r->hist[i], &r->m[i]);
    if (r->o->memory) {
      struct fpm_procmem_opts po = {.pss = r->o->pss,
                                    .cache = r->mc[i],
                                    .rss_every = 1,
                                    .pss_every = FPM_MEMCACHE_PSS_EVERY};
      fpm_procmem_read(&r->res[i].status, &po, &r->mem[i]);
      r->m[i].procmem = &r->mem[i];
    }
    r->items[i].m = &r->m[i];
  }
  draw(screen, r->o, r->items, r->n, dt_s);
  if (screen->oom || write_all(r->o->fd, screen->data, screen->len) != 0)
    return 1;
  /* wait for the next turn, or a signal */
  struct pollfd p = {.fd = r->sc->wake[0], .events = POLLIN};
  int ms = (int)(r->o->interval_s * 1000.0);
  while (poll(&p, 1, ms) < 0 && errno == EINTR)
    ;
  return atomic_load(&r->sc->stop) ? 1 : 0;
}

static int run_loop(struct run *r) {
  struct fpm_buf screen;
  fpm_buf_init(&screen);
  static const char enter[] = "\033[?25l\033[H\033[2J";
  static const char leave[] = "\033[0m\033[?25h\n";
  int ok = write_all(r->o->fd, enter, sizeof enter - 1) == 0;
  while (ok && frame(r, &screen) == 0)
    ;
  (void)write_all(r->o->fd, leave, sizeof leave - 1);
  fpm_buf_free(&screen);
  return 0;
}

/* Block the signals in every thread (the signal thread takes them with
 * sigwait) and make the wake pipe and the cancel handle. */
static int setup(struct sigctx *sc) {
  sigemptyset(&sc->set);
  sigaddset(&sc->set, SIGINT);
  sigaddset(&sc->set, SIGTERM);
  sigaddset(&sc->set, SIGHUP);
  sigaddset(&sc->set, SIGUSR1);
  signal(SIGPIPE, SIG_IGN);
  if (pthread_sigmask(SIG_BLOCK, &sc->set, NULL) != 0 || pipe(sc->wake) != 0)
    return -1;
  sc->cancel = fcgi_cancel_new();
  return sc->cancel != NULL ? 0 : -1;
}

int fpm_watch_run(const struct fpm_watch_opts *o, fpm_fetcher *const *fs,
                  const char *const *names, size_t n) {
  struct sigctx sc;
  memset(&sc, 0, sizeof sc);
  sc.wake[0] = sc.wake[1] = -1;
  struct run r = {o,
                  fs,
                  names,
                  n,
                  calloc(n, sizeof *r.res),
                  calloc(n, sizeof *r.hist),
                  calloc(n, sizeof *r.m),
                  calloc(n, sizeof *r.items),
                  calloc(n, sizeof *r.mc),
                  calloc(n, sizeof *r.mem),
                  &sc,
                  0};
  pthread_t tid;
  int rc = 1;
  if (setup(&sc) != 0) {
    dprintf(STDERR_FILENO, "fpmstat: cannot set up --watch: %s\n",
            strerror(errno));
  } else if (r.res == NULL || r.hist == NULL || r.m == NULL ||
             r.items == NULL || r.mc == NULL || r.mem == NULL ||
             pthread_create(&tid, NULL, sig_thread, &sc) != 0) {
    dprintf(STDERR_FILENO, "fpmstat: cannot start --watch: out of resources\n");
  } else {
    for (size_t i = 0; i < n; i++) {
      fpm_result_init(&r.res[i]);
      if (o->memory)
        r.mc[i] = fpm_memcache_new(); /* NULL: every worker every frame */
    }
    rc = run_loop(&r);
    atomic_store(&sc.stop, 1);
    pthread_kill(tid, SIGUSR1);
    pthread_join(tid, NULL);
  }
  for (size_t i = 0; r.res != NULL && i < n; i++) {
    fpm_result_clear(&r.res[i]);
    if (r.hist != NULL)
      fpm_history_free(&r.hist[i]);
    if (r.mc != NULL)
      fpm_memcache_free(r.mc[i]);
  }
  free(r.res);
  free(r.hist);
  free(r.m);
  free(r.items);
  free(r.mc);
  free(r.mem);
  fcgi_cancel_free(sc.cancel);
  for (int i = 0; i < 2; i++)
    if (sc.wake[i] >= 0)
      close(sc.wake[i]);
  return rc;
}
