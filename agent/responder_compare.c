/*
 * responder_compare — comparison with what they have or pay now: the
 * compare tool, the math said plainly, the question that follows; and two of
 * our products side by side. Private to the responder
 * (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- comparison ------------------------------------------------------------------- */

/* "screens at once: 4 screens against 2 screens" -> "4 screens at once instead of 2 screens" */
static bool extra_phrase(const char *line, char *out, size_t len, const struct turn *t)
{
	static const struct {
		const char *label, *fmt_both, *fmt_none;
	} f[] = {
	    {"screens at once", "%s at once instead of %s", "%s at once"},
	    {"download speed", "%s download instead of %s", "%s download"},
	    {"upload speed", "%s upload instead of %s", "%s upload"},
	    {"data", "%s of data instead of %s", "%s of data"},
	    {"hotspot data", "%s of hotspot data instead of %s", "%s of hotspot data"},
	    {"channels", "%s instead of %s", "%s"},
	    {"cloud recording", "%s of cloud recording instead of %s", "%s of cloud recording"},
	    {"roaming countries", "roaming in %s instead of %s", "roaming in %s"},
	    {"video history", "%s of video history instead of %s", "%s of video history"},
	    {"cameras", "%s instead of %s", "%s"},
	    {"sensors", "%s instead of %s", "%s"},
	    {"mesh Wi-Fi points", "%s of mesh Wi-Fi instead of %s", "mesh Wi-Fi (%s)"},
	};
	const char *colon = strstr(line, ": ");
	const char *against;
	char label[64], mine[64], theirs[64];

	if (strncmp(line, "no contract", 11) == 0 || strstr(line, "-month contract"))
		return false; /* the contracts are said with the prices */
	if (!colon) {
		snprintf(out, len, "%s", line);
		lower_first(t, out);
		return true;
	}
	against = strstr(colon, " against ");
	if (!against)
		return false;
	snprintf(label, sizeof(label), "%.*s", (int)(colon - line), line);
	snprintf(mine, sizeof(mine), "%.*s", (int)(against - colon - 2), colon + 2);
	snprintf(theirs, sizeof(theirs), "%s", against + 9);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strcmp(label, f[i].label) == 0) {
			if (strcmp(theirs, "none") == 0)
				snprintf(out, len, f[i].fmt_none, mine);
			else
				snprintf(out, len, f[i].fmt_both, mine, theirs);
			return true;
		}
	if (strcmp(theirs, "none") == 0)
		snprintf(out, len, "%.60s %.60s", mine, label);
	else
		snprintf(out, len, "%.40s %.40s instead of %.40s", mine, label, theirs);
	return true;
}

/* How much a compare extra matters to this customer. */
static int extra_score(const struct turn *t, const char *line)
{
	unsigned all = t->tags | t->m->needs;
	int s = strchr(line, ':') ? 2 : 1;

	if (strstr(line, "screens") &&
	    all & (NB(NEED_KIDS) | NB(NEED_FAMILY) | NB(NEED_TEENS) | NB(NEED_STREAMING)))
		s += 4;
	if (strstr(line, "upload") &&
	    all & (NB(NEED_WFH) | NB(NEED_GAMING) | NB(NEED_SMALL_BUSINESS)))
		s += 4;
	if (strstr(line, "download") && all & (NB(NEED_SPEED) | NB(NEED_GAMING)))
		s += 3;
	if (strstr(line, "roaming") && all & NB(NEED_TRAVEL))
		s += 4;
	if (strstr(line, "mesh") && all & NB(NEED_WIFI_RANGE))
		s += 4;
	if (strstr(line, "Free installation") || strstr(line, "setup"))
		s += 1;
	return s;
}

