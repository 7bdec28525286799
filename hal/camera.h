/*
 * camera — the camera device class.
 *
 * A camera delivers RGB24 frames with monotonic timestamps into buffers the
 * caller owns (the slots of the frame ring), so the hot path never allocates.
 * Drivers: camera_v4l2 (libv4l2, mmap streaming, converted to RGB24 by
 * libv4l2) and camera_replay (a folder of images or a Y4M file, at a set rate).
 */
#ifndef HAL_CAMERA_H
#define HAL_CAMERA_H

#include <errno.h>

#include "hal/hal.h"
#include <stddef.h>
#include <stdint.h>

struct config;

#define CAMERA_MAX_WIDTH 1920
#define CAMERA_MAX_HEIGHT 1080
#define CAMERA_FRAME_MAX_BYTES ((size_t)CAMERA_MAX_WIDTH * CAMERA_MAX_HEIGHT * 3)

struct camera_frame {
	uint64_t ts_ns; /* CLOCK_MONOTONIC at capture */
	uint32_t seq;	/* frame number from the device, gaps show drops */
	uint32_t width;
	uint32_t height;
	uint32_t stride; /* bytes per row, >= width * 3 */
	size_t bytes;	 /* bytes of data used */
	size_t capacity; /* bytes the caller allocated at data */
	uint8_t *data;	 /* RGB24, owned by the caller */
};

struct camera_stats {
	uint64_t frames; /* frames delivered */
	uint64_t errors; /* frames the device or file gave but we rejected */
};

struct camera_dev;

struct camera_ops {
	const char *name;
	/*
	 * Opens, negotiates the format and starts streaming with [section] of
	 * cfg. On success dev->width/height/fps hold what was agreed.
	 * 0, or -errno with dev->error saying what failed and how to fix it.
	 */
	int (*open)(struct camera_dev *dev, const struct config *cfg, const char *section);
	/*
	 * Waits up to timeout_ms (-1: forever) for the next frame and copies it
	 * into frame->data. 1 with the frame filled, 0 on timeout, -ENODATA at
	 * the end of a replay, -ENOSPC if frame->capacity is too small, -errno.
	 */
	int (*read)(struct camera_dev *dev, struct camera_frame *frame, int timeout_ms);
	/* Stops streaming and frees priv. Safe on a dev that failed to open. */
	void (*close)(struct camera_dev *dev);
};

struct camera_dev {
	const struct camera_ops *ops;
	void *priv;
	uint32_t width;
	uint32_t height;
	double fps;
	struct camera_stats stats;
	char error[HAL_ERROR_MAX];
};

static inline int camera_open(struct camera_dev *dev, const struct camera_ops *ops,
			      const struct config *cfg, const char *section)
{
	dev->ops = ops;
	dev->priv = NULL;
	dev->error[0] = '\0';
	return ops->open ? ops->open(dev, cfg, section) : -ENOSYS;
}

static inline int camera_read(struct camera_dev *dev, struct camera_frame *frame, int timeout_ms)
{
	return dev->ops->read ? dev->ops->read(dev, frame, timeout_ms) : -ENOSYS;
}

static inline void camera_close(struct camera_dev *dev)
{
	if (dev && dev->ops && dev->ops->close)
		dev->ops->close(dev);
}

#endif
