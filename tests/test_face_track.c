/*
 * test_face_track — the tracker, the quality gate and the [faces] config,
 * driven by a fake engine (scripted boxes, one synthetic descriptor per
 * "person") on synthetic frames: no dlib, so every case runs in
 * microseconds. The dlib engine itself is exercised in test_face_dlib.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/face_track.h"
#include "firmware/config.h"
#include "test.h"

#define W 640
#define H 480

/* ---- the fake engine ---------------------------------------------------- */

struct person {
	int32_t x0, x1; /* a box whose centre x is in [x0, x1) is this person */
	float vec[FACE_DLIB_DIM];
};

struct fake {
	struct face_box boxes[64];
	int n;	       /* detect returns these (or more: n > 64 is reported) */
	int reported;  /* when > n: the count detect claims (over the limit) */
	int detect_rc; /* < 0: detect fails with it */
	int embed_rc;  /* < 0: embed fails with it */
	int detects, nears, embeds;
	int32_t last_cx; /* centre x of the last box embedded */
	struct person persons[8];
	int np;
};

static int fake_detect(void *ctx, const struct camera_frame *f, struct face_box *boxes, size_t max)
{
	struct fake *k = ctx;

	(void)f;
	k->detects++;
	if (k->detect_rc < 0)
		return k->detect_rc;
	for (int i = 0; i < k->n && (size_t)i < max; i++)
		boxes[i] = k->boxes[i];
	return k->reported > k->n ? k->reported : k->n;
}

static int fake_embed(void *ctx, const struct camera_frame *f, const struct face_box *box,
		      float ret[FACE_DLIB_DIM])
{
	struct fake *k = ctx;
	int32_t cx = box->left + box->width / 2;

	(void)f;
	k->embeds++;
	k->last_cx = cx;
	if (k->embed_rc < 0)
		return k->embed_rc;
	memset(ret, 0, sizeof(float) * FACE_DLIB_DIM);
	ret[127] = 5.0f; /* nobody */
	for (int i = 0; i < k->np; i++)
		if (cx >= k->persons[i].x0 && cx < k->persons[i].x1)
			memcpy(ret, k->persons[i].vec, sizeof(float) * FACE_DLIB_DIM);
	/* A little frame-to-frame noise, as a real network gives. */
	ret[100 + k->embeds % 8] += 0.02f;
	return 0;
}

static const char *fake_errmsg(void *ctx)
{
	(void)ctx;
	return "fake engine says no";
}

/* Like a real search around a track: the scripted boxes whose centre lies
 * in near grown by half its size on every side. */
static int fake_detect_near(void *ctx, const struct camera_frame *f, const struct face_box *near,
			    struct face_box *boxes, size_t max)
{
	struct fake *k = ctx;
	const int32_t pad = near->width / 2;
	int n = 0;

	(void)f;
	k->nears++;
	if (k->detect_rc < 0)
		return k->detect_rc;
	for (int i = 0; i < k->n; i++) {
		int32_t cx = k->boxes[i].left + k->boxes[i].width / 2;
		int32_t cy = k->boxes[i].top + k->boxes[i].height / 2;

		if (cx >= near->left - pad && cx < near->left + near->width + pad &&
		    cy >= near->top - pad && cy < near->top + near->height + pad) {
			if ((size_t)n < max)
				boxes[n] = k->boxes[i];
			n++;
		}
	}
	return n;
}

static const struct face_track_engine fake_engine_near = {
    .detect = fake_detect,
    .detect_near = fake_detect_near,
    .embed = fake_embed,
    .errmsg = fake_errmsg,
};

static const struct face_track_engine fake_engine = {
    .detect = fake_detect,
    .embed = fake_embed,
    .errmsg = fake_errmsg,
};

static void set_person(struct fake *k, int32_t x0, int32_t x1, int axis, float shift)
{
	struct person *p = &k->persons[k->np++];

	memset(p, 0, sizeof(*p));
	p->x0 = x0;
	p->x1 = x1;
	p->vec[axis] = 1.0f;
	p->vec[axis + 1] = shift;
}

static struct face_box box(int32_t l, int32_t t, int32_t side)
{
	return (struct face_box){.left = l, .top = t, .width = side, .height = side, .score = 1};
}

/* ---- frames ------------------------------------------------------------- */

static uint8_t pixels[W * H * 3];

/* A sharp frame (4-px checkerboard) or a flat grey one, at ts_ms. */
static struct camera_frame frame(uint64_t ts_ms, bool sharp)
{
	struct camera_frame f = {.ts_ns = ts_ms * 1000000ull,
				 .width = W,
				 .height = H,
				 .stride = W * 3,
				 .bytes = sizeof(pixels),
				 .capacity = sizeof(pixels),
				 .data = pixels};

	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint8_t v = sharp ? (((x / 4) + (y / 4)) % 2 ? 200 : 40) : 128;
			memset(&pixels[(y * W + x) * 3], v, 3);
		}
	return f;
}

/* ---- helpers ------------------------------------------------------------ */

static struct face_match *gallery_of(int64_t id1, int axis1, int64_t id2, int axis2)
{
	struct face_match_params p;
	struct face_match *m = NULL;
	float v[FACE_DLIB_DIM];
	char err[256];

	face_match_params_default(&p);
	if (face_match_new(&p, &m, err, sizeof(err)) < 0)
		return NULL;
	if (id1) {
		memset(v, 0, sizeof(v));
		v[axis1] = 1.0f;
		face_match_add(m, id1, v);
	}
	if (id2) {
		memset(v, 0, sizeof(v));
		v[axis2] = 1.0f;
		face_match_add(m, id2, v);
	}
	return m;
}

