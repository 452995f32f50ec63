/* vector_defs.h - the records of the golden vectors in format/vectors/,
 * defined once in C. gen_vectors writes the files from them; the unit tests
 * write them again and compare bytes, and decode the files and compare
 * records. */
#ifndef VECTOR_DEFS_H
#define VECTOR_DEFS_H

#include <stddef.h>

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
};

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
