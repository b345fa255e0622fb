/*
 * test_fpm_metrics.c: the metric definition table and fpm_metrics_samples:
 * collectd types and type instances (checked against the documented table
 * and against collectd's types.db), presence rules, stable order and
 * counts, slot caps, name hygiene and the sizing call.
 */
#include "fpm_model.h"
#include "fpm_procmem.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TYPES_DB "/usr/share/collectd/types.db"
#define MARKER "fpmstat=0badc0de"
#define WALL                                                                   \
  (1u << FPM_W_PID | 1u << FPM_W_STATE | 1u << FPM_W_START_TIME |              \
   1u << FPM_W_REQUESTS | 1u << FPM_W_REQUEST_DURATION |                       \
   1u << FPM_W_REQUEST_URI | 1u << FPM_W_LAST_REQUEST_CPU |                    \
   1u << FPM_W_LAST_REQUEST_MEMORY)
#define MAXS 512

/* The documented identifiers (fpm_model.h, docs/metrics.md):
 * collectd "type-type_instance", with <x> standing for the family member. */
static const struct {
  enum fpm_metric_id id;
  const char *ident;
  enum fpm_kind kind;
} expected[FPM_M__COUNT] = {
    {FPM_M_UP, "bool-up", FPM_KIND_GAUGE},
    {FPM_M_ACCEPTED, "total_requests-accepted", FPM_KIND_COUNTER},
    {FPM_M_SLOW, "total_requests-slow", FPM_KIND_COUNTER},
    {FPM_M_MAX_CHILDREN_REACHED, "total_events-max_children_reached",
     FPM_KIND_COUNTER},
    {FPM_M_LISTEN_QUEUE, "queue_length-listen", FPM_KIND_GAUGE},
    {FPM_M_MAX_LISTEN_QUEUE, "queue_length-max_listen", FPM_KIND_GAUGE},
    {FPM_M_LISTEN_QUEUE_LEN, "queue_length-listen_len", FPM_KIND_GAUGE},
    {FPM_M_ACTIVE, "vs_processes-active", FPM_KIND_GAUGE},
    {FPM_M_IDLE, "vs_processes-idle", FPM_KIND_GAUGE},
    {FPM_M_TOTAL, "vs_processes-total", FPM_KIND_GAUGE},
    {FPM_M_MAX_ACTIVE, "vs_processes-max_active", FPM_KIND_GAUGE},
    {FPM_M_MAX_CHILDREN, "vs_processes-max_children", FPM_KIND_GAUGE},
    {FPM_M_START_SINCE, "uptime-", FPM_KIND_GAUGE},
    {FPM_M_MEMORY_PEAK, "memory-peak", FPM_KIND_GAUGE},
    {FPM_M_UTILISATION, "percent-utilisation", FPM_KIND_GAUGE},
    {FPM_M_UTILISATION_MAX, "percent-utilisation_max_children", FPM_KIND_GAUGE},
    {FPM_M_STATE, "ps_state-<x>", FPM_KIND_GAUGE},
    {FPM_M_DURATION, "duration-request_<x>", FPM_KIND_GAUGE},
    {FPM_M_OLDEST_RUNNING, "duration-oldest_running", FPM_KIND_GAUGE},
    {FPM_M_RUNNING_SLOW, "vs_processes-running_slow", FPM_KIND_GAUGE},
    {FPM_M_CPU, "percent-last_request_cpu_<x>", FPM_KIND_GAUGE},
    {FPM_M_MEMORY, "memory-last_request_<x>", FPM_KIND_GAUGE},
    {FPM_M_MEM_WORKERS, "vs_processes-memory_measured", FPM_KIND_GAUGE},
    {FPM_M_MEM_RSS_TOTAL, "memory-rss_total", FPM_KIND_GAUGE},
    {FPM_M_MEM_RSS_P50, "memory-rss_p50", FPM_KIND_GAUGE},
    {FPM_M_MEM_RSS_MAX, "memory-rss_max", FPM_KIND_GAUGE},
    {FPM_M_MEM_PSS_TOTAL, "memory-pss_total", FPM_KIND_GAUGE},
    {FPM_M_RESTARTS, "total_events-restarts", FPM_KIND_COUNTER},
    {FPM_M_RESPAWNS, "total_events-respawns", FPM_KIND_COUNTER},
    {FPM_M_EXTERNAL, "total_requests-external", FPM_KIND_COUNTER},
    {FPM_M_PARSE_REPAIRED, "objects-parse_repaired", FPM_KIND_GAUGE},
    {FPM_M_PARSE_DROPPED, "objects-parse_dropped", FPM_KIND_GAUGE},
    {FPM_M_PARSE_PHANTOM, "objects-parse_phantom", FPM_KIND_GAUGE},
    {FPM_M_EXTRA, "gauge-<x>", FPM_KIND_GAUGE},
    {FPM_M_SLOT_STATE, "ps_state-slot<x>", FPM_KIND_GAUGE},
    {FPM_M_SLOT_REQUESTS, "total_requests-slot<x>", FPM_KIND_COUNTER},
    {FPM_M_SLOT_DURATION, "duration-slot<x>_request", FPM_KIND_GAUGE},
    {FPM_M_SLOT_CPU, "percent-slot<x>_last_request_cpu", FPM_KIND_GAUGE},
    {FPM_M_SLOT_MEMORY, "memory-slot<x>_last_request", FPM_KIND_GAUGE},
};

