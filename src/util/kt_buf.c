#include "kt_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kt_buf_init(struct kt_buf *buf, size_t max)
{
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
	buf->max = max;
}

void kt_buf_free(struct kt_buf *buf)
{
	if (!buf)
		return;
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

void kt_buf_reset(struct kt_buf *buf)
{
	buf->len = 0;
}

enum kt_err kt_buf_reserve(struct kt_buf *buf, size_t extra)
{
	if (extra > buf->max || buf->len > buf->max - extra)
		return KT_ERR_LIMIT;
	size_t need = buf->len + extra;
	if (need <= buf->cap)
		return KT_OK;
	size_t cap = buf->cap ? buf->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > buf->max)
		cap = buf->max;
	uint8_t *p = realloc(buf->data, cap);
	if (!p)
		return KT_ERR_NOMEM;
	buf->data = p;
	buf->cap = cap;
	return KT_OK;
}

enum kt_err kt_buf_append(struct kt_buf *buf, const void *data, size_t len)
{
	enum kt_err err = kt_buf_reserve(buf, len);
	if (err)
		return err;
	if (len)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	return KT_OK;
}

enum kt_err kt_buf_append_u8(struct kt_buf *buf, uint8_t v)
{
	return kt_buf_append(buf, &v, 1);
}

enum kt_err kt_buf_append_u16le(struct kt_buf *buf, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	return kt_buf_append(buf, b, 2);
}

enum kt_err kt_buf_append_u32le(struct kt_buf *buf, uint32_t v)
{
	uint8_t b[4];
	kt_put_u32le(b, v);
	return kt_buf_append(buf, b, 4);
}

enum kt_err kt_buf_append_u64le(struct kt_buf *buf, uint64_t v)
{
	uint8_t b[8];
	kt_put_u32le(b, (uint32_t)v);
	kt_put_u32le(b + 4, (uint32_t)(v >> 32));
	return kt_buf_append(buf, b, 8);
}

size_t kt_uvarint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

enum kt_err kt_buf_append_uvarint(struct kt_buf *buf, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;
	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	return kt_buf_append(buf, b, n);
}

enum kt_err kt_buf_append_nbytes(struct kt_buf *buf, const void *data, size_t len, int is_null)
{
	if (is_null)
		return kt_buf_append_uvarint(buf, 0);
	enum kt_err err = kt_buf_append_uvarint(buf, (uint64_t)len + 1);
	if (err)
		return err;
	return kt_buf_append(buf, data, len);
}

enum kt_err kt_buf_printf(struct kt_buf *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return KT_ERR_INVALID;
	/* +1 for vsnprintf's NUL, which is not counted in len */
	enum kt_err err = kt_buf_reserve(buf, (size_t)n + 1);
	if (err)
		return err;
	va_start(ap, fmt);
	vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf->len += (size_t)n;
	return KT_OK;
}
