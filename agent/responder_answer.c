/*
 * responder_answer — answering their question about a product from what the
 * tool returned (specs, the catalog's Q&A, features; honest when it does not
 * say), how long an offer runs, and "any deals?". Private to the responder
 * (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- answering their question ----------------------------------------------------- */

/* The spec a question asks about: "how fast" is the download speed. */
static const struct {
	const char *const *words;
	const char *label;
} spec_questions[] = {
    {L("upload", "uploads"), "upload speed"},
    {L("how fast", "speed", "mbps", "fast"), "download speed"},
    {L("channels", "channel"), "channels"},
    {L("screens", "at once", "how many people", "same time"), "screens at once"},
    {L("hotspot", "tether", "tethering"), "hotspot data"},
    {L("data", "gb", "gigabytes"), "data"},
    {L("roaming", "abroad", "countries"), "roaming countries"},
    {L("record", "recording", "dvr"), "cloud recording"},
    {L("battery"), "battery"},
    {L("storage", "memory"), "storage"},
    {L("camera", "megapixel", "megapixels"), "camera"},
    {L("cameras"), "cameras"},
    {L("warranty"), "warranty"},
};

/* A question to answer yes or no ("is it", "can I", "does it"), not "how"/"what". */
static bool asks_yes_no(const struct turn *t)
{
	char first[32];

	lead_word(t->plain, first, sizeof(first));
	for (const char *const *w =
		 L("how", "what", "whats", "which", "when", "where", "why", "who");
	     *w; w++)
		if (strcmp(first, *w) == 0)
			return false;
	return true;
}

/* A feature as it sits after "comes with": "a Wi-Fi 6 router", "kids profiles". */
void feature_phrase(const struct turn *t, const char *f, char *out, size_t len)
{
	const char *last = strrchr(f, ' ');
	size_t n = strlen(f);
	char first[24] = "";
	bool upper = false, article;

	last = last ? last + 1 : f;
	sscanf(f, "%23[^ ]", first);
	for (size_t i = 1; first[i]; i++)
		upper |= isupper((unsigned char)first[i]) != 0;
	/* no article for plurals, "-ing" words, numbers and what is never counted */
	article = isalpha((unsigned char)f[0]) && n > 1 && f[n - 1] != 's' &&
		  !(strlen(last) > 4 && strcmp(last + strlen(last) - 3, "ing") == 0);
	for (const char *const *w = L("free", "no", "unlimited", "all", "priority", "data", "spam",
				      "catch-up", "roaming", "mesh");
	     *w && article; w++)
		article = strcasecmp(first, *w) != 0;
	snprintf(out, len, "%s%s", article ? (strchr("AEIOUaeiou", f[0]) ? "an " : "a ") : "", f);
	if (!upper)
		lower_first(t, out + (article ? (out[1] == 'n' ? 3 : 2) : 0));
}

/* The catalog's answer to their question; no leading "Yes," to a "how" or "what". */
static bool qa_answer(struct turn *t, const struct pinfo *pi, char *out, size_t len)
{
	if (!answer_question(t, pi, out, len))
		return false;
	if (!asks_yes_no(t))
		skip_yes(out, out, len);
	return true;
}

/* "Does it come with ...?", "does it have ...?": asks whether it has something. */
static bool asks_has(const struct turn *t)
{
	return t->question &&
	       any_phrase(t->norm, L("come with", "comes with", "include", "includes", "included",
				     "have a", "have an", "has a", "has an", "support", "supports",
				     "got a", "offer a"));
}

/*
 * The customer's question about pi, answered into out from what the tool
 * returned: its questions and answers, the price and contract (price_too),
 * a spec, a feature. ANSWER_UNKNOWN when they ask whether it has something
 * the tool does not list.
 */
