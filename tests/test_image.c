/* image: JPEG, PPM and Y4M decoding, good files and broken ones. */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "hal/image.h"
#include "tests/support/camera_fixtures.h"

static char *tmp_path(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", test_tmpdir(), name);
	return p;
}

static uint8_t frame_buf[CAMERA_FRAME_MAX_BYTES];

static struct camera_frame new_frame(void)
{
	struct camera_frame f;

	memset(&f, 0, sizeof(f));
	f.data = frame_buf;
	f.capacity = sizeof(frame_buf);
	return f;
}

/* An RGB24 test picture: 4 solid blocks left to right. */
static const uint8_t blocks[4][3] = {{250, 20, 20}, {20, 250, 20}, {20, 20, 250}, {200, 200, 200}};

static void block_picture(uint8_t *rgb, int w, int h)
{
	int x, y;

	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			memcpy(rgb + (y * w + x) * 3, blocks[x * 4 / w], 3);
}

/* Encodes w x h pixels (3 components, or 1 when gray) into a malloc'd JPEG. */
static unsigned char *encode_jpeg(const uint8_t *pixels, int w, int h, int gray,
				  unsigned long *ret_len)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *out = NULL;
	int comps = gray ? 1 : 3;

	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &out, ret_len);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = comps;
	c.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 95, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = (JSAMPROW)(pixels + (size_t)c.next_scanline * w * comps);

		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return out;
}

static int near(int a, int b, int tol)
{
	return abs(a - b) <= tol;
}

TEST(ppm_loads_exact_bytes_with_comments)
{
	const char hdr[] = "P6\n# made by hand\n3 2 # size\n255\n";
	uint8_t file[sizeof(hdr) - 1 + 18];
	struct camera_frame f = new_frame();
	char err[256];
	int i;

	memcpy(file, hdr, sizeof(hdr) - 1);
	for (i = 0; i < 18; i++)
		file[sizeof(hdr) - 1 + i] = (uint8_t)(i * 13 + 1);
	ASSERT_EQ(test_write_file(tmp_path("a.ppm"), file, sizeof(file)), 0);
	f.ts_ns = 77;
	ASSERT_EQ(image_load(tmp_path("a.ppm"), &f, err, sizeof(err)), 0);
	ASSERT_EQ(f.width, 3);
	ASSERT_EQ(f.height, 2);
	ASSERT_EQ(f.stride, 9);
	ASSERT_EQ(f.bytes, 18);
	ASSERT_EQ(f.ts_ns, 77); /* decoders leave the timestamp alone */
	ASSERT(memcmp(f.data, file + sizeof(hdr) - 1, 18) == 0);
}

struct bad_case {
	const char *name;
	const char *bytes;
	int rc;
	const char *says;
};

