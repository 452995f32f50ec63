/* kt_kick.h - wakes a consumer's broker threads once its queue has room
 * again, for librdkafka 2.0.2, which does not.
 *
 * A librdkafka consumer stops fetching while its queue holds more than
 * queued.max.messages.kbytes, and looks at the queue again only when its
 * broker thread next wakes: on a response, an op, or after up to a second
 * (rd_kafka_max_block_ms). With nothing in flight that is a second with
 * nothing fetched however soon the application drains the queue (issue
 * #19; librdkafka 2.3 added fetch.queue.backoff.ms for it). A request the
 * client sends to a broker is an op on that broker's thread: kt_kick sends
 * one ListOffsets (rd_kafka_offsets_for_times, one request per leader of
 * the partitions given), on a thread of its own so that the caller never
 * waits for the answer, which is thrown away.
 *
 * Owns: struct kt_kick (its thread) and the partition lists handed to it.
 */
#ifndef KT_KICK_H
#define KT_KICK_H

#include <librdkafka/rdkafka.h>

#include "kt_error.h"

#define KT_KICK_SLOTS 8

struct kt_kick;

/* Starts the kicking thread. */
enum kt_err kt_kick_new(struct kt_kick **out);

/* Stops the thread (after the kick it may be sending, which times out
 * within KT_KICK_TIMEOUT_MS) and frees what is still pending. Before the
 * clients it kicks are destroyed. NULL is a no-op. */
void kt_kick_free(struct kt_kick *kk);

#define KT_KICK_TIMEOUT_MS 500

/* Asks for a kick of rk's brokers for parts, which kk takes whatever the
 * outcome. One pending kick a slot (a client): one asked for while an
 * earlier one of the same slot waits replaces it. */
void kt_kick_request(struct kt_kick *kk, int slot, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts);

/* Kicks sent so far (for tests and the dump's figures). */
unsigned long kt_kick_count(struct kt_kick *kk);

#endif
