/* kt_compare.h - compares topics in a cluster with the archive, record by
 * record (key, value, headers, timestamp, order per partition): the check
 * of a disaster-recovery drill. Read-only for both sides. */
#ifndef KT_COMPARE_H
#define KT_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"
#include "kt_kafka.h"
#include "kt_restore.h"

struct kt_compare_opts {
	const char *bootstrap;
	const char *archive;
	const char *const *topics;
	size_t topic_count;
	const int32_t *partitions;
	size_t partition_count;
	int64_t generation;
	int64_t from_offset, to_offset; /* as restore */
	int64_t from_time, to_time;
	const struct kt_restore_map_arg *maps;
	size_t map_count;
	const char *topic_prefix;
	int ignore_timestamps; /* for LogAppendTime targets */
	int max_report;	       /* differences described (default 10) */
	const struct kt_kafka_conf *conf;
	int64_t timeout_ms;
	void (*on_difference)(void *ctx, const char *msg);
	void *cb_ctx;
	const struct kt_crypto_key *key; /* borrowed: reads encrypted segments */
};

struct kt_compare_result {
	uint64_t compared; /* pairs looked at */
	uint64_t equal;
	uint64_t different;
	uint64_t missing; /* in the archive, not in the cluster */
	uint64_t extra;	  /* in the cluster, not in the archive */
	int partitions;
};

/* KT_OK when everything is equal, KT_ERR_MISMATCH when not. */
enum kt_err kt_compare_run(const struct kt_compare_opts *opts, struct kt_compare_result *res, struct kt_diag *diag);

#endif
