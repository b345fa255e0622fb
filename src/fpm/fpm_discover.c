/*
 * fpm_discover.c: what a monitor reads from a discovered pool (its fetch
 * target and a one-line description), and the difference between two scans
 * of PHP-FPM's configuration as a list of pools to stop and to start,
 * leaving out the pools an ignore pattern (fnmatch) matches. The
 * parsing itself is fpm_conf.c; fetching is fpm_fetch.c.
 */
#include "fpm_discover.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

int fpm_discover_target(const struct fpm_conf_pool *pool,
                        struct fpm_target *t) {
  memset(t, 0, sizeof *t);
  if (!pool->monitorable)
    return -1;
  t->endpoint = pool->endpoint;
  t->status_path = pool->query_path;
  if ((pool->present >> FPM_C_PING_PATH) & 1u && pool->ping_path[0] != '\0')
    t->ping_path = pool->ping_path;
  if ((pool->present >> FPM_C_PING_RESPONSE) & 1u &&
      pool->ping_response[0] != '\0')
    t->ping_response = pool->ping_response;
  t->root = pool->root[0] != '\0' ? pool->root : NULL;
  t->netns = pool->netns[0] != '\0' ? pool->netns : NULL;
  t->tag = pool->tag[0] != '\0' ? pool->tag : NULL;
  t->pool = pool->section;
  return 0;
}

void fpm_discover_describe(const struct fpm_conf_pool *pool, char *out,
                           size_t outlen) {
  if (!pool->monitorable)
    snprintf(out, outlen, "not monitorable: %s", pool->why);
  else
    snprintf(out, outlen, "%s %s%s", pool->endpoint, pool->query_path,
             pool->via_status_listen ? " (pm.status_listen)" : "");
}

/* ------------------------------------------------------ ignore patterns */

/* The byte after the bracket expression that opens at p[0] == '[', or NULL
 * when it has no closing ']' or names a character class that does not
 * exist (then *bad_class is where its "[:" starts). As in glibc's fnmatch
 * without FNM_NOESCAPE: '!' or '^' first negates, a ']' first is literal,
 * '\' takes the next byte literally, and "[:class:]" is one item. */
static const char *bracket_end(const char *p, const char **bad_class) {
  const char *q = p + 1;
  if (*q == '!' || *q == '^')
    q++;
  if (*q == ']')
    q++;
  for (; *q != '\0'; q++) {
    if (*q == ']')
      return q + 1;
    if (*q == '\\') {
      if (q[1] == '\0')
        return NULL;
      q++;
    } else if (q[0] == '[' && q[1] == ':') {
      const char *c = strstr(q + 2, ":]");
      char cls[32];
      size_t n = c != NULL ? (size_t)(c - (q + 2)) : 0;
      if (c == NULL)
        return NULL;
      if (n == 0 || n >= sizeof cls) {
        *bad_class = q;
        return NULL;
      }
      memcpy(cls, q + 2, n);
      cls[n] = '\0';
      if (wctype(cls) == 0) {
        *bad_class = q;
        return NULL;
      }
      q = c + 1;
    }
  }
  return NULL;
}

int fpm_discover_pattern_check(const char *pattern, char *why, size_t whylen) {
  size_t len = strlen(pattern);
  if (len == 0) {
    snprintf(why, whylen, "it is empty");
    return -1;
  }
  if (len > FPM_DISC_PATTERN_MAX) {
    snprintf(why, whylen, "it is longer than %d bytes", FPM_DISC_PATTERN_MAX);
    return -1;
  }
  for (size_t i = 0; i < len; i++) { /* anywhere, brackets included */
    unsigned char ch = (unsigned char)pattern[i];
    if (ch < 0x20 || ch == 0x7f) {
      snprintf(why, whylen, "byte %zu is a control character", i + 1);
      return -1;
    }
  }
  for (const char *p = pattern; *p != '\0'; p++) {
    size_t at = (size_t)(p - pattern) + 1;
    if (*p == '\\') {
      if (p[1] == '\0') {
        snprintf(why, whylen, "it ends in a lone '\\'");
        return -1;
      }
      p++;
    } else if (*p == '[') {
      const char *bad_class = NULL;
      const char *end = bracket_end(p, &bad_class);
      if (end != NULL) {
        p = end - 1;
        continue;
      }
      if (bad_class != NULL)
        snprintf(why, whylen,
                 "its '[:' at byte %zu names no character class (alpha, "
                 "digit, alnum, lower, upper, space, punct, ...)",
                 (size_t)(bad_class - pattern) + 1);
      else
        snprintf(why, whylen, "its '[' at byte %zu has no closing ']'", at);
      return -1;
    }
  }
  return 0;
}

int fpm_discover_ignored(const char *name, const char *const *patterns,
                         size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fnmatch(patterns[i], name, 0) == 0)
      return (int)i;
  return -1;
}

/* ------------------------------------------------------------ re-scans */

static void entry_of(const struct fpm_conf_pool *p, struct fpm_disc_entry *e) {
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", p->name);
  snprintf(e->endpoint, sizeof e->endpoint, "%s", p->endpoint);
  snprintf(e->query_path, sizeof e->query_path, "%s", p->query_path);
  snprintf(e->file, sizeof e->file, "%s", p->file);
  e->max_children = p->max_children;
  e->monitorable = p->monitorable;
  snprintf(e->reach, sizeof e->reach, "%s %s", p->root, p->netns);
  snprintf(e->master, sizeof e->master, "%s", p->master);
}

