/* cmd_prune.c - `ktape prune`: options, help, output and exit codes. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_crypto.h"
#include "kt_fileio.h"
#include "kt_keyset.h"
#include "kt_parse.h"
#include "kt_time.h"

const char kt_usage_prune[] = "  ktape prune -a DIR (--keep-days N | --keep-runs N | --before T) [--dry-run] [--json]\n"
			      "  ktape prune -a DIR --erase-keys FILE [--encrypt-key-file FILE] [--dry-run] [--json]\n";
const char kt_help_prune[] =
	"\nRemoves whole segments no longer needed under one policy (--keep-days, --before or\n"
	"--keep-runs, below).\n"
	"Safety rules, whatever the policy: only the oldest segments of a partition are\n"
	"removed (a segment goes only when every segment before it goes too), so each\n"
	"partition stays one contiguous tail; a partition's newest segment is never\n"
	"removed; the partitions' dump progress is kept, so the next incremental dump\n"
	"starts where it would have. The catalog forgets the segments first (one\n"
	"transaction), then the files are removed and the directories fsynced; a crash in\n"
	"between leaves files the next dump indexes again (nothing is lost). The prune is\n"
	"recorded as a run (ktape ls --runs).\n"
	"A sharded archive (dump --worker-id, --worker-group) is pruned as the one archive\n"
	"its readers see: the policy applies to the union of the root and its shards (the\n"
	"N runs of --keep-runs are the union's newest, whichever shard wrote them; the\n"
	"newest segment kept is the union's), as --dry-run shows, and then each shard\n"
	"holding some of that plan is pruned under its own lock, all of them taken before\n"
	"anything is removed (a running worker's shard holding some of the plan: exit 3,\n"
	"nothing removed; stop the worker, or prune when its shard holds none of it).\n\n"
	"--erase-keys FILE removes records instead of segments: every record whose key is\n"
	"listed in FILE (restore --drop-keys' format: one key a line, base64:X for binary\n"
	"keys; a null key never matches) is erased from the archive itself. Every segment\n"
	"is read (no index of keys exists); each one that holds a listed key is written\n"
	"again without those records as FIRST-LAST~N.kts (same offset range, the erased\n"
	"offsets are gaps), fsynced, swapped in by one catalog transaction, and the old\n"
	"file removed (from a bucket after the catalog is published). A crash at any step\n"
	"leaves either the old segment or the new one, never both and never an erased\n"
	"record brought back by recovery or reindex. Only segments hold record data. The\n"
	"run records the list's SHA-256 and the count erased (never the keys). An\n"
	"encrypted archive needs its key (--encrypt-key-file).\n\n"
	"Options:\n"
	"  -a, --archive DIR   archive directory or s3://BUCKET/PREFIX (takes the writer lock)\n" KT_CLI_S3_HELP
	"      --keep-days N   remove segments whose newest record is older than N days\n"
	"      --before T      remove segments whose newest record is older than T\n"
	"      --keep-runs N   keep the segments written by the N most recent dump runs that\n"
	"                      reached the cluster (newest by start time; a sharded archive's\n"
	"                      runs all count), and in each partition everything after the\n"
	"                      oldest of them\n"
	"      --erase-keys FILE\n"
	"                      erase the records whose keys FILE lists (above)\n"
	"      --encrypt-key-file FILE\n"
	"                      the archive's key, for --erase-keys on an encrypted archive\n"
	"      --dry-run       show what would be removed (--erase-keys: which segments and\n"
	"                      how many records per partition); changes nothing, takes no lock\n"
	"      --json          print {\"command\", \"dry_run\", \"run_id\", \"segments_removed\",\n"
	"                      \"records\", \"bytes\", \"segments_kept\", \"partitions\": [{\"topic\",\n"
	"                      \"generation\", \"partition\", \"segments\", \"first_offset\",\n"
	"                      \"last_offset\", \"new_first_offset\"}], \"files\": [{\"path\", ...}]}\n"
	"                      (a sharded archive: a dry run prints one for the union, paths\n"
	"                      under shards/ID/; a prune one for the root, then one for each\n"
	"                      shard pruned, paths relative to it)\n\n"
	"Exit codes: 0 ok (also when nothing was removed), 1 error (e.g. a file could not be\n"
	"removed), 2 usage, 3 archive locked by another ktape process, 7 archive not found.\n\n"
	"Examples:\n"
	"  ktape prune -a /backup/kafka --keep-days 30 --dry-run\n"
	"  ktape prune -a /backup/kafka --keep-runs 7\n"
	"  ktape prune -a /backup/kafka --before 2026-01-01\n"
	"  ktape prune -a /backup/kafka --erase-keys erased-customers.txt --dry-run\n";

/* ---- prune ---- */

