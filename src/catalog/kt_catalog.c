#include "kt_catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt_cursor.h"
#include "kt_fileio.h"
#include "catalog_schema.h" /* kt_catalog_schema_sql, from format/catalog.sql */

#define STMT_CACHE 64

struct kt_catalog {
	sqlite3 *db;
	int readonly;
	int opened;    /* sqlite3_open_v2 succeeded: what fails next is a -wal or -shm file */
	int immutable; /* read with immutable=1: nothing could be created beside it */
	int version;   /* PRAGMA user_version: a reader may have an older one */
	/* prepared statements, keyed by the address of their SQL text (every
	 * query below is a string literal, so the address is stable) */
	const char *stmt_sql[STMT_CACHE];
	sqlite3_stmt *stmt[STMT_CACHE];
	int stmt_count;
};

static enum kt_err db_fail(struct kt_catalog *cat, struct kt_diag *diag, const char *what)
{
	int prim = sqlite3_extended_errcode(cat->db) & 0xff;
	const char *path = sqlite3_db_filename(cat->db, "main");
	/* a transaction's pages go to the -wal first */
	if (prim == SQLITE_FULL || (prim == SQLITE_IOERR && sqlite3_system_errno(cat->db) == ENOSPC))
		return kt_diag_fail(diag, KT_ERR_NO_SPACE, "no space left on device writing %s-wal",
				    path ? path : "catalog.db");
	if (prim == SQLITE_READONLY)
		return kt_diag_fail(diag, KT_ERR_IO, "catalog: %s: %s cannot be written (%s)", what,
				    path ? path : "catalog.db", sqlite3_errmsg(cat->db));
	return kt_diag_fail(diag, KT_ERR_CATALOG, "catalog: %s: %s", what, sqlite3_errmsg(cat->db));
}

static sqlite3_stmt *prepare(struct kt_catalog *cat, const char *sql, struct kt_diag *diag)
{
	for (int i = 0; i < cat->stmt_count; i++)
		if (cat->stmt_sql[i] == sql) {
			sqlite3_reset(cat->stmt[i]);
			sqlite3_clear_bindings(cat->stmt[i]);
			return cat->stmt[i];
		}
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(cat->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		db_fail(cat, diag, "prepare");
		return NULL;
	}
	if (cat->stmt_count < STMT_CACHE) {
		cat->stmt_sql[cat->stmt_count] = sql;
		cat->stmt[cat->stmt_count++] = st;
	} else {
		/* cannot happen with the fixed set of queries here; keep it
		 * correct anyway by leaking nothing: finalize the oldest */
		sqlite3_finalize(cat->stmt[0]);
		memmove(cat->stmt_sql, cat->stmt_sql + 1, (STMT_CACHE - 1) * sizeof(cat->stmt_sql[0]));
		memmove(cat->stmt, cat->stmt + 1, (STMT_CACHE - 1) * sizeof(cat->stmt[0]));
		cat->stmt_sql[STMT_CACHE - 1] = sql;
		cat->stmt[STMT_CACHE - 1] = st;
	}
	return st;
}

/* Binds arguments by a type string: 'i' int64_t, 'u' uint32_t, 'd' int32_t,
 * 't' const char * (NULL binds SQL NULL), 'n' int64_t that binds NULL when
 * negative. */
static int bindv(sqlite3_stmt *st, const char *types, va_list ap)
{
	for (int i = 0; types[i]; i++) {
		int rc;
		switch (types[i]) {
		case 'i': rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
		case 'u': rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, uint32_t)); break;
		case 'd': rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int32_t)); break;
		case 'n': {
			int64_t v = va_arg(ap, int64_t);
			rc = v < 0 ? sqlite3_bind_null(st, i + 1) : sqlite3_bind_int64(st, i + 1, v);
			break;
		}
		case 't': {
			const char *s = va_arg(ap, const char *);
			rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i + 1);
			break;
		}
		default: return SQLITE_MISUSE;
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/* Prepares and binds a query; the caller steps it with step(). */
static sqlite3_stmt *query(struct kt_catalog *cat, struct kt_diag *diag, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st = prepare(cat, sql, diag);
	if (!st)
		return NULL;
	va_list ap;
	va_start(ap, types);
	int rc = bindv(st, types, ap);
	va_end(ap);
	if (rc != SQLITE_OK) {
		db_fail(cat, diag, "bind");
		return NULL;
	}
	return st;
}

/* 1 for a row, 0 when done, -1 on error (diag set). */
static int step(struct kt_catalog *cat, sqlite3_stmt *st, struct kt_diag *diag)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	db_fail(cat, diag, "query");
	sqlite3_reset(st);
	return -1;
}

/* The first column of the first row as an integer. *out_found is 0 when
 * there is no row or the value is NULL (max() over no rows). */
static enum kt_err query_i64(struct kt_catalog *cat, struct kt_diag *diag, int64_t *out, int *out_found,
			     const char *sql, const char *types, ...)
{
	sqlite3_stmt *st = prepare(cat, sql, diag);
	if (!st)
		return KT_ERR_CATALOG;
	va_list ap;
	va_start(ap, types);
	int rc = bindv(st, types, ap);
	va_end(ap);
	if (rc != SQLITE_OK)
		return db_fail(cat, diag, "bind");
	rc = step(cat, st, diag);
	if (rc < 0)
		return KT_ERR_CATALOG;
	*out_found = rc && sqlite3_column_type(st, 0) != SQLITE_NULL;
	if (*out_found)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return KT_OK;
}

static enum kt_err exec(struct kt_catalog *cat, struct kt_diag *diag, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st = prepare(cat, sql, diag);
	if (!st)
		return KT_ERR_CATALOG;
	va_list ap;
	va_start(ap, types);
	int rc = bindv(st, types, ap);
	va_end(ap);
	if (rc != SQLITE_OK)
		return db_fail(cat, diag, "bind");
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(cat, diag, "write");
	return KT_OK;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int64_t col_i64_or(sqlite3_stmt *st, int i, int64_t dflt)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? dflt : sqlite3_column_int64(st, i);
}

