/*
 * fpm_conf.c: PHP-FPM configuration reader for pool discovery.
 *
 * Mirrors what php-fpm's fpm_conf.c does with zend's INI scanner, for the
 * directives a monitor needs: sections, quoting, ${ENV}, $pool (expanded in
 * every string value of a pool, as fpm_conf_expand_pool_name does), include
 * globs processed at the line that names them, relative paths joined to the
 * prefix (fpm_evaluate_full_path), and php-fpm's rule for telling a unix
 * listen path from a TCP address (fpm_sockets_domain_from_address: a ':' or
 * digits only means TCP).
 */
#include "fpm_conf.h"
#include "fpm_master.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* php-fpm refuses to include "more than 5 files recursively" */
#define MAX_INCLUDE_DEPTH 5
/* Memory and time are bounded by size, not by how many files or pools
 * there are (a shared host has one pool file per site, thousands of them). */
#define MAX_FILE_BYTES (4u << 20)                /* one file */
#define MAX_TOTAL_BYTES (256u << 20)             /* all the files of one load */
#define MAX_POOL_TABLE_BYTES ((size_t)256 << 20) /* ~60,000 pools */
#define MAX_FILE_DIAGS 20 /* diagnostics kept per file, then "N more" */
#define MAX_DIAGS 200     /* diagnostics kept per load, then "N more" */
#define DEFAULT_PREFIX "/usr"
#define FPM_STR2(x) #x
#define FPM_STR(x) FPM_STR2(x)

/* A file being read, to find include loops whatever the path spelling. */
struct file_id {
  dev_t dev;
  ino_t ino;
};

struct parser {
  struct fpm_conf *conf;
  const struct fpm_conf_opts *opts;
  const char *prefix;
  int in_global;    /* current section is [global] or none */
  long cur_pool;    /* index in conf->pools, -1 when none */
  char section[64]; /* the current section's name, for $pool */
  /* Debian defaults: each php-fpm.conf (one per PHP version) is its own
   * scope; a pool name already used by an earlier version's files gets
   * "@<version>" appended, so both pools stay apart. */
  size_t scope_start; /* first pool of the current scope */
  char version[32];   /* "8.2" for /etc/php/8.2/fpm/php-fpm.conf, or "" */
  const char *top;    /* the file or directory this scope started from:
                         each pool's master_conf */
  int depth;          /* includes above this file */
  struct file_id reading[MAX_INCLUDE_DEPTH + 1]; /* the include stack */
  size_t bytes_read; /* by this load, against MAX_TOTAL_BYTES */
  int pools_capped;  /* MAX_POOL_TABLE_BYTES was reported */
  int file_diags;    /* diagnostics kept for the file being read */
  long file_dropped; /* ... and those beyond MAX_FILE_DIAGS */
  long dropped;      /* diagnostics beyond MAX_DIAGS */
  size_t pools_cap, diags_cap;
  /* Pool indices by name (open addressing, case-folded hash), so a section
   * finds its pool in constant time however many pools there are. */
  size_t *by_name; /* index + 1; 0 is an empty slot */
  size_t by_name_cap;
};

