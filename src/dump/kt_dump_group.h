/* kt_dump_group.h - dump --follow --worker-group (format/SPEC.md 10.8):
 * the follower is a member of a Kafka consumer group, which decides which
 * partitions it archives into its shard. On an assignment the partition
 * starts at the larger of the group's committed offset and the end of the
 * archive's union (root and every shard); on a revocation the follower
 * commits what it has of it (segment, catalog, a bucket's catalog
 * published) and then the archived end to the group, where its next owner
 * starts. After each commit interval the owned partitions' archived ends
 * are committed to the group the same way, so that a member that dies
 * hands over from there.
 *
 * Owns: struct kt_dump_group (the member, the partitions it owns). The
 * engine (kt_dump.c) does the archiving through struct kt_dump_group_ops.
 */
#ifndef KT_DUMP_GROUP_H
#define KT_DUMP_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "kt_dump.h"
#include "kt_error.h"

struct kt_dump_group_ops {
	/* starts archiving topic/partition at offset start */
	enum kt_err (*take)(void *ctx, const char *topic, int32_t partition, int64_t start, struct kt_diag *diag);
	/* commits what it has of topic/partition and stops archiving it;
	 * *out_end: the archived end (-1: not archived here) */
	enum kt_err (*release)(void *ctx, const char *topic, int32_t partition, int64_t *out_end, struct kt_diag *diag);
	/* the committed archived end of a partition archived now (-1: none) */
	int64_t (*archived_end)(void *ctx, const char *topic, int32_t partition);
	/* makes the committed segments visible to readers everywhere (a
	 * bucket's catalog published) */
	enum kt_err (*publish)(void *ctx, struct kt_diag *diag);
	/* the generation a topic is archived as */
	uint32_t (*generation)(void *ctx, const char *topic);
	void (*warn)(void *ctx, const char *msg);
};

struct kt_dump_group;

enum kt_err kt_dump_group_open(const struct kt_dump_opts *o, const char *const *topics, size_t n,
			       const struct kt_dump_group_ops *ops, void *ctx, struct kt_dump_group **out,
			       struct kt_diag *diag);
/* Subscribes to these topics now (a follower found new ones). */
enum kt_err kt_dump_group_subscribe(struct kt_dump_group *g, const char *const *topics, size_t n, struct kt_diag *diag);
/* Serves the group; assignments and revocations run inside. */
enum kt_err kt_dump_group_poll(struct kt_dump_group *g, struct kt_diag *diag);
/* After a commit: publishes and commits the owned partitions' archived
 * ends to the group. A failed group commit is a warning (the next one, or
 * the archive's end, covers it). */
enum kt_err kt_dump_group_commit(struct kt_dump_group *g, struct kt_diag *diag);
/* Whether the member owns topic/partition now. */
int kt_dump_group_owns(const struct kt_dump_group *g, const char *topic, int32_t partition);
/* The archived ends committed last, then leaves the group. NULL: no-op. */
void kt_dump_group_close(struct kt_dump_group *g);

#endif
