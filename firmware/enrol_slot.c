#include "firmware/enrol_slot.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum slot_phase { SLOT_EMPTY, SLOT_ASKED, SLOT_ANSWERED };

struct enrol_slot {
	pthread_mutex_t lock;
	enum slot_phase phase;
	uint32_t req, next_req, track;
	int rc;
	uint32_t frames;
	float vec[FACE_DLIB_DIM];
	bool gallery_changed;
};

int enrol_slot_new(struct enrol_slot **ret)
{
	struct enrol_slot *s = calloc(1, sizeof(*s));

	*ret = NULL;
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->next_req = 1;
	*ret = s;
	return 0;
}

void enrol_slot_free(struct enrol_slot *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

uint32_t enrol_slot_ask(struct enrol_slot *s, uint32_t track)
{
	uint32_t req;

	if (!s || !track)
		return 0;
	pthread_mutex_lock(&s->lock);
	req = s->next_req++;
	if (!s->next_req)
		s->next_req = 1; /* 0 means "no request" */
	s->req = req;
	s->track = track;
	s->phase = SLOT_ASKED;
	s->rc = 0;
	s->frames = 0;
	pthread_mutex_unlock(&s->lock);
	return req;
}

void enrol_slot_cancel(struct enrol_slot *s, uint32_t req)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->phase != SLOT_EMPTY && s->req == req) {
		s->phase = SLOT_EMPTY;
		memset(s->vec, 0, sizeof(s->vec));
	}
	pthread_mutex_unlock(&s->lock);
}

int enrol_slot_pending(struct enrol_slot *s, uint32_t *req, uint32_t *track)
{
	int open;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	open = s->phase == SLOT_ASKED;
	if (open) {
		*req = s->req;
		*track = s->track;
	}
	pthread_mutex_unlock(&s->lock);
	return open;
}

bool enrol_slot_answer(struct enrol_slot *s, uint32_t req, int rc, const float *vec,
		       uint32_t frames)
{
	bool taken;

	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	taken = s->phase == SLOT_ASKED && s->req == req && (rc < 0 || vec);
	if (taken) {
		s->phase = SLOT_ANSWERED;
		s->rc = rc < 0 ? rc : 0;
		s->frames = rc < 0 ? 0 : frames;
		if (rc >= 0)
			memcpy(s->vec, vec, sizeof(s->vec));
	}
	pthread_mutex_unlock(&s->lock);
	return taken;
}

int enrol_slot_take(struct enrol_slot *s, uint32_t req, int *ret_rc, float vec[FACE_DLIB_DIM],
		    uint32_t *ret_frames)
{
	int rc;

	if (!s || !req)
		return -ENOENT;
	pthread_mutex_lock(&s->lock);
	if (s->phase == SLOT_EMPTY || s->req != req) {
		rc = -ENOENT;
	} else if (s->phase == SLOT_ASKED) {
		rc = 0;
	} else {
		*ret_rc = s->rc;
		if (s->rc == 0) {
			memcpy(vec, s->vec, sizeof(s->vec));
			if (ret_frames)
				*ret_frames = s->frames;
		}
		/* the descriptor is biometric data: no copy stays behind */
		memset(s->vec, 0, sizeof(s->vec));
		s->phase = SLOT_EMPTY;
		rc = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void enrol_slot_gallery_changed(struct enrol_slot *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->gallery_changed = true;
	pthread_mutex_unlock(&s->lock);
}

bool enrol_slot_take_gallery_changed(struct enrol_slot *s)
{
	bool changed;

	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	changed = s->gallery_changed;
	s->gallery_changed = false;
	pthread_mutex_unlock(&s->lock);
	return changed;
}
