/*
 * fpm_status.h: PHP-FPM status page snapshot and its streaming parsers.
 *
 * struct fpm_status is a value type the caller owns (stack is fine): pool
 * fields with a presence mask (an absent field is never reported as zero),
 * unknown numeric pool fields kept by name, and with `full` one fpm_worker per
 * scoreboard slot. fpm_status_clear() frees what parsing allocated.
 *
 * Parsers are push parsers with no I/O: feed any split of the body, then
 * finish; any split gives the same result. JSON (on yajl's callback API, no
 * tree) survives the broken JSON real FPM versions print (raw quotes,
 * backslashes, control characters and cut UTF-8 in request uri, query, user,
 * script, method and pool name): recovery follows the grammar of what FPM
 * prints (fixed key order, known value types), repairs a string where its end
 * is provable, and otherwise drops only the worker entry that holds it. The
 * counts of repaired and dropped entries are in the snapshot.
 *
 * Phantom slots are not workers: php-fpm (seen on 8.2 ondemand pools) can
 * list a scoreboard slot that no process holds, with pid 0, state "(null)",
 * start time 0 and a request duration of the whole epoch. The parsers leave
 * such entries out of the worker list and count them in `phantom`.
 *
 * How (details in src/fpm/fpm_repair.c, src/fpm/fpm_json.c): valid JSON goes
 * straight to yajl while the input is kept; on a sign of breakage the
 * snapshot goes back to the last worker-entry boundary and from there a
 * repairing pre-lexer that knows FPM's key sequence takes over, handing
 * back to yajl after the broken entry. Inside
 * a string value a `"` ends it only when the exact continuation FPM prints
 * next follows (`,"request uri":` after the method, ...), a `\` that does
 * not start a valid escape is the string's own, control bytes are escaped.
 * The pool name is taken raw (FPM never escapes it; `"` cannot occur in
 * it). Bytes that are not valid UTF-8 are kept as they are (FPM cuts
 * strings byte-wise; old versions print raw bytes): consumers that need
 * UTF-8 must sanitise. A worker entry still unparseable is dropped and the
 * parser resynchronises at the next entry head as FPM prints it (`},{"pid":`
 * and its keys in FPM's order up to the request method); a forged
 * `},{"pid":` inside a string, followed by anything else, is content.
 * Text (FPM's default format) is parsed by its fixed labels and order, so
 * values with embedded newlines survive; its dates become epochs.
 *
 * Thread-safety: a parser or a snapshot belongs to one thread at a time;
 * different ones are independent (no global state).
 */
#ifndef FPM_FPM_STATUS_H
#define FPM_FPM_STATUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pool fields, in FPM's print order. Numeric unless noted. */
enum fpm_pool_field {
  FPM_F_POOL = 0,             /* string: pool                         */
  FPM_F_PROCESS_MANAGER,      /* string: process manager              */
  FPM_F_START_TIME,           /* unix epoch (text format: parsed date) */
  FPM_F_START_SINCE,          /* seconds                              */
  FPM_F_ACCEPTED_CONN,        /* counter                              */
  FPM_F_LISTEN_QUEUE,         /* gauge                                */
  FPM_F_MAX_LISTEN_QUEUE,     /* high-water mark                      */
  FPM_F_LISTEN_QUEUE_LEN,     /* gauge                                */
  FPM_F_IDLE_PROCESSES,       /* gauge                                */
  FPM_F_ACTIVE_PROCESSES,     /* gauge, includes the scrape itself    */
  FPM_F_TOTAL_PROCESSES,      /* gauge                                */
  FPM_F_MAX_ACTIVE_PROCESSES, /* high-water mark                      */
  FPM_F_MAX_CHILDREN_REACHED, /* counter                              */
  FPM_F_SLOW_REQUESTS,        /* counter                              */
  FPM_F_MEMORY_PEAK,          /* bytes, high-water mark (8.4+)        */
  FPM_F__COUNT
};

