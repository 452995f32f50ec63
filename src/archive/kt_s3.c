#include "kt_s3.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "kt_fileio.h"
#include "kt_time.h"

#define DEFAULT_TIMEOUT_MS 30000
#define BACKOFF_FIRST_MS   100
#define BACKOFF_MAX_MS	   5000
#define CONNECT_TIMEOUT_MS 10000
/* Cap of an XML answer kept in memory (a list page of 1000 long keys is
 * about 1 MiB). */
#define RESP_MAX       ((size_t)32 << 20)
#define CREDS_FILE_MAX ((size_t)1 << 20)
/* SHA-256 of the empty string: the payload hash of a request without body. */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct kt_s3 {
	CURL *curl;
	char *endpoint; /* as resolved, without a trailing '/' (messages) */
	char *base;	/* URL of the bucket: http://host/BUCKET or https://BUCKET.host */
	char *region;
	char *bucket;
	char *prefix; /* "" or ending in '/' */
	int path_style;
	char *sigv4;	 /* "aws:amz:REGION:s3" */
	char *ca_bundle; /* AWS_CA_BUNDLE, or NULL for curl's default */
	struct kt_s3_creds creds;
	int64_t timeout_ms;
	int list_page;
	volatile sig_atomic_t *stop;
	uint64_t rng; /* backoff jitter */
	struct kt_s3_stats stats;
};

struct kt_s3_upload {
	struct kt_s3 *s3;
	char *key; /* relative to the configured prefix */
	char *upload_id;
	int parts;
	struct kt_buf etags; /* each part's ETag, NUL-terminated, in order */
	uint64_t bytes;
};

/* One logical request, retried as a whole by do_request. */
struct req {
	/* what to send */
	const char *method;
	const char *key;   /* relative key; NULL: the bucket itself */
	const char *query; /* canonical: sorted, encoded, each name with '=' */
	const uint8_t *body;
	size_t body_len;
	const char *range;  /* "bytes=A-B" */
	int conditional;    /* If-None-Match: * */
	int error_in_200;   /* CompleteMultipartUpload may answer 200 with <Error> */
	struct kt_buf *out; /* where a 2xx body goes (NULL: resp) */
	/* what came back (of the last attempt) */
	CURL *curl;
	long status;
	struct kt_buf resp; /* XML answer or error body */
	enum kt_err write_err;
	int reserved; /* out has room for Content-Length bytes */
	size_t sent;  /* read position in body */
	int64_t content_length;
	char etag[256];
	char content_range[128];
	char code[128];
	char message[256];
};

/* ------------------------------------------------------------- helpers -- */

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Replaces every occurrence of secret in msg by "***". */
static void mask(char *msg, const char *secret)
{
	if (!secret || !*secret)
		return;
	size_t n = strlen(secret);
	char *p;
	while ((p = strstr(msg, secret)) != NULL) {
		memmove(p + 3, p + n, strlen(p + n) + 1);
		memcpy(p, "***", 3);
	}
}

/* kt_diag_fail that also masks the credentials, should a server or a
 * caller's key ever echo them. */
static enum kt_err fail(const struct kt_s3 *s3, struct kt_diag *diag, enum kt_err err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum kt_err fail(const struct kt_s3 *s3, struct kt_diag *diag, enum kt_err err, const char *fmt, ...)
{
	if (!diag)
		return err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
	va_end(ap);
	if (s3) {
		mask(diag->msg, s3->creds.secret_key);
		mask(diag->msg, s3->creds.session_token);
	}
	return err;
}

static int stopped(const struct kt_s3 *s3)
{
	return s3->stop && *s3->stop;
}

/* Sleeps ms, in slices so that a stop request ends the wait soon. */
static void sleep_ms(const struct kt_s3 *s3, int64_t ms)
{
	while (ms > 0 && !stopped(s3)) {
		int64_t slice = ms < 50 ? ms : 50;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = slice * 1000000};
		nanosleep(&ts, NULL); /* EINTR: a signal, looked at above */
		ms -= slice;
	}
}

static int64_t mono_ms(void)
{
	return kt_time_mono_ns() / 1000000;
}

static uint64_t next_random(struct kt_s3 *s3)
{
	/* xorshift64: jitter only, no need for more */
	uint64_t x = s3->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s3->rng = x;
	return x;
}

static int sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -1;
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* --------------------------------------------------------------- open -- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A bucket name that can be a DNS label of a TLS wildcard certificate. */
static int dns_safe_bucket(const char *b)
{
	size_t n = strlen(b);
	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '-'))
			return 0;
	}
	return 1;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

