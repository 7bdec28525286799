/*
 * eval — the sales-quality evaluation runner behind edgebox-eval.
 *
 * Scenario files (evals/scenarios/<suite>.json, schema in docs/evals.md) are
 * loaded and validated against the agent's real files: every skill,
 * archetype, signal, tool, state and guard category they name, and every
 * product, competitor and offer id in expected tool arguments, must exist,
 * and every key must be known. Errors name the file, the scenario, the turn
 * and the field, what was expected and how to fix it.
 *
 * A run drives each scenario through the same agent code as the daemon
 * (agent/agent.h: agent_session_begin, agent_session_turn) with a sink that
 * records what the kiosk, staff and audit log got, and checks each turn:
 *   deterministic expectations ("expect"): pass/fail, gated in CI;
 *   reply expectations ("reply"): the fraction met, scored and reported.
 * Results give per-suite pass rates, reply scores, scope-guard misses and
 * false alarms, and prompt-size ratios per turn kind, as text, JSON and a
 * Markdown or HTML report.
 *
 * Nothing here is thread-safe; one set and its results belong to one thread.
 */
#ifndef EVALS_EVAL_H
#define EVALS_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/agent.h"

#define EVAL_ERROR_MAX 1024
/* Limits on scenario files; over one is a load error naming the limit. */
#define EVAL_FILE_MAX_BYTES (512 * 1024)
#define EVAL_FILES_MAX 64	/* scenario files in a folder */
#define EVAL_SCENARIOS_MAX 2048 /* scenarios in all */
#define EVAL_SCENARIOS_PER_FILE_MAX 256
#define EVAL_TURNS_MAX 24    /* turns in one scenario */
#define EVAL_SAY_MAX 16384   /* bytes of one customer message */
#define EVAL_TEXT_MAX 1024   /* bytes of a title, judge, description, fact, ... */
#define EVAL_ID_MAX 64	     /* bytes of a scenario id or suite name */
#define EVAL_LIST_MAX 16     /* entries in one expectation list */
#define EVAL_PATTERNS_MAX 16 /* must / must_not patterns per turn */
#define EVAL_PATTERN_MAX 512 /* bytes of one pattern */
#define EVAL_FACTS_MAX 16    /* visitor facts */
#define EVAL_REPEAT_MAX 100
#define EVAL_RUNS_MAX 20000 /* scenarios x repeat in one run */
/* The day promotions are judged on when neither the scenario nor --day says:
 * fixed, so results never depend on the calendar. */
#define EVAL_DEFAULT_DAY "2026-11-21"
/* Prompt size goals (issue "conversation brain"): the turn's prompt lines
 * over the full prompt's (all skills), worst turn of each kind. */
#define EVAL_GOAL_DISCOVERY 0.55
#define EVAL_GOAL_PRODUCT 0.70

/* ---- scenarios ------------------------------------------------------------ */

struct eval_set;

/*
 * An empty set checked against the agent's files at paths (NULL fields take
 * the defaults under paths->base, as agent_new_paths does): the skills
 * manifest, the archetypes, the scope-guard categories and the catalog.
 * 0, or -errno with err naming the file that did not load.
 */
int eval_set_new(const struct agent_paths *paths, struct eval_set **ret, char *err, size_t errlen);
void eval_set_free(struct eval_set *set);

/*
 * Loads one scenario file into the set. The whole file is validated before
 * anything is added: on error the set is unchanged and err names the file,
 * the scenario (its id, or #N when it has none), the turn, the field, what was
 * expected and how to fix it. Errors: -ENOENT/-EACCES/... (cannot read),
 * -EFBIG (over EVAL_FILE_MAX_BYTES), -EINVAL (bad JSON with its line and
 * column, a missing or unknown key, a wrong type, an unknown id, a bad
 * pattern, a duplicate scenario id or suite), -E2BIG (a limit), -ENOMEM.
 */
int eval_set_add_file(struct eval_set *set, const char *path, char *err, size_t errlen);
/* Every *.json file in dir, by name; -ENOENT when there is none. */
int eval_set_add_dir(struct eval_set *set, const char *dir, char *err, size_t errlen);

/*
 * Keeps only the scenarios of suite (NULL: all) and with id scenario (NULL:
 * all). -ENOENT with err listing what exists when nothing matches.
 */
int eval_set_select(struct eval_set *set, const char *suite, const char *scenario, char *err,
		    size_t errlen);
/* Scenarios selected, and suites with at least one selected scenario. */
size_t eval_set_count(const struct eval_set *set);
size_t eval_set_suite_count(const struct eval_set *set);

/* ---- running ---------------------------------------------------------------- */

struct eval_options {
	struct agent_paths paths; /* the agent's files; skills may point at a scratch copy */
	unsigned repeat;	  /* runs per scenario, 1..EVAL_REPEAT_MAX (0: 1) */
	const char *llm_url;	  /* NULL: the offline responder */
	const char *llm_model;	  /* NULL: "default" */
	int32_t day; /* days since 1970-01-01 for scenarios without "day"; <0: default */
	bool deterministic_only; /* skip the reply checks */
	FILE *progress;		 /* one PASS/FAIL line per scenario run as it ends; NULL: none */
};

