/*
 * gpio_lines — the part of the libgpiod driver that needs no GPIO chip.
 *
 * It waits on the two GPIO v1 line-event fds (door, staff call), reads the
 * kernel's struct gpioevent_data records from them (linux/gpio.h: u64
 * timestamp in ns, u32 id 1 = rising / 2 = falling, padded to 16 bytes on
 * 64-bit ABIs), validates them, applies active-low and the software debounce,
 * and hands out struct gpio_event in timestamp order. Because it only sees
 * fds, tests drive it with pipes carrying byte-exact records.
 *
 * Timestamps are taken as CLOCK_MONOTONIC (the v1 default since Linux 5.7);
 * a record stamped more than GPIO_LINES_MAX_AHEAD_NS ahead of the monotonic
 * clock is refused, which is what an older kernel's CLOCK_REALTIME stamps
 * look like. See docs/gpio-watchdog.md for the debounce rules.
 */
#ifndef HAL_GPIO_LINES_H
#define HAL_GPIO_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "hal/gpio.h"

#define GPIO_LINES_COUNT 2 /* indexed by enum gpio_input */
#define GPIO_LINES_MAX_DEBOUNCE_MS 1000
#define GPIO_LINES_MAX_AHEAD_NS (5ull * 1000000000ull)

struct gpio_lines;

struct gpio_line_cfg {
	int fd;		      /* event fd, borrowed (never closed here); -1: not wired */
	bool active_low;      /* invert the kernel's edges: the line reads 0 when active */
	unsigned debounce_ms; /* 0: every edge passes; else lockout + settle, see docs */
	int initial_level;    /* physical level at open: 0, 1, or -1 when unknown */
};

/*
 * Makes a decoder for cfg[GPIO_INPUT_DOOR] and cfg[GPIO_INPUT_STAFF_CALL].
 * On success *ret owns a new decoder (free with gpio_lines_free); the fds stay
 * the caller's and must outlive it. Errors: -EINVAL (debounce_ms over
 * GPIO_LINES_MAX_DEBOUNCE_MS or initial_level not -1/0/1), -ENOMEM.
 */
int gpio_lines_new(const struct gpio_line_cfg cfg[GPIO_LINES_COUNT], struct gpio_lines **ret);

/* Frees the decoder; does not close the fds. NULL is fine. */
void gpio_lines_free(struct gpio_lines *l);

/*
 * Waits up to timeout_ms (-1: forever, 0: do not wait) for the next event.
 * Returns 1 with *ret filled, 0 on timeout, or -errno with err (size errlen)
 * naming the line, what was wrong and the likely cause:
 *   -EIO      short record, end of file or POLLERR on an event fd
 *   -EBADMSG  a record whose id is neither rising (1) nor falling (2)
 *   -ERANGE   a timestamp far ahead of CLOCK_MONOTONIC (a pre-5.7 kernel)
 *   -EBADF    an fd that is not open
 *   other     from poll() or read()
 * After -EIO the fd's record boundaries are lost: close the device.
 */
int gpio_lines_read(struct gpio_lines *l, struct gpio_event *ret, int timeout_ms, char *err,
		    size_t errlen);

/* Edges dropped by the debounce since gpio_lines_new, for both lines. */
uint64_t gpio_lines_dropped(const struct gpio_lines *l);

#endif
