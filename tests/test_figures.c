#include "tests/test.h"
#include "agent/figures.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t day(const char *iso)
{
	int32_t d = -1;

	if (catalog_date_parse(iso, &d) < 0)
		abort();
	return d;
}

/* The real catalog and its facts on 2026-11-21 (Black Friday fibre running). */
static struct catalog *cat;
static struct figures_facts *facts;

static int setup(void)
{
	char err[CATALOG_ERROR_MAX];

	if (!cat && catalog_load("catalog", &cat, err, sizeof(err)) < 0) {
		printf("    %s\n", err);
		return 0;
	}
	if (!facts && figures_facts_new(cat, day("2026-11-21"), &facts) < 0)
		return 0;
	figures_facts_reset_session(facts);
	return 1;
}

__attribute__((destructor)) static void teardown(void)
{
	figures_facts_free(facts);
	catalog_free(cat);
}

/* "text|unit|centi|flags" for each figure, joined by "; ". */
static const char *extracted(const char *text, char *buf, size_t len)
{
	struct figures_item it[32];
	int n = figures_extract(text, "$", it, 32);
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%.*s|%s|%lld|%u", i ? "; " : "",
					(int)it[i].len, text + it[i].offset,
					catalog_unit_name(it[i].unit), (long long)it[i].centi,
					it[i].flags);
	return buf;
}

TEST(extracts_amounts_percents_and_counts)
{
	char b[1024];

	ASSERT_STREQ(extracted("Only $35, or 35.00, or 35 dollars, or $1,099.00.", b, sizeof(b)),
		     "$35|money|3500|0; 35.00|money|3500|0; 35 dollars|money|3500|0; "
		     "$1,099.00|money|109900|0");
	ASSERT_STREQ(extracted("$45/month, $45 a month, 45 bucks per month", b, sizeof(b)),
		     "$45|money|4500|1; $45|money|4500|1; 45 bucks|money|4500|1");
	ASSERT_STREQ(extracted("20% off, 25 percent, 25 GB, 1TB, 500 Mbps, 1 Gbps", b, sizeof(b)),
		     "20%|percent|2000|0; 25 percent|percent|2500|0; 25 GB|GB|2500|0; "
		     "1TB|GB|100000|0; 500 Mbps|Mbps|50000|0; 1 Gbps|Mbps|100000|0");
	ASSERT_STREQ(extracted("120 live channels on four HD screens, 2 lines, 3 door sensors", b,
			       sizeof(b)),
		     "120 live channels|channels|12000|0; four HD screens|screens|400|8; "
		     "2 lines|lines|200|0; 3 door sensors|sensors|300|0");
	ASSERT_STREQ(extracted("a 24-month contract, 2 years, 3 weeks, 7 days", b, sizeof(b)),
		     "24-month|months|2400|0; 2 years|months|2400|0; 3 weeks|days|2100|0; "
		     "7 days|days|700|0");
	ASSERT_STREQ(extracted("a 6.1-inch screen, 50 MP, 5000 mAh, 500 minutes to 50 countries", b,
			       sizeof(b)),
		     "6.1-inch|inches|610|0; 50 MP|MP|5000|0; 5000 mAh|mAh|500000|0; "
		     "500 minutes|minutes|50000|0; 50 countries|countries|5000|0");
	ASSERT_STREQ(extracted("about $168 a year, 100+ channels, nearly 5 GB", b, sizeof(b)),
		     "$168|money|16800|2; 100+ channels|channels|10000|4; 5 GB|GB|500|2");
}

TEST(leaves_years_times_dates_refs_and_names_alone)
{
	char b[1024];

	/* nothing here is a price, an allowance or a count */
	ASSERT_STREQ(extracted("See you at 9am, 9 am, 7:30 or at 10.30 on 2026-12-01 or 12/24.", b,
			       sizeof(b)),
		     "");
	ASSERT_STREQ(
	    extracted("Call 555-0134 or 5550134, ref NW-0042, order #12345.", b, sizeof(b)), "");
	ASSERT_STREQ(
	    extracted("In 2027, on December 1, the 2nd visit: 5G, 4K, Wi-Fi 6, S24.", b, sizeof(b)),
	    "");
	ASSERT_STREQ(
	    extracted("Support 24/7; she is 12 years old; a 3-year-old; one of us.", b, sizeof(b)),
	    "");
	ASSERT_STREQ(extracted("We have 3 options and 10 colours.", b, sizeof(b)), "");
}

