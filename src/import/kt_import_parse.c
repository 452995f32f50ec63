/* kt_import_parse.c - import source lines as records (see kt_import_parse.h).
 *
 * JSON goes through jansson: a well-kept parser (strict UTF-8, \u0000
 * allowed on request, exact 64-bit integers) rather than one written here.
 */
#include "kt_import_parse.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kt_parse.h"

/* A line is at most this long: far beyond Kafka's default 1 MiB message. */
#define SCRATCH_MAX (256u << 20)

void kt_import_format_init(struct kt_import_format *f, enum kt_import_kind kind)
{
	*f = (struct kt_import_format){.kind = kind,
				       .print_value = 1,
				       .key_separator = "\t",
				       .headers_separator = ",",
				       .headers_key_separator = ":",
				       .null_literal = "null"};
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "true"))
		*out = 1;
	else if (!strcmp(v, "false"))
		*out = 0;
	else
		return -1;
	return 0;
}

enum kt_err kt_import_format_console_props(struct kt_import_format *f, char *props, struct kt_diag *diag)
{
	/* comma-separated name=value pairs; a value may not hold a comma
	 * (headers.separator=, is the default anyway) */
	char *save = NULL;
	for (char *kv = strtok_r(props, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq)
			return kt_diag_fail(diag, KT_ERR_INVALID, "--console-props: '%s' is not NAME=VALUE", kv);
		*eq = '\0';
		const char *v = eq + 1;
		struct {
			const char *name;
			int *flag;
		} flags[] = {{"print.timestamp", &f->print_timestamp},
			     {"print.partition", &f->print_partition},
			     {"print.offset", &f->print_offset},
			     {"print.headers", &f->print_headers},
			     {"print.key", &f->print_key},
			     {"print.value", &f->print_value}};
		int done = 0;
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]) && !done; i++) {
			if (strcmp(kv, flags[i].name))
				continue;
			if (parse_bool(v, flags[i].flag))
				return kt_diag_fail(diag, KT_ERR_INVALID, "--console-props: %s=%s: want true or false",
						    kv, v);
			done = 1;
		}
		if (done)
			continue;
		const char **str = !strcmp(kv, "key.separator")		  ? &f->key_separator
				   : !strcmp(kv, "headers.separator")	  ? &f->headers_separator
				   : !strcmp(kv, "headers.key.separator") ? &f->headers_key_separator
				   : !strcmp(kv, "null.literal")	  ? &f->null_literal
									  : NULL;
		if (!str)
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "--console-props: unknown property '%s' (print.timestamp, print.partition, "
					    "print.offset, print.headers, print.key, print.value, key.separator, "
					    "headers.separator, headers.key.separator, null.literal)",
					    kv);
		if (!*v && str != &f->null_literal)
			return kt_diag_fail(diag, KT_ERR_INVALID, "--console-props: %s may not be empty", kv);
		*str = v;
	}
	if (!f->print_value)
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "--console-props: print.value=false leaves no value to import");
	return KT_OK;
}

/* ---- the parser and its arena ---- */

/* jansson allocates every node, key and string of a document with its own
 * malloc and frees each at json_decref, and its lexer's buffer grows by
 * copying: some forty calls a line, a fifth of an import's CPU. While a
 * parser parses, jansson's allocations on that thread come from the
 * parser's arena (a bump pointer, emptied after every line; a free inside
 * it does nothing); what does not fit goes to malloc and free as usual. A
 * document never outlives its line's parse (the record's bytes are copied
 * into the line's scratch first), so the arena is never in use by two
 * threads, and pointers into it never escape. */
#define ARENA_BYTES (256u << 10)

struct kt_import_parser {
	struct kt_import_format fmt;
	unsigned char *arena;
	size_t used;
};

static _Thread_local struct kt_import_parser *active;

static int in_arena(const struct kt_import_parser *p, const void *ptr)
{
	uintptr_t a = (uintptr_t)p->arena, x = (uintptr_t)ptr;
	return x >= a && x < a + ARENA_BYTES;
}

