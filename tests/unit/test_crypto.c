/* Unit tests of encryption at rest (src/format/kt_crypto.c and format 2.1
 * in the segment writer and reader): the key file, the key id, round trips,
 * a missing or wrong key, and tampering that keeps every CRC valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kt_buf.h"
#include "kt_crc32c.h"
#include "kt_crypto.h"
#include "kt_segment_reader.h"
#include "kt_segment_writer.h"
#include "test_helpers.h"

#define N_RECS	   3000
#define MARKER	   "secret-marker-"
#define ZSTD_MAGIC "\x28\xb5\x2f\xfd"

struct fixture {
	char *dir;
	char path[4096];
	struct kt_crypto_key *key;
	struct kt_crypto_key *other;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = th_mkdtemp();
	snprintf(f->path, sizeof(f->path), "%s/seg.kts", f->dir);
	uint8_t k[KT_CRYPTO_KEY_BYTES];
	for (int i = 0; i < KT_CRYPTO_KEY_BYTES; i++)
		k[i] = (uint8_t)i;
	assert_int_equal(kt_crypto_key_from_bytes(k, &f->key), KT_OK);
	k[0] ^= 1;
	assert_int_equal(kt_crypto_key_from_bytes(k, &f->other), KT_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kt_crypto_key_free(f->key);
	kt_crypto_key_free(f->other);
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void make_record(int i, struct kt_record *r, char *key, char *val, struct kt_header *hdr)
{
	memset(r, 0, sizeof(*r));
	r->offset = 100 + (int64_t)i * 2;
	r->timestamp = 1700000000000 + (int64_t)i * 10 - (i % 4) * 25;
	r->ts_type = KT_TS_CREATE;
	int kl = sprintf(key, "user-%d", i % 40);
	int vl = sprintf(val, "{\"n\":%d,\"v\":\"" MARKER "%d\"}", i, i);
	r->key = (const uint8_t *)key;
	r->key_len = (size_t)kl;
	r->key_null = i % 9 == 0;
	if (r->key_null) {
		r->key = NULL;
		r->key_len = 0;
	}
	r->value = (const uint8_t *)val;
	r->value_len = (size_t)vl;
	*hdr = (struct kt_header){(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3, 0};
	r->headers = hdr;
	r->header_count = (size_t)(i % 2);
}

static void write_file(const char *path, int32_t partition, const struct kt_crypto_key *key)
{
	struct kt_segment_writer *w;
	struct kt_segment_writer_opts opts = {.block_bytes = 4096, .no_fsync = 1, .key = key};
	struct kt_diag d;
	assert_int_equal(kt_segment_writer_open(path, "secrets", partition, 1, &opts, &w, &d), KT_OK);
	for (int i = 0; i < N_RECS; i++) {
		struct kt_record r;
		char k[32], v[96];
		struct kt_header h;
		make_record(i, &r, k, v, &h);
		assert_int_equal(kt_segment_writer_add(w, &r, &d), KT_OK);
	}
	assert_int_equal(kt_segment_writer_finish(w, NULL, &d), KT_OK);
	kt_segment_writer_close(w);
}

static enum kt_err read_all(const char *path, const struct kt_crypto_key *key, int *count, struct kt_diag *d)
{
	struct kt_segment_reader_opts ro = {.key = key};
	struct kt_segment_reader *r;
	*count = 0;
	enum kt_err err = kt_segment_reader_open(path, &ro, &r, d);
	if (err && getenv("KT_TEST_VERBOSE"))
		fprintf(stderr, "open: %s\n", d->msg);
	if (err)
		return err;
	const struct kt_record *rec;
	while ((err = kt_segment_reader_next(r, &rec, d)) == KT_OK && rec) {
		struct kt_record want;
		char k[32], v[96];
		struct kt_header h;
		make_record(*count, &want, k, v, &h);
		assert_true(th_record_equal(rec, &want));
		(*count)++;
	}
	if (err && getenv("KT_TEST_VERBOSE"))
		fprintf(stderr, "next: %s\n", d->msg);
	kt_segment_reader_close(r);
	return err;
}

/* Encrypted records read back equal with the key; the file is 2.1 with the
 * encrypted flag and the key's id, and no value's bytes are in it. */
