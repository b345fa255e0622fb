/*
 * fpm_model.h: the metric model shared by every output (fpmstat's formats and
 * the collectd plugin), so a number is computed in one place only.
 *
 * From one snapshot (struct fpm_status) and, optionally, the pool's history
 * (the previous snapshot's figures), fpm_model_compute() derives:
 *  - worker counts by state with FPM's real state names, recounted from the
 *    `full` list when there is one;
 *  - the exact exclusion of the scrape's own request: the fetch puts a unique
 *    marker in its QUERY_STRING, the worker whose `request uri` carries it is
 *    counted as Idle (so an idle pool reports 0 active, not 1);
 *  - utilisation (active over total, and over pm.max_children when known);
 *  - bounded worker statistics whatever the worker count;
 *  - restart detection and per-interval deltas that never go negative;
 *  - with a history, accepted conn without our own requests (scrapes,
 *    retries, pings), so that an idle pool's request rate is 0.
 *
 * fpm_metrics_samples() flattens the result into a list of samples, each with
 * its metric definition (stable key, kind, unit, collectd type and type
 * instance). The collectd plugin dispatches exactly these, and fpmstat's
 * putval/graphite formats print exactly these, so both give the same series.
 *
 * Thread-safety: pure functions over caller-owned data; a history belongs to
 * one pool and one thread at a time.
 */
#ifndef FPM_FPM_MODEL_H
#define FPM_FPM_MODEL_H

#include "fpm_status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fpm_procmem;

/* min/avg/max and nearest-rank percentiles (pXX = the ceil(XX/100 * n)-th
 * smallest value; exact, no interpolation). */
struct fpm_stats {
  uint64_t n; /* samples; 0 = the stats are absent */
  double min, avg, max, p50, p95, p99;
};

/* The previous scrape of one pool; zero-initialise, free with
 * fpm_history_free. Owned by the caller (one per pool). */
struct fpm_history {
  int have_prev;
  uint32_t prev_present;
  uint64_t prev_start_time, prev_start_since;
  uint64_t prev_accepted, prev_slow, prev_max_children_reached;
  int64_t *prev_pids; /* sorted, with prev_pid_start[] */
  uint64_t *prev_pid_start;
  size_t n_prev_pids;
  int prev_has_list;       /* the previous snapshot had a worker list
                              (and it was stored) */
  uint64_t restarts_total; /* restarts seen since monitoring began */
  uint64_t respawns_total; /* worker respawns seen since then */
  uint64_t own_requests;   /* our requests the pool has counted since its
                              (re)start, as far as this history knows: since
                              monitoring began or the last restart */
  uint64_t own_pending;    /* our requests since the last compute that were
                              no status scrape (pings, failed fetches) */
  uint64_t prev_external;  /* the previous external requests value */
};
void fpm_history_free(struct fpm_history *h);

/* Note n requests sent to the pool outside a successful status scrape (a
 * ping, a failed status fetch's requests: fpm_result.requests): the next
 * fpm_model_compute counts them as ours. NULL h is a no-op. */
void fpm_history_add_requests(struct fpm_history *h, uint64_t n);

struct fpm_model_opts {
  const char *self_marker; /* text in our own request's uri; NULL or
                              "": no exclusion */
  double slow_threshold_s; /* 0 = 1 s: running longer counts slow */
  uint64_t max_children;   /* pm.max_children if known, else 0 */
  const char *scrape_tag;  /* optional, e.g. "fpmstat=": Idle workers
                              whose last request uri holds it were
                              monitoring scrapes and are left out of
                              the last-request statistics. NULL or
                              "": only self_marker is left out */
  uint64_t own_requests;   /* requests this scrape sent to the pool
                              (fpm_result.requests); with a history they
                              are subtracted from accepted conn */
  size_t stats_sort_cap;   /* most values sorted in a scratch array for
                              percentiles; above it (or when that array
                              cannot be allocated) the ranks are found by
                              bisection: exact, no memory, slower. 0 = no
                              cap. Up to 256 values always use the stack */
};

struct fpm_metrics {
  const struct fpm_status *st; /* borrowed snapshot */

  /* worker accounting, self excluded */
  int from_list;                       /* 1: recounted from the full list */
  int self_found;                      /* our request was found in the list */
  long self_index;                     /* its slot index; -1 when not found */
  uint32_t by_state[FPM_STATE__COUNT]; /* valid when from_list */
  uint64_t active, idle, total;        /* corrected; valid when the snapshot has
                                          the counts or a list */
  int have_counts;
  uint64_t max_children;           /* 0 = unknown */
  double utilisation;              /* percent active/total; <0 = n/a */
  double utilisation_max_children; /* percent active/max_children; <0 = n/a */

