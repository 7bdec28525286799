/*
 * drivers/ble_btsnoop.c and drivers/ble_hci.c through the ble device class:
 * the replay hands up exactly the capture's reports, in order, on time; bad
 * configs and files fail at open with messages that say what to fix; the
 * real driver fails cleanly where there is no adapter (as in CI).
 */
#include "test.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "firmware/config.h"
#include "hal/ble.h"
#include "hal/btsnoop.h"
#include "hal/hci.h"
#include "hal/time.h"
#include "tests/support/btsnoop_fixtures.h"

extern const struct ble_ops ble_btsnoop_ops;
extern const struct ble_ops ble_hci_ops;

#define T0 1715679000000000ll

static const char *tmp_path(const char *name)
{
	static char path[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", test_tmpdir(), name);
	return path[k];
}

/* Opens dev with ops and the [ble] section given as text; the config is
 * freed at once (drivers copy what they keep). */
static int open_with(struct ble_dev *dev, const struct ble_ops *ops, const char *text)
{
	struct config_error err;
	struct config *cfg;
	int rc;

	if (config_load_string("test.conf", ".", text, &cfg, &err) < 0) {
		printf("    config: %s\n", err.msg);
		return -999;
	}
	rc = ble_open(dev, ops, cfg, "ble");
	config_free(cfg);
	return rc;
}

static int open_replay(struct ble_dev *dev, const char *path, const char *extra)
{
	char text[1024];

	snprintf(text, sizeof(text), "[ble]\ndriver = btsnoop\nfile = %s\n%s", path, extra);
	return open_with(dev, &ble_btsnoop_ops, text);
}

/* n one-report events gap_us apart (report i has rssi -40 - i and addr[0] =
 * i), with a command before and an ACL packet between each. */
static void write_capture(const char *path, int n, int64_t gap_us)
{
	static const uint8_t cmd[] = {0x0c, 0x20, 0x02, 0x01, 0x00};
	static const uint8_t acl[] = {0x40, 0x20, 0x01, 0x00, 0xaa};
	static const uint8_t data[] = {0x02, 0x01, 0x06};
	struct btsnoop_writer *w;
	struct btsnoop_error err;
	uint8_t evt[2 + 255];

	if (btsnoop_writer_create(path, 0, &w, &err) < 0)
		goto fail;
	if (btsnoop_writer_packet(w, T0, BTSNOOP_PACKET_COMMAND, 0, cmd, sizeof(cmd), &err) < 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		struct fixture_adv a = {.event_type = 0,
					.addr_type = 0,
					.addr = {(uint8_t)i},
					.rssi = (int8_t)(-40 - i),
					.data_len = 3,
					.data = data};
		size_t len = fixture_legacy_event(evt, sizeof(evt), &a, 1);

		if (btsnoop_writer_event(w, T0 + 1000 + i * gap_us, evt, len, &err) < 0 ||
		    btsnoop_writer_packet(w, T0 + 2000 + i * gap_us, BTSNOOP_PACKET_ACL_RX, 0, acl,
					  sizeof(acl), &err) < 0)
			goto fail;
	}
	if (btsnoop_writer_close(w, &err) < 0)
		goto fail;
	return;
fail:
	printf("%s\n", err.msg);
	abort();
}

TEST(replay_delivers_the_fixture_exactly)
{
	struct ble_adv_report want[FIXTURE_WALKIN_BEACONS + FIXTURE_WALKIN_OTHERS];
	struct ble_adv_report got, scratch[HCI_ADV_REPORTS_MAX];
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;
	struct ble_dev dev;
	uint64_t prev = 0;
	int n = 0, rc, i;

	/* What the file holds, read the long way. */
	ASSERT_MSG(btsnoop_reader_open(FIXTURE_WALKIN_PATH, &r, &err) == 0, "%s", err.msg);
	while ((rc = btsnoop_reader_next(r, &rec, &err)) > 0) {
		int k = rec.type == BTSNOOP_PACKET_EVENT
			    ? hci_parse_event(rec.data, rec.len, scratch, HCI_ADV_REPORTS_MAX)
			    : 0;

		for (i = 0; i < k && n < (int)(sizeof(want) / sizeof(want[0])); i++)
			want[n++] = scratch[i];
	}
	btsnoop_reader_free(r);
	ASSERT_EQ(n, FIXTURE_WALKIN_BEACONS + FIXTURE_WALKIN_OTHERS);

	ASSERT_MSG(open_replay(&dev, FIXTURE_WALKIN_PATH, "speed = 0\n") == 0, "%s", dev.error);
	for (i = 0; i < n; i++) {
		ASSERT_MSG(ble_read(&dev, &got, 1000) == 1, "report %d: %s", i, dev.error);
		ASSERT_MSG(memcmp(got.addr, want[i].addr, 6) == 0, "report %d", i);
		ASSERT_EQ(got.rssi, want[i].rssi);
		ASSERT_EQ(got.event_type, want[i].event_type);
		ASSERT_EQ(got.data_len, want[i].data_len);
		ASSERT(memcmp(got.data, want[i].data, got.data_len) == 0);
		ASSERT(got.ts_ns >= prev);
		prev = got.ts_ns;
	}
	ASSERT_EQ(ble_read(&dev, &got, 1000), -ENODATA);
	ASSERT_CONTAINS(dev.error, "end of the capture");
	ASSERT_EQ(ble_read(&dev, &got, 1000), -ENODATA);
	ASSERT_EQ(dev.stats.reports, (uint64_t)n);
	/* 76 advertising events + 3 Command Complete. */
	ASSERT_EQ(dev.stats.events, FIXTURE_WALKIN_ADV_EVENTS + 3);
	ASSERT_EQ(dev.stats.malformed, 0);
	ble_close(&dev);
}

/* Reads n reports, stamping each arrival in ms after the first. */
static int read_times(struct ble_dev *dev, int n, double *ms)
{
	struct ble_adv_report r;
	uint64_t t0 = 0;

	for (int i = 0; i < n; i++) {
		int rc = ble_read(dev, &r, 2000);

		if (rc != 1)
			return rc;
		if (r.rssi != -40 - i)
			return -EILSEQ;
		if (!i)
			t0 = r.ts_ns;
		ms[i] = (double)(r.ts_ns - t0) / 1e6;
	}
	return 1;
}

TEST(replay_keeps_the_capture_timing)
{
	const char *path = tmp_path("three.btsnoop");
	struct ble_dev dev;
	double ms[3];

	write_capture(path, 3, 100000);

	ASSERT_MSG(open_replay(&dev, path, "speed = 1.0\n") == 0, "%s", dev.error);
	ASSERT_EQ(read_times(&dev, 3, ms), 1);
	ble_close(&dev);
	ASSERT_MSG(ms[1] >= 99 && ms[1] < 250, "second after %.1f ms", ms[1]);
	ASSERT_MSG(ms[2] >= 199 && ms[2] < 350, "third after %.1f ms", ms[2]);

	ASSERT_MSG(open_replay(&dev, path, "speed = 2\n") == 0, "%s", dev.error);
	ASSERT_EQ(read_times(&dev, 3, ms), 1);
	ble_close(&dev);
	ASSERT_MSG(ms[2] >= 99 && ms[2] < 190, "third after %.1f ms at speed 2", ms[2]);

	ASSERT_MSG(open_replay(&dev, path, "speed = 0\n") == 0, "%s", dev.error);
	ASSERT_EQ(read_times(&dev, 3, ms), 1);
	ble_close(&dev);
	ASSERT_MSG(ms[2] < 30, "third after %.1f ms at speed 0", ms[2]);
}

TEST(replay_read_times_out_between_events)
{
	const char *path = tmp_path("gap.btsnoop");
	struct ble_adv_report r;
	struct ble_dev dev;
	uint64_t t0, t;

	write_capture(path, 2, 200000);
	ASSERT_MSG(open_replay(&dev, path, "") == 0, "%s", dev.error);
	ASSERT_EQ(ble_read(&dev, &r, 0), 1);
	t0 = hal_now_ns();
	ASSERT_EQ(ble_read(&dev, &r, 30), 0);
	t = (hal_now_ns() - t0) / 1000000;
	ASSERT_MSG(t >= 29 && t < 150, "timed out after %llu ms", (unsigned long long)t);
	ASSERT_EQ(ble_read(&dev, &r, 0), 0);
	ASSERT_EQ(ble_read(&dev, &r, -1), 1);
	ASSERT_EQ(r.rssi, -41);
	t = (r.ts_ns - t0) / 1000000;
	ASSERT_MSG(t >= 190 && t < 400, "second after %llu ms", (unsigned long long)t);
	ASSERT_EQ(ble_read(&dev, &r, -1), -ENODATA);
	ble_close(&dev);
}

TEST(replay_loops)
{
	const char *path = tmp_path("loop.btsnoop");
	struct ble_adv_report r;
	struct ble_dev dev;

	write_capture(path, 3, 100000);
	ASSERT_MSG(open_replay(&dev, path, "speed = 0\nloop = true\n") == 0, "%s", dev.error);
	for (int i = 0; i < 10; i++) {
		ASSERT_EQ(ble_read(&dev, &r, 1000), 1);
		ASSERT_EQ(r.rssi, -40 - i % 3);
	}
	ble_close(&dev);
}

TEST(replay_skips_malformed_events)
{
	/* Good, lying (data_len 31 with 3 bytes present), non-advertising, good. */
	static const uint8_t good[] = {0x3e, 0x0f, 0x02, 0x01, 0x00, 0x00, 1,	 2,   3,
				       4,    5,	   6,	 0x03, 0x02, 0x01, 0x06, 0xc0};
	static const uint8_t lying[] = {0x3e, 0x0f, 0x02, 0x01, 0x00, 0x00, 1,	  2,   3,
					4,    5,    6,	  0x1f, 0x02, 0x01, 0x06, 0xc0};
	static const uint8_t disc[] = {0x05, 0x04, 0x00, 0x40, 0x00, 0x13};
	const char *path = tmp_path("bad.btsnoop");
	struct btsnoop_writer *w;
	struct btsnoop_error err;
	struct ble_adv_report r;
	struct ble_dev dev;

	ASSERT_EQ(btsnoop_writer_create(path, BTSNOOP_FORMAT_UART, &w, &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, T0, good, sizeof(good), &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, T0 + 1, lying, sizeof(lying), &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, T0 + 2, disc, sizeof(disc), &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, T0 + 3, good, sizeof(good), &err), 0);
	ASSERT_EQ(btsnoop_writer_close(w, &err), 0);

	ASSERT_MSG(open_replay(&dev, path, "speed = 0\n") == 0, "%s", dev.error);
	ASSERT_EQ(ble_read(&dev, &r, 100), 1);
	ASSERT_EQ(ble_read(&dev, &r, 100), 1);
	ASSERT_EQ(r.rssi, -64);
	ASSERT_EQ(ble_read(&dev, &r, 100), -ENODATA);
	ASSERT_EQ(dev.stats.events, 4);
	ASSERT_EQ(dev.stats.reports, 2);
	ASSERT_EQ(dev.stats.malformed, 1);
	ble_close(&dev);
}

TEST(replay_refuses_a_corrupt_file_at_open)
{
	const char *path = tmp_path("cut.btsnoop");
	static uint8_t buf[1000];
	struct ble_dev dev;
	FILE *f;

	/* The fixture cut in the middle of a record. */
	f = fopen(FIXTURE_WALKIN_PATH, "rb");
	ASSERT(f);
	ASSERT_EQ(fread(buf, 1, sizeof(buf), f), sizeof(buf));
	fclose(f);
	f = fopen(path, "wb");
	ASSERT(f);
	ASSERT_EQ(fwrite(buf, 1, sizeof(buf), f), sizeof(buf));
	ASSERT_EQ(fclose(f), 0);
	ASSERT_EQ(open_replay(&dev, path, ""), -EBADMSG);
	ASSERT_CONTAINS(dev.error, "ble(btsnoop): ");
	ASSERT_CONTAINS(dev.error, path);
	ASSERT_CONTAINS(dev.error, "byte ");
	ASSERT_CONTAINS(dev.error, "runs past the end of the file (1000 bytes)");
	ble_close(&dev);
	ble_close(&dev);
}

TEST(replay_config_errors_say_what_to_fix)
{
	const char *path = tmp_path("none.btsnoop");
	struct btsnoop_writer *w;
	struct btsnoop_error err;
	struct ble_dev dev;

	ASSERT_EQ(open_with(&dev, &ble_btsnoop_ops, "[ble]\ndriver = btsnoop\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "file");
	ble_close(&dev);

	ASSERT_EQ(open_replay(&dev, FIXTURE_WALKIN_PATH, "speed = -1\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "speed");
	ASSERT_CONTAINS(dev.error, "test.conf:4");
	ble_close(&dev);

	ASSERT_EQ(open_replay(&dev, FIXTURE_WALKIN_PATH, "loop = sometimes\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "loop");
	ble_close(&dev);

	ASSERT_EQ(open_replay(&dev, "/nonexistent/walk.btsnoop", ""), -ENOENT);
	ASSERT_CONTAINS(dev.error, "/nonexistent/walk.btsnoop: cannot open");
	ASSERT_CONTAINS(dev.error, "btmon -w");
	ble_close(&dev);

	ASSERT_EQ(open_replay(&dev, "tests/test_ble_drivers.c", ""), -EBADMSG);
	ASSERT_CONTAINS(dev.error, "not a btsnoop capture");
	ble_close(&dev);

	/* A capture with no advertising in it: the wrong file. */
	ASSERT_EQ(btsnoop_writer_create(path, 0, &w, &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, T0, "\x0e\x04\x01\x0c\x20\x00", 6, &err), 0);
	ASSERT_EQ(btsnoop_writer_close(w, &err), 0);
	ASSERT_EQ(open_replay(&dev, path, ""), -EINVAL);
	ASSERT_CONTAINS(dev.error, "no LE advertising reports in 1 records (1 events)");
	ble_close(&dev);
}

/* ---- the real driver, where there is no adapter ----------------------- */

TEST(hci_open_fails_cleanly_without_an_adapter)
{
	struct ble_adv_report r;
	struct ble_dev dev;
	int rc;

	rc = open_with(&dev, &ble_hci_ops, "[ble]\ndriver = hci\nadapter = hci99\n");
	ASSERT(rc < 0 && rc != -999);
	ASSERT_CONTAINS(dev.error, "ble: cannot open Bluetooth adapter hci99: ");
	ASSERT_CONTAINS(dev.error, "driver = btsnoop");
	/* Reading a device that failed to open is an error, not a crash. */
	ASSERT_EQ(ble_read(&dev, &r, 0), -EBADF);
	ble_close(&dev);
	ble_close(&dev);
}

TEST(hci_config_errors_say_what_to_fix)
{
	struct ble_dev dev;

	ASSERT_EQ(open_with(&dev, &ble_hci_ops, "[ble]\nadapter = wlan0\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "adapter = \"wlan0\" is neither hciN nor a Bluetooth address");
	ble_close(&dev);

	ASSERT_EQ(
	    open_with(&dev, &ble_hci_ops,
		      "[ble]\nadapter = hci99\nscan_interval_ms = 100\nscan_window_ms = 200\n"),
	    -EINVAL);
	ASSERT_CONTAINS(dev.error, "scan_window_ms = 200 is longer than scan_interval_ms = 100");
	ble_close(&dev);

	ASSERT_EQ(open_with(&dev, &ble_hci_ops, "[ble]\nscan_interval_ms = 2\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "scan_interval_ms");
	ble_close(&dev);

	ASSERT_EQ(open_with(&dev, &ble_hci_ops, "[ble]\nfilter_duplicates = maybe\n"), -EINVAL);
	ASSERT_CONTAINS(dev.error, "filter_duplicates");
	ble_close(&dev);

	/* A bdaddr is a valid adapter name; it just is not there. */
	ASSERT(open_with(&dev, &ble_hci_ops,
			 "[ble]\nadapter = 00:1A:7D:DA:71:13\nactive = true\n") < 0);
	ASSERT_CONTAINS(dev.error, "cannot open Bluetooth adapter 00:1A:7D:DA:71:13");
	ble_close(&dev);
}
