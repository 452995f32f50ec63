/* kt_parse.h - strict parsers for what users type: integers, sizes, times.
 *
 * Strict means the whole string must be consumed: "12x", "", " 5" and values
 * out of range are KT_ERR_INVALID with a message that names the value and
 * says what would be right.
 */
#ifndef KT_PARSE_H
#define KT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "kt_error.h"

/* The value of one hexadecimal digit (0-9, a-f, A-F), -1 for any other character. */
int kt_parse_hex_digit(int c);
enum kt_err kt_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, struct kt_diag *diag);
/* A size: digits with an optional K, M or G suffix (powers of 1024). */
enum kt_err kt_parse_size(const char *s, uint64_t *out, struct kt_diag *diag);
/* A decimal number >= 0 such as "10" or "2.5". */
enum kt_err kt_parse_double(const char *s, double min, double max, double *out, struct kt_diag *diag);
/* A duration: digits with a unit ms, s, m, h or d (e.g. "30s", "5m"). */
enum kt_err kt_parse_duration_ms(const char *s, int64_t *out_ms, struct kt_diag *diag);

/* A point in time, as milliseconds since the Unix epoch (UTC):
 *   ISO 8601: 2026-11-22T10:00:00Z, 2026-11-22T10:00:00.250+09:00,
 *             2026-11-22T10:00Z, 2026-11-22 (midnight UTC)
 *   @EPOCH_MS: @1763805600000
 *   relative to now_ms: -24h, -30m, -7d, -90s, now
 * A date-time without a zone is refused: cron jobs run in unknown zones. */
enum kt_err kt_parse_time(const char *s, int64_t now_ms, int64_t *out_ms, struct kt_diag *diag);

#define KT_TIME_STR_MAX 32
/* Writes ms as "2026-11-22T10:00:00.250Z" into buf (>= KT_TIME_STR_MAX). */
char *kt_parse_format_time(int64_t ms, char *buf);
/* Human size: "1.5 MiB". buf >= 16 bytes. */
char *kt_parse_format_size(uint64_t bytes, char *buf, size_t bufsize);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t kt_parse_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
