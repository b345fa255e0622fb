/*
 * mock_collectd.h: stand-ins for the collectd daemon symbols the phpfpm
 * plugin uses (Debian ships no libcollectd). They record every call so tests
 * can assert on registrations, value lists, notifications and log lines.
 * plugin_get_ds() answers from the real types.db (PHPFPM_TYPES_DB).
 * A mutex guards the records: read callbacks may run on several threads.
 */
#ifndef PHPFPM_MOCK_COLLECTD_H
#define PHPFPM_MOCK_COLLECTD_H

#include "collectd_compat.h"

#include <stddef.h>

struct mock_value {
  char plugin[DATA_MAX_NAME_LEN], plugin_instance[DATA_MAX_NAME_LEN];
  char type[DATA_MAX_NAME_LEN], type_instance[DATA_MAX_NAME_LEN];
  int ds_type;  /* from types.db; -1 if the type is unknown */
  double value; /* gauge, or the derive value as a double */
  cdtime_t interval;
};

struct mock_notif {
  int severity;
  char plugin[DATA_MAX_NAME_LEN], plugin_instance[DATA_MAX_NAME_LEN];
  char message[NOTIF_MAX_MSG_LEN];
};

struct mock_log {
  int level;
  char message[1024];
};

struct mock_read {
  char name[256];
  char group[DATA_MAX_NAME_LEN];
  plugin_read_cb cb;
  user_data_t ud;
  cdtime_t interval;
};

/* Clear every record; registered reads are freed through their free_func
 * (as collectd does at shutdown). */
void mock_reset(void);
/* The interval plugin_get_interval() returns (default 10 s). */
void mock_set_interval(double seconds);
/* A fixed cdtime() (0 = the real clock). */
void mock_set_time(double seconds);
/* Make plugin_register_complex_read fail for every name from now on. A
 * failed registration (this, or a name already registered) frees the user
 * data through its free_func, as collectd 5.12 does. */
void mock_fail_registration(int on);

/* The registered <Plugin phpfpm> callback (NULL before module_register). */
int (*mock_config_cb(void))(oconfig_item_t *);
size_t mock_n_reads(void);
const struct mock_read *mock_read_at(size_t i);
const struct mock_read *mock_read_find(const char *name);
/* Reads removed with plugin_unregister_read (their user data is freed at
 * mock_reset, later than the call, as collectd does). */
size_t mock_n_unregistered(void);
/* Call the read callback registered under name; returns its status or -99. */
int mock_call_read(const char *name);

size_t mock_n_values(void);
const struct mock_value *mock_value_at(size_t i);
/* The last value dispatched for instance/type/type_instance, or NULL. */
const struct mock_value *mock_value_find(const char *plugin_instance,
                                         const char *type,
                                         const char *type_instance);
void mock_clear_values(void);

size_t mock_n_notifs(void);
const struct mock_notif *mock_notif_at(size_t i);
/* Number of notifications whose message contains needle. */
size_t mock_count_notifs(int severity, const char *needle);

size_t mock_n_logs(void);
const struct mock_log *mock_log_at(size_t i);
/* Number of log lines at level whose text contains needle (level -1: any). */
size_t mock_count_logs(int level, const char *needle);
/* Print the log lines to stderr (for failing tests). */
void mock_dump_logs(void);

/* ----- building oconfig trees in tests ----- */
oconfig_item_t *mock_ci_new(const char *key);
/* Append a child with one value; returns the child. */
oconfig_item_t *mock_ci_str(oconfig_item_t *parent, const char *key,
                            const char *value);
oconfig_item_t *mock_ci_num(oconfig_item_t *parent, const char *key,
                            double value);
oconfig_item_t *mock_ci_bool(oconfig_item_t *parent, const char *key,
                             int value);
/* A block child <key "value"> ... </key>; value NULL: <key> ... </key>. */
oconfig_item_t *mock_ci_block(oconfig_item_t *parent, const char *key,
                              const char *value);
void mock_ci_free(oconfig_item_t *ci);

#endif /* PHPFPM_MOCK_COLLECTD_H */
