#include "agent/state.h"

#include <errno.h>
#include <string.h>

static const char *const names[AGENT_STATE_COUNT] = {
    [AGENT_STATE_IDLE] = "idle",
    [AGENT_STATE_APPROACHING] = "approaching",
    [AGENT_STATE_GREETING] = "greeting",
    [AGENT_STATE_DISCOVERY] = "discovery",
    [AGENT_STATE_PRESENTING] = "presenting",
    [AGENT_STATE_OBJECTION] = "objection",
    [AGENT_STATE_CLOSING] = "closing",
    [AGENT_STATE_HANDED_OVER] = "handed_over",
    [AGENT_STATE_FAREWELL] = "farewell",
};

const char *agent_state_name(enum agent_state s)
{
	if ((unsigned)s >= AGENT_STATE_COUNT)
		return NULL;
	return names[s];
}

int agent_state_from_name(const char *s, enum agent_state *ret)
{
	for (int i = 0; i < AGENT_STATE_COUNT; i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum agent_state)i;
			return 0;
		}
	return -EINVAL;
}
