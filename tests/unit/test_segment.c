/* Unit tests of the segment writer and reader (src/format). */
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
#include <zstd.h>

#include "kt_buf.h"
#include "kt_crc32c.h"
#include "kt_segment_reader.h"
#include "kt_segment_writer.h"
#include "test_helpers.h"

struct fixture {
	char *dir;
	char path[4096];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = th_mkdtemp();
	snprintf(f->path, sizeof(f->path), "%s/seg.kts", f->dir);
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

#define N_RECS 5000

/* Record i of a deterministic pseudo-random set: gaps, non-monotonic
 * timestamps, null/empty keys and values, headers. */
static void make_record(int i, struct kt_record *r, char *key, char *val, struct kt_header *hdrs)
{
	memset(r, 0, sizeof(*r));
	r->offset = (int64_t)i * 3 + (i % 7 == 0 ? 1 : 0);
	r->timestamp = 1700000000000 + (int64_t)i * 10 - (i % 5) * 37;
	r->ts_type = KT_TS_CREATE;
	int kl = sprintf(key, "k%d", i % 50);
	int vl = sprintf(val, "{\"n\":%d,\"pad\":\"%0*d\"}", i, i % 200, 0);
	r->key = (const uint8_t *)key;
	r->key_len = (size_t)kl;
	r->key_null = i % 11 == 0;
	if (r->key_null) {
		r->key = NULL;
		r->key_len = 0;
	}
	r->value = (const uint8_t *)val;
	r->value_len = i % 13 == 0 ? 0 : (size_t)vl;
	r->value_null = i % 17 == 0;
	if (r->value_null) {
		r->value = NULL;
		r->value_len = 0;
	}
	hdrs[0] = (struct kt_header){(const uint8_t *)"h", 1, (const uint8_t *)"v", 1, 0};
	hdrs[1] = (struct kt_header){(const uint8_t *)"h", 1, NULL, 0, 1};
	r->headers = hdrs;
	r->header_count = (size_t)(i % 3);
}

static void write_records(const char *path, int n, size_t block_bytes, struct kt_segment_summary *sum)
{
	struct kt_segment_writer *w;
	struct kt_segment_writer_opts opts = {.zstd_level = 0, .block_bytes = block_bytes, .no_fsync = 1};
	struct kt_diag d;
	assert_int_equal(kt_segment_writer_open(path, "t", 3, 0, &opts, &w, &d), KT_OK);
	for (int i = 0; i < n; i++) {
		struct kt_record r;
		char key[32], val[300];
		struct kt_header h[2];
		make_record(i, &r, key, val, h);
		assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_OK);
	}
	assert_int_equal(kt_segment_writer_finish(w, sum, &d), KT_OK);
	kt_segment_writer_close(w);
}

/* Every record written is read back equal, in order, over many blocks. */
static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct kt_segment_summary sum;
	write_records(f->path, N_RECS, 4096, &sum);
	assert_true(sum.record_count == N_RECS);
	assert_true(sum.block_count > 10);
	struct kt_segment_reader *r;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open(f->path, NULL, &r, &d), KT_OK);
	const struct kt_segment_info *info = kt_segment_reader_info(r);
	assert_int_equal(info->footer_err, KT_OK);
	assert_string_equal(info->topic, "t");
	assert_int_equal(info->partition, 3);
	assert_true(info->summary.record_count == N_RECS);
	assert_int_equal(info->footer_crc, sum.file_crc);
	int i = 0;
	const struct kt_record *rec;
	while (kt_segment_reader_next(r, &rec, &d) == KT_OK && rec) {
		struct kt_record want;
		char key[32], val[300];
		struct kt_header h[2];
		make_record(i, &want, key, val, h);
		assert_true(th_record_equal(rec, &want));
		i++;
	}
	assert_int_equal(i, N_RECS);
	kt_segment_reader_close(r);
}

/* A value of the kind ktape's users dump (key i): a JSON event of 150-250
 * bytes (words = 0), or words of a small vocabulary, as free text. */
