#include "kt_inspect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_segment_reader.h"

#define PATH_BUF 4096

/* Appends one element to a growable array of elements of size sz. */
static void *grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return arr;
	size_t nc = *cap ? *cap * 2 : 16;
	void *na = realloc(arr, nc * sz);
	if (na)
		*cap = nc;
	return na;
}

#define PUSH(arr, n, cap, err)                                                                                         \
	do {                                                                                                           \
		void *na_ = grow((arr), &(cap), (n), sizeof(*(arr)));                                                  \
		if (!na_)                                                                                              \
			(err) = KT_ERR_NOMEM;                                                                          \
		else                                                                                                   \
			(arr) = na_;                                                                                   \
	} while (0)

/* ---- rows read from the catalog ---- */

/* Topic names repeat row after row (the catalog returns them sorted), so a
 * row shares the previous row's copy when the name is the same. */
struct names {
	char **v;
	size_t n, cap;
};

static const char *intern(struct names *nm, const char *s)
{
	if (nm->n && !strcmp(nm->v[nm->n - 1], s))
		return nm->v[nm->n - 1];
	void *na = grow(nm->v, &nm->cap, nm->n, sizeof(*nm->v));
	if (!na)
		return NULL;
	nm->v = na;
	char *c = strdup(s);
	if (c)
		nm->v[nm->n++] = c;
	return c;
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

struct seg_row {
	const char *topic; /* interned */
	char *path;
	int64_t segment_id;
	uint32_t gen;
	int32_t part;
	int64_t run_id;
	struct kt_segment_summary sum;
};

struct prun_row {
	const char *topic; /* interned */
	uint32_t gen;
	int32_t part;
	int64_t run_id;
	int64_t from, done_end;
	int64_t lost_from, lost_end;
};

/* Offsets the archive can no longer deliver (catalog missing_ranges). */
struct miss_row {
	const char *topic; /* interned */
	uint32_t gen;
	int32_t part;
	int64_t first, last;
	char *path;
	char *reason;
};

struct rows {
	struct names names;
	struct seg_row *segs;
	size_t nseg, segcap;
	struct prun_row *pruns;
	size_t nprun, pruncap;
	struct miss_row *miss;
	size_t nmiss, misscap;
	int want_paths;
	enum kt_err err;
};

static int seg_row_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct rows *r = ctx;
	PUSH(r->segs, r->nseg, r->segcap, r->err);
	if (r->err)
		return 1;
	struct seg_row *row = &r->segs[r->nseg];
	row->topic = intern(&r->names, s->topic);
	row->path = r->want_paths ? strdup(s->path) : NULL;
	if (!row->topic || (r->want_paths && !row->path)) {
		free(row->path);
		r->err = KT_ERR_NOMEM;
		return 1;
	}
	row->segment_id = s->segment_id;
	row->gen = s->generation;
	row->part = s->partition;
	row->run_id = s->run_id;
	row->sum = s->sum;
	r->nseg++;
	return 0;
}

static int prun_row_cb(void *ctx, const struct kt_catalog_prun *p)
{
	struct rows *r = ctx;
	PUSH(r->pruns, r->nprun, r->pruncap, r->err);
	if (r->err)
		return 1;
	struct prun_row *row = &r->pruns[r->nprun];
	row->topic = intern(&r->names, p->topic);
	if (!row->topic) {
		r->err = KT_ERR_NOMEM;
		return 1;
	}
	row->gen = p->generation;
	row->part = p->partition;
	row->run_id = p->run_id;
	row->from = p->from_offset;
	row->done_end = p->done_end;
	row->lost_from = p->lost_from;
	row->lost_end = p->lost_end;
	r->nprun++;
	return 0;
}

/* The rows of one (topic, generation, partition). */
struct key_rows {
	const struct seg_row *segs;
	size_t nseg;
	const struct prun_row *pr;
	size_t npr;
	const struct miss_row *miss;
	size_t nmiss;
};

static int miss_row_cb(void *ctx, const struct kt_catalog_missing *m)
{
	struct rows *r = ctx;
	PUSH(r->miss, r->nmiss, r->misscap, r->err);
	if (r->err)
		return 1;
	struct miss_row *row = &r->miss[r->nmiss];
	*row = (struct miss_row){intern(&r->names, m->topic),
				 m->generation,
				 m->partition,
				 m->first_offset,
				 m->last_offset,
				 strdup(m->path),
				 strdup(m->reason)};
	if (!row->topic || !row->path || !row->reason) {
		free(row->path);
		free(row->reason);
		r->err = KT_ERR_NOMEM;
		return 1;
	}
	r->nmiss++;
	return 0;
}

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->nseg; i++)
		free(r->segs[i].path);
	free(r->segs);
	free(r->pruns);
	for (size_t i = 0; i < r->nmiss; i++) {
		free(r->miss[i].path);
		free(r->miss[i].reason);
	}
	free(r->miss);
	names_free(&r->names);
}

/* Segments, partition progress and missing ranges (with want_pruns), all
 * sorted by topic, generation, partition (the catalog's order). */
static enum kt_err rows_load(struct kt_catalog *cat, int want_paths, int want_pruns, struct rows *r,
			     struct kt_diag *diag)
{
	memset(r, 0, sizeof(*r));
	r->want_paths = want_paths;
	enum kt_err err = kt_catalog_each_segment(cat, NULL, seg_row_cb, r, diag);
	if (!err && want_pruns)
		err = kt_catalog_each_prun(cat, NULL, prun_row_cb, r, diag);
	if (!err && want_pruns)
		err = kt_catalog_each_missing(cat, NULL, miss_row_cb, r, diag);
	if (!err && r->err)
		err = kt_diag_fail(diag, r->err, "cannot read the catalog: %s", kt_err_str(r->err));
	return err;
}

static int key_cmp(const char *ta, uint32_t ga, int32_t pa, const char *tb, uint32_t gb, int32_t pb)
{
	int c = strcmp(ta, tb);
	if (c)
		return c;
	if (ga != gb)
		return ga < gb ? -1 : 1;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return 0;
}

