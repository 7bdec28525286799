/*
 * enrol_slot — a kiosk enrolment handed between two stages.
 *
 * A visitor says yes to face recognition at the kiosk. The conversation
 * stage owns customer data and knows which face track is the visitor's; the
 * face stage owns the tracker that holds that track's descriptors. So the
 * conversation stage asks here for the track's descriptor, the face stage
 * answers with its 128 numbers (never an image) and posts EVENT_FACE_TEMPLATE
 * so the conversation stage wakes, and the conversation stage writes the
 * customer, the consent and the descriptor to the store, then flags the
 * gallery as changed so the face stage reloads it at once.
 *
 * One request at a time: a new one replaces an unanswered one, and an answer
 * to a request that is no longer the open one is dropped. Thread-safe (one
 * mutex, held for a copy of 512 bytes at most).
 */
#ifndef FIRMWARE_ENROL_SLOT_H
#define FIRMWARE_ENROL_SLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/face_dlib.h"

struct enrol_slot;

/* 0, or -ENOMEM. */
int enrol_slot_new(struct enrol_slot **ret);
/* NULL is fine. */
void enrol_slot_free(struct enrol_slot *s);

/* Conversation stage: asks for the descriptor of face track `track` (>= 1).
 * Returns the request's id (>= 1); 0 when s is NULL or track is 0. */
uint32_t enrol_slot_ask(struct enrol_slot *s, uint32_t track);

/* Conversation stage: withdraws request req (the visitor left, it took too
 * long). A later answer to it is dropped. */
void enrol_slot_cancel(struct enrol_slot *s, uint32_t req);

/* Face stage: 1 with *req and *track of the open, unanswered request; 0 when
 * there is none. */
int enrol_slot_pending(struct enrol_slot *s, uint32_t *req, uint32_t *track);

/* Face stage: answers request req: rc 0 with vec (FACE_DLIB_DIM floats) and
 * the number of descriptors behind it, or a negative errno (-ENOENT: the
 * track is gone; -ENODEV: no face engine). false when req is not the open
 * request any more (the answer is dropped). */
bool enrol_slot_answer(struct enrol_slot *s, uint32_t req, int rc, const float *vec,
		       uint32_t frames);

/* Conversation stage: 1 when req was answered (and closes it): *ret_rc gets
 * the face stage's rc, and on 0 vec and *ret_frames the descriptor; 0 while
 * it is still open; -ENOENT when req is not the current request. */
int enrol_slot_take(struct enrol_slot *s, uint32_t req, int *ret_rc, float vec[FACE_DLIB_DIM],
		    uint32_t *ret_frames);

/* Conversation stage: the store's descriptors changed; the face stage should
 * reload its gallery now rather than at its next periodic reload. */
void enrol_slot_gallery_changed(struct enrol_slot *s);
/* Face stage: true once per enrol_slot_gallery_changed(). */
bool enrol_slot_take_gallery_changed(struct enrol_slot *s);

#endif
