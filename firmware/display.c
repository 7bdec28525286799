/*
 * display — the kiosk and staff sockets. docs/display-protocol.md has the
 * wire format and the threading; firmware/display.h the contract.
 */
#include "firmware/display.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "firmware/config.h"
#include "firmware/log.h"
#include "firmware/ring.h"
#include "hal/errmsg.h"
#include "hal/time.h"

#define LOG_MODULE "display"
#define ACCEPT_BATCH 16
#define EVENTS_BATCH 32
#define LISTEN_BACKLOG 16
#define LOGGED_ERRORS_PER_CLIENT 3 /* bad messages logged per connection; the rest are counted */
#define ACCEPT_PAUSE_MS 500	   /* out of file descriptors: stop accepting for a moment */

static const char *const role_names[] = {
    [DISPLAY_ROLE_KIOSK] = "kiosk",
    [DISPLAY_ROLE_STAFF] = "staff",
};

const char *display_role_name(enum display_role role)
{
	switch (role) {
	case DISPLAY_ROLE_KIOSK:
	case DISPLAY_ROLE_STAFF:
		return role_names[role];
	}
	return "?";
}

/* ---- parameters --------------------------------------------------------- */

void display_params_default(enum display_role role, struct display_params *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->role = role;
	snprintf(ret->path, sizeof(ret->path), "/run/edgebox/%s.sock", display_role_name(role));
	ret->mode = 0660;
	ret->max_clients = role == DISPLAY_ROLE_KIOSK ? 4 : 16;
	ret->queue_bytes = 64 * 1024;
	ret->max_line_bytes = 4096;
	ret->inbound_capacity = 64;
}

static bool is_pow2(size_t n)
{
	return n >= 2 && (n & (n - 1)) == 0;
}

static void cfg_fail(struct config_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cfg_fail(struct config_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Reads a token file: one line, 1 .. DISPLAY_TOKEN_MAX-1 bytes, no blanks. */
static int read_token_file(const char *path, char *out, size_t cap, const char *where,
			   struct config_error *err)
{
	char buf[DISPLAY_TOKEN_MAX + 8];
	struct stat st;
	ssize_t n;
	size_t len, i;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		cfg_fail(err, "%s: cannot open %s: %s", where, path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size >= (off_t)sizeof(buf)) {
		close(fd);
		cfg_fail(err, "%s: %s must be a regular file holding one token of 1 to %d bytes",
			 where, path, DISPLAY_TOKEN_MAX - 1);
		return -EINVAL;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		cfg_fail(err, "%s: cannot read %s: %s", where, path, strerror(-rc));
		return rc;
	}
	len = (size_t)n;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= ' ' || buf[i] == 0x7f)
			break;
	if (len == 0 || len >= cap || i < len) {
		cfg_fail(err,
			 "%s: %s must hold one token of 1 to %zu printable bytes without blanks",
			 where, path, cap - 1);
		return -EINVAL;
	}
	memcpy(out, buf, len + 1);
	return 0;
}

int display_params_from_config(const struct config *cfg, enum display_role role,
			       struct display_params *ret, bool *ret_enabled,
			       struct config_error *err)
{
	static const char *const modes[] = {"0600", "0660", "0666", NULL};
	static const unsigned mode_values[] = {0600, 0660, 0666};
	const char *sec = display_role_name(role), *sock = NULL, *group = NULL, *tok = NULL;
	char token_path[1024], where[160];
	long v;
	int rc, m;

	display_params_default(role, ret);
	*ret_enabled = true;
	rc = config_str(cfg, sec, "socket", NULL, false, &sock, err);
	if (rc < 0)
		return rc;
	if (sock && strcmp(sock, "none") == 0)
		*ret_enabled = false;
	else {
		char def[DISPLAY_PATH_MAX];

		memcpy(def, ret->path, sizeof(def)); /* config_path must not read what it writes */
		rc = config_path(cfg, sec, "socket", def, false, ret->path, sizeof(ret->path), err);
		if (rc < 0)
			return rc;
	}
	rc = config_enum(cfg, sec, "mode", "0660", modes, &m, err);
	if (rc < 0)
		return rc;
	ret->mode = mode_values[m];
	rc = config_str(cfg, sec, "group", "", false, &group, err);
	if (rc < 0)
		return rc;
	if (strlen(group) >= sizeof(ret->group)) {
		cfg_fail(err, "%s: [%s] group: expected a group name of at most %zu characters",
			 config_name(cfg), sec, sizeof(ret->group) - 1);
		return -EINVAL;
	}
	strcpy(ret->group, group);
	rc = config_str(cfg, sec, "token_file", "", false, &tok, err);
	if (rc < 0)
		return rc;
	if (*tok) { /* empty: no token */
		rc = config_path(cfg, sec, "token_file", NULL, false, token_path,
				 sizeof(token_path), err);
		if (rc < 0)
			return rc;
		snprintf(where, sizeof(where), "%s: [%s] token_file", config_name(cfg), sec);
		rc = read_token_file(token_path, ret->token, sizeof(ret->token), where, err);
		if (rc < 0)
			return rc;
	}
	rc = config_int(cfg, sec, "max_clients", ret->max_clients, 1, DISPLAY_MAX_CLIENTS, &v, err);
	if (rc < 0)
		return rc;
	ret->max_clients = (unsigned)v;
	rc = config_int(cfg, sec, "queue_bytes", (long)ret->queue_bytes, DISPLAY_QUEUE_MIN,
			DISPLAY_QUEUE_MAX, &v, err);
	if (rc < 0)
		return rc;
	ret->queue_bytes = (size_t)v;
	rc = config_int(cfg, sec, "max_line_bytes", (long)ret->max_line_bytes, DISPLAY_LINE_MIN,
			DISPLAY_LINE_MAX, &v, err);
	if (rc < 0)
		return rc;
	ret->max_line_bytes = (size_t)v;
	rc = config_int(cfg, sec, "inbound_capacity", (long)ret->inbound_capacity, 2,
			DISPLAY_INBOUND_MAX, &v, err);
	if (rc < 0)
		return rc;
	if (!is_pow2((size_t)v)) {
		cfg_fail(err,
			 "%s: [%s] inbound_capacity: expected a power of two from 2 to %d, got %ld",
			 config_name(cfg), sec, DISPLAY_INBOUND_MAX, v);
		return -EINVAL;
	}
	ret->inbound_capacity = (size_t)v;
	return 0;
}

static int params_check(const struct display_params *p, char *msg, size_t len)
{
	const char *role = display_role_name(p->role);

	if (p->role != DISPLAY_ROLE_KIOSK && p->role != DISPLAY_ROLE_STAFF)
		return snprintf(msg, len, "display: unknown role %d", (int)p->role), -EINVAL;
	if (!memchr(p->path, '\0', sizeof(p->path)) || !p->path[0])
		return snprintf(msg, len, "%s socket: the path is empty or longer than %d bytes",
				role, DISPLAY_PATH_MAX - 1),
		       -ENAMETOOLONG;
	/* connect() needs write permission: each class gets read+write or nothing */
	if ((p->mode & 0700) != 0600 || ((p->mode >> 3) & 7) % 6 || (p->mode & 7) % 6 ||
	    p->mode > 0777)
		return snprintf(msg, len,
				"%s socket %s: mode %#o: expected 0600, 0660 or 0666 (a client "
				"needs read and write permission)",
				role, p->path, p->mode),
		       -EINVAL;
	if (p->max_clients < 1 || p->max_clients > DISPLAY_MAX_CLIENTS)
		return snprintf(msg, len, "%s socket: max_clients %u: expected 1 to %d", role,
				p->max_clients, DISPLAY_MAX_CLIENTS),
		       -EINVAL;
	if (p->queue_bytes < DISPLAY_QUEUE_MIN || p->queue_bytes > DISPLAY_QUEUE_MAX)
		return snprintf(msg, len, "%s socket: queue_bytes %zu: expected %d to %u", role,
				p->queue_bytes, DISPLAY_QUEUE_MIN, DISPLAY_QUEUE_MAX),
		       -EINVAL;
	if (p->max_line_bytes < DISPLAY_LINE_MIN || p->max_line_bytes > DISPLAY_LINE_MAX)
		return snprintf(msg, len, "%s socket: max_line_bytes %zu: expected %d to %d", role,
				p->max_line_bytes, DISPLAY_LINE_MIN, DISPLAY_LINE_MAX),
		       -EINVAL;
	if (!is_pow2(p->inbound_capacity) || p->inbound_capacity > DISPLAY_INBOUND_MAX)
		return snprintf(msg, len,
				"%s socket: inbound_capacity %zu: expected a power of two from 2 "
				"to %d",
				role, p->inbound_capacity, DISPLAY_INBOUND_MAX),
		       -EINVAL;
	if (!memchr(p->group, '\0', sizeof(p->group)) || !memchr(p->token, '\0', sizeof(p->token)))
		return snprintf(msg, len, "%s socket: group or token not NUL-terminated", role),
		       -EINVAL;
	return 0;
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid
 * (bad lead or continuation byte, overlong form, surrogate, > U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

/* The offset of the first byte that is NUL or not valid UTF-8, or len. */
static size_t utf8_check(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < len) {
		if (u[i] >= 0x01 && u[i] < 0x80) {
			i++;
			continue;
		}
		if (u[i] == 0)
			return i;
		k = utf8_seq(u + i, len - i);
		if (!k)
			return i;
		i += k;
	}
	return len;
}

/* ---- the JSON writer ---------------------------------------------------- */

uint64_t display_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put(struct display_json *w, const char *s, size_t n)
{
	if (w->failed)
		return;
	if (n > w->cap - w->len) {
		w->failed = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void putc_(struct display_json *w, char c)
{
	if (w->failed)
		return;
	if (w->len >= w->cap) {
		w->failed = true;
		return;
	}
	w->buf[w->len++] = c;
}

static void put_u64(struct display_json *w, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(w, tmp + i, sizeof(tmp) - i);
}

static void put_i64(struct display_json *w, int64_t v)
{
	if (v < 0) {
		putc_(w, '-');
		put_u64(w, (uint64_t)0 - (uint64_t)v);
	} else
		put_u64(w, (uint64_t)v);
}

/* Escapes s as a JSON string body; invalid UTF-8 becomes U+FFFD. */
static void put_escaped(struct display_json *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run;

	while (i < n && !w->failed) {
		run = i;
		while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' &&
		       u[run] != '\\')
			run++;
		if (run > i) {
			put(w, s + i, run - i);
			i = run;
			continue;
		}
		if (u[i] >= 0x80) {
			size_t k = utf8_seq(u + i, n - i);

			if (k) {
				put(w, s + i, k);
				i += k;
			} else {
				put(w, "\\ufffd", 6);
				i++;
			}
			continue;
		}
		switch (u[i]) {
		case '"':
			put(w, "\\\"", 2);
			break;
		case '\\':
			put(w, "\\\\", 2);
			break;
		case '\n':
			put(w, "\\n", 2);
			break;
		case '\r':
			put(w, "\\r", 2);
			break;
		case '\t':
			put(w, "\\t", 2);
			break;
		default: {
			char e[6] = {'\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 15]};

			put(w, e, 6);
		}
		}
		i++;
	}
}

static void member(struct display_json *w, const char *key)
{
	if (!w->first)
		putc_(w, ',');
	w->first = false;
	if (key) {
		putc_(w, '"');
		put_escaped(w, key, strlen(key));
		put(w, "\":", 2);
	}
}

void display_json_begin(struct display_json *w, char *buf, size_t cap, const char *type,
			uint64_t ts_ms)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->failed = cap == 0;
	w->first = false;
	put(w, "{\"v\":1,\"type\":\"", 15);
	put_escaped(w, type, strlen(type));
	put(w, "\",\"ts\":", 7);
	put_u64(w, ts_ms ? ts_ms : display_now_ms());
}

void display_json_strn(struct display_json *w, const char *key, const char *s, size_t n)
{
	member(w, key);
	putc_(w, '"');
	put_escaped(w, s, n);
	putc_(w, '"');
}

void display_json_str(struct display_json *w, const char *key, const char *s)
{
	display_json_strn(w, key, s ? s : "", s ? strlen(s) : 0);
}

void display_json_int(struct display_json *w, const char *key, int64_t v)
{
	member(w, key);
	put_i64(w, v);
}

void display_json_double(struct display_json *w, const char *key, double v)
{
	char tmp[32];
	int n;

	member(w, key);
	if (!isfinite(v)) {
		put(w, "null", 4);
		return;
	}
	n = snprintf(tmp, sizeof(tmp), "%.6g", v);
	put(w, tmp, (size_t)n);
}

void display_json_bool(struct display_json *w, const char *key, bool v)
{
	member(w, key);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void display_json_object(struct display_json *w, const char *key)
{
	member(w, key);
	putc_(w, '{');
	w->first = true;
}

void display_json_array(struct display_json *w, const char *key)
{
	member(w, key);
	putc_(w, '[');
	w->first = true;
}

void display_json_close_object(struct display_json *w)
{
	putc_(w, '}');
	w->first = false;
}

void display_json_close_array(struct display_json *w)
{
	putc_(w, ']');
	w->first = false;
}

int display_json_end(struct display_json *w)
{
	put(w, "}\n", 2);
	if (w->failed || w->len >= w->cap) {
		w->failed = true;
		if (w->cap)
			w->buf[0] = '\0';
		return -ENOSPC;
	}
	w->buf[w->len] = '\0';
	return (int)w->len;
}

/* ---- message builders --------------------------------------------------- */

static void opt_str(struct display_json *w, const char *key, const char *s)
{
	if (s)
		display_json_str(w, key, s);
}

int display_msg_greeting(char *buf, size_t cap, uint64_t ts_ms, const char *text)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "greeting", ts_ms);
	display_json_str(&w, "text", text);
	return display_json_end(&w);
}

int display_msg_reply_start(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "reply_start", ts_ms);
	display_json_int(&w, "turn", turn);
	return display_json_end(&w);
}

int display_msg_token(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn, const char *text,
		      size_t len)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "token", ts_ms);
	display_json_int(&w, "turn", turn);
	display_json_strn(&w, "text", text ? text : "", text ? len : 0);
	return display_json_end(&w);
}

