/*
 * test_output.c: every fpmstat output format on hand-built snapshots, with a
 * pool name and request strings full of quotes, backslashes, commas, equals
 * signs, spaces, dots, slashes, newlines, control bytes and invalid UTF-8.
 * Each format's output is read back by a small checker of that format's
 * grammar (PUTVAL, Graphite plaintext, InfluxDB line protocol, Prometheus
 * text; JSON through yajl_tree), so a string that breaks a line, ends a
 * quote early or adds a series fails here. promtool, when installed, must
 * accept the Prometheus text with exit status 0.
 */
#include "fpm_metrics_int.h"
#include "fpm_model.h"
#include "fpm_num.h"
#include "fpm_output.h"

#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include <cmocka.h>

#define MARKER "0123456789abcdef"
#define HOSTILE_POOL "we ird,pool=x \"q\" \\b\nnl.dot/sl\t#{}"
#define HOSTILE_URI "/x?a=\"b\"&c=\\d\ne f,g=h\r\x01\xff\xc3(end)"
#define HOSTILE_SCRIPT "/var/www/\"quoted\" dir\\x\n.php"
#define HOSTILE_USER "us\"er\\ name,=\n"
#define WALL                                                                   \
  (1u << FPM_W_PID | 1u << FPM_W_STATE | 1u << FPM_W_START_TIME |              \
   1u << FPM_W_START_SINCE | 1u << FPM_W_REQUESTS |                            \
   1u << FPM_W_REQUEST_DURATION | 1u << FPM_W_REQUEST_METHOD |                 \
   1u << FPM_W_REQUEST_URI | 1u << FPM_W_CONTENT_LENGTH | 1u << FPM_W_USER |   \
   1u << FPM_W_SCRIPT | 1u << FPM_W_LAST_REQUEST_CPU |                         \
   1u << FPM_W_LAST_REQUEST_MEMORY)

/* ------------------------------------------------------------ fixture */

struct fix {
  struct fpm_result res;
  struct fpm_worker w[5];
  struct fpm_metrics m;
  struct fpm_output_item it;
  struct fpm_output_opts o;
  struct fpm_buf out;
};

static void set_pool(struct fpm_status *st, const char *pool) {
  snprintf(st->pool, sizeof st->pool, "%s", pool);
  snprintf(st->process_manager, sizeof st->process_manager, "static");
  st->present = (1u << FPM_F__COUNT) - 1u;
  st->present &= ~(1u << FPM_F_MEMORY_PEAK);
  st->v[FPM_F_START_TIME] = 1795870000;
  st->v[FPM_F_START_SINCE] = 3723;
  st->v[FPM_F_ACCEPTED_CONN] = 12345;
  st->v[FPM_F_LISTEN_QUEUE] = 0;
  st->v[FPM_F_MAX_LISTEN_QUEUE] = 2;
  st->v[FPM_F_LISTEN_QUEUE_LEN] = 128;
  st->v[FPM_F_IDLE_PROCESSES] = 2;
  st->v[FPM_F_ACTIVE_PROCESSES] = 3;
  st->v[FPM_F_TOTAL_PROCESSES] = 5;
  st->v[FPM_F_MAX_ACTIVE_PROCESSES] = 4;
  st->v[FPM_F_MAX_CHILDREN_REACHED] = 1;
  st->v[FPM_F_SLOW_REQUESTS] = 7;
}

static void set_worker(struct fpm_worker *w, int64_t pid, enum fpm_state s,
                       const char *uri, uint64_t dur_us) {
  memset(w, 0, sizeof *w);
  w->present = WALL;
  w->pid = pid;
  w->state = s;
  w->start_time = 1795870000;
  w->start_since = 3000;
  w->requests = (uint64_t)pid % 97;
  w->request_duration_us = dur_us;
  w->content_length = 0;
  w->last_request_cpu = s == FPM_STATE_IDLE ? 12.5 : 0;
  w->last_request_memory = s == FPM_STATE_IDLE ? 2097152 : 0;
  w->method = "GET";
  w->uri = uri;
  w->user = HOSTILE_USER;
  w->script = HOSTILE_SCRIPT;
}

static void fix_build(struct fix *f, const char *pool, int with_list) {
  memset(f, 0, sizeof *f);
  fpm_result_init(&f->res);
  snprintf(f->res.marker, sizeof f->res.marker, "%s", MARKER);
  struct fpm_status *st = &f->res.status;
  set_pool(st, pool);
  set_worker(&f->w[0], 101, FPM_STATE_IDLE, "/index.php", 15000);
  set_worker(&f->w[1], 102, FPM_STATE_RUNNING, HOSTILE_URI, 5200000);
  set_worker(&f->w[2], 103, FPM_STATE_RUNNING,
             "/status?json&full&fpmstat=" MARKER, 90);
  set_worker(&f->w[3], 104, FPM_STATE_IDLE, "/ping", 120);
  set_worker(&f->w[4], 105, FPM_STATE_READING_HEADERS, "-", 800000);
  if (with_list) {
    st->has_workers = 1;
    st->workers = f->w;
    st->n_workers = 5;
  }
  struct fpm_model_opts mo = {.self_marker = MARKER,
                              .scrape_tag = "fpmstat=",
                              .slow_threshold_s = 1.0,
                              .max_children = 8};
  fpm_model_compute(st, &mo, NULL, &f->m);
  f->it.target = "unix:/run/php/we ird\"sock\\.sock";
  f->it.res = &f->res;
  f->it.m = &f->m;
  f->o.host = "web01.example.com";
  f->o.interval_s = 10;
  f->o.now_s = 1795873691;
  f->o.now_ns = 1795873691000000000LL;
  fpm_buf_init(&f->out);
}

