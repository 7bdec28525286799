/*
 * Tests of firmware/store: schema and migrations, the data API and its
 * limits, corruption handling (files moved aside, never overwritten) and
 * crash safety (a child SIGKILLed while appending turns). Checks go through
 * a separate raw SQLite connection where possible, so they do not trust the
 * code under test to report on itself.
 */
#include "tests/test.h"

#include "firmware/config.h"
#include "firmware/store.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS (24LL * 3600 * 1000)

/* A fresh path in the scratch folder for each call. */
static const char *new_path(const char *name)
{
	static char bufs[8][512];
	static int n;
	char *p = bufs[n % 8];

	snprintf(p, sizeof(bufs[0]), "%s/%s-%d.db", test_tmpdir(), name, n);
	n++;
	return p;
}

/* A raw connection's answer to a one-value query; LLONG_MIN on error. */
static long long raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = LLONG_MIN;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		printf("    raw_int(%s): %s\n", sql, db ? sqlite3_errmsg(db) : "?");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char raw_text_buf[1024];
static const char *raw_text(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(raw_text_buf, sizeof(raw_text_buf), "(error)");
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		snprintf(raw_text_buf, sizeof(raw_text_buf), "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return raw_text_buf;
}

static int raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		printf("    raw_exec: %s\n", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_close(db);
	return rc;
}

static long write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n;
}

/* Overwrites len bytes at off with a fixed pattern (deterministic garbage). */
static int scribble(const char *path, off_t off, size_t len)
{
	unsigned char buf[4096];
	int fd = open(path, O_WRONLY);
	size_t i, done = 0;

	if (fd < 0)
		return -1;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(0xA5 ^ (i * 37));
	while (done < len) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		if (pwrite(fd, buf, n, off + (off_t)done) != (ssize_t)n) {
			close(fd);
			return -1;
		}
		done += n;
	}
	close(fd);
	return 0;
}

/* Reads a whole (small) file into a malloc'd buffer; caller frees. */
static unsigned char *slurp(const char *path, size_t *ret_len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*ret_len = (size_t)st.st_size;
	return buf;
}

static size_t count_glob(const char *pattern)
{
	glob_t g;
	size_t n;

	if (glob(pattern, 0, NULL, &g) != 0)
		return 0;
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

struct fake_clock {
	int64_t now;
};

static int64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

static struct store *open_ok(const char *path)
{
	struct store_error err = {{0}};
	struct store *s = NULL;
	int r = store_open(path, 0, &s, NULL, &err);

	if (r != 0) {
		printf("    store_open(%s) = %d: %s\n", path, r, err.msg);
		return NULL;
	}
	return s;
}

static struct store *open_clock(const char *path, struct fake_clock *clk)
{
	struct store_options opts = {.now_ms = fake_now, .clock_ctx = clk};
	struct store_error err = {{0}};
	struct store *s = NULL;
	int r = store_open_ex(path, &opts, &s, NULL, &err);

	if (r != 0) {
		printf("    store_open_ex(%s) = %d: %s\n", path, r, err.msg);
		return NULL;
	}
	return s;
}

struct collected {
	int n;
	int seq[64];
	enum store_role role[64];
	char text[64][64];
	char meta[64][64];
	int stop_after;
};

static int collect_turn(const struct store_turn *t, void *ctx)
{
	struct collected *c = ctx;

	if (c->n < 64) {
		c->seq[c->n] = t->seq;
		c->role[c->n] = t->role;
		snprintf(c->text[c->n], sizeof(c->text[0]), "%s", t->text);
		snprintf(c->meta[c->n], sizeof(c->meta[0]), "%s", t->meta ? t->meta : "(null)");
	}
	c->n++;
	return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

/* ---- schema and migrations ----------------------------------------------- */

TEST(fresh_open_creates_latest_schema)
{
	const char *path = new_path("fresh");
	struct store_open_info info;
	struct store_error err = {{0}};
	struct store *s = NULL;
	struct stat st;
	int r;

	r = store_open(path, 0, &s, &info, &err);
	ASSERT_MSG(r == 0, "store_open = %d: %s", r, err.msg);
	ASSERT(info.created);
	ASSERT(!info.recovered);
	ASSERT_EQ(info.from_version, 0);
	ASSERT_EQ(info.version, store_schema_latest());
	ASSERT_EQ(store_schema_version(s), store_schema_latest());
	ASSERT_EQ(store_integrity_check(s, true), 0);
	ASSERT_STREQ(raw_text(path, "PRAGMA journal_mode"), "wal");
	ASSERT_EQ(raw_int(path, "PRAGMA application_id"), STORE_APPLICATION_ID);
	ASSERT_EQ(raw_int(path,
			  "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
			  "('customers', 'consents', 'face_embeddings', 'beacons', 'visits', "
			  "'sessions', 'turns', 'audit', 'staff_devices')"),
		  9);
	/* It holds personal data: owner only. */
	ASSERT(stat(path, &st) == 0);
	ASSERT_EQ(st.st_mode & 0777, 0600);
	store_close(s);
}

TEST(reopen_is_idempotent)
{
	const char *path = new_path("reopen");
	struct store_open_info info;
	struct store_error err;
	struct store *s;
	long long objects;
	int64_t id;
	int r;

	s = open_ok(path);
	ASSERT(s);
	ASSERT_EQ(store_customer_add(s, "Ana", &id), 0);
	store_close(s);
	objects = raw_int(path, "SELECT count(*) FROM sqlite_schema");

	r = store_open(path, 0, &s, &info, &err);
	ASSERT_MSG(r == 0, "reopen = %d: %s", r, err.msg);
	ASSERT(!info.created);
	ASSERT_EQ(info.from_version, store_schema_latest());
	ASSERT_EQ(info.version, store_schema_latest());
	store_close(s);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_schema"), objects);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM customers WHERE display_name = 'Ana'"), 1);
}

TEST(newer_schema_is_refused_and_left_alone)
{
	const char *path = new_path("newer");
	char sql[64], pattern[600];
	struct store_error err;
	struct store *s;
	int r;

	s = open_ok(path);
	ASSERT(s);
	store_close(s);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", store_schema_latest() + 5);
	ASSERT_EQ(raw_exec(path, sql), SQLITE_OK);

	r = store_open(path, 0, &s, NULL, &err);
	ASSERT_EQ(r, -ENOTSUP);
	ASSERT(s == NULL);
	ASSERT_CONTAINS(err.msg, "newer than this build");
	ASSERT_EQ(raw_int(path, "PRAGMA user_version"), store_schema_latest() + 5);
	snprintf(pattern, sizeof(pattern), "%s.corrupt-*", path);
	ASSERT_EQ(count_glob(pattern), 0);
}

TEST(foreign_sqlite_file_is_refused)
{
	const char *a = new_path("foreign"), *b = new_path("foreign-app");
	struct store_error err;
	struct store *s;

	ASSERT_EQ(raw_exec(a, "CREATE TABLE notes(x)"), SQLITE_OK);
	ASSERT_EQ(store_open(a, 0, &s, NULL, &err), -EMEDIUMTYPE);
	ASSERT_CONTAINS(err.msg, "not an edgebox store");
	ASSERT_EQ(raw_int(a, "SELECT count(*) FROM notes"), 0);

	ASSERT_EQ(raw_exec(b, "PRAGMA application_id = 1234"), SQLITE_OK);
	ASSERT_EQ(store_open(b, 0, &s, NULL, &err), -EMEDIUMTYPE);
}

