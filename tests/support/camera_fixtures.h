/*
 * camera_fixtures — the generator of tests/fixtures/camera/pattern.y4m and of
 * the Y4M files the camera tests write on the fly.
 *
 * The pattern: four quadrants (top left white, top right red, bottom left
 * green, bottom right blue, in BT.601 limited-range YUV) and a black bar
 * CAMERA_FIXTURE_BAR pixels wide at x = CAMERA_FIXTURE_BAR * frame (mod
 * width), so every frame differs and their order shows.
 */
#ifndef TESTS_SUPPORT_CAMERA_FIXTURES_H
#define TESTS_SUPPORT_CAMERA_FIXTURES_H

#include <stdint.h>

#define CAMERA_FIXTURE_Y4M "tests/fixtures/camera/pattern.y4m"
#define CAMERA_FIXTURE_WIDTH 64
#define CAMERA_FIXTURE_HEIGHT 48
#define CAMERA_FIXTURE_FRAMES 5
#define CAMERA_FIXTURE_FPS 20
#define CAMERA_FIXTURE_BAR 8

/* The pattern's Y, Cb, Cr at (x, y) of frame f in a width x height picture. */
void camera_fixture_yuv(uint32_t x, uint32_t y, uint32_t f, uint32_t width, uint32_t height,
			uint8_t yuv[3]);

/*
 * Writes a Y4M of the pattern: chroma is "420jpeg", "444" or "mono"; extra
 * (may be NULL) is appended to the stream header, e.g. "XCOLORRANGE=FULL".
 * Even width and height keep 4:2:0 chroma exact. 0 or -errno.
 */
int camera_fixture_write_y4m(const char *path, uint32_t width, uint32_t height, uint32_t frames,
			     uint32_t fps, const char *chroma, const char *extra);

/* The committed fixture: 64x48, 5 frames, 20 fps, 420jpeg. 0 or -errno. */
int camera_fixture_write_pattern(const char *path);

#endif
