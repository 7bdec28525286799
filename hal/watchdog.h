/*
 * watchdog — the hardware watchdog the supervisor feeds while every critical
 * stage is healthy. Drivers: watchdog_dev (/dev/watchdog: set timeout,
 * keepalive, magic close) and watchdog_soft (in-process: an expiry is
 * reported and counted instead of resetting the machine).
 */
#ifndef HAL_WATCHDOG_H
#define HAL_WATCHDOG_H

#include <errno.h>

#include "hal/hal.h"
#include <stdint.h>

struct config;

struct watchdog_dev;

struct watchdog_ops {
	const char *name;
	/* Opens and arms with [section] of cfg; dev->timeout_s holds the timeout
	 * in force. 0, or -errno with dev->error saying what failed and the fix. */
	int (*open)(struct watchdog_dev *dev, const struct config *cfg, const char *section);
	/* Feeds the watchdog. 0 or -errno. */
	int (*keepalive)(struct watchdog_dev *dev);
	/* How many times it expired since open (soft only; NULL: -ENOSYS). */
	int (*expired)(struct watchdog_dev *dev);
	/* Disarms with the magic close where the device supports it, frees priv. */
	void (*close)(struct watchdog_dev *dev);
};

struct watchdog_dev {
	const struct watchdog_ops *ops;
	void *priv;
	int timeout_s;
	uint64_t keepalives;
	char error[HAL_ERROR_MAX];
};

static inline int watchdog_open(struct watchdog_dev *dev, const struct watchdog_ops *ops,
				const struct config *cfg, const char *section)
{
	dev->ops = ops;
	dev->priv = NULL;
	dev->timeout_s = 0;
	dev->keepalives = 0;
	dev->error[0] = '\0';
	return ops->open ? ops->open(dev, cfg, section) : -ENOSYS;
}

static inline int watchdog_keepalive(struct watchdog_dev *dev)
{
	int rc = dev->ops->keepalive ? dev->ops->keepalive(dev) : -ENOSYS;

	if (rc == 0)
		dev->keepalives++;
	return rc;
}

static inline int watchdog_expired(struct watchdog_dev *dev)
{
	return dev->ops->expired ? dev->ops->expired(dev) : -ENOSYS;
}

static inline void watchdog_close(struct watchdog_dev *dev)
{
	if (dev && dev->ops && dev->ops->close)
		dev->ops->close(dev);
}

#endif
