/*
 * fpm_conf.h: read PHP-FPM's own configuration to discover pools.
 *
 * Parses the INI dialect php-fpm reads (`[section]`, `key = value`, `;`
 * comments, "double" and 'single' quoted values, `${ENV}` expansion,
 * `$pool` expansion, `include = glob` with FPM's relative-path rule, the same
 * section repeated across files) and returns, for each pool, what a monitor
 * needs: name, listen, pm.status_path, pm.status_listen, ping.path,
 * ping.response, pm, pm.max_children, listen.owner/group/mode, and the
 * endpoint and status path to query (pm.status_listen preferred: it does not
 * queue behind busy workers). Pools without a status path are reported as not
 * monitorable, with the exact line to add.
 *
 * Unknown directives are ignored. A syntax error is reported with file and
 * line and skips that line only; a file that cannot be read is reported and
 * the other files are still read. Nothing here executes php-fpm.
 *
 * Thread-safety: no global state; a struct fpm_conf belongs to its caller.
 */
#ifndef FPM_FPM_CONF_H
#define FPM_FPM_CONF_H

#include <stddef.h>
#include <stdint.h>

/* Debian's php-fpm configurations, one per installed PHP version: what is
 * read when no configuration is named and no master runs. */
#define FPM_CONF_DEFAULT_GLOB "/etc/php/*/fpm/php-fpm.conf"
/* Where discovery looks when no configuration is named, for messages. */
#define FPM_CONF_DEFAULT_WHERE                                                 \
  "the running php-fpm masters, then " FPM_CONF_DEFAULT_GLOB " and the other " \
  "usual places"

