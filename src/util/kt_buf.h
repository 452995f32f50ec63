/* kt_buf.h - growable byte buffers with a hard cap, and little-endian and
 * varint encoders that append to them.
 *
 * Owns: struct kt_buf. A buffer's memory belongs to the buffer; kt_buf_free
 * releases it. Every buffer has a cap (max) so that hostile or runaway input
 * fails with KT_ERR_LIMIT instead of exhausting memory.
 */
#ifndef KT_BUF_H
#define KT_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"

struct kt_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* the buffer never grows beyond this many bytes */
};

void kt_buf_init(struct kt_buf *buf, size_t max);
void kt_buf_free(struct kt_buf *buf);
void kt_buf_reset(struct kt_buf *buf); /* len = 0, keeps memory */
/* Ensures room for extra more bytes. KT_ERR_LIMIT past max. */
enum kt_err kt_buf_reserve(struct kt_buf *buf, size_t extra);
enum kt_err kt_buf_append(struct kt_buf *buf, const void *data, size_t len);
enum kt_err kt_buf_append_u8(struct kt_buf *buf, uint8_t v);
enum kt_err kt_buf_append_u16le(struct kt_buf *buf, uint16_t v);
enum kt_err kt_buf_append_u32le(struct kt_buf *buf, uint32_t v);
enum kt_err kt_buf_append_u64le(struct kt_buf *buf, uint64_t v);
enum kt_err kt_buf_append_uvarint(struct kt_buf *buf, uint64_t v);
/* Nullable bytes: uvarint(len + 1) then the bytes; uvarint(0) for null. */
enum kt_err kt_buf_append_nbytes(struct kt_buf *buf, const void *data, size_t len, int is_null);
/* printf into the buffer (no terminating NUL counted in len). */
enum kt_err kt_buf_printf(struct kt_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fixed-width little-endian helpers for callers with a raw pointer. */
static inline void kt_put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t kt_get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t kt_get_u64le(const uint8_t *p)
{
	return (uint64_t)kt_get_u32le(p) | (uint64_t)kt_get_u32le(p + 4) << 32;
}

/* Bytes a uvarint of v takes (1..10). */
size_t kt_uvarint_size(uint64_t v);

#endif