static int cstr_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* "a, b, c": the distinct archived topic names, for not-found messages. */
static void topic_list(const struct rows *r, char *buf, size_t size)
{
	size_t n = r->nseg + r->nprun;
	const char **v = calloc(n + 1, sizeof(*v));
	snprintf(buf, size, "none");
	if (!v || !n) {
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = i < r->nseg ? r->segs[i].topic : r->pruns[i - r->nseg].topic;
	qsort(v, n, sizeof(*v), cstr_cmp);
	size_t len = 0;
	for (size_t i = 0; i < n && len + 1 < size; i++) {
		if (i && !strcmp(v[i], v[i - 1]))
			continue;
		int w = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", v[i]);
		len = w < 0 || len + (size_t)w >= size ? size - 1 : len + (size_t)w;
	}
	free(v);
}

static int topic_known(const struct rows *r, const char *topic)
{
	for (size_t i = 0; i < r->nseg; i++)
		if (!strcmp(r->segs[i].topic, topic))
			return 1;
	for (size_t i = 0; i < r->nprun; i++)
		if (!strcmp(r->pruns[i].topic, topic))
			return 1;
	return 0;
}

static enum kt_err check_topics(const struct rows *r, const char *const *topics, size_t n, struct kt_diag *diag)
{
	for (size_t i = 0; i < n; i++) {
		if (topic_known(r, topics[i]))
			continue;
		char list[1024];
		topic_list(r, list, sizeof(list));
		return kt_diag_fail(diag, KT_ERR_NOT_FOUND, "topic '%s' is not in the archive (archived topics: %s)",
				    topics[i], list);
	}
	return KT_OK;
}

static int topic_selected(const char *const *topics, size_t n, const char *t)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(topics[i], t))
			return 1;
	return 0;
}

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
	qsort(w->miss, w->nmiss, sizeof(*w->miss), ival_cmp);
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
	qsort(w->iv, w->niv, sizeof(*w->iv), ival_cmp);
	qsort(w->lost, w->nlost, sizeof(*w->lost), ival_cmp);
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
		qsort(w.l.v, w.l.n, sizeof(*w.l.v), span_cmp);
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
	if (nomem)
		rl->err = KT_ERR_NOMEM;
	return nomem;
}

/* A partition key seen in either list, in catalog order. */
struct pkey {
	const char *topic;
	uint32_t gen;
	int32_t part;
};

/* Walks the union of keys of the three sorted lists: calls fn once per
 * distinct (topic, generation, partition) with its rows of each list. */
typedef enum kt_err (*key_fn)(void *ctx, const struct pkey *k, const struct key_rows *kr);

static int key_less(const char *t, uint32_t g, int32_t p, const struct pkey *k)
{
	return key_cmp(t, g, p, k->topic, k->gen, k->part) < 0;
}

static enum kt_err each_key(const struct rows *r, key_fn fn, void *ctx)
{
	size_t si = 0, pi = 0, mi = 0;
	while (si < r->nseg || pi < r->nprun || mi < r->nmiss) {
		/* the smallest key at the head of any list */
		struct pkey k = {NULL, 0, 0};
		if (si < r->nseg)
			k = (struct pkey){r->segs[si].topic, r->segs[si].gen, r->segs[si].part};
		if (pi < r->nprun &&
		    (!k.topic || key_less(r->pruns[pi].topic, r->pruns[pi].gen, r->pruns[pi].part, &k)))
			k = (struct pkey){r->pruns[pi].topic, r->pruns[pi].gen, r->pruns[pi].part};
		if (mi < r->nmiss && (!k.topic || key_less(r->miss[mi].topic, r->miss[mi].gen, r->miss[mi].part, &k)))
			k = (struct pkey){r->miss[mi].topic, r->miss[mi].gen, r->miss[mi].part};
		struct key_rows kr = {r->segs + si, 0, r->pruns + pi, 0, r->miss + mi, 0};
		while (si < r->nseg &&
		       !key_cmp(r->segs[si].topic, r->segs[si].gen, r->segs[si].part, k.topic, k.gen, k.part))
			si++, kr.nseg++;
		while (pi < r->nprun &&
		       !key_cmp(r->pruns[pi].topic, r->pruns[pi].gen, r->pruns[pi].part, k.topic, k.gen, k.part))
			pi++, kr.npr++;
		while (mi < r->nmiss &&
		       !key_cmp(r->miss[mi].topic, r->miss[mi].gen, r->miss[mi].part, k.topic, k.gen, k.part))
			mi++, kr.nmiss++;
		enum kt_err err = fn(ctx, &k, &kr);
		if (err)
			return err;
	}
	return KT_OK;
}

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
	if (!topic_selected(b->topics, b->topic_count, k->topic))
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
	struct rows r;
	struct snaps snaps = {0};
	enum kt_err err = rows_load(cat, 0, 1, &r, diag);
	if (!err)
		err = check_topics(&r, topics, topic_count, diag);
	if (!err)
		err = kt_catalog_each_latest_topic(cat, NULL, snap_cb, &snaps, diag);
	if (!err && snaps.err)
		err = snaps.err;
	struct ls_build b = {out, topics, topic_count, &snaps, 0, 0};
	if (!err)
		err = each_key(&r, ls_key, &b);
	struct run_list rl = {out, 0, KT_OK};
	if (!err)
		err = kt_catalog_each_run(cat, run_cb, &rl, diag);
	if (!err && rl.err)
		err = rl.err;
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "out of memory while listing the archive");
	rows_free(&r);
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
	memset(ls, 0, sizeof(*ls));
}

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

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
		while (hexval(s[i]) >= 0)
			v = v * 16 + (unsigned)hexval(s[i++]);
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

/* ---- cat ---- */

struct cat_target {
	const char *topic; /* interned in rows */
	uint32_t gen;
	int32_t part;
};

struct cat_plan {
	const struct kt_inspect_cat_opts *o;
	struct cat_target *v; /* every archived (topic, generation, partition) */
	size_t n, cap;
};

static enum kt_err cat_collect(void *ctx, const struct pkey *k, const struct key_rows *kr)
{
	struct cat_plan *cp = ctx;
	if (!kr->nseg && !kr->npr)
		return KT_OK; /* only missing offsets: nothing was ever readable there */
	if (!topic_selected(cp->o->topics, cp->o->topic_count, k->topic))
		return KT_OK;
	enum kt_err err = KT_OK;
	PUSH(cp->v, cp->n, cp->cap, err);
	if (!err)
		cp->v[cp->n++] = (struct cat_target){k->topic, k->gen, k->part};
	return err;
}

/* Appends ", x" to a list in buf (bounded). */
static void list_add(char *buf, size_t size, int64_t x)
{
	size_t len = strlen(buf);
	if (len + 24 < size)
		snprintf(buf + len, size - len, "%s%" PRId64, len ? ", " : "", x);
}

/* The generation cat reads of a topic: the one asked for, or the newest. */
static enum kt_err cat_generation(const struct cat_plan *cp, const char *topic, uint32_t *out, struct kt_diag *diag)
{
	int64_t want = cp->o->generation, best = -1, listed = -1;
	char gens[256] = "";
	for (size_t i = 0; i < cp->n; i++) {
		const struct cat_target *t = &cp->v[i];
		if (strcmp(t->topic, topic) || (int64_t)t->gen == listed)
			continue;
		listed = t->gen;
		list_add(gens, sizeof(gens), t->gen);
		if (want < 0 || t->gen == (uint32_t)want)
			best = t->gen; /* in catalog order: the last one is the newest */
	}
	if (best >= 0) {
		*out = (uint32_t)best;
		return KT_OK;
	}
	return kt_diag_fail(diag, KT_ERR_NOT_FOUND,
			    "topic '%s' has no generation %" PRId64 " in the archive (archived generations: %s)", topic,
			    want, gens);
}

