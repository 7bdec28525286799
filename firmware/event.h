/*
 * event — what the sensor stages tell the conversation stage. Events travel
 * by value through the event ring and are never dropped (the ring rejects
 * when full; the producer holds the event and retries, pushing the loss back
 * to its own lossy input ring).
 */
#ifndef FIRMWARE_EVENT_H
#define FIRMWARE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/store.h"

enum event_kind {
	EVENT_PRESENCE_APPROACH, /* a store-app beacon came up to the kiosk */
	EVENT_PRESENCE_DWELL,	 /* ... and stayed */
	EVENT_PRESENCE_LEAVE,	 /* ... and went (or was not heard any more) */
	EVENT_MOTION_START,	 /* the camera sees movement */
	EVENT_MOTION_STOP,
	EVENT_FACE_SEEN,       /* a face track started in front of the kiosk */
	EVENT_FACE_IDENTIFIED, /* the track's identity was decided */
	EVENT_FACE_GONE,       /* the track ended */
	EVENT_DOOR,	       /* door contact / PIR edge */
	EVENT_STAFF_CALL,      /* staff-call button pressed */
	EVENT_FACE_TEMPLATE,   /* the face stage answered a kiosk enrolment request
				* (firmware/enrol_slot.h): take the answer there */
};

struct event {
	uint64_t ts_ns; /* CLOCK_MONOTONIC when the evidence was seen */
	enum event_kind kind;
	union {
		struct {
			struct store_beacon_id beacon;
			uint8_t addr[6];
			int8_t rssi;	  /* smoothed dBm */
			uint8_t reason;	  /* LEAVE: enum proximity_leave_reason */
			float distance_m; /* smoothed estimate */
		} presence;
		struct {
			float score; /* fraction of the frame that changed */
		} motion;
		struct {
			uint32_t track;
			int64_t customer_id;  /* IDENTIFIED: 0 = anonymous */
			int64_t embedding_id; /* IDENTIFIED: the enrolled embedding that matched */
			float distance;	      /* IDENTIFIED: to the best match */
			float margin;	      /* to the second-best other customer */
			uint16_t frames;      /* embeddings the decision (or template) used */
			uint16_t face_px;     /* face width in pixels */
		} face;
		struct {
			bool active; /* door: open/someone there; button: pressed */
		} gpio;
	} u;
};

const char *event_kind_name(enum event_kind kind);

/* Writes the event as one JSON object (no newline) into buf; its length, or
 * -ENOSPC if it does not fit. */
int event_to_json(const struct event *ev, char *buf, size_t len);

#endif
