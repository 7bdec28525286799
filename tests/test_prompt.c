#include "tests/test.h"
#include "agent/archetype.h"
#include "agent/prompt.h"
#include "agent/signals.h"
#include "agent/skills.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

static struct skills *real_skills(void)
{
	struct skills_error err;
	struct skills *s = NULL;

	if (skills_load("skills/manifest.conf", &s, &err) < 0)
		printf("    %s\n", err.msg);
	return s;
}

static const char *layer(const char *text, const char *header)
{
	return strstr(text, header);
}

TEST(layers_come_in_the_fixed_order)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection sel;
	struct prompt_report rep;
	struct prompt_tool_result k[] = {{"get_product", "{\"id\":\"tv-family-plus\"}"}};
	struct prompt_context ctx = {.archetype = "price-sensitive family decision-maker",
				     .directive = "Be consultative.\nDo the comparison math.\n",
				     .visitor = "Last visit: looked at TV packs.",
				     .session = "Needs: three kids, one screen."};
	const char *t, *ins, *kn, *cx;

	ASSERT(s);
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST), 0, &sel),
		  6);
	ASSERT_EQ(prompt_assemble(p, &sel, k, 1, &ctx, &rep), 0);
	t = prompt_text(p);
	ins = layer(t, "# INSTINCTS");
	kn = layer(t, "# KNOWLEDGE");
	cx = layer(t, "# CONTEXT");
	ASSERT(ins == t && kn && cx && ins < kn && kn < cx);
	/* Skills in the manifest's order, all inside the instincts layer. */
	for (unsigned i = 0; i < sel.n; i++) {
		const char *at = strstr(t, skills_text(s, sel.idx[i]));

		ASSERT(at && at < kn);
		if (i)
			ASSERT(at > strstr(t, skills_text(s, sel.idx[i - 1])));
	}
	ASSERT(!strstr(t, skills_text(s, (size_t)skills_find(s, "objection_handling"))));
	/* Tool results only in knowledge, context facts only in context. */
	ASSERT(strstr(t, "## get_product\n{\"id\":\"tv-family-plus\"}\n") > kn);
	ASSERT(strstr(t, "Customer type: price-sensitive family decision-maker\n") > cx);
	ASSERT(strstr(t, "Do the comparison math.\n") > cx);
	ASSERT(strstr(t, "Returning visitor:\nLast visit: looked at TV packs.\n") > cx);
	ASSERT(strstr(t, "This visit so far:\nNeeds: three kids, one screen.\n") > cx);
	ASSERT_EQ(rep.static_bytes, (size_t)(kn - t));
	ASSERT_EQ(rep.n_skills, 6);
	ASSERT_EQ(rep.n_dropped, 0);
	prompt_free(p);
	skills_free(s);
}

TEST(report_counts_lines_and_tokens)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection sel;
	struct prompt_report rep;
	unsigned newlines = 0;
	const char *t;

	ASSERT(s);
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	skills_select(s, AGENT_STATE_IDLE, 0, 0, &sel);
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, NULL, &rep), 0);
	t = prompt_text(p);
	for (const char *c = t; *c; c++)
		newlines += *c == '\n';
	ASSERT_EQ(rep.bytes, strlen(t));
	ASSERT_EQ(prompt_len(p), strlen(t));
	ASSERT_EQ(rep.lines, newlines); /* every line is within the width */
	ASSERT_EQ(rep.tokens, (strlen(t) + 3) / 4);
	ASSERT_EQ(rep.lines, rep.instincts_lines + rep.knowledge_lines + rep.context_lines);
	ASSERT_CONTAINS(t, "(No tool results this turn.");
	ASSERT_CONTAINS(t, "Customer type: not known yet");
	printf("    discovery turn: %u lines, ~%u tokens\n", rep.lines, rep.tokens);
	/* A long line counts once per started 120 characters. */
	ASSERT_EQ(prompt_count_lines("abc\n", 4), 1);
	ASSERT_EQ(prompt_count_lines("abc", 3), 1);
	ASSERT_EQ(prompt_count_lines("\n\n", 2), 2);
	{
		char longl[400];

		memset(longl, 'x', 241);
		longl[241] = '\n';
		ASSERT_EQ(prompt_count_lines(longl, 242), 3);
		/* Characters, not bytes: 120 two-byte letters are one line. */
		for (int i = 0; i < 120; i++)
			memcpy(longl + 2 * i, "\xc3\xa9", 2);
		ASSERT_EQ(prompt_count_lines(longl, 240), 1);
	}
	prompt_free(p);
	skills_free(s);
}

