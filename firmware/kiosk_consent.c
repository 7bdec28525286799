/*
 * kiosk_consent — face recognition consent asked and answered at the kiosk,
 * and the enrolment of the live face that follows a yes.
 *
 * The question goes out once a visit, after the visitor's
 * [privacy] face_consent_after_turns-th message, only when all of these
 * hold: the box has a camera and [privacy] face_consent is on; the camera
 * sees the visitor now (a face track); the face was not recognised; a
 * customer known by the app has no face consent yet; the conversation is
 * selling (discovery, presenting, objection, closing), never during a
 * hand-over or a service-recovery moment.
 *
 * A yes asks the face stage for the track's descriptor (firmware/enrol_slot.h);
 * when it comes, one customer record (new for an anonymous visitor, named
 * as they asked), the consent (kiosk, now, given by the customer) and the
 * descriptor are written; if any step fails, a customer created here is
 * erased again, so nothing half-enrolled stays behind. No image is written
 * anywhere. The kiosk gets `consent_result`, staff `consent_recorded`, the
 * audit log both the answer and the outcome.
 */
#include "firmware/agent_stage_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/state.h"
#include "agent/visitor.h"
#include "firmware/enrol_slot.h"
#include "firmware/log.h"
#include "firmware/stage.h"
#include "firmware/store.h"
#include "hal/time.h"

#define MS 1000000ull

static void to(struct display *d, const char *buf, int n)
{
	if (d && n > 0)
		display_send(d, buf, (size_t)n);
}

static void result(struct agent_stage *s, bool ok, const char *text)
{
	char buf[1024];

	to(s->kiosk, buf,
	   display_msg_consent_result(buf, sizeof(buf), 0, STORE_CONSENT_FACE, ok, text));
}

static void recorded(struct agent_stage *s, bool granted, bool enrolled, int64_t customer)
{
	char buf[512];

	to(s->staff, buf,
	   display_msg_consent_recorded(buf, sizeof(buf), 0, s->session_id, STORE_CONSENT_FACE,
					granted, enrolled, customer));
}

void kiosk_consent_visit_reset(struct agent_stage *s)
{
	if (s->consent.req)
		enrol_slot_cancel(s->enrol, s->consent.req);
	memset(&s->consent, 0, sizeof(s->consent));
}

static bool selling(enum agent_state st)
{
	return st == AGENT_STATE_DISCOVERY || st == AGENT_STATE_PRESENTING ||
	       st == AGENT_STATE_OBJECTION || st == AGENT_STATE_CLOSING;
}

void kiosk_consent_after_turn(struct agent_stage *s, int turn)
{
	char buf[DISPLAY_MSG_MAX], detail[128];

	if (!s->enrol || !s->p.face_consent || !s->session || s->consent.asked ||
	    turn < (int)s->p.face_consent_turns || !selling(agent_session_state(s->session)) ||
	    !visitor_face_track(s->visitors) || visitor_face_customer(s->visitors))
		return;
	if (s->customer_id &&
	    store_consent_active(s->store, s->customer_id, STORE_CONSENT_FACE) != 0)
		return; /* consented already (or the store cannot say): do not ask */
	s->consent.asked = true;
	to(s->kiosk, buf,
	   display_msg_consent_request(buf, sizeof(buf), 0, STORE_CONSENT_FACE,
				       s->p.face_consent_text, s->customer_id == 0));
	snprintf(detail, sizeof(detail), "{\"kind\":\"face\",\"customer\":%lld}",
		 (long long)s->customer_id);
	agent_stage_audit(s, "consent_asked", detail);
}

/* Another kind ("ble", ...): recorded for a customer the box already knows. */
static void other_kind(struct agent_stage *s, const struct display_inbound *in)
{
	if (!s->customer_id || !in->u.consent.granted)
		return;
	stage_critical_begin();
	if (store_consent_grant(s->store, s->customer_id, in->u.consent.kind, STORE_CONSENT_KIOSK,
				NULL) < 0 &&
	    store_consent_active(s->store, s->customer_id, in->u.consent.kind) != 1)
		agent_stage_store_failed(s, "a consent");
	stage_critical_end();
}

void kiosk_consent_answer(struct agent_stage *s, const struct display_inbound *in)
{
	char detail[256];
	uint32_t track;

	snprintf(detail, sizeof(detail), "{\"kind\":\"%s\",\"granted\":%s,\"customer\":%lld}",
		 in->u.consent.kind, in->u.consent.granted ? "true" : "false",
		 (long long)s->customer_id);
	agent_stage_audit(s, "consent_answer", detail);
	if (strcmp(in->u.consent.kind, STORE_CONSENT_FACE) != 0) {
		other_kind(s, in);
		return;
	}
	if (!s->session || s->consent.req)
		return;		 /* nobody here, or a yes already in flight */
	s->consent.asked = true; /* answered (asked or offered by the kiosk): not again */
	if (!in->u.consent.granted) {
		recorded(s, false, false, s->customer_id);
		result(s, true, "No problem: I will not keep anything of your face.");
		return;
	}
	track = visitor_face_track(s->visitors);
	if (!s->enrol || !track) {
		recorded(s, true, false, s->customer_id);
		result(s, false,
		       s->enrol
			   ? "I cannot see your face right now. Look at the screen and say yes "
			     "again, or ask a colleague to set it up."
			   : "This kiosk has no camera. A colleague can set it up with you.");
		return;
	}
	snprintf(s->consent.name, sizeof(s->consent.name), "%s", in->u.consent.name);
	s->consent.req = enrol_slot_ask(s->enrol, track);
	s->consent.deadline_ns = hal_now_ns() + (uint64_t)s->p.enrol_timeout_ms * MS;
}

