/* Unit tests of src/util: varints, cursor, CRC-32C, parsers, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kt_buf.h"
#include "kt_crc32c.h"
#include "kt_cursor.h"
#include "kt_json.h"
#include "kt_parse.h"

/* uvarints round-trip at every byte-length boundary and use minimal bytes. */
static void test_uvarint_roundtrip(void **state)
{
	(void)state;
	const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, (uint64_t)1 << 56, UINT64_MAX};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct kt_buf b;
		kt_buf_init(&b, 64);
		assert_int_equal(kt_buf_append_uvarint(&b, vals[i]), KT_OK);
		assert_int_equal(b.len, kt_uvarint_size(vals[i]));
		struct kt_cursor c;
		kt_cursor_init(&c, b.data, b.len);
		assert_true(kt_cursor_uvarint(&c) == vals[i]);
		assert_int_equal(c.err, KT_OK);
		assert_int_equal(kt_cursor_left(&c), 0);
		kt_buf_free(&b);
	}
}

/* An 11-byte or overflowing varint is a format error, a cut one truncated. */
static void test_uvarint_malformed(void **state)
{
	(void)state;
	const uint8_t overlong[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	struct kt_cursor c;
	kt_cursor_init(&c, overlong, sizeof(overlong));
	kt_cursor_uvarint(&c);
	assert_int_equal(c.err, KT_ERR_FORMAT);
	const uint8_t overflow[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	kt_cursor_init(&c, overflow, sizeof(overflow));
	kt_cursor_uvarint(&c);
	assert_int_equal(c.err, KT_ERR_FORMAT);
	const uint8_t cut[2] = {0x80, 0x80};
	kt_cursor_init(&c, cut, sizeof(cut));
	kt_cursor_uvarint(&c);
	assert_int_equal(c.err, KT_ERR_TRUNCATED);
}

/* Cursor errors are sticky: after one failure every read yields zero. */
static void test_cursor_sticky(void **state)
{
	(void)state;
	const uint8_t data[3] = {1, 2, 3};
	struct kt_cursor c;
	kt_cursor_init(&c, data, sizeof(data));
	assert_int_equal(kt_cursor_u32le(&c), 0);
	assert_int_equal(c.err, KT_ERR_TRUNCATED);
	assert_int_equal(kt_cursor_u8(&c), 0);
	assert_null(kt_cursor_bytes(&c, 1));
	size_t len;
	int is_null;
	/* a length that claims more than is left */
	const uint8_t nb[2] = {0x10, 'x'};
	kt_cursor_init(&c, nb, sizeof(nb));
	assert_null(kt_cursor_nbytes(&c, &len, &is_null));
	assert_int_equal(c.err, KT_ERR_TRUNCATED);
}

/* Buffers refuse to grow past their cap. */
static void test_buf_cap(void **state)
{
	(void)state;
	struct kt_buf b;
	kt_buf_init(&b, 10);
	assert_int_equal(kt_buf_append(&b, "0123456789", 10), KT_OK);
	assert_int_equal(kt_buf_append(&b, "x", 1), KT_ERR_LIMIT);
	assert_int_equal(b.len, 10);
	kt_buf_free(&b);
}

/* CRC-32C matches the published check value and hardware equals software. */
static void test_crc32c(void **state)
{
	(void)state;
	assert_int_equal(kt_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(kt_crc32c_sw(0, "123456789", 9), 0xE3069283);
	uint8_t buf[1000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	for (size_t n = 0; n < sizeof(buf); n += 37)
		assert_int_equal(kt_crc32c(0, buf, n), kt_crc32c_sw(0, buf, n));
	/* continuation equals one pass */
	assert_int_equal(kt_crc32c(kt_crc32c(0, buf, 100), buf + 100, 900), kt_crc32c(0, buf, 1000));
}

/* ISO 8601, epoch and relative times parse to the right milliseconds. */
static void test_parse_time(void **state)
{
	(void)state;
	int64_t ms;
	const int64_t now = 1763805600000; /* 2025-11-22T10:00:00Z */
	assert_int_equal(kt_parse_time("2025-11-22T10:00:00Z", now, &ms, NULL), KT_OK);
	assert_true(ms == 1763805600000);
	assert_int_equal(kt_parse_time("2025-11-22T19:00:00+09:00", now, &ms, NULL), KT_OK);
	assert_true(ms == 1763805600000);
	assert_int_equal(kt_parse_time("2025-11-22T10:00:00.250Z", now, &ms, NULL), KT_OK);
	assert_true(ms == 1763805600250);
	assert_int_equal(kt_parse_time("2025-11-22", now, &ms, NULL), KT_OK);
	assert_true(ms == 1763769600000);
	assert_int_equal(kt_parse_time("@1763805600000", now, &ms, NULL), KT_OK);
	assert_true(ms == 1763805600000);
	assert_int_equal(kt_parse_time("-24h", now, &ms, NULL), KT_OK);
	assert_true(ms == now - 86400000);
	assert_int_equal(kt_parse_time("-30m", now, &ms, NULL), KT_OK);
	assert_true(ms == now - 1800000);
	assert_int_equal(kt_parse_time("-7d", now, &ms, NULL), KT_OK);
	assert_true(ms == now - 7 * 86400000LL);
	assert_int_equal(kt_parse_time("1970-01-01T00:00:00Z", now, &ms, NULL), KT_OK);
	assert_true(ms == 0);
}

/* Bad times are refused with a message that names the value. */
static void test_parse_time_bad(void **state)
{
	(void)state;
	int64_t ms;
	struct kt_diag d;
	const char *bad[] = {"",    "yesterday", "2025-13-01", "2025-02-30",	      "2025-11-22T25:00Z",
			     "-24", "-5x",	 "@abc",       "2025-11-22T10:00:00", "2025-11-22T10:00:00Zjunk"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kt_diag_clear(&d);
		assert_int_equal(kt_parse_time(bad[i], 0, &ms, &d), KT_ERR_INVALID);
		if (bad[i][0])
			assert_non_null(strstr(d.msg, bad[i]));
	}
	kt_diag_clear(&d);
	kt_parse_time("2025-11-22T10:00:00", 0, &ms, &d);
	assert_non_null(strstr(d.msg, "zone"));
}

/* Formatting a time gives the ISO 8601 UTC form parse_time reads back. */
static void test_format_time(void **state)
{
	(void)state;
	char buf[KT_TIME_STR_MAX];
	assert_string_equal(kt_parse_format_time(1763805600250, buf), "2025-11-22T10:00:00.250Z");
	assert_string_equal(kt_parse_format_time(0, buf), "1970-01-01T00:00:00.000Z");
	assert_string_equal(kt_parse_format_time(-1, buf), "1969-12-31T23:59:59.999Z");
	int64_t ms;
	assert_int_equal(kt_parse_time("2024-02-29T23:59:59.999Z", 0, &ms, NULL), KT_OK);
	assert_string_equal(kt_parse_format_time(ms, buf), "2024-02-29T23:59:59.999Z");
}

/* Numbers, sizes and durations are strict. */
static void test_parse_numbers(void **state)
{
	(void)state;
	int64_t v;
	uint64_t u;
	assert_int_equal(kt_parse_i64("42", 0, 100, &v, NULL), KT_OK);
	assert_true(v == 42);
	assert_int_equal(kt_parse_i64("42x", 0, 100, &v, NULL), KT_ERR_INVALID);
	assert_int_equal(kt_parse_i64("101", 0, 100, &v, NULL), KT_ERR_INVALID);
	assert_int_equal(kt_parse_i64(" 1", 0, 100, &v, NULL), KT_ERR_INVALID);
	assert_int_equal(kt_parse_size("10M", &u, NULL), KT_OK);
	assert_true(u == 10 * 1024 * 1024);
	assert_int_equal(kt_parse_size("512", &u, NULL), KT_OK);
	assert_true(u == 512);
	assert_int_equal(kt_parse_size("1GB", &u, NULL), KT_ERR_INVALID);
	assert_int_equal(kt_parse_size("-1", &u, NULL), KT_ERR_INVALID);
	assert_int_equal(kt_parse_duration_ms("30s", &v, NULL), KT_OK);
	assert_true(v == 30000);
	assert_int_equal(kt_parse_duration_ms("250ms", &v, NULL), KT_OK);
	assert_true(v == 250);
	assert_int_equal(kt_parse_duration_ms("5 m", &v, NULL), KT_ERR_INVALID);
}

/* JSON: valid UTF-8 is a string, anything else base64, null is null. */
static void test_json_bytes(void **state)
{
	(void)state;
	struct kt_buf b;
	kt_buf_init(&b, 1024);
	assert_int_equal(kt_json_bytes(&b, (const uint8_t *)"a\"b\\\n\x01", 6, 0), KT_OK);
	assert_int_equal(kt_json_bytes(&b, NULL, 0, 1), KT_OK);
	assert_int_equal(kt_json_bytes(&b, (const uint8_t *)"\xff\x00", 2, 0), KT_OK);
	assert_int_equal(kt_json_bytes(&b, (const uint8_t *)"", 0, 0), KT_OK);
	assert_int_equal(kt_buf_append_u8(&b, 0), KT_OK);
	assert_string_equal((char *)b.data, "\"a\\\"b\\\\\\n\\u0001\"null{\"base64\":\"/wA=\"}\"\"");
	kt_buf_free(&b);
	/* overlong, surrogate and out-of-range forms are not UTF-8 */
	assert_false(kt_utf8_valid((const uint8_t *)"\xc0\xaf", 2));
	assert_false(kt_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));
	assert_false(kt_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
	assert_true(kt_utf8_valid((const uint8_t *)"\xf0\x9f\x93\xa6", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uvarint_roundtrip),
		cmocka_unit_test(test_uvarint_malformed),
		cmocka_unit_test(test_cursor_sticky),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_time_bad),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_json_bytes),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
