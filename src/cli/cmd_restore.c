/* cmd_restore.c - `ktape restore` and `ktape compare`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_buf.h"
#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_util.h"
#include "kt_compare.h"
#include "kt_crypto.h"
#include "kt_json.h"
#include "kt_keyset.h"
#include "kt_parse.h"
#include "kt_restore.h"

const char kt_usage_restore[] =
	"  ktape restore -b HOST:PORT[,...] -a DIR [-t TOPIC]... [--topic-regex RE] [-p N]...\n"
	"               [--from-offset N | --from-time T] [--to-offset N | --to-time T | --at T]\n"
	"               [--map SRC=DST]... [--topic-prefix PREFIX] [--partitioning same|key]\n"
	"               [--create-topics] [--replication-factor N] [--allow-nonempty] [--allow-gaps]\n"
	"               [--rate-msgs N] [--rate-bytes N[K|M|G]] [--pace original [--speed X] [--max-idle D]]\n"
	"               [--groups [RE]] [--origin-headers] [--drop-keys FILE] [--dry-run] [--generation G]\n"
	"               [-X prop=value]... [-F FILE] [--timeout D] [--json] [--progress | --no-progress]\n"
	"               [--encrypt-key-file FILE] [-q] [-v]\n";

const char kt_help_restore[] =
	"\nPlays archived records into a cluster: the same topics after a disaster, renamed\n"
	"topics for a replay. Keys (null stays null, empty stays empty), values, headers in\n"
	"order, and CreateTime timestamps are written as they were, each partition in offset\n"
	"order, with an idempotent producer (acks=all).\n\n"
	"Selection, per source partition: records whose offset is in [--from-offset,\n"
	"--to-offset) and whose timestamp is in [--from-time, --to-time), in offset order.\n"
	"Timestamps need not grow within a partition, so a time window selects exactly the\n"
	"records whose timestamp lies in it - not the offsets between the first and the last\n"
	"such record. The catalog seeks straight to the first block that can match.\n\n"
	"Options:\n"
	"  -b, --bootstrap HOSTS   the target cluster's bootstrap servers\n"
	"  -a, --archive DIR       the archive, a directory or s3://BUCKET/PREFIX (read; the run\n"
	"                          is recorded in a directory when it can be written, without\n"
	"                          the writer lock)\n" KT_CLI_S3_HELP
	"  -t, --topic NAME        archived topic to restore (repeatable); default: all\n"
	"      --topic-regex RE    archived topics matching RE\n"
	"  -p, --partition N       only source partition N (repeatable)\n"
	"      --generation G      a topic generation (default: the newest)\n"
	"      --from-offset N     the selection's first offset (see above)\n"
	"      --to-offset N       the offset after its last\n"
	"      --from-time T       its first timestamp (times as for dump)\n"
	"      --to-time T         the timestamp after its last\n"
	"      --map SRC=DST       write topic SRC into DST (repeatable)\n"
	"      --topic-prefix P    write every topic T into P + T\n"
	"      --partitioning M    same (default): each record to its source partition number;\n"
	"                          key: by Kafka's default partitioner (murmur2, as the Java\n"
	"                          client), keyless records round-robin\n"
	"      --create-topics     create missing targets with the archived partition count and\n"
	"                          topic configs\n"
	"      --replication-factor N  for created topics (capped at the broker count)\n"
	"      --allow-nonempty    write into targets that already hold records\n"
	"      --allow-gaps        restore a selection that spans offsets the archive lost\n"
	"                          (missing ranges: 'ktape ls' shows them); without it, exit 4\n"
	"      --rate-msgs N       at most N records/s (token bucket, smooth)\n"
	"      --rate-bytes N      at most N bytes/s of key+value+headers (K, M, G suffixes)\n"
	"      --pace original     keep the archived timing between records (by timestamp)\n"
	"      --speed X           with --pace original: X times faster (10 plays an hour in 6 min)\n"
	"      --max-idle D        with --pace original: play longer idle gaps as D (default 10s)\n"
	"      --groups [RE]       set the archived consumer groups' offsets (groups matching RE)\n"
	"                          on the target, translated to the restored offsets; groups must\n"
	"                          be inactive. Needs --partitioning same.\n"
	"      --at T              point in time: the topics as of T (records with a timestamp\n"
	"                          before T, as --to-time T) and, with --groups, the groups'\n"
	"                          offsets of the newest group snapshot taken at or before T\n"
	"                          (dump --follow takes one every --groups-interval) instead of\n"
	"                          the latest; no --to-time or --to-offset with it\n"
	"      --origin-headers    add ktape.source.topic/partition/offset headers\n"
	"      --drop-keys FILE    an erasure list: records whose key is in FILE are not written.\n"
	"                          One key a line; base64:X for the key whose bytes are X in base64\n"
	"                          (binary keys; base64: alone is the empty key); empty lines are\n"
	"                          ignored; null keys are never dropped. The offset maps and\n"
	"                          --groups stay exact. The run records the list's SHA-256 and the\n"
	"                          count dropped ('ktape ls --runs'), never the list itself\n"
	"      --dry-run           print the plan (per partition: range, records, bytes, and with\n"
	"                          --drop-keys the records it would drop); write nothing\n"
	"  -X, --property K=V      a librdkafka property, as for dump\n"
	"  -F, --config FILE       librdkafka properties from a file, as for dump\n"
	"      --encrypt-key-file FILE\n"
	"                          the key of an encrypted archive (as for dump); checked\n"
	"                          against the archive before anything is written\n"
	"      --timeout D         fail when the cluster does not answer for D (default 60s):\n"
	"                          connecting, each request, each record's delivery; all\n"
	"                          brokers refusing connections fails after min(D, 10s)\n"
	"      --json              JSON summary on stdout\n"
	"      --progress, --no-progress  progress line on stderr (default: on a terminal)\n"
	"  -q, --quiet             no summary\n"
	"  -v, --verbose           show librdkafka's log lines\n\n"
	"The same command run again after a crash continues where the interrupted run stopped;\n"
	"with --partitioning same it writes no record twice (ktape must be the only writer).\n"
	"Topics that use LogAppendTime get new timestamps from the broker. Records older than\n"
	"the target topic's retention.ms are deleted by the broker soon after: ktape warns;\n"
	"raise retention.ms first if you need them.\n\n"
	"Exit codes: 0 ok, 1 error, 2 usage, 4 the selection spans missing ranges (see\n"
	"--allow-gaps), 5 archive damaged (or an encrypted block fails authentication),\n"
	"6 Kafka error (with the topic, partition and offset), 7 not found, 9 refused\n"
	"(target not empty), 12 the archive is encrypted with another key (no key at all: 2),\n"
	"130 interrupted.\n\n"
	"Examples:\n"
	"  ktape restore -b dr-kafka:9092 -a /backup/kafka --create-topics --groups\n"
	"  ktape restore -b test:9092 -a /backup/kafka -t user-activities --topic-prefix replay. \\\n"
	"      --from-time 2026-11-22T10:00:00Z --to-time 2026-11-22T11:00:00Z --pace original --speed 10\n";

const char kt_usage_compare[] =
	"  ktape compare -b HOST:PORT -a DIR [-t TOPIC]... [-p N]... [--map SRC=DST]... "
	"[--topic-prefix P]\n"
	"               [ranges as restore] [--ignore-timestamps] [--max-report N] [--timeout D]\n"
	"               [--encrypt-key-file FILE] [--json] [-v]\n";
const char kt_help_compare[] =
	"\nReads topics back from the cluster and compares them record by record with the\n"
	"archive (key, value, headers, timestamp, order per partition): \"is what we restored\n"
	"what we saved?\". Use the same selection and --map/--topic-prefix as the restore.\n"
	"Prints the first differences and the counts. Exit 0 only when equal, 8 otherwise.\n\n"
	"Options:\n"
	"  -b, --bootstrap HOSTS   the cluster to read\n"
	"  -a, --archive DIR       the archive: a directory or s3://BUCKET/PREFIX\n" KT_CLI_S3_HELP
	"  -t, --topic NAME        an archived topic (repeatable); default: all\n"
	"  -p, --partition N       only partition N (repeatable)\n"
	"      --generation G      a topic generation (default: the newest)\n"
	"      --from-offset N, --to-offset N, --from-time T, --to-time T\n"
	"                          the selection, as for restore\n"
	"      --map SRC=DST       compare archived topic SRC with DST (repeatable)\n"
	"      --topic-prefix P    compare every topic T with P + T\n"
	"      --ignore-timestamps  for targets that use LogAppendTime\n"
	"      --max-report N      describe at most N differences (default 10)\n"
	"  -X, --property K=V      a librdkafka property, as for dump\n"
	"  -F, --config FILE       librdkafka properties from a file\n"
	"      --encrypt-key-file FILE\n"
	"                          the key of an encrypted archive (as for dump)\n"
	"      --timeout D         as for restore (default 60s)\n"
	"      --json              JSON result on stdout\n"
	"  -v, --verbose           show librdkafka's log lines\n\n"
	"Exit codes: 0 equal, 1 error, 2 usage, 5 archive damaged, 6 Kafka error, 7 not\n"
	"found (also a target topic or partition the cluster does not have), 8 different,\n"
	"12 the archive is encrypted with another key.\n\n"
	"Example:\n"
	"  ktape compare -b dr-kafka:9092 -a /backup/kafka -t user-activities\n";

enum {
	OPT_TOPIC_REGEX = 1000,
	OPT_MAP,
	OPT_PREFIX,
	OPT_PARTITIONING,
	OPT_CREATE,
	OPT_RF,
	OPT_ALLOW_NONEMPTY,
	OPT_ALLOW_GAPS,
	OPT_RATE_MSGS,
	OPT_RATE_BYTES,
	OPT_PACE,
	OPT_SPEED,
	OPT_MAX_IDLE,
	OPT_GROUPS,
	OPT_ORIGIN,
	OPT_DRY_RUN,
	OPT_GENERATION,
	OPT_JSON,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_TIMEOUT,
	OPT_IGNORE_TS,
	OPT_MAX_REPORT,
	OPT_DROP_KEYS,
	OPT_AT,
};

static const struct option long_opts[] = {
	{"bootstrap", required_argument, NULL, 'b'},
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"topic", required_argument, NULL, 't'},
	{"topic-regex", required_argument, NULL, OPT_TOPIC_REGEX},
	{"partition", required_argument, NULL, 'p'},
	KT_CLI_RANGE_OPTIONS,
	{"map", required_argument, NULL, OPT_MAP},
	{"topic-prefix", required_argument, NULL, OPT_PREFIX},
	{"partitioning", required_argument, NULL, OPT_PARTITIONING},
	{"create-topics", no_argument, NULL, OPT_CREATE},
	{"replication-factor", required_argument, NULL, OPT_RF},
	{"allow-nonempty", no_argument, NULL, OPT_ALLOW_NONEMPTY},
	{"allow-gaps", no_argument, NULL, OPT_ALLOW_GAPS},
	{"rate-msgs", required_argument, NULL, OPT_RATE_MSGS},
	{"rate-bytes", required_argument, NULL, OPT_RATE_BYTES},
	{"pace", required_argument, NULL, OPT_PACE},
	{"speed", required_argument, NULL, OPT_SPEED},
	{"max-idle", required_argument, NULL, OPT_MAX_IDLE},
	{"groups", optional_argument, NULL, OPT_GROUPS},
	{"origin-headers", no_argument, NULL, OPT_ORIGIN},
	{"drop-keys", required_argument, NULL, OPT_DROP_KEYS},
	{"at", required_argument, NULL, OPT_AT},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"generation", required_argument, NULL, OPT_GENERATION},
	{"property", required_argument, NULL, 'X'},
	{"config", required_argument, NULL, 'F'},
	{"json", no_argument, NULL, OPT_JSON},
	{"progress", no_argument, NULL, OPT_PROGRESS},
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"ignore-timestamps", no_argument, NULL, OPT_IGNORE_TS},
	{"max-report", required_argument, NULL, OPT_MAX_REPORT},
	{"encrypt-key-file", required_argument, NULL, KT_CLI_OPT_KEY_FILE},
	{NULL, 0, NULL, 0},
};

/* restore and compare share one table; an option of the one is refused by
 * the other rather than ignored without a word. */
