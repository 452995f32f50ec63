/* cmd_ls_json.c - ktape ls --json. */

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"

/* ---- ls: JSON ---- */

static void json_sums(struct kt_buf *b, int *first, const struct kt_inspect_sums *s)
{
	int valid = s->records > 0 && s->min_ts != INT64_MAX;
	kt_cli_json_u64(b, first, "segments", s->segments);
	kt_cli_json_u64(b, first, "records", s->records);
	kt_cli_json_u64(b, first, "compressed_bytes", s->file_bytes);
	kt_cli_json_u64(b, first, "raw_bytes", s->raw_bytes);
	kt_cli_json_u64(b, first, "payload_bytes", s->payload_bytes);
	kt_cli_json_u64(b, first, "gaps", s->gaps);
	kt_cli_json_u64(b, first, "gap_offsets", s->gap_offsets);
	kt_cli_json_u64(b, first, "lost_ranges", s->lost_ranges);
	kt_cli_json_u64(b, first, "lost_offsets", s->lost_offsets);
	kt_cli_json_u64(b, first, "missing_ranges", s->missing_ranges);
	kt_cli_json_u64(b, first, "missing_offsets", s->missing_offsets);
	kt_cli_json_ts(b, first, "min_timestamp", s->min_ts, valid);
	kt_cli_json_ts(b, first, "max_timestamp", s->max_ts, valid);
}

static void json_span(struct kt_buf *b, const struct kt_inspect_span *s)
{
	int f = 1;
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_i64(b, &f, "first_offset", s->first);
	kt_cli_json_i64(b, &f, "last_offset", last);
	if (s->kind == KT_INSPECT_RANGE) {
		int valid = s->records > 0 && s->min_ts != INT64_MAX;
		kt_cli_json_i64(b, &f, "end_offset", s->end);
		kt_cli_json_i64(b, &f, "offsets", s->last - s->first + 1);
		kt_cli_json_u64(b, &f, "segments", s->segments);
		kt_cli_json_u64(b, &f, "records", s->records);
		kt_cli_json_u64(b, &f, "compressed_bytes", s->file_bytes);
		kt_cli_json_u64(b, &f, "raw_bytes", s->raw_bytes);
		kt_cli_json_u64(b, &f, "payload_bytes", s->payload_bytes);
		kt_cli_json_ts(b, &f, "min_timestamp", s->min_ts, valid);
		kt_cli_json_ts(b, &f, "max_timestamp", s->max_ts, valid);
		kt_cli_json_time(b, &f, "min_time", s->min_ts, valid && s->min_ts >= 0);
		kt_cli_json_time(b, &f, "max_time", s->max_ts, valid && s->max_ts >= 0);
	} else {
		kt_cli_json_i64(b, &f, "offsets", s->end - s->first);
		if (s->kind == KT_INSPECT_LOST)
			kt_cli_json_i64(b, &f, "run_id", s->run_id);
		if (s->kind == KT_INSPECT_MISSING) {
			kt_cli_json_key(b, &f, "path");
			kt_cli_json_str(b, s->path);
			kt_cli_json_key(b, &f, "reason");
			kt_cli_json_str(b, s->reason);
		}
	}
	kt_buf_append_u8(b, '}');
}

static void json_spans(struct kt_buf *b, const char *key, const struct kt_inspect_partition *p,
		       enum kt_inspect_span_kind kind)
{
	kt_buf_printf(b, ",\"%s\":[", key);
	int n = 0;
	for (size_t i = 0; i < p->span_count; i++) {
		if (p->spans[i].kind != kind)
			continue;
		if (n++)
			kt_buf_append_u8(b, ',');
		json_span(b, &p->spans[i]);
	}
	kt_buf_append_u8(b, ']');
}

static void json_partition(struct kt_buf *b, const struct kt_inspect_partition *p)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_i64(b, &f, "partition", p->partition);
	kt_cli_json_ts(b, &f, "first_offset", p->first, p->first >= 0);
	kt_cli_json_ts(b, &f, "last_offset", p->last, p->last >= 0);
	kt_cli_json_ts(b, &f, "end_offset", p->done_end, p->done_end >= 0);
	kt_cli_json_key(b, &f, "totals");
	int g = 1;
	kt_buf_append_u8(b, '{');
	json_sums(b, &g, &p->sums);
	kt_buf_append_u8(b, '}');
	json_spans(b, "ranges", p, KT_INSPECT_RANGE);
	json_spans(b, "gaps", p, KT_INSPECT_GAP);
	json_spans(b, "lost", p, KT_INSPECT_LOST);
	json_spans(b, "missing", p, KT_INSPECT_MISSING);
	kt_buf_append_u8(b, '}');
}

