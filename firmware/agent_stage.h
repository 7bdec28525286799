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

#define AGENT_STAGE_CONSENT_TEXT_MAX 512

struct agent_stage_params {
	uint32_t silence_ms;	     /* no customer word for this long: farewell */
	uint32_t retention_days;     /* anonymous visits older than this are purged */
	bool face_consent;	     /* ask visitors the camera sees to be recognised */
	uint32_t face_consent_turns; /* ... after this many of their messages */
	uint32_t enrol_timeout_ms;   /* give up on a face the camera cannot get */
	char face_consent_text[AGENT_STAGE_CONSENT_TEXT_MAX]; /* the question */
};

/*
 * [conversation] silence_s; [privacy] anonymous_retention_days,
 * face_consent (true), face_consent_after_turns (2, 1..50),
 * face_consent_text, enrol_timeout_s (10, 2..120).
 */
int agent_stage_params_from_config(const struct config *cfg, struct agent_stage_params *ret,
				   struct config_error *err);

/*
 * in: the event ring; store, agent and enrol are borrowed (enrol may be
 * NULL: the box has no camera and never asks for face consent). 0 or
 * -ENOMEM.
 */
struct enrol_slot;
int agent_stage_new(const struct agent_stage_params *p, struct ring *in, struct store *store,
		    struct agent *agent, struct enrol_slot *enrol, const struct config *cfg,
		    struct agent_stage **ret, struct config_error *err);
/* The kiosk and staff displays (borrowed; either may be NULL: no socket).
 * Before the stage starts. */
void agent_stage_set_displays(struct agent_stage *s, struct display *kiosk, struct display *staff);
void agent_stage_free(struct agent_stage *s);

extern const struct stage_desc agent_stage_desc;

#endif
