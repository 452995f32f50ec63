#include "kt_kafka.h"
#include "kt_kafka_group.h" /* kt_kafka_conf_each */

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kt_fileio.h"
#include "kt_kick.h"
#include "kt_sort.h"
#include "kt_time.h"

#define ERRSTR 512

struct conf_kv {
	char *key;
	char *value;
};

/* Where librdkafka's log lines go; shared by every client of one conf. */
struct log_sink {
	pthread_mutex_t mu;
	struct kt_buf *buf;
};

struct kt_kafka_conf {
	struct conf_kv *kv;
	size_t count;
	size_t cap;
	struct log_sink *log;
};

/* The last thing one broker said about its connection. */
struct broker_err {
	char name[128]; /* HOST:PORT */
	char reason[256];
};
#define BROKER_ERR_MAX 8

/* One librdkafka consumer of a struct kt_kafka: its consumer queue, whose
 * becoming non-empty is signalled to the struct's q_cv. The value bytes
 * and records taken from it estimate the bytes it holds (what librdkafka
 * compares with queued.max.messages.kbytes); full is set while the
 * estimate says the client may have stopped fetching (see kt_kick.h). */
struct fetcher {
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	int64_t taken_bytes, taken;
	int full;
};

/* Which fetcher reads a partition. */
struct owner {
	char *topic;
	int32_t partition;
	int f;
};

struct kt_kafka {
	rd_kafka_t *rk;
	struct log_sink *log;
	rd_kafka_queue_t *admin_q;
	enum kt_kafka_role role;
	int read_committed;
	rd_kafka_conf_t *uncommitted_conf; /* read_committed consumers: for uncommitted */
	rd_kafka_t *uncommitted;	   /* read_uncommitted twin, for the high watermark */
	int64_t timeout_ms;
	rd_kafka_message_t *held; /* the message behind the last record returned */
	struct kt_header *hdrs;	  /* header views of the last record */
	size_t hdr_cap;
	kt_kafka_delivery_cb dr_cb;
	void *dr_ctx;
	/* Filled by error_cb, which runs in the caller's thread from the polls:
	 * why the cluster cannot be used, for the message of the call that
	 * gives up. */
	int64_t down_since; /* mono ns when every broker was down; 0 once one answers */
	uint64_t errors;    /* error_cb calls, for a follower's metrics (kt_kafka_error_count) */
	struct broker_err berr[BROKER_ERR_MAX];
	size_t nberr;
	char auth_err[400];
	char fatal_err[384];
	/* Set by cert_verify_cb from librdkafka's threads: a broker certificate
	 * that failed verification fails the same way on every retry. */
	pthread_mutex_t tls_mu;
	char tls_err[512];
	/* Consumers: fetch[0] is rk itself; the others are made by the first
	 * kt_kafka_assign from fetch_conf (opts.fetchers). q_ready is set from
	 * librdkafka's threads when a fetcher's queue becomes non-empty,
	 * q_woken by kt_kafka_wake: kt_kafka_poll_batch waits on q_cv for
	 * either. */
	struct fetcher fetch[KT_KAFKA_FETCHERS_MAX];
	int nfetch, fetchers_wanted, next_fetch;
	rd_kafka_conf_t *fetch_conf;
	struct owner *owners;
	size_t nowners;
	struct owner *stale; /* partitions a fetcher gave away: f is the old one */
	size_t nstale;
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	int q_ready, q_woken;
	int64_t queue_max_bytes; /* queued.max.messages.kbytes, in bytes */
	struct kt_kick *kick;	 /* made at the first kick */
	int topic_gone;		 /* kt_kafka_topic_gone: closing may hang in librdkafka */
	/* Producers: a handle of each topic produced to (producer_topic) */
	struct prod_topic *ptopics;
	size_t nptopics, ptopic_last;
};

struct prod_topic {
	char *name;
	rd_kafka_topic_t *rkt;
};

/* ---- configuration ---- */

enum kt_err kt_kafka_conf_new(struct kt_kafka_conf **out)
{
	*out = calloc(1, sizeof(**out));
	if (*out && !((*out)->log = calloc(1, sizeof(*(*out)->log)))) {
		free(*out);
		*out = NULL;
	}
	if (!*out)
		return KT_ERR_NOMEM;
	pthread_mutex_init(&(*out)->log->mu, NULL);
	return KT_OK;
}

void kt_kafka_conf_set_log(struct kt_kafka_conf *conf, struct kt_buf *buf)
{
	pthread_mutex_lock(&conf->log->mu);
	conf->log->buf = buf;
	pthread_mutex_unlock(&conf->log->mu);
}

void kt_kafka_conf_free(struct kt_kafka_conf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->count; i++) {
		free(conf->kv[i].key);
		/* secrets do not linger in freed memory */
		explicit_bzero(conf->kv[i].value, strlen(conf->kv[i].value));
		free(conf->kv[i].value);
	}
	free(conf->kv);
	pthread_mutex_destroy(&conf->log->mu);
	free(conf->log);
	free(conf);
}

int kt_kafka_conf_is_secret(const char *key)
{
	static const char *marks[] = {"password",    "secret",	     "sasl.oauthbearer.config",
				      "ssl.key.pem", "ssl.keystore", "token",
				      "sasl.jaas",   "ssl_key"};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strcasestr(key, marks[i]))
			return 1;
	return 0;
}

int kt_kafka_conf_has(const struct kt_kafka_conf *conf, const char *key)
{
	for (size_t i = 0; i < conf->count; i++)
		if (!strcmp(conf->kv[i].key, key))
			return 1;
	return 0;
}

enum kt_err kt_kafka_conf_set(struct kt_kafka_conf *conf, const char *key, const char *value, struct kt_diag *diag)
{
	if (!*key)
		return kt_diag_fail(diag, KT_ERR_INVALID, "empty property name");
	for (size_t i = 0; i < conf->count; i++) {
		if (!strcmp(conf->kv[i].key, key)) {
			char *v = strdup(value);
			if (!v)
				return KT_ERR_NOMEM;
			free(conf->kv[i].value);
			conf->kv[i].value = v;
			return KT_OK;
		}
	}
	if (conf->count == conf->cap) {
		size_t cap = conf->cap ? conf->cap * 2 : 16;
		struct conf_kv *kv = realloc(conf->kv, cap * sizeof(*kv));
		if (!kv)
			return KT_ERR_NOMEM;
		conf->kv = kv;
		conf->cap = cap;
	}
	conf->kv[conf->count].key = strdup(key);
	conf->kv[conf->count].value = strdup(value);
	if (!conf->kv[conf->count].key || !conf->kv[conf->count].value)
		return KT_ERR_NOMEM;
	conf->count++;
	return KT_OK;
}

enum kt_err kt_kafka_conf_set_kv(struct kt_kafka_conf *conf, const char *kv, struct kt_diag *diag)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return kt_diag_fail(diag, KT_ERR_INVALID, "'%s' is not a property (expected key=value)",
				    kt_kafka_conf_is_secret(kv) ? "(redacted)" : kv);
	char key[256];
	size_t n = (size_t)(eq - kv);
	if (n >= sizeof(key))
		return kt_diag_fail(diag, KT_ERR_INVALID, "property name too long");
	memcpy(key, kv, n);
	key[n] = '\0';
	return kt_kafka_conf_set(conf, key, eq + 1, diag);
}

enum kt_err kt_kafka_conf_load_file(struct kt_kafka_conf *conf, const char *path, struct kt_diag *diag)
{
	uint8_t *data;
	size_t len;
	enum kt_err err = kt_read_file(path, 1 << 20, &data, &len, diag);
	if (err)
		return err;
	char *text = malloc(len + 1);
	if (!text) {
		free(data);
		return KT_ERR_NOMEM;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	explicit_bzero(data, len);
	free(data);
	int lineno = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line && !err; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		if (!*line || *line == '#')
			continue;
		err = kt_kafka_conf_set_kv(conf, line, diag);
		if (err)
			kt_diag_prefix(diag, "%s line %d", path, lineno);
	}
	explicit_bzero(text, len);
	free(text);
	return err;
}

/* ---- client ---- */

static const char *denial_suffix(rd_kafka_resp_err_t e, char *buf, size_t bufsize);

static enum kt_err rk_fail(struct kt_diag *diag, const char *what, rd_kafka_resp_err_t err)
{
	char dn[64];
	return kt_diag_fail(diag, err == RD_KAFKA_RESP_ERR__TIMED_OUT ? KT_ERR_TIMEOUT : KT_ERR_KAFKA, "%s: %s%s", what,
			    rd_kafka_err2str(err), denial_suffix(err, dn, sizeof(dn)));
}

/* An ACL denial names itself (TOPIC_AUTHORIZATION_FAILED, ...): the text
 * alone ("Authorization failed.") does not say what to grant. */
static const char *denial_name(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED: return rd_kafka_err2name(e);
	default: return NULL;
	}
}

/* " (TOPIC_AUTHORIZATION_FAILED)" for a denial, "" otherwise. */
static const char *denial_suffix(rd_kafka_resp_err_t e, char *buf, size_t bufsize)
{
	const char *name = denial_name(e);
	if (!name)
		return "";
	snprintf(buf, bufsize, " (%s)", name);
	return buf;
}

static void mark_up(struct kt_kafka *k);
static enum kt_err connect_fail(struct kt_kafka *k, const char *fallback, struct kt_diag *diag);

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct kt_kafka *k = opaque;
	if (!m->err)
		mark_up(k);
	if (!k->dr_cb)
		return;
	char why[384]; /* the client's fatal reason, written only if it has one */
	/* a timed-out record may or may not be in the log: the one failure
	 * the gapless guarantee does not cover, so it is told apart */
	if (m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT && k->down_since) {
		/* timed out because the cluster is gone: say why */
		struct kt_diag why;
		connect_fail(k, "every broker is down", &why);
		char msg[KT_DIAG_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "%s; %s", rd_kafka_err2str(m->err), why.msg);
		k->dr_cb(k->dr_ctx, KT_ERR_TIMEOUT, msg, m->partition, -1, m->_private);
	} else if ((m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT ||
		    m->err == RD_KAFKA_RESP_ERR__FATAL) &&
		   rd_kafka_fatal_error(rk, why, sizeof(why))) {
		/* not sent because the producer had stopped: another record's
		 * failure is the cause, and its own report says which */
		char msg[KT_DIAG_MSG_MAX];
		snprintf(msg, sizeof(msg), "%s (the producer had stopped: %s)", rd_kafka_err2str(m->err), why);
		k->dr_cb(k->dr_ctx, KT_ERR_STATE, msg, m->partition, -1, m->_private);
	} else if (m->err) {
		char dn[64], msg[256];
		snprintf(msg, sizeof(msg), "%s%s", rd_kafka_err2str(m->err), denial_suffix(m->err, dn, sizeof(dn)));
		k->dr_cb(k->dr_ctx, m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? KT_ERR_TIMEOUT : KT_ERR_KAFKA, msg,
			 m->partition, -1, m->_private);
	} else
		k->dr_cb(k->dr_ctx, KT_OK, NULL, m->partition, m->offset, m->_private);
}

/* librdkafka logs connection trouble from its own threads, the same line
 * again on every retry: collected for -v, never printed here. Its gist
 * reaches the user through error_cb and the failing call's diag. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct kt_kafka *k = rd_kafka_opaque(rk);
	static const char *names[] = {"EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG"};
	if (!k || !k->log || level > 4)
		return;
	pthread_mutex_lock(&k->log->mu);
	if (k->log->buf)
		kt_buf_printf(k->log->buf, "%s %s: %s\n", names[level < 0 ? 0 : level], fac, buf);
	pthread_mutex_unlock(&k->log->mu);
}

/* "HOST:PORT/ID: Connect to ipv4#... failed: REASON (after 0ms in state
 * CONNECT, 2 identical error(s) suppressed)": the broker's address and
 * the REASON, without librdkafka's state details. */
