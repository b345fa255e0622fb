/*
 * phpfpm_discover.c: Discover true | "/path" for the collectd plugin. It
 * owns the scan callback's state (struct phpfpm_discovery): every
 * DiscoverInterval it reads php-fpm's configuration (fpm_conf), works out
 * which pools appeared, went or changed (fpm_discover_update) and starts or
 * stops their read callbacks. Pools are read by the same code as <Pool>
 * blocks (phpfpm.c), with the settings of <DiscoverDefaults>; a <Pool> of
 * the same name wins over a discovered one; a pool a DiscoverIgnore
 * pattern matches is left alone (logged once per change of that set).
 *
 * Why a scan callback and plugin_unregister_read: in collectd 5.12,
 * plugin_unregister_read takes the read lock, removes the name from the read
 * list and marks the callback RF_REMOVE; the read thread that next takes it
 * from the heap frees it (and our pool, through its free_func) instead of
 * calling it. A callback that is running at that moment finishes first. So
 * stopping a pool from another read callback is safe, and the same name can
 * be registered again at once (a changed pool). Not so under `collectd -T`:
 * plugin_read_all_once frees each callback's name after calling it but
 * leaves it in the read list, so a registration or unregistration from a
 * read callback there would compare against freed names. The first scan
 * therefore runs in the config callback and the scan callback's first run
 * (the only one under -T) is skipped: it touches no list.
 */
#include "phpfpm.h"

#include "fpm_proc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P PHPFPM_PLUGIN_NAME " plugin: "

/* ------------------------------------------------------------- config */

static int discover_value(const oconfig_item_t *o, struct phpfpm_discovery *d,
                          int *enabled) {
  if (o->values_num == 1 && o->values[0].type == OCONFIG_TYPE_BOOLEAN) {
    *enabled = o->values[0].value.boolean ? 1 : 0;
    return 0;
  }
  if (o->values_num == 1 && o->values[0].type == OCONFIG_TYPE_STRING) {
    const char *s = o->values[0].value.string;
    if (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0) {
      *enabled = strcasecmp(s, "true") == 0;
      return 0;
    }
    if (s[0] == '/') {
      free(d->path);
      d->path = strdup(s);
      *enabled = d->path != NULL;
      return d->path != NULL ? 0 : -1;
    }
  }
  ERROR(P "Discover: expected true, false or the absolute path of a "
          "php-fpm.conf or of a directory of pool .conf files");
  return -1;
}

/* DiscoverIgnore "GLOB": checked now (empty or malformed is an error),
 * appended in order. */
static int ignore_value(const oconfig_item_t *o, struct phpfpm_discovery *d) {
  if (o->values_num != 1 || o->values[0].type != OCONFIG_TYPE_STRING ||
      o->children_num > 0) {
    ERROR(P "DiscoverIgnore: expected one string, a glob on the discovered "
            "pool name (fnmatch), e.g. DiscoverIgnore \"www@*\"");
    return -1;
  }
  const char *glob = o->values[0].value.string;
  char why[128], shown[80];
  if (fpm_discover_pattern_check(glob, why, sizeof why) != 0) {
    phpfpm_clean_text(glob, 60, shown, sizeof shown);
    ERROR(P "DiscoverIgnore \"%s\": not a usable pattern: %s", shown, why);
    return -1;
  }
  char **v = realloc(d->ignore, (d->n_ignore + 1) * sizeof *v);
  if (v == NULL) {
    ERROR(P "DiscoverIgnore: out of memory");
    return -1;
  }
  d->ignore = v;
  if ((v[d->n_ignore] = strdup(glob)) == NULL) {
    ERROR(P "DiscoverIgnore: out of memory");
    return -1;
  }
  d->n_ignore++;
  return 0;
}

/* <DiscoverDefaults>: once per <Plugin phpfpm> block; a rejected block
 * leaves the built-in defaults. */
static int defaults_value(const oconfig_item_t *o, struct phpfpm_discovery *d) {
  if (d->defaults_given) {
    ERROR(P "<DiscoverDefaults>: given more than once in this <Plugin "
            "phpfpm> block; this one is ignored");
    return -1;
  }
  d->defaults_given = 1;
  return phpfpm_defaults_parse(o, d->pool_interval_s, &d->defaults);
}

