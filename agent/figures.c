#include "agent/figures.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASK '\x01'  /* replaces catalog names before figures are extracted */
#define SCOPE_MAX 16 /* entries named in one sentence that are tracked */

/* ---- words -------------------------------------------------------------- */

struct unit_word {
	const char *w;
	enum catalog_unit unit;
	int scale;
	bool attached_only; /* only right after the digits: "6.1in" */
};

static const struct unit_word unit_words[] = {
    {"gb/s", CATALOG_UNIT_MBPS, 1000, false},
    {"mb/s", CATALOG_UNIT_MBPS, 1, false},
    {"gbps", CATALOG_UNIT_MBPS, 1000, false},
    {"mbps", CATALOG_UNIT_MBPS, 1, false},
    {"gigabits", CATALOG_UNIT_MBPS, 1000, false},
    {"gigabit", CATALOG_UNIT_MBPS, 1000, false},
    {"megabits", CATALOG_UNIT_MBPS, 1, false},
    {"megs", CATALOG_UNIT_MBPS, 1, false},
    {"meg", CATALOG_UNIT_MBPS, 1, false},
    {"gigabytes", CATALOG_UNIT_GB, 1, false},
    {"gigabyte", CATALOG_UNIT_GB, 1, false},
    {"gigs", CATALOG_UNIT_GB, 1, false},
    {"gig", CATALOG_UNIT_GB, 1, false},
    {"gb", CATALOG_UNIT_GB, 1, false},
    {"terabytes", CATALOG_UNIT_GB, 1000, false},
    {"terabyte", CATALOG_UNIT_GB, 1000, false},
    {"tb", CATALOG_UNIT_GB, 1000, false},
    {"channels", CATALOG_UNIT_CHANNELS, 1, false},
    {"channel", CATALOG_UNIT_CHANNELS, 1, false},
    {"screens", CATALOG_UNIT_SCREENS, 1, false},
    {"screen", CATALOG_UNIT_SCREENS, 1, false},
    {"streams", CATALOG_UNIT_SCREENS, 1, false},
    {"stream", CATALOG_UNIT_SCREENS, 1, false},
    {"sim cards", CATALOG_UNIT_LINES, 1, false},
    {"sim card", CATALOG_UNIT_LINES, 1, false},
    {"sims", CATALOG_UNIT_LINES, 1, false},
    {"sim", CATALOG_UNIT_LINES, 1, false},
    {"lines", CATALOG_UNIT_LINES, 1, false},
    {"line", CATALOG_UNIT_LINES, 1, false},
    {"devices", CATALOG_UNIT_DEVICES, 1, false},
    {"device", CATALOG_UNIT_DEVICES, 1, false},
    {"mesh wi-fi points", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"mesh wi-fi point", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"mesh points", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"mesh point", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"wi-fi points", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"wi-fi point", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"extenders", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"extender", CATALOG_UNIT_MESH_POINTS, 1, false},
    {"cameras", CATALOG_UNIT_CAMERAS, 1, false},
    {"camera", CATALOG_UNIT_CAMERAS, 1, false},
    {"sensors", CATALOG_UNIT_SENSORS, 1, false},
    {"sensor", CATALOG_UNIT_SENSORS, 1, false},
    {"months", CATALOG_UNIT_MONTHS, 1, false},
    {"month", CATALOG_UNIT_MONTHS, 1, false},
    {"mo", CATALOG_UNIT_MONTHS, 1, false},
    {"years", CATALOG_UNIT_MONTHS, 12, false},
    {"year", CATALOG_UNIT_MONTHS, 12, false},
    {"yrs", CATALOG_UNIT_MONTHS, 12, false},
    {"yr", CATALOG_UNIT_MONTHS, 12, false},
    {"weeks", CATALOG_UNIT_DAYS, 7, false},
    {"week", CATALOG_UNIT_DAYS, 7, false},
    {"days", CATALOG_UNIT_DAYS, 1, false},
    {"day", CATALOG_UNIT_DAYS, 1, false},
    {"hours", CATALOG_UNIT_HOURS, 1, false},
    {"hour", CATALOG_UNIT_HOURS, 1, false},
    {"hrs", CATALOG_UNIT_HOURS, 1, false},
    {"minutes", CATALOG_UNIT_MINUTES, 1, false},
    {"minute", CATALOG_UNIT_MINUTES, 1, false},
    {"mins", CATALOG_UNIT_MINUTES, 1, false},
    {"countries", CATALOG_UNIT_COUNTRIES, 1, false},
    {"country", CATALOG_UNIT_COUNTRIES, 1, false},
    {"destinations", CATALOG_UNIT_COUNTRIES, 1, false},
    {"inches", CATALOG_UNIT_INCHES, 1, false},
    {"inch", CATALOG_UNIT_INCHES, 1, false},
    {"in", CATALOG_UNIT_INCHES, 1, true},
    {"\"", CATALOG_UNIT_INCHES, 1, true},
    {"megapixels", CATALOG_UNIT_MEGAPIXELS, 1, false},
    {"megapixel", CATALOG_UNIT_MEGAPIXELS, 1, false},
    {"mp", CATALOG_UNIT_MEGAPIXELS, 1, false},
    {"mah", CATALOG_UNIT_MAH, 1, false},
    {"percent", CATALOG_UNIT_PERCENT, 1, false},
    {"per cent", CATALOG_UNIT_PERCENT, 1, false},
    {"%", CATALOG_UNIT_PERCENT, 1, false},
};
#define N_UNIT_WORDS (sizeof(unit_words) / sizeof(unit_words[0]))

/* Words that may stand between a number and its unit: "4 HD screens". */
static const char *const fillers[] = {
    "live",	  "hd",	       "4k",	     "uhd",	   "extra",	    "more",
    "additional", "premium",   "sports",     "kids",	   "kids'",	    "simultaneous",
    "different",  "separate",  "outdoor",    "indoor",	   "international", "free",
    "of",	  "shared",    "high-speed", "full",	   "phone",	    "mobile",
    "connected",  "smart",     "tv",	     "data",	   "cloud",	    "video",
    "door",	  "window",    "motion",     "working",	   "business",	    "calendar",
    "whole",	  "national",  "local",	     "ad-free",	   "new",	    "family",
    "streaming",  "recording", "hotspot",    "bonus",	   "roaming",	    "included",
    "wireless",	  "security",  "ultra",	     "hd-quality", "consecutive",   "straight",
    NULL};

static const char *const money_words[] = {"dollars", "dollar", "bucks", "usd", NULL};
static const char *const time_words[] = {"am", "pm", "a.m.", "p.m.", "o'clock", NULL};
static const char *const monthly_words[] = {"/month",	 "/mo",	    "/mth",	  "a month",
					    "per month", "monthly", "each month", "every month",
					    "a mo",	 NULL};
