/*
 * control — the technicians' control socket. The contract is in
 * firmware/control.h, the protocol in docs/technicians.md.
 */
#include "firmware/control.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "firmware/config.h"
#include "firmware/diag.h"
#include "firmware/store.h"
#include "hal/errmsg.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define LISTEN_BACKLOG 8
#define PEER_GROUPS_MAX 65536
#define DEFAULT_STORE_PATH "/var/lib/edgebox/store.db"
#define CONFIG_TEXT_MAX (256 * 1024)

struct pin {
	bool used;
	char pin[CONTROL_PIN_DIGITS + 1];
	char name[CONTROL_NAME_MAX + 1];
	uint64_t expires_ns;
};

struct worker {
	struct control *c;
	pthread_t thread;
	bool busy; /* a thread exists for this slot (joined by the listener or free) */
	_Atomic bool done;
	int fd;
	uid_t uid;
	bool write_failed;
};

struct snapshot {
	char *json;
	uint64_t ns;
};

struct control {
	struct control_params p;
	int listen_fd, wake_fd;
	gid_t gid;
	bool has_group;
	dev_t sock_dev;
	ino_t sock_ino;
	pthread_t listener;
	atomic_bool stopping;

	pthread_mutex_t lock; /* workers[], snapshots, store_path */
	struct worker workers[CONTROL_CLIENTS_MAX];
	struct snapshot snaps[CONTROL_STATUS_HISTORY];
	size_t nsnaps; /* oldest first */

	pthread_mutex_t pin_lock;
	struct pin pins[CONTROL_PINS_MAX];
	unsigned wrong;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(const struct control *c)
{
	return c->p.now_ns ? c->p.now_ns(c->p.clock_ctx) : mono_ns();
}

/* ---- parameters ------------------------------------------------------------------- */

void control_params_default(struct control_params *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->path, sizeof(ret->path), "/run/edgebox/control.sock");
	ret->mode = 0600;
	ret->pin_ttl_s = 300;
	ret->pin_attempts = 5;
	ret->timeout_ms = 2000;
}

static int lookup_group(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	char buf[16384];
	int rc;

	rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
	if (rc || !res)
		return rc ? -rc : -ENOENT;
	*ret = res->gr_gid;
	return 0;
}

static int cfg_fail(struct config_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_fail(struct config_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

int control_params_from_config(const struct config *cfg, struct control_params *ret,
			       bool *ret_enabled, struct config_error *err)
{
	static const char *const modes[] = {"0600", "0660", NULL};
	const char *sock = NULL, *group = "", *name = config_name(cfg);
	char def[CONTROL_PATH_MAX];
	gid_t gid;
	long v;
	int rc, m;

	control_params_default(ret);
	*ret_enabled = true;
	rc = config_str(cfg, "control", "socket", NULL, false, &sock, err);
	if (rc < 0)
		return rc;
	if (sock && strcmp(sock, "none") == 0) {
		*ret_enabled = false;
	} else {
		memcpy(def, ret->path, sizeof(def));
		rc = config_path(cfg, "control", "socket", def, false, ret->path, sizeof(ret->path),
				 err);
		if (rc < 0)
			return rc;
	}
	rc = config_str(cfg, "control", "group", "", false, &group, err);
	if (rc < 0)
		return rc;
	if (strlen(group) >= sizeof(ret->group))
		return cfg_fail(err, -EINVAL,
				"%s: [control] group: expected a group name of at most %zu "
				"characters",
				name, sizeof(ret->group) - 1);
	if (*group && lookup_group(group, &gid) < 0)
		return cfg_fail(err, -EINVAL,
				"%s: [control] group: no group '%s' on this system; create it "
				"(groupadd --system %s) and add the technicians to it, or set "
				"group = (empty: root only)",
				name, group, group);
	snprintf(ret->group, sizeof(ret->group), "%s", group);
	rc = config_enum(cfg, "control", "mode", *group ? "0660" : "0600", modes, &m, err);
	if (rc < 0)
		return rc;
	ret->mode = m == 0 ? 0600 : 0660;
	rc = config_int(cfg, "control", "pin_ttl_s", ret->pin_ttl_s, 30, 3600, &v, err);
	if (rc < 0)
		return rc;
	ret->pin_ttl_s = (unsigned)v;
	rc = config_int(cfg, "control", "pin_attempts", ret->pin_attempts, 1, 20, &v, err);
	if (rc < 0)
		return rc;
	ret->pin_attempts = (unsigned)v;
	rc = config_int(cfg, "control", "timeout_ms", ret->timeout_ms, 100, 60000, &v, err);
	if (rc < 0)
		return rc;
	ret->timeout_ms = (unsigned)v;
	rc = config_path(cfg, "store", "path", DEFAULT_STORE_PATH, false, ret->store_path,
			 sizeof(ret->store_path), err);
	if (rc < 0)
		return rc;
	if (!realpath(name, ret->config_path))
		snprintf(ret->config_path, sizeof(ret->config_path), "%s", name);
	return 0;
}

static int params_check(const struct control_params *p, char *err, size_t len)
{
	if (!memchr(p->path, '\0', sizeof(p->path)) || !p->path[0])
		return errmsg(err, len, -ENAMETOOLONG,
			      "control socket: the path is empty or longer than %d bytes",
			      CONTROL_PATH_MAX - 1);
	if (p->mode != 0600 && p->mode != 0660 && p->mode != 0666)
		return errmsg(err, len, -EINVAL,
			      "control socket %s: mode %#o: expected 0600 or 0660 (a client needs "
			      "read and write permission)",
			      p->path, p->mode);
	if (!memchr(p->group, '\0', sizeof(p->group)) ||
	    !memchr(p->store_path, '\0', sizeof(p->store_path)) ||
	    !memchr(p->config_path, '\0', sizeof(p->config_path)) ||
	    !memchr(p->edgeboxd_path, '\0', sizeof(p->edgeboxd_path)) ||
	    !memchr(p->version, '\0', sizeof(p->version)))
		return errmsg(err, len, -EINVAL,
			      "control socket: a string parameter is not "
			      "NUL-terminated");
	if (p->pin_ttl_s < 1 || p->pin_ttl_s > 3600 || p->pin_attempts < 1 ||
	    p->pin_attempts > 20 || p->timeout_ms < 10 || p->timeout_ms > 600000)
		return errmsg(err, len, -EINVAL,
			      "control socket: pin_ttl_s %u (1..3600), pin_attempts %u (1..20) or "
			      "timeout_ms %u (10..600000) out of range",
			      p->pin_ttl_s, p->pin_attempts, p->timeout_ms);
	return 0;
}

/* ---- peers ------------------------------------------------------------------------- */

int control_peer_allowed(const struct control_peer *peer, bool has_group, gid_t group,
			 const char *group_name, char *why, size_t len)
{
	if (peer->uid == 0)
		return 0;
	if (has_group) {
		if (peer->gid == group)
			return 0;
		for (size_t i = 0; i < peer->ngroups; i++)
			if (peer->groups && peer->groups[i] == group)
				return 0;
		return errmsg(why, len, -EPERM,
			      "uid %u (pid %d) is neither root nor in group %s; ask for that group "
			      "(usermod -aG %s USER, then log in again) or use sudo",
			      (unsigned)peer->uid, (int)peer->pid, group_name ? group_name : "?",
			      group_name ? group_name : "GROUP");
	}
	return errmsg(why, len, -EPERM,
		      "uid %u (pid %d) is not root and this control socket has no technicians' "
		      "group ([control] group); use sudo",
		      (unsigned)peer->uid, (int)peer->pid);
}

/* The peer's credentials and supplementary groups; 0 or -errno. */
static int peer_of(int fd, struct control_peer *ret, gid_t **ret_groups)
{
	struct ucred cr;
	socklen_t sl = sizeof(cr);
	gid_t *g = NULL;
	size_t cap = 64;

	*ret_groups = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) < 0)
		return -errno;
	ret->uid = cr.uid;
	ret->gid = cr.gid;
	ret->pid = cr.pid;
	ret->groups = NULL;
	ret->ngroups = 0;
	for (;;) {
		gid_t *ng = realloc(g, cap * sizeof(*g));

		if (!ng) {
			free(g);
			return -ENOMEM;
		}
		g = ng;
		sl = (socklen_t)(cap * sizeof(*g));
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &sl) == 0)
			break;
		if (errno != ERANGE || cap >= PEER_GROUPS_MAX) {
			/* an old kernel: the primary group is all we know */
			sl = 0;
			break;
		}
		cap = (size_t)sl / sizeof(*g) > cap ? (size_t)sl / sizeof(*g) : cap * 4;
		if (cap > PEER_GROUPS_MAX)
			cap = PEER_GROUPS_MAX;
	}
	ret->groups = g;
	ret->ngroups = (size_t)sl / sizeof(*g);
	*ret_groups = g;
	return 0;
}

