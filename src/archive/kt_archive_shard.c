/* kt_archive_shard.c - sharded archives (format/SPEC.md 10.8): the shard
 * of one writer (a complete archive under shards/ID/ of the root, found by
 * readers through the registry object shard-ids/ID), and a reader's union
 * of the root and its shards: their catalogs copied into one private
 * catalog whose paths name the files in the archive, so that every reader
 * (ls, cat, verify, restore, compare, groups) reads the archive as one.
 *
 * Owns nothing past a call: the union's catalog, directory and shard ids
 * are handed to struct kt_archive (kt_archive_set_view), which frees them.
 */
#include "kt_archive.h"
#include "kt_archive_internal.h"
#include "kt_sort.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_catalog.h"
#include "kt_store.h"
#include "kt_time.h"

#define PATH_BUF      4096
#define REGISTRY      "shard-ids/"
#define MARKER_FILE   "ktape-archive"
#define SHARD_RUN_OFF 1000000000ll /* shard k's run ids are shown as k * this + id */

int kt_archive_worker_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n < 1 || n > KT_ARCHIVE_WORKER_ID_MAX || id[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

void kt_archive_shard_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

struct id_list {
	char **v;
	size_t n;
	int nomem;
};

static int id_one(void *ctx, const char *name, uint64_t size)
{
	(void)size;
	struct id_list *l = ctx;
	const char *id = name + strlen(REGISTRY);
	if (strncmp(name, REGISTRY, strlen(REGISTRY)) || !kt_archive_worker_id_valid(id))
		return 0;
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv || !(nv[l->n] = strdup(id))) {
		if (nv)
			l->v = nv;
		l->nomem = 1;
		return 1;
	}
	l->v = nv;
	l->n++;
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The registered ids whose shard exists (its marker is there: a shard is
 * created marker last), in name order. */
static enum kt_err list_ids(struct kt_store *st, char ***out, size_t *out_n, struct kt_diag *diag)
{
	*out = NULL;
	*out_n = 0;
	struct id_list l = {0};
	enum kt_err err = kt_store_list(st, REGISTRY, id_one, &l, diag);
	if (err == KT_ERR_NOT_FOUND) {
		kt_diag_clear(diag);
		err = KT_OK;
	}
	if (!err && l.nomem)
		err = KT_ERR_NOMEM;
	size_t k = 0;
	for (size_t i = 0; !err && i < l.n; i++) {
		char name[PATH_BUF];
		uint64_t size;
		snprintf(name, sizeof(name), "shards/%s/%s", l.v[i], MARKER_FILE);
		struct kt_diag d2;
		enum kt_err e = kt_store_size(st, name, &size, &d2);
		if (e == KT_OK)
			l.v[k++] = l.v[i];
		else if (e == KT_ERR_NOT_FOUND)
			free(l.v[i]);
		else {
			*diag = d2;
			err = e;
			for (size_t j = i; j < l.n; j++)
				l.v[k++] = l.v[j];
		}
	}
	if (err) {
		kt_archive_shard_ids_free(l.v, err == KT_ERR_NOMEM ? l.n : k);
		return err;
	}
	kt_sort(l.v, k, sizeof(*l.v), id_cmp);
	*out = l.v;
	*out_n = k;
	return KT_OK;
}

enum kt_err kt_archive_list_shards(struct kt_archive *a, char ***out_ids, size_t *out_n, struct kt_diag *diag)
{
	return list_ids(kt_archive_store_of(a), out_ids, out_n, diag);
}

/* ---- a writer's shard ---- */

/* The format_version of the marker at st (10.2). */
static enum kt_err marker_version(struct kt_store *st, int *out, struct kt_diag *diag)
{
	uint8_t *data;
	size_t len;
	enum kt_err err = kt_store_get(st, MARKER_FILE, 4096, &data, &len, diag);
	if (err)
		return err;
	char text[4097];
	memcpy(text, data, len);
	text[len] = '\0';
	free(data);
	const char *v = strstr(text, "format_version=");
	*out = v ? atoi(v + 15) : 0;
	return KT_OK;
}

enum kt_err kt_archive_open_shard(const char *root, const char *id, enum kt_archive_mode mode, unsigned flags,
				  struct kt_archive **out, struct kt_archive_recovery *out_recovery,
				  struct kt_diag *diag)
{
	*out = NULL;
	if (!kt_archive_worker_id_valid(id))
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "worker id '%s' is not valid: 1 to %d characters of A-Z a-z 0-9 . _ -, not "
				    "starting with '.'",
				    id ? id : "", KT_ARCHIVE_WORKER_ID_MAX);
	if (mode != KT_ARCHIVE_WRITE && mode != KT_ARCHIVE_CREATE)
		return kt_diag_fail(diag, KT_ERR_STATE, "a shard is opened for writing");
	struct kt_store *st;
	enum kt_err err = kt_store_open(root, kt_archive_store_opts_of(), &st, diag);
	if (err)
		return err;
	/* the root first: several workers started at once on a new archive
	 * race to create it, and the ones that lose wait for its marker */
	int64_t give_up = kt_time_mono_ns() + 30 * 1000000000ll;
	for (;;) {
		uint64_t size;
		err = kt_store_size(st, MARKER_FILE, &size, diag);
		if (err != KT_ERR_NOT_FOUND)
			break;
		kt_diag_clear(diag);
		if (mode != KT_ARCHIVE_CREATE) {
			err = kt_diag_fail(diag, KT_ERR_NOT_FOUND, "%s is not a ktape archive", kt_store_location(st));
			break;
		}
		struct kt_archive *ra;
		err = kt_archive_open(root, KT_ARCHIVE_CREATE, &ra, NULL, diag);
		kt_archive_close(ra);
		/* locked, or not empty yet without a marker: another worker
		 * is creating it */
		if ((err != KT_ERR_LOCKED && err != KT_ERR_EXISTS) || kt_time_mono_ns() > give_up)
			break;
		kt_diag_clear(diag);
		usleep(200 * 1000);
	}
	/* an archive with shards is version 3 (SPEC 10.8): an older ktape,
	 * which would read the root alone, refuses it. The first shard's
	 * writer makes it so, under the root's lock. */
	for (int version = 0; !err && (err = marker_version(st, &version, diag)) == KT_OK && version < 3;) {
		struct kt_archive *ra;
		err = kt_archive_open(root, KT_ARCHIVE_WRITE, &ra, NULL, diag);
		if (!err)
			err = kt_archive_upgrade(ra, 3, diag);
		if (!err)
			err = kt_archive_publish(ra, diag); /* a bucket's catalog says so too */
		kt_archive_close(ra);
		if (err != KT_ERR_LOCKED || kt_time_mono_ns() > give_up)
			break;
		kt_diag_clear(diag);
		err = KT_OK;
		usleep(200 * 1000);
	}
	char name[PATH_BUF], loc[PATH_BUF];
	if (!err) {
		/* registered before it exists: a reader skips an id whose shard
		 * has no marker yet */
		char text[128];
		int n = snprintf(text, sizeof(text), "ktape shard\nworker_id=%s\n", id);
		snprintf(name, sizeof(name), "%s%s", REGISTRY, id);
		err = kt_store_put(st, name, text, (size_t)n, diag);
	}
	snprintf(loc, sizeof(loc), "%s/shards/%s", kt_store_location(st), id);
	kt_store_close(st);
	if (err)
		return err;
	struct kt_archive *a;
	err = kt_archive_open_flags(loc, mode, flags, &a, out_recovery, diag);
	if (err)
		return err;
	struct kt_catalog *cat = kt_archive_catalog(a);
	err = kt_catalog_begin(cat, diag);
	if (!err) {
		err = kt_catalog_set_meta(cat, "worker_id", id, diag);
		if (!err)
			err = kt_catalog_commit(cat, diag);
		else
			kt_catalog_rollback(cat);
	}
	if (err) {
		kt_archive_close(a);
		return err;
	}
	*out = a;
	return KT_OK;
}

