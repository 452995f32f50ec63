/* test_readonly.c - what an open calls damaged, the message of a full
 * disk, restore's live lock against a writer's recovery, and how a reader
 * tells a live run from a dead one without taking a lock. Read-only
 * mounts need root and are tested in tests/faults/test_readonly.sh. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_archive.h"
#include "kt_catalog.h"
#include "kt_fileio.h"
#include "test_helpers.h"

struct fixture {
	char *dir;
	char arch[4096];
	char db[4200];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = th_mkdtemp();
	snprintf(f->arch, sizeof(f->arch), "%s/a", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->arch);
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	kt_archive_close(a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static int64_t begin_run(struct kt_archive *a, const char *kind)
{
	struct kt_catalog_run run = {0};
	run.kind = kind;
	run.started_ms = 1;
	run.args = "";
	run.tool_version = "test";
	int64_t id = 0;
	struct kt_diag d;
	assert_int_equal(kt_archive_run_begin(a, &run, &id, &d), KT_OK);
	return id;
}

struct status_ctx {
	int64_t run_id;
	char status[32];
};

static int status_cb(void *ctx, const struct kt_catalog_run *run)
{
	struct status_ctx *c = ctx;
	if (run->run_id == c->run_id)
		snprintf(c->status, sizeof(c->status), "%s", run->status);
	return 0;
}

static const char *run_status(struct kt_archive *a, struct status_ctx *c, int64_t run_id)
{
	*c = (struct status_ctx){run_id, ""};
	struct kt_diag d;
	assert_int_equal(kt_catalog_each_run(kt_archive_catalog(a), status_cb, c, &d), KT_OK);
	return c->status;
}

/* A file that is not SQLite is still called damaged, with the reindex hint. */
static void test_garbage_is_damaged(void **state)
{
	struct fixture *f = *state;
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	th_write(f->db, junk, sizeof(junk));
	struct kt_catalog *cat;
	struct kt_diag d;
	kt_diag_clear(&d);
	assert_int_equal(kt_catalog_open(f->db, KT_CATALOG_READ, &cat, &d), KT_ERR_FORMAT);
	assert_non_null(strstr(d.msg, "damaged"));
	assert_non_null(strstr(d.msg, "reindex"));
}

/* ENOSPC from any write call names the path in the one fixed phrase. */
static void test_full_disk_message(void **state)
{
	(void)state;
	struct kt_diag d;
	kt_diag_clear(&d);
	assert_int_equal(kt_write_fail(&d, ENOSPC, "fsync", "/x/seg.kts"), KT_ERR_NO_SPACE);
	assert_string_equal(d.msg, "no space left on device writing /x/seg.kts");
	kt_diag_clear(&d);
	kt_write_fail(&d, EIO, "write", "/x/seg.kts");
	assert_non_null(strstr(d.msg, "write of /x/seg.kts failed"));
}

/* A restore's run (RECORD mode, no writer lock) survives a writer's
 * recovery while it lives. */
static void test_live_restore_not_crashed(void **state)
{
	struct fixture *f = *state;
	struct kt_archive *r, *w;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_RECORD, &r, NULL, &d), KT_OK);
	assert_true(kt_archive_recording(r));
	int64_t id = begin_run(r, "restore");
	/* the writer lock is free for a dump; flock conflicts between two open
	 * files of one process as between processes */
	struct kt_archive_recovery rec;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_WRITE, &w, &rec, &d), KT_OK);
	assert_int_equal(rec.runs_crashed, 0);
	struct status_ctx c;
	assert_string_equal(run_status(w, &c, id), "running");
	kt_archive_close(w);
	kt_archive_close(r);
}

/* A restore whose process died (its live lock file left, not held) is
 * marked crashed by the next writer, and the file goes. */