#define OPT_ERASE_KEYS 2300

static const struct option prune_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"keep-days", required_argument, NULL, OPT_KEEP_DAYS},
	{"keep-runs", required_argument, NULL, OPT_KEEP_RUNS},
	{"before", required_argument, NULL, OPT_BEFORE},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"erase-keys", required_argument, NULL, OPT_ERASE_KEYS},
	{"encrypt-key-file", required_argument, NULL, KT_CLI_OPT_KEY_FILE},
	{"json", no_argument, NULL, OPT_JSON},
	{NULL, 0, NULL, 0},
};

static void prune_json(const struct kt_inspect_prune_result *r, int dry, struct kt_buf *b)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_key(b, &f, "command");
	kt_cli_json_str(b, "prune");
	kt_cli_json_key(b, &f, "dry_run");
	kt_cli_put(b, dry ? "true" : "false");
	kt_cli_json_ts(b, &f, "run_id", r->run_id, r->run_id > 0);
	kt_cli_json_u64(b, &f, "segments_removed", r->seg_count);
	kt_cli_json_u64(b, &f, "records", r->records);
	kt_cli_json_u64(b, &f, "bytes", r->file_bytes);
	kt_cli_json_u64(b, &f, "segments_kept", r->kept_segments);
	kt_cli_put(b, ",\"partitions\":[");
	for (size_t i = 0; i < r->part_count; i++) {
		const struct kt_inspect_prune_part *p = &r->parts[i];
		int g = 1;
		kt_cli_put(b, i ? ",{" : "{");
		kt_cli_json_key(b, &g, "topic");
		kt_cli_json_str(b, p->topic);
		kt_cli_json_u64(b, &g, "generation", p->generation);
		kt_cli_json_i64(b, &g, "partition", p->partition);
		kt_cli_json_u64(b, &g, "segments", p->segments);
		kt_cli_json_i64(b, &g, "first_offset", p->first);
		kt_cli_json_i64(b, &g, "last_offset", p->last);
		kt_cli_json_i64(b, &g, "new_first_offset", p->new_first);
		kt_buf_append_u8(b, '}');
	}
	kt_cli_put(b, "],\"files\":[");
	for (size_t i = 0; i < r->seg_count; i++) {
		const struct kt_inspect_pruned *s = &r->segs[i];
		int g = 1;
		kt_cli_put(b, i ? ",{" : "{");
		kt_cli_json_key(b, &g, "path");
		kt_cli_json_str(b, s->path);
		kt_cli_json_i64(b, &g, "first_offset", s->first);
		kt_cli_json_i64(b, &g, "last_offset", s->last);
		kt_cli_json_u64(b, &g, "records", s->records);
		kt_cli_json_u64(b, &g, "bytes", s->file_bytes);
		kt_cli_json_time(b, &g, "max_time", s->max_ts, s->max_ts >= 0);
		kt_buf_append_u8(b, '}');
	}
	kt_cli_put(b, "]}\n");
}