static struct face_track *tracker(struct fake *k, const struct face_match *g,
				  void (*tweak)(struct face_track_params *))
{
	struct face_track_params p;
	struct face_track *t = NULL;
	char err[256];

	face_track_params_default(&p);
	if (tweak)
		tweak(&p);
	if (face_track_new(&p, &fake_engine, k, g, &t, err, sizeof(err)) < 0)
		printf("    face_track_new: %s\n", err);
	return t;
}

/* Drains the queue into evs (up to max); returns how many. */
static int drain(struct face_track *t, struct face_track_event *evs, int max)
{
	struct face_track_event ev;
	int n = 0;

	while (face_track_next_event(t, &ev) == 1)
		if (n < max)
			evs[n++] = ev;
	return n;
}

/* ---- cases -------------------------------------------------------------- */

TEST(one_face_is_embedded_decide_frames_times_then_named)
{
	struct fake k = {0};
	struct face_match *g = gallery_of(42, 10, 0, 0);
	struct face_track *t;
	struct face_track_event ev[16];
	struct camera_frame f;
	int n;

	ASSERT(g);
	set_person(&k, 0, W, 10, 0.0f);
	t = tracker(&k, g, NULL);
	ASSERT(t);
	k.n = 1;
	k.boxes[0] = box(200, 100, 120);

	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 16), 1);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_STARTED);
	ASSERT_EQ(ev[0].track_id, 1);
	ASSERT_EQ(ev[0].box.left, 200);
	ASSERT_EQ(k.embeds, 1);

	f = frame(1200, true);
	ASSERT_EQ(face_track_frame(t, &f), 0);
	ASSERT_EQ(k.embeds, 2);
	f = frame(1400, true);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 16), 1);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_IDENTITY);
	ASSERT_EQ(ev[0].verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(ev[0].customer_id, 42);
	ASSERT_EQ(ev[0].frames_used, 3);
	ASSERT_EQ(ev[0].votes, 3);
	ASSERT(ev[0].distance < 0.1f);
	ASSERT(isinf(ev[0].margin));
	ASSERT_EQ(k.embeds, 3);

	/* Decided: no network runs until the re-check is due (2 s). */
	for (n = 0; n < 5; n++) {
		f = frame(1600 + 200 * (uint64_t)n, true);
		ASSERT_EQ(face_track_frame(t, &f), 0);
	}
	ASSERT_EQ(k.embeds, 3);
	ASSERT_EQ(k.detects, 8);
	face_track_free(t);
	face_match_free(g);
}

TEST(a_moving_face_keeps_its_track)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_event ev[16];
	struct camera_frame f;

	ASSERT(t);
	set_person(&k, 0, W, 10, 0.0f);
	k.n = 1;
	for (int i = 0; i < 10; i++) {
		k.boxes[0] = box(100 + 15 * i, 100 + 5 * i, 100 + 2 * i);
		f = frame(1000 + 200 * (uint64_t)i, true);
		ASSERT(face_track_frame(t, &f) >= 0);
	}
	int n = drain(t, ev, 16);
	ASSERT_EQ(n, 2); /* started, then identity (anonymous: no gallery) */
	ASSERT_EQ(ev[0].kind, FACE_TRACK_STARTED);
	ASSERT_EQ(ev[1].kind, FACE_TRACK_IDENTITY);
	ASSERT_EQ(ev[1].track_id, 1);
	ASSERT_EQ(ev[1].verdict, FACE_MATCH_UNKNOWN);
	ASSERT_EQ(ev[1].customer_id, 0);
	ASSERT_EQ(face_track_live(t), 1);
	face_track_free(t);
}

TEST(a_face_gone_for_lost_ms_ends_its_track)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_event ev[16];
	struct camera_frame f;

	ASSERT(t);
	k.n = 1;
	k.boxes[0] = box(100, 100, 100);
	for (int i = 0; i < 4; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	drain(t, ev, 16);
	k.n = 0;
	f = frame(2000, true); /* 1.7 s after the last sighting at 1.3 s: not yet */
	ASSERT_EQ(face_track_frame(t, &f), 0);
	f = frame(2800, true); /* 1.5 s: gone */
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 16), 1);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_ENDED);
	ASSERT_EQ(ev[0].track_id, 1);
	ASSERT_EQ(ev[0].frames_seen, 4);
	ASSERT_EQ(ev[0].duration_ns, 300000000ull);
	ASSERT_EQ(ev[0].ts_ns, 2800000000ull);
	ASSERT_EQ(face_track_live(t), 0);

	/* The same place later is a new track with a new id. */
	k.n = 1;
	f = frame(3000, true);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 16), 1);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_STARTED);
	ASSERT_EQ(ev[0].track_id, 2);
	face_track_free(t);
}

