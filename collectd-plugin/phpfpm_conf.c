/*
 * phpfpm_conf.c: parses and validates one <Pool "name"> block of
 * <Plugin phpfpm> into a struct phpfpm_conf, and a <DiscoverDefaults> block
 * (the same keys but those discovery derives) into a struct
 * phpfpm_defaults. Every rejection is logged with the pool (or the block),
 * the key, what was expected and what was given; nothing here touches the
 * network (the endpoint is resolved by phpfpm.c).
 */
#include "phpfpm.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P PHPFPM_PLUGIN_NAME " plugin: "

/* What a config value looks like, for "got ..." in messages. */
static void describe_values(const oconfig_item_t *ci, char *buf, size_t len) {
  if (ci->values_num != 1) {
    snprintf(buf, len, "%d values", ci->values_num);
    return;
  }
  const oconfig_value_t *v = &ci->values[0];
  if (v->type == OCONFIG_TYPE_STRING)
    snprintf(buf, len, "\"%.80s\"", v->value.string);
  else if (v->type == OCONFIG_TYPE_NUMBER)
    snprintf(buf, len, "%g", v->value.number);
  else
    snprintf(buf, len, "%s", v->value.boolean ? "true" : "false");
}

static int bad_value(const char *who, const oconfig_item_t *ci,
                     const char *expected) {
  char got[128];
  describe_values(ci, got, sizeof got);
  ERROR(P "%s: %s: expected %s; got %s", who, ci->key, expected, got);
  return -1;
}

static int one_string(const oconfig_item_t *ci) {
  return ci->values_num == 1 && ci->values[0].type == OCONFIG_TYPE_STRING;
}

static int one_number(const oconfig_item_t *ci) {
  return ci->values_num == 1 && ci->values[0].type == OCONFIG_TYPE_NUMBER &&
         isfinite(ci->values[0].value.number);
}

/* A string option into *dst (replacing nothing: given twice is an error). */
static int get_string(const char *who, const oconfig_item_t *ci, char **dst,
                      const char *expected) {
  if (!one_string(ci) || ci->values[0].value.string[0] == '\0')
    return bad_value(who, ci, expected);
  if (*dst != NULL) {
    ERROR(P "%s: %s: given more than once", who, ci->key);
    return -1;
  }
  *dst = strdup(ci->values[0].value.string);
  if (*dst == NULL) {
    ERROR(P "%s: %s: out of memory", who, ci->key);
    return -1;
  }
  return 0;
}

static int get_seconds(const char *who, const oconfig_item_t *ci, double *dst) {
  if (!one_number(ci) || ci->values[0].value.number <= 0)
    return bad_value(who, ci, "a number of seconds greater than 0");
  *dst = ci->values[0].value.number;
  return 0;
}

static int get_count(const char *who, const oconfig_item_t *ci, double max,
                     uint64_t *dst) {
  char expected[96];
  snprintf(expected, sizeof expected, "a whole number from 1 to %.0f", max);
  if (!one_number(ci))
    return bad_value(who, ci, expected);
  double d = ci->values[0].value.number;
  if (d < 1 || d > max || d != floor(d))
    return bad_value(who, ci, expected);
  *dst = (uint64_t)d;
  return 0;
}

/* WorkerMemoryRefresh, WorkerPSSRefresh: a number of reads. */
static int get_reads(const char *who, const oconfig_item_t *ci, unsigned *dst) {
  uint64_t n = 0;
  if (get_count(who, ci, 100000, &n) != 0)
    return -1;
  *dst = (unsigned)n;
  return 0;
}

static int get_bool(const char *who, const oconfig_item_t *ci, int *dst) {
  static const char *const yes[] = {"true", "yes", "on"};
  static const char *const no[] = {"false", "no", "off"};
  if (ci->values_num == 1 && ci->values[0].type == OCONFIG_TYPE_BOOLEAN) {
    *dst = ci->values[0].value.boolean ? 1 : 0;
    return 0;
  }
  if (one_string(ci)) {
    for (size_t i = 0; i < 3; i++) {
      if (strcasecmp(ci->values[0].value.string, yes[i]) == 0) {
        *dst = 1;
        return 0;
      }
      if (strcasecmp(ci->values[0].value.string, no[i]) == 0) {
        *dst = 0;
        return 0;
      }
    }
  }
  return bad_value(who, ci, "true or false");
}

