/*
 * eval — loader, validator, checker, scoring and reports of edgebox-eval.
 * The scenario schema and the rules of every check are in docs/evals.md.
 */
#include "evals/eval.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/archetype.h"
#include "agent/catalog.h"
#include "agent/scope_guard.h"
#include "agent/signals.h"
#include "agent/skills.h"
#include "agent/state.h"
#include "agent/tools.h"
#include "evals/tune.h"
#include "hal/errmsg.h"
#include "hal/strbuf.h"

#define PATH_LEN 1024
#define KNOWN_MAX 1024	 /* bytes of a "known: ..." list in a message */
#define SUMMARY_MAX 4096 /* bytes of one turn's kiosk/staff/audit summary */
#define GOT_MAX 1200	 /* bytes of one check's "got" */
#define EXCERPT_MAX 160	 /* bytes of a reply quoted in a message */

/* ---- small helpers --------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Reads a whole regular file of at most max bytes, NUL-terminated. */
static int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc = 0;

	*ret = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	buf = malloc(max + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, max + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			free(buf);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > max) {
			rc = -EFBIG;
			free(buf);
			goto out;
		}
	}
	buf[got] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = got;
out:
	close(fd);
	return rc;
}

/* Levenshtein distance, for "did you mean". */
static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[EVAL_ID_MAX + 2];

	if (la > EVAL_ID_MAX || lb > EVAL_ID_MAX)
		return 1000;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned prev = row[0], tmp;

		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned best = prev + (a[i - 1] != b[j - 1]);

			tmp = row[j];
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* A list of names for messages: "known: a, b, c" and a "did you mean" when
 * one is close. names(i) returns NULL past the end. */
typedef const char *(*name_at_fn)(const void *ctx, size_t i);

static void known_list(const char *got, name_at_fn at, const void *ctx, bool list_all, char *out,
		       size_t len)
{
	const char *best = NULL, *n;
	unsigned bestd = 3;
	size_t off = 0, i, gl = strlen(got);

	out[0] = '\0';
	for (i = 0; (n = at(ctx, i)); i++) {
		unsigned d = edit_distance(got, n);
		size_t nl = strlen(n);

		/* a prefix ("competitor" for "competitor_id") is as good as a typo */
		if (d > 2 && gl >= 4 && nl >= 4 && strncmp(got, n, gl < nl ? gl : nl) == 0)
			d = 2;
		if (d < bestd && d < nl) {
			bestd = d;
			best = n;
		}
	}
	if (list_all) {
		off += (size_t)snprintf(out + off, len - off, "(known: ");
		for (i = 0; (n = at(ctx, i)) && off < len; i++)
			off += (size_t)snprintf(out + off, len - off, "%s%s", i ? ", " : "", n);
		if (off < len)
			off += (size_t)snprintf(out + off, len - off, ")");
	}
	if (best && off < len)
		snprintf(out + off, len - off, "%sdid you mean '%s'?", off ? "; " : "", best);
}

static const char *strv_at(const void *ctx, size_t i)
{
	return ((const char *const *)ctx)[i];
}

static const char *json_type(const cJSON *j)
{
	if (!j)
		return "nothing";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "true/false";
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	return "something else";
}

/* UTF-8 characters in s. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* s cut to about max bytes at a character boundary, with "..." */
static void excerpt(const char *s, char *out, size_t max)
{
	size_t n = strlen(s);

	if (n < max) {
		snprintf(out, max, "%s", s);
		return;
	}
	n = max - 4;
	while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(out, s, n);
	memcpy(out + n, "...", 4);
}

/* ---- what scenarios may name: the agent's real files ---------------------- */

static const char *const tier_names[] = {"service_recovery", "high", "medium", "low", NULL};

struct refs {
	struct skills *skills;
	struct archetype_set *arch;
	struct catalog *catalog;
	char categories[SCOPE_CATEGORIES_MAX + 1][SCOPE_ID_MAX];
	const char *category_ptrs[SCOPE_CATEGORIES_MAX + 2];
	/* reply checks */
	pcre2_code *money, *diff, *period, *offer_words, *products;
};

static const char *skill_at(const void *ctx, size_t i)
{
	const struct skills *s = ctx;

	return i < skills_count(s) ? skills_id(s, i) : NULL;
}

static const char *arch_at(const void *ctx, size_t i)
{
	const struct archetype_set *a = ctx;

	return i < archetype_count(a) ? archetype_id(a, i) : NULL;
}

static const char *signal_at(const void *ctx, size_t i)
{
	(void)ctx;
	return i < SIGNAL_COUNT ? signals_name((enum signal)i) : NULL;
}

static const char *tool_at(const void *ctx, size_t i)
{
	(void)ctx;
	return i < tools_count() ? tools_at(i)->name : NULL;
}

static const char *state_at(const void *ctx, size_t i)
{
	(void)ctx;
	return i < AGENT_STATE_COUNT ? agent_state_name((enum agent_state)i) : NULL;
}

static const char *product_at(const void *ctx, size_t i)
{
	const struct catalog_product *p = catalog_product_at(ctx, i);

	return p ? p->id : NULL;
}

static const char *competitor_at(const void *ctx, size_t i)
{
	const struct catalog_competitor *c = catalog_competitor_at(ctx, i);

	return c ? c->id : NULL;
}

static pcre2_code *compile(const char *pat, uint32_t opts, char *msg, size_t len)
{
	PCRE2_SIZE off;
	int code;
	pcre2_code *re =
	    pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
			  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | opts, &code, &off, NULL);

	if (!re && msg) {
		char pe[256];

		pcre2_get_error_message(code, (PCRE2_UCHAR *)pe, sizeof(pe));
		snprintf(msg, len, "%s at offset %zu", pe, (size_t)off);
	}
	return re;
}

/* Does re match s? The matched text goes to got (may be NULL). */
static bool re_find(const pcre2_code *re, const char *s, size_t len, char *got, size_t gotlen)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc;

	if (!md)
		return false;
	rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
	if (rc >= 0 && got && gotlen) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		size_t n = ov[1] - ov[0];

		if (n >= gotlen)
			n = gotlen - 1;
		memcpy(got, s + ov[0], n);
		got[n] = '\0';
	}
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* text with every regex metacharacter escaped, appended to b */
static void re_quote(struct strbuf *b, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (((unsigned char)*p < 0x80) &&
		    !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == ' '))
			strbuf_add(b, "\\%c", *p);
		else
			strbuf_add(b, "%c", *p);
	}
}

static int refs_regexes(struct refs *r, char *err, size_t errlen)
{
	const struct catalog_telco *t = catalog_telco(r->catalog);
	struct strbuf b;
	char msg[300];
	char *pat;

	/* a money figure: "$5", "$ 45.00", "12 USD", "12 dollars" */
	strbuf_init(&b, 4096, "...");
	strbuf_add(&b, "(?:");
	re_quote(&b, t->currency_symbol && t->currency_symbol[0] ? t->currency_symbol : "$");
	strbuf_add(&b, "\\s?\\d[\\d,]*(?:\\.\\d+)?|\\b\\d[\\d,]*(?:\\.\\d+)?\\s?(?:");
	re_quote(&b, t->currency && t->currency[0] ? t->currency : "USD");
	strbuf_add(&b, "%s)\\b)",
		   t->currency_symbol && strcmp(t->currency_symbol, "$") == 0 ? "|dollars?" : "");
	pat = strbuf_take(&b);
	r->money = pat ? compile(pat, PCRE2_CASELESS, msg, sizeof(msg)) : NULL;
	free(pat);
	r->diff = compile("\\b(?:save[sd]?|saving|savings|less|cheaper|more|difference|extra|"
			  "lower|higher|on top|cuts?|off)\\b",
			  PCRE2_CASELESS, msg, sizeof(msg));
	r->period =
	    compile("(?:\\b(?:a|per|each|every|the first|first|the|your)\\s+(?:month|year)\\b|"
		    "/\\s?(?:month|mo|year|yr)\\b|\\b(?:monthly|yearly|annually|annual|"
		    "first-year|12 months|twelve months)\\b)",
		    PCRE2_CASELESS, msg, sizeof(msg));
	r->offer_words =
	    compile("\\b(?:discounts?|discounted|promos?|promotions?|special offers?|"
		    "limited[- ]time|half[- ]price|(?:great|good|best|special|"
		    "today's|todays) deals?|\\d+\\s?% off|sign (?:you |yourself )?up)\\b",
		    PCRE2_CASELESS, msg, sizeof(msg));
	/* every product and promotion name, as whole words */
	strbuf_init(&b, 64 * 1024, "...");
	strbuf_add(&b, "(?<![\\w])(?:");
	for (size_t i = 0; i < catalog_product_count(r->catalog); i++) {
		strbuf_add(&b, "%s", i ? "|" : "");
		re_quote(&b, catalog_product_at(r->catalog, i)->name);
	}
	for (size_t i = 0; i < catalog_promotion_count(r->catalog); i++) {
		strbuf_add(&b, "|");
		re_quote(&b, catalog_promotion_at(r->catalog, i)->name);
	}
	strbuf_add(&b, ")(?![\\w])");
	pat = b.cut ? NULL : strbuf_take(&b);
	free(b.p);
	r->products = pat ? compile(pat, PCRE2_CASELESS, msg, sizeof(msg)) : NULL;
	free(pat);
	if (!r->money || !r->diff || !r->period || !r->offer_words || !r->products)
		return errmsg(err, errlen, -ENOMEM,
			      "%s: cannot build the reply checks from the catalog names",
			      catalog_dir(r->catalog));
	return 0;
}

static void refs_free(struct refs *r)
{
	skills_free(r->skills);
	archetype_set_free(r->arch);
	catalog_free(r->catalog);
	pcre2_code_free(r->money);
	pcre2_code_free(r->diff);
	pcre2_code_free(r->period);
	pcre2_code_free(r->offer_words);
	pcre2_code_free(r->products);
	memset(r, 0, sizeof(*r));
}

static int refs_load(struct refs *r, const struct agent_paths *p, char *err, size_t errlen)
{
	const char *base = p && p->base ? p->base : ".";
	char def[4][PATH_LEN];
	struct skills_error kerr;
	struct archetype_error aerr;
	struct scope_guard *g = NULL;
	size_t n;
	int rc;

	snprintf(def[0], PATH_LEN, "%s/skills/manifest.conf", base);
	snprintf(def[1], PATH_LEN, "%s/config/archetypes.conf", base);
	snprintf(def[2], PATH_LEN, "%s/config/scope_rules.conf", base);
	snprintf(def[3], PATH_LEN, "%s/catalog", base);
	rc = skills_load(p && p->skills ? p->skills : def[0], &r->skills, &kerr);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s", kerr.msg);
	rc = archetype_set_load(p && p->archetypes ? p->archetypes : def[1], &r->arch, &aerr);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s", aerr.msg);
	rc = catalog_load(p && p->catalog ? p->catalog : def[3], &r->catalog, err, errlen);
	if (rc < 0)
		return rc;
	rc = scope_guard_load(p && p->scope_rules ? p->scope_rules : def[2], &g, err, errlen);
	if (rc < 0)
		return rc;
	n = scope_guard_category_count(g);
	for (size_t i = 0; i < n && i < SCOPE_CATEGORIES_MAX; i++) {
		snprintf(r->categories[i], SCOPE_ID_MAX, "%s", scope_guard_category_name(g, i));
		r->category_ptrs[i] = r->categories[i];
	}
	scope_guard_free(g);
	return refs_regexes(r, err, errlen);
}

static bool is_category(const struct refs *r, const char *s)
{
	for (size_t i = 0; r->category_ptrs[i]; i++)
		if (strcmp(r->category_ptrs[i], s) == 0)
			return true;
	return false;
}

/* ---- scenarios ------------------------------------------------------------- */

enum {
	X_ESCALATED = 1u << 0,
	X_CATEGORY = 1u << 1,
	X_ARCHETYPE = 1u << 2,
	X_TIER = 1u << 3,
	X_STATE = 1u << 4,
};

struct tool_expect {
	char name[TOOLS_NAME_MAX];
	cJSON *args;	 /* owned; NULL: any arguments */
	char *args_text; /* as written, compact */
};

struct pattern {
	char *src;
	pcre2_code *re;
};

struct turn {
	char *say;
	size_t say_len;
	bool has_expect, has_reply;
	unsigned has; /* X_* */
	bool escalated;
	char category[SCOPE_ID_MAX];
	uint32_t signals, signals_absent;
	unsigned n_skills, n_skills_absent;
	char skills[EVAL_LIST_MAX][SKILLS_MAX_ID];
	char skills_absent[EVAL_LIST_MAX][SKILLS_MAX_ID];
	char archetype[ARCHETYPE_MAX_ID];
	char tier[24];
	unsigned n_tools, n_tools_absent;
	struct tool_expect tools[EVAL_LIST_MAX];
	char tools_absent[EVAL_LIST_MAX][TOOLS_NAME_MAX];
	enum agent_state state;
	/* reply */
	unsigned n_must, n_must_not;
	struct pattern must[EVAL_PATTERNS_MAX], must_not[EVAL_PATTERNS_MAX];
	bool figures, comparison_math, question, no_selling;
	unsigned max_chars; /* 0: no limit checked */
};

struct scenario {
	char *id, *title, *judge;
	size_t suite;
	bool has_day;
	int32_t day;
	bool has_visitor;
	char *name, *last_visit;
	bool returning;
	char *facts[EVAL_FACTS_MAX + 1];
	struct turn *turns;
	unsigned n_turns;
	bool selected;
};

struct suite {
	char *name, *description, *file;
};

struct eval_set {
	struct refs refs;
	struct suite *suites;
	size_t n_suites;
	struct scenario *sc;
	size_t n_sc;
};

static void turn_free(struct turn *t)
{
	free(t->say);
	for (unsigned i = 0; i < t->n_tools; i++) {
		cJSON_Delete(t->tools[i].args);
		free(t->tools[i].args_text);
	}
	for (unsigned i = 0; i < t->n_must; i++) {
		free(t->must[i].src);
		pcre2_code_free(t->must[i].re);
	}
	for (unsigned i = 0; i < t->n_must_not; i++) {
		free(t->must_not[i].src);
		pcre2_code_free(t->must_not[i].re);
	}
}

static void scenario_free(struct scenario *s)
{
	free(s->id);
	free(s->title);
	free(s->judge);
	free(s->name);
	free(s->last_visit);
	for (size_t i = 0; s->facts[i]; i++)
		free(s->facts[i]);
	for (unsigned i = 0; s->turns && i < s->n_turns; i++)
		turn_free(&s->turns[i]);
	free(s->turns);
}

int eval_set_new(const struct agent_paths *paths, struct eval_set **ret, char *err, size_t errlen)
{
	struct eval_set *set = calloc(1, sizeof(*set));
	int rc;

	*ret = NULL;
	if (!set)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	rc = refs_load(&set->refs, paths, err, errlen);
	if (rc < 0) {
		eval_set_free(set);
		return rc;
	}
	*ret = set;
	return 0;
}

void eval_set_free(struct eval_set *set)
{
	if (!set)
		return;
	refs_free(&set->refs);
	for (size_t i = 0; i < set->n_sc; i++)
		scenario_free(&set->sc[i]);
	free(set->sc);
	for (size_t i = 0; i < set->n_suites; i++) {
		free(set->suites[i].name);
		free(set->suites[i].description);
		free(set->suites[i].file);
	}
	free(set->suites);
	free(set);
}

/* Where an error is: "file: scenario 'id' turn N: field: ..." */
struct loc {
	const char *file;
	const char *scen; /* id, or NULL */
	int scen_no;	  /* 1-based position when there is no id yet; 0: file level */
	int turn;	  /* 1-based; 0: not in a turn */
};