static uint32_t auto_rand(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

static size_t auto_value(uint32_t *seed, int i, int words, char *out, size_t cap)
{
	static const char *const vocab[] = {"tea",  "laptop", "sale",  "camera", "shoes", "red",  "phone",
					    "case", "jacket", "gift",  "watch",	 "book",  "lamp", "backup",
					    "desk", "coffee", "chair", "garden", "bag",	  "kafka"};
	static const char *const actions[] = {"page_view", "click", "purchase", "login", "search"};
	if (!words) {
		uint32_t action = auto_rand(seed) % 5, article = auto_rand(seed) % 50000, session = auto_rand(seed),
			 ms = auto_rand(seed) % 30000;
		return (size_t)snprintf(
			out, cap,
			"{\"userId\":\"user-%06d\",\"action\":\"%s\",\"resource\":\"/articles/%u\","
			"\"sessionId\":\"%06x\",\"durationMs\":%u,\"ts\":\"2026-11-22T00:00:%02d.%03dZ\"}",
			i % 5000, actions[action], article, session, ms, i / 1000 % 60, i % 1000);
	}
	if (words < 0) {
		/* 16 tokens of 12 random letters from -words of them: each
		 * token comes back tens of KB later, further back than the
		 * hash table of zstd's level 1 remembers */
		size_t n = 0;
		for (int t = 0; t < 16 && n + 12 < cap; t++) {
			uint32_t r = auto_rand(seed) % (uint32_t)-words * 2654435761u + 1;
			for (int k = 0; k < 12; k++)
				out[n++] = (char)('a' + auto_rand(&r) % 26);
		}
		return n;
	}
	size_t n = 0;
	while (n + 8 < cap && n < (size_t)words)
		n += (size_t)snprintf(out + n, cap - n, "%s ", vocab[auto_rand(seed) % 20]);
	return n;
}

/* Writes count records of that kind through a writer of level level
 * sharing codec, and reads them back. */
/* Returns the segment file's size. */
static long auto_segment(const char *path, struct kt_segment_codec *codec, int level, int count, int words)
{
	struct kt_segment_writer *w;
	struct kt_segment_writer_opts opts = {
		.zstd_level = level, .block_bytes = 256 << 10, .no_fsync = 1, .codec = codec};
	struct kt_diag d;
	unlink(path);
	assert_int_equal(kt_segment_writer_open(path, "t", 0, 0, &opts, &w, &d), KT_OK);
	static char val[16 << 10];
	uint32_t seed = 7;
	for (int i = 0; i < count; i++) {
		struct kt_record r = {
			.offset = i, .timestamp = 1700000000000 + i, .ts_type = KT_TS_CREATE, .key_null = 1};
		r.value = (const uint8_t *)val;
		r.value_len = auto_value(&seed, i, words, val, sizeof(val));
		assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_OK);
	}
	assert_int_equal(kt_segment_writer_finish(w, NULL, &d), KT_OK);
	kt_segment_writer_close(w);
	struct kt_segment_reader *r;
	assert_int_equal(kt_segment_reader_open(path, NULL, &r, &d), KT_OK);
	const struct kt_record *rec;
	int i = 0;
	seed = 7;
	while (kt_segment_reader_next(r, &rec, &d) == KT_OK && rec) {
		size_t len = auto_value(&seed, i, words, val, sizeof(val));
		assert_int_equal(rec->value_len, len);
		assert_memory_equal(rec->value, val, len);
		i++;
	}
	assert_int_equal(i, count);
	kt_segment_reader_close(r);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

/* KT_SEG_ZSTD_AUTO (issue #19): level 1 for JSON events, where it is as
 * small as level 3 at half the CPU time; level 3 for free text, where
 * level 1 is several per cent larger; level 1 "wide" where that is the
 * smaller; nothing chosen on blocks too small to say, or with a level
 * given. Every record reads back either way. */
static void test_auto_level(void **state)
{
	struct fixture *f = *state;
	struct kt_segment_codec *codec;
	assert_int_equal(kt_segment_codec_new(&codec), KT_OK);
	auto_segment(f->path, codec, KT_SEG_ZSTD_AUTO, 20, 0);
	assert_int_equal(kt_segment_codec_level(codec), 0);
	auto_segment(f->path, codec, 3, 5000, 0);
	assert_int_equal(kt_segment_codec_level(codec), 0);
	auto_segment(f->path, codec, KT_SEG_ZSTD_AUTO, 5000, 0);
	assert_int_equal(kt_segment_codec_level(codec), 1);
	/* once chosen, every block is at it: zstd's own level 1 here */
	assert_int_equal(auto_segment(f->path, codec, KT_SEG_ZSTD_AUTO, 5000, 0),
			 auto_segment(f->path, codec, 1, 5000, 0));
	kt_segment_codec_free(codec);
	assert_int_equal(kt_segment_codec_new(&codec), KT_OK);
	auto_segment(f->path, codec, KT_SEG_ZSTD_AUTO, 60, 1500);
	assert_int_equal(kt_segment_codec_level(codec), 3);
	kt_segment_codec_free(codec);
	/* tokens that come back tens of KB later: level 1 with level 3's
	 * hash table finds them, zstd's own level 1 mostly does not (258 KB
	 * against 307 when written) */
	assert_int_equal(kt_segment_codec_new(&codec), KT_OK);
	auto_segment(f->path, codec, KT_SEG_ZSTD_AUTO, 5000, -4000);
	assert_int_equal(kt_segment_codec_level(codec), 1);
	long wide = auto_segment(f->path, codec, KT_SEG_ZSTD_AUTO, 5000, -4000);
	long plain = auto_segment(f->path, codec, 1, 5000, -4000);
	assert_true(wide < plain - plain / 10);
	kt_segment_codec_free(codec);
}

/* A sealed segment (its commit waits for others': issue #19) is complete
 * on disk but takes no more records; finish makes it durable and it reads
 * back whole; a sealed segment closed without finish is removed. */
static void test_seal(void **state)
{
	struct fixture *f = *state;
	for (int finish = 0; finish < 2; finish++) {
		struct kt_segment_writer *w;
		struct kt_segment_writer_opts opts = {.block_bytes = 4096};
		struct kt_diag d;
		unlink(f->path);
		assert_int_equal(kt_segment_writer_open(f->path, "t", 3, 0, &opts, &w, &d), KT_OK);
		struct kt_record r;
		char key[32], val[300];
		struct kt_header h[2];
		for (int i = 0; i < 500; i++) {
			make_record(i, &r, key, val, h);
			assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_OK);
		}
		assert_int_equal(kt_segment_writer_seal(w, &d), KT_OK);
		make_record(500, &r, key, val, h);
		assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_ERR_STATE);
		assert_int_equal(kt_segment_writer_seal(w, &d), KT_ERR_STATE);
		struct kt_segment_summary sum;
		if (finish) {
			assert_int_equal(kt_segment_writer_finish(w, &sum, &d), KT_OK);
			assert_true(sum.record_count == 500);
		}
		kt_segment_writer_close(w);
		size_t len;
		uint8_t *data = th_read(f->path, &len);
		if (!finish) {
			assert_null(data);
			continue;
		}
		free(data);
		struct kt_segment_reader *rd;
		assert_int_equal(kt_segment_reader_open(f->path, NULL, &rd, &d), KT_OK);
		assert_int_equal(kt_segment_reader_info(rd)->footer_err, KT_OK);
		int i = 0;
		const struct kt_record *rec;
		while (kt_segment_reader_next(rd, &rec, &d) == KT_OK && rec) {
			struct kt_record want;
			make_record(i++, &want, key, val, h);
			assert_true(th_record_equal(rec, &want));
		}
		assert_int_equal(i, 500);
		kt_segment_reader_close(rd);
	}
}

