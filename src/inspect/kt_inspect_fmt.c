/* kt_inspect_fmt.c - kcat-style record format strings for cat. */
#include "kt_inspect.h"
#include "kt_inspect_rows.h"

#include <inttypes.h>
#include <string.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_segment_reader.h"

/* ---- record formats ---- */

enum fmt_op_kind { FMT_LIT, FMT_FIELD };

struct fmt_op {
	enum fmt_op_kind kind;
	char field;	 /* FMT_FIELD: the letter after % */
	size_t off, len; /* FMT_LIT: bytes in lit */
};

struct kt_inspect_fmt {
	struct fmt_op *ops;
	size_t n, cap;
	struct kt_buf lit;
};

static enum kt_err fmt_lit(struct kt_inspect_fmt *f, const void *bytes, size_t len)
{
	enum kt_err err = KT_OK;
	struct fmt_op *last = f->n ? &f->ops[f->n - 1] : NULL;
	if (!last || last->kind != FMT_LIT) {
		PUSH(f->ops, f->n, f->cap, err);
		if (err)
			return err;
		last = &f->ops[f->n++];
		*last = (struct fmt_op){FMT_LIT, 0, f->lit.len, 0};
	}
	last->len += len;
	return kt_buf_append(&f->lit, bytes, len);
}

/* A backslash escape at s (after the backslash); returns the bytes used. */
static size_t fmt_escape(const char *s, uint8_t *out)
{
	switch (*s) {
	case 'n': *out = '\n'; return 1;
	case 'r': *out = '\r'; return 1;
	case 't': *out = '\t'; return 1;
	case 'x': {
		/* as kcat: all hex digits that follow, the low byte of the value */
		size_t i = 1;
		unsigned v = 0;
		while (kt_parse_hex_digit((unsigned char)s[i]) >= 0)
			v = v * 16 + (unsigned)kt_parse_hex_digit((unsigned char)s[i++]);
		if (i == 1) {
			*out = 'x';
			return 1;
		}
		*out = (uint8_t)v;
		return i;
	}
	default: *out = (uint8_t)*s; return 1;
	}
}

enum kt_err kt_inspect_fmt_compile(const char *spec, struct kt_inspect_fmt **out, struct kt_diag *diag)
{
	*out = NULL;
	struct kt_inspect_fmt *f = calloc(1, sizeof(*f));
	if (!f)
		return KT_ERR_NOMEM;
	kt_buf_init(&f->lit, 1 << 20);
	enum kt_err err = KT_OK;
	for (const char *s = spec; *s && !err;) {
		if (*s == '\\' && s[1]) {
			uint8_t c;
			s += 1 + fmt_escape(s + 1, &c);
			err = fmt_lit(f, &c, 1);
		} else if (*s == '%') {
			char c = s[1];
			if (c == '%') {
				err = fmt_lit(f, "%", 1);
			} else if (c && strchr("tpoTkKsSRh", c)) {
				PUSH(f->ops, f->n, f->cap, err);
				if (!err)
					f->ops[f->n++] = (struct fmt_op){FMT_FIELD, c, 0, 0};
			} else if (c) {
				err = kt_diag_fail(
					diag, KT_ERR_INVALID,
					"unknown format token '%%%c' (known: %%t %%p %%o %%T %%k %%K %%s %%S %%R "
					"%%h %%%%)",
					c);
			} else {
				err = kt_diag_fail(diag, KT_ERR_INVALID,
						   "format ends with a lone '%%' (write %%%% for a percent sign)");
			}
			s += c ? 2 : 1;
		} else {
			err = fmt_lit(f, s, 1);
			s++;
		}
	}
	if (err) {
		kt_inspect_fmt_free(f);
		return err;
	}
	*out = f;
	return KT_OK;
}

void kt_inspect_fmt_free(struct kt_inspect_fmt *fmt)
{
	if (!fmt)
		return;
	free(fmt->ops);
	kt_buf_free(&fmt->lit);
	free(fmt);
}

static enum kt_err fmt_headers(struct kt_buf *buf, const struct kt_record *rec)
{
	enum kt_err err = KT_OK;
	for (size_t i = 0; i < rec->header_count && !err; i++) {
		const struct kt_header *h = &rec->headers[i];
		if (i)
			err = kt_buf_append_u8(buf, ',');
		err = err ? err : kt_buf_append(buf, h->name, h->name_len);
		err = err ? err : kt_buf_append_u8(buf, '=');
		if (!err)
			err = h->value_null ? kt_buf_append(buf, "NULL", 4)
					    : kt_buf_append(buf, h->value, h->value_len);
	}
	return err;
}

static enum kt_err fmt_field(struct kt_buf *buf, char field, const char *topic, int32_t partition,
			     const struct kt_record *rec)
{
	switch (field) {
	case 't': return kt_buf_append(buf, topic, strlen(topic));
	case 'p': return kt_buf_printf(buf, "%" PRId32, partition);
	case 'o': return kt_buf_printf(buf, "%" PRId64, rec->offset);
	case 'T': return kt_buf_printf(buf, "%" PRId64, rec->timestamp);
	case 'k': return rec->key_null ? KT_OK : kt_buf_append(buf, rec->key, rec->key_len);
	case 's': return rec->value_null ? KT_OK : kt_buf_append(buf, rec->value, rec->value_len);
	case 'K': return kt_buf_printf(buf, "%lld", rec->key_null ? -1LL : (long long)rec->key_len);
	case 'S': return kt_buf_printf(buf, "%lld", rec->value_null ? -1LL : (long long)rec->value_len);
	case 'R': {
		uint32_t v = rec->value_null ? UINT32_MAX : (uint32_t)rec->value_len;
		uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
		return kt_buf_append(buf, be, 4);
	}
	case 'h': return fmt_headers(buf, rec);
	}
	return KT_ERR_INVALID;
}

enum kt_err kt_inspect_fmt_record(const struct kt_inspect_fmt *fmt, struct kt_buf *buf, const char *topic,
				  int32_t partition, const struct kt_record *rec)
{
	enum kt_err err = KT_OK;
	for (size_t i = 0; i < fmt->n && !err; i++) {
		const struct fmt_op *op = &fmt->ops[i];
		if (op->kind == FMT_LIT)
			err = kt_buf_append(buf, fmt->lit.data + op->off, op->len);
		else
			err = fmt_field(buf, op->field, topic, partition, rec);
	}
	return err;
}
