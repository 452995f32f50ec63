#include "kt_segment_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "kt_buf.h"
#include "kt_crc32c.h"
#include "kt_cursor.h"

#define NO_BLOCK UINT32_MAX

struct block_state {
	struct kt_buf raw;    /* decompressed payload */
	struct kt_cursor cur; /* position in raw */
	struct kt_block_info hdr;
	/* v2: the decompressed record table and where its columns are */
	struct kt_buf table;
	/* an encrypted block's table and data frames, opened (compressed) */
	struct kt_buf open_table;
	struct kt_buf open_data;
	const uint8_t *col[KT_SEG_TABLE_COLUMNS];
	uint8_t width[KT_SEG_TABLE_COLUMNS];
	uint64_t header_total; /* rows of the two header columns */
	uint64_t header_next;  /* the next header's row */
	uint32_t index;	       /* NO_BLOCK when nothing is loaded */
	uint32_t seen;	       /* records decoded so far */
	int64_t prev_offset;
	int64_t prev_ts;
};

struct kt_segment_reader {
	const uint8_t *data;
	size_t size;
	void *map; /* our mapping, or NULL for borrowed memory */
	size_t map_len;
	struct kt_segment_source src; /* fetch NULL: every byte of data is there */
	uint64_t footer_pos;	      /* where a valid footer starts, else size */
	struct kt_segment_reader_opts opts;
	struct kt_segment_info info;
	uint64_t data_start; /* first byte after the header frame */

	struct kt_block_info *blocks;
	uint32_t block_count;
	uint32_t block_cap;

	ZSTD_DCtx *dctx;
	struct block_state iter;
	struct block_state check;
	uint32_t cur_block; /* the block next() reads from */
	int64_t skip_below; /* next() skips records with smaller offsets */
	struct kt_segment_filter filter;

	struct kt_buf headers; /* struct kt_header array of the current record */
	struct kt_buf check_headers;
	struct kt_record rec;
};

