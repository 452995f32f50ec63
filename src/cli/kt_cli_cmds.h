/* kt_cli_cmds.h - entry points of the subcommands (one cmd_*.c each), and
 * the usage/help texts that live beside their command's code. */
#ifndef KT_CLI_CMDS_H
#define KT_CLI_CMDS_H

int kt_cmd_help(int argc, char **argv);
int kt_cmd_version(int argc, char **argv);
int kt_cmd_dump(int argc, char **argv);
int kt_cmd_restore(int argc, char **argv);
int kt_cmd_compare(int argc, char **argv);
int kt_cmd_groups(int argc, char **argv);
int kt_cmd_ls(int argc, char **argv);
int kt_cmd_cat(int argc, char **argv);
int kt_cmd_verify(int argc, char **argv);
int kt_cmd_prune(int argc, char **argv);
int kt_cmd_reindex(int argc, char **argv);
int kt_cmd_import(int argc, char **argv);

extern const char kt_usage_restore[], kt_help_restore[];
extern const char kt_usage_compare[], kt_help_compare[];
extern const char kt_usage_groups[], kt_help_groups[];
extern const char kt_usage_ls[], kt_help_ls[];
extern const char kt_usage_cat[], kt_help_cat[];
extern const char kt_usage_verify[], kt_help_verify[];
extern const char kt_usage_prune[], kt_help_prune[];
extern const char kt_usage_reindex[], kt_help_reindex[];
extern const char kt_usage_import[], kt_help_import[];

#endif
