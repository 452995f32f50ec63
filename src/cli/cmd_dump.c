/* cmd_dump.c - `ktape dump`: options, summary, metrics file. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_archive.h"
#include "kt_buf.h"
#include "kt_cli.h"
#include "kt_cli_cmds.h"
#include "kt_cli_monitor.h"
#include "kt_cli_util.h"
#include "kt_dump.h"
#include "kt_fileio.h"
#include "kt_json.h"
#include "kt_parse.h"
#include "kt_time.h"

#define CMD "dump"

enum {
	OPT_TOPIC_REGEX = 1000,
	OPT_EXCLUDE_REGEX,
	OPT_ZSTD_LEVEL,
	OPT_JSON,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_ISOLATION,
	OPT_GROUPS,
	OPT_TIMEOUT,
	OPT_METRICS,
	OPT_SEGMENT_SIZE,
	OPT_BLOCK_SIZE,
	OPT_COMMIT_INTERVAL,
	OPT_FOLLOW,
	OPT_COMPACT_FANOUT,
	OPT_SEGMENT_AGE,
	OPT_METRICS_LISTEN,
	OPT_LOG_FILE,
	OPT_METADATA_INTERVAL,
	OPT_GROUPS_INTERVAL,
	OPT_WORKER_ID,
	OPT_WORKER_GROUP,
};

static const struct option long_opts[] = {
	{"bootstrap", required_argument, NULL, 'b'},
	{"archive", required_argument, NULL, 'a'},
	KT_CLI_S3_OPTIONS,
	{"topic", required_argument, NULL, 't'},
	{"topic-regex", required_argument, NULL, OPT_TOPIC_REGEX},
	{"exclude-regex", required_argument, NULL, OPT_EXCLUDE_REGEX},
	{"partition", required_argument, NULL, 'p'},
	KT_CLI_RANGE_OPTIONS,
	{"property", required_argument, NULL, 'X'},
	{"config", required_argument, NULL, 'F'},
	{"zstd-level", required_argument, NULL, OPT_ZSTD_LEVEL},
	{"json", no_argument, NULL, OPT_JSON},
	{"progress", no_argument, NULL, OPT_PROGRESS},
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"isolation", required_argument, NULL, OPT_ISOLATION},
	{"groups", required_argument, NULL, OPT_GROUPS},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"metrics-file", required_argument, NULL, OPT_METRICS},
	{"segment-size", required_argument, NULL, OPT_SEGMENT_SIZE},
	{"block-size", required_argument, NULL, OPT_BLOCK_SIZE},
	{"commit-interval", required_argument, NULL, OPT_COMMIT_INTERVAL},
	{"follow", no_argument, NULL, OPT_FOLLOW},
	{"compact-fanout", required_argument, NULL, OPT_COMPACT_FANOUT},
	{"segment-age", required_argument, NULL, OPT_SEGMENT_AGE},
	{"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
	{"log-file", required_argument, NULL, OPT_LOG_FILE},
	{"metadata-interval", required_argument, NULL, OPT_METADATA_INTERVAL},
	{"groups-interval", required_argument, NULL, OPT_GROUPS_INTERVAL},
	{"worker-id", required_argument, NULL, OPT_WORKER_ID},
	{"worker-group", required_argument, NULL, OPT_WORKER_GROUP},
	{"encrypt-key-file", required_argument, NULL, KT_CLI_OPT_KEY_FILE},
	{NULL, 0, NULL, 0},
};

struct dump_cli {
	int quiet;
	int progress;
	const char *metrics;	    /* --metrics-file, rewritten at each commit when following */
	struct kt_cli_monitor *mon; /* --metrics-listen */
	int64_t start_ms;
};

/* /health turns 503 when the last commit is older than this many commit
 * intervals: a follower that stopped committing, not one slow commit */
#define HEALTH_INTERVALS 3

static void write_metrics(const char *path, const struct kt_dump_result *r, enum kt_err err, int64_t start_ms);
static void render_metrics(struct kt_buf *b, const struct kt_dump_result *r, enum kt_err err, double last_ok,
			   int64_t now);

