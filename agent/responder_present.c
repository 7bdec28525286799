/*
 * responder_present — choosing and presenting one product: the pick among
 * the search results, the proof sentence, the price (with a running offer),
 * the question that ends it; and the product move (something cheaper, a
 * question about the product in focus, a discovery question, or one fit).
 * Private to the responder (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/figures.h"

/* ---- choosing and presenting a product ----------------------------------------- */

/* Who the search results fit best: the catalog's order, nudged by the needs heard. */
int best_fit(struct turn *t, const struct pinfo *r, int n)
{
	int best = -1, best_score = -1000;
	unsigned all = t->tags | t->m->needs;
	int64_t cheapest = -1;

	for (int i = 0; i < n; i++)
		if (r[i].p && (cheapest < 0 || r[i].price_cents < cheapest))
			cheapest = r[i].price_cents;
	for (int i = 0; i < n; i++) {
		const struct catalog_product *p = r[i].p;
		int score = 2 * (n - i);

		if (!p)
			continue;
		/* an add-on is the answer only when they asked for one */
		if (p->category == CATALOG_CATEGORY_ADDONS &&
		    t->category != CATALOG_CATEGORY_ADDONS)
			score -= 20;
		if (t->category >= 0 && (int)p->category == t->category)
			score += 6;
		/* the catalog's own words for who it is for, said by the customer */
		for (size_t j = 0; j < p->n_keywords; j++) {
			char kw[NORM_MAX];

			norm_padded(p->keywords[j], strlen(p->keywords[j]), kw, sizeof(kw));
			chop_period(kw);
			if (kw[0] && strchr(kw + 1, ' ') && has_phrase(t->plain, kw + 1))
				score += 4; /* a phrase: "first phone", "work from home" */
			else if (kw[0] && has_phrase(t->plain, kw + 1))
				score += 1;
		}
		/* each need the product's own keywords and best-for speak to */
		{
			char text[CATALOG_TEXT_MAX + CATALOG_LIST_MAX * (CATALOG_NAME_MAX + 1)];
			char padded[sizeof(text) * 3 + 8];
			size_t off = (size_t)snprintf(text, sizeof(text), "%s ", p->best_for);

			for (size_t j = 0; j < p->n_keywords && off < sizeof(text); j++)
				off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ",
							p->keywords[j]);
			norm_padded(text, strlen(text), padded, sizeof(padded));
			/* the need comes first; the budget picks among those that meet it */
			for (int k = 0; k < NEED_COUNT; k++)
				if (all & NB(k) && any_phrase(padded, needs[k].cues))
					score += k == NEED_BUDGET ? 2 : 5;
		}
		/* who it is for: a phone made for grandparents is not a 12-year-old's */
		{
			char text[CATALOG_TEXT_MAX + CATALOG_LIST_MAX * (CATALOG_NAME_MAX + 1)];
			char padded[sizeof(text) * 3 + 8];
			size_t off = (size_t)snprintf(text, sizeof(text), "%s ", p->best_for);
			bool young = all & (NB(NEED_KIDS) | NB(NEED_TEENS)),
			     old = all & NB(NEED_SENIORS);
			bool p_young, p_old;

			for (size_t j = 0; j < p->n_keywords && off < sizeof(text); j++)
				off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ",
							p->keywords[j]);
			norm_padded(text, strlen(text), padded, sizeof(padded));
			p_young = any_phrase(padded, needs[NEED_KIDS].cues) ||
				  any_phrase(padded, needs[NEED_TEENS].cues);
			p_old = any_phrase(padded, needs[NEED_SENIORS].cues);
			if ((young && !old && p_old && !p_young) ||
			    (old && !young && p_young && !p_old))
				score -= 8;
			/* a child's phone and a teen's are neighbours */
			if ((all & NB(NEED_KIDS) && any_phrase(padded, needs[NEED_TEENS].cues) &&
			     !any_phrase(padded, needs[NEED_KIDS].cues)) ||
			    (all & NB(NEED_TEENS) && any_phrase(padded, needs[NEED_KIDS].cues) &&
			     !any_phrase(padded, needs[NEED_TEENS].cues)))
				score += 3;
		}
		/* their question is one the catalog answers for this product */
		if (t->question)
			for (size_t j = 0; j < p->n_questions; j++)
				if (overlap(t->plain, p->questions[j].q) >= 2)
					score += 5;
		if ((t->style & STYLE_COMPARE || all & NB(NEED_BUDGET)) &&
		    r[i].price_cents == cheapest)
			score += all & NB(NEED_BUDGET) ? 2 : 1;
		if (best < 0 || score > best_score) {
			best = i;
			best_score = score;
		}
	}
	return best;
}