/* ---- writing lines ---------------------------------------------------------------- */

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One line: s and a newline. A client that stopped reading is not written to again. */
static int send_line(struct worker *w, const char *s, size_t len)
{
	char nl = '\n';

	if (w->write_failed)
		return -EPIPE;
	if (send_all(w->fd, s, len) < 0 || send_all(w->fd, &nl, 1) < 0) {
		w->write_failed = true;
		return -EPIPE;
	}
	return 0;
}

/* Sends o (consumed) as one line. */
static int send_json(struct worker *w, cJSON *o)
{
	char *s;
	int rc;

	if (!o)
		return -ENOMEM;
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return -ENOMEM;
	rc = send_line(w, s, strlen(s));
	cJSON_free(s);
	return rc;
}

static cJSON *reply(const char *type)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddNumberToObject(o, "v", CONTROL_PROTOCOL_VERSION);
		cJSON_AddStringToObject(o, "type", type);
	}
	return o;
}

static int send_error_fd(int fd, const char *code, const char *detail)
{
	cJSON *o = reply("error");
	char *s;
	int rc = -ENOMEM;

	if (!o)
		return rc;
	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "detail", detail);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s) {
		rc = send_all(fd, s, strlen(s));
		rc = rc ?: send_all(fd, "\n", 1);
		cJSON_free(s);
	}
	return rc;
}

