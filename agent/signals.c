#include "agent/signals.h"
#include "agent/conf_lines.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const signal_names[SIGNAL_COUNT] = {
    [SIGNAL_PRODUCT_INTEREST] = "product_interest",
    [SIGNAL_OBJECTION] = "objection",
    [SIGNAL_COMPARISON] = "comparison",
    [SIGNAL_CLOSING] = "closing",
    [SIGNAL_SMALL_TALK] = "small_talk",
    [SIGNAL_COMPLAINT] = "complaint",
    [SIGNAL_SCOPE_BOUNDARY] = "scope_boundary",
};

const char *signals_name(enum signal s)
{
	if ((unsigned)s >= SIGNAL_COUNT)
		return NULL;
	return signal_names[s];
}

int signals_from_name(const char *name, enum signal *ret)
{
	for (int i = 0; i < SIGNAL_COUNT; i++)
		if (strcmp(name, signal_names[i]) == 0) {
			*ret = (enum signal)i;
			return 0;
		}
	return -EINVAL;
}

static int fail(struct signals_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct signals_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- tokenizer ----------------------------------------------------------- */

struct tok {
	uint32_t off; /* into the normalised buffer */
	uint16_t len;
	uint8_t brk;  /* a clause break comes right before this word */
	uint8_t neg;  /* this word is a negation */
	uint8_t stop; /* this word ends a negation's reach ("but") */
	uint16_t clause;
	uint32_t hash;
};

enum cls { C_SPACE, C_WORD, C_DROP, C_BREAK };

static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/*
 * Classifies the character at in[i]; *adv is how many bytes it takes. Only a
 * few UTF-8 punctuation marks are folded; other non-ASCII bytes are word bytes.
 */
static enum cls classify(const unsigned char *in, size_t i, size_t n, size_t *adv)
{
	unsigned char c = in[i];

	*adv = 1;
	if (c >= 'a' && c <= 'z')
		return C_WORD;
	if (c >= 'A' && c <= 'Z')
		return C_WORD;
	if (c >= '0' && c <= '9')
		return C_WORD;
	if (c == '\'' || c == '`')
		return C_DROP;
	if (c == '.' || c == ',') {
		/* 3.5 and 1,000 stay one number */
		if (i > 0 && i + 1 < n && isdigit(in[i - 1]) && isdigit(in[i + 1]))
			return c == '.' ? C_WORD : C_DROP;
		return C_BREAK;
	}
	if (c == ';' || c == ':' || c == '!' || c == '?' || c == '(' || c == ')' || c == '\n' ||
	    c == '[' || c == ']' || c == '{' || c == '}')
		return C_BREAK;
	if (c < 0x80)
		return C_SPACE;
	if (c == 0xC2 && i + 1 < n && in[i + 1] == 0xA0) { /* no-break space */
		*adv = 2;
		return C_SPACE;
	}
	if (c == 0xE2 && i + 2 < n && in[i + 1] == 0x80) {
		unsigned char d = in[i + 2];

		*adv = 3;
		if (d == 0x98 || d == 0x99) /* ‘ ’ */
			return C_DROP;
		if (d == 0x9C || d == 0x9D) /* “ ” */
			return C_SPACE;
		if (d == 0x93 || d == 0x94 || d == 0xA6) /* – — … */
			return C_BREAK;
		*adv = 1;
	}
	return C_WORD;
}

/*
 * Splits in into words, written to buf separated by single spaces (buf needs
 * inlen + 1 bytes; the output is never longer than the input). Returns the
 * number of words, or -E2BIG past maxtoks.
 */
static int tokenize(const char *in, size_t inlen, char *buf, struct tok *toks, unsigned maxtoks)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t i = 0, o = 0, adv;
	unsigned n = 0;
	bool in_word = false, pending_break = false;
	uint16_t clause = 0;

	while (i < inlen) {
		enum cls c = classify(u, i, inlen, &adv);

		switch (c) {
		case C_WORD:
			if (!in_word) {
				if (n == maxtoks)
					return -E2BIG;
				if (n > 0)
					buf[o++] = ' ';
				clause += pending_break;
				toks[n].off = (uint32_t)o;
				toks[n].len = 0;
				toks[n].clause = clause;
				toks[n].brk = pending_break;
				toks[n].neg = toks[n].stop = 0;
				pending_break = false;
				in_word = true;
				n++;
			}
			for (size_t k = 0; k < adv; k++) {
				unsigned char ch = u[i + k];

				buf[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
				toks[n - 1].len++;
			}
			break;
		case C_DROP:
			break; /* "don't" -> "dont": the word goes on */
		case C_BREAK:
			pending_break = true;
			in_word = false;
			break;
		case C_SPACE:
			in_word = false;
			break;
		}
		i += adv;
	}
	buf[o] = '\0';
	for (unsigned k = 0; k < n; k++)
		toks[k].hash = fnv1a(buf + toks[k].off, toks[k].len);
	return (int)n;
}

int signals_normalize(const char *in, size_t inlen, char *out, size_t len)
{
	char buf[SIGNALS_MAX_TEXT + 1];
	struct tok toks[SIGNALS_MAX_TOKENS];
	size_t o = 0;
	int n;

	if (!in || !out || len == 0)
		return -EINVAL;
	if (inlen > SIGNALS_MAX_TEXT)
		return -E2BIG;
	n = tokenize(in, inlen, buf, toks, SIGNALS_MAX_TOKENS);
	if (n < 0)
		return n;
	for (int k = 0; k < n; k++) {
		const char *sep = k == 0 ? "" : toks[k].brk ? " , " : " ";
		size_t sl = strlen(sep);

		if (o + sl + toks[k].len + 1 > len)
			return -E2BIG;
		memcpy(out + o, sep, sl);
		o += sl;
		memcpy(out + o, buf + toks[k].off, toks[k].len);
		o += toks[k].len;
	}
	out[o] = '\0';
	return (int)o;
}

/*
 * A phrase normalised for matching: its words joined by single spaces.
 * Returns the number of words, 0 for none, -EINVAL for a clause break inside,
 * -E2BIG past SIGNALS_MAX_PHRASE_WORDS or SIGNALS_MAX_PHRASE bytes.
 */
static int phrase_norm(const char *phrase, char *out, size_t outlen)
{
	struct tok toks[SIGNALS_MAX_PHRASE_WORDS + 1];
	size_t len = strlen(phrase);
	int n;

	if (len >= SIGNALS_MAX_PHRASE || outlen < len + 1)
		return -E2BIG;
	n = tokenize(phrase, len, out, toks, SIGNALS_MAX_PHRASE_WORDS + 1);
	if (n < 0 || n > SIGNALS_MAX_PHRASE_WORDS)
		return -E2BIG;
	for (int k = 1; k < n; k++)
		if (toks[k].brk)
			return -EINVAL;
	return n;
}

/* ---- lexicon ------------------------------------------------------------- */

struct lex_term {
	enum signal_term kind;
	char *id;
	char *phrase; /* normalised */
	uint8_t nwords;
};

struct signals_lexicon {
	struct lex_term *terms;
	size_t n, cap;
};

int signals_lexicon_new(struct signals_lexicon **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

void signals_lexicon_free(struct signals_lexicon *lex)
{
	if (!lex)
		return;
	for (size_t i = 0; i < lex->n; i++) {
		free(lex->terms[i].id);
		free(lex->terms[i].phrase);
	}
	free(lex->terms);
	free(lex);
}

size_t signals_lexicon_count(const struct signals_lexicon *lex)
{
	return lex ? lex->n : 0;
}

int signals_lexicon_add(struct signals_lexicon *lex, enum signal_term kind, const char *id,
			const char *phrase)
{
	char norm[SIGNALS_MAX_PHRASE];
	struct lex_term *t;
	int n;

	if (!lex || !id || !phrase)
		return -EINVAL;
	if (kind != SIGNAL_TERM_PRODUCT && kind != SIGNAL_TERM_COMPETITOR &&
	    kind != SIGNAL_TERM_TAG)
		return -EINVAL;
	if (!*id || strlen(id) >= SIGNALS_MAX_ID)
		return -EINVAL;
	n = phrase_norm(phrase, norm, sizeof(norm));
	if (n == -E2BIG && strlen(phrase) >= SIGNALS_MAX_PHRASE)
		return -E2BIG;
	if (n <= 0)
		return -EINVAL;
	for (size_t i = 0; i < lex->n; i++)
		if (lex->terms[i].kind == kind && strcmp(lex->terms[i].id, id) == 0 &&
		    strcmp(lex->terms[i].phrase, norm) == 0)
			return 0;
	if (lex->n == SIGNALS_MAX_TERMS)
		return -E2BIG;
	if (lex->n == lex->cap) {
		size_t cap = lex->cap ? lex->cap * 2 : 64;
		struct lex_term *grown = realloc(lex->terms, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		lex->terms = grown;
		lex->cap = cap;
	}
	t = &lex->terms[lex->n];
	t->kind = kind;
	t->nwords = (uint8_t)n;
	t->id = strdup(id);
	t->phrase = strdup(norm);
	if (!t->id || !t->phrase) {
		free(t->id);
		free(t->phrase);
		return -ENOMEM;
	}
	lex->n++;
	return 0;
}

/* ---- detector ------------------------------------------------------------ */

enum ph_kind { PH_CUE, PH_PRODUCT, PH_COMPETITOR, PH_TAG, PH_NEGATION, PH_STOP };

struct phrase {
	char *text;	/* normalised words, owned */
	const char *id; /* terms: the id (owned, in ids); cues: text */
	uint32_t first_hash;
	uint16_t len; /* strlen(text) */
	uint8_t nwords;
	uint8_t kind;
	uint8_t signal;
	uint8_t after_offer;
	int line; /* config line, 0 for lexicon terms */
	int32_t next;
};

struct signals_detector {
	struct phrase *ph;
	size_t n, cap;
	char **ids; /* owned term ids */
	size_t nids;
	int32_t *buckets;
	uint32_t mask;
	unsigned negation_window;
	size_t cues[SIGNAL_COUNT];
	size_t ncues;
};

void signals_detector_free(struct signals_detector *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->ph[i].text);
	for (size_t i = 0; i < d->nids; i++)
		free(d->ids[i]);
	free(d->ids);
	free(d->ph);
	free(d->buckets);
	free(d);
}

size_t signals_cue_count(const struct signals_detector *d, enum signal s)
{
	if (!d || (unsigned)s >= SIGNAL_COUNT)
		return 0;
	return d->cues[s];
}

static int add_phrase(struct signals_detector *d, enum ph_kind kind, int signal, bool after_offer,
		      const char *norm, int nwords, const char *id, int line)
{
	struct phrase *p;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct phrase *grown = realloc(d->ph, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		d->ph = grown;
		d->cap = cap;
	}
	p = &d->ph[d->n];
	memset(p, 0, sizeof(*p));
	p->text = strdup(norm);
	if (!p->text)
		return -ENOMEM;
	p->len = (uint16_t)strlen(norm);
	p->nwords = (uint8_t)nwords;
	p->kind = (uint8_t)kind;
	p->signal = (uint8_t)(signal < 0 ? 0 : signal);
	p->after_offer = after_offer;
	p->id = id ? id : p->text;
	p->line = line;
	p->first_hash = fnv1a(norm, strcspn(norm, " "));
	d->n++;
	return 0;
}

/* ---- config file ----------------------------------------------------------- */

enum sect { S_NONE, S_SETTINGS, S_NEGATION, S_CLAUSE_BREAK, S_SIGNAL };

struct load_state {
	const char *name;
	struct signals_detector *d;
	enum sect sect;
	int signal;
	int section_line[SIGNAL_COUNT];
	struct signals_error *err;
};

static int find_cue(const struct signals_detector *d, int signal, bool after_offer,
		    const char *norm)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->ph[i].kind == PH_CUE && d->ph[i].signal == signal &&
		    d->ph[i].after_offer == after_offer && strcmp(d->ph[i].text, norm) == 0)
			return d->ph[i].line;
	return 0;
}

