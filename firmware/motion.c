#include "firmware/motion.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void motion_params_default(struct motion_params *p)
{
	p->cell_delta = 18;
	p->start_score = 0.04f;
	p->stop_score = 0.01f;
	p->start_frames = 2;
	p->still_frames = 10;
}

void motion_init(struct motion *m, const struct motion_params *p)
{
	memset(m, 0, sizeof(*m));
	m->p = *p;
}

static void reduce(const struct camera_frame *f, uint8_t grid[MOTION_H][MOTION_W])
{
	uint32_t gx, gy, x, y;

	for (gy = 0; gy < MOTION_H; gy++) {
		uint32_t y0 = gy * f->height / MOTION_H, y1 = (gy + 1) * f->height / MOTION_H;

		for (gx = 0; gx < MOTION_W; gx++) {
			uint32_t x0 = gx * f->width / MOTION_W, x1 = (gx + 1) * f->width / MOTION_W;
			uint64_t sum = 0, n = 0;

			/* Sample every other pixel both ways: plenty for a block mean. */
			for (y = y0; y < y1; y += 2) {
				const uint8_t *row = f->data + (size_t)y * f->stride;

				for (x = x0; x < x1; x += 2) {
					const uint8_t *px = row + (size_t)x * 3;

					sum += (77u * px[0] + 150u * px[1] + 29u * px[2]) >> 8;
					n++;
				}
			}
			grid[gy][gx] = n ? (uint8_t)(sum / n) : 0;
		}
	}
}

int motion_frame(struct motion *m, const struct camera_frame *f, struct event *ret)
{
	uint8_t grid[MOTION_H][MOTION_W];
	unsigned changed = 0, x, y;
	bool over, under;
	float score;

	if (!f->data || f->width < MOTION_W || f->height < MOTION_H || f->stride < f->width * 3 ||
	    (size_t)f->stride * f->height > f->bytes)
		return -EINVAL;
	reduce(f, grid);
	if (!m->have_prev || f->width != m->prev_w || f->height != m->prev_h) {
		memcpy(m->prev, grid, sizeof(grid));
		m->have_prev = true;
		m->prev_w = f->width;
		m->prev_h = f->height;
		return 0;
	}
	for (y = 0; y < MOTION_H; y++)
		for (x = 0; x < MOTION_W; x++)
			changed += abs((int)grid[y][x] - (int)m->prev[y][x]) > m->p.cell_delta;
	memcpy(m->prev, grid, sizeof(grid));
	score = (float)changed / (MOTION_W * MOTION_H);
	m->last_score = score;

	over = score >= m->p.start_score;
	under = score < m->p.stop_score;
	if (!m->moving)
		m->run = over ? m->run + 1 : 0;
	else
		m->run = under ? m->run + 1 : 0;
	if (!m->moving && m->run >= m->p.start_frames) {
		m->moving = true;
		m->run = 0;
		memset(ret, 0, sizeof(*ret));
		ret->ts_ns = f->ts_ns;
		ret->kind = EVENT_MOTION_START;
		ret->u.motion.score = score;
		return 1;
	}
	if (m->moving && m->run >= m->p.still_frames) {
		m->moving = false;
		m->run = 0;
		memset(ret, 0, sizeof(*ret));
		ret->ts_ns = f->ts_ns;
		ret->kind = EVENT_MOTION_STOP;
		ret->u.motion.score = score;
		return 1;
	}
	return 0;
}
