/*
 * The kiosk and staff sockets: message builders and the inbound parser,
 * socket set-up (permissions, stale files), broadcast order, slow clients
 * dropped without stalling the sender, bad input answered with errors,
 * inbound messages reaching the owner in order, tokens, and the
 * `edgeboxctl kiosk` / `edgeboxctl staff` consoles run as the built binary
 * ($EDGEBOX_BIN/edgeboxctl, default build/bin) against a server here.
 */
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "firmware/config.h"
#include "firmware/display.h"
#include "hal/time.h"
#include "tests/support/daemon.h"

/* ---- helpers -------------------------------------------------------------- */

static void params(enum display_role role, const char *name, struct display_params *p)
{
	display_params_default(role, p);
	snprintf(p->path, sizeof(p->path), "%s/%s.sock", test_tmpdir(), name);
	p->queue_bytes = DISPLAY_QUEUE_MIN;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* display_send of a literal line */
static int bcast(struct display *d, const char *line)
{
	return display_send(d, line, strlen(line));
}

static int send_str(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t k = send(fd, s + off, n - off, MSG_NOSIGNAL);

		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

/* A line reader over a client socket. */
struct rd {
	int fd;
	size_t len;
	char buf[1 << 16];
};

static void rd_init(struct rd *r, int fd)
{
	r->fd = fd;
	r->len = 0;
}

/* The next line (without newline) into out: its length, -1 on EOF or error,
 * -2 on timeout. */
static int rd_line(struct rd *r, char *out, size_t cap, int timeout_ms)
{
	uint64_t deadline = hal_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		struct pollfd pf = {.fd = r->fd, .events = POLLIN};
		int64_t left;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - r->buf);
			size_t c = l < cap - 1 ? l : cap - 1;

			memcpy(out, r->buf, c);
			out[c] = '\0';
			memmove(r->buf, nl + 1, r->len - l - 1);
			r->len -= l + 1;
			return (int)l;
		}
		if (r->len == sizeof(r->buf))
			return -1;
		left = (int64_t)(deadline - hal_now_ns()) / 1000000;
		if (left <= 0 || poll(&pf, 1, (int)left) == 0)
			return -2;
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		if (n <= 0)
			return -1;
		r->len += (size_t)n;
	}
}

/* The "type" of a JSON line, "" if none; *ret (may be NULL) keeps the parse.
 * The string lives until this thread's next call. */
static const char *line_type(const char *line, cJSON **ret)
{
	static __thread char type[64];
	cJSON *m = cJSON_Parse(line), *t = cJSON_GetObjectItem(m, "type");

	snprintf(type, sizeof(type), "%s", cJSON_IsString(t) ? t->valuestring : "");
	if (ret)
		*ret = m;
	else
		cJSON_Delete(m);
	return type;
}

/* Reads lines until one of type want (skipping others): 0, or -1. */
static int expect_type(struct rd *r, const char *want, char *line, size_t cap)
{
	for (;;) {
		if (rd_line(r, line, cap, 3000) < 0)
			return -1;
		if (strcmp(line_type(line, NULL), want) == 0)
			return 0;
	}
}

/* Waits for the owner's next message other than CONNECT/DISCONNECT unless
 * presence is true. 1, or 0 on timeout. */
static int owner_next(struct display *d, struct display_inbound *m, bool presence, int timeout_ms)
{
	uint64_t deadline = hal_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (hal_now_ns() < deadline) {
		if (display_recv(d, m) == 1) {
			if (!presence &&
			    (m->type == DISPLAY_IN_CONNECT || m->type == DISPLAY_IN_DISCONNECT))
				continue;
			return 1;
		}
		display_wait(d, 20);
	}
	return 0;
}

static struct display *server(const struct display_params *p)
{
	char err[DISPLAY_ERROR_MAX] = "";
	struct display *d = NULL;
	int rc = display_create(p, &d, err, sizeof(err));

	if (rc < 0)
		printf("    display_create: %d %s\n", rc, err);
	return d;
}

static void wait_clients(struct display *d, unsigned n)
{
	struct display_stats st;

	for (int i = 0; i < 300; i++) {
		display_get_stats(d, &st);
		if (st.clients == n)
			return;
		usleep(10000);
	}
}

/* ---- builders ------------------------------------------------------------- */

TEST(builders_make_valid_versioned_json)
{
	static const struct display_product prod = {
	    .id = "fibre-500",
	    .name = "Fibre 500",
	    .price = "$45/month",
	    .highlights = {"no lock-in", "3 devices at once"}};
	static const struct display_suggestion sug[] = {{"s1", "Tell me more"}, {"s2", "Price?"}};
	static const struct display_signal sig[] = {{"objection", "too expensive", 0.8},
						    {"product_interest", "fibre", -1}};
	static const char *const points[] = {"ask about streaming", "mention no lock-in"};
	struct display_visitor v = {.session = 7,
				    .recognised = true,
				    .customer_id = 42,
				    .name = "Ana",
				    .returning = true,
				    .visits = 3,
				    .last_visit_ms = 1700000000000ull,
				    .last_visit_summary = "looked at fibre",
				    .via = "face"};
	char buf[DISPLAY_MSG_MAX];
	cJSON *m;
	int n;

	n = display_msg_greeting(buf, sizeof(buf), 1234, "Hi there");
	ASSERT(n > 0 && buf[n - 1] == '\n' && !memchr(buf, '\n', (size_t)n - 1));
	ASSERT_EQ(n, (int)strlen(buf));
	ASSERT_STREQ(buf, "{\"v\":1,\"type\":\"greeting\",\"ts\":1234,\"text\":\"Hi there\"}\n");

	n = display_msg_product_card(buf, sizeof(buf), 1, &prod);
	ASSERT(n > 0);
	ASSERT_STREQ(line_type(buf, &m), "product_card");
	ASSERT_STREQ(cJSON_GetObjectItem(m, "price")->valuestring, "$45/month");
	ASSERT(!cJSON_GetObjectItem(m, "summary")); /* optional, NULL: left out */
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(m, "highlights")), 2);
	cJSON_Delete(m);

	n = display_msg_suggestions(buf, sizeof(buf), 1, sug, 2);
	ASSERT_STREQ(line_type(buf, &m), "suggestions");
	ASSERT_STREQ(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "items"), 1)->child->valuestring,
		     "s2");
	cJSON_Delete(m);
	ASSERT_EQ(display_msg_suggestions(buf, sizeof(buf), 1, sug, DISPLAY_SUGGESTIONS_MAX + 1),
		  -EINVAL);

	n = display_msg_visitor_arrived(buf, sizeof(buf), 1, &v);
	ASSERT_STREQ(line_type(buf, &m), "visitor_arrived");
	ASSERT_EQ(cJSON_GetObjectItem(m, "session")->valuedouble, 7);
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(m, "recognised")));
	ASSERT_STREQ(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(m, "last_visit"), "summary")->valuestring,
	    "looked at fibre");
	cJSON_Delete(m);

	n = display_msg_signals(buf, sizeof(buf), 1, 7, sig, 2);
	ASSERT_STREQ(line_type(buf, &m), "signals");
	ASSERT(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "list"), 0),
				   "confidence"));
	ASSERT(!cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "list"), 1),
				    "confidence"));
	cJSON_Delete(m);

	ASSERT(display_msg_next_best_action(buf, sizeof(buf), 1, 7, "Offer a demo", points, 2) > 0);
	ASSERT_CONTAINS(buf, "\"talking_points\":[\"ask about streaming\",\"mention no lock-in\"]");
	ASSERT(display_msg_escalation(buf, sizeof(buf), 1, 7, "billing", "cancel_account",
				      "wants to cancel", "asked twice to cancel") > 0);
	ASSERT_CONTAINS(buf, "\"rule\":\"cancel_account\"");
	ASSERT(display_msg_offline_mode(buf, sizeof(buf), 1, true, "llm down") > 0);
	ASSERT_CONTAINS(buf, "\"on\":true");
	ASSERT(display_msg_flagged_figure(buf, sizeof(buf), 1, 7, "$12", "removed", "only $12") >
	       0);
	ASSERT(display_msg_transcript(buf, sizeof(buf), 1, 7, "customer", "hello") > 0);
	ASSERT(display_msg_takeover_state(buf, sizeof(buf), 1, 7, true, "tablet-1") > 0);
	ASSERT_CONTAINS(buf, "\"state\":\"staff\",\"device\":\"tablet-1\"");
	ASSERT(display_msg_takeover_state(buf, sizeof(buf), 1, 7, false, "tablet-1") > 0);
	ASSERT(!strstr(buf, "device"));
	ASSERT(display_msg_error(buf, sizeof(buf), 1, "bad_json", "x", true) > 0);
	ASSERT_CONTAINS(buf, "\"error\":\"bad_json\",\"detail\":\"x\",\"fatal\":true");
	ASSERT(display_msg_visitor_left(buf, sizeof(buf), 1, 7, NULL) > 0);
	ASSERT(display_msg_archetype(buf, sizeof(buf), 1, 7, "family", 3, "Be consultative") > 0);
	ASSERT(display_msg_consent_request(buf, sizeof(buf), 1, "face", "May I remember you?",
					   true) > 0);
	ASSERT_CONTAINS(buf,
			"\"kind\":\"face\",\"text\":\"May I remember you?\",\"ask_name\":true");
	ASSERT(display_msg_consent_result(buf, sizeof(buf), 1, "face", false,
					  "I could not see your face") > 0);
	ASSERT_CONTAINS(buf, "\"type\":\"consent_result\"");
	ASSERT_CONTAINS(buf,
			"\"kind\":\"face\",\"ok\":false,\"text\":\"I could not see your face\"");
	ASSERT(display_msg_consent_recorded(buf, sizeof(buf), 1, 7, "face", true, true, 12) > 0);
	ASSERT_CONTAINS(buf, "\"session\":7,\"kind\":\"face\",\"granted\":true,\"enrolled\":true,"
			     "\"customer_id\":12");
	ASSERT(display_msg_consent_recorded(buf, sizeof(buf), 1, 7, "face", false, false, 0) > 0);
	ASSERT(!strstr(buf, "customer_id"));
	ASSERT(display_msg_handoff(buf, sizeof(buf), 1, "billing", "A colleague is coming") > 0);
	ASSERT(display_msg_farewell(buf, sizeof(buf), 1, "Bye") > 0);
	ASSERT(display_msg_reply_start(buf, sizeof(buf), 1, 3) > 0);
	ASSERT(display_msg_reply_end(buf, sizeof(buf), 1, 3) > 0);
	/* ts 0: now, wall clock in ms */
	n = display_msg_reply_end(buf, sizeof(buf), 0, 3);
	line_type(buf, &m);
	ASSERT(cJSON_GetObjectItem(m, "ts")->valuedouble > 1.6e12);
	cJSON_Delete(m);
}

