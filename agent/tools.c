#include "agent/tools.h"

#include "firmware/config.h"
#include "hal/errmsg.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the table ------------------------------------------------------------ */

#define S(x) (1u << (x))
#define SELLING                                                                                    \
	(S(AGENT_STATE_DISCOVERY) | S(AGENT_STATE_PRESENTING) | S(AGENT_STATE_OBJECTION) |         \
	 S(AGENT_STATE_CLOSING))
#define TALKING (SELLING | S(AGENT_STATE_GREETING) | S(AGENT_STATE_FAREWELL))

#define CATEGORY_ENUM                                                                              \
	"[\"mobile\",\"broadband\",\"tv\",\"streaming\",\"security\",\"devices\",\"addons\"]"

enum tool_id {
	TOOL_SEARCH,
	TOOL_GET,
	TOOL_COMPARE,
	TOOL_PROMOTIONS,
	TOOL_BOOK,
	TOOL_NEED,
	TOOL_ESCALATE,
};

static const struct tools_def tools[] = {
    [TOOL_SEARCH] =
	{"search_products",
	 "Find products that fit what the customer said. Use the customer's own words as "
	 "the query. Returns ids, names, prices and who each is best for; call "
	 "get_product before presenting one.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"query\":{\"type\":\"string\",\"maxLength\":200,\"description\":\"the "
	 "customer's words, e.g. 'kids fight over the tv' or 'internet for working from "
	 "home'\"},"
	 "\"category\":{\"type\":\"string\",\"enum\":" CATEGORY_ENUM "},"
	 "\"max_price\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100000,"
	 "\"description\":\"the most the customer wants to pay: per month for plans, once "
	 "for devices\"},"
	 "\"max_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":8}"
	 "},\"additionalProperties\":false}",
	 TALKING & ~S(AGENT_STATE_FAREWELL)},
    [TOOL_GET] = {"get_product",
		  "Everything about one product: price, specs, the value story to tell, who it is "
		  "best for, competitor angles, common questions with answers, cross-sells and "
		  "running promotions. Quote prices and numbers only from here or other tool "
		  "results.",
		  "{\"type\":\"object\",\"properties\":{"
		  "\"product_id\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":48,"
		  "\"description\":\"an id from search_products, e.g. 'tv-family-plus'\"}"
		  "},\"required\":[\"product_id\"],\"additionalProperties\":false}",
		  SELLING},
    [TOOL_COMPARE] =
	{"compare",
	 "Do the money math: our products against a competitor's offers, or against what "
	 "the customer pays now. Returns monthly, yearly and first-year totals, the "
	 "difference, and what each side includes that the other does not. Never do this "
	 "arithmetic yourself.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"product_ids\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":4,"
	 "\"items\":{\"type\":\"string\",\"maxLength\":48},\"description\":\"our monthly "
	 "products to price together\"},"
	 "\"competitor_id\":{\"type\":\"string\",\"maxLength\":48,\"description\":\"e.g. "
	 "'crestel'; their matching offers are used\"},"
	 "\"offer_ids\":{\"type\":\"array\",\"maxItems\":4,\"items\":{\"type\":\"string\","
	 "\"maxLength\":48},\"description\":\"specific competitor offers the customer "
	 "has, e.g. ['streammax-standard']\"},"
	 "\"current_monthly_spend\":{\"type\":\"number\",\"minimum\":0,\"maximum\":"
	 "10000,\"description\":\"what the customer says they pay per month now, in "
	 "total\"}"
	 "},\"required\":[\"product_ids\"],\"additionalProperties\":false}",
	 SELLING},
    [TOOL_PROMOTIONS] =
	{"current_promotions",
	 "Promotions running today, with their end dates and the promotional prices. "
	 "Mention one only if this returns it.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"product_id\":{\"type\":\"string\",\"maxLength\":48},"
	 "\"category\":{\"type\":\"string\",\"enum\":" CATEGORY_ENUM "}"
	 "},\"additionalProperties\":false}",
	 SELLING},
    [TOOL_BOOK] = {"book_appointment",
		   "Book a store visit, a demo, or an installation once the customer agreed to it. "
		   "Returns a booking reference to read out.",
		   "{\"type\":\"object\",\"properties\":{"
		   "\"kind\":{\"type\":\"string\",\"enum\":[\"store\",\"demo\",\"install\"]},"
		   "\"preferred_day\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":10,"
		   "\"description\":\"'today', 'tomorrow', a weekday like 'saturday', or "
		   "YYYY-MM-DD\"},"
		   "\"preferred_time\":{\"type\":\"string\",\"enum\":[\"morning\",\"afternoon\","
		   "\"evening\"]},"
		   "\"product_id\":{\"type\":\"string\",\"maxLength\":48,\"description\":\"what "
		   "it is about; required for an installation\"},"
		   "\"contact_name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":80},"
		   "\"contact_phone\":{\"type\":\"string\",\"minLength\":6,\"maxLength\":20},"
		   "\"notes\":{\"type\":\"string\",\"maxLength\":200}"
		   "},\"required\":[\"kind\",\"preferred_day\",\"preferred_time\"],"
		   "\"additionalProperties\":false}",
		   S(AGENT_STATE_PRESENTING) | S(AGENT_STATE_OBJECTION) | S(AGENT_STATE_CLOSING)},
    [TOOL_NEED] = {"record_need",
		   "Write down what the customer needs, in a sentence, with tags, so staff and the "
		   "next visit know it.",
		   "{\"type\":\"object\",\"properties\":{"
		   "\"need\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":300},"
		   "\"tags\":{\"type\":\"array\",\"maxItems\":6,\"items\":{\"type\":\"string\","
		   "\"enum\":[\"family\",\"kids\",\"teens\",\"seniors\",\"streaming\",\"sports\","
		   "\"gaming\",\"work_from_home\",\"budget\",\"premium\",\"coverage\",\"speed\","
		   "\"wifi_range\",\"security\",\"travel\",\"switching\",\"new_home\","
		   "\"small_business\",\"accessibility\",\"device_upgrade\"]}},"
		   "\"product_ids\":{\"type\":\"array\",\"maxItems\":4,\"items\":{\"type\":"
		   "\"string\",\"maxLength\":48},\"description\":\"products they showed interest "
		   "in\"}"
		   "},\"required\":[\"need\"],\"additionalProperties\":false}",
		   TALKING},
    [TOOL_ESCALATE] =
	{"escalate",
	 "Hand the customer to a person on staff: billing, account changes, complaints, "
	 "faults, cancellations, contract terms, custom quotes, or when they ask for a "
	 "person. Stop selling after calling it.",
	 "{\"type\":\"object\",\"properties\":{"
	 "\"reason\":{\"type\":\"string\",\"enum\":[\"billing\",\"account_change\","
	 "\"complaint\",\"technical_fault\",\"cancellation\",\"contract_terms\","
	 "\"custom_quote\",\"customer_request\",\"other\"]},"
	 "\"summary\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":300,"
	 "\"description\":\"what staff need to know, in a sentence\"},"
	 "\"urgent\":{\"type\":\"boolean\"}"
	 "},\"required\":[\"reason\",\"summary\"],\"additionalProperties\":false}",
	 TALKING},
};
#define N_TOOLS (sizeof(tools) / sizeof(tools[0]))

size_t tools_count(void)
{
	return N_TOOLS;
}

const struct tools_def *tools_at(size_t i)
{
	return i < N_TOOLS ? &tools[i] : NULL;
}

const struct tools_def *tools_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < N_TOOLS; i++)
		if (strcmp(tools[i].name, name) == 0)
			return &tools[i];
	return NULL;
}

bool tools_allowed(const struct tools_def *t, enum agent_state s)
{
	return (unsigned)s < AGENT_STATE_COUNT && (t->states & S(s));
}

void tools_ctx_init(struct tools_ctx *ctx, const struct catalog *c, struct figures_facts *facts,
		    int32_t today)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->catalog = c;
	ctx->facts = facts;
	ctx->today = today;
	ctx->state = AGENT_STATE_IDLE;
}

void tools_turn_begin(struct tools_ctx *ctx)
{
	ctx->calls_this_turn = 0;
}

char *tools_schemas_json(int state)
{
	cJSON *arr = cJSON_CreateArray();
	char *s = NULL;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < N_TOOLS; i++) {
		cJSON *t, *fn, *params;

		if (state >= 0 && !tools_allowed(&tools[i], (enum agent_state)state))
			continue;
		params = cJSON_Parse(tools[i].schema);
		t = cJSON_CreateObject();
		fn = cJSON_CreateObject();
		if (!params || !t || !fn) {
			cJSON_Delete(params);
			cJSON_Delete(t);
			cJSON_Delete(fn);
			goto out;
		}
		cJSON_AddStringToObject(t, "type", "function");
		cJSON_AddItemToObject(t, "function", fn);
		cJSON_AddStringToObject(fn, "name", tools[i].name);
		cJSON_AddStringToObject(fn, "description", tools[i].description);
		cJSON_AddItemToObject(fn, "parameters", params);
		cJSON_AddItemToArray(arr, t);
	}
	s = cJSON_PrintUnformatted(arr);
