/*
 * hil — scenario loader, runner and JUnit writer (firmware/hil.h,
 * docs/hil.md).
 *
 * The runner is one thread and one poll() loop over the two client sockets.
 * Every message read is stamped with CLOCK_MONOTONIC on arrival and queued
 * per socket (bounded; the oldest unread one is dropped when full). Steps
 * look at the queue: an expect scans forward from the last message an
 * earlier expect took and takes everything up to its match, so messages on
 * one socket are checked in the order the box sent them; expect_absent
 * looks without taking. Customer turns are timed on arrival, not when a
 * step looks, so a slow step never makes the box look slow.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "firmware/hil.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/ble_walk.h"
#include "hal/strbuf.h"
#include "hal/time.h"

#define DEFAULT_WITHIN_MS 5000
#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_STOP_MS 10000
#define SEND_MS 2000	  /* a line we send must be taken within this */
#define POLL_SLICE_MS 100 /* the daemon's exit is noticed this often */
#define CONNECT_RETRY_MS 20
#define RAW_SHOWN 400	       /* bytes of a message shown in a failure */
#define DETAIL_MAX (32 * 1024) /* bytes of one failure's detail */
#define DETAIL_CUT "\n[... detail cut here]\n"
#define TYPE_MAX 64
#define TOKEN_MAX 128
#define EDGEBOXD_SETS_MAX 64 /* edgeboxd's own limit on --set */
#define STATE_BASE_MAX 64    /* $TMPDIR longer than this: /tmp (socket paths are short) */
#define SAID_SHOWN 48	     /* bytes of a customer line in a step name */

enum sock_id {
	SOCK_KIOSK,
	SOCK_STAFF,
	SOCK_N,
};

static const char *const sock_names[SOCK_N] = {"kiosk", "staff"};

/* What docs/display-protocol.md lists, for a hint when an expectation
 * names a type the box never sends (it may be newer: not an error). */
static const char *const known_types[SOCK_N] = {
    "welcome greeting reply_start token reply_end reply_fix product_card suggestions handoff "
    "farewell consent_request consent_result error",
    "welcome visitor_arrived visitor_left archetype signals next_best_action escalation "
    "offline_mode flagged_figure transcript takeover_state consent_recorded error",
};

enum step_kind {
	STEP_SAY,
	STEP_SEND,
	STEP_EXPECT,
	STEP_ABSENT,
	STEP_WAIT,
};

static const char *const step_kind_names[] = {"say", "send", "expect", "expect_absent", "wait_ms"};

struct pattern {
	char field[TYPE_MAX];
	char *src;
	pcre2_code *re;
};

struct step {
	enum step_kind kind;
	char name[HIL_NAME_MAX]; /* the scenario's, or "" */
	enum sock_id sock;
	char type[TYPE_MAX];	/* "" (expect_absent only): any message */
	uint32_t ms;		/* within_ms, for_ms, wait_ms */
	int64_t first_token_ms; /* -1: not checked */
	cJSON *fields;		/* object of expected values, owned; NULL: none */
	struct pattern pats[HIL_FILTERS_MAX + 1];
	int npats;
	char *text;	/* say */
	cJSON *message; /* send, owned */
};

struct hil_scenario {
	char *file;
	char name[HIL_NAME_MAX];
	bool start;
	/* start */
	char *config;
	char *config_arg; /* as the scenario gives it, for names */
	char *sets[HIL_SETS_MAX];
	size_t nsets;
	char log_level[16];
	uint32_t connect_ms, stop_ms;
	/* attach */
	char *kiosk, *staff, *kiosk_token_file, *staff_token_file;
	/* inputs (start mode) */
	char *ble;
	bool ble_walk;
	double ble_speed; /* < 0: leave the config's */
	char *camera;
	bool camera_still;
	char *gpio_file;
	char **gpio_lines;
	size_t ngpio;
	struct step *steps;
	size_t nsteps;
};

/* ---- small helpers -------------------------------------------------------- */