TEST(builders_escape_and_repair_text)
{
	/* quotes, backslash, newline, tab, a control byte, valid UTF-8, then
	 * invalid bytes: a lone continuation, a cut 3-byte sequence, 0xff */
	const char text[] =
	    "say \"hi\"\\\n\t\x01 \xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80 \x80\xe2\x82 \xff";
	char buf[512];
	cJSON *m;
	int n;

	n = display_msg_token(buf, sizeof(buf), 5, 2, text, sizeof(text) - 1);
	ASSERT(n > 0);
	ASSERT(!memchr(buf, '\n', (size_t)n - 1));
	ASSERT_CONTAINS(buf, "\\u0001");
	ASSERT_STREQ(line_type(buf, &m), "token");
	ASSERT_STREQ(cJSON_GetObjectItem(m, "text")->valuestring,
		     "say \"hi\"\\\n\t\x01 \xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80 "
		     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd");
	cJSON_Delete(m);

	/* the token's length is honoured: no NUL needed */
	n = display_msg_token(buf, sizeof(buf), 5, 2, "Hello world", 5);
	ASSERT_STREQ(buf, "{\"v\":1,\"type\":\"token\",\"ts\":5,\"turn\":2,\"text\":\"Hello\"}\n");

	/* too small: -ENOSPC and an empty buffer, never a cut line */
	ASSERT_EQ(display_msg_token(buf, 40, 5, 2, "Hello", 5), -ENOSPC);
	ASSERT_STREQ(buf, "");
	/* exactly big enough: length + NUL */
	n = display_msg_token(buf, sizeof(buf), 5, 2, "Hello", 5);
	ASSERT_EQ(display_msg_token(buf, (size_t)n + 1, 5, 2, "Hello", 5), n);
	ASSERT_EQ(display_msg_token(buf, (size_t)n, 5, 2, "Hello", 5), -ENOSPC);
}

/* ---- parsing inbound ------------------------------------------------------ */

TEST(parse_accepts_each_inbound_type)
{
	struct display_parse_error err;
	struct display_inbound m;

#define P(role, s) display_parse(role, s, strlen(s), &m, &err)
	ASSERT_EQ(P(DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"hello\",\"client\":\"tablet-1\"}"), 0);
	ASSERT_EQ(m.type, DISPLAY_IN_HELLO);
	ASSERT_STREQ(m.u.hello.name, "tablet-1");

	ASSERT_EQ(P(DISPLAY_ROLE_KIOSK,
		    "{\"v\":1,\"type\":\"customer_text\",\"ts\":1700000000123,\"text\":\"Is "
		    "fibre \\\"fast\\\"? \\u00fc\"}"),
		  0);
	ASSERT_EQ(m.type, DISPLAY_IN_CUSTOMER_TEXT);
	ASSERT_EQ(m.ts_ms, 1700000000123ll);
	ASSERT_STREQ(m.u.text.text, "Is fibre \"fast\"? \xc3\xbc");

	ASSERT_EQ(P(DISPLAY_ROLE_KIOSK, "{\"type\":\"tap\",\"v\":1,\"suggestion_id\":\"s2\"}"), 0);
	ASSERT_EQ(m.type, DISPLAY_IN_TAP);
	ASSERT_EQ(m.u.tap.kind, DISPLAY_TAP_SUGGESTION);
	ASSERT_STREQ(m.u.tap.id, "s2");
	ASSERT_EQ(P(DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"tap\",\"product_id\":\"fibre-500\"}"),
		  0);
	ASSERT_EQ(m.u.tap.kind, DISPLAY_TAP_PRODUCT);
	ASSERT_STREQ(m.u.tap.id, "fibre-500");

	ASSERT_EQ(P(DISPLAY_ROLE_KIOSK,
		    "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":false}"),
		  0);
	ASSERT_EQ(m.type, DISPLAY_IN_CONSENT);
	ASSERT_STREQ(m.u.consent.kind, "face");
	ASSERT(!m.u.consent.granted);
	ASSERT_STREQ(m.u.consent.name, "");
	ASSERT_EQ(P(DISPLAY_ROLE_KIOSK,
		    "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":true,"
		    "\"name\":\"Sam Lee\"}"),
		  0);
	ASSERT_STREQ(m.u.consent.name, "Sam Lee");

	/* unknown extra fields are ignored within v1 */
	ASSERT_EQ(
	    P(DISPLAY_ROLE_STAFF,
	      "{\"v\":1,\"type\":\"hello\",\"device\":\"floor-2\",\"token\":\"abc\",\"x\":[1]}"),
	    0);
	ASSERT_STREQ(m.u.hello.name, "floor-2");
	ASSERT_STREQ(m.u.hello.token, "abc");
	ASSERT_EQ(P(DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"take_over\",\"session\":17}"), 0);
	ASSERT_EQ(m.type, DISPLAY_IN_TAKE_OVER);
	ASSERT_EQ(m.u.session, 17);
	ASSERT_EQ(P(DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"hand_back\",\"session\":17}"), 0);
	ASSERT_EQ(m.type, DISPLAY_IN_HAND_BACK);
	ASSERT_EQ(P(DISPLAY_ROLE_STAFF,
		    "{\"v\":1,\"type\":\"staff_text\",\"session\":3,\"text\":\"I'm coming\"}  \r"),
		  0);
	ASSERT_EQ(m.type, DISPLAY_IN_STAFF_TEXT);
	ASSERT_EQ(m.u.staff_text.session, 3);
	ASSERT_STREQ(m.u.staff_text.text, "I'm coming");
#undef P
}

TEST(parse_refuses_bad_messages_with_a_reason)
{
	static const struct {
		enum display_role role;
		const char *line;
		const char *code;
		const char *detail; /* a piece of the detail */
	} cases[] = {
	    {DISPLAY_ROLE_KIOSK, "hello", "bad_json", "not valid JSON"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"hello\"", "bad_json", "not valid JSON"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"hello\",\"client\":\"a\"} {}", "bad_json",
	     "extra data"},
	    {DISPLAY_ROLE_KIOSK, "[1,2]", "not_object", "an array"},
	    {DISPLAY_ROLE_KIOSK, "\"text\"", "not_object", "a string"},
	    {DISPLAY_ROLE_KIOSK, "{\"type\":\"hello\",\"client\":\"a\"}", "missing_field", "\"v\""},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":2,\"type\":\"hello\",\"client\":\"a\"}", "bad_version",
	     "version 1"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":\"1\",\"type\":\"hello\",\"client\":\"a\"}", "bad_field",
	     "got a string"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1}", "missing_field", "customer_text"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":7}", "bad_field", "\"type\""},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"buy_now\"}", "unknown_type", "\"buy_now\""},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"take_over\",\"session\":1}", "not_allowed",
	     "staff message"},
	    {DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"x\"}",
	     "not_allowed", "kiosk message"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"customer_text\",\"text\":5}", "bad_field",
	     "\"text\": expected a string, got a number"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"customer_text\"}", "missing_field",
	     "\"text\""},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"customer_text\",\"text\":\" \\n \"}",
	     "bad_field", "blank"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"\"}", "bad_field",
	     "1 to 2047 bytes"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"a\",\"ts\":-5}",
	     "bad_field", "\"ts\""},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"tap\"}", "missing_field", "exactly one"},
	    {DISPLAY_ROLE_KIOSK,
	     "{\"v\":1,\"type\":\"tap\",\"suggestion_id\":\"a\",\"product_id\":\"b\"}", "bad_field",
	     "exactly one"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"tap\",\"product_id\":\"a\\nb\"}", "bad_field",
	     "control characters"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":1}",
	     "bad_field", "true or false"},
	    {DISPLAY_ROLE_KIOSK,
	     "{\"v\":1,\"type\":\"consent\",\"kind\":\"Face!\",\"granted\":true}", "bad_field",
	     "lowercase"},
	    {DISPLAY_ROLE_KIOSK,
	     "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":true,\"name\":\" Sam\"}",
	     "bad_field", "\"name\": leading or trailing blanks"},
	    {DISPLAY_ROLE_KIOSK,
	     "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":true,\"name\":"
	     "\"Sam Lee Sam Lee Sam Lee Sam Lee Sam Lee Sam Lee Sam Lee Sam Lee Sam\"}",
	     "bad_field", "\"name\": expected a string of 1 to 63 bytes, got 67"},
	    {DISPLAY_ROLE_KIOSK,
	     "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":true,\"name\":7}",
	     "bad_field", "\"name\": expected a string"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\"}",
	     "missing_field", "\"granted\""},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"hello\",\"client\":[\"a\"]}", "bad_field",
	     "an array"},
	    {DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"take_over\"}", "missing_field",
	     "\"session\""},
	    {DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"take_over\",\"session\":\"7\"}", "bad_field",
	     "whole number"},
	    {DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"take_over\",\"session\":1.5}", "bad_field",
	     "whole number"},
	    {DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"hand_back\",\"session\":0}", "bad_field",
	     "whole number"},
	    {DISPLAY_ROLE_STAFF, "{\"v\":1,\"type\":\"staff_text\",\"session\":2}", "missing_field",
	     "\"text\""},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"\xff\"}",
	     "bad_encoding", "byte 38"},
	    {DISPLAY_ROLE_KIOSK, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"\xed\xa0\x80\"}",
	     "bad_encoding", "not valid UTF-8"},
	};
	struct display_parse_error err;
	struct display_inbound m;
	char longtext[DISPLAY_TEXT_MAX + 64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc =
		    display_parse(cases[i].role, cases[i].line, strlen(cases[i].line), &m, &err);

		ASSERT_MSG(rc == -EINVAL, "case %zu (%s): rc %d", i, cases[i].line, rc);
		ASSERT_MSG(err.code && strcmp(err.code, cases[i].code) == 0,
			   "case %zu (%s): code %s, want %s", i, cases[i].line,
			   err.code ? err.code : "(null)", cases[i].code);
		ASSERT_MSG(strstr(err.detail, cases[i].detail), "case %zu (%s): detail \"%s\"", i,
			   cases[i].line, err.detail);
	}
	/* a NUL inside the line */
	ASSERT_EQ(display_parse(DISPLAY_ROLE_KIOSK, "{\"v\":1,\0}", 9, &m, &err), -EINVAL);
	ASSERT_STREQ(err.code, "bad_encoding");
	ASSERT_CONTAINS(err.detail, "NUL");
	/* text longer than DISPLAY_TEXT_MAX - 1 */
	snprintf(longtext, sizeof(longtext),
		 "{\"v\":1,\"type\":\"customer_text\",\"text\":\"%0*d\"}", DISPLAY_TEXT_MAX, 0);
	ASSERT_EQ(display_parse(DISPLAY_ROLE_KIOSK, longtext, strlen(longtext), &m, &err), -EINVAL);
	ASSERT_STREQ(err.code, "bad_field");
	ASSERT_CONTAINS(err.detail, "got 2048");
	/* and exactly the limit is fine */
	snprintf(longtext, sizeof(longtext),
		 "{\"v\":1,\"type\":\"customer_text\",\"text\":\"%0*d\"}", DISPLAY_TEXT_MAX - 1, 0);
	ASSERT_EQ(display_parse(DISPLAY_ROLE_KIOSK, longtext, strlen(longtext), &m, &err), 0);
	ASSERT_EQ(strlen(m.u.text.text), DISPLAY_TEXT_MAX - 1);
}