out:
	cJSON_Delete(arr);
	return s;
}

int tools_config(const struct config *cfg, const char *section, unsigned *ret_max_calls,
		 struct config_error *err)
{
	long v;
	int r = config_int(cfg, section, "max_calls_per_turn", TOOLS_DEFAULT_MAX_CALLS, 1,
			   TOOLS_MAX_CALLS_LIMIT, &v, err);

	if (r < 0)
		return r;
	*ret_max_calls = (unsigned)v;
	return 0;
}

/* ---- the schema subset ------------------------------------------------------ */

static const char *shown(const cJSON *v, char *buf, size_t len)
{
	if (!v)
		return "nothing";
	if (cJSON_IsString(v)) {
		size_t n = strlen(v->valuestring);

		if (n > 40)
			snprintf(buf, len, "\"%.37s...\" (%zu bytes)", v->valuestring, n);
		else
			snprintf(buf, len, "\"%s\"", v->valuestring);
		return buf;
	}
	if (cJSON_IsNumber(v)) {
		snprintf(buf, len, "%.10g", v->valuedouble);
		return buf;
	}
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "a list";
	return "an object";
}

/* UTF-8 characters in s (bytes that do not continue a sequence). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int validate(const cJSON *schema, const cJSON *v, const char *path, char *err, size_t errlen,
		    int depth)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
	const cJSON *kw;
	const char *t = cJSON_IsString(type) ? type->valuestring : "";
	char gotbuf[80], where[96];

	if (depth > 4)
		return errmsg(err, errlen, -EINVAL, "arguments nest too deeply");
	if (*path)
		snprintf(where, sizeof(where), "argument '%s'", path);
	else
		snprintf(where, sizeof(where), "arguments");

	if (strcmp(t, "object") == 0) {
		const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
		const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
		const cJSON *addl =
		    cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
		const cJSON *it;

		if (!cJSON_IsObject(v))
			return errmsg(err, errlen, -EINVAL, "%s: expected a JSON object, got %s",
				      where, shown(v, gotbuf, sizeof(gotbuf)));
		cJSON_ArrayForEach(it, req)
		{
			if (cJSON_IsString(it) &&
			    !cJSON_GetObjectItemCaseSensitive(v, it->valuestring)) {
				if (*path)
					return errmsg(err, errlen, -EINVAL,
						      "missing required argument '%s.%s'", path,
						      it->valuestring);
				return errmsg(err, errlen, -EINVAL,
					      "missing required argument '%s'", it->valuestring);
			}
		}
		cJSON_ArrayForEach(it, v)
		{
			const cJSON *ps =
			    props ? cJSON_GetObjectItemCaseSensitive(props, it->string) : NULL;
			char sub[96];
			int r;

			if (!ps) {
				char known[256];
				size_t off = 0;
				const cJSON *p;

				if (!cJSON_IsFalse(addl))
					continue; /* JSON Schema's default: extra keys allowed */
				known[0] = '\0';
				cJSON_ArrayForEach(p, props)
				{
					if (off < sizeof(known))
						off += (size_t)snprintf(known + off,
									sizeof(known) - off, "%s%s",
									off ? ", " : "", p->string);
				}
				return errmsg(err, errlen, -EINVAL,
					      "unknown argument '%s%s%s' (known: %s)", path,
					      *path ? "." : "", it->string, known);
			}
			snprintf(sub, sizeof(sub), "%s%s%.48s", path, *path ? "." : "", it->string);
			if ((r = validate(ps, it, sub, err, errlen, depth + 1)) < 0)
				return r;
		}
		return 0;
	}
	if (strcmp(t, "array") == 0) {
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
		const cJSON *it;
		int n, i = 0;

		if (!cJSON_IsArray(v))
			return errmsg(err, errlen, -EINVAL, "%s: expected a list, got %s", where,
				      shown(v, gotbuf, sizeof(gotbuf)));
		n = cJSON_GetArraySize(v);
		if ((kw = cJSON_GetObjectItemCaseSensitive(schema, "minItems")) &&
		    n < kw->valuedouble)
			return errmsg(err, errlen, -EINVAL,
				      "%s: expected at least %g entries, got %d", where,
				      kw->valuedouble, n);
		if ((kw = cJSON_GetObjectItemCaseSensitive(schema, "maxItems")) &&
		    n > kw->valuedouble)
			return errmsg(err, errlen, -EINVAL,
				      "%s: expected at most %g entries, got %d", where,
				      kw->valuedouble, n);
		cJSON_ArrayForEach(it, v)
		{
			char sub[96];
			int r;

			snprintf(sub, sizeof(sub), "%.80s[%d]", path, i++);
			if (items && (r = validate(items, it, sub, err, errlen, depth + 1)) < 0)
				return r;
		}
		return 0;
	}
	if (strcmp(t, "string") == 0) {
		const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
		size_t n;

		if (!cJSON_IsString(v))
			return errmsg(err, errlen, -EINVAL, "%s: expected a string, got %s", where,
				      shown(v, gotbuf, sizeof(gotbuf)));
		for (const char *s = v->valuestring; *s; s++)
			if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
				return errmsg(err, errlen, -EINVAL,
					      "%s: contains control characters", where);
		n = utf8_chars(v->valuestring);
		if ((kw = cJSON_GetObjectItemCaseSensitive(schema, "minLength")) &&
		    n < kw->valuedouble)
			return errmsg(err, errlen, -EINVAL,
				      "%s: expected at least %g characters, got %zu", where,
				      kw->valuedouble, n);
		if ((kw = cJSON_GetObjectItemCaseSensitive(schema, "maxLength")) &&
		    n > kw->valuedouble)
			return errmsg(err, errlen, -EINVAL,
				      "%s: expected at most %g characters, got %zu", where,
				      kw->valuedouble, n);
		if (en) {
			const cJSON *e;
			char list[400];
			size_t off = 0;

			cJSON_ArrayForEach(e, en)
			{
				if (cJSON_IsString(e) &&
				    strcmp(e->valuestring, v->valuestring) == 0)
					return 0;
			}
			list[0] = '\0';
			cJSON_ArrayForEach(e, en)
			{
				if (off < sizeof(list))
					off +=
					    (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
							     off ? ", " : "", e->valuestring);
			}
			return errmsg(err, errlen, -EINVAL, "%s: expected one of %s, got %s", where,
				      list, shown(v, gotbuf, sizeof(gotbuf)));
		}
		return 0;
	}
	if (strcmp(t, "number") == 0 || strcmp(t, "integer") == 0) {
		bool integer = t[0] == 'i';

		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    (integer && v->valuedouble != floor(v->valuedouble)))
			return errmsg(err, errlen, -EINVAL, "%s: expected %s, got %s", where,
				      integer ? "a whole number" : "a number",
				      shown(v, gotbuf, sizeof(gotbuf)));
		if ((kw = cJSON_GetObjectItemCaseSensitive(schema, "minimum")) &&
		    v->valuedouble < kw->valuedouble)
			return errmsg(err, errlen, -EINVAL, "%s: expected a number >= %g, got %s",
				      where, kw->valuedouble, shown(v, gotbuf, sizeof(gotbuf)));
		if ((kw = cJSON_GetObjectItemCaseSensitive(schema, "maximum")) &&
		    v->valuedouble > kw->valuedouble)
			return errmsg(err, errlen, -EINVAL, "%s: expected a number <= %g, got %s",
				      where, kw->valuedouble, shown(v, gotbuf, sizeof(gotbuf)));
		return 0;
	}
	if (strcmp(t, "boolean") == 0) {
		if (!cJSON_IsBool(v))
			return errmsg(err, errlen, -EINVAL, "%s: expected true or false, got %s",
				      where, shown(v, gotbuf, sizeof(gotbuf)));
		return 0;
	}
	return errmsg(err, errlen, -EINVAL, "%s: the schema has no type this validator knows",
		      where);
}