static void add_problem(struct kt_segment_reader *r, enum kt_err err, uint64_t pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_problem(struct kt_segment_reader *r, enum kt_err err, uint64_t pos, const char *fmt, ...)
{
	if (r->info.problem_count >= KT_SEG_MAX_PROBLEMS)
		return;
	struct kt_segment_problem *p = &r->info.problems[r->info.problem_count++];
	p->err = err;
	p->pos = pos;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
}

/* Makes data[pos, pos + len) valid (a source that fetches on demand);
 * clipped to the file. */
static enum kt_err need(struct kt_segment_reader *r, uint64_t pos, uint64_t len, struct kt_diag *diag)
{
	if (!r->src.fetch || pos >= r->size)
		return KT_OK;
	if (len > r->size - pos)
		len = r->size - pos;
	return r->src.fetch(r->src.ctx, pos, len, diag);
}

/* A ktape frame at pos: checks magic, size, tag and trailing CRC. On
 * success *content / *content_len cover the content without the CRC. */
static enum kt_err read_ktape_frame(const struct kt_segment_reader *r, uint64_t pos, const char *tag,
				    const uint8_t **content, size_t *content_len)
{
	if (pos > r->size || r->size - pos < KT_SEG_FRAME_HEADER_SIZE)
		return KT_ERR_TRUNCATED;
	const uint8_t *p = r->data + pos;
	if (kt_get_u32le(p) != KT_SEG_SKIPPABLE_MAGIC)
		return KT_ERR_FORMAT;
	uint32_t size = kt_get_u32le(p + 4);
	if (size > r->size - pos - KT_SEG_FRAME_HEADER_SIZE)
		return KT_ERR_TRUNCATED;
	if (size < 8 || memcmp(p + 8, tag, 4) != 0)
		return KT_ERR_FORMAT;
	const uint8_t *c = p + KT_SEG_FRAME_HEADER_SIZE;
	if (kt_crc32c(0, c, size - 4) != kt_get_u32le(c + size - 4))
		return KT_ERR_CHECKSUM;
	*content = c;
	*content_len = size - 4;
	return KT_OK;
}

/* The newest minor of the file's major this reader knows: what a file of a
 * later minor may add (SPEC 8) is damage in one of a minor it knows. */
static unsigned known_minor(const struct kt_segment_info *info)
{
	return info->version_major == KT_SEG_V1_MAJOR ? KT_SEG_V1_MINOR : KT_SEG_VERSION_MINOR;
}

/* A file (or block) sealed with another key than the one given: its own
 * error, not damage, naming both key ids (never the keys). */
static enum kt_err key_mismatch(struct kt_diag *diag, const char *what, const uint8_t *id,
				const struct kt_crypto_key *key)
{
	char have[KT_CRYPTO_KEY_ID_HEX], given[KT_CRYPTO_KEY_ID_HEX];
	kt_crypto_key_id_hex(id, have);
	kt_crypto_key_id_hex(kt_crypto_key_id(key), given);
	return kt_diag_fail(diag, KT_ERR_KEY, "%s encrypted with key id %s, the key file has key id %s", what, have,
			    given);
}

static enum kt_err parse_header(struct kt_segment_reader *r, struct kt_diag *diag)
{
	const uint8_t *c;
	size_t n;
	if (r->size >= 4 && kt_get_u32le(r->data) != KT_SEG_SKIPPABLE_MAGIC)
		return kt_diag_fail(diag, KT_ERR_FORMAT, "not a ktape segment file (bad magic)");
	enum kt_err err = read_ktape_frame(r, 0, KT_SEG_TAG_HEADER, &c, &n);
	if (err == KT_ERR_TRUNCATED)
		return kt_diag_fail(diag, err, "segment header is truncated");
	if (err == KT_ERR_FORMAT)
		return kt_diag_fail(diag, err, "not a ktape segment file (no KTSH header)");
	if (err == KT_ERR_CHECKSUM)
		return kt_diag_fail(diag, err, "segment header checksum mismatch");
	struct kt_cursor cur;
	kt_cursor_init(&cur, c + 4, n - 4);
	struct kt_segment_info *info = &r->info;
	info->version_major = kt_cursor_u8(&cur);
	info->version_minor = kt_cursor_u8(&cur);
	uint16_t flags = kt_cursor_u16le(&cur);
	info->codec = kt_cursor_u8(&cur);
	const uint8_t *reserved = kt_cursor_bytes(&cur, 3);
	info->partition = (int32_t)kt_cursor_u32le(&cur);
	info->generation = kt_cursor_u32le(&cur);
	uint64_t topic_len = kt_cursor_uvarint(&cur);
	if (cur.err)
		return kt_diag_fail(diag, KT_ERR_FORMAT, "segment header is too short");
	if (info->version_major != KT_SEG_VERSION_MAJOR && info->version_major != KT_SEG_V1_MAJOR)
		return kt_diag_fail(diag, KT_ERR_VERSION,
				    "segment format version %u.%u is not supported (this ktape reads %u.x and %u.x)",
				    info->version_major, info->version_minor, KT_SEG_V1_MAJOR, KT_SEG_VERSION_MAJOR);
	/* a flag is a feature the reader must know to read the file at all
	 * (2.0 readers refuse every flag): encryption is the one flag of 2.1 */
	if (info->version_major == KT_SEG_VERSION_MAJOR && info->version_minor >= KT_SEG_MINOR_CRYPT &&
	    (flags & KT_SEG_FLAG_ENCRYPTED)) {
		info->encrypted = 1;
		flags &= (uint16_t)~KT_SEG_FLAG_ENCRYPTED;
	}
	if (flags != 0 && info->version_minor > known_minor(info))
		return kt_diag_fail(diag, KT_ERR_VERSION,
				    "segment format version %u.%u uses features this ktape does not know (flags "
				    "0x%04x): upgrade ktape",
				    info->version_major, info->version_minor, flags);
	if (flags != 0 || reserved[0] || reserved[1] || reserved[2])
		return kt_diag_fail(diag, KT_ERR_FORMAT, "segment header has reserved bits set");
	if (info->codec != KT_SEG_CODEC_ZSTD)
		return kt_diag_fail(diag, KT_ERR_FORMAT, "unknown codec %u", info->codec);
	if (info->partition < 0)
		return kt_diag_fail(diag, KT_ERR_FORMAT, "negative partition %d", info->partition);
	if (topic_len == 0 || topic_len > KT_SEG_TOPIC_MAX)
		return kt_diag_fail(diag, KT_ERR_FORMAT, "topic name length %llu is invalid",
				    (unsigned long long)topic_len);
	const uint8_t *topic = kt_cursor_bytes(&cur, (size_t)topic_len);
	if (cur.err)
		return kt_diag_fail(diag, KT_ERR_FORMAT, "segment header is too short");
	if (memchr(topic, '\0', (size_t)topic_len))
		return kt_diag_fail(diag, KT_ERR_FORMAT, "topic name contains a NUL byte");
	if (info->encrypted) {
		const uint8_t *id = kt_cursor_bytes(&cur, KT_SEG_KEY_ID_SIZE);
		if (cur.err)
			return kt_diag_fail(diag, KT_ERR_FORMAT, "encrypted segment header has no key id");
		memcpy(info->key_id, id, KT_SEG_KEY_ID_SIZE);
		if (r->opts.key && memcmp(id, kt_crypto_key_id(r->opts.key), KT_SEG_KEY_ID_SIZE) != 0)
			return key_mismatch(diag, "segment", id, r->opts.key);
	}
	/* x.0 headers end here; later minors may append fields we skip. */
	if (kt_cursor_left(&cur) && info->version_minor <= known_minor(info))
		return kt_diag_fail(diag, KT_ERR_FORMAT, "segment header has %zu unexpected bytes",
				    kt_cursor_left(&cur));
	memcpy(info->topic, topic, (size_t)topic_len);
	info->topic[topic_len] = '\0';
	r->data_start = KT_SEG_FRAME_HEADER_SIZE + n + 4;
	return KT_OK;
}

static enum kt_err push_block(struct kt_segment_reader *r, const struct kt_block_info *b)
{
	if (r->block_count == r->block_cap) {
		uint32_t cap = r->block_cap ? r->block_cap * 2 : 64;
		if (cap < r->block_cap)
			return KT_ERR_LIMIT;
		struct kt_block_info *nb = realloc(r->blocks, (size_t)cap * sizeof(*nb));
		if (!nb)
			return KT_ERR_NOMEM;
		r->blocks = nb;
		r->block_cap = cap;
	}
	r->blocks[r->block_count++] = *b;
	return KT_OK;
}

/* Parses a KTBH content (without CRC) into b. */
static int parse_block_header(const uint8_t *c, size_t n, struct kt_block_info *b)
{
	struct kt_cursor cur;
	kt_cursor_init(&cur, c + 4, n - 4);
	b->index = kt_cursor_u32le(&cur);
	b->record_count = kt_cursor_u32le(&cur);
	b->compressed_size = kt_cursor_u32le(&cur);
	b->raw_size = kt_cursor_u32le(&cur);
	b->first_offset = kt_cursor_i64le(&cur);
	b->last_offset = kt_cursor_i64le(&cur);
	b->min_timestamp = kt_cursor_i64le(&cur);
	b->max_timestamp = kt_cursor_i64le(&cur);
	b->base_timestamp = kt_cursor_i64le(&cur);
	b->data_crc = kt_cursor_u32le(&cur);
	if (cur.err)
		return 0;
	return b->record_count > 0 && b->first_offset >= 0 && b->first_offset <= b->last_offset &&
	       b->min_timestamp <= b->max_timestamp && b->last_offset - b->first_offset >= b->record_count - 1;
}

static int footer_entries_sane(const struct kt_segment_reader *r, uint64_t footer_pos)
{
	uint64_t expect = r->data_start;
	int64_t prev_last = -1;
	for (uint32_t i = 0; i < r->block_count; i++) {
		const struct kt_block_info *b = &r->blocks[i];
		uint64_t min_len = KT_SEG_FRAME_HEADER_SIZE + KT_SEG_BLOCK_HEADER_CONTENT;
		if (b->pos < expect || b->pos > footer_pos || footer_pos - b->pos < min_len ||
		    footer_pos - b->pos - min_len < b->compressed_size)
			return 0;
		if (b->record_count == 0 || b->first_offset <= prev_last || b->first_offset > b->last_offset ||
		    b->min_timestamp > b->max_timestamp || b->last_offset - b->first_offset < b->record_count - 1)
			return 0;
		prev_last = b->last_offset;
		expect = b->pos + min_len + b->compressed_size;
	}
	return 1;
}

/* Tries the footer. Returns KT_OK and fills the index, or why not. */
static enum kt_err parse_footer(struct kt_segment_reader *r, struct kt_diag *diag)
{
	if (r->size - r->data_start < KT_SEG_FOOTER_TAIL)
		return KT_ERR_TRUNCATED;
	if (need(r, r->size - KT_SEG_FOOTER_TAIL, KT_SEG_FOOTER_TAIL, diag))
		return KT_ERR_IO;
	const uint8_t *tail = r->data + r->size - KT_SEG_FOOTER_TAIL;
	if (memcmp(tail + 4, KT_SEG_END_MAGIC, 4) != 0)
		return KT_ERR_TRUNCATED;
	uint32_t total = kt_get_u32le(tail);
	if (total > r->size - r->data_start || total < KT_SEG_FRAME_HEADER_SIZE + 4 + 12)
		return KT_ERR_FORMAT;
	uint64_t pos = r->size - total;
	if (need(r, pos, total, diag))
		return KT_ERR_IO;
	const uint8_t *c;
	size_t n;
	enum kt_err err = read_ktape_frame(r, pos, KT_SEG_TAG_FOOTER, &c, &n);
	if (err)
		return err == KT_ERR_TRUNCATED ? KT_ERR_FORMAT : err;
	if (pos + KT_SEG_FRAME_HEADER_SIZE + n + 4 != r->size)
		return KT_ERR_FORMAT;
	struct kt_cursor cur;
	kt_cursor_init(&cur, c + 4, n - 4 - 8); /* without size and KTND */
	uint32_t count = kt_cursor_u32le(&cur);
	uint16_t entry_size = kt_cursor_u16le(&cur);
	uint16_t reserved = kt_cursor_u16le(&cur);
	if (cur.err || reserved != 0 || entry_size < KT_SEG_FOOTER_ENTRY_SIZE)
		return KT_ERR_FORMAT;
	if (count == 0 || (uint64_t)count * entry_size > kt_cursor_left(&cur))
		return KT_ERR_FORMAT;
	for (uint32_t i = 0; i < count; i++) {
		struct kt_cursor e;
		kt_cursor_init(&e, kt_cursor_bytes(&cur, entry_size), entry_size);
		struct kt_block_info b = {0};
		b.index = i;
		b.pos = kt_cursor_u64le(&e);
		b.compressed_size = kt_cursor_u32le(&e);
		b.raw_size = kt_cursor_u32le(&e);
		b.record_count = kt_cursor_u32le(&e);
		b.first_offset = kt_cursor_i64le(&e);
		b.last_offset = kt_cursor_i64le(&e);
		b.min_timestamp = kt_cursor_i64le(&e);
		b.max_timestamp = kt_cursor_i64le(&e);
		err = push_block(r, &b);
		if (err)
			return err;
	}
	struct kt_segment_summary *s = &r->info.summary;
	s->record_count = kt_cursor_u64le(&cur);
	s->raw_bytes = kt_cursor_u64le(&cur);
	s->payload_bytes = kt_cursor_u64le(&cur);
	s->first_offset = kt_cursor_i64le(&cur);
	s->last_offset = kt_cursor_i64le(&cur);
	s->min_timestamp = kt_cursor_i64le(&cur);
	s->max_timestamp = kt_cursor_i64le(&cur);
	if (cur.err || (kt_cursor_left(&cur) && r->info.version_minor <= known_minor(&r->info)))
		return KT_ERR_FORMAT;
	if (!footer_entries_sane(r, pos))
		return KT_ERR_FORMAT;
	s->block_count = count;
	s->file_bytes = r->size;
	r->footer_pos = pos;
	s->file_crc = kt_get_u32le(c + n);
	r->info.footer_crc = s->file_crc;
	return KT_OK;
}

/* Looks for the next valid block header at or after pos: the skippable
 * magic, a size of at least the v1.0 block header (later minors may be
 * larger), the KTBH tag and a matching CRC. */
static uint64_t resync(const struct kt_segment_reader *r, uint64_t pos)
{
	static const uint8_t magic[4] = {0x5B, 0x2A, 0x4D, 0x18};
	while (pos < r->size && r->size - pos >= KT_SEG_FRAME_HEADER_SIZE + KT_SEG_BLOCK_HEADER_CONTENT) {
		const uint8_t *hit = memmem(r->data + pos, r->size - pos, magic, sizeof(magic));
		if (!hit)
			break;
		uint64_t at = (uint64_t)(hit - r->data);
		const uint8_t *c;
		size_t n;
		if (r->size - at >= KT_SEG_FRAME_HEADER_SIZE + 4 &&
		    kt_get_u32le(hit + 4) >= KT_SEG_BLOCK_HEADER_CONTENT &&
		    read_ktape_frame(r, at, KT_SEG_TAG_BLOCK, &c, &n) == KT_OK)
			return at;
		pos = at + 1;
	}
	return r->size;
}

/* Builds the index by walking the frames from the start (no usable footer). */
static enum kt_err scan_blocks(struct kt_segment_reader *r)
{
	uint64_t pos = r->data_start;
	int64_t prev_last = -1;
	while (pos < r->size) {
		if (r->size - pos < KT_SEG_FRAME_HEADER_SIZE) {
			add_problem(r, KT_ERR_TRUNCATED, pos, "file ends inside a frame header");
			break;
		}
		const uint8_t *p = r->data + pos;
		uint32_t magic = kt_get_u32le(p);
		if ((magic & KT_SEG_SKIPPABLE_MASK) != KT_SEG_SKIPPABLE_ANY) {
			uint64_t next = resync(r, pos + 1);
			add_problem(r, KT_ERR_FORMAT, pos, "unexpected data (%llu bytes skipped)",
				    (unsigned long long)(next - pos));
			pos = next;
			continue;
		}
		uint32_t size = kt_get_u32le(p + 4);
		if (size > r->size - pos - KT_SEG_FRAME_HEADER_SIZE) {
			add_problem(r, KT_ERR_TRUNCATED, pos, "file ends inside a frame");
			break;
		}
		uint64_t next = pos + KT_SEG_FRAME_HEADER_SIZE + size;
		int is_ktape = magic == KT_SEG_SKIPPABLE_MAGIC && size >= 8;
		if (is_ktape && !memcmp(p + 8, KT_SEG_TAG_FOOTER, 4)) {
			add_problem(r, KT_ERR_CHECKSUM, pos, "footer is damaged");
			break;
		}
		if (!is_ktape || memcmp(p + 8, KT_SEG_TAG_BLOCK, 4) != 0) {
			pos = next; /* unknown skippable frame: skip, as the spec says */
			continue;
		}
		const uint8_t *c;
		size_t n;
		struct kt_block_info b = {0};
		if (read_ktape_frame(r, pos, KT_SEG_TAG_BLOCK, &c, &n) != KT_OK ||
		    n < KT_SEG_BLOCK_HEADER_CONTENT - 4 || !parse_block_header(c, n, &b) ||
		    b.first_offset <= prev_last) {
			uint64_t again = resync(r, pos + 1);
			add_problem(r, KT_ERR_CHECKSUM, pos, "damaged block header (%llu bytes skipped)",
				    (unsigned long long)(again - pos));
			pos = again;
			continue;
		}
		if (b.compressed_size > r->size - next) {
			add_problem(r, KT_ERR_TRUNCATED, pos, "file ends inside block %u", b.index);
			break;
		}
		/* the header's own index stays (SPEC 6.3): after a damaged header
		 * was skipped, the numbers have a gap, as the file has */
		b.pos = pos;
		enum kt_err err = push_block(r, &b);
		if (err)
			return err;
		prev_last = b.last_offset;
		pos = next + b.compressed_size;
	}
	struct kt_segment_summary *s = &r->info.summary;
	memset(s, 0, sizeof(*s));
	s->first_offset = -1;
	s->last_offset = -1;
	for (uint32_t i = 0; i < r->block_count; i++) {
		const struct kt_block_info *b = &r->blocks[i];
		if (i == 0) {
			s->first_offset = b->first_offset;
			s->min_timestamp = b->min_timestamp;
			s->max_timestamp = b->max_timestamp;
		}
		s->last_offset = b->last_offset;
		s->record_count += b->record_count;
		s->raw_bytes += b->raw_size;
		if (b->min_timestamp < s->min_timestamp)
			s->min_timestamp = b->min_timestamp;
		if (b->max_timestamp > s->max_timestamp)
			s->max_timestamp = b->max_timestamp;
	}
	s->block_count = r->block_count;
	s->file_bytes = r->size;
	return KT_OK;
}

/* SPEC 6.6: the header frame is unusable but the caller knows whose file
 * this is. The blocks carry everything else; they are found by scanning
 * from byte 0 (resync skips the damaged header) unless the footer holds. */
static enum kt_err salvage_header(struct kt_segment_reader *r, enum kt_err why, struct kt_diag *diag)
{
	const struct kt_segment_identity *id = r->opts.salvage;
	struct kt_segment_info *info = &r->info;
	size_t tlen = id->topic ? strlen(id->topic) : 0;
	if (tlen == 0 || tlen > KT_SEG_TOPIC_MAX || id->partition < 0)
		return why;
	info->header_err = why;
	add_problem(r, why, 0, "damaged header (%.100s); topic and partition taken from the archive",
		    diag ? diag->msg : kt_err_str(why));
	/* the version bytes stay at 12 and 13 in every version: use them
	 * when they name one this reader knows, else assume the current one */
	uint8_t major = r->size > 13 ? r->data[12] : 0;
	int known = major == KT_SEG_VERSION_MAJOR || major == KT_SEG_V1_MAJOR;
	info->version_major = known ? major : KT_SEG_VERSION_MAJOR;
	info->version_minor = known ? r->data[13] : KT_SEG_VERSION_MINOR;
	/* and the encrypted flag where it stays (bytes 14 and 15); the key id
	 * comes from each block header then */
	info->encrypted = known && major == KT_SEG_VERSION_MAJOR && info->version_minor >= KT_SEG_MINOR_CRYPT &&
			  (r->data[14] & KT_SEG_FLAG_ENCRYPTED);
	memset(info->key_id, 0, sizeof(info->key_id));
	info->codec = KT_SEG_CODEC_ZSTD;
	info->partition = id->partition;
	info->generation = id->generation;
	memcpy(info->topic, id->topic, tlen);
	info->topic[tlen] = '\0';
	r->data_start = resync(r, 0);
	kt_diag_clear(diag);
	return KT_OK;
}

static void block_state_init(struct block_state *bs)
{
	kt_buf_init(&bs->raw, SIZE_MAX);
	kt_buf_init(&bs->table, SIZE_MAX);
	kt_buf_init(&bs->open_table, SIZE_MAX);
	kt_buf_init(&bs->open_data, SIZE_MAX);
	bs->index = NO_BLOCK;
}

static enum kt_err reader_init(struct kt_segment_reader *r, const struct kt_segment_reader_opts *opts,
			       struct kt_diag *diag)
{
	r->opts.max_block_raw = opts && opts->max_block_raw ? opts->max_block_raw : KT_SEG_DEFAULT_MAX_BLOCK_RAW;
	r->opts.salvage = opts ? opts->salvage : NULL;
	r->opts.key = opts ? opts->key : NULL;
	block_state_init(&r->iter);
	block_state_init(&r->check);
	kt_buf_init(&r->headers, SIZE_MAX);
	kt_buf_init(&r->check_headers, SIZE_MAX);
	r->skip_below = INT64_MIN;
	r->filter = (struct kt_segment_filter){INT64_MIN, INT64_MAX, INT64_MIN, INT64_MAX};
	r->info.file_size = r->size;
	r->dctx = ZSTD_createDCtx();
	if (!r->dctx)
		return KT_ERR_NOMEM;
	r->footer_pos = r->size;
	/* a header frame is far smaller: its topic name is at most 249 bytes */
	enum kt_err err = need(r, 0, 4096, diag);
	if (err)
		return err;
	err = parse_header(r, diag);
	/* another key is not damage: nothing to salvage */
	if (err && r->opts.salvage && err != KT_ERR_VERSION && err != KT_ERR_NOMEM && err != KT_ERR_KEY) {
		enum kt_err why = err;		 /* diag keeps its message: a fetch that works sets none */
		err = need(r, 0, r->size, diag); /* salvage scans the whole file */
		if (!err)
			err = salvage_header(r, why, diag);
	}
	if (err)
		return err;
	r->info.footer_err = parse_footer(r, diag);
	if (r->info.footer_err == KT_ERR_NOMEM || r->info.footer_err == KT_ERR_IO)
		return r->info.footer_err; /* KT_ERR_IO: the source could not fetch */
	if (r->info.footer_err != KT_OK) {
		r->block_count = 0;
		r->footer_pos = r->size;
		err = need(r, 0, r->size, diag); /* no index: scanning reads it all */
		if (err)
			return err;
		err = scan_blocks(r);
		if (err)
			return kt_diag_fail(diag, err, "cannot index segment: %s", kt_err_str(err));
	}
	return KT_OK;
}

enum kt_err kt_segment_reader_open_mem(const uint8_t *data, size_t len, const struct kt_segment_reader_opts *opts,
				       struct kt_segment_reader **out, struct kt_diag *diag)
{
	*out = NULL;
	struct kt_segment_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return KT_ERR_NOMEM;
	r->data = data;
	r->size = len;
	enum kt_err err = reader_init(r, opts, diag);
	if (err) {
		kt_segment_reader_close(r);
		return err;
	}
	*out = r;
	return KT_OK;
}

enum kt_err kt_segment_reader_open_source(const struct kt_segment_source *src,
					  const struct kt_segment_reader_opts *opts, struct kt_segment_reader **out,
					  struct kt_diag *diag)
{
	*out = NULL;
	struct kt_segment_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return KT_ERR_NOMEM;
	r->src = *src;
	r->data = src->data;
	r->size = (size_t)src->size;
	enum kt_err err = reader_init(r, opts, diag);
	if (err) {
		kt_segment_reader_close(r);
		return err;
	}
	*out = r;
	return KT_OK;
}

enum kt_err kt_segment_reader_open(const char *path, const struct kt_segment_reader_opts *opts,
				   struct kt_segment_reader **out, struct kt_diag *diag)
{
	*out = NULL;
	kt_diag_set_path(diag, path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kt_diag_fail(diag, errno == ENOENT ? KT_ERR_NOT_FOUND : KT_ERR_IO, "cannot open %s: %s", path,
				    strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return kt_diag_fail(diag, KT_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
	}
	size_t len = (size_t)st.st_size;
	void *map = NULL;
	if (len > 0) {
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			close(fd);
			return kt_diag_fail(diag, KT_ERR_IO, "cannot map %s: %s", path, strerror(errno));
		}
		madvise(map, len, MADV_SEQUENTIAL);
	}
	close(fd);
	struct kt_segment_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		if (map)
			munmap(map, len);
		return KT_ERR_NOMEM;
	}
	r->map = map;
	r->map_len = len;
	r->data = map ? map : (const uint8_t *)"";
	r->size = len;
	enum kt_err err = reader_init(r, opts, diag);
	if (err) {
		kt_diag_prefix(diag, "%s", path);
		kt_segment_reader_close(r);
		return err;
	}
	*out = r;
	return KT_OK;
}

void kt_segment_reader_close(struct kt_segment_reader *r)
{
	if (!r)
		return;
	if (r->map)
		munmap(r->map, r->map_len);
	ZSTD_freeDCtx(r->dctx);
	kt_buf_free(&r->iter.raw);
	kt_buf_free(&r->check.raw);
	kt_buf_free(&r->iter.table);
	kt_buf_free(&r->check.table);
	kt_buf_free(&r->iter.open_table);
	kt_buf_free(&r->check.open_table);
	kt_buf_free(&r->iter.open_data);
	kt_buf_free(&r->check.open_data);
	kt_buf_free(&r->headers);
	kt_buf_free(&r->check_headers);
	free(r->blocks);
	free(r);
}

const struct kt_segment_info *kt_segment_reader_info(const struct kt_segment_reader *r)
{
	return &r->info;
}

uint32_t kt_segment_reader_block_count(const struct kt_segment_reader *r)
{
	return r->block_count;
}

const struct kt_block_info *kt_segment_reader_block(const struct kt_segment_reader *r, uint32_t i)
{
	return i < r->block_count ? &r->blocks[i] : NULL;
}

static enum kt_err block_fail(struct kt_diag *diag, const struct kt_block_info *b, enum kt_err err, const char *what)
{
	kt_diag_set_where(diag, b->index, (int64_t)b->pos);
	return kt_diag_fail(diag, err, "block %u at byte %llu: %s", b->index, (unsigned long long)b->pos, what);
}

/* Decompresses a v2 record table into bs and finds its columns. */
static enum kt_err load_table(struct kt_segment_reader *r, const uint8_t *table, uint32_t size, uint32_t raw_size,
			      const struct kt_block_info *h, struct block_state *bs, struct kt_diag *diag)
{
	if (raw_size > r->opts.max_block_raw)
		return block_fail(diag, h, KT_ERR_LIMIT, "record table is larger than the reader's limit");
	unsigned long long fcs = ZSTD_getFrameContentSize(table, size);
	size_t fsz = ZSTD_findFrameCompressedSize(table, size);
	if (size < 4 || kt_get_u32le(table) != KT_SEG_ZSTD_MAGIC || fcs != raw_size || ZSTD_isError(fsz) || fsz != size)
		return block_fail(diag, h, KT_ERR_FORMAT, "record table is not one zstd frame of the declared size");
	kt_buf_reset(&bs->table);
	if (kt_buf_reserve(&bs->table, raw_size ? raw_size : 1))
		return block_fail(diag, h, KT_ERR_NOMEM, "cannot allocate the record table");
	size_t got = ZSTD_decompressDCtx(r->dctx, bs->table.data, raw_size, table, size);
	if (ZSTD_isError(got) || got != raw_size)
		return block_fail(diag, h, KT_ERR_FORMAT, "record table does not decompress");
	bs->table.len = got;

	/* column_count, then each column: width (1..8) and width planes of
	 * one byte per row. Rows: record_count, except for the two header
	 * columns, whose rows are the sum of the header counts. */
	struct kt_cursor cur;
	kt_cursor_init(&cur, bs->table.data, bs->table.len);
	uint8_t count = kt_cursor_u8(&cur);
	if (cur.err || count < KT_SEG_TABLE_COLUMNS)
		return block_fail(diag, h, KT_ERR_FORMAT, "record table has too few columns");
	if (count > KT_SEG_TABLE_COLUMNS && r->info.version_minor <= known_minor(&r->info))
		return block_fail(diag, h, KT_ERR_FORMAT, "record table has unexpected columns");
	bs->header_total = 0;
	for (unsigned c = 0; c < count; c++) {
		uint8_t width = kt_cursor_u8(&cur);
		if (cur.err || width < 1 || width > 8)
			return block_fail(diag, h, KT_ERR_FORMAT, "record table column has an invalid width");
		uint64_t rows = c == 6 || c == 7 ? bs->header_total : h->record_count;
		/* rows and width are small enough here that the product cannot
		 * wrap: header_total is bounded by the table size below */
		if (rows * width > kt_cursor_left(&cur))
			return block_fail(diag, h, KT_ERR_FORMAT, "record table is truncated");
		const uint8_t *planes = kt_cursor_bytes(&cur, (size_t)(rows * width));
		if (c < KT_SEG_TABLE_COLUMNS) {
			bs->col[c] = planes;
			bs->width[c] = width;
		}
		if (c == 5) {
			/* every header takes at least two bytes of table (its name
			 * and value lengths), which bounds the sum */
			for (uint64_t i = 0; i < rows; i++) {
				uint64_t hc = 0;
				for (unsigned k = 0; k < width; k++)
					hc |= (uint64_t)planes[k * rows + i] << (8 * k);
				if (hc > kt_cursor_left(&cur) / 2 - bs->header_total)
					return block_fail(diag, h, KT_ERR_FORMAT, "record header counts are invalid");
				bs->header_total += hc;
			}
		}
	}
	if (kt_cursor_left(&cur))
		return block_fail(diag, h, KT_ERR_FORMAT, "record table has unexpected bytes at its end");
	bs->header_next = 0;
	return KT_OK;
}

/* An encrypted block whose CRCs held (SPEC 4.6): checks its key id and
 * opens both sealed parts, which authenticates them, the block header's
 * fields and the segment's identity (the associated data). On success
 * the table and data pointers point at the compressed frames, opened into
 * bs. Without a key: KT_ERR_INVALID (check_block takes it for a CRC-only
 * pass). */
static enum kt_err open_block(struct kt_segment_reader *r, const struct kt_block_info *idx,
			      const struct kt_block_info *h, const uint8_t *crypt, const uint8_t **table,
			      uint32_t *table_size, uint32_t table_raw, const uint8_t **data, size_t *data_size,
			      struct block_state *bs, struct kt_diag *diag)
{
	const struct kt_crypto_key *key = r->opts.key;
	char id[KT_CRYPTO_KEY_ID_HEX];
	kt_crypto_key_id_hex(crypt, id);
	if (!key) {
		kt_diag_set_where(diag, idx->index, (int64_t)idx->pos);
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "block %u at byte %llu is encrypted (key id %s) and no key was given "
				    "(--encrypt-key-file)",
				    idx->index, (unsigned long long)idx->pos, id);
	}
	if (memcmp(crypt, kt_crypto_key_id(key), KT_SEG_KEY_ID_SIZE) != 0) {
		kt_diag_set_where(diag, idx->index, (int64_t)idx->pos);
		char what[64];
		snprintf(what, sizeof(what), "block %u at byte %llu", idx->index, (unsigned long long)idx->pos);
		return key_mismatch(diag, what, crypt, key);
	}
	if (*table_size < KT_SEG_CRYPT_TAG || *data_size < KT_SEG_CRYPT_TAG)
		return block_fail(diag, idx, KT_ERR_FORMAT, "sealed block part is shorter than its tag");
	/* the header fields went into the associated data as the writer had
	 * them: the index is the header's own (a scanned file keeps them) */
	struct kt_block_info b = *h;
	const struct kt_segment_info *info = &r->info;
	uint8_t ad[KT_CRYPTO_AD_MAX];
	size_t ad_len = kt_crypto_block_ad(ad, KT_CRYPTO_PART_TABLE, info->topic, info->partition, info->generation, &b,
					   table_raw);
	kt_buf_reset(&bs->open_table);
	kt_buf_reset(&bs->open_data);
	if (kt_buf_reserve(&bs->open_table, *table_size) || kt_buf_reserve(&bs->open_data, *data_size))
		return block_fail(diag, idx, KT_ERR_NOMEM, "cannot allocate the decryption buffers");
	const uint8_t *nonce_table = crypt + KT_SEG_KEY_ID_SIZE;
	const uint8_t *nonce_data = nonce_table + KT_CRYPTO_NONCE_BYTES;
	enum kt_err err = kt_crypto_open(key, nonce_table, ad, ad_len, *table, *table_size, bs->open_table.data);
	if (!err) {
		ad[4] = KT_CRYPTO_PART_DATA;
		err = kt_crypto_open(key, nonce_data, ad, ad_len, *data, *data_size, bs->open_data.data);
	}
	if (err)
		return block_fail(diag, idx, KT_ERR_CHECKSUM,
				  "block fails authentication (its XChaCha20-Poly1305 tag): its bytes, its header or "
				  "its place were changed after it was written");
	*table = bs->open_table.data;
	*table_size -= KT_SEG_CRYPT_TAG;
	*data = bs->open_data.data;
	*data_size -= KT_SEG_CRYPT_TAG;
	return KT_OK;
}

