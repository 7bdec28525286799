/*
 * GPIO: the event decoder behind the libgpiod driver (hal/gpio_lines.c) fed
 * byte-exact struct gpioevent_data records through pipes, the replay driver,
 * and the libgpiod driver's failure paths (the sandbox has no GPIO chip).
 */
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "firmware/config.h"
#include "hal/gpio.h"
#include "hal/gpio_lines.h"
#include "hal/time.h"

extern const struct gpio_ops gpio_gpiod_ops;
extern const struct gpio_ops gpio_replay_ops;

#define MS 1000000ull
#define RISING GPIOEVENT_EVENT_RISING_EDGE
#define FALLING GPIOEVENT_EVENT_FALLING_EDGE

/* ---- helpers ---------------------------------------------------------- */

/* Two pipes standing in for the door and staff-call line-event fds. */
struct rig {
	int rd[GPIO_LINES_COUNT];
	int wr[GPIO_LINES_COUNT];
	struct gpio_lines *lines;
	char err[256];
};

static int rig_open(struct rig *r, bool door_low, bool staff_low, unsigned staff_debounce_ms,
		    int staff_initial)
{
	struct gpio_line_cfg cfg[GPIO_LINES_COUNT];
	int i, fds[2];

	memset(r, 0, sizeof(*r));
	for (i = 0; i < GPIO_LINES_COUNT; i++) {
		if (pipe(fds) < 0)
			return -errno;
		r->rd[i] = fds[0];
		r->wr[i] = fds[1];
		cfg[i].fd = fds[0];
		cfg[i].debounce_ms = 0;
		cfg[i].initial_level = -1;
	}
	cfg[GPIO_INPUT_DOOR].active_low = door_low;
	cfg[GPIO_INPUT_STAFF_CALL].active_low = staff_low;
	cfg[GPIO_INPUT_STAFF_CALL].debounce_ms = staff_debounce_ms;
	cfg[GPIO_INPUT_STAFF_CALL].initial_level = staff_initial;
	return gpio_lines_new(cfg, &r->lines);
}

static void rig_close(struct rig *r)
{
	int i;

	gpio_lines_free(r->lines);
	for (i = 0; i < GPIO_LINES_COUNT; i++) {
		if (r->rd[i] >= 0)
			close(r->rd[i]);
		if (r->wr[i] >= 0)
			close(r->wr[i]);
	}
}

/*
 * The kernel's record, spelled out byte by byte (little-endian, as on the
 * box's amd64/arm64): u64 timestamp, u32 id, 4 bytes of padding.
 */
static void put_record(uint8_t out[16], uint64_t ts, uint32_t id)
{
	int i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(ts >> (8 * i));
	for (i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(id >> (8 * i));
	memset(out + 12, 0, 4);
}

static int send_record(struct rig *r, enum gpio_input in, uint64_t ts, uint32_t id)
{
	uint8_t rec[16];

	put_record(rec, ts, id);
	return write(r->wr[in], rec, sizeof(rec)) == (ssize_t)sizeof(rec) ? 0 : -1;
}

static int read_ev(struct rig *r, struct gpio_event *ev, int timeout_ms)
{
	return gpio_lines_read(r->lines, ev, timeout_ms, r->err, sizeof(r->err));
}

static struct config *load_cfg(const char *text)
{
	struct config_error err;
	struct config *cfg = NULL;

	if (config_load_string("test.conf", ".", text, &cfg, &err) < 0)
		printf("    config: %s\n", err.msg);
	return cfg;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

/* ---- the kernel record layout ------------------------------------------ */

TEST(record_layout_is_16_bytes)
{
	struct gpioevent_data ev;
	uint8_t rec[16];

	/* The pipe tables below assume the 64-bit ABI the box runs. */
	ASSERT_EQ(sizeof(struct gpioevent_data), 16);
	put_record(rec, 0x0102030405060708ull, RISING);
	memcpy(&ev, rec, sizeof(ev));
	ASSERT_EQ(ev.timestamp, 0x0102030405060708ull);
	ASSERT_EQ(ev.id, GPIOEVENT_EVENT_RISING_EDGE);
}

TEST(lines_byte_exact_records)
{
	/* door rising at 1 ms, then falling at 2.5 ms, as the kernel writes them */
	static const uint8_t table[32] = {
	    0x40, 0x42, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x25, 0x26, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 0, -1), 0);
	ASSERT_EQ(write(r.wr[GPIO_INPUT_DOOR], table, sizeof(table)), sizeof(table));
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.input, GPIO_INPUT_DOOR);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	ASSERT_EQ(ev.ts_ns, 1000000);
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_FALLING);
	ASSERT_EQ(ev.ts_ns, 2500000);
	ASSERT_EQ(read_ev(&r, &ev, 0), 0);
	rig_close(&r);
}