/* ---- socket set-up --------------------------------------------------------- */

TEST(create_sets_mode_and_group)
{
	struct display_params p;
	struct group *g = getgrgid(getgid());
	struct display *d;
	struct stat st;

	params(DISPLAY_ROLE_KIOSK, "mode", &p);
	p.mode = 0600;
	d = server(&p);
	ASSERT(d);
	ASSERT_EQ(stat(p.path, &st), 0);
	ASSERT(S_ISSOCK(st.st_mode));
	ASSERT_EQ(st.st_mode & 0777, 0600);
	display_free(d);
	ASSERT_EQ(stat(p.path, &st), -1); /* removed at free */

	ASSERT(g);
	p.mode = 0666;
	snprintf(p.group, sizeof(p.group), "%s", g->gr_name);
	d = server(&p);
	ASSERT(d);
	ASSERT_EQ(stat(p.path, &st), 0);
	ASSERT_EQ(st.st_mode & 0777, 0666);
	ASSERT_EQ(st.st_gid, g->gr_gid);
	ASSERT_STREQ(display_path(d), p.path);
	display_free(d);
}

TEST(create_replaces_a_stale_socket_only)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char err[DISPLAY_ERROR_MAX], line[512];
	struct display_params p;
	struct display *d, *d2 = NULL;
	struct rd *r = malloc(sizeof(*r));
	struct stat st;
	int fd, c;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "stale", &p);
	/* a socket file left by a dead process: bound, never listening, closed */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", p.path);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	ASSERT_EQ(stat(p.path, &st), 0);
	d = server(&p);
	ASSERT(d);
	c = connect_to(p.path);
	ASSERT(c >= 0);
	rd_init(r, c);
	ASSERT_EQ(expect_type(r, "welcome", line, sizeof(line)), 0);

	/* a live one is not touched */
	ASSERT_EQ(display_create(&p, &d2, err, sizeof(err)), -EADDRINUSE);
	ASSERT(!d2);
	ASSERT_CONTAINS(err, "another process is listening");
	ASSERT_EQ(bcast(d, "{\"v\":1,\"type\":\"x\",\"ts\":1}\n"), 1);
	ASSERT_EQ(expect_type(r, "x", line, sizeof(line)), 0);
	close(c);
	display_free(d);
	free(r);

	/* not a socket: refused, left alone */
	fd = open(p.path, O_CREAT | O_WRONLY, 0644);
	ASSERT(fd >= 0);
	close(fd);
	ASSERT_EQ(display_create(&p, &d2, err, sizeof(err)), -EEXIST);
	ASSERT_CONTAINS(err, "not a socket");
	ASSERT_EQ(stat(p.path, &st), 0);
	ASSERT(S_ISREG(st.st_mode));
	unlink(p.path);
}

TEST(create_refuses_bad_parameters)
{
	char err[DISPLAY_ERROR_MAX];
	struct display_params p;
	struct display *d = NULL;

	params(DISPLAY_ROLE_STAFF, "bad", &p);
	p.max_clients = 0;
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "max_clients");
	params(DISPLAY_ROLE_STAFF, "bad", &p);
	p.queue_bytes = 100;
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "queue_bytes");
	params(DISPLAY_ROLE_STAFF, "bad", &p);
	p.inbound_capacity = 48;
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "power of two");
	params(DISPLAY_ROLE_STAFF, "bad", &p);
	p.max_line_bytes = 10;
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -EINVAL);
	params(DISPLAY_ROLE_STAFF, "bad", &p);
	p.mode = 0640;
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "0660");
	params(DISPLAY_ROLE_STAFF, "bad", &p);
	snprintf(p.group, sizeof(p.group), "no-such-group-edgebox");
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "no-such-group-edgebox");
	params(DISPLAY_ROLE_STAFF, "bad", &p);
	p.path[0] = '\0';
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -ENAMETOOLONG);
	params(DISPLAY_ROLE_STAFF, "bad", &p);
	snprintf(p.path, sizeof(p.path), "%s/no/such/folder.sock", test_tmpdir());
	ASSERT_EQ(display_create(&p, &d, err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, "folder does not exist");
	ASSERT(!d);
}

/* ---- broadcast -------------------------------------------------------------- */

struct reader {
	pthread_t thread;
	int fd;
	int want;	 /* messages to read, then stop */
	_Atomic int got; /* in order so far */
	char error[200];
};

