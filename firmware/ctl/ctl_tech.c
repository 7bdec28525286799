/*
 * edgeboxctl's technician commands: diag, status, logs, config, pair,
 * unpair, bundle. They talk to edgeboxd's control socket (firmware/control.h)
 * and, when the daemon is not there, do what they can directly (diag checks
 * the devices, status reads the status file, logs/pair --list/unpair open the
 * store). docs/technicians.md is the technician's page.
 *
 * Exit status (CTL_EXIT_*): 0 ok, 1 a check or action failed, 2 usage,
 * 3 the daemon is not running (or its status is stale) and the command
 * needs it.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "firmware/config.h"
#include "firmware/control.h"
#include "firmware/ctl/ctl.h"
#include "firmware/diag.h"
#include "firmware/store.h"

#ifndef EDGEBOX_VERSION
#define EDGEBOX_VERSION "0.1.0"
#endif

#define DEFAULT_CONFIG "/etc/edgebox/edgebox.conf"
#define DEFAULT_SOCKET "/run/edgebox/control.sock"
#define DEFAULT_STATUS_FILE "/run/edgebox/status.json"
#define DEFAULT_STORE "/var/lib/edgebox/store.db"
#define REQUEST_TIMEOUT_MS 5000
#define DIAG_TIMEOUT_MS 60000 /* the daemon hashes models and probes the LLM */
#define STATUS_STALE_S 10.0
#define STATUS_FILE_MAX (1024 * 1024)
#define BUNDLE_AUDIT_DEFAULT 500
#define PATH_LEN 4096

int ctl_diag(int argc, char **argv);
int ctl_status(int argc, char **argv);
int ctl_logs(int argc, char **argv);
int ctl_config(int argc, char **argv);
int ctl_pair(int argc, char **argv);
int ctl_unpair(int argc, char **argv);
int ctl_bundle(int argc, char **argv);

/* ---- common -------------------------------------------------------------------------- */

struct common {
	const char *socket; /* --socket, else [control] socket of the config, else the default */
	const char *config; /* --config, else DEFAULT_CONFIG */
	bool json;
	char socket_buf[CONTROL_PATH_MAX];
};

/*
 * The options the subcommands share: --config, --socket, --json, and --store
 * for those that can read the store directly (store non-NULL). 1 when c was
 * one of them.
 */
static int common_opt(int c, struct common *o, const char **store)
{
	switch (c) {
	case 'c':
		o->config = optarg;
		return 1;
	case 'S':
		o->socket = optarg;
		return 1;
	case 'j':
		o->json = true;
		return 1;
	case 'd':
		if (!store)
			return 0;
		*store = optarg;
		return 1;
	default:
		return 0;
	}
}

