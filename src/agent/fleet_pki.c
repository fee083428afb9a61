/* fleet_pki.c: the fleet's keys. The CA signs device and broker certificates
 * (mutual TLS); the Ed25519 signing key, separate from the CA, signs recipes
 * and deployments. Secrets are created 0600. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/crypto.h"
#include "agent/fleet.h"
#include "agent/recipe.h"
#include "agent/util.h"

static FILE *create(const char *path, int mode, char *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    ag_fail(err, "cannot create %s: %s", path, strerror(errno));
    return NULL;
  }
  fchmod(fd, (mode_t)mode);
  FILE *f = fdopen(fd, "w");
  if (!f) close(fd);
  return f;
}

static bool save_key(EVP_PKEY *key, const char *path, char *err) {
  FILE *f = create(path, 0600, err);
  if (!f) return false;
  bool ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
  ok = fclose(f) == 0 && ok;
  return ok ? true : ag_fail(err, "cannot write %s", path);
}

static bool save_cert(X509 *cert, const char *path, char *err) {
  FILE *f = create(path, 0644, err);
  if (!f) return false;
  bool ok = PEM_write_X509(f, cert);
  ok = fclose(f) == 0 && ok;
  return ok ? true : ag_fail(err, "cannot write %s", path);
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

/* A certificate for key, named cn, signed by issuer (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *kind, const char *const *hosts, int n_hosts, int days) {
  X509 *cert = X509_new();
  if (!cert) return NULL;
  bool ok = X509_set_version(cert, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
  ok = ok && bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
       X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400) && X509_set_pubkey(cert, key);
  X509_NAME *name = X509_get_subject_name(cert);
  ok = ok &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"ledge fleet",
                                  -1, -1, 0) &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
  ok = ok && X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  X509 *iss = issuer ? issuer : cert;
  ok = ok && add_ext(cert, iss, NID_subject_key_identifier, "hash");
  if (!strcmp(kind, "ca")) {
    ok = ok && add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(cert, iss, NID_authority_key_identifier, "keyid:always") &&
         add_ext(cert, iss, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
         add_ext(cert, iss, NID_ext_key_usage,
                 !strcmp(kind, "server") ? "serverAuth" : "clientAuth");
    if (n_hosts > 0) {
      char san[2048] = "";
      size_t len = 0;
      for (int i = 0; i < n_hosts; i++) {
        bool ip = strspn(hosts[i], "0123456789.:") == strlen(hosts[i]);
        len += (size_t)snprintf(san + len, sizeof san - len, "%s%s:%s", i ? "," : "",
                                ip ? "IP" : "DNS", hosts[i]);
        if (len >= sizeof san) return X509_free(cert), NULL;
      }
      ok = ok && add_ext(cert, iss, NID_subject_alt_name, san);
    }
  }
  ok = ok && X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256());
  if (!ok) {
    X509_free(cert);
    return NULL;
  }
  return cert;
}

static void fleet_path(const char *dir, const char *name, char *out, size_t size) {
  snprintf(out, size, "%s/%s", dir, name);
}

bool fleet_keygen(const char *dir, const char *const *broker_hosts, int n_hosts, char *err) {
  char ca_key[1200], ca_pem[1200], signing[1200], signing_pub[1200];
  fleet_path(dir, "ca.key", ca_key, sizeof ca_key);
  fleet_path(dir, "ca.pem", ca_pem, sizeof ca_pem);
  fleet_path(dir, "signing.key", signing, sizeof signing);
  fleet_path(dir, "signing.pub", signing_pub, sizeof signing_pub);
  if (ag_exists(ca_key) || ag_exists(signing))
    return ag_fail(err, "%s already holds fleet keys; refusing to overwrite them", dir);
  if (!ag_mkdirs(dir, 0700, err)) return false;
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  X509 *ca = key ? make_cert(key, "ledge fleet CA", NULL, NULL, "ca", NULL, 0, 3650) : NULL;
  bool ok = ca ? true : ag_fail(err, "cannot create the fleet CA");
  ok = ok && save_key(key, ca_key, err) && save_cert(ca, ca_pem, err);
  X509_free(ca);
  EVP_PKEY_free(key);
  ok = ok && ag_ed25519_generate(signing, signing_pub, err);
  /* The operator's client certificate (for ledge fleet over mqtts://) and a
   * broker certificate for the given host names. */
  char cert[1200], k[1200];
  fleet_path(dir, "operator.pem", cert, sizeof cert);
  fleet_path(dir, "operator.key", k, sizeof k);
  ok = ok && fleet_issue_cert(dir, "ledge-operator", false, NULL, 0, cert, k, err);
  static const char *const default_hosts[] = {"localhost", "127.0.0.1"};
  if (n_hosts == 0) {
    broker_hosts = default_hosts;
    n_hosts = 2;
  }
  fleet_path(dir, "broker.pem", cert, sizeof cert);
  fleet_path(dir, "broker.key", k, sizeof k);
  ok = ok && fleet_issue_cert(dir, broker_hosts[0], true, broker_hosts, n_hosts, cert, k, err);
  return ok;
}

