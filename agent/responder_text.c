/*
 * responder_text — text helpers (phrase choice, whole-word matching, money
 * and dates as a person says them) and the reply, sentence by sentence
 * (say, ask, the staff's talking points, next action and suggestions).
 * Private to the responder (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- text helpers ------------------------------------------------------------ */

const char *const month_names[12] = {"January",	  "February", "March",	  "April",
				     "May",	  "June",     "July",	  "August",
				     "September", "October",  "November", "December"};

uint32_t fnv(uint32_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* One of n phrasings, fixed for (turn, product, slot): varied, never random. */
unsigned pick(const struct turn *t, const char *slot, unsigned n)
{
	char num[16];
	uint32_t h = 2166136261u;

	if (n <= 1)
		return 0;
	snprintf(num, sizeof(num), "%d", t->in->turn);
	h = fnv(h, num);
	h = fnv(h, "|");
	h = fnv(h, t->salt);
	h = fnv(h, "|");
	h = fnv(h, slot);
	return (h >> 7) % n;
}

unsigned list_len(const char *const *l)
{
	unsigned n = 0;

	while (l && l[n])
		n++;
	return n;
}

const char *pick_from(const struct turn *t, const char *slot, const char *const *l)
{
	unsigned n = list_len(l);

	return n ? l[pick(t, slot, n)] : "";
}

/* Whole-word phrase in a padded normalised text (" a b c "), at or after
 * offset from. Returns the offset (of the blank before it) or -1. */
static long find_phrase_from(const char *padded, long from, const char *phrase)
{
	char pat[SIGNALS_MAX_PHRASE + 4];
	const char *p;

	if (snprintf(pat, sizeof(pat), " %s ", phrase) >= (int)sizeof(pat) || from < 0 ||
	    (size_t)from > strlen(padded))
		return -1;
	p = strstr(padded + from, pat);
	return p ? p - padded : -1;
}

/* Whole-word phrase in a padded normalised text (" a b c "). Returns the offset or -1. */
long find_phrase(const char *padded, const char *phrase)
{
	return find_phrase_from(padded, 0, phrase);
}

bool has_phrase(const char *padded, const char *phrase)
{
	return find_phrase(padded, phrase) >= 0;
}

/* A cue not cancelled by a negation just before it ("not too expensive"):
 * each occurrence in turn, until one is not negated. */
static bool has_cue(const char *padded, const char *phrase)
{
	static const char *const neg[] = {" not ",  " no ",	 " never ", " dont ",
					  " isnt ", " without ", " wont ",  NULL};

	for (long off = find_phrase(padded, phrase); off >= 0;
	     off = find_phrase_from(padded, off + 1, phrase)) {
		long start = off > 14 ? off - 14 : 0;
		char window[20];
		bool negated = false;

		snprintf(window, sizeof(window), "%.*s ", (int)(off - start + 1), padded + start);
		for (const char *const *w = neg; *w; w++)
			negated |= strstr(window, *w) != NULL;
		if (!negated)
			return true;
	}
	return false;
}

bool any_phrase(const char *padded, const char *const *l)
{
	for (; l && *l; l++)
		if (has_phrase(padded, *l))
			return true;
	return false;
}

bool any_cue(const char *padded, const char *const *l)
{
	for (; l && *l; l++)
		if (has_cue(padded, *l))
			return true;
	return false;
}

/* Blanks every occurrence of the (normalised) phrase in s. */
bool blank(char *s, const char *phrase)
{
	long off = find_phrase(s, phrase);
	bool any = false;

	while (off >= 0) {
		memset(s + off + 1, '#', strlen(phrase));
		any = true;
		off = find_phrase(s, phrase);
	}
	return any;
}

/* The first word of a padded text, after a link word ("and what ..." -> "what"). */
void lead_word(const char *padded, char *out, size_t len)
{
	char w[2][32] = {"", ""};

	sscanf(padded, " %31s %31s", w[0], w[1]);
	for (const char *const *l = L("and", "so", "ok", "okay", "but", "also", "oh", "right"); *l;
	     l++)
		if (strcmp(w[0], *l) == 0) {
			snprintf(out, len, "%s", w[1]);
			return;
		}
	snprintf(out, len, "%s", w[0]);
}

/* Normalises s into out as " words " (for has_phrase); "" when it does not fit. */
void norm_padded(const char *s, size_t len, char *out, size_t outlen)
{
	int n;

	out[0] = '\0';
	if (outlen < 4)
		return;
	n = signals_normalize(s, len, out + 1, outlen - 3);
	if (n < 0) {
		out[0] = '\0';
		return;
	}
	out[0] = ' ';
	out[n + 1] = ' ';
	out[n + 2] = '\0';
}

/* Copies at most max bytes of s, cut at a UTF-8 boundary and a word end. */
void copy_words(char *dst, size_t dstlen, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (max >= dstlen)
		max = dstlen - 1;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		for (size_t k = n; k > max / 2; k--)
			if (s[k] == ' ') {
				n = k;
				break;
			}
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	for (char *p = dst; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* Characters (not bytes) of UTF-8 s. */
size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Cuts s to at most max characters, at a character boundary. */
void utf8_cut(char *s, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == max) {
			s[i] = '\0';
			return;
		}
	}
}

/* "$1,099" or "$49.99": the way a person says it. */
void money(const struct turn *t, int64_t cents, char *buf, size_t len)
{
	uint64_t a = cents < 0 ? (uint64_t)-cents : (uint64_t)cents;
	uint64_t w = a / 100, c = a % 100;
	char digits[40];

	if (w >= 1000)
		snprintf(digits, sizeof(digits), "%llu,%03llu", (unsigned long long)(w / 1000),
			 (unsigned long long)(w % 1000));
	else
		snprintf(digits, sizeof(digits), "%llu", (unsigned long long)w);
	if (c)
		snprintf(buf, len, "%.4s%.16s.%02llu", t->sym, digits, (unsigned long long)c);
	else
		snprintf(buf, len, "%.4s%.16s", t->sym, digits);
}

/* Cents from a tool's money text ("$1,099.00 a month"); -1 when there is none. */
int64_t money_parse(const char *s)
{
	int64_t w = 0, c = 0;
	int dec = -1;
	bool digits = false;

	if (!s)
		return -1;
	while (*s && !isdigit((unsigned char)*s))
		s++;
	for (; *s; s++) {
		if (isdigit((unsigned char)*s)) {
			digits = true;
			if (dec < 0)
				w = w * 10 + (*s - '0');
			else if (dec < 2) {
				c = c * 10 + (*s - '0');
				dec++;
			}
		} else if (*s == ',' && dec < 0) {
			continue;
		} else if (*s == '.' && dec < 0) {
			dec = 0;
		} else {
			break;
		}
	}
	if (!digits || w > CATALOG_PRICE_MAX_CENTS)
		return -1;
	if (dec == 1)
		c *= 10;
	return w * 100 + c;
}

/* "YYYY-MM-DD" -> "December 1" */
void date_words(const char *iso, char *buf, size_t len)
{
	int y, mo, d;

	if (sscanf(iso, "%d-%d-%d", &y, &mo, &d) == 3 && mo >= 1 && mo <= 12)
		snprintf(buf, len, "%s %d", month_names[mo - 1], d);
	else
		snprintf(buf, len, "%s", iso);
}

/* The n-th sentence of text (0-based) into out; false when there is none. */
bool nth_sentence(const char *text, unsigned n, char *out, size_t len)
{
	const char *s = text;

	for (unsigned i = 0;; i++) {
		const char *e = s;

		while (*s == ' ')
			s++;
		if (!*s)
			return false;
		e = s;
		while (*e &&
		       !((*e == '.' || *e == '!' || *e == '?') && (e[1] == '\0' || e[1] == ' ')))
			e++;
		if (*e)
			e++;
		if (i == n) {
			size_t k = (size_t)(e - s);

			if (k >= len)
				k = len - 1;
			memcpy(out, s, k);
			out[k] = '\0';
			return true;
		}
		s = e;
	}
}

/* Does s start with a word that stays capitalised (a name, "I", an acronym)? */
static bool starts_with_name(const struct turn *t, const char *s)
{
	char w[48];
	size_t n = 0;

	while (s[n] && s[n] != ' ' && s[n] != ',' && s[n] != ':' && n < sizeof(w) - 1) {
		w[n] = s[n];
		n++;
	}
	w[n] = '\0';
	if (n == 0)
		return false;
	if (strcmp(w, "I") == 0 || (n > 1 && isupper((unsigned char)w[1])) ||
	    isdigit((unsigned char)w[0]))
		return true;
	for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
		const char *nm = catalog_product_at(t->cat, i)->name;

		if (strncasecmp(nm, w, n) == 0 && (nm[n] == ' ' || nm[n] == '\0'))
			return true;
	}
	for (size_t i = 0; i < catalog_competitor_count(t->cat); i++) {
		const char *nm = catalog_competitor_at(t->cat, i)->name;

		if (strncasecmp(nm, w, n) == 0 && (nm[n] == ' ' || nm[n] == '\0'))
			return true;
	}
	return strcmp(w, catalog_telco(t->cat)->name) == 0;
}

