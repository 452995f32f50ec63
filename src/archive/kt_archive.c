#include "kt_archive.h"
#include "kt_archive_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_buf.h"
#include "kt_crc32c.h"
#include "kt_cursor.h"
#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_segment_reader.h"
#include "kt_store.h"
#include "kt_time.h"

#define PATH_BUF    4096
#define MARKER_FILE "ktape-archive"
#define META_MAX    (64u << 20)
#define LIVE_DIR    "live"

int (*kt_archive_crash_hook)(enum kt_archive_step step);

/* How the CLI said to reach buckets (kt_archive_set_store_opts). */
static struct kt_store_opts store_opts = {NULL, NULL, -1, 0};

void kt_archive_set_store_opts(const struct kt_store_opts *o)
{
	store_opts = *o;
}

/* A bucket's catalog is published (uploaded whole) at the end of each run
 * and at most this often while a dump commits segments: readers elsewhere
 * see a dump's progress within this time. */
#define PUBLISH_INTERVAL_MS 30000

struct kt_archive {
	struct kt_store *store;
	const char *dir; /* the location, for messages (the store owns it) */
	int writer;	 /* holds the writer lock */
	struct kt_catalog *cat;
	int64_t published_ms; /* a bucket's catalog last uploaded (kt_time_now_ms) */
	int published_for_remove;
	unsigned tmp_seq;
	int recording;	     /* the catalog is open for writing */
	char *norecord_why;  /* RECORD mode, archive not writable: why */
	char *run_lock_path; /* live/RUN.lock held by this process, or NULL */
	int run_lock_fd;
	const struct kt_crypto_key *key; /* borrowed: reads encrypted segments (kt_archive_set_key) */
	/* a bucket's objects the catalog no longer names, removed after the
	 * next publish (kt_archive_remove_unlisted) */
	char **pending_rm;
	size_t n_pending_rm;
	/* a sharded archive's reader: the union of the root and its shards'
	 * catalogs (kt_archive_shard.c), which readers see as the catalog;
	 * cat stays the root's own (RECORD mode writes its runs there) */
	struct kt_catalog *view;
	char *view_dir; /* the private directory that holds it */
	char **shard_ids;
	size_t n_shards;
	/* a consumer group member's shard: recovery removes unlisted segment
	 * files instead of indexing them (SPEC 10.8) */
	int discard_unlisted;
	int format_version; /* the marker's (10.2) */
};

struct kt_archive_segment {
	struct kt_segment_writer *w;
	char tmp_path[PATH_BUF];
	char *topic;
	uint32_t generation;
	int32_t partition;
	uint64_t records;
};

const char *kt_archive_path(const struct kt_archive *a, const char *rel, char *buf, size_t bufsize)
{
	snprintf(buf, bufsize, "%s/%s", a->dir, rel);
	return buf;
}

/* A local file of the archive's: in the directory, or in a bucket's
 * private working directory (kt_store.h). */
static const char *work_path(const struct kt_archive *a, const char *rel, char *buf, size_t bufsize)
{
	return kt_store_work_path(a->store, rel, buf, bufsize);
}

int kt_archive_is_local(const struct kt_archive *a)
{
	return kt_store_kind(a->store) == KT_STORE_DIR;
}

void kt_archive_store_stats(const struct kt_archive *a, struct kt_store_stats *out)
{
	kt_store_stats(a->store, out);
}

const char *kt_archive_dir(const struct kt_archive *a)
{
	return a->dir;
}

struct kt_catalog *kt_archive_catalog(struct kt_archive *a)
{
	return a->view ? a->view : a->cat;
}

struct kt_catalog *kt_archive_record_catalog(struct kt_archive *a)
{
	return a->cat;
}

struct kt_catalog *kt_archive_root_catalog_of(struct kt_archive *a)
{
	return a->cat;
}

void kt_archive_set_view(struct kt_archive *a, struct kt_catalog *view, char *view_dir, char **ids, size_t n)
{
	a->view = view;
	a->view_dir = view_dir;
	a->shard_ids = ids;
	a->n_shards = n;
}

size_t kt_archive_shard_count(const struct kt_archive *a)
{
	return a->n_shards;
}

const char *kt_archive_shard_id(const struct kt_archive *a, size_t i)
{
	return i < a->n_shards ? a->shard_ids[i] : NULL;
}

void kt_archive_set_discard_unlisted(struct kt_archive *a, int on)
{
	a->discard_unlisted = on;
}

const char *kt_archive_view_dir(const struct kt_archive *a)
{
	return a->view_dir;
}

const struct kt_store_opts *kt_archive_store_opts_of(void)
{
	return &store_opts;
}

