#include "tests/test.h"
#include "agent/tools.h"
#include "firmware/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a session on the real catalog, with recording hooks ------------------ */

static struct catalog *cat;
static struct figures_facts *facts;

#define LOG_MAX 32
static struct {
	char kind[LOG_MAX][16];
	char detail[LOG_MAX][4096];
	int n;
	int fail_audit; /* make the audit hook fail */
	int booked, needs, escalations;
	struct tools_booking booking;
	char booking_phone[32], booking_kind[16], need[400], tags[200], reason[40], summary[400];
	bool urgent;
} lg;

static int audit_hook(void *user, const char *kind, const char *detail)
{
	(void)user;
	if (lg.fail_audit)
		return -EIO;
	if (lg.n < LOG_MAX) {
		snprintf(lg.kind[lg.n], sizeof(lg.kind[0]), "%s", kind);
		snprintf(lg.detail[lg.n], sizeof(lg.detail[0]), "%s", detail);
		lg.n++;
	}
	return 0;
}

static int book_hook(void *user, const struct tools_booking *b, char *ref, size_t len)
{
	(void)user;
	lg.booked++;
	lg.booking = *b; /* its strings are valid during the call only: copy them */
	snprintf(lg.booking_kind, sizeof(lg.booking_kind), "%s", b->kind);
	snprintf(lg.booking_phone, sizeof(lg.booking_phone), "%s",
		 b->contact_phone ? b->contact_phone : "");
	snprintf(ref, len, "NW-%06d", 41 + lg.booked);
	return 0;
}

static int need_hook(void *user, const char *need, const char *const *tags, size_t n,
		     const char *const *pids, size_t np)
{
	size_t off = 0;

	(void)user;
	(void)pids;
	lg.needs++;
	snprintf(lg.need, sizeof(lg.need), "%s", need);
	lg.tags[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(lg.tags + off, sizeof(lg.tags) - off, "%s,", tags[i]);
	off += (size_t)snprintf(lg.tags + off, sizeof(lg.tags) - off, "%zu", np);
	return 0;
}

static int escalate_hook(void *user, const char *reason, const char *summary, bool urgent)
{
	(void)user;
	lg.escalations++;
	snprintf(lg.reason, sizeof(lg.reason), "%s", reason);
	snprintf(lg.summary, sizeof(lg.summary), "%s", summary);
	lg.urgent = urgent;
	return 0;
}

static int32_t day(const char *iso)
{
	int32_t d = -1;

	if (catalog_date_parse(iso, &d) < 0)
		abort();
	return d;
}

/* A fresh session in state s on 2026-11-21 (a Saturday), every hook set. */
static int session(struct tools_ctx *ctx, enum agent_state s)
{
	char err[CATALOG_ERROR_MAX];

	if (!cat && catalog_load("catalog", &cat, err, sizeof(err)) < 0) {
		printf("    %s\n", err);
		return 0;
	}
	if (!facts && figures_facts_new(cat, day("2026-11-21"), &facts) < 0)
		return 0;
	figures_facts_reset_session(facts);
	memset(&lg, 0, sizeof(lg));
	tools_ctx_init(ctx, cat, facts, day("2026-11-21"));
	ctx->state = s;
	ctx->max_calls_per_turn = TOOLS_MAX_CALLS_LIMIT;
	ctx->hooks.audit = audit_hook;
	ctx->hooks.book = book_hook;
	ctx->hooks.record_need = need_hook;
	ctx->hooks.escalate = escalate_hook;
	return 1;
}

__attribute__((destructor)) static void teardown(void)
{
	figures_facts_free(facts);
	catalog_free(cat);
}

/* Calls and keeps the result in res (freed on the next call). */
static char *res;

static int call(struct tools_ctx *ctx, const char *name, const char *args)
{
	free(res);
	res = NULL;
	return tools_call(ctx, name, args, &res);
}

/* ---- schemas ------------------------------------------------------------------- */

TEST(schemas_are_openai_tools_in_the_supported_subset)
{
	char err[256];
	char *all = tools_schemas_json(-1), *disc = tools_schemas_json(AGENT_STATE_DISCOVERY);
	char *idle = tools_schemas_json(AGENT_STATE_IDLE);
	cJSON *a = cJSON_Parse(all), *first;

	ASSERT_EQ(tools_self_check(err, sizeof(err)), 0);
	ASSERT(a && cJSON_IsArray(a));
	ASSERT_EQ(cJSON_GetArraySize(a), 7);
	ASSERT_EQ(tools_count(), 7);
	first = cJSON_GetArrayItem(a, 0);
	ASSERT_STREQ(cJSON_GetObjectItem(first, "type")->valuestring, "function");
	ASSERT_STREQ(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(first, "function"), "name")->valuestring,
	    "search_products");
	ASSERT(cJSON_IsObject(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(first, "function"), "parameters")));
	cJSON_Delete(a);
	/* only what the state allows is offered */
	ASSERT_CONTAINS(disc, "\"compare\"");
	ASSERT(!strstr(disc, "book_appointment"));
	ASSERT_STREQ(idle, "[]");
	free(all);
	free(disc);
	free(idle);

	/* the subset checker refuses what the validator would not enforce */
	ASSERT_EQ(tools_schema_check("t",
				     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":"
				     "\"string\",\"pattern\":\"x\"}}}",
				     err, sizeof(err)),
		  -EINVAL);
	ASSERT_CONTAINS(err, "t.a: keyword 'pattern' is outside the supported subset");
	ASSERT_EQ(tools_schema_check("t", "{\"type\":\"array\"}", err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "must be an object");
	ASSERT_EQ(tools_schema_check("t", "{\"type\":\"object\",\"additionalProperties\":true}",
				     err, sizeof(err)),
		  -EINVAL);
	ASSERT_EQ(tools_schema_check("t", "{\"type\":\"objekt\"}", err, sizeof(err)), -EINVAL);
	ASSERT_EQ(tools_schema_check("t", "{nope", err, sizeof(err)), -EINVAL);
}