int phpfpm_discover_option(const oconfig_item_t *o, struct phpfpm_discovery *d,
                           int *enabled, int *rc) {
  if (strcasecmp(o->key, "Discover") == 0) {
    *rc = discover_value(o, d, enabled);
    return 1;
  }
  if (strcasecmp(o->key, "DiscoverIgnore") == 0) {
    *rc = ignore_value(o, d);
    return 1;
  }
  if (strcasecmp(o->key, "DiscoverDefaults") == 0) {
    *rc = defaults_value(o, d);
    return 1;
  }
  if (strcasecmp(o->key, "DiscoverInterval") != 0)
    return 0;
  if (o->values_num == 1 && o->values[0].type == OCONFIG_TYPE_NUMBER &&
      isfinite(o->values[0].value.number) && o->values[0].value.number > 0) {
    d->interval_s = o->values[0].value.number;
    *rc = 0;
  } else {
    ERROR(P "DiscoverInterval: expected a number of seconds greater than 0");
    *rc = -1;
  }
  return 1;
}

void phpfpm_discovery_free(void *data) {
  struct phpfpm_discovery *d = data;
  if (d == NULL)
    return;
  for (size_t i = 0; i < d->n_manual; i++)
    free(d->manual[i]);
  free(d->manual);
  for (size_t i = 0; i < d->n_diags; i++)
    free(d->diags[i]);
  free(d->diags);
  for (size_t i = 0; i < d->n_ignore; i++) {
    free(d->ignore[i]);
    free(d->ignore_logged != NULL ? d->ignore_logged[i] : NULL);
  }
  free(d->ignore);
  free(d->ignore_logged);
  fpm_disc_set_free(&d->set);
  for (size_t i = 0; i < d->n_links; i++)
    phpfpm_link_put(d->links[i]);
  free(d->links);
  free(d->path);
  free(d);
}

/* Room for one more link; 0, or -1 when out of memory. */
static int links_reserve(struct phpfpm_discovery *d) {
  if (d->n_links < d->cap_links)
    return 0;
  size_t cap = d->cap_links ? d->cap_links * 2 : 8;
  struct phpfpm_link **v = realloc(d->links, cap * sizeof *v);
  if (v == NULL)
    return -1;
  d->links = v;
  d->cap_links = cap;
  return 0;
}

/* Remove and return the link of the pool `name` (NULL: none). */
static struct phpfpm_link *links_take(struct phpfpm_discovery *d,
                                      const char *name) {
  for (size_t i = 0; i < d->n_links; i++) {
    struct phpfpm_link *l = d->links[i];
    if (strcmp(l->name, name) != 0)
      continue;
    d->links[i] = d->links[--d->n_links];
    return l;
  }
  return NULL;
}

/* -------------------------------------------------------------- pools */

static char *dup_or(const char *s, const char *dflt) {
  return strdup(s != NULL && s[0] != '\0' ? s : dflt);
}

struct phpfpm_pool *phpfpm_pool_from_conf(const struct fpm_conf_pool *cp,
                                          const struct phpfpm_defaults *df) {
  struct phpfpm_pool *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  struct phpfpm_conf *c = &p->conf;
  int has_ping = (cp->present >> FPM_C_PING_PATH) & 1u;
  c->name = strdup(cp->name);
  c->endpoint = strdup(cp->endpoint);
  c->status_path = dup_or(cp->query_path, PHPFPM_DEFAULT_STATUS_PATH);
  c->ping_path =
      dup_or(has_ping ? cp->ping_path : NULL, PHPFPM_DEFAULT_PING_PATH);
  c->root = cp->root[0] != '\0' ? strdup(cp->root) : NULL;
  c->netns = cp->netns[0] != '\0' ? strdup(cp->netns) : NULL;
  c->tag = cp->tag[0] != '\0' ? strdup(cp->tag) : NULL;
  c->section = strdup(cp->section);
  c->ns_master_pid = cp->tag[0] != '\0' ? cp->master_pid : 0;
  if (c->name == NULL || c->endpoint == NULL || c->status_path == NULL ||
      c->section == NULL || c->ping_path == NULL ||
      (cp->root[0] != '\0' && c->root == NULL) ||
      (cp->netns[0] != '\0' && c->netns == NULL) ||
      (cp->tag[0] != '\0' && c->tag == NULL)) {
    phpfpm_pool_free(p);
    return NULL;
  }
  c->is_socket = strncmp(cp->endpoint, "unix:", 5) == 0;
  c->interval_s = df->interval_s > 0 ? df->interval_s : 10.0;
  c->interval_set = 1;
  c->timeout_s = df->timeout_s > 0 && df->timeout_s < c->interval_s
                     ? df->timeout_s
                     : c->interval_s * PHPFPM_TIMEOUT_SHARE;
  c->workers = df->workers;
  c->max_slots = df->max_slots;
  c->slow_threshold_s = df->slow_threshold_s;
  c->max_children = cp->max_children > 0 ? (uint64_t)cp->max_children : 0;
  c->notifications = df->notifications;
  c->worker_memory = df->worker_memory;
  c->worker_pss = df->worker_pss;
  c->rss_every = df->rss_every;
  c->pss_every = df->pss_every;
  c->opcache = df->opcache;
  if (c->opcache) {
    char master[sizeof cp->master + sizeof df->master];
    phpfpm_opcache_master_name(cp, df, master, sizeof master);
    c->master = strndup(master, sizeof cp->master - 1);
    c->opcache_script =
        df->opcache_script[0] != '\0' ? strdup(df->opcache_script) : NULL;
    if (c->master == NULL ||
        (df->opcache_script[0] != '\0' && c->opcache_script == NULL)) {
      phpfpm_pool_free(p);
      return NULL;
    }
  }
  return p;
}

