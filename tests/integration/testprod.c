/* testprod - produces exact test records with librdkafka, for the
 * integration tests: things the Kafka console tools cannot express (null vs
 * empty keys and values, binary bytes, duplicate and null headers, chosen
 * timestamps, transactions that commit or abort).
 *
 *   testprod BOOTSTRAP TOPIC [--plain] < spec
 *
 * Every record is written in a transaction of its own unless --plain (then
 * offsets have no gaps for markers, and #begin/#commit/#abort are refused).
 * One record per line of the spec, tab-separated fields:
 *   PARTITION  TIMESTAMP_MS  KEY  VALUE  [HEADER ...]
 * PARTITION -1: by key, with murmur2 as Kafka's Java producer.
 * KEY, VALUE and each header value: "-" is null, "" (empty field) is empty,
 * "hex:4142" is bytes given in hex, anything else is the text itself.
 * A header is NAME=VALUE. Control lines:
 *   #begin   start a transaction       #commit / #abort   end it
 *   #big N TS   a record of N bytes (value) on partition 0, key "big", timestamp TS
 * Prints the number of records delivered. Exit 1 on any error. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int delivered, failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err) {
		fprintf(stderr, "testprod: delivery failed: %s\n", rd_kafka_err2str(m->err));
		failed++;
	} else {
		delivered++;
	}
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "testprod: %s: %s\n", what, why);
	exit(1);
}

/* Decodes a field into buf; returns length, or -1 for null. */
static long field(const char *f, char *buf, size_t cap)
{
	if (!strcmp(f, "-"))
		return -1;
	if (!strncmp(f, "hex:", 4)) {
		size_t n = 0;
		for (const char *p = f + 4; p[0] && p[1] && n < cap; p += 2) {
			unsigned v;
			if (sscanf(p, "%2x", &v) != 1)
				die("bad hex", f);
			buf[n++] = (char)v;
		}
		return (long)n;
	}
	size_t n = strlen(f);
	if (n > cap)
		die("field too long", f);
	memcpy(buf, f, n);
	return (long)n;
}

static void produce(rd_kafka_t *rk, const char *topic, int part, long long ts, const char *k, long kl, const char *v,
		    long vl, rd_kafka_headers_t *h)
{
	/* librdkafka: a NULL pointer is a null key/value, a pointer with
	 * length 0 an empty one (the macros below need plain variables) */
	const void *kp = kl < 0 ? NULL : k;
	size_t klen = kl < 0 ? 0 : (size_t)kl;
	void *vp = vl < 0 ? NULL : (void *)v;
	size_t vlen = vl < 0 ? 0 : (size_t)vl;
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
							  RD_KAFKA_V_KEY(kp, klen), RD_KAFKA_V_VALUE(vp, vlen),
							  RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_HEADERS(h),
							  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll(rk, 100);
			continue;
		}
		if (e)
			die("produce", rd_kafka_err2str(e));
		return;
	}
}

static void txn(rd_kafka_error_t *e, const char *what)
{
	if (e)
		die(what, rd_kafka_error_string(e));
}

int main(int argc, char **argv)
{
	int plain = argc == 4 && !strcmp(argv[3], "--plain");
	if (argc != 3 && !plain)
		die("usage", "testprod BOOTSTRAP TOPIC [--plain] < spec");
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "message.max.bytes", "20000000", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr, sizeof(errstr));
	rd_kafka_conf_set(conf, "linger.ms", "20", errstr, sizeof(errstr));
	char tid[64];
	snprintf(tid, sizeof(tid), "ktape-testprod-%d", (int)getpid());
	if (!plain)
		rd_kafka_conf_set(conf, "transactional.id", tid, errstr, sizeof(errstr));
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk)
		die("create producer", errstr);
	if (!plain)
		txn(rd_kafka_init_transactions(rk, 30000), "init transactions");
	static char line[1 << 16], kb[1 << 15], vb[1 << 15], hb[1 << 15];
	int in_txn = 0;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		if (plain && line[0] == '#' && strncmp(line, "#big ", 5))
			die("--plain has no transactions", line);
		if (!strcmp(line, "#begin")) {
			txn(rd_kafka_begin_transaction(rk), "begin");
			in_txn = 1;
			continue;
		}
		if (!strcmp(line, "#commit") || !strcmp(line, "#abort")) {
			rd_kafka_flush(rk, 30000);
			txn(line[1] == 'c' ? rd_kafka_commit_transaction(rk, 30000)
					   : rd_kafka_abort_transaction(rk, 30000),
			    line);
			in_txn = 0;
			continue;
		}
		/* outside #begin/#commit every record is its own committed
		 * transaction (the producer is transactional) */
		if (!in_txn && !plain)
			txn(rd_kafka_begin_transaction(rk), "begin");
		if (!strncmp(line, "#big ", 5)) {
			char *end;
			size_t n = (size_t)strtol(line + 5, &end, 10);
			long long ts = atoll(end);
			char *big = malloc(n);
			for (size_t i = 0; i < n; i++)
				big[i] = (char)('a' + i % 26);
			produce(rk, argv[2], 0, ts, "big", 3, big, (long)n, NULL);
			free(big);
		} else {
			char *f[64];
			int nf = 0;
			/* strsep keeps empty fields (an empty key is a field) */
			char *p = line;
			while (nf < 64 && (f[nf] = strsep(&p, "\t")))
				nf++;
			if (nf < 4)
				die("spec line needs PARTITION TIMESTAMP KEY VALUE", line);
			long kl = field(f[2], kb, sizeof(kb));
			long vl = field(f[3], vb, sizeof(vb));
			rd_kafka_headers_t *h = nf > 4 ? rd_kafka_headers_new((size_t)nf - 4) : NULL;
			for (int i = 4; i < nf; i++) {
				char *eq = strchr(f[i], '=');
				if (!eq)
					die("header needs NAME=VALUE", f[i]);
				*eq = '\0';
				long hl = field(eq + 1, hb, sizeof(hb));
				rd_kafka_header_add(h, f[i], -1, hl < 0 ? NULL : hb, hl < 0 ? 0 : hl);
			}
			produce(rk, argv[2], atoi(f[0]), atoll(f[1]), kb, kl, vb, vl, h);
		}
		if (!in_txn && !plain) {
			rd_kafka_flush(rk, 30000);
			txn(rd_kafka_commit_transaction(rk, 30000), "commit");
		}
	}
	rd_kafka_flush(rk, 30000);
	rd_kafka_destroy(rk);
	printf("%d\n", delivered);
	return failed ? 1 : 0;
}