static void fix_free(struct fix *f) {
  /* the snapshot's workers are ours (f->w), not the parser's */
  f->res.status.workers = NULL;
  f->res.status.n_workers = 0;
  fpm_result_clear(&f->res);
  fpm_buf_free(&f->out);
}

static const char *render(struct fix *f, enum fpm_outfmt fmt, int full) {
  f->o.format = fmt;
  f->o.full = full;
  fpm_buf_reset(&f->out);
  assert_int_equal(fpm_output_render(&f->o, &f->it, 1, &f->out), 0);
  assert_false(f->out.oom);
  return f->out.data != NULL ? f->out.data : "";
}

static size_t n_samples(struct fix *f, int full) {
  struct fpm_output_opts o = f->o;
  o.full = full;
  struct fpm_sample *s;
  size_t n = fpm_output_samples(&o, &f->m, &s);
  free(s);
  return n;
}

/* Split text into lines (each must end in '\n'); returns the count. */
static size_t lines(const char *text, char ***out) {
  size_t n = 0, cap = 16;
  char **v = malloc(cap * sizeof *v);
  assert_non_null(v);
  const char *p = text;
  while (*p != '\0') {
    const char *e = strchr(p, '\n');
    assert_non_null(e); /* no unterminated last line */
    if (n == cap) {
      cap *= 2;
      v = realloc(v, cap * sizeof *v);
      assert_non_null(v);
    }
    v[n++] = strndup(p, (size_t)(e - p));
    p = e + 1;
  }
  *out = v;
  return n;
}

static void free_lines(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static void assert_no_ctl(const char *line) {
  for (const unsigned char *p = (const unsigned char *)line; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      fail_msg("control byte 0x%02x in line: %s", *p, line);
}

/* Valid UTF-8 (the same rules as the formatter, checked independently). */
static int valid_utf8(const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  while (*u) {
    int n = *u < 0x80         ? 1
            : (*u >> 5) == 6  ? 2
            : (*u >> 4) == 14 ? 3
            : (*u >> 3) == 30 ? 4
                              : 0;
    if (n == 0)
      return 0;
    for (int i = 1; i < n; i++)
      if ((u[i] & 0xc0) != 0x80)
        return 0;
    u += n;
  }
  return 1;
}

/* ------------------------------------------------------------- putval */

/* PUTVAL "host/plugin-inst/type-ti" interval=N N:value */
static void check_putval_line(const char *l, const char *want_host) {
  assert_no_ctl(l);
  assert_true(strncmp(l, "PUTVAL \"", 8) == 0);
  const char *id = l + 8;
  const char *q = strchr(id, '"');
  assert_non_null(q);
  char ident[512];
  assert_true((size_t)(q - id) < sizeof ident);
  memcpy(ident, id, (size_t)(q - id));
  ident[q - id] = '\0';
  assert_null(strchr(ident, '\\'));
  /* exactly host / plugin-instance / type[-instance] */
  char *p1 = strchr(ident, '/');
  assert_non_null(p1);
  char *p2 = strchr(p1 + 1, '/');
  assert_non_null(p2);
  assert_null(strchr(p2 + 1, '/'));
  *p1 = *p2 = '\0';
  assert_string_equal(ident, want_host);
  assert_true(strncmp(p1 + 1, "phpfpm-", 7) == 0);
  assert_true(strlen(p1 + 8) > 0);
  const char *type = p2 + 1;
  assert_true(islower((unsigned char)type[0]));
  /* options and the value */
  const char *rest = q + 1;
  assert_true(strncmp(rest, " interval=10 N:", 15) == 0);
  const char *v = rest + 15;
  if (strcmp(v, "U") != 0) {
    char *end;
    strtod(v, &end);
    assert_true(end != v && *end == '\0');
  }
}

static void test_putval_hostile(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, HOSTILE_POOL, 1);
  for (int full = 0; full <= 1; full++) {
    char **v;
    size_t n = lines(render(&f, FPM_OUT_PUTVAL, full), &v);
    assert_int_equal(n, n_samples(&f, full)); /* no extra lines */
    for (size_t i = 0; i < n; i++)
      check_putval_line(v[i], "web01.example.com");
    /* the pool, sanitised: the same instance on every line */
    assert_non_null(
        strstr(v[0], "/phpfpm-we ird,pool=x _q_ _b_nl.dot_sl_#{}/"));
    free_lines(v, n);
  }
  /* counters are integers, self excluded from active */
  const char *out = render(&f, FPM_OUT_PUTVAL, 0);
  assert_non_null(
      strstr(out, "/total_requests-accepted\" interval=10 N:12345\n"));
  assert_non_null(strstr(out, "/vs_processes-active\" interval=10 N:2\n"));
  assert_non_null(strstr(out, "/uptime\" interval=10 N:3723\n"));
  fix_free(&f);
}

/* ----------------------------------------------------------- graphite */

static void check_graphite_line(const char *l, int parts) {
  assert_no_ctl(l);
  char path[512], val[64], ts[64], extra[8];
  int k = sscanf(l, "%511s %63s %63s %7s", path, val, ts, extra);
  assert_int_equal(k, 3);
  /* exactly two single spaces */
  assert_int_equal(strlen(path) + strlen(val) + strlen(ts) + 2, strlen(l));
  int dots = 0;
  for (const char *p = path; *p; p++) {
    dots += *p == '.';
    assert_null(strchr(" \t\"\\:!,/()", *p));
  }
  assert_int_equal(dots, parts - 1);
  assert_true(valid_utf8(path));
  char *end;
  strtod(val, &end);
  assert_true(*end == '\0');
  assert_string_equal(ts, "1795873691");
}

static void test_graphite_hostile(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, HOSTILE_POOL, 1);
  char **v;
  size_t n = lines(render(&f, FPM_OUT_GRAPHITE, 0), &v);
  assert_int_equal(n, n_samples(&f, 0));
  for (size_t i = 0; i < n; i++)
    check_graphite_line(v[i], 3);
  /* write_graphite's default path: host dots escaped, pool escaped */
  assert_string_equal(v[0], "web01_example_com.phpfpm-we_ird_pool=x__q___b_nl_"
                            "dot_sl_#{}.bool-up 1 1795873691");
  free_lines(v, n);
  f.o.graphite_prefix = "collectd.";
  n = lines(render(&f, FPM_OUT_GRAPHITE, 1), &v);
  assert_int_equal(n, n_samples(&f, 1));
  for (size_t i = 0; i < n; i++) {
    check_graphite_line(v[i], 4);
    assert_true(strncmp(v[i], "collectd.web01_example_com.phpfpm-", 34) == 0);
  }
  free_lines(v, n);
  fix_free(&f);
}