TEST(migrations_run_in_order_each_in_a_transaction)
{
	static const struct store_migration v1[] = {
	    {1, "t1", "CREATE TABLE t1(x); INSERT INTO t1 VALUES (1);"},
	};
	static const struct store_migration bad[] = {
	    {1, "t1", "CREATE TABLE t1(x); INSERT INTO t1 VALUES (1);"},
	    {2, "t2 broken", "CREATE TABLE t2(y); INSERT INTO missing VALUES (1);"},
	};
	static const struct store_migration good[] = {
	    {1, "t1", "CREATE TABLE t1(x); INSERT INTO t1 VALUES (1);"},
	    {2, "t2", "CREATE TABLE t2(y);"},
	    {3, "t1 grows", "ALTER TABLE t1 ADD COLUMN z DEFAULT 7;"},
	};
	static const struct store_migration gap[] = {
	    {1, "a", "SELECT 1"},
	    {3, "c", "SELECT 1"},
	};
	const char *path = new_path("migrate");
	struct store_options opts = {0};
	struct store_open_info info;
	struct store_error err;
	struct store *s;
	int r;

	opts.migrations = v1;
	opts.n_migrations = 1;
	ASSERT_EQ(store_open_ex(path, &opts, &s, &info, &err), 0);
	ASSERT_EQ(info.version, 1);
	store_close(s);

	opts.migrations = bad;
	opts.n_migrations = 2;
	r = store_open_ex(path, &opts, &s, &info, &err);
	ASSERT(r < 0);
	ASSERT_CONTAINS(err.msg, "migration 2 (t2 broken) failed");
	ASSERT_CONTAINS(err.msg, "missing");
	ASSERT_CONTAINS(err.msg, "stays at version 1");
	ASSERT_EQ(raw_int(path, "PRAGMA user_version"), 1);
	/* The step's first statement was rolled back with the rest. */
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 't2'"), 0);

	opts.migrations = good;
	opts.n_migrations = 3;
	r = store_open_ex(path, &opts, &s, &info, &err);
	ASSERT_MSG(r == 0, "%d: %s", r, err.msg);
	ASSERT_EQ(info.from_version, 1);
	ASSERT_EQ(info.version, 3);
	store_close(s);
	ASSERT_EQ(raw_int(path, "SELECT z FROM t1"), 7);
	ASSERT_EQ(raw_int(path, "SELECT x FROM t1"), 1); /* step 1 did not run twice */

	/* Opened by a build that only knows version 1: refused. */
	opts.migrations = v1;
	opts.n_migrations = 1;
	ASSERT_EQ(store_open_ex(path, &opts, &s, &info, &err), -ENOTSUP);

	opts.migrations = gap;
	opts.n_migrations = 2;
	ASSERT_EQ(store_open_ex(new_path("gap"), &opts, &s, &info, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "without gaps");
}

TEST(readonly_open)
{
	static const struct store_migration v1[] = {
	    {1, "t1", "CREATE TABLE t1(x);"},
	};
	static const struct store_migration v2[] = {
	    {1, "t1", "CREATE TABLE t1(x);"},
	    {2, "t2", "CREATE TABLE t2(x);"},
	};
	const char *path = new_path("ro"), *old = new_path("ro-old");
	struct store_options opts = {0};
	struct collected c = {0};
	struct store_error err;
	struct store *w, *ro;
	int64_t sid, id;
	int n;

	ASSERT_EQ(store_open(new_path("ro-missing"), STORE_OPEN_READONLY, &ro, NULL, &err),
		  -ENOENT);
	ASSERT_CONTAINS(err.msg, "does not exist");

	w = open_ok(path);
	ASSERT(w);
	ASSERT_EQ(store_session_open(w, &(struct store_session_new){0}, &sid, NULL), 0);
	ASSERT_EQ(store_turn_append(w, sid, STORE_ROLE_CUSTOMER, "hola", NULL), 1);
	/* The daemon keeps writing while the CLI reads. */
	ASSERT_EQ(store_open(path, STORE_OPEN_READONLY, &ro, NULL, &err), 0);
	ASSERT_EQ(store_turn_append(w, sid, STORE_ROLE_AGENT, "hello", NULL), 2);
	n = store_turns_load(ro, sid, collect_turn, &c);
	ASSERT_EQ(n, 2);
	ASSERT_STREQ(c.text[1], "hello");
	ASSERT_EQ(store_session_find_open(ro, NULL, NULL), -EINVAL);
	ASSERT_EQ(store_turn_append(ro, sid, STORE_ROLE_AGENT, "x", NULL), -EROFS);
	ASSERT_CONTAINS(store_errmsg(ro), "read-only");
	ASSERT_EQ(store_customer_add(ro, "x", &id), -EROFS);
	store_close(ro);
	store_close(w);

	opts.migrations = v1;
	opts.n_migrations = 1;
	ASSERT_EQ(store_open_ex(old, &opts, &w, NULL, &err), 0);
	store_close(w);
	opts.migrations = v2;
	opts.n_migrations = 2;
	opts.flags = STORE_OPEN_READONLY;
	ASSERT_EQ(store_open_ex(old, &opts, &ro, NULL, &err), -ESTALE);
	ASSERT_CONTAINS(err.msg, "start edgeboxd once");
	ASSERT_EQ(raw_int(old, "PRAGMA user_version"), 1);
}

TEST(bad_paths)
{
	char dir[600];
	struct store_error err;
	struct store *s;

	ASSERT_EQ(store_open("", 0, &s, NULL, &err), -EINVAL);
	ASSERT_EQ(store_open(NULL, 0, &s, NULL, &err), -EINVAL);
	snprintf(dir, sizeof(dir), "%s/no/such/folder/x.db", test_tmpdir());
	ASSERT_EQ(store_open(dir, 0, &s, NULL, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "folder does not exist");
	ASSERT_EQ(store_open(test_tmpdir(), 0, &s, NULL, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "not a regular file");
}

TEST(open_from_config)
{
	struct config_error cerr;
	struct store_error err;
	struct config *cfg = NULL;
	struct store *s;
	char file[600];

	ASSERT_EQ(config_load_string("test.conf", test_tmpdir(),
				     "[store]\npath = from-config.db\ncheck = full\n"
				     "busy_timeout_ms = 250\n",
				     &cfg, &cerr),
		  0);
	ASSERT_EQ(store_open_config(cfg, "store", 0, &s, NULL, &err), 0);
	snprintf(file, sizeof(file), "%s/from-config.db", test_tmpdir());
	ASSERT_STREQ(store_path(s), file);
	store_close(s);
	ASSERT_EQ(config_check_unused(cfg, &cerr), 0);
	config_free(cfg);

	ASSERT_EQ(
	    config_load_string("bad.conf", test_tmpdir(), "[store]\ncheck = fast\n", &cfg, &cerr),
	    0);
	ASSERT_EQ(store_open_config(cfg, "store", 0, &s, NULL, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "bad.conf");
	ASSERT_CONTAINS(err.msg, "check");
	config_free(cfg);
}

/* ---- sessions and turns -------------------------------------------------- */

TEST(turns_append_and_load_in_order)
{
	struct fake_clock clk = {1700000000000LL};
	struct store_session_new req = {.customer_id = 0, .archetype = "browser"};
	struct collected c = {0};
	struct store *s = open_clock(new_path("turns"), &clk);
	int64_t sid, vid, sid2;
	int i;

	ASSERT(s);
	ASSERT_EQ(store_session_open(s, &req, &sid, &vid), 0);
	ASSERT(sid > 0 && vid > 0);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "hola", NULL), 1);
	clk.now += 10;
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, "¡Hola! ¿En qué te ayudo?",
				    "{\"tool\":\"greet\"}"),
		  2);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_STAFF, "", NULL), 3);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_SYSTEM, "escalated", "[1,2]"), 4);

	/* A second session in the same visit has its own numbering. */
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){.visit_id = vid}, &sid2, NULL),
		  0);
	ASSERT_EQ(store_turn_append(s, sid2, STORE_ROLE_CUSTOMER, "otra", NULL), 1);

	ASSERT_EQ(store_turns_load(s, sid, collect_turn, &c), 4);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(c.seq[i], i + 1);
	ASSERT_EQ(c.role[0], STORE_ROLE_CUSTOMER);
	ASSERT_EQ(c.role[1], STORE_ROLE_AGENT);
	ASSERT_EQ(c.role[2], STORE_ROLE_STAFF);
	ASSERT_EQ(c.role[3], STORE_ROLE_SYSTEM);
	ASSERT_STREQ(c.text[0], "hola");
	ASSERT_STREQ(c.text[1], "¡Hola! ¿En qué te ayudo?");
	ASSERT_STREQ(c.text[2], "");
	ASSERT_STREQ(c.meta[0], "(null)");
	ASSERT_STREQ(c.meta[1], "{\"tool\":\"greet\"}");

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	ASSERT_EQ(store_turns_load(s, sid, collect_turn, &c), 2);
	ASSERT_EQ(store_turns_load(s, 999, collect_turn, &c), 0);

	ASSERT_EQ(store_session_close(s, sid, "done"), 0);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "late", NULL), -ENOENT);
	ASSERT_CONTAINS(store_errmsg(s), "is closed");
	ASSERT_EQ(store_turn_append(s, 12345, STORE_ROLE_CUSTOMER, "x", NULL), -ENOENT);
	ASSERT_CONTAINS(store_errmsg(s), "no session 12345");
	ASSERT_EQ(store_session_close(s, sid, NULL), -ENOENT);
	store_close(s);
}