/* A follower's metrics say it is alive: its last commit counts as its last
 * success, so a stalled follower shows as an old timestamp. */
static void on_commit(void *ctx, const struct kt_dump_result *r)
{
	struct dump_cli *c = ctx;
	if (c->metrics)
		write_metrics(c->metrics, r, KT_OK, c->start_ms);
	if (c->mon) {
		struct kt_buf b;
		kt_buf_init(&b, 64u << 20);
		int64_t now = kt_time_now_ms();
		render_metrics(&b, r, KT_OK, (double)now / 1000.0, now);
		kt_cli_monitor_publish(c->mon, b.data ? (const char *)b.data : "", b.len, r->last_commit_ms);
		kt_buf_free(&b);
	}
}

static void on_progress(void *ctx, const struct kt_dump_progress *p)
{
	struct dump_cli *c = ctx;
	if (!c->progress)
		return;
	double rate = p->seconds > 0 ? (double)p->records / p->seconds : 0;
	double pct = p->expected_records ? 100.0 * (double)p->records / (double)p->expected_records : 100.0;
	double eta =
		rate > 0 && p->expected_records > p->records ? (double)(p->expected_records - p->records) / rate : 0;
	char sz[32];
	kt_cli_progress_line("dump: %" PRIu64 " records (%.0f%%), %s, %.0f rec/s, partitions %d/%d, ETA %.0fs",
			     p->records, pct > 100 ? 100 : pct, kt_parse_format_size(p->payload_bytes, sz, sizeof(sz)),
			     rate, p->partitions_done, p->partitions_total, eta);
}

static void on_warning(void *ctx, const char *msg)
{
	(void)ctx;
	kt_cli_progress_end();
	fprintf(stderr, "ktape dump: warning: %s\n", msg);
}

/* The key id of the key the run encrypted with: the key is never printed. */
static const char *key_id_hex(const struct kt_crypto_key *key, char out[KT_CRYPTO_KEY_ID_HEX])
{
	if (!key)
		return NULL;
	kt_crypto_key_id_hex(kt_crypto_key_id(key), out);
	return out;
}

static void print_json(const struct kt_dump_result *r, enum kt_err err, const struct kt_diag *diag,
		       const struct kt_crypto_key *key)
{
	struct kt_buf b;
	kt_buf_init(&b, 1 << 24);
	kt_buf_printf(&b, "{\"command\":\"dump\",\"status\":\"%s\",\"exit_code\":%d,\"run_id\":%" PRId64 ",",
		      err == KT_OK		? "ok"
		      : err == KT_ERR_DATA_LOST ? "data_lost"
						: "failed",
		      kt_cli_exit_for(err), r->run_id);
	kt_buf_append(&b, "\"cluster_id\":", 13);
	kt_json_cstr(&b, r->cluster_id);
	char id[KT_CRYPTO_KEY_ID_HEX];
	kt_buf_append(&b, ",\"key_id\":", 10);
	if (key)
		kt_json_cstr(&b, key_id_hex(key, id));
	else
		kt_buf_append(&b, "null", 4);
	kt_buf_printf(&b,
		      ",\"records\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 ",\"raw_bytes\":%" PRIu64
		      ",\"compressed_bytes\":%" PRIu64 ",\"segments\":%d,\"partitions\":%d,\"consumer_groups\":%d,"
		      "\"lag\":%" PRId64 ",\"unreadable\":%" PRId64
		      ",\"duration_seconds\":%.3f,\"empty_polls\":%" PRIu64 ",\"kicks\":%" PRIu64
		      ",\"fetchers\":%d,\"compactions\":%" PRIu64 ",\"compacted_segments\":%" PRIu64
		      ",\"unlisted_removed\":%d,\"unlisted_offsets\":%" PRId64 ",\"topics\":[",
		      r->records, r->payload_bytes, r->raw_bytes, r->file_bytes, r->segments, r->partitions, r->groups,
		      r->lag, r->unreadable, r->seconds, r->empty_polls, r->kicks, r->fetchers, r->compactions,
		      r->compacted_segments, r->unlisted_removed, r->unlisted_offsets);
	for (size_t i = 0; i < r->topic_count; i++) {
		const struct kt_dump_topic_result *t = &r->topics[i];
		kt_buf_append(&b, i ? ",{\"topic\":" : "{\"topic\":", i ? 10 : 9);
		kt_json_cstr(&b, t->topic);
		kt_buf_printf(&b,
			      ",\"generation\":%u,\"partitions\":%d,\"records\":%" PRIu64 ",\"payload_bytes\":%" PRIu64
			      ",\"lost_records\":%" PRIu64 "}",
			      t->generation, t->partitions, t->records, t->payload_bytes, t->lost_records);
	}
	kt_buf_append(&b, "],\"warnings\":[", 14);
	for (size_t i = 0; i < r->warning_count; i++) {
		if (i)
			kt_buf_append_u8(&b, ',');
		kt_json_cstr(&b, r->warnings[i]);
	}
	kt_buf_append(&b, "],\"error\":", 10);
	if (err && err != KT_ERR_DATA_LOST)
		kt_json_cstr(&b, diag->msg[0] ? diag->msg : kt_err_str(err));
	else
		kt_buf_append(&b, "null", 4);
	kt_buf_append(&b, "}\n", 2);
	kt_cli_write_stdout(&b);
	kt_buf_free(&b);
}

