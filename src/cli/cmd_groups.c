/* cmd_groups.c - `ktape groups`: consumer group offsets set after the
 * fact (a cut-over after the data restore, groups that committed after the
 * dump), translated with the offset maps earlier restores recorded. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_buf.h"
#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_util.h"
#include "kt_parse.h"
#include "kt_restore.h"

const char kt_usage_groups[] = "  ktape groups -b HOST:PORT[,...] -a DIR [-t TOPIC]... [--groups RE]\n"
			       "               [--offsets FILE | --from-cluster SRC_HOSTS | --at T] [--dry-run] [-X "
			       "prop=value]... [-F FILE] [--timeout D] [--encrypt-key-file FILE] [-q] [-v]\n";

const char kt_help_groups[] =
	"\nSets the archived consumer groups' committed offsets on a cluster that earlier\n"
	"restores wrote into: the offsets of the archive's latest group snapshot (the\n"
	"newest dump), each translated with the offset map of the newest finished restore\n"
	"of its topic into that cluster (--partitioning same), exactly as restore --groups\n"
	"does at the end of a restore. For a cut-over after the data restore, or groups\n"
	"that committed after the restore's dump (dump again: the new run archives their\n"
	"offsets). A committed offset lands on the target offset of the first restored\n"
	"record at or after it; records a restore dropped (--drop-keys) or that were not\n"
	"selected are skipped, past the last restored record is the target's end.\n\n"
	"Options:\n"
	"  -b, --bootstrap HOSTS   the target cluster (the one the restores wrote into)\n"
	"  -a, --archive DIR       the archive, a directory or s3://BUCKET/PREFIX (read only)\n" KT_CLI_S3_HELP
	"  -t, --topic NAME        only groups' offsets of archived topic NAME (repeatable)\n"
	"      --groups RE         only groups whose id matches RE (default: every archived group)\n"
	"      --offsets FILE      the source offsets from FILE instead of the archive: lines\n"
	"                          GROUP,TOPIC,PARTITION,OFFSET (kafka-consumer-groups\n"
	"                          --reset-offsets --export of several groups, or --describe\n"
	"                          turned into that layout), TOPIC the archived topic\n"
	"      --from-cluster SRC_HOSTS\n"
	"                          the source offsets as the live source cluster has them now\n"
	"                          (its groups matching --groups; the same -X/-F properties)\n"
	"      --at T              the offsets of the archive's newest group snapshot taken at\n"
	"                          or before T (dump --follow takes one every --groups-interval;\n"
	"                          a batch dump one at its start) instead of the latest\n"
	"      --dry-run           print the plan and set nothing: one line per partition,\n"
	"                          GROUP,TOPIC,PARTITION,OFFSET, the CSV that kafka-consumer-groups\n"
	"                          --reset-offsets --export writes and --from-file reads\n"
	"  -X, --property K=V      a librdkafka property, as for dump\n"
	"  -F, --config FILE       librdkafka properties from a file, as for dump\n"
	"      --encrypt-key-file FILE\n"
	"                          the key of an encrypted archive (as for dump)\n"
	"      --timeout D         fail when the cluster does not answer for D (default 60s)\n"
	"  -q, --quiet             no summary\n"
	"  -v, --verbose           show librdkafka's log lines\n\n"
	"Groups must have no active members on the target: Kafka refuses to move an active\n"
	"group's offsets, and ktape stops at the first such group, naming it (exit 9);\n"
	"--dry-run checks this too, so a plan that prints is one that can be applied now.\n\n"
	"Exit codes: 0 ok, 1 error, 2 usage, 5 archive damaged, 6 Kafka error, 7 not found\n"
	"(no restore into this cluster is recorded), 9 refused (a group is active on the\n"
	"target), 12 the archive is encrypted with another key.\n\n"
	"Examples:\n"
	"  ktape groups -b dr-kafka:9092 -a /backup/kafka --dry-run >plan.csv\n"
	"  ktape groups -b dr-kafka:9092 -a /backup/kafka --groups '^billing-'\n";

enum {
	OPT_GROUPS = 1000,
	OPT_DRY_RUN,
	OPT_TIMEOUT,
	OPT_OFFSETS,
	OPT_FROM_CLUSTER,
	OPT_AT,
};

static const struct option long_opts[] = {
	{"bootstrap", required_argument, NULL, 'b'},
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"topic", required_argument, NULL, 't'},
	{"groups", required_argument, NULL, OPT_GROUPS},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"offsets", required_argument, NULL, OPT_OFFSETS},
	{"from-cluster", required_argument, NULL, OPT_FROM_CLUSTER},
	{"at", required_argument, NULL, OPT_AT},
	{"property", required_argument, NULL, 'X'},
	{"config", required_argument, NULL, 'F'},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"encrypt-key-file", required_argument, NULL, KT_CLI_OPT_KEY_FILE},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{NULL, 0, NULL, 0},
};

struct groups_cli {
	struct kt_restore_opts o;
	const char **topics;
	struct kt_kafka_conf *conf;
	struct kt_crypto_key *key;
	const char *key_file;
	struct kt_buf kafka_log;
	int quiet, verbose;
	size_t offsets;
};

static void on_group_offset(void *ctx, const struct kt_restore_group_offset *g)
{
	struct groups_cli *c = ctx;
	c->offsets++;
	if (c->o.dry_run)
		printf("%s,%s,%d,%" PRId64 "\n", g->group, g->topic, g->partition, g->offset);
}

static void on_warning(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ktape groups: warning: %s\n", msg);
}

static int parse_args(struct groups_cli *c, int argc, char **argv)
{
	struct kt_restore_opts *o = &c->o;
	struct kt_cli_range range;
	kt_cli_range_init(&range);
	o->generation = -1;
	o->from_offset = o->to_offset = -1;
	o->from_time = o->to_time = INT64_MIN;
	o->timeout_ms = 60000;
	o->restore_groups = 1;
	c->topics = calloc((size_t)argc + 1, sizeof(*c->topics));
	kt_kafka_conf_new(&c->conf);
	int rc = 0, ch;
	optind = 1;
	while (!rc && (ch = getopt_long(argc, argv, "b:a:t:X:F:qv", long_opts, NULL)) != -1) {
		struct kt_diag d;
		kt_diag_clear(&d);
		switch (ch) {
		case 'b': o->bootstrap = optarg; break;
		case 'a': o->archive = optarg; break;
		case 't': c->topics[o->topic_count++] = optarg; break;
		case OPT_GROUPS: o->groups_regex = optarg; break;
		case OPT_DRY_RUN: o->dry_run = 1; break;
		case OPT_OFFSETS: o->group_offsets_file = optarg; break;
		case OPT_FROM_CLUSTER: o->group_source_bootstrap = optarg; break;
		case OPT_AT:
			o->at_given = 1;
			rc = kt_cli_parse_time("groups", "--at", optarg, &o->at_ms);
			break;
		case 'X':
		case 'F': rc = kt_cli_conf_add("groups", c->conf, ch, optarg); break;
		case OPT_TIMEOUT:
			if (kt_parse_duration_ms(optarg, &o->timeout_ms, &d))
				rc = kt_cli_usage_error("groups", "--timeout: %s", d.msg);
			break;
		case KT_CLI_OPT_KEY_FILE: c->key_file = optarg; break;
		case 'q': c->quiet = 1; break;
		case 'v': c->verbose = 1; break;
		default: rc = kt_cli_s3_opt("groups", ch, optarg); break;
		}
	}
	/* the plan needs the cluster too: its id picks the restores, and an
	 * offset past every restored record is the target's end */
	if (!rc)
		rc = kt_cli_check_args("groups", argc, argv, o->bootstrap, 0, o->archive, &range);
	if (!rc && o->at_given && (o->group_offsets_file || o->group_source_bootstrap))
		rc = kt_cli_usage_error("groups", "--at picks an archived snapshot: it cannot take %s",
					o->group_offsets_file ? "--offsets" : "--from-cluster");
	if (!rc && c->key_file)
		rc = kt_cli_load_key("groups", c->key_file, &c->key);
	o->key = c->key;
	o->topics = c->topics;
	o->conf = c->conf;
	kt_buf_init(&c->kafka_log, 1 << 20);
	kt_kafka_conf_set_log(c->conf, &c->kafka_log);
	return rc;
}

