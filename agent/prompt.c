#include "agent/prompt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT_BUF (4 * PROMPT_MAX_CONTEXT_BYTES + 1024)

static const char INSTINCTS_HEADER[] = "# INSTINCTS: how you sell. Apply them in every reply.\n";
static const char KNOWLEDGE_HEADER[] =
    "# KNOWLEDGE: this turn's tool results. With earlier tool results, your only source of "
    "facts.\n";
static const char KNOWLEDGE_NONE[] =
    "(No tool results this turn. Call a tool before you state any price, allowance or product "
    "detail.)\n";
static const char CONTEXT_HEADER[] = "# CONTEXT: who you are talking to.\n";

struct prompt {
	const struct skills *skills;
	unsigned max_lines;
	unsigned skill_lines[SKILLS_MAX]; /* budget lines of each skill's text */
	char *buf;
	size_t len;
	char *ctx; /* the context layer of the turn being assembled */
	size_t ctx_len;
};

unsigned prompt_count_lines(const char *text, size_t len)
{
	unsigned lines = 0, chars = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n') {
			lines += chars > PROMPT_LINE_WIDTH
				     ? (chars + PROMPT_LINE_WIDTH - 1) / PROMPT_LINE_WIDTH
				     : 1;
			chars = 0;
		} else if ((c & 0xC0) != 0x80) {
			chars++;
		}
	}
	if (chars)
		lines += (chars + PROMPT_LINE_WIDTH - 1) / PROMPT_LINE_WIDTH;
	return lines;
}

int prompt_new(const struct skills *skills, unsigned max_lines, struct prompt **ret)
{
	struct prompt *p;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	if (!skills || max_lines > PROMPT_MAX_BYTES / 2)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->buf = malloc(PROMPT_MAX_BYTES + 1);
	p->ctx = malloc(CONTEXT_BUF);
	if (!p->buf || !p->ctx) {
		prompt_free(p);
		return -ENOMEM;
	}
	p->buf[0] = '\0';
	p->skills = skills;
	p->max_lines = max_lines ? max_lines : PROMPT_DEFAULT_MAX_LINES;
	for (size_t i = 0; i < skills_count(skills) && i < SKILLS_MAX; i++)
		p->skill_lines[i] =
		    prompt_count_lines(skills_text(skills, i), skills_text_len(skills, i));
	*ret = p;
	return 0;
}

void prompt_free(struct prompt *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p->ctx);
	free(p);
}

const char *prompt_text(const struct prompt *p)
{
	return p ? p->buf : NULL;
}

size_t prompt_len(const struct prompt *p)
{
	return p ? p->len : 0;
}

/* ---- writing ---------------------------------------------------------------- */

struct out {
	char *buf;
	size_t len, cap;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || o->len + n > o->cap) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Copies text with control characters (other than newline) as spaces and one final newline. */
static void put_clean(struct out *o, const char *s, size_t n)
{
	size_t start = o->len;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	put(o, s, n);
	if (o->overflow)
		return;
	for (size_t i = start; i < o->len; i++) {
		unsigned char c = (unsigned char)o->buf[i];

		if ((c < 0x20 && c != '\n') || c == 0x7f)
			o->buf[i] = ' ';
	}
	put(o, "\n", 1);
}

static int build_context(struct prompt *p, const struct prompt_context *ctx)
{
	struct out o = {.buf = p->ctx, .cap = CONTEXT_BUF - 1};
	const char *fields[4] = {0};

	if (ctx) {
		fields[0] = ctx->archetype;
		fields[1] = ctx->directive;
		fields[2] = ctx->visitor;
		fields[3] = ctx->session;
	}
	for (int i = 0; i < 4; i++)
		if (fields[i] && strlen(fields[i]) > PROMPT_MAX_CONTEXT_BYTES)
			return -E2BIG;
	puts_(&o, CONTEXT_HEADER);
	if (fields[0] && *fields[0]) {
		puts_(&o, "Customer type: ");
		put_clean(&o, fields[0], strlen(fields[0]));
	} else {
		puts_(&o, "Customer type: not known yet; keep discovering, neutral tone.\n");
	}
	if (fields[1] && *fields[1])
		put_clean(&o, fields[1], strlen(fields[1]));
	if (fields[2] && *fields[2]) {
		puts_(&o, "Returning visitor:\n");
		put_clean(&o, fields[2], strlen(fields[2]));
	}
	if (fields[3] && *fields[3]) {
		puts_(&o, "This visit so far:\n");
		put_clean(&o, fields[3], strlen(fields[3]));
	}
	if (o.overflow)
		return -E2BIG;
	p->ctx[o.len] = '\0';
	p->ctx_len = o.len;
	return 0;
}

