/* gen_vectors - writes the golden vectors into a directory (tools/gen-vectors
 * runs it on format/vectors/). The expected records (.jsonl) of damaged
 * vectors are derived from the source records and the block boundaries the
 * writer reports, never from the reader, so the reader is tested against an
 * independent expectation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "kt_buf.h"
#include "kt_crc32c.h"
#include "kt_crypto.h"
#include "kt_fileio.h"
#include "kt_record_json.h"
#include "kt_segment_writer.h"
#include "vector_defs.h"

static const char *out_dir;

static void die(const char *what, const struct kt_diag *diag)
{
	fprintf(stderr, "gen_vectors: %s: %s\n", what, diag ? diag->msg : "");
	exit(1);
}

static char *path_of(const char *name, const char *ext)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s%s", out_dir, name, ext);
	return buf;
}

/* Writes def's records to PATH; returns the block index through *blocks. */
static void write_vector(const struct vector_def *def, const char *path, struct kt_block_info **blocks,
			 uint32_t *block_count)
{
	struct kt_diag diag;
	kt_diag_clear(&diag);
	remove(path);
	struct kt_segment_writer_opts opts = {
		.zstd_level = def->zstd_level, .block_bytes = def->block_bytes, .no_fsync = 1};
	struct kt_crypto_key *key = NULL;
	struct vector_nonces nonces = {def->nonce_file, 0};
	if (def->nonce_file) {
		if (kt_crypto_key_from_bytes(vector_key, &key))
			die("cannot make the vector key", NULL);
		opts.key = key;
		opts.nonce_fn = vector_nonce;
		opts.nonce_ctx = &nonces;
	}
	struct kt_segment_writer *w;
	if (kt_segment_writer_open(path, def->topic, def->partition, def->generation, &opts, &w, &diag))
		die(path, &diag);
	for (size_t i = 0; i < def->record_count; i++)
		if (kt_segment_writer_add(w, &def->records[i], &diag))
			die(path, &diag);
	if (kt_segment_writer_finish(w, NULL, &diag))
		die(path, &diag);
	const struct kt_block_info *b = kt_segment_writer_blocks(w, block_count);
	*blocks = malloc(*block_count * sizeof(**blocks));
	memcpy(*blocks, b, *block_count * sizeof(**blocks));
	kt_segment_writer_close(w);
	kt_crypto_key_free(key);
}

/* Writes the expected .jsonl: def's records except those in blocks
 * [skip_from, skip_to). */
static void write_jsonl(const char *name, const struct vector_def *def, const struct kt_block_info *blocks,
			uint32_t skip_from, uint32_t skip_to)
{
	struct kt_buf buf;
	kt_buf_init(&buf, SIZE_MAX);
	for (size_t i = 0; i < def->record_count; i++) {
		const struct kt_record *rec = &def->records[i];
		int skipped = 0;
		for (uint32_t b = skip_from; b < skip_to; b++)
			if (rec->offset >= blocks[b].first_offset && rec->offset <= blocks[b].last_offset)
				skipped = 1;
		if (!skipped && kt_record_json(&buf, def->topic, def->partition, rec))
			die("json", NULL);
	}
	struct kt_diag diag;
	if (kt_write_file_atomic(path_of(name, ".jsonl"), buf.data, buf.len, &diag))
		die(name, &diag);
	kt_buf_free(&buf);
}

static void save(const char *name, const uint8_t *data, size_t len)
{
	struct kt_diag diag;
	if (kt_write_file_atomic(path_of(name, ".kts"), data, len, &diag))
		die(name, &diag);
}

static uint8_t *load(const char *name, size_t *len)
{
	uint8_t *data;
	struct kt_diag diag;
	if (kt_read_file(path_of(name, ".kts"), 1 << 24, &data, len, &diag))
		die(name, &diag);
	return data;
}

/* Recomputes the CRC of the ktape frame at pos (its last 4 content bytes). */
static void fix_frame_crc(uint8_t *data, size_t pos)
{
	uint32_t size = kt_get_u32le(data + pos + 4);
	uint8_t *c = data + pos + 8;
	kt_put_u32le(c + size - 4, kt_crc32c(0, c, size - 4));
}