static const char *const approx_words[] = {"about",  "around", "roughly", "approximately",
					   "approx", "nearly", "almost",  "over",
					   "under",  "~",      NULL};
static const char *const time_preps[] = {"at",	 "by",	   "until", "till",
					 "from", "before", "after", NULL};

static const struct {
	const char *w;
	int v;
} number_words[] = {
    {"zero", 0},     {"one", 1},	 {"two", 2},	    {"three", 3},     {"four", 4},
    {"five", 5},     {"six", 6},	 {"seven", 7},	    {"eight", 8},     {"nine", 9},
    {"ten", 10},     {"eleven", 11},	 {"twelve", 12},    {"thirteen", 13}, {"fourteen", 14},
    {"fifteen", 15}, {"sixteen", 16},	 {"seventeen", 17}, {"eighteen", 18}, {"nineteen", 19},
    {"twenty", 20},  {"thirty", 30},	 {"forty", 40},	    {"fifty", 50},    {"sixty", 60},
    {"seventy", 70}, {"eighty", 80},	 {"ninety", 90},    {"hundred", 100}, {"a hundred", 100},
    {"a dozen", 12}, {"a couple of", 2},
};
#define N_NUMBER_WORDS (sizeof(number_words) / sizeof(number_words[0]))

/* Length of w at t (case-insensitive) when it ends a word there, else 0. */
static size_t word_at(const char *t, const char *w)
{
	size_t n = strlen(w);

	if (strncasecmp(t, w, n) != 0)
		return 0;
	if (isalnum((unsigned char)w[n - 1]) && (isalnum((unsigned char)t[n]) || t[n] == '\''))
		return 0;
	return n;
}

static size_t any_word_at(const char *t, const char *const *words)
{
	for (const char *const *w = words; *w; w++) {
		size_t n = word_at(t, *w);

		if (n)
			return n;
	}
	return 0;
}

/* The longest unit word at t; attached: right after the digits. */
static const struct unit_word *unit_at(const char *t, bool attached, size_t *ret_len)
{
	const struct unit_word *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < N_UNIT_WORDS; i++) {
		size_t n;

		if (unit_words[i].attached_only && !attached)
			continue;
		n = word_at(t, unit_words[i].w);
		if (n > best_len) {
			best = &unit_words[i];
			best_len = n;
		}
	}
	*ret_len = best_len;
	return best;
}

static size_t skip_spaces(const char *t, size_t i, size_t max)
{
	size_t k = 0;

	while (k < max && t[i] == ' ') {
		i++;
		k++;
	}
	return i;
}

/* The word before position i (lower-cased into buf), or "" . */
static const char *word_before(const char *t, size_t i, char *buf, size_t len)
{
	size_t end = i, start;

	while (end > 0 && isspace((unsigned char)t[end - 1]))
		end--;
	if (end > 0 && t[end - 1] == '~') {
		snprintf(buf, len, "~");
		return buf;
	}
	start = end;
	while (start > 0 && isalpha((unsigned char)t[start - 1]))
		start--;
	if (end - start >= len)
		end = start + len - 1;
	for (size_t k = start; k < end; k++)
		buf[k - start] = (char)tolower((unsigned char)t[k]);
	buf[end - start] = '\0';
	return buf;
}

static bool in_list(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(w, *list) == 0)
			return true;
	return false;
}

/*
 * After a number ending at e: the unit (through up to two filler words).
 * Writes the unit and where the figure ends; false when no unit follows.
 */
static bool unit_after(const char *t, size_t e, const struct unit_word **ret_unit, size_t *ret_end)
{
	const struct unit_word *u;
	size_t i = e, n;

	u = unit_at(t + i, true, &n);
	if (u && (t[i] != ' ')) {
		*ret_unit = u;
		*ret_end = i + n;
		return true;
	}
	if (t[i] == '-')
		i++;
	else
		i = skip_spaces(t, i, 2);
	if (i == e && t[i] != '-')
		return false;
	for (int f = 0; f <= 2; f++) {
		u = unit_at(t + i, false, &n);
		if (u) {
			*ret_unit = u;
			*ret_end = i + n;
			return true;
		}
		n = any_word_at(t + i, fillers);
		if (!n)
			return false;
		i = skip_spaces(t, i + n, 2);
		if (t[i] == '-')
			i++;
	}
	return false;
}

static bool monthly_after(const char *t, size_t e)
{
	size_t i = skip_spaces(t, e, 2);

	return any_word_at(t + i, monthly_words) != 0 ||
	       (t[e] == '/' && any_word_at(t + e, monthly_words) != 0);
}

/* Moves past a token that is not a figure (a code, a date, "5G"). */
static size_t skip_token(const char *t, size_t i)
{
	while (t[i] && !isspace((unsigned char)t[i]) && t[i] != ',' && t[i] != ';' &&
	       !(t[i] == '.' && !isdigit((unsigned char)t[i + 1])))
		i++;
	return i;
}

