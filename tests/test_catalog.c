#include "tests/test.h"
#include "agent/catalog.h"
#include "firmware/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FIX "tests/fixtures/catalog/"

static int32_t day(const char *iso)
{
	int32_t d = -1;

	if (catalog_date_parse(iso, &d) < 0)
		abort();
	return d;
}

static struct catalog *load_real(void)
{
	struct catalog *c = NULL;
	char err[CATALOG_ERROR_MAX];

	if (catalog_load("catalog", &c, err, sizeof(err)) < 0) {
		printf("    catalog: %s\n", err);
		return NULL;
	}
	return c;
}

/* Loads a broken fixture: it must fail with rc and a message holding every needle. */
static int broken(const char *name, int rc, const char *n1, const char *n2, const char *n3)
{
	struct catalog *c = NULL;
	char dir[256], err[CATALOG_ERROR_MAX];
	int r;

	snprintf(dir, sizeof(dir), FIX "%s", name);
	r = catalog_load(dir, &c, err, sizeof(err));
	if (r != rc || c) {
		printf("    %s: rc %d (wanted %d): %s\n", name, r, rc, err);
		catalog_free(c);
		return 0;
	}
	for (const char *n[] = {n1, n2, n3}, **p = n; p < n + 3; p++)
		if (*p && !strstr(err, *p)) {
			printf("    %s: \"%s\" lacks \"%s\"\n", name, err, *p);
			return 0;
		}
	return 1;
}

TEST(real_catalog_loads_with_every_category)
{
	struct catalog *c = load_real();
	int per_cat[CATALOG_CATEGORY_COUNT] = {0};
	size_t with_cmp = 0;

	ASSERT(c);
	ASSERT(catalog_product_count(c) >= 30);
	ASSERT(catalog_product_count(c) <= 45);
	ASSERT(catalog_competitor_count(c) >= 4);
	ASSERT(catalog_promotion_count(c) >= 5);
	ASSERT_STREQ(catalog_telco(c)->name, "Northwind");
	ASSERT_STREQ(catalog_telco(c)->currency_symbol, "$");
	for (size_t i = 0; i < catalog_product_count(c); i++) {
		const struct catalog_product *p = catalog_product_at(c, i);

		per_cat[p->category]++;
		ASSERT_MSG(p->value_story && p->best_for && p->n_questions >= 1 &&
			       p->n_keywords >= 1,
			   "%s lacks selling intelligence", p->id);
		for (size_t j = 0; j < p->n_cross_sells; j++)
			ASSERT(p->cross_sells[j].product != NULL);
		for (size_t j = 0; j < p->n_comparisons; j++) {
			ASSERT(p->comparisons[j].n_offers >= 1);
			for (size_t m = 0; m < p->comparisons[j].n_offers; m++)
				ASSERT(p->comparisons[j].offers[m] ==
				       catalog_offer_find(c, p->comparisons[j].offer_ids[m]));
		}
		with_cmp += p->n_comparisons > 0;
	}
	for (int k = 0; k < CATALOG_CATEGORY_COUNT; k++)
		ASSERT_MSG(per_cat[k] >= 3, "category %s has %d products",
			   catalog_category_name((enum catalog_category)k), per_cat[k]);
	ASSERT(with_cmp >= 15);
	ASSERT(catalog_product_at(c, catalog_product_count(c)) == NULL);
	catalog_free(c);
}