/* Reads "seq" messages and checks they come 0, 1, 2, ...; stops after want
 * of them or at an "end" message. */
static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct rd *r = malloc(sizeof(*r));
	char line[4096];

	if (!r)
		return NULL;
	rd_init(r, rd->fd);
	while (atomic_load(&rd->got) < rd->want) {
		cJSON *m;
		int n = rd_line(r, line, sizeof(line), 10000);

		if (n < 0) {
			snprintf(rd->error, sizeof(rd->error), "read ended (%d) after %d", n,
				 atomic_load(&rd->got));
			break;
		}
		const char *type = line_type(line, &m);

		if (strcmp(type, "end") == 0) {
			cJSON_Delete(m);
			break;
		}
		if (strcmp(type, "seq") != 0) {
			cJSON_Delete(m);
			continue;
		}
		if (cJSON_GetObjectItem(m, "n")->valueint != atomic_load(&rd->got)) {
			snprintf(rd->error, sizeof(rd->error), "message %d arrived as number %d",
				 cJSON_GetObjectItem(m, "n")->valueint, atomic_load(&rd->got));
			cJSON_Delete(m);
			break;
		}
		cJSON_Delete(m);
		atomic_fetch_add(&rd->got, 1);
	}
	free(r);
	return NULL;
}

static int seq_msg(char *buf, size_t cap, int n, size_t pad)
{
	struct display_json w;
	char fill[1024];

	memset(fill, 'x', pad < sizeof(fill) ? pad : sizeof(fill) - 1);
	fill[pad < sizeof(fill) ? pad : sizeof(fill) - 1] = '\0';
	display_json_begin(&w, buf, cap, "seq", 1);
	display_json_int(&w, "n", n);
	display_json_str(&w, "pad", fill);
	return display_json_end(&w);
}

TEST(broadcast_reaches_every_client_in_order)
{
	enum { CLIENTS = 8, MESSAGES = 3000 };
	struct reader rd[CLIENTS];
	struct display_params p;
	struct display_stats st;
	struct display *d;
	char buf[256];

	params(DISPLAY_ROLE_STAFF, "bcast", &p);
	p.max_clients = CLIENTS;
	d = server(&p);
	ASSERT(d);
	for (int i = 0; i < CLIENTS; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].fd = connect_to(p.path);
		rd[i].want = MESSAGES;
		ASSERT(rd[i].fd >= 0);
	}
	wait_clients(d, CLIENTS);
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&rd[i].thread, NULL, reader_main, &rd[i]);
	for (int n = 0; n < MESSAGES; n++) {
		int len = seq_msg(buf, sizeof(buf), n, 40);

		ASSERT_EQ(display_send(d, buf, (size_t)len), CLIENTS);
		/* keep within what a live reader can buffer, as a real feed does */
		for (int i = 0; n % 32 == 31 && i < CLIENTS; i++)
			for (int k = 0; k < 5000 && atomic_load(&rd[i].got) < n - 64; k++)
				usleep(1000);
	}
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(rd[i].thread, NULL);
		close(rd[i].fd);
	}
	for (int i = 0; i < CLIENTS; i++) {
		ASSERT_MSG(!rd[i].error[0], "client %d: %s", i, rd[i].error);
		ASSERT_EQ(atomic_load(&rd[i].got), MESSAGES);
	}
	display_get_stats(d, &st);
	ASSERT_EQ(st.dropped_slow, 0);
	ASSERT_EQ(st.sent, (uint64_t)CLIENTS * (MESSAGES + 1)); /* + welcome */
	display_free(d);
}

TEST(slow_client_is_dropped_and_sender_never_waits)
{
	enum { GOOD = 3, MAX_MESSAGES = 20000 };
	struct reader rd[GOOD];
	struct display_params p;
	struct display_inbound m;
	struct display_stats st;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char buf[1024], line[4096], last[4096] = "";
	uint64_t worst_ns = 0, total_ns = 0;
	int slow, sent = 0, after_drop = -1, n, prev = -1;
	bool cut_seen = false;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "slow", &p);
	p.max_clients = GOOD + 1;
	d = server(&p);
	ASSERT(d);
	slow = connect_to(p.path); /* connects and never reads */
	ASSERT(slow >= 0);
	for (int i = 0; i < GOOD; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].fd = connect_to(p.path);
		rd[i].want = MAX_MESSAGES;
		ASSERT(rd[i].fd >= 0);
	}
	wait_clients(d, GOOD + 1);
	for (int i = 0; i < GOOD; i++)
		pthread_create(&rd[i].thread, NULL, reader_main, &rd[i]);
	for (; sent < MAX_MESSAGES; sent++) {
		uint64_t t0;

		n = seq_msg(buf, sizeof(buf), sent, 400);
		t0 = hal_now_ns();
		display_send(d, buf, (size_t)n);
		t0 = hal_now_ns() - t0;
		total_ns += t0;
		worst_ns = t0 > worst_ns ? t0 : worst_ns;
		display_get_stats(d, &st);
		if (st.dropped_slow && after_drop < 0)
			after_drop = sent;
		if (after_drop >= 0 && sent - after_drop >= 500)
			break; /* the others keep being served after the drop */
		for (int i = 0; sent % 32 == 31 && i < GOOD; i++)
			for (int k = 0; k < 5000 && atomic_load(&rd[i].got) < sent - 64; k++)
				usleep(1000);
	}
	ASSERT_MSG(after_drop > 0, "the reader that never reads was not dropped after %d", sent);
	sent++;
	ASSERT_EQ(bcast(d, "{\"v\":1,\"type\":\"end\",\"ts\":1}\n"), GOOD);
	for (int i = 0; i < GOOD; i++)
		pthread_join(rd[i].thread, NULL);
	for (int i = 0; i < GOOD; i++) {
		ASSERT_MSG(!rd[i].error[0], "good client %d: %s", i, rd[i].error);
		ASSERT_EQ(atomic_load(&rd[i].got), sent);
	}
	printf("    %d messages, slow client dropped after %d; display_send worst %.1f us, "
	       "mean %.2f us\n",
	       sent, after_drop, worst_ns / 1e3, total_ns / 1e3 / sent);
	/* never waited for the stuck client: far below any scheduler hiccup of a
	 * blocking write (which would wait forever) */
	ASSERT_MSG(worst_ns < 50000000ull, "a display_send took %.1f ms", worst_ns / 1e6);
	display_get_stats(d, &st);
	ASSERT_EQ(st.dropped_slow, 1);
	ASSERT_EQ(st.clients, GOOD);
	ASSERT(st.queue_high_water > 0 && st.queue_high_water <= p.queue_bytes);
	for (int i = 0; i < GOOD; i++)
		close(rd[i].fd);

	/* What the stuck client finds when it finally reads: whole messages in
	 * order, possibly one cut line, then the too_slow error, then EOF. */
	rd_init(r, slow);
	while ((n = rd_line(r, line, sizeof(line), 3000)) >= 0) {
		char type[64];

		snprintf(type, sizeof(type), "%s", line_type(line, NULL));
		ASSERT_MSG(!last[0] || strcmp(line_type(last, NULL), "error") != 0,
			   "a line after the error: %s", line);
		if (strcmp(type, "seq") == 0) {
			cJSON *mm = cJSON_Parse(line);

			ASSERT_EQ(cJSON_GetObjectItem(mm, "n")->valueint, prev + 1);
			prev++;
			cJSON_Delete(mm);
		} else if (!*type) {
			ASSERT_MSG(!cut_seen, "two cut lines");
			cut_seen = true;
		}
		snprintf(last, sizeof(last), "%s", line);
	}
	ASSERT_EQ(n, -1); /* EOF: the server closed it */
	ASSERT_STREQ(line_type(last, NULL), "error");
	ASSERT_CONTAINS(last, "\"error\":\"too_slow\"");
	ASSERT_CONTAINS(last, "\"fatal\":true");
	ASSERT(prev > 10);
	close(slow);

	/* the owner heard about it */
	bool dropped_seen = false;
	while (display_recv(d, &m) == 1)
		if (m.type == DISPLAY_IN_DISCONNECT &&
		    strcmp(m.u.disconnect.reason, "too_slow") == 0)
			dropped_seen = true;
	ASSERT(dropped_seen);
	display_free(d);
	free(r);
}

/* ---- inbound ---------------------------------------------------------------- */