static int extract(const char *t, const char *sym, struct figures_item *out, size_t max)
{
	size_t symlen = sym && *sym ? strlen(sym) : 0;
	size_t n = 0, i = 0;
	char prev[24];

	while (t[i]) {
		struct figures_item it = {0};
		const struct unit_word *u = NULL;
		bool money_prefix = false, have = false;
		size_t start = i, k, e, intdigits = 0;
		int64_t whole = 0, frac = 0;
		int fracdigits = 0;
		bool commas = false;

		if (symlen && strncmp(t + i, sym, symlen) == 0 &&
		    isdigit((unsigned char)t[i + symlen]) &&
		    (i == 0 || !isalnum((unsigned char)t[i - 1]))) {
			money_prefix = true;
			i += symlen;
		}
		if (isdigit((unsigned char)t[i])) {
			if (!money_prefix && i > 0) {
				unsigned char p = (unsigned char)t[i - 1];

				if (isalnum(p) || p == '.' || p == ',' ||
				    ((p == '-' || p == '/' || p == ':' || p == '#' || p == '_' ||
				      p == '+') &&
				     i >= 2 && isalnum((unsigned char)t[i - 2]))) {
					i = skip_token(t, i);
					continue;
				}
			}
			/* the number */
			k = i;
			while (isdigit((unsigned char)t[k]) ||
			       (t[k] == ',' && intdigits > 0 && isdigit((unsigned char)t[k + 1]) &&
				isdigit((unsigned char)t[k + 2]) &&
				isdigit((unsigned char)t[k + 3]) &&
				!isdigit((unsigned char)t[k + 4]))) {
				if (t[k] == ',') {
					commas = true;
				} else {
					whole = whole * 10 + (t[k] - '0');
					intdigits++;
				}
				k++;
				if (intdigits > 9)
					break;
			}
			if (intdigits > 9 || (intdigits >= 7 && !commas)) {
				i = skip_token(t, k); /* a phone number or an id */
				continue;
			}
			if (t[k] == '.' && isdigit((unsigned char)t[k + 1])) {
				size_t f = k + 1;

				while (isdigit((unsigned char)t[f]) && fracdigits < 3) {
					frac = frac * 10 + (t[f] - '0');
					fracdigits++;
					f++;
				}
				if (fracdigits > 2 || isdigit((unsigned char)t[f]) ||
				    (t[f] == '.' && isdigit((unsigned char)t[f + 1]))) {
					i = skip_token(t, f);
					continue;
				}
				k = f;
			}
			if ((t[k] == ':' || t[k] == '/' || t[k] == '-') &&
			    isdigit((unsigned char)t[k + 1])) {
				i = skip_token(t, k); /* a time, a date, a range, a code */
				continue;
			}
			it.num_offset = i;
			it.num_len = k - i;
			it.centi = whole * 100 + (fracdigits == 1 ? frac * 10 : frac);
			it.scale = 1;
			e = k;
			if (t[e] == '+' && !money_prefix) {
				it.flags |= FIGURES_AT_LEAST;
				e++;
			}
			if (money_prefix) {
				it.unit = CATALOG_UNIT_MONEY;
				have = true;
				if (any_word_at(t + skip_spaces(t, e, 1), money_words))
					e = skip_spaces(t, e, 1) +
					    any_word_at(t + skip_spaces(t, e, 1), money_words);
			} else if (t[e] == '%') {
				it.unit = CATALOG_UNIT_PERCENT;
				e++;
				have = true;
			} else if (isalpha((unsigned char)t[e]) || t[e] == '"') {
				size_t ul;

				u = unit_at(t + e, true, &ul);
				if (!u) {
					i = skip_token(t, e); /* "5G", "4K", "2nd", "9am" */
					continue;
				}
				it.unit = u->unit;
				it.scale = u->scale;
				e += ul;
				have = true;
			} else {
				size_t s = skip_spaces(t, e, 2), w;

				if (any_word_at(t + s, time_words)) {
					i = s; /* "9 am" */
					continue;
				}
				if ((w = any_word_at(t + s, money_words))) {
					it.unit = CATALOG_UNIT_MONEY;
					e = s + w;
					have = true;
				} else if (strncasecmp(t + s, "years old", 9) == 0 ||
					   strncasecmp(t + s, "year old", 8) == 0 ||
					   strncasecmp(t + s, "year-old", 8) == 0 ||
					   strncasecmp(t + s, "years-old", 9) == 0 ||
					   strncasecmp(t + e, "-year-old", 9) == 0) {
					i = skip_token(t, s);
					continue;
				} else if (unit_after(t, e, &u, &w)) {
					it.unit = u->unit;
					it.scale = u->scale;
					e = w;
					have = true;
				} else if (monthly_after(t, e)) {
					it.unit = CATALOG_UNIT_MONEY;
					have = true;
				} else if (fracdigits == 2) {
					/* "35.00" is an amount, "at 10.30" a time */
					word_before(t, i, prev, sizeof(prev));
					if (!(in_list(prev, time_preps) && whole < 24 &&
					      frac < 60)) {
						it.unit = CATALOG_UNIT_MONEY;
						have = true;
					}
				}
			}
			if (!have) {
				i = k > i ? k : i + 1;
				continue;
			}
		} else if (!money_prefix && isalpha((unsigned char)t[i]) &&
			   (i == 0 || !isalnum((unsigned char)t[i - 1]))) {
			size_t w = 0, best = 0, bi = 0;

			for (size_t j = 0; j < N_NUMBER_WORDS; j++) {
				w = word_at(t + i, number_words[j].w);
				if (w > best) {
					best = w;
					bi = j;
				}
			}
			if (!best) {
				while (isalnum((unsigned char)t[i]) || t[i] == '\'')
					i++;
				continue;
			}
			k = i + best;
			if (any_word_at(t + skip_spaces(t, k, 2), money_words)) {
				it.unit = CATALOG_UNIT_MONEY;
				e = skip_spaces(t, k, 2) +
				    any_word_at(t + skip_spaces(t, k, 2), money_words);
			} else if (unit_after(t, k, &u, &e) &&
				   !(strncasecmp(t + e, " old", 4) == 0 ||
				     strncasecmp(t + e, "-old", 4) == 0)) {
				it.unit = u->unit;
				it.scale = u->scale;
			} else {
				i = k;
				continue;
			}
			it.num_offset = i;
			it.num_len = best;
			it.centi = (int64_t)number_words[bi].v * 100;
			if (!it.scale)
				it.scale = 1;
			it.flags |= FIGURES_WORD;
		} else {
			i++;
			continue;
		}

		/* a figure from start to e */
		it.offset = start;
		it.len = e - start;
		it.centi *= it.scale;
		if (it.unit == CATALOG_UNIT_MONEY && monthly_after(t, e))
			it.flags |= FIGURES_MONTHLY;
		if (in_list(word_before(t, start, prev, sizeof(prev)), approx_words))
			it.flags |= FIGURES_APPROX;
		if (n == max)
			return -E2BIG;
		out[n++] = it;
		i = e > start ? e : start + 1;
	}
	return (int)n;
}

int figures_extract(const char *text, const char *currency_symbol, struct figures_item *out,
		    size_t max)
{
	return extract(text, currency_symbol ? currency_symbol : "$", out, max);
}

/* ---- the facts set -------------------------------------------------------- */

struct fact {
	int64_t centi;
	int32_t entity; /* product index, n_products + competitor index, -1 none */
	uint8_t unit;
	uint8_t flags;
	bool session;
};

struct entity_name {
	const char *name;
	size_t len;
	int32_t entity;
};

struct names {
	struct entity_name *v;
	size_t n;
};

struct figures_facts {
	const struct catalog *cat;
	char symbol[8];
	struct fact *facts;
	size_t n, n_catalog;
	struct names names;
	size_t n_products;
};