TEST(turn_limits_and_bad_input)
{
	struct store *s = open_ok(new_path("limits"));
	char *big = malloc(STORE_JSON_MAX + 2);
	int64_t sid;

	ASSERT(s && big);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &sid, NULL), 0);

	memset(big, 'a', STORE_TEXT_MAX + 1);
	big[STORE_TEXT_MAX + 1] = '\0';
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, big, NULL), -E2BIG);
	ASSERT_CONTAINS(store_errmsg(s), "16385 bytes, the limit is 16384");
	ASSERT_CONTAINS(store_errmsg(s), "split it");
	big[STORE_TEXT_MAX] = '\0'; /* exactly at the limit: stored whole */
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, big, NULL), 1);

	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, "x", "{not json"), -EINVAL);
	ASSERT_CONTAINS(store_errmsg(s), "turn meta is not valid JSON");
	memset(big, ' ', STORE_JSON_MAX + 1);
	big[0] = '1';
	big[STORE_JSON_MAX + 1] = '\0';
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, "x", big), -E2BIG);
	ASSERT_EQ(store_turn_append(s, sid, (enum store_role)9, "x", NULL), -EINVAL);
	ASSERT_CONTAINS(store_errmsg(s), "role 9");
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, NULL, NULL), -EINVAL);
	ASSERT_EQ(store_turn_append(s, 0, STORE_ROLE_AGENT, "x", NULL), -EINVAL);
	ASSERT(store_role_name((enum store_role) - 1) == NULL);
	ASSERT_STREQ(store_role_name(STORE_ROLE_STAFF), "staff");

	/* Nothing of the refused turns was stored. */
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, "next", NULL), 2);
	ASSERT_EQ(store_session_set_state(s, sid, "qualifying", NULL), 0);
	memset(big, 's', STORE_WORD_MAX + 1);
	big[STORE_WORD_MAX + 1] = '\0';
	ASSERT_EQ(store_session_set_state(s, sid, big, NULL), -E2BIG);
	ASSERT_EQ(store_session_set_state(s, sid, "", NULL), -EINVAL);
	ASSERT_EQ(store_audit_append(s, sid, "tool_call", "{oops"), -EINVAL);
	ASSERT_CONTAINS(store_errmsg(s), "audit detail is not valid JSON");
	free(big);
	store_close(s);
}

TEST(session_turn_cap)
{
	const char *path = new_path("cap");
	struct store *s = open_ok(path);
	char sql[256];
	int64_t sid;

	ASSERT(s);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &sid, NULL), 0);
	/* Filling 10000 turns one fsync at a time would be slow: insert raw. */
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
		 "INSERT INTO turns(session_id, seq, role, text, created_at) "
		 "SELECT %lld, i, 'agent', 'x', 0 FROM n",
		 STORE_SESSION_TURNS_MAX - 1, (long long)sid);
	ASSERT_EQ(raw_exec(path, sql), SQLITE_OK);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, "last", NULL),
		  STORE_SESSION_TURNS_MAX);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_AGENT, "over", NULL), -ENOSPC);
	ASSERT_CONTAINS(store_errmsg(s), "STORE_SESSION_TURNS_MAX");
	store_close(s);
}

struct open_sessions {
	int n;
	int64_t id[8];
	int turns[8];
	char state[8][32];
	int loaded[8];
	struct store *s;
};

static int collect_session(const struct store_session *sess, void *ctx)
{
	struct open_sessions *o = ctx;
	struct collected c = {0};

	if (o->n < 8) {
		o->id[o->n] = sess->id;
		o->turns[o->n] = sess->turns;
		snprintf(o->state[o->n], sizeof(o->state[0]), "%s", sess->state);
		/* Resume: load the turns from inside the callback. */
		o->loaded[o->n] = store_turns_load(o->s, sess->id, collect_turn, &c);
	}
	o->n++;
	return 0;
}

TEST(resume_open_sessions_after_restart)
{
	const char *path = new_path("resume");
	struct fake_clock clk = {1000 * DAY_MS};
	struct open_sessions o = {0};
	struct store *s = open_clock(path, &clk);
	int64_t a, b, c;

	ASSERT(s);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &a, NULL), 0);
	ASSERT_EQ(store_turn_append(s, a, STORE_ROLE_CUSTOMER, "old", NULL), 1);
	clk.now += 3 * 3600 * 1000;
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){.state = "greeting"}, &b, NULL),
		  0);
	ASSERT_EQ(store_turn_append(s, b, STORE_ROLE_CUSTOMER, "hi", NULL), 1);
	ASSERT_EQ(store_turn_append(s, b, STORE_ROLE_AGENT, "hello", NULL), 2);
	ASSERT_EQ(store_session_set_state(s, b, "offer", "family"), 0);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &c, NULL), 0);
	ASSERT_EQ(store_session_close(s, c, "done"), 0);
	store_close(s);

	/* Restart: sessions idle for more than an hour are closed, the rest resumed. */
	s = open_clock(path, &clk);
	ASSERT(s);
	ASSERT_EQ(store_session_close_stale(s, 3600 * 1000), 1);
	o.s = s;
	ASSERT_EQ(store_session_find_open(s, collect_session, &o), 1);
	ASSERT_EQ(o.id[0], b);
	ASSERT_EQ(o.turns[0], 2);
	ASSERT_EQ(o.loaded[0], 2);
	ASSERT_STREQ(o.state[0], "offer");
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM sessions WHERE archetype = 'family'"), 1);
	store_close(s);
}