static int lfail(char *err, size_t len, int rc, const struct loc *l, const char *field,
		 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int lfail(char *err, size_t len, int rc, const struct loc *l, const char *field,
		 const char *fmt, ...)
{
	size_t off = 0;
	va_list ap;

	if (!err || !len)
		return rc;
#define ADD(...)                                                                                   \
	do {                                                                                       \
		if (off < len)                                                                     \
			off += (size_t)snprintf(err + off, len - off, __VA_ARGS__);                \
	} while (0)
	ADD("%s", l->file);
	if (l->scen)
		ADD(": scenario '%s'", l->scen);
	else if (l->scen_no > 0)
		ADD(": scenario #%d", l->scen_no);
	if (l->turn > 0)
		ADD(" turn %d", l->turn);
	ADD(": ");
	if (field)
		ADD("%s: ", field);
#undef ADD
	if (off < len) {
		va_start(ap, fmt);
		vsnprintf(err + off, len - off, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Every key of obj must be in known (NULL-terminated), and only once. */
static int check_keys(const cJSON *obj, const char *const *known, const struct loc *l,
		      const char *field, char *err, size_t len)
{
	char hint[KNOWN_MAX], f[128];

	for (const cJSON *c = obj->child; c; c = c->next) {
		size_t i;

		for (i = 0; known[i]; i++)
			if (strcmp(c->string, known[i]) == 0)
				break;
		snprintf(f, sizeof(f), "%s%s%s", field ? field : "", field ? "." : "", c->string);
		if (!known[i]) {
			known_list(c->string, strv_at, known, true, hint, sizeof(hint));
			return lfail(err, len, -EINVAL, l, f, "unknown key %s", hint);
		}
		for (const cJSON *d = obj->child; d != c; d = d->next)
			if (strcmp(d->string, c->string) == 0)
				return lfail(err, len, -EINVAL, l, f,
					     "given twice in one object; keep one");
	}
	return 0;
}

/* A string member: 0 with *ret (NULL when absent and optional). */
static int get_str(const cJSON *obj, const char *key, bool required, size_t max,
		   const struct loc *l, const char *field, const char *how, const char **ret,
		   char *err, size_t len)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);

	*ret = NULL;
	if (!j) {
		if (required)
			return lfail(err, len, -EINVAL, l, field, "missing; %s", how);
		return 0;
	}
	if (!cJSON_IsString(j))
		return lfail(err, len, -EINVAL, l, field, "expected a string, got %s; %s",
			     json_type(j), how);
	if (required && !j->valuestring[0])
		return lfail(err, len, -EINVAL, l, field, "empty; %s", how);
	if (strlen(j->valuestring) > max)
		return lfail(err, len, -E2BIG, l, field,
			     "%zu bytes, over the limit of %zu; shorten it", strlen(j->valuestring),
			     max);
	*ret = j->valuestring;
	return 0;
}

static int get_bool(const cJSON *obj, const char *key, const struct loc *l, const char *field,
		    bool *present, bool *ret, char *err, size_t len)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);

	*present = j != NULL;
	if (!j)
		return 0;
	if (!cJSON_IsBool(j))
		return lfail(err, len, -EINVAL, l, field, "expected true or false, got %s",
			     json_type(j));
	*ret = cJSON_IsTrue(j);
	return 0;
}

/* An array of strings: calls each(ctx, i, s) which returns 0 or an error. */
typedef int (*each_str_fn)(void *ctx, unsigned i, const char *s, const struct loc *l,
			   const char *field, char *err, size_t len);

static int get_str_list(const cJSON *obj, const char *key, unsigned max, const struct loc *l,
			const char *field, each_str_fn each, void *ctx, char *err, size_t len)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key), *e;
	unsigned i = 0;
	int rc;

	if (!j)
		return 0;
	if (!cJSON_IsArray(j))
		return lfail(err, len, -EINVAL, l, field,
			     "expected an array of strings like [\"a\", \"b\"], got %s",
			     json_type(j));
	if ((unsigned)cJSON_GetArraySize(j) > max)
		return lfail(err, len, -E2BIG, l, field,
			     "%d entries, over the limit of %u; split the turn or the scenario",
			     cJSON_GetArraySize(j), max);
	cJSON_ArrayForEach(e, j)
	{
		if (!cJSON_IsString(e) || !e->valuestring[0])
			return lfail(err, len, -EINVAL, l, field,
				     "entry %u: expected a non-empty string, got %s", i + 1,
				     cJSON_IsString(e) ? "\"\"" : json_type(e));
		rc = each(ctx, i, e->valuestring, l, field, err, len);
		if (rc < 0)
			return rc;
		i++;
	}
	return 0;
}

struct parse_ctx {
	const struct refs *refs;
	struct turn *t;
	uint32_t *mask;
	char (*ids)[SKILLS_MAX_ID];
	unsigned *n;
	struct scenario *sc;
};

static int each_signal(void *vctx, unsigned i, const char *s, const struct loc *l,
		       const char *field, char *err, size_t len)
{
	struct parse_ctx *c = vctx;
	enum signal sig;
	char hint[KNOWN_MAX];

	(void)i;
	if (signals_from_name(s, &sig) < 0) {
		known_list(s, signal_at, NULL, true, hint, sizeof(hint));
		return lfail(err, len, -EINVAL, l, field, "unknown signal '%s' %s", s, hint);
	}
	*c->mask |= SIGNAL_BIT(sig);
	return 0;
}

static int each_skill(void *vctx, unsigned i, const char *s, const struct loc *l, const char *field,
		      char *err, size_t len)
{
	struct parse_ctx *c = vctx;
	char hint[KNOWN_MAX];

	if (skills_find(c->refs->skills, s) < 0) {
		known_list(s, skill_at, c->refs->skills, true, hint, sizeof(hint));
		return lfail(err, len, -EINVAL, l, field, "unknown skill '%s' %s", s, hint);
	}
	snprintf(c->ids[i], SKILLS_MAX_ID, "%s", s);
	*c->n = i + 1;
	return 0;
}

static int each_tool_name(void *vctx, unsigned i, const char *s, const struct loc *l,
			  const char *field, char *err, size_t len)
{
	struct parse_ctx *c = vctx;
	char hint[KNOWN_MAX];

	if (!tools_find(s)) {
		known_list(s, tool_at, NULL, true, hint, sizeof(hint));
		return lfail(err, len, -EINVAL, l, field, "unknown tool '%s' %s", s, hint);
	}
	snprintf(c->t->tools_absent[i], TOOLS_NAME_MAX, "%s", s);
	c->t->n_tools_absent = i + 1;
	return 0;
}

static int each_fact(void *vctx, unsigned i, const char *s, const struct loc *l, const char *field,
		     char *err, size_t len)
{
	struct parse_ctx *c = vctx;
	const char *eq = strchr(s, '=');

	if (!eq || eq == s || !eq[1])
		return lfail(err, len, -EINVAL, l, field,
			     "entry %u: expected \"key=value\" (e.g. \"interest=tv-family-plus\"), "
			     "got \"%s\"",
			     i + 1, s);
	if (strlen(s) > EVAL_TEXT_MAX)
		return lfail(err, len, -E2BIG, l, field, "entry %u: over %d bytes", i + 1,
			     EVAL_TEXT_MAX);
	c->sc->facts[i] = strdup(s);
	return c->sc->facts[i] ? 0 : -ENOMEM;
}

static int each_pattern(void *vctx, unsigned i, const char *s, const struct loc *l,
			const char *field, char *err, size_t len)
{
	struct parse_ctx *c = vctx;
	bool must = strcmp(field, "reply.must") == 0;
	struct pattern *p = must ? &c->t->must[i] : &c->t->must_not[i];
	char msg[300];

	if (strlen(s) > EVAL_PATTERN_MAX)
		return lfail(err, len, -E2BIG, l, field, "pattern %u: over %d bytes", i + 1,
			     EVAL_PATTERN_MAX);
	p->re = compile(s, 0, msg, sizeof(msg));
	if (!p->re)
		return lfail(err, len, -EINVAL, l, field,
			     "pattern %u /%s/ is not a valid PCRE2 pattern: %s", i + 1, s, msg);
	p->src = strdup(s);
	if (!p->src)
		return -ENOMEM;
	if (must)
		c->t->n_must = i + 1;
	else
		c->t->n_must_not = i + 1;
	return 0;
}

/* The schema's type of one tool argument against the value given. */
static bool type_ok(const char *type, const cJSON *v)
{
	if (!type)
		return true;
	if (strcmp(type, "string") == 0)
		return cJSON_IsString(v);
	if (strcmp(type, "number") == 0)
		return cJSON_IsNumber(v);
	if (strcmp(type, "integer") == 0)
		return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
	if (strcmp(type, "boolean") == 0)
		return cJSON_IsBool(v);
	if (strcmp(type, "array") == 0)
		return cJSON_IsArray(v);
	if (strcmp(type, "object") == 0)
		return cJSON_IsObject(v);
	return true;
}

/* One id-valued argument: a product, competitor or offer the catalog knows. */
static int check_arg_id(const struct refs *r, const char *key, const char *v, const struct loc *l,
			const char *field, char *err, size_t len)
{
	char hint[KNOWN_MAX];

	if (strcmp(key, "product_id") == 0 || strcmp(key, "product_ids") == 0) {
		const struct catalog_product *p;

		if (catalog_product_find(r->catalog, v))
			return 0;
		p = catalog_product_suggest(r->catalog, v);
		if (p)
			snprintf(hint, sizeof(hint), "did you mean '%s'?", p->id);
		else
			known_list(v, product_at, r->catalog, true, hint, sizeof(hint));
		return lfail(err, len, -EINVAL, l, field, "unknown product '%s' in %s; %s", v,
			     catalog_dir(r->catalog), hint);
	}
	if (strcmp(key, "competitor_id") == 0) {
		if (catalog_competitor_find(r->catalog, v))
			return 0;
		known_list(v, competitor_at, r->catalog, true, hint, sizeof(hint));
		return lfail(err, len, -EINVAL, l, field, "unknown competitor '%s' %s", v, hint);
	}
	if (strcmp(key, "offer_ids") == 0) {
		if (catalog_offer_find(r->catalog, v))
			return 0;
		return lfail(err, len, -EINVAL, l, field,
			     "unknown competitor offer '%s' (offers are listed under each "
			     "competitor in %s)",
			     v, catalog_dir(r->catalog));
	}
	return 0;
}

static int check_enum(const cJSON *prop, const cJSON *v, const struct loc *l, const char *field,
		      char *err, size_t len)
{
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(prop, "enum"), *e;
	char list[KNOWN_MAX];
	size_t off = 0;

	if (!cJSON_IsArray(en) || !cJSON_IsString(v))
		return 0;
	cJSON_ArrayForEach(e, en)
	{
		if (cJSON_IsString(e) && strcmp(e->valuestring, v->valuestring) == 0)
			return 0;
		if (cJSON_IsString(e) && off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						off ? ", " : "", e->valuestring);
	}
	return lfail(err, len, -EINVAL, l, field, "'%s' is not one of the tool's values (%s)",
		     v->valuestring, list);
}

/* Expected arguments: every key a property of the tool's schema, of its
 * type, enums and catalog ids known. */
static int check_tool_args(const struct refs *r, const struct tools_def *def, const cJSON *args,
			   const struct loc *l, const char *field, char *err, size_t len)
{
	cJSON *schema = cJSON_Parse(def->schema);
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	char f[160], hint[KNOWN_MAX];
	int rc = 0;

	if (!schema)
		return -ENOMEM;
	for (const cJSON *a = args->child; a && rc == 0; a = a->next) {
		const cJSON *prop = cJSON_GetObjectItemCaseSensitive(props, a->string);
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(prop, "type");

		snprintf(f, sizeof(f), "%s.%s", field, a->string);
		if (!prop) {
			const char *names[32];
			size_t n = 0;

			for (const cJSON *p = props ? props->child : NULL; p && n < 31; p = p->next)
				names[n++] = p->string;
			names[n] = NULL;
			known_list(a->string, strv_at, names, true, hint, sizeof(hint));
			rc = lfail(err, len, -EINVAL, l, f, "tool '%s' has no argument '%s' %s",
				   def->name, a->string, hint);
			break;
		}
		if (!type_ok(cJSON_IsString(type) ? type->valuestring : NULL, a)) {
			rc = lfail(err, len, -EINVAL, l, f,
				   "expected %s (the tool's schema), got %s", type->valuestring,
				   json_type(a));
			break;
		}
		if (cJSON_IsArray(a)) {
			const cJSON *items = cJSON_GetObjectItemCaseSensitive(prop, "items"), *e;

			cJSON_ArrayForEach(e, a)
			{
				const cJSON *it = cJSON_GetObjectItemCaseSensitive(items, "type");

				if (!type_ok(cJSON_IsString(it) ? it->valuestring : NULL, e)) {
					rc = lfail(err, len, -EINVAL, l, f,
						   "entries must be %s (the tool's schema), got %s",
						   it->valuestring, json_type(e));
					break;
				}
				rc = check_enum(items, e, l, f, err, len);
				if (rc == 0 && cJSON_IsString(e))
					rc = check_arg_id(r, a->string, e->valuestring, l, f, err,
							  len);
				if (rc < 0)
					break;
			}
		} else {
			rc = check_enum(prop, a, l, f, err, len);
			if (rc == 0 && cJSON_IsString(a))
				rc = check_arg_id(r, a->string, a->valuestring, l, f, err, len);
		}
	}
	cJSON_Delete(schema);
	return rc;
}

static int parse_tools(const struct refs *r, const cJSON *expect, struct turn *t,
		       const struct loc *l, char *err, size_t len)
{
	static const char *const keys[] = {"name", "args", NULL};
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(expect, "tools"), *e;
	char f[64], hint[KNOWN_MAX];
	unsigned i = 0;
	int rc;

	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return lfail(err, len, -EINVAL, l, "expect.tools",
			     "expected an array of {\"name\": TOOL, \"args\": {...}}, got %s",
			     json_type(arr));
	if (cJSON_GetArraySize(arr) > EVAL_LIST_MAX)
		return lfail(err, len, -E2BIG, l, "expect.tools", "over %d entries", EVAL_LIST_MAX);
	cJSON_ArrayForEach(e, arr)
	{
		struct tool_expect *te = &t->tools[i];
		const struct tools_def *def;
		const cJSON *args;
		const char *name;

		snprintf(f, sizeof(f), "expect.tools[%u]", i);
		if (!cJSON_IsObject(e))
			return lfail(err, len, -EINVAL, l, f,
				     "expected {\"name\": TOOL, \"args\": {...}}, got %s",
				     json_type(e));
		if ((rc = check_keys(e, keys, l, f, err, len)) < 0)
			return rc;
		snprintf(f, sizeof(f), "expect.tools[%u].name", i);
		rc = get_str(e, "name", true, TOOLS_NAME_MAX - 1, l, f,
			     "name the tool, e.g. \"compare\"", &name, err, len);
		if (rc < 0)
			return rc;
		def = tools_find(name);
		if (!def) {
			known_list(name, tool_at, NULL, true, hint, sizeof(hint));
			return lfail(err, len, -EINVAL, l, f, "unknown tool '%s' %s", name, hint);
		}
		snprintf(te->name, sizeof(te->name), "%s", name);
		t->n_tools = ++i;
		args = cJSON_GetObjectItemCaseSensitive(e, "args");
		if (!args)
			continue;
		snprintf(f, sizeof(f), "expect.tools[%u].args", i - 1);
		if (!cJSON_IsObject(args))
			return lfail(err, len, -EINVAL, l, f,
				     "expected an object of the arguments to match, got %s",
				     json_type(args));
		rc = check_tool_args(r, def, args, l, f, err, len);
		if (rc < 0)
			return rc;
		te->args = cJSON_Duplicate(args, true);
		te->args_text = cJSON_PrintUnformatted(args);
		if (!te->args || !te->args_text)
			return -ENOMEM;
	}
	return 0;
}

