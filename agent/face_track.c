/*
 * face_track — tracks, quality gate, per-track identity decisions and the
 * [faces] config (agent/face_track.h). Plain C: dlib is reached only through
 * the engine ops, so tests drive all of this with a fake engine.
 */
#include "agent/face_track.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/config.h"
#include "hal/errmsg.h"

#define NS_PER_MS 1000000ull

struct track {
	bool live;
	bool seen;  /* detected in the current frame */
	bool tried; /* considered for a descriptor in the current frame */
	uint32_t id;
	struct face_box box;
	uint64_t first_ts, last_ts, last_embed_ts;
	uint32_t frames_seen;
	/* The last decide_frames descriptors, a ring: emb_next is the oldest
	 * once full. */
	float emb[FACE_TRACK_EMB_MAX][FACE_DLIB_DIM];
	unsigned n_emb, emb_next;
	bool decided;
	enum face_match_verdict verdict;
	int64_t customer_id;
};

static void track_mean(const struct track *tr, float mean[FACE_DLIB_DIM]);

struct face_track {
	struct face_track_params p;
	const struct face_track_engine *engine;
	void *engine_ctx;
	const struct face_match *gallery;
	struct track tracks[FACE_TRACK_MAX];
	uint32_t next_id;
	uint64_t last_ts;
	uint64_t last_full_ts;
	bool had_full;
	struct face_box dets[FACE_TRACK_DETS_MAX];
	struct face_box near[FACE_TRACK_DETS_MAX];
	struct face_track_event events[FACE_TRACK_EVENTS_MAX];
	size_t ev_head, ev_count;
	struct face_track_stats stats;
	char err[FACE_TRACK_ERROR_MAX];
};

/* ---- params and config -------------------------------------------------- */

void face_track_params_default(struct face_track_params *p)
{
	p->min_face_px = 60;
	p->blur_min = 30.0f;
	p->track_iou = 0.3f;
	p->lost_ms = 1500;
	p->decide_frames = 3;
	p->recheck_ms = 2000;
	p->embeds_per_frame = 2;
	p->same_distance = 0.6f;
	p->full_detect_ms = 1000;
}

void face_params_default(struct face_params *p)
{
	face_dlib_params_default(&p->dlib);
	snprintf(p->dlib.models_dir, sizeof(p->dlib.models_dir), "%s", FACE_MODELS_DEFAULT);
	face_track_params_default(&p->track);
	face_match_params_default(&p->match);
}

int face_params_from_config(const struct config *cfg, const char *sec, struct face_params *ret,
			    struct config_error *err)
{
	struct face_params p;
	long v;
	double d;
	int rc;