/* Distinct words of s (lower case, 4+ letters, not stop words) found in the padded text. */
int overlap(const char *padded, const char *s)
{
	char w[64], seen[16][64];
	int n = 0, n_seen = 0;
	static const char *const stop[] = {"what",  "does", "with", "have",  "that",  "this",
					   "your",  "will", "from", "they",  "there", "much",
					   "about", "when", "many", "need",  "want",  "into",
					   "more",  "than", "just", "every", "some",  NULL};

	while (*s) {
		size_t k = 0;
		bool skip = false;
		char *ap;

		while (*s && !isalnum((unsigned char)*s))
			s++;
		while (*s && (isalnum((unsigned char)*s) || *s == '\'') && k < sizeof(w) - 1)
			w[k++] = (char)tolower((unsigned char)*s++);
		w[k] = '\0';
		while ((ap = strchr(w, '\'')))
			memmove(ap, ap + 1, strlen(ap));
		k = strlen(w);
		if (k < 4)
			continue;
		for (const char *const *x = stop; *x; x++)
			skip |= strcmp(*x, w) == 0;
		for (int i = 0; i < n_seen && !skip; i++)
			skip = strcmp(seen[i], w) == 0;
		if (skip)
			continue;
		if (n_seen < 16)
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", w);
		if (has_phrase(padded, w)) {
			n++;
		} else if (w[k - 1] == 's') { /* plural against singular */
			w[k - 1] = '\0';
			if (has_phrase(padded, w))
				n++;
		} else if (k > 6 && strcmp(w + k - 3, "ing") == 0) { /* working: work */
			w[k - 3] = '\0';
			if (has_phrase(padded, w))
				n++;
		} else {
			char pl[70];

			snprintf(pl, sizeof(pl), "%ss", w);
			if (has_phrase(padded, pl))
				n++;
			else if (snprintf(pl, sizeof(pl), "%sing", w) > 0 && has_phrase(padded, pl))
				n++;
		}
	}
	return n;
}

/* Figures in a sentence. */
int n_figures(const struct turn *t, const char *s)
{
	struct figures_item it[16];
	int n = figures_extract(s, t->sym, it, 16);

	return n < 0 ? 16 : n;
}

/* Does s name a catalog entry other than p? (its figures would then be
 * judged against that entry) */
static bool names_other(const struct turn *t, const char *s, const struct catalog_product *p)
{
	char ns[NORM_MAX], nm[NORM_MAX];

	norm_padded(s, strlen(s), ns, sizeof(ns));
	for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
		const struct catalog_product *q = catalog_product_at(t->cat, i);

		if (q == p)
			continue;
		norm_padded(q->name, strlen(q->name), nm, sizeof(nm));
		chop_period(nm);
		if (nm[0] && has_phrase(ns, nm + 1))
			return true;
	}
	for (size_t i = 0; i < catalog_competitor_count(t->cat); i++) {
		const struct catalog_competitor *k = catalog_competitor_at(t->cat, i);

		norm_padded(k->name, strlen(k->name), nm, sizeof(nm));
		chop_period(nm);
		if (nm[0] && has_phrase(ns, nm + 1))
			return true;
	}
	return false;
}

/* Would the figure check pass s on its own? (the catalog's own prose has figures
 * the allowed set may not hold; such a sentence is skipped, not said and removed) */
static bool sentence_ok(const struct turn *t, const char *s)
{
	struct figures_report rep;
	bool ok;

	if (!t->in->tools->facts || n_figures(t, s) == 0)
		return true;
	if (figures_check(t->in->tools->facts, s, &rep) < 0)
		return false;
	ok = rep.n_flags == 0;
	figures_report_free(&rep);
	return ok;
}

/* The sentences of an answer that name no other entry and pass the check. */
bool clean_answer(const struct turn *t, const char *a, const struct catalog_product *p,
		  int max_figs, char *out, size_t len)
{
	char sn[PART_MAX];
	size_t off = 0;
	int figs = 0;

	out[0] = '\0';
	for (unsigned i = 0; nth_sentence(a, i, sn, sizeof(sn)); i++) {
		int f = n_figures(t, sn);

		if ((f && names_other(t, sn, p)) || figs + f > max_figs || !sentence_ok(t, sn))
			continue;
		figs += f;
		off += (size_t)snprintf(out + off, off < len ? len - off : 0, "%s%s",
					off ? " " : "", sn);
		if (off >= len)
			return false;
	}
	return off > 20;
}

/* "Yes, kids profiles show ..." -> "Kids profiles show ..." (out may be a) */
void skip_yes(const char *a, char *out, size_t len)
{
	size_t n;

	if (strncmp(a, "Yes. ", 5) == 0 || strncmp(a, "Yes, ", 5) == 0)
		a += 5;
	else if (strncmp(a, "No. ", 4) == 0)
		a += 4;
	n = strnlen(a, len - 1);
	memmove(out, a, n);
	out[n] = '\0';
	if (out[0])
		out[0] = (char)toupper((unsigned char)out[0]);
}

static bool evidence_used(const struct turn *t, const char *s)
{
	uint32_t h = fnv(2166136261u, s);

	for (unsigned i = 0; i < RESPONDER_MEMORY_OFFERS; i++)
		if (t->m->evidence[i] == h)
			return true;
	return false;
}

static void evidence_remember(struct turn *t, const char *s)
{
	t->m->evidence[t->m->n_evidence++ % RESPONDER_MEMORY_OFFERS] = fnv(2166136261u, s);
}