static void prune_human(const struct kt_inspect_prune_result *r, int dry, struct kt_buf *b)
{
	char size[32];
	if (dry)
		kt_buf_printf(b, "dry run: would remove %zu segment(s), %" PRIu64 " records, %s; %" PRIu64 " kept\n",
			      r->seg_count, r->records, kt_parse_format_size(r->file_bytes, size, sizeof(size)),
			      r->kept_segments);
	else
		kt_buf_printf(b,
			      "prune run %" PRId64 ": removed %zu segment(s), %" PRIu64 " records, freed %s; %" PRIu64
			      " kept\n",
			      r->run_id, r->seg_count, r->records,
			      kt_parse_format_size(r->file_bytes, size, sizeof(size)), r->kept_segments);
	for (size_t i = 0; i < r->part_count; i++) {
		const struct kt_inspect_prune_part *p = &r->parts[i];
		kt_buf_printf(b,
			      "  %s gen %" PRIu32 " partition %" PRId32 ": %" PRIu64 " segment(s), offsets %" PRId64
			      "..%" PRId64 "; now starts at %" PRId64 "\n",
			      p->topic, p->generation, p->partition, p->segments, p->first, p->last, p->new_first);
	}
	for (size_t i = 0; dry && i < r->seg_count; i++)
		kt_buf_printf(b, "  would remove %s (%" PRIu64 " records, %s)\n", r->segs[i].path, r->segs[i].records,
			      kt_parse_format_size(r->segs[i].file_bytes, size, sizeof(size)));
}

struct prune_args {
	const char *dir;
	int json, npolicies;
	struct kt_inspect_prune_opts o;
	const char *erase_file, *key_file;
};

static int prune_parse_opt(struct prune_args *pa, int c)
{
	int rc = 0;
	switch (c) {
	case 'a': pa->dir = optarg; break;
	case OPT_KEEP_DAYS:
		pa->o.policy = KT_PRUNE_KEEP_DAYS;
		pa->npolicies++;
		rc = kt_cli_parse_i64("prune", "--keep-days", optarg, 1, 1000000, &pa->o.value);
		break;
	case OPT_KEEP_RUNS:
		pa->o.policy = KT_PRUNE_KEEP_RUNS;
		pa->npolicies++;
		rc = kt_cli_parse_i64("prune", "--keep-runs", optarg, 1, INT32_MAX, &pa->o.value);
		break;
	case OPT_BEFORE:
		pa->o.policy = KT_PRUNE_BEFORE;
		pa->npolicies++;
		rc = kt_cli_parse_time("prune", "--before", optarg, &pa->o.value);
		break;
	case OPT_ERASE_KEYS:
		pa->erase_file = optarg;
		pa->npolicies++;
		break;
	case KT_CLI_OPT_KEY_FILE: pa->key_file = optarg; break;
	case OPT_DRY_RUN: pa->o.dry_run = 1; break;
	case OPT_JSON: pa->json = 1; break;
	default: rc = kt_cli_s3_opt("prune", c, optarg); break;
	}
	return rc;
}

/* ---- prune --erase-keys ---- */

