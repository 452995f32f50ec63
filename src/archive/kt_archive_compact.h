/* kt_archive_compact.h - compaction: a partition's run of small committed
 * segments merged into one segment, crash-safely (format/SPEC.md 10.7), and
 * the policy a following dump applies after each commit interval so that
 * the number of files and catalog rows follows the data, not the commits.
 *
 * Owns: struct kt_archive_compactor (the policy's options, its own zstd
 * workspace, the files it gave up on, its counters).
 *
 * The swap: the merged segment is written under tmp/ with the segment
 * writer (records decompressed and written again in full-size blocks,
 * encrypted with the archive's key when the archive is encrypted), fsynced
 * and committed to its final name through the store (a rename, or an
 * upload); then ONE catalog transaction inserts it and deletes the parts'
 * rows, noting the paths of another run's parts in pruned_segments under
 * the compacting run (the compacting run's own parts are claimed by no
 * metadata file yet: noting them would grow the catalog with the commits);
 * only then do the parts' files go (for a bucket: after the next publish of
 * the catalog, so that no catalog a reader can download names a removed
 * object). Recovery and reindex recognise what a crash at any point leaves
 * (kt_archive.c: a segment file the catalog does not list whose offsets
 * listed segments of its partition already hold is a leftover, never
 * indexed again).
 */
#ifndef KT_ARCHIVE_COMPACT_H
#define KT_ARCHIVE_COMPACT_H

#include <stdint.h>

#include "kt_archive.h"
#include "kt_catalog.h"
#include "kt_error.h"
#include "kt_segment_writer.h"

#define KT_COMPACT_DEFAULT_FANOUT 8
#define KT_COMPACT_DEFAULT_AGE_MS (3600 * 1000)
/* raw bytes merged per pass (one commit interval) at most: a pass stops
 * the follower's reading for about as long as zstd takes for this */
#define KT_COMPACT_DEFAULT_BUDGET (64ull << 20)

struct kt_archive_compact_opts {
	/* a segment of this many raw bytes is full (dump's --segment-size):
	 * never merged, and no merge makes a larger one */
	uint64_t segment_bytes;
	int fanout;	       /* F >= 2: this many adjacent segments of one size class merge */
	int64_t age_ms;	       /* > 0: segments merge only within one age window of commit times */
	uint64_t budget_bytes; /* raw bytes read per pass at most; 0: KT_COMPACT_DEFAULT_BUDGET */
	/* the compacting run, who pruned the parts; its segments merge, and
	 * those of dump and import runs that ended before it (a follower
	 * killed and started again), each run's among themselves, under
	 * their own run, whose metadata file is written again after */
	int64_t run_id;
	int zstd_level;	    /* of the merged segments; 0: the default */
	size_t block_bytes; /* of the merged segments; 0: the default */
};

struct kt_archive_compact_stats {
	uint64_t merges;    /* merged segments written */
	uint64_t parts;	    /* segments they replaced */
	uint64_t bytes_in;  /* file bytes of the parts */
	uint64_t bytes_out; /* file bytes of the merged segments */
	uint64_t skipped;   /* windows given up on (a part damaged or gone): left as they are */
};

struct kt_archive_compactor;

enum kt_err kt_archive_compactor_new(struct kt_archive *a, const struct kt_archive_compact_opts *o,
				     struct kt_archive_compactor **out, struct kt_diag *diag);
void kt_archive_compactor_free(struct kt_archive_compactor *c);
/* Starts a pass: the budget is full again. */
void kt_archive_compact_begin_pass(struct kt_archive_compactor *c);
/* Merges what the policy says in one partition, within what is left of the
 * pass's budget; now_ms is the wall clock (which age windows are over). A
 * part that cannot be read is no error: its window is left as it is and
 * counted in skipped (the message, for a warning, in *diag, with KT_OK);
 * a full disk ends the pass the same way, to be tried again at the next.
 * Errors: the catalog, the store, memory. */
enum kt_err kt_archive_compact_partition(struct kt_archive_compactor *c, const char *topic, uint32_t generation,
					 int32_t partition, int64_t now_ms, struct kt_diag *diag);
const struct kt_archive_compact_stats *kt_archive_compact_stats(const struct kt_archive_compactor *c);

/* The mechanism: merges parts[0..n) (n >= 2; one partition, in offset
 * order, adjacent in the catalog, all of run parts[0].run_id) into one
 * segment that the same run owns, committed_ms the newest of theirs, the
 * parts of a run other than by_run noted as pruned by by_run. wo: zstd level, block size, codec (its
 * key is the archive's, whatever wo says). KT_ERR_FORMAT (or the reader's
 * error) when a part cannot be read whole: nothing changed then.
 * *out_summary: the merged segment's. */
enum kt_err kt_archive_merge_segments(struct kt_archive *a, const struct kt_catalog_segment *parts, size_t n,
				      int64_t by_run, const struct kt_segment_writer_opts *wo,
				      struct kt_segment_summary *out_summary, struct kt_diag *diag);

/* A record filter: non-zero keeps rec. */
typedef int (*kt_archive_keep_fn)(void *ctx, const struct kt_record *rec);

/* An erasure's rewrite (SPEC 10.9): seg written again without the records
 * keep refuses, by the merge's swap: the new file FIRST-LAST~N.kts (the
 * range seg's name has, N one more than seg's) under tmp/, fsynced,
 * committed to its name, ONE transaction inserting it and deleting seg's
 * row (seg's path noted as pruned by by_run), then seg's file removed.
 * Encrypted with the archive's key (kt_archive_use_key); without it,
 * seg does not open (KT_ERR_KEY). *out_dropped: records left out; 0:
 * nothing changed. All of them: no file, seg's row deleted and noted
 * pruned, its file removed. */
enum kt_err kt_archive_rewrite_segment(struct kt_archive *a, const struct kt_catalog_segment *seg, int64_t by_run,
				       const struct kt_segment_writer_opts *wo, kt_archive_keep_fn keep, void *keep_ctx,
				       uint64_t *out_dropped, struct kt_segment_summary *out_summary,
				       struct kt_diag *diag);
/* What a rewrite would leave out (a dry run, or which segments to
 * rewrite): reads seg whole, checked as a rewrite checks it. */
enum kt_err kt_archive_segment_count_refused(struct kt_archive *a, const struct kt_catalog_segment *seg,
					     kt_archive_keep_fn keep, void *keep_ctx, uint64_t *out_refused,
					     struct kt_diag *diag);
#endif
