/* kt_catalog.h - catalog.db: the SQLite index of an archive (schema in
 * format/catalog.sql, compiled in).
 *
 * Owns: struct kt_catalog, the database connection and its prepared
 * statements. Knows SQL and nothing of files, Kafka or the segment format
 * beyond the summary structures it stores.
 *
 * Every write happens inside kt_catalog_begin()/kt_catalog_commit(); the
 * database runs in WAL mode so that readers (ls, cat, verify) see the last
 * committed state while a dump writes. Strings in the view structures passed
 * to callbacks are borrowed: valid only during the callback.
 */
#ifndef KT_CATALOG_H
#define KT_CATALOG_H

#include <stdint.h>

#include "kt_buf.h"
#include "kt_error.h"
#include "kt_segment.h"

#define KT_CATALOG_SCHEMA_VERSION 3

enum kt_catalog_mode {
	KT_CATALOG_READ,   /* read-only; fails if the file is missing */
	KT_CATALOG_WRITE,  /* read-write; fails if the file is missing */
	KT_CATALOG_CREATE, /* read-write; creates the schema in a new file */
};

struct kt_catalog;

/* Fails with KT_ERR_VERSION for a newer schema, KT_ERR_FORMAT when the file
 * is damaged or not a ktape catalog (the message suggests `ktape reindex`),
 * and with what failed otherwise (KT_ERR_IO, KT_ERR_LOCKED, ...). */
enum kt_err kt_catalog_open(const char *path, enum kt_catalog_mode mode, struct kt_catalog **out, struct kt_diag *diag);
void kt_catalog_close(struct kt_catalog *cat);

enum kt_err kt_catalog_begin(struct kt_catalog *cat, struct kt_diag *diag);
enum kt_err kt_catalog_commit(struct kt_catalog *cat, struct kt_diag *diag);
void kt_catalog_rollback(struct kt_catalog *cat);
/* A consistent copy of the whole catalog in one new file at path (VACUUM
 * INTO: no WAL beside it), for an archive in object storage to upload.
 * path must not exist. Not inside a transaction. */
enum kt_err kt_catalog_snapshot(struct kt_catalog *cat, const char *path, struct kt_diag *diag);
/* PRAGMA quick_check: KT_ERR_CATALOG with the first problem if damaged. */
enum kt_err kt_catalog_check(struct kt_catalog *cat, struct kt_diag *diag);

enum kt_err kt_catalog_set_meta(struct kt_catalog *cat, const char *key, const char *value, struct kt_diag *diag);
/* Copies the value into buf; KT_ERR_NOT_FOUND if absent. */
enum kt_err kt_catalog_get_meta(struct kt_catalog *cat, const char *key, char *buf, size_t bufsize,
				struct kt_diag *diag);

/* ---- runs ---- */
struct kt_catalog_run {
	int64_t run_id;
	const char *kind;
	int64_t started_ms;
	int64_t ended_ms; /* -1 while running */
	const char *status;
	const char *args;
	const char *tool_version;
	const char *cluster_id; /* may be NULL */
	const char *bootstrap;	/* may be NULL */
	int64_t records;
	int64_t bytes;
	const char *message;   /* may be NULL */
	const char *selection; /* may be NULL */
};
typedef int (*kt_catalog_run_cb)(void *ctx, const struct kt_catalog_run *run);

/* Inserts a run with status 'running' (explicit run_id > 0, or 0 for the next). */
enum kt_err kt_catalog_run_begin(struct kt_catalog *cat, const struct kt_catalog_run *run, int64_t *out_run_id,
				 struct kt_diag *diag);
enum kt_err kt_catalog_run_end(struct kt_catalog *cat, int64_t run_id, const char *status, int64_t records,
			       int64_t bytes, const char *message, int64_t ended_ms, struct kt_diag *diag);
enum kt_err kt_catalog_run_set_cluster(struct kt_catalog *cat, int64_t run_id, const char *cluster_id,
				       struct kt_diag *diag);
