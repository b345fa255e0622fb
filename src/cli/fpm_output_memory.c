/*
 * fpm_output_memory.c: the worker-memory line of the text format, the
 * "memory" object of the json format and the --advise report (text and
 * json). Numbers come from fpm_procmem and fpm_advise; strings that come
 * from outside (targets, pool names, reasons naming process titles) are
 * escaped per format.
 */
#include "fpm_output_memory.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LABEL "  %-22s"

void fpm_out_bytes(struct fpm_buf *b, double v) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  fpm_buf_printf(b, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void json_str(struct fpm_buf *b, const char *s) {
  if (s == NULL)
    fpm_buf_puts(b, "null");
  else
    fpm_out_json_str(b, s, strlen(s));
}

/* sep"key":v, or sep"key":null when v is not known. */
static void json_opt_u64(struct fpm_buf *b, const char *sep, const char *key,
                         int have, uint64_t v) {
  fpm_buf_printf(b, "%s\"%s\":", sep, key);
  if (have)
    fpm_buf_printf(b, "%" PRIu64, v);
  else
    fpm_buf_puts(b, "null");
}

/* ---------------------------------------------------------- memory */

void fpm_output_text_memory(struct fpm_buf *b, const struct fpm_metrics *m) {
  const struct fpm_procmem *p = m->procmem;
  if (p == NULL || p->state == FPM_PROCMEM_UNREAD)
    return;
  fpm_buf_printf(b, LABEL, "worker memory:");
  if (p->state != FPM_PROCMEM_LOCAL) {
    fpm_buf_puts(b, p->state == FPM_PROCMEM_NOT_LOCAL ? "not local: "
                                                      : "not read: ");
    fpm_out_text_str(b, p->reason, sizeof p->reason);
    fpm_buf_putc(b, '\n');
    return;
  }
  fpm_buf_puts(b, "RSS total ");
  fpm_out_bytes(b, (double)p->rss.total);
  fpm_buf_puts(b, ", p50 ");
  fpm_out_bytes(b, (double)p->rss.p50);
  fpm_buf_puts(b, ", max ");
  fpm_out_bytes(b, (double)p->rss.max);
  if (p->pss_known) {
    fpm_buf_puts(b, "; PSS total ");
    fpm_out_bytes(b, (double)p->pss.total);
  } else if (p->pss_read) {
    fpm_buf_puts(b, "; PSS unknown (smaps_rollup not readable)");
  }
  fpm_buf_printf(b, " (%" PRIu64 " worker%s", p->rss.n,
                 p->rss.n == 1 ? "" : "s");
  if (p->gone > 0)
    fpm_buf_printf(b, ", %" PRIu64 " exited before being read", p->gone);
  fpm_buf_puts(b, ")\n");
}

void fpm_output_json_memory(struct fpm_buf *b, const struct fpm_procmem *p) {
  if (p == NULL || p->state == FPM_PROCMEM_UNREAD) {
    fpm_buf_puts(b, "null");
    return;
  }
  if (p->state != FPM_PROCMEM_LOCAL) {
    fpm_buf_printf(b, "{\"local\":%s,\"reason\":",
                   p->state == FPM_PROCMEM_NOT_LOCAL ? "false" : "null");
    json_str(b, p->reason);
    fpm_buf_putc(b, '}');
    return;
  }
  fpm_buf_printf(b,
                 "{\"local\":true,\"workers\":%" PRIu64 ",\"gone\":%" PRIu64
                 ",\"master_pid\":%" PRId64 ",\"rss_total\":%" PRIu64
                 ",\"rss_p50\":%" PRIu64 ",\"rss_p95\":%" PRIu64
                 ",\"rss_max\":%" PRIu64,
                 p->rss.n, p->gone, p->master_pid, p->rss.total, p->rss.p50,
                 p->rss.p95, p->rss.max);
  if (p->pss_known)
    fpm_buf_printf(b,
                   ",\"pss_total\":%" PRIu64 ",\"pss_p50\":%" PRIu64
                   ",\"pss_p95\":%" PRIu64 ",\"pss_max\":%" PRIu64,
                   p->pss.total, p->pss.p50, p->pss.p95, p->pss.max);
  else
    fpm_buf_puts(b, ",\"pss_total\":null,\"pss_p50\":null,\"pss_p95\":null,"
                    "\"pss_max\":null");
  fpm_buf_printf(b, ",\"pss\":\"%s\"}",
                 p->pss_known  ? "read"
                 : p->pss_read ? "unreadable"
                               : "not asked");
}

/* ---------------------------------------------------------- advise */

static const char *status_key(enum fpm_advice_status s) {
  switch (s) {
  case FPM_ADVICE_OK:
    return "ok";
  case FPM_ADVICE_NO_MEMORY:
    return "no_memory";
  case FPM_ADVICE_NO_WORKERS:
    return "no_workers";
  case FPM_ADVICE_NO_PSS:
    return "no_pss";
  case FPM_ADVICE_NO_MEMAVAILABLE:
    return "no_memavailable";
  }
  return "unknown";
}

static const char *fit_key(enum fpm_advice_fit f) {
  return f == FPM_FIT_FITS ? "fits" : f == FPM_FIT_OVER ? "over" : "unknown";
}

/* What the advice rests on, in one sentence. */
static void basis_text(struct fpm_buf *b, const struct fpm_advice *a) {
  fpm_buf_puts(b, "one sample, now");
  if (a->workers == 0)
    return;
  fpm_buf_printf(b,
                 ", of %" PRIu64 " worker%s with %.1f requests each on "
                 "average",
                 a->workers, a->workers == 1 ? "" : "s",
                 a->requests_per_worker);
  if (a->cold)
    fpm_buf_printf(b,
                   "; a cold pool (fewer than %d workers or %d requests "
                   "per worker): workers grow as they serve requests, so "
                   "measure again under real load before acting on it",
                   FPM_ADVISE_COLD_WORKERS, FPM_ADVISE_COLD_REQUESTS);
  fpm_buf_puts(b, "; MemAvailable is shared with every other pool and "
                  "process: the figure is for this pool alone");
}

static void evidence_text(struct fpm_buf *b, const struct fpm_advice *a) {
  int first = 1;
#define SEP (first ? (first = 0, "") : ", ")
  if (a->have_listen_queue)
    fpm_buf_printf(b, "%slisten queue %" PRIu64, SEP, a->listen_queue);
  if (a->have_max_listen_queue)
    fpm_buf_printf(b, "%smax listen queue %" PRIu64, SEP, a->max_listen_queue);
  if (a->have_reached)
    fpm_buf_printf(b, "%smax children reached %" PRIu64, SEP,
                   a->max_children_reached);
  if (a->have_active) {
    fpm_buf_printf(b, "%sactive %" PRIu64, SEP, a->active);
    if (a->max_children > 0)
      fpm_buf_printf(b, " of %" PRIu64 "%s", a->max_children,
                     a->active_at_max ? " (at pm.max_children)" : "");
  }
  if (a->have_max_active) {
    fpm_buf_printf(b, "%smax active %" PRIu64, SEP, a->max_active);
    if (a->max_active_at_max)
      fpm_buf_puts(b, " (hit pm.max_children since start)");
  }
#undef SEP
  fpm_buf_puts(b, a->needs_more ? ": the pool has run out of workers or "
                                  "queued connections"
                                : ": no sign the pool needs more workers");
}

static void verdict_text(struct fpm_buf *b, const struct fpm_advice *a) {
  if (a->fit == FPM_FIT_UNKNOWN) {
    fpm_buf_printf(b,
                   "pm.max_children unknown; up to %" PRIu64
                   " workers of this size fit",
                   a->fits);
    return;
  }
  if (a->fit == FPM_FIT_FITS) {
    fpm_buf_printf(b,
                   "pm.max_children %" PRIu64 " fits (up to %" PRIu64
                   " workers of this size would)",
                   a->max_children, a->fits);
    if (a->needs_more)
      fpm_buf_printf(b, "; raising it up to %" PRIu64 " fits in memory",
                     a->fits);
    return;
  }
  fpm_buf_printf(b,
                 "pm.max_children %" PRIu64 " does not fit: %" PRIu64
                 " workers of this size need ",
                 a->max_children, a->max_children);
  fpm_out_bytes(b, (double)a->max_children * (double)a->pss_p95);
  fpm_buf_puts(b, ", more than the ");
  fpm_out_bytes(b, (double)a->usable);
  fpm_buf_printf(b, " usable; at most %" PRIu64 " fit", a->fits);
}

/* The evidence and the basis, with or without figures. */
static void advise_tail(struct fpm_buf *b, const struct fpm_advice *a) {
  fpm_buf_printf(b, LABEL, "needs more workers?:");
  evidence_text(b, a);
  fpm_buf_putc(b, '\n');
  fpm_buf_printf(b, LABEL, "basis:");
  basis_text(b, a);
  fpm_buf_putc(b, '\n');
}

static void advise_text(const struct fpm_advise_opts *o,
                        const struct fpm_advise_item *ai, struct fpm_buf *b) {
  const struct fpm_output_item *it = ai->it;
  fpm_buf_puts(b, "== ");
  fpm_out_text_str(b, it->target != NULL ? it->target : "", 512);
  fpm_buf_puts(b, " ==\n");
  if (it->m == NULL) {
    fpm_buf_printf(b, LABEL, "error:");
    fpm_out_text_str(b, it->res != NULL ? it->res->message : "", 1024);
    fpm_buf_putc(b, '\n');
    return;
  }
  const struct fpm_status *st = it->m->st;
  struct fpm_advise_in in = {it->m,
                             it->m->procmem,
                             o->have_mem_available,
                             o->mem_available,
                             ai->max_children,
                             o->headroom_pct};
  struct fpm_advice a;
  fpm_advise(&in, &a);
  fpm_buf_printf(b, LABEL, "pool:");
  fpm_out_text_str(b, st->pool, sizeof st->pool);
  fpm_buf_puts(b, " (");
  fpm_out_text_str(b, st->process_manager, sizeof st->process_manager);
  fpm_buf_puts(b, ")\n");
  fpm_buf_printf(b, LABEL, "pm.max_children:");
  if (ai->max_children > 0) {
    fpm_buf_printf(b, "%" PRIu64, ai->max_children);
    if (ai->max_children_from != NULL) {
      fpm_buf_puts(b, " (");
      fpm_out_text_str(b, ai->max_children_from, 600);
      fpm_buf_putc(b, ')');
    }
  } else {
    fpm_buf_puts(b, "unknown (use --discover, or --max-children N)");
  }
  fpm_buf_putc(b, '\n');
  if (a.status != FPM_ADVICE_OK) {
    fpm_buf_printf(b, LABEL, "advice:");
    fpm_buf_puts(b, "none: ");
    fpm_out_text_str(b, a.why, sizeof a.why);
    fpm_buf_putc(b, '\n');
    advise_tail(b, &a);
    return;
  }
  fpm_buf_printf(b, LABEL, "worker size:");
  fpm_buf_puts(b, "PSS p95 ");
  fpm_out_bytes(b, (double)a.pss_p95);
  fpm_buf_printf(b, " over %" PRIu64 " worker%s\n", a.workers,
                 a.workers == 1 ? "" : "s");
  fpm_buf_printf(b, LABEL, "memory for the pool:");
  fpm_out_bytes(b, (double)a.budget);
  fpm_buf_puts(b, " = MemAvailable ");
  fpm_out_bytes(b, (double)a.mem_available);
  fpm_buf_puts(b, " + ");
  fpm_out_bytes(b, (double)a.pool_pss);
  fpm_buf_puts(b, " its workers hold now\n");
  fpm_buf_printf(b, LABEL, "fits:");
  fpm_buf_printf(b, "%" PRIu64 " workers with %g%% headroom (", a.fits,
                 a.headroom_pct);
  fpm_out_bytes(b, (double)a.usable);
  fpm_buf_puts(b, " / ");
  fpm_out_bytes(b, (double)a.pss_p95);
  fpm_buf_puts(b, ")\n");
  fpm_buf_printf(b, LABEL, "verdict:");
  verdict_text(b, &a);
  fpm_buf_putc(b, '\n');
  advise_tail(b, &a);
}

static void json_evidence(struct fpm_buf *b, const struct fpm_advice *a) {
  json_opt_u64(b, ",\"evidence\":{", "listen_queue", a->have_listen_queue,
               a->listen_queue);
  json_opt_u64(b, ",", "max_listen_queue", a->have_max_listen_queue,
               a->max_listen_queue);
  json_opt_u64(b, ",", "max_children_reached", a->have_reached,
               a->max_children_reached);
  json_opt_u64(b, ",", "active", a->have_active, a->active);
  json_opt_u64(b, ",", "max_active", a->have_max_active, a->max_active);
  fpm_buf_printf(b,
                 ",\"active_at_max_children\":%s,"
                 "\"max_active_at_max_children\":%s,\"needs_more\":%s}",
                 a->active_at_max ? "true" : "false",
                 a->max_active_at_max ? "true" : "false",
                 a->needs_more ? "true" : "false");
}

static void advise_json(const struct fpm_advise_opts *o,
                        const struct fpm_advise_item *ai, struct fpm_buf *b) {
  const struct fpm_output_item *it = ai->it;
  fpm_buf_puts(b, "{\"target\":");
  json_str(b, it->target != NULL ? it->target : "");
  if (it->m == NULL) {
    fpm_buf_puts(b, ",\"ok\":false,\"error\":");
    json_str(b, it->res != NULL ? it->res->message : "");
    fpm_buf_puts(b, "}\n");
    return;
  }
  struct fpm_advise_in in = {it->m,
                             it->m->procmem,
                             o->have_mem_available,
                             o->mem_available,
                             ai->max_children,
                             o->headroom_pct};
  struct fpm_advice a;
  fpm_advise(&in, &a);
  const struct fpm_status *st = it->m->st;
  fpm_buf_puts(b, ",\"ok\":true,\"pool\":");
  json_str(b, fpm_status_has(st, FPM_F_POOL) ? st->pool : NULL);
  fpm_buf_printf(
      b, ",\"advice\":{\"status\":\"%s\",\"why\":", status_key(a.status));
  json_str(b, a.status == FPM_ADVICE_OK ? NULL : a.why);
  json_opt_u64(b, ",", "max_children", ai->max_children > 0, ai->max_children);
  fpm_buf_puts(b, ",\"max_children_from\":");
  json_str(b, ai->max_children > 0 ? ai->max_children_from : NULL);
  if (a.status == FPM_ADVICE_OK)
    fpm_buf_printf(b,
                   ",\"workers\":%" PRIu64 ",\"pss_p95\":%" PRIu64
                   ",\"pool_pss\":%" PRIu64 ",\"mem_available\":%" PRIu64
                   ",\"budget\":%" PRIu64 ",\"headroom_pct\":%g"
                   ",\"usable\":%" PRIu64 ",\"fits\":%" PRIu64
                   ",\"fit\":\"%s\"",
                   a.workers, a.pss_p95, a.pool_pss, a.mem_available, a.budget,
                   a.headroom_pct, a.usable, a.fits, fit_key(a.fit));
  json_evidence(b, &a);
  fpm_buf_printf(b,
                 ",\"basis\":{\"samples\":1,\"cold\":%s,\"workers\":%" PRIu64
                 ",\"requests_per_worker\":%.2f,\"text\":",
                 a.cold ? "true" : "false", a.workers, a.requests_per_worker);
  struct fpm_buf t;
  fpm_buf_init(&t);
  basis_text(&t, &a);
  json_str(b, t.data != NULL ? t.data : "");
  if (t.oom)
    b->oom = 1;
  fpm_buf_free(&t);
  fpm_buf_puts(b, "}}}\n");
}

int fpm_output_advise(const struct fpm_advise_opts *o,
                      const struct fpm_advise_item *items, size_t n,
                      struct fpm_buf *out) {
  for (size_t i = 0; i < n; i++) {
    if (o->format == FPM_OUT_JSON) {
      advise_json(o, &items[i], out);
    } else {
      if (i > 0)
        fpm_buf_putc(out, '\n');
      advise_text(o, &items[i], out);
    }
  }
  return out->oom ? -1 : 0;
}
