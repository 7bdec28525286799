/*
 * The agent, turn by turn, with its real knowledge files: the guard hands
 * over without any model, the offline responder answers by default, and
 * with a (scripted, simulated) OpenAI-compatible model every failure ends
 * in a defined state with a reply or a hand-over: tool calls through the
 * real tools, an invented price caught by the figure check, HTTP 500 and a
 * malformed stream falling back to the offline responder with staff told,
 * a cancellation in the middle of a tool call, and a model that stalls,
 * drops the connection or floods: the turn ends within the [llm] limits, the
 * customer gets one whole reply (never the model's partial text passed off
 * as complete) and staff are told.
 */
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "firmware/config.h"
#include "tests/support/script_server.h"

/* The kiosk's replies as a kiosk app renders them, checked message by
 * message (the kiosk string below keeps only the first 32 KB). */
struct kiosk_replies {
	int starts, ends, fixes;
	bool open;
	int turn;			 /* of the last reply_start */
	char bad[256];			 /* the first protocol break, "" if none */
	size_t token_bytes;		 /* token text of the whole session */
	char shown[4 * AGENT_REPLY_MAX]; /* the last reply as shown: its tokens, or a fix */
	bool shown_cut;			 /* it did not fit in shown */
};

/* What the sink saw, as one string per channel. */
struct seen {
	char kiosk[32768];
	char staff[32768];
	char audit[32768];
	int turns;
	struct kiosk_replies replies;
};

static void append(char *buf, size_t cap, const char *s, size_t len)
{
	size_t off = strlen(buf);

	if (off + len + 2 < cap) {
		memcpy(buf + off, s, len);
		buf[off + len] = '\n';
		buf[off + len + 1] = '\0';
	}
}

