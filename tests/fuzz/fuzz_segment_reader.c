/* Fuzz target for the segment reader: any input must be read or refused
 * without a crash, an out-of-bounds access or an unbounded allocation.
 * Built for libFuzzer with -Dfuzz=true (clang), and always as a replay
 * binary (replay_driver.c) that the unit suite runs over the vectors. */
#include <stddef.h>
#include <stdint.h>

#include "kt_segment_reader.h"

/* Small enough that a hostile block header cannot make the reader
 * allocate much; the reader must refuse larger blocks, not allocate them. */
#define FUZZ_MAX_BLOCK (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the input once without a key and once with the golden vectors' key
 * (bytes 0x00..0x1f), so that the encrypted vectors seed the decryption
 * path (key ids, tags, the opened frames). */
static void read_all(const uint8_t *data, size_t size, const struct kt_crypto_key *key);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kt_crypto_key *key;
	if (!key) {
		uint8_t bytes[KT_CRYPTO_KEY_BYTES];
		for (int i = 0; i < KT_CRYPTO_KEY_BYTES; i++)
			bytes[i] = (uint8_t)i;
		if (kt_crypto_key_from_bytes(bytes, &key))
			return 0;
	}
	read_all(data, size, NULL);
	read_all(data, size, key);
	return 0;
}

static void read_all(const uint8_t *data, size_t size, const struct kt_crypto_key *key)
{
	struct kt_segment_reader_opts opts = {.max_block_raw = FUZZ_MAX_BLOCK, .key = key};
	struct kt_segment_reader *r;
	if (kt_segment_reader_open_mem(data, size, &opts, &r, NULL) != KT_OK)
		return;
	/* every record, then every block checked deeply, then seeks */
	const struct kt_record *rec;
	for (int guard = 0; guard < 1000000; guard++) {
		enum kt_err err = kt_segment_reader_next(r, &rec, NULL);
		if (!err && !rec)
			break;
	}
	uint32_t n = kt_segment_reader_block_count(r);
	for (uint32_t i = 0; i < n; i++)
		kt_segment_reader_check_block(r, i, 1, NULL);
	if (n) {
		kt_segment_reader_seek_offset(r, kt_segment_reader_block(r, n / 2)->first_offset + 1);
		kt_segment_reader_next(r, &rec, NULL);
		kt_segment_reader_seek_time(r, kt_segment_reader_block(r, 0)->max_timestamp);
		kt_segment_reader_next(r, &rec, NULL);
	}
	kt_segment_reader_close(r);
}
