#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_sort.h"
#include "kt_store_internal.h"
#include "kt_strv.h"
#include "kt_time.h"

#define PATH_BUF 4096

int kt_store_is_s3(const char *location)
{
	return strncmp(location, "s3://", 5) == 0;
}

enum kt_err kt_store_open(const char *location, const struct kt_store_opts *opts, struct kt_store **out,
			  struct kt_diag *diag)
{
	*out = NULL;
	struct kt_store *s = calloc(1, sizeof(*s));
	if (!s)
		return KT_ERR_NOMEM;
	s->lock_fd = -1;
	s->location = strdup(location);
	if (!s->location) {
		free(s);
		return KT_ERR_NOMEM;
	}
	/* trailing slashes make ugly paths in messages */
	for (size_t n = strlen(s->location); n > 1 && s->location[n - 1] == '/'; n--)
		s->location[n - 1] = '\0';
	enum kt_err err = KT_OK;
	if (kt_store_is_s3(location)) {
		s->kind = KT_STORE_S3;
		static const struct kt_store_opts none = {NULL, NULL, -1, 0};
		err = kt_store_s3_open(s, s->location, opts ? opts : &none, diag);
	} else {
		s->kind = KT_STORE_DIR;
		s->work_dir = strdup(s->location);
		err = s->work_dir ? KT_OK : KT_ERR_NOMEM;
	}
	if (err) {
		kt_store_close(s);
		return err;
	}
	*out = s;
	return KT_OK;
}

void kt_store_close(struct kt_store *s)
{
	if (!s)
		return;
	kt_store_unlock(s);
	if (s->kind == KT_STORE_S3)
		kt_store_s3_close(s);
	free(s->work_dir);
	free(s->location);
	free(s);
}

enum kt_store_kind kt_store_kind(const struct kt_store *s)
{
	return s->kind;
}

const char *kt_store_location(const struct kt_store *s)
{
	return s->location;
}

const char *kt_store_work_dir(const struct kt_store *s)
{
	return s->work_dir;
}

const char *kt_store_work_path(const struct kt_store *s, const char *name, char *buf, size_t bufsize)
{
	snprintf(buf, bufsize, "%s/%s", s->work_dir, name);
	return buf;
}

void kt_store_stats(const struct kt_store *s, struct kt_store_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (s->kind == KT_STORE_S3)
		kt_store_s3_stats(s, out);
}

enum kt_err kt_store_check(struct kt_store *s, struct kt_diag *diag)
{
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_check(s, diag);
	struct stat st;
	if (stat(s->location, &st) != 0)
		return kt_diag_fail(diag, errno == ENOENT ? KT_ERR_NOT_FOUND : KT_ERR_IO, "cannot open %s: %s",
				    s->location, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s is not a directory", s->location);
	return KT_OK;
}

/* What an archive's creation makes before its marker (SPEC 10.1, 10.6): a
 * place holding only these is an archive whose creation was interrupted,
 * and the next creation starts over in it. A directory's segments/ and
 * meta/ hold nothing before the marker is written. */
static int creation_leftover(const char *name)
{
	static const char *const names[] = {
		"lock", "catalog.db", "catalog.db-wal", "catalog.db-shm", "segments", "meta", "tmp", "live"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i]))
			return 1;
	return !strncmp(name, "tmp/", 4);
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	int empty = 1;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

static int note_other(void *ctx, const char *name, uint64_t size)
{
	(void)size;
	if (creation_leftover(name))
		return 0;
	*(int *)ctx = 0;
	return 1;
}

enum kt_err kt_store_is_empty(struct kt_store *s, int *out_empty, struct kt_diag *diag)
{
	*out_empty = 1;
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_list(s, "", note_other, out_empty, diag);
	DIR *d = opendir(s->location);
	if (!d)
		return errno == ENOENT
			       ? KT_OK
			       : kt_diag_fail(diag, KT_ERR_IO, "cannot list %s: %s", s->location, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char path[PATH_BUF];
		int is_dir_entry = !strcmp(e->d_name, "segments") || !strcmp(e->d_name, "meta");
		if (!creation_leftover(e->d_name) ||
		    (is_dir_entry && !dir_is_empty(kt_store_work_path(s, e->d_name, path, sizeof(path)))))
			*out_empty = 0;
	}
	closedir(d);
	return KT_OK;
}

