/* kt_s3.h - a client of the S3 API (AWS S3 and compatible stores) over
 * libcurl: put, ranged get, head, delete, list, multipart upload. Knows
 * nothing of the archive layout: keys are opaque strings.
 *
 * Owns: struct kt_s3 (one curl handle, the resolved endpoint, region and
 * credentials, the counters) and struct kt_s3_upload (one multipart
 * upload in progress). The only includer of <curl/curl.h> (and of
 * OpenSSL's libcrypto, for the SHA-256 that S3 wants of each payload).
 *
 * Requests are signed with SigV4 (CURLOPT_AWS_SIGV4) and carry
 * x-amz-content-sha256: the SHA-256 of the body, so that S3 also checks
 * that the bytes it stored are the bytes sent.
 *
 * Resolution in kt_s3_open (the AWS tools' rules):
 *   endpoint     cfg, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else
 *                https://s3.REGION.amazonaws.com
 *   region       cfg, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1
 *   path style   cfg 1/0; -1 = virtual-hosted (BUCKET.host) on amazonaws.com
 *                for a DNS-safe bucket without dots, path-style
 *                (host/BUCKET/KEY) everywhere else
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
 *                else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
 *                else ~/.aws/credentials), profile AWS_PROFILE or "default"
 *   CA bundle    AWS_CA_BUNDLE (a PEM file), else curl's default
 * Credentials never appear in a message: diagnostics name the bucket, the
 * key, the endpoint and S3's error code and message, and any message that
 * would contain the secret or the session token has it masked.
 *
 * Retries: HTTP 5xx but 501, 429, S3's SlowDown/RequestTimeout/
 * InternalError codes (also in a 200 to CompleteMultipartUpload) and
 * connection failures (refused, reset, DNS, timeouts) are retried with
 * exponential backoff (100 ms doubling to 5 s, with jitter) until the
 * call's budget, cfg.timeout_ms, is spent: then KT_ERR_TIMEOUT naming the
 * last failure (or, once cfg.stop is set, KT_ERR_INTERRUPTED).
 * Each public call has its own budget, transfers included: a PUT or GET
 * of many MiB needs a budget its bytes fit in. Other answers are final:
 *   404 NoSuchBucket/NoSuchKey/NoSuchUpload   KT_ERR_NOT_FOUND
 *   412 (or 409 conditional conflict) on a
 *       KT_S3_IF_NONE_MATCH write              KT_ERR_EXISTS
 *   416 (a range past the end)                 KT_ERR_TRUNCATED
 *   403, 400 and the rest                      KT_ERR_STORAGE, with S3's code
 *
 * Not thread-safe: one struct kt_s3 per thread.
 */
#ifndef KT_S3_H
#define KT_S3_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_buf.h"
#include "kt_error.h"
#include "kt_s3_parse.h" /* kt_s3_list_fn */

/* S3's smallest part of a multipart upload but the last (5 MiB), and its
 * largest part count. */
#define KT_S3_PART_MIN	((size_t)5 << 20)
#define KT_S3_PARTS_MAX 10000
/* kt_s3_put flag: write only if the key does not exist (If-None-Match: *).
 * Honoured by AWS S3; S3Proxy 2.6.0 ignores it and overwrites
 * (tools/s3-local help). After a retry, KT_ERR_EXISTS can mean that the
 * lost first attempt wrote it: a caller that must know compares the
 * object's content. */
#define KT_S3_IF_NONE_MATCH 1

struct kt_s3_config {
	const char *endpoint; /* http(s)://host[:port]; NULL: from the environment */
	const char *region;   /* NULL: from the environment */
	int path_style;	      /* 1 path-style, 0 virtual-hosted, -1 auto */
	const char *bucket;   /* required */
	/* Prepended to every key and stripped from listed keys; a '/' is
	 * added when it does not end with one. NULL or "" for none. */
	const char *prefix;
	int64_t timeout_ms; /* budget of each call, retries included; <= 0: 30 s */
	int list_page;	    /* max-keys of a list request; <= 0: 1000 (S3's cap) */
	/* Set by a signal handler (or NULL): once it is non-zero, a failed
	 * attempt is not retried and a backoff wait ends at once, giving
	 * KT_ERR_INTERRUPTED. A transfer under way is left to finish. */
	volatile sig_atomic_t *stop;
};