/* Checks the endpoint and sets s3->endpoint and s3->base. */
static enum kt_err resolve_endpoint(struct kt_s3 *s3, const char *endpoint, int path_style, struct kt_diag *diag)
{
	size_t slen;
	if (strncasecmp(endpoint, "https://", 8) == 0)
		slen = 8;
	else if (strncasecmp(endpoint, "http://", 7) == 0)
		slen = 7;
	else if (strchr(endpoint, '@'))
		return fail(s3, diag, KT_ERR_INVALID, "the S3 endpoint is not an http:// or https:// URL");
	else
		return fail(s3, diag, KT_ERR_INVALID, "S3 endpoint '%s' is not an http:// or https:// URL", endpoint);
	const char *auth = endpoint + slen;
	size_t alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen))
		/* do not print it: user info may be a credential */
		return fail(s3, diag, KT_ERR_INVALID,
			    "the S3 endpoint must not carry user info (credentials come from the environment)");
	if (alen == 0)
		return fail(s3, diag, KT_ERR_INVALID, "S3 endpoint '%s' has no host", endpoint);
	if (strpbrk(auth + alen, "?#"))
		return fail(s3, diag, KT_ERR_INVALID, "S3 endpoint '%s' must not have a query or fragment", endpoint);
	for (size_t i = 0; endpoint[i]; i++) {
		if ((unsigned char)endpoint[i] <= ' ' || endpoint[i] == 0x7f)
			return fail(s3, diag, KT_ERR_INVALID, "S3 endpoint has a space or control character");
	}
	const char *path = auth + alen;
	size_t plen = strlen(path);
	while (plen && path[plen - 1] == '/')
		plen--;
	/* the host without the port, for the amazonaws.com test */
	size_t hlen = alen;
	const char *colon = memchr(auth, ':', alen);
	if (colon && auth[0] != '[')
		hlen = (size_t)(colon - auth);
	if (path_style < 0)
		path_style = !(ends_with(auth, hlen, ".amazonaws.com") && dns_safe_bucket(s3->bucket));
	s3->path_style = path_style != 0;

	struct kt_buf b;
	kt_buf_init(&b, 8192);
	enum kt_err err = kt_buf_printf(&b, "%.*s%.*s", (int)(slen + alen), endpoint, (int)plen, path);
	if (!err)
		err = kt_buf_append_u8(&b, 0);
	if (!err)
		s3->endpoint = strdup((const char *)b.data);
	kt_buf_reset(&b);
	if (!err && path_style) {
		err = kt_buf_printf(&b, "%s/", s3->endpoint);
		if (!err)
			err = kt_s3_uri_encode(&b, s3->bucket, strlen(s3->bucket), 0);
	} else if (!err) {
		err = kt_buf_printf(&b, "%.*s%s.%.*s%.*s", (int)slen, endpoint, s3->bucket, (int)alen, auth, (int)plen,
				    path);
	}
	if (!err)
		err = kt_buf_append_u8(&b, 0);
	if (!err)
		s3->base = strdup((const char *)b.data);
	kt_buf_free(&b);
	if (!err && (!s3->endpoint || !s3->base))
		err = KT_ERR_NOMEM;
	if (err)
		return fail(s3, diag, err, "S3 endpoint: %s", kt_err_str(err));
	return KT_OK;
}

static enum kt_err load_creds(struct kt_s3 *s3, struct kt_diag *diag)
{
	struct kt_s3_creds *c = &s3->creds;
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
	if (ak && sk) {
		c->access_key = strdup(ak);
		c->secret_key = strdup(sk);
		c->session_token = dup_str(env("AWS_SESSION_TOKEN"));
		if (!c->access_key || !c->secret_key || (env("AWS_SESSION_TOKEN") && !c->session_token))
			return fail(NULL, diag, KT_ERR_NOMEM, "out of memory");
		return KT_OK;
	}
	if (ak || sk)
		return fail(NULL, diag, KT_ERR_INVALID, "%s is set but %s is not",
			    ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
			    ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");

	char path[4096];
	const char *file = env("AWS_SHARED_CREDENTIALS_FILE");
	if (!file) {
		const char *home = env("HOME");
		if (!home)
			return fail(NULL, diag, KT_ERR_INVALID,
				    "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, "
				    "and without HOME there is no ~/.aws/credentials");
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
		file = path;
	}
	const char *profile = env("AWS_PROFILE");
	if (!profile)
		profile = "default";
	uint8_t *text = NULL;
	size_t len = 0;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_read_file(file, CREDS_FILE_MAX, &text, &len, &d);
	if (err == KT_ERR_NOT_FOUND)
		return fail(NULL, diag, KT_ERR_INVALID,
			    "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and %s "
			    "does not exist",
			    file);
	if (err)
		return fail(NULL, diag, err == KT_ERR_NOMEM ? err : KT_ERR_INVALID, "AWS credentials: %s", d.msg);
	err = kt_s3_creds_parse((const char *)text, len, profile, file, c, &d);
	explicit_bzero(text, len);
	free(text);
	if (err)
		return fail(NULL, diag, err == KT_ERR_NOMEM ? err : KT_ERR_INVALID, "AWS credentials: %s%s", d.msg,
			    err == KT_ERR_NOT_FOUND ? " (AWS_PROFILE names the profile)" : "");
	return KT_OK;
}

enum kt_err kt_s3_open(const struct kt_s3_config *cfg, struct kt_s3 **out, struct kt_diag *diag)
{
	*out = NULL;
	if (!cfg->bucket || !*cfg->bucket)
		return fail(NULL, diag, KT_ERR_INVALID, "no S3 bucket given");
	if (strchr(cfg->bucket, '/'))
		return fail(NULL, diag, KT_ERR_INVALID, "S3 bucket name '%s' has a '/'", cfg->bucket);
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return fail(NULL, diag, KT_ERR_IO, "libcurl: %s", curl_easy_strerror(curl_init_result));

