/* kt_commands.c - the one table of subcommands. It feeds `ktape help`,
 * `ktape help NAME`, `--help`, and tests/cli_docs.sh, which checks that
 * docs/ktape.1 names every command listed here. */
#include <stddef.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_util.h"

const struct kt_command kt_commands[] = {
	{"help", "show help for ktape or one command", "  ktape help [COMMAND | exit-codes]\n",
	 "\nWith a COMMAND, shows its options and examples; with exit-codes, what every exit\n"
	 "code means (the same for every command).\n",
	 kt_cmd_help},
	{"dump", "archive topic ranges from a cluster (incremental by default)",
	 "  ktape dump -b HOST:PORT[,...] -a DIR [-t TOPIC]... [--topic-regex RE] [--exclude-regex RE]\n"
	 "             [-p N]... [--from-offset N | --from-time T] [--to-offset N | --to-time T]\n"
	 "             [-X prop=value]... [-F FILE] [--zstd-level N] [--isolation read_committed|read_uncommitted]\n"
	 "             [--groups RE] [--timeout DURATION] [--commit-interval DURATION] [--follow]\n"
	 "             [--compact-fanout N] [--segment-age DURATION]\n"
	 "             [--metadata-interval DURATION] [--groups-interval DURATION] [--worker-id ID]\n"
	 "             [--worker-group NAME]\n"
	 "             [--encrypt-key-file FILE] [--metrics-file PATH] [--json] [--progress | --no-progress]\n"
	 "             [--metrics-listen HOST:PORT] [--log-file FILE] [-q] [-v]\n",
	 "\nReads each selected partition from where the previous dump of the archive ended\n"
	 "(the log start the first time) up to the high watermark read when the run starts,\n"
	 "and writes the records into the archive DIR (created if missing), with the topics'\n"
	 "partition counts and non-default configs and the consumer groups' committed offsets.\n"
	 "Dump never joins a consumer group and never commits an offset, except as a member\n"
	 "of --worker-group, whose offsets are what its workers archived.\n\n"
	 "Options:\n"
	 "  -b, --bootstrap HOSTS    Kafka bootstrap servers\n"
	 "  -a, --archive DIR        archive directory or s3://BUCKET/PREFIX (created if missing)\n" KT_CLI_S3_HELP
	 "  -t, --topic NAME         a topic (repeatable); internal topics only when named\n"
	 "      --topic-regex RE     topics matching RE (POSIX extended); default: all but internal\n"
	 "      --exclude-regex RE   leave out topics matching RE\n"
	 "  -p, --partition N        only partition N (repeatable)\n"
	 "      --from-offset N      start at offset N instead of where the last dump ended\n"
	 "      --from-time T        start at the first offset with a timestamp >= T\n"
	 "      --to-offset N        stop before offset N (N is not included)\n"
	 "      --to-time T          stop before the first offset with a timestamp >= T\n"
	 "                           Offsets already in the archive are never written again.\n"
	 "  -X, --property K=V       a librdkafka property (security.protocol, sasl.*, ssl.*, ...)\n"
	 "  -F, --config FILE        librdkafka properties, one key=value per line (keeps\n"
	 "                           passwords out of ps and crontab)\n"
	 "      --zstd-level N       1..19 (default: 1 or 2 where the first block shows it as small as\n"
	 "                           3 within 0.5%, at less CPU time; else 3)\n"
	 "      --segment-size N     raw bytes per segment file before a new one starts (default\n"
	 "                           256M; K, M, G suffixes)\n"
	 "      --block-size N       raw bytes per compressed block (at least 1K; default: 1M,\n"
	 "                           less with many partitions, so that memory stays bounded)\n"
	 "      --isolation MODE     read_committed (default: aborted records are skipped) or\n"
	 "                           read_uncommitted\n"
	 "      --groups RE          archive offsets of consumer groups matching RE (default: all\n"
	 "                           groups with offsets on the dumped topics)\n"
	 "      --timeout D          fail when the cluster does not answer for D (default 60s):\n"
	 "                           connecting, each request, no data while reading; all\n"
	 "                           brokers refusing connections fails after min(D, 10s).\n"
	 "                           What was written so far is kept, consistent\n"
	 "      --commit-interval D  commit the open segments every D (default 30s, 10s with\n"
	 "                           --follow; 0: only full segments): a killed run loses at\n"
	 "                           most D of work\n"
	 "      --follow             continuous backup: do not stop at the high watermark; go on\n"
	 "                           archiving what arrives, committing every --commit-interval,\n"
	 "                           until SIGTERM or SIGINT, which commit what is open and exit 0.\n"
	 "                           Readers see each commit. No --to-offset or --to-time\n"
	 "      --compact-fanout N   following: after a commit, merge N adjacent small segments\n"
	 "                           of a partition into one (default 8; 0: never), so that its\n"
	 "                           files and catalog rows follow its data, not the commits\n"
	 "      --segment-age D      following: a merged segment holds the commits of one window\n"
	 "                           of D at most (default 1h); a window that is over merges into\n"
	 "                           as few segments as --segment-size allows\n"
	 "      --metadata-interval D  following: read the topics' metadata every D (default\n"
	 "                           60s): new partitions, and new topics the selection picks,\n"
	 "                           are archived from their log start; a deleted topic's\n"
	 "                           partitions are finished; a recreated topic becomes a new\n"
	 "                           generation\n"
	 "      --groups-interval D  following: archive the consumer groups' offsets every D\n"
	 "                           (default 60s) as a snapshot with its time, for restore\n"
	 "                           --at and groups --at\n"
	 "      --worker-id ID       write the archive's shard ID (shards/ID/) instead of its\n"
	 "                           root, so that several dumps write one archive at once (each\n"
	 "                           its own shard; two with one ID are refused: exit 3). Readers\n"
	 "                           see the root and its shards as one archive, and every dump\n"
	 "                           starts where that ends. ID: 1-64 of A-Z a-z 0-9 . _ -\n"
	 "      --worker-group NAME  following: archive only the partitions the Kafka consumer\n"
	 "                           group NAME assigns to this worker (cooperative-sticky), into\n"
	 "                           its shard (--worker-id, default: the host name). Run one per\n"
	 "                           machine with the same selection; a partition a worker loses\n"
	 "                           is committed and handed over at its archived end, and a dead\n"
	 "                           worker's go to the others after 10 s. The group's offsets\n"
	 "                           are the archived ends\n"
	 "      --encrypt-key-file FILE\n"
	 "                           encrypt every block with the key in FILE (XChaCha20-Poly1305;\n"
	 "                           64 hex digits, mode 0600: openssl rand -hex 32 > FILE). The\n"
	 "                           archive must be new or encrypted with the same key; readers\n"
	 "                           then need it too (restore, compare, cat; verify checks\n"
	 "                           authenticity with it)\n"
	 "      --metrics-file PATH  write Prometheus textfile metrics (following: at every commit)\n"
	 "      --metrics-listen HOST:PORT\n"
	 "                           serve the same metrics at /metrics over HTTP, and /health:\n"
	 "                           200 while commits succeed, 503 once none did for three\n"
	 "                           commit intervals. :PORT listens on every address\n"
	 "      --log-file FILE      write the messages of stderr to FILE (appending); SIGHUP\n"
	 "                           opens it again, for logrotate (following without it,\n"
	 "                           SIGHUP is ignored)\n"
	 "      --json               print a JSON run summary on stdout\n"
	 "      --progress, --no-progress  progress line on stderr (default: on a terminal)\n"
	 "  -q, --quiet              no summary\n"
	 "  -v, --verbose            show librdkafka's log lines (otherwise only their gist, in\n"
	 "                           the error message)\n\n"
	 "Times T: 2026-11-22T10:00:00Z, 2026-11-22T10:00:00+09:00, 2026-11-22, @EPOCH_MS,\n"
	 "or relative: -90s, -30m, -24h, -7d.\n\n"
	 "Exit codes: 0 ok, 1 error, 2 usage, 3 archive locked by another dump,\n"
	 "4 completed but records were lost to retention before they were dumped,\n"
	 "6 Kafka error, 7 topic not found, 9 refused (a key for an archive that is not\n"
	 "encrypted), 12 the archive is encrypted with another key, 130 interrupted (what was\n"
	 "written is kept).\n\n"
	 "Examples:\n"
	 "  ktape dump -b kafka:9092 -a /backup/kafka -F /etc/ktape/client.properties\n"
	 "  ktape dump -b kafka:9092 -a /backup/ua -t user-activities --from-time -24h\n",
	 kt_cmd_dump},
	{"restore", "play archived records back into a cluster", kt_usage_restore, kt_help_restore, kt_cmd_restore},
	{"ls", "list what an archive covers, its gaps and runs", kt_usage_ls, kt_help_ls, kt_cmd_ls},
	{"cat", "print archived records", kt_usage_cat, kt_help_cat, kt_cmd_cat},
	{"verify", "check every checksum and that the catalog matches the files", kt_usage_verify, kt_help_verify,
	 kt_cmd_verify},
	{"compare", "compare a topic in a cluster with the archive, record by record", kt_usage_compare,
	 kt_help_compare, kt_cmd_compare},
	{"groups", "set consumer group offsets translated by earlier restores", kt_usage_groups, kt_help_groups,
	 kt_cmd_groups},
	{"prune", "remove segments no longer needed under a retention policy", kt_usage_prune, kt_help_prune,
	 kt_cmd_prune},
	{"reindex", "rebuild catalog.db from the segment and metadata files", kt_usage_reindex, kt_help_reindex,
	 kt_cmd_reindex},
	{"import", "turn JSON lines, kcat or console-consumer output into an archive", kt_usage_import, kt_help_import,
	 kt_cmd_import},
	{"version", "print ktape's version", "  ktape version\n", "", kt_cmd_version},
	{NULL, NULL, NULL, NULL, NULL},
};