static int unexpected(const char *cmd, const char *arg)
{
	fprintf(stderr, "edgeboxctl %s: unexpected argument '%s'\n", cmd, arg);
	return CTL_EXIT_USAGE;
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

static const char *config_path_of(const struct common *o)
{
	return o->config ? o->config : DEFAULT_CONFIG;
}

/* A path key of the config, or def when the config or the key is not there. */
static void config_value_path(const char *cfgpath, const char *sec, const char *key,
			      const char *def, char *buf, size_t len)
{
	struct config_error err;
	struct config *c;

	snprintf(buf, len, "%s", def);
	if (access(cfgpath, R_OK) < 0 || config_load(cfgpath, &c, &err) < 0)
		return;
	if (config_path(c, sec, key, def, false, buf, len, &err) < 0)
		snprintf(buf, len, "%s", def);
	config_free(c);
}

static const char *socket_of(struct common *o)
{
	if (o->socket)
		return o->socket;
	config_value_path(config_path_of(o), "control", "socket", DEFAULT_SOCKET, o->socket_buf,
			  sizeof(o->socket_buf));
	return o->socket_buf;
}

/* The daemon is simply not there (as opposed to refusing us). */
static bool no_daemon(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED || rc == -ENOTSOCK;
}

/* edgeboxd beside this binary, or in $EDGEBOX_BIN; NULL when neither exists. */
static const char *find_edgeboxd(char *buf, size_t len)
{
	char self[PATH_LEN];
	const char *bin = getenv("EDGEBOX_BIN");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash && (size_t)(slash - self) + sizeof("/edgeboxd") <= len) {
			memcpy(buf, self, (size_t)(slash - self));
			memcpy(buf + (slash - self), "/edgeboxd", sizeof("/edgeboxd"));
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	if (bin) {
		snprintf(buf, len, "%s/edgeboxd", bin);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

static char *read_file(const char *path, size_t max, int *ret_errno)
{
	struct stat st;
	char *buf;
	FILE *f = fopen(path, "r");

	if (!f) {
		*ret_errno = errno;
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || (size_t)st.st_size > max) {
		*ret_errno = EFBIG;
		fclose(f);
		return NULL;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
		*ret_errno = EIO;
	}
	fclose(f);
	return buf;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void fmt_ms(double ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "-");
}

/* A growing text: the lines a request brought back. */
struct lines {
	char *p;
	size_t len, cap;
	bool failed;
};

static void lines_add(struct lines *l, const char *s, size_t n)
{
	if (l->failed)
		return;
	if (l->len + n + 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8192;
		char *np;

		while (cap < l->len + n + 2)
			cap *= 2;
		np = realloc(l->p, cap);
		if (!np) {
			l->failed = true;
			return;
		}
		l->p = np;
		l->cap = cap;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	l->p[l->len++] = '\n';
	l->p[l->len] = '\0';
}

static int collect_line(const char *line, size_t len, void *ctx)
{
	lines_add(ctx, line, len);
	return 0;
}

/* An error line from the server: printed, and true. */
static bool server_error(const char *line)
{
	cJSON *o = cJSON_Parse(line);
	bool is_err = cJSON_IsObject(o) && strcmp(jstr(o, "type"), "error") == 0;

	if (is_err)
		fprintf(stderr, "edgeboxctl: edgeboxd says %s: %s\n", jstr(o, "error"),
			jstr(o, "detail"));
	cJSON_Delete(o);
	return is_err;
}

/* One request; the response lines into *ret. 0 or the control_request -errno
 * (printed unless quiet). */
static int ask(struct common *o, const char *req, int timeout_ms, struct lines *ret, bool quiet)
{
	char err[CONTROL_ERROR_MAX];
	int rc;

	for (int attempt = 0;; attempt++) {
		struct timespec pause = {0, 200 * 1000000};

		memset(ret, 0, sizeof(*ret));
		rc = control_request(socket_of(o), req, timeout_ms, collect_line, ret, err,
				     sizeof(err));
		/* other technicians' requests fill the server for a moment: wait a little */
		if (rc < 0 || attempt == 3 || !ret->p || !strstr(ret->p, "\"error\":\"busy\""))
			break;
		free(ret->p);
		nanosleep(&pause, NULL);
	}
	if (rc < 0 && !quiet)
		fprintf(stderr, "edgeboxctl: %s\n", err);
	if (rc >= 0 && ret->failed) {
		fprintf(stderr, "edgeboxctl: out of memory\n");
		rc = -ENOMEM;
	}
	return rc < 0 ? rc : 0;
}

/* Calls fn for each line of text. */
static void each_line(const char *text, void (*fn)(const char *line, void *ctx), void *ctx)
{
	char *copy = strdup(text ? text : ""), *save = NULL;

	for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save))
		fn(l, ctx);
	free(copy);
}

/* ---- diag --------------------------------------------------------------------------- */

struct diag_out {
	bool json;
	int counts[3];
	bool error;
};

static void print_check(const struct diag_check *c, struct diag_out *d)
{
	if (c->result <= DIAG_FAIL)
		d->counts[c->result]++;
	if (d->json) {
		char *line;

		if (diag_check_json(c, &line) == 0) {
			fputs(line, stdout);
			free(line);
		}
		return;
	}
	printf("%s  %-9s %s\n", diag_result_name(c->result), c->name, c->detail);
	if (c->fix[0] && c->result != DIAG_PASS)
		printf("      %-9s fix: %s\n", "", c->fix);
}

static void diag_local_cb(const struct diag_check *c, void *ctx)
{
	print_check(c, ctx);
}

static void diag_remote_line(const char *line, void *ctx)
{
	struct diag_out *d = ctx;
	struct diag_check c;

	if (diag_check_from_json(line, &c) == 0)
		print_check(&c, d);
	else if (server_error(line))
		d->error = true;
}

/* The status file when it is fresh and says running, for the local checks. */
static char *fresh_status_file(const char *cfgpath)
{
	char path[PATH_LEN];
	struct stat st;
	char *text;
	int e;

	config_value_path(cfgpath, "daemon", "status_file", DEFAULT_STATUS_FILE, path,
			  sizeof(path));
	if (stat(path, &st) < 0 || difftime(time(NULL), st.st_mtime) > STATUS_STALE_S)
		return NULL;
	text = read_file(path, STATUS_FILE_MAX, &e);
	if (text && !strstr(text, "\"daemon\":\"running\"")) {
		free(text);
		text = NULL;
	}
	return text;
}

/* Runs the checks here; the number of FAILs, or -errno. */
static int diag_local(const char *cfgpath, diag_fn fn, void *ctx)
{
	struct diag_env env = {.config_path = cfgpath};
	char daemon[PATH_LEN];
	char *status = fresh_status_file(cfgpath);
	struct diag *d;
	int rc;

	env.status_json = status;
	env.edgeboxd_path = find_edgeboxd(daemon, sizeof(daemon));
	rc = diag_new(&env, &d);
	if (rc == -EINVAL && status) { /* a half-written status file: check without it */
		env.status_json = NULL;
		rc = diag_new(&env, &d);
	}
	free(status);
	if (rc < 0)
		return rc;
	rc = diag_run(d, fn, ctx);
	diag_free(d);
	return rc;
}

int ctl_diag(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"local", no_argument, NULL, 'L'},
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 'S'},
	    {0},
	};
	struct common o = {0};
	struct diag_out out = {0};
	struct lines l;
	bool local = false;
	int c, rc;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl diag [--json] [--local] [--config FILE] [--socket PATH]\n"
		    "One line per check with PASS, WARN or FAIL and the fix: config, BLE adapter\n"
		    "and advertisements, camera frame rate, GPIO lines, watchdog, face models and\n"
		    "their SHA-256, database integrity and size, LLM reachability and time to\n"
		    "first token, disk space, clock. Asks the running edgeboxd (its live status);\n"
		    "when it is not running, or with --local, checks the devices directly from\n"
		    "the config (default %s).\n"
		    "  --json     one JSON object per check\n"
		    "Exit status: 0 no FAIL, 1 at least one FAIL, 2 usage.\n",
		    DEFAULT_CONFIG);
		return CTL_EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = out.json = true;
			break;
		case 'L':
			local = true;
			break;
		default:
			if (!common_opt(c, &o, NULL))
				return CTL_EXIT_USAGE;
			break;
		}
	}
	if (optind < argc)
		return unexpected("diag", argv[optind]);
	if (!local) {
		rc = ask(&o, "{\"v\":1,\"cmd\":\"diag\"}", DIAG_TIMEOUT_MS, &l, true);
		if (rc == 0) {
			each_line(l.p, diag_remote_line, &out);
			free(l.p);
			if (out.error)
				return CTL_EXIT_FAIL;
			goto summary;
		}
		free(l.p);
		if (!o.json)
			fprintf(stderr,
				"edgeboxctl: edgeboxd is not reachable at %s (%s): checking "
				"directly from %s\n",
				socket_of(&o), strerror(-rc), config_path_of(&o));
	}
	rc = diag_local(config_path_of(&o), diag_local_cb, &out);
	if (rc < 0) {
		fprintf(stderr, "edgeboxctl diag: cannot run the checks: %s\n", strerror(-rc));
		return CTL_EXIT_FAIL;
	}
summary:
	if (!o.json)
		printf("\n%d passed, %d warnings, %d failed\n", out.counts[DIAG_PASS],
		       out.counts[DIAG_WARN], out.counts[DIAG_FAIL]);
	return out.counts[DIAG_FAIL] ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

/* ---- status -------------------------------------------------------------------------- */

