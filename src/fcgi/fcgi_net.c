/*
 * fcgi_net.c: endpoints, sockets, the clock and the cancel handle. This is
 * the only file of the FastCGI client that makes system calls; the record
 * codec, the CGI splitter and the per-request state machine are pure.
 */
#include "fcgi_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t fcgi_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ endpoints */

static fcgi_err bad(char *errbuf, size_t errlen, fcgi_err err, const char *spec,
                    const char *why) {
  if (errbuf && errlen)
    snprintf(errbuf, errlen, "endpoint \"%s\": %s", spec, why);
  return err;
}

static fcgi_endpoint *ep_alloc(size_t naddr, const char *text) {
  fcgi_endpoint *ep =
      calloc(1, sizeof *ep + naddr * sizeof(struct fcgi_endpoint_addr));
  if (!ep)
    return NULL;
  ep->text = strdup(text);
  if (!ep->text) {
    free(ep);
    return NULL;
  }
  ep->naddr = naddr;
  return ep;
}

/* s starts with prefix (strncmp(s, prefix, strlen(prefix)) == 0), without
 * the library call: this runs once per scrape and lazy binding costs more
 * than the compare. */
static int has_prefix(const char *s, const char *prefix) {
  for (; *prefix != '\0'; s++, prefix++)
    if (*s != *prefix)
      return 0;
  return 1;
}

static fcgi_err parse_unix(const char *spec, const char *path,
                           fcgi_endpoint **out, char *errbuf, size_t errlen) {
  struct sockaddr_un sun;
  char text[sizeof sun.sun_path + 8], why[128];
  size_t n = strlen(path);
  if (n == 0)
    return bad(errbuf, errlen, FCGI_EINVAL, spec, "empty socket path");
  if (n >= sizeof sun.sun_path) {
    snprintf(why, sizeof why,
             "socket path is %zu bytes; a unix socket path holds at most %zu",
             n, sizeof sun.sun_path - 1);
    return bad(errbuf, errlen, FCGI_EINVAL, spec, why);
  }
  memcpy(text, "unix:", 5); /* "unix:%s": n + 6 <= sizeof text */
  memcpy(text + 5, path, n + 1);
  fcgi_endpoint *ep = ep_alloc(1, text);
  if (!ep)
    return bad(errbuf, errlen, FCGI_ENOMEM, spec, "out of memory");
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, n + 1);
  memcpy(&ep->addr[0].sa, &sun, sizeof sun);
  ep->addr[0].len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  memcpy(ep->addr[0].text, "unix", 5);
  ep->is_unix = 1;
  ep->path = ep->text + 5;
  *out = ep;
  return FCGI_OK;
}

/* Split "host:port" / "[v6]:port" into host and port (both bounded). */
static const char *split_host_port(const char *hp, char *host, size_t hlen,
                                   char *port, size_t plen) {
  const char *colon;
  if (hp[0] == '[') {
    const char *close = strchr(hp, ']');
    if (!close)
      return "missing ']' after an IPv6 address";
    if (close[1] != ':')
      return "missing port (expected [v6addr]:port)";
    if ((size_t)(close - hp - 1) >= hlen)
      return "host name too long";
    memcpy(host, hp + 1, (size_t)(close - hp - 1));
    host[close - hp - 1] = '\0';
    colon = close + 1;
  } else {
    colon = strrchr(hp, ':');
    if (!colon)
      return "missing port (expected host:port, [v6addr]:port or a path)";
    if (memchr(hp, ':', (size_t)(colon - hp)))
      return "an IPv6 address needs brackets: [::1]:9000";
    if ((size_t)(colon - hp) >= hlen)
      return "host name too long";
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
  }
  if (!host[0])
    return "empty host name";
  if (strlen(colon + 1) >= plen)
    return "bad port (expected a number from 1 to 65535)";
  snprintf(port, plen, "%s", colon + 1);
  char *end;
  errno = 0;
  unsigned long long p = strtoull(port, &end, 10);
  if (!port[0])
    return "missing port (expected host:port)";
  if (*end || errno || p < 1 || p > 65535 || port[0] == '-' || port[0] == '+' ||
      port[0] == ' ')
    return "bad port (expected a number from 1 to 65535)";
  return NULL;
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 =
        (const struct sockaddr_in6 *)(const void *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
  }
}

