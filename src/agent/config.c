/* config.c: the table-driven ledged.conf parser. */
#include "agent/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/recipe.h"

typedef enum { KEY_STRING, KEY_PATH, KEY_INT, KEY_NAME, KEY_STORE, KEY_LEVEL } key_type;

typedef struct key_spec {
  const char *name;
  key_type type;
  size_t offset, size;
  int64_t min, max;
} key_spec;

#define STR(field, type) #field, type, offsetof(ag_config, field), sizeof(((ag_config *)0)->field)
#define S3(field, name) \
  name, KEY_STRING, offsetof(ag_config, s3.field), sizeof(((ag_config *)0)->s3.field)
static const key_spec keys[] = {
    {STR(device, KEY_NAME)},
    {STR(group, KEY_NAME)},
    {STR(broker, KEY_STRING)},
    {STR(ca_file, KEY_PATH)},
    {STR(cert_file, KEY_PATH)},
    {STR(key_file, KEY_PATH)},
    {STR(fleet_key, KEY_PATH)},
    {"store", KEY_STORE, 0, 0, 0, 0},
    {S3(endpoint, "s3_endpoint")},
    {S3(region, "s3_region")},
    {S3(access_key, "s3_access_key")},
    {S3(secret_key, "s3_secret_key")},
    {"s3_ca_file", KEY_PATH, offsetof(ag_config, s3.ca_file), sizeof(((ag_config *)0)->s3.ca_file),
     0, 0},
    {STR(data_dir, KEY_PATH)},
    {STR(inbox_dir, KEY_PATH)},
    {"outbox_max_bytes", KEY_INT, offsetof(ag_config, outbox_max_bytes), 8, 4096, (int64_t)1 << 40},
    {"status_interval_s", KEY_INT, offsetof(ag_config, status_interval_s), 4, 1, 86400},
    {"keepalive_s", KEY_INT, offsetof(ag_config, keepalive_s), 4, 5, 3600},
    {"reconnect_max_s", KEY_INT, offsetof(ag_config, reconnect_max_s), 4, 1, 3600},
    {"log_level", KEY_LEVEL, offsetof(ag_config, log_level), 0, 0, 0},
    {STR(upload_store, KEY_STRING)},
    {"upload_budget_bytes_per_hour", KEY_INT, offsetof(ag_config, upload_budget_bytes_per_hour), 8,
     0, (int64_t)1 << 50},
};

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1])) *--end = 0;
  return s;
}

static void resolve(const char *base_dir, const char *value, char *out, size_t size) {
  if (value[0] == '/' || !value[0])
    snprintf(out, size, "%s", value);
  else
    snprintf(out, size, "%s/%s", base_dir, value);
}

bool ag_config_load(const char *path, ag_config *c, char *err) {
  memset(c, 0, sizeof *c);
  snprintf(c->path, sizeof c->path, "%s", path);
  ag_s3_defaults(&c->s3);
  c->outbox_max_bytes = 64 << 20;
  c->status_interval_s = 60;
  c->keepalive_s = 30;
  c->reconnect_max_s = 30;
  c->log_level = AG_LOG_INFO;
  char base[1024];
  ag_dirname(path, base, sizeof base);
  FILE *f = fopen(path, "r");
  if (!f) return ag_fail(err, "cannot open %s: %s", path, strerror(errno));
  char line[2048];
  int lineno = 0;
  bool ok = true;
  while (ok && fgets(line, sizeof line, f)) {
    lineno++;
    char *s = trim(line);
    if (!*s || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      ok = ag_fail(err, "%s:%d: expected key = value", path, lineno);
      break;
    }
    *eq = 0;
    char *key = trim(s), *value = trim(eq + 1);
    const key_spec *spec = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
      if (!strcmp(keys[i].name, key)) spec = &keys[i];
    if (!spec) {
      ok = ag_fail(err, "%s:%d: unknown key '%s'", path, lineno, key);
      break;
    }
    char *field = (char *)c + spec->offset;
    switch (spec->type) {
      case KEY_NAME:
        if (!ag_valid_name(value))
          ok = ag_fail(err, "%s:%d: %s '%s' must be 1-64 of [A-Za-z0-9._-]", path, lineno, key,
                       value);
        /* fall through */
      case KEY_STRING:
        if (ok && strlen(value) >= spec->size)
          ok = ag_fail(err, "%s:%d: %s is too long", path, lineno, key);
        if (ok) snprintf(field, spec->size, "%s", value);
        break;
      case KEY_PATH:
        if (strlen(base) + strlen(value) + 2 > spec->size)
          ok = ag_fail(err, "%s:%d: %s is too long", path, lineno, key);
        if (ok) resolve(base, value, field, spec->size);
        break;
      case KEY_STORE:
        if (c->n_stores == AG_MAX_STORES)
          ok = ag_fail(err, "%s:%d: more than %d stores", path, lineno, AG_MAX_STORES);
        else if (strncmp(value, "file://", 7) && strncmp(value, "s3://", 5) &&
                 strncmp(value, "https://", 8))
          ok = ag_fail(err, "%s:%d: store must be file://, s3:// or https://", path, lineno);
        else if (strlen(value) >= sizeof c->stores[0])
          ok = ag_fail(err, "%s:%d: store is too long", path, lineno);
        else
          snprintf(c->stores[c->n_stores++], sizeof c->stores[0], "%s", value);
        break;
      case KEY_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end || v < spec->min || v > spec->max) {
          ok = ag_fail(err, "%s:%d: %s must be an integer in [%lld, %lld]", path, lineno, key,
                       (long long)spec->min, (long long)spec->max);
          break;
        }
        if (spec->size == 8)
          *(int64_t *)field = v;
        else
          *(int *)field = (int)v;
        break;
      }
      case KEY_LEVEL:
        if (!ag_log_parse_level(value, &c->log_level))
          ok = ag_fail(err, "%s:%d: log_level must be error, warning, info or debug", path, lineno);
        break;
    }
  }
  fclose(f);
  if (!ok) return false;
  if (!c->device[0]) return ag_fail(err, "%s: 'device' is required", path);
  if (!c->group[0]) return ag_fail(err, "%s: 'group' is required", path);
  if (!c->fleet_key[0])
    return ag_fail(err, "%s: 'fleet_key' is required (the fleet's public signing key)", path);
  if (c->broker[0] && strncmp(c->broker, "mqtt://", 7) && strncmp(c->broker, "mqtts://", 8))
    return ag_fail(err, "%s: broker must be mqtt://HOST:PORT or mqtts://HOST:PORT", path);
  if (!strncmp(c->broker, "mqtts://", 8) && (!c->ca_file[0] || !c->cert_file[0] || !c->key_file[0]))
    return ag_fail(err, "%s: an mqtts:// broker needs ca_file, cert_file and key_file", path);
  if (!c->data_dir[0]) snprintf(c->data_dir, sizeof c->data_dir, "%s", base);
  if (!c->inbox_dir[0]) snprintf(c->inbox_dir, sizeof c->inbox_dir, "%s/inbox", c->data_dir);
  if (!c->upload_store[0])
    snprintf(c->upload_store, sizeof c->upload_store, "file://%s/uploads", c->data_dir);
  return true;
}