/* Only keywords of the subset, with sane types. */
static int check_schema(const cJSON *s, const char *path, char *err, size_t errlen, int depth)
{
	static const char *const known[] = {
	    "type",	   "properties", "required", "additionalProperties",
	    "enum",	   "minimum",	 "maximum",  "minLength",
	    "maxLength",   "items",	 "minItems", "maxItems",
	    "description", NULL};
	static const char *const types[] = {"object",  "string", "number", "integer",
					    "boolean", "array",	 NULL};
	const cJSON *it, *type;
	bool ok = false;

	if (depth > 4 || !cJSON_IsObject(s))
		return errmsg(err, errlen, -EINVAL, "%s: a schema must be an object", path);
	cJSON_ArrayForEach(it, s)
	{
		bool k = false;

		for (const char *const *w = known; *w; w++)
			k |= strcmp(it->string, *w) == 0;
		if (!k)
			return errmsg(err, errlen, -EINVAL,
				      "%s: keyword '%s' is outside the supported subset", path,
				      it->string);
	}
	type = cJSON_GetObjectItemCaseSensitive(s, "type");
	for (const char *const *w = types; cJSON_IsString(type) && *w; w++)
		ok |= strcmp(type->valuestring, *w) == 0;
	if (!ok)
		return errmsg(err, errlen, -EINVAL,
			      "%s: 'type' must be one of object, string, number, "
			      "integer, boolean, array",
			      path);
	if ((it = cJSON_GetObjectItemCaseSensitive(s, "additionalProperties")) &&
	    !cJSON_IsFalse(it))
		return errmsg(err, errlen, -EINVAL, "%s: additionalProperties must be false", path);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(s, "properties"))
	{
		char sub[128];
		int r;

		snprintf(sub, sizeof(sub), "%.60s.%.60s", path, it->string);
		if ((r = check_schema(it, sub, err, errlen, depth + 1)) < 0)
			return r;
	}
	if ((it = cJSON_GetObjectItemCaseSensitive(s, "items"))) {
		char sub[128];

		snprintf(sub, sizeof(sub), "%.100s[]", path);
		return check_schema(it, sub, err, errlen, depth + 1);
	}
	return 0;
}

int tools_validate(const char *schema_json, const char *args_json, char *err, size_t errlen)
{
	cJSON *schema = cJSON_Parse(schema_json);
	cJSON *args;
	int r;

	if (!schema)
		return errmsg(err, errlen, -EINVAL, "the schema is not valid JSON");
	args = cJSON_Parse(args_json && *args_json ? args_json : "{}");
	if (!args) {
		cJSON_Delete(schema);
		return errmsg(err, errlen, -EINVAL, "arguments: not valid JSON");
	}
	r = validate(schema, args, "", err, errlen, 0);
	cJSON_Delete(args);
	cJSON_Delete(schema);
	return r;
}

int tools_schema_check(const char *name, const char *schema_json, char *err, size_t errlen)
{
	cJSON *s = cJSON_Parse(schema_json);
	const cJSON *type;
	int r;

	if (!s)
		return errmsg(err, errlen, -EINVAL, "%s: the schema is not valid JSON", name);
	type = cJSON_GetObjectItemCaseSensitive(s, "type");
	r = check_schema(s, name, err, errlen, 0);
	if (r == 0 && !(cJSON_IsString(type) && strcmp(type->valuestring, "object") == 0))
		r = errmsg(err, errlen, -EINVAL, "%s: the arguments must be an object", name);
	cJSON_Delete(s);
	return r;
}

