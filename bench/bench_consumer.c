/* bench_consumer: the librdkafka ceiling for tools/bench dump. Reads every
 * partition of a topic from the log start to the high watermark and counts
 * the records, doing nothing else, so that ktape dump's time stands beside
 * what librdkafka alone can fetch on the same machine in the same run.
 *
 * A benchmark, not part of ktape: it talks to librdkafka directly (ktape's
 * own code goes through src/kafka/).
 *
 *   bench_consumer -b HOST:PORT -t TOPIC [-m consumer|legacy] [-i INSTANCES]
 *                  [-X key=value]... [-v]
 *
 * -m consumer (default): rd_kafka_assign() and rd_kafka_consume_batch_queue()
 *    on the consumer queue, as ktape dump does.
 * -m legacy: rd_kafka_consume_start_queue() per partition into one queue, as
 *    kcat -C does.
 * -i N: N clients side by side, each with its share of the partitions (one
 *    connection and one broker thread each), in threads of this process.
 * -v: librdkafka's fetch debug log to stderr.
 * A partition is done at its last record (as ktape dump knows its end) or at
 * its end of partition event (transaction markers last).
 * Prints one line: records, payload bytes, seconds, empty polls.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_X	  64
#define BATCH	  4096
#define POLL_MS	  100
#define MAX_PARTS 4096

struct opts {
	const char *bootstrap;
	const char *topic;
	int legacy;
	int instances;
	int verbose;
	const char *x[MAX_X];
	int nx;
};

struct instance {
	const struct opts *o;
	int32_t parts[MAX_PARTS];
	int64_t ends[MAX_PARTS]; /* high watermarks: the partition is done at end - 1 */
	int64_t lows[MAX_PARTS];
	char done[MAX_PARTS];
	int nparts;
	uint64_t records, bytes, empty_polls;
	int failed;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static rd_kafka_t *client(const struct opts *o)
{
	char errstr[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	/* ktape dump's settings (src/kafka/kt_kafka.c), then -X */
	const char *base[][2] = {
		{"bootstrap.servers", o->bootstrap},	  {"group.id", "bench-consumer"},
		{"enable.auto.commit", "false"},	  {"enable.partition.eof", "true"},
		{"isolation.level", "read_committed"},	  {"fetch.max.bytes", "52428800"},
		{"max.partition.fetch.bytes", "4194304"}, {"queued.max.messages.kbytes", "65536"},
		{"queued.min.messages", "10000000"},	  {"fetch.wait.max.ms", "100"},
	};
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		if (rd_kafka_conf_set(c, base[i][0], base[i][1], errstr, sizeof(errstr))) {
			fprintf(stderr, "bench_consumer: %s: %s\n", base[i][0], errstr);
			exit(2);
		}
	for (int i = 0; i < o->nx; i++) {
		char kv[512];
		snprintf(kv, sizeof(kv), "%s", o->x[i]);
		char *eq = strchr(kv, '=');
		if (!eq || (*eq = 0, rd_kafka_conf_set(c, kv, eq + 1, errstr, sizeof(errstr)))) {
			fprintf(stderr, "bench_consumer: -X %s: %s\n", o->x[i], eq ? errstr : "expected key=value");
			exit(2);
		}
	}
	if (o->verbose)
		rd_kafka_conf_set(c, "debug", "fetch", errstr, sizeof(errstr));
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "bench_consumer: %s\n", errstr);
		exit(1);
	}
	return rk;
}

/* Waits for the first message only, then takes what is queued behind it
 * (consume_batch_queue alone waits for a full batch or the timeout). */
static ssize_t poll_batch(rd_kafka_queue_t *q, rd_kafka_message_t **msgs)
{
	ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs, BATCH);
	if (n)
		return n;
	n = rd_kafka_consume_batch_queue(q, POLL_MS, msgs, 1);
	if (n == 1) {
		ssize_t more = rd_kafka_consume_batch_queue(q, 0, msgs + 1, BATCH - 1);
		n += more > 0 ? more : 0;
	}
	return n;
}

