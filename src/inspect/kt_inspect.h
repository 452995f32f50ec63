/* kt_inspect.h - the inspect engines: ls, cat, verify, prune (offline:
 * they need no cluster). Written against the archive, catalog and format
 * modules; prints nothing itself.
 *
 * Owns:
 *  - struct kt_inspect_ls, the model of what an archive covers (topics,
 *    partitions, archived ranges, gaps, ranges lost to retention, runs),
 *    built by kt_inspect_ls() and freed by kt_inspect_ls_free();
 *  - struct kt_inspect_fmt, a compiled kcat-style record format string;
 *  - the cat, verify and prune engines, which report through callbacks and
 *    result structures. Every string handed to a callback is borrowed: valid
 *    only during the call.
 *
 * Offsets: "first"/"last" are inclusive, "end" is exclusive (as in
 * format/catalog.sql).
 */
#ifndef KT_INSPECT_H
#define KT_INSPECT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "kt_archive.h"
#include "kt_buf.h"
#include "kt_record.h"

/* ---- ls: what an archive covers ---- */

enum kt_inspect_span_kind {
	KT_INSPECT_RANGE = 0, /* archived records */
	KT_INSPECT_GAP = 1,   /* offsets no dump read: missing from the archive */
	KT_INSPECT_LOST = 2,  /* deleted by retention before a dump read them */
	/* archived once, but the archive can no longer deliver them: a
	 * committed segment file that is gone, or the unreadable part of a
	 * damaged one (found by reindex or a writer's recovery) */
	KT_INSPECT_MISSING = 3,
};

/* One stretch of a partition's offsets. For a range, last is the last
 * archived record and end is where the dumps got to: offsets in (last, end)
 * were read but held no record (transaction markers, compaction), so a
 * range that starts at or before end continues this one. */
struct kt_inspect_span {
	enum kt_inspect_span_kind kind;
	int64_t first;
	int64_t last;
	int64_t end;
	uint64_t segments;
	uint64_t records;
	uint64_t file_bytes; /* compressed, on disk */
	uint64_t raw_bytes;  /* decompressed block payload */
	uint64_t payload_bytes;
	int64_t min_ts; /* INT64_MAX / INT64_MIN when there is no record */
	int64_t max_ts;
	int64_t run_id; /* LOST: the run that found it; else 0 */
	char *path;	/* MISSING: the segment file the offsets were in; else NULL */
	char *reason;	/* MISSING: why they cannot be read; else NULL */
};

/* Sums over ranges (the ls totals at every level). */
struct kt_inspect_sums {
	uint64_t segments;
	uint64_t records;
	uint64_t file_bytes;
	uint64_t raw_bytes;
	uint64_t payload_bytes;
	uint64_t gaps;
	uint64_t gap_offsets;
	uint64_t lost_ranges;
	uint64_t lost_offsets;
	uint64_t missing_ranges;
	uint64_t missing_offsets;
	int64_t min_ts; /* INT64_MAX when there is no record */
	int64_t max_ts; /* INT64_MIN when there is no record */
};

struct kt_inspect_partition {
	int32_t partition;
	int64_t first;	  /* first archived offset, -1 when nothing is archived */
	int64_t last;	  /* last archived offset, -1 when nothing is archived */
	int64_t done_end; /* where dumps got to (next incremental dump starts here), -1 unknown */
	struct kt_inspect_sums sums;
	struct kt_inspect_span *spans; /* by first offset; ranges, gaps, lost and missing ranges interleaved */
	size_t span_count;
};

struct kt_inspect_topic {
	char *topic;
	uint32_t generation;
	int32_t cluster_partitions; /* from the newest snapshot of the newest generation, -1 unknown */
	struct kt_inspect_sums sums;
	struct kt_inspect_partition *parts;
	size_t part_count;
};

struct kt_inspect_run {
	int64_t run_id;
	char *kind;
	char *status;
	char *message; /* NULL when none */
	int64_t started_ms;
	int64_t ended_ms; /* -1 while running */
	/* what its committed segments hold: for a running run (a follower)
	 * counted now, the runs table has them only once it ends */
	int64_t records;
	int64_t bytes;
	int64_t last_commit_ms; /* newest committed_ms of its segments; 0: none or unknown */
	/* a 'running' run: 1 its process is there, 0 it is gone (killed or
	 * crashed: the row stays 'running' until the next writer marks it
	 * crashed), -1 cannot tell (another host's lock object), with
	 * alive_note saying whose; -1 for a run that ended. Found after the
	 * row was read (kt_archive_run_alive), so a run that ended in between
	 * is gone, which is true */
	int alive;
	char alive_note[160];
};

struct kt_inspect_ls {
	char archive_id[64];
	/* the key id of an encrypted archive's newest segment (16 hex
	 * digits), empty when it is not encrypted */
	char key_id[KT_CRYPTO_KEY_ID_HEX];
	struct kt_inspect_topic *topics; /* by topic name, then generation */
	size_t topic_count;
	size_t partition_count;
	struct kt_inspect_sums sums;
	struct kt_inspect_run *runs; /* by run id */
	size_t run_count;
	/* a sharded archive's writers (SPEC 10.8), by id (ids borrowed from
	 * the archive); none for an archive without shards */
	struct kt_archive_shard_info *workers;
	size_t worker_count;
};

