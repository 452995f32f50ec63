/* The golden vectors in format/vectors/ both ways: every file decodes to
 * exactly the records of its .jsonl, the writer reproduces the good files
 * byte for byte from vector_defs.c, and each damaged file fails with the
 * named error while the rest of it stays readable.
 *
 * format/vectors/v1/ holds the version 1 vectors, frozen when version 2
 * replaced it: the reader must keep reading them the same way (the writer
 * no longer writes version 1, so they are only read). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include <cmocka.h>

#include "kt_buf.h"
#include "kt_crypto.h"
#include "kt_record_json.h"
#include "kt_segment_reader.h"
#include "kt_segment_writer.h"
#include "test_helpers.h"
#include "vector_defs.h"

#ifndef KT_VECTORS_DIR
#error "KT_VECTORS_DIR must name format/vectors"
#endif

#define V2_DIR KT_VECTORS_DIR
#define V1_DIR KT_VECTORS_DIR "/v1"

/* The directory the current test reads, set from its state. */
static const char *vec_dir = V2_DIR;
/* The key of the encrypted vectors (2.1); plain files ignore it. */
static struct kt_crypto_key *vec_key;

/* Encrypted vectors exist only in version 2 (format 2.1). */
static int not_here(const struct vector_def *def)
{
	return def->nonce_file && strcmp(vec_dir, V2_DIR) != 0;
}

static char *vec_path(const char *name, const char *ext)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s%s", vec_dir, name, ext);
	return buf;
}

static int use_dir(void **state)
{
	vec_dir = *state;
	return 0;
}

struct decoded {
	struct kt_buf json;
	int errors;
	enum kt_err first_err;
	int64_t first_err_block;
	enum kt_err footer_err;
	unsigned minor;
};

/* Decodes a whole vector into JSON lines, counting block errors. */
static enum kt_err decode_with(const char *name, const struct kt_crypto_key *key, struct decoded *out)
{
	memset(out, 0, sizeof(*out));
	kt_buf_init(&out->json, 1 << 24);
	struct kt_segment_reader *r;
	struct kt_diag d;
	kt_diag_clear(&d);
	struct kt_segment_reader_opts ro = {.key = key};
	enum kt_err err = kt_segment_reader_open(vec_path(name, ".kts"), &ro, &r, &d);
	if (err)
		return err;
	const struct kt_segment_info *info = kt_segment_reader_info(r);
	out->footer_err = info->footer_err;
	out->minor = info->version_minor;
	for (;;) {
		const struct kt_record *rec;
		kt_diag_clear(&d);
		err = kt_segment_reader_next(r, &rec, &d);
		if (err) {
			if (!out->errors++) {
				out->first_err = err;
				out->first_err_block = d.block;
			}
			continue;
		}
		if (!rec)
			break;
		assert_int_equal(kt_record_json(&out->json, info->topic, info->partition, rec), KT_OK);
	}
	kt_segment_reader_close(r);
	return KT_OK;
}

static enum kt_err decode(const char *name, struct decoded *out)
{
	return decode_with(name, vec_key, out);
}

static void assert_json_matches(const char *name, const struct decoded *dec)
{
	size_t len;
	uint8_t *want = th_read(vec_path(name, ".jsonl"), &len);
	assert_non_null(want);
	if (dec->json.len != len || memcmp(dec->json.data, want, len) != 0) {
		fprintf(stderr, "%s: decoded records differ from %s.jsonl\n", name, name);
		fail();
	}
	free(want);
}

/* Good vectors decode to exactly their .jsonl records, with a valid footer. */
static void test_good_vectors_decode(void **state)
{
	(void)state;
	for (const struct vector_def *def = vector_defs(); def->name; def++) {
		if (not_here(def))
			continue;
		struct decoded dec;
		assert_int_equal(decode(def->name, &dec), KT_OK);
		assert_int_equal(dec.errors, 0);
		assert_int_equal(dec.footer_err, KT_OK);
		assert_json_matches(def->name, &dec);
		kt_buf_free(&dec.json);
	}
}

/* The writer reproduces each good vector byte for byte from its records.
 * Compressed bytes may legitimately differ under another libzstd version,
 * so the check needs the version the vectors were made with. */