TEST(static_prefix_is_identical_across_turns)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection a, b;
	struct prompt_report r1, r2, r3;
	struct prompt_tool_result k1[] = {{"get_product", "{\"id\":\"fibre-500\"}"}};
	struct prompt_tool_result k2[] = {{"compare", "{\"difference_monthly\":\"3.00\"}"},
					  {"current_promotions", "{\"promotions\":[]}"}};
	struct prompt_context c1 = {0}, c2 = {.archetype = "switcher", .directive = "Compare.\n"};
	char *first;
	size_t core_bytes = strlen("# INSTINCTS: how you sell. Apply them in every reply.\n");

	ASSERT(s);
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST), 0, &a);
	ASSERT_EQ(prompt_assemble(p, &a, k1, 1, &c1, &r1), 0);
	first = strdup(prompt_text(p));
	ASSERT(first);
	/* Same selection, other knowledge and context: the same prefix, byte for byte. */
	ASSERT_EQ(prompt_assemble(p, &a, k2, 2, &c2, &r2), 0);
	ASSERT_EQ(r1.static_bytes, r2.static_bytes);
	ASSERT(memcmp(first, prompt_text(p), r1.static_bytes) == 0);
	ASSERT(strcmp(first, prompt_text(p)) != 0);
	/* Another selection still shares the core skills' prefix. */
	for (size_t i = 0; i < skills_count(s); i++)
		if (skills_is_core(s, i))
			core_bytes += skills_text_len(s, i);
	skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_OBJECTION), 0, &b);
	ASSERT_EQ(prompt_assemble(p, &b, NULL, 0, &c2, &r3), 0);
	ASSERT(r3.static_bytes != r1.static_bytes);
	ASSERT(memcmp(first, prompt_text(p), core_bytes) == 0);
	free(first);
	prompt_free(p);
	skills_free(s);
}

TEST(service_recovery_prompt_has_nothing_that_sells)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection sel;
	struct prompt_report rep;

	ASSERT(s);
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE,
				SIGNAL_BIT(SIGNAL_COMPLAINT) | SIGNAL_BIT(SIGNAL_CLOSING), 0, &sel),
		  1);
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, NULL, &rep), 0);
	ASSERT_EQ(rep.n_skills, 1);
	ASSERT_CONTAINS(prompt_text(p), "# Service recovery");
	ASSERT(!strstr(prompt_text(p), "# Core selling"));
	ASSERT(!strstr(prompt_text(p), "# Promotions"));
	ASSERT(!strstr(prompt_text(p), "# Closing"));
	ASSERT(rep.lines < 40);
	prompt_free(p);
	skills_free(s);
}

static char *many_lines(unsigned n, const char *word)
{
	size_t cap = (size_t)n * (strlen(word) + 12) + 1;
	char *t = malloc(cap);
	size_t o = 0;

	if (!t)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		o += (size_t)snprintf(t + o, cap - o, "%s %u\n", word, i);
	return t;
}

