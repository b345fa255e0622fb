/*
 * test_fcgi_ns.c: endpoints reached through another root or network
 * namespace (fcgi_endpoint_parse_opts): the canonical text with its tag, a
 * unix socket path resolved inside the root (a link out of it leads
 * nowhere), the socket created in a network namespace, and the errors.
 */
#include "fcgi.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
  unlink(path);
  assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
  assert_int_equal(listen(fd, 8), 0);
  return fd;
}

/* One request with a short deadline: a server that accepts nothing still
 * lets the connect through (then FCGI_ETIMEDOUT), a missing one does not. */
static fcgi_err call(const char *spec, const struct fcgi_endpoint_opts *o,
                     char *msg, size_t len) {
  fcgi_endpoint *ep = NULL;
  char eb[256];
  assert_int_equal(fcgi_endpoint_parse_opts(spec, o, &ep, eb, sizeof eb),
                   FCGI_OK);
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  struct fcgi_response r;
  fcgi_response_init(&r);
  struct fcgi_call_opts co = {.deadline_ms = fcgi_now_ms() + 200};
  fcgi_err e = fcgi_do(ep, rq, &co, &r);
  snprintf(msg, len, "%s", r.errmsg);
  fcgi_response_clear(&r);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  return e;
}

static void test_text_with_tag(void **state) {
  (void)state;
  fcgi_endpoint *ep = NULL;
  struct fcgi_endpoint_opts o = {.netns = "/proc/self/ns/net", .tag = "ns42"};
  assert_int_equal(fcgi_endpoint_parse_opts("127.0.0.1:9000", &o, &ep, NULL, 0),
                   FCGI_OK);
  assert_string_equal(fcgi_endpoint_str(ep), "tcp://127.0.0.1:9000@ns42");
  fcgi_endpoint_free(ep);
  struct fcgi_endpoint_opts r = {.root = "/proc/1/root"};
  assert_int_equal(
      fcgi_endpoint_parse_opts("unix:/run/x.sock", &r, &ep, NULL, 0), FCGI_OK);
  assert_string_equal(fcgi_endpoint_str(ep), "unix:/run/x.sock@/proc/1/root");
  assert_true(fcgi_endpoint_is_unix(ep));
  fcgi_endpoint_free(ep);
  assert_int_equal(
      fcgi_endpoint_parse_opts("unix:/run/x.sock", NULL, &ep, NULL, 0),
      FCGI_OK);
  assert_string_equal(fcgi_endpoint_str(ep), "unix:/run/x.sock");
  fcgi_endpoint_free(ep);
}

static void test_unix_in_root(void **state) {
  (void)state;
  char base[] = "/tmp/fcgi-ns.XXXXXX", root[128], outside[160], p[256];
  assert_non_null(mkdtemp(base));
  snprintf(root, sizeof root, "%s/root", base);
  snprintf(outside, sizeof outside, "%s/outside.sock", base);
  mkdir(root, 0755);
  snprintf(p, sizeof p, "%s/run", root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/run/in.sock", root);
  int in = listen_unix(p);
  int out = listen_unix(outside);
  /* links that would lead to the socket outside the root */
  snprintf(p, sizeof p, "%s/run/abs.sock", root);
  assert_int_equal(symlink(outside, p), 0);
  char up[200];
  snprintf(up, sizeof up, "../../../../../../../..%s", outside);
  snprintf(p, sizeof p, "%s/run/up.sock", root);
  assert_int_equal(symlink(up, p), 0);

  struct fcgi_endpoint_opts o = {.root = root, .tag = "t"};
  char msg[512];
  assert_int_equal(call("unix:/run/in.sock", &o, msg, sizeof msg),
                   FCGI_ETIMEDOUT); /* connected, no answer */
  assert_int_equal(call("unix:/run/abs.sock", &o, msg, sizeof msg),
                   FCGI_ENOENT);
  assert_non_null(strstr(msg, "unix:/run/abs.sock@t: no such socket"));
  assert_int_equal(call("unix:/run/up.sock", &o, msg, sizeof msg), FCGI_ENOENT);
  assert_int_equal(call("unix:/run", &o, msg, sizeof msg), FCGI_ECONNECT);
  assert_non_null(strstr(msg, "connect: Socket operation on non-socket"));
  /* without a root the absolute link does lead there: the test can fail */
  snprintf(p, sizeof p, "unix:%s/run/abs.sock", root);
  assert_int_equal(call(p, NULL, msg, sizeof msg), FCGI_ETIMEDOUT);

  close(in);
  close(out);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  assert_int_equal(system(cmd), 0);
}

static void test_netns(void **state) {
  (void)state;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(l, 8), 0);
  socklen_t al = sizeof a;
  getsockname(l, (struct sockaddr *)&a, &al);
  char spec[64], msg[512];
  snprintf(spec, sizeof spec, "127.0.0.1:%u", ntohs(a.sin_port));
  /* our own namespace, entered and left: connects (root only) */
  struct fcgi_endpoint_opts self = {.netns = "/proc/self/ns/net"};
  fcgi_err e = call(spec, &self, msg, sizeof msg);
  if (geteuid() == 0)
    assert_int_equal(e, FCGI_ETIMEDOUT);
  else
    assert_int_equal(e, FCGI_EACCES);
  /* a namespace that is not there: a typed error naming the endpoint */
  struct fcgi_endpoint_opts gone = {.netns = "/nonexistent/ns/net",
                                    .tag = "gone"};
  assert_int_equal(call(spec, &gone, msg, sizeof msg), FCGI_ENOENT);
  assert_non_null(strstr(msg, "@gone: no such socket (or the namespace is "
                              "gone)"));
  /* a file that is no namespace: setns refuses */
  struct fcgi_endpoint_opts bad = {.netns = "/proc/self/cmdline"};
  e = call(spec, &bad, msg, sizeof msg);
  assert_int_not_equal(e, FCGI_OK);
  assert_int_not_equal(e, FCGI_ETIMEDOUT);
  close(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_with_tag),
      cmocka_unit_test(test_unix_in_root),
      cmocka_unit_test(test_netns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