static void test_good_vectors_reencode(void **state)
{
	(void)state;
	size_t vlen;
	uint8_t *ver = th_read(vec_path("ZSTD_VERSION", ""), &vlen);
	assert_non_null(ver);
	unsigned made_with = (unsigned)strtoul((char *)ver, NULL, 10);
	free(ver);
	if (made_with != ZSTD_versionNumber()) {
		fprintf(stderr, "vectors made with libzstd %u, this is %u: byte identity not checkable\n", made_with,
			ZSTD_versionNumber());
		skip();
	}
	char *dir = th_mkdtemp();
	for (const struct vector_def *def = vector_defs(); def->name; def++) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s.kts", dir, def->name);
		struct kt_segment_writer_opts opts = {
			.zstd_level = def->zstd_level, .block_bytes = def->block_bytes, .no_fsync = 1};
		struct vector_nonces nonces = {def->nonce_file, 0};
		if (def->nonce_file) {
			opts.key = vec_key;
			opts.nonce_fn = vector_nonce;
			opts.nonce_ctx = &nonces;
		}
		struct kt_segment_writer *w;
		struct kt_diag d;
		assert_int_equal(
			kt_segment_writer_open(path, def->topic, def->partition, def->generation, &opts, &w, &d),
			KT_OK);
		for (size_t i = 0; i < def->record_count; i++)
			assert_int_equal(kt_segment_writer_add(w, &def->records[i], &d), KT_OK);
		assert_int_equal(kt_segment_writer_finish(w, NULL, &d), KT_OK);
		kt_segment_writer_close(w);
		size_t a_len, b_len;
		uint8_t *a = th_read(path, &a_len);
		uint8_t *b = th_read(vec_path(def->name, ".kts"), &b_len);
		assert_non_null(b);
		if (a_len != b_len || memcmp(a, b, a_len) != 0) {
			fprintf(stderr, "%s: written bytes differ from the golden file\n", def->name);
			fail();
		}
		free(a);
		free(b);
	}
	th_rmrf(dir);
	free(dir);
}

/* A file cut short is read up to its last complete block, without errors
 * from the blocks it still has, and is reported as truncated. */
static void test_truncated(void **state)
{
	(void)state;
	struct decoded dec;
	assert_int_equal(decode("truncated", &dec), KT_OK);
	assert_int_equal(dec.footer_err, KT_ERR_TRUNCATED);
	assert_int_equal(dec.errors, 0);
	assert_json_matches("truncated", &dec);
	kt_buf_free(&dec.json);
}

/* A damaged data block is a checksum error naming block 1; all others read. */
static void test_damaged_block(void **state)
{
	(void)state;
	struct decoded dec;
	assert_int_equal(decode("damaged-block", &dec), KT_OK);
	assert_int_equal(dec.footer_err, KT_OK);
	assert_int_equal(dec.errors, 1);
	assert_int_equal(dec.first_err, KT_ERR_CHECKSUM);
	assert_int_equal(dec.first_err_block, 1);
	assert_json_matches("damaged-block", &dec);
	kt_buf_free(&dec.json);
}

/* A damaged block header is a checksum error naming block 2. */
static void test_damaged_block_header(void **state)
{
	(void)state;
	struct decoded dec;
	assert_int_equal(decode("damaged-block-header", &dec), KT_OK);
	assert_int_equal(dec.errors, 1);
	assert_int_equal(dec.first_err, KT_ERR_CHECKSUM);
	assert_int_equal(dec.first_err_block, 2);
	assert_json_matches("damaged-block-header", &dec);
	kt_buf_free(&dec.json);
}

/* A damaged footer is reported, and every block is still found by scanning. */
static void test_damaged_footer(void **state)
{
	(void)state;
	struct decoded dec;
	assert_int_equal(decode("damaged-footer", &dec), KT_OK);
	assert_int_equal(dec.footer_err, KT_ERR_CHECKSUM);
	assert_int_equal(dec.errors, 0);
	assert_json_matches("damaged-footer", &dec);
	kt_buf_free(&dec.json);
}

/* A newer minor version with unknown fields and an unknown skippable frame
 * (in v2 also an unknown record table column) reads as the same records. */
static void test_future_minor(void **state)
{
	(void)state;
	struct decoded dec;
	assert_int_equal(decode("future-minor", &dec), KT_OK);
	assert_int_equal(dec.minor, 9);
	assert_int_equal(dec.errors, 0);
	assert_int_equal(dec.footer_err, KT_OK);
	assert_json_matches("future-minor", &dec);
	kt_buf_free(&dec.json);
}

