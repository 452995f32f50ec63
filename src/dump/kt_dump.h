/* kt_dump.h - the dump engine: reads topic ranges from a cluster into an
 * archive (segments + catalog), with topic metadata and consumer group
 * offsets, as one run.
 *
 * Owns: nothing after it returns but struct kt_dump_result, which the caller
 * frees with kt_dump_result_free(). Prints nothing: progress and warnings go
 * to the callbacks in the options.
 *
 * Range semantics (docs/ktape.1): per partition, from the first offset to
 * the end offset, end excluded. The default start is where the previous dump
 * of the archive ended (or the log start the first time); the default end is
 * the high watermark read at the start of the run, so a run is a snapshot
 * and always ends; with follow set, there is no end: the run archives what
 * arrives until it is stopped.
 */
#ifndef KT_DUMP_H
#define KT_DUMP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_crypto.h"
#include "kt_error.h"
#include "kt_kafka.h"

#define KT_DUMP_DEFAULT_COMMIT_INTERVAL_MS 30000
/* --follow commits more often: what the broker acknowledged is durable in
 * the archive within this plus the fetch latency */
#define KT_DUMP_FOLLOW_COMMIT_INTERVAL_MS 10000
/* --follow reads the topics' metadata (new partitions and topics, topics
 * deleted or recreated) and the consumer groups' offsets this often */
#define KT_DUMP_FOLLOW_META_INTERVAL_MS 60000

struct kt_dump_result;

struct kt_dump_progress {
	uint64_t records;
	uint64_t payload_bytes;
	uint64_t expected_records; /* upper bound: sum of end - start offsets */
	int partitions_done;
	int partitions_total;
	double seconds;
};

struct kt_dump_opts {
	const char *bootstrap;
	const char *archive;
	const char *const *topics; /* explicit names (internal ones allowed) */
	size_t topic_count;
	const char *topic_regex; /* POSIX extended */
	const char *exclude_regex;
	const int32_t *partitions; /* NULL/0: all */
	size_t partition_count;
	int64_t from_offset; /* -1: not given */
	int64_t from_time;   /* INT64_MIN: not given */
	int64_t to_offset;   /* -1: not given (exclusive end) */
	int64_t to_time;     /* INT64_MIN: not given (exclusive) */
	const struct kt_kafka_conf *conf;
	int zstd_level;
	size_t block_bytes;
	uint64_t segment_bytes; /* raw bytes per segment before rolling over */
	/* open segments are committed this often, so a kill loses at most this
	 * much work: 0 for KT_DUMP_DEFAULT_COMMIT_INTERVAL_MS, negative for
	 * never (only when a segment is full and at the end) */
	int64_t commit_interval_ms;
	int read_uncommitted;
	const char *groups_regex; /* NULL: groups with offsets on dumped topics */
	int64_t timeout_ms;	  /* fail when nothing arrives for this long */
	const char *args;	  /* command line for the run record, secrets redacted */
	const char *tool_version;
	volatile sig_atomic_t *stop; /* set by a signal handler: finish cleanly */
	/* continuous backup: partitions never end at the high watermark; the
	 * run goes on, committing every commit interval, until *stop (then it
	 * ends "ok") or an error. Without an explicit end only. */
	int follow;
	/* following: after each commit, fanout adjacent small segments of a
	 * partition merge into one, never across an age window of
	 * segment_age_ms of commit times, and a window that is over merges
	 * whole (kt_archive_compact.h); 0 for the defaults (8, one hour),
	 * compact_fanout negative for no merging */
	int compact_fanout;
	int64_t segment_age_ms;
	/* following: the topics' metadata is read again this often (new
	 * partitions, new topics the selection picks, topics deleted or
	 * recreated), and the consumer groups' offsets are archived as a
	 * snapshot this often; 0 for KT_DUMP_FOLLOW_META_INTERVAL_MS */
	int64_t metadata_interval_ms;
	int64_t groups_interval_ms;
	void (*on_progress)(void *ctx, const struct kt_dump_progress *p);
	void (*on_warning)(void *ctx, const char *msg);
	/* following: after each commit interval's commit, with the result so
	 * far (records, bytes, seconds), e.g. to rewrite a metrics file */
	void (*on_commit)(void *ctx, const struct kt_dump_result *r);
	void *cb_ctx;
	/* borrowed: encrypts every segment (format 2.1); the archive must be
	 * empty or encrypted with the same key (kt_archive_use_key) */
	const struct kt_crypto_key *key;
	/* writes the shard of this worker id (format/SPEC.md 10.8) instead
	 * of the archive's root; NULL: the root. Either way a dump starts
	 * where the union of the root and its shards ends. */
	const char *worker_id;
	/* following: a member of this Kafka consumer group, which assigns
	 * the partitions (kt_dump_group.c); needs worker_id */
	const char *worker_group;
};

struct kt_dump_topic_result {
	char *topic;
	uint32_t generation;
	int32_t partitions;
	uint64_t records;
	uint64_t payload_bytes;
	uint64_t lost_records; /* lost to retention before this run */
	uint64_t file_bytes;   /* bytes of the segments this run committed */
};

/* One partition's position, for monitoring: lag = end - archived_end. */
struct kt_dump_partition_result {
	size_t topic; /* index into kt_dump_result.topics */
	int32_t partition;
	int64_t archived_end; /* everything before it is archived */
	int64_t end;	      /* readable end last seen (the last stable offset in read_committed) */
};

struct kt_dump_result {
	int64_t run_id;
	uint64_t compactions;	     /* following: merged segments written */
	uint64_t compacted_segments; /* the segments they replaced */
	uint64_t records;
	uint64_t payload_bytes;
	uint64_t raw_bytes;
	uint64_t file_bytes;
	int segments;
	int partitions;
	int64_t lag;	    /* readable records not archived at the end: up to the last stable offset */
	int64_t unreadable; /* records between the last stable offset and the high watermark (open
			     * transactions): not readable yet, archived by a later dump */
	double seconds;
	int data_lost;
	char cluster_id[128];
	struct kt_dump_topic_result *topics;
	size_t topic_count;
	char **warnings;
	size_t warning_count;
	int groups; /* consumer groups whose offsets were archived */
	/* polls that waited their whole timeout while partitions were
	 * unfinished: a handful at most when fetching keeps up (issue #19) */
	uint64_t empty_polls;
	/* times a client's brokers were woken after its queue had filled and
	 * drained (kt_kafka_kick_count) */
	uint64_t kicks;
	/* librdkafka clients that fetched: 2 once the records proved large
	 * (kt_dump.c, FETCHERS) */
	int fetchers;
	/* filled at every commit of a follower (before on_commit) and at the
	 * end of the run */
	struct kt_dump_partition_result *parts;
	size_t part_count;
	int64_t last_commit_ms; /* wall time of the last successful commit, 0: none yet */
	uint64_t kafka_errors;	/* errors librdkafka reported (it retries them) */
	int failed_partitions;	/* partitions given up on (their archive writes failed) */
	/* --worker-group: segment files of the shard no catalog listed,
	 * removed by its recovery at the start, and the offsets they covered
	 * (archived again by the group: written twice) */
	int unlisted_removed;
	int64_t unlisted_offsets;
};

enum kt_err kt_dump_run(const struct kt_dump_opts *opts, struct kt_dump_result *res, struct kt_diag *diag);
void kt_dump_result_free(struct kt_dump_result *res);

#endif
