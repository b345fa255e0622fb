/* libFuzzer target: fpmstat's output formats (src/cli/fpm_output.h) fed with
 * arbitrary pool, target, host and worker strings. The first input byte
 * picks the format (byte % FPM_OUT__COUNT: text, json, putval, graphite,
 * influx, prometheus), so that libFuzzer steers each format on its own; the
 * rest holds up to seven NUL-separated fields: pool, request uri, script,
 * user, method, target name, host. Each execution builds a status page with
 * two workers carrying those strings (JSON-escaped and parsed by the real
 * parser; the pool name set raw, as FPM prints it), runs the model, renders
 * the chosen format with per-worker data (--full) for that target and a
 * failed one whose message is the uri, and checks its output:
 *  - putval: each line is `PUTVAL "host/plugin-instance/type-instance"
 *    [interval=N] N:V` (one quoted identifier with exactly two slashes);
 *  - graphite: each line has three space-separated fields;
 *  - influx: each line has exactly two separating spaces (unescaped in
 *    measurement and tags, outside string values in the fields);
 *  - prometheus: each line is a comment or `name{label="..."} value` whose
 *    label values use only the escapes \\ \" \n;
 *  - json: one line per target, each an object yajl_tree parses back;
 *    text: renders.
 * No line of a line format may come from a raw newline in a string, and
 * each of their outputs ends with a newline. */
#include "fpm_output.h"
#include "fuzz_split.h"

#include <string.h>
#include <yajl/yajl_tree.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ASan keeps freed memory in a quarantine (256 MiB by default) so that a
 * use after free finds it poisoned. One execution here frees well under
 * 1 MiB and no memory outlives it, so 16 MiB still covers every use after
 * free within an execution (and many executions after it), while the
 * allocator hands out memory that is still mapped and in cache: about 1.3
 * to 1.5 times the executions per second. ASAN_OPTIONS overrides it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "quarantine_size_mb=16";
}

enum { F_POOL, F_URI, F_SCRIPT, F_USER, F_METHOD, F_TARGET, F_HOST, F_N };

static void json_str(struct fpm_buf *b, const char *s) {
  fpm_buf_putc(b, '"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fpm_buf_printf(b, "\\%c", c);
    else if (c < 0x20)
      fpm_buf_printf(b, "\\u%04x", c);
    else
      fpm_buf_putc(b, (char)c);
  }
  fpm_buf_putc(b, '"');
}

static void worker_json(struct fpm_buf *b, int pid, const char *state,
                        char *const *f) {
  fpm_buf_printf(b,
                 "{\"pid\":%d,\"state\":\"%s\",\"start time\":1,\"start "
                 "since\":2,\"requests\":3,\"request duration\":4000,"
                 "\"request method\":",
                 pid, state);
  json_str(b, f[F_METHOD]);
  fpm_buf_puts(b, ",\"request uri\":");
  json_str(b, f[F_URI]);
  fpm_buf_puts(b, ",\"content length\":0,\"user\":");
  json_str(b, f[F_USER]);
  fpm_buf_puts(b, ",\"script\":");
  json_str(b, f[F_SCRIPT]);
  fpm_buf_puts(b, ",\"last request cpu\":1.5,\"last request memory\":2048}");
}

static void build_body(struct fpm_buf *b, char *const *f) {
  fpm_buf_puts(b, "{\"pool\":\"p\",\"process manager\":\"static\",\"start "
                  "time\":1,\"start since\":2,\"accepted conn\":3,\"listen "
                  "queue\":0,\"max listen queue\":0,\"listen queue len\":0,"
                  "\"idle processes\":1,\"active processes\":1,\"total "
                  "processes\":2,\"max active processes\":1,\"max children "
                  "reached\":0,\"slow requests\":0,\"processes\":[");
  worker_json(b, 10, "Idle", f);
  fpm_buf_putc(b, ',');
  worker_json(b, 11, "Running", f);
  fpm_buf_puts(b, "]}");
}

/* Lines of out, each checked by fn. */
static void each_line(const struct fpm_buf *out,
                      void (*fn)(const char *, size_t)) {
  const char *p = out->len ? out->data : "";
  const char *end = p + out->len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    FZ_CHECK(nl != NULL, "output does not end with a newline");
    fn(p, (size_t)(nl - p));
    p = nl + 1;
  }
}

static void putval_line(const char *l, size_t n) {
  FZ_CHECK(n > 8 && memcmp(l, "PUTVAL \"", 8) == 0, "putval line: %.*s", (int)n,
           l);
  const char *q = memchr(l + 8, '"', n - 8);
  FZ_CHECK(q != NULL, "putval: unterminated identifier");
  size_t slashes = 0;
  for (const char *c = l + 8; c < q; c++)
    slashes += *c == '/';
  FZ_CHECK(slashes == 2, "putval identifier with %zu slashes: %.*s", slashes,
           (int)n, l);
  FZ_CHECK(memchr(q + 1, '"', n - (size_t)(q + 1 - l)) == NULL,
           "putval: a quote after the identifier: %.*s", (int)n, l);
}

static void graphite_line(const char *l, size_t n) {
  size_t sp = 0;
  for (size_t i = 0; i < n; i++)
    sp += l[i] == ' ';
  FZ_CHECK(sp == 2 && n > 0 && l[0] != ' ', "graphite line: %.*s", (int)n, l);
}