/* ---- decoding ----------------------------------------------------------- */

TEST(lines_rising_and_falling_per_line_in_time_order)
{
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 0, -1), 0);
	/* Written out of order across the two fds: handed out by timestamp. */
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, 2 * MS, RISING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, 4 * MS, FALLING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, 1 * MS, RISING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, 3 * MS, FALLING), 0);

	ASSERT_EQ(read_ev(&r, &ev, 100), 1);
	ASSERT_EQ(ev.input, GPIO_INPUT_DOOR);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	ASSERT_EQ(ev.ts_ns, 1 * MS);
	ASSERT_EQ(read_ev(&r, &ev, 100), 1);
	ASSERT_EQ(ev.input, GPIO_INPUT_STAFF_CALL);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	ASSERT_EQ(ev.ts_ns, 2 * MS);
	ASSERT_EQ(read_ev(&r, &ev, 100), 1);
	ASSERT_EQ(ev.input, GPIO_INPUT_DOOR);
	ASSERT_EQ(ev.edge, GPIO_EDGE_FALLING);
	ASSERT_EQ(ev.ts_ns, 3 * MS);
	ASSERT_EQ(read_ev(&r, &ev, 100), 1);
	ASSERT_EQ(ev.input, GPIO_INPUT_STAFF_CALL);
	ASSERT_EQ(ev.edge, GPIO_EDGE_FALLING);
	ASSERT_EQ(ev.ts_ns, 4 * MS);
	ASSERT_EQ(read_ev(&r, &ev, 0), 0);
	rig_close(&r);
}

TEST(lines_active_low_inverts_only_its_line)
{
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, true, false, 0, -1), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, 1 * MS, FALLING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, 5 * MS, RISING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, 7 * MS, RISING), 0);
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.input, GPIO_INPUT_DOOR);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING); /* pulled low = active */
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_FALLING);
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.input, GPIO_INPUT_STAFF_CALL);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	rig_close(&r);
}

TEST(lines_door_without_debounce_passes_every_edge)
{
	struct gpio_event ev;
	struct rig r;
	int i;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, (uint64_t)(1 + i) * MS,
				      i % 2 ? FALLING : RISING),
			  0);
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(read_ev(&r, &ev, 0), 1);
		ASSERT_EQ(ev.edge, i % 2 ? GPIO_EDGE_FALLING : GPIO_EDGE_RISING);
	}
	ASSERT_EQ(gpio_lines_dropped(r.lines), 0);
	rig_close(&r);
}

TEST(lines_debounce_drops_bounce_within_debounce_ms)
{
	static const struct {
		uint64_t ms;
		uint32_t id;
	} raw[] = {
	    {1, RISING},    {3, FALLING},  {5, RISING},	   {7, FALLING}, {9, RISING}, /* press */
	    {200, FALLING}, {202, RISING}, {204, FALLING},			      /* release */
	};
	struct gpio_event ev;
	struct rig r;
	size_t i;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
		ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, raw[i].ms * MS, raw[i].id), 0);
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	ASSERT_EQ(ev.ts_ns, 1 * MS); /* the press goes out at once */
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_FALLING);
	ASSERT_EQ(ev.ts_ns, 200 * MS);
	ASSERT_EQ(read_ev(&r, &ev, 0), 0);
	ASSERT_EQ(gpio_lines_dropped(r.lines), 6);
	rig_close(&r);
}

TEST(lines_debounce_tap_shorter_than_debounce_still_releases)
{
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, 1 * MS, RISING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, 20 * MS, FALLING), 0);
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_FALLING);
	ASSERT_EQ(ev.ts_ns, 20 * MS);
	rig_close(&r);
}