TEST(recheck_embeds_again_and_stays_quiet_when_unchanged)
{
	struct fake k = {0};
	struct face_match *g = gallery_of(42, 10, 0, 0);
	struct face_track *t;
	struct face_track_event ev[16];
	struct face_track_stats st;
	struct camera_frame f;

	ASSERT(g);
	t = tracker(&k, g, NULL);
	ASSERT(t);
	set_person(&k, 0, W, 10, 0.0f);
	k.n = 1;
	k.boxes[0] = box(200, 100, 120);
	for (int i = 0; i < 3; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	drain(t, ev, 16);
	ASSERT_EQ(k.embeds, 3);
	f = frame(3100, true); /* last descriptor at 1.2 s: 1.9 s ago */
	ASSERT_EQ(face_track_frame(t, &f), 0);
	ASSERT_EQ(k.embeds, 3);
	f = frame(3200, true); /* 2.0 s: re-check */
	ASSERT_EQ(face_track_frame(t, &f), 0);
	ASSERT_EQ(k.embeds, 4);
	f = frame(3300, true);
	ASSERT_EQ(face_track_frame(t, &f), 0);
	ASSERT_EQ(k.embeds, 4);
	face_track_stats(t, &st);
	ASSERT_EQ(st.decisions, 1);
	ASSERT_EQ(st.swaps, 0);
	face_track_free(t);
	face_match_free(g);
}

static void no_recheck(struct face_track_params *p)
{
	p->recheck_ms = 0;
}

TEST(recheck_zero_never_rechecks)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, no_recheck);
	struct camera_frame f;

	ASSERT(t);
	k.n = 1;
	k.boxes[0] = box(200, 100, 120);
	for (int i = 0; i < 100; i++) {
		f = frame(1000 + 500 * (uint64_t)i, true);
		face_track_frame(t, &f);
		struct face_track_event ev;
		while (face_track_next_event(t, &ev) == 1)
			;
	}
	ASSERT_EQ(k.embeds, 3);
	face_track_free(t);
}

TEST(someone_else_in_the_box_ends_the_track)
{
	struct fake k = {0};
	struct face_match *g = gallery_of(42, 10, 43, 20);
	struct face_track *t;
	struct face_track_event ev[16];
	struct face_track_stats st;
	struct camera_frame f;
	int n;

	ASSERT(g);
	t = tracker(&k, g, NULL);
	ASSERT(t);
	set_person(&k, 0, W, 10, 0.0f);
	k.n = 1;
	k.boxes[0] = box(200, 100, 120);
	for (int i = 0; i < 3; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	n = drain(t, ev, 16);
	ASSERT_EQ(n, 2);
	ASSERT_EQ(ev[1].customer_id, 42);

	/* Customer 43 takes the very same spot between two frames. */
	k.persons[0].vec[10] = 0.0f;
	k.persons[0].vec[20] = 1.0f;
	f = frame(3300, true);
	ASSERT_EQ(face_track_frame(t, &f), 2);
	n = drain(t, ev, 16);
	ASSERT_EQ(n, 2);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_ENDED);
	ASSERT_EQ(ev[0].track_id, 1);
	ASSERT_EQ(ev[1].kind, FACE_TRACK_STARTED);
	ASSERT_EQ(ev[1].track_id, 2);
	face_track_stats(t, &st);
	ASSERT_EQ(st.swaps, 1);
	ASSERT_EQ(k.embeds, 4); /* one frame gives one descriptor, even after a swap */

	/* The new track collects its own descriptors (the swap's one counts). */
	for (int i = 0; i < 2; i++) {
		f = frame(3400 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	n = drain(t, ev, 16);
	ASSERT_EQ(n, 1);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_IDENTITY);
	ASSERT_EQ(ev[0].track_id, 2);
	ASSERT_EQ(ev[0].customer_id, 43);
	ASSERT_EQ(k.embeds, 6);
	face_track_free(t);
	face_match_free(g);
}

TEST(identity_changes_after_gallery_reload_at_recheck)
{
	struct fake k = {0};
	struct face_match *g = gallery_of(42, 10, 0, 0);
	struct face_match *g2 = gallery_of(42, 10, 77, 30);
	struct face_track *t;
	struct face_track_event ev[16];
	struct camera_frame f;

	ASSERT(g && g2);
	t = tracker(&k, g, NULL);
	ASSERT(t);
	set_person(&k, 0, W, 30, 0.0f); /* not enrolled yet */
	k.n = 1;
	k.boxes[0] = box(200, 100, 120);
	for (int i = 0; i < 3; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	ASSERT_EQ(drain(t, ev, 16), 2);
	ASSERT_EQ(ev[1].verdict, FACE_MATCH_UNKNOWN);
	/* The visitor enrols at the kiosk; the stage reloads its gallery. */
	face_track_set_gallery(t, g2);
	f = frame(3300, true);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 16), 1);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_IDENTITY);
	ASSERT_EQ(ev[0].track_id, 1);
	ASSERT_EQ(ev[0].verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(ev[0].customer_id, 77);
	face_track_free(t);
	face_match_free(g);
	face_match_free(g2);
}

/* Three descriptors whose mean sits on customer 42 while only one of them
 * is close to it: the frames disagree, nobody is named. */
struct alternating {
	struct fake k;
	int call;
};

static int alt_embed(void *ctx, const struct camera_frame *f, const struct face_box *b,
		     float ret[FACE_DLIB_DIM])
{
	struct alternating *a = ctx;

	(void)f;
	(void)b;
	memset(ret, 0, sizeof(float) * FACE_DLIB_DIM);
	ret[10] = 1.0f;
	ret[50] = a->call == 1 ? 0.9f : a->call == 2 ? -0.9f : 0.0f;
	a->call++;
	return 0;
}

static int alt_detect(void *ctx, const struct camera_frame *f, struct face_box *boxes, size_t max)
{
	struct alternating *a = ctx;

	return fake_detect(&a->k, f, boxes, max);
}

