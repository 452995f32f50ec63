/* kt_archive_internal.h - what the archive's own other files
 * (kt_archive_compact.c) need of struct kt_archive, which kt_archive.c
 * owns. Not for use outside src/archive/.
 */
#ifndef KT_ARCHIVE_INTERNAL_H
#define KT_ARCHIVE_INTERNAL_H

#include "kt_archive.h"
#include "kt_store.h"

struct kt_store *kt_archive_store_of(struct kt_archive *a);
int kt_archive_is_writer(const struct kt_archive *a);
/* Removes a file the catalog no longer names: at once from a directory
 * (readers that were told of it look again, kt_archive_iter), from a
 * bucket after the next publish of the catalog, so that no catalog a
 * reader can download names a removed object. A writer only. */
enum kt_err kt_archive_remove_unlisted(struct kt_archive *a, const char *rel, struct kt_diag *diag);

/* Makes the archive format version at least version (SPEC 10.2): the
 * marker, then the catalog's copy. Before a writer makes a file that older
 * versions would misread (a merged segment: version 2). */
enum kt_err kt_archive_upgrade(struct kt_archive *a, int version, struct kt_diag *diag);

/* Fault tests (tests/faults/test_compact.sh): KTAPE_TEST_CRASH=POINT in
 * the environment makes the process kill itself with SIGKILL when it
 * reaches POINT, as a crash there would. Nothing happens without it. */
void kt_archive_crash_point(const char *point);

/* Sharded archives (kt_archive_shard.c, SPEC 10.8). */
struct kt_catalog *kt_archive_root_catalog_of(struct kt_archive *a);
/* Hands the union (its catalog, its private directory, the shard ids) to
 * the archive, which frees them at close (kt_archive_union_close). */
void kt_archive_set_view(struct kt_archive *a, struct kt_catalog *view, char *view_dir, char **ids, size_t n);
void kt_archive_set_discard_unlisted(struct kt_archive *a, int on);
/* How this process reaches buckets (kt_archive_set_store_opts). */
const struct kt_store_opts *kt_archive_store_opts_of(void);
/* The private directory of a reader's union (NULL: none). */
const char *kt_archive_view_dir(const struct kt_archive *a);
/* A reader's open: builds the union when the archive has shards. */
enum kt_err kt_archive_union_open(struct kt_archive *a, struct kt_diag *diag);
void kt_archive_union_close(struct kt_archive *a);
/* The union's segments of topic as the catalogs are now (for a reader that
 * finds a listed file gone), paths as in the union, in offset order per
 * partition. */
enum kt_err kt_archive_union_fresh_segments(struct kt_archive *a, const char *topic, kt_catalog_segment_cb cb,
					    void *ctx, struct kt_diag *diag);
enum kt_err kt_archive_union_listed_now(struct kt_archive *a, const char *rel, int *out_found, struct kt_diag *diag);
/* Every segment file of the root and of each shard, names as in the union. */
enum kt_err kt_archive_union_list_segments(struct kt_archive *a, kt_archive_list_cb cb, void *ctx,
					   struct kt_diag *diag);

#endif