int display_msg_reply_end(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "reply_end", ts_ms);
	display_json_int(&w, "turn", turn);
	return display_json_end(&w);
}

int display_msg_reply_fix(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn, const char *text)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "reply_fix", ts_ms);
	display_json_int(&w, "turn", turn);
	display_json_str(&w, "text", text);
	return display_json_end(&w);
}

int display_msg_product_card(char *buf, size_t cap, uint64_t ts_ms, const struct display_product *p)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "product_card", ts_ms);
	display_json_str(&w, "id", p->id);
	display_json_str(&w, "name", p->name);
	opt_str(&w, "summary", p->summary);
	opt_str(&w, "price", p->price);
	opt_str(&w, "image", p->image);
	display_json_array(&w, "highlights");
	for (size_t i = 0; i < DISPLAY_CARD_HIGHLIGHTS_MAX && p->highlights[i]; i++)
		display_json_str(&w, NULL, p->highlights[i]);
	display_json_close_array(&w);
	return display_json_end(&w);
}

int display_msg_suggestions(char *buf, size_t cap, uint64_t ts_ms,
			    const struct display_suggestion *items, size_t n)
{
	struct display_json w;

	if (n > DISPLAY_SUGGESTIONS_MAX)
		return -EINVAL;
	display_json_begin(&w, buf, cap, "suggestions", ts_ms);
	display_json_array(&w, "items");
	for (size_t i = 0; i < n; i++) {
		display_json_object(&w, NULL);
		display_json_str(&w, "id", items[i].id);
		display_json_str(&w, "text", items[i].text);
		display_json_close_object(&w);
	}
	display_json_close_array(&w);
	return display_json_end(&w);
}

int display_msg_handoff(char *buf, size_t cap, uint64_t ts_ms, const char *reason, const char *text)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "handoff", ts_ms);
	display_json_str(&w, "reason", reason);
	display_json_str(&w, "text", text);
	return display_json_end(&w);
}

int display_msg_farewell(char *buf, size_t cap, uint64_t ts_ms, const char *text)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "farewell", ts_ms);
	display_json_str(&w, "text", text);
	return display_json_end(&w);
}

int display_msg_consent_request(char *buf, size_t cap, uint64_t ts_ms, const char *kind,
				const char *text, bool ask_name)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "consent_request", ts_ms);
	display_json_str(&w, "kind", kind);
	display_json_str(&w, "text", text);
	display_json_bool(&w, "ask_name", ask_name);
	return display_json_end(&w);
}

int display_msg_consent_result(char *buf, size_t cap, uint64_t ts_ms, const char *kind, bool ok,
			       const char *text)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "consent_result", ts_ms);
	display_json_str(&w, "kind", kind);
	display_json_bool(&w, "ok", ok);
	display_json_str(&w, "text", text);
	return display_json_end(&w);
}

