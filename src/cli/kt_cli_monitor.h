/* kt_cli_monitor.h - a dump's monitoring endpoint (dump --metrics-listen):
 * GET /metrics serves the Prometheus text the dump published last, and
 * GET /health answers 200 while commits keep succeeding, 503 once the last
 * one is older than the allowed age. Served by libmicrohttpd on its own
 * thread, so a dump stuck in a commit still answers (with 503).
 *
 * Owns: the server, its listening socket and a copy of the published text,
 * all freed by kt_cli_monitor_stop(). The only includer of <microhttpd.h>.
 */
#ifndef KT_CLI_MONITOR_H
#define KT_CLI_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "kt_buf.h"
#include "kt_error.h"

struct kt_cli_monitor;

/* Checks a --metrics-listen value: HOST:PORT, [IPV6]:PORT or :PORT (every
 * address). KT_ERR_INVALID with the reason in diag. */
enum kt_err kt_cli_monitor_parse(const char *listen, struct kt_diag *diag);
/* Listens on listen (parsed as above) and serves until stopped. The health
 * is 503 once the last commit (or, before the first, the start) is older
 * than max_age_ms. KT_ERR_IO when the address cannot be bound. */
enum kt_err kt_cli_monitor_start(const char *listen, int64_t max_age_ms, struct kt_cli_monitor **out,
				 struct kt_diag *diag);
/* Replaces what /metrics serves (copied) and the time of the last
 * successful commit (wall ms; 0: none yet). */
void kt_cli_monitor_publish(struct kt_cli_monitor *m, const char *text, size_t len, int64_t last_commit_ms);
void kt_cli_monitor_stop(struct kt_cli_monitor *m);
/* The metric that /metrics adds at each request, for the textfile too:
 * seconds since last_commit_ms (since since_ms before the first commit). */
void kt_cli_monitor_age_metric(struct kt_buf *b, int64_t last_commit_ms, int64_t since_ms, int64_t now_ms);

#endif