static void *arena_malloc(size_t n)
{
	struct kt_import_parser *p = active;
	size_t need = (n + 15) & ~(size_t)15; /* malloc's alignment */
	if (p && need >= n && need <= ARENA_BYTES - p->used) {
		void *r = p->arena + p->used;
		p->used += need;
		return r;
	}
	return malloc(n);
}

static void arena_free(void *ptr)
{
	struct kt_import_parser *p = active;
	if (p && in_arena(p, ptr))
		return;
	free(ptr);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
	/* jansson seeds its hash function on first use, which must not
	 * happen on two threads at once */
	json_object_seed(0);
	/* outside a parse (no active parser) these are malloc and free */
	json_set_alloc_funcs(arena_malloc, arena_free);
}

enum kt_err kt_import_parser_new(const struct kt_import_format *f, struct kt_import_parser **out)
{
	pthread_once(&init_once, init);
	struct kt_import_parser *p = calloc(1, sizeof(*p));
	if (!p || !(p->arena = malloc(ARENA_BYTES))) {
		free(p);
		return KT_ERR_NOMEM;
	}
	p->fmt = *f;
	*out = p;
	return KT_OK;
}

void kt_import_parser_free(struct kt_import_parser *p)
{
	if (!p)
		return;
	free(p->arena);
	free(p);
}

void kt_import_line_init(struct kt_import_line *l)
{
	memset(l, 0, sizeof(*l));
	kt_buf_init(&l->scratch, SCRATCH_MAX);
	kt_buf_init(&l->mapped, SCRATCH_MAX);
}

void kt_import_line_free(struct kt_import_line *l)
{
	free(l->headers);
	l->headers = NULL;
	kt_buf_free(&l->scratch);
	kt_buf_free(&l->mapped);
}

static void reset(struct kt_import_line *l)
{
	l->doc = NULL;
	memset(&l->rec, 0, sizeof(l->rec));
	l->rec.key_null = l->rec.value_null = 1;
	l->rec.timestamp = -1;
	l->has_offset = l->has_partition = l->has_timestamp = 0;
	l->partition = 0;
	kt_buf_reset(&l->scratch);
}

static struct kt_header *push_header(struct kt_import_line *l)
{
	if (l->rec.header_count == l->header_cap) {
		size_t cap = l->header_cap ? l->header_cap * 2 : 8;
		struct kt_header *h = realloc(l->headers, cap * sizeof(*h));
		if (!h)
			return NULL;
		l->headers = h;
		l->header_cap = cap;
	}
	struct kt_header *h = &l->headers[l->rec.header_count++];
	memset(h, 0, sizeof(*h));
	l->rec.headers = l->headers;
	return h;
}

