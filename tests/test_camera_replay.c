/* camera_replay: folders and Y4M files, order, content, pacing, loop, end. */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "firmware/config.h"
#include "hal/camera.h"
#include "hal/image.h"
#include "hal/time.h"
#include "tests/support/camera_fixtures.h"

extern const struct camera_ops camera_replay_ops;

static uint8_t frame_buf[CAMERA_FRAME_MAX_BYTES];
static uint8_t other_buf[CAMERA_FRAME_MAX_BYTES];

static struct camera_frame new_frame(uint8_t *buf)
{
	struct camera_frame f;

	memset(&f, 0, sizeof(f));
	f.data = buf;
	f.capacity = CAMERA_FRAME_MAX_BYTES;
	return f;
}

static char *tmp_path(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	snprintf(p, sizeof(buf[0]), "%s/%s", test_tmpdir(), name);
	return p;
}

static void *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* A w x h PPM filled with one byte value. */
static int write_ppm(const char *path, uint32_t w, uint32_t h, uint8_t fill)
{
	size_t n = (size_t)w * h * 3;
	char hdr[64];
	int hl = snprintf(hdr, sizeof(hdr), "P6 %u %u 255\n", w, h);
	uint8_t *buf = malloc(hl + n);
	int rc;

	if (!buf)
		return -1;
	memcpy(buf, hdr, (size_t)hl);
	memset(buf + hl, fill, n);
	rc = test_write_file(path, buf, hl + n);
	free(buf);
	return rc;
}

/* Opens the replay driver on [camera] + text. */
static int open_replay(struct camera_dev *dev, const char *text)
{
	struct config_error cerr;
	struct config *cfg = NULL;
	char conf[2048];
	int rc;

	snprintf(conf, sizeof(conf), "[camera]\n%s", text);
	memset(dev, 0, sizeof(*dev));
	if (config_load_string("replay.conf", NULL, conf, &cfg, &cerr) < 0) {
		printf("    config: %s\n", cerr.msg);
		return -999;
	}
	rc = camera_open(dev, &camera_replay_ops, cfg, "camera");
	config_free(cfg);
	return rc;
}

TEST(fixture_y4m_is_what_the_generator_writes)
{
	size_t a_len = 0, b_len = 0;
	void *a, *b;

	if (getenv("EDGEBOX_REGEN_FIXTURES"))
		ASSERT_EQ(camera_fixture_write_pattern(CAMERA_FIXTURE_Y4M), 0);
	ASSERT_EQ(camera_fixture_write_pattern(tmp_path("pattern.y4m")), 0);
	a = read_all(CAMERA_FIXTURE_Y4M, &a_len);
	b = read_all(tmp_path("pattern.y4m"), &b_len);
	ASSERT_MSG(a, "%s is missing; run with EDGEBOX_REGEN_FIXTURES=1", CAMERA_FIXTURE_Y4M);
	ASSERT(b);
	ASSERT_EQ(a_len, b_len);
	ASSERT_MSG(memcmp(a, b, a_len) == 0, "%s differs from the generator", CAMERA_FIXTURE_Y4M);
	free(a);
	free(b);
}

