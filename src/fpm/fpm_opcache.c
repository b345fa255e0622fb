/*
 * fpm_opcache.c: run the OPcache script through a pool and read its JSON
 * (yajl's tree parser: the answer is small and bounded), classify what went
 * wrong with the fix, and the OPcache metric table every writer names its
 * series from.
 */
#include "fpm_opcache.h"
#include "fpm_fetch_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#ifndef FPMSTAT_VERSION
#define FPMSTAT_VERSION "0"
#endif

#define OC_MAX_BODY (256 * 1024) /* the answer is about 1.5 KB */

/* --------------------------------------------------------------- table */

#define DEF(id_, key_, ctr_, unit_, type_, ti_, scale_, prom_, help_)          \
  [id_] = {id_, key_, ctr_, unit_, type_, ti_, scale_, prom_, help_}

static const struct fpm_opcache_def defs[FPM_OC__COUNT] = {
    DEF(FPM_OC_ENABLED, "enabled", 0, "bool", "bool", "enabled", 1,
        "phpfpm_opcache_enabled",
        "1 when OPcache is loaded and enabled in the pool that ran the "
        "script"),
    DEF(FPM_OC_HITS, "hits", 1, "requests", "cache_result", "hits", 1,
        "phpfpm_opcache_hits_total", "script loads served from OPcache"),
    DEF(FPM_OC_MISSES, "misses", 1, "requests", "cache_result", "misses", 1,
        "phpfpm_opcache_misses_total", "script loads that compiled the file"),
    DEF(FPM_OC_HIT_RATIO, "hit_ratio", 0, "ratio", "cache_ratio", "hits", 100,
        "phpfpm_opcache_hit_ratio",
        "hits over hits + misses since OPcache (re)start (collectd: percent)"),
    DEF(FPM_OC_MEMORY_USED, "memory_used", 0, "bytes", "memory", "used", 1,
        "phpfpm_opcache_memory_used_bytes", "shared memory in use"),
    DEF(FPM_OC_MEMORY_FREE, "memory_free", 0, "bytes", "memory", "free", 1,
        "phpfpm_opcache_memory_free_bytes", "shared memory free"),
    DEF(FPM_OC_MEMORY_WASTED, "memory_wasted", 0, "bytes", "memory", "wasted",
        1, "phpfpm_opcache_memory_wasted_bytes",
        "shared memory held by outdated scripts until the next restart"),
    DEF(FPM_OC_CACHED_SCRIPTS, "cached_scripts", 0, "scripts", "cache_size",
        "scripts", 1, "phpfpm_opcache_cached_scripts", "scripts in the cache"),
    DEF(FPM_OC_CACHED_KEYS, "cached_keys", 0, "keys", "cache_size", "keys", 1,
        "phpfpm_opcache_cached_keys",
        "keys in the hash table (paths, aliases)"),
    DEF(FPM_OC_MAX_CACHED_KEYS, "max_cached_keys", 0, "keys", "cache_size",
        "max_keys", 1, "phpfpm_opcache_max_cached_keys",
        "size of the hash table (from opcache.max_accelerated_files)"),
    DEF(FPM_OC_OOM_RESTARTS, "oom_restarts", 1, "events", "total_events",
        "oom_restarts", 1, "phpfpm_opcache_oom_restarts_total",
        "restarts because the memory ran out"),
    DEF(FPM_OC_HASH_RESTARTS, "hash_restarts", 1, "events", "total_events",
        "hash_restarts", 1, "phpfpm_opcache_hash_restarts_total",
        "restarts because the hash table was full"),
    DEF(FPM_OC_MANUAL_RESTARTS, "manual_restarts", 1, "events", "total_events",
        "manual_restarts", 1, "phpfpm_opcache_manual_restarts_total",
        "restarts asked for by opcache_reset()"),
    DEF(FPM_OC_INTERNED_USED, "interned_strings_used", 0, "bytes", "memory",
        "interned_strings_used", 1,
        "phpfpm_opcache_interned_strings_used_bytes",
        "interned strings buffer in use"),
    DEF(FPM_OC_INTERNED_FREE, "interned_strings_free", 0, "bytes", "memory",
        "interned_strings_free", 1,
        "phpfpm_opcache_interned_strings_free_bytes",
        "interned strings buffer free"),
    DEF(FPM_OC_CACHE_FULL, "cache_full", 0, "bool", "bool", "cache_full", 1,
        "phpfpm_opcache_cache_full",
        "1 when the cache is full (memory or keys): new scripts are not "
        "cached"),
    DEF(FPM_OC_JIT_BUFFER_USED, "jit_buffer_used", 0, "bytes", "memory",
        "jit_buffer_used", 1, "phpfpm_opcache_jit_buffer_used_bytes",
        "JIT buffer in use (JIT on only)"),
    DEF(FPM_OC_JIT_BUFFER_FREE, "jit_buffer_free", 0, "bytes", "memory",
        "jit_buffer_free", 1, "phpfpm_opcache_jit_buffer_free_bytes",
        "JIT buffer free (JIT on only)"),
};

