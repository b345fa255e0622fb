/*
 * fpm_output.h: fpmstat's output formats (private to the project, not
 * installed): text, json, collectd PUTVAL, Graphite plaintext, InfluxDB line
 * protocol and Prometheus text exposition.
 *
 * Every format prints the numbers of the shared model (fpm_model_compute and
 * fpm_metrics_samples); a formatter only selects, names and escapes them.
 * Strings that come from FPM (pool name, request uri, script, user, method)
 * are escaped or sanitised per format so they can never break a line, end a
 * quoted string early or add a series.
 *
 * Output goes into a growable buffer (struct fpm_buf) so tests can read it
 * back. Functions are pure over caller-owned data; no global state.
 */
#ifndef FPM_FPM_OUTPUT_H
#define FPM_FPM_OUTPUT_H

#include "fpm_fetch.h"
#include "fpm_model.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- buffer */

/* A growable NUL-terminated text buffer. Zero-initialise or fpm_buf_init;
 * fpm_buf_free releases it. After an allocation failure oom is set and
 * further appends are ignored. */
struct fpm_buf {
  char *data; /* NUL-terminated when len > 0 */
  size_t len, cap;
  int oom;
};

void fpm_buf_init(struct fpm_buf *b);
void fpm_buf_free(struct fpm_buf *b);
void fpm_buf_reset(struct fpm_buf *b); /* empty, keeps the memory */
void fpm_buf_add(struct fpm_buf *b, const char *s, size_t n);
/* Room for more bytes (and the NUL) after len: 0, or -1 with oom set. Lets a
 * writer fill data + len directly, then advance len and write the NUL. */
int fpm_buf_reserve(struct fpm_buf *b, size_t more);
void fpm_buf_puts(struct fpm_buf *b, const char *s);
void fpm_buf_putc(struct fpm_buf *b, char c);
__attribute__((format(printf, 2, 3))) void fpm_buf_printf(struct fpm_buf *b,
                                                          const char *fmt, ...);

/* ------------------------------------------------------------ formats */

enum fpm_outfmt {
  FPM_OUT_TEXT = 0,
  FPM_OUT_JSON,
  FPM_OUT_PUTVAL,
  FPM_OUT_GRAPHITE,
  FPM_OUT_INFLUX,
  FPM_OUT_PROMETHEUS,
  FPM_OUT__COUNT
};

/* "text", "json", ... ; returns 0 and sets *out, or -1 for an unknown name. */
int fpm_outfmt_parse(const char *name, enum fpm_outfmt *out);
const char *fpm_outfmt_name(enum fpm_outfmt f);

struct fpm_output_opts {
  enum fpm_outfmt format;
  int full;                    /* per-worker data (table, workers[], ...) */
  const char *host;            /* putval/graphite host; NULL = "localhost" */
  double interval_s;           /* putval interval; <= 0: not printed */
  const char *graphite_prefix; /* prepended verbatim; NULL = "" */
  int64_t now_s;               /* graphite timestamps (epoch seconds) */
  int64_t now_ns;              /* influx timestamps (epoch nanoseconds) */
  size_t top_n;                /* slowest running requests in text; 0 = 5 */
  size_t max_slots;            /* --full slot series cap; 0 = 4096 */
};

struct fpm_opcache_result;

/* One target's outcome. */
struct fpm_output_item {
  const char *target;           /* how the target is named in the output */
  const struct fpm_result *res; /* err, message, snapshot, marker */
  const struct fpm_metrics *m;  /* the model of res->status; NULL when
                                   res->err != FPM_OK */
  /* --opcache: the OPcache script's result, else NULL
   * (fpm_output_opcache.h) */
  const struct fpm_opcache_result *opcache;
  /* --discover --opcache: the name of the master opcache belongs to
   * (fpm_master.h), else NULL; points into the caller's data */
  const char *master;
  /* --discover: the pool's section name from the configuration, so that a
   * pool whose fetch failed is still named (prometheus phpfpm_up 0, the
   * json error object); a page that was read names its pool itself. NULL:
   * unknown (targets given by hand) */
  const char *pool;
};

/* Render n items in order (Prometheus groups them by metric family, as its
 * format requires) and append to out. Returns 0, or -1 on out of memory.
 * Failed targets add nothing to stdout formats except: json (an object with
 * the error) and prometheus (phpfpm_up 0). */
int fpm_output_render(const struct fpm_output_opts *o,
                      const struct fpm_output_item *items, size_t n,
                      struct fpm_buf *out);

/* ------------------------------------------- escaping (shared, tested) */

/* Append s as valid UTF-8: every byte of an invalid or cut sequence becomes
 * U+FFFD. Control characters are kept (callers escape them). */
void fpm_out_utf8(struct fpm_buf *b, const char *s, size_t n);

/* A JSON string, quotes included, byte for byte as yajl_gen writes the
 * fpm_out_utf8 cleaning of s[0..n): '"' '\\' \b \f \n \r \t escaped with a
 * backslash, other bytes below 0x20 as \u00XX (upper-case hex), '/' and DEL
 * as they are, every byte of an invalid UTF-8 sequence as U+FFFD. */