static void broke(struct kiosk_replies *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void broke(struct kiosk_replies *k, const char *fmt, ...)
{
	va_list ap;

	if (k->bad[0])
		return;
	va_start(ap, fmt);
	vsnprintf(k->bad, sizeof(k->bad), fmt, ap);
	va_end(ap);
}

static void shown_add(struct kiosk_replies *k, const char *text)
{
	size_t at = strlen(k->shown), n = strlen(text);

	if (at + n >= sizeof(k->shown)) {
		k->shown_cut = true;
		return;
	}
	memcpy(k->shown + at, text, n + 1);
}

/* docs/display-protocol.md: a reply is reply_start, tokens, reply_end, all
 * of one turn; a reply_fix replaces what the turn's reply shows; cards and
 * suggestions come between replies. */
static void track_reply(struct kiosk_replies *k, const char *json, size_t len)
{
	cJSON *m = cJSON_ParseWithLength(json, len);
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(m, "type"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(m, "text"));
	const cJSON *turn = cJSON_GetObjectItem(m, "turn");
	int t = cJSON_IsNumber(turn) ? turn->valueint : -1;

	if (!type) {
		broke(k, "a kiosk line without a type: %.*s", (int)len, json);
	} else if (strcmp(type, "reply_start") == 0) {
		if (k->open)
			broke(k, "reply_start for turn %d inside turn %d's reply", t, k->turn);
		k->starts++;
		k->open = true;
		k->turn = t;
		k->shown[0] = '\0';
		k->shown_cut = false;
	} else if (strcmp(type, "token") == 0) {
		if (!k->open || t != k->turn)
			broke(k, "a token of turn %d outside its reply", t);
		k->token_bytes += text ? strlen(text) : 0;
		shown_add(k, text ? text : "");
	} else if (strcmp(type, "reply_fix") == 0) {
		if (t != k->turn || !k->starts)
			broke(k, "reply_fix for turn %d, the last reply is turn %d's", t, k->turn);
		k->fixes++;
		k->shown[0] = '\0';
		k->shown_cut = false;
		shown_add(k, text ? text : "");
	} else if (strcmp(type, "reply_end") == 0) {
		if (!k->open || t != k->turn)
			broke(k, "reply_end for turn %d with no reply of it open", t);
		k->ends++;
		k->open = false;
	} else if (k->open) {
		broke(k, "%s inside turn %d's reply", type, k->turn);
	}
	cJSON_Delete(m);
}

static void on_kiosk(void *ctx, const char *json, size_t len)
{
	struct seen *s = ctx;

	append(s->kiosk, sizeof(s->kiosk), json, len);
	track_reply(&s->replies, json, len);
}

static void on_staff(void *ctx, const char *json, size_t len)
{
	struct seen *s = ctx;

	append(s->staff, sizeof(s->staff), json, len);
}

static void on_audit(void *ctx, const char *kind, const char *detail)
{
	struct seen *s = ctx;

	append(s->audit, sizeof(s->audit), kind, strlen(kind));
	(void)detail;
}

static void on_turn(void *ctx, const char *role, const char *text, const char *meta)
{
	struct seen *s = ctx;

	(void)role;
	(void)text;
	(void)meta;
	s->turns++;
}

static struct agent *agent;
static struct seen *seen;

/* A session of a, its sink a fresh seen. */
static struct agent_session *begin(struct agent *a)
{
	struct agent_sink sink = {on_kiosk, on_staff, on_audit, on_turn, NULL, NULL};
	struct agent_visitor v = {.session_id = 7};
	struct agent_session *s = NULL;

	agent_set_day(a, 20413); /* 2025-11-21: promotions as the catalog's tests expect */
	free(seen);
	seen = calloc(1, sizeof(*seen));
	sink.ctx = seen;
	agent_session_begin(a, &v, &sink, &s);
	return s;
}

static struct agent_session *session(void)
{
	struct agent_paths paths = {.base = "."};
	char err[AGENT_ERROR_MAX];

	if (!agent && agent_new_paths(&paths, &agent, err, sizeof(err)) < 0) {
		printf("    agent: %s\n", err);
		return NULL;
	}
	return begin(agent);
}

static int turn(struct agent_session *s, const char *text, struct agent_turn_report *r)
{
	return agent_session_turn(s, text, strlen(text), r);
}

TEST(greeting_and_offline_turns)
{
	struct agent_session *s = session();
	static struct agent_turn_report r;

	ASSERT(s);
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"greeting\"");
	ASSERT_CONTAINS(seen->staff, "\"type\":\"visitor_arrived\"");
	ASSERT_EQ(agent_session_state(s), AGENT_STATE_GREETING);
	ASSERT_EQ(turn(s, "we want a TV package for the family", &r), 0);
	ASSERT_EQ(r.source, AGENT_REPLY_OFFLINE);
	ASSERT(r.signals & SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST));
	ASSERT(r.n_skills >= 5 && r.n_skills <= 10);
	ASSERT(r.prompt_lines > 0 && r.prompt_lines < r.full_prompt_lines);
	ASSERT(r.reply[0]);
	ASSERT_EQ(r.state_after, AGENT_STATE_PRESENTING);
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"reply_end\"");
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"product_card\"");
	ASSERT_CONTAINS(seen->staff, "\"type\":\"signals\"");
	ASSERT_EQ(r.flagged_figures, 0);
	agent_session_end(s, AGENT_END_LEFT);
}

TEST(guard_hands_over_without_any_model)
{
	struct agent_session *s = session();
	static struct agent_turn_report r;

	ASSERT(s);
	ASSERT_EQ(turn(s, "my internet has been down for two days", &r), 0);
	ASSERT(r.escalated);
	ASSERT_EQ(r.source, AGENT_REPLY_GUARD);
	ASSERT(r.category[0]);
	ASSERT_EQ(r.n_skills, 1); /* service recovery only: nothing that sells */
	ASSERT_EQ(r.state_after, AGENT_STATE_HANDED_OVER);
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"handoff\"");
	ASSERT_CONTAINS(seen->staff, "\"type\":\"escalation\"");
	ASSERT_CONTAINS(seen->audit, "escalation");
	/* the customer goes on: no selling, the agent does not take it back */
	ASSERT_EQ(turn(s, "so can you also show me a new phone?", &r), 0);
	ASSERT_EQ(r.state_after, AGENT_STATE_HANDED_OVER);
	ASSERT_EQ(r.n_tools, 0);
	agent_session_end(s, AGENT_END_LEFT);
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"farewell\"");
}

