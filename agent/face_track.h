/*
 * face_track — the face stage's logic: faces followed from frame to frame,
 * embedded once per track (and re-checked now and then), kept out when the
 * crop is poor, and named only after several frames agree.
 *
 * Per frame (face_track_frame):
 *   1. detect (the engine: dlib through agent/face_dlib.h in the box, a fake
 *      in tests): over the whole frame when there is no live track or the
 *      last full detection is full_detect_ms old; otherwise only around each
 *      live track's last box (the engine's detect_near), which costs a few
 *      percent of a full detection. New faces are therefore noticed within
 *      full_detect_ms; 0 makes every detection a full one;
 *   2. associate detections with live tracks, greedily by IoU (>= track_iou);
 *      a detection left over starts a track (STARTED), a track not seen for
 *      lost_ms ends (ENDED);
 *   3. embed at most embeds_per_frame faces, those that need it most: tracks
 *      still collecting (fewest descriptors first), then decided tracks whose
 *      last descriptor is older than recheck_ms. A face is embedded only if
 *      it passes the quality gate (face_track_quality);
 *   4. once a track holds decide_frames descriptors, its identity is decided
 *      on their mean against the gallery (agent/face_match.h), and the
 *      individual descriptors must agree (a majority matching the same
 *      customer) or the verdict drops to AMBIGUOUS: IDENTITY. A re-check
 *      replaces the oldest descriptor and re-decides; IDENTITY is sent again
 *      only when the verdict or the customer changes. A re-check descriptor
 *      that is not the same person as the track's mean (distance >=
 *      same_distance: someone else stepped into the box) ends the track and
 *      starts a new one there.
 *
 * The tracker is what buys throughput: the network (0.3 s a face on this
 * box's two cores) runs for a few frames per person, not every frame.
 *
 * Time is the frames' ts_ns (CLOCK_MONOTONIC at capture); a frame older than
 * the previous one counts as taken at the previous one's time.
 *
 * Limits: FACE_TRACK_MAX live tracks (more faces in one frame are counted in
 * stats.untracked and ignored), FACE_TRACK_DETS_MAX detections per frame
 * (the best ones are kept, the rest counted), FACE_TRACK_EVENTS_MAX queued
 * events: drain them with face_track_next_event after every frame;
 * face_track_frame refuses (-ENOBUFS) to run when the queue could overflow.
 *
 * Threads: not thread-safe; one tracker per face stage, with its own engine
 * handle and gallery.
 */
#ifndef AGENT_FACE_TRACK_H
#define AGENT_FACE_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/face_dlib.h"
#include "agent/face_match.h"
#include "hal/camera.h"

struct config;
struct config_error;

#define FACE_TRACK_MAX 16      /* live tracks */
#define FACE_TRACK_DETS_MAX 32 /* detections used per frame */
#define FACE_TRACK_EMB_MAX 8   /* descriptors a track keeps (decide_frames max) */
#define FACE_TRACK_EVENTS_MAX (8 * FACE_TRACK_MAX)
#define FACE_TRACK_BLUR_SIDE 64	 /* the gate measures sharpness on a 64x64 grey crop */
#define FACE_TRACK_MAX_CUT 0.25f /* at most this share of a box outside the frame */
#define FACE_TRACK_ERROR_MAX 512

struct face_track_params {
	unsigned min_face_px;	   /* gate: shorter side of the box, px: 60 */
	float blur_min;		   /* gate: sharpness (below) at least this: 30 */
	float track_iou;	   /* a detection continues a track at IoU >= this: 0.3 */
	uint32_t lost_ms;	   /* a track unseen this long ends: 1500 */
	unsigned decide_frames;	   /* descriptors per decision, 1..FACE_TRACK_EMB_MAX: 3 */
	uint32_t recheck_ms;	   /* re-embed a decided track this often; 0: never: 2000 */
	unsigned embeds_per_frame; /* network runs per frame, 1..FACE_TRACK_MAX: 2 */
	float same_distance;	   /* a re-check this far from the track is someone else: 0.6 */
	uint32_t full_detect_ms;   /* full-frame detection at least this often; 0: always: 1000 */
};

void face_track_params_default(struct face_track_params *p);

