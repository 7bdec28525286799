/*
 * beacon — proximity beacons out of BLE advertising data.
 *
 * Decodes the three formats phones and tags use, from the AD structure list
 * (length, type, data; Core Spec Supplement Part A) of a legacy or extended
 * advertising report:
 *   iBeacon        manufacturer data (0xFF), Apple 0x004C, 0x02 0x15, UUID,
 *                  major, minor (big-endian), measured power at 1 m.
 *   AltBeacon      manufacturer data, any company, beacon code 0xBE 0xAC,
 *                  20-byte id, reference RSSI at 1 m, manufacturer byte.
 *   Eddystone-UID  service data (0x16) for UUID 0xFEAA, frame 0x00, TX power
 *                  at 0 m, 10-byte namespace, 6-byte instance (+ 2 RFU bytes,
 *                  optional here).
 * Every length byte is checked against the bytes present; a structure that
 * lies about its length is skipped and counted, never over-read. Notes:
 * docs/proximity.md.
 */
#ifndef AGENT_BEACON_H
#define AGENT_BEACON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/store.h"
#include "hal/ble.h"

#define BEACON_COMPANY_APPLE 0x004C
#define BEACON_COMPANY_RADIUS 0x0118 /* AltBeacon's usual company id */
#define BEACON_EDDYSTONE_UUID 0xFEAA
/* Eddystone advertises TX power at 0 m; 41 dB is its stated loss over 1 m. */
#define BEACON_EDDYSTONE_LOSS_1M 41

#define BEACON_UUID_STR_LEN 37 /* "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0" + NUL */
#define BEACON_NAMESPACE_LEN 10
#define BEACON_INSTANCE_LEN 6
#define BEACON_ALTBEACON_ID_LEN 20
/* Longest text beacon_id_to_json writes (an AltBeacon), NUL included. */
#define BEACON_JSON_MAX 256

enum beacon_kind {
	BEACON_IBEACON,
	BEACON_ALTBEACON,
	BEACON_EDDYSTONE_UID,
};

/*
 * One beacon identity. Laid out so the store mapping is a copy
 * (beacon_to_store):
 *   iBeacon:   uuid, major, minor.
 *   AltBeacon: its 20-byte id split as uuid = id[0..15], major = id[16..17],
 *              minor = id[18..19] (big-endian), the way the AltBeacon
 *              reference apps present it; so it maps like an iBeacon.
 *   Eddystone: uuid[0..9] = namespace, uuid[10..15] = 0, instance[6].
 */
struct beacon_id {
	enum beacon_kind kind;
	uint8_t uuid[16];
	uint16_t major, minor;
	uint8_t instance[BEACON_INSTANCE_LEN];
	int8_t measured_power; /* dBm at 1 m (Eddystone: its 0 m value - 41) */
	uint16_t company_id; /* manufacturer data's company: 0x004C for iBeacon, 0 for Eddystone */
	uint8_t reserved;    /* AltBeacon's manufacturer byte, else 0 */
};

/* Counters; beacon_decode adds to them. */
struct beacon_stats {
	uint64_t reports; /* AD lists looked at */
	uint64_t beacons; /* of those, lists that carried a beacon */
	uint64_t ibeacon, altbeacon, eddystone_uid;
	/*
	 * AD structures skipped: a length that runs past the data, a beacon
	 * layout (Apple 0x02, 0xBEAC, Eddystone frame 0x00) with the wrong
	 * length, non-zero bytes after a zero length (the padding the spec
	 * allows must be zeros).
	 */
	uint64_t malformed;
};

/*
 * Walks the AD structures of ad[0..len-1] and decodes the first beacon into
 * *ret. Returns 1 when one was found, 0 when none (unknown company, other
 * service data, no beacon at all), -EINVAL when ret is NULL or ad is NULL
 * with len > 0. Malformed structures are skipped and counted in stats
 * (which may be NULL); decoding goes on with the next structure when its
 * start is known. Reads nothing outside ad[0..len-1].
 */
int beacon_decode(const uint8_t *ad, size_t len, struct beacon_id *ret, struct beacon_stats *stats);

/* beacon_decode on a report's data. */
int beacon_decode_report(const struct ble_adv_report *r, struct beacon_id *ret,
			 struct beacon_stats *stats);

/* "ibeacon", "altbeacon", "eddystone_uid"; "unknown" out of range. */
const char *beacon_kind_name(enum beacon_kind kind);

/* The store's identity for b (AltBeacon maps as an iBeacon; see above). */
void beacon_to_store(const struct beacon_id *b, struct store_beacon_id *ret);

/*
 * Same identity in the store's sense: an iBeacon and an AltBeacon with the
 * same uuid/major/minor are the same app install. Power and company do
 * not count.
 */
bool beacon_same(const struct beacon_id *a, const struct beacon_id *b);

/*
 * Parses a UUID: 32 hex digits, either plain or in the 8-4-4-4-12 dashed
 * form, any case. 0 or -EINVAL.
 */
int beacon_parse_uuid(const char *s, uint8_t ret[16]);

/* Exactly 2 * n hex digits (optional "0x"), any case, into ret[n]. 0 or -EINVAL. */
int beacon_parse_hex(const char *s, uint8_t *ret, size_t n);

/* Upper-case 8-4-4-4-12 form into buf (BEACON_UUID_STR_LEN bytes). Returns buf. */
char *beacon_uuid_str(const uint8_t uuid[16], char buf[BEACON_UUID_STR_LEN]);

/* Upper-case hex of n bytes into buf (2 * n + 1 bytes). Returns buf. */
char *beacon_hex_str(const uint8_t *p, size_t n, char *buf);

/*
 * The identity as JSON members without braces, e.g.
 *   "kind":"ibeacon","uuid":"E2C5...","major":1,"minor":42
 *   "kind":"eddystone_uid","namespace":"...","instance":"..."
 *   "kind":"altbeacon","uuid":"...","major":1,"minor":2,"company_id":280
 * Returns the length, or -ENOSPC when len is too small (BEACON_JSON_MAX is
 * always enough).
 */
int beacon_id_to_json(const struct beacon_id *b, char *buf, size_t len);

#endif
