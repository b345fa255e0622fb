/*
 * mock_collectd.c: the collectd daemon symbols used by phpfpm.so, recording
 * what the plugin does (see mock_collectd.h). Linked into the unit tests and,
 * exported with -rdynamic, into the integration host that dlopen()s the
 * real phpfpm.so.
 */
#include "mock_collectd.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MOCK_MAX_READS 64
#define MOCK_MAX_CHILDREN 32

struct mock_state {
  pthread_mutex_t lock;
  cdtime_t interval;
  cdtime_t now;
  int fail_registration;
  int (*config_cb)(oconfig_item_t *);
  struct mock_read reads[MOCK_MAX_READS];
  size_t n_reads;
  /* unregistered reads: freed at mock_reset, as collectd frees them later
   * on a read thread (never inside the unregistering call) */
  struct mock_read removed[MOCK_MAX_READS * 4];
  size_t n_removed;
  struct mock_value *values;
  size_t n_values, cap_values;
  struct mock_notif *notifs;
  size_t n_notifs, cap_notifs;
  struct mock_log *logs;
  size_t n_logs, cap_logs;
  data_set_t *sets;
  size_t n_sets;
  int sets_loaded;
};

static struct mock_state mock = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .interval = TIME_T_TO_CDTIME_T_STATIC(10),
};

static void *grow(void *arr, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return arr;
  size_t c = *cap ? *cap * 2 : 64;
  void *p = realloc(arr, c * size);
  if (p == NULL) {
    fprintf(stderr, "mock: out of memory\n");
    abort();
  }
  *cap = c;
  return p;
}

/* ------------------------------------------------------------ types.db */

static int parse_ds(char *spec, data_source_t *ds) {
  char *c1 = strchr(spec, ':');
  char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
  if (c3 == NULL)
    return -1;
  *c1 = *c2 = *c3 = '\0';
  snprintf(ds->name, sizeof ds->name, "%s", spec);
  const char *t = c1 + 1;
  ds->type = strcasecmp(t, "GAUGE") == 0     ? DS_TYPE_GAUGE
             : strcasecmp(t, "DERIVE") == 0  ? DS_TYPE_DERIVE
             : strcasecmp(t, "COUNTER") == 0 ? DS_TYPE_COUNTER
                                             : DS_TYPE_ABSOLUTE;
  ds->min = strcmp(c2 + 1, "U") == 0 ? NAN : strtod(c2 + 1, NULL);
  ds->max = strcmp(c3 + 1, "U") == 0 ? NAN : strtod(c3 + 1, NULL);
  return 0;
}

static void parse_types_line(char *line) {
  char *save = NULL;
  char *name = strtok_r(line, " \t\n", &save);
  if (name == NULL || name[0] == '#')
    return;
  data_set_t set = {.ds_num = 0};
  snprintf(set.type, sizeof set.type, "%s", name);
  set.ds = calloc(8, sizeof *set.ds);
  if (set.ds == NULL)
    abort();
  char *spec;
  while ((spec = strtok_r(NULL, " \t\n,", &save)) != NULL && set.ds_num < 8)
    if (parse_ds(spec, &set.ds[set.ds_num]) == 0)
      set.ds_num++;
  mock.sets = realloc(mock.sets, (mock.n_sets + 1) * sizeof *mock.sets);
  if (mock.sets == NULL)
    abort();
  mock.sets[mock.n_sets++] = set;
}

static void load_types(void) {
  if (mock.sets_loaded)
    return;
  mock.sets_loaded = 1;
  FILE *f = fopen(PHPFPM_TYPES_DB, "r");
  if (f == NULL) {
    fprintf(stderr, "mock: cannot open %s\n", PHPFPM_TYPES_DB);
    return;
  }
  char line[1024];
  while (fgets(line, sizeof line, f) != NULL)
    parse_types_line(line);
  fclose(f);
}

static const data_set_t *find_ds(const char *name) {
  load_types();
  for (size_t i = 0; i < mock.n_sets; i++)
    if (strcmp(mock.sets[i].type, name) == 0)
      return &mock.sets[i];
  return NULL;
}

/* -------------------------------------------------- daemon symbols */

const data_set_t *plugin_get_ds(const char *name) {
  pthread_mutex_lock(&mock.lock);
  const data_set_t *ds = find_ds(name);
  pthread_mutex_unlock(&mock.lock);
  return ds;
}

