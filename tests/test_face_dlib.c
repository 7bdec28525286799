/*
 * test_face_dlib — dlib through the project's own code path, on real photos
 * (tests/data/faces, linked by tests/find-faces.sh to the shared the dlib example images; missing
 * data FAILS): identity:  every same-person pair of johns/ below 0.6, every different-person pair
 * above it (image_load -> face_dlib_detect
 *              -> face_dlib_embed -> face_match_distance);
 *   detection: recall >= 95% on the hand-labelled boxes of scenes/training.xml
 *              and scenes/testing.xml with the default settings; a label is
 *              found when a detection overlaps it with IoU >= 0.3 or contains
 *              its centre; dogs.jpg gives no face;
 *   the tracker with the dlib engine: a customer named after decide_frames
 *              frames, someone else stepping in ends the track;
 *   the settings (upsample, detect_max_width, max boxes), the benchmark
 *   reference agreeing with our path, bad frames and boxes, missing and
 *   corrupt models, and `edgeboxctl face` (run from $EDGEBOX_BIN).
 * About 25 s on two cores: 33 + ~12 embeddings at ~0.3 s each, detection on
 * 9 scenes upsampled once, and four model loads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/face_dlib.h"
#include "agent/face_match.h"
#include "agent/face_track.h"
#include "hal/image.h"
#include "test.h"
#include "tests/support/daemon.h"

#define DATA "tests/data/faces"
#define MODELS "models"
#define JOHNS_MAX 64
#define LABELS_MAX 256

static uint8_t pixels[CAMERA_FRAME_MAX_BYTES];
static struct face_dlib *shared;

static bool have_data(void)
{
	if (access(DATA "/README.md", R_OK) == 0)
		return true;
	test_fail(__FILE__, __LINE__,
		  "test data missing: %s (run the tests from the repository root; the dlib "
		  "example photos: tests/find-faces.sh links them; set EDGEBOX_FACES)",
		  DATA);
	return false;
}

/* The default settings with the repository's models; opened once. */
static struct face_dlib *handle(void)
{
	struct face_dlib_params p;
	char err[FACE_DLIB_ERROR_MAX];

	if (shared)
		return shared;
	face_dlib_params_default(&p);
	snprintf(p.models_dir, sizeof(p.models_dir), "%s", MODELS);
	if (face_dlib_open(&p, &shared, err, sizeof(err)) < 0)
		test_fail(__FILE__, __LINE__, "%s", err);
	return shared;
}

static int load(const char *path, struct camera_frame *f)
{
	char err[512];
	int rc;

	memset(f, 0, sizeof(*f));
	f->data = pixels;
	f->capacity = sizeof(pixels);
	rc = image_load(path, f, err, sizeof(err));
	if (rc < 0)
		printf("    %s\n", err);
	return rc;
}

