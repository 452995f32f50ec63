/* Unit tests of compaction (kt_archive_compact.c): a merge keeps every
 * record exactly once in full-size blocks, the policy bounds the files of a
 * partition by its data, and a crash (a real SIGKILL, through
 * KTAPE_TEST_CRASH) at each point of the swap leaves an archive whose
 * readers, whose next writer and whose reindex see every record once. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_archive.h"
#include "kt_archive_compact.h"
#include "kt_catalog.h"
#include "kt_crypto.h"
#include "kt_segment_reader.h"
#include "test_helpers.h"

struct fixture {
	char *dir;
	char arch[4096];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = th_mkdtemp();
	snprintf(f->arch, sizeof(f->arch), "%s/arch", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unsetenv("KTAPE_TEST_CRASH");
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const struct kt_segment_writer_opts wopts = {.zstd_level = 1, .no_fsync = 1};
/* set: the archive's segments are encrypted with it (and read with it) */
static struct kt_crypto_key *seg_key;

static void rec_at(int64_t off, struct kt_record *r, char *val)
{
	memset(r, 0, sizeof(*r));
	r->offset = off;
	r->timestamp = 1000000 + off * 100;
	r->ts_type = KT_TS_CREATE;
	r->key_null = 1;
	int n = sprintf(val, "value-%lld-%s", (long long)off, "padding-padding-padding");
	r->value = (const uint8_t *)val;
	r->value_len = (size_t)n;
}

/* Offsets [first, last] as one committed segment of run_id, as a commit
 * tick of a follower makes them. */
static void add_segment(struct kt_archive *a, int64_t first, int64_t last, int64_t run_id)
{
	struct kt_archive_segment *s;
	struct kt_diag d;
	struct kt_segment_writer_opts o = wopts;
	o.key = seg_key;
	assert_int_equal(kt_archive_segment_begin(a, "t", 0, 0, &o, &s, &d), KT_OK);
	for (int64_t o = first; o <= last; o++) {
		struct kt_record r;
		char val[128];
		rec_at(o, &r, val);
		assert_int_equal(kt_archive_segment_add(s, &r, &d), KT_OK);
	}
	struct kt_catalog_prun p = {run_id, "t", 0, 0, 0, last + 1, 0, INT64_MAX, last + 1, last + 1, -1, -1};
	assert_int_equal(kt_archive_segment_commit(a, s, run_id, &p, NULL, &d), KT_OK);
}

static int64_t begin_run(struct kt_archive *a)
{
	struct kt_catalog_run run = {0};
	run.kind = "dump";
	run.started_ms = 1;
	run.args = "ktape dump -a X --follow";
	run.tool_version = "test";
	int64_t id;
	struct kt_diag d;
	struct kt_catalog *cat = kt_archive_catalog(a);
	assert_int_equal(kt_catalog_begin(cat, &d), KT_OK);
	assert_int_equal(kt_catalog_run_begin(cat, &run, &id, &d), KT_OK);
	assert_int_equal(kt_catalog_commit(cat, &d), KT_OK);
	return id;
}

struct segs {
	struct kt_catalog_segment v[256];
	char paths[256][256];
	size_t n;
	int64_t blocks;
};

static int segs_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct segs *x = ctx;
	assert_true(x->n < 256);
	x->v[x->n] = *s;
	snprintf(x->paths[x->n], sizeof(x->paths[0]), "%s", s->path);
	x->v[x->n].path = x->paths[x->n];
	x->v[x->n].topic = "t";
	x->blocks += s->sum.block_count;
	x->n++;
	return 0;
}

static void list_segs(struct kt_archive *a, struct segs *x)
{
	struct kt_diag d;
	memset(x, 0, sizeof(*x));
	assert_int_equal(kt_catalog_each_segment(kt_archive_catalog(a), "t", segs_cb, x, &d), KT_OK);
}

static int count_file(void *ctx, const char *name, uint64_t size)
{
	(void)size;
	size_t l = strlen(name);
	if (l > 4 && !strcmp(name + l - 4, ".kts"))
		(*(int *)ctx)++;
	return 0;
}

static int count_files(struct kt_archive *a)
{
	int n = 0;
	struct kt_diag d;
	assert_int_equal(kt_archive_list(a, "segments/", count_file, &n, &d), KT_OK);
	return n;
}

static int count_missing_cb(void *ctx, const struct kt_catalog_missing *m)
{
	(void)m;
	(*(int *)ctx)++;
	return 0;
}

/* Reads the partition back: offsets 0..last each exactly once, in order,
 * with their values. */