TEST(folder_replays_in_name_order_at_each_images_size)
{
	struct camera_frame f = new_frame(frame_buf);
	struct camera_dev dev;
	char conf[600];
	size_t i;

	ASSERT_EQ(mkdir(tmp_path("seq"), 0755), 0);
	ASSERT_EQ(write_ppm(tmp_path("seq/b.ppm"), 3, 2, 0xbb), 0);
	ASSERT_EQ(write_ppm(tmp_path("seq/a.ppm"), 4, 4, 0xaa), 0);
	ASSERT_EQ(write_ppm(tmp_path("seq/c.PPM"), 2, 5, 0xcc), 0);
	ASSERT_EQ(write_ppm(tmp_path("seq/.hidden.ppm"), 1, 1, 0x11), 0);
	ASSERT_EQ(test_write_file(tmp_path("seq/notes.txt"), "hello", 5), 0);
	ASSERT_EQ(mkdir(tmp_path("seq/d.ppm"), 0755), 0);

	snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\nloop = false\n", tmp_path("seq"));
	ASSERT_MSG(open_replay(&dev, conf) == 0, "%s", dev.error);
	ASSERT_EQ(dev.width, 4); /* the first image's */
	ASSERT_EQ(dev.height, 4);
	ASSERT(dev.fps == 10); /* the default for a folder */
	{
		static const struct {
			uint32_t w, h;
			uint8_t fill;
		} want[] = {{4, 4, 0xaa}, {3, 2, 0xbb}, {2, 5, 0xcc}};

		for (i = 0; i < 3; i++) {
			ASSERT_EQ(camera_read(&dev, &f, -1), 1);
			ASSERT_EQ(f.seq, i);
			ASSERT_EQ(f.width, want[i].w);
			ASSERT_EQ(f.height, want[i].h);
			ASSERT_EQ(f.stride, want[i].w * 3);
			ASSERT_EQ(f.bytes, want[i].w * want[i].h * 3);
			ASSERT(f.data[0] == want[i].fill && f.data[f.bytes - 1] == want[i].fill);
		}
	}
	ASSERT_EQ(camera_read(&dev, &f, -1), -ENODATA);
	ASSERT_CONTAINS(dev.error, "end of replay");
	ASSERT_EQ(camera_read(&dev, &f, -1), -ENODATA);
	ASSERT_EQ(dev.stats.frames, 3);
	ASSERT_EQ(dev.stats.errors, 0);
	camera_close(&dev);
	ASSERT(dev.priv == NULL);
}

TEST(folder_loops_and_sequence_keeps_counting)
{
	struct camera_frame f = new_frame(frame_buf);
	struct camera_dev dev;
	char conf[600];
	int i;

	ASSERT_EQ(mkdir(tmp_path("loop"), 0755), 0);
	ASSERT_EQ(write_ppm(tmp_path("loop/1.ppm"), 2, 2, 1), 0);
	ASSERT_EQ(write_ppm(tmp_path("loop/2.ppm"), 2, 2, 2), 0);
	snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\n", tmp_path("loop"));
	ASSERT_MSG(open_replay(&dev, conf) == 0, "%s", dev.error);
	for (i = 0; i < 7; i++) {
		ASSERT_EQ(camera_read(&dev, &f, 0), 1);
		ASSERT_EQ(f.seq, i);
		ASSERT_EQ(f.data[0], i % 2 + 1);
	}
	camera_close(&dev);
}

TEST(fixture_folder_cached_and_uncached_give_the_same_frames)
{
	static const uint32_t sizes[4][2] = {{500, 375}, {360, 480}, {500, 375}, {500, 375}};
	struct camera_frame a = new_frame(frame_buf), b = new_frame(other_buf);
	struct camera_dev cached, uncached;
	int i;

	ASSERT_MSG(open_replay(&cached, "path = tests/fixtures/camera\nspeed = 0\n") == 0, "%s",
		   cached.error);
	ASSERT_MSG(
	    open_replay(&uncached, "path = tests/fixtures/camera\nspeed = 0\ncache_mb = 0\n") == 0,
	    "%s", uncached.error);
	ASSERT_EQ(cached.width, 500);
	ASSERT_EQ(cached.height, 375);
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(camera_read(&cached, &a, 0), 1);
		ASSERT_EQ(camera_read(&uncached, &b, 0), 1);
		ASSERT_EQ(a.width, sizes[i % 4][0]);
		ASSERT_EQ(a.height, sizes[i % 4][1]);
		ASSERT_EQ(b.width, a.width);
		ASSERT_EQ(b.bytes, a.bytes);
		ASSERT_MSG(memcmp(a.data, b.data, a.bytes) == 0, "frame %d differs", i);
	}
	camera_close(&cached);
	camera_close(&uncached);
}

