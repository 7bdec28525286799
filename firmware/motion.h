/*
 * motion — is something moving in front of the camera?
 *
 * Each RGB24 frame is reduced to a MOTION_W x MOTION_H luma grid (block
 * averages, so sensor noise cancels); the score is the fraction of cells
 * whose luma changed by more than cell_delta since the previous frame.
 * Motion starts when the score reaches start_score on start_frames frames
 * in a row and stops after still_frames frames below stop_score: the
 * hysteresis keeps one waving hand from producing a burst of events.
 */
#ifndef FIRMWARE_MOTION_H
#define FIRMWARE_MOTION_H

#include <stdbool.h>
#include <stdint.h>

#include "firmware/event.h"
#include "hal/camera.h"

#define MOTION_W 40
#define MOTION_H 30

struct motion_params {
	int cell_delta; /* luma change (0..255) that counts a cell as changed */
	float start_score;
	float stop_score;
	unsigned start_frames;
	unsigned still_frames;
};

struct motion {
	struct motion_params p;
	uint8_t prev[MOTION_H][MOTION_W];
	bool have_prev;
	bool moving;
	unsigned run; /* frames in a row on the other side of the bar */
	uint32_t prev_w, prev_h;
	float last_score;
};

void motion_params_default(struct motion_params *p);
void motion_init(struct motion *m, const struct motion_params *p);

/*
 * Folds in one frame; 1 with *ret filled when motion starts or stops, 0
 * otherwise, -EINVAL for a frame with no pixels or a bad stride.
 */
int motion_frame(struct motion *m, const struct camera_frame *f, struct event *ret);

#endif
