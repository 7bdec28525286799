#include "agent/conversation.h"

#include <errno.h>

#include "agent/signals.h"

#define S(x) (1u << AGENT_STATE_##x)
#define TALKING (S(GREETING) | S(DISCOVERY) | S(PRESENTING) | S(OBJECTION) | S(CLOSING))

/* One row: from any state in `from`, with evidence ev, to state `to`. */
static const struct {
	unsigned from;
	enum conversation_evidence ev;
	enum agent_state to;
} rules[] = {
    {S(IDLE), CONV_EV_APPROACH, AGENT_STATE_APPROACHING},
    {S(IDLE) | S(APPROACHING), CONV_EV_SESSION_START, AGENT_STATE_GREETING},
    {TALKING, CONV_EV_MESSAGE, AGENT_STATE_DISCOVERY},
    /* an objection answered without a product in view is discovery again */
    {TALKING, CONV_EV_PRODUCT_INTEREST, AGENT_STATE_PRESENTING},
    {S(PRESENTING) | S(OBJECTION) | S(CLOSING), CONV_EV_MESSAGE, AGENT_STATE_PRESENTING},
    {S(PRESENTING) | S(OBJECTION) | S(CLOSING), CONV_EV_OBJECTION, AGENT_STATE_OBJECTION},
    {TALKING, CONV_EV_CLOSING, AGENT_STATE_CLOSING},
    /* the next step is being set up (a booking, the sign-up): stay there */
    {S(CLOSING), CONV_EV_MESSAGE, AGENT_STATE_CLOSING},
    {TALKING | S(APPROACHING), CONV_EV_ESCALATION, AGENT_STATE_HANDED_OVER},
    {TALKING | S(APPROACHING), CONV_EV_STAFF_TAKEOVER, AGENT_STATE_HANDED_OVER},
    {S(HANDED_OVER), CONV_EV_ESCALATION, AGENT_STATE_HANDED_OVER},
    {S(HANDED_OVER), CONV_EV_STAFF_HANDBACK, AGENT_STATE_DISCOVERY},
    {S(HANDED_OVER), CONV_EV_STAFF_HANDBACK, AGENT_STATE_PRESENTING},
    {TALKING | S(APPROACHING) | S(HANDED_OVER), CONV_EV_LEFT, AGENT_STATE_FAREWELL},
    {TALKING | S(HANDED_OVER), CONV_EV_SILENCE, AGENT_STATE_FAREWELL},
    {TALKING | S(APPROACHING) | S(HANDED_OVER), CONV_EV_SHUTDOWN, AGENT_STATE_FAREWELL},
    {S(FAREWELL), CONV_EV_CLOSED, AGENT_STATE_IDLE},
    {S(APPROACHING), CONV_EV_CLOSED, AGENT_STATE_IDLE}, /* came near, never talked */
};

const char *conversation_evidence_name(enum conversation_evidence ev)
{
	switch (ev) {
	case CONV_EV_APPROACH:
		return "approach";
	case CONV_EV_SESSION_START:
		return "session_start";
	case CONV_EV_MESSAGE:
		return "message";
	case CONV_EV_PRODUCT_INTEREST:
		return "product_interest";
	case CONV_EV_OBJECTION:
		return "objection";
	case CONV_EV_CLOSING:
		return "closing";
	case CONV_EV_ESCALATION:
		return "escalation";
	case CONV_EV_STAFF_TAKEOVER:
		return "staff_takeover";
	case CONV_EV_STAFF_HANDBACK:
		return "staff_handback";
	case CONV_EV_LEFT:
		return "left";
	case CONV_EV_SILENCE:
		return "silence";
	case CONV_EV_SHUTDOWN:
		return "shutdown";
	case CONV_EV_CLOSED:
		return "closed";
	}
	return "unknown";
}

bool conversation_allowed(enum agent_state from, enum agent_state to, enum conversation_evidence ev)
{
	size_t i;

	if ((unsigned)from >= AGENT_STATE_COUNT || (unsigned)to >= AGENT_STATE_COUNT)
		return false;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if ((rules[i].from & (1u << from)) && rules[i].ev == ev && rules[i].to == to)
			return true;
	return false;
}

int conversation_move(enum agent_state *state, enum agent_state to, enum conversation_evidence ev)
{
	if (!conversation_allowed(*state, to, ev))
		return -EPERM;
	*state = to;
	return 0;
}

enum agent_state conversation_after_turn(enum agent_state from, bool escalated, uint32_t signals,
					 bool product_in_focus, enum conversation_evidence *ret_ev)
{
	/* An objection is to something already offered before this message. */
	bool offer = from == AGENT_STATE_PRESENTING || from == AGENT_STATE_OBJECTION ||
		     from == AGENT_STATE_CLOSING;

	if (escalated || (signals & SIGNAL_BIT(SIGNAL_COMPLAINT))) {
		*ret_ev = CONV_EV_ESCALATION;
		return AGENT_STATE_HANDED_OVER;
	}
	if (signals & SIGNAL_BIT(SIGNAL_CLOSING)) {
		*ret_ev = CONV_EV_CLOSING;
		return AGENT_STATE_CLOSING;
	}
	if ((signals & SIGNAL_BIT(SIGNAL_OBJECTION)) && offer) {
		*ret_ev = CONV_EV_OBJECTION;
		return AGENT_STATE_OBJECTION;
	}
	if (from == AGENT_STATE_CLOSING && !(signals & SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST)) &&
	    !(signals & SIGNAL_BIT(SIGNAL_COMPARISON))) {
		/* answering the next step's questions (when, where, who) */
		*ret_ev = CONV_EV_MESSAGE;
		return AGENT_STATE_CLOSING;
	}
	if (product_in_focus) {
		*ret_ev = CONV_EV_PRODUCT_INTEREST;
		return AGENT_STATE_PRESENTING;
	}
	*ret_ev = CONV_EV_MESSAGE;
	return offer ? AGENT_STATE_PRESENTING : AGENT_STATE_DISCOVERY;
}
