/*
 * sse — an incremental parser for server-sent events (the WHATWG
 * "text/event-stream" format), as used by OpenAI-compatible streaming.
 *
 * Bytes are fed in chunks split anywhere: mid-line, mid-UTF-8 character,
 * between the CR and the LF of a CRLF. Lines end with CR, LF or CRLF; a
 * leading UTF-8 BOM is dropped; lines starting with ':' are comments
 * (keep-alives); "data" lines are joined with '\n'; a blank line dispatches
 * the event. Unknown fields are ignored; an event with no data line is not
 * dispatched; an unterminated event at the end of the stream is discarded
 * (sse_finish says so). The parser works on bytes and never decodes UTF-8:
 * a character split across chunks is whole again in the event's data.
 *
 * Memory: every buffer is allocated once by sse_parser_new and bounded by its
 * limits; feeding never allocates. A line or an event over its limit is an
 * error (-E2BIG), never silently truncated.
 */
#ifndef AGENT_SSE_H
#define AGENT_SSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest event name and id accepted (bytes). */
#define SSE_FIELD_MAX 256
/* Smallest and largest line / event limits sse_parser_new accepts. */
#define SSE_LIMIT_MIN 16
#define SSE_LIMIT_MAX (64u * 1024 * 1024)

struct sse_parser;

struct sse_event {
	const char *event; /* "message" unless an "event:" line named it */
	const char *data;  /* the data lines joined with '\n', NUL-terminated */
	size_t data_len;
	const char *id; /* the last event id seen on this stream ("" if none) */
};

/*
 * Called once per dispatched event. The strings belong to the parser and are
 * valid until the callback returns. Return 0 to go on, or a negative errno
 * to stop: sse_feed returns it, and the parser stays stopped (sticky) until
 * sse_parser_reset.
 */
typedef int (*sse_event_fn)(void *ctx, const struct sse_event *ev);

/*
 * A parser accepting lines of at most max_line bytes (without the line end)
 * and events whose data is at most max_data bytes (the joined data, without
 * the final '\n'). On success *ret is owned by the caller (sse_parser_free).
 * Errors: -EINVAL (a limit outside SSE_LIMIT_MIN..SSE_LIMIT_MAX), -ENOMEM.
 */
int sse_parser_new(size_t max_line, size_t max_data, struct sse_parser **ret);

/* NULL is fine. */
void sse_parser_free(struct sse_parser *p);

/* Forgets everything (a new stream): buffers, last event id, BOM state,
 * errors. Keeps the limits and the memory. */
void sse_parser_reset(struct sse_parser *p);

/*
 * Parses len bytes of buf, calling fn for each complete event. Returns the
 * number of events dispatched, or a negative errno; errors are sticky (every
 * later call returns the same until sse_parser_reset):
 *   -E2BIG  a line longer than max_line, an event's data longer than
 *           max_data, or an event name or id longer than SSE_FIELD_MAX
 *   <0      whatever fn returned to stop
 * buf may be NULL when len is 0.
 */
int sse_feed(struct sse_parser *p, const void *buf, size_t len, sse_event_fn fn, void *ctx);

/*
 * The stream ended. 0 when it ended cleanly between events, -EPIPE when an
 * unterminated line or event was pending (it is discarded, as the format
 * requires), or the sticky error.
 */
int sse_finish(struct sse_parser *p);

/* The last valid "retry:" value in milliseconds, -1 if none was sent. */
long sse_retry_ms(const struct sse_parser *p);

/* Bytes fed and events dispatched since the last reset. */
uint64_t sse_bytes(const struct sse_parser *p);
uint64_t sse_events(const struct sse_parser *p);

#endif
