/*
 * test_fetch.c: the fetch façade (fpm_fetch.c) against a scripted FastCGI
 * server in a thread of this test, replaying real php-fpm 8.2 answers
 * (tests/fixtures/cli/): the request params and the self marker, 404 and
 * 403 with their hints, a 5xx retried once, a script's page that is not
 * status, the JSON-to-text fallback, ping, a missing socket, a silent
 * server and the deadline, several targets at once, and a peer that does
 * not speak FastCGI. The real php-fpm is exercised by tests/it_fpmstat*.sh.
 */
#include "fcgi_testutil.h"
#include "fpm_fetch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#define FIX FPMT_FIXTURES_DIR "/cli/"

/* ------------------------------------------------------- fake server */

struct reply {
  const char *stdout_file; /* raw CGI output (headers, blank line, body) */
  const char *stdout_text; /* or this text */
  const char *stderr_text;
  int silent;      /* accept, read the request, never answer */
  const char *raw; /* bytes to send instead of FastCGI records */
};

struct fake {
  char path[108];
  int lfd;
  struct reply r[4];
  int n_replies;
  int served;
  char params[4][2048]; /* "NAME=value\n" per request */
  pthread_t tid;
};

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *buf = malloc(1 << 20);
  assert_non_null(buf);
  *len = fread(buf, 1, (1 << 20) - 1, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

static size_t nv_len(const unsigned char *p, size_t *i) {
  if (p[*i] < 0x80)
    return p[(*i)++];
  size_t v = ((size_t)(p[*i] & 0x7f) << 24) | ((size_t)p[*i + 1] << 16) |
             ((size_t)p[*i + 2] << 8) | p[*i + 3];
  *i += 4;
  return v;
}

/* Read records until the empty STDIN record; decode the params. */
static int read_request(int fd, char *params, size_t cap) {
  unsigned char pbuf[8192];
  size_t plen = 0;
  for (;;) {
    unsigned char h[8], body[65536 + 256];
    if (fcgit_read_full(fd, h, 8) != 0)
      return -1;
    size_t clen = ((size_t)h[4] << 8) | h[5], pad = h[6];
    if (fcgit_read_full(fd, body, clen + pad) != 0)
      return -1;
    if (h[1] == 4 && plen + clen <= sizeof pbuf) { /* PARAMS */
      memcpy(pbuf + plen, body, clen);
      plen += clen;
    }
    if (h[1] == 5 && clen == 0) /* end of STDIN */
      break;
  }
  size_t i = 0, o = 0;
  params[0] = '\0';
  while (i < plen) {
    size_t nl = nv_len(pbuf, &i), vl = nv_len(pbuf, &i);
    o += (size_t)snprintf(params + o, cap - o, "%.*s=%.*s\n", (int)nl, pbuf + i,
                          (int)vl, pbuf + i + nl);
    i += nl + vl;
  }
  return 0;
}

static void send_record(int fd, int type, const char *data, size_t len) {
  unsigned char h[8] = {1,
                        (unsigned char)type,
                        0,
                        1,
                        (unsigned char)(len >> 8),
                        (unsigned char)len,
                        0,
                        0};
  (void)!write(fd, h, 8);
  if (len > 0)
    (void)!write(fd, data, len);
}

static void send_stream(int fd, int type, const char *data, size_t len) {
  while (len > 0) {
    size_t k = len > 32768 ? 32768 : len;
    send_record(fd, type, data, k);
    data += k;
    len -= k;
  }
}

static void answer(int fd, const struct reply *r) {
  if (r->raw != NULL) {
    (void)!write(fd, r->raw, strlen(r->raw));
    return;
  }
  if (r->silent) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 10000); /* until the client gives up and closes */
    return;
  }
  if (r->stderr_text != NULL)
    send_stream(fd, 7, r->stderr_text, strlen(r->stderr_text));
  size_t len;
  char *out = NULL;
  if (r->stdout_file != NULL) {
    out = slurp(r->stdout_file, &len);
    send_stream(fd, 6, out, len);
  } else if (r->stdout_text != NULL) {
    send_stream(fd, 6, r->stdout_text, strlen(r->stdout_text));
  }
  free(out);
  static const char end[8] = {0, 0, 0, 0, 0, 0, 0, 0}; /* app 0, COMPLETE */
  send_record(fd, 3, end, 8);
}