static double iou(const struct face_box *a, const struct face_box *b)
{
	double x0 = fmax(a->left, b->left), y0 = fmax(a->top, b->top);
	double x1 = fmin(a->left + a->width, b->left + b->width);
	double y1 = fmin(a->top + a->height, b->top + b->height);
	double inter = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0;

	return inter / ((double)a->width * a->height + (double)b->width * b->height - inter);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- identity ----------------------------------------------------------- */

TEST(identity_on_johns_through_our_path)
{
	static const char *people[] = {"John_Salley", "John_Savage", "John_Schneider"};
	static float vec[JOHNS_MAX][FACE_DLIB_DIM];
	static char names[JOHNS_MAX][96];
	int who[JOHNS_MAX], n = 0;
	double same_max = 0, diff_min = 1e9;
	char same_pair[200] = "", diff_pair[200] = "";
	struct face_dlib *h;

	if (!have_data() || !(h = handle()))
		return;
	for (int p = 0; p < 3; p++) {
		char dir[256], *files[JOHNS_MAX];
		struct dirent *e;
		int nf = 0;
		DIR *d;

		snprintf(dir, sizeof(dir), "%s/johns/%s", DATA, people[p]);
		d = opendir(dir);
		ASSERT_MSG(d, "cannot open %s", dir);
		while ((e = readdir(d)) && nf < JOHNS_MAX)
			if (strstr(e->d_name, ".jpg"))
				files[nf++] = strdup(e->d_name);
		closedir(d);
		ASSERT_MSG(nf == 11, "%s: expected 11 photos, found %d", dir, nf);
		qsort(files, (size_t)nf, sizeof(files[0]), cmp_str);
		for (int i = 0; i < nf; i++) {
			struct face_box b[4];
			struct camera_frame f;
			int found;

			char path[600];

			snprintf(names[n], sizeof(names[n]), "%.20s/%.60s", people[p], files[i]);
			snprintf(path, sizeof(path), "%s/johns/%s", DATA, names[n]);
			free(files[i]);
			ASSERT_EQ(load(path, &f), 0);
			found = face_dlib_detect(h, &f, b, 4);
			ASSERT_MSG(found == 1, "%s: expected one face, found %d", path, found);
			ASSERT_EQ(face_dlib_embed(h, &f, &b[0], vec[n]), 0);
			who[n++] = p;
		}
	}
	ASSERT_EQ(n, 33);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			double d = face_match_distance(vec[i], vec[j]);

			if (who[i] == who[j] && d > same_max) {
				same_max = d;
				snprintf(same_pair, sizeof(same_pair), "%.90s ~ %.90s", names[i],
					 names[j]);
			}
			if (who[i] != who[j] && d < diff_min) {
				diff_min = d;
				snprintf(diff_pair, sizeof(diff_pair), "%.90s ~ %.90s", names[i],
					 names[j]);
			}
		}
	printf("    johns: same person at most %.4f (%s), different people at least %.4f "
	       "(%s)\n",
	       same_max, same_pair, diff_min, diff_pair);
	ASSERT_MSG(same_max < 0.6, "same person %.4f apart: %s", same_max, same_pair);
	ASSERT_MSG(diff_min > 0.6, "different people %.4f apart: %s", diff_min, diff_pair);

	/* Leave-one-out through the gallery: every photo is named as its own
	 * person from the other ten, with the default margin. */
	double margin_min = 1e9, best_max = 0;
	for (int i = 0; i < n; i++) {
		struct face_match_params mp;
		struct face_match *g = NULL;
		struct face_match_result r;
		char err[256];

		face_match_params_default(&mp);
		ASSERT_EQ(face_match_new(&mp, &g, err, sizeof(err)), 0);
		for (int j = 0; j < n; j++)
			if (j != i)
				ASSERT_EQ(face_match_add(g, who[j] + 1, vec[j]), 0);
		ASSERT_EQ(face_match_query(g, vec[i], &r), 0);
		face_match_free(g);
		ASSERT_MSG(r.verdict == FACE_MATCH_KNOWN && r.customer_id == who[i] + 1,
			   "%s: verdict %s, customer %lld at %.3f, margin %.3f", names[i],
			   face_match_verdict_name(r.verdict), (long long)r.customer_id,
			   (double)r.distance, (double)r.margin);
		margin_min = fmin(margin_min, r.margin);
		best_max = fmax(best_max, r.distance);
	}
	printf("    leave-one-out: every photo named, best match at most %.4f, margin to the "
	       "next person at least %.4f\n",
	       best_max, margin_min);
}

/* ---- detection ---------------------------------------------------------- */

struct label {
	char file[128];
	struct face_box box;
};

/* The <image file='...'> and <box top left width height> of a dlib
 * imglab XML file. */
static int read_labels(const char *path, struct label *out, int max)
{
	static char text[64 * 1024];
	char file[128] = "";
	const char *p;
	size_t len;
	FILE *f;
	int n = 0;

	f = fopen(path, "r");
	if (!f)
		return -errno;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	for (p = text; (p = strchr(p, '<')); p++) {
		int t, l, w, h;

		if (sscanf(p, "<image file='%127[^']'", file) == 1)
			continue;
		if (sscanf(p, "<box top='%d' left='%d' width='%d' height='%d'", &t, &l, &w, &h) ==
			4 &&
		    n < max) {
			snprintf(out[n].file, sizeof(out[n].file), "%s", file);
			out[n].box =
			    (struct face_box){.left = l, .top = t, .width = w, .height = h};
			n++;
		}
	}
	return n;
}

