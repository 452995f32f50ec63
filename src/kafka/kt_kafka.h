/* kt_kafka.h - everything ktape asks of Kafka, over librdkafka (>= 2.0.2).
 * This module is the only includer of <librdkafka/rdkafka.h>.
 *
 * Owns: struct kt_kafka_conf (client properties from -X and -F files, with
 * secrets kept out of logs and the catalog), struct kt_kafka (one client:
 * consumer or producer, with an admin view on the same handle).
 *
 * Messages handed to callers are converted to struct kt_record views that
 * borrow the librdkafka message: valid until the next poll on the client.
 */
#ifndef KT_KAFKA_H
#define KT_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "kt_buf.h"
#include "kt_error.h"
#include "kt_record.h"

/* ---- configuration ---- */
struct kt_kafka_conf;

enum kt_err kt_kafka_conf_new(struct kt_kafka_conf **out);
void kt_kafka_conf_free(struct kt_kafka_conf *conf);
/* "key=value" as given to -X. Later settings override earlier ones. */
enum kt_err kt_kafka_conf_set_kv(struct kt_kafka_conf *conf, const char *kv, struct kt_diag *diag);
enum kt_err kt_kafka_conf_set(struct kt_kafka_conf *conf, const char *key, const char *value, struct kt_diag *diag);
/* Whether the properties (-X, -F) set key. */
int kt_kafka_conf_has(const struct kt_kafka_conf *conf, const char *key);
/* A file of key=value lines; blank lines and lines starting with # are
 * ignored. Keeps passwords out of ps and crontab. */
enum kt_err kt_kafka_conf_load_file(struct kt_kafka_conf *conf, const char *path, struct kt_diag *diag);
/* 1 for properties whose values must never be printed or stored. */
int kt_kafka_conf_is_secret(const char *key);
/* Collects what librdkafka logs (one "LEVEL FACILITY: text" line each) into
 * buf instead of letting it reach the terminal: the module never prints, and
 * the gist of those lines goes into the failing call's diag. librdkafka logs
 * from its own threads: buf is written under the conf's lock, and the caller
 * reads it only after every client opened with this conf is closed. A full
 * buf drops further lines. The caller keeps ownership of buf. */
void kt_kafka_conf_set_log(struct kt_kafka_conf *conf, struct kt_buf *buf);

/* ---- client ---- */
enum kt_kafka_role {
	KT_KAFKA_CONSUMER,
	KT_KAFKA_PRODUCER,
};

struct kt_kafka_opts {
	const char *bootstrap;
	enum kt_kafka_role role;
	int read_uncommitted; /* consumer: see aborted transactional records too */
	int idempotent;	      /* producer: enable.idempotence=true, acks=all */
	int64_t timeout_ms;   /* for metadata and admin requests, delivery, a cluster gone */
	const char *client_id;
};

struct kt_kafka;

/* While every broker refuses connections, kt_kafka_open gives up after this
 * long (or the timeout, if shorter): a wrong address or a cluster that is
 * down is reported quickly rather than after the whole timeout. */
#define KT_KAFKA_REFUSED_MS 10000

/* Creates the client and waits until the cluster answers a metadata request,
 * at most opts->timeout_ms. A cluster that cannot be reached fails here with
 * "cannot connect to HOST:PORT: REASON", a rejected login with
 * "authentication failed: REASON" (KT_ERR_KAFKA both), instead of in the
 * first request. The conf is copied; the caller keeps it.
 *
 * Later calls fail the same way once every broker has been down for
 * timeout_ms while records were being fetched or delivered. */
enum kt_err kt_kafka_open(const struct kt_kafka_conf *conf, const struct kt_kafka_opts *opts, struct kt_kafka **out,
			  struct kt_diag *diag);
void kt_kafka_close(struct kt_kafka *k);
/* Says that a topic this client fetched from was deleted: librdkafka
 * before 2.1 may then hang in its destroy, and kt_kafka_close waits for it
 * only a few seconds. */
void kt_kafka_topic_gone(struct kt_kafka *k);

/* ---- metadata ---- */
struct kt_kafka_topic {
	char *name;
	int32_t partitions;
	int32_t replication_factor;
	int internal; /* __consumer_offsets and friends */
};

/* All topics of the cluster (sorted by name). Free with kt_kafka_topics_free. */
enum kt_err kt_kafka_list_topics(struct kt_kafka *k, struct kt_kafka_topic **out, size_t *out_count,
				 struct kt_diag *diag);
