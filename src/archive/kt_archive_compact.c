/* kt_archive_compact.c - merging small segments (kt_archive_compact.h). */
#include "kt_archive_compact.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_archive_internal.h"
#include "kt_segment_reader.h"
#include "kt_store.h"
#include "kt_strv.h"

#define PATH_BUF 4096
/* Size classes below "full": class k holds segments smaller than
 * segment_bytes / fanout^k. The smallest class is the last one whose bound
 * is still this large: below it, merging tiny files costs nothing worth
 * telling apart. */
#define MAX_CLASSES	8
#define MIN_CLASS_BYTES (64u << 10)

struct cseg {
	int64_t id;
	char *path;
	struct kt_segment_summary sum;
	int64_t run_id;
	int64_t committed_ms;
};

struct crange {
	int64_t first, last;
};

struct kt_archive_compactor {
	struct kt_archive *a;
	struct kt_archive_compact_opts o;
	struct kt_segment_codec *codec;
	int classes;
	uint64_t budget_left;
	int merged_this_pass;
	char **given_up; /* paths of windows that could not be merged: not tried again */
	size_t n_given_up;
	struct kt_archive_compact_stats stats;
	/* per partition, the first offset a pass reads the catalog from: what
	 * lies before it is in age windows that are over and merged, and
	 * never merges again, so a pass costs what is recent, not the whole
	 * partition's history */
	struct horizon *horizons;
	size_t n_horizons;
	/* runs that ended (or crashed) before this one, whose segments merge
	 * too, among themselves: a follower restarted leaves its last tail */
	int64_t *ended;
	uint8_t *ended_import;
	size_t n_ended;
	int nomem;
};

struct horizon {
	char *topic;
	uint32_t generation;
	int32_t partition;
	int64_t from;
};

/* ---- the mechanism ---- */

static unsigned compact_seq;

/* Appends every record of one part to w (those keep keeps, when given;
 * the others are counted in *dropped): only a part that reads whole, as
 * the catalog describes it, is merged or rewritten. */
static enum kt_err copy_part(struct kt_archive *a, const struct kt_catalog_segment *p, struct kt_segment_writer *w,
			     kt_archive_keep_fn keep, void *keep_ctx, uint64_t *dropped, struct kt_diag *diag)
{
	struct kt_segment_reader_opts ro = {.key = kt_archive_key(a)};
	struct kt_store_segment *seg;
	enum kt_err err = kt_store_segment_open(kt_archive_store_of(a), p->path, &ro, &seg, diag);
	if (err) {
		kt_diag_prefix(diag, "%s", p->path);
		return err;
	}
	struct kt_segment_reader *r = kt_store_segment_reader(seg);
	const struct kt_segment_info *info = kt_segment_reader_info(r);
	if (info->header_err != KT_OK || info->footer_err != KT_OK || info->problem_count ||
	    info->footer_crc != p->sum.file_crc || strcmp(info->topic, p->topic) || info->partition != p->partition ||
	    info->generation != p->generation) {
		kt_store_segment_close(seg);
		return kt_diag_fail(diag, KT_ERR_FORMAT,
				    "%s is damaged or not the file the catalog describes: it is not merged", p->path);
	}
	/* the whole file is read: one request from a bucket, not one a block */
	kt_store_segment_prefetch(seg, 0, info->file_size);
	uint64_t n = 0;
	for (;;) {
		const struct kt_record *rec;
		err = kt_segment_reader_next(r, &rec, diag);
		if (err) {
			kt_diag_prefix(diag, "%s", p->path);
			break;
		}
		if (!rec)
			break;
		n++;
		if (keep && !keep(keep_ctx, rec)) {
			(*dropped)++;
			continue;
		}
		if (!w)
			continue; /* only counting */
		err = kt_segment_writer_add(w, rec, diag);
		if (err)
			break;
	}
	kt_store_segment_close(seg);
	if (!err && n != p->sum.record_count)
		err = kt_diag_fail(diag, KT_ERR_FORMAT, "%s holds %" PRIu64 " records, the catalog says %" PRIu64,
				   p->path, n, p->sum.record_count);
	return err;
}

