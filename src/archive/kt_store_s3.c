/* The bucket side of kt_store (format/SPEC.md 10.6): objects under
 * s3://BUCKET/PREFIX/, a private working directory for the catalog and
 * the segments being written, the lock object, and segments read in
 * ranges. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kt_buf.h"
#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_s3.h"
#include "kt_store_internal.h"
#include "kt_time.h"

#define PATH_BUF 4096
#define KEY_MAX	 2048
/* One PUT up to this size; a multipart upload of PART_SIZE parts above it
 * (S3's parts are at least 5 MiB, all but the last). */
#define SINGLE_PUT_MAX ((size_t)32 << 20)
#define PART_SIZE      ((size_t)16 << 20)
/* A segment is fetched in CHUNK-aligned ranges; sequential reading widens
 * each fetch up to READAHEAD_MAX, and what lies behind is dropped once
 * RESIDENT_MAX is held, so that restoring a large segment holds a few
 * windows of it, not all of it. */
#define CHUNK	      ((uint64_t)16 << 10)
#define READAHEAD_MAX ((uint64_t)8 << 20)
#define RESIDENT_MAX  ((uint64_t)64 << 20)
/* A lock object is read back after this pause: on a server that ignores
 * If-None-Match, a writer that raced us has overwritten it by then. */
#define LOCK_SETTLE_MS 1000

/* One request at a time on the store's client (one curl handle): verify
 * reads from several threads. A bucket that stayed unreachable for the
 * whole timeout is a storage failure (its own exit code), not a Kafka one.
 * S3(store, call) holds the store's mutex around call. */
static int s3_lock(struct kt_store *s)
{
	pthread_mutex_lock(&s->s3_mu);
	return s->s3_down;
}

static enum kt_err s3_done(struct kt_store *s, enum kt_err err)
{
	if (err == KT_ERR_TIMEOUT)
		s->s3_down = 1;
	pthread_mutex_unlock(&s->s3_mu);
	return err == KT_ERR_TIMEOUT ? KT_ERR_STORAGE : err;
}

/* Once a request has spent its whole timeout, the bucket is taken for
 * gone for the rest of the process: the cleanup after the failure (the
 * run's metadata, the lock's release) fails at once instead of waiting
 * the timeout again each time, and the next run recovers. */
static enum kt_err s3_gone(struct kt_store *s)
{
	pthread_mutex_unlock(&s->s3_mu);
	return KT_ERR_STORAGE;
}
#define S3(store, call) (s3_lock(store) ? s3_gone(store) : s3_done((store), (call)))

static const char *key_of(const struct kt_store *s, const char *name, char *buf, size_t bufsize)
{
	snprintf(buf, bufsize, "%s%s", s->prefix, name);
	return buf;
}

/* Removes the working directory: it holds only what this process put there. */
static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char child[PATH_BUF + 256];
			snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
			struct stat st;
			if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
				remove_tree(child);
			else
				unlink(child);
		}
		closedir(d);
	}
	rmdir(path);
}

