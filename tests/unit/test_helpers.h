/* test_helpers.h - small fixtures shared by the unit tests: temporary
 * directories, record comparison, file bytes. */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "kt_record.h"

/* A fresh directory under $TMPDIR; the caller removes it with th_rmrf. */
char *th_mkdtemp(void);
void th_rmrf(const char *path);
/* 1 when every field of the two records is equal (null vs empty too). */
int th_record_equal(const struct kt_record *a, const struct kt_record *b);
uint8_t *th_read(const char *path, size_t *len);
void th_write(const char *path, const void *data, size_t len);

#endif
