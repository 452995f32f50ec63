#include "kt_dump.h"

#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_archive.h"
#include "kt_archive_compact.h"
#include "kt_catalog.h"
#include "kt_dump_group.h"
#include "kt_fileio.h"
#include "kt_strv.h"
#include "kt_time.h"

#define DEFAULT_SEGMENT_BYTES (256ull << 20)
/* Pending blocks of all partitions together stay under this: memory is
 * bounded whatever the number of partitions. */
#define PENDING_BUDGET	(96u << 20)
#define MIN_BLOCK_BYTES (64u << 10)

/* One partition of the run. end is exclusive. */
struct part {
	struct topic_state *t;
	int32_t partition;
	int64_t low, high; /* watermarks at the start */
	int64_t start, end;
	int64_t done_end; /* everything before it is archived (or was never there) */
	int64_t lost_from, lost_end;
	struct kt_archive_segment *seg;
	int64_t seg_done_end; /* done_end when seg began: where progress falls back if seg is lost */
	int64_t seen_end;     /* the readable end compute_lag read, for the metrics */
	/* compute_lag's ends, asked for all of the topic's parts at once */
	int64_t lag_low, lag_stable, lag_high;
	int lag_asked;
	/* finished in a batch dump: its segment (or its progress only) is
	 * committed with the others that finish about then (flush_parts) */
	int commit_due;
	uint64_t records;
	int finished;
	int failed; /* its archive writes failed: given up, the others go on */
	int assigned;
	/* a follower finished it for good: its topic was deleted, or recreated
	 * (then another part of the new generation has its name) */
	int retired;
	/* offsets already archived (explicit ranges may overlap old dumps) */
	int64_t *covered; /* pairs [first, last] */
	size_t covered_n;
};

struct topic_state {
	char *name;
	uint32_t generation;
	int32_t partitions;
	int32_t replication_factor;
	struct kt_dump_topic_result *res; /* d->res->topics[i] for d->topics[i] */
	int gone;			  /* a follower found it deleted: its parts are retired */
};

struct dump {
	const struct kt_dump_opts *o;
	struct kt_dump_result *res;
	struct kt_archive *a;
	struct kt_catalog *cat;
	/* where the archive ends: the union of a sharded archive as of the
	 * run's start (a reader's view, SPEC 10.8), else cat; u owns it */
	struct kt_archive *u;
	struct kt_catalog *ucat;
	/* --worker-group: the group member that assigns the partitions, and
	 * whether it is leaving (what it holds is committed already) */
	struct kt_dump_group *grp;
	int grp_closing;
	/* the topics followed changed (a new one the selection picks, one
	 * deleted): the member subscribes to them again */
	int grp_resubscribe;
	struct kt_kafka *k;
	/* following: the client of the group snapshots (snapshot_groups) */
	struct kt_kafka *kg;
	struct topic_state *topics;
	size_t topic_count;
	struct part *parts;
	size_t part_count;
	size_t part_cap; /* parts has room for this many */
	struct part *last_hit;
	int64_t run_id;
	regex_t groups_re;
	int has_groups_re;
	int64_t t0;
	struct kt_segment_codec *codec; /* one zstd workspace for every partition */
	size_t block_bytes;
	/* partitions given up on (their archive writes failed), and the first
	 * such failure: the run goes on with the others and fails at the end */
	int failed_parts;
	/* something came from the cluster since the last commit interval's
	 * commit (a follower's commit counts as a success only then, or after
	 * a probe the cluster answered) */
	int contact;
	enum kt_err part_err;
	struct kt_diag part_diag;
	int spread_decided; /* maybe_spread has looked at the records' size */
	/* following: merges small segments after each commit */
	struct kt_archive_compactor *compactor;
	/* the topic selection, compiled (a follower applies it again to the
	 * topics that appear while it runs) */
	regex_t inc_re, exc_re;
	int has_inc_re, has_exc_re;
	size_t topic_cap;    /* d->topics and d->res->topics have room for this many */
	uint64_t groups_sum; /* group_ctx.sum of the last capture archived */
};

static void warn(struct dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct dump *d, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kt_strv_push(&d->res->warnings, &d->res->warning_count, msg); /* the callback still gets it */
	if (d->o->on_warning)
		d->o->on_warning(d->o->cb_ctx, msg);
}

void kt_dump_result_free(struct kt_dump_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->topic_count; i++)
		free(res->topics[i].topic);
	free(res->topics);
	kt_strv_free(res->warnings, res->warning_count);
	free(res->parts);
	memset(res, 0, sizeof(*res));
}

/* ---- which topics ---- */

static int wanted_partition(const struct kt_dump_opts *o, int32_t p)
{
	if (!o->partition_count)
		return 1;
	for (size_t i = 0; i < o->partition_count; i++)
		if (o->partitions[i] == p)
			return 1;
	return 0;
}

/* Whether a topic of the cluster is selected: named with -t, or matching
 * --topic-regex (every non-internal topic without either), and not
 * --exclude-regex. */
static int topic_wanted(const struct dump *d, const char *name, int internal)
{
	const struct kt_dump_opts *o = d->o;
	int named = 0;
	for (size_t i = 0; i < o->topic_count; i++)
		named |= !strcmp(name, o->topics[i]);
	int pick;
	if (named)
		pick = 1;
	else if (d->has_inc_re)
		pick = !internal && regexec(&d->inc_re, name, 0, NULL, 0) == 0;
	else
		pick = !o->topic_count && !internal; /* no selection: every non-internal topic */
	if (pick && d->has_exc_re && regexec(&d->exc_re, name, 0, NULL, 0) == 0)
		pick = 0;
	return pick;
}

static enum kt_err select_topics(struct dump *d, struct kt_diag *diag)
{
	const struct kt_dump_opts *o = d->o;
	if (o->topic_regex) {
		if (regcomp(&d->inc_re, o->topic_regex, REG_EXTENDED | REG_NOSUB))
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "--topic-regex '%s' is not a valid regular expression", o->topic_regex);
		d->has_inc_re = 1;
	}
	if (o->exclude_regex) {
		if (regcomp(&d->exc_re, o->exclude_regex, REG_EXTENDED | REG_NOSUB))
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "--exclude-regex '%s' is not a valid regular expression", o->exclude_regex);
		d->has_exc_re = 1;
	}
	struct kt_kafka_topic *all;
	size_t n;
	enum kt_err err = kt_kafka_list_topics(d->k, &all, &n, diag);
	if (err)
		return err;
	/* explicit names must exist */
	for (size_t i = 0; i < o->topic_count && !err; i++) {
		int found = 0;
		for (size_t j = 0; j < n; j++)
			found |= !strcmp(all[j].name, o->topics[i]);
		if (!found)
			err = kt_kafka_topic_absent(d->k, o->topics[i], " in the cluster", diag);
	}
	d->topics = calloc(n ? n : 1, sizeof(*d->topics));
	d->topic_cap = n ? n : 1;
	if (!d->topics)
		err = KT_ERR_NOMEM;
	for (size_t j = 0; !err && j < n; j++) {
		if (!topic_wanted(d, all[j].name, all[j].internal))
			continue;
		struct topic_state *t = &d->topics[d->topic_count++];
		t->name = all[j].name;
		all[j].name = NULL;
		t->partitions = all[j].partitions;
		t->replication_factor = all[j].replication_factor;
	}
	kt_kafka_topics_free(all, n);
	if (!err && d->topic_count == 0)
		err = kt_diag_fail(diag, KT_ERR_NOT_FOUND, "no topic matches the selection");
	return err;
}

/* ---- per-partition plan ---- */

/* The catalog a run starts from: a shard's writer, or the root's writer of
 * an archive that has shards, plans from the union (SPEC 10.8), so that no
 * writer archives again what another shard holds. */
static enum kt_err dump_open_union(struct dump *d, struct kt_diag *diag)
{
	d->cat = kt_archive_catalog(d->a);
	d->ucat = d->cat;
	size_t n = 0;
	if (!d->o->worker_id) {
		char **ids;
		enum kt_err err = kt_archive_list_shards(d->a, &ids, &n, diag);
		if (err)
			return err;
		kt_archive_shard_ids_free(ids, n);
		if (!n)
			return KT_OK;
	}
	enum kt_err err = kt_archive_open(d->o->archive, KT_ARCHIVE_READ, &d->u, NULL, diag);
	if (!err)
		d->ucat = kt_archive_catalog(d->u);
	return err;
}

struct covered_ctx {
	struct part *p;
	uint32_t gen;
};

static int covered_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct covered_ctx *c = ctx;
	if (s->generation != c->gen || s->partition != c->p->partition)
		return 0;
	int64_t *nc = realloc(c->p->covered, (c->p->covered_n + 1) * 2 * sizeof(*nc));
	if (!nc)
		return 1;
	c->p->covered = nc;
	nc[c->p->covered_n * 2] = s->sum.first_offset;
	nc[c->p->covered_n * 2 + 1] = s->sum.last_offset;
	c->p->covered_n++;
	return 0;
}

static int is_covered(const struct part *p, int64_t off)
{
	for (size_t i = 0; i < p->covered_n; i++)
		if (off >= p->covered[2 * i] && off <= p->covered[2 * i + 1])
			return 1;
	return 0;
}

/* Decides the generation: a topic whose offsets went backwards (or lost
 * partitions) since the last dump was deleted and recreated. */
/* A topic whose offsets went backwards, or whose log start did (a log start
 * never moves back in one topic's life), was deleted and recreated. */
static enum kt_err plan_generation(struct dump *d, struct topic_state *t, const int64_t *lows, const int64_t *highs,
				   struct kt_diag *diag)
{
	uint32_t gen = 0;
	int found;
	enum kt_err err = kt_catalog_current_generation(d->ucat, t->name, &gen, &found, diag);
	if (err)
		return err;
	if (!found) {
		t->generation = 0;
		return kt_catalog_add_generation(d->cat, t->name, 0, d->run_id, "first dump", diag);
	}
	t->generation = gen;
	for (int32_t p = 0; p < t->partitions; p++) {
		int64_t end;
		int has;
		err = kt_catalog_resume_end(d->ucat, t->name, gen, p, &end, &has, diag);
		if (err)
			return err;
		int64_t prev_low = -1;
		if (!err)
			err = kt_catalog_last_log_start(d->ucat, t->name, gen, p, &prev_low, diag);
		if (err)
			return err;
		if ((has && end > highs[p]) || (prev_low > lows[p])) {
			char reason[256];
			if (has && end > highs[p])
				snprintf(reason, sizeof(reason),
					 "partition %d was archived up to offset %" PRId64 " but now ends at %" PRId64,
					 p, end, highs[p]);
			else
				snprintf(reason, sizeof(reason),
					 "partition %d started at offset %" PRId64 " but now starts at %" PRId64, p,
					 prev_low, lows[p]);
			warn(d,
			     "topic %s was deleted and recreated since the last dump (%s): archiving it as generation "
			     "%u, apart from the old records",
			     t->name, reason, gen + 1);
			t->generation = gen + 1;
			return kt_catalog_add_generation(d->cat, t->name, gen + 1, d->run_id, reason, diag);
		}
	}
	return KT_OK;
}