TEST(correct_figures_pass_unchanged)
{
	struct figures_report r;
	const char *reply = "TV Family Plus is $40 a month and gives you 4 screens at once, so no "
			    "more fights over the remote. It has 120 channels and 200 hours of "
			    "recording. Fibre 300 is $55.00 a month, $40 a month for 6 months "
			    "with Black Friday Fibre. Crestel TV Plus charges a $49 setup fee.";

	ASSERT(setup());
	ASSERT_EQ(figures_check(facts, reply, &r), 0);
	ASSERT_EQ(r.n_flags, 0);
	ASSERT_EQ(r.n_figures, 8);
	ASSERT_STREQ(r.text, reply);
	figures_report_free(&r);
}

TEST(wrong_price_is_corrected_and_flagged)
{
	struct figures_report r;
	char *json;

	ASSERT(setup());
	/* $43 is nobody's price; TV Family Plus has one monthly price */
	ASSERT_EQ(figures_check(facts, "Great news: TV Family Plus is only $43 a month!", &r), 0);
	ASSERT_STREQ(r.text, "Great news: TV Family Plus is only $40 a month!");
	ASSERT_EQ(r.n_flags, 1);
	ASSERT_STREQ(r.flags[0].figure, "$43");
	ASSERT_EQ(r.flags[0].offset, 35);
	ASSERT_EQ(r.flags[0].action, FIGURES_ACTION_CORRECTED);
	ASSERT_STREQ(r.flags[0].replacement, "$40");
	ASSERT_CONTAINS(r.flags[0].reason, "TV Family Plus");
	json = figures_report_json(&r);
	ASSERT_CONTAINS(json, "\"figure\":\"$43\"");
	ASSERT_CONTAINS(json, "\"action\":\"corrected\"");
	ASSERT_CONTAINS(json, "\"to\":\"$40\"");
	free(json);
	figures_report_free(&r);

	/* decimals kept in the style written */
	ASSERT_EQ(figures_check(facts, "Fibre 100 costs $47.50 a month.", &r), 0);
	ASSERT_STREQ(r.text, "Fibre 100 costs $45.00 a month.");
	figures_report_free(&r);
}

TEST(wrong_counts_are_corrected_words_too)
{
	struct figures_report r;

	ASSERT(setup());
	ASSERT_EQ(figures_check(facts, "TV Family Plus gives you six screens at once.", &r), 0);
	ASSERT_STREQ(r.text, "TV Family Plus gives you 4 screens at once.");
	ASSERT_EQ(r.flags[0].action, FIGURES_ACTION_CORRECTED);
	figures_report_free(&r);

	/* "It" carries the product of the sentence before for a correction... */
	ASSERT_EQ(
	    figures_check(facts, "TV Family Plus is great for families. It has 135 channels.", &r),
	    0);
	ASSERT_STREQ(r.text, "TV Family Plus is great for families. It has 120 channels.");
	figures_report_free(&r);
	/* ...but a sentence naming nothing passes any catalog figure (150: TV Sports Max) */
	ASSERT_EQ(
	    figures_check(facts, "TV Family Plus is great for families. It has 150 channels.", &r),
	    0);
	ASSERT_EQ(r.n_flags, 0);
	figures_report_free(&r);

	/* years count as 12 months: Home Secure Starter's only one is its 12-month contract */
	ASSERT_EQ(figures_check(facts, "Home Secure Starter has a 5-year contract.", &r), 0);
	ASSERT_STREQ(r.text, "Home Secure Starter has a 1-year contract.");
	figures_report_free(&r);
	/* 36 months is Sentra's contract: misattributed, so removed, not corrected */
	ASSERT_EQ(figures_check(facts, "Home Secure Starter has a 3-year contract.", &r), 0);
	ASSERT_STREQ(r.text, "");
	figures_report_free(&r);
}

