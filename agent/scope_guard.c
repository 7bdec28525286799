/*
 * scope_guard — see scope_guard.h for the contract and docs/scope-guard.md
 * for the rules format and the choices behind it.
 *
 * Loading: parse the file (line-oriented, file:line errors), check every
 * pattern alone so an error names its rule and offset, and rewrite each
 * pattern to accept look-alike digits (scope_pattern_expand).
 *
 * Matching: one alternation of every rule, tried at every position, is what
 * PCRE2 makes slow: it tries the alternatives one by one at each position
 * (about 10 us per message with the shipped rules, no faster than each rule
 * alone). So, at load:
 *  - nearly every rule starts with \b (or ^): such a rule can only match
 *    where a word starts or ends, and the scan tries nothing elsewhere;
 *  - PCRE2 tells us (pattern info) which bytes each rule, each top-level
 *    branch and each alternative of a leading (?:...) group can start with;
 *  - so each byte gets a "lane": one anchored pattern holding, from every
 *    rule that can start with that byte, only the branches and alternatives
 *    that can, without their leading \b (known true at a boundary), written
 *    as a prefix tree ("[s5](?:[e3]rvice...|[i1]gnal...)") so PCRE2 tests
 *    each byte once, not once per rule; JIT-compiled.
 * A message is normalised and scanned once: at each word boundary the lane
 * of the byte there runs, anchored. Rules that may start anywhere go into
 * one unanchored alternation searched once. The verdict is the one a single
 * alternation of all rules would give: the leftmost hit, and at one offset
 * the rule first in the file (tests/test_scope_guard.c checks this against
 * each rule run alone).
 *
 * Every branch in a lane ends "(?C{i})(*MARK:i)". (*MARK) names the rule.
 * The callout fails rule i when its excepts have vetoed it for this message,
 * or when a rule earlier in the file already matched at this offset (the
 * prefix tree changes PCRE2's order, so a hit is retried for an earlier
 * one); matching then goes on to the other branches, so a veto never hides
 * another rule's hit. Excepts run outside the match (never nested in a
 * callout), at most once per rule per message. PCRE2 here has 2-byte links
 * (a compiled pattern holds at most 64 KiB), so a lane too big for one
 * pattern is split into parts, tried in order.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "agent/scope_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/normalize.h"
#include "hal/errmsg.h"

/* Options every rule, except and group is compiled with. Rules see lower-case
 * ASCII; CASELESS keeps an upper-case letter in a pattern harmless. */
#define SCOPE_PCRE2_OPTIONS                                                                        \
	(PCRE2_CASELESS | PCRE2_NO_AUTO_CAPTURE | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP |              \
	 PCRE2_NEVER_BACKSLASH_C)
/* Backtracking budget per match: far above what sane rules need on a
 * SCOPE_MESSAGE_MAX_LIMIT message, low enough to stop a runaway pattern. */
#define SCOPE_MATCH_LIMIT 2000000u
#define SCOPE_JIT_STACK_MAX (512 * 1024)
/* Branches or alternatives looked at per level when building lanes; a rule
 * with more is kept whole (correct, only slower). */
#define SCOPE_SPLIT_MAX 256

static const char default_too_long[] =
    "That's a lot to read at once. Could you tell me in a sentence or two what you're "
    "looking for?";
static const char default_unreadable[] =
    "Sorry, I couldn't read that message. Could you type it again?";
static const char default_error[] =
    "Let me get a member of our team to help you with that. They'll be right with you.";

/* A piece of a rule's compiled pattern, and the bytes it can start with. */
struct piece {
	size_t start, end; /* offsets in the compiled pattern */
	uint8_t first[32];
};

/* A top-level branch, and the alternatives of the (?:...) it begins with. */
struct branch_info {
	size_t start, end;
	uint8_t first[32];
	size_t open, close; /* the group's inside: [open, close) */
	struct piece *alts;
	size_t nalts; /* 0: no leading group to cut down */
};

struct rule {
	char *id;
	int category;
	int line;
	char *pattern;
	char *compiled;
	char *except;	       /* "(?:e1)|(?:e2)" as written, or NULL */
	char *except_compiled; /* the same, expanded */
	pcre2_code *except_code;
	bool gated;		      /* every branch starts with \b or ^ */
	uint8_t first[32];	      /* bytes a match can start with (bitmap) */
	struct branch_info *branches; /* for lanes: see analyse() */
	size_t nbranches;
};

struct category {
	char *name;
	char *handoff;
	int line;
};

/* One compiled alternation of rules: a lane, or a part of one. */
struct group {
	pcre2_code *code;
	size_t count; /* rules in it: bounds the veto rounds */
};

/* groups[first .. first + count) */
struct lane {
	size_t first, count;
};

struct scope_guard {
	char *name; /* the file, for messages */
	struct rule *rules;
	size_t nrules;
	struct category cats[SCOPE_CATEGORIES_MAX];
	size_t ncats;
	size_t max_bytes;
	char *reply_too_long, *reply_unreadable, *reply_error;

	struct group *groups;
	size_t ngroups, groups_cap;
	struct lane *lanes; /* anchored, tried at word boundaries */
	size_t nlanes, lanes_cap;
	int32_t lane_of[256]; /* lane for the byte at a boundary, -1: none */
	struct lane open;     /* unanchored: rules that may start anywhere */
	bool jit;

	/* per-check scratch: one guard per thread */
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack;
	pcre2_match_data *md, *except_md;
	char *norm;
	size_t norm_cap;
	uint8_t *veto; /* per rule: VETO_UNKNOWN, VETO_YES, VETO_NO */
	size_t limit;  /* in lanes, only rules below this may match */
	size_t *touched;
	size_t ntouched;
};

enum { VETO_UNKNOWN, VETO_YES, VETO_NO };

/* ---- pattern expansion ------------------------------------------------- */