int display_msg_error(char *buf, size_t cap, uint64_t ts_ms, const char *code, const char *detail,
		      bool fatal)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "error", ts_ms);
	display_json_str(&w, "error", code);
	display_json_str(&w, "detail", detail);
	display_json_bool(&w, "fatal", fatal);
	return display_json_end(&w);
}

int display_msg_visitor_arrived(char *buf, size_t cap, uint64_t ts_ms,
				const struct display_visitor *v)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "visitor_arrived", ts_ms);
	display_json_int(&w, "session", v->session);
	display_json_bool(&w, "recognised", v->recognised);
	if (v->customer_id)
		display_json_int(&w, "customer_id", v->customer_id);
	opt_str(&w, "name", v->name);
	display_json_bool(&w, "returning", v->returning);
	display_json_int(&w, "visits", v->visits);
	if (v->last_visit_ms || v->last_visit_summary) {
		display_json_object(&w, "last_visit");
		if (v->last_visit_ms)
			display_json_int(&w, "ts", (int64_t)v->last_visit_ms);
		opt_str(&w, "summary", v->last_visit_summary);
		display_json_close_object(&w);
	}
	opt_str(&w, "via", v->via);
	return display_json_end(&w);
}

int display_msg_consent_recorded(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
				 const char *kind, bool granted, bool enrolled, int64_t customer_id)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "consent_recorded", ts_ms);
	display_json_int(&w, "session", session);
	display_json_str(&w, "kind", kind);
	display_json_bool(&w, "granted", granted);
	display_json_bool(&w, "enrolled", enrolled);
	if (customer_id)
		display_json_int(&w, "customer_id", customer_id);
	return display_json_end(&w);
}

int display_msg_visitor_left(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			     const char *reason)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "visitor_left", ts_ms);
	display_json_int(&w, "session", session);
	opt_str(&w, "reason", reason);
	return display_json_end(&w);
}

int display_msg_archetype(char *buf, size_t cap, uint64_t ts_ms, int64_t session, const char *id,
			  int tier, const char *directive)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "archetype", ts_ms);
	display_json_int(&w, "session", session);
	display_json_str(&w, "id", id);
	display_json_int(&w, "tier", tier);
	display_json_str(&w, "directive", directive);
	return display_json_end(&w);
}

int display_msg_signals(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			const struct display_signal *list, size_t n)
{
	struct display_json w;

	if (n > DISPLAY_SIGNALS_MAX)
		return -EINVAL;
	display_json_begin(&w, buf, cap, "signals", ts_ms);
	display_json_int(&w, "session", session);
	display_json_array(&w, "list");
	for (size_t i = 0; i < n; i++) {
		display_json_object(&w, NULL);
		display_json_str(&w, "signal", list[i].signal);
		display_json_str(&w, "evidence", list[i].evidence);
		if (list[i].confidence >= 0)
			display_json_double(&w, "confidence", list[i].confidence);
		display_json_close_object(&w);
	}
	display_json_close_array(&w);
	return display_json_end(&w);
}

int display_msg_next_best_action(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
				 const char *text, const char *const *talking_points, size_t n)
{
	struct display_json w;

	if (n > DISPLAY_POINTS_MAX)
		return -EINVAL;
	display_json_begin(&w, buf, cap, "next_best_action", ts_ms);
	display_json_int(&w, "session", session);
	display_json_str(&w, "text", text);
	display_json_array(&w, "talking_points");
	for (size_t i = 0; i < n; i++)
		display_json_str(&w, NULL, talking_points[i]);
	display_json_close_array(&w);
	return display_json_end(&w);
}

int display_msg_escalation(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			   const char *category, const char *rule, const char *reason,
			   const char *transcript_summary)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "escalation", ts_ms);
	display_json_int(&w, "session", session);
	display_json_str(&w, "category", category);
	display_json_str(&w, "rule", rule);
	display_json_str(&w, "reason", reason);
	display_json_str(&w, "transcript_summary", transcript_summary);
	return display_json_end(&w);
}

int display_msg_offline_mode(char *buf, size_t cap, uint64_t ts_ms, bool on, const char *reason)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "offline_mode", ts_ms);
	display_json_bool(&w, "on", on);
	opt_str(&w, "reason", reason);
	return display_json_end(&w);
}

int display_msg_flagged_figure(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			       const char *figure, const char *action, const char *reply_excerpt)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "flagged_figure", ts_ms);
	display_json_int(&w, "session", session);
	display_json_str(&w, "figure", figure);
	display_json_str(&w, "action", action);
	display_json_str(&w, "reply_excerpt", reply_excerpt);
	return display_json_end(&w);
}

int display_msg_transcript(char *buf, size_t cap, uint64_t ts_ms, int64_t session, const char *role,
			   const char *text)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "transcript", ts_ms);
	display_json_int(&w, "session", session);
	display_json_str(&w, "role", role);
	display_json_str(&w, "text", text);
	return display_json_end(&w);
}

int display_msg_takeover_state(char *buf, size_t cap, uint64_t ts_ms, int64_t session, bool staff,
			       const char *staff_device)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "takeover_state", ts_ms);
	display_json_int(&w, "session", session);
	display_json_str(&w, "state", staff ? "staff" : "agent");
	opt_str(&w, "device", staff ? staff_device : NULL);
	return display_json_end(&w);
}

/* The first message on every connection. */
static int msg_welcome(char *buf, size_t cap, enum display_role role, uint32_t client,
		       bool hello_required)
{
	struct display_json w;

	display_json_begin(&w, buf, cap, "welcome", 0);
	display_json_str(&w, "role", display_role_name(role));
	display_json_int(&w, "client", client);
	display_json_bool(&w, "hello_required", hello_required);
	return display_json_end(&w);
}

/* ---- parsing inbound messages ------------------------------------------- */

static int perr(struct display_parse_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct display_parse_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *json_kind(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "something else";
}

enum str_rule {
	STR_TEXT, /* free text: not blank */
	STR_ID,	  /* a name or id: no control characters, no surrounding blanks */
	STR_WORD, /* a kind: lowercase letters, digits, '_' and '-' */
};

/* Copies the string member key (cap bytes with the NUL). */
static int get_str(const cJSON *root, const char *type, const char *key, bool required,
		   enum str_rule rule, char *out, size_t cap, struct display_parse_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	const char *s;
	size_t n, i;

	if (!v) {
		if (!required)
			return 0;
		return perr(err, "missing_field", "%s: field \"%s\" is missing; add it (a string)",
			    type, key);
	}
	if (!cJSON_IsString(v) || !v->valuestring)
		return perr(err, "bad_field", "%s: field \"%s\": expected a string, got %s", type,
			    key, json_kind(v));
	s = v->valuestring;
	n = strlen(s);
	if (n == 0 || n >= cap)
		return perr(err, "bad_field",
			    "%s: field \"%s\": expected a string of 1 to %zu bytes, got %zu", type,
			    key, cap - 1, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (rule == STR_WORD &&
		    !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return perr(err, "bad_field",
				    "%s: field \"%s\": expected lowercase letters, digits, '_' or "
				    "'-', got \"%.40s\"",
				    type, key, s);
		if (rule == STR_ID && (c < 0x20 || c == 0x7f))
			return perr(err, "bad_field",
				    "%s: field \"%s\": control characters are not allowed in an id",
				    type, key);
	}
	if (rule == STR_ID && (s[0] == ' ' || s[n - 1] == ' '))
		return perr(err, "bad_field",
			    "%s: field \"%s\": leading or trailing blanks are not allowed", type,
			    key);
	if (rule == STR_TEXT) {
		for (i = 0; i < n && strchr(" \t\r\n", s[i]); i++)
			;
		if (i == n)
			return perr(err, "bad_field", "%s: field \"%s\": the text is blank", type,
				    key);
	}
	if (utf8_check(s, n) != n)
		return perr(err, "bad_encoding",
			    "%s: field \"%s\": not valid UTF-8 (an escaped NUL or a lone "
			    "surrogate?)",
			    type, key);
	memcpy(out, s, n + 1);
	return 0;
}

static int get_session(const cJSON *root, const char *type, int64_t *out,
		       struct display_parse_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "session");

	if (!v)
		return perr(err, "missing_field",
			    "%s: field \"session\" is missing; add the session id (a number from "
			    "the staff feed)",
			    type);
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != floor(v->valuedouble))
		return perr(err, "bad_field",
			    "%s: field \"session\": expected a whole number >= 1, got %s", type,
			    cJSON_IsNumber(v) ? "a number out of range" : json_kind(v));
	*out = (int64_t)v->valuedouble;
	return 0;
}