TEST(misattributed_or_unknown_figures_remove_the_sentence)
{
	struct figures_report r;

	ASSERT(setup());
	/* $45 is Fibre 100's price: maybe meant for it, so never "corrected" to $40 */
	ASSERT_EQ(figures_check(facts,
				"TV Family Plus is $45 a month. Kids profiles keep it safe. Want a "
				"demo?",
				&r),
		  0);
	ASSERT_STREQ(r.text, "Kids profiles keep it safe. Want a demo?");
	ASSERT_EQ(r.n_flags, 1);
	ASSERT_EQ(r.flags[0].action, FIGURES_ACTION_REMOVED);
	ASSERT_CONTAINS(r.flags[0].reason, "belongs to");
	ASSERT_EQ(r.n_removed_sentences, 1);
	figures_report_free(&r);

	/* no product named anywhere: nothing to correct to */
	ASSERT_EQ(figures_check(facts, "Hello! It is only $31 a month for 5 screens.", &r), 0);
	ASSERT_STREQ(r.text, "Hello!");
	ASSERT_EQ(r.n_flags, 2);
	ASSERT_EQ(r.flags[1].action, FIGURES_ACTION_REMOVED);
	figures_report_free(&r);

	/* every sentence gone: an empty reply, for the caller to replace */
	ASSERT_EQ(figures_check(facts, "It costs $31.", &r), 0);
	ASSERT_STREQ(r.text, "");
	figures_report_free(&r);

	/* several prices for the product: no single one to correct to */
	ASSERT_EQ(figures_check(facts, "Fibre 300 is $59 a month. Shall I book it?", &r), 0);
	ASSERT_STREQ(r.text, "Shall I book it?");
	figures_report_free(&r);
}

TEST(figures_from_tool_results_pass_for_the_session)
{
	struct figures_report r;
	const char *reply = "TV Family Plus saves you $109.00 in the first year.";

	ASSERT(setup());
	ASSERT(!figures_facts_has(facts, CATALOG_UNIT_MONEY, 10900));
	ASSERT_EQ(figures_check(facts, reply, &r), 0);
	ASSERT_EQ(r.n_flags, 1);
	figures_report_free(&r);

	/* compare computed it this session */
	ASSERT_EQ(figures_facts_add(facts, CATALOG_UNIT_MONEY, 10900, 0, NULL, NULL), 1);
	ASSERT_EQ(figures_facts_add(facts, CATALOG_UNIT_MONEY, 10900, 0, NULL, NULL), 0);
	ASSERT_EQ(figures_facts_count(facts, true), 1);
	ASSERT_EQ(figures_check(facts, reply, &r), 0);
	ASSERT_EQ(r.n_flags, 0);
	ASSERT_STREQ(r.text, reply);
	figures_report_free(&r);

	/* approximations of a session figure */
	ASSERT_EQ(figures_facts_add(facts, CATALOG_UNIT_MONEY, 16788, 0, NULL, NULL), 1);
	ASSERT_EQ(figures_check(facts, "That is about $168 a year.", &r), 0);
	ASSERT_EQ(r.n_flags, 0);
	figures_report_free(&r);
	ASSERT_EQ(figures_check(facts, "That is about $170 a year.", &r), 0);
	ASSERT_EQ(r.n_flags, 1);
	figures_report_free(&r);

	/* a new visitor: the session's figures are gone */
	figures_facts_reset_session(facts);
	ASSERT_EQ(figures_facts_count(facts, true), 0);
	ASSERT_EQ(figures_check(facts, reply, &r), 0);
	ASSERT_EQ(r.n_flags, 1);
	figures_report_free(&r);
	ASSERT_EQ(figures_facts_add(facts, (enum catalog_unit)99, 1, 0, NULL, NULL), -EINVAL);
}

TEST(years_times_and_references_are_not_flagged)
{
	struct figures_report r;
	const char *reply = "Booked for 2026-11-28 at 10am (or 10:30), reference NW-000042. "
			    "Call 555-0134 if anything changes. The offer runs into 2027. "
			    "Staff are here 24/7 and it works with 5G and 4K.";

	ASSERT(setup());
	ASSERT_EQ(figures_check(facts, reply, &r), 0);
	ASSERT_EQ(r.n_figures, 0);
	ASSERT_EQ(r.n_flags, 0);
	ASSERT_STREQ(r.text, reply);
	figures_report_free(&r);
}

