/*
 * hostile_fcgi.h: a scripted, misbehaving FastCGI server for tests.
 *
 * hostile_fcgi_start() makes a listener (unix socket in a fresh temp dir,
 * or loopback TCP on a free port) and forks a child that accepts
 * connections one after another and plays the named scenario on each,
 * until hostile_fcgi_stop() kills it by PID (or hostile_fcgi_stop_all()
 * after a failed test, or its own death guards: see
 * hostile_fcgi_child_guard). The listener exists before start returns, so
 * no readiness wait is needed. hostile_fcgi_serve() is
 * the same loop for the standalone tests/tools/hostile_fcgi program.
 *
 * Scenarios (hostile_fcgi_scenarios() lists them): ok (php-fpm style: no
 * empty STDOUT record, END_REQUEST ends it; no_terminator is the same),
 * terminator, stderr_first, empty_stdout_mid, after_end, padding, mgmt, echo,
 * big, hang, trickle, close_mid, close_early, flood, stderr_flood,
 * header_flood, bad_version, bad_type, client_type, other_id, short_end,
 * bad_protocol_status, garbage, bad_status_header, overloaded, cantmpx,
 * unknownrole, slam (close at accept, request unread), and
 * "replay:/path/to/capture.response.fcgi" (send a captured stream as is,
 * then close).
 */
#ifndef FPMT_HOSTILE_FCGI_H
#define FPMT_HOSTILE_FCGI_H

#include <stddef.h>
#include <sys/types.h>

struct hostile_fcgi {
  pid_t pid;
  int port;       /* TCP port, 0 for unix */
  char dir[64];   /* temp dir holding the unix socket ("" for TCP) */
  char path[108]; /* unix socket path */
  char spec[160]; /* endpoint text for fcgi_endpoint_parse */
};

/* A server child lives at most this long (SIGALRM), even when its parent
 * is alive but stuck: no fake peer waits forever. */
#define HOSTILE_FCGI_MAX_LIFE_S 300

/* 0 on success, -1 (errno set) on failure. tcp: 0 = unix socket. The child
 * runs under hostile_fcgi_child_guard(). Not thread-safe: start and stop
 * servers from the thread that runs the tests (the child dies when the
 * thread that forked it ends, see hostile_fcgi_child_guard). */
int hostile_fcgi_start(struct hostile_fcgi *h, const char *scenario, int tcp);
/* Kill the child by PID, wait for it, remove the socket and its dir. */
void hostile_fcgi_stop(struct hostile_fcgi *h);
/* Stop every server started and not stopped yet (a test that failed
 * half-way never reached its hostile_fcgi_stop); returns how many. For a
 * cmocka teardown. */
size_t hostile_fcgi_stop_all(void);

/* For a test's own forked child, first thing after fork(): it gets SIGKILL
 * when the thread that forked it ends (PR_SET_PDEATHSIG; _exit at once when
 * parent, the getpid() taken before fork, is already gone), SIGALRM after
 * HOSTILE_FCGI_MAX_LIFE_S, stdin/stdout/stderr on /dev/null, and every other
 * descriptor but keep_fd closed (-1: keep none). So it never outlives the
 * test, never holds a test runner's output pipe open, and never holds a
 * client socket that another peer waits on. */
void hostile_fcgi_child_guard(pid_t parent, int keep_fd);

/* Listener helpers: a unix listener at path (backlog as given), or a TCP
 * listener on 127.0.0.1 (*port 0 picks a free one and stores it). -1 on
 * error. */
int hostile_fcgi_listen_unix(const char *path, int backlog);
int hostile_fcgi_listen_tcp(int *port);
/* Accept and play scenario on each connection until killed; returns -1 at
 * once for an unknown scenario. */
int hostile_fcgi_serve(int listen_fd, const char *scenario);
/* NULL-terminated list of scenario names. */
const char *const *hostile_fcgi_scenarios(void);

#endif /* FPMT_HOSTILE_FCGI_H */
