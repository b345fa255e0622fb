/* libFuzzer target: endpoint parsing (fcgi_endpoint_parse). No name may be
 * resolved while fuzzing: a TCP spec is passed on only when its host part
 * (found the way the parser finds it) is a numeric IPv4 or IPv6 address, or
 * when the spec fails before any lookup could happen (no host, bad port).
 * A parsed endpoint's canonical text must parse again to the same text. */
#include "fcgi.h"
#include "fuzz_split.h"

#include <arpa/inet.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when parsing spec cannot reach getaddrinfo with a non-numeric host. */
static int no_lookup(const char *spec) {
  if (strncmp(spec, "unix:", 5) == 0 || spec[0] == '/' || spec[0] == '\0')
    return 1;
  const char *hp = spec;
  if (strncmp(spec, "tcp://", 6) == 0)
    hp = spec + 6;
  else if (strstr(spec, "://"))
    return 1; /* unknown scheme: rejected before any lookup */
  char host[300];
  const char *colon;
  if (hp[0] == '[') {
    const char *close = strchr(hp, ']');
    if (!close || close[1] != ':')
      return 1; /* syntax error first */
    size_t n = (size_t)(close - hp - 1);
    if (n >= sizeof host)
      return 1;
    memcpy(host, hp + 1, n);
    host[n] = '\0';
  } else {
    colon = strrchr(hp, ':');
    if (!colon || memchr(hp, ':', (size_t)(colon - hp)))
      return 1; /* no port, or an IPv6 address without brackets */
    size_t n = (size_t)(colon - hp);
    if (n >= sizeof host)
      return 1;
    memcpy(host, hp, n);
    host[n] = '\0';
  }
  if (!host[0])
    return 1;
  unsigned char addr[16];
  return inet_pton(AF_INET, host, addr) == 1 ||
         inet_pton(AF_INET6, host, addr) == 1;
}

static void check_parse(const char *spec) {
  fcgi_endpoint *ep = (fcgi_endpoint *)0x1;
  char err[256];
  memset(err, 'x', sizeof err);
  fcgi_err e = fcgi_endpoint_parse(spec, &ep, err, sizeof err);
  FZ_CHECK(memchr(err, '\0', sizeof err), "error text unterminated");
  if (e != FCGI_OK) {
    FZ_CHECK(ep == NULL, "*out set on failure");
    FZ_CHECK(e == FCGI_EINVAL || e == FCGI_ERESOLVE || e == FCGI_ENOMEM,
             "code %d", (int)e);
    FZ_CHECK(err[0] != '\0', "failure without a sentence");
    return;
  }
  FZ_CHECK(ep != NULL, "no endpoint");
  const char *text = fcgi_endpoint_str(ep);
  FZ_CHECK(strncmp(text, fcgi_endpoint_is_unix(ep) ? "unix:" : "tcp://",
                   fcgi_endpoint_is_unix(ep) ? 5 : 6) == 0,
           "canonical text %s", text);
  fcgi_endpoint *ep2 = NULL;
  FZ_CHECK(no_lookup(text), "canonical text %s needs a lookup", text);
  FZ_CHECK(fcgi_endpoint_parse(text, &ep2, err, sizeof err) == FCGI_OK,
           "canonical text %s does not parse: %s", text, err);
  FZ_CHECK(strcmp(fcgi_endpoint_str(ep2), text) == 0, "%s became %s", text,
           fcgi_endpoint_str(ep2));
  fcgi_endpoint_free(ep2);
  fcgi_endpoint_free(ep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *spec = malloc(size + 1);
  FZ_CHECK(spec != NULL, "out of memory");
  memcpy(spec, data, size);
  spec[size] = '\0';
  if (no_lookup(spec))
    check_parse(spec);
  free(spec);
  return 0;
}