/* Whether the process of a 'running' run is still alive (non-zero: it is). */
typedef int (*kt_catalog_alive_cb)(void *ctx, int64_t run_id);
/* Runs left 'running' by a process that died become 'crashed'; with alive
 * set, runs it says are alive are left alone (a restore runs beside the
 * writer, without its lock). Call only while holding the archive lock.
 * *out_count: how many. */
enum kt_err kt_catalog_runs_mark_crashed(struct kt_catalog *cat, int64_t now_ms, kt_catalog_alive_cb alive,
					 void *alive_ctx, int *out_count, struct kt_diag *diag);
/* Sets a run's records and bytes to those of the segments it committed (the
 * catalog's segments rows with its run_id), so that the runs table says what
 * the archive holds even for a run that failed or crashed. out_records and
 * out_bytes (may be NULL) receive the counts. */
enum kt_err kt_catalog_run_recount(struct kt_catalog *cat, int64_t run_id, int64_t *out_records, int64_t *out_bytes,
				   struct kt_diag *diag);
/* Runs in run_id order. A callback returning non-zero stops the walk. */
enum kt_err kt_catalog_each_run(struct kt_catalog *cat, kt_catalog_run_cb cb, void *ctx, struct kt_diag *diag);

/* ---- segments and blocks ---- */
struct kt_catalog_segment {
	int64_t segment_id;
	const char *path; /* relative to the archive directory */
	const char *topic;
	uint32_t generation;
	int32_t partition;
	struct kt_segment_summary sum;
	int64_t run_id; /* 0 when unknown (recovered or reindexed) */
	/* schema 3: when the catalog commit that recorded it was made (ms);
	 * 0 when unknown (older rows, recovered, reindexed from metadata
	 * before 1.2) */
	int64_t committed_ms;
};
typedef int (*kt_catalog_segment_cb)(void *ctx, const struct kt_catalog_segment *seg);

/* Inserts the segment and its blocks (prefix_max_ts computed here). */
enum kt_err kt_catalog_add_segment(struct kt_catalog *cat, const struct kt_catalog_segment *seg,
				   const struct kt_block_info *blocks, uint32_t block_count, int64_t *out_segment_id,
				   struct kt_diag *diag);
enum kt_err kt_catalog_delete_segment(struct kt_catalog *cat, int64_t segment_id, struct kt_diag *diag);
/* Recomputes prefix_max_ts of one partition (after deletions). */
enum kt_err kt_catalog_fix_prefix_max(struct kt_catalog *cat, const char *topic, uint32_t generation, int32_t partition,
				      struct kt_diag *diag);
enum kt_err kt_catalog_has_segment(struct kt_catalog *cat, const char *path, int *out_found, struct kt_diag *diag);
/* Segments ordered by topic, generation, partition, first offset; topic NULL
 * for all topics. */
enum kt_err kt_catalog_each_segment(struct kt_catalog *cat, const char *topic, kt_catalog_segment_cb cb, void *ctx,
				    struct kt_diag *diag);
/* Segments of one partition that hold offsets in [first, last], in offset
 * order: how a file the catalog does not list relates to those it does
 * (recovery and reindex, after a compaction was interrupted). */
enum kt_err kt_catalog_each_segment_overlapping(struct kt_catalog *cat, const char *topic, uint32_t generation,
						int32_t partition, int64_t first, int64_t last,
						kt_catalog_segment_cb cb, void *ctx, struct kt_diag *diag);

struct kt_catalog_block {
	const char *path; /* of the segment */
	int64_t segment_id;
	struct kt_block_info info; /* base_timestamp and data_crc are not stored (0) */
	int64_t prefix_max_ts;
};
typedef int (*kt_catalog_block_cb)(void *ctx, const struct kt_catalog_block *blk);

/* Blocks of a partition that can hold offsets in [from, to], in offset order. */
enum kt_err kt_catalog_blocks_in_range(struct kt_catalog *cat, const char *topic, uint32_t generation,
				       int32_t partition, int64_t from, int64_t to, kt_catalog_block_cb cb, void *ctx,
				       struct kt_diag *diag);