static int find_word(const struct signals_detector *d, enum ph_kind kind, const char *norm)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->ph[i].kind == kind && strcmp(d->ph[i].text, norm) == 0)
			return d->ph[i].line;
	return 0;
}

static int section_begin(void *ctx, int line, const char *s)
{
	struct load_state *st = ctx;
	struct signals_error *err = st->err;
	enum signal sig;

	st->signal = -1;
	if (strcmp(s, "settings") == 0)
		st->sect = S_SETTINGS;
	else if (strcmp(s, "negation") == 0)
		st->sect = S_NEGATION;
	else if (strcmp(s, "clause_break") == 0)
		st->sect = S_CLAUSE_BREAK;
	else if (signals_from_name(s, &sig) == 0) {
		if (st->section_line[sig])
			return fail(
			    err, -EINVAL,
			    "%s:%d: section [%s] appears twice (first on line %d); merge them",
			    st->name, line, s, st->section_line[sig]);
		st->section_line[sig] = line;
		st->sect = S_SIGNAL;
		st->signal = sig;
	} else
		return fail(err, -EINVAL,
			    "%s:%d: unknown section [%s]; expected [settings], [negation], "
			    "[clause_break] or a signal: product_interest, objection, comparison, "
			    "closing, small_talk, complaint, scope_boundary",
			    st->name, line, s);
	return 0;
}

