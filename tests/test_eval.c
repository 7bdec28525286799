/*
 * evals/eval.c and evals/tune.c: the runner on tiny scenario files
 * (tests/fixtures/evals/), against the real agent and the repository's
 * config, skills and catalog. The tuner runs on a two-line fake skill set
 * under test_tmpdir(), once with the offline responder and once with a
 * scripted local LLM whose reply depends on the system prompt, so keep and
 * drop are both decided deterministically.
 */
#include "test.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evals/eval.h"
#include "evals/tune.h"
#include "tests/support/daemon.h"

#define FIX "tests/fixtures/evals"

/* ---- helpers --------------------------------------------------------------- */

static const char *tmp_path(const char *name)
{
	static char buf[8][512];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", test_tmpdir(), name);
	return buf[i];
}

/* A fresh folder under the tmpdir. */
static const char *tmp_folder(const char *name)
{
	const char *p = tmp_path(name);
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", p, p);
	if (system(cmd) != 0)
		return NULL;
	return p;
}

/* Runs eval_main with stdout and stderr captured (separately); returns
 * the exit status. out and errout are malloc'd. */
static int cli(char **out, char **errout, const char *first, ...)
{
	char *argv[40];
	int argc = 0, rc, so, se, fo, fe;
	const char *a;
	va_list ap;

	argv[argc++] = "edgebox-eval";
	va_start(ap, first);
	for (a = first; a && argc < 39; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	fo = open(tmp_path("cli.out"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fe = open(tmp_path("cli.err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = eval_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	*out = test_read_file(tmp_path("cli.out"), NULL);
	*errout = test_read_file(tmp_path("cli.err"), NULL);
	return rc;
}

static const char *last_line(const char *text)
{
	static char line[256];
	const char *end = text + strlen(text), *start;

	while (end > text && end[-1] == '\n')
		end--;
	start = end;
	while (start > text && start[-1] != '\n')
		start--;
	snprintf(line, sizeof(line), "%.*s", (int)(end - start), start);
	return line;
}

/* Loads one file into a fresh set; the error text, or "" when it loaded. */
static int load_one(const char *path, char *err, size_t len)
{
	struct agent_paths p = {.base = "."};
	struct eval_set *set;
	int rc;

	err[0] = '\0';
	rc = eval_set_new(&p, &set, err, len);
	if (rc < 0)
		return rc;
	rc = eval_set_add_file(set, path, err, len);
	if (rc < 0 && eval_set_count(set) != 0)
		rc = -9999; /* a failed file must leave the set unchanged */
	eval_set_free(set);
	return rc;
}

/* A scenario file written under the tmpdir, loaded; the error or "". */
static int load_text(const char *suite, const char *text, char *err, size_t len)
{
	char name[128];
	int rc;

	snprintf(name, sizeof(name), "%s.json", suite);
	rc = test_write_file(tmp_path(name), text, strlen(text));
	if (rc < 0)
		return rc;
	return load_one(tmp_path(name), err, len);
}

/* ---- the runner on good files ---------------------------------------------- */

TEST(passing_suite_exits_0)
{
	char *out, *err;
	int rc = cli(&out, &err, "--scenarios", FIX "/ok", "--quiet", NULL);

	ASSERT_MSG(rc == 0, "exit %d, stdout:\n%s\nstderr:\n%s", rc, out, err);
	ASSERT_STREQ(last_line(out), "evals: 4 passed, 0 failed");
	ASSERT(!strstr(out, "FAIL")); /* --quiet: no progress lines */
	free(out);
	free(err);
}

TEST(progress_and_summary_without_quiet)
{
	char *out, *err;
	int rc = cli(&out, &err, "--scenarios", FIX "/ok", NULL);

	ASSERT_EQ(rc, 0);
	ASSERT_CONTAINS(out, "PASS tiny.price-objection (tiny)");
	ASSERT_CONTAINS(out, "PASS handoff.cancel (handoff)");
	ASSERT_CONTAINS(out, "prompt: discovery turns 1");
	ASSERT_CONTAINS(out, "all ");
	ASSERT_STREQ(last_line(out), "evals: 4 passed, 0 failed");
	free(out);
	free(err);
}

TEST(wrong_expectation_exits_1_with_a_useful_diff)
{
	char *out, *err;
	int rc = cli(&out, &err, "--scenarios", FIX "/wrong", "--quiet", NULL);

	ASSERT_EQ(rc, 1);
	/* file, scenario, turn, field, expected and got, then prompt size and skills */
	ASSERT_CONTAINS(out,
			FIX "/wrong/wrong.json: scenario 'wrong.closing-too-early' turn 2: "
			    "expect.state: expected 'closing', got 'presenting' (from 'discovery') "
			    "(prompt ");
	ASSERT_CONTAINS(out, "scenario 'wrong.closing-too-early' turn 2: expect.skills: expected "
			     "'closing' loaded, got [core_selling, ");
	ASSERT_CONTAINS(out, "; skills: core_selling, discovery");
	ASSERT_CONTAINS(out, "scenario 'wrong.guard-miss' turn 1: expect.escalated: expected true, "
			     "got false");
	ASSERT_CONTAINS(out, "scenario 'wrong.false-alarm' turn 1: expect.escalated: expected "
			     "false, got true (category cancellation)");
	ASSERT(!strstr(out, "wrong.right"));	      /* the correct one is not reported */
	ASSERT(!strstr(out, "turn 1: expect.state")); /* turn 1 of the first one held */
	ASSERT_STREQ(last_line(out), "evals: 1 passed, 3 failed");
	free(out);
	free(err);
}

TEST(guard_misses_and_false_alarms_are_counted)
{
	struct agent_paths p = {.base = "."};
	struct eval_options o = {.paths = {.base = "."}, .day = -1};
	struct eval_results *r = NULL;
	struct eval_totals t;
	struct eval_set *set = NULL;
	char err[EVAL_ERROR_MAX];

	ASSERT_MSG(eval_set_new(&p, &set, err, sizeof(err)) == 0, "%s", err);
	ASSERT_MSG(eval_set_add_dir(set, FIX "/wrong", err, sizeof(err)) == 0, "%s", err);
	ASSERT_MSG(eval_run(set, &o, &r, err, sizeof(err)) == 0, "%s", err);
	ASSERT_EQ(eval_results_totals(r, NULL, &t), 0);
	ASSERT_EQ(t.runs, 4);
	ASSERT_EQ(t.passed, 1);
	ASSERT_EQ(t.expect_escalated, 2); /* guard-miss and right */
	ASSERT_EQ(t.guard_misses, 1);
	ASSERT_EQ(t.expect_not_escalated, 1);
	ASSERT_EQ(t.false_alarms, 1);
	ASSERT_EQ(t.det_failed, 4);
	{
		FILE *devnull = fopen("/dev/null", "w");
		unsigned n = eval_results_print_failures(r, devnull);

		fclose(devnull);
		ASSERT_EQ(n, 4);
	}
	ASSERT_EQ(eval_results_totals(r, "nope", &t), -ENOENT);
	eval_results_free(r);
	eval_set_free(set);
}

TEST(reply_checks_are_scored_not_gated)
{
	struct agent_paths p = {.base = "."};
	struct eval_options o = {.paths = {.base = "."}, .day = -1};
	struct eval_results *r = NULL;
	struct eval_totals t;
	struct eval_set *set = NULL;
	char err[EVAL_ERROR_MAX];

	ASSERT_MSG(eval_set_new(&p, &set, err, sizeof(err)) == 0, "%s", err);
	ASSERT_MSG(eval_set_add_dir(set, FIX "/ok", err, sizeof(err)) == 0, "%s", err);
	ASSERT_MSG(eval_run(set, &o, &r, err, sizeof(err)) == 0, "%s", err);
	/* handoff.cancel asks for a question the handoff line does not have: 2 of 3 */
	ASSERT_EQ(eval_results_totals(r, "handoff", &t), 0);
	ASSERT_EQ(t.failed, 0);
	ASSERT_EQ(t.reply_turns, 2);
	ASSERT_MSG(t.reply_score > 0.83 && t.reply_score < 0.84, "reply %f", t.reply_score);
	ASSERT_EQ(eval_results_totals(r, "tiny", &t), 0);
	ASSERT_EQ(t.reply_turns, 3);
	ASSERT_MSG(t.reply_score == 1.0, "tiny reply %f", t.reply_score);
	/* discovery: turn 1 of the browser; product: turn 2 and the objection's turn 1 */
	ASSERT_EQ(t.discovery.turns, 1);
	ASSERT_EQ(t.product.turns, 2);
	ASSERT(t.discovery.worst > 0.2 && t.discovery.worst <= 0.55);
	ASSERT(eval_results_prompt_ok(r));
	eval_results_free(r);
	eval_set_free(set);
}

/* The offline responder's comparison reply, through every reply check: the
 * exact rules are tested on fixed words in reply_checks_on_exact_words. */
TEST(reply_checks_on_the_offline_responder)
{
	static const char *const text =
	    "{\"suite\": \"replies\", \"scenarios\": [{\"id\": \"r.checks\", \"title\": \"t\","
	    " \"turns\": ["
	    "{\"say\": \"we have crestel tv now, what's the price of tv family plus\","
	    " \"reply\": {\"must\": [\"(?i)unicorn\"], \"must_not\": [\"(?i)unicorn\"],"
	    " \"max_chars\": 20, \"comparison_math\": true, \"figures_from_catalog\": true}},"
	    "{\"say\": \"hi\", \"reply\": {\"comparison_math\": true}}]}]}";
	char *out, *err;
	const char *dir = tmp_folder("replies");
	cJSON *root, *turns, *checks, *c;
	char *json;
	unsigned failed = 0;
	int rc;

	ASSERT(dir);
	ASSERT_EQ(test_write_file(tmp_path("replies/replies.json"), text, strlen(text)), 0);
	rc = cli(&out, &err, "--scenarios", dir, "--quiet", "--json", tmp_path("replies.json"),
		 NULL);
	ASSERT_MSG(rc == 0, "exit %d: %s %s", rc, out, err); /* reply checks never gate */
	json = test_read_file(tmp_path("replies.json"), NULL);
	root = cJSON_Parse(json);
	ASSERT(root);
	turns = cJSON_GetObjectItem(
	    cJSON_GetArrayItem(
		cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "scenarios"), 0),
				    "runs"),
		0),
	    "turns");
	ASSERT_EQ(cJSON_GetArraySize(turns), 2);
	checks = cJSON_GetObjectItem(cJSON_GetArrayItem(turns, 0), "checks");
	cJSON_ArrayForEach(c, checks)
	{
		const char *f = cJSON_GetObjectItem(c, "field")->valuestring;
		const char *got = cJSON_GetObjectItem(c, "got")->valuestring;
		bool pass = cJSON_IsTrue(cJSON_GetObjectItem(c, "pass"));

		ASSERT_STREQ(cJSON_GetObjectItem(c, "kind")->valuestring, "reply");
		if (strcmp(f, "reply.must[0]") == 0)
			ASSERT(!pass && strstr(got, "no match in \""));
		else if (strcmp(f, "reply.must_not[0]") == 0)
			ASSERT(pass && strcmp(got, "no match") == 0);
		else if (strcmp(f, "reply.max_chars") == 0)
			ASSERT(!pass && atoi(got) > 20);
		else if (strcmp(f, "reply.comparison_math") == 0)
			ASSERT_MSG(pass && strstr(got, "$") && strstr(got, "month"),
				   "comparison_math got %s", got);
		else if (strcmp(f, "reply.figures_from_catalog") == 0)
			ASSERT(pass);
		else
			ASSERT_MSG(0, "unexpected check %s", f);
		failed += !pass;
	}
	ASSERT_EQ(failed, 2); /* must and max_chars */
	/* a greeting states no money difference */
	c = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(turns, 1), "checks"), 0);
	ASSERT_STREQ(cJSON_GetObjectItem(c, "field")->valuestring, "reply.comparison_math");
	ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(c, "pass")));
	cJSON_Delete(root);
	free(json);
	free(out);
	free(err);
}