enum answer answer_about(struct turn *t, const struct pinfo *pi, bool price_too, char *out,
			 size_t len)
{
	bool quantity = any_phrase(t->norm, L("how many", "how much", "how fast", "what speed"));
	char sp[96], up[96];

	out[0] = '\0';
	/* "how many screens?": a number from the specs beats a catalog answer's yes */
	if (!quantity && qa_answer(t, pi, out, len))
		return ANSWER_SAID;
	if (price_too && any_phrase(t->norm, L("how much", "price", "cost", "costs", "monthly",
					       "pay", "bottom line"))) {
		price_with_promo(t, pi, !(t->sk_promos && pi->n_promos), t->sk_promos, out, len);
		return ANSWER_SAID;
	}
	if (price_too &&
	    any_phrase(t->norm, L("contract", "tied in", "locked in", "cancel", "leave"))) {
		if (pi->contract_months)
			snprintf(out, len, "%s is a %d-month contract.", pi->name,
				 pi->contract_months);
		else
			snprintf(out, len, "There's no contract on %s: you can leave any month.",
				 pi->name);
		return ANSWER_SAID;
	}
	for (size_t i = 0; i < sizeof(spec_questions) / sizeof(spec_questions[0]); i++) {
		if (!any_phrase(t->norm, spec_questions[i].words) ||
		    !spec_phrase(pi, spec_questions[i].label, sp, sizeof(sp)))
			continue;
		if (strcmp(spec_questions[i].label, "download speed") == 0 &&
		    spec_phrase(pi, "upload speed", up, sizeof(up)))
			snprintf(out, len, "%s gives you %s and %s.", pi->name, sp, up);
		else
			snprintf(out, len, "%s gives you %s.", pi->name, sp);
		return ANSWER_SAID;
	}
	if (quantity && qa_answer(t, pi, out, len))
		return ANSWER_SAID;
	/* "does it come with a Wi-Fi 6 router?": a feature the tool lists */
	for (unsigned i = 0; i < pi->n_features && t->question; i++) {
		char f[CATALOG_NAME_MAX + 4];

		if (overlap(t->plain, pi->features[i]) < (asks_has(t) ? 1 : 2))
			continue;
		feature_phrase(t, pi->features[i], f, sizeof(f));
		snprintf(out, len, "%s%s comes with %s.", asks_has(t) ? "Yes, " : "", pi->name, f);
		return ANSWER_SAID;
	}
	if (any_phrase(t->norm, L("install", "installation", "engineer", "set up", "setup")))
		for (unsigned i = 0; i < pi->n_features; i++)
			if (strcasestr(pi->features[i], "install")) {
				snprintf(out, len, "%s comes with %s.", pi->name, pi->features[i]);
				return ANSWER_SAID;
			}
	/* the service terms (compensation, refunds, guarantees) are not in the catalog */
	if (t->question &&
	    any_phrase(t->norm, L("compensation", "compensate", "refund", "refunds", "money back",
				  "guarantee", "guaranteed", "uptime", "goes down", "outage",
				  "outages", "terms and conditions", "early termination")))
		return ANSWER_UNKNOWN;
	return asks_has(t) ? ANSWER_UNKNOWN : ANSWER_NONE;
}

/*
 * Their question answered by another product of the category, read with
 * get_product (keep: calls to leave). A question about what they can do
 * ("can I keep my number?") is the store's answer for the category; a
 * question about what a product has is that product's ("Fibre Gig has it").
 */
bool other_answer(struct turn *t, int cat, const struct catalog_product *except, unsigned keep,
		  char *out, size_t len)
{
	const struct catalog_product *best = NULL;
	int best_sc = 1;
	struct pinfo pi;
	char a[PART_MAX];

	if (cat < 0 || !t->question)
		return false;
	for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
		const struct catalog_product *c = catalog_product_at(t->cat, i);

		if ((int)c->category != cat || c == except ||
		    c->category == CATALOG_CATEGORY_ADDONS)
			continue;
		for (size_t j = 0; j < c->n_questions; j++) {
			char both[2 * CATALOG_TEXT_MAX + 2];
			int sc;

			/* what they can do: the question itself must be theirs; what a
			 * product has: its answer's words count too ("home servers") */
			snprintf(both, sizeof(both), "%s %s", c->questions[j].q,
				 asks_has(t) ? c->questions[j].a : "");
			sc = overlap(t->plain, both);
			if (sc > best_sc) {
				best = c;
				best_sc = sc;
			}
		}
		/* what a product has: a feature it lists ("Smart lock") */
		for (size_t j = 0; j < c->n_features && asks_has(t); j++)
			if (overlap(t->plain, c->features[j]) + 1 > best_sc) {
				best = c;
				best_sc = overlap(t->plain, c->features[j]) + 1;
			}
	}
	if (!best || get_product(t, best->id, keep, &pi) < 0)
		return false;
	if (asks_has(t)) {
		char b[PART_MAX];

		for (unsigned i = 0; i < pi.n_features; i++)
			if (overlap(t->plain, pi.features[i]) >= 1) {
				feature_phrase(t, pi.features[i], b, sizeof(b));
				snprintf(out, len, "If it's a must, %s comes with %.200s.", pi.name,
					 b);
				return true;
			}
		if (!answer_question(t, &pi, a, sizeof(a)) || n_figures(t, a) > 0)
			return false;
		skip_yes(a, b, sizeof(b));
		lower_first(t, b);
		snprintf(out, len, "%s has it, if it's a must: %.400s", pi.name, b);
		return true;
	}
	if (!answer_question(t, &pi, a, sizeof(a)) || n_figures(t, a) > 0)
		return false;
	snprintf(out, len, "%s", a);
	return true;
}

