/*
 * pipeline_stages — the step functions of the box's stages and the context
 * each one owns. Private to pipeline.c and pipeline_stages.c.
 */
#ifndef FIRMWARE_PIPELINE_STAGES_H
#define FIRMWARE_PIPELINE_STAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/beacon.h"
#include "agent/proximity.h"
#include "agent/face_dlib.h"
#include "agent/face_match.h"
#include "agent/face_track.h"
#include "firmware/event.h"
#include "firmware/motion.h"
#include "firmware/stage.h"
#include "hal/ble.h"
#include "hal/camera.h"
#include "hal/gpio.h"

struct config;
struct ring;
struct store;

/* How long a step waits for input: well below every stage deadline. */
#define STAGE_WAIT_MS 100

/* A producer of the event ring holds at most one event the ring refused and
 * takes no new input until it is delivered (so the loss moves to its own
 * lossy input, never to conversation events). */
struct event_outbox {
	struct ring *ring;
	struct event pending;
	bool has_pending;
	uint64_t retries;
};

/* Sends ev (or the held one first). 0 sent, -EAGAIN held for later. */
int outbox_send(struct event_outbox *o, const struct event *ev);
/* Delivers a held event; 0 when nothing is held any more, -EAGAIN if still full. */
int outbox_flush(struct event_outbox *o);

struct ble_stage {
	const struct config *cfg;
	const struct ble_ops *ops;
	struct ble_dev dev;
	bool open;
	struct ring *out;
};

/* Advertising reports -> store-app beacons -> zones -> approach/dwell/leave. */
struct presence_stage {
	struct ring *in;
	struct proximity *proximity;
	struct beacon_stats beacon_stats;
	struct event_outbox outbox;
	/* proximity events not yet sent; filled only when empty */
	struct proximity_event backlog[PROXIMITY_SIGHTING_EVENTS_MAX];
	size_t nbacklog;
};

struct camera_stage {
	const struct config *cfg;
	const struct camera_ops *ops;
	struct camera_dev dev;
	bool open;
	struct ring *out;
};

/* Frames -> motion (cheap, every frame) and faces (dlib: tracked, so each
 * person is embedded once and re-checked now and then). */
struct enrol_slot;

struct face_stage {
	struct ring *in;
	struct motion motion;
	struct event_outbox outbox;
	struct face_params params;
	char store_path[4096];	/* for the gallery, read-only */
	struct face_dlib *dlib; /* the models; init fails without them (make deps) */
	struct face_match *gallery;
	struct face_track *tracker;
	uint64_t gallery_ns;		    /* when the gallery was last read from the store */
	struct face_track_event pending[8]; /* tracker events waiting for the event ring */
	size_t npending;
	struct enrol_slot *enrol; /* kiosk enrolments (borrowed; may be NULL) */
};

struct gpio_stage {
	const struct config *cfg;
	const struct gpio_ops *ops;
	struct gpio_dev dev;
	bool open;
	struct event_outbox outbox;
};

/* Frame ring slots hold this header followed by the pixels. */
struct frame_slot {
	struct camera_frame frame;
	uint8_t pixels[];
};

extern const struct stage_desc ble_stage_desc;
extern const struct stage_desc presence_stage_desc;
extern const struct stage_desc camera_stage_desc;
extern const struct stage_desc face_stage_desc;
extern const struct stage_desc gpio_stage_desc;

/* Opening a device, shared by pipeline_create and the stages' init. */
int ble_stage_open(struct ble_stage *s, char *err, size_t len);
int camera_stage_open(struct camera_stage *s, char *err, size_t len);
int gpio_stage_open(struct gpio_stage *s, char *err, size_t len);

#endif