	struct kt_s3 *s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return fail(NULL, diag, KT_ERR_NOMEM, "out of memory");
	enum kt_err err = KT_OK;
	const char *region = cfg->region && *cfg->region ? cfg->region : env("AWS_REGION");
	if (!region)
		region = env("AWS_DEFAULT_REGION");
	if (!region)
		region = "us-east-1";
	s3->region = strdup(region);
	s3->bucket = strdup(cfg->bucket);
	const char *prefix = cfg->prefix ? cfg->prefix : "";
	size_t plen = strlen(prefix);
	s3->prefix = malloc(plen + 2);
	if (s3->prefix) {
		memcpy(s3->prefix, prefix, plen + 1);
		if (plen && prefix[plen - 1] != '/')
			memcpy(s3->prefix + plen, "/", 2);
	}
	size_t slen = strlen(region) + 16;
	s3->sigv4 = malloc(slen);
	if (s3->sigv4)
		snprintf(s3->sigv4, slen, "aws:amz:%s:s3", region);
	s3->curl = curl_easy_init();
	s3->ca_bundle = dup_str(env("AWS_CA_BUNDLE"));
	if ((env("AWS_CA_BUNDLE") && !s3->ca_bundle) || !s3->region || !s3->bucket || !s3->prefix || !s3->sigv4 ||
	    !s3->curl) {
		kt_s3_close(s3);
		return fail(NULL, diag, KT_ERR_NOMEM, "out of memory (S3 client)");
	}
	for (const char *p = region; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-') {
			kt_s3_close(s3);
			return fail(NULL, diag, KT_ERR_INVALID, "S3 region '%s' is not letters, digits and '-'",
				    region);
		}
	}
	s3->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	s3->list_page = cfg->list_page > 0 && cfg->list_page < 1000 ? cfg->list_page : 1000;
	s3->stop = cfg->stop;
	s3->rng = (uint64_t)kt_time_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s3;
	if (!s3->rng)
		s3->rng = 1;

	char dflt[256];
	const char *endpoint = cfg->endpoint && *cfg->endpoint ? cfg->endpoint : env("AWS_ENDPOINT_URL_S3");
	if (!endpoint)
		endpoint = env("AWS_ENDPOINT_URL");
	if (!endpoint) {
		snprintf(dflt, sizeof(dflt), "https://s3.%s.amazonaws.com", region);
		endpoint = dflt;
	}
	err = resolve_endpoint(s3, endpoint, cfg->path_style, diag);
	if (!err)
		err = load_creds(s3, diag);
	if (err) {
		kt_s3_close(s3);
		return err;
	}
	*out = s3;
	return KT_OK;
}

void kt_s3_close(struct kt_s3 *s3)
{
	if (!s3)
		return;
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	kt_s3_creds_free(&s3->creds);
	free(s3->endpoint);
	free(s3->base);
	free(s3->region);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->sigv4);
	free(s3->ca_bundle);
	free(s3);
}

const char *kt_s3_endpoint(const struct kt_s3 *s3)
{
	return s3->endpoint;
}

const char *kt_s3_region(const struct kt_s3 *s3)
{
	return s3->region;
}

const char *kt_s3_bucket(const struct kt_s3 *s3)
{
	return s3->bucket;
}

void kt_s3_stats(const struct kt_s3 *s3, struct kt_s3_stats *out)
{
	*out = s3->stats;
}

/* ------------------------------------------------------------ requests -- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	struct kt_buf *dst = status >= 200 && status < 300 && r->out ? r->out : &r->resp;
	enum kt_err err = KT_OK;
	if (dst == r->out && !r->reserved && r->content_length > 0) {
		/* room for the whole answer at once, and a too large one fails
		 * before its bytes come */
		r->reserved = 1;
		err = kt_buf_reserve(dst, (size_t)r->content_length);
	}
	if (!err)
		err = kt_buf_append(dst, p, len);
	if (err) {
		r->write_err = err;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	return len;
}

static size_t on_upload(char *p, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t room = size * n, left = r->body_len - r->sent;
	size_t take = left < room ? left : room;
	if (take)
		memcpy(p, r->body + r->sent, take);
	r->sent += take;
	return take;
}

/* Copies the trimmed value of header line h (name already matched, value
 * from v) into dst. */