static int get_workers(const char *who, const oconfig_item_t *ci,
                       enum fpm_worker_detail *dst) {
  static const enum fpm_worker_detail modes[] = {
      FPM_WORKERS_NONE, FPM_WORKERS_SUMMARY, FPM_WORKERS_SLOTS};
  if (one_string(ci)) {
    for (size_t i = 0; i < 3; i++) {
      if (strcasecmp(ci->values[0].value.string,
                     phpfpm_workers_name(modes[i])) == 0) {
        *dst = modes[i];
        return 0;
      }
    }
  }
  return bad_value(who, ci, "one of none, summary, slots");
}

const char *phpfpm_workers_name(enum fpm_worker_detail d) {
  switch (d) {
  case FPM_WORKERS_NONE:
    return "none";
  case FPM_WORKERS_SLOTS:
    return "slots";
  case FPM_WORKERS_SUMMARY:
    break;
  }
  return "summary";
}

/* "unix:" + an absolute path. */
static int set_socket(const char *who, const oconfig_item_t *ci,
                      struct phpfpm_conf *c, char **socket) {
  if (!one_string(ci) || ci->values[0].value.string[0] != '/')
    return bad_value(who, ci,
                     "the absolute path of php-fpm's unix socket, e.g. "
                     "\"/run/php/php8.2-fpm.sock\"");
  if (get_string(who, ci, socket, "") != 0)
    return -1;
  c->is_socket = 1;
  return 0;
}

static int set_address(const char *who, const oconfig_item_t *ci,
                       char **address) {
  static const char *const expected =
      "\"host:port\", \"[v6addr]:port\" or \"ip:port\", e.g. "
      "\"127.0.0.1:9000\"";
  if (!one_string(ci))
    return bad_value(who, ci, expected);
  const char *s = ci->values[0].value.string;
  if (strncmp(s, "tcp://", 6) == 0)
    s += 6;
  const char *colon = strrchr(s, ':');
  if (s[0] == '/' || strncmp(s, "unix:", 5) == 0 || colon == NULL ||
      colon == s || colon[1] == '\0')
    return bad_value(who, ci, expected);
  return get_string(who, ci, address, expected);
}

static int set_path(const char *who, const oconfig_item_t *ci, char **dst) {
  if (!one_string(ci) || ci->values[0].value.string[0] != '/')
    return bad_value(who, ci, "a path starting with '/', e.g. \"/status\"");
  return get_string(who, ci, dst, "");
}

struct raw_pool {
  char *socket, *address;
  double timeout_s, interval_s;
  uint64_t max_slots;
};

/* The keys of a <Pool> block, in the order messages list them. `derived`:
 * where discovery takes the value from, so <DiscoverDefaults> forbids it. */
