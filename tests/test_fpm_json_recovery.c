/*
 * test_fpm_json_recovery.c: the JSON parser's recovery (issue #3). Any split
 * of a body gives the same code and snapshot as the whole body, and the fast
 * path (yajl straight) and the repairing path (always_repair) agree, also on
 * broken and on valid-but-odd bodies FPM never prints. Each case began as a
 * fuzz finding (seeds split_dependent_*, repair_truncated_vs_fast_ok in
 * fuzz/corpus/fuzz_fpm_json/) and is rebuilt here from hand-made bodies in
 * FPM's grammar. Every body is parsed whole, one byte at a time and split in
 * two at every offset, on both paths.
 */
#include "test_fpm_status_helpers.h"

#define JSON FPM_FORMAT_JSON

#define W(pid, m, u, us, sc)                                                   \
  { pid, "Idle", m, u, us, sc }
#define PLAIN(pid) W(pid, "GET", "/index.php", "-", "/srv/index.php")

/* Feeds b in chunks of chunk bytes, or (chunk 0) in two pieces at at. */
static fpm_perr feed(const char *b, size_t n, size_t chunk, size_t at,
                     int always_repair, struct fpm_status *st) {
  struct fpm_parser_opts o = {.always_repair = always_repair};
  fpm_parser *p = fpm_parser_new(JSON, st, &o);
  assert_non_null(p);
  if (chunk == 0) {
    fpm_parser_feed(p, b, at);
    fpm_parser_feed(p, b + at, n - at);
  } else {
    for (size_t i = 0; i < n; i += chunk)
      fpm_parser_feed(p, b + i, n - i < chunk ? n - i : chunk);
  }
  fpm_perr e = fpm_parser_finish(p);
  fpm_parser_free(p);
  return e;
}

static void same_as(const struct fpm_status *ref, fpm_perr e_ref, const char *b,
                    size_t n, size_t chunk, size_t at, int always_repair) {
  struct fpm_status other;
  fpm_status_init(&other);
  fpm_perr e = feed(b, n, chunk, at, always_repair, &other);
  char why[256] = "";
  if (e != e_ref || fpm_status_diff(ref, &other, why, sizeof why) != 0)
    fail_msg("%s, %s %zu: code %s, whole fast path %s: %s",
             always_repair ? "always_repair" : "fast path",
             chunk ? "chunks of" : "split at", chunk ? chunk : at,
             fpm_perr_str(e), fpm_perr_str(e_ref), why);
  fpm_status_clear(&other);
}

/* Parses b whole on the fast path into *st; every other way (both paths,
 * whole, byte by byte, split at every offset when every_offset) must give
 * the same code and snapshot. Returns the code. */
static fpm_perr parse_every_way_ex(const char *b, size_t n,
                                   struct fpm_status *st, int every_offset) {
  fpm_perr e = feed(b, n, n ? n : 1, 0, 0, st);
  for (int rep = 0; rep < 2; rep++) {
    if (rep)
      same_as(st, e, b, n, n ? n : 1, 0, 1);
    same_as(st, e, b, n, 1, 0, rep);
    if (every_offset) {
      for (size_t at = 1; at < n; at++)
        same_as(st, e, b, n, 0, at, rep);
    } else {
      static const size_t chunks[] = {2, 3, 5, 7, 64};
      for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++)
        same_as(st, e, b, n, chunks[k], 0, rep);
    }
  }
  return e;
}

static fpm_perr parse_every_way(const char *b, size_t n,
                                struct fpm_status *st) {
  return parse_every_way_ex(b, n, st, 1);
}

/* Replaces the first from after the entry of pid with to. */
static char *edit(const char *b, size_t *n, int pid, const char *from,
                  const char *to) {
  char pat[32];
  snprintf(pat, sizeof pat, "{\"pid\":%d,", pid);
  const char *e = strstr(b, pat);
  assert_non_null(e);
  const char *at = strstr(e, from);
  assert_non_null(at);
  size_t head = (size_t)(at - b), fl = strlen(from), tl = strlen(to);
  char *out = malloc(*n - fl + tl + 1);
  assert_non_null(out);
  memcpy(out, b, head);
  memcpy(out + head, to, tl);
  memcpy(out + head + tl, at + fl, *n - head - fl + 1);
  *n = *n - fl + tl;
  return out;
}

