/* kt_inspect_verify.c - verify: every file against its checksums and the catalog, in parallel. */
#include "kt_inspect.h"
#include "kt_inspect_rows.h"
#include "kt_sort.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kt_catalog.h"
#include "kt_fileio.h"
#include "kt_segment_reader.h"
#include "kt_time.h"

/* ---- verify ---- */

#define VERIFY_MAX_PROBLEMS_PER_JOB 20
/* Blocks per job: a big file is checked by several threads at once. */
#define VERIFY_CHUNK_BLOCKS 32

struct vprob {
	int64_t block, pos;
	const char *kind;
	enum kt_err err;
	char msg[KT_DIAG_MSG_MAX];
};

/* One job: blocks [b0, b1) of one file. The file's first job also checks
 * the file as a whole (existence, size, header, footer, index), and all of
 * its blocks when the footer is unusable (there is no index to split). */
struct vjob {
	const struct seg_row *seg;
	size_t seg_idx;
	uint32_t b0, b1;
	int first;
	struct kt_block_info *cblocks; /* the catalog's index of the file (first job) */
	size_t ncblocks, cbcap;
	enum kt_err cerr;
	struct vprob *probs;
	size_t nprobs, pcap;
	size_t dropped; /* problems beyond the per-job cap */
	uint64_t blocks, records, bytes;
	int missing, damaged, done;
	int encrypted; /* the file's blocks are sealed (format 2.1) */
};

struct verify {
	struct kt_archive *a;
	const struct kt_inspect_verify_opts *o;
	struct kt_inspect_verify_result *res;
	struct vjob *jobs;
	size_t njobs, next, emit;
	uint8_t *file_damaged; /* per segment row: counted once */
	pthread_mutex_t mu;    /* jobs' handout and emission, and the catalog */
	enum kt_err err;
	struct kt_diag diag;
};

static void vprob_add(struct vjob *j, const char *kind, enum kt_err err, int64_t block, int64_t pos, const char *fmt,
		      ...) __attribute__((format(printf, 6, 7)));

static void vprob_add(struct vjob *j, const char *kind, enum kt_err err, int64_t block, int64_t pos, const char *fmt,
		      ...)
{
	if (j->nprobs >= VERIFY_MAX_PROBLEMS_PER_JOB) {
		j->dropped++;
		return;
	}
	enum kt_err e2 = KT_OK;
	PUSH(j->probs, j->nprobs, j->pcap, e2);
	if (e2) {
		j->dropped++;
		return;
	}
	struct vprob *p = &j->probs[j->nprobs++];
	p->block = block;
	p->pos = pos;
	p->kind = kind;
	p->err = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	if (strcmp(kind, "missing") != 0)
		j->damaged = 1;
}

static int vblock_cb(void *ctx, const struct kt_catalog_block *b)
{
	struct vjob *j = ctx;
	if (b->segment_id != j->seg->segment_id)
		return 0;
	PUSH(j->cblocks, j->ncblocks, j->cbcap, j->cerr);
	if (j->cerr)
		return 1;
	j->cblocks[j->ncblocks++] = b->info;
	return 0;
}

