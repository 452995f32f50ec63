/* kt_store_internal.h - struct kt_store, shared by the dispatch and
 * directory code (kt_store.c) and the bucket code (kt_store_s3.c). Not for
 * use outside src/archive/kt_store*.c.
 */
#ifndef KT_STORE_INTERNAL_H
#define KT_STORE_INTERNAL_H

#include <pthread.h>

#include "kt_store.h"

struct kt_s3;

struct kt_store {
	enum kt_store_kind kind;
	char *location; /* as given, trailing slashes cut */
	char *work_dir; /* the directory itself, or a private temporary one */
	int lock_fd;	/* directory: the flock()ed DIR/lock, else -1 */

	/* bucket only */
	struct kt_s3 *s3;
	pthread_mutex_t s3_mu; /* one request at a time on s3 */
	int s3_mu_init;
	int s3_down;	 /* a request spent its whole timeout: see kt_store_s3.c */
	char *prefix;	 /* key prefix with its trailing '/', or "" */
	char *lock_body; /* what our lock object holds, while we hold it */
	unsigned tmp_seq;
};

/* kt_store_s3.c: the bucket side of each kt_store_* call. kt_store_s3_list
 * with cb NULL takes ctx as an int * and sets it to whether there is any
 * object under prefix. */
enum kt_err kt_store_s3_open(struct kt_store *s, const char *location, const struct kt_store_opts *opts,
			     struct kt_diag *diag);
void kt_store_s3_close(struct kt_store *s);
void kt_store_s3_stats(const struct kt_store *s, struct kt_store_stats *out);
enum kt_err kt_store_s3_check(struct kt_store *s, struct kt_diag *diag);
enum kt_err kt_store_s3_list(struct kt_store *s, const char *prefix, kt_store_list_cb cb, void *ctx,
			     struct kt_diag *diag);
enum kt_err kt_store_s3_size(struct kt_store *s, const char *name, uint64_t *out_size, struct kt_diag *diag);
enum kt_err kt_store_s3_get(struct kt_store *s, const char *name, size_t max, uint8_t **out_data, size_t *out_len,
			    struct kt_diag *diag);
enum kt_err kt_store_s3_put(struct kt_store *s, const char *name, const void *data, size_t len, struct kt_diag *diag);
enum kt_err kt_store_s3_commit_file(struct kt_store *s, const char *path, const char *name, struct kt_diag *diag);
enum kt_err kt_store_s3_fetch_file(struct kt_store *s, const char *name, const char *path, struct kt_diag *diag);
enum kt_err kt_store_s3_remove(struct kt_store *s, const char *name, struct kt_diag *diag);
enum kt_err kt_store_s3_lock(struct kt_store *s, struct kt_diag *diag);
enum kt_err kt_store_s3_lock_check(struct kt_store *s, struct kt_diag *diag);
void kt_store_s3_unlock(struct kt_store *s);
int kt_store_s3_lock_state(struct kt_store *s, const char *name, char *note, size_t notesize);
enum kt_err kt_store_s3_segment_open(struct kt_store *s, const char *name, const struct kt_segment_reader_opts *ro,
				     struct kt_store_segment **out, struct kt_diag *diag);
void kt_store_s3_segment_close(struct kt_store_segment *seg);

/* A segment open for reading; backend holds the bucket's fetch state. */
struct kt_store_segment {
	struct kt_store *store;
	char *name;
	struct kt_segment_reader *r;
	void *backend;
};
void kt_store_s3_segment_prefetch(struct kt_store_segment *seg, uint64_t pos, uint64_t len);

#endif
