/*
 * perl_server.h: start one of the Perl FastCGI servers in tests/servers
 * (naf_server.pl, fcgi_server.pl) on a unix socket in a fresh temp dir,
 * wait for its "READY" line (read from a pipe, bounded by a deadline),
 * and stop it by PID. Header-only (static functions) so that tests and
 * bench programs can share it without a library.
 */
#ifndef FPMT_PERL_SERVER_H
#define FPMT_PERL_SERVER_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct perl_server {
  pid_t pid;
  char dir[64];
  char path[128];
  char spec[160]; /* "unix:/tmp/..../s.sock" */
};

/* script: a file name under source_dir/tests/servers. 0 or -1 (message on
 * stderr). Waits up to 10 s for READY. */
static int perl_server_start(struct perl_server *s, const char *source_dir,
                             const char *script) {
  char prog[1024];
  int fds[2];
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/fpmt-perl.XXXXXX");
  if (!mkdtemp(s->dir) || pipe(fds) < 0)
    return -1;
  snprintf(s->path, sizeof s->path, "%s/s.sock", s->dir);
  snprintf(s->spec, sizeof s->spec, "unix:%s", s->path);
  snprintf(prog, sizeof prog, "%s/tests/servers/%s", source_dir, script);
  s->pid = fork();
  if (s->pid < 0)
    return -1;
  if (s->pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a failed test */
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execlp("perl", "perl", prog, s->path, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char buf[256];
  size_t have = 0;
  struct pollfd p = {fds[0], POLLIN, 0};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long left = 10000 - ((t1.tv_sec - t0.tv_sec) * 1000 +
                         (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0 || poll(&p, 1, (int)left) <= 0)
      break;
    ssize_t n = read(fds[0], buf + have, sizeof buf - 1 - have);
    if (n <= 0)
      break;
    have += (size_t)n;
    buf[have] = '\0';
    if (strstr(buf, "READY\n")) {
      close(fds[0]); /* the servers print nothing after READY */
      return 0;
    }
  }
  close(fds[0]);
  fprintf(stderr, "perl_server: %s did not print READY within 10 s\n", prog);
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
  return -1;
}

static void perl_server_stop(struct perl_server *s) {
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
  }
  unlink(s->path);
  rmdir(s->dir);
}

#endif /* FPMT_PERL_SERVER_H */
