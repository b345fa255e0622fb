/*
 * test_fpm_opcache.c: the OPcache script's JSON parser (enabled, disabled,
 * not loaded, JIT, hostile and foreign bodies), the metric table against
 * collectd's types.db and Prometheus naming, docs/opcache.md's table
 * against the code, and the OPcache part of every output format.
 */
#include "fpm_opcache.h"
#include "fpm_output.h"
#include "fpm_output_opcache.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#define TYPES_DB "/usr/share/collectd/types.db"

static const char enabled_json[] =
    "{\"fpmstat_opcache\":1,\"php_version\":\"8.2.36\",\"sapi\":\"fpm-fcgi\","
    "\"master_pid\":4242,\"loaded\":true,\"enabled\":true,\"reason\":\"\","
    "\"directives\":{\"opcache.enable\":true,\"opcache.jit\":\"tracing\"},"
    "\"status\":{\"opcache_enabled\":true,\"cache_full\":false,"
    "\"restart_pending\":false,\"restart_in_progress\":false,"
    "\"memory_usage\":{\"used_memory\":9172240,\"free_memory\":125045488,"
    "\"wasted_memory\":512,\"current_wasted_percentage\":0.0004},"
    "\"interned_strings_usage\":{\"buffer_size\":8388608,\"used_memory\":"
    "2263480,\"free_memory\":6125128,\"number_of_strings\":3577},"
    "\"opcache_statistics\":{\"num_cached_scripts\":3,\"num_cached_keys\":4,"
    "\"max_cached_keys\":16229,\"hits\":30,\"start_time\":1796649018,"
    "\"last_restart_time\":0,\"oom_restarts\":1,\"hash_restarts\":2,"
    "\"manual_restarts\":5,\"misses\":10,\"blacklist_misses\":0,"
    "\"blacklist_miss_ratio\":0,\"opcache_hit_rate\":75},"
    "\"jit\":{\"enabled\":true,\"on\":true,\"kind\":5,\"opt_level\":4,"
    "\"opt_flags\":6,\"buffer_size\":8388608,\"buffer_free\":8000000}}}\n";

static const char disabled_json[] =
    "{\"fpmstat_opcache\":1,\"php_version\":\"8.2.36\",\"master_pid\":7,"
    "\"loaded\":true,\"enabled\":false,\"reason\":\"opcache.enable=0\","
    "\"status\":{\"opcache_enabled\":false,\"opcache_statistics\":"
    "{\"hits\":99}}}";

static const char not_loaded_json[] =
    "{\"fpmstat_opcache\":1,\"php_version\":\"8.2.36\",\"master_pid\":null,"
    "\"loaded\":false,\"enabled\":false,\"reason\":\"not loaded\"}";

static struct fpm_opcache parse_ok(const char *s) {
  struct fpm_opcache oc;
  char why[200];
  assert_int_equal(fpm_opcache_parse(s, strlen(s), &oc, why, sizeof why), 0);
  return oc;
}

static void test_parse_enabled(void **state) {
  (void)state;
  struct fpm_opcache oc = parse_ok(enabled_json);
  assert_true(oc.loaded && oc.enabled);
  assert_int_equal(oc.master_pid, 4242);
  assert_int_equal(oc.hits, 30);
  assert_int_equal(oc.misses, 10);
  assert_int_equal(oc.memory_used, 9172240);
  assert_int_equal(oc.memory_free, 125045488);
  assert_int_equal(oc.memory_wasted, 512);
  assert_int_equal(oc.cached_scripts, 3);
  assert_int_equal(oc.cached_keys, 4);
  assert_int_equal(oc.max_cached_keys, 16229);
  assert_int_equal(oc.oom_restarts, 1);
  assert_int_equal(oc.hash_restarts, 2);
  assert_int_equal(oc.manual_restarts, 5);
  assert_int_equal(oc.interned_strings_used, 2263480);
  assert_int_equal(oc.interned_strings_free, 6125128);
  assert_int_equal(oc.start_time, 1796649018);
  assert_true(oc.jit_on);
  assert_true(fpm_opcache_hit_ratio(&oc) == 0.75);
  double v;
  for (int i = 0; i < FPM_OC__COUNT; i++)
    assert_true(fpm_opcache_value(&oc, i, &v)); /* JIT on: all of them */
  assert_true(fpm_opcache_value(&oc, FPM_OC_JIT_BUFFER_USED, &v));
  assert_true(v == 388608);
  assert_string_equal(oc.php_version, "8.2.36");
}

