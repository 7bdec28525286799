#include "tests/test.h"
#include "agent/conversation.h"
#include "agent/signals.h"

#include <errno.h>

#define ST(x) AGENT_STATE_##x

TEST(a_visit_walks_the_happy_path)
{
	enum agent_state s = ST(IDLE);

	ASSERT_EQ(conversation_move(&s, ST(APPROACHING), CONV_EV_APPROACH), 0);
	ASSERT_EQ(conversation_move(&s, ST(GREETING), CONV_EV_SESSION_START), 0);
	ASSERT_EQ(conversation_move(&s, ST(DISCOVERY), CONV_EV_MESSAGE), 0);
	ASSERT_EQ(conversation_move(&s, ST(PRESENTING), CONV_EV_PRODUCT_INTEREST), 0);
	ASSERT_EQ(conversation_move(&s, ST(OBJECTION), CONV_EV_OBJECTION), 0);
	ASSERT_EQ(conversation_move(&s, ST(PRESENTING), CONV_EV_MESSAGE), 0);
	ASSERT_EQ(conversation_move(&s, ST(CLOSING), CONV_EV_CLOSING), 0);
	ASSERT_EQ(conversation_move(&s, ST(FAREWELL), CONV_EV_LEFT), 0);
	ASSERT_EQ(conversation_move(&s, ST(IDLE), CONV_EV_CLOSED), 0);
}

TEST(transitions_without_their_evidence_are_refused)
{
	enum agent_state s = ST(IDLE);

	/* no presenting without a product, no closing from idle, no skipping the greeting */
	ASSERT_EQ(conversation_move(&s, ST(PRESENTING), CONV_EV_MESSAGE), -EPERM);
	ASSERT_EQ(conversation_move(&s, ST(CLOSING), CONV_EV_CLOSING), -EPERM);
	ASSERT_EQ(conversation_move(&s, ST(FAREWELL), CONV_EV_LEFT), -EPERM);
	ASSERT_EQ(s, ST(IDLE));
	s = ST(DISCOVERY);
	ASSERT_EQ(conversation_move(&s, ST(OBJECTION), CONV_EV_OBJECTION), -EPERM);
	ASSERT_EQ(conversation_move(&s, ST(GREETING), CONV_EV_SESSION_START), -EPERM);
	ASSERT_EQ(s, ST(DISCOVERY));
	s = ST(HANDED_OVER);
	/* staff has it: a customer message does not take it back */
	ASSERT_EQ(conversation_move(&s, ST(PRESENTING), CONV_EV_PRODUCT_INTEREST), -EPERM);
	ASSERT_EQ(conversation_move(&s, ST(DISCOVERY), CONV_EV_MESSAGE), -EPERM);
	ASSERT_EQ(conversation_move(&s, ST(DISCOVERY), CONV_EV_STAFF_HANDBACK), 0);
	s = ST(FAREWELL);
	ASSERT_EQ(conversation_move(&s, ST(DISCOVERY), CONV_EV_MESSAGE), -EPERM);
	ASSERT_EQ(conversation_move(&s, ST(GREETING), CONV_EV_SESSION_START), -EPERM);
}

TEST(escalation_and_leaving_are_allowed_from_every_talking_state)
{
	static const enum agent_state talking[] = {ST(GREETING), ST(DISCOVERY), ST(PRESENTING),
						   ST(OBJECTION), ST(CLOSING)};

	for (size_t i = 0; i < sizeof(talking) / sizeof(talking[0]); i++) {
		ASSERT(conversation_allowed(talking[i], ST(HANDED_OVER), CONV_EV_ESCALATION));
		ASSERT(conversation_allowed(talking[i], ST(HANDED_OVER), CONV_EV_STAFF_TAKEOVER));
		ASSERT(conversation_allowed(talking[i], ST(FAREWELL), CONV_EV_LEFT));
		ASSERT(conversation_allowed(talking[i], ST(FAREWELL), CONV_EV_SILENCE));
		ASSERT(conversation_allowed(talking[i], ST(FAREWELL), CONV_EV_SHUTDOWN));
	}
	ASSERT(!conversation_allowed(ST(IDLE), ST(HANDED_OVER), CONV_EV_ESCALATION));
	ASSERT(!conversation_allowed(ST(IDLE), ST(FAREWELL), CONV_EV_SILENCE));
	ASSERT(!conversation_allowed((enum agent_state)99, ST(IDLE), CONV_EV_CLOSED));
}

TEST(turn_evidence_picks_the_next_state)
{
	enum conversation_evidence ev;

	ASSERT_EQ(conversation_after_turn(ST(GREETING), false, 0, false, &ev), ST(DISCOVERY));
	ASSERT_EQ(ev, CONV_EV_MESSAGE);
	ASSERT_EQ(conversation_after_turn(ST(DISCOVERY), false, SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST),
					  true, &ev),
		  ST(PRESENTING));
	ASSERT_EQ(ev, CONV_EV_PRODUCT_INTEREST);
	/* an objection needs an offer on the table */
	ASSERT_EQ(
	    conversation_after_turn(ST(DISCOVERY), false, SIGNAL_BIT(SIGNAL_OBJECTION), false, &ev),
	    ST(DISCOVERY));
	ASSERT_EQ(
	    conversation_after_turn(ST(PRESENTING), false, SIGNAL_BIT(SIGNAL_OBJECTION), true, &ev),
	    ST(OBJECTION));
	ASSERT_EQ(conversation_after_turn(ST(OBJECTION), false,
					  SIGNAL_BIT(SIGNAL_CLOSING) | SIGNAL_BIT(SIGNAL_OBJECTION),
					  true, &ev),
		  ST(CLOSING));
	/* a complaint or a guard hit always hands over, whatever else was said */
	ASSERT_EQ(conversation_after_turn(ST(CLOSING), false,
					  SIGNAL_BIT(SIGNAL_COMPLAINT) | SIGNAL_BIT(SIGNAL_CLOSING),
					  true, &ev),
		  ST(HANDED_OVER));
	ASSERT_EQ(ev, CONV_EV_ESCALATION);
	ASSERT_EQ(conversation_after_turn(ST(DISCOVERY), true, 0, false, &ev), ST(HANDED_OVER));
	/* every decision is a transition the table allows */
	for (int from = ST(GREETING); from <= ST(CLOSING); from++)
		for (uint32_t m = 0; m < (1u << SIGNAL_COUNT); m++)
			for (int focus = 0; focus < 2; focus++)
				for (int esc = 0; esc < 2; esc++) {
					enum agent_state to = conversation_after_turn(
					    (enum agent_state)from, esc, m, focus, &ev);

					ASSERT_MSG(
					    conversation_allowed((enum agent_state)from, to, ev),
					    "%s -> %s (%s) not allowed",
					    agent_state_name((enum agent_state)from),
					    agent_state_name(to), conversation_evidence_name(ev));
				}
}
