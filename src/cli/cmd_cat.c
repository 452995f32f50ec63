/* cmd_cat.c - `ktape cat`: options, help, output and exit codes. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_inspect.h"
#include "kt_cli_util.h"
#include "kt_keyset.h"
#include "kt_record_json.h"

#define CAT_FLUSH ((size_t)256 << 10)

const char kt_usage_cat[] = "  ktape cat -a DIR [-t TOPIC]... [-p N]... [--generation G]\n"
			    "            [--from-offset N] [--to-offset N] [--from-time T] [--to-time T]\n"
			    "            [--key K] [--drop-keys FILE] [--format json|FMT] [-n COUNT]\n"
			    "            [--encrypt-key-file FILE]\n";
const char kt_help_cat[] = "\nPrints archived records, partition by partition (topics by name, partitions in\n"
			   "order), each in offset order. Seeks through the catalog: only the blocks that can\n"
			   "hold selected records are read. Takes no lock.\n\n"
			   "Options:\n"
			   "  -a, --archive DIR    archive directory, or s3://BUCKET/PREFIX\n" KT_CLI_S3_HELP
			   "  -t, --topic NAME     a topic (repeatable; default: every archived topic)\n"
			   "  -p, --partition N    only partition N (repeatable)\n"
			   "      --generation G   generation of a recreated topic (default: the newest)\n"
			   "      --from-offset N  start at offset N\n"
			   "      --to-offset N    stop before offset N (N is not included, as in dump)\n"
			   "      --from-time T    only records with timestamp >= T\n"
			   "      --to-time T      only records with timestamp < T\n"
			   "                       Timestamps need not grow with offsets: a time window selects\n"
			   "                       exactly the records whose timestamp lies in it, in offset order.\n"
			   "      --key K          only records whose key is exactly K\n"
			   "      --drop-keys FILE leave out the records whose key is in FILE, an erasure list\n"
			   "                       as for restore --drop-keys (one key a line, base64:X for\n"
			   "                       binary keys); what a replay with that list would carry\n"
			   "  -f, --format FMT     json (default): one JSON object per line (topic, partition,\n"
			   "                       offset, timestamp, timestamp_type, key, value, headers as\n"
			   "                       [name, value] pairs; bytes that are not UTF-8 as\n"
			   "                       {\"base64\": ...}; null as null; format/SPEC.md section 9)\n"
			   "                       or a kcat-style format string:\n"
			   "                         %t topic  %p partition  %o offset  %T timestamp (ms)\n"
			   "                         %k key  %s value  %K %S key/value length (-1 for null)\n"
			   "                         %R value length as 4 big-endian bytes\n"
			   "                         %h headers as name=value,... (NULL for a null value)\n"
			   "                         \\n \\r \\t \\\\ \\xHH  and %% for a percent sign\n"
			   "                       Null keys and values print as nothing, as with kcat.\n"
			   "  -n, --count COUNT    stop after COUNT records in all\n"
			   "      --encrypt-key-file FILE\n"
			   "                       the key of an encrypted archive (see ktape dump); without it\n"
			   "                       cat of an encrypted archive fails with exit 2\n\n"
			   "Times T: 2026-11-22T10:00:00Z, 2026-11-22T10:00:00+09:00, 2026-11-22, @EPOCH_MS,\n"
			   "or relative: -90s, -30m, -24h, -7d.\n\n"
			   "A damaged block stops cat after every record before it was printed; the file,\n"
			   "block and byte position are named on stderr. Offsets the archive lost (missing\n"
			   "ranges, see ktape ls) are skipped, and named on stderr at the end with exit 4.\n\n"
			   "Exit codes: 0 ok, 1 error, 2 usage, 4 the selection spans missing ranges (every\n"
			   "readable record was printed), 5 damaged archive data, 7 archive, topic,\n"
			   "generation or partition not found, 10 newer archive version, 12 the archive is\n"
			   "encrypted with another key, 130 interrupted.\n\n"
			   "Examples:\n"
			   "  ktape cat -a /backup/kafka -t user-activities -p 0 --from-offset 1000 -n 10\n"
			   "  ktape cat -a /backup/kafka -t user-activities --from-time 2026-11-21T10:00:00Z \\\n"
			   "            --to-time 2026-11-21T11:00:00Z --key user-42\n"
			   "  ktape cat -a /backup/kafka -t orders --format '%k\\t%s\\n'\n";

/* ---- cat ---- */

/* past the shared inspect options (kt_cli_inspect.h) */
#define OPT_DROP_KEYS 1500