/* ---- broken files ------------------------------------------------------------ */

TEST(broken_files_are_rejected_with_file_scenario_turn_and_field)
{
	static const struct {
		const char *file, *want1, *want2;
	} cases[] = {
	    {"bad_json.json", "bad_json.json:6:7: not valid JSON near \"\"title\"",
	     "missing comma"},
	    {"unknown_key.json",
	     "unknown_key.json: scenario 'bad.unknown-key' turn 2: expcet: "
	     "unknown key (known: say, expect, reply)",
	     "did you mean 'expect'?"},
	    {"unknown_skill.json",
	     "unknown_skill.json: scenario 'closing.ready-to-buy' turn 2: "
	     "expect.skills: unknown skill 'closng' (known: core_selling, ",
	     "did you mean 'closing'?"},
	    {"missing_say.json",
	     "missing_say.json: scenario 'bad.missing-say' turn 3: say: missing", "\"say\""},
	    {"empty_turns.json", "empty_turns.json: scenario 'bad.empty-turns': turns: empty",
	     "at least one turn"},
	    {"bad_pattern.json",
	     "bad_pattern.json: scenario 'bad.pattern' turn 1: reply.must: pattern 2 "
	     "/(unclosed/ is not a valid PCRE2 pattern",
	     "missing closing parenthesis"},
	    {"unknown_tool_arg.json",
	     "scenario 'bad.tool-arg' turn 1: expect.tools[0].args.competitor: tool 'compare' "
	     "has no argument 'competitor'",
	     "did you mean 'competitor_id'?"},
	    {"unknown_product.json",
	     "scenario 'bad.product' turn 1: expect.tools[0].args.product_id: unknown product "
	     "'tv-family-pluss'",
	     "did you mean 'tv-family-plus'?"},
	    {"suite_mismatch.json",
	     "suite_mismatch.json: suite: 'closing' differs from the file name 'suite_mismatch'",
	     "<suite>.json"},
	    {"duplicate_id.json", "scenario 'bad.twice': id: used twice in this file", "#2"},
	    {"contradiction.json",
	     "scenario 'bad.contradiction' turn 1: expect.signals_absent: 'objection' is also "
	     "in expect.signals",
	     "keep one"},
	};
	char err[EVAL_ERROR_MAX], path[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		snprintf(path, sizeof(path), FIX "/broken/%s", cases[i].file);
		rc = load_one(path, err, sizeof(err));
		ASSERT_MSG(rc == -EINVAL, "%s: rc %d (-9999: the set changed), err %s",
			   cases[i].file, rc, err);
		ASSERT_MSG(strstr(err, cases[i].want1), "%s:\n  got  %s\n  want %s", cases[i].file,
			   err, cases[i].want1);
		ASSERT_MSG(strstr(err, cases[i].want2), "%s:\n  got  %s\n  want %s", cases[i].file,
			   err, cases[i].want2);
	}
}

TEST(broken_folder_is_a_load_error_exit_2)
{
	char *out, *err;
	int rc = cli(&out, &err, "--scenarios", FIX "/broken", NULL);

	ASSERT_EQ(rc, 2);
	/* files load by name: bad_json.json is the first */
	ASSERT_CONTAINS(err, "edgebox-eval: " FIX "/broken/bad_json.json:6:7: not valid JSON");
	ASSERT(!strstr(out, "evals:"));
	free(out);
	free(err);
}