TEST(validator_names_the_argument)
{
	const char *schema =
	    "{\"type\":\"object\",\"properties\":{"
	    "\"q\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},"
	    "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":8},"
	    "\"x\":{\"type\":\"number\",\"minimum\":0},"
	    "\"c\":{\"type\":\"string\",\"enum\":[\"tv\",\"mobile\"]},"
	    "\"b\":{\"type\":\"boolean\"},"
	    "\"t\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":\"string\",\"enum\":"
	    "[\"kids\",\"budget\"]}}"
	    "},\"required\":[\"q\"],\"additionalProperties\":false}";
	char err[256];

	ASSERT_EQ(tools_validate(schema,
				 "{\"q\":\"tv\",\"n\":3,\"x\":1.5,\"c\":\"tv\",\"b\":true,"
				 "\"t\":[\"kids\"]}",
				 err, sizeof(err)),
		  0);
	ASSERT_EQ(tools_validate(schema, "{\"q\":\"héé\"}", err, sizeof(err)), 0); /* 3 chars */
#define BAD(args, msg)                                                                             \
	do {                                                                                       \
		ASSERT_EQ(tools_validate(schema, args, err, sizeof(err)), -EINVAL);                \
		ASSERT_CONTAINS(err, msg);                                                         \
	} while (0)
	BAD("{}", "missing required argument 'q'");
	BAD("{\"q\":7}", "argument 'q': expected a string, got 7");
	BAD("{\"q\":\"a\"}", "argument 'q': expected at least 2 characters, got 1");
	BAD("{\"q\":\"abcdef\"}", "argument 'q': expected at most 5 characters, got 6");
	BAD("{\"q\":\"ab\",\"n\":2.5}", "argument 'n': expected a whole number, got 2.5");
	BAD("{\"q\":\"ab\",\"n\":9}", "argument 'n': expected a number <= 8, got 9");
	BAD("{\"q\":\"ab\",\"x\":-1}", "argument 'x': expected a number >= 0, got -1");
	BAD("{\"q\":\"ab\",\"c\":\"radio\"}",
	    "argument 'c': expected one of tv, mobile, got \"radio\"");
	BAD("{\"q\":\"ab\",\"b\":\"yes\"}", "argument 'b': expected true or false");
	BAD("{\"q\":\"ab\",\"t\":\"kids\"}", "argument 't': expected a list");
	BAD("{\"q\":\"ab\",\"t\":[\"kids\",\"budget\",\"kids\"]}", "expected at most 2 entries");
	BAD("{\"q\":\"ab\",\"t\":[\"pets\"]}", "argument 't[0]': expected one of kids, budget");
	BAD("{\"q\":\"ab\",\"colour\":1}", "unknown argument 'colour' (known: q, n, x, c, b, t)");
	BAD("[1]", "arguments: expected a JSON object, got a list");
	BAD("{\"q\":", "arguments: not valid JSON");
	BAD("{\"q\":\"a\\u0001b\"}", "control characters");
#undef BAD
}

/* ---- gating, cap, audit ------------------------------------------------------------ */