static int send_error(struct worker *w, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int send_error(struct worker *w, const char *code, const char *fmt, ...)
{
	char detail[CONTROL_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (w->write_failed)
		return -EPIPE;
	if (send_error_fd(w->fd, code, detail) < 0) {
		w->write_failed = true;
		return -EPIPE;
	}
	return 0;
}

static int line_to_worker(const char *line, size_t len, void *ctx)
{
	return send_line(ctx, line, len);
}

static void store_path_copy(struct control *c, char *buf, size_t len)
{
	pthread_mutex_lock(&c->lock);
	snprintf(buf, len, "%s", c->p.store_path);
	pthread_mutex_unlock(&c->lock);
}

/* ---- status ------------------------------------------------------------------------ */

void control_publish_status(struct control *c, char *json, uint64_t now)
{
	if (!c || !json) {
		free(json);
		return;
	}
	pthread_mutex_lock(&c->lock);
	if (c->nsnaps == CONTROL_STATUS_HISTORY) {
		free(c->snaps[0].json);
		memmove(&c->snaps[0], &c->snaps[1],
			(CONTROL_STATUS_HISTORY - 1) * sizeof(c->snaps[0]));
		c->nsnaps--;
	}
	c->snaps[c->nsnaps].json = json;
	c->snaps[c->nsnaps].ns = now;
	c->nsnaps++;
	pthread_mutex_unlock(&c->lock);
}

int control_set_store_path(struct control *c, const char *path)
{
	if (!path || strlen(path) >= sizeof(c->p.store_path))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&c->lock);
	snprintf(c->p.store_path, sizeof(c->p.store_path), "%s", path);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

struct sessions_ctx {
	cJSON *arr;
};

static int add_session(const struct store_session *s, void *ctx)
{
	struct sessions_ctx *sc = ctx;
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return -ENOMEM;
	cJSON_AddNumberToObject(o, "id", (double)s->id);
	cJSON_AddStringToObject(o, "state", s->state ? s->state : "");
	if (s->archetype)
		cJSON_AddStringToObject(o, "archetype", s->archetype);
	cJSON_AddNumberToObject(o, "opened_at", (double)s->opened_at);
	cJSON_AddNumberToObject(o, "turns", s->turns);
	cJSON_AddBoolToObject(o, "known_customer", s->customer_id != 0);
	cJSON_AddItemToArray(sc->arr, o);
	return cJSON_GetArraySize(sc->arr) >= 32; /* a box talks to one visitor at a time */
}

/* The open sessions from the store (read-only), into root. */
static void add_sessions(struct control *c, cJSON *root)
{
	char path[CONTROL_FILE_MAX];
	struct store_error err;
	struct sessions_ctx sc;
	struct store *s;

	store_path_copy(c, path, sizeof(path));
	if (!path[0])
		return;
	sc.arr = cJSON_AddArrayToObject(root, "sessions");
	if (store_open(path, STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK | STORE_OPEN_NO_RECOVER, &s,
		       NULL, &err) < 0) {
		cJSON_AddStringToObject(root, "sessions_error", err.msg);
		return;
	}
	if (store_session_find_open(s, add_session, &sc) < 0)
		cJSON_AddStringToObject(root, "sessions_error", store_errmsg(s));
	store_close(s);
}

static const cJSON *find_stage(const cJSON *root, const char *name)
{
	const cJSON *st;

	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(root, "stages"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "name");

		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return st;
	}
	return NULL;
}

/* The latest status with rates, sessions and its age, as a new string. -ENODATA
 * when none was published; -EPROTO when it is not JSON; -ENOMEM. */
static int status_build(struct control *c, char **ret)
{
	char *newest = NULL, *ref = NULL;
	uint64_t newest_ns = 0, ref_ns = 0, now;
	cJSON *root, *old = NULL, *st;
	int rc = 0;

	*ret = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->nsnaps) {
		newest_ns = c->snaps[c->nsnaps - 1].ns;
		newest = strdup(c->snaps[c->nsnaps - 1].json);
		/* the oldest kept snapshot within the window and at least 1 s back */
		for (size_t i = 0; i + 1 < c->nsnaps; i++) {
			uint64_t dt = newest_ns - c->snaps[i].ns;

			if (dt <= (uint64_t)CONTROL_RATE_WINDOW_S * 1000000000ull &&
			    dt >= 1000000000ull) {
				ref = strdup(c->snaps[i].json);
				ref_ns = c->snaps[i].ns;
				break;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (!newest)
		return c->nsnaps ? -ENOMEM : -ENODATA;
	root = cJSON_Parse(newest);
	if (!cJSON_IsObject(root)) {
		rc = -EPROTO;
		goto out;
	}
	old = ref ? cJSON_Parse(ref) : NULL;
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(root, "stages"))
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(st, "name");
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(st, "items");
		const cJSON *o = cJSON_IsString(name) ? find_stage(old, name->valuestring) : NULL;
		const cJSON *oi = cJSON_GetObjectItemCaseSensitive(o, "items");
		double dt = (double)(newest_ns - ref_ns) / 1e9, rate;

		if (!cJSON_IsNumber(items) || !cJSON_IsNumber(oi) || dt <= 0)
			continue;
		rate = (items->valuedouble - oi->valuedouble) / dt;
		if (rate < 0) /* a counter that restarted */
			rate = 0;
		cJSON_AddNumberToObject(st, "items_per_s", (double)(long long)(rate * 100) / 100);
		cJSON_AddNumberToObject(st, "rate_window_s", (double)(long long)(dt * 10) / 10);
	}
	now = now_ns(c);
	cJSON_AddNumberToObject(root, "status_age_s",
				now > newest_ns ? (double)((now - newest_ns) / 1000000) / 1000 : 0);
	add_sessions(c, root);
	{
		cJSON *ctl = cJSON_AddObjectToObject(root, "control");

		cJSON_AddNumberToObject(ctl, "pins_pending", control_pins_pending(c));
	}
	*ret = cJSON_PrintUnformatted(root);
	if (!*ret)
		rc = -ENOMEM;
out:
	cJSON_Delete(root);
	cJSON_Delete(old);
	free(newest);
	free(ref);
	return rc;
}

static void handle_status(struct worker *w)
{
	char *json = NULL;
	int rc = status_build(w->c, &json);

	if (rc == -ENODATA) {
		send_error(w, "no_status",
			   "edgeboxd has not published a status yet; try again in "
			   "a second");
		return;
	}
	if (rc < 0) {
		send_error(w, "internal", "cannot build the status: %s", strerror(-rc));
		return;
	}
	{
		/* {"v":1,"type":"status","status":<json>} without parsing it again */
		static const char head[] = "{\"v\":1,\"type\":\"status\",\"status\":";
		size_t n = strlen(json);
		char *line = malloc(sizeof(head) + n + 1);

		if (line) {
			memcpy(line, head, sizeof(head) - 1);
			memcpy(line + sizeof(head) - 1, json, n);
			line[sizeof(head) - 1 + n] = '}';
			send_line(w, line, sizeof(head) + n);
			free(line);
		} else {
			send_error(w, "internal", "out of memory");
		}
	}
	free(json);
}

/* ---- diag ------------------------------------------------------------------------- */

struct diag_send {
	struct worker *w;
	int counts[3];
};

static void diag_line(const struct diag_check *ck, void *ctx)
{
	struct diag_send *ds = ctx;
	char *line;

	if (ck->result <= DIAG_FAIL)
		ds->counts[ck->result]++;
	if (diag_check_json(ck, &line) == 0) {
		send_line(ds->w, line, strlen(line) - 1);
		free(line);
	}
}

static void handle_diag(struct worker *w)
{
	struct control *c = w->c;
	struct diag_send ds = {.w = w};
	struct diag_env env = {0};
	struct diag *d;
	char *status = NULL;
	cJSON *end;
	int rc;

	if (!c->p.config_path[0]) {
		send_error(w, "no_config",
			   "this edgeboxd was started without a config path for "
			   "the checks; run `edgeboxctl diag --local`");
		return;
	}
	if (status_build(c, &status) < 0)
		status = NULL; /* no status yet: the checks look at the devices */
	env.config_path = c->p.config_path;
	env.status_json = status;
	env.edgeboxd_path = c->p.edgeboxd_path[0] ? c->p.edgeboxd_path : NULL;
	env.sets = c->p.config_sets;
	env.nsets = c->p.n_config_sets;
	env.llm_timeout_ms = (int)c->p.diag_llm_timeout_ms;
	env.cancel = &c->stopping;
	rc = diag_new(&env, &d);
	free(status);
	if (rc < 0) {
		send_error(w, "internal", "cannot start the checks: %s", strerror(-rc));
		return;
	}
	diag_run(d, diag_line, &ds);
	diag_free(d);
	end = reply("end");
	cJSON_AddNumberToObject(end, "pass", ds.counts[DIAG_PASS]);
	cJSON_AddNumberToObject(end, "warn", ds.counts[DIAG_WARN]);
	cJSON_AddNumberToObject(end, "fail", ds.counts[DIAG_FAIL]);
	send_json(w, end);
}

/* ---- logs and devices --------------------------------------------------------------- */

static int filter_from_cjson(const cJSON *req, struct control_log_filter *f, char *why, size_t len)
{
	const cJSON *v;

	memset(f, 0, sizeof(*f));
	f->limit = CONTROL_LOGS_DEFAULT;
	v = cJSON_GetObjectItemCaseSensitive(req, "since_ms");
	if (v) {
		if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9.0e15)
			return errmsg(
			    why, len, -EINVAL,
			    "since_ms: expected a wall-clock time in ms since 1970 (>= 0)");
		f->since_ms = (int64_t)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(req, "session");
	if (v) {
		if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9.0e15)
			return errmsg(why, len, -EINVAL,
				      "session: expected a session number (>= 1; 0: any)");
		f->session = (int64_t)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(req, "limit");
	if (v) {
		if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > CONTROL_LOGS_MAX)
			return errmsg(why, len, -EINVAL, "limit: expected 1 to %d rows",
				      CONTROL_LOGS_MAX);
		f->limit = (unsigned)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(req, "full");
	if (v) {
		if (!cJSON_IsBool(v))
			return errmsg(why, len, -EINVAL, "full: expected true or false");
		f->full = cJSON_IsTrue(v);
	}
	v = cJSON_GetObjectItemCaseSensitive(req, "kinds");
	if (v) {
		const cJSON *k;

		if (!cJSON_IsArray(v))
			return errmsg(why, len, -EINVAL,
				      "kinds: expected an array of kinds such as [\"escalation\"]");
		cJSON_ArrayForEach(k, v)
		{
			if (!cJSON_IsString(k) || !k->valuestring[0] ||
			    strlen(k->valuestring) > CONTROL_KIND_MAX)
				return errmsg(why, len, -EINVAL,
					      "kinds: each kind is a word of 1 to %d bytes",
					      CONTROL_KIND_MAX);
			if (f->nkinds == CONTROL_KINDS_MAX)
				return errmsg(why, len, -EINVAL, "kinds: at most %d kinds",
					      CONTROL_KINDS_MAX);
			snprintf(f->kinds[f->nkinds++], CONTROL_KIND_MAX + 1, "%s", k->valuestring);
		}
	}
	return 0;
}

int control_log_filter_from_json(const char *json, struct control_log_filter *ret, char *why,
				 size_t len)
{
	cJSON *req = cJSON_Parse(json ? json : "");
	int rc;

	if (!cJSON_IsObject(req)) {
		cJSON_Delete(req);
		return errmsg(why, len, -EINVAL, "expected a JSON object with the filter's fields");
	}
	rc = filter_from_cjson(req, ret, why, len);
	cJSON_Delete(req);
	return rc;
}

struct logs_ctx {
	const struct control_log_filter *f;
	control_line_fn fn;
	void *ctx;
	long long matched, skip, sent;
	int rc;
};

static bool log_matches(const struct control_log_filter *f, const struct store_audit_row *a)
{
	if (f->since_ms && a->ts < f->since_ms)
		return false;
	if (f->session && a->session_id != f->session)
		return false;
	if (f->nkinds) {
		for (size_t i = 0; i < f->nkinds; i++)
			if (a->kind && strcmp(a->kind, f->kinds[i]) == 0)
				return true;
		return false;
	}
	return true;
}

static int log_count(const struct store_audit_row *a, void *ctx)
{
	struct logs_ctx *lc = ctx;

	if (log_matches(lc->f, a))
		lc->matched++;
	return 0;
}

static int log_emit_row(struct logs_ctx *lc, const struct store_audit_row *a)
{
	char *line = NULL;
	int rc;

	if (lc->f->full) {
		cJSON *o = reply("log"), *det;
		char *s;

		if (!o)
			return -ENOMEM;
		cJSON_AddNumberToObject(o, "id", (double)a->id);
		cJSON_AddNumberToObject(o, "ts", (double)a->ts);
		cJSON_AddNumberToObject(o, "session", (double)a->session_id);
		cJSON_AddNumberToObject(o, "customer", (double)a->customer_id);
		cJSON_AddStringToObject(o, "kind", a->kind ? a->kind : "");
		det = a->detail ? cJSON_Parse(a->detail) : NULL;
		if (det)
			cJSON_AddItemToObject(o, "detail", det);
		else if (a->detail)
			cJSON_AddStringToObject(o, "detail", a->detail);
		s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!s)
			return -ENOMEM;
		rc = lc->fn(s, strlen(s), lc->ctx);
		cJSON_free(s);
		return rc;
	}
	rc = diag_audit_sanitize(a->id, a->ts, a->session_id, a->kind, a->detail, &line);
	if (rc < 0)
		return rc;
	{
		/* {"v":1,"type":"log", + the sanitized object's members */
		static const char head[] = "{\"v\":1,\"type\":\"log\",";
		size_t n = strlen(line);
		char *out = malloc(sizeof(head) + n);

		if (!out) {
			free(line);
			return -ENOMEM;
		}
		memcpy(out, head, sizeof(head) - 1);
		memcpy(out + sizeof(head) - 1, line + 1, n - 2); /* without '{' and '\n' */
		out[sizeof(head) - 1 + n - 2] = '\0';
		rc = lc->fn(out, strlen(out), lc->ctx);
		free(out);
	}
	free(line);
	return rc;
}