TEST(lookups_by_id_alias_and_index)
{
	struct catalog *c = load_real();
	const struct catalog_product *p;
	const struct catalog_competitor *k;

	ASSERT(c);
	p = catalog_product_find(c, "tv-family-plus");
	ASSERT(p);
	ASSERT_STREQ(p->name, "TV Family Plus");
	ASSERT_EQ(p->category, CATALOG_CATEGORY_TV);
	ASSERT_EQ(p->price_cents, 4000);
	ASSERT_EQ(p->billing, CATALOG_BILLING_MONTHLY);
	ASSERT_EQ(catalog_product_spec(p, "streams")->centi, 400);
	ASSERT(catalog_product_spec(p, "data_gb") == NULL);
	ASSERT_CONTAINS(p->file, "catalog/tv.json");
	ASSERT(catalog_product_at(c, (size_t)catalog_product_index(c, p)) == p);
	ASSERT(catalog_product_find(c, "tv-nope") == NULL);
	ASSERT(catalog_product_find(c, NULL) == NULL);
	ASSERT(catalog_product_suggest(c, "tv-famly-plus") == p);
	ASSERT(catalog_product_suggest(c, "completely-different-thing") == NULL);

	k = catalog_competitor_find(c, "crestel");
	ASSERT(k);
	ASSERT(catalog_competitor_find(c, "Crestel Telecom") == k); /* alias, any case */
	ASSERT(catalog_competitor_find(c, "nobody") == NULL);
	ASSERT(catalog_competitor_at(c, (size_t)catalog_competitor_index(c, k)) == k);
	ASSERT(catalog_offer_find(c, "crestel-tv-plus")->competitor == k);
	ASSERT_EQ(catalog_offer_find(c, "crestel-tv-plus")->setup_cents, 4900);
	ASSERT_EQ(catalog_offer_find(c, "vaultline-cable-200")->intro_months, 12);
	ASSERT(catalog_offer_find(c, "nope") == NULL);

	/* a comparison against what customers buy together */
	p = catalog_product_find(c, "bundle-streaming-duo");
	ASSERT(p && p->n_comparisons >= 1);
	ASSERT_EQ(p->comparisons[0].n_offers, 2);
	ASSERT_STREQ(p->comparisons[0].offers[0]->competitor->id, "streammax");
	ASSERT_STREQ(p->comparisons[0].offers[1]->competitor->id, "arenapass");

	/* unlimited specs and a device with decimals */
	ASSERT(catalog_product_spec(catalog_product_find(c, "mobile-unlimited"), "data_gb")
		   ->unlimited);
	ASSERT_EQ(
	    catalog_product_spec(catalog_product_find(c, "dev-aurora-x"), "screen_inches")->centi,
	    610);
	catalog_free(c);
}

TEST(promotions_active_by_date)
{
	struct catalog *c = load_real();
	const struct catalog_promotion *out[16];
	const struct catalog_promotion *bf;
	const struct catalog_product *f300;

	ASSERT(c);
	bf = catalog_promotion_find(c, "promo-black-friday-fibre");
	f300 = catalog_product_find(c, "bb-fibre-300");
	ASSERT(bf && f300);
	ASSERT(!catalog_promotion_active(bf, day("2026-11-19"))); /* before */
	ASSERT(catalog_promotion_active(bf, day("2026-11-20")));  /* first day */
	ASSERT(catalog_promotion_active(bf, day("2026-11-25")));  /* during */
	ASSERT(catalog_promotion_active(bf, day("2026-12-01")));  /* last day */
	ASSERT(!catalog_promotion_active(bf, day("2026-12-02"))); /* after the end */
	ASSERT(catalog_promotion_covers(bf, f300));
	ASSERT(!catalog_promotion_covers(bf, catalog_product_find(c, "tv-family-plus")));

	ASSERT_EQ(catalog_promotions_active(c, day("2026-11-25"), f300, out, 16), 1);
	ASSERT(out[0] == bf);
	ASSERT_EQ(catalog_promotions_active(c, day("2026-12-02"), f300, out, 16), 0);
	/* the summer promotion is over, the new-year one not started */
	ASSERT_EQ(catalog_promotions_active(c, day("2026-11-21"),
					    catalog_product_find(c, "mobile-unlimited"), out, 16),
		  0);
	ASSERT_EQ(catalog_promotions_active(c, day("2026-07-01"),
					    catalog_product_find(c, "mobile-unlimited"), out, 16),
		  1);
	ASSERT_EQ(catalog_promotions_active(c, day("2027-01-15"),
					    catalog_product_find(c, "tv-family-plus"), out, 16),
		  1);
	/* more than fit: the count is still the total */
	ASSERT(catalog_promotions_active(c, day("2026-11-21"), NULL, out, 1) > 1);
	catalog_free(c);
}