/* ---------------------------------------------------------- fixtures */

struct fix {
  struct fpm_status st;
  struct fpm_worker w[16];
  struct fpm_history h;
  struct fpm_metrics m;
};

static void set_field(struct fpm_status *st, enum fpm_pool_field f,
                      uint64_t v) {
  st->present |= 1u << f;
  st->v[f] = v;
}

static void all_pool_fields(struct fpm_status *st) {
  for (int f = FPM_F_START_TIME; f < FPM_F__COUNT; f++)
    set_field(st, (enum fpm_pool_field)f, 1000u + (unsigned)f);
  st->present |= 1u << FPM_F_POOL | 1u << FPM_F_PROCESS_MANAGER;
  set_field(st, FPM_F_ACCEPTED_CONN, 123456789012ULL);
}

/* n workers; states[i] gives each one's state; slot self_at (or -1) is
 * our scrape. */
static void make_fix(struct fix *f, size_t n, const enum fpm_state *states,
                     long self_at) {
  memset(f, 0, sizeof *f);
  snprintf(f->st.pool, sizeof f->st.pool, "www");
  all_pool_fields(&f->st);
  for (size_t i = 0; i < n; i++) {
    struct fpm_worker *w = &f->w[i];
    w->present = WALL;
    w->pid = 100 + (int64_t)i;
    w->state = states[i];
    w->start_time = 1700000000;
    w->requests = 10 + i;
    w->request_duration_us = 1000 * (i + 1);
    w->uri = (long)i == self_at ? "/status?json&full&" MARKER : "/app.php";
    w->method = w->user = w->script = "-";
    if (states[i] == FPM_STATE_IDLE) {
      w->last_request_cpu = 1.5 * (double)(i + 1);
      w->last_request_memory = 2097152;
    }
  }
  f->st.workers = f->w;
  f->st.n_workers = n;
  f->st.has_workers = 1;
  f->st.format = FPM_FORMAT_JSON;
}

static void compute(struct fix *f, uint64_t max_children, int history) {
  struct fpm_model_opts o = {.self_marker = MARKER,
                             .max_children = max_children};
  fpm_model_compute(&f->st, &o, history ? &f->h : NULL, &f->m);
}

static size_t samples(const struct fix *f, enum fpm_worker_detail d,
                      size_t slots, struct fpm_sample *out) {
  size_t n = fpm_metrics_samples(&f->m, d, slots, out, MAXS);
  assert_true(n <= MAXS);
  return n;
}

static size_t count_id(const struct fpm_sample *s, size_t n,
                       enum fpm_metric_id id) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += s[i].def->id == id;
  return c;
}

static const struct fpm_sample *find(const struct fpm_sample *s, size_t n,
                                     enum fpm_metric_id id,
                                     const char *instance) {
  for (size_t i = 0; i < n; i++)
    if (s[i].def->id == id && strcmp(s[i].instance, instance) == 0)
      return &s[i];
  return NULL;
}