TEST(detection_recall_on_the_labelled_scenes)
{
	static struct label labels[LABELS_MAX];
	struct face_dlib *h;
	int n = 0, found = 0, extra = 0, images = 0;
	char missed[1024] = "";

	if (!have_data() || !(h = handle()))
		return;
	for (int x = 0; x < 2; x++) {
		const char *xml = x ? DATA "/scenes/testing.xml" : DATA "/scenes/training.xml";
		int k = read_labels(xml, labels + n, LABELS_MAX - n);

		ASSERT_MSG(k > 0, "%s: no labelled boxes (%d)", xml, k);
		n += k;
	}
	ASSERT_MSG(n == 43, "expected the 43 labelled faces, read %d", n);
	for (int i = 0; i < n;) {
		struct face_box det[64];
		bool used[64] = {false};
		struct camera_frame f;
		char path[300];
		int nd, j = i;

		snprintf(path, sizeof(path), "%s/scenes/%s", DATA, labels[i].file);
		ASSERT_EQ(load(path, &f), 0);
		nd = face_dlib_detect(h, &f, det, 64);
		ASSERT(nd >= 0 && nd <= 64);
		images++;
		for (; j < n && strcmp(labels[j].file, labels[i].file) == 0; j++) {
			const struct face_box *l = &labels[j].box;
			const int cx = l->left + l->width / 2, cy = l->top + l->height / 2;
			bool hit = false;

			for (int d = 0; d < nd; d++) {
				bool centre = cx >= det[d].left &&
					      cx < det[d].left + det[d].width && cy >= det[d].top &&
					      cy < det[d].top + det[d].height;

				if (iou(l, &det[d]) >= 0.3 || centre) {
					hit = true;
					used[d] = true;
				}
			}
			found += hit;
			if (!hit)
				snprintf(missed + strlen(missed), sizeof(missed) - strlen(missed),
					 " %s@%d,%d", labels[j].file, l->left, l->top);
		}
		for (int d = 0; d < nd; d++)
			extra += !used[d];
		i = j;
	}
	printf("    recall %d/%d (%.1f%%) on %d images, %d detections without a label;%s%s\n",
	       found, n, 100.0 * found / n, images, extra, missed[0] ? " missed:" : "", missed);
	ASSERT_MSG(found * 100 >= 95 * n, "recall %d/%d under 95%%:%s", found, n, missed);
}

TEST(dogs_have_no_face)
{
	struct face_box b[8];
	struct camera_frame f;
	struct face_dlib *h;

	if (!have_data() || !(h = handle()))
		return;
	ASSERT_EQ(load(DATA "/scenes/dogs.jpg", &f), 0);
	ASSERT_EQ(f.width, 900); /* scaled to 640 wide for detection */
	ASSERT_EQ(face_dlib_detect(h, &f, b, 8), 0);
}

TEST(max_boxes_reports_the_count_and_keeps_the_best)
{
	struct face_box all[16], two[3];
	struct camera_frame f;
	struct face_dlib *h;
	int n;

	if (!have_data() || !(h = handle()))
		return;
	ASSERT_EQ(load(DATA "/scenes/2008_002470.jpg", &f), 0);
	n = face_dlib_detect(h, &f, all, 16);
	ASSERT_EQ(n, 6);
	for (int i = 1; i < n; i++)
		ASSERT(all[i - 1].score >= all[i].score);
	memset(two, 0x77, sizeof(two));
	ASSERT_EQ(face_dlib_detect(h, &f, two, 2), 6);
	ASSERT(memcmp(two, all, 2 * sizeof(two[0])) == 0);
	ASSERT_EQ(two[2].left, 0x77777777); /* untouched */
	ASSERT_EQ(face_dlib_detect(h, &f, NULL, 0), 6);
}

/* Nearest-neighbour 2x enlargement of src into dst (own buffer). */
static void enlarge2(const struct camera_frame *src, struct camera_frame *dst, uint8_t *buf)
{
	*dst = *src;
	dst->width = src->width * 2;
	dst->height = src->height * 2;
	dst->stride = dst->width * 3;
	dst->bytes = (size_t)dst->stride * dst->height;
	dst->data = buf;
	for (uint32_t y = 0; y < dst->height; y++)
		for (uint32_t x = 0; x < dst->width; x++)
			memcpy(buf + (size_t)y * dst->stride + x * 3,
			       src->data + (size_t)(y / 2) * src->stride + (x / 2) * 3, 3);
}

TEST(wide_frames_are_detected_scaled_down_and_boxes_mapped_back)
{
	static uint8_t big[1000 * 750 * 3];
	struct face_box small[8], large[8];
	struct camera_frame f, g;
	struct face_dlib *h;
	int n;

	if (!have_data() || !(h = handle()))
		return;
	ASSERT_EQ(load(DATA "/scenes/2008_001322.jpg", &f), 0);
	n = face_dlib_detect(h, &f, small, 8);
	ASSERT_EQ(n, 3);
	enlarge2(&f, &g, big);
	/* 1000 px wide: detection runs on a 640 px copy; boxes come back in
	 * the frame's own pixels, twice the 500 px ones. */
	ASSERT_EQ(face_dlib_detect(h, &g, large, 8), 3);
	for (int i = 0; i < 3; i++) {
		struct face_box want = {small[i].left * 2, small[i].top * 2, small[i].width * 2,
					small[i].height * 2, 0};
		double best = 0;

		for (int j = 0; j < 3; j++)
			best = fmax(best, iou(&want, &large[j]));
		ASSERT_MSG(best > 0.6, "face %d: best IoU %.2f after scaling", i, best);
	}
}