TEST(tools_are_gated_by_state)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_IDLE));
	ASSERT_EQ(call(&ctx, "search_products", "{\"query\":\"tv\"}"), -EPERM);
	ASSERT_CONTAINS(res, "not available while the conversation is idle");
	ctx.state = AGENT_STATE_GREETING;
	ASSERT_EQ(call(&ctx, "search_products", "{\"query\":\"tv\"}"), 0);
	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":\"tv-family-plus\"}"), -EPERM);
	ASSERT_EQ(call(&ctx, "escalate", "{\"reason\":\"billing\",\"summary\":\"bill question\"}"),
		  0);
	ctx.state = AGENT_STATE_DISCOVERY;
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"demo\",\"preferred_day\":\"today\",\"preferred_time\":"
		       "\"afternoon\"}"),
		  -EPERM);
	ctx.state = AGENT_STATE_CLOSING;
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"demo\",\"preferred_day\":\"today\",\"preferred_time\":"
		       "\"afternoon\"}"),
		  0);
	ctx.state = AGENT_STATE_HANDED_OVER;
	ASSERT_EQ(call(&ctx, "escalate", "{\"reason\":\"billing\",\"summary\":\"again\"}"), -EPERM);
	ASSERT_EQ(lg.escalations, 1);
	/* the table itself */
	ASSERT(tools_allowed(tools_find("record_need"), AGENT_STATE_FAREWELL));
	ASSERT(!tools_allowed(tools_find("compare"), AGENT_STATE_FAREWELL));
	ASSERT(!tools_allowed(tools_find("compare"), (enum agent_state)42));
	ASSERT(tools_find("nope") == NULL);
	ASSERT(tools_at(tools_count()) == NULL);
}

TEST(per_turn_cap)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_PRESENTING));
	ctx.max_calls_per_turn = 0; /* the default, 4 */
	for (int i = 0; i < TOOLS_DEFAULT_MAX_CALLS; i++)
		ASSERT_EQ(call(&ctx, "current_promotions", "{}"), 0);
	ASSERT_EQ(call(&ctx, "current_promotions", "{}"), -EAGAIN);
	ASSERT_CONTAINS(res, "at most 4 tool calls per turn");
	/* a rejected call counts too, so a looping model cannot spin */
	ASSERT_EQ(call(&ctx, "no_such_tool", "{}"), -EAGAIN);
	tools_turn_begin(&ctx);
	ASSERT_EQ(call(&ctx, "current_promotions", "{}"), 0);
	ctx.max_calls_per_turn = 1;
	ASSERT_EQ(call(&ctx, "current_promotions", "{}"), -EAGAIN);
}

TEST(audit_sees_calls_results_and_rejections)
{
	struct tools_ctx ctx;
	cJSON *d;

	ASSERT(session(&ctx, AGENT_STATE_PRESENTING));
	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":\"tv-family-plus\"}"), 0);
	ASSERT_EQ(lg.n, 2);
	ASSERT_STREQ(lg.kind[0], "tool_call");
	ASSERT_CONTAINS(lg.detail[0], "\"tool\":\"get_product\"");
	ASSERT_CONTAINS(lg.detail[0], "\"state\":\"presenting\"");
	ASSERT_CONTAINS(lg.detail[0], "\"args\":{\"product_id\":\"tv-family-plus\"}");
	ASSERT_STREQ(lg.kind[1], "tool_result");
	d = cJSON_Parse(lg.detail[1]);
	ASSERT(d);
	ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "result"), "id")->valuestring,
		     "tv-family-plus");
	ASSERT(cJSON_GetObjectItem(d, "bytes")->valueint > 100);
	cJSON_Delete(d);

	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":\"tv-famly-plus\"}"), -EINVAL);
	ASSERT_STREQ(lg.kind[2], "tool_call");
	ASSERT_STREQ(lg.kind[3], "tool_rejected");
	ASSERT_CONTAINS(lg.detail[3], "\"reason\":\"arguments\"");
	ASSERT_CONTAINS(lg.detail[3], "did you mean 'tv-family-plus'?");
	ASSERT_CONTAINS(res, "did you mean 'tv-family-plus'?");

	ASSERT_EQ(call(&ctx, "delete_account", "{}"), -ENOENT);
	ASSERT_CONTAINS(lg.detail[5], "\"reason\":\"unknown_tool\"");
	ASSERT_CONTAINS(res, "the tools are search_products");

	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":"), -EINVAL);
	ASSERT_CONTAINS(lg.detail[6], "\"args\":\"{\\\"product_id\\\":\""); /* raw, as sent */
	ASSERT_CONTAINS(res, "not valid JSON");

	/* a failing audit log stops the call before it runs */
	lg.fail_audit = 1;
	ASSERT_EQ(call(&ctx, "escalate", "{\"reason\":\"billing\",\"summary\":\"a bill\"}"), -EIO);
	ASSERT_EQ(lg.escalations, 0);
	ASSERT_CONTAINS(res, "audit log is unavailable");
}