static int errf(struct hil_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errf(struct hil_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static uint64_t ms_since(uint64_t t0, uint64_t t)
{
	return t > t0 ? (t - t0) / 1000000u : 0;
}

/* Copies at most max bytes of s without cutting a UTF-8 sequence, adding
 * "..." when it was cut. */
static void clip(char *dst, size_t cap, const char *s, size_t max)
{
	size_t n = strlen(s);
	bool cut = false;

	if (max + 4 > cap)
		max = cap > 4 ? cap - 4 : 0;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		cut = true;
	}
	memcpy(dst, s, n);
	strcpy(dst + n, cut ? "..." : "");
}

static char *read_file(const char *path, size_t max, size_t *ret_len, int *ret_errno)
{
	struct stat st;
	char *buf = NULL;
	size_t n;
	FILE *f;

	f = fopen(path, "rb");
	if (!f) {
		*ret_errno = errno;
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0) {
		*ret_errno = errno;
		goto close_file;
	}
	if (!S_ISREG(st.st_mode)) {
		*ret_errno = EISDIR;
		goto close_file;
	}
	if ((size_t)st.st_size > max) {
		*ret_errno = EFBIG;
		goto close_file;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		*ret_errno = ENOMEM;
		goto close_file;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		*ret_errno = EIO;
		free(buf);
		buf = NULL;
		goto close_file;
	}
	buf[n] = '\0';
	*ret_len = n;
close_file:
	fclose(f);
	return buf;
}

/* ---- scenario: loading ------------------------------------------------------ */

/* Where a message about the scenario points: "file" or "file: step N (kind)". */
struct where {
	const char *file;
	char at[96];
};

static int bad(struct hil_error *err, const struct where *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct hil_error *err, const struct where *w, const char *fmt, ...)
{
	char what[HIL_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return errf(err, -EINVAL, "%s: %s%s%s", w->file, w->at, w->at[0] ? ": " : "", what);
}

static const char *json_kind(const cJSON *v)
{
	if (!v)
		return "nothing";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "true/false";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	return "an object";
}

/* Every key of obj must be in allowed (NULL-terminated); repeated keys are refused. */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *what,
		      const struct where *w, struct hil_error *err)
{
	const cJSON *it, *jt;
	char list[512] = "";

	cJSON_ArrayForEach(it, obj)
	{
		bool ok = false;

		for (size_t i = 0; allowed[i]; i++)
			ok = ok || strcmp(it->string, allowed[i]) == 0;
		if (!ok) {
			for (size_t i = 0; allowed[i]; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 i ? ", " : "", allowed[i]);
			return bad(err, w, "%s: unknown key \"%s\"; expected one of: %s", what,
				   it->string, list);
		}
		for (jt = it->next; jt; jt = jt->next)
			if (strcmp(it->string, jt->string) == 0)
				return bad(err, w, "%s: key \"%s\" given twice", what, it->string);
	}
	return 0;
}

/* A string of 1..max-1 bytes without control characters. */
static int get_str(const cJSON *obj, const char *key, bool required, size_t max,
		   const struct where *w, struct hil_error *err, const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	*ret = NULL;
	if (!v) {
		if (required)
			return bad(err, w, "\"%s\" is missing; it is required", key);
		return 0;
	}
	if (!cJSON_IsString(v) || !v->valuestring)
		return bad(err, w, "\"%s\": expected a string, got %s", key, json_kind(v));
	if (!v->valuestring[0] || strlen(v->valuestring) >= max)
		return bad(err, w, "\"%s\": expected 1 to %zu bytes, got %zu", key, max - 1,
			   strlen(v->valuestring));
	for (const char *p = v->valuestring; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return bad(err, w, "\"%s\": control characters are not allowed", key);
	*ret = v->valuestring;
	return 0;
}

static int get_ms(const cJSON *obj, const char *key, long def, long min, const struct where *w,
		  struct hil_error *err, long *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	*ret = def;
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return bad(err, w,
			   "\"%s\": expected a whole number of milliseconds from %ld to %d, "
			   "got %s",
			   key, min, HIL_MS_MAX, json_kind(v));
	if (v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > HIL_MS_MAX)
		return bad(err, w,
			   "\"%s\": expected a whole number of milliseconds from %ld to %d, "
			   "got %g",
			   key, min, HIL_MS_MAX, v->valuedouble);
	*ret = (long)v->valuedouble;
	return 0;
}

/* A path the scenario names, made absolute against the current folder; it must exist. */
static int get_path(const cJSON *obj, const char *key, bool required, const struct where *w,
		    struct hil_error *err, char **ret)
{
	char abs[PATH_MAX];
	const char *s;
	int rc;

	*ret = NULL;
	rc = get_str(obj, key, required, PATH_MAX, w, err, &s);
	if (rc < 0 || !s)
		return rc;
	if (!realpath(s, abs)) {
		int e = errno;

		return errf(err, -e,
			    "%s: %s%s\"%s\": %s: %s (paths are relative to the folder the "
			    "runner is started in, usually the repository root)",
			    w->file, w->at, w->at[0] ? ": " : "", key, s, strerror(e));
	}
	*ret = strdup(abs);
	return *ret ? 0 : -ENOMEM;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* "section.key=value" as edgeboxd --set takes it. */
static bool valid_set(const char *s)
{
	const char *dot = strchr(s, '.'), *eq = strchr(s, '=');

	if (!dot || !eq || dot > eq || dot == s || eq == dot + 1)
		return false;
	for (const char *p = s; p < eq; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-.", *p))
			return false;
	return true;
}

static bool valid_type(const char *t)
{
	if (!*t || strlen(t) >= TYPE_MAX)
		return false;
	for (; *t; t++)
		if (!islower((unsigned char)*t) && !isdigit((unsigned char)*t) && *t != '_')
			return false;
	return true;
}

static int parse_box(struct hil_scenario *s, const cJSON *box, struct where *w,
		     struct hil_error *err)
{
	static const char *const box_keys[] = {"start", "attach", NULL};
	static const char *const start_keys[] = {"config",     "set",	  "log_level",
						 "connect_ms", "stop_ms", NULL};
	static const char *const attach_keys[] = {
	    "kiosk", "staff", "kiosk_token_file", "staff_token_file", "connect_ms", NULL};
	const cJSON *start, *attach, *set, *it;
	const char *str;
	long v = 0;
	int rc;

	snprintf(w->at, sizeof(w->at), "box");
	if (!cJSON_IsObject(box))
		return bad(err, w, "expected an object with \"start\" or \"attach\", got %s",
			   json_kind(box));
	rc = check_keys(box, box_keys, "box", w, err);
	if (rc < 0)
		return rc;
	start = cJSON_GetObjectItemCaseSensitive(box, "start");
	attach = cJSON_GetObjectItemCaseSensitive(box, "attach");
	if (!!start == !!attach)
		return bad(err, w,
			   "expected exactly one of \"start\" (the runner starts edgeboxd) "
			   "and \"attach\" (a box already running)");
	if (start) {
		s->start = true;
		snprintf(w->at, sizeof(w->at), "box.start");
		if (!cJSON_IsObject(start))
			return bad(err, w, "expected an object, got %s", json_kind(start));
		rc = check_keys(start, start_keys, "box.start", w, err);
		rc = rc ?: get_path(start, "config", true, w, err, &s->config);
		if (rc == 0) {
			s->config_arg =
			    strdup(cJSON_GetObjectItemCaseSensitive(start, "config")->valuestring);
			if (!s->config_arg)
				return -ENOMEM;
		}
		rc = rc ?: get_ms(start, "connect_ms", DEFAULT_CONNECT_MS, 100, w, err, &v);
		s->connect_ms = (uint32_t)v;
		rc = rc ?: get_ms(start, "stop_ms", DEFAULT_STOP_MS, 100, w, err, &v);
		s->stop_ms = (uint32_t)v;
		rc = rc ?: get_str(start, "log_level", false, sizeof(s->log_level), w, err, &str);
		if (rc < 0)
			return rc;
		if (str)
			snprintf(s->log_level, sizeof(s->log_level), "%s", str);
		set = cJSON_GetObjectItemCaseSensitive(start, "set");
		if (set && !cJSON_IsArray(set))
			return bad(err, w,
				   "\"set\": expected an array of \"section.key=value\", got "
				   "%s",
				   json_kind(set));
		cJSON_ArrayForEach(it, set)
		{
			if (s->nsets == HIL_SETS_MAX)
				return bad(err, w, "\"set\": more than %d entries", HIL_SETS_MAX);
			if (!cJSON_IsString(it) || strlen(it->valuestring) >= HIL_SET_MAX ||
			    !valid_set(it->valuestring))
				return bad(err, w,
					   "\"set\" entry %zu: expected \"section.key=value\" (as "
					   "edgeboxd --set takes it, under %d bytes), got %s%s%s",
					   s->nsets + 1, HIL_SET_MAX,
					   cJSON_IsString(it) ? "\"" : json_kind(it),
					   cJSON_IsString(it) ? it->valuestring : "",
					   cJSON_IsString(it) ? "\"" : "");
			s->sets[s->nsets] = strdup(it->valuestring);
			if (!s->sets[s->nsets])
				return -ENOMEM;
			s->nsets++;
		}
		return 0;
	}
	snprintf(w->at, sizeof(w->at), "box.attach");
	if (!cJSON_IsObject(attach))
		return bad(err, w, "expected an object, got %s", json_kind(attach));
	rc = check_keys(attach, attach_keys, "box.attach", w, err);
	rc = rc
		 ?: get_str(attach, "kiosk", true, sizeof(((struct sockaddr_un *)0)->sun_path), w,
			    err, &str);
	if (rc < 0)
		return rc;
	s->kiosk = strdup(str);
	rc = get_str(attach, "staff", true, sizeof(((struct sockaddr_un *)0)->sun_path), w, err,
		     &str);
	if (rc < 0)
		return rc;
	s->staff = strdup(str);
	rc = get_path(attach, "kiosk_token_file", false, w, err, &s->kiosk_token_file);
	rc = rc ?: get_path(attach, "staff_token_file", false, w, err, &s->staff_token_file);
	rc = rc ?: get_ms(attach, "connect_ms", DEFAULT_CONNECT_MS, 100, w, err, &v);
	s->connect_ms = (uint32_t)v;
	if (rc < 0)
		return rc;
	return s->kiosk && s->staff ? 0 : -ENOMEM;
}

static int parse_inputs(struct hil_scenario *s, const cJSON *in, struct where *w,
			struct hil_error *err)
{
	static const char *const keys[] = {"ble", "ble_speed", "camera", "gpio", NULL};
	const cJSON *speed, *gpio, *it;
	struct stat st;
	int rc;

	snprintf(w->at, sizeof(w->at), "inputs");
	if (!s->start)
		return bad(err, w,
			   "inputs need \"box\": {\"start\": ...}; a box that is attached "
			   "to gets its inputs from the rig's hardware");
	if (!cJSON_IsObject(in))
		return bad(err, w, "expected an object, got %s", json_kind(in));
	rc = check_keys(in, keys, "inputs", w, err);
	rc = rc ?: get_path(in, "ble", false, w, err, &s->ble);
	rc = rc ?: get_path(in, "camera", false, w, err, &s->camera);
	if (rc < 0)
		return rc;
	if (s->ble) {
		s->ble_walk = ends_with(s->ble, ".walk");
		if (stat(s->ble, &st) < 0 || !S_ISREG(st.st_mode))
			return bad(err, w,
				   "\"ble\": %s is not a file; expected a btsnoop capture "
				   "or a .walk file",
				   s->ble);
	}
	s->ble_speed = -1;
	speed = cJSON_GetObjectItemCaseSensitive(in, "ble_speed");
	if (speed) {
		if (!s->ble)
			return bad(err, w, "\"ble_speed\" needs \"ble\"");
		if (!cJSON_IsNumber(speed) || speed->valuedouble < 0 || speed->valuedouble > 1000)
			return bad(err, w,
				   "\"ble_speed\": expected a number from 0 (no waiting) to "
				   "1000 (1: the capture's own timing), got %s",
				   json_kind(speed));
		s->ble_speed = speed->valuedouble;
	}
	if (s->camera) {
		if (stat(s->camera, &st) < 0)
			return bad(err, w, "\"camera\": %s: %s", s->camera, strerror(errno));
		s->camera_still = S_ISREG(st.st_mode) &&
				  (ends_with(s->camera, ".jpg") || ends_with(s->camera, ".jpeg") ||
				   ends_with(s->camera, ".ppm"));
		if (!S_ISDIR(st.st_mode) && !s->camera_still && !ends_with(s->camera, ".y4m"))
			return bad(err, w,
				   "\"camera\": %s: expected a folder of images, a .y4m "
				   "file, or one .jpg/.jpeg/.ppm image (a still camera)",
				   s->camera);
	}
	gpio = cJSON_GetObjectItemCaseSensitive(in, "gpio");
	if (cJSON_IsString(gpio))
		return get_path(in, "gpio", false, w, err, &s->gpio_file);
	if (gpio && !cJSON_IsArray(gpio))
		return bad(err, w,
			   "\"gpio\": expected a script file or an array of script lines "
			   "(\"0.5 door rising\"), got %s",
			   json_kind(gpio));
	if (gpio) {
		size_t n = (size_t)cJSON_GetArraySize(gpio);

		if (n == 0 || n > HIL_GPIO_LINES_MAX)
			return bad(err, w, "\"gpio\": expected 1 to %d script lines, got %zu",
				   HIL_GPIO_LINES_MAX, n);
		s->gpio_lines = calloc(n, sizeof(*s->gpio_lines));
		if (!s->gpio_lines)
			return -ENOMEM;
		cJSON_ArrayForEach(it, gpio)
		{
			if (!cJSON_IsString(it) || strlen(it->valuestring) >= 256 ||
			    strpbrk(it->valuestring, "\r\n"))
				return bad(err, w,
					   "\"gpio\" line %zu: expected one script line "
					   "(\"SECONDS door|staff_call rising|falling\"), got %s",
					   s->ngpio + 1, json_kind(it));
			s->gpio_lines[s->ngpio] = strdup(it->valuestring);
			if (!s->gpio_lines[s->ngpio++])
				return -ENOMEM;
		}
	}
	return 0;
}

static int add_pattern(struct step *st, const char *field, const char *src, const struct where *w,
		       struct hil_error *err)
{
	struct pattern *p = &st->pats[st->npats];
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	if (strlen(src) >= HIL_PATTERN_MAX)
		return bad(err, w, "the pattern for \"%s\" is over %d bytes", field,
			   HIL_PATTERN_MAX - 1);
	snprintf(p->field, sizeof(p->field), "%s", field);
	p->src = strdup(src);
	if (!p->src)
		return -ENOMEM;
	p->re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
	st->npats++;
	if (!p->re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		return bad(err, w,
			   "the pattern /%s/ for \"%s\" does not compile at offset %zu: %s "
			   "(PCRE2 syntax, e.g. \"(?i)welcome\")",
			   src, field, (size_t)off, (const char *)msg);
	}
	return 0;
}

static int parse_expect(struct step *st, const cJSON *e, bool absent, const struct where *w,
			struct hil_error *err)
{
	static const char *const expect_keys[] = {"socket",
						  "type",
						  "within_ms",
						  "text_matches",
						  "field",
						  "matches",
						  "first_token_within_ms",
						  NULL};
	static const char *const absent_keys[] = {"socket", "type",    "for_ms", "text_matches",
						  "field",  "matches", NULL};
	const cJSON *field, *matches, *it;
	const char *str;
	long v;
	int rc;

	if (!cJSON_IsObject(e))
		return bad(err, w,
			   "expected an object like {\"socket\": \"kiosk\", \"type\": "
			   "\"greeting\"}, got %s",
			   json_kind(e));
	rc = check_keys(e, absent ? absent_keys : expect_keys, step_kind_names[st->kind], w, err);
	rc = rc ?: get_str(e, "socket", true, 16, w, err, &str);
	if (rc < 0)
		return rc;
	if (strcmp(str, "kiosk") == 0)
		st->sock = SOCK_KIOSK;
	else if (strcmp(str, "staff") == 0)
		st->sock = SOCK_STAFF;
	else
		return bad(err, w, "\"socket\": expected \"kiosk\" or \"staff\", got \"%s\"", str);
	rc = get_str(e, "type", !absent, TYPE_MAX, w, err, &str);
	if (rc < 0)
		return rc;
	if (str && !valid_type(str))
		return bad(err, w,
			   "\"type\": expected a message type like \"reply_end\" (lowercase "
			   "letters, digits, '_'), got \"%s\"",
			   str);
	snprintf(st->type, sizeof(st->type), "%s", str ? str : "");
	if (absent) {
		if (!cJSON_GetObjectItemCaseSensitive(e, "for_ms"))
			return bad(err, w,
				   "\"for_ms\" is missing: how long the message must not "
				   "come");
		rc = get_ms(e, "for_ms", 0, 1, w, err, &v);
	} else {
		rc = get_ms(e, "within_ms", DEFAULT_WITHIN_MS, 1, w, err, &v);
	}
	if (rc < 0)
		return rc;
	st->ms = (uint32_t)v;
	st->first_token_ms = -1;
	if (!absent && cJSON_GetObjectItemCaseSensitive(e, "first_token_within_ms")) {
		if (st->sock != SOCK_KIOSK)
			return bad(err, w,
				   "\"first_token_within_ms\" is about the kiosk's reply; "
				   "use it with \"socket\": \"kiosk\"");
		rc = get_ms(e, "first_token_within_ms", 0, 1, w, err, &v);
		if (rc < 0)
			return rc;
		st->first_token_ms = v;
	}
	rc = get_str(e, "text_matches", false, HIL_PATTERN_MAX, w, err, &str);
	if (rc < 0)
		return rc;
	if (str && (rc = add_pattern(st, "text", str, w, err)) < 0)
		return rc;
	field = cJSON_GetObjectItemCaseSensitive(e, "field");
	if (field) {
		if (!cJSON_IsObject(field) || cJSON_GetArraySize(field) < 1 ||
		    cJSON_GetArraySize(field) > HIL_FILTERS_MAX)
			return bad(err, w,
				   "\"field\": expected an object of 1 to %d fields and "
				   "their values, like {\"category\": \"cancellation\"}",
				   HIL_FILTERS_MAX);
		st->fields = cJSON_Duplicate(field, true);
		if (!st->fields)
			return -ENOMEM;
	}
	matches = cJSON_GetObjectItemCaseSensitive(e, "matches");
	if (matches) {
		if (!cJSON_IsObject(matches) || cJSON_GetArraySize(matches) < 1 ||
		    cJSON_GetArraySize(matches) > HIL_FILTERS_MAX)
			return bad(err, w,
				   "\"matches\": expected an object of 1 to %d fields and "
				   "patterns, like {\"reason\": \"(?i)cancel\"}",
				   HIL_FILTERS_MAX);
		cJSON_ArrayForEach(it, matches)
		{
			if (!cJSON_IsString(it))
				return bad(err, w,
					   "\"matches\".\"%s\": expected a pattern string, "
					   "got %s",
					   it->string, json_kind(it));
			if (strlen(it->string) >= TYPE_MAX)
				return bad(err, w, "\"matches\": field name over %d bytes",
					   TYPE_MAX - 1);
			rc = add_pattern(st, it->string, it->valuestring, w, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int parse_step(struct hil_scenario *s, size_t i, const cJSON *j, bool *said, struct where *w,
		      struct hil_error *err)
{
	static const char *const actions[] = {"say",	       "send",	  "expect",
					      "expect_absent", "wait_ms", NULL};
	struct step *st = &s->steps[i];
	const cJSON *act = NULL, *it, *name;
	const char *str;
	int nact = 0, rc;
	long v;

	snprintf(w->at, sizeof(w->at), "step %zu", i + 1);
	if (!cJSON_IsObject(j))
		return bad(err, w,
			   "expected an object with one of say, send, expect, "
			   "expect_absent, wait_ms; got %s",
			   json_kind(j));
	cJSON_ArrayForEach(it, j)
	{
		bool known = strcmp(it->string, "name") == 0;

		for (int k = 0; actions[k]; k++)
			if (strcmp(it->string, actions[k]) == 0) {
				known = true;
				nact++;
				act = it;
				st->kind = (enum step_kind)k;
			}
		if (!known)
			return bad(err, w,
				   "unknown key \"%s\"; a step is one of say, send, expect, "
				   "expect_absent, wait_ms (and an optional name)",
				   it->string);
	}
	if (nact != 1)
		return bad(err, w,
			   "expected exactly one of say, send, expect, expect_absent, "
			   "wait_ms; got %d",
			   nact);
	snprintf(w->at, sizeof(w->at), "step %zu (%s)", i + 1, step_kind_names[st->kind]);
	name = cJSON_GetObjectItemCaseSensitive(j, "name");
	if (name) {
		rc = get_str(j, "name", false, HIL_NAME_MAX, w, err, &str);
		if (rc < 0)
			return rc;
		snprintf(st->name, sizeof(st->name), "%s", str);
	}
	switch (st->kind) {
	case STEP_SAY:
		if (!cJSON_IsString(act) || !act->valuestring[0] || strlen(act->valuestring) > 2047)
			return bad(err, w,
				   "expected the customer's words, a string of 1 to 2047 "
				   "bytes, got %s",
				   json_kind(act));
		st->sock = SOCK_KIOSK;
		st->text = strdup(act->valuestring);
		*said = true;
		return st->text ? 0 : -ENOMEM;
	case STEP_SEND: {
		static const char *const send_keys[] = {"socket", "message", NULL};
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(act, "message"), *t;

		if (!cJSON_IsObject(act))
			return bad(err, w,
				   "expected {\"socket\": \"staff\", \"message\": {\"type\": "
				   "...}}, got %s",
				   json_kind(act));
		rc = check_keys(act, send_keys, "send", w, err);
		rc = rc ?: get_str(act, "socket", true, 16, w, err, &str);
		if (rc < 0)
			return rc;
		if (strcmp(str, "kiosk") != 0 && strcmp(str, "staff") != 0)
			return bad(err, w,
				   "\"socket\": expected \"kiosk\" or \"staff\", got \"%s\"", str);
		st->sock = strcmp(str, "kiosk") == 0 ? SOCK_KIOSK : SOCK_STAFF;
		t = cJSON_GetObjectItemCaseSensitive(msg, "type");
		if (!cJSON_IsObject(msg))
			return bad(err, w,
				   "\"message\": expected an object with a \"type\" like "
				   "\"take_over\", got %s",
				   json_kind(msg));
		if (!cJSON_IsString(t) || !valid_type(t->valuestring))
			return bad(
			    err, w,
			    "\"message\": expected an object with a \"type\" like "
			    "\"take_over\" (lowercase letters, digits, '_'); its \"type\" is %s",
			    cJSON_IsString(t) ? t->valuestring : json_kind(t));
		snprintf(st->type, sizeof(st->type), "%s", t->valuestring);
		st->message = cJSON_Duplicate(msg, true);
		if (!st->message)
			return -ENOMEM;
		{
			char *line = cJSON_PrintUnformatted(st->message);
			size_t n = line ? strlen(line) : 0;

			free(line);
			if (n > 4000)
				return bad(err, w,
					   "\"message\": %zu bytes; the box takes lines of "
					   "4096 bytes by default",
					   n);
		}
		if (st->sock == SOCK_KIOSK && strcmp(st->type, "customer_text") == 0)
			*said = true;
		return 0;
	}
	case STEP_EXPECT:
	case STEP_ABSENT:
		rc = parse_expect(st, act, st->kind == STEP_ABSENT, w, err);
		if (rc < 0)
			return rc;
		if (st->first_token_ms >= 0 && !*said)
			return bad(err, w,
				   "\"first_token_within_ms\" is timed from the last say "
				   "step, and there is none before this one");
		return 0;
	case STEP_WAIT:
		if (!cJSON_IsNumber(act) || act->valuedouble != floor(act->valuedouble) ||
		    act->valuedouble < 1 || act->valuedouble > HIL_MS_MAX) {
			if (!cJSON_IsNumber(act))
				return bad(err, w,
					   "expected a whole number of milliseconds from 1 "
					   "to %d, got %s",
					   HIL_MS_MAX, json_kind(act));
			return bad(err, w,
				   "expected a whole number of milliseconds from 1 to %d, "
				   "got %g",
				   HIL_MS_MAX, act->valuedouble);
		}
		v = (long)act->valuedouble;
		st->ms = (uint32_t)v;
		return 0;
	}
	return -EINVAL;
}

/* "line:col" of byte off in text. */
static void line_col(const char *text, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

int hil_scenario_parse(const char *name, const char *text, size_t len, struct hil_scenario **ret,
		       struct hil_error *err)
{
	static const char *const top_keys[] = {"name",	 "description", "box",
					       "inputs", "steps",	NULL};
	struct where w = {.file = name};
	const char *end = NULL, *str;
	struct hil_scenario *s;
	const cJSON *steps, *it, *inputs;
	bool said = false;
	cJSON *root;
	size_t i;
	int rc, line, col;

	*ret = NULL;
	if (len > HIL_FILE_MAX)
		return errf(err, -EFBIG, "%s: %zu bytes; a scenario may have %d", name, len,
			    HIL_FILE_MAX);
	if (memchr(text, '\0', len))
		return errf(err, -EINVAL, "%s: has a NUL byte; expected a JSON text file", name);
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (root && end) {
		while ((size_t)(end - text) < len && isspace((unsigned char)*end))
			end++;
		if ((size_t)(end - text) < len) {
			cJSON_Delete(root);
			root = NULL;
		}
	}
	if (!root) {
		size_t off = end && end >= text ? (size_t)(end - text) : 0;
		char near[40];

		if (off > len)
			off = len;
		line_col(text, off, &line, &col);
		clip(near, sizeof(near), text + off, 24);
		for (char *p = near; *p; p++)
			if (*p == '\n' || *p == '\r' || *p == '\t')
				*p = ' ';
		return errf(err, -EINVAL,
			    "%s:%d:%d: not valid JSON (one object expected) near "
			    "\"%s\"",
			    name, line, col, near);
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		cJSON_Delete(root);
		return -ENOMEM;
	}
	s->file = strdup(name);
	s->ble_speed = -1;
	if (!s->file) {
		rc = -ENOMEM;
		goto fail;
	}
	if (!cJSON_IsObject(root)) {
		rc = bad(err, &w, "expected a JSON object with name, box and steps, got %s",
			 json_kind(root));
		goto fail;
	}
	rc = check_keys(root, top_keys, "scenario", &w, err);
	rc = rc ?: get_str(root, "name", true, HIL_NAME_MAX, &w, err, &str);
	if (rc < 0)
		goto fail;
	snprintf(s->name, sizeof(s->name), "%s", str);
	if (cJSON_GetObjectItemCaseSensitive(root, "description") &&
	    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "description"))) {
		rc = bad(err, &w, "\"description\": expected a string");
		goto fail;
	}
	if (!cJSON_GetObjectItemCaseSensitive(root, "box")) {
		rc = bad(err, &w,
			 "\"box\" is missing: {\"start\": {\"config\": ...}} or "
			 "{\"attach\": {\"kiosk\": ..., \"staff\": ...}}");
		goto fail;
	}
	rc = parse_box(s, cJSON_GetObjectItemCaseSensitive(root, "box"), &w, err);
	if (rc < 0)
		goto fail;
	inputs = cJSON_GetObjectItemCaseSensitive(root, "inputs");
	if (inputs) {
		rc = parse_inputs(s, inputs, &w, err);
		if (rc < 0)
			goto fail;
	}
	w.at[0] = '\0';
	steps = cJSON_GetObjectItemCaseSensitive(root, "steps");
	if (!cJSON_IsArray(steps) || cJSON_GetArraySize(steps) < 1 ||
	    cJSON_GetArraySize(steps) > HIL_STEPS_MAX) {
		rc = bad(err, &w, "\"steps\": expected an array of 1 to %d steps, got %s",
			 HIL_STEPS_MAX, steps ? json_kind(steps) : "nothing");
		if (cJSON_IsArray(steps) && cJSON_GetArraySize(steps) == 0)
			rc = bad(err, &w,
				 "\"steps\": expected an array of 1 to %d steps, got an "
				 "empty one",
				 HIL_STEPS_MAX);
		if (cJSON_IsArray(steps) && cJSON_GetArraySize(steps) > HIL_STEPS_MAX)
			rc = bad(err, &w, "\"steps\": %d steps; a scenario may have %d",
				 cJSON_GetArraySize(steps), HIL_STEPS_MAX);
		goto fail;
	}
	s->steps = calloc((size_t)cJSON_GetArraySize(steps), sizeof(*s->steps));
	if (!s->steps) {
		rc = -ENOMEM;
		goto fail;
	}
	i = 0;
	cJSON_ArrayForEach(it, steps)
	{
		s->nsteps = i + 1; /* so a half-parsed step is freed */
		rc = parse_step(s, i, it, &said, &w, err);
		if (rc < 0)
			goto fail;
		i++;
	}
	cJSON_Delete(root);
	*ret = s;
	return 0;
fail:
	cJSON_Delete(root);
	hil_scenario_free(s);
	return rc;
}

int hil_scenario_load(const char *path, struct hil_scenario **ret, struct hil_error *err)
{
	size_t len = 0;
	int e = 0, rc;
	char *text;

	*ret = NULL;
	text = read_file(path, HIL_FILE_MAX, &len, &e);
	if (!text) {
		if (e == EFBIG)
			return errf(err, -EFBIG, "%s: over %d bytes; a scenario may have %d", path,
				    HIL_FILE_MAX, HIL_FILE_MAX);
		return errf(err, -e, "%s: cannot read: %s", path, strerror(e));
	}
	rc = hil_scenario_parse(path, text, len, ret, err);
	free(text);
	return rc;
}

void hil_scenario_free(struct hil_scenario *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nsteps; i++) {
		struct step *st = &s->steps[i];

		for (int k = 0; k < st->npats; k++) {
			free(st->pats[k].src);
			pcre2_code_free(st->pats[k].re);
		}
		cJSON_Delete(st->fields);
		cJSON_Delete(st->message);
		free(st->text);
	}
	free(s->steps);
	for (i = 0; i < s->nsets; i++)
		free(s->sets[i]);
	for (i = 0; i < s->ngpio; i++)
		free(s->gpio_lines[i]);
	free(s->gpio_lines);
	free(s->file);
	free(s->config);
	free(s->config_arg);
	free(s->kiosk);
	free(s->staff);
	free(s->kiosk_token_file);
	free(s->staff_token_file);
	free(s->ble);
	free(s->camera);
	free(s->gpio_file);
	free(s);
}

const char *hil_scenario_name(const struct hil_scenario *s)
{
	return s->name;
}

size_t hil_scenario_steps(const struct hil_scenario *s)
{
	return s->nsteps;
}

bool hil_scenario_starts_box(const struct hil_scenario *s)
{
	return s->start;
}

/* ---- report ----------------------------------------------------------------- */

struct rcase {
	char *name;
	enum hil_case_result result;
	double time_s;
	char *message;
	char *detail;
};

struct rturn {
	char *said;
	int64_t first_token_ms, reply_end_ms, handoff_ms;
};

struct hil_report {
	char *name;
	char *file;
	bool start_mode;
	enum hil_status status;
	struct rcase *cases;
	size_t ncases;
	struct rturn *turns;
	size_t nturns;
	char *state_kept; /* the state folder left behind (keep_state), or NULL */
	double time_s;
	char timestamp[32]; /* ISO 8601, UTC, when the run started */
};

enum hil_status hil_status_worst(enum hil_status a, enum hil_status b)
{
	static const int rank[] = {
	    [HIL_STATUS_PASS] = 0,
	    [HIL_STATUS_FAIL] = 1,
	    [HIL_STATUS_UNREACHABLE] = 2,
	    [HIL_STATUS_BAD_SCENARIO] = 3,
	};

	return rank[a] >= rank[b] ? a : b;
}

/* Adds a case; name, message and detail are copied (NULL: ""). */
static int report_add(struct hil_report *r, const char *name, enum hil_case_result res,
		      double time_s, const char *message, const char *detail)
{
	struct rcase *c;

	/* at most every step plus start/connect and stop */
	c = realloc(r->cases, (r->ncases + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	r->cases = c;
	c = &r->cases[r->ncases];
	c->name = strdup(name);
	c->result = res;
	c->time_s = time_s;
	c->message = strdup(message ? message : "");
	c->detail = strdup(detail ? detail : "");
	if (!c->name || !c->message || !c->detail) {
		free(c->name);
		free(c->message);
		free(c->detail);
		return -ENOMEM;
	}
	r->ncases++;
	return 0;
}

enum hil_status hil_report_status(const struct hil_report *r)
{
	return r->status;
}

const char *hil_report_name(const struct hil_report *r)
{
	return r->name;
}

size_t hil_report_cases(const struct hil_report *r)
{
	return r->ncases;
}

int hil_report_case(const struct hil_report *r, size_t i, struct hil_case *ret)
{
	if (i >= r->ncases)
		return -ENOENT;
	ret->name = r->cases[i].name;
	ret->result = r->cases[i].result;
	ret->time_s = r->cases[i].time_s;
	ret->message = r->cases[i].message;
	ret->detail = r->cases[i].detail;
	return 0;
}

size_t hil_report_turns(const struct hil_report *r)
{
	return r->nturns;
}

int hil_report_turn(const struct hil_report *r, size_t i, struct hil_turn *ret)
{
	if (i >= r->nturns)
		return -ENOENT;
	ret->said = r->turns[i].said;
	ret->first_token_ms = r->turns[i].first_token_ms;
	ret->reply_end_ms = r->turns[i].reply_end_ms;
	ret->handoff_ms = r->turns[i].handoff_ms;
	return 0;
}

void hil_report_free(struct hil_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ncases; i++) {
		free(r->cases[i].name);
		free(r->cases[i].message);
		free(r->cases[i].detail);
	}
	for (i = 0; i < r->nturns; i++)
		free(r->turns[i].said);
	free(r->cases);
	free(r->turns);
	free(r->name);
	free(r->file);
	free(r->state_kept);
	free(r);
}

static void count_cases(const struct hil_report *r, size_t *pass, size_t *fail, size_t *error,
			size_t *skip)
{
	*pass = *fail = *error = *skip = 0;
	for (size_t i = 0; i < r->ncases; i++) {
		switch (r->cases[i].result) {
		case HIL_CASE_PASS:
			(*pass)++;
			break;
		case HIL_CASE_FAIL:
			(*fail)++;
			break;
		case HIL_CASE_ERROR:
			(*error)++;
			break;
		case HIL_CASE_SKIPPED:
			(*skip)++;
			break;
		}
	}
}

static void print_ms(FILE *f, const char *what, int64_t ms)
{
	if (ms >= 0)
		fprintf(f, "%s %lld ms", what, (long long)ms);
	else
		fprintf(f, "no %s", what);
}

static void print_indented(FILE *f, const char *text, const char *indent)
{
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		fprintf(f, "%s%.*s\n", indent, (int)n, p);
		p += n + (nl ? 1 : 0);
	}
}

void hil_report_print(const struct hil_report *r, FILE *f)
{
	static const char *const words[] = {"passed", "FAILED", "BAD SCENARIO",
					    "BOX NOT REACHABLE"};
	size_t pass, fail, error, skip, i;

	for (i = 0; i < r->ncases; i++) {
		const struct rcase *c = &r->cases[i];

		if (c->result != HIL_CASE_FAIL && c->result != HIL_CASE_ERROR)
			continue;
		fprintf(f, "%s: %s: %s\n", r->name, c->name, c->message);
		print_indented(f, c->detail, "    ");
	}
	for (i = 0; i < r->nturns; i++) {
		const struct rturn *t = &r->turns[i];
		char said[SAID_SHOWN + 4];

		clip(said, sizeof(said), t->said, SAID_SHOWN);
		fprintf(f, "%s: turn %zu \"%s\": ", r->name, i + 1, said);
		print_ms(f, "first token", t->first_token_ms);
		fputs(", ", f);
		print_ms(f, "reply_end", t->reply_end_ms);
		if (t->handoff_ms >= 0)
			fprintf(f, ", handoff %lld ms", (long long)t->handoff_ms);
		fputc('\n', f);
	}
	count_cases(r, &pass, &fail, &error, &skip);
	fprintf(f, "%s: %s: %zu passed, %zu failed, %zu errors, %zu skipped in %.1f s (%s)\n",
		r->name, words[r->status], pass, fail, error, skip, r->time_s, r->file);
	if (r->state_kept)
		fprintf(f, "%s: state folder kept: %s\n", r->name, r->state_kept);
}

/* ---- runner: state ------------------------------------------------------------ */

struct msg {
	cJSON *json;
	const char *type; /* in json, or "" */
	char *raw;	  /* the line, clipped to RAW_SHOWN */
	char *reply;	  /* reply_end: the reply as it was streamed; NULL otherwise */
	uint64_t at_ns;
	uint64_t seq;
};

struct conn {
	const char *name;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char token[TOKEN_MAX];
	int fd;
	bool open;
	char why[384]; /* why it closed (or will: a fatal error came) */
	/* bytes not yet split into lines */
	char *buf;
	size_t len;
	bool skipping; /* inside a line over HIL_LINE_MAX */
	/* unread messages: a ring, oldest at head (sequence number head_seq) */
	struct msg *q;
	size_t head, count;
	uint64_t head_seq;
	uint64_t dropped, unparseable, received;
	/* the last messages, for failures */
	char hist[HIL_HISTORY][RAW_SHOWN + 48];
	size_t hist_n, hist_pos;
	/* kiosk: the reply being streamed */
	char *reply;
	size_t reply_len;
};

struct turn {
	uint64_t sent_ns, first_ns, end_ns, handoff_ns; /* 0: not (yet) */
	char *said;
};

struct runner {
	const struct hil_scenario *s;
	const struct hil_options *o;
	struct hil_report *rep;
	bool attach;
	uint64_t t0;
	struct conn c[SOCK_N];
	struct turn turns[HIL_STEPS_MAX];
	size_t nturns;
	int64_t last_session;
	/* start mode */
	char state[STATE_BASE_MAX + 32];
	char log[STATE_BASE_MAX + 64];
	pid_t pid;   /* 0: none */
	bool exited; /* reaped */
	int wstatus;
	uint64_t exited_ns;
};

/* What one step (or start, connect, stop) came to. */
struct outcome {
	enum hil_case_result res;
	enum hil_status status; /* for FAIL/ERROR: what it makes the run */
	char message[640];
	struct strbuf detail;
};

static void outcome_fail(struct outcome *out, enum hil_case_result res, enum hil_status status,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void outcome_fail(struct outcome *out, enum hil_case_result res, enum hil_status status,
			 const char *fmt, ...)
{
	va_list ap;

	out->res = res;
	out->status = status;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

static uint64_t rel_ms(const struct runner *r, uint64_t t)
{
	return ms_since(r->t0, t);
}

static void describe_exit(int wstatus, char *buf, size_t len)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(wstatus),
			 strsignal(WTERMSIG(wstatus)));
	else
		snprintf(buf, len, "wait status %#x", (unsigned)wstatus);
}

/* Notices the daemon's exit (start mode) without waiting. */
static void check_daemon(struct runner *r)
{
	int ws;

	if (r->pid > 0 && !r->exited && waitpid(r->pid, &ws, WNOHANG) == r->pid) {
		r->exited = true;
		r->wstatus = ws;
		r->exited_ns = hal_now_ns();
	}
}

/* The end of the daemon's log, from a line start, into b. */
static void add_log_tail(struct runner *r, struct strbuf *b)
{
	char buf[HIL_LOG_TAIL + 1], *p = buf;
	long size, from;
	size_t n;
	FILE *f;

	if (!r->log[0])
		return;
	f = fopen(r->log, "r");
	if (!f) {
		strbuf_add(b, "edgeboxd log %s: cannot read: %s\n", r->log, strerror(errno));
		return;
	}
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	from = size > HIL_LOG_TAIL ? size - HIL_LOG_TAIL : 0;
	fseek(f, from, SEEK_SET);
	n = fread(buf, 1, HIL_LOG_TAIL, f);
	fclose(f);
	buf[n] = '\0';
	if (from > 0 && (p = strchr(buf, '\n')))
		p++;
	else
		p = buf;
	strbuf_add(b, "edgeboxd log (%s%s):\n%s%s", from > 0 ? "the end of " : "", r->log, p,
		   n && buf[n - 1] != '\n' ? "\n" : "");
}

/* ---- runner: reading the sockets ------------------------------------------- */

static void msg_free(struct msg *m)
{
	cJSON_Delete(m->json);
	free(m->raw);
	free(m->reply);
	memset(m, 0, sizeof(*m));
}

static struct msg *at_seq(struct conn *c, uint64_t seq)
{
	if (seq < c->head_seq || seq >= c->head_seq + c->count)
		return NULL;
	return &c->q[(c->head + (size_t)(seq - c->head_seq)) % HIL_QUEUE_MAX];
}

/* Drops the unread messages before seq (they have been looked at). */
static void take_until(struct conn *c, uint64_t seq)
{
	while (c->count && c->head_seq < seq) {
		msg_free(&c->q[c->head]);
		c->head = (c->head + 1) % HIL_QUEUE_MAX;
		c->count--;
		c->head_seq++;
	}
}

static void hist_add(struct runner *r, struct conn *c, const char *line, size_t n, uint64_t at)
{
	char clipped[RAW_SHOWN + 4], *tmp = strndup(line, n);

	clip(clipped, sizeof(clipped), tmp ? tmp : "", RAW_SHOWN);
	free(tmp);
	snprintf(c->hist[c->hist_pos], sizeof(c->hist[0]), "+%llu ms %s",
		 (unsigned long long)rel_ms(r, at), clipped);
	c->hist_pos = (c->hist_pos + 1) % HIL_HISTORY;
	if (c->hist_n < HIL_HISTORY)
		c->hist_n++;
}

static void add_history(struct conn *c, struct strbuf *b)
{
	size_t first = (c->hist_pos + HIL_HISTORY - c->hist_n) % HIL_HISTORY;

	if (!c->hist_n) {
		strbuf_add(b, "no message came on the %s socket\n", c->name);
		return;
	}
	strbuf_add(b, "last %zu of %llu messages on the %s socket (ms since the run started):\n",
		   c->hist_n, (unsigned long long)c->received, c->name);
	for (size_t i = 0; i < c->hist_n; i++)
		strbuf_add(b, "  %s\n", c->hist[(first + i) % HIL_HISTORY]);
	if (c->dropped)
		strbuf_add(b,
			   "(%llu older unread messages were dropped: more than %d were waiting)\n",
			   (unsigned long long)c->dropped, HIL_QUEUE_MAX);
	if (c->unparseable)
		strbuf_add(b, "(%llu lines were not JSON objects and were skipped)\n",
			   (unsigned long long)c->unparseable);
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static void reply_set(struct conn *c, const char *text, bool append)
{
	size_t n;

	if (!c->reply)
		return;
	if (!append)
		c->reply_len = 0;
	n = text ? strlen(text) : 0;
	if (c->reply_len + n > HIL_REPLY_MAX - 1)
		n = HIL_REPLY_MAX - 1 - c->reply_len;
	memcpy(c->reply + c->reply_len, text ? text : "", n);
	c->reply_len += n;
	c->reply[c->reply_len] = '\0';
}

/* Turn timing and reply assembly happen as messages arrive. */
static void observe(struct runner *r, struct conn *c, struct msg *m)
{
	struct turn *t = r->nturns ? &r->turns[r->nturns - 1] : NULL;
	const cJSON *session = cJSON_GetObjectItemCaseSensitive(m->json, "session");

	if (cJSON_IsNumber(session) && session->valuedouble >= 1)
		r->last_session = (int64_t)session->valuedouble;
	if (strcmp(m->type, "error") == 0 &&
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m->json, "fatal")) && !c->why[0])
		snprintf(c->why, sizeof(c->why), "the box sent error \"%s\": %s",
			 jstr(m->json, "error") ?: "?", jstr(m->json, "detail") ?: "");
	if (c != &r->c[SOCK_KIOSK])
		return;
	if (strcmp(m->type, "reply_start") == 0) {
		reply_set(c, "", false);
	} else if (strcmp(m->type, "token") == 0) {
		reply_set(c, jstr(m->json, "text"), true);
		if (t && !t->first_ns)
			t->first_ns = m->at_ns;
	} else if (strcmp(m->type, "reply_fix") == 0) {
		reply_set(c, jstr(m->json, "text"), false);
	} else if (strcmp(m->type, "reply_end") == 0) {
		m->reply = c->reply ? strdup(c->reply) : NULL;
		if (t && !t->end_ns)
			t->end_ns = m->at_ns;
	} else if (strcmp(m->type, "handoff") == 0) {
		if (t && !t->handoff_ns)
			t->handoff_ns = m->at_ns;
	}
}

static void handle_line(struct runner *r, struct conn *c, char *line, size_t n, uint64_t at)
{
	struct msg m = {0};
	const cJSON *t;

	if (n && line[n - 1] == '\r')
		n--;
	if (!n)
		return;
	c->received++;
	hist_add(r, c, line, n, at);
	if (r->o->trace)
		fprintf(r->o->trace, "+%llu ms %s < %.*s\n", (unsigned long long)rel_ms(r, at),
			c->name, (int)n, line);
	m.json = cJSON_ParseWithLength(line, n);
	if (!cJSON_IsObject(m.json)) {
		/* a line cut when the box dropped us as too slow, or garbage */
		cJSON_Delete(m.json);
		c->unparseable++;
		return;
	}
	t = cJSON_GetObjectItemCaseSensitive(m.json, "type");
	m.type = cJSON_IsString(t) && t->valuestring ? t->valuestring : "";
	m.raw = strndup(line, n < RAW_SHOWN ? n : RAW_SHOWN);
	m.at_ns = at;
	observe(r, c, &m);
	if (c->count == HIL_QUEUE_MAX) {
		take_until(c, c->head_seq + 1);
		c->dropped++;
	}
	m.seq = c->head_seq + c->count;
	c->q[(c->head + c->count) % HIL_QUEUE_MAX] = m;
	c->count++;
}

static void conn_close(struct conn *c, const char *why)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->open = false;
	if (!c->why[0])
		snprintf(c->why, sizeof(c->why), "%s", why);
}

static void conn_read(struct runner *r, struct conn *c)
{
	for (;;) {
		size_t start = 0, i, old;
		ssize_t k;
		uint64_t now;

		if (c->len == HIL_LINE_MAX) {
			/* no newline in HIL_LINE_MAX bytes: skip to the next one */
			c->unparseable++;
			c->skipping = true;
			c->len = 0;
		}
		k = recv(c->fd, c->buf + c->len, HIL_LINE_MAX - c->len, MSG_DONTWAIT);
		if (k == 0) {
			conn_close(c, "the box closed the connection");
			return;
		}
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				char why[128];

				snprintf(why, sizeof(why), "reading the socket: %s",
					 strerror(errno));
				conn_close(c, why);
			}
			return;
		}
		now = hal_now_ns();
		old = c->len;
		c->len += (size_t)k;
		for (i = old; i < c->len; i++) {
			if (c->buf[i] != '\n')
				continue;
			if (c->skipping)
				c->skipping = false;
			else
				handle_line(r, c, c->buf + start, i - start, now);
			start = i + 1;
		}
		memmove(c->buf, c->buf + start, c->len - start);
		c->len -= start;
	}
}

/* Reads what comes until deadline, at most POLL_SLICE_MS; notices the daemon's exit. */
static void pump(struct runner *r, uint64_t deadline)
{
	struct pollfd p[SOCK_N];
	struct conn *map[SOCK_N];
	uint64_t now = hal_now_ns();
	int n = 0, timeout;

	timeout = deadline > now ? (int)((deadline - now + 999999) / 1000000) : 0;
	if (timeout > POLL_SLICE_MS)
		timeout = POLL_SLICE_MS;
	for (int i = 0; i < SOCK_N; i++)
		if (r->c[i].open) {
			p[n].fd = r->c[i].fd;
			p[n].events = POLLIN;
			p[n].revents = 0;
			map[n++] = &r->c[i];
		}
	if (poll(n ? p : NULL, (nfds_t)n, timeout) > 0)
		for (int i = 0; i < n; i++)
			if (p[i].revents)
				conn_read(r, map[i]);
	check_daemon(r);
}

/* Sends one JSON message and a newline; 0 or -errno (-ETIMEDOUT, -EPIPE, ...). */
static int conn_send(struct runner *r, struct conn *c, const cJSON *msg)
{
	uint64_t deadline = hal_now_ns() + (uint64_t)SEND_MS * 1000000u;
	char *text = cJSON_PrintUnformatted(msg), *line;
	size_t n, off = 0;
	int rc = 0;

	if (!text)
		return -ENOMEM;
	n = strlen(text);
	line = malloc(n + 2);
	if (!line) {
		free(text);
		return -ENOMEM;
	}
	memcpy(line, text, n);
	line[n++] = '\n';
	line[n] = '\0';
	free(text);
	if (r->o->trace)
		fprintf(r->o->trace, "+%llu ms %s > %s",
			(unsigned long long)rel_ms(r, hal_now_ns()), c->name, line);
	while (off < n) {
		ssize_t k;

		if (!c->open) {
			rc = -EPIPE;
			break;
		}
		k = send(c->fd, line + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k >= 0) {
			off += (size_t)k;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			rc = -errno;
			break;
		}
		if (hal_now_ns() >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		/* the box is not reading: keep reading what it sends meanwhile */
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};

		poll(&p, 1, 10);
		pump(r, hal_now_ns());
	}
	free(line);
	return rc;
}

/* ---- runner: steps ---------------------------------------------------------- */

/* "a kiosk "greeting" within 5000 ms, text matching /.../, ..." */
static void describe_expect(const struct step *st, struct strbuf *b)
{
	if (st->kind == STEP_ABSENT)
		strbuf_add(b, "no %s %s%s%s for %u ms", sock_names[st->sock],
			   st->type[0] ? "\"" : "", st->type[0] ? st->type : "message",
			   st->type[0] ? "\"" : "", st->ms);
	else
		strbuf_add(b, "a %s \"%s\" within %u ms", sock_names[st->sock], st->type, st->ms);
	if (st->fields) {
		const cJSON *it;

		cJSON_ArrayForEach(it, st->fields)
		{
			char *v = cJSON_PrintUnformatted(it);

			strbuf_add(b, ", %s = %s", it->string, v ? v : "?");
			free(v);
		}
	}
	for (int i = 0; i < st->npats; i++)
		strbuf_add(b, ", %s matching /%s/", st->pats[i].field, st->pats[i].src);
	if (st->first_token_ms >= 0)
		strbuf_add(b, ", first token within %lld ms of the last say",
			   (long long)st->first_token_ms);
}

/* Does m meet st's field and pattern filters? If not, why says which. */
static bool filters_hold(const struct step *st, const struct msg *m, char *why, size_t len)
{
	const cJSON *it;

	if (st->fields)
		cJSON_ArrayForEach(it, st->fields)
		{
			const cJSON *got = cJSON_GetObjectItemCaseSensitive(m->json, it->string);
			char *g, *e;

			if (got && cJSON_Compare(got, it, true))
				continue;
			g = got ? cJSON_PrintUnformatted(got) : NULL;
			e = cJSON_PrintUnformatted(it);
			snprintf(why, len, "field \"%s\" is %.200s, expected %.200s", it->string,
				 g ? g : "missing", e ? e : "?");
			free(g);
			free(e);
			return false;
		}
	for (int i = 0; i < st->npats; i++) {
		const struct pattern *p = &st->pats[i];
		const char *subject = NULL;
		pcre2_match_data *md;
		char shown[160];
		int rc;

		if (strcmp(p->field, "text") == 0 && m->reply)
			subject = m->reply; /* reply_end: the reply it ends */
		else
			subject = jstr(m->json, p->field);
		if (!subject) {
			snprintf(why, len, "field \"%s\" is missing or not a string (pattern /%s/)",
				 p->field, p->src);
			return false;
		}
		md = pcre2_match_data_create_from_pattern(p->re, NULL);
		if (!md) {
			snprintf(why, len, "out of memory matching /%s/", p->src);
			return false;
		}
		rc = pcre2_match(p->re, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
		pcre2_match_data_free(md);
		if (rc >= 0)
			continue;
		clip(shown, sizeof(shown), subject, 150);
		if (rc == PCRE2_ERROR_NOMATCH)
			snprintf(why, len, "%s \"%s\" does not match /%s/",
				 m->reply && strcmp(p->field, "text") == 0 ? "the reply" : p->field,
				 shown, p->src);
		else
			snprintf(why, len, "matching /%s/ against \"%s\" failed (PCRE2 error %d)",
				 p->src, shown, rc);
		return false;
	}
	return true;
}

static bool type_is(const struct step *st, const struct msg *m)
{
	return !st->type[0] || strcmp(st->type, m->type) == 0;
}

static void box_context(struct runner *r, struct strbuf *b)
{
	char how[96];

	if (r->exited) {
		describe_exit(r->wstatus, how, sizeof(how));
		strbuf_add(b, "edgeboxd ended at +%llu ms: %s\n",
			   (unsigned long long)rel_ms(r, r->exited_ns), how);
	}
	add_log_tail(r, b);
}

static void fail_detail(struct runner *r, const struct step *st, struct conn *c, const char *got,
			struct outcome *out)
{
	strbuf_add(&out->detail, "expected: ");
	describe_expect(st, &out->detail);
	strbuf_add(&out->detail, "\ngot: %s\n", got);
	if (st->type[0] && !strstr(known_types[st->sock], st->type))
		strbuf_add(&out->detail,
			   "note: the %s socket has no \"%s\" messages in protocol v1 "
			   "(it sends: %s)\n",
			   c->name, st->type, known_types[st->sock]);
	add_history(c, &out->detail);
	box_context(r, &out->detail);
}

static void closed_failure(struct runner *r, const struct step *st, struct conn *c,
			   struct outcome *out)
{
	char got[512];

	snprintf(got, sizeof(got), "the %s socket is closed: %s", c->name, c->why);
	outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL, "%s", got);
	if (st)
		fail_detail(r, st, c, got, out);
	else
		box_context(r, &out->detail);
}

static void run_expect(struct runner *r, const struct step *st, struct outcome *out)
{
	struct conn *c = &r->c[st->sock];
	uint64_t start = hal_now_ns(), deadline = start + (uint64_t)st->ms * 1000000u;
	uint64_t seq = c->head_seq, near = 0;
	char why[512] = "", got[768];
	struct msg *m = NULL;
	bool last = false;

	for (;;) {
		if (seq < c->head_seq)
			seq = c->head_seq;
		for (; (m = at_seq(c, seq)); seq++) {
			char w[512];

			if (!type_is(st, m))
				continue;
			if (filters_hold(st, m, w, sizeof(w)))
				break;
			near++;
			snprintf(why, sizeof(why), "%s", w);
		}
		if (m || last)
			break;
		if (!c->open) {
			closed_failure(r, st, c, out);
			return;
		}
		if (hal_now_ns() >= deadline)
			last = true; /* one more look at what is already in the socket */
		pump(r, last ? 0 : deadline);
	}
	if (!m) {
		/* a failed expectation takes nothing: later steps see the same messages */
		if (near)
			snprintf(got, sizeof(got),
				 "%llu \"%s\" message%s that did not match; the last: "
				 "%s",
				 (unsigned long long)near, st->type, near == 1 ? "" : "s", why);
		else
			snprintf(got, sizeof(got), "no \"%s\" in %u ms", st->type, st->ms);
		outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
			     "expected %s %s within %u ms; got %s", c->name, st->type, st->ms, got);
		fail_detail(r, st, c, got, out);
		return;
	}
	take_until(c, m->seq + 1);
	if (st->first_token_ms >= 0) {
		const struct turn *t = &r->turns[r->nturns - 1];
		char said[SAID_SHOWN + 4];

		clip(said, sizeof(said), t->said, SAID_SHOWN);
		if (!t->first_ns) {
			snprintf(got, sizeof(got), "no token after turn %zu (\"%s\")", r->nturns,
				 said);
		} else if (ms_since(t->sent_ns, t->first_ns) > (uint64_t)st->first_token_ms) {
			snprintf(got, sizeof(got),
				 "the first token of turn %zu (\"%s\") came after "
				 "%llu ms",
				 r->nturns, said,
				 (unsigned long long)ms_since(t->sent_ns, t->first_ns));
		} else {
			return;
		}
		outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
			     "expected the first token within %lld ms; got %s",
			     (long long)st->first_token_ms, got);
		fail_detail(r, st, c, got, out);
	}
}