/* Append one diagnostic (no cap here); best effort under memory pressure. */
static void push_diag(struct parser *p, const char *file, int line, int flags,
                      const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void push_diag(struct parser *p, const char *file, int line, int flags,
                      const char *fmt, va_list ap) {
  struct fpm_conf *c = p->conf;
  if (c->n_diags == p->diags_cap) {
    size_t ncap = p->diags_cap ? p->diags_cap * 2 : 8;
    struct fpm_conf_diag *nd = realloc(c->diags, ncap * sizeof *nd);
    if (!nd)
      return;
    c->diags = nd;
    p->diags_cap = ncap;
  }
  struct fpm_conf_diag *d = &c->diags[c->n_diags++];
  snprintf(d->file, sizeof d->file, "%s", file ? file : "");
  d->line = line;
  d->warning = (flags & FPM_CONF_DIAG_WARNING) != 0;
  d->unreadable = (flags & FPM_CONF_DIAG_UNREADABLE) != 0;
  vsnprintf(d->message, sizeof d->message, fmt, ap);
}

static void push(struct parser *p, const char *file, int line, int flags,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void push(struct parser *p, const char *file, int line, int flags,
                 const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  push_diag(p, file, line, flags, fmt, ap);
  va_end(ap);
}

static void diag_flags(struct parser *p, const char *file, int line, int flags,
                       const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A diagnostic, within the caps: MAX_FILE_DIAGS for the file being read
 * (the rest are counted, see load_file) and MAX_DIAGS per load. A file
 * that cannot be read is always recorded: discovery keeps that file's
 * pools as they were (one record per file glob matched). */
static void diag_flags(struct parser *p, const char *file, int line, int flags,
                       const char *fmt, ...) {
  int always = (flags & FPM_CONF_DIAG_UNREADABLE) != 0;
  if (!always && p->file_diags >= MAX_FILE_DIAGS) {
    p->file_dropped++;
    return;
  }
  if (!always && p->conf->n_diags >= MAX_DIAGS) {
    p->dropped++;
    return;
  }
  p->file_diags++;
  va_list ap;
  va_start(ap, fmt);
  push_diag(p, file, line, flags, fmt, ap);
  va_end(ap);
}

#define diag(p, file, line, ...) diag_flags(p, file, line, 0, __VA_ARGS__)

/* The one line that stands for diagnostics left out. */
static void diag_more(struct parser *p, const char *file, long n,
                      const char *what) {
  if (n <= 0)
    return;
  if (p->conf->n_diags >= MAX_DIAGS + 1) {
    p->dropped += n;
    return;
  }
  push(p, file, 0, 0, "%ld more %s not shown", n, what);
}

static void set_str(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src);
}

/* ---------------------------------------------------------------- values */

/* Append src[0..n) to out (bounded); returns 0, or -1 when it did not fit. */
static int append(char *out, size_t cap, size_t *len, const char *src,
                  size_t n) {
  if (*len + n + 1 > cap)
    return -1;
  memcpy(out + *len, src, n);
  *len += n;
  out[*len] = '\0';
  return 0;
}

static const char *lookup_env(const struct parser *p, const char *name) {
  if (p->opts && p->opts->getenv_fn)
    return p->opts->getenv_fn(p->opts->getenv_ud, name);
  return getenv(name);
}

/* Expand ${VAR} in s[0..n) into out. An unset variable expands to "". */
static int expand_env(const struct parser *p, const char *s, size_t n,
                      char *out, size_t cap, size_t *len) {
  size_t i = 0;
  while (i < n) {
    if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') {
      const char *close = memchr(s + i + 2, '}', n - i - 2);
      if (close) {
        char name[128];
        size_t nl = (size_t)(close - (s + i + 2));
        if (nl < sizeof name) {
          memcpy(name, s + i + 2, nl);
          name[nl] = '\0';
          const char *v = lookup_env(p, name);
          if (v && append(out, cap, len, v, strlen(v)) < 0)
            return -1;
          i = (size_t)(close - s) + 1;
          continue;
        }
      }
    }
    if (append(out, cap, len, s + i, 1) < 0)
      return -1;
    i++;
  }
  return 0;
}

/*
 * Parse the value part of `key = value` (the text after '='). Returns 0 with
 * the value in out, or -1 with a reason in *why.
 */
static int parse_value(const struct parser *p, const char *v, char *out,
                       size_t cap, const char **why) {
  size_t len = 0;
  out[0] = '\0';
  while (*v == ' ' || *v == '\t')
    v++;
  if (*v == '"') {
    const char *s = ++v;
    char raw[4096];
    size_t rl = 0;
    for (; *s && *s != '"'; s++) {
      if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
        s++;
      if (rl + 1 >= sizeof raw) {
        *why = "value too long";
        return -1;
      }
      raw[rl++] = *s;
    }
    if (*s != '"') {
      *why = "unterminated double-quoted value";
      return -1;
    }
    if (expand_env(p, raw, rl, out, cap, &len) < 0) {
      *why = "value too long";
      return -1;
    }
    v = s + 1;
  } else if (*v == '\'') {
    const char *s = strchr(v + 1, '\'');
    if (!s) {
      *why = "unterminated single-quoted value";
      return -1;
    }
    if (append(out, cap, &len, v + 1, (size_t)(s - v - 1)) < 0) {
      *why = "value too long";
      return -1;
    }
    v = s + 1;
  } else {
    const char *end = v + strcspn(v, ";");
    while (end > v && isspace((unsigned char)end[-1]))
      end--;
    if (expand_env(p, v, (size_t)(end - v), out, cap, &len) < 0) {
      *why = "value too long";
      return -1;
    }
    return 0;
  }
  while (*v == ' ' || *v == '\t')
    v++;
  if (*v && *v != ';') {
    *why = "unexpected text after the quoted value";
    return -1;
  }
  return 0;
}

/* Replace every "$pool" in s (bounded) by name. */
static void expand_pool(char *s, size_t cap, const char *name) {
  char tmp[1024];
  char *tok;
  size_t guard = 0;
  while ((tok = strstr(s, "$pool")) != NULL && guard++ < 16) {
    *tok = '\0';
    snprintf(tmp, sizeof tmp, "%s%s%s", s, name, tok + 5);
    set_str(s, cap, tmp);
  }
}

/* "/usr" + "/" + rel, unless rel is absolute. */
static void full_path(const char *prefix, const char *rel, char *out,
                      size_t cap) {
  if (rel[0] == '/')
    set_str(out, cap, rel);
  else
    snprintf(out, cap, "%s/%s", prefix, rel);
}

/* ----------------------------------------------------------------- pools */

/* FNV-1a over the lower-cased name: php-fpm compares section names
 * without case. */
static size_t name_hash(const char *name) {
  uint64_t h = 1469598103934665603u;
  for (const unsigned char *q = (const unsigned char *)name; *q; q++)
    h = (h ^ (uint64_t)tolower(*q)) * 1099511628211u;
  return (size_t)h;
}

static void by_name_put(size_t *tab, size_t cap, const char *name, size_t i) {
  size_t at = name_hash(name) & (cap - 1);
  while (tab[at] != 0)
    at = (at + 1) & (cap - 1);
  tab[at] = i + 1;
}

/* Room for one more pool in the name index (rebuilt at twice the size
 * when half full). -1 when out of memory. */
static int by_name_grow(struct parser *p) {
  size_t n = p->conf->n_pools;
  if (p->by_name_cap != 0 && (n + 1) * 2 <= p->by_name_cap)
    return 0;
  size_t cap = p->by_name_cap ? p->by_name_cap * 2 : 64;
  size_t *tab = calloc(cap, sizeof *tab);
  if (tab == NULL)
    return -1;
  for (size_t i = 0; i < n; i++)
    by_name_put(tab, cap, p->conf->pools[i].name, i);
  free(p->by_name);
  p->by_name = tab;
  p->by_name_cap = cap;
  return 0;
}

/* The first pool at index >= from named name (without case), or -1. */
static long find_pool(const struct parser *p, size_t from, const char *name) {
  const struct fpm_conf *c = p->conf;
  if (p->by_name_cap == 0)
    return -1;
  long best = -1;
  size_t at = name_hash(name) & (p->by_name_cap - 1);
  for (; p->by_name[at] != 0; at = (at + 1) & (p->by_name_cap - 1)) {
    size_t i = p->by_name[at] - 1;
    if (i >= from && (best < 0 || i < (size_t)best) &&
        strcasecmp(c->pools[i].name, name) == 0)
      best = (long)i;
  }
  return best;
}

/* The name a section gets in the current scope: itself, or name@version
 * when an earlier scope (another PHP version) has a pool of that name. */
static void scoped_name(struct parser *p, const char *name, char *out,
                        size_t cap, const char *file, int line) {
  snprintf(out, cap, "%s", name);
  if (p->opts && p->opts->name_suffix) {
    snprintf(out, cap, "%s@%s", name, p->opts->name_suffix);
    return;
  }
  if (p->scope_start == 0 || p->version[0] == '\0')
    return;
  long earlier = find_pool(p, 0, name);
  if (earlier < 0 || (size_t)earlier >= p->scope_start)
    return;
  snprintf(out, cap, "%s@%s", name, p->version);
  if (find_pool(p, p->scope_start, out) >= 0)
    return; /* reported at the section's first appearance */
  const struct fpm_conf_pool *e = &p->conf->pools[earlier];
  diag_flags(p, file, line, FPM_CONF_DIAG_WARNING,
             "pool [%s] is also defined in %s (line %d), another PHP "
             "version's configuration: this one is named \"%s\"",
             name, e->file, e->line, out);
}

static long add_pool(struct parser *p, const char *section, const char *file,
                     int line) {
  struct fpm_conf *c = p->conf;
  char name[sizeof c->pools[0].name];
  scoped_name(p, section, name, sizeof name, file, line);
  long idx = find_pool(p, p->scope_start, name);
  if (idx >= 0)
    return idx; /* a section repeated across files adds to the same pool */
  if (c->n_pools == p->pools_cap) {
    size_t ncap = p->pools_cap ? p->pools_cap * 2 : 8;
    size_t most = MAX_POOL_TABLE_BYTES / sizeof *c->pools;
    if (ncap > most)
      ncap = most;
    if (ncap <= c->n_pools) {
      if (!p->pools_capped)
        diag(p, file, line,
             "more pools than fit in %zu MiB (%zu pools): [%s] and the "
             "pools after it are not read",
             MAX_POOL_TABLE_BYTES >> 20, most, name);
      p->pools_capped = 1;
      return -1;
    }
    struct fpm_conf_pool *np = realloc(c->pools, ncap * sizeof *np);
    if (!np) {
      diag(p, file, line, "out of memory");
      return -1;
    }
    c->pools = np;
    p->pools_cap = ncap;
  }
  if (by_name_grow(p) != 0) {
    diag(p, file, line, "out of memory");
    return -1;
  }
  struct fpm_conf_pool *pool = &c->pools[c->n_pools];
  memset(pool, 0, sizeof *pool);
  set_str(pool->name, sizeof pool->name, name);
  set_str(pool->section, sizeof pool->section, section);
  by_name_put(p->by_name, p->by_name_cap, pool->name, c->n_pools);
  set_str(pool->file, sizeof pool->file, file);
  pool->line = line;
  pool->max_children = -1;
  if (p->top != NULL)
    set_str(pool->master_conf, sizeof pool->master_conf, p->top);
  return (long)c->n_pools++;
}

struct key_slot {
  const char *key;
  enum fpm_conf_key bit;
  size_t offset;
  size_t size;
};

#define SLOT(k, bit, field)                                                    \
  {                                                                            \
    k, bit, offsetof(struct fpm_conf_pool, field),                             \
        sizeof(((struct fpm_conf_pool *)0)->field)                             \
  }

static const struct key_slot string_keys[] = {
    SLOT("listen", FPM_C_LISTEN, listen),
    SLOT("pm.status_path", FPM_C_STATUS_PATH, status_path),
    SLOT("pm.status_listen", FPM_C_STATUS_LISTEN, status_listen),
    SLOT("ping.path", FPM_C_PING_PATH, ping_path),
    SLOT("ping.response", FPM_C_PING_RESPONSE, ping_response),
    SLOT("pm", FPM_C_PM, pm),
    SLOT("listen.owner", FPM_C_LISTEN_OWNER, listen_owner),
    SLOT("listen.group", FPM_C_LISTEN_GROUP, listen_group),
    SLOT("listen.mode", FPM_C_LISTEN_MODE, listen_mode),
};

static void set_pool_key(struct parser *p, struct fpm_conf_pool *pool,
                         const char *key, const char *value, const char *file,
                         int line) {
  for (size_t i = 0; i < sizeof string_keys / sizeof string_keys[0]; i++) {
    const struct key_slot *k = &string_keys[i];
    if (strcmp(key, k->key) != 0)
      continue;
    char *dst = (char *)pool + k->offset;
    set_str(dst, k->size, value);
    expand_pool(dst, k->size, p->section);
    pool->present |= 1u << k->bit;
    return;
  }
  if (strcmp(key, "pm.max_children") == 0) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < 0) {
      diag(p, file, line,
           "[%s] pm.max_children: expected a number >= 0, got \"%s\"",
           pool->name, value);
      return;
    }
    pool->max_children = v;
    pool->present |= 1u << FPM_C_MAX_CHILDREN;
  }
  /* any other directive is not ours: ignored */
}