TEST(oversized_and_empty_arguments)
{
	struct tools_ctx ctx;
	char *big = malloc(TOOLS_ARGS_MAX + 64);

	ASSERT(big && session(&ctx, AGENT_STATE_PRESENTING));
	snprintf(big, TOOLS_ARGS_MAX + 64, "{\"query\":\"%0*d\"}", TOOLS_ARGS_MAX, 7);
	ASSERT_EQ(call(&ctx, "search_products", big), -E2BIG);
	free(big);
	ASSERT_EQ(call(&ctx, "current_promotions", ""), 0); /* "" means {} */
	ASSERT_EQ(call(&ctx, "current_promotions", NULL), 0);
}

/* ---- each tool ------------------------------------------------------------------------ */

TEST(search_products_good_and_bad)
{
	struct tools_ctx ctx;
	cJSON *r;

	ASSERT(session(&ctx, AGENT_STATE_DISCOVERY));
	ASSERT_EQ(call(&ctx, "search_products",
		       "{\"query\":\"my kids fight over the tv\",\"max_results\":3}"),
		  0);
	r = cJSON_Parse(res);
	ASSERT(r);
	ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "results")) <= 3);
	ASSERT_STREQ(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "results"), 0), "id")
		->valuestring,
	    "tv-family-plus");
	cJSON_Delete(r);
	ASSERT_CONTAINS(res, "\"price\":\"$40.00 a month\"");

	ASSERT_EQ(call(&ctx, "search_products", "{\"category\":\"devices\",\"max_price\":300}"), 0);
	ASSERT_CONTAINS(res, "Lumen A5");
	ASSERT(!strstr(res, "Aurora X Pro"));
	ASSERT_CONTAINS(res, "\"pay_monthly\":\"$12.46 a month for 24 months");

	ASSERT_EQ(call(&ctx, "search_products", "{\"query\":\"xyzzy plugh\"}"), 0);
	ASSERT_CONTAINS(res, "\"results\":[]");
	ASSERT_CONTAINS(res, "Nothing matched");

	ASSERT_EQ(call(&ctx, "search_products", "{\"max_price\":\"cheap\"}"), -EINVAL);
	ASSERT_CONTAINS(res, "argument 'max_price': expected a number, got \\\"cheap\\\"");
	ASSERT_EQ(call(&ctx, "search_products", "{\"max_results\":9}"), -EINVAL);
	ASSERT_EQ(call(&ctx, "search_products", "{\"category\":\"radio\"}"), -EINVAL);
	ASSERT_EQ(call(&ctx, "search_products", "{\"q\":\"tv\"}"), -EINVAL);
	ASSERT_CONTAINS(res, "unknown argument 'q'");
}

TEST(get_product_gives_selling_intelligence)
{
	struct tools_ctx ctx;
	size_t before;

	ASSERT(session(&ctx, AGENT_STATE_PRESENTING));
	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":\"tv-family-plus\"}"), 0);
	ASSERT_CONTAINS(res, "\"value_story\":\"Four screens at once");
	ASSERT_CONTAINS(res, "\"best_for\":");
	ASSERT_CONTAINS(res, "\"competitor_angles\":[{\"offer_ids\":[\"crestel-tv-plus\"],"
			     "\"against\":\"Crestel TV Plus (Crestel)\"");
	ASSERT_CONTAINS(res, "\"common_questions\":");
	ASSERT_CONTAINS(res, "\"cross_sells\":[{\"id\":\"addon-kids-pack\"");
	ASSERT_CONTAINS(res, "\"screens at once\":\"4 screens\"");
	ASSERT(!strstr(res, "promotions")); /* none running for it today */

	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":\"bb-fibre-300\"}"), 0);
	ASSERT_CONTAINS(res, "\"promotions\":[{\"id\":\"promo-black-friday-fibre\"");
	ASSERT_CONTAINS(res, "\"promo_price\":\"$40.00 a month\"");
	ASSERT_CONTAINS(res, "\"ends\":\"2026-12-01\"");

	before = figures_facts_count(facts, true);
	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":\"addon-device-care\"}"), 0);
	ASSERT_CONTAINS(res, "\"extra_charges\":[{\"what\":\"Screen repair excess\","
			     "\"amount\":\"$29.00\"}");
	ASSERT(figures_facts_count(facts, true) >= before);

	ASSERT_EQ(call(&ctx, "get_product", "{}"), -EINVAL);
	ASSERT_CONTAINS(res, "missing required argument 'product_id'");
	ASSERT_EQ(call(&ctx, "get_product", "{\"product_id\":\"zzz\"}"), -EINVAL);
	ASSERT_CONTAINS(res, "use an id from search_products");
}

