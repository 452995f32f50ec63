/* cmd_inspect.c - `ktape ls`, `cat`, `verify`, `prune`, `reindex`: their
 * options, help, human, JSON and HTML output, and exit codes. The work is
 * done by the inspect engine (src/inspect/kt_inspect.h); nothing here
 * touches the cluster. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kt_buf.h"
#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_util.h"
#include "kt_fileio.h"
#include "kt_inspect.h"
#include "kt_json.h"
#include "kt_parse.h"
#include "kt_record_json.h"

#define OUT_MAX	  ((size_t)1 << 30) /* cap of one rendered document */
#define CAT_FLUSH ((size_t)256 << 10)

/* ---- usage and help ---- */

const char kt_usage_ls[] = "  ktape ls -a DIR [-t TOPIC]... [--runs] [--json] [--html FILE]\n";
const char kt_help_ls[] =
	"\nShows, per topic (and generation) and partition, the archived offset ranges with\n"
	"their records, sizes and time spans, the gaps between them (offsets no dump read)\n"
	"and the ranges lost to retention (deleted by Kafka before a dump read them). Offsets\n"
	"a dump read that held no record (transaction markers, compacted records) are not\n"
	"gaps. Reads the catalog only; takes no lock, so it works while a dump runs.\n\n"
	"Options:\n"
	"  -a, --archive DIR   archive directory\n"
	"  -t, --topic NAME    only this topic (repeatable)\n"
	"      --runs          also list the runs (dump, restore, prune) that changed the archive\n"
	"      --json          print JSON instead of the table (runs always included)\n"
	"      --html FILE     also write a self-contained HTML report with a timeline per\n"
	"                      partition (no external resources; open it in any browser)\n\n"
	"Kinds in the table: range (archived), gap (offsets no dump read), lost (deleted by\n"
	"retention before a dump read them), missing (archived once, but the archive can no\n"
	"longer deliver them: a segment file that is gone or damaged; listed with the file\n"
	"and the reason below the table). Offsets are inclusive (a..b).\n\n"
	"JSON (stable; new keys may be added, none removed or renamed):\n"
	"  {\"archive\", \"archive_id\", \"totals\": SUMS + {\"topics\", \"partitions\"},\n"
	"   \"topics\": [{\"topic\", \"generation\", \"cluster_partitions\" (null if unknown), \"totals\": SUMS,\n"
	"     \"partitions\": [{\"partition\", \"first_offset\", \"last_offset\", \"end_offset\", \"totals\": SUMS,\n"
	"       \"ranges\": [{\"first_offset\", \"last_offset\", \"end_offset\", \"offsets\", \"segments\",\n"
	"                   \"records\", \"compressed_bytes\", \"raw_bytes\", \"payload_bytes\",\n"
	"                   \"min_timestamp\", \"max_timestamp\", \"min_time\", \"max_time\"}],\n"
	"       \"gaps\": [{\"first_offset\", \"last_offset\", \"offsets\"}],\n"
	"       \"lost\": [{\"first_offset\", \"last_offset\", \"offsets\", \"run_id\"}],\n"
	"       \"missing\": [{\"first_offset\", \"last_offset\", \"offsets\", \"path\", \"reason\"}]}]}],\n"
	"   \"runs\": [{\"run_id\", \"kind\", \"status\", \"started_ms\", \"started\", \"ended_ms\",\n"
	"             \"duration_seconds\", \"records\", \"bytes\", \"message\"}]}\n"
	"  SUMS = {\"segments\", \"records\", \"compressed_bytes\", \"raw_bytes\", \"payload_bytes\", \"gaps\",\n"
	"          \"gap_offsets\", \"lost_ranges\", \"lost_offsets\", \"missing_ranges\", \"missing_offsets\",\n"
	"          \"min_timestamp\", \"max_timestamp\"}\n"
	"  Offsets: first/last inclusive, end exclusive (end_offset: where dumps got to, the\n"
	"  next incremental dump starts there). Timestamps in ms since the epoch, times in\n"
	"  ISO 8601 UTC; null when there is no record. Ranges, gaps, lost and missing are by\n"
	"  offset.\n\n"
	"Exit codes: 0 ok (also when there are gaps), 1 error, 2 usage, 7 archive or topic\n"
	"not found, 10 archive written by a newer ktape.\n\n"
	"Examples:\n"
	"  ktape ls -a /backup/kafka\n"
	"  ktape ls -a /backup/kafka -t user-activities --runs\n"
	"  ktape ls -a /backup/kafka --json | jq '.totals.gap_offsets'\n"
	"  ktape ls -a /backup/kafka --html /var/www/ktape.html\n";

const char kt_usage_cat[] = "  ktape cat -a DIR [-t TOPIC]... [-p N]... [--generation G]\n"
			    "            [--from-offset N] [--to-offset N] [--from-time T] [--to-time T]\n"
			    "            [--key K] [--format json|FMT] [-n COUNT]\n";
const char kt_help_cat[] = "\nPrints archived records, partition by partition (topics by name, partitions in\n"
			   "order), each in offset order. Seeks through the catalog: only the blocks that can\n"
			   "hold selected records are read. Takes no lock.\n\n"
			   "Options:\n"
			   "  -a, --archive DIR    archive directory\n"
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
			   "  -n, --count COUNT    stop after COUNT records in all\n\n"
			   "Times T: 2026-11-22T10:00:00Z, 2026-11-22T10:00:00+09:00, 2026-11-22, @EPOCH_MS,\n"
			   "or relative: -90s, -30m, -24h, -7d.\n\n"
			   "A damaged block stops cat after every record before it was printed; the file,\n"
			   "block and byte position are named on stderr. Offsets the archive lost (missing\n"
			   "ranges, see ktape ls) are skipped, and named on stderr at the end with exit 4.\n\n"
			   "Exit codes: 0 ok, 1 error, 2 usage, 4 the selection spans missing ranges (every\n"
			   "readable record was printed), 5 damaged archive data, 7 archive, topic,\n"
			   "generation or partition not found, 10 newer archive version, 130 interrupted.\n\n"
			   "Examples:\n"
			   "  ktape cat -a /backup/kafka -t user-activities -p 0 --from-offset 1000 -n 10\n"
			   "  ktape cat -a /backup/kafka -t user-activities --from-time 2026-11-21T10:00:00Z \\\n"
			   "            --to-time 2026-11-21T11:00:00Z --key user-42\n"
			   "  ktape cat -a /backup/kafka -t orders --format '%k\\t%s\\n'\n";

const char kt_usage_verify[] = "  ktape verify -a DIR [--deep] [--json] [--threads N]\n";
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
	"Options:\n"
	"  -a, --archive DIR   archive directory\n"
	"      --deep          also decode every record (slower, CPU-bound)\n"
	"      --json          print {\"status\", \"problems\": [{\"kind\", \"path\", \"block\", \"pos\",\n"
	"                      \"error\", \"message\"}], \"files\", \"blocks\", \"records\", \"bytes\",\n"
	"                      \"seconds\", \"mb_per_second\", \"missing_files\", \"extra_files\",\n"
	"                      \"damaged_files\", \"missing_ranges\", \"missing_offsets\",\n"
	"                      \"meta_files\", \"damaged_meta_files\"}\n"
	"      --threads N     files checked in parallel (default: one per CPU, at most 16)\n\n"
	"Exit codes: 0 all is well, 1 error, 2 usage, 5 problems found (damaged, missing or\n"
	"extra files, missing ranges, damaged metadata, catalog mismatch), 7 archive not\n"
	"found, 130 interrupted.\n\n"
	"Examples:\n"
	"  ktape verify -a /backup/kafka\n"
	"  ktape verify -a /backup/kafka --deep --json > verify.json\n";

