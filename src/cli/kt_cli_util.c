#include "kt_cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kt_archive.h"
#include "kt_cli.h"
#include "kt_fileio.h"
#include "kt_parse.h"
#include "kt_time.h"

volatile sig_atomic_t kt_cli_stop;

static void on_signal(int sig)
{
	(void)sig;
	kt_cli_stop = 1;
}

void kt_cli_install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static char log_path[4096]; /* --log-file, for on_hup */

/* open, dup2 and close are async-signal-safe: the new file replaces fd 2
 * at once, and a message being written goes to the old or the new one */
static void on_hup(int sig)
{
	(void)sig;
	if (!log_path[0])
		return;
	int saved = errno;
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	} else {
		static const char msg[] = "ktape: warning: SIGHUP: cannot open the log file again; still writing the "
					  "old one\n";
		ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)n;
	}
	errno = saved;
}

int kt_cli_log_file(const char *cmd, const char *path)
{
	if (path) {
		if (strlen(path) >= sizeof(log_path))
			return kt_cli_usage_error(cmd, "--log-file: the path is too long");
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			struct kt_diag d;
			kt_diag_fail(&d, KT_ERR_IO, "cannot open log file %s: %s", path, strerror(errno));
			return kt_cli_fail(cmd, KT_ERR_IO, &d);
		}
		fflush(stderr);
		dup2(fd, STDERR_FILENO);
		close(fd);
		snprintf(log_path, sizeof(log_path), "%s", path);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

/* The key=value part of argument i if it is a -X property, else NULL:
 * "-X k=v", "-Xk=v", "--property k=v" and "--property=k=v". */
static const char *property_of(int i, char **argv)
{
	const char *a = argv[i];
	if (i > 0 && (!strcmp(argv[i - 1], "-X") || !strcmp(argv[i - 1], "--property")))
		return a;
	if (!strncmp(a, "-X", 2) && a[2])
		return a + 2;
	if (!strncmp(a, "--property=", 11))
		return a + 11;
	return NULL;
}

char *kt_cli_redacted_args(int argc, char **argv)
{
	struct kt_buf b;
	kt_buf_init(&b, 1 << 20);
	kt_buf_append(&b, "ktape", 5);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		kt_buf_append_u8(&b, ' ');
		const char *kv = property_of(i, argv);
		size_t key_len = kv ? strcspn(kv, "=") : 0;
		if (kv && kv[key_len] == '=' && kt_kafka_conf_is_secret(kv)) {
			/* keep "...key=", drop the value */
			kt_buf_append(&b, a, (size_t)(kv - a) + key_len + 1);
			kt_buf_append(&b, "(redacted)", 10);
		} else {
			kt_buf_append(&b, a, strlen(a));
		}
	}
	kt_buf_append_u8(&b, 0);
	return (char *)b.data;
}

int kt_cli_conf_add(const char *cmd, struct kt_kafka_conf *conf, int opt, const char *arg)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = opt == 'X' ? kt_kafka_conf_set_kv(conf, arg, &d) : kt_kafka_conf_load_file(conf, arg, &d);
	if (err) {
		kt_cli_fail(cmd, err, &d);
		return KT_EXIT_USAGE;
	}
	return 0;
}

int kt_cli_progress_wanted(int flag)
{
	if (flag >= 0)
		return flag;
	return isatty(STDERR_FILENO);
}

static int progress_shown;

void kt_cli_progress_line(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	progress_shown = 1;
}

void kt_cli_progress_end(void)
{
	if (progress_shown)
		fprintf(stderr, "\n");
	progress_shown = 0;
}

int kt_cli_parse_i64(const char *cmd, const char *opt, const char *arg, int64_t min, int64_t max, int64_t *out)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	if (kt_parse_i64(arg, min, max, out, &d))
		return kt_cli_usage_error(cmd, "%s: %s", opt, d.msg);
	return 0;
}

int kt_cli_parse_time(const char *cmd, const char *opt, const char *arg, int64_t *out)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	if (kt_parse_time(arg, kt_time_now_ms(), out, &d))
		return kt_cli_usage_error(cmd, "%s: %s", opt, d.msg);
	return 0;
}

int kt_cli_load_key(const char *cmd, const char *path, struct kt_crypto_key **out)
{
	struct kt_diag d;
	kt_diag_clear(&d);
	enum kt_err err = kt_crypto_key_load(path, out, &d);
	return err ? kt_cli_fail(cmd, err, &d) : KT_EXIT_OK;
}

void kt_cli_range_init(struct kt_cli_range *r)
{
	*r = (struct kt_cli_range){-1, -1, INT64_MIN, INT64_MIN, NULL, NULL};
}

