/*
 * gpio_gpiod — the box's door/PIR input, staff-call button and status LED on a
 * GPIO chip, through libgpiod 1.6 (the v1 character-device uAPI).
 *
 * This file only opens the chip and requests the lines; waiting, record
 * validation, active-low and debounce live in hal/gpio_lines.c, which works on
 * plain fds so tests can feed it pipes. The inputs are requested without
 * GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW so the kernel reports physical edges and
 * the inversion happens in exactly one, tested, place.
 */
#include <errno.h>
#include <gpiod.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/config.h"
#include "hal/gpio.h"
#include "hal/gpio_lines.h"

#define CONSUMER_MAX 31 /* the kernel keeps 32 bytes with the NUL */
#define LINE_OFFSET_MAX 65535

struct gpiod_priv {
	struct gpiod_chip *chip;
	struct gpiod_line *input[GPIO_LINES_COUNT];
	struct gpiod_line *led;
	unsigned led_offset;
	struct gpio_lines *lines;
};

static int fail(struct gpio_dev *dev, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct gpio_dev *dev, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return rc;
}

/* A required line offset: config_int alone would quietly take a default. */
static int read_offset(struct gpio_dev *dev, const struct config *cfg, const char *section,
		       const char *key, long *ret)
{
	struct config_error err;

	if (!config_get(cfg, section, key))
		return fail(dev, -EINVAL,
			    "gpio: %s: [%s] %s: missing; set the line offset (see `gpioinfo`)",
			    config_name(cfg), section, key);
	if (config_int(cfg, section, key, 0, 0, LINE_OFFSET_MAX, ret, &err) < 0)
		return fail(dev, -EINVAL, "gpio: %s", err.msg);
	return 0;
}

static const char *open_hint(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return "add the edgebox user to the group owning /dev/gpiochip*, or run as root";
	case ENOTTY:
	case ENODEV:
		return "that is not a GPIO chip; name one that `gpiodetect` lists";
	default:
		return "is the GPIO chip present? `gpiodetect`; test rigs can use driver = replay";
	}
}

static int request_line(struct gpio_dev *dev, struct gpiod_priv *p, const char *chip_name,
			long offset, const char *key, bool output, const char *consumer,
			struct gpiod_line **ret)
{
	struct gpiod_line *line;
	const char *holder;
	int rc, e;

	line = gpiod_chip_get_line(p->chip, (unsigned)offset);
	if (!line) {
		e = errno;
		return fail(dev, -e, "gpio: cannot get %s line %ld (%s): %s (see `gpioinfo %s`)",
			    chip_name, offset, key, strerror(e), chip_name);
	}
	if (output)
		rc = gpiod_line_request_output(line, consumer, 0);
	else
		rc = gpiod_line_request_both_edges_events(line, consumer);
	if (rc < 0) {
		e = errno;
		holder = gpiod_line_consumer(line);
		return fail(dev, -e,
			    "gpio: cannot request %s line %ld (%s) as %s: %s (%s%s%spick a free "
			    "line, see `gpioinfo %s`)",
			    chip_name, offset, key, output ? "an output" : "an edge-event input",
			    strerror(e), holder ? "held by '" : "", holder ? holder : "",
			    holder ? "'; " : "", chip_name);
	}
	*ret = line;
	return 0;
}

static void gpiod_close(struct gpio_dev *dev)
{
	struct gpiod_priv *p = dev->priv;

	if (!p)
		return;
	/* The LED goes dark when the daemon lets go of the box. */
	if (p->led)
		gpiod_line_set_value(p->led, 0);
	gpio_lines_free(p->lines);
	if (p->chip)
		gpiod_chip_close(p->chip); /* releases every requested line */
	free(p);
	dev->priv = NULL;
}

