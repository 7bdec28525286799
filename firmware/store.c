#include "firmware/store.h"

#include "firmware/config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bytes reserved after the path for ".corrupt-YYYYmmddTHHMMSSZ.NN-journal". */
#define ASIDE_SUFFIX_MAX 48
/* Rows of quick_check / integrity_check output kept in a message. */
#define CHECK_ROWS_MAX 8
/* WAL file kept at most this big after a checkpoint. */
#define WAL_SIZE_LIMIT (4 * 1024 * 1024)

enum stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_JSON_VALID,
	STMT_CUSTOMER_ADD,
	STMT_CUSTOMER_EXISTS,
	STMT_CUSTOMER_SEEN,
	STMT_CONSENT_GRANT,
	STMT_CONSENT_REVOKE,
	STMT_CONSENT_ACTIVE,
	STMT_EMBEDDING_COUNT,
	STMT_EMBEDDING_ADD,
	STMT_EMBEDDINGS_DELETE,
	STMT_EMBEDDINGS_LOAD,
	STMT_BEACON_ADD,
	STMT_BEACON_FIND,
	STMT_VISIT_BEGIN,
	STMT_VISIT_END,
	STMT_VISIT_SET_CUSTOMER,
	STMT_SESSION_OPEN,
	STMT_SESSION_SET_STATE,
	STMT_SESSION_CLOSE,
	STMT_SESSION_CLOSE_STALE,
	STMT_SESSION_FIND_OPEN,
	STMT_SESSION_STATUS,
	STMT_TURN_APPEND,
	STMT_TURNS_LOAD,
	STMT_AUDIT_APPEND,
	STMT_AUDIT_LOAD,
	STMT_FORGET_AUDIT,
	STMT_FORGET_TURNS,
	STMT_FORGET_SESSIONS,
	STMT_FORGET_VISITS,
	STMT_FORGET_BEACONS,
	STMT_FORGET_CONSENTS,
	STMT_FORGET_CUSTOMER,
	STMT_PURGE_AUDIT,
	STMT_PURGE_TURNS,
	STMT_PURGE_SESSIONS,
	STMT_PURGE_VISITS,
	STMT_STAFF_PAIR,
	STMT_STAFF_REVOKE,
	STMT_STAFF_FIND,
	STMT_COUNT
};

#define CUSTOMER_SESSIONS                                                                          \
	"SELECT s.id FROM sessions s JOIN visits v ON v.id = s.visit_id WHERE v.customer_id = ?1"
#define OLD_ANONYMOUS_VISITS                                                                       \
	"SELECT id FROM visits WHERE customer_id IS NULL AND coalesce(ended_at, started_at) < ?1"

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_JSON_VALID] = "SELECT json_valid(?1)",
    [STMT_CUSTOMER_ADD] = "INSERT INTO customers(display_name, created_at) VALUES (?1, ?2)",
    [STMT_CUSTOMER_EXISTS] = "SELECT 1 FROM customers WHERE id = ?1",
    [STMT_CUSTOMER_SEEN] = "UPDATE customers SET last_seen = ?2 WHERE id = ?1",
    [STMT_CONSENT_GRANT] = "INSERT INTO consents(customer_id, kind, granted_at, method, granted_by)"
			   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_CONSENT_REVOKE] = "UPDATE consents SET revoked_at = ?3"
			    " WHERE customer_id = ?1 AND kind = ?2 AND revoked_at IS NULL",
    [STMT_CONSENT_ACTIVE] = "SELECT 1 FROM consents"
			    " WHERE customer_id = ?1 AND kind = ?2 AND revoked_at IS NULL",
    [STMT_EMBEDDING_COUNT] = "SELECT count(*) FROM face_embeddings WHERE customer_id = ?1",
    [STMT_EMBEDDING_ADD] = "INSERT INTO face_embeddings(customer_id, vector, created_at, source)"
			   " VALUES (?1, ?2, ?3, ?4)",
    [STMT_EMBEDDINGS_DELETE] = "DELETE FROM face_embeddings WHERE customer_id = ?1",
    [STMT_EMBEDDINGS_LOAD] = "SELECT id, customer_id, created_at, vector FROM face_embeddings"
			     " ORDER BY customer_id, id",
    [STMT_BEACON_ADD] = "INSERT INTO beacons(customer_id, kind, uuid, major, minor, instance,"
			" created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [STMT_BEACON_FIND] = "SELECT customer_id FROM beacons WHERE kind = ?1 AND uuid = ?2"
			 " AND major = ?3 AND minor = ?4 AND instance = ?5",
    [STMT_VISIT_BEGIN] = "INSERT INTO visits(customer_id, started_at) VALUES (?1, ?2)",
    [STMT_VISIT_END] = "UPDATE visits SET ended_at = ?2, summary = ?3"
		       " WHERE id = ?1 AND ended_at IS NULL",
    [STMT_VISIT_SET_CUSTOMER] = "UPDATE visits SET customer_id = ?2 WHERE id = ?1",
    [STMT_SESSION_OPEN] = "INSERT INTO sessions(visit_id, state, archetype, opened_at)"
			  " SELECT id, ?2, ?3, ?4 FROM visits WHERE id = ?1 AND ended_at IS NULL",
    [STMT_SESSION_SET_STATE] = "UPDATE sessions SET state = ?2, archetype = coalesce(?3, archetype)"
			       " WHERE id = ?1 AND closed_at IS NULL",
    [STMT_SESSION_CLOSE] = "UPDATE sessions SET state = coalesce(?2, state), closed_at = ?3"
			   " WHERE id = ?1 AND closed_at IS NULL",
    [STMT_SESSION_CLOSE_STALE] =
	"UPDATE sessions SET closed_at = ?2 WHERE closed_at IS NULL AND coalesce("
	"(SELECT max(created_at) FROM turns WHERE session_id = sessions.id), opened_at) < ?1",
    [STMT_SESSION_FIND_OPEN] =
	"SELECT s.id, s.visit_id, v.customer_id, s.state, s.archetype, s.opened_at,"
	" (SELECT coalesce(max(seq), 0) FROM turns t WHERE t.session_id = s.id)"
	" FROM sessions s JOIN visits v ON v.id = s.visit_id"
	" WHERE s.closed_at IS NULL ORDER BY s.opened_at, s.id",
    [STMT_SESSION_STATUS] = "SELECT closed_at IS NOT NULL,"
			    " (SELECT coalesce(max(seq), 0) FROM turns WHERE session_id = ?1)"
			    " FROM sessions WHERE id = ?1",
    /* One statement, so one implicit transaction: the next seq is read
     * under the write lock and the row lands atomically. */
    [STMT_TURN_APPEND] =
	"INSERT INTO turns(session_id, seq, role, text, created_at, meta)"
	" SELECT s.id, n.next, ?2, ?3, ?4, ?5 FROM sessions s,"
	" (SELECT coalesce(max(seq), 0) + 1 AS next FROM turns WHERE session_id = ?1) n"
	" WHERE s.id = ?1 AND s.closed_at IS NULL AND n.next <= ?6 RETURNING seq",
    [STMT_TURNS_LOAD] = "SELECT seq, role, text, meta, created_at FROM turns"
			" WHERE session_id = ?1 ORDER BY seq",
    [STMT_AUDIT_APPEND] = "INSERT INTO audit(ts, session_id, customer_id, kind, detail)"
			  " VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_AUDIT_LOAD] = "SELECT id, ts, session_id, customer_id, kind, detail FROM audit"
			" WHERE id > ?1 ORDER BY id",
    [STMT_FORGET_AUDIT] = "DELETE FROM audit WHERE customer_id = ?1"
			  " OR session_id IN (" CUSTOMER_SESSIONS ")",
    [STMT_FORGET_TURNS] = "DELETE FROM turns WHERE session_id IN (" CUSTOMER_SESSIONS ")",
    [STMT_FORGET_SESSIONS] = "DELETE FROM sessions WHERE visit_id IN"
			     " (SELECT id FROM visits WHERE customer_id = ?1)",
    [STMT_FORGET_VISITS] = "DELETE FROM visits WHERE customer_id = ?1",
    [STMT_FORGET_BEACONS] = "DELETE FROM beacons WHERE customer_id = ?1",
    [STMT_FORGET_CONSENTS] = "DELETE FROM consents WHERE customer_id = ?1",
    [STMT_FORGET_CUSTOMER] = "DELETE FROM customers WHERE id = ?1",
    [STMT_PURGE_AUDIT] = "DELETE FROM audit WHERE session_id IN (SELECT id FROM sessions"
			 " WHERE visit_id IN (" OLD_ANONYMOUS_VISITS "))",
    [STMT_PURGE_TURNS] = "DELETE FROM turns WHERE session_id IN (SELECT id FROM sessions"
			 " WHERE visit_id IN (" OLD_ANONYMOUS_VISITS "))",
    [STMT_PURGE_SESSIONS] = "DELETE FROM sessions WHERE visit_id IN (" OLD_ANONYMOUS_VISITS ")",
    [STMT_PURGE_VISITS] = "DELETE FROM visits WHERE id IN (" OLD_ANONYMOUS_VISITS ")",
    [STMT_STAFF_PAIR] =
	"INSERT INTO staff_devices(name, token_hash, paired_at) VALUES (?1, ?2, ?3)",
    [STMT_STAFF_REVOKE] = "UPDATE staff_devices SET revoked_at = ?2"
			  " WHERE id = ?1 AND revoked_at IS NULL",
    [STMT_STAFF_FIND] = "SELECT id FROM staff_devices WHERE token_hash = ?1 AND revoked_at IS NULL",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STMT_COUNT]; /* prepared on first use, kept until close */
	int64_t (*now_ms)(void *ctx);
	void *clock_ctx;
	int busy_timeout_ms;
	bool readonly;
	char path[STORE_PATH_MAX];
	char err[STORE_ERROR_MAX];
};

