#include "firmware/pipeline_stages.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "firmware/enrol_slot.h"
#include "firmware/log.h"
#include "firmware/ring.h"
#include "firmware/store.h"
#include "hal/time.h"

/* A device's own message (it names the device and the fix), or the errno's. */
static void device_error(char *err, size_t len, const char *dev_error, int rc)
{
	snprintf(err, len, "%s", dev_error[0] ? dev_error : strerror(-rc));
}

/* ---- event outbox ------------------------------------------------------ */

int outbox_flush(struct event_outbox *o)
{
	if (!o->has_pending)
		return 0;
	if (ring_push(o->ring, &o->pending, sizeof(o->pending)) < 0) {
		o->retries++;
		return -EAGAIN;
	}
	o->has_pending = false;
	return 0;
}

int outbox_send(struct event_outbox *o, const struct event *ev)
{
	if (outbox_flush(o) < 0 || ring_push(o->ring, ev, sizeof(*ev)) < 0) {
		/* Only reachable with nothing held, or after the flush succeeded. */
		if (!o->has_pending) {
			o->pending = *ev;
			o->has_pending = true;
		}
		return -EAGAIN;
	}
	return 0;
}

/* A producer with an event held backs off briefly instead of taking input. */
static int outbox_backoff(struct event_outbox *o)
{
	if (outbox_flush(o) == 0)
		return 0;
	usleep(5000);
	return -EAGAIN;
}

/* ---- ble: adapter -> ble ring ------------------------------------------ */

int ble_stage_open(struct ble_stage *s, char *err, size_t len)
{
	int rc;

	rc = ble_open(&s->dev, s->ops, s->cfg, "ble");
	if (rc < 0) {
		device_error(err, len, s->dev.error, rc);
		ble_close(&s->dev);
		return rc;
	}
	s->open = true;
	return 0;
}

static int ble_init(void *ctx, char *err, size_t len)
{
	struct ble_stage *s = ctx;

	return s->open ? 0 : ble_stage_open(s, err, len);
}

static int ble_step(void *ctx, struct stage *st, char *err, size_t len)
{
	struct ble_stage *s = ctx;
	struct ble_adv_report r;
	int rc;

	rc = ble_read(&s->dev, &r, STAGE_WAIT_MS);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		if (rc != -ENODATA)
			device_error(err, len, s->dev.error, rc);
		return rc;
	}
	/* Drop-oldest: a push never fails on a full ring, it loses the oldest. */
	ring_push(s->out, &r, sizeof(r));
	stage_item_done(st, r.ts_ns, hal_now_ns());
	return 0;
}

static void ble_fini(void *ctx)
{
	struct ble_stage *s = ctx;

	ble_close(&s->dev);
	s->open = false;
}

const struct stage_desc ble_stage_desc = {
    .name = "ble",
    .priority = STAGE_PRIO_SENSOR,
    .deadline_ms = 2000,
    .init = ble_init,
    .step = ble_step,
    .fini = ble_fini,
};

/* ---- presence: ble ring -> proximity events ------------------------------ */

static void to_event(const struct proximity_event *pe, struct event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = pe->ts_ns;
	ev->kind = pe->kind == PROXIMITY_APPROACH ? EVENT_PRESENCE_APPROACH
		   : pe->kind == PROXIMITY_DWELL  ? EVENT_PRESENCE_DWELL
						  : EVENT_PRESENCE_LEAVE;
	beacon_to_store(&pe->id, &ev->u.presence.beacon);
	memcpy(ev->u.presence.addr, pe->addr, 6);
	ev->u.presence.rssi = (int8_t)(pe->rssi - 0.5);
	ev->u.presence.reason = (uint8_t)pe->reason;
	ev->u.presence.distance_m = (float)pe->distance_m;
}

/* Sends the backlog in order; 0 when empty, -EAGAIN when the ring is full. */
static int presence_drain(struct presence_stage *s)
{
	struct event ev;
	size_t i;

	for (i = 0; i < s->nbacklog; i++) {
		to_event(&s->backlog[i], &ev);
		if (outbox_send(&s->outbox, &ev) < 0) {
			i++; /* the outbox holds this one now */
			break;
		}
	}
	memmove(s->backlog, s->backlog + i, (s->nbacklog - i) * sizeof(s->backlog[0]));
	s->nbacklog -= i;
	return s->nbacklog || s->outbox.has_pending ? -EAGAIN : 0;
}

