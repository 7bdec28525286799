/*
 * btsnoop_fixtures — writes the BLE capture fixtures under tests/fixtures/ble
 * from code, so they can be regenerated and a test can check the committed
 * files byte for byte. See tests/fixtures/ble/README.md.
 */
#ifndef TESTS_SUPPORT_BTSNOOP_FIXTURES_H
#define TESTS_SUPPORT_BTSNOOP_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "hal/btsnoop.h"

#define FIXTURE_WALKIN_PATH "tests/fixtures/ble/walkin.btsnoop"

/* What walkin.btsnoop holds, for tests that replay it. */
#define FIXTURE_WALKIN_BEACONS 60	/* iBeacon reports, one every ~100 ms */
#define FIXTURE_WALKIN_OTHERS 20	/* reports of the unrelated advertiser */
#define FIXTURE_WALKIN_ADV_EVENTS 76	/* LE Advertising Report events (4 carry 2 reports) */
#define FIXTURE_WALKIN_RSSI_FIRST (-90) /* beacon RSSI trend, before +-2 dBm noise */
#define FIXTURE_WALKIN_RSSI_LAST (-55)
#define FIXTURE_WALKIN_MAJOR 0x0001
#define FIXTURE_WALKIN_MINOR 0x002A
#define FIXTURE_WALKIN_MEASURED_POWER (-59)

extern const uint8_t fixture_walkin_uuid[16];
extern const uint8_t fixture_walkin_beacon_addr[6]; /* wire order, random address */
extern const uint8_t fixture_walkin_other_addr[6];  /* wire order, public address */

/* One legacy report for fixture_legacy_event(). */
struct fixture_adv {
	uint8_t event_type;
	uint8_t addr_type;
	uint8_t addr[6];
	int8_t rssi;
	uint8_t data_len;
	const uint8_t *data;
};

/*
 * Encodes an LE Advertising Report event (no 0x04 indicator) carrying n
 * reports into out (cap bytes). Returns its length, or 0 if it does not fit
 * in cap or in an event's 255 parameter bytes.
 */
size_t fixture_legacy_event(uint8_t *out, size_t cap, const struct fixture_adv *advs, size_t n);

/*
 * Writes walkin.btsnoop (monitor format) to path: a New Index record, the
 * scan set-up commands and their Command Complete events, 6 s of a phone's
 * iBeacon walking in plus an unrelated advertiser, then scan disable.
 * 0 or -errno with err->msg.
 */
int fixture_write_walkin(const char *path, struct btsnoop_error *err);

#endif