TEST(discounts_and_installments_in_cents)
{
	struct catalog *c = load_real();
	const struct catalog_promotion *half, *pct, *amt;

	ASSERT(c);
	half = catalog_promotion_find(c, "promo-streammax-premium-half");
	pct = catalog_promotion_find(c, "promo-secure-autumn");
	amt = catalog_promotion_find(c, "promo-black-friday-fibre");
	ASSERT(half && pct && amt);
	ASSERT_EQ(half->discount, CATALOG_DISCOUNT_PERCENT);
	ASSERT_EQ(half->value, 5000);
	ASSERT_EQ(catalog_promotion_discount_cents(half, 2299), 1150); /* 11.495 rounds up */
	ASSERT_EQ(catalog_promotion_discount_cents(pct, 3500), 875);
	ASSERT_EQ(catalog_promotion_discount_cents(pct, 4900), 1225);
	ASSERT_EQ(catalog_promotion_discount_cents(amt, 5500), 1500);
	ASSERT_EQ(catalog_promotion_discount_cents(amt, 1000), 1000); /* never below zero */
	ASSERT_EQ(catalog_installment_cents(catalog_product_find(c, "dev-aurora-x-pro")), 4580);
	ASSERT_EQ(catalog_installment_cents(catalog_product_find(c, "dev-aurora-x-renewed")), 2288);
	ASSERT_EQ(catalog_installment_cents(catalog_product_find(c, "dev-kite-flip")), 0);
	ASSERT_EQ(catalog_installment_cents(catalog_product_find(c, "tv-family-plus")), 0);
	catalog_free(c);
}

TEST(dates_and_money_format)
{
	int32_t d;
	char buf[24];

	ASSERT_EQ(catalog_date_parse("1970-01-01", &d), 0);
	ASSERT_EQ(d, 0);
	ASSERT_EQ(catalog_date_parse("2024-02-29", &d), 0); /* leap year */
	catalog_date_format(d, buf);
	ASSERT_STREQ(buf, "2024-02-29");
	ASSERT_EQ(catalog_date_parse("2026-02-29", &d), -EINVAL);
	ASSERT_EQ(catalog_date_parse("2026-13-01", &d), -EINVAL);
	ASSERT_EQ(catalog_date_parse("2026-1-01", &d), -EINVAL);
	ASSERT_EQ(catalog_date_parse("26-01-01xx", &d), -EINVAL);
	ASSERT_EQ(catalog_date_parse("", &d), -EINVAL);
	ASSERT_EQ(catalog_date_weekday(day("2026-11-21")), 5); /* a Saturday */
	ASSERT_EQ(catalog_date_weekday(day("2026-11-23")), 0); /* a Monday */
	ASSERT_EQ(day("2026-12-01") - day("2026-11-21"), 10);
	catalog_format_cents(109900, buf);
	ASSERT_STREQ(buf, "1099.00");
	catalog_format_cents(-5, buf);
	ASSERT_STREQ(buf, "-0.05");
	ASSERT_STREQ(catalog_category_name(CATALOG_CATEGORY_ADDONS), "addons");
	ASSERT(catalog_category_name((enum catalog_category)99) == NULL);
	ASSERT_STREQ(catalog_unit_name(CATALOG_UNIT_MBPS), "Mbps");
}

