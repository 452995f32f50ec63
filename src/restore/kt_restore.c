#include "kt_restore.h"

#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "kt_archive.h"
#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_sort.h"
#include "kt_strv.h"
#include "kt_rate.h"
#include "kt_time.h"

#define CHECKPOINT_NS 1000000000LL
/* the delivery opaque packs (source partition index, a break bit, source
 * offset): the bit says records were dropped just before this one */
#define OPAQUE_OFFSET_BITS 44
#define OPAQUE_BREAK	   (UINT64_C(1) << (OPAQUE_OFFSET_BITS - 1))
#define OPAQUE_OFFSET_MASK (OPAQUE_BREAK - 1)

struct chunk {
	int64_t src_first, src_last, dst_first, records; /* records == 0: none open */
	int dirty;
};

struct src_topic {
	char *name;
	uint32_t generation;
	int32_t partitions; /* archived partition count */
	int32_t replication_factor;
	int at_found;	      /* --at: generation is one with a record from before T */
	int64_t snapshot_run; /* run of the newest topic snapshot, 0 if none */
	const char *dst;
	char *dst_owned;
	int32_t dst_partitions;
	/* ktape groups: the earlier restore run whose maps translate this
	 * topic (0: this run; -1: none, the topic is skipped) and that run's
	 * selection, which the records counted inside a chunk must match */
	int64_t map_run;
	int64_t sel_from_offset, sel_to_offset, sel_from_time, sel_to_time;
};

struct src_part {
	struct src_topic *t;
	int32_t partition;
	int64_t skip;	      /* selected records to skip: delivered before the crash, not checkpointed */
	int64_t skip_dst;     /* where those skipped records are in the target */
	int resumed;	      /* the interrupted run had delivered records of it */
	struct chunk *chunks; /* one per target partition */
	uint64_t sent, acked;
	uint64_t dropped; /* by the erasure list */
	/* records were dropped since the last one written: the next starts a
	 * new offset-map chunk, so that a chunk spans only written records and
	 * a later translation (ktape groups) can count archived records in it
	 * without the list */
	int dropped_gap;
};

struct restore {
	const struct kt_restore_opts *o;
	struct kt_restore_result *res;
	struct kt_archive *a;
	struct kt_catalog *cat;
	/* where this run's own rows go and earlier restores' are read: the
	 * root's catalog of a sharded archive, whose reads (cat) are the
	 * union (kt_archive_record_catalog) */
	struct kt_catalog *rcat;
	struct kt_kafka *k;
	struct src_topic *topics;
	size_t topic_count;
	struct src_part *parts;
	size_t part_count;
	int64_t run_id;
	int64_t prev_run;
	enum kt_err delivery_err; /* the first record that failed by itself */
	char delivery_msg[512];
	char stopped_msg[512]; /* the first one not sent because the producer had stopped */
	int timed_out;	       /* some record timed out: in the target or not */
	int cause_awaited;
	uint32_t rr; /* round robin for keyless records */
	int64_t t0;
	int64_t last_checkpoint;
	int waited; /* the rate held the last record back: time went by */
	uint64_t expected;
	char *selection;
	enum kt_err map_err; /* writing an offset map failed */
	char map_msg[512];
	/* The archive cannot be written (read-only mount): the run is not
	 * recorded, and its offset maps, which --groups translates with, are
	 * kept here instead of in the catalog. */
	int recording;
	struct kt_catalog_restore_map *mem_maps;
	size_t mem_map_count, mem_map_cap;
	/* ktape groups --offsets FILE: its entries, pointing into its text */
	struct file_offset *file_offsets;
	size_t file_offset_count;
	char *file_text;
	int file_owned; /* --from-cluster: each entry's strings are its own */
};

static void warn(struct restore *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct restore *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kt_strv_push(&r->res->warnings, &r->res->warning_count, msg); /* the callback still gets it */
	if (r->o->on_warning)
		r->o->on_warning(r->o->cb_ctx, msg);
}

void kt_restore_result_free(struct kt_restore_result *res)
{
	if (!res)
		return;
	kt_strv_free(res->warnings, res->warning_count);
	memset(res, 0, sizeof(*res));
}

/* ---- selection ---- */

struct topics_ctx {
	struct restore *r;
	regex_t *re;
	enum kt_err err;
};

static struct src_topic *find_topic(struct restore *r, const char *name)
{
	for (size_t i = 0; i < r->topic_count; i++)
		if (!strcmp(r->topics[i].name, name))
			return &r->topics[i];
	return NULL;
}

static int wanted_topic(const struct restore *r, const char *name, regex_t *re)
{
	const struct kt_restore_opts *o = r->o;
	for (size_t i = 0; i < o->topic_count; i++)
		if (!strcmp(o->topics[i], name))
			return 1;
	if (re)
		return regexec(re, name, 0, NULL, 0) == 0;
	return o->topic_count == 0;
}

static int seg_topic_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct topics_ctx *c = ctx;
	struct restore *r = c->r;
	if (!wanted_topic(r, s->topic, c->re))
		return 0;
	struct src_topic *t = find_topic(r, s->topic);
	if (!t) {
		struct src_topic *nt = realloc(r->topics, (r->topic_count + 1) * sizeof(*nt));
		if (!nt) {
			c->err = KT_ERR_NOMEM;
			return 1;
		}
		r->topics = nt;
		t = &nt[r->topic_count++];
		memset(t, 0, sizeof(*t));
		t->name = strdup(s->topic);
		t->generation = s->generation;
	}
	/* the newest generation unless one was asked for; --at T: the newest
	 * with a record from before T, the one that lived at T (a topic
	 * recreated after T is not what a recovery to T wants) */
	int before_at = s->sum.min_timestamp >= 0 && s->sum.min_timestamp < r->o->at_ms;
	if (r->o->generation >= 0)
		t->generation = (uint32_t)r->o->generation;
	else if (r->o->at_given) {
		if (before_at && (!t->at_found || s->generation > t->generation)) {
			t->generation = s->generation;
			t->at_found = 1;
		}
	} else if (s->generation > t->generation)
		t->generation = s->generation;
	if (s->partition + 1 > t->partitions)
		t->partitions = s->partition + 1;
	return 0;
}

static int snapshot_cb(void *ctx, const struct kt_catalog_topic *ct)
{
	struct src_topic *t = ctx;
	if (ct->generation == t->generation) {
		t->snapshot_run = ct->run_id;
		if (ct->partitions > t->partitions)
			t->partitions = ct->partitions;
		t->replication_factor = ct->replication_factor;
	}
	return 0;
}

static const char *target_name(struct restore *r, struct src_topic *t)
{
	for (size_t i = 0; i < r->o->map_count; i++)
		if (!strcmp(r->o->maps[i].src, t->name))
			return r->o->maps[i].dst;
	if (r->o->topic_prefix) {
		size_t n = strlen(r->o->topic_prefix) + strlen(t->name) + 1;
		t->dst_owned = malloc(n);
		if (t->dst_owned)
			snprintf(t->dst_owned, n, "%s%s", r->o->topic_prefix, t->name);
		return t->dst_owned;
	}
	return t->name;
}

static int wanted_partition(const struct kt_restore_opts *o, int32_t p)
{
	if (!o->partition_count)
		return 1;
	for (size_t i = 0; i < o->partition_count; i++)
		if (o->partitions[i] == p)
			return 1;
	return 0;
}

static enum kt_err select_sources(struct restore *r, struct kt_diag *diag)
{
	const struct kt_restore_opts *o = r->o;
	regex_t re;
	int has_re = 0;
	if (o->topic_regex) {
		if (regcomp(&re, o->topic_regex, REG_EXTENDED | REG_NOSUB))
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "--topic-regex '%s' is not a valid regular expression", o->topic_regex);
		has_re = 1;
	}
	struct topics_ctx c = {r, has_re ? &re : NULL, KT_OK};
	enum kt_err err = kt_catalog_each_segment(r->cat, NULL, seg_topic_cb, &c, diag);
	if (has_re)
		regfree(&re);
	if (!err)
		err = c.err;
	for (size_t i = 0; !err && i < o->topic_count; i++)
		if (!find_topic(r, o->topics[i]))
			err = kt_diag_fail(diag, KT_ERR_NOT_FOUND, "topic '%s' is not in the archive (see 'ktape ls')",
					   o->topics[i]);
	if (!err && !r->topic_count)
		err = kt_diag_fail(diag, KT_ERR_NOT_FOUND, "no archived topic matches the selection");
	for (size_t i = 0; !err && i < o->map_count; i++)
		if (!find_topic(r, o->maps[i].src))
			err = kt_diag_fail(diag, KT_ERR_INVALID, "--map %s=%s: topic %s is not selected",
					   o->maps[i].src, o->maps[i].dst, o->maps[i].src);
	size_t total = 0;
	for (size_t i = 0; !err && i < r->topic_count; i++) {
		struct src_topic *t = &r->topics[i];
		err = kt_catalog_each_latest_topic(r->cat, t->name, snapshot_cb, t, diag);
		t->dst = target_name(r, t);
		if (!t->dst)
			err = KT_ERR_NOMEM;
		total += (size_t)t->partitions;
	}
	if (err)
		return err;
	for (size_t i = 0; i < r->topic_count; i++)
		for (size_t j = i + 1; j < r->topic_count; j++)
			if (!strcmp(r->topics[i].dst, r->topics[j].dst))
				return kt_diag_fail(
					diag, KT_ERR_INVALID,
					"topics %s and %s would both be written into %s: map each to its own "
					"target",
					r->topics[i].name, r->topics[j].name, r->topics[i].dst);
	r->parts = calloc(total + 1, sizeof(*r->parts));
	if (!r->parts)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < r->topic_count; i++)
		for (int32_t p = 0; p < r->topics[i].partitions; p++) {
			if (!wanted_partition(o, p))
				continue;
			struct src_part *sp = &r->parts[r->part_count++];
			sp->t = &r->topics[i];
			sp->partition = p;
		}
	return KT_OK;
}

