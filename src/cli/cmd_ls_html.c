/* cmd_ls_html.c - ktape ls --html: a self-contained report with a timeline per partition. */
#include <inttypes.h>
#include <string.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_time.h"

/* ---- ls: HTML ---- */

static void html_esc(struct kt_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': kt_cli_put(b, "&amp;"); break;
		case '<': kt_cli_put(b, "&lt;"); break;
		case '>': kt_cli_put(b, "&gt;"); break;
		case '"': kt_cli_put(b, "&quot;"); break;
		case '\'': kt_cli_put(b, "&#39;"); break;
		default: kt_buf_append_u8(b, (uint8_t)*s);
		}
	}
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>ktape archive report</title>\n<style>\n"
	"body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1f24;background:#fff}\n"
	"h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}h2 "
	"small{font-weight:normal;color:#57606a}\n"
	".meta{color:#57606a;margin:0 0 12px}.warn{color:#b42318;font-weight:600}\n"
	".legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:14px;height:10px;"
	"margin-right:4px;vertical-align:middle;border:1px solid #0003}\n"
	".partition{margin:6px 0 14px}.plabel{font-size:13px;color:#24292f}.plabel b{display:inline-block;"
	"min-width:48px}\n"
	"svg.timeline{display:block;width:100%;max-width:1100px;height:auto;background:#f6f8fa;border-radius:4px}\n"
	"svg text{font:11px ui-monospace,SFMono-Regular,Menlo,monospace;fill:#57606a}\n"
	"rect.range{fill:#2da44e}rect.gap{fill:url(#kt-gap)}rect.lost{fill:url(#kt-lost)}rect.missing{fill:#6e40c9}\n"
	"rect.span:hover{stroke:#1b1f24;stroke-width:1}\n"
	"table{border-collapse:collapse;margin-top:8px;font-size:13px}th,td{padding:3px 10px;text-align:left;"
	"border-bottom:1px solid #d0d7de;white-space:nowrap}td:last-child{white-space:normal}\n"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	"tr.failed td,tr.crashed td,tr.dead td,tr.data_lost td{color:#b42318}\n"
	"</style>\n</head>\n<body>\n"
	"<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs>"
	"<pattern id=\"kt-gap\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
	"patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffebe9\"/>"
	"<rect width=\"3\" height=\"6\" fill=\"#cf222e\"/></pattern>"
	"<pattern id=\"kt-lost\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
	"patternTransform=\"rotate(-45)\"><rect width=\"6\" height=\"6\" fill=\"#fff1e5\"/>"
	"<rect width=\"3\" height=\"6\" fill=\"#bc4c00\"/></pattern></defs></svg>\n";

#define TL_W	1000.0
#define TL_PAD	8.0
#define TL_BARY 16
#define TL_BARH 22
#define TL_H	56

struct timeline {
	int64_t lo, hi;
	double last_top, last_bottom; /* right end of the last label above / below the bar */
};

static double tl_x(const struct timeline *tl, int64_t off)
{
	return TL_PAD + (double)(off - tl->lo) * (TL_W - 2 * TL_PAD) / (double)(tl->hi - tl->lo);
}

/* A label unless it would overlap the previous one on its line. */
static void tl_label(struct kt_buf *b, double *last, double x, int y, const char *anchor, const char *text)
{
	double w = 6.7 * (double)strlen(text);
	double left = !strcmp(anchor, "end") ? x - w : x;
	if (left < *last + 8 || left < 0)
		return;
	kt_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">", x, y, anchor);
	html_esc(b, text);
	kt_cli_put(b, "</text>");
	*last = left + w;
}

