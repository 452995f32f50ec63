/* kt_restore.h - the restore engine: plays archived ranges back into a
 * cluster, keys, headers, timestamps and (by default) partitions kept, at a
 * limited rate or the original pace; creates missing topics from the
 * archived metadata; records offset maps and translates consumer group
 * offsets; resumes after a crash.
 *
 * Owns: nothing after it returns but struct kt_restore_result (freed with
 * kt_restore_result_free). Prints nothing: plan lines, progress and warnings
 * go to the callbacks.
 *
 * Selection: per source partition, records whose offset is in
 * [from_offset, to_offset) and whose timestamp is in [from_time, to_time), in
 * offset order. Timestamps need not grow, so a time window is exactly the
 * records whose timestamp lies in it, not an offset range.
 *
 * An erasure list (drop_keys): selected records whose key is in the set are
 * read but not written. The offset maps then have holes in the source
 * offsets only, so a group committed after a dropped record translates to
 * the target offset of the next record kept. The list's checksum and the
 * count dropped go into the run's message; the list is not stored.
 */
#ifndef KT_RESTORE_H
#define KT_RESTORE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_crypto.h"
#include "kt_error.h"
#include "kt_kafka.h"
#include "kt_keyset.h"

struct kt_restore_map_arg {
	const char *src;
	const char *dst;
};

struct kt_restore_progress {
	uint64_t records;
	uint64_t bytes;
	uint64_t expected_records;
	double seconds;
};

struct kt_restore_plan_line {
	const char *src_topic;
	int32_t src_partition;
	const char *dst_topic;
	int32_t dst_partition;		   /* -1: by key */
	int64_t first_offset, last_offset; /* of the selected records; -1 if none */
	uint64_t records;		   /* that would be written */
	uint64_t bytes;
	uint64_t dropped; /* selected records the erasure list drops */
};

/* One translated group offset: what is set on the target (or, in a plan,
 * would be). */
struct kt_restore_group_offset {
	const char *group;
	const char *topic; /* the target topic */
	int32_t partition;
	int64_t offset;
};

struct kt_restore_opts {
	const char *bootstrap;
	const char *archive;
	const char *const *topics;
	size_t topic_count;
	const char *topic_regex;
	const int32_t *partitions;
	size_t partition_count;
	int64_t generation;  /* -1: the newest of each topic */
	int64_t from_offset; /* -1: none */
	int64_t to_offset;   /* -1: none; exclusive */
	int64_t from_time;   /* INT64_MIN: none */
	int64_t to_time;     /* INT64_MIN: none; exclusive */
	const struct kt_restore_map_arg *maps;
	size_t map_count;
	const char *topic_prefix;
	int by_key; /* --partitioning key */
	int create_topics;
	int replication_factor; /* 0: archived, capped at the broker count */
	int allow_nonempty;
	int allow_gaps; /* restore a selection that spans offsets the archive lost (missing ranges) */
	double rate_msgs;
	double rate_bytes;
	double speed; /* > 0: original pace at this speed */
	int64_t max_idle_ms;
	int restore_groups;
	const char *groups_regex;
	int origin_headers;
	int dry_run;
	const struct kt_kafka_conf *conf;
	int64_t timeout_ms;
	const char *args;
	const char *tool_version;
	volatile sig_atomic_t *stop;
	void (*on_plan)(void *ctx, const struct kt_restore_plan_line *line);
	void (*on_progress)(void *ctx, const struct kt_restore_progress *p);
	void (*on_warning)(void *ctx, const char *msg);
	void *cb_ctx;
	const struct kt_crypto_key *key;   /* borrowed: reads encrypted segments */
	const struct kt_keyset *drop_keys; /* borrowed; NULL: none */
	const char *drop_keys_sum;	   /* the list's checksum, "sha256:HEX", for the run */
	/* each group offset set (kt_restore_groups with dry_run: planned) */
	void (*on_group_offset)(void *ctx, const struct kt_restore_group_offset *g);
	/* kt_restore_groups: the source offsets from this GROUP,TOPIC,PARTITION,
	 * OFFSET file instead of the archive's snapshot; NULL: the archive's */
	const char *group_offsets_file;
	/* kt_restore_groups: or the committed offsets of this (source) cluster
	 * now, read with the same client properties */
	const char *group_source_bootstrap;
	/* restore --at, groups --at: the groups' offsets of the newest group
	 * snapshot taken at or before at_ms (a follower takes one every
	 * --groups-interval) instead of the latest (restore --at also ends the
	 * selection there: to_time) */
	int at_given;
	int64_t at_ms;
};

struct kt_restore_result {
	int64_t run_id;
	int64_t resumed_from_run; /* 0 unless this continued a crashed restore */
	uint64_t records;
	uint64_t bytes;
	uint64_t skipped_on_resume;
	uint64_t dropped; /* records the erasure list kept out (a dry run: would) */
	double seconds;
	int topics_created;
	int groups_restored;
	/* with at_given: when the group snapshot used was taken (the newest of
	 * the topics'), -1 when there was none at or before at_ms */
	int64_t groups_snapshot_ms;
	/* an archive in a bucket: requests made and bytes fetched (zero for a
	 * directory) */
	uint64_t storage_requests;
	uint64_t storage_bytes_fetched;
	char **warnings;
	size_t warning_count;
};

enum kt_err kt_restore_run(const struct kt_restore_opts *opts, struct kt_restore_result *res, struct kt_diag *diag);
void kt_restore_result_free(struct kt_restore_result *res);

/* ktape groups: sets the archived consumer groups' offsets (the latest
 * group snapshot; groups_regex selects) on the target cluster, translated
 * with the offset maps of the newest successful restore into that cluster
 * (same cluster id, --partitioning same) of each topic, by the same code
 * as restore --groups. Uses bootstrap, archive, topics, groups_regex,
 * group_offsets_file,
 * dry_run (translate and report through on_group_offset, set nothing),
 * conf, timeout_ms, key, on_group_offset, on_warning. A group with active
 * members on the target is KT_ERR_EXISTS naming it. res->groups_restored
 * counts the groups set (or planned). */
enum kt_err kt_restore_groups(const struct kt_restore_opts *opts, struct kt_restore_result *res, struct kt_diag *diag);

#endif
