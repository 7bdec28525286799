/*
 * face_dlib — dlib face detection, landmarks and embeddings behind a C API.
 *
 * The only C++ in the firmware (agent/face_dlib.cc); exceptions never cross
 * into C: every function catches them and returns -errno with a message.
 *
 *   detect: dlib's HOG frontal face detector, on the frame as it is or, when
 *           it is wider than detect_max_width, on a copy scaled down to that
 *           width; upsampled `upsample` times (each doubles the size, so the
 *           smallest face found halves: about 80 px at 0, 40 px at 1).
 *   embed:  5-point landmarks (shape_predictor_5_face_landmarks.dat) in the
 *           box, the aligned 150x150 chip (padding 0.25), and the 128-D
 *           descriptor of dlib_face_recognition_resnet_model_v1.dat. Two
 *           descriptors of the same person lie closer than about 0.6
 *           (Euclidean); see agent/face_match.h.
 *
 * Everything happens in memory: no frame, chip or crop is ever written to
 * disk. Scratch images are kept in the handle and reused, so after the first
 * frames of a size a call does not allocate (dlib's network keeps its own
 * buffers the same way).
 *
 * Threads: a handle is NOT thread-safe (the network keeps per-call state);
 * use one handle per thread. Handles do not share anything.
 *
 * Frames are RGB24 struct camera_frame (hal/camera.h) up to CAMERA_MAX_*;
 * the frame stays the caller's and is only read during the call.
 */
#ifndef AGENT_FACE_DLIB_H
#define AGENT_FACE_DLIB_H

#include <stddef.h>
#include <stdint.h>

#include "hal/camera.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FACE_DLIB_DIM 128	      /* floats in a descriptor */
#define FACE_DLIB_CHIP 150	      /* side of the aligned chip the network sees */
#define FACE_DLIB_PATH_MAX 1024	      /* bytes of the models folder path */
#define FACE_DLIB_ERROR_MAX 512	      /* bytes of an error message */
#define FACE_DLIB_UPSAMPLE_MAX 2      /* 2 = 4x the pixels per side: 16x the work */
#define FACE_DLIB_MIN_DETECT_WIDTH 80 /* the detector's window is 80x80 */
#define FACE_DLIB_NEAR_TARGET 100     /* px a followed face is searched at */

/* The model files looked for in the models folder. */
#define FACE_DLIB_LANDMARKS_FILE "shape_predictor_5_face_landmarks.dat"
#define FACE_DLIB_EMBEDDER_FILE "dlib_face_recognition_resnet_model_v1.dat"

/*
 * A face in frame pixels. A detection can reach a little past the frame's
 * edges (dlib boxes are not clipped): left/top may be negative and
 * left + width may exceed the frame width.
 */
struct face_box {
	int32_t left;
	int32_t top;
	int32_t width;
	int32_t height;
	float score; /* detector confidence, higher is surer (above detect_threshold); 0: unknown */
};

struct face_dlib_params {
	char models_dir[FACE_DLIB_PATH_MAX]; /* folder with the two model files */
	unsigned upsample;		     /* 0..FACE_DLIB_UPSAMPLE_MAX */
	/* Frames wider than this are scaled down to it before detection (the
	 * upsampling applies after that); 0: never. Else >= 80. */
	uint32_t detect_max_width;
	/* Added to dlib's detection threshold: < 0 finds more (and more false)
	 * faces, > 0 fewer. -1..1. */
	double detect_threshold;
};

/* models_dir "models", upsample 1, detect_max_width 640, threshold 0. */
void face_dlib_params_default(struct face_dlib_params *p);

struct face_dlib;

/*
 * Loads both models (about 0.5 s). On success *ret owns a new handle (free
 * with face_dlib_close). Errors, with err naming the file and the fix:
 *   -EINVAL  bad params (upsample, detect_max_width, threshold, empty folder)
 *   -ENOENT, -EACCES, ...  a model file cannot be opened ("run make deps")
 *   -EBADMSG a model file is corrupt, truncated or the wrong model
 *            ("run make deps" fetches and checks it again)
 *   -ENOMEM
 */
int face_dlib_open(const struct face_dlib_params *p, struct face_dlib **ret, char *err,
		   size_t errlen);

/* NULL is fine. */
void face_dlib_close(struct face_dlib *h);

/* The last error of a call on h; owned by h, valid until the next call. */
const char *face_dlib_errmsg(const struct face_dlib *h);

/* The params the handle was opened with. */
const struct face_dlib_params *face_dlib_params(const struct face_dlib *h);

/*
 * Finds the faces in f and writes up to max of them to boxes, best score
 * first. Returns how many faces were found, which can be more than max (like
 * snprintf: then only the max best were written). Errors: -EINVAL (a frame
 * with no pixels, a bad size or stride, bytes short of the frame), -ENOMEM,
 * -EIO (dlib failed; the message says how).
 */
int face_dlib_detect(struct face_dlib *h, const struct camera_frame *f, struct face_box *boxes,
		     size_t max);

/*
 * Looks for faces only around near (a face seen in an earlier frame): in
 * the region near grown by half its size on every side (clipped to the
 * frame), scaled so that a face of near's size is about
 * FACE_DLIB_NEAR_TARGET px (never upsampled more than the handle's
 * upsample allows). A tracker follows known faces with this at a fraction
 * of a full detection's cost (a 100 px face: a 200x200 search instead of
 * the whole frame). Returns like face_dlib_detect, boxes in frame pixels.
 * Errors: those of face_dlib_detect, and -EINVAL for a near box as
 * face_dlib_embed would refuse it.
 */
int face_dlib_detect_near(struct face_dlib *h, const struct camera_frame *f,
			  const struct face_box *near, struct face_box *boxes, size_t max);

/*
 * The descriptor of the face in box (from face_dlib_detect on the same
 * frame, or any box around one face) into ret_vec. 0, or -EINVAL (bad frame;
 * a box with no area, absurdly large, or not overlapping the frame),
 * -ENOMEM, -EIO.
 */
int face_dlib_embed(struct face_dlib *h, const struct camera_frame *f, const struct face_box *box,
		    float ret_vec[FACE_DLIB_DIM]);

/*
 * BENCHMARK REFERENCE ONLY — not for the firmware's path.
 *
 * dlib used plainly, the way its own example dnn_face_recognition_ex.cpp
 * does it, with h's models: the frame copied into a dlib::matrix<rgb_pixel>
 * (what load_image would have produced), pyramid_up `upsample` times as in
 * face_detection_ex.cpp, detector(img), the shape predictor on every face,
 * extract_image_chip(get_face_chip_details(shape, 150, 0.25)) and the
 * network on all chips as one batch. No downscaling, no tracking, every
 * face every call. Writes up to max descriptors to ret_vecs (and their boxes
 * to ret_boxes unless NULL) and returns how many faces it found, or the
 * errors of face_dlib_detect.
 */
int face_dlib_reference_embed_all(struct face_dlib *h, const struct camera_frame *f,
				  unsigned upsample, struct face_box *ret_boxes,
				  float (*ret_vecs)[FACE_DLIB_DIM], size_t max);

#ifdef __cplusplus
}
#endif

#endif
