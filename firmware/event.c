#include "firmware/event.h"

#include <errno.h>
#include <stdio.h>

const char *event_kind_name(enum event_kind kind)
{
	switch (kind) {
	case EVENT_BLE_SEEN:
		return "ble_seen";
	case EVENT_BLE_LOST:
		return "ble_lost";
	case EVENT_MOTION_START:
		return "motion_start";
	case EVENT_MOTION_STOP:
		return "motion_stop";
	case EVENT_DOOR:
		return "door";
	case EVENT_STAFF_CALL:
		return "staff_call";
	}
	return "unknown";
}

int event_to_json(const struct event *ev, char *buf, size_t len)
{
	int n = -1;

	switch (ev->kind) {
	case EVENT_BLE_SEEN:
	case EVENT_BLE_LOST:
		n = snprintf(buf, len,
			     "{\"event\":\"%s\",\"addr\":\"%02X:%02X:%02X:%02X:%02X:%02X\",\"rssi\":%d}",
			     event_kind_name(ev->kind), ev->u.ble.addr[5], ev->u.ble.addr[4],
			     ev->u.ble.addr[3], ev->u.ble.addr[2], ev->u.ble.addr[1],
			     ev->u.ble.addr[0], ev->u.ble.rssi);
		break;
	case EVENT_MOTION_START:
	case EVENT_MOTION_STOP:
		n = snprintf(buf, len, "{\"event\":\"%s\",\"score\":%.3f}", event_kind_name(ev->kind),
			     (double)ev->u.motion.score);
		break;
	case EVENT_DOOR:
	case EVENT_STAFF_CALL:
		n = snprintf(buf, len, "{\"event\":\"%s\",\"active\":%s}", event_kind_name(ev->kind),
			     ev->u.gpio.active ? "true" : "false");
		break;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
