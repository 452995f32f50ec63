/* kt_kafka_group.c - a consumer group member that fetches nothing (see
 * kt_kafka_group.h). */
#include "kt_kafka_group.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRSTR 512

struct kt_kafka_member {
	rd_kafka_t *rk;
	kt_kafka_member_cb cb;
	void *ctx;
	/* the callback's first failure, returned by the next poll */
	enum kt_err err;
	struct kt_diag diag;
	int closing;
};

static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* the member's log lines would reach the terminal; its errors come
	 * back from the calls */
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

static void set_conf_cb(void *ctx, const char *key, const char *value)
{
	rd_kafka_conf_t *c = ctx;
	char errstr[ERRSTR];
	rd_kafka_conf_set(c, key, value, errstr, sizeof(errstr));
}

static enum kt_err set_rk(rd_kafka_conf_t *c, const char *key, const char *value, struct kt_diag *diag)
{
	char errstr[ERRSTR];
	if (rd_kafka_conf_set(c, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return kt_diag_fail(diag, KT_ERR_INVALID, "property %s: %s", key, errstr);
	return KT_OK;
}

static void fail_once(struct kt_kafka_member *m, enum kt_err err, const struct kt_diag *d)
{
	if (!m->err) {
		m->err = err;
		m->diag = *d;
	}
}

static struct kt_kafka_tp *tps_of(const rd_kafka_topic_partition_list_t *parts)
{
	struct kt_kafka_tp *tps = calloc((size_t)parts->cnt + 1, sizeof(*tps));
	for (int i = 0; tps && i < parts->cnt; i++)
		tps[i] = (struct kt_kafka_tp){parts->elems[i].topic, parts->elems[i].partition,
					      parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1};
	return tps;
}

static void on_assign(struct kt_kafka_member *m, rd_kafka_topic_partition_list_t *parts)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	if (m->closing) {
		/* a rebalance that ends inside rd_kafka_consumer_close: the
		 * member is leaving and archives nothing more. Its committed
		 * offsets are not asked (a closing consumer does not serve
		 * that request: it waited out its whole 30 s timeout, and so
		 * did the SIGTERM); the assignment is taken only for the
		 * close to revoke it. */
		rd_kafka_error_t *er = rd_kafka_incremental_assign(m->rk, parts);
		if (er)
			rd_kafka_error_destroy(er);
		return;
	}
	/* where the group says each partition is archived up to */
	rd_kafka_resp_err_t e = rd_kafka_committed(m->rk, parts, 30000);
	if (e)
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
	struct kt_kafka_tp *tps = tps_of(parts);
	rd_kafka_error_t *er = rd_kafka_incremental_assign(m->rk, parts);
	if (er) {
		kt_diag_fail(&d, KT_ERR_KAFKA, "consumer group: cannot take the assigned partitions: %s",
			     rd_kafka_error_string(er));
		rd_kafka_error_destroy(er);
		fail_once(m, KT_ERR_KAFKA, &d);
	}
	/* the dump's own clients fetch them */
	rd_kafka_pause_partitions(m->rk, parts);
	if (!tps) {
		fail_once(m, KT_ERR_NOMEM, &d);
		return;
	}
	if (e) {
		kt_diag_fail(&d, KT_ERR_KAFKA, "consumer group: cannot read the committed offsets: %s",
			     rd_kafka_err2str(e));
		fail_once(m, KT_ERR_KAFKA, &d);
	} else {
		enum kt_err err = m->cb(m->ctx, 1, tps, (size_t)parts->cnt, &d);
		if (err)
			fail_once(m, err, &d);
	}
	free(tps);
}

static void on_revoke(struct kt_kafka_member *m, rd_kafka_topic_partition_list_t *parts)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	struct kt_kafka_tp *tps = tps_of(parts);
	enum kt_err err = tps ? m->cb(m->ctx, 0, tps, (size_t)parts->cnt, &d) : KT_ERR_NOMEM;
	if (err)
		fail_once(m, err, &d);
	/* the archived ends, before the partitions go: their next owner
	 * starts there (a failed commit leaves the group's older offset,
	 * and the next owner takes the archive's end over it) */
	if (tps && !err && !m->closing) {
		rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(parts->cnt);
		for (int i = 0; i < parts->cnt; i++)
			if (tps[i].offset >= 0)
				rd_kafka_topic_partition_list_add(c, tps[i].topic, tps[i].partition)->offset =
					tps[i].offset;
		if (c->cnt)
			rd_kafka_commit(m->rk, c, 0);
		rd_kafka_topic_partition_list_destroy(c);
	}
	free(tps);
	rd_kafka_error_t *er = rd_kafka_incremental_unassign(m->rk, parts);
	if (er)
		rd_kafka_error_destroy(er);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	(void)rk;
	struct kt_kafka_member *m = opaque;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
		on_assign(m, parts);
	else
		on_revoke(m, parts);
}

