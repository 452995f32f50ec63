/* Unit tests of the erasure-list key set (src/util/kt_keyset.c): membership
 * after growth, binary and empty keys, and the key file's layout (base64:,
 * empty lines, CRLF, bad base64 with its line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_keyset.h"

static int has(const struct kt_keyset *s, const char *k)
{
	return kt_keyset_has(s, (const uint8_t *)k, strlen(k));
}

/* 200000 keys through many table doublings and arena blocks: every one is
 * found, none of another 200000 is, and duplicates count once. */
static void test_many(void **state)
{
	(void)state;
	struct kt_keyset *s;
	assert_int_equal(kt_keyset_new(&s), KT_OK);
	char k[32];
	for (int i = 0; i < 200000; i++) {
		snprintf(k, sizeof(k), "user-%d", i);
		assert_int_equal(kt_keyset_add(s, (const uint8_t *)k, strlen(k)), KT_OK);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof(k), "user-%d", i);
		assert_int_equal(kt_keyset_add(s, (const uint8_t *)k, strlen(k)), KT_OK);
	}
	assert_int_equal(kt_keyset_count(s), 200000);
	for (int i = 0; i < 200000; i++) {
		snprintf(k, sizeof(k), "user-%d", i);
		assert_true(has(s, k));
		snprintf(k, sizeof(k), "user-%d", 200000 + i);
		assert_false(has(s, k));
	}
	assert_false(has(s, ""));
	kt_keyset_free(s);
}

static void test_binary_and_empty(void **state)
{
	(void)state;
	struct kt_keyset *s;
	assert_int_equal(kt_keyset_new(&s), KT_OK);
	const uint8_t bin[] = {0, 0xff, 0, '\n'};
	assert_false(kt_keyset_has(s, bin, sizeof(bin)));
	assert_int_equal(kt_keyset_add(s, bin, sizeof(bin)), KT_OK);
	assert_true(kt_keyset_has(s, bin, sizeof(bin)));
	assert_false(kt_keyset_has(s, bin, 3)); /* a prefix is another key */
	assert_false(kt_keyset_has(s, NULL, 0));
	assert_int_equal(kt_keyset_add(s, NULL, 0), KT_OK);
	assert_true(kt_keyset_has(s, NULL, 0));
	assert_int_equal(kt_keyset_count(s), 2);
	kt_keyset_free(s);
	kt_keyset_free(NULL);
}

static char *write_tmp(const char *text, size_t len)
{
	char *path = strdup("/tmp/kt_keyset_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

struct digest {
	size_t len;
	int calls;
};

static void digest_cb(void *ctx, const uint8_t *data, size_t len)
{
	struct digest *d = ctx;
	(void)data;
	d->len = len;
	d->calls++;
}

static void test_file(void **state)
{
	(void)state;
	/* "AP8A" is 00 ff 00; "YmFzZTY0Omxp" is "base64:li" */
	const char text[] = "alice\r\nbob\n\n\nbase64:AP8A\nbase64:\nbase64:YmFzZTY0Omxp\nbase64:Y2Fyb2w=\n"
			    "base64:xyz\n  spaced \nlast";
	char *path = write_tmp(text, sizeof(text) - 1);
	struct kt_keyset *s = NULL;
	struct digest d = {0, 0};
	struct kt_diag diag;
	kt_diag_clear(&diag);
	/* "xyz" is 3 characters whose last has bits left over that are not 0 */
	assert_int_equal(kt_keyset_load_file(path, &s, digest_cb, &d, &diag), KT_ERR_INVALID);
	assert_non_null(strstr(diag.msg, "line 9"));
	assert_null(s);
	unlink(path);
	free(path);

	const char good[] = "alice\r\nbob\n\n\nbase64:AP8A\nbase64:\nbase64:YmFzZTY0Omxp\nbase64:Y2Fyb2w=\n"
			    "base64:YWI\n  spaced \nlast";
	path = write_tmp(good, sizeof(good) - 1);
	d = (struct digest){0, 0};
	assert_int_equal(kt_keyset_load_file(path, &s, digest_cb, &d, &diag), KT_OK);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.len, sizeof(good) - 1);
	assert_true(has(s, "alice")); /* the \r of a CRLF line is not the key's */
	assert_true(has(s, "bob"));
	assert_true(kt_keyset_has(s, (const uint8_t *)"\0\xff\0", 3));
	assert_true(has(s, ""));	  /* only from "base64:", not from the empty lines */
	assert_true(has(s, "base64:li")); /* a literal "base64:" key, encoded */
	assert_true(has(s, "carol"));	  /* padding optional */
	assert_true(has(s, "ab"));
	assert_true(has(s, "  spaced ")); /* spaces are the key's */
	assert_true(has(s, "last"));	  /* no newline at the end */
	assert_false(has(s, "spaced"));
	assert_false(has(s, "base64:AP8A"));
	assert_int_equal(kt_keyset_count(s), 9);
	kt_keyset_free(s);
	unlink(path);
	free(path);

	/* an empty file, or only empty lines: no key at all */
	path = write_tmp("\n\n", 2);
	assert_int_equal(kt_keyset_load_file(path, &s, NULL, NULL, &diag), KT_OK);
	assert_int_equal(kt_keyset_count(s), 0);
	assert_false(has(s, ""));
	kt_keyset_free(s);
	unlink(path);
	free(path);

	assert_int_not_equal(kt_keyset_load_file("/nonexistent/keys", &s, NULL, NULL, &diag), KT_OK);
	assert_non_null(strstr(diag.msg, "/nonexistent/keys"));
}

static void test_bad_base64(void **state)
{
	(void)state;
	const char *bad[] = {"base64:a\n", "base64:ab*c\n", "base64:====x\n", "base64:YQ=x\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *path = write_tmp(bad[i], strlen(bad[i]));
		struct kt_keyset *s = NULL;
		struct kt_diag diag;
		kt_diag_clear(&diag);
		assert_int_equal(kt_keyset_load_file(path, &s, NULL, NULL, &diag), KT_ERR_INVALID);
		assert_non_null(strstr(diag.msg, "line 1"));
		unlink(path);
		free(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_binary_and_empty),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_bad_base64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