static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 0, f->key);
	struct kt_diag d;
	int n;
	assert_int_equal(read_all(f->path, f->key, &n, &d), KT_OK);
	assert_int_equal(n, N_RECS);

	size_t len;
	uint8_t *data = th_read(f->path, &len);
	assert_int_equal(data[12], 2);
	assert_int_equal(data[13], 1);
	assert_int_equal(data[14], KT_SEG_FLAG_ENCRYPTED);
	/* zstd's literals are Huffman-coded, so plaintext is rarely found in
	 * a plain file either: what shows the encryption is that no zstd frame
	 * (data or record table) is left to decompress */
	assert_null(memmem(data, len, ZSTD_MAGIC, 4));
	assert_null(memmem(data, len, MARKER, strlen(MARKER)));
	free(data);

	struct kt_segment_reader *r;
	assert_int_equal(kt_segment_reader_open(f->path, NULL, &r, &d), KT_OK);
	const struct kt_segment_info *info = kt_segment_reader_info(r);
	assert_true(info->encrypted);
	assert_int_equal(info->version_minor, 1);
	assert_memory_equal(info->key_id, kt_crypto_key_id(f->key), KT_SEG_KEY_ID_SIZE);
	assert_true(info->summary.record_count == N_RECS);
	kt_segment_reader_close(r);
}

/* Without a key the file opens (index, footer, totals), check_block passes
 * on CRCs alone, and next() fails with its own error saying so. */
static void test_no_key(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 0, f->key);
	struct kt_diag d;
	struct kt_segment_reader *r;
	assert_int_equal(kt_segment_reader_open(f->path, NULL, &r, &d), KT_OK);
	uint32_t blocks = kt_segment_reader_block_count(r);
	assert_true(blocks > 5);
	for (uint32_t i = 0; i < blocks; i++)
		assert_int_equal(kt_segment_reader_check_block(r, i, 1, &d), KT_OK);
	const struct kt_record *rec;
	assert_int_equal(kt_segment_reader_next(r, &rec, &d), KT_ERR_INVALID);
	assert_null(rec);
	assert_non_null(strstr(d.msg, "is encrypted (key id 5919b3ca611696f4) and no key was given"));
	kt_segment_reader_close(r);
}

/* Another key: open fails with KT_ERR_KEY naming both key ids. */
static void test_wrong_key(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 0, f->key);
	struct kt_diag d;
	int n;
	assert_int_equal(read_all(f->path, f->other, &n, &d), KT_ERR_KEY);
	char want[128], other[KT_CRYPTO_KEY_ID_HEX];
	kt_crypto_key_id_hex(kt_crypto_key_id(f->other), other);
	snprintf(want, sizeof(want), "segment encrypted with key id 5919b3ca611696f4, the key file has key id %s",
		 other);
	assert_non_null(strstr(d.msg, want));
}

/* A plain (2.0) file reads the same with or without a key. */
static void test_plain_with_key(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 0, NULL);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	assert_int_equal(data[13], 0);
	assert_int_equal(data[14], 0);
	assert_non_null(memmem(data, len, ZSTD_MAGIC, 4));
	free(data);
	struct kt_diag d;
	int n;
	assert_int_equal(read_all(f->path, f->key, &n, &d), KT_OK);
	assert_int_equal(n, N_RECS);
}

/* Recomputes the CRCs of the block header frame at pos: data_crc over
 * the data that follows, then the frame's own. */
static void fix_block_crcs(uint8_t *data, uint64_t pos)
{
	uint32_t size = kt_get_u32le(data + pos + 4);
	uint32_t compressed = kt_get_u32le(data + pos + 20);
	uint8_t *content = data + pos + 8;
	kt_put_u32le(data + pos + 68, kt_crc32c(0, content + size, compressed));
	kt_put_u32le(content + size - 4, kt_crc32c(0, content, size - 4));
}

static uint64_t block_pos(const uint8_t *data, size_t len, uint32_t i)
{
	struct kt_segment_reader *r;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open_mem(data, len, NULL, &r, &d), KT_OK);
	uint64_t pos = kt_segment_reader_block(r, i)->pos;
	kt_segment_reader_close(r);
	return pos;
}

/* Checks block i of the edited file: CRCs hold (no key passes), and the
 * key finds the change (authentication, not damage by CRC). */