TEST(y4m_replays_the_pattern_at_the_files_rate)
{
	struct camera_frame f = new_frame(frame_buf);
	struct camera_dev dev;
	uint8_t yuv[3];
	uint32_t i, x;

	ASSERT_MSG(open_replay(&dev, "path = " CAMERA_FIXTURE_Y4M "\nspeed = 0\nloop = no\n") == 0,
		   "%s", dev.error);
	ASSERT_EQ(dev.width, CAMERA_FIXTURE_WIDTH);
	ASSERT_EQ(dev.height, CAMERA_FIXTURE_HEIGHT);
	ASSERT(dev.fps == CAMERA_FIXTURE_FPS);
	for (i = 0; i < CAMERA_FIXTURE_FRAMES; i++) {
		ASSERT_EQ(camera_read(&dev, &f, -1), 1);
		ASSERT_EQ(f.seq, i);
		ASSERT_EQ(f.width, CAMERA_FIXTURE_WIDTH);
		ASSERT_EQ(f.height, CAMERA_FIXTURE_HEIGHT);
		/* Row 4: black on the bar, white elsewhere in the left half. */
		for (x = 0; x < CAMERA_FIXTURE_WIDTH / 2; x++) {
			const uint8_t *px = f.data + (4 * CAMERA_FIXTURE_WIDTH + x) * 3;

			camera_fixture_yuv(x, 4, i, CAMERA_FIXTURE_WIDTH, CAMERA_FIXTURE_HEIGHT,
					   yuv);
			ASSERT_MSG(px[1] == (yuv[0] == 16 ? 0 : 255), "frame %u x %u: %d", i, x,
				   px[1]);
		}
	}
	ASSERT_EQ(camera_read(&dev, &f, -1), -ENODATA);
	camera_close(&dev);

	/* The fps key wins over the file's rate. */
	ASSERT_EQ(open_replay(&dev, "path = " CAMERA_FIXTURE_Y4M "\nfps = 7.5\n"), 0);
	ASSERT(dev.fps == 7.5);
	camera_close(&dev);
}

/* Reads n frames and returns the largest deviation of their spacing from
 * want_ns, or UINT64_MAX on a read failure. */
static uint64_t worst_spacing(struct camera_dev *dev, int n, uint64_t want_ns)
{
	struct camera_frame f = new_frame(frame_buf);
	uint64_t prev = 0, worst = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (camera_read(dev, &f, -1) != 1)
			return UINT64_MAX;
		if (i) {
			uint64_t d = f.ts_ns - prev;
			uint64_t dev_ns = d > want_ns ? d - want_ns : want_ns - d;

			if (dev_ns > worst)
				worst = dev_ns;
		}
		prev = f.ts_ns;
	}
	return worst;
}

TEST(paced_at_the_configured_rate)
{
	struct camera_dev dev;
	uint64_t t0, worst, total;

	/* The Y4M says 20 fps: 50 ms apart. */
	ASSERT_EQ(open_replay(&dev, "path = " CAMERA_FIXTURE_Y4M "\n"), 0);
	t0 = hal_now_ns();
	worst = worst_spacing(&dev, 6, 50000000ull);
	total = hal_now_ns() - t0;
	camera_close(&dev);
	ASSERT_MSG(worst < 15000000ull, "spacing off by %llu ns", (unsigned long long)worst);
	ASSERT_MSG(total >= 245000000ull && total < 400000000ull, "6 frames took %llu ns",
		   (unsigned long long)total);

	/* A folder at fps 40, speed 2: 12.5 ms apart. */
	ASSERT_EQ(open_replay(&dev, "path = tests/fixtures/camera\nfps = 40\nspeed = 2\n"), 0);
	worst = worst_spacing(&dev, 6, 12500000ull);
	camera_close(&dev);
	ASSERT_MSG(worst < 8000000ull, "spacing off by %llu ns", (unsigned long long)worst);

	/* Speed 0: no waiting at all. */
	ASSERT_EQ(open_replay(&dev, "path = " CAMERA_FIXTURE_Y4M "\nspeed = 0\nfps = 1\n"), 0);
	t0 = hal_now_ns();
	ASSERT(worst_spacing(&dev, 10, 0) != UINT64_MAX);
	total = hal_now_ns() - t0;
	camera_close(&dev);
	ASSERT_MSG(total < 100000000ull, "10 frames at speed 0 took %llu ns",
		   (unsigned long long)total);
}