TEST(per_month_at_least_and_one_off)
{
	struct figures_report r;

	ASSERT(setup());
	ASSERT_EQ(figures_check(facts, "The Aurora X Pro is $1,099.00, or $45.80 a month.", &r), 0);
	ASSERT_EQ(r.n_flags, 0);
	figures_report_free(&r);
	/* its one-off price said per month is wrong */
	ASSERT_EQ(figures_check(facts, "The Aurora X Pro is $1,099 a month.", &r), 0);
	ASSERT_EQ(r.n_flags, 1);
	figures_report_free(&r);
	ASSERT_EQ(figures_check(facts, "TV Family Plus has 100+ channels.", &r), 0);
	ASSERT_EQ(r.n_flags, 0);
	figures_report_free(&r);
	ASSERT_EQ(figures_check(facts, "TV Family Plus has 130+ channels.", &r), 0);
	ASSERT_EQ(r.n_flags, 1);
	figures_report_free(&r);
	/* a promotion counts only on the days it runs */
	ASSERT_EQ(figures_check(facts, "Mobile Unlimited is $35 a month for 6 months.", &r), 0);
	ASSERT_EQ(r.n_flags, 2);
	figures_report_free(&r);
}

TEST(promotions_count_only_while_running)
{
	struct figures_facts *summer = NULL;
	struct figures_report r;

	ASSERT(setup());
	ASSERT_EQ(figures_facts_new(cat, day("2026-07-01"), &summer), 0);
	ASSERT_EQ(figures_check(summer, "Mobile Unlimited is $35 a month for 6 months.", &r), 0);
	ASSERT_EQ(r.n_flags, 0);
	figures_report_free(&r);
	/* Black Friday is not on in July */
	ASSERT_EQ(figures_check(summer, "Fibre 300 is $40 a month right now.", &r), 0);
	ASSERT_EQ(r.n_flags, 1);
	figures_report_free(&r);
	figures_facts_free(summer);
}

TEST(limits)
{
	struct figures_report r;
	char *big = malloc(FIGURES_REPLY_MAX + 2), *many = malloc(4096);
	size_t off = 0;

	ASSERT(setup() && big && many);
	memset(big, 'a', FIGURES_REPLY_MAX + 1);
	big[FIGURES_REPLY_MAX + 1] = '\0';
	ASSERT_EQ(figures_check(facts, big, &r), -E2BIG);
	for (int i = 0; i < FIGURES_FLAGS_MAX + 1; i++)
		off += (size_t)snprintf(many + off, 4096 - off, "It is $%d. ", 1000 + i);
	ASSERT_EQ(figures_check(facts, many, &r), -E2BIG);
	free(big);
	free(many);
	{
		struct figures_item it[2];

		ASSERT_EQ(figures_extract("1 GB, 2 GB, 3 GB", "$", it, 2), -E2BIG);
	}
}

TEST(real_catalog_prose_agrees_with_its_data)
{
	char err[512];

	ASSERT(setup());
	ASSERT_EQ(figures_lint_catalog(cat, err, sizeof(err)), 0);
}

TEST(lint_names_the_inconsistent_field)
{
	struct catalog *c = NULL;
	char err[512];

	ASSERT_EQ(catalog_load("tests/fixtures/catalog/lint_mismatch", &c, err, sizeof(err)), 0);
	ASSERT_EQ(figures_lint_catalog(c, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "lint_mismatch/products.json: product 'tv-family-plus': field "
			     "'value_story': says \"Five screens\"");
	catalog_free(c);
	/* the loader sees no digit; the lint sees the figure in words */
	ASSERT_EQ(catalog_load("tests/fixtures/catalog/lint_angle_words", &c, err, sizeof(err)), 0);
	ASSERT_EQ(figures_lint_catalog(c, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "product 'tv-family-plus': field 'comparisons[0].angle': says \"two "
			     "screens\"; state no figures here");
	catalog_free(c);
	ASSERT_EQ(catalog_load("tests/fixtures/catalog/good", &c, err, sizeof(err)), 0);
	ASSERT_EQ(figures_lint_catalog(c, err, sizeof(err)), 0);
	catalog_free(c);
}
