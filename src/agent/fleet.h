/* fleet.h: the operator's side, `ledge fleet` (tools/cmd_fleet.c parses the
 * command line). Internal to src/agent. */
#ifndef LEDGE_AGENT_FLEET_H
#define LEDGE_AGENT_FLEET_H

#include <stdbool.h>

#include "agent/store.h"

/* fleet_pki.c: the fleet CA (EC P-256), certificates, the Ed25519 signing key. */
bool fleet_keygen(const char *fleet_dir, const char *const *broker_hosts, int n_hosts, char *err);
bool fleet_issue_cert(const char *fleet_dir, const char *name, bool server,
                      const char *const *hosts, int n_hosts, const char *cert_path,
                      const char *key_path, char *err);
bool fleet_provision(const char *fleet_dir, const char *device, const char *group,
                     const char *broker, const char *store, const ag_s3 *s3, const char *out_dir,
                     char *err);

/* fleet_publish.c */
/* public_url (may be NULL): where devices fetch what is uploaded to store
 * (e.g. a file:// store served by a web server at https://host/path); the
 * recipe's URIs use it instead of the store's URL. */
bool fleet_publish_model(const char *fleet_dir, const char *name, const char *version,
                         const char *model_path, const char *store, const char *public_url,
                         const ag_s3 *s3, const char *run_cmd, char *uri_out, char *err);
bool fleet_publish_dir(const char *fleet_dir, const char *component_dir, const char *store,
                       const char *public_url, const ag_s3 *s3, char *name_out, char *version_out,
                       char *err);

/* fleet_deploy.c */
typedef struct fleet_target {
  const char *fleet_dir;
  const char *broker; /* NULL with bundle_dir: offline only */
  const char *group;
  const char *device;
  const char *bundle_dir; /* write deployment.json + artifacts for an agent's inbox */
  const char *failure_policy;
} fleet_target;
bool fleet_deploy(const fleet_target *t, const char *const *components, int n, char *id_out,
                  char *err);
bool fleet_rollback(const fleet_target *t, char *id_out, char *err);
/* Prints a table (or JSON with json) of the group's devices. */
bool fleet_status(const char *fleet_dir, const char *broker, const char *group, double wait_s,
                  bool json, char *err);

#endif
