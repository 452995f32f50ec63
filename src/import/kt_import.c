/* kt_import.c - the import engine (see kt_import.h).
 *
 * The input is read line by line through a bounded buffer; each record goes
 * into its partition's open segment, which rolls over at segment_bytes as a
 * dump's does. Rolled segments stay open under tmp/ (a file and one pending
 * block each) and are committed only once the whole input has been read,
 * so that a bad line or a crash commits nothing of the run.
 */
#include "kt_import.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kt_archive.h"
#include "kt_catalog.h"
#include "kt_time.h"

#define DEFAULT_SEGMENT_BYTES (256ull << 20)
#define READ_CHUNK	      (1u << 20)
/* One line at most: well above Kafka's largest message settings. */
#define LINE_MAX_BYTES (128u << 20)
/* Partition numbers beyond this are taken for a mistake. */
#define MAX_PARTITIONS 100000

struct part {
	int32_t partition;
	int used;
	int64_t first, next; /* first offset, the offset after the last one */
	uint64_t records;
	struct kt_archive_segment *seg;	    /* being written */
	struct kt_archive_segment **rolled; /* full, not committed yet */
	size_t rolled_n, rolled_cap;
};

struct imp {
	const struct kt_import_opts *o;
	struct kt_import_result *res;
	struct kt_archive *a;
	struct kt_catalog *cat;
	int64_t run_id;
	uint32_t generation;
	struct part *parts; /* indexed by partition */
	size_t part_n;
	struct kt_segment_codec *codec;
};

/* The input, read in chunks; lines are numbered here. */
struct reader {
	const struct kt_import_opts *o;
	char *buf;
	size_t len, pos;
	int eof;
	uint64_t lines; /* lines read so far */
};