void kt_archive_union_close(struct kt_archive *a)
{
	kt_catalog_close(a->view);
	a->view = NULL;
	if (a->view_dir) {
		DIR *dh = opendir(a->view_dir);
		struct dirent *de;
		char path[PATH_BUF];
		while (dh && (de = readdir(dh)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				snprintf(path, sizeof(path), "%s/%s", a->view_dir, de->d_name);
				unlink(path);
			}
		if (dh)
			closedir(dh);
		rmdir(a->view_dir);
		free(a->view_dir);
		a->view_dir = NULL;
	}
	kt_archive_shard_ids_free(a->shard_ids, a->n_shards);
	a->shard_ids = NULL;
	a->n_shards = 0;
}

void kt_archive_set_key(struct kt_archive *a, const struct kt_crypto_key *key)
{
	a->key = key;
}

const struct kt_crypto_key *kt_archive_key(const struct kt_archive *a)
{
	return a->key;
}

/* FNV-1a, 64 bits: names a long topic's directory. Not a secret, only a
 * name: two topics that share the first KT_ARCHIVE_TOPIC_DIR_MAX bytes
 * differ in it. */
static uint64_t name_hash(const char *s)
{
	uint64_t h = UINT64_C(14695981039346656037);
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * UINT64_C(1099511628211);
	return h;
}

void kt_archive_topic_dir(const char *topic, char *buf, size_t bufsize)
{
	size_t n = strlen(topic);
	if (n <= KT_ARCHIVE_TOPIC_DIR_MAX)
		snprintf(buf, bufsize, "%s", topic);
	else /* '~' is not a legal topic character: no topic's own name looks like this */
		snprintf(buf, bufsize, "%.*s~%016" PRIx64, KT_ARCHIVE_TOPIC_DIR_MAX - 17, topic, name_hash(topic));
}

void kt_archive_segment_relpath(const char *topic, uint32_t generation, int32_t partition, int64_t first, int64_t last,
				char *buf, size_t bufsize)
{
	char dir[KT_ARCHIVE_TOPIC_DIR_MAX + 1];
	kt_archive_topic_dir(topic, dir, sizeof(dir));
	/* zero-padded offsets: names sort in offset order */
	snprintf(buf, bufsize, "segments/%s/g%" PRIu32 "/p%" PRId32 "/%020" PRId64 "-%020" PRId64 ".kts", dir,
		 generation, partition, first, last);
}

void kt_archive_segment_rewrite_relpath(const char *topic, uint32_t generation, int32_t partition, int64_t first,
					int64_t last, unsigned rewrite, char *buf, size_t bufsize)
{
	char dir[KT_ARCHIVE_TOPIC_DIR_MAX + 1];
	kt_archive_topic_dir(topic, dir, sizeof(dir));
	/* the range the original file was named by, so that the two are
	 * recognised as one segment's versions (SPEC 10.9) */
	snprintf(buf, bufsize, "segments/%s/g%" PRIu32 "/p%" PRId32 "/%020" PRId64 "-%020" PRId64 "~%u.kts", dir,
		 generation, partition, first, last, rewrite);
}

int kt_archive_segment_name_range(const char *rel, int64_t *first, int64_t *last)
{
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	long long f, l;
	int used = 0, used2 = 0;
	unsigned rw;
	if (sscanf(base, "%20lld-%20lld%n", &f, &l, &used) != 2 || f < 0 || l < f)
		return 0;
	const char *rest = base + used;
	if (strcmp(rest, ".kts") && (sscanf(rest, "~%9u.kts%n", &rw, &used2) != 1 || rest[used2] != '\0' || rw == 0))
		return 0;
	*first = f;
	*last = l;
	return 1;
}

unsigned kt_archive_segment_rewrite_of(const char *rel)
{
	const char *base = strrchr(rel, '/');
	const char *t = strchr(base ? base : rel, '~');
	unsigned n = 0;
	int used = 0;
	if (!t || sscanf(t, "~%9u.kts%n", &n, &used) != 1 || t[used] != '\0')
		return 0;
	return n;
}

static enum kt_err take_lock(struct kt_archive *a, struct kt_diag *diag)
{
	enum kt_err err = kt_store_lock(a->store, diag);
	if (!err)
		a->writer = 1;
	return err;
}

static enum kt_err publish(struct kt_archive *a, struct kt_diag *diag);

static enum kt_err write_marker(struct kt_archive *a, struct kt_diag *diag)
{
	uint8_t rnd[16];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kt_diag_fail(diag, KT_ERR_IO, "cannot get random bytes for the archive id");
	char id[33];
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	char text[256];
	/* a new archive is version 1 until it needs more (kt_archive_upgrade) */
	int n = snprintf(text, sizeof(text), "ktape archive\nformat_version=%d\narchive_id=%s\n",
			 KT_ARCHIVE_FORMAT_CREATED, id);
	a->format_version = KT_ARCHIVE_FORMAT_CREATED;
	/* a bucket's catalog is there, with the id, before the marker says
	 * "archive" */
	enum kt_err err = kt_catalog_set_meta(a->cat, "archive_id", id, diag);
	err = err ? err : publish(a, diag);
	return err ? err : kt_store_put(a->store, MARKER_FILE, text, (size_t)n, diag);
}

/* Reads the marker: KT_ERR_NOT_FOUND if this is not an archive. */
static enum kt_err check_marker(struct kt_store *st, int *out_version, struct kt_diag *diag)
{
	const char *dir = kt_store_location(st);
	char path[PATH_BUF];
	snprintf(path, sizeof(path), "%s/%s", dir, MARKER_FILE);
	uint8_t *data;
	size_t len;
	struct kt_diag d2;
	kt_diag_clear(&d2);
	enum kt_err err = kt_store_get(st, MARKER_FILE, 4096, &data, &len, &d2);
	if (err == KT_ERR_NOT_FOUND && kt_store_check(st, diag) == KT_ERR_NOT_FOUND)
		return KT_ERR_NOT_FOUND; /* the directory or bucket itself: its own message */
	if (err == KT_ERR_NOT_FOUND)
		return kt_diag_fail(diag, KT_ERR_NOT_FOUND, "%s is not a ktape archive (no %s file)", dir, MARKER_FILE);
	if (err == KT_ERR_IO || err == KT_ERR_LIMIT)
		return kt_diag_fail(diag, err, "cannot read %s", path);
	if (err) {
		*diag = d2; /* a bucket's own error (access denied, timeout) */
		return err;
	}
	int version = 0;
	char *text = calloc(1, len + 1);
	memcpy(text, data, len);
	free(data);
	char *v = strstr(text, "format_version=");
	if (strncmp(text, "ktape archive\n", 14) != 0 || !v) {
		free(text);
		return kt_diag_fail(diag, KT_ERR_FORMAT, "%s is damaged", path);
	}
	version = atoi(v + 15);
	free(text);
	if (version > KT_ARCHIVE_FORMAT_VERSION)
		return kt_diag_fail(diag, KT_ERR_VERSION,
				    "archive %s has format version %d; this ktape reads up to %d (upgrade ktape)", dir,
				    version, KT_ARCHIVE_FORMAT_VERSION);
	*out_version = version;
	return KT_OK;
}

static enum kt_err clear_tmp(struct kt_archive *a, int *removed, struct kt_diag *diag)
{
	char path[PATH_BUF];
	work_path(a, "tmp", path, sizeof(path));
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? KT_OK
				       : kt_diag_fail(diag, KT_ERR_IO, "cannot list %s: %s", path, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char f[PATH_BUF + 256];
		snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
		if (unlink(f) == 0)
			(*removed)++;
	}
	closedir(d);
	return KT_OK;
}

/* Calls fn for each *.kts file under segments/ with its relative name, in
 * name order (so partitions are visited in offset order). */
typedef enum kt_err (*seg_file_fn)(struct kt_archive *a, const char *rel, void *ctx, struct kt_diag *diag);

struct walk_ctx {
	struct kt_archive *a;
	seg_file_fn fn;
	void *ctx;
	struct kt_diag *diag;
	enum kt_err err;
};

static int walk_one(void *ctx, const char *name, uint64_t size)
{
	(void)size;
	struct walk_ctx *w = ctx;
	size_t n = strlen(name);
	if (n > 4 && !strcmp(name + n - 4, ".kts"))
		w->err = w->fn(w->a, name, w->ctx, w->diag);
	return w->err != KT_OK;
}

static enum kt_err walk_segments(struct kt_archive *a, seg_file_fn fn, void *ctx, struct kt_diag *diag)
{
	struct walk_ctx w = {a, fn, ctx, diag, KT_OK};
	enum kt_err err = kt_store_list(a->store, "segments/", walk_one, &w, diag);
	return err ? err : w.err;
}

int kt_archive_segment_parse_relpath(const char *rel, char *topic, size_t topic_size, uint32_t *generation,
				     int32_t *partition, int64_t *first, int64_t *last)
{
	static const char prefix[] = "segments/";
	if (strncmp(rel, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	const char *t = rel + sizeof(prefix) - 1;
	const char *base = strrchr(t, '/');
	if (!base)
		return 0;
	long long f, l;
	int used = 0;
	if (sscanf(base + 1, "%20lld-%20lld%n", &f, &l, &used) != 2 || f < 0 || l < f)
		return 0;
	/* FIRST-LAST.kts, or FIRST-LAST~N.kts (an erasure's rewrite, 10.9) */
	const char *rest = base + 1 + used;
	unsigned rw;
	int used2 = 0;
	if (strcmp(rest, ".kts") && (sscanf(rest, "~%9u.kts%n", &rw, &used2) != 1 || rest[used2] != '\0' || rw == 0))
		return 0;
	/* walk back over /pPART and /gGEN */
	const char *pdir = base;
	while (pdir > t && pdir[-1] != '/')
		pdir--;
	const char *gdir = pdir - 1;
	while (gdir > t && gdir[-1] != '/')
		gdir--;
	unsigned long g;
	long p;
	char end;
	if (pdir <= t || gdir <= t || sscanf(pdir, "p%ld%c", &p, &end) != 2 || end != '/' ||
	    sscanf(gdir, "g%lu%c", &g, &end) != 2 || end != '/' || p < 0 || p > INT32_MAX || g > UINT32_MAX)
		return 0;
	size_t tlen = (size_t)(gdir - 1 - t);
	if (tlen == 0 || tlen >= topic_size || memchr(t, '~', tlen))
		return 0; /* a long topic's directory (kt_archive_topic_dir) does not name it whole */
	memcpy(topic, t, tlen);
	topic[tlen] = '\0';
	*generation = (uint32_t)g;
	*partition = (int32_t)p;
	*first = f;
	*last = l;
	return 1;
}

static void missing_around(const struct kt_segment_reader *r, int64_t seg_first, int64_t seg_last, uint64_t pos,
			   int64_t *from, int64_t *to);

/* The offsets of a damaged file that its readable blocks do not hold,
 * between the neighbours of each problem and after the last block, as
 * missing ranges. The file's name says where it began and ended. */
static enum kt_err record_damage(struct kt_archive *a, const char *rel, const struct kt_segment_reader *r,
				 int64_t name_first, int64_t name_last, struct kt_diag *diag)
{
	const struct kt_segment_info *info = kt_segment_reader_info(r);
	struct kt_catalog_missing m = {info->topic, info->generation, info->partition, 0, 0, rel, NULL};
	enum kt_err err = KT_OK;
	for (unsigned k = 0; !err && k < info->problem_count; k++) {
		const struct kt_segment_problem *p = &info->problems[k];
		missing_around(r, name_first, name_last, p->pos, &m.first_offset, &m.last_offset);
		if (m.first_offset > m.last_offset)
			continue;
		char why[256];
		snprintf(why, sizeof(why), "damaged segment file: byte %llu: %s", (unsigned long long)p->pos, p->msg);
		m.reason = why;
		err = kt_catalog_add_missing(a->cat, &m, diag);
	}
	uint32_t n = kt_segment_reader_block_count(r);
	int64_t have = n ? kt_segment_reader_block(r, n - 1)->last_offset : name_first - 1;
	if (!err && have < name_last) {
		char why[256];
		snprintf(why, sizeof(why), "damaged segment file: it ends at byte %llu without a footer",
			 (unsigned long long)info->file_size);
		m.first_offset = have + 1;
		m.last_offset = name_last;
		m.reason = why;
		err = kt_catalog_add_missing(a->cat, &m, diag);
	}
	return err;
}

/* The listed segments of a partition that hold offsets of [first, last]. */
struct overlap {
	size_t n;
	int64_t min_first, max_last;
	int inside_one; /* [first, last] lies within one of them */
	int64_t first, last;
	int64_t *ids;
	char **paths;
	int64_t run0, committed0; /* the first one's run and commit time */
	int nomem;
};

static int overlap_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct overlap *o = ctx;
	int64_t *ids = realloc(o->ids, (o->n + 1) * sizeof(*ids));
	if (ids)
		o->ids = ids;
	char **paths = ids ? realloc(o->paths, (o->n + 1) * sizeof(*paths)) : NULL;
	if (paths)
		o->paths = paths;
	if (!paths || !(paths[o->n] = strdup(s->path))) {
		o->nomem = 1;
		return 1;
	}
	if (o->n == 0) {
		o->run0 = s->run_id;
		o->committed0 = s->committed_ms;
	}
	ids[o->n++] = s->segment_id;
	if (o->n == 1 || s->sum.first_offset < o->min_first)
		o->min_first = s->sum.first_offset;
	if (o->n == 1 || s->sum.last_offset > o->max_last)
		o->max_last = s->sum.last_offset;
	if (s->sum.first_offset <= o->first && o->last <= s->sum.last_offset)
		o->inside_one = 1;
	return 0;
}

static void overlap_free(struct overlap *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->paths[i]);
	free(o->paths);
	free(o->ids);
}

/* Whether a segment file is whole: header and footer valid and every
 * block's checksums right (in an encrypted file the CRCs, which need no
 * key). Of two versions of one segment (SPEC 10.9) only a whole one
 * replaces the other. */
static int reader_whole(struct kt_segment_reader *r)
{
	const struct kt_segment_info *info = kt_segment_reader_info(r);
	if (info->header_err != KT_OK || info->footer_err != KT_OK || info->problem_count)
		return 0;
	uint32_t n = kt_segment_reader_block_count(r);
	for (uint32_t i = 0; i < n; i++) {
		struct kt_diag ignore;
		if (kt_segment_reader_check_block(r, i, 0, &ignore) != KT_OK)
			return 0;
	}
	return 1;
}

static int file_whole(struct kt_archive *a, const char *rel)
{
	struct kt_segment_reader_opts ro = {0};
	struct kt_store_segment *seg;
	struct kt_diag ignore;
	if (kt_store_segment_open(a->store, rel, &ro, &seg, &ignore) != KT_OK)
		return 0;
	int whole = reader_whole(kt_store_segment_reader(seg));
	kt_store_segment_close(seg);
	return whole;
}

/* Whether the catalog lists another version of the segment rel names
 * (FIRST-LAST.kts or FIRST-LAST~N.kts, SPEC 10.9). */
static enum kt_err listed_version(struct kt_archive *a, const char *rel, const char *topic, uint32_t generation,
				  int32_t partition, int *out_found, struct kt_diag *diag)
{
	*out_found = 0;
	int64_t rf, rl;
	if (!kt_archive_segment_name_range(rel, &rf, &rl))
		return KT_OK;
	struct overlap ov = {.first = rf, .last = rl};
	enum kt_err err = kt_catalog_each_segment_overlapping(a->cat, topic, generation, partition, rf, rl, overlap_cb,
							      &ov, diag);
	if (!err && ov.nomem)
		err = KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < ov.n; i++) {
		int64_t f2, l2;
		if (kt_archive_segment_name_range(ov.paths[i], &f2, &l2) && f2 == rf && l2 == rl &&
		    strcmp(ov.paths[i], rel))
			*out_found = 1;
	}
	overlap_free(&ov);
	return err;
}

/* What became of a file index_segment_file was given. */
struct index_out {
	int damaged;		      /* indexed in part, or (on error) not at all */
	int leftover;		      /* not indexed: 1, listed segments of its partition hold
				       * all its offsets (an interrupted compaction's merged
				       * file or parts); 2, they hold some of them */
	int replaced;		      /* reindex: listed segments it holds whole, unlisted again */
	int version_replaced;	      /* it replaced another version of its segment (out->other),
				       * whose file is to go (SPEC 10.9) */
	int version_lost;	      /* not indexed: another version of its segment stays */
	int erased;		      /* not indexed: an erasure removed it whole */
	int64_t erasing_run;	      /* the erasure that noted out->other as pruned, or 0 */
	char other[KT_DIAG_PATH_MAX]; /* a listed segment it met */
};

/* Indexes one segment file: from its footer, or, when the file is damaged
 * (footer or header), from the blocks a scan finds, with what they do not
 * hold recorded as missing. KT_ERR_FORMAT (and nothing indexed, the whole
 * file recorded as missing when its name says which offsets it held) when
 * no block can be read. A file whose offsets the catalog already lists in
 * other files of its partition is not indexed (readers must never get a
 * record twice): out->leftover says so. With reindex set, a file that
 * holds every listed segment it meets whole replaces them instead: reindex
 * meets a merged file and its parts in name order, and keeps the merged
 * one. */
