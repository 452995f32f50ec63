#include "kt_s3_parse.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kt_parse.h"

enum kt_err kt_s3_uri_encode(struct kt_buf *out, const char *s, size_t len, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			    c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
		enum kt_err err;
		if (plain) {
			err = kt_buf_append_u8(out, c);
		} else {
			const uint8_t esc[3] = {'%', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
			err = kt_buf_append(out, esc, sizeof(esc));
		}
		if (err)
			return err;
	}
	return KT_OK;
}

/* Is xml[i..] the tag "<name" followed by '>', '/' or white space? */
static int tag_at(const char *xml, size_t len, size_t i, const char *name, size_t nlen)
{
	if (i + 1 + nlen >= len || xml[i] != '<' || memcmp(xml + i + 1, name, nlen) != 0)
		return 0;
	char c = xml[i + 1 + nlen];
	return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int kt_s3_xml_next(const char *xml, size_t len, size_t *pos, const char *name, const char **text, size_t *text_len)
{
	size_t nlen = strlen(name);
	for (size_t i = *pos; i < len; i++) {
		if (xml[i] != '<' || !tag_at(xml, len, i, name, nlen))
			continue;
		const char *gt = memchr(xml + i, '>', len - i);
		if (!gt)
			return 0;
		size_t start = (size_t)(gt - xml) + 1;
		if (gt[-1] == '/') { /* <name/> */
			*text = xml + start;
			*text_len = 0;
			*pos = start;
			return 1;
		}
		for (size_t j = start; j + 3 + nlen <= len; j++) {
			if (xml[j] == '<' && xml[j + 1] == '/' && memcmp(xml + j + 2, name, nlen) == 0 &&
			    xml[j + 2 + nlen] == '>') {
				*text = xml + start;
				*text_len = j - start;
				*pos = j + 3 + nlen;
				return 1;
			}
		}
		return 0;
	}
	return 0;
}

/* Appends code point cp as UTF-8. */
static enum kt_err append_utf8(struct kt_buf *out, uint32_t cp)
{
	uint8_t b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xC0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xE0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xF0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
		b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		b[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return kt_buf_append(out, b, n);
}

/* The value of a numeric entity body ("#65", "#x41"), or -1. */
static int64_t numeric_entity(const char *s, size_t len)
{
	if (len < 2 || s[0] != '#')
		return -1;
	int base = 10;
	size_t i = 1;
	if (s[1] == 'x' || s[1] == 'X') {
		base = 16;
		i = 2;
	}
	if (i == len || len - i > 8)
		return -1;
	int64_t v = 0;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int d = base == 16 ? kt_parse_hex_digit(c) : c >= '0' && c <= '9' ? c - '0' : -1;
		if (d < 0)
			return -1;
		v = v * base + d;
	}
	return v;
}

enum kt_err kt_s3_xml_unescape(struct kt_buf *out, const char *s, size_t len, struct kt_diag *diag)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
	enum kt_err err = KT_OK;
	for (size_t i = 0; i < len && !err; i++) {
		if (s[i] == '\0')
			return kt_diag_fail(diag, KT_ERR_FORMAT, "NUL byte in XML text");
		if (s[i] != '&') {
			err = kt_buf_append_u8(out, (uint8_t)s[i]);
			continue;
		}
		const char *semi = memchr(s + i, ';', len - i);
		if (!semi)
			return kt_diag_fail(diag, KT_ERR_FORMAT, "unterminated XML entity at byte %zu", i);
		const char *body = s + i + 1;
		size_t blen = (size_t)(semi - body);
		int done = 0;
		for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
			if (strlen(named[k].name) == blen && memcmp(body, named[k].name, blen) == 0) {
				err = kt_buf_append_u8(out, (uint8_t)named[k].c);
				done = 1;
				break;
			}
		}
		if (!done) {
			int64_t cp = numeric_entity(body, blen);
			if (cp <= 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
				return kt_diag_fail(diag, KT_ERR_FORMAT, "bad XML entity at byte %zu", i);
			err = append_utf8(out, (uint32_t)cp);
		}
		i = (size_t)(semi - s);
	}
	if (!err)
		err = kt_buf_reserve(out, 1);
	if (err)
		return kt_diag_fail(diag, err, "XML text: %s", kt_err_str(err));
	out->data[out->len] = '\0';
	return KT_OK;
}

enum kt_err kt_s3_xml_escape(struct kt_buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		const char *rep = NULL;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		}
		enum kt_err err = rep ? kt_buf_append(out, rep, strlen(rep)) : kt_buf_append_u8(out, (uint8_t)s[i]);
		if (err)
			return err;
	}
	return KT_OK;
}

void kt_s3_xml_text(const char *xml, size_t len, const char *name, char *buf, size_t bufsize)
{
	if (bufsize == 0)
		return;
	buf[0] = '\0';
	size_t pos = 0;
	const char *text;
	size_t tlen;
	if (!xml || !kt_s3_xml_next(xml, len, &pos, name, &text, &tlen))
		return;
	struct kt_buf b;
	kt_buf_init(&b, 64 * 1024);
	if (kt_s3_xml_unescape(&b, text, tlen, NULL) == KT_OK) {
		size_t n = b.len < bufsize - 1 ? b.len : bufsize - 1;
		memcpy(buf, b.data, n);
		buf[n] = '\0';
	}
	kt_buf_free(&b);
}