static int cmp_names_len(const void *a, const void *b)
{
	const struct entity_name *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* Every catalog name that marks an entry in a sentence, longest first. */
static int names_build(const struct catalog *c, struct names *ret)
{
	size_t np = catalog_product_count(c), nk = catalog_competitor_count(c), n = np;
	struct entity_name *v;

	for (size_t i = 0; i < nk; i++) {
		const struct catalog_competitor *k = catalog_competitor_at(c, i);

		n += 1 + k->n_aliases + k->n_offers;
	}
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < np; i++) {
		v[n].name = catalog_product_at(c, i)->name;
		v[n++].entity = (int32_t)i;
	}
	for (size_t i = 0; i < nk; i++) {
		const struct catalog_competitor *k = catalog_competitor_at(c, i);
		int32_t e = (int32_t)(np + i);

		v[n].name = k->name;
		v[n++].entity = e;
		for (size_t j = 0; j < k->n_aliases; j++) {
			v[n].name = k->aliases[j];
			v[n++].entity = e;
		}
		for (size_t j = 0; j < k->n_offers; j++) {
			v[n].name = k->offers[j].name;
			v[n++].entity = e;
		}
	}
	for (size_t i = 0; i < n; i++)
		v[i].len = strlen(v[i].name);
	qsort(v, n, sizeof(*v), cmp_names_len);
	ret->v = v;
	ret->n = n;
	return 0;
}

struct mention {
	size_t offset;
	int32_t entity;
};

/*
 * Finds the catalog names in text (whole words, case-insensitive), writes
 * their positions to m (at most max) and masks them in masked.
 */
static size_t names_find(const struct names *nm, const char *text, char *masked, struct mention *m,
			 size_t max)
{
	size_t count = 0;

	for (size_t i = 0; text[i];) {
		bool found = false;

		if (i > 0 && isalnum((unsigned char)text[i - 1])) {
			i++;
			continue;
		}
		for (size_t j = 0; j < nm->n; j++) {
			const struct entity_name *e = &nm->v[j];

			if (tolower((unsigned char)text[i]) != tolower((unsigned char)e->name[0]))
				continue;
			if (strncasecmp(text + i, e->name, e->len) == 0 &&
			    !isalnum((unsigned char)text[i + e->len])) {
				if (count < max) {
					m[count].offset = i;
					m[count].entity = e->entity;
				}
				count++;
				memset(masked + i, MASK, e->len);
				i += e->len;
				found = true;
				break;
			}
		}
		if (!found)
			i++;
	}
	return count < max ? count : max;
}

static int add_fact(struct figures_facts *f, enum catalog_unit unit, int64_t centi, unsigned flags,
		    int32_t entity, bool session, bool prose)
{
	if ((unsigned)unit >= CATALOG_UNIT_COUNT)
		return -EINVAL;
	for (size_t i = 0; i < f->n; i++) {
		const struct fact *x = &f->facts[i];

		if (x->unit == unit && x->centi == centi && x->entity == entity &&
		    (prose || x->flags == flags))
			return 0;
	}
	if (f->n == FIGURES_FACTS_MAX)
		return session ? -ENOSPC : -E2BIG;
	f->facts[f->n].unit = (uint8_t)unit;
	f->facts[f->n].centi = centi;
	f->facts[f->n].flags = (uint8_t)flags;
	f->facts[f->n].entity = entity;
	f->facts[f->n].session = session;
	f->n++;
	return 1;
}

/* The figures in a catalog prose string, as facts of entity. */
static int add_prose(struct figures_facts *f, const char *text, int32_t entity)
{
	struct figures_item items[64];
	char masked[CATALOG_TEXT_MAX + 1];
	struct mention m[1];
	size_t len = strlen(text);
	int n, r;

	if (len > CATALOG_TEXT_MAX)
		return 0;
	memcpy(masked, text, len + 1);
	names_find(&f->names, text, masked, m, 0);
	n = extract(masked, f->symbol, items, 64);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		unsigned fl = items[i].flags & FIGURES_MONTHLY ? FIGURES_FACT_MONTHLY : 0;

		if (items[i].flags & (FIGURES_APPROX | FIGURES_AT_LEAST))
			continue;
		if ((r = add_fact(f, items[i].unit, items[i].centi, fl, entity, false, true)) < 0)
			return r;
	}
	return 0;
}

static unsigned billing_flag(enum catalog_billing b)
{
	return b == CATALOG_BILLING_MONTHLY ? FIGURES_FACT_MONTHLY : FIGURES_FACT_ONCE;
}

static int add_specs(struct figures_facts *f, const struct catalog_spec *s, size_t n, int32_t e)
{
	int r;

	for (size_t i = 0; i < n; i++)
		if (!s[i].unlimited &&
		    (r = add_fact(f, s[i].unit, s[i].centi, 0, e, false, false)) < 0)
			return r;
	return 0;
}

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int r_ = (x);                                                                      \
		if (r_ < 0)                                                                        \
			return r_;                                                                 \
	} while (0)

static int add_product(struct figures_facts *f, const struct catalog_product *p, int32_t e,
		       int32_t day)
{
	const struct catalog_promotion *promos[16];
	unsigned bf = billing_flag(p->billing);
	size_t np;

	/* structured first, so prose duplicates of them are skipped */
	TRY(add_fact(f, CATALOG_UNIT_MONEY, p->price_cents, bf, e, false, false));
	if (p->setup_cents)
		TRY(add_fact(f, CATALOG_UNIT_MONEY, p->setup_cents, FIGURES_FACT_ONCE, e, false,
			     false));
	for (size_t i = 0; i < p->n_charges; i++)
		TRY(add_fact(f, CATALOG_UNIT_MONEY, p->charges[i].cents, FIGURES_FACT_ONCE, e,
			     false, false));
	if (p->installment_months) {
		TRY(add_fact(f, CATALOG_UNIT_MONEY, catalog_installment_cents(p),
			     FIGURES_FACT_MONTHLY, e, false, false));
		TRY(add_fact(f, CATALOG_UNIT_MONTHS, (int64_t)p->installment_months * 100, 0, e,
			     false, false));
	}
	if (p->contract_months)
		TRY(add_fact(f, CATALOG_UNIT_MONTHS, (int64_t)p->contract_months * 100, 0, e, false,
			     false));
	TRY(add_specs(f, p->specs, p->n_specs, e));
	np = catalog_promotions_active(f->cat, day, p, promos, 16);
	if (np > 16)
		np = 16;
	for (size_t i = 0; i < np; i++) {
		int64_t d = catalog_promotion_discount_cents(promos[i], p->price_cents);

		if (promos[i]->discount == CATALOG_DISCOUNT_PERCENT)
			TRY(add_fact(f, CATALOG_UNIT_PERCENT, promos[i]->value, 0, e, false,
				     false));
		TRY(add_fact(f, CATALOG_UNIT_MONEY, d, bf, e, false, false));
		TRY(add_fact(f, CATALOG_UNIT_MONEY, p->price_cents - d, bf, e, false, false));
		if (promos[i]->months)
			TRY(add_fact(f, CATALOG_UNIT_MONTHS, (int64_t)promos[i]->months * 100, 0, e,
				     false, false));
	}
	TRY(add_prose(f, p->value_story, e));
	TRY(add_prose(f, p->best_for, e));
	for (size_t i = 0; i < p->n_questions; i++) {
		TRY(add_prose(f, p->questions[i].q, e));
		TRY(add_prose(f, p->questions[i].a, e));
	}
	for (size_t i = 0; i < p->n_cross_sells; i++)
		TRY(add_prose(f, p->cross_sells[i].why, e));
	for (size_t i = 0; i < p->n_features; i++)
		TRY(add_prose(f, p->features[i], e));
	for (size_t i = 0; i < np; i++) {
		TRY(add_prose(f, promos[i]->description, e));
		TRY(add_prose(f, promos[i]->terms, e));
	}
	return 0;
}