static void check_records(const char *arch, int64_t last)
{
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(arch, KT_ARCHIVE_READ, &a, NULL, &d), KT_OK);
	kt_archive_set_key(a, seg_key);
	struct kt_archive_range rg = {"t", 0, 0, 0, INT64_MAX, INT64_MIN, INT64_MAX};
	struct kt_archive_iter *it;
	assert_int_equal(kt_archive_iter_open(a, &rg, &it, &d), KT_OK);
	int64_t want = 0;
	for (;;) {
		const struct kt_record *r;
		assert_int_equal(kt_archive_iter_next_strict(it, &r, &d), KT_OK);
		if (!r)
			break;
		struct kt_record e;
		char val[128];
		rec_at(want, &e, val);
		assert_int_equal(r->offset, want);
		assert_true(th_record_equal(r, &e));
		want++;
	}
	assert_int_equal(want, last + 1);
	int missing = 0;
	assert_int_equal(kt_catalog_each_missing(kt_archive_catalog(a), NULL, count_missing_cb, &missing, &d), KT_OK);
	assert_int_equal(missing, 0);
	kt_archive_iter_close(it);
	kt_archive_close(a);
}

/* Ten small segments become one, of the same run, with one block (the
 * parts had one each), committed_ms the newest of theirs; the parts' files
 * are gone; every record reads back once; reindex rebuilds the same. */
static void test_merge(void **state)
{
	struct fixture *f = *state;
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	int64_t run = begin_run(a);
	for (int i = 0; i < 10; i++)
		add_segment(a, i * 20, i * 20 + 19, run);
	char marker[4200];
	snprintf(marker, sizeof(marker), "%s/ktape-archive", f->arch);
	size_t mlen;
	char *m = (char *)th_read(marker, &mlen);
	m[mlen] = '\0'; /* th_read leaves room for it */
	/* version 1 until the first merge: older ktape still reads it */
	assert_non_null(strstr(m, "format_version=1\n"));
	free(m);
	struct segs x;
	list_segs(a, &x);
	assert_int_equal(x.n, 10);
	int64_t newest = 0;
	for (size_t i = 0; i < x.n; i++)
		if (x.v[i].committed_ms > newest)
			newest = x.v[i].committed_ms;
	assert_true(newest > 0);
	struct kt_segment_summary sum;
	assert_int_equal(kt_archive_merge_segments(a, x.v, x.n, run, &wopts, &sum, &d), KT_OK);
	assert_int_equal(sum.record_count, 200);
	assert_int_equal(sum.block_count, 1);
	list_segs(a, &x);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.blocks, 1);
	assert_int_equal(x.v[0].run_id, run);
	assert_int_equal(x.v[0].committed_ms, newest);
	assert_int_equal(x.v[0].sum.first_offset, 0);
	assert_int_equal(x.v[0].sum.last_offset, 199);
	assert_int_equal(count_files(a), 1);
	m = (char *)th_read(marker, &mlen);
	m[mlen] = '\0';
	assert_non_null(strstr(m, "format_version=2\n"));
	free(m);
	struct kt_catalog *cat = kt_archive_catalog(a);
	assert_int_equal(kt_catalog_run_end(cat, run, "ok", 0, 0, NULL, 2, &d), KT_OK);
	assert_int_equal(kt_catalog_run_recount(cat, run, NULL, NULL, &d), KT_OK);
	assert_int_equal(kt_archive_write_run_meta(a, run, "dump", &d), KT_OK);
	kt_archive_close(a);
	check_records(f->arch, 199);
	struct kt_archive_reindex_result res;
	assert_int_equal(kt_archive_reindex(f->arch, &res, NULL, NULL, &d), KT_OK);
	assert_int_equal(res.segments, 1);
	assert_int_equal(res.missing_ranges, 0);
	check_records(f->arch, 199);
}

/* A run's segments that arrive a few at a time (commit ticks) under the
 * policy: the partition never holds more than a bound that follows its
 * data, and an age window that is over merges whole. */