static void header_value(const char *v, const char *end, char *dst, size_t dstsize)
{
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t n = (size_t)(end - v);
	if (n >= dstsize)
		n = dstsize - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t on_header(char *h, size_t size, size_t n, void *ud)
{
	struct req *r = ud;
	size_t len = size * n;
	const char *end = h + len;
	if (len >= 5 && memcmp(h, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue, say): forget the last */
		r->etag[0] = r->content_range[0] = '\0';
		r->content_length = -1;
	} else if (len > 5 && strncasecmp(h, "etag:", 5) == 0) {
		header_value(h + 5, end, r->etag, sizeof(r->etag));
	} else if (len > 14 && strncasecmp(h, "content-range:", 14) == 0) {
		header_value(h + 14, end, r->content_range, sizeof(r->content_range));
	} else if (len > 15 && strncasecmp(h, "content-length:", 15) == 0) {
		char v[32];
		header_value(h + 15, end, v, sizeof(v));
		char *e;
		long long cl = strtoll(v, &e, 10);
		r->content_length = e != v && *e == '\0' && cl >= 0 ? cl : -1;
	}
	return len;
}

/* Full key (prefix + key) into b, NUL-terminated. */
static enum kt_err full_key(const struct kt_s3 *s3, const char *key, struct kt_buf *b)
{
	kt_buf_reset(b);
	enum kt_err err = kt_buf_printf(b, "%s%s", s3->prefix, key);
	if (!err)
		err = kt_buf_reserve(b, 1);
	if (!err)
		b->data[b->len] = '\0';
	return err;
}

/* "s3://BUCKET/KEY at ENDPOINT" (or the bucket alone) for messages. */
static const char *describe(const struct kt_s3 *s3, const char *key, char *buf, size_t size)
{
	if (key)
		snprintf(buf, size, "s3://%s/%s%s at %s", s3->bucket, s3->prefix, key, s3->endpoint);
	else
		snprintf(buf, size, "bucket '%s' at %s", s3->bucket, s3->endpoint);
	return buf;
}

static CURLcode perform_once(struct kt_s3 *s3, struct req *r, const char *url, const char *sha, int64_t left_ms,
			     char *errbuf)
{
	CURL *c = s3->curl;
	curl_easy_reset(c);
	struct curl_slist *hdrs = NULL, *t;
	char line[512];
	int ok = 1;
#define ADD_HEADER(...)                                                                                                \
	do {                                                                                                           \
		snprintf(line, sizeof(line), __VA_ARGS__);                                                             \
		t = curl_slist_append(hdrs, line);                                                                     \
		if (t)                                                                                                 \
			hdrs = t;                                                                                      \
		else                                                                                                   \
			ok = 0;                                                                                        \
	} while (0)
	ADD_HEADER("x-amz-content-sha256: %s", sha);
	if (r->range)
		ADD_HEADER("Range: %s", r->range);
	if (r->conditional)
		ADD_HEADER("If-None-Match: *");
	if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST"))
		ADD_HEADER("Content-Type: %s", r->error_in_200 ? "application/xml" : "application/octet-stream");
#undef ADD_HEADER
	if (s3->creds.session_token) {
		/* too long for line[]: build it on the heap, wipe it after */
		size_t n = strlen(s3->creds.session_token) + 32;
		char *h = malloc(n);
		if (h) {
			snprintf(h, n, "x-amz-security-token: %s", s3->creds.session_token);
			t = curl_slist_append(hdrs, h);
			explicit_bzero(h, n);
			free(h);
		}
		if (h && t)
			hdrs = t;
		else
			ok = 0;
	}
	if (!ok) {
		curl_slist_free_all(hdrs);
		return CURLE_OUT_OF_MEMORY;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* a key's "./" and "../" are its own */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ktape/" KTAPE_VERSION); /* names ktape in the store's logs */
	if (s3->ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, s3->ca_bundle);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, s3->creds.access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s3->creds.secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(left_ms < CONNECT_TIMEOUT_MS ? left_ms : CONNECT_TIMEOUT_MS));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		r->sent = 0;
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	}
	r->curl = c;
	CURLcode cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_off_t up = 0, down = 0;
	curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
	s3->stats.requests++;
	s3->stats.bytes_sent += up;
	s3->stats.bytes_received += down;
	/* the easy handle keeps pointers to the list and the credentials */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return cc;
}

static int retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_AGAIN: return 1;
	default: return 0;
	}
}

/* Is the answer of r one that S3 wants retried? */
static int retryable_status(const struct req *r)
{
	if (r->status == 429 || (r->status >= 500 && r->status != 501))
		return 1;
	return !strcmp(r->code, "SlowDown") || !strcmp(r->code, "RequestTimeout") ||
	       !strcmp(r->code, "InternalError") || !strcmp(r->code, "ServiceUnavailable");
}

/* The error of a final non-2xx answer. */
static enum kt_err map_error(struct kt_s3 *s3, const struct req *r, struct kt_diag *diag)
{
	char what[1024];
	describe(s3, r->key, what, sizeof(what));
	const char *code = r->code;
	if (r->status == 404) {
		if (!strcmp(code, "NoSuchBucket") || (!r->key && !*code))
			return fail(s3, diag, KT_ERR_NOT_FOUND, "no such bucket '%s' at %s", s3->bucket, s3->endpoint);
		if (!strcmp(code, "NoSuchUpload"))
			return fail(s3, diag, KT_ERR_NOT_FOUND,
				    "no such multipart upload of %s (completed or aborted meanwhile)", what);
		if (r->key)
			return fail(s3, diag, KT_ERR_NOT_FOUND, "no such key '%s%s' in bucket '%s' at %s", s3->prefix,
				    r->key, s3->bucket, s3->endpoint);
	}
	if (r->conditional && (r->status == 412 || (r->status == 409 && !strcmp(code, "ConditionalRequestConflict"))))
		return fail(s3, diag, KT_ERR_EXISTS, "%s already exists (a conditional write was refused)", what);
	if (r->status == 416)
		return fail(s3, diag, KT_ERR_TRUNCATED, "%s: the range %s starts past the end of the object", what,
			    r->range ? r->range : "");
	return fail(s3, diag, KT_ERR_STORAGE, "%s %s refused: HTTP %ld%s%s%s%s", r->method, what, r->status,
		    *code ? " " : "", code, *r->message ? ": " : "", r->message);
}