static int add_competitor(struct figures_facts *f, const struct catalog_competitor *k, int32_t e)
{
	for (size_t i = 0; i < k->n_offers; i++) {
		const struct catalog_offer *o = &k->offers[i];

		TRY(add_fact(f, CATALOG_UNIT_MONEY, o->price_cents, billing_flag(o->billing), e,
			     false, false));
		if (o->setup_cents)
			TRY(add_fact(f, CATALOG_UNIT_MONEY, o->setup_cents, FIGURES_FACT_ONCE, e,
				     false, false));
		if (o->intro_months) {
			TRY(add_fact(f, CATALOG_UNIT_MONEY, o->intro_cents, FIGURES_FACT_MONTHLY, e,
				     false, false));
			TRY(add_fact(f, CATALOG_UNIT_MONTHS, (int64_t)o->intro_months * 100, 0, e,
				     false, false));
		}
		if (o->contract_months)
			TRY(add_fact(f, CATALOG_UNIT_MONTHS, (int64_t)o->contract_months * 100, 0,
				     e, false, false));
		TRY(add_specs(f, o->specs, o->n_specs, e));
	}
	return 0;
}

int figures_facts_new(const struct catalog *c, int32_t day, struct figures_facts **ret)
{
	struct figures_facts *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return -ENOMEM;
	f->cat = c;
	snprintf(f->symbol, sizeof(f->symbol), "%s", catalog_telco(c)->currency_symbol);
	f->n_products = catalog_product_count(c);
	f->facts = malloc(FIGURES_FACTS_MAX * sizeof(*f->facts));
	if (!f->facts || (r = names_build(c, &f->names)) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < f->n_products; i++)
		if ((r = add_product(f, catalog_product_at(c, i), (int32_t)i, day)) < 0)
			goto fail;
	for (size_t i = 0; i < catalog_competitor_count(c); i++)
		if ((r = add_competitor(f, catalog_competitor_at(c, i),
					(int32_t)(f->n_products + i))) < 0)
			goto fail;
	f->n_catalog = f->n;
	*ret = f;
	return 0;
fail:
	figures_facts_free(f);
	return r;
}

void figures_facts_free(struct figures_facts *f)
{
	if (!f)
		return;
	free(f->facts);
	free(f->names.v);
	free(f);
}

int figures_facts_add(struct figures_facts *f, enum catalog_unit unit, int64_t centi,
		      unsigned flags, const struct catalog_product *product,
		      const struct catalog_competitor *competitor)
{
	int32_t e = -1;

	if (product) {
		long i = catalog_product_index(f->cat, product);

		if (i < 0)
			return -EINVAL;
		e = (int32_t)i;
	} else if (competitor) {
		long i = catalog_competitor_index(f->cat, competitor);

		if (i < 0)
			return -EINVAL;
		e = (int32_t)(f->n_products + (size_t)i);
	}
	return add_fact(f, unit, centi, flags & (FIGURES_FACT_MONTHLY | FIGURES_FACT_ONCE), e, true,
			false);
}

void figures_facts_reset_session(struct figures_facts *f)
{
	f->n = f->n_catalog;
}

size_t figures_facts_count(const struct figures_facts *f, bool session_only)
{
	return session_only ? f->n - f->n_catalog : f->n;
}

bool figures_facts_has(const struct figures_facts *f, enum catalog_unit unit, int64_t centi)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->facts[i].unit == unit && f->facts[i].centi == centi)
			return true;
	return false;
}

/* ---- the check ------------------------------------------------------------ */

const char *figures_action_name(enum figures_action a)
{
	switch (a) {
	case FIGURES_ACTION_CORRECTED:
		return "corrected";
	case FIGURES_ACTION_REMOVED:
		return "removed";
	}
	return "?";
}

static bool fact_matches(const struct fact *ft, const struct figures_item *it)
{
	if (ft->unit != it->unit)
		return false;
	if ((it->flags & FIGURES_MONTHLY) && (ft->flags & FIGURES_FACT_ONCE))
		return false;
	if (ft->centi == it->centi)
		return true;
	if (it->flags & FIGURES_AT_LEAST)
		return ft->centi >= it->centi;
	if (it->flags & FIGURES_APPROX) {
		int64_t one = 100 * (int64_t)(it->scale > 0 ? it->scale : 1);
		int64_t lo = ft->centi / one * one;
		int64_t hi = lo + (ft->centi % one ? one : 0);

		return it->centi == lo || it->centi == hi;
	}
	return false;
}

static bool in_scope(int32_t e, const int32_t *scope, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (scope[i] == e)
			return true;
	return false;
}

enum verdict {
	VERDICT_PASS,
	VERDICT_FOREIGN, /* another entry's figure, that entry not named */
	VERDICT_UNKNOWN,
};

static enum verdict judge(const struct figures_facts *f, const struct figures_item *it,
			  const int32_t *scope, size_t n_scope, int32_t *ret_foreign)
{
	bool foreign = false;

	for (size_t i = 0; i < f->n; i++) {
		const struct fact *ft = &f->facts[i];

		if (!fact_matches(ft, it))
			continue;
		if (ft->entity < 0 || n_scope == 0 || in_scope(ft->entity, scope, n_scope))
			return VERDICT_PASS;
		if (!foreign)
			*ret_foreign = ft->entity;
		foreign = true;
	}
	return foreign ? VERDICT_FOREIGN : VERDICT_UNKNOWN;
}

