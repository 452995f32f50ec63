/* kt_inspect_rows.h - what the inspect engines share (internal to
 * src/inspect): the catalog's rows of segments, partition progress and
 * missing ranges, loaded once and walked per (topic, generation,
 * partition), and a growable-array helper.
 *
 * Owns: struct rows and everything it points to (names, paths, reasons),
 * freed by kt_inspect_rows_free. Rows are sorted by topic, generation,
 * partition (the catalog's order).
 */
#ifndef KT_INSPECT_ROWS_H
#define KT_INSPECT_ROWS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kt_catalog.h"
#include "kt_error.h"
#include "kt_segment.h"

#define PATH_BUF 4096

/* Appends one element to a growable array of elements of size sz. */
static inline void *grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return arr;
	size_t nc = *cap ? *cap * 2 : 16;
	void *na = realloc(arr, nc * sz);
	if (na)
		*cap = nc;
	return na;
}

#define PUSH(arr, n, cap, err)                                                                                         \
	do {                                                                                                           \
		void *na_ = grow((arr), &(cap), (n), sizeof(*(arr)));                                                  \
		if (!na_)                                                                                              \
			(err) = KT_ERR_NOMEM;                                                                          \
		else                                                                                                   \
			(arr) = na_;                                                                                   \
	} while (0)

/* Topic names repeat row after row (the catalog returns them sorted), so a
 * row shares the previous row's copy when the name is the same. */
struct names {
	char **v;
	size_t n, cap;
};

struct seg_row {
	const char *topic; /* interned */
	char *path;
	int64_t segment_id;
	uint32_t gen;
	int32_t part;
	int64_t run_id;
	struct kt_segment_summary sum;
};

struct prun_row {
	const char *topic; /* interned */
	uint32_t gen;
	int32_t part;
	int64_t run_id;
	int64_t from, done_end;
	int64_t lost_from, lost_end;
};

/* Offsets the archive can no longer deliver (catalog missing_ranges). */
struct miss_row {
	const char *topic; /* interned */
	uint32_t gen;
	int32_t part;
	int64_t first, last;
	char *path;
	char *reason;
};

/* The rows of one (topic, generation, partition). */
struct key_rows {
	const struct seg_row *segs;
	size_t nseg;
	const struct prun_row *pr;
	size_t npr;
	const struct miss_row *miss;
	size_t nmiss;
};

struct rows {
	struct names names;
	struct seg_row *segs;
	size_t nseg, segcap;
	struct prun_row *pruns;
	size_t nprun, pruncap;
	struct miss_row *miss;
	size_t nmiss, misscap;
	int want_paths;
	enum kt_err err;
};

struct pkey {
	const char *topic;
	uint32_t gen;
	int32_t part;
};

/* Walks the union of keys of the three sorted lists: calls fn once per
 * distinct (topic, generation, partition) with its rows of each list. */
typedef enum kt_err (*kt_inspect_key_fn)(void *ctx, const struct pkey *k, const struct key_rows *kr);

enum kt_err kt_inspect_rows_load(struct kt_catalog *cat, int want_paths, int want_pruns, struct rows *r,
				 struct kt_diag *diag);
void kt_inspect_rows_free(struct rows *r);
enum kt_err kt_inspect_each_key(const struct rows *r, kt_inspect_key_fn fn, void *ctx);
int kt_inspect_key_cmp(const char *ta, uint32_t ga, int32_t pa, const char *tb, uint32_t gb, int32_t pb);
enum kt_err kt_inspect_check_topics(const struct rows *r, const char *const *topics, size_t n, struct kt_diag *diag);
int kt_inspect_topic_selected(const char *const *topics, size_t n, const char *t);

#endif