static void influx_line(const char *l, size_t n) {
  /* measurement,tags fields timestamp, read as InfluxDB 1.x reads it
   * (models/points.go): in the measurement and tags a byte is escaped when
   * the byte before it is a backslash and `"` is literal; in the fields a
   * backslash escapes the next byte and `"` opens and closes strings */
  size_t sp = 0;
  int quoted = 0;
  for (size_t i = 0; i < n; i++) {
    if (sp == 0) {
      if (l[i] == ' ' && (i == 0 || l[i - 1] != '\\'))
        sp++;
      continue;
    }
    if (l[i] == '\\' && i + 1 < n) {
      i++;
      continue;
    }
    if (l[i] == '"' && sp == 1)
      quoted = !quoted;
    else if (l[i] == ' ' && !quoted)
      sp++;
  }
  FZ_CHECK(!quoted && sp == 2, "influx line (%zu spaces): %.*s", sp, (int)n, l);
}

static void prom_line(const char *l, size_t n) {
  if (n == 0 || l[0] == '#')
    return;
  const char *br = memchr(l, '{', n);
  if (br == NULL) {
    FZ_CHECK(memchr(l, ' ', n) != NULL, "prometheus line: %.*s", (int)n, l);
    return;
  }
  size_t i = (size_t)(br - l) + 1;
  for (;;) { /* name="value" pairs */
    while (i < n && l[i] != '=' && l[i] != '}')
      i++;
    if (i < n && l[i] == '}')
      break;
    FZ_CHECK(i + 1 < n && l[i + 1] == '"', "label without quotes: %.*s", (int)n,
             l);
    for (i += 2; i < n && l[i] != '"'; i++) {
      if (l[i] == '\\') {
        FZ_CHECK(i + 1 < n && strchr("\\\"n", l[i + 1]) != NULL,
                 "bad escape in a label: %.*s", (int)n, l);
        i++;
      }
    }
    FZ_CHECK(i < n, "unterminated label value: %.*s", (int)n, l);
    i++;
    if (i < n && l[i] == ',')
      i++;
  }
  FZ_CHECK(i + 1 < n && l[i + 1] == ' ', "no value after labels: %.*s", (int)n,
           l);
}

static void json_line(const char *l, size_t n) {
  char *z = malloc(n + 1), err[200];
  FZ_CHECK(z != NULL, "out of memory");
  memcpy(z, l, n);
  z[n] = '\0';
  yajl_val v = yajl_tree_parse(z, err, sizeof err);
  FZ_CHECK(v != NULL && YAJL_IS_OBJECT(v), "json line does not parse: %s: %s",
           err, z);
  yajl_tree_free(v);
  free(z);
}

static size_t count_lines(const struct fpm_buf *out) {
  size_t k = 0;
  for (size_t i = 0; i < out->len; i++)
    k += out->data[i] == '\n';
  return k;
}

static void render(enum fpm_outfmt fmt, const struct fpm_output_item *items,
                   size_t n, const char *host) {
  struct fpm_output_opts o = {.format = fmt,
                              .full = 1,
                              .host = host,
                              .interval_s = 10,
                              .graphite_prefix = "fz.",
                              .now_s = 1795873806,
                              .now_ns = 1795873806000000000LL,
                              .max_slots = 4};
  struct fpm_buf out;
  fpm_buf_init(&out);
  FZ_CHECK(fpm_output_render(&o, items, n, &out) == 0 && !out.oom,
           "render failed");
  switch (fmt) {
  case FPM_OUT_PUTVAL:
    each_line(&out, putval_line);
    break;
  case FPM_OUT_GRAPHITE:
    each_line(&out, graphite_line);
    break;
  case FPM_OUT_INFLUX:
    each_line(&out, influx_line);
    break;
  case FPM_OUT_PROMETHEUS:
    each_line(&out, prom_line);
    break;
  case FPM_OUT_JSON: /* JSON lines: one object per target */
    FZ_CHECK(count_lines(&out) == n, "%zu json lines for %zu targets",
             count_lines(&out), n);
    each_line(&out, json_line);
    break;
  default:
    break;
  }
  fpm_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  enum fpm_outfmt fmt = (enum fpm_outfmt)(data[0] % FPM_OUT__COUNT);
  data++;
  size--;
  char *copy = malloc(size + 1);
  FZ_CHECK(copy != NULL, "out of memory");
  memcpy(copy, data, size);
  copy[size] = '\0';
  char *f[F_N];
  char *p = copy, *end = copy + size;
  for (int i = 0; i < F_N; i++) {
    f[i] = p <= end ? p : end;
    p = p <= end ? p + strlen(p) + 1 : end + 1;
  }
  struct fpm_buf body;
  fpm_buf_init(&body);
  build_body(&body, f);
  FZ_CHECK(!body.oom, "out of memory");
  struct fpm_result res[2];
  fpm_result_init(&res[0]);
  fpm_result_init(&res[1]);
  FZ_CHECK(fpm_status_parse(body.data, body.len, FPM_FORMAT_JSON,
                            &res[0].status, NULL) == FPM_P_OK,
           "generated body does not parse");
  snprintf(res[0].status.pool, sizeof res[0].status.pool, "%s", f[F_POOL]);
  snprintf(res[0].marker, sizeof res[0].marker, "%s", "fpmstat=00");
  /* a failed target with a message from the input, too */
  res[1].err = FPM_ECONNECT;
  snprintf(res[1].message, sizeof res[1].message, "%s", f[F_URI]);
  struct fpm_metrics m;
  struct fpm_model_opts mo = {.self_marker = "fpmstat=00"};
  fpm_model_compute(&res[0].status, &mo, NULL, &m);
  struct fpm_output_item items[2] = {
      {f[F_TARGET], &res[0], &m, NULL, NULL, NULL},
      {f[F_POOL], &res[1], NULL, NULL, NULL, f[F_POOL]}};
  render(fmt, items, 2, f[F_HOST][0] ? f[F_HOST] : NULL);
  fpm_result_clear(&res[0]);
  fpm_result_clear(&res[1]);
  fpm_buf_free(&body);
  free(copy);
  return 0;
}