static void tl_title(struct kt_buf *b, const struct kt_inspect_span *s)
{
	char t1[KT_TIME_STR_MAX], t2[KT_TIME_STR_MAX], size[32];
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	kt_buf_printf(b, "<title>%s: offsets %" PRId64 "..%" PRId64, kt_inspect_span_kind_name(s->kind), s->first,
		      last);
	if (s->kind == KT_INSPECT_RANGE)
		kt_buf_printf(b, ", %" PRIu64 " records, %s, %s to %s", s->records,
			      kt_parse_format_size(s->file_bytes, size, sizeof(size)),
			      kt_cli_time_or_dash(s->min_ts, kt_cli_span_has_ts(s), t1),
			      kt_cli_time_or_dash(s->max_ts, kt_cli_span_has_ts(s), t2));
	else if (s->kind == KT_INSPECT_GAP)
		kt_buf_printf(b, ", %" PRId64 " offsets no dump read", s->end - s->first);
	else if (s->kind == KT_INSPECT_MISSING) {
		kt_buf_printf(b, ", %" PRId64 " offsets archived once that cannot be read: ", s->end - s->first);
		html_esc(b, s->path);
		kt_cli_put(b, ": ");
		html_esc(b, s->reason);
	} else
		kt_buf_printf(b, ", %" PRId64 " offsets deleted by retention before a dump read them",
			      s->end - s->first);
	kt_cli_put(b, "</title>");
}

static void tl_span(struct kt_buf *b, const struct timeline *tl, const struct kt_inspect_topic *t,
		    const struct kt_inspect_partition *p, const struct kt_inspect_span *s)
{
	double x0 = tl_x(tl, s->first), x1 = tl_x(tl, s->end);
	double w = x1 - x0 < 2 ? 2 : x1 - x0;
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	const char *kind = kt_inspect_span_kind_name(s->kind);
	kt_buf_printf(b, "<rect class=\"span %s\" data-kind=\"%s\" data-topic=\"", kind, kind);
	html_esc(b, t->topic);
	kt_buf_printf(b,
		      "\" data-generation=\"%" PRIu32 "\" data-partition=\"%" PRId32 "\" data-first=\"%" PRId64
		      "\" data-last=\"%" PRId64 "\" data-end=\"%" PRId64 "\"",
		      t->generation, p->partition, s->first, last, s->end);
	if (s->kind == KT_INSPECT_RANGE)
		kt_buf_printf(b, " data-records=\"%" PRIu64 "\"", s->records);
	kt_buf_printf(b, " x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\">", x0, TL_BARY, w, TL_BARH);
	tl_title(b, s);
	kt_cli_put(b, "</rect>");
}

/* Offsets above the bar, record times below it. */
static void tl_labels(struct kt_buf *b, struct timeline *tl, const struct kt_inspect_partition *p)
{
	char num[32], t[KT_TIME_STR_MAX];
	for (size_t i = 0; i < p->span_count; i++) {
		const struct kt_inspect_span *s = &p->spans[i];
		snprintf(num, sizeof(num), "%" PRId64, s->first);
		tl_label(b, &tl->last_top, tl_x(tl, s->first), TL_BARY - 4, "start", num);
		if (s->kind == KT_INSPECT_RANGE && kt_cli_span_has_ts(s)) {
			kt_parse_format_time(s->min_ts, t);
			t[10] = ' ';
			t[16] = '\0'; /* to the minute: 2026-11-22 10:00 */
			tl_label(b, &tl->last_bottom, tl_x(tl, s->first), TL_BARY + TL_BARH + 13, "start", t);
		}
	}
	const struct kt_inspect_span *end = &p->spans[p->span_count - 1];
	snprintf(num, sizeof(num), "%" PRId64, end->end);
	tl_label(b, &tl->last_top, TL_W - TL_PAD, TL_BARY - 4, "end", num);
	const struct kt_inspect_span *lr = NULL;
	for (size_t i = 0; i < p->span_count; i++)
		if (p->spans[i].kind == KT_INSPECT_RANGE && kt_cli_span_has_ts(&p->spans[i]))
			lr = &p->spans[i];
	if (lr) {
		kt_parse_format_time(lr->max_ts, t);
		t[10] = ' ';
		t[16] = '\0';
		tl_label(b, &tl->last_bottom, TL_W - TL_PAD, TL_BARY + TL_BARH + 13, "end", t);
	}
}