/* The first block (in offset order) that can hold a timestamp >= ts. */
enum kt_err kt_catalog_first_block_at_time(struct kt_catalog *cat, const char *topic, uint32_t generation,
					   int32_t partition, int64_t ts, int64_t *out_first_offset, int *out_found,
					   struct kt_diag *diag);

/* ---- per-partition progress of dump runs ---- */
struct kt_catalog_prun {
	int64_t run_id;
	const char *topic;
	uint32_t generation;
	int32_t partition;
	int64_t log_start;
	int64_t high_watermark;
	int64_t from_offset;
	int64_t to_end;
	int64_t done_end;
	int64_t records;
	int64_t lost_from; /* -1 when nothing was lost */
	int64_t lost_end;
};
typedef int (*kt_catalog_prun_cb)(void *ctx, const struct kt_catalog_prun *p);

enum kt_err kt_catalog_put_prun(struct kt_catalog *cat, const struct kt_catalog_prun *p, struct kt_diag *diag);
/* Where the next dump of a partition starts: the larger of the furthest
 * done_end of any run and the offset after the newest segment. */
enum kt_err kt_catalog_resume_end(struct kt_catalog *cat, const char *topic, uint32_t generation, int32_t partition,
				  int64_t *out_end, int *out_found, struct kt_diag *diag);
/* The log start offset the newest dump run saw (-1 if none did). */
enum kt_err kt_catalog_last_log_start(struct kt_catalog *cat, const char *topic, uint32_t generation, int32_t partition,
				      int64_t *out_low, struct kt_diag *diag);
/* Ordered by topic, generation, partition, run. topic NULL for all. */
enum kt_err kt_catalog_each_prun(struct kt_catalog *cat, const char *topic, kt_catalog_prun_cb cb, void *ctx,
				 struct kt_diag *diag);

/* ---- topics, configs, groups ---- */
enum kt_err kt_catalog_current_generation(struct kt_catalog *cat, const char *topic, uint32_t *out_gen, int *out_found,
					  struct kt_diag *diag);
enum kt_err kt_catalog_add_generation(struct kt_catalog *cat, const char *topic, uint32_t generation, int64_t run_id,
				      const char *reason, struct kt_diag *diag);

struct kt_catalog_topic {
	int64_t run_id;
	const char *topic;
	uint32_t generation;
	int32_t partitions;
	int32_t replication_factor;
};
typedef int (*kt_catalog_topic_cb)(void *ctx, const struct kt_catalog_topic *t);
struct kt_catalog_config {
	int64_t run_id;
	const char *topic;
	const char *name;
	const char *value; /* NULL for sensitive or null values */
	const char *source;
};
typedef int (*kt_catalog_config_cb)(void *ctx, const struct kt_catalog_config *c);
struct kt_catalog_group_offset {
	int64_t run_id;
	const char *group_id;
	const char *topic;
	uint32_t generation;
	int32_t partition;
	int64_t offset;
	const char *metadata;
};
typedef int (*kt_catalog_group_cb)(void *ctx, const struct kt_catalog_group_offset *g);

enum kt_err kt_catalog_put_topic(struct kt_catalog *cat, const struct kt_catalog_topic *t, struct kt_diag *diag);
enum kt_err kt_catalog_put_config(struct kt_catalog *cat, const struct kt_catalog_config *c, struct kt_diag *diag);
enum kt_err kt_catalog_put_group_offset(struct kt_catalog *cat, const struct kt_catalog_group_offset *g,
					struct kt_diag *diag);
/* Removes the run's group_offsets rows: a follower's capture replaces the
 * one before (its group_snapshots rows stay). */
