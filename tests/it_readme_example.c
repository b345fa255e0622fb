/* README example: print php-fpm's status JSON (FPMT_WWW_SOCK or argv[1]). */
#include <fcgi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const char *sock = argc > 1 ? argv[1] : getenv("FPMT_WWW_SOCK");
  char err[256];
  fcgi_endpoint *ep;
  if (!sock || fcgi_endpoint_parse(sock, &ep, err, sizeof err) != FCGI_OK)
    return fprintf(stderr, "bad endpoint: %s\n", sock ? err : "none"), 2;
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(rq, "SCRIPT_NAME", "/status");
  fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", "/status");
  fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET");
  fcgi_request_add_param_str(rq, "QUERY_STRING", "json");
  struct fcgi_call_opts opts = {.deadline_ms = fcgi_now_ms() + 2000};
  struct fcgi_response resp = {0};
  int ok = fcgi_do(ep, rq, &opts, &resp) == FCGI_OK && resp.status == 200;
  if (ok)
    printf("%.*s\n", (int)resp.body_len, resp.body);
  else
    fprintf(stderr, "%s (HTTP status %d)\n", resp.errmsg, resp.status);
  fcgi_response_clear(&resp);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  return ok ? 0 : 1;
}