/* The one value entries in scope have in this unit, if there is exactly one. */
static bool sole_value(const struct figures_facts *f, const struct figures_item *it,
		       const int32_t *scope, size_t n_scope, int64_t *ret, int32_t *ret_entity)
{
	bool have = false;

	if (!n_scope)
		return false;
	for (size_t i = 0; i < f->n; i++) {
		const struct fact *ft = &f->facts[i];

		if (ft->unit != it->unit || ft->entity < 0 || !in_scope(ft->entity, scope, n_scope))
			continue;
		if ((it->flags & FIGURES_MONTHLY) && (ft->flags & FIGURES_FACT_ONCE))
			continue;
		if (have && ft->centi != *ret)
			return false;
		have = true;
		*ret = ft->centi;
		*ret_entity = ft->entity;
	}
	return have;
}

static const char *entity_name(const struct figures_facts *f, int32_t e)
{
	if (e < 0)
		return "this session";
	if ((size_t)e < f->n_products)
		return catalog_product_at(f->cat, (size_t)e)->name;
	return catalog_competitor_at(f->cat, (size_t)e - f->n_products)->name;
}

/* The number for centi in the written unit, in the style of the original. */
static void format_number(int64_t centi, int scale, bool money, bool decimals, char *buf,
			  size_t len)
{
	int64_t v = centi / (scale > 0 ? scale : 1);
	int64_t w = v / 100, c = v % 100;

	if (money && (decimals || c))
		snprintf(buf, len, "%lld.%02lld", (long long)w, (long long)c);
	else if (c == 0)
		snprintf(buf, len, "%lld", (long long)w);
	else if (c % 10 == 0)
		snprintf(buf, len, "%lld.%lld", (long long)w, (long long)(c / 10));
	else
		snprintf(buf, len, "%lld.%02lld", (long long)w, (long long)c);
}

static void copy_span(char *dst, size_t len, const char *src, size_t n)
{
	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

struct sentence {
	size_t start, end; /* [start, end), trailing space included */
	int32_t scope[SCOPE_MAX];
	size_t n_scope;
	bool removed;
};

static size_t split_sentences(const char *t, size_t len, struct sentence *s, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i < len && n < max; i++) {
		char c = t[i];
		bool end = false;

		if (c == '\n')
			end = true;
		else if ((c == '.' || c == '!' || c == '?') &&
			 (i + 1 == len || isspace((unsigned char)t[i + 1]) || t[i + 1] == '"' ||
			  t[i + 1] == ')'))
			end = true;
		if (!end)
			continue;
		while (i + 1 < len && (t[i + 1] == '"' || t[i + 1] == ')'))
			i++;
		while (i + 1 < len && isspace((unsigned char)t[i + 1]))
			i++;
		memset(&s[n], 0, sizeof(s[n]));
		s[n].start = start;
		s[n].end = i + 1;
		n++;
		start = i + 1;
	}
	if (start < len && n < max) {
		memset(&s[n], 0, sizeof(s[n]));
		s[n].start = start;
		s[n].end = len;
		n++;
	}
	return n;
}

static size_t sentence_of(const struct sentence *s, size_t n, size_t off)
{
	for (size_t i = 0; i < n; i++)
		if (off >= s[i].start && off < s[i].end)
			return i;
	return n ? n - 1 : 0;
}

struct fix {
	size_t item;
	size_t sentence;
	char number[32]; /* the corrected number, for CORRECTED */
};

int figures_check(const struct figures_facts *f, const char *reply, struct figures_report *ret)
{
	struct figures_item *items = NULL;
	struct sentence *sents = NULL;
	struct mention *ments = NULL;
	struct fix fixes[FIGURES_FLAGS_MAX];
	size_t len, n_sents, n_ments, n_fixes = 0, out_len = 0;
	char *masked = NULL, *out = NULL;
	int n_items, r = 0;

	len = strlen(reply);
	if (len > FIGURES_REPLY_MAX)
		return -E2BIG;
	masked = malloc(len + 1);
	items = malloc(FIGURES_ITEMS_MAX * sizeof(*items));
	sents = malloc((len / 2 + 2) * sizeof(*sents));
	ments = malloc((len / 2 + 2) * sizeof(*ments));
	out = malloc(len + FIGURES_FLAGS_MAX * 32 + 1);
	if (!masked || !items || !sents || !ments || !out) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(masked, reply, len + 1);
	n_ments = names_find(&f->names, reply, masked, ments, len / 2 + 2);
	n_items = extract(masked, f->symbol, items, FIGURES_ITEMS_MAX);
	if (n_items < 0) {
		r = n_items;
		goto out;
	}
	n_sents = split_sentences(reply, len, sents, len / 2 + 2);
	for (size_t i = 0; i < n_ments; i++) {
		struct sentence *s = &sents[sentence_of(sents, n_sents, ments[i].offset)];

		if (s->n_scope < SCOPE_MAX && !in_scope(ments[i].entity, s->scope, s->n_scope))
			s->scope[s->n_scope++] = ments[i].entity;
	}

	memset(ret, 0, sizeof(*ret));
	ret->n_figures = (size_t)n_items;
	for (size_t i = 0; i < (size_t)n_items; i++) {
		const struct figures_item *it = &items[i];
		size_t si = sentence_of(sents, n_sents, it->offset);
		struct sentence *s = &sents[si];
		struct figures_flag *fl;
		int32_t foreign = -1, owner = -1;
		const int32_t *cscope = s->scope;
		size_t n_cscope = s->n_scope;
		enum verdict v = judge(f, it, s->scope, s->n_scope, &foreign);
		int64_t value = 0;

		if (v == VERDICT_PASS)
			continue;
		if (n_fixes == FIGURES_FLAGS_MAX) {
			r = -E2BIG;
			goto out;
		}
		fl = &ret->flags[n_fixes];
		memset(fl, 0, sizeof(*fl));
		copy_span(fl->figure, sizeof(fl->figure), reply + it->offset, it->len);
		fl->offset = it->offset;
		fl->unit = it->unit;
		fl->centi = it->centi;
		fixes[n_fixes].item = i;
		fixes[n_fixes].sentence = si;
		fixes[n_fixes].number[0] = '\0';
		if (n_cscope == 0)
			for (size_t j = si; j-- > 0;)
				if (sents[j].n_scope) {
					cscope = sents[j].scope;
					n_cscope = sents[j].n_scope;
					break;
				}
		if (v == VERDICT_FOREIGN) {
			fl->action = FIGURES_ACTION_REMOVED;
			snprintf(fl->reason, sizeof(fl->reason),
				 "belongs to %s, which its sentence does not name",
				 entity_name(f, foreign));
			s->removed = true;
		} else if (sole_value(f, it, cscope, n_cscope, &value, &owner)) {
			char num[32], orig[32], repl[FIGURES_TEXT_MAX];
			const char *unit = catalog_unit_name(it->unit);

			copy_span(orig, sizeof(orig), reply + it->num_offset, it->num_len);
			format_number(value, it->scale, it->unit == CATALOG_UNIT_MONEY,
				      strchr(orig, '.') != NULL, num, sizeof(num));
			fl->action = FIGURES_ACTION_CORRECTED;
			snprintf(fixes[n_fixes].number, sizeof(fixes[n_fixes].number), "%s", num);
			snprintf(repl, sizeof(repl), "%.*s%s%.*s",
				 (int)(it->num_offset - it->offset), reply + it->offset, num,
				 (int)(it->offset + it->len - it->num_offset - it->num_len),
				 reply + it->num_offset + it->num_len);
			memcpy(fl->replacement, repl, sizeof(fl->replacement));
			snprintf(fl->reason, sizeof(fl->reason),
				 "not in the catalog or this session's tool results; the only %s "
				 "figure known for %s is %s",
				 strcmp(unit, "money") == 0 ? "price" : unit, entity_name(f, owner),
				 repl);
		} else {
			fl->action = FIGURES_ACTION_REMOVED;
			snprintf(fl->reason, sizeof(fl->reason),
				 "not in the catalog or this session's tool results, and no single "
				 "known %s figure to correct it to",
				 it->unit == CATALOG_UNIT_MONEY ? "price"
								: catalog_unit_name(it->unit));
			s->removed = true;
		}
		n_fixes++;
	}
	/* a correction in a removed sentence goes with it */
	for (size_t i = 0; i < n_fixes; i++)
		if (sents[fixes[i].sentence].removed &&
		    ret->flags[i].action == FIGURES_ACTION_CORRECTED) {
			ret->flags[i].action = FIGURES_ACTION_REMOVED;
			ret->flags[i].replacement[0] = '\0';
			snprintf(ret->flags[i].reason, sizeof(ret->flags[i].reason),
				 "its sentence was removed for another figure");
		}

	/* the cleaned reply */
	for (size_t si = 0, fx = 0; si < n_sents; si++) {
		size_t pos = sents[si].start;

		while (fx < n_fixes && fixes[fx].sentence < si)
			fx++;
		if (sents[si].removed) {
			ret->n_removed_sentences++;
			continue;
		}
		for (; fx < n_fixes && fixes[fx].sentence == si; fx++) {
			const struct figures_item *it = &items[fixes[fx].item];
			size_t nl = strlen(fixes[fx].number);

			if (ret->flags[fx].action != FIGURES_ACTION_CORRECTED)
				continue;
			memcpy(out + out_len, reply + pos, it->num_offset - pos);
			out_len += it->num_offset - pos;
			memcpy(out + out_len, fixes[fx].number, nl);
			out_len += nl;
			pos = it->num_offset + it->num_len;
		}
		memcpy(out + out_len, reply + pos, sents[si].end - pos);
		out_len += sents[si].end - pos;
	}
	if (len && !isspace((unsigned char)reply[len - 1]))
		while (out_len && isspace((unsigned char)out[out_len - 1]))
			out_len--;
	out[out_len] = '\0';
	ret->text = out;
	ret->n_flags = n_fixes;
	out = NULL;
out:
	free(masked);
	free(items);
	free(sents);
	free(ments);
	free(out);
	return r;
}