static void cmp_parse(struct turn *t, const cJSON *r, struct cmpinfo *ci)
{
	const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
	const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(r, "theirs");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "monthly");
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(r, "yearly");
	const cJSON *fy = cJSON_GetObjectItemCaseSensitive(r, "first_year");
	const cJSON *it, *ex;
	const char *lines[EXTRAS_MAX * 3];
	int scores[EXTRAS_MAX * 3];
	unsigned nl = 0;

	memset(ci, 0, sizeof(*ci));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ours, "products"))
	{
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "promotion");
		size_t l = strlen(ci->ours);

		snprintf(ci->ours + l, sizeof(ci->ours) - l, "%s%s", l ? " plus " : "",
			 jstr(it, "name") ? jstr(it, "name") : "");
		if (pr && !ci->promo_name[0]) {
			jcopy(ci->promo_name, sizeof(ci->promo_name), pr, "name");
			ci->promo_cents = money_parse(jstr(pr, "price"));
			ci->promo_months = jint(pr, "months");
		}
	}
	jcopy(ci->our_contract, sizeof(ci->our_contract), ours, "contract");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(theirs, "offers"))
	{
		size_t l = strlen(ci->theirs);
		int64_t setup = money_parse(jstr(it, "setup_fee"));

		snprintf(ci->theirs + l, sizeof(ci->theirs) - l, "%s%s", l ? " and " : "",
			 jstr(it, "name") ? jstr(it, "name") : "");
		if (setup > 0)
			ci->theirs_setup += setup;
		if (!ci->first_offer[0])
			jcopy(ci->first_offer, sizeof(ci->first_offer), it, "name");
		if (jstr(it, "intro") && !ci->intro[0]) {
			const char *f;

			jcopy(ci->intro, sizeof(ci->intro), it, "intro");
			ci->intro_cents = money_parse(ci->intro);
			f = strstr(ci->intro, "first ");
			ci->intro_months = f ? atoi(f + 6) : 0;
		}
	}
	jcopy(ci->their_contract, sizeof(ci->their_contract), theirs, "contract");
	ci->spend = money_parse(jstr(theirs, "current_spend"));
	ci->ours_m = money_parse(jstr(m, "ours"));
	ci->theirs_m = money_parse(jstr(m, "theirs"));
	ci->diff_m = money_parse(jstr(m, "difference"));
	ci->diff_y = money_parse(jstr(y, "difference"));
	ci->diff_fy = money_parse(jstr(fy, "difference"));
	ci->cheaper_m = jstr(m, "cheaper") ? (strcmp(jstr(m, "cheaper"), "ours") == 0	  ? 1
					      : strcmp(jstr(m, "cheaper"), "theirs") == 0 ? -1
											  : 0)
					   : 0;
	ci->cheaper_fy = jstr(fy, "cheaper") ? (strcmp(jstr(fy, "cheaper"), "ours") == 0     ? 1
						: strcmp(jstr(fy, "cheaper"), "theirs") == 0 ? -1
											     : 0)
					     : 0;
	jcopy(ci->angle, sizeof(ci->angle), r, "angle");
	jcopy(ci->summary, sizeof(ci->summary), r, "summary");
	ex = cJSON_GetObjectItemCaseSensitive(r, "we_include_more");
	if (!ex)
		ex = cJSON_GetObjectItemCaseSensitive(r, "what_you_get");
	cJSON_ArrayForEach(it, ex)
	{
		if (nl < sizeof(lines) / sizeof(lines[0]) && cJSON_IsString(it)) {
			lines[nl] = it->valuestring;
			scores[nl] = extra_score(t, it->valuestring);
			nl++;
		}
	}
	/* best first, stable */
	for (unsigned i = 1; i < nl; i++)
		for (unsigned j = i; j > 0 && scores[j] > scores[j - 1]; j--) {
			const char *l = lines[j];
			int s = scores[j];

			lines[j] = lines[j - 1];
			scores[j] = scores[j - 1];
			lines[j - 1] = l;
			scores[j - 1] = s;
		}
	for (unsigned i = 0; i < nl && ci->n_extras < EXTRAS_MAX; i++)
		if (extra_phrase(lines[i], ci->extras[ci->n_extras], sizeof(ci->extras[0]), t))
			ci->n_extras++;
	ci->ok = ci->ours[0] && ci->ours_m >= 0 && ci->theirs_m >= 0 && ci->diff_m >= 0;
}

static bool competitor_heard(const struct turn *t, const struct catalog_competitor *k)
{
	return k == t->comp || id_in(t->m->competitors_heard, t->m->n_competitors_heard, k->id);
}

/*
 * compare p against k (or the offer they named, or the offers p's catalog
 * comparison sets against k when every one of them is a provider the
 * customer mentioned), and/or what they pay now.
 */