TEST(a_turn_keeps_to_its_states_share_of_the_full_prompt)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection sel;
	struct prompt_report rep, full;
	struct prompt_context ctx = {.archetype = "switcher",
				     .directive = "Lead with the saving.\nDo the math.\n",
				     .visitor = "Last visit: asked about fibre."};
	uint32_t mask = SIGNAL_BIT(SIGNAL_OBJECTION) | SIGNAL_BIT(SIGNAL_COMPARISON);
	static const enum agent_state talking[] = {AGENT_STATE_GREETING, AGENT_STATE_DISCOVERY,
						   AGENT_STATE_PRESENTING, AGENT_STATE_OBJECTION,
						   AGENT_STATE_CLOSING};

	ASSERT(s);
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	ASSERT_EQ(prompt_assemble_full(p, NULL, 0, &ctx, &full), 0);

	/* "Locked in with Crestel" before any product is on the table: 55%. */
	ASSERT_EQ(skills_select(s, AGENT_STATE_DISCOVERY, mask, 0, &sel), 7);
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, &ctx, &rep), 0);
	ASSERT_EQ(rep.budget_lines, full.lines * 55 / 100);
	ASSERT(rep.lines <= rep.budget_lines);
	ASSERT_EQ(rep.lines, prompt_count_lines(prompt_text(p), prompt_len(p)));
	/* The same drop order as for max: four forces (60), then presentation (70). */
	ASSERT_EQ(rep.n_dropped, 2);
	ASSERT_STREQ(skills_id(s, rep.dropped[0]), "four_forces");
	ASSERT_STREQ(skills_id(s, rep.dropped[1]), "product_presentation");
	ASSERT_EQ(rep.n_skills, 5);
	ASSERT(
	    strstr(prompt_text(p), skills_text(s, (size_t)skills_find(s, "objection_handling"))));
	ASSERT(
	    strstr(prompt_text(p), skills_text(s, (size_t)skills_find(s, "competitive_response"))));

	/* The same words about an offer on the table: 70%, everything fits. */
	ASSERT_EQ(skills_select(s, AGENT_STATE_PRESENTING, mask, 0, &sel), 7);
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, &ctx, &rep), 0);
	ASSERT_EQ(rep.n_dropped, 0);
	ASSERT(rep.lines <= full.lines * 70 / 100);

	/* Every signal mix in every talking state keeps to its share, or is at min. */
	for (size_t k = 0; k < sizeof(talking) / sizeof(talking[0]); k++) {
		for (uint32_t m = 0; m < (1u << SIGNAL_COUNT); m++) {
			unsigned share;

			ASSERT(skills_select(s, talking[k], m, 0, &sel) > 0);
			share = sel.share;
			ASSERT_EQ(prompt_assemble_full(p, NULL, 0, &ctx, &full), 0);
			ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, &ctx, &rep), 0);
			ASSERT_MSG(sel.service_recovery || rep.lines * 100 <= full.lines * share ||
				       rep.n_skills == skills_min(s),
				   "%s mask %#x: %u of %u lines, share %u%%",
				   agent_state_name(talking[k]), m, rep.lines, full.lines, share);
			ASSERT(sel.service_recovery || rep.n_skills >= skills_min(s));
		}
	}
	prompt_free(p);
	skills_free(s);
}