/* One transaction: the merged segment in, the parts out. */
static enum kt_err swap_catalog(struct kt_archive *a, const struct kt_catalog_segment *parts, size_t n, int64_t by_run,
				const char *rel, const struct kt_segment_summary *sum,
				const struct kt_block_info *blocks, uint32_t nblocks, struct kt_diag *diag)
{
	struct kt_catalog *cat = kt_archive_catalog(a);
	enum kt_err err = kt_catalog_begin(cat, diag);
	if (err)
		return err;
	int64_t newest = 0;
	for (size_t i = 0; !err && i < n; i++) {
		int found = 0;
		err = kt_catalog_has_segment(cat, parts[i].path, &found, diag);
		if (!err && !found)
			err = kt_diag_fail(diag, KT_ERR_STATE, "%s is no longer in the catalog", parts[i].path);
		if (!err)
			err = kt_catalog_delete_segment(cat, parts[i].segment_id, diag);
		/* Another run's part may be claimed by its metadata file: noted,
		 * so that reindex does not take its absence for a hole. The
		 * merging run's own parts are claimed by no file (its own is
		 * written at its end, from its segments as they are then), and
		 * noting them would make rows of its commits again. */
		if (!err && parts[i].run_id != by_run)
			err = kt_catalog_note_pruned(cat, by_run, parts[i].path, diag);
		if (parts[i].committed_ms > newest)
			newest = parts[i].committed_ms;
	}
	struct kt_catalog_segment m = {.path = rel,
				       .topic = parts[0].topic,
				       .generation = parts[0].generation,
				       .partition = parts[0].partition,
				       .sum = *sum,
				       .run_id = parts[0].run_id,
				       .committed_ms = newest};
	if (!err)
		err = kt_catalog_add_segment(cat, &m, blocks, nblocks, NULL, diag);
	if (!err)
		return kt_catalog_commit(cat, diag);
	kt_catalog_rollback(cat);
	return err;
}

/* An erasure that leaves no record of a segment: its path is noted as
 * pruned by by_run (which recovery and reindex read as "erased", 10.9) and
 * the erasing run's metadata file written again, so that from then on a
 * reindex never indexes it again; then its row goes (a writer's recovery
 * completes that if a crash comes first), then its file. */
static enum kt_err erase_whole(struct kt_archive *a, const struct kt_catalog_segment *p, int64_t by_run,
			       struct kt_diag *diag)
{
	struct kt_catalog *cat = kt_archive_catalog(a);
	enum kt_err err = kt_catalog_begin(cat, diag);
	if (err)
		return err;
	int found = 0;
	err = kt_catalog_has_segment(cat, p->path, &found, diag);
	if (!err && !found)
		err = kt_diag_fail(diag, KT_ERR_STATE, "%s is no longer in the catalog", p->path);
	if (!err)
		err = kt_catalog_note_pruned(cat, by_run, p->path, diag);
	if (!err)
		err = kt_catalog_commit(cat, diag);
	else
		kt_catalog_rollback(cat);
	if (!err)
		err = kt_archive_write_run_meta(a, by_run, "prune", diag);
	if (err)
		return err;
	kt_archive_crash_point("erase-noted");
	err = kt_catalog_begin(cat, diag);
	if (err)
		return err;
	err = kt_catalog_delete_segment(cat, p->segment_id, diag);
	if (!err)
		err = kt_catalog_commit(cat, diag);
	else
		kt_catalog_rollback(cat);
	if (err)
		return err;
	kt_archive_crash_point("erase-whole");
	struct kt_diag ignore;
	kt_archive_remove_unlisted(a, p->path, &ignore);
	return KT_OK;
}

/* The merge (keep NULL: parts[0..n), n >= 2, merged whole) and the
 * erasure's rewrite (keep given: n == 1, the records keep refuses left
 * out, the file named FIRST-LAST~N after the one it replaces) share the
 * swap. */
