/* kt_inspect_ls.c - ls: the model of what an archive covers (ranges, gaps, lost and missing ranges, runs). */
#include "kt_inspect.h"
#include "kt_inspect_rows.h"
#include "kt_sort.h"

#include <string.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_segment_reader.h"

/* ---- ls ---- */

const char *kt_inspect_span_kind_name(enum kt_inspect_span_kind kind)
{
	switch (kind) {
	case KT_INSPECT_RANGE: return "range";
	case KT_INSPECT_GAP: return "gap";
	case KT_INSPECT_LOST: return "lost";
	case KT_INSPECT_MISSING: return "missing";
	}
	return "?";
}

static void sums_init(struct kt_inspect_sums *s)
{
	memset(s, 0, sizeof(*s));
	s->min_ts = INT64_MAX;
	s->max_ts = INT64_MIN;
}

static void sums_add(struct kt_inspect_sums *to, const struct kt_inspect_sums *from)
{
	to->segments += from->segments;
	to->records += from->records;
	to->file_bytes += from->file_bytes;
	to->raw_bytes += from->raw_bytes;
	to->payload_bytes += from->payload_bytes;
	to->gaps += from->gaps;
	to->gap_offsets += from->gap_offsets;
	to->lost_ranges += from->lost_ranges;
	to->lost_offsets += from->lost_offsets;
	to->missing_ranges += from->missing_ranges;
	to->missing_offsets += from->missing_offsets;
	if (from->min_ts < to->min_ts)
		to->min_ts = from->min_ts;
	if (from->max_ts > to->max_ts)
		to->max_ts = from->max_ts;
}

/* An offset interval [from, end); seg is the segment it stands for, or NULL
 * for a stretch a dump read (partition progress). */
struct ival {
	int64_t from, end;
	const struct seg_row *seg;
	int64_t run_id;
};

static int ival_cmp(const void *x, const void *y)
{
	const struct ival *a = x, *b = y;
	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	return (a->end > b->end) - (a->end < b->end);
}

static int span_cmp(const void *x, const void *y)
{
	const struct kt_inspect_span *a = x, *b = y;
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return (int)a->kind - (int)b->kind;
}

struct span_list {
	struct kt_inspect_span *v;
	size_t n, cap;
	enum kt_err err;
};

static struct kt_inspect_span *span_push(struct span_list *l, enum kt_inspect_span_kind kind, int64_t first,
					 int64_t end)
{
	PUSH(l->v, l->n, l->cap, l->err);
	if (l->err)
		return NULL;
	struct kt_inspect_span *s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->first = first;
	s->last = end - 1;
	s->end = end;
	s->min_ts = INT64_MAX;
	s->max_ts = INT64_MIN;
	return s;
}

static void span_add_segment(struct kt_inspect_span *s, const struct seg_row *seg)
{
	const struct kt_segment_summary *m = &seg->sum;
	if (s->segments == 0 || m->first_offset < s->first)
		s->first = m->first_offset;
	if (s->segments == 0 || m->last_offset > s->last)
		s->last = m->last_offset;
	s->segments++;
	s->records += m->record_count;
	s->file_bytes += m->file_bytes;
	s->raw_bytes += m->raw_bytes;
	s->payload_bytes += m->payload_bytes;
	if (m->record_count && m->min_timestamp < s->min_ts)
		s->min_ts = m->min_timestamp;
	if (m->record_count && m->max_timestamp > s->max_ts)
		s->max_ts = m->max_timestamp;
}

/* The gap [from, end) minus the intervals in x (sorted), which are shown
 * apart. */
static void push_gap_minus(struct span_list *l, int64_t from, int64_t end, const struct ival *x, size_t nx,
			   const struct ival *y, size_t ny)
{
	for (size_t i = 0; i < nx && from < end; i++) {
		if (x[i].end <= from || x[i].from >= end)
			continue;
		if (x[i].from > from)
			push_gap_minus(l, from, x[i].from, y, ny, NULL, 0);
		from = x[i].end;
	}
	if (from < end) {
		if (ny)
			push_gap_minus(l, from, end, y, ny, NULL, 0);
		else
			span_push(l, KT_INSPECT_GAP, from, end);
	}
}