static void *serve(void *arg) {
  struct fake *f = arg;
  for (int i = 0; i < f->n_replies; i++) {
    struct pollfd p = {.fd = f->lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0)
      break;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
      break;
    if (read_request(fd, f->params[i], sizeof f->params[i]) == 0)
      answer(fd, &f->r[i]);
    f->served++;
    close(fd);
  }
  return NULL;
}

static void fake_start(struct fake *f) {
  static int seq;
  snprintf(f->path, sizeof f->path, "/tmp/test_fetch.%d.%d.sock", (int)getpid(),
           seq++);
  unlink(f->path);
  f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(f->lfd >= 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(f->lfd, 8), 0);
  assert_int_equal(pthread_create(&f->tid, NULL, serve, f), 0);
}

static void fake_stop(struct fake *f) {
  pthread_join(f->tid, NULL);
  close(f->lfd);
  unlink(f->path);
}

static fpm_fetcher *fetcher_for(const char *path, const char *status_path) {
  struct fpm_target t = {.endpoint = path, .status_path = status_path};
  char err[256];
  fpm_fetcher *f = fpm_fetcher_new(&t, err, sizeof err);
  if (f == NULL)
    fail_msg("fetcher: %s", err);
  return f;
}

static fpm_err run(struct fake *fk, enum fpm_fetch_kind kind, int timeout_ms,
                   struct fpm_result *r) {
  fpm_fetcher *f = fetcher_for(fk->path, NULL);
  fpm_result_init(r);
  fpm_err e = fpm_fetch(f, kind, fcgi_now_ms() + timeout_ms, NULL, r);
  fpm_fetcher_free(f);
  return e;
}

/* -------------------------------------------------------------- tests */

static void test_status_ok_and_params(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 1};
  fk.r[0].stdout_file = FIX "php82_www_idle_status_json_full.raw";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_OK);
  fake_stop(&fk);
  assert_int_equal(r.err, FPM_OK);
  assert_int_equal(r.http_status, 200);
  assert_string_equal(r.status.pool, "www");
  assert_true(r.status.has_workers);
  assert_int_equal(r.status.format, FPM_FORMAT_JSON);
  assert_false(r.fell_back_to_text);
  assert_int_equal(r.requests, 1);
  /* the request: status path in both script params, json&full&marker */
  assert_int_equal(strlen(r.marker), 16);
  char q[96];
  snprintf(q, sizeof q, "QUERY_STRING=json&full&fpmstat=%s\n", r.marker);
  assert_non_null(strstr(fk.params[0], q));
  assert_non_null(strstr(fk.params[0], "SCRIPT_NAME=/status\n"));
  assert_non_null(strstr(fk.params[0], "SCRIPT_FILENAME=/status\n"));
  assert_non_null(strstr(fk.params[0], "REQUEST_METHOD=GET\n"));
  fpm_result_clear(&r);
}

static void test_marker_unique(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 2};
  fk.r[0].stdout_file = fk.r[1].stdout_file =
      FIX "php82_www_idle_status_json_full.raw";
  fake_start(&fk);
  fpm_fetcher *f = fetcher_for(fk.path, NULL);
  struct fpm_result a, b;
  fpm_result_init(&a);
  fpm_result_init(&b);
  assert_int_equal(
      fpm_fetch(f, FPM_FETCH_STATUS, fcgi_now_ms() + 2000, NULL, &a), FPM_OK);
  assert_int_equal(
      fpm_fetch(f, FPM_FETCH_STATUS, fcgi_now_ms() + 2000, NULL, &b), FPM_OK);
  fake_stop(&fk);
  assert_string_not_equal(a.marker, b.marker);
  fpm_result_clear(&a);
  fpm_result_clear(&b);
  fpm_fetcher_free(f);
}

static void test_404_hint(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 1};
  fk.r[0].stdout_file = FIX "php82_status_not_configured_404.raw";
  fk.r[0].stderr_text = "Primary script unknown";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_EHTTP);
  fake_stop(&fk);
  assert_int_equal(r.http_status, 404);
  assert_non_null(strstr(r.message, fk.path));
  assert_non_null(strstr(r.message, "File not found."));
  assert_non_null(strstr(r.message, "Primary script unknown"));
  assert_non_null(strstr(r.message, "add `pm.status_path = /status`"));
  assert_null(strchr(r.message, '\n'));
  assert_string_equal(r.stderr_excerpt, "Primary script unknown");
  fpm_result_clear(&r);
}