/* Sends r until it gets a final answer or the budget is spent. KT_OK for a
 * 2xx answer (r->status, r->resp, r->out hold it), else the mapped error. */
static enum kt_err do_request(struct kt_s3 *s3, struct req *r, struct kt_diag *diag)
{
	char what[1024];
	describe(s3, r->key, what, sizeof(what));
	char sha[65] = EMPTY_SHA256;
	if (r->body_len && sha256_hex(r->body, r->body_len, sha) != 0)
		return fail(s3, diag, KT_ERR_IO, "SHA-256 of the request body failed (libcrypto)");

	struct kt_buf url, fk;
	kt_buf_init(&url, 64 * 1024);
	kt_buf_init(&fk, 64 * 1024);
	enum kt_err err = kt_buf_printf(&url, "%s", s3->base);
	if (!err && r->key) {
		err = full_key(s3, r->key, &fk);
		if (!err)
			err = kt_buf_append_u8(&url, '/');
		if (!err)
			err = kt_s3_uri_encode(&url, (const char *)fk.data, fk.len, 1);
	} else if (!err && !s3->path_style) {
		err = kt_buf_append_u8(&url, '/'); /* virtual-hosted: the bucket is "/" */
	}
	if (!err && r->query)
		err = kt_buf_printf(&url, "?%s", r->query);
	if (!err)
		err = kt_buf_append_u8(&url, 0);
	kt_buf_free(&fk);
	if (err) {
		kt_buf_free(&url);
		return fail(s3, diag, err, "%s: the key is too long (%s)", what, kt_err_str(err));
	}

	kt_buf_init(&r->resp, RESP_MAX);
	size_t out0 = r->out ? r->out->len : 0;
	int64_t start = mono_ms(), deadline = start + s3->timeout_ms, backoff = BACKOFF_FIRST_MS;
	int attempts = 0;
	char last[CURL_ERROR_SIZE + 256] = "";
	for (;;) {
		attempts++;
		if (attempts > 1)
			s3->stats.retries++;
		if (r->out)
			r->out->len = out0;
		kt_buf_reset(&r->resp);
		r->write_err = KT_OK;
		r->reserved = 0;
		r->status = 0;
		r->code[0] = r->message[0] = '\0';
		int64_t left = deadline - mono_ms();
		char errbuf[CURL_ERROR_SIZE] = "";
		CURLcode cc = perform_once(s3, r, (const char *)url.data, sha, left > 0 ? left : 1, errbuf);
		if (cc == CURLE_OK) {
			const char *xml = (const char *)r->resp.data;
			kt_s3_xml_text(xml, r->resp.len, "Code", r->code, sizeof(r->code));
			kt_s3_xml_text(xml, r->resp.len, "Message", r->message, sizeof(r->message));
			int ok = r->status >= 200 && r->status < 300;
			if (ok && r->error_in_200 && r->resp.len && memmem(xml, r->resp.len, "<Error>", 7)) {
				ok = 0;
				if (!retryable_status(r)) {
					r->status = 500; /* for the message; a final error */
					err = fail(s3, diag, KT_ERR_STORAGE, "%s %s refused: %s%s%s", r->method, what,
						   r->code, *r->message ? ": " : "", r->message);
					break;
				}
			}
			if (ok) {
				err = KT_OK;
				break;
			}
			if (r->status < 200 || !retryable_status(r)) {
				err = map_error(s3, r, diag);
				break;
			}
			snprintf(last, sizeof(last), "HTTP %ld%s%s", r->status, *r->code ? " " : "", r->code);
		} else if (r->write_err) {
			err = fail(s3, diag, r->write_err, "%s %s: the answer does not fit (%s)", r->method, what,
				   kt_err_str(r->write_err));
			break;
		} else if (retryable_curl(cc)) {
			snprintf(last, sizeof(last), "%s", *errbuf ? errbuf : curl_easy_strerror(cc));
		} else {
			err = fail(s3, diag, KT_ERR_IO, "%s %s: %s", r->method, what,
				   *errbuf ? errbuf : curl_easy_strerror(cc));
			break;
		}
		left = deadline - mono_ms();
		int64_t wait = backoff / 2 + (int64_t)(next_random(s3) % (uint64_t)(backoff / 2 + 1));
		if (wait > left)
			wait = left;
		sleep_ms(s3, wait);
		backoff = backoff * 2 < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
		if (stopped(s3)) {
			err = fail(s3, diag, KT_ERR_INTERRUPTED, "%s %s: stopped after %d attempts; last: %s",
				   r->method, what, attempts, last);
			break;
		}
		if (mono_ms() >= deadline) {
			err = fail(s3, diag, KT_ERR_TIMEOUT,
				   "%s %s: not done within the budget of %" PRId64 " ms (%d attempts); last: %s",
				   r->method, what, s3->timeout_ms, attempts, last);
			break;
		}
	}
	if (err && r->out)
		r->out->len = out0;
	kt_buf_free(&url);
	return err;
}

