#include "hal/image.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "hal/errmsg.h"

static size_t rgb_bytes(uint32_t width, uint32_t height)
{
	return (size_t)width * 3 * height;
}

static int check_size(const char *name, const char *what, uint32_t width, uint32_t height,
		      char *err, size_t errlen)
{
	if (width == 0 || height == 0 || width > CAMERA_MAX_WIDTH || height > CAMERA_MAX_HEIGHT)
		return errmsg(err, errlen, -ERANGE,
			      "%s: %s says %ux%u, outside 1x1..%ux%u (scale it down first)", name,
			      what, width, height, CAMERA_MAX_WIDTH, CAMERA_MAX_HEIGHT);
	return 0;
}

static int check_capacity(const char *name, uint32_t width, uint32_t height,
			  const struct camera_frame *frame, char *err, size_t errlen)
{
	size_t need = rgb_bytes(width, height);

	if (!frame->data || frame->capacity < need)
		return errmsg(err, errlen, -ENOSPC,
			      "%s: the frame buffer holds %zu bytes, a %ux%u RGB24 image needs %zu",
			      name, frame->data ? frame->capacity : 0, width, height, need);
	return 0;
}

static void set_frame(struct camera_frame *frame, uint32_t width, uint32_t height)
{
	frame->width = width;
	frame->height = height;
	frame->stride = width * 3;
	frame->bytes = rgb_bytes(width, height);
}

enum image_format image_sniff(const uint8_t *data, size_t len)
{
	if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
		return IMAGE_FORMAT_JPEG;
	if (len >= 2 && data[0] == 'P' && data[1] == '6')
		return IMAGE_FORMAT_PPM;
	return IMAGE_FORMAT_UNKNOWN;
}

int image_read_file(const char *path, uint8_t *buf, size_t cap, size_t *ret_len, char *err,
		    size_t errlen)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errmsg(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = errmsg(err, errlen, -errno, "cannot stat %s: %s", path, strerror(errno));
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = errmsg(err, errlen, -EINVAL, "%s: not a regular file", path);
		goto close_fd;
	}
	if ((uint64_t)st.st_size > cap) {
		rc = errmsg(err, errlen, -EFBIG,
			    "%s: %lld bytes, more than the %zu this reader takes", path,
			    (long long)st.st_size, cap);
		goto close_fd;
	}
	/* Read to EOF rather than trusting st_size: the file may change under us. */
	for (;;) {
		if (got == cap) {
			char extra;

			n = read(fd, &extra, 1);
			if (n > 0) {
				rc = errmsg(err, errlen, -EFBIG,
					    "%s: grew past %zu bytes while read", path, cap);
				goto close_fd;
			}
		} else {
			n = read(fd, buf + got, cap - got);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errmsg(err, errlen, -errno, "cannot read %s: %s", path,
				    strerror(errno));
			goto close_fd;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_len = got;
close_fd:
	close(fd);
	return rc;
}

/* ---- PPM (P6) ---- */

struct ppm_header {
	uint32_t width;
	uint32_t height;
	size_t offset; /* of the pixel data */
};

/* Whitespace and '#' comments between header fields. */
static size_t ppm_skip(const uint8_t *d, size_t len, size_t pos)
{
	while (pos < len) {
		if (d[pos] == '#') {
			while (pos < len && d[pos] != '\n' && d[pos] != '\r')
				pos++;
		} else if (d[pos] == ' ' || d[pos] == '\t' || d[pos] == '\n' || d[pos] == '\r' ||
			   d[pos] == '\v' || d[pos] == '\f') {
			pos++;
		} else {
			break;
		}
	}
	return pos;
}

static int ppm_parse(const char *name, const uint8_t *d, size_t len, struct ppm_header *h,
		     char *err, size_t errlen)
{
	static const char *const field_names[] = {"width", "height", "maxval"};
	uint32_t field[3];
	size_t pos = 2;
	int i, rc;

	if (image_sniff(d, len) != IMAGE_FORMAT_PPM)
		return errmsg(err, errlen, -EINVAL, "%s: not a binary PPM (no P6 signature)", name);
	for (i = 0; i < 3; i++) {
		uint64_t v = 0;
		size_t start;

		pos = ppm_skip(d, len, pos);
		start = pos;
		while (pos < len && d[pos] >= '0' && d[pos] <= '9') {
			/* Saturate: anything this large is rejected below anyway. */
			if (v < 100000000)
				v = v * 10 + (d[pos] - '0');
			pos++;
		}
		if (pos == start)
			return errmsg(err, errlen, -EINVAL,
				      "%s: PPM header is %s where the %s should be", name,
				      pos >= len ? "cut short" : "garbled", field_names[i]);
		field[i] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	}
	/* Exactly one whitespace byte separates maxval from the pixels. */
	if (pos >= len || !(d[pos] == ' ' || d[pos] == '\t' || d[pos] == '\n' || d[pos] == '\r'))
		return errmsg(err, errlen, -EINVAL,
			      "%s: PPM header does not end with a whitespace after maxval", name);
	pos++;
	if (field[2] == 0 || field[2] > 65535)
		return errmsg(err, errlen, -EINVAL, "%s: PPM maxval %u is invalid (1..65535)", name,
			      field[2]);
	if (field[2] != 255)
		return errmsg(err, errlen, -ENOTSUP,
			      "%s: PPM maxval %u is not supported, only 255 (8 bits); convert with "
			      "`pnmdepth 255`",
			      name, field[2]);
	rc = check_size(name, "the PPM header", field[0], field[1], err, errlen);
	if (rc < 0)
		return rc;
	if (len - pos < rgb_bytes(field[0], field[1]))
		return errmsg(err, errlen, -EINVAL,
			      "%s: PPM is truncated: %zu bytes of pixels, %ux%u needs %zu", name,
			      len - pos, field[0], field[1], rgb_bytes(field[0], field[1]));
	h->width = field[0];
	h->height = field[1];
	h->offset = pos;
	return 0;
}

/* ---- JPEG ---- */

struct jpeg_guard {
	struct jpeg_error_mgr mgr;
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];     /* the fatal error */
	char warning[JMSG_LENGTH_MAX]; /* the first warning */
};

