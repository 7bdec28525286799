#include "firmware/agent_stage_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/visitor.h"
#include "firmware/config.h"
#include "firmware/display.h"
#include "firmware/event.h"
#include "firmware/log.h"
#include "firmware/ring.h"
#include "firmware/store.h"
#include "hal/time.h"

#define MS 1000000ull
#define WAIT_MS 100

int agent_stage_params_from_config(const struct config *cfg, struct agent_stage_params *ret,
				   struct config_error *err)
{
	long silence, days, turns, timeout;
	const char *text;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	rc = rc ?: config_int(cfg, "conversation", "silence_s", 90, 10, 3600, &silence, err);
	rc = rc ?: config_int(cfg, "privacy", "anonymous_retention_days", 30, 1, 3650, &days, err);
	rc = rc ?: config_bool(cfg, "privacy", "face_consent", true, &ret->face_consent, err);
	rc = rc ?: config_int(cfg, "privacy", "face_consent_after_turns", 2, 1, 50, &turns, err);
	rc = rc ?: config_int(cfg, "privacy", "enrol_timeout_s", 10, 2, 120, &timeout, err);
	rc = rc
		 ?: config_str(cfg, "privacy", "face_consent_text",
			       "Shall I recognise you next time you come in? I would keep a face "
			       "template (numbers, never a photo), and any colleague can delete it "
			       "whenever you ask.",
			       false, &text, err);
	if (rc < 0)
		return rc;
	if (!*text || strlen(text) >= sizeof(ret->face_consent_text)) {
		snprintf(err->msg, sizeof(err->msg),
			 "%s: [privacy] face_consent_text: expected 1 to %zu bytes, got %zu",
			 config_name(cfg), sizeof(ret->face_consent_text) - 1, strlen(text));
		return -EINVAL;
	}
	ret->silence_ms = (uint32_t)silence * 1000;
	ret->retention_days = (uint32_t)days;
	ret->face_consent_turns = (uint32_t)turns;
	ret->enrol_timeout_ms = (uint32_t)timeout * 1000;
	snprintf(ret->face_consent_text, sizeof(ret->face_consent_text), "%s", text);
	return 0;
}

/* ---- the sink: where the agent's words go ------------------------------- */

static void send_line(struct agent_stage *s, struct display *d, const char *json, size_t len)
{
	if (!d || len > LINE_MAX_BYTES)
		return;
	memcpy(s->line, json, len);
	s->line[len] = '\n';
	display_send(d, s->line, len + 1);
}

static void sink_kiosk(void *ctx, const char *json, size_t len)
{
	struct agent_stage *s = ctx;

	send_line(s, s->kiosk, json, len);
}

static void sink_staff(void *ctx, const char *json, size_t len)
{
	struct agent_stage *s = ctx;

	send_line(s, s->staff, json, len);
}

void agent_stage_store_failed(struct agent_stage *s, const char *what)
{
	if (s->store_errors++ == 0)
		log_error("conversation", "cannot record %s in the store: %s", what,
			  store_errmsg(s->store));
}

void agent_stage_audit(struct agent_stage *s, const char *kind, const char *detail)
{
	stage_critical_begin();
	if (store_audit_append(s->store, s->session_id, kind, detail) < 0)
		agent_stage_store_failed(s, kind);
	stage_critical_end();
}

static void sink_audit(void *ctx, const char *kind, const char *detail)
{
	agent_stage_audit(ctx, kind, detail);
}

static void sink_turn(void *ctx, const char *role, const char *text, const char *meta)
{
	struct agent_stage *s = ctx;
	enum store_role r = strcmp(role, "customer") == 0 ? STORE_ROLE_CUSTOMER
			    : strcmp(role, "staff") == 0  ? STORE_ROLE_STAFF
			    : strcmp(role, "system") == 0 ? STORE_ROLE_SYSTEM
							  : STORE_ROLE_AGENT;

	if (!s->session_id)
		return;
	stage_critical_begin();
	if (store_turn_append(s->store, s->session_id, r, text, meta) < 0)
		agent_stage_store_failed(s, "a turn");
	stage_critical_end();
}

static bool cancel_worthy(const struct event *ev)
{
	return ev->kind == EVENT_PRESENCE_LEAVE || ev->kind == EVENT_FACE_GONE;
}

/* While the model streams: keep reading inputs; cancel on new words, staff
 * taking over, or someone leaving. */
