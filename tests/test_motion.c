#include "tests/test.h"
#include "firmware/motion.h"

#include <errno.h>
#include <stdlib.h>

#define W 160
#define H 120

static uint8_t pixels[W * H * 3];

static struct camera_frame frame(uint64_t ts)
{
	struct camera_frame f = {
	    .ts_ns = ts,
	    .width = W,
	    .height = H,
	    .stride = W * 3,
	    .bytes = sizeof(pixels),
	    .capacity = sizeof(pixels),
	    .data = pixels,
	};
	return f;
}

/* A grey scene with sensor noise, and a dark 60x60 square (someone close
 * to the camera) at (x, y) when x >= 0. */
static void draw(int x, int y, unsigned seed)
{
	srand(seed);
	for (int i = 0; i < W * H; i++) {
		uint8_t v = (uint8_t)(120 + rand() % 9 - 4);
		pixels[i * 3] = pixels[i * 3 + 1] = pixels[i * 3 + 2] = v;
	}
	if (x < 0)
		return;
	for (int yy = y; yy < y + 60 && yy < H; yy++)
		for (int xx = x; xx < x + 60 && xx < W; xx++)
			pixels[(yy * W + xx) * 3] = pixels[(yy * W + xx) * 3 + 1] =
			    pixels[(yy * W + xx) * 3 + 2] = 20;
}

TEST(noise_alone_is_not_motion)
{
	struct motion_params p;
	struct motion m;
	struct camera_frame f;
	struct event ev;

	motion_params_default(&p);
	motion_init(&m, &p);
	for (unsigned i = 0; i < 50; i++) {
		draw(-1, 0, i);
		f = frame(i);
		ASSERT_EQ(motion_frame(&m, &f, &ev), 0);
	}
	ASSERT(!m.moving);
}

TEST(moving_object_starts_then_stops_motion_once)
{
	struct motion_params p;
	struct motion m;
	struct camera_frame f;
	struct event ev;
	int starts = 0, stops = 0, rc;

	motion_params_default(&p);
	motion_init(&m, &p);
	for (unsigned i = 0; i < 60; i++) {
		/* a square walks across for 20 frames, then the scene is still */
		if (i >= 10 && i < 30)
			draw((int)(i - 10) * 8, 30, i);
		else
			draw(i < 10 ? -1 : 152, 30, i);
		f = frame(i);
		rc = motion_frame(&m, &f, &ev);
		ASSERT(rc >= 0);
		if (rc == 1 && ev.kind == EVENT_MOTION_START) {
			starts++;
			ASSERT(i >= 11 && i <= 13);
			ASSERT(ev.u.motion.score > 0.04f);
		}
		if (rc == 1 && ev.kind == EVENT_MOTION_STOP)
			stops++;
	}
	ASSERT_EQ(starts, 1);
	ASSERT_EQ(stops, 1);
	ASSERT(!m.moving);
}

TEST(bad_frames_are_refused)
{
	struct motion_params p;
	struct motion m;
	struct camera_frame f = frame(0);
	struct event ev;

	motion_params_default(&p);
	motion_init(&m, &p);
	f.stride = 10;
	ASSERT_EQ(motion_frame(&m, &f, &ev), -EINVAL);
	f = frame(0);
	f.bytes = 100;
	ASSERT_EQ(motion_frame(&m, &f, &ev), -EINVAL);
	f = frame(0);
	f.data = NULL;
	ASSERT_EQ(motion_frame(&m, &f, &ev), -EINVAL);
	f = frame(0);
	f.width = 8;
	ASSERT_EQ(motion_frame(&m, &f, &ev), -EINVAL);
}