/* Verifies block i's header and data, and decompresses it into bs. */
static enum kt_err load_block(struct kt_segment_reader *r, uint32_t i, struct block_state *bs, struct kt_diag *diag)
{
	const struct kt_block_info *idx = &r->blocks[i];
	bs->index = NO_BLOCK;
	/* a block ends where the next one (or the footer) starts */
	uint64_t end = i + 1 < r->block_count ? r->blocks[i + 1].pos : r->footer_pos;
	enum kt_err err = need(r, idx->pos, end > idx->pos ? end - idx->pos : 0, diag);
	if (err)
		return err;
	const uint8_t *c;
	size_t n;
	err = read_ktape_frame(r, idx->pos, KT_SEG_TAG_BLOCK, &c, &n);
	if (err == KT_ERR_CHECKSUM)
		return block_fail(diag, idx, err, "block header checksum mismatch");
	if (err)
		return block_fail(diag, idx, err, "block header is missing or malformed");
	struct kt_block_info h = {0};
	if (n < KT_SEG_BLOCK_HEADER_CONTENT - 4 || !parse_block_header(c, n, &h))
		return block_fail(diag, idx, KT_ERR_FORMAT, "block header is malformed");
	int v2 = r->info.version_major == KT_SEG_VERSION_MAJOR;
	const uint8_t *table = NULL;
	uint32_t table_size = 0, table_raw = 0;
	size_t fixed = (v2 ? KT_SEG_BLOCK_HEADER_V2 : KT_SEG_BLOCK_HEADER_CONTENT) - 4;
	/* an encrypted block's key id and nonces follow table_raw_size */
	const uint8_t *crypt = v2 && r->info.encrypted ? c + fixed : NULL;
	if (crypt)
		fixed += KT_SEG_CRYPT_EXT;
	if (v2) {
		/* the record table is the last table_size bytes of the content */
		if (n < fixed)
			return block_fail(diag, idx, KT_ERR_FORMAT, "block header is malformed");
		size_t sizes = KT_SEG_BLOCK_HEADER_V2 - 4 - 8; /* table_size, table_raw_size */
		table_size = kt_get_u32le(c + sizes);
		table_raw = kt_get_u32le(c + sizes + 4);
		if (table_size > n - fixed)
			return block_fail(diag, idx, KT_ERR_FORMAT, "record table runs past the block header");
		table = c + n - table_size;
	}
	if (n - table_size > fixed && r->info.version_minor <= known_minor(&r->info))
		return block_fail(diag, idx, KT_ERR_FORMAT, "block header has unexpected bytes");
	/* a block header's own number has to match a footer's entry; a
	 * scanned index took the numbers from the headers */
	int footer_index = r->info.footer_err == KT_OK;
	if ((footer_index && h.index != idx->index) || h.record_count != idx->record_count ||
	    h.compressed_size != idx->compressed_size || h.raw_size != idx->raw_size ||
	    h.first_offset != idx->first_offset || h.last_offset != idx->last_offset ||
	    h.min_timestamp != idx->min_timestamp || h.max_timestamp != idx->max_timestamp)
		return block_fail(diag, idx, KT_ERR_FORMAT, "block header disagrees with the footer index");
	h.pos = idx->pos;
	uint64_t data_pos = idx->pos + KT_SEG_FRAME_HEADER_SIZE + n + 4;
	if (data_pos > r->size || h.compressed_size > r->size - data_pos)
		return block_fail(diag, idx, KT_ERR_TRUNCATED, "block data is truncated");
	const uint8_t *data = r->data + data_pos;
	if (kt_crc32c(0, data, h.compressed_size) != h.data_crc)
		return block_fail(diag, idx, KT_ERR_CHECKSUM, "block data checksum mismatch");
	if (h.raw_size > r->opts.max_block_raw)
		return block_fail(diag, idx, KT_ERR_LIMIT, "block is larger than the reader's limit");
	size_t data_size = h.compressed_size;
	if (crypt) {
		/* every CRC held: the rest needs the key */
		err = open_block(r, idx, &h, crypt, &table, &table_size, table_raw, &data, &data_size, bs, diag);
		if (err)
			return err;
	}
	/* a zstd frame proper: a skippable frame would also "decompress", to
	 * nothing, which a v2 block of only null and empty fields expects */
	unsigned long long fcs = ZSTD_getFrameContentSize(data, data_size);
	size_t fsz = ZSTD_findFrameCompressedSize(data, data_size);
	if (data_size < 4 || kt_get_u32le(data) != KT_SEG_ZSTD_MAGIC || fcs != h.raw_size || ZSTD_isError(fsz) ||
	    fsz != data_size)
		return block_fail(diag, idx, KT_ERR_FORMAT, "block is not one zstd frame of the declared size");
	kt_buf_reset(&bs->raw);
	err = kt_buf_reserve(&bs->raw, h.raw_size ? h.raw_size : 1);
	if (err)
		return block_fail(diag, idx, err, "cannot allocate the block buffer");
	size_t got = ZSTD_decompressDCtx(r->dctx, bs->raw.data, h.raw_size, data, data_size);
	if (ZSTD_isError(got) || got != h.raw_size)
		return block_fail(diag, idx, KT_ERR_CHECKSUM, "block does not decompress (zstd content checksum)");
	bs->raw.len = got;
	if (v2) {
		err = load_table(r, table, table_size, table_raw, &h, bs, diag);
		if (err)
			return err;
	}
	bs->hdr = h;
	bs->index = i;
	bs->seen = 0;
	bs->prev_offset = INT64_MIN;
	kt_cursor_init(&bs->cur, bs->raw.data, bs->raw.len);
	return KT_OK;
}