/* Coverage blocks: the union of segments and stretches dumps read. */
struct cover {
	int64_t from, end;
	ssize_t range; /* index of its range in the span list, -1 when it holds no segment */
};

struct span_work {
	struct ival *iv; /* segments and stretches read, by first offset */
	size_t niv;
	struct ival *lost; /* ranges lost to retention, by first offset */
	size_t nlost;
	struct ival *miss; /* missing ranges, by first offset; run_id: index in key_rows.miss */
	size_t nmiss;
	struct cover *cov;
	size_t ncov;
	struct span_list l;
};

/* Adds the stretch [from, end) that a dump read, minus the missing
 * intervals (sorted): a run's progress never covers what is gone. */
static void add_stretch(struct span_work *w, int64_t from, int64_t end, int64_t run_id)
{
	for (size_t i = 0; i < w->nmiss && from < end; i++) {
		const struct ival *m = &w->miss[i];
		if (m->end <= from || m->from >= end)
			continue;
		if (m->from > from)
			w->iv[w->niv++] = (struct ival){from, m->from, NULL, run_id};
		from = m->end;
	}
	/* an empty stretch still marks where a run started: what lies
	 * between it and the coverage before it was skipped */
	if (from <= end)
		w->iv[w->niv++] = (struct ival){from, end, NULL, run_id};
}

static void collect_intervals(struct span_work *w, struct kt_inspect_partition *p, const struct key_rows *kr)
{
	p->done_end = -1;
	for (size_t i = 0; i < kr->nmiss; i++)
		w->miss[w->nmiss++] = (struct ival){kr->miss[i].first, kr->miss[i].last + 1, NULL, (int64_t)i};
	kt_sort(w->miss, w->nmiss, sizeof(*w->miss), ival_cmp);
	for (size_t i = 0; i < kr->nseg; i++) {
		const struct seg_row *sg = &kr->segs[i];
		w->iv[w->niv++] = (struct ival){sg->sum.first_offset, sg->sum.last_offset + 1, sg, 0};
		if (sg->sum.last_offset + 1 > p->done_end)
			p->done_end = sg->sum.last_offset + 1;
	}
	for (size_t i = 0; i < kr->npr; i++) {
		const struct prun_row *pr = &kr->pr[i];
		if (pr->done_end >= pr->from)
			add_stretch(w, pr->from, pr->done_end, pr->run_id);
		if (pr->done_end > p->done_end)
			p->done_end = pr->done_end;
		if (pr->lost_from >= 0 && pr->lost_end > pr->lost_from)
			w->lost[w->nlost++] = (struct ival){pr->lost_from, pr->lost_end, NULL, pr->run_id};
	}
	kt_sort(w->iv, w->niv, sizeof(*w->iv), ival_cmp);
	kt_sort(w->lost, w->nlost, sizeof(*w->lost), ival_cmp);
}

/* The coverage blocks, and a range for each that holds a segment. */
static void cover_ranges(struct span_work *w)
{
	for (size_t i = 0; i < w->niv && !w->l.err; i++) {
		const struct ival *iv = &w->iv[i];
		struct cover *c = w->ncov ? &w->cov[w->ncov - 1] : NULL;
		if (!c || iv->from > c->end) {
			c = &w->cov[w->ncov++];
			*c = (struct cover){iv->from, iv->end, -1};
		} else if (iv->end > c->end) {
			c->end = iv->end;
		}
		if (!iv->seg)
			continue;
		if (c->range < 0) {
			if (!span_push(&w->l, KT_INSPECT_RANGE, iv->from, iv->end))
				return;
			c->range = (ssize_t)w->l.n - 1;
		}
		span_add_segment(&w->l.v[c->range], iv->seg);
	}
	for (size_t i = 0; i < w->ncov; i++)
		if (w->cov[i].range >= 0)
			w->l.v[w->cov[i].range].end = w->cov[i].end;
}

