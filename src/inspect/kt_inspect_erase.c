/* kt_inspect_erase.c - prune --erase-keys: the segments that hold listed
 * keys rewritten without those records (kt_inspect.h, SPEC 10.9). */
#include "kt_inspect.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_archive_compact.h"
#include "kt_catalog.h"
#include "kt_inspect_rows.h"
#include "kt_keyset.h"
#include "kt_time.h"

struct eseg {
	struct kt_catalog_segment s; /* path and topic owned */
};

struct erun {
	int64_t run_id;
	char kind[16];
};

struct erase {
	const struct kt_inspect_erase_opts *o;
	struct kt_inspect_erase_result *res;
	struct eseg *segs;
	size_t n, cap;
	struct erun *runs;
	size_t nruns, rcap;
	size_t seg_cap, part_cap;
	int nomem;
};

static int keep_record(void *ctx, const struct kt_record *rec)
{
	const struct kt_keyset *keys = ctx;
	/* a null key has no notation in the list: it never matches */
	return rec->key_null || !kt_keyset_has(keys, rec->key, rec->key_len);
}

static int collect_seg(void *ctx, const struct kt_catalog_segment *s)
{
	struct erase *e = ctx;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 256;
		struct eseg *ns = realloc(e->segs, cap * sizeof(*ns));
		if (!ns) {
			e->nomem = 1;
			return 1;
		}
		e->segs = ns;
		e->cap = cap;
	}
	struct eseg *x = &e->segs[e->n];
	x->s = *s;
	x->s.path = strdup(s->path);
	x->s.topic = strdup(s->topic);
	if (!x->s.path || !x->s.topic) {
		free((char *)x->s.path);
		free((char *)x->s.topic);
		e->nomem = 1;
		return 1;
	}
	e->n++;
	return 0;
}

static int collect_run(void *ctx, const struct kt_catalog_run *run)
{
	struct erase *e = ctx;
	if (e->nruns == e->rcap) {
		size_t cap = e->rcap ? e->rcap * 2 : 64;
		struct erun *nr = realloc(e->runs, cap * sizeof(*nr));
		if (!nr) {
			e->nomem = 1;
			return 1;
		}
		e->runs = nr;
		e->rcap = cap;
	}
	e->runs[e->nruns].run_id = run->run_id;
	snprintf(e->runs[e->nruns].kind, sizeof(e->runs[e->nruns].kind), "%s", run->kind);
	e->nruns++;
	return 0;
}

static const char *run_kind(const struct erase *e, int64_t run_id)
{
	for (size_t i = 0; run_id > 0 && i < e->nruns; i++)
		if (e->runs[i].run_id == run_id)
			return e->runs[i].kind;
	return NULL;
}

static enum kt_err note_segment(struct erase *e, const struct kt_catalog_segment *s, uint64_t erased)
{
	struct kt_inspect_erase_result *res = e->res;
	enum kt_err err = KT_OK;
	PUSH(res->segs, res->seg_count, e->seg_cap, err);
	if (err)
		return err;
	struct kt_inspect_erased_seg *x = &res->segs[res->seg_count];
	*x = (struct kt_inspect_erased_seg){strdup(s->path),	 NULL,	strdup(s->topic), s->generation, s->partition,
					    s->sum.record_count, erased};
	if (!x->path || !x->topic) {
		free(x->path);
		free(x->topic);
		return KT_ERR_NOMEM;
	}
	res->seg_count++;
	struct kt_inspect_erase_part *p = NULL;
	for (size_t i = 0; i < res->part_count; i++)
		if (res->parts[i].generation == s->generation && res->parts[i].partition == s->partition &&
		    !strcmp(res->parts[i].topic, s->topic))
			p = &res->parts[i];
	if (!p) {
		PUSH(res->parts, res->part_count, e->part_cap, err);
		if (err)
			return err;
		p = &res->parts[res->part_count];
		*p = (struct kt_inspect_erase_part){strdup(s->topic), s->generation, s->partition, 0, 0};
		if (!p->topic)
			return KT_ERR_NOMEM;
		res->part_count++;
	}
	p->segments++;
	p->erased += erased;
	res->erased += erased;
	return KT_OK;
}

static enum kt_err run_begin(struct kt_archive *a, const struct kt_inspect_erase_opts *o, int64_t *out_run,
			     struct kt_diag *diag)
{
	struct kt_catalog *cat = kt_archive_catalog(a);
	struct kt_catalog_run run = {0};
	run.kind = "prune";
	run.started_ms = o->now_ms;
	/* recovery knows an erasure's removals by this (kt_catalog_erased_path) */
	run.args = o->args && strstr(o->args, "--erase-keys") ? o->args : "ktape prune --erase-keys";
	run.tool_version = o->tool_version ? o->tool_version : "";
	enum kt_err err = kt_catalog_begin(cat, diag);
	if (!err)
		err = kt_catalog_run_begin(cat, &run, out_run, diag);
	if (!err)
		return kt_catalog_commit(cat, diag);
	kt_catalog_rollback(cat);
	return err;
}

