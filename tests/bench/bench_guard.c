/*
 * bench_guard — what the scope guard costs per customer message, next to
 * two references measured in the same run on the same messages:
 *   ours       scope_guard_check(): normalise, then one JIT-compiled PCRE2
 *              pattern holding every rule (excepts only when a rule fires);
 *   perpattern the same normalisation, then each rule's pattern compiled on
 *              its own without JIT and tried one after another until one
 *              fires and is not vetoed;
 *   hyperscan  the same normalisation, then the same rule patterns in one
 *              Hyperscan block-mode database (excepts in a second one).
 * Patterns Hyperscan cannot compile are reported and left out, and the line
 * says how many rules it covered. All three must reach the same escalate /
 * pass decision on every message, or the benchmark says so.
 *
 * Messages: tests/fixtures/guard/messages.tsv and heldout.tsv (kiosk
 * messages). Each message is timed once per round per engine; a message's
 * cost is its median over the rounds, and p50/p99 are taken over the
 * messages. The goals use warm timings (each engine runs the corpus in
 * turn); cold timings (engines alternating per message) are reported too.
 * Usage: bench_guard [rounds]   (default 41)
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <hs/hs.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/normalize.h"
#include "agent/scope_guard.h"

#define RULES "config/scope_rules.conf"
#define MAX_MESSAGES 2048
#define MAX_ROUNDS 201
#define MSG_MAX 4096

enum { ENGINE_OURS, ENGINE_PERPATTERN, ENGINE_HS, ENGINE_NORMALIZE, ENGINES };

struct message {
	char *text;
	size_t len;
};

static struct message messages[MAX_MESSAGES];
static size_t nmessages;

/* the references share the guard's limits and normalisation */
struct ref {
	size_t max_bytes;
	size_t nrules;
	char norm[MSG_MAX + 1];
	/* per-pattern loop */
	pcre2_code **rule_re, **except_re;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	/* hyperscan */
	hs_database_t *hs_rules, *hs_excepts;
	hs_scratch_t *hs_scratch;
	bool *has_except; /* rule has an except (in the hs set) */
	bool *covered;	  /* rule is in the hs set */
	size_t hs_covered, hs_excepts_covered;
	/* per-scan state */
	uint8_t *hit, *veto;
	size_t *hits;
	size_t nhits;
	bool decided;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_guard: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static void load_messages(const char *path)
{
	char line[MSG_MAX], buf[MSG_MAX];
	FILE *f = fopen(path, "r");

	if (!f)
		die("cannot open", path);
	while (fgets(line, sizeof(line), f) && nmessages < MAX_MESSAGES) {
		char *tab;
		int n;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#' || !(tab = strchr(line, '\t')))
			continue;
		n = normalize_unescape(tab + 1, strlen(tab + 1), buf, sizeof(buf));
		if (n < 0)
			die("bad escape in", path);
		messages[nmessages].text = malloc((size_t)n + 1);
		if (!messages[nmessages].text)
			die("out of memory", NULL);
		memcpy(messages[nmessages].text, buf, (size_t)n + 1);
		messages[nmessages].len = (size_t)n;
		nmessages++;
	}
	fclose(f);
}

/* Normalisation and refusals exactly as the guard does them. Returns the
 * normalised length, or -1 for a refused message (not matched). */
static int ref_normalize(struct ref *r, const struct message *m)
{
	struct normalize_info info;
	int n;

	if (m->len > r->max_bytes)
		return -1;
	n = normalize_text(m->text, m->len, r->norm, sizeof(r->norm), &info);
	if (n < 0 || normalize_is_binary(&info, m->len))
		return -1;
	return n;
}

/* ---- per-pattern loop, no JIT ------------------------------------------ */

static pcre2_code *compile_plain(const char *pat)
{
	int code;
	PCRE2_SIZE off;

	return pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
			     PCRE2_CASELESS | PCRE2_NO_AUTO_CAPTURE | PCRE2_NEVER_UTF |
				 PCRE2_NEVER_UCP | PCRE2_NEVER_BACKSLASH_C,
			     &code, &off, NULL);
}