/* ---- base64 (RFC 4648, the alphabet and padding kt_base64_append writes) ---- */

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes into scratch, which the caller reserved (decoded bytes are
 * fewer than the line's), so that earlier fields' pointers stay valid. */
static int b64_decode(struct kt_buf *out, const char *s, size_t len, const uint8_t **p, size_t *n)
{
	if (len % 4)
		return -1;
	size_t pad = len && s[len - 1] == '=' ? (len > 1 && s[len - 2] == '=' ? 2 : 1) : 0;
	uint8_t *o = out->data + out->len;
	*p = o;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		for (int j = 0; j < 4; j++) {
			int last = i + 4 == len;
			if (last && s[i + j] == '=' && j >= 4 - (int)pad)
				v[j] = 0;
			else if ((v[j] = b64_val((unsigned char)s[i + j])) < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t k = i + 4 == len ? 3 - pad : 3;
		uint8_t b[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
		memcpy(o, b, k);
		o += k;
	}
	*n = (size_t)(o - *p);
	out->len += *n;
	return 0;
}

/* ---- JSON (ktape cat) ---- */

/* null | "text" | {"base64": "..."}: the bytes of kt_json_bytes. */
static enum kt_err json_bytes(struct kt_import_line *l, const char *what, json_t *v, int nullable, const uint8_t **p,
			      size_t *n, int *is_null, struct kt_diag *diag)
{
	*is_null = 0;
	if (json_is_null(v)) {
		if (!nullable)
			return kt_diag_fail(diag, KT_ERR_INVALID, "%s is null (it cannot be)", what);
		*is_null = 1;
		*p = NULL;
		*n = 0;
		return KT_OK;
	}
	if (json_is_string(v)) {
		/* into scratch: the document goes at the end of the parse
		 * (a mapped kcat line's strings are copied by kcat_unmap) */
		*p = (const uint8_t *)json_string_value(v);
		*n = json_string_length(v);
		if (!l->doc_strings) {
			uint8_t *o = l->scratch.data + l->scratch.len;
			memcpy(o, *p, *n);
			*p = o;
			l->scratch.len += *n;
		}
		return KT_OK;
	}
	json_t *b = json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, "base64") : NULL;
	if (!json_is_string(b))
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s is not null, a string or {\"base64\": \"...\"}", what);
	if (b64_decode(&l->scratch, json_string_value(b), json_string_length(b), p, n))
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s: bad base64", what);
	return KT_OK;
}

static enum kt_err json_int(json_t *v, const char *what, int64_t min, int64_t *out, struct kt_diag *diag)
{
	if (!json_is_integer(v) || json_integer_value(v) < min)
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s is not an integer >= %" PRId64, what, min);
	*out = json_integer_value(v);
	return KT_OK;
}

/* A "partition" field of either JSON layout: an integer 0..INT32_MAX. */
static enum kt_err json_partition(struct kt_import_line *l, json_t *v, struct kt_diag *diag)
{
	int64_t x = 0;
	enum kt_err err = json_int(v, "partition", 0, &x, diag);
	if (err)
		return err;
	if (x > INT32_MAX)
		return kt_diag_fail(diag, KT_ERR_INVALID, "partition %" PRId64 " is too large", x);
	l->partition = (int32_t)x;
	l->has_partition = 1;
	return KT_OK;
}

static enum kt_err load(struct kt_import_line *l, const char *line, size_t len, struct kt_diag *diag)
{
	json_error_t je;
	json_t *doc = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return kt_diag_fail(diag, KT_ERR_INVALID, "not JSON: %s at column %d", je.text, je.column);
	l->doc = doc;
	if (!json_is_object(doc))
		return kt_diag_fail(diag, KT_ERR_INVALID, "not a JSON object");
	return KT_OK;
}

static enum kt_err set_ts_type(struct kt_import_line *l, const char *s, const char *const names[3],
			       struct kt_diag *diag)
{
	static const enum kt_ts_type types[3] = {KT_TS_CREATE, KT_TS_LOG_APPEND, KT_TS_NONE};
	for (int i = 0; i < 3; i++)
		if (names[i] && !strcmp(s, names[i])) {
			l->rec.ts_type = types[i];
			return KT_OK;
		}
	return kt_diag_fail(diag, KT_ERR_INVALID, "unknown timestamp type \"%s\"", s);
}

static enum kt_err parse_json(struct kt_import_line *l, const char *line, size_t len, struct kt_diag *diag)
{
	enum kt_err err = load(l, line, len, diag);
	if (err)
		return err;
	static const char *const ts_names[3] = {"CreateTime", "LogAppendTime", "NoTimestampType"};
	const char *name;
	json_t *v;
	int has_type = 0;
	json_object_foreach((json_t *)l->doc, name, v)
	{
		if (!strcmp(name, "topic")) {
			if (!json_is_string(v))
				return kt_diag_fail(diag, KT_ERR_INVALID, "topic is not a string");
		} else if (!strcmp(name, "partition")) {
			if ((err = json_partition(l, v, diag)))
				return err;
		} else if (!strcmp(name, "offset")) {
			if ((err = json_int(v, "offset", 0, &l->rec.offset, diag)))
				return err;
			l->has_offset = 1;
		} else if (!strcmp(name, "timestamp")) {
			if ((err = json_int(v, "timestamp", -1, &l->rec.timestamp, diag)))
				return err;
			l->has_timestamp = 1;
		} else if (!strcmp(name, "timestamp_type")) {
			if (!json_is_string(v))
				return kt_diag_fail(diag, KT_ERR_INVALID, "timestamp_type is not a string");
			if ((err = set_ts_type(l, json_string_value(v), ts_names, diag)))
				return err;
			has_type = 1;
		} else if (!strcmp(name, "key")) {
			if ((err = json_bytes(l, "key", v, 1, &l->rec.key, &l->rec.key_len, &l->rec.key_null, diag)))
				return err;
		} else if (!strcmp(name, "value")) {
			if ((err = json_bytes(l, "value", v, 1, &l->rec.value, &l->rec.value_len, &l->rec.value_null,
					      diag)))
				return err;
		} else if (!strcmp(name, "headers")) {
			if (!json_is_array(v))
				return kt_diag_fail(diag, KT_ERR_INVALID, "headers is not an array");
			size_t i;
			json_t *pair;
			json_array_foreach(v, i, pair)
			{
				if (!json_is_array(pair) || json_array_size(pair) != 2)
					return kt_diag_fail(diag, KT_ERR_INVALID, "header %zu is not [name, value]", i);
				struct kt_header *h = push_header(l);
				if (!h)
					return KT_ERR_NOMEM;
				int name_null;
				char what[48];
				snprintf(what, sizeof(what), "header %zu's name", i);
				if ((err = json_bytes(l, what, json_array_get(pair, 0), 0, &h->name, &h->name_len,
						      &name_null, diag)))
					return err;
				snprintf(what, sizeof(what), "header %zu's value", i);
				if ((err = json_bytes(l, what, json_array_get(pair, 1), 1, &h->value, &h->value_len,
						      &h->value_null, diag)))
					return err;
			}
		} else {
			return kt_diag_fail(
				diag, KT_ERR_INVALID,
				"unknown field \"%s\" (topic, partition, offset, timestamp, timestamp_type, "
				"key, value, headers)",
				name);
		}
	}
	if (!has_type)
		l->rec.ts_type = l->has_timestamp && l->rec.timestamp < 0 ? KT_TS_NONE : KT_TS_CREATE;
	if (l->rec.ts_type != KT_TS_NONE && l->has_timestamp && l->rec.timestamp < 0)
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "timestamp -1 with a timestamp type other than NoTimestampType");
	return KT_OK;
}

/* ---- kcat -J ---- */

/* kcat writes a key or payload's bytes into its JSON strings as they are
 * (escaping only quotes, backslashes and control characters), so bytes that
 * are not UTF-8 make a line jansson refuses. Such bytes are handed to
 * jansson as the code points U+10FF80 + (b - 0x80), escaped, and turned back
 * into the bytes after parsing; bytes that already spell one of those code
 * points are passed the same way, so that the mapping is exact. */

/* The length of the valid UTF-8 sequence at p (RFC 3629), 0 if none. */
static size_t utf8_seq(const uint8_t *p, size_t left)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = p[0] >= 0xC2 && p[0] <= 0xDF	  ? 2
		   : p[0] >= 0xE0 && p[0] <= 0xEF ? 3
		   : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
						  : 0;
	if (!n || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F) || (p[0] == 0xF0 && p[1] < 0x90) ||
	    (p[0] == 0xF4 && p[1] > 0x8F))
		return 0;
	return n;
}