/*
 * The sentence that proves the product fits what they said: the common
 * question whose words match the customer's own words, else the value story
 * sentence that matches them (and their needs) best, with at most max_figs
 * figures, naming nothing else, and not said already in this session.
 */
bool evidence(struct turn *t, const struct pinfo *pi, int max_figs, char *out, size_t len)
{
	char all[NORM_MAX], s[PART_MAX], a[PART_MAX], c[PART_MAX];
	int best = -1, best_score = 0;

	snprintf(all, sizeof(all), "%s", t->plain);
	for (int k = 0; k < NEED_COUNT; k++)
		if ((t->tags | t->m->needs) & NB(k)) {
			size_t l = strlen(all);

			if (l + strlen(needs[k].query) + 2 < sizeof(all))
				snprintf(all + l, sizeof(all) - l, "%s ", needs[k].query);
		}
	for (unsigned i = 0; i < pi->n_qa; i++) {
		int sc = overlap(all, pi->qa[i].q);

		if (sc <= best_score ||
		    !clean_answer(t, pi->qa[i].a, pi->p, max_figs, c, sizeof(c)))
			continue;
		skip_yes(c, a, sizeof(a));
		if (!evidence_used(t, a)) {
			best = (int)i;
			best_score = sc;
		}
	}
	if (best >= 0 && best_score >= 2 &&
	    clean_answer(t, pi->qa[best].a, pi->p, max_figs, c, sizeof(c))) {
		skip_yes(c, out, len);
		evidence_remember(t, out);
		return true;
	}
	/* the value story sentence that fits best; one already said only when nothing else is left
	 */
	for (int pass = 0; pass < 2; pass++) {
		best = -1;
		best_score = -1000;
		for (unsigned i = 0; nth_sentence(pi->value_story, i, s, sizeof(s)); i++) {
			int figs = n_figures(t, s);
			int sc = 2 * overlap(all, s) - figs - (strlen(s) < 40 ? 2 : 0);

			if (figs > max_figs || names_other(t, s, pi->p) || strlen(s) < 20 ||
			    (pass == 0 && evidence_used(t, s)) || !sentence_ok(t, s))
				continue;
			if (sc > best_score) {
				best = (int)i;
				best_score = sc;
			}
		}
		if (best >= 0 && nth_sentence(pi->value_story, (unsigned)best, out, len)) {
			evidence_remember(t, out);
			return true;
		}
	}
	return false;
}

/* The customer's own question about p, answered from the tool's questions. */
bool answer_question(struct turn *t, const struct pinfo *pi, char *out, size_t len)
{
	int best = -1, best_score = 0;
	char c[PART_MAX];

	for (unsigned i = 0; i < pi->n_qa; i++) {
		/* their words in the question or its answer ("their own profiles":
		 * "kids profiles show only ..."); the question's own words break ties */
		char both[2 * CATALOG_TEXT_MAX + 2];
		int sc;

		snprintf(both, sizeof(both), "%s %s", pi->qa[i].q, pi->qa[i].a);
		sc = 4 * overlap(t->plain, both) + overlap(t->plain, pi->qa[i].q);
		if (sc > best_score && clean_answer(t, pi->qa[i].a, pi->p, 3, c, sizeof(c))) {
			best = (int)i;
			best_score = sc;
		}
	}
	best_score /= 4;
	/* "Is it monitored?": one strong word is enough in a short question */
	if (best < 0 || best_score < (t->words <= 6 ? 1 : 2) ||
	    !clean_answer(t, pi->qa[best].a, pi->p, 3, out, len))
		return false;
	return true;
}

/* One spec as a phrase: "300 Mbps down", "4 screens at once", "unlimited data". */
bool spec_phrase(const struct pinfo *pi, const char *label, char *out, size_t len)
{
	static const struct {
		const char *label, *fmt;
	} f[] = {
	    {"download speed", "%s down"},
	    {"upload speed", "%s up"},
	    {"data", "%s of data"},
	    {"hotspot data", "%s of hotspot data"},
	    {"screens at once", "%s at once"},
	    {"channels", "%s"},
	    {"cloud recording", "%s of cloud recording"},
	    {"roaming countries", "roaming in %s"},
	    {"cameras", "%s"},
	    {"sensors", "%s"},
	    {"video history", "%s of video history"},
	    {"storage", "%s of storage"},
	    {"camera", "a %s camera"},
	    {"battery", "a %s battery"},
	    {"warranty", "a warranty of %s"},
	    {"lines", "%s"},
	    {"mesh Wi-Fi points", "%s"},
	    {"call minutes", "%s of calls"},
	    {"valid for", "valid for %s"},
	    {"devices covered", "cover for %s"},
	    {"screen", "a screen of %s"},
	};

	for (unsigned i = 0; i < pi->n_specs; i++) {
		if (strcmp(pi->specs[i].label, label) != 0)
			continue;
		for (size_t j = 0; j < sizeof(f) / sizeof(f[0]); j++)
			if (strcmp(f[j].label, label) == 0) {
				if (strcmp(pi->specs[i].value, "unlimited") == 0 &&
				    strcmp(label, "call minutes") == 0)
					snprintf(out, len, "unlimited calls");
				else
					snprintf(out, len, f[j].fmt, pi->specs[i].value);
				return true;
			}
		snprintf(out, len, "%s %s", pi->specs[i].value, label);
		return true;
	}
	return false;
}

