/*
 * fpm_master.c: name a php-fpm master after its main configuration
 * (fpm_master.h): short names for the known layouts, a sanitised path for
 * the others, and a hash suffix for masters that would share a name.
 */
#include "fpm_master.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A byte a name keeps as it is. */
static int name_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* The length of the path component at s when a name can carry it as it is
 * (1 to 23 name bytes, then '/'), else 0. */
static size_t component(const char *s) {
  size_t n = 0;
  while (s[n] != '\0' && s[n] != '/' && name_byte((unsigned char)s[n]))
    n++;
  return s[n] == '/' && n > 0 && n < 24 ? n : 0;
}

/* FNV-1a, 32 bits: the same path gives the same suffix everywhere. */
static uint32_t path_hash(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s != '\0'; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

/* A layout with one variable directory: prefix, the directory, then
 * anything; named before + directory + "-fpm". */
struct layout {
  const char *prefix;
  const char *before;
  const char *standard; /* the standard configuration below the directory */
};

static const struct layout layouts[] = {
    {"/etc/php/", "php", "/fpm/php-fpm.conf"},
    {"/opt/cpanel/", "", "/root/etc/php-fpm.conf"},
    {"/opt/plesk/php/", "plesk-php", "/etc/php-fpm.conf"},
    {"/etc/opt/remi/", "remi-", "/php-fpm.conf"},
};

/* A fixed layout: the configuration itself, or its "<conf minus
 * .conf>.d" directory of pool files. */
struct fixed {
  const char *conf;
  const char *name;
};

static const struct fixed fixeds[] = {
    {"/etc/php-fpm.conf", "php-fpm"},
    {"/usr/local/etc/php-fpm.conf", "local-php-fpm"},
};

/* The layout conf_path belongs to: its index in layouts with the
 * directory's length in *n, or -1. */
static int layout_of(const char *conf_path, size_t *n) {
  for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
    size_t pl = strlen(layouts[i].prefix);
    if (strncmp(conf_path, layouts[i].prefix, pl) == 0 &&
        (*n = component(conf_path + pl)) > 0)
      return (int)i;
  }
  return -1;
}

/* The fixed layout conf_path belongs to, or NULL. */
static const struct fixed *fixed_of(const char *conf_path) {
  for (size_t i = 0; i < sizeof fixeds / sizeof fixeds[0]; i++) {
    const char *c = fixeds[i].conf;
    size_t stem = strlen(c) - strlen(".conf");
    if (strcmp(conf_path, c) == 0)
      return &fixeds[i];
    if (strncmp(conf_path, c, stem) == 0 &&
        strncmp(conf_path + stem, ".d", 2) == 0 &&
        (conf_path[stem + 2] == '\0' || conf_path[stem + 2] == '/'))
      return &fixeds[i];
  }
  return NULL;
}

/* Any other path: its sanitised form, or its last part and a hash. */
static void sanitised(const char *path, char *out, size_t cap) {
  const char *s = path;
  while (*s == '/')
    s++;
  size_t len = strlen(s);
  while (len > 0 && s[len - 1] == '/')
    len--;
  if (len >= 5 && memcmp(s + len - 5, ".conf", 5) == 0)
    len -= 5;
  if (len == 0) {
    snprintf(out, cap, "default");
    return;
  }
  char buf[1024];
  size_t n = 0;
  for (; n < len && n < sizeof buf - 1; n++) {
    unsigned char c = (unsigned char)s[n];
    buf[n] = c == '/' ? '_' : name_byte(c) ? (char)c : '-';
  }
  buf[n] = '\0';
  if (n == len && n <= FPM_MASTER_BASE_MAX) {
    snprintf(out, cap, "%s", buf);
    return;
  }
  /* the last part says most; the hash tells the cut-off parts apart */
  const char *tail = buf + n - (FPM_MASTER_BASE_MAX - 9);
  while (*tail == '_' || *tail == '-' || *tail == '.')
    tail++;
  snprintf(out, cap, "%s-%08x", tail, (unsigned)path_hash(path));
}

void fpm_master_name_of(const char *conf_path, char *out, size_t cap) {
  if (cap == 0)
    return;
  if (conf_path == NULL || conf_path[0] == '\0') {
    snprintf(out, cap, "default");
    return;
  }
  size_t n = 0;
  int li = layout_of(conf_path, &n);
  if (li >= 0) {
    const struct layout *l = &layouts[li];
    snprintf(out, cap, "%s%.*s-fpm", l->before, (int)n,
             conf_path + strlen(l->prefix));
    return;
  }
  const struct fixed *f = fixed_of(conf_path);
  if (f != NULL)
    snprintf(out, cap, "%s", f->name);
  else
    sanitised(conf_path, out, cap);
}