/* Seeking by offset lands on the first record at or after the offset,
 * including offsets that fall into gaps and past the end. */
static void test_seek_offset(void **state)
{
	struct fixture *f = *state;
	write_records(f->path, N_RECS, 2048, NULL);
	struct kt_segment_reader *r;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open(f->path, NULL, &r, &d), KT_OK);
	const int64_t targets[] = {
		0, 1, 2, 3, 700, 701, 702, 9000, (N_RECS - 1) * 3, (N_RECS - 1) * 3 + 1, (N_RECS - 1) * 3 + 2, 1000000};
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++) {
		kt_segment_reader_seek_offset(r, targets[t]);
		const struct kt_record *rec;
		assert_int_equal(kt_segment_reader_next(r, &rec, &d), KT_OK);
		/* the expected record: smallest offset >= target */
		int64_t want = -1;
		for (int i = 0; i < N_RECS; i++) {
			int64_t o = (int64_t)i * 3 + (i % 7 == 0 ? 1 : 0);
			if (o >= targets[t]) {
				want = o;
				break;
			}
		}
		if (want < 0)
			assert_null(rec);
		else
			assert_true(rec && rec->offset == want);
	}
	kt_segment_reader_close(r);
}

/* Seeking by time never skips a record whose timestamp is >= T. */
static void test_seek_time(void **state)
{
	struct fixture *f = *state;
	write_records(f->path, N_RECS, 2048, NULL);
	struct kt_segment_reader *r;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open(f->path, NULL, &r, &d), KT_OK);
	const int64_t t = 1700000000000 + 25000;
	kt_segment_reader_seek_time(r, t);
	int64_t first_seen = -1;
	const struct kt_record *rec;
	while (kt_segment_reader_next(r, &rec, &d) == KT_OK && rec)
		if (rec->timestamp >= t && first_seen < 0)
			first_seen = rec->offset;
	int64_t want = -1;
	for (int i = 0; i < N_RECS; i++) {
		int64_t ts = 1700000000000 + (int64_t)i * 10 - (i % 5) * 37;
		if (ts >= t) {
			want = (int64_t)i * 3 + (i % 7 == 0 ? 1 : 0);
			break;
		}
	}
	assert_true(first_seen == want);
	assert_true(kt_segment_reader_block(r, 0)->max_timestamp < t); /* the seek skipped something */
	kt_segment_reader_close(r);
}