/* ------------------------------------------------------------- influx */

/* Read one token as InfluxDB 1.x does (models/points.go): a stop char
 * counts only when the byte before it is not a backslash; then \, \= and
 * \space are undone, nothing else. Returns the token's end. */
static const char *lp_token(const char *p, const char *stops, char *out,
                            size_t cap) {
  const char *start = p;
  while (*p && !(strchr(stops, *p) && (p == start || p[-1] != '\\')))
    p++;
  size_t o = 0;
  for (const char *q = start; q < p; q++) {
    if (*q == '\\' && q + 1 < p && strchr(",= ", q[1]) != NULL)
      q++;
    if (o + 1 < cap)
      out[o++] = *q;
  }
  out[o] = '\0';
  return p;
}

struct lp {
  char meas[64];
  char tagk[8][32], tagv[8][512];
  int ntags;
  char fieldk[64][48];
  int nfields;
};

/* measurement[,k=v...] k=v[,k=v...] ts  (values: 12i, 1.5, "str") */
static void parse_lp(const char *l, struct lp *r) {
  memset(r, 0, sizeof *r);
  assert_no_ctl(l);
  assert_true(valid_utf8(l));
  const char *p = lp_token(l, ", ", r->meas, sizeof r->meas);
  while (*p == ',') {
    assert_true(r->ntags < 8);
    p = lp_token(p + 1, "=", r->tagk[r->ntags], sizeof r->tagk[0]);
    assert_int_equal(*p, '=');
    p = lp_token(p + 1, ", ", r->tagv[r->ntags], sizeof r->tagv[0]);
    assert_true(r->tagv[r->ntags][0] != '\0');
    r->ntags++;
  }
  assert_int_equal(*p, ' ');
  do {
    assert_true(r->nfields < 64);
    p = lp_token(p + 1, "=", r->fieldk[r->nfields], sizeof r->fieldk[0]);
    assert_int_equal(*p, '=');
    p++;
    if (*p == '"') {
      for (p++; *p != '"'; p++) {
        assert_true(*p != '\0');
        if (*p == '\\')
          p++;
      }
      p++;
    } else {
      char *end;
      strtod(p, &end);
      assert_true(end != p);
      p = end;
      if (*p == 'i')
        p++;
    }
    r->nfields++;
  } while (*p == ',');
  assert_int_equal(*p, ' ');
  char *end;
  long long ts = strtoll(p + 1, &end, 10);
  assert_true(*end == '\0');
  assert_true(ts == 1795873691000000000LL);
}

static void test_influx_hostile(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, HOSTILE_POOL, 1);
  char **v;
  size_t n = lines(render(&f, FPM_OUT_INFLUX, 1), &v);
  assert_int_equal(n, 2 + 5); /* phpfpm, phpfpm_fpmstat, one per worker */
  struct lp r;
  parse_lp(v[0], &r);
  assert_string_equal(r.meas, "phpfpm");
  assert_int_equal(r.ntags, 2);
  assert_string_equal(r.tagk[0], "pool");
  /* the tag round-trips, newline and tab as Telegraf writes them */
  assert_string_equal(r.tagv[0], "we ird,pool=x \"q\" \\b\\nnl.dot/sl\\t#{}");
  assert_string_equal(r.tagk[1], "url");
  assert_int_equal(r.nfields, 11);
  assert_non_null(strstr(v[0], "active_processes=2i"));
  assert_non_null(strstr(v[0], "accepted_conn=12345i"));
  parse_lp(v[1], &r);
  assert_string_equal(r.meas, "phpfpm_fpmstat");
  static const char *const tags[] = {"pool",        "url",    "request_method",
                                     "request_uri", "script", "user"};
  static const char *const fields[] = {
      "content_length",   "pid",      "last_request_cpu", "last_request_memory",
      "request_duration", "requests", "start_time",       "state"};
  for (size_t i = 2; i < n; i++) {
    parse_lp(v[i], &r);
    assert_string_equal(r.meas, "phpfpm_process");
    assert_int_equal(r.ntags, 6);
    for (int t = 0; t < 6; t++)
      assert_string_equal(r.tagk[t], tags[t]);
    /* the user's backslash and space stayed inside the tag */
    assert_string_equal(r.tagv[5], "us\"er\\ name,=\\n");
    assert_int_equal(r.nfields, 8);
    for (int k = 0; k < 8; k++)
      assert_string_equal(r.fieldk[k], fields[k]);
  }
  free_lines(v, n);
  /* without --full: no process lines */
  n = lines(render(&f, FPM_OUT_INFLUX, 0), &v);
  assert_int_equal(n, 2);
  free_lines(v, n);
  fix_free(&f);
}

/* --------------------------------------------------------- prometheus */

