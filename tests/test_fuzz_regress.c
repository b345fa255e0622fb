/*
 * test_fuzz_regress.c: regressions found by the fuzz targets (fuzz/), each
 * on the smallest body that showed it, and every seed of the JSON target's
 * corpus (fuzz/corpus/fuzz_fpm_json/) replayed with the target's checks, so
 * that the plain unit build (no clang, no libFuzzer) keeps them fixed.
 */
#include "test_fpm_status_helpers.h"

#include "../fuzz/fuzz_status.h" /* fz_parse: as the target parses */

#include <dirent.h>

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

/* ------------------------------------------------- corpus replay */

#define CORPUS_JSON FPMT_SOURCE_DIR "/fuzz/corpus/fuzz_fpm_json"

/* One seed as fuzz/fuzz_fpm_json.c checks it: whole, chunked and
 * always_repair give the same code and snapshot. Returns the code. */
static fpm_perr replay_json_seed(const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", CORPUS_JSON, name);
  size_t n;
  uint8_t *in = (uint8_t *)read_all(path, "seed", &n);
  struct fz_split s;
  fpm_perr ea = FPM_P_OK;
  if (fz_split_init(&s, in, n) == 0) {
    struct fpm_status a, b, c;
    fpm_status_init(&a);
    fpm_status_init(&b);
    fpm_status_init(&c);
    /* a broken check in fz_parse (error record, offset) aborts the test */
    ea = fz_parse(&s, FPM_FORMAT_JSON, 0, 0, &a);
    fpm_perr eb = fz_parse(&s, FPM_FORMAT_JSON, 1, 0, &b);
    fpm_perr ec = fz_parse(&s, FPM_FORMAT_JSON, (int)(s.flags & 1), 1, &c);
    if (ea != eb || ea != ec)
      fail_msg("seed %s: whole %s, chunked %s, always_repair %s", name,
               fpm_perr_str(ea), fpm_perr_str(eb), fpm_perr_str(ec));
    char why[256] = "";
    if ((ea == FPM_P_OK || ea == FPM_P_ETRUNCATED) &&
        (fpm_status_diff(&a, &b, why, sizeof why) != 0 ||
         fpm_status_diff(&a, &c, why, sizeof why) != 0))
      fail_msg("seed %s: snapshots differ: %s", name, why);
    fpm_status_clear(&a);
    fpm_status_clear(&b);
    fpm_status_clear(&c);
  }
  free(in);
  return ea;
}

/* fast_truncated_vs_repair_notstatus: a cut body behind a vertical tab
 * (which yajl skips as whitespace and JSON does not), with a misspelled
 * pool key. The fast path read on and said ETRUNCATED, always_repair said
 * ESCHEMA (not a status page) at the first byte; both say ESCHEMA now. */
static void seed_fast_truncated_vs_repair_notstatus(void **state) {
  (void)state;
  assert_int_equal(replay_json_seed("fast_truncated_vs_repair_notstatus"),
                   FPM_P_ESCHEMA);
}

/* extra_fields_fast_vs_repair: a cut body with unknown numeric pool fields
 * after the "processes" array (and a broken worker entry before them). The
 * fast path recorded them, fell back to its last checkpoint for the cut,
 * and the repairing path recorded them again: 9 extra fields vs 6 through
 * always_repair. Both keep them once now. */
static void seed_extra_fields_fast_vs_repair(void **state) {
  (void)state;
  assert_int_equal(replay_json_seed("extra_fields_fast_vs_repair"),
                   FPM_P_ETRUNCATED);
}

/* junk_number_after_entry_whole_vs_chunked: `e` after the last worker
 * entry of a cut body with broken entries before it. yajl, restarted after
 * the entry with a bare `0` standing for it, took the `e` as part of that
 * number instead of failing: dropped 0 whole on the fast path, 1 in chunks
 * and through always_repair. The stand-in is complete now: 1 everywhere. */
static void seed_junk_number_after_entry(void **state) {
  (void)state;
  assert_int_equal(replay_json_seed("junk_number_after_entry_whole_vs_chunked"),
                   FPM_P_ETRUNCATED);
}

/* error_offset_past_body: `{}` then a string with bytes the repairing
 * path escapes (\xff, \x05), fed a byte at a time. yajl counted the failing
 * byte in the repaired buffer, longer than the raw bytes it stands for:
 * "error offset 15" in a 13-byte body. Offsets are clamped to the bytes
 * fed now (fpm_parser_fail), and the message says the same byte. */
static void seed_error_offset_past_body(void **state) {
  (void)state;
  assert_int_equal(replay_json_seed("error_offset_past_body"), FPM_P_ESYNTAX);
}

/* Every seed of the JSON target, with the target's checks. */
static void json_corpus_replays(void **state) {
  (void)state;
  DIR *dir = opendir(CORPUS_JSON);
  if (dir == NULL)
    fail_msg("cannot open %s", CORPUS_JSON);
  size_t seeds = 0;
  const struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    (void)replay_json_seed(de->d_name);
    seeds++;
  }
  closedir(dir);
  assert_true(seeds >= 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(forged_entry_through_raw_uri),
      cmocka_unit_test(seed_fast_truncated_vs_repair_notstatus),
      cmocka_unit_test(seed_extra_fields_fast_vs_repair),
      cmocka_unit_test(seed_junk_number_after_entry),
      cmocka_unit_test(seed_error_offset_past_body),
      cmocka_unit_test(json_corpus_replays),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
