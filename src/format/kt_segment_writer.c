#include "kt_segment_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "kt_buf.h"
#include "kt_crc32c.h"
#include "kt_fileio.h"

/* A raw block never grows past this: block sizes are u32 in the format. */
#define WRITER_BLOCK_MAX ((size_t)UINT32_MAX - 64)

struct kt_segment_codec {
	ZSTD_CCtx *cctx;
	struct kt_buf comp;
	/* encryption: the compressed record table before it is sealed, and the
	 * sealed data frame; shared like the rest, so that hundreds of
	 * encrypting writers hold one block's worth, not one each */
	struct kt_buf table_frame;
	struct kt_buf sealed;
	/* KT_SEG_ZSTD_AUTO: the level chosen on the first block large enough
	 * (0: not yet), whether its level 1 is wide, and the probe's output */
	int auto_level;
	int auto_wide;
	struct kt_buf probe;
};

enum kt_err kt_segment_codec_new(struct kt_segment_codec **out)
{
	struct kt_segment_codec *c = calloc(1, sizeof(*c));
	if (!c)
		return KT_ERR_NOMEM;
	c->cctx = ZSTD_createCCtx();
	kt_buf_init(&c->comp, SIZE_MAX);
	kt_buf_init(&c->table_frame, SIZE_MAX);
	kt_buf_init(&c->sealed, SIZE_MAX);
	kt_buf_init(&c->probe, SIZE_MAX);
	if (!c->cctx) {
		free(c);
		return KT_ERR_NOMEM;
	}
	*out = c;
	return KT_OK;
}

void kt_segment_codec_free(struct kt_segment_codec *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->cctx);
	kt_buf_free(&c->comp);
	kt_buf_free(&c->table_frame);
	kt_buf_free(&c->sealed);
	kt_buf_free(&c->probe);
	free(c);
}

int kt_segment_codec_level(const struct kt_segment_codec *c)
{
	return c->auto_level;
}

/* The columns of the record table (format/SPEC.md section 5), in order. */
enum {
	COL_ATTR,
	COL_OFFSET_DELTA,
	COL_TS_DELTA,
	COL_KEY_LEN,
	COL_VALUE_LEN,
	COL_HEADER_COUNT,
	COL_HEADER_NAME_LEN,
	COL_HEADER_VALUE_LEN,
	COL_COUNT
};

struct kt_segment_writer {
	char *path;
	int fd;
	int finished;
	int sealed;	    /* kt_segment_writer_seal: complete, not yet fsynced */
	enum kt_err failed; /* a write failed: the file is not what the writer thinks */
	struct kt_segment_writer_opts opts;
	struct kt_segment_codec own; /* used when no shared codec was given */
	struct kt_segment_codec *codec;
	uint64_t file_pos;

	struct kt_buf raw; /* payload of the pending block: keys, values, headers */
	/* The pending block's table values, row by row (build_table()
	 * transposes them): COL_HEADER_NAME_LEN uint64_t per record, and two
	 * per header. */
	struct kt_buf record_rows;
	struct kt_buf header_rows;
	uint64_t col_max[COL_COUNT]; /* largest value of each column so far */
	uint64_t header_total;	     /* headers in the pending block */
	uint64_t table_len;	     /* raw table size of the pending block */
	uint64_t record_width;	     /* table bytes one more record takes at the current widths */
	uint64_t header_width;	     /* and one more header */
	struct kt_buf table;	     /* the record table being built, uncompressed */
	struct kt_buf frame;	     /* header/footer frame under construction */
	/* encryption (opts.key set): the segment's identity for the
	 * associated data */
	char topic[KT_SEG_TOPIC_MAX + 1];
	int32_t partition;
	uint32_t generation;
	struct kt_block_info pending;
	int64_t last_offset; /* of the last record added, INT64_MIN before any */
	int64_t prev_offset; /* previous record in the pending block: deltas start here */
	int64_t prev_timestamp;

	struct kt_block_info *blocks;
	uint32_t block_count;
	uint32_t block_cap;
	struct kt_segment_summary summary;
};

/* Wraps the content in frame (tag already first) with the skippable frame
 * header and the trailing CRC, and writes it. */