static enum kt_err create_schema(struct kt_catalog *cat, struct kt_diag *diag)
{
	char *errmsg = NULL;
	if (sqlite3_exec(cat->db, "BEGIN IMMEDIATE", NULL, NULL, &errmsg) != SQLITE_OK)
		goto fail;
	if (sqlite3_exec(cat->db, kt_catalog_schema_sql, NULL, NULL, &errmsg) != SQLITE_OK)
		goto fail;
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", KT_CATALOG_SCHEMA_VERSION);
	if (sqlite3_exec(cat->db, pragma, NULL, NULL, &errmsg) != SQLITE_OK)
		goto fail;
	if (sqlite3_exec(cat->db, "COMMIT", NULL, NULL, &errmsg) != SQLITE_OK)
		goto fail;
	return KT_OK;
fail:;
	enum kt_err err = kt_diag_fail(diag, KT_ERR_CATALOG, "catalog: cannot create schema: %s",
				       errmsg ? errmsg : sqlite3_errmsg(cat->db));
	sqlite3_free(errmsg);
	sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static enum kt_err upgrade_fail(struct kt_catalog *cat, struct kt_diag *diag, char *errmsg, const char *why)
{
	enum kt_err err = kt_diag_fail(diag, KT_ERR_CATALOG, "catalog: cannot upgrade the schema to version %d: %s",
				       KT_CATALOG_SCHEMA_VERSION,
				       errmsg ? errmsg
				       : why  ? why
					      : sqlite3_errmsg(cat->db));
	sqlite3_free(errmsg);
	return err;
}

/* 1 when table has the column, 0 when not, -1 on error. */
static int has_column(struct kt_catalog *cat, const char *table, const char *column)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(cat->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Version 2 -> 3, part one: `runs` is made again from its CREATE TABLE in
 * catalog.sql, because SQLite cannot change a CHECK constraint in place
 * (its kinds gained 'import'). Runs inside the upgrade's transaction, with
 * foreign keys off (dropping the old table would otherwise check every
 * reference to it). */
static enum kt_err rebuild_runs(struct kt_catalog *cat, struct kt_diag *diag)
{
	const char *start = strstr(kt_catalog_schema_sql, "CREATE TABLE runs (");
	const char *end = start ? strstr(start, "\n);") : NULL;
	if (!end)
		return upgrade_fail(cat, diag, NULL, "catalog.sql has no CREATE TABLE runs");
	const char *cols = "run_id, kind, started_ms, ended_ms, status, args, tool_version, cluster_id, bootstrap, "
			   "records, bytes, message, selection";
	size_t create_len = (size_t)(end + 3 - start);
	size_t n = create_len + 2 * strlen(cols) + 256;
	char *sql = malloc(n);
	if (!sql)
		return KT_ERR_NOMEM;
	snprintf(sql, n,
		 "CREATE TABLE runs_v3 %.*s; INSERT INTO runs_v3 (%s) SELECT %s FROM runs; DROP TABLE runs; "
		 "ALTER TABLE runs_v3 RENAME TO runs;",
		 (int)(create_len - strlen("CREATE TABLE runs ")), start + strlen("CREATE TABLE runs "), cols, cols);
	char *errmsg = NULL;
	int rc = sqlite3_exec(cat->db, sql, NULL, NULL, &errmsg);
	free(sql);
	return rc == SQLITE_OK ? KT_OK : upgrade_fail(cat, diag, errmsg, NULL);
}

/* Adds a version 3 column to a table that may already have it (a version 1
 * catalog gets run_segments from the current catalog.sql text). */
static enum kt_err add_column(struct kt_catalog *cat, const char *table, const char *column, struct kt_diag *diag)
{
	int has = has_column(cat, table, column);
	if (has < 0)
		return upgrade_fail(cat, diag, NULL, NULL);
	if (has)
		return KT_OK;
	char sql[256];
	snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s INTEGER", table, column);
	char *errmsg = NULL;
	return sqlite3_exec(cat->db, sql, NULL, NULL, &errmsg) == SQLITE_OK ? KT_OK
									    : upgrade_fail(cat, diag, errmsg, NULL);
}

/* Upgrades a catalog of version `from` in one transaction: 1 -> 2 runs the
 * text between the "Version 2." and "Version 3." markers of catalog.sql
 * (tables only); 2 -> 3 rebuilds runs, adds the committed_ms columns and
 * runs the text after the "Version 3." marker. */
static enum kt_err upgrade_schema(struct kt_catalog *cat, int from, struct kt_diag *diag)
{
	const char *v2 = strstr(kt_catalog_schema_sql, "-- Version 2.");
	const char *v3 = v2 ? strstr(v2, "-- Version 3.") : NULL;
	if (!v3)
		return upgrade_fail(cat, diag, NULL, "no upgrade text");
	char *errmsg = NULL;
	sqlite3_exec(cat->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
	if (sqlite3_exec(cat->db, "BEGIN IMMEDIATE", NULL, NULL, &errmsg) != SQLITE_OK) {
		sqlite3_exec(cat->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
		return upgrade_fail(cat, diag, errmsg, NULL);
	}
	enum kt_err err = KT_OK;
	if (from < 2) {
		char *text = strndup(v2, (size_t)(v3 - v2));
		if (!text)
			err = KT_ERR_NOMEM;
		else if (sqlite3_exec(cat->db, text, NULL, NULL, &errmsg) != SQLITE_OK)
			err = upgrade_fail(cat, diag, errmsg, NULL);
		free(text);
	}
	if (!err)
		err = rebuild_runs(cat, diag);
	if (!err)
		err = add_column(cat, "segments", "committed_ms", diag);
	if (!err)
		err = add_column(cat, "run_segments", "committed_ms", diag);
	if (!err && sqlite3_exec(cat->db, v3, NULL, NULL, &errmsg) != SQLITE_OK)
		err = upgrade_fail(cat, diag, errmsg, NULL);
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", KT_CATALOG_SCHEMA_VERSION);
	errmsg = NULL;
	if (!err && sqlite3_exec(cat->db, pragma, NULL, NULL, &errmsg) != SQLITE_OK)
		err = upgrade_fail(cat, diag, errmsg, NULL);
	if (!err && sqlite3_exec(cat->db, "COMMIT", NULL, NULL, &errmsg) != SQLITE_OK)
		err = upgrade_fail(cat, diag, errmsg, NULL);
	if (err)
		sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(cat->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	return err;
}

/* The first read of the catalog: where SQLite opens (or creates) the -wal
 * and -shm files, and finds a damaged file. Returns SQLite's extended code. */
static int read_version(struct kt_catalog *cat, int *version)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(cat->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sqlite3_extended_errcode(cat->db);
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? SQLITE_OK : sqlite3_extended_errcode(cat->db);
}

/* path as a file: URI with immutable=1: characters that mean something in
 * a URI are %-escaped. NULL when it does not fit. */
static char *immutable_uri(const char *path)
{
	size_t n = strlen(path);
	char *uri = malloc(n * 3 + 32);
	if (!uri)
		return NULL;
	char *p = uri + sprintf(uri, "file:");
	for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
		if (*s == '%' || *s == '?' || *s == '#' || *s <= ' ' || *s >= 0x7f)
			p += sprintf(p, "%%%02X", *s);
		else
			*p++ = (char)*s;
	}
	strcpy(p, "?immutable=1");
	return uri;
}

static int open_db(struct kt_catalog *cat, const char *path, int flags, int immutable, int *version)
{
	char *uri = immutable ? immutable_uri(path) : NULL;
	if (immutable && !uri)
		return SQLITE_NOMEM;
	int rc = sqlite3_open_v2(immutable ? uri : path, &cat->db, flags | (immutable ? SQLITE_OPEN_URI : 0), NULL);
	free(uri);
	if (rc != SQLITE_OK)
		return cat->db ? sqlite3_extended_errcode(cat->db) : SQLITE_NOMEM;
	cat->opened = 1;
	sqlite3_extended_result_codes(cat->db, 1);
	/* a reader waits for a writer's checkpoint rather than failing */
	sqlite3_busy_timeout(cat->db, 10000);
	return read_version(cat, version);
}

/* -1 when the file does not exist. */
static long long file_size(const char *path, const char *suffix)
{
	char f[PATH_MAX + 8];
	snprintf(f, sizeof(f), "%s%s", path, suffix);
	struct stat st;
	return stat(f, &st) == 0 ? (long long)st.st_size : -1;
}

/* A read-only open that failed for want of a -wal or -shm SQLite could
 * create (read-only mount, no permission, full disk), not for a damaged
 * file or a lock. */
static int wal_files_unusable(int rc, int eno)
{
	int prim = rc & 0xff;
	if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB || prim == SQLITE_BUSY || prim == SQLITE_LOCKED ||
	    prim == SQLITE_NOMEM)
		return 0;
	return prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY || prim == SQLITE_FULL || prim == SQLITE_IOERR ||
	       eno == EROFS || eno == EACCES || eno == EPERM || eno == ENOSPC;
}

/* The one-line message for a failed open: what failed, in words an
 * operator can act on. Only a file SQLite finds damaged is called damaged. */
static enum kt_err open_fail(struct kt_catalog *cat, const char *path, int rc, struct kt_diag *diag)
{
	int prim = rc & 0xff;
	int eno = cat->db ? sqlite3_system_errno(cat->db) : 0;
	const char *msg = cat->db ? sqlite3_errmsg(cat->db) : "out of memory";
	if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
		return kt_diag_fail(diag, KT_ERR_FORMAT,
				    "catalog.db is damaged or not a catalog (%s); 'ktape reindex' rebuilds it", msg);
	if (prim == SQLITE_NOMEM)
		return KT_ERR_NOMEM;
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return kt_diag_fail(diag, KT_ERR_LOCKED, "catalog %s is locked by another process (%s)", path, msg);
	if (file_size(path, "") < 0 && errno == ENOENT)
		return kt_diag_fail(diag, KT_ERR_NOT_FOUND, "cannot open catalog %s: no such file", path);
	if (prim == SQLITE_FULL || eno == ENOSPC)
		return kt_diag_fail(diag, KT_ERR_NO_SPACE, "no space left on device writing %s-shm", path);
	/* the database file opened: what failed is a -wal or -shm file, the
	 * first one SQLite needs and cannot find */
	const char *what = !cat->opened ? "" : file_size(path, "-wal") < 0 ? "-wal" : "-shm";
	if (eno == EROFS || rc == SQLITE_READONLY_DIRECTORY)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot open catalog %s%s: read-only filesystem", path, what);
	if (eno == EACCES || eno == EPERM)
		return kt_diag_fail(diag, KT_ERR_IO, "cannot open catalog %s%s: permission denied", path, what);
	if (what[0])
		return kt_diag_fail(diag, KT_ERR_IO,
				    "cannot create catalog %s%s (SQLite needs it to read a WAL catalog): %s%s%s", path,
				    what, msg, eno ? ", " : "", eno ? strerror(eno) : "");
	return kt_diag_fail(diag, KT_ERR_IO, "cannot open catalog %s: %s%s%s", path, msg, eno ? ", " : "",
			    eno ? strerror(eno) : "");
}

/* A writer needs the database and the directory (for the -wal and -shm
 * files) writable: SQLite would otherwise open read-only and fail at the
 * first write. */
static enum kt_err check_writable(struct kt_catalog *cat, const char *path, struct kt_diag *diag)
{
	if (sqlite3_db_readonly(cat->db, "main") != 1)
		return KT_OK;
	int eno = access(path, W_OK) == 0 ? EACCES : errno;
	return kt_diag_fail(diag, KT_ERR_IO, "cannot open catalog %s for writing: %s", path,
			    eno == EROFS ? "read-only filesystem" : "permission denied");
}

/* Why nothing can be created beside path, in words. */
static const char *why_unwritable(const char *path, int eno)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (access(slash ? dir : ".", W_OK) != 0)
		return errno == EROFS ? "read-only filesystem" : "permission denied";
	return eno == ENOSPC ? "no space left on device" : eno ? strerror(eno) : "cannot create it";
}

/* Opens for reading. Without a -shm and -wal it can create (a read-only
 * mount, a full disk), SQLite cannot read a WAL database, unless told the
 * file cannot change (immutable=1): true when no -wal holds committed
 * changes not yet in catalog.db. */
static int open_for_reading(struct kt_catalog *cat, const char *path, int flags, int *version, struct kt_diag *diag,
			    enum kt_err *err)
{
	int rc = open_db(cat, path, flags, 0, version);
	if (rc == SQLITE_OK)
		return rc;
	int eno = sqlite3_system_errno(cat->db);
	if (!wal_files_unusable(rc, eno) || file_size(path, "") < 0)
		return rc;
	long long wal = file_size(path, "-wal");
	if (wal > 0) {
		*err = kt_diag_fail(diag, KT_ERR_IO,
				    "%s-wal holds changes not yet in catalog.db and cannot be read without creating "
				    "%s-shm (%s): mount the archive read-write once, or copy it to writable storage",
				    path, path, why_unwritable(path, eno));
		return rc;
	}
	sqlite3_close(cat->db);
	cat->db = NULL;
	cat->opened = 0;
	cat->immutable = 1;
	return open_db(cat, path, flags, 1, version);
}

enum kt_err kt_catalog_open(const char *path, enum kt_catalog_mode mode, struct kt_catalog **out, struct kt_diag *diag)
{
	*out = NULL;
	struct kt_catalog *cat = calloc(1, sizeof(*cat));
	if (!cat)
		return KT_ERR_NOMEM;
	cat->readonly = mode == KT_CATALOG_READ;
	int flags = cat->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (mode == KT_CATALOG_CREATE)
		flags |= SQLITE_OPEN_CREATE;
	flags |= SQLITE_OPEN_NOMUTEX;
	enum kt_err err = KT_OK;
	int version = 0;
	if (mode == KT_CATALOG_CREATE) {
		/* SQLite would create it 0644; its -wal and -shm take the mode of
		 * the database file, so creating it first decides all three */
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, KT_FILE_MODE);
		if (fd >= 0)
			close(fd);
	}
	int rc = cat->readonly ? open_for_reading(cat, path, flags, &version, diag, &err)
			       : open_db(cat, path, flags, 0, &version);
	if (rc != SQLITE_OK) {
		if (!err)
			err = open_fail(cat, path, rc, diag);
		goto fail;
	}
	if (!cat->readonly) {
		err = check_writable(cat, path, diag);
		if (err)
			goto fail;
		/* WAL: readers work while a dump writes. synchronous=FULL: a
		 * committed transaction survives power loss, as the archive's
		 * protocol assumes. */
		if (sqlite3_exec(cat->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
		    SQLITE_OK) {
			err = db_fail(cat, diag, "cannot set WAL mode");
			goto fail;
		}
	}
	sqlite3_exec(cat->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	if (version == 0 && mode == KT_CATALOG_CREATE) {
		err = create_schema(cat, diag);
		if (err)
			goto fail;
		version = KT_CATALOG_SCHEMA_VERSION;
	}
	if (version == 0) {
		err = kt_diag_fail(diag, KT_ERR_FORMAT, "%s is not a ktape catalog; 'ktape reindex' rebuilds it", path);
		goto fail;
	}
	if (version > KT_CATALOG_SCHEMA_VERSION) {
		err = kt_diag_fail(diag, KT_ERR_VERSION,
				   "catalog schema version %d is newer than this ktape supports (%d); upgrade ktape",
				   version, KT_CATALOG_SCHEMA_VERSION);
		goto fail;
	}
	if (version < KT_CATALOG_SCHEMA_VERSION && !cat->readonly) {
		err = upgrade_schema(cat, version, diag);
		if (err)
			goto fail;
		version = KT_CATALOG_SCHEMA_VERSION;
	}
	cat->version = version;
	*out = cat;
	return KT_OK;
fail:
	kt_catalog_close(cat);
	return err;
}

void kt_catalog_close(struct kt_catalog *cat)
{
	if (!cat)
		return;
	for (int i = 0; i < cat->stmt_count; i++)
		sqlite3_finalize(cat->stmt[i]);
	sqlite3_close(cat->db);
	free(cat);
}

enum kt_err kt_catalog_begin(struct kt_catalog *cat, struct kt_diag *diag)
{
	/* IMMEDIATE takes the write lock now, so a transaction never fails
	 * half way for lack of it */
	if (sqlite3_exec(cat->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(cat, diag, "begin");
	return KT_OK;
}

enum kt_err kt_catalog_commit(struct kt_catalog *cat, struct kt_diag *diag)
{
	if (sqlite3_exec(cat->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		enum kt_err err = db_fail(cat, diag, "commit");
		kt_catalog_rollback(cat);
		return err;
	}
	return KT_OK;
}

void kt_catalog_rollback(struct kt_catalog *cat)
{
	if (!sqlite3_get_autocommit(cat->db))
		sqlite3_exec(cat->db, "ROLLBACK", NULL, NULL, NULL);
}

enum kt_err kt_catalog_check(struct kt_catalog *cat, struct kt_diag *diag)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(cat->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
		return db_fail(cat, diag, "quick_check");
	enum kt_err err = KT_OK;
	if (sqlite3_step(st) != SQLITE_ROW)
		err = db_fail(cat, diag, "quick_check");
	else if (strcmp(col_text(st, 0), "ok") != 0)
		err = kt_diag_fail(diag, KT_ERR_FORMAT, "catalog.db is damaged (%s); 'ktape reindex' rebuilds it",
				   col_text(st, 0));
	sqlite3_finalize(st);
	return err;
}

enum kt_err kt_catalog_snapshot(struct kt_catalog *cat, const char *path, struct kt_diag *diag)
{
	return exec(cat, diag, "VACUUM INTO ?", "t", path);
}

enum kt_err kt_catalog_set_meta(struct kt_catalog *cat, const char *key, const char *value, struct kt_diag *diag)
{
	return exec(cat, diag, "INSERT OR REPLACE INTO archive(key, value) VALUES (?, ?)", "tt", key, value);
}

enum kt_err kt_catalog_get_meta(struct kt_catalog *cat, const char *key, char *buf, size_t bufsize,
				struct kt_diag *diag)
{
	sqlite3_stmt *st = query(cat, diag, "SELECT value FROM archive WHERE key = ?", "t", key);
	if (!st)
		return KT_ERR_CATALOG;
	int rc = step(cat, st, diag);
	if (rc < 0)
		return KT_ERR_CATALOG;
	if (rc == 0)
		return kt_diag_fail(diag, KT_ERR_NOT_FOUND, "catalog has no '%s'", key);
	snprintf(buf, bufsize, "%s", col_text(st, 0));
	sqlite3_reset(st);
	return KT_OK;
}

/* ---- runs ---- */

enum kt_err kt_catalog_run_begin(struct kt_catalog *cat, const struct kt_catalog_run *run, int64_t *out_run_id,
				 struct kt_diag *diag)
{
	enum kt_err err = exec(cat, diag,
			       "INSERT INTO runs(run_id, kind, started_ms, status, args, tool_version, cluster_id, "
			       "bootstrap, selection) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
			       "ntittttt", run->run_id > 0 ? run->run_id : (int64_t)-1, run->kind, run->started_ms,
			       run->args, run->tool_version, run->cluster_id, run->bootstrap, run->selection);
	if (err)
		return err;
	*out_run_id = sqlite3_last_insert_rowid(cat->db);
	return KT_OK;
}

enum kt_err kt_catalog_run_end(struct kt_catalog *cat, int64_t run_id, const char *status, int64_t records,
			       int64_t bytes, const char *message, int64_t ended_ms, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "UPDATE runs SET status = ?, records = ?, bytes = ?, message = ?, ended_ms = ? WHERE run_id = ?",
		    "tiitii", status, records, bytes, message, ended_ms, run_id);
}

enum kt_err kt_catalog_run_set_cluster(struct kt_catalog *cat, int64_t run_id, const char *cluster_id,
				       struct kt_diag *diag)
{
	return exec(cat, diag, "UPDATE runs SET cluster_id = ? WHERE run_id = ?", "ti", cluster_id, run_id);
}

enum kt_err kt_catalog_runs_mark_crashed(struct kt_catalog *cat, int64_t now_ms, kt_catalog_alive_cb alive,
					 void *alive_ctx, int *out_count, struct kt_diag *diag)
{
	*out_count = 0;
	sqlite3_stmt *st = query(cat, diag, "SELECT run_id FROM runs WHERE status = 'running' ORDER BY run_id", "");
	if (!st)
		return KT_ERR_CATALOG;
	/* collected first: the updates below must not run under this cursor */
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			int64_t *nids = realloc(ids, cap * sizeof(*nids));
			if (!nids) {
				sqlite3_reset(st);
				free(ids);
				return KT_ERR_NOMEM;
			}
			ids = nids;
		}
		ids[n++] = sqlite3_column_int64(st, 0);
	}
	enum kt_err err = rc < 0 ? KT_ERR_CATALOG : KT_OK;
	for (size_t i = 0; !err && i < n; i++) {
		if (alive && alive(alive_ctx, ids[i]))
			continue;
		/* status checked again: the run may have ended since */
		err = exec(cat, diag,
			   "UPDATE runs SET status = 'crashed', ended_ms = ?, message = 'the process ended without "
			   "finishing the run' WHERE run_id = ? AND status = 'running'",
			   "ii", now_ms, ids[i]);
		if (!err)
			*out_count += sqlite3_changes(cat->db);
	}
	free(ids);
	return err;
}

enum kt_err kt_catalog_run_recount(struct kt_catalog *cat, int64_t run_id, int64_t *out_records, int64_t *out_bytes,
				   struct kt_diag *diag)
{
	int64_t records = 0, bytes = 0;
	int found;
	enum kt_err err = query_i64(cat, diag, &records, &found, "SELECT sum(records) FROM segments WHERE run_id = ?",
				    "i", run_id);
	if (!err)
		err = query_i64(cat, diag, &bytes, &found, "SELECT sum(file_bytes) FROM segments WHERE run_id = ?", "i",
				run_id);
	if (!err)
		err = exec(cat, diag, "UPDATE runs SET records = ?, bytes = ? WHERE run_id = ?", "iii", records, bytes,
			   run_id);
	if (!err && out_records)
		*out_records = records;
	if (!err && out_bytes)
		*out_bytes = bytes;
	return err;
}

enum kt_err kt_catalog_each_run(struct kt_catalog *cat, kt_catalog_run_cb cb, void *ctx, struct kt_diag *diag)
{
	sqlite3_stmt *st = query(cat, diag,
				 "SELECT run_id, kind, started_ms, ended_ms, status, args, tool_version, cluster_id, "
				 "bootstrap, records, bytes, message, selection FROM runs ORDER BY run_id",
				 "");
	if (!st)
		return KT_ERR_CATALOG;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_run r = {
			sqlite3_column_int64(st, 0),
			col_text(st, 1),
			sqlite3_column_int64(st, 2),
			col_i64_or(st, 3, -1),
			col_text(st, 4),
			col_text(st, 5),
			col_text(st, 6),
			col_text(st, 7),
			col_text(st, 8),
			sqlite3_column_int64(st, 9),
			sqlite3_column_int64(st, 10),
			col_text(st, 11),
			col_text(st, 12),
		};
		if (cb(ctx, &r)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

/* ---- segments and blocks ---- */

static enum kt_err prefix_max_before(struct kt_catalog *cat, const char *topic, uint32_t gen, int32_t part,
				     int64_t first_offset, int64_t *out, struct kt_diag *diag)
{
	int found;
	enum kt_err err = query_i64(cat, diag, out, &found,
				    "SELECT prefix_max_ts FROM blocks WHERE topic = ? AND generation = ? AND "
				    "partition = ? AND last_offset < ? ORDER BY last_offset DESC LIMIT 1",
				    "tudi", topic, gen, part, first_offset);
	if (!err && !found)
		*out = INT64_MIN;
	return err;
}

static enum kt_err count_blocks_after(struct kt_catalog *cat, const char *topic, uint32_t gen, int32_t part,
				      int64_t offset, int *out_any, struct kt_diag *diag)
{
	int64_t one;
	return query_i64(cat, diag, &one, out_any,
			 "SELECT 1 FROM blocks WHERE topic = ? AND generation = ? AND partition = ? AND "
			 "last_offset > ? LIMIT 1",
			 "tudi", topic, gen, part, offset);
}

enum kt_err kt_catalog_add_segment(struct kt_catalog *cat, const struct kt_catalog_segment *seg,
				   const struct kt_block_info *blocks, uint32_t block_count, int64_t *out_segment_id,
				   struct kt_diag *diag)
{
	const struct kt_segment_summary *s = &seg->sum;
	enum kt_err err = exec(
		cat, diag,
		"INSERT INTO segments(path, topic, generation, partition, first_offset, last_offset, min_ts, max_ts, "
		"records, file_bytes, raw_bytes, payload_bytes, footer_crc, block_count, run_id, committed_ms) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		"ttudiiiiiiiiiinn", seg->path, seg->topic, seg->generation, seg->partition, s->first_offset,
		s->last_offset, s->min_timestamp, s->max_timestamp, (int64_t)s->record_count, (int64_t)s->file_bytes,
		(int64_t)s->raw_bytes, (int64_t)s->payload_bytes, (int64_t)s->file_crc, (int64_t)block_count,
		seg->run_id > 0 ? seg->run_id : (int64_t)-1, seg->committed_ms > 0 ? seg->committed_ms : (int64_t)-1);
	if (err)
		return err;
	int64_t id = sqlite3_last_insert_rowid(cat->db);
	int64_t prefix;
	err = prefix_max_before(cat, seg->topic, seg->generation, seg->partition, s->first_offset, &prefix, diag);
	if (err)
		return err;
	for (uint32_t i = 0; i < block_count; i++) {
		const struct kt_block_info *b = &blocks[i];
		if (b->max_timestamp > prefix)
			prefix = b->max_timestamp;
		err = exec(cat, diag,
			   "INSERT INTO blocks(segment_id, block_index, topic, generation, partition, pos, "
			   "first_offset, last_offset, min_ts, max_ts, prefix_max_ts, records, compressed_bytes, "
			   "raw_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			   "iutudiiiiiiiii", id, b->index, seg->topic, seg->generation, seg->partition, (int64_t)b->pos,
			   b->first_offset, b->last_offset, b->min_timestamp, b->max_timestamp, prefix,
			   (int64_t)b->record_count, (int64_t)b->compressed_size, (int64_t)b->raw_size);
		if (err)
			return err;
	}
	/* A segment inserted before existing blocks (reindex or recovery in an
	 * unusual order) changes the prefix maxima after it. */
	int later;
	err = count_blocks_after(cat, seg->topic, seg->generation, seg->partition, s->last_offset, &later, diag);
	if (!err && later)
		err = kt_catalog_fix_prefix_max(cat, seg->topic, seg->generation, seg->partition, diag);
	if (!err && out_segment_id)
		*out_segment_id = id;
	return err;
}

enum kt_err kt_catalog_fix_prefix_max(struct kt_catalog *cat, const char *topic, uint32_t generation, int32_t partition,
				      struct kt_diag *diag)
{
	/* window function: running maximum in offset order */
	return exec(cat, diag,
		    "UPDATE blocks SET prefix_max_ts = r.pm FROM (SELECT segment_id AS sid, block_index AS bi, "
		    "max(max_ts) OVER (ORDER BY first_offset ROWS UNBOUNDED PRECEDING) AS pm FROM blocks "
		    "WHERE topic = ?1 AND generation = ?2 AND partition = ?3) AS r "
		    "WHERE blocks.segment_id = r.sid AND blocks.block_index = r.bi",
		    "tud", topic, generation, partition);
}

enum kt_err kt_catalog_delete_segment(struct kt_catalog *cat, int64_t segment_id, struct kt_diag *diag)
{
	return exec(cat, diag, "DELETE FROM segments WHERE segment_id = ?", "i", segment_id);
}

enum kt_err kt_catalog_has_segment(struct kt_catalog *cat, const char *path, int *out_found, struct kt_diag *diag)
{
	int64_t one;
	return query_i64(cat, diag, &one, out_found, "SELECT 1 FROM segments WHERE path = ?", "t", path);
}

static enum kt_err each_segment_row(struct kt_catalog *cat, sqlite3_stmt *st, kt_catalog_segment_cb cb, void *ctx,
				    struct kt_diag *diag);

enum kt_err kt_catalog_each_segment(struct kt_catalog *cat, const char *topic, kt_catalog_segment_cb cb, void *ctx,
				    struct kt_diag *diag)
{
	/* a reader may open an older catalog as it is: no committed_ms there */
	sqlite3_stmt *st =
		cat->version >= 3
			? query(cat, diag,
				"SELECT segment_id, path, topic, generation, partition, first_offset, last_offset, "
				"min_ts, max_ts, records, file_bytes, raw_bytes, payload_bytes, footer_crc, "
				"block_count, run_id, committed_ms FROM segments WHERE ?1 IS NULL OR topic = ?1 "
				"ORDER BY topic, generation, partition, first_offset",
				"t", topic)
			: query(cat, diag,
				"SELECT segment_id, path, topic, generation, partition, first_offset, last_offset, "
				"min_ts, max_ts, records, file_bytes, raw_bytes, payload_bytes, footer_crc, "
				"block_count, run_id, NULL FROM segments WHERE ?1 IS NULL OR topic = ?1 "
				"ORDER BY topic, generation, partition, first_offset",
				"t", topic);
	if (!st)
		return KT_ERR_CATALOG;
	return each_segment_row(cat, st, cb, ctx, diag);
}

enum kt_err kt_catalog_each_erased_segment(struct kt_catalog *cat, kt_catalog_segment_cb cb, void *ctx,
					   struct kt_diag *diag)
{
	if (cat->version < 3)
		return KT_OK; /* no erasure wrote this catalog */
	sqlite3_stmt *st = query(cat, diag,
				 "SELECT segment_id, path, topic, generation, partition, first_offset, last_offset, "
				 "min_ts, max_ts, records, file_bytes, raw_bytes, payload_bytes, footer_crc, "
				 "block_count, run_id, committed_ms FROM segments s WHERE EXISTS (SELECT 1 FROM "
				 "pruned_segments p JOIN runs r ON r.run_id = p.run_id WHERE p.path = s.path AND "
				 "r.kind = 'prune' AND instr(r.args, '--erase-keys') > 0) ORDER BY path",
				 "");
	if (!st)
		return KT_ERR_CATALOG;
	return each_segment_row(cat, st, cb, ctx, diag);
}

/* Calls cb with each row of st (the columns of kt_catalog_each_segment's
 * query). */
static enum kt_err each_segment_row(struct kt_catalog *cat, sqlite3_stmt *st, kt_catalog_segment_cb cb, void *ctx,
				    struct kt_diag *diag)
{
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_segment s = {0};
		s.segment_id = sqlite3_column_int64(st, 0);
		s.path = col_text(st, 1);
		s.topic = col_text(st, 2);
		s.generation = (uint32_t)sqlite3_column_int64(st, 3);
		s.partition = (int32_t)sqlite3_column_int64(st, 4);
		s.sum.first_offset = sqlite3_column_int64(st, 5);
		s.sum.last_offset = sqlite3_column_int64(st, 6);
		s.sum.min_timestamp = sqlite3_column_int64(st, 7);
		s.sum.max_timestamp = sqlite3_column_int64(st, 8);
		s.sum.record_count = (uint64_t)sqlite3_column_int64(st, 9);
		s.sum.file_bytes = (uint64_t)sqlite3_column_int64(st, 10);
		s.sum.raw_bytes = (uint64_t)sqlite3_column_int64(st, 11);
		s.sum.payload_bytes = (uint64_t)sqlite3_column_int64(st, 12);
		s.sum.file_crc = (uint32_t)sqlite3_column_int64(st, 13);
		s.sum.block_count = (uint32_t)sqlite3_column_int64(st, 14);
		s.run_id = col_i64_or(st, 15, 0);
		s.committed_ms = col_i64_or(st, 16, 0);
		if (cb(ctx, &s)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

enum kt_err kt_catalog_each_segment_overlapping(struct kt_catalog *cat, const char *topic, uint32_t generation,
						int32_t partition, int64_t first, int64_t last,
						kt_catalog_segment_cb cb, void *ctx, struct kt_diag *diag)
{
	/* listed segments do not overlap: those that start in [first, last],
	 * and the one before first if it reaches into it (two index lookups,
	 * however many segments the partition has) */
#define OVERLAP_SQL(COMMITTED)                                                                                         \
	"SELECT * FROM (SELECT segment_id, path, topic, generation, partition, first_offset, last_offset, "            \
	"min_ts, max_ts, records, file_bytes, raw_bytes, payload_bytes, footer_crc, block_count, run_id, " COMMITTED   \
	" FROM segments WHERE topic = ?1 AND generation = ?2 AND partition = ?3 AND first_offset < ?4 "                \
	"ORDER BY first_offset DESC LIMIT 1) WHERE last_offset >= ?4 "                                                 \
	"UNION ALL SELECT segment_id, path, topic, generation, partition, first_offset, last_offset, "                 \
	"min_ts, max_ts, records, file_bytes, raw_bytes, payload_bytes, footer_crc, block_count, run_id, " COMMITTED   \
	" FROM segments WHERE topic = ?1 AND generation = ?2 AND partition = ?3 AND first_offset >= ?4 "               \
	"AND first_offset <= ?5 ORDER BY 6"
	/* the statement cache knows a query by its text's address: literals */
	const char *sql = cat->version >= 3 ? OVERLAP_SQL("committed_ms") : OVERLAP_SQL("NULL");
#undef OVERLAP_SQL
	sqlite3_stmt *st = query(cat, diag, sql, "tudii", topic, generation, partition, first, last);
	if (!st)
		return KT_ERR_CATALOG;
	return each_segment_row(cat, st, cb, ctx, diag);
}

enum kt_err kt_catalog_blocks_in_range(struct kt_catalog *cat, const char *topic, uint32_t generation,
				       int32_t partition, int64_t from, int64_t to, kt_catalog_block_cb cb, void *ctx,
				       struct kt_diag *diag)
{
	sqlite3_stmt *st =
		query(cat, diag,
		      "SELECT s.path, b.segment_id, b.block_index, b.pos, b.first_offset, b.last_offset, "
		      "b.min_ts, b.max_ts, b.records, b.compressed_bytes, b.raw_bytes, b.prefix_max_ts "
		      "FROM blocks b JOIN segments s ON s.segment_id = b.segment_id "
		      "WHERE b.topic = ?1 AND b.generation = ?2 AND b.partition = ?3 AND b.last_offset >= ?4 "
		      "ORDER BY b.last_offset",
		      "tudi", topic, generation, partition, from);
	if (!st)
		return KT_ERR_CATALOG;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_block b = {0};
		b.path = col_text(st, 0);
		b.segment_id = sqlite3_column_int64(st, 1);
		b.info.index = (uint32_t)sqlite3_column_int64(st, 2);
		b.info.pos = (uint64_t)sqlite3_column_int64(st, 3);
		b.info.first_offset = sqlite3_column_int64(st, 4);
		b.info.last_offset = sqlite3_column_int64(st, 5);
		b.info.min_timestamp = sqlite3_column_int64(st, 6);
		b.info.max_timestamp = sqlite3_column_int64(st, 7);
		b.info.record_count = (uint32_t)sqlite3_column_int64(st, 8);
		b.info.compressed_size = (uint32_t)sqlite3_column_int64(st, 9);
		b.info.raw_size = (uint32_t)sqlite3_column_int64(st, 10);
		b.prefix_max_ts = sqlite3_column_int64(st, 11);
		/* blocks of a partition do not overlap, so they come in offset
		 * order and the first one past `to` ends the walk: one index
		 * seek and a few steps, not a scan to the partition's end */
		if (b.info.first_offset > to) {
			sqlite3_reset(st);
			return KT_OK;
		}
		if (cb(ctx, &b)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

enum kt_err kt_catalog_first_block_at_time(struct kt_catalog *cat, const char *topic, uint32_t generation,
					   int32_t partition, int64_t ts, int64_t *out_first_offset, int *out_found,
					   struct kt_diag *diag)
{
	return query_i64(cat, diag, out_first_offset, out_found,
			 "SELECT first_offset FROM blocks WHERE topic = ? AND generation = ? AND partition = ? "
			 "AND prefix_max_ts >= ? ORDER BY prefix_max_ts, first_offset LIMIT 1",
			 "tudi", topic, generation, partition, ts);
}

/* ---- partition runs ---- */

enum kt_err kt_catalog_put_prun(struct kt_catalog *cat, const struct kt_catalog_prun *p, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO partition_runs(run_id, topic, generation, partition, log_start, "
		    "high_watermark, from_offset, to_end, done_end, records, lost_from, lost_end) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    "itudiiiiiinn", p->run_id, p->topic, p->generation, p->partition, p->log_start, p->high_watermark,
		    p->from_offset, p->to_end, p->done_end, p->records, p->lost_from, p->lost_end);
}

enum kt_err kt_catalog_resume_end(struct kt_catalog *cat, const char *topic, uint32_t generation, int32_t partition,
				  int64_t *out_end, int *out_found, struct kt_diag *diag)
{
	return query_i64(cat, diag, out_end, out_found,
			 "SELECT max(e) FROM (SELECT max(done_end) AS e FROM partition_runs WHERE topic = ?1 AND "
			 "generation = ?2 AND partition = ?3 UNION ALL SELECT max(last_offset) + 1 FROM segments WHERE "
			 "topic = ?1 AND generation = ?2 AND partition = ?3)",
			 "tud", topic, generation, partition);
}

enum kt_err kt_catalog_last_log_start(struct kt_catalog *cat, const char *topic, uint32_t generation, int32_t partition,
				      int64_t *out_low, struct kt_diag *diag)
{
	int found;
	enum kt_err err = query_i64(cat, diag, out_low, &found,
				    "SELECT log_start FROM partition_runs WHERE topic = ? AND generation = ? AND "
				    "partition = ? ORDER BY run_id DESC LIMIT 1",
				    "tud", topic, generation, partition);
	if (!err && !found)
		*out_low = -1;
	return err;
}

enum kt_err kt_catalog_each_prun(struct kt_catalog *cat, const char *topic, kt_catalog_prun_cb cb, void *ctx,
				 struct kt_diag *diag)
{
	sqlite3_stmt *st = query(cat, diag,
				 "SELECT run_id, topic, generation, partition, log_start, high_watermark, from_offset, "
				 "to_end, done_end, records, lost_from, lost_end FROM partition_runs "
				 "WHERE ?1 IS NULL OR topic = ?1 ORDER BY topic, generation, partition, run_id",
				 "t", topic);
	if (!st)
		return KT_ERR_CATALOG;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_prun p = {
			sqlite3_column_int64(st, 0),
			col_text(st, 1),
			(uint32_t)sqlite3_column_int64(st, 2),
			(int32_t)sqlite3_column_int64(st, 3),
			sqlite3_column_int64(st, 4),
			sqlite3_column_int64(st, 5),
			sqlite3_column_int64(st, 6),
			sqlite3_column_int64(st, 7),
			sqlite3_column_int64(st, 8),
			sqlite3_column_int64(st, 9),
			col_i64_or(st, 10, -1),
			col_i64_or(st, 11, -1),
		};
		if (cb(ctx, &p)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

/* ---- topics, configs, groups ---- */

enum kt_err kt_catalog_current_generation(struct kt_catalog *cat, const char *topic, uint32_t *out_gen, int *out_found,
					  struct kt_diag *diag)
{
	int64_t gen = 0;
	enum kt_err err = query_i64(cat, diag, &gen, out_found,
				    "SELECT max(generation) FROM topic_generations WHERE topic = ?", "t", topic);
	if (!err && *out_found)
		*out_gen = (uint32_t)gen;
	return err;
}

enum kt_err kt_catalog_add_generation(struct kt_catalog *cat, const char *topic, uint32_t generation, int64_t run_id,
				      const char *reason, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR IGNORE INTO topic_generations(topic, generation, first_run, reason) VALUES (?, ?, ?, ?)",
		    "tunt", topic, generation, run_id > 0 ? run_id : (int64_t)-1, reason);
}

enum kt_err kt_catalog_put_topic(struct kt_catalog *cat, const struct kt_catalog_topic *t, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO topic_snapshots(run_id, topic, generation, partitions, replication_factor) "
		    "VALUES (?, ?, ?, ?, ?)",
		    "itudd", t->run_id, t->topic, t->generation, t->partitions, t->replication_factor);
}

enum kt_err kt_catalog_put_config(struct kt_catalog *cat, const struct kt_catalog_config *c, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO topic_configs(run_id, topic, name, value, source) VALUES (?, ?, ?, ?, ?)",
		    "itttt", c->run_id, c->topic, c->name, c->value, c->source);
}

enum kt_err kt_catalog_put_group_offset(struct kt_catalog *cat, const struct kt_catalog_group_offset *g,
					struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO group_offsets(run_id, group_id, topic, generation, partition, "
		    "committed_offset, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
		    "ittudit", g->run_id, g->group_id, g->topic, g->generation, g->partition, g->offset, g->metadata);
}

enum kt_err kt_catalog_drop_group_offsets(struct kt_catalog *cat, int64_t run_id, struct kt_diag *diag)
{
	return exec(cat, diag, "DELETE FROM group_offsets WHERE run_id = ?", "i", run_id);
}

enum kt_err kt_catalog_each_latest_topic(struct kt_catalog *cat, const char *topic, kt_catalog_topic_cb cb, void *ctx,
					 struct kt_diag *diag)
{
	sqlite3_stmt *st =
		query(cat, diag,
		      "SELECT run_id, topic, generation, partitions, replication_factor FROM topic_snapshots t "
		      "WHERE (?1 IS NULL OR topic = ?1) AND run_id = (SELECT max(run_id) FROM "
		      "topic_snapshots u WHERE u.topic = t.topic) ORDER BY topic",
		      "t", topic);
	if (!st)
		return KT_ERR_CATALOG;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_topic t = {
			sqlite3_column_int64(st, 0), col_text(st, 1), (uint32_t)sqlite3_column_int64(st, 2),
			(int32_t)sqlite3_column_int64(st, 3), (int32_t)sqlite3_column_int64(st, 4)};
		if (cb(ctx, &t)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

enum kt_err kt_catalog_each_config(struct kt_catalog *cat, int64_t run_id, const char *topic, kt_catalog_config_cb cb,
				   void *ctx, struct kt_diag *diag)
{
	sqlite3_stmt *st = query(cat, diag,
				 "SELECT run_id, topic, name, value, source FROM topic_configs WHERE run_id = ? AND "
				 "topic = ? ORDER BY name",
				 "it", run_id, topic);
	if (!st)
		return KT_ERR_CATALOG;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_config c = {sqlite3_column_int64(st, 0), col_text(st, 1), col_text(st, 2),
					      col_text(st, 3), col_text(st, 4)};
		if (cb(ctx, &c)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

/* Calls cb for each row of st: run_id, group_id, topic, generation,
 * partition, committed_offset, metadata. */
static enum kt_err each_group_row(struct kt_catalog *cat, sqlite3_stmt *st, kt_catalog_group_cb cb, void *ctx,
				  struct kt_diag *diag)
{
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_group_offset g = {
			sqlite3_column_int64(st, 0),
			col_text(st, 1),
			col_text(st, 2),
			(uint32_t)sqlite3_column_int64(st, 3),
			(int32_t)sqlite3_column_int64(st, 4),
			sqlite3_column_int64(st, 5),
			col_text(st, 6),
		};
		if (cb(ctx, &g)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

enum kt_err kt_catalog_put_group_snapshot(struct kt_catalog *cat, int64_t taken_ms,
					  const struct kt_catalog_group_offset *g, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO group_snapshots(run_id, taken_ms, group_id, topic, generation, partition, "
		    "committed_offset, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		    "iittudit", g->run_id, taken_ms, g->group_id, g->topic, g->generation, g->partition, g->offset,
		    g->metadata);
}

/* Captures of schema 3 and, for runs without any, their group_offsets at
 * the run's start: one relation (run_id, taken_ms, row...). */
#define GROUP_CAPTURES                                                                                                 \
	"(SELECT run_id, taken_ms, group_id, topic, generation, partition, committed_offset, metadata "                \
	"FROM group_snapshots UNION ALL SELECT g.run_id, r.started_ms, g.group_id, g.topic, g.generation, "            \
	"g.partition, g.committed_offset, g.metadata FROM group_offsets g JOIN runs r ON r.run_id = g.run_id "         \
	"WHERE NOT EXISTS (SELECT 1 FROM group_snapshots s WHERE s.run_id = g.run_id))"
#define GROUP_CAPTURES_V2                                                                                              \
	"(SELECT g.run_id, r.started_ms AS taken_ms, g.group_id, g.topic, g.generation, g.partition, "                 \
	"g.committed_offset, g.metadata FROM group_offsets g JOIN runs r ON r.run_id = g.run_id)"

enum kt_err kt_catalog_each_group_snapshot_at(struct kt_catalog *cat, const char *topic, int64_t at_ms,
					      kt_catalog_group_cb cb, void *ctx, int64_t *out_taken_ms,
					      struct kt_diag *diag)
{
	*out_taken_ms = -1;
	/* the newest capture at or before at_ms that holds the topic:
	 * (taken_ms, run_id) ordered. A newer capture of other topics only (a
	 * dump of other topics, another shard's follower) says nothing of it. */
	const char *newest = cat->version >= 3 ? "SELECT taken_ms, run_id FROM " GROUP_CAPTURES
						 " WHERE taken_ms <= ?1 AND (?2 IS NULL OR topic = ?2) "
						 "ORDER BY taken_ms DESC, run_id DESC LIMIT 1"
					       : "SELECT taken_ms, run_id FROM " GROUP_CAPTURES_V2
						 " WHERE taken_ms <= ?1 AND (?2 IS NULL OR topic = ?2) "
						 "ORDER BY taken_ms DESC, run_id DESC LIMIT 1";
	sqlite3_stmt *st = query(cat, diag, newest, "it", at_ms, topic);
	if (!st)
		return KT_ERR_CATALOG;
	int rc = step(cat, st, diag);
	if (rc <= 0) {
		sqlite3_reset(st);
		return rc < 0 ? KT_ERR_CATALOG : KT_OK;
	}
	int64_t taken = sqlite3_column_int64(st, 0), run_id = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	const char *rows =
		cat->version >= 3 ? "SELECT run_id, group_id, topic, generation, partition, committed_offset, metadata "
				    "FROM " GROUP_CAPTURES " WHERE run_id = ?1 AND taken_ms = ?2 AND (?3 IS NULL OR "
				    "topic = ?3) ORDER BY group_id, topic, partition"
				  : "SELECT run_id, group_id, topic, generation, partition, committed_offset, metadata "
				    "FROM " GROUP_CAPTURES_V2 " WHERE run_id = ?1 AND taken_ms = ?2 AND (?3 IS NULL OR "
				    "topic = ?3) ORDER BY group_id, topic, partition";
	st = query(cat, diag, rows, "iit", run_id, taken, topic);
	if (!st)
		return KT_ERR_CATALOG;
	*out_taken_ms = taken;
	return each_group_row(cat, st, cb, ctx, diag);
}

enum kt_err kt_catalog_each_latest_group_offset(struct kt_catalog *cat, const char *topic, kt_catalog_group_cb cb,
						void *ctx, struct kt_diag *diag)
{
	sqlite3_stmt *st = query(cat, diag,
				 "SELECT run_id, group_id, topic, generation, partition, committed_offset, metadata "
				 "FROM group_offsets WHERE topic = ?1 AND run_id = (SELECT max(run_id) FROM "
				 "group_offsets WHERE topic = ?1) ORDER BY group_id, partition",
				 "t", topic);
	return st ? each_group_row(cat, st, cb, ctx, diag) : KT_ERR_CATALOG;
}

/* ---- restore maps ---- */

enum kt_err kt_catalog_put_restore_map(struct kt_catalog *cat, const struct kt_catalog_restore_map *m,
				       struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO restore_maps(run_id, src_topic, src_generation, src_partition, dst_topic, "
		    "dst_partition, src_first, src_last, dst_first, records) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    "itudtdiiii", m->run_id, m->src_topic, m->src_generation, m->src_partition, m->dst_topic,
		    m->dst_partition, m->src_first, m->src_last, m->dst_first, m->records);
}

enum kt_err kt_catalog_each_restore_map(struct kt_catalog *cat, int64_t run_id, const char *src_topic,
					int32_t src_partition, kt_catalog_map_cb cb, void *ctx, struct kt_diag *diag)
{
	sqlite3_stmt *st = query(cat, diag,
				 "SELECT run_id, src_topic, src_generation, src_partition, dst_topic, dst_partition, "
				 "src_first, src_last, dst_first, records FROM restore_maps WHERE (?1 = 0 OR run_id = "
				 "?1) AND src_topic = ?2 AND src_partition = ?3 ORDER BY run_id, src_first",
				 "itd", run_id, src_topic, src_partition);
	if (!st)
		return KT_ERR_CATALOG;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_restore_map m = {
			sqlite3_column_int64(st, 0),
			col_text(st, 1),
			(uint32_t)sqlite3_column_int64(st, 2),
			(int32_t)sqlite3_column_int64(st, 3),
			col_text(st, 4),
			(int32_t)sqlite3_column_int64(st, 5),
			sqlite3_column_int64(st, 6),
			sqlite3_column_int64(st, 7),
			sqlite3_column_int64(st, 8),
			sqlite3_column_int64(st, 9),
		};
		if (cb(ctx, &m)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

enum kt_err kt_catalog_drop_restore_bases(struct kt_catalog *cat, int64_t run_id, struct kt_diag *diag)
{
	return exec(cat, diag, "DELETE FROM restore_bases WHERE run_id = ?", "i", run_id);
}

enum kt_err kt_catalog_put_restore_base(struct kt_catalog *cat, int64_t run_id, const char *dst_topic,
					int32_t dst_partition, int64_t base, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO restore_bases(run_id, dst_topic, dst_partition, base_offset) VALUES (?, ?, "
		    "?, ?)",
		    "itdi", run_id, dst_topic, dst_partition, base);
}

enum kt_err kt_catalog_get_restore_base(struct kt_catalog *cat, int64_t run_id, const char *dst_topic,
					int32_t dst_partition, int64_t *out_base, int *out_found, struct kt_diag *diag)
{
	return query_i64(cat, diag, out_base, out_found,
			 "SELECT base_offset FROM restore_bases WHERE run_id = ? AND dst_topic = ? AND "
			 "dst_partition = ?",
			 "itd", run_id, dst_topic, dst_partition);
}

/* ---- missing ranges ---- */

enum kt_err kt_catalog_add_missing(struct kt_catalog *cat, const struct kt_catalog_missing *m, struct kt_diag *diag)
{
	return exec(cat, diag,
		    "INSERT OR REPLACE INTO missing_ranges(topic, generation, partition, first_offset, last_offset, "
		    "path, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
		    "tudiitt", m->topic, m->generation, m->partition, m->first_offset, m->last_offset, m->path,
		    m->reason);
}

enum kt_err kt_catalog_each_missing(struct kt_catalog *cat, const char *topic, kt_catalog_missing_cb cb, void *ctx,
				    struct kt_diag *diag)
{
	if (cat->version < 2)
		return KT_OK; /* read-only version 1 catalog: it knew of no missing ranges */
	sqlite3_stmt *st = query(cat, diag,
				 "SELECT topic, generation, partition, first_offset, last_offset, path, reason "
				 "FROM missing_ranges WHERE ?1 IS NULL OR topic = ?1 "
				 "ORDER BY topic, generation, partition, first_offset, path",
				 "t", topic);
	if (!st)
		return KT_ERR_CATALOG;
	int rc;
	while ((rc = step(cat, st, diag)) == 1) {
		struct kt_catalog_missing m = {
			col_text(st, 0),
			(uint32_t)sqlite3_column_int64(st, 1),
			(int32_t)sqlite3_column_int64(st, 2),
			sqlite3_column_int64(st, 3),
			sqlite3_column_int64(st, 4),
			col_text(st, 5),
			col_text(st, 6),
		};
		if (cb(ctx, &m)) {
			sqlite3_reset(st);
			return KT_OK;
		}
	}
	return rc < 0 ? KT_ERR_CATALOG : KT_OK;
}

enum kt_err kt_catalog_drop_missing_path(struct kt_catalog *cat, const char *path, struct kt_diag *diag)
{
	return exec(cat, diag, "DELETE FROM missing_ranges WHERE path = ?", "t", path);
}

/* SQL: a segment path up to the end of its name's FIRST-LAST (10.1: two
 * zero-padded 20-digit offsets), the same for FIRST-LAST.kts and every
 * FIRST-LAST~N.kts: rtrim stops at the '-' before LAST. */
#define STEM_C	      "substr(c.path, 1, length(rtrim(c.path, '.kts0123456789~')) + 20)"
#define STEM_S	      "substr(s.path, 1, length(rtrim(s.path, '.kts0123456789~')) + 20)"
#define STEM_SEGMENTS "substr(segments.path, 1, length(rtrim(segments.path, '.kts0123456789~')) + 20)"

enum kt_err kt_catalog_settle_claims(struct kt_catalog *cat, int *out_missing, struct kt_diag *diag)
{
	*out_missing = 0;
	enum kt_err err = exec(cat, diag,
			       "UPDATE segments SET run_id = (SELECT MAX(c.run_id) FROM run_segments c "
			       "WHERE c.path = segments.path) "
			       "WHERE run_id IS NULL AND path IN (SELECT path FROM run_segments)",
			       "");
	/* an erasure's rewrite FIRST-LAST~N (SPEC 10.9) that no metadata file
	 * claims yet (its owner's was not written again before a crash) gets
	 * the run of a claim of another version of its segment; only names
	 * ending ~N.kts are looked at (rtrim stops at the '~') */
	static const char *const claim_version_run =
		"UPDATE segments SET run_id = (SELECT MAX(c.run_id) FROM run_segments c WHERE c.topic = segments.topic "
		"AND c.generation = segments.generation AND c.partition = segments.partition AND " STEM_C
		" = " STEM_SEGMENTS ") WHERE run_id IS NULL AND substr(rtrim(path, '.kts0123456789'), -1) = '~'";
	if (!err)
		err = exec(cat, diag, claim_version_run, "");
	/* and its commit time, when the metadata file (1.2) had it */
	if (!err)
		err = exec(cat, diag,
			   "UPDATE segments SET committed_ms = (SELECT max(c.committed_ms) FROM run_segments c "
			   "WHERE c.path = segments.path) WHERE committed_ms IS NULL AND path IN (SELECT path FROM "
			   "run_segments)",
			   "");
	if (err)
		return err;
	err = exec(
		cat, diag,
		"INSERT OR IGNORE INTO missing_ranges(topic, generation, partition, first_offset, last_offset, path, "
		"reason) SELECT topic, generation, partition, first_offset, last_offset, path, "
		"'segment file is gone (committed by run ' || run_id || ', ' || records || ' records)' "
		"FROM run_segments c WHERE NOT EXISTS (SELECT 1 FROM segments s WHERE s.path = c.path) "
		"AND NOT EXISTS (SELECT 1 FROM pruned_segments p WHERE p.path = c.path) "
		/* a file merged into another (compaction) is gone, its records
		 * are not: a segment there holds all of its offsets */
		"AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.topic = c.topic AND s.generation = c.generation "
		"AND s.partition = c.partition AND s.first_offset <= c.first_offset AND s.last_offset >= "
		"c.last_offset) "
		/* nor is a version of a segment another version of which is
		 * indexed (an erasure's rewrite, SPEC 10.9): it holds every
		 * record of the other but the erased ones */
		"AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.topic = c.topic AND s.generation = c.generation "
		"AND s.partition = c.partition AND " STEM_S " = " STEM_C ")",
		"");
	if (!err)
		*out_missing = sqlite3_changes(cat->db);
	return err;
}

enum kt_err kt_catalog_note_pruned(struct kt_catalog *cat, int64_t run_id, const char *path, struct kt_diag *diag)
{
	enum kt_err err = exec(cat, diag, "INSERT OR IGNORE INTO pruned_segments(run_id, path) VALUES (?, ?)", "it",
			       run_id, path);
	return err ? err : kt_catalog_drop_missing_path(cat, path, diag);
}

enum kt_err kt_catalog_erased_path(struct kt_catalog *cat, const char *path, int *out_found, struct kt_diag *diag)
{
	int64_t one;
	*out_found = 0;
	if (cat->version < 2)
		return KT_OK; /* no pruned_segments: no erasure either */
	return query_i64(cat, diag, &one, out_found,
			 "SELECT 1 FROM pruned_segments p JOIN runs r ON r.run_id = p.run_id WHERE p.path = ? AND "
			 "r.kind = 'prune' AND instr(r.args, '--erase-keys') > 0",
			 "t", path);
}

enum kt_err kt_catalog_erasing_run(struct kt_catalog *cat, int64_t *out_run_id, int *out_found, struct kt_diag *diag)
{
	*out_run_id = 0;
	return query_i64(cat, diag, out_run_id, out_found,
			 "SELECT run_id FROM runs WHERE kind = 'prune' AND instr(args, '--erase-keys') > 0 ORDER BY "
			 "run_id DESC LIMIT 1",
			 "");
}

enum kt_err kt_catalog_prune_missing_below(struct kt_catalog *cat, int64_t run_id, const char *topic,
					   uint32_t generation, int32_t partition, int64_t below, struct kt_diag *diag)
{
	enum kt_err err = exec(cat, diag,
			       "INSERT OR IGNORE INTO pruned_segments(run_id, path) SELECT ?1, path FROM "
			       "missing_ranges WHERE topic = ?2 AND generation = ?3 AND partition = ?4 AND "
			       "last_offset < ?5",
			       "itudi", run_id, topic, generation, partition, below);
	return err ? err
		   : exec(cat, diag,
			  "DELETE FROM missing_ranges WHERE topic = ?1 AND generation = ?2 AND partition = ?3 AND "
			  "last_offset < ?4",
			  "tudi", topic, generation, partition, below);
}

/* ---- run metadata export/import ---- */

struct meta_table {
	const char *name; /* the table rows are imported into */
	const char *run_col;
	const char *cols;
	int ncols;
	const char *source; /* the table rows are exported from, when not name */
	/* rows of older minor versions may have fewer: the columns a later
	 * minor added come last and are NULL when absent (0: ncols) */
	int min_ncols;
};

/* Table ids are the 1-based positions in this list: part of the metadata
 * file format, never reorder. */
static const struct meta_table meta_tables[] = {
	{"runs", "run_id",
	 "run_id, kind, started_ms, ended_ms, status, args, tool_version, cluster_id, bootstrap, records, bytes, "
	 "message, selection",
	 13, NULL, 0},
	{"partition_runs", "run_id",
	 "run_id, topic, generation, partition, log_start, high_watermark, from_offset, to_end, done_end, records, "
	 "lost_from, lost_end",
	 12, NULL, 0},
	{"topic_generations", "first_run", "topic, generation, first_run, reason", 4, NULL, 0},
	{"topic_snapshots", "run_id", "run_id, topic, generation, partitions, replication_factor", 5, NULL, 0},
	{"topic_configs", "run_id", "run_id, topic, name, value, source", 5, NULL, 0},
	{"group_offsets", "run_id", "run_id, group_id, topic, generation, partition, committed_offset, metadata", 7,
	 NULL, 0},
	{"restore_maps", "run_id",
	 "run_id, src_topic, src_generation, src_partition, dst_topic, dst_partition, src_first, src_last, "
	 "dst_first, records",
	 10, NULL, 0},
	{"restore_bases", "run_id", "run_id, dst_topic, dst_partition, base_offset", 4, NULL, 0},
	/* a run's committed segments come back as claims, not as segments:
	 * only a file that is there is a segment */
	{"run_segments", "run_id",
	 "run_id, path, topic, generation, partition, first_offset, last_offset, records, footer_crc, committed_ms", 10,
	 "segments", 9},
	{"pruned_segments", "run_id", "run_id, path", 2, NULL, 0},
	/* metadata 1.2 */
	{"group_snapshots", "run_id",
	 "run_id, taken_ms, group_id, topic, generation, partition, committed_offset, metadata", 8, NULL, 0},
};
#define META_TABLES (int)(sizeof(meta_tables) / sizeof(meta_tables[0]))

enum { META_NULL = 0, META_INT = 1, META_TEXT = 2 };

enum kt_err kt_catalog_export_run(struct kt_catalog *cat, int64_t run_id, struct kt_buf *out, struct kt_diag *diag)
{
	for (int t = 0; t < META_TABLES; t++) {
		const struct meta_table *mt = &meta_tables[t];
		char sql[512];
		snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s = ?", mt->cols,
			 mt->source ? mt->source : mt->name, mt->run_col);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(cat->db, sql, -1, &st, NULL) != SQLITE_OK)
			return db_fail(cat, diag, "export");
		sqlite3_bind_int64(st, 1, run_id);
		enum kt_err err = KT_OK;
		int rc;
		while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			err = kt_buf_append_uvarint(out, (uint64_t)t + 1);
			err = err ? err : kt_buf_append_uvarint(out, (uint64_t)mt->ncols);
			for (int c = 0; !err && c < mt->ncols; c++) {
				switch (sqlite3_column_type(st, c)) {
				case SQLITE_NULL: err = kt_buf_append_u8(out, META_NULL); break;
				case SQLITE_INTEGER: {
					int64_t v = sqlite3_column_int64(st, c);
					err = kt_buf_append_u8(out, META_INT);
					err = err ? err
						  : kt_buf_append_uvarint(out,
									  ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
					break;
				}
				default: {
					const unsigned char *s = sqlite3_column_text(st, c);
					int n = sqlite3_column_bytes(st, c);
					err = kt_buf_append_u8(out, META_TEXT);
					err = err ? err : kt_buf_append_uvarint(out, (uint64_t)n);
					err = err ? err : kt_buf_append(out, s, (size_t)n);
				}
				}
			}
		}
		if (!err && rc != SQLITE_DONE)
			err = db_fail(cat, diag, "export");
		sqlite3_finalize(st);
		if (err)
			return err == KT_ERR_CATALOG
				       ? err
				       : kt_diag_fail(diag, err, "cannot export run %lld", (long long)run_id);
	}
	return KT_OK;
}

enum kt_err kt_catalog_import_rows(struct kt_catalog *cat, const uint8_t *data, size_t len, struct kt_diag *diag)
{
	struct kt_cursor cur;
	kt_cursor_init(&cur, data, len);
	sqlite3_stmt *stmts[META_TABLES] = {0};
	enum kt_err err = KT_OK;
	while (!err && kt_cursor_left(&cur) > 0) {
		uint64_t table = kt_cursor_uvarint(&cur);
		uint64_t ncols = kt_cursor_uvarint(&cur);
		if (cur.err || table == 0 || ncols > 1000) {
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "metadata row is malformed");
			break;
		}
		/* an unknown table (newer minor version) is skipped, a known one
		 * needs at least its known columns; extra columns are ignored */
		const struct meta_table *mt = table <= META_TABLES ? &meta_tables[table - 1] : NULL;
		if (mt && ncols < (uint64_t)(mt->min_ncols ? mt->min_ncols : mt->ncols)) {
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "metadata row of %s has too few columns", mt->name);
			break;
		}
		sqlite3_stmt *st = NULL;
		if (mt) {
			if (!stmts[table - 1]) {
				char sql[640], qs[64] = "";
				for (int c = 0; c < mt->ncols; c++)
					strcat(qs, c ? ",?" : "?");
				snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO %s (%s) VALUES (%s)", mt->name,
					 mt->cols, qs);
				if (sqlite3_prepare_v2(cat->db, sql, -1, &stmts[table - 1], NULL) != SQLITE_OK) {
					err = db_fail(cat, diag, "import");
					break;
				}
			}
			st = stmts[table - 1];
		}
		for (uint64_t c = 0; c < ncols && !cur.err; c++) {
			uint8_t type = kt_cursor_u8(&cur);
			int col = (int)c + 1;
			int bind = st && c < (uint64_t)mt->ncols;
			if (type == META_NULL) {
				if (bind)
					sqlite3_bind_null(st, col);
			} else if (type == META_INT) {
				uint64_t z = kt_cursor_uvarint(&cur);
				if (bind)
					sqlite3_bind_int64(st, col, (int64_t)(z >> 1) ^ -(int64_t)(z & 1));
			} else if (type == META_TEXT) {
				uint64_t n = kt_cursor_uvarint(&cur);
				if (n > kt_cursor_left(&cur)) {
					cur.err = KT_ERR_TRUNCATED;
					break;
				}
				const uint8_t *s = kt_cursor_bytes(&cur, (size_t)n);
				if (bind)
					sqlite3_bind_text(st, col, (const char *)s, (int)n, SQLITE_TRANSIENT);
			} else {
				cur.err = KT_ERR_FORMAT;
			}
		}
		if (cur.err) {
			err = kt_diag_fail(diag, KT_ERR_FORMAT, "metadata row is malformed");
			break;
		}
		if (st) {
			if (sqlite3_step(st) != SQLITE_DONE)
				err = db_fail(cat, diag, "import");
			sqlite3_reset(st);
			sqlite3_clear_bindings(st); /* the next row may have fewer columns */
		}
	}
	for (int t = 0; t < META_TABLES; t++)
		sqlite3_finalize(stmts[t]);
	return err;
}

/* ---- the union of a sharded archive's catalogs (format/SPEC.md 10.8) ---- */

/* The tables a union copies, parents before children (foreign keys). */
static const char *const union_tables[] = {
	"runs",
	"segments",
	"blocks",
	"partition_runs",
	"topic_generations",
	"topic_snapshots",
	"topic_configs",
	"group_offsets",
	"restore_maps",
	"restore_bases",
	"run_segments",
	"missing_ranges",
	"pruned_segments",
	"group_snapshots",
};

static int table_has_column(sqlite3 *db, const char *schema, const char *table, const char *col)
{
	char *sql = sqlite3_mprintf("SELECT 1 FROM pragma_table_info(%Q, %Q) WHERE name = %Q", table, schema, col);
	sqlite3_stmt *st = NULL;
	int found = 0;
	if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
		found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return found;
}

static int table_exists(sqlite3 *db, const char *schema, const char *table)
{
	char *sql = sqlite3_mprintf("SELECT 1 FROM %w.sqlite_master WHERE type = 'table' AND name = %Q", schema, table);
	sqlite3_stmt *st = NULL;
	int found = 0;
	if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
		found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_free(sql);
	return found;
}

/* INSERT OR IGNORE INTO main.T SELECT ... FROM src.T, column by column of
 * main's table: a column the source lacks (an older schema) is NULL, run
 * ids are shifted, paths prefixed, segment ids shifted. */
static enum kt_err union_copy_table(struct kt_catalog *dst, const char *table, const char *prefix, int64_t run_off,
				    int64_t seg_off, struct kt_diag *diag)
{
	if (!table_exists(dst->db, "src", table))
		return KT_OK;
	char *cols = sqlite3_mprintf("%s", "");
	char *exprs = sqlite3_mprintf("%s", "");
	char *q = sqlite3_mprintf("SELECT name FROM pragma_table_info(%Q, 'main') ORDER BY cid", table);
	sqlite3_stmt *st = NULL;
	enum kt_err err = cols && exprs && q ? KT_OK : KT_ERR_NOMEM;
	if (!err && sqlite3_prepare_v2(dst->db, q, -1, &st, NULL) != SQLITE_OK)
		err = db_fail(dst, diag, "union: columns");
	int n = 0;
	while (!err && sqlite3_step(st) == SQLITE_ROW) {
		const char *c = col_text(st, 0);
		char *e;
		if (!table_has_column(dst->db, "src", table, c))
			e = sqlite3_mprintf("NULL");
		else if (!strcmp(c, "run_id") || !strcmp(c, "first_run"))
			e = sqlite3_mprintf("(\"%w\" + %lld)", c, (long long)run_off);
		else if (!strcmp(c, "segment_id"))
			e = sqlite3_mprintf("(\"%w\" + %lld)", c, (long long)seg_off);
		else if (!strcmp(c, "path"))
			e = sqlite3_mprintf("(%Q || \"%w\")", prefix, c);
		else
			e = sqlite3_mprintf("\"%w\"", c);
		char *nc = e ? sqlite3_mprintf("%s%s\"%w\"", cols, n ? ", " : "", c) : NULL;
		char *ne = nc ? sqlite3_mprintf("%s%s%s", exprs, n ? ", " : "", e) : NULL;
		sqlite3_free(e);
		sqlite3_free(cols);
		sqlite3_free(exprs);
		cols = nc;
		exprs = ne;
		if (!cols || !exprs)
			err = KT_ERR_NOMEM;
		n++;
	}
	sqlite3_finalize(st);
	char *ins = NULL;
	if (!err) {
		ins = sqlite3_mprintf("INSERT OR IGNORE INTO main.\"%w\" (%s) SELECT %s FROM src.\"%w\"", table, cols,
				      exprs, table);
		if (!ins)
			err = KT_ERR_NOMEM;
		else if (sqlite3_exec(dst->db, ins, NULL, NULL, NULL) != SQLITE_OK)
			err = db_fail(dst, diag, "union: copy");
	}
	sqlite3_free(ins);
	sqlite3_free(q);
	sqlite3_free(cols);
	sqlite3_free(exprs);
	return err;
}

enum kt_err kt_catalog_union_add(struct kt_catalog *dst, const char *src_path, const char *prefix, int64_t run_off,
				 struct kt_diag *diag)
{
	char *att = sqlite3_mprintf("ATTACH DATABASE %Q AS src", src_path);
	if (!att)
		return KT_ERR_NOMEM;
	int rc = sqlite3_exec(dst->db, att, NULL, NULL, NULL);
	sqlite3_free(att);
	if (rc != SQLITE_OK)
		return db_fail(dst, diag, "union: attach");
	/* a copy, checked by its writer: rows come as they are */
	sqlite3_exec(dst->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
	int64_t seg_off = 0;
	int found = 0;
	enum kt_err err = kt_catalog_begin(dst, diag);
	if (!err)
		err = query_i64(dst, diag, &seg_off, &found, "SELECT max(segment_id) FROM main.segments", "");
	if (!found)
		seg_off = 0;
	for (size_t i = 0; !err && i < sizeof(union_tables) / sizeof(union_tables[0]); i++)
		err = union_copy_table(dst, union_tables[i], prefix, run_off, seg_off, diag);
	/* the root's identity is the union's */
	if (!err && !prefix[0] &&
	    sqlite3_exec(dst->db, "INSERT OR REPLACE INTO main.archive SELECT key, value FROM src.archive", NULL, NULL,
			 NULL) != SQLITE_OK)
		err = db_fail(dst, diag, "union: archive");
	if (!err)
		err = kt_catalog_commit(dst, diag);
	else
		kt_catalog_rollback(dst);
	sqlite3_exec(dst->db, "DETACH DATABASE src", NULL, NULL, NULL);
	sqlite3_exec(dst->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
	return err;
}

enum kt_err kt_catalog_union_settle(struct kt_catalog *dst, int64_t *out_dropped, struct kt_diag *diag)
{
	*out_dropped = 0;
	enum kt_err err = kt_catalog_begin(dst, diag);
	/* a segment an earlier one of its partition holds whole (order: first
	 * offset, last offset descending, path) is not part of the union; the
	 * running maximum of the earlier last offsets comes from one segment
	 * that starts at or before this one, so it holds this one whole */
	if (!err &&
	    sqlite3_exec(dst->db,
			 "DELETE FROM segments WHERE segment_id IN (SELECT segment_id FROM (SELECT segment_id, "
			 "last_offset, max(last_offset) OVER (PARTITION BY topic, generation, partition ORDER BY "
			 "first_offset, last_offset DESC, path ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS "
			 "prev_max FROM segments) WHERE prev_max >= last_offset)",
			 NULL, NULL, NULL) != SQLITE_OK)
		err = db_fail(dst, diag, "union: overlaps");
	if (!err)
		*out_dropped = sqlite3_changes(dst->db);
	/* what one shard lost and another holds is no loss of the union */
	if (!err && sqlite3_exec(dst->db,
				 "DELETE FROM missing_ranges WHERE EXISTS (SELECT 1 FROM segments s WHERE s.topic = "
				 "missing_ranges.topic AND s.generation = missing_ranges.generation AND s.partition = "
				 "missing_ranges.partition AND s.first_offset <= missing_ranges.first_offset AND "
				 "s.last_offset >= missing_ranges.last_offset)",
				 NULL, NULL, NULL) != SQLITE_OK)
		err = db_fail(dst, diag, "union: missing");
	if (!err)
		err = kt_catalog_commit(dst, diag);
	else
		kt_catalog_rollback(dst);
	return err;
}