const char kt_usage_prune[] =
	"  ktape prune -a DIR (--keep-days N | --keep-runs N | --before T) [--dry-run] [--json]\n";
const char kt_help_prune[] =
	"\nRemoves whole segments no longer needed under one policy:\n"
	"  --keep-days N   remove segments whose newest record is older than N days\n"
	"  --before T      remove segments whose newest record is older than T\n"
	"  --keep-runs N   keep the segments written by the N most recent dump runs that\n"
	"                  reached the cluster, and in each partition everything after the\n"
	"                  oldest of them\n"
	"Safety rules, whatever the policy: only the oldest segments of a partition are\n"
	"removed (a segment goes only when every segment before it goes too), so each\n"
	"partition stays one contiguous tail; a partition's newest segment is never\n"
	"removed; the partitions' dump progress is kept, so the next incremental dump\n"
	"starts where it would have. The catalog forgets the segments first (one\n"
	"transaction), then the files are removed and the directories fsynced; a crash in\n"
	"between leaves files the next dump indexes again (nothing is lost). The prune is\n"
	"recorded as a run (ktape ls --runs).\n\n"
	"Options:\n"
	"  -a, --archive DIR   archive directory (takes the writer lock)\n"
	"      --dry-run       show what would be removed; changes nothing, takes no lock\n"
	"      --json          print {\"command\", \"dry_run\", \"run_id\", \"segments_removed\",\n"
	"                      \"records\", \"bytes\", \"segments_kept\", \"partitions\": [{\"topic\",\n"
	"                      \"generation\", \"partition\", \"segments\", \"first_offset\",\n"
	"                      \"last_offset\", \"new_first_offset\"}], \"files\": [{\"path\", ...}]}\n\n"
	"Exit codes: 0 ok (also when nothing was removed), 1 error (e.g. a file could not be\n"
	"removed), 2 usage, 3 archive locked by another ktape process, 7 archive not found.\n\n"
	"Examples:\n"
	"  ktape prune -a /backup/kafka --keep-days 30 --dry-run\n"
	"  ktape prune -a /backup/kafka --keep-runs 7\n"
	"  ktape prune -a /backup/kafka --before 2026-01-01\n";

const char kt_usage_reindex[] = "  ktape reindex -a DIR [--json]\n";
const char kt_help_reindex[] = "\nRebuilds catalog.db from the segment files (their footers) and the run metadata\n"
			       "files (meta/*.ktm) alone, for when the catalog is lost or damaged. The new catalog\n"
			       "is built aside and renamed over the old one. A damaged segment file is indexed as\n"
			       "far as its blocks can be read; what it held beyond them, and every segment file a\n"
			       "run committed that is gone, is recorded as missing (ktape ls and verify show it).\n"
			       "Damaged files are named on stderr.\n\n"
			       "Options:\n"
			       "  -a, --archive DIR   archive directory (takes the writer lock)\n"
			       "      --json          print {\"command\", \"segments\", \"runs\", \"damaged_files\",\n"
			       "                      \"unreadable_files\", \"bad_meta_files\", \"missing_ranges\",\n"
			       "                      \"missing_offsets\"}\n\n"
			       "Exit codes: 0 ok, 1 error, 2 usage, 3 archive locked by another ktape process,\n"
			       "5 rebuilt, but the archive has missing ranges or damaged files, 7 not an archive,\n"
			       "10 newer archive version.\n\n"
			       "Example:\n"
			       "  ktape reindex -a /backup/kafka\n";

/* ---- shared ---- */

enum {
	OPT_RUNS = 1000,
	OPT_JSON,
	OPT_HTML,
	OPT_GENERATION,
	OPT_FROM_OFFSET,
	OPT_TO_OFFSET,
	OPT_FROM_TIME,
	OPT_TO_TIME,
	OPT_KEY,
	OPT_DEEP,
	OPT_THREADS,
	OPT_KEEP_DAYS,
	OPT_KEEP_RUNS,
	OPT_BEFORE,
	OPT_DRY_RUN,
};

static int open_archive(const char *cmd, const char *dir, enum kt_archive_mode mode, struct kt_archive **out)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_archive_open(dir, mode, out, NULL, &d);
	return err ? kt_cli_fail(cmd, err, &d) : 0;
}

static int finish_args(const char *cmd, int rc, int argc, char **argv, const char *archive)
{
	if (!rc && optind < argc)
		rc = kt_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!rc && !archive)
		rc = kt_cli_usage_error(cmd, "-a/--archive DIR is required");
	return rc;
}

static void put(struct kt_buf *b, const char *s)
{
	kt_buf_append(b, s, strlen(s));
}

static void write_out(struct kt_buf *b)
{
	kt_cli_write_stdout(b);
	fflush(stdout);
}

/* Byte values from the catalog are text; bytes that are not UTF-8 (which
 * ktape never writes) still give valid JSON. */
static void json_str(struct kt_buf *b, const char *s)
{
	if (!s)
		put(b, "null");
	else
		kt_json_bytes(b, (const uint8_t *)s, strlen(s), 0);
}

static void json_key(struct kt_buf *b, int *first, const char *key)
{
	kt_buf_printf(b, "%s\"%s\":", *first ? "" : ",", key);
	*first = 0;
}

static void json_i64(struct kt_buf *b, int *first, const char *key, int64_t v)
{
	json_key(b, first, key);
	kt_buf_printf(b, "%" PRId64, v);
}

static void json_u64(struct kt_buf *b, int *first, const char *key, uint64_t v)
{
	json_key(b, first, key);
	kt_buf_printf(b, "%" PRIu64, v);
}

static void json_ts(struct kt_buf *b, int *first, const char *key, int64_t ts, int valid)
{
	json_key(b, first, key);
	if (valid)
		kt_buf_printf(b, "%" PRId64, ts);
	else
		put(b, "null");
}

static void json_time(struct kt_buf *b, int *first, const char *key, int64_t ts, int valid)
{
	char t[KT_TIME_STR_MAX];
	json_key(b, first, key);
	if (valid)
		kt_buf_printf(b, "\"%s\"", kt_format_time(ts, t));
	else
		put(b, "null");
}

static const char *time_or_dash(int64_t ts, int valid, char *buf)
{
	return valid ? kt_format_time(ts, buf) : "-";
}

static const char *duration_str(int64_t ms, char *buf, size_t size)
{
	if (ms < 0)
		snprintf(buf, size, "-");
	else if (ms < 60000)
		snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
	else if (ms < 3600000)
		snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", ms / 60000, ms / 1000 % 60);
	else
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
	return buf;
}

/* "2 gap(s) (150 offsets no dump read), 1 range(s) lost to retention (...)" */
static const char *warning_text(const struct kt_inspect_sums *s, char *buf, size_t size)
{
	int n = 0;
	buf[0] = '\0';
	if (s->gaps)
		n = snprintf(buf, size, "%" PRIu64 " gap(s) (%" PRIu64 " offsets no dump read)", s->gaps,
			     s->gap_offsets);
	if (s->lost_ranges && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n,
			      "%s%" PRIu64 " range(s) lost to retention (%" PRIu64 " offsets)", n ? ", " : "",
			      s->lost_ranges, s->lost_offsets);
	if (s->missing_ranges && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n,
			 "%s%" PRIu64 " range(s) missing from the archive (%" PRIu64
			 " offsets archived once that cannot be read; 'ktape verify' names them)",
			 n ? ", " : "", s->missing_ranges, s->missing_offsets);
	return buf;
}