/* The resolved selection as text: what a resumed run must match. Relative
 * times are absolute here, so "--from-time -1h" an hour later is another
 * selection. */
static char *selection_key(const struct restore *r)
{
	const struct kt_restore_opts *o = r->o;
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	kt_buf_printf(&b, "v1 offsets=%" PRId64 ",%" PRId64 " times=%" PRId64 ",%" PRId64 " key=%d gen=%" PRId64,
		      o->from_offset, o->to_offset, o->from_time, o->to_time, o->by_key, o->generation);
	/* another erasure list selects other records: only the same list
	 * resumes (nothing is added without one, so older runs still match) */
	if (o->drop_keys)
		kt_buf_printf(&b, " drop=%s", o->drop_keys_sum ? o->drop_keys_sum : "?");
	for (size_t i = 0; i < r->part_count; i++)
		kt_buf_printf(&b, " %s/%u/%d>%s", r->parts[i].t->name, r->parts[i].t->generation, r->parts[i].partition,
			      r->parts[i].t->dst);
	kt_buf_append_u8(&b, 0);
	return (char *)b.data;
}

static void range_of(const struct restore *r, const struct src_part *sp, struct kt_archive_range *range)
{
	const struct kt_restore_opts *o = r->o;
	const struct src_topic *t = sp->t;
	int64_t fo = t->map_run ? t->sel_from_offset : o->from_offset,
		to = t->map_run ? t->sel_to_offset : o->to_offset;
	int64_t ft = t->map_run ? t->sel_from_time : o->from_time, tt = t->map_run ? t->sel_to_time : o->to_time;
	*range = (struct kt_archive_range){t->name,
					   t->generation,
					   sp->partition,
					   fo >= 0 ? fo : 0,
					   to >= 0 ? to - 1 : INT64_MAX,
					   ft,
					   tt != INT64_MIN ? tt : INT64_MAX};
}

/* The next selected record the erasure list keeps (NULL at the end);
 * each one dropped on the way is counted in *dropped when it is given. */
static enum kt_err next_kept(const struct restore *r, struct kt_archive_iter *it, const struct kt_record **rec,
			     uint64_t *dropped, int *gap, struct kt_diag *diag)
{
	for (;;) {
		enum kt_err err = kt_archive_iter_next_strict(it, rec, diag);
		if (err || !*rec || !r->o->drop_keys || (*rec)->key_null ||
		    !kt_keyset_has(r->o->drop_keys, (*rec)->key, (*rec)->key_len))
			return err;
		if (dropped)
			(*dropped)++;
		if (gap)
			*gap = 1;
	}
}

/* A selection that spans offsets the archive lost would restore with a
 * hole nobody sees: refused unless the operator says --allow-gaps. */
static enum kt_err check_missing(struct restore *r, struct kt_diag *diag)
{
	struct kt_archive_range *rg = calloc(r->part_count + 1, sizeof(*rg));
	if (!rg)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < r->part_count; i++)
		range_of(r, &r->parts[i], &rg[i]);
	struct kt_archive_missing_sum ms;
	enum kt_err err = kt_archive_missing_in(r->a, rg, r->part_count, &ms, diag);
	free(rg);
	if (err || !ms.ranges)
		return err;
	if (r->o->allow_gaps) {
		warn(r, "restoring with %" PRId64 " missing range(s) (%" PRId64 " offsets the archive lost), first: %s",
		     ms.ranges, ms.offsets, ms.first);
		return KT_OK;
	}
	return kt_diag_fail(diag, KT_ERR_DATA_LOST,
			    "the selection spans %" PRId64 " missing range(s) (%" PRId64
			    " offsets the archive lost), first: %s; restore the rest with --allow-gaps",
			    ms.ranges, ms.offsets, ms.first);
}

/* ---- the plan (dry run) ---- */

static enum kt_err plan_partition(struct restore *r, struct src_part *sp, struct kt_restore_plan_line *line,
				  struct kt_diag *diag)
{
	struct kt_archive_range range;
	range_of(r, sp, &range);
	*line = (struct kt_restore_plan_line){
		sp->t->name, sp->partition, sp->t->dst, r->o->by_key ? -1 : sp->partition, -1, -1, 0, 0, 0};
	struct kt_archive_iter *it;
	enum kt_err err = kt_archive_iter_open(r->a, &range, &it, diag);
	if (err)
		return err;
	const struct kt_record *rec;
	while ((err = next_kept(r, it, &rec, &line->dropped, NULL, diag)) == KT_OK && rec) {
		if (line->first_offset < 0)
			line->first_offset = rec->offset;
		line->last_offset = rec->offset;
		line->records++;
		line->bytes += kt_record_payload_bytes(rec);
	}
	kt_archive_iter_close(it);
	return err;
}

/* ---- offset maps and checkpoints ---- */

/* As the catalog's INSERT OR REPLACE: a chunk checkpointed while it grows
 * replaces its earlier state. The newest maps are the likeliest match. */
static enum kt_err put_mem_map(struct restore *r, const struct kt_catalog_restore_map *m)
{
	for (size_t i = r->mem_map_count; i-- > 0;) {
		struct kt_catalog_restore_map *x = &r->mem_maps[i];
		if (x->src_first == m->src_first && x->src_partition == m->src_partition &&
		    x->dst_partition == m->dst_partition && !strcmp(x->src_topic, m->src_topic) &&
		    !strcmp(x->dst_topic, m->dst_topic)) {
			*x = *m;
			return KT_OK;
		}
	}
	if (r->mem_map_count == r->mem_map_cap) {
		size_t cap = r->mem_map_cap ? r->mem_map_cap * 2 : 64;
		struct kt_catalog_restore_map *n = realloc(r->mem_maps, cap * sizeof(*n));
		if (!n)
			return KT_ERR_NOMEM;
		r->mem_maps = n;
		r->mem_map_cap = cap;
	}
	r->mem_maps[r->mem_map_count++] = *m; /* its strings live as long as the run */
	return KT_OK;
}

static int mem_map_cmp(const void *x, const void *y)
{
	const struct kt_catalog_restore_map *a = *(const struct kt_catalog_restore_map *const *)x;
	const struct kt_catalog_restore_map *b = *(const struct kt_catalog_restore_map *const *)y;
	return a->src_first < b->src_first ? -1 : a->src_first > b->src_first;
}

/* kt_catalog_each_restore_map of this run, from the catalog or memory. */
static enum kt_err each_run_map(struct restore *r, const struct src_topic *t, int32_t src_partition,
				kt_catalog_map_cb cb, void *ctx, struct kt_diag *diag)
{
	const char *src_topic = t->name;
	if (t->map_run > 0) /* ktape groups: an earlier run's */
		return kt_catalog_each_restore_map(r->rcat, t->map_run, src_topic, src_partition, cb, ctx, diag);
	if (r->recording)
		return kt_catalog_each_restore_map(r->rcat, r->run_id, src_topic, src_partition, cb, ctx, diag);
	const struct kt_catalog_restore_map **sel = malloc((r->mem_map_count + 1) * sizeof(*sel));
	if (!sel)
		return KT_ERR_NOMEM;
	size_t n = 0;
	for (size_t i = 0; i < r->mem_map_count; i++)
		if (r->mem_maps[i].src_partition == src_partition && !strcmp(r->mem_maps[i].src_topic, src_topic))
			sel[n++] = &r->mem_maps[i];
	kt_sort(sel, n, sizeof(*sel), mem_map_cmp);
	for (size_t i = 0; i < n && !cb(ctx, sel[i]); i++)
		;
	free(sel);
	return KT_OK;
}

static enum kt_err put_chunk(struct restore *r, const struct src_part *sp, int32_t dst_p, const struct chunk *c,
			     struct kt_diag *diag)
{
	struct kt_catalog_restore_map m = {r->run_id, sp->t->name,  sp->t->generation, sp->partition, sp->t->dst,
					   dst_p,     c->src_first, c->src_last,       c->dst_first,  c->records};
	if (!r->recording)
		return put_mem_map(r, &m) ? kt_diag_fail(diag, KT_ERR_NOMEM, "no memory for the offset maps") : KT_OK;
	return kt_catalog_put_restore_map(r->rcat, &m, diag);
}