enum kt_err kt_store_s3_open(struct kt_store *s, const char *location, const struct kt_store_opts *opts,
			     struct kt_diag *diag)
{
	const char *b = location + 5;
	const char *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	if (blen == 0)
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s names no bucket (s3://BUCKET/PREFIX)", location);
	char bucket[256];
	if (blen >= sizeof(bucket))
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s: the bucket name is too long", location);
	memcpy(bucket, b, blen);
	bucket[blen] = '\0';
	const char *p = slash ? slash + 1 : "";
	size_t plen = strlen(p);
	while (plen && p[plen - 1] == '/')
		plen--;
	s->prefix = malloc(plen + 2);
	if (!s->prefix)
		return KT_ERR_NOMEM;
	memcpy(s->prefix, p, plen);
	s->prefix[plen] = '\0';
	if (plen)
		strcat(s->prefix, "/");
	if (strstr(s->prefix, "//"))
		return kt_diag_fail(diag, KT_ERR_INVALID, "%s: the prefix has an empty path segment", location);

	pthread_mutex_init(&s->s3_mu, NULL);
	s->s3_mu_init = 1;
	struct kt_s3_config cfg = {0};
	cfg.endpoint = opts->s3_endpoint;
	cfg.region = opts->s3_region;
	cfg.path_style = opts->s3_path_style;
	cfg.bucket = bucket;
	cfg.timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 120000;
	enum kt_err err = kt_s3_open(&cfg, &s->s3, diag);
	if (err)
		return err;

	/* private: the catalog holds the archive's index, the spool its data */
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_BUF];
	snprintf(dir, sizeof(dir), "%s/ktape-s3-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return kt_diag_fail(diag, KT_ERR_IO, "cannot create a working directory in %s: %s",
				    tmp && *tmp ? tmp : "/tmp", strerror(errno));
	s->work_dir = strdup(dir);
	if (!s->work_dir) {
		rmdir(dir);
		return KT_ERR_NOMEM;
	}
	return KT_OK;
}

void kt_store_s3_close(struct kt_store *s)
{
	if (s->work_dir)
		remove_tree(s->work_dir);
	kt_s3_close(s->s3);
	if (s->s3_mu_init)
		pthread_mutex_destroy(&s->s3_mu);
	free(s->prefix);
	free(s->lock_body);
}

void kt_store_s3_stats(const struct kt_store *s, struct kt_store_stats *out)
{
	struct kt_s3_stats st;
	struct kt_store *ms = (struct kt_store *)s; /* the mutex only */
	(void)s3_lock(ms);
	kt_s3_stats(s->s3, &st);
	s3_done(ms, KT_OK);
	out->requests = (uint64_t)st.requests;
	out->bytes_fetched = (uint64_t)st.bytes_received;
	out->bytes_sent = (uint64_t)st.bytes_sent;
}

/* The object that must be there in an archive: a bucket that does not
 * exist says so in the error of any request. */
enum kt_err kt_store_s3_check(struct kt_store *s, struct kt_diag *diag)
{
	int any;
	return kt_store_s3_list(s, "", NULL, &any, diag);
}

/* A listing is collected whole first, then handed to the callback: the
 * callback may make requests of its own (recovery indexes each segment),
 * which cannot run on the client while its list request is in progress. */
struct list_entry {
	char *name;
	uint64_t size;
};

struct list_ctx {
	const struct kt_store *s;
	struct list_entry *v;
	size_t n, cap;
	int first_only; /* only whether there is one */
};

/* KT_ERR_STATE stops kt_s3_list's walk when the first key is enough; it
 * never leaves kt_store_s3_list */
static enum kt_err list_one(void *ctx, const char *key, int64_t size)
{
	struct list_ctx *l = ctx;
	size_t plen = strlen(l->s->prefix);
	size_t klen = strlen(key);
	/* a key ending in '/' is a "folder" marker some stores and consoles
	 * make (S3Proxy's filesystem provider lists its directories so) */
	if (strncmp(key, l->s->prefix, plen) != 0 || klen == plen || key[klen - 1] == '/')
		return KT_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct list_entry *nv = realloc(l->v, cap * sizeof(*nv));
		if (!nv)
			return KT_ERR_NOMEM;
		l->v = nv;
		l->cap = cap;
	}
	if (!(l->v[l->n].name = strdup(key + plen)))
		return KT_ERR_NOMEM;
	l->v[l->n++].size = size < 0 ? 0 : (uint64_t)size;
	return l->first_only ? KT_ERR_STATE : KT_OK;
}

