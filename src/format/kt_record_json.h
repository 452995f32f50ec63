/* kt_record_json.h - one record as one line of JSON, the representation of
 * `ktape cat --format json` and of the golden vectors (format/SPEC.md,
 * "JSON lines"). Keys in this order: topic, partition, offset, timestamp,
 * timestamp_type, key, value, headers.
 */
#ifndef KT_RECORD_JSON_H
#define KT_RECORD_JSON_H

#include "kt_buf.h"
#include "kt_record.h"

const char *kt_ts_type_name(enum kt_ts_type t); /* "CreateTime", ... */
/* Appends the JSON object and a newline. */
enum kt_err kt_record_json(struct kt_buf *buf, const char *topic, int32_t partition, const struct kt_record *rec);

#endif
