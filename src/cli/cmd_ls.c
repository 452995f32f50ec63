/* cmd_ls.c - `ktape ls`: options, help and exit codes; the renderers are cmd_ls_*.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_time.h"

const char kt_usage_ls[] = "  ktape ls -a DIR [-t TOPIC]... [--runs] [--json] [--html FILE]\n";
const char kt_help_ls[] =
	"\nShows, per topic (and generation) and partition, the archived offset ranges with\n"
	"their records, sizes and time spans, the gaps between them (offsets no dump read)\n"
	"and the ranges lost to retention (deleted by Kafka before a dump read them). Offsets\n"
	"a dump read that held no record (transaction markers, compacted records) are not\n"
	"gaps. Reads the catalog only; takes no lock, so it works while a dump runs.\n\n"
	"Options:\n"
	"  -a, --archive DIR   archive directory, or s3://BUCKET/PREFIX\n" KT_CLI_S3_HELP
	"  -t, --topic NAME    only this topic (repeatable)\n"
	"      --runs          also list the runs (dump, restore, prune) that changed the archive;\n"
	"                      a run the catalog still calls running whose process is gone\n"
	"                      (kill -9, a crash: the next writer marks it crashed) shows as dead\n"
	"      --json          print JSON instead of the table (runs always included)\n"
	"      --html FILE     also write a self-contained HTML report with a timeline per\n"
	"                      partition (no external resources; open it in any browser)\n\n"
	"Kinds in the table: range (archived), gap (offsets no dump read), lost (deleted by\n"
	"retention before a dump read them), missing (archived once, but the archive can no\n"
	"longer deliver them: a segment file that is gone or damaged; listed with the file\n"
	"and the reason below the table). Offsets are inclusive (a..b).\n\n"
	"JSON (stable; new keys may be added, none removed or renamed):\n"
	"  {\"archive\", \"archive_id\", \"key_id\" (of an encrypted archive, else null),\n"
	"   \"totals\": SUMS + {\"topics\", \"partitions\"},\n"
	"   \"topics\": [{\"topic\", \"generation\", \"cluster_partitions\" (null if unknown), \"totals\": SUMS,\n"
	"     \"partitions\": [{\"partition\", \"first_offset\", \"last_offset\", \"end_offset\", \"totals\": SUMS,\n"
	"       \"ranges\": [{\"first_offset\", \"last_offset\", \"end_offset\", \"offsets\", \"segments\",\n"
	"                   \"records\", \"compressed_bytes\", \"raw_bytes\", \"payload_bytes\",\n"
	"                   \"min_timestamp\", \"max_timestamp\", \"min_time\", \"max_time\"}],\n"
	"       \"gaps\": [{\"first_offset\", \"last_offset\", \"offsets\"}],\n"
	"       \"lost\": [{\"first_offset\", \"last_offset\", \"offsets\", \"run_id\"}],\n"
	"       \"missing\": [{\"first_offset\", \"last_offset\", \"offsets\", \"path\", \"reason\"}]}]}],\n"
	"   \"runs\": [{\"run_id\", \"kind\", \"status\", \"started_ms\", \"started\", \"ended_ms\",\n"
	"             \"duration_seconds\", \"records\", \"bytes\", \"last_commit_ms\", \"last_commit\",\n"
	"             \"message\", \"alive\", \"alive_note\"}],\n"
	"   \"workers\": [{\"worker_id\", \"last_run_id\", \"last_run_status\", \"last_run_alive\",\n"
	"                \"segments\", \"records\", \"last_commit_ms\", \"last_commit\",\n"
	"                \"partition_count\", \"partitions\"}]}\n"
	"  SUMS = {\"segments\", \"records\", \"compressed_bytes\", \"raw_bytes\", \"payload_bytes\", \"gaps\",\n"
	"          \"gap_offsets\", \"lost_ranges\", \"lost_offsets\", \"missing_ranges\", \"missing_offsets\",\n"
	"          \"min_timestamp\", \"max_timestamp\"}\n"
	"  Offsets: first/last inclusive, end exclusive (end_offset: where dumps got to, the\n"
	"  next incremental dump starts there). Timestamps in ms since the epoch, times in\n"
	"  ISO 8601 UTC; null when there is no record. Ranges, gaps, lost and missing are by\n"
	"  offset. alive: for a run whose status is running, whether its process still holds\n"
	"  the archive's lock (false: killed or crashed; the status stays running until the\n"
	"  next writer marks it crashed); null for a run that ended, and where it cannot be\n"
	"  told (a bucket's lock of another host: alive_note names it).\n\n"
	"Exit codes: 0 ok (also when there are gaps), 1 error, 2 usage, 7 archive or topic\n"
	"not found, 10 archive written by a newer ktape.\n\n"
	"Examples:\n"
	"  ktape ls -a /backup/kafka\n"
	"  ktape ls -a /backup/kafka -t user-activities --runs\n"
	"  ktape ls -a /backup/kafka --json | jq '.totals.gap_offsets'\n"
	"  ktape ls -a /backup/kafka --html /var/www/ktape.html\n";

/* ---- ls ---- */