TEST(budget_drops_optional_skills_first_then_cuts_knowledge)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection sel;
	struct prompt_report rep;
	uint32_t all = (1u << SIGNAL_COUNT) - 1 - SIGNAL_BIT(SIGNAL_COMPLAINT);
	char *big = many_lines(300, "fact");
	struct prompt_tool_result k[] = {{"get_product", "{\"id\":\"x\"}"},
					 {"search_products", big}};
	unsigned core_lines = 1;

	ASSERT(s && big);
	for (size_t i = 0; i < skills_count(s); i++)
		if (skills_is_core(s, i))
			core_lines += skills_lines(s, i);

	/* Within the default budget, 300 lines of results push out optional skills. */
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, all, 0, &sel), 10);
	ASSERT_EQ(prompt_assemble(p, &sel, k, 2, NULL, &rep), 0);
	ASSERT(rep.lines <= 400);
	ASSERT_EQ(rep.n_skills, 5); /* never below min */
	ASSERT_EQ(rep.n_dropped, 5);
	for (unsigned i = 0; i < rep.n_skills; i++)
		ASSERT(skills_is_core(s, rep.skills[i]) ||
		       strcmp(skills_id(s, rep.skills[i]), "scope_boundaries") == 0 ||
		       strcmp(skills_id(s, rep.skills[i]), "closing") == 0);
	/* Lowest priority first: the optional skills kept are the highest (scope 90, closing 85).
	 */
	ASSERT_STREQ(skills_id(s, rep.dropped[0]), "cross_sell");
	ASSERT_STREQ(skills_id(s, rep.dropped[1]), "four_forces");
	ASSERT_STREQ(skills_id(s, rep.dropped[4]), "objection_handling");
	/* Then knowledge is cut at a line, with a marker, and reported. */
	ASSERT(rep.knowledge_cut_lines > 0);
	ASSERT_EQ(rep.tool_results_cut, 1);
	ASSERT_CONTAINS(prompt_text(p), "## get_product\n");
	ASSERT_CONTAINS(prompt_text(p), "## search_products\nfact 0\n");
	ASSERT_CONTAINS(prompt_text(p), "lines of tool results from search_products on left out");
	ASSERT(!strstr(prompt_text(p), "fact 299\n"));
	ASSERT_EQ(rep.lines, prompt_count_lines(prompt_text(p), prompt_len(p)));
	prompt_free(p);

	/* A budget that core and context alone overflow is an error, not a cut. */
	ASSERT_EQ(prompt_new(s, core_lines, &p), 0);
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, NULL, &rep), -E2BIG);
	ASSERT_EQ(prompt_len(p), 0);
	ASSERT(rep.instincts_lines >= core_lines);
	prompt_free(p);

	/* One huge line of JSON cannot hide its size: it counts per 120 characters. */
	{
		char *blob = malloc(PROMPT_MAX_KNOWLEDGE_BYTES + 2);
		struct prompt_tool_result kb[] = {{"get_product", blob}};

		ASSERT(blob);
		memset(blob, 'j', 32000);
		blob[32000] = '\0';
		ASSERT_EQ(prompt_new(s, 250, &p), 0);
		skills_select(s, AGENT_STATE_IDLE, 0, 0, &sel);
		ASSERT_EQ(prompt_assemble(p, &sel, kb, 1, NULL, &rep), 0);
		ASSERT(rep.lines <= 250);
		ASSERT_EQ(rep.n_skills, 5);
		ASSERT_EQ(rep.tool_results_cut, 1);
		ASSERT_EQ(rep.knowledge_cut_lines, 267);
		ASSERT(!strstr(prompt_text(p), "jjjjjjjj"));
		/* Past the byte limit for knowledge it is an error: tools cap their output. */
		memset(blob, 'j', PROMPT_MAX_KNOWLEDGE_BYTES + 1);
		blob[PROMPT_MAX_KNOWLEDGE_BYTES + 1] = '\0';
		ASSERT_EQ(prompt_assemble(p, &sel, kb, 1, NULL, &rep), -E2BIG);
		free(blob);
		prompt_free(p);
	}
	free(big);
	skills_free(s);
}

TEST(bad_input_is_refused)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection sel;
	struct prompt_report rep;
	struct prompt_tool_result k[PROMPT_MAX_TOOL_RESULTS + 1];
	struct prompt_context ctx = {0};
	char *huge = malloc(PROMPT_MAX_CONTEXT_BYTES + 2);

	ASSERT(s && huge);
	ASSERT_EQ(prompt_new(NULL, 0, &p), -EINVAL);
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	for (int i = 0; i <= PROMPT_MAX_TOOL_RESULTS; i++) {
		k[i].name = "search_products";
		k[i].text = "{}";
	}
	skills_select(s, AGENT_STATE_IDLE, 0, 0, &sel);
	ASSERT_EQ(prompt_assemble(p, &sel, k, PROMPT_MAX_TOOL_RESULTS + 1, NULL, &rep), -E2BIG);
	ASSERT_EQ(prompt_assemble(p, &sel, k, PROMPT_MAX_TOOL_RESULTS, NULL, &rep), 0);
	k[0].name = "";
	ASSERT_EQ(prompt_assemble(p, &sel, k, 1, NULL, &rep), -EINVAL);
	k[0].name = "x";
	k[0].text = NULL;
	ASSERT_EQ(prompt_assemble(p, &sel, k, 1, NULL, &rep), -EINVAL);
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 1, NULL, &rep), -EINVAL);
	memset(huge, 'v', PROMPT_MAX_CONTEXT_BYTES + 1);
	huge[PROMPT_MAX_CONTEXT_BYTES + 1] = '\0';
	ctx.visitor = huge;
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, &ctx, &rep), -E2BIG);
	/* A selection out of order or out of range. */
	sel.idx[1] = sel.idx[0];
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, NULL, &rep), -EINVAL);
	sel.n = 0;
	ASSERT_EQ(prompt_assemble(p, &sel, NULL, 0, NULL, &rep), -EINVAL);
	free(huge);
	prompt_free(p);
	skills_free(s);
}