/* ---- aligned text tables ---- */

#define TABLE_MAX_COLS 12

struct table {
	int ncols;
	const char *align; /* per column: 'l' or 'r' */
	char **cells;	   /* row-major */
	size_t nrows, cap;
	size_t width[TABLE_MAX_COLS];
};

static void table_row(struct table *t, ...)
{
	if (t->nrows == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		char **n = realloc(t->cells, nc * (size_t)t->ncols * sizeof(*n));
		if (!n)
			return;
		t->cells = n;
		t->cap = nc;
	}
	va_list ap;
	va_start(ap, t);
	for (int c = 0; c < t->ncols; c++) {
		const char *s = va_arg(ap, const char *);
		char *d = strdup(s ? s : "");
		t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = d;
		size_t w = d ? strlen(d) : 0;
		if (w > t->width[c])
			t->width[c] = w;
	}
	va_end(ap);
	t->nrows++;
}

static void table_print(struct table *t, struct kt_buf *b)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
			s = s ? s : "";
			int last = c == t->ncols - 1;
			if (t->align[c] == 'r')
				kt_buf_printf(b, "%*s", (int)t->width[c], s);
			else if (last)
				kt_buf_printf(b, "%s", s);
			else
				kt_buf_printf(b, "%-*s", (int)t->width[c], s);
			if (!last)
				put(b, "  ");
		}
		/* no trailing blanks: a last column left empty leaves them */
		while (b->len && b->data[b->len - 1] == ' ')
			b->len--;
		kt_buf_append_u8(b, '\n');
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* ---- ls: human ---- */

static int has_ts(const struct kt_inspect_span *s)
{
	return s->records > 0 && s->min_ts != INT64_MAX && s->min_ts >= 0;
}

static void ls_span_row(struct table *t, const struct kt_inspect_topic *tp, const struct kt_inspect_partition *p,
			const struct kt_inspect_span *s)
{
	char gen[16], part[16], offs[64], count[32], recs[32], size[32], raw[32], t1[KT_TIME_STR_MAX],
		t2[KT_TIME_STR_MAX];
	snprintf(gen, sizeof(gen), "%" PRIu32, tp->generation);
	snprintf(part, sizeof(part), "%" PRId32, p->partition);
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	snprintf(offs, sizeof(offs), "%" PRId64 "..%" PRId64, s->first, last);
	snprintf(count, sizeof(count), "%" PRId64, last - s->first + 1);
	if (s->kind != KT_INSPECT_RANGE) {
		table_row(t, tp->topic, gen, part, kt_inspect_span_kind_name(s->kind), offs, count, "-", "-", "-", "-",
			  "-");
		return;
	}
	snprintf(recs, sizeof(recs), "%" PRIu64, s->records);
	table_row(t, tp->topic, gen, part, "range", offs, count, recs,
		  kt_format_size(s->file_bytes, size, sizeof(size)), kt_format_size(s->raw_bytes, raw, sizeof(raw)),
		  time_or_dash(s->min_ts, has_ts(s), t1), time_or_dash(s->max_ts, has_ts(s), t2));
}

static void ls_header(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	char size[32], raw[32], t1[KT_TIME_STR_MAX], t2[KT_TIME_STR_MAX];
	const struct kt_inspect_sums *s = &ls->sums;
	kt_buf_printf(b,
		      "archive %s (id %s): %zu topic(s), %zu partition(s), %" PRIu64 " segment(s), %" PRIu64
		      " records, %s on disk, %s raw\n",
		      dir, ls->archive_id[0] ? ls->archive_id : "unknown", ls->topic_count, ls->partition_count,
		      s->segments, s->records, kt_format_size(s->file_bytes, size, sizeof(size)),
		      kt_format_size(s->raw_bytes, raw, sizeof(raw)));
	if (s->records && s->min_ts != INT64_MAX && s->min_ts >= 0)
		kt_buf_printf(b, "records from %s to %s\n", kt_format_time(s->min_ts, t1),
			      kt_format_time(s->max_ts, t2));
	kt_buf_append_u8(b, '\n');
}

/* A partition that dumps read but that held no record. */
static void ls_empty_row(struct table *t, const struct kt_inspect_topic *tp, const struct kt_inspect_partition *p)
{
	char gen[16], part[16], done[48];
	snprintf(gen, sizeof(gen), "%" PRIu32, tp->generation);
	snprintf(part, sizeof(part), "%" PRId32, p->partition);
	snprintf(done, sizeof(done), "(read up to %" PRId64 ")", p->done_end);
	table_row(t, tp->topic, gen, part, "empty", done, "-", "0", "-", "-", "-", "-");
}

static void ls_runs_table(const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	char t1[KT_TIME_STR_MAX], size[32];
	struct table rt = {8, "rllrlrrl", NULL, 0, 0, {0}};
	table_row(&rt, "RUN", "KIND", "STARTED", "DURATION", "STATUS", "RECORDS", "BYTES", "MESSAGE");
	for (size_t i = 0; i < ls->run_count; i++) {
		const struct kt_inspect_run *r = &ls->runs[i];
		char id[24], recs[24], dur[32];
		snprintf(id, sizeof(id), "%" PRId64, r->run_id);
		snprintf(recs, sizeof(recs), "%" PRId64, r->records);
		table_row(&rt, id, r->kind, kt_format_time(r->started_ms, t1),
			  duration_str(r->ended_ms >= 0 ? r->ended_ms - r->started_ms : -1, dur, sizeof(dur)),
			  r->status, recs, kt_format_size((uint64_t)(r->bytes > 0 ? r->bytes : 0), size, sizeof(size)),
			  r->message ? r->message : "");
	}
	table_print(&rt, b);
	table_free(&rt);
}

/* Each missing range with its file and reason: the table has no room. */
static void ls_missing_list(const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	put(b, "\nMISSING (archived once, cannot be read):\n");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *tp = &ls->topics[i];
		for (size_t k = 0; k < tp->part_count; k++) {
			const struct kt_inspect_partition *p = &tp->parts[k];
			for (size_t x = 0; x < p->span_count; x++) {
				const struct kt_inspect_span *s = &p->spans[x];
				if (s->kind != KT_INSPECT_MISSING)
					continue;
				kt_buf_printf(b, "  %s/%" PRId32 " offsets %" PRId64 "..%" PRId64 ": %s: %s\n",
					      tp->topic, p->partition, s->first, s->end - 1, s->path, s->reason);
			}
		}
	}
}