static int same(const struct fpm_disc_entry *a,
                const struct fpm_disc_entry *b) {
  return a->monitorable == b->monitorable && a->ignored == b->ignored &&
         a->max_children == b->max_children &&
         strcmp(a->endpoint, b->endpoint) == 0 &&
         strcmp(a->reach, b->reach) == 0 && strcmp(a->master, b->master) == 0 &&
         strcmp(a->query_path, b->query_path) == 0;
}

/* Entries sorted by name, so that comparing two scans of thousands of
 * pools costs n log n, not n * n. */
struct by_name {
  const struct fpm_disc_entry **v;
  size_t n;
};

static int cmp_name(const void *a, const void *b) {
  const struct fpm_disc_entry *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

/* 0, or -1 when out of memory. */
static int by_name_build(struct by_name *ix, const struct fpm_disc_entry *v,
                         size_t n) {
  ix->n = n;
  ix->v = malloc((n > 0 ? n : 1) * sizeof *ix->v);
  if (ix->v == NULL)
    return -1;
  for (size_t i = 0; i < n; i++)
    ix->v[i] = &v[i];
  qsort(ix->v, n, sizeof *ix->v, cmp_name);
  return 0;
}

static const struct fpm_disc_entry *find(const struct by_name *ix,
                                         const char *name) {
  size_t lo = 0, hi = ix->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(ix->v[mid]->name, name);
    if (c == 0)
      return ix->v[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Whether conf could not read `file` this time (its pools are unknown,
 * not gone). */
static int unreadable(const struct fpm_conf *conf, const char *file) {
  for (size_t i = 0; i < conf->n_diags; i++)
    if (conf->diags[i].unreadable && strcmp(conf->diags[i].file, file) == 0)
      return 1;
  return 0;
}

/* An entry of the previous scan that this one does not have because its
 * file could not be read: kept as it was. */
static int carried(const struct fpm_conf *conf, const struct by_name *nv,
                   const struct fpm_disc_entry *o) {
  return find(nv, o->name) == NULL && unreadable(conf, o->file);
}

/* Pools read so far that are gone or changed. */
static int removals(const struct fpm_disc_set *set, const struct fpm_conf *c,
                    const struct by_name *nv, fpm_disc_cb cb, void *ud) {
  int calls = 0;
  for (size_t i = 0; i < set->n; i++) {
    const struct fpm_disc_entry *o = &set->v[i];
    const struct fpm_disc_entry *now = find(nv, o->name);
    if (carried(c, nv, o))
      continue;
    if (o->monitorable && !o->ignored && (now == NULL || !same(o, now))) {
      cb(ud, FPM_DISC_REMOVED, o, NULL);
      calls++;
    }
  }
  return calls;
}

/* New, changed and newly unmonitorable pools. An entry whose start failed
 * is kept, flagged failed: it is offered again only when it changes, so a
 * pool that cannot start is tried (and logged) once per change. */
static int additions(const struct by_name *old, const struct fpm_conf *c,
                     struct fpm_disc_entry *nv, fpm_disc_cb cb, void *ud) {
  int calls = 0;
  for (size_t i = 0; i < c->n_pools; i++) {
    const struct fpm_disc_entry *o = find(old, nv[i].name);
    if (o != NULL && same(o, &nv[i])) {
      nv[i].active = o->active;
      nv[i].failed = o->failed;
      continue;
    }
    if (nv[i].ignored)
      continue; /* no callback at all */
    calls++;
    if (!nv[i].monitorable) {
      cb(ud, FPM_DISC_UNMONITORABLE, NULL, &c->pools[i]);
      continue;
    }
    int r = cb(ud, FPM_DISC_ADDED, NULL, &c->pools[i]);
    nv[i].failed = r < 0;
    nv[i].active = r > 0;
  }
  return calls;
}

int fpm_discover_update(struct fpm_disc_set *set, const struct fpm_conf *conf,
                        fpm_disc_cb cb, void *ud) {
  return fpm_discover_update_ignoring(set, conf, NULL, 0, cb, ud);
}

int fpm_discover_update_ignoring(struct fpm_disc_set *set,
                                 const struct fpm_conf *conf,
                                 const char *const *patterns, size_t n_pat,
                                 fpm_disc_cb cb, void *ud) {
  size_t n = conf->n_pools, cap = n + set->n;
  struct fpm_disc_entry *nv = calloc(cap > 0 ? cap : 1, sizeof *nv);
  if (nv == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    entry_of(&conf->pools[i], &nv[i]);
    nv[i].ignored =
        fpm_discover_ignored(conf->pools[i].name, patterns, n_pat) + 1;
  }
  struct by_name now_ix, old_ix;
  if (by_name_build(&now_ix, nv, n) != 0) {
    free(nv);
    return -1;
  }
  if (by_name_build(&old_ix, set->v, set->n) != 0) {
    free(now_ix.v);
    free(nv);
    return -1;
  }
  int calls = removals(set, conf, &now_ix, cb, ud);
  calls += additions(&old_ix, conf, nv, cb, ud);
  size_t k = n;
  for (size_t i = 0; i < set->n; i++)
    if (carried(conf, &now_ix, &set->v[i]))
      nv[k++] = set->v[i];
  free(now_ix.v);
  free(old_ix.v);
  free(set->v);
  set->v = nv;
  set->n = k;
  set->cap = cap;
  return calls;
}

void fpm_disc_set_free(struct fpm_disc_set *s) {
  if (s == NULL)
    return;
  free(s->v);
  memset(s, 0, sizeof *s);
}
