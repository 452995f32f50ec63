#include "kt_json.h"

#include <string.h>

int kt_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n > len - i - 1)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += n + 1;
	}
	return 1;
}

enum kt_err kt_json_string(struct kt_buf *buf, const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = data;
	enum kt_err err = kt_buf_reserve(buf, len + 2);
	if (err)
		return err;
	err = kt_buf_append_u8(buf, '"');
	size_t run = 0; /* bytes copied as they are, appended in one go */
	for (size_t i = 0; i < len && !err; i++) {
		uint8_t c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		err = kt_buf_append(buf, s + run, i - run);
		run = i + 1;
		char esc[7] = {'\\', 0};
		size_t n = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if (!err)
			err = kt_buf_append(buf, esc, n);
	}
	if (!err)
		err = kt_buf_append(buf, s + run, len - run);
	if (!err)
		err = kt_buf_append_u8(buf, '"');
	return err;
}

enum kt_err kt_json_cstr(struct kt_buf *buf, const char *s)
{
	return kt_json_string(buf, s, strlen(s));
}

enum kt_err kt_base64_append(struct kt_buf *buf, const uint8_t *data, size_t len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	enum kt_err err = kt_buf_reserve(buf, (len + 2) / 3 * 4);
	if (err)
		return err;
	char *o = (char *)buf->data + buf->len;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = tbl[(v >> 6) & 63];
		*o++ = tbl[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0);
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	buf->len = (size_t)((uint8_t *)o - buf->data);
	return KT_OK;
}

enum kt_err kt_json_bytes(struct kt_buf *buf, const uint8_t *data, size_t len, int is_null)
{
	if (is_null)
		return kt_buf_append(buf, "null", 4);
	if (kt_utf8_valid(data, len))
		return kt_json_string(buf, data, len);
	enum kt_err err = kt_buf_append(buf, "{\"base64\":\"", 11);
	if (!err)
		err = kt_base64_append(buf, data, len);
	if (!err)
		err = kt_buf_append(buf, "\"}", 2);
	return err;
}