static enum kt_err plan_partition(struct dump *d, struct topic_state *t, struct part *p, struct kt_diag *diag)
{
	const struct kt_dump_opts *o = d->o;
	int64_t resume = 0;
	int has_resume = 0;
	enum kt_err err =
		kt_catalog_resume_end(d->ucat, t->name, t->generation, p->partition, &resume, &has_resume, diag);
	if (err)
		return err;
	p->lost_from = -1;
	p->lost_end = -1;
	if (o->from_offset >= 0) {
		p->start = o->from_offset;
	} else if (o->from_time != INT64_MIN) {
		err = kt_kafka_offset_for_time(d->k, t->name, p->partition, o->from_time, &p->start, diag);
		if (err)
			return err;
	} else if (has_resume) {
		p->start = resume;
		if (p->low > resume) {
			/* incremental dump: what retention deleted since the last
			 * dump is gone for good */
			p->lost_from = resume;
			p->lost_end = p->low;
			t->res->lost_records += (uint64_t)(p->low - resume);
			d->res->data_lost = 1;
			warn(d,
			     "%s [%d]: offsets %" PRId64 "..%" PRId64 " (%" PRId64
			     " records) were deleted by retention before this dump read them",
			     t->name, p->partition, resume, p->low - 1, p->low - resume);
		}
	} else {
		p->start = p->low;
	}
	if (p->start < p->low)
		p->start = p->low;
	if (p->start > p->high)
		p->start = p->high;
	if (o->to_offset >= 0)
		p->end = o->to_offset;
	else if (o->to_time != INT64_MIN) {
		err = kt_kafka_offset_for_time(d->k, t->name, p->partition, o->to_time, &p->end, diag);
		if (err)
			return err;
	} else
		p->end = o->follow ? INT64_MAX : p->high;
	if (p->end > p->high && !o->follow)
		p->end = p->high;
	if (p->end < p->start)
		p->end = p->start;
	p->done_end = p->start;
	if ((o->from_offset >= 0 || o->from_time != INT64_MIN) && has_resume && p->start > resume)
		warn(d,
		     "%s [%d]: offsets %" PRId64 "..%" PRId64 " between the archive's end and the requested start are "
		     "not archived, and incremental dumps continue after this run: dump them with --from-offset "
		     "%" PRId64 " --to-offset %" PRId64 " while the cluster still has them",
		     t->name, p->partition, resume, p->start - 1, resume, p->start);
	if (o->from_offset >= 0 || o->from_time != INT64_MIN) {
		/* an explicit range may reach into what is archived already:
		 * those records are skipped, never written twice */
		struct covered_ctx c = {p, t->generation};
		err = kt_catalog_each_segment(d->ucat, t->name, covered_cb, &c, diag);
		if (err)
			return err;
	} else if (has_resume && resume > p->start) {
		p->start = resume;
		p->done_end = resume;
	}
	return KT_OK;
}

/* The watermarks of partitions 0..partitions-1 at once (a request per
 * broker, not two round trips per partition: issue #19). */
static enum kt_err topic_ends(struct dump *d, const char *topic, int32_t partitions, int64_t *lows, int64_t *highs,
			      struct kt_diag *diag)
{
	int32_t *ids = calloc((size_t)partitions + 1, sizeof(*ids));
	if (!ids)
		return KT_ERR_NOMEM;
	for (int32_t p = 0; p < partitions; p++)
		ids[p] = p;
	enum kt_err err = kt_kafka_offset_ends_many(d->k, topic, ids, (size_t)partitions, lows, highs, NULL, diag);
	free(ids);
	return err;
}

static enum kt_err plan(struct dump *d, struct kt_diag *diag)
{
	size_t total = 0;
	for (size_t i = 0; i < d->topic_count; i++)
		total += (size_t)d->topics[i].partitions;
	d->parts = calloc(total ? total : 1, sizeof(*d->parts));
	d->part_cap = total ? total : 1;
	d->res->topics = calloc(d->topic_cap, sizeof(*d->res->topics));
	if (!d->parts || !d->res->topics)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < d->topic_count; i++) {
		struct topic_state *t = &d->topics[i];
		t->res = &d->res->topics[d->res->topic_count++];
		t->res->topic = strdup(t->name);
		t->res->partitions = t->partitions;
		int64_t *lows = calloc((size_t)t->partitions + 1, sizeof(*lows));
		int64_t *highs = calloc((size_t)t->partitions + 1, sizeof(*highs));
		enum kt_err err = lows && highs ? KT_OK : KT_ERR_NOMEM;
		if (!err)
			err = topic_ends(d, t->name, t->partitions, lows, highs, diag);
		if (!err)
			err = plan_generation(d, t, lows, highs, diag);
		t->res->generation = t->generation;
		for (int32_t p = 0; !err && p < t->partitions; p++) {
			if (!wanted_partition(d->o, p))
				continue;
			struct part *pp = &d->parts[d->part_count++];
			pp->t = t;
			pp->partition = p;
			pp->low = lows[p];
			pp->high = highs[p];
			err = plan_partition(d, t, pp, diag);
		}
		free(lows);
		free(highs);
		if (err)
			return err;
	}
	for (size_t i = 0; i < d->o->partition_count; i++) {
		int any = 0;
		for (size_t j = 0; j < d->part_count; j++)
			any |= d->parts[j].partition == d->o->partitions[i];
		if (!any)
			return kt_diag_fail(diag, KT_ERR_NOT_FOUND,
					    "partition %d does not exist in the selected topics", d->o->partitions[i]);
	}
	d->res->partitions = (int)d->part_count;
	d->block_bytes = d->o->block_bytes;
	if (!d->block_bytes) {
		size_t per = d->part_count ? PENDING_BUDGET / d->part_count : KT_SEG_DEFAULT_BLOCK_BYTES;
		d->block_bytes = per > KT_SEG_DEFAULT_BLOCK_BYTES ? KT_SEG_DEFAULT_BLOCK_BYTES
				 : per < MIN_BLOCK_BYTES	  ? MIN_BLOCK_BYTES
								  : per;
	}
	return KT_OK;
}

/* ---- metadata: configs and group offsets ---- */

struct config_ctx {
	struct dump *d;
	struct topic_state *t;
	enum kt_err err;
	struct kt_diag *diag;
};

static int config_cb(void *ctx, const struct kt_kafka_config_entry *e)
{
	struct config_ctx *c = ctx;
	if (e->is_default || !strcmp(e->source, "DEFAULT_CONFIG"))
		return 0;
	if (e->is_sensitive) {
		warn(c->d, "topic %s: sensitive config %s is not archived", c->t->name, e->name);
		return 0;
	}
	struct kt_catalog_config cfg = {c->d->run_id, c->t->name, e->name, e->value, e->source};
	c->err = kt_catalog_put_config(c->d->cat, &cfg, c->diag);
	return c->err != KT_OK;
}

static int group_filter(void *ctx, const char *group)
{
	struct dump *d = ctx;
	if (d->o->worker_group && !strcmp(group, d->o->worker_group))
		return 0; /* the workers' own group: its offsets are the archive's */
	return !d->has_groups_re || regexec(&d->groups_re, group, 0, NULL, 0) == 0;
}

struct group_ctx {
	struct dump *d;
	enum kt_err err;
	struct kt_diag *diag;
	char last_group[256];
	int64_t taken_ms; /* the capture's time (group_snapshots) */
	uint64_t sum;	  /* of its rows' hashes, in any order: a capture like the one before is not kept */
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t group_row_hash(const struct kt_catalog_group_offset *g)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = fnv1a(h, g->group_id, strlen(g->group_id) + 1);
	h = fnv1a(h, g->topic, strlen(g->topic) + 1);
	h = fnv1a(h, &g->generation, sizeof(g->generation));
	h = fnv1a(h, &g->partition, sizeof(g->partition));
	h = fnv1a(h, &g->offset, sizeof(g->offset));
	return g->metadata ? fnv1a(h, g->metadata, strlen(g->metadata) + 1) : fnv1a(h, "", 0);
}

static int group_cb(void *ctx, const struct kt_kafka_group_offset *g)
{
	struct group_ctx *c = ctx;
	struct dump *d = c->d;
	/* the newest state of a name: a recreated topic's new generation */
	for (size_t i = d->topic_count; i-- > 0;) {
		if (strcmp(d->topics[i].name, g->topic))
			continue;
		struct kt_catalog_group_offset go = {d->run_id,	   g->group_id, g->topic,   d->topics[i].generation,
						     g->partition, g->offset,	g->metadata};
		if (!c->err) /* the first error stays */
			c->err = kt_catalog_put_group_offset(d->cat, &go, c->diag);
		if (!c->err)
			c->err = kt_catalog_put_group_snapshot(d->cat, c->taken_ms, &go, c->diag);
		c->sum += group_row_hash(&go);
		if (strcmp(c->last_group, g->group_id)) {
			snprintf(c->last_group, sizeof(c->last_group), "%s", g->group_id);
			d->res->groups++;
		}
		return c->err != KT_OK;
	}
	return 0;
}

/* The topic's snapshot: partition count, replication factor, configs.
 * Inside a catalog transaction. */
static enum kt_err capture_topic(struct dump *d, struct topic_state *t, struct kt_diag *diag)
{
	struct kt_catalog_topic ct = {d->run_id, t->name, t->generation, t->partitions, t->replication_factor};
	enum kt_err err = kt_catalog_put_topic(d->cat, &ct, diag);
	struct config_ctx c = {d, t, KT_OK, diag};
	if (!err)
		err = kt_kafka_describe_topic_configs(d->k, t->name, config_cb, &c, diag);
	return err ? err : c.err;
}

static enum kt_err capture_metadata(struct dump *d, struct kt_diag *diag)
{
	enum kt_err err = kt_catalog_begin(d->cat, diag);
	for (size_t i = 0; !err && i < d->topic_count; i++)
		err = capture_topic(d, &d->topics[i], diag);
	if (!err) {
		struct group_ctx g = {d, KT_OK, diag, "", kt_time_now_ms(), 0};
		err = kt_kafka_list_group_offsets(d->k, group_filter, group_cb, &g, diag);
		if (!err)
			err = g.err;
		d->groups_sum = g.sum;
	}
	if (!err)
		err = kt_catalog_commit(d->cat, diag);
	else
		kt_catalog_rollback(d->cat);
	return err;
}

/* ---- consuming ---- */