int compare(struct turn *t, const struct catalog_product *p, const struct catalog_competitor *k,
	    const struct catalog_offer *const *offers, unsigned n_offers, int64_t spend,
	    unsigned keep, struct cmpinfo *ci)
{
	cJSON *args = cJSON_CreateObject(), *ids, *res;
	int r;

	memset(ci, 0, sizeof(*ci));
	if (!args) {
		t->err = -ENOMEM;
		return -ENOMEM;
	}
	ids = cJSON_AddArrayToObject(args, "product_ids");
	if (ids)
		cJSON_AddItemToArray(ids, cJSON_CreateString(p->id));
	if (n_offers) {
		cJSON *o = cJSON_AddArrayToObject(args, "offer_ids");

		for (unsigned i = 0; o && i < n_offers; i++)
			cJSON_AddItemToArray(o, cJSON_CreateString(offers[i]->id));
	} else if (k) {
		const struct catalog_comparison *use = NULL;

		for (size_t i = 0; i < p->n_comparisons && !use; i++) {
			const struct catalog_comparison *c = &p->comparisons[i];
			bool has_k = false, all_heard = true;

			for (size_t j = 0; j < c->n_offers; j++) {
				has_k |= c->offers[j]->competitor == k;
				all_heard &= competitor_heard(t, c->offers[j]->competitor);
			}
			if (has_k && all_heard && c->n_offers > 1)
				use = c;
		}
		if (use) {
			cJSON *o = cJSON_AddArrayToObject(args, "offer_ids");

			for (size_t j = 0; o && j < use->n_offers; j++)
				cJSON_AddItemToArray(o, cJSON_CreateString(use->offers[j]->id));
		} else {
			cJSON_AddStringToObject(args, "competitor_id", k->id);
		}
	}
	if (spend > 0)
		cJSON_AddNumberToObject(args, "current_monthly_spend", (double)spend / 100.0);
	r = tool(t, "compare", args, keep, &res);
	if (r == 0) {
		cmp_parse(t, res, ci);
		if (!ci->ok)
			r = -EIO;
	}
	cJSON_Delete(res);
	return r;
}

/* Does p have something to compare with k? */
static bool comparable(const struct catalog_product *p, const struct catalog_competitor *k)
{
	if (!p || !k)
		return p != NULL;
	for (size_t i = 0; i < p->n_comparisons; i++)
		for (size_t j = 0; j < p->comparisons[i].n_offers; j++)
			if (p->comparisons[i].offers[j]->competitor == k)
				return true;
	for (size_t i = 0; i < k->n_offers; i++)
		if (k->offers[i].category == p->category)
			return true;
	return false;
}

/* The one category a competitor sells in, or -1 when it sells several. */
static int competitor_category(const struct catalog_competitor *k)
{
	int c = -1;

	for (size_t i = 0; k && i < k->n_offers; i++) {
		if (c >= 0 && (int)k->offers[i].category != c)
			return -1;
		c = (int)k->offers[i].category;
	}
	return c;
}

/* "on a 24-month contract" / "with no contract" / "" */
static void contract_clause(const char *contract, char *out, size_t len)
{
	int months = contract_months(contract);

	if (months > 0)
		snprintf(out, len, " on a %d-month contract", months);
	else if (contract && strcmp(contract, "no contract") == 0)
		snprintf(out, len, " with no contract");
	else
		out[0] = '\0';
}

/* Does p list a feature naming what (e.g. "StreamMax Standard included" for StreamMax)? */
static bool includes(const struct catalog_product *p, const char *what)
{
	for (size_t i = 0; p && what && i < p->n_features; i++)
		if (strcasestr(p->features[i], what) && strcasestr(p->features[i], "included"))
			return true;
	return false;
}

/*
 * Says the comparison math: theirs, ours, the difference per month and per
 * year (and the first year when fees, intro prices or our offer change it),
 * and what else they get. before: the product in focus before this one
 * (for "less than X on its own"), or NULL.
 */