static void test_parse_disabled_and_not_loaded(void **state) {
  (void)state;
  struct fpm_opcache oc = parse_ok(disabled_json);
  assert_true(oc.loaded && !oc.enabled);
  assert_string_equal(oc.reason, "opcache.enable=0");
  double v = -1;
  assert_true(fpm_opcache_value(&oc, FPM_OC_ENABLED, &v));
  assert_true(v == 0);
  for (int i = 1; i < FPM_OC__COUNT; i++)
    assert_false(fpm_opcache_value(&oc, i, &v)); /* no figures at all */
  oc = parse_ok(not_loaded_json);
  assert_false(oc.loaded);
  assert_false(oc.enabled);
  assert_int_equal(oc.master_pid, -1);
  assert_string_equal(oc.reason, "not loaded");
}

static void test_parse_jit_off_leaves_out_jit(void **state) {
  (void)state;
  char *s = strdup(enabled_json);
  assert_non_null(s);
  char *on = strstr(s, "\"on\":true");
  assert_non_null(on);
  memcpy(on, "\"on\":0   ", 9);
  struct fpm_opcache oc = parse_ok(s);
  free(s);
  double v;
  assert_false(oc.jit_on);
  assert_false(fpm_opcache_value(&oc, FPM_OC_JIT_BUFFER_USED, &v));
  assert_false(fpm_opcache_value(&oc, FPM_OC_JIT_BUFFER_FREE, &v));
  assert_true(fpm_opcache_value(&oc, FPM_OC_HITS, &v));
}

static void test_parse_rejects_foreign_bodies(void **state) {
  (void)state;
  static const char *const bad[] = {
      "",
      "File not found.\n",
      "<html><body>Fatal error</body></html>",
      "{\"hits\":1}",                       /* JSON, not ours */
      "[1,2,3]",                            /* not an object */
      "{\"fpmstat_opcache\":\"1\"}",        /* marker of the wrong type */
      "{\"fpmstat_opcache\":1,\"status\":", /* cut */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct fpm_opcache oc;
    char why[200] = "";
    assert_int_equal(
        fpm_opcache_parse(bad[i], strlen(bad[i]), &oc, why, sizeof why), -1);
    assert_true(why[0] != '\0');
    for (const char *p = why; *p != '\0'; p++)
      assert_true((unsigned char)*p >= 0x20); /* one line */
  }
}

static void test_parse_hostile_values(void **state) {
  (void)state;
  /* negative, huge, fractional and wrongly typed figures, a reason with
   * control characters: no crash, no wrap-around, printable text */
  static const char s[] =
      "{\"fpmstat_opcache\":1,\"loaded\":true,\"enabled\":true,"
      "\"reason\":\"a\\nb\\u0001c\",\"php_version\":\"8\\t2\","
      "\"status\":{\"memory_usage\":{\"used_memory\":-5,\"free_memory\":"
      "1e300,\"wasted_memory\":\"12\"},\"opcache_statistics\":{\"hits\":"
      "12.7,\"misses\":null}}}";
  struct fpm_opcache oc = parse_ok(s);
  assert_true(oc.enabled);
  assert_int_equal(oc.memory_used, 0);
  assert_int_equal(oc.memory_free, 0);
  assert_int_equal(oc.memory_wasted, 0);
  assert_int_equal(oc.hits, 12);
  assert_int_equal(oc.misses, 0);
  assert_string_equal(oc.reason, "a?b?c");
  assert_string_equal(oc.php_version, "8?2");
}

/* ------------------------------------------------------------- table */