struct eval_results;

/*
 * Builds the agent from o->paths and runs every selected scenario o->repeat
 * times. A failed expectation is a result, not an error. Errors: -EINVAL
 * (bad options), -E2BIG (more than EVAL_RUNS_MAX runs), the agent's load
 * errors (err says which file), -ENOMEM.
 * The set must outlive the results.
 */
int eval_run(const struct eval_set *set, const struct eval_options *o, struct eval_results **ret,
	     char *err, size_t errlen);
void eval_results_free(struct eval_results *r);

/* Prompt size over one kind of turn. */
struct eval_prompt_stats {
	unsigned turns;
	double mean, worst; /* prompt_lines / full_prompt_lines; 0 when no turn */
	double goal;
	bool ok;			 /* worst <= goal (true when no turn) */
	char worst_at[EVAL_ID_MAX + 16]; /* "scenario-id turn N" */
};

struct eval_totals {
	unsigned scenarios; /* distinct scenarios */
	unsigned runs;	    /* scenario runs (scenarios x repeat) */
	unsigned passed;    /* runs whose every deterministic expectation held */
	unsigned failed;
	unsigned det_checks, det_failed;
	unsigned reply_turns; /* turns with at least one reply check */
	double reply_score;   /* mean fraction met over those turns; -1 when none */
	unsigned expect_escalated, guard_misses;     /* turns expecting escalated = true */
	unsigned expect_not_escalated, false_alarms; /* turns expecting escalated = false */
	struct eval_prompt_stats discovery, product;
	/* With --llm: turns the model answered, and turns where it failed and
	 * the offline responder answered instead (those measure the responder). */
	unsigned llm_turns, fallback_turns;
};

/* Totals over every run (suite NULL) or one suite's runs; -ENOENT for a
 * suite with no run (not selected). */
int eval_results_totals(const struct eval_results *r, const char *suite, struct eval_totals *ret);
size_t eval_results_suite_count(const struct eval_results *r);
/* The set's suites in load order, selected or not; NULL out of range. */
const char *eval_results_suite(const struct eval_results *r, size_t i);
/* Both prompt-size goals met over every run. */
bool eval_results_prompt_ok(const struct eval_results *r);
/* Every turn's prompt lines, summed (the tuner shows how a variant moves it). */
long eval_results_prompt_lines(const struct eval_results *r);
/* A hash of every reply and tool call of every run: equal fingerprints mean
 * the agent said and did exactly the same. */
uint64_t eval_results_fingerprint(const struct eval_results *r);

/*
 * One line per failed deterministic check, each naming the file, scenario,
 * turn, field, expected and got, then the turn's prompt size and skills:
 *   evals/scenarios/closing.json: scenario 'closing.ready' turn 2:
 *   expect.skills: expected 'closing' loaded, got [core_selling, ...]
 * Returns the number of failed checks written.
 */
unsigned eval_results_print_failures(const struct eval_results *r, FILE *out);

/* Everything as one JSON document (docs/evals.md), written to path.tmp and
 * renamed into place (the folder is created); path "-" is stdout. 0, or
 * -errno with err naming the path. */
int eval_results_write_json(const struct eval_results *r, const char *path, char *err,
			    size_t errlen);
/* The readable report: Markdown, or HTML when path ends in .html/.htm.
 * command is the command line that produced it (may be NULL). */
int eval_results_write_report(const struct eval_results *r, const char *path, const char *command,
			      char *err, size_t errlen);

/* ---- reports: one writer, Markdown or HTML (shared with the tuner) --------- */

struct eval_doc;

/* Opens path for writing (through path.tmp, renamed by eval_doc_close) and
 * writes the title; HTML when path ends in .html or .htm. Creates the
 * parent folder if needed. 0 with *ret (freed by eval_doc_close), or -errno
 * with err. */
int eval_doc_open(const char *path, const char *title, struct eval_doc **ret, char *err,
		  size_t errlen);
void eval_doc_heading(struct eval_doc *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void eval_doc_para(struct eval_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A pre-formatted block (code, a skill file, a reply). */
void eval_doc_pre(struct eval_doc *d, const char *text);
/* A table: header cells, then rows of the same width. Cells are plain text
 * (escaped for the format). */
void eval_doc_table(struct eval_doc *d, unsigned ncols, const char *const *head);
void eval_doc_row(struct eval_doc *d, const char *const *cells);
void eval_doc_table_end(struct eval_doc *d);
/* Finishes the file, renames it into place and frees d; 0, or -errno (a
 * write or a formatting allocation failed: the file is removed) with err.
 * NULL is fine. */
int eval_doc_close(struct eval_doc *d, char *err, size_t errlen);

/* ---- the command ------------------------------------------------------------- */

/*
 * edgebox-eval: the whole command line (argv[0] is the program). Exit status:
 * 0 every deterministic expectation held (and the prompt gate when asked),
 * 1 one did not, 2 usage or load error. The last line on stdout is
 * "evals: N passed, N failed".
 */
int eval_main(int argc, char **argv);

#endif