TEST(ppm_broken_headers_name_the_file_and_the_problem)
{
	static const struct bad_case cases[] = {
	    {"empty.ppm", "", -EINVAL, "it is empty"},
	    {"p5.ppm", "P5\n2 2\n255\n....", -EINVAL, "neither a JPEG nor a binary PPM"},
	    {"short.ppm", "P6\n10", -EINVAL, "cut short where the height"},
	    {"garbled.ppm", "P6\n10 x\n255\n", -EINVAL, "garbled where the height"},
	    {"lies.ppm", "P6\n4 4\n255\nabcdefgh", -EINVAL, "truncated: 8 bytes of pixels"},
	    {"deep.ppm", "P6\n1 1\n65535\n......", -ENOTSUP, "maxval 65535 is not supported"},
	    {"maxval0.ppm", "P6\n1 1\n0\n...", -EINVAL, "maxval 0 is invalid"},
	    {"zero.ppm", "P6\n0 5\n255\n", -ERANGE, "says 0x5"},
	    {"wide.ppm", "P6\n4000 10\n255\n", -ERANGE, "says 4000x10, outside 1x1..1920x1080"},
	    {"huge.ppm", "P6\n99999999999999999999 1\n255\n", -ERANGE, "outside 1x1"},
	    {"nows.ppm", "P6\n1 1\n255", -EINVAL, "whitespace after maxval"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct camera_frame f = new_frame();
		const char *path = tmp_path(cases[i].name);
		char err[256] = "";

		ASSERT_EQ(test_write_file(path, cases[i].bytes, strlen(cases[i].bytes)), 0);
		ASSERT_MSG(image_load(path, &f, err, sizeof(err)) == cases[i].rc, "%s: %s",
			   cases[i].name, err);
		ASSERT_CONTAINS(err, path);
		ASSERT_CONTAINS(err, cases[i].says);
		ASSERT_EQ(f.width, 0);
	}
}

TEST(missing_file_says_so)
{
	struct camera_frame f = new_frame();
	char err[256];

	ASSERT_EQ(image_load("/nonexistent/x.jpg", &f, err, sizeof(err)), -ENOENT);
	ASSERT_STREQ(err, "cannot open /nonexistent/x.jpg: No such file or directory");
}

TEST(jpeg_round_trip_close_to_the_original)
{
	static uint8_t rgb[64 * 16 * 3];
	struct camera_frame f = new_frame();
	unsigned long len = 0;
	unsigned char *jpg;
	uint32_t w = 0, h = 0;
	char err[256];
	int b, c;

	block_picture(rgb, 64, 16);
	jpg = encode_jpeg(rgb, 64, 16, 0, &len);
	ASSERT(jpg);
	ASSERT_EQ(image_sniff(jpg, len), IMAGE_FORMAT_JPEG);
	ASSERT_EQ(image_probe("mem.jpg", jpg, len, &w, &h, err, sizeof(err)), 0);
	ASSERT_EQ(w, 64);
	ASSERT_EQ(h, 16);
	ASSERT_EQ(test_write_file(tmp_path("blocks.jpg"), jpg, len), 0);
	free(jpg);
	ASSERT_EQ(image_load(tmp_path("blocks.jpg"), &f, err, sizeof(err)), 0);
	ASSERT_EQ(f.width, 64);
	ASSERT_EQ(f.height, 16);
	ASSERT_EQ(f.stride, 192);
	ASSERT_EQ(f.bytes, 64 * 16 * 3);
	/* Lossy: compare the middle of each block. */
	for (b = 0; b < 4; b++) {
		const uint8_t *px = f.data + (8 * 64 + b * 16 + 8) * 3;

		for (c = 0; c < 3; c++)
			ASSERT_MSG(near(px[c], blocks[b][c], 10), "block %d comp %d: %d vs %d", b,
				   c, px[c], blocks[b][c]);
	}
}

TEST(jpeg_grayscale_becomes_rgb)
{
	static uint8_t gray[16 * 8];
	struct camera_frame f = new_frame();
	unsigned long len = 0;
	unsigned char *jpg;
	char err[256];
	int i;

	for (i = 0; i < 16 * 8; i++)
		gray[i] = i % 16 < 8 ? 40 : 200;
	jpg = encode_jpeg(gray, 16, 8, 1, &len);
	ASSERT(jpg);
	i = image_decode("gray.jpg", jpg, len, &f, err, sizeof(err));
	free(jpg);
	ASSERT_EQ(i, 0);
	ASSERT_EQ(f.width, 16);
	ASSERT(f.data[(4 * 16 + 2) * 3] == f.data[(4 * 16 + 2) * 3 + 1]);
	ASSERT(f.data[(4 * 16 + 2) * 3] == f.data[(4 * 16 + 2) * 3 + 2]);
	ASSERT(near(f.data[(4 * 16 + 2) * 3], 40, 6));
	ASSERT(near(f.data[(4 * 16 + 13) * 3], 200, 6));
}

/* Offset of the first marker FF <code> after SOI, 0 if none. */
static size_t marker_at(const unsigned char *j, size_t len, unsigned char code)
{
	size_t i;

	for (i = 2; i + 9 < len; i++)
		if (j[i] == 0xff && j[i + 1] == code)
			return i;
	return 0;
}

TEST(jpeg_broken_files_are_clean_errors)
{
	static uint8_t rgb[64 * 64 * 3];
	static const uint8_t garbage[] = {0xff, 0xd8, 0xff, 0x13, 0x37, 'n', 'o', 'p', 'e'};
	struct camera_frame f = new_frame();
	unsigned long len = 0;
	uint32_t seed = 1;
	unsigned char *jpg;
	size_t at, i;
	char err[256];

	/* Noise, so the scan data is most of the file. */
	for (i = 0; i < sizeof(rgb); i++) {
		seed = seed * 1103515245 + 12345;
		rgb[i] = (uint8_t)(seed >> 16);
	}
	jpg = encode_jpeg(rgb, 64, 64, 0, &len);
	ASSERT(jpg);

	/* Cut in the middle of the scan: libjpeg only warns; we refuse a
	 * half-grey frame. */
	at = marker_at(jpg, len, 0xda);
	ASSERT(at > 0 && at + 100 < len);
	ASSERT_EQ(image_decode("half.jpg", jpg, (at + len) / 2, &f, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "half.jpg: corrupt or truncated JPEG data");
	ASSERT_EQ(f.width, 0);

	/* Cut inside the header: a fatal libjpeg error comes back, no exit(). */
	ASSERT_EQ(image_decode("stub.jpg", jpg, 40, &f, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "stub.jpg: bad JPEG");

	ASSERT_EQ(image_decode("junk.jpg", garbage, sizeof(garbage), &f, err, sizeof(err)),
		  -EINVAL);
	ASSERT_CONTAINS(err, "junk.jpg: bad JPEG");

	/* The header lies: 64 rows coded, 1000 claimed. */
	at = marker_at(jpg, len, 0xc0) + 5; /* SOF0: FF C0, length, precision, height */
	ASSERT(at > 5);
	jpg[at] = 1000 >> 8;
	jpg[at + 1] = 1000 & 0xff;
	ASSERT_EQ(image_decode("tall.jpg", jpg, len, &f, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "tall.jpg: corrupt or truncated JPEG data");

	/* ...or claims a size over the limit: refused before any decoding. */
	jpg[at] = 5000 >> 8;
	jpg[at + 1] = 5000 & 0xff;
	ASSERT_EQ(image_decode("huge.jpg", jpg, len, &f, err, sizeof(err)), -ERANGE);
	ASSERT_CONTAINS(err, "huge.jpg: the JPEG header says 64x5000, outside 1x1..1920x1080");
	free(jpg);
}

TEST(decode_refuses_a_small_buffer)
{
	uint8_t small[10];
	const char ppm[] = "P6 2 2 255\n0123456789ab";
	struct camera_frame f;
	char err[256];

	memset(&f, 0, sizeof(f));
	f.data = small;
	f.capacity = sizeof(small);
	ASSERT_EQ(image_decode("x.ppm", (const uint8_t *)ppm, strlen(ppm), &f, err, sizeof(err)),
		  -ENOSPC);
	ASSERT_STREQ(err, "x.ppm: the frame buffer holds 10 bytes, a 2x2 RGB24 image needs 12");
	ASSERT_EQ(f.width, 0);
	f.capacity = 12;
	f.data = frame_buf;
	ASSERT_EQ(image_decode("x.ppm", (const uint8_t *)ppm, strlen(ppm), &f, err, sizeof(err)),
		  0);
	ASSERT(memcmp(f.data, "0123456789ab", 12) == 0);
}

TEST(fixture_jpegs_decode_at_their_own_size)
{
	static const struct {
		const char *name;
		uint32_t w, h;
	} fx[] = {
	    {"tests/fixtures/camera/2007_007763.jpg", 500, 375},
	    {"tests/fixtures/camera/2008_001009.jpg", 360, 480},
	    {"tests/fixtures/camera/2008_001322.jpg", 500, 375},
	    {"tests/fixtures/camera/2008_002079.jpg", 500, 375},
	};
	size_t i;

	for (i = 0; i < sizeof(fx) / sizeof(fx[0]); i++) {
		struct camera_frame f = new_frame();
		char err[256] = "";

		ASSERT_MSG(image_load(fx[i].name, &f, err, sizeof(err)) == 0, "%s", err);
		ASSERT_EQ(f.width, fx[i].w);
		ASSERT_EQ(f.height, fx[i].h);
		ASSERT_EQ(f.bytes, (size_t)fx[i].w * fx[i].h * 3);
	}
}

/* The reference: floating-point BT.601. */
static void ref_rgb(const uint8_t yuv[3], int full, int out[3])
{
	double y = yuv[0], d = yuv[1] - 128.0, e = yuv[2] - 128.0, v[3];
	int i;

	if (!full)
		y = (y - 16) * 255.0 / 219.0, d *= 255.0 / 224.0, e *= 255.0 / 224.0;
	v[0] = y + 1.402 * e;
	v[1] = y - 0.344136 * d - 0.714136 * e;
	v[2] = y + 1.772 * d;
	for (i = 0; i < 3; i++)
		out[i] = v[i] < 0 ? 0 : v[i] > 255 ? 255 : (int)(v[i] + 0.5);
}

/* Reads every frame of path and checks each pixel against the reference. */
static int check_y4m(const char *path, uint32_t w, uint32_t h, uint32_t frames, int mono, int full,
		     char *why, size_t whylen)
{
	struct camera_frame f = new_frame();
	struct image_y4m *y = NULL;
	char err[256];
	uint32_t n, x, row;
	uint8_t yuv[3];
	int ref[3], rc, c;

	rc = image_y4m_open(path, &y, err, sizeof(err));
	if (rc < 0)
		return snprintf(why, whylen, "open: %s", err), -1;
	for (n = 0; (rc = image_y4m_read(y, &f, err, sizeof(err))) == 1; n++) {
		if (f.width != w || f.height != h || f.stride != w * 3 || f.bytes != w * h * 3) {
			snprintf(why, whylen, "frame %u is %ux%u", n, f.width, f.height);
			goto fail;
		}
		for (row = 0; row < h; row++)
			for (x = 0; x < w; x++) {
				const uint8_t *px = f.data + (row * w + x) * 3;

				camera_fixture_yuv(x, row, n, w, h, yuv);
				if (mono)
					yuv[1] = yuv[2] = 128;
				ref_rgb(yuv, full, ref);
				for (c = 0; c < 3; c++)
					if (!near(px[c], ref[c], 2)) {
						snprintf(why, whylen,
							 "frame %u (%u,%u)[%d]: %d, want %d", n, x,
							 row, c, px[c], ref[c]);
						goto fail;
					}
			}
	}
	if (rc != 0 || n != frames) {
		snprintf(why, whylen, "read %u frames, last rc %d (%s)", n, rc, err);
		goto fail;
	}
	image_y4m_close(y);
	return 0;
fail:
	image_y4m_close(y);
	return -1;
}

TEST(y4m_420_444_mono_and_full_range_convert_by_bt601)
{
	char why[600] = "";

	ASSERT_EQ(camera_fixture_write_y4m(tmp_path("p420.y4m"), 64, 48, 5, 20, "420jpeg", NULL),
		  0);
	ASSERT_MSG(check_y4m(tmp_path("p420.y4m"), 64, 48, 5, 0, 0, why, sizeof(why)) == 0, "%s",
		   why);
	ASSERT_EQ(camera_fixture_write_y4m(tmp_path("p444.y4m"), 32, 16, 3, 25, "444", NULL), 0);
	ASSERT_MSG(check_y4m(tmp_path("p444.y4m"), 32, 16, 3, 0, 0, why, sizeof(why)) == 0, "%s",
		   why);
	ASSERT_EQ(camera_fixture_write_y4m(tmp_path("mono.y4m"), 32, 16, 2, 25, "mono", NULL), 0);
	ASSERT_MSG(check_y4m(tmp_path("mono.y4m"), 32, 16, 2, 1, 0, why, sizeof(why)) == 0, "%s",
		   why);
	ASSERT_EQ(camera_fixture_write_y4m(tmp_path("full.y4m"), 32, 16, 2, 25, "420",
					   "XCOLORRANGE=FULL"),
		  0);
	ASSERT_MSG(check_y4m(tmp_path("full.y4m"), 32, 16, 2, 0, 1, why, sizeof(why)) == 0, "%s",
		   why);
}

TEST(y4m_pure_colours)
{
	struct camera_frame f = new_frame();
	struct image_y4m *y = NULL;
	char err[256];

	ASSERT_EQ(camera_fixture_write_y4m(tmp_path("q.y4m"), 64, 48, 1, 20, "420jpeg", NULL), 0);
	ASSERT_EQ(image_y4m_open(tmp_path("q.y4m"), &y, err, sizeof(err)), 0);
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1);
	/* frame 0: black bar at x 0..7; white, red / green, blue quadrants */
	ASSERT(f.data[(10 * 64 + 2) * 3] == 0 && f.data[(10 * 64 + 2) * 3 + 2] == 0);
	ASSERT(f.data[(10 * 64 + 20) * 3] == 255 && f.data[(10 * 64 + 20) * 3 + 1] == 255);
	ASSERT(f.data[(10 * 64 + 40) * 3] >= 253 && f.data[(10 * 64 + 40) * 3 + 1] <= 2);
	ASSERT(f.data[(40 * 64 + 20) * 3 + 1] >= 253 && f.data[(40 * 64 + 20) * 3 + 2] <= 2);
	ASSERT(f.data[(40 * 64 + 40) * 3 + 2] >= 253 && f.data[(40 * 64 + 40) * 3] <= 2);
	image_y4m_close(y);
}

TEST(y4m_header_info_rewind_and_odd_sizes)
{
	struct camera_frame f = new_frame();
	const struct image_y4m_info *in;
	struct image_y4m *y = NULL;
	uint8_t first[5 * 3 * 3];
	char err[256];

	ASSERT_EQ(camera_fixture_write_y4m(tmp_path("odd.y4m"), 5, 3, 2, 30, "420mpeg2", NULL), 0);
	ASSERT_EQ(image_y4m_open(tmp_path("odd.y4m"), &y, err, sizeof(err)), 0);
	in = image_y4m_info(y);
	ASSERT_EQ(in->width, 5);
	ASSERT_EQ(in->height, 3);
	ASSERT_EQ(in->fps_num, 30);
	ASSERT_EQ(in->fps_den, 1);
	ASSERT_EQ(in->interlace, 'p');
	ASSERT_EQ(in->chroma, IMAGE_Y4M_CHROMA_420);
	ASSERT_EQ(in->frame_bytes, 15 + 2 * 3 * 2);
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1);
	memcpy(first, f.data, sizeof(first));
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1);
	ASSERT_EQ(image_y4m_frame_index(y), 2);
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 0);
	ASSERT_EQ(image_y4m_rewind(y, err, sizeof(err)), 0);
	ASSERT_EQ(image_y4m_frame_index(y), 0);
	memset(f.data, 0, sizeof(first));
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1);
	ASSERT(memcmp(first, f.data, sizeof(first)) == 0);
	f.capacity = 5 * 3 * 3 - 1;
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), -ENOSPC);
	ASSERT_CONTAINS(err, "needs 45");
	f.capacity = sizeof(frame_buf);
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1); /* nothing was consumed */
	image_y4m_close(y);
}