static void print_status(const cJSON *root, double age_s)
{
	const cJSON *stage, *ring, *wd, *sess;

	printf("edgeboxd pid %.0f, %s, up %.0f s, %s%s%s (status %.1f s old)\n", jnum(root, "pid"),
	       jstr(root, "daemon"), jnum(root, "uptime_s"),
	       cJSON_IsTrue(cJSON_GetObjectItem(root, "healthy")) ? "healthy" : "UNHEALTHY",
	       *jstr(root, "unhealthy_reason") ? ": " : "", jstr(root, "unhealthy_reason"), age_s);
	printf("\n%-13s %-8s %-14s %10s %8s %6s %8s %10s %10s\n", "STAGE", "STATE", "SCHED",
	       "ITEMS", "ITEMS/S", "ERRORS", "RESTARTS", "P50 us", "P99 us");
	cJSON_ArrayForEach(stage, cJSON_GetObjectItem(root, "stages"))
	{
		char rate[16] = "-";

		if (cJSON_GetObjectItem(stage, "items_per_s"))
			snprintf(rate, sizeof(rate), "%.1f", jnum(stage, "items_per_s"));
		printf("%-13s %-8s %-14s %10.0f %8s %6.0f %8.0f %10.1f %10.1f\n",
		       jstr(stage, "name"), jstr(stage, "state"), jstr(stage, "sched"),
		       jnum(stage, "items"), rate, jnum(stage, "errors"), jnum(stage, "restarts"),
		       jnum(stage, "latency_p50_us"), jnum(stage, "latency_p99_us"));
		if (*jstr(stage, "last_error"))
			printf("  last error: %s\n", jstr(stage, "last_error"));
	}
	printf("\n%-8s %8s %6s %10s %10s %10s %8s %8s\n", "RING", "CAPACITY", "DEPTH", "HIGHWATER",
	       "PUSHED", "POPPED", "DROPS", "REJECTS");
	cJSON_ArrayForEach(ring, cJSON_GetObjectItem(root, "rings"))
	{
		printf("%-8s %8.0f %6.0f %10.0f %10.0f %10.0f %8.0f %8.0f\n", ring->string,
		       jnum(ring, "capacity"), jnum(ring, "depth"), jnum(ring, "high_water"),
		       jnum(ring, "pushed"), jnum(ring, "popped"), jnum(ring, "drops"),
		       jnum(ring, "rejects"));
	}
	wd = cJSON_GetObjectItem(root, "watchdog");
	printf("\nwatchdog: %s, %.0f keepalives", jstr(wd, "driver"), jnum(wd, "keepalives"));
	if (cJSON_GetObjectItem(wd, "expired"))
		printf(", %.0f expiries", jnum(wd, "expired"));
	printf("\n");
	sess = cJSON_GetObjectItem(root, "sessions");
	if (cJSON_IsArray(sess)) {
		const cJSON *s;

		if (cJSON_GetArraySize(sess) == 0)
			printf("\nsession: none open\n");
		cJSON_ArrayForEach(s, sess)
		{
			char when[32];

			fmt_ms(jnum(s, "opened_at"), when, sizeof(when));
			printf("\nsession %.0f: %s%s%s, %.0f turns, opened %s UTC, %s visitor\n",
			       jnum(s, "id"), jstr(s, "state"), *jstr(s, "archetype") ? ", " : "",
			       jstr(s, "archetype"), jnum(s, "turns"), when,
			       cJSON_IsTrue(cJSON_GetObjectItem(s, "known_customer"))
				   ? "known"
				   : "anonymous");
		}
	} else if (*jstr(root, "sessions_error")) {
		printf("\nsessions: %s\n", jstr(root, "sessions_error"));
	}
}

/* One status: printed; returns the exit status. */
/* file_only: --status-file without --socket, the file is what was asked for. */
static int status_once(struct common *o, const char *status_file, bool file_only, bool watch)
{
	char *text = NULL, *owned = NULL;
	bool from_file = false;
	double age = 0;
	struct lines l = {0};
	cJSON *resp = NULL, *root;
	int rc;

	rc = file_only ? -ENOENT
		       : ask(o, "{\"v\":1,\"cmd\":\"status\"}", REQUEST_TIMEOUT_MS, &l, true);
	if (rc == 0) {
		resp = cJSON_Parse(l.p ? l.p : "");
		free(l.p);
		if (!cJSON_IsObject(resp) || strcmp(jstr(resp, "type"), "status") != 0) {
			char *line = resp ? cJSON_PrintUnformatted(resp) : NULL;

			if (!line || !server_error(line))
				fprintf(stderr, "edgeboxctl: unexpected answer from %s\n",
					socket_of(o));
			cJSON_free(line);
			cJSON_Delete(resp);
			return CTL_EXIT_FAIL;
		}
		root = cJSON_GetObjectItem(resp, "status");
		age = jnum(root, "status_age_s");
		owned = cJSON_PrintUnformatted(root);
		text = owned;
	} else {
		struct stat st;
		int e = 0;

		free(l.p);
		if (!no_daemon(rc) && rc != -EACCES) {
			fprintf(stderr, "edgeboxctl: %s: %s\n", socket_of(o), strerror(-rc));
			return CTL_EXIT_FAIL;
		}
		from_file = true;
		owned = read_file(status_file, STATUS_FILE_MAX, &e);
		if (!owned && file_only) {
			fprintf(stderr,
				"edgeboxctl: cannot read %s: %s (is edgeboxd running? `systemctl "
				"status edgeboxd`)\n",
				status_file, strerror(e));
			return CTL_EXIT_NO_DAEMON;
		}
		if (!owned) {
			fprintf(
			    stderr,
			    "edgeboxctl: no control socket at %s (%s) and cannot read %s: %s (is "
			    "edgeboxd running? `systemctl status edgeboxd`)\n",
			    socket_of(o), strerror(-rc), status_file, strerror(e));
			return CTL_EXIT_NO_DAEMON;
		}
		if (!watch && !file_only)
			fprintf(stderr, "edgeboxctl: no control socket at %s (%s); showing %s\n",
				socket_of(o), strerror(-rc), status_file);
		if (stat(status_file, &st) == 0)
			age = difftime(time(NULL), st.st_mtime);
		text = owned;
		resp = cJSON_Parse(text);
		root = resp;
		if (!cJSON_IsObject(root)) {
			fprintf(stderr, "edgeboxctl: %s is not valid JSON\n", status_file);
			cJSON_Delete(resp);
			free(owned);
			return CTL_EXIT_FAIL;
		}
	}
	if (watch)
		printf("\033[H\033[2J");
	if (o->json)
		printf("%s\n", text);
	else
		print_status(root, age);
	rc = cJSON_IsTrue(cJSON_GetObjectItem(root, "healthy")) ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	if (strcmp(jstr(root, "daemon"), "stopped") == 0) {
		fprintf(stderr, "edgeboxctl: edgeboxd has stopped; this is its last status\n");
		rc = CTL_EXIT_NO_DAEMON;
	} else if (age > STATUS_STALE_S) {
		fprintf(stderr, "edgeboxctl: the status is %.0f s old; edgeboxd %s\n", age,
			from_file ? "may be stopped or hung"
				  : "answers but its main loop is stuck");
		rc = CTL_EXIT_NO_DAEMON;
	}
	fflush(stdout);
	if (from_file)
		free(owned);
	else
		cJSON_free(owned);
	cJSON_Delete(resp);
	return rc;
}

