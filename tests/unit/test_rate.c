/* Unit tests of restore's pacing (src/restore/kt_rate.c): the token buckets
 * for records/s and bytes/s, and the original-pace clock. Time is driven by
 * the test: each wait the limiter asks for is "slept" by moving the clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kt_rate.h"

#define MS ((int64_t)1000000)
#define S  ((int64_t)1000000000)

/* Sends one record through r at *now, waiting as it says; returns when it
 * was sent. */
static int64_t send(struct kt_rate *r, uint64_t bytes, int64_t ts, int64_t *now)
{
	for (int i = 0; i < 1000; i++) {
		int64_t w = kt_rate_wait_ns(r, bytes, ts, *now);
		if (w == 0)
			return *now;
		assert_true(w > 0);
		*now += w;
	}
	fail_msg("the limiter never let the record go");
	return -1;
}

/* Without limits every record goes at once. */
static void test_unlimited(void **state)
{
	(void)state;
	struct kt_rate r;
	kt_rate_init(&r, 0, 0, 0, 0, 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(kt_rate_wait_ns(&r, 1 << 20, i, 5), 0);
}

/* 100 records/s: a burst of 50 ms worth (5), then one every 10 ms; over a
 * thousand records the rate is 100/s within 1%. */
static void test_records_per_second(void **state)
{
	(void)state;
	struct kt_rate r;
	int64_t now = 0;
	kt_rate_init(&r, 100, 0, 0, 0, now);
	for (int i = 0; i < 5; i++)
		assert_int_equal(send(&r, 10, 0, &now), 0);
	int64_t t6 = send(&r, 10, 0, &now);
	assert_true(t6 >= 10 * MS - 1 && t6 <= 10 * MS + 1000);
	for (int i = 6; i < 1000; i++)
		send(&r, 10, 0, &now);
	double secs = (double)now / 1e9;
	assert_true(secs > 9.94 * 0.99 && secs < 9.95 * 1.01);
}

/* 1 MB/s with records larger than the bucket (100 KB against 50 KB): each
 * waits for a full bucket and drives it negative, and the long-run rate is
 * still the one asked for. */
static void test_bytes_per_second_large_records(void **state)
{
	(void)state;
	struct kt_rate r;
	int64_t now = 0;
	kt_rate_init(&r, 0, 1e6, 0, 0, now);
	for (int i = 0; i < 200; i++)
		send(&r, 100000, 0, &now);
	double rate = 200 * 100000.0 / ((double)now / 1e9);
	assert_true(rate > 0.98e6 && rate < 1.02e6);
}

/* Both limits: the stricter one decides. */
static void test_both_limits(void **state)
{
	(void)state;
	struct kt_rate r;
	int64_t now = 0;
	kt_rate_init(&r, 1000, 10000, 0, 0, now); /* 1000/s, but 10 KB/s of 100 B records: 100/s */
	for (int i = 0; i < 500; i++)
		send(&r, 100, 0, &now);
	double secs = (double)now / 1e9;
	assert_true(secs > 4.9 && secs < 5.1);
}

/* Original pace at speed 2: records 1 s apart in time go 0.5 s apart. */
static void test_pace(void **state)
{
	(void)state;
	struct kt_rate r;
	int64_t now = 7 * S;
	kt_rate_init(&r, 0, 0, 2.0, 0, now);
	assert_int_equal(send(&r, 1, 1000000, &now), 7 * S);
	assert_int_equal(send(&r, 1, 1001000, &now), 7 * S + 500 * MS);
	assert_int_equal(send(&r, 1, 1003000, &now), 7 * S + 1500 * MS);
	/* a timestamp that goes back plays at once */
	assert_int_equal(send(&r, 1, 1000500, &now), 7 * S + 1500 * MS);
}

/* An idle hour with --max-idle 10s plays as 10 s, and the records after it
 * keep their spacing. */
static void test_pace_max_idle(void **state)
{
	(void)state;
	struct kt_rate r;
	int64_t now = 0;
	kt_rate_init(&r, 0, 0, 1.0, 10000, now);
	send(&r, 1, 0, &now);
	assert_int_equal(send(&r, 1, 3600000, &now), 10 * S);
	assert_int_equal(send(&r, 1, 3601000, &now), 11 * S);
}

/* A wait shorter than a millisecond is still a positive wait in
 * nanoseconds: the caller must not round it to "no wait" and spin. */
static void test_short_waits_are_exact(void **state)
{
	(void)state;
	struct kt_rate r;
	int64_t now = 0;
	kt_rate_init(&r, 5000, 0, 0, 0, now); /* 200 us apart, burst 250 */
	for (int i = 0; i < 250; i++)
		assert_int_equal(kt_rate_wait_ns(&r, 1, 0, now), 0);
	int64_t w = kt_rate_wait_ns(&r, 1, 0, now);
	assert_true(w > 0 && w < MS);
	assert_true(w >= 200000 - 1 && w <= 200000 + 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_records_per_second),
		cmocka_unit_test(test_bytes_per_second_large_records),
		cmocka_unit_test(test_both_limits),
		cmocka_unit_test(test_pace),
		cmocka_unit_test(test_pace_max_idle),
		cmocka_unit_test(test_short_waits_are_exact),
	};
	return cmocka_run_group_tests_name("rate", tests, NULL, NULL);
}