/* The digit typed for a letter, or 0. */
static char lookalike(char c)
{
	switch (c) {
	case 'a':
		return '4';
	case 'b':
		return '8';
	case 'e':
		return '3';
	case 'g':
		return '9';
	case 'i':
	case 'l':
		return '1';
	case 'o':
		return '0';
	case 's':
		return '5';
	case 't':
		return '7';
	default:
		return 0;
	}
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static size_t through(const char *p, size_t from, char close)
{
	const char *q = strchr(p + from, close);

	return q ? (size_t)(q - p) + 1 : strlen(p);
}

/* Length of the escape sequence at p (p[0] is the backslash). */
static size_t escape_len(const char *p)
{
	char c = p[1];
	size_t n = 2;

	switch (c) {
	case '\0':
		return 1;
	case 'x':
	case 'o':
	case 'N':
	case 'p':
	case 'P':
	case 'k':
	case 'g':
		if (p[2] == '{')
			return through(p, 3, '}');
		if ((c == 'k' || c == 'g') && p[2] == '<')
			return through(p, 3, '>');
		if ((c == 'k' || c == 'g') && p[2] == '\'')
			return through(p, 3, '\'');
		if (c == 'x') {
			while (n < 4 && p[n] && strchr("0123456789abcdefABCDEF", p[n]))
				n++;
			return n;
		}
		if ((c == 'p' || c == 'P') && p[2])
			return 3;
		if (c == 'g') {
			if (p[n] == '-' || p[n] == '+')
				n++;
			while (is_digit(p[n]))
				n++;
		}
		return n;
	case 'c':
		return p[2] ? 3 : 2;
	default:
		if (c >= '0' && c <= '7')
			while (n < 4 && p[n] >= '0' && p[n] <= '7')
				n++;
		return n;
	}
}

struct out {
	char *buf;
	size_t n, cap;
	bool full;
};

static void emit(struct out *o, const char *s, size_t n)
{
	if (o->full || o->n + n + 1 > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->n, s, n);
	o->n += n;
	o->buf[o->n] = '\0';
}

static void emit_c(struct out *o, char c)
{
	emit(o, &c, 1);
}

/* Length of the character class at p (p[0] == '[') through its ']', or of
 * the rest of the pattern when it is unterminated. */
static size_t class_len(const char *p)
{
	size_t i = p[1] == '^' ? 2 : 1;

	if (p[i] == ']')
		i++; /* a literal ']' first */
	while (p[i] && p[i] != ']') {
		if (p[i] == '\\') {
			i += escape_len(p + i);
		} else if (p[i] == '[' && p[i + 1] == ':') {
			const char *q = strstr(p + i + 2, ":]");

			i = q ? (size_t)(q - p) + 2 : strlen(p);
		} else {
			i++;
		}
	}
	return p[i] ? i + 1 : i;
}

/* Does every top-level branch of the pattern start with \b or ^? Then a
 * match can only start at a word boundary or at the start of the text. */
static bool starts_at_boundary(const char *p)
{
	size_t i = 0;
	int depth = 0;
	bool branch_start = true;

	while (p[i]) {
		if (branch_start && !(p[i] == '^' || (p[i] == '\\' && p[i + 1] == 'b')))
			return false;
		branch_start = false;
		if (p[i] == '\\') {
			i += escape_len(p + i);
		} else if (p[i] == '[') {
			i += class_len(p + i);
		} else {
			if (p[i] == '(')
				depth++;
			else if (p[i] == ')')
				depth--;
			else if (p[i] == '|' && depth == 0)
				branch_start = true;
			i++;
		}
	}
	return !branch_start;
}

/* Copies the character class at p (p[0] == '['), adding the look-alike
 * digits of its single letters unless it is negated. Returns its length. */
static size_t expand_class(const char *p, struct out *o)
{
	bool neg = p[1] == '^';
	size_t start = neg ? 2 : 1, i = start, lead = 0;
	bool have[10] = {false};
	char extra[11];
	size_t nextra = 0;

	if (p[i] == ']' || p[i] == '-')
		i++, lead = 1; /* a literal ']' or '-' first */
	while (p[i] && p[i] != ']') {
		if (p[i] == '\\') {
			i += escape_len(p + i);
		} else if (p[i] == '[' && p[i + 1] == ':') {
			const char *q = strstr(p + i + 2, ":]");

			i = q ? (size_t)(q - p) + 2 : strlen(p);
		} else {
			bool range = (p[i + 1] == '-' && p[i + 2] && p[i + 2] != ']') ||
				     (i > start && p[i - 1] == '-' && i - 1 > start);
			char d = is_alpha(p[i]) && !range ? lookalike(lower(p[i])) : 0;

			if (d && !have[d - '0']) {
				have[d - '0'] = true;
				extra[nextra++] = d;
			}
			i++;
		}
	}
	if (!p[i]) { /* unterminated: PCRE2 will say so; copy as is */
		emit(o, p, i);
		return i;
	}
	emit(o, p, start + lead);
	if (!neg)
		emit(o, extra, nextra);
	emit(o, p + start + lead, i + 1 - start - lead);
	return i + 1;
}

/*
 * Length of the run of literal letters around pat[i]: a doubled letter only
 * matches a single one in words of four or more ("bill", "staff"), so short
 * words keep their meaning ("off" is not "of", "too" is not "to").
 */
static size_t word_len(const char *pat, size_t i)
{
	size_t start = i, end = i;

	while (start > 0 && is_alpha(pat[start - 1]) && !(start >= 2 && pat[start - 2] == '\\'))
		start--;
	while (is_alpha(pat[end]))
		end++;
	return end - start;
}

static bool is_quantifier_at(const char *p)
{
	size_t i = 1;

	if (*p == '?' || *p == '*' || *p == '+')
		return true;
	if (*p != '{')
		return false;
	while (is_digit(p[i]) || p[i] == ',')
		i++;
	return p[i] == '}' && i > 1;
}

int scope_pattern_expand(const char *pat, char *buf, size_t cap, char *err, size_t errlen)
{
	struct out o = {.buf = buf, .cap = cap};
	/* per open group: is it a lookbehind (fixed length: no {1,2} inside)? */
	bool behind[256];
	size_t depth = 0, nbehind = 0, i = 0;

	if (!pat || !buf || cap == 0)
		return -EINVAL;
	buf[0] = '\0';
	while (pat[i]) {
		const char *p = pat + i;
		char c = *p;

		if (c == '\\') {
			if (p[1] == 'Q') {
				errmsg(err, errlen, 0,
				       "\\Q...\\E is not supported in rules; escape "
				       "each character instead");
				return -EINVAL;
			}
			i += escape_len(p);
			emit(&o, p, escape_len(p));
		} else if (c == '[') {
			i += expand_class(p, &o);
		} else if (c == '(' && p[1] == '*') {
			errmsg(err, errlen, 0,
			       "backtracking verbs (*...) are not allowed in rules: "
			       "they would act on the other rules too");
			return -EINVAL;
		} else if (c == '(' && p[1] == '?') {
			char k = p[2];
			size_t n;
			bool group = true, lb = false;

			if (k == '#') {
				n = through(p, 2, ')');
				group = false;
			} else if (k == ':' || k == '=' || k == '!' || k == '|' || k == '>') {
				n = 3;
			} else if (k == '<' && (p[3] == '=' || p[3] == '!')) {
				n = 4;
				lb = true;
			} else if (k == '<' || (k == 'P' && p[3] == '<')) {
				n = through(p, 3, '>');
			} else if (k == '\'') {
				n = through(p, 3, '\'');
			} else if (k == 'C') {
				errmsg(err, errlen, 0, "callouts (?C...) are not allowed in rules");
				return -EINVAL;
			} else if (k == 'R' || k == '&' || k == '+' || is_digit(k) || k == 'P' ||
				   (k == '-' && is_digit(p[3]))) {
				errmsg(err, errlen, 0,
				       "recursion and subroutine calls are not allowed "
				       "in rules: group numbers change when rules are "
				       "combined");
				return -EINVAL;
			} else if (k == '(') {
				errmsg(err, errlen, 0,
				       "conditional groups (?(...)...) are not allowed "
				       "in rules; write two rules or use an except");
				return -EINVAL;
			} else {
				/* option settings: (?i) applies in place, (?i:...) opens a group */
				n = 2;
				while (is_alpha(p[n]) || p[n] == '-' || p[n] == '^')
					n++;
				if (p[n] == ')')
					group = false;
				if (p[n])
					n++;
			}
			emit(&o, p, n);
			i += n;
			if (group) {
				if (depth == sizeof(behind)) {
					errmsg(err, errlen, 0, "groups nested deeper than %zu",
					       sizeof(behind));
					return -EINVAL;
				}
				behind[depth++] = lb;
				nbehind += lb;
			}
		} else if (c == '(') {
			if (depth == sizeof(behind)) {
				errmsg(err, errlen, 0, "groups nested deeper than %zu",
				       sizeof(behind));
				return -EINVAL;
			}
			behind[depth++] = false;
			emit_c(&o, c);
			i++;
		} else if (c == ')') {
			if (depth > 0)
				nbehind -= behind[--depth];
			emit_c(&o, c);
			i++;
		} else if (c == '{' && is_quantifier_at(p)) {
			size_t n = through(p, 1, '}');

			emit(&o, p, n);
			i += n;
		} else if (is_alpha(c)) {
			char l = lower(c), d = lookalike(l);
			bool twice = nbehind == 0 && lower(p[1]) == l && !is_quantifier_at(p + 2) &&
				     word_len(pat, i) >= 4;
			char atom[5] = {'[', l, d, ']', 0};

			if (d)
				emit(&o, atom, 4);
			else
				emit_c(&o, l);
			if (twice)
				emit(&o, "{1,2}", 5);
			i += twice ? 2 : 1;
		} else {
			emit_c(&o, c);
			i++;
		}
	}
	if (o.full) {
		buf[0] = '\0';
		errmsg(err, errlen, 0, "pattern too long after look-alike expansion");
		return -ENOBUFS;
	}
	return (int)o.n;
}

/* ---- compiling --------------------------------------------------------- */

static pcre2_code *compile(const char *pat, size_t len, int *ret_code, size_t *ret_off)
{
	int code = 0;
	PCRE2_SIZE off = 0;
	pcre2_code *re =
	    pcre2_compile((PCRE2_SPTR)pat, len, SCOPE_PCRE2_OPTIONS, &code, &off, NULL);

	*ret_code = code;
	*ret_off = off;
	return re;
}

/*
 * Compiles one pattern alone so its errors name the rule: what PCRE2 says,
 * the offset, and the text there. kind is "rule" or "except". Returns the
 * code or NULL with err set.
 */
static pcre2_code *check_pattern(const char *file, int line, const char *kind, const char *id,
				 const char *pat, bool expanded, char *err, size_t errlen)
{
	PCRE2_UCHAR msg[256];
	size_t off;
	int code;
	uint32_t captures = 0;
	pcre2_code *re = compile(pat, strlen(pat), &code, &off);

	if (!re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		size_t before = off > 40 ? 40 : off;

		errmsg(err, errlen, 0,
		       "%s:%d: %s '%s': %s at offset %zu%s: \"%.*s\" <-- here \"%.40s\"", file,
		       line, kind, id, (const char *)msg, off,
		       expanded ? " of the pattern after look-alike expansion (a bug: please "
				  "report it with this rule)"
				: "",
		       (int)before, pat + off - before, pat + off);
		return NULL;
	}
	pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &captures);
	if (captures > 0) {
		errmsg(err, errlen, 0,
		       "%s:%d: %s '%s': named groups capture, and rules must not capture; "
		       "write (?:...) instead",
		       file, line, kind, id);
		pcre2_code_free(re);
		return NULL;
	}
	return re;
}