int ctl_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"watch", no_argument, NULL, 'w'},
	    {"interval", required_argument, NULL, 'i'},
	    {"status-file", required_argument, NULL, 'f'},
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 'S'},
	    {0},
	};
	struct common o = {0};
	const char *file = NULL;
	char file_buf[PATH_LEN];
	bool watch = false, file_only;
	double interval = 1;
	int c, rc;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl status [--json] [--watch] [--interval S] [--socket PATH]\n"
		    "                         [--config FILE] [--status-file FILE]\n"
		    "Each stage's state, scheduling, items and items/s, errors, restarts and\n"
		    "latency; ring depths and drops; the watchdog; uptime; the open session.\n"
		    "From edgeboxd's control socket ([control] socket of the config, default\n"
		    "%s); without it, from the status file edgeboxd writes\n"
		    "every second (default %s); --status-file alone reads just that file.\n"
		    "  --watch       refresh every --interval seconds (default 1) until Ctrl-C\n"
		    "Exit status: 0 healthy, 1 unhealthy, 3 daemon not running or status stale.\n",
		    DEFAULT_SOCKET, DEFAULT_STATUS_FILE);
		return CTL_EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			watch = true;
			break;
		case 'i': {
			char *end;

			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr,
					"edgeboxctl status: --interval: expected 0.1 to 3600 "
					"seconds, got '%s'\n",
					optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		}
		case 'f':
			file = optarg;
			break;
		default:
			if (!common_opt(c, &o, NULL))
				return CTL_EXIT_USAGE;
			break;
		}
	}
	if (optind < argc)
		return unexpected("status", argv[optind]);
	file_only = file && !o.socket;
	if (!file) {
		config_value_path(config_path_of(&o), "daemon", "status_file", DEFAULT_STATUS_FILE,
				  file_buf, sizeof(file_buf));
		file = file_buf;
	}
	for (;;) {
		struct timespec ts = {(time_t)interval, (long)((interval - (long)interval) * 1e9)};

		rc = status_once(&o, file, file_only, watch);
		if (!watch)
			return rc;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

/* ---- logs ------------------------------------------------------------------------------ */

/* "90s", "30m", "1h", "2d", or a UTC time "YYYY-MM-DD[THH:MM[:SS]]" -> ms since 1970. */
static int parse_since(const char *s, int64_t now_ms, int64_t *ret)
{
	char *end;
	double v = strtod(s, &end);
	struct tm tm;
	const char *rest;

	if (end != s && v >= 0 && end[0] && !end[1] && strchr("smhd", end[0])) {
		double mult = end[0] == 's'   ? 1e3
			      : end[0] == 'm' ? 60e3
			      : end[0] == 'h' ? 3600e3
					      : 86400e3;

		if (v * mult > 3650 * 86400e3)
			return -ERANGE;
		*ret = now_ms - (int64_t)(v * mult);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%d", &tm);
	if (rest && *rest == 'T')
		rest = strptime(rest + 1, "%H:%M", &tm);
	if (rest && *rest == ':')
		rest = strptime(rest + 1, "%S", &tm);
	if (!rest || *rest)
		return -EINVAL;
	*ret = (int64_t)timegm(&tm) * 1000;
	return 0;
}

static void print_log_human(const char *line, void *ctx)
{
	cJSON *o = cJSON_Parse(line), *det;
	const cJSON *f;
	char when[32];

	(void)ctx;
	if (!cJSON_IsObject(o) || strcmp(jstr(o, "type"), "log") != 0) {
		if (o && !server_error(line) && strcmp(jstr(o, "type"), "end") != 0)
			printf("%s\n", line);
		cJSON_Delete(o);
		return;
	}
	fmt_ms(jnum(o, "ts"), when, sizeof(when));
	printf("%s  #%-6.0f ", when, jnum(o, "id"));
	if (jnum(o, "session") > 0)
		printf("session %-5.0f ", jnum(o, "session"));
	else
		printf("%-13s ", "-");
	printf("%-20s", jstr(o, "kind"));
	det = cJSON_GetObjectItem(o, "detail");
	cJSON_ArrayForEach(f, det)
	{
		if (cJSON_IsString(f))
			printf(" %s=%s", f->string, f->valuestring);
		else if (cJSON_IsNumber(f))
			printf(" %s=%g", f->string, f->valuedouble);
		else if (cJSON_IsBool(f))
			printf(" %s=%s", f->string, cJSON_IsTrue(f) ? "true" : "false");
		else {
			char *s = cJSON_PrintUnformatted(f);

			printf(" %s=%s", f->string, s ? s : "?");
			cJSON_free(s);
		}
	}
	if (jnum(o, "withheld") > 0)
		printf(" (%.0f fields withheld)", jnum(o, "withheld"));
	printf("\n");
	cJSON_Delete(o);
}

static void print_log_json(const char *line, void *ctx)
{
	cJSON *o = cJSON_Parse(line);

	(void)ctx;
	if (cJSON_IsObject(o) && strcmp(jstr(o, "type"), "log") == 0)
		printf("%s\n", line);
	else if (o)
		server_error(line);
	cJSON_Delete(o);
}

static int print_log_direct(const char *line, size_t len, void *ctx)
{
	(void)len;
	if (*(bool *)ctx)
		printf("%s\n", line);
	else
		print_log_human(line, NULL);
	return 0;
}

/* The filter as the fields of a logs request. */
static char *filter_request(const struct control_log_filter *f)
{
	cJSON *o = cJSON_CreateObject(), *k;
	char *s;

	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "v", CONTROL_PROTOCOL_VERSION);
	cJSON_AddStringToObject(o, "cmd", "logs");
	if (f->since_ms)
		cJSON_AddNumberToObject(o, "since_ms", (double)f->since_ms);
	if (f->session)
		cJSON_AddNumberToObject(o, "session", (double)f->session);
	cJSON_AddNumberToObject(o, "limit", f->limit);
	if (f->full)
		cJSON_AddBoolToObject(o, "full", true);
	if (f->nkinds) {
		k = cJSON_AddArrayToObject(o, "kinds");
		for (size_t i = 0; i < f->nkinds; i++)
			cJSON_AddItemToArray(k, cJSON_CreateString(f->kinds[i]));
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static int open_store_ro(const char *path, struct store **ret)
{
	struct store_error err;
	int rc;

	rc = store_open(path, STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK | STORE_OPEN_NO_RECOVER,
			ret, NULL, &err);
	if (rc < 0)
		fprintf(stderr, "edgeboxctl: %s%s\n", err.msg,
			rc == -EACCES || rc == -EPERM ? " (the store is root's: sudo)" : "");
	return rc;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bad_number(const char *cmd, const char *opt, const char *val, long min, long max)
{
	fprintf(stderr, "edgeboxctl %s: %s: expected a number from %ld to %ld, got '%s'\n", cmd,
		opt, min, max, val);
	return CTL_EXIT_USAGE;
}

/* strtol of the whole string within [min, max]. */
static bool parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

int ctl_logs(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"since", required_argument, NULL, 's'},   {"kind", required_argument, NULL, 'k'},
	    {"session", required_argument, NULL, 'n'}, {"limit", required_argument, NULL, 'l'},
	    {"full", no_argument, NULL, 'F'},	       {"json", no_argument, NULL, 'j'},
	    {"config", required_argument, NULL, 'c'},  {"socket", required_argument, NULL, 'S'},
	    {"store", required_argument, NULL, 'd'},   {0},
	};
	struct control_log_filter f;
	struct common o = {0};
	const char *store_path = NULL;
	char store_buf[PATH_LEN], *req;
	struct lines l;
	long v;
	int c, rc;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl logs [--since 1h|30m|2d|YYYY-MM-DD[THH:MM[:SS]]]\n"
		    "                       [--kind escalation,tool_call,...] [--session N]\n"
		    "                       [--limit N] [--full] [--json] [--socket PATH]\n"
		    "                       [--config FILE] [--store FILE]\n"
		    "Recent events from the store's audit log (escalations, state changes, tool\n"
		    "calls, offline fallbacks, pairings, ...), newest --limit (default %d, at "
		    "most\n"
		    "%d), printed oldest first. Through edgeboxd; without it, read-only from the\n"
		    "store ([store] path of the config). Details show only fields that carry no\n"
		    "customer data; --full shows them all (root only).\n"
		    "Exit status: 0 ok (also when nothing matched), 1 failed, 2 usage.\n",
		    CONTROL_LOGS_DEFAULT, CONTROL_LOGS_MAX);
		return CTL_EXIT_OK;
	}
	memset(&f, 0, sizeof(f));
	f.limit = CONTROL_LOGS_DEFAULT;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			rc = parse_since(optarg, wall_ms(), &f.since_ms);
			if (rc < 0) {
				fprintf(stderr,
					"edgeboxctl logs: --since: expected a duration such "
					"as 90s, 30m, 1h, 2d (up to 10 years) or a UTC time "
					"YYYY-MM-DD[THH:MM[:SS]], got '%s'\n",
					optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'k': {
			char *copy = strdup(optarg), *save = NULL;

			for (char *k = copy ? strtok_r(copy, ",", &save) : NULL; k;
			     k = strtok_r(NULL, ",", &save)) {
				if (f.nkinds == CONTROL_KINDS_MAX || strlen(k) > CONTROL_KIND_MAX) {
					fprintf(stderr,
						"edgeboxctl logs: --kind: at most %d kinds of "
						"at most %d bytes each\n",
						CONTROL_KINDS_MAX, CONTROL_KIND_MAX);
					free(copy);
					return CTL_EXIT_USAGE;
				}
				snprintf(f.kinds[f.nkinds++], CONTROL_KIND_MAX + 1, "%s", k);
			}
			free(copy);
			break;
		}
		case 'n':
			if (!parse_long(optarg, 1, LONG_MAX, &v))
				return bad_number("logs", "--session", optarg, 1, LONG_MAX);
			f.session = v;
			break;
		case 'l':
			if (!parse_long(optarg, 1, CONTROL_LOGS_MAX, &v))
				return bad_number("logs", "--limit", optarg, 1, CONTROL_LOGS_MAX);
			f.limit = (unsigned)v;
			break;
		case 'F':
			f.full = true;
			break;
		default:
			if (!common_opt(c, &o, &store_path))
				return CTL_EXIT_USAGE;
			break;
		}
	}
	if (optind < argc)
		return unexpected("logs", argv[optind]);
	if (!store_path) {
		req = filter_request(&f);
		if (!req)
			return CTL_EXIT_FAIL;
		rc = ask(&o, req, REQUEST_TIMEOUT_MS * 4, &l, true);
		cJSON_free(req);
		if (rc == 0) {
			bool err = l.p && strstr(l.p, "\"type\":\"error\"");

			each_line(l.p, o.json ? print_log_json : print_log_human, NULL);
			free(l.p);
			return err ? CTL_EXIT_FAIL : CTL_EXIT_OK;
		}
		free(l.p);
		if (!no_daemon(rc) && rc != -EACCES) {
			fprintf(stderr, "edgeboxctl: %s: %s\n", socket_of(&o), strerror(-rc));
			return CTL_EXIT_FAIL;
		}
		config_value_path(config_path_of(&o), "store", "path", DEFAULT_STORE, store_buf,
				  sizeof(store_buf));
		store_path = store_buf;
		if (!o.json)
			fprintf(stderr,
				"edgeboxctl: edgeboxd is not reachable at %s (%s): reading "
				"%s directly\n",
				socket_of(&o), strerror(-rc), store_path);
	}
	{
		struct store *s;

		if (open_store_ro(store_path, &s) < 0)
			return CTL_EXIT_FAIL;
		rc = control_logs_query(s, &f, print_log_direct, &o.json);
		if (rc < 0)
			fprintf(stderr, "edgeboxctl: %s\n", store_errmsg(s));
		store_close(s);
	}
	return rc < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

/* ---- config -------------------------------------------------------------------------- */

int ctl_config(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"socket", required_argument, NULL, 'S'},
	    {"config", required_argument, NULL, 'c'},
	    {0},
	};
	char msg[DIAG_DETAIL_MAX], daemon[PATH_LEN];
	struct common o = {0};
	int c, rc;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl config check FILE [--json]\n"
		    "       edgeboxctl config show [--socket PATH] [--config FILE]\n"
		    "check: the syntax, every section and key edgeboxd reads with its type and\n"
		    "range, unknown keys (typos), the files the agent loads, and edgeboxd's own\n"
		    "--check-config when edgeboxd is installed beside edgeboxctl. Nothing is\n"
		    "opened: safe on a running box before `systemctl reload edgeboxd`.\n"
		    "show: the running edgeboxd's config, secret values redacted.\n"
		    "Exit status: 0 valid, 1 invalid (the message names file, line, key, what\n"
		    "was expected), 2 usage, 3 (show) edgeboxd not running.\n");
		return CTL_EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		default:
			if (!common_opt(c, &o, NULL))
				return CTL_EXIT_USAGE;
			break;
		}
	}
	if (optind < argc && strcmp(argv[optind], "show") == 0 && optind + 1 == argc) {
		struct lines l;
		cJSON *resp;

		rc = ask(&o, "{\"v\":1,\"cmd\":\"config\"}", REQUEST_TIMEOUT_MS, &l, false);
		if (rc < 0)
			return no_daemon(rc) ? CTL_EXIT_NO_DAEMON : CTL_EXIT_FAIL;
		resp = cJSON_Parse(l.p ? l.p : "");
		if (cJSON_IsObject(resp) && strcmp(jstr(resp, "type"), "config") == 0) {
			printf("# %s (secret values redacted)\n%s", jstr(resp, "path"),
			       jstr(resp, "text"));
			rc = CTL_EXIT_OK;
		} else {
			if (!l.p || !server_error(l.p))
				fprintf(stderr, "edgeboxctl: unexpected answer\n");
			rc = CTL_EXIT_FAIL;
		}
		cJSON_Delete(resp);
		free(l.p);
		return rc;
	}
	if (optind + 2 != argc || strcmp(argv[optind], "check") != 0) {
		fprintf(stderr, "Usage: edgeboxctl config check FILE [--json] | config show\n");
		return CTL_EXIT_USAGE;
	}
	rc = diag_config_check(argv[optind + 1], find_edgeboxd(daemon, sizeof(daemon)), msg,
			       sizeof(msg));
	if (o.json) {
		cJSON *j = cJSON_CreateObject();
		char *s;

		cJSON_AddStringToObject(j, "file", argv[optind + 1]);
		cJSON_AddBoolToObject(j, "valid", rc == 0);
		cJSON_AddStringToObject(j, "message", msg);
		s = cJSON_PrintUnformatted(j);
		printf("%s\n", s ? s : "{}");
		cJSON_free(s);
		cJSON_Delete(j);
	} else if (rc == 0) {
		printf("%s\n", msg);
	} else {
		fprintf(stderr, "edgeboxctl: %s\n", msg);
	}
	return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

