/* kt_fileio.h - durable file operations: the building blocks of the
 * archive's crash-safe write protocol (temp file, write, fsync, rename,
 * fsync the directory), and small helpers around them.
 */
#ifndef KT_FILEIO_H
#define KT_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"

/* Modes of everything ktape creates in an archive, before the umask:
 * archives hold whatever the topics hold, personal data included, so
 * they are never readable by other users. */
#define KT_FILE_MODE 0640
#define KT_DIR_MODE  0750

/* Writes all len bytes, retrying on EINTR and short writes. path names the
 * file in the message. */
enum kt_err kt_write_all(int fd, const char *path, const void *data, size_t len, struct kt_diag *diag);
/* KT_ERR_IO for a failed write, fsync or close (what: "write", "fsync",
 * "close") of path. A full filesystem reads "no space left on device
 * writing PATH" whatever the call: the operator must see which filesystem
 * filled up, and fsync and close report ENOSPC too (NFS, delayed
 * allocation). */
enum kt_err kt_write_fail(struct kt_diag *diag, int errnum, const char *what, const char *path);
/* fsync of the directory that holds path, so that a rename in it is durable. */
enum kt_err kt_fsync_parent_dir(const char *path, struct kt_diag *diag);
/* rename(tmp, final) then fsync the directory. */
enum kt_err kt_rename_durable(const char *tmp_path, const char *final_path, struct kt_diag *diag);
/* Writes a whole file atomically: path.tmp, fsync, rename, fsync dir. */
enum kt_err kt_write_file_atomic(const char *path, const void *data, size_t len, struct kt_diag *diag);
/* Reads a whole file (at most max bytes) into a malloc'd buffer the caller frees. */
enum kt_err kt_read_file(const char *path, size_t max, uint8_t **out_data, size_t *out_len, struct kt_diag *diag);
/* mkdir -p with mode KT_DIR_MODE; fsyncs each parent it creates a directory in. */
enum kt_err kt_mkdirs(const char *path, struct kt_diag *diag);
/* kt_mkdirs without the fsyncs; *created is set when it made a directory,
 * whose parents the caller fsyncs before it relies on them (a batch of
 * renames made durable together, kt_store_commit_files). */
enum kt_err kt_mkdirs_unsynced(const char *path, int *created, struct kt_diag *diag);

/* Whether some process holds an flock() on the file at path, found out
 * without taking it: a reader must never take a writer's lock, even shared
 * and for a moment, since a writer starting at that instant would fail
 * with 'in use' (its flock is non-blocking). The answer is a FLOCK line of
 * /proc/locks for the file's device and inode; where /proc/locks cannot be
 * read, whether the process the file's text names ("pid N ...", as ktape's
 * lock files say) exists. /proc/locks shows only the locks of processes the
 * reader's pid namespace can see, and on a network filesystem only this
 * host's: the answer is about them. A file that does not exist is free. */
enum kt_flock_state {
	KT_FLOCK_UNKNOWN = -1, /* neither could be read */
	KT_FLOCK_FREE = 0,
	KT_FLOCK_HELD = 1,
};
enum kt_flock_state kt_flock_state(const char *path);
/* The same with another file in place of /proc/locks (NULL or a missing
 * file: the pid fallback), for tests. */
enum kt_flock_state kt_flock_state_at(const char *path, const char *proc_locks);

#endif