static fcgi_err parse_tcp(const char *spec, const char *hp, fcgi_endpoint **out,
                          char *errbuf, size_t errlen) {
  char host[256], port[16], text[300], why[300];
  const char *e = split_host_port(hp, host, sizeof host, port, sizeof port);
  if (e)
    return bad(errbuf, errlen, FCGI_EINVAL, spec, e);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG},
                  *res = NULL;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc == EAI_NONAME || rc == EAI_FAMILY || rc == EAI_ADDRFAMILY) {
    hints.ai_flags = AI_NUMERICSERV; /* loopback-only hosts lack ADDRCONFIG */
    rc = getaddrinfo(host, port, &hints, &res);
  }
  if (rc != 0) {
    snprintf(why, sizeof why, "host \"%s\" did not resolve: %s", host,
             rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    return bad(errbuf, errlen, rc == EAI_MEMORY ? FCGI_ENOMEM : FCGI_ERESOLVE,
               spec, why);
  }
  size_t n = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    n++;
  snprintf(text, sizeof text,
           strchr(host, ':') ? "tcp://[%s]:%s" : "tcp://%s:%s", host, port);
  fcgi_endpoint *ep = ep_alloc(n, text);
  if (!ep) {
    freeaddrinfo(res);
    return bad(errbuf, errlen, FCGI_ENOMEM, spec, "out of memory");
  }
  size_t i = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next, i++) {
    memcpy(&ep->addr[i].sa, ai->ai_addr, ai->ai_addrlen);
    ep->addr[i].len = ai->ai_addrlen;
    addr_text(ai->ai_addr, ep->addr[i].text, sizeof ep->addr[i].text);
  }
  freeaddrinfo(res);
  *out = ep;
  return FCGI_OK;
}

fcgi_err fcgi_endpoint_parse(const char *spec, fcgi_endpoint **out,
                             char *errbuf, size_t errlen) {
  if (errbuf && errlen)
    errbuf[0] = '\0';
  if (!out)
    return FCGI_EINVAL;
  *out = NULL;
  if (!spec || !spec[0])
    return bad(errbuf, errlen, FCGI_EINVAL, spec ? spec : "(null)",
               "empty endpoint (expected unix:/path, /path or host:port)");
  if (has_prefix(spec, "unix:"))
    return parse_unix(spec, spec + 5, out, errbuf, errlen);
  if (spec[0] == '/')
    return parse_unix(spec, spec, out, errbuf, errlen);
  if (has_prefix(spec, "tcp://"))
    return parse_tcp(spec, spec + 6, out, errbuf, errlen);
  if (strstr(spec, "://"))
    return bad(errbuf, errlen, FCGI_EINVAL, spec,
               "unknown scheme (expected unix: or tcp://)");
  return parse_tcp(spec, spec, out, errbuf, errlen);
}

fcgi_err fcgi_endpoint_parse_opts(const char *spec,
                                  const struct fcgi_endpoint_opts *o,
                                  fcgi_endpoint **out, char *errbuf,
                                  size_t errlen) {
  fcgi_err e = fcgi_endpoint_parse(spec, out, errbuf, errlen);
  if (e != FCGI_OK || o == NULL)
    return e;
  if (fcgi_ns_apply(*out, o) != 0) {
    fcgi_endpoint_free(*out);
    *out = NULL;
    return bad(errbuf, errlen, FCGI_ENOMEM, spec, "out of memory");
  }
  return FCGI_OK;
}

void fcgi_endpoint_free(fcgi_endpoint *ep) {
  if (!ep)
    return;
  if (ep->is_unix && ep->path != ep->text + 5)
    free(ep->path);
  free(ep->netns);
  free(ep->root);
  free(ep->text);
  free(ep);
}

const char *fcgi_endpoint_str(const fcgi_endpoint *ep) {
  return ep ? ep->text : "(null)";
}

int fcgi_endpoint_is_unix(const fcgi_endpoint *ep) {
  return ep ? ep->is_unix : 0;
}