void fpm_out_json_str(struct fpm_buf *b, const char *s, size_t n);
/* The same without the quotes, written at p, which must have room for 6 * n
 * bytes (the worst case, \u00XX per byte); returns the end (no NUL). */
char *fpm_out_json_body(char *p, const char *s, size_t n);

/* A collectd identifier part (host, plugin instance, type instance): no
 * '/', '"', '\\', control characters or invalid UTF-8 (each becomes '_'),
 * at most max bytes, "" becomes "_" . */
void fpm_out_cd_part(struct fpm_buf *b, const char *s, size_t max);

/* A Graphite path part as collectd's write_graphite escapes it by default
 * (EscapeCharacter '_'): '.', white space and control characters, the
 * forbidden set  \t"\\:!,/()  and invalid UTF-8 become '_'. */
void fpm_out_graphite_part(struct fpm_buf *b, const char *s);

/* One value's identifier, the same in every collectd-style line: PUTVAL's
 * `PUTVAL "host/plugin-instance/type[-type_instance]"[ interval=I] N:`
 * (interval_s 0: none), and Graphite's
 * `[prefix]host.plugin-instance.type[-type_instance] ` as write_graphite
 * builds it (the prefix verbatim except the characters write_graphite
 * replaces; dots kept). type_instance "" or NULL: none. Parts are escaped
 * as above; an empty instance is "_". */
void fpm_out_putval_id(struct fpm_buf *b, const char *host, const char *plugin,
                       const char *instance, const char *type,
                       const char *type_instance, double interval_s);
void fpm_out_graphite_id(struct fpm_buf *b, const char *prefix,
                         const char *host, const char *plugin,
                         const char *instance, const char *type,
                         const char *type_instance);

/* InfluxDB line protocol: a tag value (',', '=', ' ' escaped with a
 * backslash; newline, CR, tab as \n \r \t; trailing backslashes left out,
 * since InfluxDB 1.x would read them as escaping the separator after the
 * value) and a string field value (between quotes; '"' and '\\' escaped;
 * newline as \n; trailing backslashes left out). Invalid UTF-8 becomes
 * U+FFFD. */
void fpm_out_influx_tag(struct fpm_buf *b, const char *s);
void fpm_out_influx_str(struct fpm_buf *b, const char *s);

/* Prometheus label value (without the quotes): \\ \" \n escaped, other
 * control characters as spaces, invalid UTF-8 as U+FFFD. */
void fpm_out_prom_label(struct fpm_buf *b, const char *s);

/* Text: printable, with C escapes for control characters (\n, \t, \xNN). */
void fpm_out_text_str(struct fpm_buf *b, const char *s, size_t max);

/* A number as text into buf (cap >= 32): integral values (|v| < 2^53) as
 * integers, others with 15 significant digits ("%.15g"; "nan", "inf" for
 * non-finite values: callers decide about those). Returns the length. */
size_t fpm_out_num(char *buf, size_t cap, double v);

/* Decimal digits of v into buf (cap >= 21), as "%" PRIu64 prints them, and
 * of a signed v as "%" PRId64 does; NUL-terminated. Returns the length. */
size_t fpm_out_u64(char *buf, size_t cap, uint64_t v);
/* The digits of v at p, which has room for 20; returns their end (no NUL). */
char *fpm_out_u64_at(char *p, uint64_t v);
size_t fpm_out_i64(char *buf, size_t cap, int64_t v);

/* Renderers per format (fpm_output_render dispatches to them). */
int fpm_output_text(const struct fpm_output_opts *o,
                    const struct fpm_output_item *it, struct fpm_buf *out);
int fpm_output_json(const struct fpm_output_opts *o,
                    const struct fpm_output_item *it, struct fpm_buf *out);
int fpm_output_putval(const struct fpm_output_opts *o,
                      const struct fpm_output_item *it, struct fpm_buf *out);
int fpm_output_graphite(const struct fpm_output_opts *o,
                        const struct fpm_output_item *it, struct fpm_buf *out);
int fpm_output_influx(const struct fpm_output_opts *o,
                      const struct fpm_output_item *it, struct fpm_buf *out);
int fpm_output_prometheus(const struct fpm_output_opts *o,
                          const struct fpm_output_item *items, size_t n,
                          struct fpm_buf *out);

/* The samples of one item (m NULL gives the single up=0 sample); *out is
 * malloc'ed, the count is returned, (size_t)-1 on out of memory. */
size_t fpm_output_samples(const struct fpm_output_opts *o,
                          const struct fpm_metrics *m, struct fpm_sample **out);

/* Up to cap indices of the slowest requests in progress (non-Idle workers,
 * our own request left out), longest first; returns how many. */
size_t fpm_output_slowest(const struct fpm_output_item *it, size_t *idx,
                          size_t cap);

/* A bar of width cells: one symbol per worker state in proportion
 * (R running, H reading headers, G getting info, F finishing, E ending,
 * ? unknown, . idle). Nothing without a worker list. */
void fpm_output_state_bar(struct fpm_buf *b, const struct fpm_metrics *m,
                          size_t width);

/* The worker our own request occupies (from the model), or -1. */
long fpm_output_self_index(const struct fpm_output_item *it);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_OUTPUT_H */
