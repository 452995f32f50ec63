/* Unit tests of src/archive/kt_s3_parse.c: SigV4 URI encoding, the XML of
 * S3's answers (elements, entities, list pages) and the AWS shared
 * credentials file. No server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kt_s3_parse.h"

static void expect_encoded(const char *in, int keep_slash, const char *want)
{
	struct kt_buf b;
	kt_buf_init(&b, 4096);
	assert_int_equal(kt_s3_uri_encode(&b, in, strlen(in), keep_slash), KT_OK);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	kt_buf_free(&b);
}

/* RFC 3986 unreserved characters stay, everything else is %XX in upper
 * case, each UTF-8 byte on its own; '/' only in key paths. */
static void test_uri_encode(void **state)
{
	(void)state;
	expect_encoded("AZaz09-._~", 0, "AZaz09-._~");
	expect_encoded("a b", 1, "a%20b");
	expect_encoded("x+y=z", 1, "x%2By%3Dz");
	expect_encoded("seg/ments/", 1, "seg/ments/");
	expect_encoded("seg/ments/", 0, "seg%2Fments%2F");
	expect_encoded("caf\xc3\xa9 \xe2\x82\xac", 1, "caf%C3%A9%20%E2%82%AC");
	expect_encoded("%20", 1, "%2520"); /* never taken as already encoded */
	expect_encoded("*'()!&$,;:@?#[]", 1, "%2A%27%28%29%21%26%24%2C%3B%3A%40%3F%23%5B%5D");
	expect_encoded("", 1, "");
	const char ctl[] = {'\x01', '\x7f', '\0'};
	expect_encoded(ctl, 1, "%01%7F");
}

/* Elements by exact name, self-closing ones, and unclosed ones. */
static void test_xml_next(void **state)
{
	(void)state;
	const char *xml = "<r><Keys>no</Keys><Key>one</Key><Key/><Key attr=\"1\">two</Key><Key>open";
	size_t len = strlen(xml), pos = 0, tlen;
	const char *t;
	assert_true(kt_s3_xml_next(xml, len, &pos, "Key", &t, &tlen));
	assert_int_equal(tlen, 3);
	assert_memory_equal(t, "one", 3);
	assert_true(kt_s3_xml_next(xml, len, &pos, "Key", &t, &tlen));
	assert_int_equal(tlen, 0);
	assert_true(kt_s3_xml_next(xml, len, &pos, "Key", &t, &tlen));
	assert_int_equal(tlen, 3);
	assert_memory_equal(t, "two", 3);
	assert_false(kt_s3_xml_next(xml, len, &pos, "Key", &t, &tlen));
	pos = 0;
	assert_false(kt_s3_xml_next(xml, len, &pos, "Missing", &t, &tlen));

	char code[8];
	kt_s3_xml_text("<Error><Code>SignatureDoesNotMatch</Code></Error>", 49, "Code", code, sizeof(code));
	assert_string_equal(code, "Signatu"); /* cut to the buffer */
	kt_s3_xml_text("<Error></Error>", 15, "Code", code, sizeof(code));
	assert_string_equal(code, "");
	kt_s3_xml_text(NULL, 0, "Code", code, sizeof(code));
	assert_string_equal(code, "");
}

static enum kt_err unescape(const char *in, struct kt_buf *b)
{
	kt_buf_reset(b);
	struct kt_diag d;
	return kt_s3_xml_unescape(b, in, strlen(in), &d);
}

/* The five named entities and numeric ones (decimal, hex, to UTF-8 of
 * every length); bad, unterminated, NUL and surrogate entities fail. */
static void test_xml_unescape(void **state)
{
	(void)state;
	struct kt_buf b;
	kt_buf_init(&b, 4096);
	assert_int_equal(unescape("a&amp;b&lt;c&gt;d&quot;e&apos;f", &b), KT_OK);
	assert_string_equal((const char *)b.data, "a&b<c>d\"e'f");
	assert_int_equal(unescape("&#65;&#x42;&#xe9;&#x20AC;&#x1F600;&#13;", &b), KT_OK);
	assert_string_equal((const char *)b.data, "AB\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\r");
	assert_int_equal(unescape("plain", &b), KT_OK);
	assert_int_equal(b.len, 5);
	assert_int_equal(unescape("", &b), KT_OK);
	assert_string_equal((const char *)b.data, "");
	assert_int_equal(unescape("&bogus;", &b), KT_ERR_FORMAT);
	assert_int_equal(unescape("&amp", &b), KT_ERR_FORMAT);
	assert_int_equal(unescape("&#0;", &b), KT_ERR_FORMAT);
	assert_int_equal(unescape("&#xD800;", &b), KT_ERR_FORMAT);
	assert_int_equal(unescape("&#x110000;", &b), KT_ERR_FORMAT);
	assert_int_equal(unescape("&#;", &b), KT_ERR_FORMAT);
	assert_int_equal(unescape("&#x;", &b), KT_ERR_FORMAT);
	assert_int_equal(unescape("&#12a;", &b), KT_ERR_FORMAT);

	/* escape, then unescape, is the identity */
	const char *raw = "<a href=\"x\">&'</a>";
	struct kt_buf e;
	kt_buf_init(&e, 4096);
	assert_int_equal(kt_s3_xml_escape(&e, raw, strlen(raw)), KT_OK);
	assert_null(memchr(e.data, '<', e.len));
	assert_null(memchr(e.data, '"', e.len));
	kt_buf_reset(&b);
	assert_int_equal(kt_s3_xml_unescape(&b, (const char *)e.data, e.len, NULL), KT_OK);
	assert_string_equal((const char *)b.data, raw);
	kt_buf_free(&e);
	kt_buf_free(&b);
}