static void json_run(struct kt_buf *b, const struct kt_inspect_run *r)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_i64(b, &f, "run_id", r->run_id);
	kt_cli_json_key(b, &f, "kind");
	kt_cli_json_str(b, r->kind);
	kt_cli_json_key(b, &f, "status");
	kt_cli_json_str(b, r->status);
	kt_cli_json_i64(b, &f, "started_ms", r->started_ms);
	kt_cli_json_time(b, &f, "started", r->started_ms, r->started_ms >= 0);
	kt_cli_json_ts(b, &f, "ended_ms", r->ended_ms, r->ended_ms >= 0);
	kt_cli_json_key(b, &f, "duration_seconds");
	if (r->ended_ms >= 0)
		kt_buf_printf(b, "%.3f", (double)(r->ended_ms - r->started_ms) / 1000.0);
	else
		kt_cli_put(b, "null");
	kt_cli_json_i64(b, &f, "records", r->records);
	kt_cli_json_i64(b, &f, "bytes", r->bytes);
	kt_cli_json_ts(b, &f, "last_commit_ms", r->last_commit_ms, r->last_commit_ms > 0);
	kt_cli_json_time(b, &f, "last_commit", r->last_commit_ms, r->last_commit_ms > 0);
	kt_cli_json_key(b, &f, "message");
	kt_cli_json_str(b, r->message);
	/* a 'running' row: whether its process is there (false: killed or
	 * crashed, until the next writer marks it crashed); null for an ended
	 * run or when it cannot be told (alive_note says why) */
	kt_cli_json_key(b, &f, "alive");
	kt_cli_put(b, r->alive > 0 ? "true" : r->alive == 0 ? "false" : "null");
	kt_cli_json_key(b, &f, "alive_note");
	kt_cli_json_str(b, r->alive_note[0] ? r->alive_note : NULL);
	kt_buf_append_u8(b, '}');
}

/* A shard's writer (SPEC 10.8): what ls's WORKER lines say. */
static void json_worker(struct kt_buf *b, const struct kt_inspect_ls *ls, const struct kt_archive_shard_info *w)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_key(b, &f, "worker_id");
	kt_cli_json_str(b, w->id);
	kt_cli_json_ts(b, &f, "last_run_id", w->last_run, w->last_status[0] != '\0');
	kt_cli_json_key(b, &f, "last_run_status");
	kt_cli_json_str(b, w->last_status[0] ? w->last_status : NULL);
	const struct kt_inspect_run *lr = w->last_status[0] ? kt_cli_ls_run(ls, w->last_run) : NULL;
	kt_cli_json_key(b, &f, "last_run_alive"); /* as the run's "alive" */
	kt_cli_put(b, lr && lr->alive > 0 ? "true" : lr && lr->alive == 0 ? "false" : "null");
	kt_cli_json_i64(b, &f, "segments", w->segments);
	kt_cli_json_i64(b, &f, "records", w->records);
	kt_cli_json_ts(b, &f, "last_commit_ms", w->last_commit_ms, w->last_commit_ms > 0);
	kt_cli_json_time(b, &f, "last_commit", w->last_commit_ms, w->last_commit_ms > 0);
	kt_cli_json_i64(b, &f, "partition_count", w->partition_count);
	/* "TOPIC:P,P TOPIC:P", as the text shows */
	kt_cli_json_key(b, &f, "partitions");
	kt_cli_json_str(b, w->partitions);
	kt_buf_append_u8(b, '}');
}

void kt_cli_ls_json(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_key(b, &f, "archive");
	kt_cli_json_str(b, dir);
	kt_cli_json_key(b, &f, "archive_id");
	kt_cli_json_str(b, ls->archive_id[0] ? ls->archive_id : NULL);
	kt_cli_json_key(b, &f, "key_id");
	kt_cli_json_str(b, ls->key_id[0] ? ls->key_id : NULL);
	kt_cli_json_key(b, &f, "totals");
	int g = 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_u64(b, &g, "topics", ls->topic_count);
	kt_cli_json_u64(b, &g, "partitions", ls->partition_count);
	json_sums(b, &g, &ls->sums);
	kt_cli_put(b, "},\"topics\":[");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *t = &ls->topics[i];
		int h = 1;
		kt_cli_put(b, i ? ",{" : "{");
		kt_cli_json_key(b, &h, "topic");
		kt_cli_json_str(b, t->topic);
		kt_cli_json_u64(b, &h, "generation", t->generation);
		kt_cli_json_ts(b, &h, "cluster_partitions", t->cluster_partitions, t->cluster_partitions >= 0);
		kt_cli_json_key(b, &h, "totals");
		int k = 1;
		kt_buf_append_u8(b, '{');
		json_sums(b, &k, &t->sums);
		kt_cli_put(b, "},\"partitions\":[");
		for (size_t p = 0; p < t->part_count; p++) {
			if (p)
				kt_buf_append_u8(b, ',');
			json_partition(b, &t->parts[p]);
		}
		kt_cli_put(b, "]}");
	}
	kt_cli_put(b, "],\"runs\":[");
	for (size_t i = 0; i < ls->run_count; i++) {
		if (i)
			kt_buf_append_u8(b, ',');
		json_run(b, &ls->runs[i]);
	}
	/* added with shards: empty for an archive without them */
	kt_cli_put(b, "],\"workers\":[");
	for (size_t i = 0; i < ls->worker_count; i++) {
		if (i)
			kt_buf_append_u8(b, ',');
		json_worker(b, ls, &ls->workers[i]);
	}
	kt_cli_put(b, "]}\n");
}
