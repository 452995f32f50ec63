/* kt_json.h - appending JSON text to a kt_buf: strings, byte fields that
 * may not be UTF-8, and numbers. Output only; ktape never needs to parse
 * JSON.
 *
 * Bytes that are valid UTF-8 become a JSON string; other bytes become
 * {"base64": "..."}; null becomes null. This is the record representation of
 * `ktape cat --format json` and of the golden vectors' .jsonl files.
 */
#ifndef KT_JSON_H
#define KT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "kt_buf.h"

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
int kt_utf8_valid(const uint8_t *s, size_t len);
enum kt_err kt_json_string(struct kt_buf *buf, const void *s, size_t len); /* s must be valid UTF-8 */
enum kt_err kt_json_cstr(struct kt_buf *buf, const char *s);
enum kt_err kt_json_bytes(struct kt_buf *buf, const uint8_t *data, size_t len, int is_null);
enum kt_err kt_base64_append(struct kt_buf *buf, const uint8_t *data, size_t len);

#endif
