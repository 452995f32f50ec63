/* cmd_restore.c - `ktape restore` and `ktape compare`. */
#include <stdio.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"

const char kt_usage_restore[] = "  ktape restore -b HOST:PORT -a DIR [options]\n";
const char kt_help_restore[] = "";
const char kt_usage_compare[] = "  ktape compare -b HOST:PORT -a DIR [-t TOPIC] [--map SRC=DST] [ranges]\n";
const char kt_help_compare[] = "";

int kt_cmd_restore(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "ktape restore: not implemented yet\n");
	return KT_EXIT_ERROR;
}

int kt_cmd_compare(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "ktape compare: not implemented yet\n");
	return KT_EXIT_ERROR;
}