static void presence_add(struct presence_stage *s, int n)
{
	s->nbacklog += n > 0 ? (size_t)n : 0;
}

static int presence_step(void *ctx, struct stage *st, char *err, size_t len)
{
	struct presence_stage *s = ctx;
	const size_t room = PROXIMITY_SIGHTING_EVENTS_MAX;
	struct proximity_sighting sg;
	struct ble_adv_report r;
	size_t n;
	int rc;

	(void)err;
	(void)len;
	if (outbox_backoff(&s->outbox) < 0 || presence_drain(s) < 0)
		return 0;
	presence_add(s, proximity_tick(s->proximity, hal_now_ns(), s->backlog, room));
	if (presence_drain(s) < 0)
		return 0;
	rc = ring_wait(s->in, STAGE_WAIT_MS);
	if (rc <= 0)
		return 0;
	/* A bounded batch, so ticks and the heartbeat keep running under load;
	 * stop taking reports while events wait for the event ring. */
	for (int i = 0; i < 64 && s->nbacklog == 0 && ring_pop(s->in, &r, sizeof(r), &n) == 1;
	     i++) {
		if (n != sizeof(r))
			continue;
		stage_item_done(st, r.ts_ns, hal_now_ns());
		if (beacon_decode_report(&r, &sg.id, &s->beacon_stats) != 1)
			continue;
		memcpy(sg.addr, r.addr, 6);
		sg.rssi = r.rssi;
		sg.ts_ns = r.ts_ns;
		presence_add(s, proximity_sighting(s->proximity, &sg, s->backlog, room));
		presence_drain(s);
	}
	return 0;
}

static void presence_wake(void *ctx)
{
	struct presence_stage *s = ctx;

	ring_wake(s->in);
}

const struct stage_desc presence_stage_desc = {
    .name = "presence",
    .priority = STAGE_PRIO_SENSOR,
    .deadline_ms = 2000,
    .step = presence_step,
    .wake = presence_wake,
};

/* ---- camera: device -> frame ring --------------------------------------- */

int camera_stage_open(struct camera_stage *s, char *err, size_t len)
{
	int rc;

	rc = camera_open(&s->dev, s->ops, s->cfg, "camera");
	if (rc < 0) {
		device_error(err, len, s->dev.error, rc);
		camera_close(&s->dev);
		return rc;
	}
	s->open = true;
	return 0;
}

static int camera_init(void *ctx, char *err, size_t len)
{
	struct camera_stage *s = ctx;

	return s->open ? 0 : camera_stage_open(s, err, len);
}

static int camera_step(void *ctx, struct stage *st, char *err, size_t len)
{
	struct camera_stage *s = ctx;
	struct frame_slot *slot;
	int rc;

	/* Drop-oldest never refuses a reservation: the spare slot is ours. */
	slot = ring_reserve(s->out);
	if (!slot)
		return 0;
	memset(&slot->frame, 0, sizeof(slot->frame));
	slot->frame.data = slot->pixels;
	slot->frame.capacity = ring_slot_size(s->out) - sizeof(*slot);
	rc = camera_read(&s->dev, &slot->frame, STAGE_WAIT_MS);
	if (rc == 0)
		return 0;
	if (rc == -EINVAL || rc == -EBADMSG) {
		/* One bad frame (a corrupt replay image, a frame the device
		 * flagged): counted, skipped; the stream goes on. */
		atomic_fetch_add(&st->errors, 1);
		return 0;
	}
	if (rc < 0) {
		if (rc == -ENOSPC)
			snprintf(err, len,
				 "camera: a %ux%u frame does not fit the frame ring's %zu-byte "
				 "slots; raise [rings] frame_bytes",
				 s->dev.width, s->dev.height, slot->frame.capacity);
		else if (rc != -ENODATA)
			device_error(err, len, s->dev.error, rc);
		return rc;
	}
	/* The data pointer is rebuilt by the consumer: slots move. */
	ring_commit(s->out, sizeof(*slot) + slot->frame.bytes);
	stage_item_done(st, slot->frame.ts_ns, hal_now_ns());
	return 0;
}

static void camera_fini(void *ctx)
{
	struct camera_stage *s = ctx;

	camera_close(&s->dev);
	s->open = false;
}

const struct stage_desc camera_stage_desc = {
    .name = "camera",
    .priority = STAGE_PRIO_SENSOR,
    .deadline_ms = 2000,
    .init = camera_init,
    .step = camera_step,
    .fini = camera_fini,
};