static int log_emit(const struct store_audit_row *a, void *ctx)
{
	struct logs_ctx *lc = ctx;
	int rc;

	if (!log_matches(lc->f, a))
		return 0;
	if (lc->matched++ < lc->skip)
		return 0;
	rc = log_emit_row(lc, a);
	if (rc) {
		lc->rc = rc < 0 ? rc : 0;
		return rc < 0 ? rc : 1;
	}
	return ++lc->sent >= (long long)lc->f->limit;
}

int control_logs_query(struct store *s, const struct control_log_filter *f, control_line_fn fn,
		       void *ctx)
{
	struct logs_ctx lc = {.f = f, .fn = fn, .ctx = ctx};
	int rc;

	if (!s || !f || !fn || f->limit < 1 || f->limit > CONTROL_LOGS_MAX)
		return -EINVAL;
	/* Two passes (count, then the newest `limit`) keep memory flat on a long log. */
	rc = store_audit_load(s, 0, log_count, &lc);
	if (rc < 0)
		return rc;
	lc.skip = lc.matched > (long long)f->limit ? lc.matched - (long long)f->limit : 0;
	lc.matched = 0;
	rc = store_audit_load(s, 0, log_emit, &lc);
	if (rc < 0)
		return rc;
	return lc.rc < 0 ? lc.rc : (int)lc.sent;
}

static void handle_logs(struct worker *w, const cJSON *req)
{
	struct control_log_filter f;
	char why[CONTROL_ERROR_MAX], path[CONTROL_FILE_MAX];
	struct store_error err;
	struct store *s;
	cJSON *end;
	int rc;

	if (filter_from_cjson(req, &f, why, sizeof(why)) < 0) {
		send_error(w, "bad_field", "%s", why);
		return;
	}
	if (f.full && w->uid != 0) {
		send_error(w, "not_allowed",
			   "full details can quote customers: only root may ask "
			   "for them (sudo)");
		return;
	}
	store_path_copy(w->c, path, sizeof(path));
	if (!path[0]) {
		send_error(w, "no_store", "this edgeboxd has no store configured");
		return;
	}
	rc = store_open(path, STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK | STORE_OPEN_NO_RECOVER, &s,
			NULL, &err);
	if (rc < 0) {
		send_error(w, "store", "%s", err.msg);
		return;
	}
	rc = control_logs_query(s, &f, line_to_worker, w);
	if (rc < 0 && !w->write_failed) {
		send_error(w, "store", "%s", store_errmsg(s));
		store_close(s);
		return;
	}
	store_close(s);
	end = reply("end");
	cJSON_AddNumberToObject(end, "count", rc < 0 ? 0 : rc);
	send_json(w, end);
}