static void print_human(const struct kt_dump_result *r, const struct kt_crypto_key *key)
{
	char raw[32], comp[32];
	printf("dump run %" PRId64 ": %" PRIu64 " records from %zu topic(s), %d partition(s) in %.1f s\n", r->run_id,
	       r->records, r->topic_count, r->partitions, r->seconds);
	printf("  payload %s, archived %s in %d segment(s)", kt_parse_format_size(r->payload_bytes, raw, sizeof(raw)),
	       kt_parse_format_size(r->file_bytes, comp, sizeof(comp)), r->segments);
	if (r->file_bytes && r->payload_bytes)
		printf(" (%.1f%% of payload)", 100.0 * (double)r->file_bytes / (double)r->payload_bytes);
	printf("\n  consumer groups archived: %d; lag now: %" PRId64 " readable records", r->groups, r->lag);
	if (r->unreadable)
		printf(", %" PRId64 " not yet readable (open transactions)", r->unreadable);
	printf("\n");
	char id[KT_CRYPTO_KEY_ID_HEX];
	if (key)
		printf("  encrypted (XChaCha20-Poly1305) with key id %s\n", key_id_hex(key, id));
	for (size_t i = 0; i < r->topic_count; i++)
		printf("  %-30s gen %u  %3d partitions  %10" PRIu64 " records\n", r->topics[i].topic,
		       r->topics[i].generation, r->topics[i].partitions, r->topics[i].records);
}

/* A label value as the Prometheus text format escapes it. */
static void label_value(struct kt_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\n') {
			kt_buf_append(b, "\\n", 2);
			continue;
		}
		if (*v == '\\' || *v == '"')
			kt_buf_append_u8(b, '\\');
		kt_buf_append_u8(b, (uint8_t)*v);
	}
}

static void topic_label(struct kt_buf *b, const char *metric, const char *topic)
{
	kt_buf_printf(b, "%s{topic=\"", metric);
	label_value(b, topic);
	kt_buf_append_u8(b, '"');
}

/* --worker-group: this worker's id, for the owner metric */
static const char *metrics_worker;

/* Per topic and per partition, and the follower's own: what a continuous
 * backup is watched by (issue #15). */
