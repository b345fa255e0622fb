/*
 * phpfpm_events.c: the plugin's pure helpers: identifier and text
 * sanitising, and the set of slow requests already notified (so each slow
 * request gives one notification, not one per interval). No collectd calls.
 */
#include "phpfpm.h"

#include <stdlib.h>
#include <string.h>

void phpfpm_instance_name(const char *name, char *out, size_t outsz) {
  size_t i = 0;
  for (; name[i] != '\0' && i + 1 < outsz; i++) {
    unsigned char ch = (unsigned char)name[i];
    out[i] = (ch == '/' || ch < 0x20 || ch == 0x7f) ? '_' : (char)ch;
  }
  out[i] = '\0';
}

void phpfpm_clean_text(const char *in, size_t max, char *out, size_t outsz) {
  if (outsz == 0)
    return;
  size_t len = strlen(in);
  size_t keep = len < max ? len : max;
  if (keep > outsz - 1)
    keep = outsz - 1;
  int cut = keep < len && outsz >= 4;
  if (cut && keep > outsz - 4)
    keep = outsz - 4;
  len = keep;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)in[i];
    out[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
  }
  if (cut) {
    memcpy(out + len, "...", 3);
    len += 3;
  }
  out[len] = '\0';
}

void phpfpm_slow_free(struct phpfpm_slow *s) {
  free(s->keys);
  memset(s, 0, sizeof *s);
}

static int key_cmp(const void *a, const void *b) {
  const struct phpfpm_req_key *x = a, *y = b;
  if (x->pid != y->pid)
    return x->pid < y->pid ? -1 : 1;
  if (x->requests != y->requests)
    return x->requests < y->requests ? -1 : 1;
  return 0;
}

static int is_slow(const struct fpm_worker *w, const char *marker,
                   double threshold_s) {
  uint32_t need =
      (1u << FPM_W_PID) | (1u << FPM_W_STATE) | (1u << FPM_W_REQUEST_DURATION);
  if ((w->present & need) != need || w->state == FPM_STATE_IDLE)
    return 0;
  if ((double)w->request_duration_us / 1e6 <= threshold_s)
    return 0;
  if (marker != NULL && marker[0] != '\0' && w->uri != NULL &&
      strstr(w->uri, marker) != NULL)
    return 0;
  return 1;
}

int phpfpm_slow_update(struct phpfpm_slow *s, const struct fpm_status *st,
                       const char *marker, double threshold_s,
                       phpfpm_slow_cb cb, void *ud) {
  size_t n = 0;
  for (size_t i = 0; st->has_workers && i < st->n_workers; i++)
    n += (size_t)is_slow(&st->workers[i], marker, threshold_s);
  struct phpfpm_req_key *cur = NULL;
  if (n > 0) {
    cur = calloc(n, sizeof *cur);
    if (cur == NULL)
      return -1;
  }
  size_t k = 0;
  int fresh = 0;
  for (size_t i = 0; n > 0 && i < st->n_workers; i++) {
    const struct fpm_worker *w = &st->workers[i];
    if (!is_slow(w, marker, threshold_s))
      continue;
    cur[k] = (struct phpfpm_req_key){w->pid, w->requests};
    if (s->n == 0 ||
        bsearch(&cur[k], s->keys, s->n, sizeof *s->keys, key_cmp) == NULL) {
      cb(ud, w);
      fresh++;
    }
    k++;
  }
  if (k > 1)
    qsort(cur, k, sizeof *cur, key_cmp);
  free(s->keys);
  s->keys = cur;
  s->n = k;
  s->cap = n;
  return fresh;
}
