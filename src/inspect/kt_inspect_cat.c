/* kt_inspect_cat.c - cat: the records of a selection, partition by partition. */
#include "kt_inspect.h"
#include "kt_inspect_rows.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_keyset.h"
#include "kt_segment_reader.h"

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
	if (!kt_inspect_topic_selected(cp->o->topics, cp->o->topic_count, k->topic))
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
	enum kt_err err = kt_inspect_check_topics(r, o->topics, o->topic_count, diag);
	if (!err)
		err = kt_inspect_each_key(r, cat_collect, &cp);
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
	if (o->drop_keys && !rec->key_null && kt_keyset_has(o->drop_keys, rec->key, rec->key_len))
		return 0;
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
			/* a missing or wrong key is not damage (SPEC 4.6) */
			res->damaged = err != KT_ERR_NOMEM && err != KT_ERR_KEY && err != KT_ERR_INVALID;
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
static enum kt_err cat_check_missing(struct kt_archive *a, const struct cat_target *t, size_t n,
				     const struct kt_inspect_cat_opts *o, struct kt_diag *diag)
{
	struct kt_archive_range *rg = calloc(n + 1, sizeof(*rg));
	if (!rg)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		rg[i] = (struct kt_archive_range){t[i].topic,
						  t[i].gen,
						  t[i].part,
						  o->from_offset,
						  o->to_offset == INT64_MAX ? INT64_MAX : o->to_offset - 1,
						  o->from_ts,
						  o->to_ts};
	struct kt_archive_missing_sum ms;
	enum kt_err err = kt_archive_missing_in(a, rg, n, &ms, diag);
	free(rg);
	if (err || !ms.ranges)
		return err;
	kt_diag_set_path(diag, ms.first_path);
	return kt_diag_fail(diag, KT_ERR_DATA_LOST,
			    "the selection spans %" PRId64 " missing range(s) (%" PRId64
			    " offsets the archive lost), first: %s",
			    ms.ranges, ms.offsets, ms.first);
}

enum kt_err kt_inspect_cat(struct kt_archive *a, const struct kt_inspect_cat_opts *o, struct kt_inspect_cat_result *res,
			   struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	struct rows r;
	enum kt_err err = kt_inspect_rows_load(kt_archive_catalog(a), 0, 1, &r, diag);
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
		err = cat_check_missing(a, targets, n, o, diag);
	free(targets);
	kt_inspect_rows_free(&r);
	return err;
}