void kt_kafka_topics_free(struct kt_kafka_topic *topics, size_t count);
/* Why topic is not among kt_kafka_list_topics' (the cluster lists only the
 * topics the principal may Describe): KT_ERR_KAFKA "not authorized ...
 * (TOPIC_AUTHORIZATION_FAILED)" when access is denied, else KT_ERR_NOT_FOUND
 * with "does not exist" + what. */
enum kt_err kt_kafka_topic_absent(struct kt_kafka *k, const char *topic, const char *what, struct kt_diag *diag);
/* The cluster id (empty string if the broker does not say). */
enum kt_err kt_kafka_cluster_id(struct kt_kafka *k, char *buf, size_t bufsize, struct kt_diag *diag);
/* Number of brokers in the cluster. */
enum kt_err kt_kafka_broker_count(struct kt_kafka *k, int *out, struct kt_diag *diag);
/* Log start offset and high watermark (the next offset to be written). */
enum kt_err kt_kafka_watermarks(struct kt_kafka *k, const char *topic, int32_t partition, int64_t *out_low,
				int64_t *out_high, struct kt_diag *diag);
/* The log start, the last stable offset (the end a read_committed consumer
 * can read: an open transaction holds it back) and the high watermark. A
 * read_committed consumer's watermarks end at the last stable offset, so the
 * high watermark is asked for by a second, read_uncommitted client, opened
 * on the first call. For any other client stable == high. */
enum kt_err kt_kafka_offset_ends(struct kt_kafka *k, const char *topic, int32_t partition, int64_t *out_low,
				 int64_t *out_stable, int64_t *out_high, struct kt_diag *diag);
/* kt_kafka_offset_ends of count partitions of one topic at once: lows[i],
 * stables[i] and highs[i] for partitions[i]; any of the three may be NULL
 * (not asked). stables are kt_kafka_watermarks' highs. After an error the
 * ends not known are -1. */
enum kt_err kt_kafka_offset_ends_many(struct kt_kafka *k, const char *topic, const int32_t *partitions, size_t count,
				      int64_t *lows, int64_t *stables, int64_t *highs, struct kt_diag *diag);
/* The first offset whose timestamp is >= ts, or the high watermark (-1 from
 * Kafka, translated) when no record is that new. */
enum kt_err kt_kafka_offset_for_time(struct kt_kafka *k, const char *topic, int32_t partition, int64_t ts,
				     int64_t *out_offset, struct kt_diag *diag);

/* ---- admin ---- */
struct kt_kafka_config_entry {
	const char *name;
	const char *value;  /* NULL when sensitive or unset */
	const char *source; /* "DYNAMIC_TOPIC_CONFIG", "DEFAULT_CONFIG", ... */
	int is_default;
	int is_sensitive;
	int is_read_only;
};
typedef int (*kt_kafka_config_cb)(void *ctx, const struct kt_kafka_config_entry *e);
/* Calls cb for every config entry of the topic (defaults included; the
 * caller decides what to keep). */
enum kt_err kt_kafka_describe_topic_configs(struct kt_kafka *k, const char *topic, kt_kafka_config_cb cb, void *ctx,
					    struct kt_diag *diag);

struct kt_kafka_group_offset {
	const char *group_id;
	const char *topic;
	int32_t partition;
	int64_t offset;
	const char *metadata;
};
typedef int (*kt_kafka_group_cb)(void *ctx, const struct kt_kafka_group_offset *g);
/* Lists consumer groups, and for each the committed offsets. group_filter,
 * if not NULL, is called with each group id and returns 1 to keep it. */
enum kt_err kt_kafka_list_group_offsets(struct kt_kafka *k, int (*group_filter)(void *ctx, const char *group),
					kt_kafka_group_cb cb, void *ctx, struct kt_diag *diag);

struct kt_kafka_new_topic {
	const char *name;
	int32_t partitions;
	int32_t replication_factor;
	size_t config_count;
	const char *const *config_names;
	const char *const *config_values;
};
enum kt_err kt_kafka_create_topic(struct kt_kafka *k, const struct kt_kafka_new_topic *t, struct kt_diag *diag);
/* A group's members and state on the cluster (DescribeConsumerGroups):
 * Kafka sets the offsets of a group without members only. A group the
 * cluster does not know has none, state "Dead". */
enum kt_err kt_kafka_group_members(struct kt_kafka *k, const char *group, size_t *out_members, char *state,
				   size_t state_size, struct kt_diag *diag);