enum kt_err kt_store_s3_list(struct kt_store *s, const char *prefix, kt_store_list_cb cb, void *ctx,
			     struct kt_diag *diag)
{
	char key[KEY_MAX];
	struct list_ctx l = {s, NULL, 0, 0, cb == NULL};
	/* ListObjectsV2 answers in UTF-8 binary order, which for the ASCII
	 * names of an archive is strcmp's */
	enum kt_err err = S3(s, kt_s3_list(s->s3, key_of(s, prefix, key, sizeof(key)), list_one, &l, diag));
	if (err == KT_ERR_STATE && l.first_only) {
		kt_diag_clear(diag);
		err = KT_OK;
	}
	if (!cb && ctx)
		*(int *)ctx = l.n > 0; /* cb NULL: ctx is an int, whether there is one */
	if (err == KT_ERR_NOMEM)
		kt_diag_fail(diag, err, "out of memory listing %s/%s", s->location, prefix);
	for (size_t i = 0; i < l.n; i++) {
		if (!err && cb && cb(ctx, l.v[i].name, l.v[i].size))
			cb = NULL; /* it has seen enough */
		free(l.v[i].name);
	}
	free(l.v);
	return err;
}

enum kt_err kt_store_s3_size(struct kt_store *s, const char *name, uint64_t *out_size, struct kt_diag *diag)
{
	char key[KEY_MAX];
	return S3(s, kt_s3_head(s->s3, key_of(s, name, key, sizeof(key)), out_size, diag));
}

enum kt_err kt_store_s3_get(struct kt_store *s, const char *name, size_t max, uint8_t **out_data, size_t *out_len,
			    struct kt_diag *diag)
{
	*out_data = NULL;
	*out_len = 0;
	char key[KEY_MAX];
	struct kt_buf b;
	kt_buf_init(&b, max);
	enum kt_err err = S3(s, kt_s3_get(s->s3, key_of(s, name, key, sizeof(key)), 0, 0, &b, diag));
	if (err == KT_ERR_LIMIT)
		err = kt_diag_fail(diag, err, "s3://%s is larger than %zu bytes", key, max);
	if (err) {
		kt_buf_free(&b);
		return err;
	}
	if (!b.data && kt_buf_reserve(&b, 1) != KT_OK) {
		kt_buf_free(&b);
		return KT_ERR_NOMEM;
	}
	*out_data = b.data; /* the buffer's memory becomes the caller's */
	*out_len = b.len;
	return KT_OK;
}

enum kt_err kt_store_s3_put(struct kt_store *s, const char *name, const void *data, size_t len, struct kt_diag *diag)
{
	char key[KEY_MAX];
	return S3(s, kt_s3_put(s->s3, key_of(s, name, key, sizeof(key)), data, len, 0, diag));
}

/* Uploads the local file whole: one PUT, or a multipart upload that is
 * aborted when any part fails (S3 shows the object only once complete). */
enum kt_err kt_store_s3_commit_file(struct kt_store *s, const char *path, const char *name, struct kt_diag *diag)
{
	char key[KEY_MAX];
	key_of(s, name, key, sizeof(key));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return kt_diag_fail(diag, KT_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
	}
	size_t len = (size_t)st.st_size;
	void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (map == MAP_FAILED)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot map %s: %s", path, strerror(errno));
	const uint8_t *data = map ? map : (const uint8_t *)"";
	enum kt_err err;
	if (len <= SINGLE_PUT_MAX) {
		err = S3(s, kt_s3_put(s->s3, key, data, len, 0, diag));
	} else {
		struct kt_s3_upload *up = NULL;
		err = S3(s, kt_s3_upload_begin(s->s3, key, &up, diag));
		for (size_t off = 0; !err && off < len; off += PART_SIZE)
			err = S3(s, kt_s3_upload_part(up, data + off, len - off < PART_SIZE ? len - off : PART_SIZE,
						      diag));
		if (!err)
			err = S3(s, kt_s3_upload_complete(up, diag)); /* frees up, aborting it on failure */
		else {
			(void)s3_lock(s);
			kt_s3_upload_abort(up);
			s3_done(s, KT_OK);
		}
	}
	if (map)
		munmap(map, len);
	if (!err)
		unlink(path);
	return err;
}

