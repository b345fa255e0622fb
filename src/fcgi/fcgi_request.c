/*
 * fcgi_request.c: request descriptions (role, params encoded once as pairs,
 * stdin body) and the response object's life cycle and header lookup.
 */
#include "fcgi_cgi.h"
#include "fcgi_conn.h"
#include "fcgi_record.h"

#include <stdlib.h>
#include <string.h>

fcgi_request *fcgi_request_new(int role) {
  fcgi_request *rq = calloc(1, sizeof *rq);
  if (rq)
    rq->role = role;
  return rq;
}

void fcgi_request_free(fcgi_request *rq) {
  if (!rq)
    return;
  free(rq->pairs);
  free(rq->sizes);
  free(rq->body);
  free(rq);
}

/* At least 256 bytes at first: a request's params (about 150 bytes for
 * the status page) then take one allocation, not five doublings. */
static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : (elem < 16 ? 256 / elem : 16);
  while (n < need)
    n *= 2;
  void *np = realloc(*p, n * elem);
  if (!np)
    return -1;
  *p = np;
  *cap = n;
  return 0;
}

fcgi_err fcgi_request_add_param(fcgi_request *rq, const char *name,
                                size_t name_len, const char *value,
                                size_t value_len) {
  if (!rq || (!name && name_len) || (!value && value_len))
    return FCGI_EINVAL;
  if (name_len > 0x7fffffff || value_len > 0x7fffffff)
    return FCGI_EINVAL;
  size_t n = fcgi_pair_size(name_len, value_len);
  if (n > FCGI_MAX_PAIR)
    return FCGI_EINVAL;
  void *pairs = rq->pairs, *sizes = rq->sizes;
  if (grow(&pairs, &rq->pairs_cap, rq->pairs_len + n, 1))
    return FCGI_ENOMEM;
  rq->pairs = pairs;
  if (grow(&sizes, &rq->sizes_cap, rq->count + 1, sizeof(size_t)))
    return FCGI_ENOMEM;
  rq->sizes = sizes;
  fcgi_pair_put(rq->pairs + rq->pairs_len, name, name_len, value, value_len);
  rq->pairs_len += n;
  rq->sizes[rq->count++] = n;
  return FCGI_OK;
}

fcgi_err fcgi_request_add_param_str(fcgi_request *rq, const char *name,
                                    const char *value) {
  if (!name || !value)
    return FCGI_EINVAL;
  return fcgi_request_add_param(rq, name, strlen(name), value, strlen(value));
}

fcgi_err fcgi_request_set_stdin(fcgi_request *rq, const void *body,
                                size_t len) {
  if (!rq || (!body && len))
    return FCGI_EINVAL;
  uint8_t *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (!copy)
      return FCGI_ENOMEM;
    memcpy(copy, body, len);
  }
  free(rq->body);
  rq->body = copy;
  rq->body_len = len;
  return FCGI_OK;
}

void fcgi_response_init(struct fcgi_response *r) {
  memset(r, 0, sizeof *r);
  r->protocol_status = -1;
  r->t_connect_ms = r->t_first_byte_ms = r->t_end_ms = -1;
}

void fcgi_response_clear(struct fcgi_response *r) {
  if (!r)
    return;
  free(r->out);
  free(r->err_text);
  fcgi_response_init(r);
}

const char *fcgi_response_header(const struct fcgi_response *r,
                                 const char *name, size_t *len) {
  if (!r || !r->headers || !name)
    return NULL;
  return fcgi_cgi_header(r->headers, r->headers_len, name, len);
}