static int is_name(const char *s, size_t n) {
  if (n == 0 || isdigit((unsigned char)s[0]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != ':')
      return 0;
  return 1;
}

/* Checks the exposition grammar; returns the number of samples. Label
 * values are unescaped into the pool[] check when a label is "pool". */
static size_t check_prom(const char *text, const char *want_pool) {
  char **v;
  size_t n = lines(text, &v), samples = 0;
  char seen[64][64];
  size_t nseen = 0;
  char cur[64] = "";
  for (size_t i = 0; i < n; i++) {
    const char *l = v[i];
    assert_no_ctl(l);
    assert_true(valid_utf8(l));
    if (strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0) {
      const char *name = l + 7;
      size_t k = strcspn(name, " ");
      assert_true(is_name(name, k));
      if (l[2] == 'H') {
        for (size_t s = 0; s < nseen; s++)
          assert_false(strncmp(seen[s], name, k) == 0 && seen[s][k] == '\0');
        assert_true(nseen < 64);
        snprintf(seen[nseen++], 64, "%.*s", (int)k, name);
        snprintf(cur, sizeof cur, "%.*s", (int)k, name);
      } else {
        assert_true(strncmp(cur, name, k) == 0);
        const char *t = name + k + 1;
        assert_true(strcmp(t, "gauge") == 0 || strcmp(t, "counter") == 0 ||
                    strcmp(t, "untyped") == 0);
      }
      continue;
    }
    size_t k = strcspn(l, "{ ");
    assert_true(is_name(l, k));
    assert_true(strncmp(l, cur, k) == 0 && cur[k] == '\0'); /* grouped */
    const char *p = l + k;
    if (*p == '{') {
      p++;
      while (*p != '}') {
        size_t lk = strcspn(p, "=");
        assert_true(is_name(p, lk));
        int is_pool = lk == 4 && strncmp(p, "pool", 4) == 0;
        p += lk;
        assert_int_equal(p[0], '=');
        assert_int_equal(p[1], '"');
        p += 2;
        char val[512];
        size_t o = 0;
        while (*p != '"') {
          assert_true(*p != '\0');
          if (*p == '\\') {
            p++;
            assert_non_null(strchr("\\\"n", *p));
            val[o++] = *p == 'n' ? '\n' : *p;
          } else {
            val[o++] = *p;
          }
          p++;
          assert_true(o < sizeof val);
        }
        val[o] = '\0';
        if (is_pool && want_pool != NULL)
          assert_string_equal(val, want_pool);
        p++;
        if (*p == ',')
          p++;
      }
      p++;
    }
    assert_int_equal(*p, ' ');
    char *end;
    strtod(p + 1, &end);
    assert_true(*end == '\0' || strcmp(p + 1, "NaN") == 0);
    samples++;
  }
  free_lines(v, n);
  return samples;
}

/* promtool check metrics must exit 0 (not 3: lint problems). */
static void promtool_ok(const char *text) {
  if (access("/usr/bin/promtool", X_OK) != 0) {
    print_message("promtool not installed: grammar checked only\n");
    return;
  }
  char tmpl[] = "/tmp/test_output_prom.XXXXXX";
  int fd = mkstemp(tmpl);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  close(fd);
  char cmd[256];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/promtool check metrics < %s > %s.out 2>&1", tmpl, tmpl);
  int rc = system(cmd);
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
    snprintf(cmd, sizeof cmd, "cat %s.out >&2", tmpl);
    (void)system(cmd);
  }
  snprintf(cmd, sizeof cmd, "%s.out", tmpl);
  unlink(cmd);
  unlink(tmpl);
  assert_true(WIFEXITED(rc));
  assert_int_equal(WEXITSTATUS(rc), 0);
}

static void test_prometheus_hostile(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, HOSTILE_POOL, 1);
  /* the tab in the pool name becomes a space, the rest round-trips */
  const char *want = "we ird,pool=x \"q\" \\b\nnl.dot/sl #{}";
  const char *out = render(&f, FPM_OUT_PROMETHEUS, 0);
  size_t n0 = check_prom(out, want);
  promtool_ok(out);
  assert_non_null(strstr(out,
                         "\nphpfpm_active_processes{pool=\"we ird,pool=x "
                         "\\\"q\\\" \\\\b\\nnl.dot/sl #{}\",scrape_uri=\""));
  assert_null(strstr(out, "phpfpm_process_"));
  out = render(&f, FPM_OUT_PROMETHEUS, 1);
  size_t n1 = check_prom(out, want);
  promtool_ok(out);
  /* --full adds 4 series per worker plus 6 state series per worker */
  assert_int_equal(n1, n0 + 5 * (4 + 6));
  assert_non_null(strstr(out, "phpfpm_process_state{pool="));
  fix_free(&f);
}

static void test_prometheus_many_targets(void **state) {
  (void)state;
  struct fix a, b;
  fix_build(&a, "www", 1);
  fix_build(&b, "api", 0);
  struct fpm_result failed;
  fpm_result_init(&failed);
  failed.err = FPM_ECONNECT;
  snprintf(failed.message, sizeof failed.message, "x: cannot connect");
  struct fpm_output_item items[4] = {
      a.it,
      b.it,
      {"unix:/gone.sock", &failed, NULL, NULL, NULL, NULL},
      /* --discover names a failed pool from its configuration */
      {"unix:/shop.sock", &failed, NULL, NULL, NULL, "shop"}};
  a.o.format = FPM_OUT_PROMETHEUS;
  struct fpm_buf out;
  fpm_buf_init(&out);
  assert_int_equal(fpm_output_render(&a.o, items, 4, &out), 0);
  check_prom(out.data, NULL); /* every family's HELP once, samples grouped */
  promtool_ok(out.data);
  assert_non_null(strstr(out.data, "phpfpm_up{pool=\"www\","));
  assert_non_null(strstr(out.data, "phpfpm_up{pool=\"api\","));
  assert_non_null(strstr(
      out.data, "phpfpm_up{pool=\"\",scrape_uri=\"unix:/gone.sock\"} 0\n"));
  assert_non_null(strstr(
      out.data, "phpfpm_up{pool=\"shop\",scrape_uri=\"unix:/shop.sock\"} 0\n"));
  /* json: the failed object names it too */
  fpm_buf_reset(&out);
  a.o.format = FPM_OUT_JSON;
  assert_int_equal(fpm_output_render(&a.o, &items[3], 1, &out), 0);
  assert_non_null(strstr(out.data, "\"ok\":false,"));
  assert_non_null(strstr(out.data, "\"pool\":\"shop\""));
  fpm_buf_free(&out);
  fpm_result_clear(&failed);
  fix_free(&a);
  fix_free(&b);
}

