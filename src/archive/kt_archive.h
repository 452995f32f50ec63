/* kt_archive.h - an archive: its layout, the writer lock, recovery on
 * open, the crash-safe segment commit protocol, per-run metadata files,
 * and rebuilding the catalog from the files (reindex). It lives in a
 * directory or in an S3-compatible bucket (s3://BUCKET/PREFIX); kt_store.h
 * is the seam between the two, and nothing above this module touches a
 * path, a file descriptor or a bucket.
 *
 * Owns: struct kt_archive (the open catalog, the lock file descriptor) and
 * struct kt_archive_segment (a segment being written under a temporary
 * name).
 *
 * Layout (format/SPEC.md, "Archive directory"):
 *   DIR/ktape-archive                      identity: format version, archive id
 *   DIR/catalog.db                         the SQLite index (+ -wal, -shm)
 *   DIR/lock                               flock()ed by the one writer
 *   DIR/live/RUN.lock                      flock()ed by a run recorded without it (restore)
 *   DIR/tmp/                               segments being written
 *   DIR/segments/TOPIC/gGEN/pPART/FIRST-LAST.kts
 *   DIR/meta/RUN-KIND.ktm                  catalog rows of each run
 *
 * Commit protocol: write under tmp/, fsync, rename into segments/, fsync the
 * directory, and only then record the segment in the catalog (one
 * transaction with the partition's progress). A crash at any point leaves
 * either a temporary file (removed at the next writer open) or a complete
 * segment the catalog does not know yet (indexed from its footer at the
 * next writer open): the catalog never names a file that is not complete.
 */
#ifndef KT_ARCHIVE_H
#define KT_ARCHIVE_H

#include <stdint.h>

#include "kt_catalog.h"
#include "kt_error.h"
#include "kt_record.h"
#include "kt_segment_writer.h"
#include "kt_store.h"

/* The newest archive format this code reads and writes (SPEC 10.2): 2 may
 * hold merged segments (10.7), which recovery and reindex of version 1
 * would index twice; 3 may have shards (10.8), which readers of 1 and 2
 * would not see; 4 may hold an erasure's rewritten segments FIRST-LAST~N.kts
 * (10.9), which recovery and reindex of 1 to 3 would not tell from the
 * files they replaced (a reindex would bring erased records back). A new
 * archive is version 1 until it needs more. */
#define KT_ARCHIVE_FORMAT_VERSION 4
#define KT_ARCHIVE_FORMAT_CREATED 1

enum kt_archive_mode {
	KT_ARCHIVE_READ,   /* no lock; the catalog read-only */
	KT_ARCHIVE_WRITE,  /* takes the lock, recovers; the archive must exist */
	KT_ARCHIVE_CREATE, /* as WRITE, and creates the archive if missing */
	/* A reader that records its own runs (restore): no writer lock, no
	 * recovery; the catalog read-write when the archive can be written,
	 * else read-only (kt_archive_recording says which). */
	KT_ARCHIVE_RECORD,
};

/* What opening for writing found and repaired. */
struct kt_archive_recovery {
	int temp_files_removed;
	int segments_recovered; /* complete files the catalog did not know */
	int runs_crashed;	/* runs left 'running' by a dead process */
	int damaged_files;	/* unknown damaged files: their readable blocks indexed, the rest missing */
	int unusable_files;	/* unknown files with no readable block: recorded as missing */
	/* unknown files whose records listed segments of their partition
	 * hold (what an interrupted compaction leaves): removed */
	int leftovers_removed;
	/* unknown files that overlap listed segments and hold records they
	 * do not: neither indexed (a record must never be read twice) nor
	 * removed; 'ktape verify' lists them */
	int conflicting_files;
	/* a group member's shard: unlisted files removed (SPEC 10.8), and
	 * the offsets their names cover (the records the partitions' next
	 * owners archive again: written twice; gaps in a range count too) */
	int unlisted_removed;
	int64_t unlisted_offsets;
};

struct kt_archive;
struct kt_archive_segment;

enum kt_err kt_archive_open(const char *dir, enum kt_archive_mode mode, struct kt_archive **out,
			    struct kt_archive_recovery *out_recovery, struct kt_diag *diag);
void kt_archive_close(struct kt_archive *a);
/* The catalog readers query. For a reader of a sharded archive (SPEC
 * 10.8) the union of the root's and the shards' catalogs, a private copy
 * made at open: paths name the files in the archive, so every reader reads
 * it as one archive. */