static struct part *find_part(struct dump *d, const char *topic, int32_t partition)
{
	if (d->last_hit && d->last_hit->partition == partition && !strcmp(d->last_hit->t->name, topic))
		return d->last_hit;
	/* a recreated topic's old generation is retired: the new one gets its
	 * records */
	for (size_t i = 0; i < d->part_count; i++)
		if (d->parts[i].partition == partition && !d->parts[i].retired && !strcmp(d->parts[i].t->name, topic))
			return d->last_hit = &d->parts[i];
	return NULL;
}

static void fill_prun(struct dump *d, const struct part *p, struct kt_catalog_prun *pr)
{
	*pr = (struct kt_catalog_prun){d->run_id,    p->t->name, p->t->generation, p->partition, p->low,
				       p->high,	     p->start,	 p->end,	   p->done_end,	 (int64_t)p->records,
				       p->lost_from, p->lost_end};
}

/* What a committed segment adds to the run's figures. */
static void count_commit(struct dump *d, struct part *p, const struct kt_segment_summary *sum)
{
	d->res->segments++;
	d->res->raw_bytes += sum->raw_bytes;
	d->res->file_bytes += sum->file_bytes;
	p->t->res->file_bytes += sum->file_bytes;
	d->res->last_commit_ms = kt_time_now_ms();
}

static enum kt_err flush_parts(struct dump *d, struct part **ps, size_t n, struct kt_diag *diag);

/* Commits the partition's open segment (or only its progress). */
static enum kt_err flush_part(struct dump *d, struct part *p, struct kt_diag *diag)
{
	struct kt_catalog_prun pr;
	fill_prun(d, p, &pr);
	p->commit_due = 0;
	if (!p->seg) {
		enum kt_err err = kt_catalog_begin(d->cat, diag);
		if (!err)
			err = kt_catalog_put_prun(d->cat, &pr, diag);
		return err ? (kt_catalog_rollback(d->cat), err) : kt_catalog_commit(d->cat, diag);
	}
	struct kt_segment_summary sum;
	struct kt_archive_segment *seg = p->seg;
	p->seg = NULL;
	enum kt_err err = kt_archive_segment_commit(d->a, seg, d->run_id, &pr, &sum, diag);
	if (err) {
		/* the segment's records are not archived (a full disk): progress
		 * recorded later must not claim them, or the next dump skips them */
		p->done_end = p->seg_done_end;
		return err;
	}
	count_commit(d, p, &sum);
	return KT_OK;
}

static enum kt_err finish_part(struct dump *d, struct part *p, struct kt_diag *diag)
{
	if (p->finished)
		return KT_OK;
	p->finished = 1;
	if (p->assigned)
		kt_kafka_unassign_one(d->k, p->t->name, p->partition, NULL);
	if (d->o->follow)
		return flush_part(d, p, diag);
	/* A batch dump's partitions end at about the same time, and their
	 * commits one by one, each with its catalog transaction, were the
	 * tail of a dump of many partitions (issue #19): they are committed
	 * together when the last one ends, or at the next commit interval. Its
	 * last block is compressed and written now, by the thread that has the
	 * records, and its memory freed: only the fsync, the rename and the
	 * catalog wait (300 partitions held 60 MB more at their end without). */
	p->commit_due = 1;
	return p->seg ? kt_archive_segment_seal(p->seg, diag) : KT_OK;
}

static enum kt_err on_record(struct dump *d, struct part *p, const struct kt_kafka_msg *m, struct kt_diag *diag)
{
	const struct kt_record *rec = &m->rec;
	if (rec->offset >= p->end)
		return finish_part(d, p, diag);
	if (rec->offset < p->done_end)
		return KT_OK; /* a refetch after a retry: already have it */
	if (p->covered_n && is_covered(p, rec->offset)) {
		/* already archived: never written twice. A segment open now
		 * ends here, so that no segment spans an older one and every
		 * partition reads back in offset order. */
		p->done_end = rec->offset + 1;
		return p->seg ? flush_part(d, p, diag) : KT_OK;
	}
	if (!p->seg) {
		/* no --zstd-level: the codec chooses (KT_SEG_ZSTD_AUTO) */
		struct kt_segment_writer_opts wo = {.zstd_level =
							    d->o->zstd_level ? d->o->zstd_level : KT_SEG_ZSTD_AUTO,
						    .block_bytes = d->block_bytes,
						    .codec = d->codec,
						    .key = d->o->key};
		enum kt_err err =
			kt_archive_segment_begin(d->a, p->t->name, p->t->generation, p->partition, &wo, &p->seg, diag);
		if (err)
			return err;
		p->seg_done_end = p->done_end;
	}
	enum kt_err err = kt_archive_segment_add(p->seg, rec, diag);
	if (err)
		return err;
	/* progress moves only once the record is in a segment */
	p->done_end = rec->offset + 1;
	p->records++;
	p->t->res->records++;
	p->t->res->payload_bytes += m->size;
	d->res->records++;
	d->res->payload_bytes += m->size;
	uint64_t limit = d->o->segment_bytes ? d->o->segment_bytes : DEFAULT_SEGMENT_BYTES;
	if (kt_archive_segment_raw_bytes(p->seg) >= limit)
		err = flush_part(d, p, diag);
	if (!err && p->done_end >= p->end)
		err = finish_part(d, p, diag);
	return err;
}

/* Retention deleted the next offset while this run was reading (or between
 * planning and fetching): record what was lost and go on from the new log
 * start. */
static enum kt_err on_offset_gone(struct dump *d, struct part *p, struct kt_diag *diag)
{
	int64_t low, high;
	enum kt_err err = kt_kafka_watermarks(d->k, p->t->name, p->partition, &low, &high, diag);
	if (err)
		return err;
	if (low > p->done_end) {
		if (p->lost_from < 0)
			p->lost_from = p->done_end;
		p->lost_end = low;
		p->t->res->lost_records += (uint64_t)(low - p->done_end);
		d->res->data_lost = 1;
		warn(d, "%s [%d]: offsets %" PRId64 "..%" PRId64 " were deleted by retention while this dump read them",
		     p->t->name, p->partition, p->done_end, low - 1);
		p->done_end = low;
	}
	if (p->done_end >= p->end)
		return finish_part(d, p, diag);
	return kt_kafka_reassign_one(d->k, p->t->name, p->partition, p->done_end, diag);
}

static void report_progress(struct dump *d, int done)
{
	if (!d->o->on_progress)
		return;
	struct kt_dump_progress pr = {d->res->records,
				      d->res->payload_bytes,
				      0,
				      done,
				      (int)d->part_count,
				      (double)(kt_time_mono_ns() - d->t0) / 1e9};
	for (size_t i = 0; i < d->part_count; i++) {
		const struct part *p = &d->parts[i];
		/* following: what is there now */
		pr.expected_records += (uint64_t)((p->end == INT64_MAX ? p->high : p->end) - p->start);
	}
	d->o->on_progress(d->o->cb_ctx, &pr);
}

/* Every --commit-interval the open segments are closed and committed, with
 * their partitions' progress: a killed run loses at most that much work
 * instead of everything since its segments opened. */
static enum kt_err commit_open_segments(struct dump *d, struct kt_diag *diag)
{
	struct part **ps = calloc(d->part_count + 1, sizeof(*ps));
	if (!ps)
		return KT_ERR_NOMEM;
	size_t n = 0;
	for (size_t i = 0; i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		if ((!p->finished && p->seg) || p->commit_due)
			ps[n++] = p;
	}
	enum kt_err err = flush_parts(d, ps, n, diag);
	free(ps);
	return err;
}

static int partition_local(enum kt_err err);
static void fail_part(struct dump *d, struct part *p, enum kt_err err, const struct kt_diag *diag);

/* flush_part of n parts at once: their segments and every one's progress
 * in one catalog transaction (kt_archive_segment_commit_many). A part
 * whose own file failed with a partition-local error is given up on, the
 * others are committed; any other failure is returned. */
static enum kt_err flush_parts(struct dump *d, struct part **ps, size_t n, struct kt_diag *diag)
{
	if (!n)
		return KT_OK;
	struct kt_archive_segment **segs = calloc(n, sizeof(*segs));
	struct kt_catalog_prun *prs = calloc(n, sizeof(*prs));
	struct kt_segment_summary *sums = calloc(n, sizeof(*sums));
	enum kt_err *errs = calloc(n, sizeof(*errs));
	struct kt_diag *diags = calloc(n, sizeof(*diags));
	enum kt_err err = segs && prs && sums && errs && diags ? KT_OK : KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		ps[i]->commit_due = 0;
		fill_prun(d, ps[i], &prs[i]);
		segs[i] = ps[i]->seg;
		ps[i]->seg = NULL;
	}
	if (!err)
		kt_archive_segment_commit_many(d->a, segs, prs, n, d->run_id, sums, errs, diags);
	for (size_t i = 0; !err && i < n; i++) {
		struct part *p = ps[i];
		if (errs[i] == KT_OK) {
			if (segs[i]) /* freed, but it was there */
				count_commit(d, p, &sums[i]);
			continue;
		}
		/* as flush_part: progress falls back to before the lost segment */
		if (segs[i])
			p->done_end = p->seg_done_end;
		if (partition_local(errs[i]) && !p->failed)
			fail_part(d, p, errs[i], &diags[i]);
	}
	for (size_t i = 0; !err && i < n; i++)
		if (errs[i] && !(partition_local(errs[i]) && ps[i]->failed)) {
			err = errs[i];
			if (diag)
				*diag = diags[i];
		}
	free(segs);
	free(prs);
	free(sums);
	free(errs);
	free(diags);
	return err;
}

/* The partitions' positions for the result (the metrics): what is
 * archived, and the readable end as the fetcher last heard of it (every
 * fetch response carries it, so this asks the cluster nothing), or as
 * compute_lag read it, or the high watermark at the start. */
static void snapshot_parts(struct dump *d, int following)
{
	struct kt_dump_partition_result *np = realloc(d->res->parts, (d->part_count + 1) * sizeof(*np));
	if (!np)
		return;
	d->res->parts = np;
	d->res->part_count = 0;
	int64_t lag = 0;
	for (size_t i = 0; i < d->part_count; i++) {
		const struct part *p = &d->parts[i];
		if (d->grp && !p->assigned)
			continue; /* another worker's (--worker-group): its metrics say so */
		int64_t end = p->assigned && !p->finished ? kt_kafka_cached_end(d->k, p->t->name, p->partition) : -1;
		if (end < p->seen_end)
			end = p->seen_end;
		if (end < p->high)
			end = p->high;
		if (end < p->done_end)
			end = p->done_end;
		np[d->res->part_count++] = (struct kt_dump_partition_result){(size_t)(p->t->res - d->res->topics),
									     p->partition, p->done_end, end};
		lag += end - p->done_end;
	}
	/* a follower's lag is the partitions' (compute_lag sets the end's) */
	if (following)
		d->res->lag = lag;
	d->res->kafka_errors = kt_kafka_error_count(d->k);
	d->res->failed_partitions = d->failed_parts;
}