/* s with its first letter lowered, unless it starts with a name. */
void lower_first(const struct turn *t, char *s)
{
	if (s[0] && isupper((unsigned char)s[0]) && !starts_with_name(t, s))
		s[0] = (char)tolower((unsigned char)s[0]);
}

/* "the Kids Pack", "the Entertainment Bundle", "Fibre 300": how a name sits in a sentence. */
const char *the(const char *name, char *buf, size_t len)
{
	static const char *const nouns[] = {"Pack",  "Bundle", "Pass",	 "Box", "Add-on",
					    "Point", "Line",   "Camera", NULL};
	const char *last = strrchr(name, ' ');

	last = last ? last + 1 : name;
	for (const char *const *n = nouns; *n; n++)
		if (strcmp(last, *n) == 0) {
			snprintf(buf, len, "the %s", name);
			return buf;
		}
	snprintf(buf, len, "%s", name);
	return buf;
}

/* Drops a final '.', for sentences that get more words. */
void chop_period(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '.' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* ---- the reply, sentence by sentence -------------------------------------------- */

void say(struct turn *t, int prio, const char *fmt, ...)
{
	struct part *p;
	va_list ap;

	if (t->n_parts == PARTS_MAX)
		return;
	p = &t->parts[t->n_parts];
	va_start(ap, fmt);
	vsnprintf(p->text, sizeof(p->text), fmt, ap);
	va_end(ap);
	if (!p->text[0])
		return;
	p->prio = prio;
	p->question = strchr(p->text, '?') != NULL;
	t->n_parts++;
}

static bool asked(const struct turn *t)
{
	for (unsigned i = 0; i < t->n_parts; i++)
		if (t->parts[i].question)
			return true;
	return false;
}

/* Does a sentence said so far this turn name it? */
bool named_yet(const struct turn *t, const char *name)
{
	for (unsigned i = 0; i < t->n_parts; i++)
		if (strcasestr(t->parts[i].text, name))
			return true;
	return false;
}

/* Ask one question, unless one is already asked this reply. */
bool ask(struct turn *t, const char *q)
{
	if (asked(t) || !q || !*q)
		return false;
	say(t, 0, "%s", q);
	return true;
}

void talking_point(struct turn *t, const char *fmt, ...)
{
	va_list ap;

	if (t->tp >= 3)
		return;
	va_start(ap, fmt);
	vsnprintf(t->out->talking_points[t->tp], sizeof(t->out->talking_points[0]), fmt, ap);
	va_end(ap);
	if (t->out->talking_points[t->tp][0])
		t->tp++;
}

void action(struct turn *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->out->next_best_action, sizeof(t->out->next_best_action), fmt, ap);
	va_end(ap);
}

void suggest(struct turn *t, const char *a, const char *b, const char *c)
{
	const char *v[3] = {a, b, c};

	for (int i = 0; i < 3; i++)
		snprintf(t->out->suggestions[i], sizeof(t->out->suggestions[0]), "%s",
			 v[i] ? v[i] : "");
}

void set_focus(struct turn *t, const char *id, bool card)
{
	const struct catalog_product *p = id ? catalog_product_find(t->cat, id) : NULL;

	if (!p)
		return;
	snprintf(t->m->focus, sizeof(t->m->focus), "%s", p->id);
	t->m->focus_category = (int)p->category;
	t->m->category = (int)p->category;
	id_add(t->m->presented, &t->m->n_presented, RESPONDER_MEMORY_PRODUCTS, p->id);
	if (card)
		snprintf(t->out->card_product, sizeof(t->out->card_product), "%s", p->id);
	snprintf(t->salt, sizeof(t->salt), "%s", p->id);
}

/* A promotion said this turn: remembered, so "how long does that last?" is about it. */
void promo_said(struct turn *t, const char *id)
{
	id_add(t->m->promos_said, &t->m->n_promos_said, RESPONDER_MEMORY_OFFERS, id);
	t->m->promo_turn = t->in->turn;
}
