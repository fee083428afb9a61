/* interpret_config.h: the interpreter's configuration as JSON, and frames as
 * JSON Lines, for `ledge interpret` and pipeline configurations. */
#ifndef LEDGE_PIPELINE_INTERPRET_CONFIG_H
#define LEDGE_PIPELINE_INTERPRET_CONFIG_H

#include <stddef.h>

#include "pipeline/interpret.h"

struct cJSON;

/* Applies the members of a JSON object onto *config (members not given keep
 * their value). Unknown members are errors, so a typo never passes silently.
 * Returns 0, or -1 with a one-line message in err. */
int interp_config_from_json(const struct cJSON *object, interp_config *config, char *err,
                            size_t err_size);
/* Reads a JSON file and applies it as above. */
int interp_config_load(const char *path, interp_config *config, char *err, size_t err_size);

/* Parses one frame line: {"t": s, "probs": {"normal": p, ...}, "speed_kmh": v}.
 * A frame with no probs, "probs": null, "state": "unknown" or "face": false
 * is an unknown frame. Returns 0 or -1 with a message. */
int interp_frame_parse(const char *line, interp_frame *frame, char *err, size_t err_size);

/* Formats an alert as one JSON object (no newline) into buf. */
int interp_alert_format(const interp_alert *alert, char *buf, size_t size);

#endif