static int part_in(const int32_t *parts, size_t n, int32_t p)
{
	for (size_t i = 0; i < n; i++)
		if (parts[i] == p)
			return 1;
	return 0;
}

static enum kt_err cat_check_partitions(const struct cat_plan *cp, const char *topic, uint32_t gen,
					struct kt_diag *diag)
{
	const struct kt_inspect_cat_opts *o = cp->o;
	for (size_t k = 0; k < o->partition_count; k++) {
		char have[512] = "";
		int found = 0;
		for (size_t i = 0; i < cp->n; i++) {
			const struct cat_target *t = &cp->v[i];
			if (strcmp(t->topic, topic) || t->gen != gen)
				continue;
			found |= t->part == o->partitions[k];
			list_add(have, sizeof(have), t->part);
		}
		if (!found)
			return kt_diag_fail(diag, KT_ERR_NOT_FOUND,
					    "topic '%s' (generation %" PRIu32 ") has no archived partition %" PRId32
					    " (archived partitions: %s)",
					    topic, gen, o->partitions[k], have[0] ? have : "none");
	}
	return KT_OK;
}

/* The partitions to read, in order: topics by name, partitions ascending,
 * each topic at its chosen generation. */
static enum kt_err cat_targets(const struct rows *r, const struct kt_inspect_cat_opts *o, struct cat_target **out,
			       size_t *out_n, struct kt_diag *diag)
{
	struct cat_plan cp = {o, NULL, 0, 0};
	enum kt_err err = check_topics(r, o->topics, o->topic_count, diag);
	if (!err)
		err = each_key(r, cat_collect, &cp);
	struct cat_target *v = calloc(cp.n + 1, sizeof(*v));
	if (!err && !v)
		err = KT_ERR_NOMEM;
	size_t n = 0;
	const char *cur = NULL;
	uint32_t gen = 0;
	for (size_t i = 0; i < cp.n && !err; i++) {
		const struct cat_target *t = &cp.v[i];
		if (!cur || strcmp(cur, t->topic)) {
			cur = t->topic;
			err = cat_generation(&cp, t->topic, &gen, diag);
			if (!err)
				err = cat_check_partitions(&cp, t->topic, gen, diag);
		}
		if (!err && t->gen == gen &&
		    (!o->partition_count || part_in(o->partitions, o->partition_count, t->part)))
			v[n++] = *t;
	}
	free(cp.v);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*out_n = n;
	return KT_OK;
}

static int key_matches(const struct kt_inspect_cat_opts *o, const struct kt_record *rec)
{
	if (!o->key_set)
		return 1;
	return !rec->key_null && rec->key_len == o->key_len && (!o->key_len || !memcmp(rec->key, o->key, o->key_len));
}

static enum kt_err cat_partition(struct kt_archive *a, const struct cat_target *t, const struct kt_inspect_cat_opts *o,
				 struct kt_inspect_cat_result *res, struct kt_diag *diag)
{
	if (o->to_offset <= o->from_offset || o->to_offset <= 0)
		return KT_OK;
	struct kt_archive_range range = {
		t->topic,   t->gen,  t->part, o->from_offset, o->to_offset == INT64_MAX ? INT64_MAX : o->to_offset - 1,
		o->from_ts, o->to_ts};
	struct kt_archive_iter *it;
	enum kt_err err = kt_archive_iter_open(a, &range, &it, diag);
	if (err)
		return err;
	for (;;) {
		if (o->stop && *o->stop) {
			res->stopped = 1;
			err = kt_diag_fail(diag, KT_ERR_INTERRUPTED, "interrupted");
			break;
		}
		const struct kt_record *rec;
		err = kt_archive_iter_next_strict(it, &rec, diag);
		if (err) {
			res->damaged = err != KT_ERR_NOMEM;
			break;
		}
		if (!rec)
			break;
		if (!key_matches(o, rec))
			continue;
		res->records++;
		if (o->on_record(o->ctx, t->topic, t->part, rec)) {
			res->stopped = 1;
			break;
		}
		if (o->limit && res->records >= o->limit)
			break;
	}
	kt_archive_iter_close(it);
	return err;
}

/* After every readable record was delivered: the selection's offsets that
 * the archive lost are an error, so that a pipeline does not take what it
 * got for the whole. */
static enum kt_err cat_check_missing(const struct rows *r, const struct cat_target *t, size_t n,
				     const struct kt_inspect_cat_opts *o, struct kt_diag *diag)
{
	int64_t to = o->to_offset == INT64_MAX ? INT64_MAX : o->to_offset - 1;
	uint64_t ranges = 0, offsets = 0;
	const struct miss_row *first = NULL;
	for (size_t i = 0; i < r->nmiss; i++) {
		const struct miss_row *m = &r->miss[i];
		if (m->last < o->from_offset || m->first > to)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (t[k].gen != m->gen || t[k].part != m->part || strcmp(t[k].topic, m->topic))
				continue;
			if (!first)
				first = m;
			ranges++;
			offsets += (uint64_t)(m->last - m->first + 1);
			break;
		}
	}
	if (!first)
		return KT_OK;
	kt_diag_set_path(diag, first->path);
	return kt_diag_fail(
		diag, KT_ERR_DATA_LOST,
		"the selection spans %" PRIu64 " missing range(s) (%" PRIu64
		" offsets the archive lost), first: %s/%" PRId32 " offsets %" PRId64 "..%" PRId64 " (%s: %s)",
		ranges, offsets, first->topic, first->part, first->first, first->last, first->path, first->reason);
}

enum kt_err kt_inspect_cat(struct kt_archive *a, const struct kt_inspect_cat_opts *o, struct kt_inspect_cat_result *res,
			   struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	struct rows r;
	enum kt_err err = rows_load(kt_archive_catalog(a), 0, 1, &r, diag);
	struct cat_target *targets = NULL;
	size_t n = 0;
	if (!err)
		err = cat_targets(&r, o, &targets, &n, diag);
	int complete = 1;
	for (size_t i = 0; i < n && !err; i++) {
		err = cat_partition(a, &targets[i], o, res, diag);
		if (res->stopped || (o->limit && res->records >= o->limit)) {
			complete = 0;
			break;
		}
	}
	if (!err && complete)
		err = cat_check_missing(&r, targets, n, o, diag);
	free(targets);
	rows_free(&r);
	return err;
}

/* ---- verify ---- */

