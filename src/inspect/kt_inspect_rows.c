/* kt_inspect_rows.c - the catalog rows the inspect engines share, and the walk over their keys. */
#include "kt_inspect.h"
#include "kt_inspect_rows.h"
#include "kt_sort.h"

#include <stdio.h>
#include <string.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_segment_reader.h"

/* ---- rows read from the catalog ---- */

static const char *intern(struct names *nm, const char *s)
{
	if (nm->n && !strcmp(nm->v[nm->n - 1], s))
		return nm->v[nm->n - 1];
	void *na = grow(nm->v, &nm->cap, nm->n, sizeof(*nm->v));
	if (!na)
		return NULL;
	nm->v = na;
	char *c = strdup(s);
	if (c)
		nm->v[nm->n++] = c;
	return c;
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

static int seg_row_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct rows *r = ctx;
	PUSH(r->segs, r->nseg, r->segcap, r->err);
	if (r->err)
		return 1;
	struct seg_row *row = &r->segs[r->nseg];
	row->topic = intern(&r->names, s->topic);
	row->path = r->want_paths ? strdup(s->path) : NULL;
	if (!row->topic || (r->want_paths && !row->path)) {
		free(row->path);
		r->err = KT_ERR_NOMEM;
		return 1;
	}
	row->segment_id = s->segment_id;
	row->gen = s->generation;
	row->part = s->partition;
	row->run_id = s->run_id;
	row->sum = s->sum;
	r->nseg++;
	return 0;
}

static int prun_row_cb(void *ctx, const struct kt_catalog_prun *p)
{
	struct rows *r = ctx;
	PUSH(r->pruns, r->nprun, r->pruncap, r->err);
	if (r->err)
		return 1;
	struct prun_row *row = &r->pruns[r->nprun];
	row->topic = intern(&r->names, p->topic);
	if (!row->topic) {
		r->err = KT_ERR_NOMEM;
		return 1;
	}
	row->gen = p->generation;
	row->part = p->partition;
	row->run_id = p->run_id;
	row->from = p->from_offset;
	row->done_end = p->done_end;
	row->lost_from = p->lost_from;
	row->lost_end = p->lost_end;
	r->nprun++;
	return 0;
}

static int miss_row_cb(void *ctx, const struct kt_catalog_missing *m)
{
	struct rows *r = ctx;
	PUSH(r->miss, r->nmiss, r->misscap, r->err);
	if (r->err)
		return 1;
	struct miss_row *row = &r->miss[r->nmiss];
	*row = (struct miss_row){intern(&r->names, m->topic),
				 m->generation,
				 m->partition,
				 m->first_offset,
				 m->last_offset,
				 strdup(m->path),
				 strdup(m->reason)};
	if (!row->topic || !row->path || !row->reason) {
		free(row->path);
		free(row->reason);
		r->err = KT_ERR_NOMEM;
		return 1;
	}
	r->nmiss++;
	return 0;
}

void kt_inspect_rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->nseg; i++)
		free(r->segs[i].path);
	free(r->segs);
	free(r->pruns);
	for (size_t i = 0; i < r->nmiss; i++) {
		free(r->miss[i].path);
		free(r->miss[i].reason);
	}
	free(r->miss);
	names_free(&r->names);
}

/* Segments, partition progress and missing ranges (with want_pruns), all
 * sorted by topic, generation, partition (the catalog's order). */
enum kt_err kt_inspect_rows_load(struct kt_catalog *cat, int want_paths, int want_pruns, struct rows *r,
				 struct kt_diag *diag)
{
	memset(r, 0, sizeof(*r));
	r->want_paths = want_paths;
	enum kt_err err = kt_catalog_each_segment(cat, NULL, seg_row_cb, r, diag);
	if (!err && want_pruns)
		err = kt_catalog_each_prun(cat, NULL, prun_row_cb, r, diag);
	if (!err && want_pruns)
		err = kt_catalog_each_missing(cat, NULL, miss_row_cb, r, diag);
	if (!err && r->err)
		err = kt_diag_fail(diag, r->err, "cannot read the catalog: %s", kt_err_str(r->err));
	return err;
}