/* Completes a decoded record, for either major: its offset and timestamp
 * from the stored deltas (section 5), checked against the block header,
 * its type and headers; then counts it. */
static enum kt_err place_record(struct block_state *bs, uint64_t od, uint64_t tz, uint64_t attr, struct kt_header *hdrs,
				uint64_t hc, struct kt_record *rec, struct kt_diag *diag)
{
	const struct kt_block_info *h = &bs->hdr;
	/* offsets strictly increase: the stored delta is the step minus one */
	int64_t prev = bs->seen == 0 ? h->first_offset - 1 : bs->prev_offset;
	/* a record after the one at last_offset is out of range however small
	 * its delta (and the unsigned bound below would wrap) */
	if (prev >= h->last_offset || od > (uint64_t)h->last_offset - (uint64_t)prev - 1)
		return block_fail(diag, h, KT_ERR_FORMAT, "record offset outside the block's range");
	rec->offset = prev + 1 + (int64_t)od;
	int64_t td = (int64_t)(tz >> 1) ^ -(int64_t)(tz & 1);
	rec->timestamp = (int64_t)((uint64_t)(bs->seen == 0 ? h->base_timestamp : bs->prev_ts) + (uint64_t)td);
	if (rec->timestamp < h->min_timestamp || rec->timestamp > h->max_timestamp)
		return block_fail(diag, h, KT_ERR_FORMAT, "record timestamp outside the block's range");
	if (bs->seen == 0 && rec->offset != h->first_offset)
		return block_fail(diag, h, KT_ERR_FORMAT, "block's first offset differs from its header");
	bs->prev_ts = rec->timestamp;
	rec->ts_type = (enum kt_ts_type)(attr & KT_SEG_ATTR_TS_MASK);
	rec->headers = hc ? hdrs : NULL;
	rec->header_count = (size_t)hc;
	bs->prev_offset = rec->offset;
	bs->seen++;
	return KT_OK;
}