void figures_report_free(struct figures_report *r)
{
	if (!r)
		return;
	free(r->text);
	r->text = NULL;
}

char *figures_report_json(const struct figures_report *r)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char *s = NULL;

	if (!root)
		return NULL;
	cJSON_AddNumberToObject(root, "figures", (double)r->n_figures);
	cJSON_AddNumberToObject(root, "removed_sentences", (double)r->n_removed_sentences);
	arr = cJSON_AddArrayToObject(root, "flags");
	for (size_t i = 0; arr && i < r->n_flags; i++) {
		const struct figures_flag *fl = &r->flags[i];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(arr, o))
			goto out;
		cJSON_AddStringToObject(o, "figure", fl->figure);
		cJSON_AddNumberToObject(o, "offset", (double)fl->offset);
		cJSON_AddStringToObject(o, "unit", catalog_unit_name(fl->unit));
		cJSON_AddNumberToObject(o, "value", (double)fl->centi / 100.0);
		cJSON_AddStringToObject(o, "action", figures_action_name(fl->action));
		if (fl->action == FIGURES_ACTION_CORRECTED)
			cJSON_AddStringToObject(o, "to", fl->replacement);
		cJSON_AddStringToObject(o, "reason", fl->reason);
	}
	s = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return s;
}

/* ---- catalog lint --------------------------------------------------------- */

#define LINT_FACTS_MAX 256

struct lint_set {
	struct fact v[LINT_FACTS_MAX];
	size_t n;
	bool units[CATALOG_UNIT_COUNT];
};

static void lint_add(struct lint_set *s, enum catalog_unit u, int64_t centi)
{
	s->units[u] = true;
	if (s->n < LINT_FACTS_MAX) {
		s->v[s->n].unit = (uint8_t)u;
		s->v[s->n].centi = centi;
		s->v[s->n].flags = 0;
		s->v[s->n].entity = 0;
		s->n++;
	}
}

static void lint_add_product(struct lint_set *s, const struct catalog *c,
			     const struct catalog_product *p)
{
	lint_add(s, CATALOG_UNIT_MONEY, p->price_cents);
	if (p->setup_cents)
		lint_add(s, CATALOG_UNIT_MONEY, p->setup_cents);
	for (size_t i = 0; i < p->n_charges; i++)
		lint_add(s, CATALOG_UNIT_MONEY, p->charges[i].cents);
	if (p->installment_months) {
		lint_add(s, CATALOG_UNIT_MONEY, catalog_installment_cents(p));
		lint_add(s, CATALOG_UNIT_MONTHS, (int64_t)p->installment_months * 100);
	}
	if (p->contract_months)
		lint_add(s, CATALOG_UNIT_MONTHS, (int64_t)p->contract_months * 100);
	for (size_t i = 0; i < p->n_specs; i++) {
		if (p->specs[i].unlimited)
			s->units[p->specs[i].unit] = true;
		else
			lint_add(s, p->specs[i].unit, p->specs[i].centi);
	}
	for (size_t i = 0; i < catalog_promotion_count(c); i++) {
		const struct catalog_promotion *pr = catalog_promotion_at(c, i);
		int64_t d;

		if (!catalog_promotion_covers(pr, p))
			continue;
		d = catalog_promotion_discount_cents(pr, p->price_cents);
		lint_add(s, CATALOG_UNIT_MONEY, d);
		lint_add(s, CATALOG_UNIT_MONEY, p->price_cents - d);
		if (pr->discount == CATALOG_DISCOUNT_PERCENT)
			lint_add(s, CATALOG_UNIT_PERCENT, pr->value);
		if (pr->months)
			lint_add(s, CATALOG_UNIT_MONTHS, (int64_t)pr->months * 100);
	}
}