static void ls_human(const char *dir, const struct kt_inspect_ls *ls, int runs, struct kt_buf *b)
{
	ls_header(dir, ls, b);
	struct table t = {11, "lrrllrrrrll", NULL, 0, 0, {0}};
	table_row(&t, "TOPIC", "GEN", "PART", "KIND", "OFFSETS", "COUNT", "RECORDS", "SIZE", "RAW", "FIRST TIMESTAMP",
		  "LAST TIMESTAMP");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *tp = &ls->topics[i];
		for (size_t k = 0; k < tp->part_count; k++) {
			const struct kt_inspect_partition *p = &tp->parts[k];
			for (size_t x = 0; x < p->span_count; x++)
				ls_span_row(&t, tp, p, &p->spans[x]);
			if (p->sums.segments == 0)
				ls_empty_row(&t, tp, p);
		}
	}
	table_print(&t, b);
	table_free(&t);
	if (ls->sums.missing_ranges)
		ls_missing_list(ls, b);
	if (ls->sums.gaps || ls->sums.lost_ranges || ls->sums.missing_ranges) {
		char w[512];
		put(b, "\nWARNING: ");
		put(b, warning_text(&ls->sums, w, sizeof(w)));
		put(b, "\n");
	}
	if (runs) {
		kt_buf_append_u8(b, '\n');
		ls_runs_table(ls, b);
	}
}

/* ---- ls: JSON ---- */

static void json_sums(struct kt_buf *b, int *first, const struct kt_inspect_sums *s)
{
	int valid = s->records > 0 && s->min_ts != INT64_MAX;
	json_u64(b, first, "segments", s->segments);
	json_u64(b, first, "records", s->records);
	json_u64(b, first, "compressed_bytes", s->file_bytes);
	json_u64(b, first, "raw_bytes", s->raw_bytes);
	json_u64(b, first, "payload_bytes", s->payload_bytes);
	json_u64(b, first, "gaps", s->gaps);
	json_u64(b, first, "gap_offsets", s->gap_offsets);
	json_u64(b, first, "lost_ranges", s->lost_ranges);
	json_u64(b, first, "lost_offsets", s->lost_offsets);
	json_u64(b, first, "missing_ranges", s->missing_ranges);
	json_u64(b, first, "missing_offsets", s->missing_offsets);
	json_ts(b, first, "min_timestamp", s->min_ts, valid);
	json_ts(b, first, "max_timestamp", s->max_ts, valid);
}

static void json_span(struct kt_buf *b, const struct kt_inspect_span *s)
{
	int f = 1;
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	kt_buf_append_u8(b, '{');
	json_i64(b, &f, "first_offset", s->first);
	json_i64(b, &f, "last_offset", last);
	if (s->kind == KT_INSPECT_RANGE) {
		int valid = s->records > 0 && s->min_ts != INT64_MAX;
		json_i64(b, &f, "end_offset", s->end);
		json_i64(b, &f, "offsets", s->last - s->first + 1);
		json_u64(b, &f, "segments", s->segments);
		json_u64(b, &f, "records", s->records);
		json_u64(b, &f, "compressed_bytes", s->file_bytes);
		json_u64(b, &f, "raw_bytes", s->raw_bytes);
		json_u64(b, &f, "payload_bytes", s->payload_bytes);
		json_ts(b, &f, "min_timestamp", s->min_ts, valid);
		json_ts(b, &f, "max_timestamp", s->max_ts, valid);
		json_time(b, &f, "min_time", s->min_ts, valid && s->min_ts >= 0);
		json_time(b, &f, "max_time", s->max_ts, valid && s->max_ts >= 0);
	} else {
		json_i64(b, &f, "offsets", s->end - s->first);
		if (s->kind == KT_INSPECT_LOST)
			json_i64(b, &f, "run_id", s->run_id);
		if (s->kind == KT_INSPECT_MISSING) {
			json_key(b, &f, "path");
			json_str(b, s->path);
			json_key(b, &f, "reason");
			json_str(b, s->reason);
		}
	}
	kt_buf_append_u8(b, '}');
}

static void json_spans(struct kt_buf *b, const char *key, const struct kt_inspect_partition *p,
		       enum kt_inspect_span_kind kind)
{
	kt_buf_printf(b, ",\"%s\":[", key);
	int n = 0;
	for (size_t i = 0; i < p->span_count; i++) {
		if (p->spans[i].kind != kind)
			continue;
		if (n++)
			kt_buf_append_u8(b, ',');
		json_span(b, &p->spans[i]);
	}
	kt_buf_append_u8(b, ']');
}

static void json_partition(struct kt_buf *b, const struct kt_inspect_partition *p)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	json_i64(b, &f, "partition", p->partition);
	json_ts(b, &f, "first_offset", p->first, p->first >= 0);
	json_ts(b, &f, "last_offset", p->last, p->last >= 0);
	json_ts(b, &f, "end_offset", p->done_end, p->done_end >= 0);
	json_key(b, &f, "totals");
	int g = 1;
	kt_buf_append_u8(b, '{');
	json_sums(b, &g, &p->sums);
	kt_buf_append_u8(b, '}');
	json_spans(b, "ranges", p, KT_INSPECT_RANGE);
	json_spans(b, "gaps", p, KT_INSPECT_GAP);
	json_spans(b, "lost", p, KT_INSPECT_LOST);
	json_spans(b, "missing", p, KT_INSPECT_MISSING);
	kt_buf_append_u8(b, '}');
}

static void json_run(struct kt_buf *b, const struct kt_inspect_run *r)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	json_i64(b, &f, "run_id", r->run_id);
	json_key(b, &f, "kind");
	json_str(b, r->kind);
	json_key(b, &f, "status");
	json_str(b, r->status);
	json_i64(b, &f, "started_ms", r->started_ms);
	json_time(b, &f, "started", r->started_ms, r->started_ms >= 0);
	json_ts(b, &f, "ended_ms", r->ended_ms, r->ended_ms >= 0);
	json_key(b, &f, "duration_seconds");
	if (r->ended_ms >= 0)
		kt_buf_printf(b, "%.3f", (double)(r->ended_ms - r->started_ms) / 1000.0);
	else
		put(b, "null");
	json_i64(b, &f, "records", r->records);
	json_i64(b, &f, "bytes", r->bytes);
	json_key(b, &f, "message");
	json_str(b, r->message);
	kt_buf_append_u8(b, '}');
}

static void ls_json(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	json_key(b, &f, "archive");
	json_str(b, dir);
	json_key(b, &f, "archive_id");
	json_str(b, ls->archive_id[0] ? ls->archive_id : NULL);
	json_key(b, &f, "totals");
	int g = 1;
	kt_buf_append_u8(b, '{');
	json_u64(b, &g, "topics", ls->topic_count);
	json_u64(b, &g, "partitions", ls->partition_count);
	json_sums(b, &g, &ls->sums);
	put(b, "},\"topics\":[");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *t = &ls->topics[i];
		int h = 1;
		put(b, i ? ",{" : "{");
		json_key(b, &h, "topic");
		json_str(b, t->topic);
		json_u64(b, &h, "generation", t->generation);
		json_ts(b, &h, "cluster_partitions", t->cluster_partitions, t->cluster_partitions >= 0);
		json_key(b, &h, "totals");
		int k = 1;
		kt_buf_append_u8(b, '{');
		json_sums(b, &k, &t->sums);
		put(b, "},\"partitions\":[");
		for (size_t p = 0; p < t->part_count; p++) {
			if (p)
				kt_buf_append_u8(b, ',');
			json_partition(b, &t->parts[p]);
		}
		put(b, "]}");
	}
	put(b, "],\"runs\":[");
	for (size_t i = 0; i < ls->run_count; i++) {
		if (i)
			kt_buf_append_u8(b, ',');
		json_run(b, &ls->runs[i]);
	}
	put(b, "]}\n");
}