static void test_policy_bounds_files(void **state)
{
	struct fixture *f = *state;
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	int64_t run = begin_run(a);
	/* 32 KiB "full" segments, fanout 4: classes 8 KiB.. down to the
	 * minimum class size; ticks of 20 records (about 1 KiB) */
	struct kt_archive_compact_opts o = {
		.segment_bytes = 32 << 10, .fanout = 4, .age_ms = 3600 * 1000, .run_id = run, .zstd_level = 1};
	struct kt_archive_compactor *c;
	assert_int_equal(kt_archive_compactor_new(a, &o, &c, &d), KT_OK);
	int64_t now = 0;
	int most = 0;
	for (int i = 0; i < 200; i++) {
		add_segment(a, i * 20, i * 20 + 19, run);
		struct segs x;
		list_segs(a, &x);
		now = x.v[x.n - 1].committed_ms;
		kt_archive_compact_begin_pass(c);
		assert_int_equal(kt_archive_compact_partition(c, "t", 0, 0, now, &d), KT_OK);
		list_segs(a, &x);
		if ((int)x.n > most)
			most = (int)x.n;
		assert_int_equal(count_files(a), (int)x.n);
	}
	/* 200 ticks of ~1.1 KiB raw: ~220 KiB = about 7 full segments; with a
	 * fanout of 4 no class holds 4 in a row */
	struct segs x;
	list_segs(a, &x);
	uint64_t raw = 0;
	for (size_t i = 0; i < x.n; i++)
		raw += x.v[i].sum.raw_bytes;
	int bound = (int)(raw / (o.segment_bytes / 4)) * 4 + 4 * 3;
	print_message("200 ticks: %zu segments at the end, %d at most, bound %d, %d merges\n", x.n, most, bound,
		      (int)kt_archive_compact_stats(c)->merges);
	assert_true(most <= bound);
	assert_true(x.n < 40);
	/* the hour is over: its segments merge into as few as the size allows */
	kt_archive_compact_begin_pass(c);
	assert_int_equal(kt_archive_compact_partition(c, "t", 0, 0, now + 3600 * 1000, &d), KT_OK);
	list_segs(a, &x);
	int full = (int)((raw + o.segment_bytes - 1) / o.segment_bytes);
	print_message("after the window closed: %zu segments (%d full ones' worth)\n", x.n, full);
	assert_true((int)x.n <= 2 * full + 1);
	kt_archive_compactor_free(c);
	kt_archive_close(a);
	check_records(f->arch, 200 * 20 - 1);
}

/* An encrypted archive's parts merge into a segment encrypted with the
 * same key: format 2.1, its blocks readable with the key only. */