/* libjpeg's default error_exit calls exit(); we jump back instead. */
static void jpeg_on_error(j_common_ptr cinfo)
{
	struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;

	g->mgr.format_message(cinfo, g->msg);
	longjmp(g->jump, 1);
}

/* Never print: keep the first warning to report it. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
	struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;

	if (level >= 0)
		return;
	if (g->mgr.num_warnings++ == 0)
		g->mgr.format_message(cinfo, g->warning);
}

static void jpeg_on_progress(j_common_ptr cinfo)
{
	struct jpeg_guard *g = (struct jpeg_guard *)cinfo->err;
	j_decompress_ptr d = (j_decompress_ptr)cinfo;

	if (cinfo->is_decompressor && d->input_scan_number > IMAGE_JPEG_MAX_SCANS) {
		snprintf(g->msg, sizeof(g->msg), "more than %d progressive scans",
			 IMAGE_JPEG_MAX_SCANS);
		longjmp(g->jump, 1);
	}
}

/* frame NULL: read the header only. */
static int jpeg_run(const char *name, const uint8_t *data, size_t len, struct camera_frame *frame,
		    uint32_t *ret_width, uint32_t *ret_height, char *err, size_t errlen)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_progress_mgr progress;
	struct jpeg_guard guard;
	volatile int rc = 0;
	uint32_t width, height;

	memset(&cinfo, 0, sizeof(cinfo));
	memset(&guard, 0, sizeof(guard));
	cinfo.err = jpeg_std_error(&guard.mgr);
	guard.mgr.error_exit = jpeg_on_error;
	guard.mgr.emit_message = jpeg_on_message;
	if (setjmp(guard.jump)) {
		rc = errmsg(err, errlen, -EINVAL, "%s: bad JPEG: %s", name, guard.msg);
		goto destroy;
	}
	jpeg_create_decompress(&cinfo);
	memset(&progress, 0, sizeof(progress));
	progress.progress_monitor = jpeg_on_progress;
	cinfo.progress = &progress;
	jpeg_mem_src(&cinfo, data, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);
	width = cinfo.image_width;
	height = cinfo.image_height;
	rc = check_size(name, "the JPEG header", width, height, err, errlen);
	if (rc < 0)
		goto destroy;
	if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
		rc = errmsg(err, errlen, -ENOTSUP,
			    "%s: CMYK JPEGs are not supported; save it as an RGB JPEG", name);
		goto destroy;
	}
	*ret_width = width;
	*ret_height = height;
	if (!frame)
		goto destroy;
	rc = check_capacity(name, width, height, frame, err, errlen);
	if (rc < 0)
		goto destroy;

	cinfo.out_color_space = JCS_RGB;
	jpeg_start_decompress(&cinfo);
	if (cinfo.output_components != 3 || cinfo.output_width != width ||
	    cinfo.output_height != height) {
		rc = errmsg(err, errlen, -EINVAL, "%s: JPEG decodes to %ux%u with %d components",
			    name, cinfo.output_width, cinfo.output_height, cinfo.output_components);
		goto destroy;
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = frame->data + (size_t)cinfo.output_scanline * width * 3;

		jpeg_read_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_decompress(&cinfo);
	if (guard.mgr.num_warnings) {
		rc = errmsg(err, errlen, -EINVAL, "%s: corrupt or truncated JPEG data: %s", name,
			    guard.warning);
		goto destroy;
	}
	set_frame(frame, width, height);
destroy:
	jpeg_destroy_decompress(&cinfo);
	return rc;
}