static void warn(struct imp *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct imp *m, const char *fmt, ...)
{
	if (!m->o->on_warning)
		return;
	char msg[KT_DIAG_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m->o->on_warning(m->o->cb_ctx, msg);
}

/* The next line without its newline (and a CR before it), NULL at the end. */
static enum kt_err next_line(struct reader *r, const char **out, size_t *out_len, struct kt_diag *diag)
{
	for (;;) {
		/* memchr may not be given the NULL of a buffer not yet read */
		char *nl = r->pos < r->len ? memchr(r->buf + r->pos, '\n', r->len - r->pos) : NULL;
		if (nl || (r->eof && r->pos < r->len)) {
			size_t end = nl ? (size_t)(nl - r->buf) : r->len;
			*out = r->buf + r->pos;
			*out_len = end - r->pos;
			r->pos = nl ? end + 1 : end;
			if (*out_len && (*out)[*out_len - 1] == '\r')
				(*out_len)--;
			return KT_OK;
		}
		if (r->eof) {
			*out = NULL;
			return KT_OK;
		}
		/* keep the partial line, read more behind it */
		if (r->pos)
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
		size_t cap = r->len + READ_CHUNK + 1;
		if (r->len > LINE_MAX_BYTES)
			return kt_diag_fail(diag, KT_ERR_LIMIT, "%s: line %" PRIu64 " is longer than %u MiB",
					    r->o->input_name, r->lines + 1, LINE_MAX_BYTES >> 20);
		char *nb = realloc(r->buf, cap);
		if (!nb)
			return KT_ERR_NOMEM;
		r->buf = nb;
		ssize_t n;
		/* the one place a reader thread may be cancelled (the import
		 * failed while it waited for input that may never come) */
		int old;
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
		do
			n = r->o->read(r->o->read_ctx, r->buf + r->len, READ_CHUNK);
		while (n < 0 && errno == EINTR);
		pthread_setcancelstate(old, NULL);
		if (n < 0)
			return kt_diag_fail(diag, KT_ERR_IO, "%s: read: %s", r->o->input_name, strerror(errno));
		if (n == 0)
			r->eof = 1;
		r->len += (size_t)n;
	}
}

static struct part *get_part(struct imp *m, int32_t p)
{
	if ((size_t)p >= m->part_n) {
		size_t n = (size_t)p + 1;
		struct part *np = realloc(m->parts, n * sizeof(*np));
		if (!np)
			return NULL;
		memset(np + m->part_n, 0, (n - m->part_n) * sizeof(*np));
		for (size_t i = m->part_n; i < n; i++)
			np[i].partition = (int32_t)i;
		m->parts = np;
		m->part_n = n;
	}
	return &m->parts[p];
}

/* A bad line: reported and skipped while skip_bad allows, else the error. */
static enum kt_err bad_line(struct imp *m, enum kt_err err, struct kt_diag *diag)
{
	char msg[KT_DIAG_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", diag->msg[0] ? diag->msg : kt_err_str(err));
	if (err != KT_ERR_INVALID || m->res->skipped >= m->o->skip_bad) {
		kt_diag_fail(diag, err, "%s: line %" PRIu64 ": %s", m->o->input_name, m->res->lines, msg);
		return err;
	}
	m->res->skipped++;
	warn(m, "%s: line %" PRIu64 ": %s (skipped, %" PRIu64 " of --skip-bad %" PRIu64 ")", m->o->input_name,
	     m->res->lines, msg, m->res->skipped, m->o->skip_bad);
	kt_diag_clear(diag);
	return KT_OK;
}

static enum kt_err add_record(struct imp *m, struct kt_import_line *l, struct kt_diag *diag)
{
	int32_t p = l->partition;
	if (!l->has_partition) {
		m->res->no_partition++;
		if (l->rec.key_null)
			p = 0;
		else if (m->o->partitions > 0)
			p = kt_import_partition_for_key(l->rec.key, l->rec.key_len, m->o->partitions);
		else
			return kt_diag_fail(diag, KT_ERR_INVALID,
					    "a record with a key and no partition: give --partitions N to place "
					    "it as Kafka's default partitioner would");
	} else if (m->o->partitions > 0 && p >= m->o->partitions) {
		return kt_diag_fail(diag, KT_ERR_INVALID, "partition %" PRId32 " is not below --partitions %" PRId32, p,
				    m->o->partitions);
	} else if (p >= MAX_PARTITIONS) {
		return kt_diag_fail(diag, KT_ERR_INVALID, "partition %" PRId32 " is beyond %d", p, MAX_PARTITIONS);
	}
	struct part *pt = get_part(m, p);
	if (!pt)
		return KT_ERR_NOMEM;
	if (!l->has_offset) {
		m->res->no_offset++;
		l->rec.offset = pt->used ? pt->next : 0;
	} else if (pt->used && l->rec.offset < pt->next) {
		return kt_diag_fail(diag, KT_ERR_INVALID,
				    "offset %" PRId64 " of partition %" PRId32 " does not follow offset %" PRId64
				    " (offsets must increase within a partition)",
				    l->rec.offset, p, pt->next - 1);
	}
	if (!l->has_timestamp) {
		m->res->no_timestamp++;
		l->rec.timestamp = m->res->import_time_ms;
		l->rec.ts_type = KT_TS_CREATE;
	}
	if (!pt->seg) {
		struct kt_segment_writer_opts wo = {.zstd_level = m->o->zstd_level,
						    .block_bytes = m->o->block_bytes,
						    .codec = m->codec,
						    .key = m->o->key};
		enum kt_err err = kt_archive_segment_begin(m->a, m->o->topic, m->generation, p, &wo, &pt->seg, diag);
		if (err)
			return err;
	}
	/* the segment copies the record's bytes */
	enum kt_err err = kt_archive_segment_add(pt->seg, &l->rec, diag);
	if (err)
		return err;
	if (!pt->used)
		pt->first = l->rec.offset;
	pt->used = 1;
	pt->next = l->rec.offset + 1;
	pt->records++;
	m->res->records++;
	m->res->payload_bytes += kt_record_payload_bytes(&l->rec);
	uint64_t limit = m->o->segment_bytes ? m->o->segment_bytes : DEFAULT_SEGMENT_BYTES;
	if (kt_archive_segment_raw_bytes(pt->seg) >= limit) {
		if (pt->rolled_n == pt->rolled_cap) {
			size_t cap = pt->rolled_cap ? pt->rolled_cap * 2 : 4;
			struct kt_archive_segment **r = realloc(pt->rolled, cap * sizeof(*r));
			if (!r)
				return KT_ERR_NOMEM;
			pt->rolled = r;
			pt->rolled_cap = cap;
		}
		pt->rolled[pt->rolled_n++] = pt->seg;
		pt->seg = NULL;
	}
	return KT_OK;
}

/* Parsing is most of an import's work (jansson builds a document per
 * line), so lines go in batches through a pipeline: a reader thread fills
 * batches, parser threads parse them (each batch on one thread), and this
 * thread adds their records in input order. Errors, line numbers, offsets
 * and --skip-bad come out as with one line at a time, and with --threads 1
 * the same batches are filled, parsed and added on this thread alone. A
 * batch holds at most BATCH_LINES lines and BATCH_BYTES of text (or one
 * longer line), and the pipeline a fixed number of batches, so memory
 * stays bounded whatever the input. */
#define BATCH_LINES 1024
#define BATCH_BYTES (1u << 20)
#define MAX_THREADS 16
/* The reader starts no batch while the ones not yet added hold this much
 * text (long lines make few, large batches). */
#define INFLIGHT_BYTES (32u << 20)

struct batch {
	char *text;
	size_t text_len, text_cap;
	size_t n;
	size_t off[BATCH_LINES], len[BATCH_LINES];
	uint64_t line_no[BATCH_LINES];
	struct kt_import_line lines[BATCH_LINES];
	enum kt_err err[BATCH_LINES];
	char *msg[BATCH_LINES]; /* the parse error's message, owned */
	/* after its lines: the end of the input, or the reader's failure */
	int last;
	enum kt_err read_err;
	struct kt_diag read_diag;
	uint64_t lines_read; /* the reader's count after this batch */
};

static struct batch *batch_new(void)
{
	struct batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	for (size_t i = 0; i < BATCH_LINES; i++)
		kt_import_line_init(&b->lines[i]);
	return b;
}

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < BATCH_LINES; i++) {
		kt_import_line_free(&b->lines[i]);
		free(b->msg[i]);
	}
	free(b->text);
	free(b);
}