/* U+10FF80..U+10FFFF in UTF-8: F4 8F BE|BF 80..BF. */
static int is_mapped(const uint8_t *p, size_t left)
{
	return left >= 4 && p[0] == 0xF4 && p[1] == 0x8F && (p[2] == 0xBE || p[2] == 0xBF);
}

/* The line with every byte that is not part of valid UTF-8 (or is part of
 * a mapped code point) escaped as its code point; 0 when nothing needed it. */
static enum kt_err kcat_map(struct kt_buf *out, const char *line, size_t len, int *mapped)
{
	const uint8_t *p = (const uint8_t *)line;
	*mapped = 0;
	/* most lines are valid UTF-8 throughout, and most of that ASCII
	 * (eight bytes at a time): nothing is copied before the first byte
	 * that needs escaping */
	size_t i = 0;
	while (i < len) {
		uint64_t w;
		if (len - i >= 8 && (memcpy(&w, p + i, 8), !(w & 0x8080808080808080ull))) {
			i += 8;
			continue;
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq(p + i, len - i);
		if (!n || is_mapped(p + i, len - i))
			break;
		i += n;
	}
	if (i == len)
		return KT_OK;
	kt_buf_reset(out);
	enum kt_err err = kt_buf_append(out, p, i);
	if (err)
		return err;
	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);
		if (n && !is_mapped(p + i, len - i)) {
			err = kt_buf_append(out, p + i, n);
			if (err)
				return err;
			i += n;
			continue;
		}
		size_t k = n ? n : 1; /* a mapped code point: each of its bytes */
		for (size_t j = 0; j < k; j++) {
			err = kt_buf_printf(out, "\\uDBFF\\u%04X", 0xDF80u + (p[i + j] - 0x80u));
			if (err)
				return err;
		}
		i += k;
		*mapped = 1;
	}
	return KT_OK;
}