static void render_detail(struct kt_buf *b, const struct kt_dump_result *r)
{
	kt_buf_printf(b, "# HELP ktape_dump_topic_records Records archived by the run, per topic.\n"
			 "# TYPE ktape_dump_topic_records gauge\n");
	for (size_t i = 0; i < r->topic_count; i++) {
		topic_label(b, "ktape_dump_topic_records", r->topics[i].topic);
		kt_buf_printf(b, "} %" PRIu64 "\n", r->topics[i].records);
	}
	kt_buf_printf(b, "# HELP ktape_dump_topic_bytes Bytes of the run per topic: payload read, archive written.\n"
			 "# TYPE ktape_dump_topic_bytes gauge\n");
	for (size_t i = 0; i < r->topic_count; i++)
		for (int k = 0; k < 2; k++) {
			topic_label(b, "ktape_dump_topic_bytes", r->topics[i].topic);
			kt_buf_printf(b, ",kind=\"%s\"} %" PRIu64 "\n", k ? "archived" : "payload",
				      k ? r->topics[i].file_bytes : r->topics[i].payload_bytes);
		}
	kt_buf_printf(b, "# HELP ktape_dump_topic_lost_records Records lost to retention before the run read them, "
			 "per topic.\n"
			 "# TYPE ktape_dump_topic_lost_records gauge\n");
	for (size_t i = 0; i < r->topic_count; i++) {
		topic_label(b, "ktape_dump_topic_lost_records", r->topics[i].topic);
		kt_buf_printf(b, "} %" PRIu64 "\n", r->topics[i].lost_records);
	}
	static const char *const part_metrics[3][2] = {
		{"ktape_dump_partition_lag_records", "Readable records of the partition not archived yet."},
		{"ktape_dump_partition_archived_offset", "Offset up to which the partition is archived (exclusive)."},
		{"ktape_dump_partition_end_offset",
		 "Readable end of the partition last seen: the high watermark, or the last stable offset."},
	};
	for (int k = 0; k < 3; k++) {
		kt_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", part_metrics[k][0], part_metrics[k][1],
			      part_metrics[k][0]);
		for (size_t i = 0; i < r->part_count; i++) {
			const struct kt_dump_partition_result *p = &r->parts[i];
			if (p->topic >= r->topic_count)
				continue;
			int64_t v = k == 0 ? p->end - p->archived_end : k == 1 ? p->archived_end : p->end;
			topic_label(b, part_metrics[k][0], r->topics[p->topic].topic);
			kt_buf_printf(b, ",partition=\"%d\"} %" PRId64 "\n", p->partition, v < 0 ? 0 : v);
		}
	}
	if (metrics_worker) {
		/* a worker of --worker-group lists the partitions it owns now */
		kt_buf_printf(b, "# HELP ktape_dump_partition_owner Partitions this worker of the group archives "
				 "now (1), by worker id.\n# TYPE ktape_dump_partition_owner gauge\n");
		for (size_t i = 0; i < r->part_count; i++) {
			const struct kt_dump_partition_result *p = &r->parts[i];
			if (p->topic >= r->topic_count)
				continue;
			topic_label(b, "ktape_dump_partition_owner", r->topics[p->topic].topic);
			kt_buf_printf(b, ",partition=\"%d\",worker=\"%s\"} 1\n", p->partition, metrics_worker);
		}
		/* what its start removed of its shard: records written twice */
		kt_buf_printf(b,
			      "# HELP ktape_dump_unlisted_removed_files Segment files of this worker's shard that no "
			      "catalog listed, removed at its start (the group archives their records again).\n"
			      "# TYPE ktape_dump_unlisted_removed_files gauge\n"
			      "ktape_dump_unlisted_removed_files %d\n"
			      "# HELP ktape_dump_unlisted_removed_offsets Offsets those files covered: written twice.\n"
			      "# TYPE ktape_dump_unlisted_removed_offsets gauge\n"
			      "ktape_dump_unlisted_removed_offsets %" PRId64 "\n",
			      r->unlisted_removed, r->unlisted_offsets);
	}
	kt_buf_printf(b,
		      "# HELP ktape_dump_last_commit_timestamp_seconds Time of the run's last successful commit (a "
		      "follower's: one with word from the cluster since the last).\n"
		      "# TYPE ktape_dump_last_commit_timestamp_seconds gauge\n"
		      "ktape_dump_last_commit_timestamp_seconds %.3f\n"
		      "# HELP ktape_dump_errors_total Errors of the run: librdkafka's (it retries them), partitions "
		      "given up.\n"
		      "# TYPE ktape_dump_errors_total counter\n"
		      "ktape_dump_errors_total{kind=\"kafka\"} %" PRIu64 "\n"
		      "ktape_dump_errors_total{kind=\"partition\"} %d\n",
		      (double)r->last_commit_ms / 1000.0, r->kafka_errors, r->failed_partitions);
}