static bool sink_poll(void *ctx)
{
	struct agent_stage *s = ctx;
	struct display_inbound in;
	size_t n;

	stage_heartbeat(s->st, hal_now_ns());
	while (s->nbacklog < BACKLOG_MAX &&
	       ring_pop(s->in, &s->backlog[s->nbacklog], sizeof(struct event), &n) == 1)
		if (n == sizeof(struct event) && cancel_worthy(&s->backlog[s->nbacklog++]))
			s->cancel_turn = true;
	while (s->kiosk && s->npending_kiosk < 8 && display_recv(s->kiosk, &in) == 1) {
		s->pending_kiosk[s->npending_kiosk++] = in;
		if (in.type == DISPLAY_IN_CUSTOMER_TEXT || in.type == DISPLAY_IN_TAP)
			s->cancel_turn = true; /* the customer interrupted */
	}
	while (s->staff && s->npending_staff < 8 && display_recv(s->staff, &in) == 1) {
		s->pending_staff[s->npending_staff++] = in;
		if (in.type == DISPLAY_IN_TAKE_OVER)
			s->cancel_turn = true;
	}
	return s->cancel_turn;
}

/* ---- visits ------------------------------------------------------------- */

static int64_t now_ms_wall(void)
{
	return (int64_t)display_now_ms();
}

static void begin_visit(struct agent_stage *s, const struct visitor_output *o)
{
	struct store_session_new req = {.customer_id = o->customer_id};
	struct agent_sink sink = {sink_kiosk, sink_staff, sink_audit, sink_turn, sink_poll, s};
	struct store_customer c;
	struct agent_visitor v = {0};
	char summary[STORE_SUMMARY_MAX + 64];
	int rc;

	stage_critical_begin();
	rc = store_session_open(s->store, &req, &s->session_id, &s->visit_id);
	stage_critical_end();
	if (rc < 0) {
		agent_stage_store_failed(s, "a new session");
		s->session_id = s->visit_id = 0;
	}
	s->customer_id = o->customer_id;
	kiosk_consent_visit_reset(s);
	v.session_id = s->session_id;
	v.customer_id = o->customer_id;
	v.recognised_by = o->how; /* what noticed them: staff see it as "via" */
	v.confidence = o->confidence;
	if (o->customer_id && store_customer_get(s->store, o->customer_id, &c) == 0) {
		v.name = c.name;
		v.returning = c.visits > 0;
		if (c.last_summary[0]) {
			snprintf(summary, sizeof(summary), "%s", c.last_summary);
			v.last_visit = summary;
		}
	}
	if (agent_session_begin(s->agent, &v, &sink, &s->session) < 0) {
		log_error("conversation", "cannot start a session: out of memory");
		s->session = NULL;
	}
	s->last_word_ns = hal_now_ns();
	log_info("conversation", "visitor arrived (%s, customer %lld), session %lld", o->how,
		 (long long)o->customer_id, (long long)s->session_id);
}

static void end_visit(struct agent_stage *s, enum agent_end_reason why)
{
	static const char *const names[] = {"left", "silence", "shutdown"};
	char summary[160];

	if (!s->session)
		return;
	snprintf(summary, sizeof(summary), "visit ended (%s) in state %s", names[why],
		 agent_state_name(agent_session_state(s->session)));
	agent_session_end(s->session, why);
	s->session = NULL;
	kiosk_consent_visit_reset(s);
	stage_critical_begin();
	if (s->session_id && store_session_close(s->store, s->session_id, "farewell") < 0)
		agent_stage_store_failed(s, "the session's end");
	if (s->visit_id && store_visit_end(s->store, s->visit_id, summary) < 0)
		agent_stage_store_failed(s, "the visit's end");
	stage_critical_end();
	log_info("conversation", "session %lld ended: %s", (long long)s->session_id, names[why]);
	s->session_id = s->visit_id = s->customer_id = 0;
}

static void visitor_out(struct agent_stage *s, const struct visitor_output *o, int n)
{
	char buf[512];

	for (int i = 0; i < n; i++) {
		switch (o[i].kind) {
		case VISITOR_OUT_ARRIVED:
			if (!s->session)
				begin_visit(s, &o[i]);
			break;
		case VISITOR_OUT_IDENTIFIED:
			/* recognised after the greeting: staff learn it; the talk goes on */
			if (s->visit_id)
				store_visit_set_customer(s->store, s->visit_id, o[i].customer_id);
			if (!s->customer_id)
				s->customer_id = o[i].customer_id;
			snprintf(buf, sizeof(buf),
				 "{\"customer\":%lld,\"how\":\"%s\",\"confidence\":%.2f}",
				 (long long)o[i].customer_id, o[i].how, o[i].confidence);
			sink_audit(s, "visitor_identified", buf);
			break;
		case VISITOR_OUT_CONFLICT:
			snprintf(buf, sizeof(buf), "{\"face\":%lld,\"app\":%lld}",
				 (long long)o[i].customer_id, (long long)o[i].other_customer_id);
			sink_audit(s, "identity_conflict", buf);
			break;
		case VISITOR_OUT_LEFT:
			end_visit(s, AGENT_END_LEFT);
			break;
		}
	}
}

