/*
 * config — the daemon's INI-style configuration.
 *
 *   # comment
 *   [section]
 *   key = value
 *
 * Every value remembers its file and line, so any error a reader reports
 * names the file, the line, the key, what was expected and what was found.
 * Readers mark the keys they use; config_check_unused() then reports a key
 * nobody read (almost always a typo), so the daemon refuses to start on it.
 * Relative paths in values are resolved against the config file's folder.
 */
#ifndef FIRMWARE_CONFIG_H
#define FIRMWARE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_MAX_BYTES (256 * 1024)
#define CONFIG_MAX_LINE 1024
#define CONFIG_ERROR_MAX 512

struct config;

struct config_error {
	char msg[CONFIG_ERROR_MAX];
};

/*
 * Parses the file at path. On success *ret owns a new config (free with
 * config_free). Errors: -ENOENT/-EACCES/... (cannot read), -EFBIG (over
 * CONFIG_MAX_BYTES), -EINVAL (syntax); err->msg says which and where.
 */
int config_load(const char *path, struct config **ret, struct config_error *err);

/* Same as config_load but from memory; name is used in messages and base_dir
 * for resolving relative paths (NULL: the current folder). */
int config_load_string(const char *name, const char *base_dir, const char *text,
		       struct config **ret, struct config_error *err);

void config_free(struct config *c);

/* The file the config was read from (for messages). Never NULL. */
const char *config_name(const struct config *c);

/* Raw value or NULL when the key is absent; marks the key used. The string is
 * owned by the config. */
const char *config_get(const struct config *c, const char *section, const char *key);

/* Is the section present at all? */
bool config_has_section(const struct config *c, const char *section);

/*
 * Typed readers. Each returns 0 and writes *ret (def when the key is absent
 * and not required), or -EINVAL with err->msg naming file, line, section,
 * key, the expected form and the value found. A required key passes
 * required=true and gets -EINVAL naming the missing key.
 */
int config_str(const struct config *c, const char *section, const char *key, const char *def,
	       bool required, const char **ret, struct config_error *err);
int config_int(const struct config *c, const char *section, const char *key, long def, long min,
	       long max, long *ret, struct config_error *err);
int config_double(const struct config *c, const char *section, const char *key, double def,
		  double min, double max, double *ret, struct config_error *err);
int config_bool(const struct config *c, const char *section, const char *key, bool def, bool *ret,
		struct config_error *err);
/* One of a list of words (NULL-terminated); *ret is its index. */
int config_enum(const struct config *c, const char *section, const char *key, const char *def,
		const char *const *words, int *ret, struct config_error *err);
/*
 * A path: relative values are resolved against the config file's folder and
 * written to buf (size len). -ENAMETOOLONG if it does not fit.
 */
int config_path(const struct config *c, const char *section, const char *key, const char *def,
		bool required, char *buf, size_t len, struct config_error *err);

/*
 * Adds or overrides one value from the command line, "section.key=value"
 * (edgeboxd --set). Errors name the assignment: -EINVAL, -E2BIG, -ENOMEM.
 */
int config_set(struct config *c, const char *assignment, struct config_error *err);

/* -EINVAL naming the first key that no reader asked for, 0 if none. */
int config_check_unused(const struct config *c, struct config_error *err);

#endif
