/* bench_format.c - microbenchmark of the segment format (tools/bench format).
 *
 * Generates user-activities-like JSON records in memory (fixed PRNG seed, so
 * every run sees the same bytes), then times, each over several rounds and
 * reporting the median:
 *   - ktape encode: kt_segment_writer, file in a tmpfs, no fsync
 *   - ktape decode: kt_segment_reader_next over that file, every payload
 *     byte read
 *   - plain zstd compress / decompress of the same payload bytes, in chunks
 *     of the block size, with the content checksum on (what ktape's data
 *     frames carry), in memory
 * and compares the sizes. MB and GB are 10^6 and 10^9 bytes; throughput is
 * payload (key + value + header bytes) per second of wall time on one core.
 *
 * The size breakdown: the data frames (ktape's compression of the payload,
 * against plain zstd of the same bytes), the record tables (the records'
 * offsets, timestamps, types and lengths, which plain zstd of the payload
 * does not store at all), and the ktape frames around them (file header,
 * block headers' fixed fields, footer index, checksums). As a yardstick
 * for the tables, it also computes what the record fields would cost under
 * an ideal order-0 entropy coder (each field's empirical entropy over the
 * whole corpus); the "framing overhead" target is measured against plain
 * zstd plus that floor, so that it counts what the format adds, not the
 * information the records carry.
 *
 * --levels / --blocks (or --sweep) run a grid of zstd levels and block
 * sizes instead of the single configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "kt_record.h"
#include "kt_segment.h"
#include "kt_segment_reader.h"
#include "kt_segment_writer.h"

#define BENCH_SEED	   0x6b746170652d6266ull /* "ktape-bf" */
#define BENCH_MAX_LIST	   16
#define BENCH_ARENA_SLACK  1024 /* upper bound of one generated record's bytes */
#define TARGET_ENCODE_PCT  15.0 /* encode at most this much slower than zstd */
#define TARGET_DECODE_MB_S 1000.0
#define TARGET_OVERHEAD	   3.0 /* % of the plain zstd size */

/* 2026-11-22T10:00:00.000Z, the first record's CreateTime. */
#define BENCH_BASE_TS_MS 1795341600000ll

/* Each timed phase stays a function of its own, so that a profile (perf
 * record --call-graph dwarf) attributes its samples to it. */
#define BENCH_PHASE __attribute__((noinline))

/* ---- deterministic generator ------------------------------------------- */

static uint64_t rng_state = BENCH_SEED;

