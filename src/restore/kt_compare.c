#include "kt_compare.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_archive.h"
#include "kt_catalog.h"

struct cmp {
	const struct kt_compare_opts *o;
	struct kt_compare_result *res;
	struct kt_archive *a;
	struct kt_kafka *k;
	int reported;
};

static void differ(struct cmp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void differ(struct cmp *c, const char *fmt, ...)
{
	int max = c->o->max_report > 0 ? c->o->max_report : 10;
	if (c->reported++ >= max || !c->o->on_difference)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->o->on_difference(c->o->cb_ctx, msg);
}

static int bytes_eq(const uint8_t *a, size_t al, int an, const uint8_t *b, size_t bl, int bn)
{
	if (an || bn)
		return an == bn;
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* Which field differs, or NULL. */
static const char *record_diff(const struct kt_record *a, const struct kt_record *b, int ignore_ts)
{
	if (!bytes_eq(a->key, a->key_len, a->key_null, b->key, b->key_len, b->key_null))
		return "key";
	if (!bytes_eq(a->value, a->value_len, a->value_null, b->value, b->value_len, b->value_null))
		return "value";
	if (a->header_count != b->header_count)
		return "header count";
	for (size_t i = 0; i < a->header_count; i++) {
		const struct kt_header *x = &a->headers[i], *y = &b->headers[i];
		if (!bytes_eq(x->name, x->name_len, 0, y->name, y->name_len, 0) ||
		    !bytes_eq(x->value, x->value_len, x->value_null, y->value, y->value_len, y->value_null))
			return "headers";
	}
	if (!ignore_ts && a->timestamp != b->timestamp)
		return "timestamp";
	return NULL;
}

static const char *dst_name(const struct kt_compare_opts *o, const char *src, char *buf, size_t n)
{
	for (size_t i = 0; i < o->map_count; i++)
		if (!strcmp(o->maps[i].src, src))
			return o->maps[i].dst;
	if (o->topic_prefix) {
		snprintf(buf, n, "%s%s", o->topic_prefix, src);
		return buf;
	}
	return src;
}

static enum kt_err compare_partition(struct cmp *c, const char *topic, uint32_t gen, int32_t p, const char *dst,
				     struct kt_diag *diag)
{
	const struct kt_compare_opts *o = c->o;
	struct kt_archive_range range = {topic,
					 gen,
					 p,
					 o->from_offset >= 0 ? o->from_offset : 0,
					 o->to_offset >= 0 ? o->to_offset - 1 : INT64_MAX,
					 o->from_time,
					 o->to_time != INT64_MIN ? o->to_time : INT64_MAX};
	struct kt_archive_iter *it;
	enum kt_err err = kt_archive_iter_open(c->a, &range, &it, diag);
	if (err)
		return err;
	int64_t low, high;
	err = kt_kafka_watermarks(c->k, dst, p, &low, &high, diag);
	struct kt_kafka_assignment as = {dst, p, low};
	if (!err && high > low)
		err = kt_kafka_assign(c->k, &as, 1, diag);
	int64_t target_pos = low;
	const struct kt_record *arec = NULL;
	if (!err)
		err = kt_archive_iter_next_strict(it, &arec, diag);
	while (!err && target_pos < high) {
		struct kt_kafka_msg m;
		err = kt_kafka_poll(c->k, 1000, &m, diag);
		if (err || m.event == KT_KAFKA_NONE)
			continue;
		if (m.event == KT_KAFKA_EOF)
			break;
		target_pos = m.rec.offset + 1;
		if (!arec) {
			c->res->extra++;
			differ(c, "%s [%d] offset %" PRId64 ": in the cluster but not in the archive", dst, p,
			       m.rec.offset);
			continue;
		}
		c->res->compared++;
		const char *what = record_diff(arec, &m.rec, o->ignore_timestamps);
		if (what) {
			c->res->different++;
			differ(c,
			       "%s [%d] offset %" PRId64 " differs from archived %s [%d] offset %" PRId64 " in its %s",
			       dst, p, m.rec.offset, topic, p, arec->offset, what);
		} else {
			c->res->equal++;
		}
		err = kt_archive_iter_next_strict(it, &arec, diag);
	}
	while (!err && arec) {
		c->res->missing++;
		differ(c, "%s [%d] offset %" PRId64 " is in the archive but not in %s [%d]", topic, p, arec->offset,
		       dst, p);
		err = kt_archive_iter_next_strict(it, &arec, diag);
	}
	if (high > low)
		kt_kafka_unassign_one(c->k, dst, p, NULL);
	kt_archive_iter_close(it);
	c->res->partitions++;
	return err;
}

struct part_list {
	char **topics;
	uint32_t *gens;
	int32_t *parts;
	size_t n;
};

static int list_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct part_list *l = ctx;
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->topics[i], s->topic) && l->parts[i] == s->partition) {
			if (s->generation > l->gens[i])
				l->gens[i] = s->generation;
			return 0;
		}
	l->topics = realloc(l->topics, (l->n + 1) * sizeof(*l->topics));
	l->gens = realloc(l->gens, (l->n + 1) * sizeof(*l->gens));
	l->parts = realloc(l->parts, (l->n + 1) * sizeof(*l->parts));
	l->topics[l->n] = strdup(s->topic);
	l->gens[l->n] = s->generation;
	l->parts[l->n] = s->partition;
	l->n++;
	return 0;
}

