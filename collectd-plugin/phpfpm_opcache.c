/*
 * phpfpm_opcache.c: Opcache true for the collectd plugin. OPcache memory
 * belongs to a php-fpm master, not to a pool, so its figures are read once
 * per master per interval and dispatched under plugin "phpfpm_opcache",
 * plugin instance = the master's name; 50 pools of one master give one
 * series and one extra FastCGI request per interval.
 *
 * The masters: a registry of names (the Master key; for discovered pools
 * the name of their master's configuration, fpm_master.h) under one
 * mutex, each entry counted by the pools that name it. A pool's read
 * callback, after its status read, claims its master's turn when nobody
 * read it in the last half interval and nobody is reading it now; it runs
 * the script through its own endpoint, outside the lock. When the run
 * fails, the claim is dropped (another pool of that master takes the turn
 * at its own read) and this pool waits PHPFPM_OC_BACKOFF intervals before
 * trying again, so a pool that cannot run the script (limit_extensions,
 * chroot) costs one request per back-off, not one per interval.
 *
 * A master that answers from two different php-fpm processes (the worker's
 * parent pid differs) means two masters share a name: logged, with the fix
 * (give them different Master names). So that this is seen even when the
 * same pool always takes the turn, every pool runs the script once outside
 * its turn, when the master's pid is known, to compare (one request per
 * pool at start, nothing dispatched).
 *
 * A pool that sees OPcache disabled while another pool of its master saw
 * it enabled turned it off for itself: its answer is not dispatched and the
 * turn goes on (PHPFPM_OC_DISABLED_BACKOFF).
 */
#include "phpfpm.h"

#include "fpm_opcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P PHPFPM_PLUGIN_NAME " plugin: "

struct phpfpm_master {
  char name[96]; /* fpm_conf_pool.master fits */
  char instance[DATA_MAX_NAME_LEN];
  int refs;
  int busy;              /* a pool runs the script now */
  cdtime_t last_read;    /* when the last good read started; 0: never */
  cdtime_t last_enabled; /* when a pool last saw it enabled; 0: never */
  int64_t master_pid;    /* from the last good read; -1: unknown */
  int enabled_logged;    /* -1: nothing logged, else the state logged */
  struct phpfpm_master *next;
};