/* Everything [faces] configures, for the face stage and edgeboxctl. */
struct face_params {
	struct face_dlib_params dlib;
	struct face_track_params track;
	struct face_match_params match;
};

#define FACE_MODELS_DEFAULT "/usr/share/edgebox/models"

/* Defaults of the three, with dlib.models_dir = FACE_MODELS_DEFAULT. */
void face_params_default(struct face_params *p);

/*
 * Reads [section] of cfg over the defaults (a missing section or key keeps
 * its default):
 *   models           = /usr/share/edgebox/models  folder of the two dlib
 *                      models (relative: to the config file's folder)
 *   upsample         = 1      0..2: 1 finds faces down to ~40 px
 *   detect_max_width = 640    0 or 80..1920: wider frames are scaled down first
 *   detect_threshold = 0      -1..1, added to dlib's detection threshold
 *   min_face_px      = 60     20..1000
 *   blur_min         = 30     0..100000 (0: no blur gate)
 *   track_iou        = 0.3    0.05..0.95
 *   lost_ms          = 1500   100..60000
 *   decide_frames    = 3      1..8
 *   recheck_ms       = 2000   0 (never) or 100..600000
 *   embeds_per_frame = 2      1..16
 *   full_detect_ms   = 1000   0 (every frame) or 100..60000
 *   threshold        = 0.6    0.2..1.2 (also the tracker's same_distance)
 *   margin           = 0.05   0..0.5
 *   gallery_max      = 16384  1..1048576 descriptors
 * 0, or -EINVAL / -ENAMETOOLONG with err->msg naming file, line, key, what
 * was expected and what was found.
 */
int face_params_from_config(const struct config *cfg, const char *section, struct face_params *ret,
			    struct config_error *err);

/* ---- quality gate ----------------------------------------------------- */

enum face_quality {
	FACE_QUALITY_OK,
	FACE_QUALITY_SMALL, /* shorter side under min_face_px */
	FACE_QUALITY_CUT,   /* over FACE_TRACK_MAX_CUT of the box outside the frame */
	FACE_QUALITY_BLUR,  /* sharpness under blur_min */
};

/* "ok", "small", "cut", "blur"; NULL for a value out of range. */
const char *face_quality_name(enum face_quality q);

/*
 * Sharpness of the face in box: the box (clipped to the frame) as grey,
 * resampled to FACE_TRACK_BLUR_SIDE^2 (area average, or bilinear when the
 * box is smaller), then the variance of its 4-neighbour Laplacian. Resampling
 * first makes the number independent of the face's size. On the test
 * photos, sharp faces of 60 px or more score 90 to 2750 and the same faces
 * blurred (Gaussian, sigma about 2.4 px) mostly under 30: the gate keeps out
 * heavy blur, not every soft frame (docs/faces.md).
 * -1 when the box does not overlap the frame. The frame must be valid.
 */
float face_track_sharpness(const struct camera_frame *f, const struct face_box *box);

/* The gate, cheapest test first; *ret_sharpness (may be NULL) gets the
 * sharpness when it was measured, else -1. */
enum face_quality face_track_quality(const struct camera_frame *f, const struct face_box *box,
				     const struct face_track_params *p, float *ret_sharpness);

/* ---- the engine --------------------------------------------------------- */

/* What detects and embeds; they return like face_dlib_detect, _detect_near
 * and _embed. detect_near may be NULL: then every detection is a full one. */
struct face_track_engine {
	int (*detect)(void *ctx, const struct camera_frame *f, struct face_box *boxes, size_t max);
	int (*detect_near)(void *ctx, const struct camera_frame *f, const struct face_box *near,
			   struct face_box *boxes, size_t max);
	int (*embed)(void *ctx, const struct camera_frame *f, const struct face_box *box,
		     float ret_vec[FACE_DLIB_DIM]);
	const char *(*errmsg)(void *ctx); /* the last error's message */
};

/* dlib: ctx is a struct face_dlib *. */
extern const struct face_track_engine face_track_engine_dlib;

/* ---- the tracker -------------------------------------------------------- */

enum face_track_event_kind {
	FACE_TRACK_STARTED,  /* a new face is followed */
	FACE_TRACK_IDENTITY, /* its identity was decided, or changed */
	FACE_TRACK_ENDED,    /* it left (or someone else took its place) */
};