static void jit(struct scope_guard *g, pcre2_code *re)
{
	if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0)
		g->jit = false; /* no JIT on this platform: the interpreter still decides */
}

/* A rule as it goes into one alternation: for a lane, cut down to the
 * branches and alternatives that can start with the lane's byte. */
struct member {
	size_t rule;
	const char *src;
};

/* Appends one member's branch to an alternation. */
static void branch(struct out *o, const struct scope_guard *g, const struct member *m, bool first)
{
	char tail[64];

	if (!first)
		emit_c(o, '|');
	emit(o, "(?:", 3);
	emit(o, m->src, strlen(m->src));
	if (g->rules[m->rule].except_code)
		snprintf(tail, sizeof(tail), ")(?C{%zu})(*MARK:%zu)", m->rule, m->rule);
	else
		snprintf(tail, sizeof(tail), ")(*MARK:%zu)", m->rule);
	emit(o, tail, strlen(tail));
}

/* JIT-compiles re and appends it to g->groups (which then owns it). */
static int add_group(struct scope_guard *g, pcre2_code *re, size_t count)
{
	if (g->ngroups == g->groups_cap) {
		size_t cap = g->groups_cap ? g->groups_cap * 2 : 32;
		struct group *n = realloc(g->groups, cap * sizeof(*n));

		if (!n) {
			pcre2_code_free(re);
			return -ENOMEM;
		}
		g->groups = n;
		g->groups_cap = cap;
	}
	jit(g, re);
	g->groups[g->ngroups++] = (struct group){.code = re, .count = count};
	return 0;
}

static int new_lane(struct scope_guard *g)
{
	if (g->nlanes == g->lanes_cap) {
		size_t cap = g->lanes_cap ? g->lanes_cap * 2 : 32;
		struct lane *n = realloc(g->lanes, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->lanes = n;
		g->lanes_cap = cap;
	}
	g->lanes[g->nlanes++] = (struct lane){0};
	return 0;
}

/*
 * Compiles members m[0..count) (file order) as one alternation and appends
 * it to g->groups; halves the list when PCRE2 says the result is too large.
 * anchored: the alternation only matches at the start offset.
 */
static int build_group(struct scope_guard *g, const struct member *m, size_t count, bool anchored,
		       char *err, size_t errlen)
{
	struct out o;
	size_t i, size = 32, off;
	int code, rc;
	pcre2_code *re;

	for (i = 0; i < count; i++)
		size += strlen(m[i].src) + 64;
	o = (struct out){.buf = malloc(size), .cap = size};
	if (!o.buf)
		return -ENOMEM;
	emit(&o, "(?:", 3);
	for (i = 0; i < count; i++)
		branch(&o, g, &m[i], i == 0);
	emit_c(&o, ')');
	re =
	    pcre2_compile((PCRE2_SPTR)o.buf, o.n,
			  SCOPE_PCRE2_OPTIONS | (anchored ? PCRE2_ANCHORED : 0), &code, &off, NULL);
	free(o.buf);
	if (!re && code == PCRE2_ERROR_PATTERN_TOO_LARGE && count > 1) {
		rc = build_group(g, m, count / 2, anchored, err, errlen);
		if (rc == 0)
			rc =
			    build_group(g, m + count / 2, count - count / 2, anchored, err, errlen);
		return rc;
	}
	if (!re) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(code, msg, sizeof(msg));
		errmsg(err, errlen, 0,
		       "%s: the rules compile alone but not together: %s (offset %zu of the "
		       "combined pattern); look for a rule that ends inside an unclosed group",
		       g->name, (const char *)msg, off);
		return -EINVAL;
	}
	return add_group(g, re, count);
}

static bool bit(const uint8_t *map, size_t i)
{
	return map[i / 8] & (1u << (i % 8));
}

/* The bytes a match of compiled pattern re can start with, as PCRE2 worked
 * them out (all 256 when it could not tell). */
static void start_bytes(const pcre2_code *re, uint8_t map[32])
{
	uint32_t type = 0, unit = 0;
	const uint8_t *bits = NULL;

	pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODETYPE, &type);
	pcre2_pattern_info(re, PCRE2_INFO_FIRSTBITMAP, &bits);
	if (type == 1) {
		pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODEUNIT, &unit);
		memset(map, 0, 32);
		for (uint32_t c = 0; c < 256; c++)
			if (c == unit || (is_alpha((char)c) && lower((char)c) == lower((char)unit)))
				map[c / 8] |= (uint8_t)(1u << (c % 8));
	} else if (bits) {
		memcpy(map, bits, 32);
	} else {
		memset(map, 0xff, 32);
	}
}

/* start_bytes() of a pattern given as text; all bytes if it does not compile. */
static void start_bytes_of(const char *pat, size_t len, uint8_t map[32])
{
	size_t off;
	int code;
	pcre2_code *re = compile(pat, len, &code, &off);

	if (!re) {
		memset(map, 0xff, 32);
		return;
	}
	start_bytes(re, map);
	pcre2_code_free(re);
}

/* End (exclusive) of the group opening at p[0] == '(': through its ')'. */
static size_t group_len(const char *p)
{
	size_t i = 0;
	int depth = 0;

	while (p[i]) {
		if (p[i] == '\\') {
			i += escape_len(p + i);
			continue;
		}
		if (p[i] == '[') {
			i += class_len(p + i);
			continue;
		}
		if (p[i] == '(')
			depth++;
		else if (p[i] == ')' && --depth == 0)
			return i + 1;
		i++;
	}
	return i;
}

/* Splits p[0..len) at its top-level '|' into at most max pieces. Returns
 * the count, or 0 when there are more than max. */
static size_t split_top(const char *p, size_t len, struct piece *out, size_t max)
{
	size_t i = 0, n = 0, from = 0;
	int depth = 0;

	while (i <= len) {
		if (i == len || (p[i] == '|' && depth == 0)) {
			if (n == max)
				return 0;
			out[n++] = (struct piece){.start = from, .end = i};
			from = i + 1;
			i++;
			continue;
		}
		if (p[i] == '\\') {
			i += escape_len(p + i);
		} else if (p[i] == '[') {
			i += class_len(p + i);
		} else {
			depth += p[i] == '(' ? 1 : p[i] == ')' ? -1 : 0;
			i++;
		}
	}
	return n;
}

/*
 * Length of a plain one-byte atom at p (a literal, a class, '.', or an
 * escape for one character such as \d or \.), not followed by a
 * quantifier; 0 for anything else (groups, assertions, \b, quantified).
 */
static size_t one_byte_atom(const char *p, size_t len)
{
	size_t n;

	if (len == 0)
		return 0;
	if (p[0] == '[') {
		n = class_len(p);
	} else if (p[0] == '\\') {
		if (len < 2 || strchr("bBAzZGKQEkgpPXRcxo0123456789", p[1]))
			return 0;
		n = escape_len(p);
	} else if (strchr("()|^$*+?{", p[0])) {
		return 0;
	} else {
		n = 1;
	}
	if (n > len || (n < len && is_quantifier_at(p + n)))
		return 0;
	return n;
}

