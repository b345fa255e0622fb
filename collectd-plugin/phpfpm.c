/*
 * phpfpm.c: the collectd entry point: module registration, the
 * configuration callback (<Pool> blocks, Discover and its options) and the
 * report of configuration errors. Pools are read by phpfpm_pool.c, found by
 * phpfpm_discover.c.
 */
#include "phpfpm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P PHPFPM_PLUGIN_NAME " plugin: "

/* One <Pool> block: parsed, resolved, registered; -1 when rejected (the
 * cause is logged). */
static int pool_add(const oconfig_item_t *ci) {
  struct phpfpm_pool *p = calloc(1, sizeof *p);
  if (p == NULL) {
    ERROR(P "out of memory");
    return -1;
  }
  if (phpfpm_conf_parse(ci, CDTIME_T_TO_DOUBLE(plugin_get_interval()),
                        &p->conf) != 0) {
    free(p);
    return -1;
  }
  return phpfpm_pool_start(p);
}

/* The name of the i-th <Pool> if it is valid, else NULL. */
static const char *pool_name(const oconfig_item_t *ci) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING)
    return NULL;
  return ci->values[0].value.string;
}

static int is_duplicate(const oconfig_item_t *parent, int i) {
  const char *name = pool_name(&parent->children[i]);
  for (int j = 0; name != NULL && j < i; j++) {
    const oconfig_item_t *o = &parent->children[j];
    const char *other = pool_name(o);
    if (strcasecmp(o->key, "Pool") == 0 && other != NULL &&
        strcmp(other, name) == 0)
      return 1;
  }
  return 0;
}

int phpfpm_config_errors_read(user_data_t *ud) {
  struct phpfpm_config_errors *e = ud->data;
  if (e->reported)
    return 0;
  e->reported = 1;
  ERROR(P "%d configuration error(s) above: the rejected parts are not read; "
          "the rest of the plugin runs (this read fails once so that "
          "`collectd -T` exits 1)",
        e->n);
  return -1;
}

/* Registered with a one-day interval: a daemon calls it at start (-1, one
 * NOTICE), then once a day (0). It is never unregistered: under `collectd
 * -T`, plugin_unregister_read (and any registration) after the first read
 * would search collectd's read list, whose names plugin_read_all_once has
 * already freed. */
static void config_errors_register(int n_errors) {
  struct phpfpm_config_errors *e = calloc(1, sizeof *e);
  if (e == NULL)
    return;
  e->n = n_errors;
  /* on failure collectd frees e (free_func), as for a pool */
  user_data_t ud = {.data = e, .free_func = free};
  if (plugin_register_complex_read(NULL, PHPFPM_PLUGIN_NAME "-config",
                                   phpfpm_config_errors_read,
                                   TIME_T_TO_CDTIME_T(86400), &ud) != 0)
    ERROR(P "%d configuration error(s) above (the callback that reports them "
            "could not be registered)",
          n_errors);
}

/* Remember the name of a <Pool> block that was added, so a discovered pool
 * of the same name is left to it (a rejected block hides nothing). */
static void record_manual(struct phpfpm_discovery *d, const char *name) {
  if (d->manual == NULL || name == NULL)
    return;
  char *copy = strdup(name);
  if (copy == NULL) {
    ERROR(P "pool \"%s\": out of memory remembering its name for Discover",
          name);
    return;
  }
  d->manual[d->n_manual++] = copy;
}

/* Register the scan callback, then run the first scan. d is handed over:
 * on a failed registration collectd has freed it (free_func). */