/* ---------------------------------------------------------------- files */

static int load_file(struct parser *p, const char *path, const char *from,
                     int from_line);

/* The files pattern matches through opts->fs: 0 with the list, 1 for none,
 * -1 with why. */
static int fs_glob(struct parser *p, const char *pattern, char ***paths,
                   size_t *n, char *why, size_t whylen) {
  return p->opts->fs->glob_fn(p->opts->fs->ud, pattern, paths, n, why, whylen);
}

/* Read the files pattern matches, from `file` at `line`. A pattern that
 * matches nothing is reported unless empty_ok. */
static void do_include(struct parser *p, const char *pattern, const char *file,
                       int line, int empty_ok) {
  char full[1024];
  full_path(p->prefix, pattern, full, sizeof full);
  if (p->opts && p->opts->fs) {
    char **v = NULL, why[256] = "";
    size_t n = 0;
    int rc = fs_glob(p, full, &v, &n, why, sizeof why);
    if (rc == 1 && !empty_ok)
      diag(p, file, line, "include: nothing matches \"%s\"", full);
    else if (rc < 0)
      diag(p, file, line, "include: cannot read \"%s\": %s", full, why);
    for (size_t i = 0; rc == 0 && i < n; i++)
      load_file(p, v[i], file, line);
    for (size_t i = 0; rc == 0 && i < n; i++)
      free(v[i]);
    free(v);
    return;
  }
  glob_t g;
  memset(&g, 0, sizeof g);
  int rc = glob(full, GLOB_ERR | GLOB_MARK, NULL, &g);
  if (rc == GLOB_NOMATCH) {
    if (!empty_ok)
      diag(p, file, line, "include: nothing matches \"%s\"", full);
    return;
  }
  if (rc != 0) {
    diag(p, file, line,
         "include: cannot read \"%s\" (a directory in it is missing or "
         "not readable)",
         full);
    globfree(&g);
    return;
  }
  for (size_t i = 0; i < g.gl_pathc; i++) {
    size_t n = strlen(g.gl_pathv[i]);
    if (n == 0 || g.gl_pathv[i][n - 1] == '/')
      continue; /* php-fpm skips directories */
    load_file(p, g.gl_pathv[i], file, line);
  }
  globfree(&g);
}