static void split_reason(const char *text, char *name, size_t namesz, char *reason, size_t reasonsz)
{
	const char *scheme = strstr(text, "://"); /* sasl_plaintext://HOST:PORT/ID */
	const char *colon = strstr(text, ": ");
	if (scheme && colon && scheme < colon)
		text = scheme + 3;
	const char *slash = colon ? memchr(text, '/', (size_t)(colon - text)) : NULL;
	const char *name_end = slash ? slash : colon;
	if (name_end)
		snprintf(name, namesz, "%.*s", (int)(name_end - text), text);
	else
		name[0] = '\0';
	const char *r = colon ? colon + 2 : text;
	const char *failed = strstr(r, " failed: ");
	if (failed && !strncmp(r, "Connect to ", 11))
		r = failed + 9;
	static const char *noise[] = {"SASL authentication error: ", "Authentication failed: "};
	for (size_t i = 0; i < sizeof(noise) / sizeof(noise[0]); i++)
		if (!strncmp(r, noise[i], strlen(noise[i])))
			r += strlen(noise[i]);
	const char *after = strstr(r, " (after ");
	if (!after)
		after = strstr(r, " (");
	int len = after ? (int)(after - r) : (int)strlen(r);
	snprintf(reason, reasonsz, "%.*s", len, r);
}

static void note_broker_err(struct kt_kafka *k, const char *text)
{
	char name[128], reason[256];
	split_reason(text, name, sizeof(name), reason, sizeof(reason));
	if (!name[0] || !reason[0])
		return;
	size_t i = 0;
	while (i < k->nberr && strcmp(k->berr[i].name, name))
		i++;
	if (i == BROKER_ERR_MAX)
		return;
	if (i == k->nberr)
		k->nberr++;
	snprintf(k->berr[i].name, sizeof(k->berr[i].name), "%s", name);
	snprintf(k->berr[i].reason, sizeof(k->berr[i].reason), "%s", reason);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kt_kafka *k = opaque;
	__atomic_fetch_add(&k->errors, 1, __ATOMIC_RELAXED);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		if (!k->down_since)
			k->down_since = kt_time_mono_ns();
	} else if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
		char name[128], why[256];
		split_reason(reason, name, sizeof(name), why, sizeof(why));
		snprintf(k->auth_err, sizeof(k->auth_err), "%s%s%s%s", why, name[0] ? " (broker " : "", name,
			 name[0] ? ")" : "");
	} else if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[256];
		rd_kafka_fatal_error(rk, why, sizeof(why));
		snprintf(k->fatal_err, sizeof(k->fatal_err), "%s", why);
	} else if (strstr(reason, "alert bad certificate") || strstr(reason, "alert certificate required") ||
		   strstr(reason, "alert unknown ca")) {
		/* the broker's TLS refused ours (or its absence): as final as a
		 * wrong password */
		char name[128], why[256];
		split_reason(reason, name, sizeof(name), why, sizeof(why));
		pthread_mutex_lock(&k->tls_mu);
		if (!k->tls_err[0])
			snprintf(k->tls_err, sizeof(k->tls_err),
				 "broker %s refused the client certificate (ssl.certificate.location, "
				 "ssl.key.location): %s",
				 name, why);
		pthread_mutex_unlock(&k->tls_mu);
	} else {
		note_broker_err(k, reason);
	}
}

/* OpenSSL's X509_V_ERR_* codes (openssl/x509_vfy.h, stable across
 * versions) that a misconfigured client or broker produces, in words an
 * operator can act on. */
static const char *x509_why(int code)
{
	switch (code) {
	case 2:	 /* UNABLE_TO_GET_ISSUER_CERT */
	case 18: /* DEPTH_ZERO_SELF_SIGNED_CERT */
	case 19: /* SELF_SIGNED_CERT_IN_CHAIN */
	case 20: /* UNABLE_TO_GET_ISSUER_CERT_LOCALLY */
	case 21: /* UNABLE_TO_VERIFY_LEAF_SIGNATURE */ return "not signed by a CA in ssl.ca.location";
	case 9: return "not valid yet";
	case 10: return "expired";
	default: return NULL;
	}
}

/* Keeps OpenSSL's verdict on each certificate (never overrides it) and
 * notes why one was refused: librdkafka reports every refusal as the same
 * "certificate verify failed" and retries it forever. */
static int cert_verify_cb(rd_kafka_t *rk, const char *broker_name, int32_t broker_id, int *x509_error, int depth,
			  const char *buf, size_t size, char *errstr, size_t errstr_size, void *opaque)
{
	(void)rk, (void)broker_id, (void)depth, (void)buf, (void)size;
	struct kt_kafka *k = opaque;
	if (!*x509_error)
		return 1;
	/* "ssl://HOST:PORT/ID" */
	const char *scheme = strstr(broker_name, "://");
	const char *n0 = scheme ? scheme + 3 : broker_name;
	char name[128];
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(n0, "/"), n0);
	const char *host_end = strrchr(name, ':');
	char msg[sizeof(k->tls_err)];
	if (*x509_error == 62 || *x509_error == 64) /* HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH */
		snprintf(msg, sizeof(msg),
			 "hostname mismatch: the certificate of broker %s is not for %.*s (connect by a name in its "
			 "subjectAltName)",
			 name, host_end ? (int)(host_end - name) : (int)strlen(name), name);
	else if (x509_why(*x509_error))
		snprintf(msg, sizeof(msg), "certificate verify failed: the certificate of broker %s is %s", name,
			 x509_why(*x509_error));
	else
		snprintf(msg, sizeof(msg),
			 "certificate verify failed: the certificate of broker %s: OpenSSL X509 error %d", name,
			 *x509_error);
	snprintf(errstr, errstr_size, "%s", msg);
	pthread_mutex_lock(&k->tls_mu);
	if (!k->tls_err[0])
		snprintf(k->tls_err, sizeof(k->tls_err), "%s", msg);
	pthread_mutex_unlock(&k->tls_mu);
	return 0;
}

/* The cluster answered: what brokers said before is history. */
static void mark_up(struct kt_kafka *k)
{
	k->down_since = 0;
	k->nberr = 0;
}

/* "cannot connect to A, B: Connection refused", or each broker with its
 * own reason when they differ. */
static enum kt_err connect_fail(struct kt_kafka *k, const char *fallback, struct kt_diag *diag)
{
	if (!k->nberr)
		return kt_diag_fail(diag, KT_ERR_KAFKA, "%s", fallback);
	int same = 1;
	for (size_t i = 1; i < k->nberr; i++)
		same &= !strcmp(k->berr[i].reason, k->berr[0].reason);
	char msg[KT_DIAG_MSG_MAX];
	size_t n = (size_t)snprintf(msg, sizeof(msg), "cannot connect to ");
	for (size_t i = 0; i < k->nberr && n < sizeof(msg); i++)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s%s%s%s", i ? (same ? ", " : "; ") : "",
				      k->berr[i].name, same ? "" : ": ", same ? "" : k->berr[i].reason);
	if (same && n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", k->berr[0].reason);
	return kt_diag_fail(diag, KT_ERR_KAFKA, "%s", msg);
}

/* Errors that stop the client for good, whatever the call. */
static enum kt_err hard_fail(struct kt_kafka *k, struct kt_diag *diag)
{
	if (k->auth_err[0])
		return kt_diag_fail(diag, KT_ERR_KAFKA, "authentication failed: %s", k->auth_err);
	pthread_mutex_lock(&k->tls_mu);
	enum kt_err err = k->tls_err[0] ? kt_diag_fail(diag, KT_ERR_KAFKA, "%s", k->tls_err) : KT_OK;
	pthread_mutex_unlock(&k->tls_mu);
	if (err)
		return err;
	if (k->fatal_err[0])
		return kt_diag_fail(diag, KT_ERR_KAFKA, "Kafka client failed: %s", k->fatal_err);
	return KT_OK;
}

/* For the calls that poll: KT_ERR_KAFKA once every broker has been down for
 * the timeout (a restarting broker is waited for that long). */
static enum kt_err health(struct kt_kafka *k, struct kt_diag *diag)
{
	enum kt_err err = hard_fail(k, diag);
	if (!err && k->down_since && kt_time_mono_ns() - k->down_since >= k->timeout_ms * 1000000)
		err = connect_fail(k, "every broker is down", diag);
	if (err)
		kt_diag_prefix(diag, "after %lld s", (long long)(k->timeout_ms / 1000));
	return err;
}

/* Serves error_cb without taking anything the caller expects: only before a
 * consumer is assigned anything can its queue be polled here. */
static void serve_errors(struct kt_kafka *k)
{
	if (k->role == KT_KAFKA_PRODUCER) {
		rd_kafka_poll(k->rk, 0);
		return;
	}
	rd_kafka_message_t *m;
	while ((m = rd_kafka_consumer_poll(k->rk, 0)))
		rd_kafka_message_destroy(m);
}

static void pause_ms(int ms);

/* Waits until a broker answers. Every broker refusing is reported after
 * KT_KAFKA_REFUSED_MS; no answer at all after the timeout. */
static enum kt_err wait_connected(struct kt_kafka *k, struct kt_diag *diag)
{
	int64_t t0 = kt_time_mono_ns();
	int64_t deadline = t0 + k->timeout_ms * 1000000;
	int64_t refused_ns = (k->timeout_ms < KT_KAFKA_REFUSED_MS ? k->timeout_ms : KT_KAFKA_REFUSED_MS) * 1000000;
	int slice = 100;
	for (;;) {
		serve_errors(k);
		enum kt_err err = hard_fail(k, diag);
		if (err)
			return err;
		int64_t now = kt_time_mono_ns();
		if (k->down_since && (now - k->down_since >= refused_ns || now >= deadline))
			return connect_fail(k, "every broker is down", diag);
		if (now >= deadline) {
			char what[160];
			snprintf(what, sizeof(what), "no answer from the cluster within %lld s (--timeout)",
				 (long long)(k->timeout_ms / 1000));
			err = connect_fail(k, what, diag);
			if (k->nberr)
				kt_diag_prefix(diag, "no answer within %lld s (--timeout)",
					       (long long)(k->timeout_ms / 1000));
			return err;
		}
		int64_t until =
			k->down_since && k->down_since + refused_ns < deadline ? k->down_since + refused_ns : deadline;
		int64_t left_ms = (until - now) / 1000000 + 1;
		const struct rd_kafka_metadata *md;
		/* short requests, growing: errors are served between them, and a
		 * slow link still gets a request that can complete */
		if (rd_kafka_metadata(k->rk, 0, NULL, &md, (int)(slice < left_ms ? slice : left_ms)) ==
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_metadata_destroy(md);
			mark_up(k);
			return KT_OK;
		}
		if (slice < 2000)
			slice *= 2;
		/* rd_kafka_metadata returns at once when no broker is usable */
		if (kt_time_mono_ns() - now < 20000000)
			pause_ms(20);
	}
}