static int parse_expect(const struct refs *r, const cJSON *x, struct turn *t, const struct loc *l,
			char *err, size_t len)
{
	static const char *const keys[] = {
	    "escalated", "category",	   "signals", "signals_absent", "skills", "skills_absent",
	    "archetype", "archetype_tier", "tools",   "tools_absent",	"state",  NULL};
	struct parse_ctx c = {.refs = r, .t = t};
	char hint[KNOWN_MAX];
	const char *s;
	bool present;
	int rc;

	if (!cJSON_IsObject(x))
		return lfail(err, len, -EINVAL, l, "expect",
			     "expected an object of expectations, got %s", json_type(x));
	if ((rc = check_keys(x, keys, l, "expect", err, len)) < 0)
		return rc;
	t->has_expect = true;
	rc = get_bool(x, "escalated", l, "expect.escalated", &present, &t->escalated, err, len);
	if (rc < 0)
		return rc;
	if (present)
		t->has |= X_ESCALATED;
	rc = get_str(x, "category", false, SCOPE_ID_MAX - 1, l, "expect.category",
		     "a scope-guard category", &s, err, len);
	if (rc < 0)
		return rc;
	if (s) {
		if (!is_category(r, s)) {
			known_list(s, strv_at, r->category_ptrs, true, hint, sizeof(hint));
			return lfail(err, len, -EINVAL, l, "expect.category",
				     "unknown category '%s' %s", s, hint);
		}
		if ((t->has & X_ESCALATED) && !t->escalated)
			return lfail(err, len, -EINVAL, l, "expect.category",
				     "a category with \"escalated\": false can never hold; "
				     "drop one of them");
		snprintf(t->category, sizeof(t->category), "%s", s);
		t->has |= X_CATEGORY;
	}
	c.mask = &t->signals;
	rc = get_str_list(x, "signals", EVAL_LIST_MAX, l, "expect.signals", each_signal, &c, err,
			  len);
	c.mask = &t->signals_absent;
	rc = rc
		 ?: get_str_list(x, "signals_absent", EVAL_LIST_MAX, l, "expect.signals_absent",
				 each_signal, &c, err, len);
	if (rc < 0)
		return rc;
	if (t->signals & t->signals_absent) {
		for (int i = 0; i < SIGNAL_COUNT; i++)
			if (t->signals & t->signals_absent & SIGNAL_BIT(i))
				return lfail(err, len, -EINVAL, l, "expect.signals_absent",
					     "'%s' is also in expect.signals; keep one",
					     signals_name((enum signal)i));
	}
	c.ids = t->skills;
	c.n = &t->n_skills;
	rc = get_str_list(x, "skills", EVAL_LIST_MAX, l, "expect.skills", each_skill, &c, err, len);
	c.ids = t->skills_absent;
	c.n = &t->n_skills_absent;
	rc = rc
		 ?: get_str_list(x, "skills_absent", EVAL_LIST_MAX, l, "expect.skills_absent",
				 each_skill, &c, err, len);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < t->n_skills_absent; i++)
		for (unsigned k = 0; k < t->n_skills; k++)
			if (strcmp(t->skills_absent[i], t->skills[k]) == 0)
				return lfail(err, len, -EINVAL, l, "expect.skills_absent",
					     "'%s' is also in expect.skills; keep one",
					     t->skills[k]);
	rc = get_str(x, "archetype", false, ARCHETYPE_MAX_ID - 1, l, "expect.archetype",
		     "an archetype id from config/archetypes.conf, or \"\" for not decided yet", &s,
		     err, len);
	if (rc < 0)
		return rc;
	if (s) {
		if (s[0] && archetype_find(r->arch, s) < 0) {
			known_list(s, arch_at, r->arch, true, hint, sizeof(hint));
			return lfail(err, len, -EINVAL, l, "expect.archetype",
				     "unknown archetype '%s' %s", s, hint);
		}
		snprintf(t->archetype, sizeof(t->archetype), "%s", s);
		t->has |= X_ARCHETYPE;
	}
	rc = get_str(x, "archetype_tier", false, sizeof(t->tier) - 1, l, "expect.archetype_tier",
		     "service_recovery, high, medium or low", &s, err, len);
	if (rc < 0)
		return rc;
	if (s) {
		size_t i;

		for (i = 0; tier_names[i] && strcmp(tier_names[i], s) != 0; i++)
			;
		if (!tier_names[i] && s[0]) {
			known_list(s, strv_at, tier_names, true, hint, sizeof(hint));
			return lfail(err, len, -EINVAL, l, "expect.archetype_tier",
				     "unknown tier '%s' %s", s, hint);
		}
		snprintf(t->tier, sizeof(t->tier), "%s", s);
		t->has |= X_TIER;
	}
	rc = parse_tools(r, x, t, l, err, len);
	rc = rc
		 ?: get_str_list(x, "tools_absent", EVAL_LIST_MAX, l, "expect.tools_absent",
				 each_tool_name, &c, err, len);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < t->n_tools_absent; i++)
		for (unsigned k = 0; k < t->n_tools; k++)
			if (strcmp(t->tools_absent[i], t->tools[k].name) == 0)
				return lfail(err, len, -EINVAL, l, "expect.tools_absent",
					     "'%s' is also in expect.tools; keep one",
					     t->tools[k].name);
	rc =
	    get_str(x, "state", false, 32, l, "expect.state", "a conversation state", &s, err, len);
	if (rc < 0)
		return rc;
	if (s) {
		if (agent_state_from_name(s, &t->state) < 0) {
			known_list(s, state_at, NULL, true, hint, sizeof(hint));
			return lfail(err, len, -EINVAL, l, "expect.state", "unknown state '%s' %s",
				     s, hint);
		}
		t->has |= X_STATE;
	}
	return 0;
}

static int parse_reply(const cJSON *x, struct turn *t, const struct loc *l, char *err, size_t len)
{
	static const char *const keys[] = {"must",
					   "must_not",
					   "figures_from_catalog",
					   "comparison_math",
					   "question",
					   "no_selling",
					   "max_chars",
					   NULL};
	static const char *const bools[] = {"figures_from_catalog", "comparison_math", "question",
					    "no_selling"};
	bool *dst[] = {&t->figures, &t->comparison_math, &t->question, &t->no_selling};
	struct parse_ctx c = {.t = t};
	const cJSON *mc;
	char f[64];
	bool present;
	int rc;

	if (!cJSON_IsObject(x))
		return lfail(err, len, -EINVAL, l, "reply",
			     "expected an object of reply checks, got %s", json_type(x));
	if ((rc = check_keys(x, keys, l, "reply", err, len)) < 0)
		return rc;
	t->has_reply = true;
	rc =
	    get_str_list(x, "must", EVAL_PATTERNS_MAX, l, "reply.must", each_pattern, &c, err, len);
	rc = rc
		 ?: get_str_list(x, "must_not", EVAL_PATTERNS_MAX, l, "reply.must_not",
				 each_pattern, &c, err, len);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < 4; i++) {
		snprintf(f, sizeof(f), "reply.%s", bools[i]);
		rc = get_bool(x, bools[i], l, f, &present, dst[i], err, len);
		if (rc < 0)
			return rc;
	}
	mc = cJSON_GetObjectItemCaseSensitive(x, "max_chars");
	if (mc) {
		if (!cJSON_IsNumber(mc) || mc->valuedouble != floor(mc->valuedouble) ||
		    mc->valuedouble < 1 || mc->valuedouble > AGENT_REPLY_MAX)
			return lfail(err, len, -EINVAL, l, "reply.max_chars",
				     "expected a whole number of characters 1..%d, got %s%s",
				     AGENT_REPLY_MAX, json_type(mc),
				     cJSON_IsNumber(mc) ? " out of range" : "");
		t->max_chars = (unsigned)mc->valuedouble;
	}
	return 0;
}

static int parse_turn(const struct refs *r, const cJSON *j, struct turn *t, const struct loc *l,
		      char *err, size_t len)
{
	static const char *const keys[] = {"say", "expect", "reply", NULL};
	const cJSON *x;
	const char *say;
	int rc;

	if (!cJSON_IsObject(j))
		return lfail(err, len, -EINVAL, l, NULL,
			     "expected an object {\"say\": ..., \"expect\": {...}}, got %s",
			     json_type(j));
	if ((rc = check_keys(j, keys, l, NULL, err, len)) < 0)
		return rc;
	rc = get_str(j, "say", true, EVAL_SAY_MAX, l, "say",
		     "every turn needs the customer's words: \"say\": \"...\"", &say, err, len);
	if (rc < 0)
		return rc;
	t->say = strdup(say);
	if (!t->say)
		return -ENOMEM;
	t->say_len = strlen(say);
	if ((x = cJSON_GetObjectItemCaseSensitive(j, "expect")) &&
	    (rc = parse_expect(r, x, t, l, err, len)) < 0)
		return rc;
	if ((x = cJSON_GetObjectItemCaseSensitive(j, "reply")) &&
	    (rc = parse_reply(x, t, l, err, len)) < 0)
		return rc;
	return 0;
}

static int parse_visitor(const cJSON *v, struct scenario *sc, const struct loc *l, char *err,
			 size_t len)
{
	static const char *const keys[] = {"name", "returning", "last_visit", "facts", NULL};
	struct parse_ctx c = {.sc = sc};
	const char *s;
	bool present;
	int rc;

	if (!cJSON_IsObject(v))
		return lfail(err, len, -EINVAL, l, "visitor",
			     "expected an object {\"name\", \"returning\", \"last_visit\", "
			     "\"facts\"}, got %s",
			     json_type(v));
	if ((rc = check_keys(v, keys, l, "visitor", err, len)) < 0)
		return rc;
	sc->has_visitor = true;
	rc = get_str(v, "name", false, 80, l, "visitor.name", "the customer's display name", &s,
		     err, len);
	if (rc < 0)
		return rc;
	if (s && !(sc->name = strdup(s)))
		return -ENOMEM;
	rc = get_str(v, "last_visit", false, EVAL_TEXT_MAX, l, "visitor.last_visit",
		     "a short summary of the last visit", &s, err, len);
	if (rc < 0)
		return rc;
	if (s && !(sc->last_visit = strdup(s)))
		return -ENOMEM;
	rc = get_bool(v, "returning", l, "visitor.returning", &present, &sc->returning, err, len);
	rc = rc
		 ?: get_str_list(v, "facts", EVAL_FACTS_MAX, l, "visitor.facts", each_fact, &c, err,
				 len);
	return rc;
}

static bool id_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
			return false;
	return true;
}

static int parse_scenario(const struct refs *r, const cJSON *j, int no, struct scenario *sc,
			  struct loc *l, char *err, size_t len)
{
	static const char *const keys[] = {"id", "title", "judge", "day", "visitor", "turns", NULL};
	const cJSON *turns, *e;
	const char *s;
	unsigned i = 0;
	int rc;

	l->scen = NULL;
	l->scen_no = no;
	l->turn = 0;
	if (!cJSON_IsObject(j))
		return lfail(err, len, -EINVAL, l, NULL,
			     "expected an object {\"id\", \"title\", \"turns\", ...}, got %s",
			     json_type(j));
	rc = get_str(j, "id", true, EVAL_ID_MAX - 1, l, "id",
		     "every scenario needs an id unique across all suites, e.g. "
		     "\"objection.price-family\"",
		     &s, err, len);
	if (rc < 0)
		return rc;
	if (!id_ok(s))
		return lfail(err, len, -EINVAL, l, "id",
			     "'%s': use letters, digits, '.', '-' and '_' only", s);
	if (!(sc->id = strdup(s)))
		return -ENOMEM;
	l->scen = sc->id;
	if ((rc = check_keys(j, keys, l, NULL, err, len)) < 0)
		return rc;
	rc = get_str(j, "title", true, EVAL_TEXT_MAX, l, "title",
		     "say in one line what the scenario is", &s, err, len);
	if (rc < 0)
		return rc;
	if (!(sc->title = strdup(s)))
		return -ENOMEM;
	rc =
	    get_str(j, "judge", false, EVAL_TEXT_MAX, l, "judge",
		    "the question a great salesperson would ask of the conversation", &s, err, len);
	if (rc < 0)
		return rc;
	if (s && !(sc->judge = strdup(s)))
		return -ENOMEM;
	rc = get_str(j, "day", false, 10, l, "day", "a date as YYYY-MM-DD", &s, err, len);
	if (rc < 0)
		return rc;
	if (s) {
		if (catalog_date_parse(s, &sc->day) < 0)
			return lfail(err, len, -EINVAL, l, "day",
				     "expected a real date as YYYY-MM-DD, got \"%s\"", s);
		sc->has_day = true;
	}
	if ((e = cJSON_GetObjectItemCaseSensitive(j, "visitor")) &&
	    (rc = parse_visitor(e, sc, l, err, len)) < 0)
		return rc;
	turns = cJSON_GetObjectItemCaseSensitive(j, "turns");
	if (!turns)
		return lfail(err, len, -EINVAL, l, "turns",
			     "missing; a scenario needs at least one turn: \"turns\": "
			     "[{\"say\": \"...\"}]");
	if (!cJSON_IsArray(turns))
		return lfail(err, len, -EINVAL, l, "turns", "expected an array of turns, got %s",
			     json_type(turns));
	if (cJSON_GetArraySize(turns) == 0)
		return lfail(err, len, -EINVAL, l, "turns",
			     "empty; a scenario needs at least one turn: [{\"say\": \"...\"}]");
	if (cJSON_GetArraySize(turns) > EVAL_TURNS_MAX)
		return lfail(err, len, -E2BIG, l, "turns",
			     "%d turns, over the limit of %d; split the scenario",
			     cJSON_GetArraySize(turns), EVAL_TURNS_MAX);
	sc->turns = calloc((size_t)cJSON_GetArraySize(turns), sizeof(*sc->turns));
	if (!sc->turns)
		return -ENOMEM;
	cJSON_ArrayForEach(e, turns)
	{
		l->turn = (int)i + 1;
		sc->n_turns = i + 1;
		rc = parse_turn(r, e, &sc->turns[i], l, err, len);
		if (rc < 0)
			return rc;
		i++;
	}
	l->turn = 0;
	return 0;
}

/* "line L, column C" of pos in text */
static void line_col(const char *text, const char *pos, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *p = text; p < pos && *p; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int eval_set_add_file(struct eval_set *set, const char *path, char *err, size_t errlen)
{
	static const char *const keys[] = {"suite", "description", "scenarios", NULL};
	struct loc l = {.file = path};
	struct scenario *sc = NULL, *grown;
	struct suite su = {0};
	const cJSON *arr, *e;
	const char *s, *end = NULL;
	cJSON *root = NULL;
	char *text = NULL, stem[EVAL_ID_MAX + 8];
	size_t n = 0, len = 0, cap;
	int rc, no = 0;

	rc = read_file(path, EVAL_FILE_MAX_BYTES, &text, &len);
	if (rc == -EFBIG)
		return errmsg(err, errlen, rc,
			      "%s: over the %d KiB limit of a scenario file; split "
			      "the suite",
			      path, EVAL_FILE_MAX_BYTES / 1024);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s: cannot read: %s", path, strerror(-rc));
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!root) {
		int line, col;
		char near[40];

		line_col(text, end ? end : text, &line, &col);
		excerpt(end && *end ? end : "(end of file)", near, 24);
		for (char *p = near; *p; p++)
			if (*p == '\n' || *p == '\t')
				*p = ' ';
		rc =
		    errmsg(err, errlen, -EINVAL,
			   "%s:%d:%d: not valid JSON near \"%s\"; check for a missing comma, quote "
			   "or bracket (comments are not allowed)",
			   path, line, col, near);
		goto out;
	}
	for (const char *p = end; p && *p; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
			int line, col;

			line_col(text, p, &line, &col);
			rc = errmsg(err, errlen, -EINVAL,
				    "%s:%d:%d: text after the end of the JSON document", path, line,
				    col);
			goto out;
		}
	if (!cJSON_IsObject(root)) {
		rc = lfail(err, errlen, -EINVAL, &l, NULL,
			   "expected an object {\"suite\", \"description\", \"scenarios\"}, got %s",
			   json_type(root));
		goto out;
	}
	if ((rc = check_keys(root, keys, &l, NULL, err, errlen)) < 0)
		goto out;
	rc = get_str(root, "suite", true, EVAL_ID_MAX - 1, &l, "suite",
		     "name the suite as the file is named (evals/scenarios/<suite>.json)", &s, err,
		     errlen);
	if (rc < 0)
		goto out;
	snprintf(stem, sizeof(stem), "%s", base_name(path));
	if (strlen(stem) > 5 && strcmp(stem + strlen(stem) - 5, ".json") == 0)
		stem[strlen(stem) - 5] = '\0';
	if (strcmp(stem, s) != 0) {
		rc = lfail(err, errlen, -EINVAL, &l, "suite",
			   "'%s' differs from the file name '%s'; one file per suite, named "
			   "<suite>.json",
			   s, stem);
		goto out;
	}
	for (size_t i = 0; i < set->n_suites; i++)
		if (strcmp(set->suites[i].name, s) == 0) {
			rc = lfail(err, errlen, -EINVAL, &l, "suite",
				   "'%s' is already loaded from %s", s, set->suites[i].file);
			goto out;
		}
	su.name = strdup(s);
	su.file = strdup(path);
	rc = get_str(root, "description", false, EVAL_TEXT_MAX, &l, "description",
		     "what the suite measures", &s, err, errlen);
	if (rc < 0)
		goto out;
	su.description = xstrdup(s);
	if (!su.name || !su.file || (s && !su.description)) {
		rc = -ENOMEM;
		goto out;
	}
	arr = cJSON_GetObjectItemCaseSensitive(root, "scenarios");
	if (!arr || !cJSON_IsArray(arr)) {
		rc = lfail(err, errlen, -EINVAL, &l, "scenarios",
			   arr ? "expected an array of scenarios, got %s"
			       : "missing%s; add \"scenarios\": [{\"id\": ..., \"title\": ..., "
				 "\"turns\": [...]}]",
			   arr ? json_type(arr) : "");
		goto out;
	}
	cap = (size_t)cJSON_GetArraySize(arr);
	if (cap == 0) {
		rc = lfail(err, errlen, -EINVAL, &l, "scenarios", "empty; a suite needs scenarios");
		goto out;
	}
	if (cap > EVAL_SCENARIOS_PER_FILE_MAX || set->n_sc + cap > EVAL_SCENARIOS_MAX) {
		rc = lfail(err, errlen, -E2BIG, &l, "scenarios",
			   "%zu scenarios: over the limit of %d a file or %d in all", cap,
			   EVAL_SCENARIOS_PER_FILE_MAX, EVAL_SCENARIOS_MAX);
		goto out;
	}
	sc = calloc(cap, sizeof(*sc));
	if (!sc) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(e, arr)
	{
		n = (size_t)no + 1;
		rc = parse_scenario(&set->refs, e, ++no, &sc[n - 1], &l, err, errlen);
		if (rc < 0)
			goto out;
		sc[n - 1].suite = set->n_suites;
		sc[n - 1].selected = true;
		for (size_t i = 0; i + 1 < n; i++)
			if (strcmp(sc[i].id, sc[n - 1].id) == 0) {
				rc = lfail(err, errlen, -EINVAL, &l, "id",
					   "used twice in this file (scenarios #%zu and #%zu); ids "
					   "are unique across all suites",
					   i + 1, n);
				goto out;
			}
		for (size_t i = 0; i < set->n_sc; i++)
			if (strcmp(set->sc[i].id, sc[n - 1].id) == 0) {
				rc = lfail(err, errlen, -EINVAL, &l, "id",
					   "already used in %s; ids are unique across all suites",
					   set->suites[set->sc[i].suite].file);
				goto out;
			}
	}
	/* everything checked: add it */
	grown = realloc(set->sc, (set->n_sc + n) * sizeof(*set->sc));
	if (!grown) {
		rc = -ENOMEM;
		goto out;
	}
	set->sc = grown;
	{
		struct suite *gs = realloc(set->suites, (set->n_suites + 1) * sizeof(*gs));

		if (!gs) {
			rc = -ENOMEM;
			goto out;
		}
		set->suites = gs;
	}
	memcpy(set->sc + set->n_sc, sc, n * sizeof(*sc));
	set->n_sc += n;
	set->suites[set->n_suites++] = su;
	memset(&su, 0, sizeof(su));
	free(sc);
	sc = NULL;
	n = 0;
	rc = 0;
out:
	if (rc == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", path);
	for (size_t i = 0; sc && i < n; i++)
		scenario_free(&sc[i]);
	free(sc);
	free(su.name);
	free(su.file);
	free(su.description);
	cJSON_Delete(root);
	free(text);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int eval_set_add_dir(struct eval_set *set, const char *dir, char *err, size_t errlen)
{
	char *names[EVAL_FILES_MAX], path[PATH_LEN];
	size_t n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d)
		return errmsg(err, errlen, -errno, "%s: cannot open the scenarios folder: %s", dir,
			      strerror(errno));
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
			continue;
		if (n == EVAL_FILES_MAX) {
			rc = errmsg(err, errlen, -E2BIG, "%s: more than %d scenario files", dir,
				    EVAL_FILES_MAX);
			goto out;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n == 0) {
		rc = errmsg(err, errlen, -ENOENT,
			    "%s: no scenario files (*.json); write evals/scenarios/<suite>.json as "
			    "docs/evals.md describes",
			    dir);
		goto out;
	}
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path))
			rc = errmsg(err, errlen, -ENAMETOOLONG, "%s/%s: path too long", dir,
				    names[i]);
		else
			rc = eval_set_add_file(set, path, err, errlen);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	closedir(d);
	return rc;
}