/* ---------------------------------------------------------- cancellation */

struct fcgi_cancel {
  atomic_int flag;
  int fd;
};

fcgi_cancel *fcgi_cancel_new(void) {
  fcgi_cancel *c = malloc(sizeof *c);
  if (!c)
    return NULL;
  c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->fd < 0) {
    free(c);
    return NULL;
  }
  atomic_init(&c->flag, 0);
  return c;
}

void fcgi_cancel_trigger(fcgi_cancel *c) {
  if (!c)
    return;
  int saved = errno; /* async-signal-safe: keep the caller's errno */
  atomic_store(&c->flag, 1);
  uint64_t one = 1;
  ssize_t rc = write(c->fd, &one, sizeof one);
  (void)rc; /* only fails when the counter is saturated: still readable */
  errno = saved;
}

void fcgi_cancel_reset(fcgi_cancel *c) {
  if (!c)
    return;
  atomic_store(&c->flag, 0);
  uint64_t v;
  ssize_t rc = read(c->fd, &v, sizeof v);
  (void)rc; /* EAGAIN when it was not triggered */
}

int fcgi_cancel_is_triggered(const fcgi_cancel *c) {
  return c ? atomic_load(&c->flag) : 0;
}

void fcgi_cancel_free(fcgi_cancel *c) {
  if (!c)
    return;
  close(c->fd);
  free(c);
}

int fcgi_cancel_fd(const fcgi_cancel *c) {
  return c ? c->fd : -1;
}

/* --------------------------------------------------------------- sockets */

int fcgi_net_connect(const fcgi_endpoint *ep, size_t i, int *fd) {
  const struct fcgi_endpoint_addr *a = &ep->addr[i];
  if (ep->netns != NULL || ep->root != NULL)
    return fcgi_ns_connect(ep, i, fd);
  *fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0)
    return errno;
  if (connect(*fd, (const struct sockaddr *)&a->sa, a->len) == 0)
    return 0;
  return errno == EINTR ? EINPROGRESS : errno;
}

int fcgi_net_connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return errno;
  return err;
}

int fcgi_net_send(int fd, const void *buf, size_t len, size_t *sent) {
  *sent = 0;
  for (;;) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0) {
      *sent = (size_t)n;
      return 0;
    }
    if (errno == EINTR)
      continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
  }
}

int fcgi_net_recv(int fd, void *buf, size_t cap, size_t *got) {
  *got = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n >= 0) {
      *got = (size_t)n;
      return 0;
    }
    if (errno == EINTR)
      continue;
    return errno == EWOULDBLOCK ? EAGAIN : errno;
  }
}

void fcgi_net_close(int fd) {
  if (fd >= 0)
    close(fd);
}

int fcgi_net_poll(struct pollfd *fds, size_t n, int timeout_ms) {
  int rc = poll(fds, (nfds_t)n, timeout_ms);
  return rc < 0 ? 0 : rc; /* EINTR (or ENOMEM): the caller loops */
}

int fcgi_net_idle_usable(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  int rc;
  do
    rc = poll(&p, 1, 0);
  while (rc < 0 && errno == EINTR);
  return rc == 0;
}

int64_t fcgi_net_realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void fcgi_net_random(void *buf, size_t len) {
  uint8_t *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t n = getrandom(p + got, len - got, GRND_NONBLOCK);
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  if (got == len)
    return;
  uint64_t x = (uint64_t)fcgi_net_realtime_ns() ^ (uint64_t)(uintptr_t)buf;
  for (; got < len; got++) { /* splitmix64 over what is left */
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    p[got] = (uint8_t)(z ^ (z >> 31));
  }
}

/* ------------------------------------------------------ error sentences */