/* A non-negative decimal integer that fits int64_t, or -1. */
static int64_t parse_size(const char *s, size_t len)
{
	if (len == 0 || len > 18)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

enum kt_err kt_s3_parse_list(const char *xml, size_t len, kt_s3_list_fn fn, void *ctx, int *truncated,
			     struct kt_buf *next_token, struct kt_diag *diag)
{
	size_t pos = 0;
	const char *text;
	size_t tlen;
	*truncated = 0;
	kt_buf_reset(next_token);
	if (kt_s3_xml_next(xml, len, &pos, "IsTruncated", &text, &tlen))
		*truncated = tlen == 4 && memcmp(text, "true", 4) == 0;
	pos = 0;
	if (kt_s3_xml_next(xml, len, &pos, "NextContinuationToken", &text, &tlen)) {
		enum kt_err err = kt_s3_xml_unescape(next_token, text, tlen, diag);
		if (err)
			return err;
	}
	if (*truncated && next_token->len == 0)
		return kt_diag_fail(diag, KT_ERR_FORMAT, "a truncated list without NextContinuationToken");

	struct kt_buf key;
	kt_buf_init(&key, 64 * 1024);
	enum kt_err err = KT_OK;
	pos = 0;
	while (!err && kt_s3_xml_next(xml, len, &pos, "Contents", &text, &tlen)) {
		size_t p = 0;
		const char *k, *sz;
		size_t klen, szlen;
		if (!kt_s3_xml_next(text, tlen, &p, "Key", &k, &klen)) {
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "a <Contents> without <Key>");
			break;
		}
		p = 0;
		if (!kt_s3_xml_next(text, tlen, &p, "Size", &sz, &szlen)) {
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "a <Contents> without <Size>");
			break;
		}
		int64_t size = parse_size(sz, szlen);
		if (size < 0) {
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "a <Size> that is not a byte count");
			break;
		}
		kt_buf_reset(&key);
		err = kt_s3_xml_unescape(&key, k, klen, diag);
		if (!err && strlen((const char *)key.data) != key.len)
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "a key with a NUL byte");
		if (!err)
			err = fn(ctx, (const char *)key.data, size);
	}
	kt_buf_free(&key);
	return err;
}

/* ----------------------------------------------------- credentials file -- */

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims [*s, *s + *len) of white space on both ends. */
static void trim(const char **s, size_t *len)
{
	while (*len && is_space(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_space((*s)[*len - 1]))
		(*len)--;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void kt_s3_creds_free(struct kt_s3_creds *creds)
{
	if (!creds)
		return;
	wipe_free(creds->access_key);
	wipe_free(creds->secret_key);
	wipe_free(creds->session_token);
	creds->access_key = creds->secret_key = creds->session_token = NULL;
}

static enum kt_err set_value(char **slot, const char *v, size_t vlen)
{
	char *s = malloc(vlen + 1);
	if (!s)
		return KT_ERR_NOMEM;
	memcpy(s, v, vlen);
	s[vlen] = '\0';
	wipe_free(*slot);
	*slot = s;
	return KT_OK;
}

enum kt_err kt_s3_creds_parse(const char *text, size_t len, const char *profile, const char *source,
			      struct kt_s3_creds *out, struct kt_diag *diag)
{
	memset(out, 0, sizeof(*out));
	int in_profile = 0, found = 0, after_key = 0;
	size_t line_no = 0;
	size_t i = 0;
	enum kt_err err = KT_OK;
	while (i < len && !err) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *line = text + i;
		size_t llen = end - i;
		i = end + 1;
		line_no++;
		int indented = llen > 0 && (line[0] == ' ' || line[0] == '\t');
		trim(&line, &llen);
		if (llen == 0 || line[0] == '#' || line[0] == ';')
			continue;
		/* As in the AWS tools' parser (Python's configparser): an
		 * indented line after a key continues its value (nested
		 * settings such as "s3 =" blocks), nothing ktape reads. */
		if (indented && after_key)
			continue;
		if (line[0] == '[') {
			if (line[llen - 1] != ']') {
				err = kt_diag_fail(diag, KT_ERR_FORMAT, "%s line %zu: a section header without ']'",
						   source, line_no);
				break;
			}
			/* the name between the brackets as it is: "[ a ]" is " a " */
			in_profile = strlen(profile) == llen - 2 && memcmp(line + 1, profile, llen - 2) == 0;
			found |= in_profile;
			after_key = 0;
			continue;
		}
		size_t klen = 0;
		while (klen < llen && line[klen] != '=' && line[klen] != ':')
			klen++;
		if (klen == llen) {
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "%s line %zu: not a '[profile]' or 'key = value' line",
					   source, line_no);
			break;
		}
		after_key = 1;
		if (!in_profile)
			continue;
		const char *k = line, *v = line + klen + 1;
		size_t vlen = llen - klen - 1;
		trim(&k, &klen);
		trim(&v, &vlen);
		char **slot = NULL;
		if (klen == 17 && strncasecmp(k, "aws_access_key_id", klen) == 0)
			slot = &out->access_key;
		else if (klen == 21 && strncasecmp(k, "aws_secret_access_key", klen) == 0)
			slot = &out->secret_key;
		else if (klen == 17 && strncasecmp(k, "aws_session_token", klen) == 0)
			slot = &out->session_token;
		if (slot)
			err = set_value(slot, v, vlen);
	}
	if (!err && !found)
		err = kt_diag_fail(diag, KT_ERR_NOT_FOUND, "no profile '%s' in %s", profile, source);
	else if (!err && (!out->access_key || !*out->access_key))
		err = kt_diag_fail(diag, KT_ERR_INVALID, "profile '%s' in %s has no aws_access_key_id", profile,
				   source);
	else if (!err && (!out->secret_key || !*out->secret_key))
		err = kt_diag_fail(diag, KT_ERR_INVALID, "profile '%s' in %s has no aws_secret_access_key", profile,
				   source);
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "reading %s: out of memory", source);
	if (!err && out->session_token && !*out->session_token) {
		wipe_free(out->session_token);
		out->session_token = NULL;
	}
	if (err)
		kt_s3_creds_free(out);
	return err;
}
