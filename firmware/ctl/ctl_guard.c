/*
 * edgeboxctl guard — the scope guard at a store, for technicians tuning
 * rules: messages one per line on stdin, one JSON verdict per line on
 * stdout, in order. The line is the message: a line longer than the guard's
 * max_bytes is one refused message, never split into two.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/normalize.h"
#include "agent/scope_guard.h"
#include "firmware/ctl/ctl.h"

static const char *const default_rules[] = {
    "config/scope_rules.conf",
    "/usr/local/share/edgebox/config/scope_rules.conf",
    "/usr/share/edgebox/config/scope_rules.conf",
};

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: edgeboxctl guard [--rules FILE] [--explain] [--unescape]\n"
	       "       edgeboxctl guard --check [--rules FILE] [--json]\n"
	       "\n"
	       "Reads customer messages, one per line, on stdin and prints one JSON line\n"
	       "each, in order:\n"
	       "  {\"escalate\":true,\"category\":\"cancellation\",\"rule\":\"cancel.service\"}\n"
	       "  {\"escalate\":false,\"category\":null,\"rule\":null}\n"
	       "A line over the rules' max_bytes is one refused message (never split):\n"
	       "  {\"escalate\":false,\"category\":null,\"rule\":null,\"rejected\":\"too_long\"}\n"
	       "Binary input gets \"rejected\":\"unreadable\"; a runaway pattern gets\n"
	       "\"escalate\":true with \"error\":\"match_limit\" (the guard fails closed).\n"
	       "\n"
	       "  --rules FILE  the rules (default: config/scope_rules.conf if present, else\n"
	       "                the installed copy under /usr/local/share or /usr/share)\n"
	       "  --explain     add the normalised text the rules saw and the customer's reply\n"
	       "  --unescape    decode \\u{200B}, \\xHH, \\t and \\\\ in each line first, to type\n"
	       "                invisible or look-alike characters on a terminal\n"
	       "  --check       load and compile the rules, report them, read nothing\n"
	       "  --json        with --check: the report as JSON\n"
	       "\n"
	       "Exit status: 0 ok, 1 the rules did not load, 2 usage error.\n");
}

static const char *find_rules(void)
{
	for (size_t i = 0; i < sizeof(default_rules) / sizeof(default_rules[0]); i++)
		if (access(default_rules[i], R_OK) == 0)
			return default_rules[i];
	return default_rules[0]; /* the error then names the first place looked */
}

static int report(struct scope_guard *g, const char *path, bool json)
{
	size_t ncat = scope_guard_category_count(g), nrules = scope_guard_rule_count(g);

	if (json) {
		cJSON *root = cJSON_CreateObject(),
		      *cats = cJSON_AddArrayToObject(root, "categories");
		char *text;

		cJSON_AddStringToObject(root, "rules_file", path);
		cJSON_AddNumberToObject(root, "rules", (double)nrules);
		cJSON_AddBoolToObject(root, "jit", scope_guard_jit(g));
		cJSON_AddNumberToObject(root, "max_bytes", (double)scope_guard_max_bytes(g));
		for (size_t c = 0; c < ncat; c++) {
			cJSON *o = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(o, "rules");
			struct scope_rule_info r;

			cJSON_AddStringToObject(o, "name", scope_guard_category_name(g, c));
			cJSON_AddStringToObject(o, "handoff", scope_guard_handoff(g, c));
			for (size_t i = 0; i < nrules && scope_guard_rule(g, i, &r) == 0; i++)
				if (strcmp(r.category, scope_guard_category_name(g, c)) == 0)
					cJSON_AddItemToArray(ids, cJSON_CreateString(r.id));
			cJSON_AddItemToArray(cats, o);
		}
		text = cJSON_PrintUnformatted(root);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(root);
		return text ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	}
	printf("%s: %zu rules in %zu categories, %s, messages up to %zu bytes\n", path, nrules,
	       ncat, scope_guard_jit(g) ? "JIT-compiled" : "interpreted (no JIT here)",
	       scope_guard_max_bytes(g));
	for (size_t c = 0; c < ncat; c++) {
		struct scope_rule_info r;
		size_t k = 0;

		for (size_t i = 0; i < nrules && scope_guard_rule(g, i, &r) == 0; i++)
			k += strcmp(r.category, scope_guard_category_name(g, c)) == 0;
		printf("  %-18s %3zu rules  \"%s\"\n", scope_guard_category_name(g, c), k,
		       scope_guard_handoff(g, c));
	}
	return CTL_EXIT_OK;
}