TEST(the_frames_must_agree_not_just_their_mean)
{
	static const struct face_track_engine alt_engine = {.detect = alt_detect,
							    .embed = alt_embed};
	struct alternating a = {0};
	struct face_match *g = gallery_of(42, 10, 0, 0);
	struct face_track_params p;
	struct face_track *t = NULL;
	struct face_track_event ev[16];
	struct camera_frame f;
	char err[256];

	ASSERT(g);
	face_track_params_default(&p);
	ASSERT_EQ(face_track_new(&p, &alt_engine, &a, g, &t, err, sizeof(err)), 0);
	a.k.n = 1;
	a.k.boxes[0] = box(200, 100, 120);
	for (int i = 0; i < 3; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	ASSERT_EQ(drain(t, ev, 16), 2);
	ASSERT_EQ(ev[1].kind, FACE_TRACK_IDENTITY);
	ASSERT(ev[1].distance < 0.01f); /* the mean is spot on */
	ASSERT_EQ(ev[1].votes, 1);
	ASSERT_EQ(ev[1].verdict, FACE_MATCH_AMBIGUOUS);
	ASSERT_EQ(ev[1].customer_id, 0);
	face_track_free(t);
	face_match_free(g);
}

TEST(two_lookalikes_in_the_gallery_stay_anonymous)
{
	struct fake k = {0};
	struct face_match_params mp;
	struct face_match *g = NULL;
	struct face_track *t;
	struct face_track_event ev[16];
	struct camera_frame f;
	float v[FACE_DLIB_DIM] = {0};
	char err[256];

	face_match_params_default(&mp);
	ASSERT_EQ(face_match_new(&mp, &g, err, sizeof(err)), 0);
	v[10] = 1.0f;
	ASSERT_EQ(face_match_add(g, 1, v), 0);
	v[11] = 0.02f;
	ASSERT_EQ(face_match_add(g, 2, v), 0);
	t = tracker(&k, g, NULL);
	ASSERT(t);
	set_person(&k, 0, W, 10, 0.0f);
	k.n = 1;
	k.boxes[0] = box(200, 100, 120);
	for (int i = 0; i < 3; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	ASSERT_EQ(drain(t, ev, 16), 2);
	ASSERT_EQ(ev[1].verdict, FACE_MATCH_AMBIGUOUS);
	ASSERT_EQ(ev[1].customer_id, 0);
	ASSERT(ev[1].margin < 0.05f);
	face_track_free(t);
	face_match_free(g);
}

TEST(quality_gate_keeps_small_blurred_and_cut_faces_out)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_stats st;
	struct camera_frame f;

	ASSERT(t);
	k.n = 3;
	k.boxes[0] = box(10, 10, 40);	 /* under min_face_px 60 */
	k.boxes[1] = box(-80, 200, 120); /* two thirds outside the frame */
	k.boxes[2] = box(300, 200, 120); /* fine when the frame is sharp */
	f = frame(1000, false);		 /* flat grey: no detail anywhere */
	ASSERT_EQ(face_track_frame(t, &f), 3);
	face_track_stats(t, &st);
	ASSERT_EQ(st.gated_small, 1);
	ASSERT_EQ(st.gated_cut, 1);
	ASSERT_EQ(st.gated_blur, 1);
	ASSERT_EQ(k.embeds, 0);
	f = frame(1100, true);
	face_track_frame(t, &f);
	ASSERT_EQ(k.embeds, 1); /* only the good one */
	face_track_stats(t, &st);
	ASSERT_EQ(st.gated_small, 2);
	ASSERT_EQ(st.gated_cut, 2);
	ASSERT_EQ(st.gated_blur, 1);
	face_track_free(t);
}

TEST(sharpness_and_gate_directly)
{
	struct face_track_params p;
	struct face_box b = box(100, 100, 128), small = box(100, 100, 30), out = box(700, 10, 50);
	struct camera_frame f = frame(0, true);
	float s_sharp, s_small, s;

	face_track_params_default(&p);
	s_sharp = face_track_sharpness(&f, &b);
	s_small = face_track_sharpness(&f, &small); /* bilinear path */
	ASSERT_MSG(s_sharp > 1000, "checkerboard sharpness %g", (double)s_sharp);
	ASSERT_MSG(s_small > 100, "small checkerboard sharpness %g", (double)s_small);
	ASSERT(face_track_sharpness(&f, &out) == -1.0f);
	ASSERT_EQ(face_track_quality(&f, &b, &p, &s), FACE_QUALITY_OK);
	ASSERT(s == s_sharp);
	ASSERT_EQ(face_track_quality(&f, &small, &p, &s), FACE_QUALITY_SMALL);
	ASSERT(s == -1.0f);
	ASSERT_EQ(face_track_quality(&f, &out, &p, NULL), FACE_QUALITY_SMALL);
	out = box(600, 10, 80); /* half outside */
	ASSERT_EQ(face_track_quality(&f, &out, &p, NULL), FACE_QUALITY_CUT);
	out = box(570, 10, 80); /* 10 px of 80 outside: fine */
	ASSERT_EQ(face_track_quality(&f, &out, &p, NULL), FACE_QUALITY_OK);
	f = frame(0, false);
	ASSERT(face_track_sharpness(&f, &b) == 0.0f);
	ASSERT_EQ(face_track_quality(&f, &b, &p, &s), FACE_QUALITY_BLUR);
	p.blur_min = 0; /* gate off */
	ASSERT_EQ(face_track_quality(&f, &b, &p, NULL), FACE_QUALITY_OK);
	ASSERT_STREQ(face_quality_name(FACE_QUALITY_BLUR), "blur");
	ASSERT_STREQ(face_quality_name(FACE_QUALITY_CUT), "cut");
	ASSERT(face_quality_name((enum face_quality)42) == NULL);
}

TEST(embeds_per_frame_budget_goes_to_the_newest_first)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_event ev[32];
	struct camera_frame f;
	int n, ident;

	ASSERT(t);
	k.n = 4;
	for (int i = 0; i < 4; i++)
		k.boxes[i] = box(10 + 150 * i, 100, 100);
	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), 4);
	ASSERT_EQ(k.embeds, 2);
	f = frame(1100, true);
	face_track_frame(t, &f);
	ASSERT_EQ(k.embeds, 4); /* every face has one before any has two */
	/* 12 descriptors in all; two per frame: decided by the 6th frame. */
	for (int i = 2; i < 6; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	ASSERT_EQ(k.embeds, 12);
	n = drain(t, ev, 32);
	ident = 0;
	for (int i = 0; i < n; i++)
		ident += ev[i].kind == FACE_TRACK_IDENTITY;
	ASSERT_EQ(ident, 4);
	f = frame(1600, true);
	face_track_frame(t, &f);
	ASSERT_EQ(k.embeds, 12);
	face_track_free(t);
}