enum key_id {
  K_SOCKET,
  K_ADDRESS,
  K_STATUS_PATH,
  K_PING_PATH,
  K_TIMEOUT,
  K_INTERVAL,
  K_WORKERS,
  K_MAX_SLOTS,
  K_SLOW_THRESHOLD,
  K_MAX_CHILDREN,
  K_NOTIFICATIONS,
  K_WORKER_MEMORY,
  K_WORKER_PSS,
  K_WORKER_MEMORY_REFRESH,
  K_WORKER_PSS_REFRESH,
  K_OPCACHE,
  K_OPCACHE_SCRIPT,
  K_MASTER,
  K__COUNT
};
static const struct {
  const char *name;
  const char *derived;
} keys[K__COUNT] = {
    [K_SOCKET] = {"Socket", "listen (or pm.status_listen)"},
    [K_ADDRESS] = {"Address", "listen (or pm.status_listen)"},
    [K_STATUS_PATH] = {"StatusPath", "pm.status_path"},
    [K_PING_PATH] = {"PingPath", "ping.path"},
    [K_TIMEOUT] = {"Timeout", NULL},
    [K_INTERVAL] = {"Interval", NULL},
    [K_WORKERS] = {"Workers", NULL},
    [K_MAX_SLOTS] = {"MaxSlots", NULL},
    [K_SLOW_THRESHOLD] = {"SlowThreshold", NULL},
    [K_MAX_CHILDREN] = {"MaxChildren", "pm.max_children"},
    [K_NOTIFICATIONS] = {"Notifications", NULL},
    [K_WORKER_MEMORY] = {"WorkerMemory", NULL},
    [K_WORKER_PSS] = {"WorkerPSS", NULL},
    [K_WORKER_MEMORY_REFRESH] = {"WorkerMemoryRefresh", NULL},
    [K_WORKER_PSS_REFRESH] = {"WorkerPSSRefresh", NULL},
    [K_OPCACHE] = {"Opcache", NULL},
    [K_OPCACHE_SCRIPT] = {"OpcacheScript", NULL},
    [K_MASTER] = {"Master", NULL},
};
/* A <Pool> block forbids nothing; <DiscoverDefaults> the derived keys. */
#define FORBID_NONE 0u
#define FORBID_DERIVED                                                         \
  ((1u << K_SOCKET) | (1u << K_ADDRESS) | (1u << K_STATUS_PATH) |              \
   (1u << K_PING_PATH) | (1u << K_MAX_CHILDREN))

static int key_of(const char *k) {
  for (int i = 0; i < K__COUNT; i++)
    if (strcasecmp(k, keys[i].name) == 0)
      return i;
  return -1;
}

/* "unknown option": the keys the block takes. */
static int unknown_key(const char *who, const char *k, unsigned forbidden) {
  char list[256] = "";
  size_t off = 0;
  for (int i = 0; i < K__COUNT; i++) {
    if ((forbidden >> i) & 1u)
      continue;
    int n = snprintf(list + off, sizeof list - off, "%s%s", off > 0 ? ", " : "",
                     keys[i].name);
    if (n < 0 || (size_t)n >= sizeof list - off)
      break;
    off += (size_t)n;
  }
  ERROR(P "%s: unknown option \"%s\"; expected one of %s", who, k, list);
  return -1;
}

static int set_option(const char *who, const oconfig_item_t *o,
                      unsigned forbidden, struct phpfpm_conf *c,
                      struct raw_pool *r) {
  const char *k = o->key;
  if (o->children_num > 0) {
    ERROR(P "%s: %s: expected a plain option, got a block", who, k);
    return -1;
  }
  int id = key_of(k);
  if (id < 0)
    return unknown_key(who, k, forbidden);
  if ((forbidden >> id) & 1u) {
    ERROR(P "%s: %s cannot be set here: discovery takes it from each pool's "
            "%s (a <Pool> block of the pool's name can set it)",
          who, keys[id].name, keys[id].derived);
    return -1;
  }
  switch ((enum key_id)id) {
  case K_SOCKET:
    return set_socket(who, o, c, &r->socket);
  case K_ADDRESS:
    return set_address(who, o, &r->address);
  case K_STATUS_PATH:
    return set_path(who, o, &c->status_path);
  case K_PING_PATH:
    return set_path(who, o, &c->ping_path);
  case K_TIMEOUT:
    return get_seconds(who, o, &r->timeout_s);
  case K_INTERVAL:
    return get_seconds(who, o, &r->interval_s);
  case K_WORKERS:
    return get_workers(who, o, &c->workers);
  case K_MAX_SLOTS:
    return get_count(who, o, PHPFPM_MAX_SLOTS_LIMIT, &r->max_slots);
  case K_SLOW_THRESHOLD:
    return get_seconds(who, o, &c->slow_threshold_s);
  case K_MAX_CHILDREN:
    return get_count(who, o, 1e9, &c->max_children);
  case K_NOTIFICATIONS:
    return get_bool(who, o, &c->notifications);
  case K_WORKER_MEMORY:
    return get_bool(who, o, &c->worker_memory);
  case K_WORKER_PSS:
    return get_bool(who, o, &c->worker_pss);
  case K_WORKER_MEMORY_REFRESH:
    return get_reads(who, o, &c->rss_every);
  case K_WORKER_PSS_REFRESH:
    return get_reads(who, o, &c->pss_every);
  case K_OPCACHE:
    return get_bool(who, o, &c->opcache);
  case K_OPCACHE_SCRIPT:
    if (!one_string(o) || o->values[0].value.string[0] != '/')
      return bad_value(who, o,
                       "the absolute path of fpmstat's opcache.php as the "
                       "pool sees it (inside its chroot, if it has one)");
    return get_string(who, o, &c->opcache_script, "");
  case K_MASTER:
    if (!one_string(o) || o->values[0].value.string[0] == '\0' ||
        strlen(o->values[0].value.string) > 63)
      return bad_value(who, o,
                       "a name of 1 to 63 bytes for the php-fpm master of "
                       "the pool, e.g. \"php8.2-fpm\"");
    return get_string(who, o, &c->master, "");
  case K__COUNT:
    break;
  }
  return unknown_key(who, k, forbidden);
}

