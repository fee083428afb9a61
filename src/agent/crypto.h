/* crypto.h: SHA-256 and Ed25519 (OpenSSL 3) for artifacts and signed
 * documents, and the signed envelope both recipes and deployments travel in:
 *
 *   {"ledge_signed": 1, "key_id": "<16 hex>", "payload": "<base64 JSON>",
 *    "signature": "<base64 Ed25519 over the payload bytes>"}
 *
 * The signature covers the exact payload bytes, so no JSON canonicalization
 * is needed. Internal to src/agent. */
#ifndef LEDGE_AGENT_CRYPTO_H
#define LEDGE_AGENT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SHA-256 of a buffer or a file, as 64 lowercase hex digits (out: 65 bytes). */
void ag_sha256_hex(const void *data, size_t size, char *out);
bool ag_sha256_file(const char *path, char *out, int64_t *size, char *err);

/* Ed25519 keys as PEM files (private 0600). */
bool ag_ed25519_generate(const char *private_path, const char *public_path, char *err);

typedef struct ag_key ag_key;
ag_key *ag_key_load_private(const char *path, char *err);
ag_key *ag_key_load_public(const char *path, char *err);
void ag_key_destroy(ag_key *key);
/* First 16 hex digits of SHA-256 of the raw public key. */
const char *ag_key_id(const ag_key *key);

/* Wraps payload in a signed envelope (malloc'd JSON text). */
char *ag_sign_envelope(const ag_key *key, const char *payload, size_t size, char *err);
/* Verifies an envelope against key; returns the payload (malloc'd,
 * NUL-terminated) or NULL with the reason. */
char *ag_verify_envelope(const ag_key *key, const char *envelope, size_t size, char *err);

#endif