/* Reads lines into b until it is full or the input ends (or fails: the
 * failure is the batch's, after its lines). */
static void batch_fill(struct reader *r, struct batch *b)
{
	b->n = 0;
	b->text_len = 0;
	b->last = 0;
	b->read_err = KT_OK;
	kt_diag_clear(&b->read_diag);
	while (b->n < BATCH_LINES && b->text_len < BATCH_BYTES) {
		const char *s;
		size_t n;
		enum kt_err err = next_line(r, &s, &n, &b->read_diag);
		if (err || !s) {
			b->read_err = err;
			b->last = 1;
			break;
		}
		r->lines++;
		if (!n)
			continue; /* an empty line holds no record (console output never has one for a record) */
		if (b->text_len + n > b->text_cap) {
			size_t cap = (b->text_len + n) * 2;
			char *t = realloc(b->text, cap);
			if (!t) {
				b->read_err = KT_ERR_NOMEM;
				b->last = 1;
				break;
			}
			b->text = t;
			b->text_cap = cap;
		}
		memcpy(b->text + b->text_len, s, n);
		b->off[b->n] = b->text_len;
		b->len[b->n] = n;
		b->line_no[b->n] = r->lines;
		b->text_len += n;
		b->n++;
	}
	b->lines_read = r->lines;
}