TEST(visits)
{
	const char *path = new_path("visits");
	struct store *s = open_ok(path);
	char big[STORE_SUMMARY_MAX + 2];
	int64_t cust, v, v2, sid;

	ASSERT(s);
	ASSERT_EQ(store_customer_add(s, "Luis", &cust), 0);
	ASSERT_EQ(store_visit_begin(s, 0, &v), 0);
	ASSERT_EQ(store_visit_set_customer(s, v, cust), 0);
	ASSERT_EQ(raw_int(path, "SELECT last_seen IS NOT NULL FROM customers"), 1);
	ASSERT_EQ(store_visit_set_customer(s, v, 777), -ENOENT);
	ASSERT_EQ(store_visit_set_customer(s, 777, cust), -ENOENT);
	ASSERT_EQ(store_visit_begin(s, 888, &v2), -ENOENT);
	ASSERT_CONTAINS(store_errmsg(s), "no customer 888");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ASSERT_EQ(store_visit_end(s, v, big), -E2BIG);
	ASSERT_EQ(store_visit_end(s, v, "bought a plan"), 0);
	ASSERT_EQ(store_visit_end(s, v, NULL), -ENOENT);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){.visit_id = v}, &sid, NULL),
		  -ENOENT);
	ASSERT_CONTAINS(store_errmsg(s), "has ended");
	ASSERT_EQ(store_session_open(
		      s, &(struct store_session_new){.visit_id = v, .customer_id = 1}, &sid, NULL),
		  -EINVAL);
	/* A failed session open with a new visit leaves no orphan visit. */
	ASSERT_EQ(
	    store_session_open(s, &(struct store_session_new){.customer_id = 999}, &sid, NULL),
	    -ENOENT);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM visits"), 1);
	store_close(s);
}

/* ---- durability: every commit fsyncs the WAL ----------------------------- */

/* A VFS that passes everything to the real one and counts xSync on WAL files. */
struct shim_file {
	sqlite3_file base;
	sqlite3_file *real;
	int is_wal;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static int wal_syncs;

#define REAL(f) (((struct shim_file *)(f))->real)
static int shim_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}
static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int shim_sync(sqlite3_file *f, int flags)
{
	if (((struct shim_file *)f)->is_wal)
		wal_syncs++;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int shim_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int shim_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int shim_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int shim_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int shim_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int shim_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int shim_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int shim_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int shim_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void shim_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int shim_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int shim_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp);
}
static int shim_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static const sqlite3_io_methods shim_io = {
    3,
    shim_close,
    shim_read,
    shim_write,
    shim_truncate,
    shim_sync,
    shim_size,
    shim_lock,
    shim_unlock,
    shim_reserved,
    shim_fcntl,
    shim_sector,
    shim_devchar,
    shim_shm_map,
    shim_shm_lock,
    shim_shm_barrier,
    shim_shm_unmap,
    shim_fetch,
    shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
		     int *out_flags)
{
	struct shim_file *p = (struct shim_file *)f;
	int rc;

	(void)vfs;
	p->real = (sqlite3_file *)(p + 1);
	p->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out_flags);
	p->base.pMethods = p->real->pMethods ? &shim_io : NULL;
	return rc;
}

TEST(every_committed_turn_is_fsynced)
{
	struct store *s;
	int64_t sid;
	int before = 0, appended = 0;

	real_vfs = sqlite3_vfs_find(NULL);
	ASSERT(real_vfs && real_vfs->iVersion >= 1);
	shim_vfs = *real_vfs;
	shim_vfs.zName = "edgebox-test-syncs";
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
	shim_vfs.xOpen = shim_open;
	ASSERT_EQ(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);

	s = open_ok(new_path("sync"));
	if (s) {
		if (store_session_open(s, &(struct store_session_new){0}, &sid, NULL) == 0) {
			before = wal_syncs;
			appended +=
			    store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "one", NULL) == 1;
			appended += store_turn_append(s, sid, STORE_ROLE_AGENT, "two", NULL) == 2;
			appended += store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "3", NULL) == 3;
		}
		store_close(s);
	}
	sqlite3_vfs_register(real_vfs, 1);
	sqlite3_vfs_unregister(&shim_vfs);
	ASSERT(s);
	ASSERT_EQ(appended, 3);
	/* synchronous=NORMAL would give 0 here: WAL synced only at checkpoints. */
	ASSERT_MSG(wal_syncs - before >= 3, "%d WAL fsyncs for 3 appends", wal_syncs - before);
}

/* ---- customers, consents, embeddings, beacons, staff --------------------- */

static int count_embedding(const struct store_embedding *e, void *ctx)
{
	float *first = ctx;

	*first = e->vec[0];
	return 0;
}

TEST(consents_and_embeddings)
{
	const char *path = new_path("consent");
	struct store *s = open_ok(path);
	float vec[STORE_EMBEDDING_DIM], first = 0;
	int64_t cust, eid;
	int i;

	ASSERT(s);
	for (i = 0; i < STORE_EMBEDDING_DIM; i++)
		vec[i] = (float)i / 128.0f;
	vec[0] = 0.25f;
	ASSERT_EQ(store_customer_add(s, "Marta", &cust), 0);
	ASSERT_EQ(store_embedding_add(s, cust, vec, "kiosk", &eid), -EPERM);
	ASSERT_CONTAINS(store_errmsg(s), "no live \"face\" consent");
	ASSERT_EQ(store_consent_active(s, cust, "face"), 0);
	ASSERT_EQ(store_consent_grant(s, cust, "face", STORE_CONSENT_STAFF, NULL), -EINVAL);
	ASSERT_CONTAINS(store_errmsg(s), "granted_by");
	ASSERT_EQ(store_consent_grant(s, cust, "face", STORE_CONSENT_KIOSK, NULL), 0);
	ASSERT_EQ(store_consent_grant(s, cust, "face", STORE_CONSENT_KIOSK, NULL), -EEXIST);
	ASSERT_EQ(store_consent_grant(s, 4242, "face", STORE_CONSENT_KIOSK, NULL), -ENOENT);
	ASSERT_EQ(store_consent_grant(s, cust, "ble", STORE_CONSENT_STAFF, "tablet-1"), 0);
	ASSERT_EQ(store_consent_active(s, cust, "face"), 1);

	for (i = 0; i < STORE_EMBEDDINGS_MAX; i++)
		ASSERT_EQ(store_embedding_add(s, cust, vec, "kiosk", &eid), 0);
	ASSERT_EQ(store_embedding_add(s, cust, vec, "kiosk", &eid), -ENOSPC);
	ASSERT_EQ(store_embeddings_load(s, count_embedding, &first), STORE_EMBEDDINGS_MAX);
	ASSERT(first == 0.25f);
	vec[5] = NAN;
	ASSERT_EQ(store_embedding_add(s, cust, vec, "kiosk", &eid), -EINVAL);
	ASSERT_EQ(store_embedding_add(s, 4242, vec, "kiosk", &eid), -EINVAL);
	vec[5] = 0;
	ASSERT_EQ(store_embedding_add(s, 4242, vec, "kiosk", &eid), -ENOENT);

	/* Withdrawing face consent takes the biometric data with it. */
	ASSERT_EQ(store_consent_revoke(s, cust, "face"), STORE_EMBEDDINGS_MAX);
	ASSERT_EQ(store_embeddings_load(s, count_embedding, &first), 0);
	ASSERT_EQ(store_consent_revoke(s, cust, "face"), -ENOENT);
	ASSERT_EQ(store_consent_revoke(s, cust, "ble"), 0);
	ASSERT_EQ(store_consent_active(s, cust, "face"), 0);
	/* History stays; a new grant is a new row. */
	ASSERT_EQ(store_consent_grant(s, cust, "face", STORE_CONSENT_KIOSK, NULL), 0);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM consents"), 3);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM consents WHERE revoked_at IS NULL"), 1);
	store_close(s);
}

