/* cmd_verify.c - `ktape verify`: options, help, output and exit codes. */
#include <getopt.h>
#include <inttypes.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_parse.h"

const char kt_usage_verify[] = "  ktape verify -a DIR [--deep] [--encrypt-key-file FILE] [--json] [--threads N]\n";
const char kt_help_verify[] =
	"\nChecks every segment file the catalog lists: that it exists, its size and footer\n"
	"CRC equal the catalog's, its footer is valid (the file is not truncated), every\n"
	"block's header and data checksums, and that the file's block index matches the\n"
	"catalog's. Also reports files under segments/ the catalog does not list, catalog\n"
	"entries whose file is missing, offsets the archive held once and can no longer\n"
	"deliver (missing ranges that reindex or recovery recorded: a segment file that is\n"
	"gone, the unreadable part of a damaged one), every run metadata file (meta/*.ktm)\n"
	"whose frame or checksum is bad, and the catalog's own integrity. Takes no lock.\n"
	"Each problem is one line: KIND PATH [block B] [byte P]: what is wrong.\n\n"
	"An encrypted archive (ktape dump --encrypt-key-file) is checked without its key by\n"
	"its CRCs, which cover the ciphertext: damage is found, tampering is not, and the\n"
	"summary says so. With the key, every block is also authenticated (its\n"
	"XChaCha20-Poly1305 tag): a block changed with its CRCs recomputed is a problem.\n\n"
	"Options:\n"
	"  -a, --archive DIR   archive directory, or s3://BUCKET/PREFIX\n" KT_CLI_S3_HELP
	"      --deep          also decode every record (slower, CPU-bound)\n"
	"      --encrypt-key-file FILE\n"
	"                      the key of an encrypted archive: authenticate every block\n"
	"      --json          print {\"status\", \"problems\": [{\"kind\", \"path\", \"block\", \"pos\",\n"
	"                      \"error\", \"message\"}], \"files\", \"blocks\", \"records\", \"bytes\",\n"
	"                      \"seconds\", \"mb_per_second\", \"missing_files\", \"extra_files\",\n"
	"                      \"damaged_files\", \"missing_ranges\", \"missing_offsets\",\n"
	"                      \"meta_files\", \"damaged_meta_files\", \"encrypted_files\",\n"
	"                      \"authenticated\"}\n"
	"      --threads N     files checked in parallel (default: one per CPU, at most 16)\n\n"
	"Exit codes: 0 all is well, 1 error, 2 usage, 5 problems found (damaged, missing or\n"
	"extra files, missing ranges, damaged metadata, catalog mismatch, a block that fails\n"
	"authentication), 7 archive not found, 12 the archive is encrypted with another key,\n"
	"130 interrupted.\n\n"
	"Examples:\n"
	"  ktape verify -a /backup/kafka\n"
	"  ktape verify -a /backup/kafka --deep --json > verify.json\n"
	"  ktape verify -a /backup/kafka --encrypt-key-file /etc/ktape/archive.key\n";

/* ---- verify ---- */

static const struct option verify_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"deep", no_argument, NULL, OPT_DEEP},
	{"json", no_argument, NULL, OPT_JSON},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"encrypt-key-file", required_argument, NULL, KT_CLI_OPT_KEY_FILE},
	{NULL, 0, NULL, 0},
};

struct verify_out {
	int json;
	struct kt_buf buf; /* JSON: the problems array */
	size_t count;
	size_t key_problems; /* of them, a file encrypted with another key */
	int authenticated;   /* a key was given: encrypted blocks were authenticated */
};

/* The reader's messages start with "block N at byte P: "; the line says
 * that already. */
static const char *strip_where(const char *msg)
{
	unsigned long long bn, bp;
	int n = 0;
	if (sscanf(msg, "block %llu at byte %llu: %n", &bn, &bp, &n) == 2 && n > 0)
		return msg + n;
	return msg;
}