/* ---- errors -------------------------------------------------------------- */

/* snprintf for messages and paths, where cutting a long text short is the
 * wanted behaviour (gcc warns about a plain snprintf that may truncate). */
static void msg_set(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msg_set(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

static int errf(struct store_error *err, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int errf(struct store_error *err, int r, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return r;
}

static int fail(struct store *s, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct store *s, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return r;
}

static const char *hint(int r)
{
	switch (r) {
	case -EBUSY:
		return "; another connection held the lock too long: only edgeboxd writes, "
		       "edgeboxctl opens the store read-only";
	case -ENOSPC:
		return "; the disk is full: free space on the data partition or shorten retention";
	case -EROFS:
		return "; the store or its file system is read-only: check the mount and the "
		       "file owner";
	case -EUCLEAN:
		return "; the database is corrupt: restart edgeboxd, it moves the file aside "
		       "and starts a fresh one";
	case -EIO:
		return "; storage I/O error: check dmesg and the SD card";
	default:
		return "";
	}
}

/* s->err holds SQLite's message (from step()); put what we were doing in
 * front of it and the fix after it. */
static int fail_db(struct store *s, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_db(struct store *s, int r, const char *fmt, ...)
{
	char what[STORE_ERROR_MAX / 2], cause[STORE_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(cause, sizeof(cause), "%s", s->err);
	msg_set(s->err, sizeof(s->err), "%s: %s%s", what, cause, hint(r));
	return r;
}

static int errno_from_sqlite(sqlite3 *db, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return -ENOENT;
		return -EINVAL;
	case SQLITE_CANTOPEN:
		sys = db ? sqlite3_system_errno(db) : 0;
		return sys > 0 ? -sys : -EACCES;
	case SQLITE_IOERR:
		sys = db ? sqlite3_system_errno(db) : 0;
		return sys == ENOSPC || sys == EROFS ? -sys : -EIO;
	default:
		return -EIO;
	}
}

/* ---- statements ---------------------------------------------------------- */

static int prep(struct store *s, enum stmt_id id, sqlite3_stmt **ret)
{
	int rc;

	if (!s->stmt[id]) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&s->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			int r = errno_from_sqlite(s->db, rc);

			return fail(s, r, "preparing statement %d: %s%s", (int)id,
				    sqlite3_errmsg(s->db), hint(r));
		}
	}
	*ret = s->stmt[id];
	return 0;
}

static void finish(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* 1 for a row, 0 when done, or -errno with SQLite's message in s->err. The
 * statement is reset when done and on error. */
static int step(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st), r;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		finish(st);
		return 0;
	}
	r = errno_from_sqlite(s->db, rc);
	snprintf(s->err, sizeof(s->err), "%s", sqlite3_errmsg(s->db));
	finish(st);
	return r;
}

static int bind_id(sqlite3_stmt *st, int idx, int64_t id)
{
	return id ? sqlite3_bind_int64(st, idx, id) : sqlite3_bind_null(st, idx);
}

static int bind_str(sqlite3_stmt *st, int idx, const char *v)
{
	return v ? sqlite3_bind_text(st, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, idx);
}

static int bind_fail(struct store *s, sqlite3_stmt *st)
{
	int r = errno_from_sqlite(s->db, sqlite3_errcode(s->db));

	finish(st);
	return fail(s, r ? r : -EINVAL, "binding a parameter: %s", sqlite3_errmsg(s->db));
}

static int tx_exec(struct store *s, enum stmt_id id)
{
	sqlite3_stmt *st;
	int r = prep(s, id, &st);

	return r < 0 ? r : step(s, st);
}

static int tx_begin(struct store *s)
{
	int r = tx_exec(s, STMT_BEGIN);

	return r < 0 ? fail_db(s, r, "starting a transaction") : 0;
}

static int tx_commit(struct store *s)
{
	int r = tx_exec(s, STMT_COMMIT);

	return r < 0 ? fail_db(s, r, "committing") : 0;
}

/* Keeps s->err: the caller reports why it rolled back. */
static void tx_rollback(struct store *s)
{
	char keep[STORE_ERROR_MAX];

	if (sqlite3_get_autocommit(s->db))
		return; /* SQLite already rolled back (e.g. after an I/O error) */
	memcpy(keep, s->err, sizeof(keep));
	tx_exec(s, STMT_ROLLBACK);
	memcpy(s->err, keep, sizeof(keep));
}

/* One-row query of a cached statement with ?1 = id: 1 found, 0 not, -errno. */
static int exists(struct store *s, enum stmt_id id, int64_t key)
{
	sqlite3_stmt *st;
	int r = prep(s, id, &st);

	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, key))
		return bind_fail(s, st);
	r = step(s, st);
	finish(st);
	return r;
}

static int64_t now(struct store *s)
{
	return s->now_ms(s->clock_ctx);
}

static int64_t realtime_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- argument checks ----------------------------------------------------- */

static int check_str(struct store *s, const char *what, const char *v, size_t max, bool nullable)
{
	size_t len;

	if (!v)
		return nullable ? 0 : fail(s, -EINVAL, "%s is missing (NULL)", what);
	len = strnlen(v, max + 1);
	if (len == 0)
		return fail(s, -EINVAL, "%s is empty", what);
	if (len > max)
		return fail(s, -E2BIG,
			    "%s is longer than %zu bytes: shorten it; nothing was stored", what,
			    max);
	return 0;
}

static int check_id(struct store *s, const char *what, int64_t id)
{
	return id > 0 ? 0
		      : fail(s, -EINVAL, "%s %lld is not a valid id (ids start at 1)", what,
			     (long long)id);
}

static int check_writable(struct store *s)
{
	return s->readonly ? fail(s, -EROFS,
				  "%s was opened read-only (STORE_OPEN_READONLY): "
				  "only edgeboxd writes",
				  s->path)
			   : 0;
}

/* NULL is fine; otherwise at most STORE_JSON_MAX bytes of valid JSON. */
static int check_json(struct store *s, const char *what, const char *json)
{
	sqlite3_stmt *st;
	size_t len;
	int r, valid;

	if (!json)
		return 0;
	len = strnlen(json, STORE_JSON_MAX + 1);
	if (len > STORE_JSON_MAX)
		return fail(s, -E2BIG,
			    "%s is longer than %d bytes (STORE_JSON_MAX): keep large data out of "
			    "the store; nothing was stored",
			    what, STORE_JSON_MAX);
	r = prep(s, STMT_JSON_VALID, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_text(st, 1, json, (int)len, SQLITE_STATIC))
		return bind_fail(s, st);
	r = step(s, st);
	if (r < 0)
		return fail_db(s, r, "checking %s", what);
	valid = r == 1 && sqlite3_column_int(st, 0) == 1;
	finish(st);
	if (!valid)
		return fail(s, -EINVAL,
			    "%s is not valid JSON (\"%.40s%s\"): pass a JSON object or "
			    "NULL; nothing was stored",
			    what, json, len > 40 ? "..." : "");
	return 0;
}

/* ---- open: file handling ------------------------------------------------- */

static int fsync_dir_of(const char *path)
{
	char dir[STORE_PATH_MAX];
	char *slash;
	int fd, r = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* rename() that refuses to replace an existing file. */
static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	/* File system without RENAME_NOREPLACE: link() also refuses. */
	if (link(from, to) < 0)
		return -errno;
	return unlink(from) < 0 ? -errno : 0;
}

/*
 * Moves path and its -wal, -shm, -journal to "<path>.corrupt-<UTC time>"
 * (".2", ".3", ... when taken). The side files must go too: left in place,
 * SQLite would replay the old WAL or journal into the fresh database.
 */
static int move_aside(const char *path, int64_t now_ms, char *ret_to, size_t len,
		      struct store_error *err)
{
	static const char *const sides[] = {"-wal", "-shm", "-journal"};
	char stamp[32], from[STORE_PATH_MAX], to[STORE_PATH_MAX];
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	size_t i;
	int n, r;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (n = 1; n <= 99; n++) {
		bool taken = false;

		if (n == 1)
			snprintf(ret_to, len, "%s.corrupt-%s", path, stamp);
		else
			snprintf(ret_to, len, "%s.corrupt-%s.%d", path, stamp, n);
		taken = path_exists(ret_to);
		for (i = 0; i < sizeof(sides) / sizeof(sides[0]) && !taken; i++) {
			snprintf(to, sizeof(to), "%s%s", ret_to, sides[i]);
			taken = path_exists(to);
		}
		if (!taken)
			break;
	}
	if (n > 99)
		return errf(err, -EEXIST,
			    "cannot move corrupt %s aside: 99 files named %s.corrupt-%s* "
			    "exist already; clean them up",
			    path, path, stamp);
	r = rename_noreplace(path, ret_to);
	if (r < 0)
		return errf(err, r, "cannot move corrupt %s aside to %s: %s; move it away by hand",
			    path, ret_to, strerror(-r));
	for (i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		snprintf(from, sizeof(from), "%s%s", path, sides[i]);
		snprintf(to, sizeof(to), "%s%s", ret_to, sides[i]);
		r = rename_noreplace(from, to);
		if (r < 0 && r != -ENOENT)
			return errf(err, r,
				    "moved corrupt %s to %s but not %s: %s; move it by hand", path,
				    ret_to, from, strerror(-r));
	}
	r = fsync_dir_of(path);
	if (r < 0)
		return errf(err, r, "moved corrupt %s to %s but cannot sync the folder: %s", path,
			    ret_to, strerror(-r));
	return 0;
}

