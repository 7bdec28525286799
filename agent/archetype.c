#include "agent/archetype.h"
#include "agent/conf_lines.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const tier_names[ARCHETYPE_TIER_COUNT] = {
    [ARCHETYPE_TIER_SERVICE_RECOVERY] = "service_recovery",
    [ARCHETYPE_TIER_HIGH] = "high",
    [ARCHETYPE_TIER_MEDIUM] = "medium",
    [ARCHETYPE_TIER_LOW] = "low",
};

static const char *const fact_names[ARCHETYPE_FACT_COUNT] = {
    [ARCHETYPE_FACT_RETURNING] = "returning",
    [ARCHETYPE_FACT_HAS_CONTRACT] = "has_contract",
    [ARCHETYPE_FACT_ACCOMPANIED] = "accompanied",
};

enum cue_kind { CUE_SIGNAL, CUE_PHRASE, CUE_FACT };

struct cue {
	enum cue_kind kind;
	int which;    /* signal or fact */
	char *phrase; /* normalised, for CUE_PHRASE */
	const char *label;
	int weight;
};

struct archetype {
	char id[ARCHETYPE_MAX_ID];
	char name[ARCHETYPE_MAX_NAME];
	int tier; /* -1 until set */
	char directive[ARCHETYPE_DIRECTIVE_LINES * (ARCHETYPE_MAX_DIRECTIVE_LINE * 4 + 1) + 1];
	unsigned directive_lines;
	struct cue cues[ARCHETYPE_MAX_CUES];
	unsigned ncues;
	int line;
};

struct archetype_set {
	struct archetype a[ARCHETYPE_MAX];
	size_t n;
	unsigned min_exchanges, decide_by;
	double min_score, switch_margin, decay;
	int def;
	char def_id[ARCHETYPE_MAX_ID];
	int def_line;
};

struct archetype_tracker {
	const struct archetype_set *set;
	double score[ARCHETYPE_MAX];
	int current;
	unsigned exchanges;
};

static int fail(struct archetype_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct archetype_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *archetype_tier_name(enum archetype_tier t)
{
	if ((unsigned)t >= ARCHETYPE_TIER_COUNT)
		return NULL;
	return tier_names[t];
}

void archetype_set_free(struct archetype_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		for (unsigned k = 0; k < set->a[i].ncues; k++)
			free(set->a[i].cues[k].phrase);
	free(set);
}

size_t archetype_count(const struct archetype_set *set)
{
	return set ? set->n : 0;
}

int archetype_find(const struct archetype_set *set, const char *id)
{
	if (!set || !id)
		return -EINVAL;
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->a[i].id, id) == 0)
			return (int)i;
	return -ENOENT;
}

const char *archetype_id(const struct archetype_set *set, size_t i)
{
	return set && i < set->n ? set->a[i].id : NULL;
}

const char *archetype_name(const struct archetype_set *set, size_t i)
{
	return set && i < set->n ? set->a[i].name : NULL;
}

enum archetype_tier archetype_tier(const struct archetype_set *set, size_t i)
{
	return set && i < set->n ? (enum archetype_tier)set->a[i].tier : ARCHETYPE_TIER_LOW;
}

const char *archetype_directive(const struct archetype_set *set, size_t i)
{
	return set && i < set->n ? set->a[i].directive : NULL;
}

/* ---- loading ---------------------------------------------------------------- */

struct load_state {
	const char *name;
	struct archetype_set *set;
	struct archetype *cur; /* NULL: in [settings] */
	bool in_settings;
	struct archetype_error *err;
};

static bool valid_id(const char *s)
{
	if (!*s || strlen(s) >= ARCHETYPE_MAX_ID)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '_')
			return false;
	return true;
}

static int parse_number(const char *v, double min, double max, double *ret)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < min || d > max)
		return -EINVAL;
	*ret = d;
	return 0;
}

static int setting(struct load_state *st, int line, const char *key, const char *value,
		   struct archetype_error *err)
{
	struct archetype_set *set = st->set;
	double d;

