/* recipe.c: recipe and deployment parsing with field-by-field validation. */
#include "agent/recipe.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

bool ag_valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-') return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* Copies a string field; false if present with the wrong type or too long,
 * or missing while required. */
static bool get_string(const cJSON *obj, const char *key, char *out, size_t size, bool required,
                       const char *where, char *err) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!item) {
    out[0] = 0;
    return required ? ag_fail(err, "%s: missing \"%s\"", where, key) : true;
  }
  if (!cJSON_IsString(item)) return ag_fail(err, "%s: \"%s\" must be a string", where, key);
  if (strlen(item->valuestring) >= size) return ag_fail(err, "%s: \"%s\" is too long", where, key);
  snprintf(out, size, "%s", item->valuestring);
  return true;
}

static bool get_seconds(const cJSON *obj, const char *key, double fallback, double *out,
                        const char *where, char *err) {
  const cJSON *item = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
  if (!item) {
    *out = fallback;
    return true;
  }
  if (!cJSON_IsNumber(item) || item->valuedouble <= 0 || item->valuedouble > 86400)
    return ag_fail(err, "%s: \"%s\" must be a number of seconds in (0, 86400]", where, key);
  *out = item->valuedouble;
  return true;
}

/* A lifecycle step: {"script": "...", "timeout_s": N} or a plain string. */
static bool get_step(const cJSON *lifecycle, const char *step, char *cmd, size_t size,
                     double fallback, double *timeout, const char *where, char *err) {
  const cJSON *item = lifecycle ? cJSON_GetObjectItemCaseSensitive(lifecycle, step) : NULL;
  char here[160];
  snprintf(here, sizeof here, "%s lifecycle.%s", where, step);
  cmd[0] = 0;
  if (timeout) *timeout = fallback;
  if (!item) return true;
  if (cJSON_IsString(item)) {
    if (strlen(item->valuestring) >= size) return ag_fail(err, "%s is too long", here);
    snprintf(cmd, size, "%s", item->valuestring);
    return true;
  }
  if (!cJSON_IsObject(item)) return ag_fail(err, "%s must be a string or an object", here);
  if (!get_string(item, "script", cmd, size, false, here, err)) return false;
  return timeout ? get_seconds(item, "timeout_s", fallback, timeout, here, err) : true;
}

