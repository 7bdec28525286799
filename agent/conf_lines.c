#include "agent/conf_lines.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hal/errmsg.h"

char *conf_lines_trim(char *s)
{
	char *end;

	while (*s && isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int conf_lines_each(const struct conf_lines_ops *ops, const char *name, const char *text, void *ctx,
		    char *err, size_t errlen)
{
	bool in_section = false;
	int lineno = 0, rc;

	if (!ops || !name || !text || !ops->section_example || !ops->section || !ops->entry ||
	    ops->max_line == 0 || ops->max_line > CONF_LINES_MAX_LINE)
		return -EINVAL;
	while (*text) {
		char line[CONF_LINES_MAX_LINE + 1], *s, *eq;
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		size_t next = len + (nl ? 1 : 0);

		lineno++;
		if (len > 0 && text[len - 1] == '\r')
			len--; /* a CRLF line end is not part of the line */
		if (len > ops->max_line)
			return errmsg(
			    err, errlen, -EINVAL, "%s:%d: line longer than %zu characters%s", name,
			    lineno, ops->max_line, ops->long_line_hint ? ops->long_line_hint : "");
		memcpy(line, text, len);
		line[len] = '\0';
		text += next;
		s = conf_lines_trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			if (!close || *conf_lines_trim(close + 1))
				return errmsg(
				    err, errlen, -EINVAL,
				    "%s:%d: expected a section header like [%s], got '%s'", name,
				    lineno, ops->section_example, s);
			*close = '\0';
			rc = ops->section(ctx, lineno, conf_lines_trim(s + 1));
			if (rc < 0)
				return rc;
			in_section = true;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			return errmsg(err, errlen, -EINVAL,
				      "%s:%d: expected 'key = value', got '%s'", name, lineno, s);
		*eq = '\0';
		s = conf_lines_trim(s);
		if (!in_section)
			return errmsg(err, errlen, -EINVAL,
				      "%s:%d: '%s' comes before any [section]; put it under one",
				      name, lineno, s);
		rc = ops->entry(ctx, lineno, s, conf_lines_trim(eq + 1));
		if (rc < 0)
			return rc;
	}
	return 0;
}
