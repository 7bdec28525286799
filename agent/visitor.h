/*
 * visitor — one visitor at the kiosk, merged from BLE and camera evidence.
 *
 * Arrival needs evidence that someone is AT the kiosk, not passing by: the
 * store app's beacon approaching (proximity zones and dwell already filter
 * passers-by), a face track in front of the camera (only faces big enough to
 * be near pass the face stage's gates), or someone typing at the kiosk. Door
 * and motion alone never start a visit.
 *
 * Identity waits briefly (identify_wait_ms) after the first evidence for the
 * face decision or the app beacon, so the greeting can use a name; a face
 * decided later still identifies the visitor (VISITOR_OUT_IDENTIFIED). The
 * face is trusted only for customers who consented (the gallery holds no one
 * else); the beacon only when the store maps it to a customer. When the two
 * disagree, the visitor stays anonymous and staff are told.
 *
 * The visitor has left when every signal that saw them is gone: the beacon
 * left (or never came), no face track for face_gone_ms, and no kiosk input for
 * input_gone_ms. Pure logic, stepped by the caller's clock.
 */
#ifndef AGENT_VISITOR_H
#define AGENT_VISITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct config_error;

enum visitor_input_kind {
	VISITOR_IN_APPROACH, /* the app's beacon at the kiosk; customer_id 0: unknown */
	VISITOR_IN_BEACON_LEAVE,
	VISITOR_IN_FACE_SEEN,	    /* a face track started */
	VISITOR_IN_FACE_IDENTIFIED, /* customer_id 0: not an enrolled, consenting customer */
	VISITOR_IN_FACE_GONE,
	VISITOR_IN_KIOSK_INPUT, /* someone typed or tapped */
};

struct visitor_input {
	enum visitor_input_kind kind;
	uint64_t ts_ns;
	int64_t customer_id;
	double distance; /* FACE_IDENTIFIED: to the best match */
	double margin;	 /* FACE_IDENTIFIED: to the second-best */
	uint32_t track;	 /* face track id */
};

enum visitor_output_kind {
	VISITOR_OUT_ARRIVED,
	VISITOR_OUT_IDENTIFIED, /* the identity came after the arrival */
	VISITOR_OUT_CONFLICT,	/* face and app named different customers */
	VISITOR_OUT_LEFT,
};

struct visitor_output {
	enum visitor_output_kind kind;
	uint64_t ts_ns;
	int64_t customer_id;	   /* 0: anonymous */
	int64_t other_customer_id; /* CONFLICT: the other candidate */
	char how[16];		   /* "face", "app", "face+app", "camera", "kiosk" */
	double confidence;	   /* 0..1 of the identity (0 when anonymous) */
};

struct visitor_params {
	uint32_t identify_wait_ms; /* wait this long for an identity before arriving */
	uint32_t face_gone_ms;	   /* no face for this long: the camera lost them */
	uint32_t input_gone_ms;	   /* no kiosk input for this long counts as gone */
	double face_threshold;	   /* the face match threshold, for confidence */
};

#define VISITOR_OUTPUTS_MAX 3 /* the most one call writes */

void visitor_params_default(struct visitor_params *p);
/* [section] identify_wait_ms, face_gone_ms, input_gone_ms; -EINVAL naming the key. */
int visitor_params_from_config(const struct config *cfg, const char *section,
			       struct visitor_params *ret, struct config_error *err);

struct visitor_tracker;

int visitor_tracker_new(const struct visitor_params *p, struct visitor_tracker **ret);
void visitor_tracker_free(struct visitor_tracker *t);

/* Folds in one input; writes up to max (>= VISITOR_OUTPUTS_MAX) outputs and
 * returns their number, or -EINVAL. */
int visitor_input(struct visitor_tracker *t, const struct visitor_input *in,
		  struct visitor_output *ret, size_t max);
/* Time-based outputs (the identity wait ends, the visitor has gone). */
int visitor_tick(struct visitor_tracker *t, uint64_t now_ns, struct visitor_output *ret,
		 size_t max);

/* Is someone at the kiosk (arrived and not left)? */
bool visitor_present(const struct visitor_tracker *t);

/* The face track of the visitor at the kiosk now, or 0 (nobody arrived, or
 * the camera does not see them at the moment). */
uint32_t visitor_face_track(const struct visitor_tracker *t);

/* The customer the visitor's face was recognised as, or 0 (not recognised,
 * not decided, or no face). */
int64_t visitor_face_customer(const struct visitor_tracker *t);

const char *visitor_output_name(enum visitor_output_kind k);

#endif
