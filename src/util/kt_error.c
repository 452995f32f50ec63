#include "kt_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_desc {
	const char *name;
	const char *str;
};

static const struct err_desc err_table[] = {
	[KT_OK] = {"ok", "success"},
	[KT_ERR_NOMEM] = {"nomem", "out of memory"},
	[KT_ERR_IO] = {"io", "input/output error"},
	[KT_ERR_INVALID] = {"invalid", "invalid argument"},
	[KT_ERR_FORMAT] = {"format", "malformed archive data"},
	[KT_ERR_CHECKSUM] = {"checksum", "checksum mismatch"},
	[KT_ERR_TRUNCATED] = {"truncated", "data is truncated"},
	[KT_ERR_VERSION] = {"version", "unsupported format version"},
	[KT_ERR_LIMIT] = {"limit", "size limit exceeded"},
	[KT_ERR_CATALOG] = {"catalog", "catalog database error"},
	[KT_ERR_LOCKED] = {"locked", "archive is locked by another process"},
	[KT_ERR_KAFKA] = {"kafka", "Kafka error"},
	[KT_ERR_NOT_FOUND] = {"not_found", "not found"},
	[KT_ERR_EXISTS] = {"exists", "already exists"},
	[KT_ERR_INTERRUPTED] = {"interrupted", "interrupted"},
	[KT_ERR_TIMEOUT] = {"timeout", "timed out"},
	[KT_ERR_STATE] = {"state", "operation not valid in this state"},
	[KT_ERR_DATA_LOST] = {"data_lost", "data was lost before it could be read"},
	[KT_ERR_NO_SPACE] = {"no_space", "no space left on device"},
	[KT_ERR_KEY] = {"key", "encrypted with another key"},
	[KT_ERR_MISMATCH] = {"mismatch", "data does not match"},
	[KT_ERR_STORAGE] = {"storage", "the object store refused the request"},
};

const char *kt_err_name(enum kt_err err)
{
	if ((unsigned)err >= sizeof(err_table) / sizeof(err_table[0]) || !err_table[err].name)
		return "unknown";
	return err_table[err].name;
}

const char *kt_err_str(enum kt_err err)
{
	if ((unsigned)err >= sizeof(err_table) / sizeof(err_table[0]) || !err_table[err].str)
		return "unknown error";
	return err_table[err].str;
}

void kt_diag_clear(struct kt_diag *diag)
{
	if (!diag)
		return;
	diag->msg[0] = '\0';
	diag->path[0] = '\0';
	diag->block = -1;
	diag->pos = -1;
}

enum kt_err kt_diag_fail(struct kt_diag *diag, enum kt_err err, const char *fmt, ...)
{
	if (!diag)
		return err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
	va_end(ap);
	return err;
}

void kt_diag_set_path(struct kt_diag *diag, const char *path)
{
	if (!diag)
		return;
	snprintf(diag->path, sizeof(diag->path), "%s", path ? path : "");
}

void kt_diag_set_where(struct kt_diag *diag, int64_t block, int64_t pos)
{
	if (!diag)
		return;
	diag->block = block;
	diag->pos = pos;
}

void kt_diag_prefix(struct kt_diag *diag, const char *fmt, ...)
{
	if (!diag)
		return;
	char prefix[KT_DIAG_MSG_MAX];
	char old[KT_DIAG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, diag->msg, sizeof(old));
	size_t n = strlen(prefix);
	if (n > sizeof(diag->msg) - 3)
		n = sizeof(diag->msg) - 3;
	memcpy(diag->msg, prefix, n);
	memcpy(diag->msg + n, ": ", 2);
	size_t room = sizeof(diag->msg) - n - 2;
	size_t m = strnlen(old, room - 1);
	memcpy(diag->msg + n + 2, old, m);
	diag->msg[n + 2 + m] = '\0';
}