static void test_403_hint(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 1};
  fk.r[0].stdout_file =
      FIX "php82_status_not_configured_existing_nonphp_file_403.raw";
  fk.r[0].stderr_text = "Access to the script '/etc/hostname' has been denied "
                        "(see security.limit_extensions)";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_EHTTP);
  fake_stop(&fk);
  assert_int_equal(r.http_status, 403);
  assert_non_null(strstr(r.message, "Access denied."));
  assert_non_null(strstr(r.message, "security.limit_extensions"));
  fpm_result_clear(&r);
}

static const char busy500[] =
    "Status: 500 Internal Server Error\r\nContent-type: text/html; "
    "charset=UTF-8\r\n\r\nInternal error. Please review log file for errors.";

static void test_5xx_retried_once(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 2};
  fk.r[0].stdout_text = busy500;
  fk.r[1].stdout_file = FIX "php82_www_idle_status_json_full.raw";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_OK);
  fake_stop(&fk);
  assert_int_equal(fk.served, 2);
  assert_true(r.retried);
  assert_int_equal(r.requests, 2); /* both count as accepted by the pool */
  fpm_result_clear(&r);
  /* twice in a row: reported after exactly one retry (a second retry
   * would wait for an accept that never comes and time out instead) */
  struct fake fk2 = {.n_replies = 2};
  fk2.r[0].stdout_text = fk2.r[1].stdout_text = busy500;
  fake_start(&fk2);
  assert_int_equal(run(&fk2, FPM_FETCH_STATUS, 500, &r), FPM_EHTTP);
  fake_stop(&fk2);
  assert_int_equal(fk2.served, 2);
  assert_int_equal(r.http_status, 500);
  assert_true(r.retried);
  assert_int_equal(r.requests, 2);
  assert_non_null(strstr(r.message, "Internal error."));
  fpm_result_clear(&r);
}

static void test_script_page_is_not_status(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 1};
  fk.r[0].stdout_text = "X-Powered-By: PHP/8.2.36\r\nContent-type: text/html; "
                        "charset=UTF-8\r\n\r\nhello\n";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_EPARSE);
  fake_stop(&fk);
  assert_int_equal(fk.served, 1); /* no text fallback for another page */
  assert_non_null(strstr(r.message, "text/html"));
  assert_non_null(strstr(r.message, "hello"));
  fpm_result_clear(&r);
}

static void test_json_beyond_repair_falls_back(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 2};
  fk.r[0].stdout_text = "Content-Type: application/json\r\n\r\n"
                        "{\"pool\":\"www\",\"process manager\":\"static\","
                        "\"start time\":@@@@ garbage ]]]";
  fk.r[1].stdout_file = FIX "php82_www_idle_status_text_full.raw";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_OK);
  fake_stop(&fk);
  assert_true(r.fell_back_to_text);
  assert_int_equal(r.requests, 2);
  assert_int_equal(r.status.format, FPM_FORMAT_TEXT);
  assert_string_equal(r.status.pool, "www");
  /* the second request asked for text: no json key */
  char q[96];
  snprintf(q, sizeof q, "QUERY_STRING=full&fpmstat=%s\n", r.marker);
  assert_non_null(strstr(fk.params[1], q));
  fpm_result_clear(&r);
}

static void test_ping(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 2};
  fk.r[0].stdout_file = FIX "php82_ping_get.raw";
  fk.r[1].stdout_text = "Content-type: text/plain\r\n\r\npang";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_PING, 2000, &r), FPM_OK);
  assert_non_null(strstr(fk.params[0], "SCRIPT_NAME=/ping\n"));
  assert_non_null(strstr(fk.params[0], "QUERY_STRING=\n"));
  assert_int_equal(r.requests, 1);
  fpm_result_clear(&r);
  assert_int_equal(run(&fk, FPM_FETCH_PING, 2000, &r), FPM_EHTTP);
  assert_non_null(strstr(r.message, "\"pang\""));
  fpm_result_clear(&r);
  fake_stop(&fk);
}

static void test_missing_socket(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 0};
  snprintf(fk.path, sizeof fk.path, "/tmp/test_fetch.%d.nonexistent.sock",
           (int)getpid());
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_ECONNECT);
  assert_int_equal(r.fcgi, FCGI_ENOENT);
  assert_int_equal(r.requests, 0); /* never reached a pool */
  assert_non_null(strstr(r.message, "is php-fpm running"));
  fpm_result_clear(&r);
}