static int is_manual(const struct phpfpm_discovery *d, const char *name) {
  for (size_t i = 0; i < d->n_manual; i++)
    if (strcasecmp(d->manual[i], name) == 0)
      return 1;
  return 0;
}

static int pool_added(struct phpfpm_discovery *d,
                      const struct fpm_conf_pool *cp) {
  if (is_manual(d, cp->name)) {
    INFO(P "pool \"%s\" (discovered in %s) is configured by a <Pool \"%s\"> "
           "block: that block is used",
         cp->name, cp->file, cp->name);
    return 0;
  }
  struct phpfpm_pool *p = phpfpm_pool_from_conf(cp, &d->defaults);
  if (p == NULL) {
    ERROR(P "pool \"%s\" (discovered): out of memory", cp->name);
    return -1;
  }
  INFO(P "pool \"%s\": discovered in %s (line %d), pm.max_children %ld",
       cp->name, cp->file, cp->line, cp->max_children);
  /* without a link (out of memory) the pool is read all the same; only
   * the OKAY at its retirement is lost */
  struct phpfpm_link *l = phpfpm_link_new(cp->name);
  if (l != NULL && links_reserve(d) != 0) {
    free(l);
    l = NULL;
  }
  p->link = l;
  if (d->start(p) != 0) { /* p and its reference are freed */
    phpfpm_link_put(l);
    d->n_failed++;
    return -1;
  }
  if (l != NULL)
    d->links[d->n_links++] = l;
  d->n_started++;
  return 1;
}

/* A retired pool whose outage was notified: clear the alert. */
static void notify_retired(const struct fpm_disc_entry *old, int gone) {
  notification_t n = {.severity = NOTIF_OKAY, .time = cdtime()};
  snprintf(n.plugin, sizeof n.plugin, "%s", PHPFPM_PLUGIN_NAME);
  phpfpm_instance_name(old->name, n.plugin_instance, sizeof n.plugin_instance);
  char file[200];
  phpfpm_clean_text(old->file, 180, file, sizeof file);
  if (snprintf(n.message, sizeof n.message, "pool retired (%s %s)",
               gone ? "gone from" : "changed in, read anew from",
               file) >= (int)sizeof n.message)
    n.message[sizeof n.message - 1] = '\0'; /* truncated: still a message */
  plugin_dispatch_notification(&n);
}

static int in_conf(const struct fpm_conf *c, const char *name) {
  for (size_t i = 0; c != NULL && i < c->n_pools; i++)
    if (strcmp(c->pools[i].name, name) == 0)
      return 1;
  return 0;
}

static void pool_removed(struct phpfpm_discovery *d,
                         const struct fpm_disc_entry *old) {
  char cb[DATA_MAX_NAME_LEN + 16];
  snprintf(cb, sizeof cb, PHPFPM_PLUGIN_NAME "/%s", old->name);
  d->stop(cb);
  d->n_stopped++;
  int gone = !in_conf(d->scan_conf, old->name);
  struct phpfpm_link *l = links_take(d, old->name);
  if (l != NULL && atomic_load(&l->down))
    notify_retired(old, gone);
  phpfpm_link_put(l);
  INFO(P "pool \"%s\": stopped reading it (%s %s)", old->name,
       gone ? "gone from php-fpm's configuration, was in"
            : "changed in php-fpm's configuration, read anew from",
       old->file);
}

static int on_change(void *ud, enum fpm_disc_event ev,
                     const struct fpm_disc_entry *old,
                     const struct fpm_conf_pool *now) {
  struct phpfpm_discovery *d = ud;
  switch (ev) {
  case FPM_DISC_REMOVED:
    if (old->active)
      pool_removed(d, old);
    return 0;
  case FPM_DISC_ADDED:
    return pool_added(d, now);
  case FPM_DISC_UNMONITORABLE:
    d->n_unmonitorable++;
    WARNING(P "pool \"%s\" (discovered) is not read: %s", now->name, now->why);
    return 0;
  }
  return 0;
}

/* ------------------------------------------------------------ diagnostics */

static int seen(char *const *v, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], s) == 0)
      return 1;
  return 0;
}

/* Log each configuration problem once while it lasts: those of the
 * previous scan are not logged again. */