/* --metadata-interval, --groups-interval: 0 for the default */
static int64_t follow_interval_ns(int64_t ms)
{
	return (ms > 0 ? ms : KT_DUMP_FOLLOW_META_INTERVAL_MS) * 1000000;
}

/* Following: after each commit, the partitions' small segments are merged
 * as the policy of kt_archive_compact.h says, so that a follower's files
 * and catalog rows follow its data, not its commits. A window that cannot
 * be merged (a damaged file) stays as it is, with a warning. */
static enum kt_err compact_parts(struct dump *d, struct kt_diag *diag)
{
	if (!d->compactor)
		return KT_OK;
	kt_archive_compact_begin_pass(d->compactor);
	int64_t now = kt_time_now_ms();
	enum kt_err err = KT_OK;
	for (size_t i = 0; !err && i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		uint64_t skipped = kt_archive_compact_stats(d->compactor)->skipped;
		struct kt_diag d2;
		kt_diag_clear(&d2);
		err = kt_archive_compact_partition(d->compactor, p->t->name, p->t->generation, p->partition, now, &d2);
		if (err)
			*diag = d2;
		else if (kt_archive_compact_stats(d->compactor)->skipped > skipped)
			warn(d, "%s [%d]: segments not merged: %s", p->t->name, p->partition, d2.msg);
	}
	const struct kt_archive_compact_stats *st = kt_archive_compact_stats(d->compactor);
	d->res->compactions = st->merges;
	d->res->compacted_segments = st->parts;
	return err;
}

static int64_t commit_interval_ns(const struct kt_dump_opts *o)
{
	if (o->commit_interval_ms < 0)
		return INT64_MAX;
	int64_t dflt = o->follow ? KT_DUMP_FOLLOW_COMMIT_INTERVAL_MS : KT_DUMP_DEFAULT_COMMIT_INTERVAL_MS;
	return (o->commit_interval_ms ? o->commit_interval_ms : dflt) * 1000000;
}

/* An error that concerns one partition's files (a directory that cannot
 * be made, a rename that fails, a record too large for a block) stops that
 * partition only; the cluster, the catalog, memory, a full disk, a signal
 * concern every partition and stop the run. */
static int partition_local(enum kt_err err)
{
	return err == KT_ERR_IO || err == KT_ERR_LIMIT || err == KT_ERR_EXISTS;
}

/* Gives up on p after err: what it committed stays, its progress stays at
 * what was committed, and the run goes on with the other partitions. */
static void fail_part(struct dump *d, struct part *p, enum kt_err err, const struct kt_diag *diag)
{
	if (!d->failed_parts++) {
		d->part_err = err;
		d->part_diag = *diag;
	}
	warn(d, "%s [%d]: %s; this partition stops here, the others go on", p->t->name, p->partition,
	     diag->msg[0] ? diag->msg : kt_err_str(err));
	if (p->seg) {
		/* the open segment's records are not archived: progress goes
		 * back to where it began (a failed commit did so already) */
		kt_archive_segment_abort(p->seg);
		p->seg = NULL;
		p->done_end = p->seg_done_end;
	}
	p->failed = 1;
	p->finished = 1;
	if (p->assigned)
		kt_kafka_unassign_one(d->k, p->t->name, p->partition, NULL);
	struct kt_diag ignore;
	kt_diag_clear(&ignore);
	flush_part(d, p, &ignore); /* its progress up to what was committed */
}

/* Following: the consumer groups' offsets now, archived as a snapshot with
 * its time (group_snapshots: restore --at and groups --at pick the newest
 * at or before their time); the run's group_offsets rows become this
 * capture, the latest. A capture that fails is warned about and tried
 * again at the next interval: the follower goes on. */
static void snapshot_groups(struct dump *d)
{
	struct kt_diag diag;
	kt_diag_clear(&diag);
	int groups_before = d->res->groups;
	d->res->groups = 0;
	enum kt_err err = KT_OK;
	/* a client of its own: on d->k's connection each of the two requests
	 * per group (coordinator, offsets) waited behind a fetch's
	 * fetch.wait.max.ms, so that a cluster's 125 groups held the follower
	 * 25 s every interval, its commits and metadata looks with it */
	if (!d->kg) {
		int64_t tmo = d->o->timeout_ms > 0 ? d->o->timeout_ms : 60000;
		struct kt_kafka_opts ko = {d->o->bootstrap, KT_KAFKA_PRODUCER, 0, 0, tmo, "ktape-dump-groups"};
		err = kt_kafka_open(d->o->conf, &ko, &d->kg, &diag);
	}
	if (!err)
		err = kt_catalog_begin(d->cat, &diag);
	if (!err)
		err = kt_catalog_drop_group_offsets(d->cat, d->run_id, &diag);
	if (!err) {
		struct group_ctx g = {d, KT_OK, &diag, "", kt_time_now_ms(), 0};
		err = kt_kafka_list_group_offsets(d->kg, group_filter, group_cb, &g, &diag);
		if (!err)
			err = g.err;
		/* the same offsets as the capture before: "the newest capture at
		 * or before T" gives them already, and idle groups would add a
		 * capture of every partition every interval */
		int same = !err && g.sum == d->groups_sum;
		if (!err && !same)
			err = kt_catalog_commit(d->cat, &diag);
		else
			kt_catalog_rollback(d->cat);
		if (!err)
			d->groups_sum = g.sum;
		if (same)
			d->res->groups = groups_before;
	}
	if (err) {
		d->res->groups = groups_before;
		warn(d, "consumer group offsets not archived this time (the next --groups-interval tries again): %s",
		     diag.msg[0] ? diag.msg : kt_err_str(err));
	}
}

/* ---- following: topics and partitions that appear, go or are recreated ----
 * A follower reads the cluster's metadata again every --metadata-interval
 * (and when a partition reports an error or lost offsets): new partitions
 * of its topics, and new topics its selection picks, are planned as a dump
 * would plan them (from the log start, or where the archive ends) and added
 * to the assignment, the others undisturbed; a topic that is gone is
 * finished; a topic recreated gets a new generation, as a batch dump gives
 * it. All of it on the main thread with the worker idle. */

static int count_open(const struct dump *d)
{
	int open = 0;
	for (size_t i = 0; i < d->part_count; i++)
		open += d->parts[i].assigned && !d->parts[i].finished;
	return open;
}

/* Room for one more topic. d->topics[i] and d->res->topics[i] go together
 * (plan makes them so); parts point into d->topics, topics into
 * d->res->topics: both are moved and the pointers set again. */
static enum kt_err grow_topics(struct dump *d)
{
	if (d->topic_count < d->topic_cap && d->res->topic_count < d->topic_cap)
		return KT_OK;
	size_t cap = d->topic_cap * 2 + 4;
	struct topic_state *nt = calloc(cap, sizeof(*nt));
	struct kt_dump_topic_result *nr = calloc(cap, sizeof(*nr));
	if (!nt || !nr) {
		free(nt);
		free(nr);
		return KT_ERR_NOMEM;
	}
	memcpy(nt, d->topics, d->topic_count * sizeof(*nt));
	memcpy(nr, d->res->topics, d->res->topic_count * sizeof(*nr));
	for (size_t i = 0; i < d->part_count; i++)
		d->parts[i].t = nt + (d->parts[i].t - d->topics);
	for (size_t i = 0; i < d->topic_count; i++)
		nt[i].res = nr + (d->topics[i].res - d->res->topics);
	free(d->topics);
	free(d->res->topics);
	d->topics = nt;
	d->res->topics = nr;
	d->topic_cap = cap;
	return KT_OK;
}