static void test_table_types_db_and_names(void **state) {
  (void)state;
  for (int i = 0; i < FPM_OC__COUNT; i++) {
    const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
    assert_non_null(d);
    assert_int_equal(d->id, i);
    const char *suffix = d->counter ? "_total" : NULL;
    size_t pl = strlen(d->prom_name);
    if (suffix != NULL)
      assert_string_equal(d->prom_name + pl - 6, suffix);
    else
      assert_true(pl < 6 || strcmp(d->prom_name + pl - 6, "_total") != 0);
    assert_true(strncmp(d->prom_name, "phpfpm_opcache_", 15) == 0);
    for (int k = 0; k < i; k++) {
      const struct fpm_opcache_def *e = fpm_opcache_def_get(k);
      assert_string_not_equal(d->key, e->key);
      assert_string_not_equal(d->prom_name, e->prom_name);
      assert_false(strcmp(d->cd_type, e->cd_type) == 0 &&
                   strcmp(d->cd_type_instance, e->cd_type_instance) == 0);
    }
  }
  assert_null(fpm_opcache_def_get(FPM_OC__COUNT));
  FILE *fp = fopen(TYPES_DB, "r");
  if (fp == NULL) {
    print_message("skipped: %s: %s (install collectd-core)\n", TYPES_DB,
                  strerror(errno));
    skip();
  }
  int found[FPM_OC__COUNT] = {0};
  char line[512];
  while (fgets(line, sizeof line, fp) != NULL) {
    char name[128], ds[256];
    if (line[0] == '#' || sscanf(line, "%127s %255s", name, ds) != 2)
      continue;
    for (int i = 0; i < FPM_OC__COUNT; i++) {
      const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
      if (strcmp(d->cd_type, name) != 0)
        continue;
      assert_null(strchr(line + strlen(name), ',')); /* one data source */
      const char *kind = strchr(ds, ':');
      assert_non_null(kind);
      if (d->counter)
        assert_true(strncmp(kind, ":DERIVE:", 8) == 0);
      else
        assert_true(strncmp(kind, ":GAUGE:", 7) == 0);
      found[i] = 1;
    }
  }
  fclose(fp);
  for (int i = 0; i < FPM_OC__COUNT; i++)
    assert_true(found[i]);
}

static void test_doc_matches_table(void **state) {
  (void)state;
  FILE *fp = fopen(FPMT_SOURCE_DIR "/docs/opcache.md", "r");
  assert_non_null(fp);
  enum { DOC_MAX = 1 << 18 };
  char *doc = calloc(1, DOC_MAX);
  assert_non_null(doc);
  size_t len = fread(doc, 1, DOC_MAX - 1, fp);
  fclose(fp);
  assert_true(len > 0 && len < DOC_MAX - 1);
  for (int i = 0; i < FPM_OC__COUNT; i++) {
    const struct fpm_opcache_def *d = fpm_opcache_def_get(i);
    char row[600];
    snprintf(row, sizeof row,
             "| `%s` | %s | %s | `phpfpm_opcache-<master>/%s-%s` | `%s` | %s |",
             d->key, d->counter ? "counter" : "gauge", d->unit, d->cd_type,
             d->cd_type_instance, d->prom_name, d->help);
    if (strstr(doc, row) == NULL)
      print_message("docs/opcache.md lacks the row: %s\n", row);
    assert_non_null(strstr(doc, row));
  }
  free(doc);
}

/* ----------------------------------------------------------- formats */

struct fix {
  struct fpm_result res;
  struct fpm_opcache_result oc;
  struct fpm_output_item it;
  struct fpm_output_opts o;
  struct fpm_buf out;
};

static void fix_init(struct fix *f, const char *json) {
  memset(f, 0, sizeof *f);
  fpm_result_init(&f->res);
  f->res.err = FPM_ECONNECT; /* status failed: the OPcache part still shows
                                in json and text */
  snprintf(f->res.message, sizeof f->res.message, "x: cannot connect");
  char why[100];
  assert_int_equal(
      fpm_opcache_parse(json, strlen(json), &f->oc.oc, why, sizeof why), 0);
  f->it.target = "unix:/run/a b.sock";
  f->it.res = &f->res;
  f->it.opcache = &f->oc;
  f->o.now_s = 1700000000;
  f->o.now_ns = 1700000000000000000LL;
  fpm_buf_init(&f->out);
}