#define VERIFY_MAX_PROBLEMS_PER_JOB 20
/* Blocks per job: a big file is checked by several threads at once. */
#define VERIFY_CHUNK_BLOCKS 32

struct vprob {
	int64_t block, pos;
	const char *kind;
	enum kt_err err;
	char msg[KT_DIAG_MSG_MAX];
};

/* One job: blocks [b0, b1) of one file. The file's first job also checks
 * the file as a whole (existence, size, header, footer, index), and all of
 * its blocks when the footer is unusable (there is no index to split). */
struct vjob {
	const struct seg_row *seg;
	size_t seg_idx;
	uint32_t b0, b1;
	int first;
	struct kt_block_info *cblocks; /* the catalog's index of the file (first job) */
	size_t ncblocks, cbcap;
	enum kt_err cerr;
	struct vprob *probs;
	size_t nprobs, pcap;
	size_t dropped; /* problems beyond the per-job cap */
	uint64_t blocks, records, bytes;
	int missing, damaged, done;
};

struct verify {
	struct kt_archive *a;
	const struct kt_inspect_verify_opts *o;
	struct kt_inspect_verify_result *res;
	struct vjob *jobs;
	size_t njobs, next, emit;
	uint8_t *file_damaged; /* per segment row: counted once */
	pthread_mutex_t mu;    /* jobs' handout and emission, and the catalog */
	enum kt_err err;
	struct kt_diag diag;
};

static void vprob_add(struct vjob *j, const char *kind, enum kt_err err, int64_t block, int64_t pos, const char *fmt,
		      ...) __attribute__((format(printf, 6, 7)));

static void vprob_add(struct vjob *j, const char *kind, enum kt_err err, int64_t block, int64_t pos, const char *fmt,
		      ...)
{
	if (j->nprobs >= VERIFY_MAX_PROBLEMS_PER_JOB) {
		j->dropped++;
		return;
	}
	enum kt_err e2 = KT_OK;
	PUSH(j->probs, j->nprobs, j->pcap, e2);
	if (e2) {
		j->dropped++;
		return;
	}
	struct vprob *p = &j->probs[j->nprobs++];
	p->block = block;
	p->pos = pos;
	p->kind = kind;
	p->err = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	if (strcmp(kind, "missing") != 0)
		j->damaged = 1;
}

static int vblock_cb(void *ctx, const struct kt_catalog_block *b)
{
	struct vjob *j = ctx;
	if (b->segment_id != j->seg->segment_id)
		return 0;
	PUSH(j->cblocks, j->ncblocks, j->cbcap, j->cerr);
	if (j->cerr)
		return 1;
	j->cblocks[j->ncblocks++] = b->info;
	return 0;
}

static void verify_header(struct vjob *j, const struct kt_segment_info *info)
{
	const struct seg_row *s = j->seg;
	if (strcmp(info->topic, s->topic) || info->partition != s->part || info->generation != s->gen)
		vprob_add(j, "header", KT_ERR_MISMATCH, -1, 0,
			  "file holds %s generation %" PRIu32 " partition %" PRId32
			  ", the catalog says %s generation %" PRIu32 " partition %" PRId32,
			  info->topic, info->generation, info->partition, s->topic, s->gen, s->part);
	/* readers still deliver every complete block of such a file; reindex
	 * indexes them and records what they do not hold as missing */
	if (info->footer_err == KT_ERR_TRUNCATED)
		vprob_add(j, "footer", KT_ERR_TRUNCATED, -1, (int64_t)info->file_size,
			  "no footer: the file is truncated (ends at byte %" PRIu64
			  "); its complete blocks are still read, and 'ktape reindex' records the rest as missing",
			  info->file_size);
	else if (info->footer_err != KT_OK)
		vprob_add(j, "footer", info->footer_err, -1, -1,
			  "footer is damaged (%s); its blocks are still read by scanning, and 'ktape reindex' "
			  "indexes them",
			  kt_err_str(info->footer_err));
	else if (info->footer_crc != s->sum.file_crc)
		vprob_add(j, "footer", KT_ERR_MISMATCH, -1, -1,
			  "footer CRC 0x%08" PRIx32 " differs from the catalog's 0x%08" PRIx32
			  " (the file was replaced)",
			  info->footer_crc, s->sum.file_crc);
	for (unsigned i = 0; i < info->problem_count; i++) {
		const struct kt_segment_problem *p = &info->problems[i];
		/* a salvaged header is problem 0 (SPEC 6.6) */
		int hdr = i == 0 && info->header_err != KT_OK;
		vprob_add(j, hdr ? "header" : "block", p->err, -1, (int64_t)p->pos, "%s", p->msg);
	}
	const struct kt_segment_summary *m = &info->summary;
	if (info->footer_err == KT_OK &&
	    (m->record_count != s->sum.record_count || m->first_offset != s->sum.first_offset ||
	     m->last_offset != s->sum.last_offset))
		vprob_add(j, "index", KT_ERR_MISMATCH, -1, -1,
			  "file holds offsets %" PRId64 "..%" PRId64 " (%" PRIu64 " records), the catalog says %" PRId64
			  "..%" PRId64 " (%" PRIu64 " records)",
			  m->first_offset, m->last_offset, m->record_count, s->sum.first_offset, s->sum.last_offset,
			  s->sum.record_count);
}

static int block_info_equal(const struct kt_block_info *a, const struct kt_block_info *b)
{
	return a->pos == b->pos && a->record_count == b->record_count && a->compressed_size == b->compressed_size &&
	       a->raw_size == b->raw_size && a->first_offset == b->first_offset && a->last_offset == b->last_offset &&
	       a->min_timestamp == b->min_timestamp && a->max_timestamp == b->max_timestamp;
}

static void verify_index(struct vjob *j, struct kt_segment_reader *r)
{
	uint32_t n = kt_segment_reader_block_count(r);
	if (n != j->ncblocks || j->seg->sum.block_count != j->ncblocks)
		vprob_add(j, "index", KT_ERR_MISMATCH, -1, -1,
			  "file has %" PRIu32 " blocks, the catalog lists %zu (segment row says %" PRIu32 ")", n,
			  j->ncblocks, j->seg->sum.block_count);
	/* both are in offset order: compare by index */
	for (uint32_t i = 0; i < n && i < j->ncblocks; i++) {
		const struct kt_block_info *f = kt_segment_reader_block(r, i);
		const struct kt_block_info *c = &j->cblocks[i];
		if (!block_info_equal(f, c))
			vprob_add(j, "index", KT_ERR_MISMATCH, i, (int64_t)f->pos,
				  "block %" PRIu32 " at byte %" PRIu64 " (offsets %" PRId64 "..%" PRId64
				  ") differs from the catalog's (byte %" PRIu64 ", offsets %" PRId64 "..%" PRId64 ")",
				  i, f->pos, f->first_offset, f->last_offset, c->pos, c->first_offset, c->last_offset);
	}
}