/* A new part, zeroed; d->parts may move (find_part's cache is dropped). */
static struct part *new_part(struct dump *d)
{
	if (d->part_count == d->part_cap) {
		size_t cap = d->part_cap * 2 + 4;
		struct part *np = realloc(d->parts, cap * sizeof(*np));
		if (!np)
			return NULL;
		d->parts = np;
		d->part_cap = cap;
	}
	d->last_hit = NULL;
	struct part *p = &d->parts[d->part_count++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* Plans a partition found while following: from where the archive ends,
 * or the log start (a new partition, a new topic): --from-offset and
 * --from-time chose the start of the run's first partitions only. */
static enum kt_err plan_found_partition(struct dump *d, struct topic_state *t, struct part *p, struct kt_diag *diag)
{
	struct kt_dump_opts o = *d->o;
	o.from_offset = -1;
	o.from_time = INT64_MIN;
	const struct kt_dump_opts *saved = d->o;
	d->o = &o;
	enum kt_err err = plan_partition(d, t, p, diag);
	d->o = saved;
	return err;
}

/* Finishes the topic's partitions for good (deleted, or recreated): what
 * they archived is committed, their progress recorded. */
static enum kt_err retire_topic(struct dump *d, struct topic_state *t, struct kt_diag *diag)
{
	enum kt_err err = KT_OK;
	t->gone = 1;
	d->grp_resubscribe = d->grp != NULL;
	kt_kafka_topic_gone(d->k);
	for (size_t i = 0; i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		if (p->t != t)
			continue;
		p->retired = 1;
		if (p->finished)
			continue;
		enum kt_err e = finish_part(d, p, diag);
		if (e && partition_local(e) && !p->failed) {
			fail_part(d, p, e, diag);
			kt_diag_clear(diag);
			e = KT_OK;
		}
		if (!err)
			err = e;
	}
	d->last_hit = NULL;
	return err;
}

/* Adds partitions [from, t->partitions) of t to the run and the assignment,
 * and the topic's snapshot with its partition count. */
static enum kt_err add_partitions(struct dump *d, struct topic_state *t, int32_t from, const int64_t *lows,
				  const int64_t *highs, struct kt_diag *diag)
{
	size_t first = d->part_count;
	enum kt_err err = kt_catalog_begin(d->cat, diag);
	for (int32_t p = from; !err && p < t->partitions; p++) {
		if (!wanted_partition(d->o, p))
			continue;
		struct part *pp = new_part(d);
		if (!pp) {
			err = KT_ERR_NOMEM;
			break;
		}
		pp->t = t;
		pp->partition = p;
		pp->low = lows[p];
		pp->high = highs[p];
		err = plan_found_partition(d, t, pp, diag);
	}
	if (!err)
		err = capture_topic(d, t, diag);
	if (!err)
		err = kt_catalog_commit(d->cat, diag);
	else
		kt_catalog_rollback(d->cat);
	if (err)
		return err;
	if (d->grp) {
		/* the group assigns them (kt_dump_group.c) */
		for (size_t i = first; i < d->part_count; i++)
			d->parts[i].finished = 1;
		d->res->partitions = (int)d->part_count;
		t->res->partitions = t->partitions;
		return KT_OK;
	}
	size_t n = d->part_count - first;
	struct kt_kafka_assignment *as = calloc(n + 1, sizeof(*as));
	if (!as)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		struct part *p = &d->parts[first + i];
		as[i] = (struct kt_kafka_assignment){t->name, p->partition, p->start};
		p->assigned = 1;
	}
	err = kt_kafka_assign_more(d->k, as, n, diag);
	free(as);
	d->res->partitions = (int)d->part_count;
	t->res->partitions = t->partitions;
	return err;
}

static enum kt_err topic_watermarks(struct dump *d, const char *topic, int32_t partitions, int64_t **lows,
				    int64_t **highs, struct kt_diag *diag)
{
	*lows = calloc((size_t)partitions + 1, sizeof(**lows));
	*highs = calloc((size_t)partitions + 1, sizeof(**highs));
	if (!*lows || !*highs)
		return KT_ERR_NOMEM;
	return topic_ends(d, topic, partitions, *lows, *highs, diag);
}

/* A topic the follower did not follow yet: new, or created again after it
 * was found deleted or recreated (recreated: why, and then it is a new
 * generation whatever its offsets say). */
static enum kt_err add_topic(struct dump *d, const struct kt_kafka_topic *kt, const char *recreated,
			     struct kt_diag *diag)
{
	enum kt_err err = grow_topics(d);
	if (err)
		return err;
	struct topic_state *t = &d->topics[d->topic_count];
	memset(t, 0, sizeof(*t));
	t->name = strdup(kt->name);
	t->partitions = kt->partitions;
	t->replication_factor = kt->replication_factor;
	t->res = &d->res->topics[d->res->topic_count];
	memset(t->res, 0, sizeof(*t->res));
	t->res->topic = strdup(kt->name);
	if (!t->name || !t->res->topic) {
		free(t->name);
		free(t->res->topic);
		return KT_ERR_NOMEM;
	}
	d->topic_count++;
	d->res->topic_count++;
	d->grp_resubscribe = d->grp != NULL;
	int64_t *lows = NULL, *highs = NULL;
	err = topic_watermarks(d, t->name, t->partitions, &lows, &highs, diag);
	if (!err)
		err = kt_catalog_begin(d->cat, diag);
	if (!err) {
		if (recreated) {
			uint32_t gen = 0;
			int found = 0;
			err = kt_catalog_current_generation(d->cat, t->name, &gen, &found, diag);
			t->generation = found ? gen + 1 : 0;
			if (!err)
				err = kt_catalog_add_generation(d->cat, t->name, t->generation, d->run_id, recreated,
								diag);
			if (!err)
				warn(d,
				     "topic %s was deleted and recreated while following (%s): archiving it as "
				     "generation %u, apart from the old records",
				     t->name, recreated, t->generation);
		} else {
			err = plan_generation(d, t, lows, highs, diag);
		}
		if (!err)
			err = kt_catalog_commit(d->cat, diag);
		else
			kt_catalog_rollback(d->cat);
	}
	t->res->generation = t->generation;
	if (!err)
		err = add_partitions(d, t, 0, lows, highs, diag);
	free(lows);
	free(highs);
	return err;
}

/* Why t's partitions say it was recreated (NULL: they do not). */
static const char *recreated_reason(struct dump *d, struct topic_state *t, int32_t partitions, char *buf, size_t size)
{
	if (partitions < t->partitions) {
		snprintf(buf, size, "it had %d partitions and now has %d", t->partitions, partitions);
		return buf;
	}
	int64_t *lows = NULL, *highs = NULL;
	const char *why = NULL;
	/* a cluster that does not answer now is asked again at the next look */
	if (topic_watermarks(d, t->name, t->partitions, &lows, &highs, NULL) != KT_OK)
		t = NULL;
	for (size_t i = 0; t && !why && i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		if (p->t != t || p->finished || p->partition >= t->partitions)
			continue;
		int64_t low = lows[p->partition], high = highs[p->partition];
		if (high < p->done_end) {
			snprintf(buf, size,
				 "partition %d was archived up to offset %" PRId64 " but now ends at %" PRId64,
				 p->partition, p->done_end, high);
			why = buf;
		} else if (low < p->low) {
			snprintf(buf, size, "partition %d started at offset %" PRId64 " but now starts at %" PRId64,
				 p->partition, p->low, low);
			why = buf;
		}
	}
	free(lows);
	free(highs);
	return why;
}

/* The newest state of the topic of that name (NULL: never followed). */
static struct topic_state *topic_named(struct dump *d, const char *name)
{
	for (size_t i = d->topic_count; i-- > 0;)
		if (!strcmp(d->topics[i].name, name))
			return &d->topics[i];
	return NULL;
}

/* One look at the cluster's metadata. A cluster that does not answer is
 * no reason to stop following: the next look asks again (a cluster that
 * is gone fails the consumer anyway). */
static enum kt_err refresh_topics(struct dump *d, struct kt_diag *diag)
{
	struct kt_kafka_topic *all;
	size_t n;
	struct kt_diag kd;
	kt_diag_clear(&kd);
	if (kt_kafka_list_topics(d->k, &all, &n, &kd) != KT_OK)
		return KT_OK;
	enum kt_err err = KT_OK;
	/* the topics followed: gone, recreated, or with more partitions */
	size_t followed = d->topic_count;
	for (size_t i = 0; !err && i < followed; i++) {
		struct topic_state *t = &d->topics[i];
		if (t->gone)
			continue;
		const struct kt_kafka_topic *kt = NULL;
		for (size_t j = 0; j < n && !kt; j++)
			if (!strcmp(all[j].name, t->name))
				kt = &all[j];
		if (!kt) {
			warn(d,
			     "topic %s was deleted while following: its %d partition(s) are archived up to where they "
			     "ended; a topic created again with its name is archived as a new generation",
			     t->name, t->partitions);
			err = retire_topic(d, t, diag);
			continue;
		}
		char why[256];
		const char *reason = recreated_reason(d, t, kt->partitions, why, sizeof(why));
		if (reason) {
			err = retire_topic(d, t, diag);
			if (!err)
				err = add_topic(d, kt, reason, diag); /* d->topics may move: t is not used after */
			continue;
		}
		if (kt->partitions > t->partitions) {
			int32_t from = t->partitions;
			t->partitions = kt->partitions;
			int64_t *lows = NULL, *highs = NULL;
			err = topic_watermarks(d, t->name, t->partitions, &lows, &highs, diag);
			if (!err)
				err = add_partitions(d, t, from, lows, highs, diag);
			free(lows);
			free(highs);
		}
	}
	/* topics the selection picks that are not followed (yet, or again) */
	for (size_t j = 0; !err && j < n; j++) {
		struct topic_state *t = topic_named(d, all[j].name);
		if (t && !t->gone)
			continue;
		if (!topic_wanted(d, all[j].name, all[j].internal))
			continue;
		err = add_topic(d, &all[j], t ? "it was deleted while following and created again" : NULL, diag);
	}
	kt_kafka_topics_free(all, n);
	return err;
}

/* ---- the archiving thread ----
 * The main thread polls librdkafka and hands each run of records to one
 * worker thread, which encodes, compresses and commits them while the next
 * batch is fetched: neither waits for the other (2 cores: librdkafka's
 * broker thread decompresses and parses, the worker compresses). The main
 * thread touches the archive, the catalog, the parts and the result only
 * while the worker is idle (ends, lost offsets, commits, progress). */

#define BATCH_MAX 2048

struct worker {
	struct dump *d;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy; /* a job is posted and not done */
	int quit;
	/* the job: records [from, to) of batch */
	struct kt_kafka_batch *batch;
	size_t from, to;
	/* its outcome, read once it is done */
	enum kt_err err;
	struct kt_diag diag;
	int finished; /* partitions it finished */
};

/* One record of the job. A partition-local failure stops that partition
 * only, as everywhere. */
static enum kt_err work_one(struct worker *w, size_t i)
{
	struct dump *d = w->d;
	struct kt_kafka_msg m;
	enum kt_err err = kt_kafka_batch_msg(w->batch, i, &m, &w->diag);
	if (err)
		return err;
	struct part *p = find_part(d, m.topic, m.partition);
	if (!p || p->finished)
		return KT_OK;
	err = on_record(d, p, &m, &w->diag);
	if (err && partition_local(err) && !p->failed) {
		fail_part(d, p, err, &w->diag);
		kt_diag_clear(&w->diag);
		err = KT_OK;
	}
	if (p->finished)
		w->finished++;
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->busy && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->busy)
			break;
		pthread_mutex_unlock(&w->mu);
		enum kt_err err = KT_OK;
		for (size_t i = w->from; !err && i < w->to; i++)
			err = work_one(w, i);
		pthread_mutex_lock(&w->mu);
		w->err = err;
		w->busy = 0;
		int wake = err || w->finished;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		/* the main thread may wait for records that will never come:
		 * the last partitions are done, or the run failed */
		if (wake)
			kt_kafka_wake(w->d->k);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Waits until the worker is idle and takes its outcome: the first error
 * into diag, the partitions it finished off *open. */
static enum kt_err worker_wait(struct worker *w, int *open, struct kt_diag *diag)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	enum kt_err err = w->err;
	w->err = KT_OK;
	*open -= w->finished;
	w->finished = 0;
	if (err)
		*diag = w->diag;
	pthread_mutex_unlock(&w->mu);
	return err;
}

/* The worker must be idle (worker_wait). */
static void worker_post(struct worker *w, struct kt_kafka_batch *b, size_t from, size_t to)
{
	pthread_mutex_lock(&w->mu);
	w->batch = b;
	w->from = from;
	w->to = to;
	kt_diag_clear(&w->diag);
	w->busy = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static enum kt_err worker_start(struct worker *w, struct dump *d)
{
	memset(w, 0, sizeof(*w));
	w->d = d;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w)) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		return KT_ERR_NOMEM;
	}
	return KT_OK;
}

static void worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

/* An end of partition, a lost offset or an error, on the main thread with
 * the worker idle. */