/* Builds the model of topics (all when topic_count is 0). A named topic the
 * archive does not hold is KT_ERR_NOT_FOUND, and the message lists the
 * archived topics. */
enum kt_err kt_inspect_ls(struct kt_archive *a, const char *const *topics, size_t topic_count,
			  struct kt_inspect_ls *out, struct kt_diag *diag);
void kt_inspect_ls_free(struct kt_inspect_ls *ls);
/* "range", "gap", "lost", "missing" */
const char *kt_inspect_span_kind_name(enum kt_inspect_span_kind kind);

/* ---- record formats (cat --format) ---- */

/* A kcat-style format string, compiled: %t topic, %p partition, %o offset,
 * %T timestamp (ms), %k key, %s value, %K / %S key / value length (-1 for
 * null), %R value length as a big-endian 32-bit integer, %h headers as
 * name=value,... (a null header value prints NULL), %% a percent sign;
 * \n \r \t \\ and \xHH escapes (any other \c is c). Null keys and values
 * print as nothing, as in kcat. */
struct kt_inspect_fmt;
enum kt_err kt_inspect_fmt_compile(const char *spec, struct kt_inspect_fmt **out, struct kt_diag *diag);
enum kt_err kt_inspect_fmt_record(const struct kt_inspect_fmt *fmt, struct kt_buf *buf, const char *topic,
				  int32_t partition, const struct kt_record *rec);
void kt_inspect_fmt_free(struct kt_inspect_fmt *fmt);

/* ---- cat: records of a range ---- */

/* Returns non-zero to stop (e.g. stdout is gone). */
typedef int (*kt_inspect_record_cb)(void *ctx, const char *topic, int32_t partition, const struct kt_record *rec);

struct kt_inspect_cat_opts {
	const char *const *topics; /* none: every archived topic */
	size_t topic_count;
	const int32_t *partitions; /* none: every archived partition */
	size_t partition_count;
	int64_t generation;  /* -1: the newest of each topic */
	int64_t from_offset; /* 0: no bound */
	int64_t to_offset;   /* exclusive; INT64_MAX: no bound */
	int64_t from_ts;     /* inclusive; INT64_MIN: no bound */
	int64_t to_ts;	     /* exclusive; INT64_MAX: no bound */
	int key_set;	     /* only records whose key is exactly key/key_len */
	const uint8_t *key;
	size_t key_len;
	const struct kt_keyset *drop_keys; /* records whose key is in it are left out; NULL: none */
	uint64_t limit;			   /* 0: no limit */
	volatile sig_atomic_t *stop;
	kt_inspect_record_cb on_record;
	void *ctx;
};

struct kt_inspect_cat_result {
	uint64_t records;
	int damaged; /* stopped at unreadable archive data (diag says where) */
	int stopped; /* the callback or a signal stopped it */
};

/* Delivers the records partition by partition (topics by name, partitions
 * in order), each in offset order. Stops at the first damaged block or
 * missing file, after delivering every record before it: the error names
 * the file, block and byte position, and res->damaged is set. */
enum kt_err kt_inspect_cat(struct kt_archive *a, const struct kt_inspect_cat_opts *o, struct kt_inspect_cat_result *res,
			   struct kt_diag *diag);

/* ---- verify: every file against its checksums and the catalog ---- */

struct kt_inspect_problem {
	const char *path; /* relative to the archive */
	int64_t block;	  /* -1 when not about one block */
	int64_t pos;	  /* byte position in the file, -1 when none */
	/* "missing" (a file, or offsets the archive lost), "extra", "io", "size", "header", "footer",
	 * "index", "block", "catalog", "meta" (a run metadata file) */
	const char *kind;
	enum kt_err err;
	const char *msg;
};
typedef void (*kt_inspect_problem_cb)(void *ctx, const struct kt_inspect_problem *p);

struct kt_inspect_verify_opts {
	int deep;    /* also decode every record */
	int threads; /* 0: one per CPU (at most 16) */
	volatile sig_atomic_t *stop;
	kt_inspect_problem_cb on_problem; /* called in catalog order, one thread at a time */
	void *ctx;
};

struct kt_inspect_verify_result {
	uint64_t files; /* segment files the catalog lists */
	uint64_t blocks;
	uint64_t records;
	uint64_t bytes; /* bytes of the files checked */
	uint64_t problems;
	uint64_t missing_files;
	uint64_t extra_files;
	uint64_t damaged_files;
	uint64_t missing_ranges; /* offsets archived once that cannot be read (catalog missing_ranges) */
	uint64_t missing_offsets;
	uint64_t meta_files;   /* run metadata files checked */
	uint64_t damaged_meta; /* of them, failed their frame or checksum check */
	/* encrypted segment files: with the archive's key (kt_archive_set_key)
	 * their blocks were authenticated, without one only their CRCs checked */
	uint64_t encrypted_files;
	double seconds;
};