static enum kt_err rewrite_segments(struct kt_archive *a, const struct kt_catalog_segment *parts, size_t n,
				    int64_t by_run, const struct kt_segment_writer_opts *wo_in, kt_archive_keep_fn keep,
				    void *keep_ctx, uint64_t *out_dropped, struct kt_segment_summary *out_summary,
				    struct kt_diag *diag)
{
	uint64_t dropped = 0;
	if (out_dropped)
		*out_dropped = 0;
	if (!kt_archive_is_writer(a))
		return kt_diag_fail(diag, KT_ERR_STATE, "archive %s is open read-only", kt_archive_dir(a));
	if (n < (keep ? 1u : 2u) || (keep && n != 1))
		return kt_diag_fail(diag, KT_ERR_INVALID, "a merge needs at least two segments, a rewrite one");
	const struct kt_catalog_segment *p0 = &parts[0];
	uint64_t records = p0->sum.record_count;
	for (size_t i = 1; i < n; i++) {
		const struct kt_catalog_segment *p = &parts[i];
		if (strcmp(p->topic, p0->topic) || p->generation != p0->generation || p->partition != p0->partition ||
		    p->run_id != p0->run_id || p->sum.first_offset <= parts[i - 1].sum.last_offset)
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "%s cannot be merged with %s: another partition or run, or out of order",
					    p->path, p0->path);
		records += p->sum.record_count;
	}
	/* a version 1 reader would index a merged file beside its parts
	 * after a crash: such archives say 2 before the first one exists;
	 * one of 1 to 3 would not tell an erasure's rewrite (10.9) from the
	 * file it replaces: 4 before the first rewrite */
	enum kt_err err = kt_archive_upgrade(a, keep ? 4 : 2, diag);
	if (err)
		return err;
	struct kt_store *st = kt_archive_store_of(a);
	char name[64], tmp[PATH_BUF];
	snprintf(name, sizeof(name), "tmp/%d-compact-%u.kts", (int)getpid(), compact_seq++);
	kt_store_work_path(st, name, tmp, sizeof(tmp));
	struct kt_segment_writer_opts wo = *wo_in;
	wo.key = kt_archive_key(a); /* an archive is encrypted with one key or not at all */
	struct kt_segment_writer *w;
	err = kt_segment_writer_open(tmp, p0->topic, p0->partition, p0->generation, &wo, &w, diag);
	if (err)
		return err;
	for (size_t i = 0; !err && i < n; i++)
		err = copy_part(a, &parts[i], w, keep, keep_ctx, &dropped, diag);
	if (!err && keep && (dropped == 0 || dropped == records)) {
		/* nothing to erase: nothing changes; everything: no file */
		kt_segment_writer_close(w);
		unlink(tmp);
		if (dropped)
			err = erase_whole(a, p0, by_run, diag);
		if (!err && out_dropped)
			*out_dropped = dropped;
		if (!err && out_summary)
			memset(out_summary, 0, sizeof(*out_summary));
		return err;
	}
	struct kt_segment_summary sum;
	if (!err)
		err = kt_segment_writer_finish(w, &sum, diag);
	if (!err && keep && sum.record_count != records - dropped)
		err = kt_diag_fail(diag, KT_ERR_FORMAT, "rewriting %s gave %" PRIu64 " records, not %" PRIu64, p0->path,
				   sum.record_count, records - dropped);
	else if (!err && !keep &&
		 (sum.record_count != records || sum.first_offset != p0->sum.first_offset ||
		  sum.last_offset != parts[n - 1].sum.last_offset))
		err = kt_diag_fail(diag, KT_ERR_FORMAT, "merging %s..%s gave %" PRIu64 " records, not %" PRIu64,
				   p0->path, parts[n - 1].path, sum.record_count, records);
	if (err) {
		kt_segment_writer_close(w); /* removes the unfinished file */
		unlink(tmp);
		return err;
	}
	uint32_t nblocks;
	const struct kt_block_info *blocks = kt_segment_writer_blocks(w, &nblocks);
	char rel[PATH_BUF];
	int64_t nf, nl;
	if (!keep)
		kt_archive_segment_relpath(p0->topic, p0->generation, p0->partition, sum.first_offset, sum.last_offset,
					   rel, sizeof(rel));
	else if (kt_archive_segment_name_range(p0->path, &nf, &nl))
		kt_archive_segment_rewrite_relpath(p0->topic, p0->generation, p0->partition, nf, nl,
						   kt_archive_segment_rewrite_of(p0->path) + 1, rel, sizeof(rel));
	else
		kt_archive_segment_rewrite_relpath(p0->topic, p0->generation, p0->partition, p0->sum.first_offset,
						   p0->sum.last_offset, kt_archive_segment_rewrite_of(p0->path) + 1,
						   rel, sizeof(rel));
	kt_archive_crash_point("compact-written");
	/* renamed into segments/, or uploaded whole: a complete file the
	 * catalog does not list yet, beside the parts it duplicates */
	err = kt_store_commit_file(st, tmp, rel, diag);
	if (err) {
		unlink(tmp);
		kt_segment_writer_close(w);
		return err;
	}
	kt_archive_crash_point("compact-placed");
	err = swap_catalog(a, parts, n, by_run, rel, &sum, blocks, nblocks, diag);
	kt_segment_writer_close(w);
	if (err) {
		/* not listed: the merged file goes, unless a commit that failed
		 * late left it listed after all */
		struct kt_diag ignore;
		int found = 1;
		if (kt_catalog_has_segment(kt_archive_catalog(a), rel, &found, &ignore) == KT_OK && !found)
			kt_store_remove(st, rel, &ignore);
		return err;
	}
	/* an erasure's run notes the replaced path as pruned in its metadata
	 * file before the file goes, so that a reindex takes its absence for
	 * no hole (10.9); the file stays for recovery if that fails */
	if (keep)
		kt_archive_crash_point("erase-listed"); /* recovery and reindex roll forward from here too */
	if (keep && (err = kt_archive_write_run_meta(a, by_run, "prune", diag)))
		return err;
	kt_archive_crash_point("compact-swapped");
	/* The parts are unlisted now. A part that cannot be removed stays a
	 * leftover that the next writer's recovery removes: no error here. */
	for (size_t i = 0; i < n; i++) {
		struct kt_diag ignore;
		kt_archive_remove_unlisted(a, parts[i].path, &ignore);
		if (i == 0)
			kt_archive_crash_point("compact-removing");
	}
	if (out_summary)
		*out_summary = sum;
	if (out_dropped)
		*out_dropped = dropped;
	return KT_OK;
}