static void fix_free(struct fix *f) {
  fpm_buf_free(&f->out);
  fpm_result_clear(&f->res);
}

static void test_json_object(void **state) {
  (void)state;
  struct fix f;
  fix_init(&f, enabled_json);
  f.o.format = FPM_OUT_JSON;
  assert_int_equal(fpm_output_render(&f.o, &f.it, 1, &f.out), 0);
  char err[200];
  yajl_val root = yajl_tree_parse(f.out.data, err, sizeof err);
  assert_non_null(root);
  const char *p_en[] = {"opcache", "enabled", NULL};
  const char *p_hits[] = {"opcache", "hits", NULL};
  const char *p_ratio[] = {"opcache", "hit_ratio", NULL};
  const char *p_jit[] = {"opcache", "jit_buffer_used", NULL};
  assert_true(YAJL_IS_TRUE(yajl_tree_get(root, p_en, yajl_t_any)));
  assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(root, p_hits, yajl_t_number)),
                   30);
  assert_true(YAJL_GET_DOUBLE(yajl_tree_get(root, p_ratio, yajl_t_number)) ==
              0.75);
  assert_non_null(yajl_tree_get(root, p_jit, yajl_t_number));
  const char *p_master[] = {"opcache", "master", NULL};
  assert_null(yajl_tree_get(root, p_master, yajl_t_any)); /* not discovered */
  yajl_tree_free(root);
  fix_free(&f);

  /* --discover: the master's name first, in json and in text */
  fix_init(&f, enabled_json);
  f.it.master = "srv_shop_php-fpm";
  f.o.format = FPM_OUT_JSON;
  assert_int_equal(fpm_output_render(&f.o, &f.it, 1, &f.out), 0);
  root = yajl_tree_parse(f.out.data, err, sizeof err);
  assert_non_null(root);
  assert_string_equal(
      YAJL_GET_STRING(yajl_tree_get(root, p_master, yajl_t_string)),
      "srv_shop_php-fpm");
  assert_true(YAJL_IS_TRUE(yajl_tree_get(root, p_en, yajl_t_any)));
  yajl_tree_free(root);
  fpm_buf_free(&f.out);
  fpm_buf_init(&f.out);
  f.o.format = FPM_OUT_TEXT;
  assert_int_equal(fpm_output_render(&f.o, &f.it, 1, &f.out), 0);
  assert_non_null(strstr(f.out.data,
                         "  opcache of master:    srv_shop_php-fpm\n"
                         "  opcache:              enabled"));
  fix_free(&f);

  /* a failed OPcache read: ok false with the message, valid JSON */
  fix_init(&f, disabled_json);
  f.oc.err = FPM_EHTTP;
  snprintf(f.oc.message, sizeof f.oc.message, "x: \"quoted\"\n\\ answer");
  f.o.format = FPM_OUT_JSON;
  assert_int_equal(fpm_output_render(&f.o, &f.it, 1, &f.out), 0);
  root = yajl_tree_parse(f.out.data, err, sizeof err);
  assert_non_null(root);
  const char *p_ok[] = {"opcache", "ok", NULL};
  const char *p_code[] = {"opcache", "code", NULL};
  assert_true(YAJL_IS_FALSE(yajl_tree_get(root, p_ok, yajl_t_any)));
  assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(root, p_code, yajl_t_number)),
                   FPM_EHTTP);
  yajl_tree_free(root);
  fix_free(&f);
}

static void test_text_disabled(void **state) {
  (void)state;
  struct fix f;
  fix_init(&f, disabled_json);
  f.o.format = FPM_OUT_TEXT;
  assert_int_equal(fpm_output_render(&f.o, &f.it, 1, &f.out), 0);
  assert_non_null(strstr(f.out.data, "disabled (opcache.enable=0)"));
  fix_free(&f);
}