/* FPM's name of a pool field as in JSON ("accepted conn"). */
const char *fpm_pool_field_name(enum fpm_pool_field f);

/* Worker states with FPM's real names (docs/status-page.md, "Worker states and
 * their spellings"). */
enum fpm_state {
  FPM_STATE_IDLE = 0,        /* "Idle" */
  FPM_STATE_READING_HEADERS, /* "Reading headers" */
  FPM_STATE_GETTING_INFO,    /* "Getting request information" (7.3:
                                "Getting request informations") */
  FPM_STATE_RUNNING,         /* "Running" */
  FPM_STATE_ENDING,          /* "Ending" */
  FPM_STATE_FINISHING,       /* "Finishing" */
  FPM_STATE_UNKNOWN,         /* anything else; counted as active */
  FPM_STATE__COUNT
};

/* FPM's spelling ("Reading headers"); FPM_STATE_UNKNOWN gives "Unknown". */
const char *fpm_state_name(enum fpm_state s);
/* Stable lower-case identifier ("reading_headers"), for metric names. */
const char *fpm_state_key(enum fpm_state s);
/* Parse FPM's spelling (both 7.3 and later spellings); unknown text gives
 * FPM_STATE_UNKNOWN. */
enum fpm_state fpm_state_parse(const char *s, size_t len);

/* Per-worker fields (bit numbers of fpm_worker.present). */
enum fpm_worker_field {
  FPM_W_PID = 0,
  FPM_W_STATE,
  FPM_W_START_TIME,
  FPM_W_START_SINCE,
  FPM_W_REQUESTS,
  FPM_W_REQUEST_DURATION,
  FPM_W_REQUEST_METHOD,
  FPM_W_REQUEST_URI,
  FPM_W_CONTENT_LENGTH,
  FPM_W_USER,
  FPM_W_SCRIPT,
  FPM_W_LAST_REQUEST_CPU,
  FPM_W_LAST_REQUEST_MEMORY,
  FPM_W__COUNT
};

#define FPM_WORKER_REPAIRED 0x1u   /* a string in this entry was repaired */
#define FPM_WORKER_NULL_STATE 0x2u /* FPM printed the state as "(null)" */

struct fpm_worker {
  uint32_t present; /* 1u << enum fpm_worker_field */
  uint32_t flags;   /* FPM_WORKER_* */
  int64_t pid;
  enum fpm_state state;
  uint64_t start_time;  /* epoch */
  uint64_t start_since; /* seconds */
  uint64_t requests;
  uint64_t request_duration_us; /* idle: last request; else: so far */
  uint64_t content_length;
  double last_request_cpu;      /* percent; 0 unless idle */
  uint64_t last_request_memory; /* bytes; 0 unless idle */
  /* Decoded strings (JSON escapes undone, invalid UTF-8 kept as bytes),
   * NUL-terminated, never NULL once parsing finished ("" when absent).
   * They point into the snapshot's arena: valid until fpm_status_clear. */
  const char *method;
  const char *uri; /* request uri incl. "?query" */
  const char *user;
  const char *script;
};

#define FPM_MAX_EXTRA 16
struct fpm_extra_field {
  char name[64]; /* FPM's key, e.g. "memory peak" in a
                    version that is not known here */
  double value;
};

enum fpm_format { FPM_FORMAT_JSON = 0, FPM_FORMAT_TEXT = 1 };

struct fpm_status {
  uint32_t present;         /* 1u << enum fpm_pool_field */
  uint64_t v[FPM_F__COUNT]; /* numeric pool fields (strings: 0) */
  char pool[64];            /* decoded, truncated to fit */
  char process_manager[16];
  struct fpm_extra_field extra[FPM_MAX_EXTRA]; /* unknown numeric fields */
  unsigned n_extra;