enum kt_err kt_archive_merge_segments(struct kt_archive *a, const struct kt_catalog_segment *parts, size_t n,
				      int64_t by_run, const struct kt_segment_writer_opts *wo,
				      struct kt_segment_summary *out_summary, struct kt_diag *diag)
{
	return rewrite_segments(a, parts, n, by_run, wo, NULL, NULL, NULL, out_summary, diag);
}

enum kt_err kt_archive_segment_count_refused(struct kt_archive *a, const struct kt_catalog_segment *seg,
					     kt_archive_keep_fn keep, void *keep_ctx, uint64_t *out_refused,
					     struct kt_diag *diag)
{
	*out_refused = 0;
	return copy_part(a, seg, NULL, keep, keep_ctx, out_refused, diag);
}

enum kt_err kt_archive_rewrite_segment(struct kt_archive *a, const struct kt_catalog_segment *seg, int64_t by_run,
				       const struct kt_segment_writer_opts *wo, kt_archive_keep_fn keep, void *keep_ctx,
				       uint64_t *out_dropped, struct kt_segment_summary *out_summary,
				       struct kt_diag *diag)
{
	if (!keep)
		return kt_diag_fail(diag, KT_ERR_INVALID, "a rewrite needs a record filter");
	return rewrite_segments(a, seg, 1, by_run, wo, keep, keep_ctx, out_dropped, out_summary, diag);
}

/* ---- the policy ---- */