/*
 * Works out, for rule r, where each top-level branch can start and, when a
 * branch begins with a (?:...) group (after \b or ^), where each of that
 * group's alternatives can start. A lane then keeps only what can match at
 * its byte: "\b(?:internet|wifi|broadband...)" is "\b(?:wifi)" in lane 'w'.
 */
static int analyse(struct rule *r)
{
	const char *c = r->compiled;
	size_t len = strlen(c);
	struct piece tmp[SCOPE_SPLIT_MAX];
	char *buf = malloc(len + 1);

	if (!buf)
		return -ENOMEM;
	r->nbranches = split_top(c, len, tmp, SCOPE_SPLIT_MAX);
	r->branches = calloc(r->nbranches ? r->nbranches : 1, sizeof(*r->branches));
	if (!r->branches) {
		free(buf);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->nbranches; i++) {
		struct branch_info *b = &r->branches[i];
		size_t q = tmp[i].start, glen, nalts;
		struct piece alts[SCOPE_SPLIT_MAX];

		b->start = tmp[i].start;
		b->end = tmp[i].end;
		start_bytes_of(c + b->start, b->end - b->start, b->first);
		while (q < b->end && (c[q] == '^' || (c[q] == '\\' && c[q + 1] == 'b')))
			q += c[q] == '^' ? 1 : 2;
		if (q + 3 > b->end || strncmp(c + q, "(?:", 3) != 0)
			continue;
		glen = group_len(c + q);
		if (q + glen > b->end || is_quantifier_at(c + q + glen))
			continue;
		nalts = split_top(c + q + 3, glen - 4, alts, SCOPE_SPLIT_MAX);
		if (nalts < 2)
			continue;
		b->alts = calloc(nalts, sizeof(*b->alts));
		if (!b->alts) {
			free(buf);
			return -ENOMEM;
		}
		b->open = q + 3;
		b->close = q + glen - 1;
		for (size_t k = 0; k < nalts; k++) {
			/* the branch with its group cut down to this alternative */
			size_t a = q + 3 + alts[k].start, alen = alts[k].end - alts[k].start, n = 0;

			memcpy(buf + n, c + b->start, b->open - b->start);
			n += b->open - b->start;
			memcpy(buf + n, c + a, alen);
			n += alen;
			memcpy(buf + n, c + b->close, b->end - b->close);
			n += b->end - b->close;
			b->alts[k] = (struct piece){.start = a, .end = a + alen};
			start_bytes_of(buf, n, b->alts[k].first);
		}
		b->nalts = nalts;
	}
	free(buf);
	return 0;
}

/*
 * Can rule r only start where the scan tries lanes: at a word boundary?
 * Every branch must start with \b, or with ^ and a word character (the scan
 * does not try offset 0 when the text starts with punctuation). A rule
 * whose branches could not be told apart (SCOPE_SPLIT_MAX) is not.
 */
static bool gated(const struct rule *r)
{
	const char *p = r->compiled;

	if (!starts_at_boundary(p) || r->nbranches == 0)
		return false;
	for (size_t i = 0; i < r->nbranches; i++) {
		const struct branch_info *b = &r->branches[i];

		if (p[b->start] != '^')
			continue;
		for (unsigned c = 0; c < 256; c++)
			if (bit(b->first, c) &&
			    !(is_alpha((char)c) || is_digit((char)c) || c == '_'))
				return false;
	}
	return true;
}

/* One way a rule can match in a lane: a sequence with no top-level '|',
 * ending in the rule's callout and mark. */
struct seq {
	size_t rule;
	char *text;
};

static int add_seq(struct seq **v, size_t *n, size_t *cap, size_t rule, const char *a, size_t alen,
		   const char *b, size_t blen, const char *c, size_t clen)
{
	char tail[64];
	size_t tlen;
	char *t;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct seq *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	tlen = (size_t)snprintf(tail, sizeof(tail), "(?C{%zu})(*MARK:%zu)", rule, rule);
	t = malloc(alen + blen + clen + tlen + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, a, alen);
	memcpy(t + alen, b, blen);
	memcpy(t + alen + blen, c, clen);
	memcpy(t + alen + blen + clen, tail, tlen + 1);
	(*v)[(*n)++] = (struct seq){.rule = rule, .text = t};
	return 0;
}

static int factor(struct out *o, const char **s, size_t n, int depth);

/*
 * The sequences rule r contributes to the lane of byte c: its branches that
 * can start with c, without their leading \b (lanes only run at word
 * boundaries, so it is known true). A leading (?:...) group keeps only the
 * alternatives that can start with c; when they all begin with the same
 * one-byte atom, it moves out in front ("(?:[s5]ervice|[s5]ignal)..." is
 * "[s5](?:ervice|ignal)...") so the lane's prefix tree can share it. The
 * rest of the branch is written once, whatever the alternatives.
 */
static int rule_seqs(const struct rule *r, size_t idx, unsigned c, struct seq **v, size_t *n,
		     size_t *cap)
{
	const char *p = r->compiled;
	bool any = false;
	int rc = 0;

	for (size_t i = 0; i < r->nbranches && rc == 0; i++) {
		const struct branch_info *b = &r->branches[i];
		size_t start = b->start, kept = 0, alen = 0, k;
		const char **alts;
		struct out o;

		if (!bit(b->first, c))
			continue;
		any = true;
		while (start + 1 < b->end && p[start] == '\\' && p[start + 1] == 'b')
			start += 2;
		for (k = 0; k < b->nalts; k++)
			kept += bit(b->alts[k].first, c);
		if (kept == 0) {
			rc = add_seq(v, n, cap, idx, p + start, b->end - start, "", 0, "", 0);
			continue;
		}
		alts = calloc(kept, sizeof(*alts));
		/* a prefix tree adds at most "(?:" and ")" per byte it shares */
		o = (struct out){.buf = malloc(6 * (b->close - b->open) + 16),
				 .cap = 6 * (b->close - b->open) + 16};
		if (!alts || !o.buf) {
			free(alts);
			free(o.buf);
			return -ENOMEM;
		}
		/* the kept alternatives, as NUL-terminated copies */
		for (k = 0, kept = 0; k < b->nalts && rc == 0; k++) {
			size_t len = b->alts[k].end - b->alts[k].start;
			char *a;

			if (!bit(b->alts[k].first, c))
				continue;
			a = malloc(len + 1);
			if (!a) {
				rc = -ENOMEM;
				break;
			}
			memcpy(a, p + b->alts[k].start, len);
			a[len] = '\0';
			alts[kept++] = a;
		}
		/* a one-byte atom they all start with, when the group comes first */
		if (rc == 0 && b->open - 3 == start) {
			alen = one_byte_atom(alts[0], strlen(alts[0]));
			for (k = 1; k < kept && alen > 0; k++)
				if (one_byte_atom(alts[k], strlen(alts[k])) != alen ||
				    memcmp(alts[k], alts[0], alen) != 0)
					alen = 0;
		}
		if (rc == 0) {
			char *head = malloc(alen + 1);

			if (head) {
				memcpy(head, alts[0], alen);
				for (k = 0; k < kept; k++)
					alts[k] += alen;
				emit(&o, "(?:", 3);
				rc = factor(&o, alts, kept, 1);
				emit_c(&o, ')');
				for (k = 0; k < kept; k++)
					alts[k] -= alen;
				if (rc == 0 && !o.full)
					rc = alen
						 ? add_seq(v, n, cap, idx, head, alen, o.buf, o.n,
							   p + b->close + 1, b->end - b->close - 1)
						 : add_seq(v, n, cap, idx, p + start,
							   b->open - 3 - start, o.buf, o.n,
							   p + b->close + 1, b->end - b->close - 1);
				else if (rc == 0)
					rc = -ENOMEM;
				free(head);
			} else {
				rc = -ENOMEM;
			}
		}
		for (k = 0; k < kept; k++)
			free((char *)alts[k]);
		free(alts);
		free(o.buf);
	}
	if (!any && rc == 0) {
		/* PCRE2's sets disagree: the whole rule, which is always right */
		char *whole = malloc(strlen(p) + 5);

		if (!whole)
			return -ENOMEM;
		sprintf(whole, "(?:%s)", p);
		rc = add_seq(v, n, cap, idx, whole, strlen(whole), "", 0, "", 0);
		free(whole);
	}
	return rc;
}