/* The spec a tech enthusiast (or their question) cares about in this category. */
const char *const *key_specs(const struct pinfo *pi)
{
	static const char *const broadband[] = {"download speed", "upload speed", NULL};
	static const char *const mobile[] = {"data", "hotspot data", NULL};
	static const char *const tv[] = {"screens at once", "channels", NULL};
	static const char *const security[] = {"cameras", "video history", NULL};
	static const char *const devices[] = {"camera", "battery", NULL};
	static const char *const other[] = {"data", "screens at once", NULL};

	switch (pi->p ? pi->p->category : CATALOG_CATEGORY_ADDONS) {
	case CATALOG_CATEGORY_BROADBAND:
		return broadband;
	case CATALOG_CATEGORY_MOBILE:
		return mobile;
	case CATALOG_CATEGORY_TV:
	case CATALOG_CATEGORY_STREAMING:
		return tv;
	case CATALOG_CATEGORY_SECURITY:
		return security;
	case CATALOG_CATEGORY_DEVICES:
		return devices;
	case CATALOG_CATEGORY_ADDONS:
		break;
	}
	return other;
}

/* "It's $40 a month with no contract." */
void price_sentence(struct turn *t, const struct pinfo *pi, bool instalments, char *out, size_t len)
{
	char pr[32], pm[32], setup[64] = "", contract[64];

	money(t, pi->price_cents, pr, sizeof(pr));
	if (pi->setup_cents > 0) {
		char s[32];

		money(t, pi->setup_cents, s, sizeof(s));
		snprintf(setup, sizeof(setup), " plus a %s setup fee", s);
	}
	if (pi->monthly) {
		if (pi->contract_months)
			snprintf(contract, sizeof(contract), " on a %d-month contract",
				 pi->contract_months);
		else
			snprintf(contract, sizeof(contract), " with no contract");
		snprintf(out, len, "It's %s a month%s%s.", pr, setup, contract);
	} else if (instalments && pi->monthly_cents > 0 && pi->pay_months > 0) {
		money(t, pi->monthly_cents, pm, sizeof(pm));
		snprintf(out, len, "It's %s, or %s a month over %d months with no interest.", pr,
			 pm, pi->pay_months);
	} else {
		snprintf(out, len, "It's %s.", pr);
	}
}

/* The promotion on pi (the first running one) as a clause, "right now ... months". */
static bool promo_clause(struct turn *t, const struct pinfo *pi, char *out, size_t len)
{
	const struct promo *pr;
	char price[32], until[48] = "";

	if (!pi->n_promos)
		return false;
	pr = &pi->promos[0];
	money(t, pr->promo_cents, price, sizeof(price));
	if (pr->ends[0]) {
		/* the end date is part of the offer, said plainly (no countdown) */
		char end[32];

		date_words(pr->ends, end, sizeof(end));
		snprintf(until, sizeof(until), ", until %s", end);
	}
	if (pr->monthly && pr->months > 0)
		snprintf(out, len, "right now %s brings it to %s a month for the first %d months%s",
			 pr->name, price, pr->months, until);
	else if (pr->monthly)
		snprintf(out, len, "right now %s brings it to %s a month%s", pr->name, price,
			 until);
	else
		snprintf(out, len, "right now %s brings it down to %s%s", pr->name, price, until);
	promo_said(t, pr->id);
	return true;
}

/* The price sentence with the promotion (when one runs and may be said) folded in. */
void price_with_promo(struct turn *t, const struct pinfo *pi, bool instalments, bool promo,
		      char *out, size_t len)
{
	char pc[PART_MAX];

	price_sentence(t, pi, instalments, out, len);
	if (promo && pi->full && promo_clause(t, pi, pc, sizeof(pc))) {
		size_t l;

		chop_period(out);
		l = strlen(out);
		snprintf(out + l, len - l, ", and %s.", pc);
	}
}

/* Whether the product arrives without a visit (5G Home Internet: "No installation visit"). */
static bool no_visit(const struct catalog_product *p)
{
	for (size_t i = 0; p && i < p->n_features; i++)
		if (strcasecmp(p->features[i], "No installation visit") == 0)
			return true;
	return false;
}

/* A technician installs it: broadband, security, and bundles with a connection. */
bool needs_install(const struct catalog_product *p)
{
	if (!p || no_visit(p))
		return false;
	return p->category == CATALOG_CATEGORY_BROADBAND ||
	       p->category == CATALOG_CATEGORY_SECURITY ||
	       catalog_product_spec(p, "download_mbps") != NULL;
}

