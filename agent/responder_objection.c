/*
 * responder_objection — objections in four beats: acknowledge, bridge,
 * evidence, empower; a step down to a cheaper product that still fits.
 * Private to the responder (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- objections: acknowledge, bridge, evidence, empower --------------------------- */

/*
 * The alternative a step down from orig: among the results (all cheaper), the
 * one that still fits what they said, sharing the most of orig's keywords,
 * then the closest in price (the smallest step down keeps the same class).
 */
int step_down(const struct turn *t, const struct catalog_product *orig, const struct pinfo *r,
	      int n)
{
	int best = -1, best_score = -1;

	for (int i = 0; i < n; i++) {
		const struct catalog_product *q = r[i].p;
		int shared = 0, sc;

		if (!q || q == orig || q->category != orig->category || !still_fits(t, q))
			continue;
		for (size_t a = 0; a < orig->n_keywords; a++)
			for (size_t b = 0; b < q->n_keywords; b++)
				shared += strcmp(orig->keywords[a], q->keywords[b]) == 0;
		/* price closeness: 0..99 */
		sc = 100 * shared +
		     (int)(99 * q->price_cents / (orig->price_cents ? orig->price_cents : 1));
		if (sc > best_score) {
			best = i;
			best_score = sc;
		}
	}
	return best;
}

/* current_promotions for pi: the first promotion running on it, into *ret. */
static int current_promotion(struct turn *t, const struct pinfo *pi, struct promo *ret)
{
	cJSON *args = cJSON_CreateObject(), *res, *it, *pp;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (args)
		cJSON_AddStringToObject(args, "product_id", pi->id);
	r = tool(t, "current_promotions", args, 1, &res);
	if (r < 0)
		return r;
	r = -ENOENT;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "promotions"))
	{
		cJSON_ArrayForEach(pp, cJSON_GetObjectItemCaseSensitive(it, "products"))
		{
			const char *id = jstr(pp, "id");

			if (!id || strcmp(id, pi->id) != 0)
				continue;
			jcopy(ret->id, sizeof(ret->id), it, "id");
			jcopy(ret->name, sizeof(ret->name), it, "name");
			jcopy(ret->ends, sizeof(ret->ends), it, "ends");
			ret->promo_cents = money_parse(jstr(pp, "promo_price"));
			ret->monthly =
			    jstr(pp, "promo_price") && strstr(jstr(pp, "promo_price"), "a month");
			ret->months = jint(pp, "for_months");
			if (ret->promo_cents >= 0 && ret->name[0]) {
				r = 0;
				break;
			}
		}
		if (r == 0)
			break;
	}
	cJSON_Delete(res);
	return r;
}

/*
 * A cheaper product in pi's category that still fits what they said (one
 * search_products call), said as "<lead>X is $Y and is made for ...", and put
 * in focus. false when there is none.
 */
static bool say_step_down(struct turn *t, const struct pinfo *pi, const char *lead)
{
	struct pinfo r[5];
	char bf[PART_MAX], pr[32], q[QUERY_MAX + 1] = "";
	int n = 0, b;

	/* the products most like it (its own keywords), under its price */
	for (size_t i = 0; pi->p && i < pi->p->n_keywords; i++)
		if (strlen(q) + strlen(pi->p->keywords[i]) + 2 < sizeof(q))
			snprintf(q + strlen(q), sizeof(q) - strlen(q), "%s%s", q[0] ? " " : "",
				 pi->p->keywords[i]);
	if (pi->p)
		n = search_run(t, q, (int)pi->p->category, pi->price_cents - 1, 1, r, 5);
	if (n <= 0 && pi->p)
		n = search(t, (int)pi->p->category, pi->price_cents - 1, 1, r, 5, false);
	b = n > 0 ? step_down(t, pi->p, r, n) : -1;

	if (b < 0)
		return false;
	money(t, r[b].price_cents, pr, sizeof(pr));
	snprintf(bf, sizeof(bf), "%s", r[b].best_for);
	chop_period(bf);
	lower_first(t, bf);
	say(t, 0, "%s%s is %s%s and is made for %s.", lead, r[b].name, pr,
	    r[b].monthly ? " a month" : "", bf);
	set_focus(t, r[b].id, true);
	ask(t, "Would that be closer to what you had in mind?");
	return true;
}

int objection_kind(const struct turn *t)
{
	static const enum objection order[] = {OBJ_PARTNER, OBJ_CONTRACT, OBJ_TRUST, OBJ_HASSLE,
					       OBJ_NEED,    OBJ_VALUE,	  OBJ_PRICE, OBJ_THINK};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (any_cue(t->norm, objection_cues[order[i]]) ||
		    (order[i] == OBJ_NEED && any_phrase(t->norm, objection_cues[OBJ_NEED])))
			return (int)order[i];
	return t->tags & NB(NEED_BUDGET) ? OBJ_PRICE : OBJ_THINK;
}

