/*
 * fpm_json_int.h: private state of the JSON status parser (fpm_json.c),
 * which drives yajl and, where the body is broken, the repairing pre-lexer
 * (fpm_repair.h).
 */
#ifndef FPM_FPM_JSON_INT_H
#define FPM_FPM_JSON_INT_H

#include "fpm_repair.h"

#include <stdio.h>
#include <yajl/yajl_parse.h>

/* The pool part of a snapshot: what the fast path may write after its
 * checkpoint (pool fields after the "processes" array), saved where it
 * leaves the array so that a fall-back to the checkpoint rolls it back
 * with the workers and the repairing path records it once. */
struct fpm_json_pool {
  uint32_t present;
  uint64_t v[FPM_F__COUNT];
  char pool[sizeof((struct fpm_status *)0)->pool];
  char process_manager[sizeof((struct fpm_status *)0)->process_manager];
  unsigned n_extra; /* extra fields are only appended: the count rolls back */
  int has_workers;
};

struct fpm_json {
  fpm_parser *p;
  yajl_handle h;
  int resumable; /* the fast path is on (not always_repair) */
  int fast;      /* input goes straight to yajl just now */
  int need_slow; /* a callback saw what only the repairing path handles */
  char *keep;    /* the whole input so far (when resumable) */
  size_t keep_len, keep_cap;
  uint64_t done_off;   /* kept input handed to the current path */
  uint64_t fast_base;  /* raw offset of the current yajl_parse buffer */
  uint64_t slow_until; /* the repairing path runs up to here at least */
  int slow_until_end;  /* ... or to the end */
  int ckpt_ok;         /* last fast-path entry boundary: */
  int ckpt_after_entry;
  uint64_t ckpt_off;
  size_t ckpt_workers, ckpt_arena;
  int ckpt_pool_ok; /* the fast path left "processes" after the checkpoint: */
  struct fpm_json_pool ckpt_pool; /* ... the pool part as it was there */
  struct fpm_repair lx;
  /* yajl side */
  int cb_depth;
  int cb_root;       /* the top-level object was seen */
  int cb_in_procs;   /* inside "processes" */
  int cb_in_worker;  /* inside a worker object */
  int cb_key;        /* pool or worker field of the last key, or KEY_* */
  int replay;        /* feeding the restart prefix */
  int cb_drop;       /* a callback asks to drop the current entry */
  int yfail;         /* yajl failed inside "processes": the entry is dropped
                        at the next unit boundary (by the pre-lexer) */
  uint64_t key_end;  /* fast path: end of the key after a string with a
                        continuation (checked with the next value) */
  uint64_t cont_off; /* fast path: end of a string FPM follows with a
                        fixed continuation, 0 when none is pending */
  int cont_kind;     /* ... and its kind */
  fpm_perr cb_err;   /* a callback hit a fatal error */
  char cb_msg[120];
  char cb_keybuf[63];
  size_t cb_keylen;
  size_t mark_workers, mark_arena; /* rollback point of the entry */
};

#endif /* FPM_FPM_JSON_INT_H */