static void *run(void *arg)
{
	struct instance *in = arg;
	const struct opts *o = in->o;
	rd_kafka_t *rk = client(o);
	rd_kafka_queue_t *q;
	rd_kafka_topic_t *rkt = NULL;
	int open = 0;
	if (o->legacy) {
		q = rd_kafka_queue_new(rk);
		rkt = rd_kafka_topic_new(rk, o->topic, NULL);
		for (int i = 0; i < in->nparts; i++)
			if (in->ends[i] > in->lows[i]) {
				rd_kafka_consume_start_queue(rkt, in->parts[i], RD_KAFKA_OFFSET_BEGINNING, q);
				open++;
			}
	} else {
		rd_kafka_poll_set_consumer(rk);
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(in->nparts);
		for (int i = 0; i < in->nparts; i++)
			if (in->ends[i] > in->lows[i]) {
				rd_kafka_topic_partition_list_add(l, o->topic, in->parts[i])->offset =
					RD_KAFKA_OFFSET_BEGINNING;
				open++;
			}
		rd_kafka_assign(rk, l);
		rd_kafka_topic_partition_list_destroy(l);
		q = rd_kafka_queue_get_consumer(rk);
	}
	rd_kafka_message_t **msgs = calloc(BATCH, sizeof(*msgs));
	while (open > 0) {
		ssize_t n = poll_batch(q, msgs);
		if (n <= 0)
			in->empty_polls++;
		for (ssize_t i = 0; i < n; i++) {
			rd_kafka_message_t *m = msgs[i];
			int k = 0;
			while (k < in->nparts && in->parts[k] != m->partition)
				k++;
			if (k == in->nparts || in->done[k]) {
				/* after its last record, as ktape dump stops */
			} else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				in->done[k] = 1;
				open--;
			} else if (m->err) {
				fprintf(stderr, "bench_consumer: %s\n", rd_kafka_message_errstr(m));
				in->failed = 1;
				open = 0;
			} else {
				in->records++;
				in->bytes += m->len + m->key_len;
				if (m->offset >= in->ends[k] - 1) {
					in->done[k] = 1;
					open--;
				}
			}
			rd_kafka_message_destroy(m);
		}
	}
	free(msgs);
	if (rkt) {
		for (int i = 0; i < in->nparts; i++)
			rd_kafka_consume_stop(rkt, in->parts[i]);
		rd_kafka_topic_destroy(rkt);
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	return NULL;
}

int main(int argc, char **argv)
{
	struct opts o = {.instances = 1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-v")) {
			o.verbose = 1;
			continue;
		}
		if (!v)
			goto usage;
		if (!strcmp(a, "-b"))
			o.bootstrap = v;
		else if (!strcmp(a, "-t"))
			o.topic = v;
		else if (!strcmp(a, "-m") && (!strcmp(v, "legacy") || !strcmp(v, "consumer")))
			o.legacy = !strcmp(v, "legacy");
		else if (!strcmp(a, "-i") && atoi(v) > 0)
			o.instances = atoi(v);
		else if (!strcmp(a, "-X") && o.nx < MAX_X)
			o.x[o.nx++] = v;
		else
			goto usage;
		i++;
	}
	if (!o.bootstrap || !o.topic)
		goto usage;
	/* the partitions and their ends, from a client of their own */
	rd_kafka_t *rk = client(&o);
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o.topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err) {
		fprintf(stderr, "bench_consumer: no metadata for topic %s\n", o.topic);
		return 1;
	}
	int np = md->topics[0].partition_cnt;
	if (np > MAX_PARTS || o.instances > np)
		o.instances = np < o.instances ? np : o.instances;
	struct instance *ins = calloc((size_t)o.instances, sizeof(*ins));
	for (int p = 0; p < np && p < MAX_PARTS; p++) {
		int64_t lo, hi;
		if (rd_kafka_query_watermark_offsets(rk, o.topic, p, &lo, &hi, 10000)) {
			fprintf(stderr, "bench_consumer: no watermarks for partition %d\n", p);
			return 1;
		}
		struct instance *in = &ins[p % o.instances];
		in->parts[in->nparts] = p;
		in->lows[in->nparts] = lo;
		in->ends[in->nparts++] = hi;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	double t0 = now_s();
	pthread_t *th = calloc((size_t)o.instances, sizeof(*th));
	for (int i = 0; i < o.instances; i++) {
		ins[i].o = &o;
		pthread_create(&th[i], NULL, run, &ins[i]);
	}
	uint64_t records = 0, bytes = 0, empty = 0;
	int failed = 0;
	for (int i = 0; i < o.instances; i++) {
		pthread_join(th[i], NULL);
		records += ins[i].records;
		bytes += ins[i].bytes;
		empty += ins[i].empty_polls;
		failed |= ins[i].failed;
	}
	printf("records %" PRIu64 " bytes %" PRIu64 " seconds %.3f empty_polls %" PRIu64 " mode %s instances %d\n",
	       records, bytes, now_s() - t0, empty, o.legacy ? "legacy" : "consumer", o.instances);
	free(th);
	free(ins);
	return failed;
usage:
	fprintf(stderr, "usage: bench_consumer -b HOST:PORT -t TOPIC [-m consumer|legacy] [-i N] [-X key=value]... "
			"[-v]\n");
	return 2;
}