/* Creates a missing database file with mode 0600 (it holds personal data;
 * SQLite would use 0644), so that -wal and -shm inherit that mode too. */
static int ensure_file(const char *path, bool readonly, bool *ret_created, struct store_error *err)
{
	struct stat st;
	int fd;

	*ret_created = false;
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return errf(err, -EINVAL,
				    "%s is not a regular file: point [store] path at "
				    "a file",
				    path);
		return 0;
	}
	if (errno != ENOENT)
		return errf(err, -errno, "cannot stat %s: %s", path, strerror(errno));
	if (readonly)
		return errf(err, -ENOENT,
			    "%s does not exist: edgeboxd creates it at its first start", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0; /* another process was faster */
	if (fd < 0 && errno == ENOENT)
		return errf(err, -ENOENT,
			    "cannot create %s: its folder does not exist; create it "
			    "(systemd StateDirectory=edgebox does) or fix [store] path",
			    path);
	if (fd < 0)
		return errf(err, -errno, "cannot create %s: %s", path, strerror(errno));
	close(fd);
	*ret_created = true;
	return 0;
}

/*
 * Looks at the file before SQLite does. Given a file it cannot read, SQLite
 * tidies up on its own: it deletes a -journal it cannot use and a -wal beside
 * an empty file. That would destroy evidence (maybe the only copy of recent
 * commits) before we move it aside, so the obvious cases stop here.
 * 0, -EUCLEAN with problem filled, or -errno.
 */
static int precheck_file(const char *path, char *problem, size_t len)
{
	static const char magic[16] = "SQLite format 3"; /* with its NUL */
	char head[sizeof(magic)], wal[STORE_PATH_MAX];
	struct stat st, wst;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (st.st_size == 0) {
		msg_set(wal, sizeof(wal), "%s-wal", path);
		if (stat(wal, &wst) == 0 && wst.st_size > 0) {
			msg_set(problem, len, "empty database file beside a %lld-byte WAL",
				(long long)wst.st_size);
			r = -EUCLEAN;
		}
		goto out;
	}
	if (st.st_size < 512) {
		msg_set(problem, len, "file is %lld bytes, too short for an SQLite database",
			(long long)st.st_size);
		r = -EUCLEAN;
		goto out;
	}
	if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head)) {
		r = -EIO;
		goto out;
	}
	if (memcmp(head, magic, sizeof(magic)) != 0) {
		msg_set(problem, len, "not an SQLite database: the header is wrong");
		r = -EUCLEAN;
	}
out:
	close(fd);
	return r;
}

/* ---- open: pragmas, checks, migrations ----------------------------------- */

/* A one-off statement (pragmas at open); error text in s->err. */
static int exec(struct store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
	int r;

	if (rc == SQLITE_OK)
		return 0;
	r = errno_from_sqlite(s->db, rc);
	snprintf(s->err, sizeof(s->err), "%s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return r;
}

/* First column of the first row of a one-off query, as int or text. */
static int query(struct store *s, const char *sql, int64_t *ret_int, char *ret_text, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (ret_int)
			*ret_int = sqlite3_column_int64(st, 0);
		if (ret_text)
			snprintf(ret_text, len, "%s",
				 (const char *)sqlite3_column_text(st, 0) ?: "");
		sqlite3_finalize(st);
		return 0;
	}
	r = errno_from_sqlite(s->db, rc);
	snprintf(s->err, sizeof(s->err), "%s",
		 rc == SQLITE_DONE ? "no result" : sqlite3_errmsg(s->db));
	sqlite3_finalize(st);
	return r ? r : -EIO;
}

/*
 * quick_check or integrity_check. 0 for "ok"; -EUCLEAN with the first rows
 * joined in problem; or the -errno of a failure to run it (a database too
 * damaged to walk reports SQLITE_CORRUPT: also -EUCLEAN).
 */
static int run_check(struct store *s, bool full, char *problem, size_t len)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	size_t used = 0;
	int rc, rows = 0, r;

	snprintf(sql, sizeof(sql), "PRAGMA %s(%d)", full ? "integrity_check" : "quick_check",
		 CHECK_ROWS_MAX);
	problem[0] = '\0';
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = SQLITE_ROW;
	while (rc == SQLITE_ROW && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(st, 0);

		if (rows == 0 && row && strcmp(row, "ok") == 0)
			continue;
		if (used < len)
			used += snprintf(problem + used, len - used, "%s%s", rows ? "; " : "",
					 row ? row : "?");
		rows++;
	}
	if (rc != SQLITE_DONE) {
		r = errno_from_sqlite(s->db, rc);
		snprintf(problem, len, "%s", sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return r ? r : -EIO;
	}
	sqlite3_finalize(st);
	return rows ? -EUCLEAN : 0;
}

/* The pragmas every connection needs; journal_mode=WAL persists in the file. */
static int set_pragmas(struct store *s, struct store_error *err)
{
	char mode[16];
	int r;

	/* trusted_schema stays at its default (ON): SQLite 3.40 does not mark
	 * json_valid() innocuous, and the schema's CHECKs use it. */
	r = exec(s, "PRAGMA foreign_keys = ON");
	if (r < 0)
		return errf(err, r, "%s: setting pragmas: %s", s->path, s->err);
	if (s->readonly)
		return 0;
	r = query(s, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
	if (r < 0)
		return errf(err, r, "%s: cannot switch to WAL: %s%s", s->path, s->err, hint(r));
	if (strcmp(mode, "wal") != 0)
		return errf(err, -EIO,
			    "%s: journal_mode is \"%s\", not wal: the file system must "
			    "support shared memory mappings (no NFS)",
			    s->path, mode);
	/* FULL: in WAL mode every commit fsyncs the WAL before returning, so a
	 * committed turn survives power loss. NORMAL would only sync at
	 * checkpoints. secure_delete: forget overwrites the freed content. */
	r = exec(s, "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; "
		    "PRAGMA journal_size_limit = " /* bytes */ "4194304");
	if (r < 0)
		return errf(err, r, "%s: setting pragmas: %s", s->path, s->err);
	return 0;
}

static int check_migrations(const struct store_migration *m, size_t n, struct store_error *err)
{
	size_t i;

	if (!m || n == 0)
		return errf(err, -EINVAL, "the migration table is empty");
	for (i = 0; i < n; i++) {
		if (m[i].version != (int)i + 1)
			return errf(err, -EINVAL,
				    "migration step %zu has version %d, expected %zu: "
				    "versions run 1, 2, 3, ... without gaps",
				    i, m[i].version, i + 1);
		if (!m[i].sql || !m[i].name)
			return errf(err, -EINVAL, "migration %d has no SQL or no name",
				    m[i].version);
	}
	return 0;
}

/* Each step in its own transaction with the user_version bump: a failed
 * step leaves the database at the previous version. */
static int migrate(struct store *s, const struct store_migration *m, size_t n,
		   struct store_open_info *info, struct store_error *err)
{
	char sql[64], why[STORE_ERROR_MAX];
	int64_t cur;
	size_t i;
	int r;

	for (i = (size_t)info->version; i < n; i++) {
		r = exec(s, "BEGIN IMMEDIATE");
		if (r < 0)
			return errf(err, r, "%s: cannot start migration %d: %s%s", s->path,
				    m[i].version, s->err, hint(r));
		/* Another process may have migrated since we looked. */
		r = query(s, "PRAGMA user_version", &cur, NULL, 0);
		if (r < 0)
			goto rollback;
		if (cur >= m[i].version) {
			r = exec(s, "COMMIT");
			if (r < 0)
				goto rollback;
			info->version = (int)cur;
			continue;
		}
		if (cur == 0) {
			snprintf(sql, sizeof(sql), "PRAGMA application_id = %d",
				 STORE_APPLICATION_ID);
			r = exec(s, sql);
			if (r < 0)
				goto rollback;
		}
		r = exec(s, m[i].sql);
		if (r < 0)
			goto rollback;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m[i].version);
		r = exec(s, sql);
		if (r < 0)
			goto rollback;
		r = exec(s, "COMMIT");
		if (r < 0)
			goto rollback;
		info->version = m[i].version;
	}
	return 0;

rollback:
	snprintf(why, sizeof(why), "%s", s->err);
	if (!sqlite3_get_autocommit(s->db))
		exec(s, "ROLLBACK");
	return errf(err, r, "%s: migration %d (%s) failed: %s; the database stays at version %d",
		    s->path, m[i].version, m[i].name, why, info->version);
}

struct open_params {
	const char *path;
	unsigned flags;
	int busy_timeout_ms;
	const struct store_migration *migrations;
	size_t n_migrations;
	int64_t (*now_ms)(void *ctx);
	void *clock_ctx;
};

/*
 * One attempt. *ret_corrupt says whether a failure was corruption of the
 * file (then info->problem has the details), the only case the caller moves
 * the file aside for.
 */
static int open_once(const struct open_params *p, struct store **ret, struct store_open_info *info,
		     struct store_error *err, bool *ret_corrupt)
{
	int latest = p->migrations[p->n_migrations - 1].version;
	bool readonly = p->flags & STORE_OPEN_READONLY;
	int64_t version = 0, app_id = 0, tables = 0;
	struct store *s;
	int rc, r;