TEST(every_product_fits_in_one_result)
{
	struct tools_ctx ctx;
	char args[128];

	ASSERT(session(&ctx, AGENT_STATE_PRESENTING));
	for (size_t i = 0; i < catalog_product_count(cat); i++) {
		int r;

		tools_turn_begin(&ctx);
		snprintf(args, sizeof(args), "{\"product_id\":\"%s\"}",
			 catalog_product_at(cat, i)->id);
		r = call(&ctx, "get_product", args);
		ASSERT_MSG(r == 0, "%s: %d %s", args, r, res);
		ASSERT(strlen(res) <= TOOLS_RESULT_MAX);
	}
}

TEST(compare_against_a_competitor_in_exact_cents)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_OBJECTION));
	/* TV Family Plus $40 vs Crestel TV Plus $45 + $49 setup */
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"tv-family-plus\"],\"competitor_id\":\"crestel\"}"),
		  0);
	ASSERT_CONTAINS(res, "\"monthly\":{\"ours\":\"$40.00\",\"theirs\":\"$45.00\","
			     "\"difference\":\"$5.00\",\"cheaper\":\"ours\"}");
	ASSERT_CONTAINS(res, "\"yearly\":{\"ours\":\"$480.00\",\"theirs\":\"$540.00\","
			     "\"difference\":\"$60.00\",\"cheaper\":\"ours\"}");
	ASSERT_CONTAINS(res, "\"first_year\":{\"ours\":\"$480.00\",\"theirs\":\"$589.00\","
			     "\"difference\":\"$109.00\",\"cheaper\":\"ours\"}");
	ASSERT_CONTAINS(res, "screens at once: 4 screens against 2 screens");
	ASSERT_CONTAINS(res, "no contract, against 24 months");
	ASSERT_CONTAINS(res, "\"summary\":\"TV Family Plus costs $5.00 a month less than Crestel "
			     "TV Plus, $60.00 a year.");
	ASSERT_CONTAINS(res, "\"angle\":\"Crestel allows fewer screens");
	/* the computed figures are now allowed in replies */
	ASSERT(figures_facts_has(facts, CATALOG_UNIT_MONEY, 10900));
	ASSERT(figures_facts_has(facts, CATALOG_UNIT_MONEY, 6000));

	/* an intro price: cheaper for them in year one, dearer after, honestly said */
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"bb-fibre-300\"],\"competitor_id\":\"vaultline\"}"),
		  0);
	ASSERT_CONTAINS(res, "\"monthly\":{\"ours\":\"$55.00\",\"theirs\":\"$65.00\"");
	/* ours: 12 x 55 - 6 x 15 (Black Friday) = 570; theirs: 12 x 40 intro = 480 */
	ASSERT_CONTAINS(res, "\"first_year\":{\"ours\":\"$570.00\",\"theirs\":\"$480.00\","
			     "\"difference\":\"$90.00\",\"cheaper\":\"theirs\"}");
	ASSERT_CONTAINS(res, "\"saves_in_first_year\":\"$90.00\"");
	ASSERT_CONTAINS(res, "you pay $90.00 more with us");
	ASSERT_CONTAINS(res, "upload speed: 50 Mbps against 10 Mbps");
}