int tools_self_check(char *err, size_t errlen)
{
	for (size_t i = 0; i < N_TOOLS; i++) {
		int r = tools_schema_check(tools[i].name, tools[i].schema, err, errlen);

		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- one call ------------------------------------------------------------ */

struct call {
	struct tools_ctx *ctx;
	const struct catalog *cat;
	const cJSON *args;
	cJSON *result;
	char err[TOOLS_ERROR_MAX];
	const char *reason; /* for tool_rejected: "arguments", "unavailable", "failed" */
	int n_facts;
	bool oom;
};

static int call_fail(struct call *c, int rc, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int call_fail(struct call *c, int rc, const char *reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->reason = reason;
	return rc;
}

static void fact(struct call *c, enum catalog_unit u, int64_t centi, unsigned flags,
		 const struct catalog_product *p, const struct catalog_competitor *k)
{
	if (c->ctx->facts && figures_facts_add(c->ctx->facts, u, centi, flags, p, k) > 0)
		c->n_facts++;
}

/* "$1,099.00" */
static void money_text(const struct catalog *cat, int64_t cents, char *buf, size_t len)
{
	const char *sym = catalog_telco(cat)->currency_symbol;
	uint64_t a = cents < 0 ? (uint64_t)(-cents) : (uint64_t)cents;
	uint64_t w = a / 100;
	char digits[32];

	if (w >= 1000000)
		snprintf(digits, sizeof(digits), "%llu,%03llu,%03llu",
			 (unsigned long long)(w / 1000000), (unsigned long long)(w / 1000 % 1000),
			 (unsigned long long)(w % 1000));
	else if (w >= 1000)
		snprintf(digits, sizeof(digits), "%llu,%03llu", (unsigned long long)(w / 1000),
			 (unsigned long long)(w % 1000));
	else
		snprintf(digits, sizeof(digits), "%llu", (unsigned long long)w);
	snprintf(buf, len, "%s%s%s.%02llu", cents < 0 ? "-" : "", sym, digits,
		 (unsigned long long)(a % 100));
}

/* Adds key: "$40.00" (+ " a month") and registers the figure. */
static void put_money(struct call *c, cJSON *obj, const char *key, int64_t cents, bool monthly,
		      const struct catalog_product *p, const struct catalog_competitor *k)
{
	char buf[48];

	money_text(c->cat, cents, buf, sizeof(buf));
	if (monthly)
		strncat(buf, " a month", sizeof(buf) - strlen(buf) - 1);
	if (!cJSON_AddStringToObject(obj, key, buf))
		c->oom = true;
	fact(c, CATALOG_UNIT_MONEY, cents, monthly ? FIGURES_FACT_MONTHLY : 0, p, k);
}

static void put_str(struct call *c, cJSON *obj, const char *key, const char *s)
{
	if (s && !cJSON_AddStringToObject(obj, key, s))
		c->oom = true;
}

static void put_num(struct call *c, cJSON *obj, const char *key, double v)
{
	if (!cJSON_AddNumberToObject(obj, key, v))
		c->oom = true;
}

static cJSON *put_obj(struct call *c, cJSON *obj, const char *key)
{
	cJSON *o = cJSON_AddObjectToObject(obj, key);

	if (!o)
		c->oom = true;
	return o;
}

static cJSON *put_arr(struct call *c, cJSON *obj, const char *key)
{
	cJSON *o = cJSON_AddArrayToObject(obj, key);

	if (!o)
		c->oom = true;
	return o;
}

static cJSON *push_obj(struct call *c, cJSON *arr)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !arr || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		c->oom = true;
		return NULL;
	}
	return o;
}

static void push_str(struct call *c, cJSON *arr, const char *s)
{
	cJSON *v = cJSON_CreateString(s);

	if (!v || !arr || !cJSON_AddItemToArray(arr, v)) {
		cJSON_Delete(v);
		c->oom = true;
	}
}

static const struct {
	const char *one, *many;
} unit_words[CATALOG_UNIT_COUNT] = {
    [CATALOG_UNIT_MONEY] = {"", ""},
    [CATALOG_UNIT_PERCENT] = {"%", "%"},
    [CATALOG_UNIT_GB] = {"GB", "GB"},
    [CATALOG_UNIT_MBPS] = {"Mbps", "Mbps"},
    [CATALOG_UNIT_CHANNELS] = {"channel", "channels"},
    [CATALOG_UNIT_SCREENS] = {"screen", "screens"},
    [CATALOG_UNIT_LINES] = {"line", "lines"},
    [CATALOG_UNIT_DEVICES] = {"device", "devices"},
    [CATALOG_UNIT_MESH_POINTS] = {"mesh point", "mesh points"},
    [CATALOG_UNIT_CAMERAS] = {"camera", "cameras"},
    [CATALOG_UNIT_SENSORS] = {"sensor", "sensors"},
    [CATALOG_UNIT_MONTHS] = {"month", "months"},
    [CATALOG_UNIT_DAYS] = {"day", "days"},
    [CATALOG_UNIT_HOURS] = {"hour", "hours"},
    [CATALOG_UNIT_MINUTES] = {"minute", "minutes"},
    [CATALOG_UNIT_COUNTRIES] = {"country", "countries"},
    [CATALOG_UNIT_INCHES] = {"inch", "inches"},
    [CATALOG_UNIT_MEGAPIXELS] = {"MP", "MP"},
    [CATALOG_UNIT_MAH] = {"mAh", "mAh"},
};

/* "4 screens", "6.1 inches", "unlimited" */
static void amount_text(enum catalog_unit u, int64_t centi, bool unlimited, char *buf, size_t len)
{
	const char *w, *sep;

	if (unlimited) {
		snprintf(buf, len, "unlimited");
		return;
	}
	sep = u == CATALOG_UNIT_PERCENT ? "" : " ";
	w = centi == 100 ? unit_words[u].one : unit_words[u].many;
	if (centi % 100 == 0)
		snprintf(buf, len, "%lld%s%s", (long long)(centi / 100), sep, w);
	else if (centi % 10 == 0)
		snprintf(buf, len, "%lld.%lld%s%s", (long long)(centi / 100),
			 (long long)(centi % 100 / 10), sep, w);
	else
		snprintf(buf, len, "%lld.%02lld%s%s", (long long)(centi / 100),
			 (long long)(centi % 100), sep, w);
}

static void put_specs(struct call *c, cJSON *obj, const struct catalog_spec *specs, size_t n,
		      const struct catalog_product *p, const struct catalog_competitor *k)
{
	cJSON *o = put_obj(c, obj, "specs");

	for (size_t i = 0; o && i < n; i++) {
		char buf[48];

		amount_text(specs[i].unit, specs[i].centi, specs[i].unlimited, buf, sizeof(buf));
		put_str(c, o, specs[i].label, buf);
		if (!specs[i].unlimited)
			fact(c, specs[i].unit, specs[i].centi, 0, p, k);
	}
}

static void put_contract(struct call *c, cJSON *obj, int months, const struct catalog_product *p,
			 const struct catalog_competitor *k)
{
	char buf[32];

	if (months == 0) {
		put_str(c, obj, "contract", "no contract");
		return;
	}
	snprintf(buf, sizeof(buf), "%d months", months);
	put_str(c, obj, "contract", buf);
	fact(c, CATALOG_UNIT_MONTHS, (int64_t)months * 100, 0, p, k);
}

static void put_price(struct call *c, cJSON *obj, const struct catalog_product *p)
{
	put_money(c, obj, "price", p->price_cents, p->billing == CATALOG_BILLING_MONTHLY, p, NULL);
	if (p->billing == CATALOG_BILLING_ONCE && p->installment_months) {
		char buf[160], m[48];

		money_text(c->cat, catalog_installment_cents(p), m, sizeof(m));
		snprintf(buf, sizeof(buf), "%s a month for %d months, no interest", m,
			 p->installment_months);
		put_str(c, obj, "pay_monthly", buf);
		fact(c, CATALOG_UNIT_MONEY, catalog_installment_cents(p), FIGURES_FACT_MONTHLY, p,
		     NULL);
		fact(c, CATALOG_UNIT_MONTHS, (int64_t)p->installment_months * 100, 0, p, NULL);
	}
}

static const char *arg_str(const cJSON *args, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The product id, or a rejection that says what to do. */
static const struct catalog_product *find_product(struct call *c, const char *id, const char *arg)
{
	const struct catalog_product *p = catalog_product_find(c->cat, id);

	if (!p) {
		const struct catalog_product *near = catalog_product_suggest(c->cat, id);

		if (near)
			call_fail(c, -EINVAL, "arguments",
				  "argument '%s': no product '%.48s'; did you mean '%s'?", arg, id,
				  near->id);
		else
			call_fail(c, -EINVAL, "arguments",
				  "argument '%s': no product '%.48s'; use an id from "
				  "search_products",
				  arg, id);
	}
	return p;
}

/* Promotions running today for p, with what they take off. */
static void put_promotions(struct call *c, cJSON *obj, const struct catalog_product *p)
{
	const struct catalog_promotion *pr[8];
	size_t n = catalog_promotions_active(c->cat, c->ctx->today, p, pr, 8);
	cJSON *arr;

	if (n == 0)
		return;
	arr = put_arr(c, obj, "promotions");
	for (size_t i = 0; i < n && i < 8; i++) {
		cJSON *o = push_obj(c, arr);
		int64_t d = catalog_promotion_discount_cents(pr[i], p->price_cents);
		char end[11];

		if (!o)
			return;
		put_str(c, o, "id", pr[i]->id);
		put_str(c, o, "name", pr[i]->name);
		put_str(c, o, "description", pr[i]->description);
		catalog_date_format(pr[i]->end, end);
		put_str(c, o, "ends", end);
		put_money(c, o, "promo_price", p->price_cents - d,
			  p->billing == CATALOG_BILLING_MONTHLY, p, NULL);
		if (pr[i]->months) {
			put_num(c, o, "for_months", pr[i]->months);
			fact(c, CATALOG_UNIT_MONTHS, (int64_t)pr[i]->months * 100, 0, p, NULL);
		}
		if (pr[i]->discount == CATALOG_DISCOUNT_PERCENT)
			fact(c, CATALOG_UNIT_PERCENT, pr[i]->value, 0, p, NULL);
		fact(c, CATALOG_UNIT_MONEY, d, 0, p, NULL);
		put_str(c, o, "terms", pr[i]->terms);
	}
}

/* ---- search_products ---------------------------------------------------- */

static int run_search(struct call *c)
{
	const struct catalog_product *out[8];
	const cJSON *cat = cJSON_GetObjectItemCaseSensitive(c->args, "category");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(c->args, "max_price");
	const cJSON *mr = cJSON_GetObjectItemCaseSensitive(c->args, "max_results");
	struct catalog_query q = {
	    .text = arg_str(c->args, "query"), .category = -1, .max_price_cents = -1};
	enum catalog_category cc;
	cJSON *arr;
	int n;

	if (cJSON_IsString(cat) && catalog_category_from_name(cat->valuestring, &cc) == 0)
		q.category = (int)cc;
	if (cJSON_IsNumber(max))
		q.max_price_cents = (int64_t)floor(max->valuedouble * 100 + 1e-6);
	n = catalog_search(c->cat, &q, out, cJSON_IsNumber(mr) ? (size_t)mr->valueint : 5);
	if (n < 0)
		return call_fail(c, n, "arguments", "argument 'query': too long");
	arr = put_arr(c, c->result, "results");
	for (int i = 0; i < n; i++) {
		const struct catalog_product *p = out[i];
		const struct catalog_promotion *pr[1];
		cJSON *o = push_obj(c, arr);

		if (!o)
			break;
		put_str(c, o, "id", p->id);
		put_str(c, o, "name", p->name);
		put_str(c, o, "category", catalog_category_name(p->category));
		put_price(c, o, p);
		put_contract(c, o, p->contract_months, p, NULL);
		put_str(c, o, "best_for", p->best_for);
		if (catalog_promotions_active(c->cat, c->ctx->today, p, pr, 1) > 0)
			put_str(c, o, "promotion", pr[0]->name);
	}
	if (n == 0)
		put_str(c, c->result, "hint",
			"Nothing matched. Try other words, or a category: mobile, broadband, tv, "
			"streaming, security, devices, addons.");
	else
		put_str(c, c->result, "next", "Call get_product for the one that fits best.");
	return 0;
}

/* ---- get_product --------------------------------------------------------------- */

static int run_get(struct call *c)
{
	const struct catalog_product *p =
	    find_product(c, arg_str(c->args, "product_id"), "product_id");
	cJSON *r = c->result, *arr;

	if (!p)
		return -EINVAL;
	put_str(c, r, "id", p->id);
	put_str(c, r, "name", p->name);
	put_str(c, r, "category", catalog_category_name(p->category));
	put_price(c, r, p);
	put_str(c, r, "billing", p->billing == CATALOG_BILLING_MONTHLY ? "monthly" : "once");
	put_contract(c, r, p->contract_months, p, NULL);
	if (p->setup_cents)
		put_money(c, r, "setup_fee", p->setup_cents, false, p, NULL);
	put_specs(c, r, p->specs, p->n_specs, p, NULL);
	if (p->n_features) {
		arr = put_arr(c, r, "features");
		for (size_t i = 0; i < p->n_features; i++)
			push_str(c, arr, p->features[i]);
	}
	put_str(c, r, "value_story", p->value_story);
	put_str(c, r, "best_for", p->best_for);
	if (p->n_comparisons) {
		arr = put_arr(c, r, "competitor_angles");
		for (size_t i = 0; i < p->n_comparisons; i++) {
			const struct catalog_comparison *cmp = &p->comparisons[i];
			cJSON *o = push_obj(c, arr), *ids;
			char against[256] = "";

			if (!o)
				break;
			ids = put_arr(c, o, "offer_ids");
			for (size_t j = 0; j < cmp->n_offers; j++) {
				size_t used = strlen(against);

				push_str(c, ids, cmp->offers[j]->id);
				snprintf(against + used, sizeof(against) - used, "%s%s (%s)",
					 j ? " + " : "", cmp->offers[j]->name,
					 cmp->offers[j]->competitor->name);
			}
			put_str(c, o, "against", against);
			put_str(c, o, "angle", cmp->angle);
		}
		put_str(
		    c, r, "for_the_math",
		    "call compare with this product and the offer_ids (or the competitor_id, or "
		    "what the customer pays now)");
	}
	arr = put_arr(c, r, "common_questions");
	for (size_t i = 0; i < p->n_questions; i++) {
		cJSON *o = push_obj(c, arr);

		if (!o)
			break;
		put_str(c, o, "q", p->questions[i].q);
		put_str(c, o, "a", p->questions[i].a);
	}
	if (p->n_cross_sells) {
		arr = put_arr(c, r, "cross_sells");
		for (size_t i = 0; i < p->n_cross_sells; i++) {
			const struct catalog_product *x = p->cross_sells[i].product;
			cJSON *o = push_obj(c, arr);

			if (!o)
				break;
			put_str(c, o, "id", x->id);
			put_str(c, o, "name", x->name);
			put_money(c, o, "price", x->price_cents,
				  x->billing == CATALOG_BILLING_MONTHLY, x, NULL);
			put_str(c, o, "why", p->cross_sells[i].why);
		}
	}
	if (p->n_charges) {
		arr = put_arr(c, r, "extra_charges");
		for (size_t i = 0; i < p->n_charges; i++) {
			cJSON *o = push_obj(c, arr);

			if (!o)
				break;
			put_str(c, o, "what", p->charges[i].name);
			put_money(c, o, "amount", p->charges[i].cents, false, p, NULL);
		}
	}
	put_promotions(c, r, p);
	return 0;
}

/* ---- compare ---------------------------------------------------------------------- */

#define CMP_MAX 4

/* One side's specs merged: the best value per key. */
struct side_spec {
	const char *key, *label;
	enum catalog_unit unit;
	bool unlimited;
	int64_t centi;
};

struct side {
	struct side_spec specs[CATALOG_LIST_MAX * CMP_MAX];
	size_t n_specs;
	const char *features[CATALOG_LIST_MAX * CMP_MAX];
	size_t n_features;
	int64_t monthly, setup, first_year;
	int contract;
};

static void side_add_specs(struct side *s, const struct catalog_spec *sp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < s->n_specs; j++)
			if (strcmp(s->specs[j].key, sp[i].key) == 0)
				break;
		if (j == s->n_specs) {
			if (s->n_specs == sizeof(s->specs) / sizeof(s->specs[0]))
				continue;
			s->specs[j].key = sp[i].key;
			s->specs[j].label = sp[i].label;
			s->specs[j].unit = sp[i].unit;
			s->specs[j].unlimited = sp[i].unlimited;
			s->specs[j].centi = sp[i].centi;
			s->n_specs++;
		} else if (sp[i].unlimited) {
			s->specs[j].unlimited = true;
		} else if (sp[i].centi > s->specs[j].centi) {
			s->specs[j].centi = sp[i].centi;
		}
	}
}