/* "Does Fibre 300 come with a static IP?" and the tool does not say: honest, and a colleague. */
void say_unknown(struct turn *t, const struct pinfo *pi)
{
	char other[PART_MAX];

	set_focus(t, pi->id, true);
	say(t, 0,
	    "That's not something I can confirm for %s from what I have here; a colleague "
	    "can check it for you.",
	    pi->name);
	if (other_answer(t, pi->p ? (int)pi->p->category : -1, pi->p, 1, other, sizeof(other)))
		say(t, 1, "%s", other);
	ask(t, "Shall I get someone to check it with you?");
	t->m->pending = PENDING_ESCALATE;
	snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "customer_request");
	action(t,
	       "They asked whether %s has something the catalog does not list: check it "
	       "with them.",
	       pi->name);
	suggest(t, "Yes, please", "No, that's fine", "");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
}

/* Answers a question about the product in focus. */
bool answer_focus(struct turn *t)
{
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);
	struct pinfo pi;
	char ans[PART_MAX];
	enum answer r;

	if (!f || get_product(t, f->id, 0, &pi) < 0)
		return false;
	snprintf(t->salt, sizeof(t->salt), "%s", pi.id);
	snprintf(t->out->card_product, sizeof(t->out->card_product), "%s", pi.id);
	r = answer_about(t, &pi, true, ans, sizeof(ans));
	if (r == ANSWER_SAID) {
		say(t, 0, "%s", ans);
	} else if (r == ANSWER_NONE && other_answer(t, (int)f->category, f, 0, ans, sizeof(ans))) {
		say(t, 0, "%s", ans); /* "can I keep my number?": the store's answer */
	} else if (r == ANSWER_UNKNOWN) {
		say_unknown(t, &pi);
		return true;
	} else {
		/* nothing specific to answer: the same product, with new proof */
		present(t, &pi, NULL, PRESENT_FIT);
		return true;
	}
	present_question(t, &pi);
	action(t, "They are asking about %s: answer, then check it fits.", pi.name);
	suggest(t, "Sounds good", "What's the catch?", "How does it compare with my provider?");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
	return true;
}

/* ---- offers: how long one runs, and any deals ------------------------------------ */

/*
 * "Is the Black Friday deal still on?", "how long does that last?": a
 * question about how long an offer runs, naming an offer or coming right
 * after we said one.
 */
bool offer_question(const struct turn *t)
{
	bool offer_words = any_phrase(t->norm, L("deal", "offer", "promotion", "promo", "discount",
						 "saving", "sale", "price", "black friday"));
	bool right_after = t->m->promo_turn > 0 && t->m->promo_turn == t->in->turn - 1 &&
			   any_phrase(t->norm, L("that", "it", "this"));

	return t->question &&
	       any_phrase(t->norm, L("still on", "still running", "still available", "still valid",
				     "still going", "until when", "end", "ends", "ending", "expire",
				     "expires", "last", "lasts")) &&
	       (offer_words || right_after);
}

