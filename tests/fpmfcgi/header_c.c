/*
 * header_c.c: <fpmfcgi/fcgi.h> is self-contained in C (it is the first and
 * only include, compiled -std=c99 -pedantic), and a program using it links
 * against the shared libfpmfcgi alone and runs. Exit 0 on success.
 */
#include <fpmfcgi/fcgi.h>

#include <stdio.h>
#include <string.h>

static int failures;

static void check(int cond, const char *what) {
  if (!cond) {
    fprintf(stderr, "FAIL: %s\n", what);
    failures++;
  }
}

int main(void) {
  fcgi_endpoint *ep = NULL;
  char err[256] = "";
  fcgi_request *rq;
  struct fcgi_response resp;
  struct fcgi_call_opts opts;

  check(strcmp(fcgi_err_name(FCGI_ETIMEDOUT), "FCGI_ETIMEDOUT") == 0,
        "fcgi_err_name(FCGI_ETIMEDOUT)");
  check(fcgi_err_str(FCGI_ECONNREFUSED)[0] != '\0', "fcgi_err_str");
  check(fcgi_now_ms() > 0, "fcgi_now_ms");

  check(fcgi_endpoint_parse("unix:/run/php/x.sock", &ep, err, sizeof err) ==
            FCGI_OK,
        "parse a unix endpoint");
  if (ep != NULL) {
    check(strcmp(fcgi_endpoint_str(ep), "unix:/run/php/x.sock") == 0,
          "canonical endpoint text");
    check(fcgi_endpoint_is_unix(ep) == 1, "unix endpoint");
  }
  fcgi_endpoint_free(ep);
  ep = NULL;
  check(fcgi_endpoint_parse("tcp://", &ep, err, sizeof err) == FCGI_EINVAL &&
            err[0] != '\0' && ep == NULL,
        "a bad endpoint is FCGI_EINVAL with a message");

  rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  check(rq != NULL, "fcgi_request_new");
  check(fcgi_request_add_param_str(rq, "SCRIPT_NAME", "/status") == FCGI_OK,
        "add a param");
  fcgi_request_free(rq);

  memset(&opts, 0, sizeof opts);
  opts.deadline_ms = fcgi_now_ms() + 1000;
  fcgi_response_init(&resp);
  check(resp.out == NULL, "an initialised response is empty");
  fcgi_response_clear(&resp);

  if (failures == 0)
    printf("ok: fcgi.h in C\n");
  return failures == 0 ? 0 : 1;
}