TEST(a_short_timeout_returns_zero_before_the_frame_is_due)
{
	struct camera_frame f = new_frame(frame_buf);
	struct camera_dev dev;
	uint64_t t0, dt;

	ASSERT_EQ(open_replay(&dev, "path = " CAMERA_FIXTURE_Y4M "\nfps = 5\n"), 0);
	ASSERT_EQ(camera_read(&dev, &f, 0), 1); /* the first frame is due at once */
	t0 = hal_now_ns();
	ASSERT_EQ(camera_read(&dev, &f, 0), 0);
	ASSERT_EQ(camera_read(&dev, &f, 20), 0);
	dt = hal_now_ns() - t0;
	ASSERT_MSG(dt >= 19000000ull && dt < 100000000ull, "waited %llu ns",
		   (unsigned long long)dt);
	ASSERT_EQ(camera_read(&dev, &f, 1000), 1);
	ASSERT_EQ(f.seq, 1);
	dt = hal_now_ns() - t0;
	ASSERT_MSG(dt >= 180000000ull && dt < 300000000ull, "frame 1 after %llu ns",
		   (unsigned long long)dt);
	camera_close(&dev);
}

TEST(y4m_loops_and_a_cut_frame_is_reported_once)
{
	struct camera_frame f = new_frame(frame_buf);
	struct camera_dev dev;
	char conf[600];
	size_t len;
	uint8_t *y4m;
	int i;

	/* The fixture minus the last 100 bytes: frame 4 is cut short. */
	y4m = read_all(CAMERA_FIXTURE_Y4M, &len);
	ASSERT(y4m && len > 100);
	ASSERT_EQ(test_write_file(tmp_path("cut.y4m"), y4m, len - 100), 0);
	free(y4m);

	snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\n", tmp_path("cut.y4m"));
	ASSERT_EQ(open_replay(&dev, conf), 0);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(camera_read(&dev, &f, 0), 1);
	ASSERT_EQ(camera_read(&dev, &f, 0), -EINVAL);
	ASSERT_CONTAINS(dev.error, "cut.y4m: frame 4 is truncated");
	ASSERT_EQ(camera_read(&dev, &f, 0), 1); /* back to frame 0 */
	ASSERT_EQ(f.seq, 4);
	ASSERT_EQ(f.data[0], 0); /* frame 0 has the black bar at x 0 */
	ASSERT_EQ(dev.stats.errors, 1);
	ASSERT_EQ(dev.stats.frames, 5);
	camera_close(&dev);

	snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\nloop = false\n", tmp_path("cut.y4m"));
	ASSERT_EQ(open_replay(&dev, conf), 0);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(camera_read(&dev, &f, 0), 1);
	ASSERT_EQ(camera_read(&dev, &f, 0), -EINVAL);
	ASSERT_EQ(camera_read(&dev, &f, 0), -ENODATA);
	camera_close(&dev);

	/* Garbage mid-file: the sync is lost, so start over rather than guess. */
	{
		static const char lost[] = "YUV4MPEG2 W4 H2 F25:1 Cmono\nFRAME\nAAAAAAAA"
					   "garbage!\nFRAME\nzzzzzzzz";
		uint8_t first;

		ASSERT_EQ(test_write_file(tmp_path("lost.y4m"), lost, sizeof(lost) - 1), 0);
		snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\n", tmp_path("lost.y4m"));
		ASSERT_EQ(open_replay(&dev, conf), 0);
		ASSERT_EQ(camera_read(&dev, &f, 0), 1);
		first = f.data[0];
		ASSERT_EQ(camera_read(&dev, &f, 0), -EINVAL);
		ASSERT_CONTAINS(dev.error, "frame 1: expected a FRAME header, found garbage");
		ASSERT_EQ(camera_read(&dev, &f, 0), 1);
		ASSERT_EQ(f.data[0], first);
		ASSERT_EQ(f.seq, 1);
		camera_close(&dev);
	}

	/* A header and no frames: the end, not a spin. */
	ASSERT_EQ(test_write_file(tmp_path("empty.y4m"), "YUV4MPEG2 W4 H2\n", 16), 0);
	snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\n", tmp_path("empty.y4m"));
	ASSERT_EQ(open_replay(&dev, conf), 0);
	ASSERT_EQ(camera_read(&dev, &f, 0), -ENODATA);
	ASSERT_CONTAINS(dev.error, "empty.y4m holds no frames");
	camera_close(&dev);
}