/* Prometheus textfile-collector metrics, written atomically. */
static void write_metrics(const char *path, const struct kt_dump_result *r, enum kt_err err, int64_t start_ms)
{
	struct kt_buf b;
	kt_buf_init(&b, 64u << 20);
	int64_t now = kt_time_now_ms();
	/* keep the previous success time when this run failed */
	double last_ok = 0;
	uint8_t *old;
	size_t old_len;
	if (kt_read_file(path, 1 << 20, &old, &old_len, NULL) == KT_OK) {
		char *text = calloc(1, old_len + 1);
		memcpy(text, old, old_len);
		const char *k = "ktape_dump_last_success_timestamp_seconds ";
		char *p = strstr(text, k);
		if (p)
			last_ok = strtod(p + strlen(k), NULL);
		free(text);
		free(old);
	}
	int ok = err == KT_OK || err == KT_ERR_DATA_LOST;
	if (ok)
		last_ok = (double)now / 1000.0;
	render_metrics(&b, r, err, last_ok, now);
	kt_cli_monitor_age_metric(&b, r->last_commit_ms, start_ms, now);
	struct kt_diag d;
	if (kt_write_file_atomic(path, b.data, b.len, &d))
		fprintf(stderr, "ktape dump: warning: cannot write metrics file: %s\n", d.msg);
	kt_buf_free(&b);
}

static void render_metrics(struct kt_buf *b, const struct kt_dump_result *r, enum kt_err err, double last_ok,
			   int64_t now)
{
	kt_buf_printf(b,
		      "# HELP ktape_dump_last_success_timestamp_seconds End of the last dump that completed.\n"
		      "# TYPE ktape_dump_last_success_timestamp_seconds gauge\n"
		      "ktape_dump_last_success_timestamp_seconds %.3f\n"
		      "# HELP ktape_dump_last_run_timestamp_seconds End of the last dump run.\n"
		      "# TYPE ktape_dump_last_run_timestamp_seconds gauge\n"
		      "ktape_dump_last_run_timestamp_seconds %.3f\n"
		      "# HELP ktape_dump_exit_code Exit code of the last dump run.\n"
		      "# TYPE ktape_dump_exit_code gauge\n"
		      "ktape_dump_exit_code %d\n"
		      "# HELP ktape_dump_records Records archived by the last run.\n"
		      "# TYPE ktape_dump_records gauge\n"
		      "ktape_dump_records %" PRIu64 "\n"
		      "# HELP ktape_dump_bytes Bytes of the last run: payload read, archive written.\n"
		      "# TYPE ktape_dump_bytes gauge\n"
		      "ktape_dump_bytes{kind=\"payload\"} %" PRIu64 "\n"
		      "ktape_dump_bytes{kind=\"archived\"} %" PRIu64 "\n"
		      "# HELP ktape_dump_lag_records Readable records not archived at the end.\n"
		      "# TYPE ktape_dump_lag_records gauge\n"
		      "ktape_dump_lag_records %" PRId64 "\n"
		      "# HELP ktape_dump_duration_seconds Duration of the last run.\n"
		      "# TYPE ktape_dump_duration_seconds gauge\n"
		      "ktape_dump_duration_seconds %.3f\n"
		      "# HELP ktape_dump_lost_records Records lost to retention before the last run read them.\n"
		      "# TYPE ktape_dump_lost_records gauge\n",
		      last_ok, (double)now / 1000.0, kt_cli_exit_for(err), r->records, r->payload_bytes, r->file_bytes,
		      r->lag, r->seconds);
	uint64_t lost = 0;
	for (size_t i = 0; i < r->topic_count; i++)
		lost += r->topics[i].lost_records;
	kt_buf_printf(b, "ktape_dump_lost_records %" PRIu64 "\n", lost);
	kt_buf_printf(b,
		      "# HELP ktape_dump_unreadable_records Records behind open transactions at the end.\n"
		      "# TYPE ktape_dump_unreadable_records gauge\n"
		      "ktape_dump_unreadable_records %" PRId64 "\n",
		      r->unreadable);
	render_detail(b, r);
}