/* ---- the directory backend ---- */

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Lists dir (a name relative to the store, "" or ending in '/') in name
 * order, descending into directories. *stop is set when cb asked to stop. */
static enum kt_err walk_dir(struct kt_store *s, const char *rel, kt_store_list_cb cb, void *ctx, int *stop,
			    struct kt_diag *diag)
{
	char path[PATH_BUF];
	kt_store_work_path(s, rel, path, sizeof(path));
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR
			       ? KT_OK
			       : kt_diag_fail(diag, KT_ERR_IO, "cannot list %s: %s", path, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	enum kt_err err = KT_OK;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				err = KT_ERR_NOMEM;
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name))) {
			err = KT_ERR_NOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	kt_sort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char child[PATH_BUF + 512];
		int cn = snprintf(child, sizeof(child), "%s%s", rel, names[i]);
		if (!err && !*stop && cn > 0 && (size_t)cn < sizeof(child) - 1) {
			char full[PATH_BUF];
			struct stat st;
			if (stat(kt_store_work_path(s, child, full, sizeof(full)), &st) != 0) {
				/* gone since readdir: not there */
			} else if (S_ISDIR(st.st_mode)) {
				strcat(child, "/");
				err = walk_dir(s, child, cb, ctx, stop, diag);
			} else if (S_ISREG(st.st_mode) && cb(ctx, child, (uint64_t)st.st_size)) {
				*stop = 1;
			}
		}
		free(names[i]);
	}
	free(names);
	return err;
}

enum kt_err kt_store_list(struct kt_store *s, const char *prefix, kt_store_list_cb cb, void *ctx, struct kt_diag *diag)
{
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_list(s, prefix, cb, ctx, diag);
	int stop = 0;
	return walk_dir(s, prefix, cb, ctx, &stop, diag);
}

enum kt_err kt_store_size(struct kt_store *s, const char *name, uint64_t *out_size, struct kt_diag *diag)
{
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_size(s, name, out_size, diag);
	char path[PATH_BUF];
	struct stat st;
	if (stat(kt_store_work_path(s, name, path, sizeof(path)), &st) != 0)
		return kt_diag_fail(diag, errno == ENOENT ? KT_ERR_NOT_FOUND : KT_ERR_IO, "cannot stat %s: %s", path,
				    strerror(errno));
	*out_size = (uint64_t)st.st_size;
	return KT_OK;
}

enum kt_err kt_store_get(struct kt_store *s, const char *name, size_t max, uint8_t **out_data, size_t *out_len,
			 struct kt_diag *diag)
{
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_get(s, name, max, out_data, out_len, diag);
	char path[PATH_BUF];
	return kt_read_file(kt_store_work_path(s, name, path, sizeof(path)), max, out_data, out_len, diag);
}

/* mkdir -p of the directory that will hold path */
static enum kt_err make_parent(char *path, struct kt_diag *diag)
{
	char *slash = strrchr(path, '/');
	if (!slash)
		return KT_OK;
	*slash = '\0';
	enum kt_err err = kt_mkdirs(path, diag);
	*slash = '/';
	return err;
}

enum kt_err kt_store_put(struct kt_store *s, const char *name, const void *data, size_t len, struct kt_diag *diag)
{
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_put(s, name, data, len, diag);
	char path[PATH_BUF];
	kt_store_work_path(s, name, path, sizeof(path));
	enum kt_err err = make_parent(path, diag);
	return err ? err : kt_write_file_atomic(path, data, len, diag);
}

/* The directories a batch fsynced above the files' own (kt_store_commit_files). */
struct synced {
	char **dirs;
	size_t n;
};

