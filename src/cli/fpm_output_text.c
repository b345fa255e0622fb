/*
 * fpm_output_text.c: the human-readable summary of one target (and with
 * --full its worker table), plus the small pieces --watch reuses: the
 * slowest running requests and the worker-state bar. Every figure is the
 * model's; strings from FPM are printed with C escapes.
 */
#include "fpm_output.h"
#include "fpm_output_memory.h"
#include "fpm_output_opcache.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LABEL "%-22s"

static void label(struct fpm_buf *b, const char *l) {
  fpm_buf_printf(b, "  " LABEL, l);
}

static void put_duration(struct fpm_buf *b, uint64_t s) {
  uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  if (d > 0)
    fpm_buf_printf(b, "%" PRIu64 "d ", d);
  fpm_buf_printf(b, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, h, m, sec);
}

static void put_bytes(struct fpm_buf *b, double v) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  fpm_buf_printf(b, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static int cmp_dur_desc(const void *a, const void *b, void *ctx) {
  const struct fpm_worker *w = ctx;
  uint64_t x = w[*(const size_t *)a].request_duration_us;
  uint64_t y = w[*(const size_t *)b].request_duration_us;
  return x < y ? 1 : x > y ? -1 : 0;
}

size_t fpm_output_slowest(const struct fpm_output_item *it, size_t *idx,
                          size_t cap) {
  if (it->m == NULL || cap == 0)
    return 0;
  const struct fpm_status *st = &it->res->status;
  long self = fpm_output_self_index(it);
  size_t n = 0;
  size_t *all = malloc((st->n_workers ? st->n_workers : 1) * sizeof *all);
  if (all == NULL)
    return 0;
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    if ((long)i == self || !(w->present & (1u << FPM_W_STATE)) ||
        w->state == FPM_STATE_IDLE)
      continue;
    all[n++] = i;
  }
  qsort_r(all, n, sizeof *all, cmp_dur_desc, st->workers);
  if (n > cap)
    n = cap;
  memcpy(idx, all, n * sizeof *idx);
  free(all);
  return n;
}

void fpm_output_state_bar(struct fpm_buf *b, const struct fpm_metrics *m,
                          size_t width) {
  static const char sym[FPM_STATE__COUNT] = {'.', 'H', 'G', 'R', 'E', 'F', '?'};
  uint64_t total = 0;
  for (int s = 0; s < FPM_STATE__COUNT; s++)
    total += m->by_state[s];
  if (!m->from_list || total == 0 || width == 0)
    return;
  size_t used = 0;
  fpm_buf_putc(b, '[');
  for (int s = FPM_STATE__COUNT - 1; s >= 0; s--) {
    /* active states first, idle last */
    int st = s == FPM_STATE__COUNT - 1 ? FPM_STATE_UNKNOWN : s;
    if (st == FPM_STATE_IDLE)
      continue;
    size_t k = (size_t)((m->by_state[st] * width + total - 1) / total);
    for (size_t i = 0; i < k && used < width; i++, used++)
      fpm_buf_putc(b, sym[st]);
  }
  while (used++ < width)
    fpm_buf_putc(b, sym[FPM_STATE_IDLE]);
  fpm_buf_putc(b, ']');
}

static void text_counts(struct fpm_buf *b, const struct fpm_output_item *it) {
  const struct fpm_metrics *m = it->m;
  label(b, "processes:");
  if (!m->have_counts) {
    fpm_buf_puts(b, "n/a\n");
    return;
  }
  fpm_buf_printf(
      b, "active %" PRIu64 ", idle %" PRIu64 ", total %" PRIu64 " (%s)\n",
      m->active, m->idle, m->total,
      m->self_found  ? "our own request not counted as active"
      : m->from_list ? "our own request not in the list: counts as printed"
                     : "FPM's counts, our own request included");
  if (m->max_children > 0 || m->utilisation >= 0) {
    label(b, "utilisation:");
    if (m->utilisation >= 0)
      fpm_buf_printf(b, "%.1f%% of total", m->utilisation);
    if (m->utilisation_max_children >= 0)
      fpm_buf_printf(b, "%s%.1f%% of pm.max_children %" PRIu64,
                     m->utilisation >= 0 ? ", " : "",
                     m->utilisation_max_children, m->max_children);
    fpm_buf_putc(b, '\n');
  }
  if (m->from_list) {
    label(b, "worker states:");
    for (int s = 0; s < FPM_STATE__COUNT; s++)
      if (m->by_state[s] > 0 || s == FPM_STATE_IDLE || s == FPM_STATE_RUNNING)
        fpm_buf_printf(b, "%s%s %" PRIu32, s ? ", " : "",
                       fpm_state_name((enum fpm_state)s), m->by_state[s]);
    fpm_buf_puts(b, "  ");
    fpm_output_state_bar(b, m, 20);
    fpm_buf_putc(b, '\n');
  }
}