const struct fpm_opcache_def *fpm_opcache_def_get(enum fpm_opcache_metric id) {
  if ((unsigned)id >= FPM_OC__COUNT)
    return NULL;
  return &defs[id];
}

const char *fpm_opcache_default_script(void) {
#ifdef FPM_OPCACHE_BUILD_SCRIPT
  if (access(FPM_OPCACHE_SCRIPT, R_OK) != 0 &&
      access(FPM_OPCACHE_BUILD_SCRIPT, R_OK) == 0)
    return FPM_OPCACHE_BUILD_SCRIPT;
#endif
  return FPM_OPCACHE_SCRIPT;
}

double fpm_opcache_hit_ratio(const struct fpm_opcache *oc) {
  double all = (double)oc->hits + (double)oc->misses;
  return all > 0 ? (double)oc->hits / all : 0;
}

int fpm_opcache_value(const struct fpm_opcache *oc, enum fpm_opcache_metric id,
                      double *v) {
  if (id == FPM_OC_ENABLED) {
    *v = oc->enabled ? 1 : 0;
    return 1;
  }
  if (!oc->enabled)
    return 0;
  switch (id) {
  case FPM_OC_HITS:
    *v = (double)oc->hits;
    return 1;
  case FPM_OC_MISSES:
    *v = (double)oc->misses;
    return 1;
  case FPM_OC_HIT_RATIO:
    *v = fpm_opcache_hit_ratio(oc);
    return 1;
  case FPM_OC_MEMORY_USED:
    *v = (double)oc->memory_used;
    return 1;
  case FPM_OC_MEMORY_FREE:
    *v = (double)oc->memory_free;
    return 1;
  case FPM_OC_MEMORY_WASTED:
    *v = (double)oc->memory_wasted;
    return 1;
  case FPM_OC_CACHED_SCRIPTS:
    *v = (double)oc->cached_scripts;
    return 1;
  case FPM_OC_CACHED_KEYS:
    *v = (double)oc->cached_keys;
    return 1;
  case FPM_OC_MAX_CACHED_KEYS:
    *v = (double)oc->max_cached_keys;
    return 1;
  case FPM_OC_OOM_RESTARTS:
    *v = (double)oc->oom_restarts;
    return 1;
  case FPM_OC_HASH_RESTARTS:
    *v = (double)oc->hash_restarts;
    return 1;
  case FPM_OC_MANUAL_RESTARTS:
    *v = (double)oc->manual_restarts;
    return 1;
  case FPM_OC_INTERNED_USED:
    *v = (double)oc->interned_strings_used;
    return 1;
  case FPM_OC_INTERNED_FREE:
    *v = (double)oc->interned_strings_free;
    return 1;
  case FPM_OC_CACHE_FULL:
    *v = oc->cache_full ? 1 : 0;
    return 1;
  case FPM_OC_JIT_BUFFER_USED:
    if (!oc->jit_on)
      return 0;
    *v = oc->jit_buffer_size > oc->jit_buffer_free
             ? (double)(oc->jit_buffer_size - oc->jit_buffer_free)
             : 0;
    return 1;
  case FPM_OC_JIT_BUFFER_FREE:
    if (!oc->jit_on)
      return 0;
    *v = (double)oc->jit_buffer_free;
    return 1;
  default:
    return 0;
  }
}

/* --------------------------------------------------------------- parse */

static yajl_val get(yajl_val obj, const char *k1, const char *k2) {
  const char *path[3] = {k1, k2, NULL};
  return yajl_tree_get(obj, path, yajl_t_any);
}

static uint64_t get_u64(yajl_val obj, const char *k1, const char *k2) {
  yajl_val v = get(obj, k1, k2);
  if (v == NULL || !YAJL_IS_NUMBER(v))
    return 0;
  if (YAJL_IS_INTEGER(v))
    return YAJL_GET_INTEGER(v) > 0 ? (uint64_t)YAJL_GET_INTEGER(v) : 0;
  double d = YAJL_GET_DOUBLE(v);
  return isfinite(d) && d > 0 && d < 1.8e19 ? (uint64_t)d : 0;
}