static bool perpattern(struct ref *r, const struct message *m)
{
	int n = ref_normalize(r, m);

	if (n < 0)
		return false;
	for (size_t i = 0; i < r->nrules; i++) {
		if (pcre2_match(r->rule_re[i], (PCRE2_SPTR)r->norm, (size_t)n, 0, 0, r->md,
				r->mctx) < 0)
			continue;
		if (r->except_re[i] && pcre2_match(r->except_re[i], (PCRE2_SPTR)r->norm, (size_t)n,
						   0, 0, r->md, r->mctx) >= 0)
			continue;
		return true;
	}
	return false;
}

/* ---- hyperscan --------------------------------------------------------- */

static int on_rule(unsigned int id, unsigned long long from, unsigned long long to,
		   unsigned int flags, void *ctx)
{
	struct ref *r = ctx;

	(void)from;
	(void)to;
	(void)flags;
	if (!r->has_except[id]) {
		r->decided = true;
		return 1; /* a rule without excepts fired: stop scanning */
	}
	if (!r->hit[id]) {
		r->hit[id] = 1;
		r->hits[r->nhits++] = id;
	}
	return 0;
}

static int on_except(unsigned int id, unsigned long long from, unsigned long long to,
		     unsigned int flags, void *ctx)
{
	struct ref *r = ctx;

	(void)from;
	(void)to;
	(void)flags;
	if (r->hit[id]) /* only rules that fired are looked at, and reset */
		r->veto[id] = 1;
	return 0;
}

static bool hyperscan(struct ref *r, const struct message *m)
{
	int n = ref_normalize(r, m);
	bool escalate = false;

	if (n < 0)
		return false;
	r->decided = false;
	r->nhits = 0;
	hs_scan(r->hs_rules, r->norm, (unsigned int)n, 0, r->hs_scratch, on_rule, r);
	if (!r->decided && r->nhits > 0 && r->hs_excepts)
		hs_scan(r->hs_excepts, r->norm, (unsigned int)n, 0, r->hs_scratch, on_except, r);
	for (size_t i = 0; i < r->nhits; i++) {
		escalate |= !r->veto[r->hits[i]];
		r->hit[r->hits[i]] = 0;
		r->veto[r->hits[i]] = 0;
	}
	return r->decided || escalate;
}

/*
 * Compiles expressions[0..n) into one database, dropping (and reporting)
 * the ones Hyperscan refuses. keep[i] is cleared for a dropped expression.
 */
static hs_database_t *hs_build(const char **expr, unsigned int *ids, size_t n, bool *keep,
			       const char *what, const char *const *names)
{
	unsigned int *flags = calloc(n, sizeof(*flags));
	const char **e = calloc(n, sizeof(*e));
	unsigned int *id = calloc(n, sizeof(*id));
	hs_database_t *db = NULL;

	if (!flags || !e || !id)
		die("out of memory", NULL);
	for (;;) {
		hs_compile_error_t *err = NULL;
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			if (!keep[i])
				continue;
			e[k] = expr[i];
			id[k] = ids[i];
			flags[k] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
			k++;
		}
		if (k == 0)
			break;
		if (hs_compile_multi(e, flags, id, (unsigned int)k, HS_MODE_BLOCK, NULL, &db,
				     &err) == HS_SUCCESS)
			break;
		if (err->expression < 0) {
			fprintf(stderr, "bench_guard: hyperscan cannot build the %s database: %s\n",
				what, err->message);
			hs_free_compile_error(err);
			db = NULL;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (keep[i] && ids[i] == id[err->expression]) {
				printf("hyperscan: %s '%s' left out: %s\n", what, names[i],
				       err->message);
				keep[i] = false;
			}
		hs_free_compile_error(err);
	}
	free(flags);
	free(e);
	free(id);
	return db;
}