/* --------------------------------------------------------------- json */

static yajl_val jget(yajl_val root, const char *a, const char *b) {
  const char *path[] = {a, b, NULL};
  return yajl_tree_get(root, path, yajl_t_any);
}

static void test_json_hostile(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, HOSTILE_POOL, 1);
  char **v;
  size_t n = lines(render(&f, FPM_OUT_JSON, 1), &v);
  assert_int_equal(n, 1); /* one object per target and line */
  char err[256];
  yajl_val root = yajl_tree_parse(v[0], err, sizeof err);
  if (root == NULL)
    fail_msg("not JSON: %s", err);
  assert_true(valid_utf8(v[0]));
  assert_string_equal(YAJL_GET_STRING(jget(root, "pool", NULL)), HOSTILE_POOL);
  assert_true(YAJL_IS_TRUE(jget(root, "ok", NULL)));
  assert_true(YAJL_IS_NULL(jget(root, "error", NULL)));
  assert_int_equal(YAJL_GET_INTEGER(jget(root, "metrics", "active_processes")),
                   (long long)f.m.active);
  assert_int_equal(YAJL_GET_INTEGER(jget(root, "metrics", "active_processes")),
                   2);
  assert_int_equal(YAJL_GET_INTEGER(jget(root, "metrics", "accepted_conn")),
                   12345);
  /* absent values are null, not missing */
  assert_true(YAJL_IS_NULL(jget(root, "metrics", "memory_peak")));
  assert_int_equal(YAJL_GET_INTEGER(jget(root, "states", "running")), 1);
  yajl_val w = jget(root, "workers", NULL);
  assert_true(YAJL_IS_ARRAY(w));
  assert_int_equal(w->u.array.len, 5);
  /* the hostile uri: invalid bytes became U+FFFD, the rest is intact */
  const char *path[] = {"request_uri", NULL};
  const char *uri =
      YAJL_GET_STRING(yajl_tree_get(w->u.array.values[1], path, yajl_t_string));
  assert_non_null(uri);
  assert_string_equal(uri, "/x?a=\"b\"&c=\\d\ne f,g=h\r\x01\xef\xbf\xbd\xef\xbf"
                           "\xbd(end)");
  const char *selfp[] = {"self", NULL};
  assert_true(
      YAJL_IS_TRUE(yajl_tree_get(w->u.array.values[2], selfp, yajl_t_any)));
  yajl_tree_free(root);
  free_lines(v, n);
  fix_free(&f);
}

static void test_json_same_keys_without_list(void **state) {
  (void)state;
  struct fix a, b;
  fix_build(&a, "www", 1);
  fix_build(&b, "www", 0);
  char err[128];
  yajl_val ra = yajl_tree_parse(render(&a, FPM_OUT_JSON, 0), err, sizeof err);
  yajl_val rb = yajl_tree_parse(render(&b, FPM_OUT_JSON, 0), err, sizeof err);
  assert_non_null(ra);
  assert_non_null(rb);
  /* the same keys in the same order, whatever the snapshot holds */
  static const char *const groups[] = {"metrics", "states", "stats"};
  for (size_t g = 0; g < 3; g++) {
    yajl_val x = jget(ra, groups[g], NULL), y = jget(rb, groups[g], NULL);
    assert_true(YAJL_IS_OBJECT(x) && YAJL_IS_OBJECT(y));
    assert_int_equal(x->u.object.len, y->u.object.len);
    for (size_t i = 0; i < x->u.object.len; i++)
      assert_string_equal(x->u.object.keys[i], y->u.object.keys[i]);
  }
  /* without the list FPM's count stands, and says so */
  assert_int_equal(YAJL_GET_INTEGER(jget(rb, "metrics", "active_processes")),
                   3);
  assert_true(YAJL_IS_NULL(jget(rb, "states", "running")));
  yajl_tree_free(ra);
  yajl_tree_free(rb);
  fix_free(&a);
  fix_free(&b);
}

static void test_json_error(void **state) {
  (void)state;
  struct fpm_result r;
  fpm_result_init(&r);
  r.err = FPM_EHTTP;
  r.http_status = 404;
  snprintf(r.message, sizeof r.message,
           "unix:/x: status page answered an error (404 \"File not found.\")");
  snprintf(r.stderr_excerpt, sizeof r.stderr_excerpt, "Primary script unknown");
  struct fpm_output_item it = {"unix:/x", &r, NULL, NULL, NULL, NULL};
  struct fpm_output_opts o = {.format = FPM_OUT_JSON};
  struct fpm_buf out;
  fpm_buf_init(&out);
  assert_int_equal(fpm_output_render(&o, &it, 1, &out), 0);
  char err[128];
  yajl_val root = yajl_tree_parse(out.data, err, sizeof err);
  assert_non_null(root);
  assert_true(YAJL_IS_FALSE(jget(root, "ok", NULL)));
  assert_int_equal(YAJL_GET_INTEGER(jget(root, "error", "code")), 5);
  assert_int_equal(YAJL_GET_INTEGER(jget(root, "error", "http_status")), 404);
  assert_string_equal(YAJL_GET_STRING(jget(root, "error", "stderr")),
                      "Primary script unknown");
  yajl_tree_free(root);
  /* the other line formats print nothing for a failed target */
  static const enum fpm_outfmt quiet[] = {FPM_OUT_PUTVAL, FPM_OUT_GRAPHITE,
                                          FPM_OUT_INFLUX};
  for (size_t i = 0; i < 3; i++) {
    fpm_buf_reset(&out);
    o.format = quiet[i];
    assert_int_equal(fpm_output_render(&o, &it, 1, &out), 0);
    assert_int_equal(out.len, 0);
  }
  fpm_buf_free(&out);
  fpm_result_clear(&r);
}