enum kt_err kt_store_s3_fetch_file(struct kt_store *s, const char *name, const char *path, struct kt_diag *diag)
{
	uint8_t *data;
	size_t len;
	/* a catalog of 1 GiB indexes some hundred million blocks */
	enum kt_err err = kt_store_s3_get(s, name, (size_t)1 << 30, &data, &len, diag);
	if (err)
		return err;
	err = kt_write_file_atomic(path, data, len, diag);
	free(data);
	return err;
}

enum kt_err kt_store_s3_remove(struct kt_store *s, const char *name, struct kt_diag *diag)
{
	char key[KEY_MAX];
	enum kt_err err = S3(s, kt_s3_delete(s->s3, key_of(s, name, key, sizeof(key)), diag));
	return err == KT_ERR_NOT_FOUND ? KT_OK : err;
}

/* ---- the lock object ---- */

/* "ktape writer lock\ntoken=...\nhost=...\nboot=...\npid=...\nsince=...\n" */
static void lock_field(const char *body, const char *name, char *buf, size_t bufsize)
{
	buf[0] = '\0';
	size_t n = strlen(name);
	for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == '=') {
			size_t l = strcspn(p + n + 1, "\n");
			snprintf(buf, bufsize, "%.*s", (int)l, p + n + 1);
			return;
		}
}

static void boot_id(char *buf, size_t bufsize)
{
	uint8_t *data;
	size_t len;
	buf[0] = '\0';
	if (kt_read_file("/proc/sys/kernel/random/boot_id", 64, &data, &len, NULL) == KT_OK) {
		size_t n = 0;
		while (n < len && data[n] != '\n')
			n++;
		snprintf(buf, bufsize, "%.*s", (int)n, (char *)data);
		free(data);
	}
}

/* A lock left on this host by a process that is gone (or by an earlier
 * boot) is stale; one from another host cannot be judged from here. */
static int lock_is_stale(const char *body)
{
	char host[256], myhost[256] = "", boot[64], myboot[64], pid[32];
	lock_field(body, "host", host, sizeof(host));
	lock_field(body, "boot", boot, sizeof(boot));
	lock_field(body, "pid", pid, sizeof(pid));
	gethostname(myhost, sizeof(myhost) - 1);
	boot_id(myboot, sizeof(myboot));
	if (!host[0] || strcmp(host, myhost))
		return 0;
	if (boot[0] && myboot[0] && strcmp(boot, myboot))
		return 1;
	long p = strtol(pid, NULL, 10);
	return p > 0 && kill((pid_t)p, 0) != 0 && errno == ESRCH;
}

static enum kt_err locked_by(struct kt_store *s, const char *body, struct kt_diag *diag)
{
	char host[256], pid[32], since[64];
	lock_field(body, "host", host, sizeof(host));
	lock_field(body, "pid", pid, sizeof(pid));
	lock_field(body, "since", since, sizeof(since));
	return kt_diag_fail(diag, KT_ERR_LOCKED,
			    "archive %s is in use by another ktape process (host %s, pid %s since %s); if that process "
			    "is gone, delete the object %s/lock",
			    s->location, host[0] ? host : "?", pid[0] ? pid : "?", since[0] ? since : "?", s->location);
}

