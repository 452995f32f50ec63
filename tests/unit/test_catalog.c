/* Unit tests of the catalog (src/catalog/kt_catalog.c) on its own: runs,
 * segments and the block lookups by offset and time, resume points,
 * missing ranges and claims, the metadata export/import round trip and its
 * compatibility rules (metadata 1.2), and the upgrades of version 1 and 2
 * catalogs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kt_buf.h"
#include "kt_catalog.h"
#include "test_helpers.h"

struct fixture {
	char *dir;
	char db[4096];
	struct kt_catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = th_mkdtemp();
	snprintf(f->db, sizeof(f->db), "%s/catalog.db", f->dir);
	struct kt_diag d;
	assert_int_equal(kt_catalog_open(f->db, KT_CATALOG_CREATE, &f->cat, &d), KT_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kt_catalog_close(f->cat);
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static int64_t new_run(struct kt_catalog *cat, const char *kind)
{
	struct kt_catalog_run run = {0};
	run.kind = kind;
	run.started_ms = 1000;
	run.args = "ktape test";
	run.tool_version = "test";
	int64_t id;
	struct kt_diag d;
	assert_int_equal(kt_catalog_run_begin(cat, &run, &id, &d), KT_OK);
	return id;
}

/* A segment of topic t, partition 0, offsets [first, last] in blocks of
 * ten, timestamps ts0 + offset (block 1's jump back by 500). */
static void add_seg(struct kt_catalog *cat, const char *path, int64_t first, int64_t last, int64_t ts0, int64_t run)
{
	struct kt_block_info b[16];
	uint32_t n = 0;
	for (int64_t o = first; o <= last && n < 16; o += 10, n++) {
		int64_t l = o + 9 > last ? last : o + 9;
		int64_t back = n == 1 ? 500 : 0;
		b[n] = (struct kt_block_info){
			n * 100, n, (uint32_t)(l - o + 1), 50, 100, o, l, ts0 + o - back, ts0 + l - back, ts0 + o, 0};
	}
	struct kt_segment_summary sum = {(uint64_t)(last - first + 1),
					 100 * n,
					 100 * n + 64,
					 100 * n,
					 first,
					 last,
					 ts0 + first - 500,
					 ts0 + last,
					 n,
					 7};
	struct kt_catalog_segment seg = {0, path, "t", 0, 0, sum, run, 0};
	struct kt_diag d;
	assert_int_equal(kt_catalog_add_segment(cat, &seg, b, n, NULL, &d), KT_OK);
}

/* The first block that can hold a timestamp is found through the running
 * maximum, though timestamps go back inside the partition. */
static void test_blocks_by_time_and_offset(void **state)
{
	struct fixture *f = *state;
	struct kt_diag d;
	int64_t run = new_run(f->cat, "dump");
	add_seg(f->cat, "segments/t/g0/p0/a.kts", 0, 39, 10000, run);
	int64_t first;
	int found;
	assert_int_equal(kt_catalog_first_block_at_time(f->cat, "t", 0, 0, 10009, &first, &found, &d), KT_OK);
	assert_true(found);
	assert_int_equal(first, 0);
	/* block 1 holds 9510..9519: 10012 is first reachable in block 2 (prefix max of block 1 is 10009) */
	assert_int_equal(kt_catalog_first_block_at_time(f->cat, "t", 0, 0, 10012, &first, &found, &d), KT_OK);
	assert_int_equal(first, 20);
	assert_int_equal(kt_catalog_first_block_at_time(f->cat, "t", 0, 0, 99999, &first, &found, &d), KT_OK);
	assert_false(found);
	int64_t end;
	assert_int_equal(kt_catalog_resume_end(f->cat, "t", 0, 0, &end, &found, &d), KT_OK);
	assert_true(found);
	assert_int_equal(end, 40);
	/* progress past the newest segment moves the resume point */
	struct kt_catalog_prun p = {run, "t", 0, 0, 0, 60, 0, 60, 55, 40, -1, -1};
	assert_int_equal(kt_catalog_put_prun(f->cat, &p, &d), KT_OK);
	assert_int_equal(kt_catalog_resume_end(f->cat, "t", 0, 0, &end, &found, &d), KT_OK);
	assert_int_equal(end, 55);
}

static int count_missing(void *ctx, const struct kt_catalog_missing *m)
{
	struct kt_buf *b = ctx;
	kt_buf_printf(b, "%lld..%lld %s|", (long long)m->first_offset, (long long)m->last_offset, m->path);
	return 0;
}

