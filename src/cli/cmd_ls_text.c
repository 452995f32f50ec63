/* cmd_ls_text.c - ktape ls as an aligned text table. */
#include <inttypes.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_parse.h"

/* ---- ls: human ---- */

int kt_cli_span_has_ts(const struct kt_inspect_span *s)
{
	return s->records > 0 && s->min_ts != INT64_MAX && s->min_ts >= 0;
}

static void ls_span_row(struct kt_cli_table *t, const struct kt_inspect_topic *tp, const struct kt_inspect_partition *p,
			const struct kt_inspect_span *s)
{
	char gen[16], part[16], offs[64], count[32], recs[32], size[32], raw[32], t1[KT_TIME_STR_MAX],
		t2[KT_TIME_STR_MAX];
	snprintf(gen, sizeof(gen), "%" PRIu32, tp->generation);
	snprintf(part, sizeof(part), "%" PRId32, p->partition);
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	snprintf(offs, sizeof(offs), "%" PRId64 "..%" PRId64, s->first, last);
	snprintf(count, sizeof(count), "%" PRId64, last - s->first + 1);
	if (s->kind != KT_INSPECT_RANGE) {
		kt_cli_table_row(t, tp->topic, gen, part, kt_inspect_span_kind_name(s->kind), offs, count, "-", "-",
				 "-", "-", "-");
		return;
	}
	snprintf(recs, sizeof(recs), "%" PRIu64, s->records);
	kt_cli_table_row(t, tp->topic, gen, part, "range", offs, count, recs,
			 kt_parse_format_size(s->file_bytes, size, sizeof(size)),
			 kt_parse_format_size(s->raw_bytes, raw, sizeof(raw)),
			 kt_cli_time_or_dash(s->min_ts, kt_cli_span_has_ts(s), t1),
			 kt_cli_time_or_dash(s->max_ts, kt_cli_span_has_ts(s), t2));
}

static void ls_header(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	char size[32], raw[32], t1[KT_TIME_STR_MAX], t2[KT_TIME_STR_MAX];
	const struct kt_inspect_sums *s = &ls->sums;
	kt_buf_printf(b,
		      "archive %s (id %s): %zu topic(s), %zu partition(s), %" PRIu64 " segment(s), %" PRIu64
		      " records, %s on disk, %s raw\n",
		      dir, ls->archive_id[0] ? ls->archive_id : "unknown", ls->topic_count, ls->partition_count,
		      s->segments, s->records, kt_parse_format_size(s->file_bytes, size, sizeof(size)),
		      kt_parse_format_size(s->raw_bytes, raw, sizeof(raw)));
	if (s->records && s->min_ts != INT64_MAX && s->min_ts >= 0)
		kt_buf_printf(b, "records from %s to %s\n", kt_parse_format_time(s->min_ts, t1),
			      kt_parse_format_time(s->max_ts, t2));
	if (ls->key_id[0])
		kt_buf_printf(b,
			      "encrypted (XChaCha20-Poly1305) with key id %s: restore, compare and cat need its "
			      "--encrypt-key-file\n",
			      ls->key_id);
	kt_buf_append_u8(b, '\n');
}

/* A partition that dumps read but that held no record. */
static void ls_empty_row(struct kt_cli_table *t, const struct kt_inspect_topic *tp,
			 const struct kt_inspect_partition *p)
{
	char gen[16], part[16], done[48];
	snprintf(gen, sizeof(gen), "%" PRIu32, tp->generation);
	snprintf(part, sizeof(part), "%" PRId32, p->partition);
	snprintf(done, sizeof(done), "(read up to %" PRId64 ")", p->done_end);
	kt_cli_table_row(t, tp->topic, gen, part, "empty", done, "-", "0", "-", "-", "-", "-");
}

static void ls_runs_table(const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	char t1[KT_TIME_STR_MAX], size[32];
	struct kt_cli_table rt = {8, "rllrlrrl", NULL, 0, 0, {0}};
	kt_cli_table_row(&rt, "RUN", "KIND", "STARTED", "DURATION", "STATUS", "RECORDS", "BYTES", "MESSAGE");
	for (size_t i = 0; i < ls->run_count; i++) {
		const struct kt_inspect_run *r = &ls->runs[i];
		char id[24], recs[24], dur[32], msg[1024];
		snprintf(id, sizeof(id), "%" PRId64, r->run_id);
		snprintf(recs, sizeof(recs), "%" PRId64, r->records);
		kt_cli_table_row(
			&rt, id, r->kind, kt_parse_format_time(r->started_ms, t1),
			kt_cli_duration_str(r->ended_ms >= 0 ? r->ended_ms - r->started_ms : -1, dur, sizeof(dur)),
			kt_cli_run_status(r), recs,
			kt_parse_format_size((uint64_t)(r->bytes > 0 ? r->bytes : 0), size, sizeof(size)),
			kt_cli_run_message(r, msg, sizeof(msg)));
	}
	kt_cli_table_print(&rt, b);
	kt_cli_table_free(&rt);
}

/* Each missing range with its file and reason: the table has no room. */
static void ls_missing_list(const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	kt_cli_put(b, "\nMISSING (archived once, cannot be read):\n");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *tp = &ls->topics[i];
		for (size_t k = 0; k < tp->part_count; k++) {
			const struct kt_inspect_partition *p = &tp->parts[k];
			for (size_t x = 0; x < p->span_count; x++) {
				const struct kt_inspect_span *s = &p->spans[x];
				if (s->kind != KT_INSPECT_MISSING)
					continue;
				kt_buf_printf(b, "  %s/%" PRId32 " offsets %" PRId64 "..%" PRId64 ": %s: %s\n",
					      tp->topic, p->partition, s->first, s->end - 1, s->path, s->reason);
			}
		}
	}
}

void kt_cli_ls_human(const char *dir, const struct kt_inspect_ls *ls, int runs, struct kt_buf *b)
{
	ls_header(dir, ls, b);
	struct kt_cli_table t = {11, "lrrllrrrrll", NULL, 0, 0, {0}};
	kt_cli_table_row(&t, "TOPIC", "GEN", "PART", "KIND", "OFFSETS", "COUNT", "RECORDS", "SIZE", "RAW",
			 "FIRST TIMESTAMP", "LAST TIMESTAMP");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *tp = &ls->topics[i];
		for (size_t k = 0; k < tp->part_count; k++) {
			const struct kt_inspect_partition *p = &tp->parts[k];
			for (size_t x = 0; x < p->span_count; x++)
				ls_span_row(&t, tp, p, &p->spans[x]);
			if (p->sums.segments == 0)
				ls_empty_row(&t, tp, p);
		}
	}
	kt_cli_table_print(&t, b);
	kt_cli_table_free(&t);
	if (ls->sums.missing_ranges)
		ls_missing_list(ls, b);
	if (ls->sums.gaps || ls->sums.lost_ranges || ls->sums.missing_ranges) {
		char w[512];
		kt_cli_put(b, "\nWARNING: ");
		kt_cli_put(b, kt_cli_ls_warning_text(&ls->sums, w, sizeof(w)));
		kt_cli_put(b, "\n");
	}
	if (runs) {
		kt_buf_append_u8(b, '\n');
		ls_runs_table(ls, b);
	}
}