static enum kt_err write_ktape_frame(struct kt_segment_writer *w, struct kt_buf *content, struct kt_diag *diag)
{
	uint32_t crc = kt_crc32c(0, content->data, content->len);
	enum kt_err err = kt_buf_append_u32le(content, crc);
	if (err)
		return kt_diag_fail(diag, err, "cannot build frame: %s", kt_err_str(err));
	uint8_t hdr[8];
	kt_put_u32le(hdr, KT_SEG_SKIPPABLE_MAGIC);
	kt_put_u32le(hdr + 4, (uint32_t)content->len);
	err = kt_write_all(w->fd, w->path, hdr, sizeof(hdr), diag);
	if (!err)
		err = kt_write_all(w->fd, w->path, content->data, content->len, diag);
	if (err) {
		w->failed = err;
		return err;
	}
	w->file_pos += sizeof(hdr) + content->len;
	return KT_OK;
}

static enum kt_err write_header(struct kt_segment_writer *w, const char *topic, int32_t partition, uint32_t generation,
				struct kt_diag *diag)
{
	struct kt_buf *f = &w->frame;
	kt_buf_reset(f);
	size_t topic_len = strlen(topic);
	/* without a key the file is 2.0, byte for byte what ktape wrote before
	 * encryption; a key makes it 2.1 with the encrypted flag, which 2.0
	 * readers refuse */
	const struct kt_crypto_key *key = w->opts.key;
	enum kt_err err = kt_buf_append(f, KT_SEG_TAG_HEADER, 4);
	err = err ? err : kt_buf_append_u8(f, KT_SEG_VERSION_MAJOR);
	err = err ? err : kt_buf_append_u8(f, key ? KT_SEG_MINOR_CRYPT : KT_SEG_MINOR_PLAIN);
	err = err ? err : kt_buf_append_u16le(f, key ? KT_SEG_FLAG_ENCRYPTED : 0);
	err = err ? err : kt_buf_append_u8(f, KT_SEG_CODEC_ZSTD);
	err = err ? err : kt_buf_append(f, "\0\0\0", 3); /* reserved */
	err = err ? err : kt_buf_append_u32le(f, (uint32_t)partition);
	err = err ? err : kt_buf_append_u32le(f, generation);
	err = err ? err : kt_buf_append_uvarint(f, topic_len);
	err = err ? err : kt_buf_append(f, topic, topic_len);
	if (key)
		err = err ? err : kt_buf_append(f, kt_crypto_key_id(key), KT_SEG_KEY_ID_SIZE);
	if (err)
		return kt_diag_fail(diag, err, "cannot build segment header");
	return write_ktape_frame(w, f, diag);
}

enum kt_err kt_segment_writer_open(const char *path, const char *topic, int32_t partition, uint32_t generation,
				   const struct kt_segment_writer_opts *opts, struct kt_segment_writer **out,
				   struct kt_diag *diag)
{
	*out = NULL;
	size_t topic_len = strlen(topic);
	if (topic_len == 0 || topic_len > KT_SEG_TOPIC_MAX)
		return kt_diag_fail(diag, KT_ERR_INVALID, "topic name must be 1..%d bytes", KT_SEG_TOPIC_MAX);
	if (partition < 0)
		return kt_diag_fail(diag, KT_ERR_INVALID, "partition %d is negative", partition);
	struct kt_segment_writer_opts o = opts ? *opts : (struct kt_segment_writer_opts){0};
	if (o.zstd_level == 0)
		o.zstd_level = KT_SEG_DEFAULT_ZSTD_LEVEL;
	if (o.zstd_level != KT_SEG_ZSTD_AUTO && (o.zstd_level < 1 || o.zstd_level > ZSTD_maxCLevel()))
		return kt_diag_fail(diag, KT_ERR_INVALID, "zstd level %d is out of range (1..%d)", o.zstd_level,
				    ZSTD_maxCLevel());
	if (o.block_bytes == 0)
		o.block_bytes = KT_SEG_DEFAULT_BLOCK_BYTES;
	if (o.block_bytes > WRITER_BLOCK_MAX)
		o.block_bytes = WRITER_BLOCK_MAX;