TEST(lines_debounce_waits_for_quiet_line_in_real_time)
{
	struct gpio_event ev;
	uint64_t base = hal_now_ns(), waited;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, base, RISING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, base + 5 * MS, FALLING), 0);
	ASSERT_EQ(read_ev(&r, &ev, 1000), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	ASSERT_EQ(read_ev(&r, &ev, 0), 0); /* the release is not settled yet */
	ASSERT_EQ(read_ev(&r, &ev, 1000), 1);
	waited = hal_now_ns() - base;
	ASSERT_EQ(ev.edge, GPIO_EDGE_FALLING);
	ASSERT_EQ(ev.ts_ns, base + 5 * MS);
	ASSERT_MSG(waited >= 35 * MS && waited < 500 * MS, "settled after %llu ms",
		   (unsigned long long)(waited / MS));
	rig_close(&r);
}

TEST(lines_burst_larger_than_the_queue_keeps_order_and_debounce)
{
	struct gpio_event ev;
	struct rig r;
	int i, door = 0, staff = 0;
	uint64_t last = 0;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	/* 40 door edges, and a press whose bounce ends back at pressed. */
	for (i = 0; i < 40; i++)
		ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, (uint64_t)(i + 1) * MS,
				      i % 2 ? FALLING : RISING),
			  0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, MS / 2, RISING), 0);
	for (i = 0; i < 12; i++)
		ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, (uint64_t)(i + 1) * MS,
				      i % 2 ? RISING : FALLING),
			  0);
	while (read_ev(&r, &ev, 0) == 1) {
		ASSERT(ev.ts_ns >= last);
		last = ev.ts_ns;
		if (ev.input == GPIO_INPUT_DOOR) {
			ASSERT_EQ(ev.edge, door % 2 ? GPIO_EDGE_FALLING : GPIO_EDGE_RISING);
			door++;
		} else {
			ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
			staff++;
		}
	}
	ASSERT_EQ(door, 40);
	ASSERT_EQ(staff, 1);
	rig_close(&r);
}

TEST(lines_initial_level_drops_an_edge_that_changes_nothing)
{
	struct gpio_event ev;
	struct rig r;

	/* Active-low button that reads high (released) at open. */
	ASSERT_EQ(rig_open(&r, false, true, 30, 1), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, 1 * MS, RISING), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_STAFF_CALL, 100 * MS, FALLING), 0);
	ASSERT_EQ(read_ev(&r, &ev, 0), 1);
	ASSERT_EQ(ev.edge, GPIO_EDGE_RISING);
	ASSERT_EQ(ev.ts_ns, 100 * MS);
	ASSERT_EQ(gpio_lines_dropped(r.lines), 1);
	rig_close(&r);
}

TEST(lines_timeout_returns_0)
{
	struct gpio_event ev;
	uint64_t t0;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	t0 = hal_now_ns();
	ASSERT_EQ(read_ev(&r, &ev, 50), 0);
	ASSERT_MSG(hal_now_ns() - t0 >= 50 * MS, "returned after %llu ms",
		   (unsigned long long)((hal_now_ns() - t0) / MS));
	ASSERT_EQ(read_ev(&r, &ev, 0), 0);
	rig_close(&r);
}

/* ---- bad input ----------------------------------------------------------- */

TEST(lines_short_read_rejected)
{
	static const uint8_t partial[10] = {0x40, 0x42, 0x0f, 0, 0, 0, 0, 0, 0x01, 0};
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	ASSERT_EQ(write(r.wr[GPIO_INPUT_STAFF_CALL], partial, sizeof(partial)), sizeof(partial));
	ASSERT_EQ(read_ev(&r, &ev, 100), -EIO);
	ASSERT_CONTAINS(r.err, "staff_call line: short event record, 10 of 16 bytes");
	ASSERT_CONTAINS(r.err, "not a GPIO v1 line-event fd");
	rig_close(&r);
}

TEST(lines_unknown_id_rejected)
{
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, 1 * MS, 3), 0);
	ASSERT_EQ(read_ev(&r, &ev, 100), -EBADMSG);
	ASSERT_CONTAINS(r.err,
			"door line: unknown event id 3 (expected 1 = rising or 2 = falling)");
	rig_close(&r);
}

TEST(lines_end_of_file_rejected)
{
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	close(r.wr[GPIO_INPUT_DOOR]);
	r.wr[GPIO_INPUT_DOOR] = -1;
	ASSERT_EQ(read_ev(&r, &ev, 100), -EIO);
	ASSERT_CONTAINS(r.err, "door line: event fd reached end of file");
	rig_close(&r);
}

