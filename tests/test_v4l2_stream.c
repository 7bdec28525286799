/*
 * v4l2_stream against a fake V4L2 device (plain memory behind the I/O seam),
 * and the v4l2 driver's open on a machine without a camera.
 */
#include "test.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <linux/videodev2.h>

#include "firmware/config.h"
#include "hal/camera.h"
#include "hal/time.h"
#include "hal/v4l2_stream.h"

extern const struct camera_ops camera_v4l2_ops;

#define FAKE_FD 42
#define FAKE_MAX_BUFS 16
#define FAKE_LOG 64
#define FAKE_SCRIPT 16

struct fake_buf {
	uint8_t *map; /* what mmap handed out, NULL when unmapped */
	size_t map_len;
	bool queued;
};

struct fake {
	/* knobs */
	int open_rc;		     /* < 0: open fails */
	uint32_t caps;		     /* QUERYCAP capabilities */
	uint32_t answer_w, answer_h; /* 0: the size asked */
	uint32_t answer_fmt;	     /* 0: the format asked */
	uint32_t pad;		     /* bytes after each row */
	uint32_t answer_bpl;	     /* 0: width * 3 + pad */
	unsigned long fail_req;	     /* this ioctl fails with fail_rc ... */
	int fail_rc;
	int fail_after;	       /* ... after succeeding this many times */
	int fail_mmap_at;      /* -1: none */
	uint32_t give_buffers; /* REQBUFS answer; 0: as asked */
	uint32_t short_length; /* QUERYBUF length; 0: a full frame */
	int sparm_rc;
	uint32_t tpf_num, tpf_den; /* S_PARM answer; 0: as asked */
	uint32_t ts_flags;
	uint32_t error_seq;	    /* this frame comes flagged ERROR (0: none) */
	bool starve;		    /* never a frame */
	int dq_script[FAKE_SCRIPT]; /* DQBUF answers before the real ones */
	int n_dq_script;
	int poll_script[FAKE_SCRIPT];
	int n_poll_script;
	/* state */
	bool opened, closed, streaming;
	uint32_t w, h, fmt, bpl;
	uint32_t nbufs;
	struct fake_buf b[FAKE_MAX_BUFS];
	uint32_t queue[FAKE_MAX_BUFS]; /* FIFO of queued indexes */
	uint32_t nqueue;
	uint32_t seq;
	int mapped;
	int misuse; /* calls a real device would refuse */
	struct v4l2_format asked_fmt;
	struct v4l2_streamparm asked_parm;
	unsigned long log[FAKE_LOG];
	int nlog;
	int dq_pos, poll_pos;
	int fail_count;
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
	f->fail_mmap_at = -1;
	f->ts_flags = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
}

/* The byte the fake puts at (row, column byte) of frame seq. */
static uint8_t pattern(uint32_t seq, uint32_t row, uint32_t col)
{
	return (uint8_t)(seq * 31 + row * 7 + col);
}

static int fake_open(void *ctx, const char *path)
{
	struct fake *f = ctx;

	(void)path;
	if (f->open_rc < 0)
		return f->open_rc;
	if (f->opened)
		f->misuse++;
	f->opened = true;
	return FAKE_FD;
}

static int fake_close(void *ctx, int fd)
{
	struct fake *f = ctx;

	if (fd != FAKE_FD || !f->opened || f->closed)
		f->misuse++;
	/* A real close also drops the buffers; a caller that forgets REQBUFS 0
	 * is caught by the mapped count and ASan, not here. */
	f->closed = true;
	return 0;
}

static int fake_dqbuf(struct fake *f, struct v4l2_buffer *buf)
{
	uint32_t idx, row, col;
	uint8_t *p;

	if (f->dq_pos < f->n_dq_script)
		return f->dq_script[f->dq_pos++];
	if (!f->streaming || f->nqueue == 0 || f->starve)
		return -EAGAIN;
	idx = f->queue[0];
	memmove(f->queue, f->queue + 1, --f->nqueue * sizeof(f->queue[0]));
	f->b[idx].queued = false;
	p = f->b[idx].map;
	if (!p)
		f->misuse++;
	else
		for (row = 0; row < f->h; row++)
			for (col = 0; col < f->bpl; col++)
				p[row * f->bpl + col] =
				    col < f->w * 3 ? pattern(f->seq, row, col) : 0xee;
	buf->index = idx;
	buf->bytesused = f->bpl * f->h;
	buf->flags =
	    f->ts_flags | (f->error_seq && f->seq == f->error_seq ? V4L2_BUF_FLAG_ERROR : 0);
	buf->timestamp.tv_sec = 100 + f->seq;
	buf->timestamp.tv_usec = 500;
	buf->sequence = f->seq++;
	return 0;
}

