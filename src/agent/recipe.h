/* recipe.h: components (recipes) and deployments, parsed and validated from
 * JSON. The format is documented in docs/deploy.md. Internal to src/agent. */
#ifndef LEDGE_AGENT_RECIPE_H
#define LEDGE_AGENT_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cJSON cJSON;

typedef struct ag_artifact {
  char name[128];  /* file name inside the install directory */
  char uri[1024];  /* file://, s3://, https:// */
  char sha256[65]; /* lowercase hex */
  int64_t size;
} ag_artifact;

typedef enum { AG_HEALTH_NONE, AG_HEALTH_INFERENCE, AG_HEALTH_COMMAND } ag_health_kind;

#define AG_MAX_ARTIFACTS 16
#define AG_MAX_COMPONENTS 16

typedef struct ag_component {
  char name[65];
  char version[65];
  char kind[16]; /* "model" or "command" (or "pipeline": run by a command) */
  ag_artifact artifacts[AG_MAX_ARTIFACTS];
  int n_artifacts;
  char install_cmd[1024];    /* optional, run in the install directory */
  double install_timeout_s;  /* default 120 */
  char run_cmd[1024];        /* optional: a process to run and supervise */
  double shutdown_timeout_s; /* default 15 */
  char recover_cmd[1024];    /* optional: run after a crash, before the restart */
  ag_health_kind health;
  char health_cmd[1024];
  char health_artifact[128]; /* the model to load for AG_HEALTH_INFERENCE */
  double health_timeout_s;   /* default 20 */
  double health_window_s;   /* crashes within this time after start count as a failed start (default
                               10) */
  char configuration[4096]; /* the "configuration" object as JSON text ({} if none) */
  /* "dependencies": {"name": "version" | ">=version" | "*"}: components of the
   * same deployment, started before this one. */
  char dep_names[8][65];
  char dep_specs[8][66];
  int n_deps;
} ag_component;

typedef struct ag_deployment {
  char id[128];
  int64_t sequence; /* larger supersedes smaller */
  char group[65];   /* one of group and device */
  char device[65];
  bool rollback_on_failure; /* failure_policy "rollback" (default) or "do-nothing" */
  ag_component components[AG_MAX_COMPONENTS];
  int n_components;
} ag_deployment;

/* A name or version that is safe as a path element and a topic level. */
bool ag_valid_name(const char *s);

/* Parses a recipe object; err says which field is wrong. */
bool ag_component_parse(const cJSON *json, ag_component *out, char *err);
/* Parses a deployment payload (the signed envelope's content); checks the
 * dependencies and orders the components so that dependencies come first. */
bool ag_deployment_parse(const char *text, ag_deployment *out, char *err);

#endif
