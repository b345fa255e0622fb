/*
 * fcgi_cgi.h (private): CGI response header splitter, a push parser with no
 * I/O. It finds the end of the header block (the first blank line: "\r\n\r\n"
 * or "\n\n") across any chunking without buffering, enforces the header cap,
 * and parses a complete block's Status: header.
 */
#ifndef FPM_FCGI_CGI_H
#define FPM_FCGI_CGI_H

#include "fcgi.h"

#include <stddef.h>

struct fcgi_cgi {
  size_t max;  /* cap on the header block, terminator included */
  size_t seen; /* header bytes consumed so far */
  int state;   /* private */
  int done;    /* 1 once the blank line was seen */
};

/* max 0 = 16 KiB. */
void fcgi_cgi_init(struct fcgi_cgi *c, size_t max);
/*
 * Push stdout bytes. *hdr_bytes gets how many leading bytes of buf belong to
 * the header block (the rest is body). Returns 1 when the block ended in
 * this chunk (or already had: then *hdr_bytes is 0), 0 when more is needed,
 * -1 when the block is over the cap (FCGI_ETOOBIG).
 */
int fcgi_cgi_feed(struct fcgi_cgi *c, const char *buf, size_t len,
                  size_t *hdr_bytes);

/* Length of a complete block without its blank line and last line end. */
size_t fcgi_cgi_trim(const char *block, size_t len);

/* Find a header (case-insensitive) in a block; value trimmed. */
const char *fcgi_cgi_header(const char *block, size_t len, const char *name,
                            size_t *value_len);

/* Status from a block: 200 without Status:, the code with one, -1 when the
 * Status: value is not a 3-digit code from 100 to 999. */
int fcgi_cgi_status(const char *block, size_t len);

#endif /* FPM_FCGI_CGI_H */
