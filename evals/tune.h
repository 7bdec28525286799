/*
 * tune — the skill-tuning loop behind edgebox-eval --tune SKILL.
 *
 * Copies the skills folder to a scratch folder, then tries variants of one
 * skill file there: files a person wrote (*.md in variants_dir) first, then
 * simple mutations of the current text (drop one instruction, move one up,
 * tighten one: its quoted example, its parenthesis, its filler words).
 * Each variant that still loads is run through the evals; it is kept only
 * when the score (deterministic pass rate + reply score) improves and no
 * suite's pass rate or reply score drops, and it becomes the text the next
 * round mutates (hill climbing until a round keeps nothing or the budget is
 * spent). Every variant is recorded with the reason it was kept or dropped.
 *
 * skills/ itself is written only with apply, and only when a variant was
 * kept. With the offline responder the loop is deterministic and honestly
 * finds no reply change (the responder does not read skill text); it is
 * meant for an LLM (--llm URL --repeat N), where scores are the mean over
 * the repeats.
 */
#ifndef EVALS_TUNE_H
#define EVALS_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "evals/eval.h"

#define EVAL_TUNE_DEFAULT_VARIANTS 40 /* evaluated variants per tuning run */
#define EVAL_TUNE_MAX_VARIANTS 1000
#define EVAL_TUNE_PERSON_MAX 32 /* person-written variant files */
#define EVAL_TUNE_COPY_MAX 64	/* files in the skills folder copied to scratch */
/* Scores closer than this are equal (floating-point noise, not a change). */
#define EVAL_TUNE_EPSILON 1e-9

struct eval_tune_options {
	const char *skill;	  /* the skill id to tune (skills/<id>.md) */
	bool apply;		  /* write the final text back to skills/<id>.md */
	unsigned max_variants;	  /* 0: EVAL_TUNE_DEFAULT_VARIANTS */
	const char *variants_dir; /* person-written variants; NULL: <base>/evals/variants/<skill> */
	const char *scratch_parent; /* where the scratch copy goes; NULL: $TMPDIR or /tmp */
};

enum eval_tune_decision {
	EVAL_TUNE_BASELINE, /* the unchanged file */
	EVAL_TUNE_KEPT,
	EVAL_TUNE_DROPPED,  /* ran, did not improve, or a suite regressed */
	EVAL_TUNE_REJECTED, /* did not load (the skill checks refused it) */
};

struct eval_tune_variant {
	unsigned round;	  /* 0 for the baseline */
	const char *what; /* "drop line 7: ...", "written by a person: DIR/a.md" */
	enum eval_tune_decision decision;
	const char *why;	      /* the reason, with the numbers */
	double det_rate, reply_score; /* over every run; reply -1 when there are no reply checks */
	double score;		      /* det_rate + max(reply, 0) */
	long prompt_lines;	      /* summed over every turn of every run */
	const char *text;	      /* the variant's whole file */
};

struct eval_tune;

/*
 * Runs the loop over the selected scenarios of set with o (o->paths.skills
 * is replaced by the scratch manifest). progress (may be NULL) gets one line
 * per variant. Errors: -EINVAL (unknown skill, bad options), -errno from the
 * file system (scratch copy, apply), the agent's load errors for the
 * baseline; err says what and where. The scratch folder is removed.
 */
int eval_tune(const struct eval_set *set, const struct eval_options *o,
	      const struct eval_tune_options *t, FILE *progress, struct eval_tune **ret, char *err,
	      size_t errlen);
void eval_tune_free(struct eval_tune *t);

/* Variants in the order tried; index 0 is the baseline. */
size_t eval_tune_count(const struct eval_tune *t);
/* Variant i into *ret (its strings are owned by t); -ERANGE out of range. */
int eval_tune_at(const struct eval_tune *t, size_t i, struct eval_tune_variant *ret);
/* A variant was kept; the final text (the original when none was). */
bool eval_tune_improved(const struct eval_tune *t);
const char *eval_tune_final_text(const struct eval_tune *t);
/* Whether skills/<id>.md was rewritten (apply and improved). */
bool eval_tune_applied(const struct eval_tune *t);

/* What was tried and why each was kept or dropped: Markdown or HTML. */
int eval_tune_write_report(const struct eval_tune *t, const char *path, const char *command,
			   char *err, size_t errlen);
int eval_tune_write_json(const struct eval_tune *t, const char *path, char *err, size_t errlen);

#endif