TEST(staff_take_over_and_hand_back)
{
	struct agent_session *s = session();
	static struct agent_turn_report r;

	ASSERT(s);
	ASSERT_EQ(turn(s, "hello", &r), 0);
	ASSERT_EQ(agent_session_takeover(s, true), 0);
	ASSERT_EQ(agent_session_state(s), AGENT_STATE_HANDED_OVER);
	ASSERT_EQ(turn(s, "what about the phones?", &r), 0);
	ASSERT_EQ(r.source, AGENT_REPLY_NONE); /* a person speaks now */
	ASSERT_EQ(agent_session_takeover(s, false), 0);
	ASSERT(agent_session_state(s) == AGENT_STATE_DISCOVERY ||
	       agent_session_state(s) == AGENT_STATE_PRESENTING);
	ASSERT_CONTAINS(seen->staff, "\"type\":\"takeover_state\"");
	agent_session_end(s, AGENT_END_SILENCE);
}

static struct agent_session *llm_session(const char *model)
{
	char err[AGENT_ERROR_MAX];

	if (script_server_start() < 0)
		return NULL;
	if (!agent)
		agent_session_end(session(), AGENT_END_SHUTDOWN);
	if (agent_use_llm(agent, script_server_url(), model, err, sizeof(err)) < 0)
		return NULL;
	return session();
}

TEST(model_calls_a_real_tool_and_streams_the_reply)
{
	struct agent_session *s = llm_session("agent_tool");
	static struct agent_turn_report r;

	ASSERT_MSG(s, "no scripted server (python3 tests/llm_server.py)");
	ASSERT_EQ(turn(s, "tell me about the family TV plan", &r), 0);
	ASSERT_MSG(r.source == AGENT_REPLY_LLM, "source %d, outcome %s; staff: %s", r.source,
		   r.llm_outcome, seen->staff);
	ASSERT_STREQ(r.llm_outcome, "ok");
	ASSERT_EQ(r.n_tools, 1);
	ASSERT_STREQ(r.tools[0].name, "get_product");
	ASSERT(r.tools[0].ok);
	ASSERT_CONTAINS(r.reply, "$40 a month");
	ASSERT_EQ(r.flagged_figures, 0);
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"token\"");
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"product_card\"");
	ASSERT_EQ(r.state_after, AGENT_STATE_PRESENTING);
	agent_session_end(s, AGENT_END_LEFT);
}

TEST(invented_price_is_caught_after_streaming)
{
	struct agent_session *s = llm_session("agent_bad_figure");
	static struct agent_turn_report r;

	ASSERT(s);
	ASSERT_EQ(turn(s, "how much is the family TV plan?", &r), 0);
	ASSERT_EQ(r.source, AGENT_REPLY_LLM);
	ASSERT(r.flagged_figures >= 1);
	ASSERT(!strstr(r.reply, "$13.37"));
	ASSERT_CONTAINS(seen->kiosk, "\"type\":\"reply_fix\"");
	ASSERT_CONTAINS(seen->staff, "\"type\":\"flagged_figure\"");
	agent_session_end(s, AGENT_END_LEFT);
}