/* ---- face: frame ring -> events (lowest priority) ---------------------- */

/*
 * The gallery holds only customers who consented (revoking or forgetting
 * deletes their embeddings), read from the store again every 30 s so an
 * enrolment or a correction takes effect without a restart, and at once
 * after a kiosk enrolment. A store that
 * cannot be read keeps the old gallery rather than stopping the camera.
 */
static void face_reload(struct face_stage *s)
{
	struct store *store = NULL;
	char msg[512];

	s->gallery_ns = hal_now_ns();
	if (store_open(s->store_path, STORE_OPEN_READONLY | STORE_OPEN_NO_CHECK, &store, NULL,
		       NULL) < 0)
		return;
	face_match_load(s->gallery, store, msg, sizeof(msg));
	store_close(store);
}

/* Opens dlib and the gallery. Missing models fail the stage with the fix
 * (make deps); the box runs on without faces. */
static int face_init(void *ctx, char *err, size_t len)
{
	struct face_stage *s = ctx;
	char msg[512];
	int rc;

	s->npending = 0;
	rc = face_dlib_open(&s->params.dlib, &s->dlib, msg, sizeof(msg));
	if (rc < 0) {
		snprintf(err, len, "%s", msg);
		return rc;
	}
	rc = face_match_new(&s->params.match, &s->gallery, msg, sizeof(msg));
	if (rc < 0) {
		snprintf(err, len, "faces: %s", msg);
		return rc;
	}
	face_reload(s);
	rc = face_track_new(&s->params.track, &face_track_engine_dlib, s->dlib, s->gallery,
			    &s->tracker, msg, sizeof(msg));
	if (rc < 0) {
		snprintf(err, len, "faces: %s", msg);
		return rc;
	}
	return 0;
}

static void face_event(const struct face_track_event *fe, struct event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = fe->ts_ns;
	ev->kind = fe->kind == FACE_TRACK_STARTED    ? EVENT_FACE_SEEN
		   : fe->kind == FACE_TRACK_IDENTITY ? EVENT_FACE_IDENTIFIED
						     : EVENT_FACE_GONE;
	ev->u.face.track = fe->track_id;
	ev->u.face.customer_id = fe->customer_id;
	ev->u.face.embedding_id = fe->embedding_id;
	ev->u.face.distance = fe->distance;
	ev->u.face.margin = fe->margin;
	ev->u.face.frames = (uint16_t)fe->frames_used;
	ev->u.face.face_px = (uint16_t)fe->box.width;
}

/* Sends the tracker's events in order; -EAGAIN when the ring is full. */
static int face_drain(struct face_stage *s)
{
	struct event ev;

	for (;;) {
		if (!s->npending) {
			if (!s->tracker || face_track_next_event(s->tracker, &s->pending[0]) != 1)
				return 0;
			s->npending = 1;
		}
		face_event(&s->pending[0], &ev);
		if (outbox_send(&s->outbox, &ev) < 0) {
			s->npending = 0; /* the outbox holds it now */
			return -EAGAIN;
		}
		s->npending = 0;
	}
}

/*
 * A kiosk enrolment asks for the descriptor of the visitor's track
 * (firmware/enrol_slot.h). A track with no descriptor yet (its face has not
 * passed the quality gate) keeps the request open until it has one or ends;
 * the conversation stage gives up after its own timeout. Only the 128
 * numbers leave this stage, never pixels.
 */
static void face_enrol(struct face_stage *s)
{
	float vec[FACE_DLIB_DIM];
	uint32_t req, track, frames = 0;
	struct event ev;
	int rc;

	if (!enrol_slot_pending(s->enrol, &req, &track))
		return;
	rc = s->tracker ? face_track_descriptor(s->tracker, track, vec, &frames) : -ENODEV;
	if (rc == -EAGAIN)
		return;
	if (enrol_slot_answer(s->enrol, req, rc, rc == 0 ? vec : NULL, frames)) {
		memset(&ev, 0, sizeof(ev));
		ev.ts_ns = hal_now_ns();
		ev.kind = EVENT_FACE_TEMPLATE;
		ev.u.face.track = track;
		ev.u.face.frames = (uint16_t)frames;
		outbox_send(&s->outbox, &ev);
	}
	memset(vec, 0, sizeof(vec));
}

