#include "kt_record_json.h"

#include <inttypes.h>

#include "kt_json.h"

const char *kt_ts_type_name(enum kt_ts_type t)
{
	switch (t) {
	case KT_TS_CREATE: return "CreateTime";
	case KT_TS_LOG_APPEND: return "LogAppendTime";
	default: return "NoTimestampType";
	}
}

enum kt_err kt_record_json(struct kt_buf *buf, const char *topic, int32_t partition, const struct kt_record *rec)
{
	enum kt_err err = kt_buf_append(buf, "{\"topic\":", 9);
	err = err ? err : kt_json_cstr(buf, topic);
	err = err ? err
		  : kt_buf_printf(buf,
				  ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"timestamp\":%" PRId64
				  ",\"timestamp_type\":\"%s\",\"key\":",
				  partition, rec->offset, rec->timestamp, kt_ts_type_name(rec->ts_type));
	err = err ? err : kt_json_bytes(buf, rec->key, rec->key_len, rec->key_null);
	err = err ? err : kt_buf_append(buf, ",\"value\":", 9);
	err = err ? err : kt_json_bytes(buf, rec->value, rec->value_len, rec->value_null);
	err = err ? err : kt_buf_append(buf, ",\"headers\":[", 12);
	for (size_t i = 0; !err && i < rec->header_count; i++) {
		const struct kt_header *h = &rec->headers[i];
		err = kt_buf_append(buf, i ? ",[" : "[", i ? 2 : 1);
		err = err ? err : kt_json_bytes(buf, h->name, h->name_len, 0);
		err = err ? err : kt_buf_append_u8(buf, ',');
		err = err ? err : kt_json_bytes(buf, h->value, h->value_len, h->value_null);
		err = err ? err : kt_buf_append_u8(buf, ']');
	}
	err = err ? err : kt_buf_append(buf, "]}\n", 3);
	return err;
}