int eval_set_select(struct eval_set *set, const char *suite, const char *scenario, char *err,
		    size_t errlen)
{
	size_t hit = 0;
	char list[KNOWN_MAX];
	size_t off = 0;

	if (suite) {
		size_t i;

		for (i = 0; i < set->n_suites && strcmp(set->suites[i].name, suite) != 0; i++)
			;
		if (i == set->n_suites) {
			for (size_t k = 0; k < set->n_suites && off < sizeof(list); k++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
							k ? ", " : "", set->suites[k].name);
			return errmsg(err, errlen, -ENOENT,
				      "--suite %s: no such suite (loaded: %s)", suite,
				      list[0] ? list : "none");
		}
	}
	for (size_t i = 0; i < set->n_sc; i++) {
		struct scenario *s = &set->sc[i];

		s->selected = (!suite || strcmp(set->suites[s->suite].name, suite) == 0) &&
			      (!scenario || strcmp(s->id, scenario) == 0);
		hit += s->selected;
	}
	if (hit == 0) {
		const char *best = NULL;
		unsigned bd = 4;

		for (size_t i = 0; scenario && i < set->n_sc; i++) {
			unsigned d = edit_distance(scenario, set->sc[i].id);

			if (d < bd) {
				bd = d;
				best = set->sc[i].id;
			}
		}
		if (best)
			return errmsg(err, errlen, -ENOENT,
				      "--scenario %s: no such scenario%s%s; did you mean '%s'?",
				      scenario, suite ? " in suite " : "", suite ? suite : "",
				      best);
		return errmsg(err, errlen, -ENOENT,
			      "--scenario %s: no such scenario%s%s (ids are listed in the JSON "
			      "report and in evals/scenarios/*.json)",
			      scenario ? scenario : "", suite ? " in suite " : "",
			      suite ? suite : "");
	}
	return 0;
}

size_t eval_set_count(const struct eval_set *set)
{
	size_t n = 0;

	for (size_t i = 0; i < set->n_sc; i++)
		n += set->sc[i].selected;
	return n;
}

size_t eval_set_suite_count(const struct eval_set *set)
{
	size_t n = 0;

	for (size_t k = 0; k < set->n_suites; k++)
		for (size_t i = 0; i < set->n_sc; i++)
			if (set->sc[i].suite == k && set->sc[i].selected) {
				n++;
				break;
			}
	return n;
}

/* ---- running: the sink records what each turn showed ------------------------ */

/* Run-length list of message types: "reply_start, token x12, reply_end" */
struct rl {
	struct strbuf b;
	char last[48];
	unsigned count;
};

static void rl_flush(struct rl *r)
{
	if (!r->count)
		return;
	if (r->count > 1)
		strbuf_add(&r->b, "%s%s x%u", r->b.len ? ", " : "", r->last, r->count);
	else
		strbuf_add(&r->b, "%s%s", r->b.len ? ", " : "", r->last);
	r->count = 0;
	r->last[0] = '\0';
}

static void rl_add(struct rl *r, const char *type, const char *detail)
{
	if (!detail && r->count && strcmp(r->last, type) == 0) {
		r->count++;
		return;
	}
	rl_flush(r);
	if (detail) {
		char ex[EXCERPT_MAX];

		excerpt(detail, ex, sizeof(ex));
		strbuf_add(&r->b, "%s%s %s", r->b.len ? ", " : "", type, ex);
		return;
	}
	snprintf(r->last, sizeof(r->last), "%s", type);
	r->count = 1;
}

struct recorder {
	struct rl kiosk, staff, audit;
};

static void rec_reset(struct recorder *r)
{
	free(r->kiosk.b.p);
	free(r->staff.b.p);
	free(r->audit.b.p);
	memset(r, 0, sizeof(*r));
	strbuf_init(&r->kiosk.b, SUMMARY_MAX, "...");
	strbuf_init(&r->staff.b, SUMMARY_MAX, "...");
	strbuf_init(&r->audit.b, SUMMARY_MAX, "...");
}

static void rec_display(struct rl *r, const char *json, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");

	rl_add(r, cJSON_IsString(t) ? t->valuestring : "?", NULL);
	cJSON_Delete(j);
}

static void rec_kiosk(void *ctx, const char *json, size_t len)
{
	rec_display(&((struct recorder *)ctx)->kiosk, json, len);
}

static void rec_staff(void *ctx, const char *json, size_t len)
{
	rec_display(&((struct recorder *)ctx)->staff, json, len);
}

static void rec_audit(void *ctx, const char *kind, const char *detail)
{
	struct recorder *r = ctx;
	/* the kinds worth reading in a failure report keep their detail */
	bool keep = strcmp(kind, "tool_rejected") == 0 || strcmp(kind, "blocked_transition") == 0 ||
		    strcmp(kind, "escalation") == 0 || strcmp(kind, "flagged_figure") == 0 ||
		    strcmp(kind, "offline") == 0;

	rl_add(&r->audit, kind, keep ? detail : NULL);
}

/* ---- results ----------------------------------------------------------------- */

enum turn_kind { KIND_OTHER, KIND_DISCOVERY, KIND_PRODUCT };

struct check {
	char field[48];
	bool reply; /* scored; false: deterministic (gated) */
	bool pass;
	char *expected, *got;
};

struct tool_got {
	char *name, *args;
	bool ok;
};

struct turn_result {
	int rc;
	bool escalated, refused;
	char category[AGENT_ID_MAX], rule[AGENT_ID_MAX];
	uint32_t signals;
	char *evidence;
	char archetype[AGENT_ID_MAX], tier[AGENT_ID_MAX];
	unsigned n_skills;
	char *skills; /* "a, b, c" */
	unsigned n_tools;
	struct tool_got tools[AGENT_TURN_TOOLS_MAX];
	enum agent_state before, after;
	enum agent_reply_source source;
	char *reply;
	unsigned flagged, prompt_lines, prompt_tokens, full_lines;
	double elapsed_ms;
	char llm_outcome[32];
	char *kiosk, *staff, *audit;
	enum turn_kind kind;
	double ratio; /* prompt_lines / full_lines, 0 when not measured */
	struct check *checks;
	unsigned n_checks, cap_checks;
	unsigned det_total, det_failed, reply_total, reply_met;
};

struct run {
	size_t sc;    /* scenario index in the set */
	unsigned run; /* 1-based */
	char *error;  /* the session could not run: why */
	char *opening;
	struct turn_result *turns;
	unsigned n_turns; /* turns run */
	bool passed;
	double reply_score; /* -1: no reply check */
};

struct eval_results {
	const struct eval_set *set;
	struct run *runs;
	size_t n_runs;
	char *llm_url, *llm_model;
	unsigned repeat;
	int32_t day;
	bool det_only;
	double elapsed_ms;
};

static void turn_result_free(struct turn_result *t)
{
	free(t->evidence);
	free(t->skills);
	for (unsigned i = 0; i < t->n_tools; i++) {
		free(t->tools[i].name);
		free(t->tools[i].args);
	}
	free(t->reply);
	free(t->kiosk);
	free(t->staff);
	free(t->audit);
	for (unsigned i = 0; i < t->n_checks; i++) {
		free(t->checks[i].expected);
		free(t->checks[i].got);
	}
	free(t->checks);
}

void eval_results_free(struct eval_results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_runs; i++) {
		for (unsigned k = 0; k < r->runs[i].n_turns; k++)
			turn_result_free(&r->runs[i].turns[k]);
		free(r->runs[i].turns);
		free(r->runs[i].error);
		free(r->runs[i].opening);
	}
	free(r->runs);
	free(r->llm_url);
	free(r->llm_model);
	free(r);
}