static void one_per_frame(struct face_track_params *p)
{
	p->embeds_per_frame = 1;
}

TEST(a_newcomer_gets_the_network_before_tracks_nearly_decided)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, one_per_frame);
	struct camera_frame f;

	ASSERT(t);
	k.n = 2;
	k.boxes[0] = box(10, 100, 100);
	k.boxes[1] = box(200, 100, 100);
	/* One network run a frame: A1 B1 A2 B2, then C walks in: C1. */
	for (int i = 0; i < 5; i++) {
		if (i == 4) {
			k.n = 3;
			k.boxes[2] = box(400, 100, 100);
		}
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	ASSERT_EQ(k.last_cx, 450);
	/* C has one descriptor, A two (and the oldest): C goes first. */
	f = frame(1500, true);
	face_track_frame(t, &f);
	ASSERT_EQ(k.last_cx, 450);
	/* Now all have two: the longest waiting, A. */
	f = frame(1600, true);
	face_track_frame(t, &f);
	ASSERT_EQ(k.last_cx, 60);
	ASSERT_EQ(k.embeds, 7);
	face_track_free(t);
}

TEST(more_faces_than_tracks_are_counted)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_stats st;
	struct camera_frame f;

	ASSERT(t);
	k.n = 20;
	for (int i = 0; i < 20; i++)
		k.boxes[i] = box(10 + 30 * i, 10 + 20 * (i % 3) * 6, 25);
	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), FACE_TRACK_MAX);
	face_track_stats(t, &st);
	ASSERT_EQ(st.untracked, 20 - FACE_TRACK_MAX);
	ASSERT_EQ(face_track_live(t), FACE_TRACK_MAX);

	/* A detector claiming more faces than the per-frame limit. */
	k.reported = 100;
	f = frame(1100, true);
	ASSERT(face_track_frame(t, &f) >= 0);
	face_track_stats(t, &st);
	ASSERT_EQ(st.over_detections, 100 - FACE_TRACK_DETS_MAX);
	face_track_free(t);
}

static void fast_loss(struct face_track_params *p)
{
	p->lost_ms = 100;
}

TEST(undrained_events_refuse_the_next_frame)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, fast_loss);
	struct face_track_event ev;
	struct camera_frame f;
	int i, rc = 0;

	ASSERT(t);
	k.n = FACE_TRACK_MAX;
	/* Every frame the faces jump: all tracks end, as many start. */
	for (i = 0; i < 10; i++) {
		for (int j = 0; j < FACE_TRACK_MAX; j++)
			k.boxes[j] = box(10 + 35 * j, i % 2 ? 10 : 300, 30);
		f = frame(1000 + 200 * (uint64_t)i, true);
		rc = face_track_frame(t, &f);
		if (rc < 0)
			break;
	}
	ASSERT_EQ(rc, -ENOBUFS);
	ASSERT_CONTAINS(face_track_errmsg(t), "face_track_next_event");
	ASSERT(i >= 2);
	while (face_track_next_event(t, &ev) == 1)
		;
	ASSERT(face_track_frame(t, &f) >= 0);
	face_track_free(t);
}

TEST(crossing_faces_follow_the_best_overlap)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_event ev[16];
	struct camera_frame f;
	uint32_t left_id, right_id;

	ASSERT(t);
	k.n = 2;
	k.boxes[0] = box(100, 100, 100);
	k.boxes[1] = box(170, 100, 100);
	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), 2);
	ASSERT_EQ(drain(t, ev, 16), 2);
	left_id = ev[0].box.left == 100 ? ev[0].track_id : ev[1].track_id;
	right_id = left_id == ev[0].track_id ? ev[1].track_id : ev[0].track_id;
	/* Detector order flips and both move right by 20 px: the IoU, not the
	 * order, decides who is who. */
	k.boxes[0] = box(190, 100, 100);
	k.boxes[1] = box(120, 100, 100);
	f = frame(1100, true);
	ASSERT_EQ(face_track_frame(t, &f), 0);
	ASSERT_EQ(face_track_end_all(t, 1200000000ull), 2);
	ASSERT_EQ(drain(t, ev, 16), 2);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(ev[i].kind, FACE_TRACK_ENDED);
		if (ev[i].track_id == left_id)
			ASSERT_EQ(ev[i].box.left, 120);
		else
			ASSERT(ev[i].track_id == right_id && ev[i].box.left == 190);
	}
	ASSERT_EQ(face_track_live(t), 0);
	face_track_free(t);
}