static unsigned knowledge_lines(const struct prompt_tool_result *k, size_t nk)
{
	unsigned lines = 1; /* the header */

	if (nk == 0)
		return lines + 1;
	for (size_t i = 0; i < nk; i++)
		lines += 1 + prompt_count_lines(k[i].text, strlen(k[i].text));
	return lines;
}

/*
 * Writes the knowledge layer within budget lines (~0u: no limit). When it does
 * not all fit, whole results are kept in order while they fit, the first that
 * does not is cut at a line boundary, the rest are left out, and one marker
 * line (counted in the budget) says how much is missing.
 */
static void put_knowledge(struct out *o, const struct prompt_tool_result *k, size_t nk,
			  unsigned budget, struct prompt_report *rep)
{
	unsigned used = 1, total = 1, cap, cut_lines = 0, cut_results = 0;
	const char *first_cut = NULL;
	char marker[200];
	int n;

	puts_(o, KNOWLEDGE_HEADER);
	if (nk == 0) {
		puts_(o, KNOWLEDGE_NONE);
		return;
	}
	for (size_t i = 0; i < nk; i++)
		total += 1 + prompt_count_lines(k[i].text, strlen(k[i].text));
	cap = total <= budget ? total : budget - 1; /* room for the marker */
	for (size_t i = 0; i < nk; i++) {
		const char *t = k[i].text, *line, *end = t + strlen(t);
		unsigned need = 1 + prompt_count_lines(t, (size_t)(end - t)), kept = 0;

		if (!cut_results && used + need <= cap) {
			puts_(o, "## ");
			put_clean(o, k[i].name, strlen(k[i].name));
			put_clean(o, t, (size_t)(end - t));
			used += need;
			continue;
		}
		if (!cut_results && used + 2 <= cap) {
			/* The header and the whole lines that fit. */
			puts_(o, "## ");
			put_clean(o, k[i].name, strlen(k[i].name));
			used++;
			for (line = t; line < end;) {
				const char *nl = memchr(line, '\n', (size_t)(end - line));
				size_t l = nl ? (size_t)(nl - line) : (size_t)(end - line);
				unsigned cost = l ? prompt_count_lines(line, l) : 1;

				if (used + cost > cap)
					break;
				put_clean(o, line, l);
				used += cost;
				kept += cost;
				line = nl ? nl + 1 : end;
			}
		}
		cut_lines += need - 1 - kept;
		if (!first_cut)
			first_cut = k[i].name;
		cut_results++;
	}
	if (!cut_results)
		return;
	n = snprintf(
	    marker, sizeof(marker),
	    "[%u lines of tool results from %.32s on left out: prompt budget. Call the tool "
	    "again if you need them.]\n",
	    cut_lines, first_cut);
	put(o, marker, (size_t)n);
	if (rep) {
		rep->knowledge_cut_lines = cut_lines;
		rep->tool_results_cut = cut_results;
	}
}

static void fill_report(struct prompt *p, struct prompt_report *rep, size_t static_bytes,
			unsigned instincts, unsigned knowledge, unsigned context)
{
	if (!rep)
		return;
	rep->bytes = p->len;
	rep->tokens = (unsigned)((p->len + 3) / 4);
	rep->lines = prompt_count_lines(p->buf, p->len);
	rep->static_bytes = static_bytes;
	rep->instincts_lines = instincts;
	rep->knowledge_lines = knowledge;
	rep->context_lines = context;
}

static int check_args(const struct prompt *p, const struct prompt_tool_result *k, size_t nk)
{
	size_t total = 0;

	if (!p || (nk && !k))
		return -EINVAL;
	if (nk > PROMPT_MAX_TOOL_RESULTS)
		return -E2BIG;
	for (size_t i = 0; i < nk; i++) {
		if (!k[i].name || !*k[i].name || strlen(k[i].name) >= PROMPT_MAX_TOOL_NAME ||
		    !k[i].text)
			return -EINVAL;
		total += strlen(k[i].text);
	}
	return total > PROMPT_MAX_KNOWLEDGE_BYTES ? -E2BIG : 0;
}

/*
 * The lines a turn at share percent of the full prompt may use: the full
 * prompt is this one with every skill loaded (same knowledge, same context).
 */
static unsigned share_lines(const struct prompt *p, unsigned share, unsigned know, unsigned context)
{
	unsigned full = 1 + know + context;

	if (share >= 100)
		return ~0u;
	for (size_t i = 0; i < skills_count(p->skills); i++)
		full += p->skill_lines[i];
	return full * share / 100;
}