TEST(search_ranks_what_customers_say)
{
	struct catalog *c = load_real();
	const struct catalog_product *out[8];
	struct catalog_query q = {"my kids fight over the tv", -1, -1};
	char big[CATALOG_QUERY_MAX + 2];
	int n;

	ASSERT(c);
	n = catalog_search(c, &q, out, 8);
	ASSERT(n >= 1);
	ASSERT_STREQ(out[0]->id, "tv-family-plus");

	q.text = "internet for working from home";
	n = catalog_search(c, &q, out, 3);
	ASSERT(n >= 1);
	ASSERT_STREQ(out[0]->id, "bb-fibre-300");

	q.text = "netflix";
	n = catalog_search(c, &q, out, 8);
	ASSERT(n >= 2);
	for (int i = 0; i < n; i++)
		ASSERT_EQ(out[i]->category, CATALOG_CATEGORY_STREAMING);

	/* filters: category and a price ceiling */
	q.text = "unlimited";
	q.category = CATALOG_CATEGORY_MOBILE;
	q.max_price_cents = 5000;
	n = catalog_search(c, &q, out, 8);
	ASSERT(n >= 1);
	ASSERT_STREQ(out[0]->id, "mobile-unlimited");
	for (int i = 0; i < n; i++)
		ASSERT(out[i]->price_cents <= 5000 && out[i]->category == CATALOG_CATEGORY_MOBILE);

	/* no words: everything in the category, cheapest first */
	q.text = "";
	q.category = CATALOG_CATEGORY_BROADBAND;
	q.max_price_cents = -1;
	n = catalog_search(c, &q, out, 8);
	ASSERT_EQ(n, 5);
	for (int i = 1; i < n; i++)
		ASSERT(out[i - 1]->price_cents <= out[i]->price_cents);

	q.text = "zzzz qqqq";
	q.category = -1;
	ASSERT_EQ(catalog_search(c, &q, out, 8), 0);

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	q.text = big;
	ASSERT_EQ(catalog_search(c, &q, out, 8), -E2BIG);
	catalog_free(c);
}

TEST(fixture_good_loads)
{
	struct catalog *c = NULL;
	char err[CATALOG_ERROR_MAX];

	ASSERT_EQ(catalog_load(FIX "good", &c, err, sizeof(err)), 0);
	ASSERT_EQ(catalog_product_count(c), 2);
	ASSERT_EQ(catalog_competitor_count(c), 1);
	ASSERT_EQ(catalog_promotion_count(c), 1);
	ASSERT_STREQ(catalog_dir(c), FIX "good");
	catalog_free(c);
	catalog_free(NULL);
}

TEST(broken_catalogs_name_file_entry_and_field)
{
	ASSERT(broken("missing_field", -EINVAL, FIX "missing_field/products.json",
		      "product 'bb-fibre-300'", "field 'price': missing"));
	ASSERT(broken("bad_price", -EINVAL, FIX "bad_price/products.json: product 'bb-fibre-300'",
		      "field 'price': expected a number >= 0 with at most 2 decimals",
		      "got \"abc\""));
	ASSERT(broken("bad_price_decimals", -EINVAL, "product 'bb-fibre-300'", "field 'price'",
		      "got 55.555"));
	ASSERT(broken("negative_price", -EINVAL, "product 'tv-family-plus'", "field 'price'",
		      "got -5"));
	ASSERT(broken("unknown_cross_sell", -EINVAL, "products.json: product 'tv-family-plus'",
		      "field 'cross_sells[0].id': no product 'bb-fibre-3000'",
		      "did you mean 'bb-fibre-300'?"));
	ASSERT(broken("duplicate_id", -EINVAL, "product 'bb-fibre-300'", "field 'id'",
		      "duplicate id"));
	ASSERT(broken("bad_date", -EINVAL, "promotions.json: promotion 'promo-fibre'",
		      "field 'end'", "got \"2026-02-30\""));
	ASSERT(broken("end_before_start", -EINVAL, "promotion 'promo-fibre'", "field 'end'",
		      "ends before it starts"));
	ASSERT(broken("wrong_type", -EINVAL, "product 'tv-family-plus'", "field 'keywords'",
		      "expected a list of strings, got \"family tv\""));
	ASSERT(broken("unknown_field", -EINVAL, "product 'bb-fibre-300'", "field 'prce'",
		      "not a known field"));
	ASSERT(broken("unknown_spec", -EINVAL, "product 'tv-family-plus'", "field 'specs.screens'",
		      "known specs: data_gb"));
	ASSERT(broken("unknown_offer", -EINVAL, "product 'tv-family-plus'",
		      "field 'comparisons[0].against[0]': no competitor offer 'crestel-tv-max'",
		      "did you mean 'crestel-tv-plus'?"));
	ASSERT(broken("unknown_offer_in_set", -EINVAL,
		      "field 'comparisons[0].against[1]': no competitor offer 'streammax-standard'",
		      NULL, NULL));
	ASSERT(broken("figure_in_angle", -EINVAL, "field 'comparisons[0].angle'", "without figures",
		      NULL));
	ASSERT(broken("promo_unknown_product", -EINVAL, "promotion 'promo-fibre'",
		      "field 'products[0]': no product 'bb-fibre-900'", NULL));
	ASSERT(
	    broken("bad_id", -EINVAL, "product 'TV Family'", "field 'id'", "lower-case letters"));
	ASSERT(broken("no_telco", -EINVAL, FIX "no_telco", "no file has a \"telco\" object", NULL));
	ASSERT(broken("truncated", -EINVAL, FIX "truncated/products.json:",
		      "not valid JSON: the file ends too early", NULL));
	ASSERT(broken("not_an_object", -EINVAL, "not_an_object/products.json", "expected an object",
		      NULL));
}

