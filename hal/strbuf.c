#include "hal/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *b, size_t max, const char *mark)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
	b->mark = mark ? mark : "";
}

static bool grow(struct strbuf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (need <= b->cap)
		return true;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return false;
	b->p = p;
	b->cap = cap;
	return true;
}

void strbuf_put(struct strbuf *b, const char *s, size_t n)
{
	size_t mark = b->mark ? strlen(b->mark) : 0, room;

	if (b->cut)
		return;
	if (b->max && b->len + n > b->max) {
		/* what fits before the mark, cut at a character boundary; when the
		 * text so far leaves no room for the mark, it gives way */
		room = b->max > b->len + mark ? b->max - b->len - mark : 0;
		while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80)
			room--;
		if (b->len + mark > b->max) {
			b->len = b->max > mark ? b->max - mark : 0;
			while (b->len > 0 && ((unsigned char)b->p[b->len] & 0xC0) == 0x80)
				b->len--;
		}
		b->cut = true;
		if (!grow(b, b->len + room + mark + 1))
			return;
		memcpy(b->p + b->len, s, room);
		if (mark)
			memcpy(b->p + b->len + room, b->mark, mark);
		b->len += room + mark;
		b->p[b->len] = '\0';
		return;
	}
	if (!grow(b, b->len + n + 1)) {
		b->cut = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void strbuf_str(struct strbuf *b, const char *s)
{
	strbuf_put(b, s, strlen(s));
}

void strbuf_vadd(struct strbuf *b, const char *fmt, va_list ap)
{
	char small[512], *big = NULL;
	va_list ap2;
	int n;

	if (b->cut)
		return;
	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		strbuf_put(b, small, (size_t)n);
		return;
	}
	big = malloc((size_t)n + 1);
	if (!big) {
		b->cut = true;
		return;
	}
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	strbuf_put(b, big, (size_t)n);
	free(big);
}

void strbuf_add(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vadd(b, fmt, ap);
	va_end(ap);
}

char *strbuf_take(struct strbuf *b)
{
	char *s = b->p ? b->p : strdup("");

	b->p = NULL;
	b->len = b->cap = 0;
	b->cut = false;
	return s;
}

void strbuf_free(struct strbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->cut = false;
}
