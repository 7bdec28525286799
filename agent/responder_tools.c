/*
 * responder_tools — tool calls within the per-turn cap, and the product data
 * as get_product and search_products returned it; record_need with the
 * customer's words. Private to the responder (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tools ------------------------------------------------------------------------ */

unsigned calls_left(const struct turn *t)
{
	const struct tools_ctx *c = t->in->tools;
	unsigned max = c->max_calls_per_turn ? c->max_calls_per_turn : TOOLS_DEFAULT_MAX_CALLS;

	if (max > TOOLS_MAX_CALLS_LIMIT)
		max = TOOLS_MAX_CALLS_LIMIT;
	return c->calls_this_turn >= max ? 0 : max - c->calls_this_turn;
}

/*
 * Calls a tool with args (consumed) through tools_call, within what the
 * per-turn cap has left (keep: calls to leave for later, essential steps).
 * On success *ret holds the parsed result (cJSON_Delete it).
 */
int tool(struct turn *t, const char *name, cJSON *args, unsigned keep, cJSON **ret)
{
	char *a, *res = NULL;
	int r;

	*ret = NULL;
	if (!args) {
		t->err = -ENOMEM;
		return -ENOMEM;
	}
	if (calls_left(t) <= keep || !tools_allowed(tools_find(name), t->in->tools->state)) {
		cJSON_Delete(args);
		return calls_left(t) <= keep ? -EAGAIN : -EPERM;
	}
	a = cJSON_PrintUnformatted(args);
	cJSON_Delete(args);
	if (!a) {
		t->err = -ENOMEM;
		return -ENOMEM;
	}
	t->out->tool_calls++;
	r = tools_call(t->in->tools, name, a, &res);
	free(a);
	if (r == -ENOMEM) {
		t->err = -ENOMEM;
		free(res);
		return r;
	}
	if (r == 0) {
		*ret = cJSON_Parse(res);
		if (!*ret)
			r = -EIO;
	}
	free(res);
	return r;
}

const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

void jcopy(char *dst, size_t len, const cJSON *o, const char *key)
{
	const char *s = jstr(o, key);

	snprintf(dst, len, "%s", s ? s : "");
}