/* Where the data frame of the block whose header frame is at pos starts. */
static size_t data_pos(const uint8_t *data, uint64_t pos)
{
	return (size_t)pos + 8 + kt_get_u32le(data + pos + 4);
}

/* Rewrites the block header frame at pos of a v2 file as a later minor
 * would: two unknown bytes after the fixed fields, and the record table
 * with a ninth column (one 0xAB per record). Returns the new file. */
static uint8_t *extend_block_header(const uint8_t *data, size_t len, size_t pos, uint32_t records, size_t *out_len)
{
	const uint8_t *c = data + pos + 8;
	uint32_t frame_size = kt_get_u32le(data + pos + 4);
	uint32_t table_size = kt_get_u32le(c + 64), table_raw = kt_get_u32le(c + 68);
	uint8_t *table = malloc(table_raw + 1 + records);
	if (ZSTD_decompress(table, table_raw, c + frame_size - 4 - table_size, table_size) != table_raw)
		die("cannot decompress a record table", NULL);
	table[0]++; /* column_count */
	table[table_raw] = 1;
	memset(table + table_raw + 1, 0xAB, records);
	size_t new_raw = table_raw + 1 + records;
	size_t bound = ZSTD_compressBound(new_raw);
	uint8_t *ztable = malloc(bound);
	size_t zn = ZSTD_compress(ztable, bound, table, new_raw, 3);
	if (ZSTD_isError(zn))
		die("cannot compress a record table", NULL);
	size_t new_frame = 72 + 2 + zn + 4;
	size_t grow = new_frame - frame_size;
	uint8_t *out = malloc(len + grow);
	memcpy(out, data, pos + 8 + 72);
	kt_put_u32le(out + pos + 4, (uint32_t)new_frame);
	kt_put_u32le(out + pos + 8 + 64, (uint32_t)zn);
	kt_put_u32le(out + pos + 8 + 68, (uint32_t)new_raw);
	memcpy(out + pos + 8 + 72, "\xEE\xFF", 2);
	memcpy(out + pos + 8 + 74, ztable, zn);
	fix_frame_crc(out, pos);
	size_t old_end = pos + 8 + frame_size;
	memcpy(out + pos + 8 + new_frame, data + old_end, len - old_end);
	free(table);
	free(ztable);
	*out_len = len + grow;
	return out;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_vectors DIR\n");
		return 2;
	}
	out_dir = argv[1];
	struct kt_block_info *multi_blocks = NULL;
	uint32_t multi_count = 0;
	for (const struct vector_def *d = vector_defs(); d->name; d++) {
		struct kt_block_info *blocks;
		uint32_t n;
		write_vector(d, path_of(d->name, ".kts"), &blocks, &n);
		write_jsonl(d->name, d, blocks, 0, 0);
		printf("%-22s %u blocks\n", d->name, n);
		if (!strcmp(d->name, "multiblock")) {
			multi_blocks = blocks;
			multi_count = n;
		} else {
			free(blocks);
		}
	}
	if (multi_count < 5)
		die("multiblock must have at least 5 blocks", NULL);
	const struct vector_def *multi = vector_def_find("multiblock");
	const struct kt_block_info *mb = multi_blocks;
	size_t len;
	uint8_t *data;

	data = load("multiblock", &len);
	save("truncated", data, data_pos(data, mb[3].pos) + mb[3].compressed_size / 2);
	write_jsonl("truncated", multi, mb, 3, multi_count);

	data[data_pos(data, mb[1].pos) + mb[1].compressed_size / 2] ^= 0x10;
	save("damaged-block", data, len);
	write_jsonl("damaged-block", multi, mb, 1, 2);
	free(data);

	data = load("multiblock", &len);
	data[mb[2].pos + 8 + 24] ^= 0x01; /* inside first_offset */
	save("damaged-block-header", data, len);
	write_jsonl("damaged-block-header", multi, mb, 2, 3);
	free(data);

	data = load("multiblock", &len);
	size_t footer_pos = len - kt_get_u32le(data + len - 12);
	data[footer_pos + 8 + 12 + 4] ^= 0x40; /* entry 0's compressed size */
	save("damaged-footer", data, len);
	write_jsonl("damaged-footer", multi, mb, 0, 0);
	free(data);

	data = load("basic", &len);
	data[8 + 4] = KT_SEG_VERSION_MAJOR + 1;
	fix_frame_crc(data, 0);
	save("future-major", data, len);
	free(data);

	/* future-minor: minor 9, three unknown bytes at the end of the header
	 * content, an unknown skippable frame before the first block, and in
	 * the block header two unknown bytes and a ninth table column. Every
	 * position in the footer moves by the bytes inserted before it. */
	uint8_t *plain = load("basic", &len);
	data = extend_block_header(plain, len, 8 + kt_get_u32le(plain + 4), 7, &len);
	free(plain);
	uint32_t hsize = kt_get_u32le(data + 4);
	size_t old_start = 8 + hsize;
	static const uint8_t unknown_frame[8 + 16] = {0x5E, 0x2A, 0x4D, 0x18, 16,  0,	0,
						      0,    'f',  'u',	't',  'u', 'r', 'e'};
	size_t shift = 3 + sizeof(unknown_frame);
	uint8_t *out = calloc(1, len + shift);
	memcpy(out, data, old_start - 4);		/* header content without its CRC */
	memcpy(out + old_start - 4, "\x01\x02\x03", 3); /* unknown extension bytes */
	kt_put_u32le(out + 4, hsize + 3);
	out[8 + 5] = 9; /* minor */
	fix_frame_crc(out, 0);
	memcpy(out + old_start + 3, unknown_frame, sizeof(unknown_frame));
	memcpy(out + old_start + shift, data + old_start, len - old_start);
	size_t new_len = len + shift;
	size_t fpos = new_len - kt_get_u32le(out + new_len - 12);
	uint32_t nblocks = kt_get_u32le(out + fpos + 8 + 4);
	for (uint32_t i = 0; i < nblocks; i++) {
		uint8_t *e = out + fpos + 8 + 12 + (size_t)i * 52;
		uint64_t p = kt_get_u64le(e) + shift;
		kt_put_u32le(e, (uint32_t)p);
		kt_put_u32le(e + 4, (uint32_t)(p >> 32));
	}
	fix_frame_crc(out, fpos);
	save("future-minor", out, new_len);
	write_jsonl("future-minor", vector_def_find("basic"), NULL, 0, 0);
	free(out);
	free(data);

	/* encrypted-tampered: a bit of block 1's sealed data flipped, its
	 * data_crc and header CRC recomputed: only the AEAD tag can tell */
	{
		struct kt_block_info *eb;
		uint32_t en;
		const struct vector_def *ed = vector_def_find("encrypted-multiblock");
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s", path_of("encrypted-tampered", ".tmp"));
		write_vector(ed, tmp, &eb, &en);
		remove(tmp);
		data = load("encrypted-multiblock", &len);
		size_t at = data_pos(data, eb[1].pos);
		data[at + eb[1].compressed_size / 2] ^= 0x10;
		uint8_t *hc = data + eb[1].pos + 8;
		kt_put_u32le(hc + 60, kt_crc32c(0, data + at, eb[1].compressed_size)); /* data_crc */
		fix_frame_crc(data, (size_t)eb[1].pos);
		save("encrypted-tampered", data, len);
		write_jsonl("encrypted-tampered", ed, eb, 1, 2);
		free(data);
		free(eb);
	}
	static const char hello[] = "hello, not a segment\n";
	uint8_t z[256];
	size_t zn = ZSTD_compress(z, sizeof(z), hello, sizeof(hello) - 1, 3);
	save("not-a-segment", z, zn);

	/* the vector key as a key file holds it (SPEC 4.6) */
	static const char key_text[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	struct kt_diag kdiag;
	if (kt_write_file_atomic(path_of("encrypted", ".key"), key_text, sizeof(key_text) - 1, &kdiag))
		die("encrypted.key", &kdiag);

	char ver[32];
	int vn = snprintf(ver, sizeof(ver), "%u\n", ZSTD_versionNumber());
	struct kt_diag diag;
	if (kt_write_file_atomic(path_of("ZSTD_VERSION", ""), ver, (size_t)vn, &diag))
		die("ZSTD_VERSION", &diag);
	free(multi_blocks);
	return 0;
}