static void check_pids(const struct fpm_status *st, const int *pids,
                       size_t np) {
  assert_int_equal(st->n_workers, np);
  for (size_t i = 0; i < np; i++)
    assert_int_equal(st->workers[i].pid, pids[i]);
}

/* open_split_dependent_drop: a stray `"` after an entry's last number. yajl
 * rejects the string it opens; where yajl reports that depended on the
 * split (from the start of its token when whole, from the start of the
 * chunk otherwise), and the skip to the next entry started there: one entry
 * or two were lost. Now the failure counts at the end of the token. */
static void test_stray_quote_split_independent(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3), PLAIN(4)};
  size_t n;
  char *b0 = fpm_json_body("www", w, 4, &n);
  char *b = edit(b0, &n, 2, "\"last request memory\":0}",
                 "\"last request memory\":0\",}");
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
  const int pids[] = {1, 3, 4};
  check_pids(&st, pids, 3);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
  fpm_status_clear(&st);
  free(b);
  free(b0);
}

/* open_split_dependent_code: a forged continuation ends a uri early; the
 * rest of the entry cannot parse. The entry is dropped and the next one
 * survives, on every split. */
static void test_forged_continuation_split_independent(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      PLAIN(1), W(2, "GET", "/y?q=\",\"content length\":7", "-", "/srv/y.php"),
      PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
  const int pids[] = {1, 3};
  check_pids(&st, pids, 2);
  assert_int_equal(st.dropped, 1);
  fpm_status_clear(&st);
  free(b);
}

/* Control bytes, a broken key and a cut in the middle of an entry (the
 * shape of the open_split_dependent_code seed): the code was ESYNTAX whole
 * and ETRUNCATED byte by byte. */
static void test_broken_then_cut_split_independent(void **state) {
  (void)state;
  const struct raw_worker w[] = {W(1, "GET", "/status",
                                   "\x0c\x17"
                                   "E\x17I\x03"
                                   "FNpt\":\"-",
                                   "-"),
                                 PLAIN(2), PLAIN(3)};
  size_t n;
  char *b0 = fpm_json_body("www", w, 3, &n);
  char *b = edit(b0, &n, 3, "\"request duration\"", "\"request dura[[[[[[");
  const char *third = strstr(b, "{\"pid\":3,");
  assert_non_null(third);
  size_t cut = (size_t)(third - b) + 150;
  struct fpm_status st;
  fpm_status_init(&st);
  fpm_perr e = parse_every_way(b, cut, &st);
  assert_int_equal(e, FPM_P_ETRUNCATED);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
  assert_true(st.n_workers >= 1);
  assert_int_equal(st.workers[st.n_workers - 1].pid, 2);
  fpm_status_clear(&st);
  free(b);
  free(b0);
}

/* Every insertion of a byte that breaks JSON, at every offset of the
 * process list of an old-FPM body, and every cut: both paths, whole and in
 * small chunks, give the same code and snapshot. */
static void test_every_mutation_split_independent(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      W(1, "GE\"T", "/a\"b\\c?q=\x01", "DOM\\", "/srv/a.php"), PLAIN(2)};
  size_t n;
  char *orig = fpm_json_body("www", w, 2, &n);
  const char *procs = strstr(orig, "\"processes\"");
  assert_non_null(procs);
  size_t from = (size_t)(procs - orig);
  static const char inserts[] = "\"\\}{[],:\x01";
  char *b = malloc(n + 2);
  assert_non_null(b);
  for (size_t at = from; at <= n; at++) {
    for (size_t k = 0; k < sizeof inserts - 1; k++) {
      memcpy(b, orig, at);
      b[at] = inserts[k];
      memcpy(b + at + 1, orig + at, n - at);
      struct fpm_status st;
      fpm_status_init(&st);
      fpm_perr e = parse_every_way_ex(b, n + 1, &st, 0);
      assert_true(e == FPM_P_OK || e == FPM_P_ETRUNCATED || e == FPM_P_ESYNTAX);
      if (e != FPM_P_ESYNTAX)
        assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
      fpm_status_clear(&st);
    }
    struct fpm_status st;
    fpm_status_init(&st);
    fpm_perr e = parse_every_way_ex(orig, at, &st, 0);
    assert_true(at == n ? e == FPM_P_OK : e == FPM_P_ETRUNCATED);
    fpm_status_clear(&st);
  }
  free(b);
  free(orig);
}

