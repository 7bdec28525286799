/*
 * watchdog_dev — the kernel watchdog (/dev/watchdog): set the timeout,
 * keepalive, magic close. The protocol lives in hal/watchdog_io.c, where
 * tests run it against a fake; this file reads the config and runs it on
 * the real libc calls.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "firmware/config.h"
#include "hal/watchdog.h"
#include "hal/watchdog_io.h"

#define WATCHDOG_DEV_MAX_TIMEOUT_S 600

static int fail(struct watchdog_dev *dev, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct watchdog_dev *dev, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return rc;
}

static int wdt_open(struct watchdog_dev *dev, const struct config *cfg, const char *section)
{
	char path[PATH_MAX];
	struct config_error err;
	struct watchdog_io_dev *w;
	long timeout_s;
	int rc, chosen;

	if (config_path(cfg, section, "device", "/dev/watchdog", false, path, sizeof(path), &err) <
		0 ||
	    config_int(cfg, section, "timeout_s", 15, 1, WATCHDOG_DEV_MAX_TIMEOUT_S, &timeout_s,
		       &err) < 0)
		return fail(dev, -EINVAL, "watchdog: %s", err.msg);
	rc = watchdog_io_start(&watchdog_io_libc, path, (int)timeout_s, &w, &chosen, dev->error,
			       sizeof(dev->error));
	if (rc < 0)
		return rc;
	dev->priv = w;
	dev->timeout_s = chosen;
	return 0;
}

static int wdt_keepalive(struct watchdog_dev *dev)
{
	int rc;

	if (!dev->priv)
		return -EBADF;
	rc = watchdog_io_keepalive(dev->priv);
	if (rc < 0)
		return fail(dev, rc, "watchdog: keepalive failed: %s", strerror(-rc));
	return 0;
}

static void wdt_close(struct watchdog_dev *dev)
{
	if (!dev->priv)
		return;
	/* Nothing to report to: close is void; the device is released either way. */
	watchdog_io_stop(dev->priv);
	dev->priv = NULL;
}

const struct watchdog_ops watchdog_dev_ops = {
    .name = "dev",
    .open = wdt_open,
    .keepalive = wdt_keepalive,
    .expired = NULL, /* a real watchdog resets the box instead of counting */
    .close = wdt_close,
};
