/* kt_rate.h - pacing for restore: token buckets for records/s and bytes/s,
 * and the original-pace clock (record timestamps replayed at a speed).
 *
 * Owns: struct kt_rate, plain state without allocations. Time is passed in
 * (nanoseconds of a monotonic clock) so that tests drive it; the functions
 * say how long to wait, they never sleep.
 */
#ifndef KT_RATE_H
#define KT_RATE_H

#include <stdint.h>

struct kt_bucket {
	double rate;  /* tokens per second; 0 = unlimited */
	double burst; /* capacity: rate / 20, i.e. 50 ms of tokens, at least one item */
	double tokens;
	int64_t last_ns;
};

struct kt_rate {
	struct kt_bucket msgs;
	struct kt_bucket bytes;
	/* original pace: wall = start_wall + (ts - start_ts) / speed, with idle
	 * gaps longer than max_idle cut short */
	int pace;
	double speed;
	int64_t max_idle_ns;
	int started;
	int64_t start_ts;   /* ms, of the first record */
	int64_t prev_ts;    /* ms, the furthest timestamp played so far */
	int64_t start_wall; /* ns */
	int64_t shift_ns;   /* idle time cut so far */
};

/* rate_msgs, rate_bytes: 0 for unlimited. speed <= 0: no original pace. */
void kt_rate_init(struct kt_rate *r, double rate_msgs, double rate_bytes, double speed, int64_t max_idle_ms,
		  int64_t now_ns);
/* Nanoseconds to wait before sending a record of `bytes` bytes with
 * timestamp ts; 0 means send now (and the tokens are taken). Call again
 * after waiting. */
int64_t kt_rate_wait_ns(struct kt_rate *r, uint64_t bytes, int64_t ts, int64_t now_ns);

#endif