int kt_cmd_groups(int argc, char **argv)
{
	struct groups_cli c = {0};
	int rc = parse_args(&c, argc, argv);
	if (!rc) {
		c.o.on_group_offset = on_group_offset;
		c.o.on_warning = on_warning;
		c.o.cb_ctx = &c;
		struct kt_restore_result res;
		struct kt_diag diag;
		kt_diag_clear(&diag);
		enum kt_err err = kt_restore_groups(&c.o, &res, &diag);
		fflush(stdout);
		char at[KT_TIME_STR_MAX], as_of[80] = "";
		if (c.o.at_given && res.groups_snapshot_ms >= 0)
			snprintf(as_of, sizeof(as_of), ", as of the snapshot taken at %s",
				 kt_parse_format_time(res.groups_snapshot_ms, at));
		if (!err && !c.quiet)
			fprintf(c.o.dry_run ? stderr : stdout, "%d consumer group(s), %zu partition offset(s) %s%s\n",
				res.groups_restored, c.offsets, c.o.dry_run ? "planned (nothing set)" : "set", as_of);
		kt_cli_kafka_log("groups", &c.kafka_log, c.verbose, err != KT_OK);
		rc = err ? kt_cli_fail("groups", err, &diag) : KT_EXIT_OK;
		kt_restore_result_free(&res);
	}
	free(c.topics);
	kt_kafka_conf_free(c.conf);
	kt_buf_free(&c.kafka_log);
	kt_crypto_key_free(c.key);
	return rc;
}