static enum kt_err set_rk(rd_kafka_conf_t *c, const char *key, const char *value, struct kt_diag *diag)
{
	char errstr[ERRSTR];
	if (rd_kafka_conf_set(c, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return kt_diag_fail(diag, KT_ERR_INVALID, "property %s: %s", key, errstr);
	return KT_OK;
}

static void free_owners(struct owner *o, size_t n);

/* What kt_kafka_open sets up besides the librdkafka clients. */
static void free_unopened(struct kt_kafka *k)
{
	if (k->uncommitted_conf)
		rd_kafka_conf_destroy(k->uncommitted_conf);
	if (k->fetch_conf)
		rd_kafka_conf_destroy(k->fetch_conf);
	free_owners(k->owners, k->nowners);
	free_owners(k->stale, k->nstale);
	pthread_cond_destroy(&k->q_cv);
	pthread_mutex_destroy(&k->q_mu);
	pthread_mutex_destroy(&k->tls_mu);
	free(k);
}

/* From librdkafka's threads, when a fetcher's queue becomes non-empty. */
static void queue_ready_cb(rd_kafka_t *rk, void *opaque)
{
	(void)rk;
	struct kt_kafka *k = opaque;
	pthread_mutex_lock(&k->q_mu);
	k->q_ready = 1;
	pthread_cond_signal(&k->q_cv);
	pthread_mutex_unlock(&k->q_mu);
}

static void fetcher_init(struct kt_kafka *k, struct fetcher *f, rd_kafka_t *rk)
{
	rd_kafka_poll_set_consumer(rk);
	f->rk = rk;
	f->q = rd_kafka_queue_get_consumer(rk);
	rd_kafka_queue_cb_event_enable(f->q, queue_ready_cb, k);
}

enum kt_err kt_kafka_open(const struct kt_kafka_conf *conf, const struct kt_kafka_opts *opts, struct kt_kafka **out,
			  struct kt_diag *diag)
{
	*out = NULL;
	struct kt_kafka *k = calloc(1, sizeof(*k));
	if (!k)
		return KT_ERR_NOMEM;
	k->role = opts->role;
	k->read_committed = opts->role == KT_KAFKA_CONSUMER && !opts->read_uncommitted;
	k->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
	pthread_mutex_init(&k->tls_mu, NULL);
	pthread_mutex_init(&k->q_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->q_cv, &ca);
	pthread_condattr_destroy(&ca);
	k->fetchers_wanted = 1;
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	enum kt_err err = KT_OK;
	err = err ? err : set_rk(c, "client.id", opts->client_id ? opts->client_id : "ktape", diag);
	if (opts->role == KT_KAFKA_CONSUMER) {
		/* assign() needs a group id, but ktape never joins the group
		 * (no subscribe) and never commits: dump is read-only. */
		err = err ? err : set_rk(c, "group.id", "ktape-readonly", diag);
		err = err ? err : set_rk(c, "enable.auto.commit", "false", diag);
		err = err ? err : set_rk(c, "enable.auto.offset.store", "false", diag);
		err = err ? err : set_rk(c, "enable.partition.eof", "true", diag);
		/* an offset deleted by retention is an event ktape records as data
		 * lost, never a silent jump */
		err = err ? err : set_rk(c, "auto.offset.reset", "error", diag);
		err = err ? err
			  : set_rk(c, "isolation.level", opts->read_uncommitted ? "read_uncommitted" : "read_committed",
				   diag);
		/* Bounded fetches: the limits count the bytes on the wire, and one
		 * response is queued whole whatever the prefetch limits below. A
		 * gzip'd response of 50-byte records holds some 30 records per
		 * wire byte, each a librdkafka op of a few hundred bytes: 8 MiB a
		 * response keeps that under 256 MiB, and measured no slower than
		 * 50 MiB (issue #19), one response already keeping a second
		 * thread busy. */
		err = err ? err : set_rk(c, "fetch.max.bytes", "8388608", diag);
		/* The prefetch limits apply to the one consumer queue that every
		 * partition feeds. Once the queue is over either, librdkafka 2.0.2
		 * stops fetching and looks again only when its broker thread next
		 * wakes, up to a second later, however soon the queue drains:
		 * issue #19's empty polls. The default 100000 messages is 20 MB of
		 * 200-byte records (5 MB of 50-byte ones), so the count is set out
		 * of reach and only the byte limit below decides; once ktape has
		 * drained a queue that reached it, kt_kick wakes the broker
		 * threads. With the kicks, 16 MiB a client fetched as fast as 32
		 * (issue #19, medians of 3-4 rounds: 334-byte events over two
		 * clients 1.97 s against 1.95 at 48 partitions, 2.03 against 1.96
		 * at 3; 10 KiB records 4.84 against 4.78 s) and took the peak RSS
		 * of two clients at 48 partitions from 154-204 MiB to 125-157. */
		err = err ? err : set_rk(c, "queued.min.messages", "10000000", diag);
		err = err ? err : set_rk(c, "max.partition.fetch.bytes", "2097152", diag);
		err = err ? err : set_rk(c, "queued.max.messages.kbytes", "16384", diag);
		err = err ? err : set_rk(c, "fetch.wait.max.ms", "100", diag);
	} else {
		err = err ? err : set_rk(c, "enable.idempotence", opts->idempotent ? "true" : "false", diag);
		err = err ? err : set_rk(c, "acks", "all", diag);
		/* a batch that fails for good (a record over the target's
		 * max.message.bytes, say) stops the producer instead of letting
		 * later records through: each target partition holds a prefix of
		 * its source, so a rerun continues exactly */
		if (opts->idempotent)
			err = err ? err : set_rk(c, "enable.gapless.guarantee", "true", diag);
		/* the Java client's default: murmur2 for keys, random without */
		err = err ? err : set_rk(c, "partitioner", "murmur2_random", diag);
		err = err ? err : set_rk(c, "linger.ms", "20", diag);
		err = err ? err : set_rk(c, "batch.size", "1000000", diag);
		err = err ? err : set_rk(c, "compression.codec", "lz4", diag);
		err = err ? err : set_rk(c, "queue.buffering.max.kbytes", "65536", diag);
		/* archived records can be large; the target topic's own
		 * max.message.bytes decides */
		err = err ? err : set_rk(c, "message.max.bytes", "104857600", diag);
		/* a record not delivered within the timeout fails, instead of
		 * librdkafka's five minutes of retrying a cluster that is gone */
		char ms[32];
		snprintf(ms, sizeof(ms), "%lld", (long long)k->timeout_ms);
		err = err ? err : set_rk(c, "message.timeout.ms", ms, diag);
		rd_kafka_conf_set_dr_msg_cb(c, dr_msg_cb);
	}
	/* user properties last: -X overrides ktape's choices */
	for (size_t i = 0; !err && i < conf->count; i++)
		err = set_rk(c, conf->kv[i].key, conf->kv[i].value, diag);
	if (!err && opts->bootstrap)
		err = set_rk(c, "bootstrap.servers", opts->bootstrap, diag);
	if (err) {
		rd_kafka_conf_destroy(c);
		free_unopened(k);
		return err;
	}
	k->log = conf->log;
	rd_kafka_conf_set_opaque(c, k);
	rd_kafka_conf_set_log_cb(c, log_cb);
	rd_kafka_conf_set_error_cb(c, error_cb);
	/* only fails when librdkafka was built without TLS: nothing to verify */
	rd_kafka_conf_set_ssl_cert_verify_cb(c, cert_verify_cb);
	if (k->read_committed) {
		k->uncommitted_conf = rd_kafka_conf_dup(c);
		/* the twin's errors are the main client's: only its log is kept */
		rd_kafka_conf_set_error_cb(k->uncommitted_conf, NULL);
		err = set_rk(k->uncommitted_conf, "isolation.level", "read_uncommitted", diag);
		if (err) {
			rd_kafka_conf_destroy(c);
			free_unopened(k);
			return err;
		}
	}
	if (opts->role == KT_KAFKA_CONSUMER) {
		k->fetch_conf = rd_kafka_conf_dup(c); /* for kt_kafka_set_fetchers */
		char kb[32];
		size_t kbsize = sizeof(kb);
		if (rd_kafka_conf_get(c, "queued.max.messages.kbytes", kb, &kbsize) == RD_KAFKA_CONF_OK)
			k->queue_max_bytes = strtoll(kb, NULL, 10) * 1024;
	}
	char errstr[ERRSTR];
	k->rk = rd_kafka_new(opts->role == KT_KAFKA_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, c, errstr,
			     sizeof(errstr));
	if (!k->rk) {
		rd_kafka_conf_destroy(c);
		free_unopened(k);
		return kt_diag_fail(diag, KT_ERR_KAFKA, "cannot create Kafka client: %s", errstr);
	}
	if (opts->role == KT_KAFKA_CONSUMER)
		fetcher_init(k, &k->fetch[k->nfetch++], k->rk);
	k->admin_q = rd_kafka_queue_new(k->rk);
	err = wait_connected(k, diag);
	if (err) {
		kt_kafka_close(k);
		return err;
	}
	*out = k;
	return KT_OK;
}

/* The clients a close destroys, on a thread of their own when closing may
 * hang (kt_kafka_topic_gone). */
struct doomed {
	rd_kafka_t *rk[KT_KAFKA_FETCHERS_MAX + 1];
	int n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, abandoned;
};

static void doomed_free(struct doomed *z)
{
	pthread_cond_destroy(&z->cv);
	pthread_mutex_destroy(&z->mu);
	free(z);
}

static void *destroy_main(void *arg)
{
	struct doomed *z = arg;
	for (int i = 0; i < z->n; i++)
		rd_kafka_destroy_flags(z->rk[i], RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	pthread_mutex_lock(&z->mu);
	z->done = 1;
	int abandoned = z->abandoned;
	pthread_cond_signal(&z->cv);
	pthread_mutex_unlock(&z->mu);
	if (abandoned)
		doomed_free(z);
	return NULL;
}

/* librdkafka before 2.1 can keep a reference to a partition of a deleted
 * topic, and rd_kafka_destroy then waits for it for ever (librdkafka issue
 * #4187's fix, 2.1.0): a follower whose topic was deleted never exited on
 * SIGTERM. The clients are destroyed on a thread that is given up on after
 * CLOSE_WAIT_MS: their memory is the price, the process goes on (and
 * exits). */
#define CLOSE_WAIT_MS 3000

static void destroy_bounded(struct doomed *z)
{
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->cv, NULL);
	pthread_t th;
	if (pthread_create(&th, NULL, destroy_main, z)) {
		destroy_main(z);
		doomed_free(z);
		return;
	}
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CLOSE_WAIT_MS / 1000;
	pthread_mutex_lock(&z->mu);
	while (!z->done && pthread_cond_timedwait(&z->cv, &z->mu, &until) == 0)
		;
	int done = z->done;
	z->abandoned = !done;
	pthread_mutex_unlock(&z->mu);
	if (done) {
		pthread_join(th, NULL);
		doomed_free(z);
	} else {
		pthread_detach(th);
	}
}

void kt_kafka_topic_gone(struct kt_kafka *k)
{
	k->topic_gone = 1;
}

void kt_kafka_close(struct kt_kafka *k)
{
	if (!k)
		return;
	kt_kick_free(k->kick); /* it may be using the clients */
	for (size_t i = 0; i < k->nptopics; i++) {
		rd_kafka_topic_destroy(k->ptopics[i].rkt);
		free(k->ptopics[i].name);
	}
	free(k->ptopics);
	struct doomed *z = k->topic_gone ? calloc(1, sizeof(*z)) : NULL;
	if (k->held)
		rd_kafka_message_destroy(k->held);
	if (k->admin_q)
		rd_kafka_queue_destroy(k->admin_q);
	/* ktape never subscribes or commits, so there is no group to leave:
	 * closing without the consumer-close handshake cannot hang on a
	 * cluster that went away */
	for (int i = k->nfetch - 1; i >= 0; i--) {
		rd_kafka_queue_cb_event_enable(k->fetch[i].q, NULL, NULL);
		rd_kafka_queue_destroy(k->fetch[i].q);
		if (i > 0 && z)
			z->rk[z->n++] = k->fetch[i].rk;
		else if (i > 0)
			rd_kafka_destroy_flags(k->fetch[i].rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	if (z) {
		z->rk[z->n++] = k->rk;
		if (k->uncommitted)
			z->rk[z->n++] = k->uncommitted;
		destroy_bounded(z);
	} else {
		rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		if (k->uncommitted)
			rd_kafka_destroy_flags(k->uncommitted, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	free(k->hdrs);
	free_unopened(k);
}

/* ---- metadata ---- */

static int topic_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kt_kafka_topic *)a)->name, ((const struct kt_kafka_topic *)b)->name);
}

enum kt_err kt_kafka_list_topics(struct kt_kafka *k, struct kt_kafka_topic **out, size_t *out_count,
				 struct kt_diag *diag)
{
	*out = NULL;
	*out_count = 0;
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, (int)k->timeout_ms);
	if (e)
		return rk_fail(diag, "cannot read cluster metadata", e);
	struct kt_kafka_topic *t = calloc((size_t)md->topic_cnt + 1, sizeof(*t));
	if (!t) {
		rd_kafka_metadata_destroy(md);
		return KT_ERR_NOMEM;
	}
	size_t n = 0;
	for (int i = 0; i < md->topic_cnt; i++) {
		const rd_kafka_metadata_topic_t *mt = &md->topics[i];
		if (mt->err)
			continue;
		t[n].name = strdup(mt->topic);
		t[n].partitions = mt->partition_cnt;
		t[n].replication_factor = mt->partition_cnt ? mt->partitions[0].replica_cnt : 0;
		t[n].internal = !strcmp(mt->topic, "__consumer_offsets") || !strcmp(mt->topic, "__transaction_state") ||
				mt->topic[0] == '_';
		n++;
	}
	rd_kafka_metadata_destroy(md);
	kt_sort(t, n, sizeof(*t), topic_cmp);
	*out = t;
	*out_count = n;
	return KT_OK;
}

void kt_kafka_topics_free(struct kt_kafka_topic *topics, size_t count)
{
	for (size_t i = 0; topics && i < count; i++)
		free(topics[i].name);
	free(topics);
}

enum kt_err kt_kafka_topic_absent(struct kt_kafka *k, const char *topic, const char *what, struct kt_diag *diag)
{
	/* asked by name, the broker says whether it is denied: listing all
	 * topics silently leaves out the ones the principal may not see */
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e =
		rkt ? rd_kafka_metadata(k->rk, 0, rkt, &md, (int)k->timeout_ms) : RD_KAFKA_RESP_ERR__FAIL;
	if (!e) {
		e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_NO_ERROR;
		rd_kafka_metadata_destroy(md);
	}
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	if (e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
		return kt_diag_fail(diag, KT_ERR_KAFKA,
				    "not authorized to describe topic '%s' (TOPIC_AUTHORIZATION_FAILED): the principal "
				    "needs an ACL for it (see OPERATIONS.md, 'Access control')",
				    topic);
	return kt_diag_fail(diag, KT_ERR_NOT_FOUND, "topic '%s' does not exist%s", topic, what);
}

enum kt_err kt_kafka_cluster_id(struct kt_kafka *k, char *buf, size_t bufsize, struct kt_diag *diag)
{
	(void)diag;
	char *id = rd_kafka_clusterid(k->rk, (int)k->timeout_ms);
	snprintf(buf, bufsize, "%s", id ? id : "");
	if (id)
		rd_kafka_mem_free(k->rk, id);
	return KT_OK;
}

enum kt_err kt_kafka_broker_count(struct kt_kafka *k, int *out, struct kt_diag *diag)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, NULL, &md, (int)k->timeout_ms);
	if (e)
		return rk_fail(diag, "cannot read cluster metadata", e);
	*out = md->broker_cnt;
	rd_kafka_metadata_destroy(md);
	return KT_OK;
}