	if (strcmp(key, "default") == 0) {
		if (!valid_id(value))
			return fail(err, -EINVAL,
				    "%s:%d: [settings] default: expected an archetype id, got '%s'",
				    st->name, line, value);
		strcpy(set->def_id, value);
		set->def_line = line;
		return 0;
	}
	if (strcmp(key, "min_exchanges") == 0 || strcmp(key, "decide_by") == 0) {
		if (parse_number(value, 1, 10, &d) < 0 || d != floor(d))
			return fail(err, -EINVAL,
				    "%s:%d: [settings] %s: expected a whole number of customer "
				    "messages from 1 to 10, got '%s'",
				    st->name, line, key, value);
		if (key[0] == 'm')
			set->min_exchanges = (unsigned)d;
		else
			set->decide_by = (unsigned)d;
		return 0;
	}
	if (strcmp(key, "min_score") == 0 || strcmp(key, "switch_margin") == 0) {
		if (parse_number(value, 0, 1000, &d) < 0)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [settings] %s: expected a number from 0 to 1000, got '%s'",
			    st->name, line, key, value);
		if (key[0] == 'm')
			set->min_score = d;
		else
			set->switch_margin = d;
		return 0;
	}
	if (strcmp(key, "decay") == 0) {
		if (parse_number(value, 0.05, 1, &d) < 0)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [settings] decay: expected a number from 0.05 to 1 (how "
			    "much of the old evidence each message keeps), got '%s'",
			    st->name, line, value);
		set->decay = d;
		return 0;
	}
	return fail(err, -EINVAL,
		    "%s:%d: [settings] %s: unknown key; expected min_exchanges, decide_by, "
		    "min_score, switch_margin, decay or default",
		    st->name, line, key);
}

/* "words ... weight": splits off the trailing whole-number weight. */
static int split_weight(char *value, int *weight)
{
	char *sp = strrchr(value, ' '), *tab = strrchr(value, '\t'), *end;
	long w;

	if (tab > sp)
		sp = tab;
	if (!sp)
		return -EINVAL;
	w = strtol(sp + 1, &end, 10);
	if (end == sp + 1 || *end || w < -20 || w > 20 || w == 0)
		return -EINVAL;
	*sp = '\0';
	conf_lines_trim(value);
	*weight = (int)w;
	return *value ? 0 : -EINVAL;
}

static int cue(struct load_state *st, int line, const char *key, char *value,
	       struct archetype_error *err)
{
	struct archetype *a = st->cur;
	struct cue *c;
	enum signal sig;
	int weight, i;

	if (split_weight(value, &weight) < 0)
		return fail(err, -EINVAL,
			    "%s:%d: [archetype.%s] %s: expected '%s = <what> <weight>' with a "
			    "whole-number weight from -20 to 20 (not 0), got '%s'",
			    st->name, line, a->id, key, key, value);
	if (a->ncues == ARCHETYPE_MAX_CUES)
		return fail(err, -E2BIG, "%s:%d: [archetype.%s]: more than %d cues", st->name, line,
			    a->id, ARCHETYPE_MAX_CUES);
	c = &a->cues[a->ncues];
	memset(c, 0, sizeof(*c));
	c->weight = weight;
	if (strcmp(key, "signal") == 0) {
		if (signals_from_name(value, &sig) < 0)
			return fail(err, -EINVAL,
				    "%s:%d: [archetype.%s] signal: unknown signal '%s'; expected "
				    "product_interest, objection, comparison, closing, small_talk, "
				    "complaint or scope_boundary",
				    st->name, line, a->id, value);
		c->kind = CUE_SIGNAL;
		c->which = sig;
		c->label = signals_name(sig);
	} else if (strcmp(key, "fact") == 0) {
		for (i = 0; i < ARCHETYPE_FACT_COUNT; i++)
			if (strcmp(value, fact_names[i]) == 0)
				break;
		if (i == ARCHETYPE_FACT_COUNT)
			return fail(err, -EINVAL,
				    "%s:%d: [archetype.%s] fact: unknown fact '%s'; expected "
				    "returning, has_contract or accompanied",
				    st->name, line, a->id, value);
		c->kind = CUE_FACT;
		c->which = i;
		c->label = fact_names[i];
	} else {
		char norm[SIGNALS_MAX_PHRASE * 2];
		int n = signals_normalize(value, strlen(value), norm, sizeof(norm));

		int words = 1;

		for (int k = 0; k < n; k++)
			words += norm[k] == ' ';
		if (n <= 0 || strlen(value) >= SIGNALS_MAX_PHRASE || strchr(norm, ',') ||
		    words > SIGNALS_MAX_PHRASE_WORDS)
			return fail(err, -EINVAL,
				    "%s:%d: [archetype.%s] phrase: '%s' must be 1 to %d words "
				    "without . , ; : ! ?",
				    st->name, line, a->id, value, SIGNALS_MAX_PHRASE_WORDS);
		c->kind = CUE_PHRASE;
		c->phrase = strdup(norm);
		if (!c->phrase)
			return fail(err, -ENOMEM, "%s: out of memory", st->name);
		c->label = c->phrase;
	}
	a->ncues++;
	return 0;
}