static int entry(void *ctx, int line, const char *key, char *value)
{
	struct load_state *st = ctx;
	struct signals_error *err = st->err;
	struct signals_detector *d = st->d;
	char norm[SIGNALS_MAX_PHRASE];
	bool after_offer;
	int n, prev;

	switch (st->sect) {
	case S_NONE: /* conf_lines_each() refuses an entry before any section */
		return -EINVAL;
	case S_SETTINGS: {
		char *end;
		long v;

		if (strcmp(key, "negation_window") != 0)
			return fail(err, -EINVAL,
				    "%s:%d: [settings] %s: unknown key; the only setting is "
				    "negation_window",
				    st->name, line, key);
		v = strtol(value, &end, 10);
		if (end == value || *end || v < 0 || v > SIGNALS_MAX_PHRASE_WORDS)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [settings] negation_window: expected a whole number from "
			    "0 to %d (words before a cue a negation reaches), got '%s'",
			    st->name, line, SIGNALS_MAX_PHRASE_WORDS, value);
		d->negation_window = (unsigned)v;
		return 0;
	}
	case S_NEGATION:
	case S_CLAUSE_BREAK: {
		const char *sect = st->sect == S_NEGATION ? "negation" : "clause_break";
		enum ph_kind kind = st->sect == S_NEGATION ? PH_NEGATION : PH_STOP;

		if (strcmp(key, "word") != 0)
			return fail(err, -EINVAL,
				    "%s:%d: [%s] %s: unknown key; expected 'word = ...'", st->name,
				    line, sect, key);
		n = phrase_norm(value, norm, sizeof(norm));
		if (n != 1)
			return fail(err, -EINVAL,
				    "%s:%d: [%s] word: expected one word, got '%s'; list each word "
				    "on its own line",
				    st->name, line, sect, value);
		prev = find_word(d, kind, norm);
		if (prev)
			return fail(err, -EINVAL,
				    "%s:%d: [%s] word '%s' is already listed on line %d; remove "
				    "one",
				    st->name, line, sect, value, prev);
		return add_phrase(d, kind, -1, false, norm, 1, NULL, line) < 0
			   ? fail(err, -ENOMEM, "%s: out of memory", st->name)
			   : 0;
	}
	case S_SIGNAL:
		if (strcmp(key, "cue") == 0)
			after_offer = false;
		else if (strcmp(key, "after_offer") == 0)
			after_offer = true;
		else
			return fail(err, -EINVAL,
				    "%s:%d: [%s] %s: unknown key; expected 'cue = phrase' or "
				    "'after_offer = phrase'",
				    st->name, line, signal_names[st->signal], key);
		n = phrase_norm(value, norm, sizeof(norm));
		if (n == 0)
			return fail(err, -EINVAL, "%s:%d: [%s] %s: the phrase has no words",
				    st->name, line, signal_names[st->signal], key);
		if (n == -EINVAL)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [%s] %s: '%s' has punctuation that ends a clause (. , ; "
			    ": ! ?) inside it, so it could never match; remove it",
			    st->name, line, signal_names[st->signal], key, value);
		if (n < 0)
			return fail(err, -EINVAL,
				    "%s:%d: [%s] %s: '%s' is longer than %d words or %d bytes; "
				    "shorten it",
				    st->name, line, signal_names[st->signal], key, value,
				    SIGNALS_MAX_PHRASE_WORDS, SIGNALS_MAX_PHRASE - 1);
		prev = find_cue(d, st->signal, after_offer, norm);
		if (prev)
			return fail(err, -EINVAL,
				    "%s:%d: [%s] '%s' is already a cue on line %d; remove one",
				    st->name, line, signal_names[st->signal], value, prev);
		if (d->ncues >= SIGNALS_MAX_CUES)
			return fail(err, -E2BIG, "%s:%d: more than %d cues; keep the lists short",
				    st->name, line, SIGNALS_MAX_CUES);
		if (add_phrase(d, PH_CUE, st->signal, after_offer, norm, n, NULL, line) < 0)
			return fail(err, -ENOMEM, "%s: out of memory", st->name);
		d->cues[st->signal]++;
		d->ncues++;
		return 0;
	}
	return -EINVAL;
}