/* ---- inputs ------------------------------------------------------------- */

static void handle_event(struct agent_stage *s, const struct event *ev)
{
	struct visitor_output out[VISITOR_OUTPUTS_MAX];
	struct visitor_input vi = {.ts_ns = ev->ts_ns};
	char json[512];
	int n = 0;

	if (event_to_json(ev, json, sizeof(json)) > 0)
		sink_audit(s, event_kind_name(ev->kind), json);
	switch (ev->kind) {
	case EVENT_PRESENCE_APPROACH:
		vi.kind = VISITOR_IN_APPROACH;
		/* a store-app beacon the store has mapped names its customer */
		if (store_beacon_find(s->store, &ev->u.presence.beacon, &vi.customer_id) < 0)
			vi.customer_id = 0;
		break;
	case EVENT_PRESENCE_LEAVE:
		vi.kind = VISITOR_IN_BEACON_LEAVE;
		break;
	case EVENT_FACE_SEEN:
		vi.kind = VISITOR_IN_FACE_SEEN;
		vi.track = ev->u.face.track;
		break;
	case EVENT_FACE_IDENTIFIED:
		vi.kind = VISITOR_IN_FACE_IDENTIFIED;
		vi.track = ev->u.face.track;
		vi.customer_id = ev->u.face.customer_id;
		vi.distance = ev->u.face.distance;
		vi.margin = ev->u.face.margin;
		break;
	case EVENT_FACE_GONE:
		vi.kind = VISITOR_IN_FACE_GONE;
		vi.track = ev->u.face.track;
		break;
	case EVENT_PRESENCE_DWELL:
	case EVENT_MOTION_START:
	case EVENT_MOTION_STOP:
	case EVENT_DOOR:
		return; /* recorded; not evidence of someone at the kiosk */
	case EVENT_FACE_TEMPLATE:
		kiosk_consent_template(s);
		return;
	case EVENT_STAFF_CALL:
		if (ev->u.gpio.active) {
			char buf[1024];
			int len = display_msg_escalation(buf, sizeof(buf), 0, s->session_id,
							 "staff_call", "button",
							 "the staff-call button was pressed", NULL);

			if (len > 0 && s->staff)
				display_send(s->staff, buf, (size_t)len);
		}
		return;
	}
	n = visitor_input(s->visitors, &vi, out, VISITOR_OUTPUTS_MAX);
	if (n > 0)
		visitor_out(s, out, n);
}

static void run_turn(struct agent_stage *s, const char *text)
{
	struct agent_turn_report *rep = malloc(sizeof(*rep));
	int rc;

	if (!rep || !s->session) {
		free(rep);
		return;
	}
	s->cancel_turn = false;
	rc = agent_session_turn(s->session, text, strlen(text), rep);
	if (rc == -ECANCELED)
		log_info("conversation", "turn %d cancelled", rep->turn);
	else if (rc < 0)
		log_error("conversation", "turn failed: %s", strerror(-rc));
	s->last_word_ns = hal_now_ns();
	if (rc == 0)
		kiosk_consent_after_turn(s, rep->turn);
	free(rep);
}

static void handle_kiosk(struct agent_stage *s, const struct display_inbound *in)
{
	struct visitor_output out[VISITOR_OUTPUTS_MAX];
	struct visitor_input vi = {.kind = VISITOR_IN_KIOSK_INPUT, .ts_ns = in->recv_ns};
	char text[DISPLAY_TEXT_MAX + 64];
	int n;

	switch (in->type) {
	case DISPLAY_IN_CUSTOMER_TEXT:
	case DISPLAY_IN_TAP:
		if (in->type == DISPLAY_IN_TAP && in->u.tap.kind == DISPLAY_TAP_PRODUCT)
			snprintf(text, sizeof(text), "Tell me more about %s", in->u.tap.id);
		else
			snprintf(text, sizeof(text), "%s",
				 in->type == DISPLAY_IN_TAP ? in->u.tap.id : in->u.text.text);
		n = visitor_input(s->visitors, &vi, out, VISITOR_OUTPUTS_MAX);
		if (n > 0)
			visitor_out(s, out, n);
		if (!s->session) {
			/* someone typed before the box noticed them: greet them now */
			struct visitor_output o = {.kind = VISITOR_OUT_ARRIVED,
						   .ts_ns = in->recv_ns};

			strcpy(o.how, "kiosk");
			begin_visit(s, &o);
		}
		run_turn(s, text);
		break;
	case DISPLAY_IN_CONSENT:
		kiosk_consent_answer(s, in);
		break;
	case DISPLAY_IN_CONNECT:
	case DISPLAY_IN_DISCONNECT:
	case DISPLAY_IN_HELLO:
	case DISPLAY_IN_TAKE_OVER:
	case DISPLAY_IN_HAND_BACK:
	case DISPLAY_IN_STAFF_TEXT:
		break;
	}
}

