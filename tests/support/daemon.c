#include "tests/support/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SETS_MAX 12
#define RUNNING_MAX 16

const char *test_bin_dir(void)
{
	const char *b = getenv("EDGEBOX_BIN");

	return b && *b ? b : "build/bin";
}

int test_bin_path(const char *prog, char *ret_path, size_t len)
{
	int n = snprintf(ret_path, len, "%s/%s", test_bin_dir(), prog);

	return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* ---- daemons still running at exit ----------------------------------------- */

/* Every daemon started and not yet reaped, so none outlives the test binary.
 * Registered with atexit on the first start, after the harness's removal of
 * test_tmpdir() (the box's parent was made first), so it runs before it. */
static pid_t running[RUNNING_MAX];
static pid_t owner;

static void kill_running(void)
{
	if (getpid() != owner) /* a forked test child exiting: not its daemons */
		return;
	for (int i = 0; i < RUNNING_MAX; i++) {
		if (running[i] > 0) {
			kill(running[i], SIGKILL);
			waitpid(running[i], NULL, 0);
			running[i] = 0;
		}
	}
}

static int running_add(pid_t pid)
{
	if (!owner) {
		owner = getpid();
		atexit(kill_running);
	}
	for (int i = 0; i < RUNNING_MAX; i++) {
		if (running[i] <= 0) {
			running[i] = pid;
			return 0;
		}
	}
	return -ENOSPC;
}

static void running_del(pid_t pid)
{
	for (int i = 0; i < RUNNING_MAX; i++)
		if (running[i] == pid)
			running[i] = 0;
}

/* ---- the box ---------------------------------------------------------------- */

int test_box_init(struct test_box *box, const char *parent, const char *name, const char *conf_name)
{
	memset(box, 0, sizeof(*box));
	box->pid = -1;
	if ((size_t)snprintf(box->dir, sizeof(box->dir), "%s/%s", parent, name) >=
		sizeof(box->dir) ||
	    (size_t)snprintf(box->conf, sizeof(box->conf), "%s/%s", box->dir, conf_name) >=
		sizeof(box->conf))
		return -ENAMETOOLONG;
	snprintf(box->log, sizeof(box->log), "%s/log", box->dir);
	snprintf(box->db, sizeof(box->db), "%s/edgebox.db", box->dir);
	if (mkdir(box->dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The repository's agent files (the working directory is the repository). */
static const char conf_tail[] = "[agent]\nscope_rules = @REPO@/config/scope_rules.conf\n"
				"signals = @REPO@/config/signals.conf\n"
				"archetypes = @REPO@/config/archetypes.conf\n"
				"skills = @REPO@/skills/manifest.conf\ncatalog = @REPO@/catalog\n"
				"[control]\nsocket = none\n";

/* Writes text to f, @DIR@ and @REPO@ replaced. */
static void put_expanded(FILE *f, const char *text, const char *dir, const char *repo)
{
	while (*text) {
		if (strncmp(text, "@DIR@", 5) == 0) {
			fputs(dir, f);
			text += 5;
		} else if (strncmp(text, "@REPO@", 6) == 0) {
			fputs(repo, f);
			text += 6;
		} else {
			fputc(*text++, f);
		}
	}
}

static int put_conf(const struct test_box *box, const char *mode, const char *text, bool tail)
{
	char cwd[256];
	FILE *f;

	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	f = fopen(box->conf, mode);
	if (!f)
		return -errno;
	put_expanded(f, text, box->dir, cwd);
	if (tail)
		put_expanded(f, conf_tail, box->dir, cwd);
	return fclose(f) == 0 ? 0 : -errno;
}

int test_box_write_conf(const struct test_box *box, const char *text)
{
	return put_conf(box, "w", text, true);
}

int test_box_append_conf(const struct test_box *box, const char *text)
{
	return put_conf(box, "a", text, false);
}

int test_box_start(struct test_box *box, const char *const *sets)
{
	const char *argv[4 + 2 * SETS_MAX] = {"edgeboxd", "--config", box->conf};
	char path[600];
	int n = 3, fd, err;
	pid_t pid;

	if (box->pid > 0)
		return -EBUSY;
	for (; sets && *sets; sets++) {
		if (n == 3 + 2 * SETS_MAX)
			return -E2BIG;
		argv[n++] = "--set";
		argv[n++] = *sets;
	}
	if (test_bin_path("edgeboxd", path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	fd = open(box->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	err = errno;
	close(fd);
	if (pid < 0)
		return -err;
	box->pid = pid;
	if (running_add(pid) < 0) { /* a test that leaks boxes: stop it here */
		test_box_signal(box, SIGKILL);
		test_box_wait(box, 5000);
		return -ENOSPC;
	}
	return 0;
}

int test_box_signal(const struct test_box *box, int sig)
{
	if (box->pid <= 0)
		return -ECHILD;
	return kill(box->pid, sig) == 0 ? 0 : -errno;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int test_box_wait(struct test_box *box, int ms)
{
	long long deadline = now_ms() + ms;
	int status;

	if (box->pid <= 0)
		return -ECHILD;
	for (;;) {
		pid_t r = waitpid(box->pid, &status, WNOHANG);

		if (r == box->pid) {
			running_del(box->pid);
			box->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

int test_box_stop(struct test_box *box)
{
	int rc = test_box_signal(box, SIGTERM);

	if (rc < 0)
		return rc;
	rc = test_box_wait(box, 5000);
	if (rc == -ETIMEDOUT) {
		test_box_signal(box, SIGKILL);
		test_box_wait(box, 5000);
	}
	return rc;
}

const char *test_box_log(const struct test_box *box)
{
	static char *text;
	FILE *f = fopen(box->log, "r");
	struct stat st;
	size_t n = 0;

	free(text);
	text = NULL;
	if (f && fstat(fileno(f), &st) == 0 && (text = malloc((size_t)st.st_size + 1)))
		n = fread(text, 1, (size_t)st.st_size, f); /* a snapshot: the daemon writes on */
	if (f)
		fclose(f);
	if (!text)
		return "";
	text[n] = '\0';
	return text;
}

/* ---- the store ---------------------------------------------------------------- */

int test_store_rows(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

int test_box_rows(const struct test_box *box, const char *sql)
{
	return test_store_rows(box->db, sql);
}

int test_box_rows_soon(const struct test_box *box, const char *sql, int want)
{
	int n = -1;

	for (int i = 0; i < 40 && (n = test_box_rows(box, sql)) != want; i++)
		usleep(50000);
	return n;
}

/* ---- a client of the daemon's sockets ------------------------------------------ */

int test_box_connect(const struct test_box *box, const char *name, struct test_client *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err = ECONNREFUSED;

	c->fd = -1;
	c->len = 0;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", box->dir, name) >=
	    sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	for (int i = 0; i < 300; i++) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			return -errno;
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		err = errno;
		close(c->fd);
		c->fd = -1;
		usleep(20000);
	}
	return -err;
}

/* Reads until c->buf holds a whole line: its length (the '\n' at buf[n]) or -errno. */
static int fill_line(struct test_client *c, int ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	if (c->fd < 0)
		return -EBADF;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t n;
		int r;

		if (nl)
			return (int)(nl - c->buf);
		if (c->len == sizeof(c->buf))
			return -EMSGSIZE;
		r = poll(&p, 1, ms);
		if (r == 0)
			return -ETIMEDOUT;
		n = r < 0 ? -1 : read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			c->len += (size_t)n;
	}
}

/* Forgets the line of length n and its '\n'. */
static void drop_line(struct test_client *c, int n)
{
	c->len -= (size_t)n + 1;
	memmove(c->buf, c->buf + n + 1, c->len);
}

int test_client_line(struct test_client *c, int ms, char *out, size_t len)
{
	int n = fill_line(c, ms);

	if (n < 0)
		return n;
	if ((size_t)n >= len) {
		drop_line(c, n);
		return -EMSGSIZE;
	}
	memcpy(out, c->buf, (size_t)n);
	out[n] = '\0';
	drop_line(c, n);
	return n;
}

cJSON *test_client_next(struct test_client *c, int ms)
{
	for (;;) {
		int n = fill_line(c, ms);
		cJSON *m;

		if (n < 0)
			return NULL;
		c->buf[n] = '\0';
		m = cJSON_Parse(c->buf);
		drop_line(c, n);
		if (m)
			return m;
	}
}

cJSON *test_client_until(struct test_client *c, const char *want, int ms, char *text, size_t len)
{
	cJSON *m;

	while ((m = test_client_next(c, ms))) {
		if (text && strcmp(test_msg_str(m, "type"), "token") == 0)
			strncat(text, test_msg_str(m, "text"), len - strlen(text) - 1);
		if (strcmp(test_msg_str(m, "type"), want) == 0)
			return m;
		cJSON_Delete(m);
	}
	return NULL;
}

int test_client_send(struct test_client *c, const char *line)
{
	size_t n = strlen(line), off = 0;

	while (off < n) {
		ssize_t k = send(c->fd, line + off, n - off, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		off += (size_t)k;
	}
	return 0;
}

void test_client_close(struct test_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

const char *test_msg_str(const cJSON *m, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(m, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}