/* "started", "identity", "ended"; NULL for a value out of range. */
const char *face_track_event_name(enum face_track_event_kind k);

struct face_track_event {
	enum face_track_event_kind kind;
	uint32_t track_id;   /* 1, 2, ... never reused by a tracker */
	uint64_t ts_ns;	     /* the frame that caused it */
	struct face_box box; /* the track's last box */
	/* IDENTITY */
	enum face_match_verdict verdict;
	int64_t customer_id;  /* KNOWN: the customer; else 0 (anonymous) */
	int64_t embedding_id; /* KNOWN: the stored embedding that matched best, else 0 */
	float distance;	      /* the mean descriptor to the closest customer (INFINITY: none) */
	float margin;	      /* the next other customer minus that (INFINITY: none) */
	uint32_t frames_used; /* descriptors behind the decision */
	uint32_t votes;	      /* of them, how many matched that customer alone */
	/* ENDED */
	uint32_t frames_seen; /* frames the track was detected in */
	uint64_t duration_ns; /* first to last sighting */
};

struct face_track_stats {
	uint64_t frames;
	uint64_t full_detections; /* frames searched whole */
	uint64_t near_searches;	  /* searches around a track */
	uint64_t detections;
	uint64_t over_detections; /* detections past FACE_TRACK_DETS_MAX in a frame */
	uint64_t untracked;	  /* faces with no free track slot */
	uint64_t tracks;	  /* tracks started */
	uint64_t embeds;	  /* network runs */
	uint64_t embed_errors;
	uint64_t gated_small, gated_cut, gated_blur;
	uint64_t decisions; /* IDENTITY events */
	uint64_t swaps;	    /* tracks ended because a re-check saw someone else */
};

struct face_track;

/*
 * A new tracker. engine and engine_ctx are borrowed (they must outlive the
 * tracker); gallery is borrowed too and may be NULL (everyone anonymous). On
 * success *ret owns the tracker (free with face_track_free). -EINVAL with err
 * naming the bad param; -ENOMEM.
 */
int face_track_new(const struct face_track_params *p, const struct face_track_engine *engine,
		   void *engine_ctx, const struct face_match *gallery, struct face_track **ret,
		   char *err, size_t errlen);

/* NULL is fine. Events not drained are dropped with it. */
void face_track_free(struct face_track *t);

/* Borrowed gallery swap (NULL: none); decisions already made stand until
 * the tracks' next re-check. */
void face_track_set_gallery(struct face_track *t, const struct face_match *gallery);

/*
 * Folds in one frame (steps 1-4 above) and returns how many events it
 * queued. Errors (face_track_errmsg says more): -ENOBUFS (events not
 * drained), -EINVAL (a frame with no pixels or a bad size/stride), the
 * engine's detection errors, and its embedding errors other than -EINVAL (an
 * -EINVAL for one face is counted in stats.embed_errors and skipped).
 */
int face_track_frame(struct face_track *t, const struct camera_frame *f);

/* Ends every live track at ts_ns (the stage stops, the camera went away).
 * Returns how many ENDED events were queued. */
int face_track_end_all(struct face_track *t, uint64_t ts_ns);

/* 1 with *ret filled with the oldest queued event, 0 when none. */
int face_track_next_event(struct face_track *t, struct face_track_event *ret);

/*
 * The descriptor of live track track_id: the mean of the (quality-gated)
 * descriptors it holds, the one its identity is decided on; *ret_frames
 * (may be NULL) gets how many. This is what a kiosk enrolment stores: no
 * image, only the 128 numbers. 0; -ENOENT (no such live track), -EAGAIN (no
 * descriptor yet: the face has not passed the quality gate), -EINVAL.
 */
int face_track_descriptor(const struct face_track *t, uint32_t track_id, float ret[FACE_DLIB_DIM],
			  uint32_t *ret_frames);

/* Live tracks now. */
size_t face_track_live(const struct face_track *t);

void face_track_stats(const struct face_track *t, struct face_track_stats *ret);

/* The last error's message; owned by t. */
const char *face_track_errmsg(const struct face_track *t);

#endif