static void html_partition(struct kt_buf *b, const struct kt_inspect_topic *t, const struct kt_inspect_partition *p)
{
	char size[32];
	kt_cli_put(b, "<div class=\"partition\" data-topic=\"");
	html_esc(b, t->topic);
	kt_buf_printf(b, "\" data-generation=\"%" PRIu32 "\" data-partition=\"%" PRId32 "\">\n", t->generation,
		      p->partition);
	kt_buf_printf(b, "<div class=\"plabel\"><b>p%" PRId32 "</b> ", p->partition);
	if (p->first >= 0)
		kt_buf_printf(b, "offsets %" PRId64 "..%" PRId64 " &middot; %" PRIu64 " records &middot; %s", p->first,
			      p->last, p->sums.records, kt_parse_format_size(p->sums.file_bytes, size, sizeof(size)));
	else
		kt_buf_printf(b, "no records archived (read up to offset %" PRId64 ")", p->done_end);
	if (p->sums.gaps)
		kt_buf_printf(b,
			      " &middot; <span class=\"warn\">%" PRIu64 " gap(s), %" PRIu64 " offsets missing</span>",
			      p->sums.gaps, p->sums.gap_offsets);
	if (p->sums.lost_ranges)
		kt_buf_printf(b, " &middot; <span class=\"warn\">%" PRIu64 " offsets lost to retention</span>",
			      p->sums.lost_offsets);
	if (p->sums.missing_ranges)
		kt_buf_printf(b, " &middot; <span class=\"warn\">%" PRIu64 " offsets missing from the archive</span>",
			      p->sums.missing_offsets);
	kt_cli_put(b, "</div>\n");
	if (!p->span_count) {
		kt_cli_put(b, "</div>\n");
		return;
	}
	struct timeline tl = {p->spans[0].first, p->spans[0].end, -1e9, -1e9};
	for (size_t i = 0; i < p->span_count; i++) {
		if (p->spans[i].first < tl.lo)
			tl.lo = p->spans[i].first;
		if (p->spans[i].end > tl.hi)
			tl.hi = p->spans[i].end;
	}
	if (tl.hi <= tl.lo)
		tl.hi = tl.lo + 1;
	kt_buf_printf(b, "<svg class=\"timeline\" viewBox=\"0 0 %.0f %d\" role=\"img\">", TL_W, TL_H);
	for (size_t i = 0; i < p->span_count; i++)
		tl_span(b, &tl, t, p, &p->spans[i]);
	tl_labels(b, &tl, p);
	kt_cli_put(b, "</svg>\n</div>\n");
}

static void html_runs(struct kt_buf *b, const struct kt_inspect_ls *ls)
{
	char t1[KT_TIME_STR_MAX], dur[32], size[32], msg[1024];
	kt_cli_put(b, "<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\">\n<tr><th>Run</th><th>Kind</th>"
		      "<th>Started (UTC)</th><th>Duration</th><th>Status</th><th>Records</th><th>Bytes</th>"
		      "<th>Message</th></tr>\n");
	for (size_t i = 0; i < ls->run_count; i++) {
		const struct kt_inspect_run *r = &ls->runs[i];
		kt_cli_put(b, "<tr class=\"");
		html_esc(b, kt_cli_run_status(r));
		kt_buf_printf(b, "\" data-run=\"%" PRId64 "\"><td class=\"n\">%" PRId64 "</td><td>", r->run_id,
			      r->run_id);
		html_esc(b, r->kind);
		kt_buf_printf(
			b, "</td><td>%s</td><td class=\"n\">%s</td><td>", kt_parse_format_time(r->started_ms, t1),
			kt_cli_duration_str(r->ended_ms >= 0 ? r->ended_ms - r->started_ms : -1, dur, sizeof(dur)));
		html_esc(b, kt_cli_run_status(r));
		kt_buf_printf(b, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%s</td><td>", r->records,
			      kt_parse_format_size((uint64_t)(r->bytes > 0 ? r->bytes : 0), size, sizeof(size)));
		html_esc(b, kt_cli_run_message(r, msg, sizeof(msg)));
		kt_cli_put(b, "</td></tr>\n");
	}
	kt_cli_put(b, "</table>\n");
}