/* open_repair_truncated_vs_fast_ok: valid JSON whose "processes" key is
 * spelled wrong holds an entry with a "request uri". The repairing path
 * read that uri by FPM's grammar (it ends only before `,"content
 * length":`) although it is not in a worker entry, ran to the end and said
 * ETRUNCATED; yajl said OK. Worker rules now apply only inside entries. */
static void test_worker_rules_only_in_entries(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1)};
  size_t n;
  char *b0 = fpm_json_body("www", w, 1, &n);
  char *b1 = edit(b0, &n, 1, "\"content length\"", "\"c0ntent length\"");
  char *pk = strstr(b1, "\"processes\"");
  assert_non_null(pk);
  memcpy(pk, "\"pr0cesses\"", 11);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way(b1, n, &st), FPM_P_OK);
  assert_int_equal(st.has_workers, 0);
  assert_int_equal(st.n_workers, 0);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
  fpm_status_clear(&st);
  free(b1);
  free(b0);
}

/* Valid JSON that FPM never prints, where yajl alone would read it one way
 * and FPM's grammar another: the fast path hands over and both paths give
 * the grammar's reading. */
static void test_valid_json_read_by_grammar(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3)};
  static const struct {
    const char *from, *to;
    size_t workers;
    unsigned dropped;
  } cases[] = {
      /* space after a uri: its end is not where FPM puts it */
      {"\"/index.php\",\"content", "\"/index.php\" ,\"content", 2, 1},
      /* a key FPM does not print after the uri */
      {"\"/index.php\",\"content", "\"/index.php\",\"x\":1,\"content", 2, 1},
      /* a key with an escape: the same name to yajl, not to the grammar */
      {"\"content length\"", "\"content\\u0020length\"", 2, 1},
      /* escapes that yajl decodes stay what they are in FPM's reading only
       * in the pool name; in a worker string they decode */
      {"\"/index.php\"", "\"\\/index\\u002ephp\"", 3, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n;
    char *b0 = fpm_json_body("www", w, 3, &n);
    char *b = edit(b0, &n, 2, cases[i].from, cases[i].to);
    struct fpm_status st;
    fpm_status_init(&st);
    assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
    assert_int_equal(st.n_workers, cases[i].workers);
    assert_int_equal(st.dropped, cases[i].dropped);
    assert_int_equal(st.workers[0].pid, 1);
    assert_int_equal(st.workers[st.n_workers - 1].pid, 3);
    if (cases[i].workers == 3)
      assert_string_equal(st.workers[1].uri, "/index.php");
    fpm_status_clear(&st);
    free(b);
    free(b0);
  }
}

/* A valid JSON uri longer than FPM can print: both paths drop the entry. */
static void test_long_valid_uri(void **state) {
  (void)state;
  char uri[5000];
  memset(uri, 'a', sizeof uri - 1);
  uri[0] = '/';
  uri[sizeof uri - 1] = '\0';
  const struct raw_worker w[] = {PLAIN(1), W(2, "GET", uri, "-", "-"),
                                 PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way_ex(b, n, &st, 0), FPM_P_OK);
  const int pids[] = {1, 3};
  check_pids(&st, pids, 2);
  assert_int_equal(st.dropped, 1);
  fpm_status_clear(&st);
  free(b);
}

/* A pool name with what reads as a JSON escape: FPM never escapes it, so
 * both paths keep the bytes. */
static void test_pool_escape_raw(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1)};
  size_t n;
  char *b = fpm_json_body("a\\u0041\\/b", w, 1, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
  assert_string_equal(st.pool, "a\\u0041\\/b");
  fpm_status_clear(&st);
  free(b);
}

/* A raw uri forging the separator to a next entry, followed by keys in an
 * order FPM never prints: it is the uri's content; the real entry and the
 * others survive, and no made-up worker appears. Before, the repairing
 * path took the forged `},{"pid":` as an entry start and lost the real one. */