int fpm_master_is_standard(const char *conf_path) {
  if (conf_path == NULL)
    return 0;
  size_t n = 0;
  int li = layout_of(conf_path, &n);
  if (li >= 0)
    return strcmp(conf_path + strlen(layouts[li].prefix) + n,
                  layouts[li].standard) == 0;
  const struct fixed *f = fixed_of(conf_path);
  return f != NULL && strcmp(conf_path, f->conf) == 0;
}

/* ------------------------------------------------------- a whole load */

/* One distinct master of a load. */
struct mref {
  const char *tag;
  const char *conf; /* master_conf; NULL: known by its name only */
  char name[sizeof((struct fpm_conf_pool *)0)->master];
};

static void base_of(const struct fpm_conf_pool *p, char *out, size_t cap) {
  char base[FPM_MASTER_BASE_MAX + 1];
  fpm_master_name_of(p->master_conf[0] != '\0' ? p->master_conf : p->file, base,
                     sizeof base);
  snprintf(out, cap, "%s%s%s", p->tag, p->tag[0] != '\0' ? "-" : "", base);
}

/* Whether pool p belongs to master m (base: p's name before
 * disambiguation). */
static int is_of(const struct mref *m, const struct fpm_conf_pool *p,
                 const char *base) {
  if (strcmp(m->tag, p->tag) != 0)
    return 0;
  if (p->master_conf[0] == '\0')
    return m->conf == NULL && strcmp(m->name, base) == 0;
  return m->conf != NULL && strcmp(m->conf, p->master_conf) == 0;
}

void fpm_master_name_pools(struct fpm_conf *conf) {
  size_t n = conf->n_pools, nm = 0, cap = 0;
  struct mref *ms = NULL;
  size_t *of = malloc((n > 0 ? n : 1) * sizeof *of);
  char base[sizeof ms->name];
  for (size_t i = 0; i < n && of != NULL; i++) {
    const struct fpm_conf_pool *p = &conf->pools[i];
    base_of(p, base, sizeof base);
    /* a master's pools come together: try the last one first */
    size_t k = nm;
    if (nm > 0 && is_of(&ms[nm - 1], p, base))
      k = nm - 1;
    for (size_t j = 0; j < nm && k == nm; j++)
      if (is_of(&ms[j], p, base))
        k = j;
    if (k == nm) {
      if (nm == cap) {
        size_t ncap = cap ? cap * 2 : 8;
        struct mref *nv = realloc(ms, ncap * sizeof *nv);
        if (nv == NULL) {
          free(of);
          of = NULL; /* below: every pool gets its name undisambiguated */
          break;
        }
        ms = nv;
        cap = ncap;
      }
      ms[nm].tag = p->tag;
      ms[nm].conf = p->master_conf[0] != '\0' ? p->master_conf : NULL;
      snprintf(ms[nm].name, sizeof ms[nm].name, "%s", base);
      nm++;
    }
    of[i] = k;
  }
  if (of == NULL) {
    for (size_t i = 0; i < n; i++)
      base_of(&conf->pools[i], conf->pools[i].master,
              sizeof conf->pools[i].master);
    free(ms);
    return;
  }
  /* who collides is decided on the names before any suffix */
  char *suffixed = calloc(nm > 0 ? nm : 1, 1);
  for (size_t a = 0; a < nm && suffixed != NULL; a++)
    for (size_t b = 0; b < nm && !suffixed[a]; b++)
      suffixed[a] = b != a && ms[a].conf != NULL &&
                    strcmp(ms[a].name, ms[b].name) == 0 &&
                    !fpm_master_is_standard(ms[a].conf);
  for (size_t a = 0; a < nm && suffixed != NULL; a++)
    if (suffixed[a]) {
      size_t len = strlen(ms[a].name);
      snprintf(ms[a].name + len, sizeof ms[a].name - len, "-%08x",
               (unsigned)path_hash(ms[a].conf));
    }
  for (size_t i = 0; i < n; i++)
    snprintf(conf->pools[i].master, sizeof conf->pools[i].master, "%s",
             ms[of[i]].name);
  free(suffixed);
  free(of);
  free(ms);
}