TEST(model_down_or_garbage_falls_back_and_tells_staff)
{
	static const char *const models[] = {"http500", "malformed", "not_sse"};
	static struct agent_turn_report r;

	for (size_t i = 0; i < 3; i++) {
		struct agent_session *s = llm_session(models[i]);

		ASSERT(s);
		ASSERT_EQ(turn(s, "we want a TV package for the family", &r), 0);
		ASSERT_MSG(r.source == AGENT_REPLY_FALLBACK, "%s: source %d", models[i], r.source);
		ASSERT(strcmp(r.llm_outcome, "ok") != 0);
		ASSERT(r.reply[0]);
		ASSERT_CONTAINS(seen->staff, "\"type\":\"offline_mode\"");
		ASSERT_CONTAINS(seen->kiosk, "\"type\":\"reply_end\"");
		agent_session_end(s, AGENT_END_LEFT);
	}
}

TEST(oversized_and_binary_messages_are_refused_politely_without_a_model)
{
	struct agent_session *s = session();
	static struct agent_turn_report r;
	static char big[AGENT_TEXT_MAX + 100];
	const char bin[] = "\x01\x02\xff\xfe\x00\x03 hello";

	ASSERT(s);
	memset(big, 'a', sizeof(big) - 1);
	ASSERT_EQ(agent_session_turn(s, big, sizeof(big) - 1, &r), 0);
	ASSERT(r.refused);
	ASSERT_EQ(r.source, AGENT_REPLY_GUARD);
	ASSERT(r.reply[0]);
	ASSERT_EQ(r.n_tools, 0);
	ASSERT_EQ(agent_session_turn(s, bin, sizeof(bin) - 1, &r), 0);
	ASSERT(r.refused);
	ASSERT_EQ(r.n_tools, 0);
	/* the session goes on normally */
	ASSERT_EQ(agent_session_state(s), AGENT_STATE_GREETING);
	ASSERT_EQ(agent_session_turn(s, NULL, 0, &r), -EINVAL);
	agent_session_end(s, AGENT_END_LEFT);
}

TEST(a_new_visitor_never_sees_the_previous_conversation)
{
	struct agent_session *a = session();
	static struct agent_turn_report r;

	ASSERT(a);
	ASSERT_EQ(turn(a, "my name is Priya and I live on Elm Street", &r), 0);
	agent_session_end(a, AGENT_END_LEFT);
	struct agent_session *b = session(); /* a fresh sink, a fresh session */
	ASSERT(b);
	/* an escalation carries the transcript to staff: only this visitor's */
	ASSERT_EQ(turn(b, "I want to cancel my contract", &r), 0);
	ASSERT(r.escalated);
	ASSERT_CONTAINS(seen->staff, "cancel my contract");
	ASSERT(!strstr(seen->staff, "Priya"));
	ASSERT(!strstr(seen->kiosk, "Priya"));
	agent_session_end(b, AGENT_END_LEFT);
}

static void *cancel_later(void *arg)
{
	usleep(300000);
	agent_session_cancel(arg);
	return NULL;
}

TEST(leaving_mid_tool_call_cancels_without_running_it)
{
	struct agent_session *s = llm_session("cancel_tool");
	static struct agent_turn_report r;
	pthread_t t;

	ASSERT(s);
	pthread_create(&t, NULL, cancel_later, s);
	ASSERT_EQ(turn(s, "what TV plans are there?", &r), -ECANCELED);
	pthread_join(t, NULL);
	ASSERT_EQ(r.n_tools, 0); /* the half-streamed call never ran */
	agent_session_end(s, AGENT_END_LEFT);
	agent_free(agent);
	agent = NULL;
	free(seen);
	seen = NULL;
}

static bool reported(const struct agent_turn_report *r, const char *id)
{
	for (unsigned i = 0; i < r->n_skills; i++)
		if (strcmp(r->skills[i], id) == 0)
			return true;
	return false;
}

