/*
 * log — the daemon's one place that prints. Library modules return errors;
 * the daemon logs each failure once, here, with the fix when there is one.
 * Lines go to stderr (journald adds the time under systemd) as
 * "<level> <module>: message"; the level prefix "<N>" is added when
 * running under systemd so the journal keeps priorities.
 */
#ifndef FIRMWARE_LOG_H
#define FIRMWARE_LOG_H

enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warning", "notice", "info" or "debug"; -EINVAL otherwise. */
int log_level_from_string(const char *s, enum log_level *ret);

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(mod, ...) log_msg(LOG_LEVEL_ERROR, mod, __VA_ARGS__)
#define log_warning(mod, ...) log_msg(LOG_LEVEL_WARNING, mod, __VA_ARGS__)
#define log_notice(mod, ...) log_msg(LOG_LEVEL_NOTICE, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_msg(LOG_LEVEL_DEBUG, mod, __VA_ARGS__)

#endif