TEST(compare_bundles_offers_and_rounding)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_PRESENTING));
	/* already paying Crestel TV and StreamMax separately: 45 + 15.49 = 60.49 */
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"bundle-entertainment\"],\"offer_ids\":"
		       "[\"crestel-tv-plus\",\"streammax-standard\"]}"),
		  0);
	ASSERT_CONTAINS(res, "\"monthly\":{\"ours\":\"$49.99\",\"theirs\":\"$60.49\","
			     "\"difference\":\"$10.50\"");
	ASSERT_CONTAINS(res, "\"yearly\":{\"ours\":\"$599.88\",\"theirs\":\"$725.88\","
			     "\"difference\":\"$126.00\"");
	ASSERT_CONTAINS(res, "\"first_year\":{\"ours\":\"$599.88\",\"theirs\":\"$774.88\","
			     "\"difference\":\"$175.00\"");
	ASSERT_CONTAINS(res, "Crestel TV Plus + StreamMax Standard");

	/* the stored angle for exactly this set is the one returned */
	ASSERT_CONTAINS(res, "\"angle\":\"Crestel TV with StreamMax paid on top");
	/* with a competitor only, its offers from the stored comparison are used */
	ASSERT_EQ(
	    call(&ctx, "compare",
		 "{\"product_ids\":[\"bundle-streaming-duo\"],\"competitor_id\":\"arenapass\"}"),
	    0);
	ASSERT_CONTAINS(res, "\"offers\":[{\"id\":\"arenapass-monthly\"");
	ASSERT(!strstr(res, "streammax-standard"));

	/* half price for 3 months: 11.495 off rounds to 11.50, so 3 x 11.50 = 34.50 */
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"stream-streammax-premium\"],\"offer_ids\":"
		       "[\"streammax-premium\"]}"),
		  0);
	ASSERT_CONTAINS(res, "\"price\":\"$11.49 a month\"");
	ASSERT_CONTAINS(res, "\"monthly\":{\"ours\":\"$22.99\",\"theirs\":\"$22.99\","
			     "\"difference\":\"$0.00\",\"cheaper\":\"same\"}");
	ASSERT_CONTAINS(res, "\"first_year\":{\"ours\":\"$241.38\",\"theirs\":\"$275.88\","
			     "\"difference\":\"$34.50\"");
	ASSERT_CONTAINS(res, "costs the same each month");

	/* two of ours against what they pay now, said to a tenth of a cent */
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"bb-fibre-300\",\"tv-family-plus\"],"
		       "\"current_monthly_spend\":133.335}"),
		  0);
	ASSERT_CONTAINS(res, "\"current_spend\":\"$133.34 a month\"");
	ASSERT_CONTAINS(res, "\"monthly\":{\"ours\":\"$95.00\",\"theirs\":\"$133.34\","
			     "\"difference\":\"$38.34\"");
	ASSERT_CONTAINS(res, "\"yearly\":{\"ours\":\"$1,140.00\",\"theirs\":\"$1,600.08\","
			     "\"difference\":\"$460.08\"");
	/* first year: 1140 - 90 (Black Friday on the fibre) */
	ASSERT_CONTAINS(res, "\"first_year\":{\"ours\":\"$1,050.00\"");
	ASSERT_CONTAINS(res, "\"what_you_get\":[");
	ASSERT_CONTAINS(res, "Fibre 300 + TV Family Plus costs $38.34 a month less than what you "
			     "pay now");
	ASSERT(figures_facts_has(facts, CATALOG_UNIT_MONEY, 13334));
}

TEST(compare_bad_arguments)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_PRESENTING));
	ASSERT_EQ(call(&ctx, "compare", "{\"product_ids\":[\"tv-family-plus\"]}"), -EINVAL);
	ASSERT_CONTAINS(res, "give competitor_id, offer_ids or current_monthly_spend");
	ASSERT_EQ(call(&ctx, "compare", "{\"product_ids\":[]}"), -EINVAL);
	ASSERT_CONTAINS(res, "expected at least 1 entries");
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"dev-aurora-x\"],\"current_monthly_spend\":40}"),
		  -EINVAL);
	ASSERT_CONTAINS(res, "is paid once");
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"tv-family-plus\"],\"competitor_id\":\"telstra\"}"),
		  -EINVAL);
	ASSERT_CONTAINS(res, "no competitor 'telstra'");
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"tv-family-plus\"],\"competitor_id\":\"crestel\","
		       "\"offer_ids\":[\"streammax-basic\"]}"),
		  -EINVAL);
	ASSERT_CONTAINS(res, "is StreamMax's, not Crestel's");
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"sec-starter\"],\"competitor_id\":\"pebble\"}"),
		  -EINVAL);
	ASSERT_CONTAINS(res, "Pebble Mobile has no security offer");
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"tv-family-plus\",\"tv-family-plus\"],"
		       "\"current_monthly_spend\":40}"),
		  -EINVAL);
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"tv-family-plus\"],\"current_monthly_spend\":-1}"),
		  -EINVAL);
}

