/* cmd_inspect.c - `ktape ls`, `cat`, `verify`, `prune`, `reindex`. */
#include <stdio.h>

#include "kt_cli.h"
#include "kt_cli_cmds.h"

const char kt_usage_ls[] = "  ktape ls -a DIR [-t TOPIC]... [--runs] [--json] [--html FILE]\n";
const char kt_help_ls[] = "";
const char kt_usage_cat[] = "  ktape cat -a DIR [-t TOPIC] [-p N] [ranges] [--key K] [--format json|FMT] [-n COUNT]\n";
const char kt_help_cat[] = "";
const char kt_usage_verify[] = "  ktape verify -a DIR [--deep] [--json]\n";
const char kt_help_verify[] = "";
const char kt_usage_prune[] = "  ktape prune -a DIR (--keep-days N | --keep-runs N | --before T) [--dry-run]\n";
const char kt_help_prune[] = "";
const char kt_usage_reindex[] = "  ktape reindex -a DIR\n";
const char kt_help_reindex[] = "";

static int not_yet(const char *cmd)
{
	fprintf(stderr, "ktape %s: not implemented yet\n", cmd);
	return KT_EXIT_ERROR;
}

int kt_cmd_ls(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("ls");
}

int kt_cmd_cat(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("cat");
}

int kt_cmd_verify(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("verify");
}

int kt_cmd_prune(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("prune");
}

int kt_cmd_reindex(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("reindex");
}