int jint(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

int contract_months(const char *s)
{
	return s && isdigit((unsigned char)*s) ? atoi(s) : 0;
}

/* The fields a search result or get_product gives. */
static void pinfo_common(struct turn *t, const cJSON *o, struct pinfo *pi)
{
	const char *pm = jstr(o, "pay_monthly");

	jcopy(pi->id, sizeof(pi->id), o, "id");
	jcopy(pi->name, sizeof(pi->name), o, "name");
	pi->p = catalog_product_find(t->cat, pi->id);
	pi->price_cents = money_parse(jstr(o, "price"));
	pi->monthly = jstr(o, "price") && strstr(jstr(o, "price"), "a month");
	if (pm) {
		pi->monthly_cents = money_parse(pm);
		{
			const char *f = strstr(pm, " for ");

			pi->pay_months = f ? atoi(f + 5) : 0;
		}
	}
	pi->contract_months = contract_months(jstr(o, "contract"));
	jcopy(pi->best_for, sizeof(pi->best_for), o, "best_for");
	pi->ok = pi->p && pi->name[0] && pi->price_cents >= 0;
}

static void pinfo_parse(struct turn *t, const cJSON *o, struct pinfo *pi)
{
	const cJSON *it, *arr;

	memset(pi, 0, sizeof(*pi));
	pinfo_common(t, o, pi);
	pi->full = true;
	pi->setup_cents = money_parse(jstr(o, "setup_fee"));
	if (pi->setup_cents < 0)
		pi->setup_cents = 0;
	jcopy(pi->value_story, sizeof(pi->value_story), o, "value_story");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "specs"))
	{
		if (pi->n_specs < SPECS_MAX && cJSON_IsString(it)) {
			snprintf(pi->specs[pi->n_specs].label, sizeof(pi->specs[0].label), "%s",
				 it->string);
			snprintf(pi->specs[pi->n_specs].value, sizeof(pi->specs[0].value), "%s",
				 it->valuestring);
			pi->n_specs++;
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "features"))
	{
		if (pi->n_features < CATALOG_LIST_MAX && cJSON_IsString(it))
			snprintf(pi->features[pi->n_features++], sizeof(pi->features[0]), "%s",
				 it->valuestring);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "common_questions"))
	{
		if (pi->n_qa < QA_MAX) {
			jcopy(pi->qa[pi->n_qa].q, sizeof(pi->qa[0].q), it, "q");
			jcopy(pi->qa[pi->n_qa].a, sizeof(pi->qa[0].a), it, "a");
			pi->n_qa++;
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "cross_sells"))
	{
		struct xsell *x = &pi->xs[pi->n_xs];

		if (pi->n_xs == XS_MAX)
			break;
		jcopy(x->id, sizeof(x->id), it, "id");
		jcopy(x->name, sizeof(x->name), it, "name");
		jcopy(x->why, sizeof(x->why), it, "why");
		x->cents = money_parse(jstr(it, "price"));
		x->monthly = jstr(it, "price") && strstr(jstr(it, "price"), "a month");
		if (x->id[0] && x->cents >= 0)
			pi->n_xs++;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "extra_charges"))
	{
		if (pi->n_charges < 8) {
			jcopy(pi->charge_what[pi->n_charges], sizeof(pi->charge_what[0]), it,
			      "what");
			pi->charge_cents[pi->n_charges] = money_parse(jstr(it, "amount"));
			if (pi->charge_cents[pi->n_charges] >= 0)
				pi->n_charges++;
		}
	}
	arr = cJSON_GetObjectItemCaseSensitive(o, "promotions");
	cJSON_ArrayForEach(it, arr)
	{
		struct promo *pr = &pi->promos[pi->n_promos];

		if (pi->n_promos == PROMOS_MAX)
			break;
		jcopy(pr->id, sizeof(pr->id), it, "id");
		jcopy(pr->name, sizeof(pr->name), it, "name");
		jcopy(pr->description, sizeof(pr->description), it, "description");
		jcopy(pr->ends, sizeof(pr->ends), it, "ends");
		pr->promo_cents = money_parse(jstr(it, "promo_price"));
		pr->monthly = jstr(it, "promo_price") && strstr(jstr(it, "promo_price"), "a month");
		pr->months = jint(it, "for_months");
		if (pr->id[0] && pr->promo_cents >= 0)
			pi->n_promos++;
	}
}

int get_product(struct turn *t, const char *id, unsigned keep, struct pinfo *pi)
{
	cJSON *args = cJSON_CreateObject(), *res;
	int r;

	memset(pi, 0, sizeof(*pi));
	if (args && !cJSON_AddStringToObject(args, "product_id", id)) {
		cJSON_Delete(args);
		args = NULL;
	}
	r = tool(t, "get_product", args, keep, &res);
	if (r == 0) {
		pinfo_parse(t, res, pi);
		if (!pi->ok)
			r = -EIO;
	}
	cJSON_Delete(res);
	return r;
}

/*
 * search_products with the customer's words (plus the words of the needs
 * heard), in category (or -1), up to budget. Fills up to max results.
 */