static int gpiod_open(struct gpio_dev *dev, const struct config *cfg, const char *section)
{
	static const char *const line_keys[GPIO_LINES_COUNT] = {
	    [GPIO_INPUT_DOOR] = "door_line",
	    [GPIO_INPUT_STAFF_CALL] = "staff_call_line",
	};
	static const char *const low_keys[GPIO_LINES_COUNT] = {
	    [GPIO_INPUT_DOOR] = "door_active_low",
	    [GPIO_INPUT_STAFF_CALL] = "staff_call_active_low",
	};
	struct gpio_line_cfg lcfg[GPIO_LINES_COUNT];
	long offset[GPIO_LINES_COUNT], led_offset, debounce_ms;
	const char *chip_name, *consumer;
	struct config_error err;
	struct gpiod_priv *p;
	bool active_low[GPIO_LINES_COUNT];
	unsigned nlines;
	int i, rc, e;

	if (config_str(cfg, section, "chip", "gpiochip0", false, &chip_name, &err) < 0 ||
	    config_str(cfg, section, "consumer", "edgebox", false, &consumer, &err) < 0 ||
	    config_int(cfg, section, "debounce_ms", 30, 0, GPIO_LINES_MAX_DEBOUNCE_MS, &debounce_ms,
		       &err) < 0 ||
	    config_bool(cfg, section, low_keys[0], false, &active_low[0], &err) < 0 ||
	    config_bool(cfg, section, low_keys[1], false, &active_low[1], &err) < 0)
		return fail(dev, -EINVAL, "gpio: %s", err.msg);
	if (!*chip_name)
		return fail(dev, -EINVAL,
			    "gpio: %s: [%s] chip: empty; name a chip like gpiochip0 (see "
			    "`gpiodetect`)",
			    config_name(cfg), section);
	if (!*consumer || strlen(consumer) > CONSUMER_MAX)
		return fail(dev, -EINVAL,
			    "gpio: %s: [%s] consumer: expected 1 to %d characters, got %zu",
			    config_name(cfg), section, CONSUMER_MAX, strlen(consumer));
	for (i = 0; i < GPIO_LINES_COUNT; i++) {
		rc = read_offset(dev, cfg, section, line_keys[i], &offset[i]);
		if (rc < 0)
			return rc;
	}
	rc = read_offset(dev, cfg, section, "led_line", &led_offset);
	if (rc < 0)
		return rc;
	if (offset[0] == offset[1] || led_offset == offset[0] || led_offset == offset[1])
		return fail(dev, -EINVAL,
			    "gpio: %s: [%s] door_line = %ld, staff_call_line = %ld, led_line = "
			    "%ld: each needs its own line",
			    config_name(cfg), section, offset[0], offset[1], led_offset);

	p = calloc(1, sizeof(*p));
	if (!p)
		return fail(dev, -ENOMEM, "gpio: out of memory");
	dev->priv = p;
	errno = 0;
	p->chip = gpiod_chip_open_lookup(chip_name);
	if (!p->chip) {
		e = errno ? errno : ENODEV;
		rc = fail(dev, -e, "gpio: cannot open %s: %s (%s)", chip_name, strerror(e),
			  open_hint(e));
		goto close_dev;
	}
	nlines = gpiod_chip_num_lines(p->chip);
	for (i = 0; i <= GPIO_LINES_COUNT; i++) {
		long off = i < GPIO_LINES_COUNT ? offset[i] : led_offset;

		if ((unsigned long)off >= nlines) {
			rc = fail(dev, -EINVAL,
				  "gpio: %s: [%s] %s = %ld, but %s has lines 0 to %u (see "
				  "`gpioinfo %s`)",
				  config_name(cfg), section,
				  i < GPIO_LINES_COUNT ? line_keys[i] : "led_line", off, chip_name,
				  nlines ? nlines - 1 : 0, chip_name);
			goto close_dev;
		}
	}
	for (i = 0; i < GPIO_LINES_COUNT; i++) {
		rc = request_line(dev, p, chip_name, offset[i], line_keys[i], false, consumer,
				  &p->input[i]);
		if (rc < 0)
			goto close_dev;
	}
	rc = request_line(dev, p, chip_name, led_offset, "led_line", true, consumer, &p->led);
	if (rc < 0)
		goto close_dev;
	p->led_offset = (unsigned)led_offset;

	for (i = 0; i < GPIO_LINES_COUNT; i++) {
		lcfg[i].fd = gpiod_line_event_get_fd(p->input[i]);
		lcfg[i].active_low = active_low[i];
		/* The door contact or PIR is passed as is; the button bounces. */
		lcfg[i].debounce_ms = i == GPIO_INPUT_STAFF_CALL ? (unsigned)debounce_ms : 0;
		lcfg[i].initial_level = gpiod_line_get_value(p->input[i]);
		if (lcfg[i].initial_level < 0)
			lcfg[i].initial_level = -1;
	}
	rc = gpio_lines_new(lcfg, &p->lines);
	if (rc < 0) {
		fail(dev, rc, "gpio: setting up the event decoder: %s", strerror(-rc));
		goto close_dev;
	}
	return 0;

close_dev:
	gpiod_close(dev);
	return rc;
}

static int gpiod_read_event(struct gpio_dev *dev, struct gpio_event *ret, int timeout_ms)
{
	struct gpiod_priv *p = dev->priv;

	if (!p)
		return -EBADF;
	return gpio_lines_read(p->lines, ret, timeout_ms, dev->error, sizeof(dev->error));
}

static int gpiod_set_led(struct gpio_dev *dev, bool on)
{
	struct gpiod_priv *p = dev->priv;
	int e;

	if (!p)
		return -EBADF;
	if (gpiod_line_set_value(p->led, on ? 1 : 0) < 0) {
		e = errno;
		return fail(dev, -e, "gpio: setting the LED (line %u) %s: %s", p->led_offset,
			    on ? "on" : "off", strerror(e));
	}
	dev->led = on;
	return 0;
}

const struct gpio_ops gpio_gpiod_ops = {
    .name = "gpiod",
    .open = gpiod_open,
    .read_event = gpiod_read_event,
    .set_led = gpiod_set_led,
    .close = gpiod_close,
};
