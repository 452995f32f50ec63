/* Unit tests of the inspect engines: the ls model (merging, gaps, ranges
 * lost to retention), kcat-style formats, cat's selection, prune's safety
 * rules and verify's findings, against archives written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kt_buf.h"
#include "kt_inspect.h" /* includes kt_archive.h, which has no include guard around its end */
#include "kt_segment_reader.h"
#include "test_helpers.h"

struct fixture {
	char *dir;
	char arch[1024];
	struct kt_archive *a;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = th_mkdtemp();
	snprintf(f->arch, sizeof(f->arch), "%s/arch", f->dir);
	struct kt_diag d;
	assert_int_equal(kt_archive_open(f->arch, KT_ARCHIVE_CREATE, &f->a, NULL, &d), KT_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kt_archive_close(f->a);
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const struct kt_segment_writer_opts small_blocks = {.zstd_level = 1, .block_bytes = 512, .no_fsync = 1};

/* Timestamps that go back every 7th record: time windows must not assume order. */
static int64_t ts_of(int64_t off)
{
	return 1000000 + off * 100 - (off % 7 == 6 ? 3000 : 0);
}

static void rec_at(int64_t off, struct kt_record *r, char *val)
{
	memset(r, 0, sizeof(*r));
	r->offset = off;
	r->timestamp = ts_of(off);
	r->ts_type = KT_TS_CREATE;
	r->key = (const uint8_t *)(off % 3 == 0 ? "k0" : "k1");
	r->key_len = 2;
	int n = sprintf(val, "value-%lld-padding-padding-padding", (long long)off);
	r->value = (const uint8_t *)val;
	r->value_len = (size_t)n;
}

static int64_t begin_run(struct kt_archive *a)
{
	struct kt_catalog_run run = {0};
	run.kind = "dump";
	run.started_ms = 1;
	run.args = "ktape dump";
	run.tool_version = "test";
	int64_t id;
	struct kt_diag d;
	assert_int_equal(kt_catalog_run_begin(kt_archive_catalog(a), &run, &id, &d), KT_OK);
	return id;
}

/* A segment of offsets [first, last] written by run, whose progress row
 * says the run read [from, done) and found [lost_from, lost_end) gone. */
static void add_seg(struct kt_archive *a, int32_t part, int64_t first, int64_t last, int64_t run, int64_t from,
		    int64_t done, int64_t lost_from, int64_t lost_end)
{
	struct kt_archive_segment *s;
	struct kt_diag d;
	assert_int_equal(kt_archive_segment_begin(a, "t", 0, part, &small_blocks, &s, &d), KT_OK);
	for (int64_t o = first; o <= last; o++) {
		struct kt_record r;
		char val[128];
		rec_at(o, &r, val);
		assert_int_equal(kt_archive_segment_add(s, &r, &d), KT_OK);
	}
	struct kt_catalog_prun p = {run,       "t",	0, part, 0, done, from, done, done, last - first + 1,
				    lost_from, lost_end};
	assert_int_equal(kt_archive_segment_commit(a, s, run, &p, NULL, &d), KT_OK);
}

static const struct kt_inspect_span *span(const struct kt_inspect_partition *p, size_t i)
{
	assert_true(i < p->span_count);
	return &p->spans[i];
}

/* Segments merge when the next starts at or before where the dumps got to
 * (offsets read without records are no gap); a hole between ranges is a gap
 * unless retention took it, which is shown as lost instead. */
static void test_ls_spans(void **state)
{
	struct fixture *f = *state;
	int64_t r1 = begin_run(f->a), r2 = begin_run(f->a), r3 = begin_run(f->a);
	add_seg(f->a, 0, 0, 9, r1, 0, 12, -1, -1);    /* 10, 11: markers */
	add_seg(f->a, 0, 12, 19, r2, 12, 20, -1, -1); /* continues */
	add_seg(f->a, 0, 30, 39, r3, 30, 40, -1, -1); /* 20..29 never read */
	int64_t r4 = begin_run(f->a);
	add_seg(f->a, 0, 50, 59, r4, 50, 60, 40, 50); /* 40..49 deleted by retention */
	struct kt_inspect_ls ls;
	struct kt_diag d;
	assert_int_equal(kt_inspect_ls(f->a, NULL, 0, &ls, &d), KT_OK);
	assert_int_equal(ls.topic_count, 1);
	assert_int_equal(ls.topics[0].part_count, 1);
	const struct kt_inspect_partition *p = &ls.topics[0].parts[0];
	assert_int_equal(p->span_count, 5);
	assert_int_equal(span(p, 0)->kind, KT_INSPECT_RANGE);
	assert_int_equal(span(p, 0)->first, 0);
	assert_int_equal(span(p, 0)->last, 19);
	assert_int_equal(span(p, 0)->end, 20);
	assert_int_equal(span(p, 0)->records, 18);
	assert_int_equal(span(p, 0)->segments, 2);
	assert_int_equal(span(p, 1)->kind, KT_INSPECT_GAP);
	assert_int_equal(span(p, 1)->first, 20);
	assert_int_equal(span(p, 1)->end, 30);
	assert_int_equal(span(p, 2)->kind, KT_INSPECT_RANGE);
	assert_int_equal(span(p, 2)->first, 30);
	assert_int_equal(span(p, 3)->kind, KT_INSPECT_LOST);
	assert_int_equal(span(p, 3)->first, 40);
	assert_int_equal(span(p, 3)->end, 50);
	assert_int_equal(span(p, 3)->run_id, r4);
	assert_int_equal(span(p, 4)->kind, KT_INSPECT_RANGE);
	assert_int_equal(span(p, 4)->last, 59);
	assert_int_equal(p->sums.gaps, 1);
	assert_int_equal(p->sums.gap_offsets, 10);
	assert_int_equal(p->sums.lost_offsets, 10);
	assert_int_equal(p->done_end, 60);
	assert_int_equal(ls.run_count, 4);
	kt_inspect_ls_free(&ls);
	const char *missing[] = {"nope"};
	assert_int_equal(kt_inspect_ls(f->a, missing, 1, &ls, &d), KT_ERR_NOT_FOUND);
	assert_non_null(strstr(d.msg, "archived topics: t"));
}

static char *fmt_one(const char *spec, const struct kt_record *rec)
{
	struct kt_inspect_fmt *fmt;
	struct kt_diag d;
	assert_int_equal(kt_inspect_fmt_compile(spec, &fmt, &d), KT_OK);
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	assert_int_equal(kt_inspect_fmt_record(fmt, &b, "top", 3, rec), KT_OK);
	kt_buf_append_u8(&b, 0);
	kt_inspect_fmt_free(fmt);
	return (char *)b.data;
}

/* Format strings behave as kcat's: null prints as nothing, lengths as -1,
 * headers as name=value with NULL for a null value, escapes and %%. */
static void test_format(void **state)
{
	(void)state;
	struct kt_header h[2] = {{(const uint8_t *)"h", 1, (const uint8_t *)"a", 1, 0},
				 {(const uint8_t *)"n", 1, NULL, 0, 1}};
	struct kt_record rec = {0};
	rec.offset = 42;
	rec.timestamp = 1700000000123;
	rec.key_null = 1;
	rec.value = (const uint8_t *)"val";
	rec.value_len = 3;
	rec.headers = h;
	rec.header_count = 2;
	char *s = fmt_one("%t|%p|%o|%T|%k|%K|%s|%S|%h|%%|\\t\\x41\\z\\\\\\n", &rec);
	assert_string_equal(s, "top|3|42|1700000000123||-1|val|3|h=a,n=NULL|%|\tAz\\\n");
	free(s);
	rec.key = (const uint8_t *)"";
	rec.key_null = 0;
	rec.value_null = 1;
	rec.header_count = 0;
	s = fmt_one("[%k][%K][%s][%S][%h]", &rec);
	assert_string_equal(s, "[][0][][-1][]");
	free(s);
	struct kt_inspect_fmt *fmt;
	struct kt_diag d;
	assert_int_equal(kt_inspect_fmt_compile("%q", &fmt, &d), KT_ERR_INVALID);
	assert_non_null(strstr(d.msg, "%q"));
	assert_int_equal(kt_inspect_fmt_compile("abc%", &fmt, &d), KT_ERR_INVALID);
}

struct got {
	int64_t offs[4096];
	int n;
};

static int got_cb(void *ctx, const char *topic, int32_t partition, const struct kt_record *rec)
{
	(void)topic;
	(void)partition;
	struct got *g = ctx;
	g->offs[g->n++] = rec->offset;
	return 0;
}

/* A time window selects exactly the records whose timestamps lie in it, in
 * offset order, though timestamps go back; --to-offset is exclusive; the
 * key filter and the count limit apply. */
static void test_cat_selection(void **state)
{
	struct fixture *f = *state;
	int64_t run = begin_run(f->a);
	add_seg(f->a, 0, 0, 299, run, 0, 300, -1, -1);
	add_seg(f->a, 0, 300, 599, run, 300, 600, -1, -1);
	add_seg(f->a, 1, 0, 99, run, 0, 100, -1, -1);
	int32_t part0 = 0;
	struct kt_inspect_cat_opts o = {0};
	o.partitions = &part0;
	o.partition_count = 1;
	o.generation = -1;
	o.to_offset = INT64_MAX;
	o.from_ts = ts_of(250) - 50;
	o.to_ts = ts_of(420);
	o.on_record = got_cb;
	struct got *g = calloc(1, sizeof(*g));
	o.ctx = g;
	struct kt_inspect_cat_result res;
	struct kt_diag d;
	assert_int_equal(kt_inspect_cat(f->a, &o, &res, &d), KT_OK);
	int k = 0;
	for (int64_t off = 0; off < 600; off++)
		if (ts_of(off) >= o.from_ts && ts_of(off) < o.to_ts) {
			assert_true(k < g->n);
			assert_int_equal(g->offs[k++], off);
		}
	assert_int_equal(k, g->n);
	assert_true(g->n > 100);
	/* offsets [10, 20) with key k0, at most 3 */
	memset(g, 0, sizeof(*g));
	o.from_ts = INT64_MIN;
	o.to_ts = INT64_MAX;
	o.from_offset = 10;
	o.to_offset = 20;
	o.key_set = 1;
	o.key = (const uint8_t *)"k0";
	o.key_len = 2;
	assert_int_equal(kt_inspect_cat(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(g->n, 3);
	assert_int_equal(g->offs[0], 12);
	assert_int_equal(g->offs[2], 18);
	o.limit = 2;
	memset(g, 0, sizeof(*g));
	assert_int_equal(kt_inspect_cat(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(g->n, 2);
	int32_t part9 = 9;
	o.partitions = &part9;
	assert_int_equal(kt_inspect_cat(f->a, &o, &res, &d), KT_ERR_NOT_FOUND);
	free(g);
}

static int count_segments(struct kt_archive *a)
{
	struct kt_inspect_ls ls;
	struct kt_diag d;
	assert_int_equal(kt_inspect_ls(a, NULL, 0, &ls, &d), KT_OK);
	int n = (int)ls.sums.segments;
	kt_inspect_ls_free(&ls);
	return n;
}

/* keep-runs removes only a prefix of each partition, never its newest
 * segment, and a dry run removes nothing. */
static void test_prune_keep_runs(void **state)
{
	struct fixture *f = *state;
	int64_t r1 = begin_run(f->a);
	add_seg(f->a, 0, 0, 9, r1, 0, 10, -1, -1);
	add_seg(f->a, 1, 0, 9, r1, 0, 10, -1, -1);
	int64_t r2 = begin_run(f->a);
	add_seg(f->a, 0, 10, 19, r2, 10, 20, -1, -1);
	int64_t r3 = begin_run(f->a);
	add_seg(f->a, 0, 20, 29, r3, 20, 30, -1, -1);
	struct kt_inspect_prune_opts o = {KT_PRUNE_KEEP_RUNS, 1, 1000, 1, "ktape prune", "test", NULL, 0};
	struct kt_inspect_prune_result res;
	struct kt_diag d;
	assert_int_equal(kt_inspect_prune(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(res.seg_count, 2); /* p0: runs 1 and 2; p1: its only segment stays */
	assert_int_equal(res.run_id, 0);
	kt_inspect_prune_result_free(&res);
	assert_int_equal(count_segments(f->a), 4);
	o.dry_run = 0;
	assert_int_equal(kt_inspect_prune(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(res.seg_count, 2);
	assert_int_equal(res.part_count, 1);
	assert_int_equal(res.parts[0].new_first, 20);
	assert_true(res.run_id > r3);
	char path[8192];
	snprintf(path, sizeof(path), "%s/%s", f->arch, res.segs[0].path);
	assert_int_not_equal(access(path, F_OK), 0);
	kt_inspect_prune_result_free(&res);
	assert_int_equal(count_segments(f->a), 2);
	/* the resume point did not move */
	int64_t end;
	int found;
	assert_int_equal(kt_catalog_resume_end(kt_archive_catalog(f->a), "t", 0, 0, &end, &found, &d), KT_OK);
	assert_int_equal(end, 30);
}

/* A time policy removes the segments whose newest record is older than
 * the cut, from the start of the partition on, and never the newest one. */
static void test_prune_prefix_only(void **state)
{
	struct fixture *f = *state;
	int64_t r = begin_run(f->a);
	add_seg(f->a, 0, 0, 9, r, 0, 10, -1, -1);    /* max ts ~ 1000900 */
	add_seg(f->a, 0, 10, 19, r, 10, 20, -1, -1); /* ~ 1001900 */
	add_seg(f->a, 0, 20, 29, r, 20, 30, -1, -1); /* ~ 1002900 */
	add_seg(f->a, 0, 30, 39, r, 30, 40, -1, -1);
	struct kt_inspect_prune_opts o = {KT_PRUNE_BEFORE, ts_of(15), 0, 1, NULL, NULL, NULL, 0};
	struct kt_inspect_prune_result res;
	struct kt_diag d;
	assert_int_equal(kt_inspect_prune(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(res.seg_count, 1);
	kt_inspect_prune_result_free(&res);
	o.value = INT64_MAX;
	assert_int_equal(kt_inspect_prune(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(res.seg_count, 3); /* never the newest */
	kt_inspect_prune_result_free(&res);
}

struct probs {
	char text[8192];
	int n;
};

static void prob_cb(void *ctx, const struct kt_inspect_problem *p)
{
	struct probs *pr = ctx;
	size_t len = strlen(pr->text);
	snprintf(pr->text + len, sizeof(pr->text) - len, "%s %s %lld|", p->kind, p->path, (long long)p->block);
	pr->n++;
}

static int first_path_cb(void *ctx, const struct kt_catalog_segment *s)
{
	snprintf(ctx, 1024, "%s", s->path);
	return 1;
}

/* Path of the segment with the lowest offsets (the catalog's order). */
static const char *first_seg_path(struct kt_archive *a, char *buf, size_t size)
{
	struct kt_diag d;
	assert_int_equal(size, 1024);
	buf[0] = '\0';
	assert_int_equal(kt_catalog_each_segment(kt_archive_catalog(a), NULL, first_path_cb, buf, &d), KT_OK);
	assert_true(buf[0] != '\0');
	return buf;
}

/* A clean archive has no problems; a flipped data byte is reported on its
 * block, a deleted file as missing, an unknown file as extra. */
static void test_verify(void **state)
{
	struct fixture *f = *state;
	int64_t r = begin_run(f->a);
	add_seg(f->a, 0, 0, 199, r, 0, 200, -1, -1);
	add_seg(f->a, 0, 200, 399, r, 200, 400, -1, -1);
	add_seg(f->a, 0, 400, 599, r, 400, 600, -1, -1);
	struct probs *pr = calloc(1, sizeof(*pr));
	struct kt_inspect_verify_opts o = {1, 2, NULL, prob_cb, pr};
	struct kt_inspect_verify_result res;
	struct kt_diag d;
	assert_int_equal(kt_inspect_verify(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(res.problems, 0);
	assert_int_equal(res.files, 3);
	assert_int_equal(res.records, 600);
	assert_true(res.blocks > 6);
	char rel[1024], path[8192];
	first_seg_path(f->a, rel, sizeof(rel));
	snprintf(path, sizeof(path), "%s/%s", f->arch, rel);
	/* block 1's data starts 80 bytes after its header frame */
	struct kt_segment_reader *rd;
	assert_int_equal(kt_segment_reader_open(path, NULL, &rd, &d), KT_OK);
	uint64_t pos = kt_segment_reader_block(rd, 1)->pos + 80 + 5;
	kt_segment_reader_close(rd);
	size_t len;
	uint8_t *data = th_read(path, &len);
	data[pos] ^= 0x20;
	th_write(path, data, len);
	free(data);
	assert_int_equal(kt_inspect_verify(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(res.problems, 1);
	assert_int_equal(res.damaged_files, 1);
	char want[1200];
	snprintf(want, sizeof(want), "block %s 1|", rel);
	assert_string_equal(pr->text, want);
	/* cat stops at the damaged block, after the records before it */
	struct got *g = calloc(1, sizeof(*g));
	struct kt_inspect_cat_opts co = {0};
	co.generation = -1;
	co.to_offset = INT64_MAX;
	co.from_ts = INT64_MIN;
	co.to_ts = INT64_MAX;
	co.on_record = got_cb;
	co.ctx = g;
	struct kt_inspect_cat_result cres;
	assert_int_not_equal(kt_inspect_cat(f->a, &co, &cres, &d), KT_OK);
	assert_true(cres.damaged);
	assert_int_equal(d.block, 1);
	assert_true(g->n > 0 && g->n < 200);
	assert_string_equal(d.path, rel);
	free(g);
	unlink(path);
	char extra[2048];
	snprintf(extra, sizeof(extra), "%s/segments/t/g0/p0/stray.kts", f->arch);
	th_write(extra, "x", 1);
	memset(pr, 0, sizeof(*pr));
	assert_int_equal(kt_inspect_verify(f->a, &o, &res, &d), KT_OK);
	assert_int_equal(res.missing_files, 1);
	assert_int_equal(res.extra_files, 1);
	assert_non_null(strstr(pr->text, "missing "));
	assert_non_null(strstr(pr->text, "extra segments/t/g0/p0/stray.kts"));
	free(pr);
}

/* A file of many blocks is checked in parts by several threads: damage
 * in a late part is found, reported once on its block, in order. */
static void test_verify_chunks(void **state)
{
	struct fixture *f = *state;
	int64_t r = begin_run(f->a);
	add_seg(f->a, 0, 0, 2999, r, 0, 3000, -1, -1);
	char rel[1024], path[8192];
	first_seg_path(f->a, rel, sizeof(rel));
	snprintf(path, sizeof(path), "%s/%s", f->arch, rel);
	struct kt_segment_reader *rd;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open(path, NULL, &rd, &d), KT_OK);
	uint32_t nb = kt_segment_reader_block_count(rd);
	assert_true(nb > 100);
	uint64_t pos40 = kt_segment_reader_block(rd, 40)->pos + 80 + 3;
	uint64_t pos99 = kt_segment_reader_block(rd, 99)->pos + 80 + 3;
	kt_segment_reader_close(rd);
	size_t len;
	uint8_t *data = th_read(path, &len);
	data[pos40] ^= 1;
	data[pos99] ^= 1;
	th_write(path, data, len);
	free(data);
	struct probs *pr = calloc(1, sizeof(*pr));
	struct kt_inspect_verify_opts o = {0, 3, NULL, prob_cb, pr};
	struct kt_inspect_verify_result res;
	assert_int_equal(kt_inspect_verify(f->a, &o, &res, &d), KT_OK);
	char want[2400];
	snprintf(want, sizeof(want), "block %s 40|block %s 99|", rel, rel);
	assert_string_equal(pr->text, want);
	assert_int_equal(res.blocks, nb);
	assert_int_equal(res.records, 3000);
	assert_int_equal(res.damaged_files, 1);
	assert_int_equal(res.files, 1);
	free(pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ls_spans, setup, teardown),
		cmocka_unit_test(test_format),
		cmocka_unit_test_setup_teardown(test_cat_selection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_keep_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune_prefix_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_chunks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