static uint64_t rng_next(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static unsigned rng_below(unsigned n)
{
	return (unsigned)(rng_next() % n);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xFF51AFD7ED558CCDull;
	x ^= x >> 33;
	x *= 0xC4CEB9FE1A85EC53ull;
	return x ^ (x >> 33);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Weighted by repetition: page views dominate, purchases are rare. */
static const char *const actions[] = {
	"page_view", "page_view", "page_view",	 "page_view",	   "page_view",
	"click",     "click",	  "click",	 "view_product",   "view_product",
	"search",    "search",	  "add_to_cart", "add_to_cart",	   "remove_from_cart",
	"purchase",  "login",	  "logout",	 "update_profile",
};

/* Browsers, and the shop's own mobile app (shorter agent strings). */
static const char *const user_agents[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
	"Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
	"Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 "
	"Mobile Safari/537.36",
	"ShopApp/4.12.1 (Android 13; SM-S911B)",
	"ShopApp/4.12.0 (iOS 17.6.1; iPhone15,3)",
	"ShopApp/4.11.7 (Android 14; Pixel 7a)",
	"ShopApp/4.12.1 (iOS 18.1; iPad13,18)",
};

static const char *const categories[] = {"electronics", "books", "garden", "toys", "fashion", "sports", "kitchen"};
static const char *const words[] = {"wireless headphones", "running shoes", "coffee grinder", "usb-c cable",
				    "desk lamp",	   "yoga mat",	    "gift card",      "board games"};
static const char *const clicks[] = {"add-to-cart", "buy-now", "wishlist", "reviews", "share", "size-guide"};

/* A user's stable attributes, derived from the id so that they repeat the way
 * real ones would (same address, same device) without a table. */
static void user_traits(unsigned user, char *ip, size_t ip_size, const char **ua)
{
	uint64_t h = mix64(user * 0x9E3779B97F4A7C15ull);
	if (h % 5 == 0)
		snprintf(ip, ip_size, "192.168.%u.%u", (unsigned)(h >> 8) % 256, 1 + (unsigned)(h >> 16) % 254);
	else
		snprintf(ip, ip_size, "10.%u.%u.%u", (unsigned)(h >> 8) % 256, (unsigned)(h >> 16) % 256,
			 1 + (unsigned)(h >> 24) % 254);
	*ua = user_agents[(h >> 32) % COUNT(user_agents)];
}

/* Hot users (a few hundred) produce a third of the traffic. */
static unsigned pick_user(void)
{
	if (rng_below(3) == 0)
		return 1000 + rng_below(300);
	return 1000 + rng_below(9000);
}

static int format_resource(char *buf, size_t size, const char *action)
{
	unsigned product = 1000 + rng_below(9000);
	if (!strcmp(action, "page_view")) {
		switch (rng_below(4)) {
		case 0: return snprintf(buf, size, "/products/%u", product);
		case 1: {
			const char *cat = categories[rng_below(COUNT(categories))];
			return snprintf(buf, size, "/categories/%s?page=%u", cat, 1 + rng_below(9));
		}
		case 2: return snprintf(buf, size, "/home");
		default: {
			const char *cat = categories[rng_below(COUNT(categories))];
			return snprintf(buf, size, "/blog/%s-%u", cat, rng_below(500));
		}
		}
	}
	if (!strcmp(action, "click"))
		return snprintf(buf, size, "/products/%u#%s", product, clicks[rng_below(COUNT(clicks))]);
	if (!strcmp(action, "view_product"))
		return snprintf(buf, size, "/products/%u", product);
	if (!strcmp(action, "search")) {
		const char *q = words[rng_below(COUNT(words))];
		return snprintf(buf, size, "/search?q=%s&page=%u", q, 1 + rng_below(3));
	}
	if (!strcmp(action, "add_to_cart") || !strcmp(action, "remove_from_cart"))
		return snprintf(buf, size, "/cart/items/%u", product);
	if (!strcmp(action, "purchase"))
		return snprintf(buf, size, "/checkout/orders/ord-%08x", (unsigned)rng_next());
	if (!strcmp(action, "login"))
		return snprintf(buf, size, "/auth/login");
	if (!strcmp(action, "logout"))
		return snprintf(buf, size, "/auth/logout");
	return snprintf(buf, size, "/account/profile");
}

/* Action-specific metadata fields, with a leading comma, or "". */
static int format_extra(char *buf, size_t size, const char *action)
{
	if (!strcmp(action, "purchase")) {
		unsigned euros = 5 + rng_below(400), cents = rng_below(100), items = 1 + rng_below(6);
		return snprintf(buf, size, ",\"amount\":%u.%02u,\"currency\":\"EUR\",\"items\":%u", euros, cents,
				items);
	}
	if (!strcmp(action, "add_to_cart"))
		return snprintf(buf, size, ",\"quantity\":%u", 1 + rng_below(4));
	if (!strcmp(action, "page_view") && rng_below(3) == 0)
		return snprintf(buf, size, ",\"referrer\":\"https://www.google.com/\"");
	buf[0] = '\0';
	return 0;
}

static void format_iso_ms(char *buf, size_t size, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ---- the corpus ---------------------------------------------------------- */

struct corpus {
	struct kt_record *recs;
	struct kt_header *hdrs;
	size_t count;
	uint8_t *arena; /* every key, value and header value */
	size_t arena_len;
	uint8_t *flat; /* the payload bytes of all records, concatenated */
	uint64_t payload_bytes;
	uint64_t byte_sum; /* sum of all payload bytes, to check round trips */
	size_t value_min, value_max;
	size_t with_headers;
};

static const char hdr_traceparent[] = "traceparent";
static const char hdr_source[] = "source";

/* Appends one record's key, value and headers to the arena. Pointers are
 * stored as arena offsets here and fixed up once the arena stops moving. */
static void gen_record(struct corpus *c, size_t i, int64_t offset, int64_t ts)
{
	struct kt_record *rec = &c->recs[i];
	char *base = (char *)c->arena;
	size_t at = c->arena_len;
	unsigned user = pick_user();
	const char *action = actions[rng_below(COUNT(actions))];
	char ip[32], resource[96], extra[96], iso[80];
	const char *ua;
	user_traits(user, ip, sizeof(ip), &ua);
	format_resource(resource, sizeof(resource), action);
	format_extra(extra, sizeof(extra), action);
	/* the event time is a little before the producer's CreateTime */
	format_iso_ms(iso, sizeof(iso), ts - rng_below(40));
	/* most views are short, some tabs stay open for minutes */
	unsigned duration = rng_below(rng_below(4) ? 3000 : 60000);
	uint64_t session =
		0xFFFFFFFFFFFFull & mix64((uint64_t)user << 20 | (uint64_t)(ts - BENCH_BASE_TS_MS) / 1800000);

	int klen = snprintf(base + at, 32, "user-%u", user);
	rec->key = (const uint8_t *)(uintptr_t)at;
	rec->key_len = (size_t)klen;
	at += (size_t)klen;
	/* key, value and headers must stay within BENCH_ARENA_SLACK */
	int vlen = snprintf(base + at, BENCH_ARENA_SLACK - 128,
			    "{\"userId\":\"user-%u\",\"action\":\"%s\",\"resource\":\"%s\",\"metadata\":{\"sessionId\":"
			    "\"sess-%012" PRIx64 "\",\"userAgent\":\"%s\",\"durationMs\":%u%s},\"ipAddress\":\"%s\","
			    "\"timestamp\":\"%s\"}",
			    user, action, resource, session, ua, duration, extra, ip, iso);
	if (vlen < 0 || vlen >= BENCH_ARENA_SLACK - 128)
		abort();
	rec->value = (const uint8_t *)(uintptr_t)at;
	rec->value_len = (size_t)vlen;
	at += (size_t)vlen;
	rec->offset = offset;
	rec->timestamp = ts;
	rec->ts_type = KT_TS_CREATE;
	c->arena_len = at;
}

/* One record in four carries a trace header, some also a source header. */
static size_t gen_headers(struct corpus *c, size_t i, size_t next_hdr)
{
	struct kt_record *rec = &c->recs[i];
	if (rng_below(4) != 0)
		return next_hdr;
	char *base = (char *)c->arena;
	struct kt_header *h = &c->hdrs[next_hdr];
	rec->headers = (const struct kt_header *)(uintptr_t)next_hdr;
	rec->header_count = 1;
	h->name = (const uint8_t *)hdr_traceparent;
	h->name_len = sizeof(hdr_traceparent) - 1;
	uint64_t trace_hi = rng_next(), trace_lo = rng_next(), span = rng_next();
	int n = snprintf(base + c->arena_len, 64, "00-%016" PRIx64 "%016" PRIx64 "-%016" PRIx64 "-01", trace_hi,
			 trace_lo, span);
	h->value = (const uint8_t *)(uintptr_t)c->arena_len;
	h->value_len = (size_t)n;
	c->arena_len += (size_t)n;
	if (rng_below(3) == 0) {
		const char *src = rng_below(2) ? "web-frontend" : "mobile-api";
		h[1].name = (const uint8_t *)hdr_source;
		h[1].name_len = sizeof(hdr_source) - 1;
		h[1].value = (const uint8_t *)(uintptr_t)c->arena_len;
		h[1].value_len = strlen(src);
		memcpy(base + c->arena_len, src, h[1].value_len);
		c->arena_len += h[1].value_len;
		rec->header_count = 2;
	}
	c->with_headers++;
	return next_hdr + rec->header_count;
}

static uint64_t byte_sum(const uint8_t *p, size_t n);

static void corpus_fixup(struct corpus *c)
{
	const uint8_t *a = c->arena;
	uint8_t *out = c->flat;
	c->value_min = SIZE_MAX;
	for (size_t i = 0; i < c->count; i++) {
		struct kt_record *rec = &c->recs[i];
		rec->key = a + (uintptr_t)rec->key;
		rec->value = a + (uintptr_t)rec->value;
		memcpy(out, rec->key, rec->key_len);
		out += rec->key_len;
		memcpy(out, rec->value, rec->value_len);
		out += rec->value_len;
		if (rec->header_count) {
			struct kt_header *h = &c->hdrs[(uintptr_t)rec->headers];
			rec->headers = h;
			for (size_t k = 0; k < rec->header_count; k++) {
				h[k].value = a + (uintptr_t)h[k].value;
				memcpy(out, h[k].name, h[k].name_len);
				out += h[k].name_len;
				memcpy(out, h[k].value, h[k].value_len);
				out += h[k].value_len;
			}
		}
		c->payload_bytes += kt_record_payload_bytes(rec);
		if (rec->value_len < c->value_min)
			c->value_min = rec->value_len;
		if (rec->value_len > c->value_max)
			c->value_max = rec->value_len;
	}
	c->byte_sum = byte_sum(c->flat, c->payload_bytes);
}

BENCH_PHASE static int corpus_build(struct corpus *c, size_t count)
{
	memset(c, 0, sizeof(*c));
	c->count = count;
	c->recs = calloc(count, sizeof(*c->recs));
	c->hdrs = calloc(count * 2, sizeof(*c->hdrs));
	/* pages are only committed as they are written, so a generous bound
	 * costs address space, not memory */
	c->arena = malloc(count * BENCH_ARENA_SLACK);
	if (!c->recs || !c->hdrs || !c->arena)
		return -1;
	rng_state = BENCH_SEED;
	int64_t offset = 0, t = BENCH_BASE_TS_MS;
	size_t next_hdr = 0;
	for (size_t i = 0; i < count; i++) {
		/* a few gaps, as transaction markers and compaction leave */
		offset += rng_below(200) ? 1 : 2;
		t += 1 + rng_below(3);
		/* producers' clocks differ: CreateTime may step back a little */
		int64_t ts = rng_below(4) ? t : t - rng_below(3);
		gen_record(c, i, offset, ts);
		next_hdr = gen_headers(c, i, next_hdr);
	}
	c->flat = malloc(c->arena_len + next_hdr * 16 + 1);
	if (!c->flat)
		return -1;
	corpus_fixup(c);
	return 0;
}

/* A corpus from a file of your own: each line (without its newline) is
 * one record's value, with no key and no headers; offsets and timestamps
 * step by one. For measuring on real data, e.g. the values that
 * `ktape cat --format kcat` printed from a topic. */
BENCH_PHASE static int corpus_from_file(struct corpus *c, const char *path, size_t max_records)
{
	memset(c, 0, sizeof(*c));
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 0;
	for (;;) {
		if (c->arena_len == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			uint8_t *a = realloc(c->arena, cap);
			if (!a) {
				fclose(f);
				return -1;
			}
			c->arena = a;
		}
		size_t n = fread(c->arena + c->arena_len, 1, cap - c->arena_len, f);
		if (n == 0)
			break;
		c->arena_len += n;
	}
	fclose(f);
	size_t lines = 0;
	for (size_t i = 0; i < c->arena_len; i++)
		lines += c->arena[i] == '\n';
	lines += c->arena_len && c->arena[c->arena_len - 1] != '\n';
	if (lines > max_records)
		lines = max_records;
	c->recs = calloc(lines ? lines : 1, sizeof(*c->recs));
	c->flat = malloc(c->arena_len + 1);
	if (!c->recs || !c->flat || lines == 0)
		return -1;
	const uint8_t *p = c->arena, *end = c->arena + c->arena_len;
	uint8_t *out = c->flat;
	c->value_min = SIZE_MAX;
	for (size_t i = 0; i < lines; i++) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		struct kt_record *rec = &c->recs[i];
		rec->offset = (int64_t)i;
		rec->timestamp = BENCH_BASE_TS_MS + (int64_t)i;
		rec->ts_type = KT_TS_CREATE;
		rec->key_null = 1;
		rec->value = p;
		rec->value_len = len;
		memcpy(out, p, len);
		out += len;
		c->payload_bytes += len;
		if (len < c->value_min)
			c->value_min = len;
		if (len > c->value_max)
			c->value_max = len;
		p = nl ? nl + 1 : end;
	}
	c->count = lines;
	c->byte_sum = byte_sum(c->flat, c->payload_bytes);
	return 0;
}

static void corpus_free(struct corpus *c)
{
	free(c->recs);
	free(c->hdrs);
	free(c->arena);
	free(c->flat);
}

/* ---- the record fields' information ------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Empirical order-0 entropy of n values, in bits, total (sorts v). */
static double entropy_bits(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	double bits = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && v[j] == v[i])
			j++;
		double p = (double)(j - i) / (double)n;
		bits -= (double)(j - i) * log2(p);
		i = j;
	}
	return bits;
}

