/* store.h: artifact stores. URLs: file:///DIR (the embedded default),
 * s3://BUCKET/PREFIX (SigV4 through libcurl; an S3-compatible endpoint with
 * s3_endpoint, path-style) and https:// (downloads only; Range resume).
 * Internal to src/agent. */
#ifndef LEDGE_AGENT_STORE_H
#define LEDGE_AGENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ag_s3 {
  char endpoint[512];   /* e.g. http://127.0.0.1:4568; empty: AWS */
  char region[64];      /* default us-east-1 */
  char access_key[128]; /* default $AWS_ACCESS_KEY_ID */
  char secret_key[256]; /* default $AWS_SECRET_ACCESS_KEY */
  char ca_file[512];    /* optional CA bundle for https */
} ag_s3;

/* Fills the S3 defaults from the environment. */
void ag_s3_defaults(ag_s3 *s3);

/* Called while downloading; return false to abort (e.g. superseded). */
typedef bool (*ag_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Downloads uri into part_path, continuing a partial file already there
 * (a Range request for http(s) and s3). Stops with an error if more than
 * max_size bytes arrive. Does not verify the digest (the caller does). */
bool ag_fetch(const ag_s3 *s3, const char *uri, const char *part_path, int64_t max_size,
              ag_progress_fn progress, void *ctx, char *err);

/* Uploads a local file to store_url + "/" + key (file:// or s3://). */
bool ag_store_put_file(const ag_s3 *s3, const char *store_url, const char *key, const char *path,
                       char *err);
/* The same for a buffer. */
bool ag_store_put(const ag_s3 *s3, const char *store_url, const char *key, const void *data,
                  int64_t size, const char *content_type, char *err);
/* The same with user metadata (meta: NULL-terminated name, value pairs),
 * sent as x-amz-meta-<name> headers to S3; a file store ignores it. */
bool ag_store_put_meta(const ag_s3 *s3, const char *store_url, const char *key, const void *data,
                       int64_t size, const char *content_type, const char *const *meta, char *err);
/* Work to do while an upload to a remote store waits on the network (a slow
 * or stalled link can hold one for minutes): fn(ctx) is called about every
 * 100 ms from inside the transfer. The agent answers its components' events
 * there, so a pipeline is never held up by an upload. One per process; NULL
 * removes it. fn must not start another upload. */
void ag_store_set_wait_hook(void (*fn)(void *ctx), void *ctx);

/* The URI of key in store_url. */
void ag_store_uri(const char *store_url, const char *key, char *out, size_t size);

/* True if uri lies inside store_url (same scheme and location, at a path
 * boundary). */
bool ag_uri_in_store(const char *uri, const char *store_url);

#endif