/* A sharded archive's writers (SPEC 10.8), as ls's WORKER lines */
static void html_workers(struct kt_buf *b, const struct kt_inspect_ls *ls)
{
	if (!ls->worker_count)
		return;
	char t1[KT_TIME_STR_MAX];
	kt_cli_put(b, "<h2 id=\"workers\">Workers</h2>\n<table class=\"workers\">\n<tr><th>Worker</th>"
		      "<th>Last run</th><th>Segments</th><th>Records</th><th>Last commit (UTC)</th>"
		      "<th>Partitions</th></tr>\n");
	for (size_t i = 0; i < ls->worker_count; i++) {
		const struct kt_archive_shard_info *w = &ls->workers[i];
		kt_cli_put(b, "<tr data-worker=\"");
		html_esc(b, w->id);
		kt_cli_put(b, "\"><td>");
		html_esc(b, w->id);
		kt_cli_put(b, "</td><td>");
		const struct kt_inspect_run *lr = kt_cli_ls_run(ls, w->last_run);
		html_esc(b, lr ? kt_cli_run_status(lr) : w->last_status[0] ? w->last_status : "-");
		kt_buf_printf(b, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64 "</td><td>%s</td><td>",
			      w->segments, w->records,
			      w->last_commit_ms > 0 ? kt_parse_format_time(w->last_commit_ms, t1) : "-");
		html_esc(b, w->partitions);
		kt_cli_put(b, "</td></tr>\n");
	}
	kt_cli_put(b, "</table>\n");
}

void kt_cli_ls_html(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	char size[32], raw[32], now[KT_TIME_STR_MAX];
	const struct kt_inspect_sums *s = &ls->sums;
	kt_buf_append(b, html_head, sizeof(html_head) - 1);
	kt_cli_put(b, "<h1>ktape archive <code>");
	html_esc(b, dir);
	kt_cli_put(b, "</code></h1>\n<p class=\"meta\">archive id ");
	html_esc(b, ls->archive_id[0] ? ls->archive_id : "unknown");
	kt_buf_printf(b,
		      " &middot; generated %s &middot; %zu topic(s), %zu partition(s), %" PRIu64 " segment(s), %" PRIu64
		      " records, %s on disk (%s raw)</p>\n",
		      kt_parse_format_time(kt_time_now_ms(), now), ls->topic_count, ls->partition_count, s->segments,
		      s->records, kt_parse_format_size(s->file_bytes, size, sizeof(size)),
		      kt_parse_format_size(s->raw_bytes, raw, sizeof(raw)));
	if (s->gaps || s->lost_ranges || s->missing_ranges) {
		char w[512];
		kt_cli_put(b, "<p class=\"warn\" id=\"warning\">");
		html_esc(b, kt_cli_ls_warning_text(s, w, sizeof(w)));
		kt_cli_put(b, "</p>\n");
	}
	kt_cli_put(b, "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#2da44e\"></i>archived</span>"
		      "<span><i class=\"sw\" style=\"background:#cf222e\"></i>gap (no dump read these offsets)</span>"
		      "<span><i class=\"sw\" style=\"background:#bc4c00\"></i>lost to retention</span>"
		      "<span><i class=\"sw\" style=\"background:#6e40c9\"></i>missing (archived once, file gone or "
		      "damaged)</span>"
		      "<span>offsets above each bar, record times (UTC) below</span></p>\n");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *t = &ls->topics[i];
		kt_cli_put(b, "<section class=\"topic\" data-topic=\"");
		html_esc(b, t->topic);
		kt_buf_printf(b, "\" data-generation=\"%" PRIu32 "\">\n<h2>", t->generation);
		html_esc(b, t->topic);
		kt_buf_printf(b, " <small>generation %" PRIu32 " &middot; %zu partition(s) archived", t->generation,
			      t->part_count);
		if (t->cluster_partitions >= 0)
			kt_buf_printf(b, " of %" PRId32, t->cluster_partitions);
		kt_buf_printf(b, " &middot; %" PRIu64 " records &middot; %s</small></h2>\n", t->sums.records,
			      kt_parse_format_size(t->sums.file_bytes, size, sizeof(size)));
		for (size_t k = 0; k < t->part_count; k++)
			html_partition(b, t, &t->parts[k]);
		kt_cli_put(b, "</section>\n");
	}
	html_workers(b, ls);
	html_runs(b, ls);
	kt_cli_put(b, "</body>\n</html>\n");
}