static void handle_staff(struct agent_stage *s, const struct display_inbound *in)
{
	char buf[DISPLAY_TEXT_MAX + 256];
	int n;

	switch (in->type) {
	case DISPLAY_IN_TAKE_OVER:
	case DISPLAY_IN_HAND_BACK:
		if (!s->session || in->u.session != s->session_id) {
			n = display_msg_error(buf, sizeof(buf), 0, "no_session",
					      "no such session at the kiosk now", false);
			if (n > 0)
				display_send_to(s->staff, in->client, buf, (size_t)n);
			break;
		}
		agent_session_takeover(s->session, in->type == DISPLAY_IN_TAKE_OVER);
		break;
	case DISPLAY_IN_STAFF_TEXT:
		if (!s->session || in->u.staff_text.session != s->session_id)
			break;
		/* a person speaks through the kiosk */
		n = display_msg_reply_start(buf, sizeof(buf), 0, 0);
		send_line(s, s->kiosk, buf, n > 0 ? (size_t)n - 1 : 0);
		n = display_msg_token(buf, sizeof(buf), 0, 0, in->u.staff_text.text,
				      strlen(in->u.staff_text.text));
		send_line(s, s->kiosk, buf, n > 0 ? (size_t)n - 1 : 0);
		n = display_msg_reply_end(buf, sizeof(buf), 0, 0);
		send_line(s, s->kiosk, buf, n > 0 ? (size_t)n - 1 : 0);
		sink_turn(s, "staff", in->u.staff_text.text, NULL);
		break;
	case DISPLAY_IN_CONNECT:
	case DISPLAY_IN_DISCONNECT:
	case DISPLAY_IN_HELLO:
	case DISPLAY_IN_CUSTOMER_TEXT:
	case DISPLAY_IN_TAP:
	case DISPLAY_IN_CONSENT:
		break;
	}
}

/* ---- the stage ------------------------------------------------------------ */

struct resume_ctx {
	struct agent_stage *s;
	int64_t newest_id;
	struct store_session newest;
};

static int find_newest(const struct store_session *sess, void *ctx)
{
	struct resume_ctx *r = ctx;

	r->newest_id = sess->id;
	r->newest = *sess;
	r->newest.state = NULL;
	r->newest.archetype = NULL;
	return 0;
}

static int restore_turn(const struct store_turn *t, void *ctx)
{
	struct agent_stage *s = ctx;

	agent_session_restore_turn(s->session, store_role_name(t->role), t->text);
	return 0;
}

/* Resumes the newest session still open and recent; closes older ones. */
static void resume(struct agent_stage *s)
{
	struct agent_sink sink = {sink_kiosk, sink_staff, sink_audit, sink_turn, sink_poll, s};
	struct resume_ctx r = {.s = s};
	struct agent_visitor v = {0};
	int closed;

	closed = store_session_close_stale(s->store, (int64_t)s->p.silence_ms);
	if (closed > 0)
		log_notice("conversation", "closed %d stale sessions left open", closed);
	if (store_session_find_open(s->store, find_newest, &r) <= 0 || !r.newest_id)
		return;
	s->session_id = r.newest_id;
	s->visit_id = r.newest.visit_id;
	s->customer_id = r.newest.customer_id;
	v.session_id = s->session_id;
	v.customer_id = s->customer_id;
	if (agent_session_resume(s->agent, &v, &sink, &s->session) < 0)
		return;
	store_turns_load(s->store, s->session_id, restore_turn, s);
	s->last_word_ns = hal_now_ns();
	log_notice("conversation", "resumed session %lld with %d committed turns",
		   (long long)s->session_id, r.newest.turns);
}

int agent_stage_new(const struct agent_stage_params *p, struct ring *in, struct store *store,
		    struct agent *agent, struct enrol_slot *enrol, const struct config *cfg,
		    struct agent_stage **ret, struct config_error *err)
{
	struct visitor_params vp;
	struct agent_stage *s;
	int rc;