TEST(upsample_zero_misses_small_faces)
{
	struct face_dlib_params p;
	struct face_dlib *h0 = NULL;
	struct face_box b[16];
	struct camera_frame f;
	char err[FACE_DLIB_ERROR_MAX];

	if (!have_data() || !handle())
		return;
	face_dlib_params_default(&p);
	snprintf(p.models_dir, sizeof(p.models_dir), "%s", MODELS);
	p.upsample = 0;
	ASSERT_MSG(face_dlib_open(&p, &h0, err, sizeof(err)) == 0, "%s", err);
	ASSERT_EQ(load(DATA "/scenes/2008_004176.jpg", &f), 0); /* seven 37 px faces */
	ASSERT_EQ(face_dlib_detect(h0, &f, b, 16), 0);
	ASSERT_EQ(face_dlib_detect(handle(), &f, b, 16), 7);
	ASSERT_EQ(face_dlib_params(h0)->upsample, 0);
	face_dlib_close(h0);
}

/* Every face found in the whole frame is found again by a search around
 * its box alone: big faces (searched at their size), small ones (enlarged). */
TEST(search_near_a_box_finds_the_same_face)
{
	static const char *scenes[] = {"2008_001322.jpg", "2008_004176.jpg", "2008_002470.jpg"};
	struct face_box all[16], near[8];
	struct camera_frame f;
	struct face_dlib *h;

	if (!have_data() || !(h = handle()))
		return;
	for (int s = 0; s < 3; s++) {
		char path[300];
		int n;

		snprintf(path, sizeof(path), "%s/scenes/%s", DATA, scenes[s]);
		ASSERT_EQ(load(path, &f), 0);
		n = face_dlib_detect(h, &f, all, 16);
		ASSERT(n >= 3 && n <= 16);
		for (int i = 0; i < n; i++) {
			double best = 0;
			int k = face_dlib_detect_near(h, &f, &all[i], near, 8);

			ASSERT_MSG(k >= 1, "%s face %d (%dpx): not found near its box", scenes[s],
				   i, all[i].width);
			for (int j = 0; j < k && j < 8; j++)
				best = fmax(best, iou(&all[i], &near[j]));
			ASSERT_MSG(best > 0.6, "%s face %d: best IoU %.2f", scenes[s], i, best);
		}
	}
	struct face_box off = {5000, 10, 50, 50, 0};
	ASSERT_EQ(face_dlib_detect_near(h, &f, &off, near, 8), -EINVAL);
	ASSERT_EQ(face_dlib_detect_near(h, &f, &all[0], NULL, 8), -EINVAL);
}

/* ---- our path against the benchmark reference --------------------------- */

TEST(reference_loop_agrees_with_our_path)
{
	static float ref[4][FACE_DLIB_DIM];
	struct face_box rb[4], b[4];
	float ours[FACE_DLIB_DIM];
	struct camera_frame f;
	struct face_dlib *h;
	double d;

	if (!have_data() || !(h = handle()))
		return;
	ASSERT_EQ(load(DATA "/johns/John_Savage/000264_01099001.jpg", &f), 0);
	ASSERT_EQ(face_dlib_reference_embed_all(h, &f, 1, rb, ref, 4), 1);
	ASSERT_EQ(face_dlib_detect(h, &f, b, 4), 1);
	ASSERT_EQ(face_dlib_embed(h, &f, &b[0], ours), 0);
	/* Not bit-identical: we detect on grey and run the landmarks on the
	 * frame itself, the reference detects on RGB and runs the landmarks on
	 * the upsampled copy. The same face, and descriptors far closer than
	 * any two photos of one person. */
	d = face_match_distance(ref[0], ours);
	printf("    box IoU %.2f, descriptors %.4f apart\n", iou(&rb[0], &b[0]), d);
	ASSERT_MSG(iou(&rb[0], &b[0]) > 0.5, "boxes differ: IoU %.2f", iou(&rb[0], &b[0]));
	ASSERT_MSG(d < 0.1, "reference and ours %.4f apart", d);
	ASSERT_EQ(face_dlib_reference_embed_all(h, &f, 3, NULL, ref, 4), -EINVAL);
}

/* ---- the tracker with the dlib engine ----------------------------------- */

static int johns_frame(const char *person, int idx, uint64_t ts_ms, struct camera_frame *f)
{
	char dir[256], path[600], *files[16];
	struct dirent *e;
	int nf = 0, rc;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/johns/%s", DATA, person);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d)) && nf < 16)
		if (strstr(e->d_name, ".jpg"))
			files[nf++] = strdup(e->d_name);
	closedir(d);
	qsort(files, (size_t)nf, sizeof(files[0]), cmp_str);
	snprintf(path, sizeof(path), "%s/%s", dir, idx < nf ? files[idx] : "missing");
	for (int i = 0; i < nf; i++)
		free(files[i]);
	rc = load(path, f);
	f->ts_ns = ts_ms * 1000000ull;
	return rc;
}