/* ---- ls: HTML ---- */

static void html_esc(struct kt_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': put(b, "&amp;"); break;
		case '<': put(b, "&lt;"); break;
		case '>': put(b, "&gt;"); break;
		case '"': put(b, "&quot;"); break;
		case '\'': put(b, "&#39;"); break;
		default: kt_buf_append_u8(b, (uint8_t)*s);
		}
	}
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>ktape archive report</title>\n<style>\n"
	"body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1b1f24;background:#fff}\n"
	"h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}h2 "
	"small{font-weight:normal;color:#57606a}\n"
	".meta{color:#57606a;margin:0 0 12px}.warn{color:#b42318;font-weight:600}\n"
	".legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:14px;height:10px;"
	"margin-right:4px;vertical-align:middle;border:1px solid #0003}\n"
	".partition{margin:6px 0 14px}.plabel{font-size:13px;color:#24292f}.plabel b{display:inline-block;"
	"min-width:48px}\n"
	"svg.timeline{display:block;width:100%;max-width:1100px;height:auto;background:#f6f8fa;border-radius:4px}\n"
	"svg text{font:11px ui-monospace,SFMono-Regular,Menlo,monospace;fill:#57606a}\n"
	"rect.range{fill:#2da44e}rect.gap{fill:url(#kt-gap)}rect.lost{fill:url(#kt-lost)}rect.missing{fill:#6e40c9}\n"
	"rect.span:hover{stroke:#1b1f24;stroke-width:1}\n"
	"table{border-collapse:collapse;margin-top:8px;font-size:13px}th,td{padding:3px 10px;text-align:left;"
	"border-bottom:1px solid #d0d7de;white-space:nowrap}td:last-child{white-space:normal}\n"
	"td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
	"tr.failed td,tr.crashed td,tr.data_lost td{color:#b42318}\n"
	"</style>\n</head>\n<body>\n"
	"<svg width=\"0\" height=\"0\" style=\"position:absolute\" aria-hidden=\"true\"><defs>"
	"<pattern id=\"kt-gap\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
	"patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ffebe9\"/>"
	"<rect width=\"3\" height=\"6\" fill=\"#cf222e\"/></pattern>"
	"<pattern id=\"kt-lost\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
	"patternTransform=\"rotate(-45)\"><rect width=\"6\" height=\"6\" fill=\"#fff1e5\"/>"
	"<rect width=\"3\" height=\"6\" fill=\"#bc4c00\"/></pattern></defs></svg>\n";

#define TL_W	1000.0
#define TL_PAD	8.0
#define TL_BARY 16
#define TL_BARH 22
#define TL_H	56

struct timeline {
	int64_t lo, hi;
	double last_top, last_bottom; /* right end of the last label above / below the bar */
};

static double tl_x(const struct timeline *tl, int64_t off)
{
	return TL_PAD + (double)(off - tl->lo) * (TL_W - 2 * TL_PAD) / (double)(tl->hi - tl->lo);
}

/* A label unless it would overlap the previous one on its line. */
static void tl_label(struct kt_buf *b, double *last, double x, int y, const char *anchor, const char *text)
{
	double w = 6.7 * (double)strlen(text);
	double left = !strcmp(anchor, "end") ? x - w : x;
	if (left < *last + 8 || left < 0)
		return;
	kt_buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\">", x, y, anchor);
	html_esc(b, text);
	put(b, "</text>");
	*last = left + w;
}

static void tl_title(struct kt_buf *b, const struct kt_inspect_span *s)
{
	char t1[KT_TIME_STR_MAX], t2[KT_TIME_STR_MAX], size[32];
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	kt_buf_printf(b, "<title>%s: offsets %" PRId64 "..%" PRId64, kt_inspect_span_kind_name(s->kind), s->first,
		      last);
	if (s->kind == KT_INSPECT_RANGE)
		kt_buf_printf(b, ", %" PRIu64 " records, %s, %s to %s", s->records,
			      kt_format_size(s->file_bytes, size, sizeof(size)), time_or_dash(s->min_ts, has_ts(s), t1),
			      time_or_dash(s->max_ts, has_ts(s), t2));
	else if (s->kind == KT_INSPECT_GAP)
		kt_buf_printf(b, ", %" PRId64 " offsets no dump read", s->end - s->first);
	else if (s->kind == KT_INSPECT_MISSING) {
		kt_buf_printf(b, ", %" PRId64 " offsets archived once that cannot be read: ", s->end - s->first);
		html_esc(b, s->path);
		put(b, ": ");
		html_esc(b, s->reason);
	} else
		kt_buf_printf(b, ", %" PRId64 " offsets deleted by retention before a dump read them",
			      s->end - s->first);
	put(b, "</title>");
}

static void tl_span(struct kt_buf *b, const struct timeline *tl, const struct kt_inspect_topic *t,
		    const struct kt_inspect_partition *p, const struct kt_inspect_span *s)
{
	double x0 = tl_x(tl, s->first), x1 = tl_x(tl, s->end);
	double w = x1 - x0 < 2 ? 2 : x1 - x0;
	int64_t last = s->kind == KT_INSPECT_RANGE ? s->last : s->end - 1;
	const char *kind = kt_inspect_span_kind_name(s->kind);
	kt_buf_printf(b, "<rect class=\"span %s\" data-kind=\"%s\" data-topic=\"", kind, kind);
	html_esc(b, t->topic);
	kt_buf_printf(b,
		      "\" data-generation=\"%" PRIu32 "\" data-partition=\"%" PRId32 "\" data-first=\"%" PRId64
		      "\" data-last=\"%" PRId64 "\" data-end=\"%" PRId64 "\"",
		      t->generation, p->partition, s->first, last, s->end);
	if (s->kind == KT_INSPECT_RANGE)
		kt_buf_printf(b, " data-records=\"%" PRIu64 "\"", s->records);
	kt_buf_printf(b, " x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\">", x0, TL_BARY, w, TL_BARH);
	tl_title(b, s);
	put(b, "</rect>");
}

/* Offsets above the bar, record times below it. */
static void tl_labels(struct kt_buf *b, struct timeline *tl, const struct kt_inspect_partition *p)
{
	char num[32], t[KT_TIME_STR_MAX];
	for (size_t i = 0; i < p->span_count; i++) {
		const struct kt_inspect_span *s = &p->spans[i];
		snprintf(num, sizeof(num), "%" PRId64, s->first);
		tl_label(b, &tl->last_top, tl_x(tl, s->first), TL_BARY - 4, "start", num);
		if (s->kind == KT_INSPECT_RANGE && has_ts(s)) {
			kt_format_time(s->min_ts, t);
			t[10] = ' ';
			t[16] = '\0'; /* to the minute: 2026-11-22 10:00 */
			tl_label(b, &tl->last_bottom, tl_x(tl, s->first), TL_BARY + TL_BARH + 13, "start", t);
		}
	}
	const struct kt_inspect_span *end = &p->spans[p->span_count - 1];
	snprintf(num, sizeof(num), "%" PRId64, end->end);
	tl_label(b, &tl->last_top, TL_W - TL_PAD, TL_BARY - 4, "end", num);
	const struct kt_inspect_span *lr = NULL;
	for (size_t i = 0; i < p->span_count; i++)
		if (p->spans[i].kind == KT_INSPECT_RANGE && has_ts(&p->spans[i]))
			lr = &p->spans[i];
	if (lr) {
		kt_format_time(lr->max_ts, t);
		t[10] = ' ';
		t[16] = '\0';
		tl_label(b, &tl->last_bottom, TL_W - TL_PAD, TL_BARY + TL_BARH + 13, "end", t);
	}
}

