/* kt_cli_cmds.h - entry points of the subcommands (one cmd_*.c each). */
#ifndef KT_CLI_CMDS_H
#define KT_CLI_CMDS_H

int kt_cmd_help(int argc, char **argv);
int kt_cmd_version(int argc, char **argv);

#endif
