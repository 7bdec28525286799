/*
 * signals — the seven conversation signals, detected per customer message
 * without any LLM: product interest, objection, comparison shopping, closing
 * opportunity, small talk, complaint and scope boundary.
 *
 * Cue phrases come from a config file (config/signals.conf) so a store can
 * tune them without code; product, competitor and tag terms come from a
 * lexicon the caller fills (from the catalog, from the archetype cues). Both
 * are compiled into one immutable detector; signals_detect() then matches
 * whole words (never parts of words), never across a clause break (. , ; : !
 * ? and words such as "but"), and drops a cue that a negation word shortly
 * before it cancels ("not too expensive"). Each signal comes with its
 * evidence: the cue phrases that fired and the product or competitor ids.
 * docs/skills-and-signals.md has the rules and the file format.
 *
 * A detector is read-only after signals_detector_new(): any number of threads
 * may call signals_detect() on it at once. Detection allocates nothing.
 */
#ifndef AGENT_SIGNALS_H
#define AGENT_SIGNALS_H

#include "agent/state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum signal {
	SIGNAL_PRODUCT_INTEREST,
	SIGNAL_OBJECTION,
	SIGNAL_COMPARISON,
	SIGNAL_CLOSING,
	SIGNAL_SMALL_TALK,
	SIGNAL_COMPLAINT,
	SIGNAL_SCOPE_BOUNDARY,
};

#define SIGNAL_COUNT (SIGNAL_SCOPE_BOUNDARY + 1)
#define SIGNAL_BIT(s) (1u << (s))

/* Lexicon term kinds: what a matched term means. */
enum signal_term {
	SIGNAL_TERM_PRODUCT,	/* a product: raises product interest, evidence = its id */
	SIGNAL_TERM_COMPETITOR, /* a competitor: raises comparison, evidence = its id */
	SIGNAL_TERM_TAG,	/* a caller's tag (archetype cues): reported, raises nothing */
};

#define SIGNALS_MAX_TEXT 4096  /* bytes in one customer message */
#define SIGNALS_MAX_TOKENS 512 /* words in one customer message */
#define SIGNALS_MAX_PHRASE_WORDS 8
#define SIGNALS_MAX_PHRASE 128 /* bytes in one cue or term, before normalising */
#define SIGNALS_MAX_ID 64      /* bytes in a product/competitor/tag id */
#define SIGNALS_MAX_TERMS 2048 /* lexicon terms */
#define SIGNALS_MAX_CUES 2048  /* cue phrases in the config file */
#define SIGNALS_MAX_EVIDENCE 8 /* entries kept per evidence list; the rest are counted */
#define SIGNALS_MAX_TAGS 32
#define SIGNALS_CONF_MAX_BYTES (64 * 1024)
#define SIGNALS_CONF_MAX_LINE 512
#define SIGNALS_ERROR_MAX 512

struct signals_error {
	char msg[SIGNALS_ERROR_MAX];
};

/* "product_interest", "objection", ...; NULL for a value out of range. */
const char *signals_name(enum signal s);
/* The signal named name; 0 with *ret set, or -EINVAL. */
int signals_from_name(const char *name, enum signal *ret);

/*
 * Normalises text the way the detector does, for callers that compare
 * phrases with detector output: ASCII lower case, apostrophes dropped
 * ("don't" -> "dont", so both spellings match), other punctuation and
 * whitespace folded to one space between words, clause-break punctuation kept
 * as " , ". Bytes >= 0x80 stay as they are (UTF-8 words match as written),
 * except typographic apostrophes, quotes, dashes, ellipses and no-break
 * spaces, which fold like their ASCII peers. Returns the length written
 * (without the NUL), or -E2BIG when it does not fit in out (size len).
 */
int signals_normalize(const char *in, size_t inlen, char *out, size_t len);

/* The caller's terms. Owns copies of everything added. */
struct signals_lexicon;

