/* net/url.c: scheme://[user[:password]@]host[:port][/path] */
#include "net/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *scheme;
  int port;
  bool tls;
} known_schemes[] = {
    {"mqtt", 1883, false}, {"mqtts", 8883, true}, {"http", 80, false},
    {"https", 443, true},  {"ws", 80, false},     {"wss", 443, true},
};

int net_url_default_port(const char *scheme) {
  for (size_t i = 0; i < sizeof known_schemes / sizeof known_schemes[0]; i++)
    if (!strcmp(known_schemes[i].scheme, scheme)) return known_schemes[i].port;
  return 0;
}

static bool scheme_allowed(const char *scheme, const char *allowed) {
  if (!allowed) return net_url_default_port(scheme) != 0;
  size_t n = strlen(scheme);
  for (const char *p = allowed; *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && !strncmp(p, scheme, n)) return true;
    p += len + (end ? 1 : 0);
  }
  return false;
}

#define FAIL(...)                                                               \
  do {                                                                          \
    if (err && err_size) {                                                      \
      int _n = snprintf(err, err_size, "URL '%.200s': ", url ? url : "(null)"); \
      if (_n >= 0 && (size_t)_n < err_size)                                     \
        snprintf(err + _n, err_size - (size_t)_n, __VA_ARGS__);                 \
    }                                                                           \
    return -1;                                                                  \
  } while (0)

/* Copies [p, p+n) into dst (size cap) or fails when it does not fit. */
static bool copy_part(char *dst, size_t cap, const char *p, size_t n) {
  if (n >= cap) return false;
  memcpy(dst, p, n);
  dst[n] = 0;
  return true;
}

int net_url_parse(const char *url, const char *schemes, net_url *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  if (!url || !*url) FAIL("empty");
  const char *sep = strstr(url, "://");
  if (!sep) FAIL("expected scheme://host[:port], e.g. mqtt://127.0.0.1:1883");
  size_t slen = (size_t)(sep - url);
  if (slen == 0 || slen >= sizeof out->scheme) FAIL("bad scheme");
  for (size_t i = 0; i < slen; i++) out->scheme[i] = (char)tolower((unsigned char)url[i]);
  out->scheme[slen] = 0;
  if (!scheme_allowed(out->scheme, schemes))
    FAIL("scheme '%s' is not one of %s", out->scheme,
         schemes ? schemes : "mqtt, mqtts, http, https, ws, wss");
  for (size_t i = 0; i < sizeof known_schemes / sizeof known_schemes[0]; i++)
    if (!strcmp(known_schemes[i].scheme, out->scheme)) out->tls = known_schemes[i].tls;

  const char *auth = sep + 3;
  const char *auth_end = auth + strcspn(auth, "/?#");
  if (*auth_end && !copy_part(out->path, sizeof out->path, auth_end, strlen(auth_end)))
    FAIL("path too long");
  for (const char *p = auth; p < auth_end; p++)
    if ((unsigned char)*p <= ' ') FAIL("space or control character in the address");

  /* user[:password]@ (the last '@' of the authority, passwords may hold '@') */
  const char *at = NULL;
  for (const char *p = auth; p < auth_end; p++)
    if (*p == '@') at = p;
  const char *hostport = auth;
  if (at) {
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    const char *user_end = colon ? colon : at;
    if (!copy_part(out->user, sizeof out->user, auth, (size_t)(user_end - auth)))
      FAIL("user name too long");
    if (colon &&
        !copy_part(out->password, sizeof out->password, colon + 1, (size_t)(at - colon - 1)))
      FAIL("password too long");
    hostport = at + 1;
  }

  const char *port_str = NULL;
  if (*hostport == '[') {
    const char *close = memchr(hostport, ']', (size_t)(auth_end - hostport));
    if (!close) FAIL("missing ']' after the IPv6 address");
    if (!copy_part(out->host, sizeof out->host, hostport + 1, (size_t)(close - hostport - 1)))
      FAIL("host too long");
    if (close + 1 < auth_end) {
      if (close[1] != ':') FAIL("unexpected text after ']'");
      port_str = close + 2;
    }
  } else {
    const char *colon = memchr(hostport, ':', (size_t)(auth_end - hostport));
    const char *host_end = colon ? colon : auth_end;
    if (!copy_part(out->host, sizeof out->host, hostport, (size_t)(host_end - hostport)))
      FAIL("host too long");
    if (colon) port_str = colon + 1;
    if (strchr(out->host, ':')) FAIL("IPv6 addresses go in brackets: [::1]:1883");
  }
  if (!out->host[0]) FAIL("no host");

  out->port = net_url_default_port(out->scheme);
  if (port_str) {
    if (port_str == auth_end || !isdigit((unsigned char)*port_str))
      FAIL("the port is not a number");
    long port = 0;
    const char *p = port_str;
    for (; p < auth_end && isdigit((unsigned char)*p); p++) {
      port = port * 10 + (*p - '0');
      if (port > 65535) break;
    }
    if (p < auth_end && !isdigit((unsigned char)*p)) FAIL("the port is not a number");
    if (port < 1 || port > 65535)
      FAIL("port %.*s is out of range (1-65535)", (int)(auth_end - port_str), port_str);
    out->port = (int)port;
  }
  if (!out->port) FAIL("no port, and scheme '%s' has no default", out->scheme);
  return 0;
}