static void expect_auth_failure(const uint8_t *data, size_t len, uint32_t i, const struct kt_crypto_key *key)
{
	struct kt_segment_reader *r;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open_mem(data, len, NULL, &r, &d), KT_OK);
	assert_int_equal(kt_segment_reader_check_block(r, i, 1, &d), KT_OK);
	kt_segment_reader_close(r);
	struct kt_segment_reader_opts ro = {.key = key};
	assert_int_equal(kt_segment_reader_open_mem(data, len, &ro, &r, &d), KT_OK);
	assert_int_equal(kt_segment_reader_check_block(r, i, 1, &d), KT_ERR_CHECKSUM);
	assert_non_null(strstr(d.msg, "fails authentication"));
	/* the other blocks are intact */
	assert_int_equal(kt_segment_reader_check_block(r, i + 1, 1, &d), KT_OK);
	kt_segment_reader_close(r);
}

/* One bit of ciphertext flipped, in the data and in the sealed table,
 * with every CRC recomputed: CRC checks pass, authentication does not. */
static void test_tampered_ciphertext(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 0, f->key);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	uint64_t pos = block_pos(data, len, 1);
	uint32_t size = kt_get_u32le(data + pos + 4);
	data[pos + 8 + size + 40] ^= 0x04; /* in the sealed data frame */
	fix_block_crcs(data, pos);
	expect_auth_failure(data, len, 1, f->key);
	free(data);

	data = th_read(f->path, &len);
	pos = block_pos(data, len, 2);
	size = kt_get_u32le(data + pos + 4);
	data[pos + 8 + size - 4 - 20] ^= 0x80; /* in the sealed record table */
	fix_block_crcs(data, pos);
	expect_auth_failure(data, len, 2, f->key);
	free(data);
}

/* A header field the records are decoded with (base_timestamp), changed
 * with its CRC recomputed: the associated data no longer matches. */
static void test_tampered_header(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 0, f->key);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	uint64_t pos = block_pos(data, len, 3);
	data[pos + 60] ^= 0x01; /* base_timestamp */
	fix_block_crcs(data, pos);
	expect_auth_failure(data, len, 3, f->key);
	free(data);
}

/* Block 0 of partition 4's file put in place of block 0 of partition 3's
 * (same records and sizes, so every position, CRC and footer entry still
 * fits): the associated data binds a block to its segment. */
static void test_swapped_block(void **state)
{
	struct fixture *f = *state;
	char other[4200];
	snprintf(other, sizeof(other), "%s/other.kts", f->dir);
	write_file(f->path, 3, f->key);
	write_file(other, 4, f->key);
	size_t len, olen;
	uint8_t *data = th_read(f->path, &len);
	uint8_t *odata = th_read(other, &olen);
	assert_true(len == olen);
	uint64_t pos = block_pos(data, len, 0), end = block_pos(data, len, 1);
	assert_true(pos == block_pos(odata, olen, 0) && end == block_pos(odata, olen, 1));
	memcpy(data + pos, odata + pos, (size_t)(end - pos));
	expect_auth_failure(data, len, 0, f->key);
	free(odata);
	free(data);
}

/* Header flags: a 2.0 file with the encrypted flag is refused as 2.0
 * readers refuse it (reserved bits); a flag of a later minor is refused
 * as a newer version. */
static void test_flags(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 0, f->key);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	uint32_t size = kt_get_u32le(data + 4);
	struct kt_segment_reader *r;
	struct kt_diag d;

	data[13] = 0; /* as a 2.0 reader sees the file: a flag it does not know */
	kt_put_u32le(data + 8 + size - 4, kt_crc32c(0, data + 8, size - 4));
	assert_int_equal(kt_segment_reader_open_mem(data, len, NULL, &r, &d), KT_ERR_FORMAT);
	assert_non_null(strstr(d.msg, "reserved bits"));

	data[13] = 2;
	data[14] |= 0x02;
	kt_put_u32le(data + 8 + size - 4, kt_crc32c(0, data + 8, size - 4));
	assert_int_equal(kt_segment_reader_open_mem(data, len, NULL, &r, &d), KT_ERR_VERSION);
	assert_non_null(strstr(d.msg, "upgrade ktape"));
	free(data);
}

/* An encrypted file whose header frame is damaged is salvaged (SPEC 6.6)
 * with the identity the archive knows: the encrypted flag stays at bytes
 * 14-15, each block names its key id, and the associated data is built from
 * the known identity, so every record still reads with the key. */