typedef int (*parse_fn)(const cJSON *root, const char *type, struct display_inbound *m,
			struct display_parse_error *err);

static int parse_hello_kiosk(const cJSON *root, const char *type, struct display_inbound *m,
			     struct display_parse_error *err)
{
	int rc = get_str(root, type, "client", true, STR_ID, m->u.hello.name,
			 sizeof(m->u.hello.name), err);

	if (rc < 0)
		return rc;
	return get_str(root, type, "token", false, STR_ID, m->u.hello.token,
		       sizeof(m->u.hello.token), err);
}

static int parse_hello_staff(const cJSON *root, const char *type, struct display_inbound *m,
			     struct display_parse_error *err)
{
	int rc = get_str(root, type, "device", true, STR_ID, m->u.hello.name,
			 sizeof(m->u.hello.name), err);

	if (rc < 0)
		return rc;
	return get_str(root, type, "token", false, STR_ID, m->u.hello.token,
		       sizeof(m->u.hello.token), err);
}

static int parse_customer_text(const cJSON *root, const char *type, struct display_inbound *m,
			       struct display_parse_error *err)
{
	return get_str(root, type, "text", true, STR_TEXT, m->u.text.text, sizeof(m->u.text.text),
		       err);
}

static int parse_tap(const cJSON *root, const char *type, struct display_inbound *m,
		     struct display_parse_error *err)
{
	bool sug = cJSON_GetObjectItemCaseSensitive(root, "suggestion_id") != NULL;
	bool prod = cJSON_GetObjectItemCaseSensitive(root, "product_id") != NULL;

	if (sug == prod)
		return perr(err, sug ? "bad_field" : "missing_field",
			    "%s: expected exactly one of \"suggestion_id\" or \"product_id\"",
			    type);
	m->u.tap.kind = sug ? DISPLAY_TAP_SUGGESTION : DISPLAY_TAP_PRODUCT;
	return get_str(root, type, sug ? "suggestion_id" : "product_id", true, STR_ID, m->u.tap.id,
		       sizeof(m->u.tap.id), err);
}

static int parse_consent(const cJSON *root, const char *type, struct display_inbound *m,
			 struct display_parse_error *err)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "granted");
	int rc = get_str(root, type, "kind", true, STR_WORD, m->u.consent.kind,
			 sizeof(m->u.consent.kind), err);

	if (rc < 0)
		return rc;
	if (!g)
		return perr(err, "missing_field",
			    "%s: field \"granted\" is missing; add true or false", type);
	if (!cJSON_IsBool(g))
		return perr(err, "bad_field",
			    "%s: field \"granted\": expected true or false, got %s", type,
			    json_kind(g));
	m->u.consent.granted = cJSON_IsTrue(g);
	/* optional: what the customer wants to be called (face enrolment) */
	return get_str(root, type, "name", false, STR_ID, m->u.consent.name,
		       sizeof(m->u.consent.name), err);
}

static int parse_session_only(const cJSON *root, const char *type, struct display_inbound *m,
			      struct display_parse_error *err)
{
	return get_session(root, type, &m->u.session, err);
}

static int parse_staff_text(const cJSON *root, const char *type, struct display_inbound *m,
			    struct display_parse_error *err)
{
	int rc = get_session(root, type, &m->u.staff_text.session, err);

	if (rc < 0)
		return rc;
	return get_str(root, type, "text", true, STR_TEXT, m->u.staff_text.text,
		       sizeof(m->u.staff_text.text), err);
}

static const struct {
	const char *name;
	enum display_role role;
	enum display_in_type type;
	parse_fn parse;
} in_types[] = {
    {"hello", DISPLAY_ROLE_KIOSK, DISPLAY_IN_HELLO, parse_hello_kiosk},
    {"customer_text", DISPLAY_ROLE_KIOSK, DISPLAY_IN_CUSTOMER_TEXT, parse_customer_text},
    {"tap", DISPLAY_ROLE_KIOSK, DISPLAY_IN_TAP, parse_tap},
    {"consent", DISPLAY_ROLE_KIOSK, DISPLAY_IN_CONSENT, parse_consent},
    {"hello", DISPLAY_ROLE_STAFF, DISPLAY_IN_HELLO, parse_hello_staff},
    {"take_over", DISPLAY_ROLE_STAFF, DISPLAY_IN_TAKE_OVER, parse_session_only},
    {"hand_back", DISPLAY_ROLE_STAFF, DISPLAY_IN_HAND_BACK, parse_session_only},
    {"staff_text", DISPLAY_ROLE_STAFF, DISPLAY_IN_STAFF_TEXT, parse_staff_text},
};

static const char *role_types(enum display_role role)
{
	return role == DISPLAY_ROLE_KIOSK ? "hello, customer_text, tap, consent"
					  : "hello, take_over, hand_back, staff_text";
}

static int parse_root(enum display_role role, const cJSON *root, struct display_inbound *ret,
		      struct display_parse_error *err)
{
	const cJSON *v, *type, *ts;
	bool other_role = false;
	size_t i;

	if (!cJSON_IsObject(root))
		return perr(err, "not_object",
			    "expected one JSON object per line, got %s; see "
			    "docs/display-protocol.md",
			    json_kind(root));
	v = cJSON_GetObjectItemCaseSensitive(root, "v");
	if (!v)
		return perr(err, "missing_field",
			    "field \"v\" is missing; every message carries the protocol version: "
			    "\"v\":%d",
			    DISPLAY_PROTOCOL_VERSION);
	if (!cJSON_IsNumber(v) || v->valuedouble != DISPLAY_PROTOCOL_VERSION) {
		if (cJSON_IsNumber(v))
			return perr(err, "bad_version",
				    "this server speaks protocol version %d, the message says "
				    "%.6g; send \"v\":%d",
				    DISPLAY_PROTOCOL_VERSION, v->valuedouble,
				    DISPLAY_PROTOCOL_VERSION);
		return perr(err, "bad_field", "field \"v\": expected the number %d, got %s",
			    DISPLAY_PROTOCOL_VERSION, json_kind(v));
	}
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!type)
		return perr(err, "missing_field", "field \"type\" is missing; %s messages are %s",
			    display_role_name(role), role_types(role));
	if (!cJSON_IsString(type))
		return perr(err, "bad_field", "field \"type\": expected a string, got %s",
			    json_kind(type));
	ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
	if (ts) {
		if (!cJSON_IsNumber(ts) || ts->valuedouble < 0 ||
		    ts->valuedouble > 9007199254740992.0)
			return perr(err, "bad_field",
				    "%s: field \"ts\": expected milliseconds since 1970 (a number "
				    ">= 0), got %s",
				    type->valuestring, json_kind(ts));
		ret->ts_ms = (uint64_t)ts->valuedouble;
	}
	for (i = 0; i < sizeof(in_types) / sizeof(in_types[0]); i++) {
		if (strcmp(in_types[i].name, type->valuestring) != 0)
			continue;
		if (in_types[i].role != role) {
			other_role = true;
			continue;
		}
		ret->type = in_types[i].type;
		return in_types[i].parse(root, in_types[i].name, ret, err);
	}
	if (other_role)
		return perr(
		    err, "not_allowed",
		    "\"%.40s\" is a %s message; this is the %s socket, whose messages are %s",
		    type->valuestring,
		    display_role_name(role == DISPLAY_ROLE_KIOSK ? DISPLAY_ROLE_STAFF
								 : DISPLAY_ROLE_KIOSK),
		    display_role_name(role), role_types(role));
	return perr(err, "unknown_type", "unknown type \"%.40s\"; %s messages are %s",
		    type->valuestring, display_role_name(role), role_types(role));
}

int display_parse(enum display_role role, const char *line, size_t len, struct display_inbound *ret,
		  struct display_parse_error *err)
{
	const char *end = NULL;
	cJSON *root;
	size_t bad;
	int rc;