static void test_merge_encrypted(void **state)
{
	struct fixture *f = *state;
	uint8_t kb[KT_CRYPTO_KEY_BYTES];
	for (size_t i = 0; i < sizeof(kb); i++)
		kb[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(kt_crypto_key_from_bytes(kb, &seg_key), KT_OK);
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	assert_int_equal(kt_archive_use_key(a, seg_key, 1, &d), KT_OK);
	int64_t run = begin_run(a);
	for (int i = 0; i < 5; i++)
		add_segment(a, i * 40, i * 40 + 39, run);
	struct segs x;
	list_segs(a, &x);
	assert_int_equal(kt_archive_merge_segments(a, x.v, x.n, run, &wopts, NULL, &d), KT_OK);
	list_segs(a, &x);
	assert_int_equal(x.n, 1);
	struct kt_segment_reader_opts ro = {0};
	struct kt_store_segment *seg;
	assert_int_equal(kt_archive_segment_open(a, x.v[0].path, &ro, &seg, &d), KT_OK);
	const struct kt_segment_info *info = kt_segment_reader_info(kt_store_segment_reader(seg));
	assert_int_equal(info->encrypted, 1);
	assert_int_equal(info->version_minor, 1);
	assert_memory_equal(info->key_id, kt_crypto_key_id(seg_key), KT_SEG_KEY_ID_SIZE);
	const struct kt_record *r;
	/* without the key its blocks do not open */
	assert_int_not_equal(kt_segment_reader_next(kt_store_segment_reader(seg), &r, &d), KT_OK);
	kt_store_segment_close(seg);
	kt_archive_close(a);
	check_records(f->arch, 199);
	kt_crypto_key_free(seg_key);
	seg_key = NULL;
}

/* A run that ended left small segments (a follower killed and started
 * again): the next run merges them among themselves, under their own run
 * (its records stay its own), and that run's metadata file claims the
 * merged segment, so that reindex gives it back to its run. */
static void test_ended_run_merged(void **state)
{
	struct fixture *f = *state;
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	struct kt_catalog *cat = kt_archive_catalog(a);
	int64_t run1 = begin_run(a);
	for (int i = 0; i < 8; i++)
		add_segment(a, i * 10, i * 10 + 9, run1);
	assert_int_equal(kt_catalog_begin(cat, &d), KT_OK);
	assert_int_equal(kt_catalog_run_end(cat, run1, "crashed", 0, 0, NULL, 2, &d), KT_OK);
	assert_int_equal(kt_catalog_run_recount(cat, run1, NULL, NULL, &d), KT_OK);
	assert_int_equal(kt_catalog_commit(cat, &d), KT_OK);
	assert_int_equal(kt_archive_write_run_meta(a, run1, "dump", &d), KT_OK);
	int64_t run2 = begin_run(a);
	add_segment(a, 80, 89, run2);
	struct kt_archive_compact_opts o = {
		.segment_bytes = 1 << 20, .fanout = 4, .age_ms = 3600 * 1000, .run_id = run2, .zstd_level = 1};
	struct kt_archive_compactor *c;
	assert_int_equal(kt_archive_compactor_new(a, &o, &c, &d), KT_OK);
	struct segs x;
	list_segs(a, &x);
	int64_t now = x.v[x.n - 1].committed_ms;
	kt_archive_compact_begin_pass(c);
	assert_int_equal(kt_archive_compact_partition(c, "t", 0, 0, now, &d), KT_OK);
	list_segs(a, &x);
	/* run 1's eight became two (two windows of four), run 2's one stays:
	 * no segment of two runs */
	assert_int_equal(x.n, 3);
	assert_int_equal(x.v[0].run_id, run1);
	assert_int_equal(x.v[1].run_id, run1);
	assert_int_equal(x.v[2].run_id, run2);
	assert_int_equal(x.v[1].sum.last_offset, 79);
	kt_archive_compactor_free(c);
	assert_int_equal(kt_catalog_begin(cat, &d), KT_OK);
	assert_int_equal(kt_catalog_run_end(cat, run2, "ok", 0, 0, NULL, 3, &d), KT_OK);
	assert_int_equal(kt_catalog_run_recount(cat, run2, NULL, NULL, &d), KT_OK);
	assert_int_equal(kt_catalog_commit(cat, &d), KT_OK);
	assert_int_equal(kt_archive_write_run_meta(a, run2, "dump", &d), KT_OK);
	kt_archive_close(a);
	check_records(f->arch, 89);
	struct kt_archive_reindex_result res;
	assert_int_equal(kt_archive_reindex(f->arch, &res, NULL, NULL, &d), KT_OK);
	assert_int_equal(res.missing_ranges, 0);
	assert_int_equal(res.duplicate_files, 0);
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_READ, &a, NULL, &d), KT_OK);
	list_segs(a, &x);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.v[0].run_id, run1);
	assert_int_equal(x.v[1].run_id, run1);
	assert_int_equal(x.v[2].run_id, run2);
	kt_archive_close(a);
	check_records(f->arch, 89);
}

static const char *const points[] = {"compact-written", "compact-placed", "compact-swapped", "compact-removing"};

/* Builds the archive of the crash tests: a finished run of 6 segments
 * (with its metadata file, whose claims name them), then a merge of them
 * killed at point. Returns the child's status. */
static int crash_merge(const char *arch, const char *point)
{
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	int64_t run = begin_run(a);
	for (int i = 0; i < 6; i++)
		add_segment(a, i * 50, i * 50 + 49, run);
	struct kt_catalog *cat = kt_archive_catalog(a);
	assert_int_equal(kt_catalog_begin(cat, &d), KT_OK);
	assert_int_equal(kt_catalog_run_end(cat, run, "ok", 0, 0, NULL, 2, &d), KT_OK);
	assert_int_equal(kt_catalog_run_recount(cat, run, NULL, NULL, &d), KT_OK);
	assert_int_equal(kt_catalog_commit(cat, &d), KT_OK);
	assert_int_equal(kt_archive_write_run_meta(a, run, "dump", &d), KT_OK);
	kt_archive_close(a);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("KTAPE_TEST_CRASH", point, 1);
		if (kt_archive_open(arch, KT_ARCHIVE_WRITE, &a, NULL, &d) != KT_OK)
			_exit(2);
		int64_t run2 = begin_run(a);
		struct segs x;
		list_segs(a, &x);
		struct kt_segment_summary sum;
		kt_archive_merge_segments(a, x.v, x.n, run2, &wopts, &sum, &d);
		_exit(3); /* not killed: the crash point was not reached */
	}
	int status;
	assert_true(waitpid(pid, &status, 0) == pid);
	return status;
}

/* What each crash point leaves, seen by a reader at once, by the next
 * writer, and by reindex (before and after that writer): every record
 * once, nothing missing, no file twice. */