static void batch_parse(struct kt_import_parser *p, struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct kt_diag d;
		kt_diag_clear(&d);
		free(b->msg[i]);
		b->msg[i] = NULL;
		b->err[i] = kt_import_parse(p, b->text + b->off[i], b->len[i], &b->lines[i], &d);
		if (b->err[i])
			b->msg[i] = strdup(d.msg[0] ? d.msg : kt_err_str(b->err[i]));
	}
}

/* Adds a parsed batch's records in line order; its reader's failure after
 * them. */
static enum kt_err batch_add(struct imp *m, struct batch *b, struct kt_diag *diag)
{
	enum kt_err err = KT_OK;
	for (size_t i = 0; i < b->n && !err; i++) {
		m->res->lines = b->line_no[i]; /* what bad_line names */
		err = b->err[i];
		if (err)
			kt_diag_fail(diag, err, "%s", b->msg[i] ? b->msg[i] : kt_err_str(err));
		else
			err = add_record(m, &b->lines[i], diag);
		if (err)
			err = bad_line(m, err, diag);
	}
	if (err)
		return err;
	m->res->lines = b->lines_read;
	if (b->read_err) {
		*diag = b->read_diag;
		return b->read_err;
	}
	return KT_OK;
}

static enum kt_err read_all_single(struct imp *m, struct reader *r, struct kt_diag *diag)
{
	struct kt_import_parser *p = NULL;
	struct batch *b = batch_new();
	enum kt_err err = b ? kt_import_parser_new(&m->o->fmt, &p) : KT_ERR_NOMEM;
	while (!err) {
		batch_fill(r, b);
		batch_parse(p, b);
		err = batch_add(m, b, diag);
		if (b->last)
			break;
	}
	kt_import_parser_free(p);
	batch_free(b);
	return err;
}

/* The pipeline's shared state. Batch number s lives in ring[s % nb]; the
 * reader fills s once s - consumed < nb, a parser takes the next filled
 * one, the writer (this thread) takes s once parsed. */
struct pipeline {
	struct imp *m;
	struct reader *r;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *ring[2 * MAX_THREADS + 2];
	int parsed[2 * MAX_THREADS + 2];
	size_t nb;
	uint64_t filled, next_parse, consumed;
	size_t inflight; /* text bytes of the batches filled and not yet added */
	int reader_done; /* the last batch is filled */
	int stop;	 /* the writer failed: every thread ends */
};