/* Asks the kernel to read the job's bytes ahead, so that the disk works
 * while the first blocks are checked (jobs start in the middle of files,
 * where sequential readahead has not begun). */
static void prefetch(const char *path, struct kt_segment_reader *r, uint32_t b0, uint32_t b1)
{
	uint32_t n = kt_segment_reader_block_count(r);
	if (b0 >= n || b0 >= b1)
		return;
	uint64_t from = kt_segment_reader_block(r, b0)->pos;
	uint64_t to = b1 < n ? kt_segment_reader_block(r, b1)->pos : kt_segment_reader_info(r)->file_size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	posix_fadvise(fd, (off_t)from, (off_t)(to - from), POSIX_FADV_WILLNEED);
	close(fd);
}

static void verify_blocks(struct verify *v, struct vjob *j, struct kt_segment_reader *r, const char *path)
{
	uint32_t n = kt_segment_reader_block_count(r), b0 = j->b0, b1 = j->b1;
	if (kt_segment_reader_info(r)->footer_err != KT_OK) {
		b0 = 0;
		b1 = j->first ? n : 0;
	}
	prefetch(path, r, b0, b1);
	for (uint32_t i = b0; i < n && i < b1; i++) {
		if (v->o->stop && *v->o->stop)
			return;
		struct kt_diag d;
		kt_diag_clear(&d);
		enum kt_err err = kt_segment_reader_check_block(r, i, v->o->deep, &d);
		const struct kt_block_info *b = kt_segment_reader_block(r, i);
		j->blocks++;
		j->records += b->record_count;
		if (err)
			vprob_add(j, "block", err, d.block >= 0 ? d.block : i, d.pos >= 0 ? d.pos : (int64_t)b->pos,
				  "%s", d.msg[0] ? d.msg : kt_err_str(err));
	}
}

/* Whether the catalog lists path now: a writer may have changed it since
 * verify read the list (readers see each commit; verify takes no lock). */
static int still_listed(struct verify *v, const char *path)
{
	int found = 1;
	pthread_mutex_lock(&v->mu);
	if (kt_catalog_has_segment(kt_archive_catalog(v->a), path, &found, NULL) != KT_OK)
		found = 1; /* cannot tell: as the list said */
	pthread_mutex_unlock(&v->mu);
	return found;
}

/* A later job of a file: its blocks only; the first job reports whatever
 * keeps the file from being opened. */
/* Opens a listed file as readers do: a damaged header costs no block,
 * since the catalog knows whose file it is (SPEC 6.6). */
static enum kt_err verify_open(const struct vjob *j, const char *path, struct kt_segment_reader **out,
			       struct kt_diag *diag)
{
	struct kt_segment_identity id = {j->seg->topic, j->seg->part, j->seg->gen};
	struct kt_segment_reader_opts ro = {0, &id};
	return kt_segment_reader_open(path, &ro, out, diag);
}

static void verify_chunk(struct verify *v, struct vjob *j, const char *path)
{
	struct kt_segment_reader *r;
	if (verify_open(j, path, &r, NULL) != KT_OK)
		return;
	verify_blocks(v, j, r, path);
	kt_segment_reader_close(r);
}

static void verify_file(struct verify *v, struct vjob *j)
{
	char path[PATH_BUF];
	kt_archive_path(v->a, j->seg->path, path, sizeof(path));
	if (!j->first) {
		verify_chunk(v, j, path);
		return;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT && !still_listed(v, j->seg->path))
			return; /* a prune removed it while we ran */
		j->missing = errno == ENOENT;
		vprob_add(j, errno == ENOENT ? "missing" : "io", errno == ENOENT ? KT_ERR_NOT_FOUND : KT_ERR_IO, -1, -1,
			  "%s",
			  errno == ENOENT ? "the catalog lists this file but it does not exist" : strerror(errno));
		return;
	}
	j->bytes = (uint64_t)st.st_size;
	if ((uint64_t)st.st_size != j->seg->sum.file_bytes)
		vprob_add(j, "size", KT_ERR_MISMATCH, -1, -1, "file has %lld bytes, the catalog says %" PRIu64 "%s",
			  (long long)st.st_size, j->seg->sum.file_bytes,
			  (uint64_t)st.st_size < j->seg->sum.file_bytes ? " (truncated)" : "");
	struct kt_segment_reader *r;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = verify_open(j, path, &r, &d);
	if (err) {
		vprob_add(j, "header", err, -1, 0, "cannot read the file: %s", d.msg[0] ? d.msg : kt_err_str(err));
		return;
	}
	verify_header(j, kt_segment_reader_info(r));
	verify_index(j, r);
	verify_blocks(v, j, r, path);
	kt_segment_reader_close(r);
}

static void verify_emit_locked(struct verify *v)
{
	while (v->emit < v->njobs && v->jobs[v->emit].done) {
		struct vjob *j = &v->jobs[v->emit++];
		for (size_t i = 0; i < j->nprobs; i++) {
			const struct vprob *p = &j->probs[i];
			struct kt_inspect_problem pr = {j->seg->path, p->block, p->pos, p->kind, p->err, p->msg};
			if (v->o->on_problem)
				v->o->on_problem(v->o->ctx, &pr);
		}
		if (j->dropped) {
			char msg[96];
			snprintf(msg, sizeof(msg), "%zu more problems in blocks %" PRIu32 "..%" PRIu32 " of this file",
				 j->dropped, j->b0, j->b1 == UINT32_MAX ? j->b0 + VERIFY_CHUNK_BLOCKS - 1 : j->b1 - 1);
			struct kt_inspect_problem pr = {j->seg->path, -1, -1, "block", KT_ERR_CHECKSUM, msg};
			if (v->o->on_problem)
				v->o->on_problem(v->o->ctx, &pr);
		}
		struct kt_inspect_verify_result *res = v->res;
		res->problems += j->nprobs + j->dropped;
		res->blocks += j->blocks;
		res->records += j->records;
		res->bytes += j->bytes;
		res->missing_files += (uint64_t)j->missing;
		if (j->damaged && !v->file_damaged[j->seg_idx]) {
			v->file_damaged[j->seg_idx] = 1;
			res->damaged_files++;
		}
		free(j->probs);
		free(j->cblocks);
		j->probs = NULL;
		j->cblocks = NULL;
	}
}