	*ret_corrupt = false;
	s = calloc(1, sizeof(*s));
	if (!s)
		return errf(err, -ENOMEM, "out of memory");
	snprintf(s->path, sizeof(s->path), "%s", p->path);
	s->now_ms = p->now_ms;
	s->clock_ctx = p->clock_ctx;
	s->busy_timeout_ms = p->busy_timeout_ms;
	s->readonly = readonly;

	r = ensure_file(p->path, readonly, &info->created, err);
	if (r < 0)
		goto out_free;
	r = precheck_file(p->path, info->problem, sizeof(info->problem));
	if (r == -EUCLEAN) {
		*ret_corrupt = true;
		errf(err, r, "%s is corrupt: %s", p->path, info->problem);
		goto out_free;
	}
	if (r < 0) {
		errf(err, r, "cannot read %s: %s", p->path, strerror(-r));
		goto out_free;
	}
	rc = sqlite3_open_v2(p->path, &s->db,
			     readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		r = errno_from_sqlite(s->db, rc);
		errf(err, r, "cannot open %s: %s", p->path, s->db ? sqlite3_errmsg(s->db) : "?");
		goto out_close;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, p->busy_timeout_ms);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

	/* The first read of the header: a file that is not a database fails here. */
	r = query(s, "PRAGMA user_version", &version, NULL, 0);
	if (r == 0)
		r = query(s, "PRAGMA application_id", &app_id, NULL, 0);
	if (r == 0)
		r = query(s, "SELECT count(*) FROM sqlite_schema", &tables, NULL, 0);
	if (r < 0) {
		snprintf(info->problem, sizeof(info->problem), "%s", s->err);
		goto out_db;
	}
	info->from_version = info->version = (int)version;
	if (version > latest) {
		r = errf(err, -ENOTSUP,
			 "%s is at schema version %lld, newer than this build knows "
			 "(%d): run the firmware that wrote it, or move the file away "
			 "to start empty",
			 p->path, (long long)version, latest);
		goto out_close;
	}
	if (app_id != STORE_APPLICATION_ID && (app_id != 0 || version != 0 || tables != 0)) {
		r = errf(err, -EMEDIUMTYPE,
			 "%s is an SQLite database but not an edgebox store "
			 "(application_id 0x%llx, version %lld, %lld schema "
			 "objects): point [store] path at another file",
			 p->path, (long long)app_id, (long long)version, (long long)tables);
		goto out_close;
	}
	if (!(p->flags & STORE_OPEN_NO_CHECK))
		r = run_check(s, p->flags & STORE_OPEN_FULL_CHECK, info->problem,
			      sizeof(info->problem));
	if (r < 0) {
		snprintf(s->err, sizeof(s->err), "%s", info->problem);
		goto out_db;
	}
	if (readonly && version < latest) {
		r = errf(err, -ESTALE,
			 "%s is at schema version %lld, this build needs %d: start "
			 "edgeboxd once (it migrates), then retry",
			 p->path, (long long)version, latest);
		goto out_close;
	}
	r = set_pragmas(s, err);
	if (r < 0)
		goto out_close;
	if (!readonly) {
		r = migrate(s, p->migrations, p->n_migrations, info, err);
		if (r < 0)
			goto out_close;
	}
	if (info->created) {
		r = fsync_dir_of(p->path);
		if (r < 0) {
			errf(err, r, "created %s but cannot sync its folder: %s", p->path,
			     strerror(-r));
			goto out_close;
		}
	}
	*ret = s;
	return 0;

out_db:
	if (r == -EUCLEAN) {
		*ret_corrupt = true;
		errf(err, r, "%s is corrupt: %s", p->path, info->problem);
	} else {
		errf(err, r, "cannot read %s: %s%s", p->path, s->err, hint(r));
	}
out_close:
	/* Leave a refused file as found: no checkpoint into it, WAL kept. */
	if (s->db)
		sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	store_close(s);
	return r;
out_free:
	free(s);
	return r;
}

int store_open_ex(const char *path, const struct store_options *opts, struct store **ret,
		  struct store_open_info *ret_info, struct store_error *err)
{
	struct store_open_info scratch;
	struct store_open_info *info = ret_info ? ret_info : &scratch;
	struct open_params p = {0};
	char problem[STORE_ERROR_MAX];
	bool corrupt;
	int r;

	memset(info, 0, sizeof(*info));
	if (!ret)
		return errf(err, -EINVAL, "store_open: ret is NULL");
	*ret = NULL;
	if (!path || !*path)
		return errf(err, -EINVAL, "store path is empty: set path in [store]");
	if (strlen(path) >= STORE_PATH_MAX - ASIDE_SUFFIX_MAX)
		return errf(err, -ENAMETOOLONG, "store path is longer than %d bytes",
			    STORE_PATH_MAX - ASIDE_SUFFIX_MAX - 1);
	p.path = path;
	p.flags = opts ? opts->flags : 0;
	p.busy_timeout_ms =
	    opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : STORE_BUSY_TIMEOUT_MS;
	p.migrations = opts && opts->migrations ? opts->migrations : NULL;
	p.n_migrations = opts && opts->migrations ? opts->n_migrations : 0;
	if (!p.migrations)
		p.migrations = store_schema_migrations(&p.n_migrations);
	p.now_ms = opts && opts->now_ms ? opts->now_ms : realtime_ms;
	p.clock_ctx = opts ? opts->clock_ctx : NULL;
	r = check_migrations(p.migrations, p.n_migrations, err);
	if (r < 0)
		return r;

	r = open_once(&p, ret, info, err, &corrupt);
	if (r != -EUCLEAN || !corrupt)
		return r;
	if (p.flags & STORE_OPEN_READONLY)
		return errf(err, r, "%s is corrupt (%s): edgeboxd moves it aside at its next start",
			    path, info->problem);
	if (p.flags & STORE_OPEN_NO_RECOVER)
		return errf(err, r, "%s is corrupt (%s): left in place (STORE_OPEN_NO_RECOVER)",
			    path, info->problem);

	snprintf(problem, sizeof(problem), "%s", info->problem);
	r = move_aside(path, p.now_ms(p.clock_ctx), info->moved_to, sizeof(info->moved_to), err);
	if (r < 0)
		return r;
	info->recovered = true;
	r = open_once(&p, ret, info, err, &corrupt);
	snprintf(info->problem, sizeof(info->problem), "%s", problem);
	return r < 0 ? r : 1;
}

int store_open(const char *path, unsigned flags, struct store **ret,
	       struct store_open_info *ret_info, struct store_error *err)
{
	struct store_options opts = {.flags = flags};

	return store_open_ex(path, &opts, ret, ret_info, err);
}

int store_open_config(const struct config *cfg, const char *section, unsigned flags,
		      struct store **ret, struct store_open_info *ret_info, struct store_error *err)
{
	static const char *const checks[] = {"quick", "full", NULL};
	struct store_options opts = {.flags = flags};
	char path[STORE_PATH_MAX];
	struct config_error ce;
	long busy;
	int check, r;

	if (ret_info)
		memset(ret_info, 0, sizeof(*ret_info));
	r = config_path(cfg, section, "path", "/var/lib/edgebox/store.db", false, path,
			sizeof(path), &ce);
	if (r == 0)
		r = config_int(cfg, section, "busy_timeout_ms", STORE_BUSY_TIMEOUT_MS, 1, 60000,
			       &busy, &ce);
	if (r == 0)
		r = config_enum(cfg, section, "check", "quick", checks, &check, &ce);
	if (r < 0)
		return errf(err, r, "%s", ce.msg);
	opts.busy_timeout_ms = (int)busy;
	if (check == 1)
		opts.flags |= STORE_OPEN_FULL_CHECK;
	return store_open_ex(path, &opts, ret, ret_info, err);
}

void store_close(struct store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	free(s);
}

const char *store_errmsg(const struct store *s)
{
	return s ? s->err : "no store";
}

const char *store_path(const struct store *s)
{
	return s->path;
}

int store_schema_version(struct store *s)
{
	int64_t v;
	int r = query(s, "PRAGMA user_version", &v, NULL, 0);

	return r < 0 ? fail_db(s, r, "reading the schema version") : (int)v;
}

int store_integrity_check(struct store *s, bool full)
{
	char problem[STORE_ERROR_MAX];
	int r = run_check(s, full, problem, sizeof(problem));

	if (r == -EUCLEAN)
		return fail(s, r, "%s failed %s: %s", s->path,
			    full ? "integrity_check" : "quick_check", problem);
	if (r < 0)
		return fail(s, r, "%s: cannot run the check: %s%s", s->path, problem, hint(r));
	return 0;
}

/* ---- customers ----------------------------------------------------------- */

int store_customer_add(struct store *s, const char *display_name, int64_t *ret_id)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_str(s, "customer display_name", display_name, STORE_NAME_MAX, false);
	if (r < 0)
		return r;
	if (!ret_id)
		return fail(s, -EINVAL, "store_customer_add: ret_id is NULL");
	r = prep(s, STMT_CUSTOMER_ADD, &st);
	if (r < 0)
		return r;
	if (bind_str(st, 1, display_name) || sqlite3_bind_int64(st, 2, now(s)))
		return bind_fail(s, st);
	r = step(s, st);
	if (r < 0)
		return fail_db(s, r, "adding customer");
	*ret_id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* Runs the delete steps with ?1 = key inside one transaction, counting rows. */
