/* kt_record.h - one Kafka record as ktape keeps it.
 *
 * Owns: struct kt_record and struct kt_header, plain views over bytes that
 * belong to someone else (the segment reader's block buffer, a Kafka
 * message, a test fixture). Topic and partition are not in the record: a
 * segment file holds one topic-partition and says so in its header.
 *
 * Null and empty are different things in Kafka and here: a null key has
 * key_null = 1 (key and key_len are then NULL and 0); an empty key has
 * key_null = 0 and key_len = 0.
 */
#ifndef KT_RECORD_H
#define KT_RECORD_H

#include <stddef.h>
#include <stdint.h>

enum kt_ts_type {
	KT_TS_NONE = 0,	      /* the record carries no timestamp (message format v0) */
	KT_TS_CREATE = 1,     /* CreateTime, set by the producer */
	KT_TS_LOG_APPEND = 2, /* LogAppendTime, set by the broker */
};

struct kt_header {
	const uint8_t *name; /* never null in Kafka; may be empty */
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
	int value_null;
};

struct kt_record {
	int64_t offset;
	int64_t timestamp; /* milliseconds since the epoch; -1 when ts_type is NONE */
	enum kt_ts_type ts_type;
	const uint8_t *key;
	size_t key_len;
	int key_null;
	const uint8_t *value;
	size_t value_len;
	int value_null;
	const struct kt_header *headers;
	size_t header_count;
};

/* Bytes of key, value and headers: what "raw bytes" counts mean everywhere. */
static inline uint64_t kt_record_payload_bytes(const struct kt_record *rec)
{
	uint64_t n = rec->key_len + rec->value_len;
	for (size_t i = 0; i < rec->header_count; i++)
		n += rec->headers[i].name_len + rec->headers[i].value_len;
	return n;
}

#endif