/* Holes after the first range are gaps (a stretch a run skipped is one as
 * soon as it is skipped, even when no record came after it yet), except
 * what retention took and what the archive lost: those are shown as lost
 * and missing, wherever they lie. */
static void gaps_lost_missing(struct span_work *w, const struct key_rows *kr)
{
	ssize_t first_r = -1;
	for (size_t i = 0; i < w->ncov && first_r < 0; i++)
		if (w->cov[i].range >= 0)
			first_r = (ssize_t)i;
	for (ssize_t i = first_r + 1; first_r >= 0 && i < (ssize_t)w->ncov && !w->l.err; i++)
		push_gap_minus(&w->l, w->cov[i - 1].end, w->cov[i].from, w->lost, w->nlost, w->miss, w->nmiss);
	for (size_t i = 0; i < w->nlost && !w->l.err; i++) {
		const struct ival *x = &w->lost[i];
		if (i && x->from == x[-1].from && x->end == x[-1].end)
			continue; /* several runs saw the same loss */
		struct kt_inspect_span *s = span_push(&w->l, KT_INSPECT_LOST, x->from, x->end);
		if (s)
			s->run_id = x->run_id;
	}
	for (size_t i = 0; i < w->nmiss && !w->l.err; i++) {
		const struct miss_row *m = &kr->miss[w->miss[i].run_id];
		struct kt_inspect_span *s = span_push(&w->l, KT_INSPECT_MISSING, m->first, m->last + 1);
		if (!s)
			break;
		s->path = strdup(m->path);
		s->reason = strdup(m->reason);
		if (!s->path || !s->reason)
			w->l.err = KT_ERR_NOMEM;
	}
}

static void partition_sums(struct kt_inspect_partition *p)
{
	sums_init(&p->sums);
	p->first = p->last = -1;
	for (size_t i = 0; i < p->span_count; i++) {
		const struct kt_inspect_span *s = &p->spans[i];
		uint64_t count = (uint64_t)(s->end - s->first);
		if (s->kind == KT_INSPECT_GAP) {
			p->sums.gaps++;
			p->sums.gap_offsets += count;
			continue;
		}
		if (s->kind == KT_INSPECT_LOST) {
			p->sums.lost_ranges++;
			p->sums.lost_offsets += count;
			continue;
		}
		if (s->kind == KT_INSPECT_MISSING) {
			p->sums.missing_ranges++;
			p->sums.missing_offsets += count;
			continue;
		}
		struct kt_inspect_sums one;
		sums_init(&one);
		one.segments = s->segments;
		one.records = s->records;
		one.file_bytes = s->file_bytes;
		one.raw_bytes = s->raw_bytes;
		one.payload_bytes = s->payload_bytes;
		one.min_ts = s->min_ts;
		one.max_ts = s->max_ts;
		sums_add(&p->sums, &one);
		if (p->first < 0)
			p->first = s->first;
		p->last = s->last;
	}
}

static void spans_free(struct kt_inspect_span *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].path);
		free(v[i].reason);
	}
	free(v);
}

static enum kt_err build_spans(struct kt_inspect_partition *p, const struct key_rows *kr)
{
	struct span_work w = {0};
	/* each stretch can be cut in pieces by the missing intervals */
	size_t niv = kr->nseg + kr->npr * (kr->nmiss + 1) + 1;
	w.iv = calloc(niv, sizeof(*w.iv));
	w.lost = calloc(kr->npr + 1, sizeof(*w.lost));
	w.miss = calloc(kr->nmiss + 1, sizeof(*w.miss));
	w.cov = calloc(niv, sizeof(*w.cov));
	if (!w.iv || !w.lost || !w.miss || !w.cov)
		w.l.err = KT_ERR_NOMEM;
	if (!w.l.err) {
		collect_intervals(&w, p, kr);
		cover_ranges(&w);
	}
	if (!w.l.err)
		gaps_lost_missing(&w, kr);
	if (!w.l.err) {
		kt_sort(w.l.v, w.l.n, sizeof(*w.l.v), span_cmp);
		p->spans = w.l.v;
		p->span_count = w.l.n;
		w.l.v = NULL;
		partition_sums(p);
	}
	spans_free(w.l.v, w.l.n);
	free(w.iv);
	free(w.lost);
	free(w.miss);
	free(w.cov);
	return w.l.err;
}