/* What an ideal order-0 coder would need for the record fields the
 * record table holds (deltas as the table stores them, the first record of
 * each block counted like the others): a yardstick, in bytes. */
static double field_entropy_bytes(const struct corpus *c)
{
	size_t n = c->count, headers = 0;
	for (size_t i = 0; i < n; i++)
		headers += c->recs[i].header_count;
	uint64_t *v = malloc((n > headers ? n : headers) * sizeof(*v));
	if (!v)
		return 0;
	double bits = 0;
	for (int field = 0; field < 8; field++) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			const struct kt_record *r = &c->recs[i];
			int64_t td = i ? r->timestamp - c->recs[i - 1].timestamp : 0;
			switch (field) {
			case 0: v[k++] = (uint64_t)r->ts_type; break;
			case 1: v[k++] = i ? (uint64_t)(r->offset - c->recs[i - 1].offset - 1) : 0; break;
			case 2: v[k++] = ((uint64_t)td << 1) ^ (uint64_t)(td >> 63); break;
			case 3: v[k++] = r->key_null ? 0 : r->key_len + 1; break;
			case 4: v[k++] = r->value_null ? 0 : r->value_len + 1; break;
			case 5: v[k++] = r->header_count; break;
			case 6:
				for (size_t h = 0; h < r->header_count; h++)
					v[k++] = r->headers[h].name_len;
				break;
			default:
				for (size_t h = 0; h < r->header_count; h++)
					v[k++] = r->headers[h].value_null ? 0 : r->headers[h].value_len + 1;
			}
		}
		bits += entropy_bits(v, k);
	}
	free(v);
	return bits / 8;
}