bool ag_component_parse(const cJSON *json, ag_component *c, char *err) {
  memset(c, 0, sizeof *c);
  if (!cJSON_IsObject(json)) return ag_fail(err, "a component must be a JSON object");
  if (!get_string(json, "name", c->name, sizeof c->name, true, "component", err)) return false;
  if (!ag_valid_name(c->name))
    return ag_fail(err, "component name \"%s\" is not a valid name", c->name);
  char where[160];
  snprintf(where, sizeof where, "component %s", c->name);
  if (!get_string(json, "version", c->version, sizeof c->version, true, where, err)) return false;
  if (!ag_valid_name(c->version))
    return ag_fail(err, "%s: version \"%s\" is not valid", where, c->version);
  snprintf(where, sizeof where, "component %s@%s", c->name, c->version);
  if (!get_string(json, "kind", c->kind, sizeof c->kind, false, where, err)) return false;
  if (!c->kind[0]) snprintf(c->kind, sizeof c->kind, "command");
  if (strcmp(c->kind, "model") && strcmp(c->kind, "command") && strcmp(c->kind, "pipeline"))
    return ag_fail(err, "%s: kind must be model, command or pipeline", where);

  const cJSON *artifacts = cJSON_GetObjectItemCaseSensitive(json, "artifacts");
  if (artifacts && !cJSON_IsArray(artifacts))
    return ag_fail(err, "%s: artifacts must be a list", where);
  const cJSON *a;
  cJSON_ArrayForEach(a, artifacts) {
    if (c->n_artifacts == AG_MAX_ARTIFACTS)
      return ag_fail(err, "%s: more than %d artifacts", where, AG_MAX_ARTIFACTS);
    ag_artifact *art = &c->artifacts[c->n_artifacts++];
    if (!cJSON_IsObject(a)) return ag_fail(err, "%s: an artifact must be an object", where);
    if (!get_string(a, "uri", art->uri, sizeof art->uri, true, where, err) ||
        !get_string(a, "sha256", art->sha256, sizeof art->sha256, true, where, err) ||
        !get_string(a, "name", art->name, sizeof art->name, false, where, err))
      return false;
    if (!ag_is_hex_digest(art->sha256))
      return ag_fail(err, "%s: sha256 of %s is not 64 hex digits", where, art->uri);
    if (!art->name[0]) {
      const char *slash = strrchr(art->uri, '/');
      snprintf(art->name, sizeof art->name, "%s", slash ? slash + 1 : art->uri);
    }
    if (!ag_valid_name(art->name))
      return ag_fail(err, "%s: artifact name \"%s\" is not valid", where, art->name);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(a, "size");
    if (!cJSON_IsNumber(size) || size->valuedouble < 0 || size->valuedouble > 1e13)
      return ag_fail(err, "%s: artifact %s needs a size in bytes", where, art->name);
    art->size = (int64_t)size->valuedouble;
  }

  const cJSON *lifecycle = cJSON_GetObjectItemCaseSensitive(json, "lifecycle");
  if (lifecycle && !cJSON_IsObject(lifecycle))
    return ag_fail(err, "%s: lifecycle must be an object", where);
  double unused;
  if (!get_step(lifecycle, "install", c->install_cmd, sizeof c->install_cmd, 120,
                &c->install_timeout_s, where, err) ||
      !get_step(lifecycle, "run", c->run_cmd, sizeof c->run_cmd, 0, &unused, where, err) ||
      !get_step(lifecycle, "recover", c->recover_cmd, sizeof c->recover_cmd, 60, &unused, where,
                err))
    return false;
  char none[8];
  if (!get_step(lifecycle, "shutdown", none, sizeof none, 15, &c->shutdown_timeout_s, where, err))
    return false;

  const cJSON *health = cJSON_GetObjectItemCaseSensitive(json, "health");
  c->health = AG_HEALTH_NONE;
  c->health_timeout_s = 20;
  c->health_window_s = 10;
  if (health) {
    if (!cJSON_IsObject(health)) return ag_fail(err, "%s: health must be an object", where);
    char type[32];
    if (!get_string(health, "type", type, sizeof type, true, where, err)) return false;
    if (!strcmp(type, "inference")) {
      c->health = AG_HEALTH_INFERENCE;
      if (!get_string(health, "artifact", c->health_artifact, sizeof c->health_artifact, true,
                      where, err))
        return false;
      bool found = false;
      for (int i = 0; i < c->n_artifacts; i++)
        found |= !strcmp(c->artifacts[i].name, c->health_artifact);
      if (!found)
        return ag_fail(err, "%s: health artifact %s is not one of its artifacts", where,
                       c->health_artifact);
    } else if (!strcmp(type, "command")) {
      c->health = AG_HEALTH_COMMAND;
      if (!get_string(health, "script", c->health_cmd, sizeof c->health_cmd, true, where, err))
        return false;
    } else if (strcmp(type, "none")) {
      return ag_fail(err, "%s: health type must be inference, command or none", where);
    }
    if (!get_seconds(health, "timeout_s", 20, &c->health_timeout_s, where, err) ||
        !get_seconds(health, "window_s", 10, &c->health_window_s, where, err))
      return false;
  }
  const cJSON *deps = cJSON_GetObjectItemCaseSensitive(json, "dependencies");
  if (deps && !cJSON_IsObject(deps))
    return ag_fail(err, "%s: dependencies must be an object", where);
  const cJSON *dep;
  cJSON_ArrayForEach(dep, deps) {
    if (c->n_deps == 8) return ag_fail(err, "%s: more than 8 dependencies", where);
    if (!ag_valid_name(dep->string) || !cJSON_IsString(dep) || strlen(dep->valuestring) > 65)
      return ag_fail(err, "%s: dependency %s needs a version (\"1.2\", \">=1.2\" or \"*\")", where,
                     dep->string);
    snprintf(c->dep_names[c->n_deps], sizeof c->dep_names[0], "%s", dep->string);
    snprintf(c->dep_specs[c->n_deps], sizeof c->dep_specs[0], "%s", dep->valuestring);
    c->n_deps++;
  }
  const cJSON *config = cJSON_GetObjectItemCaseSensitive(json, "configuration");
  if (config && !cJSON_IsObject(config))
    return ag_fail(err, "%s: configuration must be an object", where);
  snprintf(c->configuration, sizeof c->configuration, "{}");
  if (config &&
      !cJSON_PrintPreallocated((cJSON *)config, c->configuration, sizeof c->configuration, 1))
    return ag_fail(err, "%s: configuration is larger than %zu bytes", where,
                   sizeof c->configuration - 1);
  return true;
}

static bool version_matches(const char *version, const char *spec) {
  if (!strcmp(spec, "*")) return true;
  if (!strncmp(spec, ">=", 2)) return strverscmp(version, spec + 2) >= 0;
  return !strcmp(version, spec);
}

/* Checks that every dependency is in the deployment at a matching version and
 * reorders the components so that each comes after what it depends on. */