static void verify_problem(void *ctx, const struct kt_inspect_problem *p)
{
	struct verify_out *vo = ctx;
	const char *msg = strip_where(p->msg);
	vo->key_problems += p->err == KT_ERR_KEY;
	if (!vo->json) {
		printf("%-7s %s", p->kind, p->path);
		if (p->block >= 0)
			printf(" block %" PRId64, p->block);
		if (p->pos >= 0)
			printf(" byte %" PRId64, p->pos);
		printf(": %s\n", msg);
		fflush(stdout);
		return;
	}
	struct kt_buf *b = &vo->buf;
	int f = 1;
	kt_cli_put(b, vo->count ? ",{" : "{");
	vo->count++;
	kt_cli_json_key(b, &f, "kind");
	kt_cli_json_str(b, p->kind);
	kt_cli_json_key(b, &f, "path");
	kt_cli_json_str(b, p->path);
	kt_cli_json_ts(b, &f, "block", p->block, p->block >= 0);
	kt_cli_json_ts(b, &f, "pos", p->pos, p->pos >= 0);
	kt_cli_json_key(b, &f, "error");
	kt_cli_json_str(b, kt_err_name(p->err));
	kt_cli_json_key(b, &f, "message");
	kt_cli_json_str(b, msg);
	kt_buf_append_u8(b, '}');
}

static double mb_per_s(const struct kt_inspect_verify_result *r)
{
	return r->seconds > 0 ? (double)r->bytes / 1e6 / r->seconds : 0;
}

static void verify_summary(const char *dir, const struct kt_inspect_verify_result *r, struct verify_out *vo)
{
	struct kt_buf b;
	kt_buf_init(&b, OUT_MAX);
	if (vo->json) {
		int f = 1;
		kt_buf_append_u8(&b, '{');
		kt_cli_json_key(&b, &f, "command");
		kt_cli_json_str(&b, "verify");
		kt_cli_json_key(&b, &f, "archive");
		kt_cli_json_str(&b, dir);
		kt_cli_json_key(&b, &f, "status");
		kt_cli_json_str(&b, r->problems ? "damaged" : "ok");
		kt_cli_json_key(&b, &f, "problems");
		kt_buf_append_u8(&b, '[');
		kt_buf_append(&b, vo->buf.data, vo->buf.len);
		kt_buf_append_u8(&b, ']');
		kt_cli_json_u64(&b, &f, "problem_count", r->problems);
		kt_cli_json_u64(&b, &f, "files", r->files);
		kt_cli_json_u64(&b, &f, "blocks", r->blocks);
		kt_cli_json_u64(&b, &f, "records", r->records);
		kt_cli_json_u64(&b, &f, "bytes", r->bytes);
		kt_cli_json_u64(&b, &f, "missing_files", r->missing_files);
		kt_cli_json_u64(&b, &f, "extra_files", r->extra_files);
		kt_cli_json_u64(&b, &f, "damaged_files", r->damaged_files);
		kt_cli_json_u64(&b, &f, "missing_ranges", r->missing_ranges);
		kt_cli_json_u64(&b, &f, "missing_offsets", r->missing_offsets);
		kt_cli_json_u64(&b, &f, "meta_files", r->meta_files);
		kt_cli_json_u64(&b, &f, "damaged_meta_files", r->damaged_meta);
		kt_cli_json_u64(&b, &f, "encrypted_files", r->encrypted_files);
		kt_cli_json_key(&b, &f, "authenticated");
		kt_cli_put(&b, vo->authenticated && r->encrypted_files ? "true" : "false");
		kt_buf_printf(&b, ",\"seconds\":%.3f,\"mb_per_second\":%.1f}\n", r->seconds, mb_per_s(r));
	} else {
		char size[32];
		kt_buf_printf(&b,
			      "verified %s: %" PRIu64 " file(s), %" PRIu64 " block(s), %" PRIu64
			      " records, %s in %.2f s "
			      "(%.0f MB/s)\n",
			      dir, r->files, r->blocks, r->records, kt_parse_format_size(r->bytes, size, sizeof(size)),
			      r->seconds, mb_per_s(r));
		if (r->problems)
			kt_buf_printf(&b,
				      "DAMAGED: %" PRIu64 " problem(s): %" PRIu64 " damaged file(s), %" PRIu64
				      " missing, %" PRIu64 " extra, %" PRIu64 " missing range(s) (%" PRIu64
				      " offsets), %" PRIu64 " damaged metadata file(s)\n",
				      r->problems, r->damaged_files, r->missing_files, r->extra_files,
				      r->missing_ranges, r->missing_offsets, r->damaged_meta);
		else
			kt_cli_put(&b, "OK: no problems found\n");
		/* said last, so that an OK above is read with it */
		if (r->encrypted_files && vo->authenticated)
			kt_buf_printf(&b,
				      "encrypted: %" PRIu64 " file(s); every block checked was also authenticated "
				      "with the key\n",
				      r->encrypted_files);
		else if (r->encrypted_files)
			kt_buf_printf(&b,
				      "encrypted: %" PRIu64 " file(s) checked by their CRCs only: no key was given "
				      "(--encrypt-key-file), so their authenticity was NOT checked\n",
				      r->encrypted_files);
	}
	kt_cli_write_out(&b);
	kt_buf_free(&b);
}