static void trim(char **s, char **e) {
  while (*s < *e && isspace((unsigned char)**s))
    (*s)++;
  while (*e > *s && isspace((unsigned char)(*e)[-1]))
    (*e)--;
}

static void parse_section(struct parser *p, char *s, const char *file,
                          int line) {
  char *close = strchr(s, ']');
  if (!close) {
    diag(p, file, line, "syntax error: section header without ']'");
    return;
  }
  char *a = s + 1, *b = close;
  trim(&a, &b);
  *b = '\0';
  if (*a == '\0') {
    diag(p, file, line, "syntax error: empty section name");
    return;
  }
  if (strcasecmp(a, "global") == 0) {
    p->in_global = 1;
    p->cur_pool = -1;
    return;
  }
  if (strlen(a) >= sizeof p->conf->pools[0].name) {
    diag(p, file, line, "pool name too long: [%s]", a);
    p->cur_pool = -1;
    p->in_global = 0;
    return;
  }
  p->in_global = 0;
  set_str(p->section, sizeof p->section, a);
  p->cur_pool = add_pool(p, a, file, line);
}

static void parse_line(struct parser *p, char *s, const char *file, int line) {
  while (isspace((unsigned char)*s))
    s++;
  if (*s == '\0' || *s == ';')
    return;
  if (*s == '[') {
    parse_section(p, s, file, line);
    return;
  }
  char *eq = strchr(s, '=');
  if (!eq) {
    diag(p, file, line, "syntax error: expected \"key = value\"");
    return;
  }
  char *ka = s, *kb = eq;
  trim(&ka, &kb);
  *kb = '\0';
  if (*ka == '\0') {
    diag(p, file, line, "syntax error: missing key before '='");
    return;
  }
  char value[1024];
  const char *why = NULL;
  if (parse_value(p, eq + 1, value, sizeof value, &why) < 0) {
    diag(p, file, line, "syntax error in %s: %s", ka, why);
    return;
  }
  if (strcmp(ka, "include") == 0) {
    if (p->opts && p->opts->no_includes)
      diag(p, file, line, "include not followed: %s", value);
    else
      do_include(p, value, file, line, 0);
    return;
  }
  if (p->cur_pool >= 0)
    set_pool_key(p, &p->conf->pools[p->cur_pool], ka, value, file, line);
  /* [global] directives are not needed for discovery */
}