struct delete_step {
	enum stmt_id id;
	size_t count_offset;
};

static int run_deletes(struct store *s, const struct delete_step *steps, size_t n, int64_t key,
		       struct store_delete_counts *counts)
{
	sqlite3_stmt *st;
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		r = prep(s, steps[i].id, &st);
		if (r < 0)
			return r;
		if (sqlite3_bind_int64(st, 1, key))
			return bind_fail(s, st);
		r = step(s, st);
		if (r < 0)
			return r;
		*(int64_t *)((char *)counts + steps[i].count_offset) += sqlite3_changes64(s->db);
	}
	return 0;
}

/* Drops old page images from the WAL after a forget. Best effort and
 * without waiting: a reader (edgeboxctl) may hold it back for now; the next
 * checkpoint overwrites them. */
static void wal_truncate(struct store *s)
{
	sqlite3_busy_timeout(s->db, 0);
	sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	sqlite3_busy_timeout(s->db, s->busy_timeout_ms);
}

#define COUNT(field) offsetof(struct store_delete_counts, field)

int store_customer_forget(struct store *s, int64_t customer_id,
			  struct store_delete_counts *ret_counts)
{
	/* Children before parents: the foreign keys (no cascade) check it. */
	static const struct delete_step steps[] = {
	    {STMT_FORGET_AUDIT, COUNT(audit)},		 {STMT_FORGET_TURNS, COUNT(turns)},
	    {STMT_FORGET_SESSIONS, COUNT(sessions)},	 {STMT_FORGET_VISITS, COUNT(visits)},
	    {STMT_EMBEDDINGS_DELETE, COUNT(embeddings)}, {STMT_FORGET_BEACONS, COUNT(beacons)},
	    {STMT_FORGET_CONSENTS, COUNT(consents)},	 {STMT_FORGET_CUSTOMER, COUNT(customers)},
	};
	struct store_delete_counts c = {0};
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "customer", customer_id);
	if (r < 0)
		return r;
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = exists(s, STMT_CUSTOMER_EXISTS, customer_id);
	if (r == 0)
		r = fail(s, -ENOENT, "forget: no customer %lld (already forgotten?)",
			 (long long)customer_id);
	if (r < 0)
		goto rollback;
	r = run_deletes(s, steps, sizeof(steps) / sizeof(steps[0]), customer_id, &c);
	if (r == -ENOENT) {
		/* A foreign key: some table forget does not know still points
		 * at the customer. Nothing is deleted rather than half. */
		r = fail_db(s, -EIO,
			    "forgetting customer %lld: a table still refers to it, so "
			    "nothing was deleted; store_customer_forget must learn that "
			    "table",
			    (long long)customer_id);
		goto rollback;
	}
	if (r < 0) {
		fail_db(s, r, "forgetting customer %lld", (long long)customer_id);
		goto rollback;
	}
	r = tx_commit(s);
	if (r < 0)
		goto rollback;
	wal_truncate(s);
	if (ret_counts)
		*ret_counts = c;
	return 0;

rollback:
	tx_rollback(s);
	return r;
}

int store_purge_anonymous(struct store *s, int64_t older_than_ms,
			  struct store_delete_counts *ret_counts)
{
	static const struct delete_step steps[] = {
	    {STMT_PURGE_AUDIT, COUNT(audit)},
	    {STMT_PURGE_TURNS, COUNT(turns)},
	    {STMT_PURGE_SESSIONS, COUNT(sessions)},
	    {STMT_PURGE_VISITS, COUNT(visits)},
	};
	struct store_delete_counts c = {0};
	int r;

	r = check_writable(s);
	if (r < 0)
		return r;
	if (older_than_ms < 0)
		return fail(s, -EINVAL, "purge: older_than_ms %lld is negative",
			    (long long)older_than_ms);
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = run_deletes(s, steps, sizeof(steps) / sizeof(steps[0]), now(s) - older_than_ms, &c);
	if (r == -ENOENT)
		r = -EIO; /* a foreign key: a table purge does not know */
	if (r < 0) {
		fail_db(s, r, "purging anonymous visits");
		goto rollback;
	}
	r = tx_commit(s);
	if (r < 0)
		goto rollback;
	if (ret_counts)
		*ret_counts = c;
	return (int)c.visits;

rollback:
	tx_rollback(s);
	return r;
}

/* ---- consents and embeddings --------------------------------------------- */

static const char *method_name(enum store_consent_method m)
{
	switch (m) {
	case STORE_CONSENT_KIOSK:
		return "kiosk";
	case STORE_CONSENT_STAFF:
		return "staff";
	}
	return NULL;
}

int store_consent_grant(struct store *s, int64_t customer_id, const char *kind,
			enum store_consent_method method, const char *granted_by)
{
	const char *mname = method_name(method);
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "customer", customer_id);
	if (r == 0)
		r = check_str(s, "consent kind", kind, STORE_WORD_MAX, false);
	if (r == 0)
		r = check_str(s, "consent granted_by", granted_by, STORE_NAME_MAX, true);
	if (r < 0)
		return r;
	if (!mname)
		return fail(s, -EINVAL, "consent method %d is not STORE_CONSENT_KIOSK or _STAFF",
			    (int)method);
	if (method == STORE_CONSENT_STAFF && !granted_by)
		return fail(s, -EINVAL,
			    "a consent taken by staff needs granted_by (the staff "
			    "device name)");
	r = prep(s, STMT_CONSENT_GRANT, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, customer_id) || bind_str(st, 2, kind) ||
	    sqlite3_bind_int64(st, 3, now(s)) || bind_str(st, 4, mname) ||
	    bind_str(st, 5, granted_by))
		return bind_fail(s, st);
	r = step(s, st);
	if (r == -EEXIST)
		return fail(s, r,
			    "customer %lld already has a live \"%s\" consent: revoke it first "
			    "to record a new one",
			    (long long)customer_id, kind);
	if (r == -ENOENT)
		return fail(s, r, "consent: no customer %lld", (long long)customer_id);
	return r < 0 ? fail_db(s, r, "recording consent") : 0;
}

int store_consent_revoke(struct store *s, int64_t customer_id, const char *kind)
{
	sqlite3_stmt *st;
	int64_t deleted = 0;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "customer", customer_id);
	if (r == 0)
		r = check_str(s, "consent kind", kind, STORE_WORD_MAX, false);
	if (r < 0)
		return r;
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = prep(s, STMT_CONSENT_REVOKE, &st);
	if (r < 0)
		goto rollback;
	if (sqlite3_bind_int64(st, 1, customer_id) || bind_str(st, 2, kind) ||
	    sqlite3_bind_int64(st, 3, now(s))) {
		r = bind_fail(s, st);
		goto rollback;
	}
	r = step(s, st);
	if (r < 0) {
		fail_db(s, r, "revoking consent");
		goto rollback;
	}
	if (sqlite3_changes(s->db) == 0) {
		r = fail(s, -ENOENT, "customer %lld has no live \"%s\" consent to revoke",
			 (long long)customer_id, kind);
		goto rollback;
	}
	/* Without consent the biometric data must go, in the same commit. */
	if (strcmp(kind, STORE_CONSENT_FACE) == 0) {
		r = prep(s, STMT_EMBEDDINGS_DELETE, &st);
		if (r < 0)
			goto rollback;
		if (sqlite3_bind_int64(st, 1, customer_id)) {
			r = bind_fail(s, st);
			goto rollback;
		}
		r = step(s, st);
		if (r < 0) {
			fail_db(s, r, "deleting face embeddings");
			goto rollback;
		}
		deleted = sqlite3_changes64(s->db);
	}
	r = tx_commit(s);
	if (r < 0)
		goto rollback;
	return (int)deleted;

rollback:
	tx_rollback(s);
	return r;
}

static int consent_active(struct store *s, int64_t customer_id, const char *kind)
{
	sqlite3_stmt *st;
	int r = prep(s, STMT_CONSENT_ACTIVE, &st);

	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, customer_id) || bind_str(st, 2, kind))
		return bind_fail(s, st);
	r = step(s, st);
	finish(st);
	return r < 0 ? fail_db(s, r, "reading consents") : r;
}

int store_consent_active(struct store *s, int64_t customer_id, const char *kind)
{
	int r = check_id(s, "customer", customer_id);

	if (r == 0)
		r = check_str(s, "consent kind", kind, STORE_WORD_MAX, false);
	return r < 0 ? r : consent_active(s, customer_id, kind);
}