/* "You said the kids are a big part of this" when a need was heard. */
static bool bridge(const struct turn *t, char *out, size_t len)
{
	int nd = first_need(t->m->needs | t->tags);

	if (nd < 0 || nd == NEED_SWITCHING || nd == NEED_BUDGET)
		return false;
	snprintf(out, len, "%s", needs[nd].bridge);
	return true;
}

/* One sentence on the contract: no_contract with the name, or tied with the name and months. */
static void say_terms(struct turn *t, const struct pinfo *pi, int prio, const char *no_contract,
		      const char *tied)
{
	if (pi->monthly && pi->contract_months == 0)
		say(t, prio, no_contract, pi->name);
	else if (pi->contract_months > 0)
		say(t, prio, tied, pi->name, pi->contract_months);
}

void do_objection(struct turn *t)
{
	int kind = objection_kind(t);
	const struct catalog_product *p = catalog_product_find(t->cat, t->m->focus);
	struct pinfo pi;
	char br[200], ev[PART_MAX] = "", pr[32];
	bool have_br, repeat = t->m->objections[kind] > 0;

	t->out->suggested_state = AGENT_STATE_OBJECTION;
	t->m->objections[kind]++;
	if (kind == OBJ_PRICE)
		t->m->price_objection = true;
	t->m->pending = PENDING_NONE;
	if (!p || get_product(t, p->id, 0, &pi) < 0) {
		say(t, 0, "%s",
		    pick_from(t, "objnop",
			      L("Fair enough, no pressure at all.", "That's completely fair.")));
		ask(t, category_talk[t->m->category >= 0 ? t->m->category : CATALOG_CATEGORY_MOBILE]
			   .discovery[0]);
		return;
	}
	snprintf(t->salt, sizeof(t->salt), "%s", pi.id);
	snprintf(t->out->card_product, sizeof(t->out->card_product), "%s", pi.id);
	if (repeat) {
		/* the same concern twice: stop persuading, leave the door open */
		say(t, 0, "%s",
		    pick_from(t, "objrep",
			      L("I understand, and there's no pressure at all.",
				"That's completely fine, no pressure.")));
		say(t, 0,
		    "I've noted what we looked at, so whenever you're ready the team here can pick "
		    "it up from there.");
		record(t, pi.id);
		action(t, "Same concern twice (%s): stop selling %s; leave the door open.",
		       kind == OBJ_PRICE ? "price" : "timing", pi.name);
		suggest(t, "Thanks", "Tell me about something else", "");
		return;
	}
	have_br = bridge(t, br, sizeof(br));
	switch ((enum objection)kind) {
	case OBJ_PRICE: {
		struct cmpinfo ci;
		struct promo promo;
		const struct catalog_competitor *k =
		    t->comp ? t->comp : catalog_competitor_find(t->cat, t->m->competitor);
		int64_t spend = t->spend > 0 ? t->spend : t->m->spend_cents;

		say(t, 0, "%s",
		    pick_from(t, "ackprice",
			      L("Fair enough, the monthly cost matters.",
				"That's fair, it has to make sense for the budget.",
				"I hear you, nobody wants to pay for more than they need.")));
		/* "ok what about something cheaper": they asked for another one, so that
		 * comes first, before paying monthly or an offer on this one */
		if (any_phrase(t->norm, L("something cheaper", "anything cheaper", "cheaper one",
					  "cheaper option", "cheaper alternative", "cheaper plan",
					  "cheaper phone", "less expensive", "cheapest")) &&
		    say_step_down(t, &pi, "A step down that still fits: "))
			break;
		if ((k || spend > 0) && pi.monthly &&
		    compare(t, pi.p, k, NULL, 0, spend, 0, &ci) == 0) {
			char a[32], b[32], c[32];

			money(t, ci.theirs_m, a, sizeof(a));
			money(t, ci.ours_m, b, sizeof(b));
			money(t, ci.diff_m, c, sizeof(c));
			if (have_br)
				say(t, 1, "You said %s.", br);
			if (ci.spend > 0 && ci.cheaper_m > 0)
				say(t, 0,
				    "Against the %s a month you pay now, %s at %s works out %s a "
				    "month less.",
				    a, pi.name, b, c);
			else if (ci.spend > 0)
				say(t, 0,
				    "Against the %s a month you pay now, %s at %s is %s a month "
				    "more, for what it adds.",
				    a, pi.name, b, c);
			else if (ci.cheaper_m > 0)
				say(t, 0,
				    "Against %s at %s a month, %s at %s works out %s a month less.",
				    ci.theirs, a, pi.name, b, c);
			else
				say(t, 0,
				    "Against %s at %s a month, %s at %s is %s a month more, for "
				    "what it adds.",
				    ci.theirs, a, pi.name, b, c);
			t->comparing = true;
			ask(t, "Would it help to take these numbers home and decide there?");
			break;
		}
		if (!pi.monthly && pi.monthly_cents > 0 && pi.pay_months > 0) {
			char pm[32];

			money(t, pi.monthly_cents, pm, sizeof(pm));
			if (have_br)
				say(t, 1, "You said %s, and %s fits that.", br, pi.name);
			say(t, 0,
			    "You don't have to pay it all at once: it's %s a month over %d months, "
			    "with no interest.",
			    pm, pi.pay_months);
			ask(t, "Would spreading it like that work better for you?");
			break;
		}
		if (current_promotion(t, &pi, &promo) == 0) {
			char pp[32];

			money(t, promo.promo_cents, pp, sizeof(pp));
			if (have_br)
				say(t, 1, "You said %s, and %s fits that.", br, pi.name);
			if (promo.monthly && promo.months > 0)
				say(t, 0, "With %s it's %s a month for the first %d months%s.",
				    promo.name, pp, promo.months,
				    pi.contract_months ? "" : ", with no contract");
			else
				say(t, 0, "With %s it's %s.", promo.name, pp);
			promo_said(t, promo.id);
			if (pi.monthly && pi.p && t->m->spend_cents < 0 &&
			    category_talk[pi.p->category].spend_q) {
				t->m->spend_asked = true;
				ask(t, category_talk[pi.p->category].spend_q);
			} else {
				ask(t, "Would it help to see it against what you pay now?");
			}
			break;
		}
		if (say_step_down(t, &pi, "If the price is the sticking point, "))
			break;
		/* the value, then the anchor that lets compare do the math next time */
		if (evidence(t, &pi, 1, ev, sizeof(ev))) {
			lower_first(t, ev);
			if (strchr(ev, ':')) {
				ev[0] = (char)toupper((unsigned char)ev[0]);
				if (have_br)
					say(t, 1,
					    "You said %s, and that's what you'd be paying for.",
					    br);
				say(t, 0, "%s", ev);
			} else if (have_br) {
				say(t, 0, "You said %s, and that's what you'd be paying for: %s",
				    br, ev);
			} else {
				say(t, 0, "What you'd be paying for is this: %s", ev);
			}
		}
		if (pi.monthly && pi.p && category_talk[pi.p->category].spend_q) {
			t->m->spend_asked = true;
			ask(t, category_talk[pi.p->category].spend_q);
		} else if (pi.monthly) {
			ask(t,
			    "Would it help to go through what's included, so you can weigh it up?");
		} else {
			ask(t, "Would it help to look at something simpler?");
		}
		break;
	}
	case OBJ_THINK:
		say(t, 0, "%s",
		    pick_from(t, "ackthink",
			      L("Of course, it's worth thinking over.",
				"Makes sense, there's no rush at all.")));
		say_terms(t, &pi, 1,
			  "%s has no contract, so whenever you decide, you're never stuck with it.",
			  "Worth knowing: %s is a %d-month contract, so it's right to be sure.");
		if (tools_allowed(tools_find("book_appointment"), t->in->tools->state) ||
		    t->in->tools->state == AGENT_STATE_PRESENTING) {
			ask(t, "Would it help to book a time to come back, so someone has it ready "
			       "for you?");
			t->m->pending = PENDING_VISIT;
			snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", pi.id);
		} else {
			ask(t, "Is there anything that would help you decide?");
		}
		break;
	case OBJ_CONTRACT:
		say(t, 0, "Being tied in is a real constraint, and it's worth timing it right.");
		if (pi.monthly && pi.contract_months == 0)
			say(t, 0,
			    "%s has no contract of its own, so the switch can happen the day yours "
			    "ends.",
			    pi.name);
		else
			say(t, 0,
			    "%s is a %d-month contract, so it's worth starting it when yours ends.",
			    pi.name, pi.contract_months);
		ask(t, "When does your current contract end? We can plan the switch for then.");
		break;
	case OBJ_PARTNER:
		say(t, 0, "That makes sense, it's a decision to make together.");
		{
			char price[200];

			price_sentence(t, &pi, false, price, sizeof(price));
			chop_period(price);
			say(t, 1, "So you have it: %s is %s.", pi.name, price + 5);
		}
		ask(t, "Would it help to book a time to come in together?");
		t->m->pending = PENDING_VISIT;
		snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", pi.id);
		break;
	case OBJ_TRUST: {
		char price[200];

		if (!any_cue(t->norm,
			     L("whats the catch", "is there a catch", "any catch", "hidden fees",
			       "hidden costs", "small print", "fine print"))) {
			/* reviews, doubt: no "no catch"; what makes it safe to try */
			say(t, 0, "%s",
			    pick_from(t, "ackdoubt",
				      L("It's fair to check what other people say first.",
					"That's a fair worry, and worth taking seriously.")));
			say_terms(
			    t, &pi, 0,
			    "%s has no contract, so you can try it and leave any month if it "
			    "doesn't work for you.",
			    "%s is a %d-month contract, so a colleague can go through it with "
			    "you first.");
			ask(t, "What was it in the reviews that worried you?");
			break;
		}

		say(t, 0, "%s",
		    pick_from(t, "acktrust",
			      L("Good question to ask.", "Fair question, it's worth checking.")));
		price_sentence(t, &pi, false, price, sizeof(price));
		chop_period(price);
		say(t, 0, "No catch: %s is %s%s.", pi.name, price + 5,
		    pi.setup_cents > 0 ? "" : " and no setup fee");
		if (pi.n_charges) {
			money(t, pi.charge_cents[0], pr, sizeof(pr));
			say(t, 1, "The only extra is the %s of %s, and only if you use it.",
			    pi.charge_what[0][0] ? pi.charge_what[0] : "excess", pr);
		}
		ask(t, "Is there anything else you'd like me to check?");
		break;
	}
	case OBJ_NEED:
		/* "I don't need that much speed": less of the same, not a no; and
		 * not a need for speed */
		t->tags = 0;
		if (any_phrase(t->norm,
			       L("that much", "so much", "as much", "that many", "so many",
				 "all that", "that fast", "the fastest", "the best", "that big")) &&
		    say_step_down(t, &pi,
				  "Fair enough, no point paying for more than you'll use: "))
			break;
		say(t, 0, "Fair enough; if you don't need it, it's not worth paying for.");
		ask(t, "What would have to change for it to be worth it to you?");
		t->out->suggested_state = AGENT_STATE_DISCOVERY;
		break;
	case OBJ_HASSLE: {
		int best = -1;
		char pr2[PART_MAX];

		say(t, 0, "Nobody wants a hassle, so here's how it works.");
		for (unsigned i = 0; i < pi.n_qa && best < 0; i++)
			if (strcasestr(pi.qa[i].q, "install") || strcasestr(pi.qa[i].q, "set up") ||
			    strcasestr(pi.qa[i].q, "keep my") ||
			    strcasestr(pi.qa[i].q, "engineer") || strcasestr(pi.qa[i].q, "move"))
				best = (int)i;
		if (best >= 0 && clean_answer(t, pi.qa[best].a, pi.p, 2, pr2, sizeof(pr2))) {
			skip_yes(pr2, ev, sizeof(ev));
			say(t, 0, "%s", ev);
		} else
			for (unsigned i = 0; i < pi.n_features; i++)
				if (strcasestr(pi.features[i], "install") ||
				    strcasestr(pi.features[i], "app")) {
					char f[CATALOG_NAME_MAX];

					snprintf(f, sizeof(f), "%s", pi.features[i]);
					lower_first(t, f);
					say(t, 0, "It comes with %s.", f);
					break;
				}
		ask(t, "Would it help if a colleague walked you through it?");
		t->m->pending = PENDING_ESCALATE;
		snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "customer_request");
		break;
	}
	case OBJ_VALUE:
		say(t, 0, "Fair question.");
		if (!evidence(t, &pi, 1, ev, sizeof(ev)) && pi.best_for[0]) {
			char bf[CATALOG_TEXT_MAX]; /* pi.best_for's size */

			snprintf(bf, sizeof(bf), "%s", pi.best_for);
			chop_period(bf);
			lower_first(t, bf);
			snprintf(ev, sizeof(ev), "It's made for %s.", bf);
		}
		if (ev[0]) {
			if (have_br) {
				lower_first(t, ev);
				say(t, 0, "You said %s, and that's where it earns its keep: %s", br,
				    ev);
			} else {
				say(t, 0, "%s", ev);
			}
		}
		ask(t, pick_from(t, "valq",
				 L("Would that make the difference for you?",
				   "Does that change how it looks?")));
		break;
	}
	record(t, pi.id);
	talking_point(t, "Concern: %s",
		      kind == OBJ_PRICE	     ? "price"
		      : kind == OBJ_THINK    ? "timing, wants to think"
		      : kind == OBJ_CONTRACT ? "in a contract elsewhere"
		      : kind == OBJ_PARTNER  ? "someone else decides"
		      : kind == OBJ_TRUST    ? "trust, hidden costs"
		      : kind == OBJ_NEED     ? "not sure they need it"
		      : kind == OBJ_HASSLE   ? "hassle of switching"
					     : "value");
	talking_point(t, "Value story: %.180s", pi.value_story);
	action(t, "Objection on %s: acknowledge it; no pressure, one easy next step.", pi.name);
	suggest(t, "Book a time to come back", "What's the catch?", "Tell me more");
}