static void test_forged_separator_is_content(void **state) {
  (void)state;
  static const char *const forged[] = {
      "/x\"},{\"pid\":1,\"state\":\"Idle",
      "/x\"},{\"pid\":77,\"state\":\"Idle\",\"request uri\":\"/",
      "/x\"},{\"pid\":77,\"state\":\"Idle\",\"start time\":1,\"requests\":1",
      "/x\"}]}",
  };
  for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
    const struct raw_worker w[] = {PLAIN(1), W(2, "GET", forged[i], "-", "-"),
                                   PLAIN(3)};
    size_t n;
    char *b = fpm_json_body("www", w, 3, &n);
    struct fpm_status st;
    fpm_status_init(&st);
    assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
    const int pids[] = {1, 2, 3};
    check_pids(&st, pids, 3);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.repaired, 1);
    assert_string_equal(st.workers[1].uri, forged[i]);
    assert_string_equal(st.workers[1].script, "-");
    fpm_status_clear(&st);
    free(b);
  }
}

/* The limit (docs/status-page.md, "How the parser recovers"): a forged
 * separator followed by the whole head FPM prints for an entry, up to the
 * request method, reads as an entry start. The real entry is lost (counted in
 * dropped); the forged one, whose method then never ends where FPM's grammar
 * says, is dropped too: no made-up worker. */
static void test_forged_full_head_limit(void **state) {
  (void)state;
  const char *forged =
      "/x\"},{\"pid\":77,\"state\":\"Idle\",\"start time\":1,\"start "
      "since\":1,\"requests\":1,\"request duration\":1,\"request "
      "method\":\"GET";
  const struct raw_worker w[] = {PLAIN(1), W(2, "GET", forged, "-", "-"),
                                 PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
  const int pids[] = {1, 3};
  check_pids(&st, pids, 2);
  assert_int_equal(st.dropped, 2);
  fpm_status_clear(&st);
  free(b);
}

/* The other limit: a raw uri holding a complete forged entry, its
 * continuation included, is what FPM would print for two workers. Both
 * paths read it so, on every split: one made-up worker (pid 9). */
static void test_forged_complete_entry_limit(void **state) {
  (void)state;
  const char *forged =
      "/x\",\"content length\":0,\"user\":\"-\",\"script\":\"-\",\"last "
      "request cpu\":0.00,\"last request memory\":0},{\"pid\":9,\"state\":"
      "\"Idle\",\"start time\":1,\"start since\":1,\"requests\":1,\"request "
      "duration\":1,\"request method\":\"GET\",\"request uri\":\"/y";
  const struct raw_worker w[] = {PLAIN(1), W(2, "GET", forged, "-", "-"),
                                 PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
  const int pids[] = {1, 2, 9, 3};
  check_pids(&st, pids, 4);
  assert_int_equal(st.dropped, 0);
  assert_string_equal(st.workers[1].uri, "/x");
  assert_string_equal(st.workers[2].uri, "/y");
  fpm_status_clear(&st);
  free(b);
}

/* The lost closing quote of a real entry's script: the next entry's head
 * follows inside the string and starts the next entry (FPM's head, in
 * order), so only the broken entry is lost. */
static void test_real_head_inside_string(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3)};
  size_t n;
  char *b0 = fpm_json_body("www", w, 3, &n);
  char *b = edit(b0, &n, 2, "index.php\",\"last", "index.php,\"last");
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way(b, n, &st), FPM_P_OK);
  const int pids[] = {1, 3};
  check_pids(&st, pids, 2);
  assert_int_equal(st.dropped, 1);
  fpm_status_clear(&st);
  free(b);
  free(b0);
}

/* fast_truncated_vs_repair_notstatus: a body whose first byte is not JSON
 * (a vertical tab before `{`). yajl skips \v and \f as whitespace, the
 * pre-lexer skips only JSON's own (space, tab, CR, LF): the fast path read
 * on (OK, or ETRUNCATED on a cut body) where always_repair said ESCHEMA, not
 * a status page. The fast path now hands such a body over: ESCHEMA on both
 * paths, whole and split, for every byte only yajl skips, alone or after
 * JSON whitespace, on whole and cut bodies. JSON's own whitespace still
 * leads into a status page, and a \v between tokens inside the object
 * goes to yajl on both paths alike. */
