/*
 * conf_lines — the line tokenizer of the agent's INI-style files (the skills
 * manifest, the signal cues, the archetypes).
 *
 * Splits text into lines (LF or CRLF; the last line needs no newline),
 * refuses a line over the format's limit, trims each line, skips blank lines
 * and lines starting with '#' or ';', and hands every "[section]" header and
 * every "key = value" line (split at the first '=') to the caller's
 * callbacks, in file order, with its line number. A "key = value" before any
 * section header is refused here, so an entry callback always has a section.
 * What a section or key means is the caller's business.
 *
 * Pure functions, no allocation, thread-safe.
 */
#ifndef AGENT_CONF_LINES_H
#define AGENT_CONF_LINES_H

#include <stddef.h>

/* The longest max_line a format may set: lines are copied to a stack buffer. */
#define CONF_LINES_MAX_LINE 1024

/*
 * A file format: its limits, what its messages say, and its callbacks. Both
 * callbacks return 0 to go on or a negative errno to stop the walk; that
 * value is returned as is, and the callback writes its own message (through
 * ctx), conf_lines_each() leaves err alone. Strings point into a scratch copy
 * of the line, valid only during the call; the callback may write into it
 * (within the string), e.g. to split off a trailing word.
 */
struct conf_lines_ops {
	size_t max_line;	     /* bytes in one line, its line end not counted */
	const char *section_example; /* "objection": "expected a section header like [objection]" */
	const char *long_line_hint;  /* appended to "line longer than N characters", or NULL */
	/* name: the trimmed text between the brackets, may be empty. */
	int (*section)(void *ctx, int line, const char *name);
	/* key and value trimmed; key may be empty ("= x"), value too ("x ="). */
	int (*entry)(void *ctx, int line, const char *key, char *value);
};

/*
 * Walks the NUL-terminated text, calling ops->section and ops->entry with
 * ctx. name is the file named in messages ("NAME:LINE: ..."). On error err
 * (errlen bytes, may be NULL) gets the message: "line longer than N
 * characters", "expected a section header like [X], got '...'" (no ']', or
 * text after it), "expected 'key = value', got '...'", "'KEY' comes before
 * any [section]; put it under one". Nothing is kept: text, ctx and err stay
 * the caller's.
 * Errors: -EINVAL (NULL name, text, ops, section_example or callback,
 * max_line 0 or over CONF_LINES_MAX_LINE, or one of the messages above), or
 * whatever a callback returned.
 */
int conf_lines_each(const struct conf_lines_ops *ops, const char *name, const char *text, void *ctx,
		    char *err, size_t errlen);

/* Trims ASCII white space (isspace, so '\r' too) off both ends of s, in place. */
char *conf_lines_trim(char *s);

#endif