static void *verify_worker(void *arg)
{
	struct verify *v = arg;
	for (;;) {
		pthread_mutex_lock(&v->mu);
		int stop = v->err || (v->o->stop && *v->o->stop);
		size_t i = stop ? v->njobs : v->next++;
		struct vjob *j = i < v->njobs ? &v->jobs[i] : NULL;
		if (j && j->first) {
			/* the catalog connection is not shared between threads:
			 * its index of the file is read under the lock */
			const struct seg_row *s = j->seg;
			struct kt_diag d;
			enum kt_err err =
				kt_catalog_blocks_in_range(kt_archive_catalog(v->a), s->topic, s->gen, s->part,
							   s->sum.first_offset, s->sum.last_offset, vblock_cb, j, &d);
			if (err || j->cerr) {
				v->err = err ? err : j->cerr;
				v->diag = d;
				j = NULL;
			}
		}
		pthread_mutex_unlock(&v->mu);
		if (!j)
			return NULL;
		verify_file(v, j);
		pthread_mutex_lock(&v->mu);
		j->done = 1;
		verify_emit_locked(v);
		pthread_mutex_unlock(&v->mu);
	}
}

struct path_list {
	char **v;
	size_t n, cap;
	enum kt_err err;
};

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every regular file under rel (recursively), as paths relative to the archive. */
static void list_files(struct kt_archive *a, const char *rel, struct path_list *out)
{
	char path[PATH_BUF];
	DIR *d = opendir(kt_archive_path(a, rel, path, sizeof(path)));
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) && !out->err) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char child[PATH_BUF], full[PATH_BUF];
		snprintf(child, sizeof(child), "%s/%s", rel, e->d_name);
		struct stat st;
		if (lstat(kt_archive_path(a, child, full, sizeof(full)), &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			list_files(a, child, out);
			continue;
		}
		PUSH(out->v, out->n, out->cap, out->err);
		if (!out->err && !(out->v[out->n++] = strdup(child)))
			out->err = KT_ERR_NOMEM;
	}
	closedir(d);
}

static void report_extra(struct verify *v, const char *path)
{
	size_t l = strlen(path);
	int kts = l > 4 && !strcmp(path + l - 4, ".kts");
	struct kt_inspect_problem p = {path,
				       -1,
				       -1,
				       "extra",
				       KT_ERR_MISMATCH,
				       kts ? "a segment file the catalog does not list (the next dump indexes it; "
					     "'ktape reindex' rebuilds the catalog)"
					   : "not a segment file (ktape ignores it)"};
	if (v->o->on_problem)
		v->o->on_problem(v->o->ctx, &p);
	v->res->problems++;
	v->res->extra_files++;
}

/* Files under segments/ that the catalog does not list. A dump renames a
 * segment into place a moment before it commits it to the catalog, so an
 * unlisted file is looked up again after a pause before it is reported. */
static enum kt_err verify_extra(struct verify *v, const struct rows *r)
{
	struct path_list files = {0};
	list_files(v->a, "segments", &files);
	char **known = calloc(r->nseg + 1, sizeof(*known));
	enum kt_err err = files.err ? files.err : known ? KT_OK : KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < r->nseg; i++)
		known[i] = r->segs[i].path;
	size_t nx = 0;
	if (!err) {
		qsort(known, r->nseg, sizeof(*known), str_cmp);
		qsort(files.v, files.n, sizeof(*files.v), str_cmp);
		/* keep the unlisted ones at the front, in order */
		for (size_t i = 0; i < files.n; i++) {
			if (bsearch(&files.v[i], known, r->nseg, sizeof(*known), str_cmp)) {
				free(files.v[i]);
				continue;
			}
			files.v[nx++] = files.v[i];
		}
		files.n = nx;
	}
	if (nx)
		usleep(500 * 1000);
	for (size_t i = 0; !err && i < files.n; i++)
		if (!still_listed(v, files.v[i]))
			report_extra(v, files.v[i]);
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i]);
	free(files.v);
	free(known);
	return err;
}

static int verify_threads(const struct kt_inspect_verify_opts *o, size_t njobs)
{
	long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > 16)
		n = 16;
	if ((size_t)n > njobs)
		n = njobs ? (long)njobs : 1;
	return (int)n;
}

static enum kt_err verify_run_jobs(struct verify *v)
{
	int nt = verify_threads(v->o, v->njobs);
	pthread_t *tids = calloc((size_t)nt, sizeof(*tids));
	if (!tids)
		return KT_ERR_NOMEM;
	int started = 0;
	for (int i = 0; i < nt; i++)
		if (pthread_create(&tids[i], NULL, verify_worker, v) == 0)
			started++;
		else
			break;
	if (!started)
		verify_worker(v); /* no threads to be had: do it here */
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return KT_OK;
}

/* The jobs: each file split into runs of VERIFY_CHUNK_BLOCKS blocks (as
 * the catalog counts them; the last job also takes any blocks beyond). */
static enum kt_err verify_plan(struct verify *v, const struct rows *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nseg; i++)
		n += r->segs[i].sum.block_count / VERIFY_CHUNK_BLOCKS + 1;
	v->jobs = calloc(n + 1, sizeof(*v->jobs));
	v->file_damaged = calloc(r->nseg + 1, 1);
	if (!v->jobs || !v->file_damaged)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < r->nseg; i++) {
		uint32_t nb = r->segs[i].sum.block_count;
		for (uint32_t b0 = 0; b0 == 0 || b0 < nb; b0 += VERIFY_CHUNK_BLOCKS) {
			struct vjob *j = &v->jobs[v->njobs++];
			j->seg = &r->segs[i];
			j->seg_idx = i;
			j->first = b0 == 0;
			j->b0 = b0;
			j->b1 = nb - b0 > VERIFY_CHUNK_BLOCKS ? b0 + VERIFY_CHUNK_BLOCKS : UINT32_MAX;
		}
	}
	return KT_OK;
}

static void verify_problem(const struct kt_inspect_verify_opts *o, struct kt_inspect_verify_result *res,
			   const struct kt_inspect_problem *p)
{
	if (o->on_problem)
		o->on_problem(o->ctx, p);
	res->problems++;
}

struct verify_side {
	const struct kt_inspect_verify_opts *o;
	struct kt_inspect_verify_result *res;
};

static void verify_meta_cb(void *ctx, const char *rel, enum kt_err err, const char *msg)
{
	struct verify_side *vs = ctx;
	char m[KT_DIAG_MSG_MAX + 96];
	snprintf(m, sizeof(m), "%s; 'ktape reindex' would lose this run's history", msg);
	struct kt_inspect_problem p = {rel, -1, -1, "meta", err, m};
	verify_problem(vs->o, vs->res, &p);
	vs->res->damaged_meta++;
}

/* Offsets the archive held once and cannot deliver: every one is a
 * problem, named with its file and reason. */
