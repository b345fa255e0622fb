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
 * quote or backslash means (the longest continuation is 23 bytes). */
#define FPM_REPAIR_HOLD 128

struct fpm_repair {
  int state;         /* L_* in fpm_repair.c */
  unsigned depth;    /* nesting seen by the pre-lexer */
  uint64_t arr_bits; /* bit d: level d is an array */
  int expect_key;    /* next string is an object key */
  int vkey;          /* what the last key was (K_* in fpm_repair.c) */
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
  const char *span; /* pending bytes for yajl (borrowed from input) */
  size_t span_len;
  uint64_t span_off;
  int yield;  /* handed back to the fast path at pos */
  int rewind; /* yajl dropped an entry: skip from rewind_off */
  uint64_t rewind_off;
  char tail[16]; /* last raw bytes lexed, for the end and excerpts */
  size_t tail_len;
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
  struct fpm_repair lx;
  /* yajl side */
  int cb_depth;
  int cb_root;      /* the top-level object was seen */
  int cb_in_procs;  /* inside "processes" */
  int cb_in_worker; /* inside a worker object */
  int cb_key;       /* pool or worker field of the last key, or KEY_* */
  int replay;       /* feeding the restart prefix */
  int cb_drop;      /* a callback asks to drop the current entry */
  fpm_perr cb_err;  /* a callback hit a fatal error */
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

/* yajl side, used by the pre-lexer: feed a range of input (is_input) or a
 * repair literal standing for the byte at raw_off (0 ok, 1 entry dropped,
 * -1 fatal), or drop the current entry outright (0, or -1 on ENOMEM). */
int fpm_json_yajl(struct fpm_json *j, const char *buf, size_t len,
                  uint64_t raw_off, int is_input);
int fpm_json_drop_entry(struct fpm_json *j);

#endif /* FPM_FPM_JSON_INT_H */