/* Decodes the next record of a v1 block: row by row from the payload. */
static enum kt_err decode_record_v1(struct block_state *bs, struct kt_buf *hbuf, struct kt_record *rec, int *done,
				    struct kt_diag *diag)
{
	const struct kt_block_info *h = &bs->hdr;
	*done = 0;
	if (kt_cursor_left(&bs->cur) == 0) {
		if (bs->seen != h->record_count)
			return block_fail(diag, h, KT_ERR_FORMAT, "block holds fewer records than its header says");
		if (bs->prev_offset != h->last_offset)
			return block_fail(diag, h, KT_ERR_FORMAT, "block's last offset differs from its header");
		*done = 1;
		return KT_OK;
	}
	if (bs->seen == h->record_count)
		return block_fail(diag, h, KT_ERR_FORMAT, "block holds more records than its header says");
	struct kt_cursor *c = &bs->cur;
	uint8_t attr = kt_cursor_u8(c);
	uint64_t od = kt_cursor_uvarint(c);
	uint64_t tz = kt_cursor_uvarint(c);
	rec->key = kt_cursor_nbytes(c, &rec->key_len, &rec->key_null);
	rec->value = kt_cursor_nbytes(c, &rec->value_len, &rec->value_null);
	uint64_t hc = kt_cursor_uvarint(c);
	if (c->err)
		return block_fail(diag, h, KT_ERR_FORMAT, "record is malformed");
	if (attr & KT_SEG_V1_ATTR_RESERVED || (attr & KT_SEG_ATTR_TS_MASK) == 3)
		return block_fail(diag, h, KT_ERR_FORMAT, "record has reserved attribute bits set");
	/* each header takes at least 2 bytes, which bounds the allocation */
	if (hc > kt_cursor_left(c) / 2)
		return block_fail(diag, h, KT_ERR_FORMAT, "record header count is invalid");
	kt_buf_reset(hbuf);
	if (hc && kt_buf_reserve(hbuf, (size_t)hc * sizeof(struct kt_header)))
		return block_fail(diag, h, KT_ERR_NOMEM, "cannot allocate record headers");
	struct kt_header *hdrs = (struct kt_header *)(void *)hbuf->data;
	for (uint64_t k = 0; k < hc; k++) {
		uint64_t nl = kt_cursor_uvarint(c);
		if (!c->err && nl > kt_cursor_left(c))
			c->err = KT_ERR_TRUNCATED;
		hdrs[k].name_len = c->err ? 0 : (size_t)nl;
		hdrs[k].name = kt_cursor_bytes(c, hdrs[k].name_len);
		hdrs[k].value = kt_cursor_nbytes(c, &hdrs[k].value_len, &hdrs[k].value_null);
		if (c->err)
			return block_fail(diag, h, KT_ERR_FORMAT, "record header is malformed");
	}
	if (attr & KT_SEG_V1_ATTR_EXTENSION) {
		/* fields of a newer minor version: skipped */
		uint64_t n = kt_cursor_uvarint(c);
		if (!c->err && n > kt_cursor_left(c))
			c->err = KT_ERR_TRUNCATED;
		kt_cursor_skip(c, c->err ? 0 : (size_t)n);
		if (c->err)
			return block_fail(diag, h, KT_ERR_FORMAT, "record extension is malformed");
	}
	return place_record(bs, od, tz, attr, hdrs, hc, rec, diag);
}