	face_params_default(&p);
	rc = config_path(cfg, sec, "models", FACE_MODELS_DEFAULT, false, p.dlib.models_dir,
			 sizeof(p.dlib.models_dir), err);
	rc = rc
		 ?: config_int(cfg, sec, "upsample", p.dlib.upsample, 0, FACE_DLIB_UPSAMPLE_MAX, &v,
			       err);
	if (rc == 0)
		p.dlib.upsample = (unsigned)v;
	rc = rc
		 ?: config_int(cfg, sec, "detect_max_width", p.dlib.detect_max_width, 0,
			       CAMERA_MAX_WIDTH, &v, err);
	if (rc == 0 && v != 0 && v < FACE_DLIB_MIN_DETECT_WIDTH) {
		/* Reuse the reader's message format: file, line, key, expected. */
		rc = config_int(cfg, sec, "detect_max_width", 0, FACE_DLIB_MIN_DETECT_WIDTH,
				CAMERA_MAX_WIDTH, &v, err);
		if (rc == 0)
			rc = -EINVAL;
		snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
			 " (or 0 to never scale down)");
	}
	if (rc == 0)
		p.dlib.detect_max_width = (uint32_t)v;
	rc = rc
		 ?: config_double(cfg, sec, "detect_threshold", p.dlib.detect_threshold, -1, 1,
				  &p.dlib.detect_threshold, err);
	rc = rc ?: config_int(cfg, sec, "min_face_px", p.track.min_face_px, 20, 1000, &v, err);
	if (rc == 0)
		p.track.min_face_px = (unsigned)v;
	rc = rc ?: config_double(cfg, sec, "blur_min", p.track.blur_min, 0, 100000, &d, err);
	if (rc == 0)
		p.track.blur_min = (float)d;
	rc = rc ?: config_double(cfg, sec, "track_iou", p.track.track_iou, 0.05, 0.95, &d, err);
	if (rc == 0)
		p.track.track_iou = (float)d;
	rc = rc ?: config_int(cfg, sec, "lost_ms", p.track.lost_ms, 100, 60000, &v, err);
	if (rc == 0)
		p.track.lost_ms = (uint32_t)v;
	rc = rc
		 ?: config_int(cfg, sec, "decide_frames", p.track.decide_frames, 1,
			       FACE_TRACK_EMB_MAX, &v, err);
	if (rc == 0)
		p.track.decide_frames = (unsigned)v;
	rc = rc ?: config_int(cfg, sec, "recheck_ms", p.track.recheck_ms, 0, 600000, &v, err);
	if (rc == 0 && v != 0 && v < 100) {
		rc = config_int(cfg, sec, "recheck_ms", 0, 100, 600000, &v, err);
		if (rc == 0)
			rc = -EINVAL;
		snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
			 " (or 0 to never re-check)");
	}
	if (rc == 0)
		p.track.recheck_ms = (uint32_t)v;
	rc = rc
		 ?: config_int(cfg, sec, "embeds_per_frame", p.track.embeds_per_frame, 1,
			       FACE_TRACK_MAX, &v, err);
	if (rc == 0)
		p.track.embeds_per_frame = (unsigned)v;
	rc =
	    rc ?: config_int(cfg, sec, "full_detect_ms", p.track.full_detect_ms, 0, 60000, &v, err);
	if (rc == 0 && v != 0 && v < 100) {
		rc = config_int(cfg, sec, "full_detect_ms", 0, 100, 60000, &v, err);
		if (rc == 0)
			rc = -EINVAL;
		snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
			 " (or 0 to search the whole frame every time)");
	}
	if (rc == 0)
		p.track.full_detect_ms = (uint32_t)v;
	rc = rc ?: config_double(cfg, sec, "threshold", p.match.threshold, 0.2, 1.2, &d, err);
	if (rc == 0)
		p.match.threshold = p.track.same_distance = (float)d;
	rc = rc ?: config_double(cfg, sec, "margin", p.match.margin, 0, 0.5, &d, err);
	if (rc == 0)
		p.match.margin = (float)d;
	rc = rc
		 ?: config_int(cfg, sec, "gallery_max", (long)p.match.gallery_max, 1,
			       FACE_MATCH_GALLERY_MAX, &v, err);
	if (rc == 0)
		p.match.gallery_max = (size_t)v;
	if (rc < 0)
		return rc;
	*ret = p;
	return 0;
}

/* ---- quality gate ------------------------------------------------------- */

const char *face_quality_name(enum face_quality q)
{
	switch (q) {
	case FACE_QUALITY_OK:
		return "ok";
	case FACE_QUALITY_SMALL:
		return "small";
	case FACE_QUALITY_CUT:
		return "cut";
	case FACE_QUALITY_BLUR:
		return "blur";
	}
	return NULL;
}

/* The part of box inside the frame: [x0, x1) x [y0, y1); false if none. */
static bool clip_box(const struct camera_frame *f, const struct face_box *b, int64_t *x0,
		     int64_t *y0, int64_t *x1, int64_t *y1)
{
	*x0 = b->left < 0 ? 0 : b->left;
	*y0 = b->top < 0 ? 0 : b->top;
	*x1 = (int64_t)b->left + b->width;
	*y1 = (int64_t)b->top + b->height;
	if (*x1 > (int64_t)f->width)
		*x1 = f->width;
	if (*y1 > (int64_t)f->height)
		*y1 = f->height;
	return b->width > 0 && b->height > 0 && *x1 > *x0 && *y1 > *y0;
}