struct kt_catalog *kt_archive_catalog(struct kt_archive *a);
/* The catalog runs recorded without the writer lock go to (RECORD mode:
 * a restore's run, maps and bases): the root's own, never the union. The
 * same as kt_archive_catalog for an archive without shards. */
struct kt_catalog *kt_archive_record_catalog(struct kt_archive *a);

/* ---- shards (SPEC 10.8) ---- */
/* kt_archive_open_flags: a group member's shard removes, instead of
 * indexing, the segment files its catalog does not list */
#define KT_ARCHIVE_OPEN_DISCARD_UNLISTED 1u
enum kt_err kt_archive_open_flags(const char *dir, enum kt_archive_mode mode, unsigned flags, struct kt_archive **out,
				  struct kt_archive_recovery *out_recovery, struct kt_diag *diag);
#define KT_ARCHIVE_WORKER_ID_MAX 64
/* Whether id is a valid worker id (1-64 of A-Za-z0-9._-, no leading '.'). */
int kt_archive_worker_id_valid(const char *id);
/* Opens the shard of worker id in the archive at root for writing (mode
 * WRITE or CREATE; CREATE also creates the root when it does not exist),
 * registering it so that readers find it. KT_ERR_LOCKED when another
 * process writes this shard. */
enum kt_err kt_archive_open_shard(const char *root, const char *id, enum kt_archive_mode mode, unsigned flags,
				  struct kt_archive **out, struct kt_archive_recovery *out_recovery,
				  struct kt_diag *diag);
/* The shards a reader's union holds, in name order (none for a writer). */
size_t kt_archive_shard_count(const struct kt_archive *a);
const char *kt_archive_shard_id(const struct kt_archive *a, size_t i);
/* The registered shard ids of the archive at a (reader or writer), in name
 * order; the caller frees them with kt_archive_shard_ids_free. */
enum kt_err kt_archive_list_shards(struct kt_archive *a, char ***out_ids, size_t *out_n, struct kt_diag *diag);
void kt_archive_shard_ids_free(char **ids, size_t n);
/* The locations of the shards of the archive at root (ROOT/shards/ID), in
 * name order, for what works on each shard as an archive of its own
 * (reindex, prune); freed with kt_archive_shard_ids_free. */
enum kt_err kt_archive_shard_locations(const char *root, char ***out, size_t *out_n, struct kt_diag *diag);
/* What a reader's union holds of each shard (ls's workers): the
 * partitions it archived ("TOPIC:P,P TOPIC:P"), its segments and records,
 * its newest commit, its newest run's status. The caller frees the array
 * (the ids are the archive's). */
struct kt_archive_shard_info {
	const char *id;
	int partition_count;
	char partitions[1024];
	int64_t segments;
	int64_t records;
	int64_t last_commit_ms; /* 0: none known */
	int64_t last_run;	/* in the union's numbering */
	char last_status[16];
};
enum kt_err kt_archive_shard_infos(struct kt_archive *a, struct kt_archive_shard_info **out, size_t *out_n,
				   struct kt_diag *diag);
/* The key the archive's readers (the iterator) open encrypted segments
 * with (SPEC 4.6); borrowed until close, NULL for none. Recovery and
 * reindex need none: an encrypted file's index is in the clear. */
void kt_archive_set_key(struct kt_archive *a, const struct kt_crypto_key *key);
const struct kt_crypto_key *kt_archive_key(const struct kt_archive *a);
/* Sets the key, and checks it against the archive's newest segment
 * (kt_archive_key.c): an archive is encrypted with one key or not at all.
 * KT_ERR_INVALID when the archive is encrypted and key is NULL; KT_ERR_KEY
 * when it is encrypted with another key (both key ids in the message);
 * with writing set (a dump), KT_ERR_EXISTS for a key and an archive whose
 * segments are not encrypted. An empty archive takes any key or none. */
enum kt_err kt_archive_use_key(struct kt_archive *a, const struct kt_crypto_key *key, int writing,
			       struct kt_diag *diag);
/* Whether the archive's newest readable segment is encrypted, and with
 * which key id (for ls); 0 for an archive without segments. */
enum kt_err kt_archive_encryption(struct kt_archive *a, int *out_encrypted, uint8_t id[KT_SEG_KEY_ID_SIZE],
				  struct kt_diag *diag);
