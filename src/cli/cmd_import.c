/* cmd_import.c - `ktape import`: options, help, the input file, output and
 * exit codes (the engine: src/import/kt_import.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_import.h"
#include "kt_parse.h"

const char kt_usage_import[] =
	"  ktape import -a DIR -t TOPIC [--format json|kcat-json|console]\n"
	"            [--console-props PROPS] [--partitions N] [--skip-bad N] [--segment-size SIZE]\n"
	"            [--threads N] [--encrypt-key-file FILE] [--json] [FILE|-]\n";
const char kt_help_import[] = "\nReads records from FILE (or standard input) and writes them into the archive as\n"
			      "topic TOPIC, as one run of kind import: afterwards ls, cat, verify and restore work\n"
			      "on them as on dumped records. The archive is created if missing; it must not hold\n"
			      "TOPIC yet. Nothing of the run is committed until the whole input is read: a bad\n"
			      "line fails the import and leaves the archive as it was.\n\n"
			      "Records without an offset get the one after their partition's previous record (0\n"
			      "for the first); offsets must increase within a partition. A record without a\n"
			      "partition goes where Kafka's default partitioner puts its key (murmur2 modulo\n"
			      "--partitions N), or to 0 without a key. A record without a timestamp gets the\n"
			      "import time as CreateTime. What the source lacked is the run's message (ls --runs).\n\n"
			      "Options:\n"
			      "  -a, --archive DIR      archive directory or s3://BUCKET/PREFIX (takes the writer\n"
			      "                         lock)\n" KT_CLI_S3_HELP
			      "  -t, --topic NAME       the topic the records become (a line's own topic is ignored)\n"
			      "  -f, --format F         json (default): the lines of ktape cat --format json;\n"
			      "                         kcat-json: kcat -J output; console: kafka-console-consumer\n"
			      "                         output, laid out as --console-props says\n"
			      "      --console-props PROPS\n"
			      "                         the formatter properties the console output was made with,\n"
			      "                         comma-separated: print.timestamp, print.partition,\n"
			      "                         print.offset, print.headers, print.key (true or false),\n"
			      "                         key.separator, headers.separator, headers.key.separator,\n"
			      "                         null.literal. Default: the value only, a tab as separator,\n"
			      "                         null as null literal. Fields before the value end at their\n"
			      "                         first separator\n"
			      "      --partitions N     the partition count that places records without a partition\n"
			      "                         (required when such records have keys); also the topic's\n"
			      "                         partition count for restore (default: the highest partition\n"
			      "                         + 1)\n"
			      "      --skip-bad N       skip up to N bad lines, each reported on stderr with its line\n"
			      "                         number (default 0: the first one fails the import)\n"
			      "      --segment-size SIZE\n"
			      "                         start a new segment file after SIZE bytes of records\n"
			      "                         (default 256M, as dump)\n"
			      "      --threads N        parse on N threads (default: one per CPU), besides a reader\n"
			      "                         and a writer; 1: all on one thread. The archive is the same\n"
			      "                         whatever N\n"
			      "      --encrypt-key-file FILE\n"
			      "                         encrypt every block with the key in FILE (see ktape dump)\n"
			      "      --json             print a JSON summary on stdout\n"
			      "  -q, --quiet            no summary\n\n"
			      "Exit codes: 0 ok, 1 error, 2 usage or a bad line (its number named), 3 archive\n"
			      "locked by another ktape process, 7 FILE not found, 9 refused (the archive already\n"
			      "holds TOPIC), 12 the archive is encrypted with another key.\n\n"
			      "Examples:\n"
			      "  ktape cat -a /backup/kafka -t orders | jq -c 'select(.key == \"u42\")' |\n"
			      "    ktape import -a /tmp/u42 -t orders\n"
			      "  ktape import -a /backup/old -t orders --format console \\\n"
			      "    --console-props print.key=true,print.partition=true backup.json\n";

enum {
	OPT_FORMAT = 3000,
	OPT_CONSOLE_PROPS,
	OPT_PARTITIONS,
	OPT_SKIP_BAD,
	OPT_IMPORT_JSON,
	OPT_IMPORT_SEGMENT_SIZE,
	OPT_IMPORT_THREADS,
};

static const struct option import_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"topic", required_argument, NULL, 't'},
	{"format", required_argument, NULL, 'f'},
	{"console-props", required_argument, NULL, OPT_CONSOLE_PROPS},
	{"partitions", required_argument, NULL, OPT_PARTITIONS},
	{"skip-bad", required_argument, NULL, OPT_SKIP_BAD},
	{"segment-size", required_argument, NULL, OPT_IMPORT_SEGMENT_SIZE},
	{"threads", required_argument, NULL, OPT_IMPORT_THREADS},
	{"encrypt-key-file", required_argument, NULL, KT_CLI_OPT_KEY_FILE},
	{"json", no_argument, NULL, OPT_IMPORT_JSON},
	{"quiet", no_argument, NULL, 'q'},
	{NULL, 0, NULL, 0},
};

static ssize_t read_fd(void *ctx, void *buf, size_t n)
{
	return read(*(int *)ctx, buf, n);
}

static void import_warning(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ktape import: %s\n", msg);
}

int kt_cmd_import(int argc, char **argv)
{
	const char *dir = NULL, *topic = NULL, *format = "json", *key_file = NULL;
	char *props = NULL;
	int64_t partitions = 0, skip_bad = 0, threads = 0;
	uint64_t segment_bytes = 0;
	int json = 0, quiet = 0, rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:t:f:q", import_opts, NULL)) != -1) {
		switch (c) {
		case 'a': dir = optarg; break;
		case 't': topic = optarg; break;
		case 'f': format = optarg; break;
		case 'q': quiet = 1; break;
		case OPT_CONSOLE_PROPS: props = optarg; break;
		case OPT_PARTITIONS:
			rc = kt_cli_parse_i64("import", "--partitions", optarg, 1, 100000, &partitions);
			break;
		case OPT_SKIP_BAD:
			rc = kt_cli_parse_i64("import", "--skip-bad", optarg, 0, INT64_MAX, &skip_bad);
			break;
		case OPT_IMPORT_SEGMENT_SIZE:
			if (kt_parse_size(optarg, &segment_bytes, NULL) || !segment_bytes)
				rc = kt_cli_usage_error("import", "--segment-size %s: want a size such as 64M", optarg);
			break;
		case OPT_IMPORT_THREADS: rc = kt_cli_parse_i64("import", "--threads", optarg, 1, 16, &threads); break;
		case KT_CLI_OPT_KEY_FILE: key_file = optarg; break;
		case OPT_IMPORT_JSON: json = 1; break;
		default: rc = kt_cli_s3_opt("import", c, optarg); break;
		}
	}
	if (rc)
		return rc;
	if (!dir)
		return kt_cli_usage_error("import", "-a DIR is required");
	if (!topic || !*topic)
		return kt_cli_usage_error("import", "-t TOPIC is required");
	if (argc - optind > 1)
		return kt_cli_usage_error("import", "one input at most, got '%s' and '%s'", argv[optind],
					  argv[optind + 1]);
	const char *input = optind < argc ? argv[optind] : "-";
	struct kt_import_opts o = {0};
	enum kt_import_kind kind = !strcmp(format, "json")	  ? KT_IMPORT_JSON
				   : !strcmp(format, "kcat-json") ? KT_IMPORT_KCAT_JSON
				   : !strcmp(format, "console")	  ? KT_IMPORT_CONSOLE
								  : (enum kt_import_kind) - 1;
	if ((int)kind < 0)
		return kt_cli_usage_error("import", "--format %s: want json, kcat-json or console", format);
	kt_import_format_init(&o.fmt, kind);
	struct kt_diag d;
	kt_diag_clear(&d);
	if (props) {
		if (kind != KT_IMPORT_CONSOLE)
			return kt_cli_usage_error("import", "--console-props goes with --format console");
		enum kt_err err = kt_import_format_console_props(&o.fmt, props, &d);
		if (err)
			return kt_cli_fail("import", err, &d);
	}
	struct kt_crypto_key *key = NULL;
	if (key_file && (rc = kt_cli_load_key("import", key_file, &key)))
		return rc;
	int fd = 0;
	if (strcmp(input, "-")) {
		fd = open(input, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			kt_crypto_key_free(key);
			fprintf(stderr, "ktape import: %s: %s\n", input, strerror(errno));
			return errno == ENOENT ? KT_EXIT_NOT_FOUND : KT_EXIT_ERROR;
		}
	}
	char *args = kt_cli_redacted_args(argc, argv);
	o.archive = dir;
	o.topic = topic;
	o.partitions = (int32_t)partitions;
	o.skip_bad = (uint64_t)skip_bad;
	o.segment_bytes = segment_bytes;
	o.threads = (int)threads;
	o.read = read_fd;
	o.read_ctx = &fd;
	o.input_name = strcmp(input, "-") ? input : "stdin";
	o.args = args;
	o.tool_version = KTAPE_VERSION;
	o.key = key;
	o.on_warning = import_warning;
	struct kt_import_result res;
	enum kt_err err = kt_import_run(&o, &res, &d);
	if (fd > 0)
		close(fd);
	free(args);
	kt_crypto_key_free(key);
	if (err)
		return kt_cli_fail("import", err, &d);
	if (json) {
		printf("{\"command\":\"import\",\"run_id\":%" PRId64 ",\"lines\":%" PRIu64 ",\"records\":%" PRIu64
		       ",\"skipped\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 ",\"file_bytes\":%" PRIu64
		       ",\"segments\":%d,\"partitions\":%d,\"no_offset\":%" PRIu64 ",\"no_partition\":%" PRIu64
		       ",\"no_timestamp\":%" PRIu64 ",\"seconds\":%.3f}\n",
		       res.run_id, res.lines, res.records, res.skipped, res.payload_bytes, res.file_bytes, res.segments,
		       res.partitions, res.no_offset, res.no_partition, res.no_timestamp, res.seconds);
	} else if (!quiet) {
		printf("run %" PRId64 ": %s into %d partition(s) of %s, %d segment(s), %.1f s\n", res.run_id,
		       res.message, res.partitions, topic, res.segments, res.seconds);
	}
	return KT_EXIT_OK;
}