static enum kt_err checkpoint(struct restore *r, struct kt_diag *diag)
{
	enum kt_err err = r->recording ? kt_catalog_begin(r->rcat, diag) : KT_OK;
	for (size_t i = 0; !err && i < r->part_count; i++) {
		struct src_part *sp = &r->parts[i];
		for (int32_t q = 0; sp->chunks && q < sp->t->dst_partitions && !err; q++)
			if (sp->chunks[q].records && sp->chunks[q].dirty) {
				err = put_chunk(r, sp, q, &sp->chunks[q], diag);
				sp->chunks[q].dirty = 0;
			}
	}
	if (!r->recording) {
		r->last_checkpoint = kt_time_mono_ns();
		return err;
	}
	if (!err)
		err = kt_catalog_run_end(r->rcat, r->run_id, "running", (int64_t)r->res->records,
					 (int64_t)r->res->bytes, NULL, kt_time_now_ms(), diag);
	if (err) {
		kt_catalog_rollback(r->rcat);
		return err;
	}
	r->last_checkpoint = kt_time_mono_ns();
	return kt_catalog_commit(r->rcat, diag);
}

/* A delivered record extends its chunk when both offsets follow on. */
static void map_delivery(struct restore *r, struct src_part *sp, int32_t dst_p, int64_t src_off, int64_t dst_off,
			 int brk)
{
	struct chunk *c = &sp->chunks[dst_p];
	if (!brk && c->records && dst_off == c->dst_first + c->records && src_off > c->src_last) {
		c->src_last = src_off;
		c->records++;
		c->dirty = 1;
		return;
	}
	if (c->records && c->dirty) {
		/* the closed chunk is written now; a new one starts. A failure
		 * fails the run: a hole in the maps would mistranslate groups. */
		struct kt_diag d;
		kt_diag_clear(&d);
		if (put_chunk(r, sp, dst_p, c, &d) && !r->map_err) {
			r->map_err = KT_ERR_CATALOG;
			snprintf(r->map_msg, sizeof(r->map_msg), "%s", d.msg);
		}
	}
	*c = (struct chunk){src_off, src_off, dst_off, 1, 1};
}

static void on_delivery(void *ctx, enum kt_err err, const char *errmsg, int32_t partition, int64_t offset, void *opaque)
{
	struct restore *r = ctx;
	uint64_t v = (uint64_t)(uintptr_t)opaque;
	size_t idx = (size_t)(v >> OPAQUE_OFFSET_BITS);
	int64_t src_off = (int64_t)(v & OPAQUE_OFFSET_MASK);
	int brk = (v & OPAQUE_BREAK) != 0;
	if (idx >= r->part_count)
		return;
	struct src_part *sp = &r->parts[idx];
	if (err == KT_ERR_STATE) {
		if (!r->stopped_msg[0])
			snprintf(r->stopped_msg, sizeof(r->stopped_msg),
				 "writing %s [%d] (source %s [%d] offset %" PRId64 ") failed: %s", sp->t->dst,
				 partition, sp->t->name, sp->partition, src_off, errmsg);
		return;
	}
	if (err) {
		/* another record's failure may be the one reported: a timeout
		 * anywhere still makes counting on resume wrong */
		if (err == KT_ERR_TIMEOUT)
			r->timed_out = 1;
		if (!r->delivery_err) {
			r->delivery_err = err;
			snprintf(r->delivery_msg, sizeof(r->delivery_msg),
				 "writing %s [%d] (source %s [%d] offset %" PRId64 ") failed: %s", sp->t->dst,
				 partition, sp->t->name, sp->partition, src_off, errmsg);
		}
		return;
	}
	sp->acked++;
	if (partition >= 0 && partition < sp->t->dst_partitions)
		map_delivery(r, sp, partition, src_off, offset, brk);
}

/* ---- resume ---- */

struct prev_ctx {
	struct restore *r;
	const char *selection;
	const char *cluster; /* the target's cluster id, "" when unknown */
};

static int prev_run_cb(void *ctx, const struct kt_catalog_run *run)
{
	struct prev_ctx *c = ctx;
	if (run->run_id == c->r->run_id || strcmp(run->kind, "restore") || !run->selection ||
	    strcmp(run->selection, c->selection))
		return 0;
	/* the same command into another cluster is a new run: what that run
	 * wrote is not in this target (an unknown id never matches) */
	if (!run->cluster_id || !c->cluster[0] || strcmp(run->cluster_id, c->cluster))
		return 0;
	/* the newest run of the same command decides: finished, nothing to resume */
	int unfinished = !strcmp(run->status, "crashed") || !strcmp(run->status, "interrupted") ||
			 !strcmp(run->status, "failed") || !strcmp(run->status, "running");
	c->r->prev_run = unfinished ? run->run_id : 0;
	return 0;
}

static enum kt_err plan_resume(struct restore *r, const char *cluster, struct kt_diag *diag)
{
	/* With key partitioning a source partition's records spread over every
	 * target partition, so where to continue is not exact: no automatic
	 * resume; the non-empty check then asks for --allow-nonempty. */
	if (r->o->by_key || !r->recording)
		return KT_OK;
	struct prev_ctx pc = {r, r->selection, cluster};
	enum kt_err err = kt_catalog_each_run(r->rcat, prev_run_cb, &pc, diag);
	if (err || !r->prev_run)
		return err;
	int resumed = 0;
	err = kt_catalog_begin(r->rcat, diag);
	for (size_t i = 0; !err && i < r->part_count; i++) {
		struct src_part *sp = &r->parts[i];
		{
			/* The target partition held `base` records before the
			 * interrupted run: everything past it was written by that run
			 * (ktape was its only writer), in order, so exactly that many
			 * selected records are skipped and mapped, none written twice. */
			int64_t base;
			int found;
			err = kt_catalog_get_restore_base(r->rcat, r->prev_run, sp->t->dst, sp->partition, &base,
							  &found, diag);
			if (err || !found)
				continue;
			int64_t low, high;
			err = kt_kafka_watermarks(r->k, sp->t->dst, sp->partition, &low, &high, diag);
			if (!err && high < base)
				err = kt_diag_fail(diag, KT_ERR_EXISTS,
						   "cannot resume: %s [%d] ends at %" PRId64
						   ", before where the interrupted restore started (%" PRId64 ")",
						   sp->t->dst, sp->partition, high, base);
			if (!err)
				err = kt_catalog_put_restore_base(r->rcat, r->run_id, sp->t->dst, sp->partition, base,
								  diag);
			sp->skip = high - base;
			sp->skip_dst = base;
			sp->resumed = 1;
			resumed += high > base;
			continue;
		}
	}
	if (!err)
		err = kt_catalog_commit(r->rcat, diag);
	else
		kt_catalog_rollback(r->rcat);
	if (!err && resumed) {
		r->res->resumed_from_run = r->prev_run;
		warn(r, "continuing the interrupted restore run %" PRId64 " (%d partition(s) partly written)",
		     r->prev_run, resumed);
	}
	return err;
}

/* Records where each target partition stands before this run writes to it. */
static enum kt_err record_bases(struct restore *r, struct kt_diag *diag)
{
	if (!r->recording || r->o->by_key)
		return KT_OK;
	/* the ends of each topic's partitions at once (refuse_nonempty) */
	int32_t *qs = calloc(r->part_count + 1, sizeof(*qs));
	int64_t *highs = calloc(r->part_count + 1, sizeof(*highs));
	enum kt_err err = qs && highs ? kt_catalog_begin(r->rcat, diag) : KT_ERR_NOMEM;
	int begun = !err;
	for (size_t i = 0; !err && i < r->topic_count; i++) {
		const struct src_topic *t = &r->topics[i];
		size_t n = 0;
		for (size_t p = 0; p < r->part_count; p++)
			if (r->parts[p].t == t && !r->parts[p].resumed)
				qs[n++] = r->parts[p].partition;
		err = kt_kafka_offset_ends_many(r->k, t->dst, qs, n, NULL, highs, NULL, diag);
		for (size_t j = 0; !err && j < n; j++)
			err = kt_catalog_put_restore_base(r->rcat, r->run_id, t->dst, qs[j], highs[j], diag);
	}
	free(qs);
	free(highs);
	if (!err)
		return kt_catalog_commit(r->rcat, diag);
	if (begun)
		kt_catalog_rollback(r->rcat);
	return err;
}

/* ---- target topics ---- */

/* Fails if a partition of t's target holds records, except one that the
 * interrupted run of the same command wrote to. The ends of all of them
 * are asked at once: one request per broker and end, where two requests a
 * partition, one after the other, took some 3 ms each (issue #19). */