static int collect_ended(void *ctx, const struct kt_catalog_run *run)
{
	struct kt_archive_compactor *c = ctx;
	int import = !strcmp(run->kind, "import");
	if ((strcmp(run->kind, "dump") && !import) || !strcmp(run->status, "running") || run->run_id == c->o.run_id)
		return 0;
	int64_t *e = realloc(c->ended, (c->n_ended + 1) * sizeof(*e));
	if (e)
		c->ended = e;
	uint8_t *ei = e ? realloc(c->ended_import, c->n_ended + 1) : NULL;
	if (!ei) {
		c->nomem = 1;
		return 1;
	}
	c->ended_import = ei;
	c->ended[c->n_ended] = run->run_id;
	c->ended_import[c->n_ended++] = (uint8_t)import;
	return 0;
}

/* 0: not a run whose segments merge; 1: the compacting run; 2: one that
 * ended (kind import when *out_import). */
static int mergeable_run(const struct kt_archive_compactor *c, int64_t run_id, int *out_import)
{
	if (run_id == c->o.run_id)
		return 1;
	for (size_t i = 0; run_id > 0 && i < c->n_ended; i++)
		if (c->ended[i] == run_id) {
			if (out_import)
				*out_import = c->ended_import[i];
			return 2;
		}
	return 0;
}

enum kt_err kt_archive_compactor_new(struct kt_archive *a, const struct kt_archive_compact_opts *o,
				     struct kt_archive_compactor **out, struct kt_diag *diag)
{
	*out = NULL;
	if (o->fanout < 2 || o->segment_bytes == 0)
		return kt_diag_fail(diag, KT_ERR_INVALID, "compaction needs a fanout of at least 2 and a segment size");
	struct kt_archive_compactor *c = calloc(1, sizeof(*c));
	if (!c)
		return KT_ERR_NOMEM;
	c->a = a;
	c->o = *o;
	if (!c->o.budget_bytes)
		c->o.budget_bytes = KT_COMPACT_DEFAULT_BUDGET;
	/* classes 1..classes: bounds segment_bytes / F^k down to MIN_CLASS_BYTES */
	c->classes = 1;
	uint64_t bound = o->segment_bytes / (uint64_t)o->fanout;
	while (c->classes < MAX_CLASSES && bound / (uint64_t)o->fanout >= MIN_CLASS_BYTES) {
		bound /= (uint64_t)o->fanout;
		c->classes++;
	}
	enum kt_err err = kt_catalog_each_run(kt_archive_catalog(a), collect_ended, c, diag);
	if (!err && c->nomem)
		err = KT_ERR_NOMEM;
	if (!err)
		err = kt_segment_codec_new(&c->codec);
	if (err) {
		free(c->ended);
		free(c->ended_import);
		free(c);
		return err;
	}
	kt_archive_compact_begin_pass(c);
	*out = c;
	return KT_OK;
}

void kt_archive_compactor_free(struct kt_archive_compactor *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_given_up; i++)
		free(c->given_up[i]);
	free(c->given_up);
	for (size_t i = 0; i < c->n_horizons; i++)
		free(c->horizons[i].topic);
	free(c->horizons);
	free(c->ended);
	free(c->ended_import);
	kt_segment_codec_free(c->codec);
	free(c);
}

void kt_archive_compact_begin_pass(struct kt_archive_compactor *c)
{
	c->budget_left = c->o.budget_bytes;
	c->merged_this_pass = 0;
}

const struct kt_archive_compact_stats *kt_archive_compact_stats(const struct kt_archive_compactor *c)
{
	return &c->stats;
}

/* The size class of a segment of raw bytes x (< segment_bytes): the
 * largest k <= classes with x < segment_bytes / F^k; 0 for the large ones. */
static int size_class(const struct kt_archive_compactor *c, uint64_t x)
{
	uint64_t bound = c->o.segment_bytes;
	int k = 0;
	while (k < c->classes && x < bound / (uint64_t)c->o.fanout) {
		bound /= (uint64_t)c->o.fanout;
		k++;
	}
	return k;
}

struct part_rows {
	uint32_t generation;
	int32_t partition;
	struct cseg *segs;
	size_t n, cap;
	struct crange *missing;
	size_t nmissing, mcap;
	int nomem;
};