static void run_absent(struct runner *r, const struct step *st, struct outcome *out)
{
	struct conn *c = &r->c[st->sock];
	uint64_t start = hal_now_ns(), deadline = start + (uint64_t)st->ms * 1000000u;
	uint64_t seq = c->head_seq;
	char got[768], w[512];
	struct msg *m;

	for (;;) {
		if (seq < c->head_seq)
			seq = c->head_seq;
		for (; (m = at_seq(c, seq)); seq++) {
			if (!type_is(st, m) || !filters_hold(st, m, w, sizeof(w)))
				continue;
			if (m->at_ns < start)
				snprintf(got, sizeof(got),
					 "one was already waiting (it came %llu ms "
					 "before this step): %s",
					 (unsigned long long)ms_since(m->at_ns, start), m->raw);
			else
				snprintf(got, sizeof(got), "one after %llu ms: %s",
					 (unsigned long long)ms_since(start, m->at_ns), m->raw);
			outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
				     "expected no %s %s for %u ms; got %s", c->name,
				     st->type[0] ? st->type : "message", st->ms, got);
			fail_detail(r, st, c, got, out);
			return;
		}
		if (hal_now_ns() >= deadline)
			return;
		if (!c->open) {
			closed_failure(r, st, c, out);
			return;
		}
		pump(r, deadline);
	}
}

