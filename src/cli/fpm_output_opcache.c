/*
 * fpm_output_opcache.c: OPcache figures (fpm_opcache.h) in fpmstat's
 * formats. Names come from the OPcache metric table: JSON keys and influx
 * fields are its keys, Prometheus families its prom_name, collectd
 * identifiers (PUTVAL, Graphite) plugin "phpfpm_opcache", the master's
 * name as plugin instance (as the collectd plugin does; the reporting pool
 * when no master is known: plain targets), and its cd_type and
 * cd_type_instance. Influx and Prometheus add a master tag / label when it
 * is known.
 */
#include "fpm_output_opcache.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void put_num(struct fpm_buf *b, double v) {
  char s[32];
  size_t n = fpm_out_num(s, sizeof s, v);
  fpm_buf_add(b, s, n);
}

/* The value as the collectd types take it: counters as integers. */
static void put_value(struct fpm_buf *b, const struct fpm_opcache_def *d,
                      double v) {
  v *= d->cd_scale;
  if (d->counter)
    fpm_buf_printf(b, "%" PRIu64, v > 0 ? (uint64_t)v : 0);
  else
    put_num(b, v);
}

static const struct fpm_opcache *ok_oc(const struct fpm_output_item *it) {
  if (it->opcache == NULL || it->opcache->err != FPM_OK)
    return NULL;
  return &it->opcache->oc;
}

/* The pool that ran the script: its status name, else the target. */
static const char *pool_of(const struct fpm_output_item *it) {
  if (it->m != NULL && it->res != NULL && it->res->status.pool[0] != '\0')
    return it->res->status.pool;
  return it->target != NULL && it->target[0] != '\0' ? it->target : "_";
}

/* The collectd plugin instance: the master (--discover), else the pool. */
static const char *instance_of(const struct fpm_output_item *it) {
  return it->master != NULL && it->master[0] != '\0' ? it->master : pool_of(it);
}

static const char *host_of(const struct fpm_output_opts *o) {
  return o->host != NULL && o->host[0] != '\0' ? o->host : "localhost";
}

/* ---------------------------------------------------------------- json */

void fpm_output_opcache_json(struct fpm_buf *b,
                             const struct fpm_opcache_result *r,
                             const char *master) {
  fpm_buf_putc(b, '{');
  if (master != NULL) {
    fpm_buf_puts(b, "\"master\":");
    fpm_out_json_str(b, master, strlen(master));
    fpm_buf_putc(b, ',');
  }
  if (r->err != FPM_OK) {
    fpm_buf_printf(b, "\"ok\":false,\"code\":%d,\"error\":", (int)r->err);
    fpm_out_json_str(b, r->message, strlen(r->message));
    fpm_buf_putc(b, '}');
    return;
  }
  const struct fpm_opcache *oc = &r->oc;
  fpm_buf_printf(b, "\"ok\":true,\"loaded\":%s,\"enabled\":%s",
                 oc->loaded ? "true" : "false", oc->enabled ? "true" : "false");
  if (!oc->enabled) {
    fpm_buf_puts(b, ",\"reason\":");
    fpm_out_json_str(b, oc->reason, strlen(oc->reason));
  }
  if (oc->master_pid > 0)
    fpm_buf_printf(b, ",\"master_pid\":%" PRId64, oc->master_pid);
  for (int i = 1; i < FPM_OC__COUNT; i++) {
    double v;
    if (!fpm_opcache_value(oc, (enum fpm_opcache_metric)i, &v))
      continue;
    const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
    fpm_buf_printf(b, ",\"%s\":", d->key);
    if (strcmp(d->unit, "bool") == 0)
      fpm_buf_puts(b, v != 0 ? "true" : "false");
    else
      put_num(b, v);
  }
  if (oc->enabled)
    fpm_buf_printf(
        b,
        ",\"jit\":%s,\"start_time\":%" PRId64 ",\"last_restart_time\":%" PRId64,
        oc->jit_on ? "true" : "false", oc->start_time, oc->last_restart_time);
  fpm_buf_printf(b, ",\"duration_s\":%.6f}", r->duration_s);
}