static void *reader_main(void *arg)
{
	struct pipeline *pl = arg;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (uint64_t s = 0;; s++) {
		pthread_mutex_lock(&pl->mu);
		while (!pl->stop &&
		       (s - pl->consumed >= pl->nb || (s > pl->consumed && pl->inflight >= INFLIGHT_BYTES)))
			pthread_cond_wait(&pl->cv, &pl->mu);
		int stop = pl->stop;
		pthread_mutex_unlock(&pl->mu);
		if (stop)
			return NULL;
		struct batch *b = pl->ring[s % pl->nb];
		batch_fill(pl->r, b);
		pthread_mutex_lock(&pl->mu);
		pl->filled = s + 1;
		pl->inflight += b->text_len;
		pl->reader_done = b->last;
		pthread_cond_broadcast(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
		if (b->last)
			return NULL;
	}
}

struct worker {
	struct pipeline *pl;
	struct kt_import_parser *parser;
	pthread_t t;
};

static void *parser_main(void *arg)
{
	struct worker *w = arg;
	struct pipeline *pl = w->pl;
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (!pl->stop && pl->next_parse == pl->filled && !pl->reader_done)
			pthread_cond_wait(&pl->cv, &pl->mu);
		if (pl->stop || pl->next_parse == pl->filled)
			break;
		uint64_t s = pl->next_parse++;
		pthread_mutex_unlock(&pl->mu);
		batch_parse(w->parser, pl->ring[s % pl->nb]);
		pthread_mutex_lock(&pl->mu);
		pl->parsed[s % pl->nb] = 1;
		pthread_cond_broadcast(&pl->cv);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

static enum kt_err write_all(struct pipeline *pl, struct kt_diag *diag)
{
	for (uint64_t s = 0;; s++) {
		size_t slot = s % pl->nb;
		pthread_mutex_lock(&pl->mu);
		while (!pl->parsed[slot])
			pthread_cond_wait(&pl->cv, &pl->mu);
		pthread_mutex_unlock(&pl->mu);
		struct batch *b = pl->ring[slot];
		enum kt_err err = batch_add(pl->m, b, diag);
		if (err || b->last)
			return err;
		pthread_mutex_lock(&pl->mu);
		pl->parsed[slot] = 0;
		pl->consumed = s + 1;
		pl->inflight -= b->text_len;
		pthread_cond_broadcast(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
	}
}

static enum kt_err read_all(struct imp *m, struct kt_diag *diag)
{
	struct reader r = {.o = m->o};
	int threads = m->o->threads;
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (int)n : 1;
	}
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	enum kt_err err = KT_OK;
	struct pipeline pl = {.m = m, .r = &r, .nb = 2 * (size_t)threads + 2};
	struct worker w[MAX_THREADS] = {0};
	int started = 0, reader = 0;
	pthread_t rt;
	if (threads > 1) {
		pthread_mutex_init(&pl.mu, NULL);
		pthread_cond_init(&pl.cv, NULL);
		for (size_t i = 0; i < pl.nb && !err; i++)
			if (!(pl.ring[i] = batch_new()))
				err = KT_ERR_NOMEM;
		for (int i = 0; i < threads && !err; i++) {
			w[i].pl = &pl;
			err = kt_import_parser_new(&m->o->fmt, &w[i].parser);
			if (!err && pthread_create(&w[i].t, NULL, parser_main, &w[i]))
				break; /* fewer parsers */
			started += !err;
		}
		/* without threads (none could start), all on this one */
		reader = !err && started && !pthread_create(&rt, NULL, reader_main, &pl);
		if (!err && reader)
			err = write_all(&pl, diag);
		pthread_mutex_lock(&pl.mu);
		pl.stop = 1;
		pthread_cond_broadcast(&pl.cv);
		pthread_mutex_unlock(&pl.mu);
		if (reader) {
			pthread_cancel(rt); /* only where it waits for input */
			pthread_join(rt, NULL);
		}
		for (int i = 0; i < started; i++)
			pthread_join(w[i].t, NULL);
		for (int i = 0; i < threads; i++)
			kt_import_parser_free(w[i].parser);
		for (size_t i = 0; i < pl.nb; i++)
			batch_free(pl.ring[i]);
		pthread_cond_destroy(&pl.cv);
		pthread_mutex_destroy(&pl.mu);
	}
	if (!err && !reader)
		err = read_all_single(m, &r, diag);
	free(r.buf);
	return err;
}

/* Commits every partition's segments in offset order; the last one of a
 * partition carries its progress row. */
static enum kt_err commit_all(struct imp *m, struct kt_diag *diag)
{
	for (size_t i = 0; i < m->part_n; i++) {
		struct part *pt = &m->parts[i];
		if (!pt->used)
			continue;
		m->res->partitions++;
		/* an imported partition's "log" is what the source held */
		struct kt_catalog_prun pr = {m->run_id, m->o->topic, m->generation, pt->partition, pt->first,
					     pt->next,	pt->first,   pt->next,	    pt->next,	   (int64_t)pt->records,
					     -1,	-1};
		size_t total = pt->rolled_n + (pt->seg ? 1 : 0);
		for (size_t j = 0; j < total; j++) {
			struct kt_archive_segment *s = j < pt->rolled_n ? pt->rolled[j] : pt->seg;
			if (j < pt->rolled_n)
				pt->rolled[j] = NULL;
			else
				pt->seg = NULL;
			struct kt_segment_summary sum;
			enum kt_err err =
				kt_archive_segment_commit(m->a, s, m->run_id, j + 1 == total ? &pr : NULL, &sum, diag);
			if (err)
				return err;
			m->res->segments++;
			m->res->file_bytes += sum.file_bytes;
		}
	}
	return KT_OK;
}

static void abort_all(struct imp *m)
{
	for (size_t i = 0; i < m->part_n; i++) {
		struct part *pt = &m->parts[i];
		for (size_t j = 0; j < pt->rolled_n; j++)
			kt_archive_segment_abort(pt->rolled[j]);
		kt_archive_segment_abort(pt->seg);
		free(pt->rolled);
	}
	free(m->parts);
	m->parts = NULL;
	m->part_n = 0;
}

static const char *format_name(enum kt_import_kind k)
{
	return k == KT_IMPORT_JSON ? "json" : k == KT_IMPORT_KCAT_JSON ? "kcat-json" : "console";
}

/* What the run's message says: where the records came from and what the
 * source lacked, so that ls --runs tells an imported offset or timestamp
 * from one Kafka gave. */
static void describe(struct imp *m)
{
	struct kt_import_result *r = m->res;
	char ts[64];
	time_t secs = (time_t)(r->import_time_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + tl, sizeof(ts) - tl, ".%03dZ (@%" PRId64 ")", (int)(r->import_time_ms % 1000), r->import_time_ms);
	int n = snprintf(r->message, sizeof(r->message), "imported %" PRIu64 " record(s) from %s (%s)", r->records,
			 m->o->input_name, format_name(m->o->fmt.kind));
	size_t off = n > 0 && (size_t)n < sizeof(r->message) ? (size_t)n : sizeof(r->message) - 1;
	if (r->no_offset || r->no_partition || r->no_timestamp) {
		n = snprintf(r->message + off, sizeof(r->message) - off, "; the source lacked");
		off += n > 0 ? (size_t)n : 0;
		const char *sep = " ";
		if (r->no_offset && off < sizeof(r->message)) {
			n = snprintf(r->message + off, sizeof(r->message) - off,
				     "%soffsets of %" PRIu64 " (numbered on from the previous one, or 0)", sep,
				     r->no_offset);
			off += n > 0 ? (size_t)n : 0;
			sep = ", ";
		}
		if (r->no_partition && off < sizeof(r->message)) {
			n = snprintf(r->message + off, sizeof(r->message) - off,
				     m->o->partitions > 0 ? "%spartitions of %" PRIu64
							    " (murmur2 of the key over %" PRId32
							    " partitions, 0 without a key)"
							  : "%spartitions of %" PRIu64 " (no key: partition 0)%.0d",
				     sep, r->no_partition, m->o->partitions);
			off += n > 0 ? (size_t)n : 0;
			sep = ", ";
		}
		if (r->no_timestamp && off < sizeof(r->message))
			snprintf(r->message + off, sizeof(r->message) - off,
				 "%stimestamps of %" PRIu64 " (given the import time %s, CreateTime)", sep,
				 r->no_timestamp, ts);
	}
	if (r->skipped) {
		size_t l = strlen(r->message);
		snprintf(r->message + l, sizeof(r->message) - l, "; %" PRIu64 " bad line(s) skipped", r->skipped);
	}
}

static enum kt_err end_run(struct imp *m, const char *status, const char *message, struct kt_diag *diag)
{
	int64_t records = 0, bytes = 0;
	enum kt_err err = kt_catalog_begin(m->cat, diag);
	if (!err)
		err = kt_catalog_run_end(m->cat, m->run_id, status, 0, 0, message, kt_time_now_ms(), diag);
	if (!err)
		err = kt_catalog_run_recount(m->cat, m->run_id, &records, &bytes, diag);
	if (err) {
		kt_catalog_rollback(m->cat);
		return err;
	}
	err = kt_catalog_commit(m->cat, diag);
	return err ? err : kt_archive_write_run_meta(m->a, m->run_id, "import", diag);
}

/* Imports go into a topic the archive does not hold yet (generation 0),
 * so that imported offsets never mix with dumped ones. */
static enum kt_err check_topic(struct imp *m, struct kt_diag *diag)
{
	int found = 0;
	uint32_t gen;
	enum kt_err err = kt_catalog_current_generation(m->cat, m->o->topic, &gen, &found, diag);
	if (err)
		return err;
	if (found)
		return kt_diag_fail(diag, KT_ERR_EXISTS,
				    "the archive already holds topic '%s': import into a new archive (or under "
				    "another topic name with -t)",
				    m->o->topic);
	m->generation = 0;
	return KT_OK;
}

/* Once the input is read: the topic's generation and snapshot (the
 * partition count restore creates it with), in one transaction. */
static enum kt_err put_topic(struct imp *m, struct kt_diag *diag)
{
	int32_t n = m->o->partitions > 0 ? m->o->partitions : (int32_t)m->part_n;
	struct kt_catalog_topic t = {m->run_id, m->o->topic, m->generation, n, 0};
	enum kt_err err = kt_catalog_begin(m->cat, diag);
	if (!err)
		err = kt_catalog_add_generation(m->cat, m->o->topic, m->generation, m->run_id, "import", diag);
	if (!err)
		err = kt_catalog_put_topic(m->cat, &t, diag);
	return err ? (kt_catalog_rollback(m->cat), err) : kt_catalog_commit(m->cat, diag);
}

enum kt_err kt_import_run(const struct kt_import_opts *o, struct kt_import_result *res, struct kt_diag *diag)
{
	memset(res, 0, sizeof(*res));
	struct imp m = {0};
	m.o = o;
	m.res = res;
	int64_t t0 = kt_time_mono_ns();
	res->import_time_ms = kt_time_now_ms();
	enum kt_err err = kt_segment_codec_new(&m.codec);
	if (err)
		goto out;
	struct kt_archive_recovery rec;
	err = kt_archive_open(o->archive, KT_ARCHIVE_CREATE, &m.a, &rec, diag);
	if (err)
		goto out;
	m.cat = kt_archive_catalog(m.a);
	err = kt_archive_use_key(m.a, o->key, 1, diag);
	if (err)
		goto out;
	struct kt_catalog_run run = {0};
	run.kind = "import";
	run.started_ms = res->import_time_ms;
	run.args = o->args ? o->args : "";
	run.tool_version = o->tool_version ? o->tool_version : "";
	err = kt_catalog_begin(m.cat, diag);
	if (!err)
		err = kt_catalog_run_begin(m.cat, &run, &m.run_id, diag);
	if (!err)
		err = kt_catalog_commit(m.cat, diag);
	else
		kt_catalog_rollback(m.cat);
	if (err)
		goto out;
	res->run_id = m.run_id;
	err = check_topic(&m, diag);
	if (!err)
		err = read_all(&m, diag);
	if (!err && !res->records)
		err = kt_diag_fail(diag, KT_ERR_INVALID, "%s: no records in %" PRIu64 " line(s)", o->input_name,
				   res->lines);
	if (!err)
		err = put_topic(&m, diag);
	if (!err)
		err = commit_all(&m, diag);
	abort_all(&m);
	res->seconds = (double)(kt_time_mono_ns() - t0) / 1e9;
	describe(&m);
	struct kt_diag d2;
	kt_diag_clear(&d2);
	enum kt_err e2 = end_run(&m, err ? "failed" : "ok", err ? diag->msg : res->message, &d2);
	if (!err && e2) {
		err = e2;
		*diag = d2;
	}
out:
	abort_all(&m);
	kt_archive_close(m.a);
	kt_segment_codec_free(m.codec);
	return err;
}