int kt_cmd_verify(int argc, char **argv)
{
	const char *dir = NULL;
	struct verify_out vo = {0, {0}, 0, 0, 0};
	struct kt_inspect_verify_opts o = {0};
	const char *key_file = NULL;
	struct kt_crypto_key *key = NULL;
	int64_t v;
	int rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:", verify_opts, NULL)) != -1) {
		switch (c) {
		case 'a': dir = optarg; break;
		case OPT_DEEP: o.deep = 1; break;
		case KT_CLI_OPT_KEY_FILE: key_file = optarg; break;
		case OPT_JSON: vo.json = 1; break;
		case OPT_THREADS:
			rc = kt_cli_parse_i64("verify", "--threads", optarg, 1, 256, &v);
			o.threads = (int)v;
			break;
		default: rc = kt_cli_s3_opt("verify", c, optarg); break;
		}
	}
	rc = kt_cli_finish_args("verify", rc, argc, argv, dir);
	struct kt_archive *a = NULL;
	if (!rc && key_file)
		rc = kt_cli_load_key("verify", key_file, &key);
	if (!rc)
		rc = kt_cli_open_archive("verify", dir, KT_ARCHIVE_READ, &a);
	if (!rc && key) {
		/* a wrong key fails here, before any file is read; without a key
		 * the CRCs are checked and the summary says so */
		struct kt_diag kd;
		enum kt_err kerr = kt_archive_use_key(a, key, 0, &kd);
		if (kerr)
			rc = kt_cli_fail("verify", kerr, &kd);
		vo.authenticated = 1;
	}
	if (rc) {
		kt_archive_close(a);
		kt_crypto_key_free(key);
		return rc;
	}
	kt_buf_init(&vo.buf, OUT_MAX);
	o.stop = &kt_cli_stop;
	o.on_problem = verify_problem;
	o.ctx = &vo;
	struct kt_inspect_verify_result res;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_inspect_verify(a, &o, &res, &d);
	if (err)
		rc = kt_cli_fail("verify", err, &d);
	else {
		verify_summary(kt_archive_dir(a), &res, &vo);
		rc = res.problems ? KT_EXIT_DAMAGED : KT_EXIT_OK;
		if (res.problems && res.problems == vo.key_problems)
			rc = KT_EXIT_KEY; /* only files of another key: not damage */
	}
	kt_buf_free(&vo.buf);
	kt_archive_close(a);
	kt_crypto_key_free(key);
	return rc;
}