static enum kt_err index_segment_file(struct kt_archive *a, const char *rel, int64_t run_id, int reindex,
				      struct index_out *out, struct kt_diag *diag)
{
	memset(out, 0, sizeof(*out));
	int *out_damaged = &out->damaged;
	char topic[KT_SEG_TOPIC_MAX + 1];
	struct kt_segment_identity id = {topic, 0, 0};
	int64_t name_first = 0, name_last = -1;
	int named = kt_archive_segment_parse_relpath(rel, topic, sizeof(topic), &id.generation, &id.partition,
						     &name_first, &name_last);
	struct kt_segment_reader_opts ro = {.salvage = named ? &id : NULL};
	struct kt_store_segment *seg = NULL;
	struct kt_segment_reader *r = NULL;
	enum kt_err err = kt_catalog_drop_missing_path(a->cat, rel, diag);
	if (!err)
		err = kt_store_segment_open(a->store, rel, &ro, &seg, diag);
	if (!err)
		r = kt_store_segment_reader(seg);
	/* a bucket that cannot be read says nothing of the file */
	if (err == KT_ERR_NOMEM || err == KT_ERR_CATALOG || err == KT_ERR_STORAGE || err == KT_ERR_TIMEOUT ||
	    err == KT_ERR_IO)
		return err;
	uint32_t n = err ? 0 : kt_segment_reader_block_count(r);
	if (err || n == 0) {
		*out_damaged = 1;
		char detail[KT_DIAG_MSG_MAX], why[KT_DIAG_MSG_MAX + 32];
		snprintf(detail, sizeof(detail), "%s", err ? diag->msg : "no readable block");
		snprintf(why, sizeof(why), "damaged segment file: %s", detail);
		kt_store_segment_close(seg);
		int other = 0;
		if (named) {
			enum kt_err e2 = listed_version(a, rel, topic, id.generation, id.partition, &other, diag);
			if (e2)
				return e2;
		}
		if (other) {
			/* another version of the segment is listed and stays
			 * (SPEC 10.9): this one is what a crash or damage left */
			out->leftover = 1;
			out->version_lost = 1;
			snprintf(out->other, sizeof(out->other), "another version of the segment");
			return KT_OK;
		}
		if (named) {
			struct kt_catalog_missing m = {topic,	  id.generation, id.partition, name_first,
						       name_last, rel,		 why};
			enum kt_err e2 = kt_catalog_add_missing(a->cat, &m, diag);
			if (e2)
				return e2;
		}
		return kt_diag_fail(diag, KT_ERR_FORMAT, "%s has no readable block: %s", rel, detail);
	}
	const struct kt_segment_info *info = kt_segment_reader_info(r);
	struct overlap ov = {.first = named ? name_first : info->summary.first_offset,
			     .last = named ? name_last : info->summary.last_offset};
	err = kt_catalog_each_segment_overlapping(a->cat, info->topic, info->generation, info->partition, ov.first,
						  ov.last, overlap_cb, &ov, diag);
	if (!err && ov.nomem)
		err = KT_ERR_NOMEM;
	int replace = !err && ov.n && reindex && !ov.inside_one && ov.first <= ov.min_first && ov.last >= ov.max_last;
	/* An erasure's rewrite FIRST-LAST~N and the file it replaced, named by
	 * the same range (SPEC 10.9). A rewrite is under its name only once it
	 * was written whole and fsynced, and only because an erasure of the
	 * range was asked for: recovery and reindex alike keep the highest
	 * version that is whole and drop the other (the erasure rolls
	 * forward, so erased records never come back). A damaged rewrite
	 * replaces nothing: the version it came from stays. */
	int same_range = 0, wins = 1, mine_whole = -1;
	size_t nsame = 0;
	int64_t rf, rl; /* by the file name alone: a long topic's directory does not name it */
	int ranged = kt_archive_segment_name_range(rel, &rf, &rl);
	for (size_t i = 0; !err && ranged && i < ov.n; i++) {
		int64_t f2, l2;
		if (!kt_archive_segment_name_range(ov.paths[i], &f2, &l2) || f2 != rf || l2 != rl)
			continue;
		same_range = 1;
		nsame++;
		int mine_newer = kt_archive_segment_rewrite_of(rel) > kt_archive_segment_rewrite_of(ov.paths[i]);
		if (mine_whole < 0)
			mine_whole = reader_whole(r);
		if (!mine_whole || (!mine_newer && file_whole(a, ov.paths[i])))
			wins = 0;
	}
	if (!err && same_range)
		replace = wins && nsame == ov.n; /* two versions of one segment */
	int64_t erasing_run = 0, committed = 0;
	out->version_replaced = !err && same_range && replace;
	out->version_lost = !err && same_range && !replace;
	if (out->version_replaced && !reindex) {
		/* recovery completes the swap: the replaced path is noted as
		 * pruned by the erasing run, as step 3 would have */
		int found = 0;
		if (kt_archive_segment_rewrite_of(rel) > kt_archive_segment_rewrite_of(ov.paths[0]))
			err = kt_catalog_erasing_run(a->cat, &erasing_run, &found, diag);
		if (!found)
			erasing_run = 0;
		run_id = ov.run0;
		committed = ov.committed0;
		out->erasing_run = erasing_run;
	}
	/* a file an erasure removed whole (no record left to rewrite) */
	int erased = 0;
	if (!err && !ov.n)
		err = kt_catalog_erased_path(a->cat, rel, &erased, diag);
	if (!err && erased) {
		out->leftover = 1;
		out->erased = 1;
		snprintf(out->other, sizeof(out->other), "an erasure");
	}
	if (!err && ov.n && !replace) {
		out->leftover = same_range || (ov.first >= ov.min_first && ov.last <= ov.max_last) ? 1 : 2;
		snprintf(out->other, sizeof(out->other), "%s", ov.paths[0]);
	}
	for (size_t i = 0; !err && replace && i < ov.n; i++) {
		err = kt_catalog_delete_segment(a->cat, ov.ids[i], diag);
		if (!err)
			err = kt_catalog_drop_missing_path(a->cat, ov.paths[i], diag);
		if (!err && erasing_run)
			err = kt_catalog_note_pruned(a->cat, erasing_run, ov.paths[i], diag);
		out->replaced++;
		snprintf(out->other, sizeof(out->other), "%s", ov.paths[i]);
	}
	overlap_free(&ov);
	if (err || out->leftover) {
		kt_store_segment_close(seg);
		return err;
	}
	struct kt_block_info *blocks = malloc(n * sizeof(*blocks));
	if (!blocks) {
		kt_store_segment_close(seg);
		return KT_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		blocks[i] = *kt_segment_reader_block(r, i);
	struct kt_catalog_segment cs = {0,	rel, info->topic, info->generation, info->partition, info->summary,
					run_id, 0};
	if (out->version_replaced && !reindex)
		cs.committed_ms = committed; /* the version it replaces: its run's commit */
	if (info->footer_err != KT_OK)
		cs.sum.file_crc = 0; /* no footer: the file has no identity of its own */
	err = kt_catalog_add_segment(a->cat, &cs, blocks, n, NULL, diag);
	if (!err)
		err = kt_catalog_add_generation(a->cat, info->topic, info->generation, 0, "found in segment files",
						diag);
	if (!err && (info->footer_err != KT_OK || info->header_err != KT_OK)) {
		*out_damaged = 1;
		err = record_damage(a, rel, r, named ? name_first : info->summary.first_offset,
				    named ? name_last : info->summary.last_offset, diag);
	}
	free(blocks);
	kt_store_segment_close(seg);
	return err;
}

static enum kt_err recover_one(struct kt_archive *a, const char *rel, void *ctx, struct kt_diag *diag)
{
	struct kt_archive_recovery *rec = ctx;
	int found;
	enum kt_err err = kt_catalog_has_segment(a->cat, rel, &found, diag);
	if (err || found)
		return err;
	if (a->discard_unlisted) {
		/* a group member's shard (SPEC 10.8): the group never counted
		 * these records as archived, and their next owner archives them
		 * again from the group's offset */
		char topic[KT_SEG_TOPIC_MAX + 1];
		uint32_t gen;
		int32_t part;
		int64_t first = 0, last = -1;
		int named = kt_archive_segment_parse_relpath(rel, topic, sizeof(topic), &gen, &part, &first, &last);
		err = kt_store_remove(a->store, rel, diag);
		if (!err) {
			rec->unlisted_removed++;
			if (named && last >= first)
				rec->unlisted_offsets += last - first + 1;
		}
		return err;
	}
	struct kt_diag d2;
	kt_diag_clear(&d2);
	err = kt_catalog_begin(a->cat, diag);
	if (err)
		return err;
	struct index_out io;
	err = index_segment_file(a, rel, 0, 0, &io, &d2);
	if (err == KT_ERR_NOMEM || err == KT_ERR_CATALOG) {
		kt_catalog_rollback(a->cat);
		*diag = d2;
		return err;
	}
	/* a file with no readable block is not indexed, but its offsets are
	 * recorded as missing: commit that too */
	enum kt_err e2 = kt_catalog_commit(a->cat, diag);
	if (e2)
		return e2;
	if (!err && io.version_replaced) {
		/* an erasure rolled forward (SPEC 10.9): the erasing run's
		 * metadata file notes the replaced path before the file goes,
		 * as the swap's step 3 would have; in a bucket the file goes
		 * once a catalog without it is up */
		if (io.erasing_run)
			err = kt_archive_write_run_meta(a, io.erasing_run, "prune", diag);
		struct kt_diag ignore;
		if (!err && kt_archive_remove_unlisted(a, io.other, &ignore) == KT_OK)
			rec->leftovers_removed++;
		if (err)
			return err;
		rec->segments_recovered++;
	} else if (io.leftover == 1) {
		/* what an interrupted compaction left (SPEC 10.7): the catalog,
		 * which holds these records in other files, is the truth. No
		 * catalog a reader can have names this file. */
		struct kt_diag ignore;
		if (kt_store_remove(a->store, rel, &ignore) == KT_OK)
			rec->leftovers_removed++;
	} else if (io.leftover) {
		rec->conflicting_files++;
	} else if (err) {
		rec->unusable_files++;
	} else if (io.damaged) {
		rec->damaged_files++;
	} else {
		rec->segments_recovered++;
	}
	return KT_OK;
}

/* ---- live runs: liveness of runs that record without the writer lock ---- */

static void live_lock_path(const struct kt_archive *a, int64_t run_id, char *buf, size_t bufsize)
{
	snprintf(buf, bufsize, "%s/%s/%010" PRId64 ".lock", kt_store_work_dir(a->store), LIVE_DIR, run_id);
}

/* kt_catalog_alive_cb: a run is alive while its process holds the flock
 * on live/RUN.lock. A file nobody holds belonged to a dead run: it goes. */
static int run_alive(void *ctx, int64_t run_id)
{
	char path[PATH_BUF];
	live_lock_path(ctx, run_id, path, sizeof(path));
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int held = errno == EWOULDBLOCK;
		close(fd);
		return held;
	}
	unlink(path);
	close(fd);
	return 0;
}

/* KT_ERR_LOCKED when a run is alive: reindex replaces the catalog a live
 * restore is writing to, and its run would be lost. */
static enum kt_err check_no_live_run(struct kt_archive *a, struct kt_diag *diag)
{
	char path[PATH_BUF];
	work_path(a, LIVE_DIR, path, sizeof(path));
	DIR *d = opendir(path);
	if (!d)
		return KT_OK;
	enum kt_err err = KT_OK;
	struct dirent *e;
	long long id;
	int used;
	while (!err && (e = readdir(d)))
		if (sscanf(e->d_name, "%lld.lock%n", &id, &used) == 1 && e->d_name[used] == '\0' &&
		    run_alive(a, (int64_t)id))
			err = kt_diag_fail(
				diag, KT_ERR_LOCKED,
				"archive %s is in use by a running restore (run %lld); reindex after it ends", a->dir,
				id);
	closedir(d);
	return err;
}

int kt_archive_recording(const struct kt_archive *a)
{
	return a->recording;
}

const char *kt_archive_norecord_reason(const struct kt_archive *a)
{
	return a->recording ? NULL : a->norecord_why ? a->norecord_why : "the archive is open read-only";
}

