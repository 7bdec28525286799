/*
 * image — still images and Y4M video decoded into RGB24 camera frames.
 *
 * Formats: JPEG (libjpeg; its errors come back as -EINVAL, never exit()),
 * binary PPM (P6, maxval 255) and YUV4MPEG2 (Y4M: C420jpeg, C420, C420mpeg2,
 * C420paldv, C444, Cmono; BT.601, limited range unless XCOLORRANGE=FULL).
 * Every size read from a file is checked against CAMERA_MAX_* before it is
 * used, and every error names the file and what is wrong with it.
 * Images are delivered at their own size: no scaling. See docs/camera.md.
 *
 * Decoders write into the caller's struct camera_frame: data, width, height,
 * stride (= width * 3) and bytes. They leave ts_ns and seq alone. A frame
 * whose capacity is too small gets -ENOSPC and is left unchanged.
 */
#ifndef HAL_IMAGE_H
#define HAL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/camera.h"

/* Largest JPEG or PPM file we read: a 1920x1080 PPM is 6.2 MB. */
#define IMAGE_MAX_FILE_BYTES ((size_t)16 << 20)
/* Progressive JPEGs can carry many scans; more than this is hostile. */
#define IMAGE_JPEG_MAX_SCANS 256
#define IMAGE_Y4M_HEADER_MAX 1024      /* the YUV4MPEG2 stream header line */
#define IMAGE_Y4M_FRAME_HEADER_MAX 256 /* one FRAME header line */

enum image_format {
	IMAGE_FORMAT_UNKNOWN,
	IMAGE_FORMAT_JPEG,
	IMAGE_FORMAT_PPM,
};

/* Which still format the bytes start with (JPEG SOI marker, "P6"). */
enum image_format image_sniff(const uint8_t *data, size_t len);

/*
 * Reads the whole file at path into buf (cap bytes, owned by the caller) and
 * sets *ret_len. Errors: -errno of open/read (err names the file), -EFBIG
 * when the file is larger than cap.
 */
int image_read_file(const char *path, uint8_t *buf, size_t cap, size_t *ret_len, char *err,
		    size_t errlen);

/*
 * The size of an in-memory JPEG or PPM without decoding the pixels. name is
 * only used in messages. 0, or -EINVAL (not an image, corrupt header),
 * -ENOTSUP (a PPM maxval other than 255, a JPEG colour space we cannot turn
 * into RGB), -ERANGE (0 or over CAMERA_MAX_*).
 */
int image_probe(const char *name, const uint8_t *data, size_t len, uint32_t *ret_width,
		uint32_t *ret_height, char *err, size_t errlen);

/*
 * Decodes an in-memory JPEG or PPM into frame (see above). data stays the
 * caller's. 0, or the errors of image_probe, -EINVAL for corrupt or
 * truncated pixel data (libjpeg warnings count as errors: a half-grey frame
 * is worse than none), -ENOSPC, -ENOMEM.
 */
int image_decode(const char *name, const uint8_t *data, size_t len, struct camera_frame *frame,
		 char *err, size_t errlen);

/* image_read_file + image_decode with a temporary buffer of the file's size. */
int image_load(const char *path, struct camera_frame *frame, char *err, size_t errlen);

/* ---- Y4M ---- */

enum image_y4m_chroma {
	IMAGE_Y4M_CHROMA_420, /* 420jpeg, 420, 420mpeg2, 420paldv: siting is ignored */
	IMAGE_Y4M_CHROMA_444,
	IMAGE_Y4M_CHROMA_MONO,
};

struct image_y4m_info {
	uint32_t width;
	uint32_t height;
	uint32_t fps_num; /* F tag; 0/0 when the file does not say */
	uint32_t fps_den;
	enum image_y4m_chroma chroma;
	bool full_range;    /* XCOLORRANGE=FULL */
	char interlace;	    /* I tag: 'p', 't', 'b', 'm' or '?'; frames are
			       delivered whole either way */
	size_t frame_bytes; /* planar bytes per frame in the file */
};

struct image_y4m;

/*
 * Opens a Y4M file and parses its stream header. On success *ret owns a new
 * reader (free with image_y4m_close). Errors: -errno of fopen, -EINVAL (not
 * Y4M, bad or missing W/H/F/I tag, header line over IMAGE_Y4M_HEADER_MAX),
 * -ENOTSUP (a C tag we do not convert; err says how to re-encode),
 * -ERANGE (size 0 or over CAMERA_MAX_*), -ENOMEM.
 */
int image_y4m_open(const char *path, struct image_y4m **ret, char *err, size_t errlen);

/* Owned by the reader. */
const struct image_y4m_info *image_y4m_info(const struct image_y4m *y);

/*
 * Reads the next frame and converts it into frame (see above). 1 with the
 * frame filled, 0 at the end of the file, -EINVAL (no FRAME header where one
 * must be, truncated frame), -EIO (read error), -ENOSPC. After -EINVAL or
 * -EIO only image_y4m_rewind or image_y4m_close make sense.
 */
int image_y4m_read(struct image_y4m *y, struct camera_frame *frame, char *err, size_t errlen);

/* Back to the first frame. 0 or -errno of fseek. */
int image_y4m_rewind(struct image_y4m *y, char *err, size_t errlen);

/* Frames read since open or the last rewind. */
uint32_t image_y4m_frame_index(const struct image_y4m *y);

/* NULL is fine. */
void image_y4m_close(struct image_y4m *y);

#endif