static const int compare_only[] = {OPT_IGNORE_TS, OPT_MAX_REPORT};
static const int restore_only[] = {OPT_TOPIC_REGEX,
				   OPT_PARTITIONING,
				   OPT_CREATE,
				   OPT_RF,
				   OPT_ALLOW_NONEMPTY,
				   OPT_ALLOW_GAPS,
				   OPT_RATE_MSGS,
				   OPT_RATE_BYTES,
				   OPT_PACE,
				   OPT_SPEED,
				   OPT_MAX_IDLE,
				   OPT_GROUPS,
				   OPT_ORIGIN,
				   OPT_DRY_RUN,
				   OPT_PROGRESS,
				   OPT_NO_PROGRESS,
				   'q',
				   OPT_DROP_KEYS,
				   OPT_AT};

static int in_list(const int *v, size_t n, int ch)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == ch)
			return 1;
	return 0;
}

static int wrong_command(const char *cmd, int ch)
{
	int for_compare = !strcmp(cmd, "compare");
	if (for_compare ? !in_list(restore_only, sizeof(restore_only) / sizeof(*restore_only), ch)
			: !in_list(compare_only, sizeof(compare_only) / sizeof(*compare_only), ch))
		return 0;
	const char *name = "?";
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == ch)
			name = o->name;
	return kt_cli_usage_error(cmd, "--%s is an option of ktape %s, not of ktape %s", name,
				  for_compare ? "restore" : "compare", cmd);
}