static void side_add_features(struct side *s, const char *const *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		for (size_t j = 0; j < s->n_features; j++)
			dup |= strcasecmp(s->features[j], f[i]) == 0;
		if (!dup && s->n_features < sizeof(s->features) / sizeof(s->features[0]))
			s->features[s->n_features++] = f[i];
	}
}

static const struct side_spec *side_spec(const struct side *s, const char *key)
{
	for (size_t i = 0; i < s->n_specs; i++)
		if (strcmp(s->specs[i].key, key) == 0)
			return &s->specs[i];
	return NULL;
}

/* What a has that b has not ("4 screens at once (theirs: 2 screens)"). */
static void list_extras(struct call *c, cJSON *arr, const struct side *a, const struct side *b,
			bool b_known)
{
	for (size_t i = 0; i < a->n_specs; i++) {
		const struct side_spec *x = &a->specs[i];
		const struct side_spec *y = side_spec(b, x->key);
		char mine[48], theirs[48], line[160];

		if (y && (y->unlimited || (!x->unlimited && y->centi >= x->centi)))
			continue;
		if (!x->unlimited && x->centi == 0)
			continue;
		amount_text(x->unit, x->centi, x->unlimited, mine, sizeof(mine));
		if (y) {
			amount_text(y->unit, y->centi, false, theirs, sizeof(theirs));
			snprintf(line, sizeof(line), "%s: %s against %s", x->label, mine, theirs);
		} else if (b_known) {
			snprintf(line, sizeof(line), "%s: %s against none", x->label, mine);
		} else {
			continue;
		}
		push_str(c, arr, line);
	}
	for (size_t i = 0; i < a->n_features; i++) {
		bool has = strcasecmp(a->features[i], "No contract") == 0; /* said below */

		for (size_t j = 0; j < b->n_features; j++)
			has |= strcasecmp(a->features[i], b->features[j]) == 0;
		if (!has && b_known)
			push_str(c, arr, a->features[i]);
	}
	if (b_known && a->contract < b->contract) {
		char line[96];

		if (a->contract == 0)
			snprintf(line, sizeof(line), "no contract, against %d months", b->contract);
		else
			snprintf(line, sizeof(line), "a %d-month contract, against %d months",
				 a->contract, b->contract);
		push_str(c, arr, line);
	}
}

/* {"ours": "$40.00", "theirs": "$45.00", "difference": "$5.00", "cheaper": "ours"} */
static void put_diff(struct call *c, cJSON *obj, const char *key, int64_t ours, int64_t theirs,
		     bool monthly)
{
	cJSON *o = put_obj(c, obj, key);
	int64_t d = theirs - ours;
	unsigned fl = monthly ? FIGURES_FACT_MONTHLY : 0;

	if (!o)
		return;
	put_money(c, o, "ours", ours, false, NULL, NULL);
	put_money(c, o, "theirs", theirs, false, NULL, NULL);
	put_money(c, o, "difference", d < 0 ? -d : d, false, NULL, NULL);
	put_str(c, o, "cheaper", d > 0 ? "ours" : d < 0 ? "theirs" : "same");
	fact(c, CATALOG_UNIT_MONEY, ours, fl, NULL, NULL);
	fact(c, CATALOG_UNIT_MONEY, theirs, fl, NULL, NULL);
	fact(c, CATALOG_UNIT_MONEY, d < 0 ? -d : d, fl, NULL, NULL);
}

/* Dedup helper for offers */
static bool have_offer(const struct catalog_offer *const *v, size_t n,
		       const struct catalog_offer *o)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == o)
			return true;
	return false;
}

/*
 * The competitor's offers to set against p: those of k in the first of p's
 * comparisons that has any, or else k's offer in p's category closest in
 * price. Appends to offers (no duplicates); false when there is none.
 */
static bool match_offers(const struct catalog_product *p, const struct catalog_competitor *k,
			 const struct catalog_offer **offers, size_t *n, size_t max)
{
	const struct catalog_offer *best = NULL;
	int64_t best_d = 0;

	for (size_t i = 0; i < p->n_comparisons; i++) {
		bool found = false;

		for (size_t j = 0; j < p->comparisons[i].n_offers; j++) {
			const struct catalog_offer *o = p->comparisons[i].offers[j];

			if (o->competitor != k)
				continue;
			found = true;
			if (!have_offer(offers, *n, o) && *n < max)
				offers[(*n)++] = o;
		}
		if (found)
			return true;
	}
	for (size_t i = 0; i < k->n_offers; i++) {
		const struct catalog_offer *o = &k->offers[i];
		int64_t d = o->price_cents - p->price_cents;

		if (o->category != p->category)
			continue;
		if (d < 0)
			d = -d;
		if (!best || d < best_d) {
			best = o;
			best_d = d;
		}
	}
	if (best && !have_offer(offers, *n, best) && *n < max)
		offers[(*n)++] = best;
	return best != NULL;
}

/* The stored angle that best fits the offers compared: the same set, else
 * the most offers in common. NULL when none shares an offer. */
static const char *best_angle(const struct catalog_product *const *prods, size_t np,
			      const struct catalog_offer *const *offers, size_t no)
{
	const char *best = NULL;
	int best_score = 0;

	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < prods[i]->n_comparisons; j++) {
			const struct catalog_comparison *cmp = &prods[i]->comparisons[j];
			int common = 0, score;

			for (size_t m = 0; m < cmp->n_offers; m++)
				common += have_offer(offers, no, cmp->offers[m]);
			score = common * 2 + (common == (int)cmp->n_offers && cmp->n_offers == no);
			if (common && score > best_score) {
				best = cmp->angle;
				best_score = score;
			}
		}
	return best;
}

