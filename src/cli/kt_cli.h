/* kt_cli.h - the command-line layer: the table of subcommands, the exit
 * codes, and helpers shared by the command implementations.
 *
 * This layer is the only one with process globals, exit() and printing to
 * stdout. Engines below it return enum kt_err and a struct kt_diag; the
 * command functions here turn those into messages and exit codes.
 */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stddef.h>

#include "kt_error.h"

/* Exit codes: documented in docs/ktape.1 and docs/OPERATIONS.md, checked
 * by tests. Never renumber one. */
enum kt_exit {
	KT_EXIT_OK = 0,
	KT_EXIT_ERROR = 1,	   /* any failure without a more specific code */
	KT_EXIT_USAGE = 2,	   /* bad command line or option value */
	KT_EXIT_LOCKED = 3,	   /* another ktape process holds the archive lock */
	KT_EXIT_DATA_LOST = 4,	   /* dump finished, but retention deleted data before it was read */
	KT_EXIT_DAMAGED = 5,	   /* archive data failed a checksum or format check */
	KT_EXIT_KAFKA = 6,	   /* cluster unreachable, authentication or broker error */
	KT_EXIT_NOT_FOUND = 7,	   /* archive, topic or partition does not exist */
	KT_EXIT_MISMATCH = 8,	   /* compare found differences */
	KT_EXIT_REFUSED = 9,	   /* refused for safety (non-empty target, ...) */
	KT_EXIT_VERSION = 10,	   /* archive written by a newer, incompatible ktape */
	KT_EXIT_STORAGE = 11,	   /* the object store was unreachable or refused the request */
	KT_EXIT_KEY = 12,	   /* encrypted with another key than the key file's */
	KT_EXIT_INTERRUPTED = 130, /* stopped by SIGINT or SIGTERM */
};

/* The table of every exit code (kt_exit_codes.c): `ktape help exit-codes`. */
struct kt_exit_info {
	int code;
	const char *name;
	const char *meaning;
};
extern const struct kt_exit_info kt_exit_codes[];
extern const size_t kt_exit_code_count;
void kt_cli_print_exit_codes(void);

typedef int (*kt_cmd_fn)(int argc, char **argv);

struct kt_command {
	const char *name;
	const char *summary; /* one line, for `ktape help` */
	const char *usage;   /* synopsis lines */
	const char *help;    /* options and examples, for `ktape help NAME` */
	kt_cmd_fn run;
};

extern const struct kt_command kt_commands[];
extern const char *kt_prog;

const struct kt_command *kt_cli_find(const char *name);
void kt_cli_print_help(const struct kt_command *cmd);
/* The command's man page in roff, from its help text (kt_man.c). */
void kt_cli_print_man(const struct kt_command *cmd);
/* Prints "ktape CMD: message" to stderr; returns KT_EXIT_USAGE. */
int kt_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the error (diag message, or the error's description) and maps it
 * to an exit code. */
int kt_cli_fail(const char *cmd, enum kt_err err, const struct kt_diag *diag);
int kt_cli_exit_for(enum kt_err err);

#endif
