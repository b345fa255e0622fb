/*
 * fpm_repair.h: the repairing pre-lexer of the JSON status parser. It lexes
 * the body by FPM's grammar, repairs the strings FPM leaves broken and
 * forwards valid JSON to its output (struct fpm_repair_out), which the JSON
 * parser (fpm_json.c) points at yajl. It calls nothing of fpm_json.c
 * directly.
 */
#ifndef FPM_FPM_REPAIR_H
#define FPM_FPM_REPAIR_H

#include "fpm_parse_int.h"

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

/* Where the pre-lexer's output goes: the JSON parser (fpm_json.c) hands
 * these in, so the pre-lexer knows nothing of yajl or of the fast path.
 * feed: a range of input, or a repair literal standing for the byte at
 * raw_off; 0 fed (or yajl failed inside "processes": failed() is then true
 * and the entry is dropped at the next unit boundary), -1 fatal (error
 * recorded). drop_entry: drop the current entry outright and restart yajl
 * after it; 0, or -1 on ENOMEM. may_yield: the entry that ends at raw off
 * may hand back to the fast path. */
struct fpm_repair_out {
  fpm_parser *p; /* errors are recorded here */
  void *ctx;
  int (*feed)(void *ctx, const char *buf, size_t len, uint64_t raw_off);
  int (*drop_entry)(void *ctx);
  int (*failed)(void *ctx);
  int (*may_yield)(void *ctx, uint64_t off);
  char *obuf; /* output around repairs (olen bytes pending); owned, freed
                 with fpm_repair_free */
  size_t ocap;
};

struct fpm_repair {
  struct fpm_repair_out out; /* kept across fpm_repair_init */
  int state;                 /* L_* in fpm_repair.c */
  unsigned depth;            /* nesting seen by the pre-lexer */
  uint64_t arr_bits;         /* bit d: level d is an array */
  int expect_key;            /* next string is an object key */
  int vkey;                  /* kind of the current string value (R_*) */
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
  size_t olen; /* pending bytes for yajl in out.obuf (input copied
                  around repair literals) */
  uint64_t ooff;
  const char *span; /* pending bytes for yajl (borrowed from input) */
  size_t span_len;
  uint64_t span_off;
  int yield;     /* handed back to the fast path at pos */
  char tail[16]; /* last raw bytes lexed, for the end and excerpts */
  size_t tail_len;
};

/* The lexer at the start of a body; lx->out is kept. */
void fpm_repair_init(struct fpm_repair *lx);
/* Frees lx->out.obuf. */
void fpm_repair_free(struct fpm_repair *lx);
/* The state right after a `[` or `}` inside "processes", at raw off. */
void fpm_repair_resume(struct fpm_repair *lx, uint64_t off);
/* Lexes, repairs and forwards to yajl; errors land in the parser. */
void fpm_repair_feed(struct fpm_repair *lx, const char *buf, size_t len);
/* End of input; 0, or -1 when an error was recorded. */
int fpm_repair_finish(struct fpm_repair *lx);

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

#endif /* FPM_FPM_REPAIR_H */