/* fsyncs the directory that holds name and, when the batch created
 * directories for it (made), each one above it up to the work directory
 * itself that sy does not hold yet. */
static enum kt_err sync_parents(const struct kt_store *s, const char *name, int made, struct synced *sy,
				struct kt_diag *diag)
{
	char path[PATH_BUF];
	kt_store_work_path(s, name, path, sizeof(path));
	size_t root = strlen(s->work_dir);
	for (int level = 0;; level++) {
		char *slash = strrchr(path, '/');
		if (!slash || (size_t)(slash - path) < root || (level > 0 && !made))
			return KT_OK;
		*slash = '\0'; /* the directory to fsync */
		int done = level > 0 && kt_strv_has(sy->dirs, sy->n, path);
		*slash = '/';
		if (done)
			return KT_OK;
		enum kt_err err = kt_fsync_parent_dir(path, diag);
		*slash = '\0'; /* the next level up starts from it */
		if (err)
			return err;
		if (level > 0) /* out of memory: it is only fsynced again */
			kt_strv_push(&sy->dirs, &sy->n, path);
	}
}

/* A directory's fsync on ext4 commits the journal with what changed since,
 * and one fsync after a rename, each in turn, made every segment a commit
 * of its own: the 300 that a dump of 300 partitions ends with took
 * 0.18-0.39 s (issue #19); renaming them all first, then fsyncing, took
 * 300 such renames from 0.23 s to 0.07-0.12 s. The catalog commit comes
 * after either way, so what it lists is durable. */
void kt_store_commit_files(struct kt_store *s, const char *const *paths, const char *const *names, size_t n,
			   enum kt_err *errs, struct kt_diag *diags)
{
	int *made = calloc(n ? n : 1, sizeof(*made)); /* directories created for file i */
	for (size_t i = 0; i < n; i++) {
		if (!paths[i])
			continue;
		if (s->kind == KT_STORE_S3) {
			errs[i] = kt_store_s3_commit_file(s, paths[i], names[i], &diags[i]);
			continue;
		}
		char final[PATH_BUF];
		kt_store_work_path(s, names[i], final, sizeof(final));
		char *slash = strrchr(final, '/');
		int created = 0;
		if (slash) {
			*slash = '\0';
			errs[i] = kt_mkdirs_unsynced(final, &created, &diags[i]);
			*slash = '/';
		}
		if (made) /* without the flags every directory above is fsynced */
			made[i] = created;
		if (!errs[i] && rename(paths[i], final) != 0)
			errs[i] = kt_diag_fail(&diags[i], KT_ERR_IO, "cannot rename %s to %s: %s", paths[i], final,
					       strerror(errno));
	}
	struct synced sy = {NULL, 0};
	for (size_t i = 0; s->kind != KT_STORE_S3 && i < n; i++)
		if (paths[i] && !errs[i])
			errs[i] = sync_parents(s, names[i], made ? made[i] : 1, &sy, &diags[i]);
	kt_strv_free(sy.dirs, sy.n);
	free(made);
}

/* a batch of one */
enum kt_err kt_store_commit_file(struct kt_store *s, const char *path, const char *name, struct kt_diag *diag)
{
	enum kt_err err = KT_OK;
	kt_store_commit_files(s, &path, &name, 1, &err, diag);
	return err;
}

enum kt_err kt_store_fetch_file(struct kt_store *s, const char *name, const char *path, struct kt_diag *diag)
{
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_fetch_file(s, name, path, diag);
	return kt_diag_fail(diag, KT_ERR_STATE, "%s: a directory's files are read in place", name);
}

enum kt_err kt_store_remove(struct kt_store *s, const char *name, struct kt_diag *diag)
{
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_remove(s, name, diag);
	char path[PATH_BUF];
	kt_store_work_path(s, name, path, sizeof(path));
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return KT_OK;
		return kt_diag_fail(diag, KT_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
	}
	return kt_fsync_parent_dir(path, diag);
}

/* ---- the writer lock ---- */

