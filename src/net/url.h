/*
 * net/url.h: service addresses as users write them on the command line.
 *
 *   mqtt://broker.local:1883      mqtts://10.0.0.2        https://[::1]:8443/path
 *   mqtt://user:secret@host       (credentials, when a broker wants them)
 *
 * Schemes and their default ports: mqtt 1883, mqtts 8883, http 80, https 443,
 * ws 80, wss 443. `tls` is set for mqtts, https and wss. IPv6 literals go in
 * brackets (the brackets are not part of `host`). No percent-decoding: hosts,
 * users and passwords are taken as written.
 */
#ifndef LEDGE_NET_URL_H
#define LEDGE_NET_URL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct net_url {
  char scheme[16]; /* lower case: "mqtt", "mqtts", ... */
  char user[128];
  char password[128];
  char host[256];
  int port;        /* given, or the scheme's default */
  char path[1024]; /* "" or starting with '/' (query included) */
  bool tls;
} net_url;

/* Parses url. `schemes` is a comma-separated list of the schemes the caller
 * accepts ("mqtt,mqtts"), or NULL for any known one. Returns 0, or -1 with a
 * one-line reason in err ("mqtt URL 'x': port 99999 is out of range"). */
int net_url_parse(const char *url, const char *schemes, net_url *out, char *err, size_t err_size);

/* The default port of a scheme, or 0 if the scheme is unknown. */
int net_url_default_port(const char *scheme);

#endif