/*
 * Writes the alternation of sequences s[0..n) as a prefix tree: those that
 * begin with the same one-byte atom share it ("[s5](?:[e3]rv...|[i1]m...)"),
 * so PCRE2 tests each byte once instead of once per rule. Order within the
 * alternation changes; the callouts restore "first rule in the file wins".
 */
static int factor(struct out *o, const char **s, size_t n, int depth)
{
	bool *done = calloc(n, sizeof(*done));
	const char **rest = calloc(n, sizeof(*rest));
	bool first = true;
	int rc = 0;

	if (!done || !rest) {
		free(done);
		free(rest);
		return -ENOMEM;
	}
	if (n > 1)
		emit(o, "(?:", 3);
	for (size_t i = 0; i < n && rc == 0; i++) {
		size_t alen = depth < 64 ? one_byte_atom(s[i], strlen(s[i])) : 0, m = 0;

		if (done[i])
			continue;
		if (!first)
			emit_c(o, '|');
		first = false;
		for (size_t j = i; j < n && alen > 0; j++)
			if (!done[j] && one_byte_atom(s[j], strlen(s[j])) == alen &&
			    memcmp(s[i], s[j], alen) == 0) {
				rest[m++] = s[j] + alen;
				done[j] = true;
			}
		if (m < 2) {
			emit(o, s[i], strlen(s[i]));
			done[i] = true;
			continue;
		}
		emit(o, s[i], alen);
		rc = factor(o, rest, m, depth + 1);
	}
	if (n > 1)
		emit_c(o, ')');
	free(done);
	free(rest);
	return rc;
}

/* Compiles one lane from its sequences, halving when too large. */
static int build_lane(struct scope_guard *g, struct seq *v, size_t n, char *err, size_t errlen)
{
	const char **s = calloc(n, sizeof(*s));
	size_t size = 16, off;
	struct out o;
	pcre2_code *re;
	int code, rc;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s[i] = v[i].text;
		size += 6 * strlen(v[i].text) + 8; /* see rule_seqs() */
	}
	o = (struct out){.buf = malloc(size), .cap = size};
	rc = o.buf ? factor(&o, s, n, 0) : -ENOMEM;
	free(s);
	if (rc < 0 || o.full) {
		free(o.buf);
		return rc < 0 ? rc : -ENOMEM;
	}
	re = pcre2_compile((PCRE2_SPTR)o.buf, o.n, SCOPE_PCRE2_OPTIONS | PCRE2_ANCHORED, &code,
			   &off, NULL);
	free(o.buf);
	if (!re && code == PCRE2_ERROR_PATTERN_TOO_LARGE && n > 1) {
		rc = build_lane(g, v, n / 2, err, errlen);
		return rc ? rc : build_lane(g, v + n / 2, n - n / 2, err, errlen);
	}
	if (!re) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(code, msg, sizeof(msg));
		errmsg(err, errlen, 0,
		       "%s: the rules compile alone but not together: %s (offset %zu of a lane); "
		       "look for a rule that ends inside an unclosed group",
		       g->name, (const char *)msg, off);
		return -EINVAL;
	}
	return add_group(g, re, n);
}

/* Do bytes a and b cut every rule the same way (so one lane serves both)? */
static bool same_lane(const struct scope_guard *g, unsigned a, unsigned b)
{
	for (size_t i = 0; i < g->nrules; i++) {
		const struct rule *r = &g->rules[i];

		if (!r->gated || bit(r->first, a) != bit(r->first, b))
			continue;
		for (size_t k = 0; k < r->nbranches; k++) {
			const struct branch_info *br = &r->branches[k];

			if (bit(br->first, a) != bit(br->first, b))
				return false;
			for (size_t j = 0; j < br->nalts; j++)
				if (bit(br->alts[j].first, a) != bit(br->alts[j].first, b))
					return false;
		}
	}
	return true;
}

/*
 * Builds one lane per byte that can start a gated rule at a word boundary
 * (the normalised text is lower case, so upper-case bytes get none; bytes
 * with the same rules share a lane), then the open group for rules that may
 * start anywhere.
 */
static int build_lanes(struct scope_guard *g, char *err, size_t errlen)
{
	struct member *m = calloc(g->nrules ? g->nrules : 1, sizeof(*m));
	uint8_t *sets = calloc(256, (g->nrules + 7) / 8 + 1);
	size_t setbytes = (g->nrules + 7) / 8 + 1, n, i;
	int16_t owner[256];
	int rc = 0;

	if (!m || !sets) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < g->nrules && rc == 0; i++)
		rc = analyse(&g->rules[i]);
	for (i = 0; i < g->nrules && rc == 0; i++)
		g->rules[i].gated = gated(&g->rules[i]);
	for (unsigned b = 0; b < 256 && rc == 0; b++) {
		uint8_t *set = sets + (size_t)b * setbytes;
		struct seq *v = NULL;
		size_t nv = 0, cap = 0, l;

		g->lane_of[b] = -1;
		if (b >= 'A' && b <= 'Z')
			continue;
		for (n = 0, i = 0; i < g->nrules; i++)
			if (g->rules[i].gated && bit(g->rules[i].first, b)) {
				set[i / 8] |= (uint8_t)(1u << (i % 8));
				n++;
			}
		if (n == 0)
			continue;
		for (l = 0; l < g->nlanes; l++)
			if (memcmp(sets + (size_t)owner[l] * setbytes, set, setbytes) == 0 &&
			    same_lane(g, (unsigned)owner[l], b))
				break;
		if (l < g->nlanes) {
			g->lane_of[b] = (int32_t)l;
			continue;
		}
		for (i = 0; i < g->nrules && rc == 0; i++)
			if (bit(set, i))
				rc = rule_seqs(&g->rules[i], i, b, &v, &nv, &cap);
		if (rc == 0)
			rc = new_lane(g);
		if (rc == 0) {
			owner[l] = (int16_t)b;
			g->lanes[l].first = g->ngroups;
			rc = build_lane(g, v, nv, err, errlen);
			g->lanes[l].count = g->ngroups - g->lanes[l].first;
			g->lane_of[b] = (int32_t)l;
		}
		for (size_t k = 0; k < nv; k++)
			free(v[k].text);
		free(v);
	}
	for (n = 0, i = 0; i < g->nrules && rc == 0; i++)
		if (!g->rules[i].gated)
			m[n++] = (struct member){.rule = i, .src = g->rules[i].compiled};
	g->open.first = g->ngroups;
	if (rc == 0 && n > 0)
		rc = build_group(g, m, n, false, err, errlen);
	g->open.count = g->ngroups - g->open.first;
out:
	free(m);
	free(sets);
	return rc;
}

/* Records where rule r can start, from PCRE2's analysis of its pattern. */
static void learn_start(struct rule *r, const pcre2_code *re)
{
	start_bytes(re, r->first);
}

/* ---- parsing ----------------------------------------------------------- */

struct parser {
	struct scope_guard *g;
	const char *file;
	int line;
	int cat;	/* current [category], -1 in [guard] or before any section */
	bool in_guard;	/* inside [guard] */
	int guard_line; /* line of [guard], 0 if none */
	size_t rules_cap;
	char *err;
	size_t errlen;
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool valid_id(const char *s, bool dots)
{
	if (!*s || strlen(s) >= SCOPE_ID_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || is_digit(*s) || *s == '_' ||
		      (dots && (*s == '.' || *s == '-'))))
			return false;
	return true;
}