TEST(current_promotions_by_date)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_PRESENTING));
	ctx.today = day("2026-11-19"); /* before Black Friday */
	ASSERT_EQ(call(&ctx, "current_promotions", "{\"product_id\":\"bb-fibre-300\"}"), 0);
	ASSERT_CONTAINS(res, "\"promotions\":[]");
	ASSERT_CONTAINS(res, "do not promise one");

	ctx.today = day("2026-11-21"); /* during */
	ASSERT_EQ(call(&ctx, "current_promotions", "{\"product_id\":\"bb-fibre-300\"}"), 0);
	ASSERT_CONTAINS(res, "\"id\":\"promo-black-friday-fibre\"");
	ASSERT_CONTAINS(res, "\"days_left\":10");
	ASSERT_CONTAINS(res, "\"promo_price\":\"$40.00 a month\",\"for_months\":6");
	ASSERT(!strstr(res, "bb-fibre-500")); /* only the product asked about */
	ASSERT(figures_facts_has(facts, CATALOG_UNIT_DAYS, 1000));

	ctx.today = day("2026-12-01"); /* its last day */
	ASSERT_EQ(call(&ctx, "current_promotions", "{\"category\":\"broadband\"}"), 0);
	ASSERT_CONTAINS(res, "\"days_left\":0");
	ASSERT(!strstr(res, "Family Share"));

	ctx.today = day("2026-12-02"); /* after */
	ASSERT_EQ(call(&ctx, "current_promotions", "{\"category\":\"broadband\"}"), 0);
	ASSERT_CONTAINS(res, "\"promotions\":[]");

	ASSERT_EQ(call(&ctx, "current_promotions", "{\"product_id\":\"nope\"}"), -EINVAL);
	ASSERT_EQ(call(&ctx, "current_promotions", "{\"category\":\"pets\"}"), -EINVAL);
}

TEST(book_appointment_through_the_hook)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_CLOSING));
	/* 2026-11-21 is a Saturday: "saturday" is next week's */
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"install\",\"preferred_day\":\"saturday\",\"preferred_time\":"
		       "\"morning\",\"product_id\":\"bb-fibre-300\",\"contact_name\":\"Ana\","
		       "\"contact_phone\":\"+1 555-0134\"}"),
		  0);
	ASSERT_EQ(lg.booked, 1);
	ASSERT_EQ(lg.booking.day, day("2026-11-28"));
	ASSERT_STREQ(lg.booking_kind, "install");
	ASSERT_STREQ(lg.booking_phone, "+1 555-0134");
	ASSERT_CONTAINS(res, "\"reference\":\"NW-000042\"");
	ASSERT_CONTAINS(res, "\"date\":\"2026-11-28\"");
	/* contact details stay out of the audit log */
	ASSERT(!strstr(lg.detail[0], "555-0134"));
	ASSERT(!strstr(lg.detail[0], "Ana"));
	ASSERT_CONTAINS(lg.detail[0], "\"contact_phone\":\"[given]\"");

	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"store\",\"preferred_day\":\"2026-11-24\",\"preferred_time\":"
		       "\"evening\"}"),
		  0);
	ASSERT_CONTAINS(res, "\"weekday\":\"tuesday\"");
	ASSERT_EQ(lg.booked, 2);

	/* bad input never reaches the hook */
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"install\",\"preferred_day\":\"today\",\"preferred_time\":"
		       "\"morning\"}"),
		  -EINVAL);
	ASSERT_CONTAINS(res, "an installation needs");
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"install\",\"preferred_day\":\"today\",\"preferred_time\":"
		       "\"morning\",\"product_id\":\"dev-aurora-x\"}"),
		  -EINVAL);
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"demo\",\"preferred_day\":\"2026-11-01\",\"preferred_time\":"
		       "\"morning\"}"),
		  -EINVAL);
	ASSERT_CONTAINS(res, "between today and 60 days ahead");
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"demo\",\"preferred_day\":\"someday\",\"preferred_time\":"
		       "\"morning\"}"),
		  -EINVAL);
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"demo\",\"preferred_day\":\"today\",\"preferred_time\":"
		       "\"noon\"}"),
		  -EINVAL);
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"demo\",\"preferred_day\":\"today\",\"preferred_time\":"
		       "\"morning\",\"contact_phone\":\"call me maybe\"}"),
		  -EINVAL);
	ASSERT_EQ(lg.booked, 2);

	/* no booking system on this box */
	ctx.hooks.book = NULL;
	ASSERT_EQ(call(&ctx, "book_appointment",
		       "{\"kind\":\"demo\",\"preferred_day\":\"today\",\"preferred_time\":"
		       "\"morning\"}"),
		  -ENOTSUP);
	ASSERT_CONTAINS(res, "\"reason\":\"unavailable\"");
}

