/* kt_dump_group.c - a follower as a member of a consumer group (see
 * kt_dump_group.h). */
#include "kt_dump_group.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_archive.h"
#include "kt_catalog.h"
#include "kt_kafka_group.h"

struct owned {
	char *topic;
	int32_t partition;
};

struct kt_dump_group {
	const struct kt_dump_opts *o;
	const struct kt_dump_group_ops *ops;
	void *ctx;
	struct kt_kafka_member *m;
	struct owned *own;
	size_t n_own;
	int closing;
};

static void gwarn(struct kt_dump_group *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void gwarn(struct kt_dump_group *g, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g->ops->warn(g->ctx, msg);
}

static long find_owned(const struct kt_dump_group *g, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < g->n_own; i++)
		if (g->own[i].partition == partition && !strcmp(g->own[i].topic, topic))
			return (long)i;
	return -1;
}

int kt_dump_group_owns(const struct kt_dump_group *g, const char *topic, int32_t partition)
{
	return g && find_owned(g, topic, partition) >= 0;
}

/* Assigned: each partition starts at the larger of the group's committed
 * offset and where the archive's union ends (a member that died after
 * its catalog commit, before its group commit, archived past the group's
 * offset). */
static enum kt_err on_assigned(struct kt_dump_group *g, struct kt_kafka_tp *tps, size_t n, struct kt_diag *diag)
{
	struct kt_archive *u = NULL;
	enum kt_err err = kt_archive_open(g->o->archive, KT_ARCHIVE_READ, &u, NULL, diag);
	struct kt_catalog *cat = u ? kt_archive_catalog(u) : NULL;
	for (size_t i = 0; !err && i < n; i++) {
		int64_t end = -1;
		int has = 0;
		err = kt_catalog_resume_end(cat, tps[i].topic, g->ops->generation(g->ctx, tps[i].topic),
					    tps[i].partition, &end, &has, diag);
		if (err)
			break;
		int64_t start = tps[i].offset;
		if (has && end > start)
			start = end;
		if (tps[i].offset > (has ? end : 0))
			gwarn(g,
			      "%s [%d]: the group's committed offset %" PRId64 " is beyond the archive's end %" PRId64
			      ": the offsets between are not archived by this group",
			      tps[i].topic, tps[i].partition, tps[i].offset, has ? end : 0);
		if (start < 0)
			start = 0; /* nothing anywhere: from the log start */
		struct owned *no = realloc(g->own, (g->n_own + 1) * sizeof(*no));
		char *t = no ? strdup(tps[i].topic) : NULL;
		if (no)
			g->own = no;
		if (!t) {
			err = KT_ERR_NOMEM;
			break;
		}
		err = g->ops->take(g->ctx, tps[i].topic, tps[i].partition, start, diag);
		if (err) {
			free(t);
			break;
		}
		g->own[g->n_own++] = (struct owned){t, tps[i].partition};
	}
	kt_archive_close(u);
	return err;
}

static enum kt_err on_revoked(struct kt_dump_group *g, struct kt_kafka_tp *tps, size_t n, struct kt_diag *diag)
{
	enum kt_err err = KT_OK;
	for (size_t i = 0; i < n; i++) {
		tps[i].offset = -1;
		long k = find_owned(g, tps[i].topic, tps[i].partition);
		if (k < 0)
			continue;
		int64_t end = -1;
		enum kt_err e = g->ops->release(g->ctx, tps[i].topic, tps[i].partition, &end, diag);
		if (e && !err)
			err = e;
		tps[i].offset = e ? -1 : end;
		free(g->own[k].topic);
		g->own[k] = g->own[--g->n_own];
	}
	/* the segments committed above must be where every reader (the next
	 * owner's start among them) sees them before the group hears of the
	 * offsets */
	if (!err && !g->closing)
		err = g->ops->publish(g->ctx, diag);
	if (err)
		for (size_t i = 0; i < n; i++)
			tps[i].offset = -1;
	return err;
}

static enum kt_err member_cb(void *ctx, int assigned, struct kt_kafka_tp *tps, size_t n, struct kt_diag *diag)
{
	struct kt_dump_group *g = ctx;
	return assigned ? on_assigned(g, tps, n, diag) : on_revoked(g, tps, n, diag);
}

enum kt_err kt_dump_group_open(const struct kt_dump_opts *o, const char *const *topics, size_t n,
			       const struct kt_dump_group_ops *ops, void *ctx, struct kt_dump_group **out,
			       struct kt_diag *diag)
{
	*out = NULL;
	struct kt_dump_group *g = calloc(1, sizeof(*g));
	if (!g)
		return KT_ERR_NOMEM;
	g->o = o;
	g->ops = ops;
	g->ctx = ctx;
	char client[128];
	snprintf(client, sizeof(client), "ktape-worker-%s", o->worker_id ? o->worker_id : "");
	/* the member sees a topic's new partitions as soon as the dump's own
	 * metadata look would (--metadata-interval), at most 30 s apart */
	int64_t refresh =
		o->metadata_interval_ms > 0 && o->metadata_interval_ms < 30000 ? o->metadata_interval_ms : 30000;
	struct kt_kafka_member_opts mo = {o->bootstrap, o->worker_group, client, 0, member_cb, g, refresh};
	enum kt_err err = kt_kafka_member_open(o->conf, &mo, &g->m, diag);
	if (!err)
		err = kt_kafka_member_subscribe(g->m, topics, n, diag);
	if (err) {
		kt_kafka_member_close(g->m);
		free(g);
		return err;
	}
	*out = g;
	return KT_OK;
}

enum kt_err kt_dump_group_subscribe(struct kt_dump_group *g, const char *const *topics, size_t n, struct kt_diag *diag)
{
	return kt_kafka_member_subscribe(g->m, topics, n, diag);
}

enum kt_err kt_dump_group_poll(struct kt_dump_group *g, struct kt_diag *diag)
{
	return kt_kafka_member_poll(g->m, diag);
}

static enum kt_err commit_owned(struct kt_dump_group *g, struct kt_diag *diag)
{
	if (!g->n_own)
		return KT_OK;
	struct kt_kafka_tp *tps = calloc(g->n_own, sizeof(*tps));
	if (!tps)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < g->n_own; i++)
		tps[i] = (struct kt_kafka_tp){g->own[i].topic, g->own[i].partition,
					      g->ops->archived_end(g->ctx, g->own[i].topic, g->own[i].partition)};
	enum kt_err err = kt_kafka_member_commit(g->m, tps, g->n_own, diag);
	free(tps);
	return err;
}

enum kt_err kt_dump_group_commit(struct kt_dump_group *g, struct kt_diag *diag)
{
	enum kt_err err = g->ops->publish(g->ctx, diag);
	if (err)
		return err;
	struct kt_diag d2;
	kt_diag_clear(&d2);
	enum kt_err e = commit_owned(g, &d2);
	if (e && e != KT_ERR_STATE)
		gwarn(g, "%s (the next commit covers it)", d2.msg);
	return KT_OK;
}

void kt_dump_group_close(struct kt_dump_group *g)
{
	if (!g)
		return;
	struct kt_diag d;
	kt_diag_clear(&d);
	/* the run has committed and published everything: the group hears of
	 * the ends, and the revocation that leaving brings commits no more */
	if (commit_owned(g, &d) != KT_OK)
		gwarn(g, "%s", d.msg);
	g->closing = 1;
	kt_kafka_member_close(g->m);
	for (size_t i = 0; i < g->n_own; i++)
		free(g->own[i].topic);
	free(g->own);
	free(g);
}
