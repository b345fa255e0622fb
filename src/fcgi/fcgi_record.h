/*
 * fcgi_record.h (private): the FastCGI 1.0 record codec, with no I/O.
 *
 * Encoding: record headers, name-value pairs (1- or 4-byte lengths) and the
 * whole wire image of one request (BEGIN_REQUEST, PARAMS split only at pair
 * boundaries, the empty PARAMS record, STDIN in records of at most 65528
 * bytes, the empty STDIN record).
 *
 * Decoding: a push state machine over (header, content, padding). Any split
 * of the byte stream yields the same records. Errors are sticky.
 */
#ifndef FPM_FCGI_RECORD_H
#define FPM_FCGI_RECORD_H

#include "fcgi.h"

#include <stddef.h>
#include <stdint.h>

#define FCGI_VERSION_1 1
#define FCGI_HEADER_LEN 8
#define FCGI_MAX_CONTENT 65535
/* Largest content a record carries when we write it: a multiple of 8, so
 * the record can be padded to 8 and content + padding stays <= 65535. */
#define FCGI_MAX_WRITE_CONTENT 65528
/* Largest encoded name-value pair (it must fit one PARAMS record). */
#define FCGI_MAX_PAIR (FCGI_MAX_CONTENT - 8)

#define FCGI_TYPE_BEGIN_REQUEST 1
#define FCGI_TYPE_ABORT_REQUEST 2
#define FCGI_TYPE_END_REQUEST 3
#define FCGI_TYPE_PARAMS 4
#define FCGI_TYPE_STDIN 5
#define FCGI_TYPE_STDOUT 6
#define FCGI_TYPE_STDERR 7
#define FCGI_TYPE_DATA 8
#define FCGI_TYPE_GET_VALUES 9
#define FCGI_TYPE_GET_VALUES_RESULT 10
#define FCGI_TYPE_UNKNOWN_TYPE 11

#define FCGI_FLAG_KEEP_CONN 1

/* "STDOUT", "END_REQUEST", ... or "type?" for an unknown type. */
const char *fcgi_type_name(unsigned type);

/* Write an 8-byte record header. */
void fcgi_header_put(uint8_t out[FCGI_HEADER_LEN], unsigned type,
                     unsigned request_id, unsigned content_len,
                     unsigned padding_len);

/* ------------------------------------------------------ name-value pairs */

/* Encoded size of one pair (lengths must be < 2^31). */
size_t fcgi_pair_size(size_t name_len, size_t value_len);
/* Encode one pair into out (fcgi_pair_size bytes); returns bytes written. */
size_t fcgi_pair_put(uint8_t *out, const char *name, size_t name_len,
                     const char *value, size_t value_len);

struct fcgi_pair {
  const uint8_t *name;
  size_t name_len;
  const uint8_t *value;
  size_t value_len;
};

/* Decode the pair at *off in a complete (reassembled) stream. Returns 1 and
 * advances *off, 0 at the end of buf, -1 when a length runs past the end. */
int fcgi_pair_next(const uint8_t *buf, size_t len, size_t *off,
                   struct fcgi_pair *pair);

/* A growable buffer that reassembles a name-value stream (PARAMS,
 * GET_VALUES_RESULT) from its records before fcgi_pair_next reads it. */
struct fcgi_nvstream {
  uint8_t *buf;
  size_t len, cap, max;
};
/* Append one record's content; FCGI_ETOOBIG past max (0 = 1 MiB). */
fcgi_err fcgi_nvstream_append(struct fcgi_nvstream *s, const uint8_t *p,
                              size_t n);
void fcgi_nvstream_clear(struct fcgi_nvstream *s);

/* ------------------------------------------------------- request encoding */

/* The params of a request, already encoded as pairs, with pair sizes kept
 * so that PARAMS records split only at pair boundaries. */
struct fcgi_wire_params {
  const uint8_t *pairs; /* concatenated encoded pairs */
  const size_t *sizes;  /* size of each pair */
  size_t count;
};

/* Build the whole request: BEGIN_REQUEST(role, flags), PARAMS records
 * (content <= 65528, padded to 8, split at pair boundaries), the empty
 * PARAMS record, STDIN records (<= 65528 bytes), the empty STDIN record.
 * *out is malloc'ed. FCGI_ENOMEM or FCGI_EINVAL (a pair over FCGI_MAX_PAIR).
 */
fcgi_err fcgi_wire_build(unsigned request_id, unsigned role, unsigned flags,
                         const struct fcgi_wire_params *params,
                         const uint8_t *body, size_t body_len, uint8_t **out,
                         size_t *out_len);

/* --------------------------------------------------------------- decoding */

struct fcgi_record {
  unsigned type;
  unsigned request_id;
  /* Valid until the next fcgi_decoder_feed, and while the buffer passed to
   * this feed is unchanged: a record that arrived whole in one buffer points
   * into that buffer (no copy); one split across feeds into the decoder. */
  const uint8_t *content;
  size_t content_len;
  size_t padding_len;
};

/* A record decoder. Records split across feeds are gathered in a buffer
 * grown to the record's size (at most FCGI_MAX_CONTENT) on first need, so
 * a decoder that only ever sees whole records allocates nothing: a status
 * scrape's heap peak stays small in every thread that runs one. */
struct fcgi_decoder {
  int state; /* private */
  size_t have;
  size_t content_len, padding_len;
  uint8_t header[FCGI_HEADER_LEN];
  fcgi_err err; /* sticky: FCGI_OK, FCGI_EPROTO, FCGI_ENOTFCGI (the stream
                   starts like HTTP) or FCGI_ENOMEM */
  char errmsg[160];
  uint64_t records;           /* complete records decoded */
  const uint8_t *rec_content; /* private: the record being delivered */
  uint8_t *content;           /* private: split records, content_cap bytes */
  size_t content_cap;
};

/* A new decoder (owned by the caller, fcgi_decoder_free), or NULL. */
struct fcgi_decoder *fcgi_decoder_new(void);
void fcgi_decoder_free(struct fcgi_decoder *d);
/* Back to the start of a stream; keeps the buffer for split records. */
void fcgi_decoder_init(struct fcgi_decoder *d);
/*
 * Push bytes. Consumes from buf until one record is complete or buf is
 * exhausted; *used says how much. Returns 1 with *rec filled (its content
 * stays valid until the next call), 0 when all of buf was consumed without
 * completing a record, -1 on a protocol error (d->err, d->errmsg; sticky).
 */
int fcgi_decoder_feed(struct fcgi_decoder *d, const uint8_t *buf, size_t len,
                      size_t *used, struct fcgi_record *rec);
/* 1 when the decoder sits between records (nothing partial buffered). */
int fcgi_decoder_idle(const struct fcgi_decoder *d);
/* Describe what is partial ("8 of 1000 content bytes of a STDOUT record"). */
void fcgi_decoder_describe(const struct fcgi_decoder *d, char *buf, size_t len);

#endif /* FPM_FCGI_RECORD_H */
