/* it-s3_client: src/archive/kt_s3.c against a real S3 API server, the
 * S3Proxy that tools/test starts with tools/s3-local (AWS_ENDPOINT_URL,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION from
 * `tools/s3-local env`; bucket "ktape"). Fails, never skips, without
 * them. Every test works under its own key prefix, so reruns and other
 * users of the bucket do not meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "kt_s3.h"
#include "kt_time.h"

#define BUCKET "ktape"

static char run_prefix[128];

static int64_t now_ms(void)
{
	return kt_time_mono_ns() / 1000000;
}

/* A client for this run's prefix + sub (which may be ""). */
static struct kt_s3 *open_client(const char *sub, int list_page, int64_t timeout_ms)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%s/%s", run_prefix, sub);
	struct kt_s3_config cfg = {
		.bucket = BUCKET, .prefix = prefix, .path_style = -1, .timeout_ms = timeout_ms, .list_page = list_page};
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_s3_open(&cfg, &s3, &d);
	if (err)
		fail_msg("kt_s3_open: %s: %s", kt_err_name(err), d.msg);
	return s3;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

#define assert_ok(call)                                                                                                \
	do {                                                                                                           \
		struct kt_diag d_;                                                                                     \
		kt_diag_clear(&d_);                                                                                    \
		enum kt_err e_ = (call);                                                                               \
		if (e_ != KT_OK)                                                                                       \
			fail_msg("%s: %s: %s", #call, kt_err_name(e_), d_.msg);                                        \
	} while (0)

/* put, whole get, head, ranged gets (only the range is fetched), the
 * ranges that run past the end, and an empty object. */
static void test_put_get_range_head(void **state)
{
	(void)state;
	struct kt_s3 *s3 = open_client("basic/", 0, 10000);
	struct kt_diag d;
	uint8_t data[1000];
	fill(data, sizeof(data), 1);
	assert_int_equal(kt_s3_put(s3, "obj", data, sizeof(data), 0, &d), KT_OK);

	uint64_t size = 0;
	assert_int_equal(kt_s3_head(s3, "obj", &size, &d), KT_OK);
	assert_int_equal(size, sizeof(data));

	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	assert_int_equal(kt_s3_get(s3, "obj", 0, 0, &b, &d), KT_OK);
	assert_int_equal(b.len, sizeof(data));
	assert_memory_equal(b.data, data, sizeof(data));

	/* a window: exactly its bytes come over the wire, appended to b */
	struct kt_s3_stats before, after;
	kt_s3_stats(s3, &before);
	assert_int_equal(kt_s3_get(s3, "obj", 100, 50, &b, &d), KT_OK);
	kt_s3_stats(s3, &after);
	assert_int_equal(b.len, sizeof(data) + 50);
	assert_memory_equal(b.data + sizeof(data), data + 100, 50);
	assert_int_equal(after.bytes_received - before.bytes_received, 50);
	assert_int_equal(after.requests - before.requests, 1);

	/* from an offset to the end */
	kt_buf_reset(&b);
	assert_int_equal(kt_s3_get(s3, "obj", 990, 0, &b, &d), KT_OK);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, data + 990, 10);

	/* past the end, and running over it: truncated, b as before */
	kt_buf_reset(&b);
	assert_int_equal(kt_s3_get(s3, "obj", 2000, 10, &b, &d), KT_ERR_TRUNCATED);
	assert_int_equal(kt_s3_get(s3, "obj", 990, 20, &b, &d), KT_ERR_TRUNCATED);
	assert_non_null(strstr(d.msg, "got 10"));
	assert_int_equal(b.len, 0);

	/* a cap on the buffer is a limit, not a partial read */
	struct kt_buf small;
	kt_buf_init(&small, 100);
	assert_int_equal(kt_s3_get(s3, "obj", 0, 0, &small, &d), KT_ERR_LIMIT);
	assert_int_equal(small.len, 0);
	kt_buf_free(&small);

	/* an empty object */
	assert_int_equal(kt_s3_put(s3, "empty", NULL, 0, 0, &d), KT_OK);
	assert_int_equal(kt_s3_head(s3, "empty", &size, &d), KT_OK);
	assert_int_equal(size, 0);
	assert_int_equal(kt_s3_get(s3, "empty", 0, 0, &b, &d), KT_OK);
	assert_int_equal(b.len, 0);

	/* overwrite */
	assert_int_equal(kt_s3_put(s3, "obj", "new", 3, 0, &d), KT_OK);
	assert_int_equal(kt_s3_get(s3, "obj", 0, 0, &b, &d), KT_OK);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "new", 3);
	kt_buf_free(&b);
	kt_s3_close(s3);
}