	memset(ret, 0, sizeof(*ret));
	err->code = NULL;
	err->detail[0] = '\0';
	bad = utf8_check(line, len);
	if (bad < len)
		return perr(err, "bad_encoding",
			    "byte %zu is %s; send UTF-8 JSON text, one object per line", bad,
			    line[bad] ? "not valid UTF-8" : "a NUL");
	root = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!root)
		return perr(err, "bad_json",
			    "not valid JSON (near byte %zu); send one JSON object per line",
			    end && end >= line ? (size_t)(end - line) : (size_t)0);
	for (; end && end < line + len; end++)
		if (!strchr(" \t\r", *end)) {
			cJSON_Delete(root);
			return perr(err, "bad_json",
				    "extra data after the JSON object at byte %zu; send one object "
				    "per line",
				    (size_t)(end - line));
		}
	rc = parse_root(role, root, ret, err);
	cJSON_Delete(root);
	return rc;
}

/* ---- the server ---------------------------------------------------------- */

enum client_state {
	CLIENT_FREE,
	CLIENT_ACTIVE,
	CLIENT_CLOSING, /* marked by a sender; the I/O thread closes it */
};

struct client {
	int fd;
	/* enum client_state. Changed under d->lock; atomic so the I/O thread
	 * may look without it. */
	_Atomic int state;
	uint32_t id;
	bool authed;	    /* gets broadcasts, may send more than hello */
	bool out_armed;	    /* EPOLLOUT is in the interest set */
	bool at_line_start; /* the bytes written so far end with '\n' */
	const char *close_code;
	char close_detail[160];
	/* Outbound byte queue (a circle); always ends at a message end. */
	char *q;
	size_t qhead, qlen;
	/* Inbound: the I/O thread's alone. */
	char *in;
	size_t inlen;
	unsigned errors;
	uint64_t lines;
	char name[DISPLAY_ID_MAX];
	pid_t pid;
	uid_t uid;
};

struct display {
	struct display_params p;
	int listen_fd, epoll_fd, event_fd;
	pthread_t thread;
	bool thread_started;
	_Atomic bool stop;
	bool stopping; /* display_free: no DISCONNECT messages */
	pthread_mutex_t lock;
	struct client *clients;
	char *mem;
	struct ring *inbound;
	uint32_t next_id;
	dev_t sock_dev;
	ino_t sock_ino;
	bool pending_notify;
	uint64_t accept_paused_until_ns;
	/* statistics: relaxed atomics, readable any time */
	_Atomic unsigned n_clients;
	_Atomic uint64_t accepted, refused, sent, bytes_out, dropped_slow, malformed, received,
	    busy, bytes_in;
	_Atomic size_t queue_high_water;
	/* I/O thread's scratch (and display_free's, after the thread ended) */
	char scratch[DISPLAY_MSG_MAX + 1];
	struct display_inbound msg;	 /* a parsed line on its way to the owner */
	struct display_inbound presence; /* CONNECT / DISCONNECT on their way */
};

#define TAG_LISTEN UINT64_MAX
#define TAG_EVENT (UINT64_MAX - 1)

static inline uint64_t client_tag(const struct display *d, const struct client *c)
{
	return ((uint64_t)c->id << 32) | (uint64_t)(c - d->clients);
}

static void add_u64(_Atomic uint64_t *a, uint64_t v)
{
	atomic_fetch_add_explicit(a, v, memory_order_relaxed);
}

const char *display_path(const struct display *d)
{
	return d->p.path;
}

void display_get_stats(struct display *d, struct display_stats *ret)
{
	ret->clients = atomic_load_explicit(&d->n_clients, memory_order_relaxed);
	ret->accepted = atomic_load_explicit(&d->accepted, memory_order_relaxed);
	ret->refused = atomic_load_explicit(&d->refused, memory_order_relaxed);
	ret->sent = atomic_load_explicit(&d->sent, memory_order_relaxed);
	ret->bytes_out = atomic_load_explicit(&d->bytes_out, memory_order_relaxed);
	ret->dropped_slow = atomic_load_explicit(&d->dropped_slow, memory_order_relaxed);
	ret->malformed = atomic_load_explicit(&d->malformed, memory_order_relaxed);
	ret->received = atomic_load_explicit(&d->received, memory_order_relaxed);
	ret->busy = atomic_load_explicit(&d->busy, memory_order_relaxed);
	ret->bytes_in = atomic_load_explicit(&d->bytes_in, memory_order_relaxed);
	ret->queue_high_water = atomic_load_explicit(&d->queue_high_water, memory_order_relaxed);
}

static void wake_io(struct display *d)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow: the thread is awake then. */
	if (write(d->event_fd, &one, sizeof(one)) < 0)
		return;
}

/* Under d->lock. The I/O thread closes it at its next round. */
static void mark_closing(struct client *c, const char *code, const char *detail)
{
	if (c->state != CLIENT_ACTIVE)
		return;
	c->state = CLIENT_CLOSING;
	c->close_code = code;
	snprintf(c->close_detail, sizeof(c->close_detail), "%s", detail ? detail : "");
}

static void queue_append(struct display *d, struct client *c, const char *s, size_t n)
{
	size_t cap = d->p.queue_bytes, tail = (c->qhead + c->qlen) % cap;
	size_t first = n < cap - tail ? n : cap - tail;

	memcpy(c->q + tail, s, first);
	memcpy(c->q, s + first, n - first);
	c->qlen += n;
	if (c->qlen > atomic_load_explicit(&d->queue_high_water, memory_order_relaxed))
		atomic_store_explicit(&d->queue_high_water, c->qlen, memory_order_relaxed);
}

static void set_out_interest(struct display *d, struct client *c, bool out)
{
	struct epoll_event ev = {
	    .events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0),
	    .data.u64 = client_tag(d, c),
	};

	if (c->out_armed == out)
		return;
	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->out_armed = out;
}

/*
 * Under d->lock, c ACTIVE. Writes the line now if nothing is queued before
 * it, queues what the socket did not take. 0; -ENOBUFS when the queue
 * overflowed or -EPIPE when the peer is gone (c is then CLOSING and
 * *ret_wake set).
 */
static int deliver(struct display *d, struct client *c, const char *line, size_t len,
		   bool *ret_wake)
{
	if (c->qlen == 0) {
		ssize_t n = send(c->fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n == (ssize_t)len) {
			c->at_line_start = true;
			add_u64(&d->bytes_out, len);
			add_u64(&d->sent, 1);
			return 0;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				mark_closing(c, "closed", NULL);
				*ret_wake = true;
				return -EPIPE;
			}
			n = 0;
		}
		if (n > 0) {
			c->at_line_start = false;
			add_u64(&d->bytes_out, (uint64_t)n);
		}
		line += n;
		len -= (size_t)n;
	}
	if (len > d->p.queue_bytes - c->qlen) {
		char detail[160];

		snprintf(detail, sizeof(detail),
			 "this client fell more than %zu bytes behind; the feed does not wait, "
			 "reconnect and read faster",
			 d->p.queue_bytes);
		c->qlen = c->qhead = 0; /* dropped; at_line_start tells if a line was cut */
		mark_closing(c, "too_slow", detail);
		*ret_wake = true;
		return -ENOBUFS;
	}
	queue_append(d, c, line, len);
	set_out_interest(d, c, true);
	add_u64(&d->sent, 1);
	return 0;
}

static int check_line(const struct display *d, const char *line, size_t len)
{
	if (!line || len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		return -EINVAL;
	if (len > d->p.queue_bytes)
		return -EMSGSIZE;
	return 0;
}

int display_send(struct display *d, const char *line, size_t len)
{
	bool wake = false;
	int rc, count = 0;

	rc = check_line(d, line, len);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->p.max_clients; i++) {
		struct client *c = &d->clients[i];

		if (c->state == CLIENT_ACTIVE && c->authed && deliver(d, c, line, len, &wake) == 0)
			count++;
	}
	pthread_mutex_unlock(&d->lock);
	if (wake)
		wake_io(d);
	return count;
}

int display_send_to(struct display *d, uint32_t client, const char *line, size_t len)
{
	bool wake = false;
	int rc;

	rc = check_line(d, line, len);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->p.max_clients; i++) {
		struct client *c = &d->clients[i];

		if (c->state == CLIENT_ACTIVE && c->id == client) {
			rc = deliver(d, c, line, len, &wake);
			if (rc == -EPIPE)
				rc = -ENOENT;
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (wake)
		wake_io(d);
	return rc;
}

/* Under d->lock. Writes queued bytes; 0 or -errno when the peer is gone. */
static int flush(struct display *d, struct client *c)
{
	size_t cap = d->p.queue_bytes;

	while (c->qlen) {
		size_t first = c->qlen < cap - c->qhead ? c->qlen : cap - c->qhead;
		struct iovec iov[2] = {
		    {.iov_base = c->q + c->qhead, .iov_len = first},
		    {.iov_base = c->q, .iov_len = c->qlen - first},
		};
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = c->qlen > first ? 2 : 1};
		ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		c->at_line_start = n > 0 && c->q[(c->qhead + (size_t)n - 1) % cap] == '\n';
		c->qhead = (c->qhead + (size_t)n) % cap;
		c->qlen -= (size_t)n;
		add_u64(&d->bytes_out, (uint64_t)n);
	}
	if (c->qlen == 0) {
		c->qhead = 0;
		set_out_interest(d, c, false);
	}
	return 0;
}