static enum kt_err on_event(struct dump *d, struct kt_kafka_batch *b, size_t i, int *open, struct kt_diag *diag)
{
	struct kt_kafka_msg m;
	enum kt_err err = kt_kafka_batch_msg(b, i, &m, diag);
	struct part *p = find_part(d, m.topic, m.partition);
	if (d->o->follow && p && !p->finished && (err == KT_ERR_KAFKA || m.event == KT_KAFKA_OFFSET_GONE)) {
		/* a follower's topic may have been deleted or recreated: a look
		 * at the metadata finishes its partitions (then the error was
		 * that), or plans the new generation (the offsets lost were the
		 * old topic's) */
		size_t pi = (size_t)(p - d->parts);
		struct kt_diag rd;
		kt_diag_clear(&rd);
		enum kt_err rerr = refresh_topics(d, &rd);
		*open = count_open(d);
		if (rerr) {
			*diag = rd;
			return rerr;
		}
		p = &d->parts[pi];
		if (p->finished) {
			kt_diag_clear(diag);
			return KT_OK;
		}
	}
	if (err == KT_ERR_KAFKA && p && !p->finished) {
		/* an error of one partition (its topic's Read denied, the topic
		 * deleted): that partition stops, the others are dumped; errors
		 * of the whole cluster come without a partition */
		kt_kafka_topic_gone(d->k); /* it may be deleted: closing may hang */
		fail_part(d, p, err, diag);
		kt_diag_clear(diag);
		(*open)--;
		return KT_OK;
	}
	if (err)
		return err;
	if (!p || p->finished)
		return KT_OK;
	if (m.event == KT_KAFKA_OFFSET_GONE) {
		err = on_offset_gone(d, p, diag);
	} else {
		/* The end of what this consumer may read. In read_committed
		 * mode an open transaction can hold it below the target end:
		 * the next dump continues from here. Markers and aborted
		 * records at the end are skipped, so the position may pass
		 * the last record. */
		/* The end as the event says, not the consumer's position: a
		 * batch polled at once may hold the partition's next records
		 * after its end event, and the position is past them already
		 * (a follower skipped them as archived). */
		int64_t pos = m.rec.offset >= 0 ? m.rec.offset : kt_kafka_position(d->k, p->t->name, p->partition);
		if (pos > p->done_end)
			p->done_end = pos < p->end ? pos : p->end;
		if (d->o->follow && p->end == INT64_MAX) {
			/* caught up: the partition goes on when more arrives */
			if (pos > p->high)
				p->high = pos;
			return KT_OK;
		}
		if (pos >= 0 && pos < p->end)
			warn(d,
			     "%s [%d]: stopped at offset %" PRId64 " before the target end %" PRId64
			     " (an open transaction holds the readable end back)",
			     p->t->name, p->partition, pos, p->end);
		err = finish_part(d, p, diag);
	}
	if (err && partition_local(err) && !p->failed) {
		fail_part(d, p, err, diag);
		kt_diag_clear(diag);
		err = KT_OK;
	}
	if (p->finished)
		(*open)--;
	return err;
}

/* Hands the batch's runs of records to the worker and serves its other
 * messages in order between them. Returns with the worker busy on the
 * batch's last run, if any. */
static enum kt_err dispatch(struct dump *d, struct worker *w, struct kt_kafka_batch *b, size_t n, int *open,
			    struct kt_diag *diag)
{
	enum kt_err err = KT_OK;
	size_t i = 0;
	while (!err && i < n) {
		size_t j = i;
		while (j < n && kt_kafka_batch_is_record(b, j))
			j++;
		err = worker_wait(w, open, diag);
		if (!err && j > i)
			worker_post(w, b, i, j);
		if (!err && j < n) {
			err = worker_wait(w, open, diag);
			if (!err)
				err = on_event(d, b, j++, open, diag);
		}
		i = j;
	}
	return err;
}

static enum kt_err assign_parts(struct dump *d, int *open, struct kt_diag *diag)
{
	struct kt_kafka_assignment *as = calloc(d->part_count + 1, sizeof(*as));
	if (!as)
		return KT_ERR_NOMEM;
	size_t n = 0;
	enum kt_err err = KT_OK;
	for (size_t i = 0; !err && i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		if (p->start >= p->end) {
			p->finished = 1;
			err = flush_part(d, p, diag);
			continue;
		}
		as[n++] = (struct kt_kafka_assignment){p->t->name, p->partition, p->start};
		p->assigned = 1;
		(*open)++;
	}
	if (!err && n)
		err = kt_kafka_assign(d->k, as, n, diag);
	free(as);
	return err;
}

/* One librdkafka client fetches and decompresses everything on one broker
 * thread, and in librdkafka 2.0.2 that thread asks for the next response
 * only once it has inflated the last one, so the broker and it wait for
 * each other; a second client, with its own broker thread, overlaps the
 * two and puts the other core to work where inflating is the limit, that
 * is where the bytes cost more than the records. Issue #19, gzip'd topics,
 * medians of 3-4 alternating rounds, one client against two (and two bare
 * librdkafka clients that only count; * measured before, on a quieter
 * machine):
 *   1M users' events, 334 bytes, 3 partitions   2.35 s  1.96 s  (2.02 s)
 *   the same, 48 partitions                      2.01 s  1.95 s  (1.65 s)
 *   100k records of 10251 bytes*                 5.43 s  4.59 s  (3.98 s)
 *   1M events cut to 267 bytes*                  1.33 s  1.38 s
 *   1M events cut to 211 bytes*                  1.20 s  1.36 s
 *   5M records of 61 bytes*                      2.23 s  2.63 s
 * Smaller records' own costs (librdkafka's op, the main thread's and the
 * worker's work per record) decide, and a second client adds its own. Its
 * queue also holds some 400 bytes per record besides the record: the peak
 * RSS went from 61 to 252 MiB at 211 bytes and from 234 to 649 MiB at 61
 * bytes, against 50-65 to 115-157 MiB at 334 bytes. Two clients used to
 * lose at 48 partitions, whose queues fill, until kt_kick woke librdkafka
 * after they drained (4 of 8 rounds had taken 2.7-3.1 s). So the dump
 * starts with one client and, once SPREAD_PROBE_BYTES or
 * SPREAD_PROBE_RECORDS are archived, spreads the unfinished partitions
 * over FETCHERS clients if the records average SPREAD_MIN_RECORD_BYTES or
 * more, however many partitions there are. */
#define FETCHERS		2
#define SPREAD_PROBE_BYTES	(8u << 20)
#define SPREAD_PROBE_RECORDS	16384
#define SPREAD_MIN_RECORD_BYTES 300
/* Many partitions also keep one client's broker thread the limit: 300
 * partitions of 334-byte records took 1.95-2.89 s with one client and
 * 1.86-1.99 s with two (bare librdkafka x2: 1.79-2.10 s), at 115-143 MiB.
 * Records of SPREAD_MANY_MIN_BYTES or more only: the second queue holds
 * some 400 bytes per record besides it (50-byte records, see above). */
#define SPREAD_MANY_PARTITIONS 128
#define SPREAD_MANY_MIN_BYTES  256
/* Partitions come whole, so the clients' loads differ (3 partitions: 2 and
 * 1), and the one with less finishes first and idles while the other still
 * has two: when few partitions are left, each one that finishes balances
 * them again by the records left (kt_kafka_respread moves one only for a
 * clear gain). */
#define REBALANCE_OPEN (4 * FETCHERS)
/* Up to this many partitions get a client each instead: balancing whole
 * partitions cannot even out 2 and 1, and the lone partition's client
 * still idled for the last 0.4 s of a 4.6 s dump. Issue #19, 3 partitions,
 * 3-4 alternating rounds, two clients against three: 100k records of 10251
 * bytes 4.44-4.65 s against 4.29-4.31 (bare librdkafka x2: 3.91-4.21), 1M
 * users' events 1.61-1.72 s against 1.53-1.59 (1.70-1.72), at a peak RSS of
 * 107-135 MiB against 149-177. At 48 partitions a third client lost (1.72 s
 * against 1.63, 211 MiB against 125). */
#define ONE_EACH_MAX 3
/* The first spread balances the work left evenly, where a rebalance moves
 * partitions only for a clear imbalance (one load under half the other):
 * that rule had left the new client a third of 300 partitions, which it
 * finished at 0.8 s of a 2.0 s dump, the first client fetching the rest
 * alone (one core busy) until the last 8 partitions were rebalanced.
 * Issue #19, 1M users' events over 300 partitions, 4 alternating rounds:
 * 1.94-1.97 s against 1.78-1.90 (bare librdkafka x2 1.67-1.83), at a peak
 * RSS of 95-132 MiB against 114-186; at 48 partitions 1.57-1.69 s against
 * 1.52-1.58, at 92-108 MiB against 134-155. */

/* With the worker idle: every record polled is archived, so each
 * partition's done_end is where a new client goes on. */
static enum kt_err spread(struct dump *d, struct kt_diag *diag)
{
	struct kt_kafka_assignment *as = calloc(d->part_count + 1, sizeof(*as));
	int64_t *w = calloc(d->part_count + 1, sizeof(*w));
	size_t n = 0;
	enum kt_err err = as && w ? KT_OK : KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		if (!p->assigned || p->finished)
			continue;
		w[n] = p->end - p->done_end;
		as[n++] = (struct kt_kafka_assignment){p->t->name, p->partition, p->done_end};
	}
	if (!err && n > 1) {
		/* a rebalance keeps the clients the first spread made */
		int first = d->res->fetchers <= 1;
		int fetchers = !first ? d->res->fetchers : n <= ONE_EACH_MAX ? (int)n : FETCHERS;
		kt_kafka_set_fetchers(d->k, fetchers);
		err = kt_kafka_respread(d->k, as, w, n, first, diag);
		d->res->fetchers = fetchers;
	}
	free(as);
	free(w);
	return err;
}

static enum kt_err maybe_spread(struct dump *d, struct kt_diag *diag)
{
	if (d->res->payload_bytes < SPREAD_PROBE_BYTES && d->res->records < SPREAD_PROBE_RECORDS)
		return KT_OK;
	d->spread_decided = 1;
	uint64_t avg = d->res->payload_bytes / d->res->records;
	if (avg < SPREAD_MIN_RECORD_BYTES && (d->part_count < SPREAD_MANY_PARTITIONS || avg < SPREAD_MANY_MIN_BYTES))
		return KT_OK;
	return spread(d, diag);
}

/* Polls with this timeout: short, so that a stop or a commit interval is
 * served soon; an empty poll while partitions are unfinished is counted
 * (issue #19: a client that stops fetching shows as many of them). */
#define POLL_MS 100
/* How long a follower with nothing to read asks the cluster at a commit
 * whether it answers (kt_kafka_probe): short, so that a stop is served */
#define PROBE_MS 1000

/* ---- --worker-group: the partitions the group assigns (kt_dump_group.h) ---- */

/* how often the member is served: a rebalance waits for it */
#define GROUP_POLL_NS (200 * 1000000ll)

static enum kt_err group_take(void *ctx, const char *topic, int32_t partition, int64_t start, struct kt_diag *diag)
{
	struct dump *d = ctx;
	struct part *p = find_part(d, topic, partition);
	if (!p) {
		/* a partition or topic the follower has not seen yet */
		enum kt_err err = refresh_topics(d, diag);
		if (err)
			return err;
		p = find_part(d, topic, partition);
	}
	if (!p) {
		warn(d, "%s [%d]: assigned by the group, but not in this dump's selection: not archived here", topic,
		     partition);
		return KT_OK;
	}
	int64_t low, high;
	enum kt_err err = kt_kafka_watermarks(d->k, topic, partition, &low, &high, diag);
	if (err)
		return err;
	p->low = low;
	p->high = high;
	p->lost_from = -1;
	p->lost_end = -1;
	if (start < low) {
		p->lost_from = start;
		p->lost_end = low;
		p->t->res->lost_records += (uint64_t)(low - start);
		d->res->data_lost = 1;
		warn(d, "%s [%d]: offsets %" PRId64 "..%" PRId64 " were deleted by retention before they were archived",
		     topic, partition, start, low - 1);
		start = low;
	}
	p->start = p->done_end = p->seg_done_end = start;
	p->end = INT64_MAX;
	p->finished = 0;
	p->failed = 0;
	p->assigned = 1;
	struct kt_kafka_assignment as = {p->t->name, partition, start};
	return kt_kafka_assign_more(d->k, &as, 1, diag);
}