static void html_partition(struct kt_buf *b, const struct kt_inspect_topic *t, const struct kt_inspect_partition *p)
{
	char size[32];
	put(b, "<div class=\"partition\" data-topic=\"");
	html_esc(b, t->topic);
	kt_buf_printf(b, "\" data-generation=\"%" PRIu32 "\" data-partition=\"%" PRId32 "\">\n", t->generation,
		      p->partition);
	kt_buf_printf(b, "<div class=\"plabel\"><b>p%" PRId32 "</b> ", p->partition);
	if (p->first >= 0)
		kt_buf_printf(b, "offsets %" PRId64 "..%" PRId64 " &middot; %" PRIu64 " records &middot; %s", p->first,
			      p->last, p->sums.records, kt_format_size(p->sums.file_bytes, size, sizeof(size)));
	else
		kt_buf_printf(b, "no records archived (read up to offset %" PRId64 ")", p->done_end);
	if (p->sums.gaps)
		kt_buf_printf(b,
			      " &middot; <span class=\"warn\">%" PRIu64 " gap(s), %" PRIu64 " offsets missing</span>",
			      p->sums.gaps, p->sums.gap_offsets);
	if (p->sums.lost_ranges)
		kt_buf_printf(b, " &middot; <span class=\"warn\">%" PRIu64 " offsets lost to retention</span>",
			      p->sums.lost_offsets);
	if (p->sums.missing_ranges)
		kt_buf_printf(b, " &middot; <span class=\"warn\">%" PRIu64 " offsets missing from the archive</span>",
			      p->sums.missing_offsets);
	put(b, "</div>\n");
	if (!p->span_count) {
		put(b, "</div>\n");
		return;
	}
	struct timeline tl = {p->spans[0].first, p->spans[0].end, -1e9, -1e9};
	for (size_t i = 0; i < p->span_count; i++) {
		if (p->spans[i].first < tl.lo)
			tl.lo = p->spans[i].first;
		if (p->spans[i].end > tl.hi)
			tl.hi = p->spans[i].end;
	}
	if (tl.hi <= tl.lo)
		tl.hi = tl.lo + 1;
	kt_buf_printf(b, "<svg class=\"timeline\" viewBox=\"0 0 %.0f %d\" role=\"img\">", TL_W, TL_H);
	for (size_t i = 0; i < p->span_count; i++)
		tl_span(b, &tl, t, p, &p->spans[i]);
	tl_labels(b, &tl, p);
	put(b, "</svg>\n</div>\n");
}

static void html_runs(struct kt_buf *b, const struct kt_inspect_ls *ls)
{
	char t1[KT_TIME_STR_MAX], dur[32], size[32];
	put(b, "<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\">\n<tr><th>Run</th><th>Kind</th>"
	       "<th>Started (UTC)</th><th>Duration</th><th>Status</th><th>Records</th><th>Bytes</th>"
	       "<th>Message</th></tr>\n");
	for (size_t i = 0; i < ls->run_count; i++) {
		const struct kt_inspect_run *r = &ls->runs[i];
		put(b, "<tr class=\"");
		html_esc(b, r->status);
		kt_buf_printf(b, "\" data-run=\"%" PRId64 "\"><td class=\"n\">%" PRId64 "</td><td>", r->run_id,
			      r->run_id);
		html_esc(b, r->kind);
		kt_buf_printf(b, "</td><td>%s</td><td class=\"n\">%s</td><td>", kt_format_time(r->started_ms, t1),
			      duration_str(r->ended_ms >= 0 ? r->ended_ms - r->started_ms : -1, dur, sizeof(dur)));
		html_esc(b, r->status);
		kt_buf_printf(b, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%s</td><td>", r->records,
			      kt_format_size((uint64_t)(r->bytes > 0 ? r->bytes : 0), size, sizeof(size)));
		html_esc(b, r->message);
		put(b, "</td></tr>\n");
	}
	put(b, "</table>\n");
}

static void ls_html(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b)
{
	char size[32], raw[32], now[KT_TIME_STR_MAX];
	const struct kt_inspect_sums *s = &ls->sums;
	kt_buf_append(b, html_head, sizeof(html_head) - 1);
	put(b, "<h1>ktape archive <code>");
	html_esc(b, dir);
	put(b, "</code></h1>\n<p class=\"meta\">archive id ");
	html_esc(b, ls->archive_id[0] ? ls->archive_id : "unknown");
	kt_buf_printf(b,
		      " &middot; generated %s &middot; %zu topic(s), %zu partition(s), %" PRIu64 " segment(s), %" PRIu64
		      " records, %s on disk (%s raw)</p>\n",
		      kt_format_time(kt_now_ms(), now), ls->topic_count, ls->partition_count, s->segments, s->records,
		      kt_format_size(s->file_bytes, size, sizeof(size)),
		      kt_format_size(s->raw_bytes, raw, sizeof(raw)));
	if (s->gaps || s->lost_ranges || s->missing_ranges) {
		char w[512];
		put(b, "<p class=\"warn\" id=\"warning\">");
		html_esc(b, warning_text(s, w, sizeof(w)));
		put(b, "</p>\n");
	}
	put(b, "<p class=\"legend\"><span><i class=\"sw\" style=\"background:#2da44e\"></i>archived</span>"
	       "<span><i class=\"sw\" style=\"background:#cf222e\"></i>gap (no dump read these offsets)</span>"
	       "<span><i class=\"sw\" style=\"background:#bc4c00\"></i>lost to retention</span>"
	       "<span><i class=\"sw\" style=\"background:#6e40c9\"></i>missing (archived once, file gone or "
	       "damaged)</span>"
	       "<span>offsets above each bar, record times (UTC) below</span></p>\n");
	for (size_t i = 0; i < ls->topic_count; i++) {
		const struct kt_inspect_topic *t = &ls->topics[i];
		put(b, "<section class=\"topic\" data-topic=\"");
		html_esc(b, t->topic);
		kt_buf_printf(b, "\" data-generation=\"%" PRIu32 "\">\n<h2>", t->generation);
		html_esc(b, t->topic);
		kt_buf_printf(b, " <small>generation %" PRIu32 " &middot; %zu partition(s) archived", t->generation,
			      t->part_count);
		if (t->cluster_partitions >= 0)
			kt_buf_printf(b, " of %" PRId32, t->cluster_partitions);
		kt_buf_printf(b, " &middot; %" PRIu64 " records &middot; %s</small></h2>\n", t->sums.records,
			      kt_format_size(t->sums.file_bytes, size, sizeof(size)));
		for (size_t k = 0; k < t->part_count; k++)
			html_partition(b, t, &t->parts[k]);
		put(b, "</section>\n");
	}
	html_runs(b, ls);
	put(b, "</body>\n</html>\n");
}

/* ---- ls ---- */

static const struct option ls_opts[] = {
	{"archive", required_argument, NULL, 'a'},   {"topic", required_argument, NULL, 't'},
	{"runs", no_argument, NULL, OPT_RUNS},	     {"json", no_argument, NULL, OPT_JSON},
	{"html", required_argument, NULL, OPT_HTML}, {NULL, 0, NULL, 0},
};