	struct kt_segment_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return KT_ERR_NOMEM;
	w->fd = -1;
	w->opts = o;
	w->last_offset = INT64_MIN;
	kt_buf_init(&w->raw, WRITER_BLOCK_MAX);
	kt_buf_init(&w->record_rows, SIZE_MAX);
	kt_buf_init(&w->header_rows, SIZE_MAX);
	kt_buf_init(&w->table, WRITER_BLOCK_MAX);
	kt_buf_init(&w->own.comp, SIZE_MAX);
	kt_buf_init(&w->frame, SIZE_MAX);
	kt_buf_init(&w->own.table_frame, SIZE_MAX);
	kt_buf_init(&w->own.sealed, SIZE_MAX);
	memcpy(w->topic, topic, topic_len + 1);
	w->partition = partition;
	w->generation = generation;
	w->path = strdup(path);
	if (o.codec) {
		w->codec = o.codec;
	} else {
		w->own.cctx = ZSTD_createCCtx();
		w->codec = &w->own;
	}
	if (!w->path || !w->codec->cctx) {
		kt_segment_writer_close(w);
		return KT_ERR_NOMEM;
	}

	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, KT_FILE_MODE);
	if (w->fd < 0) {
		enum kt_err err = errno == ENOSPC ? kt_write_fail(diag, errno, "create", path)
						  : kt_diag_fail(diag, errno == EEXIST ? KT_ERR_EXISTS : KT_ERR_IO,
								 "cannot create %s: %s", path, strerror(errno));
		free(w->path);
		w->path = NULL; /* not ours to remove */
		kt_segment_writer_close(w);
		return err;
	}
	enum kt_err err = write_header(w, topic, partition, generation, diag);
	if (err) {
		kt_segment_writer_close(w);
		return err;
	}
	w->summary.first_offset = -1;
	w->summary.last_offset = -1;
	*out = w;
	return KT_OK;
}

/* Bytes a value takes in its column: the smallest width (1..8) that holds it. */
static unsigned value_width(uint64_t v)
{
	unsigned w = 1;
	while (w < 8 && v >> (8 * w))
		w++;
	return w;
}

/* Size of the uncompressed record table with the given column maxima. */
static uint64_t table_raw_size(const uint64_t *col_max, uint64_t records, uint64_t headers)
{
	uint64_t n = 1; /* column_count */
	for (int c = 0; c < COL_COUNT; c++)
		n += 1 + value_width(col_max[c]) * (c >= COL_HEADER_NAME_LEN ? headers : records);
	return n;
}

/* Lays the pending columns out as the record table: column_count, then per
 * column its width and its values in byte planes (all low bytes, then all
 * second bytes ...). Planes keep bytes of the same significance together,
 * which compresses better than varints: most high bytes are equal. */
static enum kt_err build_table(struct kt_segment_writer *w)
{
	struct kt_buf *t = &w->table;
	kt_buf_reset(t);
	uint64_t size = w->table_len;
	if (size > UINT32_MAX)
		return KT_ERR_LIMIT;
	enum kt_err err = kt_buf_reserve(t, (size_t)size);
	if (err)
		return err;
	uint8_t *p = t->data;
	*p++ = COL_COUNT;
	for (int c = 0; c < COL_COUNT; c++) {
		unsigned width = value_width(w->col_max[c]);
		const struct kt_buf *src = c < COL_HEADER_NAME_LEN ? &w->record_rows : &w->header_rows;
		size_t stride = c < COL_HEADER_NAME_LEN ? COL_HEADER_NAME_LEN : 2;
		size_t rows = src->len / (stride * sizeof(uint64_t));
		const uint64_t *v = (const uint64_t *)(const void *)src->data + (c < COL_HEADER_NAME_LEN ? c : c - 6);
		*p++ = (uint8_t)width;
		for (unsigned k = 0; k < width; k++)
			for (size_t i = 0; i < rows; i++)
				*p++ = (uint8_t)(v[i * stride] >> (8 * k));
	}
	t->len = (size_t)(p - t->data);
	return KT_OK;
}

/* KT_SEG_ZSTD_AUTO (issue #19): zstd's levels 1 and 2 cost less CPU time
 * than level 3 (1 about half), and how much space they cost depends on the
 * records: dumps of JSON events of 250-350 bytes came out 0.3% smaller at
 * level 1, of 50-byte events 3% larger at 1 and 2% smaller at 2, of 10 KiB
 * records of words 7% and 15% larger. So the first block of
 * AUTO_PROBE_BYTES or more is also compressed at levels 1 and 2, and the
 * codec keeps the cheapest one within 1/AUTO_SLACK_DIV of level 3. */
#define AUTO_PROBE_BYTES (64u << 10)
#define AUTO_SLACK_DIV	 200
/* Level 1 is also tried "wide": over level 3's window (2 MiB, that is the
 * whole of a block up to 1 MiB, where level 1 has 512 KiB) with a hash
 * table of 2^17 entries (level 3's; level 1 has 2^13 to 2^14), at about
 * level 1's speed, and the smaller of the two is level 1. On 1 MiB blocks
 * of the users' JSON events, as a dump of 48 partitions archives them
 * (issue #19), wide came out 0.9% smaller than level 3, where plain level
 * 1 was 1.4% larger and kept the dump at level 3; it compressed at 824
 * MB/s against 803 (plain) and 715 (level 3). On shorter repeats it can be
 * a little larger than plain. A level given (--zstd-level 1) is plain. */