static void add_check(struct turn_result *tr, const char *field, bool reply, bool pass,
		      const char *expected, const char *got_fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add_check(struct turn_result *tr, const char *field, bool reply, bool pass,
		      const char *expected, const char *got_fmt, ...)
{
	struct check *c;
	char got[GOT_MAX];
	va_list ap;

	if (tr->n_checks == tr->cap_checks) {
		unsigned nc = tr->cap_checks ? tr->cap_checks * 2 : 8;
		struct check *g = realloc(tr->checks, nc * sizeof(*g));

		if (!g)
			return;
		tr->checks = g;
		tr->cap_checks = nc;
	}
	va_start(ap, got_fmt);
	if (vsnprintf(got, sizeof(got), got_fmt, ap) >= (int)sizeof(got))
		memcpy(got + sizeof(got) - 4, "...", 4); /* said, not silent */
	va_end(ap);
	c = &tr->checks[tr->n_checks++];
	snprintf(c->field, sizeof(c->field), "%s", field);
	c->reply = reply;
	c->pass = pass;
	c->expected = strdup(expected);
	c->got = strdup(got);
	if (reply) {
		tr->reply_total++;
		tr->reply_met += pass;
	} else {
		tr->det_total++;
		tr->det_failed += !pass;
	}
}

static void signals_list(uint32_t mask, char *out, size_t len)
{
	size_t off = 0;

	off += (size_t)snprintf(out, len, "[");
	for (int i = 0; i < SIGNAL_COUNT && off < len; i++)
		if (mask & SIGNAL_BIT(i))
			off += (size_t)snprintf(out + off, len - off, "%s%s", off > 1 ? ", " : "",
						signals_name((enum signal)i));
	if (off < len)
		snprintf(out + off, len - off, "]");
}

static void evidence_text(const struct signals_result *sr, struct strbuf *b)
{
	for (int i = 0; i < SIGNAL_COUNT; i++) {
		const struct signals_evidence *e = &sr->ev[i];

		if (!(sr->mask & SIGNAL_BIT(i)))
			continue;
		strbuf_add(b, "%s%s:", b->len ? "; " : "", signals_name((enum signal)i));
		for (unsigned k = 0; k < e->n_cues; k++)
			strbuf_add(b, "%s \"%s\"", k ? "," : "", e->cues[k]);
		for (unsigned k = 0; k < e->n_ids; k++)
			strbuf_add(b, "%s %s", k || e->n_cues ? "," : "", e->ids[k]);
	}
}

static void tools_list(const struct turn_result *tr, char *out, size_t len)
{
	size_t off = (size_t)snprintf(out, len, "[");

	for (unsigned i = 0; i < tr->n_tools && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s %s%s", i ? ", " : "",
					tr->tools[i].name, tr->tools[i].args,
					tr->tools[i].ok ? "" : " (rejected)");
	if (off + 1 < len)
		snprintf(out + off, len - off, "]");
	else if (len > 4)
		memcpy(out + len - 4, "...", 4); /* cut: said, not silent */
}

/* Every member of want is in got: objects by key, arrays by element (any
 * order), scalars equal. */
static bool json_subset(const cJSON *want, const cJSON *got)
{
	const cJSON *w, *g;

	if (!got)
		return false;
	if (cJSON_IsObject(want)) {
		if (!cJSON_IsObject(got))
			return false;
		for (w = want->child; w; w = w->next)
			if (!json_subset(w, cJSON_GetObjectItemCaseSensitive(got, w->string)))
				return false;
		return true;
	}
	if (cJSON_IsArray(want)) {
		if (!cJSON_IsArray(got))
			return false;
		cJSON_ArrayForEach(w, want)
		{
			bool found = false;

			cJSON_ArrayForEach(g, got) if (json_subset(w, g))
			{
				found = true;
				break;
			}
			if (!found)
				return false;
		}
		return true;
	}
	if (cJSON_IsString(want))
		return cJSON_IsString(got) && strcmp(want->valuestring, got->valuestring) == 0;
	if (cJSON_IsNumber(want))
		return cJSON_IsNumber(got) && fabs(want->valuedouble - got->valuedouble) < 1e-9;
	if (cJSON_IsBool(want))
		return cJSON_IsBool(got) && cJSON_IsTrue(want) == cJSON_IsTrue(got);
	if (cJSON_IsNull(want))
		return cJSON_IsNull(got);
	return false;
}

static bool has_skill(const struct agent_turn_report *rep, const char *id)
{
	for (unsigned i = 0; i < rep->n_skills; i++)
		if (strcmp(rep->skills[i], id) == 0)
			return true;
	return false;
}

static const char *or_none(const char *s)
{
	return s && s[0] ? s : "(none)";
}

static void check_expect(struct turn_result *tr, const struct turn *t,
			 const struct agent_turn_report *rep)
{
	char exp[512], list[GOT_MAX];

	if (t->has & X_ESCALATED)
		add_check(tr, "expect.escalated", false, rep->escalated == t->escalated,
			  t->escalated ? "true" : "false", "%s%s%s%s%s",
			  rep->escalated ? "true" : "false", rep->category[0] ? " (category " : "",
			  rep->category, rep->category[0] ? ")" : "",
			  rep->refused ? " (refused as too long or unreadable)" : "");
	if (t->has & X_CATEGORY) {
		snprintf(exp, sizeof(exp), "'%s'", t->category);
		add_check(tr, "expect.category", false, strcmp(rep->category, t->category) == 0,
			  exp, "'%s'%s%s%s", rep->category, rep->rule[0] ? " (rule " : "",
			  rep->rule, rep->rule[0] ? ")" : "");
	}
	signals_list(rep->signals, list, sizeof(list));
	for (int i = 0; i < SIGNAL_COUNT; i++) {
		if (t->signals & SIGNAL_BIT(i)) {
			snprintf(exp, sizeof(exp), "'%s' raised", signals_name((enum signal)i));
			add_check(tr, "expect.signals", false, rep->signals & SIGNAL_BIT(i), exp,
				  "%s", list);
		}
		if (t->signals_absent & SIGNAL_BIT(i)) {
			snprintf(exp, sizeof(exp), "'%s' not raised", signals_name((enum signal)i));
			add_check(tr, "expect.signals_absent", false,
				  !(rep->signals & SIGNAL_BIT(i)), exp, "%s (evidence: %s)", list,
				  or_none(tr->evidence));
		}
	}
	snprintf(list, sizeof(list), "[%s]", tr->skills ? tr->skills : "");
	for (unsigned i = 0; i < t->n_skills; i++) {
		snprintf(exp, sizeof(exp), "'%s' loaded", t->skills[i]);
		add_check(tr, "expect.skills", false, has_skill(rep, t->skills[i]), exp, "%s",
			  list);
	}
	for (unsigned i = 0; i < t->n_skills_absent; i++) {
		snprintf(exp, sizeof(exp), "'%s' not loaded", t->skills_absent[i]);
		add_check(tr, "expect.skills_absent", false, !has_skill(rep, t->skills_absent[i]),
			  exp, "%s", list);
	}
	if (t->has & X_ARCHETYPE) {
		snprintf(exp, sizeof(exp), "'%s'",
			 t->archetype[0] ? t->archetype : "(not decided)");
		add_check(tr, "expect.archetype", false, strcmp(rep->archetype, t->archetype) == 0,
			  exp, "'%s'", rep->archetype[0] ? rep->archetype : "(not decided)");
	}
	if (t->has & X_TIER) {
		snprintf(exp, sizeof(exp), "'%s'", t->tier[0] ? t->tier : "(not decided)");
		add_check(tr, "expect.archetype_tier", false,
			  strcmp(rep->archetype_tier, t->tier) == 0, exp, "'%s'",
			  rep->archetype_tier[0] ? rep->archetype_tier : "(not decided)");
	}
	tools_list(tr, list, sizeof(list));
	for (unsigned i = 0; i < t->n_tools; i++) {
		const struct tool_expect *te = &t->tools[i];
		bool ok = false, rejected = false;

		for (unsigned k = 0; k < rep->n_tools && !ok; k++) {
			cJSON *args;
			bool match;

			if (strcmp(rep->tools[k].name, te->name) != 0)
				continue;
			args = cJSON_Parse(rep->tools[k].args);
			match = !te->args || json_subset(te->args, args);
			cJSON_Delete(args);
			if (match && rep->tools[k].ok)
				ok = true;
			else if (match)
				rejected = true;
		}
		snprintf(exp, sizeof(exp), "%s %s called and run", te->name,
			 te->args_text ? te->args_text : "(any arguments)");
		add_check(tr, "expect.tools", false, ok, exp, "%s%s", list,
			  rejected ? " (a matching call was rejected by the tool layer)" : "");
	}
	for (unsigned i = 0; i < t->n_tools_absent; i++) {
		bool called = false;

		for (unsigned k = 0; k < rep->n_tools; k++)
			called |= strcmp(rep->tools[k].name, t->tools_absent[i]) == 0;
		snprintf(exp, sizeof(exp), "%s not called (not even a rejected attempt)",
			 t->tools_absent[i]);
		add_check(tr, "expect.tools_absent", false, !called, exp, "%s", list);
	}
	if (t->has & X_STATE) {
		snprintf(exp, sizeof(exp), "'%s'", agent_state_name(t->state));
		add_check(tr, "expect.state", false, rep->state_after == t->state, exp,
			  "'%s' (from '%s')", agent_state_name(rep->state_after),
			  agent_state_name(rep->state_before));
	}
}

/* A sentence that states a money difference per month or year, or NULL. */
static bool comparison_math(const struct refs *r, const char *reply, char *got, size_t gotlen)
{
	const char *s = reply, *p;

	for (p = reply;; p++) {
		bool end = !*p || *p == '\n' ||
			   ((*p == '.' || *p == '!' || *p == '?') &&
			    (!p[1] || p[1] == ' ' || p[1] == '\n' || p[1] == '"'));

		if (!end)
			continue;
		if (p > s) {
			size_t len = (size_t)(p - s) + (*p ? 1 : 0);

			if (re_find(r->money, s, len, NULL, 0) &&
			    re_find(r->diff, s, len, NULL, 0) &&
			    re_find(r->period, s, len, NULL, 0)) {
				char sent[EXCERPT_MAX * 2];

				snprintf(sent, sizeof(sent), "%.*s", (int)len, s);
				excerpt(sent, got, gotlen);
				return true;
			}
		}
		if (!*p)
			break;
		s = p + 1;
		while (*s == ' ')
			s++;
	}
	return false;
}

static bool asks_question(const char *reply)
{
	for (const char *p = strchr(reply, '?'); p; p = strchr(p + 1, '?'))
		if (!p[1] || strchr(" \n\t\"')", p[1]) || (unsigned char)p[1] == 0xE2)
			return true;
	return false;
}

static void check_reply(struct turn_result *tr, const struct turn *t, const struct refs *r)
{
	const char *reply = tr->reply ? tr->reply : "";
	size_t len = strlen(reply);
	char exp[EVAL_PATTERN_MAX + 64], hit[EXCERPT_MAX], ex[EXCERPT_MAX], field[48];

	excerpt(reply, ex, sizeof(ex));
	for (unsigned i = 0; i < t->n_must; i++) {
		bool ok = re_find(t->must[i].re, reply, len, NULL, 0);

		snprintf(field, sizeof(field), "reply.must[%u]", i);
		snprintf(exp, sizeof(exp), "/%s/ matches", t->must[i].src);
		add_check(tr, field, true, ok, exp, ok ? "matched" : "no match in \"%s\"", ex);
	}
	for (unsigned i = 0; i < t->n_must_not; i++) {
		bool found = re_find(t->must_not[i].re, reply, len, hit, sizeof(hit));

		snprintf(field, sizeof(field), "reply.must_not[%u]", i);
		snprintf(exp, sizeof(exp), "/%s/ does not match", t->must_not[i].src);
		add_check(tr, field, true, !found, exp, found ? "matched \"%s\"" : "no match",
			  found ? hit : "");
	}
	if (t->figures)
		add_check(tr, "reply.figures_from_catalog", true, tr->flagged == 0,
			  "no figure flagged by the figure check",
			  "%u flagged (corrected or removed)", tr->flagged);
	if (t->comparison_math) {
		bool ok = comparison_math(r, reply, hit, sizeof(hit));

		add_check(tr, "reply.comparison_math", true, ok,
			  "a money difference per month or year", ok ? "\"%s\"" : "none in \"%s\"",
			  ok ? hit : ex);
	}
	if (t->question) {
		bool ok = asks_question(reply);

		add_check(tr, "reply.question", true, ok, "a question (a sentence ending in ?)",
			  ok ? "asked" : "none in \"%s\"", ex);
	}
	if (t->no_selling) {
		char what[EXCERPT_MAX + 32] = "";

		if (re_find(r->products, reply, len, hit, sizeof(hit)))
			snprintf(what, sizeof(what), "names '%s'", hit);
		else if (re_find(r->money, reply, len, hit, sizeof(hit)))
			snprintf(what, sizeof(what), "states a price '%s'", hit);
		else if (re_find(r->offer_words, reply, len, hit, sizeof(hit)))
			snprintf(what, sizeof(what), "offers '%s'", hit);
		add_check(tr, "reply.no_selling", true, !what[0],
			  "no product names, prices or offers", "%s", what[0] ? what : "none");
	}
	if (t->max_chars) {
		size_t n = utf8_chars(reply);

		snprintf(exp, sizeof(exp), "at most %u characters", t->max_chars);
		add_check(tr, "reply.max_chars", true, n <= t->max_chars, exp, "%zu", n);
	}
}

static enum turn_kind kind_of(const struct agent_turn_report *rep)
{
	if (!rep->full_prompt_lines || !rep->prompt_lines)
		return KIND_OTHER;
	switch (rep->state_after) {
	case AGENT_STATE_GREETING:
	case AGENT_STATE_DISCOVERY:
		return KIND_DISCOVERY;
	case AGENT_STATE_PRESENTING:
	case AGENT_STATE_OBJECTION:
	case AGENT_STATE_CLOSING:
		return rep->signals & SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST) ? KIND_PRODUCT
									  : KIND_OTHER;
	case AGENT_STATE_IDLE:
	case AGENT_STATE_APPROACHING:
	case AGENT_STATE_HANDED_OVER:
	case AGENT_STATE_FAREWELL:
		return KIND_OTHER;
	}
	return KIND_OTHER;
}

static int copy_report(struct turn_result *tr, const struct agent_turn_report *rep,
		       struct recorder *rec)
{
	struct strbuf b;

	tr->escalated = rep->escalated;
	tr->refused = rep->refused;
	snprintf(tr->category, sizeof(tr->category), "%s", rep->category);
	snprintf(tr->rule, sizeof(tr->rule), "%s", rep->rule);
	tr->signals = rep->signals;
	strbuf_init(&b, 2048, "...");
	evidence_text(&rep->evidence, &b);
	tr->evidence = strbuf_take(&b);
	snprintf(tr->archetype, sizeof(tr->archetype), "%s", rep->archetype);
	snprintf(tr->tier, sizeof(tr->tier), "%s", rep->archetype_tier);
	tr->n_skills = rep->n_skills;
	strbuf_init(&b, 2048, "...");
	for (unsigned i = 0; i < rep->n_skills; i++)
		strbuf_add(&b, "%s%s", i ? ", " : "", rep->skills[i]);
	tr->skills = strbuf_take(&b);
	for (unsigned i = 0; i < rep->n_tools && i < AGENT_TURN_TOOLS_MAX; i++) {
		tr->tools[i].name = strdup(rep->tools[i].name);
		tr->tools[i].args = strdup(rep->tools[i].args);
		tr->tools[i].ok = rep->tools[i].ok;
		tr->n_tools = i + 1;
		if (!tr->tools[i].name || !tr->tools[i].args)
			return -ENOMEM;
	}
	tr->before = rep->state_before;
	tr->after = rep->state_after;
	tr->source = rep->source;
	tr->reply = strdup(rep->reply);
	tr->flagged = rep->flagged_figures;
	tr->prompt_lines = rep->prompt_lines;
	tr->prompt_tokens = rep->prompt_tokens;
	tr->full_lines = rep->full_prompt_lines;
	tr->elapsed_ms = rep->elapsed_ms;
	snprintf(tr->llm_outcome, sizeof(tr->llm_outcome), "%s", rep->llm_outcome);
	rl_flush(&rec->kiosk);
	rl_flush(&rec->staff);
	rl_flush(&rec->audit);
	tr->kiosk = strbuf_take(&rec->kiosk.b);
	tr->staff = strbuf_take(&rec->staff.b);
	tr->audit = strbuf_take(&rec->audit.b);
	tr->kind = kind_of(rep);
	tr->ratio = tr->kind != KIND_OTHER ? (double)rep->prompt_lines / rep->full_prompt_lines : 0;
	if (!tr->evidence || !tr->skills || !tr->reply || !tr->kiosk || !tr->staff || !tr->audit)
		return -ENOMEM;
	return 0;
}