/* ---- pair, unpair ---------------------------------------------------------------------- */

static int print_device(const char *line, size_t len, void *ctx)
{
	bool json = *(bool *)ctx;
	cJSON *o;
	char paired[32], revoked[32];

	(void)len;
	o = cJSON_Parse(line);
	if (!cJSON_IsObject(o) || strcmp(jstr(o, "type"), "device") != 0) {
		if (o)
			server_error(line);
		cJSON_Delete(o);
		return 0;
	}
	if (json) {
		printf("%s\n", line);
	} else {
		fmt_ms(jnum(o, "paired_at"), paired, sizeof(paired));
		fmt_ms(jnum(o, "revoked_at"), revoked, sizeof(revoked));
		printf("%-6.0f %-32s %-20s %s\n", jnum(o, "id"), jstr(o, "name"), paired,
		       jnum(o, "revoked_at") > 0 ? revoked : "live");
	}
	cJSON_Delete(o);
	return 0;
}

static void print_device_line(const char *line, void *ctx)
{
	print_device(line, strlen(line), ctx);
}

static int pair_list(struct common *o, bool all, const char *store_path)
{
	char err[CONTROL_ERROR_MAX], store_buf[PATH_LEN];
	struct lines l;
	int rc;

	if (!o->json)
		printf("%-6s %-32s %-20s %s\n", "ID", "NAME", "PAIRED (UTC)", "REVOKED (UTC)");
	if (!store_path) {
		rc = ask(o,
			 all ? "{\"v\":1,\"cmd\":\"devices\",\"all\":true}"
			     : "{\"v\":1,\"cmd\":\"devices\"}",
			 REQUEST_TIMEOUT_MS, &l, true);
		if (rc == 0) {
			bool failed = l.p && strstr(l.p, "\"type\":\"error\"");

			each_line(l.p, print_device_line, &o->json);
			free(l.p);
			return failed ? CTL_EXIT_FAIL : CTL_EXIT_OK;
		}
		free(l.p);
		if (!no_daemon(rc) && rc != -EACCES) {
			fprintf(stderr, "edgeboxctl: %s: %s\n", socket_of(o), strerror(-rc));
			return CTL_EXIT_FAIL;
		}
		config_value_path(config_path_of(o), "store", "path", DEFAULT_STORE, store_buf,
				  sizeof(store_buf));
		store_path = store_buf;
		if (!o->json)
			fprintf(stderr, "edgeboxctl: edgeboxd is not reachable (%s): reading %s\n",
				strerror(-rc), store_path);
	}
	rc = control_devices_list(store_path, all, print_device, &o->json, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "edgeboxctl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

int ctl_pair(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"name", required_argument, NULL, 'n'},   {"list", no_argument, NULL, 'l'},
	    {"all", no_argument, NULL, 'a'},	      {"json", no_argument, NULL, 'j'},
	    {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 'S'},
	    {"store", required_argument, NULL, 'd'},  {0},
	};
	struct common o = {0};
	const char *name = NULL, *store_path = NULL;
	bool list = false, all = false;
	struct lines l;
	cJSON *req, *resp;
	char *s;
	int c, rc;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl pair [--name NAME] [--json] [--socket PATH] [--config "
		    "FILE]\n"
		    "       edgeboxctl pair --list [--all] [--json] [--store FILE]\n"
		    "Pairs a staff tablet: edgeboxd issues a one-time %d-digit PIN, valid a few\n"
		    "minutes ([control] pin_ttl_s); enter it on the tablet's pairing screen and\n"
		    "the tablet gets its own device token. Only the token's hash is stored.\n"
		    "  --name NAME  the device's name (else the tablet's own)\n"
		    "  --list       the paired devices (--all: the revoked ones too); works\n"
		    "               without edgeboxd, read-only from the store\n"
		    "Exit status: 0 ok, 1 failed, 2 usage, 3 edgeboxd not running (a PIN lives\n"
		    "in its memory only).\n",
		    CONTROL_PIN_DIGITS);
		return CTL_EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'l':
			list = true;
			break;
		case 'a':
			all = true;
			break;
		default:
			if (!common_opt(c, &o, &store_path))
				return CTL_EXIT_USAGE;
			break;
		}
	}
	if (optind < argc)
		return unexpected("pair", argv[optind]);
	if (list)
		return pair_list(&o, all, store_path);
	if (all || store_path) {
		fprintf(stderr, "edgeboxctl pair: --all and --store go with --list\n");
		return CTL_EXIT_USAGE;
	}
	if (name && (!*name || strlen(name) > CONTROL_NAME_MAX)) {
		fprintf(stderr, "edgeboxctl pair: --name: expected 1 to %d bytes\n",
			CONTROL_NAME_MAX);
		return CTL_EXIT_USAGE;
	}
	req = cJSON_CreateObject();
	cJSON_AddNumberToObject(req, "v", CONTROL_PROTOCOL_VERSION);
	cJSON_AddStringToObject(req, "cmd", "pair");
	if (name)
		cJSON_AddStringToObject(req, "name", name);
	s = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	rc = s ? ask(&o, s, REQUEST_TIMEOUT_MS, &l, true) : -ENOMEM;
	cJSON_free(s);
	if (rc < 0) {
		if (no_daemon(rc)) {
			fprintf(stderr,
				"edgeboxctl: edgeboxd is not running (%s: %s); a pairing PIN "
				"lives in its memory only: start it (`systemctl start "
				"edgeboxd`) and run pair again\n",
				socket_of(&o), strerror(-rc));
			return CTL_EXIT_NO_DAEMON;
		}
		fprintf(stderr, "edgeboxctl: %s: %s\n", socket_of(&o), strerror(-rc));
		return CTL_EXIT_FAIL;
	}
	resp = cJSON_Parse(l.p ? l.p : "");
	if (!cJSON_IsObject(resp) || strcmp(jstr(resp, "type"), "pin") != 0) {
		if (!l.p || !server_error(l.p))
			fprintf(stderr, "edgeboxctl: unexpected answer\n");
		cJSON_Delete(resp);
		free(l.p);
		return CTL_EXIT_FAIL;
	}
	if (o.json)
		fputs(l.p, stdout);
	else
		printf("PIN %s, valid %.0f s, once: enter it on the staff tablet's pairing "
		       "screen%s%s\n",
		       jstr(resp, "pin"), jnum(resp, "expires_in_s"),
		       *jstr(resp, "name") ? "; it will be paired as " : "", jstr(resp, "name"));
	cJSON_Delete(resp);
	free(l.p);
	return CTL_EXIT_OK;
}

