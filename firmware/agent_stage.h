/*
 * agent_stage — the conversation stage: the highest-priority thread, and
 * the only one that talks to the customer.
 *
 * It reads the event ring (presence, faces, door, staff call) and the kiosk
 * and staff sockets, merges the evidence into one visitor (agent/visitor.c),
 * runs that visitor's agent session (agent/agent.c) turn by turn, and writes
 * sessions, turns and audit events to the store as they happen. While the
 * model streams a reply it keeps reading its inputs, so a visitor who leaves
 * or types again cancels the turn at once.
 *
 * After a restart, a session the store still has open and that was active
 * within the silence timeout is resumed with its committed turns; older ones
 * are closed.
 */
#ifndef FIRMWARE_AGENT_STAGE_H
#define FIRMWARE_AGENT_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "firmware/stage.h"

struct agent;
struct config;
struct config_error;
struct display;
struct ring;
struct store;
struct agent_stage;

struct agent_stage_params {
	uint32_t silence_ms;           /* no customer word for this long: farewell */
	uint32_t retention_days;       /* anonymous visits older than this are purged */
};

/* [conversation] silence_s, [privacy] anonymous_retention_days. */
int agent_stage_params_from_config(const struct config *cfg, struct agent_stage_params *ret,
				   struct config_error *err);

/*
 * in: the event ring; store, agent, kiosk, staff are borrowed (kiosk and
 * staff may be NULL). 0 or -ENOMEM.
 */
int agent_stage_new(const struct agent_stage_params *p, struct ring *in, struct store *store,
		    struct agent *agent, struct display *kiosk, struct display *staff,
		    const struct config *cfg, struct agent_stage **ret, struct config_error *err);
void agent_stage_free(struct agent_stage *s);

extern const struct stage_desc agent_stage_desc;

#endif