TEST(lines_realtime_timestamp_rejected)
{
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	/* What a pre-5.7 kernel stamps: wall-clock time, decades past boot. */
	ASSERT_EQ(send_record(&r, GPIO_INPUT_DOOR, 1700000000ull * 1000000000ull, RISING), 0);
	ASSERT_EQ(read_ev(&r, &ev, 100), -ERANGE);
	ASSERT_CONTAINS(r.err, "ahead of CLOCK_MONOTONIC");
	ASSERT_CONTAINS(r.err, "Linux 5.7 or later");
	rig_close(&r);
}

TEST(lines_closed_fd_rejected)
{
	struct gpio_event ev;
	struct rig r;

	ASSERT_EQ(rig_open(&r, false, false, 30, -1), 0);
	close(r.rd[GPIO_INPUT_STAFF_CALL]);
	r.rd[GPIO_INPUT_STAFF_CALL] = -1; /* the decoder still holds the old number */
	ASSERT_EQ(read_ev(&r, &ev, 100), -EBADF);
	ASSERT_CONTAINS(r.err, "staff_call line: event fd");
	ASSERT_CONTAINS(r.err, "is not open");
	rig_close(&r);
}

TEST(lines_new_rejects_bad_config)
{
	struct gpio_line_cfg cfg[GPIO_LINES_COUNT] = {
	    {.fd = 0, .debounce_ms = 0, .initial_level = -1},
	    {.fd = 0, .debounce_ms = GPIO_LINES_MAX_DEBOUNCE_MS + 1, .initial_level = -1},
	};
	struct gpio_lines *l = (struct gpio_lines *)1;

	ASSERT_EQ(gpio_lines_new(cfg, &l), -EINVAL);
	ASSERT(l == NULL);
	cfg[1].debounce_ms = 30;
	cfg[1].initial_level = 2;
	ASSERT_EQ(gpio_lines_new(cfg, &l), -EINVAL);
	gpio_lines_free(NULL);
}

/* ---- replay driver --------------------------------------------------------- */

TEST(replay_fixture_in_order_at_speed_0)
{
	static const struct {
		enum gpio_input input;
		enum gpio_edge edge;
	} want[] = {
	    {GPIO_INPUT_DOOR, GPIO_EDGE_RISING},
	    {GPIO_INPUT_DOOR, GPIO_EDGE_FALLING},
	    {GPIO_INPUT_STAFF_CALL, GPIO_EDGE_RISING},
	    {GPIO_INPUT_STAFF_CALL, GPIO_EDGE_FALLING},
	};
	struct config *cfg = load_cfg("[gpio]\nscript = tests/fixtures/gpio/door.script\n"
				      "speed = 0\n");
	struct gpio_dev dev;
	struct gpio_event ev;
	uint64_t t0 = hal_now_ns();
	size_t i;

	ASSERT(cfg);
	ASSERT_MSG(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio") == 0, "%s", dev.error);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ASSERT_EQ(gpio_read_event(&dev, &ev, -1), 1);
		ASSERT_EQ(ev.input, want[i].input);
		ASSERT_EQ(ev.edge, want[i].edge);
	}
	ASSERT_EQ(gpio_read_event(&dev, &ev, -1), -ENODATA);
	ASSERT_EQ(gpio_read_event(&dev, &ev, 0), -ENODATA);
	ASSERT_MSG(hal_now_ns() - t0 < 200 * MS, "speed 0 took %llu ms",
		   (unsigned long long)((hal_now_ns() - t0) / MS));
	gpio_close(&dev);
	config_free(cfg);
}