/* A missing key is KT_ERR_NOT_FOUND naming bucket and key; delete removes
 * and is idempotent. */
static void test_missing_and_delete(void **state)
{
	(void)state;
	struct kt_s3 *s3 = open_client("delete/", 0, 10000);
	struct kt_diag d;
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	uint64_t size;
	assert_int_equal(kt_s3_get(s3, "nothing-here", 0, 0, &b, &d), KT_ERR_NOT_FOUND);
	assert_non_null(strstr(d.msg, "no such key"));
	assert_non_null(strstr(d.msg, "nothing-here"));
	assert_non_null(strstr(d.msg, "'" BUCKET "'"));
	assert_int_equal(kt_s3_head(s3, "nothing-here", &size, &d), KT_ERR_NOT_FOUND);
	assert_non_null(strstr(d.msg, "nothing-here"));

	assert_int_equal(kt_s3_put(s3, "doomed", "x", 1, 0, &d), KT_OK);
	assert_int_equal(kt_s3_head(s3, "doomed", &size, &d), KT_OK);
	assert_int_equal(kt_s3_delete(s3, "doomed", &d), KT_OK);
	assert_int_equal(kt_s3_head(s3, "doomed", &size, &d), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_s3_get(s3, "doomed", 0, 0, &b, &d), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_s3_delete(s3, "doomed", &d), KT_OK);
	assert_int_equal(kt_s3_delete(s3, "never-was", &d), KT_OK);
	kt_buf_free(&b);
	kt_s3_close(s3);
}

struct listed {
	char keys[64][128];
	int64_t sizes[64];
	int n;
	int stop_at; /* -1: never */
};

static enum kt_err collect(void *ctx, const char *key, int64_t size)
{
	struct listed *l = ctx;
	if (l->n == l->stop_at)
		return KT_ERR_INTERRUPTED;
	if (l->n >= 64)
		return KT_ERR_LIMIT;
	snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
	l->sizes[l->n++] = size;
	return KT_OK;
}

/* Keys SigV4 must encode and S3 must escape in XML: they round-trip
 * through put, get and list unchanged. */
static void test_odd_keys(void **state)
{
	(void)state;
	static const char *const keys[] = {
		"a b",		"tilde~x",	  "plus+x",	     "eq=x",	  "caf\xc3\xa9/\xe2\x82\xac",
		"amp&lt<gt>",	"quote\"'apos",	  "percent%20x",     "dot.x/..y", "semi;colon",
		"star*(paren)", "hash#question?", "comma,colon:at@",
	};
	const int n = (int)(sizeof(keys) / sizeof(keys[0]));
	struct kt_s3 *s3 = open_client("odd/", 0, 10000);
	struct kt_diag d;
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	for (int i = 0; i < n; i++) {
		if (kt_s3_put(s3, keys[i], keys[i], strlen(keys[i]), 0, &d) != KT_OK)
			fail_msg("put '%s': %s", keys[i], d.msg);
		kt_buf_reset(&b);
		if (kt_s3_get(s3, keys[i], 0, 0, &b, &d) != KT_OK)
			fail_msg("get '%s': %s", keys[i], d.msg);
		assert_int_equal(b.len, strlen(keys[i]));
		assert_memory_equal(b.data, keys[i], b.len);
	}
	struct listed l = {.stop_at = -1};
	assert_ok(kt_s3_list(s3, "", collect, &l, &d_));
	assert_int_equal(l.n, n);
	for (int i = 0; i < n; i++) {
		int seen = 0;
		for (int j = 0; j < l.n; j++)
			seen += strcmp(l.keys[j], keys[i]) == 0 && l.sizes[j] == (int64_t)strlen(keys[i]);
		if (seen != 1)
			fail_msg("key '%s' listed %d times", keys[i], seen);
	}
	kt_buf_free(&b);
	kt_s3_close(s3);
}

/* ListObjectsV2 across pages (max-keys 7 for 25 keys: 4 pages), in order,
 * limited to a prefix; a callback's error stops it. */
