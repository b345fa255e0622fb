// header_cxx.cpp: <fpmfcgi/fcgi.h> is self-contained in C++11 (first and
// only include, -pedantic) and its declarations have C linkage: the program
// links against the shared libfpmfcgi and runs. Exit 0 on success.
#include <fpmfcgi/fcgi.h>

#include <cstdio>
#include <cstring>

int main() {
  int failures = 0;
  fcgi_endpoint *ep = nullptr;
  char err[256] = "";

  if (std::strcmp(fcgi_err_name(FCGI_ECLOSED), "FCGI_ECLOSED") != 0) {
    std::fprintf(stderr, "FAIL: fcgi_err_name\n");
    failures++;
  }
  if (fcgi_endpoint_parse("127.0.0.1:9000", &ep, err, sizeof err) != FCGI_OK ||
      std::strcmp(fcgi_endpoint_str(ep), "tcp://127.0.0.1:9000") != 0 ||
      fcgi_endpoint_is_unix(ep) != 0) {
    std::fprintf(stderr, "FAIL: parse 127.0.0.1:9000: %s\n", err);
    failures++;
  }
  fcgi_endpoint_free(ep);

  fcgi_request *rq = fcgi_request_new(FCGI_ROLE_RESPONDER);
  if (rq == nullptr || fcgi_request_set_stdin(rq, "x", 1) != FCGI_OK) {
    std::fprintf(stderr, "FAIL: request\n");
    failures++;
  }
  fcgi_request_free(rq);

  fcgi_cancel *c = fcgi_cancel_new();
  if (c == nullptr) {
    std::fprintf(stderr, "FAIL: fcgi_cancel_new\n");
    failures++;
  } else {
    fcgi_cancel_trigger(c);
    if (!fcgi_cancel_is_triggered(c)) {
      std::fprintf(stderr, "FAIL: cancel not triggered\n");
      failures++;
    }
    fcgi_cancel_free(c);
  }

  struct fcgi_response resp = {};
  fcgi_response_clear(&resp);
  if (failures == 0)
    std::printf("ok: fcgi.h in C++\n");
  return failures == 0 ? 0 : 1;
}
