/* kt_segment.h - constants and shared structures of the segment file
 * format, version 2, and what a reader needs of version 1 (format/SPEC.md is the normative description; this
 * header and the spec must agree, and tests/unit/test_vectors.c proves it
 * against the golden vectors in format/vectors/).
 *
 * A segment file is a sequence of zstd frames:
 *   header frame (skippable, tag KTSH)
 *   block: block header frame (skippable, KTBH) + one zstd data frame   (1..n)
 *   footer frame (skippable, KTFT)
 * Every ktape frame ends with a CRC-32C of its content; every data frame is
 * covered by the CRC-32C in its block header.
 *
 * Version 2 (what ktape writes): a data frame holds only the records' bytes
 * (key, value, header names and values, back to back); the block header
 * carries the record table (offsets, timestamps, lengths) as a zstd frame
 * of byte-plane columns. Version 2.1 (with a key): the same, with the
 * record table and the data frame of every block sealed (SPEC 4.6).
 * Version 1 (read only): the data frame holds the
 * records row by row, each with its own varint fields.
 */
#ifndef KT_SEGMENT_H
#define KT_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define KT_SEG_VERSION_MAJOR 2 /* what the writer writes */
#define KT_SEG_VERSION_MINOR 1 /* the newest minor of major 2 this code knows */
#define KT_SEG_MINOR_PLAIN   0 /* what the writer writes without a key: 2.0 */
#define KT_SEG_MINOR_CRYPT   1 /* with a key: 2.1, encrypted blocks (SPEC 4.6) */
#define KT_SEG_V1_MAJOR	     1 /* still read */
#define KT_SEG_V1_MINOR	     0 /* version 1 ended at 1.0 */

#define KT_SEG_SKIPPABLE_MAGIC 0x184D2A5Bu /* the skippable frame magic ktape uses */
#define KT_SEG_SKIPPABLE_MASK  0xFFFFFFF0u /* any 0x184D2A5? is a skippable frame */
#define KT_SEG_SKIPPABLE_ANY   0x184D2A50u
#define KT_SEG_ZSTD_MAGIC      0xFD2FB528u

#define KT_SEG_TAG_HEADER "KTSH"
#define KT_SEG_TAG_BLOCK  "KTBH"
#define KT_SEG_TAG_FOOTER "KTFT"
#define KT_SEG_END_MAGIC  "KTND"

#define KT_SEG_CODEC_ZSTD 1

/* Header flags. Readers refuse a file with a flag they do not know, so a
 * flag is how a minor version makes files that older readers refuse (2.0
 * readers refuse every flag) instead of misreading them. */
#define KT_SEG_FLAG_ENCRYPTED 0x0001 /* 2.1: blocks sealed with XChaCha20-Poly1305 */
#define KT_SEG_FLAGS_KNOWN    KT_SEG_FLAG_ENCRYPTED
#define KT_SEG_KEY_ID_SIZE    8	 /* after the topic in an encrypted header, first in each block's extension */
#define KT_SEG_CRYPT_EXT      56 /* key id + table nonce + data nonce, after table_raw_size */
#define KT_SEG_CRYPT_TAG      16 /* the AEAD tag after each sealed part */

#define KT_SEG_FRAME_HEADER_SIZE    8	/* magic + size */
#define KT_SEG_BLOCK_HEADER_CONTENT 68	/* KTBH frame_size in v1.0; the least of any version */
#define KT_SEG_BLOCK_HEADER_V2	    76	/* KTBH frame_size in v2.0 without the record table */
#define KT_SEG_TABLE_COLUMNS	    8	/* columns of the v2.0 record table */
#define KT_SEG_FOOTER_ENTRY_SIZE    52	/* one block index entry in v1.0 */
#define KT_SEG_FOOTER_TAIL	    12	/* frame size + "KTND" + crc, at the very end */
#define KT_SEG_TOPIC_MAX	    249 /* Kafka's own limit on topic names */

/* Record attribute bits (one byte per record). */
#define KT_SEG_ATTR_TS_MASK	 0x03
#define KT_SEG_V1_ATTR_EXTENSION 0x80 /* v1: a uvarint length and that many bytes end the record */
#define KT_SEG_V1_ATTR_RESERVED	 0x7C

/* What the block index knows of one block: in the footer, in each block's
 * header, and in the catalog. */
struct kt_block_info {
	uint64_t pos; /* file position of the block header frame */
	uint32_t index;
	uint32_t record_count;
	uint32_t compressed_size; /* bytes of the zstd data frame */
	uint32_t raw_size;	  /* bytes of the decompressed record payload */
	int64_t first_offset;
	int64_t last_offset;
	int64_t min_timestamp;
	int64_t max_timestamp;
	int64_t base_timestamp; /* timestamp of the block's first record */
	uint32_t data_crc;	/* CRC-32C of the zstd data frame */
};

/* What a whole segment holds; written into the footer and the catalog. */
struct kt_segment_summary {
	uint64_t record_count;
	uint64_t raw_bytes;	/* sum of blocks' raw_size */
	uint64_t file_bytes;	/* size of the finished file */
	uint64_t payload_bytes; /* sum of key+value+header bytes */
	int64_t first_offset;
	int64_t last_offset;
	int64_t min_timestamp;
	int64_t max_timestamp;
	uint32_t block_count;
	uint32_t file_crc; /* CRC-32C of the footer frame (identifies the file) */
};

#endif