/* CONNECT / DISCONNECT for the owner; they are not counted as received. */
static void push_owner(struct display *d, const struct display_inbound *m)
{
	if (ring_push(d->inbound, m, sizeof(*m)) == 0) {
		d->pending_notify = true;
	} else {
		log_warning(LOG_MODULE,
			    "%s: the owner's queue is full; client %u's %s was not "
			    "reported",
			    display_role_name(d->p.role), m->client,
			    m->type == DISPLAY_IN_CONNECT ? "connection" : "disconnection");
	}
}

static void push_presence(struct display *d, struct client *c, enum display_in_type type,
			  const char *reason)
{
	struct display_inbound *m = &d->presence;

	memset(m, 0, offsetof(struct display_inbound, u) + sizeof(m->u.disconnect));
	m->type = type;
	m->client = c->id;
	m->recv_ns = hal_now_ns();
	if (reason)
		snprintf(m->u.disconnect.reason, sizeof(m->u.disconnect.reason), "%s", reason);
	push_owner(d, m);
}

/*
 * Under d->lock, from the I/O thread (or display_free after it ended).
 * Sends the error line code/detail first (best effort) unless code is
 * "closed", then closes the connection and frees the slot.
 */
static void close_client(struct display *d, struct client *c, const char *code, const char *detail)
{
	const char *role = display_role_name(d->p.role);
	bool slow = strcmp(code, "too_slow") == 0;

	/* Counted before the peer can see the end. */
	atomic_fetch_sub_explicit(&d->n_clients, 1, memory_order_relaxed);
	if (slow)
		add_u64(&d->dropped_slow, 1);
	if (strcmp(code, "closed") != 0) {
		char *b = d->scratch;
		size_t off = 0;
		int n;

		if (!c->at_line_start && c->qlen == 0)
			b[off++] = '\n'; /* a line was cut: start the error on a fresh one */
		n = display_msg_error(b + off, sizeof(d->scratch) - off, 0, code, detail, true);
		if (n > 0) {
			off += (size_t)n;
			if (slow) {
				/* Its socket buffer is full: lend it room for this line. */
				int big = 1 << 20;

				setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
			}
			if (c->qlen && off <= d->p.queue_bytes - c->qlen) {
				queue_append(d, c, b, off);
				flush(d, c);
			} else if (c->qlen == 0 &&
				   send(c->fd, b, off, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
				add_u64(&d->bytes_out, off);
			}
		}
	}
	if (slow) {
		log_warning(LOG_MODULE, "%s: client %u (%s) dropped: too slow (%zu bytes behind)",
			    role, c->id, c->name[0] ? c->name : "no hello", d->p.queue_bytes);
	} else if (strcmp(code, "shutdown") != 0) {
		log_info(LOG_MODULE, "%s: client %u (%s) disconnected: %s%s%s", role, c->id,
			 c->name[0] ? c->name : "no hello", code, c->inlen ? ", mid-line" : "",
			 c->errors ? ", after bad messages" : "");
	}
	epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = CLIENT_FREE;
	c->qlen = c->qhead = 0;
	c->inlen = 0;
	if (c->authed && !d->stopping)
		push_presence(d, c, DISPLAY_IN_DISCONNECT, code);
	c->authed = false;
}

static void reap_closing(struct display *d)
{
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->p.max_clients; i++) {
		struct client *c = &d->clients[i];

		if (c->state == CLIENT_CLOSING)
			close_client(d, c, c->close_code, c->close_detail);
	}
	pthread_mutex_unlock(&d->lock);
}

/* I/O thread: an error line to one client; fatal ones close it. */
static void reply_error(struct display *d, struct client *c, const char *code, const char *detail,
			bool fatal)
{
	bool wake = false;
	int n;

	pthread_mutex_lock(&d->lock);
	if (c->state != CLIENT_ACTIVE) {
		pthread_mutex_unlock(&d->lock);
		return;
	}
	if (fatal) {
		close_client(d, c, code, detail);
	} else {
		n = display_msg_error(d->scratch, sizeof(d->scratch), 0, code, detail, false);
		if (n > 0)
			deliver(d, c, d->scratch, (size_t)n, &wake);
	}
	pthread_mutex_unlock(&d->lock);
}

static void refuse(struct display *d, struct client *c, const char *code, const char *detail)
{
	const char *role = display_role_name(d->p.role);

	add_u64(&d->malformed, 1);
	c->errors++;
	if (c->errors <= LOGGED_ERRORS_PER_CLIENT)
		log_warning(LOG_MODULE, "%s: client %u (%s) line %llu refused: %s: %s%s", role,
			    c->id, c->name[0] ? c->name : "no hello", (unsigned long long)c->lines,
			    code, detail,
			    c->errors == LOGGED_ERRORS_PER_CLIENT
				? " (further bad messages from this client are only counted)"
				: "");
	if (c->errors >= DISPLAY_MAX_ERRORS) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "%d bad messages on this connection; fix the client (last: %s)",
			 DISPLAY_MAX_ERRORS, code);
		reply_error(d, c, "too_many_errors", msg, true);
		return;
	}
	reply_error(d, c, code, detail, false);
}

static bool token_matches(const char *want, const char *got)
{
	unsigned char diff = 0;
	size_t i;

	/* Both are NUL-padded to the end: compare every byte, whatever matches. */
	for (i = 0; i < DISPLAY_TOKEN_MAX; i++)
		diff |= (unsigned char)(want[i] ^ got[i]);
	return diff == 0;
}

/* I/O thread: one complete inbound line (no newline). */
static void process_line(struct display *d, struct client *c, const char *line, size_t len)
{
	struct display_parse_error err;
	struct display_inbound *m = &d->msg;

	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return; /* blank lines keep connections alive */
	c->lines++;
	if (display_parse(d->p.role, line, len, m, &err) < 0) {
		refuse(d, c, err.code, err.detail);
		return;
	}
	if (m->type == DISPLAY_IN_HELLO) {
		char issued[DISPLAY_TOKEN_MAX] = "";

		if (d->p.auth && !d->p.auth(d->p.auth_ctx, m->u.hello.name, m->u.hello.token,
					    issued, sizeof(issued))) {
			add_u64(&d->malformed, 1);
			log_warning(LOG_MODULE, "%s: client %u (pid %d uid %u): hello not paired",
				    display_role_name(d->p.role), c->id, (int)c->pid,
				    (unsigned)c->uid);
			reply_error(
			    d, c, "unauthorized",
			    "this tablet is not paired: run `edgeboxctl pair` on the box and "
			    "send the PIN it shows as the hello token",
			    true);
			return;
		}
		if (issued[0]) {
			struct display_json w;
			bool wake = false;
			int n;

			pthread_mutex_lock(&d->lock);
			display_json_begin(&w, d->scratch, sizeof(d->scratch), "paired", 0);
			display_json_str(&w, "token", issued);
			n = display_json_end(&w);
			if (n > 0 && c->state == CLIENT_ACTIVE)
				deliver(d, c, d->scratch, (size_t)n, &wake);
			pthread_mutex_unlock(&d->lock);
			memset(issued, 0, sizeof(issued));
		}
		if (!d->p.auth && d->p.token[0] && !token_matches(d->p.token, m->u.hello.token)) {
			add_u64(&d->malformed, 1);
			log_warning(LOG_MODULE,
				    "%s: client %u (pid %d uid %u): hello with a %s token",
				    display_role_name(d->p.role), c->id, (int)c->pid,
				    (unsigned)c->uid, m->u.hello.token[0] ? "wrong" : "missing");
			reply_error(d, c, "unauthorized",
				    "hello needs the right \"token\" on this socket; ask the box's "
				    "administrator for it",
				    true);
			return;
		}
		memset(m->u.hello.token, 0, sizeof(m->u.hello.token));
		snprintf(c->name, sizeof(c->name), "%s", m->u.hello.name);
		if (!c->authed) {
			pthread_mutex_lock(&d->lock);
			c->authed = true;
			pthread_mutex_unlock(&d->lock);
			push_presence(d, c, DISPLAY_IN_CONNECT, NULL);
		}
	} else if (!c->authed) {
		refuse(d, c, "unauthorized",
		       "send hello with the token first; see docs/display-protocol.md");
		return;
	}
	m->client = c->id;
	m->recv_ns = hal_now_ns();
	/* Counted first: an owner that has the message sees it counted. */
	add_u64(&d->received, 1);
	if (ring_push(d->inbound, m, sizeof(*m)) == 0) {
		d->pending_notify = true;
		return;
	}
	atomic_fetch_sub_explicit(&d->received, 1, memory_order_relaxed);
	add_u64(&d->busy, 1);
	reply_error(d, c, "busy",
		    "edgeboxd is behind and dropped this message; send it again in a moment",
		    false);
}