TEST(beacons_and_staff_devices)
{
	struct store *s = open_ok(new_path("beacons"));
	struct store_beacon_id ib = {.kind = STORE_BEACON_IBEACON, .major = 1, .minor = 65535};
	struct store_beacon_id ed = {.kind = STORE_BEACON_EDDYSTONE};
	uint8_t hash[STORE_TOKEN_HASH_BYTES], other[STORE_TOKEN_HASH_BYTES];
	int64_t a, b, found, dev, dev2;

	ASSERT(s);
	memset(ib.uuid, 0x11, sizeof(ib.uuid));
	memset(ed.uuid, 0x22, 10);
	memset(ed.instance, 0x33, sizeof(ed.instance));
	ed.major = 5; /* ignored for Eddystone */
	ASSERT_EQ(store_customer_add(s, "A", &a), 0);
	ASSERT_EQ(store_customer_add(s, "B", &b), 0);
	ASSERT_EQ(store_beacon_add(s, a, &ib), 0);
	ASSERT_EQ(store_beacon_add(s, b, &ed), 0);
	ASSERT_EQ(store_beacon_add(s, b, &ib), -EEXIST);
	ASSERT_EQ(store_beacon_add(s, 99, &(struct store_beacon_id){.kind = STORE_BEACON_IBEACON}),
		  -ENOENT);
	ASSERT_EQ(store_beacon_find(s, &ib, &found), 0);
	ASSERT_EQ(found, a);
	ed.major = 0;
	ASSERT_EQ(store_beacon_find(s, &ed, &found), 0);
	ASSERT_EQ(found, b);
	ib.minor = 7;
	ASSERT_EQ(store_beacon_find(s, &ib, &found), -ENOENT);
	ASSERT_EQ(store_beacon_find(s, &(struct store_beacon_id){.kind = 7}, &found), -EINVAL);

	memset(hash, 0xAB, sizeof(hash));
	memset(other, 0xCD, sizeof(other));
	ASSERT_EQ(store_staff_pair(s, "tablet-1", hash, &dev), 0);
	ASSERT_EQ(store_staff_pair(s, "tablet-1", other, &dev2), -EEXIST);
	ASSERT_EQ(store_staff_pair(s, "tablet-2", hash, &dev2), -EEXIST);
	ASSERT_EQ(store_staff_find(s, hash, &found), 0);
	ASSERT_EQ(found, dev);
	ASSERT_EQ(store_staff_revoke(s, dev), 0);
	ASSERT_EQ(store_staff_revoke(s, dev), -ENOENT);
	ASSERT_EQ(store_staff_find(s, hash, &found), -ENOENT);
	ASSERT_EQ(store_staff_pair(s, "tablet-1", other, &dev2), 0); /* name free again */
	store_close(s);
}

struct audit_seen {
	int n;
	int64_t last_id;
	char kinds[8][32];
};

static int collect_audit(const struct store_audit_row *a, void *ctx)
{
	struct audit_seen *seen = ctx;

	if (seen->n < 8)
		snprintf(seen->kinds[seen->n], sizeof(seen->kinds[0]), "%s", a->kind);
	seen->n++;
	seen->last_id = a->id;
	return 0;
}

TEST(audit_log)
{
	struct store *s = open_ok(new_path("audit"));
	struct audit_seen seen = {0};
	int64_t sid, cust;

	ASSERT(s);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &sid, NULL), 0);
	ASSERT_EQ(store_customer_add(s, "C", &cust), 0);
	ASSERT_EQ(store_audit_append(s, sid, "tool_call", "{\"tool\":\"plans\"}"), 0);
	ASSERT_EQ(store_audit_append(s, 0, "blocked_action", NULL), 0);
	ASSERT_EQ(store_audit_append_customer(s, cust, "consent_staff", "{}"), 0);
	ASSERT_EQ(store_audit_append(s, 4242, "tool_call", NULL), -ENOENT);
	ASSERT_CONTAINS(store_errmsg(s), "no session 4242");
	ASSERT_EQ(store_audit_append(s, sid, "", NULL), -EINVAL);
	ASSERT_EQ(store_audit_load(s, 0, collect_audit, &seen), 3);
	ASSERT_STREQ(seen.kinds[0], "tool_call");
	ASSERT_STREQ(seen.kinds[2], "consent_staff");
	seen.n = 0;
	ASSERT_EQ(store_audit_load(s, seen.last_id - 1, collect_audit, &seen), 1);
	store_close(s);
}

/* ---- forget and retention ------------------------------------------------ */

/* A customer with one of everything; returns the customer id. */
static int64_t populate(struct store *s, const char *name, uint8_t beacon_byte)
{
	struct store_beacon_id bid = {.kind = STORE_BEACON_IBEACON, .major = 1, .minor = 2};
	float vec[STORE_EMBEDDING_DIM] = {0.5f};
	int64_t cust, vid, sid, sid2;

	memset(bid.uuid, beacon_byte, sizeof(bid.uuid));
	if (store_customer_add(s, name, &cust) ||
	    store_consent_grant(s, cust, "face", STORE_CONSENT_KIOSK, NULL) ||
	    store_embedding_add(s, cust, vec, "kiosk", NULL) ||
	    store_embedding_add(s, cust, vec, "staff", NULL) || store_beacon_add(s, cust, &bid) ||
	    store_session_open(s, &(struct store_session_new){.customer_id = cust}, &sid, &vid) ||
	    store_turn_append(s, sid, STORE_ROLE_CUSTOMER, name, NULL) != 1 ||
	    store_turn_append(s, sid, STORE_ROLE_AGENT, "hi", NULL) != 2 ||
	    store_session_open(s, &(struct store_session_new){.visit_id = vid}, &sid2, NULL) ||
	    store_turn_append(s, sid2, STORE_ROLE_CUSTOMER, "again", NULL) != 1 ||
	    store_audit_append(s, sid, "tool_call", "{}") ||
	    store_audit_append(s, sid2, "escalation", "{}") ||
	    store_audit_append_customer(s, cust, "consent", NULL)) {
		printf("    populate(%s): %s\n", name, store_errmsg(s));
		return 0;
	}
	return cust;
}

