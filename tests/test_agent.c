/*
 * The agent, turn by turn, with its real knowledge files: the guard hands
 * over without any model, the offline responder answers by default, and
 * with a (scripted, simulated) OpenAI-compatible model every failure ends
 * in a defined state with a reply or a hand-over: tool calls through the
 * real tools, an invented price caught by the figure check, HTTP 500 and a
 * malformed stream falling back to the offline responder with staff told,
 * and a cancellation in the middle of a tool call.
 */
#include "tests/test.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/agent.h"
#include "tests/support/script_server.h"

/* What the sink saw, as one string per channel. */
struct seen {
	char kiosk[32768];
	char staff[32768];
	char audit[32768];
	int turns;
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

static void on_kiosk(void *ctx, const char *json, size_t len)
{
	struct seen *s = ctx;

	append(s->kiosk, sizeof(s->kiosk), json, len);
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

static struct agent_session *session(void)
{
	struct agent_sink sink = {on_kiosk, on_staff, on_audit, on_turn, NULL, NULL};
	struct agent_visitor v = {.session_id = 7};
	struct agent_paths paths = {.base = "."};
	struct agent_session *s = NULL;
	char err[AGENT_ERROR_MAX];

	if (!agent && agent_new_paths(&paths, &agent, err, sizeof(err)) < 0) {
		printf("    agent: %s\n", err);
		return NULL;
	}
	agent_set_day(agent, 20413); /* 2025-11-21: promotions as the catalog's tests expect */
	free(seen);
	seen = calloc(1, sizeof(*seen));
	sink.ctx = seen;
	agent_session_begin(agent, &v, &sink, &s);
	return s;
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