/* One line at a time; line numbers count empty lines. */
static void parse_lines(struct parser *p, const char *name, char *buf,
                        size_t len) {
  int line = 1;
  char *s = buf, *end = buf + len;
  while (s < end) {
    char *nl = memchr(s, '\n', (size_t)(end - s));
    char *e = nl ? nl : end;
    if (e > s && e[-1] == '\r')
      e[-1] = '\0';
    *e = '\0';
    parse_line(p, s, name, line);
    line++;
    s = e + 1;
  }
}

/* Whether the file open as f is already being read (an include loop);
 * else it is pushed on the include stack at p->depth. */
static int include_loop(struct parser *p, FILE *f) {
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0)
    return 0;
  for (int i = 0; i < p->depth; i++)
    if (p->reading[i].dev == sb.st_dev && p->reading[i].ino == sb.st_ino)
      return 1;
  p->reading[p->depth].dev = sb.st_dev;
  p->reading[p->depth].ino = sb.st_ino;
  return 0;
}

/* The whole file in a buffer sized from its length (at most
 * MAX_FILE_BYTES), or NULL with the cause recorded. */
static char *read_all(struct parser *p, FILE *f, const char *path,
                      size_t *len) {
  struct stat sb;
  size_t cap = 64u << 10; /* grows when the file does while being read */
  if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 0)
    cap = (size_t)sb.st_size < MAX_FILE_BYTES ? (size_t)sb.st_size + 1
                                              : MAX_FILE_BYTES + 1;
  char *buf = NULL;
  size_t n = 0;
  for (;;) {
    char *nb = realloc(buf, cap + 1);
    if (!nb) {
      free(buf);
      diag_flags(p, path, 0, FPM_CONF_DIAG_UNREADABLE, "out of memory");
      return NULL;
    }
    buf = nb;
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap || ferror(f) || cap > MAX_FILE_BYTES)
      break;
    cap = cap * 2 < MAX_FILE_BYTES + 1 ? cap * 2 : MAX_FILE_BYTES + 1;
  }
  int too_big = n > MAX_FILE_BYTES;
  int over_total = !too_big && n > MAX_TOTAL_BYTES - p->bytes_read;
  if (ferror(f) || too_big || over_total) {
    /* unreadable: its pools are unknown this time, not gone */
    diag_flags(p, path, 0, FPM_CONF_DIAG_UNREADABLE, "%s",
               too_big      ? "file larger than 4 MiB: not read"
               : over_total ? "not read: this load already read 256 MiB of "
                              "configuration (the most it reads)"
                            : "read error");
    free(buf);
    return NULL;
  }
  p->bytes_read += n;
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Parse one file's lines with its own diagnostic budget, then one line for
 * the diagnostics left out. */
