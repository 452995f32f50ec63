/* cmd_reindex.c - `ktape reindex`: options, help, output and exit codes. */
#include <getopt.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"

const char kt_usage_reindex[] = "  ktape reindex -a DIR [--json]\n";
const char kt_help_reindex[] =
	"\nRebuilds catalog.db from the segment files (their footers) and the run metadata\n"
	"files (meta/*.ktm) alone, for when the catalog is lost or damaged. The new catalog\n"
	"is built aside and renamed over the old one. A damaged segment file is indexed as\n"
	"far as its blocks can be read; what it held beyond them, and every segment file a\n"
	"run committed that is gone, is recorded as missing (ktape ls and verify show it).\n"
	"Damaged files are named on stderr.\n\n"
	"Options:\n"
	"  -a, --archive DIR   archive directory or s3://BUCKET/PREFIX (takes the writer lock)\n" KT_CLI_S3_HELP
	"      --json          print {\"command\", \"segments\", \"runs\", \"damaged_files\",\n"
	"                      \"unreadable_files\", \"bad_meta_files\", \"missing_ranges\",\n"
	"                      \"missing_offsets\"}\n\n"
	"Exit codes: 0 ok, 1 error, 2 usage, 3 archive locked by another ktape process,\n"
	"5 rebuilt, but the archive has missing ranges or damaged files, 7 not an archive,\n"
	"10 newer archive version.\n\n"
	"Example:\n"
	"  ktape reindex -a /backup/kafka\n";

/* ---- reindex ---- */

static const struct option reindex_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"json", no_argument, NULL, OPT_JSON},
	{NULL, 0, NULL, 0},
};

static void reindex_warning(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "ktape reindex: warning: %s\n", msg);
}

int kt_cmd_reindex(int argc, char **argv)
{
	const char *dir = NULL;
	int json = 0, rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:", reindex_opts, NULL)) != -1) {
		switch (c) {
		case 'a': dir = optarg; break;
		case OPT_JSON: json = 1; break;
		default: rc = kt_cli_s3_opt("reindex", c, optarg); break;
		}
	}
	rc = kt_cli_finish_args("reindex", rc, argc, argv, dir);
	if (rc)
		return rc;
	struct kt_archive_reindex_result res;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_archive_reindex(dir, &res, reindex_warning, NULL, &d);
	if (err)
		return kt_cli_fail("reindex", err, &d);
	/* a sharded archive (SPEC 10.8): each shard is an archive of its own,
	 * rebuilt as one; a shard a live writer holds is refused (exit 3) */
	char **shards = NULL;
	size_t nshards = 0;
	err = kt_archive_shard_locations(dir, &shards, &nshards, &d);
	for (size_t i = 0; !err && i < nshards; i++) {
		struct kt_archive_reindex_result sr;
		err = kt_archive_reindex(shards[i], &sr, reindex_warning, NULL, &d);
		res.segments += sr.segments;
		res.runs += sr.runs;
		res.damaged_files += sr.damaged_files;
		res.unreadable_files += sr.unreadable_files;
		res.bad_meta_files += sr.bad_meta_files;
		res.duplicate_files += sr.duplicate_files;
		res.missing_ranges += sr.missing_ranges;
		res.missing_offsets += sr.missing_offsets;
	}
	kt_archive_shard_ids_free(shards, nshards);
	if (err)
		return kt_cli_fail("reindex", err, &d);
	int holes = res.missing_ranges || res.bad_meta_files || res.unreadable_files;
	if (json) {
		printf("{\"command\":\"reindex\",\"segments\":%d,\"runs\":%d,\"damaged_files\":%d,"
		       "\"unreadable_files\":%d,\"bad_meta_files\":%d,\"missing_ranges\":%d,\"missing_offsets\":%lld}"
		       "\n",
		       res.segments, res.runs, res.damaged_files, res.unreadable_files, res.bad_meta_files,
		       res.missing_ranges, (long long)res.missing_offsets);
	} else {
		if (nshards)
			printf("reindexed %s and its %zu shard(s): %d segment(s), %d run(s)\n", dir, nshards,
			       res.segments, res.runs);
		else
			printf("reindexed %s: %d segment(s), %d run(s)\n", dir, res.segments, res.runs);
		if (holes)
			printf("the archive has holes: %d missing range(s), %lld offset(s); %d damaged file(s) indexed "
			       "in part, %d unreadable, %d bad metadata file(s); 'ktape ls' and 'ktape verify' name "
			       "them\n",
			       res.missing_ranges, (long long)res.missing_offsets, res.damaged_files,
			       res.unreadable_files, res.bad_meta_files);
	}
	/* the catalog is rebuilt either way; a hole found is what a monitor
	 * must see */
	return holes ? KT_EXIT_DAMAGED : KT_EXIT_OK;
}