TEST(bad_input_gets_errors_and_the_server_keeps_serving)
{
	static const struct {
		const char *line;
		const char *code;
	} bad[] = {
	    {"not json at all\n", "bad_json"},
	    {"[1,2,3]\n", "not_object"},
	    {"{\"v\":1,\"type\":\"customer_text\",\"text\":42}\n", "bad_field"},
	    {"{\"v\":1,\"type\":\"sell_harder\"}\n", "unknown_type"},
	    {"{\"v\":3,\"type\":\"customer_text\",\"text\":\"x\"}\n", "bad_version"},
	    {"{\"v\":1,\"type\":\"take_over\",\"session\":1}\r\n", "not_allowed"},
	    {"\x01\x02\xff\xfe\x00garbage\x80\n", "bad_encoding"},
	    {"{\"v\":1,\"type\":\"tap\"}\n", "missing_field"},
	};
	struct display_params p;
	struct display_inbound m;
	struct display_stats st;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char line[1024];
	int fd;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "bad-input", &p);
	d = server(&p);
	ASSERT(d);
	fd = connect_to(p.path);
	ASSERT(fd >= 0);
	rd_init(r, fd);
	ASSERT_EQ(expect_type(r, "welcome", line, sizeof(line)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i].line);
		cJSON *e;

		if (i == 6)
			len = 14; /* the garbage line has a NUL inside */
		ASSERT_EQ(send(fd, bad[i].line, len, MSG_NOSIGNAL), (ssize_t)len);
		ASSERT_EQ(rd_line(r, line, sizeof(line), 3000) > 0, 1);
		ASSERT_STREQ(line_type(line, &e), "error");
		ASSERT_MSG(strcmp(cJSON_GetObjectItem(e, "error")->valuestring, bad[i].code) == 0,
			   "line %zu: got %s", i, line);
		ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(e, "fatal")));
		ASSERT_EQ(cJSON_GetObjectItem(e, "v")->valueint, 1);
		ASSERT(strlen(cJSON_GetObjectItem(e, "detail")->valuestring) > 10);
		cJSON_Delete(e);
	}
	/* blank lines are not errors */
	ASSERT_EQ(
	    send_str(fd, "\n\r\n{\"v\":1,\"type\":\"customer_text\",\"text\":\"still there?\"}\n"),
	    0);
	ASSERT_EQ(owner_next(d, &m, false, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_CUSTOMER_TEXT);
	ASSERT_STREQ(m.u.text.text, "still there?");
	display_get_stats(d, &st);
	ASSERT_EQ(st.malformed, sizeof(bad) / sizeof(bad[0]));
	ASSERT_EQ(st.received, 1);
	ASSERT_EQ(st.clients, 1);
	close(fd);
	display_free(d);
	free(r);
}

TEST(too_many_bad_messages_close_the_connection)
{
	struct display_params p;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char line[1024];
	int fd, n, errors = 0;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "many-bad", &p);
	d = server(&p);
	ASSERT(d);
	fd = connect_to(p.path);
	rd_init(r, fd);
	for (int i = 0; i < DISPLAY_MAX_ERRORS + 5; i++)
		if (send_str(fd, "nope\n") < 0)
			break;
	while ((n = rd_line(r, line, sizeof(line), 3000)) >= 0)
		if (strcmp(line_type(line, NULL), "error") == 0)
			errors++;
	ASSERT_EQ(n, -1);
	ASSERT_EQ(errors, DISPLAY_MAX_ERRORS);
	ASSERT_CONTAINS(line, "too_many_errors");
	close(fd);
	display_free(d);
	free(r);
}

TEST(oversized_line_is_refused_and_closed_never_split)
{
	struct display_params p;
	struct display_inbound m;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char big[600], line[1024];
	int fd, other, n, over;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "long", &p);
	p.max_line_bytes = DISPLAY_LINE_MIN; /* 256 */
	d = server(&p);
	ASSERT(d);
	other = connect_to(p.path);
	fd = connect_to(p.path);
	ASSERT(fd >= 0 && other >= 0);

	/* exactly the limit: accepted */
	over = (int)strlen("{\"v\":1,\"type\":\"customer_text\",\"text\":\"\"}");
	n = snprintf(big, sizeof(big), "{\"v\":1,\"type\":\"customer_text\",\"text\":\"%0*d\"}",
		     DISPLAY_LINE_MIN - over, 7);
	ASSERT_EQ(n, DISPLAY_LINE_MIN);
	strcat(big, "\n");
	ASSERT_EQ(send_str(fd, big), 0);
	ASSERT_EQ(owner_next(d, &m, false, 3000), 1);
	ASSERT_EQ(strlen(m.u.text.text), DISPLAY_LINE_MIN - over);

	/* one byte more: an error, then the connection ends; nothing reaches the owner */
	n = snprintf(big, sizeof(big), "{\"v\":1,\"type\":\"customer_text\",\"text\":\"%0*d\"}\n",
		     DISPLAY_LINE_MIN - over + 1, 7);
	ASSERT_EQ(send_str(fd, big), 0);
	rd_init(r, fd);
	ASSERT_EQ(expect_type(r, "error", line, sizeof(line)), 0);
	ASSERT_CONTAINS(line, "line_too_long");
	ASSERT_CONTAINS(line, "\"fatal\":true");
	ASSERT_EQ(rd_line(r, line, sizeof(line), 3000), -1);
	ASSERT_EQ(owner_next(d, &m, false, 200), 0);
	close(fd);

	/* the other client is still served both ways */
	ASSERT_EQ(send_str(other, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"ok\"}\n"), 0);
	ASSERT_EQ(owner_next(d, &m, false, 3000), 1);
	ASSERT_STREQ(m.u.text.text, "ok");
	ASSERT_EQ(bcast(d, "{\"v\":1,\"type\":\"x\",\"ts\":1}\n"), 1);
	rd_init(r, other);
	ASSERT_EQ(expect_type(r, "x", line, sizeof(line)), 0);
	close(other);
	display_free(d);
	free(r);
}

struct sender {
	pthread_t thread;
	const char *path;
	int id, count, fd;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	char line[256];

	for (int i = 0; i < s->count; i++) {
		snprintf(line, sizeof(line),
			 "{\"v\":1,\"type\":\"customer_text\",\"text\":\"c%d m%d\"}\n", s->id, i);
		if (send_str(s->fd, line) < 0)
			break;
	}
	return NULL;
}

TEST(inbound_messages_reach_the_owner_in_order)
{
	enum { CLIENTS = 3, COUNT = 300 };
	struct sender s[CLIENTS];
	struct display_params p;
	struct display_inbound m;
	struct display_stats st;
	struct display *d;
	uint32_t ids[CLIENTS] = {0};
	int next[CLIENTS] = {0}, total = 0, connects = 0;

	params(DISPLAY_ROLE_KIOSK, "inbound", &p);
	p.inbound_capacity = 1024; /* more than all of it: nothing may be refused */
	d = server(&p);
	ASSERT(d);
	for (int i = 0; i < CLIENTS; i++) {
		s[i] = (struct sender){.path = p.path, .id = i, .count = COUNT};
		s[i].fd = connect_to(p.path);
		ASSERT(s[i].fd >= 0);
	}
	/* each client's CONNECT names its id; clients connected in order */
	while (connects < CLIENTS && owner_next(d, &m, true, 3000) == 1)
		if (m.type == DISPLAY_IN_CONNECT)
			ids[connects++] = m.client;
	ASSERT_EQ(connects, CLIENTS);
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&s[i].thread, NULL, sender_main, &s[i]);
	while (total < CLIENTS * COUNT && owner_next(d, &m, false, 5000) == 1) {
		int c = -1, k = -1, mi = -1;

		ASSERT_EQ(m.type, DISPLAY_IN_CUSTOMER_TEXT);
		ASSERT_EQ(sscanf(m.u.text.text, "c%d m%d", &c, &mi), 2);
		for (int i = 0; i < CLIENTS; i++)
			if (ids[i] == m.client)
				k = i;
		ASSERT_EQ(k, c); /* the message names the connection it came on */
		ASSERT_MSG(mi == next[c], "client %d: message %d after %d", c, mi, next[c] - 1);
		ASSERT(m.recv_ns > 0);
		next[c]++;
		total++;
	}
	ASSERT_EQ(total, CLIENTS * COUNT);
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(s[i].thread, NULL);
		close(s[i].fd);
	}
	display_get_stats(d, &st);
	/* The owner kept up here; with a small ring some may be refused "busy",
	 * and then the test above would have failed on a gap. */
	ASSERT_EQ(st.busy, 0);
	ASSERT_EQ(st.received, CLIENTS * COUNT);
	display_free(d);
}

TEST(full_inbound_ring_answers_busy)
{
	struct display_params p;
	struct display_inbound m;
	struct display_stats st;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char line[1024];
	int fd, busy = 0;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "busy", &p);
	p.inbound_capacity = 2;
	d = server(&p);
	ASSERT(d);
	fd = connect_to(p.path);
	rd_init(r, fd);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_CONNECT);
	for (int i = 0; i < 5; i++) {
		snprintf(line, sizeof(line),
			 "{\"v\":1,\"type\":\"customer_text\",\"text\":\"m%d\"}\n", i);
		ASSERT_EQ(send_str(fd, line), 0);
	}
	while (busy < 3 && rd_line(r, line, sizeof(line), 3000) >= 0)
		if (strstr(line, "\"error\":\"busy\""))
			busy++;
	ASSERT_EQ(busy, 3);
	/* the two that fitted, in order */
	ASSERT_EQ(display_recv(d, &m), 1);
	ASSERT_STREQ(m.u.text.text, "m0");
	ASSERT_EQ(display_recv(d, &m), 1);
	ASSERT_STREQ(m.u.text.text, "m1");
	ASSERT_EQ(display_recv(d, &m), 0);
	display_get_stats(d, &st);
	ASSERT_EQ(st.busy, 3);
	close(fd);
	display_free(d);
	free(r);
}