TEST(y4m_broken_headers)
{
	static const struct bad_case cases[] = {
	    {"text.y4m", "hello world\n", -EINVAL, "not a Y4M file (no YUV4MPEG2 signature)"},
	    {"empty.y4m", "", -EINVAL, "not a Y4M file"},
	    {"now.y4m", "YUV4MPEG2 H4 F25:1\n", -EINVAL, "lacks the W (width) tag"},
	    {"noh.y4m", "YUV4MPEG2 W4 F25:1\n", -EINVAL, "lacks the H (height) tag"},
	    {"w0.y4m", "YUV4MPEG2 W0 H4\n", -ERANGE, "says 0x4"},
	    {"big.y4m", "YUV4MPEG2 W1920 H1081\n", -ERANGE, "says 1920x1081, outside"},
	    {"ovf.y4m", "YUV4MPEG2 W99999999999 H2\n", -EINVAL,
	     "'W99999999999' is not a size in pixels"},
	    {"wx.y4m", "YUV4MPEG2 W4x H2\n", -EINVAL, "'W4x' is not a size in pixels"},
	    {"c422.y4m", "YUV4MPEG2 W4 H2 C422\n", -ENOTSUP, "'C422' is not supported"},
	    {"c10.y4m", "YUV4MPEG2 W4 H2 C420p10\n", -ENOTSUP, "ffmpeg -i in -pix_fmt yuv420p"},
	    {"fps.y4m", "YUV4MPEG2 W4 H2 F25\n", -EINVAL, "'F25' should look like F30000:1001"},
	    {"fps0.y4m", "YUV4MPEG2 W4 H2 F25:0\n", -EINVAL, "should look like"},
	    {"il.y4m", "YUV4MPEG2 W4 H2 Ix\n", -EINVAL, "interlace tag 'Ix'"},
	    {"nonl.y4m", "YUV4MPEG2 W4 H2", -EINVAL, "no end of line within 1024 bytes"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = tmp_path(cases[i].name);
		struct image_y4m *y = NULL;
		char err[256] = "";

		ASSERT_EQ(test_write_file(path, cases[i].bytes, strlen(cases[i].bytes)), 0);
		ASSERT_MSG(image_y4m_open(path, &y, err, sizeof(err)) == cases[i].rc, "%s: %s",
			   cases[i].name, err);
		ASSERT(y == NULL);
		ASSERT_CONTAINS(err, path);
		ASSERT_CONTAINS(err, cases[i].says);
	}
}

TEST(y4m_long_header_is_refused)
{
	static char hdr[2000];
	struct image_y4m *y = NULL;
	char err[256];

	memset(hdr, 'X', sizeof(hdr) - 1);
	memcpy(hdr, "YUV4MPEG2 W4 H2 X", 17);
	hdr[sizeof(hdr) - 2] = '\n';
	ASSERT_EQ(test_write_file(tmp_path("long.y4m"), hdr, sizeof(hdr) - 1), 0);
	ASSERT_EQ(image_y4m_open(tmp_path("long.y4m"), &y, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "no end of line within 1024 bytes");
}

/* Frames: a good one, then the damage. */
static int y4m_with_tail(const char *path, const char *tail, size_t tail_len)
{
	static const char hdr[] = "YUV4MPEG2 W4 H2 F25:1 Cmono\nFRAME\n01234567";
	FILE *f = fopen(path, "wb");

	if (!f)
		return -1;
	fwrite(hdr, 1, sizeof(hdr) - 1, f);
	fwrite(tail, 1, tail_len, f);
	return fclose(f);
}

TEST(y4m_broken_frames)
{
	static const struct bad_case cases[] = {
	    {"cut.y4m", "FRAME\n0123", -EINVAL, "frame 1 is truncated: 4 of 8 bytes (a 4x2 frame)"},
	    {"junk.y4m", "garbage!\n", -EINVAL, "frame 1: expected a FRAME header, found garbage"},
	    {"fra.y4m", "FRA", -EINVAL, "frame 1: FRAME header cut short"},
	    {"glued.y4m", "FRAMES\n01234567", -EINVAL, "expected a FRAME header"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct camera_frame f = new_frame();
		const char *path = tmp_path(cases[i].name);
		struct image_y4m *y = NULL;
		char err[256] = "";

		ASSERT_EQ(y4m_with_tail(path, cases[i].bytes, strlen(cases[i].bytes)), 0);
		ASSERT_EQ(image_y4m_open(path, &y, err, sizeof(err)), 0);
		ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1);
		ASSERT_MSG(image_y4m_read(y, &f, err, sizeof(err)) == cases[i].rc, "%s: %s",
			   cases[i].name, err);
		ASSERT_CONTAINS(err, path);
		ASSERT_CONTAINS(err, cases[i].says);
		image_y4m_close(y);
	}
}

TEST(y4m_frame_parameters_are_accepted)
{
	struct camera_frame f = new_frame();
	struct image_y4m *y = NULL;
	char err[256];

	ASSERT_EQ(y4m_with_tail(tmp_path("fp.y4m"), "FRAME Ixyz\n76543210", 19), 0);
	ASSERT_EQ(image_y4m_open(tmp_path("fp.y4m"), &y, err, sizeof(err)), 0);
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1);
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 1);
	ASSERT_EQ(image_y4m_read(y, &f, err, sizeof(err)), 0);
	image_y4m_close(y);
}

TEST(y4m_missing_file)
{
	struct image_y4m *y = NULL;
	char err[256];

	ASSERT_EQ(image_y4m_open("/nonexistent/a.y4m", &y, err, sizeof(err)), -ENOENT);
	ASSERT_STREQ(err, "cannot open /nonexistent/a.y4m: No such file or directory");
	image_y4m_close(NULL);
}