int store_embedding_add(struct store *s, int64_t customer_id, const float *vec, const char *source,
			int64_t *ret_id)
{
	sqlite3_stmt *st;
	int64_t have;
	int i, r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "customer", customer_id);
	if (r == 0)
		r = check_str(s, "embedding source", source, STORE_WORD_MAX, false);
	if (r < 0)
		return r;
	if (!vec)
		return fail(s, -EINVAL, "embedding vector is NULL");
	for (i = 0; i < STORE_EMBEDDING_DIM; i++)
		if (!isfinite(vec[i]))
			return fail(s, -EINVAL,
				    "embedding value %d is not a finite number: the "
				    "face model output is broken",
				    i);
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = exists(s, STMT_CUSTOMER_EXISTS, customer_id);
	if (r == 0)
		r = fail(s, -ENOENT, "embedding: no customer %lld", (long long)customer_id);
	if (r < 0)
		goto rollback;
	r = consent_active(s, customer_id, STORE_CONSENT_FACE);
	if (r == 0)
		r = fail(s, -EPERM,
			 "customer %lld has no live \"face\" consent: ask for it at the "
			 "kiosk or through staff before storing a face",
			 (long long)customer_id);
	if (r < 0)
		goto rollback;
	r = prep(s, STMT_EMBEDDING_COUNT, &st);
	if (r < 0)
		goto rollback;
	if (sqlite3_bind_int64(st, 1, customer_id)) {
		r = bind_fail(s, st);
		goto rollback;
	}
	r = step(s, st);
	have = r == 1 ? sqlite3_column_int64(st, 0) : 0;
	finish(st);
	if (r < 0)
		goto rollback;
	if (have >= STORE_EMBEDDINGS_MAX) {
		r = fail(s, -ENOSPC,
			 "customer %lld already has %d face embeddings "
			 "(STORE_EMBEDDINGS_MAX): enough to match; none added",
			 (long long)customer_id, STORE_EMBEDDINGS_MAX);
		goto rollback;
	}
	r = prep(s, STMT_EMBEDDING_ADD, &st);
	if (r < 0)
		goto rollback;
	if (sqlite3_bind_int64(st, 1, customer_id) ||
	    sqlite3_bind_blob(st, 2, vec, STORE_EMBEDDING_DIM * sizeof(float), SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 3, now(s)) || bind_str(st, 4, source)) {
		r = bind_fail(s, st);
		goto rollback;
	}
	r = step(s, st);
	if (r < 0) {
		fail_db(s, r, "storing the embedding");
		goto rollback;
	}
	if (ret_id)
		*ret_id = sqlite3_last_insert_rowid(s->db);
	r = tx_commit(s);
	if (r < 0)
		goto rollback;
	return 0;

rollback:
	tx_rollback(s);
	return r;
}

int store_embeddings_load(struct store *s, store_embedding_fn fn, void *ctx)
{
	struct store_embedding e;
	sqlite3_stmt *st;
	int n = 0, r;

	if (!fn)
		return fail(s, -EINVAL, "store_embeddings_load: fn is NULL");
	r = prep(s, STMT_EMBEDDINGS_LOAD, &st);
	if (r < 0)
		return r;
	while ((r = step(s, st)) == 1) {
		e.id = sqlite3_column_int64(st, 0);
		e.customer_id = sqlite3_column_int64(st, 1);
		e.created_at = sqlite3_column_int64(st, 2);
		if (sqlite3_column_bytes(st, 3) != (int)sizeof(e.vec)) {
			finish(st);
			return fail(s, -EUCLEAN, "embedding %lld has %d bytes, not %zu",
				    (long long)e.id, sqlite3_column_bytes(st, 3), sizeof(e.vec));
		}
		memcpy(e.vec, sqlite3_column_blob(st, 3), sizeof(e.vec));
		r = fn(&e, ctx);
		if (r) {
			finish(st);
			return r < 0 ? r : n + 1;
		}
		n++;
	}
	return r < 0 ? fail_db(s, r, "loading embeddings") : n;
}

/* ---- beacons ------------------------------------------------------------- */

static int bind_beacon(struct store *s, sqlite3_stmt *st, int first,
		       const struct store_beacon_id *b)
{
	bool ib;

	switch (b->kind) {
	case STORE_BEACON_IBEACON:
		ib = true;
		break;
	case STORE_BEACON_EDDYSTONE:
		ib = false;
		break;
	default:
		return fail(s, -EINVAL, "beacon kind %d is not STORE_BEACON_IBEACON or _EDDYSTONE",
			    (int)b->kind);
	}
	/* Eddystone has no major/minor: stored as 0, whatever the caller left. */
	if (bind_str(st, first, ib ? "ibeacon" : "eddystone") ||
	    sqlite3_bind_blob(st, first + 1, b->uuid, ib ? 16 : 10, SQLITE_STATIC) ||
	    sqlite3_bind_int(st, first + 2, ib ? b->major : 0) ||
	    sqlite3_bind_int(st, first + 3, ib ? b->minor : 0) ||
	    (ib ? sqlite3_bind_zeroblob(st, first + 4, 0)
		: sqlite3_bind_blob(st, first + 4, b->instance, 6, SQLITE_STATIC)))
		return bind_fail(s, st);
	return 0;
}

int store_beacon_add(struct store *s, int64_t customer_id, const struct store_beacon_id *b)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "customer", customer_id);
	if (r < 0)
		return r;
	if (!b)
		return fail(s, -EINVAL, "store_beacon_add: beacon is NULL");
	r = prep(s, STMT_BEACON_ADD, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, customer_id))
		return bind_fail(s, st);
	r = bind_beacon(s, st, 2, b);
	if (r < 0) {
		finish(st);
		return r;
	}
	if (sqlite3_bind_int64(st, 7, now(s)))
		return bind_fail(s, st);
	r = step(s, st);
	if (r == -EEXIST)
		return fail(s, r,
			    "that beacon already belongs to a customer: forget or re-map "
			    "that one first");
	if (r == -ENOENT)
		return fail(s, r, "beacon: no customer %lld", (long long)customer_id);
	return r < 0 ? fail_db(s, r, "mapping a beacon") : 0;
}

int store_beacon_find(struct store *s, const struct store_beacon_id *b, int64_t *ret_customer_id)
{
	sqlite3_stmt *st;
	int r;

	if (!b || !ret_customer_id)
		return fail(s, -EINVAL, "store_beacon_find: NULL argument");
	r = prep(s, STMT_BEACON_FIND, &st);
	if (r < 0)
		return r;
	r = bind_beacon(s, st, 1, b);
	if (r < 0) {
		finish(st);
		return r;
	}
	r = step(s, st);
	if (r == 1)
		*ret_customer_id = sqlite3_column_int64(st, 0);
	finish(st);
	if (r < 0)
		return fail_db(s, r, "looking up a beacon");
	return r == 1 ? 0 : fail(s, -ENOENT, "beacon not mapped to any customer");
}

/* ---- visits and sessions ------------------------------------------------- */

/* Inside a transaction. */
static int visit_insert(struct store *s, int64_t customer_id, int64_t *ret_id)
{
	sqlite3_stmt *st;
	int64_t t = now(s);
	int r;

	r = prep(s, STMT_VISIT_BEGIN, &st);
	if (r < 0)
		return r;
	if (bind_id(st, 1, customer_id) || sqlite3_bind_int64(st, 2, t))
		return bind_fail(s, st);
	r = step(s, st);
	if (r == -ENOENT)
		return fail(s, r, "visit: no customer %lld", (long long)customer_id);
	if (r < 0)
		return fail_db(s, r, "starting a visit");
	*ret_id = sqlite3_last_insert_rowid(s->db);
	if (!customer_id)
		return 0;
	r = prep(s, STMT_CUSTOMER_SEEN, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, customer_id) || sqlite3_bind_int64(st, 2, t))
		return bind_fail(s, st);
	r = step(s, st);
	return r < 0 ? fail_db(s, r, "updating last_seen") : 0;
}

int store_visit_begin(struct store *s, int64_t customer_id, int64_t *ret_visit_id)
{
	int r;

	r = check_writable(s);
	if (r < 0)
		return r;
	if (customer_id < 0 || !ret_visit_id)
		return fail(s, -EINVAL, "store_visit_begin: customer %lld or ret NULL",
			    (long long)customer_id);
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = visit_insert(s, customer_id, ret_visit_id);
	if (r == 0)
		r = tx_commit(s);
	if (r < 0)
		tx_rollback(s);
	return r;
}

int store_visit_end(struct store *s, int64_t visit_id, const char *summary)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "visit", visit_id);
	if (r == 0)
		r = check_str(s, "visit summary", summary, STORE_SUMMARY_MAX, true);
	if (r < 0)
		return r;
	r = prep(s, STMT_VISIT_END, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, visit_id) || sqlite3_bind_int64(st, 2, now(s)) ||
	    bind_str(st, 3, summary))
		return bind_fail(s, st);
	r = step(s, st);
	if (r < 0)
		return fail_db(s, r, "ending visit %lld", (long long)visit_id);
	return sqlite3_changes(s->db) ? 0
				      : fail(s, -ENOENT, "no open visit %lld", (long long)visit_id);
}

int store_visit_set_customer(struct store *s, int64_t visit_id, int64_t customer_id)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "visit", visit_id);
	if (r == 0)
		r = check_id(s, "customer", customer_id);
	if (r < 0)
		return r;
	r = tx_begin(s);
	if (r < 0)
		return r;
	r = prep(s, STMT_VISIT_SET_CUSTOMER, &st);
	if (r < 0)
		goto rollback;
	if (sqlite3_bind_int64(st, 1, visit_id) || sqlite3_bind_int64(st, 2, customer_id)) {
		r = bind_fail(s, st);
		goto rollback;
	}
	r = step(s, st);
	if (r == -ENOENT)
		r = fail(s, r, "visit %lld: no customer %lld", (long long)visit_id,
			 (long long)customer_id);
	else if (r < 0)
		r = fail_db(s, r, "setting the customer of visit %lld", (long long)visit_id);
	else if (sqlite3_changes(s->db) == 0)
		r = fail(s, -ENOENT, "no visit %lld", (long long)visit_id);
	if (r < 0)
		goto rollback;
	r = prep(s, STMT_CUSTOMER_SEEN, &st);
	if (r < 0)
		goto rollback;
	if (sqlite3_bind_int64(st, 1, customer_id) || sqlite3_bind_int64(st, 2, now(s))) {
		r = bind_fail(s, st);
		goto rollback;
	}
	r = step(s, st);
	if (r < 0) {
		fail_db(s, r, "updating last_seen");
		goto rollback;
	}
	r = tx_commit(s);
	if (r < 0)
		goto rollback;
	return 0;