TEST(client_gone_mid_line_delivers_nothing)
{
	struct display_params p;
	struct display_inbound m;
	struct display_stats st;
	struct display *d;
	int fd;

	params(DISPLAY_ROLE_KIOSK, "midline", &p);
	d = server(&p);
	ASSERT(d);
	fd = connect_to(p.path);
	ASSERT_EQ(send_str(fd, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"I want to can"), 0);
	usleep(50000);
	close(fd);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_CONNECT);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_DISCONNECT);
	ASSERT_STREQ(m.u.disconnect.reason, "closed");
	ASSERT_EQ(owner_next(d, &m, true, 200), 0);
	wait_clients(d, 0);
	display_get_stats(d, &st);
	ASSERT_EQ(st.clients, 0);
	ASSERT_EQ(st.received, 0);
	/* the slot is free again and works */
	fd = connect_to(p.path);
	ASSERT_EQ(send_str(fd, "{\"v\":1,\"type\":\"customer_text\",\"text\":\"hi\"}\n"), 0);
	ASSERT_EQ(owner_next(d, &m, false, 3000), 1);
	ASSERT_STREQ(m.u.text.text, "hi");
	close(fd);
	display_free(d);
}

TEST(clients_over_the_limit_are_turned_away)
{
	struct display_params p;
	struct display_stats st;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char line[1024];
	int a, b, c;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "full", &p);
	p.max_clients = 2;
	d = server(&p);
	ASSERT(d);
	a = connect_to(p.path);
	b = connect_to(p.path);
	wait_clients(d, 2);
	c = connect_to(p.path);
	ASSERT(c >= 0);
	rd_init(r, c);
	ASSERT_EQ(rd_line(r, line, sizeof(line), 3000) > 0, 1);
	ASSERT_CONTAINS(line, "\"error\":\"server_full\"");
	ASSERT_EQ(rd_line(r, line, sizeof(line), 3000), -1);
	display_get_stats(d, &st);
	ASSERT_EQ(st.refused, 1);
	ASSERT_EQ(st.clients, 2);
	close(a);
	close(b);
	close(c);
	display_free(d);
	free(r);
}

TEST(token_gates_staff_clients)
{
	struct display_params p;
	struct display_inbound m;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char line[1024];
	struct pollfd pf;
	int fd, good;

	ASSERT(r);
	params(DISPLAY_ROLE_STAFF, "token", &p);
	snprintf(p.token, sizeof(p.token), "s3cret-token");
	d = server(&p);
	ASSERT(d);
	fd = connect_to(p.path);
	rd_init(r, fd);
	ASSERT_EQ(rd_line(r, line, sizeof(line), 3000) > 0, 1);
	ASSERT_CONTAINS(line, "\"type\":\"welcome\"");
	ASSERT_CONTAINS(line, "\"hello_required\":true");
	/* no broadcasts before hello */
	usleep(20000);
	ASSERT_EQ(bcast(d, "{\"v\":1,\"type\":\"x\",\"ts\":1}\n"), 0);
	pf = (struct pollfd){.fd = fd, .events = POLLIN};
	ASSERT_EQ(poll(&pf, 1, 100), 0);
	/* commands are refused, the connection stays */
	ASSERT_EQ(send_str(fd, "{\"v\":1,\"type\":\"take_over\",\"session\":4}\n"), 0);
	ASSERT_EQ(expect_type(r, "error", line, sizeof(line)), 0);
	ASSERT_CONTAINS(line, "unauthorized");
	ASSERT_CONTAINS(line, "\"fatal\":false");
	/* a wrong token ends it */
	ASSERT_EQ(
	    send_str(fd, "{\"v\":1,\"type\":\"hello\",\"device\":\"t1\",\"token\":\"guess\"}\n"),
	    0);
	ASSERT_EQ(expect_type(r, "error", line, sizeof(line)), 0);
	ASSERT_CONTAINS(line, "\"fatal\":true");
	ASSERT_EQ(rd_line(r, line, sizeof(line), 3000), -1);
	close(fd);
	ASSERT_EQ(owner_next(d, &m, true, 200), 0); /* never connected, as far as the owner knows */

	good = connect_to(p.path);
	rd_init(r, good);
	ASSERT_EQ(
	    send_str(
		good,
		"{\"v\":1,\"type\":\"hello\",\"device\":\"floor\",\"token\":\"s3cret-token\"}\n"),
	    0);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_CONNECT);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_HELLO);
	ASSERT_STREQ(m.u.hello.name, "floor");
	ASSERT_STREQ(m.u.hello.token, ""); /* never handed on */
	ASSERT_EQ(bcast(d, "{\"v\":1,\"type\":\"x\",\"ts\":1}\n"), 1);
	ASSERT_EQ(expect_type(r, "x", line, sizeof(line)), 0);
	ASSERT_EQ(send_str(good, "{\"v\":1,\"type\":\"take_over\",\"session\":4}\n"), 0);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_TAKE_OVER);
	ASSERT_EQ(m.u.session, 4);
	close(good);
	display_free(d);
	free(r);
}

TEST(send_checks_lines_and_send_to_targets_one_client)
{
	struct display_params p;
	struct display_inbound m;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char line[1024], *huge;
	int a, b;
	struct pollfd pf;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "sendto", &p);
	d = server(&p);
	ASSERT(d);
	ASSERT_EQ(display_send(d, "no newline", 10), -EINVAL);
	ASSERT_EQ(display_send(d, "two\nlines\n", 10), -EINVAL);
	ASSERT_EQ(display_send(d, "\n", 0), -EINVAL);
	huge = malloc(p.queue_bytes + 2);
	ASSERT(huge);
	memset(huge, ' ', p.queue_bytes + 1);
	huge[p.queue_bytes] = '\n';
	ASSERT_EQ(display_send(d, huge, p.queue_bytes + 1), -EMSGSIZE);
	free(huge);
	ASSERT_EQ(display_send_to(d, 12345, "{}\n", 3), -ENOENT);

	a = connect_to(p.path);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_CONNECT);
	b = connect_to(p.path);
	ASSERT_EQ(owner_next(d, &m, true, 3000), 1);
	ASSERT_EQ(display_send_to(d, m.client, "{\"v\":1,\"type\":\"only_b\",\"ts\":1}\n", 31), 0);
	rd_init(r, b);
	ASSERT_EQ(expect_type(r, "only_b", line, sizeof(line)), 0);
	rd_init(r, a);
	ASSERT_EQ(expect_type(r, "welcome", line, sizeof(line)), 0);
	pf = (struct pollfd){.fd = a, .events = POLLIN};
	ASSERT_EQ(poll(&pf, 1, 100), 0);
	close(a);
	close(b);
	display_free(d);
	free(r);
}

static _Atomic int notified;

static void count_notify(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&notified, 1);
}