static void test_not_fastcgi(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 1};
  fk.r[0].raw = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  fake_start(&fk);
  struct fpm_result r;
  assert_int_equal(run(&fk, FPM_FETCH_STATUS, 2000, &r), FPM_EPROTOCOL);
  fake_stop(&fk);
  assert_non_null(strstr(r.message, "FastCGI"));
  fpm_result_clear(&r);
}

static void test_silent_server_and_many(void **state) {
  (void)state;
  struct fake dead = {.n_replies = 1}, good = {.n_replies = 1};
  dead.r[0].silent = 1;
  good.r[0].stdout_file = FIX "php82_www_idle_status_json_full.raw";
  fake_start(&dead);
  fake_start(&good);
  fpm_fetcher *fs[2] = {fetcher_for(dead.path, NULL),
                        fetcher_for(good.path, NULL)};
  struct fpm_result r[2];
  fpm_result_init(&r[0]);
  fpm_result_init(&r[1]);
  int64_t t0 = fcgi_now_ms();
  int slack = getenv("FPMT_VALGRIND") ? 500 : 50;
  assert_int_equal(fpm_fetch_many(fs, 2, FPM_FETCH_STATUS, t0 + 300, NULL, r),
                   FPM_ETIMEOUT);
  int64_t took = fcgi_now_ms() - t0;
  assert_true(took >= 290 && took <= 300 + slack);
  assert_int_equal(r[0].err, FPM_ETIMEOUT);
  assert_int_equal(r[0].fcgi, FCGI_ETIMEDOUT);
  assert_int_equal(r[0].requests, 1); /* connected: the pool counts it */
  assert_non_null(strstr(r[0].message, "timeout"));
  assert_int_equal(r[1].err, FPM_OK); /* the dead one did not hold it up */
  assert_true(r[1].duration_s < 0.25);
  for (int i = 0; i < 2; i++) {
    fpm_result_clear(&r[i]);
    fpm_fetcher_free(fs[i]);
  }
  fake_stop(&good);
  fake_stop(&dead);
}

static void *cancel_later(void *arg) {
  usleep(100 * 1000);
  fcgi_cancel_trigger(arg);
  return NULL;
}

static void test_cancel(void **state) {
  (void)state;
  struct fake fk = {.n_replies = 1};
  fk.r[0].silent = 1;
  fake_start(&fk);
  fpm_fetcher *f = fetcher_for(fk.path, NULL);
  fcgi_cancel *c = fcgi_cancel_new();
  assert_non_null(c);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, cancel_later, c), 0);
  struct fpm_result r;
  fpm_result_init(&r);
  int64_t t0 = fcgi_now_ms();
  assert_int_equal(fpm_fetch(f, FPM_FETCH_STATUS, t0 + 5000, c, &r),
                   FPM_ETIMEOUT);
  int64_t took = fcgi_now_ms() - t0;
  pthread_join(t, NULL);
  assert_int_equal(r.fcgi, FCGI_ECANCELED);
  assert_true(took < (getenv("FPMT_VALGRIND") ? 2000 : 1000)); /* not 5 s */
  fpm_result_clear(&r);
  fcgi_cancel_free(c);
  fpm_fetcher_free(f);
  fake_stop(&fk);
}

static void test_bad_targets(void **state) {
  (void)state;
  fpm_fetcher *f = NULL;
  char err[256];
  struct fpm_target t = {.endpoint = "/tmp/x.sock", .status_path = "status"};
  assert_int_equal(fpm_fetcher_create(&t, &f, err, sizeof err), FPM_EUSAGE);
  assert_null(f);
  t.status_path = "/status?json";
  assert_int_equal(fpm_fetcher_create(&t, &f, err, sizeof err), FPM_EUSAGE);
  t.status_path = NULL;
  t.endpoint = "";
  assert_int_equal(fpm_fetcher_create(&t, &f, err, sizeof err), FPM_EUSAGE);
  assert_string_equal(fpm_err_str(FPM_ETIMEOUT), "timeout");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_ok_and_params),
      cmocka_unit_test(test_marker_unique),
      cmocka_unit_test(test_404_hint),
      cmocka_unit_test(test_403_hint),
      cmocka_unit_test(test_5xx_retried_once),
      cmocka_unit_test(test_script_page_is_not_status),
      cmocka_unit_test(test_json_beyond_repair_falls_back),
      cmocka_unit_test(test_ping),
      cmocka_unit_test(test_missing_socket),
      cmocka_unit_test(test_not_fastcgi),
      cmocka_unit_test(test_silent_server_and_many),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_bad_targets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
