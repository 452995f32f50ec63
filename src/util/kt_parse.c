#include "kt_parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kt_err kt_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, struct kt_diag *diag)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a number", s ? s : "");
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end || errno)
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a whole number", s);
	if (v < min || v > max)
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s is out of range (%" PRId64 "..%" PRId64 ")", s, min, max);
	*out = v;
	return KT_OK;
}

enum kt_err kt_parse_double(const char *s, double min, double max, double *out, struct kt_diag *diag)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a number", s ? s : "");
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (*end || errno || v != v)
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a number", s);
	if (v < min || v > max)
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s is out of range (%g..%g)", s, min, max);
	*out = v;
	return KT_OK;
}

enum kt_err kt_parse_size(const char *s, uint64_t *out, struct kt_diag *diag)
{
	if (!s || !isdigit((unsigned char)*s))
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a size (expected e.g. 500K, 10M, 1G)",
				    s ? s : "");
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	uint64_t mult = 1;
	if (*end == 'K' || *end == 'k')
		mult = 1024;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mult = 1024ull * 1024 * 1024;
	else if (*end)
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a size (expected e.g. 500K, 10M, 1G)", s);
	if (mult > 1 && end[1])
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a size (expected e.g. 500K, 10M, 1G)", s);
	if (errno || (v && mult > UINT64_MAX / v))
		return kt_diag_fail(diag, KT_ERR_INVALID, "size '%s' is too large", s);
	*out = v * mult;
	return KT_OK;
}

enum kt_err kt_parse_duration_ms(const char *s, int64_t *out_ms, struct kt_diag *diag)
{
	if (!s || !isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	int64_t unit;
	if (!strcmp(end, "ms"))
		unit = 1;
	else if (!strcmp(end, "s") || !*end)
		unit = 1000;
	else if (!strcmp(end, "m"))
		unit = 60 * 1000;
	else if (!strcmp(end, "h"))
		unit = 3600 * 1000;
	else if (!strcmp(end, "d"))
		unit = 86400 * 1000;
	else
		goto bad;
	if (errno || v > INT64_MAX / unit)
		goto bad;
	*out_ms = v * unit;
	return KT_OK;
bad:
	return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a duration (expected e.g. 500ms, 30s, 5m, 2h, 7d)",
			    s ? s : "");
}

int64_t kt_parse_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm: shift the year to start in March so the
	 * leap day is the last day of the year. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n digits. */
static int read_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return 0;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 1;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dm[m - 1];
}

static enum kt_err parse_iso(const char *s, int64_t *out_ms, struct kt_diag *diag)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
	    !read_digits(&p, 2, &d))
		goto bad;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		goto bad;
	int64_t offset_min = 0;
	if (*p) {
		if (*p != 'T' && *p != 't' && *p != ' ')
			goto bad;
		p++;
		if (!read_digits(&p, 2, &h) || *p++ != ':' || !read_digits(&p, 2, &mi))
			goto bad;
		if (*p == ':') {
			p++;
			if (!read_digits(&p, 2, &sec))
				goto bad;
			if (*p == '.' || *p == ',') {
				p++;
				int n = 0;
				while (isdigit((unsigned char)*p)) {
					if (n < 3)
						ms = ms * 10 + (*p - '0');
					n++;
					p++;
				}
				if (n == 0)
					goto bad;
				for (; n < 3; n++)
					ms *= 10;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			goto bad;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1;
			int oh, om;
			p++;
			if (!read_digits(&p, 2, &oh))
				goto bad;
			if (*p == ':')
				p++;
			if (!read_digits(&p, 2, &om) || oh > 23 || om > 59)
				goto bad;
			offset_min = sign * (oh * 60 + om);
		} else if (!*p) {
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "time '%s' has no zone: add Z for UTC or an offset like +09:00", s);
		} else {
			goto bad;
		}
		if (*p)
			goto bad;
	}
	int64_t days = kt_parse_days_from_civil(y, (unsigned)mo, (unsigned)d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
	*out_ms = secs * 1000 + ms;
	return KT_OK;
bad:
	return kt_diag_fail(diag, KT_ERR_INVALID,
			    "'%s' is not a time (expected ISO 8601 like 2026-11-22T10:00:00Z, @EPOCH_MS, "
			    "or relative like -24h)",
			    s);
}

enum kt_err kt_parse_time(const char *s, int64_t now_ms, int64_t *out_ms, struct kt_diag *diag)
{
	if (!s || !*s)
		return kt_diag_fail(diag, KT_ERR_INVALID, "empty time value");
	if (!strcmp(s, "now")) {
		*out_ms = now_ms;
		return KT_OK;
	}
	if (s[0] == '@') {
		int64_t v;
		if (kt_parse_i64(s + 1, 0, INT64_MAX, &v, NULL))
			return kt_diag_fail(
				diag, KT_ERR_INVALID,
				"'%s' is not an epoch time (expected @ and milliseconds, e.g. @1763805600000)", s);
		*out_ms = v;
		return KT_OK;
	}
	if (s[0] == '-' && isdigit((unsigned char)s[1])) {
		int64_t d;
		if (isdigit((unsigned char)s[strlen(s) - 1]) || kt_parse_duration_ms(s + 1, &d, NULL))
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "'%s' is not a relative time (expected e.g. -90s, -30m, -24h, -7d)", s);
		*out_ms = now_ms - d;
		return KT_OK;
	}
	return parse_iso(s, out_ms, diag);
}

char *kt_parse_format_time(int64_t ms, char *buf)
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int frac = (int)(ms - secs * 1000);
	int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	int64_t rem = secs - days * 86400;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	/* years outside 0..9999 cannot occur in Kafka timestamps we accept, but
	 * clamp anyway so the output always fits */
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	snprintf(buf, KT_TIME_STR_MAX, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m % 13, d % 32,
		 (int)(rem / 3600) % 24, (int)(rem / 60 % 60), (int)(rem % 60), frac % 1000);
	return buf;
}

char *kt_parse_format_size(uint64_t bytes, char *buf, size_t bufsize)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, bufsize, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, bufsize, "%.1f %s", v, units[u]);
	return buf;
}

int kt_parse_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