struct restore_cli {
	const char *cmd;
	struct kt_restore_opts o;
	struct kt_compare_opts co;
	const char **topics;
	int32_t *parts;
	struct kt_restore_map_arg *maps;
	struct kt_kafka_conf *conf;
	int json, progress, quiet, verbose, pace;
	struct kt_buf kafka_log; /* librdkafka's log lines, printed at the end */
	int ignore_ts;
	int64_t max_report;
	const char *key_file;
	struct kt_crypto_key *key;
	const char *drop_file;
	const char *at_arg; /* --at as typed */
	struct kt_keyset *drop;
	char drop_sum[8 + KT_CRYPTO_SHA256_HEX]; /* "sha256:" + hex */
};

static void drop_digest(void *ctx, const uint8_t *data, size_t len)
{
	char *sum = ctx;
	memcpy(sum, "sha256:", 7);
	kt_crypto_sha256_hex(data, len, sum + 7);
}

/* The erasure list: any failure to read it is the operator's to fix, and
 * restoring without it would bring the erased records back. */
static int load_drop_keys(struct restore_cli *c)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	if (kt_keyset_load_file(c->drop_file, &c->drop, drop_digest, c->drop_sum, &d))
		return kt_cli_usage_error(c->cmd, "--drop-keys: %s", d.msg);
	c->o.drop_keys = c->drop;
	c->o.drop_keys_sum = c->drop_sum;
	return 0;
}

