/*
 * trace_spans.c: an example of the tracing hook. Sends requests to a
 * FastCGI endpoint and prints each one as a JSON span with OpenTelemetry's
 * field names (one object per line, the shape of an OTLP/JSON span).
 *
 *   trace_spans ENDPOINT [SCRIPT_FILENAME [COUNT [TRACEPARENT]]]
 *
 * e.g. trace_spans unix:/run/php/www.sock /var/www/ping.php 3
 * With keep_conn on, the second and later requests show
 * fastcgi.connection.reused=true; HTTP_TRACEPARENT carries the span's ids
 * to the application.
 */
#include "fcgi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON string body (quotes, backslashes, control characters escaped). */
static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void attr_str(const char *key, const char *val, int *first) {
  printf("%s{\"key\":\"%s\",\"value\":{\"stringValue\":", *first ? "" : ",",
         key);
  json_str(val);
  printf("}}");
  *first = 0;
}

static void attr_int(const char *key, long long val, int *first) {
  printf("%s{\"key\":\"%s\",\"value\":{\"intValue\":\"%lld\"}}",
         *first ? "" : ",", key, val);
  *first = 0;
}

static void attr_bool(const char *key, int val, int *first) {
  printf("%s{\"key\":\"%s\",\"value\":{\"boolValue\":%s}}", *first ? "" : ",",
         key, val ? "true" : "false");
  *first = 0;
}

/* The trace hook: one span per request. SPAN_KIND_CLIENT is 3 in OTLP;
 * status code 1 = OK, 2 = ERROR. */
static void print_span(void *ud, const struct fcgi_trace *t) {
  (void)ud;
  int first = 1;
  printf("{\"traceId\":\"%s\",\"spanId\":\"%s\",\"parentSpanId\":\"%s\","
         "\"name\":\"FastCGI request\",\"kind\":3,"
         "\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":\"%lld\","
         "\"attributes\":[",
         t->trace_id, t->span_id, t->parent_span_id,
         (long long)t->start_unix_ns, (long long)t->end_unix_ns);
  attr_str("server.address", t->endpoint, &first);
  attr_str("network.transport",
           strncmp(t->endpoint, "unix:", 5) == 0 ? "unix" : "tcp", &first);
  attr_int("fastcgi.request.id", t->request_id, &first);
  attr_int("fastcgi.connection.id", (long long)t->conn_id, &first);
  attr_bool("fastcgi.connection.reused", t->reused, &first);
  attr_bool("fastcgi.connection.multiplexed", t->multiplexed, &first);
  attr_int("fastcgi.attempts", t->attempts, &first);
  attr_int("fastcgi.connect_ms", t->t_connect_ms, &first);
  attr_int("fastcgi.first_byte_ms", t->t_first_byte_ms, &first);
  attr_int("fastcgi.protocol_status", t->protocol_status, &first);
  attr_int("http.response.status_code", t->status, &first);
  attr_int("network.io.received_bytes", (long long)t->bytes_in, &first);
  attr_int("network.io.sent_bytes", (long long)t->bytes_out, &first);
  if (t->err != FCGI_OK)
    attr_str("error.type", fcgi_err_name(t->err), &first);
  printf("],\"status\":{\"code\":%d", t->err == FCGI_OK ? 1 : 2);
  if (t->err != FCGI_OK) {
    printf(",\"message\":");
    json_str(t->errmsg);
  }
  printf("}}\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s ENDPOINT [SCRIPT_FILENAME [COUNT "
            "[TRACEPARENT]]]\n",
            argv[0]);
    return 2;
  }
  const char *script = argc > 2 ? argv[2] : "/ping";
  long count = argc > 3 ? strtol(argv[3], NULL, 10) : 2;
  fcgi_endpoint *ep;
  char err[256];
  if (fcgi_endpoint_parse(argv[1], &ep, err, sizeof err) != FCGI_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  fcgi_request_add_param_str(rq, "SCRIPT_FILENAME", script);
  fcgi_request_add_param_str(rq, "SCRIPT_NAME", script);
  fcgi_request_add_param_str(rq, "REQUEST_METHOD", "GET");
  fcgi_request_add_param_str(rq, "QUERY_STRING", "");
  fcgi_client *cl = fcgi_client_new(NULL);
  int rc = 0;
  for (long i = 0; i < count; i++) {
    struct fcgi_call_opts o = {0};
    o.deadline_ms = fcgi_now_ms() + 5000;
    o.keep_conn = 1;
    o.traceparent = 1;
    o.traceparent_in = argc > 4 ? argv[4] : NULL;
    o.on_trace = print_span;
    struct fcgi_response r;
    fcgi_response_init(&r);
    if (fcgi_client_do(cl, ep, rq, &o, &r) != FCGI_OK) {
      fprintf(stderr, "%s\n", r.errmsg);
      rc = 1;
    }
    fcgi_response_clear(&r);
  }
  fcgi_client_free(cl);
  fcgi_request_free(rq);
  fcgi_endpoint_free(ep);
  return rc;
}