static int arch_entry(struct load_state *st, int line, const char *key, char *value,
		      struct archetype_error *err)
{
	struct archetype *a = st->cur;
	size_t len;

	if (strcmp(key, "name") == 0) {
		if (!*value || strlen(value) >= ARCHETYPE_MAX_NAME)
			return fail(err, -EINVAL,
				    "%s:%d: [archetype.%s] name: expected 1 to %d characters",
				    st->name, line, a->id, ARCHETYPE_MAX_NAME - 1);
		strcpy(a->name, value);
		return 0;
	}
	if (strcmp(key, "tier") == 0) {
		for (int t = 0; t < ARCHETYPE_TIER_COUNT; t++)
			if (strcmp(value, tier_names[t]) == 0) {
				a->tier = t;
				return 0;
			}
		return fail(err, -EINVAL,
			    "%s:%d: [archetype.%s] tier: expected service_recovery, high, medium "
			    "or low, got '%s'",
			    st->name, line, a->id, value);
	}
	if (strcmp(key, "directive") == 0) {
		size_t chars = 0;

		for (const char *p = value; *p; p++)
			chars += ((unsigned char)*p & 0xC0) != 0x80;
		if (a->directive_lines == ARCHETYPE_DIRECTIVE_LINES)
			return fail(err, -EINVAL,
				    "%s:%d: [archetype.%s] directive: more than %d lines; a "
				    "directive is exactly %d lines",
				    st->name, line, a->id, ARCHETYPE_DIRECTIVE_LINES,
				    ARCHETYPE_DIRECTIVE_LINES);
		if (!*value || chars > ARCHETYPE_MAX_DIRECTIVE_LINE)
			return fail(err, -EINVAL,
				    "%s:%d: [archetype.%s] directive: expected 1 to %d characters",
				    st->name, line, a->id, ARCHETYPE_MAX_DIRECTIVE_LINE);
		len = strlen(a->directive);
		snprintf(a->directive + len, sizeof(a->directive) - len, "%s\n", value);
		a->directive_lines++;
		return 0;
	}
	if (strcmp(key, "signal") == 0 || strcmp(key, "phrase") == 0 || strcmp(key, "fact") == 0)
		return cue(st, line, key, value, err);
	return fail(err, -EINVAL,
		    "%s:%d: [archetype.%s] %s: unknown key; expected name, tier, signal, phrase, "
		    "fact or directive",
		    st->name, line, a->id, key);
}

static int section(void *ctx, int line, const char *s)
{
	struct load_state *st = ctx;
	struct archetype_error *err = st->err;
	struct archetype_set *set = st->set;
	struct archetype *a;
	int prev;

	if (strcmp(s, "settings") == 0) {
		st->cur = NULL;
		st->in_settings = true;
		return 0;
	}
	if (strncmp(s, "archetype.", 10) != 0 || !valid_id(s + 10))
		return fail(err, -EINVAL,
			    "%s:%d: unknown section [%s]; expected [settings] or [archetype.<id>] "
			    "with an id of a-z, 0-9 and '_'",
			    st->name, line, s);
	prev = archetype_find(set, s + 10);
	if (prev >= 0)
		return fail(err, -EINVAL, "%s:%d: [%s] is defined twice (first on line %d)",
			    st->name, line, s, set->a[prev].line);
	if (set->n == ARCHETYPE_MAX)
		return fail(err, -E2BIG, "%s:%d: more than %d archetypes", st->name, line,
			    ARCHETYPE_MAX);
	a = &set->a[set->n++];
	memset(a, 0, sizeof(*a));
	strcpy(a->id, s + 10);
	a->tier = -1;
	a->line = line;
	st->cur = a;
	st->in_settings = false;
	return 0;
}

/* conf_lines_each() calls this only after a section: [settings] or an archetype. */
static int entry(void *ctx, int line, const char *key, char *value)
{
	struct load_state *st = ctx;

	if (st->in_settings)
		return setting(st, line, key, value, st->err);
	return arch_entry(st, line, key, value, st->err);
}

static const struct conf_lines_ops conf_ops = {
    .max_line = ARCHETYPE_CONF_MAX_LINE,
    .section_example = "archetype.browser",
    .section = section,
    .entry = entry,
};