/* ---- a reader's union ---- */

/* A consistent private copy of the catalog of the root (prefix "") or of
 * a shard ("shards/ID/") at path: a bucket's published object, or a
 * snapshot of the directory's live catalog (the root's: a's own
 * connection). */
static enum kt_err copy_catalog(struct kt_archive *a, const char *prefix, const char *path, struct kt_diag *diag)
{
	struct kt_store *st = kt_archive_store_of(a);
	char name[PATH_BUF];
	snprintf(name, sizeof(name), "%scatalog.db", prefix);
	unlink(path);
	if (!prefix[0])
		return kt_catalog_snapshot(kt_archive_root_catalog_of(a), path, diag);
	if (!kt_archive_is_local(a))
		return kt_store_fetch_file(st, name, path, diag);
	char live[PATH_BUF];
	struct kt_catalog *cat;
	enum kt_err err =
		kt_catalog_open(kt_store_work_path(st, name, live, sizeof(live)), KT_CATALOG_READ, &cat, diag);
	if (!err)
		err = kt_catalog_snapshot(cat, path, diag);
	kt_catalog_close(cat);
	return err;
}

enum kt_err kt_archive_union_open(struct kt_archive *a, struct kt_diag *diag)
{
	char **ids;
	size_t n;
	enum kt_err err = list_ids(kt_archive_store_of(a), &ids, &n, diag);
	if (err || !n)
		return err;
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_BUF / 2];
	snprintf(dir, sizeof(dir), "%s/ktape-union-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		kt_archive_shard_ids_free(ids, n);
		return kt_diag_fail(diag, KT_ERR_IO, "cannot create a temporary directory %s: %s", dir,
				    strerror(errno));
	}
	char *dir_copy = strdup(dir);
	char path[PATH_BUF];
	snprintf(path, sizeof(path), "%s/union.db", dir);
	struct kt_catalog *view = NULL;
	err = dir_copy ? kt_catalog_open(path, KT_CATALOG_CREATE, &view, diag) : KT_ERR_NOMEM;
	/* the archive owns them from here, and removes them at close */
	kt_archive_set_view(a, NULL, dir_copy, ids, n);
	for (size_t k = 0; !err && k <= n; k++) {
		char prefix[PATH_BUF], copy[PATH_BUF];
		if (k)
			snprintf(prefix, sizeof(prefix), "shards/%s/", ids[k - 1]);
		else
			prefix[0] = '\0';
		snprintf(copy, sizeof(copy), "%s/member-%zu.db", dir, k);
		err = copy_catalog(a, prefix, copy, diag);
		if (!err)
			err = kt_catalog_union_add(view, copy, prefix, (int64_t)k * SHARD_RUN_OFF, diag);
		unlink(copy);
		if (err)
			kt_diag_prefix(diag, "%s", k ? prefix : "catalog.db");
	}
	int64_t dropped = 0;
	if (!err)
		err = kt_catalog_union_settle(view, &dropped, diag);
	if (err) {
		kt_catalog_close(view);
		return err;
	}
	kt_archive_set_view(a, view, dir_copy, ids, n);
	return KT_OK;
}