static void read_client(struct display *d, struct client *c)
{
	size_t cap = d->p.max_line_bytes + 1, start = 0, i;
	uint32_t id = c->id;
	ssize_t n;

	n = recv(c->fd, c->in + c->inlen, cap - c->inlen, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		pthread_mutex_lock(&d->lock);
		if (c->state != CLIENT_FREE)
			close_client(d, c, "closed", NULL);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	if (n < 0)
		return;
	add_u64(&d->bytes_in, (uint64_t)n);
	for (i = c->inlen; i < c->inlen + (size_t)n; i++) {
		if (c->in[i] != '\n')
			continue;
		process_line(d, c, c->in + start, i - start);
		if (c->state != CLIENT_ACTIVE || c->id != id)
			return; /* closed or closing while processing */
		start = i + 1;
	}
	c->inlen += (size_t)n;
	if (start) {
		memmove(c->in, c->in + start, c->inlen - start);
		c->inlen -= start;
	}
	if (c->inlen == cap) {
		char detail[160];

		add_u64(&d->malformed, 1);
		snprintf(detail, sizeof(detail),
			 "a line is longer than %zu bytes; the connection is closed, send shorter "
			 "messages",
			 d->p.max_line_bytes);
		log_warning(LOG_MODULE, "%s: client %u (%s): line longer than %zu bytes",
			    display_role_name(d->p.role), c->id, c->name[0] ? c->name : "no hello",
			    d->p.max_line_bytes);
		reply_error(d, c, "line_too_long", detail, true);
	}
}

static void accept_clients(struct display *d)
{
	const char *role = display_role_name(d->p.role);

	for (int k = 0; k < ACCEPT_BATCH; k++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
		struct ucred cred = {.pid = 0, .uid = (uid_t)-1};
		socklen_t cl = sizeof(cred);
		struct client *c = NULL;
		bool wake = false;
		int fd, n;

		fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
			    errno == ENOBUFS) {
				/* The listener stays readable: pause it or the loop spins. */
				log_warning(LOG_MODULE,
					    "%s: cannot accept: %s; pausing new "
					    "connections for %d ms",
					    role, strerror(errno), ACCEPT_PAUSE_MS);
				epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, d->listen_fd, NULL);
				d->accept_paused_until_ns =
				    hal_now_ns() + ACCEPT_PAUSE_MS * 1000000ull;
			}
			return;
		}
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
		pthread_mutex_lock(&d->lock);
		for (unsigned i = 0; i < d->p.max_clients; i++)
			if (d->clients[i].state == CLIENT_FREE) {
				c = &d->clients[i];
				break;
			}
		if (!c) {
			char detail[128];

			pthread_mutex_unlock(&d->lock);
			add_u64(&d->refused, 1); /* before the peer can see it */
			snprintf(detail, sizeof(detail),
				 "this %s socket serves at most %u clients; close another one",
				 role, d->p.max_clients);
			n = display_msg_error(d->scratch, sizeof(d->scratch), 0, "server_full",
					      detail, true);
			if (n > 0 &&
			    send(fd, d->scratch, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				n = 0;
			close(fd);
			log_warning(LOG_MODULE,
				    "%s: connection from pid %d refused: %u clients "
				    "already",
				    role, (int)cred.pid, d->p.max_clients);
			continue;
		}
		c->fd = fd;
		c->id = ++d->next_id ? d->next_id : ++d->next_id;
		c->state = CLIENT_ACTIVE;
		c->authed = d->p.token[0] == '\0' && !d->p.auth;
		c->out_armed = false;
		c->at_line_start = true;
		c->qhead = c->qlen = c->inlen = 0;
		c->errors = 0;
		c->lines = 0;
		c->name[0] = '\0';
		c->pid = cred.pid;
		c->uid = cred.uid;
		ev.data.u64 = client_tag(d, c);
		if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			log_error(LOG_MODULE, "%s: cannot watch a new client: %s", role,
				  strerror(errno));
			close(fd);
			c->fd = -1;
			c->state = CLIENT_FREE;
			pthread_mutex_unlock(&d->lock);
			continue;
		}
		atomic_fetch_add_explicit(&d->n_clients, 1, memory_order_relaxed);
		add_u64(&d->accepted, 1);
		n = msg_welcome(d->scratch, sizeof(d->scratch), d->p.role, c->id, !c->authed);
		if (n > 0)
			deliver(d, c, d->scratch, (size_t)n, &wake);
		if (c->authed)
			push_presence(d, c, DISPLAY_IN_CONNECT, NULL);
		pthread_mutex_unlock(&d->lock);
		log_info(LOG_MODULE, "%s: client %u connected (pid %d, uid %u)", role, c->id,
			 (int)cred.pid, (unsigned)cred.uid);
	}
}

static void client_event(struct display *d, uint64_t tag, uint32_t events)
{
	uint32_t slot = (uint32_t)tag, id = (uint32_t)(tag >> 32);
	struct client *c;
	int rc = 0;

	if (slot >= d->p.max_clients)
		return;
	c = &d->clients[slot];
	pthread_mutex_lock(&d->lock);
	if (c->state != CLIENT_ACTIVE || c->id != id) {
		pthread_mutex_unlock(&d->lock);
		return; /* closed since, or closing */
	}
	if (events & EPOLLOUT)
		rc = flush(d, c);
	if (rc < 0)
		close_client(d, c, "closed", NULL);
	pthread_mutex_unlock(&d->lock);
	if (rc < 0)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		read_client(d, c);
}

static void *io_main(void *arg)
{
	struct display *d = arg;
	struct epoll_event evs[EVENTS_BATCH];
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&d->stop)) {
		int timeout = -1, n;

		if (d->accept_paused_until_ns) {
			uint64_t now = hal_now_ns();

			if (now >= d->accept_paused_until_ns) {
				struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};

				epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, d->listen_fd, &ev);
				d->accept_paused_until_ns = 0;
			} else
				timeout = (int)((d->accept_paused_until_ns - now) / 1000000) + 1;
		}
		n = epoll_wait(d->epoll_fd, evs, EVENTS_BATCH, timeout);
		if (n < 0 && errno != EINTR) {
			log_error(LOG_MODULE, "%s: epoll_wait: %s", display_role_name(d->p.role),
				  strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == TAG_LISTEN)
				accept_clients(d);
			else if (evs[i].data.u64 == TAG_EVENT) {
				uint64_t v;

				if (read(d->event_fd, &v, sizeof(v)) < 0)
					continue;
			} else
				client_event(d, evs[i].data.u64, evs[i].events);
		}
		reap_closing(d);
		if (d->pending_notify) {
			d->pending_notify = false;
			if (d->p.notify)
				d->p.notify(d->p.notify_ctx);
		}
	}
	return NULL;
}

/* ---- create / free ------------------------------------------------------- */

/* Removes a stale socket file at path; refuses anything else. */
static int clear_path(const struct display_params *p, const struct sockaddr_un *addr, char *err,
		      size_t errlen)
{
	const char *role = display_role_name(p->role);
	struct stat st;
	int s, rc;

	if (lstat(p->path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		return errmsg(err, errlen, rc, "%s socket %s: %s", role, p->path, strerror(-rc));
	}
	if (!S_ISSOCK(st.st_mode))
		return errmsg(err, errlen, -EEXIST,
			      "%s socket %s: the path exists and is not a socket; remove it or set "
			      "another [%s] socket",
			      role, p->path, role);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		rc = -errno;
		return errmsg(err, errlen, rc, "%s socket: socket(): %s", role, strerror(-rc));
	}
	rc = connect(s, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ? 0 : -errno;
	close(s);
	if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS)
		return errmsg(
		    err, errlen, -EADDRINUSE,
		    "%s socket %s: another process is listening on it (another edgeboxd?); "
		    "stop it or set another [%s] socket",
		    role, p->path, role);
	if (rc != -ECONNREFUSED)
		return errmsg(err, errlen, rc, "%s socket %s: cannot check the existing socket: %s",
			      role, p->path, strerror(-rc));
	/* Nobody listens: a previous run's leftover. */
	if (unlink(p->path) < 0 && errno != ENOENT) {
		rc = -errno;
		return errmsg(err, errlen, rc, "%s socket %s: cannot remove the stale socket: %s",
			      role, p->path, strerror(-rc));
	}
	return 0;
}

