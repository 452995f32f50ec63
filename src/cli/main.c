/* main.c - ktape's entry point: dispatches to the subcommand table. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kt_cli.h"
#include "kt_cli_util.h"

const char *kt_prog = "ktape";

static void print_overview(FILE *out)
{
	fprintf(out,
		"ktape %s - back up, restore and replay Kafka topics\n\n"
		"Usage: ktape COMMAND [OPTIONS]\n"
		"       ktape help COMMAND\n"
		"       ktape --version\n\n"
		"Commands:\n",
		KTAPE_VERSION);
	for (const struct kt_command *c = kt_commands; c->name; c++)
		fprintf(out, "  %-9s %s\n", c->name, c->summary);
	fprintf(out, "\nExit codes: 0 ok, 1 error, 2 usage, 3 archive locked, 4 data lost to retention,\n"
		     "5 archive damaged, 6 Kafka error, 7 not found, 8 compare mismatch, 9 refused,\n"
		     "10 newer archive version, 130 interrupted. See ktape(1).\n");
}

const struct kt_command *kt_cli_find(const char *name)
{
	for (const struct kt_command *c = kt_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

void kt_cli_print_help(const struct kt_command *cmd)
{
	printf("ktape %s - %s\n\nUsage:\n%s\n%s", cmd->name, cmd->summary, cmd->usage, cmd->help);
}

int kt_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ktape %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'ktape help %s')\n", cmd);
	return KT_EXIT_USAGE;
}

int kt_cli_exit_for(enum kt_err err)
{
	switch (err) {
	case KT_OK: return KT_EXIT_OK;
	case KT_ERR_INVALID: return KT_EXIT_USAGE;
	case KT_ERR_LOCKED: return KT_EXIT_LOCKED;
	case KT_ERR_DATA_LOST: return KT_EXIT_DATA_LOST;
	case KT_ERR_FORMAT:
	case KT_ERR_CHECKSUM:
	case KT_ERR_TRUNCATED: return KT_EXIT_DAMAGED;
	case KT_ERR_KAFKA:
	case KT_ERR_TIMEOUT: return KT_EXIT_KAFKA;
	case KT_ERR_NOT_FOUND: return KT_EXIT_NOT_FOUND;
	case KT_ERR_MISMATCH: return KT_EXIT_MISMATCH;
	case KT_ERR_EXISTS: return KT_EXIT_REFUSED;
	case KT_ERR_VERSION: return KT_EXIT_VERSION;
	case KT_ERR_INTERRUPTED: return KT_EXIT_INTERRUPTED;
	default: return KT_EXIT_ERROR;
	}
}

int kt_cli_fail(const char *cmd, enum kt_err err, const struct kt_diag *diag)
{
	const char *msg = diag && diag->msg[0] ? diag->msg : kt_err_str(err);
	fprintf(stderr, "ktape %s: %s\n", cmd, msg);
	return kt_cli_exit_for(err);
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		print_overview(stdout);
		return KT_EXIT_OK;
	}
	if (!strcmp(argv[1], "exit-codes")) {
		kt_cli_print_exit_codes();
		return KT_EXIT_OK;
	}
	const struct kt_command *c = kt_cli_find(argv[1]);
	if (!c)
		return kt_cli_usage_error("help", "unknown command '%s' (or 'exit-codes')", argv[1]);
	kt_cli_print_help(c);
	return KT_EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("ktape %s\n", KTAPE_VERSION);
	return KT_EXIT_OK;
}

int kt_cmd_help(int argc, char **argv)
{
	return cmd_help(argc, argv);
}

int kt_cmd_version(int argc, char **argv)
{
	return cmd_version(argc, argv);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_overview(stderr);
		return KT_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h"))
		return cmd_help(1, argv);
	if (!strcmp(name, "--version") || !strcmp(name, "-V"))
		return cmd_version(1, argv);
	const struct kt_command *c = kt_cli_find(name);
	if (!c) {
		fprintf(stderr, "ktape: unknown command '%s' (see 'ktape --help')\n", name);
		return KT_EXIT_USAGE;
	}
	/* every command accepts --help / -h as its first option */
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			kt_cli_print_help(c);
			return KT_EXIT_OK;
		}
	}
	kt_cli_install_signals();
	return c->run(argc - 1, argv + 1);
}