static const struct option cat_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"topic", required_argument, NULL, 't'},
	{"partition", required_argument, NULL, 'p'},
	{"generation", required_argument, NULL, OPT_GENERATION},
	{"from-offset", required_argument, NULL, OPT_FROM_OFFSET},
	{"to-offset", required_argument, NULL, OPT_TO_OFFSET},
	{"from-time", required_argument, NULL, OPT_FROM_TIME},
	{"to-time", required_argument, NULL, OPT_TO_TIME},
	{"key", required_argument, NULL, OPT_KEY},
	{"drop-keys", required_argument, NULL, OPT_DROP_KEYS},
	{"format", required_argument, NULL, 'f'},
	{"count", required_argument, NULL, 'n'},
	{"encrypt-key-file", required_argument, NULL, KT_CLI_OPT_KEY_FILE},
	{NULL, 0, NULL, 0},
};

struct cat_out;
typedef enum kt_err (*cat_write_fn)(const struct cat_out *co, struct kt_buf *b, const char *topic, int32_t partition,
				    const struct kt_record *rec);

struct cat_out {
	struct kt_buf buf;
	cat_write_fn write;
	struct kt_inspect_fmt *fmt; /* the kcat-style format string, compiled */
	int broken;		    /* writing to stdout failed */
	int write_errno;	    /* why: EPIPE when the reader went away */
};

static enum kt_err write_json(const struct cat_out *co, struct kt_buf *b, const char *topic, int32_t partition,
			      const struct kt_record *rec)
{
	(void)co;
	return kt_record_json(b, topic, partition, rec);
}

static enum kt_err write_fmt(const struct cat_out *co, struct kt_buf *b, const char *topic, int32_t partition,
			     const struct kt_record *rec)
{
	return kt_inspect_fmt_record(co->fmt, b, topic, partition, rec);
}

/* cat's named output formats: a new one is a write function and a row.
 * Any other --format value is a kcat-style format string (write_fmt). */
static const struct {
	const char *name;
	cat_write_fn write;
} cat_formats[] = {
	{"json", write_json},
};

static int cat_flush(struct cat_out *co)
{
	if (co->broken)
		return 1;
	if ((co->buf.len && fwrite(co->buf.data, 1, co->buf.len, stdout) != co->buf.len) || fflush(stdout) != 0) {
		co->broken = 1;
		co->write_errno = errno;
	}
	kt_buf_reset(&co->buf);
	return co->broken;
}

static int cat_record(void *ctx, const char *topic, int32_t partition, const struct kt_record *rec)
{
	struct cat_out *co = ctx;
	enum kt_err err = co->write(co, &co->buf, topic, partition, rec);
	if (err == KT_ERR_LIMIT) {
		/* one record larger than the buffer's cap: flush and retry once */
		cat_flush(co);
		err = co->write(co, &co->buf, topic, partition, rec);
	}
	if (err) {
		co->broken = 1;
		co->write_errno = ENOMEM;
		return 1;
	}
	return co->buf.len >= CAT_FLUSH ? cat_flush(co) : 0;
}

struct cat_args {
	const char *dir;
	const char *format;
	const char *key_file;
	const char *drop_file;
	const char **topics;
	int32_t *parts;
	struct kt_inspect_cat_opts o;
};

static int cat_parse_opt(struct cat_args *ca, int c)
{
	struct kt_inspect_cat_opts *o = &ca->o;
	int64_t v;
	int rc = 0;
	switch (c) {
	case 'a': ca->dir = optarg; break;
	case 't': ca->topics[o->topic_count++] = optarg; break;
	case 'p':
		rc = kt_cli_parse_i64("cat", "--partition", optarg, 0, INT32_MAX, &v);
		ca->parts[o->partition_count++] = (int32_t)v;
		break;
	case OPT_GENERATION: rc = kt_cli_parse_i64("cat", "--generation", optarg, 0, UINT32_MAX, &o->generation); break;
	case OPT_FROM_OFFSET:
		rc = kt_cli_parse_i64("cat", "--from-offset", optarg, 0, INT64_MAX, &o->from_offset);
		break;
	case OPT_TO_OFFSET: rc = kt_cli_parse_i64("cat", "--to-offset", optarg, 0, INT64_MAX, &o->to_offset); break;
	case OPT_FROM_TIME: rc = kt_cli_parse_time("cat", "--from-time", optarg, &o->from_ts); break;
	case OPT_TO_TIME: rc = kt_cli_parse_time("cat", "--to-time", optarg, &o->to_ts); break;
	case OPT_KEY:
		o->key_set = 1;
		o->key = (const uint8_t *)optarg;
		o->key_len = strlen(optarg);
		break;
	case 'f': ca->format = optarg; break;
	case KT_CLI_OPT_KEY_FILE: ca->key_file = optarg; break;
	case OPT_DROP_KEYS: ca->drop_file = optarg; break;
	case 'n':
		rc = kt_cli_parse_i64("cat", "--count", optarg, 1, INT64_MAX, &v);
		o->limit = (uint64_t)v;
		break;
	default: rc = kt_cli_s3_opt("cat", c, optarg); break;
	}
	return rc;
}

