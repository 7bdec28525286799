/*
 * archetype — which kind of customer this is, as a compressed directive.
 *
 * config/archetypes.conf defines the archetypes (nine in four tiers: service
 * recovery, high, medium and low intent), each with its cues (signals, words
 * and phrases, customer facts, each with a weight) and a four-line directive
 * that goes into the prompt's context layer and to the staff co-pilot.
 *
 * A tracker follows one conversation. Every customer message adds its
 * evidence to a decaying score per archetype (older evidence counts less).
 * Nothing is classified before min_exchanges messages, unless a
 * service-recovery archetype fires (that wins at once, on the first message);
 * from min_exchanges the leader is taken once it has min_score, and by
 * decide_by the leader (or the default archetype) is taken whatever its score.
 * Afterwards a challenger replaces the current archetype only when it leads by
 * switch_margin (hysteresis: no flipping every turn). Fully deterministic.
 * docs/skills-and-signals.md describes the format and the rules.
 */
#ifndef AGENT_ARCHETYPE_H
#define AGENT_ARCHETYPE_H

#include "agent/signals.h"

#include <stdbool.h>
#include <stddef.h>

#define ARCHETYPE_MAX 16
#define ARCHETYPE_MAX_ID 32
#define ARCHETYPE_MAX_NAME 64
#define ARCHETYPE_DIRECTIVE_LINES 4
#define ARCHETYPE_MAX_DIRECTIVE_LINE 120
#define ARCHETYPE_MAX_CUES 64 /* per archetype */
#define ARCHETYPE_CONF_MAX_BYTES (64 * 1024)
#define ARCHETYPE_CONF_MAX_LINE 512
#define ARCHETYPE_ERROR_MAX 512

enum archetype_tier {
	ARCHETYPE_TIER_SERVICE_RECOVERY, /* never sell */
	ARCHETYPE_TIER_HIGH,		 /* they know what they want */
	ARCHETYPE_TIER_MEDIUM,		 /* they need guidance */
	ARCHETYPE_TIER_LOW,		 /* just browsing */
};

#define ARCHETYPE_TIER_COUNT (ARCHETYPE_TIER_LOW + 1)

/* Facts about the customer the box knows without asking. */
enum archetype_fact {
	ARCHETYPE_FACT_RETURNING,    /* a returning visitor (recognised with consent) */
	ARCHETYPE_FACT_HAS_CONTRACT, /* an existing customer with a live contract */
	ARCHETYPE_FACT_ACCOMPANIED,  /* more than one person at the kiosk */
};

#define ARCHETYPE_FACT_COUNT (ARCHETYPE_FACT_ACCOMPANIED + 1)
#define ARCHETYPE_FACT_BIT(f) (1u << (f))

struct archetype_error {
	char msg[ARCHETYPE_ERROR_MAX];
};

/* "service_recovery", "high", "medium", "low"; NULL out of range. */
const char *archetype_tier_name(enum archetype_tier t);

struct archetype_set;

/*
 * Loads the archetypes file. Errors: -ENOENT/-EACCES/... (cannot read),
 * -EFBIG (over ARCHETYPE_CONF_MAX_BYTES), -EINVAL (bad line, unknown section or
 * key, bad tier, signal, fact or weight, a directive that is not exactly four
 * lines, duplicate ids, a default that does not exist, settings out of range),
 * -E2BIG (too many archetypes or cues), -ENOMEM; err->msg names file and line
 * and how to fix it. On error *ret is NULL.
 */
int archetype_set_load(const char *path, struct archetype_set **ret, struct archetype_error *err);
int archetype_set_load_string(const char *name, const char *text, struct archetype_set **ret,
			      struct archetype_error *err);
void archetype_set_free(struct archetype_set *set);

size_t archetype_count(const struct archetype_set *set);
/* The index of id, or -ENOENT. */
int archetype_find(const struct archetype_set *set, const char *id);
const char *archetype_id(const struct archetype_set *set, size_t i);
const char *archetype_name(const struct archetype_set *set, size_t i);
enum archetype_tier archetype_tier(const struct archetype_set *set, size_t i);
/* The four directive lines joined with '\n' (with a final '\n'); owned by set. */
const char *archetype_directive(const struct archetype_set *set, size_t i);

/*
 * Adds every phrase cue to lex as a SIGNAL_TERM_TAG (id = the normalised
 * phrase), so the signal detector reports them with negation handled.
 * Returns 0 or an error of signals_lexicon_add().
 */
int archetype_register_cues(const struct archetype_set *set, struct signals_lexicon *lex);

/* One conversation. */
struct archetype_tracker;

/* 0 with *ret set, or -ENOMEM / -EINVAL. The set must outlive the tracker. */
int archetype_tracker_new(const struct archetype_set *set, struct archetype_tracker **ret);
void archetype_tracker_free(struct archetype_tracker *t);
/* Back to no evidence and no archetype (a new visitor). */
void archetype_tracker_reset(struct archetype_tracker *t);

struct archetype_verdict {
	int current;	    /* archetype index, -1 while unclassified */
	int previous;	    /* the index before this message, -1 if none */
	bool changed;	    /* current differs from previous */
	unsigned exchanges; /* customer messages seen */
	/* Why: the strongest cue this message contributed to current (a signal
	 * name, a phrase or a fact name), or NULL. Points into the set. */
	const char *reason;
};

/*
 * Adds one customer message's evidence (sig may be NULL for a message with
 * no signals; facts is a mask of ARCHETYPE_FACT_BIT()s) and decides. Errors:
 * -EINVAL (NULL tracker or verdict).
 */
int archetype_observe(struct archetype_tracker *t, const struct signals_result *sig, unsigned facts,
		      struct archetype_verdict *ret);

/* The current archetype index or -1; its score (for the co-pilot's "why"). */
int archetype_current(const struct archetype_tracker *t);
double archetype_score(const struct archetype_tracker *t, size_t i);

#endif
