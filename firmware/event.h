/*
 * event — what the sensor stages tell the conversation stage. Fixed size,
 * so events travel by value through the event ring; never dropped (the ring
 * rejects when full and the producer holds the event and retries, pushing
 * the loss back to its own lossy input ring).
 */
#ifndef FIRMWARE_EVENT_H
#define FIRMWARE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum event_kind {
	EVENT_BLE_SEEN,     /* an advertiser came into range */
	EVENT_BLE_LOST,     /* an advertiser not heard for a while */
	EVENT_MOTION_START, /* the camera sees movement */
	EVENT_MOTION_STOP,
	EVENT_DOOR,         /* door contact / PIR edge */
	EVENT_STAFF_CALL,   /* staff-call button pressed */
};

struct event {
	uint64_t ts_ns;     /* CLOCK_MONOTONIC when the evidence was seen */
	enum event_kind kind;
	union {
		struct {
			uint8_t addr[6];
			int8_t rssi;      /* smoothed dBm */
		} ble;
		struct {
			float score;      /* fraction of the frame that changed */
		} motion;
		struct {
			bool active;      /* door: open/someone there; button: pressed */
		} gpio;
	} u;
};

const char *event_kind_name(enum event_kind kind);

/* Writes the event as one JSON object (no newline) into buf; its length, or
 * -ENOSPC if it does not fit. */
int event_to_json(const struct event *ev, char *buf, size_t len);

#endif
