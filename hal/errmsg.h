/*
 * errmsg — the one way a function reports an error to its caller here: a
 * message in the caller's buffer (what was wrong, where, how to fix it) and
 * a negative errno as the return value, in one statement:
 *
 *	if (fd < 0)
 *		return errmsg(err, len, -errno, "%s: cannot open: %s", path, strerror(errno));
 *
 * err may be NULL or len 0 (the caller does not want the text).
 */
#ifndef HAL_ERRMSG_H
#define HAL_ERRMSG_H

#include <stddef.h>

/* Formats into err (truncated to len, always terminated) and returns rc. */
int errmsg(char *err, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