/* A pool's side. */
struct phpfpm_oc {
  struct phpfpm_master *m;
  cdtime_t backoff_until; /* no run before this (after a failure) */
  int pool_only_logged;   /* "disabled in this pool only" was logged */
  int verified;           /* it ran the script once: its master is known */
  c_complain_t complaint;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct phpfpm_master *reg_head;

/* The entry of name with one more reference, created when new; NULL when
 * out of memory. */
static struct phpfpm_master *master_get(const char *name) {
  pthread_mutex_lock(&reg_lock);
  struct phpfpm_master *m = reg_head;
  while (m != NULL && strcmp(m->name, name) != 0)
    m = m->next;
  if (m == NULL) {
    m = calloc(1, sizeof *m);
    if (m != NULL) {
      snprintf(m->name, sizeof m->name, "%s", name);
      phpfpm_instance_name(name, m->instance, sizeof m->instance);
      m->master_pid = -1;
      m->enabled_logged = -1;
      m->next = reg_head;
      reg_head = m;
    }
  }
  if (m != NULL)
    m->refs++;
  pthread_mutex_unlock(&reg_lock);
  return m;
}

static void master_put(struct phpfpm_master *m) {
  pthread_mutex_lock(&reg_lock);
  if (--m->refs == 0) {
    struct phpfpm_master **pp = &reg_head;
    while (*pp != m)
      pp = &(*pp)->next;
    *pp = m->next;
    free(m);
  }
  pthread_mutex_unlock(&reg_lock);
}

/* The fix when two masters answer under p's master name. */
static const char *share_fix(const struct phpfpm_pool *p) {
  if (p->link != NULL) /* discovered: named by discovery unless told */
    return "remove Master from <DiscoverDefaults> (each discovered master is "
           "then named after its configuration), and give <Pool> blocks a "
           "Master name no discovered master has";
  if (p->conf.master == NULL)
    return "a <Pool> without a Master key belongs to master "
           "\"" PHPFPM_DEFAULT_MASTER
           "\": give each master's pools a Master of "
           "their own (e.g. Master \"php8.2-fpm\")";
  return "give their pools different Master names";
}

void phpfpm_opcache_master_name(const struct fpm_conf_pool *cp,
                                const struct phpfpm_defaults *df, char *out,
                                size_t outsz) {
  if (df != NULL && df->master[0] != '\0')
    /* a master in a container is another master than the host's */
    snprintf(out, outsz, "%s%s%s", cp->tag, cp->tag[0] != '\0' ? "-" : "",
             df->master);
  else
    snprintf(out, outsz, "%s",
             cp->master[0] != '\0' ? cp->master : PHPFPM_DEFAULT_MASTER);
}

int phpfpm_opcache_pool_init(struct phpfpm_pool *p) {
  if (!p->conf.opcache)
    return 0;
  struct phpfpm_oc *oc = calloc(1, sizeof *oc);
  const char *name =
      p->conf.master != NULL ? p->conf.master : PHPFPM_DEFAULT_MASTER;
  if (oc != NULL)
    oc->m = master_get(name);
  if (oc == NULL || oc->m == NULL) {
    free(oc);
    ERROR(P "pool \"%s\": Opcache: out of memory", p->conf.name);
    return -1;
  }
  C_COMPLAIN_INIT(&oc->complaint);
  p->oc = oc;
  INFO(P "pool \"%s\": OPcache of master \"%s\" (%s) read through this pool "
         "when its turn comes, with %s%s",
       p->conf.name, oc->m->name, PHPFPM_OPCACHE_PLUGIN,
       p->conf.opcache_script != NULL ? p->conf.opcache_script
                                      : fpm_opcache_default_script(),
       p->conf.master == NULL ? " (no Master key: every <Pool> without one "
                                "shares this master; give each php-fpm "
                                "master's pools their own Master when "
                                "several run)"
                              : "");
  return 0;
}

void phpfpm_opcache_pool_free(struct phpfpm_pool *p) {
  if (p == NULL || p->oc == NULL)
    return;
  master_put(p->oc->m);
  free(p->oc);
  p->oc = NULL;
}

static void dispatch_oc(const struct phpfpm_pool *p, const char *instance,
                        const struct fpm_opcache *oc) {
  for (int i = 0; i < FPM_OC__COUNT; i++) {
    double v;
    if (!fpm_opcache_value(oc, (enum fpm_opcache_metric)i, &v))
      continue;
    const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
    value_t val;
    v *= d->cd_scale;
    if (d->counter)
      val.derive = v > 0 ? (derive_t)v : 0;
    else
      val.gauge = v;
    value_list_t vl = VALUE_LIST_INIT;
    vl.values = &val;
    vl.values_len = 1;
    vl.interval = p->interval;
    snprintf(vl.plugin, sizeof vl.plugin, "%s", PHPFPM_OPCACHE_PLUGIN);
    snprintf(vl.plugin_instance, sizeof vl.plugin_instance, "%s", instance);
    snprintf(vl.type, sizeof vl.type, "%s", d->cd_type);
    snprintf(vl.type_instance, sizeof vl.type_instance, "%s",
             d->cd_type_instance);
    plugin_dispatch_values(&vl);
  }
}

void phpfpm_opcache_read(struct phpfpm_pool *p, int64_t deadline_ms) {
  struct phpfpm_oc *st = p->oc;
  if (st == NULL)
    return;
  struct phpfpm_master *m = st->m;
  cdtime_t now = cdtime();
  if (st->backoff_until > now)
    return;
  pthread_mutex_lock(&reg_lock);
  int turn = !m->busy && (m->last_read == 0 || now < m->last_read ||
                          now - m->last_read >= p->interval / 2);
  if (turn)
    m->busy = 1;
  int64_t known_pid = m->master_pid;
  char instance[DATA_MAX_NAME_LEN];
  snprintf(instance, sizeof instance, "%s", m->instance);
  pthread_mutex_unlock(&reg_lock);
  /* not its turn: a pool still checks once that it belongs to the master
   * the others read (the same worker parent), or two masters sharing a
   * name would go unnoticed while the same pool always reads first */
  if (!turn && (st->verified || known_pid <= 0))
    return;

  struct fpm_opcache_result r;
  fpm_opcache_fetch_many(&p->fetcher, 1, p->conf.opcache_script, deadline_ms,
                         NULL, &r);

  if (!turn) {
    if (r.err != FPM_OK) {
      st->backoff_until = now + PHPFPM_OC_BACKOFF * p->interval;
      c_complain(LOG_ERR, &st->complaint,
                 P "pool \"%s\": OPcache of master \"%s\" not read: %s",
                 p->conf.name, m->name, r.message);
      return;
    }
    st->verified = 1;
    if (r.oc.master_pid > 0 && r.oc.master_pid != known_pid)
      WARNING(P "Master \"%s\": pool \"%s\" answers from php-fpm master "
                "pid %lld, other pools of that name from pid %lld: two "
                "masters share the name, and only one is reported; %s",
              m->name, p->conf.name, (long long)r.oc.master_pid,
              (long long)known_pid, share_fix(p));
    return;
  }

  int64_t other_pid = -1;
  int log_state = -1, pool_only = 0;
  pthread_mutex_lock(&reg_lock);
  m->busy = 0;
  if (r.err == FPM_OK && !r.oc.enabled && m->last_enabled != 0 &&
      now - m->last_enabled < 3 * p->interval) {
    /* another pool of this master saw OPcache enabled: this pool turned
     * it off for itself (php_admin_value[opcache.enable] = 0); the turn
     * goes to another pool */
    pool_only = 1;
  } else if (r.err == FPM_OK) {
    if (r.oc.enabled)
      m->last_enabled = now;
    if (m->master_pid > 0 && r.oc.master_pid > 0 &&
        m->master_pid != r.oc.master_pid && m->last_read != 0 &&
        now - m->last_read < 2 * p->interval)
      other_pid = m->master_pid;
    m->master_pid = r.oc.master_pid;
    m->last_read = now;
    if (m->enabled_logged != r.oc.enabled) {
      m->enabled_logged = r.oc.enabled;
      log_state = r.oc.enabled;
    }
  }
  pthread_mutex_unlock(&reg_lock);

  if (r.err == FPM_OK && !r.oc.enabled) /* let enabled pools take turns */
    st->backoff_until = now + PHPFPM_OC_DISABLED_BACKOFF * p->interval;
  if (pool_only) {
    if (!st->pool_only_logged)
      INFO(P "pool \"%s\": OPcache is disabled in this pool (%s) but "
             "enabled in master \"%s\": read through its other pools",
           p->conf.name, r.oc.reason, m->name);
    st->pool_only_logged = 1;
    return;
  }
  if (r.err != FPM_OK) {
    st->backoff_until = now + PHPFPM_OC_BACKOFF * p->interval;
    c_complain(LOG_ERR, &st->complaint,
               P "pool \"%s\": OPcache of master \"%s\" not read: %s",
               p->conf.name, m->name, r.message);
    return;
  }
  st->verified = 1;
  c_release(LOG_INFO, &st->complaint,
            P "pool \"%s\": OPcache of master \"%s\" readable again",
            p->conf.name, m->name);
  if (other_pid > 0)
    WARNING(P "Master \"%s\": pool \"%s\" answers from php-fpm master pid "
              "%lld, other pools of that name from pid %lld: two masters "
              "share the name, and only one is reported; %s",
            m->name, p->conf.name, (long long)r.oc.master_pid,
            (long long)other_pid, share_fix(p));
  if (log_state == 0)
    NOTICE(P "Master \"%s\": OPcache is disabled (%s, seen through pool "
             "\"%s\"); only %s/%s/bool-enabled 0 is reported",
           m->name, r.oc.reason, p->conf.name, PHPFPM_OPCACHE_PLUGIN, m->name);
  else if (log_state == 1)
    INFO(P "Master \"%s\": OPcache enabled (through pool \"%s\")", m->name,
         p->conf.name);
  dispatch_oc(p, instance, &r.oc);
}