/* The bytes of a field parsed from a mapped line, into scratch. */
static void kcat_unmap(struct kt_buf *scratch, const uint8_t **p, size_t *n)
{
	if (!*p)
		return;
	uint8_t *o = scratch->data + scratch->len, *start = o;
	for (size_t i = 0; i < *n;) {
		if (is_mapped(*p + i, *n - i)) {
			*o++ = (uint8_t)(0x80u + (((*p)[i + 2] & 1u) << 6) + ((*p)[i + 3] & 0x3Fu));
			i += 4;
		} else {
			*o++ = (*p)[i++];
		}
	}
	*p = start;
	*n = (size_t)(o - start);
	scratch->len += *n;
}

/* kcat prints key, payload and header values as JSON strings of the
 * bytes (or null); "broker" is where it read the record from, not part of
 * the record. */
static enum kt_err parse_kcat_doc(struct kt_import_line *l, struct kt_diag *diag);

static enum kt_err parse_kcat(struct kt_import_line *l, const char *line, size_t len, struct kt_diag *diag)
{
	int mapped = 0;
	enum kt_err err = kcat_map(&l->mapped, line, len, &mapped);
	if (err)
		return kt_diag_fail(diag, err, "a line of %zu bytes is too long", len);
	err = mapped ? load(l, (const char *)l->mapped.data, l->mapped.len, diag) : load(l, line, len, diag);
	if (!err && mapped) {
		l->doc_strings = 1; /* kcat_unmap copies them */
		err = parse_kcat_doc(l, diag);
		l->doc_strings = 0;
	} else if (!err) {
		return parse_kcat_doc(l, diag);
	}
	if (err)
		return err;
	kcat_unmap(&l->scratch, &l->rec.key, &l->rec.key_len);
	kcat_unmap(&l->scratch, &l->rec.value, &l->rec.value_len);
	for (size_t i = 0; i < l->rec.header_count; i++) {
		kcat_unmap(&l->scratch, &l->headers[i].name, &l->headers[i].name_len);
		kcat_unmap(&l->scratch, &l->headers[i].value, &l->headers[i].value_len);
	}
	return KT_OK;
}