static int run_scenario(struct agent *a, const struct eval_set *set, size_t idx, int32_t day,
			bool det_only, struct run *run)
{
	const struct scenario *sc = &set->sc[idx];
	struct agent_visitor v = {0};
	struct recorder rec = {0};
	struct agent_sink sink = {
	    .kiosk = rec_kiosk, .staff = rec_staff, .audit = rec_audit, .ctx = &rec};
	struct agent_turn_report *rep = NULL;
	struct agent_session *s = NULL;
	double reply_sum = 0;
	unsigned reply_turns = 0;
	int rc;

	run->sc = idx;
	run->reply_score = -1;
	run->turns = calloc(sc->n_turns, sizeof(*run->turns));
	rep = malloc(sizeof(*rep));
	if (!run->turns || !rep) {
		free(rep);
		return -ENOMEM;
	}
	if (sc->has_visitor) {
		v.name = sc->name;
		v.returning = sc->returning;
		v.last_visit = sc->last_visit;
		v.facts = (const char *const *)sc->facts;
		v.customer_id = sc->name || sc->returning ? 1 : 0;
		v.recognised_by = v.customer_id ? "app" : NULL;
		v.confidence = v.customer_id ? 0.95 : 0;
	}
	agent_set_day(a, sc->has_day ? sc->day : day);
	rec_reset(&rec);
	rc = agent_session_begin(a, &v, &sink, &s);
	if (rc < 0) {
		char e[128];

		snprintf(e, sizeof(e), "agent_session_begin failed: %s", strerror(-rc));
		run->error = strdup(e);
		goto out;
	}
	rl_flush(&rec.kiosk);
	run->opening = strbuf_take(&rec.kiosk.b);
	run->passed = true;
	for (unsigned i = 0; i < sc->n_turns; i++) {
		const struct turn *t = &sc->turns[i];
		struct turn_result *tr = &run->turns[i];

		rec_reset(&rec);
		run->n_turns = i + 1;
		tr->rc = agent_session_turn(s, t->say, t->say_len, rep);
		if (tr->rc < 0) {
			char e[160];

			snprintf(e, sizeof(e), "agent_session_turn failed at turn %u: %s", i + 1,
				 strerror(-tr->rc));
			run->error = strdup(e);
			run->passed = false;
			break;
		}
		rc = copy_report(tr, rep, &rec);
		if (rc < 0)
			goto out;
		check_expect(tr, t, rep);
		if (!det_only)
			check_reply(tr, t, &set->refs);
		if (tr->det_failed)
			run->passed = false;
		if (tr->reply_total) {
			reply_sum += (double)tr->reply_met / tr->reply_total;
			reply_turns++;
		}
	}
	if (reply_turns)
		run->reply_score = reply_sum / reply_turns;
	rc = 0;
out:
	agent_session_end(s, AGENT_END_LEFT);
	rec_reset(&rec);
	free(rec.kiosk.b.p);
	free(rec.staff.b.p);
	free(rec.audit.b.p);
	free(rep);
	return rc;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int eval_run(const struct eval_set *set, const struct eval_options *o, struct eval_results **ret,
	     char *err, size_t errlen)
{
	unsigned repeat = o->repeat ? o->repeat : 1;
	struct eval_results *r;
	struct agent *a = NULL;
	int32_t day = o->day;
	double t0 = now_ms();
	int rc;

	*ret = NULL;
	if (repeat > EVAL_REPEAT_MAX)
		return errmsg(err, errlen, -EINVAL, "--repeat %u: at most %d", repeat,
			      EVAL_REPEAT_MAX);
	if (eval_set_count(set) * repeat > EVAL_RUNS_MAX)
		return errmsg(
		    err, errlen, -E2BIG,
		    "%zu scenarios x --repeat %u is over the limit of %d runs; pick a suite "
		    "with --suite",
		    eval_set_count(set), repeat, EVAL_RUNS_MAX);
	if (day < 0 && catalog_date_parse(EVAL_DEFAULT_DAY, &day) < 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	r->set = set;
	r->repeat = repeat;
	r->day = day;
	r->det_only = o->deterministic_only;
	r->llm_url = xstrdup(o->llm_url);
	r->llm_model = xstrdup(o->llm_model ? o->llm_model : (o->llm_url ? "default" : NULL));
	r->runs = calloc(eval_set_count(set) * repeat + 1, sizeof(*r->runs));
	if (!r->runs) {
		rc = errmsg(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = agent_new_paths(&o->paths, &a, err, errlen);
	if (rc < 0)
		goto fail;
	if (o->llm_url && (rc = agent_use_llm(a, o->llm_url, r->llm_model, err, errlen)) < 0)
		goto fail;
	for (size_t i = 0; i < set->n_sc; i++) {
		if (!set->sc[i].selected)
			continue;
		for (unsigned k = 1; k <= repeat; k++) {
			struct run *run = &r->runs[r->n_runs++];

			run->run = k;
			rc = run_scenario(a, set, i, day, o->deterministic_only, run);
			if (rc < 0) {
				errmsg(err, errlen, rc, "scenario '%s': %s", set->sc[i].id,
				       strerror(-rc));
				goto fail;
			}
			if (o->progress) {
				fprintf(o->progress, "%s %s (%s)", run->passed ? "PASS" : "FAIL",
					set->sc[i].id, set->suites[set->sc[i].suite].name);
				if (repeat > 1)
					fprintf(o->progress, " run %u/%u", k, repeat);
				fprintf(o->progress, "\n");
				fflush(o->progress);
			}
		}
	}
	agent_free(a);
	r->elapsed_ms = now_ms() - t0;
	*ret = r;
	return 0;
fail:
	agent_free(a);
	eval_results_free(r);
	return rc;
}

/* ---- scoring ------------------------------------------------------------------ */

static void prompt_add(struct eval_prompt_stats *ps, double ratio, const char *id, int turn)
{
	ps->mean += ratio; /* a sum until prompt_end */
	if (!ps->turns || ratio > ps->worst) {
		ps->worst = ratio;
		snprintf(ps->worst_at, sizeof(ps->worst_at), "%s turn %d", id, turn);
	}
	ps->turns++;
}

static void prompt_end(struct eval_prompt_stats *ps, double goal)
{
	if (ps->turns)
		ps->mean /= ps->turns;
	ps->goal = goal;
	ps->ok = ps->worst <= goal + 1e-12;
}

int eval_results_totals(const struct eval_results *r, const char *suite, struct eval_totals *ret)
{
	const struct eval_set *set = r->set;
	double reply_sum = 0;
	size_t last = (size_t)-1;

	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < r->n_runs; i++) {
		const struct run *run = &r->runs[i];
		const struct scenario *sc = &set->sc[run->sc];

		if (suite && strcmp(set->suites[sc->suite].name, suite) != 0)
			continue;
		if (run->sc != last)
			ret->scenarios++;
		last = run->sc;
		ret->runs++;
		if (run->passed)
			ret->passed++;
		else
			ret->failed++;
		for (unsigned k = 0; k < run->n_turns; k++) {
			const struct turn_result *tr = &run->turns[k];
			const struct turn *t = &sc->turns[k];

			ret->det_checks += tr->det_total;
			ret->det_failed += tr->det_failed;
			if (tr->reply_total) {
				ret->reply_turns++;
				reply_sum += (double)tr->reply_met / tr->reply_total;
			}
			if (t->has & X_ESCALATED) {
				if (t->escalated) {
					ret->expect_escalated++;
					ret->guard_misses += !tr->escalated;
				} else {
					ret->expect_not_escalated++;
					ret->false_alarms += tr->escalated;
				}
			}
			ret->llm_turns += tr->source == AGENT_REPLY_LLM;
			ret->fallback_turns += tr->source == AGENT_REPLY_FALLBACK;
			if (tr->kind == KIND_DISCOVERY)
				prompt_add(&ret->discovery, tr->ratio, sc->id, (int)k + 1);
			else if (tr->kind == KIND_PRODUCT)
				prompt_add(&ret->product, tr->ratio, sc->id, (int)k + 1);
		}
	}
	if (suite && !ret->runs)
		return -ENOENT;
	ret->reply_score = ret->reply_turns ? reply_sum / ret->reply_turns : -1;
	prompt_end(&ret->discovery, EVAL_GOAL_DISCOVERY);
	prompt_end(&ret->product, EVAL_GOAL_PRODUCT);
	return 0;
}

size_t eval_results_suite_count(const struct eval_results *r)
{
	return r->set->n_suites;
}

const char *eval_results_suite(const struct eval_results *r, size_t i)
{
	return i < r->set->n_suites ? r->set->suites[i].name : NULL;
}

bool eval_results_prompt_ok(const struct eval_results *r)
{
	struct eval_totals t;

	eval_results_totals(r, NULL, &t);
	return t.discovery.ok && t.product.ok;
}

long eval_results_prompt_lines(const struct eval_results *r)
{
	long n = 0;

	for (size_t i = 0; i < r->n_runs; i++)
		for (unsigned k = 0; k < r->runs[i].n_turns; k++)
			n += r->runs[i].turns[k].prompt_lines;
	return n;
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	h ^= 0xff; /* a separator, so "ab"+"c" differs from "a"+"bc" */
	h *= 0x100000001b3ull;
	return h;
}

uint64_t eval_results_fingerprint(const struct eval_results *r)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < r->n_runs; i++)
		for (unsigned k = 0; k < r->runs[i].n_turns; k++) {
			const struct turn_result *tr = &r->runs[i].turns[k];

			h = fnv(h, tr->reply);
			for (unsigned t = 0; t < tr->n_tools; t++) {
				h = fnv(h, tr->tools[t].name);
				h = fnv(h, tr->tools[t].args);
			}
		}
	return h;
}

/* ---- output: failures, JSON ------------------------------------------------------ */

static double pct(double x)
{
	return 100.0 * x;
}

unsigned eval_results_print_failures(const struct eval_results *r, FILE *out)
{
	const struct eval_set *set = r->set;
	unsigned n = 0;

	for (size_t i = 0; i < r->n_runs; i++) {
		const struct run *run = &r->runs[i];
		const struct scenario *sc = &set->sc[run->sc];
		char runs[32] = "";

		if (r->repeat > 1)
			snprintf(runs, sizeof(runs), " (run %u/%u)", run->run, r->repeat);
		if (run->error) {
			fprintf(out, "%s: scenario '%s'%s: %s\n", set->suites[sc->suite].file,
				sc->id, runs, run->error);
			n++;
		}
		for (unsigned k = 0; k < run->n_turns; k++) {
			const struct turn_result *tr = &run->turns[k];

			for (unsigned c = 0; c < tr->n_checks; c++) {
				const struct check *ch = &tr->checks[c];

				if (ch->reply || ch->pass)
					continue;
				fprintf(out,
					"%s: scenario '%s' turn %u%s: %s: expected %s, got %s "
					"(prompt %u of %u lines",
					set->suites[sc->suite].file, sc->id, k + 1, runs, ch->field,
					ch->expected, ch->got, tr->prompt_lines, tr->full_lines);
				if (tr->full_lines)
					fprintf(out, ", %.0f%%",
						pct((double)tr->prompt_lines / tr->full_lines));
				fprintf(out, "; skills: %s)\n", or_none(tr->skills));
				n++;
			}
		}
	}
	return n;
}

static const char *source_name(enum agent_reply_source s)
{
	switch (s) {
	case AGENT_REPLY_NONE:
		return "none";
	case AGENT_REPLY_GUARD:
		return "guard";
	case AGENT_REPLY_LLM:
		return "llm";
	case AGENT_REPLY_OFFLINE:
		return "offline";
	case AGENT_REPLY_FALLBACK:
		return "fallback";
	}
	return "?";
}

static const char *kind_name(enum turn_kind k)
{
	switch (k) {
	case KIND_DISCOVERY:
		return "discovery";
	case KIND_PRODUCT:
		return "product";
	case KIND_OTHER:
		return "other";
	}
	return "?";
}

static cJSON *json_number_or_null(double v)
{
	return v < 0 ? cJSON_CreateNull() : cJSON_CreateNumber(round(v * 1e4) / 1e4);
}

static cJSON *json_prompt(const struct eval_prompt_stats *ps)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "turns", ps->turns);
	cJSON_AddItemToObject(o, "mean", json_number_or_null(ps->turns ? ps->mean : -1));
	cJSON_AddItemToObject(o, "worst", json_number_or_null(ps->turns ? ps->worst : -1));
	cJSON_AddStringToObject(o, "worst_at", ps->worst_at);
	cJSON_AddNumberToObject(o, "goal", ps->goal);
	cJSON_AddBoolToObject(o, "ok", ps->ok);
	return o;
}

static cJSON *json_totals(const struct eval_totals *t)
{
	cJSON *o = cJSON_CreateObject(), *g;

	cJSON_AddNumberToObject(o, "scenarios", t->scenarios);
	cJSON_AddNumberToObject(o, "runs", t->runs);
	cJSON_AddNumberToObject(o, "passed", t->passed);
	cJSON_AddNumberToObject(o, "failed", t->failed);
	cJSON_AddItemToObject(o, "deterministic_pass_rate",
			      json_number_or_null(t->runs ? (double)t->passed / t->runs : -1));
	cJSON_AddNumberToObject(o, "deterministic_checks", t->det_checks);
	cJSON_AddNumberToObject(o, "deterministic_checks_failed", t->det_failed);
	cJSON_AddNumberToObject(o, "reply_turns", t->reply_turns);
	cJSON_AddItemToObject(o, "reply_score", json_number_or_null(t->reply_score));
	g = cJSON_AddObjectToObject(o, "guard");
	cJSON_AddNumberToObject(g, "expected_escalations", t->expect_escalated);
	cJSON_AddNumberToObject(g, "misses", t->guard_misses);
	cJSON_AddNumberToObject(g, "expected_no_escalation", t->expect_not_escalated);
	cJSON_AddNumberToObject(g, "false_alarms", t->false_alarms);
	cJSON_AddNumberToObject(o, "llm_turns", t->llm_turns);
	cJSON_AddNumberToObject(o, "fallback_turns", t->fallback_turns);
	g = cJSON_AddObjectToObject(o, "prompt");
	cJSON_AddItemToObject(g, "discovery", json_prompt(&t->discovery));
	cJSON_AddItemToObject(g, "product", json_prompt(&t->product));
	return o;
}

static cJSON *json_turn(const struct turn *t, const struct turn_result *tr, unsigned no)
{
	cJSON *o = cJSON_CreateObject(), *a, *x;

	cJSON_AddNumberToObject(o, "turn", no);
	cJSON_AddStringToObject(o, "say", t->say);
	if (tr->rc < 0) {
		cJSON_AddStringToObject(o, "error", strerror(-tr->rc));
		return o;
	}
	cJSON_AddStringToObject(o, "reply", tr->reply ? tr->reply : "");
	cJSON_AddStringToObject(o, "source", source_name(tr->source));
	if (tr->llm_outcome[0])
		cJSON_AddStringToObject(o, "llm_outcome", tr->llm_outcome);
	cJSON_AddStringToObject(o, "state_before", agent_state_name(tr->before));
	cJSON_AddStringToObject(o, "state_after", agent_state_name(tr->after));
	cJSON_AddBoolToObject(o, "escalated", tr->escalated);
	cJSON_AddBoolToObject(o, "refused", tr->refused);
	cJSON_AddStringToObject(o, "category", tr->category);
	cJSON_AddStringToObject(o, "rule", tr->rule);
	a = cJSON_AddArrayToObject(o, "signals");
	for (int i = 0; i < SIGNAL_COUNT; i++)
		if (tr->signals & SIGNAL_BIT(i))
			cJSON_AddItemToArray(a, cJSON_CreateString(signals_name((enum signal)i)));
	cJSON_AddStringToObject(o, "evidence", tr->evidence ? tr->evidence : "");
	cJSON_AddStringToObject(o, "archetype", tr->archetype);
	cJSON_AddStringToObject(o, "archetype_tier", tr->tier);
	a = cJSON_AddArrayToObject(o, "skills");
	if (tr->skills && tr->skills[0]) {
		char *dup = strdup(tr->skills), *save = NULL;

		for (char *p = dup ? strtok_r(dup, ", ", &save) : NULL; p;
		     p = strtok_r(NULL, ", ", &save))
			cJSON_AddItemToArray(a, cJSON_CreateString(p));
		free(dup);
	}
	a = cJSON_AddArrayToObject(o, "tools");
	for (unsigned i = 0; i < tr->n_tools; i++) {
		cJSON *c = cJSON_CreateObject(), *args = cJSON_Parse(tr->tools[i].args);

		cJSON_AddStringToObject(c, "name", tr->tools[i].name);
		if (args)
			cJSON_AddItemToObject(c, "args", args);
		else
			cJSON_AddStringToObject(c, "args_cut", tr->tools[i].args);
		cJSON_AddBoolToObject(c, "ok", tr->tools[i].ok);
		cJSON_AddItemToArray(a, c);
	}
	cJSON_AddNumberToObject(o, "flagged_figures", tr->flagged);
	cJSON_AddNumberToObject(o, "prompt_lines", tr->prompt_lines);
	cJSON_AddNumberToObject(o, "full_prompt_lines", tr->full_lines);
	cJSON_AddNumberToObject(o, "prompt_tokens", tr->prompt_tokens);
	cJSON_AddStringToObject(o, "turn_kind", kind_name(tr->kind));
	cJSON_AddNumberToObject(o, "elapsed_ms", round(tr->elapsed_ms * 1000) / 1000);
	cJSON_AddStringToObject(o, "kiosk", tr->kiosk ? tr->kiosk : "");
	cJSON_AddStringToObject(o, "staff", tr->staff ? tr->staff : "");
	cJSON_AddStringToObject(o, "audit", tr->audit ? tr->audit : "");
	a = cJSON_AddArrayToObject(o, "checks");
	for (unsigned i = 0; i < tr->n_checks; i++) {
		const struct check *c = &tr->checks[i];

		x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "field", c->field);
		cJSON_AddStringToObject(x, "kind", c->reply ? "reply" : "deterministic");
		cJSON_AddBoolToObject(x, "pass", c->pass);
		cJSON_AddStringToObject(x, "expected", c->expected ? c->expected : "");
		cJSON_AddStringToObject(x, "got", c->got ? c->got : "");
		cJSON_AddItemToArray(a, x);
	}
	if (tr->reply_total)
		cJSON_AddNumberToObject(o, "reply_score",
					round(1e4 * tr->reply_met / tr->reply_total) / 1e4);
	return o;
}

static cJSON *json_results(const struct eval_results *r)
{
	const struct eval_set *set = r->set;
	cJSON *root = cJSON_CreateObject(), *arr, *sc_obj = NULL, *runs = NULL;
	struct eval_totals t;
	char day[11];
	size_t last = (size_t)-1;

	cJSON_AddStringToObject(root, "tool", "edgebox-eval");
	cJSON_AddNumberToObject(root, "version", 1);
	catalog_date_format(r->day, day);
	cJSON_AddStringToObject(root, "day", day);
	cJSON_AddStringToObject(root, "responder", r->llm_url ? "llm" : "offline");
	if (r->llm_url) {
		cJSON_AddStringToObject(root, "llm_url", r->llm_url);
		cJSON_AddStringToObject(root, "model", r->llm_model ? r->llm_model : "");
	}
	cJSON_AddNumberToObject(root, "repeat", r->repeat);
	cJSON_AddBoolToObject(root, "deterministic_only", r->det_only);
	cJSON_AddNumberToObject(root, "elapsed_ms", round(r->elapsed_ms));
	eval_results_totals(r, NULL, &t);
	cJSON_AddItemToObject(root, "totals", json_totals(&t));
	arr = cJSON_AddArrayToObject(root, "suites");
	for (size_t i = 0; i < set->n_suites; i++) {
		cJSON *o;

		if (eval_results_totals(r, set->suites[i].name, &t) < 0)
			continue;
		o = json_totals(&t);
		cJSON_AddStringToObject(o, "suite", set->suites[i].name);
		cJSON_AddStringToObject(o, "file", set->suites[i].file);
		cJSON_AddItemToArray(arr, o);
	}
	arr = cJSON_AddArrayToObject(root, "scenarios");
	for (size_t i = 0; i < r->n_runs; i++) {
		const struct run *run = &r->runs[i];
		const struct scenario *sc = &set->sc[run->sc];
		cJSON *ro, *ta;

		if (run->sc != last) {
			sc_obj = cJSON_CreateObject();
			cJSON_AddStringToObject(sc_obj, "id", sc->id);
			cJSON_AddStringToObject(sc_obj, "suite", set->suites[sc->suite].name);
			cJSON_AddStringToObject(sc_obj, "title", sc->title);
			if (sc->judge)
				cJSON_AddStringToObject(sc_obj, "judge", sc->judge);
			cJSON_AddNumberToObject(sc_obj, "passed_runs", 0);
			runs = cJSON_AddArrayToObject(sc_obj, "runs");
			cJSON_AddItemToArray(arr, sc_obj);
			last = run->sc;
		}
		if (run->passed) {
			cJSON *pr = cJSON_GetObjectItemCaseSensitive(sc_obj, "passed_runs");

			cJSON_SetNumberValue(pr, pr->valuedouble + 1);
		}
		ro = cJSON_CreateObject();
		cJSON_AddNumberToObject(ro, "run", run->run);
		cJSON_AddBoolToObject(ro, "passed", run->passed);
		cJSON_AddItemToObject(ro, "reply_score", json_number_or_null(run->reply_score));
		if (run->error)
			cJSON_AddStringToObject(ro, "error", run->error);
		ta = cJSON_AddArrayToObject(ro, "turns");
		for (unsigned k = 0; k < run->n_turns; k++)
			cJSON_AddItemToArray(ta, json_turn(&sc->turns[k], &run->turns[k], k + 1));
		cJSON_AddItemToArray(runs, ro);
	}
	return root;
}