TEST(tracker_names_a_customer_over_frames_and_sees_a_swap)
{
	struct face_match_params mp;
	struct face_track_params tp;
	struct face_match *g = NULL;
	struct face_track *t = NULL;
	struct face_track_event ev[8];
	struct face_track_stats st;
	struct face_box b[2];
	struct camera_frame f;
	float enrolled[FACE_DLIB_DIM];
	struct face_dlib *h;
	char err[256];
	int n = 0;

	if (!have_data() || !(h = handle()))
		return;
	/* Enrol John Salley from his first photo. */
	ASSERT_EQ(johns_frame("John_Salley", 0, 0, &f), 0);
	ASSERT_EQ(face_dlib_detect(h, &f, b, 2), 1);
	ASSERT_EQ(face_dlib_embed(h, &f, &b[0], enrolled), 0);
	face_match_params_default(&mp);
	ASSERT_EQ(face_match_new(&mp, &g, err, sizeof(err)), 0);
	ASSERT_EQ(face_match_add(g, 501, enrolled), 0);

	face_track_params_default(&tp);
	ASSERT_EQ(face_track_new(&tp, &face_track_engine_dlib, h, g, &t, err, sizeof(err)), 0);
	/* Three other photos of him, 200 ms apart, in about the same place. */
	for (int i = 1; i <= 3; i++) {
		ASSERT_EQ(johns_frame("John_Salley", i, 1000 + 200 * (uint64_t)i, &f), 0);
		ASSERT(face_track_frame(t, &f) >= 0);
		while (n < 8 && face_track_next_event(t, &ev[n]) == 1)
			n++;
	}
	ASSERT_EQ(n, 2);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_STARTED);
	ASSERT_EQ(ev[1].kind, FACE_TRACK_IDENTITY);
	ASSERT_EQ(ev[1].verdict, FACE_MATCH_KNOWN);
	ASSERT_EQ(ev[1].customer_id, 501);
	ASSERT_EQ(ev[1].frames_used, 3);
	ASSERT_EQ(ev[1].votes, 3);

	/* 2.5 s later John Savage stands in the same spot: the re-check sees
	 * someone else, the track ends and a new one starts; three frames on
	 * he is decided: not enrolled, anonymous. */
	n = 0;
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(johns_frame("John_Savage", i, 4100 + 200 * (uint64_t)i, &f), 0);
		ASSERT(face_track_frame(t, &f) >= 0);
		while (n < 8 && face_track_next_event(t, &ev[n]) == 1)
			n++;
	}
	face_track_stats(t, &st);
	ASSERT_EQ(st.swaps, 1);
	ASSERT_EQ(n, 3);
	ASSERT_EQ(ev[0].kind, FACE_TRACK_ENDED);
	ASSERT_EQ(ev[1].kind, FACE_TRACK_STARTED);
	ASSERT_EQ(ev[2].kind, FACE_TRACK_IDENTITY);
	ASSERT_EQ(ev[2].track_id, ev[1].track_id);
	ASSERT_EQ(ev[2].verdict, FACE_MATCH_UNKNOWN);
	ASSERT_EQ(ev[2].customer_id, 0);
	ASSERT(ev[2].distance > 0.6f);
	ASSERT_EQ(st.embeds, 6);
	face_track_free(t);
	face_match_free(g);
}

/* ---- bad input ---------------------------------------------------------- */

