/*
 * conversation — the agent's state machine: the states of agent/state.h and
 * the transitions between them, each allowed only with named evidence.
 *
 *   idle --approach--> approaching --session_start--> greeting
 *   idle --session_start--> greeting            (someone typed at the kiosk)
 *   greeting|discovery|presenting|objection|closing
 *        --message--> discovery                  (no product in view yet)
 *        --product_interest--> presenting        (a product is in focus)
 *        --objection--> objection                (with something presented)
 *        --closing--> closing
 *   objection --product_interest|message--> presenting
 *   any talking state --escalation|staff_takeover--> handed_over
 *   handed_over --staff_handback--> discovery | presenting
 *   any state but idle --left|silence|shutdown--> farewell
 *   farewell --closed--> idle
 *
 * docs/conversation.md has the table with the reason for each row.
 * Anything else is refused (-EPERM) and the caller logs it.
 */
#ifndef AGENT_CONVERSATION_H
#define AGENT_CONVERSATION_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/state.h"

enum conversation_evidence {
	CONV_EV_APPROACH,	  /* presence: a visitor is coming */
	CONV_EV_SESSION_START,	  /* the greeting was sent */
	CONV_EV_MESSAGE,	  /* a customer message with no stronger evidence */
	CONV_EV_PRODUCT_INTEREST, /* a product is in focus (named, or presented by a tool) */
	CONV_EV_OBJECTION,	  /* an objection signal with an offer on the table */
	CONV_EV_CLOSING,	  /* a closing signal */
	CONV_EV_ESCALATION,	  /* the scope guard, a complaint, or the escalate tool */
	CONV_EV_STAFF_TAKEOVER,
	CONV_EV_STAFF_HANDBACK,
	CONV_EV_LEFT,	 /* presence and camera both lost the visitor */
	CONV_EV_SILENCE, /* nobody spoke for the silence timeout */
	CONV_EV_SHUTDOWN,
	CONV_EV_CLOSED, /* the farewell was said; the session is over */
};

#define CONV_EV_COUNT (CONV_EV_CLOSED + 1)

const char *conversation_evidence_name(enum conversation_evidence ev);

/* Is from -> to allowed with this evidence? */
bool conversation_allowed(enum agent_state from, enum agent_state to,
			  enum conversation_evidence ev);

/*
 * Moves *state to `to` if allowed. 0 (moved, or already there with evidence
 * that allows staying), -EPERM (refused: *state unchanged).
 */
int conversation_move(enum agent_state *state, enum agent_state to, enum conversation_evidence ev);

/*
 * The state a customer turn leads to, from the turn's evidence: escalated,
 * the signals raised (SIGNAL_BIT mask of agent/signals.h), and whether a
 * product is in focus after the reply. Also returns the evidence to move
 * with in *ret_ev.
 */
enum agent_state conversation_after_turn(enum agent_state from, bool escalated, uint32_t signals,
					 bool product_in_focus, enum conversation_evidence *ret_ev);

#endif