/* Row i of a column: its bytes from the planes, little-endian. */
static inline uint64_t column_value(const struct block_state *bs, unsigned c, uint64_t rows, uint64_t i)
{
	const uint8_t *p = bs->col[c] + i;
	uint64_t v = p[0];
	for (unsigned k = 1; k < bs->width[c]; k++)
		v |= (uint64_t)p[k * rows] << (8 * k);
	return v;
}

/* Takes a nullable field's bytes (stored length: 0 null, else length + 1)
 * from the payload. */
static const uint8_t *take_nbytes(struct kt_cursor *c, uint64_t stored, size_t *len, int *is_null)
{
	*is_null = stored == 0;
	*len = 0;
	if (stored == 0)
		return NULL;
	if (stored - 1 > kt_cursor_left(c)) {
		c->err = KT_ERR_TRUNCATED;
		return NULL;
	}
	*len = (size_t)(stored - 1);
	return kt_cursor_bytes(c, *len);
}

/* Decodes the next record of a v2 block: its fields from the table's row,
 * its bytes from the payload, in order. */
static enum kt_err decode_record_v2(struct block_state *bs, struct kt_buf *hbuf, struct kt_record *rec, int *done,
				    struct kt_diag *diag)
{
	const struct kt_block_info *h = &bs->hdr;
	struct kt_cursor *c = &bs->cur;
	*done = 0;
	uint64_t i = bs->seen, n = h->record_count;
	if (i == n) {
		if (kt_cursor_left(c))
			return block_fail(diag, h, KT_ERR_FORMAT, "block payload is longer than its records");
		*done = 1;
		return KT_OK;
	}
	uint64_t attr = column_value(bs, 0, n, i);
	uint64_t od = column_value(bs, 1, n, i);
	uint64_t tz = column_value(bs, 2, n, i);
	uint64_t hc = column_value(bs, 5, n, i);
	if (attr & ~(uint64_t)KT_SEG_ATTR_TS_MASK || (attr & KT_SEG_ATTR_TS_MASK) == 3)
		return block_fail(diag, h, KT_ERR_FORMAT, "record has reserved attribute bits set");
	rec->key = take_nbytes(c, column_value(bs, 3, n, i), &rec->key_len, &rec->key_null);
	rec->value = take_nbytes(c, column_value(bs, 4, n, i), &rec->value_len, &rec->value_null);
	if (c->err)
		return block_fail(diag, h, KT_ERR_FORMAT, "record runs past the block payload");
	/* the counts summed to header_total when the table was loaded */
	kt_buf_reset(hbuf);
	if (hc && kt_buf_reserve(hbuf, (size_t)hc * sizeof(struct kt_header)))
		return block_fail(diag, h, KT_ERR_NOMEM, "cannot allocate record headers");
	struct kt_header *hdrs = (struct kt_header *)(void *)hbuf->data;
	uint64_t rows = bs->header_total;
	for (uint64_t k = 0; k < hc; k++) {
		uint64_t row = bs->header_next++;
		uint64_t name_len = column_value(bs, 6, rows, row);
		if (name_len > kt_cursor_left(c))
			c->err = KT_ERR_TRUNCATED;
		hdrs[k].name_len = c->err ? 0 : (size_t)name_len;
		hdrs[k].name = kt_cursor_bytes(c, hdrs[k].name_len);
		hdrs[k].value = take_nbytes(c, column_value(bs, 7, rows, row), &hdrs[k].value_len, &hdrs[k].value_null);
		if (c->err)
			return block_fail(diag, h, KT_ERR_FORMAT, "record header runs past the block payload");
	}
	enum kt_err err = place_record(bs, od, tz, attr, hdrs, hc, rec, diag);
	if (!err && i + 1 == n && rec->offset != h->last_offset)
		return block_fail(diag, h, KT_ERR_FORMAT, "block's last offset differs from its header");
	return err;
}