TEST(record_need_and_escalate_through_hooks)
{
	struct tools_ctx ctx;

	ASSERT(session(&ctx, AGENT_STATE_DISCOVERY));
	ASSERT_EQ(
	    call(&ctx, "record_need",
		 "{\"need\":\"Three kids, one TV, fights every evening\",\"tags\":[\"family\","
		 "\"kids\"],\"product_ids\":[\"tv-family-plus\"]}"),
	    0);
	ASSERT_EQ(lg.needs, 1);
	ASSERT_STREQ(lg.need, "Three kids, one TV, fights every evening");
	ASSERT_STREQ(lg.tags, "family,kids,1");
	ASSERT_EQ(call(&ctx, "record_need", "{\"need\":\"x\"}"), -EINVAL);
	ASSERT_EQ(call(&ctx, "record_need", "{\"need\":\"pets\",\"tags\":[\"dogs\"]}"), -EINVAL);
	ASSERT_EQ(call(&ctx, "record_need", "{\"need\":\"two\",\"tags\":[\"kids\",\"kids\"]}"),
		  -EINVAL);
	ASSERT_CONTAINS(res, "listed twice");
	ASSERT_EQ(
	    call(&ctx, "record_need", "{\"need\":\"wants tv\",\"product_ids\":[\"tv-nothing\"]}"),
	    -EINVAL);
	ASSERT_EQ(lg.needs, 1);

	ASSERT_EQ(call(&ctx, "escalate",
		       "{\"reason\":\"complaint\",\"summary\":\"Internet down for three days\","
		       "\"urgent\":true}"),
		  0);
	ASSERT_EQ(lg.escalations, 1);
	ASSERT_STREQ(lg.reason, "complaint");
	ASSERT(lg.urgent);
	ASSERT_CONTAINS(res, "\"handed_over\":true");
	ASSERT_EQ(call(&ctx, "escalate", "{\"reason\":\"angry\",\"summary\":\"abc\"}"), -EINVAL);
	ASSERT_EQ(call(&ctx, "escalate", "{\"reason\":\"billing\"}"), -EINVAL);
	ASSERT_EQ(
	    call(&ctx, "escalate", "{\"reason\":\"billing\",\"summary\":\"abc\",\"urgent\":1}"),
	    -EINVAL);
	ctx.hooks.escalate = NULL;
	ASSERT_EQ(call(&ctx, "escalate", "{\"reason\":\"billing\",\"summary\":\"abc\"}"), -ENOTSUP);
	ASSERT_EQ(lg.escalations, 1);
}

TEST(a_reply_built_from_tool_results_passes_the_figure_check)
{
	struct tools_ctx ctx;
	struct figures_report r;
	const char *reply = "TV Family Plus costs $5.00 a month less than Crestel TV Plus, $60.00 "
			    "a year, and $109.00 less over the first year.";

	ASSERT(session(&ctx, AGENT_STATE_OBJECTION));
	ASSERT_EQ(figures_check(facts, reply, &r), 0);
	ASSERT(r.n_flags > 0); /* before compare ran, $109.00 is nobody's figure */
	figures_report_free(&r);
	ASSERT_EQ(call(&ctx, "compare",
		       "{\"product_ids\":[\"tv-family-plus\"],\"competitor_id\":\"crestel\"}"),
		  0);
	ASSERT_EQ(figures_check(facts, reply, &r), 0);
	ASSERT_EQ(r.n_flags, 0);
	ASSERT_STREQ(r.text, reply);
	figures_report_free(&r);
	free(res);
	res = NULL;
}

TEST(config_sets_the_cap)
{
	struct config_error err;
	struct config *cfg = NULL;
	unsigned max = 0;

	ASSERT_EQ(
	    config_load_string("t.conf", ".", "[tools]\nmax_calls_per_turn = 2\n", &cfg, &err), 0);
	ASSERT_EQ(tools_config(cfg, "tools", &max, &err), 0);
	ASSERT_EQ(max, 2);
	config_free(cfg);
	ASSERT_EQ(config_load_string("t.conf", ".", "[tools]\n", &cfg, &err), 0);
	ASSERT_EQ(tools_config(cfg, "tools", &max, &err), 0);
	ASSERT_EQ(max, TOOLS_DEFAULT_MAX_CALLS);
	config_free(cfg);
	ASSERT_EQ(
	    config_load_string("t.conf", ".", "[tools]\nmax_calls_per_turn = 99\n", &cfg, &err), 0);
	ASSERT_EQ(tools_config(cfg, "tools", &max, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:2");
	ASSERT_CONTAINS(err.msg, "max_calls_per_turn");
	config_free(cfg);
}