static int ls_output(const char *dir, const struct kt_inspect_ls *ls, int json, int runs, const char *html)
{
	struct kt_buf b;
	kt_buf_init(&b, OUT_MAX);
	int rc = 0;
	if (html) {
		ls_html(dir, ls, &b);
		struct kt_diag d;
		kt_diag_clear(&d);
		enum kt_err err = kt_write_file_atomic(html, b.data, b.len, &d);
		if (err)
			rc = kt_cli_fail("ls", err, &d);
		kt_buf_reset(&b);
	}
	if (json)
		ls_json(dir, ls, &b);
	else
		ls_human(dir, ls, runs, &b);
	write_out(&b);
	kt_buf_free(&b);
	return rc;
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
		default: rc = KT_EXIT_USAGE; break;
		}
	}
	rc = finish_args("ls", rc, argc, argv, dir);
	struct kt_archive *a = NULL;
	if (!rc)
		rc = open_archive("ls", dir, KT_ARCHIVE_READ, &a);
	if (!rc) {
		struct kt_inspect_ls ls;
		struct kt_diag d;
		kt_diag_clear(&d);
		enum kt_err err = kt_inspect_ls(a, topics, ntopics, &ls, &d);
		rc = err ? kt_cli_fail("ls", err, &d) : ls_output(kt_archive_dir(a), &ls, json, runs, html);
		if (!err)
			kt_inspect_ls_free(&ls);
	}
	kt_archive_close(a);
	free(topics);
	return rc;
}

/* ---- cat ---- */

static const struct option cat_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	{"topic", required_argument, NULL, 't'},
	{"partition", required_argument, NULL, 'p'},
	{"generation", required_argument, NULL, OPT_GENERATION},
	{"from-offset", required_argument, NULL, OPT_FROM_OFFSET},
	{"to-offset", required_argument, NULL, OPT_TO_OFFSET},
	{"from-time", required_argument, NULL, OPT_FROM_TIME},
	{"to-time", required_argument, NULL, OPT_TO_TIME},
	{"key", required_argument, NULL, OPT_KEY},
	{"format", required_argument, NULL, 'f'},
	{"count", required_argument, NULL, 'n'},
	{NULL, 0, NULL, 0},
};

struct cat_out {
	struct kt_buf buf;
	struct kt_inspect_fmt *fmt; /* NULL: JSON lines */
	int broken;		    /* writing to stdout failed */
	int write_errno;	    /* why: EPIPE when the reader went away */
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
	enum kt_err err = co->fmt ? kt_inspect_fmt_record(co->fmt, &co->buf, topic, partition, rec)
				  : kt_record_json(&co->buf, topic, partition, rec);
	if (err == KT_ERR_LIMIT) {
		/* one record larger than the buffer's cap: flush and retry once */
		cat_flush(co);
		err = co->fmt ? kt_inspect_fmt_record(co->fmt, &co->buf, topic, partition, rec)
			      : kt_record_json(&co->buf, topic, partition, rec);
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
	case 'n':
		rc = kt_cli_parse_i64("cat", "--count", optarg, 1, INT64_MAX, &v);
		o->limit = (uint64_t)v;
		break;
	default: rc = KT_EXIT_USAGE; break;
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
	struct cat_out co = {{0}, NULL, 0, 0};
	kt_buf_init(&co.buf, OUT_MAX);
	struct kt_diag d;
	kt_diag_clear(&d);
	if (ca->format && strcmp(ca->format, "json") != 0) {
		enum kt_err err = kt_inspect_fmt_compile(ca->format, &co.fmt, &d);
		if (err) {
			kt_buf_free(&co.buf);
			return kt_cli_usage_error("cat", "--format '%s': %s", ca->format, d.msg);
		}
	}
	struct kt_archive *a = NULL;
	int rc = open_archive("cat", ca->dir, KT_ARCHIVE_READ, &a);
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
	rc = finish_args("cat", rc, argc, argv, ca.dir);
	if (!rc)
		rc = cat_check_args(&ca);
	if (!rc)
		rc = cat_run(&ca);
	free(ca.topics);
	free(ca.parts);
	return rc;
}

/* ---- verify ---- */

static const struct option verify_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	{"deep", no_argument, NULL, OPT_DEEP},
	{"json", no_argument, NULL, OPT_JSON},
	{"threads", required_argument, NULL, OPT_THREADS},
	{NULL, 0, NULL, 0},
};

struct verify_out {
	int json;
	struct kt_buf buf; /* JSON: the problems array */
	size_t count;
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
	put(b, vo->count ? ",{" : "{");
	vo->count++;
	json_key(b, &f, "kind");
	json_str(b, p->kind);
	json_key(b, &f, "path");
	json_str(b, p->path);
	json_ts(b, &f, "block", p->block, p->block >= 0);
	json_ts(b, &f, "pos", p->pos, p->pos >= 0);
	json_key(b, &f, "error");
	json_str(b, kt_err_name(p->err));
	json_key(b, &f, "message");
	json_str(b, msg);
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
		json_key(&b, &f, "command");
		json_str(&b, "verify");
		json_key(&b, &f, "archive");
		json_str(&b, dir);
		json_key(&b, &f, "status");
		json_str(&b, r->problems ? "damaged" : "ok");
		json_key(&b, &f, "problems");
		kt_buf_append_u8(&b, '[');
		kt_buf_append(&b, vo->buf.data, vo->buf.len);
		kt_buf_append_u8(&b, ']');
		json_u64(&b, &f, "problem_count", r->problems);
		json_u64(&b, &f, "files", r->files);
		json_u64(&b, &f, "blocks", r->blocks);
		json_u64(&b, &f, "records", r->records);
		json_u64(&b, &f, "bytes", r->bytes);
		json_u64(&b, &f, "missing_files", r->missing_files);
		json_u64(&b, &f, "extra_files", r->extra_files);
		json_u64(&b, &f, "damaged_files", r->damaged_files);
		json_u64(&b, &f, "missing_ranges", r->missing_ranges);
		json_u64(&b, &f, "missing_offsets", r->missing_offsets);
		json_u64(&b, &f, "meta_files", r->meta_files);
		json_u64(&b, &f, "damaged_meta_files", r->damaged_meta);
		kt_buf_printf(&b, ",\"seconds\":%.3f,\"mb_per_second\":%.1f}\n", r->seconds, mb_per_s(r));
	} else {
		char size[32];
		kt_buf_printf(&b,
			      "verified %s: %" PRIu64 " file(s), %" PRIu64 " block(s), %" PRIu64
			      " records, %s in %.2f s "
			      "(%.0f MB/s)\n",
			      dir, r->files, r->blocks, r->records, kt_format_size(r->bytes, size, sizeof(size)),
			      r->seconds, mb_per_s(r));
		if (r->problems)
			kt_buf_printf(&b,
				      "DAMAGED: %" PRIu64 " problem(s): %" PRIu64 " damaged file(s), %" PRIu64
				      " missing, %" PRIu64 " extra, %" PRIu64 " missing range(s) (%" PRIu64
				      " offsets), %" PRIu64 " damaged metadata file(s)\n",
				      r->problems, r->damaged_files, r->missing_files, r->extra_files,
				      r->missing_ranges, r->missing_offsets, r->damaged_meta);
		else
			put(&b, "OK: no problems found\n");
	}
	write_out(&b);
	kt_buf_free(&b);
}