cdtime_t plugin_get_interval(void) {
  return mock.interval;
}

cdtime_t cdtime(void) {
  if (mock.now != 0)
    return mock.now;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return TIME_T_TO_CDTIME_T_STATIC(ts.tv_sec) +
         (cdtime_t)(((double)ts.tv_nsec / 1e9) * 1073741824.0);
}

int plugin_register_complex_config(const char *type,
                                   int (*callback)(oconfig_item_t *)) {
  if (strcmp(type, "phpfpm") != 0)
    return -1;
  mock.config_cb = callback;
  return 0;
}

int plugin_register_complex_read(const char *group, const char *name,
                                 plugin_read_cb callback, cdtime_t interval,
                                 const user_data_t *ud) {
  pthread_mutex_lock(&mock.lock);
  int rc = 0;
  if (mock.fail_registration || mock.n_reads >= MOCK_MAX_READS)
    rc = -1;
  for (size_t i = 0; rc == 0 && i < mock.n_reads; i++)
    if (strcmp(mock.reads[i].name, name) == 0)
      rc = EINVAL; /* collectd: "already registered" */
  if (rc == 0) {
    struct mock_read *r = &mock.reads[mock.n_reads++];
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->group, sizeof r->group, "%s", group ? group : "");
    r->cb = callback;
    r->ud = ud ? *ud : (user_data_t){0};
    r->interval = interval;
  }
  pthread_mutex_unlock(&mock.lock);
  /* collectd 5.12 (plugin_register_complex_read): a failed registration
   * frees the user data through its free_func */
  if (rc != 0 && ud != NULL && ud->free_func != NULL)
    ud->free_func(ud->data);
  return rc;
}

int plugin_unregister_read(const char *name) {
  pthread_mutex_lock(&mock.lock);
  int rc = -ENOENT;
  for (size_t i = 0; i < mock.n_reads; i++) {
    if (strcmp(mock.reads[i].name, name) != 0)
      continue;
    if (mock.n_removed < sizeof mock.removed / sizeof mock.removed[0])
      mock.removed[mock.n_removed++] = mock.reads[i];
    else if (mock.reads[i].ud.free_func != NULL)
      mock.reads[i].ud.free_func(mock.reads[i].ud.data);
    memmove(&mock.reads[i], &mock.reads[i + 1],
            (mock.n_reads - i - 1) * sizeof mock.reads[0]);
    mock.n_reads--;
    rc = 0;
    break;
  }
  pthread_mutex_unlock(&mock.lock);
  return rc;
}

size_t mock_n_unregistered(void) {
  return mock.n_removed;
}

int plugin_dispatch_values(value_list_t const *vl) {
  pthread_mutex_lock(&mock.lock);
  mock.values =
      grow(mock.values, &mock.cap_values, mock.n_values, sizeof *mock.values);
  struct mock_value *v = &mock.values[mock.n_values++];
  memset(v, 0, sizeof *v);
  snprintf(v->plugin, sizeof v->plugin, "%s", vl->plugin);
  snprintf(v->plugin_instance, sizeof v->plugin_instance, "%s",
           vl->plugin_instance);
  snprintf(v->type, sizeof v->type, "%s", vl->type);
  snprintf(v->type_instance, sizeof v->type_instance, "%s", vl->type_instance);
  const data_set_t *ds = find_ds(vl->type);
  v->ds_type =
      (ds != NULL && ds->ds_num == vl->values_len) ? ds->ds[0].type : -1;
  if (v->ds_type == DS_TYPE_DERIVE)
    v->value = (double)vl->values[0].derive;
  else if (v->ds_type == DS_TYPE_GAUGE)
    v->value = vl->values[0].gauge;
  v->interval = vl->interval;
  pthread_mutex_unlock(&mock.lock);
  return v->ds_type < 0 ? -1 : 0;
}

int plugin_dispatch_notification(const notification_t *n) {
  pthread_mutex_lock(&mock.lock);
  mock.notifs =
      grow(mock.notifs, &mock.cap_notifs, mock.n_notifs, sizeof *mock.notifs);
  struct mock_notif *m = &mock.notifs[mock.n_notifs++];
  m->severity = n->severity;
  snprintf(m->plugin, sizeof m->plugin, "%s", n->plugin);
  snprintf(m->plugin_instance, sizeof m->plugin_instance, "%s",
           n->plugin_instance);
  snprintf(m->message, sizeof m->message, "%s", n->message);
  pthread_mutex_unlock(&mock.lock);
  return 0;
}