TEST(small_buffer_consumes_nothing)
{
	struct camera_frame f = new_frame(frame_buf);
	struct camera_dev dev;

	ASSERT_EQ(open_replay(&dev, "path = " CAMERA_FIXTURE_Y4M "\nspeed = 0\n"), 0);
	f.capacity = 100;
	ASSERT_EQ(camera_read(&dev, &f, 0), -ENOSPC);
	ASSERT_CONTAINS(dev.error, "holds 100 bytes");
	f.capacity = CAMERA_FRAME_MAX_BYTES;
	ASSERT_EQ(camera_read(&dev, &f, 0), 1);
	ASSERT_EQ(f.seq, 0);
	ASSERT_EQ(f.data[0], 0); /* frame 0 */
	camera_close(&dev);

	ASSERT_EQ(open_replay(&dev, "path = tests/fixtures/camera\nspeed = 0\n"), 0);
	f.capacity = 1000;
	ASSERT_EQ(camera_read(&dev, &f, 0), -ENOSPC);
	ASSERT_CONTAINS(dev.error, "2007_007763.jpg (500x375) needs 562500");
	camera_close(&dev);
}

TEST(a_corrupt_image_fails_open_or_is_skipped_uncached)
{
	struct camera_frame f = new_frame(frame_buf);
	struct camera_dev dev;
	char conf[600];
	size_t len;
	uint8_t *jpg;

	ASSERT_EQ(mkdir(tmp_path("bad"), 0755), 0);
	ASSERT_EQ(write_ppm(tmp_path("bad/1.ppm"), 2, 2, 1), 0);
	ASSERT_EQ(write_ppm(tmp_path("bad/3.ppm"), 2, 2, 3), 0);
	/* Header intact, pixels cut off: only a full decode notices. */
	jpg = read_all("tests/fixtures/camera/2008_001009.jpg", &len);
	ASSERT(jpg);
	ASSERT_EQ(test_write_file(tmp_path("bad/2.jpg"), jpg, len / 2), 0);
	free(jpg);

	snprintf(conf, sizeof(conf), "path = %s\n", tmp_path("bad"));
	ASSERT_EQ(open_replay(&dev, conf), -EINVAL);
	ASSERT_CONTAINS(dev.error, "bad/2.jpg: corrupt or truncated JPEG data");
	camera_close(&dev);

	snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\ncache_mb = 0\n", tmp_path("bad"));
	ASSERT_MSG(open_replay(&dev, conf) == 0, "%s", dev.error);
	ASSERT_EQ(camera_read(&dev, &f, 0), 1);
	ASSERT_EQ(f.data[0], 1);
	ASSERT_EQ(camera_read(&dev, &f, 0), -EINVAL);
	ASSERT_CONTAINS(dev.error, "bad/2.jpg: corrupt or truncated JPEG data");
	ASSERT_EQ(camera_read(&dev, &f, 0), 1);
	ASSERT_EQ(f.data[0], 3);
	ASSERT_EQ(f.seq, 1);
	ASSERT_EQ(dev.stats.errors, 1);
	camera_close(&dev);

	/* Garbage with an image name is caught at open even uncached. */
	ASSERT_EQ(test_write_file(tmp_path("bad/0.ppm"), "P6 2 2 255\nxx", 13), 0);
	ASSERT_EQ(open_replay(&dev, conf), -EINVAL);
	ASSERT_CONTAINS(dev.error, "bad/0.ppm: PPM is truncated");
}