static enum kt_err parse_kcat_doc(struct kt_import_line *l, struct kt_diag *diag)
{
	enum kt_err err;
	static const char *const ts_names[3] = {"create", "logappend", "none"};
	const char *name;
	json_t *v;
	int has_type = 0;
	json_object_foreach((json_t *)l->doc, name, v)
	{
		if (!strcmp(name, "topic") || !strcmp(name, "broker")) {
			continue;
		} else if (!strcmp(name, "partition")) {
			if ((err = json_partition(l, v, diag)))
				return err;
		} else if (!strcmp(name, "offset")) {
			if ((err = json_int(v, "offset", 0, &l->rec.offset, diag)))
				return err;
			l->has_offset = 1;
		} else if (!strcmp(name, "ts")) {
			if ((err = json_int(v, "ts", -1, &l->rec.timestamp, diag)))
				return err;
			l->has_timestamp = 1;
		} else if (!strcmp(name, "tstype")) {
			if (!json_is_string(v))
				return kt_diag_fail(diag, KT_ERR_INVALID, "tstype is not a string");
			if ((err = set_ts_type(l, json_string_value(v), ts_names, diag)))
				return err;
			has_type = 1;
		} else if (!strcmp(name, "key")) {
			if (!json_is_null(v) && !json_is_string(v))
				return kt_diag_fail(diag, KT_ERR_INVALID, "key is not null or a string");
			if ((err = json_bytes(l, "key", v, 1, &l->rec.key, &l->rec.key_len, &l->rec.key_null, diag)))
				return err;
		} else if (!strcmp(name, "payload")) {
			if (!json_is_null(v) && !json_is_string(v))
				return kt_diag_fail(diag, KT_ERR_INVALID, "payload is not null or a string");
			if ((err = json_bytes(l, "payload", v, 1, &l->rec.value, &l->rec.value_len, &l->rec.value_null,
					      diag)))
				return err;
		} else if (!strcmp(name, "headers")) {
			/* a flat list: name, value, name, value, ... */
			if (!json_is_array(v) || json_array_size(v) % 2)
				return kt_diag_fail(diag, KT_ERR_INVALID, "headers is not a list of name, value pairs");
			for (size_t i = 0; i < json_array_size(v); i += 2) {
				json_t *hn = json_array_get(v, i), *hv = json_array_get(v, i + 1);
				if (!json_is_string(hn) || (!json_is_null(hv) && !json_is_string(hv)))
					return kt_diag_fail(diag, KT_ERR_INVALID,
							    "header %zu is not a name and a value", i / 2);
				struct kt_header *h = push_header(l);
				if (!h)
					return KT_ERR_NOMEM;
				int name_null;
				if ((err = json_bytes(l, "header name", hn, 0, &h->name, &h->name_len, &name_null,
						      diag)) ||
				    (err = json_bytes(l, "header value", hv, 1, &h->value, &h->value_len,
						      &h->value_null, diag)))
					return err;
			}
		} else {
			return kt_diag_fail(
				diag, KT_ERR_INVALID,
				"unknown field \"%s\" (topic, partition, offset, tstype, ts, broker, headers, "
				"key, payload)",
				name);
		}
	}
	if (!has_type)
		l->rec.ts_type = KT_TS_CREATE;
	if (l->rec.ts_type == KT_TS_NONE) {
		l->rec.timestamp = -1;
		l->has_timestamp = 1;
	}
	return KT_OK;
}

/* ---- kafka-console-consumer (DefaultMessageFormatter) ---- */

/* The formatter writes, each followed by key.separator when more fields
 * follow: "CreateTime:TS" | "LogAppendTime:TS" | "NO_TIMESTAMP",
 * "Partition:P", "Offset:O", the headers ("NAME:VALUE" joined by
 * headers.separator, or "NO_HEADERS"), the key, then the value to the end
 * of the line. Only the value can hold the separator unambiguously: a
 * field before it ends at its first separator. */
struct cursor {
	const char *p, *end;
};

static int next_field(struct cursor *c, const char *sep, const char **f, size_t *n)
{
	size_t sl = strlen(sep);
	for (const char *q = c->p; q + sl <= c->end; q++)
		if (!memcmp(q, sep, sl)) {
			*f = c->p;
			*n = (size_t)(q - c->p);
			c->p = q + sl;
			return 0;
		}
	return -1;
}