int search(struct turn *t, int category, int64_t budget, unsigned keep, struct pinfo *out,
	   unsigned max, bool words)
{
	char q[QUERY_MAX + 1], raw[QUERY_MAX + 1];
	size_t off;

	/* the need words first (they carry the catalog's own keywords), then theirs */
	q[0] = '\0';
	off = 0;
	for (int i = 0; i < NEED_COUNT; i++) {
		if (!((t->tags | t->m->needs) & NB(i)) || !needs[i].query[0])
			continue;
		if (off + strlen(needs[i].query) + 2 >= 120)
			break;
		off += (size_t)snprintf(q + off, sizeof(q) - off, "%s%s", off ? " " : "",
					needs[i].query);
	}
	{
		/* their words, without the asking ("do you sell") or a competitor's names */
		static const char *const filler[] = {"do you sell",
						     "do you have",
						     "do you do",
						     "what do you have",
						     "what do you offer",
						     "what have you got",
						     "have you got",
						     "looking for",
						     "looking at",
						     "interested in",
						     "tell me about",
						     "tell me more",
						     "i need a",
						     "i need an",
						     "i want a",
						     "i want an",
						     "id like a",
						     "can i get",
						     "can i have",
						     "please",
						     NULL};
		char words_only[NORM_MAX];
		size_t w = 0;

		snprintf(words_only, sizeof(words_only), "%s", t->masked);
		for (const char *const *f = filler; *f; f++)
			blank(words_only, *f);
		for (size_t i = 0; words_only[i]; i++) {
			char c = words_only[i] == '#' || words_only[i] == ',' ? ' ' : words_only[i];

			if (c == ' ' && (w == 0 || words_only[w - 1] == ' '))
				continue;
			words_only[w++] = c;
		}
		while (w && words_only[w - 1] == ' ')
			w--;
		words_only[w] = '\0';
		copy_words(raw, sizeof(raw), words_only, QUERY_MAX - off - 1);
	}
	if (raw[0] && off + 1 + strlen(raw) <= QUERY_MAX)
		snprintf(q + off, sizeof(q) - off, "%s%s", off ? " " : "", raw);
	if (!words)
		q[0] = '\0'; /* everything that passes the filters, cheapest first */
	return search_run(t, q, category, budget, keep, out, max);
}

/* search_products with query q ("" none); fills up to max results, returns how many. */
int search_run(struct turn *t, const char *q, int category, int64_t budget, unsigned keep,
	       struct pinfo *out, unsigned max)
{
	cJSON *args = cJSON_CreateObject(), *res, *it;
	unsigned n = 0;
	int r;

	if (args) {
		if (q[0])
			cJSON_AddStringToObject(args, "query", q);
		if (category >= 0)
			cJSON_AddStringToObject(
			    args, "category",
			    catalog_category_name((enum catalog_category)category));
		if (budget > 0)
			cJSON_AddNumberToObject(args, "max_price", (double)budget / 100.0);
		cJSON_AddNumberToObject(args, "max_results", 5);
	}
	r = tool(t, "search_products", args, keep, &res);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "results"))
	{
		if (n == max)
			break;
		memset(&out[n], 0, sizeof(out[n]));
		pinfo_common(t, it, &out[n]);
		jcopy(out[n].promotion_name, sizeof(out[n].promotion_name), it, "promotion");
		if (out[n].ok)
			n++;
	}
	cJSON_Delete(res);
	return (int)n;
}

/* record_need with the customer's words, when this message says something new. */
void record(struct turn *t, const char *product_id)
{
	unsigned fresh = t->tags & ~t->m->needs_recorded;
	bool money = t->spend > 0 || t->budget > 0;
	cJSON *args, *tags, *res = NULL;
	char need[NEED_TEXT_MAX * 4 + 64], words[NEED_TEXT_MAX * 4 + 1];

	if (!fresh && !money && !(t->comp && !t->m->competitor[0]))
		return;
	copy_words(words, sizeof(words), t->raw, 3 * 250);
	utf8_cut(words, 250);
	if (utf8_len(words) < 3)
		return;
	snprintf(need, sizeof(need), "In their words: %.1000s", words);
	args = cJSON_CreateObject();
	if (!args)
		goto oom;
	cJSON_AddStringToObject(args, "need", need);
	tags = cJSON_AddArrayToObject(args, "tags");
	for (int i = 0, n = 0; i < NEED_COUNT && n < 6 && tags; i++)
		if (t->tags & NB(i) && needs[i].tag[0]) {
			cJSON_AddItemToArray(tags, cJSON_CreateString(needs[i].tag));
			n++;
		}
	if (product_id && *product_id && catalog_product_find(t->cat, product_id)) {
		cJSON *ids = cJSON_AddArrayToObject(args, "product_ids");

		if (ids)
			cJSON_AddItemToArray(ids, cJSON_CreateString(product_id));
	}
	if (tool(t, "record_need", args, 0, &res) == 0)
		t->m->needs_recorded |= t->tags;
	cJSON_Delete(res);
	return;
oom:
	t->err = -ENOMEM;
}