static void test_dead_restore_crashed(void **state)
{
	struct fixture *f = *state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kt_archive *r;
		struct kt_diag d;
		int64_t id = -1;
		if (kt_archive_open(f->arch, KT_ARCHIVE_RECORD, &r, NULL, &d) == KT_OK)
			id = begin_run(r, "restore");
		if (write(fds[1], &id, sizeof(id)) != sizeof(id))
			_exit(2);
		_exit(0); /* dies holding the archive open: nothing is cleaned up */
	}
	int64_t id = -1;
	assert_int_equal(read(fds[0], &id, sizeof(id)), sizeof(id));
	close(fds[0]);
	close(fds[1]);
	int st;
	waitpid(pid, &st, 0);
	assert_true(id > 0);
	char lock[4300];
	snprintf(lock, sizeof(lock), "%s/live/%010lld.lock", f->arch, (long long)id);
	assert_int_equal(access(lock, F_OK), 0);
	struct kt_archive *w;
	struct kt_archive_recovery rec;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_WRITE, &w, &rec, &d), KT_OK);
	assert_int_equal(rec.runs_crashed, 1);
	struct status_ctx c;
	assert_string_equal(run_status(w, &c, id), "crashed");
	kt_archive_close(w);
	assert_int_equal(access(lock, F_OK), -1);
}

/* A child that holds an flock on path (its text "pid N since ...", as
 * ktape's lock files) until it is killed; returns its pid once it holds it. */