static struct turn *turn_add(struct runner *r, const char *said)
{
	struct turn *t;

	if (r->nturns == HIL_STEPS_MAX)
		return NULL;
	t = &r->turns[r->nturns++];
	memset(t, 0, sizeof(*t));
	t->said = strdup(said);
	t->sent_ns = hal_now_ns();
	return t;
}

static void send_step(struct runner *r, const struct step *st, cJSON *msg, struct outcome *out)
{
	struct conn *c = &r->c[st->sock];
	int rc;

	if (!c->open) {
		closed_failure(r, NULL, c, out);
		return;
	}
	rc = conn_send(r, c, msg);
	if (rc < 0) {
		outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
			     "could not send on the %s socket: %s", c->name, strerror(-rc));
		add_history(c, &out->detail);
		box_context(r, &out->detail);
	}
}

static void run_say(struct runner *r, const struct step *st, struct outcome *out)
{
	cJSON *msg = cJSON_CreateObject();

	if (!msg || !cJSON_AddNumberToObject(msg, "v", 1) ||
	    !cJSON_AddStringToObject(msg, "type", "customer_text") ||
	    !cJSON_AddStringToObject(msg, "text", st->text)) {
		outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_FAIL, "out of memory");
		cJSON_Delete(msg);
		return;
	}
	turn_add(r, st->text);
	send_step(r, st, msg, out);
	cJSON_Delete(msg);
}