/* ---- stills ---- */

int image_probe(const char *name, const uint8_t *data, size_t len, uint32_t *ret_width,
		uint32_t *ret_height, char *err, size_t errlen)
{
	struct ppm_header h;
	int rc;

	switch (image_sniff(data, len)) {
	case IMAGE_FORMAT_JPEG:
		return jpeg_run(name, data, len, NULL, ret_width, ret_height, err, errlen);
	case IMAGE_FORMAT_PPM:
		rc = ppm_parse(name, data, len, &h, err, errlen);
		if (rc < 0)
			return rc;
		*ret_width = h.width;
		*ret_height = h.height;
		return 0;
	case IMAGE_FORMAT_UNKNOWN:
		break;
	}
	return errmsg(err, errlen, -EINVAL, "%s: neither a JPEG nor a binary PPM (P6) file%s", name,
		      len ? "" : " (it is empty)");
}

int image_decode(const char *name, const uint8_t *data, size_t len, struct camera_frame *frame,
		 char *err, size_t errlen)
{
	struct ppm_header h;
	uint32_t width, height;
	int rc;

	switch (image_sniff(data, len)) {
	case IMAGE_FORMAT_JPEG:
		return jpeg_run(name, data, len, frame, &width, &height, err, errlen);
	case IMAGE_FORMAT_PPM:
		rc = ppm_parse(name, data, len, &h, err, errlen);
		if (rc < 0)
			return rc;
		rc = check_capacity(name, h.width, h.height, frame, err, errlen);
		if (rc < 0)
			return rc;
		memcpy(frame->data, data + h.offset, rgb_bytes(h.width, h.height));
		set_frame(frame, h.width, h.height);
		return 0;
	case IMAGE_FORMAT_UNKNOWN:
		break;
	}
	return image_probe(name, data, len, &width, &height, err, errlen);
}

int image_load(const char *path, struct camera_frame *frame, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t len, cap;
	int rc;

	if (stat(path, &st) < 0)
		return errmsg(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	if ((uint64_t)st.st_size > IMAGE_MAX_FILE_BYTES)
		return errmsg(err, errlen, -EFBIG,
			      "%s: %lld bytes, more than the %zu this reader takes", path,
			      (long long)st.st_size, IMAGE_MAX_FILE_BYTES);
	cap = st.st_size > 0 ? (size_t)st.st_size : 1;
	buf = malloc(cap);
	if (!buf)
		return errmsg(err, errlen, -ENOMEM, "%s: out of memory", path);
	rc = image_read_file(path, buf, cap, &len, err, errlen);
	if (rc == 0)
		rc = image_decode(path, buf, len, frame, err, errlen);
	free(buf);
	return rc;
}

/* ---- Y4M ---- */

struct image_y4m {
	FILE *f;
	char *path;
	struct image_y4m_info info;
	long first_frame; /* file offset of the first FRAME header */
	uint32_t index;	  /* frames read since open or rewind */
	uint8_t *planes;  /* one frame as stored: Y, then U and V */
};

static int y4m_parse_u32(const char *s, const char **end, uint32_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
		p++;
	}
	if (p == s)
		return -EINVAL;
	*end = p;
	*ret = (uint32_t)v;
	return 0;
}