static int collect_seg(void *ctx, const struct kt_catalog_segment *s)
{
	struct part_rows *pr = ctx;
	if (s->generation != pr->generation || s->partition != pr->partition)
		return 0;
	if (pr->n == pr->cap) {
		size_t cap = pr->cap ? pr->cap * 2 : 64;
		struct cseg *ns = realloc(pr->segs, cap * sizeof(*ns));
		if (!ns) {
			pr->nomem = 1;
			return 1;
		}
		pr->segs = ns;
		pr->cap = cap;
	}
	struct cseg *x = &pr->segs[pr->n];
	x->path = strdup(s->path);
	if (!x->path) {
		pr->nomem = 1;
		return 1;
	}
	x->id = s->segment_id;
	x->sum = s->sum;
	x->run_id = s->run_id;
	x->committed_ms = s->committed_ms;
	pr->n++;
	return 0;
}

static int collect_missing(void *ctx, const struct kt_catalog_missing *m)
{
	struct part_rows *pr = ctx;
	if (m->generation != pr->generation || m->partition != pr->partition)
		return 0;
	if (pr->nmissing == pr->mcap) {
		size_t cap = pr->mcap ? pr->mcap * 2 : 8;
		struct crange *nm = realloc(pr->missing, cap * sizeof(*nm));
		if (!nm) {
			pr->nomem = 1;
			return 1;
		}
		pr->missing = nm;
		pr->mcap = cap;
	}
	pr->missing[pr->nmissing++] = (struct crange){m->first_offset, m->last_offset};
	return 0;
}

static void part_rows_free(struct part_rows *pr)
{
	for (size_t i = 0; i < pr->n; i++)
		free(pr->segs[i].path);
	free(pr->segs);
	free(pr->missing);
	memset(pr, 0, sizeof(*pr));
}

static int missing_meets(const struct part_rows *pr, int64_t first, int64_t last)
{
	for (size_t i = 0; i < pr->nmissing; i++)
		if (pr->missing[i].first <= last && first <= pr->missing[i].last)
			return 1;
	return 0;
}

/* A segment the policy may merge: the compacting run's, committed at a
 * known time, not full, whole as far as the catalog knows. */
static int eligible(const struct kt_archive_compactor *c, const struct part_rows *pr, size_t i)
{
	const struct cseg *s = &pr->segs[i];
	return mergeable_run(c, s->run_id, NULL) && s->committed_ms > 0 && s->sum.raw_bytes < c->o.segment_bytes &&
	       !kt_strv_has(c->given_up, c->n_given_up, s->path) &&
	       !missing_meets(pr, s->sum.first_offset, s->sum.last_offset);
}

static int64_t age_window(const struct kt_archive_compactor *c, int64_t ms)
{
	return c->o.age_ms > 0 ? ms / c->o.age_ms : 0;
}

/* Whether segments i - 1 and i may be in one merge: both eligible, in one
 * age window, nothing missing between them. */
static int joins(const struct kt_archive_compactor *c, const struct part_rows *pr, size_t i)
{
	const struct cseg *p = &pr->segs[i - 1], *s = &pr->segs[i];
	return p->run_id == s->run_id && age_window(c, p->committed_ms) == age_window(c, s->committed_ms) &&
	       (s->sum.first_offset == p->sum.last_offset + 1 ||
		!missing_meets(pr, p->sum.last_offset + 1, s->sum.first_offset - 1));
}

/* The next window to merge in the group [g0, g1) of joined segments, as
 * *out_start and *out_count; 0 for none. An age window that is over
 * (nothing will be committed into it any more) merges whole, into as few
 * segments as segment_bytes allows; the current one merges by size class:
 * fanout adjacent segments each smaller than segment_bytes / F^k merge (for
 * the smallest k first), so that each record is rewritten about once per
 * class and no class holds fanout files in a row. */