/* One verdict as one JSON line. */
static int print_verdict(struct scope_guard *g, const struct scope_verdict *v, bool explain)
{
	cJSON *o = cJSON_CreateObject();
	char *text;

	if (!o)
		return -ENOMEM;
	cJSON_AddBoolToObject(o, "escalate", v->escalate);
	if (v->category_name)
		cJSON_AddStringToObject(o, "category", v->category_name);
	else
		cJSON_AddNullToObject(o, "category");
	if (v->rule_id)
		cJSON_AddStringToObject(o, "rule", v->rule_id);
	else
		cJSON_AddNullToObject(o, "rule");
	if (v->outcome == SCOPE_OUTCOME_TOO_LONG || v->outcome == SCOPE_OUTCOME_UNREADABLE)
		cJSON_AddStringToObject(o, "rejected", scope_outcome_name(v->outcome));
	if (v->outcome == SCOPE_OUTCOME_ERROR)
		cJSON_AddStringToObject(o, "error", "match_limit");
	if (explain) {
		cJSON_AddStringToObject(o, "normalized", scope_guard_last_normalized(g));
		if (v->reply)
			cJSON_AddStringToObject(o, "reply", v->reply);
		else
			cJSON_AddNullToObject(o, "reply");
	}
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

/*
 * Reads stdin line by line into a buffer of cap bytes. A line that does not
 * fit is read to its end and checked as cap bytes, which is over the
 * guard's limit by construction: refused as one message.
 */
static int stream(struct scope_guard *g, bool explain, bool unescape)
{
	size_t max = scope_guard_max_bytes(g);
	/* with --unescape, "\u{200B}" is 8 bytes typed for 3 bytes meant */
	size_t cap = (unescape ? max * 10 : max) + 1;
	char *line = malloc(cap + 1), *msg = malloc(max + 2);
	int c, rc = CTL_EXIT_OK;

	if (!line || !msg) {
		fprintf(stderr, "edgeboxctl guard: out of memory\n");
		free(line);
		free(msg);
		return CTL_EXIT_FAIL;
	}
	for (;;) {
		struct scope_verdict v;
		size_t n = 0;
		bool over = false, any = false;
		const char *text = line;
		size_t len;

		while ((c = getchar()) != EOF && c != '\n') {
			any = true;
			if (n < cap)
				line[n++] = (char)c;
			else
				over = true;
		}
		if (c == EOF && !any)
			break;
		if (!over && n > 0 && line[n - 1] == '\r')
			n--;
		len = n;
		if (over) {
			len = cap; /* refused by length: the bytes are not looked at */
		} else if (unescape) {
			int k = normalize_unescape(line, n, msg, max + 2);

			if (k >= 0) {
				text = msg;
				len = (size_t)k;
			} else if (k == -ENOBUFS) {
				/* decodes to more than max: refused by length (the raw
				 * line is longer still, so line[0..max] is readable) */
				len = max + 1;
			}
			/* a malformed escape: the line is checked as typed */
		}
		if (scope_guard_check(g, text, len, &v) != 0 ||
		    print_verdict(g, &v, explain) != 0) {
			fprintf(stderr, "edgeboxctl guard: out of memory\n");
			rc = CTL_EXIT_FAIL;
			break;
		}
		fflush(stdout);
		if (c == EOF)
			break;
	}
	free(line);
	free(msg);
	return rc;
}

int ctl_guard(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"rules", required_argument, NULL, 'r'},
	    {"explain", no_argument, NULL, 'e'},
	    {"unescape", no_argument, NULL, 'u'},
	    {"check", no_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *path = NULL;
	bool explain = false, unescape = false, check_only = false, json = false;
	char err[SCOPE_ERROR_MAX];
	struct scope_guard *g = NULL;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			path = optarg;
			break;
		case 'e':
			explain = true;
			break;
		case 'u':
			unescape = true;
			break;
		case 'c':
			check_only = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
			"edgeboxctl guard: unexpected argument '%s'; messages come on "
			"stdin\n",
			argv[optind]);
		return CTL_EXIT_USAGE;
	}
	if (!path)
		path = find_rules();
	rc = scope_guard_load(path, &g, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "edgeboxctl guard: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	rc = check_only ? report(g, path, json) : stream(g, explain, unescape);
	scope_guard_free(g);
	return rc;
}
