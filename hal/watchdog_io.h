/*
 * watchdog_io — the Linux watchdog character-device protocol (see the
 * kernel's Documentation/watchdog/watchdog-api.rst) behind a tiny I/O table,
 * so tests can check the exact call sequence with a fake and the dev driver
 * runs it on the real libc calls.
 *
 * Start: open(path, O_WRONLY | O_CLOEXEC) (which arms the timer);
 * WDIOC_GETSUPPORT (ENOTTY/EINVAL: not a watchdog, closed without a write);
 * WDIOC_SETTIMEOUT, keeping the value the driver wrote back.
 * Keepalive: WDIOC_KEEPALIVE when the device has WDIOF_KEEPALIVEPING, else a
 * one-byte write of '\0' (any write other than 'V' feeds it).
 * Stop: write "V" (the magic close) then close.
 */
#ifndef HAL_WATCHDOG_IO_H
#define HAL_WATCHDOG_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct watchdog_io {
	void *ctx; /* handed to every call; NULL for the libc table */
	/* fd, or -errno. */
	int (*open)(void *ctx, const char *path, int flags);
	/* 0 or -errno; arg as the request defines it. */
	int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
	/* Bytes written, or -errno. */
	ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);
	/* 0 or -errno. */
	int (*close)(void *ctx, int fd);
};

/* open(2), ioctl(2), write(2), close(2), retried on EINTR where that is safe. */
extern const struct watchdog_io watchdog_io_libc;

struct watchdog_io_dev;

/*
 * Opens path, checks it is a watchdog and sets timeout_s. On success *ret
 * owns a new handle (stop it with watchdog_io_stop) and *ret_timeout_s holds
 * the timeout the driver chose, which may differ from the one asked for.
 * io must outlive the handle. On failure nothing stays open and err (size
 * errlen) names the device, the system error and the fix. Errors: what
 * open(2) gives (-ENOENT, -EACCES, -EBUSY, ...); -ENOTTY: not a watchdog
 * device; -errno of a failed WDIOC_SETTIMEOUT (the device is then disarmed
 * with the magic close); -EINVAL for timeout_s < 1; -ENOMEM.
 */
int watchdog_io_start(const struct watchdog_io *io, const char *path, int timeout_s,
		      struct watchdog_io_dev **ret, int *ret_timeout_s, char *err, size_t errlen);

/* Feeds the watchdog. 0 or -errno from the ioctl or write. */
int watchdog_io_keepalive(struct watchdog_io_dev *w);

/* The WDIOF_* options and the identity the driver reported at start. */
uint32_t watchdog_io_options(const struct watchdog_io_dev *w);
const char *watchdog_io_identity(const struct watchdog_io_dev *w);

/*
 * Magic close: writes "V", closes and frees w (NULL is fine). Returns 0, or
 * -errno of the write or close; w is freed either way. A device without
 * WDIOF_MAGICCLOSE stops on close anyway, unless the kernel has nowayout.
 */
int watchdog_io_stop(struct watchdog_io_dev *w);

#endif