static void text_stats(struct fpm_buf *b, const char *l,
                       const struct fpm_stats *s, int bytes) {
  if (s->n == 0)
    return;
  label(b, l);
  const double v[] = {s->min, s->avg, s->p50, s->p95, s->p99, s->max};
  const char *const k[] = {"min", "avg", "p50", "p95", "p99", "max"};
  for (int i = 0; i < 6; i++) {
    fpm_buf_printf(b, "%s%s ", i ? ", " : "", k[i]);
    if (bytes)
      put_bytes(b, v[i]);
    else
      fpm_buf_printf(b, "%.3f", v[i]);
  }
  fpm_buf_printf(b, " (%" PRIu64 " idle workers)\n", s->n);
}

static void text_slowest(struct fpm_buf *b, const struct fpm_output_opts *o,
                         const struct fpm_output_item *it) {
  const struct fpm_metrics *m = it->m;
  if (!m->from_list)
    return;
  label(b, "running requests:");
  fpm_buf_printf(b, "oldest %.3f s, %" PRIu64 " over the slow threshold\n",
                 m->oldest_running_s, m->running_over_threshold);
  size_t cap = o->top_n ? o->top_n : 5, idx[64];
  if (cap > 64)
    cap = 64;
  size_t n = fpm_output_slowest(it, idx, cap);
  for (size_t i = 0; i < n; i++) {
    const struct fpm_worker *w = &it->res->status.workers[idx[i]];
    fpm_buf_printf(b, "    %9.3f s  pid %-7" PRId64 " ",
                   (double)w->request_duration_us / 1e6, w->pid);
    fpm_out_text_str(b, w->method, 16);
    fpm_buf_putc(b, ' ');
    fpm_out_text_str(b, w->uri, 120);
    fpm_buf_puts(b, "  script ");
    fpm_out_text_str(b, w->script, 120);
    fpm_buf_putc(b, '\n');
  }
}

static void text_workers(struct fpm_buf *b, const struct fpm_output_item *it) {
  const struct fpm_status *st = &it->res->status;
  long self = fpm_output_self_index(it);
  fpm_buf_printf(b, "  %-4s %-8s %-16s %8s %10s %6s %10s  %s\n", "SLOT", "PID",
                 "STATE", "REQS", "DURATION", "CPU%", "MEMORY",
                 "METHOD URI (SCRIPT) USER");
  for (size_t i = 0; i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    char mem[32] = "-";
    if (w->last_request_memory > 0) {
      struct fpm_buf t;
      fpm_buf_init(&t);
      put_bytes(&t, (double)w->last_request_memory);
      snprintf(mem, sizeof mem, "%s", t.data ? t.data : "-");
      fpm_buf_free(&t);
    }
    fpm_buf_printf(b,
                   "%c %-4zu %-8" PRId64 " %-16s %8" PRIu64 " %9.3fs %6.2f "
                   "%10s  ",
                   (long)i == self ? '*' : ' ', i, w->pid,
                   fpm_state_name(w->state), w->requests,
                   (double)w->request_duration_us / 1e6, w->last_request_cpu,
                   mem);
    fpm_out_text_str(b, w->method, 16);
    fpm_buf_putc(b, ' ');
    fpm_out_text_str(b, w->uri, 200);
    fpm_buf_puts(b, " (");
    fpm_out_text_str(b, w->script, 200);
    fpm_buf_puts(b, ") ");
    fpm_out_text_str(b, w->user, 64);
    fpm_buf_putc(b, '\n');
  }
  if (self >= 0)
    fpm_buf_puts(b, "  * our own status request (counted as Idle)\n");
}

/* What accepted conn holds of our own requests (docs/rates.md). */
static void text_accepted_note(struct fpm_buf *b,
                               const struct fpm_output_item *it) {
  const struct fpm_metrics *m = it->m;
  if (m != NULL && m->have_external)
    fpm_buf_printf(b, " (%" PRIu64 " not from this monitor)", m->external);
  else if (it->res->requests > 0)
    fpm_buf_printf(b, " (this scrape's %u included)", it->res->requests);
}

