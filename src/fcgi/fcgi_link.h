/*
 * fcgi_link.h (private): a shared connection ("link") for engines bound to
 * a client. The link owns the socket, an output queue and the record
 * decoder, and routes records by request id to attached fcgi_conns
 * (fcgi_conn_record). It is the transport under the GET_VALUES probe
 * (fcgi_probe.c), kept connections (fcgi_reuse.c, one request at a time)
 * and multiplexed ones (fcgi_mux.c, many ids in flight). What differs
 * between them is decided above, through struct fcgi_link_policy.
 */
#ifndef FPM_FCGI_LINK_H
#define FPM_FCGI_LINK_H

#include "fcgi_multi_int.h"
#include "fcgi_record.h"

#include <stddef.h>
#include <stdint.h>

/*
 * What a link asks of the layer that opened it. Every member may be NULL
 * (then the link does the plain thing, said below).
 */
struct fcgi_link_policy {
  /* An id-0 record (GET_VALUES_RESULT, UNKNOWN_TYPE) came on l. Returns 1
   * when it freed l. NULL: ignored. */
  int (*mgmt)(fcgi_multi *m, struct link *l, const struct fcgi_record *r,
              int64_t now);
  /* A probe link ends: outcome 0 no answer (deadline, EOF, an error), -1
   * could not connect. Must free l. NULL: l is freed. */
  void (*probe_end)(fcgi_multi *m, struct link *l, int outcome, int64_t now);
  /* q got its END_REQUEST and was detached from l; it may be started
   * again (fcgi_multi_restart). */
  void (*ended)(fcgi_multi *m, struct link *l, struct mreq *q, int64_t now);
  /* q ended before its END_REQUEST (deadline, cancel, a cap): detach it
   * (fcgi_link_detach). Returns FCGI_OK when l lives on, else the error
   * the other requests on l end with as l is closed (FCGI_EIO, or
   * FCGI_ENOMEM). NULL: detach and close. */
  fcgi_err (*abandon)(struct link *l, struct mreq *q);
  /* l died under q (already detached; rc 0 = EOF, else errno). Returns 1
   * when q was started again; else q ends with the loss. */
  int (*retry)(fcgi_multi *m, struct link *l, struct mreq *q, int rc,
               int64_t now);
  /* l has no request and is clean (framing intact, nothing owed). Returns
   * 1 when it took l->fd (then set to -1). NULL: the socket is closed. */
  int (*idle)(fcgi_multi *m, struct link *l, int64_t now);
};

struct link {
  struct link *next;
  const struct fcgi_link_policy *pol;
  const fcgi_endpoint *ep;
  int fd;
  int connecting;
  size_t addr_index;
  uint64_t conn_id;
  int reused, mux, probe, keep;
  int dead;                 /* being torn down: never attach to it */
  uint64_t in_since_attach; /* bytes received */
  /* Writing: whole records only, round robin over the attached requests
   * (so records of concurrent requests interleave, as FastCGI intends and
   * libfcgi needs to notice a second request); out holds management
   * records and the rest of a record whose request went away, and goes
   * first at a record boundary. */
  uint8_t *out;
  size_t out_off, out_len, out_cap;
  struct mreq *cur; /* request whose record is being written */
  size_t cur_left;  /* bytes of that record still to write */
  size_t rr;        /* round-robin position in reqs */
  struct fcgi_decoder *dec;
  struct fcgi_nvstream nv;
  struct mreq **reqs;
  size_t nreq, reqcap;
  uint16_t *zombies; /* ids aborted, END_REQUEST not yet seen */
  size_t nzombie, zcap;
  unsigned max_reqs;
  uint16_t next_id;
  int64_t probe_deadline;
  int64_t addr_until; /* connecting: move on to the next address then */
};

/* The engine transport (struct fcgi_xport_ops) made of links. */
extern const struct fcgi_xport_ops fcgi_link_xport;

/* A new link to ep on m's list, not connected (fd -1). NULL on out of
 * memory. */
struct link *fcgi_link_new(fcgi_multi *m, const fcgi_endpoint *ep,
                           const struct fcgi_link_policy *pol);
void fcgi_link_free(fcgi_multi *m, struct link *l);
/* Start connecting l; 0 when pending or done, else the errno of the last
 * address (l->fd -1). */
int fcgi_link_connect(struct link *l, int64_t now);
/* While more addresses remain, a pending connect gets an equal share of
 * the time left before the earliest deadline of what waits on l. */
void fcgi_link_slice(struct link *l, int64_t now);

/* Queue a management record (id 0, or ABORT_REQUEST). -1 on out of
 * memory. */
int fcgi_link_queue_mgmt(struct link *l, unsigned type, unsigned id,
                         const uint8_t *content, size_t n);
/* Attach q to l: give it an id (the next free one on a mux link), queue
 * its wire. -1 on out of memory or no free id. */
int fcgi_link_attach(struct link *l, struct mreq *q, int64_t now);
/* Detach q (a record half written is finished first). */
void fcgi_link_detach(struct link *l, struct mreq *q);
/* Reserve id until its END_REQUEST comes; its late records are dropped.
 * -1 on out of memory. */
int fcgi_link_add_zombie(struct link *l, unsigned id);
/* Every attached request ends with err (FCGI_EPROTO or FCGI_ENOMEM with
 * why naming the cause; else FCGI_EIO); l is freed (a probe link ends). */
void fcgi_link_close_all(fcgi_multi *m, struct link *l, fcgi_err err,
                         const char *why, int64_t now);

/* Patch a built wire for another request id and the KEEP_CONN flag. */
void fcgi_wire_patch(uint8_t *w, size_t len, unsigned id, int keep);

#endif /* FPM_FCGI_LINK_H */