int kt_inspect_key_cmp(const char *ta, uint32_t ga, int32_t pa, const char *tb, uint32_t gb, int32_t pb)
{
	int c = strcmp(ta, tb);
	if (c)
		return c;
	if (ga != gb)
		return ga < gb ? -1 : 1;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return 0;
}

static int cstr_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* "a, b, c": the distinct archived topic names, for not-found messages. */
static void topic_list(const struct rows *r, char *buf, size_t size)
{
	size_t n = r->nseg + r->nprun;
	const char **v = calloc(n + 1, sizeof(*v));
	snprintf(buf, size, "none");
	if (!v || !n) {
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = i < r->nseg ? r->segs[i].topic : r->pruns[i - r->nseg].topic;
	kt_sort(v, n, sizeof(*v), cstr_cmp);
	size_t len = 0;
	for (size_t i = 0; i < n && len + 1 < size; i++) {
		if (i && !strcmp(v[i], v[i - 1]))
			continue;
		int w = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", v[i]);
		len = w < 0 || len + (size_t)w >= size ? size - 1 : len + (size_t)w;
	}
	free(v);
}

static int topic_known(const struct rows *r, const char *topic)
{
	for (size_t i = 0; i < r->nseg; i++)
		if (!strcmp(r->segs[i].topic, topic))
			return 1;
	for (size_t i = 0; i < r->nprun; i++)
		if (!strcmp(r->pruns[i].topic, topic))
			return 1;
	return 0;
}

enum kt_err kt_inspect_check_topics(const struct rows *r, const char *const *topics, size_t n, struct kt_diag *diag)
{
	for (size_t i = 0; i < n; i++) {
		if (topic_known(r, topics[i]))
			continue;
		char list[1024];
		topic_list(r, list, sizeof(list));
		return kt_diag_fail(diag, KT_ERR_NOT_FOUND, "topic '%s' is not in the archive (archived topics: %s)",
				    topics[i], list);
	}
	return KT_OK;
}

int kt_inspect_topic_selected(const char *const *topics, size_t n, const char *t)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(topics[i], t))
			return 1;
	return 0;
}

static int key_less(const char *t, uint32_t g, int32_t p, const struct pkey *k)
{
	return kt_inspect_key_cmp(t, g, p, k->topic, k->gen, k->part) < 0;
}

enum kt_err kt_inspect_each_key(const struct rows *r, kt_inspect_key_fn fn, void *ctx)
{
	size_t si = 0, pi = 0, mi = 0;
	while (si < r->nseg || pi < r->nprun || mi < r->nmiss) {
		/* the smallest key at the head of any list */
		struct pkey k = {NULL, 0, 0};
		if (si < r->nseg)
			k = (struct pkey){r->segs[si].topic, r->segs[si].gen, r->segs[si].part};
		if (pi < r->nprun &&
		    (!k.topic || key_less(r->pruns[pi].topic, r->pruns[pi].gen, r->pruns[pi].part, &k)))
			k = (struct pkey){r->pruns[pi].topic, r->pruns[pi].gen, r->pruns[pi].part};
		if (mi < r->nmiss && (!k.topic || key_less(r->miss[mi].topic, r->miss[mi].gen, r->miss[mi].part, &k)))
			k = (struct pkey){r->miss[mi].topic, r->miss[mi].gen, r->miss[mi].part};
		struct key_rows kr = {r->segs + si, 0, r->pruns + pi, 0, r->miss + mi, 0};
		while (si < r->nseg && !kt_inspect_key_cmp(r->segs[si].topic, r->segs[si].gen, r->segs[si].part,
							   k.topic, k.gen, k.part))
			si++, kr.nseg++;
		while (pi < r->nprun && !kt_inspect_key_cmp(r->pruns[pi].topic, r->pruns[pi].gen, r->pruns[pi].part,
							    k.topic, k.gen, k.part))
			pi++, kr.npr++;
		while (mi < r->nmiss && !kt_inspect_key_cmp(r->miss[mi].topic, r->miss[mi].gen, r->miss[mi].part,
							    k.topic, k.gen, k.part))
			mi++, kr.nmiss++;
		enum kt_err err = fn(ctx, &k, &kr);
		if (err)
			return err;
	}
	return KT_OK;
}