static inline float luma(const uint8_t *px)
{
	return 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
}

static float luma_at(const struct camera_frame *f, int64_t x, int64_t y)
{
	return luma(f->data + (size_t)y * f->stride + (size_t)x * 3);
}

float face_track_sharpness(const struct camera_frame *f, const struct face_box *box)
{
	enum { S = FACE_TRACK_BLUR_SIDE };
	float g[S][S];
	int64_t x0, y0, x1, y1;
	double sum = 0, sum2 = 0;
	int i, j, n;

	if (!clip_box(f, box, &x0, &y0, &x1, &y1))
		return -1.0f;
	const double w = (double)(x1 - x0), h = (double)(y1 - y0);
	if (w >= S && h >= S) {
		/* Area average: each cell is the mean of the pixels it covers. */
		for (i = 0; i < S; i++) {
			int64_t ya = y0 + (int64_t)(i * h / S),
				yb = y0 + (int64_t)((i + 1) * h / S);
			for (j = 0; j < S; j++) {
				int64_t xa = x0 + (int64_t)(j * w / S);
				int64_t xb = x0 + (int64_t)((j + 1) * w / S);
				float acc = 0;
				for (int64_t y = ya; y < yb; y++)
					for (int64_t x = xa; x < xb; x++)
						acc += luma_at(f, x, y);
				g[i][j] = acc / (float)((yb - ya) * (xb - xa));
			}
		}
	} else {
		/* Bilinear: a small face gets no sharper by being enlarged. */
		for (i = 0; i < S; i++) {
			double sy = (i + 0.5) * h / S - 0.5;
			if (sy < 0)
				sy = 0;
			int64_t ya = (int64_t)sy, yb = ya + 1 < y1 - y0 ? ya + 1 : ya;
			float fy = (float)(sy - (double)ya);
			for (j = 0; j < S; j++) {
				double sx = (j + 0.5) * w / S - 0.5;
				if (sx < 0)
					sx = 0;
				int64_t xa = (int64_t)sx, xb = xa + 1 < x1 - x0 ? xa + 1 : xa;
				float fx = (float)(sx - (double)xa);
				float top = luma_at(f, x0 + xa, y0 + ya) * (1 - fx) +
					    luma_at(f, x0 + xb, y0 + ya) * fx;
				float bot = luma_at(f, x0 + xa, y0 + yb) * (1 - fx) +
					    luma_at(f, x0 + xb, y0 + yb) * fx;
				g[i][j] = top * (1 - fy) + bot * fy;
			}
		}
	}
	n = 0;
	for (i = 1; i < S - 1; i++)
		for (j = 1; j < S - 1; j++) {
			double l =
			    g[i - 1][j] + g[i + 1][j] + g[i][j - 1] + g[i][j + 1] - 4 * g[i][j];
			sum += l;
			sum2 += l * l;
			n++;
		}
	sum /= n;
	return (float)(sum2 / n - sum * sum);
}

enum face_quality face_track_quality(const struct camera_frame *f, const struct face_box *box,
				     const struct face_track_params *p, float *ret_sharpness)
{
	int64_t x0, y0, x1, y1;
	float s;

	if (ret_sharpness)
		*ret_sharpness = -1.0f;
	if (box->width < (int32_t)p->min_face_px || box->height < (int32_t)p->min_face_px)
		return FACE_QUALITY_SMALL;
	if (!clip_box(f, box, &x0, &y0, &x1, &y1) ||
	    (double)((x1 - x0) * (y1 - y0)) <
		(1.0 - FACE_TRACK_MAX_CUT) * (double)box->width * (double)box->height)
		return FACE_QUALITY_CUT;
	if (p->blur_min <= 0)
		return FACE_QUALITY_OK;
	s = face_track_sharpness(f, box);
	if (ret_sharpness)
		*ret_sharpness = s;
	return s < p->blur_min ? FACE_QUALITY_BLUR : FACE_QUALITY_OK;
}