#ifdef __cplusplus
extern "C" {
#endif

/* Bits of fpm_conf_pool.present: which directives were set. */
enum fpm_conf_key {
  FPM_C_LISTEN = 0,
  FPM_C_STATUS_PATH,
  FPM_C_STATUS_LISTEN,
  FPM_C_PING_PATH,
  FPM_C_PING_RESPONSE,
  FPM_C_PM,
  FPM_C_MAX_CHILDREN,
  FPM_C_LISTEN_OWNER,
  FPM_C_LISTEN_GROUP,
  FPM_C_LISTEN_MODE,
  FPM_C__COUNT
};

struct fpm_conf_pool {
  char name[64];    /* unique in the set: section, or section@version */
  char section[64]; /* as written: [section]; what its status page says */
  char file[512];   /* file of the section's first appearance */
  int line;         /* its line */
  uint32_t present; /* 1u << enum fpm_conf_key */
  char listen[256]; /* as configured, $pool expanded */
  char status_path[256];
  char status_listen[256];
  char ping_path[256];
  char ping_response[64];
  char pm[16];       /* static, dynamic, ondemand */
  long max_children; /* -1 when not set */
  char listen_owner[64], listen_group[64], listen_mode[16];

  /* What to query: derived from the above. */
  int monitorable;       /* 1 when endpoint and query_path are usable */
  int via_status_listen; /* endpoint is pm.status_listen */
  char endpoint[300];    /* for fcgi_endpoint_parse, e.g. "unix:/run/x.sock"
                            or "127.0.0.1:9000" */
  char query_path[256];  /* status path to send */
  char why[1200];        /* when not monitorable: the reason and the exact
                            line to add, naming the file */
  /* Set by fpm_proc for a running master in a container (fpm_proc.h):
   * the root its paths resolve in ("/proc/PID/root"), the network
   * namespace its TCP addresses live in ("/proc/PID/ns/net"), the tag that
   * names the container. Empty: the host. */
  char root[40], netns[40], tag[40];
  /* The master's main configuration: the file (or directory) the load
   * started from, the php-fpm.conf a running master names as it sees it
   * (in its own root). "" when unknown. */
  char master_conf[512];
  /* The master's name (fpm_master.h), set by the loaders from tag and
   * master_conf: what OPcache, read once per master, is reported under. */
  char master[96];
  /* Set by fpm_proc: the PID (in the /proc it scanned) of the running
   * master whose configuration this is; 0 when read from a file. */
  long master_pid;
};

/* fpm_conf_diag flags (internal to the parser, mirrored in the fields) */
#define FPM_CONF_DIAG_WARNING 1u
#define FPM_CONF_DIAG_UNREADABLE 2u

struct fpm_conf_diag {
  char file[512];
  int line; /* 0 when not about one line */
  char message[256];
  int warning;    /* 1: a notice, not an error in the configuration (e.g. a
                     pool renamed name@version) */
  int unreadable; /* 1: `file` matched but could not be read: its pools are
                     unknown this time (not gone) */
};

struct fpm_conf {
  struct fpm_conf_pool *pools;
  size_t n_pools;
  struct fpm_conf_diag *diags; /* syntax errors, unreadable files, ... */
  size_t n_diags;
  size_t n_files; /* configuration files read */
};

/* How the files of a configuration are opened (fpm_proc.h uses it to read
 * a running master's configuration inside its container, with trust
 * checks). path is as the configuration names it. */
struct fpm_conf_fs {
  /* A descriptor open for reading, or -1 with the reason in why (which
   * never quotes the file's content). */
  int (*open_fn)(void *ud, const char *path, char *why, size_t whylen);
  /* The paths that pattern (a glob) matches, sorted: returns 0 with
   * *paths (n malloc'd strings in a malloc'd array, freed by the caller),
   * 1 when nothing matches, -1 with the reason in why. */
  int (*glob_fn)(void *ud, const char *pattern, char ***paths, size_t *n,
                 char *why, size_t whylen);
  void *ud;
};

/* Options; zero means the default. */
struct fpm_conf_opts {
  const char *prefix; /* FPM's prefix for relative paths: "/usr" */
  /* Environment lookup for ${VAR}; NULL uses getenv. */
  const char *(*getenv_fn)(void *ud, const char *name);
  void *getenv_ud;
  int no_includes; /* 1: report include lines instead of following
                      them (fuzzing, untrusted input) */
  /* The glob of files fpm_conf_load(NULL, ...) reads; NULL means
   * /etc/php/<version>/fpm/php-fpm.conf (tests point it elsewhere). */
  const char *default_glob;
  /* NULL: files are opened with fopen and includes expanded with glob. */
  const struct fpm_conf_fs *fs;
  /* When set, every pool is named "<section>@<name_suffix>" ($pool still
   * expands to the section's own name). */
  const char *name_suffix;
};

/*
 * Read the configuration at path: a php-fpm.conf file (its includes are
 * followed), or a directory (every *.conf file in it, sorted, is read as a
 * pool file). NULL reads the Debian default locations
 * /etc/php/<version>/fpm/php-fpm.conf for every installed version; each
 * version's files are read apart, and a pool name that an earlier version
 * already has is reported as "<name>@<version>" (e.g. "www@8.2"), while
 * $pool still expands to the section's own name.
 * Returns 0 when at least one file was read (or path is a readable
 * directory without *.conf files: an empty configuration), -1 otherwise
 * (conf->diags says why). Either way conf must be freed with fpm_conf_free.
 *
 * Bounds, by size and not by count (a shared host has thousands of pool
 * files): includes nest at most 5 levels (php-fpm's limit), an include loop
 * is reported ("include loop at FILE:LINE") and not followed, a file is at
 * most 4 MiB, one load reads at most 256 MiB of configuration (files beyond
 * are reported unreadable), the pool table takes at most 256 MiB (about
 * 60,000 pools), and diagnostics are capped at 20 per file and 200 per
 * load, each cap followed by one "N more ... not shown" line (an unreadable
 * file is always reported). Section names compare without case, as in
 * php-fpm.
 */
int fpm_conf_load(const char *path, const struct fpm_conf_opts *opts,
                  struct fpm_conf *conf);
void fpm_conf_free(struct fpm_conf *conf);

/* Parse one buffer as if it were the file `name` (for tests and fuzzing);
 * includes are followed on disk. */
int fpm_conf_load_buffer(const char *name, const char *buf, size_t len,
                         const struct fpm_conf_opts *opts,
                         struct fpm_conf *conf);

/* Turn a `listen` value into an endpoint to connect to: "/path" and
 * relative paths (joined to prefix) become "unix:/path"; "port" becomes
 * "127.0.0.1:port"; "0.0.0.0:port" and "*:port" become "127.0.0.1:port";
 * "[::]:port" becomes "[::1]:port"; other "host:port" stay. Returns 0, or -1
 * for an empty or malformed value. */
int fpm_conf_listen_endpoint(const char *listen, const char *prefix, char *out,
                             size_t outlen);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_CONF_H */
