/*
 * fcgi_ns.c: reaching an endpoint that lives in another namespace (a
 * container). Two independent options of an endpoint (fcgi.h,
 * struct fcgi_endpoint_opts):
 *
 *  - netns: the socket is created inside a network namespace. A socket
 *    belongs to the namespace of the thread that creates it and stays
 *    there, so the calling thread enters the namespace (setns), creates the
 *    socket and goes back to its own namespace at once; connect, send and
 *    receive then run as usual. Entering needs CAP_SYS_ADMIN.
 *  - root: a unix socket path is resolved inside a directory as if it were
 *    "/" (openat2 with RESOLVE_IN_ROOT, at every connect), so an absolute
 *    symbolic link or ".." in the path never leads out of it (openat_root.h:
 *    the same walk where the kernel has no openat2). The socket is
 *    then connected through /proc/self/fd/N of the O_PATH descriptor: the
 *    kernel connects to exactly the inode that was resolved.
 *
 * Nothing here knows about PHP-FPM.
 */
#include "fcgi_net.h"
#include "openat_root.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

int fcgi_ns_apply(fcgi_endpoint *ep, const struct fcgi_endpoint_opts *o) {
  if (o->netns != NULL && (ep->netns = dup_str(o->netns)) == NULL)
    return -1;
  if (o->root != NULL && ep->is_unix) {
    if ((ep->root = dup_str(o->root)) == NULL ||
        (ep->path = dup_str(ep->text + 5)) == NULL)
      return -1;
  }
  const char *tag = o->tag != NULL ? o->tag : ep->netns;
  if (tag == NULL && ep->root != NULL)
    tag = ep->root;
  if (tag == NULL)
    return 0;
  size_t n = strlen(ep->text) + strlen(tag) + 2;
  char *text = malloc(n);
  if (text == NULL)
    return -1;
  snprintf(text, n, "%s@%s", ep->text, tag);
  if (ep->is_unix && ep->path == ep->text + 5) {
    char *path = dup_str(ep->text + 5);
    if (path == NULL) {
      free(text);
      return -1;
    }
    ep->path = path;
  }
  free(ep->text);
  ep->text = text;
  return 0;
}

/* socket(2) inside the network namespace ep->netns. Returns the socket or
 * -1 with errno set (EPERM: not allowed to enter it). */
static int socket_in_netns(const char *netns, int family) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return -1;
  int target = open(netns, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(self);
    errno = e;
    return -1;
  }
  int fd = -1, e = 0;
  if (setns(target, CLONE_NEWNET) != 0) {
    e = errno;
  } else {
    fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    e = fd < 0 ? errno : 0;
    if (setns(self, CLONE_NEWNET) != 0) {
      /* Entering worked, so leaving with the same rights must too; a
       * thread left in a container's namespace would connect every later
       * socket there: stop rather than go on. */
      abort();
    }
  }
  close(target);
  close(self);
  errno = e;
  return fd;
}

/* An O_PATH descriptor of ep->path resolved inside ep->root, or -1 with
 * errno set. */
static int open_in_root(const fcgi_endpoint *ep) {
  int root = open(ep->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return -1;
  int fd = openat_root(root, ep->path, O_PATH);
  int e = errno;
  close(root);
  if (fd < 0) {
    errno = e;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    close(fd);
    errno = ENOTSOCK;
    return -1;
  }
  return fd;
}

int fcgi_ns_connect(const fcgi_endpoint *ep, size_t i, int *fd) {
  const struct fcgi_endpoint_addr *a = &ep->addr[i];
  if (ep->netns != NULL)
    *fd = socket_in_netns(ep->netns, a->sa.ss_family);
  else
    *fd =
        socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0)
    return errno;
  if (!ep->is_unix || ep->root == NULL) {
    if (connect(*fd, (const struct sockaddr *)&a->sa, a->len) == 0)
      return 0;
    return errno == EINTR ? EINPROGRESS : errno;
  }
  int pfd = open_in_root(ep);
  if (pfd < 0)
    return errno;
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "/proc/self/fd/%d", pfd);
  int rc =
      connect(*fd, (const struct sockaddr *)&sun, sizeof sun) == 0 ? 0 : errno;
  close(pfd);
  return rc == EINTR ? EINPROGRESS : rc;
}

fcgi_err fcgi_ns_explain(const fcgi_endpoint *ep, int rc, char *msg,
                         size_t len) {
  char ebuf[128];
  const char *etext = strerror_r(rc, ebuf, sizeof ebuf);
  if (ep->netns != NULL && (rc == EPERM || rc == EACCES)) {
    snprintf(msg, len,
             "%s: cannot enter the network namespace %s to connect (%s): "
             "this needs root (CAP_SYS_ADMIN); run as root, or make the pool "
             "listen on a unix socket or a port published to the host",
             ep->text, ep->netns, etext);
    return FCGI_EACCES;
  }
  switch (rc) {
  case ENOENT:
    snprintf(msg, len,
             "%s: no such socket (or the namespace is gone); is php-fpm "
             "still running there?",
             ep->text);
    return FCGI_ENOENT;
  case EACCES:
  case EPERM:
    snprintf(msg, len, "%s: permission denied: %s", ep->text, etext);
    return FCGI_EACCES;
  case ECONNREFUSED:
    snprintf(msg, len,
             "%s: connection refused: nobody is listening; is php-fpm "
             "running?",
             ep->text);
    return FCGI_ECONNREFUSED;
  case EAGAIN:
    if (ep->is_unix) {
      snprintf(msg, len,
               "%s: listen backlog full: every worker busy and the queue "
               "full (see listen.backlog and pm.max_children)",
               ep->text);
      return FCGI_EBACKLOG;
    }
    break;
  default:
    break;
  }
  snprintf(msg, len, "%s: connect: %s", ep->text, etext);
  return FCGI_ECONNECT;
}
