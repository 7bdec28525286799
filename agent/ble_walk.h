/*
 * ble_walk — synthetic BLE captures from a described walk, and the replay of
 * any capture through the beacon decoder and the proximity tracker.
 *
 * A walk file (text) describes advertisers and, for each, distance over
 * time; ble_walk_write() turns it into a btsnoop capture (monitor datalink,
 * what `btmon -w` writes) of LE Advertising Report events, with the
 * advertising interval and its 0-10 ms random delay, log-distance path loss,
 * RSSI noise and packet loss drawn from a seeded PRNG: the same file gives
 * the same bytes on every machine. Format: docs/proximity.md.
 *
 *   seed = 7
 *   start = 2024-05-14T09:30:00Z
 *   report = legacy                 # or extended
 *   [advertiser]
 *   kind = ibeacon                  # ibeacon | altbeacon | eddystone_uid | other
 *   uuid = E2C56DB5-DFFB-48D2-B060-D0F5A71096E0
 *   major = 1
 *   minor = 42
 *   measured_power = -59
 *   interval_ms = 100
 *   noise_db = 3
 *   loss = 0.1
 *   # time_s distance_m   ("off": silent from then until the next waypoint)
 *   0   12
 *   10  0.6
 *
 * ble_walk_replay() reads a capture with hal/btsnoop.h, parses its events
 * with hal/hci.h, decodes beacons and runs a proximity tracker on the
 * capture's own timestamps, handing each beacon sighting and each presence
 * event to a callback. `edgeboxctl ble decode` and the tests use it.
 */
#ifndef AGENT_BLE_WALK_H
#define AGENT_BLE_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/beacon.h"
#include "agent/proximity.h"
#include "hal/ble.h"

#define BLE_WALK_FILE_MAX (64 * 1024)
#define BLE_WALK_LINE_MAX 256
#define BLE_WALK_ADVERTISERS_MAX 16
#define BLE_WALK_WAYPOINTS_MAX 256
#define BLE_WALK_DURATION_MAX_S 3600
#define BLE_WALK_REPORTS_MAX 1000000 /* advertising reports one capture may hold */
/* Bytes of an "other" advertiser's name: legacy data is 31 bytes, minus the
 * flags (3) and the name's own header (2). */
#define BLE_WALK_NAME_MAX 26
#define BLE_WALK_NAME_EXT_MAX 200 /* ... in an extended-report capture */
#define BLE_WALK_ERROR_MAX 512

struct ble_walk_error {
	char msg[BLE_WALK_ERROR_MAX];
};

enum ble_walk_kind {
	BLE_WALK_IBEACON,
	BLE_WALK_ALTBEACON,
	BLE_WALK_EDDYSTONE_UID,
	BLE_WALK_OTHER, /* not a beacon: flags and a name */
};

/* One advertiser of a parsed walk, for callers that want to check it. */
struct ble_walk_info {
	enum ble_walk_kind kind;
	struct beacon_id id; /* beacons only: what a decoder must find */
	uint8_t addr[6];     /* wire order */
	uint8_t addr_type;   /* 0 public, 1 random */
	uint32_t interval_ms;
	int line; /* of its [advertiser] header */
};

struct ble_walk_stats {
	uint64_t records; /* btsnoop records written */
	uint64_t reports; /* advertising reports written (one per event) */
	uint64_t lost;	  /* advertisements dropped by packet loss */
	uint64_t unheard; /* below the receiver's sensitivity */
	int64_t duration_us;
};

struct ble_walk;

/*
 * Parses a walk from text (len bytes, at most BLE_WALK_FILE_MAX); name is
 * used in messages. On success *ret is the caller's (ble_walk_free).
 * Errors: -EINVAL with err->msg "name:line: what was wrong; what was
 * expected" (syntax, unknown or repeated key, value out of range, waypoints
 * out of order, a required key missing), -EFBIG (too long), -ENOMEM.
 */
int ble_walk_parse(const char *name, const char *text, size_t len, struct ble_walk **ret,
		   struct ble_walk_error *err);
/* Same from a file: also -errno when it cannot be read. */
int ble_walk_load(const char *path, struct ble_walk **ret, struct ble_walk_error *err);
void ble_walk_free(struct ble_walk *w);

size_t ble_walk_count(const struct ble_walk *w);
/* 0 with *ret filled, -ENOENT when i >= ble_walk_count(w). */
int ble_walk_info(const struct ble_walk *w, size_t i, struct ble_walk_info *ret);

/*
 * Writes the capture to path (created or truncated): a New Index record,
 * the scan set-up commands and their Command Complete events, the reports
 * in time order, scan disable at the end. ret_stats may be NULL.
 * 0, or -errno with err->msg naming the file (-E2BIG: more than
 * BLE_WALK_REPORTS_MAX reports). A failed write leaves a partial file.
 */
int ble_walk_write(const struct ble_walk *w, const char *path, struct ble_walk_stats *ret_stats,
		   struct ble_walk_error *err);

/* ---- replay ----------------------------------------------------------- */

enum ble_replay_kind {
	BLE_REPLAY_SIGHTING, /* an advertising report that carried a beacon */
	BLE_REPLAY_EVENT,    /* a presence event from the tracker */
};

struct ble_replay_item {
	enum ble_replay_kind kind;
	int64_t ts_us;	 /* capture time, microseconds since 1970 */
	uint64_t offset; /* byte offset of the btsnoop record it came from */
	/* SIGHTING */
	const struct ble_adv_report *report;
	const struct beacon_id *beacon;
	bool tracked;				   /* the tracker follows this beacon */
	const struct proximity_device_info *track; /* tracked: state after this sample */
	/* EVENT */
	const struct proximity_event *event;
};

/* 0 to go on; non-zero stops the replay (a negative value is returned). */
typedef int (*ble_replay_fn)(const struct ble_replay_item *item, void *ctx);

struct ble_replay_stats {
	uint64_t records;	   /* btsnoop records read */
	uint64_t hci_events;	   /* of those, HCI events */
	uint64_t adv_events;	   /* LE (Extended) Advertising Report events */
	uint64_t reports;	   /* advertising reports in them */
	uint64_t malformed_events; /* events hci_parse_event rejected (skipped) */
	struct beacon_stats beacons;
	struct proximity_stats proximity;
};

/*
 * Replays the capture at path through a tracker with params p (NULL: the
 * defaults), calling fn (may be NULL) for every beacon sighting and every
 * presence event, in capture order. The tracker's clock is the capture's:
 * proximity_tick runs at each record's timestamp before its reports.
 * ret_stats (may be NULL) is filled even on error. Returns 0, fn's negative
 * value, -EINVAL for bad params (err->msg says which), or the btsnoop
 * reader's error (-errno, -EBADMSG, -EPROTONOSUPPORT) with err->msg naming
 * the file and the byte offset; the items before a corrupt record have been
 * handed to fn.
 */
int ble_walk_replay(const char *path, const struct proximity_params *p, ble_replay_fn fn, void *ctx,
		    struct ble_replay_stats *ret_stats, struct ble_walk_error *err);

#endif