static void run_send(struct runner *r, const struct step *st, struct outcome *out)
{
	cJSON *msg = cJSON_Duplicate(st->message, true), *it;
	const char *text;

	if (!msg) {
		outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_FAIL, "out of memory");
		return;
	}
	if (!cJSON_GetObjectItemCaseSensitive(msg, "v"))
		cJSON_AddNumberToObject(msg, "v", 1);
	cJSON_ArrayForEach(it, msg)
	{
		if (!cJSON_IsString(it) || strcmp(it->valuestring, "$session") != 0)
			continue;
		if (r->last_session < 1) {
			outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
				     "\"%s\": \"$session\" needs a session, and no message with "
				     "one has come yet",
				     it->string);
			add_history(&r->c[SOCK_STAFF], &out->detail);
			cJSON_Delete(msg);
			return;
		}
		{
			char key[4096]; /* the message is under 4000 bytes */

			snprintf(key, sizeof(key), "%s", it->string);
			cJSON_ReplaceItemInObjectCaseSensitive(
			    msg, key, cJSON_CreateNumber((double)r->last_session));
			it = cJSON_GetObjectItemCaseSensitive(msg, key);
		}
	}
	text = jstr(msg, "text");
	if (st->sock == SOCK_KIOSK && strcmp(st->type, "customer_text") == 0)
		turn_add(r, text ? text : "");
	send_step(r, st, msg, out);
	cJSON_Delete(msg);
}