/* Whether the cluster answers a request (a metadata request of the topics
 * this client knows) within timeout_ms: a follower with nothing to read
 * tells an idle topic from a cluster that stopped answering. */
int kt_kafka_probe(struct kt_kafka *k, int timeout_ms);
/* Commits offsets for a (inactive) group: AlterConsumerGroupOffsets. */
enum kt_err kt_kafka_alter_group_offsets(struct kt_kafka *k, const char *group, const char *topic,
					 const int32_t *partitions, const int64_t *offsets, size_t count,
					 struct kt_diag *diag);

/* ---- consuming ---- */
struct kt_kafka_assignment {
	const char *topic;
	int32_t partition;
	int64_t offset;
};
/* Replaces the assignment. */
enum kt_err kt_kafka_assign(struct kt_kafka *k, const struct kt_kafka_assignment *parts, size_t count,
			    struct kt_diag *diag);

/* A consumer fetches with up to n librdkafka clients (default 1), at most
 * KT_KAFKA_FETCHERS_MAX. librdkafka fetches and decompresses everything of
 * one broker on one thread per client; the partitions are spread over the
 * clients so that several cores do that work. kt_kafka_poll_batch reads
 * them all, kt_kafka_poll only the first: only for kt_kafka_poll_batch
 * users. Call before the first assignment. */
#define KT_KAFKA_FETCHERS_MAX 8
void kt_kafka_set_fetchers(struct kt_kafka *k, int n);
/* kt_kafka_assign with the work expected of each partition (records to
 * read, say): with several fetchers (kt_kafka_set_fetchers) the heaviest
 * partition goes onto the least loaded of min(fetchers, count) clients, in
 * turn; the extra clients are made on the first call. weights NULL: all
 * alike. */
enum kt_err kt_kafka_assign_weighted(struct kt_kafka *k, const struct kt_kafka_assignment *parts,
				     const int64_t *weights, size_t count, struct kt_diag *diag);
/* Balances assigned partitions over the fetchers (kt_kafka_set_fetchers'
 * count, or all the clients made before where they are more) by the work
 * left in them (weights): one at a time from the most loaded fetcher to
 * the least while that lowers the larger load; unless even, only while
 * the smaller load is under half the larger (a partition that moves is
 * fetched again from where the caller is). Each one whose fetcher changes
 * is read by the new one from parts[i].offset, and what the old one
 * fetched of it is never returned. Give the offsets the caller still
 * needs: everything polled before is dealt with. Partitions not given are
 * left where they are. */
enum kt_err kt_kafka_respread(struct kt_kafka *k, const struct kt_kafka_assignment *parts, const int64_t *weights,
			      size_t count, int even, struct kt_diag *diag);
/* Stops fetching from one partition (it is done). */
enum kt_err kt_kafka_unassign_one(struct kt_kafka *k, const char *topic, int32_t partition, struct kt_diag *diag);
/* Starts fetching one partition again from offset. */
enum kt_err kt_kafka_reassign_one(struct kt_kafka *k, const char *topic, int32_t partition, int64_t offset,
				  struct kt_diag *diag);
/* Adds partitions to the assignment (a follower found them while running),
 * fetched by the first client from parts[i].offset; the others go on
 * undisturbed. A partition of the same name fetched before by another
 * client (a topic recreated) must have been unassigned: what that client
 * still has queued of it is never returned. */
enum kt_err kt_kafka_assign_more(struct kt_kafka *k, const struct kt_kafka_assignment *parts, size_t count,
				 struct kt_diag *diag);
/* The consumer's position in a partition (next offset to fetch), -1 if unknown. */
int64_t kt_kafka_position(struct kt_kafka *k, const char *topic, int32_t partition);
/* The end of an assigned partition as its last fetch response said, -1 if
 * none came yet: the high watermark, or the last stable offset for a
 * read_committed consumer (what it can read). Asks the cluster nothing, so
 * a follower can watch its lag at no cost. */
int64_t kt_kafka_cached_end(struct kt_kafka *k, const char *topic, int32_t partition);
/* How many errors librdkafka reported (error_cb: brokers down, transport,
 * authentication) since the client was opened; the client retries most. */
uint64_t kt_kafka_error_count(struct kt_kafka *k);
/* How many times a consumer woke its brokers after its queue had been
 * full and drained (kt_kick.h): librdkafka 2.0.2 would have waited up to
 * a second before fetching again. */
unsigned long kt_kafka_kick_count(struct kt_kafka *k);