TEST(replay_timing_at_speed_1)
{
	static const double at[] = {0.05, 0.10, 0.15};
	const char *path = write_file("timing.script", "0.05 door rising\n"
						       "0.10 door falling   # closes\n"
						       "0.15 staff_call rising\n");
	char text[700];
	struct config *cfg;
	struct gpio_dev dev;
	struct gpio_event ev;
	uint64_t t0, now, want;
	size_t i;

	ASSERT(path);
	snprintf(text, sizeof(text), "[gpio]\nscript = %s\nspeed = 1.0\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	t0 = hal_now_ns();
	ASSERT_MSG(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio") == 0, "%s", dev.error);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(gpio_read_event(&dev, &ev, 1000), 1);
		now = hal_now_ns();
		want = t0 + (uint64_t)(at[i] * 1e9);
		ASSERT_MSG(now >= want && now < want + 40 * MS, "event %zu at %lld ms, want %.0f",
			   i, (long long)(now - t0) / (long long)MS, at[i] * 1000);
		ASSERT_MSG(ev.ts_ns >= want && ev.ts_ns <= now, "ts %lld ms after open",
			   (long long)(ev.ts_ns - t0) / (long long)MS);
	}
	ASSERT_EQ(gpio_read_event(&dev, &ev, 1000), -ENODATA);
	gpio_close(&dev);
	config_free(cfg);
}

TEST(replay_timeout_before_the_next_event_returns_0)
{
	const char *path = write_file("late.script", "5 door rising\n");
	char text[700];
	struct config *cfg;
	struct gpio_dev dev;
	struct gpio_event ev;
	uint64_t t0;

	ASSERT(path);
	snprintf(text, sizeof(text), "[gpio]\nscript = %s\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	ASSERT_MSG(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio") == 0, "%s", dev.error);
	ASSERT_EQ(gpio_read_event(&dev, &ev, 0), 0);
	t0 = hal_now_ns();
	ASSERT_EQ(gpio_read_event(&dev, &ev, 30), 0);
	ASSERT(hal_now_ns() - t0 >= 30 * MS);
	gpio_close(&dev);
	config_free(cfg);
}

TEST(replay_speed_scales_and_loop_repeats)
{
	const char *path = write_file("loop.script", "0.02 staff_call rising\n"
						     "0.04 staff_call falling\n");
	char text[700];
	struct config *cfg;
	struct gpio_dev dev;
	struct gpio_event ev[5];
	int i;

	ASSERT(path);
	snprintf(text, sizeof(text), "[gpio]\nscript = %s\nspeed = 2\nloop = true\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	ASSERT_MSG(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio") == 0, "%s", dev.error);
	for (i = 0; i < 5; i++)
		ASSERT_EQ(gpio_read_event(&dev, &ev[i], 1000), 1);
	for (i = 0; i < 5; i++)
		ASSERT_EQ(ev[i].edge, i % 2 ? GPIO_EDGE_FALLING : GPIO_EDGE_RISING);
	/* At speed 2 the 20 ms steps are 10 ms; the second pass starts at 40 ms. */
	ASSERT_EQ(ev[1].ts_ns - ev[0].ts_ns, 10 * MS);
	ASSERT_EQ(ev[2].ts_ns - ev[0].ts_ns, 20 * MS);
	ASSERT_EQ(ev[4].ts_ns - ev[0].ts_ns, 40 * MS);
	gpio_close(&dev);
	config_free(cfg);
}

TEST(replay_led_writes_are_recorded)
{
	struct config *cfg = load_cfg("[gpio]\nscript = tests/fixtures/gpio/door.script\n");
	struct gpio_dev dev;

	ASSERT(cfg);
	ASSERT_MSG(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio") == 0, "%s", dev.error);
	ASSERT(!dev.led);
	ASSERT_EQ(gpio_set_led(&dev, true), 0);
	ASSERT(dev.led);
	ASSERT_EQ(gpio_set_led(&dev, false), 0);
	ASSERT(!dev.led);
	gpio_close(&dev);
	ASSERT(dev.priv == NULL);
	gpio_close(&dev); /* twice is harmless */
	config_free(cfg);
}

TEST(replay_bad_lines_name_file_line_and_fix)
{
	static const struct {
		const char *text;
		int line;
		const char *want;
	} cases[] = {
	    {"0.5 door\n", 1,
	     "expected '<seconds> <door|staff_call> <rising|falling>', got 2 words"},
	    {"1 door rising now\n", 1, "got more than 3 words"},
	    {"# header\n\nsoon door rising\n", 3,
	     "expected seconds since start (a number from 0 to 1000000), got 'soon'"},
	    {"-1 door rising\n", 1, "expected seconds since start"},
	    {"nan door rising\n", 1, "got 'nan'"},
	    {"1 window rising\n", 1, "expected door or staff_call, got 'window'"},
	    {"1 door up\n", 1, "expected rising or falling, got 'up'"},
	    {"2 door rising\n1 door falling\n", 2,
	     "1.000 s is before the previous event at 2.000 s; keep events in time order"},
	};
	char text[700], name[32], want[256];
	struct config *cfg;
	struct gpio_dev dev;
	const char *path;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "bad%zu.script", i);
		path = write_file(name, cases[i].text);
		ASSERT(path);
		snprintf(text, sizeof(text), "[gpio]\nscript = %s\n", path);
		cfg = load_cfg(text);
		ASSERT(cfg);
		ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -EINVAL);
		ASSERT(dev.priv == NULL);
		snprintf(want, sizeof(want), "gpio(replay): %s:%d: ", path, cases[i].line);
		ASSERT_CONTAINS(dev.error, want);
		ASSERT_CONTAINS(dev.error, cases[i].want);
		config_free(cfg);
	}
}