static void say_comparison(struct turn *t, const struct cmpinfo *ci,
			   const struct catalog_competitor *k, const struct catalog_product *before,
			   int64_t before_cents)
{
	char a[32], b[32], c[32], d[32], setup[64] = "", tc[48], oc[48], intro[160] = "";
	char why[200] = "";

	money(t, ci->theirs_m, a, sizeof(a));
	money(t, ci->ours_m, b, sizeof(b));
	contract_clause(ci->their_contract, tc, sizeof(tc));
	contract_clause(ci->our_contract, oc, sizeof(oc));
	char ours_b[sizeof(ci->ours) + 8];
	const char *ours =
	    strstr(ci->ours, " plus ") ? ci->ours : the(ci->ours, ours_b, sizeof(ours_b));

	if (ci->spend > 0 && k) {
		say(t, 0, "That's %s a month with %s; %s is %s a month%s.", a, k->name, ours, b,
		    oc);
	} else if (ci->spend > 0) {
		say(t, 0, "You pay %s a month now; %s is %s a month%s.", a, ours, b, oc);
	} else {
		if (ci->theirs_setup > 0) {
			money(t, ci->theirs_setup, c, sizeof(c));
			snprintf(setup, sizeof(setup), " plus a %s setup fee", c);
		}
		if (ci->intro_cents > 0 && ci->intro_months > 0) {
			money(t, ci->intro_cents, c, sizeof(c));
			snprintf(intro, sizeof(intro), " (%s a month for the first %d months)", c,
				 ci->intro_months);
		}
		say(t, 0, "%s %s %s a month%s%s%s; %s is %s a month%s.", ci->theirs,
		    strstr(ci->theirs, " and ") ? "come to" : "is", a, intro, setup, tc, ours, b,
		    oc);
	}
	money(t, ci->diff_m, a, sizeof(a));
	money(t, ci->diff_y, b, sizeof(b));
	money(t, ci->diff_fy, d, sizeof(d));
	/* what changes the first year: fees and intro prices count only against list prices */
	if (ci->spend <= 0 && ci->theirs_setup > 0)
		snprintf(why, sizeof(why), "their setup fee");
	if (ci->spend <= 0 && ci->intro_cents > 0)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%stheir intro price",
			 why[0] ? " and " : "");
	if (ci->promo_name[0])
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%sour %s offer",
			 why[0] ? " and " : "", ci->promo_name);
	if (ci->cheaper_m > 0) {
		if (pick(t, "math", 2))
			say(t, 0, "That's %s a month less, or %s a year.", a, b);
		else
			say(t, 0, "That saves you %s a month, %s over a year.", a, b);
		if (ci->cheaper_fy > 0 && ci->diff_fy != ci->diff_y && ci->diff_fy > 0 && why[0])
			say(t, 2, "Counting %s, the first year comes to %s less with us.", why, d);
		else if (ci->cheaper_fy < 0)
			say(t, 0,
			    "Their intro price does make the first year %s cheaper with them; "
			    "after that, you'd save %s a month with us.",
			    d, a);
	} else if (ci->cheaper_m < 0) {
		if (ci->n_extras) {
			/* "on top of what you pay now" only when they pay it now; their
			 * name stays out of a sentence with our figures (the figure check
			 * would judge them against their offer) */
			const char *than =
			    ci->spend > 0 || any_phrase(t->norm, L("i pay", "we pay", "paying",
								   "currently", "i have", "we have",
								   "im with", "were with",
								   "already", "i use", "we use"))
				? "on top of what you pay now"
				: "more";

			if (ci->n_extras >= 2)
				say(t, 0, "So %s and %s come to %s a month %s.", ci->extras[0],
				    ci->extras[1], a, than);
			else
				say(t, 0, "So %s comes to %s a month %s.", ci->extras[0], a, than);
			if (before && before_cents > ci->diff_m)
				say(t, 0, "That's less than %s on its own.", before->name);
			return;
		}
		say(t, 0,
		    "So %s is %s a month cheaper, %s a year; the question is what you get for the "
		    "difference.",
		    k ? k->name : "theirs", a, b);
	} else {
		say(t, 0, "It costs the same each month, so the difference is in what's included.");
		/* the same list price, but our offer makes the first year cheaper */
		if (ci->cheaper_fy > 0 && ci->diff_fy > 0 && why[0])
			say(t, 0, "Counting %s, the first year comes to %s less with us.", why, d);
	}
	if (t->answer[0])
		return; /* their question took the room the extras would have had */
	if (ci->n_extras >= 2)
		say(t, ci->cheaper_m < 0 ? 0 : 1, "With us you also get %s, and %s.", ci->extras[0],
		    ci->extras[1]);
	else if (ci->n_extras == 1)
		say(t, ci->cheaper_m < 0 ? 0 : 1, "With us you also get %s.", ci->extras[0]);
}