/* ---- the union as the catalogs are now ---- */

/* Opens the catalog of member prefix as it is now: the root's own
 * connection for a directory (it sees every commit), else a fresh copy in
 * the union's directory (*out_tmp set: the caller closes and removes it). */
static enum kt_err open_now(struct kt_archive *a, const char *prefix, struct kt_catalog **out, char *out_tmp,
			    size_t tmp_size, struct kt_diag *diag)
{
	*out = NULL;
	out_tmp[0] = '\0';
	if (!prefix[0] && kt_archive_is_local(a)) {
		*out = kt_archive_root_catalog_of(a);
		return KT_OK;
	}
	static unsigned seq;
	snprintf(out_tmp, tmp_size, "%s/now-%u.db", kt_archive_view_dir(a), seq++);
	enum kt_err err;
	char name[PATH_BUF];
	snprintf(name, sizeof(name), "%scatalog.db", prefix);
	if (!kt_archive_is_local(a)) {
		err = kt_store_fetch_file(kt_archive_store_of(a), name, out_tmp, diag);
	} else {
		/* a shard's live catalog, read in place */
		out_tmp[0] = '\0';
		char live[PATH_BUF];
		return kt_catalog_open(kt_store_work_path(kt_archive_store_of(a), name, live, sizeof(live)),
				       KT_CATALOG_READ, out, diag);
	}
	if (!err)
		err = kt_catalog_open(out_tmp, KT_CATALOG_READ, out, diag);
	if (err) {
		unlink(out_tmp);
		out_tmp[0] = '\0';
	}
	return err;
}

