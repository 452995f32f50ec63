/* kt_s3_parse.h - the pieces of the S3 client that need no network: URI
 * encoding as SigV4 wants it, the little XML that S3 answers with, and the
 * AWS shared credentials file. Split from kt_s3.c so that unit tests reach
 * them without a server.
 *
 * Owns: struct kt_s3_creds (its strings are the struct's; kt_s3_creds_free
 * wipes and frees them). Everything else writes into a caller's kt_buf.
 *
 * The XML reader is not a general XML parser: S3's responses are flat,
 * elements carry no attributes that matter here, and text never holds a raw
 * '<' (it is escaped), so an element's text is what lies between <Name> and
 * the next </Name>. Entities (&amp; &lt; &gt; &quot; &apos; &#N; &#xH;) are
 * decoded; a key with an undecodable entity or a NUL is a format error.
 */
#ifndef KT_S3_PARSE_H
#define KT_S3_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "kt_buf.h"
#include "kt_error.h"

/* Appends s[0..len) percent-encoded: every byte but A-Z a-z 0-9 - . _ ~ (and
 * '/' when keep_slash, for the path of an object key) becomes %XX with
 * upper-case hex, as SigV4's canonical request wants (and S3 does not
 * encode twice). Not NUL-terminated. */
enum kt_err kt_s3_uri_encode(struct kt_buf *out, const char *s, size_t len, int keep_slash);

/* Finds the next element <name>...</name> (or <name/>) in xml[*pos..len).
 * Returns 1 and sets *text and *text_len to the raw (still escaped) text and
 * *pos past the closing tag, or 0 when there is none (or it is not
 * closed). */
int kt_s3_xml_next(const char *xml, size_t len, size_t *pos, const char *name, const char **text, size_t *text_len);
/* Appends the text s[0..len) with its entities decoded, NUL-terminated
 * (the NUL is not counted in out->len). KT_ERR_FORMAT on a bad entity, a
 * numeric one outside Unicode or naming NUL. */
enum kt_err kt_s3_xml_unescape(struct kt_buf *out, const char *s, size_t len, struct kt_diag *diag);
/* Appends s[0..len) escaped for XML text (& < > " '). */
enum kt_err kt_s3_xml_escape(struct kt_buf *out, const char *s, size_t len);
/* The decoded text of the first <name> element into buf (cut to bufsize - 1
 * bytes); "" when there is none. For error codes and messages. */
void kt_s3_xml_text(const char *xml, size_t len, const char *name, char *buf, size_t bufsize);

/* One ListObjectsV2 page: calls fn for each <Contents> with its decoded
 * key and size (fn's non-OK result stops the walk and is returned). Sets
 * *truncated from <IsTruncated> and next_token (reset first) to the decoded
 * <NextContinuationToken>, NUL-terminated. */
typedef enum kt_err (*kt_s3_list_fn)(void *ctx, const char *key, int64_t size);
enum kt_err kt_s3_parse_list(const char *xml, size_t len, kt_s3_list_fn fn, void *ctx, int *truncated,
			     struct kt_buf *next_token, struct kt_diag *diag);

struct kt_s3_creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL when there is none */
};

/* Reads profile `profile` of an AWS shared credentials file, read as the
 * AWS tools read it (Python's configparser): [name] sections taken
 * literally, `key = value` or `key: value` lines (keys in any case),
 * whole-line '#' and ';' comments, LF or CRLF; an indented line after a
 * key continues that key's value and is skipped. Keys read:
 * aws_access_key_id, aws_secret_access_key, aws_session_token; a value is
 * the rest of its line, trimmed ('=', ':' and '#' included); a later value
 * wins. `source` names the file in messages. KT_ERR_NOT_FOUND when the
 * profile is missing, KT_ERR_INVALID when it lacks a key, KT_ERR_FORMAT
 * for a line that is none of the above. Messages name lines and keys,
 * never a value. */
enum kt_err kt_s3_creds_parse(const char *text, size_t len, const char *profile, const char *source,
			      struct kt_s3_creds *out, struct kt_diag *diag);
/* Wipes and frees the strings; the struct may be reused. NULL is a no-op. */
void kt_s3_creds_free(struct kt_s3_creds *creds);

#endif