  int has_workers;            /* a `full` process list was parsed */
  struct fpm_worker *workers; /* n_workers entries, in slot order */
  size_t n_workers;
  unsigned repaired;      /* entries with a repaired string */
  unsigned dropped;       /* entries lost (beyond repair) */
  unsigned phantom;       /* slots that are no worker (pid 0 or state
                             "(null)"), left out of the list */
  enum fpm_format format; /* which parser filled it */

  /* private: string arena and capacities */
  char *arena_;
  size_t arena_len_, arena_cap_, workers_cap_;
};

void fpm_status_init(struct fpm_status *st);
/* Frees the workers and strings; leaves an initialised empty snapshot. */
void fpm_status_clear(struct fpm_status *st);
/* Compares two snapshots field by field (presence masks, numbers, strings,
 * extra fields, every worker, repaired, dropped and phantom counts; not the
 * format).
 * Returns 0 when equal, else 1 and a description of the first difference in
 * why (may be NULL). For tests and tools. */
int fpm_status_diff(const struct fpm_status *a, const struct fpm_status *b,
                    char *why, size_t why_len);
static inline int fpm_status_has(const struct fpm_status *st,
                                 enum fpm_pool_field f) {
  return (st->present >> f) & 1u;
}

/* ------------------------------------------------------------- parsing */

typedef enum fpm_perr {
  FPM_P_OK = 0,
  FPM_P_ENOMEM,     /* out of memory */
  FPM_P_ESYNTAX,    /* body is not status JSON / text and cannot be
                       repaired (pool figures unreadable) */
  FPM_P_ETRUNCATED, /* body ended in the middle */
  FPM_P_ESCHEMA,    /* well-formed, but not a status page (no pool
                       fields, e.g. an HTML error page or "File not found.") */
  FPM_P_ETOOBIG,    /* more workers or text than the caps allow */
  FPM_P_ERR_LAST
} fpm_perr;

const char *fpm_perr_str(fpm_perr e);

struct fpm_parse_error {
  fpm_perr code;
  uint64_t offset;   /* byte offset in the body */
  char excerpt[48];  /* bytes around offset, printable-escaped */
  char message[160]; /* what was wrong */
};

typedef struct fpm_parser fpm_parser;

/* Limits; zero fields take the defaults. */
struct fpm_parser_opts {
  size_t max_workers; /* 0 = 100000 */
  int always_repair;  /* JSON: skip the fast path (valid JSON straight to
                         yajl) and run every byte through the repairing
                         pre-lexer; the result is the same (tests, bench) */
};

/* A parser filling *out (which must be initialised; it is cleared first).
 * NULL on out of memory. out is borrowed until fpm_parser_free. */
fpm_parser *fpm_parser_new(enum fpm_format fmt, struct fpm_status *out,
                           const struct fpm_parser_opts *opts);
/* Feed the next bytes of the body. A non-OK return is sticky. */
fpm_perr fpm_parser_feed(fpm_parser *p, const char *buf, size_t len);
/* End of body. On FPM_P_OK the snapshot is complete and its string pointers
 * are valid. On FPM_P_ETRUNCATED it holds what was complete (pool fields
 * and whole worker entries; the cut entry counts in dropped) with valid
 * pointers; after other errors treat it as empty. Call once. */
fpm_perr fpm_parser_finish(fpm_parser *p);
/* The error, if any (valid until the parser is freed). */
const struct fpm_parse_error *fpm_parser_error(const fpm_parser *p);
void fpm_parser_free(fpm_parser *p); /* NULL is a no-op */

/* One-call form. err may be NULL. *out must be initialised; it is cleared
 * first and, whatever the result, released with fpm_status_clear. */
fpm_perr fpm_status_parse(const char *buf, size_t len, enum fpm_format fmt,
                          struct fpm_status *out, struct fpm_parse_error *err);

#ifdef __cplusplus
}
#endif
#endif /* FPM_FPM_STATUS_H */