static int perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parser *ps, const char *fmt, ...)
{
	char msg[SCOPE_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errmsg(ps->err, ps->errlen, 0, "%s:%d: %s", ps->file, ps->line, msg);
	return -EINVAL;
}

static struct rule *find_rule(struct scope_guard *g, const char *id)
{
	for (size_t i = 0; i < g->nrules; i++)
		if (strcmp(g->rules[i].id, id) == 0)
			return &g->rules[i];
	return NULL;
}

/* The current category ended without a handoff line: name its header line. */
static int missing_handoff(struct parser *ps)
{
	const struct category *c = &ps->g->cats[ps->cat];

	ps->line = c->line;
	return perr(ps,
		    "category '%s' has no handoff line; add `handoff = ...` with what the "
		    "customer is told",
		    c->name);
}

static int section(struct parser *ps, char *s)
{
	struct scope_guard *g = ps->g;
	size_t len = strlen(s);
	char *name;

	if (s[len - 1] != ']')
		return perr(ps, "a section header must end with ']': [guard] or [category NAME]");
	s[len - 1] = '\0';
	s = trim(s + 1);
	if (ps->cat >= 0 && !g->cats[ps->cat].handoff)
		return missing_handoff(ps);
	if (strcmp(s, "guard") == 0) {
		if (ps->guard_line)
			return perr(ps, "[guard] appears twice (first at line %d); keep one",
				    ps->guard_line);
		ps->guard_line = ps->line;
		ps->in_guard = true;
		ps->cat = -1;
		return 0;
	}
	if (strncmp(s, "category", 8) != 0 || (s[8] != ' ' && s[8] != '\t'))
		return perr(ps, "unknown section [%s]; expected [guard] or [category NAME]", s);
	name = trim(s + 8);
	if (!valid_id(name, false))
		return perr(ps, "category name '%s' must be 1-%d characters of a-z, 0-9 and _",
			    name, SCOPE_ID_MAX - 1);
	for (size_t i = 0; i < g->ncats; i++)
		if (strcmp(g->cats[i].name, name) == 0)
			return perr(ps, "category '%s' is already defined at line %d; merge them",
				    name, g->cats[i].line);
	if (g->ncats == SCOPE_CATEGORIES_MAX)
		return perr(ps, "more than %d categories", SCOPE_CATEGORIES_MAX);
	g->cats[g->ncats].name = strdup(name);
	if (!g->cats[g->ncats].name)
		return -ENOMEM;
	g->cats[g->ncats].line = ps->line;
	ps->cat = (int)g->ncats++;
	ps->in_guard = false;
	return 0;
}

static int set_reply(struct parser *ps, char **slot, const char *key, const char *value)
{
	if (*slot)
		return perr(ps, "%s is set twice; keep one", key);
	if (!*value)
		return perr(ps, "%s is empty; write the sentence the customer sees", key);
	if (strlen(value) >= SCOPE_REPLY_MAX)
		return perr(ps, "%s is %zu bytes; keep it under %d", key, strlen(value),
			    SCOPE_REPLY_MAX);
	*slot = strdup(value);
	return *slot ? 0 : -ENOMEM;
}

static int guard_key(struct parser *ps, const char *key, const char *value)
{
	struct scope_guard *g = ps->g;

	if (strcmp(key, "max_bytes") == 0) {
		char *end;
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < SCOPE_MESSAGE_MAX_MIN ||
		    v > SCOPE_MESSAGE_MAX_LIMIT)
			return perr(ps,
				    "max_bytes: expected a whole number of bytes from %d to %d, "
				    "got '%s'",
				    SCOPE_MESSAGE_MAX_MIN, SCOPE_MESSAGE_MAX_LIMIT, value);
		g->max_bytes = (size_t)v;
		return 0;
	}
	if (strcmp(key, "reply_too_long") == 0)
		return set_reply(ps, &g->reply_too_long, key, value);
	if (strcmp(key, "reply_unreadable") == 0)
		return set_reply(ps, &g->reply_unreadable, key, value);
	if (strcmp(key, "reply_error") == 0)
		return set_reply(ps, &g->reply_error, key, value);
	return perr(ps,
		    "unknown key '%s' in [guard]; known: max_bytes, reply_too_long, "
		    "reply_unreadable, reply_error",
		    key);
}

static int add_rule(struct parser *ps, const char *id, const char *value)
{
	struct scope_guard *g = ps->g;
	struct rule *r, *dup;

	if (!valid_id(id, true))
		return perr(ps, "rule id '%s' must be 1-%d characters of a-z, 0-9, '.', '-', '_'",
			    id, SCOPE_ID_MAX - 1);
	if ((dup = find_rule(g, id)) != NULL)
		return perr(ps, "rule '%s' is already defined at line %d; rule ids are unique", id,
			    dup->line);
	if (!*value)
		return perr(ps, "rule '%s' has an empty pattern", id);
	if (strlen(value) > SCOPE_PATTERN_MAX)
		return perr(ps,
			    "rule '%s': the pattern is %zu bytes; the limit is %d; split it "
			    "into two rules",
			    id, strlen(value), SCOPE_PATTERN_MAX);
	if (g->nrules == SCOPE_RULES_MAX)
		return perr(ps, "more than %d rules", SCOPE_RULES_MAX);
	if (g->nrules == ps->rules_cap) {
		size_t cap = ps->rules_cap ? ps->rules_cap * 2 : 64;
		struct rule *n = realloc(g->rules, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->rules = n;
		ps->rules_cap = cap;
	}
	r = &g->rules[g->nrules];
	memset(r, 0, sizeof(*r));
	r->id = strdup(id);
	r->pattern = strdup(value);
	r->category = ps->cat;
	r->line = ps->line;
	g->nrules++;
	return r->id && r->pattern ? 0 : -ENOMEM;
}

static int add_except(struct parser *ps, const char *id, const char *value)
{
	struct rule *r = find_rule(ps->g, id);
	size_t old, add = strlen(value);
	char *n;

	if (!r || r->category != ps->cat)
		return perr(ps,
			    "except '%s': no rule '%s' above it in [category %s]; put the "
			    "except after its rule",
			    id, id, ps->g->cats[ps->cat].name);
	if (!*value)
		return perr(ps, "except '%s' has an empty pattern", id);
	if (add > SCOPE_PATTERN_MAX)
		return perr(ps, "except '%s': the pattern is %zu bytes; the limit is %d", id, add,
			    SCOPE_PATTERN_MAX);
	old = r->except ? strlen(r->except) : 0;
	if (old + add + 5 > 4 * SCOPE_PATTERN_MAX)
		return perr(ps, "except '%s': the excepts of one rule exceed %d bytes together", id,
			    4 * SCOPE_PATTERN_MAX);
	n = realloc(r->except, old + add + 6);
	if (!n)
		return -ENOMEM;
	sprintf(n + old, "%s(?:%s)", old ? "|" : "", value);
	r->except = n;
	return 0;
}

static int line_kv(struct parser *ps, char *s)
{
	char *eq = strchr(s, '='), *key, *value, *id;
	size_t vl;

	if (!eq)
		return perr(ps,
			    "expected `key = value`, `[guard]` or `[category NAME]`, got "
			    "\"%.60s\"",
			    s);
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	vl = strlen(value);
	if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
		value[vl - 1] = '\0';
		value++;
	}
	if (ps->in_guard)
		return guard_key(ps, key, value);
	if (ps->cat < 0)
		return perr(ps,
			    "`%s = ...` before any section; start with [guard] or "
			    "[category NAME]",
			    key);
	if (strcmp(key, "handoff") == 0)
		return set_reply(ps, &ps->g->cats[ps->cat].handoff, "handoff", value);
	id = key;
	while (*id && *id != ' ' && *id != '\t')
		id++;
	if (*id) {
		*id++ = '\0';
		id = trim(id);
	}
	if (strcmp(key, "rule") == 0 && *id)
		return add_rule(ps, id, value);
	if (strcmp(key, "except") == 0 && *id)
		return add_except(ps, id, value);
	return perr(ps,
		    "unknown key '%s%s%s' in [category %s]; expected `handoff = TEXT`, "
		    "`rule ID = PATTERN` or `except ID = PATTERN`",
		    key, *id ? " " : "", id, ps->g->cats[ps->cat].name);
}