/* The archive's location as given: a directory or s3://BUCKET/PREFIX. */
const char *kt_archive_dir(const struct kt_archive *a);
/* Where a name of the archive lives, for messages: LOCATION/NAME. */
const char *kt_archive_path(const struct kt_archive *a, const char *rel, char *buf, size_t bufsize);
/* Whether the archive is a local directory (not a bucket). */
int kt_archive_is_local(const struct kt_archive *a);
/* How every archive this process opens reaches its bucket (the CLI's
 * --s3-* options); the AWS environment's values where unset. */
void kt_archive_set_store_opts(const struct kt_store_opts *o);
/* Requests and bytes moved to and from a bucket so far. */
void kt_archive_store_stats(const struct kt_archive *a, struct kt_store_stats *out);

/* Calls cb for every file under prefix ("segments/") in name order, with
 * its name relative to the archive and its size. */
typedef int (*kt_archive_list_cb)(void *ctx, const char *name, uint64_t size);
enum kt_err kt_archive_list(struct kt_archive *a, const char *prefix, kt_archive_list_cb cb, void *ctx,
			    struct kt_diag *diag);
/* Size of one file; KT_ERR_NOT_FOUND when it is not there. */
enum kt_err kt_archive_file_size(struct kt_archive *a, const char *rel, uint64_t *out_size, struct kt_diag *diag);
/* Removes a file the catalog no longer names (a writer only; prune). A
 * bucket's catalog is published before its first removal, so that no
 * reader downloads one that names a removed object. */
enum kt_err kt_archive_remove_file(struct kt_archive *a, const char *rel, struct kt_diag *diag);
/* Uploads a bucket's catalog now (a writer only; nothing for a directory).
 * Runs do it at their end (kt_archive_write_run_meta). */
enum kt_err kt_archive_publish(struct kt_archive *a, struct kt_diag *diag);
/* A segment file open for reading: its reader, fetched in ranges from a
 * bucket. kt_store_segment_reader() gives the reader. */
enum kt_err kt_archive_segment_open(struct kt_archive *a, const char *rel, const struct kt_segment_reader_opts *ro,
				    struct kt_store_segment **out, struct kt_diag *diag);

/* Starts a segment under tmp/. */
enum kt_err kt_archive_segment_begin(struct kt_archive *a, const char *topic, uint32_t generation, int32_t partition,
				     const struct kt_segment_writer_opts *opts, struct kt_archive_segment **out,
				     struct kt_diag *diag);
enum kt_err kt_archive_segment_add(struct kt_archive_segment *s, const struct kt_record *rec, struct kt_diag *diag);
uint64_t kt_archive_segment_records(const struct kt_archive_segment *s);
uint64_t kt_archive_segment_raw_bytes(const struct kt_archive_segment *s);
/* Finishes, fsyncs, renames and records the segment; with prun set, also
 * records the partition's progress in the same transaction. Frees s. */
enum kt_err kt_archive_segment_commit(struct kt_archive *a, struct kt_archive_segment *s, int64_t run_id,
				      const struct kt_catalog_prun *prun, struct kt_segment_summary *out_summary,
				      struct kt_diag *diag);
/* The segment's last block written and its memory freed, to be committed
 * later (kt_segment_writer_seal): no record can be added. */
enum kt_err kt_archive_segment_seal(struct kt_archive_segment *s, struct kt_diag *diag);
/* Commits n segments of one run together, each with its partition's
 * progress pruns[i] (pruns may be NULL; segs[i] NULL records the progress
 * only): every file finished and fsynced, then renamed (its directory
 * fsynced), and only then ONE catalog transaction records all of them
 * (SPEC 10.4). errs[i] and diags[i] say how segment i ended: a failure of
 * its own file leaves the others committed; a failure of the transaction
 * is everyone's and is also returned. sums[i] is filled for the committed.
 * Frees every segment. */
enum kt_err kt_archive_segment_commit_many(struct kt_archive *a, struct kt_archive_segment **segs,
					   const struct kt_catalog_prun *pruns, size_t n, int64_t run_id,
					   struct kt_segment_summary *sums, enum kt_err *errs, struct kt_diag *diags);
/* Drops an unfinished segment and its temporary file. NULL is a no-op. */
void kt_archive_segment_abort(struct kt_archive_segment *s);

