/* Unit tests of import's line parser (src/import/kt_import_parse.c): the
 * exactness a JSON library must keep for `ktape cat | ktape import` to
 * round-trip, whichever library parses. Strings are length-aware (\u0000
 * survives), 64-bit integers are exact above 2^53, duplicate keys, invalid
 * JSON, invalid UTF-8 and invalid escapes are refused, kcat -J lines keep
 * bytes that are not UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kt_import_parse.h"

struct fixture {
	struct kt_import_parser *p;
	struct kt_import_line l;
	struct kt_diag d;
};

static int setup(void **state, enum kt_import_kind kind)
{
	static struct fixture f;
	struct kt_import_format fmt;
	kt_import_format_init(&fmt, kind);
	assert_int_equal(kt_import_parser_new(&fmt, &f.p), KT_OK);
	kt_import_line_init(&f.l);
	*state = &f;
	return 0;
}

static int setup_json(void **state)
{
	return setup(state, KT_IMPORT_JSON);
}

static int setup_kcat(void **state)
{
	return setup(state, KT_IMPORT_KCAT_JSON);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kt_import_line_free(&f->l);
	kt_import_parser_free(f->p);
	return 0;
}

/* Parses len bytes of s (which may hold NUL bytes). */
static enum kt_err parse_n(struct fixture *f, const char *s, size_t len)
{
	kt_diag_clear(&f->d);
	return kt_import_parse(f->p, s, len, &f->l, &f->d);
}

static enum kt_err parse(struct fixture *f, const char *s)
{
	return parse_n(f, s, strlen(s));
}

/* s is refused, with a message that holds want. */
static void refused(struct fixture *f, const char *s, size_t len, const char *want)
{
	enum kt_err err = parse_n(f, s, len);
	if (err != KT_ERR_INVALID || !strstr(f->d.msg, want))
		fail_msg("'%.*s': got %d '%s', want KT_ERR_INVALID with '%s'", (int)len, s, (int)err, f->d.msg, want);
}

#define REFUSED(f, lit, want) refused((f), (lit), sizeof(lit) - 1, (want))

static void bytes_equal(const uint8_t *got, size_t got_len, const char *want, size_t want_len)
{
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
}

/* Every field of a cat line, and \u0000 inside key, value and headers. */
static void test_json_fields_and_nul(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(
		parse(f, "{\"topic\":\"t\",\"partition\":2,\"offset\":7,\"timestamp\":1700000000000,"
			 "\"timestamp_type\":\"LogAppendTime\",\"key\":\"k\\u0000y\",\"value\":\"a\\u0000\\u0000b\","
			 "\"headers\":[[\"h\\u0000\",\"v\\u0000w\"],[\"n\",null]]}"),
		KT_OK);
	assert_true(f->l.has_partition && f->l.has_offset && f->l.has_timestamp);
	assert_int_equal(f->l.partition, 2);
	assert_int_equal(f->l.rec.offset, 7);
	assert_int_equal(f->l.rec.timestamp, 1700000000000);
	assert_int_equal(f->l.rec.ts_type, KT_TS_LOG_APPEND);
	assert_false(f->l.rec.key_null);
	bytes_equal(f->l.rec.key, f->l.rec.key_len, "k\0y", 3);
	bytes_equal(f->l.rec.value, f->l.rec.value_len, "a\0\0b", 4);
	assert_int_equal(f->l.rec.header_count, 2);
	bytes_equal(f->l.rec.headers[0].name, f->l.rec.headers[0].name_len, "h\0", 2);
	bytes_equal(f->l.rec.headers[0].value, f->l.rec.headers[0].value_len, "v\0w", 3);
	assert_true(f->l.rec.headers[1].value_null);

	/* null and empty differ; base64 gives any bytes */
	assert_int_equal(parse(f, "{\"key\":null,\"value\":\"\"}"), KT_OK);
	assert_true(f->l.rec.key_null);
	assert_false(f->l.rec.value_null);
	assert_int_equal(f->l.rec.value_len, 0);
	assert_int_equal(parse(f, "{\"value\":{\"base64\":\"AP+A\"}}"), KT_OK);
	bytes_equal(f->l.rec.value, f->l.rec.value_len, "\x00\xff\x80", 3);
	REFUSED(f, "{\"value\":{\"base64\":\"AP+\"}}", "value: bad base64");
	/* an escaped surrogate pair is one code point */
	assert_int_equal(parse(f, "{\"value\":\"\\uD83D\\uDE00\"}"), KT_OK);
	bytes_equal(f->l.rec.value, f->l.rec.value_len, "\xf0\x9f\x98\x80", 4);
}