enum kt_err kt_archive_run_begin(struct kt_archive *a, const struct kt_catalog_run *run, int64_t *out_run_id,
				 struct kt_diag *diag)
{
	if (!kt_archive_recording(a))
		return kt_diag_fail(diag, KT_ERR_STATE, "archive %s is open read-only", a->dir);
	char path[PATH_BUF];
	enum kt_err err = kt_mkdirs(work_path(a, LIVE_DIR, path, sizeof(path)), diag);
	if (!err)
		err = kt_catalog_begin(a->cat, diag);
	if (err)
		return err;
	err = kt_catalog_run_begin(a->cat, run, out_run_id, diag);
	/* locked before the run is committed: no writer ever sees it
	 * 'running' without its lock held */
	int fd = -1;
	if (!err) {
		live_lock_path(a, *out_run_id, path, sizeof(path));
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, KT_FILE_MODE);
		if (fd < 0)
			err = errno == ENOSPC
				      ? kt_write_fail(diag, errno, "create", path)
				      : kt_diag_fail(diag, KT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
		else if (flock(fd, LOCK_EX | LOCK_NB) != 0)
			err = kt_diag_fail(diag, KT_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
	}
	if (!err) {
		/* who holds it, as DIR/lock says (SPEC 10.3): a reader that
		 * cannot read /proc/locks asks whether this process exists */
		char info[128], when[KT_TIME_STR_MAX];
		int n = snprintf(info, sizeof(info), "pid %d since %s\n", (int)getpid(),
				 kt_parse_format_time(kt_time_now_ms(), when));
		if (pwrite(fd, info, (size_t)n, 0) < 0) {
			/* the flock is what counts; the text only helps a reader */
		}
	}
	if (!err)
		err = kt_catalog_commit(a->cat, diag);
	else
		kt_catalog_rollback(a->cat);
	if (err) {
		if (fd >= 0) {
			unlink(path);
			close(fd);
		}
		return err;
	}
	a->run_lock_fd = fd;
	a->run_lock_path = strdup(path);
	return KT_OK;
}

/* RECORD mode: the catalog read-write when the archive can be written,
 * else read-only, with the reason kept for the caller's warning. */
static enum kt_err open_catalog_recording(struct kt_archive *a, const char *path, struct kt_diag *diag)
{
	struct kt_diag d2;
	kt_diag_clear(&d2);
	enum kt_err err = kt_catalog_open(path, KT_CATALOG_WRITE, &a->cat, &d2);
	a->recording = !err;
	if (err != KT_ERR_IO && err != KT_ERR_NO_SPACE) {
		if (err)
			*diag = d2;
		return err;
	}
	a->norecord_why = strdup(d2.msg[0] ? d2.msg : "the archive cannot be written");
	return a->norecord_why ? kt_catalog_open(path, KT_CATALOG_READ, &a->cat, diag) : KT_ERR_NOMEM;
}

/* Runs that write segments under the writer lock (dump, import) with a
 * given status, by id, with whether each is an import. */
struct run_ids {
	const char *status;
	int64_t *ids;
	uint8_t *is_import;
	size_t n;
	int nomem;
};

static int collect_dump_run(void *ctx, const struct kt_catalog_run *run)
{
	struct run_ids *r = ctx;
	int import = !strcmp(run->kind, "import");
	if ((strcmp(run->kind, "dump") && !import) || strcmp(run->status, r->status))
		return 0;
	int64_t *ids = realloc(r->ids, (r->n + 1) * sizeof(*ids));
	if (ids)
		r->ids = ids;
	uint8_t *imp = ids ? realloc(r->is_import, r->n + 1) : NULL;
	if (!imp) {
		r->nomem = 1;
		return 1;
	}
	r->is_import = imp;
	r->is_import[r->n] = (uint8_t)import;
	r->ids[r->n++] = run->run_id;
	return 0;
}

static int has_id(const struct run_ids *r, int64_t id)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->ids[i] == id)
			return 1;
	return 0;
}

/* A dump (or import) run that died committed segments all the same: its
 * records and bytes are those segments, and its metadata file must exist
 * for reindex to know the run. Only the runs this open found crashed are
 * touched. */
static enum kt_err recount_crashed(struct kt_archive *a, const struct run_ids *was_running, struct kt_diag *diag)
{
	struct run_ids crashed = {"crashed", NULL, NULL, 0, 0};
	enum kt_err err = kt_catalog_each_run(a->cat, collect_dump_run, &crashed, diag);
	if (!err && crashed.nomem)
		err = KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < crashed.n; i++) {
		if (!has_id(was_running, crashed.ids[i]))
			continue;
		err = kt_catalog_run_recount(a->cat, crashed.ids[i], NULL, NULL, diag);
		if (!err)
			err = kt_archive_write_run_meta(a, crashed.ids[i], crashed.is_import[i] ? "import" : "dump",
							diag);
	}
	free(crashed.ids);
	free(crashed.is_import);
	return err;
}

struct erased_rows {
	int64_t *ids;
	char **paths;
	size_t n;
	int nomem;
};

static int erased_row_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct erased_rows *e = ctx;
	int64_t *ids = realloc(e->ids, (e->n + 1) * sizeof(*ids));
	if (ids)
		e->ids = ids;
	char **paths = ids ? realloc(e->paths, (e->n + 1) * sizeof(*paths)) : NULL;
	if (paths)
		e->paths = paths;
	if (!paths || !(paths[e->n] = strdup(s->path))) {
		e->nomem = 1;
		return 1;
	}
	ids[e->n++] = s->segment_id;
	return 0;
}

/* A segment an erasure noted as erased whole (its metadata file says so,
 * and a reindex would not index it) but was killed before deleting its
 * row: the erasure rolls forward (SPEC 10.9), the row goes, then the
 * file. */
static enum kt_err finish_erased(struct kt_archive *a, struct kt_archive_recovery *rec, struct kt_diag *diag)
{
	struct erased_rows e = {0};
	enum kt_err err = kt_catalog_each_erased_segment(a->cat, erased_row_cb, &e, diag);
	if (!err && e.nomem)
		err = KT_ERR_NOMEM;
	if (!err && e.n) {
		err = kt_catalog_begin(a->cat, diag);
		for (size_t i = 0; !err && i < e.n; i++)
			err = kt_catalog_delete_segment(a->cat, e.ids[i], diag);
		if (!err)
			err = kt_catalog_commit(a->cat, diag);
		else
			kt_catalog_rollback(a->cat);
	}
	for (size_t i = 0; !err && i < e.n; i++) {
		struct kt_diag ignore;
		if (kt_archive_remove_unlisted(a, e.paths[i], &ignore) == KT_OK)
			rec->leftovers_removed++;
	}
	for (size_t i = 0; i < e.n; i++)
		free(e.paths[i]);
	free(e.paths);
	free(e.ids);
	return err;
}

static enum kt_err recover(struct kt_archive *a, struct kt_archive_recovery *rec, struct kt_diag *diag)
{
	enum kt_err err = clear_tmp(a, &rec->temp_files_removed, diag);
	if (err)
		return err;
	struct run_ids running = {"running", NULL, NULL, 0, 0};
	err = kt_catalog_each_run(a->cat, collect_dump_run, &running, diag);
	if (!err && running.nomem)
		err = KT_ERR_NOMEM;
	if (!err)
		err = kt_catalog_runs_mark_crashed(a->cat, kt_time_now_ms(), run_alive, a, &rec->runs_crashed, diag);
	if (!err && running.n)
		err = recount_crashed(a, &running, diag);
	free(running.ids);
	free(running.is_import);
	if (err)
		return err;
	err = walk_segments(a, recover_one, rec, diag);
	return err ? err : finish_erased(a, rec, diag);
}

/* A bucket's catalog goes up whole (format/SPEC.md 10.6): a consistent
 * snapshot of the working copy replaces the object "catalog.db". Nothing
 * for a directory, whose catalog is in place. */
static enum kt_err publish(struct kt_archive *a, struct kt_diag *diag)
{
	if (kt_archive_is_local(a) || !a->writer || !a->cat)
		return KT_OK;
	char snap[PATH_BUF];
	work_path(a, "tmp/catalog.db.publish", snap, sizeof(snap));
	unlink(snap);
	enum kt_err err = kt_store_lock_check(a->store, diag);
	if (!err)
		err = kt_catalog_snapshot(a->cat, snap, diag);
	if (!err)
		err = kt_store_commit_file(a->store, snap, "catalog.db", diag);
	unlink(snap);
	if (!err)
		a->published_ms = kt_time_now_ms();
	/* the catalog up there no longer names them: they can go. One that
	 * cannot is a leftover the next writer's recovery removes. */
	for (size_t i = 0; !err && i < a->n_pending_rm; i++) {
		struct kt_diag ignore;
		kt_store_remove(a->store, a->pending_rm[i], &ignore);
		free(a->pending_rm[i]);
	}
	if (!err)
		a->n_pending_rm = 0;
	return err;
}

enum kt_err kt_archive_publish(struct kt_archive *a, struct kt_diag *diag)
{
	return publish(a, diag);
}

enum kt_err kt_archive_remove_file(struct kt_archive *a, const char *rel, struct kt_diag *diag)
{
	if (!a->writer)
		return kt_diag_fail(diag, KT_ERR_STATE, "archive %s is open read-only", a->dir);
	/* the catalog a reader elsewhere downloads must not name an object
	 * that is gone: it goes up first, without the files about to go */
	if (!kt_archive_is_local(a) && !a->published_for_remove) {
		enum kt_err err = publish(a, diag);
		if (err)
			return err;
		a->published_for_remove = 1;
	}
	return kt_store_remove(a->store, rel, diag);
}

struct kt_store *kt_archive_store_of(struct kt_archive *a)
{
	return a->store;
}

int kt_archive_is_writer(const struct kt_archive *a)
{
	return a->writer;
}

enum kt_err kt_archive_remove_unlisted(struct kt_archive *a, const char *rel, struct kt_diag *diag)
{
	if (!a->writer)
		return kt_diag_fail(diag, KT_ERR_STATE, "archive %s is open read-only", a->dir);
	if (kt_archive_is_local(a))
		return kt_store_remove(a->store, rel, diag);
	char **np = realloc(a->pending_rm, (a->n_pending_rm + 1) * sizeof(*np));
	if (!np)
		return KT_ERR_NOMEM;
	a->pending_rm = np;
	if (!(np[a->n_pending_rm] = strdup(rel)))
		return KT_ERR_NOMEM;
	a->n_pending_rm++;
	return KT_OK;
}

enum kt_err kt_archive_upgrade(struct kt_archive *a, int version, struct kt_diag *diag)
{
	if (a->format_version >= version)
		return KT_OK;
	if (!a->writer || version > KT_ARCHIVE_FORMAT_VERSION)
		return kt_diag_fail(diag, KT_ERR_STATE, "archive %s cannot be made version %d", a->dir, version);
	char id[64];
	enum kt_err err = kt_catalog_get_meta(a->cat, "archive_id", id, sizeof(id), diag);
	char text[256], num[16];
	int n = snprintf(text, sizeof(text), "ktape archive\nformat_version=%d\narchive_id=%s\n", version, id);
	snprintf(num, sizeof(num), "%d", version);
	/* the marker first: a catalog that says 2 beside a marker that says 1
	 * would be the one lie that matters (an older ktape would write) */
	if (!err)
		err = kt_store_put(a->store, MARKER_FILE, text, (size_t)n, diag);
	if (!err)
		err = kt_catalog_begin(a->cat, diag);
	if (!err) {
		err = kt_catalog_set_meta(a->cat, "format_version", num, diag);
		if (!err)
			err = kt_catalog_commit(a->cat, diag);
		else
			kt_catalog_rollback(a->cat);
	}
	if (!err)
		a->format_version = version;
	return err;
}

