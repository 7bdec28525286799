/*
 * presence — which BLE advertisers are around, from raw sightings.
 *
 * A bounded table of devices (PRESENCE_MAX_DEVICES, least recently heard
 * evicted) with an exponentially smoothed RSSI. A device is "seen" once its
 * smoothed RSSI reaches min_rssi, and "lost" when it has not been heard for
 * lost_after_ms. This is the box's coarse occupancy signal; beacon decoding,
 * distance and zones build on top of it.
 */
#ifndef FIRMWARE_PRESENCE_H
#define FIRMWARE_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "firmware/event.h"
#include "hal/ble.h"

#define PRESENCE_MAX_DEVICES 256

struct presence_params {
	int min_rssi;            /* dBm a device must reach to count as seen */
	uint32_t lost_after_ms;
	double smoothing;        /* EWMA weight of a new sample, 0 < a <= 1 */
};

struct presence_device {
	uint8_t addr[6];
	bool used;
	bool seen;               /* a SEEN event was emitted, LOST pending */
	double rssi;
	uint64_t samples;
	uint64_t last_ns;
};

struct presence {
	struct presence_params p;
	struct presence_device dev[PRESENCE_MAX_DEVICES];
	uint64_t evictions;
};

void presence_init(struct presence *pr, const struct presence_params *p);

/* Folds in one sighting; 1 with *ret filled when it makes a device seen. */
int presence_sighting(struct presence *pr, const struct ble_adv_report *r, struct event *ret);

/* 1 with *ret filled for the next device lost by now_ns, 0 when none. */
int presence_expire(struct presence *pr, uint64_t now_ns, struct event *ret);

/* Devices currently seen. */
unsigned presence_count(const struct presence *pr);

#endif