int control_devices_list(const char *store_path, bool all, control_line_fn fn, void *ctx, char *err,
			 size_t errlen)
{
	static const char live_sql[] =
	    "SELECT id, name, paired_at, coalesce(revoked_at, 0) FROM staff_devices "
	    "WHERE revoked_at IS NULL ORDER BY id";
	static const char all_sql[] =
	    "SELECT id, name, paired_at, coalesce(revoked_at, 0) FROM staff_devices ORDER BY id";
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, n = 0, r;

	/* store.h has no listing of staff devices yet: read the table directly,
	 * read-only (docs/technicians.md: store_staff_list would replace this). */
	if (access(store_path, F_OK) < 0)
		return errmsg(err, errlen, -errno, "%s: %s", store_path, strerror(errno));
	rc = sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		errmsg(err, errlen, -EIO, "%s: %s", store_path,
		       db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	rc = sqlite3_prepare_v2(db, all ? all_sql : live_sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = errmsg(err, errlen, rc == SQLITE_AUTH || rc == SQLITE_CANTOPEN ? -EACCES : -EIO,
			   "%s: %s", store_path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return r;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *o = reply("device");
		char *s;

		if (!o)
			break;
		cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
		cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
		cJSON_AddNumberToObject(o, "paired_at", (double)sqlite3_column_int64(st, 2));
		cJSON_AddNumberToObject(o, "revoked_at", (double)sqlite3_column_int64(st, 3));
		s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!s)
			break;
		r = fn(s, strlen(s), ctx);
		cJSON_free(s);
		n++;
		if (r) {
			sqlite3_finalize(st);
			sqlite3_close(db);
			return r < 0 ? r : n;
		}
	}
	r = rc == SQLITE_DONE ? n
			      : errmsg(err, errlen, -EIO, "%s: %s", store_path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

static void handle_devices(struct worker *w, const cJSON *req)
{
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(req, "all");
	char path[CONTROL_FILE_MAX], err[CONTROL_ERROR_MAX];
	cJSON *end;
	int rc;

	if (all && !cJSON_IsBool(all)) {
		send_error(w, "bad_field", "all: expected true or false");
		return;
	}
	store_path_copy(w->c, path, sizeof(path));
	if (!path[0]) {
		send_error(w, "no_store", "this edgeboxd has no store configured");
		return;
	}
	rc = control_devices_list(path, cJSON_IsTrue(all), line_to_worker, w, err, sizeof(err));
	if (rc < 0) {
		send_error(w, "store", "%s", err);
		return;
	}
	end = reply("end");
	cJSON_AddNumberToObject(end, "count", rc);
	send_json(w, end);
}

/* ---- pairing ----------------------------------------------------------------------- */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > CONTROL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool pin_ok(const char *pin)
{
	if (!pin || strlen(pin) != CONTROL_PIN_DIGITS)
		return false;
	for (size_t i = 0; i < CONTROL_PIN_DIGITS; i++)
		if (pin[i] < '0' || pin[i] > '9')
			return false;
	return true;
}

unsigned control_pins_pending(struct control *c)
{
	uint64_t now = now_ns(c);
	unsigned n = 0;

	pthread_mutex_lock(&c->pin_lock);
	for (size_t i = 0; i < CONTROL_PINS_MAX; i++)
		if (c->pins[i].used && c->pins[i].expires_ns > now && c->wrong < c->p.pin_attempts)
			n++;
	pthread_mutex_unlock(&c->pin_lock);
	return n;
}

int control_pair_begin(struct control *c, const char *name, char ret_pin[CONTROL_PIN_DIGITS + 1],
		       unsigned *ret_expires_in_s)
{
	uint64_t now = now_ns(c);
	size_t slot = 0;
	char pin[CONTROL_PIN_DIGITS + 1];
	bool clash;

	if (name && !name_ok(name))
		return -EINVAL;
	pthread_mutex_lock(&c->pin_lock);
	for (size_t i = 0; i < CONTROL_PINS_MAX; i++)
		if (c->pins[i].used && c->pins[i].expires_ns <= now)
			c->pins[i].used = false;
	/* a free slot, else the one closest to expiry */
	for (size_t i = 0; i < CONTROL_PINS_MAX; i++) {
		if (!c->pins[i].used) {
			slot = i;
			break;
		}
		if (c->pins[i].expires_ns < c->pins[slot].expires_ns)
			slot = i;
	}
	do {
		snprintf(pin, sizeof(pin), "%06u", (unsigned)randombytes_uniform(1000000));
		clash = false;
		for (size_t i = 0; i < CONTROL_PINS_MAX; i++)
			if (i != slot && c->pins[i].used && strcmp(c->pins[i].pin, pin) == 0)
				clash = true;
	} while (clash);
	memset(&c->pins[slot], 0, sizeof(c->pins[slot]));
	c->pins[slot].used = true;
	memcpy(c->pins[slot].pin, pin, sizeof(pin));
	snprintf(c->pins[slot].name, sizeof(c->pins[slot].name), "%s", name ? name : "");
	c->pins[slot].expires_ns = now + (uint64_t)c->p.pin_ttl_s * 1000000000ull;
	c->wrong = 0;
	pthread_mutex_unlock(&c->pin_lock);
	memcpy(ret_pin, pin, sizeof(pin));
	if (ret_expires_in_s)
		*ret_expires_in_s = c->p.pin_ttl_s;
	return 0;
}

/* Puts a taken PIN back (the pairing failed for a reason not the tablet's). */
static void pin_restore(struct control *c, const struct pin *p)
{
	pthread_mutex_lock(&c->pin_lock);
	for (size_t i = 0; i < CONTROL_PINS_MAX; i++)
		if (!c->pins[i].used) {
			c->pins[i] = *p;
			break;
		}
	pthread_mutex_unlock(&c->pin_lock);
}

static int open_rw(struct control *c, struct store **ret)
{
	char path[CONTROL_FILE_MAX];
	struct store_error err;

	store_path_copy(c, path, sizeof(path));
	if (!path[0])
		return -ENODEV;
	if (access(path, F_OK) < 0) /* never create the daemon's store from here */
		return -errno;
	return store_open(path, STORE_OPEN_NO_CHECK | STORE_OPEN_NO_RECOVER, ret, NULL, &err);
}

int control_pair_redeem(struct control *c, const char *pin, const char *device_name,
			char *ret_token, size_t len, int64_t *ret_device_id)
{
	unsigned char raw[32], hash[STORE_TOKEN_HASH_BYTES];
	char token[CONTROL_TOKEN_HEX + 1], name[CONTROL_NAME_MAX + 1], detail[64];
	uint64_t now = now_ns(c);
	struct pin taken = {0};
	struct store *s;
	bool any = false;
	int64_t id;
	int rc;

	if (!pin_ok(pin) || (device_name && !name_ok(device_name)))
		return -EINVAL;
	if (!ret_token || len < CONTROL_TOKEN_HEX + 1)
		return -ENOSPC;
	pthread_mutex_lock(&c->pin_lock);
	if (c->wrong >= c->p.pin_attempts) {
		pthread_mutex_unlock(&c->pin_lock);
		return -EPERM;
	}
	rc = -EACCES;
	for (size_t i = 0; i < CONTROL_PINS_MAX; i++) {
		if (!c->pins[i].used)
			continue;
		any = true;
		if (sodium_memcmp(c->pins[i].pin, pin, CONTROL_PIN_DIGITS) != 0)
			continue;
		taken = c->pins[i];
		c->pins[i].used = false; /* single use, also when it has expired */
		rc = taken.expires_ns <= now ? -ETIMEDOUT : 0;
		break;
	}
	if (!any)
		rc = -ENOENT;
	else if (rc == -EACCES && ++c->wrong >= c->p.pin_attempts)
		for (size_t i = 0; i < CONTROL_PINS_MAX; i++)
			c->pins[i].used = false;
	pthread_mutex_unlock(&c->pin_lock);
	if (rc < 0)
		return rc;

	if (taken.name[0])
		snprintf(name, sizeof(name), "%s", taken.name);
	else if (device_name && *device_name)
		snprintf(name, sizeof(name), "%s", device_name);
	else {
		unsigned char r[4];

		randombytes_buf(r, sizeof(r));
		snprintf(name, sizeof(name), "tablet-%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, sizeof(token), raw, sizeof(raw));
	crypto_hash_sha256(hash, (const unsigned char *)token, CONTROL_TOKEN_HEX);
	rc = open_rw(c, &s);
	if (rc < 0) {
		pin_restore(c, &taken);
		return rc;
	}
	rc = store_staff_pair(s, name, hash, &id);
	if (rc < 0) {
		store_close(s);
		pin_restore(c, &taken);
		return rc;
	}
	snprintf(detail, sizeof(detail), "{\"device\":%lld}", (long long)id);
	store_audit_append(s, 0, "staff_paired", detail); /* best effort: the pairing stands */
	store_close(s);
	memcpy(ret_token, token, sizeof(token));
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(token, sizeof(token));
	if (ret_device_id)
		*ret_device_id = id;
	return 0;
}

int control_token_check(struct control *c, const char *token, int64_t *ret_device_id)
{
	unsigned char hash[STORE_TOKEN_HASH_BYTES];
	char path[CONTROL_FILE_MAX];
	struct store_error err;
	struct store *s;
	int64_t id;
	int rc;

	if (!token || strlen(token) != CONTROL_TOKEN_HEX)
		return -EINVAL;
	for (size_t i = 0; i < CONTROL_TOKEN_HEX; i++)
		if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
			return -EINVAL;
	crypto_hash_sha256(hash, (const unsigned char *)token, CONTROL_TOKEN_HEX);
	store_path_copy(c, path, sizeof(path));
	if (!path[0])
		return -ENODEV;
	rc = store_open(path, STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK | STORE_OPEN_NO_RECOVER, &s,
			NULL, &err);
	if (rc < 0)
		return rc;
	rc = store_staff_find(s, hash, &id);
	store_close(s);
	if (rc == 0 && ret_device_id)
		*ret_device_id = id;
	return rc;
}

int control_unpair(struct control *c, int64_t device_id)
{
	char detail[64];
	struct store *s;
	int rc;

	if (device_id < 1)
		return -EINVAL;
	rc = open_rw(c, &s);
	if (rc < 0)
		return rc;
	rc = store_staff_revoke(s, device_id);
	if (rc == 0) {
		snprintf(detail, sizeof(detail), "{\"device\":%lld}", (long long)device_id);
		store_audit_append(s, 0, "staff_revoked", detail);
	}
	store_close(s);
	if (rc == 0 && c->p.on_revoke)
		c->p.on_revoke(c->p.revoke_ctx, device_id);
	return rc;
}

static void handle_pair(struct worker *w, const cJSON *req)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(req, "name");
	char pin[CONTROL_PIN_DIGITS + 1];
	unsigned ttl;
	cJSON *o;

	if (name && (!cJSON_IsString(name) || !name_ok(name->valuestring))) {
		send_error(w, "bad_field",
			   "name: expected a device name of at most %d printable "
			   "bytes",
			   CONTROL_NAME_MAX);
		return;
	}
	{
		char path[CONTROL_FILE_MAX];

		store_path_copy(w->c, path, sizeof(path));
		if (!path[0]) {
			send_error(w, "no_store",
				   "this edgeboxd has no store: a tablet could not be paired");
			return;
		}
	}
	control_pair_begin(w->c, name ? name->valuestring : NULL, pin, &ttl);
	o = reply("pin");
	cJSON_AddStringToObject(o, "pin", pin);
	cJSON_AddNumberToObject(o, "expires_in_s", ttl);
	if (name && *name->valuestring)
		cJSON_AddStringToObject(o, "name", name->valuestring);
	send_json(w, o);
	sodium_memzero(pin, sizeof(pin));
}

static void handle_unpair(struct worker *w, const cJSON *req)
{
	const cJSON *dev = cJSON_GetObjectItemCaseSensitive(req, "device");
	cJSON *o;
	int rc;

	if (!cJSON_IsNumber(dev) || dev->valuedouble < 1 || dev->valuedouble > 9.0e15 ||
	    dev->valuedouble != (double)(int64_t)dev->valuedouble) {
		send_error(w, "bad_field",
			   "device: expected a device id (>= 1) from `edgeboxctl "
			   "pair --list`");
		return;
	}
	rc = control_unpair(w->c, (int64_t)dev->valuedouble);
	if (rc == -ENOENT) {
		send_error(w, "not_found", "no live staff device %lld (`edgeboxctl pair --list`)",
			   (long long)dev->valuedouble);
		return;
	}
	if (rc < 0) {
		send_error(w, "store", "cannot revoke device %lld: %s", (long long)dev->valuedouble,
			   strerror(-rc));
		return;
	}
	o = reply("unpaired");
	cJSON_AddNumberToObject(o, "device", dev->valuedouble);
	send_json(w, o);
}

/* ---- config, version ---------------------------------------------------------------- */

static void handle_config(struct worker *w)
{
	const char *path = w->c->p.config_path;
	char *text, *red = NULL;
	struct stat st;
	size_t n;
	FILE *f;
	cJSON *o;

	if (!path[0]) {
		send_error(w, "no_config", "this edgeboxd was started without a config path");
		return;
	}
	f = fopen(path, "r");
	if (!f || fstat(fileno(f), &st) < 0 || st.st_size > CONFIG_TEXT_MAX) {
		send_error(w, "config", "cannot read %s: %s", path,
			   f ? "larger than 256 KiB" : strerror(errno));
		if (f)
			fclose(f);
		return;
	}
	text = calloc(1, (size_t)st.st_size + 1);
	n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (text && n != (size_t)st.st_size) {
		free(text);
		send_error(w, "config", "cannot read %s: short read", path);
		return;
	}
	if (!text || diag_redact_config(text, &red) < 0) {
		free(text);
		send_error(w, "internal", "out of memory");
		return;
	}
	free(text);
	o = reply("config");
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddStringToObject(o, "text", red);
	free(red);
	send_json(w, o);
}

static void handle_version(struct worker *w)
{
	cJSON *o = reply("version");

	cJSON_AddStringToObject(o, "version", w->c->p.version);
	cJSON_AddNumberToObject(o, "protocol", CONTROL_PROTOCOL_VERSION);
	cJSON_AddNumberToObject(o, "pid", getpid());
	send_json(w, o);
}

/* ---- one connection ---------------------------------------------------------------- */

static void handle_request(struct worker *w, const char *line, size_t len)
{
	static const char cmds[] = "status, diag, logs, devices, pair, unpair, config, version";
	cJSON *req = cJSON_ParseWithLength(line, len);
	const cJSON *v, *cmd;

	if (!cJSON_IsObject(req)) {
		send_error(w, "bad_json",
			   "expected one JSON object on one line, such as "
			   "{\"v\":1,\"cmd\":\"status\"}");
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(req, "v");
	if (!cJSON_IsNumber(v) || v->valuedouble != CONTROL_PROTOCOL_VERSION) {
		send_error(w, "bad_version",
			   "\"v\": expected %d (this edgeboxd speaks protocol %d)",
			   CONTROL_PROTOCOL_VERSION, CONTROL_PROTOCOL_VERSION);
		goto out;
	}
	cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
	if (!cJSON_IsString(cmd)) {
		send_error(w, "bad_field", "\"cmd\": expected one of %s", cmds);
		goto out;
	}
	if (strcmp(cmd->valuestring, "status") == 0)
		handle_status(w);
	else if (strcmp(cmd->valuestring, "diag") == 0)
		handle_diag(w);
	else if (strcmp(cmd->valuestring, "logs") == 0)
		handle_logs(w, req);
	else if (strcmp(cmd->valuestring, "devices") == 0)
		handle_devices(w, req);
	else if (strcmp(cmd->valuestring, "pair") == 0)
		handle_pair(w, req);
	else if (strcmp(cmd->valuestring, "unpair") == 0)
		handle_unpair(w, req);
	else if (strcmp(cmd->valuestring, "config") == 0)
		handle_config(w);
	else if (strcmp(cmd->valuestring, "version") == 0)
		handle_version(w);
	else
		send_error(w, "unknown_cmd", "\"cmd\": '%.64s' is not known; expected one of %s",
			   cmd->valuestring, cmds);
out:
	cJSON_Delete(req);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char buf[CONTROL_REQUEST_MAX + 1];
	size_t got = 0;
	char *nl = NULL;

	while (!nl && got < sizeof(buf)) {
		ssize_t n = recv(w->fd, buf + got, sizeof(buf) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				send_error(w, "timeout", "no complete request line within %u ms",
					   w->c->p.timeout_ms);
			goto done;
		}
		if (n == 0)
			break;
		nl = memchr(buf + got, '\n', (size_t)n);
		got += (size_t)n;
	}
	if (!nl && got == sizeof(buf)) {
		send_error(w, "too_long", "a request line is at most %d bytes",
			   CONTROL_REQUEST_MAX);
		goto done;
	}
	if (!nl && got == 0)
		goto done; /* connected and left */
	handle_request(w, buf, nl ? (size_t)(nl - buf) : got);
done:
	shutdown(w->fd, SHUT_RDWR);
	atomic_store(&w->done, true);
	{
		uint64_t one = 1;

		if (write(w->c->wake_fd, &one, sizeof(one)) < 0) {
			/* the listener reaps on its next wake-up anyway */
		}
	}
	return NULL;
}

/* Joins finished workers; with all, every worker (after cutting them short). */
static void reap(struct control *c, bool all)
{
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct worker *w = &c->workers[i];

		pthread_mutex_lock(&c->lock);
		if (!w->busy || (!all && !atomic_load(&w->done))) {
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		if (all)
			shutdown(w->fd, SHUT_RDWR);
		pthread_mutex_unlock(&c->lock);
		pthread_join(w->thread, NULL);
		pthread_mutex_lock(&c->lock);
		close(w->fd);
		w->fd = -1;
		w->busy = false;
		pthread_mutex_unlock(&c->lock);
	}
}

/* After an error line to a client we will not serve: let it read the line
 * before the close (unread input would reset the connection). */
static void close_refused(int fd)
{
	char sink[512];

	shutdown(fd, SHUT_WR);
	/* what is already there, not what a client keeps sending */
	for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static void set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void accept_one(struct control *c)
{
	struct control_peer peer;
	char why[CONTROL_ERROR_MAX];
	gid_t *groups = NULL;
	struct worker *w = NULL;
	int fd, rc;

	fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	set_timeouts(fd, c->p.timeout_ms);
	rc = peer_of(fd, &peer, &groups);
	if (rc < 0) {
		send_error_fd(fd, "not_allowed", "cannot read the peer's credentials");
		close_refused(fd);
		return;
	}
	rc = control_peer_allowed(&peer, c->has_group, c->gid, c->p.group, why, sizeof(why));
	free(groups);
	if (rc < 0) {
		send_error_fd(fd, "not_allowed", why);
		close_refused(fd);
		return;
	}
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (!c->workers[i].busy) {
			w = &c->workers[i];
			break;
		}
	if (w) {
		w->c = c;
		w->fd = fd;
		w->uid = peer.uid;
		w->write_failed = false;
		atomic_store(&w->done, false);
		w->busy = pthread_create(&w->thread, NULL, worker_main, w) == 0;
	}
	pthread_mutex_unlock(&c->lock);
	if (!w || !w->busy) {
		send_error_fd(fd, "busy",
			      "the control socket is serving as many requests as it may "
			      "at once; try again in a moment");
		close_refused(fd);
	}
}

static void *listener_main(void *arg)
{
	struct control *c = arg;
	struct pollfd pfd[2] = {{.fd = c->listen_fd, .events = POLLIN},
				{.fd = c->wake_fd, .events = POLLIN}};

	while (!atomic_load(&c->stopping)) {
		if (poll(pfd, 2, -1) < 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			uint64_t v;

			if (read(c->wake_fd, &v, sizeof(v)) < 0) {
				/* nothing to do: the count is not needed */
			}
			reap(c, false);
		}
		if (atomic_load(&c->stopping))
			break;
		if (pfd[0].revents & POLLIN)
			accept_one(c);
	}
	return NULL;
}

/* ---- the socket file ----------------------------------------------------------------- */

static int clear_path(const struct control_params *p, const struct sockaddr_un *addr, char *err,
		      size_t len)
{
	struct stat st;
	int s, rc;

	if (lstat(p->path, &st) < 0)
		return errno == ENOENT ? 0
				       : errmsg(err, len, -errno, "control socket %s: %s", p->path,
						strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return errmsg(
		    err, len, -EEXIST,
		    "control socket %s: the path exists and is not a socket; remove it or "
		    "set another [control] socket",
		    p->path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return errmsg(err, len, -errno, "control socket: socket(): %s", strerror(errno));
	rc = connect(s, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ? 0 : -errno;
	close(s);
	if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS)
		return errmsg(
		    err, len, -EADDRINUSE,
		    "control socket %s: another process listens on it (another edgeboxd?); "
		    "stop it or set another [control] socket",
		    p->path);
	if (rc != -ECONNREFUSED)
		return errmsg(err, len, rc,
			      "control socket %s: cannot check the existing socket: %s", p->path,
			      strerror(-rc));
	if (unlink(p->path) < 0 && errno != ENOENT)
		return errmsg(err, len, -errno,
			      "control socket %s: cannot remove the stale socket: %s", p->path,
			      strerror(errno));
	return 0;
}

static int open_listener(struct control *c, char *err, size_t len)
{
	const struct control_params *p = &c->p;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	memcpy(addr.sun_path, p->path, strlen(p->path) + 1);
	if (p->group[0]) {
		rc = lookup_group(p->group, &c->gid);
		if (rc < 0)
			return errmsg(
			    err, len, -EINVAL,
			    "control socket %s: group '%s': %s; create it (groupadd --system "
			    "%s) or fix [control] group",
			    p->path, p->group, rc == -ENOENT ? "no such group" : strerror(-rc),
			    p->group);
		c->has_group = true;
	}
	rc = clear_path(p, &addr, err, len);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errmsg(err, len, -errno, "control socket: socket(): %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		if (rc == -ENOENT)
			return errmsg(
			    err, len, rc,
			    "control socket %s: the folder does not exist; create it (the "
			    "systemd unit's RuntimeDirectory=edgebox makes /run/edgebox)",
			    p->path);
		return errmsg(err, len, rc, "control socket %s: bind: %s%s", p->path, strerror(-rc),
			      rc == -EACCES ? "; the daemon needs write access to the folder" : "");
	}
	/* Not listening yet: nobody can connect before the mode and group are set. */
	if (chmod(p->path, p->mode) < 0 ||
	    (c->has_group && chown(p->path, (uid_t)-1, c->gid) < 0)) {
		rc = -errno;
		unlink(p->path);
		close(fd);
		return errmsg(
		    err, len, rc, "control socket %s: cannot set mode %04o%s%s: %s%s", p->path,
		    p->mode, c->has_group ? " and group " : "", p->group, strerror(-rc),
		    rc == -EPERM ? "; the daemon must be root or a member of that group" : "");
	}
	if (stat(p->path, &st) == 0) {
		c->sock_dev = st.st_dev;
		c->sock_ino = st.st_ino;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		unlink(p->path);
		close(fd);
		return errmsg(err, len, rc, "control socket %s: listen: %s", p->path,
			      strerror(-rc));
	}
	c->listen_fd = fd;
	return 0;
}

static void remove_socket_file(struct control *c)
{
	struct stat st;

	/* Only ours: a newer daemon may already have replaced it. */
	if (stat(c->p.path, &st) == 0 && st.st_dev == c->sock_dev && st.st_ino == c->sock_ino)
		unlink(c->p.path);
}

int control_create(const struct control_params *p, struct control **ret, char *err, size_t errlen)
{
	struct control *c;
	int rc;

	rc = params_check(p, err, errlen);
	if (rc < 0)
		return rc;
	if (sodium_init() < 0)
		return errmsg(err, errlen, -EIO, "control socket: libsodium would not initialise");
	c = calloc(1, sizeof(*c));
	if (!c)
		return errmsg(err, errlen, -ENOMEM, "control socket: out of memory");
	c->p = *p;
	c->listen_fd = -1;
	c->wake_fd = -1;
	for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
		c->workers[i].fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->pin_lock, NULL);
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		rc = errmsg(err, errlen, -errno, "control socket: eventfd: %s", strerror(errno));
		goto free_c;
	}
	rc = open_listener(c, err, errlen);
	if (rc < 0)
		goto free_c;
	rc = -pthread_create(&c->listener, NULL, listener_main, c);
	if (rc < 0) {
		errmsg(err, errlen, rc, "control socket: cannot start its thread: %s",
		       strerror(-rc));
		remove_socket_file(c);
		goto free_c;
	}
	*ret = c;
	return 0;
free_c:
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->pin_lock);
	free(c);
	return rc;
}

void control_free(struct control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	atomic_store(&c->stopping, true);
	if (write(c->wake_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write cannot fail short of overflow */
	}
	pthread_join(c->listener, NULL);
	reap(c, true);
	remove_socket_file(c);
	close(c->listen_fd);
	close(c->wake_fd);
	for (size_t i = 0; i < c->nsnaps; i++)
		free(c->snaps[i].json);
	sodium_memzero(c->pins, sizeof(c->pins));
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->pin_lock);
	free(c);
}

/* ---- the client ---------------------------------------------------------------------- */

int control_request(const char *path, const char *request, int timeout_ms, control_line_fn fn,
		    void *ctx, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char *buf = NULL;
	size_t cap = 0, got = 0, start = 0;
	int fd, rc, lines = 0;

	if (!path || strlen(path) >= sizeof(addr.sun_path))
		return errmsg(err, errlen, -ENAMETOOLONG, "control socket path too long");
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errmsg(err, errlen, -errno, "socket(): %s", strerror(errno));
	set_timeouts(fd, timeout_ms > 0 ? (unsigned)timeout_ms : 2000);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		if (rc == -EACCES)
			return errmsg(
			    err, errlen, rc,
			    "%s: permission denied (only root and the technicians' group may "
			    "use it: sudo, or ask for the group)",
			    path);
		return errmsg(err, errlen, rc,
			      "%s: %s (is edgeboxd running? `systemctl status "
			      "edgeboxd`)",
			      path, strerror(-rc));
	}
	rc = send_all(fd, request, strlen(request));
	rc = rc ?: send_all(fd, "\n", 1);
	/* A server that refuses us says why and closes before reading: read that. */
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET) {
		close(fd);
		return errmsg(err, errlen, rc, "%s: cannot send the request: %s", path,
			      strerror(-rc));
	}
	for (;;) {
		ssize_t n;
		char *nl;

		if (cap - got < 4096) {
			size_t ncap = cap ? cap * 2 : 65536;
			char *nb;

			if (ncap > CONTROL_LINE_MAX + 65536)
				ncap = CONTROL_LINE_MAX + 65536;
			if (ncap <= cap) {
				rc = errmsg(err, errlen, -EPROTO,
					    "%s: a response line is longer than %u "
					    "bytes",
					    path, CONTROL_LINE_MAX);
				break;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				rc = errmsg(err, errlen, -ENOMEM, "out of memory");
				break;
			}
			buf = nb;
			cap = ncap;
		}
		n = recv(fd, buf + got, cap - got - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ECONNRESET && lines) {
			rc = 0; /* it said its piece and hung up */
			break;
		}
		if (n < 0) {
			rc = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			errmsg(err, errlen, rc, "%s: %s while waiting for the answer", path,
			       rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
			break;
		}
		if (n == 0) {
			rc = 0;
			if (got > start) { /* a last line without its newline */
				buf[got] = '\0';
				rc = fn(buf + start, got - start, ctx);
				lines++;
			}
			break;
		}
		got += (size_t)n;
		rc = 0;
		while ((nl = memchr(buf + start, '\n', got - start))) {
			*nl = '\0';
			rc = fn(buf + start, (size_t)(nl - (buf + start)), ctx);
			lines++;
			start = (size_t)(nl - buf) + 1;
			if (rc)
				break;
		}
		if (rc)
			break;
		if (start) {
			memmove(buf, buf + start, got - start);
			got -= start;
			start = 0;
		}
		if (got > CONTROL_LINE_MAX) {
			rc = errmsg(err, errlen, -EPROTO,
				    "%s: a response line is longer than %u bytes", path,
				    CONTROL_LINE_MAX);
			break;
		}
	}
	free(buf);
	close(fd);
	if (rc < 0)
		return rc;
	return lines;
}