/* Offsets and timestamps are exact int64s, never doubles. */
static void test_json_int64(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(parse(f, "{\"offset\":9007199254740993,\"timestamp\":9223372036854775807}"), KT_OK);
	assert_int_equal(f->l.rec.offset, INT64_C(9007199254740993));
	assert_int_equal(f->l.rec.timestamp, INT64_MAX);
	assert_int_equal(parse(f, "{\"offset\":9223372036854775806}"), KT_OK);
	assert_int_equal(f->l.rec.offset, INT64_C(9223372036854775806));
	assert_int_equal(parse(f, "{\"timestamp\":-1,\"timestamp_type\":\"NoTimestampType\"}"), KT_OK);
	assert_int_equal(f->l.rec.timestamp, -1);
	assert_int_equal(f->l.rec.ts_type, KT_TS_NONE);

	REFUSED(f, "{\"offset\":9223372036854775808}", "not JSON");
	REFUSED(f, "{\"offset\":-1}", "offset is not an integer >= 0");
	REFUSED(f, "{\"offset\":1.0}", "offset is not an integer >= 0");
	REFUSED(f, "{\"offset\":1e3}", "offset is not an integer >= 0");
	REFUSED(f, "{\"offset\":\"1\"}", "offset is not an integer >= 0");
	REFUSED(f, "{\"timestamp\":-2}", "timestamp is not an integer >= -1");
	REFUSED(f, "{\"partition\":2147483648}", "partition 2147483648 is too large");
	REFUSED(f, "{\"timestamp\":-1,\"timestamp_type\":\"CreateTime\"}", "timestamp -1 with a timestamp type");
}

/* A key twice is refused, even when both values agree. */
static void test_json_duplicates(void **state)
{
	struct fixture *f = *state;
	REFUSED(f, "{\"offset\":1,\"offset\":1}", "not JSON: duplicate object key");
	REFUSED(f, "{\"value\":\"a\",\"key\":null,\"value\":\"b\"}", "not JSON: duplicate object key");
	REFUSED(f, "{\"value\":{\"base64\":\"AA==\",\"base64\":\"AA==\"}}", "not JSON: duplicate object key");
	REFUSED(f, "{\"offset\":1,\"color\":2}", "unknown field \"color\"");
}

