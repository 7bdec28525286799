#include "tests/support/btsnoop_fixtures.h"

#include <errno.h>
#include <string.h>

/* 2024-05-14 09:30:00 UTC: fixed, so the file never changes. */
#define WALKIN_T0_US 1715679000000000ll
#define MS 1000ll

const uint8_t fixture_walkin_uuid[16] = {
    0x6f, 0x2c, 0x1a, 0x5e, 0x8b, 0x3d, 0x4c, 0x7a, 0x9e, 0x10, 0x3b, 0x5d, 0x7c, 0x2a, 0x9f, 0x41,
};
/* 5C:3A:91:0E:7B:22, a resolvable private address as phones use. */
const uint8_t fixture_walkin_beacon_addr[6] = {0x22, 0x7b, 0x0e, 0x91, 0x3a, 0x5c};
/* 64:1C:AE:11:22:33, a public address (a TV in the shop window). */
const uint8_t fixture_walkin_other_addr[6] = {0x33, 0x22, 0x11, 0xae, 0x1c, 0x64};

size_t fixture_legacy_event(uint8_t *out, size_t cap, const struct fixture_adv *advs, size_t n)
{
	size_t len = 4, i;

	for (i = 0; i < n; i++)
		len += 10 + advs[i].data_len;
	if (len > cap || len - 2 > 255 || n > 255)
		return 0;
	out[0] = 0x3e;
	out[1] = (uint8_t)(len - 2);
	out[2] = 0x02;
	out[3] = (uint8_t)n;
	len = 4;
	for (i = 0; i < n; i++) {
		const struct fixture_adv *a = &advs[i];

		out[len++] = a->event_type;
		out[len++] = a->addr_type;
		memcpy(out + len, a->addr, 6);
		len += 6;
		out[len++] = a->data_len;
		memcpy(out + len, a->data, a->data_len);
		len += a->data_len;
		out[len++] = (uint8_t)a->rssi;
	}
	return len;
}

/* xorshift32: the same numbers on every libc. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* -2..+2 dBm */
static int noise(uint32_t *s)
{
	return (int)(next_rand(s) % 5) - 2;
}