/* Errors that go away by themselves: a new topic without an elected leader
 * yet, a leader moving. */
static int transient(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION || e == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
	       e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
	       e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
}

static void pause_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

enum kt_err kt_kafka_watermarks(struct kt_kafka *k, const char *topic, int32_t partition, int64_t *out_low,
				int64_t *out_high, struct kt_diag *diag)
{
	int64_t deadline = kt_time_mono_ns() + k->timeout_ms * 1000000;
	rd_kafka_resp_err_t e;
	int wait_ms = 10; /* a topic just created is usually there within milliseconds */
	while ((e = rd_kafka_query_watermark_offsets(k->rk, topic, partition, out_low, out_high, (int)k->timeout_ms)) &&
	       transient(e) && kt_time_mono_ns() < deadline) {
		pause_ms(wait_ms);
		wait_ms = wait_ms < 100 ? wait_ms * 2 : 200;
	}
	if (e) {
		char what[512];
		snprintf(what, sizeof(what), "cannot read watermarks of %s/%d", topic, partition);
		return rk_fail(diag, what, e);
	}
	return KT_OK;
}

/* The read_uncommitted twin of a read_committed consumer, for high
 * watermarks: opened on first use. */
static enum kt_err open_uncommitted(struct kt_kafka *k, struct kt_diag *diag)
{
	if (k->uncommitted)
		return KT_OK;
	char errstr[ERRSTR];
	rd_kafka_conf_t *c = rd_kafka_conf_dup(k->uncommitted_conf);
	k->uncommitted = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
	if (!k->uncommitted) {
		rd_kafka_conf_destroy(c);
		return kt_diag_fail(diag, KT_ERR_KAFKA, "cannot create Kafka client: %s", errstr);
	}
	return KT_OK;
}

enum kt_err kt_kafka_offset_ends(struct kt_kafka *k, const char *topic, int32_t partition, int64_t *out_low,
				 int64_t *out_stable, int64_t *out_high, struct kt_diag *diag)
{
	enum kt_err err = kt_kafka_watermarks(k, topic, partition, out_low, out_stable, diag);
	*out_high = *out_stable;
	if (!err && k->read_committed)
		err = open_uncommitted(k, diag);
	if (err || !k->read_committed)
		return err;
	int64_t low;
	rd_kafka_resp_err_t e =
		rd_kafka_query_watermark_offsets(k->uncommitted, topic, partition, &low, out_high, (int)k->timeout_ms);
	if (e) {
		char what[512];
		snprintf(what, sizeof(what), "cannot read the high watermark of %s/%d", topic, partition);
		return rk_fail(diag, what, e);
	}
	return KT_OK;
}

/* One ListOffsets request per broker for every partition: which is Kafka's
 * EARLIEST (-2) or LATEST (-1, the last stable offset for a read_committed
 * client), sent as the timestamp, which is what rd_kafka_query_watermark_
 * offsets sends too, two requests per partition. failed[i] is set where
 * there is no answer (a leader moving, a timeout). */
static void list_offsets(rd_kafka_t *rk, const char *topic, const int32_t *partitions, size_t count, int64_t which,
			 int timeout_ms, int64_t *out, char *failed)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)count);
	for (size_t i = 0; i < count; i++)
		rd_kafka_topic_partition_list_add(l, topic, partitions[i])->offset = which;
	rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, timeout_ms);
	for (size_t i = 0; i < count; i++) {
		rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, topic, partitions[i]);
		if (e || !tp || tp->err || tp->offset < 0)
			failed[i] = 1;
		else
			out[i] = tp->offset;
	}
	rd_kafka_topic_partition_list_destroy(l);
}

/* Asks each end once for all partitions (issue #19: one partition at a
 * time, a dump of 300 partitions spent 0.2 s on its plan and 0.4 s on its
 * lag, round trips one after the other); a partition without an answer is
 * asked again alone, with kt_kafka_offset_ends' retries and errors (after
 * an error the ends not known are -1). */
enum kt_err kt_kafka_offset_ends_many(struct kt_kafka *k, const char *topic, const int32_t *partitions, size_t count,
				      int64_t *lows, int64_t *stables, int64_t *highs, struct kt_diag *diag)
{
	if (!count)
		return KT_OK;
	char *failed = calloc(count, 1);
	if (!failed)
		return KT_ERR_NOMEM;
	int ms = (int)k->timeout_ms;
	if (lows)
		list_offsets(k->rk, topic, partitions, count, RD_KAFKA_OFFSET_BEGINNING, ms, lows, failed);
	if (stables || (highs && !k->read_committed))
		list_offsets(k->rk, topic, partitions, count, RD_KAFKA_OFFSET_END, ms, stables ? stables : highs,
			     failed);
	if (highs && stables && !k->read_committed)
		memcpy(highs, stables, count * sizeof(*highs));
	if (highs && k->read_committed) {
		if (open_uncommitted(k, NULL) == KT_OK)
			list_offsets(k->uncommitted, topic, partitions, count, RD_KAFKA_OFFSET_END, ms, highs, failed);
		else
			memset(failed, 1, count); /* each says why below */
	}
	enum kt_err err = KT_OK;
	for (size_t i = 0; i < count; i++) {
		if (!failed[i])
			continue;
		int64_t low = -1, stable = -1, high = -1;
		if (!err)
			err = highs ? kt_kafka_offset_ends(k, topic, partitions[i], &low, &stable, &high, diag)
				    : kt_kafka_watermarks(k, topic, partitions[i], &low, &stable, diag);
		if (err)
			low = stable = high = -1;
		if (lows)
			lows[i] = low;
		if (stables)
			stables[i] = stable;
		if (highs)
			highs[i] = high;
	}
	free(failed);
	return err;
}

enum kt_err kt_kafka_offset_for_time(struct kt_kafka *k, const char *topic, int32_t partition, int64_t ts,
				     int64_t *out_offset, struct kt_diag *diag)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	int64_t deadline = kt_time_mono_ns() + k->timeout_ms * 1000000;
	rd_kafka_resp_err_t e;
	for (;;) {
		rd_kafka_topic_partition_list_add(l, topic, partition)->offset = ts;
		e = rd_kafka_offsets_for_times(k->rk, l, (int)k->timeout_ms);
		if (!e)
			e = l->elems[0].err;
		if (!transient(e) || kt_time_mono_ns() >= deadline)
			break;
		rd_kafka_topic_partition_list_del(l, topic, partition);
		pause_ms(200);
	}
	int64_t off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		char what[512];
		snprintf(what, sizeof(what), "cannot look up the offset for a time in %s/%d", topic, partition);
		return rk_fail(diag, what, e);
	}
	if (off < 0) {
		int64_t low, high;
		enum kt_err err = kt_kafka_watermarks(k, topic, partition, &low, &high, diag);
		if (err)
			return err;
		off = high;
	}
	*out_offset = off;
	return KT_OK;
}

/* ---- admin ---- */

/* Waits for the admin result event of the given type. */
static rd_kafka_event_t *admin_wait(struct kt_kafka *k, rd_kafka_event_type_t type, const char *what, enum kt_err *err,
				    struct kt_diag *diag)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(k->admin_q, (int)k->timeout_ms + 5000);
	if (!ev) {
		/* a late answer would be taken by the next call for its own:
		 * it goes to the old queue, which goes */
		rd_kafka_queue_t *q = rd_kafka_queue_new(k->rk);
		if (q) {
			rd_kafka_queue_destroy(k->admin_q);
			k->admin_q = q;
		}
		*err = kt_diag_fail(diag, KT_ERR_TIMEOUT, "%s: no answer from the cluster", what);
		return NULL;
	}
	if (rd_kafka_event_type(ev) != type || rd_kafka_event_error(ev)) {
		char dn[64];
		*err = kt_diag_fail(diag, KT_ERR_KAFKA, "%s: %s%s", what,
				    rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev) : "unexpected event",
				    denial_suffix(rd_kafka_event_error(ev), dn, sizeof(dn)));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	*err = KT_OK;
	return ev;
}

static rd_kafka_AdminOptions_t *admin_opts(struct kt_kafka *k, rd_kafka_admin_op_t op)
{
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->rk, op);
	char errstr[ERRSTR];
	rd_kafka_AdminOptions_set_request_timeout(o, (int)k->timeout_ms, errstr, sizeof(errstr));
	return o;
}

enum kt_err kt_kafka_describe_topic_configs(struct kt_kafka *k, const char *topic, kt_kafka_config_cb cb, void *ctx,
					    struct kt_diag *diag)
{
	rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	rd_kafka_AdminOptions_t *o = admin_opts(k, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	rd_kafka_DescribeConfigs(k->rk, &res, 1, o, k->admin_q);
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_ConfigResource_destroy(res);
	enum kt_err err;
	char what[512];
	snprintf(what, sizeof(what), "cannot describe configs of topic %s", topic);
	rd_kafka_event_t *ev = admin_wait(k, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, what, &err, diag);
	if (!ev)
		return err;
	size_t nres;
	const rd_kafka_ConfigResource_t **rs =
		rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
	for (size_t i = 0; i < nres && !err; i++) {
		if (rd_kafka_ConfigResource_error(rs[i])) {
			char dn[64];
			err = kt_diag_fail(diag, KT_ERR_KAFKA, "%s: %s%s", what,
					   rd_kafka_ConfigResource_error_string(rs[i]),
					   denial_suffix(rd_kafka_ConfigResource_error(rs[i]), dn, sizeof(dn)));
			break;
		}
		size_t ncfg;
		const rd_kafka_ConfigEntry_t **cfg = rd_kafka_ConfigResource_configs(rs[i], &ncfg);
		for (size_t j = 0; j < ncfg; j++) {
			struct kt_kafka_config_entry e = {
				rd_kafka_ConfigEntry_name(cfg[j]),
				rd_kafka_ConfigEntry_is_sensitive(cfg[j]) ? NULL : rd_kafka_ConfigEntry_value(cfg[j]),
				rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(cfg[j])),
				rd_kafka_ConfigEntry_is_default(cfg[j]),
				rd_kafka_ConfigEntry_is_sensitive(cfg[j]),
				rd_kafka_ConfigEntry_is_read_only(cfg[j]),
			};
			if (cb(ctx, &e))
				break;
		}
	}
	rd_kafka_event_destroy(ev);
	return err;
}