/* Invalid JSON: the message starts "not JSON" (the caller adds the line). */
static void test_json_invalid(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",
		"{",
		"{\"offset\":1",
		"{\"offset\":1} x",
		"{\"offset\":1}{\"offset\":2}",
		"{\"offset\":1,}",
		"{\"offset\":01}",
		"{\"offset\":-}",
		"{'offset':1}",
		"{\"headers\":[[\"a\",\"b\"],]}",
		"{\"value\":\"\t\"}",		    /* a raw control character */
		"{\"value\":\"\\x\"}",		    /* an escape JSON has not */
		"{\"value\":\"\\u12G4\"}",	    /* not hex */
		"{\"value\":\"\\uD800\"}",	    /* a lone high surrogate */
		"{\"value\":\"\\uDC00\"}",	    /* a lone low surrogate */
		"{\"value\":\"\\uD800\\u0041\"}",   /* a high one without its low one */
		"{\"value\":\"\xc0\x80\"}",	    /* overlong NUL */
		"{\"value\":\"\xed\xa0\x80\"}",	    /* a surrogate in UTF-8 */
		"{\"value\":\"\xf4\x90\x80\x80\"}", /* beyond U+10FFFF */
		"{\"value\":\"\xf5\x80\x80\x80\"}",
		"{\"value\":\"\xe2\x82\"}", /* cut short */
		"{\"value\":\"\x80\"}",	    /* a continuation byte alone */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(f, bad[i], strlen(bad[i]), "not JSON");
	/* a NUL byte in the line itself is not JSON either */
	REFUSED(f, "{\"value\":\"a\0b\"}", "not JSON");
	REFUSED(f, "[1]", "not a JSON object");
	REFUSED(f, "\"x\"", "not JSON"); /* a scalar is not even a document */
	/* valid multi-byte UTF-8 passes as it is */
	assert_int_equal(parse(f, "{\"value\":\"\xe2\x82\xac\xf4\x8f\xbf\xbf\"}"), KT_OK);
	bytes_equal(f->l.rec.value, f->l.rec.value_len, "\xe2\x82\xac\xf4\x8f\xbf\xbf", 7);
}

/* kcat -J writes a key's or payload's bytes into its strings as they are:
 * bytes that are not UTF-8, and those that spell the code points the parser
 * maps them to, come back exact; escapes and int64s as in cat's lines. */
static void test_kcat_bytes(void **state)
{
	struct fixture *f = *state;
	static const char line[] =
		"{\"topic\":\"t\",\"partition\":1,\"offset\":9007199254740993,\"tstype\":\"create\","
		"\"ts\":1700000000001,\"broker\":0,\"headers\":[\"h\",\"\xff\",\"n\",null],"
		"\"key\":\"\xc0\x80\\u0000\",\"payload\":\"\xf4\x8f\xbe\x80\xed\xa0\x80\xe2\x82\xac\x80\"}";
	assert_int_equal(parse_n(f, line, sizeof(line) - 1), KT_OK);
	assert_int_equal(f->l.partition, 1);
	assert_int_equal(f->l.rec.offset, INT64_C(9007199254740993));
	assert_int_equal(f->l.rec.timestamp, 1700000000001);
	assert_int_equal(f->l.rec.ts_type, KT_TS_CREATE);
	bytes_equal(f->l.rec.key, f->l.rec.key_len, "\xc0\x80\0", 3);
	bytes_equal(f->l.rec.value, f->l.rec.value_len, "\xf4\x8f\xbe\x80\xed\xa0\x80\xe2\x82\xac\x80", 11);
	assert_int_equal(f->l.rec.header_count, 2);
	bytes_equal(f->l.rec.headers[0].value, f->l.rec.headers[0].value_len, "\xff", 1);
	assert_true(f->l.rec.headers[1].value_null);

	assert_int_equal(parse(f, "{\"tstype\":\"none\",\"ts\":-1,\"key\":null,\"payload\":null}"), KT_OK);
	assert_int_equal(f->l.rec.ts_type, KT_TS_NONE);
	assert_true(f->l.rec.key_null && f->l.rec.value_null);

	REFUSED(f, "{\"offset\":1,\"offset\":2}", "not JSON: duplicate object key");
	REFUSED(f, "{\"payload\":\"\\uD800\"}", "not JSON");
	REFUSED(f, "{\"payload\":\"a\"} x", "not JSON");
	REFUSED(f, "{\"ts\":9223372036854775808}", "not JSON");
	REFUSED(f, "{\"payload\":{\"base64\":\"AA==\"}}", "payload is not null or a string");
	REFUSED(f, "{\"value\":\"a\"}", "unknown field \"value\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_fields_and_nul, setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_json_int64, setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_json_duplicates, setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_json_invalid, setup_json, teardown),
		cmocka_unit_test_setup_teardown(test_kcat_bytes, setup_kcat, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