TEST(more_bad_fields_each_named)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"signals\": [\"objecton\"]}}]",
	     "turn 1: expect.signals: unknown signal 'objecton' (known: product_interest, "},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"state\": \"presentng\"}}]",
	     "turn 1: expect.state: unknown state 'presentng' (known: idle, "},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"archetype\": \"famly\"}}]",
	     "turn 1: expect.archetype: unknown archetype 'famly'"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"category\": \"cancelation\"}}]",
	     "turn 1: expect.category: unknown category 'cancelation' (known: cancellation"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"archetype_tier\": \"mid\"}}]",
	     "turn 1: expect.archetype_tier: unknown tier 'mid'"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"escalated\": \"yes\"}}]",
	     "turn 1: expect.escalated: expected true or false, got a string"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"escalated\": false, \"category\": "
	     "\"outage\"}}]",
	     "turn 1: expect.category: a category with \"escalated\": false can never hold"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"tools_absent\": [\"book\"]}}]",
	     "turn 1: expect.tools_absent: unknown tool 'book'"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"tools\": [\"compare\"]}}]",
	     "turn 1: expect.tools[0]: expected {\"name\": TOOL, \"args\": {...}}, got a string"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"tools\": [{\"name\": \"compare\", "
	     "\"args\": {\"competitor_id\": \"crestl\"}}]}}]",
	     "turn 1: expect.tools[0].args.competitor_id: unknown competitor 'crestl'"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"tools\": [{\"name\": "
	     "\"search_products\", \"args\": {\"max_price\": \"cheap\"}}]}}]",
	     "turn 1: expect.tools[0].args.max_price: expected number (the tool's schema), got "
	     "a string"},
	    {"\"turns\": [{\"say\": \"hi\", \"expect\": {\"tools\": [{\"name\": "
	     "\"search_products\", \"args\": {\"category\": \"phones\"}}]}}]",
	     "turn 1: expect.tools[0].args.category: 'phones' is not one of the tool's values"},
	    {"\"turns\": [{\"say\": \"hi\", \"reply\": {\"max_chars\": 0}}]",
	     "turn 1: reply.max_chars: expected a whole number of characters"},
	    {"\"turns\": [{\"say\": \"hi\", \"reply\": {\"question\": 1}}]",
	     "turn 1: reply.question: expected true or false, got a number"},
	    {"\"turns\": [{\"say\": \"\"}]", "turn 1: say: empty"},
	    {"\"turns\": [\"hi\"]", "turn 1: expected an object {\"say\": ..., "},
	    {"\"day\": \"2026-02-30\", \"turns\": [{\"say\": \"hi\"}]",
	     "scenario 't.x': day: expected a real date as YYYY-MM-DD, got \"2026-02-30\""},
	    {"\"visitor\": {\"name\": \"Dana\", \"facts\": [\"interest\"]}, \"turns\": [{\"say\": "
	     "\"hi\"}]",
	     "scenario 't.x': visitor.facts: entry 1: expected \"key=value\""},
	    {"\"visitor\": {\"nmae\": \"Dana\"}, \"turns\": [{\"say\": \"hi\"}]",
	     "scenario 't.x': visitor.nmae: unknown key (known: name, returning, last_visit, "
	     "facts); did you mean 'name'?"},
	    {"\"turns\": [{\"say\": \"hi\", \"say\": \"hello\"}]",
	     "turn 1: say: given twice in one object"},
	    {"\"turns\": {\"say\": \"hi\"}", "scenario 't.x': turns: expected an array of turns"},
	};
	char err[EVAL_ERROR_MAX], text[2048];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"suite\": \"bad\", \"scenarios\": [{\"id\": \"t.x\", \"title\": \"t\", "
			 "%s}]}",
			 cases[i].body);
		ASSERT_MSG(load_text("bad", text, err, sizeof(err)) == -EINVAL,
			   "case %zu loaded: %s", i, cases[i].body);
		ASSERT_MSG(strstr(err, "/bad.json: ") && strstr(err, cases[i].want),
			   "case %zu:\n  got  %s\n  want %s", i, err, cases[i].want);
	}
	/* file level */
	ASSERT_EQ(load_text("bad", "[1, 2]", err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "bad.json: expected an object {\"suite\"");
	ASSERT_EQ(load_text("bad", "{\"suite\": \"bad\", \"scenarios\": []} x", err, sizeof(err)),
		  -EINVAL);
	ASSERT_CONTAINS(err, "bad.json:1:35: text after the end of the JSON document");
	ASSERT_EQ(load_text("bad", "{\"suite\": \"bad\"}", err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "bad.json: scenarios: missing");
	ASSERT_EQ(load_text("bad",
			    "{\"suite\": \"bad\", \"scenarios\": [{\"title\": \"t\", "
			    "\"turns\": [{\"say\": \"hi\"}]}]}",
			    err, sizeof(err)),
		  -EINVAL);
	ASSERT_CONTAINS(err, "bad.json: scenario #1: id: missing");
	ASSERT_EQ(load_text("bad",
			    "{\"suite\": \"bad\", \"scenarios\": [{\"id\": \"has space\", "
			    "\"title\": \"t\", \"turns\": [{\"say\": \"hi\"}]}]}",
			    err, sizeof(err)),
		  -EINVAL);
	ASSERT_CONTAINS(err, "scenario #1: id: 'has space': use letters, digits");
}

TEST(limits_are_errors_not_truncation)
{
	char err[EVAL_ERROR_MAX];
	char *text = malloc(EVAL_FILE_MAX_BYTES + 64), *p;
	size_t off;

	ASSERT(text);
	/* 25 turns: one over the limit */
	off = (size_t)sprintf(text, "{\"suite\": \"big\", \"scenarios\": [{\"id\": \"b.turns\", "
				    "\"title\": \"t\", \"turns\": [");
	for (int i = 0; i < EVAL_TURNS_MAX + 1; i++)
		off += (size_t)sprintf(text + off, "%s{\"say\": \"hi\"}", i ? "," : "");
	sprintf(text + off, "]}]}");
	ASSERT_EQ(load_text("big", text, err, sizeof(err)), -E2BIG);
	ASSERT_CONTAINS(err, "scenario 'b.turns': turns: 25 turns, over the limit of 24");
	/* a file over the size limit */
	p = text + sprintf(text, "{\"suite\": \"big\", \"description\": \"");
	memset(p, 'x', EVAL_FILE_MAX_BYTES);
	strcpy(p + EVAL_FILE_MAX_BYTES, "\"}");
	ASSERT_EQ(load_text("big", text, err, sizeof(err)), -EFBIG);
	ASSERT_CONTAINS(err, "big.json: over the 512 KiB limit");
	free(text);
	/* a missing file */
	ASSERT_EQ(load_one(tmp_path("nope.json"), err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, "nope.json: cannot read");
}

TEST(ids_are_unique_across_suites)
{
	static const char a[] = "{\"suite\": \"a\", \"scenarios\": [{\"id\": \"same\", "
				"\"title\": \"t\", \"turns\": [{\"say\": \"hi\"}]}]}";
	static const char b[] = "{\"suite\": \"b\", \"scenarios\": [{\"id\": \"same\", "
				"\"title\": \"t\", \"turns\": [{\"say\": \"hi\"}]}]}";
	struct agent_paths p = {.base = "."};
	struct eval_set *set;
	char err[EVAL_ERROR_MAX];
	const char *dir = tmp_folder("dups");

	ASSERT(dir);
	ASSERT_EQ(test_write_file(tmp_path("dups/a.json"), a, strlen(a)), 0);
	ASSERT_EQ(test_write_file(tmp_path("dups/b.json"), b, strlen(b)), 0);
	ASSERT_EQ(eval_set_new(&p, &set, err, sizeof(err)), 0);
	ASSERT_EQ(eval_set_add_dir(set, dir, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "dups/b.json: scenario 'same': id: already used in ");
	ASSERT_CONTAINS(err, "dups/a.json");
	ASSERT_EQ(eval_set_count(set), 1); /* a.json stays, b.json did not load */
	ASSERT_EQ(eval_set_add_dir(set, tmp_folder("empty"), err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, "no scenario files");
	eval_set_free(set);
}

/* ---- options ------------------------------------------------------------------- */

TEST(suite_and_scenario_filters)
{
	char *out, *err;
	int rc;

	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--suite", "handoff", NULL);
	ASSERT_EQ(rc, 0);
	ASSERT_CONTAINS(out, "PASS handoff.outage");
	ASSERT(!strstr(out, "tiny."));
	ASSERT_STREQ(last_line(out), "evals: 2 passed, 0 failed");
	free(out);
	free(err);

	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--scenario", "tiny.price-objection", NULL);
	ASSERT_EQ(rc, 0);
	ASSERT_CONTAINS(out, "PASS tiny.price-objection");
	ASSERT_STREQ(last_line(out), "evals: 1 passed, 0 failed");
	free(out);
	free(err);

	/* a failing scenario filtered out does not fail the run */
	rc = cli(&out, &err, "--scenarios", FIX "/wrong", "--scenario", "wrong.right", NULL);
	ASSERT_EQ(rc, 0);
	free(out);
	free(err);

	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--suite", "handof", NULL);
	ASSERT_EQ(rc, 2);
	ASSERT_CONTAINS(err, "--suite handof: no such suite (loaded: handoff, tiny)");
	free(out);
	free(err);

	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--scenario", "tiny.price-objectin", NULL);
	ASSERT_EQ(rc, 2);
	ASSERT_CONTAINS(err, "did you mean 'tiny.price-objection'?");
	free(out);
	free(err);

	/* scenario and suite that do not go together */
	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--suite", "handoff", "--scenario",
		 "tiny.price-objection", NULL);
	ASSERT_EQ(rc, 2);
	ASSERT_CONTAINS(err, "no such scenario in suite handoff");
	free(out);
	free(err);
}

TEST(json_output_parses)
{
	char *out, *err, *json;
	cJSON *root, *totals, *suites, *sc, *turn;
	int rc = cli(&out, &err, "--scenarios", FIX "/ok", "--quiet", "--json",
		     tmp_path("out/results.json"), NULL);

	ASSERT_EQ(rc, 0);
	json = test_read_file(tmp_path("out/results.json"), NULL); /* the folder was created */
	ASSERT(json);
	root = cJSON_Parse(json);
	ASSERT_MSG(root, "not JSON: %.200s", json);
	ASSERT_STREQ(cJSON_GetObjectItem(root, "responder")->valuestring, "offline");
	ASSERT_STREQ(cJSON_GetObjectItem(root, "day")->valuestring, EVAL_DEFAULT_DAY);
	totals = cJSON_GetObjectItem(root, "totals");
	ASSERT_EQ(cJSON_GetObjectItem(totals, "runs")->valueint, 4);
	ASSERT_EQ(cJSON_GetObjectItem(totals, "passed")->valueint, 4);
	ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(totals, "reply_score")));
	ASSERT(cJSON_IsObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(totals, "prompt"), "discovery")));
	suites = cJSON_GetObjectItem(root, "suites");
	ASSERT_EQ(cJSON_GetArraySize(suites), 2);
	ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(suites, 0), "suite")->valuestring,
		     "handoff");
	sc = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "scenarios"), 3);
	ASSERT_STREQ(cJSON_GetObjectItem(sc, "id")->valuestring, "tiny.price-objection");
	turn = cJSON_GetArrayItem(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(sc, "runs"), 0), "turns"),
	    1);
	ASSERT_STREQ(cJSON_GetObjectItem(turn, "say")->valuestring, "too expensive");
	ASSERT_STREQ(cJSON_GetObjectItem(turn, "state_after")->valuestring, "objection");
	ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(turn, "tools")) >= 1);
	ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(turn, "checks")) >= 5);
	ASSERT(cJSON_GetObjectItem(turn, "prompt_lines")->valueint > 0);
	ASSERT_CONTAINS(cJSON_GetObjectItem(turn, "kiosk")->valuestring, "reply_start");
	ASSERT_CONTAINS(cJSON_GetObjectItem(turn, "audit")->valuestring, "tool_call");
	cJSON_Delete(root);
	free(json);
	free(out);
	free(err);

	/* "-": the JSON alone on stdout, the text on stderr */
	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--suite", "handoff", "--json", "-", NULL);
	ASSERT_EQ(rc, 0);
	root = cJSON_Parse(out);
	ASSERT_MSG(root, "stdout is not JSON: %.200s", out);
	ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "totals"), "runs")->valueint, 2);
	ASSERT_STREQ(last_line(err), "evals: 2 passed, 0 failed");
	cJSON_Delete(root);
	free(out);
	free(err);
}