static int run_compare(struct call *c)
{
	const cJSON *pids = cJSON_GetObjectItemCaseSensitive(c->args, "product_ids");
	const cJSON *oids = cJSON_GetObjectItemCaseSensitive(c->args, "offer_ids");
	const cJSON *spend = cJSON_GetObjectItemCaseSensitive(c->args, "current_monthly_spend");
	const char *kid = arg_str(c->args, "competitor_id");
	const struct catalog_product *prods[CMP_MAX];
	const struct catalog_offer *offers[CMP_MAX * 2];
	const struct catalog_competitor *k = NULL;
	struct side *ours = NULL, *theirs = NULL;
	size_t np = 0, no = 0;
	const cJSON *it;
	cJSON *r = c->result, *o, *arr;
	int64_t spend_cents = -1;
	char names_ours[200] = "", names_theirs[200] = "", a[32], b[32], summary[512];
	int rc = 0;

	cJSON_ArrayForEach(it, pids)
	{
		const struct catalog_product *p = find_product(c, it->valuestring, "product_ids");

		if (!p)
			return -EINVAL;
		if (p->billing != CATALOG_BILLING_MONTHLY)
			return call_fail(c, -EINVAL, "arguments",
					 "argument 'product_ids': '%s' is paid once; compare works "
					 "on monthly plans (get_product shows a device's monthly "
					 "payment)",
					 p->id);
		for (size_t j = 0; j < np; j++)
			if (prods[j] == p)
				return call_fail(c, -EINVAL, "arguments",
						 "argument 'product_ids': '%s' is listed twice",
						 p->id);
		prods[np++] = p;
	}
	if (kid) {
		k = catalog_competitor_find(c->cat, kid);
		if (!k)
			return call_fail(c, -EINVAL, "arguments",
					 "argument 'competitor_id': no competitor '%.48s'; known: "
					 "crestel, vaultline, pebble, streammax, arenapass, sentra "
					 "(see the catalog)",
					 kid);
	}
	cJSON_ArrayForEach(it, oids)
	{
		const struct catalog_offer *of = catalog_offer_find(c->cat, it->valuestring);

		if (!of)
			return call_fail(
			    c, -EINVAL, "arguments",
			    "argument 'offer_ids': no competitor offer '%.48s'; use an "
			    "offer id from get_product's competitor_angles",
			    it->valuestring);
		if (k && of->competitor != k)
			return call_fail(c, -EINVAL, "arguments",
					 "argument 'offer_ids': '%s' is %s's, not %s's", of->id,
					 of->competitor->name, k->name);
		if (!have_offer(offers, no, of))
			offers[no++] = of;
	}
	if (k && no == 0) {
		for (size_t i = 0; i < np; i++)
			match_offers(prods[i], k, offers, &no, sizeof(offers) / sizeof(offers[0]));
		if (no == 0)
			return call_fail(c, -EINVAL, "arguments",
					 "%s has no %s offer in the catalog; compare with "
					 "current_monthly_spend instead",
					 k->name, catalog_category_name(prods[0]->category));
	}
	if (cJSON_IsNumber(spend)) {
		/* to the cent, half up */
		spend_cents = (int64_t)floor(spend->valuedouble * 100.0 + 0.5 + 1e-7);
	}
	if (no == 0 && spend_cents < 0)
		return call_fail(
		    c, -EINVAL, "arguments",
		    "give competitor_id, offer_ids or current_monthly_spend to compare "
		    "against");

	ours = calloc(1, sizeof(*ours));
	theirs = calloc(1, sizeof(*theirs));
	if (!ours || !theirs) {
		rc = -ENOMEM;
		goto out;
	}

	/* ours: the products, with the best promotion running today on each */
	o = put_obj(c, r, "ours");
	arr = o ? put_arr(c, o, "products") : NULL;
	for (size_t i = 0; i < np; i++) {
		const struct catalog_product *p = prods[i];
		const struct catalog_promotion *pr[8], *best = NULL;
		size_t n = catalog_promotions_active(c->cat, c->ctx->today, p, pr, 8);
		int64_t best_off = 0;
		cJSON *po = push_obj(c, arr);

		for (size_t j = 0; j < n && j < 8; j++) {
			int m = pr[j]->months < 12 ? pr[j]->months : 12;
			int64_t off = catalog_promotion_discount_cents(pr[j], p->price_cents) * m;

			if (off > best_off) {
				best_off = off;
				best = pr[j];
			}
		}
		ours->monthly += p->price_cents;
		ours->setup += p->setup_cents;
		ours->first_year += 12 * p->price_cents + p->setup_cents - best_off;
		if (p->contract_months > ours->contract)
			ours->contract = p->contract_months;
		side_add_specs(ours, p->specs, p->n_specs);
		side_add_features(ours, p->features, p->n_features);
		snprintf(names_ours + strlen(names_ours), sizeof(names_ours) - strlen(names_ours),
			 "%s%s", i ? " + " : "", p->name);
		if (!po)
			continue;
		put_str(c, po, "id", p->id);
		put_str(c, po, "name", p->name);
		put_money(c, po, "price", p->price_cents, true, p, NULL);
		if (p->setup_cents)
			put_money(c, po, "setup_fee", p->setup_cents, false, p, NULL);
		if (best) {
			cJSON *pro = put_obj(c, po, "promotion");

			if (pro) {
				put_str(c, pro, "name", best->name);
				put_money(c, pro, "price",
					  p->price_cents - catalog_promotion_discount_cents(
							       best, p->price_cents),
					  true, p, NULL);
				put_num(c, pro, "months", best->months);
				put_money(c, pro, "saves_in_first_year", best_off, false, NULL,
					  NULL);
			}
		}
	}
	if (o)
		put_contract(c, o, ours->contract, NULL, NULL);

	/* theirs: the offers, or what they pay now */
	o = put_obj(c, r, "theirs");
	if (no) {
		arr = o ? put_arr(c, o, "offers") : NULL;
		for (size_t i = 0; i < no; i++) {
			const struct catalog_offer *of = offers[i];
			int intro = of->intro_months < 12 ? of->intro_months : 12;
			cJSON *oo = push_obj(c, arr);

			theirs->monthly += of->price_cents;
			theirs->setup += of->setup_cents;
			theirs->first_year += of->setup_cents + intro * of->intro_cents +
					      (12 - intro) * of->price_cents;
			if (of->contract_months > theirs->contract)
				theirs->contract = of->contract_months;
			side_add_specs(theirs, of->specs, of->n_specs);
			side_add_features(theirs, of->features, of->n_features);
			snprintf(names_theirs + strlen(names_theirs),
				 sizeof(names_theirs) - strlen(names_theirs), "%s%s",
				 i ? " + " : "", of->name);
			if (!oo)
				continue;
			put_str(c, oo, "id", of->id);
			put_str(c, oo, "name", of->name);
			put_str(c, oo, "competitor", of->competitor->name);
			put_money(c, oo, "price", of->price_cents, true, NULL, of->competitor);
			if (of->setup_cents)
				put_money(c, oo, "setup_fee", of->setup_cents, false, NULL,
					  of->competitor);
			if (of->intro_months) {
				char buf[160], m[48];

				money_text(c->cat, of->intro_cents, m, sizeof(m));
				snprintf(buf, sizeof(buf),
					 "%s a month for the first %d months, then the price above",
					 m, of->intro_months);
				put_str(c, oo, "intro", buf);
				fact(c, CATALOG_UNIT_MONEY, of->intro_cents, FIGURES_FACT_MONTHLY,
				     NULL, of->competitor);
				fact(c, CATALOG_UNIT_MONTHS, (int64_t)of->intro_months * 100, 0,
				     NULL, of->competitor);
			}
			put_contract(c, oo, of->contract_months, NULL, of->competitor);
		}
	}
	if (spend_cents >= 0) {
		/* what they say they pay replaces the list prices */
		theirs->monthly = spend_cents;
		theirs->setup = 0;
		theirs->first_year = 12 * spend_cents;
		if (o)
			put_money(c, o, "current_spend", spend_cents, true, NULL, NULL);
		snprintf(names_theirs, sizeof(names_theirs), "what you pay now");
	}
	if (o && no)
		put_contract(c, o, theirs->contract, NULL, NULL);

	put_diff(c, r, "monthly", ours->monthly, theirs->monthly, true);
	put_diff(c, r, "yearly", 12 * ours->monthly, 12 * theirs->monthly, false);
	put_diff(c, r, "first_year", ours->first_year, theirs->first_year, false);

	if (no) {
		arr = put_arr(c, r, "we_include_more");
		list_extras(c, arr, ours, theirs, true);
		arr = put_arr(c, r, "they_include_more");
		list_extras(c, arr, theirs, ours, true);
	} else {
		/* against a bare amount: say what the money buys */
		struct side none = {.contract = CATALOG_CONTRACT_MAX_MONTHS + 1};

		arr = put_arr(c, r, "what_you_get");
		list_extras(c, arr, ours, &none, true);
	}

	/* the sentence the model can use as it is */
	{
		int64_t dm = theirs->monthly - ours->monthly;
		int64_t dy = theirs->first_year - ours->first_year;
		size_t off;

		money_text(c->cat, dm < 0 ? -dm : dm, a, sizeof(a));
		money_text(c->cat, 12 * (dm < 0 ? -dm : dm), b, sizeof(b));
		if (dm == 0)
			off = (size_t)snprintf(summary, sizeof(summary),
					       "%s costs the same each month as %s.", names_ours,
					       names_theirs);
		else
			off = (size_t)snprintf(
			    summary, sizeof(summary), "%s costs %s a month %s than %s, %s a year.",
			    names_ours, a, dm > 0 ? "less" : "more", names_theirs, b);
		if (dy != 12 * dm && off < sizeof(summary)) {
			money_text(c->cat, dy < 0 ? -dy : dy, a, sizeof(a));
			snprintf(summary + off, sizeof(summary) - off,
				 " Over the first year, counting setup fees, intro prices and "
				 "promotions, you pay %s %s with us.",
				 a, dy > 0 ? "less" : "more");
		}
		put_str(c, r, "summary", summary);
	}
	if (no) {
		const char *angle = best_angle(prods, np, offers, no);

		if (angle)
			put_str(c, r, "angle", angle);
	}
out:
	free(ours);
	free(theirs);
	return rc;
}