/* A newer major version is refused, and so is a file that is not a segment. */
static void test_versions(void **state)
{
	(void)state;
	struct decoded dec;
	assert_int_equal(decode("future-major", &dec), KT_ERR_VERSION);
	kt_buf_free(&dec.json);
	assert_int_equal(decode("not-a-segment", &dec), KT_ERR_FORMAT);
	kt_buf_free(&dec.json);
}

/* Standard tools read the files: zstd -t accepts every good vector. */
static void test_zstd_accepts_vectors(void **state)
{
	(void)state;
	for (const struct vector_def *def = vector_defs(); def->name; def++) {
		if (not_here(def))
			continue;
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "zstd -q -t '%s' 2>/dev/null", vec_path(def->name, ".kts"));
		/* an encrypted file's data frames are ciphertext: zstd refuses
		 * them, as it should (SPEC 4.6) */
		assert_int_equal(system(cmd) == 0, !def->nonce_file);
	}
}

/* Encrypted vectors (2.1): without the key they open, every block passes
 * its CRC checks, and reading a record fails with "no key"; another key is
 * refused with both key ids; the tampered one fails authentication in
 * block 1 only, although its CRCs hold. */
static void test_encrypted(void **state)
{
	(void)state;
	static const char *names[] = {"encrypted", "encrypted-multiblock", "encrypted-tampered"};
	for (size_t k = 0; k < 3; k++) {
		struct kt_segment_reader *r;
		struct kt_diag d;
		assert_int_equal(kt_segment_reader_open(vec_path(names[k], ".kts"), NULL, &r, &d), KT_OK);
		const struct kt_segment_info *info = kt_segment_reader_info(r);
		assert_true(info->encrypted);
		assert_int_equal(info->version_minor, 1);
		assert_int_equal(info->footer_err, KT_OK);
		for (uint32_t i = 0; i < kt_segment_reader_block_count(r); i++)
			assert_int_equal(kt_segment_reader_check_block(r, i, 1, &d), KT_OK);
		const struct kt_record *rec;
		assert_int_equal(kt_segment_reader_next(r, &rec, &d), KT_ERR_INVALID);
		assert_non_null(strstr(d.msg, "is encrypted (key id 5919b3ca611696f4) and no key was given"));
		kt_segment_reader_close(r);
	}
	uint8_t other[32];
	memcpy(other, vector_key, sizeof(other));
	other[31] ^= 0xFF;
	struct kt_crypto_key *wrong;
	assert_int_equal(kt_crypto_key_from_bytes(other, &wrong), KT_OK);
	struct decoded dec;
	assert_int_equal(decode_with("encrypted", wrong, &dec), KT_ERR_KEY);
	kt_buf_free(&dec.json);
	kt_crypto_key_free(wrong);

	assert_int_equal(decode("encrypted-tampered", &dec), KT_OK);
	assert_int_equal(dec.footer_err, KT_OK);
	assert_int_equal(dec.errors, 1);
	assert_int_equal(dec.first_err, KT_ERR_CHECKSUM);
	assert_int_equal(dec.first_err_block, 1);
	assert_json_matches("encrypted-tampered", &dec);
	kt_buf_free(&dec.json);
}

int main(void)
{
	static char v2[] = V2_DIR, v1[] = V1_DIR;
#define BOTH(f)                                                                                                        \
	cmocka_unit_test_prestate_setup_teardown(f, use_dir, NULL, v2),                                                \
		cmocka_unit_test_prestate_setup_teardown(f, use_dir, NULL, v1)
#define V2(f) cmocka_unit_test_prestate_setup_teardown(f, use_dir, NULL, v2)
	const struct CMUnitTest tests[] = {
		BOTH(test_good_vectors_decode),
		V2(test_good_vectors_reencode),
		BOTH(test_truncated),
		BOTH(test_damaged_block),
		BOTH(test_damaged_block_header),
		BOTH(test_damaged_footer),
		BOTH(test_future_minor),
		V2(test_versions),
		BOTH(test_zstd_accepts_vectors),
		V2(test_encrypted),
	};
	if (kt_crypto_key_from_bytes(vector_key, &vec_key))
		return 1;
	int failed = cmocka_run_group_tests_name("vectors", tests, NULL, NULL);
	kt_crypto_key_free(vec_key);
	return failed;
}