static void run_wait(struct runner *r, const struct step *st)
{
	uint64_t deadline = hal_now_ns() + (uint64_t)st->ms * 1000000u;

	while (hal_now_ns() < deadline)
		pump(r, deadline);
}

static void step_name(const struct step *st, size_t i, char *buf, size_t len)
{
	char said[SAID_SHOWN + 4];

	if (st->name[0]) {
		snprintf(buf, len, "%02zu %s", i + 1, st->name);
		return;
	}
	switch (st->kind) {
	case STEP_SAY:
		clip(said, sizeof(said), st->text, SAID_SHOWN);
		snprintf(buf, len, "%02zu say \"%s\"", i + 1, said);
		break;
	case STEP_SEND:
		snprintf(buf, len, "%02zu send %s %s", i + 1, sock_names[st->sock], st->type);
		break;
	case STEP_EXPECT:
		snprintf(buf, len, "%02zu expect %s %s within %u ms", i + 1, sock_names[st->sock],
			 st->type, st->ms);
		break;
	case STEP_ABSENT:
		snprintf(buf, len, "%02zu no %s %s for %u ms", i + 1, sock_names[st->sock],
			 st->type[0] ? st->type : "message", st->ms);
		break;
	case STEP_WAIT:
		snprintf(buf, len, "%02zu wait %u ms", i + 1, st->ms);
		break;
	}
}

/* ---- runner: the box ---------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* A fresh folder for the daemon's store, status file, sockets, log and inputs.
 * Under $TMPDIR when that is short (socket paths must fit in 107 bytes). */
static int state_make(struct runner *r, struct hil_error *err)
{
	const char *base = getenv("TMPDIR");

	if (!base || !*base || strlen(base) > STATE_BASE_MAX)
		base = "/tmp";
	snprintf(r->state, sizeof(r->state), "%s/edgebox-hil-XXXXXX", base);
	if (!mkdtemp(r->state)) {
		int e = errno;

		r->state[0] = '\0';
		return errf(err, -e,
			    "cannot make a state folder in %s: %s (set TMPDIR to a "
			    "writable folder)",
			    base, strerror(e));
	}
	snprintf(r->log, sizeof(r->log), "%s/edgeboxd.log", r->state);
	return 0;
}

static int write_text(const char *path, char *const *lines, size_t n)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f)
		return -errno;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\n", lines[i]);
	if (ferror(f))
		rc = -EIO;
	if (fclose(f) != 0 && !rc)
		rc = -errno;
	return rc;
}

struct argv {
	char *v[8 + 2 * EDGEBOXD_SETS_MAX + 1];
	size_t n, nsets;
};

static int arg_add(struct argv *a, const char *s)
{
	if (a->n + 1 >= sizeof(a->v) / sizeof(a->v[0]))
		return -E2BIG;
	a->v[a->n] = strdup(s);
	if (!a->v[a->n])
		return -ENOMEM;
	a->n++;
	return 0;
}

static int set_add(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int set_add(struct argv *a, const char *fmt, ...)
{
	char buf[PATH_MAX + 64];
	va_list ap;
	int rc;

	if (a->nsets == EDGEBOXD_SETS_MAX)
		return -E2BIG;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rc = arg_add(a, "--set");
	rc = rc ?: arg_add(a, buf);
	a->nsets++;
	return rc;
}

static void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* The replay inputs in the state folder; a failure is the scenario's. */
static int prepare_inputs(struct runner *r, struct argv *a, struct outcome *out)
{
	const struct hil_scenario *s = r->s;
	char path[PATH_MAX];
	int rc = 0;

	if (s->ble) {
		const char *file = s->ble;

		if (s->ble_walk) {
			struct ble_walk_error werr;
			struct ble_walk *walk;

			snprintf(path, sizeof(path), "%s/ble.btsnoop", r->state);
			rc = ble_walk_load(s->ble, &walk, &werr);
			if (rc == 0) {
				rc = ble_walk_write(walk, path, NULL, &werr);
				ble_walk_free(walk);
			}
			if (rc < 0) {
				outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_BAD_SCENARIO,
					     "inputs.ble: %s", werr.msg);
				return rc;
			}
			file = path;
		}
		rc = rc ?: set_add(a, "ble.driver=btsnoop");
		rc = rc ?: set_add(a, "ble.file=%s", file);
		rc = rc ?: set_add(a, "ble.loop=false");
		if (s->ble_speed >= 0)
			rc = rc ?: set_add(a, "ble.speed=%g", s->ble_speed);
	}
	if (s->camera) {
		const char *cam = s->camera;

		if (s->camera_still) {
			/* one image in a folder of its own, looped: an entrance nobody walks
			 * through (no motion, so no face stage work either) */
			char link[PATH_MAX + 32];
			const char *base = strrchr(s->camera, '/');

			snprintf(path, sizeof(path), "%s/camera", r->state);
			snprintf(link, sizeof(link), "%s/%s", path, base ? base + 1 : s->camera);
			if (mkdir(path, 0755) < 0 || symlink(s->camera, link) < 0) {
				outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
					     "inputs.camera: cannot make %s: %s", link,
					     strerror(errno));
				return -errno;
			}
			cam = path;
		}
		rc = rc ?: set_add(a, "camera.driver=replay");
		rc = rc ?: set_add(a, "camera.path=%s", cam);
		if (s->camera_still)
			rc = rc ?: set_add(a, "camera.loop=true");
	}
	if (s->gpio_file || s->ngpio) {
		const char *script = s->gpio_file;

		if (!script) {
			snprintf(path, sizeof(path), "%s/gpio.script", r->state);
			rc = write_text(path, s->gpio_lines, s->ngpio);
			if (rc < 0) {
				outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
					     "inputs.gpio: cannot write %s: %s", path,
					     strerror(-rc));
				return rc;
			}
			script = path;
		}
		rc = rc ?: set_add(a, "gpio.driver=replay");
		rc = rc ?: set_add(a, "gpio.script=%s", script);
		rc = rc ?: set_add(a, "gpio.loop=false");
	}
	if (rc < 0)
		outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_BAD_SCENARIO,
			     "more than %d edgeboxd --set options", EDGEBOXD_SETS_MAX);
	return rc;
}

static int start_box(struct runner *r, struct outcome *out)
{
	const struct hil_scenario *s = r->s;
	struct argv a = {0};
	char bin[PATH_MAX];
	size_t i;
	pid_t pid;
	int rc;

	if (r->o->bin_dir)
		snprintf(bin, sizeof(bin), "%s/edgeboxd", r->o->bin_dir);
	else
		snprintf(bin, sizeof(bin), "edgeboxd");
	rc = arg_add(&a, bin);
	rc = rc ?: arg_add(&a, "--config");
	rc = rc ?: arg_add(&a, s->config);
	if (s->log_level[0]) {
		rc = rc ?: arg_add(&a, "--log-level");
		rc = rc ?: arg_add(&a, s->log_level);
	}
	rc = rc ?: set_add(&a, "store.path=%s/edgebox.db", r->state);
	rc = rc ?: set_add(&a, "daemon.status_file=%s/status.json", r->state);
	rc = rc ?: set_add(&a, "kiosk.socket=%s/kiosk.sock", r->state);
	rc = rc ?: set_add(&a, "staff.socket=%s/staff.sock", r->state);
	if (rc < 0) {
		outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE, "out of memory");
		goto free_args;
	}
	rc = prepare_inputs(r, &a, out);
	if (rc < 0)
		goto free_args;
	for (i = 0; i < s->nsets && rc == 0; i++)
		rc = set_add(&a, "%s", s->sets[i]);
	for (i = 0; i < r->o->nsets && rc == 0; i++)
		rc = set_add(&a, "%s", r->o->sets[i]);
	if (rc < 0) {
		outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_BAD_SCENARIO,
			     "more than %d edgeboxd --set options (the runner uses up to 14)",
			     EDGEBOXD_SETS_MAX);
		goto free_args;
	}
	snprintf(r->c[SOCK_KIOSK].path, sizeof(r->c[0].path), "%s/kiosk.sock", r->state);
	snprintf(r->c[SOCK_STAFF].path, sizeof(r->c[0].path), "%s/staff.sock", r->state);
	if (r->o->out) {
		fprintf(r->o->out, "hil: %s: starting", s->name);
		for (i = 0; i < a.n; i++)
			fprintf(r->o->out, " %s", a.v[i]);
		fprintf(r->o->out, "\n");
		fflush(r->o->out);
	}
	if (r->o->trace)
		fflush(r->o->trace);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE, "fork: %s",
			     strerror(-rc));
		goto free_args;
	}
	if (pid == 0) {
		/* only async-signal-safe calls from here to exec */
		int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		static const char msg[] = "edgeboxd could not be run (exec failed)\n";

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (in >= 0)
			dup2(in, STDIN_FILENO);
		if (r->o->bin_dir)
			execv(a.v[0], a.v);
		else
			execvp(a.v[0], a.v);
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nothing left to tell */
		}
		_exit(127);
	}
	r->pid = pid;
	rc = 0;