static int num(const char *s, size_t n, int64_t min, int64_t *out)
{
	char tmp[32];
	if (!n || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return kt_parse_i64(tmp, min, INT64_MAX, out, NULL) ? -1 : 0;
}

static int prefixed(const char *f, size_t n, const char *prefix, const char **rest, size_t *rn)
{
	size_t pl = strlen(prefix);
	if (n < pl || memcmp(f, prefix, pl))
		return 0;
	*rest = f + pl;
	*rn = n - pl;
	return 1;
}

static int is_null_literal(const struct kt_import_format *fm, const char *f, size_t n)
{
	return strlen(fm->null_literal) == n && !memcmp(f, fm->null_literal, n);
}

static enum kt_err console_headers(struct kt_import_line *l, const struct kt_import_format *fm, const char *f, size_t n,
				   struct kt_diag *diag)
{
	if (n == 10 && !memcmp(f, "NO_HEADERS", 10))
		return KT_OK;
	struct cursor c = {f, f + n};
	size_t hsl = strlen(fm->headers_separator), ksl = strlen(fm->headers_key_separator);
	while (c.p <= c.end) {
		const char *h;
		size_t hn;
		if (next_field(&c, fm->headers_separator, &h, &hn)) {
			h = c.p;
			hn = (size_t)(c.end - c.p);
			c.p = c.end + hsl; /* past the end: the last one */
		}
		const char *k = NULL;
		for (const char *q = h; q + ksl <= h + hn; q++)
			if (!memcmp(q, fm->headers_key_separator, ksl)) {
				k = q;
				break;
			}
		if (!k)
			return kt_diag_fail(diag, KT_ERR_INVALID, "header '%.*s' has no '%s' between name and value",
					    (int)(hn > 60 ? 60 : hn), h, fm->headers_key_separator);
		struct kt_header *hd = push_header(l);
		if (!hd)
			return KT_ERR_NOMEM;
		hd->name = (const uint8_t *)h;
		hd->name_len = (size_t)(k - h);
		hd->value = (const uint8_t *)k + ksl;
		hd->value_len = hn - hd->name_len - ksl;
		if (is_null_literal(fm, (const char *)hd->value, hd->value_len)) {
			hd->value = NULL;
			hd->value_len = 0;
			hd->value_null = 1;
		}
	}
	return KT_OK;
}

static enum kt_err parse_console(struct kt_import_line *l, const struct kt_import_format *fm, const char *line,
				 size_t len, struct kt_diag *diag)
{
	struct cursor c = {line, line + len};
	const char *f, *r;
	size_t n, rn;
	int64_t x = 0;
	const char *sep = fm->key_separator;
	if (fm->print_timestamp) {
		if (next_field(&c, sep, &f, &n))
			return kt_diag_fail(diag, KT_ERR_INVALID, "no key.separator after the timestamp");
		if (n == 12 && !memcmp(f, "NO_TIMESTAMP", 12)) {
			l->rec.ts_type = KT_TS_NONE;
			l->rec.timestamp = -1;
		} else if (prefixed(f, n, "CreateTime:", &r, &rn) || prefixed(f, n, "LogAppendTime:", &r, &rn)) {
			l->rec.ts_type = f[0] == 'C' ? KT_TS_CREATE : KT_TS_LOG_APPEND;
			if (num(r, rn, 0, &l->rec.timestamp))
				return kt_diag_fail(diag, KT_ERR_INVALID, "bad timestamp '%.*s'", (int)n, f);
		} else {
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "'%.*s' is not CreateTime:TS, LogAppendTime:TS or NO_TIMESTAMP",
					    (int)(n > 60 ? 60 : n), f);
		}
		l->has_timestamp = 1;
	} else {
		l->rec.ts_type = KT_TS_CREATE;
	}
	if (fm->print_partition) {
		if (next_field(&c, sep, &f, &n) || !prefixed(f, n, "Partition:", &r, &rn) || num(r, rn, 0, &x) ||
		    x > INT32_MAX)
			return kt_diag_fail(diag, KT_ERR_INVALID, "no Partition:N field where print.partition puts it");
		l->partition = (int32_t)x;
		l->has_partition = 1;
	}
	if (fm->print_offset) {
		if (next_field(&c, sep, &f, &n) || !prefixed(f, n, "Offset:", &r, &rn) || num(r, rn, 0, &x))
			return kt_diag_fail(diag, KT_ERR_INVALID, "no Offset:N field where print.offset puts it");
		l->rec.offset = x;
		l->has_offset = 1;
	}
	if (fm->print_headers) {
		if (next_field(&c, sep, &f, &n))
			return kt_diag_fail(diag, KT_ERR_INVALID, "no key.separator after the headers");
		enum kt_err err = console_headers(l, fm, f, n, diag);
		if (err)
			return err;
	}
	if (fm->print_key) {
		if (next_field(&c, sep, &f, &n))
			return kt_diag_fail(diag, KT_ERR_INVALID, "no key.separator after the key");
		if (!is_null_literal(fm, f, n)) {
			l->rec.key = (const uint8_t *)f;
			l->rec.key_len = n;
			l->rec.key_null = 0;
		}
	}
	n = (size_t)(c.end - c.p);
	if (!is_null_literal(fm, c.p, n)) {
		l->rec.value = (const uint8_t *)c.p;
		l->rec.value_len = n;
		l->rec.value_null = 0;
	}
	return KT_OK;
}