TEST(control_characters_become_spaces)
{
	struct skills *s = real_skills();
	struct prompt *p = NULL;
	struct skills_selection sel;
	struct prompt_tool_result k[] = {{"get_product", "{\"a\":\"x\ry\x1b[2J\"}\n\n"}};
	struct prompt_context ctx = {.session = "name: Bob\x07\r\nlikes: tv"};

	ASSERT(s);
	ASSERT_EQ(prompt_new(s, 0, &p), 0);
	skills_select(s, AGENT_STATE_IDLE, 0, 0, &sel);
	ASSERT_EQ(prompt_assemble(p, &sel, k, 1, &ctx, NULL), 0);
	ASSERT_CONTAINS(prompt_text(p), "{\"a\":\"x y [2J\"}\n# CONTEXT");
	ASSERT_CONTAINS(prompt_text(p), "name: Bob  \nlikes: tv\n");
	ASSERT(!strchr(prompt_text(p), '\r'));
	prompt_free(p);
	skills_free(s);
}

/* ---- scripted conversations: prompt size per turn ------------------------------- */

#define MAX_TURNS 32
#define MAX_TOOLS 4

struct turn {
	char text[512];
	char kind[16];
	unsigned ntools;
	char tool_name[MAX_TOOLS][32];
	char tool_text[MAX_TOOLS][2048];
};

struct conv {
	struct signals_lexicon *lex;
	unsigned facts;
	struct turn turns[MAX_TURNS];
	unsigned n;
};

/* Copies src into dst (size cap); a fixture line too long for it is an error, not cut. */
static int copy(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

static int load_conv(const char *path, struct conv *c)
{
	char line[2600];
	FILE *f = fopen(path, "r");

	memset(c, 0, sizeof(*c));
	if (!f || signals_lexicon_new(&c->lex) < 0) {
		if (f)
			fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char a[64], b[64];
		int off = 0, rc = 0;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		if (line[0] == '>') {
			if (c->n == MAX_TURNS)
				rc = -1;
			else
				rc =
				    copy(c->turns[c->n++].text, sizeof(c->turns[0].text), line + 2);
		} else if (line[0] == '=' && c->n) {
			rc = copy(c->turns[c->n - 1].kind, sizeof(c->turns[0].kind), line + 2);
		} else if (sscanf(line, "tool %63s %n", a, &off) == 1 && off && c->n) {
			struct turn *t = &c->turns[c->n - 1];

			if (t->ntools == MAX_TOOLS ||
			    copy(t->tool_name[t->ntools], sizeof(t->tool_name[0]), a) < 0 ||
			    copy(t->tool_text[t->ntools], sizeof(t->tool_text[0]), line + off) < 0)
				rc = -1;
			else
				t->ntools++;
		} else if (sscanf(line, "product %63s %n", a, &off) == 1 && off) {
			signals_lexicon_add(c->lex, SIGNAL_TERM_PRODUCT, a, line + off);
		} else if (sscanf(line, "competitor %63s %n", a, &off) == 1 && off) {
			signals_lexicon_add(c->lex, SIGNAL_TERM_COMPETITOR, a, line + off);
		} else if (sscanf(line, "fact %63s", b) == 1) {
			if (strcmp(b, "returning") == 0)
				c->facts |= ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_RETURNING);
			else if (strcmp(b, "has_contract") == 0)
				c->facts |= ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_HAS_CONTRACT);
			else if (strcmp(b, "accompanied") == 0)
				c->facts |= ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_ACCOMPANIED);
		} else {
			rc = -1;
		}
		if (rc < 0) {
			printf("    %s: cannot read '%.60s'\n", path, line);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

struct turn_out {
	struct signals_result sig;
	struct skills_selection sel;
	struct prompt_report rep, full;
	int archetype;
};

/* The deterministic part of a turn, the way the conversation stage will run it. */
struct brain {
	struct skills *skills;
	struct archetype_set *arch;
	struct signals_detector *det;
	struct archetype_tracker *tracker;
	struct prompt *prompt;
	struct signals_context ctx;
	char focus[SIGNALS_MAX_ID];
};

static int brain_open(struct brain *b, struct signals_lexicon *lex)
{
	struct archetype_error aerr;
	struct signals_error serr;

	memset(b, 0, sizeof(*b));
	b->skills = real_skills();
	if (!b->skills || archetype_set_load("config/archetypes.conf", &b->arch, &aerr) < 0 ||
	    archetype_register_cues(b->arch, lex) < 0 ||
	    signals_detector_new("config/signals.conf", lex, &b->det, &serr) < 0 ||
	    archetype_tracker_new(b->arch, &b->tracker) < 0 ||
	    prompt_new(b->skills, 0, &b->prompt) < 0)
		return -1;
	b->ctx.state = AGENT_STATE_GREETING;
	return 0;
}

static void brain_close(struct brain *b)
{
	prompt_free(b->prompt);
	archetype_tracker_free(b->tracker);
	signals_detector_free(b->det);
	archetype_set_free(b->arch);
	skills_free(b->skills);
}

static int brain_turn(struct brain *b, const struct turn *t, unsigned facts, bool full,
		      struct turn_out *o)
{
	struct prompt_tool_result k[MAX_TOOLS];
	struct prompt_context pc = {0};
	struct archetype_verdict v;
	unsigned flags = 0;
	int rc;

	rc = signals_detect(b->det, t->text, strlen(t->text), &b->ctx, &o->sig);
	if (rc < 0)
		return rc;
	archetype_observe(b->tracker, &o->sig, facts, &v);
	o->archetype = v.current;
	if (v.current >= 0) {
		pc.archetype = archetype_name(b->arch, (size_t)v.current);
		pc.directive = archetype_directive(b->arch, (size_t)v.current);
		if (archetype_tier(b->arch, (size_t)v.current) == ARCHETYPE_TIER_SERVICE_RECOVERY)
			flags |= SKILLS_SELECT_SERVICE_RECOVERY;
	}
	if (facts & ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_RETURNING))
		pc.visitor =
		    "Second visit. Last time: looked at broadband, asked about installation.";
	for (unsigned i = 0; i < t->ntools; i++) {
		k[i].name = t->tool_name[i];
		k[i].text = t->tool_text[i];
	}
	rc = skills_select(b->skills, b->ctx.state, o->sig.mask, flags, &o->sel);
	if (rc < 0)
		return rc;
	rc = prompt_assemble(b->prompt, &o->sel, k, t->ntools, &pc, &o->rep);
	if (rc < 0)
		return rc;
	if (full) {
		rc = prompt_assemble_full(b->prompt, k, t->ntools, &pc, &o->full);
		if (rc < 0)
			return rc;
	}
	/* Light history for the next message. */
	if (o->sig.n_products) {
		snprintf(b->focus, sizeof(b->focus), "%s", o->sig.products[0]);
		b->ctx.focus_product = b->focus;
		b->ctx.state = AGENT_STATE_PRESENTING;
	} else if (o->sig.mask & SIGNAL_BIT(SIGNAL_CLOSING)) {
		b->ctx.state = AGENT_STATE_CLOSING;
	} else if (o->sig.mask & SIGNAL_BIT(SIGNAL_OBJECTION)) {
		b->ctx.state = AGENT_STATE_OBJECTION;
	} else if (b->ctx.state == AGENT_STATE_GREETING) {
		b->ctx.state = AGENT_STATE_DISCOVERY;
	}
	return 0;
}

