/* kt_cli.c - the CLI's shared verbs declared in kt_cli.h: finding a
 * command in the table, printing its help, and turning errors into one
 * line on stderr and an exit code (the one mapping, used by every
 * command). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kt_cli.h"

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
	case KT_ERR_STORAGE: return KT_EXIT_STORAGE;
	case KT_ERR_KEY: return KT_EXIT_KEY;
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