static char *missing_text(struct kt_catalog *cat)
{
	struct kt_buf b;
	kt_buf_init(&b, 1 << 16);
	struct kt_diag d;
	assert_int_equal(kt_catalog_each_missing(cat, NULL, count_missing, &b, &d), KT_OK);
	kt_buf_append_u8(&b, 0);
	return (char *)b.data;
}

/* Claims that are indexed get their run back; claims whose file is gone
 * become missing ranges, except the ones a prune removed. */
static void test_claims_and_missing(void **state)
{
	struct fixture *f = *state;
	struct kt_diag d;
	int64_t dump = new_run(f->cat, "dump");
	int64_t prune = new_run(f->cat, "prune");
	add_seg(f->cat, "segments/t/g0/p0/a.kts", 0, 9, 0, 0); /* found by reindex: no run */
	struct kt_buf rows;
	kt_buf_init(&rows, 1 << 16);
	/* table 9 rows, as a dump's metadata file carries them */
	const char *paths[3] = {"segments/t/g0/p0/a.kts", "segments/t/g0/p0/b.kts", "segments/t/g0/p0/c.kts"};
	for (int i = 0; i < 3; i++) {
		kt_buf_append_uvarint(&rows, 9);
		kt_buf_append_uvarint(&rows, 9);
		int64_t ints[] = {dump};
		kt_buf_append_u8(&rows, 1);
		kt_buf_append_uvarint(&rows, (uint64_t)ints[0] << 1);
		kt_buf_append_u8(&rows, 2);
		kt_buf_append_uvarint(&rows, strlen(paths[i]));
		kt_buf_append(&rows, paths[i], strlen(paths[i]));
		kt_buf_append_u8(&rows, 2);
		kt_buf_append_uvarint(&rows, 1);
		kt_buf_append(&rows, "t", 1);
		int64_t rest[] = {0, 0, i * 10, i * 10 + 9, 10, 7};
		for (int k = 0; k < 6; k++) {
			kt_buf_append_u8(&rows, 1);
			kt_buf_append_uvarint(&rows, (uint64_t)rest[k] << 1);
		}
	}
	assert_int_equal(kt_catalog_import_rows(f->cat, rows.data, rows.len, &d), KT_OK);
	kt_buf_free(&rows);
	assert_int_equal(kt_catalog_note_pruned(f->cat, prune, "segments/t/g0/p0/c.kts", &d), KT_OK);
	int gone;
	assert_int_equal(kt_catalog_settle_claims(f->cat, &gone, &d), KT_OK);
	assert_int_equal(gone, 1);
	char *m = missing_text(f->cat);
	assert_string_equal(m, "10..19 segments/t/g0/p0/b.kts|");
	free(m);
	/* a.kts is the dump's again */
	int64_t records, bytes;
	assert_int_equal(kt_catalog_run_recount(f->cat, dump, &records, &bytes, &d), KT_OK);
	assert_int_equal(records, 10);
	/* a prune below the kept offsets forgets the missing range, and notes it */
	assert_int_equal(kt_catalog_prune_missing_below(f->cat, prune, "t", 0, 0, 20, &d), KT_OK);
	m = missing_text(f->cat);
	assert_string_equal(m, "");
	free(m);
	assert_int_equal(kt_catalog_settle_claims(f->cat, &gone, &d), KT_OK);
	assert_int_equal(gone, 0);
}

/* A run's rows survive export and import into an empty catalog; an unknown
 * table is skipped, a known one with too few columns is refused. */
