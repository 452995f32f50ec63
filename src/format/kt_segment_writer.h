/* kt_segment_writer.h - writes one segment file (one topic-partition,
 * records in increasing offset order) in format version 2.0, or 2.1 when
 * its blocks are encrypted.
 *
 * Owns: struct kt_segment_writer, its file descriptor and buffers. The
 * writer writes to exactly the path it is given; making that durable under
 * its final name (rename, directory fsync, catalog) is the archive layer's
 * job. kt_segment_writer_finish() fsyncs the file. Closing a writer that was
 * not finished removes the partial file.
 *
 * Output is deterministic: the same records with the same options and the
 * same libzstd version give the same bytes (the golden vectors rely on it).
 */
#ifndef KT_SEGMENT_WRITER_H
#define KT_SEGMENT_WRITER_H

#include "kt_crypto.h"
#include "kt_error.h"
#include "kt_record.h"
#include "kt_segment.h"

#define KT_SEG_DEFAULT_ZSTD_LEVEL  3
#define KT_SEG_DEFAULT_BLOCK_BYTES (1024 * 1024)
/* zstd_level: the cheapest of levels 1 (zstd's own, or with level 3's
 * window and hash table size if that is smaller) and 2 that the first
 * block shows to be as small as the default within 0.5%, else the
 * default; chosen
 * once per codec, so a shared codec chooses for all of its writers */
#define KT_SEG_ZSTD_AUTO (-1)

/* A compression context and buffer that many writers can share (one at a
 * time: not thread-safe), so that a dump of hundreds of partitions holds one
 * zstd workspace instead of one per partition. */
struct kt_segment_codec;
enum kt_err kt_segment_codec_new(struct kt_segment_codec **out);
void kt_segment_codec_free(struct kt_segment_codec *codec);
/* The level KT_SEG_ZSTD_AUTO chose, 0 before its first large block. */
int kt_segment_codec_level(const struct kt_segment_codec *codec);

struct kt_segment_writer_opts {
	int zstd_level;			/* 1..19, KT_SEG_ZSTD_AUTO; 0 means KT_SEG_DEFAULT_ZSTD_LEVEL */
	size_t block_bytes;		/* target raw block size; 0 means the default */
	int no_fsync;			/* tests and benchmarks only: skip fsync */
	struct kt_segment_codec *codec; /* borrowed; NULL: the writer has its own */
	/* borrowed; set: every block is encrypted with it and the file is
	 * format 2.1 (SPEC 4.6); NULL: a 2.0 file, as before encryption */
	const struct kt_crypto_key *key;
	/* tests and golden vectors only: makes the nonces (the random source
	 * otherwise), so that an encrypted file is the same bytes each time */
	void (*nonce_fn)(void *ctx, uint8_t nonce[KT_CRYPTO_NONCE_BYTES]);
	void *nonce_ctx;
};

struct kt_segment_writer;

enum kt_err kt_segment_writer_open(const char *path, const char *topic, int32_t partition, uint32_t generation,
				   const struct kt_segment_writer_opts *opts, struct kt_segment_writer **out,
				   struct kt_diag *diag);
/* Appends a record. Its offset must be greater than the previous one's. The
 * record's bytes are copied; the caller keeps ownership. */
enum kt_err kt_segment_writer_add(struct kt_segment_writer *w, const struct kt_record *rec, struct kt_diag *diag);
/* Uncompressed bytes so far: the payload of the flushed blocks, plus the
 * pending block's payload and record table, which the writer holds. */
uint64_t kt_segment_writer_raw_bytes(const struct kt_segment_writer *w);
uint64_t kt_segment_writer_record_count(const struct kt_segment_writer *w);
/* Flushes the last block, writes the footer, fsyncs and closes the file.
 * A segment must hold at least one record. After kt_segment_writer_seal it
 * only fsyncs and closes. */
enum kt_err kt_segment_writer_finish(struct kt_segment_writer *w, struct kt_segment_summary *out_summary,
				     struct kt_diag *diag);
/* Flushes the last block and writes the footer, starts the writeback and
 * frees the pending block's memory, leaving the fsync to
 * kt_segment_writer_finish: a segment that waits to be committed with
 * others holds its file descriptor and block index only. */
enum kt_err kt_segment_writer_seal(struct kt_segment_writer *w, struct kt_diag *diag);
/* Frees the writer; if finish() did not succeed, the partial file is removed. */
void kt_segment_writer_close(struct kt_segment_writer *w);
/* The block index of the finished (or in-progress) file. */
const struct kt_block_info *kt_segment_writer_blocks(const struct kt_segment_writer *w, uint32_t *out_count);

#endif
