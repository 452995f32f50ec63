#include "kt_fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

enum kt_err kt_write_fail(struct kt_diag *diag, int errnum, const char *what, const char *path)
{
	if (errnum == ENOSPC)
		return kt_diag_fail(diag, KT_ERR_NO_SPACE, "no space left on device writing %s", path);
	if (errnum == EDQUOT)
		return kt_diag_fail(diag, KT_ERR_NO_SPACE, "disk quota exceeded writing %s", path);
	return kt_diag_fail(diag, KT_ERR_IO, "%s of %s failed: %s", what, path, strerror(errnum));
}

enum kt_err kt_write_all(int fd, const char *path, const void *data, size_t len, struct kt_diag *diag)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kt_write_fail(diag, errno, "write", path);
		}
		p += n;
		len -= (size_t)n;
	}
	return KT_OK;
}

enum kt_err kt_fsync_parent_dir(const char *path, struct kt_diag *diag)
{
	char *copy = strdup(path);
	if (!copy)
		return KT_ERR_NOMEM;
	const char *dir = dirname(copy);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		enum kt_err err = kt_diag_fail(diag, KT_ERR_IO, "cannot open directory %s: %s", dir, strerror(errno));
		free(copy);
		return err;
	}
	enum kt_err err = KT_OK;
	if (fsync(fd) != 0)
		err = kt_diag_fail(diag, KT_ERR_IO, "fsync of directory %s failed: %s", dir, strerror(errno));
	close(fd);
	free(copy);
	return err;
}

enum kt_err kt_rename_durable(const char *tmp_path, const char *final_path, struct kt_diag *diag)
{
	if (rename(tmp_path, final_path) != 0)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot rename %s to %s: %s", tmp_path, final_path,
				    strerror(errno));
	return kt_fsync_parent_dir(final_path, diag);
}

enum kt_err kt_write_file_atomic(const char *path, const void *data, size_t len, struct kt_diag *diag)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return kt_diag_fail(diag, KT_ERR_INVALID, "path too long: %s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, KT_FILE_MODE);
	if (fd < 0)
		return errno == ENOSPC ? kt_write_fail(diag, errno, "create", tmp)
				       : kt_diag_fail(diag, KT_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
	enum kt_err err = kt_write_all(fd, tmp, data, len, diag);
	if (!err && fsync(fd) != 0)
		err = kt_write_fail(diag, errno, "fsync", tmp);
	if (close(fd) != 0 && !err)
		err = kt_write_fail(diag, errno, "close", tmp);
	if (!err)
		err = kt_rename_durable(tmp, path, diag);
	if (err)
		unlink(tmp);
	return err;
}

enum kt_err kt_read_file(const char *path, size_t max, uint8_t **out_data, size_t *out_len, struct kt_diag *diag)
{
	*out_data = NULL;
	*out_len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kt_diag_fail(diag, errno == ENOENT ? KT_ERR_NOT_FOUND : KT_ERR_IO, "cannot open %s: %s", path,
				    strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return kt_diag_fail(diag, KT_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return kt_diag_fail(diag, KT_ERR_LIMIT, "%s is larger than %zu bytes", path, max);
	}
	size_t len = (size_t)st.st_size;
	uint8_t *data = malloc(len ? len : 1);
	if (!data) {
		close(fd);
		return KT_ERR_NOMEM;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, data + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(data);
			close(fd);
			return kt_diag_fail(diag, KT_ERR_IO, "read of %s failed: %s", path,
					    n < 0 ? strerror(errno) : "file shrank");
		}
		got += (size_t)n;
	}
	close(fd);
	*out_data = data;
	*out_len = len;
	return KT_OK;
}

static enum kt_err mkdirs(const char *path, int sync, int *created, struct kt_diag *diag)
{
	char buf[4096];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return kt_diag_fail(diag, KT_ERR_INVALID, "path too long: %s", path);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(buf, KT_DIR_MODE) == 0) {
				*created = 1;
				enum kt_err err = sync ? kt_fsync_parent_dir(buf, diag) : KT_OK;
				if (err)
					return err;
			} else if (errno == ENOSPC) {
				return kt_write_fail(diag, errno, "mkdir", buf);
			} else if (errno != EEXIST) {
				return kt_diag_fail(diag, KT_ERR_IO, "cannot create directory %s: %s", buf,
						    strerror(errno));
			}
			*p = saved;
			if (!saved)
				break;
		}
	}
	return KT_OK;
}

enum kt_err kt_mkdirs(const char *path, struct kt_diag *diag)
{
	int created = 0;
	return mkdirs(path, 1, &created, diag);
}

enum kt_err kt_mkdirs_unsynced(const char *path, int *created, struct kt_diag *diag)
{
	*created = 0;
	return mkdirs(path, 0, created, diag);
}

/* ---- whether a file is flock()ed, without taking the lock ---- */

/* "pid N since TIME": the process the lock file names, 0 when none. */
static long lock_file_pid(const char *path)
{
	char text[128] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	long pid = 0;
	return sscanf(text, "pid %ld", &pid) == 1 && pid > 0 ? pid : 0;
}

enum kt_flock_state kt_flock_state_at(const char *path, const char *proc_locks)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? KT_FLOCK_FREE : KT_FLOCK_UNKNOWN;
	FILE *f = proc_locks ? fopen(proc_locks, "re") : NULL;
	if (f) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF"; a blocked
		 * waiter's line has "->" before FLOCK and holds nothing */
		char line[512];
		enum kt_flock_state state = KT_FLOCK_FREE;
		/* the line's device is the superblock's, which stat does not
		 * give on btrfs (a subvolume's own st_dev): there the inode and
		 * the pid the file names identify the holder */
		long named = lock_file_pid(path);
		while (state == KT_FLOCK_FREE && fgets(line, sizeof(line), f)) {
			char type[16], mode[16], access[16];
			unsigned maj, min;
			unsigned long long ino;
			long pid;
			if (sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%llu", type, mode, access, &pid, &maj, &min,
				   &ino) == 7 &&
			    !strcmp(type, "FLOCK") && ino == (unsigned long long)st.st_ino &&
			    ((maj == major(st.st_dev) && min == minor(st.st_dev)) || (named > 0 && pid == named)))
				state = KT_FLOCK_HELD;
		}
		int bad = ferror(f);
		fclose(f);
		if (!bad)
			return state;
	}
	long pid = lock_file_pid(path);
	if (pid <= 0)
		return KT_FLOCK_UNKNOWN;
	/* EPERM: it exists, as another user's process */
	return kill((pid_t)pid, 0) == 0 || errno == EPERM ? KT_FLOCK_HELD : KT_FLOCK_FREE;
}

enum kt_flock_state kt_flock_state(const char *path)
{
	return kt_flock_state_at(path, "/proc/locks");
}