TEST(a_track_takes_one_detection_the_next_face_starts_its_own)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_event ev[16];
	struct camera_frame f;

	ASSERT(t);
	k.n = 1;
	k.boxes[0] = box(100, 100, 100);
	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	drain(t, ev, 16);
	/* Both overlap the track (IoU 0.9 and 0.33): the better one continues
	 * it, the other is a new face. */
	k.n = 2;
	k.boxes[0] = box(150, 100, 100);
	k.boxes[1] = box(105, 100, 100);
	f = frame(1100, true);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 16), 1);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_STARTED);
	ASSERT_EQ(ev[0].track_id, 2);
	ASSERT_EQ(ev[0].box.left, 150);
	ASSERT_EQ(face_track_live(t), 2);
	ASSERT_EQ(face_track_end_all(t, 1200000000ull), 2);
	ASSERT_EQ(drain(t, ev, 16), 2);
	ASSERT_EQ(ev[0].track_id, 1);
	ASSERT_EQ(ev[0].box.left, 105);
	ASSERT_EQ(ev[0].frames_seen, 2);
	face_track_free(t);
}

TEST(time_going_backwards_is_clamped)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_event ev[16];
	struct camera_frame f;

	ASSERT(t);
	k.n = 1;
	k.boxes[0] = box(100, 100, 100);
	f = frame(5000, true);
	face_track_frame(t, &f);
	f = frame(1000, true); /* earlier than the last frame */
	ASSERT_EQ(face_track_frame(t, &f), 0);
	k.n = 0;
	f = frame(6400, true);
	ASSERT_EQ(face_track_frame(t, &f), 0);
	f = frame(6500, true);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 16), 2);
	ASSERT_EQ(ev[1].kind, FACE_TRACK_ENDED);
	ASSERT_EQ(ev[1].duration_ns, 0);
	face_track_free(t);
}

TEST(engine_errors)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_stats st;
	struct camera_frame f;

	ASSERT(t);
	k.n = 1;
	k.boxes[0] = box(100, 100, 100);
	k.detect_rc = -EIO;
	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), -EIO);
	ASSERT_CONTAINS(face_track_errmsg(t), "fake engine says no");
	k.detect_rc = 0;
	k.embed_rc = -EINVAL; /* one bad face: counted, skipped */
	ASSERT_EQ(face_track_frame(t, &f), 1);
	face_track_stats(t, &st);
	ASSERT_EQ(st.embed_errors, 1);
	k.embed_rc = -ENOMEM; /* the engine is in trouble: reported */
	f = frame(1100, true);
	ASSERT_EQ(face_track_frame(t, &f), -ENOMEM);
	face_track_free(t);
}