static int get_bool(yajl_val obj, const char *k1, const char *k2) {
  yajl_val v = get(obj, k1, k2);
  return v != NULL && YAJL_IS_TRUE(v);
}

/* A string member, printable ASCII only, truncated to cap. */
static void get_str(yajl_val obj, const char *k, char *out, size_t cap) {
  yajl_val v = get(obj, k, NULL);
  const char *s = v != NULL && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
  size_t o = 0;
  for (; *s != '\0' && o + 1 < cap; s++)
    out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
  out[o] = '\0';
}

int fpm_opcache_parse(const char *body, size_t len, struct fpm_opcache *out,
                      char *why, size_t whylen) {
  memset(out, 0, sizeof *out);
  out->master_pid = -1;
  if (whylen > 0)
    why[0] = '\0';
  char *text = malloc(len + 1);
  if (text == NULL) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  memcpy(text, body, len);
  text[len] = '\0';
  char err[160] = "";
  yajl_val root = yajl_tree_parse(text, err, sizeof err);
  free(text);
  if (root == NULL) {
    for (char *p = err; *p != '\0'; p++)
      if ((unsigned char)*p < 0x20)
        *p = ' ';
    snprintf(why, whylen, "not JSON: %s", err[0] ? err : "parse error");
    return -1;
  }
  yajl_val mark = get(root, "fpmstat_opcache", NULL);
  if (!YAJL_IS_OBJECT(root) || mark == NULL || !YAJL_IS_INTEGER(mark)) {
    yajl_tree_free(root);
    snprintf(why, whylen, "JSON without \"fpmstat_opcache\": another script");
    return -1;
  }
  out->loaded = get_bool(root, "loaded", NULL);
  out->enabled = get_bool(root, "enabled", NULL);
  get_str(root, "reason", out->reason, sizeof out->reason);
  get_str(root, "php_version", out->php_version, sizeof out->php_version);
  get_str(root, "restrict_api", out->restrict_api, sizeof out->restrict_api);
  yajl_val mp = get(root, "master_pid", NULL);
  if (mp != NULL && YAJL_IS_INTEGER(mp))
    out->master_pid = YAJL_GET_INTEGER(mp);
  yajl_val st = get(root, "status", NULL);
  if (st != NULL && YAJL_IS_OBJECT(st)) {
    out->cache_full = get_bool(st, "cache_full", NULL);
    out->restart_pending = get_bool(st, "restart_pending", NULL);
    out->restart_in_progress = get_bool(st, "restart_in_progress", NULL);
    out->memory_used = get_u64(st, "memory_usage", "used_memory");
    out->memory_free = get_u64(st, "memory_usage", "free_memory");
    out->memory_wasted = get_u64(st, "memory_usage", "wasted_memory");
    out->interned_strings_used =
        get_u64(st, "interned_strings_usage", "used_memory");
    out->interned_strings_free =
        get_u64(st, "interned_strings_usage", "free_memory");
    out->interned_strings_n =
        get_u64(st, "interned_strings_usage", "number_of_strings");
    const char *os = "opcache_statistics";
    out->cached_scripts = get_u64(st, os, "num_cached_scripts");
    out->cached_keys = get_u64(st, os, "num_cached_keys");
    out->max_cached_keys = get_u64(st, os, "max_cached_keys");
    out->hits = get_u64(st, os, "hits");
    out->misses = get_u64(st, os, "misses");
    out->blacklist_misses = get_u64(st, os, "blacklist_misses");
    out->start_time = (int64_t)get_u64(st, os, "start_time");
    out->last_restart_time = (int64_t)get_u64(st, os, "last_restart_time");
    out->oom_restarts = get_u64(st, os, "oom_restarts");
    out->hash_restarts = get_u64(st, os, "hash_restarts");
    out->manual_restarts = get_u64(st, os, "manual_restarts");
    out->jit_on = get_bool(st, "jit", "enabled") && get_bool(st, "jit", "on");
    out->jit_buffer_size = get_u64(st, "jit", "buffer_size");
    out->jit_buffer_free = get_u64(st, "jit", "buffer_free");
  } else if (out->enabled) {
    out->enabled = 0; /* enabled, yet no figures: report it as not */
    snprintf(out->reason, sizeof out->reason, "no status");
  }
  if (!out->loaded && out->reason[0] == '\0')
    snprintf(out->reason, sizeof out->reason, "not loaded");
  yajl_tree_free(root);
  return 0;
}

/* ---------------------------------------------------------------- fetch */

