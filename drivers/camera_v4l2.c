/*
 * camera_v4l2 — a real camera through libv4l2 (which converts the sensor's
 * format to RGB24). Glue only: the libv4l2 I/O table and the config keys;
 * the capture logic is hal/v4l2_stream.c, tested against a fake device.
 *
 *   [camera]
 *   driver = v4l2
 *   device = /dev/video0   # default
 *   width = 640            # asked for; the device may pick another size
 *   height = 480
 *   fps = 15
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <libv4l2.h>

#include "firmware/config.h"
#include "hal/camera.h"
#include "hal/v4l2_stream.h"

#define CAMERA_V4L2_DEVICE_MAX 256

struct camera_v4l2 {
	struct v4l2_stream *stream;
	char device[CAMERA_V4L2_DEVICE_MAX]; /* the stream keeps a pointer to it */
};

static int io_open(void *ctx, const char *path)
{
	int fd;

	(void)ctx;
	fd = v4l2_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int io_close(void *ctx, int fd)
{
	(void)ctx;
	return v4l2_close(fd) < 0 ? -errno : 0;
}

static int io_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	(void)ctx;
	return v4l2_ioctl(fd, request, arg) < 0 ? -errno : 0;
}

static int io_mmap(void *ctx, int fd, size_t length, int64_t offset, void **ret)
{
	void *p;

	(void)ctx;
	p = v4l2_mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	if (p == MAP_FAILED)
		return -errno;
	*ret = p;
	return 0;
}

static int io_munmap(void *ctx, void *addr, size_t length)
{
	(void)ctx;
	return v4l2_munmap(addr, length) < 0 ? -errno : 0;
}

static int io_poll(void *ctx, int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int rc;

	(void)ctx;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	if (rc == 0)
		return 0;
	/* POLLERR without POLLIN: streaming stopped or the camera went away. */
	if (!(pfd.revents & POLLIN))
		return -ENODEV;
	return 1;
}

static const struct v4l2_stream_io libv4l2_io = {
    .open = io_open,
    .close = io_close,
    .ioctl = io_ioctl,
    .mmap = io_mmap,
    .munmap = io_munmap,
    .poll = io_poll,
};

static void set_error(struct camera_dev *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(struct camera_dev *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
}

static int v4l2_cam_open(struct camera_dev *dev, const struct config *cfg, const char *section)
{
	struct v4l2_stream_params params = {.alternative = "test rigs can use driver = replay"};
	const struct v4l2_stream_info *info;
	struct config_error cerr;
	char msg[V4L2_STREAM_ERROR_MAX];
	struct camera_v4l2 *cam;
	const char *device;
	long width, height;
	double fps;
	int rc;

	if ((rc = config_str(cfg, section, "device", "/dev/video0", false, &device, &cerr)) < 0 ||
	    (rc = config_int(cfg, section, "width", 640, 1, CAMERA_MAX_WIDTH, &width, &cerr)) < 0 ||
	    (rc = config_int(cfg, section, "height", 480, 1, CAMERA_MAX_HEIGHT, &height, &cerr)) <
		0 ||
	    (rc = config_double(cfg, section, "fps", 15, 0.1, 240, &fps, &cerr)) < 0) {
		set_error(dev, "camera: %s", cerr.msg);
		return rc;
	}
	if (strlen(device) >= CAMERA_V4L2_DEVICE_MAX) {
		set_error(dev, "camera: [%s] device: path longer than %d bytes", section,
			  CAMERA_V4L2_DEVICE_MAX - 1);
		return -ENAMETOOLONG;
	}
	cam = calloc(1, sizeof(*cam));
	if (!cam) {
		set_error(dev, "camera: out of memory");
		return -ENOMEM;
	}
	strcpy(cam->device, device);
	params.device = cam->device;
	params.width = (uint32_t)width;
	params.height = (uint32_t)height;
	params.fps = fps;
	rc = v4l2_stream_open(&libv4l2_io, &params, &cam->stream, msg, sizeof(msg));
	if (rc < 0) {
		set_error(dev, "camera: %s", msg);
		free(cam);
		return rc;
	}
	info = v4l2_stream_info(cam->stream);
	dev->width = info->width;
	dev->height = info->height;
	dev->fps = info->fps;
	dev->priv = cam;
	return 0;
}

static int v4l2_cam_read(struct camera_dev *dev, struct camera_frame *frame, int timeout_ms)
{
	struct camera_v4l2 *cam = dev->priv;
	int rc;

	if (!cam)
		return -EBADF;
	rc = v4l2_stream_read(cam->stream, frame, timeout_ms);
	v4l2_stream_stats(cam->stream, &dev->stats);
	if (rc < 0)
		set_error(dev, "camera: %s", v4l2_stream_error(cam->stream));
	return rc;
}

static void v4l2_cam_close(struct camera_dev *dev)
{
	struct camera_v4l2 *cam = dev->priv;

	if (!cam)
		return;
	v4l2_stream_close(cam->stream);
	free(cam);
	dev->priv = NULL;
}

const struct camera_ops camera_v4l2_ops = {
    .name = "v4l2",
    .open = v4l2_cam_open,
    .read = v4l2_cam_read,
    .close = v4l2_cam_close,
};