static enum kt_err group_release(void *ctx, const char *topic, int32_t partition, int64_t *out_end,
				 struct kt_diag *diag)
{
	struct dump *d = ctx;
	*out_end = -1;
	struct part *p = find_part(d, topic, partition);
	if (!p || !p->assigned)
		return KT_OK;
	enum kt_err err = KT_OK;
	if (!d->grp_closing) {
		if (!p->finished)
			kt_kafka_unassign_one(d->k, topic, partition, NULL);
		/* its open segment, committed before the group hears of it */
		err = flush_part(d, p, diag);
	}
	p->finished = 1;
	p->assigned = 0;
	if (!err)
		*out_end = p->done_end;
	return err;
}

static int64_t group_archived_end(void *ctx, const char *topic, int32_t partition)
{
	struct part *p = find_part(ctx, topic, partition);
	return p && p->assigned ? p->done_end : -1;
}

static enum kt_err group_publish(void *ctx, struct kt_diag *diag)
{
	struct dump *d = ctx;
	return kt_archive_publish(d->a, diag);
}

static uint32_t group_generation(void *ctx, const char *topic)
{
	struct dump *d = ctx;
	for (size_t i = d->topic_count; i-- > 0;)
		if (!strcmp(d->topics[i].name, topic) && !d->topics[i].gone)
			return d->topics[i].generation;
	return 0;
}

static void group_warn(void *ctx, const char *msg)
{
	warn(ctx, "%s", msg);
}

static const struct kt_dump_group_ops group_ops = {group_take,	  group_release,    group_archived_end,
						   group_publish, group_generation, group_warn};

/* The names of the topics followed now (not gone), borrowed; NULL: no memory. */
static const char **followed_names(struct dump *d, size_t *n)
{
	const char **names = calloc(d->topic_count + 1, sizeof(*names));
	*n = 0;
	for (size_t i = 0; names && i < d->topic_count; i++)
		if (!d->topics[i].gone)
			names[(*n)++] = d->topics[i].name;
	return names;
}

static enum kt_err group_open(struct dump *d, struct kt_diag *diag)
{
	size_t n;
	const char **names = followed_names(d, &n);
	if (!names)
		return KT_ERR_NOMEM;
	enum kt_err err = kt_dump_group_open(d->o, names, n, &group_ops, d, &d->grp, diag);
	free(names);
	return err;
}

/* The member subscribes to exactly the topics followed: a topic created
 * later that the selection (--topic-regex minus --exclude-regex) picks
 * joins the subscription when the follower's metadata look finds it, on
 * every worker, and the group assigns its partitions. The selection is
 * applied here, not by librdkafka's regex subscription, so that the
 * exclusions and the regex dialect are the dump's own. */
static enum kt_err group_resubscribe(struct dump *d, struct kt_diag *diag)
{
	d->grp_resubscribe = 0;
	size_t n;
	const char **names = followed_names(d, &n);
	if (!names)
		return KT_ERR_NOMEM;
	enum kt_err err = kt_dump_group_subscribe(d->grp, names, n, diag);
	free(names);
	return err;
}

/* Nothing is archived until the group assigns it. */
static enum kt_err group_start(struct dump *d)
{
	for (size_t i = 0; i < d->part_count; i++) {
		d->parts[i].finished = 1;
		d->parts[i].assigned = 0;
	}
	return KT_OK;
}

static enum kt_err consume(struct dump *d, struct kt_diag *diag)
{
	int open = 0;
	d->res->fetchers = 1;
	enum kt_err err = d->grp ? group_start(d) : assign_parts(d, &open, diag);
	if (err)
		return err;
	struct kt_kafka_batch *b[2] = {NULL, NULL};
	struct worker w;
	err = kt_kafka_batch_new(BATCH_MAX, &b[0]);
	if (!err)
		err = kt_kafka_batch_new(BATCH_MAX, &b[1]);
	if (!err)
		err = worker_start(&w, d);
	if (err) {
		kt_kafka_batch_free(b[0]);
		kt_kafka_batch_free(b[1]);
		return err;
	}
	int64_t timeout_ns = (d->o->timeout_ms > 0 ? d->o->timeout_ms : 60000) * 1000000;
	int64_t last_activity = kt_time_mono_ns();
	int64_t last_report = 0;
	int64_t last_grp = 0;
	int64_t commit_every = commit_interval_ns(d->o);
	int64_t last_commit = kt_time_mono_ns();
	int64_t meta_every = follow_interval_ns(d->o->metadata_interval_ms);
	int64_t last_meta = kt_time_mono_ns();
	int64_t groups_every = follow_interval_ns(d->o->groups_interval_ms);
	int64_t last_groups = kt_time_mono_ns();
	int cur = 0;
	/* a follower goes on with no partition open when its topics were
	 * deleted (its selection may pick topics created later), not when its
	 * partitions failed */
	while (!err && (open > 0 || (d->o->follow && !d->failed_parts))) {
		if (d->o->stop && *d->o->stop) {
			err = worker_wait(&w, &open, diag);
			/* a follower's stop is its normal end (systemd stops it so):
			 * what is open is committed below, and the run is ok */
			if (!err && !d->o->follow)
				err = kt_diag_fail(diag, KT_ERR_INTERRUPTED, "interrupted");
			break;
		}
		int64_t now = kt_time_mono_ns();
		if (now - last_commit >= commit_every) {
			err = worker_wait(&w, &open, diag);
			if (!err)
				err = commit_open_segments(d, diag);
			last_commit = kt_time_mono_ns();
			if (!err)
				err = compact_parts(d, diag);
			if (!err && d->grp)
				err = kt_dump_group_commit(d->grp, diag);
			if (!err && d->o->follow && d->o->on_commit) {
				d->res->seconds = (double)(last_commit - d->t0) / 1e9;
				/* the metrics' last commit (and /health) moves only
				 * when the follower knows the cluster's state: records
				 * came since the last one, or it answers a probe; a
				 * cluster that stopped answering shows as an old
				 * commit, not as an idle topic */
				if (d->contact || kt_kafka_probe(d->k, PROBE_MS))
					d->res->last_commit_ms = kt_time_now_ms();
				d->contact = 0;
				snapshot_parts(d, 1);
				d->o->on_commit(d->o->cb_ctx, d->res);
			}
			if (err)
				break;
		}
		if (d->o->follow && now - last_meta >= meta_every) {
			err = worker_wait(&w, &open, diag);
			if (!err)
				err = refresh_topics(d, diag);
			open = count_open(d);
			last_meta = kt_time_mono_ns();
			if (err)
				break;
		}
		if (d->o->follow && now - last_groups >= groups_every) {
			err = worker_wait(&w, &open, diag);
			if (err)
				break;
			snapshot_groups(d);
			last_groups = kt_time_mono_ns();
		}
		if (d->grp && now - last_grp >= GROUP_POLL_NS) {
			err = worker_wait(&w, &open, diag);
			if (!err)
				err = kt_dump_group_poll(d->grp, diag);
			/* after the metadata look or an assignment found new topics */
			if (!err && d->grp_resubscribe)
				err = group_resubscribe(d, diag);
			open = count_open(d);
			last_grp = kt_time_mono_ns();
			if (err)
				break;
		}
		if (now - last_report > 500000000) {
			err = worker_wait(&w, &open, diag);
			if (err)
				break;
			last_report = now;
			report_progress(d, (int)d->part_count - open);
		}
		/* the worker may still read the other batch, never this one */
		size_t n;
		int64_t t_poll = kt_time_mono_ns();
		err = kt_kafka_poll_batch(d->k, POLL_MS, b[cur], &n, diag);
		if (err)
			break;
		d->contact |= n > 0;
		if (!n) {
			/* woken by the worker (kt_kafka_wake), or a real wait */
			err = worker_wait(&w, &open, diag);
			if (err || (!open && (!d->o->follow || d->failed_parts)))
				break;
			if (kt_time_mono_ns() - t_poll >= POLL_MS * 900000ll)
				d->res->empty_polls++;
			/* a follower that caught up waits for records: silence is
			 * no failure (a cluster that is gone reports errors) */
			if (!d->o->follow && kt_time_mono_ns() - last_activity > timeout_ns)
				err = kt_diag_fail(
					diag, KT_ERR_TIMEOUT,
					"no data from the cluster for %lld s (--timeout); %d partitions unfinished",
					(long long)(timeout_ns / 1000000000), open);
			continue;
		}
		last_activity = kt_time_mono_ns();
		int open_before = open;
		err = dispatch(d, &w, b[cur], n, &open, diag);
		if (!err && !d->spread_decided) {
			err = worker_wait(&w, &open, diag);
			if (!err && open > 0)
				err = maybe_spread(d, diag);
		} else if (!err && d->res->fetchers > 1 && open < open_before && open > 1 && open <= REBALANCE_OPEN) {
			err = worker_wait(&w, &open, diag);
			if (!err && open > 1)
				err = spread(d, diag);
		}
		cur ^= 1;
		if (!err)
			/* a worker that finished the last partitions ends the loop */
			err = open > 0 ? KT_OK : worker_wait(&w, &open, diag);
	}
	enum kt_err werr = worker_wait(&w, &open, err ? &(struct kt_diag){0} : diag);
	if (!err)
		err = werr;
	/* the partitions that finished since the last commit, at once */
	if (!err)
		err = commit_open_segments(d, diag);
	worker_stop(&w);
	kt_kafka_batch_free(b[0]);
	kt_kafka_batch_free(b[1]);
	report_progress(d, (int)d->part_count - open);
	if (!err && d->failed_parts)
		err = kt_diag_fail(diag, d->part_err, "%d partition(s) failed, the first: %s; the other %d were dumped",
				   d->failed_parts, d->part_diag.msg, (int)d->part_count - d->failed_parts);
	return err;
}

/* Commits whatever is open: after an error or a stop, what was written so
 * far becomes durable and consistent. */
static void salvage(struct dump *d)
{
	for (size_t i = 0; i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		if (p->commit_due || (!p->finished && (p->seg || p->done_end > p->start))) {
			struct kt_diag ignore;
			if (flush_part(d, p, &ignore)) {
				kt_archive_segment_abort(p->seg);
				p->seg = NULL;
			}
		}
	}
}

/* kt_kafka_offset_ends of p for compute_lag: at its first ask, those of
 * all of its topic's parts not asked yet (one request per
 * broker and end, where one partition at a time took 0.4 s for 300 at the
 * end of every dump: issue #19). */