#define AUTO_L1_WINDOW_LOG 21
#define AUTO_L1_HASH_LOG   17

static int level_of(const struct kt_segment_writer *w)
{
	if (w->opts.zstd_level != KT_SEG_ZSTD_AUTO)
		return w->opts.zstd_level;
	return w->codec->auto_level ? w->codec->auto_level : KT_SEG_DEFAULT_ZSTD_LEVEL;
}

static int wide_of(const struct kt_segment_writer *w)
{
	return w->opts.zstd_level == KT_SEG_ZSTD_AUTO && w->codec->auto_level == 1 && w->codec->auto_wide;
}

/* Compresses src into dst (appending) as one zstd frame with its content
 * size; the data frame also carries zstd's content checksum, so that
 * zstd -t checks it. Parameters are set each time: the context may be
 * shared with writers of other levels. */
static enum kt_err compress_frame(struct kt_segment_writer *w, struct kt_buf *dst, const struct kt_buf *src, int level,
				  int wide, int checksum, size_t *out_len, struct kt_diag *diag)
{
	size_t bound = ZSTD_compressBound(src->len);
	enum kt_err err = kt_buf_reserve(dst, bound);
	if (err)
		return kt_diag_fail(diag, err, "cannot allocate %zu bytes for compression", bound);
	ZSTD_CCtx *cctx = w->codec->cctx;
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	if (wide) {
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, AUTO_L1_WINDOW_LOG);
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, AUTO_L1_HASH_LOG);
	}
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, checksum);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
	size_t n = ZSTD_compress2(cctx, dst->data + dst->len, bound, src->data, src->len);
	if (ZSTD_isError(n))
		return kt_diag_fail(diag, KT_ERR_IO, "zstd compression failed: %s", ZSTD_getErrorName(n));
	if (n > UINT32_MAX)
		return kt_diag_fail(diag, KT_ERR_LIMIT, "compressed block larger than 4 GiB");
	dst->len += n;
	*out_len = n;
	return KT_OK;
}

static enum kt_err flush_block(struct kt_segment_writer *w, struct kt_diag *diag)
{
	struct kt_block_info *b = &w->pending;
	if (b->record_count == 0)
		return KT_OK;
	/* room in the index first: a block written but not indexed would be
	 * written again */
	if (w->block_count == w->block_cap) {
		uint32_t cap = w->block_cap ? w->block_cap * 2 : 64;
		struct kt_block_info *nb = realloc(w->blocks, (size_t)cap * sizeof(*nb));
		if (!nb)
			return KT_ERR_NOMEM;
		w->blocks = nb;
		w->block_cap = cap;
	}
	struct kt_buf *comp = &w->codec->comp;
	kt_buf_reset(comp);
	size_t n;
	enum kt_err err = KT_OK;
	int probe = w->opts.zstd_level == KT_SEG_ZSTD_AUTO && !w->codec->auto_level && w->raw.len >= AUTO_PROBE_BYTES;
	size_t cheap[3] = {0, 0, 0}; /* levels 1, 1 wide and 2 */
	static const int probe_level[3] = {1, 1, 2}, probe_wide[3] = {0, 1, 0};
	for (int i = 0; probe && !err && i < 3; i++) {
		kt_buf_reset(&w->codec->probe);
		err = compress_frame(w, &w->codec->probe, &w->raw, probe_level[i], probe_wide[i], 1, &cheap[i], diag);
	}
	if (!err)
		err = compress_frame(w, comp, &w->raw, level_of(w), wide_of(w), 1, &n, diag);
	if (err)
		return err;
	if (probe) {
		size_t one = cheap[1] < cheap[0] ? cheap[1] : cheap[0];
		w->codec->auto_wide = cheap[1] < cheap[0];
		w->codec->auto_level = one <= n + n / AUTO_SLACK_DIV	    ? 1
				       : cheap[2] <= n + n / AUTO_SLACK_DIV ? 2
									    : KT_SEG_DEFAULT_ZSTD_LEVEL;
	}
	b->raw_size = (uint32_t)w->raw.len;
	b->pos = w->file_pos;
	b->index = w->block_count;
	err = build_table(w);
	if (err)
		return kt_diag_fail(diag, err, "cannot build the record table: %s", kt_err_str(err));
	const uint8_t *data = comp->data;
	const struct kt_crypto_key *key = w->opts.key;
	uint8_t nonce[2][KT_CRYPTO_NONCE_BYTES];
	if (key) {
		/* the data frame is sealed whole: what is stored (and what
		 * data_crc covers) is its ciphertext and tag */
		if (n > UINT32_MAX - KT_CRYPTO_TAG_BYTES)
			return kt_diag_fail(diag, KT_ERR_LIMIT, "compressed block larger than 4 GiB");
		for (int k = 0; k < 2; k++) {
			if (w->opts.nonce_fn)
				w->opts.nonce_fn(w->opts.nonce_ctx, nonce[k]);
			else
				kt_crypto_random_nonce(nonce[k]);
		}
		struct kt_buf *sealed = &w->codec->sealed;
		kt_buf_reset(sealed);
		err = kt_buf_reserve(sealed, n + KT_CRYPTO_TAG_BYTES);
		if (err)
			return kt_diag_fail(diag, err, "cannot allocate %zu bytes for encryption", n);
		uint8_t ad[KT_CRYPTO_AD_MAX];
		size_t ad_len = kt_crypto_block_ad(ad, KT_CRYPTO_PART_DATA, w->topic, w->partition, w->generation, b,
						   w->table.len);
		err = kt_crypto_seal(key, nonce[1], ad, ad_len, comp->data, n, sealed->data);
		if (err)
			return kt_diag_fail(diag, err, "cannot encrypt block %u", b->index);
		n += KT_CRYPTO_TAG_BYTES;
		data = sealed->data;
	}
	b->compressed_size = (uint32_t)n;
	b->data_crc = kt_crc32c(0, data, n);