TEST(replay_limits)
{
	char text[700], line[400], *big;
	struct config *cfg;
	struct gpio_dev dev;
	const char *path;
	size_t off = 0;
	int i;

	/* A line over the limit. */
	memset(line, ' ', 300);
	memcpy(line + 290, "1 door rising\n", 15);
	path = write_file("long.script", line);
	ASSERT(path);
	snprintf(text, sizeof(text), "[gpio]\nscript = %s\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -EINVAL);
	ASSERT_CONTAINS(dev.error, ":1: line longer than 255 characters");
	config_free(cfg);

	/* One event over the limit. */
	big = malloc(10001 * 24 + 1);
	ASSERT(big);
	for (i = 0; i <= 10000; i++)
		off += (size_t)sprintf(big + off, "%d.%03d door %s\n", i / 1000, i % 1000,
				       i % 2 ? "falling" : "rising");
	path = write_file("many.script", big);
	free(big);
	ASSERT(path);
	snprintf(text, sizeof(text), "[gpio]\nscript = %s\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -E2BIG);
	ASSERT_CONTAINS(dev.error, ":10001: more than 10000 events; split the script");
	config_free(cfg);
}

TEST(replay_config_errors)
{
	struct config *cfg;
	struct gpio_dev dev;
	const char *path;
	char text[700];

	cfg = load_cfg("[gpio]\nspeed = 1\n");
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "[gpio] script: missing");
	config_free(cfg);

	cfg = load_cfg("[gpio]\nscript = no/such.script\n");
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -ENOENT);
	ASSERT_CONTAINS(dev.error, "cannot open ./no/such.script: No such file or directory");
	ASSERT_CONTAINS(dev.error, "set script = ");
	config_free(cfg);

	cfg = load_cfg("[gpio]\nscript = tests/fixtures/gpio/door.script\nspeed = -1\n");
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "test.conf:3: [gpio] speed: expected a number from 0 to 1000");
	config_free(cfg);

	cfg = load_cfg("[gpio]\nscript = tests/fixtures/gpio/door.script\nspeed = 0.001\n");
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -EINVAL);
	ASSERT_CONTAINS(dev.error,
			"[gpio] speed: expected 0 (as fast as possible) or 0.01 to 1000, "
			"got 0.001");
	config_free(cfg);

	path = write_file("empty.script", "# nothing yet\n\n");
	ASSERT(path);
	snprintf(text, sizeof(text), "[gpio]\nscript = %s\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "no events; add lines like '0.5 door rising'");
	config_free(cfg);

	path = write_file("zero.script", "0 door rising\n0 door falling\n");
	ASSERT(path);
	snprintf(text, sizeof(text), "[gpio]\nscript = %s\nloop = yes\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "loop = true needs a script whose last event is after 0 s");
	config_free(cfg);
}

TEST(replay_reads_every_documented_key)
{
	struct config_error err;
	struct config *cfg = load_cfg("[gpio]\nscript = tests/fixtures/gpio/door.script\n"
				      "speed = 0.5\nloop = false\n");
	struct gpio_dev dev;

	ASSERT(cfg);
	ASSERT_MSG(gpio_open(&dev, &gpio_replay_ops, cfg, "gpio") == 0, "%s", dev.error);
	ASSERT_MSG(config_check_unused(cfg, &err) == 0, "%s", err.msg);
	gpio_close(&dev);
	config_free(cfg);
}

/* ---- libgpiod driver: everything up to the missing chip ------------------- */

#define GPIOD_LINES "door_line = 4\nstaff_call_line = 17\nled_line = 27\n"

TEST(gpiod_open_without_chip_fails_cleanly)
{
	struct config_error err;
	struct config *cfg = load_cfg("[gpio]\nchip = edgebox-no-such-chip\n" GPIOD_LINES
				      "door_active_low = true\nstaff_call_active_low = on\n"
				      "debounce_ms = 20\nconsumer = edgebox-test\n");
	struct gpio_dev dev;

	ASSERT(cfg);
	ASSERT_EQ(gpio_open(&dev, &gpio_gpiod_ops, cfg, "gpio"), -ENOENT);
	ASSERT_STREQ(dev.error, "gpio: cannot open edgebox-no-such-chip: No such file or "
				"directory (is the GPIO chip present? `gpiodetect`; test rigs "
				"can use driver = replay)");
	ASSERT(dev.priv == NULL);
	gpio_close(&dev);
	/* Every documented key was read before the chip was looked for. */
	ASSERT_MSG(config_check_unused(cfg, &err) == 0, "%s", err.msg);
	config_free(cfg);
}

TEST(gpiod_default_chip_message)
{
	struct config *cfg = load_cfg("[gpio]\n" GPIOD_LINES);
	struct gpio_dev dev;

	ASSERT(cfg);
	if (access("/dev/gpiochip0", F_OK) == 0) {
		printf("    (this machine has /dev/gpiochip0; the missing-chip message is covered "
		       "by gpiod_open_without_chip_fails_cleanly)\n");
		config_free(cfg);
		return;
	}
	ASSERT_EQ(gpio_open(&dev, &gpio_gpiod_ops, cfg, "gpio"), -ENOENT);
	ASSERT_STREQ(dev.error, "gpio: cannot open gpiochip0: No such file or directory (is the "
				"GPIO chip present? `gpiodetect`; test rigs can use driver = "
				"replay)");
	config_free(cfg);
}

TEST(gpiod_open_not_a_chip)
{
	struct config *cfg = load_cfg("[gpio]\nchip = /dev/null\n" GPIOD_LINES);
	struct gpio_dev dev;

	ASSERT(cfg);
	ASSERT(gpio_open(&dev, &gpio_gpiod_ops, cfg, "gpio") < 0);
	ASSERT_CONTAINS(dev.error, "gpio: cannot open /dev/null: ");
	ASSERT_CONTAINS(dev.error, "not a GPIO chip");
	config_free(cfg);
}

TEST(gpiod_config_errors)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"[gpio]\nstaff_call_line = 17\nled_line = 27\n",
	     "gpio: test.conf: [gpio] door_line: missing; set the line offset"},
	    {"[gpio]\ndoor_line = 4\nstaff_call_line = 17\n", "[gpio] led_line: missing"},
	    {"[gpio]\ndoor_line = four\nstaff_call_line = 17\nled_line = 27\n",
	     "test.conf:2: [gpio] door_line: expected a whole number from 0 to 65535, got "
	     "'four'"},
	    {"[gpio]\n" GPIOD_LINES "debounce_ms = 5000\n",
	     "test.conf:5: [gpio] debounce_ms: expected a whole number from 0 to 1000"},
	    {"[gpio]\n" GPIOD_LINES "door_active_low = maybe\n",
	     "[gpio] door_active_low: expected true or false, got 'maybe'"},
	    {"[gpio]\ndoor_line = 4\nstaff_call_line = 4\nled_line = 27\n",
	     "door_line = 4, staff_call_line = 4, led_line = 27: each needs its own line"},
	    {"[gpio]\n" GPIOD_LINES "consumer = a-consumer-label-longer-than-31-chars\n",
	     "[gpio] consumer: expected 1 to 31 characters, got 37"},
	    {"[gpio]\n" GPIOD_LINES "chip = \"\"\n", "[gpio] chip: empty"},
	};
	struct config *cfg;
	struct gpio_dev dev;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = load_cfg(cases[i].text);
		ASSERT(cfg);
		ASSERT_EQ(gpio_open(&dev, &gpio_gpiod_ops, cfg, "gpio"), -EINVAL);
		ASSERT_CONTAINS(dev.error, cases[i].want);
		ASSERT(dev.priv == NULL);
		config_free(cfg);
	}
}