/* Record what the comparison found, for staff and the next visit. */
static void record_comparison(struct turn *t, const struct cmpinfo *ci, const char *pid)
{
	char need[NEED_TEXT_MAX + 1];
	cJSON *args = cJSON_CreateObject(), *tags, *ids, *res = NULL;

	snprintf(need, sizeof(need), "Compared %.100s with %.100s%s", ci->ours,
		 ci->theirs[0] ? ci->theirs : "what they pay now",
		 ci->cheaper_m > 0 ? "; ours is cheaper each month" : "");
	if (!args) {
		t->err = -ENOMEM;
		return;
	}
	cJSON_AddStringToObject(args, "need", need);
	tags = cJSON_AddArrayToObject(args, "tags");
	if (tags)
		cJSON_AddItemToArray(tags, cJSON_CreateString("switching"));
	ids = cJSON_AddArrayToObject(args, "product_ids");
	if (ids)
		cJSON_AddItemToArray(ids, cJSON_CreateString(pid));
	if (tool(t, "record_need", args, 0, &res) == 0)
		t->m->needs_recorded |= t->tags;
	cJSON_Delete(res);
}

void do_compare(struct turn *t)
{
	const struct catalog_competitor *k = t->comp;
	const struct catalog_offer *offer = t->comp_offer;
	int64_t spend = t->spend > 0 ? t->spend : t->m->spend_cents;
	const struct catalog_product *p = t->named;
	struct cmpinfo ci;
	int cat, r;

	if (!k && t->m->competitor[0])
		k = catalog_competitor_find(t->cat, t->m->competitor);
	if (!p && t->m->focus[0] && k) {
		/* they already pay k for what one of the focus product's cross-sells
		 * includes (StreamMax in the Entertainment Bundle): compare that */
		const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);

		for (size_t i = 0; f && !includes(f, k->name) && i < f->n_cross_sells && !p; i++)
			if (includes(f->cross_sells[i].product, k->name) &&
			    f->cross_sells[i].product->billing == CATALOG_BILLING_MONTHLY)
				p = f->cross_sells[i].product;
	}
	if (!p && t->m->focus[0]) {
		const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);

		if (f && f->billing == CATALOG_BILLING_MONTHLY &&
		    (t->category < 0 || (int)f->category == t->category) &&
		    (spend > 0 || comparable(f, k)))
			p = f;
	}
	if (!p && offer) {
		/* our product the catalog sets against that very offer */
		for (size_t i = 0; i < catalog_product_count(t->cat) && !p; i++) {
			const struct catalog_product *q = catalog_product_at(t->cat, i);

			for (size_t c = 0; c < q->n_comparisons && !p; c++)
				for (size_t j = 0; j < q->comparisons[c].n_offers; j++)
					if (q->comparisons[c].offers[j] == offer &&
					    q->comparisons[c].n_offers == 1)
						p = q;
		}
	}
	if (!p) {
		struct pinfo r5[5];
		int n, b = -1;

		cat = t->category >= 0		    ? t->category
		      : offer			    ? (int)offer->category
		      : competitor_category(k) >= 0 ? competitor_category(k)
						    : t->m->category;
		if (cat < 0) {
			char q[200];

			/* tied in elsewhere: timing, not a no */
			if (k && any_cue(t->norm, objection_cues[OBJ_CONTRACT]))
				say(t, 0,
				    "Being tied in is worth planning around: we can line the "
				    "switch up with the day your contract ends.");
			else
				say(t, 0, "Happy to put the numbers side by side.");
			if (k)
				snprintf(
				    q, sizeof(q),
				    pick(t, "whichsvc", 2)
					? "Is it your phone, the internet or TV you have with %s "
					  "now?"
					: "Which service is it with %s: phone, internet or TV?",
				    k->name);
			ask(t, k ? q
				 : "Which service would you like me to compare: phone, internet or "
				   "TV?");
			suggest(t, "My phone plan", "Home internet", "TV");
			action(t,
			       "Comparison shopper%s%s: find out which service, then run compare.",
			       k ? " with " : "", k ? k->name : "");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			return;
		}
		n = search(t, cat, -1, 1, r5, 5, true);
		{
			/* the product whose catalog comparison covers most of what they pay for */
			unsigned best_cover = 0;

			for (int i = 0; i < n && k; i++) {
				const struct catalog_product *q = r5[i].p;

				if (!q || q->billing != CATALOG_BILLING_MONTHLY ||
				    q->category == CATALOG_CATEGORY_ADDONS)
					continue;
				for (size_t c = 0; c < q->n_comparisons; c++) {
					unsigned cover = 0;
					bool has_k = false;

					for (size_t j = 0; j < q->comparisons[c].n_offers; j++) {
						const struct catalog_competitor *o =
						    q->comparisons[c].offers[j]->competitor;

						has_k |= o == k;
						cover += competitor_heard(t, o);
					}
					if (has_k && cover > best_cover) {
						best_cover = cover;
						b = i;
					}
				}
			}
		}
		if (b < 0 && n > 0)
			b = best_fit(t, r5, n);
		if (b >= 0 && r5[b].p && r5[b].p->billing == CATALOG_BILLING_MONTHLY)
			p = r5[b].p;
	}
	if (!p || (!k && spend <= 0)) {
		say(t, 0, "Happy to do the math for you.");
		ask(t, spend > 0 ? "Which service is that for: phone, internet or TV?"
		       : k	 ? "What do you pay them each month for it now, roughly?"
			   : "Who are you with now, and what do you pay each month, roughly?");
		if (spend > 0)
			t->m->spend_cents = spend;
		action(t, "Get their current provider or monthly spend, then run compare.");
		suggest(t, "", "", "");
		t->out->suggested_state = AGENT_STATE_DISCOVERY;
		return;
	}
	if (signal_on(t, SIGNAL_OBJECTION))
		say(t, 3, "%s",
		    pick_from(t, "cmpack", L("Fair question.", "Good that you're checking.")));
	/* "I'm switching from Crestel, can I keep my number?": the answer, then the math */
	if (t->question && calls_left(t) >= 3 &&
	    other_answer(t, (int)p->category, NULL, 1, t->answer, sizeof(t->answer)))
		say(t, 0, "%s", t->answer);
	{
		/* everything they named of theirs ("StreamMax and Crestel TV Plus"), added up */
		const struct catalog_offer *const *ov = t->n_offers > 1 ? t->offers : &offer;
		unsigned no = t->n_offers > 1 ? t->n_offers : offer ? 1 : 0;

		r = compare(t, p, no ? NULL : k, ov, no, spend, 0, &ci);
	}
	if (r < 0 && k && spend <= 0 && k->n_offers == 1 && t->n_offers == 0 &&
	    p->billing == CATALOG_BILLING_MONTHLY) {
		/* "is TV Sports Max cheaper than ArenaPass?": they sell one thing, in
		 * another category; set it against that, the question asked */
		const struct catalog_offer *only = &k->offers[0];

		r = compare(t, p, NULL, &only, 1, spend, 0, &ci);
	}
	if (r < 0 && k && spend <= 0) {
		/* nothing of theirs to set against it (or not allowed yet): ask for the anchor */
		say(t, 0, "I'd rather compare like with like than guess at %s's prices.", k->name);
		ask(t, "What do you pay them each month now, roughly?");
		action(t, "Ask what they pay %s now, then run compare with that figure.", k->name);
		t->out->suggested_state = AGENT_STATE_DISCOVERY;
		return;
	}
	if (r < 0) {
		say(t, 0, "I can't run the numbers just now.");
		ask(t, "Shall I get a colleague to go through them with you?");
		t->m->pending = PENDING_ESCALATE;
		snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "custom_quote");
		action(t, "The comparison tool failed: run the numbers for them by hand.");
		return;
	}
	t->comparing = true;
	{
		const struct catalog_product *before = catalog_product_find(t->cat, t->m->focus);

		if (before == p)
			before = NULL;
		if (before && k && includes(p, k->name) && !includes(before, k->name)) {
			char pn[CATALOG_NAME_MAX + 8];

			say(t, 0, "%s doesn't include %s, but %s does.", before->name, k->name,
			    the(p->name, pn, sizeof(pn)));
		} else if (before && k && before->category != p->category && !t->named &&
			   competitor_category(k) == (int)p->category) {
			say(t, 0, "%s only does %s, so here's that side by side.", k->name,
			    category_talk[p->category].plural);
		}
		set_focus(t, p->id, true);
		say_comparison(t, &ci, k,
			       before && before->billing == CATALOG_BILLING_MONTHLY ? before : NULL,
			       before ? before->price_cents : 0);
	}
	if (t->style & STYLE_SWITCH && k) {
		char q[160];

		if (t->m->contract_end[0])
			snprintf(
			    q, sizeof(q),
			    "Shall we plan the switch for %s, when your contract with %s ends?",
			    t->m->contract_end, k->name);
		else
			snprintf(q, sizeof(q),
				 "When does your contract with %s end, so we can time the switch?",
				 k->name);
		ask(t, q);
	} else if (t->style & STYLE_HARD) {
		close_question(t, p);
	} else if (t->style & STYLE_SOFT) {
		say(t, 2,
		    "I've noted these numbers, so you can talk it over at home and pick up here "
		    "next time.");
		ask(t,
		    (t->tags | t->m->needs) & (NB(NEED_FAMILY) | NB(NEED_KIDS) | NB(NEED_TEENS))
			? "Which matters more to the family, the monthly price or what's included?"
			: "Which matters more to you, the monthly price or what's included?");
	} else {
		ask(t,
		    pick_from(
			t, "cmpq",
			L("What matters most to you: the monthly price, what's included, or being "
			  "free to leave?",
			  "Which matters more to you, the monthly price or what comes with it?")));
	}
	if (k)
		snprintf(t->m->competitor, sizeof(t->m->competitor), "%s", k->id);
	if (spend > 0)
		t->m->spend_cents = spend;
	record_comparison(t, &ci, p->id);
	talking_point(t, "Math: %.190s", ci.summary);
	if (ci.angle[0])
		talking_point(t, "Angle: %.190s", ci.angle);
	if (k && k->how_we_win)
		talking_point(t, "Against %s: %.170s", k->name, k->how_we_win);
	action(
	    t,
	    "Walk them through %s against %s on the kiosk card; answer what matters most to them.",
	    ci.ours, ci.theirs[0] ? ci.theirs : "what they pay now");
	suggest(t, "Sounds good", "I need to think about it", "What's the catch?");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
}