int kt_cli_range_opt(const char *cmd, int opt, const char *arg, struct kt_cli_range *r)
{
	switch (opt) {
	case KT_CLI_OPT_FROM_OFFSET: return kt_cli_parse_i64(cmd, "--from-offset", arg, 0, INT64_MAX, &r->from_offset);
	case KT_CLI_OPT_TO_OFFSET: return kt_cli_parse_i64(cmd, "--to-offset", arg, 0, INT64_MAX, &r->to_offset);
	case KT_CLI_OPT_FROM_TIME:
		r->from_time_arg = arg;
		return kt_cli_parse_time(cmd, "--from-time", arg, &r->from_time);
	case KT_CLI_OPT_TO_TIME: r->to_time_arg = arg; return kt_cli_parse_time(cmd, "--to-time", arg, &r->to_time);
	}
	return kt_cli_usage_error(cmd, "not a selection option");
}

int kt_cli_check_args(const char *cmd, int argc, char **argv, const char *bootstrap, int bootstrap_optional,
		      const char *archive, const struct kt_cli_range *r)
{
	if (optind < argc)
		return kt_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!bootstrap && !bootstrap_optional)
		return kt_cli_usage_error(cmd, "-b/--bootstrap HOST:PORT is required");
	if (!archive)
		return kt_cli_usage_error(cmd, "-a/--archive DIR is required");
	if (r->from_offset >= 0 && r->from_time != INT64_MIN)
		return kt_cli_usage_error(cmd, "--from-offset and --from-time exclude each other");
	if (r->to_offset >= 0 && r->to_time != INT64_MIN)
		return kt_cli_usage_error(cmd, "--to-offset and --to-time exclude each other");
	/* an inverted range selects nothing and exits 0 (and would move a
	 * dump's incremental start): a typo nobody notices until too late */
	if (r->from_offset >= 0 && r->to_offset >= 0 && r->to_offset <= r->from_offset)
		return kt_cli_usage_error(cmd,
					  "--to-offset %" PRId64 " must be greater than --from-offset %" PRId64
					  " (the end is not included)",
					  r->to_offset, r->from_offset);
	if (r->from_time != INT64_MIN && r->to_time != INT64_MIN && r->to_time <= r->from_time)
		return kt_cli_usage_error(cmd,
					  "--to-time %s must be later than --from-time %s (the end is not included)",
					  r->to_time_arg, r->from_time_arg);
	return 0;
}

void kt_cli_kafka_log(const char *cmd, const struct kt_buf *log, int verbose, int failed)
{
	size_t lines = 0;
	for (size_t i = 0; i < log->len; i++)
		lines += log->data[i] == '\n';
	if (!verbose) {
		if (failed && lines)
			fprintf(stderr, "ktape %s: librdkafka logged %zu line(s); -v shows them\n", cmd, lines);
		return;
	}
	for (size_t i = 0, start = 0; i < log->len; i++) {
		if (log->data[i] != '\n')
			continue;
		fprintf(stderr, "ktape %s: kafka: %.*s\n", cmd, (int)(i - start), (const char *)log->data + start);
		start = i + 1;
	}
}

void kt_cli_write_stdout(const struct kt_buf *buf)
{
	if (buf->len)
		fwrite(buf->data, 1, buf->len, stdout);
}

int kt_cli_s3_opt(const char *cmd, int opt, const char *arg)
{
	static struct kt_store_opts so = {NULL, NULL, -1, 0};
	int64_t ms;
	switch (opt) {
	case KT_CLI_OPT_S3_ENDPOINT:
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8))
			return kt_cli_usage_error(cmd, "--s3-endpoint '%s' is not an http:// or https:// URL", arg);
		so.s3_endpoint = arg;
		break;
	case KT_CLI_OPT_S3_REGION:
		if (!arg[0])
			return kt_cli_usage_error(cmd, "--s3-region is empty");
		so.s3_region = arg;
		break;
	case KT_CLI_OPT_S3_PATH_STYLE: so.s3_path_style = 1; break;
	case KT_CLI_OPT_S3_TIMEOUT:
		if (kt_parse_duration_ms(arg, &ms, NULL) != KT_OK || ms <= 0)
			return kt_cli_usage_error(cmd, "--s3-timeout '%s' is not a positive duration (e.g. 30s, 2m)",
						  arg);
		so.timeout_ms = ms;
		break;
	default: return KT_EXIT_USAGE;
	}
	kt_archive_set_store_opts(&so);
	return 0;
}