static void parse_file(struct parser *p, const char *path, char *buf,
                       size_t n) {
  int saved_diags = p->file_diags;
  long saved_dropped = p->file_dropped;
  p->file_diags = 0;
  p->file_dropped = 0;
  p->conf->n_files++;
  p->depth++;
  parse_lines(p, path, buf, n);
  p->depth--;
  diag_more(p, path, p->file_dropped, "problem(s) in this file");
  p->file_diags = saved_diags;
  p->file_dropped = saved_dropped;
}

/* path open for reading (through opts->fs when set), or NULL with the
 * cause recorded. */
static FILE *open_conf_file(struct parser *p, const char *path) {
  if (!p->opts || !p->opts->fs) {
    FILE *f = fopen(path, "r");
    if (!f)
      diag_flags(p, path, 0, FPM_CONF_DIAG_UNREADABLE, "cannot open: %s",
                 strerror(errno));
    return f;
  }
  char why[256] = "";
  int fd = p->opts->fs->open_fn(p->opts->fs->ud, path, why, sizeof why);
  FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
  if (!f) {
    if (fd >= 0) {
      snprintf(why, sizeof why, "%s", strerror(errno));
      close(fd);
    }
    diag_flags(p, path, 0, FPM_CONF_DIAG_UNREADABLE, "not read: %s", why);
  }
  return f;
}

