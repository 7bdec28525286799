/*
 * ble — the BLE scanner device class.
 *
 * A scanner hands up advertising reports, one at a time, already split out of
 * HCI LE Advertising Report and LE Extended Advertising Report events. Drivers:
 * ble_hci (a real adapter through libbluetooth) and ble_btsnoop (replays a
 * capture written by `btmon -w`). Decoding beacons is not the driver's job.
 */
#ifndef HAL_BLE_H
#define HAL_BLE_H

#include <errno.h>

#include "hal/hal.h"
#include <stdint.h>

struct config;

/* Largest advertising data one report can carry (extended reports). */
#define BLE_ADV_DATA_MAX 251
#define BLE_RSSI_NONE 127
#define BLE_TX_POWER_NONE 127

enum ble_report_kind {
	BLE_REPORT_LEGACY,
	BLE_REPORT_EXTENDED,
};

struct ble_adv_report {
	uint64_t ts_ns; /* CLOCK_MONOTONIC when handed up */
	enum ble_report_kind kind;
	uint16_t event_type; /* legacy: ADV_IND..SCAN_RSP (0..4); extended: properties */
	uint8_t addr_type;
	uint8_t addr[6];     /* as on the wire: least significant byte first */
	int8_t rssi;	     /* dBm, BLE_RSSI_NONE when unknown */
	int8_t tx_power;     /* dBm, BLE_TX_POWER_NONE when unknown (always for legacy) */
	uint8_t primary_phy; /* extended only, else 0 */
	uint8_t secondary_phy;
	uint8_t sid;
	uint8_t data_len;
	uint8_t data[BLE_ADV_DATA_MAX];
};

struct ble_stats {
	uint64_t events;    /* HCI events read */
	uint64_t reports;   /* reports handed up */
	uint64_t malformed; /* events or reports rejected as malformed */
};

struct ble_dev;

struct ble_ops {
	const char *name;
	/*
	 * Opens and starts scanning with the keys of [section] in cfg.
	 * 0, or -errno with dev->error saying what failed and how to fix it.
	 */
	int (*open)(struct ble_dev *dev, const struct config *cfg, const char *section);
	/*
	 * Waits up to timeout_ms (-1: forever) for the next report.
	 * 1 with *ret filled, 0 on timeout, -ENODATA at the end of a replay,
	 * -errno on failure (dev->error says why).
	 */
	int (*read)(struct ble_dev *dev, struct ble_adv_report *ret, int timeout_ms);
	/* Stops scanning and frees priv. Safe on a dev that failed to open. */
	void (*close)(struct ble_dev *dev);
};

struct ble_dev {
	const struct ble_ops *ops;
	void *priv; /* the driver's, freed by close */
	struct ble_stats stats;
	char error[HAL_ERROR_MAX]; /* last error, with the fix when there is one */
};

static inline int ble_open(struct ble_dev *dev, const struct ble_ops *ops, const struct config *cfg,
			   const char *section)
{
	dev->ops = ops;
	dev->priv = NULL;
	dev->stats = (struct ble_stats){0};
	dev->error[0] = '\0';
	return ops->open ? ops->open(dev, cfg, section) : -ENOSYS;
}

static inline int ble_read(struct ble_dev *dev, struct ble_adv_report *ret, int timeout_ms)
{
	return dev->ops->read ? dev->ops->read(dev, ret, timeout_ms) : -ENOSYS;
}

static inline void ble_close(struct ble_dev *dev)
{
	if (dev && dev->ops && dev->ops->close)
		dev->ops->close(dev);
}

#endif