static int parse(struct parser *ps, const char *text, size_t len)
{
	size_t pos = 0;
	char line[SCOPE_LINE_MAX + 1];
	int rc;

	if (memchr(text, '\0', len)) {
		errmsg(ps->err, ps->errlen, 0, "%s: holds a NUL byte; is it a text file?",
		       ps->file);
		return -EINVAL;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s;

		ps->line++;
		if (n > SCOPE_LINE_MAX)
			return perr(ps, "line is %zu bytes; the limit is %d", n, SCOPE_LINE_MAX);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		rc = *s == '[' ? section(ps, s) : line_kv(ps, s);
		if (rc < 0)
			return rc;
	}
	if (ps->cat >= 0 && !ps->g->cats[ps->cat].handoff)
		return missing_handoff(ps);
	for (size_t c = 0; c < ps->g->ncats; c++) {
		size_t k = 0;

		for (size_t i = 0; i < ps->g->nrules; i++)
			k += ps->g->rules[i].category == (int)c;
		if (k == 0) {
			ps->line = ps->g->cats[c].line;
			return perr(ps,
				    "category '%s' has no rules; add `rule ID = PATTERN` or "
				    "remove it",
				    ps->g->cats[c].name);
		}
	}
	if (ps->g->nrules == 0) {
		errmsg(ps->err, ps->errlen, 0,
		       "%s: no rules; a guard needs at least one [category NAME] with `rule ID = "
		       "PATTERN`",
		       ps->file);
		return -EINVAL;
	}
	return 0;
}