TEST(forget_removes_everything_of_one_customer_only)
{
	static const char *const tables[] = {"customers", "consents", "face_embeddings", "beacons",
					     "visits",	  "sessions", "turns",		 "audit"};
	const char *path = new_path("forget");
	struct store *s = open_ok(path);
	struct store_delete_counts c;
	struct store_beacon_id bid = {.kind = STORE_BEACON_IBEACON, .major = 1, .minor = 2};
	long long before[8];
	char sql[128];
	int64_t a, b, anon, found;
	size_t i;

	ASSERT(s);
	a = populate(s, "AnaQx", 0xA1);
	b = populate(s, "BeaQx", 0xB2);
	ASSERT(a && b);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &anon, NULL), 0);
	ASSERT_EQ(store_turn_append(s, anon, STORE_ROLE_CUSTOMER, "anon", NULL), 1);
	ASSERT_EQ(store_audit_append(s, 0, "boot", NULL), 0);
	for (i = 0; i < 8; i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		before[i] = raw_int(path, sql);
	}

	ASSERT_EQ(store_customer_forget(s, a, &c), 0);
	ASSERT_EQ(c.customers, 1);
	ASSERT_EQ(c.consents, 1);
	ASSERT_EQ(c.embeddings, 2);
	ASSERT_EQ(c.beacons, 1);
	ASSERT_EQ(c.visits, 1);
	ASSERT_EQ(c.sessions, 2);
	ASSERT_EQ(c.turns, 3);
	ASSERT_EQ(c.audit, 3);

	/* Exactly those rows went; Bea, the anonymous visitor and the boot
	 * event are untouched. */
	for (i = 0; i < 8; i++) {
		const int64_t *removed = &c.customers;

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
		ASSERT_MSG(raw_int(path, sql) == before[i] - removed[i],
			   "%s: %lld before, %lld now", tables[i], before[i], raw_int(path, sql));
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM customers WHERE id = %lld", (long long)a);
	ASSERT_EQ(raw_int(path, sql), 0);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM turns WHERE text = 'AnaQx'"), 0);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM turns WHERE text = 'BeaQx'"), 1);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM turns WHERE text = 'anon'"), 1);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM audit WHERE kind = 'boot'"), 1);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	memset(bid.uuid, 0xA1, sizeof(bid.uuid));
	ASSERT_EQ(store_beacon_find(s, &bid, &found), -ENOENT);
	memset(bid.uuid, 0xB2, sizeof(bid.uuid));
	ASSERT_EQ(store_beacon_find(s, &bid, &found), 0);
	ASSERT_EQ(found, b);

	ASSERT_EQ(store_customer_forget(s, a, &c), -ENOENT);
	ASSERT_CONTAINS(store_errmsg(s), "no customer");
	ASSERT_EQ(store_customer_forget(s, 0, &c), -EINVAL);
	/* Ids are never reused: a new customer cannot inherit Ana's audit id. */
	ASSERT_EQ(store_customer_add(s, "New", &found), 0);
	ASSERT(found > b);
	store_close(s);
	/* secure_delete: the name is gone from the file, not just unlinked. */
	{
		size_t len, j;
		unsigned char *data = slurp(path, &len);
		int hit = 0;

		ASSERT(data);
		for (j = 0; j + 5 <= len; j++)
			if (memcmp(data + j, "AnaQx", 5) == 0)
				hit = 1;
		free(data);
		ASSERT_MSG(!hit, "\"AnaQx\" still in the database file after forget");
	}
}

TEST(forget_refuses_to_leave_data_in_an_unknown_table)
{
	const char *path = new_path("forget-new-table");
	struct store_delete_counts c;
	struct store *s = open_ok(path);
	int64_t a;
	char sql[160];

	ASSERT(s);
	a = populate(s, "Dora", 0xD4);
	ASSERT(a);
	/* A later feature adds a table pointing at customers but forget was
	 * not taught about it: forget must fail whole, not delete half. */
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE loyalty(customer_id INTEGER REFERENCES customers(id)); "
		 "INSERT INTO loyalty VALUES (%lld)",
		 (long long)a);
	ASSERT_EQ(raw_exec(path, sql), SQLITE_OK);
	ASSERT_EQ(store_customer_forget(s, a, &c), -EIO);
	ASSERT_CONTAINS(store_errmsg(s), "must learn that table");
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM turns WHERE text = 'Dora'"), 1);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM face_embeddings"), 2);
	store_close(s);
}

TEST(purge_anonymous_visits_by_age)
{
	const char *path = new_path("purge");
	struct fake_clock clk = {1000 * DAY_MS};
	struct store_delete_counts c;
	struct store *s = open_clock(path, &clk);
	int64_t cust, old_ended, old_open, recent, known, sid;

	ASSERT(s);
	ASSERT_EQ(store_customer_add(s, "Kept", &cust), 0);
	/* Day 1000: an anonymous visit that ends, one never ended, a customer's. */
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &sid, &old_ended), 0);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "old", NULL), 1);
	ASSERT_EQ(store_audit_append(s, sid, "tool_call", NULL), 0);
	ASSERT_EQ(store_session_close(s, sid, NULL), 0);
	ASSERT_EQ(store_visit_end(s, old_ended, NULL), 0);
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &sid, &old_open), 0);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "crashed", NULL), 1);
	ASSERT_EQ(
	    store_session_open(s, &(struct store_session_new){.customer_id = cust}, &sid, &known),
	    0);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "mine", NULL), 1);
	/* Day 1035: a recent anonymous visit. */
	clk.now += 35 * DAY_MS;
	ASSERT_EQ(store_session_open(s, &(struct store_session_new){0}, &sid, &recent), 0);
	ASSERT_EQ(store_turn_append(s, sid, STORE_ROLE_CUSTOMER, "new", NULL), 1);
	clk.now += DAY_MS;

	ASSERT_EQ(store_purge_anonymous(s, 30 * DAY_MS, &c), 2);
	ASSERT_EQ(c.visits, 2);
	ASSERT_EQ(c.sessions, 2);
	ASSERT_EQ(c.turns, 2);
	ASSERT_EQ(c.audit, 1);
	ASSERT_EQ(c.customers, 0);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM turns WHERE text IN ('old', 'crashed')"), 0);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM turns WHERE text IN ('mine', 'new')"), 2);
	ASSERT_EQ(raw_int(path, "SELECT count(*) FROM visits"), 2);
	ASSERT_EQ(store_purge_anonymous(s, 30 * DAY_MS, &c), 0);
	ASSERT_EQ(store_purge_anonymous(s, -1, &c), -EINVAL);
	store_close(s);
}

/* ---- corruption ---------------------------------------------------------- */

