#include "hal/v4l2_stream.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/videodev2.h>

#include "hal/errmsg.h"
#include "hal/time.h"

struct stream_buf {
	void *start;
	size_t length;
};

struct v4l2_stream {
	const struct v4l2_stream_io *io;
	const char *device;
	int fd;
	struct v4l2_stream_info info;
	size_t frame_bytes;   /* width * 3 * height, what the caller gets */
	size_t min_buf_bytes; /* what a device buffer must hold for one frame */
	struct stream_buf bufs[V4L2_STREAM_MAX_BUFFERS];
	uint32_t nmapped;
	bool buffers_requested; /* REQBUFS succeeded: release with count 0 */
	bool streaming;
	struct camera_stats stats;
	char error[V4L2_STREAM_ERROR_MAX];
};

/* Interrupted ioctls are simply restarted; a bound keeps a broken device
 * from spinning us forever. */
static int xioctl(struct v4l2_stream *s, unsigned long request, void *arg)
{
	int rc, tries = 0;

	do
		rc = s->io->ioctl(s->io->ctx, s->fd, request, arg);
	while (rc == -EINTR && ++tries < V4L2_STREAM_EINTR_RETRIES);
	return rc;
}

static void fourcc_str(uint32_t f, char out[5])
{
	int i;

	for (i = 0; i < 4; i++) {
		char c = (char)((f >> (8 * i)) & 0xff);

		out[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	out[4] = '\0';
}

static void copy_cstr(char *dst, size_t len, const uint8_t *src, size_t srclen)
{
	size_t n = strnlen((const char *)src, srclen);

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int check_caps(struct v4l2_stream *s, char *err, size_t errlen)
{
	struct v4l2_capability cap;
	uint32_t caps;
	int rc;

	memset(&cap, 0, sizeof(cap));
	rc = xioctl(s, VIDIOC_QUERYCAP, &cap);
	if (rc < 0)
		return errmsg(err, errlen, rc,
			      "%s: VIDIOC_QUERYCAP failed: %s (is it a V4L2 video device? "
			      "list them with `v4l2-ctl --list-devices`)",
			      s->device, strerror(-rc));
	copy_cstr(s->info.driver, sizeof(s->info.driver), cap.driver, sizeof(cap.driver));
	copy_cstr(s->info.card, sizeof(s->info.card), cap.card, sizeof(cap.card));
	/* device_caps describes this node; capabilities the whole device. */
	caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
	if (!(caps & V4L2_CAP_VIDEO_CAPTURE))
		return errmsg(err, errlen, -ENODEV,
			      "%s (%s) is not a video capture device; pick the capture node "
			      "shown by `v4l2-ctl --list-devices`",
			      s->device, s->info.card);
	if (!(caps & V4L2_CAP_STREAMING))
		return errmsg(err, errlen, -ENODEV,
			      "%s (%s) does not support streaming I/O, which the v4l2 driver needs",
			      s->device, s->info.card);
	return 0;
}

static int negotiate_format(struct v4l2_stream *s, const struct v4l2_stream_params *p, char *err,
			    size_t errlen)
{
	struct v4l2_format fmt;
	struct v4l2_pix_format *pix = &fmt.fmt.pix;
	char got[5];
	uint32_t pitch;
	int rc;

	memset(&fmt, 0, sizeof(fmt));
	fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	pix->width = p->width;
	pix->height = p->height;
	pix->pixelformat = V4L2_PIX_FMT_RGB24;
	pix->field = V4L2_FIELD_NONE;
	rc = xioctl(s, VIDIOC_S_FMT, &fmt);
	if (rc < 0)
		return errmsg(
		    err, errlen, rc,
		    "%s: cannot set RGB24 %ux%u: %s (VIDIOC_S_FMT; the modes are listed by "
		    "`v4l2-ctl -d %s --list-formats-ext`)",
		    s->device, p->width, p->height, strerror(-rc), s->device);
	/* S_FMT answers with what the driver chose; G_FMT is what it will use. */
	memset(&fmt, 0, sizeof(fmt));
	fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	rc = xioctl(s, VIDIOC_G_FMT, &fmt);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s: VIDIOC_G_FMT failed: %s", s->device,
			      strerror(-rc));
	if (pix->pixelformat != V4L2_PIX_FMT_RGB24) {
		fourcc_str(pix->pixelformat, got);
		return errmsg(err, errlen, -ENOTSUP,
			      "%s: the device answered pixel format '%s', not RGB24 (libv4l2 "
			      "cannot convert it); try another width/height from "
			      "`v4l2-ctl -d %s --list-formats-ext`",
			      s->device, got, s->device);
	}
	if (pix->width == 0 || pix->height == 0 || pix->width > CAMERA_MAX_WIDTH ||
	    pix->height > CAMERA_MAX_HEIGHT)
		return errmsg(err, errlen, -ERANGE,
			      "%s: the device answered %ux%u, outside 1x1..%ux%u; set width and "
			      "height to a mode from `v4l2-ctl -d %s --list-formats-ext`",
			      s->device, pix->width, pix->height, CAMERA_MAX_WIDTH,
			      CAMERA_MAX_HEIGHT, s->device);
	pitch = pix->bytesperline ? pix->bytesperline : pix->width * 3;
	if (pitch < pix->width * 3)
		return errmsg(err, errlen, -ERANGE,
			      "%s: the device answered a row pitch of %u bytes, less than the %u "
			      "bytes of a %u pixel RGB24 row",
			      s->device, pitch, pix->width * 3, pix->width);
	s->info.width = pix->width;
	s->info.height = pix->height;
	s->info.bytesperline = pitch;
	s->frame_bytes = (size_t)pix->width * 3 * pix->height;
	s->min_buf_bytes = (size_t)pitch * (pix->height - 1) + (size_t)pix->width * 3;
	return 0;
}

static int set_rate(struct v4l2_stream *s, const struct v4l2_stream_params *p, char *err,
		    size_t errlen)
{
	struct v4l2_streamparm parm;
	struct v4l2_fract *tpf = &parm.parm.capture.timeperframe;
	int rc;

	memset(&parm, 0, sizeof(parm));
	parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	/* Milli-frames keep rates like 7.5 or 29.97 exact enough. */
	tpf->numerator = 1000;
	tpf->denominator = (uint32_t)(p->fps * 1000.0 + 0.5);
	rc = xioctl(s, VIDIOC_S_PARM, &parm);
	s->info.fps = p->fps;
	s->info.fps_set = false;
	/* Many webcams have no rate control; that is not a reason to fail. */
	if (rc == -ENOTTY || rc == -EINVAL)
		return 0;
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s: cannot set %.3g frames/s: %s (VIDIOC_S_PARM)",
			      s->device, p->fps, strerror(-rc));
	if ((parm.parm.capture.capability & V4L2_CAP_TIMEPERFRAME) && tpf->numerator &&
	    tpf->denominator) {
		s->info.fps = (double)tpf->denominator / tpf->numerator;
		s->info.fps_set = true;
	}
	return 0;
}

static int map_buffers(struct v4l2_stream *s, char *err, size_t errlen)
{
	struct v4l2_requestbuffers req;
	struct v4l2_buffer buf;
	uint32_t i;
	void *start;
	int rc;

	memset(&req, 0, sizeof(req));
	req.count = V4L2_STREAM_BUFFERS;
	req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	req.memory = V4L2_MEMORY_MMAP;
	rc = xioctl(s, VIDIOC_REQBUFS, &req);
	if (rc < 0)
		return errmsg(err, errlen, rc,
			      "%s: cannot get %d mmap buffers: %s (VIDIOC_REQBUFS; is another "
			      "program using the camera? `fuser %s`)",
			      s->device, V4L2_STREAM_BUFFERS, strerror(-rc), s->device);
	s->buffers_requested = true;
	if (req.count < V4L2_STREAM_MIN_BUFFERS)
		return errmsg(err, errlen, -EPROTO,
			      "%s: the device gave %u mmap buffers, at least %d are needed",
			      s->device, req.count, V4L2_STREAM_MIN_BUFFERS);
	/* A driver may insist on more than we asked; extra ones simply stay idle. */
	s->info.buffers = req.count > V4L2_STREAM_MAX_BUFFERS ? V4L2_STREAM_MAX_BUFFERS : req.count;

	for (i = 0; i < s->info.buffers; i++) {
		memset(&buf, 0, sizeof(buf));
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_MMAP;
		buf.index = i;
		rc = xioctl(s, VIDIOC_QUERYBUF, &buf);
		if (rc < 0)
			return errmsg(err, errlen, rc, "%s: VIDIOC_QUERYBUF %u failed: %s",
				      s->device, i, strerror(-rc));
		if (buf.length < s->min_buf_bytes)
			return errmsg(err, errlen, -EPROTO,
				      "%s: buffer %u holds %u bytes, a %ux%u RGB24 frame needs %zu",
				      s->device, i, buf.length, s->info.width, s->info.height,
				      s->min_buf_bytes);
		rc = s->io->mmap(s->io->ctx, s->fd, buf.length, (int64_t)buf.m.offset, &start);
		if (rc < 0)
			return errmsg(err, errlen, rc, "%s: cannot map buffer %u (%u bytes): %s",
				      s->device, i, buf.length, strerror(-rc));
		s->bufs[i].start = start;
		s->bufs[i].length = buf.length;
		s->nmapped = i + 1;
	}
	return 0;
}

static int queue_buffer(struct v4l2_stream *s, uint32_t index)
{
	struct v4l2_buffer buf;

	memset(&buf, 0, sizeof(buf));
	buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	buf.memory = V4L2_MEMORY_MMAP;
	buf.index = index;
	return xioctl(s, VIDIOC_QBUF, &buf);
}

static int start_streaming(struct v4l2_stream *s, char *err, size_t errlen)
{
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	uint32_t i;
	int rc;

	for (i = 0; i < s->nmapped; i++) {
		rc = queue_buffer(s, i);
		if (rc < 0)
			return errmsg(err, errlen, rc, "%s: VIDIOC_QBUF %u failed: %s", s->device,
				      i, strerror(-rc));
	}
	rc = xioctl(s, VIDIOC_STREAMON, &type);
	if (rc < 0)
		return errmsg(err, errlen, rc,
			      "%s: cannot start streaming: %s (VIDIOC_STREAMON; is another "
			      "program using the camera? `fuser %s`)",
			      s->device, strerror(-rc), s->device);
	s->streaming = true;
	return 0;
}

/* Undoes whatever open got done, in reverse; safe at any stage. */
static void teardown(struct v4l2_stream *s)
{
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	struct v4l2_requestbuffers req;
	uint32_t i;

	if (s->streaming)
		xioctl(s, VIDIOC_STREAMOFF, &type);
	s->streaming = false;
	for (i = 0; i < s->nmapped; i++)
		s->io->munmap(s->io->ctx, s->bufs[i].start, s->bufs[i].length);
	s->nmapped = 0;
	if (s->buffers_requested) {
		/* Count 0 hands the buffers back so the next open can have them. */
		memset(&req, 0, sizeof(req));
		req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		req.memory = V4L2_MEMORY_MMAP;
		xioctl(s, VIDIOC_REQBUFS, &req);
		s->buffers_requested = false;
	}
	if (s->fd >= 0)
		s->io->close(s->io->ctx, s->fd);
	s->fd = -1;
}

int v4l2_stream_open(const struct v4l2_stream_io *io, const struct v4l2_stream_params *p,
		     struct v4l2_stream **ret, char *err, size_t errlen)
{
	struct v4l2_stream *s;
	int rc;

	if (!io || !p || !p->device || !ret || !(p->fps > 0) || p->width == 0 || p->height == 0)
		return errmsg(err, errlen, -EINVAL,
			      "v4l2: bad stream parameters (need a device, a size and fps > 0)");
	s = calloc(1, sizeof(*s));
	if (!s)
		return errmsg(err, errlen, -ENOMEM, "%s: out of memory", p->device);
	s->io = io;
	s->device = p->device;
	s->fd = io->open(io->ctx, p->device);
	if (s->fd < 0) {
		rc = errmsg(err, errlen, s->fd,
			    "cannot open %s: %s (is the camera plugged in? "
			    "`v4l2-ctl --list-devices`%s%s)",
			    p->device, strerror(-s->fd), p->alternative ? "; " : "",
			    p->alternative ? p->alternative : "");
		goto free_stream;
	}
	rc = check_caps(s, err, errlen);
	if (rc < 0)
		goto undo_open;
	rc = negotiate_format(s, p, err, errlen);
	if (rc < 0)
		goto undo_open;
	rc = set_rate(s, p, err, errlen);
	if (rc < 0)
		goto undo_open;
	rc = map_buffers(s, err, errlen);
	if (rc < 0)
		goto undo_open;
	rc = start_streaming(s, err, errlen);
	if (rc < 0)
		goto undo_open;
	*ret = s;
	return 0;

undo_open:
	teardown(s);
free_stream:
	free(s);
	return rc;
}

const struct v4l2_stream_info *v4l2_stream_info(const struct v4l2_stream *s)
{
	return &s->info;
}

const char *v4l2_stream_error(const struct v4l2_stream *s)
{
	return s->error;
}

void v4l2_stream_stats(const struct v4l2_stream *s, struct camera_stats *ret)
{
	*ret = s->stats;
}

static int ms_left(uint64_t deadline_ns)
{
	uint64_t now = hal_now_ns(), ms;

	if (now >= deadline_ns)
		return 0;
	ms = (deadline_ns - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Copies a dequeued buffer out; the caller requeues it. */
static void copy_frame(struct v4l2_stream *s, const struct v4l2_buffer *buf,
		       struct camera_frame *frame)
{
	const uint8_t *src = s->bufs[buf->index].start;
	size_t row = (size_t)s->info.width * 3;
	uint32_t y;

	if (s->info.bytesperline == row) {
		memcpy(frame->data, src, s->frame_bytes);
	} else {
		for (y = 0; y < s->info.height; y++)
			memcpy(frame->data + y * row, src + (size_t)y * s->info.bytesperline, row);
	}
	if ((buf->flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
		frame->ts_ns = (uint64_t)buf->timestamp.tv_sec * 1000000000ull +
			       (uint64_t)buf->timestamp.tv_usec * 1000ull;
	else
		frame->ts_ns = hal_now_ns();
	frame->seq = buf->sequence;
	frame->width = s->info.width;
	frame->height = s->info.height;
	frame->stride = (uint32_t)row;
	frame->bytes = s->frame_bytes;
}

int v4l2_stream_read(struct v4l2_stream *s, struct camera_frame *frame, int timeout_ms)
{
	uint64_t deadline = 0;
	struct v4l2_buffer buf;
	int rc, qrc, wait;

	s->error[0] = '\0';
	if (timeout_ms >= 0)
		deadline = hal_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		wait = timeout_ms < 0 ? -1 : ms_left(deadline);
		rc = s->io->poll(s->io->ctx, s->fd, wait);
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return errmsg(s->error, sizeof(s->error), rc, "%s: poll failed: %s",
				      s->device, strerror(-rc));
		if (rc == 0) {
			if (timeout_ms >= 0 && ms_left(deadline) == 0)
				return 0;
			continue;
		}

		memset(&buf, 0, sizeof(buf));
		buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
		buf.memory = V4L2_MEMORY_MMAP;
		rc = xioctl(s, VIDIOC_DQBUF, &buf);
		if (rc == -EAGAIN) {
			/* Woken without a frame; wait again with what is left. */
			if (timeout_ms >= 0 && ms_left(deadline) == 0)
				return 0;
			continue;
		}
		if (rc < 0)
			return errmsg(s->error, sizeof(s->error), rc, "%s: VIDIOC_DQBUF failed: %s",
				      s->device, strerror(-rc));
		if (buf.index >= s->nmapped)
			return errmsg(s->error, sizeof(s->error), -EPROTO,
				      "%s: VIDIOC_DQBUF handed back buffer %u of %u", s->device,
				      buf.index, s->nmapped);

		if ((buf.flags & V4L2_BUF_FLAG_ERROR) ||
		    (buf.bytesused && buf.bytesused < s->min_buf_bytes)) {
			/* A corrupt or short frame: drop it, keep streaming. */
			s->stats.errors++;
			rc = 0;
		} else if (!frame->data || frame->capacity < s->frame_bytes) {
			s->stats.errors++;
			rc = errmsg(
			    s->error, sizeof(s->error), -ENOSPC,
			    "%s: the frame buffer holds %zu bytes, a %ux%u RGB24 frame needs "
			    "%zu",
			    s->device, frame->data ? frame->capacity : 0, s->info.width,
			    s->info.height, s->frame_bytes);
		} else {
			copy_frame(s, &buf, frame);
			s->stats.frames++;
			rc = 1;
		}
		qrc = queue_buffer(s, buf.index);
		if (qrc < 0)
			return errmsg(s->error, sizeof(s->error), qrc,
				      "%s: VIDIOC_QBUF %u failed: %s", s->device, buf.index,
				      strerror(-qrc));
		if (rc != 0)
			return rc;
		if (timeout_ms >= 0 && ms_left(deadline) == 0)
			return 0;
	}
}

void v4l2_stream_close(struct v4l2_stream *s)
{
	if (!s)
		return;
	teardown(s);
	free(s);
}
