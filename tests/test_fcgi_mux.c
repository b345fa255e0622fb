/*
 * test_fcgi_mux.c: the multiplexing engine against a scripted server
 * (forked here) that says FCGI_MPXS_CONNS=1: a request past its deadline
 * gets FCGI_ABORT_REQUEST for its id on the shared connection, its late
 * answer is dropped and the other request is unharmed; a record for an id
 * that is not in flight is a protocol error for the connection.
 */
#include "fcgi.h"
#include "fcgi_testutil.h"
#include "hostile_fcgi.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static void put(int fd, int type, int id, const void *c, size_t n) {
  uint8_t h[8] = {1,
                  (uint8_t)type,
                  (uint8_t)(id >> 8),
                  (uint8_t)id,
                  (uint8_t)(n >> 8),
                  (uint8_t)n,
                  0,
                  0};
  if (write(fd, h, 8) != 8 || (n && write(fd, c, n) != (ssize_t)n))
    _exit(1);
}

static void reply(int fd, int id, const char *tag) {
  char body[128];
  int n =
      snprintf(body, sizeof body, "Content-Type: text/plain\r\n\r\n%s\n", tag);
  put(fd, 6, id, body, (size_t)n);
  uint8_t end[8] = {0};
  put(fd, 3, id, end, 8);
}

/* Read one record; its type and id. -1 at EOF. */
static int next_record(int fd, int *id, uint8_t *content, size_t *clen) {
  uint8_t h[8];
  if (fcgit_read_full(fd, h, 8))
    return -1;
  *clen = ((size_t)h[4] << 8) | h[5];
  if (fcgit_read_full(fd, content, *clen + h[6]))
    return -1;
  *id = (h[2] << 8) | h[3];
  return h[1];
}

/* mode 0: wait for an ABORT, report its id on out_fd, answer the aborted
 * id late, then the other. mode 1: answer with an id nobody sent. */
static void serve(int lfd, int out_fd, int mode) {
  static uint8_t content[65536 + 256];
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
      continue;
    int ids[2], nbegun = 0, ncomplete = 0, type, id;
    size_t clen;
    while ((type = next_record(fd, &id, content, &clen)) >= 0) {
      if (type == 9) { /* GET_VALUES: we multiplex */
        uint8_t nv[] = {15,  1,   'F', 'C', 'G', 'I', '_', 'M', 'P',
                        'X', 'S', '_', 'C', 'O', 'N', 'N', 'S', '1'};
        put(fd, 10, 0, nv, sizeof nv);
      } else if (type == 1 && nbegun < 2) {
        ids[nbegun++] = id;
      } else if (type == 5 && clen == 0 && ++ncomplete == 2) {
        if (mode == 1) {
          reply(fd, 999, "stranger");
          continue;
        }
      } else if (type == 2) {
        if (write(out_fd, &id, sizeof id) != sizeof id)
          _exit(1);
        reply(fd, id, "late");
        reply(fd, id == ids[0] ? ids[1] : ids[0], "other");
      }
    }
    close(fd);
  }
}

struct rig {
  pid_t pid;
  int pipe_rd;
  char dir[64], path[128], spec[160];
  fcgi_endpoint *ep;
  fcgi_client *cl;
  fcgi_request *rq;
};

static void rig_start(struct rig *g, int mode) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  snprintf(g->dir, sizeof g->dir, "/tmp/fpmt-mux.XXXXXX");
  assert_non_null(mkdtemp(g->dir));
  snprintf(g->path, sizeof g->path, "%s/s.sock", g->dir);
  snprintf(g->spec, sizeof g->spec, "unix:%s", g->path);
  int lfd = hostile_fcgi_listen_unix(g->path, 16);
  assert_true(lfd >= 0);
  g->pid = fork();
  assert_true(g->pid >= 0);
  if (g->pid == 0) {
    close(p[0]);
    serve(lfd, p[1], mode);
    _exit(0);
  }
  close(lfd);
  close(p[1]);
  g->pipe_rd = p[0];
  assert_int_equal(fcgi_endpoint_parse(g->spec, &g->ep, NULL, 0), FCGI_OK);
  g->cl = fcgi_client_new(NULL);
  g->rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(g->rq, "SCRIPT_NAME", "/x");
}