/* ---- the dlib engine ---------------------------------------------------- */

static int dlib_detect(void *ctx, const struct camera_frame *f, struct face_box *boxes, size_t max)
{
	return face_dlib_detect(ctx, f, boxes, max);
}

static int dlib_detect_near(void *ctx, const struct camera_frame *f, const struct face_box *near,
			    struct face_box *boxes, size_t max)
{
	return face_dlib_detect_near(ctx, f, near, boxes, max);
}

static int dlib_embed(void *ctx, const struct camera_frame *f, const struct face_box *box,
		      float ret_vec[FACE_DLIB_DIM])
{
	return face_dlib_embed(ctx, f, box, ret_vec);
}

static const char *dlib_errmsg(void *ctx)
{
	return face_dlib_errmsg(ctx);
}

const struct face_track_engine face_track_engine_dlib = {
    .detect = dlib_detect,
    .detect_near = dlib_detect_near,
    .embed = dlib_embed,
    .errmsg = dlib_errmsg,
};

/* ---- the tracker -------------------------------------------------------- */

const char *face_track_event_name(enum face_track_event_kind k)
{
	switch (k) {
	case FACE_TRACK_STARTED:
		return "started";
	case FACE_TRACK_IDENTITY:
		return "identity";
	case FACE_TRACK_ENDED:
		return "ended";
	}
	return NULL;
}

static int check_params(const struct face_track_params *p, char *err, size_t errlen)
{
	if (p->min_face_px == 0) {
		errmsg(err, errlen, 0, "face_track: min_face_px: expected at least 1 px, got 0");
		return -EINVAL;
	}
	if (!(p->blur_min >= 0 && p->blur_min <= 100000)) {
		errmsg(err, errlen, 0, "face_track: blur_min: expected 0..100000, got %g",
		       (double)p->blur_min);
		return -EINVAL;
	}
	if (!(p->track_iou > 0 && p->track_iou <= 1)) {
		errmsg(err, errlen, 0, "face_track: track_iou: expected (0, 1], got %g",
		       (double)p->track_iou);
		return -EINVAL;
	}
	if (p->lost_ms == 0) {
		errmsg(err, errlen, 0, "face_track: lost_ms: expected at least 1 ms, got 0");
		return -EINVAL;
	}
	if (p->decide_frames < 1 || p->decide_frames > FACE_TRACK_EMB_MAX) {
		errmsg(err, errlen, 0, "face_track: decide_frames: expected 1..%d, got %u",
		       FACE_TRACK_EMB_MAX, p->decide_frames);
		return -EINVAL;
	}
	if (p->embeds_per_frame < 1 || p->embeds_per_frame > FACE_TRACK_MAX) {
		errmsg(err, errlen, 0, "face_track: embeds_per_frame: expected 1..%d, got %u",
		       FACE_TRACK_MAX, p->embeds_per_frame);
		return -EINVAL;
	}
	if (!(p->same_distance > 0 && p->same_distance <= 4)) {
		errmsg(err, errlen, 0, "face_track: same_distance: expected (0, 4], got %g",
		       (double)p->same_distance);
		return -EINVAL;
	}
	return 0;
}

int face_track_new(const struct face_track_params *p, const struct face_track_engine *engine,
		   void *engine_ctx, const struct face_match *gallery, struct face_track **ret,
		   char *err, size_t errlen)
{
	struct face_track *t;
	int rc;

	*ret = NULL;
	rc = check_params(p, err, errlen);
	if (rc < 0)
		return rc;
	if (!engine || !engine->detect || !engine->embed) {
		errmsg(err, errlen, 0, "face_track: no engine (detect and embed are required)");
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		errmsg(err, errlen, 0, "face_track: out of memory");
		return -ENOMEM;
	}
	t->p = *p;
	t->engine = engine;
	t->engine_ctx = engine_ctx;
	t->gallery = gallery;
	t->next_id = 1;
	*ret = t;
	return 0;
}