/* 0, or -EINVAL naming the first figure in text that contradicts s. */
static int lint_text(const struct names *nm, const struct lint_set *s, const char *text,
		     const char *sym, const char *file, const char *entry, const char *field,
		     char *err, size_t errlen)
{
	struct figures_item items[64];
	char masked[CATALOG_TEXT_MAX + 1];
	struct mention m[1];
	size_t len = strlen(text);
	int n;

	if (len > CATALOG_TEXT_MAX)
		return 0;
	memcpy(masked, text, len + 1);
	names_find(nm, text, masked, m, 0);
	n = extract(masked, sym, items, 64);
	for (int i = 0; i < n; i++) {
		bool ok = false;
		char fig[FIGURES_TEXT_MAX];

		if (!s->units[items[i].unit])
			continue;
		for (size_t j = 0; j < s->n && !ok; j++)
			ok = fact_matches(&s->v[j], &items[i]);
		if (ok)
			continue;
		copy_span(fig, sizeof(fig), text + items[i].offset, items[i].len);
		if (err && errlen)
			snprintf(
			    err, errlen,
			    "%s: %s: field '%s': says \"%s\", which matches none of the entry's "
			    "own %s figures (price, fees, specs, contract, promotions); fix the "
			    "text or the data",
			    file, entry, field, fig, catalog_unit_name(items[i].unit));
		return -EINVAL;
	}
	return 0;
}

/* Comparison angles and talk tracks state no figures at all: compare does. */
static int lint_no_figures(const struct names *nm, const char *text, const char *sym,
			   const char *file, const char *entry, const char *field, char *err,
			   size_t errlen)
{
	struct figures_item items[8];
	char masked[CATALOG_TEXT_MAX + 1], fig[FIGURES_TEXT_MAX];
	struct mention m[1];
	size_t len = strlen(text);
	int n;

	if (len > CATALOG_TEXT_MAX)
		return 0;
	memcpy(masked, text, len + 1);
	names_find(nm, text, masked, m, 0);
	n = extract(masked, sym, items, 8);
	if (n == 0)
		return 0;
	copy_span(fig, sizeof(fig), text + items[0].offset, items[0].len);
	if (err && errlen)
		snprintf(err, errlen,
			 "%s: %s: field '%s': says \"%s\"; state no figures here, the compare tool "
			 "computes them from the stored data",
			 file, entry, field, fig);
	return -EINVAL;
}

int figures_lint_catalog(const struct catalog *c, char *err, size_t errlen)
{
	const char *sym = catalog_telco(c)->currency_symbol;
	struct lint_set *s = malloc(sizeof(*s)), *x = malloc(sizeof(*x));
	struct names nm;
	char entry[96], field[48];
	int r;

	if (!s || !x || names_build(c, &nm) < 0) {
		free(s);
		free(x);
		return -ENOMEM;
	}
	for (size_t i = 0; i < catalog_product_count(c); i++) {
		const struct catalog_product *p = catalog_product_at(c, i);

		memset(s, 0, sizeof(*s));
		lint_add_product(s, c, p);
		snprintf(entry, sizeof(entry), "product '%s'", p->id);
#define LINT(text, fname)                                                                          \
	do {                                                                                       \
		if ((r = lint_text(&nm, s, (text), sym, p->file, entry, (fname), err, errlen)) <   \
		    0)                                                                             \
			goto out;                                                                  \
	} while (0)
		LINT(p->value_story, "value_story");
		LINT(p->best_for, "best_for");
		for (size_t j = 0; j < p->n_questions; j++) {
			snprintf(field, sizeof(field), "common_questions[%zu].q", j);
			LINT(p->questions[j].q, field);
			snprintf(field, sizeof(field), "common_questions[%zu].a", j);
			LINT(p->questions[j].a, field);
		}
		for (size_t j = 0; j < p->n_comparisons; j++) {
			snprintf(field, sizeof(field), "comparisons[%zu].angle", j);
			if ((r = lint_no_figures(&nm, p->comparisons[j].angle, sym, p->file, entry,
						 field, err, errlen)) < 0)
				goto out;
		}
		for (size_t j = 0; j < p->n_cross_sells; j++) {
			/* a reason may quote the cross-sold product's figures */
			memcpy(x, s, sizeof(*x));
			lint_add_product(x, c, p->cross_sells[j].product);
			snprintf(field, sizeof(field), "cross_sells[%zu].why", j);
			if ((r = lint_text(&nm, x, p->cross_sells[j].why, sym, p->file, entry,
					   field, err, errlen)) < 0)
				goto out;
		}
#undef LINT
	}
	for (size_t i = 0; i < catalog_competitor_count(c); i++) {
		const struct catalog_competitor *k = catalog_competitor_at(c, i);

		snprintf(entry, sizeof(entry), "competitor '%s'", k->id);
		if ((r = lint_no_figures(&nm, k->how_we_win, sym, k->file, entry, "how_we_win", err,
					 errlen)) < 0)
			goto out;
	}
	for (size_t i = 0; i < catalog_promotion_count(c); i++) {
		const struct catalog_promotion *pr = catalog_promotion_at(c, i);

		memset(s, 0, sizeof(*s));
		s->units[CATALOG_UNIT_PERCENT] = true;
		if (pr->discount == CATALOG_DISCOUNT_AMOUNT)
			lint_add(s, CATALOG_UNIT_MONEY, pr->value);
		else
			lint_add(s, CATALOG_UNIT_PERCENT, pr->value);
		lint_add(s, CATALOG_UNIT_MONTHS, (int64_t)pr->months * 100);
		for (size_t j = 0; j < pr->n_products; j++) {
			int64_t d =
			    catalog_promotion_discount_cents(pr, pr->products[j]->price_cents);

			lint_add(s, CATALOG_UNIT_MONEY, pr->products[j]->price_cents);
			lint_add(s, CATALOG_UNIT_MONEY, pr->products[j]->price_cents - d);
			lint_add(s, CATALOG_UNIT_MONEY, d);
		}
		snprintf(entry, sizeof(entry), "promotion '%s'", pr->id);
		if ((r = lint_text(&nm, s, pr->description, sym, pr->file, entry, "description",
				   err, errlen)) < 0 ||
		    (r = lint_text(&nm, s, pr->terms, sym, pr->file, entry, "terms", err, errlen)) <
			0)
			goto out;
	}
	r = 0;
out:
	free(nm.v);
	free(s);
	free(x);
	return r;
}
