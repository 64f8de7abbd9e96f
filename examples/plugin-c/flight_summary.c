/* An example Aviso trigger plugin in C: prints a one-line summary of each notification and logs
 * that it did, as examples/plugin-python/app.py does.
 *
 * The types and functions named trigger_plugin_*, aviso_plugin_* and exports_aviso_plugin_* are
 * the bindings wit-bindgen generates from wit/plugin.wit (world trigger-plugin); build.sh
 * generates them and makes a WebAssembly component of this file (see README.md).
 *
 * Ownership follows the component model's C bindings: the strings and lists an exported
 * function receives are the plugin's to free, and the message of a returned error is allocated
 * with malloc and freed by the bindings once the host has copied it. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trigger_plugin.h"

typedef exports_aviso_plugin_trigger_error_t plugin_error;

/* Sets *err to the error `tag` (AVISO_PLUGIN_TYPES_ERROR_...) with a printf-style message;
 * returns false, what a failed export returns. */
__attribute__((format(printf, 3, 4))) static bool
fail(plugin_error *err, uint8_t tag, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int length = vsnprintf(NULL, 0, format, args);
  va_end(args);
  char *message = malloc(length + 1);
  if (message == NULL) abort();
  va_start(args, format);
  vsnprintf(message, length + 1, format, args);
  va_end(args);
  /* Every case of the error variant carries a string. */
  trigger_plugin_string_t text = {(uint8_t *)message, (size_t)length};
  err->tag = tag;
  switch (tag) {
  case AVISO_PLUGIN_TYPES_ERROR_INVALID_CONFIG: err->val.invalid_config = text; break;
  case AVISO_PLUGIN_TYPES_ERROR_DENIED: err->val.denied = text; break;
  case AVISO_PLUGIN_TYPES_ERROR_TRANSIENT: err->val.transient = text; break;
  default: err->tag = AVISO_PLUGIN_TYPES_ERROR_FAILED; err->val.failed = text; break;
  }
  return false;
}

