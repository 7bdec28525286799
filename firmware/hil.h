/*
 * hil — hardware-in-the-loop scenarios: a scripted customer and a scripted
 * watcher on a box's kiosk and staff sockets, with timing checks and a
 * JUnit XML report (docs/hil.md has the scenario format).
 *
 * A scenario (JSON) names a box and a list of steps. The box is either
 * started by the runner (edgeboxd on a config, with replay inputs and a
 * fresh state folder: the mode `make test` uses) or attached to (a box that
 * already runs on a rig, with its real hardware). Steps say something as
 * the customer, send a raw message, wait, expect a message on a socket
 * within a time, or expect none for a time. Every step is one JUnit
 * testcase; for every customer turn the runner measures the time to the
 * first token and to reply_end.
 *
 * The runner never waits without a bound: every step has a time limit
 * (at most HIL_MS_MAX), connecting and stopping too. In start mode it stops
 * the daemon at the end with SIGTERM and checks it exits with status 0; a
 * failure then carries the tail of the daemon's log.
 *
 * Errors: 0 or -errno. Messages (struct hil_error) name the scenario file,
 * the step (1-based) and the field, what was expected and what was found.
 */
#ifndef FIRMWARE_HIL_H
#define FIRMWARE_HIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HIL_FILE_MAX (256 * 1024) /* bytes of one scenario file */
#define HIL_STEPS_MAX 256
#define HIL_SETS_MAX 32		  /* box.start.set entries (edgeboxd takes 64 in all) */
#define HIL_SET_MAX 1024	  /* bytes of one set entry */
#define HIL_NAME_MAX 128	  /* scenario and step names, bytes with the NUL */
#define HIL_MS_MAX 600000	  /* any time limit: 10 minutes */
#define HIL_FILTERS_MAX 16	  /* field / matches entries of one expectation */
#define HIL_PATTERN_MAX 1024	  /* bytes of one regular expression */
#define HIL_GPIO_LINES_MAX 256	  /* inline gpio script lines */
#define HIL_QUEUE_MAX 4096	  /* unread messages kept per socket; older ones are dropped */
#define HIL_LINE_MAX (64 * 1024)  /* longest server line read (the box sends <= 16 KiB) */
#define HIL_REPLY_MAX (16 * 1024) /* bytes of one streamed reply kept for text_matches */
#define HIL_HISTORY 10		  /* last messages per socket shown in a failure */
#define HIL_LOG_TAIL 4096	  /* bytes of the daemon log shown in a failure */
#define HIL_ERROR_MAX 1024

struct hil_error {
	char msg[HIL_ERROR_MAX];
};

/* Worst first: a report's status, and the exit status of `edgeboxctl hil run`. */
enum hil_status {
	HIL_STATUS_PASS = 0, /* every step passed */
	HIL_STATUS_FAIL = 1, /* a step failed (or the daemon did not stop cleanly) */
	HIL_STATUS_BAD_SCENARIO =
	    2,			    /* the scenario, or the config it starts the box with, is bad */
	HIL_STATUS_UNREACHABLE = 3, /* the box's sockets could not be reached */
};

/* ---- scenarios ------------------------------------------------------------ */

struct hil_scenario;

/*
 * Parses a scenario from text (len bytes, at most HIL_FILE_MAX); name (the
 * file) is used in messages and relative paths in it are resolved against
 * the current folder, now. On success *ret is the caller's
 * (hil_scenario_free). Errors: -EINVAL with err->msg "name: step N (kind):
 * ..." or "name:line:col: ..." for JSON syntax, -EFBIG, -ENOENT (a file the
 * scenario names is missing; err->msg says which), -ENOMEM.
 */
int hil_scenario_parse(const char *name, const char *text, size_t len, struct hil_scenario **ret,
		       struct hil_error *err);
/* Same from a file; also -errno when it cannot be read. */
int hil_scenario_load(const char *path, struct hil_scenario **ret, struct hil_error *err);
void hil_scenario_free(struct hil_scenario *s);

