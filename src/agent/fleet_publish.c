/* fleet_publish.c: `ledge fleet publish`: uploads a component's artifacts to
 * the store under their digest (artifacts/<sha256>), completes the recipe with
 * their URIs, sizes and digests, signs it with the fleet key and keeps it in
 * FLEET/recipes/NAME@VERSION.json (and a copy in the store). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/crypto.h"
#include "agent/fleet.h"
#include "agent/recipe.h"
#include "agent/util.h"

/* Uploads path under its digest; fills the artifact object. */
static bool upload_artifact(const char *path, const char *name, const char *store,
                            const char *public_url, const ag_s3 *s3, cJSON *artifact, char *err) {
  char digest[65], key[128], uri[2048];
  int64_t size = 0;
  if (!ag_sha256_file(path, digest, &size, err)) return false;
  snprintf(key, sizeof key, "artifacts/%s", digest);
  if (!ag_store_put_file(s3, store, key, path, err)) return false;
  ag_store_uri(public_url ? public_url : store, key, uri, sizeof uri);
  cJSON_DeleteItemFromObjectCaseSensitive(artifact, "path");
  cJSON_DeleteItemFromObjectCaseSensitive(artifact, "name");
  cJSON_AddStringToObject(artifact, "name", name);
  cJSON_AddStringToObject(artifact, "uri", uri);
  cJSON_AddNumberToObject(artifact, "size", (double)size);
  cJSON_AddStringToObject(artifact, "sha256", digest);
  return true;
}

/* Validates, signs and saves a complete recipe. */
static bool save_recipe(const char *fleet_dir, cJSON *recipe, const char *store, const ag_s3 *s3,
                        char *name_out, char *version_out, char *err) {
  ag_component c;
  if (!ag_component_parse(recipe, &c, err)) return false;
  char path[1200];
  snprintf(path, sizeof path, "%s/signing.key", fleet_dir);
  ag_key *key = ag_key_load_private(path, err);
  if (!key) return false;
  char *text = cJSON_PrintUnformatted(recipe);
  char *signed_text = text ? ag_sign_envelope(key, text, strlen(text), err) : NULL;
  free(text);
  ag_key_destroy(key);
  if (!signed_text) return false;
  snprintf(path, sizeof path, "%s/recipes", fleet_dir);
  bool ok = ag_mkdirs(path, 0755, err);
  snprintf(path, sizeof path, "%s/recipes/%s@%s.json", fleet_dir, c.name, c.version);
  ok = ok && ag_write_file_atomic(path, signed_text, strlen(signed_text), 0644, err);
  char key_name[200];
  snprintf(key_name, sizeof key_name, "recipes/%s/%s.json", c.name, c.version);
  ok = ok && ag_store_put(s3, store, key_name, signed_text, (int64_t)strlen(signed_text),
                          "application/json", err);
  free(signed_text);
  if (ok && name_out) snprintf(name_out, 65, "%s", c.name);
  if (ok && version_out) snprintf(version_out, 65, "%s", c.version);
  return ok;
}

bool fleet_publish_model(const char *fleet_dir, const char *name, const char *version,
                         const char *model_path, const char *store, const char *public_url,
                         const ag_s3 *s3, const char *run_cmd, char *uri_out, char *err) {
  const char *slash = strrchr(model_path, '/');
  const char *base = slash ? slash + 1 : model_path;
  if (!ag_valid_name(base))
    return ag_fail(err, "model file name '%s' must be 1-64 of [A-Za-z0-9._-]", base);
  cJSON *recipe = cJSON_CreateObject();
  cJSON_AddStringToObject(recipe, "name", name);
  cJSON_AddStringToObject(recipe, "version", version);
  cJSON_AddStringToObject(recipe, "kind", "model");
  cJSON *artifact = cJSON_CreateObject();
  cJSON_AddItemToArray(cJSON_AddArrayToObject(recipe, "artifacts"), artifact);
  bool ok = upload_artifact(model_path, base, store, public_url, s3, artifact, err);
  cJSON *config = cJSON_AddObjectToObject(recipe, "configuration");
  cJSON_AddStringToObject(config, "model", base);
  cJSON *lifecycle = cJSON_AddObjectToObject(recipe, "lifecycle");
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(lifecycle, "install"), "timeout_s", 120);
  if (run_cmd)
    cJSON_AddStringToObject(cJSON_AddObjectToObject(lifecycle, "run"), "script", run_cmd);
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(lifecycle, "shutdown"), "timeout_s", 15);
  cJSON *health = cJSON_AddObjectToObject(recipe, "health");
  cJSON_AddStringToObject(health, "type", "inference");
  cJSON_AddStringToObject(health, "artifact", base);
  cJSON_AddNumberToObject(health, "timeout_s", 20);
  if (ok && uri_out) {
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(artifact, "uri");
    snprintf(uri_out, 2048, "%s", uri->valuestring);
  }
  ok = ok && save_recipe(fleet_dir, recipe, store, s3, NULL, NULL, err);
  cJSON_Delete(recipe);
  return ok;
}

bool fleet_publish_dir(const char *fleet_dir, const char *component_dir, const char *store,
                       const char *public_url, const ag_s3 *s3, char *name_out, char *version_out,
                       char *err) {
  char path[1200];
  snprintf(path, sizeof path, "%s/recipe.json", component_dir);
  char *text = ag_read_file(path, NULL, 1 << 20, err);
  if (!text) return false;
  cJSON *recipe = cJSON_Parse(text);
  free(text);
  if (!cJSON_IsObject(recipe)) {
    cJSON_Delete(recipe);
    return ag_fail(err, "%s is not a JSON object", path);
  }
  bool ok = true;
  cJSON *artifacts = cJSON_GetObjectItemCaseSensitive(recipe, "artifacts");
  cJSON *a;
  cJSON_ArrayForEach(a, artifacts) {
    /* {"path": "file"} (relative to the component directory), or {"name": "file"}. */
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(a, "path");
    if (!cJSON_IsString(file)) file = cJSON_GetObjectItemCaseSensitive(a, "name");
    if (!cJSON_IsString(file)) {
      ok = ag_fail(err, "%s: each artifact needs a \"path\"", path);
      break;
    }
    char local[1400], name[128];
    snprintf(local, sizeof local, "%s/%s", component_dir, file->valuestring);
    const char *slash = strrchr(file->valuestring, '/');
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : file->valuestring);
    if (!(ok = upload_artifact(local, name, store, public_url, s3, a, err))) break;
  }
  ok = ok && save_recipe(fleet_dir, recipe, store, s3, name_out, version_out, err);
  cJSON_Delete(recipe);
  return ok;
}
