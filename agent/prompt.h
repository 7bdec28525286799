/*
 * prompt — the system prompt, assembled per turn in three layers, always in
 * this order:
 *
 *   1. instincts  the selected skills, in the manifest's global order
 *   2. knowledge  this turn's tool results, and nothing else
 *   3. context    the archetype directive, returning-visitor facts, session facts
 *
 * The instincts layer depends only on the skill selection, so two turns with
 * the same selection share it byte for byte as a prefix (report.static_bytes),
 * and an LLM server that caches prompt prefixes reuses it; with core skills
 * first in the order, a change of optional skills still keeps the core prefix.
 *
 * Budget: at most max_lines budget lines (default 400). A budget line is one
 * line of at most PROMPT_LINE_WIDTH characters; a longer line counts once per
 * started PROMPT_LINE_WIDTH characters, so a one-line JSON blob cannot hide
 * its size. Over budget, optional skills go first (lowest priority first,
 * never core, never below the manifest's min), then knowledge is cut from the
 * end with a marker line saying how much was left out; both are reported.
 * A turn is also held to its state's share of the full prompt (the manifest's
 * [budget], carried in the selection): optional skills go, in the same order,
 * until it fits or only min are left; knowledge is never cut for the share.
 * Tokens are estimated as ceil(bytes / 4), the usual ratio for English text
 * with the BPE tokenizers of Llama/Qwen-class models (docs/skills-and-signals.md).
 *
 * A builder owns one bounded buffer; it is not thread-safe (one per session
 * or per conversation thread). Assembly does not allocate.
 */
#ifndef AGENT_PROMPT_H
#define AGENT_PROMPT_H

#include "agent/skills.h"

#include <stddef.h>

#define PROMPT_DEFAULT_MAX_LINES 400
#define PROMPT_LINE_WIDTH 120
#define PROMPT_MAX_BYTES (128 * 1024) /* the whole prompt */
#define PROMPT_MAX_TOOL_RESULTS 8     /* per turn */
#define PROMPT_MAX_TOOL_NAME 64
#define PROMPT_MAX_KNOWLEDGE_BYTES (32 * 1024)
#define PROMPT_MAX_CONTEXT_BYTES 4096 /* each context field */

struct prompt_tool_result {
	const char *name; /* the tool, e.g. "get_product" */
	const char *text; /* its result (JSON or text), as the tool returned it */
};

struct prompt_context {
	const char *archetype; /* display name, or NULL while unclassified */
	const char *directive; /* its four lines, or NULL */
	const char *visitor;   /* returning-visitor facts, one per line, or NULL */
	const char *session;   /* session facts (needs recorded so far), or NULL */
};

struct prompt_report {
	unsigned lines;	 /* budget lines of the whole prompt */
	unsigned tokens; /* estimated: ceil(bytes / 4) */
	size_t bytes;
	unsigned instincts_lines, knowledge_lines, context_lines;
	size_t static_bytes; /* the instincts layer: the prefix that repeats turn to turn */
	unsigned n_skills;
	uint8_t skills[SKILLS_MAX]; /* the skills in the prompt, in order */
	unsigned n_dropped;	    /* optional skills dropped for the budget */
	unsigned budget_lines;	    /* this turn's budget: max_lines or the state's share */
	uint8_t dropped[SKILLS_MAX];
	unsigned knowledge_cut_lines; /* knowledge budget lines left out */
	unsigned tool_results_cut;    /* tool results left out or shortened */
};

struct prompt;

/*
 * A builder for prompts from skills (which must outlive it). max_lines 0 means
 * PROMPT_DEFAULT_MAX_LINES. Errors: -EINVAL (skills NULL, max_lines over
 * PROMPT_MAX_BYTES / 2), -ENOMEM.
 */
int prompt_new(const struct skills *skills, unsigned max_lines, struct prompt **ret);
void prompt_free(struct prompt *p);

/*
 * Assembles this turn's prompt from the selection (skills_select()), up to
 * PROMPT_MAX_TOOL_RESULTS tool results (k may be NULL when nk is 0) and the
 * context (may be NULL). rep (may be NULL) gets the report. Control characters
 * other than newline in tool results and context become spaces. Errors:
 * -EINVAL (bad selection or arguments, a tool result without a name),
 * -E2BIG (more than PROMPT_MAX_TOOL_RESULTS results, a context field over
 * PROMPT_MAX_CONTEXT_BYTES, or the prompt cannot fit the budget even with
 * every optional skill and all knowledge gone); on error the builder holds an
 * empty prompt and rep says what was found.
 */
int prompt_assemble(struct prompt *p, const struct skills_selection *sel,
		    const struct prompt_tool_result *k, size_t nk, const struct prompt_context *ctx,
		    struct prompt_report *rep);

/*
 * The prompt the same turn would get with every skill loaded (the reference
 * for the size ratios). Not held to the budget; same errors otherwise.
 */
int prompt_assemble_full(struct prompt *p, const struct prompt_tool_result *k, size_t nk,
			 const struct prompt_context *ctx, struct prompt_report *rep);

/* The last assembled prompt (NUL-terminated, owned by p) and its length. */
const char *prompt_text(const struct prompt *p);
size_t prompt_len(const struct prompt *p);

/* Budget lines of a text: one per line, plus one per further started PROMPT_LINE_WIDTH characters.
 */
unsigned prompt_count_lines(const char *text, size_t len);

#endif
