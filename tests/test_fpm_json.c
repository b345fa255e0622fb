/*
 * test_fpm_json.c: the JSON status parser on hand-made bodies: every class
 * of broken JSON FPM prints (docs/status-page.md, "The broken JSON FPM
 * prints"), built from FPM's grammar with raw strings as versions before the
 * escaping fixes print them; truncation, drops, caps, 64-bit counters, unknown
 * and 8.4 fields, and bodies that are not status pages. Every parse is also
 * checked with input split in chunks of 1..31 bytes.
 */
#include "test_fpm_status_helpers.h"

#define JSON FPM_FORMAT_JSON

#define W(pid, m, u, us, sc)                                                   \
  { pid, "Running", m, u, us, sc }
#define PLAIN(pid) W(pid, "GET", "/index.php", "-", "/srv/index.php")

/* Parses raw workers behind FPM's pool part; checks that every worker
 * survived with its strings decoded to exactly the raw bytes. */
static void check_roundtrip(const struct raw_worker *w, size_t nw,
                            unsigned want_repaired) {
  size_t n;
  char *b = fpm_json_body("www", w, nw, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b, n, JSON, &st);
  assert_int_equal(st.v[FPM_F_TOTAL_PROCESSES], nw);
  assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
  assert_string_equal(st.pool, "www");
  assert_int_equal(st.n_workers, nw);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(st.repaired, want_repaired);
  for (size_t i = 0; i < nw; i++) {
    const struct fpm_worker *x = &st.workers[i];
    assert_int_equal(x->pid, w[i].pid);
    assert_int_equal(x->present, (1u << FPM_W__COUNT) - 1);
    assert_int_equal(x->requests, i + 1);
    assert_string_equal(x->method, w[i].method);
    assert_string_equal(x->uri, w[i].uri);
    assert_string_equal(x->user, w[i].user);
    assert_string_equal(x->script, w[i].script);
  }
  fpm_status_clear(&st);
  free(b);
}

static void test_quote_in_uri(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      PLAIN(1),
      W(2, "GET", "/slow.php?q=\"quoted\"&x=\"", "-", "/srv/slow.php"),
      W(3, "GET", "/we\"ird.php", "-", "/srv/we\"ird.php"),
      PLAIN(4),
  };
  check_roundtrip(w, 4, 2);
}

static void test_backslash_in_user(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      W(1, "GET", "/a", "DOMAIN\\user", "/srv/a.php"),
      W(2, "GET", "/b", "DOMAIN\\", "/srv/b.php"), /* raw `\` before `"` */
      W(3, "GET", "/c\\q\\", "x\\y", "C:\\srv\\c.php"),
      PLAIN(4),
  };
  check_roundtrip(w, 4, 3);
}

static void test_control_chars(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      W(1, "GET", "/ctl\x01\x1f\x7f\tname.php?c=\n\x1b[31m\r", "-",
        "/srv/x\ny.php"),
      PLAIN(2),
  };
  check_roundtrip(w, 2, 1);
}

static void test_invalid_utf8(void **state) {
  (void)state;
  /* kept as bytes: not a repair */
  const struct raw_worker w[] = {
      W(1, "GET", "/bad.php?x=\xff\xfe&y=\xc3", "-", "/srv/\xe6\x97.php"),
      W(2, "GET", "/cut-\xe6\x97", "\xc3", "/srv/ok.php"),
  };
  check_roundtrip(w, 2, 0);
}

static void test_quote_backslash_method(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      W(1, "GE\"T\\<x>&", "/m", "-", "-"),
      W(2, "\"", "/n", "\\", "\\"),
      PLAIN(3),
  };
  check_roundtrip(w, 3, 2);
}

/* A quote followed by text that looks like a key: only the exact
 * continuation FPM prints next ends a value. */
