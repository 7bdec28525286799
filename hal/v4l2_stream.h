/*
 * v4l2_stream — V4L2 capture (format negotiation, mmap streaming) behind a
 * small I/O seam.
 *
 * Every call to the device goes through struct v4l2_stream_io, so a test can
 * hand in a fake device backed by plain memory. The real table
 * (drivers/camera_v4l2.c) wraps libv4l2, which converts whatever the sensor
 * gives into RGB24; this code therefore asks for RGB24 and refuses anything
 * else. Frames are copied out into the caller's struct camera_frame with
 * tightly packed rows (stride = width * 3), whatever the device's row pitch.
 * See docs/camera.md.
 */
#ifndef HAL_V4L2_STREAM_H
#define HAL_V4L2_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/camera.h"

#define V4L2_STREAM_BUFFERS 4	  /* mmap buffers asked of the device */
#define V4L2_STREAM_MAX_BUFFERS 8 /* most we accept when a driver insists on more */
#define V4L2_STREAM_MIN_BUFFERS 2 /* fewer cannot stream without dropping every frame */
#define V4L2_STREAM_EINTR_RETRIES 64
#define V4L2_STREAM_ERROR_MAX 256

/*
 * The device seam. Each op returns 0 (open: the fd) or -errno; none may
 * leave the result in errno. ctx is passed back untouched.
 */
struct v4l2_stream_io {
	void *ctx;
	/* Opens read-write and non-blocking (DQBUF answers -EAGAIN when empty). */
	int (*open)(void *ctx, const char *path);
	int (*close)(void *ctx, int fd);
	int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
	/* Maps length bytes at offset (PROT_READ|PROT_WRITE, MAP_SHARED) into *ret. */
	int (*mmap)(void *ctx, int fd, size_t length, int64_t offset, void **ret);
	int (*munmap)(void *ctx, void *addr, size_t length);
	/* Waits for a frame: 1 readable, 0 on timeout (timeout_ms -1: forever), -errno. */
	int (*poll)(void *ctx, int fd, int timeout_ms);
};

struct v4l2_stream_params {
	const char *device; /* e.g. "/dev/video0" */
	uint32_t width;	    /* asked for; the device may answer another size */
	uint32_t height;
	double fps;		 /* asked for with VIDIOC_S_PARM, > 0 */
	const char *alternative; /* appended to the fix when the device is missing,
				    e.g. "test rigs can use driver = replay"; may be NULL */
};

struct v4l2_stream_info {
	uint32_t width; /* agreed with the device */
	uint32_t height;
	uint32_t bytesperline; /* the device's row pitch, >= width * 3 */
	uint32_t buffers;      /* mmap buffers in use */
	double fps;	 /* agreed rate; the requested one if the device has no rate control */
	bool fps_set;	 /* the device took VIDIOC_S_PARM */
	char driver[16]; /* from VIDIOC_QUERYCAP, for messages */
	char card[32];
};

struct v4l2_stream;

/*
 * Opens p->device through io, checks it can capture and stream, negotiates
 * RGB24 at about p->width x p->height (accepting the size the device answers
 * up to CAMERA_MAX_WIDTH x CAMERA_MAX_HEIGHT), sets the rate, maps
 * V4L2_STREAM_BUFFERS buffers, queues them and starts streaming.
 *
 * io and p->device must outlive the stream (io is kept, not copied).
 * On success *ret owns a new stream (free with v4l2_stream_close). On failure
 * everything is undone (stream off, buffers unmapped and released, fd closed),
 * *ret is untouched and err (errlen bytes) says what failed and the fix.
 * Errors: -EINVAL (bad params), -ENOMEM, the -errno of open or of any ioctl,
 * -ENODEV (not a capture device / no streaming I/O), -ENOTSUP (the device
 * answered a pixel format other than RGB24), -ERANGE (the answered size is 0
 * or over CAMERA_MAX_*, or the row pitch is too small), -EPROTO (the device
 * gave too few or too small buffers).
 */
int v4l2_stream_open(const struct v4l2_stream_io *io, const struct v4l2_stream_params *p,
		     struct v4l2_stream **ret, char *err, size_t errlen);

/* What was agreed; owned by the stream, valid until v4l2_stream_close. */
const struct v4l2_stream_info *v4l2_stream_info(const struct v4l2_stream *s);

/*
 * Waits up to timeout_ms (-1: forever; EINTR and EAGAIN resume the wait with
 * the time left) for the next frame and copies it into frame->data, which the
 * caller owns (frame->capacity bytes). Sets ts_ns (the buffer's timestamp when
 * the device stamps with CLOCK_MONOTONIC, else the time of dequeue), seq (the
 * device's sequence), width, height, stride and bytes. Frames the device
 * flags as bad are requeued and counted in stats.errors.
 * 1 with the frame filled, 0 on timeout, -ENOSPC (capacity too small; the
 * frame is dropped, the stream stays usable), -errno of poll/DQBUF/QBUF or
 * -EPROTO (the device handed back a buffer we do not know); after those the
 * stream should be closed. v4l2_stream_error() says what failed.
 */
int v4l2_stream_read(struct v4l2_stream *s, struct camera_frame *frame, int timeout_ms);

/* The last read error, "" if none; owned by the stream. */
const char *v4l2_stream_error(const struct v4l2_stream *s);

void v4l2_stream_stats(const struct v4l2_stream *s, struct camera_stats *ret);

/* Stops streaming, unmaps and releases the buffers, closes the fd, frees s.
 * NULL is fine. */
void v4l2_stream_close(struct v4l2_stream *s);

#endif
