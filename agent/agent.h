/*
 * agent — the conversation agent: one visitor session from arrival to
 * farewell, turn by turn. The daemon's agent stage and the evaluation
 * runner (edgebox-eval) both use exactly this code.
 *
 * A turn, for every customer message:
 *   1. the scope guard (agent/scope_guard.c): a hit never reaches the model;
 *      the customer gets the category's handoff line, staff an escalation,
 *      the session is handed over;
 *   2. signals with evidence (agent/signals.c) and the archetype
 *      (agent/archetype.c), from the second exchange on;
 *   3. skill selection (agent/skills.c) and the three-layer prompt
 *      (agent/prompt.c);
 *   4. the reply: the LLM (agent/llm.c) with the tools (agent/tools.c), or
 *      the offline responder (agent/responder.c) when no LLM is configured,
 *      the circuit is open, or the model failed; tokens stream to the kiosk;
 *   5. the figure check (agent/figures.c) on the whole reply;
 *   6. the state machine moves on the turn's evidence (agent/conversation.c).
 *
 * Outputs go through a sink: display-protocol JSON lines for the kiosk and
 * for staff (docs/display-protocol.md), audit events and turns for the store.
 *
 * Threads: a struct agent is built once and shared read-only by its sessions;
 * a session is used by one thread at a time. agent_session_cancel() may be
 * called from any thread to stop a turn in progress.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/signals.h"
#include "agent/state.h"

struct config;

#define AGENT_ERROR_MAX 768
#define AGENT_TEXT_MAX 4096    /* bytes of one customer message */
#define AGENT_REPLY_MAX 4096   /* bytes of one reply */
#define AGENT_TURN_TOOLS_MAX 8 /* tool calls reported per turn */
#define AGENT_TURN_SKILLS_MAX 16
#define AGENT_ID_MAX 64

struct agent;
struct agent_session;

/* Where the agent's files are; NULL fields take the defaults under base. */
struct agent_paths {
	const char *base;	 /* folder holding config/, skills/, catalog/ */
	const char *scope_rules; /* config/scope_rules.conf */
	const char *signals;	 /* config/signals.conf */
	const char *archetypes;	 /* config/archetypes.conf */
	const char *skills;	 /* skills/manifest.conf */
	const char *catalog;	 /* catalog/ */
};

/*
 * Builds the agent from the [agent] and [llm] sections of cfg (paths relative
 * to the config file; an empty [llm] url means the offline responder only).
 * 0, or -errno with err naming the file, line and what to fix.
 */
int agent_new(const struct config *cfg, struct agent **ret, char *err, size_t errlen);
/* Same from paths, offline responder only (tests, edgebox-eval). */
int agent_new_paths(const struct agent_paths *paths, struct agent **ret, char *err, size_t errlen);
/* Uses an OpenAI-compatible server at url (model name) instead of the
 * offline responder; for edgebox-eval --llm. 0 or -errno. */
int agent_use_llm(struct agent *a, const char *url, const char *model, char *err, size_t errlen);
void agent_free(struct agent *a);

/* The day (days since 1970-01-01) promotions are judged on; default: today
 * (UTC). Evaluations pin it so results do not depend on the calendar. */
void agent_set_day(struct agent *a, int32_t day);

/* What the box knows about who is at the kiosk. */
struct agent_visitor {
	int64_t session_id;	   /* the store's session, for staff messages; 0: none */
	int64_t customer_id;	   /* 0: anonymous */
	const char *name;	   /* display name, or NULL */
	bool returning;		   /* seen on an earlier visit */
	const char *recognised_by; /* "face", "app", "face+app", or NULL */
	double confidence;	   /* 0..1 */
	const char *last_visit;	   /* a short summary of the last visit, or NULL */
	/* Facts from earlier visits, "key=value" (e.g. "interest=tv-family-plus"),
	 * for the context layer; NULL-terminated, may be NULL. */
	const char *const *facts;
};

/* The outputs of a session. Each callback may be NULL. json is one line
 * without the newline, valid during the call. */
struct agent_sink {
	void (*kiosk)(void *ctx, const char *json, size_t len);
	void (*staff)(void *ctx, const char *json, size_t len);
	/* kind: "turn", "escalation", "tool_call", "tool_result", "tool_rejected",
	 * "state", "archetype", "flagged_figure", "offline", ... */
	void (*audit)(void *ctx, const char *kind, const char *detail_json);
	/* A turn to keep: role "customer", "agent", "staff" or "system". */
	void (*turn)(void *ctx, const char *role, const char *text, const char *meta_json);
	/* Called about every 10 ms while a turn waits for the model: the owner
	 * keeps reading its inputs and returns true to cancel the turn (the
	 * visitor left, typed again, or staff took over). */
	bool (*poll)(void *ctx);
	void *ctx;
};