/* Runs every check; problems go to the callback and are counted, they are
 * not errors. An error means verify itself could not run (interrupted,
 * catalog unreadable). */
enum kt_err kt_inspect_verify(struct kt_archive *a, const struct kt_inspect_verify_opts *o,
			      struct kt_inspect_verify_result *res, struct kt_diag *diag);

/* ---- prune: remove segments no longer needed ---- */

enum kt_inspect_prune_policy {
	KT_PRUNE_KEEP_DAYS = 1, /* remove segments whose newest record is older than value days */
	KT_PRUNE_KEEP_RUNS,	/* keep what the value most recent dump runs wrote, and all after it */
	KT_PRUNE_BEFORE,	/* remove segments whose newest record is older than value (ms) */
	/* remove the segments paths lists: a plan made on a sharded archive's
	 * union (SPEC 10.8), applied to the root or one shard */
	KT_PRUNE_PATHS,
};

struct kt_inspect_prune_opts {
	enum kt_inspect_prune_policy policy;
	int64_t value;
	int64_t now_ms;
	int dry_run; /* plan only: the archive may be open read-only */
	const char *args;
	const char *tool_version;
	/* KT_PRUNE_PATHS: the segments to remove, relative to this archive.
	 * Each partition still loses only its oldest segments, but here its
	 * newest may go too: the union's plan keeps the union's newest, which
	 * may be in another shard. A listed segment that has gone since the
	 * plan (merged, erased) is simply not there. */
	const char *const *paths;
	size_t path_count;
};

struct kt_inspect_pruned {
	char *path; /* relative to the archive */
	char *topic;
	uint32_t generation;
	int32_t partition;
	int64_t first;
	int64_t last;
	int64_t max_ts;
	uint64_t records;
	uint64_t file_bytes;
	int64_t segment_id;
};

/* A partition prune touches: its new first offset. */
struct kt_inspect_prune_part {
	char *topic;
	uint32_t generation;
	int32_t partition;
	uint64_t segments;
	int64_t first;	   /* first offset removed */
	int64_t last;	   /* last offset removed */
	int64_t new_first; /* first offset the archive still holds */
};

struct kt_inspect_prune_result {
	int64_t run_id; /* 0 for a dry run */
	struct kt_inspect_pruned *segs;
	size_t seg_count;
	struct kt_inspect_prune_part *parts;
	size_t part_count;
	uint64_t records;
	uint64_t file_bytes;
	uint64_t kept_segments;
	uint64_t unlink_failures; /* files the catalog no longer lists but that could not be removed */
};

/* Plans and (unless dry_run) removes: catalog rows first in one
 * transaction, then the files, then fsyncs the directories, and records a
 * 'prune' run with its metadata file. Needs the archive open for writing
 * unless dry_run. Only a prefix of each partition (in offset order) is ever
 * removed, never its newest segment, and partition progress rows stay, so
 * the next incremental dump starts where it would have. */
enum kt_err kt_inspect_prune(struct kt_archive *a, const struct kt_inspect_prune_opts *o,
			     struct kt_inspect_prune_result *res, struct kt_diag *diag);
void kt_inspect_prune_result_free(struct kt_inspect_prune_result *res);

/* ---- prune --erase-keys: rewrite the segments that hold listed keys ---- */

struct kt_keyset;

struct kt_inspect_erase_opts {
	const struct kt_keyset *keys; /* records whose (non-null) key is listed are erased */
	const char *keys_sum;	      /* "sha256:HEX" of the list file, for the run's record */
	int64_t now_ms;
	int dry_run; /* count only: the archive may be open read-only */
	const char *args;
	const char *tool_version;
};

/* A segment that holds listed keys (rewritten, unless a dry run). */
struct kt_inspect_erased_seg {
	char *path;
	char *new_path; /* the rewrite; NULL for a dry run or when no record was left */
	char *topic;
	uint32_t generation;
	int32_t partition;
	uint64_t records; /* before */
	uint64_t erased;
};

struct kt_inspect_erase_part {
	char *topic;
	uint32_t generation;
	int32_t partition;
	uint64_t segments;
	uint64_t erased;
};

struct kt_inspect_erase_result {
	int64_t run_id; /* 0 for a dry run */
	struct kt_inspect_erased_seg *segs;
	size_t seg_count;
	struct kt_inspect_erase_part *parts;
	size_t part_count;
	uint64_t erased;	/* records */
	uint64_t segments_read; /* every segment is read: no index of keys exists */
	uint64_t records_read;
};

/* Reads every segment (in the catalog's order) and rewrites each one that
 * holds a listed key without those records, crash-safely, one segment at
 * a time (kt_archive_rewrite_segment, SPEC 10.9), recording a 'prune' run
 * whose message holds the list's checksum and the count (never the keys).
 * Needs the archive open for writing, and its key when it is encrypted
 * (KT_ERR_KEY otherwise), unless dry_run. */
enum kt_err kt_inspect_erase(struct kt_archive *a, const struct kt_inspect_erase_opts *o,
			     struct kt_inspect_erase_result *res, struct kt_diag *diag);
void kt_inspect_erase_result_free(struct kt_inspect_erase_result *res);

#endif