void face_track_free(struct face_track *t)
{
	free(t);
}

void face_track_set_gallery(struct face_track *t, const struct face_match *gallery)
{
	t->gallery = gallery;
}

size_t face_track_live(const struct face_track *t)
{
	size_t n = 0;

	for (int i = 0; i < FACE_TRACK_MAX; i++)
		n += t->tracks[i].live;
	return n;
}

void face_track_stats(const struct face_track *t, struct face_track_stats *ret)
{
	*ret = t->stats;
}

const char *face_track_errmsg(const struct face_track *t)
{
	return t->err;
}

int face_track_descriptor(const struct face_track *t, uint32_t track_id, float ret[FACE_DLIB_DIM],
			  uint32_t *ret_frames)
{
	if (!t || !track_id || !ret)
		return -EINVAL;
	for (size_t i = 0; i < FACE_TRACK_MAX; i++) {
		const struct track *tr = &t->tracks[i];

		if (!tr->live || tr->id != track_id)
			continue;
		if (!tr->n_emb)
			return -EAGAIN;
		track_mean(tr, ret);
		if (ret_frames)
			*ret_frames = tr->n_emb;
		return 0;
	}
	return -ENOENT;
}

int face_track_next_event(struct face_track *t, struct face_track_event *ret)
{
	if (t->ev_count == 0)
		return 0;
	*ret = t->events[t->ev_head];
	t->ev_head = (t->ev_head + 1) % FACE_TRACK_EVENTS_MAX;
	t->ev_count--;
	return 1;
}

/* Callers check room first (face_track_frame reserves the worst case). */
static struct face_track_event *push_event(struct face_track *t, enum face_track_event_kind kind,
					   const struct track *tr, uint64_t ts)
{
	struct face_track_event *ev;

	ev = &t->events[(t->ev_head + t->ev_count) % FACE_TRACK_EVENTS_MAX];
	t->ev_count++;
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->track_id = tr->id;
	ev->ts_ns = ts;
	ev->box = tr->box;
	ev->distance = INFINITY;
	ev->margin = INFINITY;
	ev->frames_seen = tr->frames_seen;
	ev->duration_ns = tr->last_ts - tr->first_ts;
	return ev;
}

static void start_track(struct face_track *t, struct track *tr, const struct face_box *b,
			uint64_t ts)
{
	memset(tr, 0, sizeof(*tr));
	tr->live = true;
	tr->seen = true;
	tr->id = t->next_id++;
	tr->box = *b;
	tr->first_ts = tr->last_ts = ts;
	tr->frames_seen = 1;
	t->stats.tracks++;
	push_event(t, FACE_TRACK_STARTED, tr, ts);
}

static void end_track(struct face_track *t, struct track *tr, uint64_t ts)
{
	push_event(t, FACE_TRACK_ENDED, tr, ts);
	tr->live = false;
}

static double iou(const struct face_box *a, const struct face_box *b)
{
	int64_t x0 = a->left > b->left ? a->left : b->left;
	int64_t y0 = a->top > b->top ? a->top : b->top;
	int64_t x1 = (int64_t)a->left + a->width, bx1 = (int64_t)b->left + b->width;
	int64_t y1 = (int64_t)a->top + a->height, by1 = (int64_t)b->top + b->height;
	double inter, uni;

	if (bx1 < x1)
		x1 = bx1;
	if (by1 < y1)
		y1 = by1;
	if (x1 <= x0 || y1 <= y0)
		return 0;
	inter = (double)(x1 - x0) * (double)(y1 - y0);
	uni = (double)a->width * a->height + (double)b->width * b->height - inter;
	return uni > 0 ? inter / uni : 0;
}

struct pair {
	double iou;
	int track, det;
};

static int cmp_pair(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->iou != y->iou)
		return x->iou < y->iou ? 1 : -1;
	/* Ties: the lower slot, then the earlier (better-scored) detection. */
	if (x->track != y->track)
		return x->track - y->track;
	return x->det - y->det;
}