/* Whether runs can be recorded: always for a writer; in RECORD mode, when
 * the archive could be opened for writing. */
int kt_archive_recording(const struct kt_archive *a);
/* Why a RECORD mode archive records nothing (the failed open's message),
 * NULL when it records. */
const char *kt_archive_norecord_reason(const struct kt_archive *a);
/* Records a run as 'running' (its own transaction) and, until
 * kt_archive_close, holds an flock on live/RUN.lock that tells a writer's
 * recovery the run is alive: it is not marked crashed (format/SPEC.md
 * 10.3). For a run made without the writer lock. */
enum kt_err kt_archive_run_begin(struct kt_archive *a, const struct kt_catalog_run *run, int64_t *out_run_id,
				 struct kt_diag *diag);

/* Whether the process of a run the catalog says is 'running' is still
 * there, found out without any lock and without writing (ls's question,
 * which a reader asks: the catalog keeps the row 'running' until the next
 * writer's recovery marks it crashed). run_id in the numbering of
 * kt_archive_catalog (a shard's run: its shard's lock). A run recorded
 * without the writer lock (kind "restore") is alive while live/RUN.lock is
 * held, every other run while the writer lock of its catalog is (SPEC
 * 10.3: held, per /proc/locks; a bucket's lock object: 10.6). Returns 1
 * alive, 0 gone, -1 cannot tell (another host's lock object; note, may be
 * NULL, says whose). */
int kt_archive_run_alive(struct kt_archive *a, int64_t run_id, const char *kind, char *note, size_t notesize);

/* Writes meta/RUN-KIND.ktm with the run's catalog rows (atomically). */
enum kt_err kt_archive_write_run_meta(struct kt_archive *a, int64_t run_id, const char *kind, struct kt_diag *diag);

/* What reindex found. Damaged files are indexed as far as their blocks
 * can be read; what they, or the segment files that runs committed and that
 * are gone, held is recorded as missing ranges. */
struct kt_archive_reindex_result {
	int segments;	      /* indexed, damaged ones included */
	int runs;	      /* metadata files imported */
	int damaged_files;    /* indexed in part */
	int unreadable_files; /* no readable block: not indexed */
	int bad_meta_files;   /* metadata files that failed their checks: that run's history is lost */
	int duplicate_files;  /* not indexed: other files hold their records (an interrupted compaction) */
	int missing_ranges;
	int64_t missing_offsets;
};

/* Rebuilds catalog.db from the segment and metadata files alone. Takes the
 * lock. Problems with single files are passed to warn and counted in res;
 * only a failure to build the catalog at all is an error. */
typedef void (*kt_archive_warn_cb)(void *ctx, const char *msg);
enum kt_err kt_archive_reindex(const char *dir, struct kt_archive_reindex_result *res, kt_archive_warn_cb warn,
			       void *warn_ctx, struct kt_diag *diag);

/* Checks every metadata file (meta/RUN-KIND.ktm): its frame and checksum (SPEC 11) without
 * importing it; calls cb for each that fails. *out_files: how many there
 * are. An error only when the check itself could not run. */
typedef void (*kt_archive_meta_cb)(void *ctx, const char *rel, enum kt_err err, const char *msg);
enum kt_err kt_archive_check_meta(struct kt_archive *a, kt_archive_meta_cb cb, void *ctx, int *out_files,
				  struct kt_diag *diag);

/* Splits segments/TOPIC/gGEN/pPART/FIRST-LAST.kts; 0 if rel is not such a
 * name. */
int kt_archive_segment_parse_relpath(const char *rel, char *topic, size_t topic_size, uint32_t *generation,
				     int32_t *partition, int64_t *first, int64_t *last);
/* An erasure's rewrite of a segment (SPEC 10.9):
 * segments/TOPIC/gGEN/pPART/FIRST-LAST~N.kts, FIRST-LAST the range the
 * original file was named by, N >= 1 (one more than the file it replaces);
 * kt_archive_segment_rewrite_of gives N, 0 for a plain name. */
void kt_archive_segment_rewrite_relpath(const char *topic, uint32_t generation, int32_t partition, int64_t first,
					int64_t last, unsigned rewrite, char *buf, size_t bufsize);
unsigned kt_archive_segment_rewrite_of(const char *rel);
/* The FIRST and LAST of a segment file's name (plain or ~N); 0 when the
 * last path element is not such a name. */