static int face_step(void *ctx, struct stage *st, char *err, size_t len)
{
	struct face_stage *s = ctx;
	const struct frame_slot *slot;
	struct camera_frame f;
	struct event ev;
	size_t n;
	int rc;

	if (outbox_backoff(&s->outbox) < 0 || face_drain(s) < 0)
		return 0;
	if (enrol_slot_take_gallery_changed(s->enrol) ||
	    hal_now_ns() - s->gallery_ns > 30000000000ull)
		face_reload(s);
	face_enrol(s);
	rc = ring_wait(s->in, STAGE_WAIT_MS);
	if (rc <= 0)
		return 0;
	slot = ring_peek(s->in, &n);
	if (!slot)
		return 0;
	if (n < sizeof(*slot)) {
		ring_release(s->in);
		return 0;
	}
	f = slot->frame;
	f.data = (uint8_t *)slot->pixels;
	f.bytes = n - sizeof(*slot);
	f.capacity = f.bytes;
	rc = motion_frame(&s->motion, &f, &ev);
	if (rc == 1)
		outbox_send(&s->outbox, &ev);
	/* Faces only while something moves or someone is tracked: an empty
	 * shop floor costs a motion check per frame, not a detector run. */
	if (s->tracker && (s->motion.moving || face_track_live(s->tracker) > 0)) {
		rc = face_track_frame(s->tracker, &f);
		if (rc < 0 && rc != -ENOBUFS) {
			snprintf(err, len, "faces: %s", face_track_errmsg(s->tracker));
			ring_release(s->in);
			return rc;
		}
	}
	ring_release(s->in);
	stage_item_done(st, f.ts_ns, hal_now_ns());
	face_drain(s);
	return 0;
}

static void face_fini(void *ctx)
{
	struct face_stage *s = ctx;

	if (s->tracker) {
		face_track_end_all(s->tracker, hal_now_ns());
		face_drain(s); /* best effort: the conversation stage may be gone */
	}
	face_track_free(s->tracker);
	face_match_free(s->gallery);
	face_dlib_close(s->dlib);
	s->tracker = NULL;
	s->gallery = NULL;
	s->dlib = NULL;
}

static void face_wake(void *ctx)
{
	struct face_stage *s = ctx;

	ring_wake(s->in);
}

const struct stage_desc face_stage_desc = {
    .name = "face",
    .priority = STAGE_PRIO_BACKGROUND,
    .deadline_ms = 5000,
    .init = face_init,
    .step = face_step,
    .fini = face_fini,
    .wake = face_wake,
};

/* ---- gpio: lines -> events ---------------------------------------------- */

int gpio_stage_open(struct gpio_stage *s, char *err, size_t len)
{
	int rc;

	rc = gpio_open(&s->dev, s->ops, s->cfg, "gpio");
	if (rc < 0) {
		device_error(err, len, s->dev.error, rc);
		gpio_close(&s->dev);
		return rc;
	}
	s->open = true;
	return 0;
}

static int gpio_init(void *ctx, char *err, size_t len)
{
	struct gpio_stage *s = ctx;

	return s->open ? 0 : gpio_stage_open(s, err, len);
}

static int gpio_step(void *ctx, struct stage *st, char *err, size_t len)
{
	struct gpio_stage *s = ctx;
	struct gpio_event ge;
	struct event ev;
	int rc;

	if (outbox_backoff(&s->outbox) < 0)
		return 0;
	rc = gpio_read_event(&s->dev, &ge, STAGE_WAIT_MS);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		if (rc != -ENODATA)
			device_error(err, len, s->dev.error, rc);
		return rc;
	}
	memset(&ev, 0, sizeof(ev));
	ev.ts_ns = ge.ts_ns;
	ev.kind = ge.input == GPIO_INPUT_DOOR ? EVENT_DOOR : EVENT_STAFF_CALL;
	ev.u.gpio.active = ge.edge == GPIO_EDGE_RISING;
	/* The status LED shows someone is at the door. */
	if (ge.input == GPIO_INPUT_DOOR)
		gpio_set_led(&s->dev, ev.u.gpio.active);
	outbox_send(&s->outbox, &ev);
	stage_item_done(st, ge.ts_ns, hal_now_ns());
	return 0;
}

static void gpio_fini(void *ctx)
{
	struct gpio_stage *s = ctx;

	gpio_close(&s->dev);
	s->open = false;
}

const struct stage_desc gpio_stage_desc = {
    .name = "gpio",
    .priority = STAGE_PRIO_SENSOR,
    .deadline_ms = 2000,
    .init = gpio_init,
    .step = gpio_step,
    .fini = gpio_fini,
};