int kt_cmd_verify(int argc, char **argv)
{
	const char *dir = NULL;
	struct verify_out vo = {0, {0}, 0};
	struct kt_inspect_verify_opts o = {0};
	int64_t v;
	int rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:", verify_opts, NULL)) != -1) {
		switch (c) {
		case 'a': dir = optarg; break;
		case OPT_DEEP: o.deep = 1; break;
		case OPT_JSON: vo.json = 1; break;
		case OPT_THREADS:
			rc = kt_cli_parse_i64("verify", "--threads", optarg, 1, 256, &v);
			o.threads = (int)v;
			break;
		default: rc = KT_EXIT_USAGE; break;
		}
	}
	rc = finish_args("verify", rc, argc, argv, dir);
	struct kt_archive *a = NULL;
	if (!rc)
		rc = open_archive("verify", dir, KT_ARCHIVE_READ, &a);
	if (rc)
		return rc;
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
	}
	kt_buf_free(&vo.buf);
	kt_archive_close(a);
	return rc;
}

/* ---- prune ---- */

static const struct option prune_opts[] = {
	{"archive", required_argument, NULL, 'a'},
	{"keep-days", required_argument, NULL, OPT_KEEP_DAYS},
	{"keep-runs", required_argument, NULL, OPT_KEEP_RUNS},
	{"before", required_argument, NULL, OPT_BEFORE},
	{"dry-run", no_argument, NULL, OPT_DRY_RUN},
	{"json", no_argument, NULL, OPT_JSON},
	{NULL, 0, NULL, 0},
};

static void prune_json(const struct kt_inspect_prune_result *r, int dry, struct kt_buf *b)
{
	int f = 1;
	kt_buf_append_u8(b, '{');
	json_key(b, &f, "command");
	json_str(b, "prune");
	json_key(b, &f, "dry_run");
	put(b, dry ? "true" : "false");
	json_ts(b, &f, "run_id", r->run_id, r->run_id > 0);
	json_u64(b, &f, "segments_removed", r->seg_count);
	json_u64(b, &f, "records", r->records);
	json_u64(b, &f, "bytes", r->file_bytes);
	json_u64(b, &f, "segments_kept", r->kept_segments);
	put(b, ",\"partitions\":[");
	for (size_t i = 0; i < r->part_count; i++) {
		const struct kt_inspect_prune_part *p = &r->parts[i];
		int g = 1;
		put(b, i ? ",{" : "{");
		json_key(b, &g, "topic");
		json_str(b, p->topic);
		json_u64(b, &g, "generation", p->generation);
		json_i64(b, &g, "partition", p->partition);
		json_u64(b, &g, "segments", p->segments);
		json_i64(b, &g, "first_offset", p->first);
		json_i64(b, &g, "last_offset", p->last);
		json_i64(b, &g, "new_first_offset", p->new_first);
		kt_buf_append_u8(b, '}');
	}
	put(b, "],\"files\":[");
	for (size_t i = 0; i < r->seg_count; i++) {
		const struct kt_inspect_pruned *s = &r->segs[i];
		int g = 1;
		put(b, i ? ",{" : "{");
		json_key(b, &g, "path");
		json_str(b, s->path);
		json_i64(b, &g, "first_offset", s->first);
		json_i64(b, &g, "last_offset", s->last);
		json_u64(b, &g, "records", s->records);
		json_u64(b, &g, "bytes", s->file_bytes);
		json_time(b, &g, "max_time", s->max_ts, s->max_ts >= 0);
		kt_buf_append_u8(b, '}');
	}
	put(b, "]}\n");
}

static void prune_human(const struct kt_inspect_prune_result *r, int dry, struct kt_buf *b)
{
	char size[32];
	if (dry)
		kt_buf_printf(b, "dry run: would remove %zu segment(s), %" PRIu64 " records, %s; %" PRIu64 " kept\n",
			      r->seg_count, r->records, kt_format_size(r->file_bytes, size, sizeof(size)),
			      r->kept_segments);
	else
		kt_buf_printf(b,
			      "prune run %" PRId64 ": removed %zu segment(s), %" PRIu64 " records, freed %s; %" PRIu64
			      " kept\n",
			      r->run_id, r->seg_count, r->records, kt_format_size(r->file_bytes, size, sizeof(size)),
			      r->kept_segments);
	for (size_t i = 0; i < r->part_count; i++) {
		const struct kt_inspect_prune_part *p = &r->parts[i];
		kt_buf_printf(b,
			      "  %s gen %" PRIu32 " partition %" PRId32 ": %" PRIu64 " segment(s), offsets %" PRId64
			      "..%" PRId64 "; now starts at %" PRId64 "\n",
			      p->topic, p->generation, p->partition, p->segments, p->first, p->last, p->new_first);
	}
	for (size_t i = 0; dry && i < r->seg_count; i++)
		kt_buf_printf(b, "  would remove %s (%" PRIu64 " records, %s)\n", r->segs[i].path, r->segs[i].records,
			      kt_format_size(r->segs[i].file_bytes, size, sizeof(size)));
}

struct prune_args {
	const char *dir;
	int json, npolicies;
	struct kt_inspect_prune_opts o;
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
	case OPT_DRY_RUN: pa->o.dry_run = 1; break;
	case OPT_JSON: pa->json = 1; break;
	default: rc = KT_EXIT_USAGE; break;
	}
	return rc;
}

int kt_cmd_prune(int argc, char **argv)
{
	struct prune_args pa = {0};
	int rc = 0, c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "a:", prune_opts, NULL)) != -1)
		rc = prune_parse_opt(&pa, c);
	rc = finish_args("prune", rc, argc, argv, pa.dir);
	if (!rc && pa.npolicies != 1)
		rc = kt_cli_usage_error("prune", "give exactly one of --keep-days N, --keep-runs N or --before T");
	struct kt_archive *a = NULL;
	/* a dry run changes nothing: not even the recovery a writer's open does */
	if (!rc)
		rc = open_archive("prune", pa.dir, pa.o.dry_run ? KT_ARCHIVE_READ : KT_ARCHIVE_WRITE, &a);
	if (rc)
		return rc;
	char *args = kt_cli_redacted_args(argc, argv);
	pa.o.args = args;
	pa.o.tool_version = KTAPE_VERSION;
	pa.o.now_ms = kt_now_ms();
	struct kt_inspect_prune_result res;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_inspect_prune(a, &pa.o, &res, &d);
	if (!err || res.run_id > 0) {
		struct kt_buf b;
		kt_buf_init(&b, OUT_MAX);
		if (pa.json)
			prune_json(&res, pa.o.dry_run, &b);
		else
			prune_human(&res, pa.o.dry_run, &b);
		write_out(&b);
		kt_buf_free(&b);
	}
	rc = err ? kt_cli_fail("prune", err, &d) : KT_EXIT_OK;
	kt_inspect_prune_result_free(&res);
	kt_archive_close(a);
	free(args);
	return rc;
}

/* ---- reindex ---- */

static const struct option reindex_opts[] = {
	{"archive", required_argument, NULL, 'a'},
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
		default: rc = KT_EXIT_USAGE; break;
		}
	}
	rc = finish_args("reindex", rc, argc, argv, dir);
	if (rc)
		return rc;
	struct kt_archive_reindex_result res;
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_archive_reindex(dir, &res, reindex_warning, NULL, &d);
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