/* A direct next step for p: book its installation, or get a colleague to set it up. */
void close_question(struct turn *t, const struct catalog_product *p)
{
	if (needs_install(p)) {
		ask(t, pick_from(t, "hardq",
				 L("Shall I book the installation for you?",
				   "Want me to book the installation in?")));
		t->m->pending = PENDING_BOOK;
		snprintf(t->m->pending_kind, sizeof(t->m->pending_kind), "install");
	} else {
		ask(t, pick_from(t, "hardq",
				 L("Shall I get that set up for you?",
				   "Want me to get a colleague to set that up for you now?")));
		t->m->pending = PENDING_HANDOFF;
	}
	snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", p->id);
	t->m->pending_extra[0] = '\0';
}

/* The question that ends a presentation, by the archetype's tier and style. */
void present_question(struct turn *t, const struct pinfo *pi)
{
	int nd = first_need(t->tags | t->m->needs);

	if (t->style & STYLE_HARD && pi->p) {
		close_question(t, pi->p);
		return;
	}
	if (t->style & STYLE_COMPANION) {
		ask(t, pick_from(t, "compq",
				 L("Would it help to come in together to set it up?",
				   "Does that sound right for them?")));
		return;
	}
	if (t->style & STYLE_NO_CLOSE) {
		ask(t, pick_from(t, "lowq",
				 L("Is that the sort of thing that caught your eye?",
				   "Want to hear a bit more, or are you happy to browse?")));
		return;
	}
	if (t->style & STYLE_COMPARE && pi->monthly && t->m->spend_cents < 0 &&
	    !t->m->spend_asked && pi->p && category_talk[pi->p->category].spend_q) {
		t->m->spend_asked = true;
		ask(t, category_talk[pi->p->category].spend_q);
		return;
	}
	if (t->style & STYLE_SPEC) {
		ask(t, pick_from(t, "specq",
				 L("Want to see it side by side with what you have now?",
				   "Anything in the specs you'd like me to dig into?")));
		return;
	}
	if (nd >= 0 && nd != NEED_SWITCHING && !t->m->checked) {
		t->m->checked = true;
		if (nd == NEED_KIDS && pi->p && pi->p->category != CATALOG_CATEGORY_TV &&
		    pi->p->category != CATALOG_CATEGORY_STREAMING)
			ask(t, "Would that work for the kids?");
		else
			ask(t, needs[nd].check);
		return;
	}
	if (t->m->checked && pi->p && !t->m->sold && t->sk_closing) {
		close_question(t, pi->p);
		return;
	}
	t->m->checked = true;
	ask(t, pick_from(t, "checkq",
			 L("Does that sound like what you're after?", "Would that work for you?",
			   "Is that the kind of thing you had in mind?")));
}

/*
 * More of them than the plan has lines: the add-on from its cross-sells
 * that brings a line, with the tool's price ("For the fifth person, add the
 * Extra Family Line for $20 a month.").
 */
static void more_people(struct turn *t, const struct pinfo *pi)
{
	static const char *const nth[] = {"second",  "third",  "fourth", "fifth", "sixth",
					  "seventh", "eighth", "ninth",	 "tenth"};
	char xp[32];
	int n = 0;

	for (unsigned i = 0; i < pi->n_specs; i++)
		if (strcmp(pi->specs[i].label, "lines") == 0)
			n = atoi(pi->specs[i].value);
	if (n < 2 || n > 9 || t->m->people <= n)
		return;
	for (unsigned i = 0; i < pi->n_xs; i++) {
		const struct catalog_product *x = catalog_product_find(t->cat, pi->xs[i].id);
		char xn[CATALOG_NAME_MAX + 8];

		if (!x || !catalog_product_spec(x, "lines"))
			continue;
		money(t, pi->xs[i].cents, xp, sizeof(xp));
		the(pi->xs[i].name, xn, sizeof(xn));
		/* no "4 lines" here: the figure check judges a sentence against the
		 * entry it names, and this one names the add-on */
		if (t->m->people == n + 1)
			say(t, 0, "For the %s person, add %s for %s%s.", nth[n - 1], xn, xp,
			    pi->xs[i].monthly ? " a month" : "");
		else
			say(t, 0, "Everyone after the %s joins with %s, at %s%s each.", nth[n - 2],
			    xn, xp, pi->xs[i].monthly ? " a month" : "");
		return;
	}
}

/*
 * Presents pi: the need and the product as its answer, one sentence of
 * outcome, the price once, then one question. When pi is already the
 * product in focus, it is not pitched again: the new need is said back and
 * one new piece of proof is given. opener: said first (may be NULL).
 */