static int parse_map(const char *cmd, const char *arg, struct kt_restore_map_arg *m)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		return kt_cli_usage_error(cmd, "--map '%s': expected SOURCE=TARGET", arg);
	m->src = strndup(arg, (size_t)(eq - arg));
	m->dst = eq + 1;
	return 0;
}

static int parse_args(struct restore_cli *c, int argc, char **argv)
{
	struct kt_restore_opts *o = &c->o;
	struct kt_cli_range range;
	kt_cli_range_init(&range);
	o->generation = -1;
	o->max_idle_ms = 10000;
	o->timeout_ms = 60000;
	c->progress = -1;
	c->topics = calloc((size_t)argc + 1, sizeof(*c->topics));
	c->parts = calloc((size_t)argc + 1, sizeof(*c->parts));
	c->maps = calloc((size_t)argc + 1, sizeof(*c->maps));
	kt_kafka_conf_new(&c->conf);
	double speed = 1.0;
	int speed_given = 0;
	int64_t v;
	int rc = 0, ch;
	const char *cmd = c->cmd;
	optind = 1;
	while (!rc && (ch = getopt_long(argc, argv, "b:a:t:p:X:F:qv", long_opts, NULL)) != -1) {
		struct kt_diag d;
		kt_diag_clear(&d);
		if ((rc = wrong_command(cmd, ch)) != 0)
			break;
		switch (ch) {
		case 'b': o->bootstrap = optarg; break;
		case 'a': o->archive = optarg; break;
		case 't': c->topics[o->topic_count++] = optarg; break;
		case 'p':
			rc = kt_cli_parse_i64(cmd, "--partition", optarg, 0, INT32_MAX, &v);
			c->parts[o->partition_count++] = (int32_t)v;
			break;
		case 'X':
		case 'F': rc = kt_cli_conf_add(cmd, c->conf, ch, optarg); break;
		case 'q': c->quiet = 1; break;
		case 'v': c->verbose = 1; break;
		case OPT_TOPIC_REGEX: o->topic_regex = optarg; break;
		case KT_CLI_OPT_FROM_OFFSET:
		case KT_CLI_OPT_TO_OFFSET:
		case KT_CLI_OPT_FROM_TIME:
		case KT_CLI_OPT_TO_TIME: rc = kt_cli_range_opt(cmd, ch, optarg, &range); break;
		case OPT_MAP: rc = parse_map(cmd, optarg, &c->maps[o->map_count++]); break;
		case OPT_PREFIX: o->topic_prefix = optarg; break;
		case OPT_PARTITIONING:
			if (!strcmp(optarg, "key"))
				o->by_key = 1;
			else if (strcmp(optarg, "same"))
				rc = kt_cli_usage_error(cmd, "--partitioning '%s': expected same or key", optarg);
			break;
		case OPT_CREATE: o->create_topics = 1; break;
		case OPT_RF:
			rc = kt_cli_parse_i64(cmd, "--replication-factor", optarg, 1, 32767, &v);
			o->replication_factor = (int)v;
			break;
		case OPT_ALLOW_NONEMPTY: o->allow_nonempty = 1; break;
		case OPT_ALLOW_GAPS: o->allow_gaps = 1; break;
		case OPT_RATE_MSGS:
			if (kt_parse_double(optarg, 0.001, 1e9, &o->rate_msgs, &d))
				rc = kt_cli_usage_error(cmd, "--rate-msgs: %s", d.msg);
			break;
		case OPT_RATE_BYTES: {
			uint64_t sz;
			if (kt_parse_size(optarg, &sz, &d) || sz == 0)
				rc = kt_cli_usage_error(
					cmd, "--rate-bytes '%s': expected a positive size like 500K or 10M", optarg);
			o->rate_bytes = (double)sz;
			break;
		}
		case OPT_PACE:
			if (strcmp(optarg, "original"))
				rc = kt_cli_usage_error(cmd, "--pace '%s': the only pace is 'original'", optarg);
			c->pace = 1;
			break;
		case OPT_SPEED:
			speed_given = 1;
			if (kt_parse_double(optarg, 0.001, 1e6, &speed, &d))
				rc = kt_cli_usage_error(cmd, "--speed: %s", d.msg);
			break;
		case OPT_MAX_IDLE:
			if (kt_parse_duration_ms(optarg, &o->max_idle_ms, &d))
				rc = kt_cli_usage_error(cmd, "--max-idle: %s", d.msg);
			break;
		case OPT_GROUPS:
			o->restore_groups = 1;
			/* optional argument: --groups=RE, or --groups RE when the next
			 * word is not an option */
			if (optarg)
				o->groups_regex = optarg;
			else if (optind < argc && argv[optind][0] != '-')
				o->groups_regex = argv[optind++];
			break;
		case OPT_ORIGIN: o->origin_headers = 1; break;
		case OPT_DROP_KEYS: c->drop_file = optarg; break;
		case OPT_AT:
			o->at_given = 1;
			c->at_arg = optarg;
			rc = kt_cli_parse_time(cmd, "--at", optarg, &o->at_ms);
			break;
		case OPT_DRY_RUN: o->dry_run = 1; break;
		case OPT_GENERATION:
			rc = kt_cli_parse_i64(cmd, "--generation", optarg, 0, UINT32_MAX, &o->generation);
			break;
		case OPT_JSON: c->json = 1; break;
		case OPT_PROGRESS: c->progress = 1; break;
		case OPT_NO_PROGRESS: c->progress = 0; break;
		case OPT_TIMEOUT:
			if (kt_parse_duration_ms(optarg, &o->timeout_ms, &d))
				rc = kt_cli_usage_error(cmd, "--timeout: %s", d.msg);
			break;
		case OPT_IGNORE_TS: c->ignore_ts = 1; break;
		case KT_CLI_OPT_KEY_FILE: c->key_file = optarg; break;
		case OPT_MAX_REPORT:
			rc = kt_cli_parse_i64(cmd, "--max-report", optarg, 1, 1000000, &c->max_report);
			break;
		default: rc = kt_cli_s3_opt(cmd, ch, optarg); break;
		}
	}
	/* --at T ends the selection at T, as --to-time T */
	if (!rc && o->at_given && (range.to_time != INT64_MIN || range.to_offset >= 0))
		rc = kt_cli_usage_error(cmd, "--at T ends the selection at T: it cannot take --to-time or --to-offset");
	if (!rc && o->at_given) {
		range.to_time = o->at_ms;
		range.to_time_arg = c->at_arg;
	}
	/* a dry run needs no cluster */
	if (!rc)
		rc = kt_cli_check_args(cmd, argc, argv, o->bootstrap, o->dry_run, o->archive, &range);
	if (!rc && c->key_file)
		rc = kt_cli_load_key(cmd, c->key_file, &c->key);
	if (!rc && c->drop_file)
		rc = load_drop_keys(c);
	o->key = c->key;
	o->from_offset = range.from_offset;
	o->to_offset = range.to_offset;
	o->from_time = range.from_time;
	o->to_time = range.to_time;
	/* without --pace the speed would be ignored without a word */
	if (!rc && speed_given && !c->pace)
		rc = kt_cli_usage_error(cmd,
					"--speed %g needs --pace original (without it records go as fast as "
					"the cluster takes them)",
					speed);
	if (!rc && c->pace)
		o->speed = speed;
	o->topics = c->topics;
	o->partitions = c->parts;
	o->maps = c->maps;
	o->conf = c->conf;
	kt_buf_init(&c->kafka_log, 1 << 20);
	kt_kafka_conf_set_log(c->conf, &c->kafka_log);
	return rc;
}