void kt_archive_crash_point(const char *point)
{
	const char *want = getenv("KTAPE_TEST_CRASH");
	if (want && !strcmp(want, point))
		raise(SIGKILL);
}

enum kt_err kt_archive_file_size(struct kt_archive *a, const char *rel, uint64_t *out_size, struct kt_diag *diag)
{
	return kt_store_size(a->store, rel, out_size, diag);
}

enum kt_err kt_archive_segment_open(struct kt_archive *a, const char *rel, const struct kt_segment_reader_opts *ro,
				    struct kt_store_segment **out, struct kt_diag *diag)
{
	return kt_store_segment_open(a->store, rel, ro, out, diag);
}

enum kt_err kt_archive_list(struct kt_archive *a, const char *prefix, kt_archive_list_cb cb, void *ctx,
			    struct kt_diag *diag)
{
	if (a->view && !strcmp(prefix, "segments/"))
		return kt_archive_union_list_segments(a, cb, ctx, diag);
	return kt_store_list(a->store, prefix, cb, ctx, diag);
}

/* An archive object over its store; nothing read or written yet. */
static enum kt_err archive_new(const char *dir, struct kt_archive **out, struct kt_diag *diag)
{
	struct kt_archive *a = calloc(1, sizeof(*a));
	if (!a)
		return KT_ERR_NOMEM;
	a->run_lock_fd = -1;
	enum kt_err err = kt_store_open(dir, &store_opts, &a->store, diag);
	if (err) {
		free(a);
		return err;
	}
	a->dir = kt_store_location(a->store);
	*out = a;
	return KT_OK;
}

enum kt_err kt_archive_open(const char *dir, enum kt_archive_mode mode, struct kt_archive **out,
			    struct kt_archive_recovery *out_recovery, struct kt_diag *diag)
{
	return kt_archive_open_flags(dir, mode, 0, out, out_recovery, diag);
}

enum kt_err kt_archive_open_flags(const char *dir, enum kt_archive_mode mode, unsigned flags, struct kt_archive **out,
				  struct kt_archive_recovery *out_recovery, struct kt_diag *diag)
{
	*out = NULL;
	struct kt_archive_recovery rec = {0};
	struct kt_archive *a;
	enum kt_err err = archive_new(dir, &a, diag);
	if (err)
		return err;
	a->discard_unlisted = (flags & KT_ARCHIVE_OPEN_DISCARD_UNLISTED) != 0;
	int local = kt_archive_is_local(a);
	int version = 0;
	err = check_marker(a->store, &version, diag);
	a->format_version = version;
	int creating = 0;
	if (err == KT_ERR_NOT_FOUND && mode == KT_ARCHIVE_CREATE) {
		/* refuse to scatter an archive among other files */
		int empty;
		kt_diag_clear(diag);
		err = kt_store_is_empty(a->store, &empty, diag);
		if (!err && !empty)
			err = kt_diag_fail(diag, KT_ERR_EXISTS, "%s exists, is not empty and is not a ktape archive",
					   a->dir);
		if (!err && local)
			err = kt_mkdirs(a->dir, diag);
		creating = 1;
	}
	if (err)
		goto fail;
	char path[PATH_BUF];
	int writer = mode == KT_ARCHIVE_WRITE || mode == KT_ARCHIVE_CREATE;
	if (writer) {
		err = take_lock(a, diag);
		if (err)
			goto fail;
		a->recording = 1;
	}
	work_path(a, "catalog.db", path, sizeof(path));
	if (!local && !creating)
		err = kt_store_fetch_file(a->store, "catalog.db", path, diag);
	if (!err && mode == KT_ARCHIVE_RECORD && !local) {
		/* a run recorded without the writer lock would have to publish
		 * the catalog beside a writer that publishes its own */
		a->norecord_why = strdup("restores from an archive in object storage are not recorded in it");
		err = a->norecord_why ? kt_catalog_open(path, KT_CATALOG_READ, &a->cat, diag) : KT_ERR_NOMEM;
	} else if (!err && mode == KT_ARCHIVE_RECORD) {
		err = open_catalog_recording(a, path, diag);
	} else if (!err) {
		err = kt_catalog_open(path,
				      mode == KT_ARCHIVE_READ ? KT_CATALOG_READ
				      : creating	      ? KT_CATALOG_CREATE
							      : KT_CATALOG_WRITE,
				      &a->cat, diag);
	}
	if (err) {
		if (err == KT_ERR_NOT_FOUND)
			err = kt_diag_fail(diag, KT_ERR_FORMAT,
					   "%s has no catalog.db; 'ktape reindex -a %s' rebuilds it", a->dir, a->dir);
		goto fail;
	}
	if (creating) {
		char num[16];
		snprintf(num, sizeof(num), "%d", KT_ARCHIVE_FORMAT_CREATED);
		err = kt_catalog_set_meta(a->cat, "format_version", num, diag);
		if (local) {
			err = err ? err : kt_mkdirs(kt_archive_path(a, "segments", path, sizeof(path)), diag);
			err = err ? err : kt_mkdirs(kt_archive_path(a, "meta", path, sizeof(path)), diag);
		}
		err = err ? err : kt_mkdirs(work_path(a, "tmp", path, sizeof(path)), diag);
		/* the marker comes last: a directory without it is not an
		 * archive yet, and the next CREATE starts over */
		err = err ? err : write_marker(a, diag);
		if (err)
			goto fail;
	}
	if (writer) {
		err = kt_mkdirs(work_path(a, "tmp", path, sizeof(path)), diag);
		err = err ? err : recover(a, &rec, diag);
		if (err)
			goto fail;
	} else {
		/* a reader of a sharded archive reads the union (SPEC 10.8) */
		err = kt_archive_union_open(a, diag);
		if (err)
			goto fail;
	}
	if (out_recovery)
		*out_recovery = rec;
	*out = a;
	return KT_OK;
fail:
	kt_archive_close(a);
	return err;
}

void kt_archive_close(struct kt_archive *a)
{
	if (!a)
		return;
	if (a->n_pending_rm && a->writer) {
		/* removals waiting for a publish (a run ends with one; this is
		 * for a writer that ends without) */
		struct kt_diag ignore;
		publish(a, &ignore);
	}
	for (size_t i = 0; i < a->n_pending_rm; i++)
		free(a->pending_rm[i]);
	free(a->pending_rm);
	kt_catalog_close(a->cat);
	kt_archive_union_close(a);
	if (a->run_lock_path) {
		/* the run has ended: its catalog row says so already */
		unlink(a->run_lock_path);
		close(a->run_lock_fd);
		free(a->run_lock_path);
	}
	kt_store_close(a->store); /* releases the lock */
	free(a->norecord_why);
	free(a);
}

enum kt_err kt_archive_segment_begin(struct kt_archive *a, const char *topic, uint32_t generation, int32_t partition,
				     const struct kt_segment_writer_opts *opts, struct kt_archive_segment **out,
				     struct kt_diag *diag)
{
	*out = NULL;
	if (!a->writer)
		return kt_diag_fail(diag, KT_ERR_STATE, "archive is open read-only");
	struct kt_archive_segment *s = calloc(1, sizeof(*s));
	if (!s)
		return KT_ERR_NOMEM;
	s->topic = strdup(topic);
	s->generation = generation;
	s->partition = partition;
	/* the topic is in the header: the name only has to be unique, and
	 * short enough for any legal topic name */
	snprintf(s->tmp_path, sizeof(s->tmp_path), "%s/tmp/%d-%u-%016" PRIx64 "-%" PRId32 ".kts",
		 kt_store_work_dir(a->store), (int)getpid(), a->tmp_seq++, name_hash(topic), partition);
	enum kt_err err = s->topic
				  ? kt_segment_writer_open(s->tmp_path, topic, partition, generation, opts, &s->w, diag)
				  : KT_ERR_NOMEM;
	if (err) {
		free(s->topic);
		free(s);
		return err;
	}
	*out = s;
	return KT_OK;
}

enum kt_err kt_archive_segment_add(struct kt_archive_segment *s, const struct kt_record *rec, struct kt_diag *diag)
{
	enum kt_err err = kt_segment_writer_add(s->w, rec, diag);
	if (!err)
		s->records++;
	return err;
}

uint64_t kt_archive_segment_records(const struct kt_archive_segment *s)
{
	return s->records;
}

uint64_t kt_archive_segment_raw_bytes(const struct kt_archive_segment *s)
{
	return kt_segment_writer_raw_bytes(s->w);
}

void kt_archive_segment_abort(struct kt_archive_segment *s)
{
	if (!s)
		return;
	kt_segment_writer_close(s->w); /* removes the unfinished temp file */
	free(s->topic);
	free(s);
}

/* A simulated crash: stop here, leaving files as they are. */
static int crashed_at(enum kt_archive_step step)
{
	return kt_archive_crash_hook && kt_archive_crash_hook(step);
}

enum kt_err kt_archive_segment_seal(struct kt_archive_segment *s, struct kt_diag *diag)
{
	return kt_segment_writer_seal(s->w, diag);
}