/* ---------------------------------------------------------------- text */

static void mib(struct fpm_buf *b, uint64_t v) {
  fpm_buf_printf(b, "%.1f MiB", (double)v / 1048576.0);
}

void fpm_output_opcache_text(struct fpm_buf *b,
                             const struct fpm_opcache_result *r,
                             const char *master) {
  if (master != NULL) {
    fpm_buf_printf(b, "  %-22s", "opcache of master:");
    fpm_out_text_str(b, master, 128);
    fpm_buf_putc(b, '\n');
  }
  fpm_buf_printf(b, "  %-22s", "opcache:");
  if (r->err != FPM_OK) {
    fpm_buf_puts(b, "error: ");
    fpm_out_text_str(b, r->message, 1024);
    fpm_buf_putc(b, '\n');
    return;
  }
  const struct fpm_opcache *oc = &r->oc;
  if (!oc->enabled) {
    fpm_buf_puts(b, "disabled (");
    fpm_out_text_str(b, oc->reason, 64);
    fpm_buf_puts(b, ")\n");
    return;
  }
  fpm_buf_printf(
      b, "enabled, %" PRIu64 " hits, %" PRIu64 " misses (hit ratio %.1f%%)%s\n",
      oc->hits, oc->misses, 100.0 * fpm_opcache_hit_ratio(oc),
      oc->cache_full ? ", CACHE FULL" : "");
  fpm_buf_printf(b, "  %-22s", "opcache memory:");
  mib(b, oc->memory_used);
  fpm_buf_puts(b, " used, ");
  mib(b, oc->memory_free);
  fpm_buf_puts(b, " free, ");
  mib(b, oc->memory_wasted);
  fpm_buf_puts(b, " wasted\n");
  fpm_buf_printf(
      b, "  %-22s%" PRIu64 " scripts, %" PRIu64 " of %" PRIu64 " keys\n",
      "opcache cache:", oc->cached_scripts, oc->cached_keys,
      oc->max_cached_keys);
  fpm_buf_printf(b, "  %-22s", "opcache strings:");
  mib(b, oc->interned_strings_used);
  fpm_buf_puts(b, " used, ");
  mib(b, oc->interned_strings_free);
  fpm_buf_puts(b, " free\n");
  fpm_buf_printf(
      b, "  %-22s%" PRIu64 " oom, %" PRIu64 " hash, %" PRIu64 " manual\n",
      "opcache restarts:", oc->oom_restarts, oc->hash_restarts,
      oc->manual_restarts);
  if (oc->jit_on) {
    fpm_buf_printf(b, "  %-22s", "opcache jit buffer:");
    mib(b, oc->jit_buffer_size - (oc->jit_buffer_free < oc->jit_buffer_size
                                      ? oc->jit_buffer_free
                                      : oc->jit_buffer_size));
    fpm_buf_puts(b, " used, ");
    mib(b, oc->jit_buffer_free);
    fpm_buf_puts(b, " free\n");
  }
}

/* -------------------------------------------------- putval and graphite */

void fpm_output_opcache_putval(const struct fpm_output_opts *o,
                               const struct fpm_output_item *it,
                               struct fpm_buf *out) {
  const struct fpm_opcache *oc = ok_oc(it);
  for (int i = 0; oc != NULL && i < FPM_OC__COUNT; i++) {
    double v;
    if (!fpm_opcache_value(oc, (enum fpm_opcache_metric)i, &v))
      continue;
    const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
    fpm_out_putval_id(out, host_of(o), "phpfpm_opcache", instance_of(it),
                      d->cd_type, d->cd_type_instance, o->interval_s);
    put_value(out, d, v);
    fpm_buf_putc(out, '\n');
  }
}

