/*
 * normalize — the matching view of a customer message for the scope guard.
 *
 * UTF-8 in, lower-case ASCII out: compatibility forms folded (fullwidth,
 * mathematical alphanumerics, circled and parenthesised letters, ligatures,
 * letters with diacritics, Cyrillic/Greek letters that look Latin), zero-width
 * and control characters dropped, whitespace collapsed, '@' '$' '|' '!' used
 * as letters turned back into letters, spaced-out words ("c a n c e l",
 * "c.a.n.c.e.l") joined, hyphens inside words dropped ("can-cel") and letter
 * runs ("cancelllll") shortened to one letter. Digits are kept as digits: "c4nc3l" stays "c4nc3l"
 * and the scope guard's patterns accept a digit where a letter looks like it (see
 * docs/scope-guard.md), so card numbers and prices survive normalisation.
 *
 * The view is for matching only; the customer's own text is what the rest of
 * the system keeps. Pure functions, no allocation, thread-safe.
 */
#ifndef AGENT_NORMALIZE_H
#define AGENT_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

/* The largest input normalize_text() takes. */
#define NORMALIZE_MAX_BYTES (64 * 1024)

/* What normalize_text() saw on the way. */
struct normalize_info {
	size_t invalid;	 /* bytes that are not valid UTF-8 (each became a separator) */
	size_t controls; /* control characters dropped (C0 other than whitespace, DEL, C1) */
	size_t nul;	 /* NUL bytes (also counted in controls) */
	size_t dropped;	 /* zero-width, format, combining and variation characters */
	size_t folded;	 /* non-ASCII characters folded to ASCII */
	size_t joined;	 /* spaced-out runs joined back into words */
};

/*
 * Writes the matching view of in[0..len) to out (cap bytes, NUL-terminated)
 * and returns its length. The view is never longer than len; cap must be at
 * least len + 1. info (may be NULL) gets the counts above.
 * Errors: -EINVAL (NULL in/out), -E2BIG (len over NORMALIZE_MAX_BYTES),
 * -ENOBUFS (cap below len + 1; out is then an empty string).
 * Invalid UTF-8 is never an error: each bad byte becomes a separator.
 */
int normalize_text(const char *in, size_t len, char *out, size_t cap, struct normalize_info *info);

/*
 * Is a message of len bytes with these counts binary rather than text? True
 * when it holds a NUL byte, or when at least one byte in eight is invalid
 * UTF-8 or a control character. Such a message is refused, not matched.
 */
bool normalize_is_binary(const struct normalize_info *info, size_t len);

/*
 * Decodes the escapes people use to write invisible or odd characters on a
 * terminal or in a corpus file: \u{XXXX} (a code point as UTF-8), \xHH (one
 * raw byte, may be invalid UTF-8), \t, \n, \r, \0 and \\. Any other
 * backslash is kept as is. Returns the decoded length (out NUL-terminated).
 * Errors: -EINVAL (NULL, or a \u{} / \x that is malformed or out of range;
 * nothing useful is in out), -ENOBUFS (does not fit in cap).
 */
int normalize_unescape(const char *in, size_t len, char *out, size_t cap);

#endif