TEST(bad_frames_and_boxes)
{
	struct face_box b = {10, 10, 50, 50, 0}, out[2];
	float v[FACE_DLIB_DIM];
	struct camera_frame f;
	struct face_dlib *h;

	if (!(h = handle()))
		return;
	memset(&f, 0, sizeof(f));
	ASSERT_EQ(face_dlib_detect(h, &f, out, 2), -EINVAL);
	ASSERT_CONTAINS(face_dlib_errmsg(h), "no pixels");
	f.data = pixels;
	f.width = 100;
	f.height = 100;
	f.stride = 200; /* under 3 bytes a pixel */
	f.bytes = sizeof(pixels);
	ASSERT_EQ(face_dlib_detect(h, &f, out, 2), -EINVAL);
	ASSERT_EQ(face_dlib_embed(h, &f, &b, v), -EINVAL);
	f.stride = 300;
	f.bytes = 300 * 99; /* one row short */
	ASSERT_EQ(face_dlib_detect(h, &f, out, 2), -EINVAL);
	ASSERT_CONTAINS(face_dlib_errmsg(h), "bytes");
	f.bytes = 300 * 100;
	f.width = CAMERA_MAX_WIDTH + 1;
	ASSERT_EQ(face_dlib_detect(h, &f, out, 2), -EINVAL);
	f.width = 100;
	memset(pixels, 90, 300 * 100);
	ASSERT_EQ(face_dlib_detect(h, &f, out, 2), 0); /* a grey square: fine, no face */
	ASSERT_EQ(face_dlib_detect(h, &f, NULL, 2), -EINVAL);

	b.width = 0;
	ASSERT_EQ(face_dlib_embed(h, &f, &b, v), -EINVAL);
	ASSERT_CONTAINS(face_dlib_errmsg(h), "no area");
	b = (struct face_box){200, 10, 50, 50, 0}; /* right of the frame */
	ASSERT_EQ(face_dlib_embed(h, &f, &b, v), -EINVAL);
	ASSERT_CONTAINS(face_dlib_errmsg(h), "does not fit");
	b = (struct face_box){-100, -100, 90, 90, 0}; /* above and left */
	ASSERT_EQ(face_dlib_embed(h, &f, &b, v), -EINVAL);
	b = (struct face_box){0, 0, 100000, 50, 0};
	ASSERT_EQ(face_dlib_embed(h, &f, &b, v), -EINVAL);
	ASSERT_EQ(face_dlib_embed(h, &f, NULL, v), -EINVAL);
	/* A box partly outside is fine: dlib boxes often are. */
	b = (struct face_box){-10, -10, 60, 60, 0};
	ASSERT_EQ(face_dlib_embed(h, &f, &b, v), 0);
}

static void link_model(const char *dir, const char *file)
{
	char cwd[512], from[1200], to[1200];

	snprintf(from, sizeof(from), "%s/%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : ".", MODELS,
		 file);
	snprintf(to, sizeof(to), "%s/%s", dir, file);
	if (symlink(from, to) < 0)
		printf("    symlink %s: %s\n", to, strerror(errno));
}

/* The first bytes of a model (or of another file) under a model's name. */
static void copy_model(const char *dir, const char *src, const char *file, size_t bytes)
{
	char path[1200];
	static char buf[1 << 20];
	FILE *in, *out;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", MODELS, src);
	in = fopen(path, "rb");
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	out = fopen(path, "wb");
	if (in && out) {
		while (bytes &&
		       (n = fread(buf, 1, bytes < sizeof(buf) ? bytes : sizeof(buf), in)) > 0) {
			fwrite(buf, 1, n, out);
			bytes -= n;
		}
	}
	if (in)
		fclose(in);
	if (out)
		fclose(out);
}

static int open_dir(const char *dir, char *err, size_t len)
{
	struct face_dlib_params p;
	struct face_dlib *h = (struct face_dlib *)1;
	int rc;

	face_dlib_params_default(&p);
	snprintf(p.models_dir, sizeof(p.models_dir), "%s", dir);
	rc = face_dlib_open(&p, &h, err, len);
	if (rc == 0)
		face_dlib_close(h);
	else if (h != NULL)
		return -9999; /* *ret must be NULL on failure */
	return rc;
}

