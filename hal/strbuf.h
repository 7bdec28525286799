/*
 * strbuf — a growing string, optionally capped. Reports, transcripts and
 * support bundles are built with it: what does not fit under the cap is cut
 * at a UTF-8 character boundary and marked once with the caller's mark
 * ("...", "[... cut here]"); an allocation failure also stops it (cut set).
 * Nothing is ever written past the cap, so a report cannot grow without
 * bound however much a test or a log says.
 *
 *	struct strbuf b;
 *
 *	strbuf_init(&b, 64 * 1024, "...");
 *	strbuf_add(&b, "%s: %d\n", name, n);
 *	char *text = strbuf_take(&b); // the caller frees it
 *
 * A zeroed struct strbuf is a valid empty builder with no cap and no mark.
 * Not thread-safe; one builder per string.
 */
#ifndef HAL_STRBUF_H
#define HAL_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *p; /* NUL-terminated once anything was added */
	size_t len, cap;
	size_t max;	  /* bytes of text at most, the mark included; 0: no cap */
	const char *mark; /* appended when cut; "" or NULL: none */
	bool cut;	  /* something was left out (the cap, or out of memory) */
};

/* An empty builder: max bytes of text at most (0: no cap), mark as above. */
void strbuf_init(struct strbuf *b, size_t max, const char *mark);
/* Appends n bytes of s. */
void strbuf_put(struct strbuf *b, const char *s, size_t n);
void strbuf_str(struct strbuf *b, const char *s);
void strbuf_add(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vadd(struct strbuf *b, const char *fmt, va_list ap);
/* The text, owned by the caller ("" when nothing was added; NULL only when
 * even that cannot be allocated); b is empty again. */
char *strbuf_take(struct strbuf *b);
/* Frees the text; b is empty again. */
void strbuf_free(struct strbuf *b);

#endif