/*
 * Writes customer, consent and descriptor; a customer created here is
 * erased again if a later step fails. Returns the customer, or 0.
 */
static int64_t enrol(struct agent_stage *s, const float *vec, int64_t *ret_embedding)
{
	int64_t id = s->customer_id;
	bool created = false;
	int rc = 0;

	stage_critical_begin();
	if (!id) {
		rc = store_customer_add(s->store, s->consent.name[0] ? s->consent.name : NULL, &id);
		created = rc == 0;
	}
	if (rc == 0) {
		rc = store_consent_grant(s->store, id, STORE_CONSENT_FACE, STORE_CONSENT_KIOSK,
					 NULL);
		if (rc == -EEXIST)
			rc = 0; /* consented before: add this face to theirs */
	}
	if (rc == 0)
		rc = store_embedding_add(s->store, id, vec, "enroll:kiosk", ret_embedding);
	if (rc < 0) {
		log_error("conversation", "kiosk enrolment failed: %s", store_errmsg(s->store));
		if (created)
			store_customer_forget(s->store, id, NULL);
		id = 0;
	} else if (s->visit_id && store_visit_set_customer(s->store, s->visit_id, id) < 0) {
		agent_stage_store_failed(s, "the visit's customer");
	}
	stage_critical_end();
	return id;
}

void kiosk_consent_template(struct agent_stage *s)
{
	float vec[FACE_DLIB_DIM];
	uint32_t frames = 0;
	int64_t id, emb = 0;
	char detail[256], text[DISPLAY_ID_MAX + 160];
	int rc = 0;

	if (!s->consent.req || enrol_slot_take(s->enrol, s->consent.req, &rc, vec, &frames) != 1)
		return;
	s->consent.req = 0;
	if (rc < 0) {
		memset(vec, 0, sizeof(vec));
		snprintf(detail, sizeof(detail),
			 "{\"kind\":\"face\",\"enrolled\":false,\"why\":\"%s\"}",
			 rc == -ENOENT ? "face gone" : "no face engine");
		agent_stage_audit(s, "consent_enrolment", detail);
		recorded(s, true, false, s->customer_id);
		result(s, false,
		       "I lost sight of your face. Look at the screen and say yes again, or ask a "
		       "colleague to set it up.");
		return;
	}
	id = enrol(s, vec, &emb);
	memset(vec, 0, sizeof(vec));
	snprintf(detail, sizeof(detail),
		 "{\"kind\":\"face\",\"enrolled\":%s,\"customer\":%lld,\"embedding\":%lld,"
		 "\"frames\":%u,\"method\":\"kiosk\"}",
		 id ? "true" : "false", (long long)id, (long long)emb, frames);
	agent_stage_audit(s, "consent_enrolment", detail);
	if (!id) {
		recorded(s, true, false, s->customer_id);
		result(s, false,
		       "Something went wrong on my side, so nothing was kept. A colleague "
		       "can set it up with you.");
		return;
	}
	if (store_audit_append_customer(s->store, id, "consent",
					"{\"kind\":\"face\",\"method\":\"kiosk\"}") < 0)
		agent_stage_store_failed(s, "the consent's audit row");
	s->customer_id = id;
	enrol_slot_gallery_changed(s->enrol);
	recorded(s, true, true, id);
	if (s->consent.name[0])
		snprintf(text, sizeof(text),
			 "Thank you, %s. I will recognise you next time; any colleague can delete "
			 "it whenever you ask.",
			 s->consent.name);
	else
		snprintf(text, sizeof(text),
			 "Thank you. I will recognise you next time; any colleague can delete it "
			 "whenever you ask.");
	result(s, true, text);
	log_info("conversation", "kiosk enrolment: customer %lld, embedding %lld (%u frames)",
		 (long long)id, (long long)emb, frames);
}

void kiosk_consent_tick(struct agent_stage *s, uint64_t now_ns)
{
	if (!s->consent.req || now_ns < s->consent.deadline_ns)
		return;
	enrol_slot_cancel(s->enrol, s->consent.req);
	s->consent.req = 0;
	agent_stage_audit(s, "consent_enrolment",
			  "{\"kind\":\"face\",\"enrolled\":false,\"why\":\"timeout\"}");
	recorded(s, true, false, s->customer_id);
	result(s, false,
	       "I could not get a clear look at your face, so nothing was kept. A colleague can "
	       "set it up with you.");
}
