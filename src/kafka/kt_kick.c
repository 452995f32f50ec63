#include "kt_kick.h"

#include <pthread.h>
#include <stdlib.h>

struct slot {
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts; /* NULL: nothing pending */
};

struct kt_kick {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[KT_KICK_SLOTS];
	int stop;
	unsigned long sent;
};

/* The pending slot with the lowest index, taken out; NULL if none. */
static rd_kafka_topic_partition_list_t *take(struct kt_kick *kk, rd_kafka_t **rk)
{
	for (int i = 0; i < KT_KICK_SLOTS; i++)
		if (kk->slots[i].parts) {
			rd_kafka_topic_partition_list_t *parts = kk->slots[i].parts;
			*rk = kk->slots[i].rk;
			kk->slots[i].parts = NULL;
			return parts;
		}
	return NULL;
}

static void *kick_main(void *arg)
{
	struct kt_kick *kk = arg;
	pthread_mutex_lock(&kk->mu);
	while (!kk->stop) {
		rd_kafka_t *rk = NULL;
		rd_kafka_topic_partition_list_t *parts = take(kk, &rk);
		if (!parts) {
			pthread_cond_wait(&kk->cv, &kk->mu);
			continue;
		}
		kk->sent++;
		pthread_mutex_unlock(&kk->mu);
		/* the answer does not matter, only that each leader's broker
		 * thread wakes to send the request */
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = RD_KAFKA_OFFSET_END;
		rd_kafka_offsets_for_times(rk, parts, KT_KICK_TIMEOUT_MS);
		rd_kafka_topic_partition_list_destroy(parts);
		pthread_mutex_lock(&kk->mu);
	}
	pthread_mutex_unlock(&kk->mu);
	return NULL;
}

enum kt_err kt_kick_new(struct kt_kick **out)
{
	*out = NULL;
	struct kt_kick *kk = calloc(1, sizeof(*kk));
	if (!kk)
		return KT_ERR_NOMEM;
	pthread_mutex_init(&kk->mu, NULL);
	pthread_cond_init(&kk->cv, NULL);
	if (pthread_create(&kk->th, NULL, kick_main, kk)) {
		pthread_cond_destroy(&kk->cv);
		pthread_mutex_destroy(&kk->mu);
		free(kk);
		return KT_ERR_NOMEM;
	}
	*out = kk;
	return KT_OK;
}

void kt_kick_free(struct kt_kick *kk)
{
	if (!kk)
		return;
	pthread_mutex_lock(&kk->mu);
	kk->stop = 1;
	pthread_cond_signal(&kk->cv);
	pthread_mutex_unlock(&kk->mu);
	pthread_join(kk->th, NULL);
	for (int i = 0; i < KT_KICK_SLOTS; i++)
		if (kk->slots[i].parts)
			rd_kafka_topic_partition_list_destroy(kk->slots[i].parts);
	pthread_cond_destroy(&kk->cv);
	pthread_mutex_destroy(&kk->mu);
	free(kk);
}

void kt_kick_request(struct kt_kick *kk, int slot, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	if (slot < 0 || slot >= KT_KICK_SLOTS) {
		rd_kafka_topic_partition_list_destroy(parts);
		return;
	}
	pthread_mutex_lock(&kk->mu);
	rd_kafka_topic_partition_list_t *old = kk->slots[slot].parts;
	kk->slots[slot].rk = rk;
	kk->slots[slot].parts = parts;
	pthread_cond_signal(&kk->cv);
	pthread_mutex_unlock(&kk->mu);
	if (old)
		rd_kafka_topic_partition_list_destroy(old);
}

unsigned long kt_kick_count(struct kt_kick *kk)
{
	pthread_mutex_lock(&kk->mu);
	unsigned long n = kk->sent;
	pthread_mutex_unlock(&kk->mu);
	return n;
}