static const struct conf_lines_ops conf_ops = {
    .max_line = SIGNALS_CONF_MAX_LINE,
    .section_example = "objection",
    .long_line_hint = "; split it",
    .section = section_begin,
    .entry = entry,
};

static int add_lexicon(struct signals_detector *d, const struct signals_lexicon *lex)
{
	if (!lex || lex->n == 0)
		return 0;
	d->ids = calloc(lex->n, sizeof(*d->ids));
	if (!d->ids)
		return -ENOMEM;
	for (size_t i = 0; i < lex->n; i++) {
		const struct lex_term *t = &lex->terms[i];
		enum ph_kind kind = t->kind == SIGNAL_TERM_PRODUCT	? PH_PRODUCT
				    : t->kind == SIGNAL_TERM_COMPETITOR ? PH_COMPETITOR
									: PH_TAG;

		d->ids[i] = strdup(t->id);
		if (!d->ids[i])
			return -ENOMEM;
		d->nids++;
		if (add_phrase(d, kind, -1, false, t->phrase, t->nwords, d->ids[i], 0) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int build_index(struct signals_detector *d)
{
	uint32_t size = 64;

	while (size < d->n * 2)
		size *= 2;
	d->buckets = malloc(size * sizeof(*d->buckets));
	if (!d->buckets)
		return -ENOMEM;
	for (uint32_t i = 0; i < size; i++)
		d->buckets[i] = -1;
	d->mask = size - 1;
	/* Insert backwards so each chain lists phrases in file order. */
	for (size_t i = d->n; i > 0; i--) {
		struct phrase *p = &d->ph[i - 1];
		uint32_t b = p->first_hash & d->mask;

		p->next = d->buckets[b];
		d->buckets[b] = (int32_t)(i - 1);
	}
	return 0;
}

int signals_detector_new_string(const char *name, const char *text,
				const struct signals_lexicon *lex, struct signals_detector **ret,
				struct signals_error *err)
{
	struct load_state st = {.name = name, .signal = -1, .err = err};
	struct signals_detector *d;
	int rc;

	*ret = NULL;
	if (strlen(text) > SIGNALS_CONF_MAX_BYTES)
		return fail(err, -EFBIG,
			    "%s: larger than %d bytes; a cue file this size is a mistake", name,
			    SIGNALS_CONF_MAX_BYTES);
	d = calloc(1, sizeof(*d));
	if (!d)
		return fail(err, -ENOMEM, "%s: out of memory", name);
	d->negation_window = 3;
	st.d = d;
	rc = conf_lines_each(&conf_ops, name, text, &st, err ? err->msg : NULL,
			     err ? sizeof(err->msg) : 0);
	if (rc < 0)
		goto free_detector;
	for (int s = 0; s < SIGNAL_COUNT; s++)
		if (d->cues[s] == 0) {
			rc = fail(
			    err, -EINVAL,
			    "%s: signal '%s' has no cues; add a [%s] section with at least one "
			    "'cue = phrase'",
			    name, signal_names[s], signal_names[s]);
			goto free_detector;
		}
	rc = add_lexicon(d, lex);
	if (rc < 0) {
		fail(err, rc, "%s: out of memory", name);
		goto free_detector;
	}
	rc = build_index(d);
	if (rc < 0) {
		fail(err, rc, "%s: out of memory", name);
		goto free_detector;
	}
	*ret = d;
	return 0;

free_detector:
	signals_detector_free(d);
	return rc;
}

int signals_detector_new(const char *conf_path, const struct signals_lexicon *lex,
			 struct signals_detector **ret, struct signals_error *err)
{
	struct stat st;
	char *text;
	FILE *f;
	int rc;

	*ret = NULL;
	f = fopen(conf_path, "r");
	if (!f)
		return fail(err, -errno, "%s: cannot open: %s", conf_path, strerror(errno));
	if (fstat(fileno(f), &st) < 0) {
		rc = fail(err, -errno, "%s: cannot stat: %s", conf_path, strerror(errno));
		goto close_file;
	}
	if (st.st_size > SIGNALS_CONF_MAX_BYTES) {
		rc =
		    fail(err, -EFBIG, "%s: larger than %d bytes; a cue file this size is a mistake",
			 conf_path, SIGNALS_CONF_MAX_BYTES);
		goto close_file;
	}
	text = calloc(1, (size_t)st.st_size + 1);
	if (!text) {
		rc = fail(err, -ENOMEM, "%s: out of memory", conf_path);
		goto close_file;
	}
	if (fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		rc = fail(err, -EIO, "%s: short read", conf_path);
		goto free_text;
	}
	if (memchr(text, '\0', (size_t)st.st_size)) {
		rc = fail(err, -EINVAL, "%s: contains a NUL byte; is this a text file?", conf_path);
		goto free_text;
	}
	rc = signals_detector_new_string(conf_path, text, lex, ret, err);
free_text:
	free(text);
close_file:
	fclose(f);
	return rc;
}

/* ---- detection ------------------------------------------------------------- */

#define MAX_MATCHES 512

struct match {
	const struct phrase *p;
	uint16_t start, end; /* words [start, end) */
	uint16_t clause;
	bool dead, negated;
};

static bool add_unique(const char **list, unsigned *n, unsigned cap, const char *s,
		       unsigned *overflow)
{
	for (unsigned i = 0; i < *n && i < cap; i++)
		if (list[i] == s || strcmp(list[i], s) == 0)
			return false;
	if (*n == cap) {
		(*overflow)++;
		return false;
	}
	list[(*n)++] = s;
	return true;
}

static bool offer_on_table(const struct signals_context *ctx)
{
	if (!ctx)
		return false;
	if (ctx->focus_product && *ctx->focus_product)
		return true;
	switch (ctx->state) {
	case AGENT_STATE_PRESENTING:
	case AGENT_STATE_OBJECTION:
	case AGENT_STATE_CLOSING:
		return true;
	case AGENT_STATE_IDLE:
	case AGENT_STATE_APPROACHING:
	case AGENT_STATE_GREETING:
	case AGENT_STATE_DISCOVERY:
	case AGENT_STATE_HANDED_OVER:
	case AGENT_STATE_FAREWELL:
		return false;
	}
	return false;
}

/* Is the phrase starting at word start cancelled by a negation shortly before it? */
static bool negated(const struct tok *toks, unsigned start, unsigned window)
{
	for (unsigned k = start, seen = 0; k > 0 && seen < window; k--, seen++) {
		if (toks[k].brk)
			return false;
		if (toks[k - 1].stop)
			return false;
		if (toks[k - 1].neg)
			return true;
	}
	return false;
}

/*
 * Does match b make match a give way? b must strictly contain a. Cues give way
 * to any longer cue ("no thanks" is not "thanks") and to a product or
 * competitor name around them ("tv" in "family tv": the name is the better
 * evidence, and its negation must not leave the cue behind); terms give way
 * only to longer terms of their kind ("family tv max" is not "family tv").
 */
static bool gives_way(const struct match *a, const struct match *b)
{
	if (b->start > a->start || b->end < a->end || b->end - b->start <= a->end - a->start)
		return false;
	if (a->p->kind == PH_CUE)
		return b->p->kind == PH_CUE || b->p->kind == PH_PRODUCT ||
		       b->p->kind == PH_COMPETITOR;
	return a->p->kind == b->p->kind;
}

int signals_detect(const struct signals_detector *d, const char *text, size_t len,
		   const struct signals_context *ctx, struct signals_result *ret)
{
	char buf[SIGNALS_MAX_TEXT + 1];
	struct tok toks[SIGNALS_MAX_TOKENS];
	struct match m[MAX_MATCHES];
	unsigned nm = 0, overflow = 0;
	bool offer;
	int n;

	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!d || (!text && len))
		return -EINVAL;
	if (len > SIGNALS_MAX_TEXT)
		return -E2BIG;
	n = tokenize(text ? text : "", len, buf, toks, SIGNALS_MAX_TOKENS);
	if (n < 0)
		return n;
	ret->n_words = (unsigned)n;
	offer = offer_on_table(ctx);

	/* Pass 1: every phrase that matches at every word. */
	for (unsigned i = 0; i < (unsigned)n; i++) {
		for (int32_t j = d->buckets[toks[i].hash & d->mask]; j >= 0; j = d->ph[j].next) {
			const struct phrase *p = &d->ph[j];
			unsigned last = i + p->nwords - 1;
			bool broken = false;

			if (p->first_hash != toks[i].hash || last >= (unsigned)n)
				continue;
			if (toks[last].off + toks[last].len - toks[i].off != p->len ||
			    memcmp(buf + toks[i].off, p->text, p->len) != 0)
				continue;
			for (unsigned k = i + 1; k <= last; k++)
				broken |= toks[k].brk;
			if (broken)
				continue;
			if (p->kind == PH_NEGATION) {
				toks[i].neg = 1;
				continue;
			}
			if (p->kind == PH_STOP) {
				toks[i].stop = 1;
				continue;
			}
			if (p->kind == PH_CUE && p->after_offer && !offer)
				continue;
			if (nm == MAX_MATCHES) {
				overflow++;
				continue;
			}
			m[nm].p = p;
			m[nm].start = (uint16_t)i;
			m[nm].end = (uint16_t)(last + 1);
			m[nm].clause = toks[i].clause;
			m[nm].dead = m[nm].negated = false;
			nm++;
		}
	}

	/* Pass 2: the longer match wins. */
	for (unsigned a = 0; a < nm; a++)
		for (unsigned b = 0; b < nm && !m[a].dead; b++)
			if (a != b && gives_way(&m[a], &m[b]))
				m[a].dead = true;

	/* Pass 3: negation. Competitor names are comparison shopping even when
	 * negated ("I'm not with Crestel any more"). */
	for (unsigned a = 0; a < nm; a++)
		if (!m[a].dead && m[a].p->kind != PH_COMPETITOR)
			m[a].negated = negated(toks, m[a].start, d->negation_window);

	/* Pass 4: a bare yes next to a doubt is not a yes. An after_offer
	 * closing cue ("ok", "sounds good", "yes") gives way when the same
	 * message objects or compares: "sounds good but I need to ask my wife",
	 * "ok what about something cheaper", "yes still thinking, we pay for
	 * StreamMax": it answers the question, it does not take the offer. */
	for (unsigned a = 0; a < nm; a++) {
		const struct phrase *p = m[a].p;

		if (m[a].dead || m[a].negated)
			continue;
		if (p->kind == PH_COMPETITOR ||
		    (p->kind == PH_CUE &&
		     (p->signal == SIGNAL_OBJECTION || p->signal == SIGNAL_COMPARISON))) {
			for (unsigned b = 0; b < nm; b++)
				if (m[b].p->kind == PH_CUE && m[b].p->after_offer &&
				    m[b].p->signal == SIGNAL_CLOSING)
					m[b].dead = true;
			break;
		}
	}

	/* Pass 5: the evidence. */
	for (unsigned a = 0; a < nm; a++) {
		const struct phrase *p = m[a].p;
		struct signals_evidence *ev;
		int signal = p->signal;

		if (m[a].dead)
			continue;
		if (m[a].negated) {
			add_unique(ret->negated, &ret->n_negated, SIGNALS_MAX_EVIDENCE, p->text,
				   &ret->overflow);
			continue;
		}
		/* Anger at a competitor ("Crestel is terrible") is a reason to switch,
		 * not a service-recovery case: it counts for comparison. */
		if (p->kind == PH_CUE && signal == SIGNAL_COMPLAINT)
			for (unsigned b = 0; b < nm; b++)
				if (!m[b].dead && !m[b].negated && m[b].clause == m[a].clause &&
				    (m[b].p->kind == PH_COMPETITOR ||
				     (m[b].p->kind == PH_CUE &&
				      m[b].p->signal == SIGNAL_COMPARISON)))
					signal = SIGNAL_COMPARISON;
		switch ((enum ph_kind)p->kind) {
		case PH_CUE:
			ret->mask |= SIGNAL_BIT(signal);
			ev = &ret->ev[signal];
			add_unique(ev->cues, &ev->n_cues, SIGNALS_MAX_EVIDENCE, p->text,
				   &ev->overflow);
			if (p->after_offer && ctx && ctx->focus_product && *ctx->focus_product)
				add_unique(ev->ids, &ev->n_ids, SIGNALS_MAX_EVIDENCE,
					   ctx->focus_product, &ev->overflow);
			break;
		case PH_PRODUCT:
			ret->mask |= SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST);
			ev = &ret->ev[SIGNAL_PRODUCT_INTEREST];
			add_unique(ev->ids, &ev->n_ids, SIGNALS_MAX_EVIDENCE, p->id, &ev->overflow);
			add_unique(ret->products, &ret->n_products, SIGNALS_MAX_EVIDENCE, p->id,
				   &ret->overflow);
			break;
		case PH_COMPETITOR:
			ret->mask |= SIGNAL_BIT(SIGNAL_COMPARISON);
			ev = &ret->ev[SIGNAL_COMPARISON];
			add_unique(ev->ids, &ev->n_ids, SIGNALS_MAX_EVIDENCE, p->id, &ev->overflow);
			add_unique(ret->competitors, &ret->n_competitors, SIGNALS_MAX_EVIDENCE,
				   p->id, &ret->overflow);
			break;
		case PH_TAG:
			add_unique(ret->tags, &ret->n_tags, SIGNALS_MAX_TAGS, p->id,
				   &ret->overflow);
			break;
		case PH_NEGATION:
		case PH_STOP:
			break;
		}
	}
	ret->overflow += overflow;
	return 0;
}

bool signals_has_evidence(const struct signals_result *r, enum signal s, const char *cue_or_id)
{
	const struct signals_evidence *ev;

	if (!r || !cue_or_id || (unsigned)s >= SIGNAL_COUNT)
		return false;
	ev = &r->ev[s];
	for (unsigned i = 0; i < ev->n_cues; i++)
		if (strcmp(ev->cues[i], cue_or_id) == 0)
			return true;
	for (unsigned i = 0; i < ev->n_ids; i++)
		if (strcmp(ev->ids[i], cue_or_id) == 0)
			return true;
	return false;
}