static enum kt_err run_end(struct kt_archive *a, const struct kt_inspect_erase_opts *o,
			   const struct kt_inspect_erase_result *res, enum kt_err failed, const char *why,
			   struct kt_diag *diag)
{
	struct kt_catalog *cat = kt_archive_catalog(a);
	/* what was erased stays on record: the list's checksum and the count,
	 * never the keys themselves */
	char msg[1024];
	snprintf(msg, sizeof(msg), "erase-keys %s (%zu keys): %" PRIu64 " records erased from %zu segments%s%s",
		 o->keys_sum ? o->keys_sum : "", kt_keyset_count(o->keys), res->erased, res->seg_count,
		 failed ? "; " : "", failed ? why : "");
	enum kt_err err = kt_catalog_begin(cat, diag);
	if (!err)
		err = kt_catalog_run_end(cat, res->run_id, failed ? "failed" : "ok", (int64_t)res->erased, 0, msg,
					 kt_time_now_ms(), diag);
	if (!err)
		err = kt_catalog_commit(cat, diag);
	else
		kt_catalog_rollback(cat);
	if (!err)
		err = kt_archive_write_run_meta(a, res->run_id, "prune", diag);
	return err;
}

/* One segment: rewritten without the listed records (the erasing run's
 * metadata file is written again by the swap), then the owner's, so that
 * it claims the new file and reindex gives it back to its run. */
static enum kt_err erase_segment(struct kt_archive *a, struct erase *e, const struct kt_catalog_segment *s,
				 const struct kt_segment_writer_opts *wo, struct kt_diag *diag)
{
	uint64_t dropped = 0;
	struct kt_segment_summary sum;
	enum kt_err err = kt_archive_rewrite_segment(a, s, e->res->run_id, wo, keep_record, (void *)e->o->keys,
						     &dropped, &sum, diag);
	if (err || !dropped)
		return err;
	err = note_segment(e, s, dropped);
	if (!err && sum.record_count) {
		char rel[4096];
		int64_t f, l;
		if (kt_archive_segment_name_range(s->path, &f, &l))
			kt_archive_segment_rewrite_relpath(s->topic, s->generation, s->partition, f, l,
							   kt_archive_segment_rewrite_of(s->path) + 1, rel,
							   sizeof(rel));
		else
			kt_archive_segment_rewrite_relpath(
				s->topic, s->generation, s->partition, s->sum.first_offset, s->sum.last_offset,
				kt_archive_segment_rewrite_of(s->path) + 1, rel, sizeof(rel));
		e->res->segs[e->res->seg_count - 1].new_path = strdup(rel);
	}
	const char *kind = run_kind(e, s->run_id);
	if (!err && kind && (!strcmp(kind, "dump") || !strcmp(kind, "import")))
		err = kt_archive_write_run_meta(a, s->run_id, kind, diag);
	return err;
}

enum kt_err kt_inspect_erase(struct kt_archive *a, const struct kt_inspect_erase_opts *o,
			     struct kt_inspect_erase_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	if (!o->keys)
		return kt_diag_fail(diag, KT_ERR_INVALID, "prune --erase-keys: no key list");
	struct kt_catalog *cat = kt_archive_catalog(a);
	struct erase e = {.o = o, .res = res};
	enum kt_err err = kt_catalog_each_segment(cat, NULL, collect_seg, &e, diag);
	if (!err)
		err = kt_catalog_each_run(cat, collect_run, &e, diag);
	if (!err && e.nomem)
		err = kt_diag_fail(diag, KT_ERR_NOMEM, "out of memory while listing the segments");
	if (!err && !o->dry_run)
		err = run_begin(a, o, &res->run_id, diag);
	struct kt_segment_codec *codec = NULL;
	if (!err && !o->dry_run)
		err = kt_segment_codec_new(&codec);
	struct kt_segment_writer_opts wo = {.codec = codec};
	for (size_t i = 0; !err && i < e.n; i++) {
		const struct kt_catalog_segment *s = &e.segs[i].s;
		uint64_t refused = 0;
		err = kt_archive_segment_count_refused(a, s, keep_record, (void *)o->keys, &refused, diag);
		res->segments_read++;
		res->records_read += s->sum.record_count;
		if (err || !refused)
			continue;
		if (o->dry_run)
			err = note_segment(&e, s, refused);
		else
			err = erase_segment(a, &e, s, &wo, diag);
	}
	kt_segment_codec_free(codec);
	if (res->run_id > 0) {
		struct kt_diag d2;
		kt_diag_clear(&d2);
		enum kt_err e2 = run_end(a, o, res, err, err ? diag->msg : "", &d2);
		if (!err && e2) {
			err = e2;
			*diag = d2;
		}
	}
	for (size_t i = 0; i < e.n; i++) {
		free((char *)e.segs[i].s.path);
		free((char *)e.segs[i].s.topic);
	}
	free(e.segs);
	free(e.runs);
	return err;
}

void kt_inspect_erase_result_free(struct kt_inspect_erase_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->seg_count; i++) {
		free(res->segs[i].path);
		free(res->segs[i].new_path);
		free(res->segs[i].topic);
	}
	free(res->segs);
	for (size_t i = 0; i < res->part_count; i++)
		free(res->parts[i].topic);
	free(res->parts);
	memset(res, 0, sizeof(*res));
}