	rc = visitor_params_from_config(cfg, "visitor", &vp, err);
	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->p = *p;
	s->in = in;
	s->store = store;
	s->agent = agent;
	s->enrol = enrol;
	rc = visitor_tracker_new(&vp, &s->visitors);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*ret = s;
	return 0;
}

void agent_stage_set_displays(struct agent_stage *s, struct display *kiosk, struct display *staff)
{
	s->kiosk = kiosk;
	s->staff = staff;
}

void agent_stage_free(struct agent_stage *s)
{
	if (!s)
		return;
	visitor_tracker_free(s->visitors);
	free(s);
}

static int agent_init(void *ctx, char *err, size_t len)
{
	(void)ctx;
	(void)err;
	(void)len;
	return 0;
}

static void purge(struct agent_stage *s, uint64_t now)
{
	int n;

	if (s->last_purge_ns && now - s->last_purge_ns < 3600ull * 1000 * MS)
		return;
	s->last_purge_ns = now;
	stage_critical_begin();
	n = store_purge_anonymous(s->store,
				  now_ms_wall() - (int64_t)s->p.retention_days * 86400000LL, NULL);
	stage_critical_end();
	if (n > 0)
		log_info("conversation", "retention: purged %d anonymous visits older than %u days",
			 n, s->p.retention_days);
}

static int agent_step(void *ctx, struct stage *st, char *err, size_t len)
{
	struct agent_stage *s = ctx;
	struct visitor_output out[VISITOR_OUTPUTS_MAX];
	struct display_inbound in;
	struct event ev;
	uint64_t now;
	size_t n, i;
	int k;

	(void)err;
	(void)len;
	s->st = st;
	if (!s->last_purge_ns)
		resume(s);
	now = hal_now_ns();
	purge(s, now);

	/* what arrived while the last turn streamed, in order */
	for (i = 0; i < s->nbacklog; i++)
		handle_event(s, &s->backlog[i]);
	s->nbacklog = 0;
	for (i = 0; i < s->npending_staff; i++)
		handle_staff(s, &s->pending_staff[i]);
	s->npending_staff = 0;
	for (i = 0; i < s->npending_kiosk; i++)
		handle_kiosk(s, &s->pending_kiosk[i]);
	s->npending_kiosk = 0;

	ring_wait(s->in, WAIT_MS);
	for (k = 0; k < 32 && ring_pop(s->in, &ev, sizeof(ev), &n) == 1; k++) {
		if (n != sizeof(ev))
			continue;
		handle_event(s, &ev);
		stage_item_done(st, ev.ts_ns, hal_now_ns());
	}
	while (s->staff && display_recv(s->staff, &in) == 1)
		handle_staff(s, &in);
	while (s->kiosk && display_recv(s->kiosk, &in) == 1) {
		handle_kiosk(s, &in);
		stage_item_done(st, in.recv_ns, hal_now_ns());
	}

	now = hal_now_ns();
	kiosk_consent_tick(s, now);
	k = visitor_tick(s->visitors, now, out, VISITOR_OUTPUTS_MAX);
	if (k > 0)
		visitor_out(s, out, k);
	/* last_word_ns may be newer than now: a visit began in this step */
	if (s->session && now > s->last_word_ns &&
	    now - s->last_word_ns > (uint64_t)s->p.silence_ms * MS)
		end_visit(s, AGENT_END_SILENCE);
	return 0;
}

/* At shutdown: the producers have stopped; record what they sent, say goodbye. */
static void agent_fini(void *ctx)
{
	struct agent_stage *s = ctx;
	struct event ev;
	size_t n;

	while (ring_pop(s->in, &ev, sizeof(ev), &n) == 1)
		if (n == sizeof(ev)) {
			char json[512];

			if (event_to_json(&ev, json, sizeof(json)) > 0)
				sink_audit(s, event_kind_name(ev.kind), json);
		}
	kiosk_consent_visit_reset(s);
	if (s->session) {
		/* a restart resumes it: leave the store's session open */
		agent_session_end(s->session, AGENT_END_SHUTDOWN);
		s->session = NULL;
		s->session_id = s->visit_id = s->customer_id = 0;
	}
	s->last_purge_ns = 0; /* so a restarted stage resumes */
}

static void agent_wake(void *ctx)
{
	struct agent_stage *s = ctx;

	ring_wake(s->in);
}

const struct stage_desc agent_stage_desc = {
    .name = "conversation",
    .priority = STAGE_PRIO_CONVERSATION,
    .critical = true,
    .deadline_ms = 5000,
    .init = agent_init,
    .step = agent_step,
    .fini = agent_fini,
    .wake = agent_wake,
};