static void test_crash_points(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		th_rmrf(f->arch);
		int status = crash_merge(f->arch, points[i]);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		int swapped = i >= 2;
		/* a reader at once: the catalog never names a record twice */
		check_records(f->arch, 299);

		/* a copy for reindex before any writer */
		char copy[4200], cmd[9000];
		snprintf(copy, sizeof(copy), "%s/copy", f->dir);
		th_rmrf(copy);
		snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", f->arch, copy);
		assert_int_equal(system(cmd), 0);

		/* the next writer: leftovers removed, the catalog as the crash
		 * left it */
		struct kt_archive *a;
		struct kt_archive_recovery rec;
		struct kt_diag d;
		assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_WRITE, &a, &rec, &d), KT_OK);
		struct segs x;
		list_segs(a, &x);
		print_message("%s: %zu segments listed, %d files, %d leftovers removed, %d recovered\n", points[i], x.n,
			      count_files(a), rec.leftovers_removed, rec.segments_recovered);
		assert_int_equal(x.n, swapped ? 1 : 6);
		assert_int_equal(count_files(a), (int)x.n);
		assert_int_equal(rec.segments_recovered, 0);
		assert_int_equal(rec.leftovers_removed, i == 0 ? 0 : i == 3 ? 5 : i == 2 ? 6 : 1);
		kt_archive_close(a);
		check_records(f->arch, 299);

		/* reindex of the copy, as the crash left it: one set of files
		 * indexed, the claims of the others not taken for holes */
		struct kt_archive_reindex_result res;
		assert_int_equal(kt_archive_reindex(copy, &res, NULL, NULL, &d), KT_OK);
		print_message("%s: reindex indexed %d segments, %d duplicates, %d missing\n", points[i], res.segments,
			      res.duplicate_files, res.missing_ranges);
		assert_int_equal(res.missing_ranges, 0);
		check_records(copy, 299);
		/* and its next writer removes what reindex left unindexed */
		assert_int_equal(kt_archive_open(copy, KT_ARCHIVE_WRITE, &a, &rec, &d), KT_OK);
		list_segs(a, &x);
		assert_int_equal(count_files(a), (int)x.n);
		kt_archive_close(a);
		check_records(copy, 299);
		/* reindex after the writer: the same again */
		assert_int_equal(kt_archive_reindex(f->arch, &res, NULL, NULL, &d), KT_OK);
		assert_int_equal(res.missing_ranges, 0);
		assert_int_equal(res.duplicate_files, 0);
		check_records(f->arch, 299);
		th_rmrf(copy);
	}
}

/* A reader that listed the parts before the swap, and opens them after
 * their files went, reads on from the merged segment: every record once. */
static void test_reader_across_swap(void **state)
{
	struct fixture *f = *state;
	struct kt_archive *w;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &w, NULL, &d), KT_OK);
	int64_t run = begin_run(w);
	for (int i = 0; i < 8; i++)
		add_segment(w, i * 30, i * 30 + 29, run);
	struct kt_archive *r;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_READ, &r, NULL, &d), KT_OK);
	struct kt_archive_range rg = {"t", 0, 0, 0, INT64_MAX, INT64_MIN, INT64_MAX};
	struct kt_archive_iter *it;
	assert_int_equal(kt_archive_iter_open(r, &rg, &it, &d), KT_OK);
	int64_t want = 0;
	const struct kt_record *rec;
	/* into the second part, then the swap under the reader's feet */
	while (want < 45) {
		assert_int_equal(kt_archive_iter_next(it, &rec, &d), KT_OK);
		assert_non_null(rec);
		assert_int_equal(rec->offset, want++);
	}
	struct segs x;
	list_segs(w, &x);
	assert_int_equal(kt_archive_merge_segments(w, x.v, x.n, run, &wopts, NULL, &d), KT_OK);
	for (;;) {
		kt_diag_clear(&d);
		enum kt_err err = kt_archive_iter_next(it, &rec, &d);
		if (err)
			fail_msg("reader after the swap: %s", d.msg);
		if (!rec)
			break;
		assert_int_equal(rec->offset, want++);
	}
	assert_int_equal(want, 240);
	kt_archive_iter_close(it);
	kt_archive_close(r);
	kt_archive_close(w);
}

/* ---- an erasure's rewrite (kt_archive_rewrite_segment, SPEC 10.9) ---- */

static int keep_mod(void *ctx, const struct kt_record *r)
{
	const int64_t *m = ctx; /* {modulus, residue}: refused when offset % m == r */
	return r->offset % m[0] != m[1];
}

/* Reads the partition back: exactly the offsets 0..last that none of the
 * ndrop {modulus, residue} pairs refuses, with their values. */