bool fleet_issue_cert(const char *dir, const char *name, bool server, const char *const *hosts,
                      int n_hosts, const char *cert_path, const char *key_path, char *err) {
  char ca_key[1200], ca_pem[1200];
  fleet_path(dir, "ca.key", ca_key, sizeof ca_key);
  fleet_path(dir, "ca.pem", ca_pem, sizeof ca_pem);
  FILE *f = fopen(ca_key, "r");
  if (!f)
    return ag_fail(err, "cannot open %s: %s (run ledge fleet keygen first)", ca_key,
                   strerror(errno));
  EVP_PKEY *issuer_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  f = fopen(ca_pem, "r");
  X509 *issuer = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
  if (f) fclose(f);
  bool ok = issuer && issuer_key ? true : ag_fail(err, "%s cannot be read as the fleet CA", dir);
  EVP_PKEY *key = ok ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : NULL;
  X509 *cert = key ? make_cert(key, name, issuer, issuer_key, server ? "server" : "client", hosts,
                               n_hosts, 825)
                   : NULL;
  if (ok && !cert) ok = ag_fail(err, "cannot issue a certificate for %s", name);
  ok = ok && save_key(key, key_path, err) && save_cert(cert, cert_path, err);
  X509_free(cert);
  X509_free(issuer);
  EVP_PKEY_free(key);
  EVP_PKEY_free(issuer_key);
  return ok;
}

bool fleet_provision(const char *fleet_dir, const char *device, const char *group,
                     const char *broker, const char *store, const ag_s3 *s3, const char *out_dir,
                     char *err) {
  if (!ag_valid_name(device))
    return ag_fail(err, "device name '%s' must be 1-64 of [A-Za-z0-9._-]", device);
  if (!ag_valid_name(group))
    return ag_fail(err, "group name '%s' must be 1-64 of [A-Za-z0-9._-]", group);
  if (strncmp(broker, "mqtt://", 7) && strncmp(broker, "mqtts://", 8))
    return ag_fail(err, "--broker must be mqtts://HOST:PORT (or mqtt:// on loopback)");
  if (!ag_mkdirs(out_dir, 0700, err)) return false;
  char cert[1200], key[1200], from[1200], to[1200];
  fleet_path(out_dir, "device.pem", cert, sizeof cert);
  fleet_path(out_dir, "device.key", key, sizeof key);
  if (!fleet_issue_cert(fleet_dir, device, false, NULL, 0, cert, key, err)) return false;
  fleet_path(fleet_dir, "ca.pem", from, sizeof from);
  fleet_path(out_dir, "ca.pem", to, sizeof to);
  if (!ag_copy_file(from, to, 0644, err)) return false;
  fleet_path(fleet_dir, "signing.pub", from, sizeof from);
  fleet_path(out_dir, "fleet.pub", to, sizeof to);
  if (!ag_copy_file(from, to, 0644, err)) return false;
  char conf[8192];
  size_t n = (size_t)snprintf(
      conf, sizeof conf,
      "# ledged configuration for %s (written by ledge fleet provision; see docs/deploy.md)\n"
      "device = %s\ngroup = %s\nbroker = %s\n"
      "ca_file = ca.pem\ncert_file = device.pem\nkey_file = device.key\n"
      "fleet_key = fleet.pub\n",
      device, device, group, broker);
  if (store && *store) n += (size_t)snprintf(conf + n, sizeof conf - n, "store = %s\n", store);
  if (s3 && s3->endpoint[0])
    n += (size_t)snprintf(conf + n, sizeof conf - n, "s3_endpoint = %s\n", s3->endpoint);
  if (s3 && store && !strncmp(store, "s3://", 5)) {
    n += (size_t)snprintf(conf + n, sizeof conf - n, "s3_region = %s\n", s3->region);
    if (s3->access_key[0])
      n += (size_t)snprintf(conf + n, sizeof conf - n, "s3_access_key = %s\ns3_secret_key = %s\n",
                            s3->access_key, s3->secret_key);
  }
  if (n >= sizeof conf) return ag_fail(err, "configuration too long");
  char path[1200];
  fleet_path(out_dir, "ledged.conf", path, sizeof path);
  return ag_write_file_atomic(path, conf, n, 0600, err);
}