static void erase_json(const struct kt_inspect_erase_result *r, int dry, const char *sum, struct kt_buf *b)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	kt_cli_json_key(b, &f, "command");
	kt_cli_json_str(b, "prune");
	kt_cli_json_key(b, &f, "dry_run");
	kt_cli_put(b, dry ? "true" : "false");
	kt_cli_json_ts(b, &f, "run_id", r->run_id, r->run_id > 0);
	kt_cli_json_key(b, &f, "erase_keys_sha256");
	kt_cli_json_str(b, sum);
	kt_cli_json_u64(b, &f, "records_erased", r->erased);
	kt_cli_json_u64(b, &f, "segments_rewritten", r->seg_count);
	kt_cli_json_u64(b, &f, "segments_read", r->segments_read);
	kt_cli_json_u64(b, &f, "records_read", r->records_read);
	kt_cli_put(b, ",\"partitions\":[");
	for (size_t i = 0; i < r->part_count; i++) {
		const struct kt_inspect_erase_part *p = &r->parts[i];
		int g = 1;
		kt_cli_put(b, i ? ",{" : "{");
		kt_cli_json_key(b, &g, "topic");
		kt_cli_json_str(b, p->topic);
		kt_cli_json_u64(b, &g, "generation", p->generation);
		kt_cli_json_i64(b, &g, "partition", p->partition);
		kt_cli_json_u64(b, &g, "segments", p->segments);
		kt_cli_json_u64(b, &g, "records_erased", p->erased);
		kt_buf_append_u8(b, '}');
	}
	kt_cli_put(b, "],\"files\":[");
	for (size_t i = 0; i < r->seg_count; i++) {
		const struct kt_inspect_erased_seg *s = &r->segs[i];
		int g = 1;
		kt_cli_put(b, i ? ",{" : "{");
		kt_cli_json_key(b, &g, "path");
		kt_cli_json_str(b, s->path);
		if (s->new_path) {
			kt_cli_json_key(b, &g, "new_path");
			kt_cli_json_str(b, s->new_path);
		}
		kt_cli_json_u64(b, &g, "records", s->records);
		kt_cli_json_u64(b, &g, "records_erased", s->erased);
		kt_buf_append_u8(b, '}');
	}
	kt_cli_put(b, "]}\n");
}

static void erase_human(const struct kt_inspect_erase_result *r, int dry, const char *sum, struct kt_buf *b)
{
	if (dry)
		kt_buf_printf(b, "dry run: would erase %" PRIu64 " records (%s) from %zu of %" PRIu64 " segment(s)\n",
			      r->erased, sum, r->seg_count, r->segments_read);
	else
		kt_buf_printf(b,
			      "prune run %" PRId64 ": erased %" PRIu64 " records (%s), rewrote %zu of %" PRIu64
			      " segment(s)\n",
			      r->run_id, r->erased, sum, r->seg_count, r->segments_read);
	for (size_t i = 0; i < r->part_count; i++) {
		const struct kt_inspect_erase_part *p = &r->parts[i];
		kt_buf_printf(b,
			      "  %s gen %" PRIu32 " partition %" PRId32 ": %" PRIu64 " records in %" PRIu64
			      " segment(s)\n",
			      p->topic, p->generation, p->partition, p->erased, p->segments);
	}
	for (size_t i = 0; i < r->seg_count; i++)
		kt_buf_printf(b, "  %s %s (%" PRIu64 " of %" PRIu64 " records)\n", dry ? "would rewrite" : "rewrote",
			      r->segs[i].path, r->segs[i].erased, r->segs[i].records);
}

static void erase_digest(void *ctx, const uint8_t *data, size_t len)
{
	char *sum = ctx;
	memcpy(sum, "sha256:", 7);
	kt_crypto_sha256_hex(data, len, sum + 7);
}

static int erase_one(const char *where, const char *label, const struct kt_inspect_erase_opts *o,
		     const struct kt_crypto_key *key, int json)
{
	struct kt_archive *a = NULL;
	int rc = kt_cli_open_archive("prune", where, o->dry_run ? KT_ARCHIVE_READ : KT_ARCHIVE_WRITE, &a);
	if (rc)
		return rc;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_archive_use_key(a, key, 0, &d);
	if (err) {
		kt_archive_close(a);
		return kt_cli_fail("prune", err, &d);
	}
	struct kt_inspect_erase_result res;
	err = kt_inspect_erase(a, o, &res, &d);
	if (!err || res.run_id > 0) {
		struct kt_buf b;
		kt_buf_init(&b, OUT_MAX);
		if (label && !json)
			kt_buf_printf(&b, "shard %s:\n", label);
		if (json)
			erase_json(&res, o->dry_run, o->keys_sum, &b);
		else
			erase_human(&res, o->dry_run, o->keys_sum, &b);
		kt_cli_write_out(&b);
		kt_buf_free(&b);
	}
	rc = err ? kt_cli_fail("prune", err, &d) : KT_EXIT_OK;
	kt_inspect_erase_result_free(&res);
	kt_archive_close(a);
	return rc;
}