/* A file cut at any byte opens (or fails cleanly on a cut header), delivers
 * only whole blocks, and says it is truncated. */
static void test_truncate_everywhere(void **state)
{
	struct fixture *f = *state;
	write_records(f->path, 300, 1024, NULL);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	struct kt_segment_reader *full;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open_mem(data, len, NULL, &full, &d), KT_OK);
	for (size_t cut = 0; cut < len; cut += 7) {
		struct kt_segment_reader *r;
		enum kt_err err = kt_segment_reader_open_mem(data, cut, NULL, &r, &d);
		if (err) {
			assert_true(cut < 40); /* only a cut inside the header fails */
			continue;
		}
		assert_int_not_equal(kt_segment_reader_info(r)->footer_err, KT_OK);
		const struct kt_record *rec;
		int64_t last = -1;
		uint64_t n = 0;
		while ((err = kt_segment_reader_next(r, &rec, &d)) == KT_OK && rec) {
			last = rec->offset;
			n++;
		}
		assert_int_equal(err, KT_OK);
		/* exactly the complete blocks */
		uint32_t nb = kt_segment_reader_block_count(r);
		uint64_t expect = 0;
		for (uint32_t b = 0; b < nb; b++)
			expect += kt_segment_reader_block(r, b)->record_count;
		assert_true(n == expect);
		if (nb)
			assert_true(last == kt_segment_reader_block(full, nb - 1)->last_offset);
		kt_segment_reader_close(r);
	}
	kt_segment_reader_close(full);
	free(data);
}

/* One flipped bit in any block's data is detected, reported with its
 * block, and the other blocks stay readable. */
static void test_flip_each_block(void **state)
{
	struct fixture *f = *state;
	write_records(f->path, 300, 1024, NULL);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	struct kt_segment_reader *full;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open_mem(data, len, NULL, &full, &d), KT_OK);
	uint32_t nb = kt_segment_reader_block_count(full);
	for (uint32_t b = 0; b < nb; b++) {
		const struct kt_block_info *bi = kt_segment_reader_block(full, b);
		uint8_t *copy = malloc(len);
		memcpy(copy, data, len);
		/* a byte of the data frame, which follows the block header frame */
		size_t data_pos = bi->pos + 8 + kt_get_u32le(data + bi->pos + 4);
		copy[data_pos + bi->compressed_size / 3] ^= 0x04;
		struct kt_segment_reader *r;
		assert_int_equal(kt_segment_reader_open_mem(copy, len, NULL, &r, &d), KT_OK);
		const struct kt_record *rec;
		uint64_t n = 0;
		int errors = 0;
		for (;;) {
			kt_diag_clear(&d);
			enum kt_err err = kt_segment_reader_next(r, &rec, &d);
			if (err) {
				assert_int_equal(err, KT_ERR_CHECKSUM);
				assert_int_equal(d.block, b);
				assert_true(d.pos == (int64_t)bi->pos);
				errors++;
				continue;
			}
			if (!rec)
				break;
			n++;
		}
		assert_int_equal(errors, 1);
		assert_true(n == 300 - bi->record_count);
		kt_segment_reader_close(r);
		free(copy);
	}
	kt_segment_reader_close(full);
	free(data);
}

