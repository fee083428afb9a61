/* crypto.c: SHA-256, Ed25519 keys and the signed envelope (OpenSSL 3). */
#include "agent/crypto.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/util.h"

struct ag_key {
  EVP_PKEY *pkey;
  char id[17];
};

void ag_sha256_hex(const void *data, size_t size, char *out) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(data, size, md, &len, EVP_sha256(), NULL);
  ag_hex(md, 32, out);
}

bool ag_sha256_file(const char *path, char *out, int64_t *size, char *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ag_fail(err, "cannot open %s: %s", path, strerror(errno));
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  int64_t total = 0;
  static __thread unsigned char buf[65536];
  while (ok) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    ok = EVP_DigestUpdate(ctx, buf, (size_t)n);
    total += n;
  }
  unsigned char md[32];
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  close(fd);
  if (!ok) return ag_fail(err, "cannot read %s", path);
  ag_hex(md, 32, out);
  if (size) *size = total;
  return true;
}

static bool write_pem(const char *path, int mode, EVP_PKEY *pkey, bool private, char *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ag_fail(err, "cannot create %s: %s", path, strerror(errno));
  fchmod(fd, (mode_t)mode);
  FILE *f = fdopen(fd, "w");
  if (!f) {
    close(fd);
    return ag_fail(err, "cannot write %s", path);
  }
  bool ok = private ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)
                    : PEM_write_PUBKEY(f, pkey);
  ok = (fflush(f) == 0) && ok && fsync(fd) == 0;
  fclose(f);
  return ok ? true : ag_fail(err, "cannot write %s", path);
}

bool ag_ed25519_generate(const char *private_path, const char *public_path, char *err) {
  EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  if (!pkey) return ag_fail(err, "Ed25519 key generation failed");
  bool ok = write_pem(private_path, 0600, pkey, true, err) &&
            write_pem(public_path, 0644, pkey, false, err);
  EVP_PKEY_free(pkey);
  return ok;
}

static ag_key *wrap_key(EVP_PKEY *pkey, const char *path, char *err) {
  if (!pkey) {
    ag_fail(err, "%s holds no usable key", path);
    return NULL;
  }
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    ag_fail(err, "%s is not an Ed25519 key", path);
    return NULL;
  }
  ag_key *key = calloc(1, sizeof *key);
  if (!key) {
    EVP_PKEY_free(pkey);
    return NULL;
  }
  key->pkey = pkey;
  unsigned char raw[32];
  size_t len = sizeof raw;
  char hex[65];
  EVP_PKEY_get_raw_public_key(pkey, raw, &len);
  ag_sha256_hex(raw, len, hex);
  memcpy(key->id, hex, 16);
  key->id[16] = 0;
  return key;
}

ag_key *ag_key_load_private(const char *path, char *err) {
  FILE *f = fopen(path, "r");
  if (!f) {
    ag_fail(err, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  EVP_PKEY *pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  return wrap_key(pkey, path, err);
}

ag_key *ag_key_load_public(const char *path, char *err) {
  FILE *f = fopen(path, "r");
  if (!f) {
    ag_fail(err, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  EVP_PKEY *pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
  fclose(f);
  return wrap_key(pkey, path, err);
}

void ag_key_destroy(ag_key *key) {
  if (!key) return;
  EVP_PKEY_free(key->pkey);
  free(key);
}

const char *ag_key_id(const ag_key *key) { return key->id; }

char *ag_sign_envelope(const ag_key *key, const char *payload, size_t size, char *err) {
  unsigned char sig[64];
  size_t sig_len = sizeof sig;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
            EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)payload, size) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    ag_fail(err, "signing failed (is the key a private Ed25519 key?)");
    return NULL;
  }
  char *payload64 = ag_base64_encode((const uint8_t *)payload, size);
  char *sig64 = ag_base64_encode(sig, sig_len);
  cJSON *env = cJSON_CreateObject();
  cJSON_AddNumberToObject(env, "ledge_signed", 1);
  cJSON_AddStringToObject(env, "key_id", key->id);
  cJSON_AddStringToObject(env, "payload", payload64 ? payload64 : "");
  cJSON_AddStringToObject(env, "signature", sig64 ? sig64 : "");
  char *text = cJSON_PrintUnformatted(env);
  cJSON_Delete(env);
  free(payload64);
  free(sig64);
  return text;
}

char *ag_verify_envelope(const ag_key *key, const char *envelope, size_t size, char *err) {
  cJSON *env = cJSON_ParseWithLength(envelope, size);
  if (!env) {
    ag_fail(err, "not a signed document (invalid JSON)");
    return NULL;
  }
  const cJSON *payload = cJSON_GetObjectItemCaseSensitive(env, "payload");
  const cJSON *signature = cJSON_GetObjectItemCaseSensitive(env, "signature");
  if (!cJSON_IsString(payload) || !cJSON_IsString(signature)) {
    cJSON_Delete(env);
    ag_fail(err, "unsigned document (no payload and signature)");
    return NULL;
  }
  size_t payload_len = 0, sig_len = 0;
  uint8_t *data = ag_base64_decode(payload->valuestring, &payload_len);
  uint8_t *sig = ag_base64_decode(signature->valuestring, &sig_len);
  cJSON_Delete(env);
  bool ok = data && sig && sig_len == 64;
  if (ok) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, sig_len, data, payload_len) == 1;
    EVP_MD_CTX_free(ctx);
  }
  free(sig);
  if (!ok) {
    free(data);
    ag_fail(err, "bad signature (not signed by the fleet key %s)", key->id);
    return NULL;
  }
  char *text = malloc(payload_len + 1);
  if (text) {
    memcpy(text, data, payload_len);
    text[payload_len] = 0;
  }
  free(data);
  return text;
}
