/* main.c - ktape's entry point: dispatches to the subcommand table. */
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
	/* from the one table, so the overview cannot disagree with it */
	fprintf(out, "\nExit codes:");
	for (size_t i = 0; i < kt_exit_code_count; i++)
		fprintf(out, "%s %d %s", i ? "," : "", kt_exit_codes[i].code, kt_exit_codes[i].name);
	fprintf(out, ".\n'ktape help exit-codes' says what each means; see also ktape(1).\n");
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
	if (!strcmp(argv[1], "--man")) {
		const struct kt_command *m = argc > 2 ? kt_cli_find(argv[2]) : NULL;
		if (!m)
			return kt_cli_usage_error("help", "--man needs a command name");
		kt_cli_print_man(m);
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