static bool order_by_dependencies(ag_deployment *d, char *err) {
  int n = d->n_components, order[AG_MAX_COMPONENTS], placed = 0;
  bool done[AG_MAX_COMPONENTS] = {0};
  for (int i = 0; i < n; i++) {
    const ag_component *c = &d->components[i];
    for (int k = 0; k < c->n_deps; k++) {
      int j = 0;
      while (j < n && strcmp(d->components[j].name, c->dep_names[k])) j++;
      if (j == n)
        return ag_fail(err, "component %s needs %s, which the deployment does not include", c->name,
                       c->dep_names[k]);
      if (!version_matches(d->components[j].version, c->dep_specs[k]))
        return ag_fail(err, "component %s needs %s %s, the deployment has %s", c->name,
                       c->dep_names[k], c->dep_specs[k], d->components[j].version);
    }
  }
  while (placed < n) {
    int before = placed;
    for (int i = 0; i < n; i++) {
      if (done[i]) continue;
      bool ready = true;
      for (int k = 0; k < d->components[i].n_deps && ready; k++)
        for (int j = 0; j < n; j++)
          if (!done[j] && !strcmp(d->components[j].name, d->components[i].dep_names[k]))
            ready = false;
      if (ready) {
        done[i] = true;
        order[placed++] = i;
      }
    }
    if (placed == before)
      return ag_fail(err, "deployment: the components' dependencies form a cycle");
  }
  ag_component *sorted = malloc(sizeof(ag_component) * (size_t)(n ? n : 1));
  if (!sorted) return ag_fail(err, "out of memory");
  for (int i = 0; i < n; i++) sorted[i] = d->components[order[i]];
  memcpy(d->components, sorted, sizeof(ag_component) * (size_t)n);
  free(sorted);
  return true;
}

bool ag_deployment_parse(const char *text, ag_deployment *d, char *err) {
  /* Only the header and the components actually parsed are written, so the
   * unused slots of a (large) deployment never become resident. */
  memset(d, 0, offsetof(ag_deployment, components));
  d->n_components = 0;
  cJSON *json = cJSON_Parse(text);
  if (!json) return ag_fail(err, "deployment: invalid JSON");
  bool ok = false;
  if (!cJSON_IsObject(json)) {
    ag_fail(err, "deployment: not a JSON object");
    goto done;
  }
  if (!get_string(json, "id", d->id, sizeof d->id, true, "deployment", err)) goto done;
  const cJSON *seq = cJSON_GetObjectItemCaseSensitive(json, "sequence");
  if (!cJSON_IsNumber(seq) || seq->valuedouble < 1 || seq->valuedouble > 9e15) {
    ag_fail(err, "deployment: \"sequence\" must be a positive integer");
    goto done;
  }
  d->sequence = (int64_t)seq->valuedouble;
  const cJSON *target = cJSON_GetObjectItemCaseSensitive(json, "target");
  if (!cJSON_IsObject(target)) {
    ag_fail(err, "deployment: missing \"target\" object");
    goto done;
  }
  if (!get_string(target, "group", d->group, sizeof d->group, false, "deployment target", err) ||
      !get_string(target, "device", d->device, sizeof d->device, false, "deployment target", err))
    goto done;
  if (!d->group[0] == !d->device[0]) {
    ag_fail(err, "deployment: target needs exactly one of group and device");
    goto done;
  }
  char policy[32];
  if (!get_string(json, "failure_policy", policy, sizeof policy, false, "deployment", err))
    goto done;
  if (!policy[0] || !strcmp(policy, "rollback"))
    d->rollback_on_failure = true;
  else if (!strcmp(policy, "do-nothing"))
    d->rollback_on_failure = false;
  else {
    ag_fail(err, "deployment: failure_policy must be rollback or do-nothing");
    goto done;
  }
  const cJSON *components = cJSON_GetObjectItemCaseSensitive(json, "components");
  if (!cJSON_IsArray(components)) {
    ag_fail(err, "deployment: \"components\" must be a list");
    goto done;
  }
  const cJSON *c;
  cJSON_ArrayForEach(c, components) {
    if (d->n_components == AG_MAX_COMPONENTS) {
      ag_fail(err, "deployment: more than %d components", AG_MAX_COMPONENTS);
      goto done;
    }
    if (!ag_component_parse(c, &d->components[d->n_components], err)) goto done;
    for (int i = 0; i < d->n_components; i++)
      if (!strcmp(d->components[i].name, d->components[d->n_components].name)) {
        ag_fail(err, "deployment: component %s appears twice", d->components[i].name);
        goto done;
      }
    d->n_components++;
  }
  ok = order_by_dependencies(d, err);
done:
  cJSON_Delete(json);
  return ok;
}
