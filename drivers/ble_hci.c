/*
 * ble_hci — LE scanning on a real adapter through a raw HCI socket.
 *
 *   [ble]
 *   driver = hci
 *   adapter = hci0              # or the adapter's address, 00:1A:7D:DA:71:13
 *   scan_interval_ms = 100      # 3..10240
 *   scan_window_ms = 100        # 3..interval; default = the interval (scan all the time)
 *   active = false              # true sends scan requests (gets scan responses)
 *   filter_duplicates = false   # true lets the controller drop repeats: no RSSI track
 *
 * libbluetooth finds and opens the adapter; the socket's HCI_FILTER passes
 * only LE Meta, Command Complete and Command Status events; hal/hci.c does
 * every byte from there (so the protocol is tested over socketpairs). The
 * raw socket shares the controller with bluetoothd: if that is scanning too,
 * LE Set Scan Parameters answers Command Disallowed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>

#include "firmware/config.h"
#include "hal/ble.h"
#include "hal/hci.h"

#define SCAN_COMMAND_TIMEOUT_MS 2000
#define SCAN_STOP_TIMEOUT_MS 500
#define ADAPTER_NAME_MAX 32
#define HINT_MAX 96
#define ALTERNATIVE "test rigs can use driver = btsnoop"

struct scan_priv {
	int fd;
	struct hci_io *io;
	char adapter[ADAPTER_NAME_MAX];
};

static int fail(struct ble_dev *dev, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ble_dev *dev, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return rc;
}

/* "hci<N>" or a bdaddr, the two forms hci_devid() takes. */
static bool adapter_name_ok(const char *s)
{
	bdaddr_t ba;
	size_t i;

	if (strlen(s) >= ADAPTER_NAME_MAX)
		return false;
	if (strncmp(s, "hci", 3) == 0 && s[3]) {
		for (i = 3; s[i]; i++)
			if (s[i] < '0' || s[i] > '9')
				return false;
		return true;
	}
	return strlen(s) == 17 && bachk(s) == 0 && str2ba(s, &ba) == 0;
}

/* What to try, by the error that opening or using the adapter gave. */
static const char *open_hint(int err, const char *adapter, char *buf, size_t len)
{
	switch (err) {
	case EAFNOSUPPORT:
		return "this kernel has no Bluetooth support (AF_BLUETOOTH); load the bluetooth "
		       "module or run on the box";
	case EPERM:
	case EACCES:
		return "raw HCI needs CAP_NET_RAW and CAP_NET_ADMIN: run as root or `setcap "
		       "cap_net_raw,cap_net_admin+eip edgeboxd`";
	case ERFKILL:
		return "the adapter is blocked: `rfkill unblock bluetooth`";
	case ENETDOWN:
		snprintf(buf, len, "the adapter is down: `hciconfig %s up`", adapter);
		return buf;
	default:
		snprintf(buf, len, "is the adapter present and up? `hciconfig %s up`", adapter);
		return buf;
	}
}

/* What to try, by the error that starting the scan gave. */
static const char *scan_hint(int rc, uint8_t status, const char *adapter, char *buf, size_t len)
{
	if (rc == -EIO && status == 0x0C)
		return "another program is scanning or advertising; `bluetoothctl scan off` "
		       "or stop bluetoothd";
	if (rc == -ETIMEDOUT) {
		snprintf(buf, len, "the controller does not answer; `hciconfig %s reset`", adapter);
		return buf;
	}
	return open_hint(-rc, adapter, buf, len);
}

static int read_config(struct ble_dev *dev, const struct config *cfg, const char *section,
		       const char **adapter, struct hci_scan_params *sp)
{
	struct config_error cerr;
	long interval_ms, window_ms;

	memset(sp, 0, sizeof(*sp));
	if (config_str(cfg, section, "adapter", "hci0", false, adapter, &cerr) < 0 ||
	    config_int(cfg, section, "scan_interval_ms", 100, 3, 10240, &interval_ms, &cerr) < 0 ||
	    config_int(cfg, section, "scan_window_ms", interval_ms, 3, 10240, &window_ms, &cerr) <
		0 ||
	    config_bool(cfg, section, "active", false, &sp->active, &cerr) < 0 ||
	    config_bool(cfg, section, "filter_duplicates", false, &sp->filter_duplicates, &cerr) <
		0)
		return fail(dev, -EINVAL, "ble(hci): %s", cerr.msg);
	if (!adapter_name_ok(*adapter))
		return fail(dev, -EINVAL,
			    "ble(hci): %s: [%s] adapter = \"%.40s\" is neither hciN nor a "
			    "Bluetooth address (e.g. hci0 or 00:1A:7D:DA:71:13)",
			    config_name(cfg), section, *adapter);
	if (window_ms > interval_ms)
		return fail(dev, -EINVAL,
			    "ble(hci): %s: [%s] scan_window_ms = %ld is longer than "
			    "scan_interval_ms = %ld; make the window at most the interval",
			    config_name(cfg), section, window_ms, interval_ms);
	/* The controller counts in 0.625 ms slots. */
	sp->interval = (uint16_t)(interval_ms * 1000 / 625);
	sp->window = (uint16_t)(window_ms * 1000 / 625);
	return 0;
}