/* Decodes the next record of bs into rec. Returns KT_OK with rec filled, or
 * KT_OK with *done set at the block's end after checking its totals. */
static enum kt_err decode_record(const struct kt_segment_reader *r, struct block_state *bs, struct kt_buf *hbuf,
				 struct kt_record *rec, int *done, struct kt_diag *diag)
{
	if (r->info.version_major == KT_SEG_V1_MAJOR)
		return decode_record_v1(bs, hbuf, rec, done, diag);
	return decode_record_v2(bs, hbuf, rec, done, diag);
}

enum kt_err kt_segment_reader_next(struct kt_segment_reader *r, const struct kt_record **out_rec, struct kt_diag *diag)
{
	*out_rec = NULL;
	for (;;) {
		if (r->iter.index == NO_BLOCK) {
			if (r->cur_block >= r->block_count)
				return KT_OK;
			uint32_t i = r->cur_block;
			const struct kt_block_info *b = &r->blocks[i];
			const struct kt_segment_filter *f = &r->filter;
			if (b->first_offset > f->to_offset) {
				r->cur_block = r->block_count;
				return KT_OK;
			}
			if (b->last_offset < f->from_offset || b->max_timestamp < f->from_ts ||
			    b->min_timestamp >= f->to_ts) {
				r->cur_block++;
				continue;
			}
			enum kt_err err = load_block(r, i, &r->iter, diag);
			if (err) {
				r->cur_block++;
				return err;
			}
		}
		int done;
		enum kt_err err = decode_record(r, &r->iter, &r->headers, &r->rec, &done, diag);
		if (err || done) {
			r->iter.index = NO_BLOCK;
			r->cur_block++;
			if (err)
				return err;
			continue;
		}
		const struct kt_segment_filter *f = &r->filter;
		if (r->rec.offset < r->skip_below || r->rec.offset < f->from_offset || r->rec.timestamp < f->from_ts ||
		    r->rec.timestamp >= f->to_ts)
			continue;
		if (r->rec.offset > f->to_offset) {
			r->iter.index = NO_BLOCK;
			r->cur_block = r->block_count;
			return KT_OK;
		}
		*out_rec = &r->rec;
		return KT_OK;
	}
}