	struct kt_buf *f = &w->frame;
	kt_buf_reset(f);
	err = kt_buf_append(f, KT_SEG_TAG_BLOCK, 4);
	err = err ? err : kt_buf_append_u32le(f, b->index);
	err = err ? err : kt_buf_append_u32le(f, b->record_count);
	err = err ? err : kt_buf_append_u32le(f, b->compressed_size);
	err = err ? err : kt_buf_append_u32le(f, b->raw_size);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->first_offset);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->last_offset);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->min_timestamp);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->max_timestamp);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->base_timestamp);
	err = err ? err : kt_buf_append_u32le(f, b->data_crc);
	size_t sizes_at = f->len;
	err = err ? err : kt_buf_append_u32le(f, 0); /* table_size, set below */
	err = err ? err : kt_buf_append_u32le(f, (uint32_t)w->table.len);
	if (err)
		return kt_diag_fail(diag, err, "cannot build block header");
	size_t table_size;
	if (!key) {
		err = compress_frame(w, f, &w->table, level_of(w), wide_of(w), 0, &table_size, diag);
	} else {
		/* key id and nonces, then the table frame sealed on its own (the
		 * header frame's CRC covers the sealed bytes) */
		err = kt_buf_append(f, kt_crypto_key_id(key), KT_SEG_KEY_ID_SIZE);
		err = err ? err : kt_buf_append(f, nonce[0], KT_CRYPTO_NONCE_BYTES);
		err = err ? err : kt_buf_append(f, nonce[1], KT_CRYPTO_NONCE_BYTES);
		struct kt_buf *tf = &w->codec->table_frame;
		kt_buf_reset(tf);
		err = err ? err : compress_frame(w, tf, &w->table, level_of(w), wide_of(w), 0, &table_size, diag);
		err = err ? err : kt_buf_reserve(f, table_size + KT_CRYPTO_TAG_BYTES);
		if (!err) {
			uint8_t ad[KT_CRYPTO_AD_MAX];
			size_t ad_len = kt_crypto_block_ad(ad, KT_CRYPTO_PART_TABLE, w->topic, w->partition,
							   w->generation, b, w->table.len);
			err = kt_crypto_seal(key, nonce[0], ad, ad_len, tf->data, table_size, f->data + f->len);
			table_size += KT_CRYPTO_TAG_BYTES;
			f->len += err ? 0 : table_size;
		}
		if (err)
			kt_diag_fail(diag, err, "cannot encrypt the record table of block %u", b->index);
	}
	if (err)
		return err;
	kt_put_u32le(f->data + sizes_at, (uint32_t)table_size);
	err = write_ktape_frame(w, f, diag);
	if (!err) {
		err = kt_write_all(w->fd, w->path, data, n, diag);
		if (err)
			w->failed = err;
	}
	if (err)
		return err;
	w->file_pos += n;

	w->blocks[w->block_count++] = *b;
	w->summary.raw_bytes += b->raw_size;
	memset(b, 0, sizeof(*b));
	kt_buf_reset(&w->raw);
	kt_buf_reset(&w->record_rows);
	kt_buf_reset(&w->header_rows);
	memset(w->col_max, 0, sizeof(w->col_max));
	w->header_total = 0;
	w->table_len = 0;
	return KT_OK;
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *data, size_t len)
{
	if (len)
		memcpy(p, data, len);
	return p + len;
}