static void free_cli(struct restore_cli *c)
{
	for (size_t i = 0; i < c->o.map_count; i++)
		free((char *)c->maps[i].src);
	free(c->maps);
	free(c->topics);
	free(c->parts);
	kt_kafka_conf_free(c->conf);
	kt_buf_free(&c->kafka_log);
	kt_crypto_key_free(c->key);
	kt_keyset_free(c->drop);
}

static void on_plan(void *ctx, const struct kt_restore_plan_line *l)
{
	struct restore_cli *c = ctx;
	if (c->json)
		return;
	char part[16], sz[32];
	if (l->dst_partition < 0)
		snprintf(part, sizeof(part), "by key");
	else
		snprintf(part, sizeof(part), "%d", l->dst_partition);
	char drop[64] = "";
	if (c->drop)
		snprintf(drop, sizeof(drop), ", %" PRIu64 " dropped by --drop-keys", l->dropped);
	if (l->records)
		printf("%s [%d] -> %s [%s]: offsets %" PRId64 "..%" PRId64 ", %" PRIu64 " records, %s%s\n",
		       l->src_topic, l->src_partition, l->dst_topic, part, l->first_offset, l->last_offset, l->records,
		       kt_parse_format_size(l->bytes, sz, sizeof(sz)), drop);
	else
		printf("%s [%d] -> %s [%s]: nothing selected%s\n", l->src_topic, l->src_partition, l->dst_topic, part,
		       drop);
}