/* Answers how long the offer on the product named (or in focus) runs, from get_product. */
bool do_offer_question(struct turn *t)
{
	const struct catalog_product *p =
	    t->named ? t->named : catalog_product_find(t->cat, t->m->focus);
	struct pinfo pi;
	char price[PART_MAX];

	if (!p || get_product(t, p->id, 0, &pi) < 0)
		return false;
	set_focus(t, pi.id, true);
	if (pi.n_promos) {
		const struct promo *pr = &pi.promos[0];
		char end[32], pp[32], full[32];
		bool still = any_phrase(t->norm, L("still", "is there", "is it on"));

		date_words(pr->ends, end, sizeof(end));
		money(t, pr->promo_cents, pp, sizeof(pp));
		money(t, pi.price_cents, full, sizeof(full));
		if (pr->monthly && pr->months > 0)
			say(t, 0,
			    "%s%s runs until %s, so %s is %s a month for the first %d months, "
			    "then %s a month.",
			    still ? "Yes, " : "", pr->name, end, pi.name, pp, pr->months, full);
		else
			say(t, 0, "%s%s runs until %s, so %s is %s instead of %s.",
			    still ? "Yes, " : "", pr->name, end, pi.name, pp, full);
		promo_said(t, pr->id);
		id_add(t->m->deadlines_said, &t->m->n_deadlines_said, RESPONDER_MEMORY_OFFERS,
		       pr->id);
		action(t, "Asked how long %s runs: until %s.", pr->name, end);
	} else {
		price_sentence(t, &pi, false, price, sizeof(price));
		say(t, 0, "There's no offer running on %s at the moment, so I won't promise one.",
		    pi.name);
		say(t, 1, "%s", price);
		action(t, "Asked about an offer on %s: none runs today.", pi.name);
	}
	ask(t, pick_from(t, "offerq",
			 L("Would that work for you?",
			   "Is there anything else you'd like to check about it?")));
	suggest(t, "Sounds good", "What's the catch?", "");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
	return true;
}

/* "Any deals on?": the running promotion that fits them, with its end date and condition. */
void do_deals(struct turn *t)
{
	cJSON *args = cJSON_CreateObject(), *res = NULL, *it, *pp;
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);
	int cat = t->category >= 0 ? t->category : t->m->category;
	const cJSON *best = NULL, *best_p = NULL;
	int best_score = -1;

	if (args && f)
		cJSON_AddStringToObject(args, "product_id", f->id);
	else if (args && cat >= 0)
		cJSON_AddStringToObject(args, "category",
					catalog_category_name((enum catalog_category)cat));
	if (tool(t, "current_promotions", args, 1, &res) < 0) {
		say(t, 0, "A colleague at the counter can tell you about today's offers.");
		back_to_need(t);
		return;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "promotions"))
	{
		cJSON_ArrayForEach(pp, cJSON_GetObjectItemCaseSensitive(it, "products"))
		{
			const struct catalog_product *p =
			    catalog_product_find(t->cat, jstr(pp, "id"));
			int sc = 0;

			if (!p)
				continue;
			if (f && p == f)
				sc += 10;
			if (cat >= 0 && (int)p->category == cat)
				sc += 4;
			if (still_fits(t, p))
				sc += 2;
			if (sc > best_score) {
				best = it;
				best_p = pp;
				best_score = sc;
			}
		}
	}
	if (!best) {
		say(t, 0, "There's no offer running on %s at the moment, so I won't promise one.",
		    f	       ? f->name
		    : cat >= 0 ? category_talk[cat].what
			       : "that");
		back_to_need(t);
		cJSON_Delete(res);
		return;
	}
	{
		char pr[32], end[32], terms[CATALOG_TEXT_MAX], *cut;
		const char *name = jstr(best, "name"), *pname = jstr(best_p, "name");
		int months = jint(best_p, "for_months");
		bool monthly =
		    jstr(best_p, "promo_price") && strstr(jstr(best_p, "promo_price"), "a month");

		money(t, money_parse(jstr(best_p, "promo_price")), pr, sizeof(pr));
		date_words(jstr(best, "ends") ? jstr(best, "ends") : "", end, sizeof(end));
		if (monthly && months > 0)
			say(t, 0,
			    "Right now %s brings %s to %s a month for the first %d months, until "
			    "%s.",
			    name, pname, pr, months, end);
		else
			say(t, 0, "Right now %s brings %s down to %s, until %s.", name, pname, pr,
			    end);
		jcopy(terms, sizeof(terms), best, "terms");
		if ((cut = strpbrk(terms, ";.")))
			*cut = '\0';
		if (terms[0] && n_figures(t, terms) == 0) {
			lower_first(t, terms);
			say(t, 1, "The condition: %s.", terms);
		}
		set_focus(t, jstr(best_p, "id"), true);
		promo_said(t, jstr(best, "id"));
		id_add(t->m->deadlines_said, &t->m->n_deadlines_said, RESPONDER_MEMORY_OFFERS,
		       jstr(best, "id"));
		{
			char q[200];

			snprintf(q, sizeof(q), "Would %s suit what you need?", pname);
			ask(t, q);
		}
		action(t, "Asked about offers: %s on %s.", name, pname);
		suggest(t, "Tell me more", "Sounds good", "Any other offers?");
		t->out->suggested_state = AGENT_STATE_PRESENTING;
	}
	cJSON_Delete(res);
}