static void verify_header(struct vjob *j, const struct kt_segment_info *info)
{
	const struct seg_row *s = j->seg;
	if (strcmp(info->topic, s->topic) || info->partition != s->part || info->generation != s->gen)
		vprob_add(j, "header", KT_ERR_MISMATCH, -1, 0,
			  "file holds %s generation %" PRIu32 " partition %" PRId32
			  ", the catalog says %s generation %" PRIu32 " partition %" PRId32,
			  info->topic, info->generation, info->partition, s->topic, s->gen, s->part);
	/* readers still deliver every complete block of such a file; reindex
	 * indexes them and records what they do not hold as missing */
	if (info->footer_err == KT_ERR_TRUNCATED)
		vprob_add(j, "footer", KT_ERR_TRUNCATED, -1, (int64_t)info->file_size,
			  "no footer: the file is truncated (ends at byte %" PRIu64
			  "); its complete blocks are still read, and 'ktape reindex' records the rest as missing",
			  info->file_size);
	else if (info->footer_err != KT_OK)
		vprob_add(j, "footer", info->footer_err, -1, -1,
			  "footer is damaged (%s); its blocks are still read by scanning, and 'ktape reindex' "
			  "indexes them",
			  kt_err_str(info->footer_err));
	else if (info->footer_crc != s->sum.file_crc)
		vprob_add(j, "footer", KT_ERR_MISMATCH, -1, -1,
			  "footer CRC 0x%08" PRIx32 " differs from the catalog's 0x%08" PRIx32
			  " (the file was replaced)",
			  info->footer_crc, s->sum.file_crc);
	for (unsigned i = 0; i < info->problem_count; i++) {
		const struct kt_segment_problem *p = &info->problems[i];
		/* a salvaged header is problem 0 (SPEC 6.6) */
		int hdr = i == 0 && info->header_err != KT_OK;
		vprob_add(j, hdr ? "header" : "block", p->err, -1, (int64_t)p->pos, "%s", p->msg);
	}
	const struct kt_segment_summary *m = &info->summary;
	if (info->footer_err == KT_OK &&
	    (m->record_count != s->sum.record_count || m->first_offset != s->sum.first_offset ||
	     m->last_offset != s->sum.last_offset))
		vprob_add(j, "index", KT_ERR_MISMATCH, -1, -1,
			  "file holds offsets %" PRId64 "..%" PRId64 " (%" PRIu64 " records), the catalog says %" PRId64
			  "..%" PRId64 " (%" PRIu64 " records)",
			  m->first_offset, m->last_offset, m->record_count, s->sum.first_offset, s->sum.last_offset,
			  s->sum.record_count);
}

static int block_info_equal(const struct kt_block_info *a, const struct kt_block_info *b)
{
	return a->pos == b->pos && a->record_count == b->record_count && a->compressed_size == b->compressed_size &&
	       a->raw_size == b->raw_size && a->first_offset == b->first_offset && a->last_offset == b->last_offset &&
	       a->min_timestamp == b->min_timestamp && a->max_timestamp == b->max_timestamp;
}

static void verify_index(struct vjob *j, struct kt_segment_reader *r)
{
	uint32_t n = kt_segment_reader_block_count(r);
	if (n != j->ncblocks || j->seg->sum.block_count != j->ncblocks)
		vprob_add(j, "index", KT_ERR_MISMATCH, -1, -1,
			  "file has %" PRIu32 " blocks, the catalog lists %zu (segment row says %" PRIu32 ")", n,
			  j->ncblocks, j->seg->sum.block_count);
	/* both are in offset order: compare by index */
	for (uint32_t i = 0; i < n && i < j->ncblocks; i++) {
		const struct kt_block_info *f = kt_segment_reader_block(r, i);
		const struct kt_block_info *c = &j->cblocks[i];
		if (!block_info_equal(f, c))
			vprob_add(j, "index", KT_ERR_MISMATCH, i, (int64_t)f->pos,
				  "block %" PRIu32 " at byte %" PRIu64 " (offsets %" PRId64 "..%" PRId64
				  ") differs from the catalog's (byte %" PRIu64 ", offsets %" PRId64 "..%" PRId64 ")",
				  i, f->pos, f->first_offset, f->last_offset, c->pos, c->first_offset, c->last_offset);
	}
}

/* Has the job's bytes read ahead (the kernel's readahead, or one ranged
 * fetch from a bucket), so that the disk or the network works while the
 * first blocks are checked (jobs start in the middle of files, where
 * sequential readahead has not begun). */
static void prefetch(struct kt_store_segment *seg, struct kt_segment_reader *r, uint32_t b0, uint32_t b1)
{
	uint32_t n = kt_segment_reader_block_count(r);
	if (b0 >= n || b0 >= b1)
		return;
	uint64_t from = kt_segment_reader_block(r, b0)->pos;
	uint64_t to = b1 < n ? kt_segment_reader_block(r, b1)->pos : kt_segment_reader_info(r)->file_size;
	kt_store_segment_prefetch(seg, from, to - from);
}

/* A block that could not be had from the bucket says nothing of the
 * data: it is reported as such, never as damage. */
