/*
 * test_face_match — the gallery and the matching rule with synthetic
 * descriptors (no dlib): threshold, margin to the best other customer,
 * several descriptors of one customer, empty gallery, limits, bad input, and
 * loading from a real store (consent revoked: gone after a reload).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/face_match.h"
#include "firmware/store.h"
#include "test.h"

/* A descriptor on axis a, moved by d along axis b: two such vectors on the
 * same axis a are exactly |d1 - d2| apart; on different axes sqrt(2) + ... */
static void vec_at(float v[FACE_MATCH_DIM], int a, int b, float d)
{
	memset(v, 0, sizeof(float) * FACE_MATCH_DIM);
	v[a] = 1.0f;
	v[b] += d;
}

static struct face_match *new_gallery(float threshold, float margin, size_t max)
{
	struct face_match_params p;
	struct face_match *m = NULL;
	char err[256];

	face_match_params_default(&p);
	p.threshold = threshold;
	p.margin = margin;
	p.gallery_max = max;
	if (face_match_new(&p, &m, err, sizeof(err)) < 0)
		printf("    face_match_new: %s\n", err);
	return m;
}

TEST(defaults_are_dlibs_operating_point)
{
	struct face_match_params p;

	face_match_params_default(&p);
	ASSERT(fabsf(p.threshold - 0.6f) < 1e-6f);
	ASSERT(fabsf(p.margin - 0.05f) < 1e-6f);
	ASSERT_EQ(p.gallery_max, 16384);
}

TEST(distance_is_euclidean)
{
	float a[FACE_MATCH_DIM] = {0}, b[FACE_MATCH_DIM] = {0};

	a[0] = 3.0f;
	b[1] = 4.0f;
	ASSERT(fabsf(face_match_distance(a, b) - 5.0f) < 1e-6f);
	ASSERT(face_match_distance(a, a) == 0.0f);
}

TEST(empty_gallery_is_unknown)
{
	struct face_match *m = new_gallery(0.6f, 0.05f, 16);
	struct face_match_result r;
	float v[FACE_MATCH_DIM];

	ASSERT(m);
	vec_at(v, 0, 1, 0.0f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_UNKNOWN);
	ASSERT_EQ(r.customer_id, 0);
	ASSERT(isinf(r.distance));
	ASSERT(isinf(r.second_distance));
	ASSERT_EQ(face_match_count(m), 0);
	ASSERT_EQ(face_match_customers(m), 0);
	face_match_free(m);
}

