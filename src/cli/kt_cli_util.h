/* kt_cli_util.h - helpers shared by the command implementations: signal
 * handling, the redacted command line, -X/-F handling, progress lines. */
#ifndef KT_CLI_UTIL_H
#define KT_CLI_UTIL_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "kt_buf.h"
#include "kt_kafka.h"

/* Set by SIGINT/SIGTERM; engines poll it and stop cleanly. */
extern volatile sig_atomic_t kt_cli_stop;
void kt_cli_install_signals(void);

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

/* librdkafka's log lines of a run (see kt_kafka_conf_set_log) on stderr:
 * every line with -v; otherwise, after a failure, how many there were (the
 * final message already says what they amount to). */
void kt_cli_kafka_log(const char *cmd, const struct kt_buf *log, int verbose, int failed);

/* Writes buf to stdout in full. */
void kt_cli_write_stdout(const struct kt_buf *buf);

#endif