static enum kt_err refuse_nonempty(struct restore *r, const struct src_topic *t, struct kt_diag *diag)
{
	size_t cap = (size_t)t->dst_partitions + 1, n = 0;
	int32_t *qs = calloc(cap, sizeof(*qs));
	int64_t *lows = calloc(cap, sizeof(*lows)), *highs = calloc(cap, sizeof(*highs));
	enum kt_err err = qs && lows && highs ? KT_OK : KT_ERR_NOMEM;
	for (int32_t q = 0; !err && q < t->dst_partitions; q++) {
		int resumed = 0;
		for (size_t p = 0; p < r->part_count; p++)
			if (r->parts[p].t == t && r->parts[p].resumed && (r->o->by_key || r->parts[p].partition == q))
				resumed = 1;
		if (!resumed)
			qs[n++] = q;
	}
	if (!err)
		err = kt_kafka_offset_ends_many(r->k, t->dst, qs, n, lows, highs, NULL, diag);
	for (size_t i = 0; !err && i < n; i++)
		if (highs[i] > lows[i])
			err = kt_diag_fail(diag, KT_ERR_EXISTS,
					   "target topic %s already holds records (partition %d: offsets %" PRId64
					   "..%" PRId64 "); restoring again would duplicate them. Use "
					   "--allow-nonempty to write anyway",
					   t->dst, qs[i], lows[i], highs[i] - 1);
	free(qs);
	free(lows);
	free(highs);
	return err;
}

struct cfg_collect {
	const char **names;
	const char **values;
	size_t n;
	int min_isr;
};

static int cfg_cb(void *ctx, const struct kt_catalog_config *c)
{
	struct cfg_collect *cc = ctx;
	/* only the topic's own overrides; broker-level values belong to the
	 * target cluster */
	if (strcmp(c->source, "DYNAMIC_TOPIC_CONFIG") || !c->value)
		return 0;
	const char **nn = realloc(cc->names, (cc->n + 1) * sizeof(*nn));
	const char **nv = realloc(cc->values, (cc->n + 1) * sizeof(*nv));
	if (nn)
		cc->names = nn;
	if (nv)
		cc->values = nv;
	if (!nn || !nv)
		return 1;
	cc->names[cc->n] = strdup(c->name);
	cc->values[cc->n] = strdup(c->value);
	cc->n++;
	return 0;
}

static enum kt_err create_target(struct restore *r, struct src_topic *t, int brokers, struct kt_diag *diag)
{
	struct cfg_collect cc = {0};
	enum kt_err err = KT_OK;
	if (t->snapshot_run)
		err = kt_catalog_each_config(r->cat, t->snapshot_run, t->name, cfg_cb, &cc, diag);
	int rf = r->o->replication_factor > 0 ? r->o->replication_factor
					      : (t->replication_factor > 0 ? t->replication_factor : 1);
	if (rf > brokers) {
		warn(r, "%s: replication factor %d capped at the cluster's %d broker(s)", t->dst, rf, brokers);
		rf = brokers;
	}
	for (size_t i = 0; i < cc.n; i++) {
		if (!strcmp(cc.names[i], "min.insync.replicas") && atoi(cc.values[i]) > rf) {
			/* acks=all writes would fail with fewer replicas than that */
			warn(r, "%s: min.insync.replicas %s lowered to %d (the replication factor)", t->dst,
			     cc.values[i], rf);
			char buf[16];
			snprintf(buf, sizeof(buf), "%d", rf);
			free((char *)cc.values[i]);
			cc.values[i] = strdup(buf);
		}
		if (!strcmp(cc.names[i], "message.timestamp.type") && !strcmp(cc.values[i], "LogAppendTime"))
			warn(r, "%s uses LogAppendTime: the broker stamps restored records with new times", t->dst);
	}
	if (!err) {
		struct kt_kafka_new_topic nt = {
			t->dst, t->partitions, rf, cc.n, (const char *const *)cc.names, (const char *const *)cc.values};
		err = kt_kafka_create_topic(r->k, &nt, diag);
	}
	for (size_t i = 0; i < cc.n; i++) {
		free((char *)cc.names[i]);
		free((char *)cc.values[i]);
	}
	free(cc.names);
	free(cc.values);
	if (!err) {
		t->dst_partitions = t->partitions;
		r->res->topics_created++;
	}
	return err;
}

struct retention_ctx {
	int64_t retention_ms;
	int found;
};

static int retention_cb(void *ctx, const struct kt_kafka_config_entry *e)
{
	struct retention_ctx *c = ctx;
	if (!strcmp(e->name, "retention.ms") && e->value) {
		c->retention_ms = strtoll(e->value, NULL, 10);
		c->found = 1;
	}
	return 0;
}

struct min_ts_ctx {
	struct src_topic *t;
	int64_t min_ts;
};

static int min_ts_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct min_ts_ctx *c = ctx;
	if (s->generation == c->t->generation && s->sum.min_timestamp >= 0 && s->sum.min_timestamp < c->min_ts)
		c->min_ts = s->sum.min_timestamp;
	return 0;
}

/* Records older than the target's retention are deleted by the broker soon
 * after they are written: say so before writing. */
static enum kt_err check_retention(struct restore *r, struct src_topic *t, struct kt_diag *diag)
{
	struct retention_ctx rc = {-1, 0};
	enum kt_err err = kt_kafka_describe_topic_configs(r->k, t->dst, retention_cb, &rc, diag);
	if (err || !rc.found || rc.retention_ms < 0)
		return err;
	struct min_ts_ctx mc = {t, INT64_MAX};
	err = kt_catalog_each_segment(r->cat, t->name, min_ts_cb, &mc, diag);
	int64_t from = r->o->from_time != INT64_MIN && r->o->from_time > mc.min_ts ? r->o->from_time : mc.min_ts;
	if (!err && from != INT64_MAX && from < kt_time_now_ms() - rc.retention_ms)
		warn(r,
		     "%s has retention.ms=%" PRId64 ": records older than that are deleted by the broker soon after "
		     "the restore. To keep them, raise it first: kafka-configs --alter --entity-type topics "
		     "--entity-name %s --add-config retention.ms=-1 (and restore it afterwards)",
		     t->dst, rc.retention_ms, t->dst);
	return err;
}

static enum kt_err prepare_targets(struct restore *r, struct kt_diag *diag)
{
	struct kt_kafka_topic *all;
	size_t n;
	enum kt_err err = kt_kafka_list_topics(r->k, &all, &n, diag);
	if (err)
		return err;
	int brokers = 1;
	err = kt_kafka_broker_count(r->k, &brokers, diag);
	for (size_t i = 0; !err && i < r->topic_count; i++) {
		struct src_topic *t = &r->topics[i];
		for (size_t j = 0; j < n; j++)
			if (!strcmp(all[j].name, t->dst))
				t->dst_partitions = all[j].partitions;
		if (!t->dst_partitions) {
			if (!r->o->create_topics)
				err = kt_kafka_topic_absent(
					r->k, t->dst, " (use --create-topics to create it from the archived configs)",
					diag);
			else
				err = create_target(r, t, brokers, diag);
		}
		if (!err && !r->o->by_key)
			for (size_t p = 0; p < r->part_count; p++)
				if (r->parts[p].t == t && r->parts[p].partition >= t->dst_partitions)
					err = kt_diag_fail(
						diag, KT_ERR_INVALID,
						"target topic %s has %d partitions but the archive has "
						"partition %d: use --partitioning key to place records by key",
						t->dst, t->dst_partitions, r->parts[p].partition);
		if (!err)
			err = check_retention(r, t, diag);
	}
	kt_kafka_topics_free(all, n);
	/* non-empty targets are refused: restoring twice doubles the data */
	for (size_t i = 0; !err && i < r->topic_count && !r->o->allow_nonempty; i++)
		err = refuse_nonempty(r, &r->topics[i], diag);
	for (size_t i = 0; !err && i < r->part_count; i++) {
		r->parts[i].chunks = calloc((size_t)r->parts[i].t->dst_partitions + 1, sizeof(struct chunk));
		if (!r->parts[i].chunks)
			err = KT_ERR_NOMEM;
	}
	return err;
}

/* ---- producing ---- */

static void report(struct restore *r)
{
	if (!r->o->on_progress)
		return;
	struct kt_restore_progress p = {r->res->records, r->res->bytes, r->expected,
					(double)(kt_time_mono_ns() - r->t0) / 1e9};
	r->o->on_progress(r->o->cb_ctx, &p);
}

/* Records purged because the producer stopped say little; the report of
 * the record that stopped it can come a moment after theirs (or after the
 * fatal error): waited for up to 2 s, once. */
static void await_cause(struct restore *r)
{
	if (r->cause_awaited)
		return;
	r->cause_awaited = 1;
	for (int i = 0; i < 20 && !r->delivery_err; i++)
		kt_kafka_produce_poll(r->k, i ? 100 : 0);
}

/* The first failed record, and how far each partition got: the target
 * holds those records of it, in order (the gapless guarantee), and a rerun
 * of the same command continues after them. */
static enum kt_err delivery_failed(struct restore *r, struct kt_diag *diag)
{
	await_cause(r);
	if (!r->delivery_err) {
		r->delivery_err = KT_ERR_KAFKA;
		snprintf(r->delivery_msg, sizeof(r->delivery_msg), "%s", r->stopped_msg);
	}
	char got[256] = "";
	size_t len = 0;
	for (size_t i = 0; i < r->part_count && len < sizeof(got) - 40; i++) {
		const struct src_part *sp = &r->parts[i];
		int n = snprintf(got + len, sizeof(got) - len, "%s%s [%d] %" PRIu64, len ? ", " : "", sp->t->name,
				 sp->partition, sp->acked);
		if (n < 0 || (size_t)n >= sizeof(got) - len) {
			snprintf(got + len, sizeof(got) - len, ", ...");
			break;
		}
		len += (size_t)n;
	}
	return kt_diag_fail(
		diag, r->delivery_err, "%s; records this run wrote per source partition: %s%s", r->delivery_msg, got,
		r->timed_out ? " (a record timed out: the target may hold it or not, so a rerun starts over)"
			     : " (each a prefix of its partition; the same command continues after them)");
}

