/*
 * fpm_discover.h: from PHP-FPM's configuration (fpm_conf.h) to what a
 * monitor reads, and how that set changes from one scan to the next.
 *
 * Shared by fpmstat --discover (one scan, one fetch of every pool) and the
 * collectd plugin's Discover (a scan every DiscoverInterval; pools added,
 * removed or changed in FPM's configuration start or stop being read).
 *
 * Ownership: a struct fpm_disc_set belongs to its caller and holds copies
 * (no pointer into a struct fpm_conf survives a call). fpm_discover_target
 * fills a struct fpm_target with pointers into the pool it was given.
 * Thread-safety: no global state; a set is used by one thread at a time.
 */
#ifndef FPM_FPM_DISCOVER_H
#define FPM_FPM_DISCOVER_H

#include "fpm_conf.h"
#include "fpm_fetch.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The fetch target of a monitorable pool: its endpoint and status path
 * (pm.status_listen preferred, as fpm_conf derives them), its ping.path and
 * ping.response when set, and for a pool in a container its root, netns
 * and tag (fpm_proc.h). The strings point into pool. Returns 0, or -1
 * when the pool is not monitorable (pool->why says why). */
int fpm_discover_target(const struct fpm_conf_pool *pool, struct fpm_target *t);

/* One line about a pool for a listing or a log: "endpoint status-path (via
 * pm.status_listen)" when monitorable, else its why. */
void fpm_discover_describe(const struct fpm_conf_pool *pool, char *out,
                           size_t outlen);

/* What identifies a pool across scans: a change in any of these means the
 * pool is read anew (stop the old reader, start a new one). */
struct fpm_disc_entry {
  char name[64];
  char endpoint[300];
  char query_path[256];
  char file[512];    /* where its section first appears */
  long max_children; /* -1 when not set */
  int monitorable;   /* 0: reported as not monitorable, not read */
  int active;        /* the caller reads it (its callback returned 1) */
  int failed;        /* its start failed (callback -1): not offered again
                        until the entry changes */
  int ignored;       /* 1 + the index of the first ignore pattern that
                        matches its name; 0: not ignored */
  char reach[84];    /* a container pool's root and netns (fpm_conf_pool):
                        a restarted container is read anew */
  char master[96];   /* its master's name (fpm_master.h): a pool whose
                        master is named anew is read anew under it */
};

/* The pools of the previous scan. Zero-initialise; free with
 * fpm_disc_set_free. */
struct fpm_disc_set {
  struct fpm_disc_entry *v;
  size_t n, cap;
};
void fpm_disc_set_free(struct fpm_disc_set *s);

enum fpm_disc_event {
  FPM_DISC_REMOVED = 0,   /* old: a pool read so far is gone, is no longer
                             monitorable, or changed (then ADDED follows) */
  FPM_DISC_ADDED,         /* now: a monitorable pool to start reading */
  FPM_DISC_UNMONITORABLE, /* now: a pool without a usable status page,
                             reported once while it stays so */
};

/*
 * Called for each change. For FPM_DISC_REMOVED `old` is the entry of the
 * previous scan (its `active` as the callback set it) and `now` is NULL;
 * otherwise `old` is NULL and `now` is the pool in the new configuration.
 * For FPM_DISC_ADDED return 1 when the pool is now read, 0 when it is
 * deliberately not read (e.g. configured by hand already), -1 when starting
 * it failed (the entry is kept with `failed` set and offered again only
 * when it changes, so a failure is reported once). Other events: the return
 * value is ignored.
 */
typedef int (*fpm_disc_cb)(void *ud, enum fpm_disc_event ev,
                           const struct fpm_disc_entry *old,
                           const struct fpm_conf_pool *now);

/*
 * Compare conf's pools with set, call cb for every change (all removals
 * first, so a changed pool's reader can be stopped before the new one is
 * started under the same name), and make set the new state. Pools whose
 * section appears twice count once (fpm_conf merges them). Returns the
 * number of callbacks made, or -1 when out of memory (then set is left as
 * it was and nothing was called). A pool of the previous scan whose file
 * could not be read this time (a diagnostic flagged `unreadable`) is kept
 * as it was: no callback, still in set.
 */
int fpm_discover_update(struct fpm_disc_set *set, const struct fpm_conf *conf,
                        fpm_disc_cb cb, void *ud);

/* ------------------------------------------------------ ignore patterns */

/* Longest ignore pattern accepted, in bytes. */
#define FPM_DISC_PATTERN_MAX 255

/*
 * Whether pattern is a usable ignore pattern: an fnmatch(3) glob (no
 * flags: '*' also matches '/', case counts) on the pool name as it is
 * reported, e.g. "www" or "www@8.1". Returns 0, or -1 with the reason in
 * why (e.g. "it is empty", "its '[' at byte 3 has no closing ']'"): empty,
 * longer than FPM_DISC_PATTERN_MAX, a control character anywhere, an
 * unclosed '[' (read as glibc's fnmatch reads it: '\' escapes inside
 * brackets too), an unknown "[:class:]" or a trailing '\' (fnmatch would
 * take those literally or never match, which is never what was meant).
 */
int fpm_discover_pattern_check(const char *pattern, char *why, size_t whylen);

/* The index of the first of the n patterns that matches name, or -1.
 * patterns may be NULL when n is 0. */
int fpm_discover_ignored(const char *name, const char *const *patterns,
                         size_t n);

/*
 * fpm_discover_update with ignore patterns (the same array at every call
 * for one set): a pool whose name one of them matches gets `ignored` set
 * in its entry and no callback at all (neither ADDED nor UNMONITORABLE);
 * a pool read so far that becomes ignored is REMOVED, one that stops being
 * ignored is offered as new. fpm_discover_update is this with n 0.
 */
int fpm_discover_update_ignoring(struct fpm_disc_set *set,
                                 const struct fpm_conf *conf,
                                 const char *const *patterns, size_t n,
                                 fpm_disc_cb cb, void *ud);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_DISCOVER_H */