enum kt_err kt_import_parse(struct kt_import_parser *p, const char *line, size_t len, struct kt_import_line *out,
			    struct kt_diag *diag)
{
	reset(out);
	/* decoded bytes are fewer than the line's: one reservation, and the
	 * pointers into scratch never move */
	enum kt_err err = kt_buf_reserve(&out->scratch, len + 1);
	if (err)
		return kt_diag_fail(diag, err, "a line of %zu bytes is too long", len);
	if (p->fmt.kind == KT_IMPORT_CONSOLE)
		return parse_console(out, &p->fmt, line, len, diag);
	active = p;
	err = p->fmt.kind == KT_IMPORT_JSON ? parse_json(out, line, len, diag) : parse_kcat(out, line, len, diag);
	if (out->doc)
		json_decref(out->doc);
	out->doc = NULL;
	active = NULL;
	p->used = 0;
	return err;
}

/* ---- the Java client's default partitioner ---- */

/* MurmurHash2 by Austin Appleby, 32-bit, as Kafka's
 * org.apache.kafka.common.utils.Utils.murmur2 applies it: seed 0x9747b28c,
 * the length mixed into the seed, 4-byte little-endian words, the tail
 * bytes folded in from the highest, then the final avalanche. */
uint32_t kt_import_murmur2(const uint8_t *data, size_t len)
{
	const uint32_t m = 0x5bd1e995u;
	const int r = 24;
	uint32_t h = 0x9747b28cu ^ (uint32_t)len;
	size_t words = len / 4;
	for (size_t i = 0; i < words; i++) {
		const uint8_t *p = data + 4 * i;
		uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		k *= m;
		k ^= k >> r;
		k *= m;
		h *= m;
		h ^= k;
	}
	const uint8_t *tail = data + 4 * words;
	switch (len % 4) {
	case 3: h ^= (uint32_t)tail[2] << 16; /* fall through */
	case 2: h ^= (uint32_t)tail[1] << 8;  /* fall through */
	case 1: h ^= tail[0]; h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

int32_t kt_import_partition_for_key(const uint8_t *key, size_t len, int32_t partitions)
{
	/* Utils.toPositive: the sign bit cleared, not the absolute value */
	return (int32_t)((kt_import_murmur2(key, len) & 0x7fffffffu) % (uint32_t)partitions);
}