static int store_failure(enum kt_err err)
{
	return err == KT_ERR_STORAGE || err == KT_ERR_TIMEOUT || err == KT_ERR_IO;
}

static void verify_blocks(struct verify *v, struct vjob *j, struct kt_store_segment *seg)
{
	struct kt_segment_reader *r = kt_store_segment_reader(seg);
	uint32_t n = kt_segment_reader_block_count(r), b0 = j->b0, b1 = j->b1;
	if (kt_segment_reader_info(r)->footer_err != KT_OK) {
		b0 = 0;
		b1 = j->first ? n : 0;
	}
	prefetch(seg, r, b0, b1);
	for (uint32_t i = b0; i < n && i < b1; i++) {
		if (v->o->stop && *v->o->stop)
			return;
		struct kt_diag d;
		kt_diag_clear(&d);
		enum kt_err err = kt_segment_reader_check_block(r, i, v->o->deep, &d);
		const struct kt_block_info *b = kt_segment_reader_block(r, i);
		j->blocks++;
		j->records += b->record_count;
		if (err)
			vprob_add(j, store_failure(err) ? "io" : "block", err, d.block >= 0 ? d.block : i,
				  d.pos >= 0 ? d.pos : (int64_t)b->pos, "%s", d.msg[0] ? d.msg : kt_err_str(err));
	}
}

/* Whether the catalog lists path now: a writer may have changed it since
 * verify read the list (a prune, or a follower's compaction that merged the
 * file into another; verify takes no lock). For a bucket this is the
 * catalog object as it is now, not verify's copy. */
static int still_listed(struct verify *v, const char *path)
{
	int found = 1;
	pthread_mutex_lock(&v->mu);
	if (kt_archive_listed_now(v->a, path, &found, NULL) != KT_OK)
		found = 1; /* cannot tell: as the list said */
	pthread_mutex_unlock(&v->mu);
	return found;
}

/* A later job of a file: its blocks only; the first job reports whatever
 * keeps the file from being opened. */
/* Opens a listed file as readers do: a damaged header costs no block,
 * since the catalog knows whose file it is (SPEC 6.6). */
static enum kt_err verify_open(struct verify *v, const struct vjob *j, struct kt_store_segment **out,
			       struct kt_diag *diag)
{
	struct kt_segment_identity id = {j->seg->topic, j->seg->part, j->seg->gen};
	/* with the archive's key, check_block authenticates every block (SPEC
	 * 4.6); without, an encrypted file's CRCs are all it can check */
	struct kt_segment_reader_opts ro = {.salvage = &id, .key = kt_archive_key(v->a)};
	return kt_archive_segment_open(v->a, j->seg->path, &ro, out, diag);
}

static void verify_chunk(struct verify *v, struct vjob *j)
{
	struct kt_store_segment *seg;
	if (verify_open(v, j, &seg, NULL) != KT_OK)
		return;
	verify_blocks(v, j, seg);
	kt_store_segment_close(seg);
}

static void verify_file(struct verify *v, struct vjob *j)
{
	if (!j->first) {
		verify_chunk(v, j);
		return;
	}
	uint64_t size = 0;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_archive_file_size(v->a, j->seg->path, &size, &d);
	if (err) {
		if (err == KT_ERR_NOT_FOUND && !still_listed(v, j->seg->path))
			return; /* a prune or a compaction removed it while we ran */
		j->missing = err == KT_ERR_NOT_FOUND;
		vprob_add(j, j->missing ? "missing" : "io", err, -1, -1, "%s",
			  j->missing ? "the catalog lists this file but it does not exist" : d.msg);
		return;
	}
	j->bytes = size;
	if (size != j->seg->sum.file_bytes)
		vprob_add(j, "size", KT_ERR_MISMATCH, -1, -1,
			  "file has %" PRIu64 " bytes, the catalog says %" PRIu64 "%s", size, j->seg->sum.file_bytes,
			  size < j->seg->sum.file_bytes ? " (truncated)" : "");
	struct kt_store_segment *seg;
	kt_diag_clear(&d);
	err = verify_open(v, j, &seg, &d);
	if (err) {
		vprob_add(j, store_failure(err) ? "io" : "header", err, -1, 0, "cannot read the file: %s",
			  d.msg[0] ? d.msg : kt_err_str(err));
		return;
	}
	struct kt_segment_reader *r = kt_store_segment_reader(seg);
	/* its blocks' rows are read after the list (verify_worker): a
	 * follower's compaction that merged the file since leaves them out
	 * (or another file's in their place); it is no longer the archive's */
	if ((kt_segment_reader_block_count(r) != j->ncblocks || j->seg->sum.block_count != j->ncblocks) &&
	    !still_listed(v, j->seg->path)) {
		kt_store_segment_close(seg);
		return;
	}
	verify_header(j, kt_segment_reader_info(r));
	j->encrypted = kt_segment_reader_info(r)->encrypted;
	verify_index(j, r);
	verify_blocks(v, j, seg);
	kt_store_segment_close(seg);
}