static long slot_number(const char *p) {
  char *end;
  long v = strtol(p, &end, 10);
  assert_true(end != p && *end == '\0');
  return v;
}

static int valid_part(const char *p) {
  for (; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return 0;
  return 1;
}

/* The "type-type_instance" of a sample as the documented pattern gives it. */
static void expected_ident(const struct fpm_sample *s, char *buf, size_t len) {
  const char *pat = expected[s->def->id].ident, *x = strstr(pat, "<x>");
  if (x == NULL)
    snprintf(buf, len, "%s", pat);
  else
    snprintf(buf, len, "%.*s%s%s", (int)(x - pat), pat, s->instance, x + 3);
}

static void check_sample_idents(const struct fpm_sample *s, size_t n) {
  char want[200], got[200];
  for (size_t i = 0; i < n; i++) {
    expected_ident(&s[i], want, sizeof want);
    snprintf(got, sizeof got, "%s-%s", s[i].def->cd_type, s[i].type_instance);
    assert_string_equal(got, want);
    assert_true(valid_part(s[i].type_instance));
    assert_true(valid_part(s[i].instance));
  }
}

static const enum fpm_state mix8[8] = {
    FPM_STATE_IDLE,    FPM_STATE_RUNNING,         FPM_STATE_IDLE,
    FPM_STATE_RUNNING, FPM_STATE_READING_HEADERS, FPM_STATE_FINISHING,
    FPM_STATE_IDLE,    FPM_STATE_GETTING_INFO};

/* ------------------------------------------------------------ table */

static void test_table_matches_documentation(void **state) {
  (void)state;
  char ident[200];
  for (int i = 0; i < FPM_M__COUNT; i++) {
    const struct fpm_metric_def *d = fpm_metric_def_get((enum fpm_metric_id)i);
    assert_non_null(d);
    assert_int_equal(d->id, i);
    assert_int_equal(expected[i].id, i);
    assert_int_equal(d->kind, expected[i].kind);
    assert_true(d->key[0] != '\0' && valid_part(d->key));
    assert_true(d->unit[0] != '\0' && d->help[0] != '\0');
    assert_true(valid_part(d->cd_type) && valid_part(d->cd_prefix) &&
                valid_part(d->cd_suffix));
    if (d->family)
      snprintf(ident, sizeof ident, "%s-%s<x>%s", d->cd_type, d->cd_prefix,
               d->cd_suffix);
    else
      snprintf(ident, sizeof ident, "%s-%s", d->cd_type, d->cd_prefix);
    assert_string_equal(ident, expected[i].ident);
    for (int j = 0; j < i; j++) /* keys are unique */
      assert_string_not_equal(d->key, fpm_metric_def_get(j)->key);
  }
  assert_null(fpm_metric_def_get(FPM_M__COUNT));
  assert_null(fpm_metric_def_get((enum fpm_metric_id) - 1));
}

/* Every cd_type exists in collectd's types.db with one data source, and
 * its kind fits (counter: DERIVE or COUNTER; gauge: GAUGE). */
static void test_types_exist_in_types_db(void **state) {
  (void)state;
  FILE *fp = fopen(TYPES_DB, "r");
  if (fp == NULL) {
    print_message("skipped: %s: %s (install collectd-core)\n", TYPES_DB,
                  strerror(errno));
    skip();
  }
  int found[FPM_M__COUNT] = {0};
  char line[512];
  while (fgets(line, sizeof line, fp) != NULL) {
    char name[128], ds[256];
    if (line[0] == '#' || sscanf(line, "%127s %255s", name, ds) != 2)
      continue;
    for (int i = 0; i < FPM_M__COUNT; i++) {
      const struct fpm_metric_def *d = fpm_metric_def_get(i);
      if (strcmp(d->cd_type, name) != 0)
        continue;
      assert_null(strchr(line + strlen(name), ',')); /* one data source */
      const char *kind = strchr(ds, ':');
      assert_non_null(kind);
      if (d->kind == FPM_KIND_COUNTER)
        assert_true(strncmp(kind, ":DERIVE:", 8) == 0 ||
                    strncmp(kind, ":COUNTER:", 9) == 0);
      else
        assert_true(strncmp(kind, ":GAUGE:", 7) == 0);
      found[i] = 1;
    }
  }
  fclose(fp);
  for (int i = 0; i < FPM_M__COUNT; i++) {
    if (!found[i])
      print_message("type %s of %s not in %s\n", fpm_metric_def_get(i)->cd_type,
                    fpm_metric_def_get(i)->key, TYPES_DB);
    assert_true(found[i]);
  }
}

/* docs/metrics.md has one row per metric: key, kind, unit,
 * identifier. */
static void test_doc_matches_table(void **state) {
  (void)state;
  FILE *fp = fopen(FPMT_SOURCE_DIR "/docs/metrics.md", "r");
  assert_non_null(fp);
  enum { DOC_MAX = 1 << 20 };
  char *doc = calloc(1, DOC_MAX);
  assert_non_null(doc);
  size_t len = fread(doc, 1, DOC_MAX - 1, fp);
  fclose(fp);
  assert_true(len > 0 && len < DOC_MAX - 1);
  char row[300];
  for (int i = 0; i < FPM_M__COUNT; i++) {
    const struct fpm_metric_def *d = fpm_metric_def_get(i);
    const char *kind = d->kind == FPM_KIND_COUNTER ? "counter" : "gauge";
    if (d->family)
      snprintf(row, sizeof row, "| `%s` | %s | %s | `phpfpm-<pool>/%s-%s<m>%s`",
               d->key, kind, d->unit, d->cd_type, d->cd_prefix, d->cd_suffix);
    else if (d->cd_prefix[0] == '\0')
      snprintf(row, sizeof row, "| `%s` | %s | %s | `phpfpm-<pool>/%s` |",
               d->key, kind, d->unit, d->cd_type);
    else
      snprintf(row, sizeof row, "| `%s` | %s | %s | `phpfpm-<pool>/%s-%s` |",
               d->key, kind, d->unit, d->cd_type, d->cd_prefix);
    if (strstr(doc, row) == NULL)
      print_message("docs/metrics.md lacks the row: %s\n", row);
    assert_non_null(strstr(doc, row));
  }
  free(doc);
}

/* ---------------------------------------------------------- samples */

static void test_failed_scrape_only_up(void **state) {
  (void)state;
  struct fpm_sample s[4];
  memset(s, 0xa5, sizeof s);
  assert_int_equal(fpm_metrics_samples(NULL, FPM_WORKERS_SLOTS, 8, NULL, 0), 1);
  assert_int_equal(fpm_metrics_samples(NULL, FPM_WORKERS_SLOTS, 8, s, 4), 1);
  assert_int_equal(s[0].def->id, FPM_M_UP);
  assert_true(s[0].value == 0.0);
  assert_string_equal(s[0].type_instance, "up");
}

static void test_full_set_idents_order_unique(void **state) {
  (void)state;
  struct fix *f = calloc(1, sizeof *f);
  struct fpm_sample *s = calloc(MAXS, sizeof *s);
  assert_non_null(f);
  assert_non_null(s);
  make_fix(f, 8, mix8, 3);
  snprintf(f->st.extra[0].name, sizeof f->st.extra[0].name, "Memory Peak2");
  f->st.extra[0].value = 42.5;
  f->st.n_extra = 1;
  compute(f, 16, 1);
  compute(f, 16, 1); /* second scrape: have_prev */
  struct fpm_procmem pm = {.state = FPM_PROCMEM_LOCAL, .pss_known = 1};
  pm.rss = (struct fpm_mem_summary){3, 300, 100, 110, 110};
  pm.pss = (struct fpm_mem_summary){3, 90, 30, 35, 35};
  f->m.procmem = &pm;
  size_t n = samples(f, FPM_WORKERS_SLOTS, 100, s);
  check_sample_idents(s, n);
  assert_true(find(s, n, FPM_M_MEM_RSS_TOTAL, "")->value == 300);
  assert_true(find(s, n, FPM_M_MEM_PSS_TOTAL, "")->value == 90);
  assert_true(find(s, n, FPM_M_MEM_WORKERS, "")->value == 3);
  assert_int_equal(s[0].def->id, FPM_M_UP);
  assert_true(s[0].value == 1.0);
  /* ids in enum order; slots by index, each slot's series in enum order */
  for (size_t i = 1; i < n; i++) {
    enum fpm_metric_id a = s[i - 1].def->id, b = s[i].def->id;
    if (a >= FPM_M_SLOT_STATE && b >= FPM_M_SLOT_STATE &&
        strcmp(s[i - 1].instance, s[i].instance) != 0) {
      assert_int_equal(slot_number(s[i].instance),
                       slot_number(s[i - 1].instance) + 1);
      assert_int_equal(b, FPM_M_SLOT_STATE);
    } else {
      assert_true(b >= a);
    }
  }
  for (size_t i = 0; i < n; i++) /* identifiers unique */
    for (size_t j = 0; j < i; j++)
      assert_true(strcmp(s[i].def->cd_type, s[j].def->cd_type) != 0 ||
                  strcmp(s[i].type_instance, s[j].type_instance) != 0);
  /* every metric id appears */
  for (int id = 0; id < FPM_M__COUNT; id++)
    assert_true(count_id(s, n, (enum fpm_metric_id)id) > 0);
  assert_int_equal(count_id(s, n, FPM_M_STATE), FPM_STATE__COUNT);
  assert_int_equal(count_id(s, n, FPM_M_DURATION), 6);
  assert_non_null(find(s, n, FPM_M_EXTRA, "memory_peak2"));
  assert_string_equal(find(s, n, FPM_M_START_SINCE, "")->type_instance, "");
  fpm_history_free(&f->h);
  free(f);
  free(s);
}

static void test_values_and_units(void **state) {
  (void)state;
  struct fix *f = calloc(1, sizeof *f);
  struct fpm_sample *s = calloc(MAXS, sizeof *s);
  assert_non_null(f);
  assert_non_null(s);
  make_fix(f, 8, mix8, 3);
  compute(f, 16, 0);
  size_t n = samples(f, FPM_WORKERS_SLOTS, 100, s);
  /* counters: raw cumulative values */
  assert_true(find(s, n, FPM_M_ACCEPTED, "")->value == 123456789012.0);
  assert_true(find(s, n, FPM_M_SLOW, "")->value ==
              (double)f->st.v[FPM_F_SLOW_REQUESTS]);
  /* self excluded: listed 5 non-Idle incl. ours -> 4 */
  assert_true(find(s, n, FPM_M_ACTIVE, "")->value == 4.0);
  assert_true(find(s, n, FPM_M_IDLE, "")->value == 4.0);
  assert_true(find(s, n, FPM_M_STATE, "running")->value == 1.0);
  assert_true(find(s, n, FPM_M_STATE, "idle")->value == 4.0);
  assert_true(find(s, n, FPM_M_STATE, "unknown")->value == 0.0);
  assert_true(find(s, n, FPM_M_MAX_CHILDREN, "")->value == 16.0);
  assert_true(fabs(find(s, n, FPM_M_UTILISATION_MAX, "")->value - 25.0) < 1e-9);
  /* durations in seconds: Idle slots 0, 2, 6 -> 1, 3, 7 ms */
  assert_true(fabs(find(s, n, FPM_M_DURATION, "max")->value - 0.007) < 1e-12);
  assert_true(fabs(find(s, n, FPM_M_DURATION, "min")->value - 0.001) < 1e-12);
  assert_true(fabs(find(s, n, FPM_M_SLOT_DURATION, "4")->value - 0.005) <
              1e-12);
  /* oldest running: slots 1, 4, 5, 7 (not 3, ours) -> 8 ms */
  assert_true(fabs(find(s, n, FPM_M_OLDEST_RUNNING, "")->value - 0.008) <
              1e-12);
  assert_true(find(s, n, FPM_M_MEMORY, "p50")->value == 2097152.0);
  assert_true(fabs(find(s, n, FPM_M_CPU, "max")->value - 10.5) < 1e-9);
  /* slot state = enum number; our own slot shows Idle */
  assert_true(find(s, n, FPM_M_SLOT_STATE, "1")->value ==
              (double)FPM_STATE_RUNNING);
  assert_true(find(s, n, FPM_M_SLOT_STATE, "7")->value ==
              (double)FPM_STATE_GETTING_INFO);
  assert_true(find(s, n, FPM_M_SLOT_STATE, "3")->value ==
              (double)FPM_STATE_IDLE);
  assert_true(find(s, n, FPM_M_SLOT_REQUESTS, "5")->value == 15.0);
  assert_true(find(s, n, FPM_M_SLOT_MEMORY, "0")->value == 2097152.0);
  assert_string_equal(find(s, n, FPM_M_SLOT_CPU, "2")->type_instance,
                      "slot2_last_request_cpu");
  free(f);
  free(s);
}

static void test_absent_fields_emit_nothing(void **state) {
  (void)state;
  struct fix *f = calloc(1, sizeof *f);
  struct fpm_sample *s = calloc(MAXS, sizeof *s);
  assert_non_null(f);
  assert_non_null(s);
  /* a snapshot with one pool field and no list */
  f->st.present = 1u << FPM_F_ACCEPTED_CONN;
  f->st.v[FPM_F_ACCEPTED_CONN] = 7;
  f->st.format = FPM_FORMAT_TEXT;
  compute(f, 0, 0);
  size_t n = samples(f, FPM_WORKERS_SLOTS, 100, s);
  assert_int_equal(n, 2);
  assert_int_equal(s[0].def->id, FPM_M_UP);
  assert_int_equal(s[1].def->id, FPM_M_ACCEPTED);

  /* full pool, no list: every pool field, no state/stats/slots/parse */
  memset(f, 0, sizeof *f);
  all_pool_fields(&f->st);
  compute(f, 0, 0);
  n = samples(f, FPM_WORKERS_SLOTS, 100, s);
  check_sample_idents(s, n);
  for (int id = FPM_M_STATE; id < FPM_M__COUNT; id++)
    assert_int_equal(count_id(s, n, (enum fpm_metric_id)id), 0);
  assert_int_equal(count_id(s, n, FPM_M_MAX_CHILDREN), 0);
  assert_int_equal(count_id(s, n, FPM_M_UTILISATION_MAX), 0);
  assert_int_equal(count_id(s, n, FPM_M_MEMORY_PEAK), 1);
  f->st.present &= ~(1u << FPM_F_MEMORY_PEAK); /* PHP < 8.4 */
  compute(f, 0, 0);
  n = samples(f, FPM_WORKERS_SLOTS, 100, s);
  assert_int_equal(count_id(s, n, FPM_M_MEMORY_PEAK), 0);

  /* a text snapshot with a list: no parse_repaired/dropped */
  make_fix(f, 4, mix8, -1);
  f->st.format = FPM_FORMAT_TEXT;
  compute(f, 0, 0);
  n = samples(f, FPM_WORKERS_SUMMARY, 0, s);
  assert_int_equal(count_id(s, n, FPM_M_PARSE_REPAIRED), 0);
  assert_int_equal(count_id(s, n, FPM_M_PARSE_DROPPED), 0);
  assert_int_equal(count_id(s, n, FPM_M_RESTARTS), 0); /* no history */
  f->st.format = FPM_FORMAT_JSON;
  compute(f, 0, 1);
  n = samples(f, FPM_WORKERS_SUMMARY, 0, s);
  assert_int_equal(count_id(s, n, FPM_M_PARSE_REPAIRED), 1);
  assert_int_equal(count_id(s, n, FPM_M_RESTARTS), 1);
  assert_int_equal(count_id(s, n, FPM_M_RESPAWNS), 1);
  /* detail NONE: counts and states, no statistics */
  n = samples(f, FPM_WORKERS_NONE, 100, s);
  assert_int_equal(count_id(s, n, FPM_M_STATE), FPM_STATE__COUNT);
  assert_int_equal(count_id(s, n, FPM_M_DURATION), 0);
  assert_int_equal(count_id(s, n, FPM_M_OLDEST_RUNNING), 0);
  assert_int_equal(count_id(s, n, FPM_M_SLOT_STATE), 0);
  fpm_history_free(&f->h);
  free(f);
  free(s);
}

/* For a fixed worker count the series set does not depend on the states,
 * except for the last-request statistics, absent when no Idle worker has a
 * finished request (18 samples). */
static void test_count_independent_of_states(void **state) {
  (void)state;
  struct fix *f = calloc(1, sizeof *f);
  struct fpm_sample *s = calloc(MAXS, sizeof *s);
  assert_non_null(f);
  assert_non_null(s);
  enum fpm_state st[8];
  size_t base = 0;
  for (int round = 0; round < 40; round++) {
    unsigned x = (unsigned)round * 2654435761u;
    for (int i = 0; i < 8; i++) {
      x = x * 1103515245u + 12345u;
      st[i] = (enum fpm_state)((x >> 16) % FPM_STATE__COUNT);
    }
    long self = round % 3 == 0 ? (round / 3 + 1) % 8 : -1;
    if (self >= 0)
      st[self] = FPM_STATE_RUNNING; /* our scrape */
    st[round % 8 == self ? (round + 1) % 8 : round % 8] = FPM_STATE_IDLE;
    make_fix(f, 8, st, self);
    compute(f, 8, 0);
    assert_true(f->m.duration_s.n > 0);
    size_t n = samples(f, FPM_WORKERS_SLOTS, 8, s);
    if (base == 0)
      base = n;
    assert_int_equal(n, base);
  }
  const enum fpm_state busy[8] = {FPM_STATE_RUNNING,         FPM_STATE_RUNNING,
                                  FPM_STATE_READING_HEADERS, FPM_STATE_RUNNING,
                                  FPM_STATE_FINISHING,       FPM_STATE_RUNNING,
                                  FPM_STATE_UNKNOWN,         FPM_STATE_RUNNING};
  make_fix(f, 8, busy, 1);
  compute(f, 8, 0);
  size_t n = samples(f, FPM_WORKERS_SLOTS, 8, s);
  assert_int_equal(n, base - 18);
  assert_int_equal(count_id(s, n, FPM_M_DURATION) + count_id(s, n, FPM_M_CPU) +
                       count_id(s, n, FPM_M_MEMORY),
                   0);
  assert_int_equal(count_id(s, n, FPM_M_STATE), FPM_STATE__COUNT);
  assert_int_equal(count_id(s, n, FPM_M_SLOT_CPU), 8);
  free(f);
  free(s);
}

static void test_slots_capped(void **state) {
  (void)state;
  struct fix *f = calloc(1, sizeof *f);
  struct fpm_sample *s = calloc(MAXS, sizeof *s);
  assert_non_null(f);
  assert_non_null(s);
  enum fpm_state st[10];
  for (int i = 0; i < 10; i++)
    st[i] = i % 2 ? FPM_STATE_RUNNING : FPM_STATE_IDLE;
  make_fix(f, 10, st, -1);
  compute(f, 0, 0);
  size_t none = samples(f, FPM_WORKERS_SUMMARY, 100, s);
  size_t zero = samples(f, FPM_WORKERS_SLOTS, 0, s);
  assert_int_equal(zero, none);
  size_t four = samples(f, FPM_WORKERS_SLOTS, 4, s);
  assert_int_equal(four, none + 4 * 5);
  assert_null(find(s, four, FPM_M_SLOT_STATE, "4"));
  assert_non_null(find(s, four, FPM_M_SLOT_MEMORY, "3"));
  size_t all = samples(f, FPM_WORKERS_SLOTS, 1000, s);
  assert_int_equal(all, none + 10 * 5);
  check_sample_idents(s, all);
  /* a worker without cpu/memory fields (text without them) */
  f->w[9].present &= ~(1u << FPM_W_LAST_REQUEST_CPU);
  assert_int_equal(samples(f, FPM_WORKERS_SLOTS, 1000, s), all - 1);
  free(f);
  free(s);
}

static void test_hostile_names_stay_out(void **state) {
  (void)state;
  struct fix *f = calloc(1, sizeof *f);
  struct fpm_sample *s = calloc(MAXS, sizeof *s);
  assert_non_null(f);
  assert_non_null(s);
  make_fix(f, 4, mix8, 1);
  snprintf(f->st.pool, sizeof f->st.pool, "evil/pool-name \"x\"\n..");
  snprintf(f->st.process_manager, sizeof f->st.process_manager, "evil/pm");
  f->w[0].uri = "/evil/uri-../../x";
  f->w[0].script = "/evil/script.php";
  f->w[0].user = "evil-user";
  static const char *names[5] = {"Weird Key/x-y", "weird_key_x_y", "",
                                 "\xc3\xa9t\xc3\xa9 X", "ok_9"};
  for (int i = 0; i < 5; i++) {
    snprintf(f->st.extra[i].name, sizeof f->st.extra[i].name, "%s", names[i]);
    f->st.extra[i].value = i;
  }
  f->st.n_extra = 5;
  compute(f, 0, 0);
  size_t n = samples(f, FPM_WORKERS_SLOTS, 10, s);
  check_sample_idents(s, n);
  for (size_t i = 0; i < n; i++) {
    assert_null(strstr(s[i].type_instance, "evil"));
    assert_null(strstr(s[i].instance, "evil"));
  }
  /* sanitised: lower-case, others '_'; a duplicate after sanitising is
   * skipped; "" becomes "_" */
  assert_int_equal(count_id(s, n, FPM_M_EXTRA), 4);
  assert_true(find(s, n, FPM_M_EXTRA, "weird_key_x_y")->value == 0.0);
  assert_non_null(find(s, n, FPM_M_EXTRA, "_"));
  assert_non_null(find(s, n, FPM_M_EXTRA, "__t___x"));
  assert_non_null(find(s, n, FPM_M_EXTRA, "ok_9"));
  free(f);
  free(s);
}

static void test_sizing_and_cap(void **state) {
  (void)state;
  struct fix *f = calloc(1, sizeof *f);
  struct fpm_sample *s = calloc(MAXS, sizeof *s);
  struct fpm_sample *t = calloc(MAXS, sizeof *t);
  assert_non_null(f);
  assert_non_null(s);
  assert_non_null(t);
  make_fix(f, 8, mix8, 3);
  compute(f, 4, 0);
  size_t total = fpm_metrics_samples(&f->m, FPM_WORKERS_SLOTS, 8, NULL, 0);
  assert_true(total > 40);
  assert_int_equal(fpm_metrics_samples(&f->m, FPM_WORKERS_SLOTS, 8, s, 0),
                   total);
  memset(s, 0x5a, MAXS * sizeof *s);
  assert_int_equal(fpm_metrics_samples(&f->m, FPM_WORKERS_SLOTS, 8, s, 10),
                   total);
  unsigned char canary[sizeof *s];
  memset(canary, 0x5a, sizeof canary);
  assert_memory_equal(&s[10], canary, sizeof canary); /* not written */
  /* the first 10 are the same as in a full call */
  assert_int_equal(fpm_metrics_samples(&f->m, FPM_WORKERS_SLOTS, 8, t, MAXS),
                   total);
  for (int i = 0; i < 10; i++) {
    assert_ptr_equal(s[i].def, t[i].def);
    assert_string_equal(s[i].type_instance, t[i].type_instance);
    assert_true(s[i].value == t[i].value);
  }
  free(f);
  free(s);
  free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_matches_documentation),
      cmocka_unit_test(test_types_exist_in_types_db),
      cmocka_unit_test(test_doc_matches_table),
      cmocka_unit_test(test_failed_scrape_only_up),
      cmocka_unit_test(test_full_set_idents_order_unique),
      cmocka_unit_test(test_values_and_units),
      cmocka_unit_test(test_absent_fields_emit_nothing),
      cmocka_unit_test(test_count_independent_of_states),
      cmocka_unit_test(test_slots_capped),
      cmocka_unit_test(test_hostile_names_stay_out),
      cmocka_unit_test(test_sizing_and_cap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
