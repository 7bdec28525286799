#include "tests/test.h"
#include "firmware/presence.h"

#include <stdlib.h>

#define MS 1000000ull

static struct presence pr;

static struct ble_adv_report report(uint8_t id, int rssi, uint64_t ms)
{
	struct ble_adv_report r;

	memset(&r, 0, sizeof(r));
	r.addr[0] = id;
	r.addr[5] = 0xC0;
	r.rssi = (int8_t)rssi;
	r.ts_ns = ms * MS;
	return r;
}

static void init(void)
{
	struct presence_params p = {.min_rssi = -75, .lost_after_ms = 3000, .smoothing = 0.3};

	presence_init(&pr, &p);
}

TEST(device_is_seen_once_it_gets_close)
{
	struct ble_adv_report r;
	struct event ev;
	int seen = 0;

	init();
	/* walking in from -95 to -55 dBm over 4 s, one packet every 100 ms */
	for (int i = 0; i <= 40; i++) {
		r = report(1, -95 + i, 1000 + (uint64_t)i * 100);
		if (presence_sighting(&pr, &r, &ev) == 1) {
			seen++;
			ASSERT_EQ(ev.kind, EVENT_BLE_SEEN);
			ASSERT_EQ(ev.u.ble.addr[0], 1);
			ASSERT(ev.u.ble.rssi >= -76 && ev.u.ble.rssi <= -70);
		}
	}
	ASSERT_EQ(seen, 1);
	ASSERT_EQ(presence_count(&pr), 1);
}

TEST(far_device_is_never_seen_and_unknown_rssi_ignored)
{
	struct ble_adv_report r;
	struct event ev;

	init();
	for (int i = 0; i < 50; i++) {
		r = report(2, -90 + (i % 3), (uint64_t)i * 100);
		ASSERT_EQ(presence_sighting(&pr, &r, &ev), 0);
	}
	r = report(3, BLE_RSSI_NONE, 100);
	ASSERT_EQ(presence_sighting(&pr, &r, &ev), 0);
	ASSERT_EQ(presence_count(&pr), 0);
	/* the far device is forgotten silently */
	ASSERT_EQ(presence_expire(&pr, 100000 * MS, &ev), 0);
}

TEST(one_noisy_spike_does_not_make_a_device_seen)
{
	struct ble_adv_report r;
	struct event ev;

	init();
	r = report(4, -90, 0);
	presence_sighting(&pr, &r, &ev);
	r = report(4, -50, 100); /* one reflection */
	ASSERT_EQ(presence_sighting(&pr, &r, &ev), 0);
}

TEST(device_is_lost_after_silence)
{
	struct ble_adv_report r = report(5, -60, 1000);
	struct event ev;

	init();
	ASSERT_EQ(presence_sighting(&pr, &r, &ev), 1);
	ASSERT_EQ(presence_expire(&pr, 3500 * MS, &ev), 0);
	ASSERT_EQ(presence_expire(&pr, 4001 * MS, &ev), 1);
	ASSERT_EQ(ev.kind, EVENT_BLE_LOST);
	ASSERT_EQ(ev.u.ble.addr[0], 5);
	ASSERT_EQ(presence_expire(&pr, 5000 * MS, &ev), 0);
	ASSERT_EQ(presence_count(&pr), 0);
	/* coming back is a new sighting */
	r = report(5, -60, 6000);
	ASSERT_EQ(presence_sighting(&pr, &r, &ev), 1);
}

TEST(table_is_bounded_and_evicts_least_recent)
{
	struct ble_adv_report r;
	struct event ev;

	init();
	for (int i = 0; i < PRESENCE_MAX_DEVICES + 10; i++) {
		r = report(0, -90, (uint64_t)i + 1);
		r.addr[1] = (uint8_t)i;
		r.addr[2] = (uint8_t)(i >> 8);
		presence_sighting(&pr, &r, &ev);
	}
	ASSERT_EQ(pr.evictions, 10);
}

TEST(event_json)
{
	struct ble_adv_report r = report(0xAB, -60, 1);
	struct event ev;
	char buf[128], tiny[8];

	init();
	ASSERT_EQ(presence_sighting(&pr, &r, &ev), 1);
	ASSERT(event_to_json(&ev, buf, sizeof(buf)) > 0);
	ASSERT_STREQ(buf, "{\"event\":\"ble_seen\",\"addr\":\"C0:00:00:00:00:AB\",\"rssi\":-60}");
	ASSERT_EQ(event_to_json(&ev, tiny, sizeof(tiny)), -ENOSPC);
}