void kt_segment_reader_set_filter(struct kt_segment_reader *r, const struct kt_segment_filter *f)
{
	r->filter = *f;
}

void kt_segment_reader_seek_block(struct kt_segment_reader *r, uint32_t i)
{
	r->iter.index = NO_BLOCK;
	r->cur_block = i;
	r->skip_below = INT64_MIN;
}

void kt_segment_reader_seek_offset(struct kt_segment_reader *r, int64_t offset)
{
	/* blocks are in offset order: binary search the first whose last offset
	 * reaches the target */
	uint32_t lo = 0, hi = r->block_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r->blocks[mid].last_offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	kt_segment_reader_seek_block(r, lo);
	r->skip_below = offset;
}

void kt_segment_reader_seek_time(struct kt_segment_reader *r, int64_t ts)
{
	uint32_t i = 0;
	while (i < r->block_count && r->blocks[i].max_timestamp < ts)
		i++;
	kt_segment_reader_seek_block(r, i);
}

enum kt_err kt_segment_reader_check_block(struct kt_segment_reader *r, uint32_t i, int deep, struct kt_diag *diag)
{
	if (i >= r->block_count)
		return kt_diag_fail(diag, KT_ERR_INVALID, "no block %u", i);
	enum kt_err err = load_block(r, i, &r->check, diag);
	if (err == KT_ERR_INVALID && r->info.encrypted && !r->opts.key) {
		/* no key: load_block checked every CRC before it asked for one */
		return KT_OK;
	}
	if (err || !deep)
		return err;
	struct kt_record rec;
	for (;;) {
		int done;
		err = decode_record(r, &r->check, &r->check_headers, &rec, &done, diag);
		if (err || done)
			return err;
	}
}