  /* worker statistics (valid when from_list) */
  struct fpm_stats duration_s; /* idle workers' last request, seconds */
  double oldest_running_s;     /* oldest non-idle request age; 0 none */
  uint64_t running_over_threshold;
  struct fpm_stats cpu_pct;      /* idle workers' last request cpu % */
  struct fpm_stats memory_bytes; /* idle workers' last request memory */

  /* change since the previous snapshot (valid when have_prev) */
  int have_history; /* a history was given: the *_total
                       fields are valid */
  int have_prev;
  int restarted;      /* start time changed or counters fell */
  int have_respawned; /* both snapshots had a worker list */
  uint64_t respawned; /* workers replaced since then */
  uint64_t d_accepted, d_slow, d_max_children_reached; /* never negative:
                                      after a restart, the new value */
  uint64_t restarts_total, respawns_total;

  /* worker memory read from /proc (fpm_procmem.h), borrowed; NULL or not
   * FPM_PROCMEM_LOCAL: the memory_* metrics are absent. fpm_model_compute
   * sets it NULL: the caller sets it afterwards. */
  const struct fpm_procmem *procmem;
  /* requests not made by this monitor (valid when have_external: a history
   * was given and the snapshot has accepted conn) */
  int have_external;
  uint64_t own_requests; /* ours since the pool's (re)start (see history) */
  uint64_t external;     /* accepted conn minus own_requests; never goes
                            down between two scrapes without a restart */
  uint64_t d_external;   /* change since the previous scrape (have_prev) */
};

/*
 * Compute the metrics of st (borrowed: m->st points to it, keep it alive
 * while m is used). h may be NULL (one-shot); when given it is read for the
 * deltas and then updated to st. o may be NULL (defaults). Never fails.
 * It allocates, in h, the previous worker list (if that fails, the next
 * respawn count is unknown: have_respawned 0) and, above 256 workers, one
 * temporary scratch array for percentiles (if that fails, exact bisection
 * is used instead).
 *
 * Rules (docs/metrics.md, "Rules behind the numbers", has the details):
 *  - with a list, counts are recounted from it; our own worker (the first
 *    non-Idle worker whose uri contains self_marker) counts as Idle; entries
 *    the parser dropped count as Idle up to FPM's own idle figure, the rest
 *    as unknown (active). Without a list, FPM's active/idle/total are used
 *    as printed (have_counts needs active and idle) and self_found is 0.
 *  - last-request statistics are over Idle workers with requests > 0, minus
 *    our own worker and workers whose uri holds self_marker or scrape_tag;
 *    request durations of 2^63 us or more (wrapped) are left out.
 *  - restart: start time changed; or, when start time is not in both
 *    snapshots, start since went down; or a counter (accepted conn, slow
 *    requests, max children reached) went down.
 *  - own requests (history only): every scrape adds o->own_requests (none
 *    when a worker list lacks our request: another pool served it, as with
 *    pm.status_listen) and the pending ones (fpm_history_add_requests) to
 *    h->own_requests; a restart
 *    starts it again from this scrape's requests. external = accepted conn
 *    minus that, held from going down between two scrapes of one pool
 *    instance (our count is then lowered: we counted a request the pool
 *    never saw). Without a history there is no external figure: a one-shot
 *    cannot know the earlier scrapes' requests.
 */
void fpm_model_compute(const struct fpm_status *st,
                       const struct fpm_model_opts *o, struct fpm_history *h,
                       struct fpm_metrics *m);

/* ------------------------------------------------------------- samples */

enum fpm_kind { FPM_KIND_GAUGE = 0, FPM_KIND_COUNTER = 1 };