const char *hil_scenario_name(const struct hil_scenario *s);
size_t hil_scenario_steps(const struct hil_scenario *s);
bool hil_scenario_starts_box(const struct hil_scenario *s); /* start mode (else attach) */

/* ---- running ---------------------------------------------------------------- */

struct hil_options {
	const char *bin_dir; /* folder of edgeboxd for start mode; NULL: from $PATH */
	const char *kiosk;   /* both set: attach to these sockets, whatever the scenario */
	const char *staff;   /*   says (a start scenario's inputs are then the rig's) */
	const char *const
	    *sets; /* more edgeboxd --set S.K=V for start mode, after the scenario's */
	size_t nsets;
	bool keep_going; /* run every step even after one failed (default: skip the rest) */
	bool keep_state; /* leave the start-mode state folder (the summary names it) */
	FILE *out;	 /* progress: one line per step as it ends; NULL: quiet */
	FILE *trace;	 /* every message as it arrives, with its time; NULL: none */
};

struct hil_report;

/*
 * Runs the scenario. On 0 *ret is the caller's (hil_report_free), whatever
 * the outcome: hil_report_status() says it. Errors before anything ran:
 * -EINVAL (o has only one of kiosk/staff, or too many sets), -ENOMEM,
 * -errno from the state folder, with err->msg.
 */
int hil_run(const struct hil_scenario *s, const struct hil_options *o, struct hil_report **ret,
	    struct hil_error *err);

enum hil_case_result {
	HIL_CASE_PASS,
	HIL_CASE_FAIL,	  /* a check did not hold: JUnit <failure> */
	HIL_CASE_ERROR,	  /* the box could not be started or reached: JUnit <error> */
	HIL_CASE_SKIPPED, /* not run because an earlier step failed */
};

/* One JUnit testcase. Strings are owned by the report. */
struct hil_case {
	const char *name;
	enum hil_case_result result;
	double time_s;
	const char *message; /* one line; "" when passed */
	const char *detail;  /* expected vs got, the last messages, the log tail; "" when passed */
};

/* One customer turn (a say step). Times in ms from sending it; -1: never came. */
struct hil_turn {
	const char *said;
	int64_t first_token_ms;
	int64_t reply_end_ms;
	int64_t handoff_ms;
};

enum hil_status hil_report_status(const struct hil_report *r);
const char *hil_report_name(const struct hil_report *r);
size_t hil_report_cases(const struct hil_report *r);
/* 0 with *ret filled, -ENOENT when i is out of range. */
int hil_report_case(const struct hil_report *r, size_t i, struct hil_case *ret);
size_t hil_report_turns(const struct hil_report *r);
int hil_report_turn(const struct hil_report *r, size_t i, struct hil_turn *ret);
/* The human summary: a line per failed step with its detail, the turn
 * timings, the totals. */
void hil_report_print(const struct hil_report *r, FILE *f);
void hil_report_free(struct hil_report *r);

/* The worse of two statuses (PASS < FAIL < UNREACHABLE < BAD_SCENARIO). */
enum hil_status hil_status_worst(enum hil_status a, enum hil_status b);

/* ---- JUnit ------------------------------------------------------------------ */

/*
 * Writes one <testsuites> with a <testsuite> per report to f / to path
 * (written to path.tmp, then renamed). 0, or -errno (-EIO on a failed
 * write) with err->msg naming the file.
 */
int hil_junit_fprint(const struct hil_report *const *reports, size_t n, FILE *f);
int hil_junit_write(const struct hil_report *const *reports, size_t n, const char *path,
		    struct hil_error *err);

/*
 * XML-escapes s for an attribute or text: & < > " ' as entities, tab and
 * newlines as character references, other control characters and bytes
 * that are not UTF-8 (or not XML characters) as U+FFFD. Writes at most cap
 * bytes with the NUL; the length, or -ENOSPC. 6 * strlen(s) + 1 always fits.
 */
int hil_xml_escape(const char *s, char *out, size_t cap);

#endif