/* Read path, included from `from` at from_line (line 0: a top-level
 * file). */
static int load_file(struct parser *p, const char *path, const char *from,
                     int from_line) {
  if (p->depth > MAX_INCLUDE_DEPTH) {
    diag(p, from, from_line,
         "include of %s nested deeper than %d levels (php-fpm's limit): "
         "not read",
         path, MAX_INCLUDE_DEPTH);
    return -1;
  }
  FILE *f = open_conf_file(p, path);
  if (!f)
    return -1;
  if (include_loop(p, f)) {
    fclose(f);
    diag(p, path, 0, "include loop at %s:%d: this file is already being read",
         from, from_line);
    return -1;
  }
  size_t n = 0;
  char *buf = read_all(p, f, path, &n);
  fclose(f);
  if (!buf)
    return -1;
  parse_file(p, path, buf, n);
  free(buf);
  return 0;
}

/* ---------------------------------------------------------- derivation */

int fpm_conf_listen_endpoint(const char *listen, const char *prefix, char *out,
                             size_t outlen) {
  if (!listen || !*listen)
    return -1;
  if (!prefix)
    prefix = DEFAULT_PREFIX;
  size_t n = strlen(listen);
  int digits = strspn(listen, "0123456789") == n;
  if (!strchr(listen, ':') && !digits) {
    char full[512];
    full_path(prefix, listen, full, sizeof full);
    return snprintf(out, outlen, "unix:%s", full) < (int)outlen ? 0 : -1;
  }
  if (digits)
    return snprintf(out, outlen, "127.0.0.1:%s", listen) < (int)outlen ? 0 : -1;
  const char *colon = strrchr(listen, ':');
  const char *port = colon + 1;
  if (!*port || strspn(port, "0123456789") != strlen(port))
    return -1;
  size_t hl = (size_t)(colon - listen);
  char host[256];
  if (hl >= sizeof host)
    return -1;
  memcpy(host, listen, hl);
  host[hl] = '\0';
  const char *h = host;
  if (hl == 0 || strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0)
    h = "127.0.0.1";
  else if (strcmp(host, "[::]") == 0 || strcmp(host, "::") == 0)
    h = "[::1]";
  return snprintf(out, outlen, "%s:%s", h, port) < (int)outlen ? 0 : -1;
}

static void derive(struct fpm_conf_pool *pool, const char *prefix) {
  int has_status =
      (pool->present >> FPM_C_STATUS_PATH) & 1u && pool->status_path[0] != '\0';
  int has_sl = (pool->present >> FPM_C_STATUS_LISTEN) & 1u &&
               pool->status_listen[0] != '\0';
  if (has_sl) {
    /* php-fpm serves status on the status listener at pm.status_path, or at
     * "/" when no status path is set (fpm_conf.c). */
    if (fpm_conf_listen_endpoint(pool->status_listen, prefix, pool->endpoint,
                                 sizeof pool->endpoint) == 0) {
      set_str(pool->query_path, sizeof pool->query_path,
              has_status ? pool->status_path : "/");
      pool->via_status_listen = 1;
      pool->monitorable = 1;
      return;
    }
  }
  if (!((pool->present >> FPM_C_LISTEN) & 1u) || !pool->listen[0]) {
    snprintf(pool->why, sizeof pool->why,
             "pool [%s] in %s has no listen directive", pool->name, pool->file);
    return;
  }
  if (fpm_conf_listen_endpoint(pool->listen, prefix, pool->endpoint,
                               sizeof pool->endpoint) < 0) {
    snprintf(pool->why, sizeof pool->why,
             "pool [%s] in %s: cannot use listen = %s", pool->name, pool->file,
             pool->listen);
    return;
  }
  if (!has_status) {
    snprintf(pool->why, sizeof pool->why,
             "pool [%s] has no status page: add the line "
             "\"pm.status_path = /status\" to its section in %s (line %d) "
             "and reload php-fpm",
             pool->name, pool->file, pool->line);
    return;
  }
  set_str(pool->query_path, sizeof pool->query_path, pool->status_path);
  pool->monitorable = 1;
}