void present(struct turn *t, const struct pinfo *pi, const char *opener, enum present_how how)
{
	char ev[PART_MAX], price[PART_MAX], sp1[80], sp2[80];
	int nd = first_need(t->tags | t->m->needs);
	int fresh = first_need(t->tags & ~t->m->needs);
	bool again = strcmp(t->m->focus, pi->id) == 0 && how == PRESENT_FIT;
	bool promo =
	    t->sk_promos && pi->full && pi->n_promos && !(t->style & STYLE_NO_CLOSE) && !again;
	int budget = promo ? 0 : 1; /* figures in the proof sentence */

	set_focus(t, pi->id, true);
	if (opener && *opener)
		say(t, how == PRESENT_AGAIN ? 0 : 3, "%s", opener);
	else if (t->style & STYLE_LOYAL && !t->m->thanked) {
		t->m->thanked = true;
		say(t, 2, "Thanks for being with us.");
	}
	price_with_promo(
	    t, pi,
	    !promo && ((t->style & STYLE_COMPARE) || ((t->tags | t->m->needs) & NB(NEED_BUDGET))),
	    promo, price, sizeof(price));

	if (again) {
		/* short on time, or "the bottom line": the price, not more proof */
		bool price_asked =
		    t->style & STYLE_SHORT ||
		    any_phrase(t->norm, L("how much", "price", "cost", "costs", "bottom line",
					  "what would i pay", "total"));

		/* the same product still fits: take in what they added, give new proof */
		if (fresh >= 0 && fresh != NEED_SWITCHING)
			say(t, 1, "%s", needs[fresh].reflect);
		if (pick(t, "still", 2))
			say(t, 0, "%s is still the one I'd pick.", pi->name);
		else
			say(t, 0, "%s still fits best.", pi->name);
		if (pi->full && !(t->style & STYLE_SHORT) && evidence(t, pi, 1, ev, sizeof(ev)))
			say(t, 1, "%s", ev);
		if (fresh == NEED_BUDGET || t->budget > 0 || price_asked)
			say(t, 0, "%s", price);
		present_question(t, pi);
		action(t, "%s still fits: confirm the new detail they gave, then the next step.",
		       pi->name);
		suggest(t, "Sounds good", "What's the catch?",
			"How does it compare with my provider?");
		t->out->suggested_state = AGENT_STATE_PRESENTING;
		return;
	}
	if (t->answer[0]) {
		/* their question first; the name comes before an answer that lacks it */
		if (!strcasestr(t->answer, pi->name)) {
			char a[PART_MAX];

			snprintf(a, sizeof(a), "%s", t->answer);
			lower_first(t, a);
			say(t, 0, "On %s: %s", pi->name, a);
		} else
			say(t, 0, "%s", t->answer);
		evidence_remember(t, t->answer);
		budget = 0;
	}
	if (t->style & STYLE_SHORT) {
		/* the answer first, one reason, a fast next step; the offer waits for the close */
		price_sentence(t, pi, false, price, sizeof(price));
		if (t->answer[0]) {
			/* answered: the price and the next step are all that is left */
		} else if (pi->full && evidence(t, pi, 2, ev, sizeof(ev))) {
			lower_first(t, ev);
			say(t, 0, "%s is the one I'd pick \xe2\x80\x94 %s", pi->name, ev);
		} else {
			say(t, 0, "%s is the one I'd pick.", pi->name);
		}
		say(t, 0, "%s", price);
		present_question(t, pi);
		action(t, "Short on time: %s, one reason, then book it or hand over.", pi->name);
		suggest(t, "Book it", "What's the catch?", "");
		t->out->suggested_state = AGENT_STATE_PRESENTING;
		return;
	}
	if (t->style & STYLE_SPEC && pi->full && !t->answer[0]) {
		const char *const *ks = key_specs(pi);

		if (spec_phrase(pi, ks[0], sp1, sizeof(sp1))) {
			if (spec_phrase(pi, ks[1], sp2, sizeof(sp2)))
				say(t, 0, "%s gives you %s and %s.", pi->name, sp1, sp2);
			else
				say(t, 0, "%s gives you %s.", pi->name, sp1);
			budget = 0;
		}
	}
	if (!named_yet(t, pi->name)) {
		if (how == PRESENT_NAMED) {
			if (pick(t, "named", 2))
				say(t, 0, "%s, good choice.", pi->name);
			else
				say(t, 0, "Happy to tell you about %s.", pi->name);
		} else if (how == PRESENT_AGAIN) {
			/* the opener named it */
		} else if (nd >= 0 && nd != NEED_SWITCHING) {
			unsigned k = pick(t, "intro", 3);

			if (k == 1)
				say(t, 0, "%s is the one I'd suggest for %s.", pi->name,
				    needs[nd].for_phrase);
			else if (k == 2)
				say(t, 0, "%s is a great fit for %s.", pi->name,
				    needs[nd].for_phrase);
			else
				say(t, 0, "For %s, I'd go with %s.", needs[nd].for_phrase,
				    pi->name);
		} else {
			unsigned k = pick(t, "intro0", 3);

			if (k == 0)
				say(t, 0, "%s is a good place to start.", pi->name);
			else if (k == 1)
				say(t, 0, "I'd start with %s.", pi->name);
			else
				say(t, 0, "The one I'd point you to is %s.", pi->name);
		}
	}
	if (pi->full && evidence(t, pi, budget, ev, sizeof(ev))) {
		say(t, 1, "%s", ev);
	} else if (pi->best_for[0]) {
		char bf[PART_MAX];

		snprintf(bf, sizeof(bf), "%s", pi->best_for);
		lower_first(t, bf);
		chop_period(bf);
		say(t, 1, "It's made for %s.", bf);
	}
	say(t, 0, "%s", price);
	more_people(t, pi);
	if (t->sk_promos && !pi->full && pi->promotion_name[0])
		say(t, 2, "There's a %s offer on it at the moment too.", pi->promotion_name);
	present_question(t, pi);

	talking_point(t, "Best for: %.180s", pi->best_for);
	if (pi->full && pi->n_xs)
		talking_point(t, "Pairs with %s: %.150s", pi->xs[0].name, pi->xs[0].why);
	action(t, "Show the %s card; confirm it fits what they said, then offer the next step.",
	       pi->name);
	suggest(t, "Sounds good", "What's the catch?", "How does it compare with my provider?");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
}