TEST(deterministic_only_skips_reply_checks)
{
	char *out, *err, *json;
	cJSON *root;
	int rc = cli(&out, &err, "--scenarios", FIX "/ok", "--quiet", "--deterministic-only",
		     "--json", tmp_path("det.json"), NULL);

	ASSERT_EQ(rc, 0);
	json = test_read_file(tmp_path("det.json"), NULL);
	ASSERT(json && !strstr(json, "\"kind\":\t\"reply\""));
	ASSERT_CONTAINS(json, "\"kind\":\t\"deterministic\"");
	root = cJSON_Parse(json);
	ASSERT(
	    cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "totals"), "reply_score")));
	cJSON_Delete(root);
	free(json);
	free(out);
	free(err);
}

TEST(reports_markdown_and_html)
{
	char *out, *err, *md, *html;
	int rc = cli(&out, &err, "--scenarios", FIX "/wrong", "--quiet", "--report",
		     tmp_path("report.md"), NULL);

	ASSERT_EQ(rc, 1);
	md = test_read_file(tmp_path("report.md"), NULL);
	ASSERT(md);
	ASSERT_CONTAINS(md, "# edgebox sales evals");
	ASSERT_CONTAINS(md, "Command: edgebox-eval --scenarios " FIX "/wrong");
	ASSERT_CONTAINS(md,
			"| suite | scenarios | deterministic pass | reply score | guard misses");
	ASSERT_CONTAINS(md, "| wrong | 4 | 1/4 (25%) |");
	ASSERT_CONTAINS(md, "| 1 of 2 | 1 of 1 |");
	ASSERT_CONTAINS(md, "### wrong.closing-too-early (wrong, run 1 of 1)");
	ASSERT_CONTAINS(md, "| expect.state | 'closing' | 'presenting' (from 'discovery') |");
	ASSERT_CONTAINS(md, "State discovery -> presenting; prompt ");
	ASSERT_CONTAINS(md, "## Prompt size");
	free(md);
	free(out);
	free(err);

	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--quiet", "--report",
		 tmp_path("report.html"), NULL);
	ASSERT_EQ(rc, 0);
	html = test_read_file(tmp_path("report.html"), NULL);
	ASSERT(html);
	ASSERT_CONTAINS(html, "<!DOCTYPE html>");
	ASSERT_CONTAINS(html, "<table><tr><th>suite</th>");
	ASSERT_CONTAINS(html, "<td>handoff</td>");
	ASSERT_CONTAINS(html, "none in &quot;"); /* quotes escaped */
	ASSERT(!strstr(html, "<script"));
	free(html);
	free(out);
	free(err);
}

TEST(repeat_runs_each_scenario_n_times)
{
	char *out, *err, *md;
	int rc = cli(&out, &err, "--scenarios", FIX "/wrong", "--repeat", "3", "--report",
		     tmp_path("rep.md"), NULL);

	ASSERT_EQ(rc, 1);
	ASSERT_CONTAINS(out, "FAIL wrong.guard-miss (wrong) run 2/3");
	ASSERT_CONTAINS(out, "scenario 'wrong.guard-miss' turn 1 (run 3/3): expect.escalated");
	ASSERT_STREQ(last_line(out), "evals: 3 passed, 9 failed");
	md = test_read_file(tmp_path("rep.md"), NULL);
	ASSERT_CONTAINS(md, "## Failures across runs");
	ASSERT_CONTAINS(md, "| wrong.guard-miss | wrong | 0 of 3 | systematic |");
	free(md);
	free(out);
	free(err);
}