enum kt_err kt_kafka_member_open(const struct kt_kafka_conf *conf, const struct kt_kafka_member_opts *o,
				 struct kt_kafka_member **out, struct kt_diag *diag)
{
	*out = NULL;
	struct kt_kafka_member *m = calloc(1, sizeof(*m));
	if (!m)
		return KT_ERR_NOMEM;
	m->cb = o->cb;
	m->ctx = o->ctx;
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	/* the user's properties first (security, timeouts), then what a
	 * member must be */
	kt_kafka_conf_each(conf, set_conf_cb, c);
	char ms[32], refresh[32];
	snprintf(ms, sizeof(ms), "%lld", (long long)(o->session_timeout_ms > 0 ? o->session_timeout_ms : 10000));
	snprintf(refresh, sizeof(refresh), "%lld",
		 (long long)(o->metadata_refresh_ms > 0 ? o->metadata_refresh_ms : 30000));
	enum kt_err err = set_rk(c, "group.id", o->group, diag);
	err = err ? err : set_rk(c, "client.id", o->client_id ? o->client_id : "ktape-worker", diag);
	err = err ? err : set_rk(c, "bootstrap.servers", o->bootstrap, diag);
	err = err ? err : set_rk(c, "partition.assignment.strategy", "cooperative-sticky", diag);
	err = err ? err : set_rk(c, "enable.auto.commit", "false", diag);
	err = err ? err : set_rk(c, "enable.auto.offset.store", "false", diag);
	/* how soon a dead member is noticed is the operator's to tune with
	 * -X, as every client setting is; the defaults move its partitions
	 * within about 10 s */
	if (!err && !kt_kafka_conf_has(conf, "session.timeout.ms"))
		err = set_rk(c, "session.timeout.ms", ms, diag);
	if (!err && !kt_kafka_conf_has(conf, "heartbeat.interval.ms"))
		err = set_rk(c, "heartbeat.interval.ms", "1000", diag);
	/* the group leader rebalances when it sees a subscribed topic's
	 * partition count grow: new partitions are assigned within this */
	err = err ? err : set_rk(c, "topic.metadata.refresh.interval.ms", refresh, diag);
	/* paused at once: nothing worth fetching ahead */
	err = err ? err : set_rk(c, "queued.max.messages.kbytes", "1024", diag);
	if (err) {
		rd_kafka_conf_destroy(c);
		free(m);
		return err;
	}
	rd_kafka_conf_set_opaque(c, m);
	rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
	rd_kafka_conf_set_log_cb(c, quiet_log_cb);
	char errstr[ERRSTR];
	m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
	if (!m->rk) {
		rd_kafka_conf_destroy(c);
		free(m);
		return kt_diag_fail(diag, KT_ERR_KAFKA, "cannot create the consumer group member: %s", errstr);
	}
	rd_kafka_poll_set_consumer(m->rk);
	*out = m;
	return KT_OK;
}

enum kt_err kt_kafka_member_subscribe(struct kt_kafka_member *m, const char *const *topics, size_t n,
				      struct kt_diag *diag)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(m->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e)
		return kt_diag_fail(diag, KT_ERR_KAFKA, "consumer group: cannot subscribe: %s", rd_kafka_err2str(e));
	return KT_OK;
}

enum kt_err kt_kafka_member_poll(struct kt_kafka_member *m, struct kt_diag *diag)
{
	rd_kafka_message_t *msg;
	/* records would only come in the moment between an assignment and
	 * its pause: dropped, the dump's clients read them */
	while ((msg = rd_kafka_consumer_poll(m->rk, 0)))
		rd_kafka_message_destroy(msg);
	if (m->err) {
		enum kt_err err = m->err;
		*diag = m->diag;
		m->err = KT_OK;
		return err;
	}
	return KT_OK;
}

enum kt_err kt_kafka_member_commit(struct kt_kafka_member *m, const struct kt_kafka_tp *tps, size_t n,
				   struct kt_diag *diag)
{
	rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++)
		if (tps[i].offset >= 0)
			rd_kafka_topic_partition_list_add(c, tps[i].topic, tps[i].partition)->offset = tps[i].offset;
	rd_kafka_resp_err_t e = c->cnt ? rd_kafka_commit(m->rk, c, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_topic_partition_list_destroy(c);
	/* a rebalance under way: the revocation commits what it takes */
	if (e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION || e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
	    e == RD_KAFKA_RESP_ERR__STATE)
		return kt_diag_fail(diag, KT_ERR_STATE, "consumer group: commit during a rebalance: %s",
				    rd_kafka_err2str(e));
	if (e)
		return kt_diag_fail(diag, KT_ERR_KAFKA, "consumer group: commit of the archived offsets: %s",
				    rd_kafka_err2str(e));
	return KT_OK;
}

void kt_kafka_member_id(struct kt_kafka_member *m, char *buf, size_t size)
{
	char *id = rd_kafka_memberid(m->rk);
	snprintf(buf, size, "%s", id ? id : "");
	rd_kafka_mem_free(m->rk, id);
}

void kt_kafka_member_close(struct kt_kafka_member *m)
{
	if (!m)
		return;
	m->closing = 1;
	rd_kafka_consumer_close(m->rk);
	rd_kafka_destroy(m->rk);
	free(m);
}