/* The keys of a block into c and r, which hold the defaults. */
static int parse_keys(const char *who, const oconfig_item_t *ci,
                      unsigned forbidden, struct phpfpm_conf *c,
                      struct raw_pool *r) {
  int rc = 0;
  for (int i = 0; i < ci->children_num && rc == 0; i++)
    rc = set_option(who, &ci->children[i], forbidden, c, r);
  return rc;
}

/* Interval (given or default_interval_s) and Timeout (given or 90% of it,
 * clamped below it with a warning). */
static void resolve_timing(const char *who, const struct raw_pool *r,
                           double default_interval_s, double *interval_s,
                           double *timeout_s) {
  *interval_s = r->interval_s > 0 ? r->interval_s : default_interval_s;
  if (*interval_s <= 0)
    *interval_s = 10.0;
  double dflt = *interval_s * PHPFPM_TIMEOUT_SHARE;
  *timeout_s = r->timeout_s > 0 ? r->timeout_s : dflt;
  if (*timeout_s >= *interval_s) {
    WARNING(P "%s: Timeout %g is not below the interval (%g s); "
              "using %g s (90%% of the interval)",
            who, *timeout_s, *interval_s, dflt);
    *timeout_s = dflt;
  }
}

/* Endpoint, defaults, and Timeout against the interval. */
static int finish(const char *who, struct phpfpm_conf *c, struct raw_pool *r,
                  double default_interval_s) {
  if ((r->socket == NULL) == (r->address == NULL)) {
    ERROR(P "%s: expected exactly one of Socket \"/path/to.sock\" "
            "or Address \"host:port\"; got %s",
          who, r->socket == NULL ? "neither" : "both");
    return -1;
  }
  const char *target = r->socket != NULL ? r->socket : r->address;
  const char *prefix = r->socket != NULL ? "unix:" : "tcp://";
  if (r->address != NULL && strncmp(target, "tcp://", 6) == 0)
    prefix = "";
  size_t n = strlen(prefix) + strlen(target) + 1;
  c->endpoint = malloc(n);
  if (c->endpoint == NULL)
    return -1;
  snprintf(c->endpoint, n, "%s%s", prefix, target);

  if (c->status_path == NULL)
    c->status_path = strdup(PHPFPM_DEFAULT_STATUS_PATH);
  if (c->ping_path == NULL)
    c->ping_path = strdup(PHPFPM_DEFAULT_PING_PATH);
  if (c->status_path == NULL || c->ping_path == NULL)
    return -1;

  c->interval_set = r->interval_s > 0;
  resolve_timing(who, r, default_interval_s, &c->interval_s, &c->timeout_s);
  c->max_slots = (size_t)r->max_slots;
  return 0;
}

/* The defaults of a block: those of a <Pool> without keys. */
static void block_defaults(struct phpfpm_conf *c, struct raw_pool *r) {
  c->workers = FPM_WORKERS_SUMMARY;
  c->slow_threshold_s = PHPFPM_DEFAULT_SLOW_THRESHOLD;
  c->notifications = 1;
  c->rss_every = PHPFPM_DEFAULT_RSS_EVERY;
  c->pss_every = PHPFPM_DEFAULT_PSS_EVERY;
  memset(r, 0, sizeof *r);
  r->max_slots = PHPFPM_DEFAULT_MAX_SLOTS;
}

