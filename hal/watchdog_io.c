#include "hal/watchdog_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hal/errmsg.h"

struct watchdog_io_dev {
	const struct watchdog_io *io;
	int fd;
	uint32_t options;
	char identity[sizeof(((struct watchdog_info *)0)->identity) + 1];
};

static int libc_open(void *ctx, const char *path, int flags)
{
	int fd;

	(void)ctx;
	do
		fd = open(path, flags);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static int libc_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	int rc;

	(void)ctx;
	do
		rc = ioctl(fd, request, arg);
	while (rc < 0 && errno == EINTR);
	return rc < 0 ? -errno : 0;
}

static ssize_t libc_write(void *ctx, int fd, const void *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int libc_close(void *ctx, int fd)
{
	(void)ctx;
	/* Never retried: on Linux the fd is gone even when close reports EINTR. */
	return close(fd) < 0 ? -errno : 0;
}

const struct watchdog_io watchdog_io_libc = {
    .ctx = NULL,
    .open = libc_open,
    .ioctl = libc_ioctl,
    .write = libc_write,
    .close = libc_close,
};

static const char *open_hint(int e)
{
	switch (e) {
	case EACCES:
	case EPERM:
		return "run edgeboxd as root or give its user write access to the device";
	case EBUSY:
		return "another process holds it, e.g. systemd's RuntimeWatchdogSec= or a "
		       "watchdog daemon; only one may feed it";
	default:
		return "is the watchdog driver loaded? test rigs can use driver = soft";
	}
}

int watchdog_io_start(const struct watchdog_io *io, const char *path, int timeout_s,
		      struct watchdog_io_dev **ret, int *ret_timeout_s, char *err, size_t errlen)
{
	struct watchdog_info info;
	struct watchdog_io_dev *w;
	int fd, rc, t;

	*ret = NULL;
	if (timeout_s < 1)
		return errmsg(err, errlen, -EINVAL, "watchdog: timeout %d s is below 1 s",
			      timeout_s);
	w = calloc(1, sizeof(*w));
	if (!w)
		return errmsg(err, errlen, -ENOMEM, "watchdog: out of memory");
	w->io = io;

	fd = io->open(io->ctx, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errmsg(err, errlen, fd, "watchdog: cannot open %s: %s (%s)", path,
			    strerror(-fd), open_hint(-fd));
		goto free_dev;
	}
	w->fd = fd;

	/* Ask before writing anything: a 'V' into a plain file would corrupt it. */
	memset(&info, 0, sizeof(info));
	rc = io->ioctl(io->ctx, fd, WDIOC_GETSUPPORT, &info);
	if (rc == -ENOTTY || rc == -EINVAL) {
		errmsg(err, errlen, -ENOTTY,
		       "watchdog: %s is not a watchdog device (WDIOC_GETSUPPORT: %s); set device "
		       "= /dev/watchdog or /dev/watchdogN (see `wdctl`), or use driver = soft",
		       path, strerror(-rc));
		rc = -ENOTTY;
		goto close_fd;
	}
	if (rc < 0) {
		errmsg(err, errlen, rc, "watchdog: %s: WDIOC_GETSUPPORT failed: %s", path,
		       strerror(-rc));
		goto magic_close;
	}
	w->options = info.options;
	memcpy(w->identity, info.identity, sizeof(info.identity));
	w->identity[sizeof(info.identity)] = '\0';

	t = timeout_s;
	rc = io->ioctl(io->ctx, fd, WDIOC_SETTIMEOUT, &t);
	if (rc < 0) {
		errmsg(err, errlen, rc,
		       "watchdog: %s (%s) refused a timeout of %d s: %s; pick another timeout_s "
		       "(`wdctl %s` shows the range)",
		       path, w->identity, timeout_s, strerror(-rc), path);
		goto magic_close;
	}
	if (t < 1) {
		rc = errmsg(err, errlen, -ERANGE,
			    "watchdog: %s (%s) reported a timeout of %d s after being set to %d s",
			    path, w->identity, t, timeout_s);
		goto magic_close;
	}
	*ret_timeout_s = t;
	*ret = w;
	return 0;

magic_close:
	/* It is armed now: disarm it, or it resets the box in a moment. */
	io->write(io->ctx, fd, "V", 1);
close_fd:
	io->close(io->ctx, fd);
free_dev:
	free(w);
	return rc;
}

int watchdog_io_keepalive(struct watchdog_io_dev *w)
{
	const struct watchdog_io *io = w->io;
	ssize_t n;
	int dummy = 0;

	if (w->options & WDIOF_KEEPALIVEPING)
		return io->ioctl(io->ctx, w->fd, WDIOC_KEEPALIVE, &dummy);
	n = io->write(io->ctx, w->fd, "", 1);
	if (n < 0)
		return (int)n;
	return n == 1 ? 0 : -EIO;
}

uint32_t watchdog_io_options(const struct watchdog_io_dev *w)
{
	return w->options;
}

const char *watchdog_io_identity(const struct watchdog_io_dev *w)
{
	return w->identity;
}

int watchdog_io_stop(struct watchdog_io_dev *w)
{
	const struct watchdog_io *io;
	ssize_t n;
	int rc = 0, crc;

	if (!w)
		return 0;
	io = w->io;
	n = io->write(io->ctx, w->fd, "V", 1);
	if (n < 0)
		rc = (int)n;
	else if (n != 1)
		rc = -EIO;
	crc = io->close(io->ctx, w->fd);
	if (!rc)
		rc = crc;
	free(w);
	return rc;
}