rollback:
	tx_rollback(s);
	return r;
}

int store_session_open(struct store *s, const struct store_session_new *req,
		       int64_t *ret_session_id, int64_t *ret_visit_id)
{
	const char *state;
	sqlite3_stmt *st;
	int64_t visit;
	int r;

	r = check_writable(s);
	if (r < 0)
		return r;
	if (!req || !ret_session_id)
		return fail(s, -EINVAL, "store_session_open: NULL argument");
	state = req->state ? req->state : "open";
	r = check_str(s, "session state", state, STORE_WORD_MAX, false);
	if (r == 0)
		r = check_str(s, "session archetype", req->archetype, STORE_WORD_MAX, true);
	if (r < 0)
		return r;
	if (req->visit_id < 0 || req->customer_id < 0)
		return fail(s, -EINVAL, "session open: negative visit or customer id");
	if (req->visit_id && req->customer_id)
		return fail(s, -EINVAL,
			    "session open: customer_id is for a new visit only (visit_id "
			    "0); use store_visit_set_customer for an existing one");
	r = tx_begin(s);
	if (r < 0)
		return r;
	visit = req->visit_id;
	if (!visit) {
		r = visit_insert(s, req->customer_id, &visit);
		if (r < 0)
			goto rollback;
	}
	r = prep(s, STMT_SESSION_OPEN, &st);
	if (r < 0)
		goto rollback;
	if (sqlite3_bind_int64(st, 1, visit) || bind_str(st, 2, state) ||
	    bind_str(st, 3, req->archetype) || sqlite3_bind_int64(st, 4, now(s))) {
		r = bind_fail(s, st);
		goto rollback;
	}
	r = step(s, st);
	if (r < 0) {
		fail_db(s, r, "opening a session");
		goto rollback;
	}
	if (sqlite3_changes(s->db) == 0) {
		r = fail(s, -ENOENT, "session open: no visit %lld, or it has ended",
			 (long long)visit);
		goto rollback;
	}
	*ret_session_id = sqlite3_last_insert_rowid(s->db);
	r = tx_commit(s);
	if (r < 0)
		goto rollback;
	if (ret_visit_id)
		*ret_visit_id = visit;
	return 0;

rollback:
	tx_rollback(s);
	return r;
}

int store_session_set_state(struct store *s, int64_t session_id, const char *state,
			    const char *archetype)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "session", session_id);
	if (r == 0)
		r = check_str(s, "session state", state, STORE_WORD_MAX, false);
	if (r == 0)
		r = check_str(s, "session archetype", archetype, STORE_WORD_MAX, true);
	if (r < 0)
		return r;
	r = prep(s, STMT_SESSION_SET_STATE, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, session_id) || bind_str(st, 2, state) ||
	    bind_str(st, 3, archetype))
		return bind_fail(s, st);
	r = step(s, st);
	if (r < 0)
		return fail_db(s, r, "setting the state of session %lld", (long long)session_id);
	return sqlite3_changes(s->db)
		   ? 0
		   : fail(s, -ENOENT, "no open session %lld", (long long)session_id);
}

int store_session_close(struct store *s, int64_t session_id, const char *final_state)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "session", session_id);
	if (r == 0)
		r = check_str(s, "session state", final_state, STORE_WORD_MAX, true);
	if (r < 0)
		return r;
	r = prep(s, STMT_SESSION_CLOSE, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, session_id) || bind_str(st, 2, final_state) ||
	    sqlite3_bind_int64(st, 3, now(s)))
		return bind_fail(s, st);
	r = step(s, st);
	if (r < 0)
		return fail_db(s, r, "closing session %lld", (long long)session_id);
	return sqlite3_changes(s->db)
		   ? 0
		   : fail(s, -ENOENT, "no open session %lld", (long long)session_id);
}

int store_session_close_stale(struct store *s, int64_t older_than_ms)
{
	sqlite3_stmt *st;
	int64_t t = now(s);
	int r;

	r = check_writable(s);
	if (r < 0)
		return r;
	if (older_than_ms < 0)
		return fail(s, -EINVAL, "close stale: older_than_ms %lld is negative",
			    (long long)older_than_ms);
	r = prep(s, STMT_SESSION_CLOSE_STALE, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, t - older_than_ms) || sqlite3_bind_int64(st, 2, t))
		return bind_fail(s, st);
	r = step(s, st);
	return r < 0 ? fail_db(s, r, "closing stale sessions") : sqlite3_changes(s->db);
}

int store_session_find_open(struct store *s, store_session_fn fn, void *ctx)
{
	struct store_session sess;
	sqlite3_stmt *st;
	int n = 0, r;

	if (!fn)
		return fail(s, -EINVAL, "store_session_find_open: fn is NULL");
	r = prep(s, STMT_SESSION_FIND_OPEN, &st);
	if (r < 0)
		return r;
	while ((r = step(s, st)) == 1) {
		sess.id = sqlite3_column_int64(st, 0);
		sess.visit_id = sqlite3_column_int64(st, 1);
		sess.customer_id = sqlite3_column_int64(st, 2);
		sess.state = (const char *)sqlite3_column_text(st, 3);
		sess.archetype = (const char *)sqlite3_column_text(st, 4);
		sess.opened_at = sqlite3_column_int64(st, 5);
		sess.turns = sqlite3_column_int(st, 6);
		r = fn(&sess, ctx);
		if (r) {
			finish(st);
			return r < 0 ? r : n + 1;
		}
		n++;
	}
	return r < 0 ? fail_db(s, r, "finding open sessions") : n;
}

/* ---- turns --------------------------------------------------------------- */

static const char *const role_names[] = {
    [STORE_ROLE_CUSTOMER] = "customer",
    [STORE_ROLE_AGENT] = "agent",
    [STORE_ROLE_STAFF] = "staff",
    [STORE_ROLE_SYSTEM] = "system",
};

const char *store_role_name(enum store_role role)
{
	switch (role) {
	case STORE_ROLE_CUSTOMER:
	case STORE_ROLE_AGENT:
	case STORE_ROLE_STAFF:
	case STORE_ROLE_SYSTEM:
		return role_names[role];
	}
	return NULL;
}

static int role_parse(const char *name, enum store_role *ret)
{
	size_t i;

	for (i = 0; name && i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*ret = (enum store_role)i;
			return 0;
		}
	}
	return -EUCLEAN;
}

/* Why an append matched no session row. */
static int append_refused(struct store *s, int64_t session_id)
{
	sqlite3_stmt *st;
	int closed, turns, r;

	r = prep(s, STMT_SESSION_STATUS, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, session_id))
		return bind_fail(s, st);
	r = step(s, st);
	if (r < 0)
		return fail_db(s, r, "reading session %lld", (long long)session_id);
	if (r == 0)
		return fail(s, -ENOENT, "turn append: no session %lld", (long long)session_id);
	closed = sqlite3_column_int(st, 0);
	turns = sqlite3_column_int(st, 1);
	finish(st);
	if (closed)
		return fail(s, -ENOENT, "turn append: session %lld is closed: open a new session",
			    (long long)session_id);
	if (turns >= STORE_SESSION_TURNS_MAX)
		return fail(s, -ENOSPC,
			    "session %lld has %d turns (STORE_SESSION_TURNS_MAX): close "
			    "it and open a new one",
			    (long long)session_id, turns);
	return fail(s, -EIO, "turn append to session %lld matched no row", (long long)session_id);
}

int store_turn_append(struct store *s, int64_t session_id, enum store_role role, const char *text,
		      const char *meta_json)
{
	const char *rname = store_role_name(role);
	sqlite3_stmt *st;
	size_t len;
	int seq = 0, r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "session", session_id);
	if (r < 0)
		return r;
	if (!rname)
		return fail(s, -EINVAL, "turn role %d is not a STORE_ROLE_* value", (int)role);
	if (!text)
		return fail(s, -EINVAL, "turn text is NULL (use \"\" for a turn without text)");
	len = strlen(text);
	if (len > STORE_TEXT_MAX)
		return fail(s, -E2BIG,
			    "turn text is %zu bytes, the limit is %d (STORE_TEXT_MAX): "
			    "split it into several turns; nothing was stored",
			    len, STORE_TEXT_MAX);
	r = check_json(s, "turn meta", meta_json);
	if (r < 0)
		return r;
	r = prep(s, STMT_TURN_APPEND, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, session_id) || bind_str(st, 2, rname) ||
	    sqlite3_bind_text(st, 3, text, (int)len, SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 4, now(s)) || bind_str(st, 5, meta_json) ||
	    sqlite3_bind_int(st, 6, STORE_SESSION_TURNS_MAX))
		return bind_fail(s, st);
	r = step(s, st);
	if (r == 1) {
		seq = sqlite3_column_int(st, 0);
		/* The implicit commit (and its fsync) happens when the
		 * statement runs to its end, not at the RETURNING row. */
		r = step(s, st);
		if (r == 1) {
			finish(st);
			r = -EIO;
		}
	}
	if (r < 0)
		return fail_db(s, r, "appending a turn to session %lld", (long long)session_id);
	return seq ? seq : append_refused(s, session_id);
}