static const struct option ls_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	{"topic", required_argument, NULL, 't'},
	KT_CLI_S3_OPTIONS,
	{"runs", no_argument, NULL, OPT_RUNS},
	{"json", no_argument, NULL, OPT_JSON},
	{"html", required_argument, NULL, OPT_HTML},
	{NULL, 0, NULL, 0},
};

static int ls_output(const char *dir, const struct kt_inspect_ls *ls, int json, int runs, const char *html)
{
	struct kt_buf b;
	kt_buf_init(&b, OUT_MAX);
	int rc = 0;
	if (html) {
		kt_cli_ls_html(dir, ls, &b);
		struct kt_diag d;
		kt_diag_clear(&d);
		enum kt_err err = kt_write_file_atomic(html, b.data, b.len, &d);
		if (err)
			rc = kt_cli_fail("ls", err, &d);
		kt_buf_reset(&b);
	}
	if (json)
		kt_cli_ls_json(dir, ls, &b);
	else
		kt_cli_ls_human(dir, ls, runs, &b);
	kt_cli_write_out(&b);
	kt_buf_free(&b);
	return rc;
}

/* A sharded archive's writers (SPEC 10.8): the shards, what each holds and
 * its last commit (--json and --html have them as "workers"). */
static void ls_workers(const struct kt_inspect_ls *ls)
{
	const struct kt_archive_shard_info *w = ls->workers;
	size_t n = ls->worker_count;
	if (n)
		printf("\n%-20s  %-11s  %9s  %12s  %-36s  %s\n", "WORKER", "LAST RUN", "SEGMENTS", "RECORDS",
		       "LAST COMMIT", "PARTITIONS");
	int64_t now = kt_time_now_ms();
	for (size_t i = 0; i < n; i++) {
		char at[KT_TIME_STR_MAX + 32] = "-";
		if (w[i].last_commit_ms > 0) {
			char t[KT_TIME_STR_MAX];
			snprintf(at, sizeof(at), "%s (%.0fs ago)", kt_parse_format_time(w[i].last_commit_ms, t),
				 (double)(now - w[i].last_commit_ms) / 1000.0);
		}
		const struct kt_inspect_run *lr = w[i].last_status[0] ? kt_cli_ls_run(ls, w[i].last_run) : NULL;
		printf("%-20s  %-11s  %9lld  %12lld  %-36s  %s\n", w[i].id,
		       lr		     ? kt_cli_run_status(lr)
		       : w[i].last_status[0] ? w[i].last_status
					     : "-",
		       (long long)w[i].segments, (long long)w[i].records, at, w[i].partitions);
	}
}

int kt_cmd_ls(int argc, char **argv)
{
	const char *dir = NULL, *html = NULL;
	const char **topics = calloc((size_t)argc + 1, sizeof(*topics));
	size_t ntopics = 0;
	int json = 0, runs = 0, rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:t:", ls_opts, NULL)) != -1) {
		switch (c) {
		case 'a': dir = optarg; break;
		case 't': topics[ntopics++] = optarg; break;
		case OPT_RUNS: runs = 1; break;
		case OPT_JSON: json = 1; break;
		case OPT_HTML: html = optarg; break;
		default: rc = kt_cli_s3_opt("ls", c, optarg); break;
		}
	}
	rc = kt_cli_finish_args("ls", rc, argc, argv, dir);
	struct kt_archive *a = NULL;
	if (!rc)
		rc = kt_cli_open_archive("ls", dir, KT_ARCHIVE_READ, &a);
	if (!rc) {
		struct kt_inspect_ls ls;
		struct kt_diag d;
		kt_diag_clear(&d);
		enum kt_err err = kt_inspect_ls(a, topics, ntopics, &ls, &d);
		rc = err ? kt_cli_fail("ls", err, &d) : ls_output(kt_archive_dir(a), &ls, json, runs, html);
		if (!rc && !json && !html)
			ls_workers(&ls);
		if (!err)
			kt_inspect_ls_free(&ls);
	}
	kt_archive_close(a);
	free(topics);
	return rc;
}