enum kt_kafka_event {
	KT_KAFKA_NONE,	      /* nothing within the timeout */
	KT_KAFKA_RECORD,      /* msg->rec holds a record */
	KT_KAFKA_EOF,	      /* reached the end of msg->partition, at msg->rec.offset */
	KT_KAFKA_OFFSET_GONE, /* the next offset of msg->partition no longer exists (retention) */
};
struct kt_kafka_msg {
	enum kt_kafka_event event;
	const char *topic;
	int32_t partition;
	struct kt_record rec;
	size_t size; /* key + value + headers bytes */
};
/* Waits up to timeout_ms. A fatal or partition error is returned as
 * KT_ERR_KAFKA with the message in diag. */
enum kt_err kt_kafka_poll(struct kt_kafka *k, int timeout_ms, struct kt_kafka_msg *msg, struct kt_diag *diag);

/* ---- consuming in batches ----
 * A batch owns the messages of one kt_kafka_poll_batch until the next poll
 * into it, kt_kafka_batch_release or kt_kafka_batch_free: its record views
 * may be read on another thread than the one that polls, so that decoding
 * and compressing overlap the next fetch. One batch is used by one thread
 * at a time. */
struct kt_kafka_batch;

enum kt_err kt_kafka_batch_new(size_t max, struct kt_kafka_batch **out);
void kt_kafka_batch_free(struct kt_kafka_batch *b);
/* Releases b's messages, then waits up to timeout_ms for the first message
 * and takes, without waiting, what is queued behind it (at most the batch's
 * max). *out_count is 0 when nothing came within the timeout. */
enum kt_err kt_kafka_poll_batch(struct kt_kafka *k, int timeout_ms, struct kt_kafka_batch *b, size_t *out_count,
				struct kt_diag *diag);
/* Makes a kt_kafka_poll_batch that waits on another thread return now (or
 * the next one, if none waits), with nothing if nothing came. */
void kt_kafka_wake(struct kt_kafka *k);
size_t kt_kafka_batch_count(const struct kt_kafka_batch *b);
/* 1 if message i is a record (not an end, a lost offset or an error). */
int kt_kafka_batch_is_record(const struct kt_kafka_batch *b, size_t i);
/* Message i as kt_kafka_poll gives it. The record view (headers included)
 * is valid until the next kt_kafka_batch_msg on b or b's release. */
enum kt_err kt_kafka_batch_msg(struct kt_kafka_batch *b, size_t i, struct kt_kafka_msg *msg, struct kt_diag *diag);
void kt_kafka_batch_release(struct kt_kafka_batch *b);

/* ---- producing ---- */
/* Called from kt_kafka_produce_poll() for every delivery report. err is
 * KT_OK, or KT_ERR_KAFKA (KT_ERR_TIMEOUT for a record that timed out) with
 * a message, or KT_ERR_STATE for a record not sent because the producer had
 * stopped on another record's failure (that record's report names the
 * cause, and may come later); offset is the record's offset in the target
 * (-1 on error); opaque is what kt_kafka_produce was given. */
typedef void (*kt_kafka_delivery_cb)(void *ctx, enum kt_err err, const char *errmsg, int32_t partition, int64_t offset,
				     void *opaque);
void kt_kafka_set_delivery_cb(struct kt_kafka *k, kt_kafka_delivery_cb cb, void *ctx);
/* Queues one record (copied). partition -1: the murmur2 partitioner picks
 * (as Java clients do for keyed records). KT_ERR_LIMIT when the local queue
 * is full: poll and try again. */
enum kt_err kt_kafka_produce(struct kt_kafka *k, const char *topic, int32_t partition, const struct kt_record *rec,
			     const struct kt_header *extra_headers, size_t extra_count, void *opaque,
			     struct kt_diag *diag);
/* Serves delivery reports. */
void kt_kafka_produce_poll(struct kt_kafka *k, int timeout_ms);
/* Whether the producer has stopped for good (a fatal error: with the
 * gapless guarantee, a record that failed); kt_kafka_produce then refuses
 * every record. */
int kt_kafka_stopped(struct kt_kafka *k);
/* Waits until everything queued was delivered or failed. */
enum kt_err kt_kafka_flush(struct kt_kafka *k, int timeout_ms, struct kt_diag *diag);
/* Messages still queued or in flight. */
int kt_kafka_outq_len(struct kt_kafka *k);
/* Which partition Kafka's default partitioner (murmur2, as the Java
 * client) picks for a key among n partitions. */
int32_t kt_kafka_murmur2_partition(const uint8_t *key, size_t len, int32_t n);

#endif