/* ---- two of ours side by side ---------------------------------------------------- */

/* "What's the difference between Fibre 300 and Fibre 500?": both, side by side, briefly. */
bool do_contrast(struct turn *t)
{
	struct pinfo a, b;
	char pa[32], pb[32], sa[96], sb[96], extra[CATALOG_NAME_MAX] = "";
	const char *const *ks;
	bool spec = false;

	if (calls_left(t) < 2 || get_product(t, t->named->id, 1, &a) < 0 ||
	    get_product(t, t->named2->id, 0, &b) < 0)
		return false;
	set_focus(t, b.id, false);
	set_focus(t, a.id, true);
	money(t, a.price_cents, pa, sizeof(pa));
	money(t, b.price_cents, pb, sizeof(pb));
	say(t, 0, "%s is %s%s and %s is %s%s.", a.name, pa, a.monthly ? " a month" : "", b.name, pb,
	    b.monthly ? " a month" : "");
	/* the difference that matters: the key spec, then a feature only one has */
	ks = key_specs(&a);
	for (int i = 0; ks[i] && !spec; i++)
		if (spec_phrase(&a, ks[i], sa, sizeof(sa)) &&
		    spec_phrase(&b, ks[i], sb, sizeof(sb)) && strcmp(sa, sb) != 0) {
			say(t, 0, "%s gives you %s, %s %s.", a.name, sa, b.name, sb);
			spec = true;
		}
	{
		const struct pinfo *more = b.price_cents >= a.price_cents ? &b : &a;
		const struct pinfo *less = more == &b ? &a : &b;

		for (unsigned i = 0; i < more->n_features && !extra[0]; i++) {
			bool both = false;

			for (unsigned j = 0; j < less->n_features; j++)
				both |= strcasecmp(more->features[i], less->features[j]) == 0;
			if (!both)
				snprintf(extra, sizeof(extra), "%s", more->features[i]);
		}
		if (extra[0]) {
			char f[CATALOG_NAME_MAX + 4];

			feature_phrase(t, extra, f, sizeof(f));
			say(t, 1, "%s also comes with %s.", more->name, f);
		}
	}
	if (!spec && !extra[0])
		return false;
	ask(t, pick_from(t, "contrastq",
			 L("Which sounds closer to what you need?",
			   "Which matters more to you, the price or the extra?")));
	action(t, "Comparing %s and %s: help them pick on what matters to them.", a.name, b.name);
	suggest(t, a.name, b.name, "");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
	return true;
}
