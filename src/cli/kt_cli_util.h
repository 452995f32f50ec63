/* kt_cli_util.h - helpers shared by the command implementations: signal
 * handling, the redacted command line, -X/-F handling, progress lines. */
#ifndef KT_CLI_UTIL_H
#define KT_CLI_UTIL_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_buf.h"
#include "kt_crypto.h"
#include "kt_kafka.h"

/* Set by SIGINT/SIGTERM; engines poll it and stop cleanly. */
extern volatile sig_atomic_t kt_cli_stop;
void kt_cli_install_signals(void);
/* Sends stderr to path (appending; NULL: stderr stays) and makes SIGHUP
 * open path again, for logrotate; without a path SIGHUP is ignored (a
 * service's terminal went away). 0, or the exit code of a file that cannot
 * be opened, after printing why. */
int kt_cli_log_file(const char *cmd, const char *path);

/* The command line as one string with the values of secret -X properties
 * replaced by "(redacted)". Caller frees. */
char *kt_cli_redacted_args(int argc, char **argv);

/* -X key=value and -F file, in command-line order. */
int kt_cli_conf_add(const char *cmd, struct kt_kafka_conf *conf, int opt, const char *arg);

/* Progress on stderr, only when it is a terminal: one line rewritten. */
int kt_cli_progress_wanted(int flag); /* flag: 1 on, 0 off, -1 auto */
void kt_cli_progress_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kt_cli_progress_end(void);

/* Parses N for an option, printing a usage error naming the option. */
int kt_cli_parse_i64(const char *cmd, const char *opt, const char *arg, int64_t min, int64_t max, int64_t *out);
int kt_cli_parse_time(const char *cmd, const char *opt, const char *arg, int64_t *out);

/* The selection options dump and restore (and compare) share: their
 * getopt entries, their values, and the checks of the whole. */
enum {
	KT_CLI_OPT_FROM_OFFSET = 2000, /* above every command's own option codes */
	KT_CLI_OPT_TO_OFFSET,
	KT_CLI_OPT_FROM_TIME,
	KT_CLI_OPT_TO_TIME,
};
/* getopt entries of the four, for a command's struct option table */
/* (not clang-formatted: it would break the last entry over three lines) */
/* clang-format off */
#define KT_CLI_RANGE_OPTIONS \
	{"from-offset", required_argument, NULL, KT_CLI_OPT_FROM_OFFSET}, \
	{"to-offset", required_argument, NULL, KT_CLI_OPT_TO_OFFSET}, \
	{"from-time", required_argument, NULL, KT_CLI_OPT_FROM_TIME}, \
	{"to-time", required_argument, NULL, KT_CLI_OPT_TO_TIME}
/* clang-format on */

/* How an s3:// archive's bucket is reached: every command with -a takes
 * these (codes 2200 and up: 2000 are the range options', 2100 the key file's). */
enum {
	KT_CLI_OPT_S3_ENDPOINT = 2200,
	KT_CLI_OPT_S3_REGION,
	KT_CLI_OPT_S3_PATH_STYLE,
	KT_CLI_OPT_S3_TIMEOUT,
};
/* clang-format off */
#define KT_CLI_S3_OPTIONS \
	{"s3-endpoint", required_argument, NULL, KT_CLI_OPT_S3_ENDPOINT}, \
	{"s3-region", required_argument, NULL, KT_CLI_OPT_S3_REGION}, \
	{"s3-path-style", no_argument, NULL, KT_CLI_OPT_S3_PATH_STYLE}, \
	{"s3-timeout", required_argument, NULL, KT_CLI_OPT_S3_TIMEOUT}

#define KT_CLI_S3_HELP \
	"      --s3-endpoint URL  S3 API endpoint of an s3:// archive (default: $AWS_ENDPOINT_URL_S3,\n" \
	"                         $AWS_ENDPOINT_URL, else AWS's own for the region)\n" \
	"      --s3-region NAME   the bucket's region (default: $AWS_REGION, else us-east-1)\n" \
	"      --s3-path-style    path-style requests (default: for an explicit endpoint)\n" \
	"      --s3-timeout D     how long one request to the bucket may take, retries included\n" \
	"                         (default: 2m); then exit 11\n"
/* clang-format on */
/* Handles one of KT_CLI_S3_OPTIONS (the settings then apply to every
 * archive the process opens); KT_EXIT_USAGE for any other option code, as
 * getopt's '?'. Credentials come from the AWS environment or credentials
 * file only, never from the command line. */
int kt_cli_s3_opt(const char *cmd, int opt, const char *arg);

struct kt_cli_range {
	int64_t from_offset, to_offset;		 /* -1: none; to_offset is exclusive */
	int64_t from_time, to_time;		 /* INT64_MIN: none; to_time is exclusive */
	const char *from_time_arg, *to_time_arg; /* as typed, for messages */
};
void kt_cli_range_init(struct kt_cli_range *r);
/* Takes one of the KT_CLI_OPT_* options; a usage error otherwise. */
int kt_cli_range_opt(const char *cmd, int opt, const char *arg, struct kt_cli_range *r);
/* The argument tail and the selection as a whole: no stray argument, -b
 * (unless bootstrap_optional) and -a given, offset and time bounds not
 * mixed on one side, no inverted range (it would select nothing and exit
 * 0). A usage error names the values. */
int kt_cli_check_args(const char *cmd, int argc, char **argv, const char *bootstrap, int bootstrap_optional,
		      const char *archive, const struct kt_cli_range *r);

/* --encrypt-key-file FILE, for dump and every command that reads records
 * (restore, compare, cat, verify): the getopt code and the loading of the
 * key, which prints why a key file is refused and returns exit 2 (7 when
 * it does not exist). Never prints the key. */
#define KT_CLI_OPT_KEY_FILE 2100
int kt_cli_load_key(const char *cmd, const char *path, struct kt_crypto_key **out);

/* librdkafka's log lines of a run (see kt_kafka_conf_set_log) on stderr:
 * every line with -v; otherwise, after a failure, how many there were (the
 * final message already says what they amount to). */
void kt_cli_kafka_log(const char *cmd, const struct kt_buf *log, int verbose, int failed);

/* Writes buf to stdout in full. */
void kt_cli_write_stdout(const struct kt_buf *buf);

#endif