static int scan_open(struct ble_dev *dev, const struct config *cfg, const char *section)
{
	struct hci_scan_params sp;
	struct hci_filter filter;
	struct scan_priv *p;
	const char *adapter;
	char hint[HINT_MAX];
	uint8_t status = 0;
	int rc, id;

	/* ble_open() leaves stats alone; a reopened dev starts from zero. */
	memset(&dev->stats, 0, sizeof(dev->stats));
	p = calloc(1, sizeof(*p));
	if (!p)
		return fail(dev, -ENOMEM, "ble(hci): out of memory");
	p->fd = -1;
	dev->priv = p;
	rc = read_config(dev, cfg, section, &adapter, &sp);
	if (rc < 0)
		return rc;
	snprintf(p->adapter, sizeof(p->adapter), "%s", adapter);

	errno = 0;
	id = hci_devid(p->adapter);
	if (id >= 0)
		p->fd = hci_open_dev(id);
	if (id < 0 || p->fd < 0) {
		rc = errno ? -errno : -ENODEV;
		return fail(dev, rc, "ble: cannot open Bluetooth adapter %s: %s (%s; %s)",
			    p->adapter, strerror(-rc),
			    open_hint(-rc, p->adapter, hint, sizeof(hint)), ALTERNATIVE);
	}
	fcntl(p->fd, F_SETFD, FD_CLOEXEC);

	hci_filter_clear(&filter);
	hci_filter_set_ptype(HCI_EVENT_PKT, &filter);
	hci_filter_set_event(EVT_LE_META_EVENT, &filter);
	hci_filter_set_event(EVT_CMD_COMPLETE, &filter);
	hci_filter_set_event(EVT_CMD_STATUS, &filter);
	if (setsockopt(p->fd, SOL_HCI, HCI_FILTER, &filter, sizeof(filter)) < 0) {
		rc = -errno;
		return fail(dev, rc, "ble: cannot set the HCI event filter on %s: %s", p->adapter,
			    strerror(-rc));
	}
	rc = hci_io_new(p->fd, &p->io);
	if (rc < 0)
		return fail(dev, rc, "ble(hci): out of memory");

	/* Scan parameters cannot change while a scan runs: stop one left over
	 * from a crash. Failing is fine (nothing was running). */
	hci_io_scan_stop(p->io, SCAN_STOP_TIMEOUT_MS);
	rc = hci_io_scan_start(p->io, &sp, SCAN_COMMAND_TIMEOUT_MS, &status);
	if (rc < 0)
		return fail(dev, rc, "ble: cannot start scanning on %s: %s (%s; %s)", p->adapter,
			    hci_io_error(p->io),
			    scan_hint(rc, status, p->adapter, hint, sizeof(hint)), ALTERNATIVE);
	return 0;
}

static int scan_read(struct ble_dev *dev, struct ble_adv_report *ret, int timeout_ms)
{
	struct scan_priv *p = dev->priv;
	char hint[HINT_MAX];
	int rc;

	if (!p || !p->io)
		return fail(dev, -EBADF, "ble(hci): read on a device that is not open");
	rc = hci_io_read_report(p->io, ret, timeout_ms);
	hci_io_stats(p->io, &dev->stats);
	if (rc < 0)
		return fail(dev, rc, "ble: %s: %s (%s)", p->adapter, hci_io_error(p->io),
			    rc == -EPIPE ? "the adapter went away; is it still plugged in?"
					 : open_hint(-rc, p->adapter, hint, sizeof(hint)));
	return rc;
}

static void scan_close(struct ble_dev *dev)
{
	struct scan_priv *p = dev->priv;

	if (!p)
		return;
	if (p->io)
		hci_io_scan_stop(p->io, SCAN_STOP_TIMEOUT_MS);
	hci_io_free(p->io);
	if (p->fd >= 0)
		hci_close_dev(p->fd);
	free(p);
	dev->priv = NULL;
}

const struct ble_ops ble_hci_ops = {
    .name = "hci",
    .open = scan_open,
    .read = scan_read,
    .close = scan_close,
};