static enum kt_err send_one(struct restore *r, size_t idx, const struct kt_record *rec, struct kt_rate *rate,
			    struct kt_diag *diag)
{
	struct src_part *sp = &r->parts[idx];
	uint64_t bytes = kt_record_payload_bytes(rec);
	int limited = rate->pace || rate->msgs.rate > 0 || rate->bytes.rate > 0;
	for (; limited;) {
		if (r->o->stop && *r->o->stop)
			return kt_diag_fail(diag, KT_ERR_INTERRUPTED, "interrupted");
		int64_t w = kt_rate_wait_ns(rate, bytes, rec->timestamp, kt_time_mono_ns());
		if (w <= 0)
			break;
		/* waiting serves delivery reports */
		/* rounded up: a wait under 1 ms would be poll(0), a busy
		 * loop until the next token (test_rate: short waits) */
		int64_t ms = (w + 999999) / 1000000;
		kt_kafka_produce_poll(r->k, (int)(ms > 100 ? 100 : ms));
		r->waited = 1;
	}
	int32_t dst_p = sp->partition;
	if (r->o->by_key) {
		if (rec->key_null)
			dst_p = (int32_t)(r->rr++ % (uint32_t)sp->t->dst_partitions);
		else
			dst_p = kt_kafka_murmur2_partition(rec->key, rec->key_len, sp->t->dst_partitions);
	}
	char off_s[24], part_s[16];
	struct kt_header origin[3];
	size_t norigin = 0;
	if (r->o->origin_headers) {
		int pl = snprintf(part_s, sizeof(part_s), "%d", sp->partition);
		int ol = snprintf(off_s, sizeof(off_s), "%" PRId64, rec->offset);
		origin[0] = (struct kt_header){(const uint8_t *)"ktape.source.topic", 18, (const uint8_t *)sp->t->name,
					       strlen(sp->t->name), 0};
		origin[1] = (struct kt_header){(const uint8_t *)"ktape.source.partition", 22, (const uint8_t *)part_s,
					       (size_t)pl, 0};
		origin[2] = (struct kt_header){(const uint8_t *)"ktape.source.offset", 19, (const uint8_t *)off_s,
					       (size_t)ol, 0};
		norigin = 3;
	}
	void *opaque = (void *)(uintptr_t)(((uint64_t)idx << OPAQUE_OFFSET_BITS) |
					   (sp->dropped_gap ? OPAQUE_BREAK : 0) | (uint64_t)rec->offset);
	sp->dropped_gap = 0;
	for (;;) {
		enum kt_err err = kt_kafka_produce(r->k, sp->t->dst, dst_p, rec, origin, norigin, opaque, diag);
		if (err && err != KT_ERR_LIMIT) {
			/* a producer stopped by a failed record (the gapless
			 * guarantee) refuses the next one: that record's report
			 * says why */
			kt_kafka_produce_poll(r->k, 0);
			if (kt_kafka_stopped(r->k))
				await_cause(r);
			return r->delivery_err || r->stopped_msg[0] ? delivery_failed(r, diag) : err;
		}
		if (err != KT_ERR_LIMIT)
			return err;
		kt_kafka_produce_poll(r->k, 50); /* the local queue is full: let it drain */
	}
}

static enum kt_err after_send(struct restore *r, struct kt_diag *diag)
{
	/* delivery reports, the clock and the stop flag every 256 records:
	 * per record they cost as much as producing it. And after a record
	 * the rate held back: a paced run (--rate-msgs 50) would otherwise
	 * checkpoint every 256 records (5 s) instead of every second */
	if ((r->res->records & 255) && !r->waited)
		return KT_OK;
	r->waited = 0;
	if (r->o->stop && *r->o->stop)
		return kt_diag_fail(diag, KT_ERR_INTERRUPTED, "interrupted");
	kt_kafka_produce_poll(r->k, 0);
	if (r->delivery_err || r->stopped_msg[0])
		return delivery_failed(r, diag);
	if (r->map_err)
		return kt_diag_fail(diag, r->map_err, "cannot record the offset map: %s", r->map_msg);
	int64_t now = kt_time_mono_ns();
	if (now - r->last_checkpoint > CHECKPOINT_NS) {
		enum kt_err err = checkpoint(r, diag);
		if (err)
			return err;
		report(r);
	}
	return KT_OK;
}

/* Marks the records skipped on resume as mapped, in order. */
static void map_skipped(struct restore *r, struct src_part *sp, int64_t src_off)
{
	map_delivery(r, sp, sp->partition, src_off, sp->skip_dst++, sp->dropped_gap);
	sp->dropped_gap = 0;
	sp->skip--;
	r->res->skipped_on_resume++;
}

/* Original pace: partitions are merged by timestamp, each in offset order,
 * so the interleaving across partitions is played as it happened. */
static enum kt_err restore_paced(struct restore *r, struct kt_rate *rate, struct kt_diag *diag)
{
	size_t n = r->part_count;
	struct kt_archive_iter **its = calloc(n + 1, sizeof(*its));
	const struct kt_record **heads = calloc(n + 1, sizeof(*heads));
	enum kt_err err = its && heads ? KT_OK : KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		struct kt_archive_range range;
		range_of(r, &r->parts[i], &range);
		err = kt_archive_iter_open(r->a, &range, &its[i], diag);
		while (!err &&
		       (err = next_kept(r, its[i], &heads[i], &r->parts[i].dropped, &r->parts[i].dropped_gap, diag)) ==
			       KT_OK &&
		       heads[i] && r->parts[i].skip > 0)
			map_skipped(r, &r->parts[i], heads[i]->offset);
	}
	while (!err) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (heads[i] && (best == n || heads[i]->timestamp < heads[best]->timestamp))
				best = i;
		if (best == n)
			break;
		err = send_one(r, best, heads[best], rate, diag);
		if (err)
			break;
		r->parts[best].sent++;
		r->res->records++;
		r->res->bytes += kt_record_payload_bytes(heads[best]);
		err = after_send(r, diag);
		if (!err)
			err = next_kept(r, its[best], &heads[best], &r->parts[best].dropped,
					&r->parts[best].dropped_gap, diag);
	}
	for (size_t i = 0; its && i < n; i++)
		kt_archive_iter_close(its[i]);
	free(its);
	free(heads);
	return err;
}

/* Without pacing: the partitions take turns, a run of records each, so
 * that the producer has every partition's batches to send at once (fuller
 * produce requests) instead of one partition at a time. */
#define TURN_RECORDS 2048
/* At most this many partitions are open at once (one decompressed block
 * each), so memory stays bounded with hundreds of partitions. */
#define TURN_WINDOW 32

static enum kt_err restore_window(struct restore *r, size_t first, size_t n, struct kt_rate *rate, struct kt_diag *diag)
{
	struct kt_archive_iter **its = calloc(n + 1, sizeof(*its));
	const struct kt_record **heads = calloc(n + 1, sizeof(*heads));
	enum kt_err err = its && heads ? KT_OK : KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		struct src_part *sp = &r->parts[first + i];
		struct kt_archive_range range;
		range_of(r, sp, &range);
		err = kt_archive_iter_open(r->a, &range, &its[i], diag);
		while (!err && (err = next_kept(r, its[i], &heads[i], &sp->dropped, &sp->dropped_gap, diag)) == KT_OK &&
		       heads[i] && sp->skip > 0)
			map_skipped(r, sp, heads[i]->offset);
	}
	for (int active = 1; !err && active;) {
		active = 0;
		for (size_t i = 0; !err && i < n; i++) {
			for (int k = 0; !err && heads[i] && k < TURN_RECORDS; k++) {
				err = send_one(r, first + i, heads[i], rate, diag);
				if (err)
					break;
				r->parts[first + i].sent++;
				r->res->records++;
				r->res->bytes += kt_record_payload_bytes(heads[i]);
				err = after_send(r, diag);
				if (!err)
					err = next_kept(r, its[i], &heads[i], &r->parts[first + i].dropped,
							&r->parts[first + i].dropped_gap, diag);
			}
			active |= heads[i] != NULL;
		}
	}
	for (size_t i = 0; its && i < n; i++)
		kt_archive_iter_close(its[i]);
	free(its);
	free(heads);
	return err;
}

static enum kt_err restore_interleaved(struct restore *r, struct kt_rate *rate, struct kt_diag *diag)
{
	enum kt_err err = KT_OK;
	for (size_t first = 0; !err && first < r->part_count; first += TURN_WINDOW) {
		size_t n = r->part_count - first < TURN_WINDOW ? r->part_count - first : TURN_WINDOW;
		err = restore_window(r, first, n, rate, diag);
	}
	return err;
}

/* ---- consumer groups ---- */

struct count_ctx {
	int64_t count;
};

/* The target offset of the first restored record whose source offset is
 * >= committed, from this run's maps; the target's end when there is none. */
