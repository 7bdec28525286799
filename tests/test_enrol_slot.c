/*
 * test_enrol_slot — the kiosk enrolment hand-off between the conversation
 * stage and the face stage: one open request, answers matched to it, stale
 * answers dropped, no descriptor left behind, the gallery flag, and two
 * threads at it at once.
 */
#include "tests/test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "firmware/enrol_slot.h"

static void fill(float *v, float x)
{
	for (int i = 0; i < FACE_DLIB_DIM; i++)
		v[i] = x + (float)i / 1000.0f;
}

TEST(ask_answer_take)
{
	struct enrol_slot *s;
	float vec[FACE_DLIB_DIM], got[FACE_DLIB_DIM];
	uint32_t req, r, track, frames = 0;
	int rc = 1;

	ASSERT_EQ(enrol_slot_new(&s), 0);
	ASSERT_EQ(enrol_slot_pending(s, &r, &track), 0);
	req = enrol_slot_ask(s, 7);
	ASSERT(req >= 1);
	ASSERT_EQ(enrol_slot_pending(s, &r, &track), 1);
	ASSERT_EQ(r, req);
	ASSERT_EQ(track, 7);
	ASSERT_EQ(enrol_slot_take(s, req, &rc, got, &frames), 0); /* not yet */
	fill(vec, 0.5f);
	ASSERT(enrol_slot_answer(s, req, 0, vec, 3));
	ASSERT_EQ(enrol_slot_pending(s, &r, &track), 0); /* answered: not open any more */
	ASSERT(!enrol_slot_answer(s, req, 0, vec, 3));	 /* only once */
	ASSERT_EQ(enrol_slot_take(s, req, &rc, got, &frames), 1);
	ASSERT_EQ(rc, 0);
	ASSERT_EQ(frames, 3);
	ASSERT(memcmp(got, vec, sizeof(vec)) == 0);
	ASSERT_EQ(enrol_slot_take(s, req, &rc, got, &frames), -ENOENT); /* taken */
	enrol_slot_free(s);
}

TEST(a_failed_answer_carries_its_errno)
{
	struct enrol_slot *s;
	float got[FACE_DLIB_DIM];
	uint32_t req, frames = 9;
	int rc = 0;

	ASSERT_EQ(enrol_slot_new(&s), 0);
	req = enrol_slot_ask(s, 3);
	ASSERT(enrol_slot_answer(s, req, -ENOENT, NULL, 0));
	ASSERT_EQ(enrol_slot_take(s, req, &rc, got, &frames), 1);
	ASSERT_EQ(rc, -ENOENT);
	ASSERT_EQ(frames, 9); /* untouched on failure */
	/* A success without a descriptor is not an answer. */
	req = enrol_slot_ask(s, 3);
	ASSERT(!enrol_slot_answer(s, req, 0, NULL, 2));
	ASSERT_EQ(enrol_slot_take(s, req, &rc, got, &frames), 0);
	enrol_slot_free(s);
}

TEST(a_new_request_replaces_the_old_and_stale_answers_are_dropped)
{
	struct enrol_slot *s;
	float vec[FACE_DLIB_DIM], got[FACE_DLIB_DIM];
	uint32_t a, b, r, track;
	int rc;

	ASSERT_EQ(enrol_slot_new(&s), 0);
	fill(vec, 1.0f);
	a = enrol_slot_ask(s, 1);
	b = enrol_slot_ask(s, 2);
	ASSERT(a != b);
	ASSERT(!enrol_slot_answer(s, a, 0, vec, 1)); /* for the old request */
	ASSERT_EQ(enrol_slot_take(s, a, &rc, got, NULL), -ENOENT);
	ASSERT_EQ(enrol_slot_pending(s, &r, &track), 1);
	ASSERT_EQ(track, 2);
	/* Cancelled: the face stage's late answer goes nowhere. */
	enrol_slot_cancel(s, b);
	ASSERT_EQ(enrol_slot_pending(s, &r, &track), 0);
	ASSERT(!enrol_slot_answer(s, b, 0, vec, 1));
	ASSERT_EQ(enrol_slot_take(s, b, &rc, got, NULL), -ENOENT);
	/* Cancelling an old id leaves the current request alone. */
	b = enrol_slot_ask(s, 4);
	enrol_slot_cancel(s, a);
	ASSERT_EQ(enrol_slot_pending(s, &r, &track), 1);
	/* Bad input. */
	ASSERT_EQ(enrol_slot_ask(s, 0), 0);
	ASSERT_EQ(enrol_slot_ask(NULL, 1), 0);
	ASSERT_EQ(enrol_slot_take(s, 0, &rc, got, NULL), -ENOENT);
	ASSERT_EQ(enrol_slot_pending(NULL, &r, &track), 0);
	enrol_slot_free(s);
	enrol_slot_free(NULL);
}

TEST(the_gallery_flag_is_taken_once)
{
	struct enrol_slot *s;

	ASSERT_EQ(enrol_slot_new(&s), 0);
	ASSERT(!enrol_slot_take_gallery_changed(s));
	enrol_slot_gallery_changed(s);
	enrol_slot_gallery_changed(s);
	ASSERT(enrol_slot_take_gallery_changed(s));
	ASSERT(!enrol_slot_take_gallery_changed(s));
	enrol_slot_free(s);
}

/* The face stage in a thread answering whatever is open, as fast as it can. */
struct face_side {
	struct enrol_slot *s;
	atomic_int stop;
	unsigned answered;
};

static void *face_thread(void *arg)
{
	struct face_side *f = arg;
	float vec[FACE_DLIB_DIM];

	while (!f->stop) {
		uint32_t req, track;

		if (enrol_slot_pending(f->s, &req, &track) != 1)
			continue;
		/* The descriptor says which track it came from. */
		fill(vec, (float)track);
		if (enrol_slot_answer(f->s, req, 0, vec, track))
			f->answered++;
	}
	return NULL;
}

TEST(two_threads_never_mix_up_requests)
{
	struct face_side f = {0};
	pthread_t th;
	unsigned done = 0;

	ASSERT_EQ(enrol_slot_new(&f.s), 0);
	ASSERT_EQ(pthread_create(&th, NULL, face_thread, &f), 0);
	for (uint32_t i = 1; i <= 2000; i++) {
		uint32_t track = 1 + i % 13, frames = 0, req = enrol_slot_ask(f.s, track);
		float got[FACE_DLIB_DIM];
		int rc, r;

		if (i % 5 == 0) {
			enrol_slot_cancel(f.s, req);
			continue;
		}
		while ((r = enrol_slot_take(f.s, req, &rc, got, &frames)) == 0)
			;
		ASSERT_EQ(r, 1);
		ASSERT_EQ(rc, 0);
		ASSERT_EQ(frames, track);
		ASSERT(got[0] == (float)track);
		done++;
	}
	f.stop = 1;
	pthread_join(th, NULL);
	ASSERT_EQ(done, 1600);
	ASSERT(f.answered >= done);
	enrol_slot_free(f.s);
}