static enum kt_err verify_missing(const struct kt_inspect_verify_opts *o, struct kt_inspect_verify_result *res,
				  const struct rows *r)
{
	for (size_t i = 0; i < r->nmiss; i++) {
		const struct miss_row *m = &r->miss[i];
		char msg[1024];
		snprintf(msg, sizeof(msg), "offsets %" PRId64 "..%" PRId64 " of %s/%" PRId32 " cannot be read: %s",
			 m->first, m->last, m->topic, m->part, m->reason);
		struct kt_inspect_problem p = {m->path, -1, -1, "missing", KT_ERR_DATA_LOST, msg};
		verify_problem(o, res, &p);
		res->missing_ranges++;
		res->missing_offsets += (uint64_t)(m->last - m->first + 1);
	}
	return KT_OK;
}

enum kt_err kt_inspect_verify(struct kt_archive *a, const struct kt_inspect_verify_opts *o,
			      struct kt_inspect_verify_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	int64_t t0 = kt_mono_ns();
	struct kt_catalog *cat = kt_archive_catalog(a);
	struct kt_diag d;
	kt_diag_clear(&d);
	if (kt_catalog_check(cat, &d) != KT_OK) {
		struct kt_inspect_problem p = {"catalog.db", -1, -1, "catalog", KT_ERR_CATALOG, d.msg};
		if (o->on_problem)
			o->on_problem(o->ctx, &p);
		res->problems++;
	}
	struct rows r;
	enum kt_err err = rows_load(cat, 1, 1, &r, diag);
	struct verify v = {a, o, res, NULL, 0, 0, 0, NULL, PTHREAD_MUTEX_INITIALIZER, KT_OK, {{0}, {0}, -1, -1}};
	if (!err)
		err = verify_plan(&v, &r);
	res->files = r.nseg;
	if (!err)
		err = verify_run_jobs(&v);
	if (!err && v.err) {
		err = v.err;
		*diag = v.diag;
	}
	if (!err && o->stop && *o->stop)
		err = kt_diag_fail(diag, KT_ERR_INTERRUPTED, "interrupted");
	if (!err)
		err = verify_extra(&v, &r);
	if (!err)
		err = verify_missing(o, res, &r);
	struct verify_side vs = {o, res};
	int nmeta = 0;
	if (!err)
		err = kt_archive_check_meta(a, verify_meta_cb, &vs, &nmeta, diag);
	res->meta_files = (uint64_t)nmeta;
	for (size_t i = v.emit; i < v.njobs; i++) {
		free(v.jobs[i].probs);
		free(v.jobs[i].cblocks);
	}
	free(v.jobs);
	free(v.file_damaged);
	rows_free(&r);
	res->seconds = (double)(kt_mono_ns() - t0) / 1e9;
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "out of memory while verifying");
	return err;
}

/* ---- prune ---- */

struct prune {
	const struct kt_inspect_prune_opts *o;
	struct kt_inspect_prune_result *res;
	int64_t *kept_runs; /* KEEP_RUNS: the dump runs whose segments stay */
	size_t nkept;
	size_t seg_cap, part_cap;
};

static int run_kept(const struct prune *pr, int64_t run_id)
{
	for (size_t i = 0; i < pr->nkept; i++)
		if (pr->kept_runs[i] == run_id)
			return 1;
	return 0;
}

/* The dump run that wrote a segment: its own record, or (for segments
 * found by recovery or reindex) the newest run whose progress covers the
 * segment's first offset. 0 when unknown. */
static int64_t segment_run(const struct seg_row *s, const struct prun_row *pr, size_t npr)
{
	if (s->run_id > 0)
		return s->run_id;
	int64_t best = 0;
	for (size_t i = 0; i < npr; i++)
		if (pr[i].from <= s->sum.first_offset && s->sum.first_offset < pr[i].done_end && pr[i].run_id > best)
			best = pr[i].run_id;
	return best;
}

static int prune_candidate(const struct prune *pr, const struct seg_row *s, const struct prun_row *p, size_t np)
{
	const struct kt_inspect_prune_opts *o = pr->o;
	/* records without timestamps (-1) have no age: such a segment stays */
	int64_t ts = s->sum.max_timestamp;
	switch (o->policy) {
	case KT_PRUNE_KEEP_DAYS: return ts >= 0 && ts < o->now_ms - o->value * 86400000;
	case KT_PRUNE_BEFORE: return ts >= 0 && ts < o->value;
	case KT_PRUNE_KEEP_RUNS: {
		int64_t run = segment_run(s, p, np);
		return run > 0 && !run_kept(pr, run); /* unknown: kept, to be safe */
	}
	}
	return 0;
}

static enum kt_err prune_add(struct prune *pr, const struct seg_row *s)
{
	struct kt_inspect_prune_result *res = pr->res;
	enum kt_err err = KT_OK;
	PUSH(res->segs, res->seg_count, pr->seg_cap, err);
	if (err)
		return err;
	struct kt_inspect_pruned *x = &res->segs[res->seg_count];
	*x = (struct kt_inspect_pruned){strdup(s->path),
					strdup(s->topic),
					s->gen,
					s->part,
					s->sum.first_offset,
					s->sum.last_offset,
					s->sum.max_timestamp,
					s->sum.record_count,
					s->sum.file_bytes,
					s->segment_id};
	if (!x->path || !x->topic) {
		free(x->path);
		free(x->topic);
		return KT_ERR_NOMEM;
	}
	res->seg_count++;
	res->records += s->sum.record_count;
	res->file_bytes += s->sum.file_bytes;
	return KT_OK;
}

/* Removes the longest prefix of candidates, never the newest segment: what
 * stays is one contiguous tail of the partition. */
static enum kt_err prune_key(void *ctx, const struct pkey *k, const struct key_rows *kr)
{
	struct prune *pr = ctx;
	const struct seg_row *segs = kr->segs;
	const struct prun_row *p = kr->pr;
	size_t nseg = kr->nseg, np = kr->npr;
	size_t cut = 0;
	while (cut + 1 < nseg && prune_candidate(pr, &segs[cut], p, np))
		cut++;
	pr->res->kept_segments += nseg - cut;
	if (!cut)
		return KT_OK;
	enum kt_err err = KT_OK;
	for (size_t i = 0; i < cut && !err; i++)
		err = prune_add(pr, &segs[i]);
	struct kt_inspect_prune_result *res = pr->res;
	if (!err)
		PUSH(res->parts, res->part_count, pr->part_cap, err);
	if (err)
		return err;
	struct kt_inspect_prune_part *pp = &res->parts[res->part_count];
	*pp = (struct kt_inspect_prune_part){strdup(k->topic),
					     k->gen,
					     k->part,
					     cut,
					     segs[0].sum.first_offset,
					     segs[cut - 1].sum.last_offset,
					     segs[cut].sum.first_offset};
	if (!pp->topic)
		return KT_ERR_NOMEM;
	res->part_count++;
	return KT_OK;
}

struct dump_runs {
	int64_t *v;
	size_t n, cap;
	enum kt_err err;
};