enum kt_err kt_archive_segment_commit_many(struct kt_archive *a, struct kt_archive_segment **segs,
					   const struct kt_catalog_prun *pruns, size_t n, int64_t run_id,
					   struct kt_segment_summary *sums, enum kt_err *errs, struct kt_diag *diags)
{
	char(*rels)[PATH_BUF] = calloc(n ? n : 1, sizeof(*rels));
	struct kt_diag all;
	kt_diag_clear(&all);
	enum kt_err err = rels ? KT_OK : kt_diag_fail(&all, KT_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		errs[i] = KT_OK;
		kt_diag_clear(&diags[i]);
	}
	/* 1. every file complete and fsynced under tmp/ */
	for (size_t i = 0; !err && i < n; i++) {
		struct kt_archive_segment *s = segs[i];
		if (!s)
			continue;
		errs[i] = kt_segment_writer_finish(s->w, &sums[i], &diags[i]);
		if (!errs[i])
			kt_archive_segment_relpath(s->topic, s->generation, s->partition, sums[i].first_offset,
						   sums[i].last_offset, rels[i], sizeof(rels[i]));
	}
	if (!err && crashed_at(KT_STEP_FINISHED))
		err = kt_diag_fail(&all, KT_ERR_INTERRUPTED, "simulated crash after writing");
	/* 2. renamed into segments/ (the directories fsynced), or uploaded whole */
	const char **paths = err ? NULL : calloc(n ? n : 1, sizeof(*paths));
	const char **names = err ? NULL : calloc(n ? n : 1, sizeof(*names));
	if (!err && (!paths || !names))
		err = kt_diag_fail(&all, KT_ERR_NOMEM, "out of memory");
	for (size_t i = 0; !err && i < n; i++) {
		paths[i] = segs[i] && !errs[i] ? segs[i]->tmp_path : NULL;
		names[i] = rels[i];
	}
	if (!err)
		kt_store_commit_files(a->store, paths, names, n, errs, diags);
	for (size_t i = 0; !err && i < n; i++)
		if (paths[i] && errs[i] && !kt_archive_is_local(a))
			unlink(segs[i]->tmp_path); /* the spooled copy of a failed upload */
	free(paths);
	free(names);
	if (!err && crashed_at(KT_STEP_RENAMED))
		err = kt_diag_fail(&all, KT_ERR_INTERRUPTED, "simulated crash after rename");
	/* 3. then one catalog transaction records them all */
	if (!err)
		err = kt_catalog_begin(a->cat, &all);
	int began = !err;
	int64_t now = kt_time_now_ms();
	for (size_t i = 0; !err && i < n; i++) {
		if (errs[i])
			continue;
		if (segs[i]) {
			struct kt_archive_segment *s = segs[i];
			uint32_t nblocks;
			const struct kt_block_info *blocks = kt_segment_writer_blocks(s->w, &nblocks);
			struct kt_catalog_segment seg = {0,	  rels[i], s->topic, s->generation, s->partition,
							 sums[i], run_id,  now};
			err = kt_catalog_add_segment(a->cat, &seg, blocks, nblocks, NULL, &all);
		}
		if (!err && pruns)
			err = kt_catalog_put_prun(a->cat, &pruns[i], &all);
	}
	if (began) {
		if (!err)
			err = kt_catalog_commit(a->cat, &all);
		else
			kt_catalog_rollback(a->cat);
	}
	/* A failed catalog write leaves complete, renamed segments behind:
	 * the next writer open indexes them, exactly as after a crash. But a
	 * full disk is no crash: the catalog said no, so the files go too and
	 * the archive is as before this commit (their records are read again by
	 * the next dump, whose start the caller leaves before them). Unless
	 * the catalog holds them after all (a commit that failed late). */
	for (size_t i = 0; err == KT_ERR_NO_SPACE && began && i < n; i++) {
		struct kt_diag ignore;
		int found = 1;
		if (segs[i] && !errs[i] && kt_catalog_has_segment(a->cat, rels[i], &found, &ignore) == KT_OK && !found)
			kt_store_remove(a->store, rels[i], &ignore);
	}
	/* readers elsewhere see a long dump's progress */
	if (!err && !kt_archive_is_local(a) && kt_time_now_ms() - a->published_ms >= PUBLISH_INTERVAL_MS)
		err = publish(a, &all);
	if (!err && crashed_at(KT_STEP_COMMITTED))
		err = kt_diag_fail(&all, KT_ERR_INTERRUPTED, "simulated crash after commit");
	for (size_t i = 0; i < n; i++) {
		if (err && !errs[i]) {
			errs[i] = err;
			diags[i] = all;
		}
		if (!segs[i])
			continue;
		/* a finished writer removes nothing; an unfinished one its
		 * temporary file */
		kt_segment_writer_close(segs[i]->w);
		free(segs[i]->topic);
		free(segs[i]);
	}
	free(rels);
	return err;
}

enum kt_err kt_archive_segment_commit(struct kt_archive *a, struct kt_archive_segment *s, int64_t run_id,
				      const struct kt_catalog_prun *prun, struct kt_segment_summary *out_summary,
				      struct kt_diag *diag)
{
	struct kt_segment_summary sum;
	enum kt_err err;
	struct kt_diag d1;
	kt_archive_segment_commit_many(a, &s, prun, 1, run_id, &sum, &err, &d1);
	if (err && diag)
		*diag = d1;
	if (!err && out_summary)
		*out_summary = sum;
	return err;
}

/* ---- metadata files ---- */

enum kt_err kt_archive_write_run_meta(struct kt_archive *a, int64_t run_id, const char *kind, struct kt_diag *diag)
{
	struct kt_buf b;
	kt_buf_init(&b, META_MAX);
	enum kt_err err = kt_buf_append_u32le(&b, KT_SEG_SKIPPABLE_MAGIC);
	err = err ? err : kt_buf_append_u32le(&b, 0); /* size, patched below */
	err = err ? err : kt_buf_append(&b, "KTMD", 4);
	err = err ? err : kt_buf_append_u8(&b, 1); /* major */
	err = err ? err : kt_buf_append_u8(&b, 2); /* minor: 1.1 adds tables 8 to 10, 1.2 table 11 (SPEC 11) */
	err = err ? err : kt_buf_append_u16le(&b, 0);
	err = err ? err : kt_buf_append_u64le(&b, (uint64_t)run_id);
	err = err ? err : kt_catalog_export_run(a->cat, run_id, &b, diag);
	if (!err) {
		uint32_t crc = kt_crc32c(0, b.data + 8, b.len - 8);
		err = kt_buf_append_u32le(&b, crc);
	}
	if (err) {
		kt_buf_free(&b);
		return err == KT_ERR_CATALOG
			       ? err
			       : kt_diag_fail(diag, err, "cannot build metadata of run %lld", (long long)run_id);
	}
	kt_put_u32le(b.data + 4, (uint32_t)(b.len - 8));
	char rel[128];
	snprintf(rel, sizeof(rel), "meta/%010" PRId64 "-%s.ktm", run_id, kind);
	err = kt_store_put(a->store, rel, b.data, b.len, diag);
	kt_buf_free(&b);
	/* the end of a run: a bucket's catalog goes up with it */
	return err ? err : publish(a, diag);
}

/* Reads meta file path and checks its frame (SPEC 11): *out_data owns the
 * bytes on success. */
static enum kt_err read_meta_file(struct kt_archive *a, const char *rel, uint8_t **out_data, size_t *out_len,
				  struct kt_diag *diag)
{
	uint8_t *data;
	size_t len;
	char path[PATH_BUF];
	kt_archive_path(a, rel, path, sizeof(path));
	enum kt_err err = kt_store_get(a->store, rel, META_MAX, &data, &len, diag);
	if (err)
		return err;
	if (len < 8 + 20 + 4 || kt_get_u32le(data) != KT_SEG_SKIPPABLE_MAGIC || kt_get_u32le(data + 4) != len - 8 ||
	    memcmp(data + 8, "KTMD", 4) != 0)
		err = kt_diag_fail(diag, KT_ERR_FORMAT, "%s is not a ktape metadata file (bad frame)", path);
	else if (kt_crc32c(0, data + 8, len - 12) != kt_get_u32le(data + len - 4))
		err = kt_diag_fail(diag, KT_ERR_CHECKSUM, "%s: checksum mismatch", path);
	else if (data[12] != 1)
		err = kt_diag_fail(diag, KT_ERR_VERSION, "%s: metadata version %u is not supported", path, data[12]);
	if (err) {
		free(data);
		return err;
	}
	*out_data = data;
	*out_len = len;
	return KT_OK;
}

static enum kt_err import_meta_file(struct kt_archive *a, const char *rel, struct kt_diag *diag)
{
	uint8_t *data;
	size_t len;
	enum kt_err err = read_meta_file(a, rel, &data, &len, diag);
	if (err)
		return err;
	err = kt_catalog_import_rows(a->cat, data + 24, len - 24 - 4, diag);
	free(data);
	if (err) {
		char path[PATH_BUF];
		kt_diag_prefix(diag, "%s", kt_archive_path(a, rel, path, sizeof(path)));
	}
	return err;
}

struct meta_list {
	char **names;
	size_t n;
	int nomem;
};

static int meta_one(void *ctx, const char *name, uint64_t size)
{
	(void)size;
	struct meta_list *m = ctx;
	size_t l = strlen(name);
	if (l <= 4 || strcmp(name + l - 4, ".ktm") || strchr(name + 5, '/'))
		return 0;
	char **nn = realloc(m->names, (m->n + 1) * sizeof(*nn));
	if (!nn || !(nn[m->n] = strdup(name))) {
		m->names = nn ? nn : m->names;
		m->nomem = 1;
		return 1;
	}
	m->names = nn;
	m->n++;
	return 0;
}

/* The meta/ *.ktm names, in name (run) order; *out_names NULL when there
 * are none. Each name and the array belong to the caller. */
static enum kt_err meta_names(struct kt_archive *a, char ***out_names, size_t *out_n, struct kt_diag *diag)
{
	struct meta_list m = {NULL, 0, 0};
	enum kt_err err = kt_store_list(a->store, "meta/", meta_one, &m, diag);
	if (!err && m.nomem)
		err = KT_ERR_NOMEM;
	if (err) {
		for (size_t i = 0; i < m.n; i++)
			free(m.names[i]);
		free(m.names);
		return err;
	}
	*out_names = m.names;
	*out_n = m.n;
	return KT_OK;
}

enum kt_err kt_archive_check_meta(struct kt_archive *a, kt_archive_meta_cb cb, void *ctx, int *out_files,
				  struct kt_diag *diag)
{
	size_t n = 0;
	char **names = NULL;
	enum kt_err lerr = meta_names(a, &names, &n, diag);
	if (lerr)
		return lerr;
	*out_files = (int)n;
	for (size_t i = 0; i < n; i++) {
		const char *rel = names[i];
		struct kt_diag d2;
		kt_diag_clear(&d2);
		uint8_t *data;
		size_t len;
		enum kt_err err = read_meta_file(a, rel, &data, &len, &d2);
		if (err == KT_ERR_NOMEM || err == KT_ERR_STORAGE || err == KT_ERR_TIMEOUT) {
			*diag = d2;
			for (; i < n; i++)
				free(names[i]);
			free(names);
			return err;
		}
		if (!err)
			free(data);
		else if (cb)
			cb(ctx, rel, err, d2.msg);
		free(names[i]);
	}
	free(names);
	return KT_OK;
}

struct reindex_ctx {
	struct kt_archive_reindex_result *res;
	kt_archive_warn_cb warn;
	void *warn_ctx;
	/* versions of a segment another version of which is indexed (SPEC
	 * 10.9): removed once the new catalog is in place */
	char **drop;
	size_t ndrop;
};

static enum kt_err reindex_drop(struct reindex_ctx *rc, const char *rel)
{
	char **d = realloc(rc->drop, (rc->ndrop + 1) * sizeof(*d));
	if (!d)
		return KT_ERR_NOMEM;
	rc->drop = d;
	if (!(d[rc->ndrop] = strdup(rel)))
		return KT_ERR_NOMEM;
	rc->ndrop++;
	return KT_OK;
}

static void reindex_warn(struct reindex_ctx *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reindex_warn(struct reindex_ctx *rc, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rc->warn)
		rc->warn(rc->warn_ctx, msg);
}