static enum kt_err dir_lock(struct kt_store *s, struct kt_diag *diag)
{
	char path[PATH_BUF];
	kt_store_work_path(s, "lock", path, sizeof(path));
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, KT_FILE_MODE);
	if (fd < 0)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		enum kt_err err;
		if (errno == EWOULDBLOCK) {
			char holder[256] = "";
			ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
			err = kt_diag_fail(diag, KT_ERR_LOCKED, "archive %s is in use by another ktape process (%s)",
					   s->location, holder[0] ? holder : "unknown");
		} else {
			err = kt_diag_fail(diag, KT_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
		}
		close(fd);
		return err;
	}
	/* who holds it, for the message a second process prints */
	char info[128];
	char when[KT_TIME_STR_MAX];
	int n = snprintf(info, sizeof(info), "pid %d since %s\n", (int)getpid(),
			 kt_parse_format_time(kt_time_now_ms(), when));
	if (ftruncate(fd, 0) == 0 && pwrite(fd, info, (size_t)n, 0) < 0) {
		/* the lock is held either way; the text is only informative */
	}
	s->lock_fd = fd;
	return KT_OK;
}

enum kt_err kt_store_lock(struct kt_store *s, struct kt_diag *diag)
{
	return s->kind == KT_STORE_S3 ? kt_store_s3_lock(s, diag) : dir_lock(s, diag);
}

enum kt_err kt_store_lock_check(struct kt_store *s, struct kt_diag *diag)
{
	return s->kind == KT_STORE_S3 ? kt_store_s3_lock_check(s, diag) : KT_OK;
}

void kt_store_unlock(struct kt_store *s)
{
	if (s->kind == KT_STORE_S3) {
		kt_store_s3_unlock(s);
	} else if (s->lock_fd >= 0) {
		close(s->lock_fd); /* releases the flock */
		s->lock_fd = -1;
	}
}

int kt_store_lock_state(struct kt_store *s, const char *name, char *note, size_t notesize)
{
	if (note && notesize)
		note[0] = '\0';
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_lock_state(s, name, note, notesize);
	char path[PATH_BUF];
	return (int)kt_flock_state(kt_store_work_path(s, name, path, sizeof(path)));
}

/* ---- reading segments ---- */

enum kt_err kt_store_segment_open(struct kt_store *s, const char *name, const struct kt_segment_reader_opts *ro,
				  struct kt_store_segment **out, struct kt_diag *diag)
{
	*out = NULL;
	if (s->kind == KT_STORE_S3)
		return kt_store_s3_segment_open(s, name, ro, out, diag);
	struct kt_store_segment *seg = calloc(1, sizeof(*seg));
	if (!seg || !(seg->name = strdup(name))) {
		free(seg);
		return KT_ERR_NOMEM;
	}
	seg->store = s;
	char path[PATH_BUF];
	enum kt_err err = kt_segment_reader_open(kt_store_work_path(s, name, path, sizeof(path)), ro, &seg->r, diag);
	if (err) {
		free(seg->name);
		free(seg);
		return err;
	}
	*out = seg;
	return KT_OK;
}

struct kt_segment_reader *kt_store_segment_reader(struct kt_store_segment *seg)
{
	return seg->r;
}

void kt_store_segment_prefetch(struct kt_store_segment *seg, uint64_t pos, uint64_t len)
{
	if (seg->store->kind == KT_STORE_S3) {
		kt_store_s3_segment_prefetch(seg, pos, len);
		return;
	}
	char path[PATH_BUF];
	int fd = open(kt_store_work_path(seg->store, seg->name, path, sizeof(path)), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	posix_fadvise(fd, (off_t)pos, (off_t)len, POSIX_FADV_WILLNEED);
	close(fd);
}

void kt_store_segment_close(struct kt_store_segment *seg)
{
	if (!seg)
		return;
	kt_segment_reader_close(seg->r);
	if (seg->backend)
		kt_store_s3_segment_close(seg);
	free(seg->name);
	free(seg);
}