/* ---- current_promotions ------------------------------------------------------------ */

static int run_promotions(struct call *c)
{
	const struct catalog_promotion *pr[CATALOG_PROMOTIONS_MAX];
	const char *pid = arg_str(c->args, "product_id");
	const char *cat = arg_str(c->args, "category");
	const struct catalog_product *only = NULL;
	enum catalog_category cc = CATALOG_CATEGORY_MOBILE;
	size_t n;
	cJSON *arr;
	char day[11];

	if (pid && !(only = find_product(c, pid, "product_id")))
		return -EINVAL;
	if (cat)
		catalog_category_from_name(cat, &cc);
	n = catalog_promotions_active(c->cat, c->ctx->today, only, pr, CATALOG_PROMOTIONS_MAX);
	catalog_date_format(c->ctx->today, day);
	put_str(c, c->result, "date", day);
	arr = put_arr(c, c->result, "promotions");
	for (size_t i = 0; i < n; i++) {
		cJSON *o, *ps;
		char end[11];
		bool match = !cat;

		for (size_t j = 0; j < pr[i]->n_products && !match; j++)
			match = pr[i]->products[j]->category == cc;
		if (!match)
			continue;
		if (!(o = push_obj(c, arr)))
			break;
		put_str(c, o, "id", pr[i]->id);
		put_str(c, o, "name", pr[i]->name);
		put_str(c, o, "description", pr[i]->description);
		catalog_date_format(pr[i]->end, end);
		put_str(c, o, "ends", end);
		put_num(c, o, "days_left", pr[i]->end - c->ctx->today);
		fact(c, CATALOG_UNIT_DAYS, (int64_t)(pr[i]->end - c->ctx->today) * 100, 0, NULL,
		     NULL);
		ps = put_arr(c, o, "products");
		for (size_t j = 0; j < pr[i]->n_products; j++) {
			const struct catalog_product *p = pr[i]->products[j];
			int64_t d = catalog_promotion_discount_cents(pr[i], p->price_cents);
			bool monthly = p->billing == CATALOG_BILLING_MONTHLY;
			cJSON *po;

			if (only && p != only)
				continue;
			if (!(po = push_obj(c, ps)))
				break;
			put_str(c, po, "id", p->id);
			put_str(c, po, "name", p->name);
			put_money(c, po, "price", p->price_cents, monthly, p, NULL);
			put_money(c, po, "promo_price", p->price_cents - d, monthly, p, NULL);
			fact(c, CATALOG_UNIT_MONEY, d, 0, p, NULL);
			if (pr[i]->months) {
				put_num(c, po, "for_months", pr[i]->months);
				fact(c, CATALOG_UNIT_MONTHS, (int64_t)pr[i]->months * 100, 0, p,
				     NULL);
			}
			if (pr[i]->discount == CATALOG_DISCOUNT_PERCENT)
				fact(c, CATALOG_UNIT_PERCENT, pr[i]->value, 0, p, NULL);
		}
		put_str(c, o, "terms", pr[i]->terms);
	}
	if (cJSON_GetArraySize(arr) == 0)
		put_str(c, c->result, "note",
			"No promotion runs today for this; do not promise one.");
	return 0;
}

/* ---- book_appointment --------------------------------------------------------------- */

static const char *const weekdays[7] = {"monday", "tuesday",  "wednesday", "thursday",
					"friday", "saturday", "sunday"};

/* "today", "tomorrow", a weekday (the next one after today) or YYYY-MM-DD. */
static int resolve_day(int32_t today, const char *s, int32_t *ret)
{
	if (strcasecmp(s, "today") == 0) {
		*ret = today;
		return 0;
	}
	if (strcasecmp(s, "tomorrow") == 0) {
		*ret = today + 1;
		return 0;
	}
	for (int i = 0; i < 7; i++)
		if (strcasecmp(s, weekdays[i]) == 0) {
			int d = (i - catalog_date_weekday(today) + 7) % 7;

			*ret = today + (d ? d : 7);
			return 0;
		}
	return catalog_date_parse(s, ret);
}

static bool valid_phone(const char *s)
{
	int digits = 0;

	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			digits++;
		else if (!strchr("+-() .", *s))
			return false;
	}
	return digits >= 6;
}

static bool needs_install(const struct catalog_product *p)
{
	return p->category == CATALOG_CATEGORY_BROADBAND ||
	       p->category == CATALOG_CATEGORY_SECURITY ||
	       catalog_product_spec(p, "download_mbps") != NULL;
}

static int run_book(struct call *c)
{
	struct tools_booking b = {
	    .kind = arg_str(c->args, "kind"),
	    .time = arg_str(c->args, "preferred_time"),
	    .product_id = arg_str(c->args, "product_id"),
	    .contact_name = arg_str(c->args, "contact_name"),
	    .contact_phone = arg_str(c->args, "contact_phone"),
	    .notes = arg_str(c->args, "notes"),
	};
	const char *day = arg_str(c->args, "preferred_day");
	const struct catalog_product *p = NULL;
	char ref[TOOLS_REF_MAX] = "", iso[11];
	int r;

	if (b.product_id && !(p = find_product(c, b.product_id, "product_id")))
		return -EINVAL;
	if (resolve_day(c->ctx->today, day, &b.day) < 0)
		return call_fail(c, -EINVAL, "arguments",
				 "argument 'preferred_day': expected today, tomorrow, a weekday or "
				 "YYYY-MM-DD, got \"%.20s\"",
				 day);
	if (b.day < c->ctx->today || b.day > c->ctx->today + TOOLS_BOOKING_DAYS_AHEAD)
		return call_fail(c, -EINVAL, "arguments",
				 "argument 'preferred_day': must be between today and %d days "
				 "ahead",
				 TOOLS_BOOKING_DAYS_AHEAD);
	if (strcmp(b.kind, "install") == 0 && (!p || !needs_install(p)))
		return call_fail(c, -EINVAL, "arguments",
				 "argument 'product_id': an installation needs the broadband, "
				 "security or home bundle product being installed");
	if (b.contact_phone && !valid_phone(b.contact_phone))
		return call_fail(c, -EINVAL, "arguments",
				 "argument 'contact_phone': expected digits (at least 6) with "
				 "optional + - ( ) spaces");
	if (!c->ctx->hooks.book)
		return call_fail(c, -ENOTSUP, "unavailable",
				 "booking is not available on this kiosk; offer to fetch a member "
				 "of staff (escalate)");
	r = c->ctx->hooks.book(c->ctx->hooks.user, &b, ref, sizeof(ref));
	if (r < 0)
		return call_fail(c, r, "failed",
				 "the booking could not be made (%s); apologise and offer to "
				 "fetch a member of staff",
				 strerror(-r));
	ref[sizeof(ref) - 1] = '\0';
	if (!ref[0])
		return call_fail(c, -EIO, "failed", "the booking system returned no reference");
	catalog_date_format(b.day, iso);
	cJSON_AddTrueToObject(c->result, "booked");
	put_str(c, c->result, "reference", ref);
	put_str(c, c->result, "kind", b.kind);
	put_str(c, c->result, "date", iso);
	put_str(c, c->result, "weekday", weekdays[catalog_date_weekday(b.day)]);
	put_str(c, c->result, "time", b.time);
	if (p)
		put_str(c, c->result, "product", p->name);
	put_str(c, c->result, "next",
		"Read the reference out; staff confirm the exact time by phone or in the app.");
	return 0;
}

/* ---- record_need and escalate ---------------------------------------------------------- */

static int run_need(struct call *c)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(c->args, "tags");
	const cJSON *pids = cJSON_GetObjectItemCaseSensitive(c->args, "product_ids");
	const char *tv[8], *pv[8];
	size_t nt = 0, npd = 0;
	const cJSON *it;
	int r;

	cJSON_ArrayForEach(it, tags)
	{
		for (size_t j = 0; j < nt; j++)
			if (strcmp(tv[j], it->valuestring) == 0)
				return call_fail(c, -EINVAL, "arguments",
						 "argument 'tags': '%s' is listed twice",
						 it->valuestring);
		tv[nt++] = it->valuestring;
	}
	cJSON_ArrayForEach(it, pids)
	{
		if (!find_product(c, it->valuestring, "product_ids"))
			return -EINVAL;
		pv[npd++] = it->valuestring;
	}
	if (!c->ctx->hooks.record_need)
		return call_fail(c, -ENOTSUP, "unavailable", "notes are not kept on this kiosk");
	r = c->ctx->hooks.record_need(c->ctx->hooks.user, arg_str(c->args, "need"), tv, nt, pv,
				      npd);
	if (r < 0)
		return call_fail(c, r, "failed", "the note could not be saved (%s)", strerror(-r));
	cJSON_AddTrueToObject(c->result, "recorded");
	return 0;
}