static void on_progress(void *ctx, const struct kt_restore_progress *p)
{
	struct restore_cli *c = ctx;
	if (!c->progress)
		return;
	char sz[32];
	double rate = p->seconds > 0 ? (double)p->records / p->seconds : 0;
	kt_cli_progress_line("restore: %" PRIu64 " records, %s, %.0f rec/s", p->records,
			     kt_parse_format_size(p->bytes, sz, sizeof(sz)), rate);
}

static void on_warning(void *ctx, const char *msg)
{
	struct restore_cli *c = ctx;
	kt_cli_progress_end();
	fprintf(stderr, "ktape %s: warning: %s\n", c->cmd, msg);
}

int kt_cmd_restore(int argc, char **argv)
{
	struct restore_cli c = {0};
	c.cmd = "restore";
	int rc = parse_args(&c, argc, argv);
	if (rc) {
		free_cli(&c);
		return rc;
	}
	char *args = kt_cli_redacted_args(argc, argv);
	c.progress = !c.quiet && !c.json && kt_cli_progress_wanted(c.progress);
	c.o.args = args;
	c.o.tool_version = KTAPE_VERSION;
	c.o.stop = &kt_cli_stop;
	c.o.on_plan = on_plan;
	c.o.on_progress = on_progress;
	c.o.on_warning = on_warning;
	c.o.cb_ctx = &c;
	struct kt_restore_result res;
	struct kt_diag diag;
	kt_diag_clear(&diag);
	enum kt_err err = kt_restore_run(&c.o, &res, &diag);
	kt_cli_progress_end();
	if (c.json) {
		struct kt_buf b;
		kt_buf_init(&b, 1 << 20);
		kt_buf_printf(
			&b,
			"{\"command\":\"restore\",\"dry_run\":%s,\"status\":\"%s\",\"exit_code\":%d,\"run_id\":%" PRId64
			",\"resumed_from_run\":%" PRId64 ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
			",\"skipped_on_resume\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"topics_created\":%d,"
			"\"consumer_groups\":%d,\"groups_snapshot_ms\":%" PRId64 ","
			"\"duration_seconds\":%.3f,\"storage\":{\"requests\":%" PRIu64 ",\"bytes_fetched\":%" PRIu64
			"},\"warnings\":[",
			c.o.dry_run ? "true" : "false", err ? "failed" : "ok", kt_cli_exit_for(err), res.run_id,
			res.resumed_from_run, res.records, res.bytes, res.skipped_on_resume, res.dropped,
			res.topics_created, res.groups_restored, c.o.at_given ? res.groups_snapshot_ms : -1,
			res.seconds, res.storage_requests, res.storage_bytes_fetched);
		for (size_t i = 0; i < res.warning_count; i++) {
			if (i)
				kt_buf_append_u8(&b, ',');
			kt_json_cstr(&b, res.warnings[i]);
		}
		kt_buf_append(&b, "],\"error\":", 10);
		if (err)
			kt_json_cstr(&b, diag.msg[0] ? diag.msg : kt_err_str(err));
		else
			kt_buf_append(&b, "null", 4);
		kt_buf_append(&b, "}\n", 2);
		kt_cli_write_stdout(&b);
		kt_buf_free(&b);
	} else if (!c.quiet && !err) {
		char sz[32], drop[96] = "";
		if (c.drop)
			snprintf(drop, sizeof(drop), "; %" PRIu64 " record(s) %sdropped by --drop-keys", res.dropped,
				 c.o.dry_run ? "would be " : "");
		if (c.o.dry_run)
			printf("dry run: %" PRIu64 " records, %s would be written%s\n", res.records,
			       kt_parse_format_size(res.bytes, sz, sizeof(sz)), drop);
		else
			printf("restore run %" PRId64 ": %" PRIu64 " records, %s in %.1f s (%.0f rec/s); %d topic(s) "
			       "created, %d consumer group(s) set%s%s\n",
			       res.run_id, res.records, kt_parse_format_size(res.bytes, sz, sizeof(sz)), res.seconds,
			       res.seconds > 0 ? (double)res.records / res.seconds : 0, res.topics_created,
			       res.groups_restored, drop,
			       res.resumed_from_run ? " (continued an interrupted run)" : "");
		char at[KT_TIME_STR_MAX];
		if (c.o.at_given && c.o.restore_groups && res.groups_snapshot_ms >= 0)
			printf("  consumer groups as of the snapshot taken at %s\n",
			       kt_parse_format_time(res.groups_snapshot_ms, at));
	}
	kt_cli_kafka_log("restore", &c.kafka_log, c.verbose, err != KT_OK);
	rc = err ? kt_cli_fail("restore", err, &diag) : KT_EXIT_OK;
	kt_restore_result_free(&res);
	free(args);
	free_cli(&c);
	return rc;
}