static void log_diags(struct phpfpm_discovery *d, const struct fpm_conf *c) {
  char **now = calloc(c->n_diags + 1, sizeof *now);
  size_t n = 0;
  for (size_t i = 0; now != NULL && i < c->n_diags; i++) {
    const struct fpm_conf_diag *g = &c->diags[i];
    char line[1024];
    if (g->line > 0)
      snprintf(line, sizeof line, "%s:%d: %s", g->file, g->line, g->message);
    else
      snprintf(line, sizeof line, "%s: %s", g->file, g->message);
    if (!seen(d->diags, d->n_diags, line))
      WARNING(P "Discover: %s", line);
    if ((now[n] = strdup(line)) != NULL)
      n++;
  }
  for (size_t i = 0; i < d->n_diags; i++)
    free(d->diags[i]);
  free(d->diags);
  d->diags = now;
  d->n_diags = n;
}

int phpfpm_discover_read(user_data_t *ud) {
  struct phpfpm_discovery *d = ud->data;
  if (d->skip_next)
    d->skip_next = 0;
  else
    phpfpm_discover_scan(d);
  return 0;
}

/* One line per scan that changed something. */
static void log_summary(const struct phpfpm_discovery *d) {
  if (d->n_started + d->n_stopped + d->n_failed + d->n_unmonitorable == 0)
    return;
  INFO(P "Discover: %zu discovered pool(s) read; this scan started %d, "
         "stopped %d, %d could not start, %d newly not monitorable",
       d->n_links, d->n_started, d->n_stopped, d->n_failed, d->n_unmonitorable);
}

/* The pools pattern i ignores (its first match) in the last scan: "a, b",
 * "" for none. NULL when out of memory. */
static char *ignored_names(const struct phpfpm_discovery *d, size_t i,
                           size_t *count) {
  size_t len = 1;
  *count = 0;
  for (size_t k = 0; k < d->set.n; k++)
    if (d->set.v[k].ignored == (int)i + 1)
      len += strlen(d->set.v[k].name) + 2;
  char *out = malloc(len);
  if (out == NULL)
    return NULL;
  size_t off = 0;
  out[0] = '\0';
  for (size_t k = 0; k < d->set.n; k++) {
    if (d->set.v[k].ignored != (int)i + 1)
      continue;
    off += (size_t)snprintf(out + off, len - off, "%s%s", off > 0 ? ", " : "",
                            d->set.v[k].name);
    (*count)++;
  }
  return out;
}

/* One INFO line per pattern whose set of ignored pools changed (the first
 * scan logs every pattern, so one that matches nothing shows up too). */
static void log_ignored(struct phpfpm_discovery *d) {
  if (d->n_ignore == 0)
    return;
  if (d->ignore_logged == NULL &&
      (d->ignore_logged = calloc(d->n_ignore, sizeof *d->ignore_logged)) ==
          NULL)
    return;
  for (size_t i = 0; i < d->n_ignore; i++) {
    size_t count;
    char *now = ignored_names(d, i, &count);
    if (now == NULL)
      return;
    char *was = d->ignore_logged[i];
    if (was != NULL && strcmp(was, now) == 0) {
      free(now);
      continue;
    }
    if (count == 0)
      INFO(P "Discover: DiscoverIgnore \"%s\" ignores no pool%s", d->ignore[i],
           was != NULL ? " now" : " (it matches no discovered pool name)");
    else
      INFO(P "Discover: DiscoverIgnore \"%s\" ignores %zu pool(s), not "
             "read: %s",
           d->ignore[i], count, now);
    free(was);
    d->ignore_logged[i] = now;
  }
}

void phpfpm_discover_scan(struct phpfpm_discovery *d) {
  struct fpm_conf conf;
  int rc = fpm_discover_load(d->path, NULL, &conf);
  log_diags(d, &conf);
  if (rc != 0) {
    if (!d->load_failed)
      ERROR(P "Discover: no php-fpm configuration could be read from %s; the "
              "pools found so far are still read",
            d->path != NULL ? d->path : FPM_CONF_DEFAULT_WHERE);
    d->load_failed = 1;
  } else {
    if (d->load_failed)
      INFO(P "Discover: php-fpm's configuration is readable again");
    d->load_failed = 0;
    d->n_started = d->n_stopped = d->n_failed = d->n_unmonitorable = 0;
    d->scan_conf = &conf;
    if (fpm_discover_update_ignoring(&d->set, &conf,
                                     (const char *const *)d->ignore,
                                     d->n_ignore, on_change, d) < 0)
      ERROR(P "Discover: out of memory comparing the pools");
    d->scan_conf = NULL;
    log_ignored(d);
    log_summary(d);
  }
  fpm_conf_free(&conf);
}
