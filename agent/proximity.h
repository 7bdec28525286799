/*
 * proximity — who is at the kiosk, from beacon sightings.
 *
 * A fixed table of devices (PROXIMITY_MAX_DEVICES, keyed by beacon identity,
 * not by the rotating MAC address), each with a smoothed RSSI (a sliding
 * median of the last rssi_window samples, then a 1-D Kalman filter), a
 * distance from the beacon's measured power (log-distance path loss), and a
 * zone (far / near / kiosk) with hysteresis. Events:
 *   APPROACH  the device has been in the kiosk zone for dwell_enter_ms;
 *   DWELL     it has stayed there for dwell_ms (once per visit);
 *   LEAVE     after an APPROACH: out of near/kiosk (far) for leave_ms, or
 *             not heard for lost_ms, or evicted from a full table.
 * A passer-by who is only briefly near produces nothing. Design and
 * numbers: docs/proximity.md.
 *
 * Not thread-safe: one tracker per thread (the presence stage owns one).
 */
#ifndef AGENT_PROXIMITY_H
#define AGENT_PROXIMITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/beacon.h"

struct config;
struct config_error;

#define PROXIMITY_MAX_DEVICES 64
#define PROXIMITY_FILTER_MAX 8		/* configured UUIDs, and namespaces */
#define PROXIMITY_WINDOW_MAX 15		/* median window, samples */
#define PROXIMITY_WINDOW_AGE_MS 2000	/* samples older than this leave the median */
#define PROXIMITY_SIGHTING_EVENTS_MAX 3 /* events one proximity_sighting can emit */
/* Used when a beacon advertises a measured power outside -110..0 dBm. */
#define PROXIMITY_DEFAULT_MEASURED_POWER (-59)
#define PROXIMITY_DISTANCE_MIN_M 0.01
#define PROXIMITY_DISTANCE_MAX_M 100.0

enum proximity_zone {
	PROXIMITY_ZONE_FAR,
	PROXIMITY_ZONE_NEAR,
	PROXIMITY_ZONE_KIOSK,
};

enum proximity_event_kind {
	PROXIMITY_APPROACH,
	PROXIMITY_DWELL,
	PROXIMITY_LEAVE,
};

enum proximity_leave_reason {
	PROXIMITY_LEAVE_NONE,	     /* not a LEAVE */
	PROXIMITY_LEAVE_WALKED_AWAY, /* in the far zone for leave_ms */
	PROXIMITY_LEAVE_LOST,	     /* not heard for lost_ms */
	PROXIMITY_LEAVE_EVICTED,     /* the table was full of present devices */
};

struct proximity_params {
	/* Tracked beacons: iBeacon/AltBeacon whose uuid is in uuids, Eddystone
	 * whose namespace is in namespaces. Both lists empty: track every beacon. */
	uint8_t uuids[PROXIMITY_FILTER_MAX][16];
	size_t n_uuids;
	uint8_t namespaces[PROXIMITY_FILTER_MAX][BEACON_NAMESPACE_LEN];
	size_t n_namespaces;
	double path_loss_exponent;     /* n in d = 10^((P1m - rssi) / (10 n)), 2.0..4.0 */
	double kiosk_m;		       /* enter the kiosk zone at or below this distance */
	double near_m;		       /* enter the near zone at or below this */
	double hysteresis_m;	       /* leave a zone only beyond its distance + this */
	uint32_t dwell_enter_ms;       /* in the kiosk zone this long: APPROACH */
	uint32_t dwell_ms;	       /* in the kiosk zone this long: DWELL (>= dwell_enter_ms) */
	uint32_t leave_ms;	       /* in the far zone this long after APPROACH: LEAVE */
	uint32_t lost_ms;	       /* not heard this long: LEAVE, and the device is forgotten */
	unsigned rssi_window;	       /* median window, 1..PROXIMITY_WINDOW_MAX samples */
	double rssi_process_noise;     /* Kalman q, dB^2 per second the true RSSI may wander */
	double rssi_measurement_noise; /* Kalman r, dB^2 of one median sample */
};

struct proximity_sighting {
	struct beacon_id id;
	uint8_t addr[6]; /* wire order, for reports; identity is id */
	int8_t rssi;	 /* dBm; BLE_RSSI_NONE is ignored */
	uint64_t ts_ns;	 /* monotonic; one that goes back counts as no time passing */
};

struct proximity_event {
	enum proximity_event_kind kind;
	enum proximity_leave_reason reason; /* LEAVE only */
	struct beacon_id id;
	uint8_t addr[6];	  /* the last address heard */
	enum proximity_zone zone; /* at the time of the event */
	double distance_m;	  /* smoothed estimate */
	double rssi;		  /* smoothed dBm */
	uint64_t ts_ns;		  /* when the condition was met (sighting or tick time) */
	uint64_t since_ns;	  /* APPROACH: kiosk zone entered; DWELL, LEAVE: the APPROACH */
};