/* Step 2: association, ends and starts. */
static void associate(struct face_track *t, const struct face_box *dets, int n, uint64_t ts)
{
	struct pair pairs[FACE_TRACK_MAX * FACE_TRACK_DETS_MAX];
	bool det_used[FACE_TRACK_DETS_MAX] = {false};
	int np = 0, i, j;

	for (i = 0; i < FACE_TRACK_MAX; i++) {
		struct track *tr = &t->tracks[i];

		tr->seen = false;
		if (!tr->live)
			continue;
		for (j = 0; j < n; j++) {
			double v = iou(&tr->box, &dets[j]);
			if (v >= t->p.track_iou)
				pairs[np++] = (struct pair){v, i, j};
		}
	}
	qsort(pairs, (size_t)np, sizeof(pairs[0]), cmp_pair);
	for (i = 0; i < np; i++) {
		struct track *tr = &t->tracks[pairs[i].track];

		if (tr->seen || det_used[pairs[i].det])
			continue;
		tr->seen = true;
		tr->box = dets[pairs[i].det];
		tr->last_ts = ts;
		tr->frames_seen++;
		det_used[pairs[i].det] = true;
	}
	for (i = 0; i < FACE_TRACK_MAX; i++) {
		struct track *tr = &t->tracks[i];

		if (tr->live && !tr->seen && ts - tr->last_ts >= (uint64_t)t->p.lost_ms * NS_PER_MS)
			end_track(t, tr, ts);
	}
	for (j = 0; j < n; j++) {
		if (det_used[j])
			continue;
		for (i = 0; i < FACE_TRACK_MAX && t->tracks[i].live; i++)
			;
		if (i == FACE_TRACK_MAX) {
			t->stats.untracked++;
			continue;
		}
		start_track(t, &t->tracks[i], &dets[j], ts);
	}
}

static void track_mean(const struct track *tr, float mean[FACE_DLIB_DIM])
{
	for (int k = 0; k < FACE_DLIB_DIM; k++) {
		float s = 0;
		for (unsigned e = 0; e < tr->n_emb; e++)
			s += tr->emb[e][k];
		mean[k] = s / (float)tr->n_emb;
	}
}

/* Step 4: decide on the track's descriptors; IDENTITY when it changed. */
static void decide(struct face_track *t, struct track *tr, uint64_t ts)
{
	struct face_match_result r = {
	    .verdict = FACE_MATCH_UNKNOWN, .distance = INFINITY, .margin = INFINITY};
	float mean[FACE_DLIB_DIM];
	uint32_t votes = 0;
	struct face_track_event *ev;

	track_mean(tr, mean);
	if (t->gallery && face_match_count(t->gallery) > 0 &&
	    face_match_query(t->gallery, mean, &r) == 0 && r.customer_id) {
		for (unsigned e = 0; e < tr->n_emb; e++) {
			struct face_match_result one;

			if (face_match_query(t->gallery, tr->emb[e], &one) == 0 &&
			    one.customer_id == r.customer_id &&
			    one.distance < face_match_params(t->gallery)->threshold)
				votes++;
		}
		/* The mean can land between two people; a majority of the single
		 * frames must say the same. */
		if (r.verdict == FACE_MATCH_KNOWN && votes * 2 <= tr->n_emb)
			r.verdict = FACE_MATCH_AMBIGUOUS;
	}
	if (r.verdict != FACE_MATCH_KNOWN)
		r.customer_id = 0;
	if (tr->decided && tr->verdict == r.verdict && tr->customer_id == r.customer_id)
		return;
	tr->decided = true;
	tr->verdict = r.verdict;
	tr->customer_id = r.customer_id;
	t->stats.decisions++;
	ev = push_event(t, FACE_TRACK_IDENTITY, tr, ts);
	ev->verdict = r.verdict;
	ev->customer_id = r.customer_id;
	ev->embedding_id = r.verdict == FACE_MATCH_KNOWN ? r.embedding_id : 0;
	ev->distance = r.distance;
	ev->margin = r.margin;
	ev->frames_used = tr->n_emb;
	ev->votes = votes;
}

