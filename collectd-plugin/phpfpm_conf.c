/*
 * phpfpm_conf.c: parses and validates one <Pool "name"> block of
 * <Plugin phpfpm> into a struct phpfpm_conf. Every rejection is logged with
 * the pool, the key, what was expected and what was given; nothing here
 * touches the network (the endpoint is resolved by phpfpm.c).
 */
#include "phpfpm.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P PHPFPM_PLUGIN_NAME " plugin: "

static const char *const known_keys =
    "Socket, Address, StatusPath, PingPath, Timeout, Interval, Workers, "
    "MaxSlots, SlowThreshold, MaxChildren, Notifications";

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

static int bad_value(const char *pool, const oconfig_item_t *ci,
                     const char *expected) {
  char got[128];
  describe_values(ci, got, sizeof got);
  ERROR(P "pool \"%s\": %s: expected %s; got %s", pool, ci->key, expected, got);
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
static int get_string(const char *pool, const oconfig_item_t *ci, char **dst,
                      const char *expected) {
  if (!one_string(ci) || ci->values[0].value.string[0] == '\0')
    return bad_value(pool, ci, expected);
  if (*dst != NULL) {
    ERROR(P "pool \"%s\": %s: given more than once", pool, ci->key);
    return -1;
  }
  *dst = strdup(ci->values[0].value.string);
  if (*dst == NULL) {
    ERROR(P "pool \"%s\": %s: out of memory", pool, ci->key);
    return -1;
  }
  return 0;
}

static int get_seconds(const char *pool, const oconfig_item_t *ci,
                       double *dst) {
  if (!one_number(ci) || ci->values[0].value.number <= 0)
    return bad_value(pool, ci, "a number of seconds greater than 0");
  *dst = ci->values[0].value.number;
  return 0;
}

static int get_count(const char *pool, const oconfig_item_t *ci, double max,
                     uint64_t *dst) {
  char expected[96];
  snprintf(expected, sizeof expected, "a whole number from 1 to %.0f", max);
  if (!one_number(ci))
    return bad_value(pool, ci, expected);
  double d = ci->values[0].value.number;
  if (d < 1 || d > max || d != floor(d))
    return bad_value(pool, ci, expected);
  *dst = (uint64_t)d;
  return 0;
}

static int get_bool(const char *pool, const oconfig_item_t *ci, int *dst) {
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
  return bad_value(pool, ci, "true or false");
}

static int get_workers(const char *pool, const oconfig_item_t *ci,
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
  return bad_value(pool, ci, "one of none, summary, slots");
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
static int set_socket(const char *pool, const oconfig_item_t *ci,
                      struct phpfpm_conf *c, char **socket) {
  if (!one_string(ci) || ci->values[0].value.string[0] != '/')
    return bad_value(pool, ci,
                     "the absolute path of php-fpm's unix socket, e.g. "
                     "\"/run/php/php8.2-fpm.sock\"");
  if (get_string(pool, ci, socket, "") != 0)
    return -1;
  c->is_socket = 1;
  return 0;
}

static int set_address(const char *pool, const oconfig_item_t *ci,
                       char **address) {
  static const char *const expected =
      "\"host:port\", \"[v6addr]:port\" or \"ip:port\", e.g. "
      "\"127.0.0.1:9000\"";
  if (!one_string(ci))
    return bad_value(pool, ci, expected);
  const char *s = ci->values[0].value.string;
  if (strncmp(s, "tcp://", 6) == 0)
    s += 6;
  const char *colon = strrchr(s, ':');
  if (s[0] == '/' || strncmp(s, "unix:", 5) == 0 || colon == NULL ||
      colon == s || colon[1] == '\0')
    return bad_value(pool, ci, expected);
  return get_string(pool, ci, address, expected);
}

static int set_path(const char *pool, const oconfig_item_t *ci, char **dst) {
  if (!one_string(ci) || ci->values[0].value.string[0] != '/')
    return bad_value(pool, ci, "a path starting with '/', e.g. \"/status\"");
  return get_string(pool, ci, dst, "");
}

struct raw_pool {
  char *socket, *address;
  double timeout_s, interval_s;
  uint64_t max_slots;
};

static int set_option(const char *pool, const oconfig_item_t *o,
                      struct phpfpm_conf *c, struct raw_pool *r) {
  const char *k = o->key;
  if (o->children_num > 0) {
    ERROR(P "pool \"%s\": %s: expected a plain option, got a block", pool, k);
    return -1;
  }
  if (strcasecmp(k, "Socket") == 0)
    return set_socket(pool, o, c, &r->socket);
  if (strcasecmp(k, "Address") == 0)
    return set_address(pool, o, &r->address);
  if (strcasecmp(k, "StatusPath") == 0)
    return set_path(pool, o, &c->status_path);
  if (strcasecmp(k, "PingPath") == 0)
    return set_path(pool, o, &c->ping_path);
  if (strcasecmp(k, "Timeout") == 0)
    return get_seconds(pool, o, &r->timeout_s);
  if (strcasecmp(k, "Interval") == 0)
    return get_seconds(pool, o, &r->interval_s);
  if (strcasecmp(k, "Workers") == 0)
    return get_workers(pool, o, &c->workers);
  if (strcasecmp(k, "MaxSlots") == 0)
    return get_count(pool, o, PHPFPM_MAX_SLOTS_LIMIT, &r->max_slots);
  if (strcasecmp(k, "SlowThreshold") == 0)
    return get_seconds(pool, o, &c->slow_threshold_s);
  if (strcasecmp(k, "MaxChildren") == 0)
    return get_count(pool, o, 1e9, &c->max_children);
  if (strcasecmp(k, "Notifications") == 0)
    return get_bool(pool, o, &c->notifications);
  ERROR(P "pool \"%s\": unknown option \"%s\"; expected one of %s", pool, k,
        known_keys);
  return -1;
}

/* Endpoint, defaults, and Timeout against the interval. */
static int finish(struct phpfpm_conf *c, struct raw_pool *r,
                  double default_interval_s) {
  const char *pool = c->name;
  if ((r->socket == NULL) == (r->address == NULL)) {
    ERROR(P "pool \"%s\": expected exactly one of Socket \"/path/to.sock\" "
            "or Address \"host:port\"; got %s",
          pool, r->socket == NULL ? "neither" : "both");
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
  c->interval_s = c->interval_set ? r->interval_s : default_interval_s;
  if (c->interval_s <= 0)
    c->interval_s = 10.0;
  double dflt = c->interval_s * PHPFPM_TIMEOUT_SHARE;
  c->timeout_s = r->timeout_s > 0 ? r->timeout_s : dflt;
  if (c->timeout_s >= c->interval_s) {
    WARNING(P "pool \"%s\": Timeout %g is not below the interval (%g s); "
              "using %g s (90%% of the interval)",
            pool, c->timeout_s, c->interval_s, dflt);
    c->timeout_s = dflt;
  }
  c->max_slots = (size_t)r->max_slots;
  return 0;
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
  out->workers = FPM_WORKERS_SUMMARY;
  out->slow_threshold_s = PHPFPM_DEFAULT_SLOW_THRESHOLD;
  out->notifications = 1;

  struct raw_pool r = {.max_slots = PHPFPM_DEFAULT_MAX_SLOTS};
  int rc = 0;
  for (int i = 0; i < ci->children_num && rc == 0; i++)
    rc = set_option(out->name, &ci->children[i], out, &r);
  if (rc == 0)
    rc = finish(out, &r, default_interval_s);
  free(r.socket);
  free(r.address);
  if (rc != 0)
    phpfpm_conf_clear(out);
  return rc;
}

void phpfpm_conf_clear(struct phpfpm_conf *c) {
  free(c->name);
  free(c->endpoint);
  free(c->status_path);
  free(c->ping_path);
  memset(c, 0, sizeof *c);
}
