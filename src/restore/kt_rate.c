#include "kt_rate.h"

static void bucket_init(struct kt_bucket *b, double rate, double min_burst, int64_t now_ns)
{
	b->rate = rate;
	/* a small bucket keeps the flow smooth: no one-second bursts */
	b->burst = rate / 20.0;
	if (b->burst < min_burst)
		b->burst = min_burst;
	b->tokens = b->burst;
	b->last_ns = now_ns;
}

static void bucket_refill(struct kt_bucket *b, int64_t now_ns)
{
	if (now_ns > b->last_ns) {
		b->tokens += b->rate * (double)(now_ns - b->last_ns) / 1e9;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last_ns = now_ns;
	}
}

/* Wait needed until `need` tokens are there (a request larger than the
 * burst waits until the bucket is full, then drives it negative). */
static int64_t bucket_wait(struct kt_bucket *b, double need, int64_t now_ns)
{
	if (b->rate <= 0)
		return 0;
	bucket_refill(b, now_ns);
	double want = need < b->burst ? need : b->burst;
	if (b->tokens >= want)
		return 0;
	return (int64_t)((want - b->tokens) / b->rate * 1e9) + 1;
}

void kt_rate_init(struct kt_rate *r, double rate_msgs, double rate_bytes, double speed, int64_t max_idle_ms,
		  int64_t now_ns)
{
	bucket_init(&r->msgs, rate_msgs, 1, now_ns);
	bucket_init(&r->bytes, rate_bytes, 1, now_ns);
	r->pace = speed > 0;
	r->speed = speed;
	r->max_idle_ns = max_idle_ms > 0 ? max_idle_ms * 1000000 : INT64_MAX;
	r->started = 0;
	r->shift_ns = 0;
}

int64_t kt_rate_wait_ns(struct kt_rate *r, uint64_t bytes, int64_t ts, int64_t now_ns)
{
	if (r->pace) {
		if (!r->started) {
			r->started = 1;
			r->start_ts = ts;
			r->prev_ts = ts;
			r->start_wall = now_ns;
		}
		if (ts > r->prev_ts) {
			/* an idle gap longer than max_idle plays as max_idle */
			int64_t gap_ns = (int64_t)((double)(ts - r->prev_ts) * 1e6 / r->speed);
			if (gap_ns > r->max_idle_ns)
				r->shift_ns += gap_ns - r->max_idle_ns;
			r->prev_ts = ts;
		}
		/* timestamps that go back play at once (order is by offset) */
		int64_t due =
			r->start_wall + (int64_t)((double)(r->prev_ts - r->start_ts) * 1e6 / r->speed) - r->shift_ns;
		if (due > now_ns)
			return due - now_ns;
	}
	int64_t w1 = bucket_wait(&r->msgs, 1, now_ns);
	int64_t w2 = bucket_wait(&r->bytes, (double)bytes, now_ns);
	int64_t w = w1 > w2 ? w1 : w2;
	if (w > 0)
		return w;
	if (r->msgs.rate > 0)
		r->msgs.tokens -= 1;
	if (r->bytes.rate > 0)
		r->bytes.tokens -= (double)bytes;
	return 0;
}