static int check(struct archetype_set *set, const char *name, struct archetype_error *err)
{
	if (set->n == 0)
		return fail(err, -EINVAL, "%s: no archetypes; define at least one [archetype.<id>]",
			    name);
	for (size_t i = 0; i < set->n; i++) {
		struct archetype *a = &set->a[i];

		if (!a->name[0])
			return fail(err, -EINVAL, "%s:%d: [archetype.%s] has no 'name ='", name,
				    a->line, a->id);
		if (a->tier < 0)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [archetype.%s] has no 'tier =' (service_recovery, high, "
			    "medium or low)",
			    name, a->line, a->id);
		if (a->directive_lines != ARCHETYPE_DIRECTIVE_LINES)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [archetype.%s] has %u directive lines; write exactly %d "
			    "'directive =' lines",
			    name, a->line, a->id, a->directive_lines, ARCHETYPE_DIRECTIVE_LINES);
		if (a->ncues == 0)
			return fail(err, -EINVAL,
				    "%s:%d: [archetype.%s] has no cues; add signal, phrase or fact "
				    "lines, or it can never be chosen",
				    name, a->line, a->id);
	}
	if (set->decide_by < set->min_exchanges)
		return fail(err, -EINVAL,
			    "%s: [settings] decide_by (%u) is below min_exchanges (%u)", name,
			    set->decide_by, set->min_exchanges);
	if (!set->def_id[0])
		return fail(err, -EINVAL,
			    "%s: [settings] default is missing; name the archetype to use when "
			    "nothing stands out by decide_by",
			    name);
	set->def = archetype_find(set, set->def_id);
	if (set->def < 0)
		return fail(err, -EINVAL, "%s:%d: [settings] default: no archetype '%s'", name,
			    set->def_line, set->def_id);
	if (set->a[set->def].tier == ARCHETYPE_TIER_SERVICE_RECOVERY)
		return fail(err, -EINVAL,
			    "%s:%d: [settings] default: '%s' is a service-recovery archetype; the "
			    "default must be one that evidence did not point at",
			    name, set->def_line, set->def_id);
	return 0;
}

int archetype_set_load_string(const char *name, const char *text, struct archetype_set **ret,
			      struct archetype_error *err)
{
	struct load_state st = {.name = name, .err = err};
	struct archetype_set *set;
	int rc;

	*ret = NULL;
	if (strlen(text) > ARCHETYPE_CONF_MAX_BYTES)
		return fail(err, -EFBIG, "%s: larger than %d bytes", name,
			    ARCHETYPE_CONF_MAX_BYTES);
	set = calloc(1, sizeof(*set));
	if (!set)
		return fail(err, -ENOMEM, "%s: out of memory", name);
	set->min_exchanges = 2;
	set->decide_by = 3;
	set->min_score = 4;
	set->switch_margin = 3;
	set->decay = 0.7;
	set->def = -1;
	st.set = set;
	rc = conf_lines_each(&conf_ops, name, text, &st, err ? err->msg : NULL,
			     err ? sizeof(err->msg) : 0);
	if (rc == 0)
		rc = check(set, name, err);
	if (rc < 0) {
		archetype_set_free(set);
		return rc;
	}
	*ret = set;
	return 0;
}