static int group_window(const struct kt_archive_compactor *c, const struct part_rows *pr, size_t g0, size_t g1,
			int64_t now_ms, size_t *out_start, size_t *out_count)
{
	const uint64_t cap = c->o.segment_bytes;
	int64_t w = age_window(c, pr->segs[g0].committed_ms);
	int over = c->o.age_ms > 0 && now_ms >= (w + 1) * c->o.age_ms;
	if (over) {
		for (size_t i = g0; i < g1;) {
			uint64_t sum = pr->segs[i].sum.raw_bytes;
			size_t j = i + 1;
			while (j < g1 && sum + pr->segs[j].sum.raw_bytes <= cap)
				sum += pr->segs[j++].sum.raw_bytes;
			if (j - i >= 2) {
				*out_start = i;
				*out_count = j - i;
				return 1;
			}
			i = j;
		}
		return 0;
	}
	size_t f = (size_t)c->o.fanout;
	for (int k = c->classes; k >= 1; k--) {
		size_t run = 0;
		for (size_t i = g0; i < g1; i++) {
			run = size_class(c, pr->segs[i].sum.raw_bytes) >= k ? run + 1 : 0;
			if (run == f) {
				*out_start = i + 1 - f;
				*out_count = f;
				return 1;
			}
		}
	}
	return 0;
}

static int choose_window(const struct kt_archive_compactor *c, const struct part_rows *pr, int64_t now_ms,
			 size_t *out_start, size_t *out_count)
{
	size_t i = 0;
	while (i < pr->n) {
		if (!eligible(c, pr, i)) {
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < pr->n && eligible(c, pr, j) && joins(c, pr, j))
			j++;
		if (j - i >= 2 && group_window(c, pr, i, j, now_ms, out_start, out_count))
			return 1;
		i = j;
	}
	return 0;
}

/* Errors of one window's files: the window is left as it is. */
static int window_local(enum kt_err err)
{
	return err == KT_ERR_FORMAT || err == KT_ERR_CHECKSUM || err == KT_ERR_TRUNCATED || err == KT_ERR_NOT_FOUND ||
	       err == KT_ERR_INVALID || err == KT_ERR_KEY || err == KT_ERR_MISMATCH || err == KT_ERR_LIMIT ||
	       err == KT_ERR_STATE;
}

static enum kt_err give_up(struct kt_archive_compactor *c, const struct part_rows *pr, size_t start, size_t count)
{
	char **ng = realloc(c->given_up, (c->n_given_up + count) * sizeof(*ng));
	if (!ng)
		return KT_ERR_NOMEM;
	c->given_up = ng;
	for (size_t i = 0; i < count; i++)
		if ((c->given_up[c->n_given_up] = strdup(pr->segs[start + i].path)))
			c->n_given_up++;
	c->stats.skipped++;
	return KT_OK;
}

static struct horizon *find_horizon(struct kt_archive_compactor *c, const char *topic, uint32_t generation,
				    int32_t partition)
{
	for (size_t i = 0; i < c->n_horizons; i++)
		if (c->horizons[i].generation == generation && c->horizons[i].partition == partition &&
		    !strcmp(c->horizons[i].topic, topic))
			return &c->horizons[i];
	struct horizon *nh = realloc(c->horizons, (c->n_horizons + 1) * sizeof(*nh));
	if (!nh)
		return NULL;
	c->horizons = nh;
	struct horizon *h = &nh[c->n_horizons];
	*h = (struct horizon){strdup(topic), generation, partition, 0};
	if (!h->topic)
		return NULL;
	c->n_horizons++;
	return h;
}

/* Where the next pass may start reading: the first segment that may still
 * merge (the compacting run's, not full, in an age window that is not
 * over; once a pass found nothing to merge, nothing before it ever will),
 * else after the last one. */
static int64_t next_horizon(const struct kt_archive_compactor *c, const struct part_rows *pr, int64_t now_ms,
			    int64_t from)
{
	for (size_t i = 0; i < pr->n; i++) {
		const struct cseg *s = &pr->segs[i];
		if (s->sum.first_offset < from || !mergeable_run(c, s->run_id, NULL) || s->committed_ms <= 0 ||
		    s->sum.raw_bytes >= c->o.segment_bytes)
			continue;
		if (c->o.age_ms <= 0 || now_ms < (age_window(c, s->committed_ms) + 1) * c->o.age_ms)
			return s->sum.first_offset;
	}
	return pr->n && pr->segs[pr->n - 1].sum.last_offset + 1 > from ? pr->segs[pr->n - 1].sum.last_offset + 1 : from;
}