enum kt_err kt_catalog_drop_group_offsets(struct kt_catalog *cat, int64_t run_id, struct kt_diag *diag);
/* The newest snapshot of each topic (topic NULL: all topics). */
enum kt_err kt_catalog_each_latest_topic(struct kt_catalog *cat, const char *topic, kt_catalog_topic_cb cb, void *ctx,
					 struct kt_diag *diag);
enum kt_err kt_catalog_each_config(struct kt_catalog *cat, int64_t run_id, const char *topic, kt_catalog_config_cb cb,
				   void *ctx, struct kt_diag *diag);
/* Schema 3: one capture of group offsets, taken at taken_ms (run_id from g). */
enum kt_err kt_catalog_put_group_snapshot(struct kt_catalog *cat, int64_t taken_ms,
					  const struct kt_catalog_group_offset *g, struct kt_diag *diag);
/* The group offsets as of at_ms: the rows of the newest capture taken at or
 * before at_ms (runs without captures, from before schema 3, count their
 * group_offsets as taken at their start), for one topic (NULL: all; a
 * topic: the newest capture that holds it), by group, topic, partition. *out_taken_ms is that capture's time, -1 when
 * there is none. */
enum kt_err kt_catalog_each_group_snapshot_at(struct kt_catalog *cat, const char *topic, int64_t at_ms,
					      kt_catalog_group_cb cb, void *ctx, int64_t *out_taken_ms,
					      struct kt_diag *diag);
/* Group offsets of the newest run that recorded any for the topic. */
enum kt_err kt_catalog_each_latest_group_offset(struct kt_catalog *cat, const char *topic, kt_catalog_group_cb cb,
						void *ctx, struct kt_diag *diag);

/* ---- restore offset maps ---- */
struct kt_catalog_restore_map {
	int64_t run_id;
	const char *src_topic;
	uint32_t src_generation;
	int32_t src_partition;
	const char *dst_topic;
	int32_t dst_partition;
	int64_t src_first;
	int64_t src_last;
	int64_t dst_first;
	int64_t records;
};
typedef int (*kt_catalog_map_cb)(void *ctx, const struct kt_catalog_restore_map *m);
enum kt_err kt_catalog_put_restore_map(struct kt_catalog *cat, const struct kt_catalog_restore_map *m,
				       struct kt_diag *diag);
/* Maps of one run (run_id 0: every run) for a source partition, by src_first. */
enum kt_err kt_catalog_each_restore_map(struct kt_catalog *cat, int64_t run_id, const char *src_topic,
					int32_t src_partition, kt_catalog_map_cb cb, void *ctx, struct kt_diag *diag);

/* The target's high watermark before a restore first wrote to a partition. */
/* Forgets where a run's target partitions started, so it is never resumed. */
enum kt_err kt_catalog_drop_restore_bases(struct kt_catalog *cat, int64_t run_id, struct kt_diag *diag);
enum kt_err kt_catalog_put_restore_base(struct kt_catalog *cat, int64_t run_id, const char *dst_topic,
					int32_t dst_partition, int64_t base, struct kt_diag *diag);
enum kt_err kt_catalog_get_restore_base(struct kt_catalog *cat, int64_t run_id, const char *dst_topic,
					int32_t dst_partition, int64_t *out_base, int *out_found, struct kt_diag *diag);

/* ---- missing ranges (schema version 2) ---- */
/* Offsets the archive once held and can no longer deliver (a committed
 * segment whose file is gone, the unreadable part of a damaged file). A
 * catalog of version 1 opened read-only has none. */
struct kt_catalog_missing {
	const char *topic;
	uint32_t generation;
	int32_t partition;
	int64_t first_offset;
	int64_t last_offset; /* inclusive */
	const char *path;    /* the segment file they were in */
	const char *reason;
};
typedef int (*kt_catalog_missing_cb)(void *ctx, const struct kt_catalog_missing *m);
enum kt_err kt_catalog_add_missing(struct kt_catalog *cat, const struct kt_catalog_missing *m, struct kt_diag *diag);
/* Ordered by topic, generation, partition, first offset; topic NULL: all. */
enum kt_err kt_catalog_each_missing(struct kt_catalog *cat, const char *topic, kt_catalog_missing_cb cb, void *ctx,
				    struct kt_diag *diag);