TEST(bad_paths_and_keys_are_clear_errors)
{
	struct camera_dev dev;
	char conf[600];
	int i;

	ASSERT_EQ(open_replay(&dev, "path = /nonexistent/frames\n"), -ENOENT);
	ASSERT_STREQ(dev.error, "camera: cannot open replay path /nonexistent/frames: No such "
				"file or directory (set [camera] path to a folder of images or a "
				".y4m file, e.g. tests/fixtures/camera)");

	ASSERT_EQ(open_replay(&dev, "fps = 5\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "replay.conf: [camera] path: missing; this key is required");

	ASSERT_EQ(open_replay(&dev, "path = tests/fixtures/camera\nfps = 0\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "replay.conf:3: [camera] fps: expected a number from 0.1 to "
				   "1000, got '0'");
	ASSERT_EQ(open_replay(&dev, "path = tests/fixtures/camera\nspeed = -1\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "[camera] speed");
	ASSERT_EQ(open_replay(&dev, "path = tests/fixtures/camera\nloop = sometimes\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "[camera] loop: expected true or false");

	ASSERT_EQ(open_replay(&dev, "path = tests/fixtures/camera/2008_001009.jpg\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "2008_001009.jpg is neither a folder of images nor a .y4m file");

	ASSERT_EQ(mkdir(tmp_path("none"), 0755), 0);
	snprintf(conf, sizeof(conf), "path = %s\n", tmp_path("none"));
	ASSERT_EQ(open_replay(&dev, conf), -ENOENT);
	ASSERT_CONTAINS(dev.error, "no .jpg, .jpeg or .ppm images in");

	ASSERT_EQ(test_write_file(tmp_path("bad.y4m"), "YUV4MPEG2 W4 H2 C422\n", 21), 0);
	snprintf(conf, sizeof(conf), "path = %s\n", tmp_path("bad.y4m"));
	ASSERT_EQ(open_replay(&dev, conf), -ENOTSUP);
	ASSERT_CONTAINS(dev.error, "camera: ");
	ASSERT_CONTAINS(dev.error, "'C422' is not supported");

	ASSERT_EQ(test_write_file(tmp_path("slow.y4m"), "YUV4MPEG2 W4 H2 F1:1000\n", 24), 0);
	snprintf(conf, sizeof(conf), "path = %s\n", tmp_path("slow.y4m"));
	ASSERT_EQ(open_replay(&dev, conf), -ERANGE);
	ASSERT_CONTAINS(dev.error, "says 0.001 frames/s, outside 0.1..1000; set [camera] fps");

	/* The folder limit. */
	ASSERT_EQ(mkdir(tmp_path("many"), 0755), 0);
	for (i = 0; i <= 256; i++) {
		char name[64];

		snprintf(name, sizeof(name), "many/%03d.ppm", i);
		ASSERT_EQ(write_ppm(tmp_path(name), 1, 1, (uint8_t)i), 0);
	}
	snprintf(conf, sizeof(conf), "path = %s\n", tmp_path("many"));
	ASSERT_EQ(open_replay(&dev, conf), -E2BIG);
	ASSERT_CONTAINS(dev.error, "holds more than 256 images, the replay limit");
	snprintf(conf, sizeof(conf), "%s/many/256.ppm", test_tmpdir());
	ASSERT_EQ(remove(conf), 0);
	snprintf(conf, sizeof(conf), "path = %s\nspeed = 0\n", tmp_path("many"));
	ASSERT_MSG(open_replay(&dev, conf) == 0, "%s", dev.error);
	camera_close(&dev);
}