static int fake_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
	struct fake *f = ctx;
	struct v4l2_format *fmt = arg;
	struct v4l2_requestbuffers *rb = arg;
	struct v4l2_buffer *buf = arg;
	struct v4l2_streamparm *parm = arg;
	struct v4l2_capability *cap = arg;

	if (fd != FAKE_FD || !f->opened || f->closed)
		f->misuse++;
	if (f->nlog < FAKE_LOG)
		f->log[f->nlog++] = req;
	if (req == f->fail_req && f->fail_count++ >= f->fail_after)
		return f->fail_rc;
	switch (req) {
	case VIDIOC_QUERYCAP:
		memset(cap, 0, sizeof(*cap));
		strcpy((char *)cap->driver, "fake");
		strcpy((char *)cap->card, "Fake Camera");
		cap->capabilities = f->caps;
		return 0;
	case VIDIOC_S_FMT:
		f->asked_fmt = *fmt;
		f->w = f->answer_w ? f->answer_w : fmt->fmt.pix.width;
		f->h = f->answer_h ? f->answer_h : fmt->fmt.pix.height;
		f->fmt = f->answer_fmt ? f->answer_fmt : fmt->fmt.pix.pixelformat;
		f->bpl = f->answer_bpl ? f->answer_bpl : f->w * 3 + f->pad;
		/* S_FMT answers with what was chosen, as G_FMT does */
		__attribute__((fallthrough));
	case VIDIOC_G_FMT:
		fmt->fmt.pix.width = f->w;
		fmt->fmt.pix.height = f->h;
		fmt->fmt.pix.pixelformat = f->fmt;
		fmt->fmt.pix.bytesperline = f->bpl;
		fmt->fmt.pix.sizeimage = f->bpl * f->h;
		return 0;
	case VIDIOC_S_PARM:
		f->asked_parm = *parm;
		if (f->sparm_rc)
			return f->sparm_rc;
		parm->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
		if (f->tpf_den) {
			parm->parm.capture.timeperframe.numerator = f->tpf_num;
			parm->parm.capture.timeperframe.denominator = f->tpf_den;
		}
		return 0;
	case VIDIOC_REQBUFS:
		if (rb->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || rb->memory != V4L2_MEMORY_MMAP)
			return -EINVAL;
		if (rb->count == 0) {
			if (f->mapped || f->streaming)
				return f->misuse++, -EBUSY;
			f->nbufs = 0;
			return 0;
		}
		f->nbufs = f->give_buffers ? f->give_buffers : rb->count;
		rb->count = f->nbufs;
		return 0;
	case VIDIOC_QUERYBUF:
		if (buf->index >= f->nbufs)
			return -EINVAL;
		buf->length = f->short_length ? f->short_length : f->bpl * f->h;
		buf->m.offset = buf->index * 0x100000;
		return 0;
	case VIDIOC_QBUF:
		if (buf->index >= f->nbufs || f->b[buf->index].queued || !f->b[buf->index].map)
			return f->misuse++, -EINVAL;
		f->b[buf->index].queued = true;
		f->queue[f->nqueue++] = buf->index;
		return 0;
	case VIDIOC_DQBUF:
		return fake_dqbuf(f, buf);
	case VIDIOC_STREAMON:
		f->streaming = true;
		return 0;
	case VIDIOC_STREAMOFF:
		f->streaming = false;
		f->nqueue = 0;
		memset(f->queue, 0, sizeof(f->queue));
		for (uint32_t i = 0; i < FAKE_MAX_BUFS; i++)
			f->b[i].queued = false;
		return 0;
	}
	return -ENOTTY;
}

