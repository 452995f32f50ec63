#include "vector_defs.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define B(s) ((const uint8_t *)(s))
/* a string literal as pointer and length, without the terminating NUL */
#define S(s) B(s), (sizeof(s) - 1)

static const struct kt_header h_trace[] = {
	{S("trace-id"), S("4bf92f3577b34da6"), 0},
	{S("source"), S("web"), 0},
};
static const struct kt_header h_dups[] = {
	{S("h"), S("a"), 0},
	{S("h"), S("b"), 0},
	{S("h"), NULL, 0, 1},
	{S(""), S(""), 0},
	{S("bin"), S("\x00\xff\x80"), 0},
};

static const char activity[] =
	"{\"userId\":\"user-17\",\"action\":\"login\",\"resource\":\"/api/session\","
	"\"metadata\":{\"browser\":\"firefox\"},\"ipAddress\":\"10.0.3.17\",\"timestamp\":\"2026-11-22T10:00:00Z\"}";

/* basic: one of each kind of field */
static const struct kt_record basic[] = {
	{0, 1763805600000, KT_TS_CREATE, S("user-17"), 0, S(activity), 0, h_trace, 2},
	{1, 1763805600001, KT_TS_CREATE, NULL, 0, 1, S("no key"), 0, NULL, 0},
	{2, 1763805600002, KT_TS_CREATE, S(""), 0, S(""), 0, NULL, 0},
	{3, 1763805600003, KT_TS_CREATE, S("user-17"), 0, NULL, 0, 1, NULL, 0},
	{4, 1763805600004, KT_TS_CREATE, NULL, 0, 1, NULL, 0, 1, h_dups, 5},
	{5, 1763805600005, KT_TS_CREATE, S("\x00\x01\xfe\xff"), 0, S("\xc3\x28 not utf-8 \x00"), 0, NULL, 0},
	{6, 1763805600006, KT_TS_CREATE, S("emoji-\xf0\x9f\x93\xa6"), 0, S("tab\tnewline\nquote\"back\\"), 0, NULL, 0},
};

/* 300 bytes: a value_length of two bytes in the record table. */
static const char long_value[] = "a 300-byte value, so that its value_length column is two bytes wide. a 300-byte "
				 "value, so that its value_length column is two bytes wide. a 300-byte value, so t"
				 "hat its value_length column is two bytes wide. a 300-byte value, so that its val"
				 "ue_length column is two bytes wide. a 300-byte value, so tha";

/* gaps: offset gaps, timestamps that go back, every timestamp type, and a
 * tiny block size so the records spread over several blocks */
static const struct kt_record gaps[] = {
	{10, 1763805600000, KT_TS_CREATE, S("a"), 0, S("first"), 0, NULL, 0},
	{11, 1763805599000, KT_TS_CREATE, S("a"), 0, S("older"), 0, NULL, 0},
	{15, 1763805601000, KT_TS_CREATE, S("b"), 0, S("after a gap"), 0, NULL, 0},
	{100, 1763805500000, KT_TS_CREATE, S("c"), 0, S("much older"), 0, NULL, 0},
	{101, 1763805700000, KT_TS_LOG_APPEND, S("d"), 0, S("log append time"), 0, NULL, 0},
	{102, 1763805700001, KT_TS_LOG_APPEND, S("g"), 0, S(long_value), 0, NULL, 0},
	{1000000, -1, KT_TS_NONE, S("e"), 0, S("no timestamp"), 0, NULL, 0},
	{4294967296, 0, KT_TS_CREATE, S("f"), 0, S("offset beyond 32 bits, epoch zero"), 0, NULL, 0},
};

#define MULTI_N 200
static struct kt_record multi[MULTI_N];
static char multi_keys[MULTI_N][16];
static char multi_vals[MULTI_N][128];

static void build_multi(void)
{
	if (multi[MULTI_N - 1].offset)
		return;
	static const char *actions[] = {"login", "view", "click", "purchase", "logout"};
	for (int i = 0; i < MULTI_N; i++) {
		struct kt_record *r = &multi[i];
		int key_len = snprintf(multi_keys[i], sizeof(multi_keys[i]), "user-%d", i % 13);
		int val_len = snprintf(multi_vals[i], sizeof(multi_vals[i]),
				       "{\"userId\":\"user-%d\",\"action\":\"%s\",\"resource\":\"/item/%d\"}", i % 13,
				       actions[i % 5], i * 7);
		r->offset = 1000 + i * 2; /* every other offset, like a transactional topic */
		r->timestamp = 1763805600000 + (int64_t)i * 250 - (i % 4 == 3 ? 900 : 0);
		r->ts_type = KT_TS_CREATE;
		r->key = B(multi_keys[i]);
		r->key_len = (size_t)key_len;
		r->value = B(multi_vals[i]);
		r->value_len = (size_t)val_len;
	}
}

static struct vector_def defs[] = {
	{"basic", "user-activities", 0, 0, 3, 1 << 20, sizeof(basic) / sizeof(basic[0]), basic, 0},
	{"gaps", "compacted.topic_1", 7, 2, 3, 64, sizeof(gaps) / sizeof(gaps[0]), gaps, 0},
	{"multiblock", "system-metrics", 2, 0, 3, 1024, MULTI_N, multi, 0},
	/* format 2.1: the same records, encrypted */
	{"encrypted", "user-activities", 0, 0, 3, 1 << 20, sizeof(basic) / sizeof(basic[0]), basic, 1},
	{"encrypted-multiblock", "system-metrics", 2, 0, 3, 1024, MULTI_N, multi, 2},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL, 0},
};

const struct damaged_def damaged_defs[] = {
	{"truncated", "multiblock cut short inside block 3's data (a crash while writing): blocks 0-2 readable"},
	{"damaged-block", "multiblock with one byte of block 1's compressed data flipped: blocks 0 and 2.. readable"},
	{"damaged-block-header", "multiblock with one byte of block 2's header flipped"},
	{"damaged-footer", "multiblock with one byte of the footer's block index flipped: all blocks readable by scan"},
	{"future-major", "a header that says format version 3.0 (checksum valid): refused"},
	{"future-minor",
	 "basic as a 2.9 file: extra header and block header bytes, an unknown frame and table column: readable"},
	{"not-a-segment", "a plain zstd frame: refused"},
	{"encrypted-tampered",
	 "encrypted-multiblock with one bit of block 1's sealed data flipped and its CRCs recomputed: "
	 "its CRCs hold, its authentication fails; the other blocks are readable with the key"},
	{NULL, NULL},
};

const struct vector_def *vector_defs(void)
{
	build_multi();
	return defs;
}

const struct vector_def *vector_def_find(const char *name)
{
	for (const struct vector_def *d = vector_defs(); d->name; d++)
		if (!strcmp(d->name, name))
			return d;
	return NULL;
}

const uint8_t vector_key[32] = {0,  1,	2,  3,	4,  5,	6,  7,	8,  9,	10, 11, 12, 13, 14, 15,
				16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

void vector_nonce(void *ctx, uint8_t nonce[24])
{
	struct vector_nonces *v = ctx;
	memset(nonce, 0, 24);
	for (int i = 0; i < 4; i++) {
		nonce[i] = (uint8_t)(v->file >> (8 * i));
		nonce[4 + i] = (uint8_t)(v->next >> (8 * i));
	}
	v->next++;
}
