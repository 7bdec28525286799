#include "firmware/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic int current_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info",	 [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&current_level);
}

int log_level_from_string(const char *s, enum log_level *ret)
{
	int i;

	for (i = LOG_LEVEL_ERROR; i <= LOG_LEVEL_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
	char line[1024];
	size_t off = 0;
	va_list ap;

	if ((int)level > atomic_load(&current_level))
		return;
	/* One write per line so lines from several threads never interleave. */
	if (getenv("JOURNAL_STREAM"))
		off = (size_t)snprintf(line, sizeof(line), "<%d>", (int)level);
	else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off = strftime(line, sizeof(line), "%H:%M:%S", &tm);
		off += (size_t)snprintf(line + off, sizeof(line) - off, ".%03ld ",
					ts.tv_nsec / 1000000);
	}
	off += (size_t)snprintf(line + off, sizeof(line) - off, "%-7s %s: ", level_names[level],
				module);
	if (off < sizeof(line)) {
		va_start(ap, fmt);
		vsnprintf(line + off, sizeof(line) - off, fmt, ap);
		va_end(ap);
	}
	line[sizeof(line) - 2] = '\0';
	off = strlen(line);
	line[off++] = '\n';
	fwrite(line, 1, off, stderr);
}
