#include "firmware/presence.h"

#include <string.h>

void presence_init(struct presence *pr, const struct presence_params *p)
{
	memset(pr, 0, sizeof(*pr));
	pr->p = *p;
	if (pr->p.smoothing <= 0 || pr->p.smoothing > 1)
		pr->p.smoothing = 0.3;
}

static struct presence_device *lookup(struct presence *pr, const uint8_t addr[6])
{
	struct presence_device *free_slot = NULL, *oldest = NULL;
	size_t i;

	for (i = 0; i < PRESENCE_MAX_DEVICES; i++) {
		struct presence_device *d = &pr->dev[i];

		if (!d->used) {
			if (!free_slot)
				free_slot = d;
			continue;
		}
		if (memcmp(d->addr, addr, 6) == 0)
			return d;
		if (!oldest || d->last_ns < oldest->last_ns)
			oldest = d;
	}
	if (!free_slot) {
		/* Full: forget the device heard least recently. */
		free_slot = oldest;
		pr->evictions++;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	memcpy(free_slot->addr, addr, 6);
	free_slot->used = true;
	return free_slot;
}

int presence_sighting(struct presence *pr, const struct ble_adv_report *r, struct event *ret)
{
	struct presence_device *d;
	bool fresh;

	if (r->rssi == BLE_RSSI_NONE)
		return 0;
	d = lookup(pr, r->addr);
	fresh = d->samples++ == 0;
	d->rssi = fresh ? r->rssi : d->rssi + pr->p.smoothing * (r->rssi - d->rssi);
	d->last_ns = r->ts_ns;
	if (d->seen || d->rssi < pr->p.min_rssi)
		return 0;
	d->seen = true;
	memset(ret, 0, sizeof(*ret));
	ret->ts_ns = r->ts_ns;
	ret->kind = EVENT_BLE_SEEN;
	memcpy(ret->u.ble.addr, d->addr, 6);
	ret->u.ble.rssi = (int8_t)(d->rssi - 0.5);
	return 1;
}

int presence_expire(struct presence *pr, uint64_t now_ns, struct event *ret)
{
	uint64_t limit = (uint64_t)pr->p.lost_after_ms * 1000000ull;
	size_t i;

	for (i = 0; i < PRESENCE_MAX_DEVICES; i++) {
		struct presence_device *d = &pr->dev[i];

		if (!d->used || now_ns < d->last_ns || now_ns - d->last_ns <= limit)
			continue;
		d->used = false;
		if (!d->seen)
			continue;
		memset(ret, 0, sizeof(*ret));
		ret->ts_ns = now_ns;
		ret->kind = EVENT_BLE_LOST;
		memcpy(ret->u.ble.addr, d->addr, 6);
		ret->u.ble.rssi = (int8_t)(d->rssi - 0.5);
		return 1;
	}
	return 0;
}

unsigned presence_count(const struct presence *pr)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < PRESENCE_MAX_DEVICES; i++)
		n += pr->dev[i].used && pr->dev[i].seen;
	return n;
}