/* Does q still cover the needs heard (when there are any)? */
bool still_fits(const struct turn *t, const struct catalog_product *q)
{
	unsigned all =
	    (t->tags | t->m->needs) & ~(NB(NEED_BUDGET) | NB(NEED_SWITCHING) | NB(NEED_FAMILY));
	char text[CATALOG_TEXT_MAX * 3 + CATALOG_LIST_MAX * (CATALOG_NAME_MAX + 1)];
	size_t off;

	if (!all)
		return true;
	off = (size_t)snprintf(text, sizeof(text), "%s %s ", q->best_for, q->value_story);
	for (size_t i = 0; i < q->n_keywords && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ", q->keywords[i]);
	for (size_t i = 0; i < q->n_features && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ", q->features[i]);
	{
		char padded[sizeof(text) * 3 + 8];

		norm_padded(text, strlen(text), padded, sizeof(padded));
		for (int k = 0; k < NEED_COUNT; k++)
			if (all & NB(k) && !any_phrase(padded, needs[k].cues) &&
			    !(needs[k].query[0] && has_phrase(padded, needs[k].query)))
				return false;
	}
	return true;
}

/* The best fit for what they said: the product named, the focus, or a search. */
bool find_fit(struct turn *t, unsigned keep, struct pinfo *ret)
{
	struct pinfo r[5];
	int n, b;
	int cat = t->category >= 0 ? t->category : t->m->category;

	memset(ret, 0, sizeof(*ret));
	if (t->named) {
		if (get_product(t, t->named->id, keep, ret) == 0)
			return true;
		/* not allowed yet (greeting) or failed: what search says about it */
		n = search(t, (int)t->named->category, -1, keep, r, 5, true);
		for (int i = 0; i < n; i++)
			if (r[i].p == t->named) {
				*ret = r[i];
				return true;
			}
		return false;
	}
	{
		/* what is on the table stays there while it still covers what they said */
		const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);

		if (f && (cat < 0 || (int)f->category == cat) && still_fits(t, f) &&
		    !(t->budget > 0 && f->price_cents > t->budget) &&
		    get_product(t, f->id, keep, ret) == 0)
			return true;
	}
	if (t->question) {
		/* "can I keep my number?": the product whose own questions answer it */
		const struct catalog_product *q = NULL;
		int best = 1;

		for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
			const struct catalog_product *c = catalog_product_at(t->cat, i);

			if ((cat >= 0 && (int)c->category != cat) ||
			    c->category == CATALOG_CATEGORY_ADDONS)
				continue;
			for (size_t j = 0; j < c->n_questions; j++) {
				int o = overlap(t->plain, c->questions[j].q);

				if (o > best) {
					best = o;
					q = c;
				}
			}
		}
		if (q && get_product(t, q->id, keep, ret) == 0)
			return true;
	}
	{
		/* leave a call for get_product when the cap allows; else the search result will do
		 */
		unsigned k2 = calls_left(t) >= keep + 2 ? keep + 1 : keep;
		int64_t budget = t->budget > 0 ? t->budget : t->m->budget_cents;

		n = search(t, cat, budget, k2, r, 5, true);
		if (n <= 0 && cat >= 0 && calls_left(t) >= k2 + 1)
			n = search(t, cat, budget, k2, r, 5, false);
	}
	if (n <= 0)
		return false;
	b = best_fit(t, r, n);
	if (b < 0)
		return false;
	if (get_product(t, r[b].id, keep, ret) == 0)
		return true;
	*ret = r[b];
	return true;
}

/* ---- the product move: something cheaper, their question, or one fit ------------- */

/* A cheaper product than the one in focus, in the same category, that still fits. */
static bool cheaper_option(struct turn *t)
{
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);
	struct pinfo r[5], pi;
	int64_t limit;
	int n, b;

	if (!f)
		return false;
	limit = f->price_cents - 1;
	if (t->budget > 0 && t->budget < limit)
		limit = t->budget;
	n = search(t, (int)f->category, limit, 1, r, 5, false);
	b = n > 0 ? step_down(t, f, r, n) : -1;
	if (b < 0) {
		char pr[32];

		money(t, f->price_cents, pr, sizeof(pr));
		if (n == 0 && t->budget > 0) {
			say(t, 0, "I don't have anything in %s under that, I'm afraid.",
			    category_talk[f->category].what);
			ask(t, "Would it help to see what you'd save against what you pay now?");
			return true;
		}
		return false;
	}
	if (get_product(t, r[b].id, 0, &pi) < 0)
		pi = r[b];
	say(t, 0, "%s",
	    pick_from(t, "cheaper", L("Sure, there's a cheaper option.", "Of course.")));
	present(t, &pi, NULL, PRESENT_FIT);
	return true;
}