static void close_now(struct kt_archive *a, struct kt_catalog *cat, const char *tmp)
{
	if (cat != kt_archive_root_catalog_of(a))
		kt_catalog_close(cat);
	if (tmp[0])
		unlink(tmp);
}

struct seg_list {
	struct kt_catalog_segment *v;
	char **paths;
	size_t n;
	const char *prefix;
	int nomem;
};

static int seg_one(void *ctx, const struct kt_catalog_segment *s)
{
	struct seg_list *l = ctx;
	struct kt_catalog_segment *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (nv)
		l->v = nv;
	char **np = nv ? realloc(l->paths, (l->n + 1) * sizeof(*np)) : NULL;
	if (np)
		l->paths = np;
	/* the borrowed strings are gone after the callback: one copy holds
	 * the union's path and the topic */
	size_t plen = strlen(l->prefix) + strlen(s->path) + 1;
	char *p = np ? malloc(plen + strlen(s->topic) + 1) : NULL;
	if (!p) {
		l->nomem = 1;
		return 1;
	}
	snprintf(p, plen, "%s%s", l->prefix, s->path);
	strcpy(p + plen, s->topic);
	l->v[l->n] = *s;
	l->paths[l->n] = p;
	l->v[l->n].path = p;
	l->v[l->n].topic = p + plen;
	l->n++;
	return 0;
}

static int seg_cmp(const void *x, const void *y)
{
	const struct kt_catalog_segment *a = x, *b = y;
	int t = strcmp(a->topic, b->topic);
	if (t)
		return t;
	if (a->generation != b->generation)
		return a->generation < b->generation ? -1 : 1;
	if (a->partition != b->partition)
		return a->partition < b->partition ? -1 : 1;
	if (a->sum.first_offset != b->sum.first_offset)
		return a->sum.first_offset < b->sum.first_offset ? -1 : 1;
	if (a->sum.last_offset != b->sum.last_offset)
		return a->sum.last_offset > b->sum.last_offset ? -1 : 1;
	return strcmp(a->path, b->path);
}

enum kt_err kt_archive_union_fresh_segments(struct kt_archive *a, const char *topic, kt_catalog_segment_cb cb,
					    void *ctx, struct kt_diag *diag)
{
	struct seg_list l = {0};
	enum kt_err err = KT_OK;
	size_t n = kt_archive_shard_count(a);
	for (size_t k = 0; !err && k <= n; k++) {
		char prefix[PATH_BUF], tmp[PATH_BUF];
		if (k)
			snprintf(prefix, sizeof(prefix), "shards/%s/", kt_archive_shard_id(a, k - 1));
		else
			prefix[0] = '\0';
		struct kt_catalog *cat;
		err = open_now(a, prefix, &cat, tmp, sizeof(tmp), diag);
		if (err)
			break;
		l.prefix = prefix;
		err = kt_catalog_each_segment(cat, topic, seg_one, &l, diag);
		close_now(a, cat, tmp);
		if (!err && l.nomem)
			err = KT_ERR_NOMEM;
	}
	if (!err)
		kt_sort(l.v, l.n, sizeof(*l.v), seg_cmp);
	/* the union's rule (SPEC 10.8): one an earlier one holds whole is out */
	int64_t max_last = -1;
	for (size_t i = 0; !err && i < l.n; i++) {
		if (i && (strcmp(l.v[i].topic, l.v[i - 1].topic) || l.v[i].generation != l.v[i - 1].generation ||
			  l.v[i].partition != l.v[i - 1].partition))
			max_last = -1;
		if (max_last >= l.v[i].sum.last_offset)
			continue;
		max_last = l.v[i].sum.last_offset;
		if (cb(ctx, &l.v[i]))
			break;
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.paths[i]);
	free(l.paths);
	free(l.v);
	return err;
}