static void verify_emit_locked(struct verify *v)
{
	while (v->emit < v->njobs && v->jobs[v->emit].done) {
		struct vjob *j = &v->jobs[v->emit++];
		for (size_t i = 0; i < j->nprobs; i++) {
			const struct vprob *p = &j->probs[i];
			struct kt_inspect_problem pr = {j->seg->path, p->block, p->pos, p->kind, p->err, p->msg};
			if (v->o->on_problem)
				v->o->on_problem(v->o->ctx, &pr);
		}
		if (j->dropped) {
			char msg[96];
			snprintf(msg, sizeof(msg), "%zu more problems in blocks %" PRIu32 "..%" PRIu32 " of this file",
				 j->dropped, j->b0, j->b1 == UINT32_MAX ? j->b0 + VERIFY_CHUNK_BLOCKS - 1 : j->b1 - 1);
			struct kt_inspect_problem pr = {j->seg->path, -1, -1, "block", KT_ERR_CHECKSUM, msg};
			if (v->o->on_problem)
				v->o->on_problem(v->o->ctx, &pr);
		}
		struct kt_inspect_verify_result *res = v->res;
		res->problems += j->nprobs + j->dropped;
		res->blocks += j->blocks;
		res->records += j->records;
		res->bytes += j->bytes;
		res->missing_files += (uint64_t)j->missing;
		res->encrypted_files += (uint64_t)j->encrypted;
		if (j->damaged && !v->file_damaged[j->seg_idx]) {
			v->file_damaged[j->seg_idx] = 1;
			res->damaged_files++;
		}
		free(j->probs);
		free(j->cblocks);
		j->probs = NULL;
		j->cblocks = NULL;
	}
}

static void *verify_worker(void *arg)
{
	struct verify *v = arg;
	for (;;) {
		pthread_mutex_lock(&v->mu);
		int stop = v->err || (v->o->stop && *v->o->stop);
		size_t i = stop ? v->njobs : v->next++;
		struct vjob *j = i < v->njobs ? &v->jobs[i] : NULL;
		if (j && j->first) {
			/* the catalog connection is not shared between threads:
			 * its index of the file is read under the lock */
			const struct seg_row *s = j->seg;
			struct kt_diag d;
			enum kt_err err =
				kt_catalog_blocks_in_range(kt_archive_catalog(v->a), s->topic, s->gen, s->part,
							   s->sum.first_offset, s->sum.last_offset, vblock_cb, j, &d);
			if (err || j->cerr) {
				v->err = err ? err : j->cerr;
				v->diag = d;
				j = NULL;
			}
		}
		pthread_mutex_unlock(&v->mu);
		if (!j)
			return NULL;
		verify_file(v, j);
		pthread_mutex_lock(&v->mu);
		j->done = 1;
		verify_emit_locked(v);
		pthread_mutex_unlock(&v->mu);
	}
}

struct path_list {
	char **v;
	size_t n, cap;
	enum kt_err err;
};

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static int list_one(void *ctx, const char *name, uint64_t size)
{
	(void)size;
	struct path_list *out = ctx;
	PUSH(out->v, out->n, out->cap, out->err);
	if (!out->err && !(out->v[out->n++] = strdup(name)))
		out->err = KT_ERR_NOMEM;
	return out->err != KT_OK;
}

