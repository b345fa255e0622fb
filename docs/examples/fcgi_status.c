/*
 * fcgi_status.c: fetch a PHP-FPM pool's status page with libfpmfcgi.
 *
 *   cc -o fcgi_status fcgi_status.c $(pkg-config --cflags --libs fpmfcgi)
 *   ./fcgi_status /run/php/php8.2-fpm.sock            # unix socket
 *   ./fcgi_status 127.0.0.1:9001 /status json         # TCP, JSON
 *
 * Arguments: ENDPOINT [STATUS_PATH [QUERY]] (defaults /status and "").
 * Prints the status page's body on stdout. Exit 0 on HTTP status 200, 1 on
 * any error (printed on stderr with the library's typed error and detail),
 * 2 on bad usage.
 */
#include <fpmfcgi/fcgi.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s ENDPOINT [STATUS_PATH [QUERY]]\n", argv[0]);
    return 2;
  }
  const char *path = argc > 2 ? argv[2] : "/status";
  const char *query = argc > 3 ? argv[3] : "";

  char err[256];
  fcgi_endpoint *ep = NULL;
  if (fcgi_endpoint_parse(argv[1], &ep, err, sizeof err) != FCGI_OK) {
    fprintf(stderr, "fcgi_status: %s\n", err);
    return 1;
  }

  /* php-fpm serves its status page for these CGI params; the path must be
   * the pool's pm.status_path. */
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  int rc = 1;
  if (rq == NULL ||
      fcgi_request_add_param_str(rq, "SCRIPT_NAME", path) != FCGI_OK ||
      fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", path) != FCGI_OK ||
      fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET") != FCGI_OK ||
      fcgi_request_add_param_str(rq, "QUERY_STRING", query) != FCGI_OK) {
    fprintf(stderr, "fcgi_status: out of memory\n");
    goto out;
  }

  /* One absolute deadline covers connect, send and the whole response. */
  struct fcgi_call_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.deadline_ms = fcgi_now_ms() + 5000;

  struct fcgi_response resp;
  fcgi_response_init(&resp);
  if (fcgi_do(ep, rq, &opts, &resp) != FCGI_OK) {
    fprintf(stderr, "fcgi_status: %s: %s\n", fcgi_err_name(resp.err),
            resp.errmsg);
  } else if (resp.status != 200) {
    fprintf(stderr,
            "fcgi_status: %s answered HTTP %d (is %s its "
            "pm.status_path?)\n",
            fcgi_endpoint_str(ep), resp.status, path);
  } else {
    fwrite(resp.body, 1, resp.body_len, stdout);
    rc = 0;
  }
  fcgi_response_clear(&resp);
out:
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  return rc;
}
