/* Unit tests of src/archive/kt_s3.c against a scripted HTTP server on
 * 127.0.0.1 (a thread of this test): what S3Proxy cannot be made to do.
 * Retries of 5xx/429/SlowDown and of an <Error> in a 200, the budget,
 * 412 on a conditional PUT, a server that ignores Range, a bad
 * Content-Range, the credentials masked in messages; and the requests as
 * sent: SigV4-encoded path and canonical query, x-amz-content-sha256 of
 * the body (a known vector), the session token header. The server checks
 * no signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "kt_s3.h"
#include "kt_time.h"

#define MAX_SCRIPT 16

/* The server answers the n-th request with script[n] (the last one again
 * once the script is used up) and keeps each request's head and body. */
static struct {
	pthread_mutex_t mu;
	int fd;
	int port;
	const char *script[MAX_SCRIPT];
	int nscript;
	int served;
	char heads[MAX_SCRIPT][4096];
	char bodies[MAX_SCRIPT][1024];
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Reads one request (head, then Content-Length bytes of body; answers an
 * Expect: 100-continue first) into the slot. */
static int read_request(int c, char *head, size_t headsize, char *body, size_t bodysize)
{
	size_t n = 0;
	char buf[8192];
	char *end = NULL;
	while (!end) {
		if (n == sizeof(buf))
			return -1;
		ssize_t r = recv(c, buf + n, sizeof(buf) - n, 0);
		if (r <= 0)
			return -1;
		n += (size_t)r;
		end = memmem(buf, n, "\r\n\r\n", 4);
	}
	size_t hlen = (size_t)(end - buf) + 4;
	snprintf(head, headsize, "%.*s", (int)hlen, buf);
	size_t want = 0;
	const char *cl = strcasestr(head, "\r\nContent-Length:");
	if (cl)
		want = strtoul(cl + 17, NULL, 10);
	if (strcasestr(head, "\r\nExpect: 100-continue"))
		send(c, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
	size_t got = n - hlen;
	char *all = malloc(want + 1);
	memcpy(all, buf + hlen, got < want ? got : want);
	while (got < want) {
		ssize_t r = recv(c, all + got, want - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	snprintf(body, bodysize, "%.*s", (int)(got < want ? got : want), all);
	free(all);
	return 0;
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(srv.fd, NULL, NULL);
		if (c < 0)
			return NULL;
		pthread_mutex_lock(&srv.mu);
		int i = srv.served < MAX_SCRIPT ? srv.served : MAX_SCRIPT - 1;
		pthread_mutex_unlock(&srv.mu);
		char head[4096], body[1024];
		if (read_request(c, head, sizeof(head), body, sizeof(body)) == 0) {
			pthread_mutex_lock(&srv.mu);
			memcpy(srv.heads[i], head, sizeof(head));
			memcpy(srv.bodies[i], body, sizeof(body));
			const char *resp = srv.script[srv.served < srv.nscript ? srv.served : srv.nscript - 1];
			srv.served++;
			pthread_mutex_unlock(&srv.mu);
			send(c, resp, strlen(resp), MSG_NOSIGNAL);
		}
		close(c);
	}
}

/* Sets the answers of the next requests (string literals). */
static void script(int n, ...)
{
	va_list ap;
	va_start(ap, n);
	pthread_mutex_lock(&srv.mu);
	for (int i = 0; i < n; i++)
		srv.script[i] = va_arg(ap, const char *);
	srv.nscript = n;
	srv.served = 0;
	memset(srv.heads, 0, sizeof(srv.heads));
	pthread_mutex_unlock(&srv.mu);
	va_end(ap);
}

static int served(void)
{
	pthread_mutex_lock(&srv.mu);
	int n = srv.served;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

#define CLOSE	 "Connection: close\r\n"
#define OK_EMPTY "HTTP/1.1 200 OK\r\n" CLOSE "Content-Length: 0\r\n\r\n"
/* An answer with its Content-Length filled in (kept for the run). */
static const char *http(const char *status, const char *headers, const char *body)
{
	static char bufs[32][2048];
	static int next;
	char *b = bufs[next++ % 32];
	snprintf(b, sizeof(bufs[0]), "HTTP/1.1 %s\r\n" CLOSE "%sContent-Length: %zu\r\n\r\n%s", status, headers,
		 strlen(body), body);
	return b;
}

static const char *xml_error(const char *status, const char *code, const char *msg)
{
	char body[512];
	snprintf(body, sizeof(body), "<?xml version=\"1.0\"?><Error><Code>%s</Code><Message>%s</Message></Error>", code,
		 msg);
	return http(status, "Content-Type: application/xml\r\n", body);
}

static struct kt_s3 *client(int64_t timeout_ms)
{
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", srv.port);
	struct kt_s3_config cfg = {
		.endpoint = endpoint, .bucket = "bkt", .prefix = "pre", .path_style = -1, .timeout_ms = timeout_ms};
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	if (kt_s3_open(&cfg, &s3, &d) != KT_OK)
		fail_msg("kt_s3_open: %s", d.msg);
	return s3;
}

static int group_setup(void **state)
{
	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SeCrEt-KeY-42", 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(srv.fd, 16) != 0)
		return -1;
	socklen_t alen = sizeof(a);
	getsockname(srv.fd, (struct sockaddr *)&a, &alen);
	srv.port = ntohs(a.sin_port);
	pthread_t t;
	if (pthread_create(&t, NULL, serve, NULL) != 0)
		return -1;
	pthread_detach(t);
	return 0;
}

/* The request line and x-amz-content-sha256 of a PUT: the key encoded as
 * SigV4 wants under the prefix, the SHA-256 of "abc" (FIPS 180-2 vector). */
static void test_request_shape(void **state)
{
	(void)state;
	struct kt_s3 *s3 = client(2000);
	struct kt_diag d;
	script(1, OK_EMPTY);
	assert_int_equal(kt_s3_put(s3, "a b/c+d=e~\xc3\xa9", "abc", 3, 0, &d), KT_OK);
	assert_non_null(strstr(srv.heads[0], "PUT /bkt/pre/a%20b/c%2Bd%3De~%C3%A9 HTTP/1.1\r\n"));
	assert_non_null(strcasestr(
		srv.heads[0],
		"x-amz-content-sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\r\n"));
	assert_non_null(strstr(srv.heads[0], "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
	assert_null(strcasestr(srv.heads[0], "If-None-Match"));
	assert_non_null(strstr(srv.heads[0], "\r\nUser-Agent: ktape/"));
	/* one payload hash (curl adds none of its own), and it is signed */
	const char *h1 = strcasestr(srv.heads[0], "x-amz-content-sha256:");
	assert_null(strcasestr(h1 + 1, "x-amz-content-sha256:"));
	assert_non_null(strstr(srv.heads[0], "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,"));
	assert_string_equal(srv.bodies[0], "abc");

	/* an empty body hashes to SHA-256("") */
	script(1, OK_EMPTY);
	assert_int_equal(kt_s3_delete(s3, "k", &d), KT_OK);
	assert_non_null(strstr(srv.heads[0], "DELETE /bkt/pre/k HTTP/1.1\r\n"));
	assert_non_null(strcasestr(
		srv.heads[0],
		"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"));

	kt_s3_close(s3);
}

static enum kt_err count_keys(void *ctx, const char *key, int64_t size)
{
	int *n = ctx;
	(*n)++;
	assert_true(size == *n);
	assert_true(strcmp(key, *n == 1 ? "x/1" : "x/2") == 0);
	return KT_OK;
}

/* Two pages: the keys relative to the prefix, the continuation token
 * encoded in the second request. */
static void test_list_query(void **state)
{
	(void)state;
	struct kt_s3 *s3 = client(2000);
	struct kt_diag d;
	const char *page1 = http("200 OK", "",
				 "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>pre/x/1</Key>"
				 "<Size>1</Size></Contents><NextContinuationToken>t/1+=</NextContinuationToken>"
				 "</ListBucketResult>");
	const char *page2 = http("200 OK", "",
				 "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>pre/x/2</Key>"
				 "<Size>2</Size></Contents></ListBucketResult>");
	script(2, page1, page2);
	int n = 0;
	assert_int_equal(kt_s3_list(s3, "x/", count_keys, &n, &d), KT_OK);
	assert_int_equal(n, 2);
	assert_non_null(strstr(srv.heads[0], "GET /bkt?list-type=2&max-keys=1000&prefix=pre%2Fx%2F HTTP/1.1\r\n"));
	assert_non_null(strstr(srv.heads[1], "GET /bkt?continuation-token=t%2F1%2B%3D&list-type=2&max-keys=1000&"
					     "prefix=pre%2Fx%2F HTTP/1.1\r\n"));
	kt_s3_close(s3);
}

/* 503 SlowDown, 500 and 429 are retried; the third answer wins. */
static void test_retry_then_success(void **state)
{
	(void)state;
	struct kt_s3 *s3 = client(5000);
	struct kt_diag d;
	script(4, xml_error("503 Slow Down", "SlowDown", "Please reduce your request rate."),
	       xml_error("500 Internal Server Error", "InternalError", "oops"),
	       "HTTP/1.1 429 Too Many Requests\r\n" CLOSE "Content-Length: 0\r\n\r\n", OK_EMPTY);
	assert_int_equal(kt_s3_put(s3, "k", "x", 1, 0, &d), KT_OK);
	assert_int_equal(served(), 4);
	struct kt_s3_stats st;
	kt_s3_stats(s3, &st);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.retries, 3);
	assert_int_equal(st.bytes_sent, 4);
	/* every attempt sent the whole body again */
	assert_string_equal(srv.bodies[3], "x");
	kt_s3_close(s3);
}

/* A server that keeps failing: KT_ERR_TIMEOUT within the budget, naming
 * the last answer; 501 and 400 are final at once. */
static void test_budget_and_final_errors(void **state)
{
	(void)state;
	struct kt_s3 *s3 = client(700);
	struct kt_diag d;
	script(1, xml_error("503 Service Unavailable", "ServiceUnavailable", "busy"));
	int64_t t0 = kt_time_mono_ns();
	struct kt_buf b;
	kt_buf_init(&b, 1024);
	assert_int_equal(kt_s3_get(s3, "k", 0, 0, &b, &d), KT_ERR_TIMEOUT);
	int64_t took_ms = (kt_time_mono_ns() - t0) / 1000000;
	assert_true(took_ms >= 650 && took_ms < 1500);
	assert_non_null(strstr(d.msg, "HTTP 503 ServiceUnavailable"));
	assert_non_null(strstr(d.msg, "s3://bkt/pre/k"));
	assert_true(served() >= 3);
	assert_int_equal(b.len, 0);

	script(1, xml_error("501 Not Implemented", "NotImplemented", "no"));
	assert_int_equal(kt_s3_get(s3, "k", 0, 0, &b, &d), KT_ERR_STORAGE);
	assert_int_equal(served(), 1);
	assert_non_null(strstr(d.msg, "NotImplemented"));
	script(1, xml_error("400 Bad Request", "InvalidArgument", "bad"));
	assert_int_equal(kt_s3_get(s3, "k", 0, 0, &b, &d), KT_ERR_STORAGE);
	assert_int_equal(served(), 1);
	/* S3's idle-socket 400 RequestTimeout is retried */
	script(2, xml_error("400 Bad Request", "RequestTimeout", "idle"), OK_EMPTY);
	assert_int_equal(kt_s3_put(s3, "k", "x", 1, 0, &d), KT_OK);
	assert_int_equal(served(), 2);
	kt_buf_free(&b);
	kt_s3_close(s3);
}

/* If-None-Match: * is sent; 412 and S3's 409 ConditionalRequestConflict
 * are KT_ERR_EXISTS for it, a plain PUT's 412 is a refusal. */
static void test_conditional(void **state)
{
	(void)state;
	struct kt_s3 *s3 = client(2000);
	struct kt_diag d;
	script(1, xml_error("412 Precondition Failed", "PreconditionFailed",
			    "At least one of the pre-conditions you specified did not hold"));
	assert_int_equal(kt_s3_put(s3, "lock", "me", 2, KT_S3_IF_NONE_MATCH, &d), KT_ERR_EXISTS);
	assert_non_null(strcasestr(srv.heads[0], "\r\nIf-None-Match: *\r\n"));
	assert_non_null(strstr(d.msg, "s3://bkt/pre/lock"));
	assert_non_null(strstr(d.msg, "already exists"));
	script(1, xml_error("409 Conflict", "ConditionalRequestConflict", "race"));
	assert_int_equal(kt_s3_put(s3, "lock", "me", 2, KT_S3_IF_NONE_MATCH, &d), KT_ERR_EXISTS);
	script(1, xml_error("412 Precondition Failed", "PreconditionFailed", "x"));
	assert_int_equal(kt_s3_put(s3, "lock", "me", 2, 0, &d), KT_ERR_STORAGE);

	/* the probe: delete, put, put (refused: honoured), delete */
	const char *gone = "HTTP/1.1 204 No Content\r\n" CLOSE "\r\n";
	script(4, gone, OK_EMPTY, xml_error("412 Precondition Failed", "PreconditionFailed", "x"), gone);
	int honoured = -1;
	assert_int_equal(kt_s3_probe_if_none_match(s3, "probe", &honoured, &d), KT_OK);
	assert_int_equal(honoured, 1);
	assert_int_equal(served(), 4);
	assert_non_null(strstr(srv.heads[0], "DELETE /bkt/pre/probe "));
	assert_non_null(strcasestr(srv.heads[1], "\r\nIf-None-Match: *\r\n"));
	assert_non_null(strcasestr(srv.heads[2], "\r\nIf-None-Match: *\r\n"));
	assert_non_null(strstr(srv.heads[3], "DELETE /bkt/pre/probe "));
	/* and a store that overwrites */
	script(4, gone, OK_EMPTY, OK_EMPTY, gone);
	assert_int_equal(kt_s3_probe_if_none_match(s3, "probe", &honoured, &d), KT_OK);
	assert_int_equal(honoured, 0);
	kt_s3_close(s3);
}

/* A 200 to a ranged GET (Range ignored) is cut to the window; a 206 for
 * another window than asked is refused; a short 206 is truncated. */
static void test_range_answers(void **state)
{
	(void)state;
	struct kt_s3 *s3 = client(2000);
	struct kt_diag d;
	struct kt_buf b;
	kt_buf_init(&b, 1024);
	script(1, "HTTP/1.1 200 OK\r\n" CLOSE "Content-Length: 10\r\n\r\n0123456789");
	assert_int_equal(kt_s3_get(s3, "k", 2, 4, &b, &d), KT_OK);
	assert_non_null(strcasestr(srv.heads[0], "\r\nRange: bytes=2-5\r\n"));
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "2345", 4);

	kt_buf_reset(&b);
	script(1, "HTTP/1.1 200 OK\r\n" CLOSE "Content-Length: 10\r\n\r\n0123456789");
	assert_int_equal(kt_s3_get(s3, "k", 7, 0, &b, &d), KT_OK);
	assert_non_null(strcasestr(srv.heads[0], "\r\nRange: bytes=7-\r\n"));
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "789", 3);

	kt_buf_reset(&b);
	script(1,
	       "HTTP/1.1 206 Partial Content\r\n" CLOSE "Content-Range: bytes 0-3/10\r\nContent-Length: 4\r\n\r\n0123");
	assert_int_equal(kt_s3_get(s3, "k", 2, 4, &b, &d), KT_ERR_STORAGE);
	assert_non_null(strstr(d.msg, "Content-Range"));
	assert_int_equal(b.len, 0);

	script(1,
	       "HTTP/1.1 206 Partial Content\r\n" CLOSE "Content-Range: bytes 8-9/10\r\nContent-Length: 2\r\n\r\n89");
	assert_int_equal(kt_s3_get(s3, "k", 8, 4, &b, &d), KT_ERR_TRUNCATED);
	assert_int_equal(b.len, 0);

	/* no range: no Range header */
	script(1, "HTTP/1.1 200 OK\r\n" CLOSE "Content-Length: 3\r\n\r\nabc");
	assert_int_equal(kt_s3_get(s3, "k", 0, 0, &b, &d), KT_OK);
	assert_null(strcasestr(srv.heads[0], "\r\nRange:"));
	kt_buf_free(&b);
	kt_s3_close(s3);
}

/* A server that echoes the secret or the session token in its message:
 * masked. The token travels as x-amz-security-token. */
static void test_credentials_masked(void **state)
{
	(void)state;
	setenv("AWS_SESSION_TOKEN", "ToKeN-777", 1);
	struct kt_s3 *s3 = client(2000);
	unsetenv("AWS_SESSION_TOKEN");
	struct kt_diag d;
	script(1, xml_error("403 Forbidden", "AccessDenied", "key SeCrEt-KeY-42 token ToKeN-777 denied"));
	assert_int_equal(kt_s3_put(s3, "k", "x", 1, 0, &d), KT_ERR_STORAGE);
	assert_non_null(strcasestr(srv.heads[0], "\r\nx-amz-security-token: ToKeN-777\r\n"));
	assert_non_null(strstr(d.msg, "403 AccessDenied"));
	assert_non_null(strstr(d.msg, "key *** token *** denied"));
	assert_null(strstr(d.msg, "SeCrEt-KeY-42"));
	kt_s3_close(s3);
}

/* CompleteMultipartUpload answering 200 with an <Error>: retried when S3
 * says so (InternalError), final otherwise; the parts' ETags are in the
 * completion body, escaped; a completion whose answer was lost. */
static void test_multipart_errors(void **state)
{
	(void)state;
	struct kt_s3 *s3 = client(3000);
	struct kt_diag d;
	const char *begin = http("200 OK", "",
				 "<InitiateMultipartUploadResult><UploadId>u+1</UploadId>"
				 "</InitiateMultipartUploadResult>");
	const char *part = "HTTP/1.1 200 OK\r\n" CLOSE "ETag: \"e1\"\r\nContent-Length: 0\r\n\r\n";
	const char *err200 = http("200 OK", "", "<Error><Code>InternalError</Code><Message/></Error>");
	const char *done = http("200 OK", "", "<CompleteMultipartUploadResult></CompleteMultipartUploadResult>");
	script(4, begin, part, err200, done);
	struct kt_s3_upload *up = NULL;
	assert_int_equal(kt_s3_upload_begin(s3, "big", &up, &d), KT_OK);
	assert_non_null(strstr(srv.heads[0], "POST /bkt/pre/big?uploads= HTTP/1.1\r\n"));
	assert_int_equal(kt_s3_upload_part(up, "abc", 3, &d), KT_OK);
	assert_non_null(strstr(srv.heads[1], "PUT /bkt/pre/big?partNumber=1&uploadId=u%2B1 HTTP/1.1\r\n"));
	assert_int_equal(kt_s3_upload_complete(up, &d), KT_OK);
	assert_int_equal(served(), 4);
	assert_non_null(strstr(srv.heads[3], "POST /bkt/pre/big?uploadId=u%2B1 HTTP/1.1\r\n"));
	assert_string_equal(srv.bodies[3], "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
					   "<ETag>&quot;e1&quot;</ETag></Part></CompleteMultipartUpload>");

	/* a final <Error> in a 200: the upload is aborted (DELETE) */
	const char *denied = http("200 OK", "", "<Error><Code>AccessDenied</Code><Message>no</Message></Error>");
	script(4, begin, part, denied, "HTTP/1.1 204 No Content\r\n" CLOSE "\r\n");
	assert_int_equal(kt_s3_upload_begin(s3, "big", &up, &d), KT_OK);
	assert_int_equal(kt_s3_upload_part(up, "abc", 3, &d), KT_OK);
	assert_int_equal(kt_s3_upload_complete(up, &d), KT_ERR_STORAGE);
	assert_non_null(strstr(d.msg, "AccessDenied"));
	assert_int_equal(served(), 4);
	assert_non_null(strstr(srv.heads[3], "DELETE /bkt/pre/big?uploadId=u%2B1 HTTP/1.1\r\n"));

	/* a part answered without an ETag is an error */
	script(3, begin, OK_EMPTY, "HTTP/1.1 204 No Content\r\n" CLOSE "\r\n");
	assert_int_equal(kt_s3_upload_begin(s3, "big", &up, &d), KT_OK);
	assert_int_equal(kt_s3_upload_part(up, "abc", 3, &d), KT_ERR_STORAGE);
	assert_non_null(strstr(d.msg, "ETag"));
	kt_s3_upload_abort(up);
	assert_int_equal(served(), 3);

	/* the completion's answer is lost (the connection closes), the retry
	 * finds the upload gone: the object is there with all its bytes, so
	 * the first attempt did it */
	script(5, begin, part, "", xml_error("404 Not Found", "NoSuchUpload", "gone"), http("200 OK", "", "abc"));
	assert_int_equal(kt_s3_upload_begin(s3, "big", &up, &d), KT_OK);
	assert_int_equal(kt_s3_upload_part(up, "abc", 3, &d), KT_OK);
	assert_int_equal(kt_s3_upload_complete(up, &d), KT_OK);
	assert_int_equal(served(), 5);
	assert_non_null(strstr(srv.heads[4], "HEAD /bkt/pre/big HTTP/1.1\r\n"));
	/* but NoSuchUpload at the first attempt is an error */
	script(4, begin, part, xml_error("404 Not Found", "NoSuchUpload", "gone"),
	       "HTTP/1.1 204 No Content\r\n" CLOSE "\r\n");
	assert_int_equal(kt_s3_upload_begin(s3, "big", &up, &d), KT_OK);
	assert_int_equal(kt_s3_upload_part(up, "abc", 3, &d), KT_OK);
	assert_int_equal(kt_s3_upload_complete(up, &d), KT_ERR_NOT_FOUND);
	assert_non_null(strstr(d.msg, "no such multipart upload"));
	kt_s3_close(s3);
}

static void *listen_late(void *arg)
{
	int fd = *(int *)arg;
	struct timespec ts = {0, 600 * 1000000L};
	nanosleep(&ts, NULL);
	listen(fd, 4);
	int c = accept(fd, NULL, NULL);
	char head[4096], body[1024];
	if (c >= 0 && read_request(c, head, sizeof(head), body, sizeof(body)) == 0)
		send(c, OK_EMPTY, strlen(OK_EMPTY), MSG_NOSIGNAL);
	if (c >= 0)
		close(c);
	return NULL;
}

/* A server that refuses connections at first (down, restarting) and comes
 * up within the budget: the request gets through. */
static void test_server_comes_back(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0); /* bound, not listening: refused */
	socklen_t alen = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &alen);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, listen_late, &fd), 0);
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", ntohs(a.sin_port));
	struct kt_s3_config cfg = {.endpoint = endpoint, .bucket = "bkt", .path_style = -1, .timeout_ms = 5000};
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	int64_t t0 = kt_time_mono_ns();
	assert_int_equal(kt_s3_put(s3, "k", "x", 1, 0, &d), KT_OK);
	assert_true((kt_time_mono_ns() - t0) / 1000000 >= 550);
	struct kt_s3_stats st;
	kt_s3_stats(s3, &st);
	assert_true(st.retries >= 2);
	kt_s3_close(s3);
	pthread_join(t, NULL);
	close(fd);
}