static int dump_run_cb(void *ctx, const struct kt_catalog_run *run)
{
	struct dump_runs *d = ctx;
	if (strcmp(run->kind, "dump") != 0)
		return 0;
	PUSH(d->v, d->n, d->cap, d->err);
	if (d->err)
		return 1;
	d->v[d->n++] = run->run_id;
	return 0;
}

static int run_read_something(const struct rows *r, int64_t run_id)
{
	for (size_t i = 0; i < r->nprun; i++)
		if (r->pruns[i].run_id == run_id)
			return 1;
	return 0;
}

/* KEEP_RUNS: the N newest dump runs that reached the cluster (left
 * partition progress); a run that failed before reading anything does not
 * push older data out. */
static enum kt_err prune_kept_runs(struct kt_catalog *cat, const struct rows *r, struct prune *pr, struct kt_diag *diag)
{
	struct dump_runs d = {0};
	enum kt_err err = kt_catalog_each_run(cat, dump_run_cb, &d, diag);
	if (!err && d.err)
		err = d.err;
	pr->kept_runs = calloc(d.n + 1, sizeof(int64_t));
	if (!err && !pr->kept_runs)
		err = KT_ERR_NOMEM;
	for (size_t i = d.n; !err && i-- > 0 && pr->nkept < (size_t)pr->o->value;)
		if (run_read_something(r, d.v[i]))
			pr->kept_runs[pr->nkept++] = d.v[i];
	free(d.v);
	return err;
}

static enum kt_err prune_catalog(struct kt_archive *a, struct kt_inspect_prune_result *res,
				 const struct kt_inspect_prune_opts *o, struct kt_diag *diag)
{
	struct kt_catalog *cat = kt_archive_catalog(a);
	enum kt_err err = kt_catalog_begin(cat, diag);
	if (err)
		return err;
	struct kt_catalog_run run = {0};
	run.kind = "prune";
	run.started_ms = o->now_ms;
	run.args = o->args ? o->args : "ktape prune";
	run.tool_version = o->tool_version ? o->tool_version : "";
	err = kt_catalog_run_begin(cat, &run, &res->run_id, diag);
	/* noted as pruned, so that a reindex does not take their absence for
	 * a hole; missing ranges below what stays go with them */
	for (size_t i = 0; !err && i < res->seg_count; i++) {
		err = kt_catalog_delete_segment(cat, res->segs[i].segment_id, diag);
		if (!err)
			err = kt_catalog_note_pruned(cat, res->run_id, res->segs[i].path, diag);
	}
	for (size_t i = 0; !err && i < res->part_count; i++) {
		const struct kt_inspect_prune_part *pp = &res->parts[i];
		err = kt_catalog_fix_prefix_max(cat, pp->topic, pp->generation, pp->partition, diag);
		if (!err)
			err = kt_catalog_prune_missing_below(cat, res->run_id, pp->topic, pp->generation, pp->partition,
							     pp->new_first, diag);
	}
	if (!err)
		return kt_catalog_commit(cat, diag);
	kt_catalog_rollback(cat);
	res->run_id = 0;
	return err;
}

/* After the catalog forgot them: unlink the files, then fsync each
 * directory once so that the removals are durable. */
static void prune_files(struct kt_archive *a, struct kt_inspect_prune_result *res, struct kt_diag *diag)
{
	char path[PATH_BUF], prev_dir[PATH_BUF] = "";
	for (size_t i = 0; i < res->seg_count; i++) {
		kt_archive_path(a, res->segs[i].path, path, sizeof(path));
		if (unlink(path) != 0 && errno != ENOENT) {
			res->unlink_failures++;
			kt_diag_fail(diag, KT_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
		}
	}
	for (size_t i = 0; i < res->seg_count; i++) {
		kt_archive_path(a, res->segs[i].path, path, sizeof(path));
		char *slash = strrchr(path, '/');
		size_t dl = slash ? (size_t)(slash - path) : 0;
		if (strlen(prev_dir) == dl && !strncmp(prev_dir, path, dl))
			continue;
		snprintf(prev_dir, sizeof(prev_dir), "%.*s", (int)dl, path);
		struct kt_diag d;
		if (kt_fsync_parent_dir(path, &d) != KT_OK) {
			res->unlink_failures++;
			*diag = d;
		}
	}
}

static enum kt_err prune_finish_run(struct kt_archive *a, struct kt_inspect_prune_result *res, struct kt_diag *diag)
{
	struct kt_catalog *cat = kt_archive_catalog(a);
	char msg[256];
	snprintf(msg, sizeof(msg), "removed %zu segments (%" PRIu64 " records, %" PRIu64 " bytes)%s", res->seg_count,
		 res->records, res->file_bytes, res->unlink_failures ? "; some files could not be removed" : "");
	enum kt_err err = kt_catalog_begin(cat, diag);
	if (!err)
		err = kt_catalog_run_end(cat, res->run_id, res->unlink_failures ? "failed" : "ok",
					 (int64_t)res->records, (int64_t)res->file_bytes, msg, kt_now_ms(), diag);
	if (!err)
		err = kt_catalog_commit(cat, diag);
	else
		kt_catalog_rollback(cat);
	if (!err)
		err = kt_archive_write_run_meta(a, res->run_id, "prune", diag);
	return err;
}

enum kt_err kt_inspect_prune(struct kt_archive *a, const struct kt_inspect_prune_opts *o,
			     struct kt_inspect_prune_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	if (o->value < 0 || (o->policy == KT_PRUNE_KEEP_RUNS && o->value < 1))
		return kt_diag_fail(diag, KT_ERR_INVALID, "prune: the policy's value must be positive");
	struct kt_catalog *cat = kt_archive_catalog(a);
	struct rows r;
	struct prune pr = {o, res, NULL, 0, 0, 0};
	enum kt_err err = rows_load(cat, 1, 1, &r, diag);
	if (!err && o->policy == KT_PRUNE_KEEP_RUNS)
		err = prune_kept_runs(cat, &r, &pr, diag);
	if (!err)
		err = each_key(&r, prune_key, &pr);
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "out of memory while planning the prune");
	rows_free(&r);
	free(pr.kept_runs);
	if (err || o->dry_run)
		return err;
	err = prune_catalog(a, res, o, diag);
	if (err)
		return err;
	struct kt_diag fd;
	kt_diag_clear(&fd);
	prune_files(a, res, &fd);
	err = prune_finish_run(a, res, diag);
	if (!err && res->unlink_failures) {
		*diag = fd;
		err = KT_ERR_IO;
	}
	return err;
}

void kt_inspect_prune_result_free(struct kt_inspect_prune_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->seg_count; i++) {
		free(res->segs[i].path);
		free(res->segs[i].topic);
	}
	free(res->segs);
	for (size_t i = 0; i < res->part_count; i++)
		free(res->parts[i].topic);
	free(res->parts);
	memset(res, 0, sizeof(*res));
}
