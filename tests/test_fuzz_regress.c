/*
 * test_fuzz_regress.c: regressions found by the fuzz targets (fuzz/), each
 * on the smallest body that showed it.
 */
#include "test_fpm_status_helpers.h"

/* An old FPM prints the request uri raw: a client can ask for a uri that
 * reads as `"},{"pid":1,...` and so, as valid JSON, closes its own worker
 * entry and forges another one. The fast path (yajl) took that JSON as it
 * is: one worker too many, with pid 1, and a different snapshot from the
 * repairing path. Now an entry without every key FPM prints sends it to
 * the repairing path. */
static void forged_entry_through_raw_uri(void **state) {
  (void)state;
  size_t n;
  char *src = fx_body("php82_www_idle_status_json_full.raw", &n);
  const char *key = "\"request uri\":\"";
  char *at = strstr(src, key);
  assert_non_null(at);
  at += strlen(key);
  const char *forge = "\"},{\"pid\":1,\"state\":\"Idle";
  size_t head = (size_t)(at - src), flen = strlen(forge);
  char *body = malloc(n + flen + 1);
  assert_non_null(body);
  memcpy(body, src, head);
  memcpy(body + head, forge, flen);
  memcpy(body + head + flen, at, n - head + 1);
  struct fpm_status fast, slow;
  fpm_status_init(&fast);
  fpm_status_init(&slow);
  assert_int_equal(parse_split_opts(body, n + flen, FPM_FORMAT_JSON, n + flen,
                                    &fast, NULL, 0),
                   FPM_P_OK);
  assert_int_equal(
      parse_split_opts(body, n + flen, FPM_FORMAT_JSON, 7, &slow, NULL, 1),
      FPM_P_OK);
  /* the fast path no longer takes the forged JSON at face value: it reads
   * the body as the repairing path does, which takes a forged `},{"pid":`
   * not followed by FPM's entry head as the uri's content: the real entry
   * survives, with the forgery in its uri */
  char why[200];
  assert_int_equal(fpm_status_diff(&fast, &slow, why, sizeof why), 0);
  assert_int_equal(fast.dropped, 0);
  assert_int_equal(fast.repaired, 1);
  int forged = 0;
  for (size_t i = 0; i < fast.n_workers; i++) {
    assert_true(fast.workers[i].pid != 1);
    forged += strncmp(fast.workers[i].uri, forge, flen) == 0;
  }
  assert_int_equal(forged, 1);
  fpm_status_clear(&fast);
  fpm_status_clear(&slow);
  free(body);
  free(src);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(forged_entry_through_raw_uri),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