/* Writes text to path ("-": stdout) through a temporary file and rename. */
static int mkdir_parent(const char *path);

static int write_text(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[PATH_LEN];
	size_t n = strlen(text);
	FILE *f;

	if (strcmp(path, "-") == 0) {
		fputs(text, stdout);
		fflush(stdout);
		return 0;
	}
	if (mkdir_parent(path) < 0)
		return errmsg(err, errlen, -errno, "%s: cannot create its folder: %s", path,
			      strerror(errno));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return errmsg(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	f = fopen(tmp, "w");
	if (!f)
		return errmsg(err, errlen, -errno, "%s: cannot write: %s", tmp, strerror(errno));
	if (fwrite(text, 1, n, f) != n || fclose(f) != 0) {
		int e = errno;

		unlink(tmp);
		return errmsg(err, errlen, -e, "%s: write failed: %s", path, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return errmsg(err, errlen, -e, "%s: cannot rename into place: %s", path,
			      strerror(e));
	}
	return 0;
}

int eval_results_write_json(const struct eval_results *r, const char *path, char *err,
			    size_t errlen)
{
	cJSON *root = json_results(r);
	char *text = root ? cJSON_Print(root) : NULL;
	int rc;

	cJSON_Delete(root);
	if (!text)
		return errmsg(err, errlen, -ENOMEM, "out of memory building the JSON results");
	{
		size_t n = strlen(text);
		char *t2 = realloc(text, n + 2);

		if (!t2) {
			free(text);
			return -ENOMEM;
		}
		text = t2;
		memcpy(text + n, "\n", 2);
	}
	rc = write_text(path, text, err, errlen);
	free(text);
	return rc;
}

/* ---- reports: Markdown or HTML ------------------------------------------------------- */

struct eval_doc {
	FILE *f;
	bool html;
	bool oom; /* a paragraph could not be formatted: the report is incomplete */
	unsigned ncols;
	char path[PATH_LEN];
	char tmp[PATH_LEN];
};

static int mkdir_parent(const char *path)
{
	char buf[PATH_LEN];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	p = strrchr(buf, '/');
	if (!p || p == buf)
		return 0;
	*p = '\0';
	for (char *q = buf + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*q = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && strcasecmp(s + a - b, suf) == 0;
}

static void html_esc(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* A Markdown table cell: no newlines, pipes escaped. */
static void md_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", f);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

int eval_doc_open(const char *path, const char *title, struct eval_doc **ret, char *err,
		  size_t errlen)
{
	struct eval_doc *d = calloc(1, sizeof(*d));

	*ret = NULL;
	if (!d)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	d->html = ends_with(path, ".html") || ends_with(path, ".htm");
	if ((size_t)snprintf(d->path, sizeof(d->path), "%s", path) >= sizeof(d->path) ||
	    (size_t)snprintf(d->tmp, sizeof(d->tmp), "%s.tmp", path) >= sizeof(d->tmp)) {
		free(d);
		return errmsg(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	}
	if (mkdir_parent(path) < 0) {
		int e = errno;

		free(d);
		return errmsg(err, errlen, -e, "%s: cannot create its folder: %s", path,
			      strerror(e));
	}
	d->f = fopen(d->tmp, "w");
	if (!d->f) {
		int e = errno;

		free(d);
		return errmsg(err, errlen, -e, "%s: cannot write: %s", path, strerror(e));
	}
	if (d->html) {
		fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>", d->f);
		html_esc(d->f, title);
		fputs("</title>\n<style>body{font-family:sans-serif;max-width:80em;margin:2em auto}"
		      "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
		      "padding:.3em .6em;text-align:left;vertical-align:top}"
		      "pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}</style>"
		      "</head><body>\n",
		      d->f);
	}
	eval_doc_heading(d, 1, "%s", title);
	*ret = d;
	return 0;
}

/* The formatted text, malloc'd; NULL on ENOMEM (the writer then notes the
 * failure, and eval_doc_close reports it). */
static char *doc_fmt(struct eval_doc *d, const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0) {
		d->oom = true;
		return NULL;
	}
	return s;
}

void eval_doc_heading(struct eval_doc *d, int level, const char *fmt, ...)
{
	va_list ap;
	char *buf;

	va_start(ap, fmt);
	buf = doc_fmt(d, fmt, ap);
	va_end(ap);
	if (!buf)
		return;
	if (d->html) {
		fprintf(d->f, "<h%d>", level);
		html_esc(d->f, buf);
		fprintf(d->f, "</h%d>\n", level);
	} else {
		for (int i = 0; i < level; i++)
			fputc('#', d->f);
		fprintf(d->f, " %s\n\n", buf);
	}
	free(buf);
}

void eval_doc_para(struct eval_doc *d, const char *fmt, ...)
{
	va_list ap;
	char *buf;

	va_start(ap, fmt);
	buf = doc_fmt(d, fmt, ap);
	va_end(ap);
	if (!buf)
		return;
	if (d->html) {
		fputs("<p>", d->f);
		html_esc(d->f, buf);
		fputs("</p>\n", d->f);
	} else {
		fprintf(d->f, "%s\n\n", buf);
	}
	free(buf);
}

void eval_doc_pre(struct eval_doc *d, const char *text)
{
	size_t n = strlen(text);

	if (d->html) {
		fputs("<pre>", d->f);
		html_esc(d->f, text);
		fputs("</pre>\n", d->f);
		return;
	}
	fputs(strstr(text, "```") ? "~~~~\n" : "```\n", d->f);
	fputs(text, d->f);
	if (n && text[n - 1] != '\n')
		fputc('\n', d->f);
	fputs(strstr(text, "```") ? "~~~~\n\n" : "```\n\n", d->f);
}

void eval_doc_table(struct eval_doc *d, unsigned ncols, const char *const *head)
{
	d->ncols = ncols;
	if (d->html) {
		fputs("<table><tr>", d->f);
		for (unsigned i = 0; i < ncols; i++) {
			fputs("<th>", d->f);
			html_esc(d->f, head[i]);
			fputs("</th>", d->f);
		}
		fputs("</tr>\n", d->f);
		return;
	}
	fputc('|', d->f);
	for (unsigned i = 0; i < ncols; i++) {
		fputc(' ', d->f);
		md_cell(d->f, head[i]);
		fputs(" |", d->f);
	}
	fputs("\n|", d->f);
	for (unsigned i = 0; i < ncols; i++)
		fputs("---|", d->f);
	fputc('\n', d->f);
}

void eval_doc_row(struct eval_doc *d, const char *const *cells)
{
	if (d->html) {
		fputs("<tr>", d->f);
		for (unsigned i = 0; i < d->ncols; i++) {
			fputs("<td>", d->f);
			html_esc(d->f, cells[i] ? cells[i] : "");
			fputs("</td>", d->f);
		}
		fputs("</tr>\n", d->f);
		return;
	}
	fputc('|', d->f);
	for (unsigned i = 0; i < d->ncols; i++) {
		fputc(' ', d->f);
		md_cell(d->f, cells[i] ? cells[i] : "");
		fputs(" |", d->f);
	}
	fputc('\n', d->f);
}

void eval_doc_table_end(struct eval_doc *d)
{
	fputs(d->html ? "</table>\n" : "\n", d->f);
}

int eval_doc_close(struct eval_doc *d, char *err, size_t errlen)
{
	int rc = 0;

	if (!d)
		return 0;
	if (d->html)
		fputs("</body></html>\n", d->f);
	if (ferror(d->f) | (fclose(d->f) != 0) | d->oom) {
		rc = errmsg(err, errlen, d->oom ? -ENOMEM : -EIO, "%s: %s", d->path,
			    d->oom ? "out of memory formatting the report" : "write failed");
		unlink(d->tmp);
	} else if (rename(d->tmp, d->path) < 0) {
		rc = errmsg(err, errlen, -errno, "%s: cannot rename into place: %s", d->path,
			    strerror(errno));
		unlink(d->tmp);
	}
	free(d);
	return rc;
}

static void fmt_score(double v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f", v);
}

static void fmt_prompt(const struct eval_prompt_stats *ps, char *buf, size_t len)
{
	if (!ps->turns)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f%% (mean %.0f%%, %u turns)", pct(ps->worst), pct(ps->mean),
			 ps->turns);
}

static void report_row(struct eval_doc *d, const char *name, const struct eval_totals *t,
		       bool det_only)
{
	char c[8][128];
	const char *cells[8];

	snprintf(c[0], sizeof(c[0]), "%s", name);
	snprintf(c[1], sizeof(c[1]), "%u", t->scenarios);
	snprintf(c[2], sizeof(c[2]), "%u/%u (%.0f%%)", t->passed, t->runs,
		 t->runs ? pct((double)t->passed / t->runs) : 0);
	if (det_only)
		snprintf(c[3], sizeof(c[3]), "not run");
	else
		fmt_score(t->reply_score, c[3], sizeof(c[3]));
	snprintf(c[4], sizeof(c[4]), "%u of %u", t->guard_misses, t->expect_escalated);
	snprintf(c[5], sizeof(c[5]), "%u of %u", t->false_alarms, t->expect_not_escalated);
	fmt_prompt(&t->discovery, c[6], sizeof(c[6]));
	fmt_prompt(&t->product, c[7], sizeof(c[7]));
	for (int i = 0; i < 8; i++)
		cells[i] = c[i];
	eval_doc_row(d, cells);
}

static void report_turn_detail(struct eval_doc *d, const struct turn *t,
			       const struct turn_result *tr, unsigned no, bool reply_checks)
{
	static const char *const head[] = {"check", "expected", "got"};
	char tools[GOT_MAX], ratio[32] = "";

	if (tr->full_lines)
		snprintf(ratio, sizeof(ratio), ", %.0f%%",
			 pct((double)tr->prompt_lines / tr->full_lines));
	tools_list(tr, tools, sizeof(tools));
	eval_doc_para(d, "Turn %u. Customer: \"%s\"", no, t->say);
	eval_doc_para(d,
		      "State %s -> %s; prompt %u of %u lines%s (about %u tokens); skills: %s; "
		      "signals: %s; archetype: %s; tools: %s; reply from: %s%s%s.",
		      agent_state_name(tr->before), agent_state_name(tr->after), tr->prompt_lines,
		      tr->full_lines, ratio, tr->prompt_tokens, or_none(tr->skills),
		      or_none(tr->evidence), tr->archetype[0] ? tr->archetype : "not decided",
		      tools, source_name(tr->source), tr->audit && tr->audit[0] ? "; audit: " : "",
		      tr->audit ? tr->audit : "");
	eval_doc_table(d, 3, head);
	for (unsigned c = 0; c < tr->n_checks; c++) {
		const struct check *ch = &tr->checks[c];
		const char *cells[3] = {ch->field, ch->expected, ch->got};

		if (ch->pass || ch->reply != reply_checks)
			continue;
		eval_doc_row(d, cells);
	}
	eval_doc_table_end(d);
	eval_doc_pre(d, tr->reply && tr->reply[0] ? tr->reply : "(no reply)");
}

/* Every turn over its kind's goal (first run only), with what loaded the
 * skills: the list to read when the prompt gate fails. */
static void report_over_goal(struct eval_doc *d, const struct eval_results *r)
{
	static const char *const head[] = {"scenario",	  "turn",    "kind",  "prompt",
					   "state after", "signals", "skills"};
	const struct eval_set *set = r->set;
	unsigned n = 0;

	for (size_t i = 0; i < r->n_runs; i++) {
		const struct run *run = &r->runs[i];

		if (run->run != 1)
			continue;
		for (unsigned k = 0; k < run->n_turns; k++) {
			const struct turn_result *tr = &run->turns[k];
			double goal =
			    tr->kind == KIND_DISCOVERY ? EVAL_GOAL_DISCOVERY : EVAL_GOAL_PRODUCT;
			char turn[16], ratio[48], sig[256];
			const char *cells[7];

			if (tr->kind == KIND_OTHER || tr->ratio <= goal + 1e-12)
				continue;
			if (!n++) {
				eval_doc_para(d, "Turns over their goal:");
				eval_doc_table(d, 7, head);
			}
			snprintf(turn, sizeof(turn), "%u", k + 1);
			snprintf(ratio, sizeof(ratio), "%u of %u lines (%.1f%%)", tr->prompt_lines,
				 tr->full_lines, pct(tr->ratio));
			signals_list(tr->signals, sig, sizeof(sig));
			cells[0] = set->sc[run->sc].id;
			cells[1] = turn;
			cells[2] = kind_name(tr->kind);
			cells[3] = ratio;
			cells[4] = agent_state_name(tr->after);
			cells[5] = sig;
			cells[6] = tr->skills ? tr->skills : "";
			eval_doc_row(d, cells);
		}
	}
	if (n)
		eval_doc_table_end(d);
}

int eval_results_write_report(const struct eval_results *r, const char *path, const char *command,
			      char *err, size_t errlen)
{
	static const char *const head[] = {"suite",
					   "scenarios",
					   "deterministic pass",
					   "reply score",
					   "guard misses",
					   "guard false alarms",
					   "discovery prompt (worst)",
					   "product prompt (worst)"};
	static const char *const phead[] = {"turn kind",  "turns", "mean",  "worst",
					    "worst turn", "goal",  "result"};
	const struct eval_set *set = r->set;
	struct eval_totals all, t;
	struct eval_doc *d;
	char day[11], score[48];
	unsigned nfail = 0, nreply = 0;
	int rc;

	rc = eval_doc_open(path, "edgebox sales evals", &d, err, errlen);
	if (rc < 0)
		return rc;
	eval_results_totals(r, NULL, &all);
	catalog_date_format(r->day, day);
	if (command)
		eval_doc_para(d, "Command: %s", command);
	if (r->llm_url)
		eval_doc_para(d,
			      "Replies: the LLM at %s, model %s. Promotions judged on %s (unless "
			      "a scenario pins its own day). %u scenarios x %u runs.",
			      r->llm_url, r->llm_model ? r->llm_model : "default", day,
			      all.scenarios, r->repeat);
	else
		eval_doc_para(d,
			      "Replies: the offline responder (agent/responder.c, no LLM). "
			      "Promotions judged on %s (unless a scenario pins its own day). %u "
			      "scenarios x %u runs.",
			      day, all.scenarios, r->repeat);
	if (all.fallback_turns)
		eval_doc_para(d,
			      "Warning: the model failed on %u of %u turns it was asked (see "
			      "llm_outcome in the JSON); the offline responder answered those, so "
			      "they measure the responder, not the model.",
			      all.fallback_turns, all.fallback_turns + all.llm_turns);
	if (r->det_only)
		snprintf(score, sizeof(score), "not measured (--deterministic-only)");
	else
		fmt_score(all.reply_score, score, sizeof(score));
	eval_doc_para(d,
		      "Result: %u of %u runs passed every deterministic expectation (%u of %u "
		      "checks held). Reply score: %s. Prompt-size goals: %s.",
		      all.passed, all.runs, all.det_checks - all.det_failed, all.det_checks, score,
		      all.discovery.ok && all.product.ok ? "met" : "NOT met");

	eval_doc_heading(d, 2, "Per suite");
	eval_doc_table(d, 8, head);
	for (size_t i = 0; i < set->n_suites; i++)
		if (eval_results_totals(r, set->suites[i].name, &t) == 0)
			report_row(d, set->suites[i].name, &t, r->det_only);
	report_row(d, "all", &all, r->det_only);
	eval_doc_table_end(d);
	eval_doc_para(d,
		      "Deterministic pass: runs whose every \"expect\" held (gated in make "
		      "test). Reply score: the fraction of a turn's \"reply\" checks met, averaged "
		      "over the turns that have any (scored, not gated). Guard misses: turns "
		      "expecting escalated = true that were not; false alarms: turns expecting "
		      "false that were escalated. Prompt: the turn's prompt lines over the full "
		      "prompt's (all skills), worst turn.");

	eval_doc_heading(d, 2, "Prompt size");
	eval_doc_table(d, 7, phead);
	for (int k = 0; k < 2; k++) {
		const struct eval_prompt_stats *ps = k ? &all.product : &all.discovery;
		char c[7][128];
		const char *cells[7];

		snprintf(c[0], sizeof(c[0]), "%s",
			 k ? "product (presenting, objection or closing, "
			     "with product interest)"
			   : "discovery (greeting or discovery after the turn)");
		snprintf(c[1], sizeof(c[1]), "%u", ps->turns);
		snprintf(c[2], sizeof(c[2]), "%.1f%%", pct(ps->mean));
		snprintf(c[3], sizeof(c[3]), "%.1f%%", pct(ps->worst));
		snprintf(c[4], sizeof(c[4]), "%s", ps->turns ? ps->worst_at : "-");
		snprintf(c[5], sizeof(c[5]), "<= %.0f%%", pct(ps->goal));
		snprintf(c[6], sizeof(c[6]), "%s", ps->ok ? "ok" : "EXCEEDED");
		for (int i = 0; i < 7; i++)
			cells[i] = c[i];
		eval_doc_row(d, cells);
	}
	eval_doc_table_end(d);
	report_over_goal(d, r);

	eval_doc_heading(d, 2, "Deterministic failures (gated)");
	for (size_t i = 0; i < r->n_runs; i++) {
		const struct run *run = &r->runs[i];
		const struct scenario *sc = &set->sc[run->sc];

		if (run->passed)
			continue;
		nfail++;
		eval_doc_heading(d, 3, "%s (%s, run %u of %u): %s", sc->id,
				 set->suites[sc->suite].name, run->run, r->repeat, sc->title);
		if (sc->judge)
			eval_doc_para(d, "Judge: %s", sc->judge);
		if (run->error)
			eval_doc_para(d, "Error: %s", run->error);
		for (unsigned k = 0; k < run->n_turns; k++)
			if (run->turns[k].det_failed)
				report_turn_detail(d, &sc->turns[k], &run->turns[k], k + 1, false);
	}
	if (!nfail)
		eval_doc_para(d, "None.");

	if (!r->det_only) {
		eval_doc_heading(d, 2, "Reply checks missed (scored, not gated)");
		for (size_t i = 0; i < r->n_runs; i++) {
			const struct run *run = &r->runs[i];
			const struct scenario *sc = &set->sc[run->sc];
			bool shown = false;

			if (r->repeat > 1 && run->run > 1)
				continue; /* one run is enough to read; the scores count all */
			for (unsigned k = 0; k < run->n_turns; k++) {
				const struct turn_result *tr = &run->turns[k];

				if (tr->reply_met == tr->reply_total)
					continue;
				if (!shown) {
					char sc_txt[16];

					fmt_score(run->reply_score, sc_txt, sizeof(sc_txt));
					eval_doc_heading(d, 3, "%s (%s): reply score %s", sc->id,
							 set->suites[sc->suite].name, sc_txt);
					if (sc->judge)
						eval_doc_para(d, "Judge: %s", sc->judge);
					shown = true;
					nreply++;
				}
				report_turn_detail(d, &sc->turns[k], tr, k + 1, true);
			}
		}
		if (!nreply)
			eval_doc_para(d, "None.");
	}

	if (r->repeat > 1) {
		static const char *const rh[] = {"scenario", "suite", "passed runs", "kind"};

		eval_doc_heading(d, 2, "Failures across runs");
		eval_doc_para(d, "A failure in some runs but not all rotates with model "
				 "non-determinism; one in every run is systematic.");
		eval_doc_table(d, 4, rh);
		for (size_t i = 0; i < r->n_runs; i += r->repeat) {
			const struct scenario *sc = &set->sc[r->runs[i].sc];
			unsigned ok = 0;
			char c[32];
			const char *cells[4];

			for (unsigned k = 0; k < r->repeat && i + k < r->n_runs; k++)
				ok += r->runs[i + k].passed;
			if (ok == r->repeat)
				continue;
			snprintf(c, sizeof(c), "%u of %u", ok, r->repeat);
			cells[0] = sc->id;
			cells[1] = set->suites[sc->suite].name;
			cells[2] = c;
			cells[3] = ok ? "rotating" : "systematic";
			eval_doc_row(d, cells);
		}
		eval_doc_table_end(d);
	}
	return eval_doc_close(d, err, errlen);
}

/* ---- the command ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: edgebox-eval [options]\n"
	      "Runs the sales-quality scenarios through the agent (the same code as edgeboxd).\n"
	      "  --base DIR            folder holding config/, skills/, catalog/ (default .)\n"
	      "  --scenarios DIR       scenario files (default BASE/evals/scenarios)\n"
	      "  --suite NAME          only this suite\n"
	      "  --scenario ID         only this scenario\n"
	      "  --repeat N            run each scenario N times, 1..100 (default 1)\n"
	      "  --llm URL             an OpenAI-compatible .../v1/chat/completions URL instead\n"
	      "                        of the offline responder\n"
	      "  --model NAME          the model named in requests to --llm (default \"default\")\n"
	      "  --json FILE|-         the results as JSON (- : stdout; the text goes to stderr)\n"
	      "  --report FILE         the readable report: Markdown, or HTML for *.html\n"
	      "  --deterministic-only  only the gated expectations; skip the reply checks\n"
	      "  --gate-prompt         also fail when a prompt-size goal is exceeded (discovery\n"
	      "                        turns <= 55%, product turns <= 70% of the full prompt)\n"
	      "  --day YYYY-MM-DD      the day for scenarios without \"day\" "
	      "(default " EVAL_DEFAULT_DAY ")\n"
	      "  --tune SKILL          the tuning loop on skills/SKILL.md (see docs/evals.md)\n"
	      "  --apply               with --tune: write a kept variant back to skills/\n"
	      "  --tune-max N          with --tune: variants to evaluate (default 40)\n"
	      "  --variants DIR        with --tune: variants written by a person, *.md\n"
	      "                        (default BASE/evals/variants/SKILL)\n"
	      "  --quiet               print only failures and the final line\n"
	      "  --help                this text\n"
	      "Exit status: 0 every deterministic expectation held (and the prompt goals with\n"
	      "--gate-prompt), 1 one did not, 2 usage or load error. The last line is\n"
	      "\"evals: N passed, N failed\" (scenario runs, plus the prompt gate when asked).\n",
	      f);
}

static int parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "edgebox-eval: %s %s: expected a whole number %u..%u\n", opt, s, lo,
			hi);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

static char *join_argv(int argc, char **argv)
{
	struct strbuf b;

	strbuf_init(&b, 4096, "...");
	for (int i = 0; i < argc; i++) {
		bool quote = strpbrk(argv[i], " \t'\"$") != NULL;

		strbuf_add(&b, "%s%s%s%s", i ? " " : "", quote ? "'" : "", argv[i],
			   quote ? "'" : "");
	}
	return strbuf_take(&b);
}

static void print_summary(const struct eval_results *r, FILE *out)
{
	struct eval_totals t;
	char score[16];

	fprintf(out, "%-24s %5s %9s %6s %11s %12s %10s %10s\n", "suite", "runs", "passed", "reply",
		"guard miss", "false alarm", "discovery", "product");
	for (size_t i = 0; i <= eval_results_suite_count(r); i++) {
		const char *name =
		    i < eval_results_suite_count(r) ? eval_results_suite(r, i) : NULL;
		char passed[24], miss[24], fa[24], disc[16] = "-", prod[16] = "-";

		if (eval_results_totals(r, name, &t) < 0)
			continue;
		if (r->det_only)
			snprintf(score, sizeof(score), "-");
		else
			fmt_score(t.reply_score, score, sizeof(score));
		snprintf(passed, sizeof(passed), "%u/%u", t.passed, t.runs);
		snprintf(miss, sizeof(miss), "%u/%u", t.guard_misses, t.expect_escalated);
		snprintf(fa, sizeof(fa), "%u/%u", t.false_alarms, t.expect_not_escalated);
		if (t.discovery.turns)
			snprintf(disc, sizeof(disc), "%.0f%%", pct(t.discovery.worst));
		if (t.product.turns)
			snprintf(prod, sizeof(prod), "%.0f%%", pct(t.product.worst));
		fprintf(out, "%-24s %5u %9s %6s %11s %12s %10s %10s\n", name ? name : "all", t.runs,
			passed, score, miss, fa, disc, prod);
	}
}

static void print_prompt(const struct eval_results *r, FILE *out)
{
	struct eval_totals t;

	eval_results_totals(r, NULL, &t);
	fprintf(out,
		"prompt: discovery turns %u, worst %.1f%% (%s), goal <= %.0f%%: %s; product turns "
		"%u, worst %.1f%% (%s), goal <= %.0f%%: %s\n",
		t.discovery.turns, pct(t.discovery.worst),
		t.discovery.turns ? t.discovery.worst_at : "none", pct(EVAL_GOAL_DISCOVERY),
		t.discovery.ok ? "ok" : "EXCEEDED", t.product.turns, pct(t.product.worst),
		t.product.turns ? t.product.worst_at : "none", pct(EVAL_GOAL_PRODUCT),
		t.product.ok ? "ok" : "EXCEEDED");
}

struct cli {
	const char *base, *scenarios, *suite, *scenario, *llm, *model, *json, *report, *day;
	const char *tune, *variants;
	unsigned repeat, tune_max;
	bool det_only, gate, apply, quiet;
};

static int cli_tune(const struct eval_set *set, const struct eval_options *o, const struct cli *c,
		    const char *command, FILE *out)
{
	struct eval_tune_options to = {
	    .skill = c->tune,
	    .apply = c->apply,
	    .max_variants = c->tune_max,
	    .variants_dir = c->variants,
	};
	struct eval_tune *t = NULL;
	char err[EVAL_ERROR_MAX];
	int rc;

	rc = eval_tune(set, o, &to, c->quiet ? NULL : out, &t, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "edgebox-eval: %s\n", err);
		return 2;
	}
	if (c->report && eval_tune_write_report(t, c->report, command, err, sizeof(err)) < 0)
		rc = -1;
	if (rc == 0 && c->json && eval_tune_write_json(t, c->json, err, sizeof(err)) < 0)
		rc = -1;
	if (rc < 0) {
		fprintf(stderr, "edgebox-eval: %s\n", err);
		eval_tune_free(t);
		return 2;
	}
	fprintf(out, "tune %s: %zu variants tried, %s%s\n", c->tune, eval_tune_count(t) - 1,
		eval_tune_improved(t) ? "a variant was kept" : "nothing kept",
		eval_tune_applied(t)	? "; skills/ updated"
		: eval_tune_improved(t) ? "; skills/ untouched (use --apply to write it)"
					: "; skills/ untouched");
	eval_tune_free(t);
	return 0;
}

int eval_main(int argc, char **argv)
{
	enum {
		O_BASE = 256,
		O_SCEN,
		O_SUITE,
		O_ID,
		O_REPEAT,
		O_LLM,
		O_MODEL,
		O_JSON,
		O_REPORT,
		O_DET,
		O_GATE,
		O_DAY,
		O_TUNE,
		O_APPLY,
		O_TMAX,
		O_VARIANTS,
		O_QUIET,
		O_HELP
	};
	static const struct option opts[] = {
	    {"base", required_argument, NULL, O_BASE},
	    {"scenarios", required_argument, NULL, O_SCEN},
	    {"suite", required_argument, NULL, O_SUITE},
	    {"scenario", required_argument, NULL, O_ID},
	    {"repeat", required_argument, NULL, O_REPEAT},
	    {"llm", required_argument, NULL, O_LLM},
	    {"model", required_argument, NULL, O_MODEL},
	    {"json", required_argument, NULL, O_JSON},
	    {"report", required_argument, NULL, O_REPORT},
	    {"deterministic-only", no_argument, NULL, O_DET},
	    {"gate-prompt", no_argument, NULL, O_GATE},
	    {"day", required_argument, NULL, O_DAY},
	    {"tune", required_argument, NULL, O_TUNE},
	    {"apply", no_argument, NULL, O_APPLY},
	    {"tune-max", required_argument, NULL, O_TMAX},
	    {"variants", required_argument, NULL, O_VARIANTS},
	    {"quiet", no_argument, NULL, O_QUIET},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	struct cli c = {.base = ".", .repeat = 1};
	struct eval_options o = {0};
	struct eval_set *set = NULL;
	struct eval_results *res = NULL;
	char err[EVAL_ERROR_MAX], scen_dir[PATH_LEN], *command = NULL;
	FILE *out = stdout;
	int ch, status = 2;
	unsigned passed, failed;

	optind = 0; /* callable more than once (tests) */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case O_BASE:
			c.base = optarg;
			break;
		case O_SCEN:
			c.scenarios = optarg;
			break;
		case O_SUITE:
			c.suite = optarg;
			break;
		case O_ID:
			c.scenario = optarg;
			break;
		case O_REPEAT:
			if (parse_uint("--repeat", optarg, 1, EVAL_REPEAT_MAX, &c.repeat) < 0)
				return 2;
			break;
		case O_LLM:
			c.llm = optarg;
			break;
		case O_MODEL:
			c.model = optarg;
			break;
		case O_JSON:
			c.json = optarg;
			break;
		case O_REPORT:
			c.report = optarg;
			break;
		case O_DET:
			c.det_only = true;
			break;
		case O_GATE:
			c.gate = true;
			break;
		case O_DAY:
			c.day = optarg;
			break;
		case O_TUNE:
			c.tune = optarg;
			break;
		case O_APPLY:
			c.apply = true;
			break;
		case O_TMAX:
			if (parse_uint("--tune-max", optarg, 1, EVAL_TUNE_MAX_VARIANTS,
				       &c.tune_max) < 0)
				return 2;
			break;
		case O_VARIANTS:
			c.variants = optarg;
			break;
		case O_QUIET:
			c.quiet = true;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			if (optopt)
				fprintf(stderr, "edgebox-eval: option %s needs a value\n",
					argv[optind - 1]);
			else
				fprintf(stderr, "edgebox-eval: unknown option %s\n",
					argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "edgebox-eval: unexpected argument '%s' (options start with --)\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (c.model && !c.llm) {
		fprintf(stderr, "edgebox-eval: --model needs --llm URL\n");
		return 2;
	}
	if ((c.apply || c.tune_max || c.variants) && !c.tune) {
		fprintf(stderr,
			"edgebox-eval: --apply, --tune-max and --variants go with --tune SKILL\n");
		return 2;
	}
	o.day = -1;
	if (c.day && catalog_date_parse(c.day, &o.day) < 0) {
		fprintf(stderr, "edgebox-eval: --day %s: expected a real date as YYYY-MM-DD\n",
			c.day);
		return 2;
	}
	if (c.json && strcmp(c.json, "-") == 0)
		out = stderr;
	o.paths.base = c.base;
	o.repeat = c.repeat;
	o.llm_url = c.llm;
	o.llm_model = c.model;
	o.deterministic_only = c.det_only;
	o.progress = c.quiet ? NULL : out;
	if (!c.scenarios) {
		snprintf(scen_dir, sizeof(scen_dir), "%s/evals/scenarios", c.base);
		c.scenarios = scen_dir;
	}
	command = join_argv(argc, argv);
	if (eval_set_new(&o.paths, &set, err, sizeof(err)) < 0 ||
	    eval_set_add_dir(set, c.scenarios, err, sizeof(err)) < 0 ||
	    eval_set_select(set, c.suite, c.scenario, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgebox-eval: %s\n", err);
		goto out;
	}
	if (c.tune) {
		status = cli_tune(set, &o, &c, command, out);
		goto out;
	}
	if (eval_run(set, &o, &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgebox-eval: %s\n", err);
		goto out;
	}
	if (c.json && eval_results_write_json(res, c.json, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgebox-eval: %s\n", err);
		goto out;
	}
	if (c.report && eval_results_write_report(res, c.report, command, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgebox-eval: %s\n", err);
		goto out;
	}
	{
		struct eval_totals t;

		eval_results_totals(res, NULL, &t);
		passed = t.passed;
		failed = t.failed;
		eval_results_print_failures(res, out);
		if (!c.quiet) {
			print_summary(res, out);
			if (c.report)
				fprintf(out, "report: %s\n", c.report);
		}
		if (!c.quiet || (c.gate && !(t.discovery.ok && t.product.ok)))
			print_prompt(res, out);
		if (t.fallback_turns)
			fprintf(
			    out,
			    "warning: the model failed on %u of %u turns it was asked; the offline "
			    "responder answered those (llm_outcome in the JSON says why)\n",
			    t.fallback_turns, t.fallback_turns + t.llm_turns);
		if (c.gate) {
			if (t.discovery.ok && t.product.ok)
				passed++;
			else
				failed++;
		}
	}
	fprintf(out, "evals: %u passed, %u failed\n", passed, failed);
	fflush(out);
	status = failed ? 1 : 0;
out:
	eval_results_free(res);
	eval_set_free(set);
	free(command);
	return status;
}