/* 0 with *ret set, or -ENOMEM. */
int signals_lexicon_new(struct signals_lexicon **ret);
void signals_lexicon_free(struct signals_lexicon *lex);
/*
 * Adds a term: id (1..SIGNALS_MAX_ID-1 bytes) is what evidence reports,
 * phrase what customers say ("family tv"). Several phrases may share an id.
 * Errors: -EINVAL (bad kind, empty id or phrase, id too long, a phrase with no
 * words or more than SIGNALS_MAX_PHRASE_WORDS), -E2BIG (more than
 * SIGNALS_MAX_TERMS, or a phrase over SIGNALS_MAX_PHRASE bytes), -ENOMEM.
 * Adding the same (kind, id, phrase) twice is not an error; it counts once.
 */
int signals_lexicon_add(struct signals_lexicon *lex, enum signal_term kind, const char *id,
			const char *phrase);
size_t signals_lexicon_count(const struct signals_lexicon *lex);

struct signals_detector;

/*
 * Loads the cue file at conf_path and compiles it with lex (may be NULL; the
 * detector copies what it needs, so lex may be freed afterwards). Errors:
 * -ENOENT/-EACCES/... (cannot read), -EFBIG (file too large), -EINVAL (bad
 * line, unknown section or key, bad phrase, duplicate cue, a signal with no
 * cues), -E2BIG (too many cues), -ENOMEM; err->msg names the file, the line,
 * what was expected and how to fix it. On error *ret is NULL.
 */
int signals_detector_new(const char *conf_path, const struct signals_lexicon *lex,
			 struct signals_detector **ret, struct signals_error *err);
/* Same from memory; name is used in messages. */
int signals_detector_new_string(const char *name, const char *text,
				const struct signals_lexicon *lex, struct signals_detector **ret,
				struct signals_error *err);
void signals_detector_free(struct signals_detector *d);
/* Cue phrases per signal in the loaded config (for status and tests). */
size_t signals_cue_count(const struct signals_detector *d, enum signal s);

/*
 * Light turn history. state is the conversation state before this message;
 * focus_product the product id last presented (or NULL). A cue marked
 * "after_offer" in the config ("yes", "sounds good", "how much is it") counts
 * only while an offer is on the table: state PRESENTING, OBJECTION or CLOSING,
 * or a focus product set; its evidence then names the focus product.
 */
struct signals_context {
	enum agent_state state;
	const char *focus_product;
};

/*
 * Evidence for one signal: the cue phrases (as normalised) and the ids that
 * raised it. Strings point into the detector (or ctx->focus_product) and stay
 * valid while it lives. Lists keep the first SIGNALS_MAX_EVIDENCE entries;
 * more are counted in overflow, never dropped silently.
 */
struct signals_evidence {
	unsigned n_cues;
	const char *cues[SIGNALS_MAX_EVIDENCE];
	unsigned n_ids;
	const char *ids[SIGNALS_MAX_EVIDENCE];
	unsigned overflow;
};

struct signals_result {
	uint32_t mask; /* SIGNAL_BIT(s) for each signal raised */
	struct signals_evidence ev[SIGNAL_COUNT];
	/* Every product and competitor named (not negated), first mention first. */
	unsigned n_products;
	const char *products[SIGNALS_MAX_EVIDENCE];
	unsigned n_competitors;
	const char *competitors[SIGNALS_MAX_EVIDENCE];
	/* Tag ids that matched (not negated). */
	unsigned n_tags;
	const char *tags[SIGNALS_MAX_TAGS];
	/* Cues and terms a negation cancelled. */
	unsigned n_negated;
	const char *negated[SIGNALS_MAX_EVIDENCE];
	unsigned overflow; /* entries beyond the caps of the lists above */
	unsigned n_words;
};

/*
 * Detects the signals in one customer message (raw UTF-8, len bytes, no NUL
 * needed). ctx may be NULL (no offer on the table). Errors: -E2BIG (over
 * SIGNALS_MAX_TEXT bytes or SIGNALS_MAX_TOKENS words: the message is refused,
 * not cut), -EINVAL (NULL arguments). *ret is always reset first.
 */
int signals_detect(const struct signals_detector *d, const char *text, size_t len,
		   const struct signals_context *ctx, struct signals_result *ret);

/* Does the result carry this id as evidence for s? (a small helper for callers and tests) */
bool signals_has_evidence(const struct signals_result *r, enum signal s, const char *cue_or_id);

#endif
