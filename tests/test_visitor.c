#include "tests/test.h"
#include "agent/visitor.h"

#include <errno.h>

#define MS 1000000ull

static struct visitor_tracker *t;
static struct visitor_output out[8];

static void setup(void)
{
	struct visitor_params p;

	visitor_tracker_free(t);
	visitor_params_default(&p);
	p.identify_wait_ms = 700;
	p.face_gone_ms = 3000;
	p.input_gone_ms = 20000;
	visitor_tracker_new(&p, &t);
}

static int in(enum visitor_input_kind kind, uint64_t ms, int64_t customer, double distance)
{
	struct visitor_input i = {.kind = kind,
				  .ts_ns = ms * MS,
				  .customer_id = customer,
				  .distance = distance,
				  .margin = 0.1,
				  .track = 1};

	return visitor_input(t, &i, out, 8);
}

static int tick(uint64_t ms)
{
	return visitor_tick(t, ms * MS, out, 8);
}

TEST(face_recognised_customer_arrives_with_a_name_within_a_second)
{
	setup();
	ASSERT_EQ(in(VISITOR_IN_FACE_SEEN, 1000, 0, 0), 0);
	ASSERT_EQ(tick(1300), 0); /* waiting for the face decision */
	ASSERT_EQ(in(VISITOR_IN_FACE_IDENTIFIED, 1500, 42, 0.35), 1);
	ASSERT_EQ(out[0].kind, VISITOR_OUT_ARRIVED);
	ASSERT_EQ(out[0].customer_id, 42);
	ASSERT_STREQ(out[0].how, "face");
	ASSERT(out[0].confidence > 0.6 && out[0].confidence < 0.8);
	ASSERT(visitor_present(t));
}

TEST(anonymous_arrival_after_the_wait_then_identified)
{
	setup();
	in(VISITOR_IN_FACE_SEEN, 1000, 0, 0);
	ASSERT_EQ(tick(1600), 0);
	ASSERT_EQ(tick(1700), 1);
	ASSERT_EQ(out[0].kind, VISITOR_OUT_ARRIVED);
	ASSERT_EQ(out[0].customer_id, 0);
	ASSERT_STREQ(out[0].how, "camera");
	/* the face decision comes late: the visitor is now known */
	ASSERT_EQ(in(VISITOR_IN_FACE_IDENTIFIED, 2200, 7, 0.4), 1);
	ASSERT_EQ(out[0].kind, VISITOR_OUT_IDENTIFIED);
	ASSERT_EQ(out[0].customer_id, 7);
	/* an unknown face stays anonymous: no second identification */
	setup();
	in(VISITOR_IN_FACE_SEEN, 0, 0, 0);
	ASSERT_EQ(in(VISITOR_IN_FACE_IDENTIFIED, 300, 0, 0.9), 1);
	ASSERT_EQ(out[0].customer_id, 0);
	ASSERT_EQ(in(VISITOR_IN_FACE_IDENTIFIED, 400, 0, 0.9), 0);
}

TEST(app_and_face_agree_or_conflict)
{
	setup();
	ASSERT_EQ(in(VISITOR_IN_APPROACH, 0, 42, 0), 1); /* app known, no face pending */
	ASSERT_STREQ(out[0].how, "app");
	ASSERT_EQ(out[0].customer_id, 42);
	setup();
	in(VISITOR_IN_FACE_SEEN, 0, 0, 0);
	ASSERT_EQ(in(VISITOR_IN_APPROACH, 100, 42, 0), 0); /* waits for the face */
	ASSERT_EQ(in(VISITOR_IN_FACE_IDENTIFIED, 300, 42, 0.3), 1);
	ASSERT_STREQ(out[0].how, "face+app");
	ASSERT(out[0].confidence > 0.8);
	setup();
	in(VISITOR_IN_APPROACH, 0, 42, 0);
	ASSERT_EQ(out[0].customer_id, 42);
	setup();
	in(VISITOR_IN_FACE_SEEN, 0, 0, 0);
	in(VISITOR_IN_APPROACH, 100, 42, 0);
	ASSERT_EQ(in(VISITOR_IN_FACE_IDENTIFIED, 300, 9, 0.3), 2);
	ASSERT_EQ(out[0].kind, VISITOR_OUT_ARRIVED);
	ASSERT_EQ(out[0].customer_id, 0); /* a borrowed phone or a look-alike: ask, do not guess */
	ASSERT_EQ(out[1].kind, VISITOR_OUT_CONFLICT);
	ASSERT_EQ(out[1].customer_id, 9);
	ASSERT_EQ(out[1].other_customer_id, 42);
}