void do_product(struct turn *t, const char *opener)
{
	struct pinfo pi;
	int cat = t->category >= 0 ? t->category : t->m->category;
	bool need_known = (t->tags | t->m->needs) & ~NB(NEED_SWITCHING);

	/* something cheaper than what is on the table */
	if (t->m->focus[0] && !t->named &&
	    (t->category < 0 || t->category == t->m->focus_category) &&
	    (any_cue(t->norm, L("cheaper", "less expensive", "cheapest", "lower price")) ||
	     t->budget > 0) &&
	    cheaper_option(t)) {
		record(t, t->m->focus);
		return;
	}
	/* a question about what is on the table */
	if (t->m->focus[0] && !t->named &&
	    (t->category < 0 || t->category == t->m->focus_category) && t->question &&
	    answer_focus(t)) {
		record(t, t->m->focus);
		return;
	}
	/* a category and nothing else: one question that would change the answer */
	if (!t->named && cat >= 0 && !need_known && t->m->discovery[cat] == 0 && !t->question &&
	    !(t->m->focus[0] && t->m->focus_category == cat) &&
	    !(t->style & (STYLE_SHORT | STYLE_HARD)) && t->words <= 14 && t->budget < 0) {
		if (opener)
			say(t, 3, "%s", opener);
		say(t, 1, "Happy to help with %s.", category_talk[cat].what);
		ask_discovery(t, cat);
		t->m->category = cat;
		return;
	}
	/* "do you sell lawnmowers?": say so when nothing matches at all (asking
	 * what we recommend is not asking for something we lack) */
	if (!t->named && cat < 0 && !t->tags && t->question &&
	    !any_phrase(t->norm, L("recommend", "suggest", "what should i get", "whats good",
				   "whats best", "what would you", "what do you think"))) {
		struct pinfo r[5];

		if (search(t, -1, -1, 1, r, 5, true) == 0) {
			if (opener)
				say(t, 3, "%s", opener);
			say(t, 0, "I'm afraid that's not something we have here.");
			ask(t, "Is there something for your phone, or for home, I can help with "
			       "instead?");
			suggest(t, "Phone plans", "Home internet", "TV and streaming");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			return;
		}
	}
	/* a need but no idea which service: ask that once before guessing */
	if (!t->named && cat < 0 && t->m->discovery[CATALOG_CATEGORY_COUNT] == 0) {
		int nd = first_need(t->tags & ~t->m->needs);

		if (opener)
			say(t, 3, "%s", opener);
		if (nd >= 0)
			say(t, 1, "%s", needs[nd].reflect);
		ask_discovery(t, -1);
		record(t, NULL);
		return;
	}
	/* a phone for someone, and nothing yet on what it's for or what to spend:
	 * ask that once before picking one */
	if (!t->named && cat == CATALOG_CATEGORY_DEVICES && t->m->discovery[cat] == 0 &&
	    t->budget < 0 && t->m->budget_cents < 0 && !t->question &&
	    !(t->style & (STYLE_SHORT | STYLE_HARD))) {
		unsigned who = NB(NEED_KIDS) | NB(NEED_TEENS) | NB(NEED_SENIORS) | NB(NEED_FAMILY);
		unsigned all = t->tags | t->m->needs;

		if (all & who && !(all & ~(who | NB(NEED_DEVICE_UPGRADE) | NB(NEED_SWITCHING)))) {
			int nd = first_need(t->tags & ~t->m->needs);

			if (opener)
				say(t, 3, "%s", opener);
			if (nd >= 0)
				say(t, 1, "%s", needs[nd].reflect);
			t->m->discovery[cat]++;
			t->m->category = cat;
			ask(t,
			    "What will it mostly be used for, and roughly what would you like to "
			    "spend?");
			suggest(t, "Games and messages", "Calls and photos",
				"As cheap as possible");
			action(
			    t,
			    "A device for someone: find out what it's for and the budget first.");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			record(t, NULL);
			return;
		}
	}
	if (!find_fit(t, 0, &pi)) {
		if (opener)
			say(t, 3, "%s", opener);
		say(t, 0, "I couldn't find a good match for that here.");
		ask_discovery(t, -1);
		return;
	}
	/* "what upload do I get on Fibre Gig?": the answer leads, the pitch follows */
	if (t->question && t->named && pi.full) {
		enum answer r = answer_about(t, &pi, false, t->answer, sizeof(t->answer));

		if (r == ANSWER_UNKNOWN) {
			if (opener)
				say(t, 3, "%s", opener);
			say_unknown(t, &pi);
			record(t, pi.id);
			return;
		}
		if (r != ANSWER_SAID)
			t->answer[0] = '\0';
	}
	present(t, &pi, opener, t->named ? PRESENT_NAMED : PRESENT_FIT);
	record(t, pi.id);
}