static void report_extra(struct verify *v, const char *path)
{
	size_t l = strlen(path);
	int kts = l > 4 && !strcmp(path + l - 4, ".kts");
	struct kt_inspect_problem p = {path,
				       -1,
				       -1,
				       "extra",
				       KT_ERR_MISMATCH,
				       kts ? "a segment file the catalog does not list (the next dump indexes it; "
					     "'ktape reindex' rebuilds the catalog)"
					   : "not a segment file (ktape ignores it)"};
	if (v->o->on_problem)
		v->o->on_problem(v->o->ctx, &p);
	v->res->problems++;
	v->res->extra_files++;
}

/* Files under segments/ that the catalog does not list. A dump renames a
 * segment into place a moment before it commits it to the catalog, so an
 * unlisted file is looked up again after a pause before it is reported. */
static enum kt_err verify_extra(struct verify *v, const struct rows *r)
{
	struct path_list files = {0};
	enum kt_err err = kt_archive_list(v->a, "segments/", list_one, &files, &v->diag);
	char **known = calloc(r->nseg + 1, sizeof(*known));
	err = err ? err : files.err ? files.err : known ? KT_OK : KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < r->nseg; i++)
		known[i] = r->segs[i].path;
	size_t nx = 0;
	if (!err) {
		kt_sort(known, r->nseg, sizeof(*known), str_cmp);
		kt_sort(files.v, files.n, sizeof(*files.v), str_cmp);
		/* keep the unlisted ones at the front, in order */
		for (size_t i = 0; i < files.n; i++) {
			if (bsearch(&files.v[i], known, r->nseg, sizeof(*known), str_cmp)) {
				free(files.v[i]);
				continue;
			}
			files.v[nx++] = files.v[i];
		}
		files.n = nx;
	}
	if (nx)
		usleep(500 * 1000);
	for (size_t i = 0; !err && i < files.n; i++) {
		uint64_t size;
		/* a compaction's parts are unlisted a moment before they go */
		if (!still_listed(v, files.v[i]) &&
		    kt_archive_file_size(v->a, files.v[i], &size, NULL) != KT_ERR_NOT_FOUND)
			report_extra(v, files.v[i]);
	}
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i]);
	free(files.v);
	free(known);
	return err;
}

static int verify_threads(const struct kt_inspect_verify_opts *o, size_t njobs)
{
	long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > 16)
		n = 16;
	if ((size_t)n > njobs)
		n = njobs ? (long)njobs : 1;
	return (int)n;
}

static enum kt_err verify_run_jobs(struct verify *v)
{
	int nt = verify_threads(v->o, v->njobs);
	pthread_t *tids = calloc((size_t)nt, sizeof(*tids));
	if (!tids)
		return KT_ERR_NOMEM;
	int started = 0;
	for (int i = 0; i < nt; i++)
		if (pthread_create(&tids[i], NULL, verify_worker, v) == 0)
			started++;
		else
			break;
	if (!started)
		verify_worker(v); /* no threads to be had: do it here */
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return KT_OK;
}

/* The jobs: each file split into runs of VERIFY_CHUNK_BLOCKS blocks (as
 * the catalog counts them; the last job also takes any blocks beyond). */
static enum kt_err verify_plan(struct verify *v, const struct rows *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nseg; i++)
		n += r->segs[i].sum.block_count / VERIFY_CHUNK_BLOCKS + 1;
	v->jobs = calloc(n + 1, sizeof(*v->jobs));
	v->file_damaged = calloc(r->nseg + 1, 1);
	if (!v->jobs || !v->file_damaged)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < r->nseg; i++) {
		uint32_t nb = r->segs[i].sum.block_count;
		for (uint32_t b0 = 0; b0 == 0 || b0 < nb; b0 += VERIFY_CHUNK_BLOCKS) {
			struct vjob *j = &v->jobs[v->njobs++];
			j->seg = &r->segs[i];
			j->seg_idx = i;
			j->first = b0 == 0;
			j->b0 = b0;
			j->b1 = nb - b0 > VERIFY_CHUNK_BLOCKS ? b0 + VERIFY_CHUNK_BLOCKS : UINT32_MAX;
		}
	}
	return KT_OK;
}