/* What the tracker holds about one device (proximity_lookup). */
struct proximity_device_info {
	enum proximity_zone zone;
	double distance_m;
	double rssi;   /* smoothed */
	double median; /* the last median, before the Kalman step */
	bool present;  /* APPROACH emitted, LEAVE pending */
	uint64_t samples;
	uint64_t last_ns;
};

struct proximity_stats {
	uint64_t sightings; /* handed in */
	uint64_t ignored;   /* not a tracked beacon, or no RSSI */
	uint64_t evictions; /* devices forgotten because the table was full */
	uint64_t approaches, dwells, leaves;
	unsigned devices; /* in the table now */
	unsigned present; /* of those, approached and not left */
};

struct proximity;

/* The defaults (docs/proximity.md): track every beacon, n = 2.0, kiosk 1.0 m,
 * near 3.0 m, hysteresis 0.3 m, dwell_enter 500 ms, dwell 5 s, leave 3 s,
 * lost 5 s, window 5, q 20 dB^2/s, r 9 dB^2. */
void proximity_params_default(struct proximity_params *ret);

/* 0, or -EINVAL with err->msg (may be NULL) naming the first field out of range. */
int proximity_params_check(const struct proximity_params *p, struct config_error *err);

/*
 * Reads [section] of cfg over the defaults:
 *   uuid                 iBeacon/AltBeacon UUIDs, comma-separated (up to 8)
 *   eddystone_namespace  Eddystone namespaces, 20 hex digits, comma-separated (up to 8)
 *   path_loss_exponent   2.0..4.0
 *   kiosk_m, near_m, hysteresis_m
 *   dwell_enter_ms, dwell_ms, leave_ms, lost_ms
 *   rssi_window, rssi_process_noise, rssi_measurement_noise
 * A missing section or key keeps the default. -EINVAL with err->msg naming
 * the file, line, key, what was expected and what was found.
 */
int proximity_params_from_config(const struct config *cfg, const char *section,
				 struct proximity_params *ret, struct config_error *err);

/* Would a tracker with these params follow this beacon? */
bool proximity_wants(const struct proximity_params *p, const struct beacon_id *id);

/*
 * A new tracker (free with proximity_free). -EINVAL for params that
 * proximity_params_check rejects, -ENOMEM. *ret is NULL on error.
 */
int proximity_new(const struct proximity_params *p, struct proximity **ret);
void proximity_free(struct proximity *px);

/*
 * Folds in one sighting. Up to max events are written to ret: the LEAVE of
 * a device that was lost before it was heard again or was evicted to make
 * room, then APPROACH and DWELL. Returns their number (0 when the beacon is
 * not tracked or the RSSI is unknown), -EINVAL when max <
 * PROXIMITY_SIGHTING_EVENTS_MAX (nothing is changed then).
 */
int proximity_sighting(struct proximity *px, const struct proximity_sighting *s,
		       struct proximity_event *ret, size_t max);

/*
 * Time-based events at now_ns: LEAVE for devices in the far zone for
 * leave_ms or not heard for lost_ms (lost devices are forgotten). Writes up
 * to max events and returns their number; call again while it returns max.
 * APPROACH and DWELL come only from sightings: they need fresh evidence.
 */
int proximity_tick(struct proximity *px, uint64_t now_ns, struct proximity_event *ret, size_t max);

/* 1 with *ret filled when the tracker holds the device, 0 when not. */
int proximity_lookup(const struct proximity *px, const struct beacon_id *id,
		     struct proximity_device_info *ret);

void proximity_get_stats(const struct proximity *px, struct proximity_stats *ret);

/* The distance for a smoothed rssi from a beacon with this measured power. */
double proximity_distance(double measured_power, double rssi, double path_loss_exponent);

const char *proximity_zone_name(enum proximity_zone zone);
const char *proximity_event_name(enum proximity_event_kind kind);
const char *proximity_leave_reason_name(enum proximity_leave_reason reason);

/*
 * The event as one JSON object (no newline), ts given by the caller in
 * microseconds since 1970 (so a replay can print capture time):
 *   {"type":"event","event":"approach","ts":1715679012.345678,"addr":"..",
 *    <beacon_id_to_json>,"zone":"kiosk","distance_m":0.71,"rssi":-56.2}
 * plus "reason" on LEAVE. Its length or -ENOSPC.
 */
int proximity_event_to_json(const struct proximity_event *ev, int64_t ts_us, char *buf, size_t len);

#endif
