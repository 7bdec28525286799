#include "agent/sse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BOM_LEN 3
static const unsigned char bom[BOM_LEN] = {0xef, 0xbb, 0xbf};

struct sse_parser {
	size_t max_line, max_data;
	char *line; /* max_line + 1 */
	size_t line_len;
	char *data; /* max_data + 2: room for the '\n' after the last line and a NUL */
	size_t data_len;
	bool has_data;
	char event[SSE_FIELD_MAX + 1];
	size_t event_len;
	char id[SSE_FIELD_MAX + 1];
	long retry_ms;
	unsigned bom_seen; /* BOM bytes matched so far; BOM_LEN once decided */
	bool after_cr;	   /* the previous byte was a CR: a following LF is part of it */
	int error;
	uint64_t bytes, events;
};

int sse_parser_new(size_t max_line, size_t max_data, struct sse_parser **ret)
{
	struct sse_parser *p;

	if (max_line < SSE_LIMIT_MIN || max_line > SSE_LIMIT_MAX || max_data < SSE_LIMIT_MIN ||
	    max_data > SSE_LIMIT_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->line = malloc(max_line + 1);
	p->data = malloc(max_data + 2);
	if (!p->line || !p->data) {
		sse_parser_free(p);
		return -ENOMEM;
	}
	p->max_line = max_line;
	p->max_data = max_data;
	sse_parser_reset(p);
	*ret = p;
	return 0;
}

void sse_parser_free(struct sse_parser *p)
{
	if (!p)
		return;
	free(p->line);
	free(p->data);
	free(p);
}

void sse_parser_reset(struct sse_parser *p)
{
	p->line_len = 0;
	p->data_len = 0;
	p->has_data = false;
	p->event_len = 0;
	p->event[0] = '\0';
	p->id[0] = '\0';
	p->retry_ms = -1;
	p->bom_seen = 0;
	p->after_cr = false;
	p->error = 0;
	p->bytes = 0;
	p->events = 0;
}

static int dispatch(struct sse_parser *p, sse_event_fn fn, void *ctx)
{
	struct sse_event ev;
	int rc;

	if (!p->has_data) {
		/* No data line: nothing to dispatch, but the name is spent. */
		p->event_len = 0;
		p->event[0] = '\0';
		return 0;
	}
	/* Every data line appended a '\n'; the last one is not part of the data. */
	p->data_len--;
	p->data[p->data_len] = '\0';
	ev.event = p->event_len ? p->event : "message";
	ev.data = p->data;
	ev.data_len = p->data_len;
	ev.id = p->id;
	p->events++;
	rc = fn ? fn(ctx, &ev) : 0;
	p->data_len = 0;
	p->has_data = false;
	p->event_len = 0;
	p->event[0] = '\0';
	return rc < 0 ? rc : 1;
}

static bool all_digits(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* One complete line (without its end) is in p->line. >0 when an event was
 * dispatched, 0 when not, <0 on error. */
static int process_line(struct sse_parser *p, sse_event_fn fn, void *ctx)
{
	const char *line = p->line, *value;
	size_t len = p->line_len, name_len, value_len;
	const char *colon;

	p->line_len = 0;
	if (len == 0)
		return dispatch(p, fn, ctx);
	if (line[0] == ':')
		return 0;
	colon = memchr(line, ':', len);
	if (colon) {
		name_len = (size_t)(colon - line);
		value = colon + 1;
		value_len = len - name_len - 1;
		if (value_len && *value == ' ') {
			value++;
			value_len--;
		}
	} else {
		name_len = len;
		value = line + len;
		value_len = 0;
	}

	if (name_len == 4 && memcmp(line, "data", 4) == 0) {
		if (p->data_len + value_len > p->max_data)
			return -E2BIG;
		memcpy(p->data + p->data_len, value, value_len);
		p->data_len += value_len;
		p->data[p->data_len++] = '\n';
		p->has_data = true;
	} else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
		if (value_len > SSE_FIELD_MAX)
			return -E2BIG;
		memcpy(p->event, value, value_len);
		p->event[value_len] = '\0';
		p->event_len = value_len;
	} else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
		/* An id with a NUL in it is ignored, as the format says. */
		if (memchr(value, '\0', value_len))
			return 0;
		if (value_len > SSE_FIELD_MAX)
			return -E2BIG;
		memcpy(p->id, value, value_len);
		p->id[value_len] = '\0';
	} else if (name_len == 5 && memcmp(line, "retry", 5) == 0) {
		if (all_digits(value, value_len) && value_len <= 9)
			p->retry_ms = strtol(value, NULL, 10);
	}
	return 0;
}

/* Appends bytes that contain no line end to the current line. */
static int append_line(struct sse_parser *p, const char *s, size_t n)
{
	if (n > p->max_line - p->line_len)
		return -E2BIG;
	memcpy(p->line + p->line_len, s, n);
	p->line_len += n;
	return 0;
}

static int feed_bytes(struct sse_parser *p, const char *s, size_t len, sse_event_fn fn, void *ctx,
		      int *events)
{
	size_t i = 0, j;
	int rc;

	while (i < len) {
		if (p->after_cr) {
			p->after_cr = false;
			if (s[i] == '\n') {
				i++;
				continue;
			}
		}
		for (j = i; j < len && s[j] != '\n' && s[j] != '\r'; j++)
			;
		rc = append_line(p, s + i, j - i);
		if (rc < 0)
			return rc;
		if (j == len)
			break;
		p->after_cr = s[j] == '\r';
		rc = process_line(p, fn, ctx);
		if (rc < 0)
			return rc;
		*events += rc;
		i = j + 1;
	}
	return 0;
}

int sse_feed(struct sse_parser *p, const void *buf, size_t len, sse_event_fn fn, void *ctx)
{
	const unsigned char *u = buf;
	size_t i = 0;
	int events = 0, rc;

	if (p->error)
		return p->error;
	p->bytes += len;
	/* A BOM is only a BOM at the very start, even split over chunks. */
	while (p->bom_seen < BOM_LEN && i < len) {
		if (u[i] == bom[p->bom_seen]) {
			p->bom_seen++;
			i++;
			continue;
		}
		/* Not a BOM after all: the bytes matched so far are text. */
		rc = feed_bytes(p, (const char *)bom, p->bom_seen, fn, ctx, &events);
		p->bom_seen = BOM_LEN;
		if (rc < 0)
			goto fail;
	}
	rc = feed_bytes(p, (const char *)u + i, len - i, fn, ctx, &events);
	if (rc < 0)
		goto fail;
	return events;
fail:
	p->error = rc;
	return rc;
}

int sse_finish(struct sse_parser *p)
{
	if (p->error)
		return p->error;
	/* A stream of one to two bytes of a would-be BOM is a partial line. */
	if (p->line_len || p->has_data || (p->bom_seen > 0 && p->bom_seen < BOM_LEN))
		return -EPIPE;
	return 0;
}

long sse_retry_ms(const struct sse_parser *p)
{
	return p->retry_ms;
}

uint64_t sse_bytes(const struct sse_parser *p)
{
	return p->bytes;
}

uint64_t sse_events(const struct sse_parser *p)
{
	return p->events;
}