int store_turns_load(struct store *s, int64_t session_id, store_turn_fn fn, void *ctx)
{
	struct store_turn t;
	sqlite3_stmt *st;
	int n = 0, r;

	if (!fn)
		return fail(s, -EINVAL, "store_turns_load: fn is NULL");
	r = check_id(s, "session", session_id);
	if (r < 0)
		return r;
	r = prep(s, STMT_TURNS_LOAD, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, session_id))
		return bind_fail(s, st);
	t.session_id = session_id;
	while ((r = step(s, st)) == 1) {
		t.seq = sqlite3_column_int(st, 0);
		if (role_parse((const char *)sqlite3_column_text(st, 1), &t.role) < 0) {
			finish(st);
			return fail(s, -EUCLEAN, "session %lld turn %d has an unknown role",
				    (long long)session_id, t.seq);
		}
		t.text = (const char *)sqlite3_column_text(st, 2);
		t.meta = (const char *)sqlite3_column_text(st, 3);
		t.created_at = sqlite3_column_int64(st, 4);
		if (!t.text)
			t.text = "";
		r = fn(&t, ctx);
		if (r) {
			finish(st);
			return r < 0 ? r : n + 1;
		}
		n++;
	}
	return r < 0 ? fail_db(s, r, "loading turns of session %lld", (long long)session_id) : n;
}

/* ---- audit --------------------------------------------------------------- */

static int audit_insert(struct store *s, int64_t session_id, int64_t customer_id, const char *kind,
			const char *detail)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_str(s, "audit kind", kind, STORE_WORD_MAX, false);
	if (r == 0)
		r = check_json(s, "audit detail", detail);
	if (r < 0)
		return r;
	r = prep(s, STMT_AUDIT_APPEND, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, now(s)) || bind_id(st, 2, session_id) ||
	    bind_id(st, 3, customer_id) || bind_str(st, 4, kind) || bind_str(st, 5, detail))
		return bind_fail(s, st);
	r = step(s, st);
	if (r == -ENOENT)
		return fail(s, r, "audit: no %s %lld", session_id ? "session" : "customer",
			    (long long)(session_id ? session_id : customer_id));
	return r < 0 ? fail_db(s, r, "appending to the audit log") : 0;
}

int store_audit_append(struct store *s, int64_t session_id, const char *kind,
		       const char *detail_json)
{
	if (session_id < 0)
		return fail(s, -EINVAL, "audit: session %lld is negative (0: none)",
			    (long long)session_id);
	return audit_insert(s, session_id, 0, kind, detail_json);
}

int store_audit_append_customer(struct store *s, int64_t customer_id, const char *kind,
				const char *detail_json)
{
	int r = check_id(s, "customer", customer_id);

	return r < 0 ? r : audit_insert(s, 0, customer_id, kind, detail_json);
}

int store_audit_load(struct store *s, int64_t after_id, store_audit_fn fn, void *ctx)
{
	struct store_audit_row a;
	sqlite3_stmt *st;
	int n = 0, r;

	if (!fn)
		return fail(s, -EINVAL, "store_audit_load: fn is NULL");
	r = prep(s, STMT_AUDIT_LOAD, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, after_id))
		return bind_fail(s, st);
	while ((r = step(s, st)) == 1) {
		a.id = sqlite3_column_int64(st, 0);
		a.ts = sqlite3_column_int64(st, 1);
		a.session_id = sqlite3_column_int64(st, 2);
		a.customer_id = sqlite3_column_int64(st, 3);
		a.kind = (const char *)sqlite3_column_text(st, 4);
		a.detail = (const char *)sqlite3_column_text(st, 5);
		r = fn(&a, ctx);
		if (r) {
			finish(st);
			return r < 0 ? r : n + 1;
		}
		n++;
	}
	return r < 0 ? fail_db(s, r, "loading the audit log") : n;
}

/* ---- staff devices ------------------------------------------------------- */

int store_staff_pair(struct store *s, const char *name,
		     const uint8_t token_hash[STORE_TOKEN_HASH_BYTES], int64_t *ret_id)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_str(s, "staff device name", name, STORE_NAME_MAX, false);
	if (r < 0)
		return r;
	if (!token_hash)
		return fail(s, -EINVAL, "staff pairing: token_hash is NULL");
	r = prep(s, STMT_STAFF_PAIR, &st);
	if (r < 0)
		return r;
	if (bind_str(st, 1, name) ||
	    sqlite3_bind_blob(st, 2, token_hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 3, now(s)))
		return bind_fail(s, st);
	r = step(s, st);
	if (r == -EEXIST)
		return fail(s, r,
			    "a live staff device is named \"%s\" or has that token: revoke it "
			    "or pick another name",
			    name);
	if (r < 0)
		return fail_db(s, r, "pairing staff device \"%s\"", name);
	if (ret_id)
		*ret_id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int store_staff_revoke(struct store *s, int64_t device_id)
{
	sqlite3_stmt *st;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "staff device", device_id);
	if (r < 0)
		return r;
	r = prep(s, STMT_STAFF_REVOKE, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_int64(st, 1, device_id) || sqlite3_bind_int64(st, 2, now(s)))
		return bind_fail(s, st);
	r = step(s, st);
	if (r < 0)
		return fail_db(s, r, "revoking staff device %lld", (long long)device_id);
	return sqlite3_changes(s->db)
		   ? 0
		   : fail(s, -ENOENT, "no live staff device %lld", (long long)device_id);
}

int store_staff_find(struct store *s, const uint8_t token_hash[STORE_TOKEN_HASH_BYTES],
		     int64_t *ret_id)
{
	sqlite3_stmt *st;
	int r;

	if (!token_hash || !ret_id)
		return fail(s, -EINVAL, "store_staff_find: NULL argument");
	r = prep(s, STMT_STAFF_FIND, &st);
	if (r < 0)
		return r;
	if (sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH_BYTES, SQLITE_STATIC))
		return bind_fail(s, st);
	r = step(s, st);
	if (r == 1)
		*ret_id = sqlite3_column_int64(st, 0);
	finish(st);
	if (r < 0)
		return fail_db(s, r, "looking up a staff device");
	return r == 1 ? 0 : fail(s, -ENOENT, "no live staff device with that token");
}

int store_customer_get(struct store *s, int64_t customer_id, struct store_customer *ret)
{
	static const char *const sql =
	    "SELECT c.display_name, c.created_at, coalesce(c.last_seen, 0),"
	    " (SELECT count(*) FROM visits v WHERE v.customer_id = c.id AND v.ended_at IS NOT "
	    "NULL),"
	    " coalesce((SELECT v.started_at FROM visits v WHERE v.customer_id = c.id"
	    "   AND v.ended_at IS NOT NULL ORDER BY v.started_at DESC, v.id DESC LIMIT 1), 0),"
	    " coalesce((SELECT v.summary FROM visits v WHERE v.customer_id = c.id"
	    "   AND v.ended_at IS NOT NULL ORDER BY v.started_at DESC, v.id DESC LIMIT 1), ''),"
	    " EXISTS (SELECT 1 FROM consents k WHERE k.customer_id = c.id AND k.kind = 'face'"
	    "   AND k.revoked_at IS NULL)"
	    " FROM customers c WHERE c.id = ?";
	sqlite3_stmt *st = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = check_id(s, "customer", customer_id);
	if (r < 0)
		return r;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(s, -EIO, "reading customer %lld: %s", (long long)customer_id,
			    sqlite3_errmsg(s->db));
	sqlite3_bind_int64(st, 1, customer_id);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		ret->id = customer_id;
		snprintf(ret->name, sizeof(ret->name), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		ret->created_at = sqlite3_column_int64(st, 1);
		ret->last_seen = sqlite3_column_int64(st, 2);
		ret->visits = sqlite3_column_int(st, 3);
		ret->last_visit_at = sqlite3_column_int64(st, 4);
		snprintf(ret->last_summary, sizeof(ret->last_summary), "%s",
			 (const char *)sqlite3_column_text(st, 5));
		ret->face_consent = sqlite3_column_int(st, 6) != 0;
		r = 0;
	} else if (r == SQLITE_DONE) {
		r = fail(s, -ENOENT, "no customer %lld", (long long)customer_id);
	} else {
		r = errno_from_sqlite(s->db, r);
		fail(s, r, "reading customer %lld: %s", (long long)customer_id,
		     sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	return r;
}

int store_embedding_delete(struct store *s, int64_t customer_id, int64_t embedding_id)
{
	sqlite3_stmt *st = NULL;
	int r;

	r = check_writable(s);
	if (r == 0)
		r = check_id(s, "customer", customer_id);
	if (r == 0)
		r = check_id(s, "embedding", embedding_id);
	if (r < 0)
		return r;
	if (sqlite3_prepare_v2(s->db,
			       "DELETE FROM face_embeddings WHERE id = ? AND customer_id = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return fail(s, -EIO, "deleting embedding %lld: %s", (long long)embedding_id,
			    sqlite3_errmsg(s->db));
	sqlite3_bind_int64(st, 1, embedding_id);
	sqlite3_bind_int64(st, 2, customer_id);
	r = sqlite3_step(st);
	if (r != SQLITE_DONE) {
		r = errno_from_sqlite(s->db, r);
		fail(s, r, "deleting embedding %lld: %s", (long long)embedding_id,
		     sqlite3_errmsg(s->db));
	} else if (sqlite3_changes(s->db) == 0) {
		r = fail(s, -ENOENT, "customer %lld has no embedding %lld", (long long)customer_id,
			 (long long)embedding_id);
	} else {
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}