TEST(a_turn_reports_the_skills_its_prompt_kept_within_the_share)
{
	struct agent_session *s = session();
	static struct agent_turn_report r;

	ASSERT(s);
	/* Before any product is in view: at most 55% of the full prompt. */
	ASSERT_EQ(turn(s, "I'm locked in with Crestel, are you cheaper than them?", &r), 0);
	ASSERT(r.signals & SIGNAL_BIT(SIGNAL_OBJECTION));
	ASSERT(r.signals & SIGNAL_BIT(SIGNAL_COMPARISON));
	ASSERT_EQ(r.state_before, AGENT_STATE_GREETING);
	ASSERT_MSG(r.prompt_lines * 100 <= r.full_prompt_lines * 55, "%u of %u lines",
		   r.prompt_lines, r.full_prompt_lines);
	/* What was left out is not reported as read; what the words ask for is. */
	ASSERT(reported(&r, "objection_handling"));
	ASSERT(reported(&r, "competitive_response"));
	ASSERT(!reported(&r, "four_forces"));
	ASSERT(r.n_skills >= 5);
	ASSERT_CONTAINS(seen->audit, "turn");
	agent_session_end(s, AGENT_END_LEFT);
}

/* ---- a model that stalls, drops the connection or floods ----------------- */

/* [llm] limits short enough for a test: a stalled model costs under a second. */
#define FIRST_TOKEN_MS 500
#define GAP_MS 300
#define REQUEST_MS 1500
/* What a turn may take beyond the limit that ended it (prompt, responder). */
#define SLACK_MS 700

/*
 * One customer turn against the scripted model through an agent built as the
 * daemon builds it (agent_new from a config whose [llm] has the limits
 * above): a fresh client and breaker for every test. Fills *r and the turn's
 * wall time in *ret_ms; frees the agent, seen stays. The turn's return, or
 * -EIO when the agent could not be built.
 */