int ctl_unpair(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"config", required_argument, NULL, 'c'},
	    {"socket", required_argument, NULL, 'S'},
	    {"store", required_argument, NULL, 'd'},
	    {0},
	};
	struct common o = {0};
	const char *store_path = NULL;
	char req[96], store_buf[PATH_LEN];
	struct lines l;
	long id;
	int c, rc;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl unpair DEVICE_ID [--json] [--socket PATH] [--config FILE]\n"
		    "                         [--store FILE]\n"
		    "Revokes a staff tablet's token (ids from `edgeboxctl pair --list`): its next\n"
		    "hello is refused. Through edgeboxd; without it, directly in the store.\n"
		    "Exit status: 0 revoked, 1 failed (no such live device), 2 usage.\n");
		return CTL_EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		default:
			if (!common_opt(c, &o, &store_path))
				return CTL_EXIT_USAGE;
			break;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr,
			"Usage: edgeboxctl unpair DEVICE_ID (see `edgeboxctl pair --list`)\n");
		return CTL_EXIT_USAGE;
	}
	if (!parse_long(argv[optind], 1, LONG_MAX, &id))
		return bad_number("unpair", "DEVICE_ID", argv[optind], 1, LONG_MAX);
	if (!store_path) {
		snprintf(req, sizeof(req), "{\"v\":1,\"cmd\":\"unpair\",\"device\":%ld}", id);
		rc = ask(&o, req, REQUEST_TIMEOUT_MS, &l, true);
		if (rc == 0) {
			cJSON *resp = cJSON_Parse(l.p ? l.p : "");
			bool ok =
			    cJSON_IsObject(resp) && strcmp(jstr(resp, "type"), "unpaired") == 0;

			if (ok && o.json)
				fputs(l.p, stdout);
			else if (ok)
				printf("device %ld revoked\n", id);
			else if (!l.p || !server_error(l.p))
				fprintf(stderr, "edgeboxctl: unexpected answer\n");
			cJSON_Delete(resp);
			free(l.p);
			return ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
		}
		free(l.p);
		if (!no_daemon(rc) && rc != -EACCES) {
			fprintf(stderr, "edgeboxctl: %s: %s\n", socket_of(&o), strerror(-rc));
			return CTL_EXIT_FAIL;
		}
		config_value_path(config_path_of(&o), "store", "path", DEFAULT_STORE, store_buf,
				  sizeof(store_buf));
		store_path = store_buf;
		if (!o.json)
			fprintf(stderr,
				"edgeboxctl: edgeboxd is not reachable (%s): revoking in %s "
				"directly\n",
				strerror(-rc), store_path);
	}
	{
		struct store_error err;
		struct store *s;
		char detail[64];

		if (access(store_path, F_OK) < 0) {
			fprintf(stderr, "edgeboxctl: %s: %s\n", store_path, strerror(errno));
			return CTL_EXIT_FAIL;
		}
		rc = store_open(store_path, STORE_OPEN_NO_CHECK | STORE_OPEN_NO_RECOVER, &s, NULL,
				&err);
		if (rc < 0) {
			fprintf(stderr, "edgeboxctl: %s\n", err.msg);
			return CTL_EXIT_FAIL;
		}
		rc = store_staff_revoke(s, id);
		if (rc < 0) {
			fprintf(stderr, "edgeboxctl: %s\n", store_errmsg(s));
		} else {
			snprintf(detail, sizeof(detail), "{\"device\":%ld}", id);
			store_audit_append(s, 0, "staff_revoked", detail);
		}
		store_close(s);
	}
	if (rc < 0)
		return CTL_EXIT_FAIL;
	if (o.json)
		printf("{\"v\":1,\"type\":\"unpaired\",\"device\":%ld}\n", id);
	else
		printf("device %ld revoked\n", id);
	return CTL_EXIT_OK;
}