/* A nullable length as the table stores it: 0 for null, else length + 1. */
static uint64_t nlen(size_t len, int is_null)
{
	return is_null ? 0 : (uint64_t)len + 1;
}

/* The record table's size with one more record of these values. The common
 * case, no column widening, is a few additions; a new maximum recomputes
 * the size for the new widths (into *max, which the caller keeps). */
static uint64_t table_with(const struct kt_segment_writer *w, const uint64_t *vals, const struct kt_record *rec,
			   uint64_t *max, int *widened)
{
	memcpy(max, w->col_max, sizeof(w->col_max));
	*widened = w->pending.record_count == 0;
	for (int c = 0; c < COL_HEADER_NAME_LEN; c++)
		if (vals[c] > max[c]) {
			max[c] = vals[c];
			*widened = 1;
		}
	for (size_t i = 0; i < rec->header_count; i++) {
		const struct kt_header *h = &rec->headers[i];
		uint64_t vl = nlen(h->value_len, h->value_null);
		if (h->name_len > max[COL_HEADER_NAME_LEN] || vl > max[COL_HEADER_VALUE_LEN]) {
			max[COL_HEADER_NAME_LEN] = h->name_len > max[6] ? h->name_len : max[6];
			max[COL_HEADER_VALUE_LEN] = vl > max[7] ? vl : max[7];
			*widened = 1;
		}
	}
	if (*widened)
		return table_raw_size(max, w->pending.record_count + 1, w->header_total + rec->header_count);
	return w->table_len + w->record_width + rec->header_count * w->header_width;
}

enum kt_err kt_segment_writer_add(struct kt_segment_writer *w, const struct kt_record *rec, struct kt_diag *diag)
{
	if (w->finished || w->sealed)
		return kt_diag_fail(diag, KT_ERR_STATE, "segment writer already finished");
	if (w->failed)
		return kt_diag_fail(diag, w->failed, "segment %s: an earlier write failed", w->path);
	if (rec->offset < 0 || rec->offset <= w->last_offset)
		return kt_diag_fail(diag, KT_ERR_INVALID, "record offset %lld is not after previous offset %lld",
				    (long long)rec->offset, (long long)w->last_offset);
	if ((unsigned)rec->ts_type > KT_TS_LOG_APPEND)
		return kt_diag_fail(diag, KT_ERR_INVALID, "unknown timestamp type %d", (int)rec->ts_type);