static enum kt_err list_groups(struct kt_kafka *k, char ***out, size_t *out_n, struct kt_diag *diag)
{
	*out = NULL;
	*out_n = 0;
	rd_kafka_AdminOptions_t *o = admin_opts(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
	rd_kafka_ListConsumerGroups(k->rk, o, k->admin_q);
	rd_kafka_AdminOptions_destroy(o);
	enum kt_err err;
	rd_kafka_event_t *ev =
		admin_wait(k, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT, "cannot list consumer groups", &err, diag);
	if (!ev)
		return err;
	const rd_kafka_ListConsumerGroups_result_t *r = rd_kafka_event_ListConsumerGroups_result(ev);
	size_t n, nerr;
	const rd_kafka_error_t **errs = rd_kafka_ListConsumerGroups_result_errors(r, &nerr);
	if (nerr) {
		/* a broker that did not answer: its groups would be missing */
		char dn[64];
		enum kt_err err = kt_diag_fail(diag, KT_ERR_KAFKA, "cannot list consumer groups: %s%s",
					       rd_kafka_error_string(errs[0]),
					       denial_suffix(rd_kafka_error_code(errs[0]), dn, sizeof(dn)));
		rd_kafka_event_destroy(ev);
		return err;
	}
	const rd_kafka_ConsumerGroupListing_t **groups = rd_kafka_ListConsumerGroups_result_valid(r, &n);
	char **names = calloc(n + 1, sizeof(*names));
	for (size_t i = 0; names && i < n; i++)
		names[i] = strdup(rd_kafka_ConsumerGroupListing_group_id(groups[i]));
	rd_kafka_event_destroy(ev);
	if (!names)
		return KT_ERR_NOMEM;
	*out = names;
	*out_n = n;
	return KT_OK;
}

/* One group's answer of kt_kafka_list_group_offsets: its offsets to cb. */
static enum kt_err group_offsets_one(rd_kafka_event_t *ev, const char *group, kt_kafka_group_cb cb, void *ctx,
				     int *stop, struct kt_diag *diag)
{
	size_t ng;
	const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
		rd_kafka_event_ListConsumerGroupOffsets_result(ev), &ng);
	for (size_t g = 0; g < ng; g++) {
		const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[g]);
		if (ge) {
			char dn[64];
			return kt_diag_fail(diag, KT_ERR_KAFKA, "cannot list offsets of consumer group %s: %s%s", group,
					    rd_kafka_error_string(ge),
					    denial_suffix(rd_kafka_error_code(ge), dn, sizeof(dn)));
		}
		const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(gr[g]);
		for (int p = 0; parts && p < parts->cnt; p++) {
			const rd_kafka_topic_partition_t *tp = &parts->elems[p];
			if (tp->err || tp->offset < 0)
				continue;
			char *meta = NULL;
			if (tp->metadata_size) {
				meta = malloc(tp->metadata_size + 1);
				if (meta) {
					memcpy(meta, tp->metadata, tp->metadata_size);
					meta[tp->metadata_size] = '\0';
				}
			}
			struct kt_kafka_group_offset go = {group, tp->topic, tp->partition, tp->offset, meta};
			*stop = cb(ctx, &go);
			free(meta);
			if (*stop)
				return KT_OK;
		}
	}
	return KT_OK;
}

/* Requests in flight at once: one at a time, each waited behind the
 * connection's fetch or the coordinator lookup of the one before. */
#define GROUP_OFFSETS_BATCH 64