TEST(bad_frames_and_params)
{
	struct fake k = {0};
	struct face_track_params p;
	struct face_track *t = tracker(&k, NULL, NULL);
	struct camera_frame f;
	char err[256];

	ASSERT(t);
	f = frame(1000, true);
	f.data = NULL;
	ASSERT_EQ(face_track_frame(t, &f), -EINVAL);
	f = frame(1000, true);
	f.stride = W; /* not RGB24 */
	ASSERT_EQ(face_track_frame(t, &f), -EINVAL);
	f = frame(1000, true);
	f.bytes = 100;
	ASSERT_EQ(face_track_frame(t, &f), -EINVAL);
	f = frame(1000, true);
	f.width = CAMERA_MAX_WIDTH + 1;
	ASSERT_EQ(face_track_frame(t, &f), -EINVAL);
	ASSERT_EQ(k.detects, 0);
	face_track_free(t);
	face_track_free(NULL);

	face_track_params_default(&p);
	p.decide_frames = FACE_TRACK_EMB_MAX + 1;
	ASSERT_EQ(face_track_new(&p, &fake_engine, &k, NULL, &t, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "decide_frames");
	face_track_params_default(&p);
	p.embeds_per_frame = 0;
	ASSERT_EQ(face_track_new(&p, &fake_engine, &k, NULL, &t, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "embeds_per_frame");
	face_track_params_default(&p);
	p.track_iou = 0;
	ASSERT_EQ(face_track_new(&p, &fake_engine, &k, NULL, &t, err, sizeof(err)), -EINVAL);
	face_track_params_default(&p);
	ASSERT_EQ(face_track_new(&p, NULL, &k, NULL, &t, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "engine");
	ASSERT(t == NULL);
	ASSERT_STREQ(face_track_event_name(FACE_TRACK_IDENTITY), "identity");
	ASSERT(face_track_event_name((enum face_track_event_kind)9) == NULL);
}

/* ---- [faces] config ----------------------------------------------------- */

static int load(const char *text, struct config **ret, struct config_error *err)
{
	return config_load_string("faces.conf", "/etc/edgebox", text, ret, err);
}

TEST(config_defaults_without_a_section)
{
	struct config *c = NULL;
	struct config_error err;
	struct face_params p;

	ASSERT_EQ(load("[daemon]\n", &c, &err), 0);
	ASSERT_EQ(face_params_from_config(c, "faces", &p, &err), 0);
	ASSERT_STREQ(p.dlib.models_dir, FACE_MODELS_DEFAULT);
	ASSERT_EQ(p.dlib.upsample, 1);
	ASSERT_EQ(p.dlib.detect_max_width, 640);
	ASSERT_EQ(p.track.min_face_px, 60);
	ASSERT_EQ(p.track.decide_frames, 3);
	ASSERT_EQ(p.track.recheck_ms, 2000);
	ASSERT(fabsf(p.match.threshold - 0.6f) < 1e-6f);
	ASSERT(fabsf(p.track.same_distance - 0.6f) < 1e-6f);
	config_free(c);
}

TEST(config_every_key)
{
	struct config *c = NULL;
	struct config_error err;
	struct face_params p;

	ASSERT_EQ(load("[faces]\nmodels = models\nupsample = 0\ndetect_max_width = 0\n"
		       "detect_threshold = -0.2\nmin_face_px = 80\nblur_min = 12.5\n"
		       "track_iou = 0.4\nlost_ms = 900\ndecide_frames = 5\nrecheck_ms = 0\n"
		       "embeds_per_frame = 3\nthreshold = 0.55\nmargin = 0.1\n"
		       "gallery_max = 100\n",
		       &c, &err),
		  0);
	ASSERT_EQ(face_params_from_config(c, "faces", &p, &err), 0);
	ASSERT_STREQ(p.dlib.models_dir, "/etc/edgebox/models");
	ASSERT_EQ(p.dlib.upsample, 0);
	ASSERT_EQ(p.dlib.detect_max_width, 0);
	ASSERT(fabs(p.dlib.detect_threshold + 0.2) < 1e-9);
	ASSERT_EQ(p.track.min_face_px, 80);
	ASSERT(fabsf(p.track.blur_min - 12.5f) < 1e-6f);
	ASSERT(fabsf(p.track.track_iou - 0.4f) < 1e-6f);
	ASSERT_EQ(p.track.lost_ms, 900);
	ASSERT_EQ(p.track.decide_frames, 5);
	ASSERT_EQ(p.track.recheck_ms, 0);
	ASSERT_EQ(p.track.embeds_per_frame, 3);
	ASSERT(fabsf(p.match.threshold - 0.55f) < 1e-6f);
	ASSERT(fabsf(p.track.same_distance - 0.55f) < 1e-6f);
	ASSERT(fabsf(p.match.margin - 0.1f) < 1e-6f);
	ASSERT_EQ(p.match.gallery_max, 100);
	ASSERT_EQ(config_check_unused(c, &err), 0);
	config_free(c);
}

TEST(config_bad_values_name_file_line_and_key)
{
	static const struct {
		const char *text, *key;
	} bad[] = {
	    {"[faces]\nupsample = 3\n", "upsample"},
	    {"[faces]\n\ndetect_max_width = 50\n", "detect_max_width"},
	    {"[faces]\nrecheck_ms = 50\n", "recheck_ms"},
	    {"[faces]\ndecide_frames = 9\n", "decide_frames"},
	    {"[faces]\nthreshold = fast\n", "threshold"},
	    {"[faces]\nmargin = 0.9\n", "margin"},
	    {"[faces]\nmin_face_px = 5\n", "min_face_px"},
	    {"[faces]\ngallery_max = 0\n", "gallery_max"},
	};
	struct face_params p, before;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config *c = NULL;
		struct config_error err;

		ASSERT_EQ(load(bad[i].text, &c, &err), 0);
		memset(&p, 0x5a, sizeof(p));
		before = p;
		ASSERT_EQ(face_params_from_config(c, "faces", &p, &err), -EINVAL);
		ASSERT_CONTAINS(err.msg, "faces.conf");
		ASSERT_CONTAINS(err.msg, bad[i].key);
		ASSERT_MSG(memcmp(&p, &before, sizeof(p)) == 0, "params written on error for %s",
			   bad[i].key);
		config_free(c);
	}
	{
		struct config *c = NULL;
		struct config_error err;

		ASSERT_EQ(load("[faces]\n\ndetect_max_width = 50\n", &c, &err), 0);
		ASSERT_EQ(face_params_from_config(c, "faces", &p, &err), -EINVAL);
		ASSERT_CONTAINS(err.msg, ":3");
		ASSERT_CONTAINS(err.msg, "or 0 to never scale down");
		config_free(c);
	}
}

/* ---- searching around tracks between full detections -------------------- */

static struct face_track *tracker_near(struct fake *k)
{
	struct face_track_params p;
	struct face_track *t = NULL;
	char err[256];

	face_track_params_default(&p);
	if (face_track_new(&p, &fake_engine_near, k, NULL, &t, err, sizeof(err)) < 0)
		printf("    face_track_new: %s\n", err);
	return t;
}

TEST(between_full_detections_only_the_tracks_are_searched)
{
	struct fake k = {0};
	struct face_track *t = tracker_near(&k);
	struct face_track_event ev[16];
	struct face_track_stats st;
	struct camera_frame f;

	ASSERT(t);
	k.n = 2;
	k.boxes[0] = box(100, 100, 100);
	k.boxes[1] = box(400, 100, 100);
	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), 2);
	ASSERT_EQ(k.detects, 1);
	ASSERT_EQ(k.nears, 0);
	/* 200 ms steps: 1.2 .. 1.8 s searched around the two tracks. */
	for (int i = 1; i <= 4; i++) {
		k.boxes[0].left += 10;
		f = frame(1000 + 200 * (uint64_t)i, true);
		ASSERT(face_track_frame(t, &f) >= 0);
	}
	ASSERT_EQ(k.detects, 1);
	ASSERT_EQ(k.nears, 8);
	/* A third face walks in: not seen until the next full detection. */
	k.n = 3;
	k.boxes[2] = box(250, 300, 100);
	f = frame(1900, true);
	ASSERT(face_track_frame(t, &f) >= 0);
	ASSERT_EQ(face_track_live(t), 2);
	f = frame(2000, true); /* a second after the last full one */
	ASSERT(face_track_frame(t, &f) >= 0);
	ASSERT_EQ(k.detects, 2);
	ASSERT_EQ(face_track_live(t), 3);
	int n = drain(t, ev, 16), started = 0;
	for (int i = 0; i < n; i++)
		started += ev[i].kind == FACE_TRACK_STARTED;
	ASSERT_EQ(started, 3); /* the moving face kept its track */
	face_track_stats(t, &st);
	ASSERT_EQ(st.full_detections, 2);
	ASSERT_EQ(st.near_searches, 10);
	face_track_free(t);
}