/* ------------------------------------------------------------------ API */

static void parser_init(struct parser *p, struct fpm_conf *conf,
                        const struct fpm_conf_opts *opts) {
  memset(conf, 0, sizeof *conf);
  memset(p, 0, sizeof *p);
  p->conf = conf;
  p->opts = opts;
  p->prefix = opts && opts->prefix ? opts->prefix : DEFAULT_PREFIX;
  p->in_global = 1;
  p->cur_pool = -1;
}

static void finish(struct parser *p) {
  free(p->by_name);
  p->by_name = NULL;
  p->by_name_cap = 0;
  for (size_t i = 0; i < p->conf->n_pools; i++)
    derive(&p->conf->pools[i], p->prefix);
  fpm_master_name_pools(p->conf);
}

static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* "8.2" from ".../8.2/fpm/php-fpm.conf": the directory two levels up. */
static void version_of(const char *path, char *out, size_t cap) {
  out[0] = '\0';
  const char *end = strrchr(path, '/'); /* before php-fpm.conf */
  if (end == NULL || end == path)
    return;
  end--; /* back to the '/' before "fpm" */
  while (end > path && *end != '/')
    end--;
  if (end <= path)
    return;
  const char *start = end - 1;
  while (start > path && start[-1] != '/')
    start--;
  size_t n = (size_t)(end - start);
  if (n > 0 && n < cap) {
    memcpy(out, start, n);
    out[n] = '\0';
  }
}

/* Every installed version's php-fpm.conf, each its own scope. */
static void load_defaults(struct parser *p) {
  const char *pattern = p->opts && p->opts->default_glob
                            ? p->opts->default_glob
                            : FPM_CONF_DEFAULT_GLOB;
  glob_t g;
  memset(&g, 0, sizeof g);
  if (glob(pattern, 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++) {
      p->in_global = 1;
      p->cur_pool = -1;
      p->scope_start = p->conf->n_pools;
      version_of(g.gl_pathv[i], p->version, sizeof p->version);
      p->top = g.gl_pathv[i];
      load_file(p, g.gl_pathv[i], g.gl_pathv[i], 0);
    }
    p->top = NULL; /* freed below */
  } else {
    diag(p, pattern, 0,
         "no php-fpm configuration found (is php-fpm installed?)");
  }
  globfree(&g);
}

int fpm_conf_load(const char *path, const struct fpm_conf_opts *opts,
                  struct fpm_conf *conf) {
  struct parser p;
  parser_init(&p, conf, opts);
  int empty_dir = 0;
  p.top = path;
  if (!path) {
    load_defaults(&p);
  } else if (!(opts && opts->fs) && is_dir(path)) {
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/*.conf", path);
    do_include(&p, pattern, path, 0, 1);
    /* a readable directory without pool files is an empty configuration */
    empty_dir = conf->n_files == 0 && conf->n_diags == 0;
  } else {
    load_file(&p, path, path, 0);
  }
  diag_more(&p, path ? path : "php-fpm configuration", p.dropped,
            "problem(s) (at most " FPM_STR(MAX_DIAGS) " are listed)");
  finish(&p);
  return conf->n_files > 0 || empty_dir ? 0 : -1;
}

int fpm_conf_load_buffer(const char *name, const char *buf, size_t len,
                         const struct fpm_conf_opts *opts,
                         struct fpm_conf *conf) {
  struct parser p;
  parser_init(&p, conf, opts);
  char *copy = malloc(len + 1);
  if (!copy) {
    diag(&p, name, 0, "out of memory");
    return -1;
  }
  memcpy(copy, buf, len);
  copy[len] = '\0';
  p.top = name;
  parse_file(&p, name, copy, len);
  free(copy);
  diag_more(&p, name, p.dropped,
            "problem(s) (at most " FPM_STR(MAX_DIAGS) " are listed)");
  finish(&p);
  return 0;
}

void fpm_conf_free(struct fpm_conf *conf) {
  if (!conf)
    return;
  free(conf->pools);
  free(conf->diags);
  memset(conf, 0, sizeof *conf);
}