	/* The record's share of the block: its payload, and what the record
	 * table grows to with its values (columns widen for the whole block). */
	uint64_t payload = kt_record_payload_bytes(rec);
	uint64_t od = 0, tz = 0;
	if (w->pending.record_count > 0) {
		od = (uint64_t)rec->offset - (uint64_t)w->prev_offset - 1;
		int64_t td = (int64_t)((uint64_t)rec->timestamp - (uint64_t)w->prev_timestamp);
		tz = ((uint64_t)td << 1) ^ (uint64_t)(td >> 63); /* zigzag */
	}
	uint64_t vals[COL_HEADER_NAME_LEN] = {(uint64_t)rec->ts_type,
					      od,
					      tz,
					      nlen(rec->key_len, rec->key_null),
					      nlen(rec->value_len, rec->value_null),
					      rec->header_count};
	uint64_t max[COL_COUNT];
	int widened;
	uint64_t table = table_with(w, vals, rec, max, &widened);
	if (w->pending.record_count > 0 &&
	    (w->raw.len + payload + table > w->opts.block_bytes || w->pending.record_count == UINT32_MAX)) {
		enum kt_err err = flush_block(w, diag);
		if (err)
			return err;
		/* the first record of a block has both deltas 0 */
		vals[COL_OFFSET_DELTA] = vals[COL_TS_DELTA] = 0;
		table = table_with(w, vals, rec, max, &widened);
	}
	if (payload > WRITER_BLOCK_MAX - w->raw.len)
		return kt_diag_fail(diag, KT_ERR_LIMIT, "record at offset %lld does not fit in a block",
				    (long long)rec->offset);
	struct kt_block_info *b = &w->pending;
	if (b->record_count == 0) {
		b->first_offset = rec->offset;
		b->base_timestamp = rec->timestamp;
		b->min_timestamp = rec->timestamp;
		b->max_timestamp = rec->timestamp;
	}
	enum kt_err err = kt_buf_reserve(&w->raw, (size_t)payload);
	err = err ? err : kt_buf_append(&w->record_rows, vals, sizeof(vals));
	if (!err && rec->header_count) {
		size_t size = rec->header_count * 2 * sizeof(uint64_t);
		err = kt_buf_reserve(&w->header_rows, size);
		uint64_t *hv = err ? NULL : (uint64_t *)(void *)(w->header_rows.data + w->header_rows.len);
		for (size_t i = 0; hv && i < rec->header_count; i++) {
			const struct kt_header *h = &rec->headers[i];
			hv[2 * i] = h->name_len;
			hv[2 * i + 1] = nlen(h->value_len, h->value_null);
		}
		if (!err)
			w->header_rows.len += size;
	}
	if (err) {
		/* the rows may be uneven now: nothing more can go in */
		w->failed = err;
		return kt_diag_fail(diag, err, "record at offset %lld does not fit in a block: %s",
				    (long long)rec->offset, kt_err_str(err));
	}
	if (widened) {
		memcpy(w->col_max, max, sizeof(w->col_max));
		w->record_width = 0;
		for (int c = 0; c < COL_HEADER_NAME_LEN; c++)
			w->record_width += value_width(max[c]);
		w->header_width = value_width(max[COL_HEADER_NAME_LEN]) + value_width(max[COL_HEADER_VALUE_LEN]);
	}
	w->table_len = table;
	/* the payload is the bytes themselves, back to back: what plain zstd
	 * would compress, and what zstd -dc gives back */
	uint8_t *p = w->raw.data + w->raw.len;
	p = put_bytes(p, rec->key, rec->key_len);
	p = put_bytes(p, rec->value, rec->value_len);
	for (size_t i = 0; i < rec->header_count; i++) {
		const struct kt_header *h = &rec->headers[i];
		p = put_bytes(p, h->name, h->name_len);
		p = put_bytes(p, h->value, h->value_len);
	}
	w->raw.len = (size_t)(p - w->raw.data);
	w->header_total += rec->header_count;
	w->prev_offset = rec->offset;
	w->prev_timestamp = rec->timestamp;
	b->record_count++;
	b->last_offset = rec->offset;
	if (rec->timestamp < b->min_timestamp)
		b->min_timestamp = rec->timestamp;
	if (rec->timestamp > b->max_timestamp)
		b->max_timestamp = rec->timestamp;

	struct kt_segment_summary *s = &w->summary;
	if (s->record_count == 0) {
		s->first_offset = rec->offset;
		s->min_timestamp = rec->timestamp;
		s->max_timestamp = rec->timestamp;
	}
	s->record_count++;
	s->last_offset = rec->offset;
	s->payload_bytes += kt_record_payload_bytes(rec);
	if (rec->timestamp < s->min_timestamp)
		s->min_timestamp = rec->timestamp;
	if (rec->timestamp > s->max_timestamp)
		s->max_timestamp = rec->timestamp;
	w->last_offset = rec->offset;
	return KT_OK;
}

uint64_t kt_segment_writer_raw_bytes(const struct kt_segment_writer *w)
{
	/* the pending table counts too: it is held in memory until the flush */
	return w->summary.raw_bytes + w->raw.len + w->table_len;
}

uint64_t kt_segment_writer_record_count(const struct kt_segment_writer *w)
{
	return w->summary.record_count;
}

