#include "tests/support/camera_fixtures.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* BT.601 limited range: white, red, green, blue, black. */
static const uint8_t colours[5][3] = {
    {235, 128, 128}, {81, 90, 240}, {145, 54, 34}, {41, 240, 110}, {16, 128, 128},
};

void camera_fixture_yuv(uint32_t x, uint32_t y, uint32_t f, uint32_t width, uint32_t height,
			uint8_t yuv[3])
{
	uint32_t bar = (CAMERA_FIXTURE_BAR * f) % width;
	int c;

	if (x >= bar && x < bar + CAMERA_FIXTURE_BAR)
		c = 4;
	else
		c = (y >= height / 2) * 2 + (x >= width / 2);
	memcpy(yuv, colours[c], 3);
}

int camera_fixture_write_y4m(const char *path, uint32_t width, uint32_t height, uint32_t frames,
			     uint32_t fps, const char *chroma, const char *extra)
{
	uint32_t f, x, y, plane, planes, sub;
	uint8_t yuv[3];
	FILE *out;
	int rc = 0;

	planes = strcmp(chroma, "mono") == 0 ? 1 : 3;
	sub = strncmp(chroma, "420", 3) == 0 ? 2 : 1;
	out = fopen(path, "wb");
	if (!out)
		return -errno;
	fprintf(out, "YUV4MPEG2 W%u H%u F%u:1 Ip A1:1 C%s%s%s\n", width, height, fps, chroma,
		extra ? " " : "", extra ? extra : "");
	for (f = 0; f < frames; f++) {
		fputs("FRAME\n", out);
		for (plane = 0; plane < planes; plane++) {
			uint32_t s = plane ? sub : 1;

			/* Chroma takes the top-left sample of each block. */
			for (y = 0; y < (height + s - 1) / s; y++)
				for (x = 0; x < (width + s - 1) / s; x++) {
					camera_fixture_yuv(x * s, y * s, f, width, height, yuv);
					fputc(yuv[plane], out);
				}
		}
	}
	if (ferror(out))
		rc = -EIO;
	if (fclose(out) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int camera_fixture_write_pattern(const char *path)
{
	return camera_fixture_write_y4m(path, CAMERA_FIXTURE_WIDTH, CAMERA_FIXTURE_HEIGHT,
					CAMERA_FIXTURE_FRAMES, CAMERA_FIXTURE_FPS, "420jpeg", NULL);
}