static void owner_text(const struct stat *st, char *buf, size_t len) {
  char pwbuf[1024], grbuf[1024];
  struct passwd pw, *pwp = NULL;
  struct group gr, *grp = NULL;
  char u[64], g[64];
  if (getpwuid_r(st->st_uid, &pw, pwbuf, sizeof pwbuf, &pwp) == 0 && pwp)
    snprintf(u, sizeof u, "%s", pw.pw_name);
  else
    snprintf(u, sizeof u, "%u", (unsigned)st->st_uid);
  if (getgrgid_r(st->st_gid, &gr, grbuf, sizeof grbuf, &grp) == 0 && grp)
    snprintf(g, sizeof g, "%s", gr.gr_name);
  else
    snprintf(g, sizeof g, "%u", (unsigned)st->st_gid);
  snprintf(buf, len, "owner %s:%s mode %04o", u, g,
           (unsigned)(st->st_mode & 07777));
}

static const char *ep_path(const fcgi_endpoint *ep) {
  return ep->path;
}

static fcgi_err explain_enoent(const fcgi_endpoint *ep, char *msg, size_t len) {
  const char *path = ep_path(ep);
  char dir[128];
  const char *slash = strrchr(path, '/');
  size_t dl = slash ? (size_t)(slash - path) : 0;
  struct stat st;
  if (dl >= sizeof dir)
    dl = sizeof dir - 1;
  memcpy(dir, path, dl);
  dir[dl] = '\0';
  if (slash && dl > 0 && stat(dir, &st) != 0 && errno == ENOENT)
    snprintf(msg, len,
             "%s: no such socket, and its directory %s does not exist "
             "either; is php-fpm running with this listen path?",
             ep->text, dir);
  else
    snprintf(msg, len,
             "%s: no such socket; is php-fpm running and is this its listen "
             "path?",
             ep->text);
  return FCGI_ENOENT;
}

static fcgi_err explain_eacces(const fcgi_endpoint *ep, char *msg, size_t len) {
  struct stat st;
  char own[256];
  if (stat(ep_path(ep), &st) == 0)
    owner_text(&st, own, sizeof own);
  else
    snprintf(own, sizeof own,
             "cannot stat it: %s (a directory on the path is not searchable)",
             strerror(errno));
  snprintf(msg, len,
           "%s: permission denied (socket %s; this process runs as uid %u "
           "gid %u); run as a user in the socket's group, or set "
           "listen.owner, listen.group and listen.mode in the pool",
           ep->text, own, (unsigned)geteuid(), (unsigned)getegid());
  return FCGI_EACCES;
}

fcgi_err fcgi_net_explain_connect(const fcgi_endpoint *ep, size_t i, int rc,
                                  char *msg, size_t len) {
  char where[160], ebuf[128];
  if (ep->is_unix)
    snprintf(where, sizeof where, "%s", ep->text);
  else
    snprintf(where, sizeof where, "%s (%s)", ep->text, ep->addr[i].text);
  const char *etext = strerror_r(rc, ebuf, sizeof ebuf);
  if (rc == EMFILE || rc == ENFILE) { /* the same in a container */
    snprintf(msg, len, "%s: socket: %s", where, etext);
    return FCGI_ENOFILES;
  }
  if (ep->netns != NULL || ep->root != NULL) /* no host-side hints */
    return fcgi_ns_explain(ep, rc, msg, len);
  switch (rc) {
  case ENOENT:
    if (ep->is_unix)
      return explain_enoent(ep, msg, len);
    break;
  case EACCES:
  case EPERM:
    if (ep->is_unix)
      return explain_eacces(ep, msg, len);
    snprintf(msg, len, "%s: connect: %s", where, etext);
    return FCGI_EACCES;
  case ECONNREFUSED:
    snprintf(msg, len,
             "%s: connection refused: nobody is listening; is php-fpm "
             "running?%s",
             where, ep->is_unix ? " (the socket file may be stale)" : "");
    return FCGI_ECONNREFUSED;
  case EAGAIN:
    if (ep->is_unix) {
      snprintf(msg, len,
               "%s: listen backlog full: every worker busy and the queue "
               "full (see listen.backlog and pm.max_children)",
               where);
      return FCGI_EBACKLOG;
    }
    break;
  case ENOMEM:
  case ENOBUFS:
    snprintf(msg, len, "%s: connect: out of memory (%s)", where, etext);
    return FCGI_ENOMEM;
  default:
    break;
  }
  snprintf(msg, len, "%s: connect: %s", where, etext);
  return FCGI_ECONNECT;
}
