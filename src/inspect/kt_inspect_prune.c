/* kt_inspect_prune.c - prune: remove segments no longer needed, crash-safely. */
#include "kt_inspect.h"
#include "kt_inspect_rows.h"
#include "kt_sort.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_segment_reader.h"
#include "kt_time.h"

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

static int path_listed(const struct kt_inspect_prune_opts *o, const char *path)
{
	for (size_t i = 0; i < o->path_count; i++)
		if (!strcmp(o->paths[i], path))
			return 1;
	return 0;
}

static int prune_candidate(const struct prune *pr, const struct seg_row *s, const struct prun_row *p, size_t np)
{
	const struct kt_inspect_prune_opts *o = pr->o;
	/* records without timestamps (-1) have no age: such a segment stays */
	int64_t ts = s->sum.max_timestamp;
	switch (o->policy) {
	case KT_PRUNE_KEEP_DAYS: return ts >= 0 && ts < o->now_ms - o->value * 86400000;
	case KT_PRUNE_BEFORE: return ts >= 0 && ts < o->value;
	case KT_PRUNE_PATHS: return path_listed(o, s->path);
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
	/* a union's plan may take a shard's last segment of the partition */
	size_t keep = pr->o->policy == KT_PRUNE_PATHS ? 0 : 1;
	while (cut + keep < nseg && prune_candidate(pr, &segs[cut], p, np))
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
					     cut < nseg ? segs[cut].sum.first_offset
							: segs[cut - 1].sum.last_offset + 1};
	if (!pp->topic)
		return KT_ERR_NOMEM;
	res->part_count++;
	return KT_OK;
}

struct dump_run {
	int64_t started_ms, run_id;
};

struct dump_runs {
	struct dump_run *v;
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
	d->v[d->n++] = (struct dump_run){run->started_ms, run->run_id};
	return 0;
}

/* oldest first: by start, then id */
static int dump_run_cmp(const void *a, const void *b)
{
	const struct dump_run *x = a, *y = b;
	if (x->started_ms != y->started_ms)
		return x->started_ms < y->started_ms ? -1 : 1;
	return (x->run_id > y->run_id) - (x->run_id < y->run_id);
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
 * push older data out. Newest by start time: in a sharded archive's union
 * the run ids of the root and the shards are not in time order (SPEC
 * 10.8), and the N runs are the union's, whoever wrote them. */
static enum kt_err prune_kept_runs(struct kt_catalog *cat, const struct rows *r, struct prune *pr, struct kt_diag *diag)
{
	struct dump_runs d = {0};
	enum kt_err err = kt_catalog_each_run(cat, dump_run_cb, &d, diag);
	if (!err && d.err)
		err = d.err;
	pr->kept_runs = calloc(d.n + 1, sizeof(int64_t));
	if (!err && !pr->kept_runs)
		err = KT_ERR_NOMEM;
	if (!err)
		kt_sort(d.v, d.n, sizeof(*d.v), dump_run_cmp);
	for (size_t i = d.n; !err && i-- > 0 && pr->nkept < (size_t)pr->o->value;)
		if (run_read_something(r, d.v[i].run_id))
			pr->kept_runs[pr->nkept++] = d.v[i].run_id;
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

/* After the catalog forgot them: the files go (each removal durable). */
static void prune_files(struct kt_archive *a, struct kt_inspect_prune_result *res, struct kt_diag *diag)
{
	for (size_t i = 0; i < res->seg_count; i++) {
		struct kt_diag d;
		kt_diag_clear(&d);
		if (kt_archive_remove_file(a, res->segs[i].path, &d) != KT_OK) {
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
					 (int64_t)res->records, (int64_t)res->file_bytes, msg, kt_time_now_ms(), diag);
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
	enum kt_err err = kt_inspect_rows_load(cat, 1, 1, &r, diag);
	if (!err && o->policy == KT_PRUNE_KEEP_RUNS)
		err = prune_kept_runs(cat, &r, &pr, diag);
	if (!err)
		err = kt_inspect_each_key(&r, prune_key, &pr);
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "out of memory while planning the prune");
	kt_inspect_rows_free(&r);
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