TEST(usage_errors_exit_2)
{
	char *out, *err;

	ASSERT_EQ(cli(&out, &err, "--nope", NULL), 2);
	ASSERT_CONTAINS(err, "unknown option --nope");
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "--repeat", "0", NULL), 2);
	ASSERT_CONTAINS(err, "--repeat 0: expected a whole number 1..100");
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "--day", "2026-13-01", NULL), 2);
	ASSERT_CONTAINS(err, "--day 2026-13-01: expected a real date");
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "--apply", NULL), 2);
	ASSERT_CONTAINS(err, "go with --tune SKILL");
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "stray", NULL), 2);
	ASSERT_CONTAINS(err, "unexpected argument 'stray'");
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "--scenarios", tmp_path("missing"), NULL), 2);
	ASSERT_CONTAINS(err, "cannot open the scenarios folder");
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "--help", NULL), 0);
	ASSERT_CONTAINS(out, "--gate-prompt");
	free(out);
	free(err);
}

/* The reply of scenario i's first turn in a JSON results file. */
static char *first_reply(const char *path, int i)
{
	char *json = test_read_file(path, NULL), *r = NULL;
	cJSON *root = json ? cJSON_Parse(json) : NULL;
	cJSON *sc = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "scenarios"), i);
	cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(sc, "runs"), 0);
	cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(run, "turns"), 0);
	cJSON *reply = cJSON_GetObjectItem(t, "reply");

	if (cJSON_IsString(reply))
		r = strdup(reply->valuestring);
	cJSON_Delete(root);
	free(json);
	return r;
}

TEST(day_pins_promotions)
{
	static const char promo[] =
	    "{\"suite\": \"promo\", \"scenarios\": ["
	    "{\"id\": \"p.default\", \"title\": \"t\", \"turns\": [{\"say\": \"what "
	    "promotions are on right now?\"}]},"
	    "{\"id\": \"p.pinned\", \"title\": \"t\", \"day\": \"2026-09-15\", \"turns\": "
	    "[{\"say\": \"what promotions are on right now?\"}]}]}";
	char *out, *err;
	char dir[512];

	ASSERT(tmp_folder("promo"));
	snprintf(dir, sizeof(dir), "%s", tmp_path("promo"));
	ASSERT_EQ(test_write_file(tmp_path("promo/promo.json"), promo, strlen(promo)), 0);
	/* 2026-11-21 (the default) has promotions running, 2026-09-15 none: the
	 * answer differs between the days, and a pinned day ignores --day */
	ASSERT_EQ(
	    cli(&out, &err, "--scenarios", dir, "--quiet", "--json", tmp_path("d1.json"), NULL), 0);
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "--scenarios", dir, "--quiet", "--day", "2026-09-15", "--json",
		      tmp_path("d2.json"), NULL),
		  0);
	free(out);
	free(err);
	ASSERT_EQ(cli(&out, &err, "--scenarios", dir, "--quiet", "--day", "2026-11-21", "--json",
		      tmp_path("d3.json"), NULL),
		  0);
	free(out);
	free(err);
	{
		char *def_nov = first_reply(tmp_path("d1.json"), 0);
		char *def_sep = first_reply(tmp_path("d2.json"), 0);
		char *pin_1 = first_reply(tmp_path("d1.json"), 1);
		char *pin_3 = first_reply(tmp_path("d3.json"), 1);
		bool differ = def_nov && def_sep && strcmp(def_nov, def_sep) != 0;
		bool pinned = pin_1 && pin_3 && def_sep && strcmp(pin_1, def_sep) == 0 &&
			      strcmp(pin_3, def_sep) == 0;

		free(def_nov);
		free(def_sep);
		free(pin_1);
		free(pin_3);
		ASSERT_MSG(differ, "the same promotions answer on 2026-11-21 and 2026-09-15");
		ASSERT_MSG(pinned, "a scenario pinned to 2026-09-15 followed --day");
	}
}

/* ---- a fake skill set: base folder with the real config and catalog ------------ */

/* The skill the tuner works on, as the fake base has it. */
static const char tuned_skill[] = "# Tuned\n"
				  "Ask the customer one question about their household.\n"
				  "Talk about the weather at length.\n";

static const char *fake_base(void)
{
	static const struct {
		const char *name, *text;
	} files[] = {
	    {"base/skills/manifest.conf",
	     "[limits]\nmin = 1\nmax = 4\n\n[skills]\ncore = core\ntuned = 50\ncalm = recovery\n\n"
	     "[no_signal]\nadd = tuned\n[signal.product_interest]\nadd = tuned\n"
	     "[signal.objection]\nadd = tuned\n[signal.comparison]\nadd = tuned\n"
	     "[signal.closing]\nadd = tuned\n[signal.small_talk]\nadd = tuned\n"
	     "[signal.scope_boundary]\nadd = tuned\n\n[service_recovery]\nskill = calm\n"
	     "trigger = complaint\n"},
	    {"base/skills/core.md", "# Core\nBe kind and brief with every customer.\n"},
	    {"base/skills/tuned.md", tuned_skill},
	    {"base/skills/calm.md", "# Calm\nApologise once and fetch a colleague.\n"},
	};
	static char base[512];
	char cwd[400], cmd[3000];

	if (!tmp_folder("base") || !getcwd(cwd, sizeof(cwd)))
		return NULL;
	snprintf(base, sizeof(base), "%s", tmp_path("base"));
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/skills' && ln -s '%s/config' '%s/config' && "
		 "ln -s '%s/catalog' '%s/catalog'",
		 base, cwd, base, cwd, base);
	if (system(cmd) != 0)
		return NULL;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *text = files[i].text;

		if (test_write_file(tmp_path(files[i].name), text, strlen(text)) < 0)
			return NULL;
	}
	return base;
}

/* The fake base's scenarios: 0 or -errno. */
static int fake_scenarios(bool with_weather)
{
	static const char asking[] =
	    "{\"suite\": \"asking\", \"scenarios\": ["
	    "{\"id\": \"ask.hi\", \"title\": \"t\", \"turns\": [{\"say\": \"hi there\", "
	    "\"expect\": {\"escalated\": false}, \"reply\": {\"question\": true}}]},"
	    "{\"id\": \"ask.hello\", \"title\": \"t\", \"turns\": [{\"say\": \"hello\", "
	    "\"reply\": {\"question\": true}}]}]}";
	static const char weather[] =
	    "{\"suite\": \"weather\", \"scenarios\": ["
	    "{\"id\": \"weather.chat\", \"title\": \"t\", \"turns\": [{\"say\": \"good "
	    "morning\", \"reply\": {\"must\": [\"(?i)weather\"]}}]}]}";
	int rc;

	tmp_folder("base/scen");
	rc = test_write_file(tmp_path("base/scen/asking.json"), asking, strlen(asking));
	if (rc < 0 || !with_weather)
		return rc;
	return test_write_file(tmp_path("base/scen/weather.json"), weather, strlen(weather));
}

TEST(gate_prompt_fails_when_a_discovery_turn_loads_everything)
{
	char *out, *err;
	const char *base = fake_base();
	char scen[600];
	int rc;

	ASSERT(base);
	ASSERT_EQ(fake_scenarios(false), 0);
	snprintf(scen, sizeof(scen), "%s/scen", base);
	/* core + tuned of core + tuned + calm: far over 55% */
	rc = cli(&out, &err, "--base", base, "--scenarios", scen, "--deterministic-only",
		 "--gate-prompt", "--quiet", NULL);
	ASSERT_MSG(rc == 1, "exit %d: %s %s", rc, out, err);
	ASSERT_CONTAINS(out, "goal <= 55%: EXCEEDED");
	ASSERT_STREQ(last_line(out), "evals: 2 passed, 1 failed");
	free(out);
	free(err);
	/* without the gate it passes, and the size is still printed */
	rc = cli(&out, &err, "--base", base, "--scenarios", scen, "--deterministic-only", NULL);
	ASSERT_EQ(rc, 0);
	ASSERT_CONTAINS(out, "EXCEEDED");
	ASSERT_STREQ(last_line(out), "evals: 2 passed, 0 failed");
	free(out);
	free(err);
	/* the real skills on the fixtures meet both goals: the gate counts as one more pass */
	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--deterministic-only", "--gate-prompt",
		 "--quiet", NULL);
	ASSERT_EQ(rc, 0);
	ASSERT_STREQ(last_line(out), "evals: 5 passed, 0 failed");
	free(out);
	free(err);
}