__attribute__((format(printf, 3, 4))) static void
appendf(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strnlen(buf, cap);
  if (len + 1 >= cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

/* Printable ASCII of s[0..len), first line only, at most max bytes. */
static void excerpt(char *dst, size_t cap, const char *s, size_t len,
                    size_t max) {
  size_t o = 0;
  for (size_t i = 0; s != NULL && i < len && i < max && o + 1 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n' || c == '\r')
      break;
    dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (cap > 0)
    dst[o] = '\0';
}

struct oc_job {
  fpm_fetcher *f;
  struct fpm_opcache_result *res;
  fcgi_request *rq;
  struct fcgi_response resp;
  int64_t t0_ms;
};

static fcgi_request *build_request(const char *script) {
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  if (rq == NULL)
    return NULL;
  if (fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", script) != FCGI_OK ||
      fcgi_request_add_param_str(rq, "SCRIPT_NAME", script) != FCGI_OK ||
      fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET") != FCGI_OK ||
      fcgi_request_add_param_str(rq, "QUERY_STRING", "") != FCGI_OK ||
      fcgi_request_add_param_str(rq, "SERVER_SOFTWARE",
                                 "fpmstat/" FPMSTAT_VERSION) != FCGI_OK ||
      fcgi_request_add_param_str(rq, "REMOTE_ADDR", "127.0.0.1") != FCGI_OK) {
    fcgi_request_free(rq);
    return NULL;
  }
  return rq;
}

/* What the local file system says about script: a hint for a 404 when the
 * pool runs on this host (a unix socket). */
static const char *local_hint(const fpm_fetcher *f, const char *script) {
  if (strncmp(fpm_fetcher_endpoint(f), "unix:", 5) != 0)
    return "";
  struct stat sb;
  if (stat(script, &sb) != 0)
    return " It does not exist on this host either: install it or give its "
           "path (fpmstat --opcache-script, plugin OpcacheScript).";
  if ((sb.st_mode & S_IROTH) == 0)
    return " It exists here but is not world-readable: make it readable by "
           "the pool's `user` (chmod 644, and o+x on every directory above "
           "it).";
  return " It exists here and is world-readable: is a directory above it "
         "closed to the pool's `user`, or does the pool have `chroot =` "
         "(then give the path as seen inside the chroot and copy the script "
         "there)?";
}

static void job_done(struct oc_job *j, const char *script) {
  struct fpm_opcache_result *r = j->res;
  const char *ep = fpm_fetcher_endpoint(j->f);
  r->duration_s = (double)(fcgi_now_ms() - j->t0_ms) / 1000.0;
  if (j->resp.err_text != NULL)
    excerpt(r->stderr_excerpt, sizeof r->stderr_excerpt, j->resp.err_text,
            j->resp.err_len, sizeof r->stderr_excerpt - 1);
  if (j->resp.err != FCGI_OK) {
    r->fcgi = j->resp.err;
    r->err = fpm_fetch_transport_message(ep, j->resp.err, j->resp.phase,
                                         j->resp.errmsg, r->message,
                                         sizeof r->message);
    appendf(r->message, sizeof r->message, " (running the OPcache script %s)",
            script);
    return;
  }
  r->http_status = j->resp.status;
  char body[80];
  excerpt(body, sizeof body, j->resp.body, j->resp.body_len, 64);
  if (j->resp.status != 200) {
    r->err = FPM_EHTTP;
    snprintf(r->message, sizeof r->message,
             "%s: the OPcache script %s answered %d \"%s\"", ep, script,
             j->resp.status, body);
    if (r->stderr_excerpt[0] != '\0')
      appendf(r->message, sizeof r->message, ", stderr \"%s\"",
              r->stderr_excerpt);
    const char *se = r->stderr_excerpt;
    if (strstr(se, "limit_extensions") != NULL ||
        (j->resp.status == 403 && strstr(se, "Permission denied") == NULL &&
         strstr(se, "primary script") == NULL))
      appendf(r->message, sizeof r->message,
              "; the pool's security.limit_extensions does not allow "
              "\".php\": add .php to it, or copy the script to a name "
              "with an allowed extension and point --opcache-script "
              "(OpcacheScript) there");
    else if (strstr(se, "Permission denied") != NULL)
      appendf(r->message, sizeof r->message,
              "; the pool's `user` may not read the script: make it "
              "readable by that user (chmod 644, and o+x on every "
              "directory above it)");
    else if (j->resp.status == 404 || j->resp.status == 403)
      appendf(r->message, sizeof r->message,
              "; the pool cannot open the script: it must exist at that "
              "path and be readable by the pool's `user`.%s",
              local_hint(j->f, script));
    else if (j->resp.status >= 500)
      appendf(r->message, sizeof r->message,
              "; the script failed: see the pool's error log (open_basedir "
              "or disable_functions may block it)");
    return;
  }
  char why[200];
  if (fpm_opcache_parse(j->resp.body != NULL ? j->resp.body : "",
                        j->resp.body_len, &r->oc, why, sizeof why) != 0) {
    r->err = FPM_EPARSE;
    snprintf(r->message, sizeof r->message,
             "%s: the answer of %s is not the OPcache script's (%s; body "
             "\"%s\"%s%s%s); is that path fpmstat's opcache.php, and does "
             "open_basedir or disable_functions stop it?",
             ep, script, why, body, r->stderr_excerpt[0] ? ", stderr \"" : "",
             r->stderr_excerpt, r->stderr_excerpt[0] ? "\"" : "");
    return;
  }
  if (!r->oc.enabled && strcmp(r->oc.reason, "opcache.restrict_api") == 0) {
    r->err = FPM_EHTTP;
    char value[160] = "";
    if (r->oc.restrict_api[0] != '\0')
      snprintf(value, sizeof value, " = \"%s\"", r->oc.restrict_api);
    snprintf(r->message, sizeof r->message,
             "%s: OPcache refused its status to %s: opcache.restrict_api%s "
             "allows it only to scripts under that path (see the pool's "
             "php_admin_value and php.ini); install the script there and "
             "point --opcache-script (OpcacheScript) at it, or widen "
             "opcache.restrict_api",
             ep, script, value);
    return;
  }
  r->err = FPM_OK;
}

fpm_err fpm_opcache_fetch_many(fpm_fetcher *const *fs, size_t n,
                               const char *script, int64_t deadline_ms,
                               fcgi_cancel *cancel,
                               struct fpm_opcache_result *results) {
  if (script == NULL)
    script = fpm_opcache_default_script();
  if (n == 0)
    return FPM_OK;
  for (size_t i = 0; i < n; i++)
    memset(&results[i], 0, sizeof results[i]);
  if (script[0] != '/' || strchr(script, '?') != NULL) {
    for (size_t i = 0; i < n; i++) {
      results[i].err = FPM_EUSAGE;
      snprintf(results[i].message, sizeof results[i].message,
               "%s: the OPcache script path must be absolute (as the pool "
               "sees it), not \"%.200s\"",
               fpm_fetcher_endpoint(fs[i]), script);
    }
    return FPM_EUSAGE;
  }
  struct oc_job *jobs = calloc(n, sizeof *jobs);
  fcgi_multi *m = jobs != NULL ? fcgi_multi_new() : NULL;
  int64_t t0 = fcgi_now_ms();
  for (size_t i = 0; i < n; i++) {
    struct fpm_opcache_result *r = &results[i];
    if (m == NULL) {
      r->err = FPM_ENOMEM;
      r->fcgi = FCGI_ENOMEM;
      snprintf(r->message, sizeof r->message, "%s: out of memory",
               fpm_fetcher_endpoint(fs[i]));
      continue;
    }
    struct oc_job *j = &jobs[i];
    j->f = fs[i];
    j->res = r;
    j->t0_ms = t0;
    fcgi_response_init(&j->resp);
    j->rq = build_request(script);
    struct fcgi_call_opts o;
    memset(&o, 0, sizeof o);
    o.deadline_ms = deadline_ms;
    o.cancel = cancel;
    o.max_stdout = OC_MAX_BODY;
    fcgi_err e = j->rq == NULL ? FCGI_ENOMEM
                               : fcgi_multi_add(m, fpm_fetcher_ep(fs[i]), j->rq,
                                                &o, &j->resp, j);
    if (e != FCGI_OK) {
      r->fcgi = e;
      r->err = fpm_fetch_transport_message(fpm_fetcher_endpoint(fs[i]), e,
                                           FCGI_PHASE_CONNECT, "", r->message,
                                           sizeof r->message);
    }
  }
  if (m != NULL) {
    while (fcgi_multi_pending(m) > 0) {
      struct fcgi_response *resp;
      void *user;
      fcgi_multi_poll(m, -1);
      while (fcgi_multi_next_done(m, &resp, &user))
        job_done(user, script);
    }
  }
  fpm_err worst = FPM_OK;
  for (size_t i = 0; i < n; i++) {
    if (jobs != NULL) {
      fcgi_response_clear(&jobs[i].resp);
      fcgi_request_free(jobs[i].rq);
    }
    if (results[i].err > worst)
      worst = results[i].err;
  }
  fcgi_multi_free(m);
  free(jobs);
  return worst;
}