/* The writer refuses offsets that do not increase and empty segments, and
 * removes its partial file when closed unfinished. */
static void test_writer_refusals(void **state)
{
	struct fixture *f = *state;
	struct kt_segment_writer *w;
	struct kt_diag d;
	assert_int_equal(kt_segment_writer_open(f->path, "t", 0, 0, NULL, &w, &d), KT_OK);
	struct kt_record r = {.offset = 5, .timestamp = 1, .ts_type = KT_TS_CREATE, .key_null = 1, .value_null = 1};
	assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_OK);
	assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_ERR_INVALID);
	r.offset = 4;
	assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_ERR_INVALID);
	kt_segment_writer_close(w);
	size_t len;
	assert_null(th_read(f->path, &len)); /* removed */
	assert_int_equal(kt_segment_writer_open(f->path, "t", 0, 0, NULL, &w, &d), KT_OK);
	assert_int_equal(kt_segment_writer_finish(w, NULL, &d), KT_ERR_STATE);
	kt_segment_writer_close(w);
	assert_int_equal(kt_segment_writer_open(f->path, "", 0, 0, NULL, &w, &d), KT_ERR_INVALID);
	struct kt_segment_writer_opts o = {.zstd_level = 99, .block_bytes = 0, .no_fsync = 1};
	assert_int_equal(kt_segment_writer_open(f->path, "t", 0, 0, &o, &w, &d), KT_ERR_INVALID);
}

/* A record larger than the block target becomes a block of its own, and a
 * reader with a lower limit refuses the block instead of allocating it. */
static void test_large_record_and_limit(void **state)
{
	struct fixture *f = *state;
	size_t big = 3 * 1024 * 1024;
	uint8_t *val = malloc(big);
	for (size_t i = 0; i < big; i++)
		val[i] = (uint8_t)(i * 2654435761u >> 24);
	struct kt_segment_writer *w;
	struct kt_diag d;
	struct kt_segment_writer_opts o = {.zstd_level = 1, .block_bytes = 64 * 1024, .no_fsync = 1};
	assert_int_equal(kt_segment_writer_open(f->path, "big", 0, 0, &o, &w, &d), KT_OK);
	struct kt_record small = {.offset = 0,
				  .timestamp = 1,
				  .ts_type = KT_TS_CREATE,
				  .key_null = 1,
				  .value = (const uint8_t *)"x",
				  .value_len = 1};
	struct kt_record r = {
		.offset = 1, .timestamp = 2, .ts_type = KT_TS_CREATE, .key_null = 1, .value = val, .value_len = big};
	assert_int_equal(kt_segment_writer_add(w, &small, &d), KT_OK);
	assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_OK);
	small.offset = 2;
	assert_int_equal(kt_segment_writer_add(w, &small, &d), KT_OK);
	struct kt_segment_summary sum;
	assert_int_equal(kt_segment_writer_finish(w, &sum, &d), KT_OK);
	kt_segment_writer_close(w);
	assert_int_equal(sum.block_count, 3);

	struct kt_segment_reader *rd;
	assert_int_equal(kt_segment_reader_open(f->path, NULL, &rd, &d), KT_OK);
	const struct kt_record *rec;
	assert_int_equal(kt_segment_reader_next(rd, &rec, &d), KT_OK);
	assert_int_equal(kt_segment_reader_next(rd, &rec, &d), KT_OK);
	assert_true(rec->value_len == big && memcmp(rec->value, val, big) == 0);
	kt_segment_reader_close(rd);

	struct kt_segment_reader_opts lim = {.max_block_raw = 1024 * 1024};
	assert_int_equal(kt_segment_reader_open(f->path, &lim, &rd, &d), KT_OK);
	assert_int_equal(kt_segment_reader_next(rd, &rec, &d), KT_OK);
	assert_int_equal(kt_segment_reader_next(rd, &rec, &d), KT_ERR_LIMIT);
	assert_int_equal(kt_segment_reader_next(rd, &rec, &d), KT_OK);
	assert_true(rec && rec->offset == 2);
	kt_segment_reader_close(rd);
	free(val);
}