static bool equals(const trigger_plugin_string_t *s, const char *text) {
  size_t length = strlen(text);
  return s->len == length && memcmp(s->ptr, text, length) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The configuration: a JSON object (RFC 8259), of which this plugin reads `prefix`.           */

typedef struct {
  const uint8_t *text, *at, *end;
  const char *error; /* the first syntax error, as Python's json module words it */
  const uint8_t *error_at;
} json_reader;

enum json_kind { JSON_INVALID, JSON_OBJECT, JSON_ARRAY, JSON_STRING, JSON_NUMBER, JSON_LITERAL };

#define JSON_MAX_DEPTH 64

static enum json_kind json_value(json_reader *r, int depth, trigger_plugin_string_t *string);

static enum json_kind json_error(json_reader *r, const char *message, const uint8_t *at) {
  if (r->error == NULL) {
    r->error = message;
    r->error_at = at;
  }
  return JSON_INVALID;
}

static void json_space(json_reader *r) {
  while (r->at < r->end && (*r->at == ' ' || *r->at == '\t' || *r->at == '\n' || *r->at == '\r'))
    r->at++;
}

static bool json_literal(json_reader *r, const char *word) {
  size_t length = strlen(word);
  if ((size_t)(r->end - r->at) < length || memcmp(r->at, word, length) != 0) return false;
  r->at += length;
  return true;
}

static int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The four hex digits after `\u` at r->at, or -1. */
static long json_hex4(json_reader *r) {
  if (r->end - r->at < 4) return -1;
  long value = 0;
  for (int i = 0; i < 4; i++) {
    int digit = hex_digit(r->at[i]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  r->at += 4;
  return value;
}

static size_t utf8_encode(long c, uint8_t *out) {
  if (c < 0x80) { out[0] = (uint8_t)c; return 1; }
  if (c < 0x800) { out[0] = 0xC0 | (c >> 6); out[1] = 0x80 | (c & 0x3F); return 2; }
  if (c < 0x10000) {
    out[0] = 0xE0 | (c >> 12); out[1] = 0x80 | ((c >> 6) & 0x3F); out[2] = 0x80 | (c & 0x3F);
    return 3;
  }
  out[0] = 0xF0 | (c >> 18); out[1] = 0x80 | ((c >> 12) & 0x3F);
  out[2] = 0x80 | ((c >> 6) & 0x3F); out[3] = 0x80 | (c & 0x3F);
  return 4;
}

/* A string at r->at (its opening quote); decoded into *out (malloc'd) when out is not NULL.
 * The input is UTF-8 already (a WIT string), so only escapes need decoding; a lone surrogate
 * escape (\ud800 without its pair) becomes U+FFFD. */
static enum json_kind json_string(json_reader *r, trigger_plugin_string_t *out) {
  const uint8_t *start = r->at++;
  /* Decoding never makes a string longer than its JSON text. */
  uint8_t *buffer = out ? malloc(r->end - start + 1) : NULL;
  size_t length = 0;
  if (out && buffer == NULL) abort();
  for (;;) {
    if (r->at >= r->end) {
      free(buffer);
      return json_error(r, "Unterminated string starting at", start);
    }
    uint8_t c = *r->at;
    if (c == '"') break;
    if (c < 0x20) {
      free(buffer);
      return json_error(r, "Invalid control character at", r->at);
    }
    if (c != '\\') {
      if (buffer) buffer[length++] = c;
      r->at++;
      continue;
    }
    const uint8_t *escape = r->at;
    r->at++;
    uint8_t kind = r->at < r->end ? *r->at++ : 0;
    long code;
    switch (kind) {
    case '"': case '\\': case '/': code = kind; break;
    case 'b': code = '\b'; break;
    case 'f': code = '\f'; break;
    case 'n': code = '\n'; break;
    case 'r': code = '\r'; break;
    case 't': code = '\t'; break;
    case 'u':
      code = json_hex4(r);
      if (code < 0) {
        free(buffer);
        return json_error(r, "Invalid \\uXXXX escape", escape + 1);
      }
      if (code >= 0xD800 && code < 0xDC00 && r->end - r->at >= 6 && r->at[0] == '\\' &&
          r->at[1] == 'u') {
        const uint8_t *second = r->at;
        r->at += 2;
        long low = json_hex4(r);
        if (low >= 0xDC00 && low < 0xE000) {
          code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        } else {
          r->at = second; /* not its pair: read as an escape of its own next */
        }
      }
      if (code >= 0xD800 && code < 0xE000) code = 0xFFFD;
      break;
    default:
      free(buffer);
      return json_error(r, "Invalid \\escape", escape);
    }
    if (buffer) length += utf8_encode(code, buffer + length);
  }
  r->at++; /* the closing quote */
  if (out) {
    /* The bindings free only strings that are not empty. */
    if (length == 0) {
      free(buffer);
      buffer = NULL;
    }
    out->ptr = buffer;
    out->len = length;
  }
  return JSON_STRING;
}

static bool is_digit(const json_reader *r) {
  return r->at < r->end && *r->at >= '0' && *r->at <= '9';
}

static enum json_kind json_number(json_reader *r) {
  const uint8_t *start = r->at;
  if (*r->at == '-') r->at++;
  if (!is_digit(r)) return json_error(r, "Expecting value", start);
  if (*r->at == '0') r->at++;
  else while (is_digit(r)) r->at++;
  if (r->at + 1 < r->end && *r->at == '.' && r->at[1] >= '0' && r->at[1] <= '9') {
    r->at++;
    while (is_digit(r)) r->at++;
  }
  if (r->at < r->end && (*r->at == 'e' || *r->at == 'E')) {
    const uint8_t *exponent = r->at++;
    if (r->at < r->end && (*r->at == '+' || *r->at == '-')) r->at++;
    if (!is_digit(r)) r->at = exponent; /* `1e` is the number 1 followed by extra data */
    while (is_digit(r)) r->at++;
  }
  return JSON_NUMBER;
}

/* An object's members after its `{`; calls member() for each with the key decoded, unless
 * member is NULL. */
typedef bool (*json_member)(json_reader *r, int depth, trigger_plugin_string_t *key, void *data);

static enum json_kind json_object(json_reader *r, int depth, json_member member, void *data) {
  r->at++;
  json_space(r);
  if (r->at < r->end && *r->at == '}') {
    r->at++;
    return JSON_OBJECT;
  }
  for (;;) {
    json_space(r);
    if (r->at >= r->end || *r->at != '"')
      return json_error(r, "Expecting property name enclosed in double quotes", r->at);
    trigger_plugin_string_t key;
    if (json_string(r, member ? &key : NULL) == JSON_INVALID) return JSON_INVALID;
    json_space(r);
    if (r->at >= r->end || *r->at != ':') {
      if (member) trigger_plugin_string_free(&key);
      return json_error(r, "Expecting ':' delimiter", r->at);
    }
    r->at++;
    json_space(r);
    bool ok = member ? member(r, depth, &key, data) : json_value(r, depth, NULL) != JSON_INVALID;
    if (member) trigger_plugin_string_free(&key);
    if (!ok) return JSON_INVALID;
    json_space(r);
    if (r->at < r->end && *r->at == ',') {
      r->at++;
      continue;
    }
    if (r->at < r->end && *r->at == '}') {
      r->at++;
      return JSON_OBJECT;
    }
    return json_error(r, "Expecting ',' delimiter", r->at);
  }
}

static enum json_kind json_array(json_reader *r, int depth) {
  r->at++;
  json_space(r);
  if (r->at < r->end && *r->at == ']') {
    r->at++;
    return JSON_ARRAY;
  }
  for (;;) {
    json_space(r);
    if (json_value(r, depth, NULL) == JSON_INVALID) return JSON_INVALID;
    json_space(r);
    if (r->at < r->end && *r->at == ',') {
      r->at++;
      continue;
    }
    if (r->at < r->end && *r->at == ']') {
      r->at++;
      return JSON_ARRAY;
    }
    return json_error(r, "Expecting ',' delimiter", r->at);
  }
}

/* Any value at r->at; a string is decoded into *string when string is not NULL. */
static enum json_kind json_value(json_reader *r, int depth, trigger_plugin_string_t *string) {
  if (depth >= JSON_MAX_DEPTH) return json_error(r, "Nested too deeply", r->at);
  if (r->at >= r->end) return json_error(r, "Expecting value", r->at);
  switch (*r->at) {
  case '{': return json_object(r, depth + 1, NULL, NULL);
  case '[': return json_array(r, depth + 1);
  case '"': return json_string(r, string);
  case '-': case '0': case '1': case '2': case '3': case '4':
  case '5': case '6': case '7': case '8': case '9': return json_number(r);
  default:
    if (json_literal(r, "true") || json_literal(r, "false") || json_literal(r, "null"))
      return JSON_LITERAL;
    return json_error(r, "Expecting value", r->at);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The trigger's settings.                                                                    */

typedef struct {
  bool has_prefix;
  trigger_plugin_string_t prefix;
  bool prefix_is_string; /* of the last `prefix` member, which is the one that counts */
} settings;

static bool settings_member(json_reader *r, int depth, trigger_plugin_string_t *key, void *data) {
  settings *s = data;
  if (!equals(key, "prefix")) return json_value(r, depth, NULL) != JSON_INVALID;
  if (s->has_prefix) trigger_plugin_string_free(&s->prefix);
  s->has_prefix = true;
  s->prefix = (trigger_plugin_string_t){NULL, 0};
  enum json_kind kind = json_value(r, depth, &s->prefix);
  s->prefix_is_string = kind == JSON_STRING;
  return kind != JSON_INVALID;
}

/* Reads the configuration into *s, or returns an invalid-config error (which Aviso reports
 * when the listener loads). */
static bool read_settings(const trigger_plugin_string_t *config, settings *s, plugin_error *err) {
  *s = (settings){0};
  json_reader r = {config->ptr, config->ptr, config->ptr + config->len, NULL, NULL};
  json_space(&r);
  bool object = r.at < r.end && *r.at == '{';
  if (object) json_object(&r, 1, settings_member, s);
  else json_value(&r, 1, NULL);
  json_space(&r);
  if (r.error == NULL && r.at < r.end) json_error(&r, "Extra data", r.at);
  if (r.error != NULL) {
    /* Where, as Python says it: line and column from 1, and the offset, in characters. */
    size_t line = 1, column = 1, offset = 0;
    for (const uint8_t *p = r.text; p < r.error_at; p++) {
      if ((*p & 0xC0) == 0x80) continue; /* a continuation byte of a UTF-8 character */
      offset++;
      column++;
      if (*p == '\n') {
        line++;
        column = 1;
      }
    }
    fail(err, AVISO_PLUGIN_TYPES_ERROR_INVALID_CONFIG,
         "configuration is not valid JSON: %s: line %zu column %zu (char %zu)", r.error, line,
         column, offset);
  } else if (!object) {
    fail(err, AVISO_PLUGIN_TYPES_ERROR_INVALID_CONFIG, "configuration must be a JSON object");
  } else if (s->has_prefix && !s->prefix_is_string) {
    fail(err, AVISO_PLUGIN_TYPES_ERROR_INVALID_CONFIG, "prefix must be a string");
  } else {
    return true;
  }
  if (s->has_prefix) trigger_plugin_string_free(&s->prefix);
  return false;
}

/* ------------------------------------------------------------------------------------------ */
/* The exports of aviso:plugin/trigger.                                                        */

bool exports_aviso_plugin_trigger_validate(trigger_plugin_string_t *config, plugin_error *err) {
  settings s;
  bool ok = read_settings(config, &s, err);
  if (ok && s.has_prefix) trigger_plugin_string_free(&s.prefix);
  trigger_plugin_string_free(config);
  return ok;
}

/* The value of `name` in the notification's request, or NULL. */
static const trigger_plugin_string_t *
request_value(const exports_aviso_plugin_trigger_notification_t *n, const char *name) {
  for (size_t i = 0; i < n->request.len; i++)
    if (equals(&n->request.ptr[i].f0, name)) return &n->request.ptr[i].f1;
  return NULL;
}

static void put(const trigger_plugin_string_t *s) { fwrite(s->ptr, 1, s->len, stdout); }

static bool summarise(const settings *s, const exports_aviso_plugin_trigger_notification_t *n,
                      plugin_error *err) {
  const trigger_plugin_string_t *number = request_value(n, "number");
  if (number == NULL)
    return fail(err, AVISO_PLUGIN_TYPES_ERROR_FAILED,
                "this plugin expects flight notifications (no 'number')");
  const trigger_plugin_string_t *airport = request_value(n, "airport");
  /* Prefix: flight AZ203 at FCO: Landed */
  if (s->has_prefix) put(&s->prefix);
  else fputs("Notification", stdout);
  fputs(": ", stdout);
  put(&n->event);
  fputc(' ', stdout);
  put(number);
  fputs(" at ", stdout);
  if (airport) put(airport);
  else fputc('?', stdout);
  fputs(": ", stdout);
  if (n->payload.is_some) put(&n->payload.val);
  else fputs("(no payload)", stdout);
  fputc('\n', stdout);
  /* The call's instance ends with the call: nothing flushes stdout later. */
  if (fflush(stdout) != 0)
    return fail(err, AVISO_PLUGIN_TYPES_ERROR_FAILED, "cannot write the summary: %s",
                strerror(errno));

  static const char summarised[] = "summarised ";
  size_t length = sizeof summarised - 1 + n->key.len;
  uint8_t *message = malloc(length);
  if (message == NULL) abort();
  memcpy(message, summarised, sizeof summarised - 1);
  memcpy(message + sizeof summarised - 1, n->key.ptr, n->key.len);
  trigger_plugin_string_t text = {message, length};
  aviso_plugin_log_emit(AVISO_PLUGIN_LOG_LEVEL_INFO, &text); /* borrows the message */
  free(message);
  return true;
}

bool exports_aviso_plugin_trigger_run(trigger_plugin_string_t *config,
                                      exports_aviso_plugin_trigger_notification_t *notification,
                                      plugin_error *err) {
  settings s;
  bool ok = read_settings(config, &s, err);
  if (ok) {
    ok = summarise(&s, notification, err);
    if (s.has_prefix) trigger_plugin_string_free(&s.prefix);
  }
  trigger_plugin_string_free(config);
  exports_aviso_plugin_trigger_notification_free(notification);
  return ok;
}