static int write_walkin(struct btsnoop_writer *w, struct btsnoop_error *err)
{
	static const uint8_t adapter[6] = {0x13, 0x71, 0xda, 0x7d, 0x1a, 0x00};
	/* LE Set Scan Parameters: passive, 100 ms interval and window, public, accept all. */
	static const uint8_t set_params[] = {0x0b, 0x20, 0x07, 0x00, 0xa0,
					     0x00, 0xa0, 0x00, 0x00, 0x00};
	static const uint8_t params_done[] = {0x0e, 0x04, 0x01, 0x0b, 0x20, 0x00};
	static const uint8_t enable[] = {0x0c, 0x20, 0x02, 0x01, 0x00};
	static const uint8_t disable[] = {0x0c, 0x20, 0x02, 0x00, 0x00};
	static const uint8_t enable_done[] = {0x0e, 0x04, 0x01, 0x0c, 0x20, 0x00};
	/* Flags (LE General Discoverable, no BR/EDR), complete local name "LE-TV". */
	static const uint8_t other_data[] = {0x02, 0x01, 0x06, 0x06, 0x09, 'L', 'E', '-', 'T', 'V'};
	uint8_t beacon_data[30], evt[2 + 255];
	uint32_t seed = 0x2545f491;
	const int64_t t0 = WALKIN_T0_US;
	int64_t other_t, end_t;
	int i, j = 0, rc;

	/* Flags, then Apple (0x004C) manufacturer data: iBeacon type 0x02 0x15,
	 * UUID, major, minor (big-endian), measured power at 1 m. */
	memcpy(beacon_data, (const uint8_t[]){0x02, 0x01, 0x06, 0x1a, 0xff, 0x4c, 0x00, 0x02, 0x15},
	       9);
	memcpy(beacon_data + 9, fixture_walkin_uuid, 16);
	beacon_data[25] = FIXTURE_WALKIN_MAJOR >> 8;
	beacon_data[26] = FIXTURE_WALKIN_MAJOR & 0xff;
	beacon_data[27] = FIXTURE_WALKIN_MINOR >> 8;
	beacon_data[28] = FIXTURE_WALKIN_MINOR & 0xff;
	beacon_data[29] = (uint8_t)FIXTURE_WALKIN_MEASURED_POWER;

	if ((rc = btsnoop_writer_new_index(w, t0, 0, 1, adapter, "hci0", err)) < 0 ||
	    (rc = btsnoop_writer_packet(w, t0 + 1 * MS, BTSNOOP_PACKET_COMMAND, 0, set_params,
					sizeof(set_params), err)) < 0 ||
	    (rc = btsnoop_writer_event(w, t0 + 2 * MS, params_done, sizeof(params_done), err)) <
		0 ||
	    (rc = btsnoop_writer_packet(w, t0 + 3 * MS, BTSNOOP_PACKET_COMMAND, 0, enable,
					sizeof(enable), err)) < 0 ||
	    (rc = btsnoop_writer_event(w, t0 + 4 * MS, enable_done, sizeof(enable_done), err)) < 0)
		return rc;

	other_t = t0 + 87 * MS + (int64_t)(next_rand(&seed) % 9) * MS;
	for (i = 0; i < FIXTURE_WALKIN_BEACONS; i++) {
		int64_t beacon_t = t0 + (50 + 100 * i) * MS + (int64_t)(next_rand(&seed) % 9) * MS;
		int trend = FIXTURE_WALKIN_RSSI_FIRST +
			    (FIXTURE_WALKIN_RSSI_LAST - FIXTURE_WALKIN_RSSI_FIRST) * i /
				(FIXTURE_WALKIN_BEACONS - 1);
		struct fixture_adv advs[2] = {
		    {.event_type = 0x03, /* ADV_NONCONN_IND */
		     .addr_type = 0x01,
		     .rssi = (int8_t)(trend + noise(&seed)),
		     .data_len = sizeof(beacon_data),
		     .data = beacon_data},
		};
		size_t n = 1, len;

		memcpy(advs[0].addr, fixture_walkin_beacon_addr, 6);
		/* The other advertiser's sightings due before this beacon; every
		 * fifth rides in the beacon's event, as controllers sometimes batch. */
		while (j < FIXTURE_WALKIN_OTHERS && other_t < beacon_t) {
			struct fixture_adv *o = &advs[1];

			o->event_type = 0x00; /* ADV_IND */
			o->addr_type = 0x00;
			memcpy(o->addr, fixture_walkin_other_addr, 6);
			o->rssi = (int8_t)(-78 + noise(&seed));
			o->data_len = sizeof(other_data);
			o->data = other_data;
			if (j % 5 == 4) {
				n = 2;
			} else {
				len = fixture_legacy_event(evt, sizeof(evt), o, 1);
				rc = btsnoop_writer_event(w, other_t, evt, len, err);
				if (rc < 0)
					return rc;
			}
			j++;
			other_t = t0 + (87 + 300 * j) * MS + (int64_t)(next_rand(&seed) % 9) * MS;
		}
		len = fixture_legacy_event(evt, sizeof(evt), advs, n);
		rc = btsnoop_writer_event(w, beacon_t, evt, len, err);
		if (rc < 0)
			return rc;
	}
	end_t = t0 + (50 + 100 * FIXTURE_WALKIN_BEACONS) * MS;
	if ((rc = btsnoop_writer_packet(w, end_t, BTSNOOP_PACKET_COMMAND, 0, disable,
					sizeof(disable), err)) < 0 ||
	    (rc = btsnoop_writer_event(w, end_t + 1 * MS, enable_done, sizeof(enable_done), err)) <
		0)
		return rc;
	return 0;
}

int fixture_write_walkin(const char *path, struct btsnoop_error *err)
{
	struct btsnoop_writer *w;
	int rc, rc2;

	rc = btsnoop_writer_create(path, BTSNOOP_FORMAT_MONITOR, &w, err);
	if (rc < 0)
		return rc;
	rc = write_walkin(w, err);
	rc2 = btsnoop_writer_close(w, rc < 0 ? NULL : err);
	return rc < 0 ? rc : rc2;
}
