/* kt_import.h - the import engine: turns a stream of records in a text
 * format (ktape cat's JSON lines, kcat -J, kafka-console-consumer output)
 * into an archive, as one run of kind "import" (issue #17).
 *
 * Owns: struct kt_import_result after it returns (nothing to free). Prints
 * nothing and touches no file itself: the input comes through the read
 * callback, the output goes through the archive module.
 *
 * A bad line fails the whole run (KT_ERR_INVALID naming the line, nothing
 * committed) unless skip_bad allows it; each skipped one goes to
 * on_warning. Segments stay under tmp/ until the input is read to its end,
 * so a failure or a crash commits nothing.
 */
#ifndef KT_IMPORT_H
#define KT_IMPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kt_crypto.h"
#include "kt_error.h"
#include "kt_import_parse.h"

struct kt_import_opts {
	const char *archive;
	const char *topic;
	struct kt_import_format fmt;
	int32_t partitions; /* 0: not given; records without a partition then need no key */
	uint64_t skip_bad;  /* bad lines allowed (each reported) */
	int zstd_level;
	size_t block_bytes;
	uint64_t segment_bytes; /* raw bytes per segment before rolling over; 0: 256 MiB */
	int threads;		/* parser threads; 1: all on the calling thread; 0: one per CPU */
	/* reads up to n bytes into buf: the count, 0 at the end, -1 on error
	 * (errno set) */
	ssize_t (*read)(void *ctx, void *buf, size_t n);
	void *read_ctx;
	const char *input_name; /* for messages: "-" or the file */
	const char *args;	/* command line for the run record */
	const char *tool_version;
	const struct kt_crypto_key *key; /* borrowed; NULL: no encryption */
	void (*on_warning)(void *ctx, const char *msg);
	void *cb_ctx;
};

struct kt_import_result {
	int64_t run_id;
	uint64_t lines;
	uint64_t records;
	uint64_t skipped;
	uint64_t payload_bytes;
	uint64_t file_bytes;
	int segments;
	int partitions; /* partitions that got records */
	/* what the source lacked, in records */
	uint64_t no_offset, no_partition, no_timestamp;
	int64_t import_time_ms; /* the timestamp given to records without one */
	double seconds;
	char message[KT_DIAG_MSG_MAX]; /* the run's message: what the source lacked */
};

enum kt_err kt_import_run(const struct kt_import_opts *opts, struct kt_import_result *res, struct kt_diag *diag);

#endif
