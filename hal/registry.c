#include "hal/registry.h"

#include <stdio.h>
#include <string.h>

#include "hal/ble.h"
#include "hal/camera.h"
#include "hal/gpio.h"
#include "hal/watchdog.h"

extern const struct ble_ops ble_hci_ops;
extern const struct ble_ops ble_btsnoop_ops;
extern const struct camera_ops camera_v4l2_ops;
extern const struct camera_ops camera_replay_ops;
extern const struct gpio_ops gpio_gpiod_ops;
extern const struct gpio_ops gpio_replay_ops;
extern const struct watchdog_ops watchdog_dev_ops;
extern const struct watchdog_ops watchdog_soft_ops;

static const struct hal_driver drivers[] = {
    {HAL_CLASS_BLE, "hci", &ble_hci_ops, "Bluetooth adapter through libbluetooth (real)"},
    {HAL_CLASS_BLE, "btsnoop", &ble_btsnoop_ops, "replays a btmon -w capture (simulated)"},
    {HAL_CLASS_CAMERA, "v4l2", &camera_v4l2_ops, "V4L2 camera through libv4l2 (real)"},
    {HAL_CLASS_CAMERA, "replay", &camera_replay_ops,
     "replays a folder of images or a Y4M file (simulated)"},
    {HAL_CLASS_GPIO, "gpiod", &gpio_gpiod_ops, "GPIO lines through libgpiod (real)"},
    {HAL_CLASS_GPIO, "replay", &gpio_replay_ops, "replays a timed event script (simulated)"},
    {HAL_CLASS_WATCHDOG, "dev", &watchdog_dev_ops, "/dev/watchdog (real, resets the box)"},
    {HAL_CLASS_WATCHDOG, "soft", &watchdog_soft_ops,
     "in-process, reports an expiry instead of resetting (simulated)"},
};

const char *hal_class_name(enum hal_class cls)
{
	switch (cls) {
	case HAL_CLASS_BLE:
		return "ble";
	case HAL_CLASS_CAMERA:
		return "camera";
	case HAL_CLASS_GPIO:
		return "gpio";
	case HAL_CLASS_WATCHDOG:
		return "watchdog";
	}
	return "?";
}

const void *hal_driver_find(enum hal_class cls, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (drivers[i].cls == cls && strcmp(drivers[i].name, name) == 0)
			return drivers[i].ops;
	return NULL;
}

void hal_driver_names(enum hal_class cls, char *buf, size_t len)
{
	size_t i, off = 0;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]) && off < len; i++)
		if (drivers[i].cls == cls)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
						drivers[i].name);
}

const struct hal_driver *hal_drivers(size_t *ret_count)
{
	*ret_count = sizeof(drivers) / sizeof(drivers[0]);
	return drivers;
}