enum kt_err kt_kafka_list_group_offsets(struct kt_kafka *k, int (*group_filter)(void *ctx, const char *group),
					kt_kafka_group_cb cb, void *ctx, struct kt_diag *diag)
{
	char **groups;
	size_t n;
	enum kt_err err = list_groups(k, &groups, &n, diag);
	if (err)
		return err;
	int stop = 0;
	size_t idx[GROUP_OFFSETS_BATCH];
	rd_kafka_event_t *evs[GROUP_OFFSETS_BATCH];
	for (size_t i = 0; i < n && !err && !stop;) {
		/* librdkafka 2.0 takes one group per request: a batch of
		 * requests is sent at once, then their answers are taken */
		size_t m = 0;
		for (; i < n && m < GROUP_OFFSETS_BATCH; i++) {
			if (group_filter && !group_filter(ctx, groups[i]))
				continue;
			rd_kafka_ListConsumerGroupOffsets_t *req =
				rd_kafka_ListConsumerGroupOffsets_new(groups[i], NULL);
			rd_kafka_AdminOptions_t *o = admin_opts(k, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
			rd_kafka_ListConsumerGroupOffsets(k->rk, &req, 1, o, k->admin_q);
			rd_kafka_AdminOptions_destroy(o);
			rd_kafka_ListConsumerGroupOffsets_destroy(req);
			evs[m] = NULL;
			idx[m++] = i;
		}
		/* every answer is taken off the queue, a failed one's too: the
		 * next admin call must not find them */
		for (size_t r = 0; r < m; r++) {
			enum kt_err e;
			struct kt_diag d2;
			kt_diag_clear(&d2);
			rd_kafka_event_t *ev = admin_wait(k, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT,
							  "cannot list offsets of consumer groups", &e, &d2);
			if (!ev) {
				if (!err) {
					err = e;
					*diag = d2;
				}
				if (e == KT_ERR_TIMEOUT)
					break; /* the others would time out as well */
				continue;
			}
			size_t ng;
			const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
				rd_kafka_event_ListConsumerGroupOffsets_result(ev), &ng);
			const char *name = ng ? rd_kafka_group_result_name(gr[0]) : NULL;
			size_t slot = m;
			for (size_t q = 0; name && q < m && slot == m; q++)
				if (!evs[q] && !strcmp(groups[idx[q]], name))
					slot = q;
			if (slot == m)
				rd_kafka_event_destroy(ev);
			else
				evs[slot] = ev;
		}
		/* in the listing's order */
		for (size_t q = 0; q < m; q++) {
			if (evs[q] && !err && !stop)
				err = group_offsets_one(evs[q], groups[idx[q]], cb, ctx, &stop, diag);
			if (evs[q])
				rd_kafka_event_destroy(evs[q]);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(groups[i]);
	free(groups);
	return err;
}

/* A created topic is usable once every partition has a leader; until then
 * lookups on it fail with "unknown topic". The leaders are there within a
 * few milliseconds as a rule, so the pauses between looks start short and
 * double up to 100 ms: a fixed 100 ms was most of the wait. */
static enum kt_err wait_topic_ready(struct kt_kafka *k, const char *name, int32_t partitions, struct kt_diag *diag)
{
	int64_t deadline = kt_time_mono_ns() + k->timeout_ms * 1000000;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, name, NULL);
	enum kt_err err = KT_ERR_TIMEOUT;
	int wait_ms = 5;
	while (kt_time_mono_ns() < deadline) {
		const struct rd_kafka_metadata *md;
		if (rd_kafka_metadata(k->rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
				/* allowed to Create but not to Describe: it would
				 * never look ready */
				rd_kafka_metadata_destroy(md);
				rd_kafka_topic_destroy(rkt);
				return kt_diag_fail(diag, KT_ERR_KAFKA,
						    "topic %s was created but may not be described "
						    "(TOPIC_AUTHORIZATION_FAILED): restore needs Describe and Write "
						    "on it besides Create",
						    name);
			}
			int ready =
				md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt == partitions;
			for (int p = 0; ready && p < md->topics[0].partition_cnt; p++)
				ready = md->topics[0].partitions[p].leader >= 0 && !md->topics[0].partitions[p].err;
			rd_kafka_metadata_destroy(md);
			if (ready) {
				err = KT_OK;
				break;
			}
		}
		pause_ms(wait_ms);
		wait_ms = wait_ms < 50 ? wait_ms * 2 : 100;
	}
	rd_kafka_topic_destroy(rkt);
	if (err)
		return kt_diag_fail(diag, err, "topic %s was created but has no leader after %lld s", name,
				    (long long)(k->timeout_ms / 1000));
	return KT_OK;
}

enum kt_err kt_kafka_create_topic(struct kt_kafka *k, const struct kt_kafka_new_topic *t, struct kt_diag *diag)
{
	char errstr[ERRSTR];
	rd_kafka_NewTopic_t *nt =
		rd_kafka_NewTopic_new(t->name, t->partitions, t->replication_factor, errstr, sizeof(errstr));
	if (!nt)
		return kt_diag_fail(diag, KT_ERR_INVALID, "cannot create topic %s: %s", t->name, errstr);
	for (size_t i = 0; i < t->config_count; i++)
		rd_kafka_NewTopic_set_config(nt, t->config_names[i], t->config_values[i]);
	rd_kafka_AdminOptions_t *o = admin_opts(k, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(o, (int)k->timeout_ms, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(k->rk, &nt, 1, o, k->admin_q);
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_NewTopic_destroy(nt);
	enum kt_err err;
	char what[512];
	snprintf(what, sizeof(what), "cannot create topic %s", t->name);
	rd_kafka_event_t *ev = admin_wait(k, RD_KAFKA_EVENT_CREATETOPICS_RESULT, what, &err, diag);
	if (!ev)
		return err;
	size_t n;
	const rd_kafka_topic_result_t **tr =
		rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	for (size_t i = 0; i < n && !err; i++)
		if (rd_kafka_topic_result_error(tr[i])) {
			char dn[64];
			err = kt_diag_fail(diag,
					   rd_kafka_topic_result_error(tr[i]) == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
						   ? KT_ERR_EXISTS
						   : KT_ERR_KAFKA,
					   "%s: %s%s", what, rd_kafka_topic_result_error_string(tr[i]),
					   denial_suffix(rd_kafka_topic_result_error(tr[i]), dn, sizeof(dn)));
		}
	rd_kafka_event_destroy(ev);
	if (!err)
		err = wait_topic_ready(k, t->name, t->partitions, diag);
	return err;
}

/* A cluster that never had a consumer group creates __consumer_offsets on
 * the first request and has no coordinator until its partitions are loaded:
 * these go away by themselves. */
static int coordinator_pending(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_NOT_COORDINATOR || e == RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS ||
	       e == RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE;
}

/* One AlterConsumerGroupOffsets request; *retry is set when the only errors
 * were a coordinator not ready yet. */
static enum kt_err alter_group_once(struct kt_kafka *k, const char *group, const char *topic, const int32_t *partitions,
				    const int64_t *offsets, size_t count, int *retry, struct kt_diag *diag)
{
	*retry = 0;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)count);
	for (size_t i = 0; i < count; i++)
		rd_kafka_topic_partition_list_add(l, topic, partitions[i])->offset = offsets[i];
	rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_AdminOptions_t *o = admin_opts(k, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
	rd_kafka_AlterConsumerGroupOffsets(k->rk, &req, 1, o, k->admin_q);
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_AlterConsumerGroupOffsets_destroy(req);
	enum kt_err err;
	char what[512];
	snprintf(what, sizeof(what), "cannot set offsets of consumer group %s", group);
	rd_kafka_event_t *ev = admin_wait(k, RD_KAFKA_EVENT_ALTERCONSUMERGROUPOFFSETS_RESULT, what, &err, diag);
	if (!ev)
		return err;
	size_t n;
	const rd_kafka_group_result_t **gr = rd_kafka_AlterConsumerGroupOffsets_result_groups(
		rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
	int pending = 0;
	for (size_t i = 0; i < n && !err; i++) {
		const rd_kafka_error_t *ge = rd_kafka_group_result_error(gr[i]);
		if (ge) {
			char dn[64];
			pending |= coordinator_pending(rd_kafka_error_code(ge));
			err = kt_diag_fail(diag, KT_ERR_KAFKA, "%s: %s%s", what, rd_kafka_error_string(ge),
					   denial_suffix(rd_kafka_error_code(ge), dn, sizeof(dn)));
			break;
		}
		const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(gr[i]);
		for (int p = 0; parts && p < parts->cnt && !err; p++)
			if (parts->elems[p].err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID) {
				/* what the broker answers for a group with members:
				 * refused, as Kafka's own tool refuses it */
				err = kt_diag_fail(diag, KT_ERR_EXISTS,
						   "%s: the group has active members on the target (stop its "
						   "consumers first)",
						   what);
			} else if (parts->elems[p].err) {
				char dn[64];
				pending |= coordinator_pending(parts->elems[p].err);
				err = kt_diag_fail(diag, KT_ERR_KAFKA, "%s (partition %d): %s%s", what,
						   parts->elems[p].partition, rd_kafka_err2str(parts->elems[p].err),
						   denial_suffix(parts->elems[p].err, dn, sizeof(dn)));
			}
	}
	rd_kafka_event_destroy(ev);
	*retry = err && pending;
	return err;
}

int kt_kafka_probe(struct kt_kafka *k, int timeout_ms)
{
	const struct rd_kafka_metadata *md;
	if (rd_kafka_metadata(k->rk, 0, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	rd_kafka_metadata_destroy(md);
	return 1;
}

enum kt_err kt_kafka_group_members(struct kt_kafka *k, const char *group, size_t *out_members, char *state,
				   size_t state_size, struct kt_diag *diag)
{
	*out_members = 0;
	snprintf(state, state_size, "Unknown");
	rd_kafka_AdminOptions_t *o = admin_opts(k, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	const char *groups[1] = {group};
	rd_kafka_DescribeConsumerGroups(k->rk, groups, 1, o, k->admin_q);
	rd_kafka_AdminOptions_destroy(o);
	enum kt_err err;
	char what[512];
	snprintf(what, sizeof(what), "cannot describe consumer group %s", group);
	rd_kafka_event_t *ev = admin_wait(k, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT, what, &err, diag);
	if (!ev)
		return err;
	size_t n;
	const rd_kafka_ConsumerGroupDescription_t **gd =
		rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
	err = KT_OK;
	if (n != 1) {
		err = kt_diag_fail(diag, KT_ERR_KAFKA, "%s: %zu descriptions in the answer", what, n);
	} else if (rd_kafka_ConsumerGroupDescription_error(gd[0])) {
		const rd_kafka_error_t *ge = rd_kafka_ConsumerGroupDescription_error(gd[0]);
		char dn[64];
		err = kt_diag_fail(diag, KT_ERR_KAFKA, "%s: %s%s", what, rd_kafka_error_string(ge),
				   denial_suffix(rd_kafka_error_code(ge), dn, sizeof(dn)));
	} else {
		/* a group the target does not know is "Dead" with no members */
		*out_members = rd_kafka_ConsumerGroupDescription_member_count(gd[0]);
		snprintf(state, state_size, "%s",
			 rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(gd[0])));
	}
	rd_kafka_event_destroy(ev);
	return err;
}

enum kt_err kt_kafka_alter_group_offsets(struct kt_kafka *k, const char *group, const char *topic,
					 const int32_t *partitions, const int64_t *offsets, size_t count,
					 struct kt_diag *diag)
{
	int64_t deadline = kt_time_mono_ns() + k->timeout_ms * 1000000;
	int wait_ms = 100;
	for (;;) {
		int retry;
		enum kt_err err = alter_group_once(k, group, topic, partitions, offsets, count, &retry, diag);
		if (!retry)
			return err;
		int64_t left_ms = (deadline - kt_time_mono_ns()) / 1000000;
		if (left_ms <= 0) {
			kt_diag_prefix(diag, "after %lld s", (long long)(k->timeout_ms / 1000));
			return err;
		}
		pause_ms(wait_ms < left_ms ? wait_ms : (int)left_ms);
		/* a fresh cluster makes its offsets topic in a second or
		 * three: a retry every half second finds it soon after */
		wait_ms = wait_ms < 250 ? wait_ms * 2 : 500;
	}
}

/* ---- consuming ---- */

static struct owner *owner_find(struct kt_kafka *k, const char *topic, int32_t partition);

/* The client that fetches a partition: the one kt_kafka_assign gave it to. */
static rd_kafka_t *fetcher_of(struct kt_kafka *k, const char *topic, int32_t partition)
{
	struct owner *o = owner_find(k, topic, partition);
	return o ? k->fetch[o->f].rk : k->rk;
}

static enum kt_err add_fetcher(struct kt_kafka *k, struct kt_diag *diag)
{
	char errstr[ERRSTR];
	rd_kafka_conf_t *c = rd_kafka_conf_dup(k->fetch_conf);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(c);
		return kt_diag_fail(diag, KT_ERR_KAFKA, "cannot create Kafka client: %s", errstr);
	}
	fetcher_init(k, &k->fetch[k->nfetch++], rk);
	return KT_OK;
}

struct weighed {
	int64_t w;
	size_t i;
};

/* A weight as the plans add it up: at least 1, and small enough that the
 * sums cannot overflow (a partition without an end, say INT64_MAX - offset,
 * counts as 2^40 records). */
static int64_t weight_at(const int64_t *weights, size_t i)
{
	if (!weights || weights[i] < 1)
		return 1;
	return weights[i] < (INT64_C(1) << 40) ? weights[i] : INT64_C(1) << 40;
}

/* heaviest first; equal weights in the caller's order */
static int heavier_first(const void *a, const void *b)
{
	const struct weighed *x = a, *y = b;
	if (x->w != y->w)
		return x->w < y->w ? 1 : -1;
	return (x->i > y->i) - (x->i < y->i);
}

/* Which of nf fetchers reads each of count partitions (into out): the
 * heaviest onto the least loaded, in turn. */
static enum kt_err spread_plan(const int64_t *weights, size_t count, size_t nf, int *out)
{
	struct weighed *order = calloc(count + 1, sizeof(*order));
	if (!order)
		return KT_ERR_NOMEM;
	for (size_t i = 0; i < count; i++)
		order[i] = (struct weighed){weight_at(weights, i), i};
	kt_sort(order, count, sizeof(*order), heavier_first);
	int64_t load[KT_KAFKA_FETCHERS_MAX] = {0};
	for (size_t j = 0; j < count; j++) {
		size_t f = 0;
		for (size_t g = 1; g < nf; g++)
			if (load[g] < load[f])
				f = g;
		load[f] += order[j].w;
		out[order[j].i] = (int)f;
	}
	free(order);
	return KT_OK;
}

/* min(fetchers wanted, count) fetchers, made as needed; *nf says how many. */
static enum kt_err ensure_fetchers(struct kt_kafka *k, size_t count, size_t *nf, struct kt_diag *diag)
{
	size_t want = (size_t)k->fetchers_wanted < count ? (size_t)k->fetchers_wanted : count;
	if (want < 1)
		want = 1;
	enum kt_err err = KT_OK;
	while (!err && (size_t)k->nfetch < want)
		err = add_fetcher(k, diag);
	*nf = want;
	return err;
}

void kt_kafka_set_fetchers(struct kt_kafka *k, int n)
{
	k->fetchers_wanted = n < 1 ? 1 : n < KT_KAFKA_FETCHERS_MAX ? n : KT_KAFKA_FETCHERS_MAX;
}

enum kt_err kt_kafka_assign(struct kt_kafka *k, const struct kt_kafka_assignment *parts, size_t count,
			    struct kt_diag *diag)
{
	return kt_kafka_assign_weighted(k, parts, NULL, count, diag);
}

static void free_owners(struct owner *o, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(o[i].topic);
	free(o);
}

enum kt_err kt_kafka_assign_weighted(struct kt_kafka *k, const struct kt_kafka_assignment *parts,
				     const int64_t *weights, size_t count, struct kt_diag *diag)
{
	size_t nf;
	enum kt_err err = ensure_fetchers(k, count, &nf, diag);
	if (err)
		return err;
	struct owner *own = calloc(count + 1, sizeof(*own));
	int *plan = calloc(count + 1, sizeof(*plan));
	err = own && plan ? spread_plan(weights, count, nf, plan) : KT_ERR_NOMEM;
	rd_kafka_topic_partition_list_t *l[KT_KAFKA_FETCHERS_MAX];
	for (int f = 0; f < k->nfetch; f++)
		l[f] = rd_kafka_topic_partition_list_new((int)count);
	for (size_t i = 0; !err && i < count; i++) {
		rd_kafka_topic_partition_list_add(l[plan[i]], parts[i].topic, parts[i].partition)->offset =
			parts[i].offset;
		own[i] = (struct owner){strdup(parts[i].topic), parts[i].partition, plan[i]};
		if (!own[i].topic)
			err = KT_ERR_NOMEM;
	}
	/* every fetcher's assignment is replaced, an empty one included */
	for (int f = 0; !err && f < k->nfetch; f++) {
		rd_kafka_resp_err_t e = rd_kafka_assign(k->fetch[f].rk, l[f]);
		if (e)
			err = rk_fail(diag, "cannot assign partitions", e);
	}
	for (int f = 0; f < k->nfetch; f++)
		rd_kafka_topic_partition_list_destroy(l[f]);
	free(plan);
	free_owners(k->owners, k->nowners);
	free_owners(k->stale, k->nstale);
	k->stale = NULL;
	k->nstale = 0;
	k->owners = own;
	k->nowners = own ? count : 0;
	return err;
}

static struct owner *owner_find(struct kt_kafka *k, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < k->nowners; i++)
		if (k->owners[i].partition == partition && k->owners[i].topic && !strcmp(k->owners[i].topic, topic))
			return &k->owners[i];
	return NULL;
}

/* From where the partitions are (plan[i], in), moves one at a time from the
 * most loaded fetcher to the least loaded while that lowers the larger of
 * the two loads: a partition moves only for a gain, as what its old
 * fetcher has queued of it is fetched again. Unless even, only while the
 * smaller load is under half the larger. */
static void rebalance_plan(const int64_t *weights, size_t count, size_t nf, int even, int *plan)
{
	int64_t load[KT_KAFKA_FETCHERS_MAX] = {0};
	size_t parts[KT_KAFKA_FETCHERS_MAX] = {0};
	for (size_t i = 0; i < count; i++) {
		load[plan[i]] += weight_at(weights, i);
		parts[plan[i]]++;
	}
	for (size_t moves = 0; moves < count; moves++) {
		size_t hi = 0, lo = 0;
		for (size_t f = 1; f < nf; f++) {
			if (load[f] > load[hi])
				hi = f;
			if (load[f] < load[lo])
				lo = f;
		}
		/* only a clear imbalance: a small gain does not pay for what
		 * the old fetcher has queued */
		if (parts[hi] < 2 || (!even && load[lo] * 2 > load[hi]))
			return;
		/* the partition that leaves the two loads closest */
		size_t best = count;
		int64_t best_max = load[hi];
		for (size_t i = 0; i < count; i++) {
			if ((size_t)plan[i] != hi)
				continue;
			int64_t w = weight_at(weights, i);
			int64_t m = load[hi] - w > load[lo] + w ? load[hi] - w : load[lo] + w;
			if (m < best_max) {
				best_max = m;
				best = i;
			}
		}
		if (best == count)
			return;
		int64_t w = weight_at(weights, best);
		load[hi] -= w;
		load[lo] += w;
		parts[hi]--;
		parts[lo]++;
		plan[best] = (int)lo;
	}
}

enum kt_err kt_kafka_respread(struct kt_kafka *k, const struct kt_kafka_assignment *parts, const int64_t *weights,
			      size_t count, int even, struct kt_diag *diag)
{
	size_t nf;
	enum kt_err err = ensure_fetchers(k, count, &nf, diag);
	/* every client there is may keep what it has: with fewer partitions
	 * left than clients, a partition on a client past the first count
	 * would move for nothing */
	if ((size_t)k->nfetch > nf)
		nf = (size_t)k->nfetch;
	int *plan = calloc(count + 1, sizeof(*plan));
	struct owner *stale = realloc(k->stale, (k->nstale + count + 1) * sizeof(*stale));
	if (stale)
		k->stale = stale;
	if (!err && (!plan || !stale))
		err = KT_ERR_NOMEM;
	for (size_t i = 0; !err && i < count; i++) {
		struct owner *o = owner_find(k, parts[i].topic, parts[i].partition);
		plan[i] = o && (size_t)o->f < nf ? o->f : 0;
	}
	if (!err)
		rebalance_plan(weights, count, nf, even, plan);
	/* per fetcher, what it gives away (u) and takes (l): one call each, as
	 * every call waits for librdkafka's main thread */
	rd_kafka_topic_partition_list_t *l[KT_KAFKA_FETCHERS_MAX], *u[KT_KAFKA_FETCHERS_MAX];
	for (int f = 0; f < k->nfetch; f++) {
		l[f] = rd_kafka_topic_partition_list_new((int)count);
		u[f] = rd_kafka_topic_partition_list_new((int)count);
	}
	for (size_t i = 0; !err && i < count; i++) {
		struct owner *o = owner_find(k, parts[i].topic, parts[i].partition);
		if (!o || o->f == plan[i])
			continue;
		char *name = strdup(parts[i].topic);
		if (!name) {
			err = KT_ERR_NOMEM;
			break;
		}
		rd_kafka_topic_partition_list_add(u[o->f], parts[i].topic, parts[i].partition);
		/* what the old fetcher still has queued of it is dropped: the new
		 * one reads it again from the offset given (and a partition back
		 * at a fetcher it left is no longer stale there) */
		for (size_t j = 0; j < k->nstale; j++)
			if (k->stale[j].f == plan[i] && k->stale[j].partition == parts[i].partition &&
			    !strcmp(k->stale[j].topic, parts[i].topic))
				k->stale[j].f = -1;
		k->stale[k->nstale++] = (struct owner){name, parts[i].partition, o->f};
		o->f = plan[i];
		rd_kafka_topic_partition_list_add(l[plan[i]], parts[i].topic, parts[i].partition)->offset =
			parts[i].offset;
	}
	for (int f = 0; !err && f < k->nfetch; f++) {
		rd_kafka_error_t *e = u[f]->cnt ? rd_kafka_incremental_unassign(k->fetch[f].rk, u[f]) : NULL;
		if (e) {
			err = kt_diag_fail(diag, KT_ERR_KAFKA, "cannot stop fetching partitions: %s",
					   rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
	}
	for (int f = 0; !err && f < k->nfetch; f++) {
		rd_kafka_error_t *e = l[f]->cnt ? rd_kafka_incremental_assign(k->fetch[f].rk, l[f]) : NULL;
		if (e) {
			err = kt_diag_fail(diag, KT_ERR_KAFKA, "cannot assign partitions: %s",
					   rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
	}
	for (int f = 0; f < k->nfetch; f++) {
		rd_kafka_topic_partition_list_destroy(l[f]);
		rd_kafka_topic_partition_list_destroy(u[f]);
	}
	free(plan);
	return err;
}

/* A message of a partition fetcher f gave away (kt_kafka_respread). */
static int stale(const struct kt_kafka *k, int f, const rd_kafka_message_t *m)
{
	if (!m->rkt)
		return 0;
	for (size_t i = 0; i < k->nstale; i++)
		if (k->stale[i].f == f && k->stale[i].partition == m->partition &&
		    !strcmp(k->stale[i].topic, rd_kafka_topic_name(m->rkt)))
			return 1;
	return 0;
}

enum kt_err kt_kafka_unassign_one(struct kt_kafka *k, const char *topic, int32_t partition, struct kt_diag *diag)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, partition);
	rd_kafka_error_t *e = rd_kafka_incremental_unassign(fetcher_of(k, topic, partition), l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		enum kt_err err = kt_diag_fail(diag, KT_ERR_KAFKA, "cannot stop fetching %s/%d: %s", topic, partition,
					       rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return err;
	}
	return KT_OK;
}

enum kt_err kt_kafka_reassign_one(struct kt_kafka *k, const char *topic, int32_t partition, int64_t offset,
				  struct kt_diag *diag)
{
	enum kt_err err = kt_kafka_unassign_one(k, topic, partition, diag);
	if (err)
		return err;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
	rd_kafka_error_t *e = rd_kafka_incremental_assign(fetcher_of(k, topic, partition), l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		err = kt_diag_fail(diag, KT_ERR_KAFKA, "cannot fetch %s/%d again: %s", topic, partition,
				   rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	return err;
}

enum kt_err kt_kafka_assign_more(struct kt_kafka *k, const struct kt_kafka_assignment *parts, size_t count,
				 struct kt_diag *diag)
{
	if (!count)
		return KT_OK;
	struct owner *own = realloc(k->owners, (k->nowners + count + 1) * sizeof(*own));
	if (own)
		k->owners = own;
	struct owner *stale = realloc(k->stale, (k->nstale + count + 1) * sizeof(*stale));
	if (stale)
		k->stale = stale;
	if (!own || !stale)
		return KT_ERR_NOMEM;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)count);
	enum kt_err err = KT_OK;
	for (size_t i = 0; !err && i < count; i++) {
		rd_kafka_topic_partition_list_add(l, parts[i].topic, parts[i].partition)->offset = parts[i].offset;
		struct owner *o = owner_find(k, parts[i].topic, parts[i].partition);
		char *name = strdup(parts[i].topic);
		char *name2 = o ? NULL : strdup(parts[i].topic);
		if (!name || (!o && !name2)) {
			free(name);
			free(name2);
			err = KT_ERR_NOMEM;
			break;
		}
		/* a partition of that name fetched before by another client (a
		 * topic recreated): what that one still has queued of it belongs
		 * to the old topic and is never returned */
		for (size_t j = 0; j < k->nstale; j++)
			if (k->stale[j].f == 0 && k->stale[j].partition == parts[i].partition &&
			    !strcmp(k->stale[j].topic, parts[i].topic))
				k->stale[j].f = -1;
		if (o && o->f != 0)
			k->stale[k->nstale++] = (struct owner){name, parts[i].partition, o->f};
		else
			free(name);
		if (o)
			o->f = 0;
		else
			k->owners[k->nowners++] = (struct owner){name2, parts[i].partition, 0};
	}
	rd_kafka_error_t *e = err ? NULL : rd_kafka_incremental_assign(k->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		err = kt_diag_fail(diag, KT_ERR_KAFKA, "cannot assign partitions: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	}
	return err;
}

int64_t kt_kafka_cached_end(struct kt_kafka *k, const char *topic, int32_t partition)
{
	int64_t low = -1, high = -1;
	if (rd_kafka_get_watermark_offsets(fetcher_of(k, topic, partition), topic, partition, &low, &high) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		return -1;
	return high;
}

uint64_t kt_kafka_error_count(struct kt_kafka *k)
{
	return k ? __atomic_load_n(&k->errors, __ATOMIC_RELAXED) : 0;
}

int64_t kt_kafka_position(struct kt_kafka *k, const char *topic, int32_t partition)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, partition);
	int64_t pos = -1;
	if (rd_kafka_position(fetcher_of(k, topic, partition), l) == RD_KAFKA_RESP_ERR_NO_ERROR && !l->elems[0].err)
		pos = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return pos;
}

/* hdrs grows as needed: the header views of the last record converted */
static enum kt_err msg_to_record(struct kt_header **hdrs_p, size_t *hdr_cap, rd_kafka_message_t *m,
				 struct kt_kafka_msg *msg)
{
	struct kt_record *r = &msg->rec;
	memset(r, 0, sizeof(*r));
	r->offset = m->offset;
	rd_kafka_timestamp_type_t tstype;
	r->timestamp = rd_kafka_message_timestamp(m, &tstype);
	r->ts_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME	    ? KT_TS_CREATE
		     : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? KT_TS_LOG_APPEND
								    : KT_TS_NONE;
	if (r->ts_type == KT_TS_NONE)
		r->timestamp = -1;
	/* librdkafka gives NULL for a null key or value and a pointer with
	 * length 0 for an empty one */
	r->key_null = m->key == NULL;
	r->key = m->key;
	r->key_len = m->key ? m->key_len : 0;
	r->value_null = m->payload == NULL;
	r->value = m->payload;
	r->value_len = m->payload ? m->len : 0;
	msg->size = r->key_len + r->value_len;
	rd_kafka_headers_t *hdrs = NULL;
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs) {
		size_t n = rd_kafka_header_cnt(hdrs);
		if (n > *hdr_cap) {
			struct kt_header *nh = realloc(*hdrs_p, n * sizeof(*nh));
			if (!nh)
				return KT_ERR_NOMEM;
			*hdrs_p = nh;
			*hdr_cap = n;
		}
		struct kt_header *h = *hdrs_p;
		for (size_t i = 0; i < n; i++) {
			const char *name;
			const void *val;
			size_t size;
			if (rd_kafka_header_get_all(hdrs, i, &name, &val, &size))
				return KT_ERR_KAFKA;
			h[i] = (struct kt_header){(const uint8_t *)name, strlen(name), val, val ? size : 0,
						  val == NULL};
			msg->size += strlen(name) + (val ? size : 0);
		}
		r->headers = h;
		r->header_count = n;
	}
	return KT_OK;
}

/* A consumer's errors about its group. assign() needs a group.id, and with
 * one librdkafka looks up the group's coordinator (FindCoordinator, which
 * needs Describe on the group) whether or not the group is used; ktape
 * never joins it, never fetches or commits its offsets (every assignment
 * has its offset), so a denial there concerns nothing it does (issue
 * #18: a dump without any group ACL failed or not by timing). */
static int ignorable(const rd_kafka_message_t *m)
{
	return m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED;
}

/* At most this many of a client's partitions in one kick: enough to reach
 * every broker that leads some of them in all but huge clusters, few
 * enough that the request stays small. */
#define KICK_PARTS_MAX 64
_Static_assert(KT_KAFKA_FETCHERS_MAX <= KT_KICK_SLOTS, "a kick slot for every fetcher");

/* Sends a kick to fetcher fi's brokers, for a sample of its partitions. */
static void kick(struct kt_kafka *k, int fi)
{
	size_t mine = 0;
	for (size_t i = 0; i < k->nowners; i++)
		mine += k->owners[i].f == fi;
	if (!mine || (!k->kick && kt_kick_new(&k->kick)))
		return;
	size_t step = mine > KICK_PARTS_MAX ? (mine + KICK_PARTS_MAX - 1) / KICK_PARTS_MAX : 1;
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(KICK_PARTS_MAX);
	size_t seen = 0;
	for (size_t i = 0; i < k->nowners; i++)
		if (k->owners[i].f == fi && seen++ % step == 0)
			rd_kafka_topic_partition_list_add(parts, k->owners[i].topic, k->owners[i].partition);
	kt_kick_request(k->kick, fi, k->fetch[fi].rk, parts);
}

/* After records were taken from fetcher fi (msgs, n; the queue held
 * queued_before ops just before): when the queue was near
 * queued.max.messages.kbytes (librdkafka may have stopped fetching) and is
 * well under it now, kick its brokers. The queue's bytes are estimated
 * from its length and the records' mean value size, so the thresholds
 * leave room for the estimate's error. */
static void note_taken(struct kt_kafka *k, int fi, size_t queued_before, rd_kafka_message_t **msgs, size_t n)
{
	struct fetcher *f = &k->fetch[fi];
	for (size_t i = 0; i < n; i++)
		if (!msgs[i]->err) {
			f->taken_bytes += (int64_t)msgs[i]->len;
			f->taken++;
		}
	if (!f->taken || k->queue_max_bytes <= 0)
		return;
	int64_t mean = f->taken_bytes / f->taken;
	if ((int64_t)queued_before * mean * 10 >= k->queue_max_bytes * 7)
		f->full = 1;
	if (f->full && (int64_t)rd_kafka_queue_length(f->q) * mean * 10 <= k->queue_max_bytes * 4) {
		f->full = 0;
		kick(k, fi);
	}
}

unsigned long kt_kafka_kick_count(struct kt_kafka *k)
{
	return k->kick ? kt_kick_count(k->kick) : 0;
}

enum kt_err kt_kafka_poll(struct kt_kafka *k, int timeout_ms, struct kt_kafka_msg *msg, struct kt_diag *diag)
{
	if (k->held) {
		rd_kafka_message_destroy(k->held);
		k->held = NULL;
	}
	msg->event = KT_KAFKA_NONE;
	size_t queued = k->nfetch ? rd_kafka_queue_length(k->fetch[0].q) : 0;
	rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, timeout_ms);
	while (m && ignorable(m)) {
		rd_kafka_message_destroy(m);
		m = rd_kafka_consumer_poll(k->rk, timeout_ms);
	}
	if (!m)
		return health(k, diag);
	if (k->nfetch)
		note_taken(k, 0, queued, &m, 1);
	if (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		mark_up(k);
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		msg->event = KT_KAFKA_EOF;
		msg->topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
		msg->partition = m->partition;
		msg->rec.offset = m->offset;
		k->held = m;
		return KT_OK;
	}
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt) {
		msg->event = KT_KAFKA_OFFSET_GONE;
		msg->topic = rd_kafka_topic_name(m->rkt);
		msg->partition = m->partition;
		k->held = m;
		return KT_OK;
	}
	if (m->err) {
		char dn[64];
		enum kt_err err = kt_diag_fail(diag, KT_ERR_KAFKA, "%s%s%s [%d]: %s%s", "consume", m->rkt ? " " : "",
					       m->rkt ? rd_kafka_topic_name(m->rkt) : "", (int)m->partition,
					       rd_kafka_message_errstr(m), denial_suffix(m->err, dn, sizeof(dn)));
		rd_kafka_message_destroy(m);
		return err;
	}
	k->held = m;
	msg->event = KT_KAFKA_RECORD;
	msg->topic = rd_kafka_topic_name(m->rkt);
	msg->partition = m->partition;
	return msg_to_record(&k->hdrs, &k->hdr_cap, m, msg);
}

/* ---- consuming in batches ---- */

struct kt_kafka_batch {
	rd_kafka_message_t **msgs;
	size_t n, max;
	struct kt_header *hdrs;
	size_t hdr_cap;
};

enum kt_err kt_kafka_batch_new(size_t max, struct kt_kafka_batch **out)
{
	struct kt_kafka_batch *b = calloc(1, sizeof(*b));
	if (b)
		b->msgs = calloc(max ? max : 1, sizeof(*b->msgs));
	if (!b || !b->msgs) {
		free(b);
		return KT_ERR_NOMEM;
	}
	b->max = max ? max : 1;
	*out = b;
	return KT_OK;
}

void kt_kafka_batch_release(struct kt_kafka_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->msgs[i]);
	b->n = 0;
}

void kt_kafka_batch_free(struct kt_kafka_batch *b)
{
	if (!b)
		return;
	kt_kafka_batch_release(b);
	free(b->msgs);
	free(b->hdrs);
	free(b);
}

/* What is queued at the fetchers now, without waiting, the first fetcher
 * in turn so that none starves the others. Drops what ignorable() says and
 * what a fetcher still had of a partition it gave away. */
static enum kt_err take_queued(struct kt_kafka *k, struct kt_kafka_batch *b, struct kt_diag *diag)
{
	for (int j = 0; j < k->nfetch && b->n < b->max; j++) {
		struct fetcher *f = &k->fetch[(k->next_fetch + j) % k->nfetch];
		size_t queued = rd_kafka_queue_length(f->q);
		ssize_t n = rd_kafka_consume_batch_queue(f->q, 0, b->msgs + b->n, b->max - b->n);
		if (n < 0)
			return rk_fail(diag, "consume", rd_kafka_last_error());
		size_t kept = b->n;
		int fi = (k->next_fetch + j) % k->nfetch;
		note_taken(k, fi, queued, b->msgs + b->n, (size_t)n);
		for (size_t i = b->n; i < b->n + (size_t)n; i++) {
			if (ignorable(b->msgs[i]) || (k->nstale && stale(k, fi, b->msgs[i])))
				rd_kafka_message_destroy(b->msgs[i]);
			else
				b->msgs[kept++] = b->msgs[i];
		}
		b->n = kept;
	}
	k->next_fetch = k->nfetch ? (k->next_fetch + 1) % k->nfetch : 0;
	return KT_OK;
}

enum kt_err kt_kafka_poll_batch(struct kt_kafka *k, int timeout_ms, struct kt_kafka_batch *b, size_t *out_count,
				struct kt_diag *diag)
{
	kt_kafka_batch_release(b);
	*out_count = 0;
	/* Waits for the first message only, then takes what is queued behind
	 * it: on q_cv rather than in rd_kafka_consume_batch_queue, which waits
	 * on one queue, for a whole batch or the timeout */
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	enum kt_err err = KT_OK;
	for (;;) {
		/* cleared before looking, so that a message queued after the
		 * look sets it again and the wait below does not miss it */
		pthread_mutex_lock(&k->q_mu);
		k->q_ready = 0;
		int woken = k->q_woken;
		k->q_woken = 0;
		pthread_mutex_unlock(&k->q_mu);
		err = take_queued(k, b, diag);
		if (err || b->n || woken)
			break;
		int timed_out = 0;
		pthread_mutex_lock(&k->q_mu);
		while (!k->q_ready && !k->q_woken && !timed_out)
			timed_out = pthread_cond_timedwait(&k->q_cv, &k->q_mu, &deadline) != 0;
		pthread_mutex_unlock(&k->q_mu);
		if (timed_out) {
			err = take_queued(k, b, diag);
			break;
		}
	}
	*out_count = b->n;
	if (err)
		return err;
	if (!b->n)
		return health(k, diag);
	for (size_t i = 0; i < b->n; i++)
		if (!b->msgs[i]->err || b->msgs[i]->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			mark_up(k);
			break;
		}
	return KT_OK;
}

void kt_kafka_wake(struct kt_kafka *k)
{
	pthread_mutex_lock(&k->q_mu);
	k->q_woken = 1;
	pthread_cond_signal(&k->q_cv);
	pthread_mutex_unlock(&k->q_mu);
}

size_t kt_kafka_batch_count(const struct kt_kafka_batch *b)
{
	return b->n;
}

int kt_kafka_batch_is_record(const struct kt_kafka_batch *b, size_t i)
{
	return b->msgs[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

enum kt_err kt_kafka_batch_msg(struct kt_kafka_batch *b, size_t i, struct kt_kafka_msg *msg, struct kt_diag *diag)
{
	rd_kafka_message_t *m = b->msgs[i];
	msg->event = KT_KAFKA_NONE;
	msg->topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
	msg->partition = m->partition;
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		/* where the end was reached: the consumer's position may be past
		 * it already, by records later in the same batch */
		msg->event = KT_KAFKA_EOF;
		msg->rec.offset = m->offset;
		return KT_OK;
	}
	if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt) {
		msg->event = KT_KAFKA_OFFSET_GONE;
		return KT_OK;
	}
	if (m->err) {
		char dn[64];
		return kt_diag_fail(diag, KT_ERR_KAFKA, "consume%s%s [%d]: %s%s", m->rkt ? " " : "", msg->topic,
				    (int)m->partition, rd_kafka_message_errstr(m),
				    denial_suffix(m->err, dn, sizeof(dn)));
	}
	msg->event = KT_KAFKA_RECORD;
	return msg_to_record(&b->hdrs, &b->hdr_cap, m, msg);
}

/* ---- producing ---- */

void kt_kafka_set_delivery_cb(struct kt_kafka *k, kt_kafka_delivery_cb cb, void *ctx)
{
	k->dr_cb = cb;
	k->dr_ctx = ctx;
}

/* The producer's handle of topic, made at its first record; NULL if it
 * cannot be made (out of memory, a name librdkafka refuses), and then
 * rd_kafka_produceva is given the name and its error code says what is
 * wrong, as before the handles. By name, librdkafka finds the topic under
 * the client's write lock for every record, the lock its broker thread
 * takes too: a restore spent some 3% of its main thread there (issue #19). */
static rd_kafka_topic_t *producer_topic(struct kt_kafka *k, const char *topic)
{
	if (k->nptopics && !strcmp(k->ptopics[k->ptopic_last].name, topic))
		return k->ptopics[k->ptopic_last].rkt;
	for (size_t i = 0; i < k->nptopics; i++)
		if (!strcmp(k->ptopics[i].name, topic)) {
			k->ptopic_last = i;
			return k->ptopics[i].rkt;
		}
	struct prod_topic *grown = realloc(k->ptopics, (k->nptopics + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	k->ptopics = grown;
	char *name = strdup(topic);
	rd_kafka_topic_t *rkt = name ? rd_kafka_topic_new(k->rk, topic, NULL) : NULL;
	if (!rkt) {
		free(name);
		return NULL;
	}
	k->ptopics[k->nptopics] = (struct prod_topic){name, rkt};
	k->ptopic_last = k->nptopics++;
	return rkt;
}

enum kt_err kt_kafka_produce(struct kt_kafka *k, const char *topic, int32_t partition, const struct kt_record *rec,
			     const struct kt_header *extra_headers, size_t extra_count, void *opaque,
			     struct kt_diag *diag)
{
	/* only while records wait for delivery is a cluster that is down
	 * holding anything up */
	enum kt_err herr = rd_kafka_outq_len(k->rk) > 0 ? health(k, diag) : hard_fail(k, diag);
	if (herr)
		return herr;
	rd_kafka_headers_t *hdrs = NULL;
	if (rec->header_count + extra_count) {
		hdrs = rd_kafka_headers_new(rec->header_count + extra_count);
		for (size_t i = 0; i < rec->header_count; i++) {
			const struct kt_header *h = &rec->headers[i];
			rd_kafka_header_add(hdrs, (const char *)h->name, (ssize_t)h->name_len,
					    h->value_null ? NULL : (h->value ? (const void *)h->value : ""),
					    (ssize_t)h->value_len);
		}
		for (size_t i = 0; i < extra_count; i++) {
			const struct kt_header *h = &extra_headers[i];
			rd_kafka_header_add(hdrs, (const char *)h->name, (ssize_t)h->name_len, h->value,
					    (ssize_t)h->value_len);
		}
	}
	/* a non-NULL pointer with length 0 is an empty (not null) key or value */
	const void *key = rec->key_null ? NULL : (rec->key ? (const void *)rec->key : "");
	const void *val = rec->value_null ? NULL : (rec->value ? (const void *)rec->value : "");
	int32_t p = partition < 0 ? RD_KAFKA_PARTITION_UA : partition;
	int64_t ts = rec->ts_type == KT_TS_NONE ? 0 : rec->timestamp;
	rd_kafka_topic_t *rkt = producer_topic(k, topic);
	rd_kafka_vu_t vu[] = {
		rkt ? (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_RKT, .u.rkt = rkt}
		    : (rd_kafka_vu_t){.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = topic},
		{.vtype = RD_KAFKA_VTYPE_PARTITION, .u.i32 = p},
		{.vtype = RD_KAFKA_VTYPE_KEY, .u.mem = {(void *)key, rec->key_len}},
		{.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {(void *)val, rec->value_len}},
		{.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = RD_KAFKA_MSG_F_COPY},
		{.vtype = RD_KAFKA_VTYPE_TIMESTAMP, .u.i64 = ts},
		{.vtype = RD_KAFKA_VTYPE_HEADERS, .u.headers = hdrs},
		{.vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = opaque},
	};
	rd_kafka_error_t *error = rd_kafka_produceva(k->rk, vu, sizeof(vu) / sizeof(vu[0]));
	rd_kafka_resp_err_t e = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
	if (error)
		rd_kafka_error_destroy(error);
	if (e) {
		if (hdrs)
			rd_kafka_headers_destroy(hdrs); /* ownership passes only on success */
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return KT_ERR_LIMIT;
		char why[384] = "";
		/* "Local: Fatal error" alone names no cause: the client's own
		 * reason does (with the gapless guarantee, the failed batch
		 * and its broker error) */
		if (e == RD_KAFKA_RESP_ERR__FATAL)
			rd_kafka_fatal_error(k->rk, why, sizeof(why));
		return kt_diag_fail(diag, KT_ERR_KAFKA, "cannot produce to %s [%d] (source offset %lld): %s%s%s", topic,
				    partition, (long long)rec->offset, rd_kafka_err2str(e), why[0] ? ": " : "", why);
	}
	return KT_OK;
}

void kt_kafka_produce_poll(struct kt_kafka *k, int timeout_ms)
{
	rd_kafka_poll(k->rk, timeout_ms);
}

int kt_kafka_stopped(struct kt_kafka *k)
{
	return rd_kafka_fatal_error(k->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

enum kt_err kt_kafka_flush(struct kt_kafka *k, int timeout_ms, struct kt_diag *diag)
{
	/* in slices, so that a cluster gone is noticed between them */
	int64_t deadline = kt_time_mono_ns() + (int64_t)timeout_ms * 1000000;
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_flush(k->rk, 200)) == RD_KAFKA_RESP_ERR__TIMED_OUT && kt_time_mono_ns() < deadline) {
		enum kt_err err = health(k, diag);
		if (err)
			return err;
	}
	if (e)
		return rk_fail(diag, "records still undelivered", e);
	return KT_OK;
}

int kt_kafka_outq_len(struct kt_kafka *k)
{
	return rd_kafka_outq_len(k->rk);
}

int32_t kt_kafka_murmur2_partition(const uint8_t *key, size_t len, int32_t n)
{
	/* Kafka's murmur2 (seed 0x9747b28c), as the Java client's
	 * DefaultPartitioner: toPositive(murmur2(key)) % n */
	const uint32_t m = 0x5bd1e995;
	uint32_t h = 0x9747b28c ^ (uint32_t)len;
	size_t i = 0;
	for (; i + 4 <= len; i += 4) {
		uint32_t kk = (uint32_t)key[i] | (uint32_t)key[i + 1] << 8 | (uint32_t)key[i + 2] << 16 |
			      (uint32_t)key[i + 3] << 24;
		kk *= m;
		kk ^= kk >> 24;
		kk *= m;
		h *= m;
		h ^= kk;
	}
	switch (len & 3) {
	case 3:
		h ^= (uint32_t)key[i + 2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)key[i + 1] << 8;
		/* fall through */
	case 1: h ^= key[i]; h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return (int32_t)((h & 0x7fffffff) % (uint32_t)n);
}

void kt_kafka_conf_each(const struct kt_kafka_conf *conf, kt_kafka_conf_kv_cb cb, void *ctx)
{
	for (size_t i = 0; i < conf->count; i++)
		cb(ctx, conf->kv[i].key, conf->kv[i].value);
}
