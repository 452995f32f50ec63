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
 * Prints the number of records delivered. Exit 1 on any error.
 *
 * Two admin modes do the tests' setup in milliseconds where a Kafka CLI
 * tool takes seconds to start its JVM (the tools stay the witnesses):
 *   testprod BOOTSTRAP --create TOPIC PARTITIONS [--config NAME=VALUE]...
 *     creates TOPIC with replication factor 1 (as kafka-topics --create), then
 *     waits until the broker's metadata shows every partition with a leader
 *   testprod BOOTSTRAP --acl --add|--remove --allow-principal P
 *            [--resource-pattern-type literal|prefixed] (--topic T|--group G)...
 *            (--operation OP)... [--force]
 *     adds or removes the ALLOW bindings, host *, of every resource with every
 *     operation (as kafka-acls), then waits until the broker's authorizer
 *     answers DescribeAcls with the change, so a test needs no sleep. */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static rd_kafka_t *admin_client(const char *bootstrap)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)))
		die("bootstrap.servers", errstr);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk)
		die("create admin client", errstr);
	return rk;
}

/* Waits for the answer of one admin request on q; dies on a request error. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
	if (!ev)
		die(what, "no answer within 60 s");
	if (rd_kafka_event_error(ev))
		die(what, rd_kafka_event_error_string(ev));
	return ev;
}

static void admin_create(const char *bootstrap, int argc, char **argv)
{
	if (argc < 2)
		die("usage", "testprod BOOTSTRAP --create TOPIC PARTITIONS [--config NAME=VALUE]...");
	const char *topic = argv[0];
	int parts = atoi(argv[1]);
	char errstr[512];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, 1, errstr, sizeof(errstr));
	if (!nt)
		die("new topic", errstr);
	for (int i = 2; i < argc; i++) {
		char *eq = i + 1 < argc && !strcmp(argv[i], "--config") ? strchr(argv[i + 1], '=') : NULL;
		if (!eq)
			die("--create takes only --config NAME=VALUE after the partitions, not", argv[i]);
		*eq = '\0';
		if (rd_kafka_NewTopic_set_config(nt, argv[i + 1], eq + 1))
			die("config", argv[i + 1]);
		i++;
	}
	rd_kafka_t *rk = admin_client(bootstrap);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(o, 30000, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(rk, &nt, 1, o, q);
	rd_kafka_event_t *ev = admin_wait(q, "create topic");
	size_t n;
	const rd_kafka_topic_result_t **res =
		rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	if (n != 1)
		die("create topic", "no result");
	if (rd_kafka_topic_result_error(res[0]))
		die(topic, rd_kafka_topic_result_error_string(res[0]));
	rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_NewTopic_destroy(nt);
	/* the controller has it; the broker's metadata follows a moment later */
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int64_t deadline = now_ms() + 30000;
	for (;;) {
		const struct rd_kafka_metadata *md;
		int ready = 0;
		if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000)) {
			const struct rd_kafka_metadata_topic *t = md->topic_cnt == 1 ? &md->topics[0] : NULL;
			ready = t && !t->err && t->partition_cnt == parts;
			for (int p = 0; ready && p < t->partition_cnt; p++)
				ready = !t->partitions[p].err && t->partitions[p].leader >= 0;
			rd_kafka_metadata_destroy(md);
		}
		if (ready)
			break;
		if (now_ms() > deadline)
			die(topic,
			    "created, but not in the broker's metadata with a leader for every partition within 30 s");
		usleep(50000);
	}
	rd_kafka_topic_destroy(rkt);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
}

static rd_kafka_AclOperation_t acl_operation(const char *name)
{
	static const struct {
		const char *name;
		rd_kafka_AclOperation_t op;
	} ops[] = {
		{"All", RD_KAFKA_ACL_OPERATION_ALL},
		{"Read", RD_KAFKA_ACL_OPERATION_READ},
		{"Write", RD_KAFKA_ACL_OPERATION_WRITE},
		{"Create", RD_KAFKA_ACL_OPERATION_CREATE},
		{"Delete", RD_KAFKA_ACL_OPERATION_DELETE},
		{"Alter", RD_KAFKA_ACL_OPERATION_ALTER},
		{"Describe", RD_KAFKA_ACL_OPERATION_DESCRIBE},
		{"ClusterAction", RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION},
		{"DescribeConfigs", RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS},
		{"AlterConfigs", RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS},
		{"IdempotentWrite", RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcasecmp(name, ops[i].name))
			return ops[i].op;
	die("unknown ACL operation", name);
	return RD_KAFKA_ACL_OPERATION_UNKNOWN;
}

/* How many bindings the broker's authorizer holds that match f exactly. */
static size_t acl_count(rd_kafka_t *rk, rd_kafka_queue_t *q, rd_kafka_AclBindingFilter_t *f)
{
	rd_kafka_DescribeAcls(rk, f, NULL, q);
	rd_kafka_event_t *ev = admin_wait(q, "describe ACLs");
	size_t n;
	rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev), &n);
	rd_kafka_event_destroy(ev);
	return n;
}