static void req_init(struct req *r, const char *method, const char *key)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->key = key;
	r->content_length = -1;
}

static void req_free(struct req *r)
{
	kt_buf_free(&r->resp);
}

static enum kt_err check_key(struct kt_s3 *s3, const char *key, struct kt_diag *diag)
{
	if (!key || !*key)
		return fail(s3, diag, KT_ERR_INVALID, "an empty S3 key");
	return KT_OK;
}

/* ------------------------------------------------------------- objects -- */

enum kt_err kt_s3_put(struct kt_s3 *s3, const char *key, const void *data, size_t len, int flags, struct kt_diag *diag)
{
	enum kt_err err = check_key(s3, key, diag);
	if (err)
		return err;
	struct req r;
	req_init(&r, "PUT", key);
	r.body = data;
	r.body_len = len;
	r.conditional = (flags & KT_S3_IF_NONE_MATCH) != 0;
	err = do_request(s3, &r, diag);
	req_free(&r);
	return err;
}

enum kt_err kt_s3_probe_if_none_match(struct kt_s3 *s3, const char *key, int *honoured, struct kt_diag *diag)
{
	*honoured = 0;
	static const char body[] = "ktape: a probe of conditional writes, removed at once\n";
	enum kt_err err = kt_s3_delete(s3, key, diag);
	if (!err)
		err = kt_s3_put(s3, key, body, sizeof(body) - 1, KT_S3_IF_NONE_MATCH, diag);
	if (!err) {
		err = kt_s3_put(s3, key, body, sizeof(body) - 1, KT_S3_IF_NONE_MATCH, diag);
		if (err == KT_ERR_EXISTS) {
			*honoured = 1;
			err = KT_OK;
		}
		enum kt_err derr = kt_s3_delete(s3, key, err ? NULL : diag);
		if (!err)
			err = derr;
	}
	return err;
}

/* "bytes A-B/TOTAL" -> A (or -1). */
static int64_t range_start(const char *cr)
{
	if (strncmp(cr, "bytes ", 6) != 0)
		return -1;
	char *e;
	long long a = strtoll(cr + 6, &e, 10);
	return e != cr + 6 && *e == '-' && a >= 0 ? a : -1;
}

enum kt_err kt_s3_get(struct kt_s3 *s3, const char *key, uint64_t offset, uint64_t length, struct kt_buf *out,
		      struct kt_diag *diag)
{
	enum kt_err err = check_key(s3, key, diag);
	if (err)
		return err;
	if (length && offset + length < offset)
		return fail(s3, diag, KT_ERR_INVALID, "GET %s: the range overflows", key);
	size_t out0 = out->len;
	if (length && (err = kt_buf_reserve(out, length)) != KT_OK)
		return fail(s3, diag, err, "GET %s: %" PRIu64 " bytes do not fit (%s)", key, length, kt_err_str(err));
	char range[64];
	struct req r;
	req_init(&r, "GET", key);
	r.out = out;
	if (length)
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, offset, offset + length - 1);
	else
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", offset);
	if (offset || length)
		r.range = range;
	err = do_request(s3, &r, diag);
	if (err) {
		req_free(&r);
		return err;
	}
	char what[1024];
	describe(s3, key, what, sizeof(what));
	uint64_t got = out->len - out0;
	if (r.range && r.status == 200) {
		/* the server ignored the Range header: cut the window out */
		if (got < offset + length || (!length && got < offset)) {
			err = fail(s3, diag, KT_ERR_TRUNCATED, "%s has %" PRIu64 " bytes, fewer than asked for", what,
				   got);
		} else {
			uint64_t n = length ? length : got - offset;
			memmove(out->data + out0, out->data + out0 + offset, n);
			out->len = out0 + n;
		}
	} else if (r.range && r.status != 206) {
		err = fail(s3, diag, KT_ERR_STORAGE, "GET %s: HTTP %ld to a range request", what, r.status);
	} else if (r.range && range_start(r.content_range) != (int64_t)offset) {
		err = fail(s3, diag, KT_ERR_STORAGE, "GET %s: asked for %s, the answer has Content-Range '%s'", what,
			   range, r.content_range);
	} else if (length && got != length) {
		err = fail(s3, diag, KT_ERR_TRUNCATED,
			   "%s: asked for %" PRIu64 " bytes at %" PRIu64 ", got %" PRIu64 " (the object is shorter)",
			   what, length, offset, got);
	} else if (!r.range && r.status != 200) {
		err = fail(s3, diag, KT_ERR_STORAGE, "GET %s: HTTP %ld", what, r.status);
	}
	if (err)
		out->len = out0;
	req_free(&r);
	return err;
}

