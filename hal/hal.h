/* What every device class shares. */
#ifndef HAL_HAL_H
#define HAL_HAL_H

/* A device's last error: room for a config error (file, line, key, what
 * was expected) with the driver's prefix and the fix. */
#define HAL_ERROR_MAX 640

#endif
