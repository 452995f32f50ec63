/* kt_import_parse.h - one line of an import source as a record: the JSON
 * lines of `ktape cat --format json`, kcat's -J envelope, and the layouts of
 * kafka-console-consumer's DefaultMessageFormatter; and the partition Kafka's
 * Java default partitioner gives a key (murmur2).
 *
 * Owns: struct kt_import_line, the parsed record and the memory its fields
 * point into (its scratch: strings, decoded base64; headers), valid until
 * the next parse or kt_import_line_free. Console lines point into the input
 * line itself, which the caller keeps until the next parse. struct
 * kt_import_parser: jansson's memory while a line is parsed.
 */
#ifndef KT_IMPORT_PARSE_H
#define KT_IMPORT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "kt_buf.h"
#include "kt_error.h"
#include "kt_record.h"

enum kt_import_kind {
	KT_IMPORT_JSON,	     /* ktape cat --format json */
	KT_IMPORT_KCAT_JSON, /* kcat -J */
	KT_IMPORT_CONSOLE,   /* kafka-console-consumer */
};

/* A source format; for console, the formatter's properties (its
 * --property names, defaults as Kafka's: value only, key.separator a tab,
 * headers.separator ",", headers.key.separator ":", null.literal "null"). */
struct kt_import_format {
	enum kt_import_kind kind;
	int print_timestamp, print_partition, print_offset, print_headers, print_key, print_value;
	const char *key_separator;
	const char *headers_separator;
	const char *headers_key_separator;
	const char *null_literal;
};
void kt_import_format_init(struct kt_import_format *f, enum kt_import_kind kind);
/* Takes "print.key=true,key.separator=|,..." (the names of
 * kafka-console-consumer's --property); KT_ERR_INVALID naming an unknown
 * one. The strings point into props, which must outlive f. */
enum kt_err kt_import_format_console_props(struct kt_import_format *f, char *props, struct kt_diag *diag);

struct kt_import_line {
	struct kt_record rec;
	int has_offset, has_partition, has_timestamp;
	int32_t partition;
	/* owned */
	struct kt_header *headers;
	size_t header_cap;
	struct kt_buf scratch; /* the record's bytes: strings, decoded base64, kcat's bytes */
	struct kt_buf mapped;  /* a kcat line with bytes that are not UTF-8 escaped for jansson */
	/* only while a parse runs */
	void *doc;	 /* the jansson document */
	int doc_strings; /* leave strings in the document (kcat_unmap copies them) */
};
void kt_import_line_init(struct kt_import_line *l);
void kt_import_line_free(struct kt_import_line *l);

/* A parser: the format, and the arena jansson allocates from while it
 * parses. One per thread; lines parsed by one may be read on another. */
struct kt_import_parser;
enum kt_err kt_import_parser_new(const struct kt_import_format *f, struct kt_import_parser **out);
void kt_import_parser_free(struct kt_import_parser *p); /* NULL: nothing */
/* Parses one line (without its newline) into out, whose record stays valid
 * until out's next parse (console fields point into the line, which the
 * caller keeps as long). KT_ERR_INVALID with what is wrong (without the
 * line number, which the caller adds). */
enum kt_err kt_import_parse(struct kt_import_parser *p, const char *line, size_t len, struct kt_import_line *out,
			    struct kt_diag *diag);

/* MurmurHash2 (32-bit, seed 0x9747b28c) as Kafka's Utils.murmur2, and the
 * partition its default partitioner gives a key: (h & 0x7fffffff) % n. */
uint32_t kt_import_murmur2(const uint8_t *data, size_t len);
int32_t kt_import_partition_for_key(const uint8_t *key, size_t len, int32_t partitions);

#endif