static volatile sig_atomic_t stop_flag;

static void *raise_stop(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	stop_flag = 1;
	return NULL;
}

/* A stop request (a signal) ends the retries of a failing server at once
 * instead of at the end of the budget. */
static void test_stop_ends_retries(void **state)
{
	(void)state;
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", srv.port);
	stop_flag = 0;
	struct kt_s3_config cfg = {
		.endpoint = endpoint, .bucket = "bkt", .path_style = -1, .timeout_ms = 20000, .stop = &stop_flag};
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	script(1, xml_error("503 Service Unavailable", "SlowDown", "busy"));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, raise_stop, NULL), 0);
	int64_t t0 = kt_time_mono_ns();
	assert_int_equal(kt_s3_put(s3, "k", "x", 1, 0, &d), KT_ERR_INTERRUPTED);
	int64_t took_ms = (kt_time_mono_ns() - t0) / 1000000;
	pthread_join(t, NULL);
	assert_true(took_ms >= 250 && took_ms < 1500);
	assert_non_null(strstr(d.msg, "HTTP 503 SlowDown"));
	kt_s3_close(s3);
}

/* Endpoints and configurations refused at open, without printing user
 * info; the defaults of region and endpoint. */
static void test_open_checks(void **state)
{
	(void)state;
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	struct kt_s3_config cfg = {.bucket = "b", .path_style = -1, .endpoint = "ftp://x"};
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	cfg.endpoint = "https://user:pa55word@host";
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	assert_null(strstr(d.msg, "pa55word"));
	cfg.endpoint = "user:pa55word@host";
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	assert_null(strstr(d.msg, "pa55word"));
	cfg.endpoint = "https://";
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	cfg.endpoint = "https://h/?q";
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	cfg.endpoint = NULL;
	cfg.bucket = "";
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	cfg.bucket = "b";
	cfg.region = "us east";
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	cfg.region = NULL;
	assert_null(s3);

	/* no endpoint: AWS, virtual-hosted, region from AWS_REGION */
	setenv("AWS_REGION", "eu-west-3", 1);
	cfg.bucket = "my-bucket";
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	assert_string_equal(kt_s3_endpoint(s3), "https://s3.eu-west-3.amazonaws.com");
	assert_string_equal(kt_s3_region(s3), "eu-west-3");
	assert_string_equal(kt_s3_bucket(s3), "my-bucket");
	kt_s3_close(s3);
	unsetenv("AWS_REGION");
	setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://generic:1/", 1);
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	assert_string_equal(kt_s3_region(s3), "ap-south-1");
	assert_string_equal(kt_s3_endpoint(s3), "http://generic:1");
	kt_s3_close(s3);
	setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:2", 1);
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	assert_string_equal(kt_s3_endpoint(s3), "http://s3-only:2");
	kt_s3_close(s3);
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	cfg.endpoint = NULL;
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	assert_string_equal(kt_s3_region(s3), "us-east-1");
	kt_s3_close(s3);
	kt_s3_close(NULL);

	/* half of the key pair in the environment: an error, not the file */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_ERR_INVALID);
	assert_non_null(strstr(d.msg, "AWS_SECRET_ACCESS_KEY"));
	setenv("AWS_SECRET_ACCESS_KEY", "SeCrEt-KeY-42", 1);
}