free_args:
	argv_free(&a);
	return rc;
}

static int read_token(const char *path, char *out, size_t cap, char *why, size_t len)
{
	size_t n = 0;
	int e = 0;
	char *t = read_file(path, 4096, &n, &e);

	if (!t) {
		snprintf(why, len, "token file %s: %s", path, strerror(e));
		return -e;
	}
	while (n && strchr("\r\n \t", t[n - 1]))
		t[--n] = '\0';
	if (!n || n >= cap) {
		snprintf(why, len, "token file %s: expected one token of 1 to %zu bytes", path,
			 cap - 1);
		free(t);
		return -EINVAL;
	}
	memcpy(out, t, n + 1);
	free(t);
	return 0;
}

/* edgeboxd exits with 2 only when it refuses its config or arguments. */
static bool refused_config(const struct runner *r)
{
	return r->exited && WIFEXITED(r->wstatus) && WEXITSTATUS(r->wstatus) == 2;
}

/* After a connection failed in start mode: was it the daemon going away?
 * Gives it up to 1 s to be reaped; true (and out filled) when it refused
 * its config. */
static bool daemon_refused(struct runner *r, struct outcome *out)
{
	uint64_t deadline = hal_now_ns() + 1000000000ull;
	char how[96];

	while (r->pid > 0 && !r->exited && hal_now_ns() < deadline) {
		usleep(10000);
		check_daemon(r);
	}
	if (!refused_config(r))
		return false;
	describe_exit(r->wstatus, how, sizeof(how));
	free(strbuf_take(&out->detail));
	outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_BAD_SCENARIO,
		     "edgeboxd ended before its sockets were up (%s: it refused the config the "
		     "scenario starts it with)",
		     how);
	box_context(r, &out->detail);
	return true;
}

/* Connects both sockets (retrying while the daemon comes up), checks the
 * welcomes, says hello. */
static void connect_sockets(struct runner *r, uint32_t ms, struct outcome *out)
{
	uint64_t deadline = hal_now_ns() + (uint64_t)ms * 1000000u;
	char how[96];
	int i;

	for (;;) {
		bool all = true;

		for (i = 0; i < SOCK_N; i++) {
			struct conn *c = &r->c[i];
			struct sockaddr_un sa = {.sun_family = AF_UNIX};
			int e;

			if (c->open)
				continue;
			memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
			c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (c->fd < 0) {
				outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
					     "socket: %s", strerror(errno));
				return;
			}
			if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				c->open = true;
				continue;
			}
			e = errno;
			close(c->fd);
			c->fd = -1;
			all = false;
			if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN) {
				outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
					     "cannot connect to the %s socket %s: %s%s", c->name,
					     c->path, strerror(e),
					     e == EACCES ? " (run as root or as a member of the "
							   "socket's group)"
							 : "");
				return;
			}
		}
		if (all)
			break;
		check_daemon(r);
		if (r->exited) {
			bool config = WIFEXITED(r->wstatus) && WEXITSTATUS(r->wstatus) == 2;

			describe_exit(r->wstatus, how, sizeof(how));
			if (WIFEXITED(r->wstatus) && WEXITSTATUS(r->wstatus) == 127)
				outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
					     "edgeboxd could not be run from %s (give its folder "
					     "with --bin or EDGEBOX_BIN)",
					     r->o->bin_dir ? r->o->bin_dir : "$PATH");
			else
				outcome_fail(
				    out, HIL_CASE_ERROR,
				    config ? HIL_STATUS_BAD_SCENARIO : HIL_STATUS_UNREACHABLE,
				    "edgeboxd ended before its sockets were up (%s%s)", how,
				    config ? ": it refused the config the scenario starts "
					     "it with"
					   : "");
			box_context(r, &out->detail);
			return;
		}
		if (hal_now_ns() >= deadline) {
			for (i = 0; i < SOCK_N && r->c[i].open; i++)
				;
			outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
				     "the %s socket %s did not answer within %u ms%s", r->c[i].name,
				     r->c[i].path, ms,
				     r->pid ? " (edgeboxd is running)"
					    : ": is edgeboxd running? `systemctl status edgeboxd`");
			box_context(r, &out->detail);
			return;
		}
		usleep(CONNECT_RETRY_MS * 1000);
	}
	/* welcome first, on both */
	if (deadline < hal_now_ns() + 2000000000ull)
		deadline = hal_now_ns() + 2000000000ull;
	while ((!r->c[SOCK_KIOSK].count && r->c[SOCK_KIOSK].open) ||
	       (!r->c[SOCK_STAFF].count && r->c[SOCK_STAFF].open)) {
		if (hal_now_ns() >= deadline)
			break;
		pump(r, deadline);
	}
	for (i = 0; i < SOCK_N; i++) {
		struct conn *c = &r->c[i];
		struct msg *m = at_seq(c, c->head_seq);
		const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m->json, "v") : NULL;
		cJSON *hello;
		int rc;

		if (!m) {
			outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
				     "no welcome on the %s socket %s: %s", c->name, c->path,
				     c->open ? "nothing came within 2 s" : c->why);
			add_history(c, &out->detail);
			box_context(r, &out->detail);
			return;
		}
		if (strcmp(m->type, "welcome") != 0) {
			outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
				     "the %s socket %s refused us: %s", c->name, c->path, m->raw);
			add_history(c, &out->detail);
			box_context(r, &out->detail);
			return;
		}
		if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
			outcome_fail(
			    out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
			    "the %s socket speaks protocol version %s; this runner speaks 1",
			    c->name, cJSON_IsNumber(v) ? "another" : "(none given)");
			add_history(c, &out->detail);
			return;
		}
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m->json, "hello_required")) &&
		    !c->token[0]) {
			outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
				     "the %s socket needs a token: give box.attach.%s_token_file "
				     "or set EDGEBOX_%s_TOKEN",
				     c->name, c->name, i == SOCK_KIOSK ? "KIOSK" : "STAFF");
			return;
		}
		take_until(c, c->head_seq + 1);
		hello = cJSON_CreateObject();
		if (!hello)
			return;
		cJSON_AddNumberToObject(hello, "v", 1);
		cJSON_AddStringToObject(hello, "type", "hello");
		cJSON_AddStringToObject(hello, i == SOCK_KIOSK ? "client" : "device",
					"edgeboxctl-hil");
		if (c->token[0])
			cJSON_AddStringToObject(hello, "token", c->token);
		rc = conn_send(r, c, hello);
		cJSON_Delete(hello);
		if (rc < 0) {
			outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_UNREACHABLE,
				     "hello on the %s socket: %s", c->name, strerror(-rc));
			return;
		}
	}
}

static void connect_box(struct runner *r, uint32_t ms, struct outcome *out)
{
	connect_sockets(r, ms, out);
	if (out->res != HIL_CASE_PASS && r->pid > 0)
		daemon_refused(r, out);
}

/* SIGTERM, then a clean exit within stop_ms; SIGKILL when it does not come. */
static void stop_box(struct runner *r, struct outcome *out)
{
	uint64_t deadline;
	bool by_itself;
	char how[96];

	for (int i = 0; i < SOCK_N; i++)
		if (r->c[i].open)
			conn_close(&r->c[i], "closed by the runner");
	check_daemon(r);
	by_itself = r->exited;
	if (!r->exited) {
		kill(r->pid, SIGTERM);
		deadline = hal_now_ns() + (uint64_t)r->s->stop_ms * 1000000u;
		while (!r->exited && hal_now_ns() < deadline) {
			usleep(10000);
			check_daemon(r);
		}
	}
	if (!r->exited) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &r->wstatus, 0);
		r->exited = true;
		outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
			     "edgeboxd did not exit within %u ms of SIGTERM; it was killed",
			     r->s->stop_ms);
		add_log_tail(r, &out->detail);
		return;
	}
	describe_exit(r->wstatus, how, sizeof(how));
	if (refused_config(r)) {
		/* it may have had its sockets up for a moment before it checked the
		 * last keys, so this can come after a good start */
		outcome_fail(out, HIL_CASE_ERROR, HIL_STATUS_BAD_SCENARIO,
			     "edgeboxd refused the config the scenario starts it with (%s at "
			     "+%llu ms)",
			     how, (unsigned long long)rel_ms(r, r->exited_ns));
		add_log_tail(r, &out->detail);
	} else if (by_itself) {
		outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
			     "edgeboxd ended by itself during the run (%s at +%llu ms)", how,
			     (unsigned long long)rel_ms(r, r->exited_ns));
		add_log_tail(r, &out->detail);
	} else if (!WIFEXITED(r->wstatus) || WEXITSTATUS(r->wstatus) != 0) {
		outcome_fail(out, HIL_CASE_FAIL, HIL_STATUS_FAIL,
			     "edgeboxd did not stop cleanly on SIGTERM: %s", how);
		add_log_tail(r, &out->detail);
	}
}

/* ---- runner: the run ------------------------------------------------------------ */

static const char *const result_words[] = {"ok  ", "FAIL", "ERR ", "skip"};

/* Files the outcome as a case; out->detail is taken. */
static int record(struct runner *r, const char *name, uint64_t start, struct outcome *out)
{
	double t = (double)(hal_now_ns() - start) / 1e9;
	char *detail = strbuf_take(&out->detail);
	int rc;

	if (out->res == HIL_CASE_FAIL || out->res == HIL_CASE_ERROR)
		r->rep->status = hil_status_worst(r->rep->status, out->status);
	rc = report_add(r->rep, name, out->res, out->res == HIL_CASE_SKIPPED ? 0 : t, out->message,
			detail);
	free(detail);
	if (r->o->out) {
		fprintf(r->o->out, "  %s  %s", result_words[out->res], name);
		if (out->res == HIL_CASE_PASS)
			fprintf(r->o->out, " (%.2f s)\n", t);
		else
			fprintf(r->o->out, ": %s\n", out->message);
		fflush(r->o->out);
	}
	return rc;
}

static void outcome_reset(struct outcome *out)
{
	strbuf_free(&out->detail);
	memset(out, 0, sizeof(*out));
	strbuf_init(&out->detail, DETAIL_MAX, DETAIL_CUT);
	out->res = HIL_CASE_PASS;
}

static int conns_init(struct runner *r, const struct hil_options *o)
{
	const struct hil_scenario *s = r->s;
	const char *paths[SOCK_N] = {o->kiosk ? o->kiosk : s->kiosk,
				     o->staff ? o->staff : s->staff};
	const char *env[SOCK_N] = {"EDGEBOX_KIOSK_TOKEN", "EDGEBOX_STAFF_TOKEN"};

	for (int i = 0; i < SOCK_N; i++) {
		r->c[i].fd = -1; /* before anything can fail: conns_free closes fds */
		r->c[i].name = sock_names[i];
	}
	for (int i = 0; i < SOCK_N; i++) {
		struct conn *c = &r->c[i];

		c->buf = malloc(HIL_LINE_MAX);
		c->q = calloc(HIL_QUEUE_MAX, sizeof(*c->q));
		if (!c->buf || !c->q)
			return -ENOMEM;
		if (i == SOCK_KIOSK) {
			c->reply = malloc(HIL_REPLY_MAX);
			if (!c->reply)
				return -ENOMEM;
			c->reply[0] = '\0';
		}
		if (r->attach) {
			snprintf(c->path, sizeof(c->path), "%s", paths[i]);
			if (getenv(env[i]))
				snprintf(c->token, sizeof(c->token), "%s", getenv(env[i]));
		}
	}
	return 0;
}

static void conns_free(struct runner *r)
{
	for (int i = 0; i < SOCK_N; i++) {
		struct conn *c = &r->c[i];

		if (c->fd >= 0)
			close(c->fd);
		if (c->q)
			take_until(c, c->head_seq + c->count);
		free(c->q);
		free(c->buf);
		free(c->reply);
	}
}

