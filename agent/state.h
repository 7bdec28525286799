/*
 * state — the agent's conversation states. The state machine that moves
 * between them (with the evidence each transition needs) lives in
 * agent/conversation; tools and skills only read the current state.
 */
#ifndef AGENT_STATE_H
#define AGENT_STATE_H

enum agent_state {
	AGENT_STATE_IDLE,	 /* nobody at the kiosk */
	AGENT_STATE_APPROACHING, /* a visitor is coming */
	AGENT_STATE_GREETING,	 /* first words */
	AGENT_STATE_DISCOVERY,	 /* finding out what they need */
	AGENT_STATE_PRESENTING,	 /* showing a product */
	AGENT_STATE_OBJECTION,	 /* handling a concern */
	AGENT_STATE_CLOSING,	 /* asking for the sale or the next step */
	AGENT_STATE_HANDED_OVER, /* a person on staff has it */
	AGENT_STATE_FAREWELL,	 /* the visitor is leaving */
};

#define AGENT_STATE_COUNT (AGENT_STATE_FAREWELL + 1)

/* "idle", "approaching", ... ; NULL for a value out of range. */
const char *agent_state_name(enum agent_state s);
/* The state named s; -EINVAL (unknown name) or 0 with *ret set. */
int agent_state_from_name(const char *s, enum agent_state *ret);

#endif
