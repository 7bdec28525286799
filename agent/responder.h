/*
 * responder — the offline salesperson: replies composed without any LLM, from
 * the turn's skill selection, the archetype directive and the catalog's
 * selling intelligence, fetched through the agent's own tools (tools_call),
 * so every call is audited and every figure a reply states was stated by a
 * tool result first.
 *
 * The runtime uses it when no LLM is configured, the circuit is open, or the
 * model failed mid-turn (then it answers with the tool calls the per-turn cap
 * has left). It is a product feature in its own right: a store without an
 * LLM runs on it all day.
 *
 * One turn:
 *   1. read the message: the need tags it states (kids, work from home, ...),
 *      the category, a product or competitor named, a budget or what they pay
 *      now, a day and time, yes/no to an offer on the table;
 *   2. pick one move, first match wins: service recovery (the selection is the
 *      service-recovery set, a complaint, or a service-recovery archetype) ->
 *      scope boundary -> what the kiosk will not do (promise a discount, act
 *      as a manager, book for someone absent, another customer's data) -> how
 *      long an offer runs -> the answer to our own pending offer -> objection
 *      (with an offer on the table) -> closing -> two products side by side
 *      -> comparison -> a store question -> "any deals?" -> product -> small
 *      talk -> greeting or discovery;
 *   3. call the tools the move needs (search_products, get_product, compare,
 *      current_promotions, book_appointment, escalate, record_need), never
 *      more than the per-turn cap allows;
 *   4. write 1-4 sentences and at most one question, in the archetype's pace
 *      and angle, choosing among phrasings by a hash of (turn, product) so it
 *      does not sound canned; the same inputs always give the same reply;
 *   5. run figures_check() on the reply itself and drop an optional sentence
 *      the check would flag, so the runtime's check never has to.
 * docs/responder.md has the rules, the phrase design and two transcripts.
 * The code is in agent/responder.c and agent/responder_*.c, which share
 * agent/responder_priv.h (docs/responder.md, Files).
 *
 * Threads: a memory and a tools context belong to one session and are used by
 * one thread at a time (tools_call() counts calls in the context and adds
 * figures to its facts). Everything else in the input is only read.
 */
#ifndef AGENT_RESPONDER_H
#define AGENT_RESPONDER_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/agent.h"
#include "agent/archetype.h"
#include "agent/catalog.h"
#include "agent/signals.h"
#include "agent/skills.h"
#include "agent/state.h"
#include "agent/tools.h"

#define RESPONDER_REPLY_TARGET 450   /* characters of an ordinary reply */
#define RESPONDER_COMPARE_TARGET 650 /* characters of a reply that does comparison math */
#define RESPONDER_MEMORY_PRODUCTS 16 /* products remembered as presented */
#define RESPONDER_MEMORY_OFFERS 8    /* cross-sells / promotions remembered as offered */

/*
 * What one session has been through: products presented and the one in
 * focus, the needs heard (as tags) and recorded, discovery questions asked,
 * cross-sells and promotions already offered, objections handled by kind,
 * the competitor and the spend or budget the customer gave, an offer of ours
 * still waiting for a yes or no (a hand-over, a booking, an add-on), and
 * whether staff were called. Fixed size; allocates nothing after _new().
 */
struct responder_memory;

/* 0 with *ret set (free with responder_memory_free), or -EINVAL / -ENOMEM. */
int responder_memory_new(struct responder_memory **ret);
/* NULL is fine. */
void responder_memory_free(struct responder_memory *m);
/* Back to a new visitor. */
void responder_memory_reset(struct responder_memory *m);
/* The product in focus after the last reply ("" none); owned by m. */
const char *responder_memory_focus(const struct responder_memory *m);

struct responder_input {
	const struct catalog *catalog;		  /* required */
	struct tools_ctx *tools;		  /* required; tools_call() goes through it */
	enum agent_state state;			  /* before this turn */
	const char *text;			  /* the customer's message, raw UTF-8 */
	size_t len;				  /* bytes of text, at most AGENT_TEXT_MAX */
	const struct signals_result *signals;	  /* this turn's signals; NULL: none */
	const struct skills *skills;		  /* NULL: behave as if every skill applies */
	const struct skills_selection *selection; /* this turn's instincts; NULL as above */
	int archetype;				  /* index in archetypes, -1 while unclassified */
	const struct archetype_set *archetypes;	  /* may be NULL when archetype is -1 */
	const struct agent_visitor *visitor;	  /* may be NULL (anonymous) */
	int turn;				  /* 1-based customer message number */
};

struct responder_output {
	char reply[AGENT_REPLY_MAX];	  /* what the customer reads */
	char focus_product[AGENT_ID_MAX]; /* the product now in focus, "" none */
	char card_product[AGENT_ID_MAX];  /* show this product's card on the kiosk, "" none */
	char next_best_action[256];	  /* for the staff co-pilot */
	char talking_points[3][200];	  /* for staff, "" when unused */
	char suggestions[3][80];	  /* tap-able replies for the kiosk, "" when unused */
	enum agent_state suggested_state; /* where the reply leaves the talk: evidence
					     for the runtime's state machine, which decides */
	bool escalated;			  /* the escalate tool ran this turn */
	bool booked;			  /* book_appointment ran this turn */
	unsigned tool_calls;		  /* tools_call() calls this turn */
	unsigned dropped_sentences;	  /* optional sentences the self-check took out */
};

/*
 * Composes the reply to one customer message into *out (always reset first)
 * and updates mem. Tool failures are not errors: a product that is not found
 * becomes a clarifying question, a rejected booking an offer to fetch staff.
 * Errors: -EINVAL (NULL in, mem, out, catalog, tools or text with len > 0),
 * -E2BIG (len over AGENT_TEXT_MAX), -ENOMEM. On error mem is unchanged and
 * out->reply is "".
 */
int responder_reply(const struct responder_input *in, struct responder_memory *mem,
		    struct responder_output *out);

#endif