static void check_kept(const char *arch, int64_t last, const int64_t (*drop)[2], size_t ndrop)
{
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(arch, KT_ARCHIVE_READ, &a, NULL, &d), KT_OK);
	struct kt_archive_range rg = {"t", 0, 0, 0, INT64_MAX, INT64_MIN, INT64_MAX};
	struct kt_archive_iter *it;
	assert_int_equal(kt_archive_iter_open(a, &rg, &it, &d), KT_OK);
	int64_t want = 0;
	for (;;) {
		const struct kt_record *r;
		assert_int_equal(kt_archive_iter_next_strict(it, &r, &d), KT_OK);
		for (int dropped = 1; dropped && want <= last;) {
			dropped = 0;
			for (size_t i = 0; i < ndrop; i++)
				if (want % drop[i][0] == drop[i][1])
					dropped = 1;
			if (dropped)
				want++;
		}
		if (!r)
			break;
		struct kt_record e;
		char val[128];
		rec_at(want, &e, val);
		assert_int_equal(r->offset, want);
		assert_true(th_record_equal(r, &e));
		want++;
	}
	assert_int_equal(want, last + 1);
	kt_archive_iter_close(it);
	kt_archive_close(a);
}

static void test_rewrite(void **state)
{
	struct fixture *f = *state;
	char t[64];
	uint32_t g;
	int32_t p;
	int64_t first, last;
	/* names: FIRST-LAST~N.kts parses with the range, N >= 1 */
	assert_int_equal(
		kt_archive_segment_parse_relpath("segments/t/g0/p2/00000000000000000005-00000000000000000019~3.kts", t,
						 sizeof(t), &g, &p, &first, &last),
		1);
	assert_int_equal(first, 5);
	assert_int_equal(last, 19);
	assert_int_equal(p, 2);
	assert_int_equal(
		kt_archive_segment_rewrite_of("segments/t/g0/p2/00000000000000000005-00000000000000000019~3.kts"), 3);
	assert_int_equal(
		kt_archive_segment_rewrite_of("segments/t/g0/p2/00000000000000000005-00000000000000000019.kts"), 0);
	assert_int_equal(
		kt_archive_segment_parse_relpath("segments/t/g0/p2/00000000000000000005-00000000000000000019~0.kts", t,
						 sizeof(t), &g, &p, &first, &last),
		0);
	assert_int_equal(
		kt_archive_segment_parse_relpath("segments/t/g0/p2/00000000000000000005-00000000000000000019~x.kts", t,
						 sizeof(t), &g, &p, &first, &last),
		0);

	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	int64_t run = begin_run(a);
	add_segment(a, 0, 99, run);
	add_segment(a, 100, 109, run);
	struct kt_catalog_run er = {0};
	er.kind = "prune";
	er.started_ms = 2;
	er.args = "ktape prune -a X --erase-keys L";
	er.tool_version = "test";
	int64_t by;
	struct kt_catalog *cat = kt_archive_catalog(a);
	assert_int_equal(kt_catalog_begin(cat, &d), KT_OK);
	assert_int_equal(kt_catalog_run_begin(cat, &er, &by, &d), KT_OK);
	assert_int_equal(kt_catalog_commit(cat, &d), KT_OK);

	/* the even offsets of 0..99 out: 50 records left, offsets 1..99 with gaps */
	struct segs x;
	list_segs(a, &x);
	assert_int_equal(x.n, 2);
	int64_t even[2] = {2, 0};
	uint64_t refused = 0, dropped = 0;
	assert_int_equal(kt_archive_segment_count_refused(a, &x.v[0], keep_mod, even, &refused, &d), KT_OK);
	assert_int_equal(refused, 50);
	struct kt_segment_summary sum;
	assert_int_equal(kt_archive_rewrite_segment(a, &x.v[0], by, &wopts, keep_mod, even, &dropped, &sum, &d), KT_OK);
	assert_int_equal(dropped, 50);
	assert_int_equal(sum.record_count, 50);
	assert_int_equal(sum.first_offset, 1);
	assert_int_equal(sum.last_offset, 99);
	list_segs(a, &x);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.v[0].path, "segments/t/g0/p0/00000000000000000000-00000000000000000099~1.kts");
	assert_int_equal(x.v[0].sum.record_count, 50);
	assert_int_equal(count_files(a), 2);
	char marker[4200];
	snprintf(marker, sizeof(marker), "%s/ktape-archive", f->arch);
	size_t mlen;
	char *m = (char *)th_read(marker, &mlen);
	m[mlen] = '\0';
	assert_non_null(strstr(m, "format_version=4\n"));
	free(m);
	/* nothing refused: nothing changes */
	int64_t none[2] = {1000, 999};
	assert_int_equal(kt_archive_rewrite_segment(a, &x.v[1], by, &wopts, keep_mod, none, &dropped, NULL, &d), KT_OK);
	assert_int_equal(dropped, 0);
	/* again: ~2, named by the original range */
	int64_t four[2] = {4, 1};
	assert_int_equal(kt_archive_rewrite_segment(a, &x.v[0], by, &wopts, keep_mod, four, &dropped, &sum, &d), KT_OK);
	assert_int_equal(dropped, 25);
	list_segs(a, &x);
	assert_string_equal(x.v[0].path, "segments/t/g0/p0/00000000000000000000-00000000000000000099~2.kts");
	assert_int_equal(count_files(a), 2);
	/* every record of the second segment: its row and file go */
	int64_t all[2] = {1, 0};
	assert_int_equal(kt_archive_rewrite_segment(a, &x.v[1], by, &wopts, keep_mod, all, &dropped, NULL, &d), KT_OK);
	assert_int_equal(dropped, 10);
	list_segs(a, &x);
	assert_int_equal(x.n, 1);
	assert_int_equal(count_files(a), 1);
	/* no missing range: the erased offsets are gaps, not holes */
	int missing = 0;
	assert_int_equal(kt_catalog_each_missing(cat, NULL, count_missing_cb, &missing, &d), KT_OK);
	assert_int_equal(missing, 0);
	assert_int_equal(kt_catalog_run_end(cat, run, "ok", 0, 0, NULL, 3, &d), KT_OK);
	assert_int_equal(kt_catalog_run_end(cat, by, "ok", 0, 0, NULL, 3, &d), KT_OK);
	assert_int_equal(kt_archive_write_run_meta(a, run, "dump", &d), KT_OK);
	assert_int_equal(kt_archive_write_run_meta(a, by, "prune", &d), KT_OK);
	kt_archive_close(a);
	const int64_t drops[3][2] = {{2, 0}, {4, 1}, {1000, 1000}};
	check_kept(f->arch, 99, drops, 2);
	/* reindex: the same file, no hole for the claims of the replaced ones */
	struct kt_archive_reindex_result res;
	assert_int_equal(kt_archive_reindex(f->arch, &res, NULL, NULL, &d), KT_OK);
	assert_int_equal(res.segments, 1);
	assert_int_equal(res.missing_ranges, 0);
	check_kept(f->arch, 99, drops, 2);
}