/* The segment is a valid zstd stream: `zstd -t` accepts it. */
static void test_zstd_cli_accepts(void **state)
{
	struct fixture *f = *state;
	write_records(f->path, 1000, 4096, NULL);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "zstd -q -t '%s'", f->path);
	assert_int_equal(system(cmd), 0);
}

/* ---- damaged record tables (format v2) -------------------------------- */

/* Rebuilds the file in data with block 0's record table replaced by
 * mutate(table): recompressed, sizes and CRC fixed, the rest moved. */
static uint8_t *with_table(const uint8_t *data, size_t len, void (*mutate)(struct kt_buf *), size_t *out_len)
{
	size_t pos = 8 + kt_get_u32le(data + 4); /* block 0 follows the header frame */
	const uint8_t *c = data + pos + 8;
	uint32_t frame_size = kt_get_u32le(data + pos + 4);
	uint32_t tsize = kt_get_u32le(c + 64), traw = kt_get_u32le(c + 68);
	struct kt_buf t;
	kt_buf_init(&t, SIZE_MAX);
	assert_int_equal(kt_buf_reserve(&t, traw + 64), KT_OK);
	assert_true(ZSTD_decompress(t.data, traw, c + frame_size - 4 - tsize, tsize) == traw);
	t.len = traw;
	mutate(&t);
	size_t bound = ZSTD_compressBound(t.len);
	uint8_t *z = malloc(bound);
	size_t zn = ZSTD_compress(z, bound, t.data, t.len, 3);
	assert_false(ZSTD_isError(zn));
	size_t new_frame = 76 + zn;
	uint8_t *out = malloc(len + zn + 64);
	memcpy(out, data, pos + 8 + 72);
	kt_put_u32le(out + pos + 4, (uint32_t)new_frame);
	kt_put_u32le(out + pos + 8 + 64, (uint32_t)zn);
	kt_put_u32le(out + pos + 8 + 68, (uint32_t)t.len);
	memcpy(out + pos + 8 + 72, z, zn);
	uint8_t *fc = out + pos + 8;
	kt_put_u32le(fc + new_frame - 4, kt_crc32c(0, fc, new_frame - 4));
	size_t old_end = pos + 8 + frame_size;
	memcpy(out + pos + 8 + new_frame, data + old_end, len - old_end);
	*out_len = len - old_end + pos + 8 + new_frame;
	free(z);
	kt_buf_free(&t);
	return out;
}

/* Table offsets of the test block below: 10 records of widths 1, so
 * column c (c < 6) starts at 1 + c * 11. */
#define TT_RECS	  10
#define TT_COL(c) (1 + (c) * (1 + TT_RECS))
static void mut_none(struct kt_buf *t)
{
	(void)t;
}
static void mut_width_zero(struct kt_buf *t)
{
	t->data[TT_COL(0)] = 0;
}
static void mut_width_nine(struct kt_buf *t)
{
	t->data[TT_COL(3)] = 9;
}
static void mut_seven_columns(struct kt_buf *t)
{
	t->data[0] = 7;
}
static void mut_ninth_column(struct kt_buf *t)
{
	/* an extra column is an extension only in a later minor version */
	t->data[0] = 9;
	t->data[t->len++] = 1;
	memset(t->data + t->len, 0, TT_RECS);
	t->len += TT_RECS;
}
static void mut_reserved_attr(struct kt_buf *t)
{
	t->data[TT_COL(0) + 1 + 4] |= 0x04;
}
static void mut_wide_attr(struct kt_buf *t)
{
	/* width 2: record 0's attributes 0x0101, a reserved bit above bit 7 */
	uint8_t *col = t->data + TT_COL(0);
	memmove(col + 1 + 2 * TT_RECS, col + 1 + TT_RECS, t->len - (size_t)(col + 1 + TT_RECS - t->data));
	t->len += TT_RECS;
	col[0] = 2;
	memset(col + 1 + TT_RECS, 0, TT_RECS);
	col[1 + TT_RECS] = 1;
}
static void mut_ts_type_3(struct kt_buf *t)
{
	t->data[TT_COL(0) + 1 + 2] = 3;
}
static void mut_header_count(struct kt_buf *t)
{
	t->data[TT_COL(5) + 1 + 1] = 200; /* more headers than the table holds */
}
static void mut_key_too_long(struct kt_buf *t)
{
	t->data[TT_COL(3) + 1] = 255;
}
static void mut_value_short(struct kt_buf *t)
{
	t->data[TT_COL(4) + 1]--; /* the payload then has a byte left over */
}
static void mut_trailing_byte(struct kt_buf *t)
{
	t->data[t->len++] = 0;
}
static void mut_offset_past_end(struct kt_buf *t)
{
	t->data[TT_COL(1) + 1 + TT_RECS - 1] = 5; /* the last offset passes last_offset */
}