static int prune_erase(struct prune_args *pa, int argc, char **argv)
{
	struct kt_keyset *keys = NULL;
	struct kt_crypto_key *key = NULL;
	char sum[8 + KT_CRYPTO_SHA256_HEX] = "";
	struct kt_diag d;
	kt_diag_clear(&d);
	/* a list that cannot be read is the operator's to fix */
	if (kt_keyset_load_file(pa->erase_file, &keys, erase_digest, sum, &d))
		return kt_cli_usage_error("prune", "--erase-keys: %s", d.msg);
	int rc = pa->key_file ? kt_cli_load_key("prune", pa->key_file, &key) : 0;
	char *args = rc ? NULL : kt_cli_redacted_args(argc, argv);
	struct kt_inspect_erase_opts o = {.keys = keys,
					  .keys_sum = sum,
					  .now_ms = kt_time_now_ms(),
					  .dry_run = pa->o.dry_run,
					  .args = args,
					  .tool_version = KTAPE_VERSION};
	if (!rc)
		rc = erase_one(pa->dir, NULL, &o, key, pa->json);
	/* a sharded archive (SPEC 10.8): each shard erased as an archive of
	 * its own, under its lock (a dry run read the union above) */
	char **shards = NULL;
	size_t nshards = 0;
	if (!rc && !o.dry_run) {
		enum kt_err err = kt_archive_shard_locations(pa->dir, &shards, &nshards, &d);
		if (err)
			rc = kt_cli_fail("prune", err, &d);
	}
	for (size_t i = 0; !rc && i < nshards; i++)
		rc = erase_one(shards[i], strrchr(shards[i], '/') + 1, &o, key, pa->json);
	kt_archive_shard_ids_free(shards, nshards);
	free(args);
	kt_crypto_key_free(key);
	kt_keyset_free(keys);
	return rc;
}

/* One prune of one archive (the root, or the shard label), printed. */
static int prune_run(struct kt_archive *a, const char *label, const struct kt_inspect_prune_opts *o, int json)
{
	struct kt_inspect_prune_result res;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_inspect_prune(a, o, &res, &d);
	if (!err || res.run_id > 0) {
		struct kt_buf b;
		kt_buf_init(&b, OUT_MAX);
		if (label && !json)
			kt_buf_printf(&b, "shard %s:\n", label);
		if (json)
			prune_json(&res, o->dry_run, &b);
		else
			prune_human(&res, o->dry_run, &b);
		kt_cli_write_out(&b);
		kt_buf_free(&b);
	}
	int rc = err ? kt_cli_fail("prune", err, &d) : KT_EXIT_OK;
	kt_inspect_prune_result_free(&res);
	return rc;
}

/* The policy applied to a sharded archive's union (what a dry run shows). */
static int union_plan(const struct prune_args *pa, struct kt_inspect_prune_result *plan)
{
	struct kt_archive *u = NULL;
	int rc = kt_cli_open_archive("prune", pa->dir, KT_ARCHIVE_READ, &u);
	if (rc)
		return rc;
	struct kt_inspect_prune_opts po = pa->o;
	po.dry_run = 1;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_inspect_prune(u, &po, plan, &d);
	kt_archive_close(u);
	return err ? kt_cli_fail("prune", err, &d) : KT_EXIT_OK;
}

/* The plan's segments in the root (id NULL) or in shard id, as paths
 * relative to it (borrowed from plan). */
static size_t plan_paths(const struct kt_inspect_prune_result *plan, const char *id, const char **out)
{
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "shards/%s/", id ? id : "");
	size_t len = strlen(prefix), n = 0;
	for (size_t i = 0; i < plan->seg_count; i++) {
		const char *p = plan->segs[i].path;
		if (id ? !strncmp(p, prefix, len) : strncmp(p, "shards/", 7) != 0)
			out[n++] = id ? p + len : p;
	}
	return n;
}