struct translate_ctx {
	struct restore *r;
	struct src_part *sp;
	int64_t committed;
	int64_t result;
	int done;
	enum kt_err err;
	struct kt_diag *diag;
};

static int translate_cb(void *ctx, const struct kt_catalog_restore_map *m)
{
	struct translate_ctx *c = ctx;
	if (c->done || strcmp(m->dst_topic, c->sp->t->dst) || m->src_last < c->committed)
		return 0;
	if (c->committed <= m->src_first) {
		c->result = m->dst_first;
		c->done = 1;
		return 1;
	}
	/* inside the chunk: count the restored records before `committed`
	 * (those the erasure list dropped were not restored) */
	struct kt_archive_range range;
	range_of(c->r, c->sp, &range);
	range.from_offset = m->src_first;
	range.to_offset = c->committed - 1;
	struct kt_archive_iter *it;
	c->err = kt_archive_iter_open(c->r->a, &range, &it, c->diag);
	if (c->err)
		return 1;
	int64_t k = 0;
	const struct kt_record *rec;
	while ((c->err = next_kept(c->r, it, &rec, NULL, NULL, c->diag)) == KT_OK && rec)
		k++;
	kt_archive_iter_close(it);
	c->result = m->dst_first + k;
	c->done = 1;
	return 1;
}

struct groups_ctx {
	struct restore *r;
	struct src_topic *t;
	regex_t *re;
	char group[256];
	int32_t parts[1024];
	int64_t offsets[1024];
	size_t n;
	enum kt_err err;
	struct kt_diag *diag;
};

static enum kt_err commit_group(struct groups_ctx *g)
{
	if (!g->n)
		return KT_OK;
	const struct kt_restore_opts *o = g->r->o;
	/* a plan (ktape groups --dry-run) sets nothing, but says what the real
	 * run would refuse: a group with members on the target */
	enum kt_err err = KT_OK;
	if (o->dry_run) {
		size_t members;
		char state[64];
		err = kt_kafka_group_members(g->r->k, g->group, &members, state, sizeof(state), g->diag);
		if (!err && members)
			err = kt_diag_fail(g->diag, KT_ERR_EXISTS,
					   "consumer group %s has active members on the target (%zu, state %s): its "
					   "offsets cannot be set; stop its consumers first",
					   g->group, members, state);
	} else {
		err = kt_kafka_alter_group_offsets(g->r->k, g->group, g->t->dst, g->parts, g->offsets, g->n, g->diag);
	}
	for (size_t i = 0; !err && o->on_group_offset && i < g->n; i++) {
		struct kt_restore_group_offset go = {g->group, g->t->dst, g->parts[i], g->offsets[i]};
		o->on_group_offset(o->cb_ctx, &go);
	}
	if (!err)
		g->r->res->groups_restored++;
	g->n = 0;
	return err;
}

static int group_offset_cb(void *ctx, const struct kt_catalog_group_offset *go)
{
	struct groups_ctx *g = ctx;
	if (go->generation != g->t->generation || (g->re && regexec(g->re, go->group_id, 0, NULL, 0)))
		return 0;
	if (strcmp(g->group, go->group_id)) {
		g->err = commit_group(g);
		if (g->err)
			return 1;
		snprintf(g->group, sizeof(g->group), "%s", go->group_id);
	}
	struct src_part *sp = NULL;
	for (size_t i = 0; i < g->r->part_count; i++)
		if (g->r->parts[i].t == g->t && g->r->parts[i].partition == go->partition)
			sp = &g->r->parts[i];
	if (!sp)
		return 0;
	if (g->n >= 1024) {
		g->err = kt_diag_fail(g->diag, KT_ERR_LIMIT,
				      "consumer group %s has offsets for more than 1024 "
				      "partitions of %s; ktape sets at most 1024",
				      go->group_id, g->t->name);
		return 1;
	}
	struct translate_ctx tc = {g->r, sp, go->offset, -1, 0, KT_OK, g->diag};
	g->err = each_run_map(g->r, g->t, go->partition, translate_cb, &tc, g->diag);
	if (!g->err)
		g->err = tc.err;
	if (g->err)
		return 1;
	if (!tc.done) {
		int64_t low, high;
		g->err = kt_kafka_watermarks(g->r->k, g->t->dst, go->partition, &low, &high, g->diag);
		if (g->err)
			return 1;
		tc.result = high;
	}
	g->parts[g->n] = go->partition;
	g->offsets[g->n] = tc.result;
	g->n++;
	return 0;
}

/* ---- group offsets from a file (ktape groups --offsets) ---- */

struct file_offset {
	struct kt_catalog_group_offset go;
	size_t line;
};

static int file_offset_cmp(const void *x, const void *y)
{
	const struct file_offset *a = x, *b = y;
	int c = strcmp(a->go.topic, b->go.topic);
	if (!c)
		c = strcmp(a->go.group_id, b->go.group_id);
	return c ? c : (a->line > b->line) - (a->line < b->line);
}

/* GROUP,TOPIC,PARTITION,OFFSET lines (what kafka-consumer-groups
 * --reset-offsets --export writes for several groups), source offsets of
 * the archived topics. Sorted by topic and group: group_offset_cb sets a
 * group when the next one begins. */
static enum kt_err load_offsets_file(struct restore *r, const char *path, struct kt_diag *diag)
{
	uint8_t *data;
	size_t len;
	enum kt_err err = kt_read_file(path, (size_t)1 << 30, &data, &len, diag);
	if (err)
		return err;
	char *text = realloc(data, len + 1);
	if (!text) {
		free(data);
		return KT_ERR_NOMEM;
	}
	text[len] = '\0';
	size_t line = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l && !err; l = strtok_r(NULL, "\n", &save)) {
		line++;
		size_t n = strlen(l);
		if (n && l[n - 1] == '\r')
			l[--n] = '\0';
		if (!n)
			continue;
		char *f[4], *p = l;
		int k = 0;
		for (; k < 4 && p; k++) {
			f[k] = p;
			p = strchr(p, ',');
			if (p)
				*p++ = '\0';
		}
		char *end1 = NULL, *end2 = NULL;
		long long part = k == 4 ? strtoll(f[2], &end1, 10) : -1;
		long long off = k == 4 ? strtoll(f[3], &end2, 10) : -1;
		if (k != 4 || p || !f[0][0] || !f[1][0] || !end1 || *end1 || end1 == f[2] || !end2 || *end2 ||
		    end2 == f[3] || part < 0 || part > INT32_MAX || off < 0) {
			err = kt_diag_fail(diag, KT_ERR_INVALID,
					   "%s line %zu: expected GROUP,TOPIC,PARTITION,OFFSET (the layout of "
					   "kafka-consumer-groups --reset-offsets --export for several groups)",
					   path, line);
			break;
		}
		struct file_offset *nv = realloc(r->file_offsets, (r->file_offset_count + 1) * sizeof(*nv));
		if (!nv) {
			err = KT_ERR_NOMEM;
			break;
		}
		r->file_offsets = nv;
		nv[r->file_offset_count++] =
			(struct file_offset){{0, f[0], f[1], 0, (int32_t)part, (int64_t)off, NULL}, line};
	}
	if (err) {
		free(text);
		return err;
	}
	r->file_text = text; /* the entries point into it */
	kt_sort(r->file_offsets, r->file_offset_count, sizeof(*r->file_offsets), file_offset_cmp);
	return KT_OK;
}

/* --from-cluster: the source cluster's committed offsets now, as if read
 * from a file (the strings are owned: file_owned). */
struct cluster_ctx {
	struct restore *r;
	regex_t *re;
	int nomem;
};

static int cluster_filter(void *ctx, const char *group)
{
	struct cluster_ctx *c = ctx;
	return !c->re || regexec(c->re, group, 0, NULL, 0) == 0;
}

static int cluster_offset_cb(void *ctx, const struct kt_kafka_group_offset *g)
{
	struct cluster_ctx *c = ctx;
	struct restore *r = c->r;
	if (g->offset < 0)
		return 0; /* no commit for that partition */
	struct file_offset *nv = realloc(r->file_offsets, (r->file_offset_count + 1) * sizeof(*nv));
	char *gid = strdup(g->group_id), *topic = strdup(g->topic);
	if (!nv || !gid || !topic) {
		if (nv)
			r->file_offsets = nv;
		free(gid);
		free(topic);
		c->nomem = 1;
		return 1;
	}
	r->file_offsets = nv;
	nv[r->file_offset_count] =
		(struct file_offset){{0, gid, topic, 0, g->partition, g->offset, NULL}, r->file_offset_count};
	r->file_offset_count++;
	return 0;
}

