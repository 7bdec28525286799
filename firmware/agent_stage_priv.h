/*
 * agent_stage_priv — the conversation stage's state, shared by its two
 * files: agent_stage.c (visits, turns, inputs) and kiosk_consent.c (face
 * recognition consent asked and answered at the kiosk). Not for other
 * modules: they use firmware/agent_stage.h.
 */
#ifndef FIRMWARE_AGENT_STAGE_PRIV_H
#define FIRMWARE_AGENT_STAGE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/agent_stage.h"
#include "firmware/display.h"
#include "firmware/event.h"

struct agent;
struct agent_session;
struct enrol_slot;
struct ring;
struct store;
struct visitor_tracker;

#define BACKLOG_MAX 64 /* events read while a turn streamed */
#define LINE_MAX_BYTES 16384

/* One visit's face consent at the kiosk (kiosk_consent.c). */
struct kiosk_consent {
	bool asked;		   /* the question went out this visit: never twice */
	uint32_t req;		   /* the enrolment request in flight, or 0 */
	uint64_t deadline_ns;	   /* when to give up on it */
	char name[DISPLAY_ID_MAX]; /* what the customer asked to be called */
};

struct agent_stage {
	struct agent_stage_params p;
	struct ring *in;
	struct store *store;
	struct agent *agent;
	struct display *kiosk, *staff;
	struct visitor_tracker *visitors;
	struct stage *st; /* for heartbeats inside long turns */
	/* the visit in progress */
	struct agent_session *session;
	int64_t session_id, visit_id, customer_id;
	struct kiosk_consent consent; /* face consent asked at the kiosk this visit */
	struct enrol_slot *enrol;     /* NULL: no camera, nothing to enrol from */
	uint64_t last_word_ns;	      /* the customer's last word (or the greeting) */
	bool cancel_turn;
	/* inputs read while a turn ran, handled after it */
	struct event backlog[BACKLOG_MAX];
	size_t nbacklog;
	struct display_inbound pending_kiosk[8];
	size_t npending_kiosk;
	struct display_inbound pending_staff[8];
	size_t npending_staff;
	uint64_t last_purge_ns;
	uint64_t store_errors;
	char line[LINE_MAX_BYTES + 2];
};

/* agent_stage.c: an audit row for this session; a store failure, logged once. */
void agent_stage_audit(struct agent_stage *s, const char *kind, const char *detail);
void agent_stage_store_failed(struct agent_stage *s, const char *what);

/* kiosk_consent.c */
/* A visit begins or ends: forget the last visit's question; withdraw a
 * request in flight. */
void kiosk_consent_visit_reset(struct agent_stage *s);
/* After customer turn number turn (1, 2, ... in this session): asks for face
 * consent when it is time (see there). */
void kiosk_consent_after_turn(struct agent_stage *s, int turn);
/* The kiosk's `consent` answer. */
void kiosk_consent_answer(struct agent_stage *s, const struct display_inbound *in);
/* EVENT_FACE_TEMPLATE: the face stage answered; enrol or say why not. */
void kiosk_consent_template(struct agent_stage *s);
/* Gives up on a request the face stage has not answered in time. */
void kiosk_consent_tick(struct agent_stage *s, uint64_t now_ns);

#endif
