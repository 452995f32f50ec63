#include "test_helpers.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *th_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path;
	if (asprintf(&path, "%s/ktape-test-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		abort();
	if (!mkdtemp(path))
		abort();
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void th_rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int bytes_equal(const uint8_t *a, size_t al, int an, const uint8_t *b, size_t bl, int bn)
{
	if (an || bn)
		return an == bn;
	return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

int th_record_equal(const struct kt_record *a, const struct kt_record *b)
{
	if (a->offset != b->offset || a->timestamp != b->timestamp || a->ts_type != b->ts_type ||
	    a->header_count != b->header_count)
		return 0;
	if (!bytes_equal(a->key, a->key_len, a->key_null, b->key, b->key_len, b->key_null) ||
	    !bytes_equal(a->value, a->value_len, a->value_null, b->value, b->value_len, b->value_null))
		return 0;
	for (size_t i = 0; i < a->header_count; i++) {
		const struct kt_header *x = &a->headers[i], *y = &b->headers[i];
		if (!bytes_equal(x->name, x->name_len, 0, y->name, y->name_len, 0) ||
		    !bytes_equal(x->value, x->value_len, x->value_null, y->value, y->value_len, y->value_null))
			return 0;
	}
	return 1;
}

uint8_t *th_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *data = malloc((size_t)n + 1);
	if (fread(data, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return data;
}

void th_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len)
		abort();
	fclose(f);
}