static int run_escalate(struct call *c)
{
	const cJSON *urgent = cJSON_GetObjectItemCaseSensitive(c->args, "urgent");
	int r;

	if (!c->ctx->hooks.escalate)
		return call_fail(c, -ENOTSUP, "unavailable",
				 "no staff feed on this kiosk; tell the customer to ask at the "
				 "counter");
	r = c->ctx->hooks.escalate(c->ctx->hooks.user, arg_str(c->args, "reason"),
				   arg_str(c->args, "summary"), cJSON_IsTrue(urgent));
	if (r < 0)
		return call_fail(c, r, "failed",
				 "staff could not be reached (%s); tell the customer to ask at the "
				 "counter",
				 strerror(-r));
	cJSON_AddTrueToObject(c->result, "handed_over");
	put_str(c, c->result, "say",
		"A member of our team will be with you in a moment; I have passed on what you "
		"told me.");
	return 0;
}

static int (*const runners[])(struct call *) = {
    [TOOL_SEARCH] = run_search,		[TOOL_GET] = run_get,	[TOOL_COMPARE] = run_compare,
    [TOOL_PROMOTIONS] = run_promotions, [TOOL_BOOK] = run_book, [TOOL_NEED] = run_need,
    [TOOL_ESCALATE] = run_escalate,
};

/* ---- tools_call ------------------------------------------------------------------- */

/* The arguments as audited: contact details are not copied into the log. */
static cJSON *audited_args(const cJSON *args, const char *raw)
{
	cJSON *a;

	if (!args) {
		char buf[200];

		snprintf(buf, sizeof(buf), "%.190s", raw ? raw : "");
		return cJSON_CreateString(buf);
	}
	a = cJSON_Duplicate(args, true);
	if (!a)
		return NULL;
	if (cJSON_GetObjectItemCaseSensitive(a, "contact_name"))
		cJSON_ReplaceItemInObjectCaseSensitive(a, "contact_name",
						       cJSON_CreateString("[given]"));
	if (cJSON_GetObjectItemCaseSensitive(a, "contact_phone"))
		cJSON_ReplaceItemInObjectCaseSensitive(a, "contact_phone",
						       cJSON_CreateString("[given]"));
	return a;
}

static int audit(struct tools_ctx *ctx, const char *kind, cJSON *detail)
{
	char *s;
	int r;

	if (!ctx->hooks.audit) {
		cJSON_Delete(detail);
		return 0;
	}
	if (!detail)
		return -ENOMEM;
	s = cJSON_PrintUnformatted(detail);
	cJSON_Delete(detail);
	if (!s)
		return -ENOMEM;
	r = ctx->hooks.audit(ctx->hooks.user, kind, s);
	free(s);
	return r;
}

static char *error_json(const char *msg, const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "error", msg);
	cJSON_AddStringToObject(o, "reason", reason);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static int reject(struct tools_ctx *ctx, const char *name, int rc, const char *reason,
		  const char *msg, char **ret_result)
{
	cJSON *d = cJSON_CreateObject();

	if (d) {
		char shortname[TOOLS_NAME_MAX + 1];

		snprintf(shortname, sizeof(shortname), "%s", name ? name : "");
		cJSON_AddStringToObject(d, "tool", shortname);
		cJSON_AddStringToObject(
		    d, "state", agent_state_name(ctx->state) ? agent_state_name(ctx->state) : "?");
		cJSON_AddStringToObject(d, "reason", reason);
		cJSON_AddStringToObject(d, "error", msg);
		cJSON_AddNumberToObject(d, "code", rc);
	}
	audit(ctx, "tool_rejected", d);
	*ret_result = error_json(msg, reason);
	return *ret_result ? rc : -ENOMEM;
}

int tools_call(struct tools_ctx *ctx, const char *name, const char *args_json, char **ret_result)
{
	const struct tools_def *t = NULL;
	unsigned max = ctx->max_calls_per_turn ? ctx->max_calls_per_turn : TOOLS_DEFAULT_MAX_CALLS;
	struct call c = {.ctx = ctx, .cat = ctx->catalog};
	cJSON *args = NULL, *d, *schema = NULL;
	char msg[TOOLS_ERROR_MAX + 64];
	size_t args_len = args_json ? strlen(args_json) : 0;
	char *out = NULL;
	int r;

	*ret_result = NULL;
	if (max > TOOLS_MAX_CALLS_LIMIT)
		max = TOOLS_MAX_CALLS_LIMIT;
	ctx->calls_this_turn++;
	if (name && strlen(name) <= TOOLS_NAME_MAX)
		t = tools_find(name);
	if (args_len && args_len <= TOOLS_ARGS_MAX)
		args = cJSON_Parse(args_json);
	else if (!args_len)
		args = cJSON_CreateObject();

	/* the attempt, before anything is decided */
	d = cJSON_CreateObject();
	if (d) {
		char shortname[TOOLS_NAME_MAX + 1];

		snprintf(shortname, sizeof(shortname), "%s", name ? name : "");
		cJSON_AddStringToObject(d, "tool", shortname);
		cJSON_AddStringToObject(
		    d, "state", agent_state_name(ctx->state) ? agent_state_name(ctx->state) : "?");
		cJSON_AddNumberToObject(d, "call", ctx->calls_this_turn);
		cJSON_AddItemToObject(d, "args", audited_args(args, args_json));
	}
	if ((r = audit(ctx, "tool_call", d)) < 0) {
		cJSON_Delete(args);
		*ret_result = error_json("the audit log is unavailable, so no tool can run; carry "
					 "on without it",
					 "audit");
		return r;
	}

	if (ctx->calls_this_turn > max) {
		snprintf(msg, sizeof(msg),
			 "at most %u tool calls per turn; answer with what you have", max);
		r = reject(ctx, name, -EAGAIN, "cap", msg, ret_result);
		goto out;
	}
	if (!t) {
		snprintf(msg, sizeof(msg),
			 "no tool '%.64s'; the tools are search_products, get_product, compare, "
			 "current_promotions, book_appointment, record_need, escalate",
			 name ? name : "");
		r = reject(ctx, name, -ENOENT, "unknown_tool", msg, ret_result);
		goto out;
	}
	if (!tools_allowed(t, ctx->state)) {
		snprintf(
		    msg, sizeof(msg), "%s is not available while the conversation is %s", t->name,
		    agent_state_name(ctx->state) ? agent_state_name(ctx->state) : "in this state");
		r = reject(ctx, name, -EPERM, "state", msg, ret_result);
		goto out;
	}
	if (args_len > TOOLS_ARGS_MAX) {
		snprintf(msg, sizeof(msg), "arguments: %zu bytes, more than %d", args_len,
			 TOOLS_ARGS_MAX);
		r = reject(ctx, name, -E2BIG, "arguments", msg, ret_result);
		goto out;
	}
	if (!args) {
		r = reject(ctx, name, -EINVAL, "arguments", "arguments: not valid JSON",
			   ret_result);
		goto out;
	}
	schema = cJSON_Parse(t->schema);
	if (!schema) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = validate(schema, args, "", c.err, sizeof(c.err), 0)) < 0) {
		r = reject(ctx, name, -EINVAL, "arguments", c.err, ret_result);
		goto out;
	}

	c.args = args;
	c.result = cJSON_CreateObject();
	if (!c.result) {
		r = -ENOMEM;
		goto out;
	}
	r = runners[t - tools](&c);
	if (r == 0 && c.oom)
		r = -ENOMEM;
	if (r == -ENOMEM)
		goto out;
	if (r < 0) {
		r = reject(ctx, name, r, c.reason ? c.reason : "failed", c.err, ret_result);
		goto out;
	}
	out = cJSON_PrintUnformatted(c.result);
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	if (strlen(out) > TOOLS_RESULT_MAX) {
		snprintf(msg, sizeof(msg),
			 "the result is %zu bytes, more than %d; ask for fewer results",
			 strlen(out), TOOLS_RESULT_MAX);
		free(out);
		out = NULL;
		r = reject(ctx, name, -E2BIG, "result_too_large", msg, ret_result);
		goto out;
	}
	d = cJSON_CreateObject();
	if (d) {
		cJSON_AddStringToObject(d, "tool", t->name);
		cJSON_AddNumberToObject(d, "bytes", (double)strlen(out));
		cJSON_AddNumberToObject(d, "new_figures", c.n_facts);
		cJSON_AddItemReferenceToObject(d, "result", c.result);
	}
	audit(ctx, "tool_result", d);
	*ret_result = out;
	r = 0;
out:
	cJSON_Delete(schema);
	cJSON_Delete(args);
	cJSON_Delete(c.result);
	return r;
}