enum kt_err kt_store_s3_lock(struct kt_store *s, struct kt_diag *diag)
{
	char key[KEY_MAX];
	key_of(s, "lock", key, sizeof(key));
	uint8_t rnd[16];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return kt_diag_fail(diag, KT_ERR_IO, "cannot get random bytes for the lock");
	char token[33], host[256] = "", boot[64], when[KT_TIME_STR_MAX];
	for (int i = 0; i < 16; i++)
		snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	gethostname(host, sizeof(host) - 1);
	boot_id(boot, sizeof(boot));
	char body[1024];
	int n = snprintf(body, sizeof(body), "ktape writer lock\ntoken=%s\nhost=%s\nboot=%s\npid=%d\nsince=%s\n", token,
			 host, boot, (int)getpid(), kt_parse_format_time(kt_time_now_ms(), when));
	for (int attempt = 0; attempt < 2; attempt++) {
		uint8_t *old;
		size_t olen;
		struct kt_diag d2;
		kt_diag_clear(&d2);
		enum kt_err err = kt_store_s3_get(s, "lock", 4096, &old, &olen, &d2);
		if (err == KT_OK) {
			char *text = calloc(1, olen + 1);
			if (!text) {
				free(old);
				return KT_ERR_NOMEM;
			}
			memcpy(text, old, olen);
			free(old);
			int stale = lock_is_stale(text);
			if (!stale || attempt) {
				err = locked_by(s, text, diag);
				free(text);
				return err;
			}
			free(text);
			/* its process died on this host: the lock is ours to take */
			err = S3(s, kt_s3_delete(s->s3, key, diag));
			if (err && err != KT_ERR_NOT_FOUND)
				return err;
			continue;
		}
		if (err != KT_ERR_NOT_FOUND) {
			*diag = d2;
			return err;
		}
		/* S3 honours If-None-Match on PUT: a writer that raced us got 412 */
		err = S3(s, kt_s3_put(s->s3, key, body, (size_t)n, KT_S3_IF_NONE_MATCH, diag));
		if (err == KT_ERR_EXISTS)
			continue;
		if (err)
			return err;
		/* a server that ignores it: the last writer's body stays, so wait
		 * for a racing writer's PUT to land before reading it back */
		char probe[KEY_MAX + 64];
		snprintf(probe, sizeof(probe), "%stmp/probe-%s", s->prefix, token);
		int honoured = 0;
		err = S3(s, kt_s3_probe_if_none_match(s->s3, probe, &honoured, diag));
		if (err) {
			S3(s, kt_s3_delete(s->s3, key, NULL));
			return err;
		}
		if (!honoured) {
			struct timespec pause = {LOCK_SETTLE_MS / 1000, (LOCK_SETTLE_MS % 1000) * 1000000L};
			nanosleep(&pause, NULL);
		}
		s->lock_body = strdup(body);
		if (!s->lock_body)
			return KT_ERR_NOMEM;
		err = kt_store_s3_lock_check(s, diag);
		if (err) {
			free(s->lock_body);
			s->lock_body = NULL;
		}
		return err;
	}
	return kt_diag_fail(diag, KT_ERR_LOCKED, "archive %s is in use by another ktape process", s->location);
}

enum kt_err kt_store_s3_lock_check(struct kt_store *s, struct kt_diag *diag)
{
	if (!s->lock_body)
		return kt_diag_fail(diag, KT_ERR_STATE, "archive %s: the writer lock is not held", s->location);
	uint8_t *cur;
	size_t len;
	struct kt_diag d2;
	kt_diag_clear(&d2);
	enum kt_err err = kt_store_s3_get(s, "lock", 4096, &cur, &len, &d2);
	if (err == KT_ERR_NOT_FOUND)
		return kt_diag_fail(
			diag, KT_ERR_LOCKED,
			"archive %s: the lock object was removed while this process held it; the catalog is "
			"not uploaded",
			s->location);
	if (err) {
		*diag = d2;
		return err;
	}
	int ours = len == strlen(s->lock_body) && !memcmp(cur, s->lock_body, len);
	char *text = calloc(1, len + 1);
	if (text)
		memcpy(text, cur, len);
	free(cur);
	if (!ours) {
		err = text ? locked_by(s, text, diag) : KT_ERR_NOMEM;
		free(text);
		return err;
	}
	free(text);
	return KT_OK;
}

void kt_store_s3_unlock(struct kt_store *s)
{
	if (!s->lock_body)
		return;
	struct kt_diag d;
	kt_diag_clear(&d);
	/* only our own: one taken over by hand stays its new owner's */
	if (kt_store_s3_lock_check(s, &d) == KT_OK) {
		char key[KEY_MAX];
		S3(s, kt_s3_delete(s->s3, key_of(s, "lock", key, sizeof(key)), &d));
	}
	free(s->lock_body);
	s->lock_body = NULL;
}