struct snap {
	char *topic;
	uint32_t gen;
	int32_t partitions;
};

struct snaps {
	struct snap *v;
	size_t n, cap;
	enum kt_err err;
};

static int snap_cb(void *ctx, const struct kt_catalog_topic *t)
{
	struct snaps *s = ctx;
	PUSH(s->v, s->n, s->cap, s->err);
	if (s->err)
		return 1;
	s->v[s->n] = (struct snap){strdup(t->topic), t->generation, t->partitions};
	if (!s->v[s->n].topic) {
		s->err = KT_ERR_NOMEM;
		return 1;
	}
	s->n++;
	return 0;
}

static int32_t snap_partitions(const struct snaps *s, const char *topic, uint32_t gen)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].topic, topic) && s->v[i].gen == gen)
			return s->v[i].partitions;
	return -1;
}

static char *dup_or_null(const char *s, int *nomem)
{
	if (!s)
		return NULL;
	char *c = strdup(s);
	if (!c)
		*nomem = 1;
	return c;
}

struct run_list {
	struct kt_inspect_ls *ls;
	size_t cap;
	enum kt_err err;
};

static int run_cb(void *ctx, const struct kt_catalog_run *run)
{
	struct run_list *rl = ctx;
	struct kt_inspect_ls *ls = rl->ls;
	PUSH(ls->runs, ls->run_count, rl->cap, rl->err);
	if (rl->err)
		return 1;
	int nomem = 0;
	struct kt_inspect_run *r = &ls->runs[ls->run_count++];
	r->run_id = run->run_id;
	r->kind = dup_or_null(run->kind, &nomem);
	r->status = dup_or_null(run->status, &nomem);
	r->message = dup_or_null(run->message, &nomem);
	r->started_ms = run->started_ms;
	r->ended_ms = run->ended_ms;
	r->records = run->records;
	r->bytes = run->bytes;
	r->last_commit_ms = 0; /* run_seg_cb takes the newest of its segments' */
	r->alive = -1;	       /* kt_inspect_ls asks for a running run */
	r->alive_note[0] = '\0';
	if (nomem)
		rl->err = KT_ERR_NOMEM;
	return nomem;
}

/* A run's segments: its records and bytes so far (a running run's row
 * has them only once it ends), and when it last committed one. */
static int run_seg_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct kt_inspect_ls *ls = ctx;
	for (size_t i = 0; i < ls->run_count; i++) {
		struct kt_inspect_run *r = &ls->runs[i];
		if (r->run_id != s->run_id)
			continue;
		if (r->ended_ms < 0) {
			r->records += (int64_t)s->sum.record_count;
			r->bytes += (int64_t)s->sum.file_bytes;
		}
		if (s->committed_ms > r->last_commit_ms)
			r->last_commit_ms = s->committed_ms;
		break;
	}
	return 0;
}

/* A partition key seen in either list, in catalog order. */
struct ls_build {
	struct kt_inspect_ls *ls;
	const char *const *topics;
	size_t topic_count;
	const struct snaps *snaps;
	size_t topic_cap, part_cap;
};

static enum kt_err ls_key(void *ctx, const struct pkey *k, const struct key_rows *kr)
{
	struct ls_build *b = ctx;
	struct kt_inspect_ls *ls = b->ls;
	if (!kt_inspect_topic_selected(b->topics, b->topic_count, k->topic))
		return KT_OK;
	enum kt_err err = KT_OK;
	struct kt_inspect_topic *t = ls->topic_count ? &ls->topics[ls->topic_count - 1] : NULL;
	if (!t || strcmp(t->topic, k->topic) || t->generation != k->gen) {
		PUSH(ls->topics, ls->topic_count, b->topic_cap, err);
		if (err)
			return err;
		t = &ls->topics[ls->topic_count];
		memset(t, 0, sizeof(*t));
		t->topic = strdup(k->topic);
		if (!t->topic)
			return KT_ERR_NOMEM;
		ls->topic_count++;
		t->generation = k->gen;
		t->cluster_partitions = snap_partitions(b->snaps, k->topic, k->gen);
		sums_init(&t->sums);
		b->part_cap = 0;
	}
	PUSH(t->parts, t->part_count, b->part_cap, err);
	if (err)
		return err;
	struct kt_inspect_partition *p = &t->parts[t->part_count];
	memset(p, 0, sizeof(*p));
	p->partition = k->part;
	err = build_spans(p, kr);
	if (err)
		return err;
	t->part_count++;
	ls->partition_count++;
	sums_add(&t->sums, &p->sums);
	sums_add(&ls->sums, &p->sums);
	return KT_OK;
}