TEST(missing_and_corrupt_models_say_make_deps)
{
	char dir[600], err[FACE_DLIB_ERROR_MAX];

	snprintf(dir, sizeof(dir), "%s/no-models", test_tmpdir());
	ASSERT_EQ(open_dir(dir, err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, FACE_DLIB_LANDMARKS_FILE);
	ASSERT_CONTAINS(err, "make deps");

	/* The network missing, the landmarks fine. */
	snprintf(dir, sizeof(dir), "%s/half", test_tmpdir());
	ASSERT_EQ(mkdir(dir, 0755), 0);
	link_model(dir, FACE_DLIB_LANDMARKS_FILE);
	ASSERT_EQ(open_dir(dir, err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, FACE_DLIB_EMBEDDER_FILE);

	/* Truncated landmarks. */
	snprintf(dir, sizeof(dir), "%s/truncated", test_tmpdir());
	ASSERT_EQ(mkdir(dir, 0755), 0);
	copy_model(dir, FACE_DLIB_LANDMARKS_FILE, FACE_DLIB_LANDMARKS_FILE, 4000);
	link_model(dir, FACE_DLIB_EMBEDDER_FILE);
	ASSERT_EQ(open_dir(dir, err, sizeof(err)), -EBADMSG);
	ASSERT_CONTAINS(err, "corrupt");
	ASSERT_CONTAINS(err, "make deps");

	/* Truncated network. */
	snprintf(dir, sizeof(dir), "%s/truncated-net", test_tmpdir());
	ASSERT_EQ(mkdir(dir, 0755), 0);
	link_model(dir, FACE_DLIB_LANDMARKS_FILE);
	copy_model(dir, FACE_DLIB_EMBEDDER_FILE, FACE_DLIB_EMBEDDER_FILE, 3 << 20);
	ASSERT_EQ(open_dir(dir, err, sizeof(err)), -EBADMSG);
	ASSERT_CONTAINS(err, FACE_DLIB_EMBEDDER_FILE);

	/* The wrong model under the network's name. */
	snprintf(dir, sizeof(dir), "%s/swapped", test_tmpdir());
	ASSERT_EQ(mkdir(dir, 0755), 0);
	link_model(dir, FACE_DLIB_LANDMARKS_FILE);
	copy_model(dir, FACE_DLIB_LANDMARKS_FILE, FACE_DLIB_EMBEDDER_FILE, 64 << 20);
	ASSERT_EQ(open_dir(dir, err, sizeof(err)), -EBADMSG);

	/* Not a model at all. */
	snprintf(dir, sizeof(dir), "%s/text", test_tmpdir());
	ASSERT_EQ(mkdir(dir, 0755), 0);
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", dir, FACE_DLIB_LANDMARKS_FILE);
	FILE *f = fopen(path, "w");
	ASSERT(f);
	fputs("this is not a shape predictor\n", f);
	fclose(f);
	link_model(dir, FACE_DLIB_EMBEDDER_FILE);
	ASSERT_EQ(open_dir(dir, err, sizeof(err)), -EBADMSG);
}

TEST(bad_params_refused)
{
	struct face_dlib_params p;
	struct face_dlib *h = NULL;
	char err[FACE_DLIB_ERROR_MAX];

	face_dlib_params_default(&p);
	p.upsample = 3;
	ASSERT_EQ(face_dlib_open(&p, &h, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "upsample");
	face_dlib_params_default(&p);
	p.detect_max_width = 40;
	ASSERT_EQ(face_dlib_open(&p, &h, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "detect_max_width");
	face_dlib_params_default(&p);
	p.detect_threshold = NAN;
	ASSERT_EQ(face_dlib_open(&p, &h, err, sizeof(err)), -EINVAL);
	face_dlib_params_default(&p);
	p.models_dir[0] = '\0';
	ASSERT_EQ(face_dlib_open(&p, &h, err, sizeof(err)), -EINVAL);
	ASSERT(h == NULL);
	face_dlib_close(NULL);
}

/* ---- edgeboxctl face ---------------------------------------------------- */

/* Runs edgeboxctl with args; stdout into out, stderr into err; exit status. */
static int ctl(const char *args, char *out, size_t outlen, char *err, size_t errlen)
{
	char cmd[2048], errpath[600];
	size_t n;
	FILE *p, *e;
	int st;

	snprintf(errpath, sizeof(errpath), "%s/ctl.err", test_tmpdir());
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl face %s 2>%s", test_bin_dir(), args, errpath);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	st = pclose(p);
	e = fopen(errpath, "r");
	n = e ? fread(err, 1, errlen - 1, e) : 0;
	err[n] = '\0';
	if (e)
		fclose(e);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(ctl_face_embed_prints_json_lines)
{
	static char out[64 * 1024];
	char err[2048];
	int rc, lines = 0, commas = 0;

	if (!have_data())
		return;
	rc = ctl("embed " DATA "/johns/John_Salley/000179_02159509.jpg " DATA "/scenes/dogs.jpg",
		 out, sizeof(out), err, sizeof(err));
	ASSERT_MSG(rc == 1, "exit %d (a file without a face: 1); stderr: %s", rc, err);
	ASSERT_CONTAINS(err, "dogs.jpg: no face found");
	ASSERT_CONTAINS(out, "{\"file\":\"" DATA "/johns/John_Salley/000179_02159509.jpg\","
			     "\"box\":[");
	ASSERT_CONTAINS(out, "\"embedding\":[");
	for (const char *p = out; *p; p++) {
		lines += *p == '\n';
		commas += *p == ',';
	}
	ASSERT_EQ(lines, 1);
	ASSERT_EQ(commas, 1 + 3 + 1 + 127); /* file, box, embedding, 128 floats */

	rc = ctl("embed " DATA "/scenes/2008_002506.jpg", out, sizeof(out), err, sizeof(err));
	ASSERT_EQ(rc, 0);
	lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	ASSERT_EQ(lines, 3);
}

TEST(ctl_face_compare_gives_distance_and_verdict)
{
	char out[4096], err[2048];
	int rc;

	if (!have_data())
		return;
	rc = ctl("compare " DATA "/johns/John_Schneider/000288_00925786.jpg " DATA
		 "/johns/John_Schneider/000302_00925785.jpg",
		 out, sizeof(out), err, sizeof(err));
	ASSERT_MSG(rc == 0, "exit %d: %s", rc, err);
	ASSERT_CONTAINS(out, "distance 0.");
	ASSERT_CONTAINS(out, ": same person (threshold 0.60)");

	rc = ctl("compare --json " DATA "/johns/John_Schneider/000288_00925786.jpg " DATA
		 "/johns/John_Savage/000264_01099001.jpg",
		 out, sizeof(out), err, sizeof(err));
	ASSERT_MSG(rc == 0, "exit %d: %s", rc, err);
	ASSERT_CONTAINS(out, "\"same_person\":false");
	ASSERT_CONTAINS(out, "\"threshold\":0.6");

	/* A stricter bar on the command line. */
	rc = ctl("compare --threshold 0.2 " DATA "/johns/John_Schneider/000288_00925786.jpg " DATA
		 "/johns/John_Schneider/000302_00925785.jpg",
		 out, sizeof(out), err, sizeof(err));
	ASSERT_EQ(rc, 0);
	ASSERT_CONTAINS(out, "different people (threshold 0.20)");
}

TEST(ctl_face_bad_input)
{
	char out[4096], err[4096];

	if (!have_data())
		return;
	ASSERT_EQ(ctl("compare " DATA "/scenes/2008_002506.jpg " DATA "/scenes/dogs.jpg", out,
		      sizeof(out), err, sizeof(err)),
		  1);
	ASSERT_CONTAINS(err, "2008_002506.jpg: 3 faces found");
	ASSERT_EQ(ctl("compare " DATA "/johns/John_Salley/000179_02159509.jpg " DATA
		      "/scenes/dogs.jpg",
		      out, sizeof(out), err, sizeof(err)),
		  1);
	ASSERT_CONTAINS(err, "dogs.jpg: no face found");
	ASSERT_EQ(ctl("embed " DATA "/README.md", out, sizeof(out), err, sizeof(err)), 1);
	ASSERT_CONTAINS(err, "README.md");
	ASSERT_EQ(ctl("embed " DATA "/scenes/nope.jpg", out, sizeof(out), err, sizeof(err)), 1);
	ASSERT_CONTAINS(err, "nope.jpg");
	ASSERT_EQ(ctl("embed --models /nonexistent x.jpg", out, sizeof(out), err, sizeof(err)), 1);
	ASSERT_CONTAINS(err, "make deps");
	ASSERT_EQ(ctl("compare onlyone.jpg", out, sizeof(out), err, sizeof(err)), 2);
	ASSERT_EQ(ctl("compare a b c", out, sizeof(out), err, sizeof(err)), 2);
	ASSERT_EQ(ctl("compare --threshold 7 a b", out, sizeof(out), err, sizeof(err)), 2);
	ASSERT_CONTAINS(err, "--threshold");
	ASSERT_EQ(ctl("embed", out, sizeof(out), err, sizeof(err)), 2);
	ASSERT_EQ(ctl("embed --upsample 9 x.jpg", out, sizeof(out), err, sizeof(err)), 2);
	ASSERT_EQ(ctl("embed --frobnicate x.jpg", out, sizeof(out), err, sizeof(err)), 2);
	ASSERT_EQ(ctl("transmogrify", out, sizeof(out), err, sizeof(err)), 2);
	ASSERT_EQ(ctl("", out, sizeof(out), err, sizeof(err)), 2);
	{
		char cmd[700];
		FILE *f;

		snprintf(cmd, sizeof(cmd), "%s/bad.conf", test_tmpdir());
		f = fopen(cmd, "w");
		ASSERT(f);
		fputs("[faces]\nupsample = 7\n", f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "embed --config %s/bad.conf x.jpg", test_tmpdir());
		ASSERT_EQ(ctl(cmd, out, sizeof(out), err, sizeof(err)), 2);
		ASSERT_CONTAINS(err, "bad.conf:2");
		ASSERT_CONTAINS(err, "upsample");
	}
	ASSERT_EQ(ctl("embed --help", out, sizeof(out), err, sizeof(err)), 0);
	ASSERT_CONTAINS(out, "Usage: edgeboxctl face embed");
	ASSERT_EQ(ctl("compare --help", out, sizeof(out), err, sizeof(err)), 0);
	ASSERT_CONTAINS(out, "Exit status");
	ASSERT_EQ(ctl("--help", out, sizeof(out), err, sizeof(err)), 0);
}