enum kt_err kt_s3_head(struct kt_s3 *s3, const char *key, uint64_t *size, struct kt_diag *diag)
{
	enum kt_err err = check_key(s3, key, diag);
	if (err)
		return err;
	struct req r;
	req_init(&r, "HEAD", key);
	err = do_request(s3, &r, diag);
	if (!err && r.content_length < 0) {
		char what[1024];
		err = fail(s3, diag, KT_ERR_STORAGE, "HEAD %s: no Content-Length in the answer",
			   describe(s3, key, what, sizeof(what)));
	}
	if (!err)
		*size = (uint64_t)r.content_length;
	req_free(&r);
	return err;
}

enum kt_err kt_s3_delete(struct kt_s3 *s3, const char *key, struct kt_diag *diag)
{
	enum kt_err err = check_key(s3, key, diag);
	if (err)
		return err;
	struct req r;
	req_init(&r, "DELETE", key);
	err = do_request(s3, &r, diag);
	req_free(&r);
	return err;
}

struct list_ctx {
	struct kt_s3 *s3;
	kt_s3_list_fn fn;
	void *ctx;
	size_t strip;
};

static enum kt_err list_one(void *ud, const char *key, int64_t size)
{
	struct list_ctx *lc = ud;
	if (strncmp(key, lc->s3->prefix, lc->strip) != 0)
		return KT_OK; /* not under our prefix: the server filtered badly */
	size_t n = strlen(key);
	if (n && key[n - 1] == '/')
		return KT_OK; /* a "folder": S3Proxy's filesystem provider lists each directory so */
	return lc->fn(lc->ctx, key + lc->strip, size);
}

enum kt_err kt_s3_list(struct kt_s3 *s3, const char *prefix, kt_s3_list_fn fn, void *ctx, struct kt_diag *diag)
{
	struct kt_buf fp, token, query;
	kt_buf_init(&fp, 64 * 1024);
	kt_buf_init(&token, 64 * 1024);
	kt_buf_init(&query, 256 * 1024);
	enum kt_err err = full_key(s3, prefix ? prefix : "", &fp);
	struct list_ctx lc = {s3, fn, ctx, strlen(s3->prefix)};
	int pages = 0;
	while (!err) {
		/* the canonical query: names sorted, values encoded */
		kt_buf_reset(&query);
		if (token.len) {
			err = kt_buf_printf(&query, "continuation-token=");
			if (!err)
				err = kt_s3_uri_encode(&query, (const char *)token.data, token.len, 0);
			if (!err)
				err = kt_buf_append_u8(&query, '&');
		}
		if (!err)
			err = kt_buf_printf(&query, "list-type=2&max-keys=%d", s3->list_page);
		if (!err && fp.len) {
			err = kt_buf_printf(&query, "&prefix=");
			if (!err)
				err = kt_s3_uri_encode(&query, (const char *)fp.data, fp.len, 0);
		}
		if (!err)
			err = kt_buf_append_u8(&query, 0);
		if (err) {
			err = fail(s3, diag, err, "list of bucket '%s': %s", s3->bucket, kt_err_str(err));
			break;
		}
		struct req r;
		req_init(&r, "GET", NULL);
		r.query = (const char *)query.data;
		err = do_request(s3, &r, diag);
		int truncated = 0;
		if (!err) {
			err = kt_s3_parse_list((const char *)r.resp.data, r.resp.len, list_one, &lc, &truncated, &token,
					       diag);
			if (err == KT_ERR_FORMAT)
				kt_diag_prefix(diag, "list of bucket '%s' at %s (page %d)", s3->bucket, s3->endpoint,
					       pages + 1);
		}
		req_free(&r);
		pages++;
		if (err || !truncated)
			break;
	}
	kt_buf_free(&fp);
	kt_buf_free(&token);
	kt_buf_free(&query);
	return err;
}

/* ----------------------------------------------------------- multipart -- */

static void upload_free(struct kt_s3_upload *up)
{
	if (!up)
		return;
	free(up->key);
	free(up->upload_id);
	kt_buf_free(&up->etags);
	free(up);
}

/* "partNumber=N&uploadId=ID" or "uploadId=ID" into q, NUL-terminated. */
static enum kt_err upload_query(const struct kt_s3_upload *up, int part, struct kt_buf *q)
{
	kt_buf_reset(q);
	enum kt_err err = part ? kt_buf_printf(q, "partNumber=%d&", part) : KT_OK;
	if (!err)
		err = kt_buf_printf(q, "uploadId=");
	if (!err)
		err = kt_s3_uri_encode(q, up->upload_id, strlen(up->upload_id), 0);
	if (!err)
		err = kt_buf_append_u8(q, 0);
	return err;
}

