/* kt_cursor.h - bounds-checked reading of untrusted bytes.
 *
 * Owns: struct kt_cursor, a read position over a borrowed byte range. Errors
 * are sticky: after the first failed read every later read returns zero
 * values and cur->err keeps the first error, so a parser can read a whole
 * structure and check once. Lengths are compared as len > (end - p), never
 * as p + len > end, which could overflow.
 */
#ifndef KT_CURSOR_H
#define KT_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"

struct kt_cursor {
	const uint8_t *p;
	const uint8_t *end;
	enum kt_err err; /* KT_OK until the first failure */
};

static inline void kt_cursor_init(struct kt_cursor *cur, const void *data, size_t len)
{
	cur->p = data;
	cur->end = cur->p + len;
	cur->err = KT_OK;
}

static inline size_t kt_cursor_left(const struct kt_cursor *cur)
{
	return (size_t)(cur->end - cur->p);
}

uint8_t kt_cursor_u8(struct kt_cursor *cur);
uint16_t kt_cursor_u16le(struct kt_cursor *cur);
uint32_t kt_cursor_u32le(struct kt_cursor *cur);
uint64_t kt_cursor_u64le(struct kt_cursor *cur);
int64_t kt_cursor_i64le(struct kt_cursor *cur);
/* At most 10 bytes; an overlong or overflowing varint is KT_ERR_FORMAT. */
uint64_t kt_cursor_uvarint(struct kt_cursor *cur);
/* Returns a pointer to the next len bytes (borrowed) and advances. */
const uint8_t *kt_cursor_bytes(struct kt_cursor *cur, size_t len);
/* Nullable bytes (see kt_buf_append_nbytes): sets *is_null, *len; returns data. */
const uint8_t *kt_cursor_nbytes(struct kt_cursor *cur, size_t *len, int *is_null);
void kt_cursor_skip(struct kt_cursor *cur, size_t len);

#endif