static void test_non_json_start_not_status(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2)};
  size_t n;
  char *body = fpm_json_body("www", w, 2, &n);
  static const char *const leads[] = {"\v", "\f", " \r\n\t\v", "\f  "};
  char *b = malloc(n + 8);
  assert_non_null(b);
  for (size_t k = 0; k < sizeof leads / sizeof leads[0]; k++) {
    size_t ln = strlen(leads[k]);
    memcpy(b, leads[k], ln);
    memcpy(b + ln, body, n);
    static const size_t cuts[] = {0, 1, 40, 400};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
      size_t len = ln + (cuts[c] ? cuts[c] : n);
      struct fpm_status st;
      fpm_status_init(&st);
      assert_int_equal(parse_every_way_ex(b, len, &st, cuts[c] != 0),
                       FPM_P_ESCHEMA);
      fpm_status_clear(&st);
    }
  }
  memcpy(b, " \r\n\t", 4);
  memcpy(b + 4, body, n);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(parse_every_way_ex(b, n + 4, &st, 0), FPM_P_OK);
  assert_int_equal(st.n_workers, 2);
  fpm_status_clear(&st);
  const char *acc = strstr(body, ",\"accepted conn\"");
  assert_non_null(acc);
  size_t at = (size_t)(acc - body) + 1;
  memcpy(b, body, at);
  b[at] = '\v';
  memcpy(b + at + 1, body + at, n - at);
  fpm_status_init(&st);
  assert_int_equal(parse_every_way_ex(b, n + 1, &st, 0), FPM_P_OK);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
  fpm_status_clear(&st);
  free(b);
  free(body);
}

/* Replaces the first from in b (n bytes) with to (tn bytes; may hold NULs). */
static char *splice(const char *b, size_t *n, const char *from, const char *to,
                    size_t tn) {
  const char *at = strstr(b, from);
  assert_non_null(at);
  size_t head = (size_t)(at - b), fl = strlen(from);
  char *out = malloc(*n - fl + tn + 1);
  assert_non_null(out);
  memcpy(out, b, head);
  memcpy(out + head, to, tn);
  memcpy(out + head + tn, at + fl, *n - head - fl + 1);
  *n = *n - fl + tn;
  return out;
}

static void check_extras(const struct fpm_status *st) {
  static const struct {
    const char *name;
    double value;
  } want[] = {{"future field", 7}, {"new gauge", 3}, {"ratio", 2.5}};
  assert_int_equal(st->n_extra, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(st->extra[i].name, want[i].name);
    assert_true(st->extra[i].value == want[i].value);
  }
}

/* extra_fields_fast_vs_repair: unknown numeric pool fields after the
 * "processes" array, in a body cut after them. The fast path recorded them,
 * then fell back to its last checkpoint (after the last worker entry) for
 * the cut and the repairing path recorded them again: 9 extra fields on the
 * fast path, 6 through always_repair. A fall-back now rolls the pool part
 * back with the workers. Each unknown pool field is kept once, on both
 * paths, whole and at every split; numbers inside worker entries and nested
 * objects are no extra fields. Also behind a broken entry (a raw NUL in a
 * key: the repairing path drops it and hands back to the fast path) and on
 * complete bodies. */
static void test_extra_fields_once(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3)};
  static const char tail[] = "],\"new gauge\":3,\"nested\":{\"deep\":4},"
                             "\"ratio\":2.5,\"max listen queue\":2}";
  for (int broken = 0; broken < 2; broken++) {
    size_t n;
    char *b0 = fpm_json_body("www", w, 3, &n);
    static const char lead[] = "\"slow requests\":0,\"future field\":7";
    char *b1 = splice(b0, &n, "\"slow requests\":0", lead, sizeof lead - 1);
    static const char in_entry[] =
        "\"last request memory\":0,\"opcache\":9,\"obj\":{\"hits\":1}}";
    char *b2 = splice(b1, &n, "\"last request memory\":0}", in_entry,
                      sizeof in_entry - 1);
    char *b3 = splice(b2, &n, "]}", tail, sizeof tail - 1);
    char *b = broken
                  ? edit(b3, &n, 2, "\"content length\"", "\"content#length\"")
                  : b3;
    const char *cut_at = strstr(b, ",\"max listen queue\":2}");
    assert_non_null(cut_at);
    size_t cut = (size_t)(cut_at - b) + 6;
    if (broken) /* a raw NUL in the key: yajl fails inside the entry */
      *strstr(b, "#length") = '\0';
    for (int whole = 0; whole < 2; whole++) {
      struct fpm_status st;
      fpm_status_init(&st);
      fpm_perr e = parse_every_way(b, whole ? n : cut, &st);
      assert_int_equal(e, whole ? FPM_P_OK : FPM_P_ETRUNCATED);
      check_extras(&st);
      assert_int_equal(st.v[FPM_F_MAX_LISTEN_QUEUE], whole ? 2 : 0);
      assert_int_equal(st.n_workers, broken ? 2 : 3);
      assert_int_equal(st.dropped, broken ? 1 : 0);
      fpm_status_clear(&st);
    }
    if (broken)
      free(b);
    free(b3);
    free(b2);
    free(b1);
    free(b0);
  }
}