static int cat_check_args(const struct cat_args *ca)
{
	const struct kt_inspect_cat_opts *o = &ca->o;
	if (o->to_offset != INT64_MAX && o->to_offset <= o->from_offset)
		return kt_cli_usage_error("cat",
					  "--to-offset %" PRId64 " must be greater than --from-offset %" PRId64
					  " (the end is not included)",
					  o->to_offset, o->from_offset);
	if (o->to_ts != INT64_MAX && o->from_ts != INT64_MIN && o->to_ts <= o->from_ts)
		return kt_cli_usage_error("cat", "--to-time must be later than --from-time (the end is not included)");
	return 0;
}

/* Where the damaged data is, for the operator: the file's full path. */
static int cat_damaged(struct kt_archive *a, const struct kt_diag *d, uint64_t printed)
{
	char full[4096] = "", where[128] = "";
	if (d->path[0] == '/')
		snprintf(full, sizeof(full), "%s", d->path);
	else if (d->path[0])
		kt_archive_path(a, d->path, full, sizeof(full));
	if (d->block >= 0)
		snprintf(where, sizeof(where), ", block %" PRId64 ", byte %" PRId64, d->block, d->pos);
	fprintf(stderr, "ktape cat: damaged archive data: %s\n", d->msg[0] ? d->msg : "unreadable block");
	fprintf(stderr,
		"ktape cat: file %s%s; %" PRIu64 " record(s) printed before it ('ktape verify -a %s' checks the "
		"whole archive)\n",
		full[0] ? full : "(unknown)", where, printed, kt_archive_dir(a));
	return KT_EXIT_DAMAGED;
}

static int cat_run(struct cat_args *ca)
{
	struct cat_out co = {{0}, write_json, NULL, 0, 0};
	kt_buf_init(&co.buf, OUT_MAX);
	struct kt_diag d;
	kt_diag_clear(&d);
	int named = !ca->format;
	for (size_t i = 0; ca->format && i < sizeof(cat_formats) / sizeof(cat_formats[0]); i++)
		if (!strcmp(ca->format, cat_formats[i].name)) {
			co.write = cat_formats[i].write;
			named = 1;
		}
	if (!named) {
		co.write = write_fmt;
		enum kt_err err = kt_inspect_fmt_compile(ca->format, &co.fmt, &d);
		if (err) {
			kt_buf_free(&co.buf);
			return kt_cli_usage_error("cat", "--format '%s': %s", ca->format, d.msg);
		}
	}
	struct kt_archive *a = NULL;
	struct kt_crypto_key *key = NULL;
	struct kt_keyset *drop = NULL;
	int rc = ca->key_file ? kt_cli_load_key("cat", ca->key_file, &key) : 0;
	if (!rc && ca->drop_file && kt_keyset_load_file(ca->drop_file, &drop, NULL, NULL, &d))
		rc = kt_cli_usage_error("cat", "--drop-keys: %s", d.msg);
	ca->o.drop_keys = drop;
	if (!rc)
		rc = kt_cli_open_archive("cat", ca->dir, KT_ARCHIVE_READ, &a);
	if (!rc) {
		enum kt_err err = kt_archive_use_key(a, key, 0, &d);
		if (err)
			rc = kt_cli_fail("cat", err, &d);
	}
	if (!rc) {
		ca->o.topics = ca->topics;
		ca->o.partitions = ca->parts;
		ca->o.stop = &kt_cli_stop;
		ca->o.on_record = cat_record;
		ca->o.ctx = &co;
		struct kt_inspect_cat_result res;
		enum kt_err err = kt_inspect_cat(a, &ca->o, &res, &d);
		cat_flush(&co);
		if (err && res.damaged)
			rc = cat_damaged(a, &d, res.records);
		else if (err)
			rc = kt_cli_fail("cat", err, &d);
		else if (co.broken && co.write_errno != EPIPE) { /* a reader that left early is no error */
			fprintf(stderr, "ktape cat: cannot write to standard output: %s\n", strerror(co.write_errno));
			rc = KT_EXIT_ERROR;
		}
	}
	kt_archive_close(a);
	kt_crypto_key_free(key);
	kt_keyset_free(drop);
	kt_inspect_fmt_free(co.fmt);
	kt_buf_free(&co.buf);
	return rc;
}

int kt_cmd_cat(int argc, char **argv)
{
	struct cat_args ca = {0};
	ca.topics = calloc((size_t)argc + 1, sizeof(*ca.topics));
	ca.parts = calloc((size_t)argc + 1, sizeof(*ca.parts));
	ca.o.generation = -1;
	ca.o.to_offset = INT64_MAX;
	ca.o.from_ts = INT64_MIN;
	ca.o.to_ts = INT64_MAX;
	int rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:t:p:f:n:", cat_opts, NULL)) != -1)
		rc = cat_parse_opt(&ca, c);
	rc = kt_cli_finish_args("cat", rc, argc, argv, ca.dir);
	if (!rc)
		rc = cat_check_args(&ca);
	if (!rc)
		rc = cat_run(&ca);
	free(ca.topics);
	free(ca.parts);
	return rc;
}