enum kt_err kt_s3_upload_begin(struct kt_s3 *s3, const char *key, struct kt_s3_upload **out, struct kt_diag *diag)
{
	*out = NULL;
	enum kt_err err = check_key(s3, key, diag);
	if (err)
		return err;
	struct kt_s3_upload *up = calloc(1, sizeof(*up));
	if (!up || !(up->key = strdup(key))) {
		free(up);
		return fail(s3, diag, KT_ERR_NOMEM, "out of memory");
	}
	up->s3 = s3;
	kt_buf_init(&up->etags, (size_t)KT_S3_PARTS_MAX * 256);
	struct req r;
	req_init(&r, "POST", key);
	r.query = "uploads=";
	err = do_request(s3, &r, diag);
	char id[1024] = "";
	if (!err) {
		kt_s3_xml_text((const char *)r.resp.data, r.resp.len, "UploadId", id, sizeof(id));
		if (!*id) {
			char what[1024];
			err = fail(s3, diag, KT_ERR_STORAGE, "POST %s?uploads: no UploadId in the answer",
				   describe(s3, key, what, sizeof(what)));
		} else if (!(up->upload_id = strdup(id))) {
			err = fail(s3, diag, KT_ERR_NOMEM, "out of memory");
		}
	}
	req_free(&r);
	if (err) {
		upload_free(up);
		return err;
	}
	*out = up;
	return KT_OK;
}

enum kt_err kt_s3_upload_part(struct kt_s3_upload *up, const void *data, size_t len, struct kt_diag *diag)
{
	struct kt_s3 *s3 = up->s3;
	char what[1024];
	describe(s3, up->key, what, sizeof(what));
	if (up->parts >= KT_S3_PARTS_MAX)
		return fail(s3, diag, KT_ERR_LIMIT, "upload of %s: more than %d parts", what, KT_S3_PARTS_MAX);
	struct kt_buf q;
	kt_buf_init(&q, 4096);
	enum kt_err err = upload_query(up, up->parts + 1, &q);
	if (err) {
		kt_buf_free(&q);
		return fail(s3, diag, err, "upload of %s: %s", what, kt_err_str(err));
	}
	struct req r;
	req_init(&r, "PUT", up->key);
	r.query = (const char *)q.data;
	r.body = data;
	r.body_len = len;
	err = do_request(s3, &r, diag);
	if (!err && !*r.etag)
		err = fail(s3, diag, KT_ERR_STORAGE, "upload of %s: part %d answered without an ETag", what,
			   up->parts + 1);
	if (!err && (err = kt_buf_append(&up->etags, r.etag, strlen(r.etag) + 1)) != KT_OK)
		err = fail(s3, diag, err, "upload of %s: %s", what, kt_err_str(err));
	if (!err) {
		up->parts++;
		up->bytes += len;
	}
	req_free(&r);
	kt_buf_free(&q);
	return err;
}

enum kt_err kt_s3_upload_complete(struct kt_s3_upload *up, struct kt_diag *diag)
{
	struct kt_s3 *s3 = up->s3;
	char what[1024];
	describe(s3, up->key, what, sizeof(what));
	if (up->parts == 0) {
		kt_s3_upload_abort(up);
		return fail(s3, diag, KT_ERR_STATE, "upload of %s: no parts to complete", what);
	}
	struct kt_buf body, q;
	kt_buf_init(&body, (size_t)KT_S3_PARTS_MAX * 400 + 256);
	kt_buf_init(&q, 4096);
	enum kt_err err = kt_buf_printf(&body, "<CompleteMultipartUpload>");
	const char *etag = (const char *)up->etags.data;
	for (int i = 0; i < up->parts && !err; i++) {
		err = kt_buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
		if (!err)
			err = kt_s3_xml_escape(&body, etag, strlen(etag));
		if (!err)
			err = kt_buf_printf(&body, "</ETag></Part>");
		etag += strlen(etag) + 1;
	}
	if (!err)
		err = kt_buf_printf(&body, "</CompleteMultipartUpload>");
	if (!err)
		err = upload_query(up, 0, &q);
	if (err) {
		err = fail(s3, diag, err, "upload of %s: %s", what, kt_err_str(err));
	} else {
		struct req r;
		req_init(&r, "POST", up->key);
		r.query = (const char *)q.data;
		r.body = body.data;
		r.body_len = body.len;
		r.error_in_200 = 1;
		int64_t retries0 = s3->stats.retries;
		err = do_request(s3, &r, diag);
		if (err == KT_ERR_NOT_FOUND && !strcmp(r.code, "NoSuchUpload") && s3->stats.retries > retries0) {
			/* A retry after a lost answer finds the upload gone: the
			 * first attempt completed it if the object is there
			 * with all its bytes. */
			uint64_t size = 0;
			if (kt_s3_head(s3, up->key, &size, NULL) == KT_OK && size == up->bytes)
				err = KT_OK;
		}
		req_free(&r);
	}
	kt_buf_free(&body);
	kt_buf_free(&q);
	if (err) {
		kt_s3_upload_abort(up);
		return err;
	}
	upload_free(up);
	return KT_OK;
}

void kt_s3_upload_abort(struct kt_s3_upload *up)
{
	if (!up)
		return;
	struct kt_buf q;
	kt_buf_init(&q, 4096);
	if (up->upload_id && upload_query(up, 0, &q) == KT_OK) {
		struct req r;
		req_init(&r, "DELETE", up->key);
		r.query = (const char *)q.data;
		do_request(up->s3, &r, NULL); /* best effort: a bucket lifecycle rule reaps the rest */
		req_free(&r);
	}
	kt_buf_free(&q);
	upload_free(up);
}