static void admin_acl(const char *bootstrap, int argc, char **argv)
{
	enum { MAX = 16 };
	int add = -1;
	const char *principal = NULL;
	rd_kafka_ResourcePatternType_t pattern = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
	rd_kafka_ResourceType_t restype[MAX];
	const char *resname[MAX];
	rd_kafka_AclOperation_t op[MAX];
	int nres = 0, nop = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--add") || !strcmp(a, "--remove")) {
			add = a[2] == 'a';
			continue;
		}
		if (!strcmp(a, "--force"))
			continue;
		if (!v || nres == MAX || nop == MAX)
			die("--acl: missing value or too many resources/operations after", a);
		i++;
		if (!strcmp(a, "--allow-principal")) {
			principal = v;
		} else if (!strcmp(a, "--resource-pattern-type")) {
			if (!strcmp(v, "literal"))
				pattern = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
			else if (!strcmp(v, "prefixed"))
				pattern = RD_KAFKA_RESOURCE_PATTERN_PREFIXED;
			else
				die("--resource-pattern-type is literal or prefixed, not", v);
		} else if (!strcmp(a, "--topic") || !strcmp(a, "--group")) {
			restype[nres] = a[2] == 't' ? RD_KAFKA_RESOURCE_TOPIC : RD_KAFKA_RESOURCE_GROUP;
			resname[nres++] = v;
		} else if (!strcmp(a, "--operation")) {
			op[nop++] = acl_operation(v);
		} else {
			die("--acl: unknown argument", a);
		}
	}
	if (add < 0 || !principal || !nres || !nop)
		die("usage", "testprod BOOTSTRAP --acl --add|--remove --allow-principal P (--topic T|--group G)... "
			     "(--operation OP)...");
	char errstr[512];
	rd_kafka_t *rk = admin_client(bootstrap);
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AclBinding_t *b[MAX * MAX];
	rd_kafka_AclBindingFilter_t *f[MAX * MAX];
	size_t n = 0;
	for (int r = 0; r < nres; r++)
		for (int o = 0; o < nop; o++, n++) {
			b[n] = rd_kafka_AclBinding_new(restype[r], resname[r], pattern, principal, "*", op[o],
						       RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr, sizeof(errstr));
			f[n] = rd_kafka_AclBindingFilter_new(restype[r], resname[r], pattern, principal, "*", op[o],
							     RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr,
							     sizeof(errstr));
			if (!b[n] || !f[n])
				die("ACL binding", errstr);
		}
	if (add) {
		rd_kafka_CreateAcls(rk, b, n, NULL, q);
		rd_kafka_event_t *ev = admin_wait(q, "create ACLs");
		size_t m;
		const rd_kafka_acl_result_t **res =
			rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &m);
		for (size_t i = 0; i < m; i++)
			if (rd_kafka_acl_result_error(res[i]))
				die("create ACL", rd_kafka_error_string(rd_kafka_acl_result_error(res[i])));
		rd_kafka_event_destroy(ev);
	} else {
		rd_kafka_DeleteAcls(rk, f, n, NULL, q);
		rd_kafka_event_t *ev = admin_wait(q, "delete ACLs");
		size_t m;
		const rd_kafka_DeleteAcls_result_response_t **res =
			rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev), &m);
		for (size_t i = 0; i < m; i++)
			if (rd_kafka_DeleteAcls_result_response_error(res[i]))
				die("delete ACL",
				    rd_kafka_error_string(rd_kafka_DeleteAcls_result_response_error(res[i])));
		rd_kafka_event_destroy(ev);
	}
	/* the authorizer applies a change once it is in the metadata log */
	int64_t deadline = now_ms() + 30000;
	for (size_t i = 0; i < n; i++) {
		while ((acl_count(rk, q, f[i]) > 0) != add) {
			if (now_ms() > deadline)
				die("ACL change", "not applied by the broker's authorizer within 30 s");
			usleep(20000);
		}
	}
	for (size_t i = 0; i < n; i++) {
		rd_kafka_AclBinding_destroy(b[i]);
		rd_kafka_AclBinding_destroy(f[i]);
	}
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[2], "--create")) {
		admin_create(argv[1], argc - 3, argv + 3);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[2], "--acl")) {
		admin_acl(argv[1], argc - 3, argv + 3);
		return 0;
	}
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
