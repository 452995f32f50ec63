/* kt_store.h - where an archive's files live: a local directory, or an
 * S3-compatible bucket (s3://BUCKET/PREFIX). The archive module is the only
 * user; above it nothing touches a path, a file descriptor or a bucket.
 *
 * Owns: struct kt_store (the backend's state: the directory, or the S3
 * client and a private working directory), struct kt_store_segment (a
 * segment file open for reading, with whatever feeds its reader).
 *
 * Objects are named by '/'-separated relative names ("ktape-archive",
 * "segments/T/g0/p0/F-L.kts", "meta/R-dump.ktm"). Every write is whole or
 * nothing: a local file is written under tmp/, fsynced and renamed; an
 * object is uploaded in one PUT (or one multipart upload, aborted on
 * failure), and S3 makes it visible only once complete.
 *
 * The working directory holds what SQLite and the segment writer need as
 * local files: for a directory, the archive itself; for a bucket, a
 * private temporary directory (mode 0700) that kt_store_close removes,
 * with the catalog downloaded into it and segments spooled there before
 * their upload (format/SPEC.md, "Archives in object storage").
 */
#ifndef KT_STORE_H
#define KT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"
#include "kt_segment_reader.h"

enum kt_store_kind {
	KT_STORE_DIR,
	KT_STORE_S3,
};

/* How to reach a bucket. NULL/-1/0 fields take the AWS environment's
 * values (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION) or the
 * defaults (see kt_s3.h). Credentials never come from here. */
struct kt_store_opts {
	const char *s3_endpoint;
	const char *s3_region;
	int s3_path_style;  /* -1: path style for an explicit endpoint, else virtual-hosted */
	int64_t timeout_ms; /* one request with its retries; 0: 120 s */
};

/* Bytes moved, for --json and the tests that show a ranged read fetched
 * only what it needed. Always zero for a directory. */
struct kt_store_stats {
	uint64_t requests;
	uint64_t bytes_fetched;
	uint64_t bytes_sent;
};

struct kt_store;
struct kt_store_segment;

/* Whether location names a bucket (s3://...). */
int kt_store_is_s3(const char *location);

/* Opens a store; no object is read or written yet. writable: the caller
 * will write (a reader never needs write access: for a bucket, its
 * working directory is private and temporary either way). */
enum kt_err kt_store_open(const char *location, const struct kt_store_opts *opts, struct kt_store **out,
			  struct kt_diag *diag);
void kt_store_close(struct kt_store *s);
enum kt_store_kind kt_store_kind(const struct kt_store *s);
/* The location as the user wrote it, without trailing slashes: for messages. */
const char *kt_store_location(const struct kt_store *s);
/* The working directory (see above). */
const char *kt_store_work_dir(const struct kt_store *s);
/* Path of a name in the working directory, into buf. */
const char *kt_store_work_path(const struct kt_store *s, const char *name, char *buf, size_t bufsize);
void kt_store_stats(const struct kt_store *s, struct kt_store_stats *out);

/* KT_ERR_NOT_FOUND when the directory or bucket itself does not exist. */
enum kt_err kt_store_check(struct kt_store *s, struct kt_diag *diag);
/* Whether the store holds nothing but what an interrupted creation of an
 * archive leaves (an archive may be created only in an empty place). */
enum kt_err kt_store_is_empty(struct kt_store *s, int *out_empty, struct kt_diag *diag);

/* Calls cb for every object under prefix ("segments/", "meta/") in name
 * order with its name and size; cb returns non-zero to stop. */
typedef int (*kt_store_list_cb)(void *ctx, const char *name, uint64_t size);
enum kt_err kt_store_list(struct kt_store *s, const char *prefix, kt_store_list_cb cb, void *ctx, struct kt_diag *diag);
/* Size of one object; KT_ERR_NOT_FOUND when it does not exist. */
enum kt_err kt_store_size(struct kt_store *s, const char *name, uint64_t *out_size, struct kt_diag *diag);
/* A whole object of at most max bytes into *out_data (the caller frees);
 * KT_ERR_NOT_FOUND when it does not exist. */
enum kt_err kt_store_get(struct kt_store *s, const char *name, size_t max, uint8_t **out_data, size_t *out_len,
			 struct kt_diag *diag);
/* Writes a whole object atomically, replacing one of the same name. */
enum kt_err kt_store_put(struct kt_store *s, const char *name, const void *data, size_t len, struct kt_diag *diag);
/* Makes the local file path (in the working directory, written and
 * fsynced by the caller) the object name: a durable rename for a
 * directory, an upload for a bucket, after which path is gone. On failure
 * path stays for the caller to remove. */
enum kt_err kt_store_commit_file(struct kt_store *s, const char *path, const char *name, struct kt_diag *diag);
/* kt_store_commit_file for n files at once (paths[i] NULL: skipped), the
 * outcome of each in errs[i] and diags[i]. A directory renames them all
 * before it fsyncs their directories (and those it created for them), so
 * that one journal commit makes every rename durable. */
void kt_store_commit_files(struct kt_store *s, const char *const *paths, const char *const *names, size_t n,
			   enum kt_err *errs, struct kt_diag *diags);
/* Copies object name to the local file path (a bucket's catalog). */
enum kt_err kt_store_fetch_file(struct kt_store *s, const char *name, const char *path, struct kt_diag *diag);
/* Removes an object; one that is already gone is no error. For a
 * directory, its parent directory is fsynced. */
enum kt_err kt_store_remove(struct kt_store *s, const char *name, struct kt_diag *diag);

/* The writer lock (format/SPEC.md 10.2): an flock on DIR/lock, or the
 * object "lock" created only if absent. KT_ERR_LOCKED, naming the holder,
 * when another writer has it. A bucket's lock left by a process that died
 * on this host is taken over; one from another host must be removed by
 * hand (the message says how). */
enum kt_err kt_store_lock(struct kt_store *s, struct kt_diag *diag);
/* Whether a bucket's lock object is still ours (another process may have
 * removed it by hand); always true for a directory. */
enum kt_err kt_store_lock_check(struct kt_store *s, struct kt_diag *diag);
void kt_store_unlock(struct kt_store *s);
/* Whether a process holds the lock name ("lock", "shards/ID/lock",
 * "live/RUN.lock"), found out without taking it (a reader's question: a
 * writer starting at that instant must not fail): 1 held, 0 free, -1
 * cannot tell. A directory's lock file: kt_flock_state (/proc/locks). A
 * bucket's lock object: none is free (a writer deletes it when it closes);
 * one of this host is judged by its boot id and pid; one of another host
 * cannot be judged, and note says whose it is ("host H pid P since T");
 * a bucket has no live/. note may be NULL. */
int kt_store_lock_state(struct kt_store *s, const char *name, char *note, size_t notesize);

/* A segment open for reading: for a directory, the file mapped; for a
 * bucket, the object fetched in ranges as the reader asks for them, so
 * that reading a few blocks of a large segment fetches a few blocks. */
enum kt_err kt_store_segment_open(struct kt_store *s, const char *name, const struct kt_segment_reader_opts *ro,
				  struct kt_store_segment **out, struct kt_diag *diag);
struct kt_segment_reader *kt_store_segment_reader(struct kt_store_segment *seg);
/* Has bytes [pos, pos + len) of the file read ahead: the kernel's
 * readahead, or one ranged fetch from a bucket in place of one a block. */
void kt_store_segment_prefetch(struct kt_store_segment *seg, uint64_t pos, uint64_t len);
void kt_store_segment_close(struct kt_store_segment *seg);

#endif