static void test_fake_keys(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      W(1, "GET", "/x?q=\",\"user\":\"evil", "-", "/srv/x.php"),
      W(2, "GET", "/y?q=\",\"content length\":7", "-", "/srv/y.php"),
      W(3, "GET", "/z", "a\",\"script\"", "/s\",\"last request cpu\""),
      PLAIN(4),
  };
  /* worker 2's uri ends where FPM's own continuation follows it: the
   * part before is the uri, the rest cannot parse and the entry is dropped
   * (the only case where the grammar cannot tell) */
  size_t n;
  char *b = fpm_json_body("www", w, 4, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b, n, JSON, &st);
  assert_int_equal(st.n_workers, 3);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.workers[0].pid, 1);
  assert_string_equal(st.workers[0].uri, "/x?q=\",\"user\":\"evil");
  assert_string_equal(st.workers[0].user, "-");
  assert_int_equal(st.workers[1].pid, 3);
  assert_string_equal(st.workers[1].user, "a\",\"script\"");
  assert_string_equal(st.workers[1].script, "/s\",\"last request cpu\"");
  assert_int_equal(st.workers[2].pid, 4);
  assert_int_equal(st.repaired, 2);
  fpm_status_clear(&st);
  free(b);
}

static void test_pool_name(void **state) {
  (void)state;
  static const char *const pools[] = {"p\\o<o>&l \xc3\xb6l", "C:\\new\\test",
                                      "back\\", "a\\u0041", "x\\\\y"};
  for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++) {
    const struct raw_worker w[] = {PLAIN(7)};
    size_t n;
    char *b = fpm_json_body(pools[i], w, 1, &n);
    struct fpm_status st;
    fpm_status_init(&st);
    parse_ok(b, n, JSON, &st);
    /* FPM never escapes the pool name: every backslash is the name's */
    assert_string_equal(st.pool, pools[i]);
    assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
    assert_int_equal(st.n_workers, 1);
    assert_int_equal(st.workers[0].pid, 7);
    fpm_status_clear(&st);
    free(b);
  }
}

/* Escaped output (8.2.36) decodes per JSON: \/ and \uXXXX to UTF-8. */
static void test_escapes_decoded(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      W(1, "GET",
        "\\/\\u00fcn\\u00ef\\/\\u65e5.php?e=\\ud83d\\ude00&q=\\\"x\\\\",
        "us\\\"er\\\\x", "\\/tmp\\/a b.php"),
  };
  size_t n;
  char *b = fpm_json_body("www", w, 1, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b, n, JSON, &st);
  assert_string_equal(st.workers[0].uri, "/\xc3\xbcn\xc3\xaf/\xe6\x97\xa5.php"
                                         "?e=\xf0\x9f\x98\x80&q=\"x\\");
  assert_string_equal(st.workers[0].user, "us\"er\\x");
  assert_string_equal(st.workers[0].script, "/tmp/a b.php");
  assert_int_equal(st.repaired, 0);
  assert_int_equal(st.workers[0].flags, 0);
  fpm_status_clear(&st);
  free(b);
}

static void test_repaired_flag(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), W(2, "GET", "/\"", "-", "-"),
                                 PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b, n, JSON, &st);
  assert_int_equal(st.workers[0].flags, 0);
  assert_int_equal(st.workers[1].flags, FPM_WORKER_REPAIRED);
  assert_int_equal(st.workers[2].flags, 0);
  assert_int_equal(st.repaired, 1);
  fpm_status_clear(&st);
  free(b);
}

/* A value whose closing quote was lost: the next entry's start shows up
 * inside it; the broken entry is dropped, the next one survives. */
static void test_lost_quote_next_entry_survives(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  /* remove the quote that closes worker 2's script */
  char *second = strstr(b, "{\"pid\":2,");
  assert_non_null(second);
  char *q = strstr(second, "index.php\",\"last request cpu\"");
  assert_non_null(q);
  q += strlen("index.php");
  memmove(q, q + 1, strlen(q + 1) + 1);
  n--;
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b, n, JSON, &st);
  assert_int_equal(st.n_workers, 2);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.workers[0].pid, 1);
  assert_int_equal(st.workers[1].pid, 3);
  assert_string_equal(st.workers[1].script, "/srv/index.php");
  assert_int_equal(st.v[FPM_F_TOTAL_PROCESSES], 3);
  fpm_status_clear(&st);
  free(b);
}

static void replace_once(char *b, const char *from, const char *to) {
  char *p = strstr(b, from);
  assert_non_null(p);
  assert_int_equal(strlen(from), strlen(to));
  memcpy(p, to, strlen(to));
}

