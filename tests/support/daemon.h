/*
 * The real edgeboxd driven from a test (test-only): a box in its own scratch
 * folder (config, log, store, sockets), the daemon run there as a child
 * process, its store counted as any reader would, and a client for its
 * NDJSON sockets (kiosk, staff).
 *
 * The programs come from $EDGEBOX_BIN (default build/bin), so a test runs the
 * binaries built beside it. A daemon a test leaves running (a failed ASSERT
 * returns early) is killed when the test binary exits, before the harness
 * removes the scratch folder.
 */
#ifndef TESTS_SUPPORT_DAEMON_H
#define TESTS_SUPPORT_DAEMON_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <sys/types.h>

/* $EDGEBOX_BIN, or "build/bin" when it is unset or empty. */
const char *test_bin_dir(void);

/*
 * "<test_bin_dir()>/<prog>" into ret_path (len bytes, NUL-terminated).
 * 0, or -ENAMETOOLONG when it does not fit (ret_path holds a truncated copy).
 */
int test_bin_path(const char *prog, char *ret_path, size_t len);

struct test_box {
	char dir[512];	/* PARENT/NAME: the box's state and sockets */
	char conf[600]; /* what edgeboxd gets as --config (a test may point it elsewhere) */
	char log[600];	/* dir/log: edgeboxd's stdout and stderr, from its last start */
	char db[600];	/* dir/edgebox.db: a test's config puts the store there */
	pid_t pid;	/* the running daemon, or -1 */
};

/*
 * A box in parent/name (created; an existing one is reused), its config at
 * dir/conf_name; no daemon yet. parent is the test's scratch folder,
 * test_tmpdir() (this module is linked into the benchmarks too, which have
 * no harness). 0, -ENAMETOOLONG, or -errno of mkdir.
 */
int test_box_init(struct test_box *box, const char *parent, const char *name,
		  const char *conf_name);

/*
 * Writes box->conf: text, then an [agent] section naming the repository's
 * agent files and [control] socket = none. In text, @DIR@ stands for
 * box->dir and @REPO@ for the repository (the working directory), so a
 * config is one literal. text comes first so a config error's line number is
 * text's own; to change a key of the tail, append it (later keys win).
 * 0 or -errno.
 */
int test_box_write_conf(const struct test_box *box, const char *text);

/* Appends text to box->conf, @DIR@ and @REPO@ replaced. 0 or -errno. */
int test_box_append_conf(const struct test_box *box, const char *text);

/*
 * Starts edgeboxd --config box->conf [--set S]... (sets: NULL, or a
 * NULL-terminated list of "section.key=value", at most 12) with stdout and
 * stderr in box->log (truncated: the log is this run's). 0, -EBUSY (this box
 * runs one already), -E2BIG (too many sets), -ENAMETOOLONG (the program's
 * path), or -errno of open/fork.
 */
int test_box_start(struct test_box *box, const char *const *sets);

/* kill(2) of the running daemon: 0, -ECHILD (none) or -errno. */
int test_box_signal(const struct test_box *box, int sig);

/*
 * Waits up to ms for the daemon to exit: its exit status (128 + signal when
 * killed by one), -ETIMEDOUT while it still runs, -ECHILD when none runs.
 */
int test_box_wait(struct test_box *box, int ms);

/*
 * SIGTERM, then up to 5 s for a clean exit: its exit status, as
 * test_box_wait. A daemon still running then is killed (SIGKILL) and
 * -ETIMEDOUT returned.
 */
int test_box_stop(struct test_box *box);

/*
 * The daemon's log so far, NUL-terminated; "" when there is none. The text
 * belongs to this module and is valid until the next call.
 */
const char *test_box_log(const struct test_box *box);

/*
 * The first column of the first row of sql (a count(*)) in the SQLite file
 * at path, opened read-only; -1 when it cannot be opened or sql fails.
 */
int test_store_rows(const char *path, const char *sql);

/* test_store_rows on box->db. */
int test_box_rows(const struct test_box *box, const char *sql);

/*
 * test_box_rows until it returns want, for up to 2 s (the daemon answers on
 * its sockets before it commits): the last count.
 */
int test_box_rows_soon(const struct test_box *box, const char *sql, int want);

/* A client of one of the daemon's NDJSON sockets. */
struct test_client {
	int fd;
	size_t len;
	char buf[1 << 16]; /* bytes read, not yet returned; a longer line is an error */
};

/*
 * Connects to box->dir/name, retrying for up to 6 s while the daemon comes
 * up. 0, -ENAMETOOLONG, or -errno of the last connect (c->fd is -1 then).
 */
int test_box_connect(const struct test_box *box, const char *name, struct test_client *c);

/*
 * The next line, without its '\n', into out (a NUL-terminated copy, at most
 * len - 1 bytes), waiting up to ms for each read: its length, -ETIMEDOUT,
 * -EPIPE (the daemon closed it), -EMSGSIZE (longer than buf or len), or
 * -errno of poll/read.
 */
int test_client_line(struct test_client *c, int ms, char *out, size_t len);

/*
 * The next message (lines that are not JSON are skipped), waiting up to ms
 * for each read; NULL on timeout, close or error. The caller frees it
 * (cJSON_Delete).
 */
cJSON *test_client_next(struct test_client *c, int ms);

/*
 * Reads messages until one of type want (returned; the caller frees it),
 * NULL as test_client_next. When text is not NULL the "text" of every
 * "token" message on the way is appended to it (len: its size, truncated to
 * fit).
 */
cJSON *test_client_until(struct test_client *c, const char *want, int ms, char *text, size_t len);

/* Writes all of line (one or more "...\n"). 0 or -errno. */
int test_client_send(struct test_client *c, const char *line);

/* Closes the connection; a closed client is fine. */
void test_client_close(struct test_client *c);

/* The string member key of m, or "" when it has none. */
const char *test_msg_str(const cJSON *m, const char *key);

#endif