static int fake_mmap(void *ctx, int fd, size_t length, int64_t offset, void **ret)
{
	struct fake *f = ctx;
	uint32_t idx = (uint32_t)(offset / 0x100000);

	if (fd != FAKE_FD || idx >= f->nbufs || f->b[idx].map)
		return f->misuse++, -EINVAL;
	if ((int)idx == f->fail_mmap_at)
		return -ENOMEM;
	f->b[idx].map = malloc(length);
	if (!f->b[idx].map)
		return -ENOMEM;
	f->b[idx].map_len = length;
	f->mapped++;
	*ret = f->b[idx].map;
	return 0;
}

static int fake_munmap(void *ctx, void *addr, size_t length)
{
	struct fake *f = ctx;
	uint32_t i;

	for (i = 0; i < FAKE_MAX_BUFS; i++)
		if (f->b[i].map && f->b[i].map == addr) {
			if (f->b[i].map_len != length)
				f->misuse++;
			free(f->b[i].map);
			f->b[i].map = NULL;
			f->mapped--;
			return 0;
		}
	f->misuse++;
	return -EINVAL;
}

static int fake_poll(void *ctx, int fd, int timeout_ms)
{
	struct fake *f = ctx;

	(void)fd;
	(void)timeout_ms;
	if (f->poll_pos < f->n_poll_script)
		return f->poll_script[f->poll_pos++];
	return f->streaming && f->nqueue && !f->starve ? 1 : 0;
}

static struct fake fk;
static const struct v4l2_stream_io fake_io = {
    .ctx = &fk,
    .open = fake_open,
    .close = fake_close,
    .ioctl = fake_ioctl,
    .mmap = fake_mmap,
    .munmap = fake_munmap,
    .poll = fake_poll,
};

static const struct v4l2_stream_params vga = {
    .device = "/dev/video7",
    .width = 640,
    .height = 480,
    .fps = 15,
    .alternative = "use the replay rig",
};

static uint8_t frame_buf[CAMERA_FRAME_MAX_BYTES];

static struct camera_frame new_frame(void)
{
	struct camera_frame f;

	memset(&f, 0, sizeof(f));
	f.data = frame_buf;
	f.capacity = sizeof(frame_buf);
	return f;
}

static int frame_matches(const struct camera_frame *fr, uint32_t seq)
{
	uint32_t row, col;

	for (row = 0; row < fr->height; row++)
		for (col = 0; col < fr->width * 3; col++)
			if (fr->data[row * fr->stride + col] != pattern(seq, row, col))
				return 0;
	return 1;
}

/* After a failed open or a close, the device must be left as found. */
#define ASSERT_TORN_DOWN()                                                                         \
	do {                                                                                       \
		ASSERT_EQ(fk.mapped, 0);                                                           \
		ASSERT(!fk.streaming);                                                             \
		ASSERT(fk.closed);                                                                 \
		ASSERT_EQ(fk.misuse, 0);                                                           \
	} while (0)

static int count_req(unsigned long req)
{
	int i, n = 0;

	for (i = 0; i < fk.nlog; i++)
		n += fk.log[i] == req;
	return n;
}

