/* kt_commands.c - the one table of subcommands. It feeds `ktape help`,
 * `ktape help NAME`, `--help`, and tests/unit/test_cli_docs.c, which checks
 * that docs/ktape.1 names every command listed here. */
#include <stddef.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"

const struct kt_command kt_commands[] = {
	{"help", "show help for ktape or one command", "  ktape help [COMMAND]\n",
	 "\nWith a COMMAND, shows its options and examples.\n", kt_cmd_help},
	{"version", "print ktape's version", "  ktape version\n", "", kt_cmd_version},
	{NULL, NULL, NULL, NULL, NULL},
};