/* Virtual-hosted addressing puts the bucket in the Host (curl resolves
 * *.localhost to the loopback), path style in the path. */
static void test_addressing(void **state)
{
	(void)state;
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "http://localhost:%d", srv.port);
	struct kt_s3_config cfg = {.endpoint = endpoint, .bucket = "bkt", .path_style = 0, .timeout_ms = 3000};
	struct kt_s3 *s3 = NULL;
	struct kt_diag d;
	uint64_t size = 0;
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	script(1, "HTTP/1.1 200 OK\r\n" CLOSE "Content-Length: 1\r\n\r\nz");
	assert_int_equal(kt_s3_head(s3, "k", &size, &d), KT_OK);
	assert_int_equal(size, 1);
	assert_non_null(strstr(srv.heads[0], "HEAD /k HTTP/1.1\r\n"));
	char host[96];
	snprintf(host, sizeof(host), "\r\nHost: bkt.localhost:%d\r\n", srv.port);
	assert_non_null(strstr(srv.heads[0], host));
	kt_s3_close(s3);

	/* auto (-1) off amazonaws.com is path style */
	cfg.path_style = -1;
	assert_int_equal(kt_s3_open(&cfg, &s3, &d), KT_OK);
	script(1, "HTTP/1.1 200 OK\r\n" CLOSE "Content-Length: 1\r\n\r\nz");
	assert_int_equal(kt_s3_head(s3, "k", &size, &d), KT_OK);
	assert_non_null(strstr(srv.heads[0], "HEAD /bkt/k HTTP/1.1\r\n"));
	kt_s3_close(s3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_shape),	   cmocka_unit_test(test_list_query),
		cmocka_unit_test(test_retry_then_success), cmocka_unit_test(test_budget_and_final_errors),
		cmocka_unit_test(test_conditional),	   cmocka_unit_test(test_range_answers),
		cmocka_unit_test(test_credentials_masked), cmocka_unit_test(test_multipart_errors),
		cmocka_unit_test(test_server_comes_back),  cmocka_unit_test(test_stop_ends_retries),
		cmocka_unit_test(test_open_checks),	   cmocka_unit_test(test_addressing),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