TEST(curated_prompts_are_much_smaller_than_the_full_one)
{
	DIR *dir = opendir("tests/fixtures/skills/conversations");
	struct dirent *de;
	unsigned convs = 0, discovery = 0, product = 0;
	double worst_discovery = 0, worst_product = 0;

	ASSERT(dir);
	while ((de = readdir(dir))) {
		char path[512];
		struct conv *c = calloc(1, sizeof(*c));
		struct brain b;
		size_t len = strlen(de->d_name);

		ASSERT(c);
		if (len < 6 || strcmp(de->d_name + len - 5, ".conv") != 0) {
			free(c);
			continue;
		}
		snprintf(path, sizeof(path), "tests/fixtures/skills/conversations/%s", de->d_name);
		ASSERT_MSG(load_conv(path, c) == 0 && c->n > 0, "%s does not load", path);
		ASSERT_EQ(brain_open(&b, c->lex), 0);
		printf("    %-18s", de->d_name);
		for (unsigned i = 0; i < c->n; i++) {
			const struct turn *t = &c->turns[i];
			struct turn_out o;
			double ratio;
			uint32_t selling =
			    SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST) | SIGNAL_BIT(SIGNAL_OBJECTION) |
			    SIGNAL_BIT(SIGNAL_COMPARISON) | SIGNAL_BIT(SIGNAL_CLOSING) |
			    SIGNAL_BIT(SIGNAL_COMPLAINT);

			ASSERT_MSG(brain_turn(&b, t, c->facts, true, &o) == 0, "%s turn %u", path,
				   i + 1);
			ASSERT_MSG(o.rep.lines <= 400, "%s turn %u: %u lines", path, i + 1,
				   o.rep.lines);
			ratio = (double)o.rep.lines / o.full.lines;
			printf(" %s:%u/%u", t->kind[0] ? t->kind : "?", o.rep.lines, o.full.lines);
			/* The label must agree with what the detector saw. */
			if (strcmp(t->kind, "discovery") == 0) {
				ASSERT_MSG(!(o.sig.mask & selling), "%s turn %u '%s': mask %#x",
					   path, i + 1, t->text, o.sig.mask);
				ASSERT_MSG(ratio <= 0.55, "%s turn %u: discovery at %.0f%% of full",
					   path, i + 1, ratio * 100);
				worst_discovery = ratio > worst_discovery ? ratio : worst_discovery;
				discovery++;
			} else if (strcmp(t->kind, "product") == 0) {
				ASSERT_MSG(o.sig.mask & SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST),
					   "%s turn %u '%s': no product interest", path, i + 1,
					   t->text);
				ASSERT_MSG(ratio <= 0.70, "%s turn %u: product at %.0f%% of full",
					   path, i + 1, ratio * 100);
				worst_product = ratio > worst_product ? ratio : worst_product;
				product++;
			} else if (strcmp(t->kind, "recovery") == 0) {
				ASSERT_MSG(o.sel.service_recovery && o.sel.n == 1,
					   "%s turn %u '%s': not the service-recovery path", path,
					   i + 1, t->text);
			} else {
				static const struct {
					const char *kind;
					enum signal s;
				} want[] = {{"objection", SIGNAL_OBJECTION},
					    {"comparison", SIGNAL_COMPARISON},
					    {"closing", SIGNAL_CLOSING}};

				for (size_t w = 0; w < 3; w++)
					if (strcmp(t->kind, want[w].kind) == 0)
						ASSERT_MSG(o.sig.mask & SIGNAL_BIT(want[w].s),
							   "%s turn %u '%s': no %s", path, i + 1,
							   t->text, t->kind);
				ASSERT_MSG(o.sel.n >= 5 && o.sel.n <= 10, "%s turn %u", path,
					   i + 1);
			}
		}
		printf("\n");
		brain_close(&b);
		signals_lexicon_free(c->lex);
		free(c);
		convs++;
	}
	closedir(dir);
	printf("    worst discovery turn %.0f%% of the full prompt (goal <= 55%%), "
	       "worst product turn %.0f%% (goal <= 70%%)\n",
	       worst_discovery * 100, worst_product * 100);
	ASSERT(convs >= 5);
	ASSERT(discovery >= 5 && product >= 5);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