static void test_export_import(void **state)
{
	struct fixture *f = *state;
	struct kt_diag d;
	int64_t run = new_run(f->cat, "dump");
	add_seg(f->cat, "segments/t/g0/p0/a.kts", 0, 19, 0, run);
	struct kt_catalog_prun p = {run, "t", 0, 0, 0, 20, 0, 20, 20, 20, -1, -1};
	assert_int_equal(kt_catalog_put_prun(f->cat, &p, &d), KT_OK);
	assert_int_equal(kt_catalog_run_end(f->cat, run, "ok", 20, 300, NULL, 2000, &d), KT_OK);
	struct kt_buf out;
	kt_buf_init(&out, 1 << 20);
	assert_int_equal(kt_catalog_export_run(f->cat, run, &out, &d), KT_OK);
	/* a row of a table this version does not know (id 99), then garbage-free */
	kt_buf_append_uvarint(&out, 99);
	kt_buf_append_uvarint(&out, 1);
	kt_buf_append_u8(&out, 0);
	char db2[4200];
	snprintf(db2, sizeof(db2), "%s/other.db", f->dir);
	struct kt_catalog *c2;
	assert_int_equal(kt_catalog_open(db2, KT_CATALOG_CREATE, &c2, &d), KT_OK);
	assert_int_equal(kt_catalog_import_rows(c2, out.data, out.len, &d), KT_OK);
	int64_t end;
	int found;
	assert_int_equal(kt_catalog_resume_end(c2, "t", 0, 0, &end, &found, &d), KT_OK);
	assert_true(found);
	assert_int_equal(end, 20);
	/* the segment came back as a claim, not as a segment */
	assert_int_equal(kt_catalog_has_segment(c2, "segments/t/g0/p0/a.kts", &found, &d), KT_OK);
	assert_false(found);
	int gone;
	assert_int_equal(kt_catalog_settle_claims(c2, &gone, &d), KT_OK);
	assert_int_equal(gone, 1);
	/* a runs row with 2 columns is refused */
	uint8_t short_row[] = {1, 2, 1, 2, 0};
	kt_diag_clear(&d);
	assert_int_equal(kt_catalog_import_rows(c2, short_row, sizeof(short_row), &d), KT_ERR_FORMAT);
	assert_non_null(strstr(d.msg, "too few columns"));
	kt_catalog_close(c2);
	kt_buf_free(&out);
}

/* A version 1 catalog is read as it is (no missing ranges), and upgraded
 * by the first writer. */
static void test_upgrade_from_version_1(void **state)
{
	struct fixture *f = *state;
	kt_catalog_close(f->cat);
	f->cat = NULL;
	char cmd[4400];
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 '%s' 'DROP TABLE run_segments; DROP TABLE missing_ranges; DROP TABLE pruned_segments; "
		 "DROP TABLE group_snapshots; ALTER TABLE segments DROP COLUMN committed_ms; PRAGMA user_version = 1'",
		 f->db);
	assert_int_equal(system(cmd), 0);
	struct kt_diag d;
	struct kt_catalog *cat;
	assert_int_equal(kt_catalog_open(f->db, KT_CATALOG_READ, &cat, &d), KT_OK);
	char *m = missing_text(cat);
	assert_string_equal(m, "");
	free(m);
	kt_catalog_close(cat);
	assert_int_equal(kt_catalog_open(f->db, KT_CATALOG_WRITE, &f->cat, &d), KT_OK);
	struct kt_catalog_missing mr = {"t", 0, 0, 5, 9, "segments/t/g0/p0/x.kts", "test"};
	assert_int_equal(kt_catalog_add_missing(f->cat, &mr, &d), KT_OK);
	m = missing_text(f->cat);
	assert_string_equal(m, "5..9 segments/t/g0/p0/x.kts|");
	free(m);
}

static int group_text_cb(void *ctx, const struct kt_catalog_group_offset *g)
{
	kt_buf_printf(ctx, "%s/%s/%d=%lld ", g->group_id, g->topic, (int)g->partition, (long long)g->offset);
	return 0;
}

static char *groups_at(struct kt_catalog *cat, int64_t at_ms, int64_t *taken)
{
	struct kt_buf b;
	kt_buf_init(&b, 4096);
	struct kt_diag d;
	assert_int_equal(kt_catalog_each_group_snapshot_at(cat, NULL, at_ms, group_text_cb, &b, taken, &d), KT_OK);
	kt_buf_append_u8(&b, 0);
	char *s = strdup((char *)b.data);
	kt_buf_free(&b);
	return s;
}

static int committed_cb(void *ctx, const struct kt_catalog_segment *s)
{
	kt_buf_printf(ctx, "%s:%lld ", s->path, (long long)s->committed_ms);
	return 0;
}

static char *committed_text(struct kt_catalog *cat)
{
	struct kt_buf b;
	kt_buf_init(&b, 4096);
	struct kt_diag d;
	assert_int_equal(kt_catalog_each_segment(cat, NULL, committed_cb, &b, &d), KT_OK);
	kt_buf_append_u8(&b, 0);
	char *s = strdup((char *)b.data);
	kt_buf_free(&b);
	return s;
}

/* A version 2 catalog (runs without the kind 'import', no commit times, no
 * group captures) is read as it is, its group offsets counting as taken at
 * the run's start, and upgraded by the first writer: nothing is lost, an
 * import run can be recorded, new segments get their commit time. */