/* Garbage yajl rejects inside one entry: only that entry is lost. */
static void test_bad_entry_dropped(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3), PLAIN(4)};
  for (int where = 0; where < 4; where++) {
    size_t n;
    char *b = fpm_json_body("www", w, 4, &n);
    char pat[32];
    snprintf(pat, sizeof pat, "{\"pid\":%d,", where + 1);
    char *e = strstr(b, pat);
    assert_non_null(e);
    replace_once(e, "\"requests\":", "\"requests\"?"); /* a bad token */
    struct fpm_status st;
    fpm_status_init(&st);
    parse_ok(b, n, JSON, &st);
    assert_int_equal(st.n_workers, 3);
    assert_int_equal(st.dropped, 1);
    for (size_t i = 0, pid = 1; i < 3; i++, pid++) {
      if ((int)pid == where + 1)
        pid++;
      assert_int_equal(st.workers[i].pid, pid);
      assert_string_equal(st.workers[i].uri, "/index.php");
    }
    assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
    fpm_status_clear(&st);
    free(b);
  }
}

/* A string longer than FPM can print for its key: the end was missed. */
static void test_runaway_string(void **state) {
  (void)state;
  char uri[6000];
  memset(uri, 'a', sizeof uri - 1);
  uri[0] = '/';
  uri[sizeof uri - 1] = '\0';
  uri[10] = '"'; /* a raw quote so that the entry needs repair */
  const struct raw_worker w[] = {PLAIN(1), W(2, "GET", uri, "-", "-"),
                                 PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(b, n, JSON, &st);
  assert_int_equal(st.n_workers, 2);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(st.workers[1].pid, 3);
  fpm_status_clear(&st);
  free(b);
}

static void test_truncated(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      PLAIN(1), W(2, "GET", "/\xc3\xa9t\xc3\xa9", "-", "/srv/x.php"), PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  const char *third = strstr(b, "{\"pid\":3,");
  size_t cut3 = (size_t)(third - b) + 40; /* inside worker 3 */
  const char *eacute = strstr(b, "/\xc3\xa9t");
  size_t cutu = (size_t)(eacute - b) + 2; /* inside a UTF-8 sequence */
  const char *procs = strstr(b, ", \"processes\"");
  size_t cutp = (size_t)(procs - b) - 8; /* inside the pool fields */
  struct {
    size_t cut;
    size_t workers;
    unsigned dropped;
  } cases[] = {{cut3, 2, 1}, {cutu, 1, 1}, {n - 1, 3, 0}, {n - 2, 3, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fpm_status st;
    struct fpm_parse_error err;
    fpm_status_init(&st);
    fpm_perr e = parse_all_splits(b, cases[i].cut, JSON, &st, &err);
    assert_int_equal(e, FPM_P_ETRUNCATED);
    assert_int_equal(err.code, FPM_P_ETRUNCATED);
    assert_true(strlen(err.message) > 10);
    /* the pool figures and the intact workers are kept */
    assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
    assert_int_equal(st.n_workers, cases[i].workers);
    assert_int_equal(st.dropped, cases[i].dropped);
    assert_int_equal(st.workers[0].pid, 1);
    assert_string_equal(st.workers[0].uri, "/index.php");
    fpm_status_clear(&st);
  }
  struct fpm_status st;
  struct fpm_parse_error err;
  fpm_status_init(&st);
  assert_int_equal(parse_all_splits(b, cutp, JSON, &st, &err),
                   FPM_P_ETRUNCATED);
  assert_int_equal(st.n_workers, 0);
  assert_true(fpm_status_has(&st, FPM_F_ACCEPTED_CONN));
  fpm_status_clear(&st);
  free(b);
}

static void test_not_status(void **state) {
  (void)state;
  static const struct {
    const char *body;
    fpm_perr code;
    const char *excerpt;
  } cases[] = {
      {"File not found.\n", FPM_P_ESCHEMA, "File not found.\\n"},
      {"Access denied.\n", FPM_P_ESCHEMA, "Access denied.\\n"},
      {"<!DOCTYPE html><html><body>502</body></html>", FPM_P_ESCHEMA,
       "<!DOCTYPE html><html><body>502</body></html>"},
      {"{}", FPM_P_ESCHEMA, ""},
      {"[]", FPM_P_ESCHEMA, "[]"},
      {"{\"status\":\"ok\",\"n\":1}", FPM_P_ESCHEMA, ""},
      {"", FPM_P_ETRUNCATED, ""},
      {"   \n", FPM_P_ESCHEMA, ""},
      {"{\"pool\":\"www\",", FPM_P_ETRUNCATED, NULL},
      {"{\"pool\":\"www\",\"accepted conn\":1}}", FPM_P_ESYNTAX, NULL},
      {"{\"pool\":\"www\",\"accepted conn\":1x}", FPM_P_ESYNTAX, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct fpm_status st;
    struct fpm_parse_error err;
    fpm_status_init(&st);
    fpm_perr e =
        parse_all_splits(cases[i].body, strlen(cases[i].body), JSON, &st, &err);
    if (e != cases[i].code)
      fail_msg("case %zu: %s, want %s (%s)", i, fpm_perr_str(e),
               fpm_perr_str(cases[i].code), err.message);
    assert_int_equal(err.code, e);
    assert_true(strlen(err.message) > 10);
    if (cases[i].excerpt != NULL && cases[i].excerpt[0] != '\0')
      assert_non_null(strstr(cases[i].excerpt, err.excerpt));
    fpm_status_clear(&st);
  }
  /* the excerpt escapes what is not printable */
  struct fpm_status st;
  struct fpm_parse_error err;
  fpm_status_init(&st);
  assert_int_equal(fpm_status_parse("\x01\xff<x>", 5, JSON, &st, &err),
                   FPM_P_ESCHEMA);
  assert_string_equal(err.excerpt, "\\x01\\xff<x>");
  assert_int_equal(err.offset, 0);
  /* the error offset points at the bad byte */
  static const char bad[] = "{\"pool\":\"www\",\"accepted conn\":1x}";
  assert_int_equal(fpm_status_parse(bad, sizeof bad - 1, JSON, &st, &err),
                   FPM_P_ESYNTAX);
  assert_true(err.offset >= 30 && err.offset <= 33);
  fpm_status_clear(&st);
}

static void test_max_workers(void **state) {
  (void)state;
  const struct raw_worker w[] = {PLAIN(1), PLAIN(2), PLAIN(3)};
  size_t n;
  char *b = fpm_json_body("www", w, 3, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  struct fpm_parser_opts o = {.max_workers = 2};
  fpm_parser *p = fpm_parser_new(JSON, &st, &o);
  assert_non_null(p);
  fpm_parser_feed(p, b, n);
  assert_int_equal(fpm_parser_finish(p), FPM_P_ETOOBIG);
  assert_int_equal(fpm_parser_error(p)->code, FPM_P_ETOOBIG);
  assert_non_null(strstr(fpm_parser_error(p)->message, "max_workers"));
  fpm_parser_free(p);
  o.max_workers = 3;
  p = fpm_parser_new(JSON, &st, &o);
  fpm_parser_feed(p, b, n);
  assert_int_equal(fpm_parser_finish(p), FPM_P_OK);
  assert_int_equal(st.n_workers, 3);
  fpm_parser_free(p);
  fpm_status_clear(&st);
  free(b);
}

static void test_numbers_and_fields(void **state) {
  (void)state;
  /* 8.4's memory peak, a field from the future, 64-bit counters, a start
   * since wrapped by a clock step, 7.3's state spelling, a 7.x build
   * without listen-queue lines and last request cpu */
  static const char body[] =
      "{\"pool\":\"w\",\"process manager\":\"ondemand\",\"start time\":1,"
      "\"start since\":18446744073709551000,"
      "\"accepted conn\":18446744073709551615,\"idle processes\":0,"
      "\"active processes\":1,\"total processes\":1,"
      "\"max active processes\":1,\"max children reached\":3,"
      "\"slow requests\":0,\"memory peak\":2097152,\"future gauge\":42.5,"
      "\"future text\":\"x\", \"processes\":[{\"pid\":9,\"state\":"
      "\"Getting request informations\",\"start time\":1,\"start since\":2,"
      "\"requests\":3,\"request duration\":4,\"request method\":\"GET\","
      "\"request uri\":\"\\/a\",\"content length\":5,\"user\":\"-\","
      "\"script\":\"-\",\"last request memory\":6,\"new\":{\"x\":[1]}}]}";
  struct fpm_status st;
  fpm_status_init(&st);
  parse_ok(body, sizeof body - 1, JSON, &st);
  assert_true(st.v[FPM_F_ACCEPTED_CONN] == UINT64_MAX);
  assert_true(st.v[FPM_F_START_SINCE] == 18446744073709551000u);
  assert_true(fpm_status_has(&st, FPM_F_MEMORY_PEAK));
  assert_int_equal(st.v[FPM_F_MEMORY_PEAK], 2097152);
  assert_false(fpm_status_has(&st, FPM_F_LISTEN_QUEUE));
  assert_false(fpm_status_has(&st, FPM_F_LISTEN_QUEUE_LEN));
  assert_int_equal(st.n_extra, 1);
  assert_string_equal(st.extra[0].name, "future gauge");
  assert_float_equal(st.extra[0].value, 42.5, 1e-12);
  assert_int_equal(st.n_workers, 1);
  const struct fpm_worker *w = &st.workers[0];
  assert_int_equal(w->state, FPM_STATE_GETTING_INFO);
  assert_false((w->present >> FPM_W_LAST_REQUEST_CPU) & 1u);
  assert_true((w->present >> FPM_W_LAST_REQUEST_MEMORY) & 1u);
  assert_int_equal(w->last_request_memory, 6);
  assert_int_equal(w->content_length, 5);
  assert_string_equal(w->uri, "/a");
  fpm_status_clear(&st);
}

/* Many workers: the arena and the worker array move while they grow; the
 * string pointers must still be right at the end. */
static void test_arena_growth(void **state) {
  (void)state;
  enum { N = 3000 };
  struct raw_worker *w = calloc(N, sizeof *w);
  char(*uris)[64] = calloc(N, sizeof *uris);
  assert_non_null(w);
  assert_non_null(uris);
  for (int i = 0; i < N; i++) {
    snprintf(uris[i], sizeof uris[i], "/page-%d.php?x=%d%s", i, i * 7,
             i % 97 == 0 ? "&q=\"" : "");
    w[i] = (struct raw_worker)W(100 + i, "GET", uris[i], "-", "/srv/p.php");
  }
  size_t n;
  char *b = fpm_json_body("www", w, N, &n);
  struct fpm_status st;
  fpm_status_init(&st);
  assert_int_equal(fpm_status_parse(b, n, JSON, &st, NULL), FPM_P_OK);
  assert_int_equal(st.n_workers, N);
  for (int i = 0; i < N; i++)
    assert_string_equal(st.workers[i].uri, uris[i]);
  assert_int_equal(st.repaired, (N + 96) / 97);
  /* the fast path fell back and resumed 31 times: the same result as the
   * repairing path alone, fed in other pieces */
  static const size_t chunks[] = {1000, 4096, 65536};
  for (size_t k = 0; k < 3; k++) {
    for (int rep = 0; rep < 2; rep++) {
      struct fpm_status other;
      fpm_status_init(&other);
      assert_int_equal(
          parse_split_opts(b, n, JSON, chunks[k], &other, NULL, rep), FPM_P_OK);
      char why[256] = "";
      if (fpm_status_diff(&st, &other, why, sizeof why) != 0)
        fail_msg("chunk %zu repair %d: %s", chunks[k], rep, why);
      fpm_status_clear(&other);
    }
  }
  fpm_status_clear(&st);
  /* clear leaves an empty, reusable snapshot */
  assert_int_equal(st.n_workers, 0);
  assert_null(st.workers);
  free(b);
  free(w);
  free(uris);
}

/* Deterministic mutations of a real capture (quotes, backslashes, control
 * bytes, braces, cuts): never a crash, the pool figures survive (the pool
 * part is untouched), every split gives the same result, and the fast path
 * and the repairing path agree (checked inside parse_all_splits_ex): valid
 * JSON off FPM's grammar is handed over to the repairing path. */
static void test_mutations(void **state) {
  (void)state;
  size_t n;
  char *orig = fx_body("php82_www_load_status_json_full.raw", &n);
  const char *procs = strstr(orig, ", \"processes\"");
  assert_non_null(procs);
  size_t pool_end = (size_t)(procs - orig);
  static const char inserts[] = "\"\\\x01\n}{,:[]\xc3";
  uint32_t seed = 12345;
  char *b = malloc(n + 64);
  assert_non_null(b);
  for (int round = 0; round < 400; round++) {
    memcpy(b, orig, n);
    size_t len = n;
    int edits = 1 + round % 4;
    size_t first = len;
    for (int e = 0; e < edits; e++) {
      seed = seed * 1103515245u + 12345u;
      size_t at = pool_end + 2 + (seed >> 8) % (len - pool_end - 2);
      char c = inserts[(seed >> 3) % (sizeof inserts - 1)];
      if ((seed >> 20) % 2 == 0) { /* insert */
        memmove(b + at + 1, b + at, len - at);
        b[at] = c;
        len++;
      } else { /* overwrite */
        b[at] = c;
      }
      if (at < first)
        first = at;
    }
    if (round % 10 == 9)
      len = first + (len - first) / 2; /* and a cut */
    struct fpm_status st;
    struct fpm_parse_error err;
    fpm_status_init(&st);
    fpm_perr r = parse_all_splits_ex(b, len, JSON, &st, &err, 1);
    assert_true(r == FPM_P_OK || r == FPM_P_ETRUNCATED || r == FPM_P_ESYNTAX);
    if (r != FPM_P_ESYNTAX) {
      assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 89);
      assert_string_equal(st.pool, "www");
      assert_true(st.n_workers <= 9);
    }
    fpm_status_clear(&st);
  }
  free(b);
  free(orig);
}

/* The same on an old-FPM body (raw strings that need repair): mutations
 * around and inside broken strings. */
static void test_mutations_raw(void **state) {
  (void)state;
  const struct raw_worker w[] = {
      PLAIN(1),
      W(2, "GE\"T\\", "/we\"ird\\name.php?q=\"x\"&c=\x01\t", "DOMAIN\\",
        "/srv/we\"ird.php"),
      PLAIN(3),
      W(4, "GET", "/x?q=\",\"user\":\"evil\xff", "a\\u", "C:\\x"),
      PLAIN(5),
  };
  size_t n;
  char *orig = fpm_json_body("p\\ool", w, 5, &n);
  const char *procs = strstr(orig, ", \"processes\"");
  assert_non_null(procs);
  size_t pool_end = (size_t)(procs - orig);
  static const char inserts[] = "\"\\\x01}{,:\xc3";
  uint32_t seed = 777;
  char *b = malloc(n + 64);
  assert_non_null(b);
  for (int round = 0; round < 200; round++) {
    memcpy(b, orig, n);
    size_t len = n;
    for (int e = 0; e < 1 + round % 3; e++) {
      seed = seed * 1103515245u + 12345u;
      size_t at = pool_end + 2 + (seed >> 8) % (len - pool_end - 2);
      char c = inserts[(seed >> 3) % (sizeof inserts - 1)];
      if ((seed >> 20) % 2 == 0) {
        memmove(b + at + 1, b + at, len - at);
        b[at] = c;
        len++;
      } else {
        b[at] = c;
      }
    }
    if (round % 7 == 6)
      len -= (seed >> 4) % (len - pool_end);
    struct fpm_status st;
    struct fpm_parse_error err;
    fpm_status_init(&st);
    fpm_perr r = parse_all_splits_ex(b, len, JSON, &st, &err, 1);
    assert_true(r == FPM_P_OK || r == FPM_P_ETRUNCATED || r == FPM_P_ESYNTAX);
    if (r != FPM_P_ESYNTAX) {
      assert_string_equal(st.pool, "p\\ool");
      assert_int_equal(st.v[FPM_F_ACCEPTED_CONN], 48);
      assert_true(st.n_workers <= 8);
    }
    fpm_status_clear(&st);
  }
  free(b);
  free(orig);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quote_in_uri),
      cmocka_unit_test(test_backslash_in_user),
      cmocka_unit_test(test_control_chars),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_quote_backslash_method),
      cmocka_unit_test(test_fake_keys),
      cmocka_unit_test(test_pool_name),
      cmocka_unit_test(test_escapes_decoded),
      cmocka_unit_test(test_repaired_flag),
      cmocka_unit_test(test_lost_quote_next_entry_survives),
      cmocka_unit_test(test_bad_entry_dropped),
      cmocka_unit_test(test_runaway_string),
      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_not_status),
      cmocka_unit_test(test_max_workers),
      cmocka_unit_test(test_numbers_and_fields),
      cmocka_unit_test(test_arena_growth),
      cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_mutations_raw),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
