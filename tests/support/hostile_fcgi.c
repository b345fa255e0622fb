/*
 * hostile_fcgi.c: scripted FastCGI server for the client's tests (see
 * hostile_fcgi.h). It frames records itself, independent of the library
 * under test, and serves in a forked child so that its memory and its
 * blocking calls never touch the test process.
 */
#include "hostile_fcgi.h"
#include "fcgi_testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HDR "Content-Type: text/plain\r\n\r\n"

static const char *const scenarios[] = {"ok",
                                        "terminator",
                                        "stderr_first",
                                        "empty_stdout_mid",
                                        "after_end",
                                        "padding",
                                        "mgmt",
                                        "echo",
                                        "big",
                                        "hang",
                                        "trickle",
                                        "close_mid",
                                        "close_early",
                                        "flood",
                                        "stderr_flood",
                                        "header_flood",
                                        "bad_version",
                                        "bad_type",
                                        "client_type",
                                        "other_id",
                                        "short_end",
                                        "bad_protocol_status",
                                        "garbage",
                                        "bad_status_header",
                                        "overloaded",
                                        "cantmpx",
                                        "unknownrole",
                                        "slam",
                                        "no_terminator",
                                        NULL};

const char *const *hostile_fcgi_scenarios(void) {
  return scenarios;
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* One record with explicit version and padding. */
static int rec_raw(int fd, int version, int type, int id, const void *content,
                   size_t len, size_t pad) {
  uint8_t h[8] = {
      (uint8_t)version,    (uint8_t)type, (uint8_t)(id >> 8), (uint8_t)id,
      (uint8_t)(len >> 8), (uint8_t)len,  (uint8_t)pad,       0};
  static const uint8_t zeros[256];
  if (write_all(fd, h, 8) || (len && write_all(fd, content, len)))
    return -1;
  return pad ? write_all(fd, zeros, pad) : 0;
}

static int rec(int fd, int type, int id, const void *content, size_t len) {
  return rec_raw(fd, 1, type, id, content, len, (8 - len % 8) % 8);
}

static int rec_str(int fd, int type, const char *s) {
  return rec(fd, type, 1, s, strlen(s));
}

static int end_request(int fd, int id, int protocol_status, size_t len) {
  uint8_t b[8] = {0, 0, 0, 0, (uint8_t)protocol_status, 0, 0, 0};
  return rec(fd, 3, id, b, len);
}

/* Read the request up to its empty STDIN record; the STDIN bytes go into
 * *body (malloc'ed) when body is not NULL. */
static int read_request(int fd, uint8_t **body, size_t *body_len) {
  size_t cap = 0, len = 0;
  uint8_t *b = NULL, content[65536 + 256];
  for (;;) {
    uint8_t h[8];
    if (fcgit_read_full(fd, h, 8))
      break;
    size_t clen = ((size_t)h[4] << 8) | h[5], plen = h[6];
    if (fcgit_read_full(fd, content, clen + plen))
      break;
    if (h[1] == 5 && clen == 0) {
      if (body) {
        *body = b;
        *body_len = len;
      } else {
        free(b);
      }
      return 0;
    }
    if (h[1] == 5 && body) {
      if (len + clen > cap) {
        cap = (len + clen) * 2;
        uint8_t *nb = realloc(b, cap);
        if (!nb)
          break;
        b = nb;
      }
      memcpy(b + len, content, clen);
      len += clen;
    }
  }
  free(b);
  return -1;
}

static void drain_until_eof(int fd) {
  char buf[4096];
  while (read(fd, buf, sizeof buf) > 0)
    ;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static int play_flood(int fd, int type, size_t total, const char *prefix) {
  const size_t n = 65528;
  char *chunk = malloc(n);
  int rc = -1;
  if (!chunk)
    return -1;
  memset(chunk, 'x', n);
  if (prefix && rec_str(fd, 6, prefix))
    goto out;
  for (size_t sent = 0; sent < total; sent += n)
    if (rec_raw(fd, 1, type, 1, chunk, n, 0))
      goto out;
  rc = end_request(fd, 1, 0, 8);
out:
  free(chunk);
  return rc;
}

static int play_echo(int fd, const uint8_t *body, size_t len) {
  char head[128];
  snprintf(head, sizeof head,
           "Content-Type: application/octet-stream\r\n"
           "X-Echo-Length: %zu\r\n\r\n",
           len);
  if (rec_str(fd, 6, head))
    return -1;
  for (size_t o = 0; o < len; o += 65528) {
    size_t n = len - o < 65528 ? len - o : 65528;
    if (rec(fd, 6, 1, body + o, n))
      return -1;
  }
  return end_request(fd, 1, 0, 8);
}

static int play_trickle(int fd) {
  const char *msg = HDR "this response arrives one byte every 50 ms";
  uint8_t h[8] = {1, 6, 0, 1, 0x10, 0, 0, 0}; /* declares 4096 bytes */
  if (write_all(fd, h, sizeof h))
    return -1;
  for (size_t i = 0;; i++) {
    if (write_all(fd, msg + i % strlen(msg), 1))
      return -1;
    sleep_ms(50);
  }
}

/* Send a captured byte stream as it is. */
static void play_replay(int fd, const char *path) {
  FILE *f = fopen(path, "rb");
  char buf[8192];
  size_t n;
  if (!f)
    return;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    if (write_all(fd, buf, n))
      break;
  fclose(f);
}

/* Well-formed scenarios: return -1 when the client went away. */
static int play_good(int fd, const char *s) {
  if (!strcmp(s, "ok") || !strcmp(s, "no_terminator"))
    return rec_str(fd, 6, HDR "hello") || end_request(fd, 1, 0, 8);
  if (!strcmp(s, "terminator"))
    return rec_str(fd, 6, HDR "hello") || rec(fd, 6, 1, NULL, 0) ||
           rec(fd, 7, 1, NULL, 0) || end_request(fd, 1, 0, 8);
  if (!strcmp(s, "stderr_first"))
    return rec_str(fd, 7, "PHP message: early warning") ||
           rec_str(fd, 6, HDR "first ") || rec_str(fd, 7, "; second") ||
           rec_str(fd, 6, "second") || end_request(fd, 1, 0, 8);
  if (!strcmp(s, "empty_stdout_mid"))
    return rec_str(fd, 6, "Status: 200 OK\r\n" HDR "first") ||
           rec(fd, 6, 1, NULL, 0) || rec_str(fd, 6, "second") ||
           end_request(fd, 1, 0, 8);
  if (!strcmp(s, "after_end"))
    return rec_str(fd, 6, HDR "hello") || end_request(fd, 1, 0, 8) ||
           rec_str(fd, 6, "after the end") || rec(fd, 99, 7, "zz", 2) ||
           write_all(fd, "garbage", 7);
  if (!strcmp(s, "padding"))
    return rec_raw(fd, 1, 6, 1, "Content-Type: a/b\r\n", 19, 255) ||
           rec_raw(fd, 1, 6, 1, "\r\nbody", 6, 0) ||
           rec_raw(fd, 1, 6, 1, "!", 1, 3) ||
           rec_raw(fd, 1, 3, 1, "\0\0\0\0\0\0\0\0", 8, 255);
  if (!strcmp(s, "mgmt"))
    return rec(fd, 11, 0, "\x63\0\0\0\0\0\0\0", 8) ||
           rec(fd, 10, 0,
               "\x0f\x01"
               "FCGI_MPXS_CONNS0",
               18) ||
           rec_str(fd, 6, HDR "hello") || end_request(fd, 1, 0, 8);
  if (!strcmp(s, "overloaded"))
    return end_request(fd, 1, 2, 8);
  if (!strcmp(s, "cantmpx"))
    return end_request(fd, 1, 1, 8);
  if (!strcmp(s, "unknownrole"))
    return end_request(fd, 1, 3, 8);
  if (!strcmp(s, "bad_status_header"))
    return rec_str(fd, 6, "Status: abc\r\n" HDR "x") ||
           end_request(fd, 1, 0, 8);
  return 1;
}

static int play_malformed(int fd, const char *s) {
  if (!strcmp(s, "bad_version"))
    return rec_raw(fd, 2, 6, 1, HDR "x", strlen(HDR) + 1, 0) ||
           end_request(fd, 1, 0, 8);
  if (!strcmp(s, "bad_type"))
    return rec_str(fd, 6, HDR "x") || rec(fd, 99, 1, "abc", 3) ||
           end_request(fd, 1, 0, 8);
  if (!strcmp(s, "client_type"))
    return rec(fd, 1, 1, "\0\1\0\0\0\0\0\0", 8) || end_request(fd, 1, 0, 8);
  if (!strcmp(s, "other_id"))
    return rec(fd, 6, 2, HDR "x", strlen(HDR) + 1) || end_request(fd, 2, 0, 8);
  if (!strcmp(s, "short_end"))
    return rec_str(fd, 6, HDR "x") || end_request(fd, 1, 0, 4);
  if (!strcmp(s, "bad_protocol_status"))
    return rec_str(fd, 6, HDR "x") || end_request(fd, 1, 7, 8);
  if (!strcmp(s, "garbage"))
    return write_all(fd, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
  return 1;
}

static void play(int fd, const char *s) {
  uint8_t *body = NULL;
  size_t body_len = 0;
  if (!strcmp(s, "hang")) {
    drain_until_eof(fd);
    return;
  }
  if (!strcmp(s, "slam")) /* close at once, request unread */
    return;
  if (!strncmp(s, "replay:", 7)) {
    if (read_request(fd, NULL, NULL) == 0)
      play_replay(fd, s + 7);
    return; /* close right after, as php-fpm does */
  }
  if (read_request(fd, &body, &body_len) < 0)
    return;
  int rc = play_good(fd, s);
  if (rc == 1)
    rc = play_malformed(fd, s);
  if (rc != 1)
    goto out;
  if (!strcmp(s, "echo"))
    play_echo(fd, body, body_len);
  else if (!strcmp(s, "big"))
    play_flood(fd, 6, 1 << 20, HDR);
  else if (!strcmp(s, "trickle"))
    play_trickle(fd);
  else if (!strcmp(s, "close_mid") && !rec_str(fd, 6, HDR "partial"))
    write_all(fd,
              "\1\6\0\1\0\144\0\0"
              "0123456789",
              18);
  else if (!strcmp(s, "flood"))
    play_flood(fd, 6, (size_t)200 << 20, HDR);
  else if (!strcmp(s, "stderr_flood"))
    play_flood(fd, 7, (size_t)1 << 20, NULL);
  else if (!strcmp(s, "header_flood"))
    play_flood(fd, 6, (size_t)1 << 20, "X-Long: ");
  /* close_early: nothing to send */
out:
  free(body);
  if (strncmp(s, "close_", 6) != 0)
    drain_until_eof(fd);
}

static int known(const char *s) {
  if (strncmp(s, "replay:", 7) == 0)
    return s[7] != '\0';
  for (const char *const *p = scenarios; *p; p++)
    if (!strcmp(*p, s))
      return 1;
  return 0;
}

int hostile_fcgi_serve(int listen_fd, const char *scenario) {
  if (!known(scenario))
    return -1;
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      return -1;
    }
    play(fd, scenario);
    close(fd);
  }
}

int hostile_fcgi_listen_unix(const char *path, int backlog) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sun.sun_path)
    return -1;
  memcpy(sun.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
      listen(fd, backlog) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int hostile_fcgi_listen_tcp(int *port) {
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)*port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sin;
  int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 16) < 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(sin.sin_port);
  return fd;
}