static void test_upgrade_from_version_2(void **state)
{
	struct fixture *f = *state;
	struct kt_diag d;
	int64_t run = new_run(f->cat, "dump");
	add_seg(f->cat, "segments/t/g0/p0/a.kts", 0, 9, 10000, run);
	struct kt_catalog_group_offset g = {run, "g1", "t", 0, 0, 7, NULL};
	assert_int_equal(kt_catalog_put_group_offset(f->cat, &g, &d), KT_OK);
	kt_catalog_close(f->cat);
	f->cat = NULL;
	char cmd[8192];
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 '%s' \"DROP TABLE group_snapshots; ALTER TABLE segments DROP COLUMN committed_ms; "
		 "ALTER TABLE run_segments DROP COLUMN committed_ms; "
		 "CREATE TABLE runs_v2 (run_id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('dump', "
		 "'restore', 'prune', 'reindex')), started_ms INTEGER NOT NULL, ended_ms INTEGER, status TEXT NOT "
		 "NULL, args TEXT NOT NULL, tool_version TEXT NOT NULL, cluster_id TEXT, bootstrap TEXT, records "
		 "INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0, message TEXT, selection TEXT); "
		 "INSERT INTO runs_v2 SELECT * FROM runs; DROP TABLE runs; ALTER TABLE runs_v2 RENAME TO runs; "
		 "PRAGMA user_version = 2\"",
		 f->db);
	assert_int_equal(system(cmd), 0);

	struct kt_catalog *cat;
	assert_int_equal(kt_catalog_open(f->db, KT_CATALOG_READ, &cat, &d), KT_OK);
	char *c = committed_text(cat);
	assert_string_equal(c, "segments/t/g0/p0/a.kts:0 ");
	free(c);
	int64_t taken;
	char *gs = groups_at(cat, 999, &taken);
	assert_string_equal(gs, "");
	assert_int_equal(taken, -1);
	free(gs);
	gs = groups_at(cat, 1000, &taken);
	assert_string_equal(gs, "g1/t/0=7 ");
	assert_int_equal(taken, 1000);
	free(gs);
	kt_catalog_close(cat);

	assert_int_equal(kt_catalog_open(f->db, KT_CATALOG_WRITE, &f->cat, &d), KT_OK);
	int64_t imp = new_run(f->cat, "import");
	assert_true(imp > run);
	struct kt_segment_summary sum = {1, 100, 164, 100, 10, 10, 20000, 20000, 1, 9};
	struct kt_block_info b = {0, 0, 1, 50, 100, 10, 10, 20000, 20000, 20000, 0};
	struct kt_catalog_segment seg = {0, "segments/t/g0/p0/b.kts", "t", 0, 0, sum, imp, 123456};
	assert_int_equal(kt_catalog_add_segment(f->cat, &seg, &b, 1, NULL, &d), KT_OK);
	c = committed_text(f->cat);
	assert_string_equal(c, "segments/t/g0/p0/a.kts:0 segments/t/g0/p0/b.kts:123456 ");
	free(c);
	/* captures: the old run's offsets at its start, then two of a follower */
	struct kt_catalog_group_offset g2 = {imp, "g1", "t", 0, 0, 9, NULL};
	assert_int_equal(kt_catalog_put_group_snapshot(f->cat, 5000, &g2, &d), KT_OK);
	g2.offset = 11;
	assert_int_equal(kt_catalog_put_group_snapshot(f->cat, 6000, &g2, &d), KT_OK);
	gs = groups_at(f->cat, 1500, &taken);
	assert_string_equal(gs, "g1/t/0=7 ");
	free(gs);
	gs = groups_at(f->cat, 5999, &taken);
	assert_string_equal(gs, "g1/t/0=9 ");
	assert_int_equal(taken, 5000);
	free(gs);
	gs = groups_at(f->cat, INT64_MAX, &taken);
	assert_string_equal(gs, "g1/t/0=11 ");
	assert_int_equal(taken, 6000);
	free(gs);
	/* a newer capture of another topic only: t's are still those of 6000 */
	struct kt_catalog_group_offset g3 = {imp, "g2", "u", 0, 0, 4, NULL};
	assert_int_equal(kt_catalog_put_group_snapshot(f->cat, 7000, &g3, &d), KT_OK);
	gs = groups_at(f->cat, INT64_MAX, &taken);
	assert_string_equal(gs, "g2/u/0=4 ");
	assert_int_equal(taken, 7000);
	free(gs);
	struct kt_buf tb;
	kt_buf_init(&tb, 4096);
	assert_int_equal(kt_catalog_each_group_snapshot_at(f->cat, "t", INT64_MAX, group_text_cb, &tb, &taken, &d),
			 KT_OK);
	kt_buf_append_u8(&tb, 0);
	assert_string_equal((char *)tb.data, "g1/t/0=11 ");
	assert_int_equal(taken, 6000);
	kt_buf_free(&tb);
}

