/* kt_error.h - error codes and diagnostics shared by every module.
 *
 * Owns: enum kt_err (the one error type of the library), its names and
 * messages, and struct kt_diag, the optional detail buffer that functions fill
 * when they fail (what went wrong, in which file, block and byte position).
 *
 * Numbers are part of the public contract (they appear in --json output):
 * never reuse or renumber one; add new ones at the end.
 */
#ifndef KT_ERROR_H
#define KT_ERROR_H

#include <stdint.h>

enum kt_err {
	KT_OK = 0,
	KT_ERR_NOMEM = 1,	 /* allocation failed */
	KT_ERR_IO = 2,		 /* a system call failed (errno in the message) */
	KT_ERR_INVALID = 3,	 /* bad argument or bad user input */
	KT_ERR_FORMAT = 4,	 /* bytes do not follow the archive format */
	KT_ERR_CHECKSUM = 5,	 /* a checksum did not match */
	KT_ERR_TRUNCATED = 6,	 /* data ends before a structure is complete */
	KT_ERR_VERSION = 7,	 /* written by an incompatible format version */
	KT_ERR_LIMIT = 8,	 /* a size exceeds a configured cap */
	KT_ERR_CATALOG = 9,	 /* SQLite reported an error */
	KT_ERR_LOCKED = 10,	 /* another process holds the archive lock */
	KT_ERR_KAFKA = 11,	 /* the Kafka client or broker reported an error */
	KT_ERR_NOT_FOUND = 12,	 /* a named thing does not exist */
	KT_ERR_EXISTS = 13,	 /* a thing that must not exist does */
	KT_ERR_INTERRUPTED = 14, /* stopped by a signal */
	KT_ERR_TIMEOUT = 15,	 /* a deadline passed */
	KT_ERR_STATE = 16,	 /* call not valid in the object's state */
	KT_ERR_DATA_LOST = 17,	 /* source data was gone before it was read */
	KT_ERR_MISMATCH = 18,	 /* two things that must agree do not */
	KT_ERR_NO_SPACE = 19,	 /* a write found the disk full (or the quota used up) */
	KT_ERR_KEY = 20,	 /* data encrypted with another key than the one given */
	KT_ERR_STORAGE = 21,	 /* the object store refused the request (403, 400, ...) */
};

/* Short stable identifier, e.g. "checksum". Never NULL. */
const char *kt_err_name(enum kt_err err);
/* One-line human description. Never NULL. */
const char *kt_err_str(enum kt_err err);

#define KT_DIAG_MSG_MAX	 512
#define KT_DIAG_PATH_MAX 512

/* Where and why an operation failed. Callers may pass NULL when they do not
 * care. Fields that do not apply are -1 (block, pos) or empty (path). */
struct kt_diag {
	char msg[KT_DIAG_MSG_MAX];
	char path[KT_DIAG_PATH_MAX];
	int64_t block; /* block index within a segment file */
	int64_t pos;   /* byte position within the file */
};

void kt_diag_clear(struct kt_diag *diag);
/* Formats the message into diag (if not NULL) and returns err, so that a
 * failure is one statement: return kt_diag_fail(diag, KT_ERR_IO, "..."). */
enum kt_err kt_diag_fail(struct kt_diag *diag, enum kt_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void kt_diag_set_path(struct kt_diag *diag, const char *path);
void kt_diag_set_where(struct kt_diag *diag, int64_t block, int64_t pos);
/* Prepends "prefix: " to the message already in diag. */
void kt_diag_prefix(struct kt_diag *diag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