/* Checks, expands and compiles each rule's pattern and excepts. */
static int prepare_rules(struct scope_guard *g, char *err, size_t errlen)
{
	char why[256];

	for (size_t i = 0; i < g->nrules; i++) {
		struct rule *r = &g->rules[i];
		const char *src[2] = {r->pattern, r->except};
		char **dst[2] = {&r->compiled, &r->except_compiled};

		for (int k = 0; k < 2; k++) {
			const char *kind = k ? "except" : "rule";
			uint32_t minlen = 1;
			size_t cap;
			pcre2_code *re;
			int n;

			if (!src[k])
				continue;
			re = check_pattern(g->name, r->line, kind, r->id, src[k], false, err,
					   errlen);
			if (!re)
				return -EINVAL;
			pcre2_code_free(re);
			cap = strlen(src[k]) * 6 + 16;
			*dst[k] = malloc(cap);
			if (!*dst[k])
				return -ENOMEM;
			n = scope_pattern_expand(src[k], *dst[k], cap, why, sizeof(why));
			if (n < 0) {
				errmsg(err, errlen, 0, "%s:%d: %s '%s': %s", g->name, r->line, kind,
				       r->id, why);
				return -EINVAL;
			}
			re = check_pattern(g->name, r->line, kind, r->id, *dst[k], true, err,
					   errlen);
			if (!re)
				return -EINVAL;
			if (k == 1) {
				jit(g, re);
				r->except_code = re;
				continue;
			}
			pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &minlen);
			learn_start(r, re);
			pcre2_code_free(re);
			if (minlen == 0) {
				errmsg(err, errlen, 0,
				       "%s:%d: rule '%s' can match an empty message; it would "
				       "fire on everything. Make something in it required",
				       g->name, r->line, r->id);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int guard_callout(pcre2_callout_block *cb, void *data)
{
	struct scope_guard *g = data;
	unsigned long idx;

	if (!cb->callout_string)
		return 0;
	idx = strtoul((const char *)cb->callout_string, NULL, 10);
	/* A vetoed rule fails its branch, and so does one no better than the hit
	 * already found here; matching goes on elsewhere. */
	return idx >= g->limit || (idx < g->nrules && g->veto[idx] == VETO_YES) ? 1 : 0;
}

static int setup_scratch(struct scope_guard *g)
{
	g->mctx = pcre2_match_context_create(NULL);
	g->md = pcre2_match_data_create(1, NULL);
	g->except_md = pcre2_match_data_create(1, NULL);
	g->norm_cap = g->max_bytes + 1;
	g->norm = malloc(g->norm_cap);
	g->veto = calloc(g->nrules, 1);
	g->touched = calloc(g->nrules, sizeof(*g->touched));
	if (!g->mctx || !g->md || !g->except_md || !g->norm || !g->veto || !g->touched)
		return -ENOMEM;
	g->norm[0] = '\0';
	pcre2_set_match_limit(g->mctx, SCOPE_MATCH_LIMIT);
	pcre2_set_callout(g->mctx, guard_callout, g);
	if (g->jit) {
		g->jit_stack = pcre2_jit_stack_create(32 * 1024, SCOPE_JIT_STACK_MAX, NULL);
		if (!g->jit_stack)
			return -ENOMEM;
		pcre2_jit_stack_assign(g->mctx, NULL, g->jit_stack);
	}
	return 0;
}

int scope_guard_load_string(const char *name, const char *text, size_t len,
			    struct scope_guard **ret, char *err, size_t errlen)
{
	struct scope_guard *g;
	struct parser ps = {
	    .file = name ? name : "(rules)", .cat = -1, .err = err, .errlen = errlen};
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!ret || !text)
		return -EINVAL;
	*ret = NULL;
	if (len > SCOPE_FILE_MAX_BYTES) {
		errmsg(err, errlen, 0, "%s: %zu bytes; a rules file may hold at most %d", ps.file,
		       len, SCOPE_FILE_MAX_BYTES);
		return -EFBIG;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->name = strdup(ps.file);
	g->max_bytes = SCOPE_MESSAGE_MAX_DEFAULT;
	g->jit = true;
	ps.g = g;
	ps.file = g->name ? g->name : ps.file;
	rc = g->name ? parse(&ps, text, len) : -ENOMEM;
	if (rc == 0)
		rc = prepare_rules(g, err, errlen);
	if (rc == 0)
		rc = build_lanes(g, err, errlen);
	if (rc == 0 && (!g->reply_too_long && !(g->reply_too_long = strdup(default_too_long))))
		rc = -ENOMEM;
	if (rc == 0 &&
	    (!g->reply_unreadable && !(g->reply_unreadable = strdup(default_unreadable))))
		rc = -ENOMEM;
	if (rc == 0 && (!g->reply_error && !(g->reply_error = strdup(default_error))))
		rc = -ENOMEM;
	if (rc == 0)
		rc = setup_scratch(g);
	if (rc < 0) {
		if (rc == -ENOMEM)
			errmsg(err, errlen, 0, "%s: out of memory", ps.file);
		scope_guard_free(g);
		return rc;
	}
	*ret = g;
	return 0;
}

int scope_guard_load(const char *path, struct scope_guard **ret, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t n = 0;
	size_t got = 0;
	int fd, rc;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !ret)
		return -EINVAL;
	*ret = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		errmsg(err, errlen, 0, "%s: cannot open the scope rules: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		errmsg(err, errlen, 0, "%s: is a folder; give the rules file", path);
		close(fd);
		return -EISDIR;
	}
	/* Read to the end (a pipe has no size up front), one byte past the limit
	 * to tell "at the limit" from "over it". */
	text = malloc(SCOPE_FILE_MAX_BYTES + 2);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (got <= SCOPE_FILE_MAX_BYTES) {
		n = read(fd, text + got, SCOPE_FILE_MAX_BYTES + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc < 0) {
		errmsg(err, errlen, 0, "%s: cannot read the scope rules: %s", path, strerror(-rc));
		free(text);
		return rc;
	}
	if (got > SCOPE_FILE_MAX_BYTES) {
		errmsg(err, errlen, 0, "%s: over %d bytes; a rules file may hold at most that",
		       path, SCOPE_FILE_MAX_BYTES);
		free(text);
		return -EFBIG;
	}
	text[got] = '\0';
	rc = scope_guard_load_string(path, text, got, ret, err, errlen);
	free(text);
	return rc;
}

void scope_guard_free(struct scope_guard *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nrules; i++) {
		struct rule *r = &g->rules[i];

		free(r->id);
		free(r->pattern);
		free(r->compiled);
		free(r->except);
		free(r->except_compiled);
		pcre2_code_free(r->except_code);
		for (size_t k = 0; k < r->nbranches; k++)
			free(r->branches[k].alts);
		free(r->branches);
	}
	free(g->rules);
	for (size_t i = 0; i < g->ncats; i++) {
		free(g->cats[i].name);
		free(g->cats[i].handoff);
	}
	for (size_t i = 0; i < g->ngroups; i++)
		pcre2_code_free(g->groups[i].code);
	free(g->groups);
	free(g->lanes);
	pcre2_match_data_free(g->md);
	pcre2_match_data_free(g->except_md);
	pcre2_jit_stack_free(g->jit_stack);
	pcre2_match_context_free(g->mctx);
	free(g->reply_too_long);
	free(g->reply_unreadable);
	free(g->reply_error);
	free(g->norm);
	free(g->veto);
	free(g->touched);
	free(g->name);
	free(g);
}

/* ---- checking ---------------------------------------------------------- */

static int run(const struct scope_guard *g, const pcre2_code *re, pcre2_match_data *md, size_t len,
	       size_t start)
{
	if (g->jit)
		return pcre2_jit_match(re, (PCRE2_SPTR)g->norm, len, start, 0, md, g->mctx);
	return pcre2_match(re, (PCRE2_SPTR)g->norm, len, start, 0, md, g->mctx);
}

/* Is rule idx vetoed by its excepts for this message? Evaluated once. */
static int vetoed(struct scope_guard *g, size_t idx, size_t len)
{
	const struct rule *r = &g->rules[idx];
	int rc;

	if (!r->except_code)
		return 0;
	if (g->veto[idx] == VETO_UNKNOWN) {
		rc = run(g, r->except_code, g->except_md, len, 0);
		if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
			return rc;
		g->veto[idx] = rc >= 0 ? VETO_YES : VETO_NO;
		g->touched[g->ntouched++] = idx;
	}
	return g->veto[idx] == VETO_YES;
}

/*
 * Tries the groups of a lane from offset start (anchored groups match only
 * there). Returns the first rule in the file that fires there, or for the
 * open group the leftmost one, and is not vetoed; -1 for none, -2 when
 * matching failed (the match limit). *ret_start gets where it matched.
 */
static long try_lane(struct scope_guard *g, const struct lane *lane, size_t len, size_t start,
		     size_t *ret_start)
{
	long best = -1;

	g->limit = g->nrules;
	for (size_t k = lane->first; k < lane->first + lane->count; k++) {
		/* each round vetoes a rule or lowers the limit, so this ends */
		for (size_t round = 0; round <= 2 * g->groups[k].count + 1; round++) {
			int rc = run(g, g->groups[k].code, g->md, len, start);
			PCRE2_SPTR mark;
			unsigned long idx;

			if (rc == PCRE2_ERROR_NOMATCH)
				break;
			if (rc < 0)
				return -2;
			mark = pcre2_get_mark(g->md);
			idx = mark ? strtoul((const char *)mark, NULL, 10) : g->nrules;
			if (idx >= g->limit)
				return -2;
			rc = vetoed(g, idx, len);
			if (rc < 0)
				return -2;
			if (rc == 0) {
				best = (long)idx;
				g->limit = idx;
				*ret_start = pcre2_get_ovector_pointer(g->md)[0];
				if (lane == &g->open)
					break; /* leftmost, and first in the file there */
			}
		}
	}
	return best;
}

static bool is_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/*
 * The leftmost rule that fires and is not vetoed (ties: the one first in the
 * file): its index, -1 for none, or -2 when matching failed.
 */
static long find_hit(struct scope_guard *g, size_t len)
{
	const unsigned char *t = (const unsigned char *)g->norm;
	size_t best_start = len, start;
	long best = -1, hit;

	if (g->open.count > 0) {
		best = try_lane(g, &g->open, len, 0, &best_start);
		if (best == -2)
			return -2;
		if (best < 0)
			best_start = len;
	}
	/* Word boundaries up to the open hit; at the same offset the rule first
	 * in the file wins, and anchored lanes try their rules in file order. */
	for (size_t p = 0; p < len && p <= best_start; p++) {
		int32_t lane = g->lane_of[t[p]];

		if (lane < 0 || (p > 0 ? is_word(t[p]) == is_word(t[p - 1]) : !is_word(t[0])))
			continue; /* not a word boundary: no gated rule starts here */
		hit = try_lane(g, &g->lanes[lane], len, p, &start);
		if (hit == -2)
			return -2;
		if (hit >= 0) {
			if (best < 0 || p < best_start || hit < best)
				best = hit;
			break;
		}
	}
	return best;
}

int scope_guard_check(struct scope_guard *g, const char *msg, size_t len, struct scope_verdict *ret)
{
	struct normalize_info info;
	long hit;
	int n;

	if (!g || !ret || (!msg && len > 0))
		return -EINVAL;
	*ret = (struct scope_verdict){.outcome = SCOPE_OUTCOME_PASS, .category = -1};
	g->norm[0] = '\0';
	if (len > g->max_bytes) {
		ret->outcome = SCOPE_OUTCOME_TOO_LONG;
		ret->oversized = true;
		ret->reply = g->reply_too_long;
		return 0;
	}
	n = normalize_text(msg ? msg : "", len, g->norm, g->norm_cap, &info);
	if (n < 0 || normalize_is_binary(&info, len)) {
		/* n < 0 cannot happen (the view never outgrows the input); refusing
		 * is the safe reading if it ever did. */
		g->norm[0] = '\0';
		ret->outcome = SCOPE_OUTCOME_UNREADABLE;
		ret->binary = true;
		ret->reply = g->reply_unreadable;
		return 0;
	}
	hit = find_hit(g, (size_t)n);
	for (size_t i = 0; i < g->ntouched; i++)
		g->veto[g->touched[i]] = VETO_UNKNOWN;
	g->ntouched = 0;
	if (hit == -1)
		return 0;
	ret->escalate = true;
	if (hit == -2) {
		/* The matcher gave up (match limit): fail closed, a person decides. */
		ret->outcome = SCOPE_OUTCOME_ERROR;
		ret->reply = g->reply_error;
		return 0;
	}
	ret->outcome = SCOPE_OUTCOME_ESCALATE;
	ret->category = g->rules[hit].category;
	ret->category_name = g->cats[ret->category].name;
	ret->rule_id = g->rules[hit].id;
	ret->reply = g->cats[ret->category].handoff;
	return 0;
}

/* ---- introspection ----------------------------------------------------- */

const char *scope_guard_last_normalized(const struct scope_guard *g)
{
	return g && g->norm ? g->norm : "";
}

size_t scope_guard_rule_count(const struct scope_guard *g)
{
	return g ? g->nrules : 0;
}

size_t scope_guard_category_count(const struct scope_guard *g)
{
	return g ? g->ncats : 0;
}

const char *scope_guard_category_name(const struct scope_guard *g, size_t i)
{
	return g && i < g->ncats ? g->cats[i].name : NULL;
}

const char *scope_guard_handoff(const struct scope_guard *g, size_t i)
{
	return g && i < g->ncats ? g->cats[i].handoff : NULL;
}

int scope_guard_rule(const struct scope_guard *g, size_t i, struct scope_rule_info *ret)
{
	const struct rule *r;

	if (!g || !ret)
		return -EINVAL;
	if (i >= g->nrules)
		return -ERANGE;
	r = &g->rules[i];
	*ret = (struct scope_rule_info){
	    .id = r->id,
	    .category = g->cats[r->category].name,
	    .pattern = r->pattern,
	    .compiled = r->compiled,
	    .except = r->except,
	    .except_compiled = r->except_compiled,
	    .file = g->name,
	    .line = r->line,
	};
	return 0;
}

size_t scope_guard_max_bytes(const struct scope_guard *g)
{
	return g ? g->max_bytes : 0;
}

bool scope_guard_jit(const struct scope_guard *g)
{
	return g && g->jit;
}

const char *scope_outcome_name(enum scope_outcome o)
{
	switch (o) {
	case SCOPE_OUTCOME_PASS:
		return "pass";
	case SCOPE_OUTCOME_ESCALATE:
		return "escalate";
	case SCOPE_OUTCOME_TOO_LONG:
		return "too_long";
	case SCOPE_OUTCOME_UNREADABLE:
		return "unreadable";
	case SCOPE_OUTCOME_ERROR:
		return "error";
	}
	return NULL;
}