/* Which metric families a sample belongs to (for outputs that map names). */
enum fpm_metric_id {
  FPM_M_UP = 0,               /* bool-up                      1 reachable */
  FPM_M_ACCEPTED,             /* total_requests-accepted      counter */
  FPM_M_SLOW,                 /* total_requests-slow          counter */
  FPM_M_MAX_CHILDREN_REACHED, /* total_events-max_children_reached counter */
  FPM_M_LISTEN_QUEUE,         /* queue_length-listen */
  FPM_M_MAX_LISTEN_QUEUE,     /* queue_length-max_listen */
  FPM_M_LISTEN_QUEUE_LEN,     /* queue_length-listen_len */
  FPM_M_ACTIVE,               /* vs_processes-active          self excluded */
  FPM_M_IDLE,                 /* vs_processes-idle            self excluded */
  FPM_M_TOTAL,                /* vs_processes-total */
  FPM_M_MAX_ACTIVE,           /* vs_processes-max_active */
  FPM_M_MAX_CHILDREN,         /* vs_processes-max_children    when known */
  FPM_M_START_SINCE,          /* uptime                       seconds */
  FPM_M_MEMORY_PEAK,          /* memory-peak                  bytes (8.4+) */
  FPM_M_UTILISATION,          /* percent-utilisation */
  FPM_M_UTILISATION_MAX,      /* percent-utilisation_max_children */
  FPM_M_STATE,                /* ps_state-<state key>         instance=key */
  FPM_M_DURATION,             /* duration-request_<stat>      seconds */
  FPM_M_OLDEST_RUNNING,       /* duration-oldest_running      seconds */
  FPM_M_RUNNING_SLOW,         /* vs_processes-running_slow */
  FPM_M_CPU,                  /* percent-last_request_cpu_<stat> */
  FPM_M_MEMORY,               /* memory-last_request_<stat>   bytes */
  FPM_M_MEM_WORKERS,          /* vs_processes-memory_measured from /proc */
  FPM_M_MEM_RSS_TOTAL,        /* memory-rss_total             bytes */
  FPM_M_MEM_RSS_P50,          /* memory-rss_p50               bytes */
  FPM_M_MEM_RSS_MAX,          /* memory-rss_max               bytes */
  FPM_M_MEM_PSS_TOTAL,        /* memory-pss_total             bytes */
  FPM_M_RESTARTS,             /* total_events-restarts        counter */
  FPM_M_RESPAWNS,             /* total_events-respawns        counter */
  FPM_M_EXTERNAL,             /* total_requests-external      counter */
  FPM_M_PARSE_REPAIRED,       /* objects-parse_repaired */
  FPM_M_PARSE_DROPPED,        /* objects-parse_dropped */
  FPM_M_PARSE_PHANTOM,        /* objects-parse_phantom          not workers */
  FPM_M_EXTRA,                /* gauge-<sanitised FPM key>    unknown fields */
  FPM_M_SLOT_STATE,           /* ps_state-slot<N>             state code */
  FPM_M_SLOT_REQUESTS,        /* total_requests-slot<N>       counter */
  FPM_M_SLOT_DURATION,        /* duration-slot<N>_request     seconds */
  FPM_M_SLOT_CPU,             /* percent-slot<N>_last_request_cpu */
  FPM_M_SLOT_MEMORY,          /* memory-slot<N>_last_request  bytes */
  FPM_M__COUNT
};

struct fpm_metric_def {
  enum fpm_metric_id id;
  const char *key; /* stable snake_case key, e.g. "accepted_conn"
                      (families: "state", "request_duration") */
  enum fpm_kind kind;
  const char *unit;      /* "requests", "processes", "seconds", ... */
  const char *help;      /* one line */
  const char *cd_type;   /* collectd stock type (types.db) */
  int family;            /* 1: one sample per member (instance set) */
  const char *cd_prefix; /* type instance, or its part before the
                            member for a family */
  const char *cd_suffix; /* families: part after the member, else "" */
};

/* The definition table (FPM_M__COUNT entries, indexed by id). */
const struct fpm_metric_def *fpm_metric_def_get(enum fpm_metric_id id);

struct fpm_sample {
  const struct fpm_metric_def *def;
  char instance[64];      /* family member: state key, "p95", slot number,
                             sanitised extra field name; "" for plain
                             metrics */
  char type_instance[96]; /* collectd type instance, ready to use */
  double value;           /* counters: the raw cumulative value */
};

enum fpm_worker_detail {
  FPM_WORKERS_NONE = 0, /* pool figures and counts only */
  FPM_WORKERS_SUMMARY,  /* + bounded statistics (default) */
  FPM_WORKERS_SLOTS     /* + one series set per slot, up to a cap */
};

/*
 * Flatten m into samples: only present values, in a stable order. Writes at
 * most cap samples to out and returns how many there are in all (call with
 * cap 0 to size a buffer). m == NULL stands for a failed scrape: the only
 * sample is FPM_M_UP with value 0. Otherwise FPM_M_UP (1) comes first, then
 * the ids in enum order; family members in a fixed order (states in enum
 * order, stats min avg max p50 p95 p99, slots by index, each slot's
 * series in enum order).
 *
 * detail NONE: pool figures, counts and per-state counts; SUMMARY adds the
 * worker statistics; SLOTS adds, for the first max_slots list entries (0:
 * none), the FPM_M_SLOT_* series keyed by the slot's position. Only the
 * worker statistics depend on the workers' states (absent when no Idle
 * worker has a finished request); every other series depends only on which
 * fields and how many workers there are. Nothing derived from the pool name
 * or from request strings ever appears in a sample.
 */
size_t fpm_metrics_samples(const struct fpm_metrics *m,
                           enum fpm_worker_detail detail, size_t max_slots,
                           struct fpm_sample *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_MODEL_H */