static pid_t hold_flock(const char *path)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_RDWR | O_CREAT, 0640);
		char text[64];
		int n = snprintf(text, sizeof(text), "pid %d since 2026-12-02T00:00:00.000Z\n", (int)getpid());
		char ok = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && ftruncate(fd, 0) == 0 &&
					  pwrite(fd, text, (size_t)n, 0) == n
				  ? 1
				  : 0;
		if (write(fds[1], &ok, 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	char ok = 0;
	assert_int_equal(read(fds[0], &ok, 1), 1);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(ok, 1);
	return pid;
}

static void kill_child(pid_t pid)
{
	int st;
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

/* kt_flock_state: held while a child holds the flock, free once it is
 * killed, by /proc/locks and by the pid fallback; and the question takes no
 * lock: a writer's non-blocking flock taken right after it succeeds. */
static void test_flock_state(void **state)
{
	struct fixture *f = *state;
	char path[4200];
	snprintf(path, sizeof(path), "%s/lockfile", f->dir);
	assert_int_equal(kt_flock_state(path), KT_FLOCK_FREE); /* no file: nobody holds it */
	pid_t pid = hold_flock(path);
	assert_int_equal(kt_flock_state(path), KT_FLOCK_HELD);
	assert_int_equal(kt_flock_state_at(path, NULL), KT_FLOCK_HELD); /* kill(pid, 0) */
	/* another file of the same directory, unlocked, is free by /proc/locks
	 * even though it names the live child's pid: the inode decides */
	char other[4300];
	snprintf(other, sizeof(other), "%s/other", f->dir);
	char text[64];
	int n = snprintf(text, sizeof(text), "pid %d since x\n", (int)pid);
	th_write(other, text, (size_t)n);
	assert_int_equal(kt_flock_state(other), KT_FLOCK_FREE);
	kill_child(pid);
	assert_int_equal(kt_flock_state(path), KT_FLOCK_FREE);
	assert_int_equal(kt_flock_state_at(path, NULL), KT_FLOCK_FREE); /* ESRCH */
	/* the questions left no lock behind */
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	/* a file that names no process, without /proc/locks: cannot tell */
	th_write(other, "", 0);
	assert_int_equal(kt_flock_state_at(other, NULL), KT_FLOCK_UNKNOWN);
}

/* The lines of /proc/locks that count: FLOCK for the file's device and
 * inode; a blocked waiter's "->" line and a POSIX lock on it do not. */
static void test_flock_state_lines(void **state)
{
	struct fixture *f = *state;
	char path[4200], locks[4300];
	snprintf(path, sizeof(path), "%s/lockfile", f->dir);
	snprintf(locks, sizeof(locks), "%s/locks", f->dir);
	th_write(path, "", 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	char text[512];
	int n = snprintf(text, sizeof(text),
			 "1: POSIX  ADVISORY  WRITE 77 %02x:%02x:%llu 0 EOF\n"
			 "2: FLOCK  ADVISORY  WRITE 78 %02x:%02x:%llu 0 EOF\n"
			 "2: -> FLOCK  ADVISORY  WRITE 79 %02x:%02x:%llu 0 EOF\n",
			 major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino, major(st.st_dev),
			 minor(st.st_dev) + 1, (unsigned long long)st.st_ino, major(st.st_dev), minor(st.st_dev),
			 (unsigned long long)st.st_ino);
	th_write(locks, text, (size_t)n);
	assert_int_equal(kt_flock_state_at(path, locks), KT_FLOCK_FREE);
	n = snprintf(text, sizeof(text), "3: FLOCK  ADVISORY  READ 80 %02x:%02x:%llu 0 EOF\n", major(st.st_dev),
		     minor(st.st_dev), (unsigned long long)st.st_ino);
	th_write(locks, text, (size_t)n);
	assert_int_equal(kt_flock_state_at(path, locks), KT_FLOCK_HELD);
	/* btrfs: the line has the superblock's device, not the st_dev stat
	 * gives; the inode and the pid the file names still find its holder,
	 * another pid on that inode of another device does not */
	th_write(path, "pid 4242 since 2026-12-02T00:00:00.000Z\n", 40);
	assert_int_equal(stat(path, &st), 0);
	n = snprintf(text, sizeof(text), "4: FLOCK  ADVISORY  WRITE 4243 %02x:%02x:%llu 0 EOF\n", major(st.st_dev),
		     minor(st.st_dev) + 1, (unsigned long long)st.st_ino);
	th_write(locks, text, (size_t)n);
	assert_int_equal(kt_flock_state_at(path, locks), KT_FLOCK_FREE);
	n = snprintf(text, sizeof(text), "5: FLOCK  ADVISORY  WRITE 4242 %02x:%02x:%llu 0 EOF\n", major(st.st_dev),
		     minor(st.st_dev) + 1, (unsigned long long)st.st_ino);
	th_write(locks, text, (size_t)n);
	assert_int_equal(kt_flock_state_at(path, locks), KT_FLOCK_HELD);
}

/* kt_archive_run_alive, as ls asks it from a reader: a dump's run is alive
 * while its process holds DIR/lock, a restore's while it holds
 * live/RUN.lock; killed with SIGKILL, both read as gone, and the catalog
 * still says 'running' (a reader writes nothing). */
static void test_run_alive(void **state)
{
	struct fixture *f = *state;
	for (int restore = 0; restore <= 1; restore++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct kt_archive *w;
			struct kt_diag d;
			int64_t id = -1;
			if (kt_archive_open(f->arch, restore ? KT_ARCHIVE_RECORD : KT_ARCHIVE_WRITE, &w, NULL, &d) ==
			    KT_OK) {
				if (restore) {
					id = begin_run(w, "restore");
				} else {
					struct kt_catalog_run run = {0};
					run.kind = "dump";
					run.started_ms = 1;
					run.args = "";
					run.tool_version = "test";
					if (kt_catalog_run_begin(kt_archive_catalog(w), &run, &id, &d) != KT_OK)
						id = -1;
				}
			}
			if (write(fds[1], &id, sizeof(id)) != sizeof(id))
				_exit(2);
			for (;;)
				pause();
		}
		int64_t id = -1;
		assert_int_equal(read(fds[0], &id, sizeof(id)), sizeof(id));
		close(fds[0]);
		close(fds[1]);
		assert_true(id > 0);
		const char *kind = restore ? "restore" : "dump";
		struct kt_archive *r;
		struct kt_diag d;
		assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_READ, &r, NULL, &d), KT_OK);
		assert_int_equal(kt_archive_run_alive(r, id, kind, NULL, 0), 1);
		/* the other lock says nothing of this run */
		assert_int_equal(kt_archive_run_alive(r, id, restore ? "dump" : "restore", NULL, 0), 0);
		kill_child(pid);
		assert_int_equal(kt_archive_run_alive(r, id, kind, NULL, 0), 0);
		struct status_ctx c;
		assert_string_equal(run_status(r, &c, id), "running");
		kt_archive_close(r);
		/* the next writer marks it crashed, as before */
		struct kt_archive *w;
		struct kt_archive_recovery rec;
		assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_WRITE, &w, &rec, &d), KT_OK);
		assert_int_equal(rec.runs_crashed, 1);
		kt_archive_close(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_garbage_is_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_disk_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_restore_not_crashed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_restore_crashed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flock_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flock_state_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_alive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