/* ---- the tuner ----------------------------------------------------------------- */

static int tune_with(const char *llm_url, bool weather, bool apply, const char *variants,
		     struct eval_tune **ret, char *err, size_t errlen)
{
	const char *base = fake_base();
	char scen[600], manifest[600];
	struct eval_options o = {.day = -1, .llm_url = llm_url, .llm_model = "fake"};
	struct eval_tune_options to = {.skill = "tuned", .apply = apply, .variants_dir = variants};
	struct eval_set *set = NULL;
	int rc;

	if (!base)
		return -EIO;
	rc = fake_scenarios(weather);
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the scenarios: %s", strerror(-rc));
		return rc;
	}
	snprintf(scen, sizeof(scen), "%s/scen", base);
	snprintf(manifest, sizeof(manifest), "%s/skills/manifest.conf", base);
	o.paths.base = base;
	to.scratch_parent = tmp_folder("scratch");
	to.variants_dir = variants ? variants : tmp_path("no-variants");
	rc = eval_set_new(&o.paths, &set, err, errlen);
	rc = rc ?: eval_set_add_dir(set, scen, err, errlen);
	rc = rc ?: eval_tune(set, &o, &to, NULL, ret, err, errlen);
	eval_set_free(set);
	return rc;
}

static int scratch_left(void)
{
	DIR *d = opendir(tmp_path("scratch"));
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += strncmp(de->d_name, "edgebox-tune-", 13) == 0;
	closedir(d);
	return n;
}

TEST(tuner_offline_finds_no_change_and_keeps_nothing)
{
	struct eval_tune *t = NULL;
	struct eval_tune_variant v;
	char err[EVAL_ERROR_MAX], *after;

	ASSERT_MSG(tune_with(NULL, false, true, NULL, &t, err, sizeof(err)) == 0, "%s", err);
	ASSERT_EQ(eval_tune_count(t), 4); /* baseline, drop 2, drop 3, move 3 up */
	ASSERT_EQ(eval_tune_at(t, 0, &v), 0);
	ASSERT_EQ(v.decision, EVAL_TUNE_BASELINE);
	ASSERT_EQ(eval_tune_at(t, 1, &v), 0);
	ASSERT_CONTAINS(v.what, "drop line 2: \"Ask the customer one question");
	ASSERT_EQ(v.decision, EVAL_TUNE_DROPPED);
	ASSERT_CONTAINS(v.why, "no change: every reply and tool call identical (the offline "
			       "responder does not read skill text)");
	ASSERT_EQ(eval_tune_at(t, 3, &v), 0);
	ASSERT_CONTAINS(v.what, "move line 3 up, above line 2");
	ASSERT_EQ(v.decision, EVAL_TUNE_DROPPED);
	ASSERT_EQ(eval_tune_at(t, 4, &v), -ERANGE);
	{
		struct eval_tune_variant b, d;

		eval_tune_at(t, 0, &b);
		eval_tune_at(t, 1, &d);
		ASSERT_MSG(d.prompt_lines < b.prompt_lines,
			   "a dropped line shrinks the prompt: "
			   "%ld vs %ld",
			   d.prompt_lines, b.prompt_lines);
	}
	ASSERT(!eval_tune_improved(t));
	ASSERT(!eval_tune_applied(t)); /* --apply with nothing kept writes nothing */
	after = test_read_file(tmp_path("base/skills/tuned.md"), NULL);
	ASSERT_STREQ(after, "# Tuned\nAsk the customer one question about their household.\n"
			    "Talk about the weather at length.\n");
	ASSERT_EQ(scratch_left(), 0);
	ASSERT_EQ(eval_tune_write_report(t, tmp_path("tune.md"), "edgebox-eval --tune tuned", err,
					 sizeof(err)),
		  0);
	free(after);
	after = test_read_file(tmp_path("tune.md"), NULL);
	ASSERT_CONTAINS(after, "# edgebox skill tuning: tuned");
	ASSERT_CONTAINS(after, "Note: the offline responder does not read skill text");
	ASSERT_CONTAINS(after, "| 1 | 1 | drop line 2: ");
	ASSERT_CONTAINS(after, "| dropped | no change");
	free(after);
	eval_tune_free(t);
}

/* A scripted OpenAI-compatible server. Its reply depends on the request: a
 * customer message "say back: TEXT" gets TEXT (to test the reply checks on
 * exact words); otherwise the system prompt decides: the weather line wins,
 * then the question line. */
static atomic_bool llm_stop;
static int llm_fd = -1;

static void llm_answer(int c)
{
	char buf[1 << 17];
	size_t got = 0, need = 0;
	const char *text = "Hello there.";
	char *hdr_end = NULL, *chunk, *resp = NULL;
	cJSON *req, *msgs, *sys, *last, *delta, *o;
	int n;

	while (got < sizeof(buf) - 1) {
		ssize_t r = read(c, buf + got, sizeof(buf) - 1 - got);

		if (r <= 0)
			return;
		got += (size_t)r;
		buf[got] = '\0';
		if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
			char *cl = strcasestr(buf, "Content-Length:");

			need = (size_t)(hdr_end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (hdr_end && got >= need)
			break;
	}
	if (!hdr_end)
		return;
	req = cJSON_Parse(hdr_end + 4);
	msgs = cJSON_GetObjectItem(req, "messages");
	sys = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content");
	last =
	    cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1), "content");
	if (cJSON_IsString(last) && strncmp(last->valuestring, "say back: ", 10) == 0)
		text = last->valuestring + 10;
	else if (cJSON_IsString(sys) && strstr(sys->valuestring, "weather at length"))
		text = "Lovely weather we are having.";
	else if (cJSON_IsString(sys) && strstr(sys->valuestring, "one question"))
		text = "Who lives at home with you?";
	o = cJSON_CreateObject();
	delta = cJSON_CreateObject();
	cJSON_AddStringToObject(delta, "role", "assistant");
	cJSON_AddStringToObject(delta, "content", text);
	{
		cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();

		cJSON_AddNumberToObject(ch, "index", 0);
		cJSON_AddItemToObject(ch, "delta", delta);
		cJSON_AddItemToArray(choices, ch);
	}
	chunk = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cJSON_Delete(req);
	n = asprintf(
	    &resp,
	    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
	    "data: %s\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
	    "data: [DONE]\n\n",
	    chunk ? chunk : "{}");
	free(chunk);
	if (n > 0 && write(c, resp, (size_t)n) != n)
		n = -1;
	free(resp);
}

static void *llm_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&llm_stop)) {
		int c = accept(llm_fd, NULL, NULL);

		if (c < 0)
			continue;
		llm_answer(c);
		close(c);
	}
	return NULL;
}