TEST(oversized_and_missing_folders)
{
	char dir[300], path[340], err[CATALOG_ERROR_MAX];
	struct catalog *c = NULL;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/oversized", test_tmpdir());
	ASSERT_EQ(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/products.json", dir);
	f = fopen(path, "w");
	ASSERT(f);
	fputs("{\"products\": [], \"pad\": \"", f);
	for (int i = 0; i < CATALOG_FILE_MAX_BYTES / 64 + 1; i++)
		fputs("0123456789012345678901234567890123456789012345678901234567890123", f);
	fputs("\"}\n", f);
	fclose(f);
	ASSERT_EQ(catalog_load(dir, &c, err, sizeof(err)), -EFBIG);
	ASSERT_CONTAINS(err, "oversized/products.json");
	ASSERT_CONTAINS(err, "more than the 262144");
	ASSERT(c == NULL);

	ASSERT_EQ(catalog_load("tests/fixtures/catalog/no-such-folder", &c, err, sizeof(err)),
		  -ENOENT);
	ASSERT_CONTAINS(err, "no-such-folder: cannot open the catalog folder");

	snprintf(dir, sizeof(dir), "%s/empty", test_tmpdir());
	ASSERT_EQ(mkdir(dir, 0700), 0);
	ASSERT_EQ(catalog_load(dir, &c, err, sizeof(err)), -ENOENT);
	ASSERT_CONTAINS(err, "no .json files");
}

TEST(load_from_config)
{
	struct config_error cerr;
	struct config *cfg = NULL;
	struct catalog *c = NULL;
	char err[CATALOG_ERROR_MAX];

	ASSERT_EQ(config_load_string("t.conf", ".", "[catalog]\ndir = " FIX "good\n", &cfg, &cerr),
		  0);
	ASSERT_EQ(catalog_load_config(cfg, "catalog", NULL, &c, err, sizeof(err)), 0);
	ASSERT_EQ(catalog_product_count(c), 2);
	catalog_free(c);
	config_free(cfg);

	/* the folder is required when there is no default */
	ASSERT_EQ(config_load_string("t.conf", ".", "[catalog]\n", &cfg, &cerr), 0);
	ASSERT(catalog_load_config(cfg, "catalog", NULL, &c, err, sizeof(err)) < 0);
	ASSERT_CONTAINS(err, "dir");
	config_free(cfg);

	/* a bad folder from the config reports the catalog error */
	ASSERT_EQ(
	    config_load_string("t.conf", ".", "[catalog]\ndir = " FIX "bad_price\n", &cfg, &cerr),
	    0);
	ASSERT_EQ(catalog_load_config(cfg, "catalog", NULL, &c, err, sizeof(err)), -EINVAL);
	ASSERT_CONTAINS(err, "field 'price'");
	config_free(cfg);
}
