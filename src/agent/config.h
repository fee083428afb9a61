/* config.h: ledged.conf, a "key = value" file (# comments). Every key is
 * range-checked and an error names the key and line. Relative paths are
 * relative to the config file's directory. Internal to src/agent. */
#ifndef LEDGE_AGENT_CONFIG_H
#define LEDGE_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/store.h"
#include "agent/util.h"

#define AG_MAX_STORES 8

typedef struct ag_config {
  char path[1024];
  char device[65];
  char group[65];
  char broker[512];   /* mqtts://host:port or mqtt://host:port */
  char ca_file[1024]; /* broker CA (mqtts) */
  char cert_file[1024];
  char key_file[1024];
  char fleet_key[1024]; /* Ed25519 public key that signs deployments */
  char stores[AG_MAX_STORES][512];
  int n_stores;
  ag_s3 s3;
  char data_dir[1024];
  char inbox_dir[1024];
  int64_t outbox_max_bytes;
  int status_interval_s;
  int keepalive_s;
  int reconnect_max_s; /* longest wait between reconnection attempts */
  ag_log_level log_level;
  char upload_store[512];
  int64_t upload_budget_bytes_per_hour;
} ag_config;

bool ag_config_load(const char *path, ag_config *out, char *err);

#endif