enum kt_err kt_archive_union_listed_now(struct kt_archive *a, const char *rel, int *out_found, struct kt_diag *diag)
{
	*out_found = 0;
	char prefix[PATH_BUF] = "";
	const char *own = rel;
	if (!strncmp(rel, "shards/", 7)) {
		const char *slash = strchr(rel + 7, '/');
		if (!slash || (size_t)(slash - rel) + 1 >= sizeof(prefix))
			return KT_OK;
		memcpy(prefix, rel, (size_t)(slash - rel) + 1);
		prefix[slash - rel + 1] = '\0';
		own = slash + 1;
	}
	struct kt_catalog *cat;
	char tmp[PATH_BUF];
	enum kt_err err = open_now(a, prefix, &cat, tmp, sizeof(tmp), diag);
	if (!err)
		err = kt_catalog_has_segment(cat, own, out_found, diag);
	if (cat)
		close_now(a, cat, tmp);
	return err;
}

enum kt_err kt_archive_union_list_segments(struct kt_archive *a, kt_archive_list_cb cb, void *ctx, struct kt_diag *diag)
{
	struct kt_store *st = kt_archive_store_of(a);
	enum kt_err err = kt_store_list(st, "segments/", cb, ctx, diag);
	for (size_t k = 0; !err && k < kt_archive_shard_count(a); k++) {
		char prefix[PATH_BUF];
		snprintf(prefix, sizeof(prefix), "shards/%s/segments/", kt_archive_shard_id(a, k));
		err = kt_store_list(st, prefix, cb, ctx, diag);
	}
	return err;
}

enum kt_err kt_archive_shard_locations(const char *root, char ***out, size_t *out_n, struct kt_diag *diag)
{
	*out = NULL;
	*out_n = 0;
	struct kt_store *st;
	enum kt_err err = kt_store_open(root, kt_archive_store_opts_of(), &st, diag);
	if (err)
		return err;
	char **ids;
	size_t n;
	err = list_ids(st, &ids, &n, diag);
	for (size_t i = 0; !err && i < n; i++) {
		char loc[PATH_BUF];
		snprintf(loc, sizeof(loc), "%s/shards/%s", kt_store_location(st), ids[i]);
		char *c = strdup(loc);
		if (!c) {
			err = KT_ERR_NOMEM;
			break;
		}
		free(ids[i]);
		ids[i] = c;
	}
	kt_store_close(st);
	if (err) {
		kt_archive_shard_ids_free(ids, n);
		return err;
	}
	*out = ids;
	*out_n = n;
	return KT_OK;
}

/* ---- what ls says of the workers ---- */

struct info_ctx {
	struct kt_archive_shard_info *v;
	size_t n;
	int nomem;
};

static long info_of(struct info_ctx *c, const char *path)
{
	if (strncmp(path, "shards/", 7))
		return -1;
	const char *id = path + 7, *slash = strchr(id, '/');
	for (size_t i = 0; slash && i < c->n; i++)
		if (strlen(c->v[i].id) == (size_t)(slash - id) && !strncmp(c->v[i].id, id, (size_t)(slash - id)))
			return (long)i;
	return -1;
}