static int lookup_group(const struct display_params *p, gid_t *ret, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[16384];
	int rc;

	rc = getgrnam_r(p->group, &gr, buf, sizeof(buf), &res);
	if (rc || !res)
		return errmsg(err, errlen, -EINVAL,
			      "%s socket %s: group '%s': %s; create it (groupadd %s) or fix [%s] "
			      "group",
			      display_role_name(p->role), p->path, p->group,
			      rc ? strerror(rc) : "no such group", p->group,
			      display_role_name(p->role));
	*ret = res->gr_gid;
	return 0;
}

static int open_listener(struct display *d, char *err, size_t errlen)
{
	const struct display_params *p = &d->p;
	const char *role = display_role_name(p->role);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	gid_t gid = (gid_t)-1;
	int fd, rc;

	memcpy(addr.sun_path, p->path, strlen(p->path) + 1);
	if (p->group[0]) {
		rc = lookup_group(p, &gid, err, errlen);
		if (rc < 0)
			return rc;
	}
	rc = clear_path(p, &addr, err, errlen);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		return errmsg(err, errlen, rc, "%s socket: socket(): %s", role, strerror(-rc));
	}
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		if (rc == -ENOENT)
			return errmsg(err, errlen, rc,
				      "%s socket %s: the folder does not exist; create it (the "
				      "systemd unit's RuntimeDirectory=edgebox makes /run/edgebox)",
				      role, p->path);
		return errmsg(err, errlen, rc, "%s socket %s: bind: %s%s", role, p->path,
			      strerror(-rc),
			      rc == -EACCES ? "; the daemon needs write access to the folder" : "");
	}
	/* Not listening yet: nobody can connect before mode and group are set. */
	if (chmod(p->path, p->mode) < 0 || (p->group[0] && chown(p->path, (uid_t)-1, gid) < 0)) {
		rc = -errno;
		unlink(p->path);
		close(fd);
		return errmsg(
		    err, errlen, rc, "%s socket %s: cannot set mode %04o%s%s: %s%s", role, p->path,
		    p->mode, p->group[0] ? " and group " : "", p->group, strerror(-rc),
		    rc == -EPERM ? "; the daemon must be root or a member of that group" : "");
	}
	if (stat(p->path, &st) == 0) {
		d->sock_dev = st.st_dev;
		d->sock_ino = st.st_ino;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		unlink(p->path);
		close(fd);
		return errmsg(err, errlen, rc, "%s socket %s: listen: %s", role, p->path,
			      strerror(-rc));
	}
	d->listen_fd = fd;
	return 0;
}

static void remove_socket_file(struct display *d)
{
	struct stat st;

	/* Only ours: a newer daemon may already have replaced it. */
	if (stat(d->p.path, &st) == 0 && st.st_dev == d->sock_dev && st.st_ino == d->sock_ino)
		unlink(d->p.path);
}

int display_create(const struct display_params *p, struct display **ret, char *err, size_t errlen)
{
	struct ring_params rp = {0};
	pthread_mutexattr_t ma;
	struct epoll_event ev;
	struct display *d;
	char ring_name[RING_NAME_MAX];
	size_t per_client;
	int rc;

	rc = params_check(p, err, errlen);
	if (rc < 0)
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d)
		return errmsg(err, errlen, -ENOMEM, "display: out of memory");
	d->p = *p;
	/* NUL-pad the token: token_matches compares the whole buffer. */
	memset(d->p.token, 0, sizeof(d->p.token));
	memcpy(d->p.token, p->token, strlen(p->token));
	d->listen_fd = d->epoll_fd = d->event_fd = -1;
	per_client = p->queue_bytes + p->max_line_bytes + 1;
	d->clients = calloc(p->max_clients, sizeof(*d->clients));
	d->mem = malloc(per_client * p->max_clients);
	if (!d->clients || !d->mem) {
		rc = errmsg(err, errlen, -ENOMEM, "display: out of memory for %u clients",
			    p->max_clients);
		goto free_d;
	}
	for (unsigned i = 0; i < p->max_clients; i++) {
		d->clients[i].fd = -1;
		d->clients[i].q = d->mem + i * per_client;
		d->clients[i].in = d->clients[i].q + p->queue_bytes;
	}
	snprintf(ring_name, sizeof(ring_name), "%s-inbound", display_role_name(p->role));
	rp.name = ring_name;
	rp.slot_size = sizeof(struct display_inbound);
	rp.capacity = p->inbound_capacity;
	rp.overflow = RING_OVERFLOW_REJECT;
	rp.producers = RING_SPSC;
	rc = ring_create(&rp, &d->inbound);
	if (rc < 0) {
		errmsg(err, errlen, rc, "display: cannot create the inbound ring: %s",
		       strerror(-rc));
		goto free_d;
	}
	pthread_mutexattr_init(&ma);
	/* The conversation stage runs SCHED_FIFO; the I/O thread does not. */
	pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
	rc = -pthread_mutex_init(&d->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	if (rc < 0) {
		errmsg(err, errlen, rc, "display: mutex: %s", strerror(-rc));
		goto free_ring;
	}
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	d->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->epoll_fd < 0 || d->event_fd < 0) {
		rc = -errno;
		errmsg(err, errlen, rc, "display: epoll/eventfd: %s", strerror(-rc));
		goto close_fds;
	}
	rc = open_listener(d, err, errlen);
	if (rc < 0)
		goto close_fds;
	ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = TAG_LISTEN};
	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, d->listen_fd, &ev) < 0)
		goto epoll_failed;
	ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = TAG_EVENT};
	if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, d->event_fd, &ev) < 0)
		goto epoll_failed;
	rc = -pthread_create(&d->thread, NULL, io_main, d);
	if (rc < 0) {
		errmsg(err, errlen, rc, "display: cannot start the I/O thread: %s", strerror(-rc));
		goto unlink_socket;
	}
	{
		char tname[16];

		snprintf(tname, sizeof(tname), "display-%s", display_role_name(p->role));
		pthread_setname_np(d->thread, tname);
	}
	d->thread_started = true;
	*ret = d;
	return 0;

epoll_failed:
	rc = -errno;
	errmsg(err, errlen, rc, "display: epoll_ctl: %s", strerror(-rc));
unlink_socket:
	remove_socket_file(d);
close_fds:
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	if (d->epoll_fd >= 0)
		close(d->epoll_fd);
	if (d->event_fd >= 0)
		close(d->event_fd);
	pthread_mutex_destroy(&d->lock);
free_ring:
	ring_free(d->inbound);
free_d:
	free(d->mem);
	free(d->clients);
	free(d);
	return rc;
}

void display_free(struct display *d)
{
	if (!d)
		return;
	if (d->thread_started) {
		atomic_store(&d->stop, true);
		wake_io(d);
		pthread_join(d->thread, NULL);
	}
	d->stopping = true;
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < d->p.max_clients; i++) {
		struct client *c = &d->clients[i];

		if (c->state != CLIENT_FREE)
			close_client(d, c, "shutdown", "edgeboxd is stopping; reconnect later");
	}
	pthread_mutex_unlock(&d->lock);
	remove_socket_file(d);
	close(d->listen_fd);
	close(d->epoll_fd);
	close(d->event_fd);
	pthread_mutex_destroy(&d->lock);
	ring_free(d->inbound);
	free(d->mem);
	free(d->clients);
	free(d);
}

/* ---- the owner's side ---------------------------------------------------- */

int display_recv(struct display *d, struct display_inbound *ret)
{
	size_t n = 0;
	int rc = ring_pop(d->inbound, ret, sizeof(*ret), &n);

	return rc == 1 && n == sizeof(*ret) ? 1 : 0;
}

int display_wait(struct display *d, int timeout_ms)
{
	return ring_wait(d->inbound, timeout_ms);
}

void display_wake(struct display *d)
{
	ring_wake(d->inbound);
}
