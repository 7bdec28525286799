#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAX_ENTRIES 1024

struct config_entry {
	char *section;
	char *key;
	char *value;
	int line;
	bool used;
};

struct config {
	char *name;
	char *base_dir;
	struct config_entry *entries;
	size_t n;
	char **sections;
	size_t nsections;
};

static int fail(struct config_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static char *trim(char *s)
{
	char *end;

	while (*s && isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

void config_free(struct config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->entries[i].section);
		free(c->entries[i].key);
		free(c->entries[i].value);
	}
	for (i = 0; i < c->nsections; i++)
		free(c->sections[i]);
	free(c->sections);
	free(c->entries);
	free(c->name);
	free(c->base_dir);
	free(c);
}

static struct config_entry *find(const struct config *c, const char *section, const char *key)
{
	size_t i;

	/* Later lines win, so search backwards. */
	for (i = c->n; i > 0; i--) {
		struct config_entry *e = &c->entries[i - 1];

		if (strcmp(e->section, section) == 0 && strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

static int add_section(struct config *c, const char *name)
{
	char **grown;
	size_t i;

	for (i = 0; i < c->nsections; i++)
		if (strcmp(c->sections[i], name) == 0)
			return 0;
	grown = realloc(c->sections, (c->nsections + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	c->sections = grown;
	c->sections[c->nsections] = strdup(name);
	if (!c->sections[c->nsections])
		return -ENOMEM;
	c->nsections++;
	return 0;
}

int config_load_string(const char *name, const char *base_dir, const char *text,
		       struct config **ret, struct config_error *err)
{
	struct config *c;
	char section[128] = "";
	const char *p = text;
	int lineno = 0, rc;

	*ret = NULL;
	if (strlen(text) > CONFIG_MAX_BYTES)
		return fail(err, -EFBIG,
			    "%s: larger than %d bytes; a config file this size is a mistake", name,
			    CONFIG_MAX_BYTES);
	c = calloc(1, sizeof(*c));
	if (!c)
		return fail(err, -ENOMEM, "%s: out of memory", name);
	c->name = strdup(name);
	c->base_dir = strdup(base_dir ? base_dir : ".");
	c->entries = calloc(CONFIG_MAX_ENTRIES, sizeof(*c->entries));
	if (!c->name || !c->base_dir || !c->entries) {
		rc = fail(err, -ENOMEM, "%s: out of memory", name);
		goto free_config;
	}

	while (*p) {
		char line[CONFIG_MAX_LINE + 2], *s, *eq, *key, *value;
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		lineno++;
		if (len > CONFIG_MAX_LINE) {
			rc = fail(err, -EINVAL, "%s:%d: line longer than %d characters", name,
				  lineno, CONFIG_MAX_LINE);
			goto free_config;
		}
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (nl ? 1 : 0);

		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			if (!close || *trim(close + 1)) {
				rc = fail(err, -EINVAL,
					  "%s:%d: expected a section header like [ble], got '%s'",
					  name, lineno, s);
				goto free_config;
			}
			*close = '\0';
			s = trim(s + 1);
			if (!valid_name(s) || strlen(s) >= sizeof(section)) {
				rc = fail(err, -EINVAL,
					  "%s:%d: section name '%s' must be letters, digits, '_', "
					  "'-' or '.'",
					  name, lineno, s);
				goto free_config;
			}
			strcpy(section, s);
			if (add_section(c, section) < 0) {
				rc = fail(err, -ENOMEM, "%s: out of memory", name);
				goto free_config;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			rc = fail(err, -EINVAL, "%s:%d: expected 'key = value', got '%s'", name,
				  lineno, s);
			goto free_config;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (!section[0]) {
			rc = fail(err, -EINVAL,
				  "%s:%d: key '%s' comes before any [section]; put it under one",
				  name, lineno, key);
			goto free_config;
		}
		if (!valid_name(key)) {
			rc = fail(err, -EINVAL,
				  "%s:%d: key '%s' must be letters, digits, '_', '-' or '.'", name,
				  lineno, key);
			goto free_config;
		}
		if (c->n >= CONFIG_MAX_ENTRIES) {
			rc = fail(err, -E2BIG, "%s:%d: more than %d keys", name, lineno,
				  CONFIG_MAX_ENTRIES);
			goto free_config;
		}
		/* An unquoted value ends at a " #" or " ;" comment. */
		if (value[0] != '"' && value[0] != '\'') {
			char *q;

			for (q = value; *q; q++)
				if ((*q == '#' || *q == ';') &&
				    (q == value || isspace((unsigned char)q[-1]))) {
					*q = '\0';
					value = trim(value);
					break;
				}
		}
		/* Strip one pair of matching quotes so values may keep spaces. */
		len = strlen(value);
		if (len >= 2 && (value[0] == '"' || value[0] == '\'') &&
		    value[len - 1] == value[0]) {
			value[len - 1] = '\0';
			value++;
		}
		c->entries[c->n].section = strdup(section);
		c->entries[c->n].key = strdup(key);
		c->entries[c->n].value = strdup(value);
		c->entries[c->n].line = lineno;
		if (!c->entries[c->n].section || !c->entries[c->n].key || !c->entries[c->n].value) {
			c->n++;
			rc = fail(err, -ENOMEM, "%s: out of memory", name);
			goto free_config;
		}
		c->n++;
	}
	*ret = c;
	return 0;

free_config:
	config_free(c);
	return rc;
}

int config_load(const char *path, struct config **ret, struct config_error *err)
{
	char *text = NULL, *dir, *slash;
	struct stat st;
	FILE *f;
	int rc;

	*ret = NULL;
	f = fopen(path, "r");
	if (!f)
		return fail(err, -errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) < 0) {
		rc = fail(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
		goto close_file;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		rc = fail(err, -EFBIG,
			  "%s: larger than %d bytes; a config file this size is a mistake", path,
			  CONFIG_MAX_BYTES);
		goto close_file;
	}
	text = calloc(1, (size_t)st.st_size + 1);
	if (!text) {
		rc = fail(err, -ENOMEM, "%s: out of memory", path);
		goto close_file;
	}
	if (fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		rc = fail(err, -EIO, "%s: short read", path);
		goto free_text;
	}
	if (memchr(text, '\0', (size_t)st.st_size)) {
		rc = fail(err, -EINVAL, "%s: contains a NUL byte; is this a text file?", path);
		goto free_text;
	}
	dir = strdup(path);
	if (!dir) {
		rc = fail(err, -ENOMEM, "%s: out of memory", path);
		goto free_text;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	rc = config_load_string(path, slash ? (dir[0] ? dir : "/") : ".", text, ret, err);
	free(dir);
free_text:
	free(text);
close_file:
	fclose(f);
	return rc;
}

const char *config_name(const struct config *c)
{
	return c->name;
}

bool config_has_section(const struct config *c, const char *section)
{
	size_t i;

	for (i = 0; i < c->nsections; i++)
		if (strcmp(c->sections[i], section) == 0)
			return true;
	return false;
}

const char *config_get(const struct config *c, const char *section, const char *key)
{
	struct config_entry *e = find(c, section, key);
	size_t i;

	if (!e)
		return NULL;
	/* A repeated key is overridden, not unknown: mark every copy used. */
	for (i = 0; i < c->n; i++)
		if (strcmp(c->entries[i].section, section) == 0 &&
		    strcmp(c->entries[i].key, key) == 0)
			c->entries[i].used = true;
	return e->value;
}

static int bad_value(const struct config *c, const char *section, const char *key,
		     const char *expected, struct config_error *err)
{
	const struct config_entry *e = find(c, section, key);

	if (e && e->line == 0)
		return fail(err, -EINVAL, "--set %s.%s: expected %s, got '%s'", section, key,
			    expected, e->value);
	return fail(err, -EINVAL, "%s:%d: [%s] %s: expected %s, got '%s'", c->name, e ? e->line : 0,
		    section, key, expected, e ? e->value : "");
}

int config_set(struct config *c, const char *assignment, struct config_error *err)
{
	char section[128], key[128];
	const char *dot, *eq;
	struct config_entry *e;

	dot = strchr(assignment, '.');
	eq = strchr(assignment, '=');
	if (!dot || !eq || dot > eq || dot == assignment || eq == dot + 1 ||
	    (size_t)(dot - assignment) >= sizeof(section) || (size_t)(eq - dot - 1) >= sizeof(key))
		return fail(err, -EINVAL, "--set %s: expected section.key=value", assignment);
	memcpy(section, assignment, (size_t)(dot - assignment));
	section[dot - assignment] = '\0';
	memcpy(key, dot + 1, (size_t)(eq - dot - 1));
	key[eq - dot - 1] = '\0';
	if (!valid_name(section) || !valid_name(key))
		return fail(err, -EINVAL,
			    "--set %s: section and key must be letters, digits, "
			    "'_', '-' or '.'",
			    assignment);
	if (c->n >= CONFIG_MAX_ENTRIES)
		return fail(err, -E2BIG, "--set %s: more than %d keys", assignment,
			    CONFIG_MAX_ENTRIES);
	e = &c->entries[c->n];
	e->section = strdup(section);
	e->key = strdup(key);
	e->value = strdup(eq + 1);
	e->line = 0;
	c->n++;
	if (!e->section || !e->key || !e->value || add_section(c, section) < 0)
		return fail(err, -ENOMEM, "out of memory");
	return 0;
}

int config_str(const struct config *c, const char *section, const char *key, const char *def,
	       bool required, const char **ret, struct config_error *err)
{
	const char *v = config_get(c, section, key);

	if (!v && required)
		return fail(err, -EINVAL, "%s: [%s] %s: missing; this key is required", c->name,
			    section, key);
	*ret = v ? v : def;
	return 0;
}

int config_int(const struct config *c, const char *section, const char *key, long def, long min,
	       long max, long *ret, struct config_error *err)
{
	const char *v = config_get(c, section, key);
	char expected[96], *end;
	long n;

	if (!v) {
		*ret = def;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 0);
	if (errno || end == v || *end || n < min || n > max) {
		snprintf(expected, sizeof(expected), "a whole number from %ld to %ld", min, max);
		return bad_value(c, section, key, expected, err);
	}
	*ret = n;
	return 0;
}

int config_double(const struct config *c, const char *section, const char *key, double def,
		  double min, double max, double *ret, struct config_error *err)
{
	const char *v = config_get(c, section, key);
	char expected[96], *end;
	double d;

	if (!v) {
		*ret = def;
		return 0;
	}
	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < min || d > max) {
		snprintf(expected, sizeof(expected), "a number from %g to %g", min, max);
		return bad_value(c, section, key, expected, err);
	}
	*ret = d;
	return 0;
}

int config_bool(const struct config *c, const char *section, const char *key, bool def, bool *ret,
		struct config_error *err)
{
	static const char *const words[] = {"false", "true", "no", "yes", "off",
					    "on",    "0",    "1",  NULL};
	const char *v = config_get(c, section, key);
	int i;

	if (!v) {
		*ret = def;
		return 0;
	}
	for (i = 0; words[i]; i++)
		if (strcasecmp(v, words[i]) == 0) {
			*ret = i % 2 == 1;
			return 0;
		}
	return bad_value(c, section, key, "true or false", err);
}

int config_enum(const struct config *c, const char *section, const char *key, const char *def,
		const char *const *words, int *ret, struct config_error *err)
{
	const char *v = config_get(c, section, key);
	char expected[256];
	size_t off = 0;
	int i;

	if (!v)
		v = def;
	for (i = 0; words[i]; i++)
		if (v && strcmp(v, words[i]) == 0) {
			*ret = i;
			return 0;
		}
	off = (size_t)snprintf(expected, sizeof(expected), "one of");
	for (i = 0; words[i] && off < sizeof(expected); i++)
		off += (size_t)snprintf(expected + off, sizeof(expected) - off, "%s %s",
					i ? "," : "", words[i]);
	if (!find(c, section, key))
		return fail(err, -EINVAL, "%s: [%s] %s: missing; expected %s", c->name, section,
			    key, expected);
	return bad_value(c, section, key, expected, err);
}

int config_path(const struct config *c, const char *section, const char *key, const char *def,
		bool required, char *buf, size_t len, struct config_error *err)
{
	const char *v = NULL;
	int n, rc;

	rc = config_str(c, section, key, def, required, &v, err);
	if (rc < 0)
		return rc;
	if (!v) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	if (!*v)
		return bad_value(c, section, key, "a path", err);
	if (v[0] == '/')
		n = snprintf(buf, len, "%s", v);
	else
		n = snprintf(buf, len, "%s/%s", c->base_dir, v);
	if (n < 0 || (size_t)n >= len)
		return fail(err, -ENAMETOOLONG, "%s: [%s] %s: path longer than %zu bytes", c->name,
			    section, key, len - 1);
	return 0;
}

int config_check_unused(const struct config *c, struct config_error *err)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!c->entries[i].used && c->entries[i].line == 0)
			return fail(err, -EINVAL,
				    "--set %s.%s: unknown key; check the spelling "
				    "against config/edgebox.conf",
				    c->entries[i].section, c->entries[i].key);
		else if (!c->entries[i].used)
			return fail(err, -EINVAL,
				    "%s:%d: [%s] %s: unknown key; check the spelling against "
				    "config/edgebox.conf",
				    c->name, c->entries[i].line, c->entries[i].section,
				    c->entries[i].key);
	return 0;
}