TEST(a_whole_deterministic_turn_is_fast)
{
	struct conv *c = calloc(1, sizeof(*c));
	struct brain b;
	enum { N = 3000 };
	static double ns[N];
	struct turn_out o;

	ASSERT(c);
	ASSERT_EQ(load_conv("tests/fixtures/skills/conversations/family_tv.conv", c), 0);
	ASSERT_EQ(brain_open(&b, c->lex), 0);
	for (int i = 0; i < N; i++) {
		struct timespec t0, t1;

		if (i % c->n == 0) {
			archetype_tracker_reset(b.tracker);
			b.ctx.state = AGENT_STATE_GREETING;
			b.ctx.focus_product = NULL;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		brain_turn(&b, &c->turns[i % c->n], c->facts, false, &o);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	}
	qsort(ns, N, sizeof(ns[0]), cmp_double);
	printf("    signals + archetype + skills + prompt: p50 %.1f us, p99 %.1f us\n",
	       ns[N / 2] / 1000, ns[N * 99 / 100] / 1000);
	/* p99 goal is 1 ms (the lead's bench measures it with the guard); the
	 * median here must be far below it even on a busy test machine. */
	ASSERT_MSG(ns[N / 2] < 500000, "p50 %.0f ns", ns[N / 2]);
	brain_close(&b);
	signals_lexicon_free(c->lex);
	free(c);
}