static int discovery_register(struct phpfpm_discovery *d) {
  char where[600];
  snprintf(where, sizeof where, "%s",
           d->path != NULL ? d->path : FPM_CONF_DEFAULT_WHERE);
  double every = d->interval_s;
  d->start = phpfpm_pool_start;
  d->stop = plugin_unregister_read;
  /* The first scan runs here, in the config phase (no read thread runs
   * yet, so d is still ours to use): under `collectd -T`, registering from
   * a read callback would search collectd's read list after
   * plugin_read_all_once has freed its names. The scan callback's first
   * run is therefore skipped (skip_next). */
  d->skip_next = 1;
  user_data_t ud = {.data = d, .free_func = phpfpm_discovery_free};
  if (plugin_register_complex_read(NULL, PHPFPM_DISCOVER_CB,
                                   phpfpm_discover_read,
                                   DOUBLE_TO_CDTIME_T(every), &ud) != 0) {
    /* d was freed by collectd (free_func): not touched again */
    ERROR(P "Discover: cannot register the read callback \"%s\" (is "
            "Discover given in two <Plugin phpfpm> blocks?)",
          PHPFPM_DISCOVER_CB);
    return -1;
  }
  INFO(P "Discover: reading the pools of %s every %g s", where, every);
  phpfpm_discover_scan(d);
  return 0;
}

/* One child of <Plugin phpfpm>; returns 0 or -1 (rejected, logged). */
static int config_child(oconfig_item_t *ci, int i, struct phpfpm_discovery *d,
                        int *discover) {
  const oconfig_item_t *o = &ci->children[i];
  int rc = 0;
  if (phpfpm_discover_option(o, d, discover, &rc))
    return rc;
  if (strcasecmp(o->key, "Pool") != 0) {
    ERROR(P "unknown option \"%s\" in <Plugin " PHPFPM_PLUGIN_NAME
            ">; expected <Pool \"name\"> blocks, Discover, "
            "DiscoverInterval, DiscoverIgnore or <DiscoverDefaults>",
          o->key);
    return -1;
  }
  if (is_duplicate(ci, i)) {
    ERROR(P "pool \"%s\": duplicate pool name; each <Pool> needs its own "
            "name",
          pool_name(o));
    return -1;
  }
  if (pool_add(o) != 0)
    return -1;
  record_manual(d, pool_name(o));
  return 0;
}

/*
 * <Plugin phpfpm>
 *   <Pool "www">
 *     Socket "/run/php/php8.2-fpm.sock"   # or Address "127.0.0.1:9000"
 *     ...
 *   </Pool>
 *   Discover true                         # or "/path"; DiscoverInterval 60
 *   DiscoverIgnore "www@*"                # repeatable
 *   <DiscoverDefaults>                    # the keys of <Pool> except
 *     Workers "none"                      # Socket, Address, StatusPath,
 *   </DiscoverDefaults>                   # PingPath, MaxChildren
 * </Plugin>
 * A rejected block is logged and skipped; the valid pools are read and the
 * callback returns 0, so the rest of collectd keeps running. The errors
 * make the first read round fail once (phpfpm_config_errors_read), so
 * `collectd -T` still exits 1 on them.
 */
int phpfpm_config(oconfig_item_t *ci) {
  struct phpfpm_discovery *d = calloc(1, sizeof *d);
  if (d == NULL) {
    ERROR(P "out of memory");
    return -1;
  }
  d->manual = calloc((size_t)ci->children_num + 1, sizeof *d->manual);
  if (d->manual == NULL) {
    ERROR(P "out of memory");
    free(d);
    return -1;
  }
  d->interval_s = PHPFPM_DEFAULT_DISCOVER_INTERVAL;
  d->pool_interval_s = CDTIME_T_TO_DOUBLE(plugin_get_interval());
  phpfpm_defaults_init(&d->defaults, d->pool_interval_s);
  int discover = 0, errors = 0;
  for (int i = 0; i < ci->children_num; i++)
    if (config_child(ci, i, d, &discover) != 0)
      errors++;
  if (discover) {
    if (discovery_register(d) != 0)
      errors++;
  } else {
    if (d->n_ignore > 0 || d->defaults_given)
      WARNING(P "DiscoverIgnore and <DiscoverDefaults> only apply with "
                "Discover in the same <Plugin phpfpm> block; here they have "
                "no effect");
    phpfpm_discovery_free(d);
  }
  if (errors > 0)
    config_errors_register(errors);
  return 0;
}

__attribute__((visibility("default"))) void module_register(void) {
  plugin_register_complex_config(PHPFPM_PLUGIN_NAME, phpfpm_config);
}