static enum kt_err reindex_one(struct kt_archive *a, const char *rel, void *ctx, struct kt_diag *diag)
{
	struct reindex_ctx *rc = ctx;
	struct kt_diag d2;
	kt_diag_clear(&d2);
	struct index_out io;
	enum kt_err err = index_segment_file(a, rel, 0, 1, &io, &d2);
	int damaged = io.damaged;
	if (err == KT_ERR_NOMEM || err == KT_ERR_CATALOG) {
		*diag = d2;
		return err;
	}
	if (io.version_lost || io.version_replaced) {
		/* the erasure rolls forward (SPEC 10.9); a damaged version
		 * replaces nothing */
		const char *lost = io.version_lost ? rel : io.other;
		reindex_warn(rc,
			     "%s is not indexed: %s, another version of the segment, is (an erasure was interrupted); "
			     "it is removed",
			     lost, io.version_lost ? io.other : rel);
		rc->res->duplicate_files++;
		if (io.version_replaced)
			rc->res->segments--;
		enum kt_err e2 = reindex_drop(rc, lost);
		if (e2)
			return e2;
		if (io.version_lost)
			return KT_OK;
	} else if (io.erased) {
		reindex_warn(rc, "%s is not indexed: an erasure removed it (interrupted); it is removed", rel);
		rc->res->duplicate_files++;
		return reindex_drop(rc, rel);
	} else if (io.leftover) {
		reindex_warn(
			rc,
			io.leftover == 1
				? "%s is not indexed: %s holds its records (a compaction was interrupted; the next "
				  "writer removes the file)"
				: "%s is not indexed: it overlaps %s and holds records that file does not",
			rel, io.other);
		rc->res->duplicate_files++;
		return KT_OK;
	}
	if (io.replaced && !io.version_replaced) {
		reindex_warn(rc,
			     "%s holds the records of %d segment file(s) indexed before it (%s...): a compaction was "
			     "interrupted; the merged file is indexed, the next writer removes the others",
			     rel, io.replaced, io.other);
		rc->res->duplicate_files += io.replaced;
		rc->res->segments -= io.replaced;
	}
	if (err) {
		reindex_warn(rc, "%s; its offsets are recorded as missing", d2.msg);
		rc->res->unreadable_files++;
		return KT_OK;
	}
	if (damaged) {
		reindex_warn(rc,
			     "%s is damaged: its readable blocks are indexed, and what they do not hold is recorded as "
			     "missing",
			     rel);
		rc->res->damaged_files++;
	}
	rc->res->segments++;
	return KT_OK;
}

static int count_missing_cb(void *ctx, const struct kt_catalog_missing *m)
{
	struct kt_archive_reindex_result *res = ctx;
	res->missing_ranges++;
	res->missing_offsets += m->last_offset - m->first_offset + 1;
	return 0;
}

enum kt_err kt_archive_reindex(const char *dir, struct kt_archive_reindex_result *res, kt_archive_warn_cb warn,
			       void *warn_ctx, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	struct reindex_ctx rc = {res, warn, warn_ctx, NULL, 0};
	struct kt_archive *a;
	enum kt_err err = archive_new(dir, &a, diag);
	if (err)
		return err;
	int version;
	char path[PATH_BUF], newpath[PATH_BUF] = "";
	err = check_marker(a->store, &version, diag);
	if (!err)
		err = take_lock(a, diag);
	if (!err)
		err = kt_mkdirs(work_path(a, "tmp", path, sizeof(path)), diag);
	if (!err)
		err = check_no_live_run(a, diag);
	if (err)
		goto out;
	int removed = 0;
	err = clear_tmp(a, &removed, diag);
	if (err)
		goto out;
	work_path(a, "tmp/catalog.db.reindex", newpath, sizeof(newpath));
	unlink(newpath);
	err = kt_catalog_open(newpath, KT_CATALOG_CREATE, &a->cat, diag);
	if (err) {
		unlink(newpath); /* created before the schema failed to fit (full disk) */
		goto out;
	}
	err = kt_catalog_begin(a->cat, diag);
	if (err)
		goto out;
	/* runs first, so that segments can refer to them */
	size_t n = 0;
	char **names = NULL;
	err = meta_names(a, &names, &n, diag);
	for (size_t i = 0; i < n; i++) {
		struct kt_diag d2;
		kt_diag_clear(&d2);
		enum kt_err e2 = err ? KT_OK : import_meta_file(a, names[i], &d2);
		if (e2 == KT_ERR_CATALOG || e2 == KT_ERR_NOMEM || e2 == KT_ERR_STORAGE || e2 == KT_ERR_TIMEOUT) {
			err = e2;
			*diag = d2;
		} else if (e2) {
			/* that run's history is lost: say so, and verify says it too */
			reindex_warn(&rc, "skipping %s: %s", names[i], d2.msg);
			res->bad_meta_files++;
		} else {
			res->runs++;
		}
		free(names[i]);
	}
	free(names);
	if (err)
		goto out;
	/* a run the metadata says was running died with its process */
	int crashed;
	err = kt_catalog_runs_mark_crashed(a->cat, kt_time_now_ms(), run_alive, a, &crashed, diag);
	if (!err)
		err = walk_segments(a, reindex_one, &rc, diag);
	/* what the runs committed and is not there is a hole, not coverage */
	int gone = 0;
	if (!err)
		err = kt_catalog_settle_claims(a->cat, &gone, diag);
	if (!err && gone)
		reindex_warn(&rc,
			     "%d segment file(s) that runs committed are gone; their offsets are recorded as missing",
			     gone);
	if (!err)
		err = kt_catalog_each_missing(a->cat, NULL, count_missing_cb, res, diag);
	if (err)
		goto out;
	/* the marker's id is the archive's identity */
	uint8_t *marker;
	size_t mlen;
	if (kt_store_get(a->store, MARKER_FILE, 4096, &marker, &mlen, NULL) == KT_OK) {
		char *text = calloc(1, mlen + 1);
		memcpy(text, marker, mlen);
		char *id = strstr(text, "archive_id=");
		if (id) {
			id += 11;
			id[strcspn(id, "\n")] = '\0';
			err = kt_catalog_set_meta(a->cat, "archive_id", id, diag);
		}
		free(text);
		free(marker);
	}
	char num[16];
	snprintf(num, sizeof(num), "%d", version);
	if (!err)
		err = kt_catalog_set_meta(a->cat, "format_version", num, diag);
	if (!err)
		err = kt_catalog_commit(a->cat, diag);
	if (err)
		goto out;
	if (!kt_archive_is_local(a)) {
		/* a bucket's catalog: the new one goes up whole, then the
		 * versions it does not name go */
		for (size_t i = 0; !err && i < rc.ndrop; i++)
			err = kt_archive_remove_unlisted(a, rc.drop[i], diag);
		if (!err)
			err = publish(a, diag);
		goto out;
	}
	kt_catalog_close(a->cat);
	a->cat = NULL;
	/* The old catalog's WAL belongs to the old file: it must not be
	 * applied to the new one. */
	char wal[PATH_BUF + 8];
	snprintf(wal, sizeof(wal), "%s/catalog.db-wal", a->dir);
	unlink(wal);
	snprintf(wal, sizeof(wal), "%s/catalog.db-shm", a->dir);
	unlink(wal);
	err = kt_rename_durable(newpath, work_path(a, "catalog.db", path, sizeof(path)), diag);
	/* no catalog names them now: a crash before this leaves them to the
	 * next writer's recovery, which decides alike */
	for (size_t i = 0; !err && i < rc.ndrop; i++) {
		struct kt_diag ignore;
		kt_store_remove(a->store, rc.drop[i], &ignore);
	}
out:
	for (size_t i = 0; i < rc.ndrop; i++)
		free(rc.drop[i]);
	free(rc.drop);
	if (a->cat) {
		if (err)
			kt_catalog_rollback(a->cat);
		kt_catalog_close(a->cat);
		a->cat = NULL;
		if (newpath[0])
			unlink(newpath);
	}
	kt_archive_close(a);
	return err;
}

/* ---- reading ranges ---- */

struct iter_seg {
	char *path;
	int64_t first, last;
};

struct kt_archive_iter {
	struct kt_archive *a;
	struct kt_archive_range range;
	struct iter_seg *segs;
	size_t seg_count;
	size_t next_seg;
	struct kt_store_segment *seg;
	struct kt_segment_reader *r; /* seg's */
	size_t cur_seg;
	int64_t delivered; /* offset of the last record returned; from_offset - 1 before the first */
	int refreshed;	   /* looked again for the files of cur_seg's offsets */
};

struct iter_collect {
	struct kt_archive_iter *it;
	enum kt_err err;
};

static int iter_collect_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct iter_collect *c = ctx;
	struct kt_archive_iter *it = c->it;
	const struct kt_archive_range *r = &it->range;
	if (s->generation != r->generation || s->partition != r->partition)
		return 0;
	if (s->sum.last_offset < r->from_offset || s->sum.first_offset > r->to_offset ||
	    s->sum.max_timestamp < r->from_ts || s->sum.min_timestamp >= r->to_ts)
		return 0;
	struct iter_seg *ns = realloc(it->segs, (it->seg_count + 1) * sizeof(*ns));
	if (!ns) {
		c->err = KT_ERR_NOMEM;
		return 1;
	}
	it->segs = ns;
	ns[it->seg_count].path = strdup(s->path);
	ns[it->seg_count].first = s->sum.first_offset;
	ns[it->seg_count].last = s->sum.last_offset;
	it->seg_count++;
	return 0;
}

enum kt_err kt_archive_iter_open(struct kt_archive *a, const struct kt_archive_range *range,
				 struct kt_archive_iter **out, struct kt_diag *diag)
{
	*out = NULL;
	struct kt_archive_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return KT_ERR_NOMEM;
	it->a = a;
	it->range = *range;
	it->range.topic = strdup(range->topic);
	it->delivered = range->from_offset - 1;
	enum kt_err err = KT_OK;
	if (range->from_ts != INT64_MIN) {
		/* straight to the first block that can hold a timestamp >= from_ts */
		int64_t first;
		int found;
		err = kt_catalog_first_block_at_time(kt_archive_catalog(a), range->topic, range->generation,
						     range->partition, range->from_ts, &first, &found, diag);
		if (!err && !found)
			it->range.from_offset = INT64_MAX; /* nothing that new */
		else if (!err && first > it->range.from_offset)
			it->range.from_offset = first;
	}
	struct iter_collect c = {it, KT_OK};
	if (!err && it->range.from_offset <= it->range.to_offset)
		err = kt_catalog_each_segment(kt_archive_catalog(a), range->topic, iter_collect_cb, &c, diag);
	if (!err)
		err = c.err;
	/* segments come in offset order; one that starts inside the previous
	 * one would be read out of order */
	for (size_t i = 1; !err && !a->view && i < it->seg_count; i++)
		if (it->segs[i].first <= it->segs[i - 1].last)
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "segments %s and %s overlap (offsets %lld and %lld)",
					   it->segs[i - 1].path, it->segs[i].path, (long long)it->segs[i - 1].last,
					   (long long)it->segs[i].first);
	if (err) {
		kt_archive_iter_close(it);
		return err;
	}
	*out = it;
	return KT_OK;
}

const char *kt_archive_iter_segment(const struct kt_archive_iter *it)
{
	return it->seg_count ? it->segs[it->cur_seg].path : "";
}

void kt_archive_iter_close(struct kt_archive_iter *it)
{
	if (!it)
		return;
	kt_store_segment_close(it->seg);
	for (size_t i = 0; i < it->seg_count; i++)
		free(it->segs[i].path);
	free(it->segs);
	free((char *)it->range.topic);
	free(it);
}

struct missing_in_ctx {
	const struct kt_archive_range *ranges;
	size_t n;
	struct kt_archive_missing_sum *out;
};