enum kt_err kt_inspect_ls(struct kt_archive *a, const char *const *topics, size_t topic_count,
			  struct kt_inspect_ls *out, struct kt_diag *diag)
{
	memset(out, 0, sizeof(*out));
	sums_init(&out->sums);
	struct kt_catalog *cat = kt_archive_catalog(a);
	if (kt_catalog_get_meta(cat, "archive_id", out->archive_id, sizeof(out->archive_id), NULL) != KT_OK)
		out->archive_id[0] = '\0';
	int encrypted = 0;
	uint8_t key_id[KT_SEG_KEY_ID_SIZE];
	/* a file that does not open leaves the line out: verify reports it */
	if (kt_archive_encryption(a, &encrypted, key_id, NULL) == KT_OK && encrypted)
		kt_crypto_key_id_hex(key_id, out->key_id);
	struct rows r;
	struct snaps snaps = {0};
	enum kt_err err = kt_inspect_rows_load(cat, 0, 1, &r, diag);
	if (!err)
		err = kt_inspect_check_topics(&r, topics, topic_count, diag);
	if (!err)
		err = kt_catalog_each_latest_topic(cat, NULL, snap_cb, &snaps, diag);
	if (!err && snaps.err)
		err = snaps.err;
	struct ls_build b = {out, topics, topic_count, &snaps, 0, 0};
	if (!err)
		err = kt_inspect_each_key(&r, ls_key, &b);
	struct run_list rl = {out, 0, KT_OK};
	if (!err)
		err = kt_catalog_each_run(cat, run_cb, &rl, diag);
	if (!err && rl.err)
		err = rl.err;
	for (size_t i = 0; !err && i < out->run_count; i++)
		if (out->runs[i].ended_ms < 0)
			out->runs[i].records = out->runs[i].bytes = 0;
	/* after the rows were read: a run that ended since reads as gone */
	for (size_t i = 0; !err && i < out->run_count; i++) {
		struct kt_inspect_run *r = &out->runs[i];
		if (r->status && !strcmp(r->status, "running"))
			r->alive = kt_archive_run_alive(a, r->run_id, r->kind, r->alive_note, sizeof(r->alive_note));
	}
	if (!err)
		err = kt_catalog_each_segment(cat, NULL, run_seg_cb, out, diag);
	if (!err)
		err = kt_archive_shard_infos(a, &out->workers, &out->worker_count, diag);
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "out of memory while listing the archive");
	kt_inspect_rows_free(&r);
	for (size_t i = 0; i < snaps.n; i++)
		free(snaps.v[i].topic);
	free(snaps.v);
	if (err)
		kt_inspect_ls_free(out);
	return err;
}

void kt_inspect_ls_free(struct kt_inspect_ls *ls)
{
	if (!ls)
		return;
	for (size_t i = 0; i < ls->topic_count; i++) {
		struct kt_inspect_topic *t = &ls->topics[i];
		for (size_t k = 0; k < t->part_count; k++)
			spans_free(t->parts[k].spans, t->parts[k].span_count);
		free(t->parts);
		free(t->topic);
	}
	free(ls->topics);
	for (size_t i = 0; i < ls->run_count; i++) {
		free(ls->runs[i].kind);
		free(ls->runs[i].status);
		free(ls->runs[i].message);
	}
	free(ls->runs);
	free(ls->workers);
	memset(ls, 0, sizeof(*ls));
}