static void vlog_record(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vlog_record(int level, const char *fmt, va_list ap) {
  pthread_mutex_lock(&mock.lock);
  mock.logs = grow(mock.logs, &mock.cap_logs, mock.n_logs, sizeof *mock.logs);
  struct mock_log *l = &mock.logs[mock.n_logs++];
  l->level = level;
  vsnprintf(l->message, sizeof l->message, fmt, ap);
  pthread_mutex_unlock(&mock.lock);
  if (getenv("MOCK_LOG_STDERR") != NULL)
    fprintf(stderr, "[log %d] %s\n", level, l->message);
}

void plugin_log(int level, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vlog_record(level, format, ap);
  va_end(ap);
}

/* collectd's utils_complain.c semantics: report, then wait one interval,
 * then twice as long each time, up to a day. */
void c_complain(int level, c_complain_t *c, const char *format, ...) {
  cdtime_t now = cdtime();
  if (c->last + c->interval > now)
    return;
  c->last = now;
  if (c->interval < plugin_get_interval())
    c->interval = plugin_get_interval();
  else
    c->interval *= 2;
  if (c->interval > TIME_T_TO_CDTIME_T_STATIC(86400))
    c->interval = TIME_T_TO_CDTIME_T_STATIC(86400);
  c->complained_once = true;
  va_list ap;
  va_start(ap, format);
  vlog_record(level, format, ap);
  va_end(ap);
}

void c_do_release(int level, c_complain_t *c, const char *format, ...) {
  if (c->interval == 0)
    return;
  c->interval = 0;
  c->complained_once = false;
  va_list ap;
  va_start(ap, format);
  vlog_record(level, format, ap);
  va_end(ap);
}

/* ----------------------------------------------------------- control */

void mock_reset(void) {
  pthread_mutex_lock(&mock.lock);
  size_t n = mock.n_reads, nr = mock.n_removed;
  struct mock_read reads[MOCK_MAX_READS];
  struct mock_read removed[MOCK_MAX_READS * 4];
  memcpy(reads, mock.reads, n * sizeof *reads);
  memcpy(removed, mock.removed, nr * sizeof *removed);
  mock.n_reads = mock.n_removed = 0;
  mock.n_values = mock.n_notifs = mock.n_logs = 0;
  mock.fail_registration = 0;
  mock.now = 0;
  mock.interval = TIME_T_TO_CDTIME_T_STATIC(10);
  pthread_mutex_unlock(&mock.lock);
  for (size_t i = 0; i < n; i++)
    if (reads[i].ud.free_func != NULL)
      reads[i].ud.free_func(reads[i].ud.data);
  for (size_t i = 0; i < nr; i++)
    if (removed[i].ud.free_func != NULL)
      removed[i].ud.free_func(removed[i].ud.data);
}

void mock_set_interval(double seconds) {
  mock.interval = (cdtime_t)(seconds * 1073741824.0);
}

void mock_set_time(double seconds) {
  mock.now = (cdtime_t)(seconds * 1073741824.0);
}

void mock_fail_registration(int on) {
  mock.fail_registration = on;
}

int (*mock_config_cb(void))(oconfig_item_t *) {
  return mock.config_cb;
}

size_t mock_n_reads(void) {
  return mock.n_reads;
}

const struct mock_read *mock_read_at(size_t i) {
  return i < mock.n_reads ? &mock.reads[i] : NULL;
}

const struct mock_read *mock_read_find(const char *name) {
  for (size_t i = 0; i < mock.n_reads; i++)
    if (strcmp(mock.reads[i].name, name) == 0)
      return &mock.reads[i];
  return NULL;
}

int mock_call_read(const char *name) {
  const struct mock_read *r = mock_read_find(name);
  if (r == NULL)
    return -99;
  user_data_t ud = r->ud;
  return r->cb(&ud);
}

size_t mock_n_values(void) {
  return mock.n_values;
}

const struct mock_value *mock_value_at(size_t i) {
  return i < mock.n_values ? &mock.values[i] : NULL;
}

const struct mock_value *mock_value_find(const char *pi, const char *type,
                                         const char *ti) {
  for (size_t i = mock.n_values; i-- > 0;) {
    const struct mock_value *v = &mock.values[i];
    if (strcmp(v->plugin_instance, pi) == 0 && strcmp(v->type, type) == 0 &&
        strcmp(v->type_instance, ti) == 0)
      return v;
  }
  return NULL;
}

void mock_clear_values(void) {
  pthread_mutex_lock(&mock.lock);
  mock.n_values = 0;
  pthread_mutex_unlock(&mock.lock);
}

size_t mock_n_notifs(void) {
  return mock.n_notifs;
}

const struct mock_notif *mock_notif_at(size_t i) {
  return i < mock.n_notifs ? &mock.notifs[i] : NULL;
}

size_t mock_count_notifs(int severity, const char *needle) {
  size_t n = 0;
  for (size_t i = 0; i < mock.n_notifs; i++)
    if ((severity < 0 || mock.notifs[i].severity == severity) &&
        strstr(mock.notifs[i].message, needle) != NULL)
      n++;
  return n;
}

size_t mock_n_logs(void) {
  return mock.n_logs;
}

const struct mock_log *mock_log_at(size_t i) {
  return i < mock.n_logs ? &mock.logs[i] : NULL;
}

size_t mock_count_logs(int level, const char *needle) {
  size_t n = 0;
  for (size_t i = 0; i < mock.n_logs; i++)
    if ((level < 0 || mock.logs[i].level == level) &&
        strstr(mock.logs[i].message, needle) != NULL)
      n++;
  return n;
}

void mock_dump_logs(void) {
  for (size_t i = 0; i < mock.n_logs; i++)
    fprintf(stderr, "  log[%d] %s\n", mock.logs[i].level, mock.logs[i].message);
}

/* ------------------------------------------------------- oconfig trees */

oconfig_item_t *mock_ci_new(const char *key) {
  oconfig_item_t *ci = calloc(1, sizeof *ci);
  if (ci == NULL || (ci->key = strdup(key)) == NULL)
    abort();
  return ci;
}

static oconfig_item_t *add_child(oconfig_item_t *parent, const char *key) {
  if (parent->children == NULL) {
    parent->children = calloc(MOCK_MAX_CHILDREN, sizeof *parent->children);
    if (parent->children == NULL)
      abort();
  }
  if (parent->children_num >= MOCK_MAX_CHILDREN)
    abort();
  oconfig_item_t *c = &parent->children[parent->children_num++];
  if ((c->key = strdup(key)) == NULL)
    abort();
  c->parent = parent;
  c->values = calloc(1, sizeof *c->values);
  if (c->values == NULL)
    abort();
  c->values_num = 1;
  return c;
}

oconfig_item_t *mock_ci_str(oconfig_item_t *parent, const char *key,
                            const char *value) {
  oconfig_item_t *c = add_child(parent, key);
  c->values[0].type = OCONFIG_TYPE_STRING;
  if ((c->values[0].value.string = strdup(value)) == NULL)
    abort();
  return c;
}

oconfig_item_t *mock_ci_num(oconfig_item_t *parent, const char *key,
                            double value) {
  oconfig_item_t *c = add_child(parent, key);
  c->values[0].type = OCONFIG_TYPE_NUMBER;
  c->values[0].value.number = value;
  return c;
}

oconfig_item_t *mock_ci_bool(oconfig_item_t *parent, const char *key,
                             int value) {
  oconfig_item_t *c = add_child(parent, key);
  c->values[0].type = OCONFIG_TYPE_BOOLEAN;
  c->values[0].value.boolean = value;
  return c;
}

oconfig_item_t *mock_ci_block(oconfig_item_t *parent, const char *key,
                              const char *value) {
  if (value != NULL)
    return mock_ci_str(parent, key, value);
  oconfig_item_t *c = add_child(parent, key); /* <Key> without a value */
  c->values_num = 0;
  return c;
}

static void ci_clear(oconfig_item_t *ci) {
  free(ci->key);
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type == OCONFIG_TYPE_STRING)
      free(ci->values[i].value.string);
  free(ci->values);
  for (int i = 0; i < ci->children_num; i++)
    ci_clear(&ci->children[i]);
  free(ci->children);
}

void mock_ci_free(oconfig_item_t *ci) {
  if (ci == NULL)
    return;
  ci_clear(ci);
  free(ci);
}
