/*
 * json.h: a small, strict JSON (RFC 8259) parser for model files.
 *
 * The whole document is parsed into a tree held in one allocation list that
 * lg_json_free releases. Strict: no comments, no trailing commas, no NaN, no
 * leading zeros, valid UTF-8 escapes only, a nesting limit, and one error
 * line with the byte offset on anything else. Safe on hostile input: every
 * read is bounds-checked and the recursion depth is capped.
 */
#ifndef LEDGE_JSON_H
#define LEDGE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/core.h"

typedef enum lg_json_type {
  LG_JSON_NULL = 0,
  LG_JSON_FALSE,
  LG_JSON_TRUE,
  LG_JSON_NUMBER,
  LG_JSON_STRING,
  LG_JSON_ARRAY,
  LG_JSON_OBJECT
} lg_json_type;

typedef struct lg_json lg_json;
struct lg_json {
  lg_json_type type;
  double num;       /* NUMBER */
  const char *str;  /* STRING: NUL-terminated UTF-8 (may hold \u0000 as a NUL: see len) */
  size_t len;       /* STRING: byte length */
  int n;            /* ARRAY / OBJECT: element count */
  lg_json *items;   /* ARRAY / OBJECT: the elements */
  const char **keys; /* OBJECT: the keys, parallel to items */
};

typedef struct lg_json_doc lg_json_doc;

#define LG_JSON_MAX_DEPTH 256

/* Parses text[0..len) into *doc (root at lg_json_root). On failure sets an
 * error ("JSON: ... at byte N") and returns LEDGE_ERR_FORMAT. */
lg_status lg_json_parse(const char *text, size_t len, lg_json_doc **doc);
const lg_json *lg_json_root(const lg_json_doc *doc);
void lg_json_free(lg_json_doc *doc);

/* Member of an object by key (the last one if repeated), or NULL (also when
 * obj is NULL or not an object). */
const lg_json *lg_json_get(const lg_json *obj, const char *key);
/* Element i of an array, or NULL. */
const lg_json *lg_json_at(const lg_json *arr, int i);
/* The string of a STRING node, or NULL. */
const char *lg_json_str(const lg_json *v);
/* A number as an integer: true if v is a NUMBER with an integral value in
 * int64 range, or a STRING holding a decimal integer (proto3 JSON writes
 * int64 so). */
bool lg_json_int(const lg_json *v, int64_t *out);
/* A NUMBER (or a numeric STRING such as "NaN", "Infinity", "1e-3") as double. */
bool lg_json_double(const lg_json *v, double *out);

#endif
