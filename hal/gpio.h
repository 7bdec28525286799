/*
 * gpio — the box's discrete lines: a door/PIR input and a staff-call button
 * (edge events), and a status LED (output).
 * Drivers: gpio_gpiod (libgpiod) and gpio_replay (a timed script).
 */
#ifndef HAL_GPIO_H
#define HAL_GPIO_H

#include <errno.h>

#include "hal/hal.h"
#include <stdbool.h>
#include <stdint.h>

struct config;

enum gpio_input {
	GPIO_INPUT_DOOR,       /* door contact or PIR: rising = someone there */
	GPIO_INPUT_STAFF_CALL, /* staff-call button: rising = pressed */
};

enum gpio_edge {
	GPIO_EDGE_RISING,
	GPIO_EDGE_FALLING,
};

struct gpio_event {
	uint64_t ts_ns; /* CLOCK_MONOTONIC */
	enum gpio_input input;
	enum gpio_edge edge;
};

struct gpio_dev;

struct gpio_ops {
	const char *name;
	/* 0, or -errno with dev->error saying what failed and how to fix it. */
	int (*open)(struct gpio_dev *dev, const struct config *cfg, const char *section);
	/* 1 with *ret filled, 0 on timeout, -ENODATA at the end of a script, -errno. */
	int (*read_event)(struct gpio_dev *dev, struct gpio_event *ret, int timeout_ms);
	/* Drives the status LED. 0 or -errno. */
	int (*set_led)(struct gpio_dev *dev, bool on);
	void (*close)(struct gpio_dev *dev);
};

struct gpio_dev {
	const struct gpio_ops *ops;
	void *priv;
	bool led; /* last state written to the LED */
	char error[HAL_ERROR_MAX];
};

static inline int gpio_open(struct gpio_dev *dev, const struct gpio_ops *ops,
			    const struct config *cfg, const char *section)
{
	dev->ops = ops;
	dev->priv = NULL;
	dev->led = false;
	dev->error[0] = '\0';
	return ops->open ? ops->open(dev, cfg, section) : -ENOSYS;
}

static inline int gpio_read_event(struct gpio_dev *dev, struct gpio_event *ret, int timeout_ms)
{
	return dev->ops->read_event ? dev->ops->read_event(dev, ret, timeout_ms) : -ENOSYS;
}

static inline int gpio_set_led(struct gpio_dev *dev, bool on)
{
	return dev->ops->set_led ? dev->ops->set_led(dev, on) : -ENOSYS;
}

static inline void gpio_close(struct gpio_dev *dev)
{
	if (dev && dev->ops && dev->ops->close)
		dev->ops->close(dev);
}

#endif
