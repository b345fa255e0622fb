/*
 * fcgi_net.h (private): the one place with system calls. Endpoints (parsed
 * and resolved), non-blocking sockets, connect / send / recv / poll, the
 * cancellation handle, the clock, and turning a connect errno into a typed
 * error with a sentence that names the endpoint (and, for a unix socket,
 * its owner and mode).
 */
#ifndef FPM_FCGI_NET_H
#define FPM_FCGI_NET_H

#include "fcgi.h"

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct fcgi_endpoint_addr {
  struct sockaddr_storage sa;
  socklen_t len;
  char text[64]; /* numeric "127.0.0.1:9000" / "[::1]:9000" */
};

struct fcgi_endpoint {
  char *text; /* canonical "unix:/path" or "tcp://host:port" (+ "@tag") */
  int is_unix;
  char *path;  /* the unix socket path (NULL for TCP) */
  char *netns; /* fcgi_endpoint_opts.netns, or NULL */
  char *root;  /* fcgi_endpoint_opts.root, or NULL */
  size_t naddr;
  struct fcgi_endpoint_addr addr[]; /* naddr entries */
};

/* The eventfd of a cancel handle (for the poll set). */
int fcgi_cancel_fd(const fcgi_cancel *c);

/* Start a non-blocking connect to address i of ep. Returns 0 when
 * connected, EINPROGRESS while pending, or the errno of the failure; *fd is
 * set (or -1 when no socket could be created). */
int fcgi_net_connect(const fcgi_endpoint *ep, size_t i, int *fd);
/* fcgi_ns.c: the socket of address i created inside ep->netns, or a unix
 * socket connected through ep->root; same contract as fcgi_net_connect
 * (which calls it when either is set). */
int fcgi_ns_connect(const fcgi_endpoint *ep, size_t i, int *fd);
/* fcgi_ns.c: copy o's netns, root and tag into ep (text gets "@tag").
 * Returns 0, or -1 when out of memory. */
int fcgi_ns_apply(fcgi_endpoint *ep, const struct fcgi_endpoint_opts *o);
/* fcgi_ns.c: the detail sentence for a failure to enter ep->netns (rc is
 * the errno of setns or of opening it). */
fcgi_err fcgi_ns_explain(const fcgi_endpoint *ep, int rc, char *msg,
                         size_t len);

/* The outcome of a pending connect (SO_ERROR): 0 or an errno. */
int fcgi_net_connect_result(int fd);
/* Send up to len bytes with MSG_NOSIGNAL; *sent gets how many. Returns 0
 * (possibly with *sent short), or an errno other than EAGAIN/EINTR. */
int fcgi_net_send(int fd, const void *buf, size_t len, size_t *sent);
/* Receive; *got 0 with return 0 means EOF. Returns 0, EAGAIN, or errno. */
int fcgi_net_recv(int fd, void *buf, size_t cap, size_t *got);
void fcgi_net_close(int fd);
/* poll(); EINTR counts as "nothing ready" (the caller recomputes). */
int fcgi_net_poll(struct pollfd *fds, size_t n, int timeout_ms);

/* An idle kept connection is usable when a zero-timeout poll shows
 * nothing: readable (EOF, or bytes nobody asked for) or HUP/ERR means the
 * server closed it or is out of step. 1 = usable. */
int fcgi_net_idle_usable(int fd);
/* CLOCK_REALTIME in nanoseconds (trace timestamps). */
int64_t fcgi_net_realtime_ns(void);
/* Fill buf with random bytes (getrandom; falls back to the clock mixed
 * with the address of buf when getrandom fails). */
void fcgi_net_random(void *buf, size_t len);

/* Map a connect errno for address i of ep to an fcgi_err and write the
 * detail sentence into msg. */
fcgi_err fcgi_net_explain_connect(const fcgi_endpoint *ep, size_t i, int rc,
                                  char *msg, size_t len);

#endif /* FPM_FCGI_NET_H */