static void verify_problem(const struct kt_inspect_verify_opts *o, struct kt_inspect_verify_result *res,
			   const struct kt_inspect_problem *p)
{
	if (o->on_problem)
		o->on_problem(o->ctx, p);
	res->problems++;
}

struct verify_side {
	const struct kt_inspect_verify_opts *o;
	struct kt_inspect_verify_result *res;
};

static void verify_meta_cb(void *ctx, const char *rel, enum kt_err err, const char *msg)
{
	struct verify_side *vs = ctx;
	char m[KT_DIAG_MSG_MAX + 96];
	snprintf(m, sizeof(m), "%s; 'ktape reindex' would lose this run's history", msg);
	struct kt_inspect_problem p = {rel, -1, -1, "meta", err, m};
	verify_problem(vs->o, vs->res, &p);
	vs->res->damaged_meta++;
}

/* Offsets the archive held once and cannot deliver: every one is a
 * problem, named with its file and reason. */
static enum kt_err verify_missing(const struct kt_inspect_verify_opts *o, struct kt_inspect_verify_result *res,
				  const struct rows *r)
{
	for (size_t i = 0; i < r->nmiss; i++) {
		const struct miss_row *m = &r->miss[i];
		char msg[1024];
		snprintf(msg, sizeof(msg), "offsets %" PRId64 "..%" PRId64 " of %s/%" PRId32 " cannot be read: %s",
			 m->first, m->last, m->topic, m->part, m->reason);
		struct kt_inspect_problem p = {m->path, -1, -1, "missing", KT_ERR_DATA_LOST, msg};
		verify_problem(o, res, &p);
		res->missing_ranges++;
		res->missing_offsets += (uint64_t)(m->last - m->first + 1);
	}
	return KT_OK;
}

enum kt_err kt_inspect_verify(struct kt_archive *a, const struct kt_inspect_verify_opts *o,
			      struct kt_inspect_verify_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	int64_t t0 = kt_time_mono_ns();
	struct kt_catalog *cat = kt_archive_catalog(a);
	struct kt_diag d;
	kt_diag_clear(&d);
	if (kt_catalog_check(cat, &d) != KT_OK) {
		struct kt_inspect_problem p = {"catalog.db", -1, -1, "catalog", KT_ERR_CATALOG, d.msg};
		if (o->on_problem)
			o->on_problem(o->ctx, &p);
		res->problems++;
	}
	struct rows r;
	enum kt_err err = kt_inspect_rows_load(cat, 1, 1, &r, diag);
	struct verify v = {a, o, res, NULL, 0, 0, 0, NULL, PTHREAD_MUTEX_INITIALIZER, KT_OK, {{0}, {0}, -1, -1}};
	if (!err)
		err = verify_plan(&v, &r);
	res->files = r.nseg;
	if (!err)
		err = verify_run_jobs(&v);
	if (!err && v.err) {
		err = v.err;
		*diag = v.diag;
	}
	if (!err && o->stop && *o->stop)
		err = kt_diag_fail(diag, KT_ERR_INTERRUPTED, "interrupted");
	if (!err && (err = verify_extra(&v, &r)) != KT_OK)
		*diag = v.diag;
	if (!err)
		err = verify_missing(o, res, &r);
	struct verify_side vs = {o, res};
	int nmeta = 0;
	if (!err)
		err = kt_archive_check_meta(a, verify_meta_cb, &vs, &nmeta, diag);
	res->meta_files = (uint64_t)nmeta;
	for (size_t i = v.emit; i < v.njobs; i++) {
		free(v.jobs[i].probs);
		free(v.jobs[i].cblocks);
	}
	free(v.jobs);
	free(v.file_damaged);
	kt_inspect_rows_free(&r);
	res->seconds = (double)(kt_time_mono_ns() - t0) / 1e9;
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "out of memory while verifying");
	return err;
}