static void ref_init(struct ref *r, struct scope_guard *g)
{
	size_t n = scope_guard_rule_count(g);
	const char **expr = calloc(n, sizeof(*expr)), **names = calloc(n, sizeof(*names));
	const char **ex_expr = calloc(n, sizeof(*ex_expr)),
		   **ex_names = calloc(n, sizeof(*ex_names));
	unsigned int *ids = calloc(n, sizeof(*ids)), *ex_ids = calloc(n, sizeof(*ex_ids));
	bool *keep = calloc(n, sizeof(*keep)), *ex_keep = calloc(n, sizeof(*ex_keep));
	size_t nex = 0;

	memset(r, 0, sizeof(*r));
	r->max_bytes = scope_guard_max_bytes(g);
	r->nrules = n;
	r->rule_re = calloc(n, sizeof(*r->rule_re));
	r->except_re = calloc(n, sizeof(*r->except_re));
	r->has_except = calloc(n, sizeof(bool));
	r->covered = calloc(n, sizeof(bool));
	r->hit = calloc(n, 1);
	r->veto = calloc(n, 1);
	r->hits = calloc(n, sizeof(size_t));
	r->md = pcre2_match_data_create(1, NULL);
	r->mctx = pcre2_match_context_create(NULL);
	if (!expr || !names || !ex_expr || !ex_names || !ids || !ex_ids || !keep || !ex_keep ||
	    !r->rule_re || !r->except_re || !r->has_except || !r->covered || !r->hit || !r->veto ||
	    !r->hits || !r->md || !r->mctx)
		die("out of memory", NULL);
	pcre2_set_match_limit(r->mctx, 2000000u);
	for (size_t i = 0; i < n; i++) {
		struct scope_rule_info info;

		scope_guard_rule(g, i, &info);
		r->rule_re[i] = compile_plain(info.compiled);
		if (!r->rule_re[i])
			die("a rule the guard compiled does not compile alone", info.id);
		expr[i] = info.compiled;
		names[i] = info.id;
		ids[i] = (unsigned int)i;
		keep[i] = true;
		if (info.except_compiled) {
			r->except_re[i] = compile_plain(info.except_compiled);
			if (!r->except_re[i])
				die("an except the guard compiled does not compile alone", info.id);
			ex_expr[nex] = info.except_compiled;
			ex_names[nex] = info.id;
			ex_ids[nex] = (unsigned int)i;
			ex_keep[nex] = true;
			nex++;
		}
	}
	r->hs_excepts = hs_build(ex_expr, ex_ids, nex, ex_keep, "except of rule", ex_names);
	/* a rule whose except Hyperscan refused cannot be judged there: leave it out */
	for (size_t k = 0; k < nex; k++) {
		if (ex_keep[k]) {
			r->has_except[ex_ids[k]] = true;
			r->hs_excepts_covered++;
		} else {
			keep[ex_ids[k]] = false;
		}
	}
	r->hs_rules = hs_build(expr, ids, n, keep, "rule", names);
	for (size_t i = 0; i < n; i++) {
		r->covered[i] = keep[i] && r->hs_rules;
		r->hs_covered += r->covered[i];
	}
	if (!r->hs_rules || hs_alloc_scratch(r->hs_rules, &r->hs_scratch) != HS_SUCCESS ||
	    (r->hs_excepts && hs_alloc_scratch(r->hs_excepts, &r->hs_scratch) != HS_SUCCESS))
		die("hyperscan: cannot build the databases", NULL);
	free(expr);
	free(names);
	free(ex_expr);
	free(ex_names);
	free(ids);
	free(ex_ids);
	free(keep);
	free(ex_keep);
}

static void ref_free(struct ref *r)
{
	for (size_t i = 0; i < r->nrules; i++) {
		pcre2_code_free(r->rule_re[i]);
		pcre2_code_free(r->except_re[i]);
	}
	free(r->rule_re);
	free(r->except_re);
	free(r->has_except);
	free(r->covered);
	free(r->hit);
	free(r->veto);
	free(r->hits);
	pcre2_match_data_free(r->md);
	pcre2_match_context_free(r->mctx);
	hs_free_scratch(r->hs_scratch);
	hs_free_database(r->hs_rules);
	hs_free_database(r->hs_excepts);
}

/* ---- timing ------------------------------------------------------------ */