static void test_line_formats(void **state) {
  (void)state;
  struct fix f;
  fix_init(&f, enabled_json);
  f.o.host = "h.example";
  fpm_output_opcache_putval(&f.o, &f.it, &f.out);
  assert_non_null(strstr(f.out.data,
                         "PUTVAL \"h.example/phpfpm_opcache-unix:"
                         "_run_a b.sock/cache_result-hits\" N:30\n"));
  /* collectd's cache_ratio is a percentage */
  assert_non_null(strstr(f.out.data, "/cache_ratio-hits\" N:75\n"));
  fpm_buf_reset(&f.out);
  fpm_output_opcache_graphite(&f.o, &f.it, &f.out);
  assert_non_null(strstr(f.out.data, "h_example.phpfpm_opcache-unix_"
                                     "_run_a_b_sock.memory-used 9172240 "
                                     "1700000000\n"));
  fpm_buf_reset(&f.out);
  fpm_output_opcache_influx(&f.o, &f.it, &f.out);
  assert_non_null(strstr(f.out.data, "phpfpm_opcache,pool=unix:/run/a\\ "
                                     "b.sock,url=unix:/run/a\\ b.sock "
                                     "enabled=1i,hits=30i,misses=10i,"
                                     "hit_ratio=0.75,"));
  fpm_buf_reset(&f.out);
  fpm_output_opcache_prometheus(&f.o, &f.it, 1, &f.out);
  assert_non_null(strstr(f.out.data, "# TYPE phpfpm_opcache_hits_total "
                                     "counter\nphpfpm_opcache_hits_total{"
                                     "pool=\"unix:/run/a b.sock\",scrape_uri="
                                     "\"unix:/run/a b.sock\"} 30\n"));
  fix_free(&f);

  /* --discover: the master names the series, as in the collectd plugin */
  fix_init(&f, enabled_json);
  f.o.host = "h";
  f.it.master = "ea-php81-fpm";
  fpm_output_opcache_putval(&f.o, &f.it, &f.out);
  assert_non_null(strstr(f.out.data, "PUTVAL \"h/phpfpm_opcache-ea-php81-fpm/"
                                     "cache_result-hits\" N:30\n"));
  fpm_buf_reset(&f.out);
  fpm_output_opcache_graphite(&f.o, &f.it, &f.out);
  assert_non_null(strstr(f.out.data, "h.phpfpm_opcache-ea-php81-fpm.memory-"
                                     "used 9172240 1700000000\n"));
  fpm_buf_reset(&f.out);
  fpm_output_opcache_influx(&f.o, &f.it, &f.out);
  assert_non_null(strstr(f.out.data, "phpfpm_opcache,master=ea-php81-fpm,"
                                     "pool=unix:/run/a\\ b.sock,url="));
  fpm_buf_reset(&f.out);
  fpm_output_opcache_prometheus(&f.o, &f.it, 1, &f.out);
  assert_non_null(strstr(f.out.data,
                         "phpfpm_opcache_hits_total{master=\"ea-"
                         "php81-fpm\",pool=\"unix:/run/a b.sock\","
                         "scrape_uri=\"unix:/run/a b.sock\"} 30\n"));
  fix_free(&f);

  /* a failed read adds nothing to the line formats */
  fix_init(&f, enabled_json);
  f.oc.err = FPM_EHTTP;
  fpm_output_opcache_putval(&f.o, &f.it, &f.out);
  fpm_output_opcache_graphite(&f.o, &f.it, &f.out);
  fpm_output_opcache_influx(&f.o, &f.it, &f.out);
  fpm_output_opcache_prometheus(&f.o, &f.it, 1, &f.out);
  assert_int_equal(f.out.len, 0);
  fix_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_enabled),
      cmocka_unit_test(test_parse_disabled_and_not_loaded),
      cmocka_unit_test(test_parse_jit_off_leaves_out_jit),
      cmocka_unit_test(test_parse_rejects_foreign_bodies),
      cmocka_unit_test(test_parse_hostile_values),
      cmocka_unit_test(test_table_types_db_and_names),
      cmocka_unit_test(test_doc_matches_table),
      cmocka_unit_test(test_json_object),
      cmocka_unit_test(test_text_disabled),
      cmocka_unit_test(test_line_formats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