TEST(opens_with_the_exact_ioctl_sequence_and_streams)
{
	static const unsigned long expect[] = {
	    VIDIOC_QUERYCAP, VIDIOC_S_FMT,    VIDIOC_G_FMT,    VIDIOC_S_PARM,	VIDIOC_REQBUFS,
	    VIDIOC_QUERYBUF, VIDIOC_QUERYBUF, VIDIOC_QUERYBUF, VIDIOC_QUERYBUF, VIDIOC_QBUF,
	    VIDIOC_QBUF,     VIDIOC_QBUF,     VIDIOC_QBUF,     VIDIOC_STREAMON,
	};
	const struct v4l2_stream_info *info;
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	struct camera_stats st;
	char err[256] = "";
	uint32_t i;

	fake_init(&fk);
	ASSERT_MSG(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)) == 0, "%s", err);
	ASSERT_EQ(fk.nlog, sizeof(expect) / sizeof(expect[0]));
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		ASSERT_MSG(fk.log[i] == expect[i], "ioctl %u: %#lx, want %#lx", i, fk.log[i],
			   expect[i]);
	ASSERT_EQ(fk.asked_fmt.type, V4L2_BUF_TYPE_VIDEO_CAPTURE);
	ASSERT_EQ(fk.asked_fmt.fmt.pix.pixelformat, V4L2_PIX_FMT_RGB24);
	ASSERT_EQ(fk.asked_fmt.fmt.pix.width, 640);
	ASSERT_EQ(fk.asked_fmt.fmt.pix.height, 480);
	ASSERT_EQ(fk.asked_parm.parm.capture.timeperframe.numerator, 1000);
	ASSERT_EQ(fk.asked_parm.parm.capture.timeperframe.denominator, 15000);
	ASSERT_EQ(fk.mapped, 4);
	ASSERT(fk.streaming);

	info = v4l2_stream_info(s);
	ASSERT_EQ(info->width, 640);
	ASSERT_EQ(info->height, 480);
	ASSERT_EQ(info->bytesperline, 1920);
	ASSERT_EQ(info->buffers, 4);
	ASSERT(info->fps_set && info->fps == 15);
	ASSERT_STREQ(info->card, "Fake Camera");
	ASSERT_STREQ(info->driver, "fake");

	/* More frames than buffers: each one must have been requeued. */
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(v4l2_stream_read(s, &fr, 100), 1);
		ASSERT_EQ(fr.seq, i);
		ASSERT_EQ(fr.width, 640);
		ASSERT_EQ(fr.height, 480);
		ASSERT_EQ(fr.stride, 1920);
		ASSERT_EQ(fr.bytes, 640 * 480 * 3);
		ASSERT_EQ(fr.ts_ns, (100ull + i) * 1000000000ull + 500000ull);
		ASSERT_MSG(frame_matches(&fr, i), "frame %u bytes differ", i);
	}
	v4l2_stream_stats(s, &st);
	ASSERT_EQ(st.frames, 10);
	ASSERT_EQ(st.errors, 0);
	ASSERT_STREQ(v4l2_stream_error(s), "");
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
	ASSERT_EQ(count_req(VIDIOC_STREAMOFF), 1);
	ASSERT_EQ(fk.log[fk.nlog - 1], VIDIOC_REQBUFS); /* count 0: buffers handed back */
	v4l2_stream_close(NULL);
}

TEST(device_picks_another_size_and_pads_its_rows)
{
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.answer_w = 320;
	fk.answer_h = 240;
	fk.pad = 64;
	ASSERT_MSG(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)) == 0, "%s", err);
	ASSERT_EQ(v4l2_stream_info(s)->width, 320);
	ASSERT_EQ(v4l2_stream_info(s)->height, 240);
	ASSERT_EQ(v4l2_stream_info(s)->bytesperline, 1024);
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), 1);
	ASSERT_EQ(fr.width, 320);
	ASSERT_EQ(fr.stride, 960); /* the padding is dropped */
	ASSERT_EQ(fr.bytes, 320 * 240 * 3);
	ASSERT(frame_matches(&fr, 0));
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(refuses_a_format_other_than_rgb24)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.answer_fmt = V4L2_PIX_FMT_YUYV;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ENOTSUP);
	ASSERT(s == NULL);
	ASSERT_CONTAINS(err, "/dev/video7: the device answered pixel format 'YUYV', not RGB24");
	ASSERT_CONTAINS(err, "--list-formats-ext");
	ASSERT_TORN_DOWN();
	ASSERT_EQ(count_req(VIDIOC_REQBUFS), 0);
}

TEST(refuses_a_size_over_the_limit_or_a_short_pitch)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.answer_w = 3840;
	fk.answer_h = 2160;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ERANGE);
	ASSERT_CONTAINS(err, "answered 3840x2160, outside 1x1..1920x1080");
	ASSERT_TORN_DOWN();

	fake_init(&fk);
	fk.answer_bpl = 100;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ERANGE);
	ASSERT_CONTAINS(err, "answered a row pitch of 100 bytes, less than the 1920 bytes");
	ASSERT_TORN_DOWN();
}

