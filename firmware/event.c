#include "firmware/event.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

const char *event_kind_name(enum event_kind kind)
{
	switch (kind) {
	case EVENT_PRESENCE_APPROACH:
		return "approach";
	case EVENT_PRESENCE_DWELL:
		return "dwell";
	case EVENT_PRESENCE_LEAVE:
		return "leave";
	case EVENT_MOTION_START:
		return "motion_start";
	case EVENT_MOTION_STOP:
		return "motion_stop";
	case EVENT_FACE_SEEN:
		return "face_seen";
	case EVENT_FACE_IDENTIFIED:
		return "face_identified";
	case EVENT_FACE_GONE:
		return "face_gone";
	case EVENT_DOOR:
		return "door";
	case EVENT_STAFF_CALL:
		return "staff_call";
	case EVENT_FACE_TEMPLATE:
		return "face_template";
	}
	return "unknown";
}

static int beacon_json(const struct store_beacon_id *b, char *buf, size_t len)
{
	const uint8_t *u = b->uuid;

	if (b->kind == STORE_BEACON_EDDYSTONE)
		return snprintf(buf, len,
				"\"namespace\":\"%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x\","
				"\"instance\":\"%02x%02x%02x%02x%02x%02x\"",
				u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
				b->instance[0], b->instance[1], b->instance[2], b->instance[3],
				b->instance[4], b->instance[5]);
	return snprintf(
	    buf, len,
	    "\"uuid\":\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\","
	    "\"major\":%u,\"minor\":%u",
	    u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
	    u[14], u[15], b->major, b->minor);
}

int event_to_json(const struct event *ev, char *buf, size_t len)
{
	char beacon[160];
	int n = -1;

	switch (ev->kind) {
	case EVENT_PRESENCE_APPROACH:
	case EVENT_PRESENCE_DWELL:
	case EVENT_PRESENCE_LEAVE:
		beacon_json(&ev->u.presence.beacon, beacon, sizeof(beacon));
		n = snprintf(buf, len, "{\"event\":\"%s\",%s,\"rssi\":%d,\"distance_m\":%.2f}",
			     event_kind_name(ev->kind), beacon, ev->u.presence.rssi,
			     (double)ev->u.presence.distance_m);
		break;
	case EVENT_MOTION_START:
	case EVENT_MOTION_STOP:
		n = snprintf(buf, len, "{\"event\":\"%s\",\"score\":%.3f}",
			     event_kind_name(ev->kind), (double)ev->u.motion.score);
		break;
	case EVENT_FACE_SEEN:
	case EVENT_FACE_GONE:
		n = snprintf(buf, len, "{\"event\":\"%s\",\"track\":%u,\"face_px\":%u}",
			     event_kind_name(ev->kind), ev->u.face.track, ev->u.face.face_px);
		break;
	case EVENT_FACE_IDENTIFIED: {
		/* no gallery or no second customer: infinity, which JSON spells null */
		char d[32] = "null", m[32] = "null";

		if (isfinite(ev->u.face.distance))
			snprintf(d, sizeof(d), "%.3f", (double)ev->u.face.distance);
		if (isfinite(ev->u.face.margin))
			snprintf(m, sizeof(m), "%.3f", (double)ev->u.face.margin);
		n = snprintf(buf, len,
			     "{\"event\":\"%s\",\"track\":%u,\"customer\":%lld,\"embedding\":%lld,"
			     "\"distance\":%s,\"margin\":%s,\"frames\":%u}",
			     event_kind_name(ev->kind), ev->u.face.track,
			     (long long)ev->u.face.customer_id, (long long)ev->u.face.embedding_id,
			     d, m, ev->u.face.frames);
		break;
	}
	case EVENT_FACE_TEMPLATE:
		/* the descriptor itself stays in the slot: it is biometric data */
		n = snprintf(buf, len, "{\"event\":\"%s\",\"track\":%u,\"frames\":%u}",
			     event_kind_name(ev->kind), ev->u.face.track, ev->u.face.frames);
		break;
	case EVENT_DOOR:
	case EVENT_STAFF_CALL:
		n = snprintf(buf, len, "{\"event\":\"%s\",\"active\":%s}",
			     event_kind_name(ev->kind), ev->u.gpio.active ? "true" : "false");
		break;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
