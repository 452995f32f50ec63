/* kt_segment_reader.h - reads, seeks and checks one segment file.
 *
 * Owns: struct kt_segment_reader, the file mapping (or a borrowed memory
 * range), the block index, and one decompressed block at a time.
 *
 * Records returned by kt_segment_reader_next() are borrowed views into the
 * reader's block buffer: valid until the next call on the same reader.
 *
 * A file without a valid footer (cut short while it was written, or with a
 * damaged footer) is still read: the reader scans the block headers from
 * the start, delivers every complete block and reports in info.footer_err
 * why it had to. A damaged block is reported (with its index and byte
 * position in the diag) by the next() call that reaches it; the call after
 * that continues with the following block.
 */
#ifndef KT_SEGMENT_READER_H
#define KT_SEGMENT_READER_H

#include "kt_crypto.h"
#include "kt_error.h"
#include "kt_record.h"
#include "kt_segment.h"

/* Default cap on one block's decompressed size: records of up to 1 GiB. */
#define KT_SEG_DEFAULT_MAX_BLOCK_RAW ((size_t)1 << 30)
#define KT_SEG_MAX_PROBLEMS	     32

/* Who a file belongs to, as the caller knows it from elsewhere (an
 * archive's file name and catalog). */
struct kt_segment_identity {
	const char *topic;
	int32_t partition;
	uint32_t generation;
};

struct kt_segment_reader_opts {
	size_t max_block_raw; /* 0 means KT_SEG_DEFAULT_MAX_BLOCK_RAW */
	/* NULL: a damaged header makes open fail (SPEC 6.1). Set: a file whose
	 * header frame is damaged or cut (not one of a newer version) is read
	 * as this identity by scanning for blocks (SPEC 6.6); info.header_err
	 * says why, and the damage is problem 0. Read during open only. */
	const struct kt_segment_identity *salvage;
	/* borrowed, may be NULL: the key of an encrypted file (SPEC 4.6). An
	 * encrypted file opens without it (its index, footer and CRCs are in
	 * the clear), but next() fails on its blocks with KT_ERR_INVALID ("no
	 * key"), and check_block() checks only the CRCs. A key of another key
	 * id makes open fail with KT_ERR_KEY. Ignored for a file that is not
	 * encrypted. */
	const struct kt_crypto_key *key;
};

/* A problem found while building the block index (damaged or unknown data
 * between blocks, a truncated tail). Blocks are reported by next(). */
struct kt_segment_problem {
	enum kt_err err;
	uint64_t pos;
	char msg[160];
};

struct kt_segment_info {
	uint8_t version_major;
	uint8_t version_minor;
	uint8_t codec;
	uint8_t encrypted;		    /* header flag KT_SEG_FLAG_ENCRYPTED (2.1) */
	uint8_t key_id[KT_SEG_KEY_ID_SIZE]; /* of an encrypted file's key, from its header */
	int32_t partition;
	uint32_t generation;
	char topic[KT_SEG_TOPIC_MAX + 1];
	uint64_t file_size;
	/* KT_OK, or why the header could not be used and the identity came
	 * from opts.salvage instead */
	enum kt_err header_err;
	/* KT_OK when the footer was found and valid; KT_ERR_TRUNCATED when the
	 * file has no footer (cut short); KT_ERR_CHECKSUM or KT_ERR_FORMAT
	 * when a footer is there but damaged. In the last two cases the index
	 * comes from scanning the block headers. */
	enum kt_err footer_err;
	uint32_t footer_crc; /* the footer's CRC-32C, valid when footer_err == KT_OK */
	/* From the footer, or summed over the scanned blocks. */
	struct kt_segment_summary summary;
	unsigned problem_count;
	struct kt_segment_problem problems[KT_SEG_MAX_PROBLEMS];
};

struct kt_segment_reader;

/* Opens and indexes a file. Fails only when the header itself is unusable
 * (not a segment, newer major version, damaged header without
 * opts.salvage). */
enum kt_err kt_segment_reader_open(const char *path, const struct kt_segment_reader_opts *opts,
				   struct kt_segment_reader **out, struct kt_diag *diag);
/* Same over bytes in memory, which the caller keeps alive until close. */
enum kt_err kt_segment_reader_open_mem(const uint8_t *data, size_t len, const struct kt_segment_reader_opts *opts,
				       struct kt_segment_reader **out, struct kt_diag *diag);
/* Bytes that arrive on demand (an object in a bucket): data points at size
 * bytes of which only the ranges asked for with fetch are valid; the
 * reader asks before it reads. fetch returns an error with its message in
 * diag when the bytes cannot be had: that fails the read (open, or next()
 * on the block), it is never taken for damage. The caller keeps the
 * source alive until close. */
struct kt_segment_source {
	const uint8_t *data;
	uint64_t size;
	enum kt_err (*fetch)(void *ctx, uint64_t pos, uint64_t len, struct kt_diag *diag);
	void *ctx;
};
enum kt_err kt_segment_reader_open_source(const struct kt_segment_source *src,
					  const struct kt_segment_reader_opts *opts, struct kt_segment_reader **out,
					  struct kt_diag *diag);
void kt_segment_reader_close(struct kt_segment_reader *r);

const struct kt_segment_info *kt_segment_reader_info(const struct kt_segment_reader *r);
uint32_t kt_segment_reader_block_count(const struct kt_segment_reader *r);
const struct kt_block_info *kt_segment_reader_block(const struct kt_segment_reader *r, uint32_t i);

/* Next record in offset order. *out_rec is NULL at the end. */
enum kt_err kt_segment_reader_next(struct kt_segment_reader *r, const struct kt_record **out_rec, struct kt_diag *diag);
/* Positions so that next() returns the first record with offset >= offset,
 * decompressing no block before the one that holds it. */
void kt_segment_reader_seek_offset(struct kt_segment_reader *r, int64_t offset);
/* Positions at the first block whose max timestamp is >= ts: no record
 * before it can have a timestamp >= ts. Records after it may still have
 * smaller timestamps (timestamps need not grow); callers filter. */
void kt_segment_reader_seek_time(struct kt_segment_reader *r, int64_t ts);
/* Positions at block i (next() starts with its first record). */
void kt_segment_reader_seek_block(struct kt_segment_reader *r, uint32_t i);
/* Restricts next() to records with from_offset <= offset <= to_offset and
 * from_ts <= timestamp < to_ts. Blocks that cannot hold such a record are
 * skipped without being decompressed; once a block starts past to_offset,
 * next() reports the end. */
struct kt_segment_filter {
	int64_t from_offset; /* INT64_MIN: no bound */
	int64_t to_offset;   /* inclusive; INT64_MAX: no bound */
	int64_t from_ts;     /* inclusive; INT64_MIN: no bound */
	int64_t to_ts;	     /* exclusive; INT64_MAX: no bound */
};
void kt_segment_reader_set_filter(struct kt_segment_reader *r, const struct kt_segment_filter *f);

/* Checks block i: header and data checksums, decompression (zstd's own
 * content checksum), and with deep set, decodes every record and checks it
 * against the block header. In an encrypted file, with the key: also the
 * authenticity of both sealed parts (their AEAD tags) before anything is
 * decompressed; without a key: the CRCs only (the caller knows it from
 * info.encrypted). Does not move the iterator's position. */
enum kt_err kt_segment_reader_check_block(struct kt_segment_reader *r, uint32_t i, int deep, struct kt_diag *diag);

#endif
