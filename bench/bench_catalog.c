/* bench_catalog - how fast catalog lookups are in a large catalog.
 *
 *   bench_catalog [BLOCKS] [DIR]     (default 1000000 blocks, $TMPDIR)
 *
 * Builds a catalog of BLOCKS blocks (1000 per segment, 4 partitions, offsets
 * with gaps, timestamps that go back now and then), then times the lookups
 * restore and cat make: the blocks holding an offset range, the first block
 * that can hold a timestamp >= T, and where the next dump starts. Each
 * lookup is repeated at random positions; the median and the 99th
 * percentile are printed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_time.h"

#define PER_SEGMENT 1000
#define PARTITIONS  4
#define QUERIES	    20000

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int count_cb(void *ctx, const struct kt_catalog_block *b)
{
	(void)b;
	(*(int *)ctx)++;
	return 0;
}

static void report(const char *what, int64_t *ns, int n)
{
	qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
	printf("  %-34s median %7.1f us   p99 %7.1f us   max %7.1f us\n", what, (double)ns[n / 2] / 1e3,
	       (double)ns[n * 99 / 100] / 1e3, (double)ns[n - 1] / 1e3);
	printf("bench.catalog.%s_median_us=%.1f\n", what, (double)ns[n / 2] / 1e3);
}

int main(int argc, char **argv)
{
	long blocks = argc > 1 ? atol(argv[1]) : 1000000;
	const char *tmp = argc > 2 ? argv[2] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	char path[4096];
	snprintf(path, sizeof(path), "%s/bench-catalog-%d.db", tmp, (int)getpid());
	struct kt_catalog *cat;
	struct kt_diag d;
	kt_diag_clear(&d);
	if (kt_catalog_open(path, KT_CATALOG_CREATE, &cat, &d)) {
		fprintf(stderr, "bench_catalog: %s\n", d.msg);
		return 1;
	}
	long segments = blocks / PER_SEGMENT;
	struct kt_block_info *bi = calloc(PER_SEGMENT, sizeof(*bi));
	int64_t next_off[PARTITIONS] = {0}, next_ts[PARTITIONS] = {0};
	int64_t t0 = kt_time_mono_ns();
	for (long s = 0; s < segments; s++) {
		int32_t p = (int32_t)(s % PARTITIONS);
		struct kt_catalog_segment seg = {0};
		char rel[256];
		snprintf(rel, sizeof(rel), "segments/bench/g0/p%d/%020" PRId64 ".kts", p, next_off[p]);
		seg.path = rel;
		seg.topic = "bench";
		seg.partition = p;
		seg.sum.first_offset = next_off[p];
		for (int b = 0; b < PER_SEGMENT; b++) {
			/* 100 records a block, offsets with a gap now and then,
			 * timestamps that sometimes go back */
			bi[b].index = (uint32_t)b;
			bi[b].pos = (uint64_t)b * 4096;
			bi[b].record_count = 100;
			bi[b].first_offset = next_off[p];
			bi[b].last_offset = next_off[p] + 99 + (int64_t)(next_rand() % 3);
			next_off[p] = bi[b].last_offset + 1;
			bi[b].min_timestamp = next_ts[p] - (next_rand() % 10 == 0 ? 5000 : 0);
			bi[b].max_timestamp = next_ts[p] + 1000;
			next_ts[p] += 1000;
		}
		seg.sum.last_offset = next_off[p] - 1;
		seg.sum.min_timestamp = bi[0].min_timestamp;
		seg.sum.max_timestamp = bi[PER_SEGMENT - 1].max_timestamp;
		seg.sum.record_count = 100 * PER_SEGMENT;
		seg.sum.block_count = PER_SEGMENT;
		if (kt_catalog_begin(cat, &d) || kt_catalog_add_segment(cat, &seg, bi, PER_SEGMENT, NULL, &d) ||
		    kt_catalog_commit(cat, &d)) {
			fprintf(stderr, "bench_catalog: %s\n", d.msg);
			return 1;
		}
	}
	double build_s = (double)(kt_time_mono_ns() - t0) / 1e9;
	printf("catalog with %ld blocks in %ld segments, %d partitions: built in %.1f s\n", segments * PER_SEGMENT,
	       segments, PARTITIONS, build_s);
	int64_t *ns = calloc(QUERIES, sizeof(*ns));
	for (int q = 0; q < QUERIES; q++) {
		int32_t p = (int32_t)(next_rand() % PARTITIONS);
		int64_t from = (int64_t)(next_rand() % (uint64_t)next_off[p]);
		int n = 0;
		int64_t a = kt_time_mono_ns();
		kt_catalog_blocks_in_range(cat, "bench", 0, p, from, from + 1000, count_cb, &n, &d);
		ns[q] = kt_time_mono_ns() - a;
	}
	report("blocks_for_offset_range", ns, QUERIES);
	for (int q = 0; q < QUERIES; q++) {
		int32_t p = (int32_t)(next_rand() % PARTITIONS);
		int64_t ts = (int64_t)(next_rand() % (uint64_t)next_ts[p]);
		int64_t first;
		int found;
		int64_t a = kt_time_mono_ns();
		kt_catalog_first_block_at_time(cat, "bench", 0, p, ts, &first, &found, &d);
		ns[q] = kt_time_mono_ns() - a;
	}
	report("first_block_at_time", ns, QUERIES);
	for (int q = 0; q < QUERIES; q++) {
		int32_t p = (int32_t)(next_rand() % PARTITIONS);
		int64_t end;
		int found;
		int64_t a = kt_time_mono_ns();
		kt_catalog_resume_end(cat, "bench", 0, p, &end, &found, &d);
		ns[q] = kt_time_mono_ns() - a;
	}
	report("resume_end", ns, QUERIES);
	kt_catalog_close(cat);
	unlink(path);
	char side[4200];
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	free(ns);
	free(bi);
	return 0;
}