/* The exact bytes: the writer is hand-made, so its spelling is pinned here
 * (yajl_gen's: no spaces, \b \f \n \r \t, \u00XX in upper case, '/' and DEL
 * as they are). A worker object and an error object, whole. */
static void test_json_exact(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, "www", 1);
  const char *out = render(&f, FPM_OUT_JSON, 1);
  assert_non_null(strstr(
      out, "{\"slot\":0,\"self\":false,\"pid\":101,\"state\":\"Idle\","
           "\"start_time\":1795870000,\"start_since\":3000,\"requests\":4,"
           "\"request_duration_us\":15000,\"content_length\":0,"
           "\"last_request_memory\":2097152,\"last_request_cpu\":12.5,"
           "\"request_method\":\"GET\",\"request_uri\":\"/index.php\","
           "\"user\":\"us\\\"er\\\\ name,=\\n\","
           "\"script\":\"/var/www/\\\"quoted\\\" dir\\\\x\\n.php\","
           "\"repaired\":false},"));
  assert_non_null(strstr(out, "\"pool\":\"www\",\"process_manager\":\"static\","
                              "\"start_time\":1795870000,\"metrics\":{\"up\":1,"
                              "\"accepted_conn\":12345,"));
  assert_int_equal(out[strlen(out) - 1], '\n');
  fix_free(&f);

  struct fpm_result r;
  fpm_result_init(&r);
  r.err = FPM_ETIMEOUT;
  r.fcgi = FCGI_ETIMEDOUT;
  snprintf(r.message, sizeof r.message, "t\x01\x7f/\xff");
  struct fpm_output_item it = {"unix:/x", &r, NULL, NULL, NULL, NULL};
  struct fpm_output_opts o = {.format = FPM_OUT_JSON};
  struct fpm_buf b, want;
  fpm_buf_init(&b);
  fpm_buf_init(&want);
  assert_int_equal(fpm_output_render(&o, &it, 1, &b), 0);
  fpm_buf_printf(&want,
                 "{\"target\":\"unix:/x\",\"ok\":false,\"error\":{\"code\":3,"
                 "\"class\":\"%s\",\"message\":\"t\\u0001\x7f/\xef\xbf\xbd\","
                 "\"fcgi\":\"%s\",\"http_status\":null,\"stderr\":null}}\n",
                 fpm_err_str(FPM_ETIMEOUT), fcgi_err_name(FCGI_ETIMEDOUT));
  assert_string_equal(b.data, want.data);
  fpm_buf_free(&b);
  fpm_buf_free(&want);
  fpm_result_clear(&r);
}

/* How the JSON grammar spells byte c inside a string, as yajl_gen does. */
static void json_spelling(struct fpm_buf *b, unsigned c) {
  const char *sp = c == '\b'   ? "\\b"
                   : c == '\f' ? "\\f"
                   : c == '\n' ? "\\n"
                   : c == '\r' ? "\\r"
                   : c == '\t' ? "\\t"
                   : c == '"'  ? "\\\""
                   : c == '\\' ? "\\\\"
                               : NULL;
  if (sp != NULL)
    fpm_buf_puts(b, sp);
  else if (c < 0x20)
    fpm_buf_printf(b, "\\u%04X", c);
  else if (c < 0x80)
    fpm_buf_putc(b, (char)c);
  else
    fpm_buf_puts(b, "\xef\xbf\xbd"); /* alone, never valid UTF-8 */
}

/* Every byte at every position of a 20-byte string (the writer copies 8
 * plain bytes at a time): the string reads back (yajl_tree) as the UTF-8
 * cleaning of the input, and is spelt exactly as yajl_gen spelt it. */
static void test_json_every_byte(void **state) {
  (void)state;
  struct fpm_buf b, clean, doc, want;
  fpm_buf_init(&b);
  fpm_buf_init(&clean);
  fpm_buf_init(&doc);
  fpm_buf_init(&want);
  for (unsigned c = 1; c < 256; c++)
    for (size_t k = 0; k < 20; k++) {
      char in[21];
      for (size_t i = 0; i < 20; i++)
        in[i] = (char)('a' + i);
      in[k] = (char)c;
      in[20] = '\0';
      fpm_buf_reset(&b);
      fpm_out_json_str(&b, in, 20);
      fpm_buf_reset(&want);
      fpm_buf_putc(&want, '"');
      fpm_buf_add(&want, in, k);
      json_spelling(&want, c);
      fpm_buf_add(&want, in + k + 1, 19 - k);
      fpm_buf_putc(&want, '"');
      if (strcmp(b.data, want.data) != 0)
        fail_msg("byte 0x%02x at %zu: %s, not %s", c, k, b.data, want.data);
      fpm_buf_reset(&clean);
      fpm_out_utf8(&clean, in, 20);
      fpm_buf_reset(&doc);
      fpm_buf_printf(&doc, "{\"k\":%s}", b.data);
      char err[128];
      yajl_val root = yajl_tree_parse(doc.data, err, sizeof err);
      if (root == NULL)
        fail_msg("byte 0x%02x: not JSON (%s): %s", c, err, doc.data);
      assert_string_equal(YAJL_GET_STRING(jget(root, "k", NULL)), clean.data);
      yajl_tree_free(root);
    }
  /* valid sequences pass, a cut one becomes one U+FFFD per byte */
  fpm_buf_reset(&b);
  fpm_out_json_str(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x82", 11);
  assert_string_equal(b.data, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                              "\xef\xbf\xbd\xef\xbf\xbd\"");
  fpm_buf_free(&b);
  fpm_buf_free(&clean);
  fpm_buf_free(&doc);
  fpm_buf_free(&want);
}

/* --------------------------------------------------------------- text */

static void test_text_hostile(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, HOSTILE_POOL, 1);
  char **v;
  size_t n = lines(render(&f, FPM_OUT_TEXT, 1), &v);
  int pool_lines = 0, self_rows = 0;
  for (size_t i = 0; i < n; i++) {
    assert_no_ctl(v[i]);
    assert_true(valid_utf8(v[i]));
    if (strstr(v[i], "pool:") != NULL) {
      pool_lines++;
      assert_non_null(
          strstr(v[i], "we ird,pool=x \"q\" \\b\\nnl.dot/sl\\t#{}"));
    }
    if (v[i][0] == '*')
      self_rows++;
  }
  assert_int_equal(pool_lines, 1);
  assert_int_equal(self_rows, 1); /* our own request is marked */
  /* header, 5 worker rows and the legend: the table is there */
  const char *out = f.out.data;
  assert_non_null(strstr(out, "active 2, idle 3, total 5"));
  assert_non_null(strstr(out, "our own request not counted as active"));
  /* the slowest running request comes first, the scrape is not listed */
  const char *slow = strstr(out, "running requests:");
  assert_non_null(slow);
  assert_non_null(strstr(slow, "5.200 s  pid 102"));
  assert_null(strstr(slow, "pid 103"));
  free_lines(v, n);
  fix_free(&f);
}