TEST(refuses_a_node_that_cannot_capture_or_stream)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.caps = V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_STREAMING;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ENODEV);
	ASSERT_CONTAINS(err, "/dev/video7 (Fake Camera) is not a video capture device");
	ASSERT_TORN_DOWN();

	fake_init(&fk);
	fk.caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_READWRITE;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ENODEV);
	ASSERT_CONTAINS(err, "does not support streaming I/O");
	ASSERT_TORN_DOWN();

	/* device_caps, when present, speaks for this node. */
	fake_init(&fk);
	fk.caps = V4L2_CAP_DEVICE_CAPS | V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ENODEV);
	ASSERT_TORN_DOWN();
}

TEST(open_failure_names_the_device_and_the_fix)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.open_rc = -ENOENT;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ENOENT);
	ASSERT_STREQ(err, "cannot open /dev/video7: No such file or directory (is the camera "
			  "plugged in? `v4l2-ctl --list-devices`; use the replay rig)");
	ASSERT(!fk.opened && fk.nlog == 0);

	ASSERT_EQ(v4l2_stream_open(&fake_io,
				   &(struct v4l2_stream_params){
				       .device = "/dev/x", .width = 1, .height = 1, .fps = 0},
				   &s, err, sizeof(err)),
		  -EINVAL);
	ASSERT_CONTAINS(err, "bad stream parameters");
}

/* Every step of open fails once in turn; each must undo what was done. */
TEST(each_failing_step_tears_down_cleanly)
{
	static const struct {
		unsigned long req;
		int after;
		int rc;
		const char *says;
	} steps[] = {
	    {VIDIOC_QUERYCAP, 0, -EIO, "VIDIOC_QUERYCAP failed: Input/output error"},
	    {VIDIOC_S_FMT, 0, -EBUSY, "cannot set RGB24 640x480: Device or resource busy"},
	    {VIDIOC_G_FMT, 0, -EIO, "VIDIOC_G_FMT failed"},
	    {VIDIOC_S_PARM, 0, -EBUSY, "cannot set 15 frames/s"},
	    {VIDIOC_REQBUFS, 0, -EBUSY, "cannot get 4 mmap buffers: Device or resource busy"},
	    {VIDIOC_QUERYBUF, 2, -EIO, "VIDIOC_QUERYBUF 2 failed"},
	    {VIDIOC_QBUF, 3, -EINVAL, "VIDIOC_QBUF 3 failed"},
	    {VIDIOC_STREAMON, 0, -ENOSPC, "cannot start streaming: No space left on device"},
	};
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct v4l2_stream *s = NULL;
		char err[256] = "";

		fake_init(&fk);
		fk.fail_req = steps[i].req;
		fk.fail_after = steps[i].after;
		fk.fail_rc = steps[i].rc;
		ASSERT_MSG(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)) == steps[i].rc,
			   "step %zu: %s", i, err);
		ASSERT(s == NULL);
		ASSERT_CONTAINS(err, "/dev/video7");
		ASSERT_CONTAINS(err, steps[i].says);
		ASSERT_TORN_DOWN();
		/* Buffers once granted are handed back with REQBUFS count 0. */
		if (i > 4)
			ASSERT_EQ(count_req(VIDIOC_REQBUFS), 2);
	}
}

TEST(mmap_failure_unmaps_what_was_mapped)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.fail_mmap_at = 2;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -ENOMEM);
	ASSERT_CONTAINS(err,
			"/dev/video7: cannot map buffer 2 (921600 bytes): Cannot allocate memory");
	ASSERT_TORN_DOWN();
	ASSERT_EQ(count_req(VIDIOC_REQBUFS), 2);
}

