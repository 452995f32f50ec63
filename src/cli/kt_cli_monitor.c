#include "kt_cli_monitor.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kt_time.h"

struct kt_cli_monitor {
	struct MHD_Daemon *daemon;
	pthread_mutex_t mu;
	char *text; /* the published metrics */
	size_t len;
	int64_t last_commit_ms; /* 0: none yet */
	int64_t start_ms;
	int64_t max_age_ms;
};

/* Splits HOST:PORT, [HOST]:PORT or :PORT; host is "" for every address. */
static enum kt_err split_listen(const char *addr, char *host, size_t host_size, char port[8], struct kt_diag *diag)
{
	const char *colon = strrchr(addr, ':');
	if (!colon)
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s': expected HOST:PORT", addr);
	const char *h = addr;
	size_t hl = (size_t)(colon - addr);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	} else if (memchr(h, ':', hl)) {
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s': an IPv6 address goes in brackets: [ADDR]:PORT", addr);
	}
	if (hl >= host_size)
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s': the host is too long", addr);
	memcpy(host, h, hl);
	host[hl] = 0;
	const char *p = colon + 1;
	char *end;
	errno = 0;
	long v = strtol(p, &end, 10);
	if (!*p || *end || errno || v < 1 || v > 65535)
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s': the port must be a number from 1 to 65535", addr);
	snprintf(port, 8, "%ld", v);
	return KT_OK;
}

enum kt_err kt_cli_monitor_parse(const char *addr, struct kt_diag *diag)
{
	char host[256], port[8];
	return split_listen(addr, host, sizeof(host), port, diag);
}

/* The socket is made here rather than by libmicrohttpd, so that a host
 * name, an IPv6 address and a bind failure all get a plain message. */
static enum kt_err listen_socket(const char *addr, int *out_fd, struct kt_diag *diag)
{
	char host[256], port[8];
	enum kt_err err = split_listen(addr, host, sizeof(host), port, diag);
	if (err)
		return err;
	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot listen on %s: %s", addr, gai_strerror(rc));
	int fd = -1, e = 0;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 16)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot listen on %s: %s", addr, strerror(e));
	*out_fd = fd;
	return KT_OK;
}

void kt_cli_monitor_age_metric(struct kt_buf *b, int64_t last_commit_ms, int64_t since_ms, int64_t now_ms)
{
	int64_t ref = last_commit_ms > 0 ? last_commit_ms : since_ms;
	kt_buf_printf(b,
		      "# HELP ktape_dump_seconds_since_last_commit Seconds since the last successful commit (since the "
		      "start before the first); a follower's commit counts when the cluster answered since the last.\n"
		      "# TYPE ktape_dump_seconds_since_last_commit gauge\n"
		      "ktape_dump_seconds_since_last_commit %.3f\n",
		      now_ms > ref ? (double)(now_ms - ref) / 1000.0 : 0.0);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type, const void *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version, (void)upload, (void)upload_size, (void)con_cls;
	struct kt_cli_monitor *m = cls;
	static const char plain[] = "text/plain; charset=utf-8";
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, plain, "GET only\n", 9);
	int64_t now = kt_time_now_ms();
	struct kt_buf b;
	kt_buf_init(&b, 64u << 20);
	unsigned status = MHD_HTTP_OK;
	const char *type = plain;
	pthread_mutex_lock(&m->mu);
	if (!strcmp(url, "/metrics")) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		if (m->text)
			kt_buf_append(&b, m->text, m->len);
		kt_cli_monitor_age_metric(&b, m->last_commit_ms, m->start_ms, now);
	} else if (!strcmp(url, "/health")) {
		int64_t ref = m->last_commit_ms > 0 ? m->last_commit_ms : m->start_ms;
		double age = (double)(now - ref) / 1000.0;
		int ok = now - ref <= m->max_age_ms;
		status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
		kt_buf_printf(&b, "%s: last commit %.1f s ago%s (unhealthy after %.1f s)\n", ok ? "ok" : "stale", age,
			      m->last_commit_ms > 0 ? "" : " (none yet: since the start)",
			      (double)m->max_age_ms / 1000.0);
	} else {
		status = MHD_HTTP_NOT_FOUND;
		kt_buf_printf(&b, "not found: %s (try /metrics or /health)\n", url);
	}
	pthread_mutex_unlock(&m->mu);
	enum MHD_Result ret = answer(c, status, type, b.data ? (const char *)b.data : "", b.len);
	kt_buf_free(&b);
	return ret;
}

enum kt_err kt_cli_monitor_start(const char *addr, int64_t max_age_ms, struct kt_cli_monitor **out,
				 struct kt_diag *diag)
{
	*out = NULL;
	int fd;
	enum kt_err err = listen_socket(addr, &fd, diag);
	if (err)
		return err;
	struct kt_cli_monitor *m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		return KT_ERR_NOMEM;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->start_ms = kt_time_now_ms();
	m->max_age_ms = max_age_ms;
	/* one thread polls every connection: a scrape now and then needs no
	 * more; connections are few and short */
	m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, m,
				     MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 32u,
				     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!m->daemon) {
		close(fd);
		pthread_mutex_destroy(&m->mu);
		free(m);
		return kt_diag_fail(diag, KT_ERR_IO, "cannot serve HTTP on %s", addr);
	}
	*out = m;
	return KT_OK;
}

void kt_cli_monitor_publish(struct kt_cli_monitor *m, const char *text, size_t len, int64_t last_commit_ms)
{
	if (!m)
		return;
	char *copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, text, len);
	copy[len] = 0;
	pthread_mutex_lock(&m->mu);
	free(m->text);
	m->text = copy;
	m->len = len;
	if (last_commit_ms > 0)
		m->last_commit_ms = last_commit_ms;
	pthread_mutex_unlock(&m->mu);
}

void kt_cli_monitor_stop(struct kt_cli_monitor *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon); /* closes the listening socket */
	pthread_mutex_destroy(&m->mu);
	free(m->text);
	free(m);
}