/* ----------------------------------------------------------- escaping */

static const char *esc(void (*fn)(struct fpm_buf *, const char *),
                       const char *in, struct fpm_buf *b) {
  fpm_buf_reset(b);
  fn(b, in);
  return b->data != NULL ? b->data : "";
}

static void cd(struct fpm_buf *b, const char *s) {
  fpm_out_cd_part(b, s, 63);
}

static void test_escaping(void **state) {
  (void)state;
  struct fpm_buf b;
  fpm_buf_init(&b);
  assert_string_equal(esc(cd, "a/b\"c\\d\ne-f.g h", &b), "a_b_c_d_e-f.g h");
  assert_string_equal(esc(cd, "", &b), "_");
  assert_string_equal(esc(cd, "caf\xc3\xa9\xff", &b), "caf\xc3\xa9_");
  assert_string_equal(esc(fpm_out_graphite_part, "a.b c\td/e(f):g!h,i", &b),
                      "a_b_c_d_e_f__g_h_i");
  assert_string_equal(esc(fpm_out_influx_tag, "a,b=c d\ne", &b),
                      "a\\,b\\=c\\ d\\ne");
  /* a trailing backslash would escape the separator after the value */
  assert_string_equal(esc(fpm_out_influx_tag, "end\\\\", &b), "end");
  assert_string_equal(esc(fpm_out_influx_tag, "a\\ b\\,", &b), "a\\\\ b\\\\,");
  assert_string_equal(esc(fpm_out_influx_str, "say \"hi\"\\\n", &b),
                      "\"say \\\"hi\\\"\\\\\\n\"");
  assert_string_equal(esc(fpm_out_prom_label, "a\\b\"c\nd\re\xc3", &b),
                      "a\\\\b\\\"c\\nd e\xef\xbf\xbd");
  /* a cut UTF-8 sequence is not copied half */
  fpm_buf_reset(&b);
  fpm_out_cd_part(&b, "ab\xc3\xa9", 3);
  assert_string_equal(b.data, "ab");
  fpm_buf_reset(&b);
  fpm_out_text_str(&b, "x\ny\x01\xff", 100);
  assert_string_equal(b.data, "x\\ny\\x01\\xff");
  fpm_buf_free(&b);
}

static void test_numbers(void **state) {
  (void)state;
  static const struct {
    double v;
    const char *want;
  } cases[] = {{0, "0"},
               {-0.0, "0"},
               {12345, "12345"},
               {-3, "-3"},
               {0.5, "0.5"},
               {0.00012, "0.00012"},
               {9007199254740991.0, "9007199254740991"},
               {9007199254740992.0, "9.00719925474099e+15"},
               {1e300, "1e+300"},
               {1.8e-05, "1.8e-05"},
               {-0.000123, "-0.000123"},
               {2.001094 / 7, "0.285870571428571"},
               {1e20, "1e+20"},
               {123456.789012345, "123456.789012345"},
               {0.1 + 1.4e-17, "0.1"},
               {100.0 / 3, "33.3333333333333"},
               /* exact ties at the 16th digit: to even, as printf */
               {123456789012345.5, "123456789012346"},
               {123456789012344.5, "123456789012344"},
               {999999999999999.5, "1e+15"}};
  char b[32];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = fpm_out_num(b, sizeof b, cases[i].v);
    assert_string_equal(b, cases[i].want);
    assert_int_equal(n, strlen(cases[i].want));
  }
}

/* fpm_out_num against printf's "%.15g" itself, on values like the model's
 * (averages, percentiles, microsecond durations), powers of ten and their
 * neighbours, and random bit patterns; integral values take the integer
 * path (test_numbers). */
static void test_numbers_like_printf(void **state) {
  (void)state;
  uint64_t x = 0x9e3779b97f4a7c15u;
  char got[32], want[32];
  size_t compared = 0;
  for (int i = 0; i < 40000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    switch (i % 5) {
    case 0:
      memcpy(&v, &x, sizeof v);
      break;
    case 1:
      v = (double)(x % 100000000) / 1e6 / (double)(1 + (x >> 40) % 64);
      break;
    case 2:
      v = (double)(x % 1000000000000000u) / pow(10, (double)((x >> 50) % 30));
      break;
    case 3:
      v = pow(10, (double)((int)(x % 61) - 30));
      v = (x >> 32) & 1 ? nextafter(v, 0) : v;
      break;
    default:
      v = -(double)(x % 100000) / (double)(1 + (x >> 30) % 1000);
      break;
    }
    if (!isfinite(v) || (v == floor(v) && fabs(v) < 9007199254740992.0))
      continue;
    fpm_out_num(got, sizeof got, v);
    snprintf(want, sizeof want, "%.15g", v);
    if (strcmp(got, want) != 0)
      fail_msg("%.17g: %s, printf says %s", v, got, want);
    compared++;
  }
  assert_true(compared > 30000);
}