TEST(leaves_only_when_every_signal_is_gone)
{
	setup();
	in(VISITOR_IN_APPROACH, 0, 42, 0);
	in(VISITOR_IN_FACE_SEEN, 100, 0, 0);
	ASSERT_EQ(in(VISITOR_IN_BEACON_LEAVE, 5000, 0, 0), 0);
	ASSERT_EQ(tick(6000), 0); /* the camera still sees them */
	in(VISITOR_IN_FACE_GONE, 7000, 0, 0);
	ASSERT_EQ(tick(9000), 0); /* face gone for 2 s < 3 s */
	ASSERT_EQ(tick(10000), 1);
	ASSERT_EQ(out[0].kind, VISITOR_OUT_LEFT);
	ASSERT_EQ(out[0].customer_id, 42);
	ASSERT(!visitor_present(t));
	/* and a kiosk typist keeps the visit alive until input stops */
	setup();
	ASSERT_EQ(in(VISITOR_IN_KIOSK_INPUT, 0, 0, 0), 0);
	ASSERT_EQ(tick(800), 1);
	ASSERT_STREQ(out[0].how, "kiosk");
	ASSERT_EQ(tick(15000), 0);
	in(VISITOR_IN_KIOSK_INPUT, 15000, 0, 0);
	ASSERT_EQ(tick(30000), 0);
	ASSERT_EQ(tick(35001), 1);
}

TEST(passing_glance_never_arrives)
{
	setup();
	/* a face for 200 ms, gone before the wait is over and never decided */
	in(VISITOR_IN_FACE_SEEN, 0, 0, 0);
	in(VISITOR_IN_FACE_GONE, 200, 0, 0);
	ASSERT_EQ(tick(600), 0);
	ASSERT_EQ(tick(4000), 0);
	ASSERT(!visitor_present(t));
	/* bad calls */
	struct visitor_input bad = {.kind = (enum visitor_input_kind)99};
	ASSERT_EQ(visitor_input(t, &bad, out, 8), -EINVAL);
	ASSERT_EQ(visitor_tick(t, 0, out, 1), -EINVAL);
	visitor_tracker_free(t);
	t = NULL;
}

TEST(the_visitors_face_track_is_known_while_the_camera_sees_them)
{
	setup();
	ASSERT_EQ(visitor_face_track(t), 0);
	in(VISITOR_IN_FACE_SEEN, 1000, 0, 0);
	ASSERT_EQ(visitor_face_track(t), 0); /* not arrived yet */
	tick(1700);
	ASSERT(visitor_present(t));
	ASSERT_EQ(visitor_face_track(t), 1); /* the track to enrol from */
	ASSERT_EQ(visitor_face_customer(t), 0);
	ASSERT_EQ(in(VISITOR_IN_FACE_IDENTIFIED, 2000, 9, 0.3), 1);
	ASSERT_EQ(visitor_face_customer(t), 9);
	in(VISITOR_IN_FACE_GONE, 2500, 0, 0);
	ASSERT_EQ(visitor_face_track(t), 0); /* looked away: nothing to enrol */
	/* someone typing with no camera: no track */
	setup();
	in(VISITOR_IN_KIOSK_INPUT, 1000, 0, 0);
	tick(1800);
	ASSERT(visitor_present(t));
	ASSERT_EQ(visitor_face_track(t), 0);
}