static int missing_in_cb(void *ctx, const struct kt_catalog_missing *m)
{
	struct missing_in_ctx *c = ctx;
	for (size_t i = 0; i < c->n; i++) {
		const struct kt_archive_range *rg = &c->ranges[i];
		if (rg->partition != m->partition || rg->generation != m->generation || strcmp(rg->topic, m->topic) ||
		    m->last_offset < rg->from_offset || m->first_offset > rg->to_offset)
			continue;
		if (!c->out->ranges++) {
			snprintf(c->out->first, sizeof(c->out->first),
				 "%s/%" PRId32 " offsets %" PRId64 "..%" PRId64 " (%s: %s)", m->topic, m->partition,
				 m->first_offset, m->last_offset, m->path, m->reason);
			snprintf(c->out->first_path, sizeof(c->out->first_path), "%s", m->path);
		}
		c->out->offsets += m->last_offset - m->first_offset + 1;
		break;
	}
	return 0;
}

enum kt_err kt_archive_missing_in(struct kt_archive *a, const struct kt_archive_range *ranges, size_t n,
				  struct kt_archive_missing_sum *out, struct kt_diag *diag)
{
	memset(out, 0, sizeof(*out));
	struct missing_in_ctx c = {ranges, n, out};
	return kt_catalog_each_missing(kt_archive_catalog(a), NULL, missing_in_cb, &c, diag);
}

/* ---- reading ranges, strictly ---- */

static int ranges_meet(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
	return a0 <= b1 && b0 <= a1;
}

/* The offsets of a segment [seg_first, seg_last] that the reader r could
 * not index because of the problem at pos: between the block before it and
 * the block after it. */
static void missing_around(const struct kt_segment_reader *r, int64_t seg_first, int64_t seg_last, uint64_t pos,
			   int64_t *from, int64_t *to)
{
	uint32_t n = kt_segment_reader_block_count(r), i = 0;
	while (i < n && kt_segment_reader_block(r, i)->pos < pos)
		i++;
	*from = i ? kt_segment_reader_block(r, i - 1)->last_offset + 1 : seg_first;
	*to = i < n ? kt_segment_reader_block(r, i)->first_offset - 1 : seg_last;
}

/* Called when the reader of the current segment reached its end. */
static enum kt_err iter_check_end(struct kt_archive_iter *it, struct kt_diag *diag)
{
	const struct kt_segment_info *info = kt_segment_reader_info(it->r);
	const struct iter_seg *s = &it->segs[it->cur_seg];
	const struct kt_archive_range *rg = &it->range;
	if (info->footer_err == KT_OK)
		return KT_OK;
	for (unsigned k = 0; k < info->problem_count; k++) {
		const struct kt_segment_problem *p = &info->problems[k];
		int64_t from, to;
		missing_around(it->r, s->first, s->last, p->pos, &from, &to);
		if (from > to || !ranges_meet(from, to, rg->from_offset, rg->to_offset))
			continue;
		kt_diag_set_path(diag, s->path);
		kt_diag_set_where(diag, -1, (int64_t)p->pos);
		return kt_diag_fail(diag, p->err == KT_OK ? KT_ERR_FORMAT : p->err,
				    "%s: byte %llu: %s; offsets %lld..%lld of this segment cannot be read", s->path,
				    (unsigned long long)p->pos, p->msg, (long long)from, (long long)to);
	}
	uint32_t n = kt_segment_reader_block_count(it->r);
	int64_t have = n ? kt_segment_reader_block(it->r, n - 1)->last_offset : s->first - 1;
	if (have >= s->last || !ranges_meet(have + 1, s->last, rg->from_offset, rg->to_offset))
		return KT_OK;
	kt_diag_set_path(diag, s->path);
	kt_diag_set_where(diag, -1, (int64_t)info->file_size);
	return kt_diag_fail(diag, KT_ERR_TRUNCATED,
			    "%s: the file ends at byte %llu without a footer; offsets %lld..%lld of this segment are "
			    "missing",
			    s->path, (unsigned long long)info->file_size, (long long)(have + 1), (long long)s->last);
}

/* Segments of one topic from the catalog as it is now: the archive's own
 * connection for a directory (each query sees the last commit), a fresh
 * download for a bucket, whose catalog a reader otherwise sees as of its
 * open. */
static enum kt_err fresh_segments(struct kt_archive *a, const char *topic, kt_catalog_segment_cb cb, void *ctx,
				  struct kt_diag *diag)
{
	if (a->view)
		return kt_archive_union_fresh_segments(a, topic, cb, ctx, diag);
	if (kt_archive_is_local(a) || a->writer)
		return kt_catalog_each_segment(a->cat, topic, cb, ctx, diag);
	char path[PATH_BUF];
	char name[64];
	snprintf(name, sizeof(name), "catalog.db.fresh-%u", a->tmp_seq++);
	work_path(a, name, path, sizeof(path));
	struct kt_catalog *cat = NULL;
	enum kt_err err = kt_store_fetch_file(a->store, "catalog.db", path, diag);
	if (!err)
		err = kt_catalog_open(path, KT_CATALOG_READ, &cat, diag);
	if (!err)
		err = kt_catalog_each_segment(cat, topic, cb, ctx, diag);
	kt_catalog_close(cat);
	unlink(path);
	return err;
}

struct listed_ctx {
	const char *path;
	int found;
};

static int listed_cb(void *ctx, const struct kt_catalog_segment *s)
{
	struct listed_ctx *c = ctx;
	if (!strcmp(s->path, c->path)) {
		c->found = 1;
		return 1;
	}
	return 0;
}

enum kt_err kt_archive_listed_now(struct kt_archive *a, const char *rel, int *out_found, struct kt_diag *diag)
{
	if (a->view)
		return kt_archive_union_listed_now(a, rel, out_found, diag);
	if (kt_archive_is_local(a) || a->writer)
		return kt_catalog_has_segment(a->cat, rel, out_found, diag);
	char topic[KT_SEG_TOPIC_MAX + 1];
	uint32_t g;
	int32_t p;
	int64_t f, l;
	struct listed_ctx c = {rel, 0};
	enum kt_err err = fresh_segments(
		a, kt_archive_segment_parse_relpath(rel, topic, sizeof(topic), &g, &p, &f, &l) ? topic : NULL,
		listed_cb, &c, diag);
	*out_found = c.found;
	return err;
}

/* The file of cur_seg is gone: a compaction merged it into another (SPEC
 * 10.7) after the iterator listed it. The catalog as it is now says which
 * files hold the offsets after the last record returned; *out_changed is 0
 * when it still names the missing one (the archive is damaged). */
static enum kt_err iter_refresh(struct kt_archive_iter *it, int *out_changed, struct kt_diag *diag)
{
	*out_changed = 0;
	if (it->refreshed >= 3)
		return KT_OK; /* without a record in between: gone is gone */
	it->refreshed++;
	struct kt_archive_iter fresh = {0};
	fresh.a = it->a;
	fresh.range = it->range;
	if (it->delivered + 1 > fresh.range.from_offset)
		fresh.range.from_offset = it->delivered + 1;
	struct iter_collect c = {&fresh, KT_OK};
	enum kt_err err = fresh_segments(it->a, it->range.topic, iter_collect_cb, &c, diag);
	if (!err)
		err = c.err;
	int same = fresh.seg_count && !strcmp(fresh.segs[0].path, it->segs[it->cur_seg].path);
	if (err || same) {
		for (size_t i = 0; i < fresh.seg_count; i++)
			free(fresh.segs[i].path);
		free(fresh.segs);
		return err;
	}
	for (size_t i = 0; i < it->seg_count; i++)
		free(it->segs[i].path);
	free(it->segs);
	it->segs = fresh.segs;
	it->seg_count = fresh.seg_count;
	it->next_seg = 0;
	it->cur_seg = 0;
	/* records already returned are not returned again */
	it->range.from_offset = fresh.range.from_offset;
	*out_changed = 1;
	return KT_OK;
}

/* One step of the iterator; with strict set, a segment read to its end that
 * lacks records the catalog says it holds is an error (iter_check_end). */
static enum kt_err iter_step(struct kt_archive_iter *it, const struct kt_record **out_rec, int strict,
			     struct kt_diag *diag)
{
	*out_rec = NULL;
	for (;;) {
		if (!it->r) {
			if (it->next_seg >= it->seg_count)
				return KT_OK;
			it->cur_seg = it->next_seg++;
			char path[PATH_BUF];
			kt_archive_path(it->a, it->segs[it->cur_seg].path, path, sizeof(path));
			/* the catalog knows whose file it is, so a damaged header
			 * costs no record (SPEC 6.6) */
			struct kt_segment_identity id = {it->range.topic, it->range.partition, it->range.generation};
			struct kt_segment_reader_opts ro = {.salvage = &id, .key = it->a->key};
			enum kt_err err =
				kt_store_segment_open(it->a->store, it->segs[it->cur_seg].path, &ro, &it->seg, diag);
			it->r = err ? NULL : kt_store_segment_reader(it->seg);
			if (err == KT_ERR_NOT_FOUND) {
				int changed;
				struct kt_diag d2;
				kt_diag_clear(&d2);
				enum kt_err e2 = iter_refresh(it, &changed, &d2);
				if (e2) {
					*diag = d2;
					return e2;
				}
				if (changed) {
					kt_diag_clear(diag);
					continue;
				}
				/* the archive is damaged, not the selection wrong: the
				 * same exit code for every reader (5) */
				kt_diag_set_path(diag, it->segs[it->cur_seg].path);
				return kt_diag_fail(
					diag, KT_ERR_FORMAT,
					"segment file %s is missing (the catalog lists it); 'ktape reindex' "
					"records its offsets as missing",
					path);
			}
			if (err)
				return err;
			/* never a record twice: segments of a union's shards may
			 * overlap (SPEC 10.8), and only offsets above the last
			 * one returned are read */
			int64_t from = it->range.from_offset;
			if (it->delivered + 1 > from)
				from = it->delivered + 1;
			struct kt_segment_filter f = {from, it->range.to_offset, it->range.from_ts, it->range.to_ts};
			kt_segment_reader_set_filter(it->r, &f);
			if (from > it->segs[it->cur_seg].first)
				kt_segment_reader_seek_offset(it->r, from);
		}
		enum kt_err err = kt_segment_reader_next(it->r, out_rec, diag);
		if (err == KT_ERR_NOT_FOUND) {
			/* a bucket's object removed while it was read */
			int changed;
			struct kt_diag d2;
			kt_diag_clear(&d2);
			kt_store_segment_close(it->seg);
			it->seg = NULL;
			it->r = NULL;
			enum kt_err e2 = iter_refresh(it, &changed, &d2);
			if (e2 || changed) {
				if (e2)
					*diag = d2;
				else
					kt_diag_clear(diag);
				if (e2)
					return e2;
				continue;
			}
			it->next_seg = it->cur_seg + 1;
		}
		if (err) {
			kt_diag_set_path(diag, it->segs[it->cur_seg].path);
			kt_diag_prefix(diag, "%s", it->segs[it->cur_seg].path);
			return err;
		}
		if (*out_rec) {
			it->delivered = (*out_rec)->offset;
			it->refreshed = 0;
			return KT_OK;
		}
		err = strict ? iter_check_end(it, diag) : KT_OK;
		kt_store_segment_close(it->seg);
		it->seg = NULL;
		it->r = NULL;
		if (err)
			return err;
	}
}

enum kt_err kt_archive_iter_next(struct kt_archive_iter *it, const struct kt_record **out_rec, struct kt_diag *diag)
{
	return iter_step(it, out_rec, 0, diag);
}

enum kt_err kt_archive_iter_next_strict(struct kt_archive_iter *it, const struct kt_record **out_rec,
					struct kt_diag *diag)
{
	return iter_step(it, out_rec, 1, diag);
}