static int limited_llm_turn(const char *model, struct agent_turn_report *r, double *ret_ms)
{
	char text[1024], err[AGENT_ERROR_MAX] = "";
	struct config_error cerr = {""};
	struct config *cfg = NULL;
	struct agent *a = NULL;
	struct agent_session *s;
	struct timespec t0, t1;
	int rc;

	if (script_server_start() < 0) {
		printf("    no scripted server (python3 tests/llm_server.py)\n");
		return -EIO;
	}
	snprintf(text, sizeof(text),
		 "[llm]\nurl = %s\nmodel = %s\nconnect_timeout_ms = 200\n"
		 "first_token_timeout_ms = %d\ngap_timeout_ms = %d\nrequest_timeout_ms = %d\n",
		 script_server_url(), model, FIRST_TOKEN_MS, GAP_MS, REQUEST_MS);
	if (config_load_string("limits.conf", "config", text, &cfg, &cerr) < 0 ||
	    agent_new(cfg, &a, err, sizeof(err)) < 0 || !(s = begin(a))) {
		printf("    agent: %s%s\n", cerr.msg, err);
		config_free(cfg);
		agent_free(a);
		return -EIO;
	}
	config_free(cfg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = turn(s, "we want a TV package for the family", r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ret_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	agent_session_end(s, AGENT_END_LEFT);
	agent_free(a);
	return rc;
}

/*
 * The model failed with outcome and the turn still went as a box in a store
 * must: over within limit_ms (plus the slack), the offline responder's reply,
 * staff told, and on the kiosk one reply for the turn, ended, showing the
 * reply the turn reports and keeps: text the model streamed before it
 * failed is replaced (reply_fix), never passed off as a whole reply.
 */
static void expect_fallback(const struct agent_turn_report *r, double ms, const char *outcome,
			    long limit_ms)
{
	const struct kiosk_replies *k = &seen->replies;

	ASSERT_STREQ(r->llm_outcome, outcome);
	ASSERT_MSG(ms <= limit_ms + SLACK_MS, "the turn took %.0f ms (limit %ld ms)", ms, limit_ms);
	ASSERT_EQ(r->source, AGENT_REPLY_FALLBACK);
	ASSERT(r->reply[0]);
	ASSERT_CONTAINS(seen->staff, "\"type\":\"offline_mode\"");
	ASSERT_CONTAINS(seen->audit, "offline");
	ASSERT_MSG(!k->bad[0], "kiosk: %s", k->bad);
	ASSERT_MSG(!k->open, "turn %d's reply never ended", k->turn);
	ASSERT_EQ(k->starts, 1);
	ASSERT_EQ(k->ends, 1);
	ASSERT_EQ(k->turn, r->turn);
	ASSERT_MSG(!k->shown_cut && strcmp(k->shown, r->reply) == 0,
		   "the kiosk shows \"%.100s\"%s, the turn's reply is \"%.100s\"", k->shown,
		   k->shown_cut ? " (cut)" : "", r->reply);
}

TEST(model_that_never_sends_a_first_token_times_out_to_the_offline_reply)
{
	static struct agent_turn_report r;
	double ms;

	ASSERT_EQ(limited_llm_turn("agent_no_first_token", &r, &ms), 0);
	expect_fallback(&r, ms, "timeout_first_token", FIRST_TOKEN_MS);
	ASSERT_EQ(seen->replies.fixes, 0); /* nothing was streamed to take back */
}

TEST(model_that_stalls_mid_reply_has_its_partial_reply_replaced)
{
	static struct agent_turn_report r;
	double ms;

	ASSERT_EQ(limited_llm_turn("stall", &r, &ms), 0); /* "Let me", then 3 s of nothing */
	expect_fallback(&r, ms, "timeout_gap", GAP_MS);
	ASSERT_EQ(seen->replies.fixes, 1);
	ASSERT(!strstr(r.reply, "Let me"));
}

TEST(connection_dropped_mid_reply_has_its_partial_reply_replaced)
{
	static struct agent_turn_report r;
	double ms;

	ASSERT_EQ(limited_llm_turn("drop_mid", &r, &ms), 0); /* "Partial", then closed */
	expect_fallback(&r, ms, "bad_stream", 0);
	ASSERT_EQ(seen->replies.fixes, 1);
	ASSERT(!strstr(r.reply, "Partial"));
}

/* A whole reply three times AGENT_REPLY_MAX: the kiosk must not be shown
 * more than the agent keeps, checks for figures and puts in the transcript. */
TEST(reply_longer_than_the_agent_keeps_is_not_streamed_past_it)
{
	static struct agent_turn_report r;
	double ms;

	ASSERT_EQ(limited_llm_turn("agent_long_reply", &r, &ms), 0);
	expect_fallback(&r, ms, "too_large", 0);
	ASSERT_MSG(seen->replies.token_bytes < AGENT_REPLY_MAX, "%zu bytes streamed",
		   seen->replies.token_bytes);
}

static long peak_rss_kb(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

TEST(token_flood_ends_at_once_in_bounded_memory)
{
	static struct agent_turn_report r;
	long before = peak_rss_kb();
	double ms;

	ASSERT_EQ(limited_llm_turn("flood_reply", &r, &ms), 0); /* 20 MB of deltas, fast */
	expect_fallback(&r, ms, "too_large", 0);
	ASSERT_MSG(seen->replies.token_bytes < AGENT_REPLY_MAX, "%zu bytes streamed",
		   seen->replies.token_bytes);
	/* Under ASan freed buffers wait in quarantine: the bound is the plain
	 * build's to check (ASan checks every access meanwhile). */
	if (!TEST_SANITIZED)
		ASSERT_MSG(peak_rss_kb() - before < 8192, "peak RSS grew by %ld KB",
			   peak_rss_kb() - before);
}

TEST(model_that_never_stops_talking_ends_at_the_request_limit)
{
	static struct agent_turn_report r;
	double ms;

	ASSERT_EQ(limited_llm_turn("agent_endless_reply", &r, &ms), 0);
	expect_fallback(&r, ms, "timeout_total", REQUEST_MS);
	ASSERT_EQ(seen->replies.fixes, 1);
}