static void test_list_continuation(void **state)
{
	(void)state;
	struct kt_s3 *s3 = open_client("list/", 7, 10000);
	struct kt_diag d;
	char key[64];
	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "p/k%02d", i);
		assert_int_equal(kt_s3_put(s3, key, key, (size_t)i, 0, &d), KT_OK);
	}
	assert_int_equal(kt_s3_put(s3, "q/other", "x", 1, 0, &d), KT_OK);

	struct kt_s3_stats before, after;
	kt_s3_stats(s3, &before);
	struct listed l = {.stop_at = -1};
	assert_ok(kt_s3_list(s3, "p/", collect, &l, &d_));
	kt_s3_stats(s3, &after);
	assert_int_equal(l.n, 25);
	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "p/k%02d", i);
		assert_string_equal(l.keys[i], key);
		assert_int_equal(l.sizes[i], i);
	}
	assert_int_equal(after.requests - before.requests, 4);

	/* the whole prefix: 26 */
	struct listed all = {.stop_at = -1};
	assert_ok(kt_s3_list(s3, NULL, collect, &all, &d_));
	assert_int_equal(all.n, 26);
	assert_string_equal(all.keys[25], "q/other");

	/* nothing under a prefix: no calls, no error */
	struct listed none = {.stop_at = -1};
	assert_ok(kt_s3_list(s3, "zzz", collect, &none, &d_));
	assert_int_equal(none.n, 0);

	/* stopped by the callback in the second page */
	struct listed stopped = {.stop_at = 9};
	assert_int_equal(kt_s3_list(s3, "p/", collect, &stopped, &d), KT_ERR_INTERRUPTED);
	assert_int_equal(stopped.n, 9);
	kt_s3_close(s3);
}

/* If-None-Match: * on a PUT. S3 answers 412 for an existing key, which
 * kt_s3 maps to KT_ERR_EXISTS; S3Proxy 2.6.0 ignores the header and
 * overwrites (docs/HACKING.md, tools/s3-local help). This pins down what
 * the local server does, so that a change of S3Proxy shows here. */
static void test_conditional_put(void **state)
{
	(void)state;
	struct kt_s3 *s3 = open_client("cond/", 0, 10000);
	struct kt_diag d;
	assert_int_equal(kt_s3_put(s3, "lock", "first", 5, KT_S3_IF_NONE_MATCH, &d), KT_OK);
	enum kt_err err = kt_s3_put(s3, "lock", "second", 6, KT_S3_IF_NONE_MATCH, &d);
	struct kt_buf b;
	kt_buf_init(&b, 1024);
	assert_int_equal(kt_s3_get(s3, "lock", 0, 0, &b, &d), KT_OK);
	if (err == KT_ERR_EXISTS) {
		fail_msg("the server honours If-None-Match now: update tools/s3-local help and docs/HACKING.md");
	} else {
		assert_int_equal(err, KT_OK);
		assert_int_equal(b.len, 6); /* S3Proxy 2.6.0 overwrote it */
		assert_memory_equal(b.data, "second", 6);
	}
	kt_buf_free(&b);

	/* the probe says the same, and leaves nothing behind */
	int honoured = -1;
	assert_ok(kt_s3_probe_if_none_match(s3, "probe", &honoured, &d_));
	assert_int_equal(honoured, 0);
	uint64_t size;
	assert_int_equal(kt_s3_head(s3, "probe", &size, &d), KT_ERR_NOT_FOUND);
	kt_s3_close(s3);
}

/* Multipart: three parts (5 MiB, 5 MiB, 1 KiB) make one object whose bytes
 * are the parts in order; ranged gets across a part boundary. */
static void test_multipart(void **state)
{
	(void)state;
	struct kt_s3 *s3 = open_client("multipart/", 0, 60000);
	struct kt_diag d;
	const size_t part = KT_S3_PART_MIN, total = 2 * part + 1024;
	uint8_t *data = malloc(total);
	assert_non_null(data);
	fill(data, total, 7);
	struct kt_s3_upload *up = NULL;
	assert_ok(kt_s3_upload_begin(s3, "big", &up, &d_));
	assert_ok(kt_s3_upload_part(up, data, part, &d_));
	assert_ok(kt_s3_upload_part(up, data + part, part, &d_));
	/* not there before it is complete */
	uint64_t size = 0;
	assert_int_equal(kt_s3_head(s3, "big", &size, &d), KT_ERR_NOT_FOUND);
	assert_ok(kt_s3_upload_part(up, data + 2 * part, 1024, &d_));
	assert_ok(kt_s3_upload_complete(up, &d_));
	assert_int_equal(kt_s3_head(s3, "big", &size, &d), KT_OK);
	assert_int_equal(size, total);

	struct kt_buf b;
	kt_buf_init(&b, 64 << 20);
	assert_ok(kt_s3_get(s3, "big", 0, 0, &b, &d_));
	assert_int_equal(b.len, total);
	assert_memory_equal(b.data, data, total);
	kt_buf_reset(&b);
	assert_ok(kt_s3_get(s3, "big", part - 100, 300, &b, &d_));
	assert_int_equal(b.len, 300);
	assert_memory_equal(b.data, data + part - 100, 300);
	kt_buf_free(&b);

	/* a part under 5 MiB that is not the last: S3 refuses the whole */
	assert_ok(kt_s3_upload_begin(s3, "too-small", &up, &d_));
	assert_ok(kt_s3_upload_part(up, data, 1024, &d_));
	assert_ok(kt_s3_upload_part(up, data, 1024, &d_));
	enum kt_err err = kt_s3_upload_complete(up, &d);
	assert_int_equal(err, KT_ERR_STORAGE);
	assert_non_null(strstr(d.msg, "EntityTooSmall"));
	assert_int_equal(kt_s3_head(s3, "too-small", &size, &d), KT_ERR_NOT_FOUND);
	free(data);
	kt_s3_close(s3);
}