static int assemble(struct prompt *p, const uint8_t *idx, unsigned n, unsigned min_skills,
		    bool budgeted, unsigned share, const struct prompt_tool_result *k, size_t nk,
		    const struct prompt_context *ctx, struct prompt_report *rep)
{
	uint8_t keep[SKILLS_MAX];
	unsigned nkeep = n, instincts = 1, know, context, cap;
	struct out o = {.buf = p->buf, .cap = PROMPT_MAX_BYTES};
	size_t static_bytes;
	int rc;

	p->len = 0;
	p->buf[0] = '\0';
	if (rep)
		memset(rep, 0, sizeof(*rep));
	rc = check_args(p, k, nk);
	if (rc < 0)
		return rc;
	rc = build_context(p, ctx);
	if (rc < 0)
		return rc;
	memcpy(keep, idx, n);
	for (unsigned i = 0; i < n; i++)
		instincts += p->skill_lines[keep[i]];
	know = knowledge_lines(k, nk);
	context = prompt_count_lines(p->ctx, p->ctx_len);

	/*
	 * Over budget (the hard max_lines, or the state's share of the full
	 * prompt): optional skills go first, the lowest priority (then latest)
	 * first, never below min_skills.
	 */
	cap = share_lines(p, share, know, context);
	if (cap > p->max_lines)
		cap = p->max_lines;
	if (rep && budgeted)
		rep->budget_lines = cap;
	while (budgeted && instincts + know + context > cap && nkeep > min_skills) {
		int victim = -1;

		for (unsigned i = 0; i < nkeep; i++) {
			if (skills_is_core(p->skills, keep[i]))
				continue;
			if (victim < 0 || skills_priority(p->skills, keep[i]) <=
					      skills_priority(p->skills, keep[victim]))
				victim = (int)i;
		}
		if (victim < 0)
			break;
		instincts -= p->skill_lines[keep[victim]];
		if (rep)
			rep->dropped[rep->n_dropped++] = keep[victim];
		memmove(keep + victim, keep + victim + 1, nkeep - (unsigned)victim - 1);
		nkeep--;
	}
	if (budgeted && instincts + context + 2 > p->max_lines) {
		if (rep) {
			rep->lines = instincts + know + context;
			rep->instincts_lines = instincts;
			rep->knowledge_lines = know;
			rep->context_lines = context;
		}
		return -E2BIG;
	}

	puts_(&o, INSTINCTS_HEADER);
	for (unsigned i = 0; i < nkeep; i++)
		put(&o, skills_text(p->skills, keep[i]), skills_text_len(p->skills, keep[i]));
	static_bytes = o.len;
	if (budgeted && instincts + know + context > p->max_lines)
		put_knowledge(&o, k, nk, p->max_lines - instincts - context, rep);
	else
		put_knowledge(&o, k, nk, ~0u, rep);
	put(&o, p->ctx, p->ctx_len);
	if (o.overflow) {
		p->len = 0;
		p->buf[0] = '\0';
		return -E2BIG;
	}
	p->len = o.len;
	p->buf[p->len] = '\0';
	know = prompt_count_lines(p->buf + static_bytes, o.len - static_bytes - p->ctx_len);
	fill_report(p, rep, static_bytes, instincts, know, context);
	if (rep) {
		rep->n_skills = nkeep;
		memcpy(rep->skills, keep, nkeep);
	}
	return 0;
}

int prompt_assemble(struct prompt *p, const struct skills_selection *sel,
		    const struct prompt_tool_result *k, size_t nk, const struct prompt_context *ctx,
		    struct prompt_report *rep)
{
	unsigned min;

	if (!p || !sel || sel->n == 0 || sel->n > skills_count(p->skills))
		return -EINVAL;
	for (unsigned i = 0; i < sel->n; i++)
		if (sel->idx[i] >= skills_count(p->skills) || (i && sel->idx[i] <= sel->idx[i - 1]))
			return -EINVAL;
	min = skills_min(p->skills);
	if (sel->n < min)
		min = sel->n; /* the service-recovery path: its own set, nothing to drop */
	return assemble(p, sel->idx, sel->n, min, true, sel->service_recovery ? 100 : sel->share, k,
			nk, ctx, rep);
}

int prompt_assemble_full(struct prompt *p, const struct prompt_tool_result *k, size_t nk,
			 const struct prompt_context *ctx, struct prompt_report *rep)
{
	uint8_t all[SKILLS_MAX];
	size_t n;

	if (!p)
		return -EINVAL;
	n = skills_count(p->skills);
	for (size_t i = 0; i < n; i++)
		all[i] = (uint8_t)i;
	return assemble(p, all, (unsigned)n, (unsigned)n, false, 100, k, nk, ctx, rep);
}