/* ---- bundle ------------------------------------------------------------------------------ */

static void diag_collect(const struct diag_check *c, void *ctx)
{
	char *line;

	if (diag_check_json(c, &line) == 0) {
		lines_add(ctx, line, strlen(line) - 1);
		free(line);
	}
}

static int audit_collect(const char *line, size_t len, void *ctx)
{
	lines_add(ctx, line, len);
	return 0;
}

/* The lines of type `type` from a response, as JSON lines. */
static char *only_type(const char *text, const char *type)
{
	struct lines out = {0};
	char *copy = strdup(text ? text : ""), *save = NULL;

	for (char *l = copy ? strtok_r(copy, "\n", &save) : NULL; l;
	     l = strtok_r(NULL, "\n", &save)) {
		cJSON *o = cJSON_Parse(l);

		if (cJSON_IsObject(o) && strcmp(jstr(o, "type"), type) == 0)
			lines_add(&out, l, strlen(l));
		cJSON_Delete(o);
	}
	free(copy);
	if (out.failed) {
		free(out.p);
		return NULL;
	}
	return out.p ? out.p : strdup("");
}

int ctl_bundle(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"output", required_argument, NULL, 'o'}, {"audit-rows", required_argument, NULL, 'n'},
	    {"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 'S'},
	    {"store", required_argument, NULL, 'd'},  {0},
	};
	struct diag_bundle b = {0};
	struct common o = {0};
	struct lines versions = {0}, diagl = {0}, audit = {0}, l;
	const char *out_path = NULL, *store_path = NULL;
	char out_buf[PATH_LEN], store_buf[PATH_LEN], err[DIAG_ERROR_MAX], why_status[256],
	    why_audit[PATH_LEN + 128], daemon_config[PATH_LEN + 16];
	char *config_text = NULL, *status = NULL, *diag_lines = NULL, *audit_lines = NULL;
	bool daemon_up;
	long rows = BUNDLE_AUDIT_DEFAULT;
	struct utsname un;
	int c, rc, e;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl bundle [-o FILE.tar.gz] [--audit-rows N] [--socket PATH]\n"
		    "                         [--config FILE] [--store FILE]\n"
		    "A diagnostics archive to hand to support (gzip-compressed tar): the config\n"
		    "with secret values redacted, `diag --json`, the status, the last N audit "
		    "rows\n"
		    "(default %d) without customer data (kinds, times, categories, rule ids,\n"
		    "states only), versions, and MANIFEST.txt saying what is inside and what was\n"
		    "left out and why. No customer names, conversation text or ids.\n"
		    "Default FILE: edgebox-bundle-HOST-YYYYmmddTHHMMSSZ.tar.gz here.\n"
		    "Exit status: 0 written, 1 failed, 2 usage.\n",
		    BUNDLE_AUDIT_DEFAULT);
		return CTL_EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out_path = optarg;
			break;
		case 'n':
			if (!parse_long(optarg, 1, CONTROL_LOGS_MAX, &rows))
				return bad_number("bundle", "--audit-rows", optarg, 1,
						  CONTROL_LOGS_MAX);
			break;
		default:
			if (!common_opt(c, &o, &store_path))
				return CTL_EXIT_USAGE;
			break;
		}
	}
	if (optind < argc)
		return unexpected("bundle", argv[optind]);
	if (!out_path) {
		char host[64] = "box", when[32];
		time_t t = time(NULL);
		struct tm tm;

		gethostname(host, sizeof(host) - 1);
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(out_buf, sizeof(out_buf), "edgebox-bundle-%s-%s.tar.gz", host, when);
		out_path = out_buf;
	}

	/* versions, and whether edgeboxd answers at all */
	{
		char line[512];

		snprintf(line, sizeof(line), "edgeboxctl %s", EDGEBOX_VERSION);
		lines_add(&versions, line, strlen(line));
		rc = ask(&o, "{\"v\":1,\"cmd\":\"version\"}", REQUEST_TIMEOUT_MS, &l, true);
		daemon_up = rc == 0;
		if (daemon_up) {
			cJSON *v = cJSON_Parse(l.p ? l.p : "");

			snprintf(line, sizeof(line),
				 "edgeboxd %s (pid %.0f, control protocol %.0f)",
				 jstr(v, "version"), jnum(v, "pid"), jnum(v, "protocol"));
			cJSON_Delete(v);
		} else {
			snprintf(line, sizeof(line), "edgeboxd not reachable at %s: %s",
				 socket_of(&o), strerror(-rc));
		}
		free(l.p);
		lines_add(&versions, line, strlen(line));
		if (uname(&un) == 0) {
			snprintf(line, sizeof(line), "%s %s %s %s", un.sysname, un.release,
				 un.version, un.machine);
			lines_add(&versions, line, strlen(line));
		}
	}

	/* config: the daemon's (already redacted) or the file */
	b.config_path = config_path_of(&o);
	if (daemon_up &&
	    ask(&o, "{\"v\":1,\"cmd\":\"config\"}", REQUEST_TIMEOUT_MS, &l, true) == 0) {
		cJSON *r = cJSON_Parse(l.p ? l.p : "");

		if (strcmp(jstr(r, "type"), "config") == 0) {
			config_text = strdup(jstr(r, "text"));
			snprintf(daemon_config, sizeof(daemon_config), "%s (edgeboxd's)",
				 jstr(r, "path"));
			b.config_path = daemon_config;
		}
		cJSON_Delete(r);
		free(l.p);
	}
	if (!config_text)
		config_text = read_file(config_path_of(&o), 256 * 1024, &e);

	/* diag */
	if (daemon_up && ask(&o, "{\"v\":1,\"cmd\":\"diag\"}", DIAG_TIMEOUT_MS, &l, true) == 0) {
		diag_lines = only_type(l.p, "check");
		free(l.p);
	}
	if (!diag_lines || !*diag_lines) {
		free(diag_lines);
		diag_lines = NULL;
		if (diag_local(config_path_of(&o), diag_collect, &diagl) >= 0 && !diagl.failed)
			diag_lines = diagl.p, diagl.p = NULL;
		free(diagl.p);
	}

	/* status */
	snprintf(why_status, sizeof(why_status),
		 "edgeboxd is not running and its status file is "
		 "not readable");
	if (daemon_up &&
	    ask(&o, "{\"v\":1,\"cmd\":\"status\"}", REQUEST_TIMEOUT_MS, &l, true) == 0) {
		cJSON *r = cJSON_Parse(l.p ? l.p : "");

		if (strcmp(jstr(r, "type"), "status") == 0)
			status = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "status"));
		else
			snprintf(why_status, sizeof(why_status),
				 "edgeboxd answered without a status");
		cJSON_Delete(r);
		free(l.p);
	}
	if (!status) {
		char file[PATH_LEN];
		char *text;

		config_value_path(config_path_of(&o), "daemon", "status_file", DEFAULT_STATUS_FILE,
				  file, sizeof(file));
		text = read_file(file, STATUS_FILE_MAX, &e);
		if (text) {
			status = cJSON_malloc(strlen(text) + 1);
			if (status)
				strcpy(status, text);
			free(text);
		}
	}

	/* audit rows, sanitized (and sanitized again by the bundle writer) */
	snprintf(why_audit, sizeof(why_audit), "the audit log could not be read");
	if (daemon_up && !store_path) {
		char req[128];

		snprintf(req, sizeof(req), "{\"v\":1,\"cmd\":\"logs\",\"limit\":%ld}", rows);
		if (ask(&o, req, REQUEST_TIMEOUT_MS * 4, &l, true) == 0)
			audit_lines = only_type(l.p, "log");
		free(l.p);
	}
	if (!audit_lines) {
		struct control_log_filter f = {.limit = (unsigned)rows};
		struct store_error serr;
		struct store *s;

		if (!store_path) {
			config_value_path(config_path_of(&o), "store", "path", DEFAULT_STORE,
					  store_buf, sizeof(store_buf));
			store_path = store_buf;
		}
		if (store_open(store_path,
			       STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK | STORE_OPEN_NO_RECOVER,
			       &s, NULL, &serr) == 0) {
			if (control_logs_query(s, &f, audit_collect, &audit) >= 0 && !audit.failed)
				audit_lines = audit.p ? audit.p : strdup(""), audit.p = NULL;
			else
				snprintf(why_audit, sizeof(why_audit), "%s", store_errmsg(s));
			store_close(s);
		} else {
			snprintf(why_audit, sizeof(why_audit), "%s", serr.msg);
		}
		free(audit.p);
	}

	b.config_text = config_text;
	b.diag_jsonl = diag_lines;
	b.status_json = status;
	b.audit_jsonl = audit_lines;
	b.versions = versions.p;
	b.why_no_status = why_status;
	b.why_no_audit = why_audit;
	rc = diag_bundle_write(&b, out_path, err, sizeof(err));
	free(config_text);
	free(diag_lines);
	cJSON_free(status);
	free(audit_lines);
	free(versions.p);
	if (rc < 0) {
		fprintf(stderr, "edgeboxctl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	printf("wrote %s: MANIFEST.txt inside lists what it holds and what was left out\n",
	       out_path);
	return CTL_EXIT_OK;
}
