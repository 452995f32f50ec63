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

#endif