TEST(close_tracks_do_not_double_their_faces)
{
	struct fake k = {0};
	struct face_track *t = tracker_near(&k);
	struct face_track_event ev[16];
	struct camera_frame f;

	ASSERT(t);
	k.n = 2;
	k.boxes[0] = box(100, 100, 100);
	k.boxes[1] = box(180, 100, 100); /* each inside the other's search */
	f = frame(1000, true);
	ASSERT_EQ(face_track_frame(t, &f), 2);
	for (int i = 1; i <= 4; i++) {
		f = frame(1000 + 200 * (uint64_t)i, true);
		ASSERT(face_track_frame(t, &f) >= 0);
	}
	ASSERT_EQ(k.nears, 8);
	ASSERT_EQ(face_track_live(t), 2);
	int n = drain(t, ev, 16), started = 0;
	for (int i = 0; i < n; i++)
		started += ev[i].kind == FACE_TRACK_STARTED;
	ASSERT_EQ(started, 2);
	face_track_free(t);
}

TEST(with_no_track_every_frame_is_searched_whole)
{
	struct fake k = {0};
	struct face_track *t = tracker_near(&k);
	struct camera_frame f;

	ASSERT(t);
	for (int i = 0; i < 5; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		ASSERT_EQ(face_track_frame(t, &f), 0);
	}
	ASSERT_EQ(k.detects, 5);
	ASSERT_EQ(k.nears, 0);
	/* A face that leaves the search area is lost, then found again by a
	 * full detection as a new track. */
	k.n = 1;
	k.boxes[0] = box(100, 100, 100);
	f = frame(2000, true);
	face_track_frame(t, &f);
	k.boxes[0] = box(450, 300, 100);
	f = frame(2200, true);
	face_track_frame(t, &f);
	ASSERT_EQ(k.nears, 1);
	ASSERT_EQ(face_track_live(t), 1);
	f = frame(3000, true);
	face_track_frame(t, &f);
	ASSERT_EQ(face_track_live(t), 2); /* the old one coasts until lost_ms */
	face_track_free(t);
}

static void always_full(struct face_track_params *p)
{
	p->full_detect_ms = 0;
}

TEST(full_detect_ms_zero_searches_whole_frames)
{
	struct fake k = {0};
	struct face_track_params p;
	struct face_track *t = NULL;
	struct camera_frame f;
	char err[256];

	face_track_params_default(&p);
	always_full(&p);
	ASSERT_EQ(face_track_new(&p, &fake_engine_near, &k, NULL, &t, err, sizeof(err)), 0);
	k.n = 1;
	k.boxes[0] = box(100, 100, 100);
	for (int i = 0; i < 4; i++) {
		f = frame(1000 + 100 * (uint64_t)i, true);
		face_track_frame(t, &f);
	}
	ASSERT_EQ(k.detects, 4);
	ASSERT_EQ(k.nears, 0);
	face_track_free(t);
}

TEST(config_full_detect_ms)
{
	struct config *c = NULL;
	struct config_error err;
	struct face_params p;

	ASSERT_EQ(load("[faces]\nfull_detect_ms = 0\n", &c, &err), 0);
	ASSERT_EQ(face_params_from_config(c, "faces", &p, &err), 0);
	ASSERT_EQ(p.track.full_detect_ms, 0);
	config_free(c);
	ASSERT_EQ(load("[faces]\nfull_detect_ms = 20\n", &c, &err), 0);
	ASSERT_EQ(face_params_from_config(c, "faces", &p, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "full_detect_ms");
	ASSERT_CONTAINS(err.msg, "whole frame");
	config_free(c);
}

TEST(a_tracks_descriptor_is_the_mean_it_decides_on)
{
	struct fake k = {0};
	struct face_track *t = tracker(&k, NULL, NULL);
	struct face_track_event ev[8];
	float vec[FACE_DLIB_DIM], want[FACE_DLIB_DIM];
	struct camera_frame f;
	uint32_t frames = 0;

	ASSERT(t);
	set_person(&k, 0, W, 10, 0.0f);
	memcpy(want, k.persons[0].vec, sizeof(want));
	k.n = 1;
	k.boxes[0] = box(200, 100, 120);
	/* A blurred first frame: the track exists, no descriptor has passed the gate. */
	f = frame(1000, false);
	ASSERT_EQ(face_track_frame(t, &f), 1);
	ASSERT_EQ(drain(t, ev, 8), 1);
	ASSERT_EQ(face_track_descriptor(t, ev[0].track_id, vec, &frames), -EAGAIN);
	f = frame(1200, true);
	face_track_frame(t, &f);
	f = frame(1400, true);
	face_track_frame(t, &f);
	drain(t, ev, 8);
	ASSERT_EQ(face_track_descriptor(t, 1, vec, &frames), 0);
	ASSERT_EQ(frames, 2);
	/* The person's vector, give or take the fake network's 0.02 of noise. */
	ASSERT(face_match_distance(vec, want) < 0.03f);
	ASSERT_EQ(face_track_descriptor(t, 1, vec, NULL), 0);
	ASSERT_EQ(face_track_descriptor(t, 2, vec, &frames), -ENOENT);
	ASSERT_EQ(face_track_descriptor(t, 0, vec, &frames), -EINVAL);
	ASSERT_EQ(face_track_descriptor(NULL, 1, vec, &frames), -EINVAL);
	/* Gone: nothing to enrol from. */
	k.n = 0;
	f = frame(4000, true);
	face_track_frame(t, &f);
	drain(t, ev, 8);
	ASSERT_EQ(face_track_descriptor(t, 1, vec, &frames), -ENOENT);
	face_track_free(t);
}