/* The archive of test_rewrite_crash: a finished run's segment 0..99 (with
 * its metadata file), then an erasure of its even offsets killed at point.
 * Returns the child's status. */
static int crash_rewrite(const char *arch, const char *point)
{
	struct kt_archive *a;
	struct kt_diag d;
	assert_int_equal(kt_archive_open(arch, KT_ARCHIVE_CREATE, &a, NULL, &d), KT_OK);
	int64_t run = begin_run(a);
	add_segment(a, 0, 99, run);
	struct kt_catalog *cat = kt_archive_catalog(a);
	assert_int_equal(kt_catalog_begin(cat, &d), KT_OK);
	assert_int_equal(kt_catalog_run_end(cat, run, "ok", 0, 0, NULL, 2, &d), KT_OK);
	assert_int_equal(kt_catalog_run_recount(cat, run, NULL, NULL, &d), KT_OK);
	assert_int_equal(kt_catalog_commit(cat, &d), KT_OK);
	assert_int_equal(kt_archive_write_run_meta(a, run, "dump", &d), KT_OK);
	kt_archive_close(a);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("KTAPE_TEST_CRASH", point, 1);
		if (kt_archive_open(arch, KT_ARCHIVE_WRITE, &a, NULL, &d) != KT_OK)
			_exit(2);
		struct kt_catalog_run er = {0};
		er.kind = "prune";
		er.started_ms = 2;
		er.args = "ktape prune -a X --erase-keys L";
		er.tool_version = "test";
		int64_t by;
		cat = kt_archive_catalog(a);
		if (kt_catalog_begin(cat, &d) || kt_catalog_run_begin(cat, &er, &by, &d) || kt_catalog_commit(cat, &d))
			_exit(2);
		struct segs x;
		list_segs(a, &x);
		int64_t even[2] = {2, 0};
		uint64_t dropped;
		kt_archive_rewrite_segment(a, &x.v[0], by, &wopts, keep_mod, even, &dropped, NULL, &d);
		_exit(3); /* not killed: the crash point was not reached */
	}
	int status;
	assert_true(waitpid(pid, &status, 0) == pid);
	return status;
}