TEST(threshold_is_strict)
{
	struct face_match *m = new_gallery(0.6f, 0.05f, 16);
	struct face_match_result r;
	float g[FACE_MATCH_DIM], v[FACE_MATCH_DIM];

	ASSERT(m);
	vec_at(g, 0, 1, 0.0f);
	ASSERT_EQ(face_match_add(m, 7, g), 0);

	vec_at(v, 0, 1, 0.3f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(r.customer_id, 7);
	ASSERT(fabsf(r.distance - 0.3f) < 1e-5f);
	ASSERT(isinf(r.second_distance) && isinf(r.margin));
	ASSERT_EQ(r.second_customer_id, 0);

	/* 0.6 exactly is not below the bar (as in dlib's example: < 0.6). */
	ASSERT_EQ(face_match_decide(face_match_params(m), 0.6f, INFINITY), FACE_MATCH_UNKNOWN);
	ASSERT_EQ(face_match_decide(face_match_params(m), 0.5999f, INFINITY), FACE_MATCH_KNOWN);

	vec_at(v, 0, 1, 0.7f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_UNKNOWN);
	/* The closest is still reported, for logs and tuning. */
	ASSERT_EQ(r.customer_id, 7);
	ASSERT(fabsf(r.distance - 0.7f) < 1e-5f);
	face_match_free(m);
}

TEST(margin_to_another_customer)
{
	struct face_match *m = new_gallery(0.6f, 0.05f, 16);
	struct face_match_result r;
	float a[FACE_MATCH_DIM], b[FACE_MATCH_DIM], v[FACE_MATCH_DIM];

	ASSERT(m);
	/* A at +0.0 and B at +0.83 on axis 1: a probe at +0.40 is 0.40 from A
	 * and 0.43 from B: both under the bar, too close to call. */
	vec_at(a, 0, 1, 0.0f);
	vec_at(b, 0, 1, 0.83f);
	ASSERT_EQ(face_match_add(m, 1, a), 0);
	ASSERT_EQ(face_match_add(m, 2, b), 0);
	vec_at(v, 0, 1, 0.40f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_AMBIGUOUS);
	ASSERT_EQ(r.customer_id, 1);
	ASSERT_EQ(r.second_customer_id, 2);
	ASSERT(fabsf(r.margin - 0.03f) < 1e-4f);

	/* At +0.30: 0.30 vs 0.53, a clear winner. */
	vec_at(v, 0, 1, 0.30f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(r.customer_id, 1);
	ASSERT(fabsf(r.second_distance - 0.53f) < 1e-4f);

	/* Closer to B: the roles swap. */
	vec_at(v, 0, 1, 0.70f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(r.customer_id, 2);
	ASSERT_EQ(r.second_customer_id, 1);
	face_match_free(m);
}

TEST(second_best_of_the_same_customer_does_not_compete)
{
	struct face_match *m = new_gallery(0.6f, 0.05f, 16);
	struct face_match_result r;
	float a1[FACE_MATCH_DIM], a2[FACE_MATCH_DIM], b[FACE_MATCH_DIM], v[FACE_MATCH_DIM];

	ASSERT(m);
	vec_at(a1, 0, 1, 0.0f);
	vec_at(a2, 0, 1, 0.81f); /* 0.41 from the probe: within 0.01 of a1 */
	vec_at(b, 0, 1, 1.3f);	 /* 0.90 from the probe */
	/* Interleaved on purpose: the gallery need not be grouped. */
	ASSERT_EQ(face_match_add(m, 5, a2), 0);
	ASSERT_EQ(face_match_add(m, 9, b), 0);
	ASSERT_EQ(face_match_add(m, 5, a1), 0);
	ASSERT_EQ(face_match_customers(m), 2);
	vec_at(v, 0, 1, 0.40f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(r.customer_id, 5);
	ASSERT(fabsf(r.distance - 0.40f) < 1e-4f);
	ASSERT_EQ(r.second_customer_id, 9);
	ASSERT(fabsf(r.second_distance - 0.90f) < 1e-4f);

	/* The best other customer is found whatever the order: a closer B
	 * descriptor after A's makes it ambiguous. */
	vec_at(b, 0, 1, 0.83f); /* 0.43 */
	ASSERT_EQ(face_match_add(m, 9, b), 0);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_AMBIGUOUS);
	ASSERT_EQ(r.second_customer_id, 9);
	face_match_free(m);
}

TEST(zero_margin_only_needs_the_threshold)
{
	struct face_match *m = new_gallery(0.6f, 0.0f, 16);
	struct face_match_result r;
	float a[FACE_MATCH_DIM], b[FACE_MATCH_DIM], v[FACE_MATCH_DIM];

	ASSERT(m);
	vec_at(a, 0, 1, 0.0f);
	vec_at(b, 0, 1, 0.81f);
	ASSERT_EQ(face_match_add(m, 1, a), 0);
	ASSERT_EQ(face_match_add(m, 2, b), 0);
	vec_at(v, 0, 1, 0.40f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(r.customer_id, 1);
	face_match_free(m);
}

TEST(bad_params_named)
{
	struct face_match_params p;
	struct face_match *m = (struct face_match *)1;
	char err[256];

	face_match_params_default(&p);
	p.threshold = 0;
	ASSERT_EQ(face_match_new(&p, &m, err, sizeof(err)), -EINVAL);
	ASSERT(m == NULL);
	ASSERT_CONTAINS(err, "threshold");
	face_match_params_default(&p);
	p.threshold = NAN;
	ASSERT_EQ(face_match_new(&p, &m, err, sizeof(err)), -EINVAL);
	face_match_params_default(&p);
	p.margin = -0.1f;
	ASSERT_EQ(face_match_new(&p, &m, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "margin");
	face_match_params_default(&p);
	p.gallery_max = 0;
	ASSERT_EQ(face_match_new(&p, &m, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "gallery_max");
	p.gallery_max = FACE_MATCH_GALLERY_MAX + 1;
	ASSERT_EQ(face_match_new(&p, &m, err, sizeof(err)), -EINVAL);
}

TEST(bad_descriptors_refused)
{
	struct face_match *m = new_gallery(0.6f, 0.05f, 16);
	struct face_match_result r;
	float v[FACE_MATCH_DIM];

	ASSERT(m);
	vec_at(v, 0, 1, 0.0f);
	ASSERT_EQ(face_match_add(m, 0, v), -EINVAL);
	ASSERT_EQ(face_match_add(m, -3, v), -EINVAL);
	v[17] = NAN;
	ASSERT_EQ(face_match_add(m, 1, v), -EINVAL);
	ASSERT_EQ(face_match_query(m, v, &r), -EINVAL);
	v[17] = INFINITY;
	ASSERT_EQ(face_match_add(m, 1, v), -EINVAL);
	ASSERT_EQ(face_match_count(m), 0);
	face_match_free(m);
}

TEST(gallery_limit_is_an_error)
{
	struct face_match *m = new_gallery(0.6f, 0.05f, 3);
	float v[FACE_MATCH_DIM];

	ASSERT(m);
	for (int i = 0; i < 3; i++) {
		vec_at(v, i, i + 1, 0.1f);
		ASSERT_EQ(face_match_add(m, i + 1, v), 0);
	}
	ASSERT_EQ(face_match_add(m, 4, v), -ENOSPC);
	ASSERT_EQ(face_match_count(m), 3);
	face_match_clear(m);
	ASSERT_EQ(face_match_count(m), 0);
	ASSERT_EQ(face_match_add(m, 4, v), 0);
	face_match_free(m);
	face_match_free(NULL);
}

TEST(gallery_grows_past_its_first_block)
{
	struct face_match *m = new_gallery(0.6f, 0.05f, 1000);
	struct face_match_result r;
	float v[FACE_MATCH_DIM];

	ASSERT(m);
	for (int i = 0; i < 1000; i++) {
		vec_at(v, i % 64, 64 + i % 64, 0.01f * (float)(i / 64));
		ASSERT_EQ(face_match_add(m, i + 1, v), 0);
	}
	ASSERT_EQ(face_match_count(m), 1000);
	ASSERT_EQ(face_match_customers(m), 1000);
	/* The last one added is found exactly. */
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.customer_id, 1000);
	ASSERT(r.distance == 0.0f);
	face_match_free(m);
}

TEST(verdict_names)
{
	ASSERT_STREQ(face_match_verdict_name(FACE_MATCH_KNOWN), "known");
	ASSERT_STREQ(face_match_verdict_name(FACE_MATCH_AMBIGUOUS), "ambiguous");
	ASSERT_STREQ(face_match_verdict_name(FACE_MATCH_UNKNOWN), "unknown");
	ASSERT(face_match_verdict_name((enum face_match_verdict)99) == NULL);
}

static struct store *open_store(const char *name)
{
	struct store_error err;
	struct store *s = NULL;
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.db", test_tmpdir(), name);
	if (store_open(path, 0, &s, NULL, &err) < 0)
		printf("    store_open: %s\n", err.msg);
	return s;
}

static int64_t enrol(struct store *s, const char *name, int axis, int n)
{
	float v[FACE_MATCH_DIM];
	int64_t id = 0;

	if (store_customer_add(s, name, &id) < 0 ||
	    store_consent_grant(s, id, STORE_CONSENT_FACE, STORE_CONSENT_KIOSK, NULL) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		vec_at(v, axis, 100, 0.05f * (float)i);
		if (store_embedding_add(s, id, v, "test", NULL) < 0)
			return -1;
	}
	return id;
}

TEST(load_from_store_and_reload_after_revoke)
{
	struct store *s = open_store("gallery");
	struct face_match *m = new_gallery(0.6f, 0.05f, 16);
	struct face_match_result r;
	float v[FACE_MATCH_DIM];
	int64_t ann, bob;
	char err[256];

	ASSERT(s && m);
	ann = enrol(s, "Ann", 3, 2);
	bob = enrol(s, "Bob", 4, 3);
	ASSERT(ann > 0 && bob > 0);
	ASSERT_EQ(face_match_load(m, s, err, sizeof(err)), 5);
	ASSERT_EQ(face_match_customers(m), 2);

	vec_at(v, 4, 100, 0.2f);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(r.customer_id, bob);

	/* Bob withdraws consent: the store drops his embeddings, and after a
	 * reload the gallery no longer knows him. */
	ASSERT_EQ(store_consent_revoke(s, bob, STORE_CONSENT_FACE), 3);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.customer_id, bob); /* not reloaded yet */
	ASSERT_EQ(face_match_load(m, s, err, sizeof(err)), 2);
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_UNKNOWN);
	ASSERT_EQ(r.customer_id, ann);
	face_match_free(m);
	store_close(s);
}

TEST(load_over_the_limit_keeps_the_old_gallery)
{
	struct store *s = open_store("big");
	struct face_match *m = new_gallery(0.6f, 0.05f, 4);
	float v[FACE_MATCH_DIM];
	char err[256] = "";

	ASSERT(s && m);
	ASSERT(enrol(s, "Cy", 5, 3) > 0);
	ASSERT_EQ(face_match_load(m, s, err, sizeof(err)), 3);
	ASSERT(enrol(s, "Di", 6, 3) > 0);
	ASSERT_EQ(face_match_load(m, s, err, sizeof(err)), -ENOSPC);
	ASSERT_CONTAINS(err, "6 face embeddings");
	ASSERT_CONTAINS(err, "gallery_max");
	ASSERT_EQ(face_match_count(m), 3);
	vec_at(v, 5, 100, 0.0f);
	struct face_match_result r;
	ASSERT_EQ(face_match_query(m, v, &r), 0);
	ASSERT_EQ(r.verdict, FACE_MATCH_KNOWN);
	face_match_free(m);
	store_close(s);
}