struct kt_s3_stats {
	int64_t requests;	/* HTTP requests made, retries included */
	int64_t retries;	/* of which repeated after a retryable failure */
	int64_t bytes_sent;	/* request bodies */
	int64_t bytes_received; /* response bodies (object bytes, XML) */
};

struct kt_s3;
struct kt_s3_upload;

/* Resolves the configuration and credentials and makes the client; sends
 * nothing. KT_ERR_INVALID for a bad endpoint or missing credentials. */
enum kt_err kt_s3_open(const struct kt_s3_config *cfg, struct kt_s3 **out, struct kt_diag *diag);
void kt_s3_close(struct kt_s3 *s3); /* NULL is a no-op */

/* The endpoint, region and bucket in use (borrowed, for messages). */
const char *kt_s3_endpoint(const struct kt_s3 *s3);
const char *kt_s3_region(const struct kt_s3 *s3);
const char *kt_s3_bucket(const struct kt_s3 *s3);
void kt_s3_stats(const struct kt_s3 *s3, struct kt_s3_stats *out);

/* Keys are any UTF-8, but "." and ".." path segments ("a/../b") and empty
 * ones ("a//b"), which S3 takes, are refused (400) or folded by S3Proxy's
 * Jetty and filesystem provider: portable keys have none. */

/* Writes the object whole (one PUT; S3 takes up to 5 GiB so). flags:
 * KT_S3_IF_NONE_MATCH or 0. */
enum kt_err kt_s3_put(struct kt_s3 *s3, const char *key, const void *data, size_t len, int flags, struct kt_diag *diag);
/* Does the store honour KT_S3_IF_NONE_MATCH? Removes `key` (a scratch
 * object the caller names, not shared with another probe at the same
 * time), writes it twice with the flag, removes it again: *honoured is 1
 * when the second write was refused (AWS S3), 0 when it overwrote
 * (S3Proxy 2.6.0). Four requests. */
enum kt_err kt_s3_probe_if_none_match(struct kt_s3 *s3, const char *key, int *honoured, struct kt_diag *diag);
/* Appends bytes [offset, offset + length) of the object to out (length 0:
 * to the end), by a Range request. The object must have them all: a short
 * answer is KT_ERR_TRUNCATED. On failure out->len is as before. out->max
 * caps what is accepted (KT_ERR_LIMIT). */
enum kt_err kt_s3_get(struct kt_s3 *s3, const char *key, uint64_t offset, uint64_t length, struct kt_buf *out,
		      struct kt_diag *diag);
/* The object's size. KT_ERR_NOT_FOUND when it does not exist. */
enum kt_err kt_s3_head(struct kt_s3 *s3, const char *key, uint64_t *size, struct kt_diag *diag);
/* Removes the object; a missing one is not an error (S3 does not say). */
enum kt_err kt_s3_delete(struct kt_s3 *s3, const char *key, struct kt_diag *diag);
/* Calls fn for every object whose key starts with prefix ("" or NULL: all
 * under the configured prefix), in S3's order (UTF-8 byte order), with the
 * key relative to the configured prefix (borrowed for the call). fn's
 * non-OK result stops the listing and is returned. Keys that end in '/'
 * are skipped: they are "folders" (the S3 console's markers; S3Proxy's
 * filesystem provider lists every directory so, with size 4096). */
enum kt_err kt_s3_list(struct kt_s3 *s3, const char *prefix, kt_s3_list_fn fn, void *ctx, struct kt_diag *diag);

/* Multipart upload: begin, parts in order (each but the last at least
 * KT_S3_PART_MIN bytes: S3 refuses the completion otherwise), complete.
 * The object appears only at complete. complete and abort both free up;
 * a failed complete aborts the upload first (a retried complete that
 * finds the upload gone checks that the object has all the parts' bytes:
 * the lost first answer did it). abort never fails (NULL is a no-op), so
 * every error path may call it; an upload it could not abort is left to
 * the bucket's lifecycle rule (AbortIncompleteMultipartUpload). */
enum kt_err kt_s3_upload_begin(struct kt_s3 *s3, const char *key, struct kt_s3_upload **out, struct kt_diag *diag);
enum kt_err kt_s3_upload_part(struct kt_s3_upload *up, const void *data, size_t len, struct kt_diag *diag);
enum kt_err kt_s3_upload_complete(struct kt_s3_upload *up, struct kt_diag *diag);
void kt_s3_upload_abort(struct kt_s3_upload *up);

#endif