/* An erasure killed once its rewrite FIRST-LAST~1 is under its name (placed,
 * or listed before the erasing run's metadata file is written again): the
 * erasure rolls forward (SPEC 10.9). Reindex before any writer and the
 * next writer's recovery both keep the rewrite, drop the original and
 * record no hole; the rewrite gets the original's run. A damaged rewrite
 * replaces nothing: the original stays, whole. */
static void test_rewrite_crash(void **state)
{
	struct fixture *f = *state;
	const char *pts[] = {"compact-placed", "erase-listed", "compact-placed"};
	const char *orig = "segments/t/g0/p0/00000000000000000000-00000000000000000099.kts";
	const char *rw = "segments/t/g0/p0/00000000000000000000-00000000000000000099~1.kts";
	const int64_t even[1][2] = {{2, 0}};
	for (int i = 0; i < 3; i++) {
		int damaged = i == 2;
		th_rmrf(f->arch);
		int status = crash_rewrite(f->arch, pts[i]);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		char po[4400], pr[4400], copy[4200], cmd[9000];
		snprintf(po, sizeof(po), "%s/%s", f->arch, orig);
		snprintf(pr, sizeof(pr), "%s/%s", f->arch, rw);
		assert_int_equal(access(po, F_OK), 0);
		assert_int_equal(access(pr, F_OK), 0);
		if (damaged) {
			size_t len;
			free(th_read(pr, &len));
			assert_int_equal(truncate(pr, (off_t)(len / 2)), 0); /* no footer */
		}
		snprintf(copy, sizeof(copy), "%s/copy", f->dir);
		th_rmrf(copy);
		snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", f->arch, copy);
		assert_int_equal(system(cmd), 0);
		const char *kept = damaged ? orig : rw;

		/* the next writer's recovery */
		struct kt_archive *a;
		struct kt_archive_recovery rec;
		struct kt_diag d;
		assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_WRITE, &a, &rec, &d), KT_OK);
		print_message("%s%s: %d recovered, %d leftovers removed\n", pts[i], damaged ? " (damaged)" : "",
			      rec.segments_recovered, rec.leftovers_removed);
		struct segs x;
		list_segs(a, &x);
		assert_int_equal(x.n, 1);
		assert_string_equal(x.v[0].path, kept);
		assert_int_equal(x.v[0].run_id, 1); /* the dump's */
		assert_int_equal(count_files(a), 1);
		assert_int_equal(rec.leftovers_removed, 1);
		assert_int_equal(rec.segments_recovered, i == 0 ? 1 : 0);
		int noted = 0, missing = 0;
		assert_int_equal(kt_catalog_erased_path(kt_archive_catalog(a), orig, &noted, &d), KT_OK);
		assert_int_equal(noted, !damaged);
		assert_int_equal(kt_catalog_each_missing(kt_archive_catalog(a), NULL, count_missing_cb, &missing, &d),
				 KT_OK);
		assert_int_equal(missing, 0);
		kt_archive_close(a);
		check_kept(f->arch, 99, even, damaged ? 0 : 1);

		/* reindex of the copy, before any writer: the same choice */
		struct kt_archive_reindex_result res;
		assert_int_equal(kt_archive_reindex(copy, &res, NULL, NULL, &d), KT_OK);
		assert_int_equal(res.segments, 1);
		assert_int_equal(res.missing_ranges, 0);
		check_kept(copy, 99, even, damaged ? 0 : 1);
		assert_int_equal(kt_archive_open(copy, KT_ARCHIVE_READ, &a, NULL, &d), KT_OK);
		list_segs(a, &x);
		assert_int_equal(x.n, 1);
		assert_string_equal(x.v[0].path, kept);
		assert_int_equal(x.v[0].run_id, 1);
		assert_int_equal(count_files(a), 1); /* the other version removed */
		kt_archive_close(a);

		/* reindex after the writer: the same again, nothing left over */
		assert_int_equal(kt_archive_reindex(f->arch, &res, NULL, NULL, &d), KT_OK);
		assert_int_equal(res.segments, 1);
		assert_int_equal(res.missing_ranges, 0);
		assert_int_equal(res.duplicate_files, 0);
		check_kept(f->arch, 99, even, damaged ? 0 : 1);
		th_rmrf(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_encrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_bounds_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ended_run_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_across_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_crash, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
