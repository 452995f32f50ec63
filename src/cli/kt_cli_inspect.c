/* kt_cli_inspect.c - helpers the archive commands share: opening, argument checks, JSON and text tables. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kt_cli.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_json.h"
#include "kt_parse.h"
#include "kt_time.h"

/* ---- shared ---- */

int kt_cli_open_archive(const char *cmd, const char *dir, enum kt_archive_mode mode, struct kt_archive **out)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_archive_open(dir, mode, out, NULL, &d);
	return err ? kt_cli_fail(cmd, err, &d) : 0;
}

int kt_cli_finish_args(const char *cmd, int rc, int argc, char **argv, const char *archive)
{
	if (!rc && optind < argc)
		rc = kt_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!rc && !archive)
		rc = kt_cli_usage_error(cmd, "-a/--archive DIR is required");
	return rc;
}

void kt_cli_put(struct kt_buf *b, const char *s)
{
	kt_buf_append(b, s, strlen(s));
}

void kt_cli_write_out(struct kt_buf *b)
{
	kt_cli_write_stdout(b);
	fflush(stdout);
}

/* Byte values from the catalog are text; bytes that are not UTF-8 (which
 * ktape never writes) still give valid JSON. */
void kt_cli_json_str(struct kt_buf *b, const char *s)
{
	if (!s)
		kt_cli_put(b, "null");
	else
		kt_json_bytes(b, (const uint8_t *)s, strlen(s), 0);
}

void kt_cli_json_key(struct kt_buf *b, int *first, const char *key)
{
	kt_buf_printf(b, "%s\"%s\":", *first ? "" : ",", key);
	*first = 0;
}

void kt_cli_json_i64(struct kt_buf *b, int *first, const char *key, int64_t v)
{
	kt_cli_json_key(b, first, key);
	kt_buf_printf(b, "%" PRId64, v);
}

void kt_cli_json_u64(struct kt_buf *b, int *first, const char *key, uint64_t v)
{
	kt_cli_json_key(b, first, key);
	kt_buf_printf(b, "%" PRIu64, v);
}

void kt_cli_json_ts(struct kt_buf *b, int *first, const char *key, int64_t ts, int valid)
{
	kt_cli_json_key(b, first, key);
	if (valid)
		kt_buf_printf(b, "%" PRId64, ts);
	else
		kt_cli_put(b, "null");
}

void kt_cli_json_time(struct kt_buf *b, int *first, const char *key, int64_t ts, int valid)
{
	char t[KT_TIME_STR_MAX];
	kt_cli_json_key(b, first, key);
	if (valid)
		kt_buf_printf(b, "\"%s\"", kt_parse_format_time(ts, t));
	else
		kt_cli_put(b, "null");
}

const char *kt_cli_time_or_dash(int64_t ts, int valid, char *buf)
{
	return valid ? kt_parse_format_time(ts, buf) : "-";
}

const char *kt_cli_duration_str(int64_t ms, char *buf, size_t size)
{
	if (ms < 0)
		snprintf(buf, size, "-");
	else if (ms < 60000)
		snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
	else if (ms < 3600000)
		snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
	return buf;
}

const char *kt_cli_run_message(const struct kt_inspect_run *r, char *buf, size_t size)
{
	const char *m = r->message ? r->message : "";
	if (r->ended_ms >= 0)
		return m;
	/* what a reader found of its process (kt_archive_run_alive) */
	char state[256] = "";
	if (r->alive == 0)
		snprintf(state, sizeof(state),
			 "its process is gone (killed or crashed; the next writer marks it crashed); ");
	else if (r->alive < 0 && r->alive_note[0])
		snprintf(state, sizeof(state), "alive? %s; ", r->alive_note);
	char t[KT_TIME_STR_MAX], ago[32];
	if (r->last_commit_ms > 0) {
		int64_t age = kt_time_now_ms() - r->last_commit_ms;
		snprintf(buf, size, "%slast commit %s (%s ago)%s%s", state, kt_parse_format_time(r->last_commit_ms, t),
			 kt_cli_duration_str(age > 0 ? age : 0, ago, sizeof(ago)), *m ? "; " : "", m);
	} else {
		snprintf(buf, size, "%sno commit yet%s%s", state, *m ? "; " : "", m);
	}
	return buf;
}

const char *kt_cli_run_status(const struct kt_inspect_run *r)
{
	return r->alive == 0 && r->status && !strcmp(r->status, "running") ? "dead" : r->status;
}

const struct kt_inspect_run *kt_cli_ls_run(const struct kt_inspect_ls *ls, int64_t run_id)
{
	for (size_t i = 0; i < ls->run_count; i++)
		if (ls->runs[i].run_id == run_id)
			return &ls->runs[i];
	return NULL;
}

/* "2 gap(s) (150 offsets no dump read), 1 range(s) lost to retention (...)" */
const char *kt_cli_ls_warning_text(const struct kt_inspect_sums *s, char *buf, size_t size)
{
	int n = 0;
	buf[0] = '\0';
	if (s->gaps)
		n = snprintf(buf, size, "%" PRIu64 " gap(s) (%" PRIu64 " offsets no dump read)", s->gaps,
			     s->gap_offsets);
	if (s->lost_ranges && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n,
			      "%s%" PRIu64 " range(s) lost to retention (%" PRIu64 " offsets)", n ? ", " : "",
			      s->lost_ranges, s->lost_offsets);
	if (s->missing_ranges && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n,
			 "%s%" PRIu64 " range(s) missing from the archive (%" PRIu64
			 " offsets archived once that cannot be read; 'ktape verify' names them)",
			 n ? ", " : "", s->missing_ranges, s->missing_offsets);
	return buf;
}

/* ---- aligned text tables ---- */

void kt_cli_table_row(struct kt_cli_table *t, ...)
{
	if (t->nrows == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		char **n = realloc(t->cells, nc * (size_t)t->ncols * sizeof(*n));
		if (!n)
			return;
		t->cells = n;
		t->cap = nc;
	}
	va_list ap;
	va_start(ap, t);
	for (int c = 0; c < t->ncols; c++) {
		const char *s = va_arg(ap, const char *);
		char *d = strdup(s ? s : "");
		t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = d;
		size_t w = d ? strlen(d) : 0;
		if (w > t->width[c])
			t->width[c] = w;
	}
	va_end(ap);
	t->nrows++;
}

void kt_cli_table_print(struct kt_cli_table *t, struct kt_buf *b)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
			s = s ? s : "";
			int last = c == t->ncols - 1;
			if (t->align[c] == 'r')
				kt_buf_printf(b, "%*s", (int)t->width[c], s);
			else if (last)
				kt_buf_printf(b, "%s", s);
			else
				kt_buf_printf(b, "%-*s", (int)t->width[c], s);
			if (!last)
				kt_cli_put(b, "  ");
		}
		/* no trailing blanks: a last column left empty leaves them */
		while (b->len && b->data[b->len - 1] == ' ')
			b->len--;
		kt_buf_append_u8(b, '\n');
	}
}

void kt_cli_table_free(struct kt_cli_table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}