struct seen {
	char keys[8][64];
	int64_t sizes[8];
	int n;
	int fail_at;
};

static enum kt_err on_key(void *ctx, const char *key, int64_t size)
{
	struct seen *s = ctx;
	if (s->n == s->fail_at)
		return KT_ERR_INTERRUPTED;
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	s->sizes[s->n++] = size;
	return KT_OK;
}

#define PAGE_HEAD                                                                                                      \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "                                               \
	"xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"

/* A page as AWS writes it: keys decoded, sizes, the truncation flag and
 * the (escaped) continuation token. */
static void test_parse_list(void **state)
{
	(void)state;
	const char *page =
		PAGE_HEAD "<Prefix>p/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
			  "<IsTruncated>true</IsTruncated>"
			  "<Contents><Key>p/a&amp;b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
			  "<ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>"
			  "</Contents>"
			  "<Contents><Key>p/caf&#xE9; x</Key><Size>0</Size><Owner><ID>o</ID></Owner></Contents>"
			  "<Contents><Key>p/big</Key><Size>5368709120</Size></Contents>"
			  "<NextContinuationToken>1a/b+c&amp;=</NextContinuationToken></ListBucketResult>";
	struct seen s = {.fail_at = -1};
	int truncated = 0;
	struct kt_buf token;
	kt_buf_init(&token, 4096);
	struct kt_diag d;
	assert_int_equal(kt_s3_parse_list(page, strlen(page), on_key, &s, &truncated, &token, &d), KT_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[0], "p/a&b");
	assert_int_equal(s.sizes[0], 12);
	assert_string_equal(s.keys[1], "p/caf\xc3\xa9 x");
	assert_int_equal(s.sizes[1], 0);
	assert_string_equal(s.keys[2], "p/big");
	assert_int_equal(s.sizes[2], 5368709120LL);
	assert_true(truncated);
	assert_string_equal((const char *)token.data, "1a/b+c&=");

	/* the last page; the callback's error is returned */
	const char *last = PAGE_HEAD "<IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>1</Size></Contents>"
				     "</ListBucketResult>";
	struct seen s2 = {.fail_at = -1};
	assert_int_equal(kt_s3_parse_list(last, strlen(last), on_key, &s2, &truncated, &token, &d), KT_OK);
	assert_false(truncated);
	assert_int_equal(token.len, 0);
	assert_int_equal(s2.n, 1);
	struct seen s3 = {.fail_at = 0};
	assert_int_equal(kt_s3_parse_list(last, strlen(last), on_key, &s3, &truncated, &token, &d), KT_ERR_INTERRUPTED);

	/* an empty bucket */
	const char *empty = PAGE_HEAD "<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>";
	struct seen s4 = {.fail_at = -1};
	assert_int_equal(kt_s3_parse_list(empty, strlen(empty), on_key, &s4, &truncated, &token, &d), KT_OK);
	assert_int_equal(s4.n, 0);
	kt_buf_free(&token);
}

static enum kt_err parse_list_str(const char *xml, struct kt_diag *d)
{
	struct seen s = {.fail_at = -1};
	int truncated;
	struct kt_buf token;
	kt_buf_init(&token, 4096);
	enum kt_err err = kt_s3_parse_list(xml, strlen(xml), on_key, &s, &truncated, &token, d);
	kt_buf_free(&token);
	return err;
}