static int info_seg(void *ctx, const struct kt_catalog_segment *s)
{
	struct info_ctx *c = ctx;
	long i = info_of(c, s->path);
	if (i < 0)
		return 0;
	struct kt_archive_shard_info *w = &c->v[i];
	w->segments++;
	w->records += (int64_t)s->sum.record_count;
	if (s->committed_ms > w->last_commit_ms)
		w->last_commit_ms = s->committed_ms;
	/* "TOPIC:P,P TOPIC:P" in the order the catalog lists them */
	char item[KT_SEG_TOPIC_MAX + 32];
	size_t tl = strlen(s->topic);
	const char *p = w->partitions;
	int have = 0;
	/* the current topic is the last one written: a new partition of it
	 * continues the list, a partition seen already is not added */
	const char *last = strrchr(p, ' ');
	last = last ? last + 1 : p;
	if (!strncmp(last, s->topic, tl) && last[tl] == ':') {
		char num[16];
		snprintf(num, sizeof(num), "%d", s->partition);
		for (const char *q = last + tl + 1; *q;) {
			size_t k = strcspn(q, ",");
			if (k == strlen(num) && !strncmp(q, num, k))
				have = 1;
			q += k + (q[k] == ',');
		}
		snprintf(item, sizeof(item), ",%d", s->partition);
	} else {
		snprintf(item, sizeof(item), "%s%s:%d", p[0] ? " " : "", s->topic, s->partition);
	}
	if (!have) {
		w->partition_count++;
		size_t len = strlen(w->partitions);
		if (len + strlen(item) + 1 < sizeof(w->partitions))
			memcpy(w->partitions + len, item, strlen(item) + 1);
	}
	return 0;
}

static int info_run(void *ctx, const struct kt_catalog_run *run)
{
	struct info_ctx *c = ctx;
	int64_t k = run->run_id / SHARD_RUN_OFF;
	if (k < 1 || (size_t)k > c->n || strcmp(run->kind, "dump"))
		return 0;
	struct kt_archive_shard_info *w = &c->v[k - 1];
	if (run->run_id >= w->last_run) {
		w->last_run = run->run_id;
		snprintf(w->last_status, sizeof(w->last_status), "%s", run->status);
	}
	return 0;
}

enum kt_err kt_archive_shard_infos(struct kt_archive *a, struct kt_archive_shard_info **out, size_t *out_n,
				   struct kt_diag *diag)
{
	*out = NULL;
	*out_n = 0;
	size_t n = kt_archive_shard_count(a);
	if (!n)
		return KT_OK;
	struct info_ctx c = {calloc(n, sizeof(*c.v)), n, 0};
	if (!c.v)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		c.v[i].id = kt_archive_shard_id(a, i);
	struct kt_catalog *cat = kt_archive_catalog(a);
	enum kt_err err = kt_catalog_each_segment(cat, NULL, info_seg, &c, diag);
	if (!err)
		err = kt_catalog_each_run(cat, info_run, &c, diag);
	if (err) {
		free(c.v);
		return err;
	}
	*out = c.v;
	*out_n = n;
	return KT_OK;
}

/* ---- liveness of a running run, for readers ---- */

int kt_archive_run_alive(struct kt_archive *a, int64_t run_id, const char *kind, char *note, size_t notesize)
{
	if (note && notesize)
		note[0] = '\0';
	/* a shard's run: shard k's own id, under its own lock (SPEC 10.8) */
	char prefix[KT_ARCHIVE_WORKER_ID_MAX + 16] = "";
	int64_t k = run_id / SHARD_RUN_OFF;
	if (k >= 1 && (size_t)k <= kt_archive_shard_count(a)) {
		snprintf(prefix, sizeof(prefix), "shards/%s/", kt_archive_shard_id(a, (size_t)k - 1));
		run_id -= k * SHARD_RUN_OFF;
	}
	char name[sizeof(prefix) + 32];
	if (kind && !strcmp(kind, "restore"))
		snprintf(name, sizeof(name), "%slive/%010" PRId64 ".lock", prefix, run_id);
	else
		snprintf(name, sizeof(name), "%slock", prefix);
	return kt_store_lock_state(kt_archive_store_of(a), name, note, notesize);
}