/* Every malformed table is a format error on block 0, found without a
 * crash; the unchanged rebuild reads (so the rebuild itself is sound). */
static void test_damaged_tables(void **state)
{
	struct fixture *f = *state;
	struct kt_segment_writer *w;
	struct kt_diag d;
	struct kt_segment_writer_opts opts = {.no_fsync = 1};
	assert_int_equal(kt_segment_writer_open(f->path, "t", 0, 0, &opts, &w, &d), KT_OK);
	for (int i = 0; i < TT_RECS; i++) {
		struct kt_header h = {(const uint8_t *)"h", 1, (const uint8_t *)"v", 1, 0};
		struct kt_record r = {.offset = i,
				      .timestamp = 1000 + i,
				      .ts_type = KT_TS_CREATE,
				      .key = (const uint8_t *)"key",
				      .key_len = 3,
				      .value = (const uint8_t *)"value",
				      .value_len = 5,
				      .headers = &h,
				      .header_count = 1};
		assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_OK);
	}
	assert_int_equal(kt_segment_writer_finish(w, NULL, &d), KT_OK);
	kt_segment_writer_close(w);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	static const struct {
		const char *name;
		void (*mutate)(struct kt_buf *);
		enum kt_err want;
	} cases[] = {
		{"unchanged", mut_none, KT_OK},
		{"width 0", mut_width_zero, KT_ERR_FORMAT},
		{"width 9", mut_width_nine, KT_ERR_FORMAT},
		{"7 columns", mut_seven_columns, KT_ERR_FORMAT},
		{"9 columns in 2.0", mut_ninth_column, KT_ERR_FORMAT},
		{"reserved attribute", mut_reserved_attr, KT_ERR_FORMAT},
		{"timestamp type 3", mut_ts_type_3, KT_ERR_FORMAT},
		{"attribute bit 8", mut_wide_attr, KT_ERR_FORMAT},
		{"header count", mut_header_count, KT_ERR_FORMAT},
		{"key too long", mut_key_too_long, KT_ERR_FORMAT},
		{"value short", mut_value_short, KT_ERR_FORMAT},
		{"trailing byte", mut_trailing_byte, KT_ERR_FORMAT},
		{"offset past end", mut_offset_past_end, KT_ERR_FORMAT},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		size_t n;
		uint8_t *bad = with_table(data, len, cases[k].mutate, &n);
		struct kt_segment_reader *r;
		assert_int_equal(kt_segment_reader_open_mem(bad, n, NULL, &r, &d), KT_OK);
		assert_int_equal(kt_segment_reader_info(r)->footer_err, KT_OK);
		enum kt_err err = kt_segment_reader_check_block(r, 0, 1, &d);
		if (getenv("KT_TEST_VERBOSE") || err != cases[k].want)
			fprintf(stderr, "table case '%s': got %d (%s)\n", cases[k].name, err, d.msg);
		assert_int_equal(err, cases[k].want);
		kt_segment_reader_close(r);
		free(bad);
	}
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seek_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seek_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flip_each_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_record_and_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zstd_cli_accepts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_tables, setup, teardown),
	};
	return cmocka_run_group_tests_name("segment", tests, NULL, NULL);
}