/* A new descriptor for tr: collect, re-check or swap. */
static void add_embedding(struct face_track *t, struct track *tr, const float vec[FACE_DLIB_DIM],
			  uint64_t ts)
{
	const unsigned k = t->p.decide_frames;

	if (tr->decided) {
		float mean[FACE_DLIB_DIM];

		track_mean(tr, mean);
		if (face_match_distance(mean, vec) >= t->p.same_distance) {
			/* Someone else stands where the track was. */
			struct face_box b = tr->box;

			t->stats.swaps++;
			end_track(t, tr, ts);
			start_track(t, tr, &b, ts);
			tr->tried = true;
		}
	}
	memcpy(tr->emb[tr->emb_next], vec, sizeof(tr->emb[0]));
	tr->emb_next = (tr->emb_next + 1) % k;
	if (tr->n_emb < k)
		tr->n_emb++;
	tr->last_embed_ts = ts;
	if (tr->n_emb == k)
		decide(t, tr, ts);
}

/* Does tr want a descriptor now? Lower rank goes first; -1: no. */
static int64_t want_rank(const struct face_track *t, const struct track *tr, uint64_t ts)
{
	if (!tr->live || !tr->seen)
		return -1;
	if (!tr->decided)
		return (int64_t)tr->n_emb; /* 0..7: collecting, fewest first */
	if (t->p.recheck_ms && ts - tr->last_embed_ts >= (uint64_t)t->p.recheck_ms * NS_PER_MS)
		return FACE_TRACK_EMB_MAX + 1; /* then re-checks */
	return -1;
}

static int check_frame(struct face_track *t, const struct camera_frame *f)
{
	if (!f || !f->data || f->width == 0 || f->height == 0 || f->width > CAMERA_MAX_WIDTH ||
	    f->height > CAMERA_MAX_HEIGHT || f->stride < (uint64_t)f->width * 3 ||
	    f->bytes < (size_t)f->stride * (f->height - 1) + (size_t)f->width * 3) {
		errmsg(t->err, sizeof(t->err), 0,
		       "face_track: a frame with no pixels, over %dx%d, or a bad stride or size",
		       CAMERA_MAX_WIDTH, CAMERA_MAX_HEIGHT);
		return -EINVAL;
	}
	return 0;
}

static const char *engine_msg(struct face_track *t)
{
	return t->engine->errmsg ? t->engine->errmsg(t->engine_ctx) : "engine error";
}

/* Adds box to the frame's detections unless one already there is the same
 * face (searches around two close tracks both find both faces). */
static int add_near(struct face_track *t, int n, const struct face_box *b)
{
	for (int i = 0; i < n; i++)
		if (iou(&t->dets[i], b) > 0.5)
			return n;
	if (n == FACE_TRACK_DETS_MAX) {
		t->stats.over_detections++;
		return n;
	}
	t->dets[n] = *b;
	return n + 1;
}

/* Step 1: the frame's detections into t->dets; their count or -errno. */
static int detect(struct face_track *t, const struct camera_frame *f, uint64_t ts)
{
	int n = 0, k;

	if (!t->engine->detect_near || t->p.full_detect_ms == 0 || !t->had_full ||
	    face_track_live(t) == 0 ||
	    ts - t->last_full_ts >= (uint64_t)t->p.full_detect_ms * NS_PER_MS) {
		n = t->engine->detect(t->engine_ctx, f, t->dets, FACE_TRACK_DETS_MAX);
		if (n < 0) {
			errmsg(t->err, sizeof(t->err), 0, "face_track: detection: %s",
			       engine_msg(t));
			return n;
		}
		t->stats.full_detections++;
		t->stats.detections += (uint64_t)n;
		t->had_full = true;
		t->last_full_ts = ts;
		if (n > FACE_TRACK_DETS_MAX) {
			t->stats.over_detections += (uint64_t)(n - FACE_TRACK_DETS_MAX);
			n = FACE_TRACK_DETS_MAX;
		}
		return n;
	}
	for (int i = 0; i < FACE_TRACK_MAX; i++) {
		if (!t->tracks[i].live)
			continue;
		k = t->engine->detect_near(t->engine_ctx, f, &t->tracks[i].box, t->near,
					   FACE_TRACK_DETS_MAX);
		if (k == -EINVAL)
			continue; /* a box off this frame (its size changed): not seen */
		if (k < 0) {
			errmsg(t->err, sizeof(t->err), 0, "face_track: detection near track %u: %s",
			       t->tracks[i].id, engine_msg(t));
			return k;
		}
		t->stats.near_searches++;
		t->stats.detections += (uint64_t)k;
		for (int j = 0; j < k && j < FACE_TRACK_DETS_MAX; j++)
			n = add_near(t, n, &t->near[j]);
	}
	return n;
}