int kt_cmd_prune(int argc, char **argv)
{
	struct prune_args pa = {0};
	int rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:", prune_opts, NULL)) != -1)
		rc = prune_parse_opt(&pa, c);
	rc = kt_cli_finish_args("prune", rc, argc, argv, pa.dir);
	if (!rc && pa.npolicies != 1)
		rc = kt_cli_usage_error(
			"prune", "give exactly one of --keep-days N, --keep-runs N, --before T or --erase-keys FILE");
	if (!rc && pa.key_file && !pa.erase_file)
		rc = kt_cli_usage_error("prune", "--encrypt-key-file is for --erase-keys");
	if (!rc && pa.erase_file)
		return prune_erase(&pa, argc, argv);
	struct kt_archive *a = NULL;
	/* a dry run changes nothing: not even the recovery a writer's open does */
	if (!rc)
		rc = kt_cli_open_archive("prune", pa.dir, pa.o.dry_run ? KT_ARCHIVE_READ : KT_ARCHIVE_WRITE, &a);
	if (rc)
		return rc;
	char *args = kt_cli_redacted_args(argc, argv);
	pa.o.args = args;
	pa.o.tool_version = KTAPE_VERSION;
	pa.o.now_ms = kt_time_now_ms();
	/* a sharded archive (SPEC 10.8): the policy is applied to the union
	 * (a dry run reads it: the reader's view), and that one plan is then
	 * carried out in the root and in each shard that holds some of it,
	 * each under its own lock */
	char **shards = NULL;
	size_t nshards = 0;
	struct kt_diag d;
	kt_diag_clear(&d);
	if (!pa.o.dry_run) {
		enum kt_err err = kt_archive_shard_locations(pa.dir, &shards, &nshards, &d);
		if (err)
			rc = kt_cli_fail("prune", err, &d);
	}
	struct kt_inspect_prune_result plan = {0};
	const char **paths = NULL;
	struct kt_inspect_prune_opts ro = pa.o;
	if (!rc && nshards) {
		rc = union_plan(&pa, &plan);
		paths = rc ? NULL : calloc(plan.seg_count + 1, sizeof(*paths));
		if (!rc && !paths)
			rc = kt_cli_fail("prune", KT_ERR_NOMEM, &d);
		ro.policy = KT_PRUNE_PATHS;
		ro.paths = paths;
		ro.path_count = paths ? plan_paths(&plan, NULL, paths) : 0;
	}
	/* every shard that holds some of the plan is locked before anything
	 * is removed: a plan carried out in part could leave a hole in the
	 * union (a shard's older segments kept, a later one's removed) */
	struct kt_archive **sa = calloc(nshards + 1, sizeof(*sa));
	if (!rc && !sa)
		rc = kt_cli_fail("prune", KT_ERR_NOMEM, &d);
	for (size_t i = 0; !rc && i < nshards; i++)
		if (plan_paths(&plan, strrchr(shards[i], '/') + 1, paths))
			rc = kt_cli_open_archive("prune", shards[i], KT_ARCHIVE_WRITE, &sa[i]);
	if (!rc && paths)
		ro.path_count = plan_paths(&plan, NULL, paths); /* the loop above used paths */
	if (!rc)
		rc = prune_run(a, NULL, &ro, pa.json);
	kt_archive_close(a);
	for (size_t i = 0; !rc && i < nshards; i++) {
		if (!sa[i])
			continue; /* nothing of the plan there: its lock was not needed */
		const char *id = strrchr(shards[i], '/') + 1;
		ro.path_count = plan_paths(&plan, id, paths);
		rc = prune_run(sa[i], id, &ro, pa.json);
	}
	for (size_t i = 0; sa && i < nshards; i++)
		kt_archive_close(sa[i]);
	free(sa);
	free(paths);
	kt_inspect_prune_result_free(&plan);
	kt_archive_shard_ids_free(shards, nshards);
	free(args);
	return rc;
}