/* Metadata 1.2 carries commit times and group captures; a 1.1 row of
 * run_segments (9 columns) still imports, its commit time unknown. */
static void test_export_import_1_2(void **state)
{
	struct fixture *f = *state;
	struct kt_diag d;
	int64_t run = new_run(f->cat, "dump");
	struct kt_segment_summary sum = {1, 100, 164, 100, 0, 0, 20000, 20000, 1, 9};
	struct kt_block_info b = {0, 0, 1, 50, 100, 0, 0, 20000, 20000, 20000, 0};
	struct kt_catalog_segment seg = {0, "segments/t/g0/p0/a.kts", "t", 0, 0, sum, run, 4242};
	assert_int_equal(kt_catalog_add_segment(f->cat, &seg, &b, 1, NULL, &d), KT_OK);
	struct kt_catalog_group_offset g = {run, "g1", "t", 0, 0, 3, "m"};
	assert_int_equal(kt_catalog_put_group_snapshot(f->cat, 3000, &g, &d), KT_OK);
	struct kt_buf out;
	kt_buf_init(&out, 1 << 20);
	assert_int_equal(kt_catalog_export_run(f->cat, run, &out, &d), KT_OK);

	char db2[4200];
	snprintf(db2, sizeof(db2), "%s/two.db", f->dir);
	struct kt_catalog *c2;
	assert_int_equal(kt_catalog_open(db2, KT_CATALOG_CREATE, &c2, &d), KT_OK);
	assert_int_equal(kt_catalog_import_rows(c2, out.data, out.len, &d), KT_OK);
	/* the claim came back with its time: a reindexed file gets it */
	add_seg(c2, "segments/t/g0/p0/a.kts", 0, 0, 20000, 0);
	int missing;
	assert_int_equal(kt_catalog_settle_claims(c2, &missing, &d), KT_OK);
	assert_int_equal(missing, 0);
	char *c = committed_text(c2);
	assert_string_equal(c, "segments/t/g0/p0/a.kts:4242 ");
	free(c);
	int64_t taken;
	char *gs = groups_at(c2, 3000, &taken);
	assert_string_equal(gs, "g1/t/0=3 ");
	free(gs);
	/* a 1.1 row: table 9 with 9 columns */
	uint8_t old_row[] = {9, 9, 1, 2, 2, 1, 'x', 2, 1, 't', 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 1, 0};
	assert_int_equal(kt_catalog_import_rows(c2, old_row, sizeof(old_row), &d), KT_OK);
	kt_catalog_close(c2);
	kt_buf_free(&out);
}

/* A dead process's running runs become crashed; live ones stay. */
static int alive_even(void *ctx, int64_t run_id)
{
	(void)ctx;
	return run_id % 2 == 0;
}

static int status_cb(void *ctx, const struct kt_catalog_run *r)
{
	kt_buf_printf(ctx, "%lld:%s ", (long long)r->run_id, r->status);
	return 0;
}

static void test_mark_crashed(void **state)
{
	struct fixture *f = *state;
	struct kt_diag d;
	for (int i = 0; i < 4; i++)
		new_run(f->cat, i ? "restore" : "dump");
	int n;
	assert_int_equal(kt_catalog_runs_mark_crashed(f->cat, 5000, alive_even, NULL, &n, &d), KT_OK);
	assert_int_equal(n, 2);
	struct kt_buf b;
	kt_buf_init(&b, 4096);
	assert_int_equal(kt_catalog_each_run(f->cat, status_cb, &b, &d), KT_OK);
	kt_buf_append_u8(&b, 0);
	assert_string_equal((char *)b.data, "1:crashed 2:running 3:crashed 4:running ");
	kt_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blocks_by_time_and_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_version_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_version_2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_import_1_2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_crashed, setup, teardown),
	};
	return cmocka_run_group_tests_name("catalog", tests, NULL, NULL);
}