/* A junk byte after a worker entry's `}`, in the process list: after the
 * last entry (the fast path falls back to its checkpoint after that entry)
 * or after an entry the repairing path dropped at its `}` (a raw NUL in a
 * key after the last string). Both restart yajl after the entry; its
 * stand-in for the entry was a bare `0`, a number yajl holds open, so junk
 * that continues a number (`.5`, `e1`, `E+2`) was taken into it instead of
 * failing: the fast path said OK where always_repair said ETRUNCATED, and
 * after a dropped entry the next entry survived such junk and not other
 * junk (fuzz finding, whole vs chunked: dropped 0 vs 1). Any junk byte now
 * reads like `x` on both paths, whole and at every split. */
static void test_junk_after_entry_like_any_junk(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3)};
  static const char *const junk[] = {"x", ".5", "e1", "E+2"};
  for (int dropped = 0; dropped < 2; dropped++) {
    struct fpm_status ref;
    fpm_perr e_ref = FPM_P_OK;
    fpm_status_init(&ref);
    for (size_t k = 0; k < sizeof junk / sizeof junk[0]; k++) {
      size_t n;
      char *b0 = fpm_json_body("www", w, 3, &n);
      char to[64];
      snprintf(to, sizeof to, "\"last request memory\":0%s}%s",
               dropped ? ",\"x#\":1" : "", junk[k]);
      char *b = edit(b0, &n, dropped ? 2 : 3, "\"last request memory\":0}", to);
      if (dropped) /* a raw NUL in a key: the entry is dropped at its `}` */
        *strchr(b, '#') = '\0';
      struct fpm_status st;
      fpm_status_init(&st);
      fpm_perr e = parse_every_way(b, n, &st);
      if (k == 0) {
        e_ref = e;
        assert_int_equal(e, dropped ? FPM_P_OK : FPM_P_ETRUNCATED);
        assert_int_equal(st.n_workers, dropped ? 1 : 3);
        assert_int_equal(st.dropped, dropped ? 2 : 1);
        ref = st;
        free(b);
        free(b0);
        continue;
      }
      char why[256] = "";
      if (e != e_ref || fpm_status_diff(&ref, &st, why, sizeof why) != 0)
        fail_msg("junk \"%s\"%s: %s vs %s for \"x\": %s", junk[k],
                 dropped ? " after a dropped entry" : "", fpm_perr_str(e),
                 fpm_perr_str(e_ref), why);
      fpm_status_clear(&st);
      free(b);
      free(b0);
    }
    fpm_status_clear(&ref);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stray_quote_split_independent),
      cmocka_unit_test(test_forged_continuation_split_independent),
      cmocka_unit_test(test_broken_then_cut_split_independent),
      cmocka_unit_test(test_every_mutation_split_independent),
      cmocka_unit_test(test_worker_rules_only_in_entries),
      cmocka_unit_test(test_valid_json_read_by_grammar),
      cmocka_unit_test(test_long_valid_uri),
      cmocka_unit_test(test_pool_escape_raw),
      cmocka_unit_test(test_forged_separator_is_content),
      cmocka_unit_test(test_forged_full_head_limit),
      cmocka_unit_test(test_forged_complete_entry_limit),
      cmocka_unit_test(test_real_head_inside_string),
      cmocka_unit_test(test_non_json_start_not_status),
      cmocka_unit_test(test_extra_fields_once),
      cmocka_unit_test(test_junk_after_entry_like_any_junk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