int kt_cmd_dump(int argc, char **argv)
{
	struct kt_dump_opts o = {0};
	struct kt_cli_range range;
	kt_cli_range_init(&range);
	o.timeout_ms = 60000;
	const char **topics = calloc((size_t)argc + 1, sizeof(*topics));
	int32_t *parts = calloc((size_t)argc + 1, sizeof(*parts));
	struct kt_kafka_conf *conf = NULL;
	kt_kafka_conf_new(&conf);
	int json = 0, progress = -1, quiet = 0, verbose = 0, rc = 0;
	const char *metrics = NULL, *key_file = NULL;
	const char *listen_addr = NULL, *log_file = NULL;
	struct kt_crypto_key *key = NULL;
	int64_t v;
	int c;
	optind = 1;
	while (!rc && (c = getopt_long(argc, argv, "b:a:t:p:X:F:qv", long_opts, NULL)) != -1) {
		switch (c) {
		case 'b': o.bootstrap = optarg; break;
		case 'a': o.archive = optarg; break;
		case 't': topics[o.topic_count++] = optarg; break;
		case 'p':
			rc = kt_cli_parse_i64(CMD, "--partition", optarg, 0, INT32_MAX, &v);
			parts[o.partition_count++] = (int32_t)v;
			break;
		case 'X':
		case 'F': rc = kt_cli_conf_add(CMD, conf, c, optarg); break;
		case 'q': quiet = 1; break;
		case 'v': verbose = 1; break;
		case OPT_TOPIC_REGEX: o.topic_regex = optarg; break;
		case OPT_EXCLUDE_REGEX: o.exclude_regex = optarg; break;
		case KT_CLI_OPT_FROM_OFFSET:
		case KT_CLI_OPT_TO_OFFSET:
		case KT_CLI_OPT_FROM_TIME:
		case KT_CLI_OPT_TO_TIME: rc = kt_cli_range_opt(CMD, c, optarg, &range); break;
		case OPT_ZSTD_LEVEL:
			rc = kt_cli_parse_i64(CMD, "--zstd-level", optarg, 1, 19, &v);
			o.zstd_level = (int)v;
			break;
		case OPT_JSON: json = 1; break;
		case OPT_PROGRESS: progress = 1; break;
		case OPT_NO_PROGRESS: progress = 0; break;
		case OPT_ISOLATION:
			if (!strcmp(optarg, "read_uncommitted"))
				o.read_uncommitted = 1;
			else if (strcmp(optarg, "read_committed"))
				rc = kt_cli_usage_error(
					CMD, "--isolation '%s': expected read_committed or read_uncommitted", optarg);
			break;
		case OPT_GROUPS: o.groups_regex = optarg; break;
		case OPT_TIMEOUT: {
			struct kt_diag d;
			if (kt_parse_duration_ms(optarg, &o.timeout_ms, &d))
				rc = kt_cli_usage_error(CMD, "--timeout: %s", d.msg);
			break;
		}
		case OPT_METRICS: metrics = optarg; break;
		case OPT_FOLLOW: o.follow = 1; break;
		case OPT_WORKER_GROUP:
			o.worker_group = optarg;
			if (!optarg[0])
				rc = kt_cli_usage_error(CMD, "--worker-group needs a consumer group name");
			break;
		case OPT_WORKER_ID:
			o.worker_id = optarg;
			if (!kt_archive_worker_id_valid(optarg))
				rc = kt_cli_usage_error(CMD,
							"--worker-id '%s': 1 to %d characters of A-Z a-z 0-9 . _ -, "
							"not starting with '.'",
							optarg, KT_ARCHIVE_WORKER_ID_MAX);
			break;
		case OPT_COMPACT_FANOUT:
			rc = kt_cli_parse_i64(CMD, "--compact-fanout", optarg, 0, 1024, &v);
			if (!rc && v == 1)
				rc = kt_cli_usage_error(CMD, "--compact-fanout 1: expected 0 (never) or at least 2");
			o.compact_fanout = v ? (int)v : -1; /* 0: never */
			break;
		case OPT_SEGMENT_AGE: {
			struct kt_diag d;
			if (kt_parse_duration_ms(optarg, &o.segment_age_ms, &d))
				rc = kt_cli_usage_error(CMD, "--segment-age: %s", d.msg);
			else if (o.segment_age_ms < 1000)
				rc = kt_cli_usage_error(CMD, "--segment-age '%s': expected at least 1s", optarg);
			break;
		}
		case OPT_METRICS_LISTEN: {
			struct kt_diag d;
			listen_addr = optarg;
			if (kt_cli_monitor_parse(optarg, &d))
				rc = kt_cli_usage_error(CMD, "--metrics-listen %s", d.msg);
			break;
		}
		case OPT_LOG_FILE: log_file = optarg; break;
		case KT_CLI_OPT_KEY_FILE: key_file = optarg; break;
		case OPT_COMMIT_INTERVAL: {
			struct kt_diag d;
			if (kt_parse_duration_ms(optarg, &o.commit_interval_ms, &d))
				rc = kt_cli_usage_error(CMD, "--commit-interval: %s", d.msg);
			else if (o.commit_interval_ms == 0)
				o.commit_interval_ms = -1; /* 0: only full segments and the end commit */
			break;
		}
		case OPT_METADATA_INTERVAL:
		case OPT_GROUPS_INTERVAL: {
			struct kt_diag d;
			int64_t *ms = c == OPT_METADATA_INTERVAL ? &o.metadata_interval_ms : &o.groups_interval_ms;
			const char *name = c == OPT_METADATA_INTERVAL ? "--metadata-interval" : "--groups-interval";
			if (kt_parse_duration_ms(optarg, ms, &d))
				rc = kt_cli_usage_error(CMD, "%s: %s", name, d.msg);
			else if (*ms < 100)
				rc = kt_cli_usage_error(CMD, "%s '%s': expected at least 100ms", name, optarg);
			break;
		}
		case OPT_SEGMENT_SIZE:
		case OPT_BLOCK_SIZE: {
			uint64_t sz;
			struct kt_diag d;
			if (kt_parse_size(optarg, &sz, &d) || sz < 1024)
				rc = kt_cli_usage_error(CMD, "%s '%s': expected a size of at least 1K",
							c == OPT_BLOCK_SIZE ? "--block-size" : "--segment-size",
							optarg);
			else if (c == OPT_BLOCK_SIZE)
				o.block_bytes = sz;
			else
				o.segment_bytes = sz;
			break;
		}
		default: rc = kt_cli_s3_opt(CMD, c, optarg); break;
		}
	}
	if (!rc)
		rc = kt_cli_check_args(CMD, argc, argv, o.bootstrap, 0, o.archive, &range);
	if (!rc && o.follow && (range.to_offset >= 0 || range.to_time != INT64_MIN))
		rc = kt_cli_usage_error(CMD, "--follow has no end: it cannot take --to-offset or --to-time");
	if (!rc && !o.follow && (o.compact_fanout || o.segment_age_ms))
		rc = kt_cli_usage_error(CMD, "--%s is for --follow: a batch dump's segments roll by size only",
					o.compact_fanout ? "compact-fanout" : "segment-age");
	if (!rc && o.worker_group && !o.follow)
		rc = kt_cli_usage_error(CMD, "--worker-group is for --follow: the group assigns partitions to "
					     "followers");
	if (!rc && o.worker_group && (range.from_offset >= 0 || range.from_time != INT64_MIN))
		rc = kt_cli_usage_error(CMD, "--worker-group starts each partition where the group and the "
					     "archive are: it cannot take --from-offset or --from-time");
	/* a worker's shard is named by a stable id: the host's by default */
	char host_id[KT_ARCHIVE_WORKER_ID_MAX + 1];
	if (!rc && o.worker_group && !o.worker_id) {
		if (gethostname(host_id, sizeof(host_id)) != 0)
			host_id[0] = '\0';
		host_id[sizeof(host_id) - 1] = '\0';
		for (char *c = host_id; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			      *c == '-' || *c == '_' || *c == '.'))
				*c = '-';
		o.worker_id = host_id;
		if (!kt_archive_worker_id_valid(host_id))
			rc = kt_cli_usage_error(CMD, "the host name gives no valid worker id: give --worker-id");
	}
	if (!rc && o.worker_group)
		metrics_worker = o.worker_id;
	if (!rc && !o.follow && (o.metadata_interval_ms || o.groups_interval_ms))
		rc = kt_cli_usage_error(CMD, "--%s-interval is for --follow: a batch dump reads them once",
					o.metadata_interval_ms ? "metadata" : "groups");
	/* a follower is a service: SIGHUP opens its log again (logrotate) */
	if (!rc && (log_file || o.follow))
		rc = kt_cli_log_file(CMD, log_file);
	if (!rc && key_file)
		rc = kt_cli_load_key(CMD, key_file, &key);
	struct kt_cli_monitor *mon = NULL;
	if (!rc && listen_addr) {
		struct kt_diag d;
		int64_t every = o.commit_interval_ms > 0 ? o.commit_interval_ms
				: o.follow		 ? KT_DUMP_FOLLOW_COMMIT_INTERVAL_MS
							 : KT_DUMP_DEFAULT_COMMIT_INTERVAL_MS;
		enum kt_err e = kt_cli_monitor_start(listen_addr, HEALTH_INTERVALS * every, &mon, &d);
		if (e)
			rc = kt_cli_fail(CMD, e, &d);
	}
	o.key = key;
	o.from_offset = range.from_offset;
	o.to_offset = range.to_offset;
	o.from_time = range.from_time;
	o.to_time = range.to_time;
	if (rc) {
		free(topics);
		free(parts);
		kt_kafka_conf_free(conf);
		kt_crypto_key_free(key);
		return rc;
	}
	struct dump_cli cli = {quiet, !quiet && !json && kt_cli_progress_wanted(progress), metrics, mon,
			       kt_time_now_ms()};
	o.topics = topics;
	o.partitions = parts;
	o.conf = conf;
	o.tool_version = KTAPE_VERSION;
	char *args = kt_cli_redacted_args(argc, argv);
	o.args = args;
	o.stop = &kt_cli_stop;
	o.on_progress = on_progress;
	o.on_warning = on_warning;
	o.on_commit = on_commit;
	o.cb_ctx = &cli;
	struct kt_buf kafka_log;
	kt_buf_init(&kafka_log, 1 << 20);
	kt_kafka_conf_set_log(conf, &kafka_log);
	struct kt_dump_result res;
	struct kt_diag diag;
	kt_diag_clear(&diag);
	enum kt_err err = kt_dump_run(&o, &res, &diag);
	kt_cli_progress_end();
	if (json)
		print_json(&res, err, &diag, key);
	else if (!quiet && (err == KT_OK || err == KT_ERR_DATA_LOST))
		print_human(&res, key);
	if (metrics)
		write_metrics(metrics, &res, err, cli.start_ms);
	kt_cli_monitor_stop(mon);
	kt_cli_kafka_log(CMD, &kafka_log, verbose, err && err != KT_ERR_DATA_LOST);
	kt_buf_free(&kafka_log);
	rc = err ? kt_cli_fail(CMD, err, &diag) : KT_EXIT_OK;
	kt_dump_result_free(&res);
	kt_crypto_key_free(key);
	free(args);
	free(topics);
	free(parts);
	kt_kafka_conf_free(conf);
	return rc;
}