TEST(too_few_or_too_small_buffers_are_refused)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.give_buffers = 1;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -EPROTO);
	ASSERT_CONTAINS(err, "gave 1 mmap buffers, at least 2 are needed");
	ASSERT_TORN_DOWN();

	fake_init(&fk);
	fk.short_length = 1000;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -EPROTO);
	ASSERT_CONTAINS(err, "buffer 0 holds 1000 bytes, a 640x480 RGB24 frame needs 921600");
	ASSERT_TORN_DOWN();

	/* A driver that insists on more buffers than we track: the rest idle. */
	fake_init(&fk);
	fk.give_buffers = 12;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	ASSERT_EQ(v4l2_stream_info(s)->buffers, V4L2_STREAM_MAX_BUFFERS);
	ASSERT_EQ(fk.mapped, V4L2_STREAM_MAX_BUFFERS);
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(frame_rate_answer_or_no_rate_control)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.tpf_num = 1001;
	fk.tpf_den = 30000;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	ASSERT(v4l2_stream_info(s)->fps > 29.96 && v4l2_stream_info(s)->fps < 29.98);
	v4l2_stream_close(s);

	fake_init(&fk);
	fk.sparm_rc = -ENOTTY;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	ASSERT(!v4l2_stream_info(s)->fps_set);
	ASSERT(v4l2_stream_info(s)->fps == 15);
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(eagain_and_eintr_resume_the_wait)
{
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.dq_script[0] = -EAGAIN;
	fk.dq_script[1] = -EINTR;
	fk.dq_script[2] = -EINTR;
	fk.dq_script[3] = -EAGAIN;
	fk.n_dq_script = 4;
	fk.poll_script[0] = -EINTR;
	fk.poll_script[1] = 1;
	fk.poll_script[2] = -EINTR;
	fk.n_poll_script = 3;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	ASSERT_EQ(v4l2_stream_read(s, &fr, 1000), 1);
	ASSERT_EQ(fr.seq, 0);
	ASSERT(frame_matches(&fr, 0));
	ASSERT_EQ(fk.dq_pos, 4);
	ASSERT_EQ(fk.poll_pos, 3);
	ASSERT_EQ(v4l2_stream_read(s, &fr, 1000), 1);
	ASSERT_EQ(fr.seq, 1);
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(an_eintr_storm_is_bounded)
{
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	fk.fail_req = VIDIOC_QUERYCAP;
	fk.fail_rc = -EINTR;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), -EINTR);
	ASSERT_EQ(count_req(VIDIOC_QUERYCAP), V4L2_STREAM_EINTR_RETRIES);
	ASSERT_TORN_DOWN();
}

TEST(timeout_without_frames)
{
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	char err[256] = "";
	uint64_t t0, dt;

	fake_init(&fk);
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	fk.starve = true;
	t0 = hal_now_ns();
	ASSERT_EQ(v4l2_stream_read(s, &fr, 0), 0);
	/* The fake's poll returns at once, so a 30 ms wait spins on the clock. */
	ASSERT_EQ(v4l2_stream_read(s, &fr, 30), 0);
	dt = hal_now_ns() - t0;
	ASSERT_MSG(dt >= 29000000ull && dt < 500000000ull, "waited %llu ns",
		   (unsigned long long)dt);
	/* Woken, but DQBUF says EAGAIN until the time is up. */
	fk.poll_script[0] = 1;
	fk.poll_script[1] = 1;
	fk.n_poll_script = 2;
	ASSERT_EQ(v4l2_stream_read(s, &fr, 0), 0);
	fk.starve = false;
	ASSERT_EQ(v4l2_stream_read(s, &fr, 0), 1);
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(small_buffer_drops_one_frame_and_keeps_streaming)
{
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	struct camera_stats st;
	char err[256] = "";

	fake_init(&fk);
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	fr.capacity = 640 * 480 * 3 - 1;
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), -ENOSPC);
	ASSERT_STREQ(v4l2_stream_error(s), "/dev/video7: the frame buffer holds 921599 bytes, a "
					   "640x480 RGB24 frame needs 921600");
	fr.capacity = 640 * 480 * 3;
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), 1);
	ASSERT_EQ(fr.seq, 1); /* the gap shows the drop */
	ASSERT(frame_matches(&fr, 1));
	ASSERT_EQ(fk.nqueue, 4); /* every buffer went back */
	v4l2_stream_stats(s, &st);
	ASSERT_EQ(st.frames, 1);
	ASSERT_EQ(st.errors, 1);
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(frames_flagged_bad_are_skipped)
{
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	struct camera_stats st;
	char err[256] = "";

	fake_init(&fk);
	fk.error_seq = 1;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), 1);
	ASSERT_EQ(fr.seq, 0);
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), 1);
	ASSERT_EQ(fr.seq, 2);
	ASSERT(frame_matches(&fr, 2));
	v4l2_stream_stats(s, &st);
	ASSERT_EQ(st.frames, 2);
	ASSERT_EQ(st.errors, 1);
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(timestamps_not_from_the_monotonic_clock_are_replaced)
{
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	uint64_t before, after;
	char err[256] = "";

	fake_init(&fk);
	fk.ts_flags = V4L2_BUF_FLAG_TIMESTAMP_COPY;
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	before = hal_now_ns();
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), 1);
	after = hal_now_ns();
	ASSERT(fr.ts_ns >= before && fr.ts_ns <= after);
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