/* A closed store with some data, spread over several pages. */
static int make_db(const char *path)
{
	struct store *s = open_ok(path);
	char text[2000];
	int64_t sid;
	int i;

	if (!s)
		return -1;
	memset(text, 'q', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	if (store_session_open(s, &(struct store_session_new){0}, &sid, NULL) < 0)
		goto fail;
	for (i = 0; i < 20; i++)
		if (store_turn_append(s, sid, STORE_ROLE_AGENT, text, NULL) < 0)
			goto fail;
	store_close(s);
	return 0;
fail:
	printf("    make_db: %s\n", store_errmsg(s));
	store_close(s);
	return -1;
}

/* Opens a damaged file and checks it was moved aside byte for byte. */
static void expect_recovered(const char *path, const char *problem_part)
{
	struct store_open_info info;
	struct store_error err = {{0}};
	unsigned char *orig, *moved;
	size_t orig_len, moved_len;
	struct store *s = NULL;
	int64_t id;
	int r;

	orig = slurp(path, &orig_len);
	ASSERT(orig);
	r = store_open(path, 0, &s, &info, &err);
	ASSERT_MSG(r == 1, "store_open = %d: %s", r, err.msg);
	ASSERT(info.recovered);
	ASSERT(info.created);
	ASSERT_EQ(info.version, store_schema_latest());
	ASSERT_MSG(strncmp(info.moved_to, path, strlen(path)) == 0 &&
		       strstr(info.moved_to, ".corrupt-"),
		   "moved_to = %s", info.moved_to);
	if (problem_part)
		ASSERT_CONTAINS(info.problem, problem_part);
	ASSERT(info.problem[0]);
	moved = slurp(info.moved_to, &moved_len);
	ASSERT(moved);
	ASSERT_EQ(moved_len, orig_len);
	ASSERT(memcmp(moved, orig, orig_len) == 0);
	free(orig);
	free(moved);
	/* The fresh store works. */
	ASSERT_EQ(store_customer_add(s, "after", &id), 0);
	ASSERT_EQ(store_integrity_check(s, true), 0);
	store_close(s);
}

TEST(garbage_header_is_moved_aside)
{
	const char *path = new_path("garbage-head");

	ASSERT_EQ(make_db(path), 0);
	ASSERT_EQ(scribble(path, 0, 100), 0);
	expect_recovered(path, "not an SQLite database");
}

TEST(garbage_pages_are_moved_aside)
{
	const char *path = new_path("garbage-pages");
	long long page;

	ASSERT_EQ(make_db(path), 0);
	page = raw_int(path, "PRAGMA page_size");
	ASSERT(page > 0);
	/* Pages 2-6 hold table roots and turn data. */
	ASSERT_EQ(scribble(path, page, 5 * page), 0);
	expect_recovered(path, NULL);
}

TEST(no_check_skips_the_scan_but_not_the_header)
{
	const char *path = new_path("nocheck"), *text = new_path("nocheck-text");
	struct store_error err;
	struct store *s;
	long long page;

	ASSERT_EQ(make_db(path), 0);
	page = raw_int(path, "PRAGMA page_size");
	ASSERT_EQ(scribble(path, page, 5 * page), 0);
	/* A reader that skips the scan opens it and leaves it in place... */
	ASSERT_EQ(store_open(path, STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK, &s, NULL, &err), 0);
	ASSERT_EQ(store_integrity_check(s, false), -EUCLEAN);
	store_close(s);
	/* ...but the default open finds the damage. */
	ASSERT_EQ(store_open(path, STORE_OPEN_READONLY, &s, NULL, &err), -EUCLEAN);
	/* A file that is not a database never gets past the header check. */
	ASSERT(write_file(text, "plain text", 10) == 10);
	ASSERT_EQ(store_open(text, STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK, &s, NULL, &err),
		  -EUCLEAN);
}

TEST(text_file_is_moved_aside)
{
	const char *path = new_path("text");
	const char *text = "this is not a database\nnot at all\n";

	ASSERT(write_file(path, text, strlen(text)) == (long)strlen(text));
	expect_recovered(path, "too short for an SQLite database");
}

TEST(side_files_move_with_the_database)
{
	const char *path = new_path("sides");
	struct store_open_info info;
	struct store_error err;
	char side[STORE_PATH_MAX + 16];
	struct store *s;

	ASSERT(write_file(path, "garbage garbage garbage", 23) == 23);
	snprintf(side, sizeof(side), "%s-wal", path);
	ASSERT(write_file(side, "old wal", 7) == 7);
	snprintf(side, sizeof(side), "%s-journal", path);
	ASSERT(write_file(side, "old journal", 11) == 11);
	ASSERT_EQ(store_open(path, 0, &s, &info, &err), 1);
	store_close(s);
	snprintf(side, sizeof(side), "%s-wal", info.moved_to);
	ASSERT_EQ(access(side, F_OK), 0);
	snprintf(side, sizeof(side), "%s-journal", info.moved_to);
	ASSERT_EQ(access(side, F_OK), 0);
	snprintf(side, sizeof(side), "%s-journal", path);
	ASSERT(access(side, F_OK) != 0);
}

TEST(wal_of_a_corrupt_database_is_kept_byte_for_byte)
{
	const char *path = new_path("corrupt-wal");
	char wal[STORE_PATH_MAX + 16];
	unsigned char *before, *after;
	size_t before_len, after_len;
	struct store_open_info info;
	struct store_error err;
	struct store *s;
	sqlite3 *db;
	long long page;

	ASSERT_EQ(make_db(path), 0);
	page = raw_int(path, "PRAGMA page_size");
	/* A commit that lives only in the WAL, as after a power cut. */
	ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	ASSERT_EQ(sqlite3_exec(db,
			       "INSERT INTO customers(display_name, created_at) "
			       "VALUES ('only-in-wal', 1)",
			       NULL, NULL, NULL),
		  SQLITE_OK);
	sqlite3_close(db);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	before = slurp(wal, &before_len);
	ASSERT(before && before_len > 0);
	ASSERT_EQ(scribble(path, page, 5 * page), 0);

	ASSERT_EQ(store_open(path, 0, &s, &info, &err), 1);
	store_close(s);
	snprintf(wal, sizeof(wal), "%s-wal", info.moved_to);
	after = slurp(wal, &after_len);
	ASSERT(after);
	ASSERT_EQ(after_len, before_len);
	ASSERT(memcmp(before, after, before_len) == 0);
	free(before);
	free(after);
}

TEST(corrupt_is_reported_not_moved_when_asked)
{
	const char *path = new_path("norecover");
	char pattern[600];
	struct store_open_info info;
	struct store_error err;
	struct store *s;

	ASSERT(write_file(path, "not sqlite", 10) == 10);
	ASSERT_EQ(store_open(path, STORE_OPEN_NO_RECOVER, &s, &info, &err), -EUCLEAN);
	ASSERT_CONTAINS(err.msg, "is corrupt");
	ASSERT_CONTAINS(err.msg, path);
	ASSERT(!info.recovered);
	ASSERT_EQ(store_open(path, STORE_OPEN_READONLY, &s, &info, &err), -EUCLEAN);
	ASSERT_CONTAINS(err.msg, "edgeboxd moves it aside");
	snprintf(pattern, sizeof(pattern), "%s.corrupt-*", path);
	ASSERT_EQ(count_glob(pattern), 0);
	ASSERT_EQ(access(path, F_OK), 0);
}

TEST(two_recoveries_in_one_second_keep_both_files)
{
	const char *path = new_path("twice");
	struct fake_clock clk = {1700000000123LL};
	struct store_options opts = {.now_ms = fake_now, .clock_ctx = &clk};
	struct store_open_info first, second;
	struct store_error err;
	char pattern[600];
	struct store *s;

	ASSERT(write_file(path, "first garbage", 13) == 13);
	ASSERT_EQ(store_open_ex(path, &opts, &s, &first, &err), 1);
	store_close(s);
	ASSERT_CONTAINS(first.moved_to, ".corrupt-20231114T221320Z");
	ASSERT(write_file(path, "second garbage", 14) == 14);
	ASSERT_EQ(store_open_ex(path, &opts, &s, &second, &err), 1);
	store_close(s);
	ASSERT(strcmp(first.moved_to, second.moved_to) != 0);
	snprintf(pattern, sizeof(pattern), "%s.corrupt-*", path);
	ASSERT_EQ(count_glob(pattern), 2);
}

TEST(index_damage_needs_the_full_check)
{
	const char *path = new_path("index");
	struct store_open_info info;
	struct store_error err;
	struct store *s;
	int r;

	ASSERT_EQ(make_db(path), 0);
	/* An index whose entries disagree with its table: only
	 * integrity_check compares index entries with rows. */
	ASSERT_EQ(raw_exec(path,
			   "PRAGMA writable_schema = ON; CREATE INDEX extra ON turns(seq); "
			   "UPDATE sqlite_schema SET sql = 'CREATE INDEX extra ON turns(text)' "
			   "WHERE name = 'extra';"),
		  SQLITE_OK);
	r = store_open(path, 0, &s, &info, &err);
	ASSERT_MSG(r == 0, "quick_check at open should pass: %d %s", r, err.msg);
	ASSERT_EQ(store_integrity_check(s, false), 0);
	ASSERT_EQ(store_integrity_check(s, true), -EUCLEAN);
	ASSERT_CONTAINS(store_errmsg(s), "missing from index extra");
	store_close(s);

	r = store_open(path, STORE_OPEN_FULL_CHECK, &s, &info, &err);
	ASSERT_EQ(r, 1);
	ASSERT_CONTAINS(info.problem, "missing from index");
	store_close(s);
}

/* ---- crash safety -------------------------------------------------------- */

struct report {
	int64_t session_id;
	int64_t seq; /* 0: the session was opened; -errno: the child failed */
};

/* Deterministic text per seq, up to ~12 KB, to check contents after a crash. */
static size_t crash_text(int seq, char *buf)
{
	size_t len = (size_t)(seq * 997) % 12000;

	memset(buf, 'a' + seq % 26, len);
	buf[len] = '\0';
	return len;
}

static void send_report(int fd, int64_t sid, int64_t seq)
{
	struct report rep = {sid, seq};

	/* 16 bytes < PIPE_BUF: one atomic write. */
	if (write(fd, &rep, sizeof(rep)) != sizeof(rep))
		_exit(3);
}

static void crash_child(const char *path, int fd)
{
	static char text[12001];
	struct store_error err;
	struct store *s;
	int64_t sid;
	int seq, want = 1;

	if (store_open(path, 0, &s, NULL, &err) != 0)
		_exit(4);
	if (store_session_open(s, &(struct store_session_new){0}, &sid, NULL) != 0)
		_exit(5);
	send_report(fd, sid, 0);
	for (;;) {
		crash_text(want, text);
		seq = store_turn_append(s, sid, want % 2 ? STORE_ROLE_CUSTOMER : STORE_ROLE_AGENT,
					text, want % 5 ? NULL : "{\"k\":1}");
		if (seq != want) {
			send_report(fd, sid, seq < 0 ? seq : -EPROTO);
			_exit(6);
		}
		/* Only now is the turn committed: tell the parent. */
		send_report(fd, sid, seq);
		if (want % 7 == 0)
			store_audit_append(s, sid, "tool_call", "{\"n\":7}");
		want++;
		if (want > STORE_SESSION_TURNS_MAX)
			_exit(7);
	}
}

struct crash_check {
	int n;
	int bad_seq;
	int bad_text;
	char buf[12001];
};

static int check_crash_turn(const struct store_turn *t, void *ctx)
{
	struct crash_check *c = ctx;
	size_t len = crash_text(t->seq, c->buf);

	c->n++;
	if (t->seq != c->n)
		c->bad_seq = t->seq;
	if (strlen(t->text) != len || memcmp(t->text, c->buf, len) != 0)
		c->bad_text = t->seq;
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

TEST(crash_safety_sigkill_while_appending)
{
	const char *path = new_path("crash");
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int round, total = 0;
	struct store *s;

	s = open_ok(path);
	ASSERT(s);
	store_close(s);
	srand(seed);
	for (round = 0; round < 6; round++) {
		int64_t sid = 0, max_seq = 0, deadline = 0, child_err = 0;
		struct crash_check c = {0};
		struct store_open_info info;
		struct store_error err;
		struct report rep;
		int fds[2], status, r;
		pid_t pid;
		ssize_t n;

		ASSERT(pipe(fds) == 0);
		pid = fork();
		ASSERT(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(path, fds[1]);
			_exit(8);
		}
		close(fds[1]);
		/* Read reports until a random moment after the first turn. */
		for (;;) {
			struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
			int64_t left = deadline ? deadline - mono_ms() : 5000;

			if (deadline && left <= 0)
				break;
			if (poll(&pfd, 1, (int)left) <= 0)
				break;
			n = read(fds[0], &rep, sizeof(rep));
			if (n != sizeof(rep))
				break;
			if (rep.seq < 0) {
				child_err = rep.seq;
				break;
			}
			sid = rep.session_id;
			if (rep.seq > max_seq)
				max_seq = rep.seq;
			if (rep.seq == 1 && !deadline)
				deadline = mono_ms() + 5 + rand() % 150;
		}
		kill(pid, SIGKILL);
		ASSERT(waitpid(pid, &status, 0) == pid);
		/* Reports written before the kill are still in the pipe. */
		while ((n = read(fds[0], &rep, sizeof(rep))) == sizeof(rep)) {
			if (rep.seq < 0)
				child_err = rep.seq;
			if (rep.seq > max_seq)
				max_seq = rep.seq;
		}
		close(fds[0]);
		ASSERT_MSG(!child_err, "child failed to append: %lld (seed %u)",
			   (long long)child_err, seed);
		ASSERT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			   "child exited on its own (status 0x%x, seed %u)", status, seed);
		ASSERT_MSG(max_seq >= 1, "child committed nothing before the kill (seed %u)", seed);

		/* An independent connection first: the file must be sound. */
		ASSERT_STREQ(raw_text(path, "PRAGMA integrity_check"), "ok");
		r = store_open(path, STORE_OPEN_FULL_CHECK, &s, &info, &err);
		ASSERT_MSG(r == 0, "reopen after kill = %d: %s (seed %u)", r, err.msg, seed);
		r = store_turns_load(s, sid, check_crash_turn, &c);
		store_close(s);
		ASSERT_EQ(r, c.n);
		/* Every reported seq is there, contiguous, with its exact text;
		 * at most the one in flight at the kill is extra. */
		ASSERT_MSG(c.n >= max_seq && c.n <= max_seq + 1,
			   "round %d: child reported %lld committed, store has %d (seed %u)", round,
			   (long long)max_seq, c.n, seed);
		ASSERT_MSG(!c.bad_seq, "round %d: seq %d out of order (seed %u)", round, c.bad_seq,
			   seed);
		ASSERT_MSG(!c.bad_text, "round %d: text of seq %d differs (seed %u)", round,
			   c.bad_text, seed);
		total += (int)max_seq;
	}
	ASSERT(total >= 6);
}

TEST(customer_get_gives_name_visits_and_last_summary)
{
	struct store_customer c;
	struct store *s;
	int64_t id, visit;
	char path[300];

	snprintf(path, sizeof(path), "%s/cget.db", test_tmpdir());
	ASSERT(store_open(path, 0, &s, NULL, NULL) >= 0);
	ASSERT_EQ(store_customer_add(s, "Dana", &id), 0);
	ASSERT_EQ(store_customer_get(s, id, &c), 0);
	ASSERT_STREQ(c.name, "Dana");
	ASSERT_EQ(c.visits, 0);
	ASSERT_STREQ(c.last_summary, "");
	ASSERT(!c.face_consent);
	ASSERT_EQ(store_visit_begin(s, id, &visit), 0);
	ASSERT_EQ(store_visit_end(s, visit, "looked at the family TV pack"), 0);
	ASSERT_EQ(store_visit_begin(s, id, &visit), 0); /* the visit now, still open */
	ASSERT_EQ(store_consent_grant(s, id, STORE_CONSENT_FACE, STORE_CONSENT_KIOSK, NULL), 0);
	ASSERT_EQ(store_customer_get(s, id, &c), 0);
	ASSERT_EQ(c.visits, 1);
	ASSERT_STREQ(c.last_summary, "looked at the family TV pack");
	ASSERT(c.last_visit_at > 0);
	ASSERT(c.face_consent);
	ASSERT_EQ(store_customer_get(s, id + 100, &c), -ENOENT);
	ASSERT_EQ(store_customer_get(s, 0, &c), -EINVAL);
	store_close(s);
}