static enum kt_err lag_ends(struct dump *d, struct part *p, int64_t *low, int64_t *stable, int64_t *high)
{
	if (!p->lag_asked) {
		size_t n = 0;
		for (size_t i = 0; i < d->part_count; i++)
			n += d->parts[i].t == p->t && !d->parts[i].lag_asked;
		struct part **ps = calloc(n, sizeof(*ps));
		int32_t *ids = calloc(n, sizeof(*ids));
		int64_t *lo = calloc(n, sizeof(*lo));
		int64_t *st = calloc(n, sizeof(*st));
		int64_t *hi = calloc(n, sizeof(*hi));
		if (ps && ids && lo && st && hi) {
			n = 0;
			for (size_t i = 0; i < d->part_count; i++)
				if (d->parts[i].t == p->t && !d->parts[i].lag_asked) {
					ps[n] = &d->parts[i];
					ids[n++] = d->parts[i].partition;
				}
			kt_kafka_offset_ends_many(d->k, p->t->name, ids, n, lo, st, hi, NULL);
			for (size_t j = 0; j < n; j++) {
				ps[j]->lag_asked = 1;
				ps[j]->lag_low = lo[j];
				ps[j]->lag_stable = st[j];
				ps[j]->lag_high = hi[j];
			}
		}
		free(ps);
		free(ids);
		free(lo);
		free(st);
		free(hi);
		if (!p->lag_asked)
			return KT_ERR_NOMEM;
	}
	*low = p->lag_low;
	*stable = p->lag_stable;
	*high = p->lag_high;
	return *low < 0 || *stable < 0 || *high < 0 ? KT_ERR_KAFKA : KT_OK;
}

/* A read_committed consumer sees the partition end at the last stable
 * offset: records behind an open transaction are lag too, but of another
 * kind (no dump can read them yet), so they are counted apart and named. */
static void compute_lag(struct dump *d)
{
	d->res->lag = 0;
	d->res->unreadable = 0;
	for (size_t i = 0; i < d->part_count; i++)
		d->parts[i].lag_asked = 0; /* asked again at each call */
	for (size_t i = 0; i < d->part_count; i++) {
		struct part *p = &d->parts[i];
		if (p->retired)
			continue; /* deleted or recreated: the cluster no longer has it */
		if (d->grp && !p->assigned)
			continue; /* another member's */
		int64_t low, stable, high;
		if (lag_ends(d, p, &low, &stable, &high) != KT_OK)
			continue;
		int64_t readable_end = stable > p->done_end ? stable : p->done_end;
		p->seen_end = readable_end;
		d->res->lag += readable_end - p->done_end;
		if (high > readable_end) {
			d->res->unreadable += high - readable_end;
			warn(d,
			     "%s [%d]: %" PRId64 " record(s) up to the high watermark %" PRId64 " are not readable yet "
			     "(an open transaction holds the last stable offset at %" PRId64
			     "); a later dump archives them",
			     p->t->name, p->partition, high - readable_end, high, stable);
		}
	}
}

/* The run's outcome. Its records and bytes are those of the segments it
 * committed, counted in the catalog: after a failure (a full disk, say)
 * records that were read but never committed are not claimed. */
static enum kt_err end_run(struct dump *d, const char *status, const char *message, struct kt_diag *diag)
{
	int64_t records = 0, bytes = 0;
	enum kt_err err = kt_catalog_begin(d->cat, diag);
	if (!err)
		err = kt_catalog_run_end(d->cat, d->run_id, status, 0, 0, message, kt_time_now_ms(), diag);
	if (!err)
		err = kt_catalog_run_recount(d->cat, d->run_id, &records, &bytes, diag);
	if (err) {
		kt_catalog_rollback(d->cat);
		return err;
	}
	err = kt_catalog_commit(d->cat, diag);
	if (!err) {
		d->res->records = (uint64_t)records;
		d->res->file_bytes = (uint64_t)bytes;
		err = kt_archive_write_run_meta(d->a, d->run_id, "dump", diag);
	}
	return err;
}

enum kt_err kt_dump_run(const struct kt_dump_opts *o, struct kt_dump_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	struct dump d = {0};
	d.o = o;
	d.res = res;
	d.t0 = kt_time_mono_ns();
	if (o->groups_regex) {
		if (regcomp(&d.groups_re, o->groups_regex, REG_EXTENDED | REG_NOSUB))
			return kt_diag_fail(diag, KT_ERR_INVALID, "--groups '%s' is not a valid regular expression",
					    o->groups_regex);
		d.has_groups_re = 1;
	}
	enum kt_err err = kt_segment_codec_new(&d.codec);
	if (err)
		goto out;
	/* The cluster answers (the topic list needs a metadata response; the
	 * cluster id does not) before the archive is touched: a dump against a
	 * wrong or dead broker neither creates an archive nor recovers one. */
	struct kt_kafka_opts ko = {
		o->bootstrap, KT_KAFKA_CONSUMER, o->read_uncommitted, 0, o->timeout_ms > 0 ? o->timeout_ms : 60000,
		"ktape-dump"};
	err = kt_kafka_open(o->conf, &ko, &d.k, diag);
	if (err)
		goto out;
	err = kt_kafka_cluster_id(d.k, res->cluster_id, sizeof(res->cluster_id), diag);
	if (!err)
		err = select_topics(&d, diag);
	if (err)
		goto out;
	struct kt_archive_recovery rec;
	err = o->worker_id
		      ? kt_archive_open_shard(o->archive, o->worker_id, KT_ARCHIVE_CREATE,
					      o->worker_group ? KT_ARCHIVE_OPEN_DISCARD_UNLISTED : 0, &d.a, &rec, diag)
		      : kt_archive_open(o->archive, KT_ARCHIVE_CREATE, &d.a, &rec, diag);
	if (!err)
		err = dump_open_union(&d, diag);
	if (err)
		goto out;
	err = kt_archive_use_key(d.a, o->key, 1, diag);
	if (err)
		goto out;
	if (rec.segments_recovered || rec.runs_crashed)
		warn(&d, "recovered from an interrupted run: %d segment(s) indexed, %d run(s) marked crashed",
		     rec.segments_recovered, rec.runs_crashed);
	/* a group member's shard (SPEC 10.8): what it wrote after its last
	 * catalog commit is archived again from the group's offsets */
	res->unlisted_removed = rec.unlisted_removed;
	res->unlisted_offsets = rec.unlisted_offsets;
	if (rec.unlisted_removed)
		warn(&d,
		     "recovered shard %s: removed %d segment file(s) no catalog listed (%" PRId64
		     " offset(s) written after the worker's last commit; the group archives them again)",
		     o->worker_id, rec.unlisted_removed, rec.unlisted_offsets);
	if (rec.damaged_files)
		warn(&d,
		     "%d damaged segment file(s) the catalog did not know: their readable blocks are indexed, the "
		     "rest is recorded as missing ('ktape ls' and 'ktape verify' show it)",
		     rec.damaged_files);
	if (rec.unusable_files)
		warn(&d,
		     "%d segment file(s) with no readable block: not indexed, their offsets are recorded as "
		     "missing ('ktape verify' names them)",
		     rec.unusable_files);
	/* the run record comes first, so that everything below can name it */
	struct kt_catalog_run run = {0};
	run.kind = "dump";
	run.started_ms = kt_time_now_ms();
	run.args = o->args ? o->args : "";
	run.tool_version = o->tool_version ? o->tool_version : "";
	run.cluster_id = res->cluster_id[0] ? res->cluster_id : NULL;
	run.bootstrap = o->bootstrap;
	err = kt_catalog_begin(d.cat, diag);
	if (!err)
		err = kt_catalog_run_begin(d.cat, &run, &d.run_id, diag);
	if (!err)
		err = kt_catalog_commit(d.cat, diag);
	if (err)
		goto out;
	res->run_id = d.run_id;
	err = kt_catalog_begin(d.cat, diag);
	if (!err) {
		err = plan(&d, diag);
		if (!err)
			err = kt_catalog_commit(d.cat, diag);
		else
			kt_catalog_rollback(d.cat);
	}
	if (!err)
		err = capture_metadata(&d, diag);
	if (!err && o->follow && o->compact_fanout >= 0) {
		struct kt_archive_compact_opts co = {
			.segment_bytes = o->segment_bytes ? o->segment_bytes : DEFAULT_SEGMENT_BYTES,
			.fanout = o->compact_fanout ? o->compact_fanout : KT_COMPACT_DEFAULT_FANOUT,
			.age_ms = o->segment_age_ms ? o->segment_age_ms : KT_COMPACT_DEFAULT_AGE_MS,
			.run_id = d.run_id,
			.zstd_level = o->zstd_level,
			.block_bytes = o->block_bytes};
		err = kt_archive_compactor_new(d.a, &co, &d.compactor, diag);
	}
	if (!err && o->worker_group)
		err = group_open(&d, diag);
	if (!err)
		err = consume(&d, diag);
	salvage(&d);
	/* after a failure the cluster may be gone, and librdkafka's watermark
	 * query does not always honour its timeout then */
	if (!err)
		compute_lag(&d);
	snapshot_parts(&d, 0);
	res->seconds = (double)(kt_time_mono_ns() - d.t0) / 1e9;
	/* the run's outcome, then its metadata file, so reindex keeps it */
	const char *status = err == KT_ERR_INTERRUPTED ? "interrupted"
			     : err		       ? "failed"
			     : res->data_lost	       ? "data_lost"
						       : "ok";
	struct kt_diag d2;
	kt_diag_clear(&d2);
	enum kt_err e2 = end_run(&d, status, err ? diag->msg : res->warning_count ? res->warnings[0] : NULL, &d2);
	if (!err && e2) {
		err = e2;
		*diag = d2;
	}
	if (!err && res->data_lost)
		err = kt_diag_fail(diag, KT_ERR_DATA_LOST,
				   "dump finished, but data was lost to retention (see warnings)");
out:
	/* after the run's end: the group hears of the archived ends */
	d.grp_closing = 1;
	kt_dump_group_close(d.grp);
	for (size_t i = 0; i < d.part_count; i++) {
		kt_archive_segment_abort(d.parts[i].seg);
		free(d.parts[i].covered);
	}
	free(d.parts);
	for (size_t i = 0; i < d.topic_count; i++)
		free(d.topics[i].name);
	free(d.topics);
	if (d.has_groups_re)
		regfree(&d.groups_re);
	if (d.has_inc_re)
		regfree(&d.inc_re);
	if (d.has_exc_re)
		regfree(&d.exc_re);
	if (d.k)
		res->kicks = kt_kafka_kick_count(d.k);
	kt_kafka_close(d.kg);
	kt_kafka_close(d.k);
	kt_archive_close(d.u);
	kt_archive_close(d.a);
	kt_archive_compactor_free(d.compactor);
	kt_segment_codec_free(d.codec);
	return err;
}