static int selected(const struct kt_compare_opts *o, const char *topic, int32_t p)
{
	int t_ok = o->topic_count == 0, p_ok = o->partition_count == 0;
	for (size_t i = 0; i < o->topic_count; i++)
		t_ok |= !strcmp(o->topics[i], topic);
	for (size_t i = 0; i < o->partition_count; i++)
		p_ok |= o->partitions[i] == p;
	return t_ok && p_ok;
}

/* A target topic or partition that does not exist is "not found" at once,
 * not a broker error after the watermark query gave up waiting for it. */
static enum kt_err check_target(struct kt_kafka *k, const struct kt_kafka_topic *all, size_t n, const char *dst,
				int32_t p, const char *bootstrap, struct kt_diag *diag)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i].name, dst))
			continue;
		if (p < all[i].partitions)
			return KT_OK;
		return kt_diag_fail(diag, KT_ERR_NOT_FOUND,
				    "topic %s has %" PRId32
				    " partition(s) in the cluster at %s; the archive has partition %" PRId32,
				    dst, all[i].partitions, bootstrap, p);
	}
	char what[300];
	snprintf(what, sizeof(what), " in the cluster at %s", bootstrap);
	return kt_kafka_topic_absent(k, dst, what, diag);
}

enum kt_err kt_compare_run(const struct kt_compare_opts *o, struct kt_compare_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	struct cmp c = {o, res, NULL, NULL, 0};
	struct part_list l = {0};
	enum kt_err err = kt_archive_open(o->archive, KT_ARCHIVE_READ, &c.a, NULL, diag);
	if (!err)
		err = kt_archive_use_key(c.a, o->key, 0, diag);
	if (!err)
		err = kt_catalog_each_segment(kt_archive_catalog(c.a), NULL, list_cb, &l, diag);
	struct kt_kafka_opts ko = {o->bootstrap,   KT_KAFKA_CONSUMER, 0, 0, o->timeout_ms > 0 ? o->timeout_ms : 60000,
				   "ktape-compare"};
	if (!err)
		err = kt_kafka_open(o->conf, &ko, &c.k, diag);
	struct kt_kafka_topic *all = NULL;
	size_t nall = 0;
	if (!err)
		err = kt_kafka_list_topics(c.k, &all, &nall, diag);
	size_t matched = 0;
	for (size_t i = 0; !err && i < l.n; i++) {
		if (!selected(o, l.topics[i], l.parts[i]))
			continue;
		matched++;
		char buf[512];
		uint32_t gen = o->generation >= 0 ? (uint32_t)o->generation : l.gens[i];
		const char *dst = dst_name(o, l.topics[i], buf, sizeof(buf));
		err = check_target(c.k, all, nall, dst, l.parts[i], o->bootstrap, diag);
		if (!err)
			err = compare_partition(&c, l.topics[i], gen, l.parts[i], dst, diag);
	}
	kt_kafka_topics_free(all, nall);
	if (!err && !matched)
		err = kt_diag_fail(diag, KT_ERR_NOT_FOUND, "no archived topic/partition matches the selection");
	for (size_t i = 0; i < l.n; i++)
		free(l.topics[i]);
	free(l.topics);
	free(l.gens);
	free(l.parts);
	kt_kafka_close(c.k);
	kt_archive_close(c.a);
	if (!err && (res->different || res->missing || res->extra))
		err = kt_diag_fail(diag, KT_ERR_MISMATCH,
				   "%" PRIu64 " equal, %" PRIu64 " different, %" PRIu64
				   " missing in the cluster, %" PRIu64 " extra in the cluster",
				   res->equal, res->different, res->missing, res->extra);
	return err;
}
