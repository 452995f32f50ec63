/* vector_defs.h - the records of the golden vectors in format/vectors/,
 * defined once in C. gen_vectors writes the files from them; the unit tests
 * write them again and compare bytes, and decode the files and compare
 * records. */
#ifndef VECTOR_DEFS_H
#define VECTOR_DEFS_H

#include <stddef.h>
#include <stdint.h>

#include "kt_record.h"

struct vector_def {
	const char *name; /* file stem in format/vectors/ */
	const char *topic;
	int partition;
	unsigned generation;
	int zstd_level;
	size_t block_bytes;
	size_t record_count;
	const struct kt_record *records;
	/* 0: a plain 2.0 file. Otherwise a 2.1 file encrypted with vector_key,
	 * its nonces made by vector_nonce from this number (one per file, so
	 * that no two vectors share a nonce under the one key) */
	unsigned nonce_file;
};

/* The key of the encrypted vectors: bytes 0x00 to 0x1f (key id
 * 5919b3ca611696f4), also in format/vectors/encrypted.key. Public: these
 * files only show the layout. */
extern const uint8_t vector_key[32];
/* Deterministic nonces for the vectors (SPEC 12): nonce n of file f is
 * u32le f, u32le n, then 16 zero bytes; n counts from 0 in the order the
 * writer asks (table, then data, block by block). ctx: a struct
 * vector_nonces. Real files use random nonces. */
struct vector_nonces {
	unsigned file;
	uint32_t next;
};
void vector_nonce(void *ctx, uint8_t nonce[24]);

/* The well-formed vectors; NULL-terminated by name. The records stay valid
 * for the life of the process. */
const struct vector_def *vector_defs(void);
const struct vector_def *vector_def_find(const char *name);

/* The damaged vectors, made from "multiblock" by a fixed edit. */
struct damaged_def {
	const char *name;
	const char *what; /* one line for the vectors README */
};
extern const struct damaged_def damaged_defs[];

#endif