static void on_difference(void *ctx, const char *msg)
{
	(void)ctx;
	printf("difference: %s\n", msg);
}

int kt_cmd_compare(int argc, char **argv)
{
	struct restore_cli c = {0};
	c.cmd = "compare";
	int rc = parse_args(&c, argc, argv);
	if (!rc && !c.o.bootstrap)
		rc = kt_cli_usage_error("compare", "-b/--bootstrap HOST:PORT is required");
	if (rc) {
		free_cli(&c);
		return rc;
	}
	struct kt_compare_opts o = {c.o.bootstrap,
				    c.o.archive,
				    c.o.topics,
				    c.o.topic_count,
				    c.o.partitions,
				    c.o.partition_count,
				    c.o.generation,
				    c.o.from_offset,
				    c.o.to_offset,
				    c.o.from_time,
				    c.o.to_time,
				    c.o.maps,
				    c.o.map_count,
				    c.o.topic_prefix,
				    c.ignore_ts,
				    (int)c.max_report,
				    c.conf,
				    c.o.timeout_ms,
				    c.json ? NULL : on_difference,
				    &c,
				    c.key};
	struct kt_compare_result res;
	struct kt_diag diag;
	kt_diag_clear(&diag);
	enum kt_err err = kt_compare_run(&o, &res, &diag);
	if (c.json)
		printf("{\"command\":\"compare\",\"equal\":%s,\"exit_code\":%d,\"partitions\":%d,\"compared\":%" PRIu64
		       ",\"same\":%" PRIu64 ",\"different\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"extra\":%" PRIu64
		       "}\n",
		       err ? "false" : "true", kt_cli_exit_for(err), res.partitions, res.compared, res.equal,
		       res.different, res.missing, res.extra);
	else if (!err)
		printf("equal: %" PRIu64 " records in %d partition(s) match the archive\n", res.equal, res.partitions);
	kt_cli_kafka_log("compare", &c.kafka_log, c.verbose, err && err != KT_ERR_MISMATCH);
	rc = err ? kt_cli_fail("compare", err, &diag) : KT_EXIT_OK;
	free_cli(&c);
	return rc;
}