/* One space-separated tag of the stream header. */
static int y4m_tag(struct image_y4m *y, const char *tag, bool *have_w, bool *have_h, char *err,
		   size_t errlen)
{
	struct image_y4m_info *in = &y->info;
	const char *end;
	uint32_t num, den;

	switch (tag[0]) {
	case 'W':
	case 'H':
		if (y4m_parse_u32(tag + 1, &end, &num) < 0 || *end)
			return errmsg(err, errlen, -EINVAL,
				      "%s: Y4M tag '%s' is not a size in pixels", y->path, tag);
		if (tag[0] == 'W') {
			in->width = num;
			*have_w = true;
		} else {
			in->height = num;
			*have_h = true;
		}
		return 0;
	case 'F':
		if (y4m_parse_u32(tag + 1, &end, &num) < 0 || *end != ':' ||
		    y4m_parse_u32(end + 1, &end, &den) < 0 || *end || (num == 0) != (den == 0))
			return errmsg(err, errlen, -EINVAL,
				      "%s: Y4M frame rate '%s' should look like F30000:1001",
				      y->path, tag);
		in->fps_num = num;
		in->fps_den = den;
		return 0;
	case 'I':
		if (!tag[1] || tag[2] || !strchr("ptbm?", tag[1]))
			return errmsg(err, errlen, -EINVAL,
				      "%s: Y4M interlace tag '%s' should be Ip, It, Ib, Im or I?",
				      y->path, tag);
		in->interlace = tag[1];
		return 0;
	case 'C':
		if (strcmp(tag, "C420jpeg") == 0 || strcmp(tag, "C420") == 0 ||
		    strcmp(tag, "C420mpeg2") == 0 || strcmp(tag, "C420paldv") == 0)
			in->chroma = IMAGE_Y4M_CHROMA_420;
		else if (strcmp(tag, "C444") == 0)
			in->chroma = IMAGE_Y4M_CHROMA_444;
		else if (strcmp(tag, "Cmono") == 0)
			in->chroma = IMAGE_Y4M_CHROMA_MONO;
		else
			return errmsg(err, errlen, -ENOTSUP,
				      "%s: Y4M colour space '%s' is not supported (only 8-bit 420, "
				      "444 and mono); re-encode with "
				      "`ffmpeg -i in -pix_fmt yuv420p out.y4m`",
				      y->path, tag);
		return 0;
	case 'X':
		if (strcmp(tag, "XCOLORRANGE=FULL") == 0)
			in->full_range = true;
		else if (strcmp(tag, "XCOLORRANGE=LIMITED") == 0)
			in->full_range = false;
		return 0; /* other extensions are for other programs */
	default:
		return 0; /* A (aspect) and tags from later revisions do not change pixels */
	}
}

/* Reads one '\n'-terminated line of at most max bytes (without the '\n').
 * 1 read, 0 clean EOF before any byte, -EINVAL too long or EOF mid-line, -EIO. */
static int y4m_line(FILE *f, char *buf, size_t max)
{
	size_t n = 0;
	int c;

	while ((c = getc(f)) != EOF) {
		if (c == '\n') {
			buf[n] = '\0';
			return 1;
		}
		if (n + 1 >= max) {
			buf[n] = '\0';
			return -EINVAL;
		}
		buf[n++] = (char)c;
	}
	if (ferror(f))
		return -EIO;
	buf[n] = '\0';
	return n == 0 ? 0 : -EINVAL;
}