static enum kt_err load_cluster_offsets(struct restore *r, struct kt_diag *diag)
{
	const struct kt_restore_opts *o = r->o;
	regex_t re;
	int has_re = 0;
	if (o->groups_regex) {
		if (regcomp(&re, o->groups_regex, REG_EXTENDED | REG_NOSUB))
			return kt_diag_fail(diag, KT_ERR_INVALID, "--groups '%s' is not a valid regular expression",
					    o->groups_regex);
		has_re = 1;
	}
	struct kt_kafka_opts ko = {
		o->group_source_bootstrap, KT_KAFKA_PRODUCER, 0, 1, o->timeout_ms > 0 ? o->timeout_ms : 60000,
		"ktape-groups-source"};
	struct kt_kafka *src = NULL;
	r->file_owned = 1;
	enum kt_err err = kt_kafka_open(o->conf, &ko, &src, diag);
	struct cluster_ctx c = {r, has_re ? &re : NULL, 0};
	if (!err)
		err = kt_kafka_list_group_offsets(src, cluster_filter, cluster_offset_cb, &c, diag);
	if (!err && c.nomem)
		err = KT_ERR_NOMEM;
	if (err)
		kt_diag_prefix(diag, "reading the group offsets of the source cluster %s", o->group_source_bootstrap);
	kt_kafka_close(src);
	if (has_re)
		regfree(&re);
	if (!err)
		kt_sort(r->file_offsets, r->file_offset_count, sizeof(*r->file_offsets), file_offset_cmp);
	return err;
}

static enum kt_err each_file_offset(struct restore *r, struct src_topic *t, kt_catalog_group_cb cb, void *ctx)
{
	for (size_t i = 0; i < r->file_offset_count; i++) {
		struct kt_catalog_group_offset go = r->file_offsets[i].go;
		if (strcmp(go.topic, t->name))
			continue;
		go.generation = t->generation; /* the file knows no generations: the restored one */
		if (cb(ctx, &go))
			break;
	}
	return KT_OK;
}

/* --at T: the groups' offsets as the newest snapshot at or before T has
 * them (a follower's every --groups-interval, a batch dump's at its start);
 * the group positions an operator recovering "to T" wants, consistent
 * with the records up to T. */
static enum kt_err groups_at(struct restore *r, struct src_topic *t, struct groups_ctx *g, struct kt_diag *diag)
{
	int64_t taken = -1;
	enum kt_err err =
		kt_catalog_each_group_snapshot_at(r->cat, t->name, r->o->at_ms, group_offset_cb, g, &taken, diag);
	if (err)
		return err;
	char at[KT_TIME_STR_MAX];
	if (taken < 0)
		warn(r, "%s: no consumer group snapshot at or before %s in the archive: no group offsets set", t->name,
		     kt_parse_format_time(r->o->at_ms, at));
	if (taken > r->res->groups_snapshot_ms)
		r->res->groups_snapshot_ms = taken;
	return KT_OK;
}

static enum kt_err restore_groups(struct restore *r, struct kt_diag *diag)
{
	r->res->groups_snapshot_ms = -1;
	if (r->o->by_key)
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "--groups needs --partitioning same: with key partitioning a source partition's "
				    "offsets do not correspond to one target partition");
	regex_t re;
	int has_re = 0;
	if (r->o->groups_regex) {
		if (regcomp(&re, r->o->groups_regex, REG_EXTENDED | REG_NOSUB))
			return kt_diag_fail(diag, KT_ERR_INVALID, "--groups '%s' is not a valid regular expression",
					    r->o->groups_regex);
		has_re = 1;
	}
	enum kt_err err = KT_OK;
	for (size_t i = 0; !err && i < r->topic_count; i++) {
		if (r->topics[i].map_run < 0)
			continue; /* ktape groups: never restored into this cluster */
		struct groups_ctx *g = calloc(1, sizeof(*g));
		if (!g) {
			err = KT_ERR_NOMEM;
			break;
		}
		*g = (struct groups_ctx){r, &r->topics[i], has_re ? &re : NULL, "", {0}, {0}, 0, KT_OK, diag};
		if (r->file_offsets || r->o->group_offsets_file || r->o->group_source_bootstrap)
			err = each_file_offset(r, &r->topics[i], group_offset_cb, g);
		else if (r->o->at_given)
			err = groups_at(r, &r->topics[i], g, diag);
		else
			err = kt_catalog_each_latest_group_offset(r->cat, r->topics[i].name, group_offset_cb, g, diag);
		if (!err)
			err = g->err;
		if (!err)
			err = commit_group(g);
		free(g);
	}
	if (has_re)
		regfree(&re);
	return err;
}

/* ---- the run ---- */

static enum kt_err dry_run(struct restore *r, struct kt_diag *diag)
{
	enum kt_err err = KT_OK;
	for (size_t i = 0; !err && i < r->part_count; i++) {
		struct kt_restore_plan_line line;
		err = plan_partition(r, &r->parts[i], &line, diag);
		if (!err && r->o->on_plan)
			r->o->on_plan(r->o->cb_ctx, &line);
		if (!err) {
			r->res->records += line.records;
			r->res->bytes += line.bytes;
			r->res->dropped += line.dropped;
		}
	}
	return err;
}

static int expected_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct restore *r = ctx;
	for (size_t i = 0; i < r->topic_count; i++)
		if (!strcmp(r->topics[i].name, s->topic) && s->generation == r->topics[i].generation)
			r->expected += s->sum.record_count;
	return 0;
}

static enum kt_err run(struct restore *r, struct kt_diag *diag)
{
	const struct kt_restore_opts *o = r->o;
	struct kt_kafka_opts ko = {o->bootstrap,   KT_KAFKA_PRODUCER, 0, 1, o->timeout_ms > 0 ? o->timeout_ms : 60000,
				   "ktape-restore"};
	enum kt_err err = kt_kafka_open(o->conf, &ko, &r->k, diag);
	if (err)
		return err;
	kt_kafka_set_delivery_cb(r->k, on_delivery, r);
	char cluster[128] = "";
	if (kt_kafka_cluster_id(r->k, cluster, sizeof(cluster), NULL) != KT_OK)
		cluster[0] = '\0';
	struct kt_catalog_run run = {0};
	run.kind = "restore";
	run.started_ms = kt_time_now_ms();
	run.args = o->args ? o->args : "";
	run.tool_version = o->tool_version ? o->tool_version : "";
	run.cluster_id = cluster[0] ? cluster : NULL;
	run.bootstrap = o->bootstrap;
	run.selection = r->selection;
	/* a reader: the writer lock stays free for the nightly dump, and the
	 * run's live lock keeps that dump's recovery from calling it crashed */
	if (r->recording)
		err = kt_archive_run_begin(r->a, &run, &r->run_id, diag);
	else
		warn(r, "this restore is not recorded in the archive (%s): an interrupted run cannot be continued",
		     kt_archive_norecord_reason(r->a));
	if (err)
		return err;
	r->res->run_id = r->run_id;
	err = plan_resume(r, cluster, diag);
	if (!err)
		err = prepare_targets(r, diag);
	if (!err)
		err = record_bases(r, diag);
	if (!err)
		err = kt_catalog_each_segment(r->cat, NULL, expected_cb, r, diag);
	struct kt_rate rate;
	kt_rate_init(&rate, o->rate_msgs, o->rate_bytes, o->speed, o->max_idle_ms, kt_time_mono_ns());
	r->last_checkpoint = kt_time_mono_ns();
	if (!err && o->speed > 0)
		err = restore_paced(r, &rate, diag);
	if (!err && o->speed <= 0)
		err = restore_interleaved(r, &rate, diag);
	/* every record sent is delivered (or failed) before the run ends */
	struct kt_diag fd;
	kt_diag_clear(&fd);
	enum kt_err ferr = kt_kafka_flush(r->k, (int)(o->timeout_ms > 0 ? o->timeout_ms : 60000), &fd);
	if (!err && (r->delivery_err || r->stopped_msg[0]))
		err = delivery_failed(r, diag);
	if (!err && ferr) {
		err = ferr;
		*diag = fd;
	}
	struct kt_diag cd;
	kt_diag_clear(&cd);
	enum kt_err cerr = checkpoint(r, &cd);
	if (!err && cerr) {
		err = cerr;
		*diag = cd;
	}
	report(r);
	if (!err && o->restore_groups)
		err = restore_groups(r, diag);
	return err;
}

enum kt_err kt_restore_run(const struct kt_restore_opts *o, struct kt_restore_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
#ifdef __GLIBC__
	/* librdkafka allocates and frees every record (RD_KAFKA_MSG_F_COPY)
	 * and every batch: without this, glibc hands the heap top back to the
	 * kernel and faults it in again, over and over (about 8% of the CPU) */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, 64 << 20);
