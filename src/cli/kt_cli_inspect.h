/* kt_cli_inspect.h - what the archive commands of the CLI share (ls,
 * cat, verify, prune, reindex; internal to src/cli): opening the archive,
 * the argument tail check, JSON and text-table output helpers, and the ls
 * renderers (text, JSON, HTML), one file each. */
#ifndef KT_CLI_INSPECT_H
#define KT_CLI_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "kt_archive.h"
#include "kt_buf.h"
#include "kt_inspect.h"

#define OUT_MAX ((size_t)1 << 30) /* cap of one rendered document */

enum {
	OPT_RUNS = 1000,
	OPT_JSON,
	OPT_HTML,
	OPT_GENERATION,
	OPT_FROM_OFFSET,
	OPT_TO_OFFSET,
	OPT_FROM_TIME,
	OPT_TO_TIME,
	OPT_KEY,
	OPT_DEEP,
	OPT_THREADS,
	OPT_KEEP_DAYS,
	OPT_KEEP_RUNS,
	OPT_BEFORE,
	OPT_DRY_RUN,
};

#define TABLE_MAX_COLS 12

struct kt_cli_table {
	int ncols;
	const char *align; /* per column: 'l' or 'r' */
	char **cells;	   /* row-major */
	size_t nrows, cap;
	size_t width[TABLE_MAX_COLS];
};

int kt_cli_open_archive(const char *cmd, const char *dir, enum kt_archive_mode mode, struct kt_archive **out);
int kt_cli_finish_args(const char *cmd, int rc, int argc, char **argv, const char *archive);
void kt_cli_put(struct kt_buf *b, const char *s);
void kt_cli_write_out(struct kt_buf *b);
void kt_cli_json_str(struct kt_buf *b, const char *s);
void kt_cli_json_key(struct kt_buf *b, int *first, const char *key);
void kt_cli_json_i64(struct kt_buf *b, int *first, const char *key, int64_t v);
void kt_cli_json_u64(struct kt_buf *b, int *first, const char *key, uint64_t v);
void kt_cli_json_ts(struct kt_buf *b, int *first, const char *key, int64_t ts, int valid);
void kt_cli_json_time(struct kt_buf *b, int *first, const char *key, int64_t ts, int valid);
const char *kt_cli_time_or_dash(int64_t ts, int valid, char *buf);
const char *kt_cli_duration_str(int64_t ms, char *buf, size_t size);
/* A run's message; a running run's begins with its last commit ("last
 * commit T (12.5s ago)"), how a follower shows it is alive. */
const char *kt_cli_run_message(const struct kt_inspect_run *r, char *buf, size_t size);
/* A run's status as the text and HTML show it: "dead" for a 'running' row
 * whose process is gone (JSON keeps "running" with "alive": false). */
const char *kt_cli_run_status(const struct kt_inspect_run *r);
/* The run of ls's runs with this id (a worker's last run), NULL if none. */
const struct kt_inspect_run *kt_cli_ls_run(const struct kt_inspect_ls *ls, int64_t run_id);
const char *kt_cli_ls_warning_text(const struct kt_inspect_sums *s, char *buf, size_t size);
int kt_cli_span_has_ts(const struct kt_inspect_span *s);
void kt_cli_table_row(struct kt_cli_table *t, ...); /* ncols strings */
void kt_cli_table_print(struct kt_cli_table *t, struct kt_buf *b);
void kt_cli_table_free(struct kt_cli_table *t);
void kt_cli_ls_human(const char *dir, const struct kt_inspect_ls *ls, int runs, struct kt_buf *b);
void kt_cli_ls_json(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b);
void kt_cli_ls_html(const char *dir, const struct kt_inspect_ls *ls, struct kt_buf *b);

#endif