/* Abort leaves no object; abort of NULL is a no-op. */
static void test_multipart_abort(void **state)
{
	(void)state;
	struct kt_s3 *s3 = open_client("abort/", 0, 10000);
	struct kt_diag d;
	struct kt_s3_upload *up = NULL;
	assert_ok(kt_s3_upload_begin(s3, "gone", &up, &d_));
	assert_ok(kt_s3_upload_part(up, "abc", 3, &d_));
	kt_s3_upload_abort(up);
	kt_s3_upload_abort(NULL);
	uint64_t size;
	assert_int_equal(kt_s3_head(s3, "gone", &size, &d), KT_ERR_NOT_FOUND);
	struct listed l = {.stop_at = -1};
	assert_ok(kt_s3_list(s3, "", collect, &l, &d_));
	assert_int_equal(l.n, 0);
	kt_s3_close(s3);
}

/* A wrong secret and an unknown access key: KT_ERR_STORAGE with S3's
 * error code, and the secret in no message. */
static void test_bad_credentials(void **state)
{
	(void)state;
	char *good_id = strdup(getenv("AWS_ACCESS_KEY_ID"));
	char *good_secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
	const char *wrong = "wrong-Secret-0123456789";
	setenv("AWS_SECRET_ACCESS_KEY", wrong, 1);
	struct kt_s3 *s3 = open_client("creds/", 0, 5000);
	struct kt_diag d;
	struct kt_buf b;
	kt_buf_init(&b, 1024);
	assert_int_equal(kt_s3_put(s3, "x", "x", 1, 0, &d), KT_ERR_STORAGE);
	assert_non_null(strstr(d.msg, "SignatureDoesNotMatch"));
	assert_non_null(strstr(d.msg, "403"));
	assert_null(strstr(d.msg, wrong));
	assert_int_equal(kt_s3_get(s3, "x", 0, 0, &b, &d), KT_ERR_STORAGE);
	assert_null(strstr(d.msg, wrong));
	struct listed l = {.stop_at = -1};
	assert_int_equal(kt_s3_list(s3, "", collect, &l, &d), KT_ERR_STORAGE);
	assert_null(strstr(d.msg, wrong));
	kt_s3_close(s3);

	setenv("AWS_SECRET_ACCESS_KEY", good_secret, 1);
	setenv("AWS_ACCESS_KEY_ID", "no-such-identity", 1);
	s3 = open_client("creds/", 0, 5000);
	assert_int_equal(kt_s3_put(s3, "x", "x", 1, 0, &d), KT_ERR_STORAGE);
	assert_non_null(strstr(d.msg, "InvalidAccessKeyId"));
	assert_null(strstr(d.msg, good_secret));
	kt_s3_close(s3);
	setenv("AWS_ACCESS_KEY_ID", good_id, 1);
	kt_buf_free(&b);
	free(good_id);
	free(good_secret);
}

/* Credentials from a shared credentials file and a named profile, when
 * the environment has none. */