/* The servers started and not stopped yet, so that a test that failed
 * half-way (cmocka leaves the test function at the failed assertion) can
 * still have its children stopped by hostile_fcgi_stop_all(). */
#define MAX_LIVE 64
static struct hostile_fcgi live[MAX_LIVE];

static void live_add(const struct hostile_fcgi *h) {
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (live[i].pid == 0) {
      live[i] = *h;
      return;
    }
}

static void live_del(pid_t pid) {
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (live[i].pid == pid)
      live[i].pid = 0;
}

static size_t live_count(void) {
  size_t n = 0;
  for (size_t i = 0; i < MAX_LIVE; i++)
    n += live[i].pid != 0;
  return n;
}

void hostile_fcgi_child_guard(pid_t parent, int keep_fd) {
  /* die with the parent; it may have died before the prctl */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
    _exit(1);
  /* and on its own after a while, whatever the parent does */
  sigset_t all;
  sigfillset(&all);
  signal(SIGALRM, SIG_DFL);
  sigprocmask(SIG_UNBLOCK, &all, NULL);
  alarm(HOSTILE_FCGI_MAX_LIFE_S);
  /* hold none of the parent's descriptors: not the runner's output pipes
   * (a runner waits for them to close) and not the client sockets of other
   * tests (a peer waiting for their EOF would wait forever) */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3 && null >= 0; fd++)
    if (fd != keep_fd)
      dup2(null, fd);
  if (null > 2)
    close(null);
  if (keep_fd > 3)
    close_range(3, (unsigned)keep_fd - 1, 0);
  close_range(keep_fd > 2 ? (unsigned)keep_fd + 1 : 3, ~0U, 0);
}