TEST(read_errors_are_reported)
{
	struct camera_frame fr = new_frame();
	struct v4l2_stream *s = NULL;
	char err[256] = "";

	fake_init(&fk);
	ASSERT_EQ(v4l2_stream_open(&fake_io, &vga, &s, err, sizeof(err)), 0);
	fk.dq_script[0] = -EIO;
	fk.n_dq_script = 1;
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), -EIO);
	ASSERT_STREQ(v4l2_stream_error(s), "/dev/video7: VIDIOC_DQBUF failed: Input/output error");
	fk.poll_script[0] = -ENODEV;
	fk.n_poll_script = 1;
	fk.poll_pos = 0;
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), -ENODEV);
	ASSERT_STREQ(v4l2_stream_error(s), "/dev/video7: poll failed: No such device");
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), 1);
	ASSERT_STREQ(v4l2_stream_error(s), "");
	/* Requeue fails: the frame is lost and the caller hears of it. */
	fk.fail_req = VIDIOC_QBUF;
	fk.fail_rc = -EIO;
	ASSERT_EQ(v4l2_stream_read(s, &fr, 100), -EIO);
	ASSERT_CONTAINS(v4l2_stream_error(s), "VIDIOC_QBUF");
	v4l2_stream_close(s);
	ASSERT_TORN_DOWN();
}

/* ---- the driver, on a machine without a camera ---- */

static struct config *load_cfg(const char *text)
{
	struct config_error cerr;
	struct config *cfg = NULL;

	if (config_load_string("cam.conf", NULL, text, &cfg, &cerr) < 0)
		printf("    config: %s\n", cerr.msg);
	return cfg;
}

TEST(v4l2_driver_open_fails_naming_the_device)
{
	struct config *cfg = load_cfg("[camera]\ndevice = /nonexistent/video9\nwidth = 320\n");
	struct camera_dev dev;

	ASSERT(cfg);
	memset(&dev, 0, sizeof(dev));
	ASSERT_STREQ(camera_v4l2_ops.name, "v4l2");
	ASSERT_EQ(camera_open(&dev, &camera_v4l2_ops, cfg, "camera"), -ENOENT);
	ASSERT_STREQ(dev.error, "camera: cannot open /nonexistent/video9: No such file or "
				"directory (is the camera plugged in? `v4l2-ctl --list-devices`; "
				"test rigs can use driver = replay)");
	ASSERT(dev.priv == NULL);
	camera_close(&dev); /* safe on a dev that failed to open */
	config_free(cfg);
}

TEST(v4l2_driver_default_device_is_video0)
{
	struct config *cfg = load_cfg("[camera]\n");
	struct camera_dev dev;
	int rc;

	ASSERT(cfg);
	memset(&dev, 0, sizeof(dev));
	rc = camera_open(&dev, &camera_v4l2_ops, cfg, "camera");
	if (rc == 0) { /* a machine with a camera: fine, but then close it */
		camera_close(&dev);
	} else {
		ASSERT_CONTAINS(dev.error, "camera: ");
		ASSERT_CONTAINS(dev.error, "/dev/video0");
	}
	config_free(cfg);
}

TEST(v4l2_driver_bad_keys_name_file_line_and_key)
{
	struct config *cfg = load_cfg("[camera]\ndevice = /dev/video0\nwidth = 4000\n");
	struct camera_dev dev;

	ASSERT(cfg);
	memset(&dev, 0, sizeof(dev));
	ASSERT_EQ(camera_open(&dev, &camera_v4l2_ops, cfg, "camera"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "camera: cam.conf:3: [camera] width: expected a whole number "
				   "from 1 to 1920, got '4000'");
	config_free(cfg);

	cfg = load_cfg("[camera]\nfps = fast\n");
	ASSERT(cfg);
	ASSERT_EQ(camera_open(&dev, &camera_v4l2_ops, cfg, "camera"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "cam.conf:2: [camera] fps: expected a number");
	config_free(cfg);
}