static void rig_stop(struct rig *g) {
  kill(g->pid, SIGKILL);
  waitpid(g->pid, NULL, 0);
  close(g->pipe_rd);
  unlink(g->path);
  rmdir(g->dir);
  fcgi_request_free(g->rq);
  fcgi_client_free(g->cl);
  fcgi_endpoint_free(g->ep);
}

struct traced {
  int n;
  struct fcgi_trace t[4];
};

static void on_trace(void *ud, const struct fcgi_trace *t) {
  struct traced *tr = ud;
  if (tr->n < 4)
    tr->t[tr->n++] = *t;
}

static void run_two(struct rig *g, struct fcgi_response r[2], struct traced *tr,
                    int64_t first_deadline) {
  fcgi_multi *m = fcgi_multi_new_client(g->cl);
  for (int i = 0; i < 2; i++) {
    struct fcgi_call_opts o = {0};
    o.multiplex = FCGI_MUX_AUTO;
    o.deadline_ms =
        i == 0 ? first_deadline : fcgi_now_ms() + 5000 * fcgit_tolerance_ms(1);
    o.on_trace = on_trace;
    o.on_trace_ud = tr;
    fcgi_response_init(&r[i]);
    assert_int_equal(fcgi_multi_add(m, g->ep, g->rq, &o, &r[i], NULL), FCGI_OK);
  }
  fcgi_multi_run(m);
  while (fcgi_multi_next_done(m, NULL, NULL))
    ;
  fcgi_multi_free(m);
}

static void test_deadline_sends_abort_and_drops_late_answer(void **state) {
  (void)state;
  struct rig g;
  rig_start(&g, 0);
  struct fcgi_response r[2];
  struct traced tr = {0};
  run_two(&g, r, &tr, fcgi_now_ms() + 300 * fcgit_tolerance_ms(1));
  assert_int_equal(r[0].err, FCGI_ETIMEDOUT);
  if (r[1].err != FCGI_OK)
    fail_msg("%s: %s", fcgi_err_name(r[1].err), r[1].errmsg);
  assert_int_equal(r[1].body_len, 6);
  assert_memory_equal(r[1].body, "other\n", 6);
  int aborted = -1;
  assert_int_equal(read(g.pipe_rd, &aborted, sizeof aborted),
                   (ssize_t)sizeof aborted);
  assert_int_equal(tr.n, 2);
  /* the ABORT_REQUEST named the timed-out request's id, not the other's */
  const struct fcgi_trace *late =
      tr.t[0].err == FCGI_ETIMEDOUT ? &tr.t[0] : &tr.t[1];
  const struct fcgi_trace *ok = late == &tr.t[0] ? &tr.t[1] : &tr.t[0];
  assert_int_equal(aborted, late->request_id);
  assert_int_not_equal(late->request_id, ok->request_id);
  assert_int_equal(late->multiplexed, 1);
  assert_int_equal(late->conn_id, ok->conn_id);
  for (int i = 0; i < 2; i++)
    fcgi_response_clear(&r[i]);
  rig_stop(&g);
}

static void test_unknown_id_is_a_protocol_error(void **state) {
  (void)state;
  struct rig g;
  rig_start(&g, 1);
  struct fcgi_response r[2];
  struct traced tr = {0};
  run_two(&g, r, &tr, fcgi_now_ms() + 5000 * fcgit_tolerance_ms(1));
  for (int i = 0; i < 2; i++) {
    assert_int_equal(r[i].err, FCGI_EPROTO);
    assert_non_null(strstr(r[i].errmsg, "request id 999"));
    fcgi_response_clear(&r[i]);
  }
  rig_stop(&g);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadline_sends_abort_and_drops_late_answer),
      cmocka_unit_test(test_unknown_id_is_a_protocol_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