/* Forgets the missing ranges recorded for a segment file (before it is
 * indexed again). */
enum kt_err kt_catalog_drop_missing_path(struct kt_catalog *cat, const char *path, struct kt_diag *diag);
/* After reindex imported the runs' claims (run_segments) and indexed the
 * files: a claimed segment that is indexed gets its run back; one that is
 * not, and that no prune removed, becomes a missing range. *out_missing:
 * how many claims were gone. */
enum kt_err kt_catalog_settle_claims(struct kt_catalog *cat, int *out_missing, struct kt_diag *diag);
/* Prune: records that run_id removed the segment at path on purpose, so a
 * reindex does not take its absence for a hole. */
enum kt_err kt_catalog_note_pruned(struct kt_catalog *cat, int64_t run_id, const char *path, struct kt_diag *diag);
/* Whether an erasure (a prune run given --erase-keys) removed the segment
 * at path: such a file, found again unlisted after a crash, is removed and
 * never indexed again (its records were erased, SPEC 10.9). */
enum kt_err kt_catalog_erased_path(struct kt_catalog *cat, const char *path, int *out_found, struct kt_diag *diag);
/* The segments the catalog lists whose path an erasure noted as pruned: it
 * was killed between noting a segment erased whole and deleting its row
 * (SPEC 10.9), and the next writer completes it. */
enum kt_err kt_catalog_each_erased_segment(struct kt_catalog *cat, kt_catalog_segment_cb cb, void *ctx,
					   struct kt_diag *diag);
/* The newest prune run given --erase-keys (*out_found 0: none): the one
 * whose interrupted swap a writer's recovery completes (SPEC 10.9). */
enum kt_err kt_catalog_erasing_run(struct kt_catalog *cat, int64_t *out_run_id, int *out_found, struct kt_diag *diag);
/* Prune: drops the missing ranges of a partition that end below offset
 * `below` (the prune removed everything there), noting their paths as
 * pruned by run_id. */
enum kt_err kt_catalog_prune_missing_below(struct kt_catalog *cat, int64_t run_id, const char *topic,
					   uint32_t generation, int32_t partition, int64_t below, struct kt_diag *diag);

/* ---- run metadata export/import (the meta directory's .ktm files, for reindex) ---- */
/* Appends every catalog row that belongs to run_id (the run itself, its
 * partition progress, topic generations, snapshots, configs, group offsets,
 * restore maps and bases, the segments it committed and the ones it pruned)
 * to out, in the row encoding of format/SPEC.md
 * "Metadata files". */
enum kt_err kt_catalog_export_run(struct kt_catalog *cat, int64_t run_id, struct kt_buf *out, struct kt_diag *diag);
/* Inserts rows produced by kt_catalog_export_run (INSERT OR REPLACE). */
enum kt_err kt_catalog_import_rows(struct kt_catalog *cat, const uint8_t *data, size_t len, struct kt_diag *diag);

/* ---- the union of a sharded archive (format/SPEC.md 10.8) ---- */
/* Copies every row of the catalog at src_path (a private copy, never a
 * live catalog) into dst, a catalog made for the union: paths prefixed
 * with prefix ("" for the root, "shards/ID/" for a shard), run ids shifted
 * by run_off, segment ids renumbered; a row dst has already is kept. The
 * root's archive table becomes dst's. */
enum kt_err kt_catalog_union_add(struct kt_catalog *dst, const char *src_path, const char *prefix, int64_t run_off,
				 struct kt_diag *diag);
/* After every catalog is added: drops the segments an earlier one of their
 * partition holds whole (SPEC 10.8's order), and the missing ranges a
 * segment holds whole. *out_dropped: segments dropped. */
enum kt_err kt_catalog_union_settle(struct kt_catalog *dst, int64_t *out_dropped, struct kt_diag *diag);

#endif