static int llm_start(char *url, size_t len)
{
	static pthread_t th;
	static int port;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);

	if (port) {
		snprintf(url, len, "http://127.0.0.1:%d/v1/chat/completions", port);
		return 0;
	}
	llm_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (llm_fd < 0 || bind(llm_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(llm_fd, 16) < 0 || getsockname(llm_fd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	port = ntohs(sa.sin_port);
	if (pthread_create(&th, NULL, llm_main, NULL) != 0)
		return -1;
	pthread_detach(th);
	snprintf(url, len, "http://127.0.0.1:%d/v1/chat/completions", port);
	return 0;
}

/* The checks of scenario 0's turn `turn` in a JSON results file, as one
 * string "field=pass|fail:got; ..." */
static char *checks_of(const char *path, int turn)
{
	char *json = test_read_file(path, NULL), *out = calloc(1, 8192);
	cJSON *root = json ? cJSON_Parse(json) : NULL, *c;
	cJSON *sc = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "scenarios"), 0);
	cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(sc, "runs"), 0);
	cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(run, "turns"), turn);
	size_t off = 0;

	cJSON_ArrayForEach(c, cJSON_GetObjectItem(t, "checks"))
	{
		off +=
		    (size_t)snprintf(out + off, 8192 - off, "%s=%s:%s; ",
				     cJSON_GetObjectItem(c, "field")->valuestring,
				     cJSON_IsTrue(cJSON_GetObjectItem(c, "pass")) ? "pass" : "fail",
				     cJSON_GetObjectItem(c, "got")->valuestring);
		if (off >= 8192)
			break;
	}
	cJSON_Delete(root);
	free(json);
	return out;
}

TEST(reply_checks_on_exact_words)
{
	static const char echo[] =
	    "{\"suite\": \"echo\", \"scenarios\": [{\"id\": \"e.words\", \"title\": \"t\", "
	    "\"turns\": ["
	    /* 0: the math, a question, and selling ($40 is the catalog's price: the
		figure check keeps it) */
	    "{\"say\": \"say back: Against Crestel, TV Family Plus at $40 a month works out "
	    "less. Want the full breakdown?\", \"reply\": {\"comparison_math\": "
	    "true, \"question\": true, \"no_selling\": true, \"must\": [\"(?i)crestel\"], "
	    "\"must_not\": [\"(?i)cheapest ever\"]}},"
	    /* 1: a price without a difference is no comparison math; a ? mid-word is no
		question */
	    "{\"say\": \"say back: TV Family Plus is $40 a month. See "
	    "www.x.com/?a=1 for details\", \"reply\": {\"comparison_math\": true, "
	    "\"question\": true}},"
	    /* 2: no selling, and the offer words */
	    "{\"say\": \"say back: I'm sorry, that should not have happened. A colleague is "
	    "coming over now.\", \"reply\": {\"no_selling\": true, \"question\": true}},"
	    "{\"say\": \"say back: There is a discount on that this week.\", \"reply\": "
	    "{\"no_selling\": true}},"
	    "{\"say\": \"say back: That plan is $40 a month.\", \"reply\": {\"no_selling\": "
	    "true}},"
	    /* 5: characters, not bytes */
	    "{\"say\": \"say back: Caf\u00e9 \u2615 ok\", \"reply\": {\"max_chars\": 9}},"
	    "{\"say\": \"say back: Caf\u00e9 \u2615 ok\", \"reply\": {\"max_chars\": 8}},"
	    /* 7: a figure the catalog does not have */
	    "{\"say\": \"say back: TV Family Plus is only $3 a month.\", \"reply\": "
	    "{\"figures_from_catalog\": true}}"
	    "]}]}";
	char *out, *err, *c, url[128], dir[512];
	int rc;

	ASSERT(llm_start(url, sizeof(url)) == 0);
	ASSERT(tmp_folder("echo"));
	snprintf(dir, sizeof(dir), "%s", tmp_path("echo"));
	ASSERT_EQ(test_write_file(tmp_path("echo/echo.json"), echo, strlen(echo)), 0);
	rc = cli(&out, &err, "--scenarios", dir, "--llm", url, "--quiet", "--json",
		 tmp_path("echo.json"), NULL);
	ASSERT_MSG(rc == 0, "exit %d: %s %s", rc, out, err);
	free(out);
	free(err);

	c = checks_of(tmp_path("echo.json"), 0);
	ASSERT_CONTAINS(c, "reply.must[0]=pass");
	ASSERT_CONTAINS(c, "reply.must_not[0]=pass");
	ASSERT_CONTAINS(c, "reply.comparison_math=pass:\"Against Crestel, TV Family Plus at $40 a "
			   "month works out less.\"");
	ASSERT_CONTAINS(c, "reply.question=pass");
	ASSERT_CONTAINS(c, "reply.no_selling=fail:names 'TV Family Plus'");
	free(c);
	c = checks_of(tmp_path("echo.json"), 1);
	ASSERT_CONTAINS(c, "reply.comparison_math=fail:none in ");
	ASSERT_CONTAINS(c, "reply.question=fail:none in ");
	free(c);
	c = checks_of(tmp_path("echo.json"), 2);
	ASSERT_CONTAINS(c, "reply.no_selling=pass:none");
	ASSERT_CONTAINS(c, "reply.question=fail");
	free(c);
	c = checks_of(tmp_path("echo.json"), 3);
	ASSERT_CONTAINS(c, "reply.no_selling=fail:offers 'discount'");
	free(c);
	c = checks_of(tmp_path("echo.json"), 4);
	ASSERT_CONTAINS(c, "reply.no_selling=fail:states a price '$40'");
	free(c);
	c = checks_of(tmp_path("echo.json"), 5);
	ASSERT_CONTAINS(c, "reply.max_chars=pass:9;");
	free(c);
	c = checks_of(tmp_path("echo.json"), 6);
	ASSERT_CONTAINS(c, "reply.max_chars=fail:9;");
	free(c);
	c = checks_of(tmp_path("echo.json"), 7);
	ASSERT_CONTAINS(c, "reply.figures_from_catalog=fail:1 flagged");
	free(c);
}

TEST(llm_replies_are_checked_and_fallbacks_warned)
{
	char *out, *err, url[128];
	cJSON *root, *totals;
	int rc;

	ASSERT(llm_start(url, sizeof(url)) == 0);
	/* the scripted model calls no tool: the tool expectations of tiny fail */
	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--suite", "tiny", "--llm", url, "--model",
		 "fake", "--json", "-", NULL);
	ASSERT_EQ(rc, 1);
	root = cJSON_Parse(out);
	ASSERT_MSG(root, "not JSON: %.200s", out);
	totals = cJSON_GetObjectItem(root, "totals");
	ASSERT_EQ(cJSON_GetObjectItem(totals, "llm_turns")->valueint, 4);
	ASSERT_EQ(cJSON_GetObjectItem(totals, "fallback_turns")->valueint, 0);
	ASSERT_STREQ(cJSON_GetObjectItem(root, "responder")->valuestring, "llm");
	ASSERT_STREQ(cJSON_GetObjectItem(root, "model")->valuestring, "fake");
	ASSERT_CONTAINS(err, "expect.tools: expected get_product");
	ASSERT(!strstr(err, "warning:"));
	cJSON_Delete(root);
	free(out);
	free(err);
	/* nothing listens on port 1: every turn falls back, and the run says so */
	rc = cli(&out, &err, "--scenarios", FIX "/ok", "--suite", "handoff", "--scenario",
		 "handoff.cancel", "--llm", "http://127.0.0.1:1/v1/chat/completions", NULL);
	ASSERT_EQ(rc, 0); /* a guard turn never asks the model */
	ASSERT(!strstr(out, "warning:"));
	free(out);
	free(err);
	rc = cli(&out, &err, "--scenarios", FIX "/wrong", "--scenario", "wrong.guard-miss", "--llm",
		 "http://127.0.0.1:1/v1/chat/completions", NULL);
	ASSERT_EQ(rc, 1);
	ASSERT_CONTAINS(out, "warning: the model failed on 1 of 1 turns it was asked");
	free(out);
	free(err);
}