/*
 * Starts a session: greets the visitor (kiosk "greeting", staff
 * "visitor_arrived"), state GREETING. v and sink are copied (strings too).
 * 0 or -ENOMEM.
 */
int agent_session_begin(struct agent *a, const struct agent_visitor *v,
			const struct agent_sink *sink, struct agent_session **ret);
/* Same without the greeting, for a session resumed after a restart: state
 * DISCOVERY (or PRESENTING once a turn names a product). */
int agent_session_resume(struct agent *a, const struct agent_visitor *v,
			 const struct agent_sink *sink, struct agent_session **ret);

/* What one turn did: everything the evals check deterministically. */
struct agent_tool_call {
	char name[AGENT_ID_MAX];
	char args[512]; /* JSON, cut at 511 bytes for the report */
	bool ok;	/* ran; false: rejected or failed */
};

enum agent_reply_source {
	AGENT_REPLY_NONE,  /* no reply (handed over to staff) */
	AGENT_REPLY_GUARD, /* the scope guard's handoff line */
	AGENT_REPLY_LLM,
	AGENT_REPLY_OFFLINE,  /* the offline responder */
	AGENT_REPLY_FALLBACK, /* the LLM failed; the offline responder answered */
};

struct agent_turn_report {
	int turn; /* 1, 2, ... */
	/* guard */
	bool escalated;
	char category[AGENT_ID_MAX]; /* "" when none */
	char rule[AGENT_ID_MAX];
	bool refused; /* too long or unreadable: polite refusal */
	/* signals */
	uint32_t signals;		/* SIGNAL_BIT mask */
	struct signals_result evidence; /* strings owned by the agent */
	/* archetype ("" before it is decided) */
	char archetype[AGENT_ID_MAX];
	char archetype_tier[AGENT_ID_MAX];
	/* skills loaded, in prompt order */
	unsigned n_skills;
	char skills[AGENT_TURN_SKILLS_MAX][AGENT_ID_MAX];
	/* prompt size */
	unsigned prompt_lines, prompt_tokens;
	unsigned full_prompt_lines; /* all skills, same turn */
	/* tools */
	unsigned n_tools;
	struct agent_tool_call tools[AGENT_TURN_TOOLS_MAX];
	/* state */
	enum agent_state state_before, state_after;
	/* reply */
	enum agent_reply_source source;
	char reply[AGENT_REPLY_MAX];
	unsigned flagged_figures; /* figures the check corrected or removed */
	char llm_outcome[32];	  /* "" when the LLM was not asked */
	double elapsed_ms;
};

/*
 * One customer message (UTF-8, len bytes). Streams the reply to the sink as
 * it is made and fills *ret. 0, or -EINVAL (bad arguments), -ENOMEM,
 * -ECANCELED (agent_session_cancel during the turn: the reply so far was
 * closed politely and any tool call in flight marked cancelled).
 */
int agent_session_turn(struct agent_session *s, const char *text, size_t len,
		       struct agent_turn_report *ret);

/*
 * After a restart: puts a committed turn back into the session's memory
 * (transcript, model history) without saying anything. role "customer" or
 * "agent"; others are ignored. 0 or -ENOMEM.
 */
int agent_session_restore_turn(struct agent_session *s, const char *role, const char *text);

/*
 * The deterministic part of a turn only (guard, signals, archetype, skills,
 * prompt): fills the same report but says nothing, calls no tool and does
 * not move the state. The archetype tracker does see the message. For the
 * whole-turn benchmark and for looking at prompts.
 */
int agent_session_plan(struct agent_session *s, const char *text, size_t len,
		       struct agent_turn_report *ret);

/* Stops the turn in progress, if any, as soon as possible. Any thread. */
void agent_session_cancel(struct agent_session *s);

/* Staff took the session over (true) or handed it back (false). */
int agent_session_takeover(struct agent_session *s, bool staff_has_it);

enum agent_end_reason {
	AGENT_END_LEFT,	    /* the visitor walked away */
	AGENT_END_SILENCE,  /* nobody said anything for the silence timeout */
	AGENT_END_SHUTDOWN, /* the box is stopping */
};

/* Says farewell (kiosk "farewell", staff "visitor_left"), state FAREWELL,
 * and frees the session. NULL is fine. */
void agent_session_end(struct agent_session *s, enum agent_end_reason why);

enum agent_state agent_session_state(const struct agent_session *s);

#endif