void fpm_output_opcache_graphite(const struct fpm_output_opts *o,
                                 const struct fpm_output_item *it,
                                 struct fpm_buf *out) {
  const struct fpm_opcache *oc = ok_oc(it);
  for (int i = 0; oc != NULL && i < FPM_OC__COUNT; i++) {
    double v;
    if (!fpm_opcache_value(oc, (enum fpm_opcache_metric)i, &v))
      continue;
    const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
    fpm_out_graphite_id(out, o->graphite_prefix, host_of(o), "phpfpm_opcache",
                        instance_of(it), d->cd_type, d->cd_type_instance);
    put_value(out, d, v);
    fpm_buf_printf(out, " %" PRId64 "\n", o->now_s);
  }
}

/* -------------------------------------------------------------- influx */

void fpm_output_opcache_influx(const struct fpm_output_opts *o,
                               const struct fpm_output_item *it,
                               struct fpm_buf *out) {
  const struct fpm_opcache *oc = ok_oc(it);
  if (oc == NULL)
    return;
  if (it->master != NULL && it->master[0] != '\0') {
    fpm_buf_puts(out, "phpfpm_opcache,master=");
    fpm_out_influx_tag(out, it->master);
    fpm_buf_puts(out, ",pool=");
  } else {
    fpm_buf_puts(out, "phpfpm_opcache,pool=");
  }
  fpm_out_influx_tag(out, pool_of(it));
  if (it->target != NULL && it->target[0] != '\0') {
    fpm_buf_puts(out, ",url=");
    fpm_out_influx_tag(out, it->target);
  }
  int nf = 0;
  for (int i = 0; i < FPM_OC__COUNT; i++) {
    double v;
    if (!fpm_opcache_value(oc, (enum fpm_opcache_metric)i, &v))
      continue;
    const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
    fpm_buf_printf(out, "%c%s=", nf++ ? ',' : ' ', d->key);
    if (strcmp(d->unit, "ratio") == 0)
      put_num(out, v);
    else
      fpm_buf_printf(out, "%" PRIu64 "i", v > 0 ? (uint64_t)v : 0);
  }
  fpm_buf_printf(out, " %" PRId64 "\n", o->now_ns);
}

/* ---------------------------------------------------------- prometheus */

void fpm_output_opcache_prometheus(const struct fpm_output_opts *o,
                                   const struct fpm_output_item *items,
                                   size_t n, struct fpm_buf *out) {
  (void)o;
  for (int f = 0; f < FPM_OC__COUNT; f++) {
    const struct fpm_opcache_def *d = fpm_opcache_def_get(f);
    int header = 0;
    for (size_t i = 0; i < n; i++) {
      const struct fpm_opcache *oc = ok_oc(&items[i]);
      double v;
      if (oc == NULL || !fpm_opcache_value(oc, (enum fpm_opcache_metric)f, &v))
        continue;
      if (!header) {
        fpm_buf_printf(out, "# HELP %s OPcache: %s.\n# TYPE %s %s\n",
                       d->prom_name, d->help, d->prom_name,
                       d->counter ? "counter" : "gauge");
        header = 1;
      }
      fpm_buf_printf(out, "%s{", d->prom_name);
      if (items[i].master != NULL && items[i].master[0] != '\0') {
        fpm_buf_puts(out, "master=\"");
        fpm_out_prom_label(out, items[i].master);
        fpm_buf_puts(out, "\",");
      }
      fpm_buf_puts(out, "pool=\"");
      fpm_out_prom_label(out, pool_of(&items[i]));
      fpm_buf_puts(out, "\",scrape_uri=\"");
      fpm_out_prom_label(out, items[i].target != NULL ? items[i].target : "");
      fpm_buf_puts(out, "\"} ");
      put_num(out, v);
      fpm_buf_putc(out, '\n');
    }
  }
}