static void test_credentials_file(void **state)
{
	(void)state;
	char *id = strdup(getenv("AWS_ACCESS_KEY_ID"));
	char *secret = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
	char path[] = "/tmp/ktape-creds-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f,
		"[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n"
		"# the test's\n[ktape-it]\r\naws_access_key_id=%s\r\naws_secret_access_key = %s \r\n",
		id, secret);
	fclose(f);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_PROFILE", "ktape-it", 1);
	struct kt_s3 *s3 = open_client("credfile/", 0, 5000);
	struct kt_diag d;
	assert_int_equal(kt_s3_put(s3, "x", "x", 1, 0, &d), KT_OK);
	kt_s3_close(s3);

	/* the default profile's are wrong: refused */
	unsetenv("AWS_PROFILE");
	s3 = open_client("credfile/", 0, 5000);
	assert_int_equal(kt_s3_put(s3, "x", "x", 1, 0, &d), KT_ERR_STORAGE);
	assert_null(strstr(d.msg, "nothing"));
	kt_s3_close(s3);

	/* a profile that is not there: open fails, naming it */
	setenv("AWS_PROFILE", "absent", 1);
	struct kt_s3_config cfg = {.bucket = BUCKET, .path_style = -1};
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	assert_non_null(strstr(d.msg, "'absent'"));
	assert_null(s3);

	unlink(path);
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	setenv("AWS_ACCESS_KEY_ID", id, 1);
	setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
	free(id);
	free(secret);
}

/* A bucket that does not exist: KT_ERR_NOT_FOUND naming it and the
 * endpoint, for an object request and for a list. */
static void test_no_such_bucket(void **state)
{
	(void)state;
	struct kt_s3_config cfg = {.bucket = "ktape-no-such-bucket", .path_style = -1, .timeout_ms = 5000};
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	assert_ok(kt_s3_open(&cfg, &s3, &d_));
	struct kt_buf b;
	kt_buf_init(&b, 1024);
	assert_int_equal(kt_s3_get(s3, "k", 0, 0, &b, &d), KT_ERR_NOT_FOUND);
	assert_non_null(strstr(d.msg, "no such bucket 'ktape-no-such-bucket' at http://"));
	struct listed l = {.stop_at = -1};
	assert_int_equal(kt_s3_list(s3, "", collect, &l, &d), KT_ERR_NOT_FOUND);
	assert_non_null(strstr(d.msg, "no such bucket 'ktape-no-such-bucket'"));
	assert_int_equal(kt_s3_put(s3, "k", "x", 1, 0, &d), KT_ERR_NOT_FOUND);
	kt_buf_free(&b);
	kt_s3_close(s3);
}

/* Nothing listens at the endpoint (a stopped server): retried with
 * backoff until the budget is spent, then KT_ERR_TIMEOUT naming the
 * connection failure, within the budget. */
static void test_server_gone(void **state)
{
	(void)state;
	/* a port that was free a moment ago: bind, learn it, close */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t alen = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", ntohs(a.sin_port));

	struct kt_s3_config cfg = {.endpoint = endpoint, .bucket = BUCKET, .path_style = -1, .timeout_ms = 1500};
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	assert_ok(kt_s3_open(&cfg, &s3, &d_));
	int64_t t0 = now_ms();
	assert_int_equal(kt_s3_put(s3, "k", "x", 1, 0, &d), KT_ERR_TIMEOUT);
	int64_t took = now_ms() - t0;
	assert_true(took >= 1400);
	assert_true(took < 2500);
	assert_non_null(strstr(d.msg, endpoint));
	assert_non_null(strstr(d.msg, "onnect"));
	struct kt_s3_stats st;
	kt_s3_stats(s3, &st);
	assert_true(st.requests >= 4); /* 100, 200, 400, 800 ms of backoff fit */
	assert_int_equal(st.retries, st.requests - 1);
	kt_s3_close(s3);
}

int main(void)
{
	const char *endpoint = getenv("AWS_ENDPOINT_URL");
	if (!endpoint || !*endpoint || !getenv("AWS_ACCESS_KEY_ID") || !getenv("AWS_SECRET_ACCESS_KEY")) {
		fprintf(stderr,
			"it-s3_client: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set:\n"
			"  tools/s3-local start && eval \"$(tools/s3-local env)\"   (tools/test does it)\n");
		return 1;
	}
	unsetenv("AWS_ENDPOINT_URL_S3"); /* the server under test is AWS_ENDPOINT_URL's */
	unsetenv("AWS_SESSION_TOKEN");
	snprintf(run_prefix, sizeof(run_prefix), "it-s3-client/%lld-%d", (long long)kt_time_now_ms(), (int)getpid());
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_range_head), cmocka_unit_test(test_missing_and_delete),
		cmocka_unit_test(test_odd_keys),	   cmocka_unit_test(test_list_continuation),
		cmocka_unit_test(test_conditional_put),	   cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_multipart_abort),	   cmocka_unit_test(test_bad_credentials),
		cmocka_unit_test(test_credentials_file),   cmocka_unit_test(test_no_such_bucket),
		cmocka_unit_test(test_server_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