#endif
	struct restore r = {0};
	r.o = o;
	r.res = res;
	r.t0 = kt_time_mono_ns();
	if (o->speed > 0 && (o->rate_msgs > 0 || o->rate_bytes > 0))
		return kt_diag_fail(diag, KT_ERR_INVALID, "--pace original and --rate-* exclude each other");
	enum kt_err err =
		kt_archive_open(o->archive, o->dry_run ? KT_ARCHIVE_READ : KT_ARCHIVE_RECORD, &r.a, NULL, diag);
	if (err)
		goto out;
	r.cat = kt_archive_catalog(r.a);
	r.rcat = kt_archive_record_catalog(r.a);
	r.recording = !o->dry_run && kt_archive_recording(r.a);
	err = kt_archive_use_key(r.a, o->key, 0, diag);
	if (!err)
		err = select_sources(&r, diag);
	if (!err)
		err = check_missing(&r, diag);
	if (err)
		goto out;
	r.selection = selection_key(&r);
	if (o->dry_run) {
		err = dry_run(&r, diag);
		goto out;
	}
	err = run(&r, diag);
	res->seconds = (double)(kt_time_mono_ns() - r.t0) / 1e9;
	for (size_t i = 0; i < r.part_count; i++)
		res->dropped += r.parts[i].dropped;
	if (r.run_id) {
		/* what was erased stays on record: the list's checksum and the
		 * count, so that an audit can match the run to the list */
		char msg[1024];
		const char *m = err ? diag->msg : NULL;
		if (o->drop_keys) {
			snprintf(msg, sizeof(msg), "drop-keys %s (%zu keys): %" PRIu64 " records dropped%s%s",
				 o->drop_keys_sum ? o->drop_keys_sum : "", kt_keyset_count(o->drop_keys), res->dropped,
				 err ? "; " : "", err ? diag->msg : "");
			m = msg;
		}
		const char *status = err == KT_ERR_INTERRUPTED ? "interrupted" : err ? "failed" : "ok";
		struct kt_diag d2;
		kt_diag_clear(&d2);
		enum kt_err e2 = KT_OK;
		/* The producer's gapless guarantee stops it at the first record
		 * that failed for good, so each target partition holds a prefix and
		 * the next run continues exactly. A record that timed out may or
		 * may not have been written: then counting on resume would be
		 * wrong. */
		if (r.timed_out)
			e2 = kt_catalog_drop_restore_bases(r.rcat, r.run_id, &d2);
		if (!e2)
			e2 = kt_catalog_run_end(r.rcat, r.run_id, status, (int64_t)res->records, (int64_t)res->bytes, m,
						kt_time_now_ms(), &d2);
		if (!e2)
			e2 = kt_archive_write_run_meta(r.a, r.run_id, "restore", &d2);
		if (!err && e2) {
			err = e2;
			*diag = d2;
		}
	}
out:
	res->seconds = (double)(kt_time_mono_ns() - r.t0) / 1e9;
	/* the client first: no delivery report may reach freed state */
	kt_kafka_close(r.k);
	r.k = NULL;
	free(r.selection);
	free(r.mem_maps);
	for (size_t i = 0; i < r.part_count; i++)
		free(r.parts[i].chunks);
	free(r.parts);
	for (size_t i = 0; i < r.topic_count; i++) {
		free(r.topics[i].name);
		free(r.topics[i].dst_owned);
	}
	free(r.topics);
	kt_kafka_close(r.k);
	if (r.a) {
		struct kt_store_stats ss;
		kt_archive_store_stats(r.a, &ss);
		res->storage_requests = ss.requests;
		res->storage_bytes_fetched = ss.bytes_fetched;
	}
	kt_archive_close(r.a);
	return err;
}

/* ---- ktape groups: translation after the fact ---- */

struct map_run {
	int64_t run_id;
	int64_t from_offset, to_offset, from_time, to_time;
};

struct map_runs_ctx {
	const char *cluster;
	struct map_run *v;
	size_t n;
	int nomem;
};

/* Restore runs into the target cluster whose maps can translate: finished
 * ("ok"), with same-partition placement (key partitioning has no
 * per-partition correspondence). Their selection says which archived
 * records were candidates, as translate_cb counts them. */
static int map_run_cb(void *ctx, const struct kt_catalog_run *run)
{
	struct map_runs_ctx *c = ctx;
	if (strcmp(run->kind, "restore") || strcmp(run->status, "ok") || !run->selection || !run->cluster_id ||
	    strcmp(run->cluster_id, c->cluster))
		return 0;
	struct map_run m = {run->run_id, -1, -1, INT64_MIN, INT64_MIN};
	int by_key = 1;
	long long g;
	long long fo, to, ft, tt;
	if (sscanf(run->selection, "v1 offsets=%lld,%lld times=%lld,%lld key=%d gen=%lld", &fo, &to, &ft, &tt, &by_key,
		   &g) != 6 ||
	    by_key)
		return 0;
	m.from_offset = fo;
	m.to_offset = to;
	m.from_time = ft;
	m.to_time = tt;
	struct map_run *nv = realloc(c->v, (c->n + 1) * sizeof(*nv));
	if (!nv) {
		c->nomem = 1;
		return 1;
	}
	c->v = nv;
	c->v[c->n++] = m;
	return 0;
}

struct first_map_ctx {
	char *dst;
	uint32_t generation;
	int found;
};

static int first_map_cb(void *ctx, const struct kt_catalog_restore_map *m)
{
	struct first_map_ctx *c = ctx;
	c->dst = strdup(m->dst_topic);
	c->generation = m->src_generation;
	c->found = 1;
	return 1;
}

/* For each selected topic, the newest usable run that restored it. */
static enum kt_err find_map_runs(struct restore *r, const char *cluster, struct kt_diag *diag)
{
	struct map_runs_ctx mc = {cluster, NULL, 0, 0};
	enum kt_err err = kt_catalog_each_run(r->rcat, map_run_cb, &mc, diag);
	if (!err && mc.nomem)
		err = KT_ERR_NOMEM;
	size_t usable = 0;
	for (size_t i = 0; !err && i < r->topic_count; i++) {
		struct src_topic *t = &r->topics[i];
		t->map_run = -1;
		const struct map_run *best = NULL;
		struct first_map_ctx fc = {NULL, 0, 0};
		for (size_t k = 0; !err && k < mc.n; k++) {
			if (best && mc.v[k].run_id < best->run_id)
				continue;
			struct first_map_ctx c = {NULL, 0, 0};
			for (int32_t p = 0; !err && !c.found && p < t->partitions; p++)
				err = kt_catalog_each_restore_map(r->rcat, mc.v[k].run_id, t->name, p, first_map_cb, &c,
								  diag);
			if (!c.found)
				continue;
			free(fc.dst);
			fc = c;
			best = &mc.v[k];
		}
		if (err || !best) {
			free(fc.dst);
			if (!err)
				warn(r,
				     "%s: no finished restore into this cluster recorded (--partitioning same): its "
				     "groups are not set",
				     t->name);
			continue;
		}
		if (!fc.dst)
			err = KT_ERR_NOMEM;
		free(t->dst_owned);
		t->dst_owned = fc.dst;
		t->dst = fc.dst;
		t->generation = fc.generation;
		t->map_run = best->run_id;
		t->sel_from_offset = best->from_offset;
		t->sel_to_offset = best->to_offset;
		t->sel_from_time = best->from_time;
		t->sel_to_time = best->to_time;
		usable++;
	}
	free(mc.v);
	if (!err && !usable)
		err = kt_diag_fail(diag, KT_ERR_NOT_FOUND,
				   "the archive records no finished restore into this cluster (id %s) of the selected "
				   "topics: restore first, then set the groups",
				   cluster[0] ? cluster : "unknown");
	return err;
}

enum kt_err kt_restore_groups(const struct kt_restore_opts *o, struct kt_restore_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	struct restore r = {0};
	r.o = o;
	r.res = res;
	r.t0 = kt_time_mono_ns();
	enum kt_err err = kt_archive_open(o->archive, KT_ARCHIVE_READ, &r.a, NULL, diag);
	if (err)
		goto out;
	r.cat = kt_archive_catalog(r.a);
	r.rcat = kt_archive_record_catalog(r.a);
	err = kt_archive_use_key(r.a, o->key, 0, diag);
	if (!err && o->group_offsets_file && o->group_source_bootstrap)
		err = kt_diag_fail(diag, KT_ERR_INVALID, "--offsets and --from-cluster exclude each other");
	if (!err && o->group_offsets_file)
		err = load_offsets_file(&r, o->group_offsets_file, diag);
	if (!err && o->group_source_bootstrap)
		err = load_cluster_offsets(&r, diag);
	if (!err)
		err = select_sources(&r, diag);
	struct kt_kafka_opts ko = {o->bootstrap,  KT_KAFKA_PRODUCER, 0, 1, o->timeout_ms > 0 ? o->timeout_ms : 60000,
				   "ktape-groups"};
	if (!err)
		err = kt_kafka_open(o->conf, &ko, &r.k, diag);
	char cluster[128] = "";
	if (!err && kt_kafka_cluster_id(r.k, cluster, sizeof(cluster), NULL) != KT_OK)
		cluster[0] = '\0';
	/* the maps name the cluster they were written into: another cluster's
	 * offsets mean nothing here */
	if (!err)
		err = find_map_runs(&r, cluster, diag);
	if (!err)
		err = restore_groups(&r, diag);
out:
	res->seconds = (double)(kt_time_mono_ns() - r.t0) / 1e9;
	kt_kafka_close(r.k);
	free(r.parts);
	for (size_t i = 0; i < r.topic_count; i++) {
		free(r.topics[i].name);
		free(r.topics[i].dst_owned);
	}
	free(r.topics);
	for (size_t i = 0; r.file_owned && i < r.file_offset_count; i++) {
		free((char *)r.file_offsets[i].go.group_id);
		free((char *)r.file_offsets[i].go.topic);
	}
	free(r.file_offsets);
	free(r.file_text);
	kt_archive_close(r.a);
	return err;
}