/* ---- measuring ------------------------------------------------------------ */

/* Sums bytes eight at a time in 16-bit lanes (a lane takes 128 words of two
 * bytes of 255 before it could overflow): cheap, but it reads every byte, and
 * the total does not depend on how the bytes are cut into pieces. */
static uint64_t byte_sum(const uint8_t *p, size_t n)
{
	const uint64_t m = 0x00FF00FF00FF00FFull;
	uint64_t total = 0;
	while (n >= 8) {
		size_t words = n / 8 < 128 ? n / 8 : 128;
		uint64_t lanes = 0;
		for (size_t i = 0; i < words; i++) {
			uint64_t w;
			memcpy(&w, p + 8 * i, 8);
			lanes += (w & m) + ((w >> 8) & m);
		}
		total += (lanes & 0xFFFF) + (lanes >> 16 & 0xFFFF) + (lanes >> 32 & 0xFFFF) + (lanes >> 48);
		p += 8 * words;
		n -= 8 * words;
	}
	while (n--)
		total += *p++;
	return total;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct timing {
	double median, min, max;
};

static struct timing summarize(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	struct timing r = {t[n / 2], t[0], t[n - 1]};
	if (n % 2 == 0)
		r.median = (t[n / 2 - 1] + t[n / 2]) / 2;
	return r;
}

struct config {
	int level;
	size_t block_bytes;
	int rounds;
	const char *path;
};

struct result {
	struct timing enc, dec, zc, zd;
	struct kt_segment_summary summary;
	uint64_t data_bytes;  /* sum of ktape's zstd data frames */
	uint64_t table_bytes; /* sum of the record tables (in the block headers) */
	uint64_t zstd_bytes;  /* plain zstd, all chunks */
	size_t chunks;
};

static char *bench_path; /* removed on exit and on Ctrl-C */

static void remove_bench_file(void)
{
	if (bench_path)
		unlink(bench_path);
}

static void on_signal(int sig)
{
	if (bench_path)
		unlink(bench_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int fail_diag(const char *what, const struct kt_diag *diag)
{
	fprintf(stderr, "bench_format: %s: %s\n", what, diag->msg);
	return -1;
}

/* Sums the record tables' sizes (a field of each block header, format/SPEC.md
 * section 4.3), read back from the file outside the timed part. */
static int table_bytes(const char *path, const struct kt_block_info *blocks, uint32_t n, uint64_t *out)
{
	FILE *f = fopen(path, "rb");
	*out = 0;
	for (uint32_t i = 0; f && i < n; i++) {
		uint8_t b[4];
		if (fseek(f, (long)blocks[i].pos + 8 + 64, SEEK_SET) != 0 || fread(b, 1, 4, f) != 4)
			break;
		*out += (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
	}
	if (f)
		fclose(f);
	if (!f || *out == 0) {
		fprintf(stderr, "bench_format: cannot read the record tables of %s\n", path);
		return -1;
	}
	return 0;
}

BENCH_PHASE static int ktape_encode(const struct corpus *c, const struct config *cfg, struct result *res, double *secs)
{
	struct kt_diag diag = {0};
	struct kt_segment_writer_opts opts = {.zstd_level = cfg->level, .block_bytes = cfg->block_bytes, .no_fsync = 1};
	struct kt_segment_writer *w;
	unlink(cfg->path);
	double t0 = now_s();
	if (kt_segment_writer_open(cfg->path, "user-activities", 0, 1, &opts, &w, &diag))
		return fail_diag("cannot open the segment writer", &diag);
	for (size_t i = 0; i < c->count; i++) {
		if (kt_segment_writer_add(w, &c->recs[i], &diag)) {
			kt_segment_writer_close(w);
			return fail_diag("cannot add a record", &diag);
		}
	}
	if (kt_segment_writer_finish(w, &res->summary, &diag)) {
		kt_segment_writer_close(w);
		return fail_diag("cannot finish the segment", &diag);
	}
	*secs = now_s() - t0;
	uint32_t n;
	const struct kt_block_info *blocks = kt_segment_writer_blocks(w, &n);
	res->data_bytes = 0;
	for (uint32_t i = 0; i < n; i++)
		res->data_bytes += blocks[i].compressed_size;
	int rc = table_bytes(cfg->path, blocks, n, &res->table_bytes);
	kt_segment_writer_close(w);
	return rc;
}

static uint64_t record_sum(const struct kt_record *rec)
{
	uint64_t s = byte_sum(rec->key, rec->key_len) + byte_sum(rec->value, rec->value_len);
	for (size_t k = 0; k < rec->header_count; k++)
		s += byte_sum(rec->headers[k].name, rec->headers[k].name_len) +
		     byte_sum(rec->headers[k].value, rec->headers[k].value_len);
	return s;
}

BENCH_PHASE static int ktape_decode(const struct corpus *c, const struct config *cfg, double *secs)
{
	struct kt_diag diag = {0};
	struct kt_segment_reader *r;
	uint64_t count = 0, sum = 0;
	double t0 = now_s();
	if (kt_segment_reader_open(cfg->path, NULL, &r, &diag))
		return fail_diag("cannot open the segment", &diag);
	for (;;) {
		const struct kt_record *rec;
		if (kt_segment_reader_next(r, &rec, &diag)) {
			kt_segment_reader_close(r);
			return fail_diag("cannot read a record", &diag);
		}
		if (!rec)
			break;
		sum += record_sum(rec);
		count++;
	}
	kt_segment_reader_close(r);
	*secs = now_s() - t0;
	if (count != c->count || sum != c->byte_sum) {
		fprintf(stderr,
			"bench_format: decode read %" PRIu64 " records (sum %" PRIu64 "), expected %zu (%" PRIu64 ")\n",
			count, sum, c->count, c->byte_sum);
		return -1;
	}
	return 0;
}

struct zbuf {
	uint8_t *comp;	/* all compressed chunks, back to back */
	size_t *sizes;	/* compressed size of each chunk */
	uint8_t *chunk; /* decompression target, one chunk */
	size_t chunks;
};

static int zbuf_init(struct zbuf *z, const struct corpus *c, size_t block)
{
	z->chunks = (c->payload_bytes + block - 1) / block;
	size_t cap = z->chunks * ZSTD_compressBound(block);
	z->comp = malloc(cap);
	z->sizes = calloc(z->chunks, sizeof(*z->sizes));
	z->chunk = malloc(block);
	if (!z->comp || !z->sizes || !z->chunk)
		return -1;
	/* commit the pages now so that no round pays for first touches */
	memset(z->comp, 0, cap);
	memset(z->chunk, 0, block);
	return 0;
}

static void zbuf_free(struct zbuf *z)
{
	free(z->comp);
	free(z->sizes);
	free(z->chunk);
}

BENCH_PHASE static int zstd_compress(const struct corpus *c, const struct config *cfg, struct zbuf *z, uint64_t *total,
				     double *secs)
{
	size_t bound = ZSTD_compressBound(cfg->block_bytes);
	uint8_t *out = z->comp;
	double t0 = now_s();
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	if (!cctx)
		return -1;
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, cfg->level);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	for (size_t i = 0; i < z->chunks; i++) {
		size_t at = i * cfg->block_bytes;
		size_t len = c->payload_bytes - at < cfg->block_bytes ? c->payload_bytes - at : cfg->block_bytes;
		size_t n = ZSTD_compress2(cctx, out, bound, c->flat + at, len);
		if (ZSTD_isError(n)) {
			fprintf(stderr, "bench_format: zstd: %s\n", ZSTD_getErrorName(n));
			ZSTD_freeCCtx(cctx);
			return -1;
		}
		z->sizes[i] = n;
		out += n;
	}
	ZSTD_freeCCtx(cctx);
	*secs = now_s() - t0;
	*total = (uint64_t)(out - z->comp);
	return 0;
}

BENCH_PHASE static int zstd_decompress(const struct corpus *c, const struct config *cfg, struct zbuf *z, double *secs)
{
	const uint8_t *in = z->comp;
	uint64_t sum = 0;
	double t0 = now_s();
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (!dctx)
		return -1;
	for (size_t i = 0; i < z->chunks; i++) {
		size_t n = ZSTD_decompressDCtx(dctx, z->chunk, cfg->block_bytes, in, z->sizes[i]);
		if (ZSTD_isError(n)) {
			fprintf(stderr, "bench_format: zstd: %s\n", ZSTD_getErrorName(n));
			ZSTD_freeDCtx(dctx);
			return -1;
		}
		sum += byte_sum(z->chunk, n);
		in += z->sizes[i];
	}
	ZSTD_freeDCtx(dctx);
	*secs = now_s() - t0;
	if (sum != c->byte_sum) {
		fprintf(stderr, "bench_format: zstd round trip changed the bytes\n");
		return -1;
	}
	return 0;
}

/* Runs the four measurements cfg->rounds times each; ktape encode and decode
 * alternate so that decode always reads a freshly written file. */
static int run_config(const struct corpus *c, const struct config *cfg, struct result *res)
{
	int n = cfg->rounds;
	double *t = calloc((size_t)n * 4, sizeof(*t));
	struct zbuf z = {0};
	int rc = t ? zbuf_init(&z, c, cfg->block_bytes) : -1;
	for (int i = 0; !rc && i < n; i++) {
		rc = ktape_encode(c, cfg, res, &t[i]);
		rc = rc ? rc : ktape_decode(c, cfg, &t[n + i]);
	}
	for (int i = 0; !rc && i < n; i++) {
		rc = zstd_compress(c, cfg, &z, &res->zstd_bytes, &t[2 * n + i]);
		rc = rc ? rc : zstd_decompress(c, cfg, &z, &t[3 * n + i]);
	}
	if (!rc) {
		res->enc = summarize(t, n);
		res->dec = summarize(t + n, n);
		res->zc = summarize(t + 2 * n, n);
		res->zd = summarize(t + 3 * n, n);
		res->chunks = z.chunks;
	}
	unlink(cfg->path);
	zbuf_free(&z);
	free(t);
	return rc;
}

/* ---- reporting ------------------------------------------------------------ */

static double mb_s(const struct corpus *c, double secs)
{
	return (double)c->payload_bytes / 1e6 / secs;
}

static double field_floor; /* field_entropy_bytes() of the corpus */

/* The whole file against plain zstd of the payload. */
static double overhead_pct(const struct result *r)
{
	return 100.0 * ((double)r->summary.file_bytes - (double)r->zstd_bytes) / (double)r->zstd_bytes;
}

/* What the format adds beyond plain zstd of the payload and the records'
 * own fields at their entropy: the target's "framing". */
static double framing_pct(const struct result *r)
{
	return 100.0 * ((double)r->summary.file_bytes - (double)r->zstd_bytes - field_floor) / (double)r->zstd_bytes;
}

/* How much slower ktape's encode is than plain zstd, in % of zstd's speed. */
static double encode_slower_pct(const struct corpus *c, const struct result *r)
{
	return 100.0 * (1.0 - mb_s(c, r->enc.median) / mb_s(c, r->zc.median));
}

static void print_timing_row(const struct corpus *c, const char *name, const struct timing *t)
{
	printf("  %-16s %9.1f %10.0f %10.3f %8.3f %8.3f\n", name, mb_s(c, t->median),
	       (double)c->count / 1e3 / t->median, t->median, t->min, t->max);
}

static void print_size_row(const char *name, uint64_t bytes, const struct corpus *c, const char *note)
{
	printf("  %-34s %14" PRIu64 " %7.2fx  %s\n", name, bytes, (double)c->payload_bytes / (double)bytes, note);
}

static const char *verdict(int ok)
{
	return ok ? "PASS" : "MISS";
}

static void print_sizes(const struct corpus *c, const struct result *r)
{
	const struct kt_segment_summary *s = &r->summary;
	uint64_t container = s->file_bytes - r->data_bytes - r->table_bytes;
	double z = (double)r->zstd_bytes;
	char note[128];
	printf("\n  %-34s %14s %8s\n", "sizes", "bytes", "ratio");
	print_size_row("raw payload (key+value+headers)", c->payload_bytes, c, "");
	snprintf(note, sizeof(note), "%zu chunks", r->chunks);
	print_size_row("plain zstd", r->zstd_bytes, c, note);
	snprintf(note, sizeof(note), "%u blocks; overhead %+.2f%% of plain zstd", s->block_count, overhead_pct(r));
	print_size_row("ktape file", s->file_bytes, c, note);
	snprintf(note, sizeof(note), "%+.2f%%: the payload, against plain zstd's chunks",
		 100.0 * ((double)r->data_bytes - z) / z);
	print_size_row("  zstd data frames", r->data_bytes, c, note);
	snprintf(note, sizeof(note), "%+.2f%%: offsets, timestamps, types, lengths (%.2f B/record)",
		 100.0 * (double)r->table_bytes / z, (double)r->table_bytes / (double)c->count);
	printf("  %-34s %14" PRIu64 " %8s  %s\n", "  record tables", r->table_bytes, "", note);
	snprintf(note, sizeof(note), "%+.2f%%: file header, block headers, footer index, CRCs",
		 100.0 * (double)container / z);
	printf("  %-34s %14" PRIu64 " %8s  %s\n", "  ktape frames", container, "", note);
	snprintf(note, sizeof(note), "%.2f%% of plain zstd (%.2f B/record): the fields' order-0 entropy",
		 100.0 * field_floor / z, field_floor / (double)c->count);
	printf("  %-34s %14.0f %8s  %s\n", "record fields at their entropy", field_floor, "", note);
}

static void print_targets(const struct corpus *c, const struct result *r)
{
	double slower = encode_slower_pct(c, r), dec = mb_s(c, r->dec.median), ovh = overhead_pct(r);
	printf("\n  targets\n");
	printf("  %-44s %8.1f%% slower  %s\n", "encode within 15% of plain zstd compress", slower,
	       verdict(slower <= TARGET_ENCODE_PCT));
	printf("  %-44s %8.0f MB/s    %s\n", "decode >= 1000 MB/s payload per core", dec,
	       verdict(dec >= TARGET_DECODE_MB_S));
	double fr = framing_pct(r);
	printf("  %-44s %8.2f%%         %s\n", "framing overhead < 3% of compressed size", fr,
	       verdict(fr < TARGET_OVERHEAD));
	printf("  %-44s %8.2f%%\n", "  (whole file over plain zstd of the payload", ovh);
	printf("  %-44s %8.2f%%)\n", "   less the record fields at their entropy",
	       100.0 * field_floor / (double)r->zstd_bytes);
}

static void print_detail(const struct corpus *c, const struct config *cfg, const struct result *r)
{
	printf("zstd level %d, block %zu bytes, %d rounds (median), segment file %s\n\n", cfg->level, cfg->block_bytes,
	       cfg->rounds, cfg->path);
	printf("  %-16s %9s %10s %10s %8s %8s\n", "", "MB/s", "krec/s", "median s", "min s", "max s");
	print_timing_row(c, "ktape encode", &r->enc);
	print_timing_row(c, "zstd compress", &r->zc);
	print_timing_row(c, "ktape decode", &r->dec);
	print_timing_row(c, "zstd decompress", &r->zd);
	print_sizes(c, r);
	print_targets(c, r);
}

static void print_machine(const struct corpus *c, const struct config *cfg, const struct result *r, const char *prefix)
{
	const char *p = prefix;
	printf("%s.level=%d\n%s.block_bytes=%zu\n%s.rounds=%d\n", p, cfg->level, p, cfg->block_bytes, p, cfg->rounds);
	printf("%s.encode_mb_s=%.1f\n%s.encode_rec_s=%.0f\n", p, mb_s(c, r->enc.median), p,
	       (double)c->count / r->enc.median);
	printf("%s.decode_mb_s=%.1f\n%s.decode_rec_s=%.0f\n", p, mb_s(c, r->dec.median), p,
	       (double)c->count / r->dec.median);
	printf("%s.zstd_compress_mb_s=%.1f\n%s.zstd_decompress_mb_s=%.1f\n", p, mb_s(c, r->zc.median), p,
	       mb_s(c, r->zd.median));
	printf("%s.encode_slower_than_zstd_pct=%.1f\n", p, encode_slower_pct(c, r));
	printf("%s.file_bytes=%" PRIu64 "\n%s.zstd_bytes=%" PRIu64 "\n%s.blocks=%u\n", p, r->summary.file_bytes, p,
	       r->zstd_bytes, p, r->summary.block_count);
	printf("%s.table_bytes=%" PRIu64 "\n%s.field_entropy_bytes=%.0f\n", p, r->table_bytes, p, field_floor);
	printf("%s.overhead_over_zstd_pct=%.2f\n", p, overhead_pct(r));
	printf("%s.framing_overhead_pct=%.2f\n%s.ratio=%.2f\n", p, framing_pct(r), p,
	       (double)c->payload_bytes / (double)r->summary.file_bytes);
}

static void print_sweep_header(void)
{
	printf("  %5s %9s | %8s %8s %6s | %8s %8s | %12s %12s %7s %6s\n", "level", "block", "enc", "zstd-c", "slower",
	       "dec", "zstd-d", "ktape bytes", "zstd bytes", "ovh %", "ratio");
	printf("  %5s %9s | %8s %8s %6s | %8s %8s | %12s %12s %7s %6s\n", "", "", "MB/s", "MB/s", "%", "MB/s", "MB/s",
	       "", "", "", "");
}

static void print_sweep_row(const struct corpus *c, const struct config *cfg, const struct result *r)
{
	printf("  %5d %9zu | %8.1f %8.1f %6.1f | %8.1f %8.1f | %12" PRIu64 " %12" PRIu64 " %7.2f %6.2f\n", cfg->level,
	       cfg->block_bytes, mb_s(c, r->enc.median), mb_s(c, r->zc.median), encode_slower_pct(c, r),
	       mb_s(c, r->dec.median), mb_s(c, r->zd.median), r->summary.file_bytes, r->zstd_bytes, overhead_pct(r),
	       (double)c->payload_bytes / (double)r->summary.file_bytes);
	fflush(stdout);
}

/* ---- command line ---------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_format [options]\n"
		"  -n, --records N      records to generate (default 1000000)\n"
		"  -r, --rounds R       rounds per measurement, median reported (default 5)\n"
		"  -l, --level L        zstd level (default %d)\n"
		"  -b, --block-size B   block size, K/M suffixes allowed (default %d)\n"
		"  -d, --dir DIR        where the segment file goes (default /dev/shm, else $TMPDIR, else /tmp)\n"
		"      --levels L,L..   sweep these levels (with --blocks: every pair)\n"
		"      --blocks B,B..   sweep these block sizes\n"
		"      --sweep          same as --levels 1,3,6 --blocks 256K,1M,4M\n"
		"      --values FILE    measure on FILE instead: one record a line (the line is the\n"
		"                       value; no key, no headers), at most --records lines\n",
		KT_SEG_DEFAULT_ZSTD_LEVEL, KT_SEG_DEFAULT_BLOCK_BYTES);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned long long mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1024;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mul = 1024 * 1024 * 1024;
	if (mul != 1)
		end++;
	if (*end || v == 0 || v > SIZE_MAX / mul)
		return -1;
	*out = (size_t)(v * mul);
	return 0;
}

static int parse_list(const char *s, size_t *out, int *count)
{
	char buf[256];
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	*count = 0;
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*count == BENCH_MAX_LIST || parse_size(tok, &out[*count]))
			return -1;
		(*count)++;
	}
	return *count ? 0 : -1;
}

static const char *default_dir(void)
{
	struct stat st;
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

struct options {
	size_t records;
	int rounds;
	int level;
	size_t block;
	const char *dir;
	const char *values; /* --values FILE, or NULL for the generated corpus */
	size_t levels[BENCH_MAX_LIST], blocks[BENCH_MAX_LIST];
	int nlevels, nblocks;
};

static int bad_arg(const char *opt, const char *val)
{
	fprintf(stderr, "bench_format: invalid value '%s' for %s\n", val, opt);
	return -1;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"records", required_argument, NULL, 'n'},
		{"rounds", required_argument, NULL, 'r'},
		{"level", required_argument, NULL, 'l'},
		{"block-size", required_argument, NULL, 'b'},
		{"dir", required_argument, NULL, 'd'},
		{"levels", required_argument, NULL, 'L'},
		{"blocks", required_argument, NULL, 'B'},
		{"sweep", no_argument, NULL, 'S'},
		{"values", required_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	size_t v;
	int opt;
	while ((opt = getopt_long(argc, argv, "n:r:l:b:d:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_size(optarg, &o->records))
				return bad_arg("--records", optarg);
			break;
		case 'r':
			if (parse_size(optarg, &v) || v > 1000)
				return bad_arg("--rounds (1..1000)", optarg);
			o->rounds = (int)v;
			break;
		case 'l':
			if (parse_size(optarg, &v) || v > (size_t)ZSTD_maxCLevel())
				return bad_arg("--level", optarg);
			o->level = (int)v;
			break;
		case 'b':
			if (parse_size(optarg, &o->block) || o->block > UINT32_MAX / 2)
				return bad_arg("--block-size", optarg);
			break;
		case 'd': o->dir = optarg; break;
		case 'V': o->values = optarg; break;
		case 'L':
			if (parse_list(optarg, o->levels, &o->nlevels))
				return bad_arg("--levels", optarg);
			break;
		case 'B':
			if (parse_list(optarg, o->blocks, &o->nblocks))
				return bad_arg("--blocks", optarg);
			break;
		case 'S':
			o->nlevels = 3;
			o->levels[0] = 1, o->levels[1] = 3, o->levels[2] = 6;
			o->nblocks = 3;
			o->blocks[0] = 256 * 1024, o->blocks[1] = 1024 * 1024, o->blocks[2] = 4 * 1024 * 1024;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench_format: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	for (int i = 0; i < o->nlevels; i++)
		if (o->levels[i] > (size_t)ZSTD_maxCLevel())
			return bad_arg("--levels", "level above zstd's maximum");
	return 0;
}

static const char *corpus_source; /* --values FILE */

static void print_preamble(const struct corpus *c)
{
	printf("ktape segment format benchmark (libzstd %s)\n", ZSTD_versionString());
	if (corpus_source)
		printf("records  %zu lines of %s as values\n", c->count, corpus_source);
	else
		printf("records  %zu user-activities JSON events, seed 0x%016llx, %zu with headers\n", c->count,
		       (unsigned long long)BENCH_SEED, c->with_headers);
	printf("payload  %" PRIu64 " bytes (%.1f MB); value %zu..%zu bytes, avg record %.1f bytes\n", c->payload_bytes,
	       (double)c->payload_bytes / 1e6, c->value_min, c->value_max, (double)c->payload_bytes / (double)c->count);
	printf("sample   key=%.*s value=%.*s\n", (int)c->recs[0].key_len,
	       c->recs[0].key ? (const char *)c->recs[0].key : "",
	       (int)(c->recs[0].value_len < 300 ? c->recs[0].value_len : 300), (const char *)c->recs[0].value);
}

static int run_sweep(const struct corpus *c, const struct options *o, struct config *cfg)
{
	size_t levels[BENCH_MAX_LIST] = {(size_t)o->level}, blocks[BENCH_MAX_LIST] = {o->block};
	int nl = o->nlevels ? o->nlevels : 1, nb = o->nblocks ? o->nblocks : 1;
	if (o->nlevels)
		memcpy(levels, o->levels, sizeof(levels));
	if (o->nblocks)
		memcpy(blocks, o->blocks, sizeof(blocks));
	printf("sweep: %d rounds (median) per cell, segment file %s\n\n", cfg->rounds, cfg->path);
	print_sweep_header();
	struct result *res = calloc((size_t)(nl * nb), sizeof(*res));
	if (!res)
		return -1;
	for (int i = 0; i < nl; i++) {
		for (int j = 0; j < nb; j++) {
			cfg->level = (int)levels[i];
			cfg->block_bytes = blocks[j];
			if (run_config(c, cfg, &res[i * nb + j])) {
				free(res);
				return -1;
			}
			print_sweep_row(c, cfg, &res[i * nb + j]);
		}
	}
	printf("\n");
	printf("bench.format.records=%zu\nbench.format.payload_bytes=%" PRIu64 "\n", c->count, c->payload_bytes);
	for (int i = 0; i < nl; i++) {
		for (int j = 0; j < nb; j++) {
			char prefix[64];
			cfg->level = (int)levels[i];
			cfg->block_bytes = blocks[j];
			snprintf(prefix, sizeof(prefix), "bench.format.sweep.l%zu_b%zu", levels[i], blocks[j]);
			print_machine(c, cfg, &res[i * nb + j], prefix);
		}
	}
	free(res);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {.records = 1000000,
			    .rounds = 5,
			    .level = KT_SEG_DEFAULT_ZSTD_LEVEL,
			    .block = KT_SEG_DEFAULT_BLOCK_BYTES};
	if (parse_args(argc, argv, &o))
		return 2;
	char path[4096];
	snprintf(path, sizeof(path), "%s/ktape-bench-%ld.kts", o.dir ? o.dir : default_dir(), (long)getpid());
	bench_path = path;
	atexit(remove_bench_file);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	struct corpus c;
	corpus_source = o.values;
	if (o.values ? corpus_from_file(&c, o.values, o.records) : corpus_build(&c, o.records)) {
		fprintf(stderr, "bench_format: cannot %s %zu records%s%s\n", o.values ? "read" : "generate", o.records,
			o.values ? " from " : "", o.values ? o.values : "");
		return 1;
	}
	field_floor = field_entropy_bytes(&c);
	print_preamble(&c);
	struct config cfg = {.level = o.level, .block_bytes = o.block, .rounds = o.rounds, .path = path};
	int rc;
	if (o.nlevels || o.nblocks) {
		rc = run_sweep(&c, &o, &cfg);
	} else {
		struct result res = {0};
		rc = run_config(&c, &cfg, &res);
		if (!rc) {
			print_detail(&c, &cfg, &res);
			printf("\nbench.format.records=%zu\nbench.format.payload_bytes=%" PRIu64 "\n", c.count,
			       c.payload_bytes);
			print_machine(&c, &cfg, &res, "bench.format");
		}
	}
	corpus_free(&c);
	return rc ? 1 : 0;
}