int phpfpm_conf_parse(const oconfig_item_t *ci, double default_interval_s,
                      struct phpfpm_conf *out) {
  memset(out, 0, sizeof *out);
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING ||
      ci->values[0].value.string[0] == '\0') {
    ERROR(P "<Pool> expects exactly one string argument, the pool name, "
            "e.g. <Pool \"www\">");
    return -1;
  }
  const char *name = ci->values[0].value.string;
  if (strlen(name) > PHPFPM_MAX_POOL_NAME) {
    ERROR(P "pool \"%.40s...\": the name is longer than %d bytes", name,
          PHPFPM_MAX_POOL_NAME);
    return -1;
  }
  out->name = strdup(name);
  if (out->name == NULL)
    return -1;
  char who[PHPFPM_MAX_POOL_NAME + 16];
  snprintf(who, sizeof who, "pool \"%s\"", name);
  struct raw_pool r;
  block_defaults(out, &r);
  int rc = parse_keys(who, ci, FORBID_NONE, out, &r);
  if (rc == 0)
    rc = finish(who, out, &r, default_interval_s);
  free(r.socket);
  free(r.address);
  if (rc != 0)
    phpfpm_conf_clear(out);
  return rc;
}

void phpfpm_defaults_init(struct phpfpm_defaults *d,
                          double default_interval_s) {
  struct phpfpm_conf c = {0};
  struct raw_pool r;
  block_defaults(&c, &r);
  memset(d, 0, sizeof *d);
  resolve_timing("DiscoverDefaults", &r, default_interval_s, &d->interval_s,
                 &d->timeout_s);
  d->workers = c.workers;
  d->max_slots = (size_t)r.max_slots;
  d->slow_threshold_s = c.slow_threshold_s;
  d->notifications = c.notifications;
  d->worker_memory = c.worker_memory;
  d->worker_pss = c.worker_pss;
  d->rss_every = c.rss_every;
  d->pss_every = c.pss_every;
}

int phpfpm_defaults_parse(const oconfig_item_t *ci, double default_interval_s,
                          struct phpfpm_defaults *out) {
  static const char *const who = "DiscoverDefaults";
  if (ci->values_num != 0) {
    ERROR(P "<%s> takes no argument (its keys apply to every discovered "
            "pool), e.g. <DiscoverDefaults> Workers \"none\" "
            "</DiscoverDefaults>",
          who);
    return -1;
  }
  struct phpfpm_conf c = {0};
  struct raw_pool r;
  block_defaults(&c, &r);
  int rc = parse_keys(who, ci, FORBID_DERIVED, &c, &r);
  if (rc == 0) {
    memset(out, 0, sizeof *out);
    resolve_timing(who, &r, default_interval_s, &out->interval_s,
                   &out->timeout_s);
    out->workers = c.workers;
    out->max_slots = (size_t)r.max_slots;
    out->slow_threshold_s = c.slow_threshold_s;
    out->notifications = c.notifications;
    out->worker_memory = c.worker_memory;
    out->worker_pss = c.worker_pss;
    out->rss_every = c.rss_every;
    out->pss_every = c.pss_every;
    out->opcache = c.opcache;
    snprintf(out->opcache_script, sizeof out->opcache_script, "%s",
             c.opcache_script != NULL ? c.opcache_script : "");
    snprintf(out->master, sizeof out->master, "%s",
             c.master != NULL ? c.master : "");
  }
  /* the forbidden keys are refused before they allocate; clear anyway */
  free(r.socket);
  free(r.address);
  phpfpm_conf_clear(&c);
  return rc;
}

void phpfpm_conf_clear(struct phpfpm_conf *c) {
  free(c->name);
  free(c->endpoint);
  free(c->status_path);
  free(c->ping_path);
  free(c->opcache_script);
  free(c->master);
  free(c->root);
  free(c->netns);
  free(c->tag);
  free(c->section);
  memset(c, 0, sizeof *c);
}
