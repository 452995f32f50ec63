/* kt_kafka_group.h - membership of a Kafka consumer group, for dump
 * --worker-group (format/SPEC.md 10.8): the member subscribes to the
 * topics with the cooperative-sticky assignor, hears of the partitions the
 * group assigns to it and revokes from it, reads their committed offsets
 * and commits the archived ends. It fetches nothing: its partitions are
 * paused as soon as they are assigned, and the records come through the
 * dump's own clients (kt_kafka.h), so that the group decides who archives
 * what and the fetching stays as fast as a single dump's.
 *
 * Owns: struct kt_kafka_member (its librdkafka consumer).
 */
#ifndef KT_KAFKA_GROUP_H
#define KT_KAFKA_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"
#include "kt_kafka.h"

struct kt_kafka_tp {
	const char *topic; /* borrowed for the callback */
	int32_t partition;
	int64_t offset; /* assigned: the group's committed offset (-1: none); revoked: to commit (-1: nothing) */
};

/* Called from kt_kafka_member_poll or _close on the caller's thread.
 * assigned: the partitions are the member's now (offsets: the group's
 * committed ones). Revoked (assigned 0): the callback makes what it has of
 * them durable and sets each offset to commit; the member commits them
 * before it gives the partitions up, so their next owner starts there. */
typedef enum kt_err (*kt_kafka_member_cb)(void *ctx, int assigned, struct kt_kafka_tp *tps, size_t n,
					  struct kt_diag *diag);

struct kt_kafka_member_opts {
	const char *bootstrap;
	const char *group;
	const char *client_id;
	int64_t session_timeout_ms; /* 0: 10 s; a dead member's partitions move after this */
	kt_kafka_member_cb cb;
	void *ctx;
	/* how often the member looks at its topics' metadata: a subscribed
	 * topic's new partitions are assigned within this (0: 30 s) */
	int64_t metadata_refresh_ms;
};

struct kt_kafka_member;

enum kt_err kt_kafka_member_open(const struct kt_kafka_conf *conf, const struct kt_kafka_member_opts *o,
				 struct kt_kafka_member **out, struct kt_diag *diag);
/* Subscribes to exactly these topics (again: replaces the subscription). */
enum kt_err kt_kafka_member_subscribe(struct kt_kafka_member *m, const char *const *topics, size_t n,
				      struct kt_diag *diag);
/* Serves the group: heartbeats run on librdkafka's threads, rebalances
 * here (the callback runs inside). An error of the callback is returned. */
enum kt_err kt_kafka_member_poll(struct kt_kafka_member *m, struct kt_diag *diag);
/* Commits offsets of partitions the member holds (synchronously). */
enum kt_err kt_kafka_member_commit(struct kt_kafka_member *m, const struct kt_kafka_tp *tps, size_t n,
				   struct kt_diag *diag);
/* The member id the coordinator gave it ("" before it joined). */
void kt_kafka_member_id(struct kt_kafka_member *m, char *buf, size_t size);
/* Leaves the group: the callback hears of the revocation of everything
 * and its offsets are committed. NULL is a no-op. */
void kt_kafka_member_close(struct kt_kafka_member *m);

/* Every -X property of conf, in order (for clients made elsewhere in the
 * module). */
typedef void (*kt_kafka_conf_kv_cb)(void *ctx, const char *key, const char *value);
void kt_kafka_conf_each(const struct kt_kafka_conf *conf, kt_kafka_conf_kv_cb cb, void *ctx);

#endif