enum kt_err kt_archive_compact_partition(struct kt_archive_compactor *c, const char *topic, uint32_t generation,
					 int32_t partition, int64_t now_ms, struct kt_diag *diag)
{
	struct horizon *h = find_horizon(c, topic, generation, partition);
	if (!h)
		return KT_ERR_NOMEM;
	struct kt_catalog *cat = kt_archive_catalog(c->a);
	struct kt_segment_writer_opts wo = {
		.zstd_level = c->o.zstd_level, .block_bytes = c->o.block_bytes, .codec = c->codec};
	enum kt_err err = KT_OK;
	struct kt_diag skipped_diag;
	kt_diag_clear(&skipped_diag);
	int skipped = 0;
	/* every merge changes the partition's rows: read them again, until
	 * nothing is left to merge or the pass's budget is spent */
	for (;;) {
		struct part_rows pr = {.generation = generation, .partition = partition};
		err = kt_catalog_each_segment_overlapping(cat, topic, generation, partition, h->from, INT64_MAX,
							  collect_seg, &pr, diag);
		if (!err)
			err = kt_catalog_each_missing(cat, topic, collect_missing, &pr, diag);
		if (!err && pr.nomem)
			err = KT_ERR_NOMEM;
		size_t start, count;
		if (err || !choose_window(c, &pr, now_ms, &start, &count)) {
			if (!err)
				h->from = next_horizon(c, &pr, now_ms, h->from);
			part_rows_free(&pr);
			break;
		}
		uint64_t raw = 0, bytes_in = 0;
		for (size_t i = 0; i < count; i++) {
			raw += pr.segs[start + i].sum.raw_bytes;
			bytes_in += pr.segs[start + i].sum.file_bytes;
		}
		/* at least one merge a pass, so that a large window is not put
		 * off for ever */
		if (c->merged_this_pass && raw > c->budget_left) {
			part_rows_free(&pr);
			break;
		}
		struct kt_catalog_segment *parts = calloc(count, sizeof(*parts));
		if (!parts) {
			part_rows_free(&pr);
			return KT_ERR_NOMEM;
		}
		for (size_t i = 0; i < count; i++) {
			const struct cseg *s = &pr.segs[start + i];
			parts[i] = (struct kt_catalog_segment){.segment_id = s->id,
							       .path = s->path,
							       .topic = topic,
							       .generation = generation,
							       .partition = partition,
							       .sum = s->sum,
							       .run_id = s->run_id,
							       .committed_ms = s->committed_ms};
		}
		struct kt_segment_summary sum;
		struct kt_diag d2;
		kt_diag_clear(&d2);
		int64_t owner = parts[0].run_id;
		err = kt_archive_merge_segments(c->a, parts, count, c->o.run_id, &wo, &sum, &d2);
		free(parts);
		if (err && window_local(err)) {
			if (!skipped++)
				skipped_diag = d2;
			err = give_up(c, &pr, start, count);
			part_rows_free(&pr);
			if (err)
				break;
			continue;
		}
		part_rows_free(&pr);
		if (err == KT_ERR_NO_SPACE) {
			/* nothing changed (the merged file is gone again); the
			 * commits that need the space more say so themselves */
			if (!skipped++)
				skipped_diag = d2;
			c->stats.skipped++;
			err = KT_OK;
			break;
		}
		int import = 0;
		if (!err && mergeable_run(c, owner, &import) == 2)
			/* the ended run's metadata file claims the parts: it
			 * claims the merged segment instead */
			err = kt_archive_write_run_meta(c->a, owner, import ? "import" : "dump", &d2);
		if (err) {
			*diag = d2;
			break;
		}
		c->merged_this_pass = 1;
		c->budget_left = raw >= c->budget_left ? 0 : c->budget_left - raw;
		c->stats.merges++;
		c->stats.parts += count;
		c->stats.bytes_in += bytes_in;
		c->stats.bytes_out += sum.file_bytes;
	}
	if (!err && skipped)
		*diag = skipped_diag; /* for a warning: the windows stay as they are */
	return err;
}