static enum kt_err write_footer(struct kt_segment_writer *w, struct kt_diag *diag)
{
	struct kt_buf *f = &w->frame;
	const struct kt_segment_summary *s = &w->summary;
	kt_buf_reset(f);
	enum kt_err err = kt_buf_append(f, KT_SEG_TAG_FOOTER, 4);
	err = err ? err : kt_buf_append_u32le(f, w->block_count);
	err = err ? err : kt_buf_append_u16le(f, KT_SEG_FOOTER_ENTRY_SIZE);
	err = err ? err : kt_buf_append_u16le(f, 0); /* reserved */
	for (uint32_t i = 0; !err && i < w->block_count; i++) {
		const struct kt_block_info *b = &w->blocks[i];
		err = kt_buf_append_u64le(f, b->pos);
		err = err ? err : kt_buf_append_u32le(f, b->compressed_size);
		err = err ? err : kt_buf_append_u32le(f, b->raw_size);
		err = err ? err : kt_buf_append_u32le(f, b->record_count);
		err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->first_offset);
		err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->last_offset);
		err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->min_timestamp);
		err = err ? err : kt_buf_append_u64le(f, (uint64_t)b->max_timestamp);
	}
	err = err ? err : kt_buf_append_u64le(f, s->record_count);
	err = err ? err : kt_buf_append_u64le(f, s->raw_bytes);
	err = err ? err : kt_buf_append_u64le(f, s->payload_bytes);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)s->first_offset);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)s->last_offset);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)s->min_timestamp);
	err = err ? err : kt_buf_append_u64le(f, (uint64_t)s->max_timestamp);
	/* the frame's total size: 8 (frame header) + content so far + 4 (this
	 * field) + 4 ("KTND") + 4 (crc), so a reader can find the footer from
	 * the end of the file */
	uint64_t total = KT_SEG_FRAME_HEADER_SIZE + f->len + 12;
	if (total > UINT32_MAX)
		return kt_diag_fail(diag, KT_ERR_LIMIT, "footer larger than 4 GiB");
	err = err ? err : kt_buf_append_u32le(f, (uint32_t)total);
	err = err ? err : kt_buf_append(f, KT_SEG_END_MAGIC, 4);
	if (err)
		return kt_diag_fail(diag, err, "cannot build footer");
	uint32_t crc = kt_crc32c(0, f->data, f->len);
	w->summary.file_crc = crc;
	return write_ktape_frame(w, f, diag);
}

enum kt_err kt_segment_writer_finish(struct kt_segment_writer *w, struct kt_segment_summary *out_summary,
				     struct kt_diag *diag)
{
	if (w->finished)
		return kt_diag_fail(diag, KT_ERR_STATE, "segment writer already finished");
	if (w->failed)
		return kt_diag_fail(diag, w->failed, "segment %s: an earlier write failed", w->path);
	if (w->summary.record_count == 0)
		return kt_diag_fail(diag, KT_ERR_STATE, "a segment must hold at least one record");
	enum kt_err err = w->sealed ? KT_OK : flush_block(w, diag);
	if (!err && !w->sealed)
		err = write_footer(w, diag);
	if (!err && !w->opts.no_fsync && fsync(w->fd) != 0)
		err = kt_write_fail(diag, errno, "fsync", w->path);
	if (err)
		return err;
	if (close(w->fd) != 0) {
		w->fd = -1;
		return kt_write_fail(diag, errno, "close", w->path);
	}
	w->fd = -1;
	w->finished = 1;
	w->summary.block_count = w->block_count;
	w->summary.file_bytes = w->file_pos;
	if (out_summary)
		*out_summary = w->summary;
	return KT_OK;
}

enum kt_err kt_segment_writer_seal(struct kt_segment_writer *w, struct kt_diag *diag)
{
	if (w->finished || w->sealed)
		return kt_diag_fail(diag, KT_ERR_STATE, "segment writer already finished");
	if (w->failed)
		return kt_diag_fail(diag, w->failed, "segment %s: an earlier write failed", w->path);
	if (w->summary.record_count == 0)
		return kt_diag_fail(diag, KT_ERR_STATE, "a segment must hold at least one record");
	enum kt_err err = flush_block(w, diag);
	if (!err)
		err = write_footer(w, diag);
	if (err)
		return err;
	w->sealed = 1;
	/* the fsync at finish then finds the pages written or on their way
	 * (an error of theirs is still its to report: the descriptor stays
	 * open until then) */
	if (!w->opts.no_fsync)
		sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	/* the pending block's memory: a sealed segment may wait a while */
	kt_buf_free(&w->raw);
	kt_buf_free(&w->record_rows);
	kt_buf_free(&w->header_rows);
	kt_buf_free(&w->table);
	kt_buf_free(&w->frame);
	kt_buf_free(&w->own.comp);
	kt_buf_free(&w->own.table_frame);
	kt_buf_free(&w->own.sealed);
	return KT_OK;
}

const struct kt_block_info *kt_segment_writer_blocks(const struct kt_segment_writer *w, uint32_t *out_count)
{
	*out_count = w->block_count;
	return w->blocks;
}

void kt_segment_writer_close(struct kt_segment_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (!w->finished && w->path)
		unlink(w->path);
	ZSTD_freeCCtx(w->own.cctx);
	kt_buf_free(&w->own.comp);
	kt_buf_free(&w->raw);
	kt_buf_free(&w->record_rows);
	kt_buf_free(&w->header_rows);
	kt_buf_free(&w->table);
	kt_buf_free(&w->frame);
	kt_buf_free(&w->own.table_frame);
	kt_buf_free(&w->own.sealed);
	free(w->blocks);
	free(w->path);
	free(w);
}