int archetype_set_load(const char *path, struct archetype_set **ret, struct archetype_error *err)
{
	struct stat st;
	char *text;
	FILE *f;
	int rc;

	*ret = NULL;
	f = fopen(path, "r");
	if (!f)
		return fail(err, -errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) < 0) {
		rc = fail(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
		goto close_file;
	}
	if (st.st_size > ARCHETYPE_CONF_MAX_BYTES) {
		rc = fail(err, -EFBIG, "%s: larger than %d bytes", path, ARCHETYPE_CONF_MAX_BYTES);
		goto close_file;
	}
	text = calloc(1, (size_t)st.st_size + 1);
	if (!text) {
		rc = fail(err, -ENOMEM, "%s: out of memory", path);
		goto close_file;
	}
	if (fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		rc = fail(err, -EIO, "%s: short read", path);
	else if (memchr(text, '\0', (size_t)st.st_size))
		rc = fail(err, -EINVAL, "%s: contains a NUL byte; is this a text file?", path);
	else
		rc = archetype_set_load_string(path, text, ret, err);
	free(text);
close_file:
	fclose(f);
	return rc;
}

int archetype_register_cues(const struct archetype_set *set, struct signals_lexicon *lex)
{
	int rc;

	if (!set || !lex)
		return -EINVAL;
	for (size_t i = 0; i < set->n; i++)
		for (unsigned k = 0; k < set->a[i].ncues; k++) {
			const struct cue *c = &set->a[i].cues[k];

			if (c->kind != CUE_PHRASE)
				continue;
			rc = signals_lexicon_add(lex, SIGNAL_TERM_TAG, c->phrase, c->phrase);
			if (rc < 0)
				return rc;
		}
	return 0;
}

/* ---- tracking --------------------------------------------------------------- */

int archetype_tracker_new(const struct archetype_set *set, struct archetype_tracker **ret)
{
	if (!ret)
		return -EINVAL;
	*ret = NULL;
	if (!set)
		return -EINVAL;
	*ret = calloc(1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	(*ret)->set = set;
	(*ret)->current = -1;
	return 0;
}

void archetype_tracker_free(struct archetype_tracker *t)
{
	free(t);
}

void archetype_tracker_reset(struct archetype_tracker *t)
{
	if (!t)
		return;
	memset(t->score, 0, sizeof(t->score));
	t->current = -1;
	t->exchanges = 0;
}

int archetype_current(const struct archetype_tracker *t)
{
	return t ? t->current : -1;
}

double archetype_score(const struct archetype_tracker *t, size_t i)
{
	return t && i < t->set->n ? t->score[i] : 0;
}

static bool has_tag(const struct signals_result *sig, const char *phrase)
{
	for (unsigned k = 0; sig && k < sig->n_tags; k++)
		if (strcmp(sig->tags[k], phrase) == 0)
			return true;
	return false;
}

/* Does a beat b? Higher score; on a tie the more urgent tier, then file order. */
static bool beats(const struct archetype_set *set, const double *score, int a, int b)
{
	if (b < 0)
		return true;
	if (score[a] != score[b])
		return score[a] > score[b];
	if (set->a[a].tier != set->a[b].tier)
		return set->a[a].tier < set->a[b].tier;
	return a < b;
}

int archetype_observe(struct archetype_tracker *t, const struct signals_result *sig, unsigned facts,
		      struct archetype_verdict *ret)
{
	const struct archetype_set *set;
	double turn[ARCHETYPE_MAX] = {0};
	const char *why[ARCHETYPE_MAX] = {0};
	int top_weight[ARCHETYPE_MAX] = {0};
	int leader = -1, sr = -1;

	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->current = ret->previous = -1;
	if (!t)
		return -EINVAL;
	set = t->set;
	t->exchanges++;
	for (size_t i = 0; i < set->n; i++) {
		const struct archetype *a = &set->a[i];

		for (unsigned k = 0; k < a->ncues; k++) {
			const struct cue *c = &a->cues[k];
			bool hit = false;

			switch (c->kind) {
			case CUE_SIGNAL:
				hit = sig && (sig->mask & SIGNAL_BIT(c->which));
				break;
			case CUE_PHRASE:
				hit = has_tag(sig, c->phrase);
				break;
			case CUE_FACT:
				hit = (facts & ARCHETYPE_FACT_BIT(c->which)) != 0;
				break;
			}
			if (!hit)
				continue;
			turn[i] += c->weight;
			if (c->weight > top_weight[i]) {
				top_weight[i] = c->weight;
				why[i] = c->label;
			}
		}
		t->score[i] = t->score[i] * set->decay + turn[i];
		if (t->score[i] < 0)
			t->score[i] = 0;
	}
	for (size_t i = 0; i < set->n; i++) {
		if (beats(set, t->score, (int)i, leader))
			leader = (int)i;
		if (set->a[i].tier == ARCHETYPE_TIER_SERVICE_RECOVERY &&
		    turn[i] >= set->min_score && (sr < 0 || turn[i] > turn[sr]))
			sr = (int)i;
	}

	ret->previous = t->current;
	if (sr >= 0) {
		/* Service recovery wins at once, from the first message. */
		t->current = sr;
	} else if (t->current < 0) {
		if (t->exchanges >= set->min_exchanges && t->score[leader] >= set->min_score)
			t->current = leader;
		else if (t->exchanges >= set->decide_by)
			/* a weak lead decides, but never into service recovery: one
			 * stray cue must not silence selling for a calm customer */
			t->current = t->score[leader] > 0 && (set->a[leader].tier !=
								  ARCHETYPE_TIER_SERVICE_RECOVERY ||
							      t->score[leader] >= set->min_score)
					 ? leader
					 : set->def;
	} else if (leader != t->current) {
		const struct archetype *cur = &set->a[t->current];
		bool held = cur->tier == ARCHETYPE_TIER_SERVICE_RECOVERY &&
			    t->score[t->current] >= set->min_score;

		if (!held && t->score[leader] >= set->min_score &&
		    t->score[leader] >= t->score[t->current] + set->switch_margin)
			t->current = leader;
	}
	ret->current = t->current;
	ret->changed = ret->current != ret->previous;
	ret->exchanges = t->exchanges;
	ret->reason = t->current >= 0 ? why[t->current] : NULL;
	return 0;
}