static void text_pool(struct fpm_buf *b, const struct fpm_output_item *it) {
  const struct fpm_status *st = &it->res->status;
  label(b, "pool:");
  fpm_out_text_str(b, st->pool, sizeof st->pool);
  fpm_buf_puts(b, " (");
  fpm_out_text_str(b, st->process_manager, sizeof st->process_manager);
  fpm_buf_puts(b, ")\n");
  if (fpm_status_has(st, FPM_F_START_SINCE)) {
    label(b, "uptime:");
    put_duration(b, st->v[FPM_F_START_SINCE]);
    if (fpm_status_has(st, FPM_F_START_TIME)) {
      time_t t = (time_t)st->v[FPM_F_START_TIME];
      struct tm tm;
      char when[40];
      if (gmtime_r(&t, &tm) != NULL &&
          strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
        fpm_buf_printf(b, " (since %s)", when);
    }
    fpm_buf_putc(b, '\n');
  }
  static const enum fpm_pool_field nums[] = {
      FPM_F_ACCEPTED_CONN, FPM_F_SLOW_REQUESTS, FPM_F_MAX_CHILDREN_REACHED,
      FPM_F_MAX_ACTIVE_PROCESSES};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    if (fpm_status_has(st, nums[i])) {
      char l[40];
      snprintf(l, sizeof l, "%s:", fpm_pool_field_name(nums[i]));
      label(b, l);
      fpm_buf_printf(b, "%" PRIu64, st->v[nums[i]]);
      if (nums[i] == FPM_F_ACCEPTED_CONN)
        text_accepted_note(b, it);
      fpm_buf_putc(b, '\n');
    }
  if (fpm_status_has(st, FPM_F_LISTEN_QUEUE)) {
    label(b, "listen queue:");
    fpm_buf_printf(b, "%" PRIu64, st->v[FPM_F_LISTEN_QUEUE]);
    if (fpm_status_has(st, FPM_F_MAX_LISTEN_QUEUE))
      fpm_buf_printf(b, " (max %" PRIu64, st->v[FPM_F_MAX_LISTEN_QUEUE]);
    if (fpm_status_has(st, FPM_F_LISTEN_QUEUE_LEN))
      fpm_buf_printf(b, "%sbacklog %" PRIu64,
                     fpm_status_has(st, FPM_F_MAX_LISTEN_QUEUE) ? ", " : " (",
                     st->v[FPM_F_LISTEN_QUEUE_LEN]);
    if (fpm_status_has(st, FPM_F_MAX_LISTEN_QUEUE) ||
        fpm_status_has(st, FPM_F_LISTEN_QUEUE_LEN))
      fpm_buf_putc(b, ')');
    fpm_buf_putc(b, '\n');
  }
}

int fpm_output_text(const struct fpm_output_opts *o,
                    const struct fpm_output_item *it, struct fpm_buf *out) {
  fpm_buf_puts(out, "== ");
  fpm_out_text_str(out, it->target != NULL ? it->target : "", 512);
  fpm_buf_puts(out, " ==\n");
  if (it->m == NULL) {
    label(out, "error:");
    fpm_out_text_str(out, it->res != NULL ? it->res->message : "", 1024);
    fpm_buf_putc(out, '\n');
    if (it->opcache != NULL)
      fpm_output_opcache_text(out, it->opcache, it->master);
    return out->oom ? -1 : 0;
  }
  text_pool(out, it);
  text_counts(out, it);
  text_stats(out, "request duration (s):", &it->m->duration_s, 0);
  text_stats(out, "last request cpu (%):", &it->m->cpu_pct, 0);
  text_stats(out, "last request memory:", &it->m->memory_bytes, 1);
  fpm_output_text_memory(out, it->m);
  text_slowest(out, o, it);
  const struct fpm_status *st = &it->res->status;
  if (st->repaired || st->dropped || st->phantom ||
      it->res->fell_back_to_text) {
    label(out, "parsing:");
    fpm_buf_printf(
        out, "%u entries repaired, %u dropped, %u phantom slots left out%s\n",
        st->repaired, st->dropped, st->phantom,
        it->res->fell_back_to_text ? "; JSON beyond repair, text format used"
                                   : "");
  }
  if (it->opcache != NULL)
    fpm_output_opcache_text(out, it->opcache, it->master);
  if (o->full && st->has_workers)
    text_workers(out, it);
  return out->oom ? -1 : 0;
}