/* fpm_round_u64 against llround below 2^63, exact above. */
static void test_round(void **state) {
  (void)state;
  static const double v[] = {0.5,
                             1.5,
                             2.5,
                             0.49999999999999994,
                             4503599627370495.5,
                             4503599627370497.0,
                             9007199254740993.0,
                             1e-300,
                             123456.4999999,
                             9.2e18};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    assert_true(fpm_round_u64(v[i]) == (uint64_t)llround(v[i]));
  uint64_t x = 88172645463325252u;
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double d = ldexp((double)(x >> 11), (int)(x % 70) - 60);
    if (d < 9.2e18)
      assert_true(fpm_round_u64(d) == (uint64_t)llround(d));
  }
  assert_true(fpm_round_u64(1e19) == 10000000000000000000u);
  assert_true(fpm_round_u64(1e30) == UINT64_MAX);
  assert_true(fpm_round_u64(-3.5) == 0);
  assert_true(fpm_round_u64(NAN) == 0);
}

static void test_formats_by_name(void **state) {
  (void)state;
  enum fpm_outfmt f;
  for (int i = 0; i < FPM_OUT__COUNT; i++) {
    assert_int_equal(fpm_outfmt_parse(fpm_outfmt_name((enum fpm_outfmt)i), &f),
                     0);
    assert_int_equal(f, i);
  }
  assert_int_equal(fpm_outfmt_parse("xml", &f), -1);
}

/* The json writer copies the names of the project's own tables (metric
 * keys and units, state keys and names) without escaping them: each must
 * be short printable ASCII without a quote or a backslash. */
static void assert_plain_name(const char *s) {
  assert_non_null(s);
  assert_true(s[0] != '\0');
  for (const char *p = s; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '"' ||
        *p == '\\')
      fail_msg("name \"%s\" needs escaping in JSON", s);
}

static void test_json_names_plain(void **state) {
  (void)state;
  for (int id = 0; id < FPM_M__COUNT; id++) {
    const struct fpm_metric_def *d = fpm_metric_def_get((enum fpm_metric_id)id);
    assert_non_null(d);
    assert_plain_name(d->key);
    assert_plain_name(d->unit);
  }
  for (int st = 0; st < FPM_STATE__COUNT; st++) {
    assert_plain_name(fpm_state_key((enum fpm_state)st));
    assert_plain_name(fpm_state_name((enum fpm_state)st));
  }
}

/* The samples without collectd names are the same samples. */
static void test_samples_bare(void **state) {
  (void)state;
  struct fix f;
  fix_build(&f, HOSTILE_POOL, 1);
  struct fpm_sample a[128], b[128];
  for (int d = FPM_WORKERS_NONE; d <= FPM_WORKERS_SLOTS; d++) {
    size_t na = fpm_metrics_samples(&f.m, (enum fpm_worker_detail)d, 8, a, 128);
    size_t nb =
        fpm_metrics_samples_bare(&f.m, (enum fpm_worker_detail)d, 8, b, 128);
    assert_int_equal(na, nb);
    assert_true(na > 10 && na <= 128);
    for (size_t i = 0; i < na; i++) {
      assert_ptr_equal(a[i].def, b[i].def);
      assert_string_equal(a[i].instance, b[i].instance);
      assert_true(a[i].value == b[i].value);
      assert_string_equal(b[i].type_instance, "");
    }
    /* what json reads without samples: the plain metrics and the stats */
    for (int id = 0; id < FPM_M_SLOT_STATE; id++) {
      const struct fpm_sample *first = NULL;
      size_t count = 0;
      for (size_t i = 0; i < na; i++)
        if (a[i].def->id == (enum fpm_metric_id)id && count++ == 0)
          first = &a[i];
      double v = -1;
      int has = fpm_metrics_plain(&f.m, (enum fpm_metric_id)id,
                                  (enum fpm_worker_detail)d, &v);
      const struct fpm_stats *st = fpm_metrics_stats(
          &f.m, (enum fpm_metric_id)id, (enum fpm_worker_detail)d);
      if (fpm_metric_def_get((enum fpm_metric_id)id)->family) {
        assert_int_equal(has, 0);
        if (st != NULL) {
          assert_int_equal(count, 6);
          assert_true(first->value == st->min && first[5].value == st->p99);
        }
      } else {
        assert_int_equal(has, count);
        if (has)
          assert_true(first->value == v);
      }
    }
  }
  fix_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_putval_hostile),
      cmocka_unit_test(test_graphite_hostile),
      cmocka_unit_test(test_influx_hostile),
      cmocka_unit_test(test_prometheus_hostile),
      cmocka_unit_test(test_prometheus_many_targets),
      cmocka_unit_test(test_json_hostile),
      cmocka_unit_test(test_json_same_keys_without_list),
      cmocka_unit_test(test_json_error),
      cmocka_unit_test(test_json_exact),
      cmocka_unit_test(test_json_every_byte),
      cmocka_unit_test(test_text_hostile),
      cmocka_unit_test(test_escaping),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_numbers_like_printf),
      cmocka_unit_test(test_round),
      cmocka_unit_test(test_formats_by_name),
      cmocka_unit_test(test_json_names_plain),
      cmocka_unit_test(test_samples_bare),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