int face_track_frame(struct face_track *t, const struct camera_frame *f)
{
	const size_t before = t->ev_count;
	uint64_t ts;
	unsigned budget;
	int n, rc;

	/* Worst case per frame: every track ends, as many start, and each
	 * embedding swaps (2 events) or decides (1). */
	if (FACE_TRACK_EVENTS_MAX - t->ev_count < 4 * FACE_TRACK_MAX) {
		errmsg(t->err, sizeof(t->err), 0,
		       "face_track: %zu events not drained; call face_track_next_event after every "
		       "frame",
		       t->ev_count);
		return -ENOBUFS;
	}
	rc = check_frame(t, f);
	if (rc < 0)
		return rc;
	ts = f->ts_ns < t->last_ts ? t->last_ts : f->ts_ns;
	t->last_ts = ts;
	t->stats.frames++;

	n = detect(t, f, ts);
	if (n < 0)
		return n;
	associate(t, t->dets, n, ts);

	for (int i = 0; i < FACE_TRACK_MAX; i++)
		t->tracks[i].tried = false;
	for (budget = t->p.embeds_per_frame; budget > 0;) {
		struct track *best = NULL;
		int64_t best_rank = -1;
		float vec[FACE_DLIB_DIM];
		enum face_quality q;

		for (int i = 0; i < FACE_TRACK_MAX; i++) {
			struct track *tr = &t->tracks[i];
			int64_t r = tr->tried ? -1 : want_rank(t, tr, ts);

			if (r < 0)
				continue;
			/* Ties: the longest without a descriptor, then the oldest. */
			if (!best || r < best_rank ||
			    (r == best_rank && tr->last_embed_ts < best->last_embed_ts) ||
			    (r == best_rank && tr->last_embed_ts == best->last_embed_ts &&
			     tr->id < best->id))
				best = tr, best_rank = r;
		}
		if (!best)
			break;
		best->tried = true;
		q = face_track_quality(f, &best->box, &t->p, NULL);
		if (q != FACE_QUALITY_OK) {
			t->stats.gated_small += q == FACE_QUALITY_SMALL;
			t->stats.gated_cut += q == FACE_QUALITY_CUT;
			t->stats.gated_blur += q == FACE_QUALITY_BLUR;
			continue;
		}
		budget--;
		t->stats.embeds++;
		rc = t->engine->embed(t->engine_ctx, f, &best->box, vec);
		if (rc < 0) {
			t->stats.embed_errors++;
			errmsg(t->err, sizeof(t->err), 0, "face_track: embedding: %s",
			       engine_msg(t));
			if (rc != -EINVAL)
				return rc;
			continue;
		}
		add_embedding(t, best, vec, ts);
	}
	return (int)(t->ev_count - before);
}

int face_track_end_all(struct face_track *t, uint64_t ts_ns)
{
	int n = 0;

	for (int i = 0; i < FACE_TRACK_MAX; i++) {
		if (!t->tracks[i].live)
			continue;
		if (t->ev_count == FACE_TRACK_EVENTS_MAX)
			break;
		end_track(t, &t->tracks[i], ts_ns < t->last_ts ? t->last_ts : ts_ns);
		n++;
	}
	return n;
}