int kt_archive_segment_name_range(const char *rel, int64_t *first, int64_t *last);

/* Test hook: called at each step of the commit protocol; returning non-zero
 * makes the commit stop right there, as a crash would. NULL in production. */
enum kt_archive_step {
	KT_STEP_FINISHED = 1, /* written and fsynced under tmp/ */
	KT_STEP_RENAMED,      /* renamed into segments/, directory fsynced */
	KT_STEP_COMMITTED,    /* catalog transaction committed */
};
extern int (*kt_archive_crash_hook)(enum kt_archive_step step);

/* A topic's directory under segments/: the name itself, or for a name
 * longer than KT_ARCHIVE_TOPIC_DIR_MAX bytes its first bytes, '~' and a
 * 64-bit hash of the whole name (SPEC 10.1), so that every legal topic name
 * (up to 249 bytes) fits a 255-byte file name. */
#define KT_ARCHIVE_TOPIC_DIR_MAX 200
void kt_archive_topic_dir(const char *topic, char *buf, size_t bufsize);

/* Segment file name relative to the archive for a partition range. */
void kt_archive_segment_relpath(const char *topic, uint32_t generation, int32_t partition, int64_t first, int64_t last,
				char *buf, size_t bufsize);

/* ---- reading ranges ---- */
/* Records of one partition in offset order whose offset lies in
 * [from_offset, to_offset] and timestamp in [from_ts, to_ts). Timestamps need
 * not grow, so a time window selects exactly the records whose timestamp
 * lies in it, in offset order; the catalog finds the first block that can
 * hold one, and blocks that cannot are never decompressed. */
struct kt_archive_range {
	const char *topic;
	uint32_t generation;
	int32_t partition;
	int64_t from_offset; /* 0 for no bound */
	int64_t to_offset;   /* inclusive; INT64_MAX for no bound */
	int64_t from_ts;     /* INT64_MIN for no bound */
	int64_t to_ts;	     /* exclusive; INT64_MAX for no bound */
};
struct kt_archive_iter;
enum kt_err kt_archive_iter_open(struct kt_archive *a, const struct kt_archive_range *range,
				 struct kt_archive_iter **out, struct kt_diag *diag);
/* Next record (borrowed until the next call), NULL at the end. A damaged
 * block is an error naming the file, block and byte position; the next call
 * continues after it. */
enum kt_err kt_archive_iter_next(struct kt_archive_iter *it, const struct kt_record **out_rec, struct kt_diag *diag);
/* Whether the catalog lists a segment file now: for a bucket, in the
 * catalog object as it is now (a reader's own copy is as of its open). A
 * reader that finds a listed file gone asks before it calls it missing:
 * a compaction may have merged it into another since (SPEC 10.7). */
enum kt_err kt_archive_listed_now(struct kt_archive *a, const char *rel, int *out_found, struct kt_diag *diag);
/* Path (relative) of the segment the last record came from. */
const char *kt_archive_iter_segment(const struct kt_archive_iter *it);
void kt_archive_iter_close(struct kt_archive_iter *it);

/* What of the archive's missing ranges (offsets it lost) lies in the
 * offsets of ranges[0..n). Time bounds do not narrow it: the timestamps of
 * lost records are lost with them. first describes the first one hit
 * ("TOPIC/PART offsets A..B (PATH: REASON)"), for a message. */
struct kt_archive_missing_sum {
	int64_t ranges;
	int64_t offsets;
	char first[512];
	char first_path[KT_DIAG_PATH_MAX]; /* the file it was in */
};
enum kt_err kt_archive_missing_in(struct kt_archive *a, const struct kt_archive_range *ranges, size_t n,
				  struct kt_archive_missing_sum *out, struct kt_diag *diag);

/* ---- reading ranges, strictly (added for ktape cat) ---- */
/* As kt_archive_iter_next, and also an error when a segment read to its end
 * lacks records the catalog says it holds within the range: a file without
 * a valid footer (cut short, or damaged between blocks) is read by scanning
 * and its complete blocks are delivered, but what lies in the damaged part
 * would otherwise be skipped without a word. The error (KT_ERR_TRUNCATED or
 * the problem's own) names the file and byte position and comes after every
 * record before it; the next call continues with the next segment. */
enum kt_err kt_archive_iter_next_strict(struct kt_archive_iter *it, const struct kt_record **out_rec,
					struct kt_diag *diag);

#endif
