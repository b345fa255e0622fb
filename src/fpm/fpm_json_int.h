/*
 * fpm_json_int.h: private state of the JSON status parser: the repairing
 * pre-lexer (fpm_repair.c) and the yajl side (fpm_json.c).
 */
#ifndef FPM_FPM_JSON_INT_H
#define FPM_FPM_JSON_INT_H

#include "fpm_parse_int.h"

#include <stdio.h>
#include <yajl/yajl_parse.h>

/* Bytes of input the pre-lexer may hold back across feeds to decide what a
 * quote, a backslash or a `},{` means (the longest lookahead is the start
 * of a worker entry up to its request method, at most 240 bytes). */
#define FPM_REPAIR_HOLD 512
/* Feeds smaller than this gather in the hold buffer before they are lexed
 * (with what lookahead leaves there, it stays under FPM_REPAIR_HOLD). */
#define FPM_REPAIR_BATCH 256

/* Kinds of string value, from the key before it and where it stands (the
 * pool fields in the top object, the worker fields in an entry of
 * "processes"); anything else is a plain JSON string (R_OTHER). */
enum {
  R_OTHER = 0,
  R_POOL,
  R_PM,
  R_STATE,
  R_METHOD,
  R_URI,
  R_USER,
  R_SCRIPT,
  R__COUNT
};

struct fpm_repair {
  int state;         /* L_* in fpm_repair.c */
  unsigned depth;    /* nesting seen by the pre-lexer */
  uint64_t arr_bits; /* bit d: level d is an array */
  int expect_key;    /* next string is an object key */
  int vkey;          /* kind of the current string value (R_*) */
  char key[32];
  size_t key_len;
  size_t vlen;        /* raw bytes of the current string value */
  char vprev[3];      /* its last 3 raw bytes */
  int procs_open;     /* the "processes" array was entered */
  int in_entry;       /* inside a worker entry */
  int entry_repaired; /* a string of the current entry was repaired */
  uint64_t pos;       /* raw offset of the next byte to lex */
  char hold[FPM_REPAIR_HOLD];
  size_t hold_len;
  size_t olen; /* pending bytes for yajl in fpm_json.obuf (input
                  copied around repair literals) */
  uint64_t ooff;
  const char *span; /* pending bytes for yajl (borrowed from input) */
  size_t span_len;
  uint64_t span_off;
  int yield;     /* handed back to the fast path at pos */
  char tail[16]; /* last raw bytes lexed, for the end and excerpts */
  size_t tail_len;
};

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
  char *obuf;    /* the pre-lexer's output around repairs (lx.olen) */
  size_t ocap;
  char *keep; /* the whole input so far (when resumable) */
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
                        at the next unit boundary (fpm_repair.c) */
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

void fpm_repair_init(struct fpm_repair *lx);
/* The state right after a `[` or `}` inside "processes", at raw off. */
void fpm_repair_resume(struct fpm_repair *lx, uint64_t off);
/* Lexes, repairs and forwards to yajl; errors land in the parser. */
void fpm_repair_feed(struct fpm_json *j, const char *buf, size_t len);
/* End of input; 0, or -1 when an error was recorded. */
int fpm_repair_finish(struct fpm_json *j);

/* JSON's whitespace (RFC 8259): the only bytes the pre-lexer skips before
 * the top-level `{` (yajl skips \v and \f too; fpm_json.c checks). */
static inline int fpm_repair_is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Kind of a string value after key k (R_*), context aside. */
int fpm_repair_key_kind(const char *k, size_t len);
/* The kind in context: pool fields count at depth 1, worker fields at depth
 * 3 inside a worker entry; elsewhere R_OTHER. */
int fpm_repair_kind_at(int kind, unsigned depth, int in_entry);
/* Raw bytes FPM can print for a string of this kind (escaped 6x, plus
 * slack): a longer one means its end was missed. */
static inline size_t fpm_repair_kind_cap(int kind) {
  switch (kind) {
  case R_POOL:
    return 1024;
  case R_PM:
  case R_STATE:
  case R_METHOD:
  case R_USER:
    return 256;
  case R_URI:
    return 4096;
  case R_SCRIPT:
    return 2048;
  default:
    return 65536;
  }
}
/* 1 when s[0..n) is exactly one of the continuations FPM prints after a
 * string of this kind (`,"request uri":` after the method, ...); 0 also for
 * kinds that have none. */
int fpm_repair_cont_is(int kind, const char *s, size_t n);
/* 1 when this kind's strings end only before a continuation. */
static inline int fpm_repair_kind_has_conts(int kind) {
  return kind >= R_METHOD && kind <= R_SCRIPT;
}

/* yajl side, used by the pre-lexer: feed a range of input or a repair
 * literal standing for the byte at raw_off. 0: fed, or yajl failed inside
 * "processes" (j->yfail; the caller drops the entry at the next unit
 * boundary); -1: fatal (error recorded). fpm_json_drop_entry drops the
 * current entry outright and restarts yajl after it (0, or -1 on ENOMEM). */
int fpm_json_yajl(struct fpm_json *j, const char *buf, size_t len,
                  uint64_t raw_off);
int fpm_json_drop_entry(struct fpm_json *j);

#endif /* FPM_FPM_JSON_INT_H */