static int y4m_header(struct image_y4m *y, char *err, size_t errlen)
{
	char line[IMAGE_Y4M_HEADER_MAX];
	bool have_w = false, have_h = false;
	char *tag, *save;
	int rc;

	rc = y4m_line(y->f, line, sizeof(line));
	if (rc == -EIO)
		return errmsg(err, errlen, -EIO, "cannot read %s: %s", y->path, strerror(EIO));
	if (rc <= 0 && strncmp(line, "YUV4MPEG2", 9) == 0)
		return errmsg(err, errlen, -EINVAL,
			      "%s: the Y4M header has no end of line within %d bytes", y->path,
			      IMAGE_Y4M_HEADER_MAX);
	if (rc <= 0 || strncmp(line, "YUV4MPEG2", 9) != 0 || (line[9] != ' ' && line[9]))
		return errmsg(err, errlen, -EINVAL, "%s: not a Y4M file (no YUV4MPEG2 signature)",
			      y->path);
	y->info.chroma = IMAGE_Y4M_CHROMA_420;
	y->info.interlace = '?';
	for (tag = strtok_r(line + 9, " ", &save); tag; tag = strtok_r(NULL, " ", &save)) {
		rc = y4m_tag(y, tag, &have_w, &have_h, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (!have_w || !have_h)
		return errmsg(err, errlen, -EINVAL, "%s: the Y4M header lacks the %s tag", y->path,
			      !have_w ? "W (width)" : "H (height)");
	rc = check_size(y->path, "the Y4M header", y->info.width, y->info.height, err, errlen);
	if (rc < 0)
		return rc;
	switch (y->info.chroma) {
	case IMAGE_Y4M_CHROMA_420:
		y->info.frame_bytes =
		    (size_t)y->info.width * y->info.height +
		    2 * (size_t)((y->info.width + 1) / 2) * ((y->info.height + 1) / 2);
		break;
	case IMAGE_Y4M_CHROMA_444:
		y->info.frame_bytes = (size_t)y->info.width * y->info.height * 3;
		break;
	case IMAGE_Y4M_CHROMA_MONO:
		y->info.frame_bytes = (size_t)y->info.width * y->info.height;
		break;
	}
	return 0;
}

int image_y4m_open(const char *path, struct image_y4m **ret, char *err, size_t errlen)
{
	struct image_y4m *y;
	int rc;

	y = calloc(1, sizeof(*y));
	if (!y)
		return errmsg(err, errlen, -ENOMEM, "%s: out of memory", path);
	y->path = strdup(path);
	if (!y->path) {
		rc = errmsg(err, errlen, -ENOMEM, "%s: out of memory", path);
		goto free_reader;
	}
	y->f = fopen(path, "rbe");
	if (!y->f) {
		rc = errmsg(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
		goto free_reader;
	}
	rc = y4m_header(y, err, errlen);
	if (rc < 0)
		goto free_reader;
	y->first_frame = ftell(y->f);
	if (y->first_frame < 0) {
		rc = errmsg(err, errlen, -errno, "%s: cannot tell the file position: %s", path,
			    strerror(errno));
		goto free_reader;
	}
	y->planes = malloc(y->info.frame_bytes);
	if (!y->planes) {
		rc = errmsg(err, errlen, -ENOMEM, "%s: out of memory for a %zu byte frame", path,
			    y->info.frame_bytes);
		goto free_reader;
	}
	*ret = y;
	return 0;

free_reader:
	image_y4m_close(y);
	return rc;
}

const struct image_y4m_info *image_y4m_info(const struct image_y4m *y)
{
	return &y->info;
}

uint32_t image_y4m_frame_index(const struct image_y4m *y)
{
	return y->index;
}

static inline uint8_t clamp8(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* BT.601 in 8.8 fixed point. Limited range stretches Y 16..235 and C 16..240. */
static inline void yuv_pixel(int yv, int u, int v, bool full, uint8_t *out)
{
	int c, d = u - 128, e = v - 128;

	if (full) {
		c = yv * 256 + 128;
		out[0] = clamp8((c + 359 * e) >> 8);
		out[1] = clamp8((c - 88 * d - 183 * e) >> 8);
		out[2] = clamp8((c + 454 * d) >> 8);
	} else {
		c = (yv - 16) * 298 + 128;
		out[0] = clamp8((c + 409 * e) >> 8);
		out[1] = clamp8((c - 100 * d - 208 * e) >> 8);
		out[2] = clamp8((c + 516 * d) >> 8);
	}
}

static void y4m_convert(const struct image_y4m *y, uint8_t *dst)
{
	const struct image_y4m_info *in = &y->info;
	uint32_t w = in->width, h = in->height, cw = (w + 1) / 2, ch = (h + 1) / 2;
	const uint8_t *yp = y->planes, *up, *vp;
	uint32_t row, x;

	for (row = 0; row < h; row++) {
		const uint8_t *ys = yp + (size_t)row * w;
		uint8_t *out = dst + (size_t)row * w * 3;

		switch (in->chroma) {
		case IMAGE_Y4M_CHROMA_420:
			up = yp + (size_t)w * h + (size_t)(row / 2) * cw;
			vp = up + (size_t)cw * ch;
			for (x = 0; x < w; x++)
				yuv_pixel(ys[x], up[x / 2], vp[x / 2], in->full_range, out + x * 3);
			break;
		case IMAGE_Y4M_CHROMA_444:
			up = yp + (size_t)w * h + (size_t)row * w;
			vp = up + (size_t)w * h;
			for (x = 0; x < w; x++)
				yuv_pixel(ys[x], up[x], vp[x], in->full_range, out + x * 3);
			break;
		case IMAGE_Y4M_CHROMA_MONO:
			for (x = 0; x < w; x++)
				yuv_pixel(ys[x], 128, 128, in->full_range, out + x * 3);
			break;
		}
	}
}

int image_y4m_read(struct image_y4m *y, struct camera_frame *frame, char *err, size_t errlen)
{
	char line[IMAGE_Y4M_FRAME_HEADER_MAX];
	size_t got;
	int rc;

	rc = check_capacity(y->path, y->info.width, y->info.height, frame, err, errlen);
	if (rc < 0)
		return rc;
	rc = y4m_line(y->f, line, sizeof(line));
	if (rc == 0)
		return 0;
	if (rc == -EIO)
		return errmsg(err, errlen, -EIO, "cannot read %s: %s", y->path, strerror(EIO));
	if (rc < 0 && strncmp(line, "FRAME", strlen(line) < 5 ? strlen(line) : 5) == 0)
		return errmsg(err, errlen, -EINVAL,
			      "%s: frame %u: FRAME header cut short or longer than %d bytes",
			      y->path, y->index, IMAGE_Y4M_FRAME_HEADER_MAX);
	if (rc < 0 || strncmp(line, "FRAME", 5) != 0 || (line[5] != ' ' && line[5] != '\0'))
		return errmsg(err, errlen, -EINVAL,
			      "%s: frame %u: expected a FRAME header, found garbage (do W, H and C "
			      "in the stream header match the data?)",
			      y->path, y->index);
	got = fread(y->planes, 1, y->info.frame_bytes, y->f);
	if (got < y->info.frame_bytes) {
		if (ferror(y->f))
			return errmsg(err, errlen, -EIO, "cannot read %s: %s", y->path,
				      strerror(EIO));
		return errmsg(err, errlen, -EINVAL,
			      "%s: frame %u is truncated: %zu of %zu bytes (a %ux%u frame)",
			      y->path, y->index, got, y->info.frame_bytes, y->info.width,
			      y->info.height);
	}
	y4m_convert(y, frame->data);
	set_frame(frame, y->info.width, y->info.height);
	y->index++;
	return 1;
}

int image_y4m_rewind(struct image_y4m *y, char *err, size_t errlen)
{
	clearerr(y->f);
	if (fseek(y->f, y->first_frame, SEEK_SET) < 0)
		return errmsg(err, errlen, -errno, "%s: cannot rewind: %s", y->path,
			      strerror(errno));
	y->index = 0;
	return 0;
}

void image_y4m_close(struct image_y4m *y)
{
	if (!y)
		return;
	if (y->f)
		fclose(y->f);
	free(y->planes);
	free(y->path);
	free(y);
}