static void test_salvage(void **state)
{
	struct fixture *f = *state;
	write_file(f->path, 5, f->key);
	size_t len;
	uint8_t *data = th_read(f->path, &len);
	data[29] ^= 0x20; /* inside the topic name: the header CRC fails */
	struct kt_segment_identity id = {"secrets", 5, 1};
	struct kt_segment_reader_opts ro = {.salvage = &id, .key = f->key};
	struct kt_segment_reader *r;
	struct kt_diag d;
	assert_int_equal(kt_segment_reader_open_mem(data, len, &ro, &r, &d), KT_OK);
	assert_int_equal(kt_segment_reader_info(r)->header_err, KT_ERR_CHECKSUM);
	assert_true(kt_segment_reader_info(r)->encrypted);
	int n = 0;
	const struct kt_record *rec;
	while (kt_segment_reader_next(r, &rec, &d) == KT_OK && rec) {
		struct kt_record want;
		char k[32], v[96];
		struct kt_header h;
		make_record(n++, &want, k, v, &h);
		assert_true(th_record_equal(rec, &want));
	}
	assert_int_equal(n, N_RECS);
	kt_segment_reader_close(r);

	/* an intact header with another key is refused, not salvaged */
	struct kt_segment_reader_opts wrong = {.salvage = &id, .key = f->other};
	uint8_t *intact = th_read(f->path, &len);
	assert_int_equal(kt_segment_reader_open_mem(intact, len, &wrong, &r, &d), KT_ERR_KEY);
	assert_non_null(strstr(d.msg, "segment encrypted with key id"));
	free(intact);

	/* salvaged as another partition: the associated data does not match */
	id.partition = 6;
	assert_int_equal(kt_segment_reader_open_mem(data, len, &ro, &r, &d), KT_OK);
	assert_int_equal(kt_segment_reader_next(r, &rec, &d), KT_ERR_CHECKSUM);
	assert_non_null(strstr(d.msg, "fails authentication"));
	kt_segment_reader_close(r);
	free(data);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	th_write(path, text, strlen(text));
	assert_int_equal(chmod(path, mode), 0);
}

/* The key file: 64 hex digits and an optional newline, mode 0600 or
 * narrower; its key id is the spec's. */
static void test_key_file(void **state)
{
	struct fixture *f = *state;
	char path[4200];
	snprintf(path, sizeof(path), "%s/key", f->dir);
	struct kt_crypto_key *k;
	struct kt_diag d;
	const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";

	char text[80];
	snprintf(text, sizeof(text), "%s\n", hex);
	write_text(path, text, 0600);
	assert_int_equal(kt_crypto_key_load(path, &k, &d), KT_OK);
	char id[KT_CRYPTO_KEY_ID_HEX];
	kt_crypto_key_id_hex(kt_crypto_key_id(k), id);
	assert_string_equal(id, "5919b3ca611696f4"); /* hashlib.blake2b(b"ktape key id", digest_size=32, key=k) */
	kt_crypto_key_free(k);

	write_text(path, hex, 0400);
	assert_int_equal(kt_crypto_key_load(path, &k, &d), KT_OK);
	kt_crypto_key_free(k);

	write_text(path, text, 0640);
	assert_int_equal(kt_crypto_key_load(path, &k, &d), KT_ERR_INVALID);
	assert_non_null(strstr(d.msg, "group or others (mode 0640): chmod 600"));
	assert_null(k);

	const char *bad[] = {
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n",	/* 63 digits */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0\n",	/* 65 */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",	/* not hex */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n", /* two newlines */
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(path, bad[i], 0600);
		assert_int_equal(kt_crypto_key_load(path, &k, &d), KT_ERR_INVALID);
		assert_non_null(strstr(d.msg, "exactly 64 hexadecimal digits"));
	}
	write_text(path, "0000000000000000000000000000000000000000000000000000000000000000\n", 0600);
	assert_int_equal(kt_crypto_key_load(path, &k, &d), KT_ERR_INVALID);
	assert_non_null(strstr(d.msg, "all-zero"));

	snprintf(path, sizeof(path), "%s/none", f->dir);
	assert_int_equal(kt_crypto_key_load(path, &k, &d), KT_ERR_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_with_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_ciphertext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_salvage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file, setup, teardown),
	};
	return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