int kt_store_s3_lock_state(struct kt_store *s, const char *name, char *note, size_t notesize)
{
	if (!strncmp(name, "live/", 5) || strstr(name, "/live/"))
		return -1; /* a bucket has no live/ (SPEC 10.6) */
	uint8_t *data;
	size_t len;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_store_s3_get(s, name, 4096, &data, &len, &d);
	if (err == KT_ERR_NOT_FOUND)
		return 0; /* a writer deletes it when it closes the archive */
	if (err) {
		if (note && notesize)
			snprintf(note, notesize, "the lock object cannot be read: %s", d.msg);
		return -1;
	}
	char *text = calloc(1, len + 1);
	if (!text) {
		free(data);
		return -1;
	}
	memcpy(text, data, len);
	free(data);
	char host[256], myhost[256] = "", pid[32], since[64];
	lock_field(text, "host", host, sizeof(host));
	lock_field(text, "pid", pid, sizeof(pid));
	lock_field(text, "since", since, sizeof(since));
	gethostname(myhost, sizeof(myhost) - 1);
	int state;
	if (lock_is_stale(text))
		state = 0;
	else if (host[0] && !strcmp(host, myhost))
		state = 1; /* this boot, and its process exists */
	else
		state = -1; /* another host's process cannot be seen from here */
	if (note && notesize && state != 0)
		snprintf(note, notesize, "lock held by host %s pid %s since %s", host[0] ? host : "?",
			 pid[0] ? pid : "?", since[0] ? since : "?");
	free(text);
	return state;
}

/* ---- segments read in ranges ---- */

struct s3_seg {
	struct kt_store *s;
	char key[KEY_MAX];
	uint8_t *map; /* size bytes, anonymous: only fetched chunks are backed */
	uint64_t size;
	uint8_t *have; /* one byte a chunk: fetched */
	uint64_t chunks;
	uint64_t resident; /* bytes of fetched chunks */
	uint64_t next_seq; /* the chunk after the last fetch: sequential if asked next */
	unsigned seq_run;  /* fetches in a row that went on from the last one */
	struct kt_buf buf; /* one response */
};

/* Drops fetched chunks before chunk `keep` (except the first and last,
 * where the header and the index are), when too much is held. */
static void drop_behind(struct s3_seg *g, uint64_t keep)
{
	if (g->resident <= RESIDENT_MAX)
		return;
	for (uint64_t c = 1; c < keep && c + 1 < g->chunks; c++) {
		if (!g->have[c])
			continue;
		uint64_t len = c + 1 == g->chunks ? g->size - c * CHUNK : CHUNK;
		madvise(g->map + c * CHUNK, (size_t)len, MADV_DONTNEED);
		g->have[c] = 0;
		g->resident -= len;
	}
}

static enum kt_err fetch_chunks(struct s3_seg *g, uint64_t c0, uint64_t c1, struct kt_diag *diag)
{
	uint64_t from = c0 * CHUNK;
	uint64_t to = c1 * CHUNK < g->size ? c1 * CHUNK : g->size;
	kt_buf_reset(&g->buf);
	enum kt_err err = S3(g->s, kt_s3_get(g->s->s3, g->key, from, to - from, &g->buf, diag));
	if (err)
		return err;
	if (g->buf.len != to - from)
		return kt_diag_fail(diag, KT_ERR_TRUNCATED,
				    "s3://%s: bytes %" PRIu64 "..%" PRIu64
				    " came back as %zu bytes (the object changed?)",
				    g->key, from, to - 1, g->buf.len);
	memcpy(g->map + from, g->buf.data, g->buf.len);
	for (uint64_t c = c0; c < c1; c++)
		g->have[c] = 1;
	g->resident += to - from;
	return KT_OK;
}

