/*
 * registry — the one table that maps a device class and a driver name from
 * the config (`[ble] driver = btsnoop`) to the driver's ops.
 */
#ifndef HAL_REGISTRY_H
#define HAL_REGISTRY_H

#include <stddef.h>

enum hal_class {
	HAL_CLASS_BLE,
	HAL_CLASS_CAMERA,
	HAL_CLASS_GPIO,
	HAL_CLASS_WATCHDOG,
};

struct hal_driver {
	enum hal_class cls;
	const char *name;
	const void *ops;     /* const struct <class>_ops * */
	const char *summary; /* one line for `edgeboxctl drivers` and errors */
};

/* The driver's ops, or NULL when the class has no driver of that name. */
const void *hal_driver_find(enum hal_class cls, const char *name);

/* "ble", "camera", ... */
const char *hal_class_name(enum hal_class cls);

/* Writes "hci, btsnoop" for the class into buf (for error messages). */
void hal_driver_names(enum hal_class cls, char *buf, size_t len);

/* The whole table, for listing. */
const struct hal_driver *hal_drivers(size_t *ret_count);

#endif