int hostile_fcgi_start(struct hostile_fcgi *h, const char *scenario, int tcp) {
  memset(h, 0, sizeof *h);
  int fd;
  if (!known(scenario)) {
    errno = EINVAL;
    return -1;
  }
  if (live_count() == MAX_LIVE) {
    errno = EMFILE;
    return -1;
  }
  if (tcp) {
    fd = hostile_fcgi_listen_tcp(&h->port);
    if (fd >= 0 && strcmp(scenario, "slam") == 0) {
      /* the request it never reads must not fit in its receive buffer
       * (which the connection takes over from the listener): a slow
       * accept on a loaded machine must not let the client's send end */
      int small = 4096;
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    snprintf(h->spec, sizeof h->spec, "127.0.0.1:%d", h->port);
  } else {
    snprintf(h->dir, sizeof h->dir, "/tmp/hostile_fcgi.XXXXXX");
    if (!mkdtemp(h->dir))
      return -1;
    snprintf(h->path, sizeof h->path, "%s/s.sock", h->dir);
    fd = hostile_fcgi_listen_unix(h->path, 16);
    snprintf(h->spec, sizeof h->spec, "unix:%s", h->path);
  }
  if (fd < 0) {
    int e = errno;
    hostile_fcgi_stop(h);
    errno = e;
    return -1;
  }
  pid_t parent = getpid();
  h->pid = fork();
  if (h->pid == 0) {
    hostile_fcgi_child_guard(parent, fd);
    hostile_fcgi_serve(fd, scenario);
    _exit(1);
  }
  int e = errno;
  close(fd);
  if (h->pid < 0) {
    h->pid = 0;
    hostile_fcgi_stop(h);
    errno = e;
    return -1;
  }
  live_add(h);
  return 0;
}

void hostile_fcgi_stop(struct hostile_fcgi *h) {
  if (h->pid > 0) {
    kill(h->pid, SIGKILL);
    while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
      ; /* a signal must not leave a zombie behind */
    live_del(h->pid);
    h->pid = 0;
  }
  if (h->path[0])
    unlink(h->path);
  if (h->dir[0])
    rmdir(h->dir);
  h->path[0] = h->dir[0] = '\0';
}

size_t hostile_fcgi_stop_all(void) {
  size_t n = 0;
  for (size_t i = 0; i < MAX_LIVE; i++)
    if (live[i].pid != 0) {
      struct hostile_fcgi h = live[i];
      hostile_fcgi_stop(&h);
      n++;
    }
  return n;
}