static enum kt_err seg_fetch(void *ctx, uint64_t pos, uint64_t len, struct kt_diag *diag)
{
	struct s3_seg *g = ctx;
	if (len == 0 || pos >= g->size)
		return KT_OK;
	uint64_t c0 = pos / CHUNK, c1 = (pos + len + CHUNK - 1) / CHUNK;
	/* reading on from where the last fetch ended: fetch further ahead,
	 * more each time, once it is clearly sequential (a time window's few
	 * blocks are fetched as they are) */
	g->seq_run = c0 == g->next_seq && g->next_seq ? g->seq_run + 1 : 0;
	uint64_t window = g->seq_run >= 2 ? CHUNK << (g->seq_run < 12 ? g->seq_run : 12) : 0;
	if (window > READAHEAD_MAX)
		window = READAHEAD_MAX;
	uint64_t want = c1 + window / CHUNK;
	if (want > g->chunks)
		want = g->chunks;
	drop_behind(g, c0);
	enum kt_err err = KT_OK;
	for (uint64_t c = c0; !err && c < want;) {
		if (g->have[c]) {
			c++;
			continue;
		}
		uint64_t e = c;
		while (e < want && !g->have[e])
			e++;
		err = fetch_chunks(g, c, e, diag);
		c = e;
	}
	if (!err)
		g->next_seq = want;
	return err;
}

enum kt_err kt_store_s3_segment_open(struct kt_store *s, const char *name, const struct kt_segment_reader_opts *ro,
				     struct kt_store_segment **out, struct kt_diag *diag)
{
	*out = NULL;
	struct kt_store_segment *seg = calloc(1, sizeof(*seg));
	struct s3_seg *g = calloc(1, sizeof(*g));
	if (!seg || !g || !(seg->name = strdup(name))) {
		free(seg);
		free(g);
		return KT_ERR_NOMEM;
	}
	seg->store = s;
	seg->backend = g;
	g->s = s;
	kt_buf_init(&g->buf, SIZE_MAX);
	key_of(s, name, g->key, sizeof(g->key));
	char where[KEY_MAX + 16];
	snprintf(where, sizeof(where), "%s/%s", s->location, name);
	kt_diag_set_path(diag, where);
	enum kt_err err = S3(s, kt_s3_head(s->s3, g->key, &g->size, diag));
	if (!err && g->size) {
		g->chunks = (g->size + CHUNK - 1) / CHUNK;
		g->map = mmap(NULL, (size_t)g->size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		g->have = calloc((size_t)g->chunks, 1);
		if (g->map == MAP_FAILED) {
			g->map = NULL;
			err = kt_diag_fail(diag, KT_ERR_NOMEM, "cannot map %" PRIu64 " bytes for %s", g->size, where);
		} else if (!g->have) {
			err = KT_ERR_NOMEM;
		}
	}
	if (!err) {
		struct kt_segment_source src = {g->map ? g->map : (const uint8_t *)"", g->size, seg_fetch, g};
		err = kt_segment_reader_open_source(&src, ro, &seg->r, diag);
		if (err)
			kt_diag_prefix(diag, "%s", where);
	}
	if (err) {
		kt_store_segment_close(seg);
		return err;
	}
	*out = seg;
	return KT_OK;
}

void kt_store_s3_segment_prefetch(struct kt_store_segment *seg, uint64_t pos, uint64_t len)
{
	struct s3_seg *g = seg->backend;
	struct kt_diag d;
	kt_diag_clear(&d);
	/* a failure here comes back when the reader asks for the same bytes */
	if (len <= RESIDENT_MAX)
		seg_fetch(g, pos, len, &d);
}

void kt_store_s3_segment_close(struct kt_store_segment *seg)
{
	struct s3_seg *g = seg->backend;
	if (g->map)
		munmap(g->map, (size_t)g->size);
	free(g->have);
	kt_buf_free(&g->buf);
	free(g);
	seg->backend = NULL;
}