/* Pages that cannot be trusted are format errors, not short listings. */
static void test_parse_list_bad(void **state)
{
	(void)state;
	struct kt_diag d;
	assert_int_equal(parse_list_str(PAGE_HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>", &d),
			 KT_ERR_FORMAT);
	assert_non_null(strstr(d.msg, "NextContinuationToken"));
	assert_int_equal(parse_list_str(PAGE_HEAD "<Contents><Size>1</Size></Contents>", &d), KT_ERR_FORMAT);
	assert_int_equal(parse_list_str(PAGE_HEAD "<Contents><Key>k</Key></Contents>", &d), KT_ERR_FORMAT);
	assert_int_equal(parse_list_str(PAGE_HEAD "<Contents><Key>k</Key><Size>-1</Size></Contents>", &d),
			 KT_ERR_FORMAT);
	assert_int_equal(parse_list_str(PAGE_HEAD "<Contents><Key>k</Key><Size>1x</Size></Contents>", &d),
			 KT_ERR_FORMAT);
	assert_int_equal(parse_list_str(PAGE_HEAD "<Contents><Key>k&#0;</Key><Size>1</Size></Contents>", &d),
			 KT_ERR_FORMAT);
	assert_int_equal(parse_list_str(PAGE_HEAD "<Contents><Key>k&nope;</Key><Size>1</Size></Contents>", &d),
			 KT_ERR_FORMAT);
}

static enum kt_err creds(const char *text, const char *profile, struct kt_s3_creds *c, struct kt_diag *d)
{
	kt_diag_clear(d);
	return kt_s3_creds_parse(text, strlen(text), profile, "CREDS", c, d);
}

/* The default and a named profile, comments, CRLF, spaces, a secret with
 * '=', '/', '+' and '#', a session token, upper-case keys, ':' as the
 * separator, nested settings skipped. */
static void test_creds_parse(void **state)
{
	(void)state;
	const char *file = "# comment\n"
			   "; another\n"
			   "[default]\n"
			   "aws_access_key_id = AKIDDEFAULT\n"
			   "aws_secret_access_key=sec/ret+with=equals#not-a-comment\n"
			   "s3 =\n"
			   "  max_concurrent_requests = 10\n"
			   "  aws_secret_access_key = NOT-THIS-ONE\n"
			   "\n"
			   "[work]\r\n"
			   "  AWS_ACCESS_KEY_ID\t=  AKIDWORK  \r\n"
			   "aws_secret_access_key: work:secret\r\n"
			   "aws_session_token = tok/en==\r\n"
			   "region = eu-west-1\r\n"
			   "[profile x]\n"
			   "aws_access_key_id = AKIDX\n"
			   "aws_secret_access_key = secx\n"
			   "[ spaced ]\n"
			   "aws_access_key_id = AKIDS\n"
			   "aws_secret_access_key = secs\n";
	struct kt_s3_creds c;
	struct kt_diag d;
	assert_int_equal(creds(file, "default", &c, &d), KT_OK);
	assert_string_equal(c.access_key, "AKIDDEFAULT");
	assert_string_equal(c.secret_key, "sec/ret+with=equals#not-a-comment");
	assert_null(c.session_token);
	kt_s3_creds_free(&c);
	assert_null(c.secret_key);

	/* an indented first key of a section is a key, not a continuation */
	assert_int_equal(creds(file, "work", &c, &d), KT_OK);
	assert_string_equal(c.access_key, "AKIDWORK");
	assert_string_equal(c.secret_key, "work:secret");
	assert_string_equal(c.session_token, "tok/en==");
	kt_s3_creds_free(&c);

	/* section names are literal, as for the AWS CLI: "[profile x]" is the
	 * config file's form, "[ spaced ]" is the profile " spaced " */
	assert_int_equal(creds(file, "x", &c, &d), KT_ERR_NOT_FOUND);
	assert_non_null(strstr(d.msg, "'x'"));
	assert_non_null(strstr(d.msg, "CREDS"));
	assert_int_equal(creds(file, "spaced", &c, &d), KT_ERR_NOT_FOUND);
	assert_int_equal(creds(file, " spaced ", &c, &d), KT_OK);
	assert_string_equal(c.access_key, "AKIDS");
	kt_s3_creds_free(&c);
	kt_s3_creds_free(NULL);
}

/* Missing profile, missing keys, an empty token, later values winning, a
 * malformed line: each named by line and key, never with a value. */
static void test_creds_errors(void **state)
{
	(void)state;
	struct kt_s3_creds c;
	struct kt_diag d;
	assert_int_equal(creds("", "default", &c, &d), KT_ERR_NOT_FOUND);
	assert_int_equal(creds("[default]\naws_access_key_id = A\n", "default", &c, &d), KT_ERR_INVALID);
	assert_non_null(strstr(d.msg, "aws_secret_access_key"));
	assert_int_equal(creds("[default]\naws_secret_access_key = TOPSECRET\n", "default", &c, &d), KT_ERR_INVALID);
	assert_null(strstr(d.msg, "TOPSECRET"));
	assert_int_equal(creds("[default]\naws_access_key_id =\naws_secret_access_key = S\n", "default", &c, &d),
			 KT_ERR_INVALID);

	assert_int_equal(creds("[default]\naws_access_key_id = A\nTOPSECRET-LINE\naws_secret_access_key = S\n",
			       "default", &c, &d),
			 KT_ERR_FORMAT);
	assert_non_null(strstr(d.msg, "line 3"));
	assert_null(strstr(d.msg, "TOPSECRET"));
	assert_int_equal(creds("[default\n", "default", &c, &d), KT_ERR_FORMAT);

	/* a later value wins; an empty token is none; no newline at the end */
	assert_int_equal(creds("[default]\naws_access_key_id = A1\naws_secret_access_key = S\n"
			       "aws_session_token =\n[other]\naws_access_key_id = B\n[default]\naws_access_key_id = A2",
			       "default", &c, &d),
			 KT_OK);
	assert_string_equal(c.access_key, "A2");
	assert_null(c.session_token);
	kt_s3_creds_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_encode),     cmocka_unit_test(test_xml_next),
		cmocka_unit_test(test_xml_unescape),   cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_parse_list_bad), cmocka_unit_test(test_creds_parse),
		cmocka_unit_test(test_creds_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