TEST(tuner_with_a_model_keeps_an_improvement)
{
	struct eval_tune *t = NULL;
	struct eval_tune_variant v;
	char err[EVAL_ERROR_MAX], url[128], *after;

	ASSERT(llm_start(url, sizeof(url)) == 0);
	ASSERT_MSG(tune_with(url, false, false, NULL, &t, err, sizeof(err)) == 0, "%s", err);
	/* baseline: the weather line wins, no question: reply score 0 */
	ASSERT_EQ(eval_tune_at(t, 0, &v), 0);
	ASSERT_MSG(v.reply_score == 0.0, "baseline reply %f", v.reply_score);
	/* dropping the question line changes nothing the model says */
	ASSERT_EQ(eval_tune_at(t, 1, &v), 0);
	ASSERT_CONTAINS(v.what, "drop line 2");
	ASSERT_EQ(v.decision, EVAL_TUNE_DROPPED);
	ASSERT_CONTAINS(v.why, "no change");
	ASSERT(!strstr(v.why, "offline"));
	/* dropping the weather line makes it ask: kept */
	ASSERT_EQ(eval_tune_at(t, 2, &v), 0);
	ASSERT_CONTAINS(v.what, "drop line 3: \"Talk about the weather at length.\"");
	ASSERT_MSG(v.decision == EVAL_TUNE_KEPT, "decision %d: %s", v.decision, v.why);
	ASSERT_CONTAINS(v.why, "score 1.0000 -> 2.0000");
	ASSERT_CONTAINS(v.why, "no suite regressed");
	/* round 2 mutates the kept text: dropping its last line leaves a header-only file */
	ASSERT_EQ(eval_tune_at(t, 3, &v), 0);
	ASSERT_EQ(v.round, 2);
	ASSERT_EQ(v.decision, EVAL_TUNE_REJECTED);
	ASSERT_CONTAINS(v.why, "does not load: ");
	ASSERT_EQ(eval_tune_count(t), 4);
	ASSERT(eval_tune_improved(t));
	ASSERT_STREQ(eval_tune_final_text(t),
		     "# Tuned\nAsk the customer one question about their household.\n");
	/* without --apply the skill file is untouched */
	ASSERT(!eval_tune_applied(t));
	after = test_read_file(tmp_path("base/skills/tuned.md"), NULL);
	ASSERT_CONTAINS(after, "weather");
	free(after);
	ASSERT_EQ(scratch_left(), 0);
	eval_tune_free(t);

	/* with --apply it is rewritten */
	ASSERT_MSG(tune_with(url, false, true, NULL, &t, err, sizeof(err)) == 0, "%s", err);
	ASSERT(eval_tune_applied(t));
	after = test_read_file(tmp_path("base/skills/tuned.md"), NULL);
	ASSERT_STREQ(after, "# Tuned\nAsk the customer one question about their household.\n");
	free(after);
	eval_tune_free(t);
}

TEST(tuner_drops_an_improvement_that_regresses_a_suite)
{
	struct eval_tune *t = NULL;
	struct eval_tune_variant v;
	char err[EVAL_ERROR_MAX], url[128];
	bool seen = false;

	ASSERT(llm_start(url, sizeof(url)) == 0);
	ASSERT_MSG(tune_with(url, true, false, NULL, &t, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 1; i < eval_tune_count(t); i++) {
		ASSERT_EQ(eval_tune_at(t, i, &v), 0);
		ASSERT_MSG(v.decision != EVAL_TUNE_KEPT, "kept %s: %s", v.what, v.why);
		if (strstr(v.what, "drop line 3")) {
			seen = true;
			/* better overall (2 asking turns gain, 1 weather turn loses) ... */
			ASSERT_CONTAINS(v.why, "a suite regressed (suite weather: reply 1.000 -> "
					       "0.000)");
			ASSERT_CONTAINS(v.why, "score 1.3333 -> 1.6667");
		}
	}
	ASSERT(seen);
	ASSERT(!eval_tune_improved(t));
	eval_tune_free(t);
}

TEST(tuner_tries_person_written_variants_first)
{
	static const char shorter[] =
	    "# Tuned\nAsk the customer one question about their household, then listen.\n";
	struct eval_tune *t = NULL;
	struct eval_tune_variant v;
	char err[EVAL_ERROR_MAX], url[128], vdir[512];

	ASSERT(tmp_folder("variants") && llm_start(url, sizeof(url)) == 0);
	snprintf(vdir, sizeof(vdir), "%s", tmp_path("variants"));
	ASSERT_EQ(test_write_file(tmp_path("variants/a-shorter.md"), shorter, strlen(shorter)), 0);
	ASSERT_EQ(test_write_file(tmp_path("variants/b-same.md"), tuned_skill, strlen(tuned_skill)),
		  0);
	ASSERT_MSG(tune_with(url, false, false, vdir, &t, err, sizeof(err)) == 0, "%s", err);
	ASSERT_EQ(eval_tune_at(t, 1, &v), 0);
	ASSERT_CONTAINS(v.what, "written by a person: ");
	ASSERT_CONTAINS(v.what, "variants/a-shorter.md");
	ASSERT_EQ(v.decision, EVAL_TUNE_KEPT);
	/* b-same is the original text: already tried as the baseline, skipped */
	ASSERT_EQ(eval_tune_at(t, 2, &v), 0);
	ASSERT(!strstr(v.what, "b-same"));
	ASSERT_CONTAINS(eval_tune_final_text(t), "then listen");
	eval_tune_free(t);
}

TEST(tuner_refuses_an_unknown_skill)
{
	struct eval_tune *t = NULL;
	char err[EVAL_ERROR_MAX];
	struct eval_options o = {.paths = {.base = "."}, .day = -1};
	struct eval_tune_options to = {.skill = "objection_handlin"};
	struct agent_paths p = {.base = "."};
	struct eval_set *set = NULL;

	ASSERT_EQ(eval_set_new(&p, &set, err, sizeof(err)), 0);
	ASSERT_EQ(eval_set_add_dir(set, FIX "/ok", err, sizeof(err)), 0);
	ASSERT_EQ(eval_tune(set, &o, &to, NULL, &t, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "--tune objection_handlin: ./skills/manifest.conf names no such skill "
			     "(known: core_selling, ");
	to.skill = "../etc/passwd";
	ASSERT_EQ(eval_tune(set, &o, &to, NULL, &t, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "lower case letters, digits and '_'");
	ASSERT(!t);
	eval_set_free(set);
}

TEST(tune_from_the_command_line)
{
	char *out, *err, *md, scen[600];
	const char *base = fake_base();
	int rc;

	ASSERT(base);
	ASSERT_EQ(fake_scenarios(false), 0);
	snprintf(scen, sizeof(scen), "%s/scen", base);
	rc = cli(&out, &err, "--base", base, "--scenarios", scen, "--tune", "tuned", "--report",
		 tmp_path("cli-tune.md"), "--tune-max", "2", NULL);
	ASSERT_MSG(rc == 0, "exit %d: %s %s", rc, out, err);
	ASSERT_CONTAINS(out, "tune tuned: baseline score");
	ASSERT_CONTAINS(out, "-> dropped: no change");
	ASSERT_STREQ(last_line(out),
		     "tune tuned: 2 variants tried, nothing kept; skills/ untouched");
	md = test_read_file(tmp_path("cli-tune.md"), NULL);
	ASSERT_CONTAINS(md, "## Variants tried");
	free(md);
	free(out);
	free(err);
}

/* ---- the binary, as make test runs it --------------------------------------------- */

TEST(binary_runs_as_make_test_would)
{
	const char *bin = test_bin_dir();
	char cmd[600], line[512], last[512] = "";
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd),
		 "%s/edgebox-eval --scenarios " FIX
		 "/ok --deterministic-only --gate-prompt --quiet "
		 "2>&1",
		 bin);
	p = popen(cmd, "r");
	ASSERT(p);
	while (fgets(line, sizeof(line), p))
		snprintf(last, sizeof(last), "%s", line);
	st = pclose(p);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d, last line %s", cmd, st,
		   last);
	ASSERT_STREQ(last, "evals: 5 passed, 0 failed\n");
	snprintf(cmd, sizeof(cmd), "%s/edgebox-eval --scenarios " FIX "/wrong --quiet >/dev/null",
		 bin);
	st = system(cmd);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}
