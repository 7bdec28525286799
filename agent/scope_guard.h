/*
 * scope_guard — the deterministic filter every customer message passes
 * before anything else sees it. A message that asks for what the kiosk must
 * not handle (cancelling, account changes, billing disputes, faults,
 * complaints, a human, contracts or legal matters, card numbers and other
 * secrets, prompt injection, abuse) is escalated without consulting the
 * model: the verdict carries the category, the rule that fired and the
 * customer's handoff line. The runtime sends the line, raises the staff
 * escalation with the transcript, writes the audit record, and loads no
 * selling skill on that path.
 *
 * Rules live in a line-oriented file (config/scope_rules.conf; the format is
 * in docs/scope-guard.md). All rules are compiled once, at load, into a few
 * combined PCRE2 patterns with JIT (one per first byte, see scope_guard.c);
 * each message is normalised (agent/normalize.h) and scanned once. The
 * verdict is what one alternation of all rules would say: the leftmost
 * match, and at one offset the rule first in the file. A rule may carry
 * "except" patterns that veto it for the whole message ("I don't want to
 * cancel, I want a bigger plan"); they run only when their rule fires.
 *
 * Thread safety: a guard keeps per-check scratch (match data, JIT stack, the
 * normalised text, veto marks), so scope_guard_check() on one guard must not
 * run in two threads at once. Load one guard per thread (tens of ms, about
 * 3 MB with the shipped rules).
 */
#ifndef AGENT_SCOPE_GUARD_H
#define AGENT_SCOPE_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Limits on the rules file. */
#define SCOPE_FILE_MAX_BYTES (256 * 1024)
#define SCOPE_LINE_MAX 4096
#define SCOPE_RULES_MAX 1024
#define SCOPE_CATEGORIES_MAX 32
#define SCOPE_PATTERN_MAX 2048 /* bytes of one pattern as written */
#define SCOPE_REPLY_MAX 512    /* bytes of one customer line */
#define SCOPE_ID_MAX 64	       /* bytes of a rule id or category name */

/* Messages: [guard] max_bytes, its default and its range. */
#define SCOPE_MESSAGE_MAX_DEFAULT 1024
#define SCOPE_MESSAGE_MAX_MIN 64
#define SCOPE_MESSAGE_MAX_LIMIT (64 * 1024)

/* An error message buffer of this size always holds the whole message. */
#define SCOPE_ERROR_MAX 768

struct scope_guard;

enum scope_outcome {
	SCOPE_OUTCOME_PASS,	  /* no rule fired: the message may go on to the agent */
	SCOPE_OUTCOME_ESCALATE,	  /* a rule fired: hand over to staff */
	SCOPE_OUTCOME_TOO_LONG,	  /* over max_bytes: refused with reply, never truncated */
	SCOPE_OUTCOME_UNREADABLE, /* binary, not text: refused with reply */
	SCOPE_OUTCOME_ERROR,	  /* the matcher hit its limit: escalated, fail closed */
};

struct scope_verdict {
	enum scope_outcome outcome;
	bool escalate;		   /* hand over; the message never reaches the LLM */
	bool oversized;		   /* outcome TOO_LONG */
	bool binary;		   /* outcome UNREADABLE */
	int category;		   /* category index, -1 when none */
	const char *category_name; /* "cancellation", ...; NULL when none */
	const char *rule_id;	   /* "cancel.service", ...; NULL when none */
	/* What the customer is told: the category's handoff line, the polite
	 * refusal for TOO_LONG/UNREADABLE, the generic handoff for ERROR; NULL
	 * on PASS. */
	const char *reply;
};

/* One rule as loaded, for tools and benchmarks. Strings belong to the guard. */
struct scope_rule_info {
	const char *id;
	const char *category;
	const char *pattern;	     /* as written in the file */
	const char *compiled;	     /* what was compiled: pattern with look-alike digits */
	const char *except;	     /* its except patterns as one alternation, or NULL */
	const char *except_compiled; /* the same, as compiled, or NULL */
	const char *file;
	int line;
};

/*
 * Loads and compiles the rules file at path. On success *ret owns a new guard
 * (free with scope_guard_free). On failure *ret is NULL and err (errlen bytes;
 * SCOPE_ERROR_MAX always fits) says what to fix: file, line, rule id, and for
 * a bad pattern PCRE2's message and the offset in the pattern.
 * Errors: -ENOENT/-EACCES/-EISDIR/-EIO... (cannot read), -EFBIG (file over
 * SCOPE_FILE_MAX_BYTES), -EINVAL (syntax, a bad pattern, a limit exceeded),
 * -ENOMEM. A pipe or FIFO is read to its end like a file.
 */
int scope_guard_load(const char *path, struct scope_guard **ret, char *err, size_t errlen);

/* The same from memory (text[0..len), at most SCOPE_FILE_MAX_BYTES); name
 * stands for the file in messages. Same errors. */
int scope_guard_load_string(const char *name, const char *text, size_t len,
			    struct scope_guard **ret, char *err, size_t errlen);

/* Frees the guard and everything its verdicts point to. NULL is fine. */
void scope_guard_free(struct scope_guard *g);

/*
 * Checks one message (msg[0..len), UTF-8; any bytes are safe). Always
 * decides: fills *ret and returns 0. The verdict's strings belong to the
 * guard and stay valid until scope_guard_free. -EINVAL only for NULL g/ret,
 * or NULL msg with len > 0.
 */
int scope_guard_check(struct scope_guard *g, const char *msg, size_t len,
		      struct scope_verdict *ret);

/* The normalised text the last check matched ("" before any, or after a
 * refusal). Owned by the guard, overwritten by the next check. */
const char *scope_guard_last_normalized(const struct scope_guard *g);

size_t scope_guard_rule_count(const struct scope_guard *g);
size_t scope_guard_category_count(const struct scope_guard *g);
/* Category i's name and handoff line; NULL when i is out of range. */
const char *scope_guard_category_name(const struct scope_guard *g, size_t i);
const char *scope_guard_handoff(const struct scope_guard *g, size_t i);
/* Rule i (file order) into *ret; -ERANGE when i is out of range. */
int scope_guard_rule(const struct scope_guard *g, size_t i, struct scope_rule_info *ret);
/* [guard] max_bytes: the longest message checked rather than refused. */
size_t scope_guard_max_bytes(const struct scope_guard *g);
/* Whether the patterns run JIT-compiled (false: PCRE2's interpreter, on a
 * platform without JIT support; same verdicts, slower). */
bool scope_guard_jit(const struct scope_guard *g);

/* "pass", "escalate", "too_long", "unreadable", "error"; NULL if out of range. */
const char *scope_outcome_name(enum scope_outcome o);

/*
 * Rewrites a rule pattern so that a literal letter also matches the digit
 * that is typed for it (a->4, b->8, e->3, g->9, i->1, l->1, o->0, s->5,
 * t->7) and, in words of four letters or more, a doubled literal letter also
 * matches a single one ("bill" also matches "bil", because normalisation
 * cuts "biiilll" to "bil"; "off" stays "off"). Escapes,
 * quantifiers, group syntax and negated classes are left alone. Writes a
 * NUL-terminated pattern to out; returns its length, -ENOBUFS if it does not
 * fit in cap, -EINVAL for a construct rules may not use (err, errlen, says
 * which): callouts, recursion, backtracking verbs, \Q..\E.
 */
int scope_pattern_expand(const char *pattern, char *out, size_t cap, char *err, size_t errlen);

#endif
