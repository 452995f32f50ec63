#include "kt_cursor.h"

#include "kt_buf.h"

static int cursor_need(struct kt_cursor *cur, size_t len)
{
	if (cur->err)
		return 0;
	if (len > kt_cursor_left(cur)) {
		cur->err = KT_ERR_TRUNCATED;
		return 0;
	}
	return 1;
}

uint8_t kt_cursor_u8(struct kt_cursor *cur)
{
	if (!cursor_need(cur, 1))
		return 0;
	return *cur->p++;
}

uint16_t kt_cursor_u16le(struct kt_cursor *cur)
{
	if (!cursor_need(cur, 2))
		return 0;
	uint16_t v = (uint16_t)(cur->p[0] | cur->p[1] << 8);
	cur->p += 2;
	return v;
}

uint32_t kt_cursor_u32le(struct kt_cursor *cur)
{
	if (!cursor_need(cur, 4))
		return 0;
	uint32_t v = kt_get_u32le(cur->p);
	cur->p += 4;
	return v;
}

uint64_t kt_cursor_u64le(struct kt_cursor *cur)
{
	if (!cursor_need(cur, 8))
		return 0;
	uint64_t v = kt_get_u64le(cur->p);
	cur->p += 8;
	return v;
}

int64_t kt_cursor_i64le(struct kt_cursor *cur)
{
	return (int64_t)kt_cursor_u64le(cur);
}

uint64_t kt_cursor_uvarint(struct kt_cursor *cur)
{
	if (cur->err)
		return 0;
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (cur->p >= cur->end) {
			cur->err = KT_ERR_TRUNCATED;
			return 0;
		}
		uint8_t b = *cur->p++;
		/* the 10th byte may only carry the top bit of a 64-bit value */
		if (shift == 63 && b > 1) {
			cur->err = KT_ERR_FORMAT;
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	cur->err = KT_ERR_FORMAT;
	return 0;
}

const uint8_t *kt_cursor_bytes(struct kt_cursor *cur, size_t len)
{
	if (!cursor_need(cur, len))
		return NULL;
	const uint8_t *p = cur->p;
	cur->p += len;
	return p;
}

const uint8_t *kt_cursor_nbytes(struct kt_cursor *cur, size_t *len, int *is_null)
{
	uint64_t n = kt_cursor_uvarint(cur);
	*len = 0;
	*is_null = 1;
	if (cur->err || n == 0)
		return NULL;
	if (n - 1 > kt_cursor_left(cur)) {
		cur->err = KT_ERR_TRUNCATED;
		return NULL;
	}
	*is_null = 0;
	*len = (size_t)(n - 1);
	return kt_cursor_bytes(cur, *len);
}

void kt_cursor_skip(struct kt_cursor *cur, size_t len)
{
	if (cursor_need(cur, len))
		cur->p += len;
}