/* One call of engine e on message m, in ns. */
static uint64_t time_one(int e, struct scope_guard *g, struct ref *r, const struct message *m)
{
	static char scratch[MSG_MAX + 1];
	struct normalize_info info;
	struct scope_verdict v;
	volatile bool sink = false;
	uint64_t t0 = now_ns();

	switch (e) {
	case ENGINE_OURS:
		scope_guard_check(g, m->text, m->len, &v);
		sink = v.escalate;
		break;
	case ENGINE_PERPATTERN:
		sink = perpattern(r, m);
		break;
	case ENGINE_HS:
		sink = hyperscan(r, m);
		break;
	default:
		sink = normalize_text(m->text, m->len, scratch, sizeof(scratch), &info) > 0;
		break;
	}
	(void)sink;
	return now_ns() - t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t quantile(uint64_t *v, size_t n, double q)
{
	size_t i;

	qsort(v, n, sizeof(*v), cmp_u64);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void line(const char *name, double ours, double ref, double goal, bool ref_over_ours)
{
	double ratio = ref_over_ours ? ref / ours : ours / ref;

	printf("bench guard.%s ours=%.0f ref=%.0f unit=ns ratio=%.2f goal>=%.2f %s\n", name, ours,
	       ref, ratio, goal, ratio >= goal ? "PASS" : "MISS");
}

int main(int argc, char **argv)
{
	static uint64_t samples[ENGINES][MAX_MESSAGES][MAX_ROUNDS];
	static uint64_t cold[ENGINE_NORMALIZE][MAX_MESSAGES][MAX_ROUNDS];
	static uint64_t cost[ENGINES][MAX_MESSAGES];
	char err[SCOPE_ERROR_MAX];
	struct scope_guard *g = NULL;
	struct ref *r = malloc(sizeof(*r));
	size_t disagree_pp = 0, disagree_hs = 0, escalated = 0;
	long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 41;
	uint64_t q[ENGINES][2], qc[ENGINE_NORMALIZE][2];

	if (rounds < 1 || rounds > MAX_ROUNDS || !r) {
		fprintf(stderr, "usage: bench_guard [rounds 1..%d]\n", MAX_ROUNDS);
		return 2;
	}
	if (scope_guard_load(RULES, &g, err, sizeof(err)) < 0)
		die(err, NULL);
	load_messages("tests/fixtures/guard/messages.tsv");
	load_messages("tests/fixtures/guard/heldout.tsv");
	ref_init(r, g);

	/* the same decisions first: a fast wrong answer is no answer */
	for (size_t i = 0; i < nmessages; i++) {
		struct scope_verdict v;

		scope_guard_check(g, messages[i].text, messages[i].len, &v);
		escalated += v.escalate;
		if (perpattern(r, &messages[i]) != v.escalate) {
			disagree_pp++;
			printf("per-pattern disagrees: %s\n", messages[i].text);
		}
		if (hyperscan(r, &messages[i]) != v.escalate) {
			disagree_hs++;
			printf("hyperscan disagrees: %s\n", messages[i].text);
		}
	}
	printf("guard: %zu rules, %s; %zu messages (%zu escalate), %ld rounds\n",
	       scope_guard_rule_count(g), scope_guard_jit(g) ? "JIT" : "no JIT", nmessages,
	       escalated, rounds);
	printf("hyperscan covers %zu of %zu rules (%zu with excepts); decisions differ from ours "
	       "on %zu messages, per-pattern loop on %zu\n",
	       r->hs_covered, r->nrules, r->hs_excepts_covered, disagree_hs, disagree_pp);

	/*
	 * Warm: each engine runs the whole corpus in turn, so its code and
	 * tables stay in cache from one message to the next (a busy kiosk, and
	 * the goals). Cold: the engines alternate message by message, so each
	 * call finds its caches taken by the other two (a quiet kiosk, one
	 * message every few seconds); reported, not a goal.
	 */
	for (long k = 0; k < rounds; k++) {
		for (int e = 0; e < ENGINES; e++)
			for (size_t i = 0; i < nmessages; i++)
				samples[e][i][k] = time_one(e, g, r, &messages[i]);
		for (size_t i = 0; i < nmessages; i++)
			for (int e = 0; e < ENGINE_NORMALIZE; e++)
				cold[e][i][k] = time_one(e, g, r, &messages[i]);
	}
	for (int e = 0; e < ENGINES; e++) {
		for (size_t i = 0; i < nmessages; i++)
			cost[e][i] = quantile(samples[e][i], (size_t)rounds, 0.5);
		q[e][0] = quantile(cost[e], nmessages, 0.5);
		q[e][1] = quantile(cost[e], nmessages, 0.99);
	}
	for (int e = 0; e < ENGINE_NORMALIZE; e++) {
		for (size_t i = 0; i < nmessages; i++)
			cost[e][i] = quantile(cold[e][i], (size_t)rounds, 0.5);
		qc[e][0] = quantile(cost[e], nmessages, 0.5);
		qc[e][1] = quantile(cost[e], nmessages, 0.99);
	}
	printf("per message (ns)      p50      p99\n");
	printf("  ours          %9llu %8llu\n", (unsigned long long)q[ENGINE_OURS][0],
	       (unsigned long long)q[ENGINE_OURS][1]);
	printf("  per-pattern   %9llu %8llu\n", (unsigned long long)q[ENGINE_PERPATTERN][0],
	       (unsigned long long)q[ENGINE_PERPATTERN][1]);
	printf("  hyperscan     %9llu %8llu\n", (unsigned long long)q[ENGINE_HS][0],
	       (unsigned long long)q[ENGINE_HS][1]);
	printf("  normalise only%9llu %8llu  (in all three)\n",
	       (unsigned long long)q[ENGINE_NORMALIZE][0],
	       (unsigned long long)q[ENGINE_NORMALIZE][1]);
	printf("cold (engines alternate per message):\n");
	printf("  ours          %9llu %8llu\n", (unsigned long long)qc[ENGINE_OURS][0],
	       (unsigned long long)qc[ENGINE_OURS][1]);
	printf("  per-pattern   %9llu %8llu\n", (unsigned long long)qc[ENGINE_PERPATTERN][0],
	       (unsigned long long)qc[ENGINE_PERPATTERN][1]);
	printf("  hyperscan     %9llu %8llu\n", (unsigned long long)qc[ENGINE_HS][0],
	       (unsigned long long)qc[ENGINE_HS][1]);
	line("p50", (double)q[ENGINE_OURS][0], (double)q[ENGINE_PERPATTERN][0], 10.0, true);
	line("p99", (double)q[ENGINE_OURS][1], (double)q[ENGINE_PERPATTERN][1], 10.0, true);
	line("vs_hyperscan_p50", (double)q[ENGINE_OURS][0], (double)q[ENGINE_HS][0], 0.33, true);
	line("vs_hyperscan_p99", (double)q[ENGINE_OURS][1], (double)q[ENGINE_HS][1], 0.33, true);
	printf("bench guard.cold_p50 ours=%llu ref=%llu unit=ns ratio=%.2f goal=none\n",
	       (unsigned long long)qc[ENGINE_OURS][0], (unsigned long long)qc[ENGINE_PERPATTERN][0],
	       (double)qc[ENGINE_PERPATTERN][0] / (double)qc[ENGINE_OURS][0]);
	printf(
	    "bench guard.cold_vs_hyperscan_p50 ours=%llu ref=%llu unit=ns ratio=%.2f goal=none\n",
	    (unsigned long long)qc[ENGINE_OURS][0], (unsigned long long)qc[ENGINE_HS][0],
	    (double)qc[ENGINE_HS][0] / (double)qc[ENGINE_OURS][0]);
	if (disagree_pp || disagree_hs || r->hs_covered < r->nrules)
		printf(
		    "bench guard.agreement ours=%zu ref=%zu unit=messages ratio=%.2f goal=none\n",
		    nmessages - disagree_hs, nmessages,
		    (double)(nmessages - disagree_hs) / (double)nmessages);
	ref_free(r);
	free(r);
	scope_guard_free(g);
	for (size_t i = 0; i < nmessages; i++)
		free(messages[i].text);
	return 0;
}