TEST(notify_hook_and_shutdown)
{
	struct display_params p;
	struct display_inbound m;
	struct display *d;
	struct rd *r = malloc(sizeof(*r));
	char line[1024];
	struct stat st;
	int fd;

	ASSERT(r);
	params(DISPLAY_ROLE_KIOSK, "notify", &p);
	p.notify = count_notify;
	d = server(&p);
	ASSERT(d);
	fd = connect_to(p.path);
	rd_init(r, fd);
	ASSERT_EQ(send_str(fd, "{\"v\":1,\"type\":\"hello\",\"client\":\"k1\"}\n"), 0);
	ASSERT_EQ(owner_next(d, &m, false, 3000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_HELLO);
	ASSERT(atomic_load(&notified) >= 1);
	ASSERT_EQ(expect_type(r, "welcome", line, sizeof(line)), 0);
	display_free(d);
	/* the client is told, then closed; the socket file is gone */
	ASSERT_EQ(expect_type(r, "error", line, sizeof(line)), 0);
	ASSERT_CONTAINS(line, "\"error\":\"shutdown\"");
	ASSERT_EQ(rd_line(r, line, sizeof(line), 3000), -1);
	ASSERT_EQ(stat(p.path, &st), -1);
	close(fd);

	/* a socket file that is no longer ours is left alone */
	d = server(&p);
	ASSERT(d);
	unlink(p.path);
	fd = open(p.path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	display_free(d);
	ASSERT_EQ(stat(p.path, &st), 0);
	unlink(p.path);
	free(r);
}

/* ---- config ------------------------------------------------------------------ */

static int load_cfg(const char *text, struct config **ret, struct config_error *err)
{
	return config_load_string("test.conf", test_tmpdir(), text, ret, err);
}

TEST(config_reads_the_display_sections)
{
	struct config_error err = {0};
	struct display_params p;
	struct config *cfg = NULL;
	char text[1024], tokpath[512];
	bool on;
	FILE *f;

	snprintf(tokpath, sizeof(tokpath), "%s/staff.token", test_tmpdir());
	f = fopen(tokpath, "w");
	ASSERT(f);
	fputs("abc123\n", f);
	fclose(f);
	snprintf(text, sizeof(text),
		 "[kiosk]\nsocket = k.sock\nmode = 0600\nmax_clients = 2\nqueue_bytes = 32768\n"
		 "max_line_bytes = 1024\ninbound_capacity = 16\n"
		 "[staff]\nsocket = /tmp/s.sock\ngroup = staff\ntoken_file = staff.token\n");
	ASSERT_EQ(load_cfg(text, &cfg, &err), 0);
	ASSERT_EQ(display_params_from_config(cfg, DISPLAY_ROLE_KIOSK, &p, &on, &err), 0);
	ASSERT(on);
	ASSERT_EQ(p.role, DISPLAY_ROLE_KIOSK);
	ASSERT_CONTAINS(p.path, "/k.sock");
	ASSERT_EQ(p.path[0], '/'); /* relative to the config's folder */
	ASSERT_EQ(p.mode, 0600);
	ASSERT_EQ(p.max_clients, 2);
	ASSERT_EQ(p.queue_bytes, 32768);
	ASSERT_EQ(p.max_line_bytes, 1024);
	ASSERT_EQ(p.inbound_capacity, 16);
	ASSERT_STREQ(p.token, "");
	ASSERT_EQ(display_params_from_config(cfg, DISPLAY_ROLE_STAFF, &p, &on, &err), 0);
	ASSERT_STREQ(p.path, "/tmp/s.sock");
	ASSERT_STREQ(p.group, "staff");
	ASSERT_STREQ(p.token, "abc123");
	ASSERT_EQ(p.mode, 0660);
	ASSERT_EQ(p.max_clients, 16);
	ASSERT_EQ(config_check_unused(cfg, &err), 0);
	config_free(cfg);

	/* empty group and token_file: none (as edgebox.conf lists them) */
	ASSERT_EQ(load_cfg("[kiosk]\ngroup =\ntoken_file =\n", &cfg, &err), 0);
	ASSERT_EQ(display_params_from_config(cfg, DISPLAY_ROLE_KIOSK, &p, &on, &err), 0);
	ASSERT_STREQ(p.group, "");
	ASSERT_STREQ(p.token, "");
	ASSERT_STREQ(p.path, "/run/edgebox/kiosk.sock");
	config_free(cfg);

	/* defaults, and off */
	ASSERT_EQ(load_cfg("[kiosk]\nsocket = none\n", &cfg, &err), 0);
	ASSERT_EQ(display_params_from_config(cfg, DISPLAY_ROLE_KIOSK, &p, &on, &err), 0);
	ASSERT(!on);
	ASSERT_EQ(display_params_from_config(cfg, DISPLAY_ROLE_STAFF, &p, &on, &err), 0);
	ASSERT(on);
	ASSERT_STREQ(p.path, "/run/edgebox/staff.sock");
	config_free(cfg);
}

TEST(config_errors_name_file_line_and_key)
{
	static const struct {
		const char *text;
		const char *want[3];
	} cases[] = {
	    {"[kiosk]\nmode = 0640\n", {"test.conf:2", "mode", "0660"}},
	    {"[kiosk]\n\nmax_clients = 500\n", {"test.conf:3", "max_clients", "1 to 64"}},
	    {"[kiosk]\nqueue_bytes = 10\n", {"test.conf:2", "queue_bytes", "16384"}},
	    {"[kiosk]\ninbound_capacity = 48\n", {"test.conf", "inbound_capacity", "power of two"}},
	    {"[kiosk]\ntoken_file = nothere\n", {"token_file", "nothere", "No such file"}},
	    {"[kiosk]\nsocket =\n", {"test.conf:2", "socket", "a path"}},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_error err = {0};
		struct display_params p;
		struct config *cfg = NULL;
		bool on;

		ASSERT_EQ(load_cfg(cases[i].text, &cfg, &err), 0);
		ASSERT_MSG(display_params_from_config(cfg, DISPLAY_ROLE_KIOSK, &p, &on, &err) < 0,
			   "case %zu accepted", i);
		for (int k = 0; k < 3; k++)
			ASSERT_MSG(strstr(err.msg, cases[i].want[k]),
				   "case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want[k]);
		config_free(cfg);
	}
}

/* ---- the consoles (the built edgeboxctl) ---------------------------------- */

/* Starts edgeboxctl with args; its stdin is *ret_in (a pipe), out/err go to files. */
static pid_t start_ctl(const char *const *args, int *ret_in, const char *out, const char *errf)
{
	char ctl[512];
	int pfd[2];
	pid_t pid;

	if (test_bin_path("edgeboxctl", ctl, sizeof(ctl)) < 0 || pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		const char *argv[16] = {"edgeboxctl"};
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int n = 1;

		for (; *args && n < 15; args++)
			argv[n++] = *args;
		dup2(pfd[0], 0);
		dup2(o, 1);
		dup2(e, 2);
		close(pfd[1]);
		execv(ctl, (char *const *)argv);
		_exit(127);
	}
	close(pfd[0]);
	*ret_in = pfd[1];
	return pid;
}

static int wait_child(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static char *slurp(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void send_built(struct display *d, int n, const char *buf)
{
	if (n > 0)
		display_send(d, buf, (size_t)n);
}

TEST(kiosk_console_streams_the_reply)
{
	static const struct display_product prod = {.id = "fibre-500",
						    .name = "Fibre 500",
						    .price = "$45/month",
						    .summary = "Everyone streams at once",
						    .highlights = {"no lock-in"}};
	static const struct display_suggestion sug[] = {{"s-more", "Tell me more"},
							{"s-price", "How much?"}};
	char out[600], errf[600], buf[DISPLAY_MSG_MAX], *text;
	const char *args[] = {"kiosk", "--socket", NULL, "--wait", "300", NULL};
	struct display_params p;
	struct display_inbound m;
	struct display *d;
	int in, rc;
	pid_t pid;

	params(DISPLAY_ROLE_KIOSK, "console-kiosk", &p);
	d = server(&p);
	ASSERT(d);
	args[2] = p.path;
	snprintf(out, sizeof(out), "%s/kiosk.out", test_tmpdir());
	snprintf(errf, sizeof(errf), "%s/kiosk.err", test_tmpdir());
	pid = start_ctl(args, &in, out, errf);
	ASSERT(pid > 0);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_MSG(m.type == DISPLAY_IN_HELLO, "type %d; stderr: %s", m.type, slurp(errf));
	ASSERT_STREQ(m.u.hello.name, "edgeboxctl");
	send_built(d, display_msg_greeting(buf, sizeof(buf), 0, "Welcome! What brings you in?"),
		   buf);

	ASSERT(write(in, "my kids fight over the TV\n", 26) == 26);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_CUSTOMER_TEXT);
	ASSERT_STREQ(m.u.text.text, "my kids fight over the TV");
	send_built(d, display_msg_reply_start(buf, sizeof(buf), 0, 1), buf);
	send_built(d, display_msg_token(buf, sizeof(buf), 0, 1, "Every", 5), buf);
	send_built(d, display_msg_token(buf, sizeof(buf), 0, 1, "one can ", 8), buf);
	send_built(d, display_msg_token(buf, sizeof(buf), 0, 1, "stream.", 7), buf);
	send_built(d, display_msg_reply_end(buf, sizeof(buf), 0, 1), buf);
	send_built(d, display_msg_product_card(buf, sizeof(buf), 0, &prod), buf);
	send_built(d, display_msg_suggestions(buf, sizeof(buf), 0, sug, 2), buf);
	send_built(d,
		   display_msg_consent_request(buf, sizeof(buf), 0, "face",
					       "May I remember you next time?", true),
		   buf);
	usleep(100000);
	ASSERT(write(in, "/tap 2\n/product 1\n/yes Sam Lee\n", 31) == 31);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_TAP);
	ASSERT_EQ(m.u.tap.kind, DISPLAY_TAP_SUGGESTION);
	ASSERT_STREQ(m.u.tap.id, "s-price");
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_TAP);
	ASSERT_EQ(m.u.tap.kind, DISPLAY_TAP_PRODUCT);
	ASSERT_STREQ(m.u.tap.id, "fibre-500");
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_CONSENT);
	ASSERT_STREQ(m.u.consent.kind, "face");
	ASSERT(m.u.consent.granted);
	ASSERT_STREQ(m.u.consent.name, "Sam Lee");
	send_built(d,
		   display_msg_consent_result(buf, sizeof(buf), 0, "face", true,
					      "Done: I will know you next time."),
		   buf);
	send_built(d, display_msg_handoff(buf, sizeof(buf), 0, "pricing", "A colleague will help"),
		   buf);
	send_built(d, display_msg_handoff(buf, sizeof(buf), 0, "pricing", "Still coming"), buf);
	close(in); /* end of input: it waits out the quiet time, then exits 0 */
	rc = wait_child(pid, 10000);
	text = slurp(out);
	ASSERT_MSG(rc == 0, "exit %d; stdout: %s stderr: %s", rc, text, slurp(errf));
	ASSERT_CONTAINS(text,
			"agent> Welcome! What brings you in?\nyou> my kids fight over the TV\n");
	ASSERT_CONTAINS(text, "agent> Everyone can stream.\n"); /* tokens on one line */
	ASSERT_CONTAINS(text, "[product 1] Fibre 500  $45/month");
	ASSERT_CONTAINS(text, "- no lock-in");
	ASSERT_CONTAINS(text, "[1] Tell me more [2] How much?");
	ASSERT_CONTAINS(text,
			"[consent: face] May I remember you next time?   (/yes YOUR NAME or /no)");
	ASSERT_CONTAINS(text, "[consent: face done] Done: I will know you next time.");
	ASSERT_CONTAINS(text, "[handoff: pricing] A colleague will help");
	display_free(d);
}

TEST(kiosk_console_without_daemon_exits_3_with_the_fix)
{
	char out[600], errf[600], path[600];
	const char *args[] = {"kiosk", "--socket", path, NULL};
	int in, rc;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/nobody-here.sock", test_tmpdir());
	snprintf(out, sizeof(out), "%s/none.out", test_tmpdir());
	snprintf(errf, sizeof(errf), "%s/none.err", test_tmpdir());
	pid = start_ctl(args, &in, out, errf);
	ASSERT(pid > 0);
	close(in);
	rc = wait_child(pid, 5000);
	ASSERT_MSG(rc == 3, "exit %d; stderr: %s", rc, slurp(errf));
	ASSERT_CONTAINS(slurp(errf), "nobody-here.sock");
	ASSERT_CONTAINS(slurp(errf), "systemctl status edgeboxd");

	args[0] = "staff";
	pid = start_ctl(args, &in, out, errf);
	close(in);
	ASSERT_EQ(wait_child(pid, 5000), 3);
	args[0] = "kiosk";
	args[1] = "--bogus";
	args[2] = NULL;
	pid = start_ctl(args, &in, out, errf);
	close(in);
	ASSERT_EQ(wait_child(pid, 5000), 2);
	args[1] = "--help";
	pid = start_ctl(args, &in, out, errf);
	close(in);
	ASSERT_EQ(wait_child(pid, 5000), 0);
	ASSERT_CONTAINS(slurp(out), "Usage: edgeboxctl kiosk");
	args[0] = "staff";
	pid = start_ctl(args, &in, out, errf);
	close(in);
	ASSERT_EQ(wait_child(pid, 5000), 0);
	ASSERT_CONTAINS(slurp(out), "Usage: edgeboxctl staff");
}

TEST(kiosk_console_reports_being_dropped)
{
	char out[600], errf[600], buf[DISPLAY_MSG_MAX];
	const char *args[] = {"kiosk", "--socket", NULL, "--wait", "-1", NULL};
	struct display_params p;
	struct display_inbound m;
	struct display *d;
	int in, rc;
	pid_t pid;

	params(DISPLAY_ROLE_KIOSK, "console-drop", &p);
	p.max_line_bytes = DISPLAY_LINE_MIN;
	d = server(&p);
	ASSERT(d);
	args[2] = p.path;
	snprintf(out, sizeof(out), "%s/drop.out", test_tmpdir());
	snprintf(errf, sizeof(errf), "%s/drop.err", test_tmpdir());
	pid = start_ctl(args, &in, out, errf);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	/* an over-long line from "the customer" makes the server close it */
	memset(buf, 'a', 1000);
	buf[1000] = '\n';
	ASSERT(write(in, buf, 1001) == 1001);
	rc = wait_child(pid, 5000);
	ASSERT_MSG(rc == 1, "exit %d; stderr: %s", rc, slurp(errf));
	ASSERT_CONTAINS(slurp(errf), "line_too_long");
	close(in);

	/* the daemon stopping: exit 3 */
	pid = start_ctl(args, &in, out, errf);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	display_free(d);
	rc = wait_child(pid, 5000);
	ASSERT_MSG(rc == 3, "exit %d; stderr: %s", rc, slurp(errf));
	ASSERT_CONTAINS(slurp(errf), "closed the connection");
	close(in);
}

TEST(staff_console_shows_the_feed_and_sends_commands)
{
	struct display_visitor v = {.session = 7,
				    .recognised = true,
				    .customer_id = 42,
				    .name = "Ana",
				    .returning = true,
				    .visits = 3,
				    .last_visit_summary = "looked at fibre"};
	static const char *const points[] = {"three screens at once"};
	char out[600], errf[600], buf[DISPLAY_MSG_MAX], *text;
	const char *args[] = {"staff", "--socket", NULL,    "--wait",
			      "300",   "--device", "tab-9", NULL};
	struct display_params p;
	struct display_inbound m;
	struct display *d;
	int in, rc;
	pid_t pid;

	params(DISPLAY_ROLE_STAFF, "console-staff", &p);
	d = server(&p);
	ASSERT(d);
	args[2] = p.path;
	snprintf(out, sizeof(out), "%s/staff.out", test_tmpdir());
	snprintf(errf, sizeof(errf), "%s/staff.err", test_tmpdir());
	pid = start_ctl(args, &in, out, errf);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_HELLO);
	ASSERT_STREQ(m.u.hello.name, "tab-9");
	send_built(d, display_msg_visitor_arrived(buf, sizeof(buf), 0, &v), buf);
	send_built(d,
		   display_msg_archetype(buf, sizeof(buf), 0, 7, "family_decider", 3,
					 "Be consultative; do the comparison math"),
		   buf);
	send_built(d, display_msg_transcript(buf, sizeof(buf), 0, 7, "customer", "too pricey"),
		   buf);
	send_built(
	    d,
	    display_msg_next_best_action(buf, sizeof(buf), 0, 7, "Show the bundle math", points, 1),
	    buf);
	send_built(d,
		   display_msg_escalation(buf, sizeof(buf), 0, 7, "billing", "cancel_account",
					  "asked to cancel", "wants to cancel; angry"),
		   buf);
	send_built(d, display_msg_offline_mode(buf, sizeof(buf), 0, true, "LLM not answering"),
		   buf);
	usleep(100000);
	ASSERT(write(in, "take\nsay I'll be right there\nback 7\n", 36) == 36);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_TAKE_OVER);
	ASSERT_EQ(m.u.session, 7); /* the latest session in the feed */
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_STAFF_TEXT);
	ASSERT_EQ(m.u.staff_text.session, 7);
	ASSERT_STREQ(m.u.staff_text.text, "I'll be right there");
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	ASSERT_EQ(m.type, DISPLAY_IN_HAND_BACK);
	ASSERT_EQ(m.u.session, 7);
	send_built(d, display_msg_takeover_state(buf, sizeof(buf), 0, 7, true, "tab-9"), buf);
	close(in);
	rc = wait_child(pid, 10000);
	text = slurp(out);
	ASSERT_MSG(rc == 0, "exit %d; stdout: %s stderr: %s", rc, text, slurp(errf));
	ASSERT_CONTAINS(text, "session 7: visitor arrived: recognised customer #42 Ana, returning "
			      "(3 earlier visits); last time: looked at fibre");
	ASSERT_CONTAINS(text, "archetype family_decider (tier 3): Be consultative");
	ASSERT_CONTAINS(text, "session 7: customer: too pricey");
	ASSERT_CONTAINS(text,
			"next best action: Show the bundle math\n    - three screens at once");
	ASSERT_CONTAINS(text, "ESCALATION billing (rule cancel_account): asked to cancel");
	ASSERT_CONTAINS(text, "offline mode ON: LLM not answering");
	ASSERT_CONTAINS(text, "session 7: taken over by staff (tab-9)");

	/* --json: the lines as they came */
	args[3] = "--json";
	args[4] = "--wait";
	args[5] = "300";
	args[6] = NULL;
	pid = start_ctl(args, &in, out, errf);
	ASSERT_EQ(owner_next(d, &m, false, 5000), 1);
	send_built(d, display_msg_visitor_left(buf, sizeof(buf), 99, 7, "walked out"), buf);
	close(in);
	ASSERT_EQ(wait_child(pid, 10000), 0);
	ASSERT_CONTAINS(slurp(out), "{\"v\":1,\"type\":\"visitor_left\",\"ts\":99,\"session\":7,"
				    "\"reason\":\"walked out\"}\n");
	display_free(d);
}