static int report_new(const struct hil_scenario *s, bool start_mode, struct hil_report **ret)
{
	struct hil_report *rep = calloc(1, sizeof(*rep));
	time_t now = time(NULL);
	struct tm tm;

	*ret = rep;
	if (!rep)
		return -ENOMEM;
	rep->name = strdup(s->name);
	rep->file = strdup(s->file);
	rep->start_mode = start_mode;
	if (gmtime_r(&now, &tm))
		strftime(rep->timestamp, sizeof(rep->timestamp), "%Y-%m-%dT%H:%M:%S", &tm);
	return rep->name && rep->file ? 0 : -ENOMEM;
}

static int fill_turns(struct runner *r)
{
	struct hil_report *rep = r->rep;

	if (!r->nturns)
		return 0;
	rep->turns = calloc(r->nturns, sizeof(*rep->turns));
	if (!rep->turns)
		return -ENOMEM;
	for (size_t i = 0; i < r->nturns; i++) {
		const struct turn *t = &r->turns[i];
		struct rturn *rt = &rep->turns[rep->nturns++];

		rt->said = t->said;
		r->turns[i].said = NULL;
		rt->first_token_ms = t->first_ns ? (int64_t)ms_since(t->sent_ns, t->first_ns) : -1;
		rt->reply_end_ms = t->end_ns ? (int64_t)ms_since(t->sent_ns, t->end_ns) : -1;
		rt->handoff_ms = t->handoff_ns ? (int64_t)ms_since(t->sent_ns, t->handoff_ns) : -1;
	}
	return 0;
}

int hil_run(const struct hil_scenario *s, const struct hil_options *o, struct hil_report **ret,
	    struct hil_error *err)
{
	static const struct hil_options none = {0};
	struct outcome out = {.res = HIL_CASE_PASS};
	struct runner *r;
	char name[HIL_NAME_MAX + PATH_MAX];
	uint64_t start;
	bool stopped = false, box_up;
	size_t i;
	int rc, nerr;

	strbuf_init(&out.detail, DETAIL_MAX, DETAIL_CUT);
	*ret = NULL;
	if (!o)
		o = &none;
	if (!!o->kiosk != !!o->staff)
		return errf(err, -EINVAL, "give both the kiosk and the staff socket to attach to");
	for (i = 0; i < SOCK_N; i++) {
		const char *p = i == SOCK_KIOSK ? o->kiosk : o->staff;

		if (p && strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return errf(err, -EINVAL, "socket path %s is over %zu bytes", p,
				    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
	for (i = 0; i < o->nsets; i++)
		if (!valid_set(o->sets[i]))
			return errf(err, -EINVAL, "--set %s: expected section.key=value",
				    o->sets[i]);
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->s = s;
	r->o = o;
	for (i = 0; i < SOCK_N; i++)
		r->c[i].fd = -1;
	r->attach = !s->start || (o->kiosk && o->staff);
	r->t0 = hal_now_ns();
	rc = report_new(s, !r->attach, &r->rep);
	rc = rc ?: conns_init(r, o);
	if (rc < 0) {
		errf(err, rc, "out of memory");
		goto free_runner;
	}
	if (r->attach) {
		for (i = 0; i < SOCK_N; i++) {
			const char *tf =
			    i == SOCK_KIOSK ? s->kiosk_token_file : s->staff_token_file;

			if (tf && read_token(tf, r->c[i].token, sizeof(r->c[i].token), out.message,
					     sizeof(out.message)) < 0) {
				out.res = HIL_CASE_ERROR;
				out.status = HIL_STATUS_BAD_SCENARIO;
			}
		}
	} else {
		rc = state_make(r, err);
		if (rc < 0)
			goto free_runner;
	}

	/* start or connect: one case */
	start = hal_now_ns();
	if (r->attach) {
		snprintf(name, sizeof(name), "00 connect: kiosk %s, staff %s", r->c[0].path,
			 r->c[1].path);
		if (o->out)
			fprintf(o->out, "hil: %s (%s): attaching to a running box%s\n", s->name,
				s->file,
				s->start ? "; its inputs are the rig's, not the scenario's" : "");
	} else {
		snprintf(name, sizeof(name), "00 start: edgeboxd on %s", s->config_arg);
		start_box(r, &out);
	}
	if (out.res == HIL_CASE_PASS)
		connect_box(r, s->connect_ms ? s->connect_ms : DEFAULT_CONNECT_MS, &out);
	box_up = out.res == HIL_CASE_PASS;
	rc = record(r, name, start, &out);

	/* the steps */
	nerr = box_up ? 0 : 1;
	for (i = 0; i < s->nsteps && rc == 0; i++) {
		const struct step *st = &s->steps[i];

		outcome_reset(&out);
		step_name(st, i, name, sizeof(name));
		start = hal_now_ns();
		if (nerr && (!o->keep_going || !box_up)) {
			outcome_fail(&out, HIL_CASE_SKIPPED, HIL_STATUS_PASS, "not run: %s",
				     box_up ? "an earlier step failed"
					    : "the box was not reachable");
			rc = record(r, name, start, &out);
			continue;
		}
		switch (st->kind) {
		case STEP_SAY:
			run_say(r, st, &out);
			break;
		case STEP_SEND:
			run_send(r, st, &out);
			break;
		case STEP_EXPECT:
			run_expect(r, st, &out);
			break;
		case STEP_ABSENT:
			run_absent(r, st, &out);
			break;
		case STEP_WAIT:
			run_wait(r, st);
			break;
		}
		if (out.res != HIL_CASE_PASS)
			nerr++;
		rc = record(r, name, start, &out);
	}

	/* stop */
	if (r->pid > 0 && box_up && rc == 0) {
		outcome_reset(&out);
		start = hal_now_ns();
		stop_box(r, &out);
		stopped = true;
		rc = record(r, "99 stop: edgeboxd exits cleanly on SIGTERM", start, &out);
	}
	rc = rc ?: fill_turns(r);
	if (rc < 0) {
		errf(err, rc, "out of memory");
		goto free_runner;
	}
	r->rep->time_s = (double)(hal_now_ns() - r->t0) / 1e9;
	if (r->state[0] && o->keep_state)
		r->rep->state_kept = strdup(r->state);
	*ret = r->rep;
	r->rep = NULL;
free_runner:
	if (r->pid > 0 && !r->exited) {
		/* never leave a daemon behind, whatever happened above */
		kill(r->pid, stopped ? SIGKILL : SIGTERM);
		for (int k = 0; k < 500 && !r->exited; k++) {
			usleep(10000);
			check_daemon(r);
		}
		if (!r->exited) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, NULL, 0);
		}
	}
	free(strbuf_take(&out.detail));
	conns_free(r);
	for (i = 0; i < r->nturns; i++)
		free(r->turns[i].said);
	if (r->state[0] && !o->keep_state)
		nftw(r->state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	hil_report_free(r->rep);
	free(r);
	return rc;
}

/* ---- JUnit ---------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s that is an XML character, or 0. */
static size_t xml_char_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return s[0] >= 0x20 || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' ? 1 : 0;
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF ||
	    (cp >= 0x7F && cp <= 0x9F))
		return 0;
	return n;
}

int hil_xml_escape(const char *s, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0;

	while (*p) {
		char ref[16];
		const char *rep = NULL;
		size_t n = xml_char_len(p), k;

		switch (*p) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '\t':
		case '\n':
		case '\r':
			snprintf(ref, sizeof(ref), "&#%d;", *p);
			rep = ref;
			break;
		default:
			break;
		}
		if (!rep && n == 0) {
			rep = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not an XML character */
			n = 1;
		}
		if (rep) {
			k = strlen(rep);
			if (!n)
				n = 1;
		} else {
			k = n;
		}
		if (len + k + 1 > cap)
			return -ENOSPC;
		memcpy(out + len, rep ? rep : (const char *)p, k);
		len += k;
		p += n;
	}
	if (len + 1 > cap)
		return -ENOSPC;
	out[len] = '\0';
	return (int)len;
}

/* Writes s escaped; false on out of memory. */
static bool xml_put(FILE *f, const char *s)
{
	size_t cap = 6 * strlen(s) + 1;
	char *buf = malloc(cap);

	if (!buf)
		return false;
	if (hil_xml_escape(s, buf, cap) >= 0)
		fputs(buf, f);
	free(buf);
	return true;
}

int hil_junit_fprint(const struct hil_report *const *reports, size_t n, FILE *f)
{
	size_t tests = 0, failures = 0, errors = 0, skipped = 0, pass, fail, error, skip;
	char host[256] = "localhost";
	double time_s = 0;
	bool ok = true;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	for (size_t i = 0; i < n; i++) {
		count_cases(reports[i], &pass, &fail, &error, &skip);
		tests += reports[i]->ncases;
		failures += fail;
		errors += error;
		skipped += skip;
		time_s += reports[i]->time_s;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<testsuites name=\"edgebox hil\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
		"skipped=\"%zu\" time=\"%.3f\">\n",
		tests, failures, errors, skipped, time_s);
	for (size_t i = 0; i < n; i++) {
		const struct hil_report *r = reports[i];

		count_cases(r, &pass, &fail, &error, &skip);
		fputs("  <testsuite name=\"", f);
		ok = ok && xml_put(f, r->name);
		fprintf(f,
			"\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" "
			"time=\"%.3f\" timestamp=\"%s\" hostname=\"",
			r->ncases, fail, error, skip, r->time_s, r->timestamp);
		ok = ok && xml_put(f, host);
		fputs("\">\n    <properties>\n      <property name=\"file\" value=\"", f);
		ok = ok && xml_put(f, r->file);
		fprintf(f, "\"/>\n      <property name=\"mode\" value=\"%s\"/>\n",
			r->start_mode ? "start" : "attach");
		for (size_t t = 0; t < r->nturns; t++) {
			const struct rturn *tu = &r->turns[t];

			fprintf(f, "      <property name=\"turn.%zu.said\" value=\"", t + 1);
			ok = ok && xml_put(f, tu->said);
			fprintf(f, "\"/>\n");
			fprintf(
			    f,
			    "      <property name=\"turn.%zu.first_token_ms\" value=\"%lld\"/>\n",
			    t + 1, (long long)tu->first_token_ms);
			fprintf(f,
				"      <property name=\"turn.%zu.reply_end_ms\" value=\"%lld\"/>\n",
				t + 1, (long long)tu->reply_end_ms);
			if (tu->handoff_ms >= 0)
				fprintf(f,
					"      <property name=\"turn.%zu.handoff_ms\" "
					"value=\"%lld\"/>\n",
					t + 1, (long long)tu->handoff_ms);
		}
		fputs("    </properties>\n", f);
		for (size_t k = 0; k < r->ncases; k++) {
			const struct rcase *c = &r->cases[k];
			static const char *const tags[] = {"", "failure", "error", "skipped"};

			fputs("    <testcase name=\"", f);
			ok = ok && xml_put(f, c->name);
			fputs("\" classname=\"hil.", f);
			ok = ok && xml_put(f, r->name);
			fprintf(f, "\" time=\"%.3f\"", c->time_s);
			if (c->result == HIL_CASE_PASS) {
				fputs("/>\n", f);
				continue;
			}
			fprintf(f, ">\n      <%s message=\"", tags[c->result]);
			ok = ok && xml_put(f, c->message);
			if (c->result == HIL_CASE_SKIPPED) {
				fputs("\"/>\n    </testcase>\n", f);
				continue;
			}
			fprintf(f, "\" type=\"%s\">",
				c->result == HIL_CASE_FAIL ? "hil.check" : "hil.box");
			ok = ok && xml_put(f, c->message);
			fputs("&#10;", f);
			ok = ok && xml_put(f, c->detail);
			fprintf(f, "</%s>\n    </testcase>\n", tags[c->result]);
		}
		fputs("  </testsuite>\n", f);
	}
	fputs("</testsuites>\n", f);
	if (!ok)
		return -ENOMEM;
	return ferror(f) ? -EIO : 0;
}

int hil_junit_write(const struct hil_report *const *reports, size_t n, const char *path,
		    struct hil_error *err)
{
	char tmp[PATH_MAX];
	FILE *f;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return errf(err, -ENAMETOOLONG, "%s: path too long", path);
	f = fopen(tmp, "w");
	if (!f)
		return errf(err, -errno, "%s: cannot write: %s", tmp, strerror(errno));
	rc = hil_junit_fprint(reports, n, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return errf(err, rc, "%s: cannot write the JUnit report: %s", path, strerror(-rc));
	}
	return 0;
}
