/*
 * catalog — the store's products with their selling intelligence, the
 * competitors' offers and the promotions, loaded from a folder of JSON files
 * (catalog/, schema in catalog/README.md).
 *
 * Every *.json file in the folder is an object with one or more of the keys
 * "telco", "products", "competitors" and "promotions". Loading validates
 * every field, every cross-reference (cross-sells, comparisons, promotions)
 * and every limit; the first problem fails the load with a message that
 * names the file, the entry, the field, what was expected and what was
 * found, for example
 *   catalog/tv.json: product 'tv-family-plus': field 'price': expected a
 *   number >= 0 with at most 2 decimals, got "abc"
 *
 * Money is integer cents; other figures are "centi" fixed point (value x
 * 100, so 6.1 inches is 610) so figures compare exactly. Dates are days since
 * 1970-01-01 (UTC); nothing here reads the clock, callers pass the date.
 *
 * A loaded catalog is immutable: every pointer it hands out (products,
 * strings, arrays) is owned by it and valid until catalog_free(). Reading
 * from several threads at once is safe.
 */
#ifndef AGENT_CATALOG_H
#define AGENT_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

#define CATALOG_FILE_MAX_BYTES (256 * 1024) /* one JSON file */
#define CATALOG_FILES_MAX 32		    /* *.json files in the folder */
#define CATALOG_PRODUCTS_MAX 256
#define CATALOG_COMPETITORS_MAX 32
#define CATALOG_OFFERS_MAX 16 /* per competitor */
#define CATALOG_PROMOTIONS_MAX 64
#define CATALOG_ID_MAX 48    /* bytes of an id: [a-z0-9-], starts with a letter */
#define CATALOG_NAME_MAX 80  /* bytes of a name, alias, keyword, feature */
#define CATALOG_TEXT_MAX 600 /* bytes of a value story, answer, terms, ... */
#define CATALOG_LIST_MAX 24  /* items in any list (keywords, features, questions, ...) */
#define CATALOG_PRICE_MAX_CENTS 10000000 /* 100000.00 */
#define CATALOG_CONTRACT_MAX_MONTHS 60
#define CATALOG_ERROR_MAX 512

enum catalog_category {
	CATALOG_CATEGORY_MOBILE,
	CATALOG_CATEGORY_BROADBAND,
	CATALOG_CATEGORY_TV,
	CATALOG_CATEGORY_STREAMING,
	CATALOG_CATEGORY_SECURITY,
	CATALOG_CATEGORY_DEVICES,
	CATALOG_CATEGORY_ADDONS,
};
#define CATALOG_CATEGORY_COUNT (CATALOG_CATEGORY_ADDONS + 1)

/* "mobile", "broadband", ...; NULL out of range. */
const char *catalog_category_name(enum catalog_category c);
/* -EINVAL for an unknown name. */
int catalog_category_from_name(const char *s, enum catalog_category *ret);

/* The units a figure can have; shared with agent/figures. */
enum catalog_unit {
	CATALOG_UNIT_MONEY, /* the store currency; centi = cents */
	CATALOG_UNIT_PERCENT,
	CATALOG_UNIT_GB,
	CATALOG_UNIT_MBPS,
	CATALOG_UNIT_CHANNELS,
	CATALOG_UNIT_SCREENS, /* simultaneous streams */
	CATALOG_UNIT_LINES,
	CATALOG_UNIT_DEVICES,
	CATALOG_UNIT_MESH_POINTS,
	CATALOG_UNIT_CAMERAS,
	CATALOG_UNIT_SENSORS,
	CATALOG_UNIT_MONTHS,
	CATALOG_UNIT_DAYS,
	CATALOG_UNIT_HOURS,
	CATALOG_UNIT_MINUTES,
	CATALOG_UNIT_COUNTRIES,
	CATALOG_UNIT_INCHES,
	CATALOG_UNIT_MEGAPIXELS,
	CATALOG_UNIT_MAH,
};
#define CATALOG_UNIT_COUNT (CATALOG_UNIT_MAH + 1)

/* "money", "GB", "Mbps", "channels", ...; NULL out of range. */
const char *catalog_unit_name(enum catalog_unit u);

enum catalog_billing {
	CATALOG_BILLING_MONTHLY, /* price is per month */
	CATALOG_BILLING_ONCE,	 /* price is paid once (devices, passes) */
};

/* One structured spec ("streams": 4). key is from a fixed vocabulary
 * (catalog_spec_keys()), which fixes its unit. */
struct catalog_spec {
	const char *key;   /* "data_gb", "streams", ... */
	const char *label; /* "data", "screens at once", ... for people */
	enum catalog_unit unit;
	bool unlimited; /* "unlimited" instead of a number; centi is 0 */
	int64_t centi;	/* value x 100 */
};

/* The spec keys the loader knows, with their unit; for docs and messages. */
struct catalog_spec_key {
	const char *key;
	const char *label;
	enum catalog_unit unit;
	bool unlimited_ok;
};
const struct catalog_spec_key *catalog_spec_keys(size_t *ret_count);

struct catalog_qa {
	const char *q, *a;
};

/* A one-off charge that is not the price (a repair excess, a late fee). */
struct catalog_charge {
	const char *name;
	int64_t cents;
};

struct catalog_product;
struct catalog_competitor;

struct catalog_cross_sell {
	const char *id;
	const char *why;
	const struct catalog_product *product; /* resolved */
};

struct catalog_offer {
	const char *id, *name;
	enum catalog_category category;
	int64_t price_cents; /* the standard price */
	enum catalog_billing billing;
	int64_t setup_cents;
	int contract_months;
	int64_t intro_cents; /* price for the first intro_months (0 months: none) */
	int intro_months;
	const struct catalog_spec *specs;
	size_t n_specs;
	const char *const *features;
	size_t n_features;
	const struct catalog_competitor *competitor; /* owner */
};

struct catalog_competitor {
	const char *id, *name;
	const char *const *aliases; /* what customers call them, lower case */
	size_t n_aliases;
	const char *how_we_win; /* the staff talk track, no numbers */
	const struct catalog_offer *offers;
	size_t n_offers;
	const char *file;
};

/*
 * What a customer typically pays for today instead of this product: one
 * competitor offer, or several bought together (Crestel TV plus StreamMax on
 * top). The compare tool does the math from the offers' stored prices.
 */
#define CATALOG_COMPARISON_OFFERS_MAX 4
struct catalog_comparison {
	const char *const *offer_ids;
	const struct catalog_offer *const *offers; /* resolved, same order */
	size_t n_offers;
	const char *angle; /* the selling angle in words; the numbers come from compare */
};

struct catalog_product {
	const char *id, *name;
	enum catalog_category category;
	int64_t price_cents;
	enum catalog_billing billing;
	int64_t setup_cents;
	int contract_months;	/* 0: no contract */
	int installment_months; /* ONCE products payable monthly; 0: not offered */
	const struct catalog_spec *specs;
	size_t n_specs;
	const char *const *features;
	size_t n_features;
	const char *value_story;
	const char *best_for;
	const struct catalog_comparison *comparisons;
	size_t n_comparisons;
	const struct catalog_qa *questions;
	size_t n_questions;
	const struct catalog_cross_sell *cross_sells;
	size_t n_cross_sells;
	const struct catalog_charge *charges;
	size_t n_charges;
	const char *const *keywords; /* what customers call it, lower case */
	size_t n_keywords;
	const char *file; /* the file it came from, for messages */
};

enum catalog_discount {
	CATALOG_DISCOUNT_AMOUNT,  /* value: cents off */
	CATALOG_DISCOUNT_PERCENT, /* value: percent x 100 (25% = 2500) */
};

struct catalog_promotion {
	const char *id, *name, *description, *terms;
	const char *const *product_ids;
	const struct catalog_product *const *products; /* resolved, same order */
	size_t n_products;
	enum catalog_discount discount;
	int64_t value;
	int months;	    /* monthly products: months discounted; ONCE products: 0 */
	int32_t start, end; /* days since 1970-01-01, both inclusive */
	const char *file;
};

struct catalog_telco {
	const char *name;	     /* "Northwind" */
	const char *store;	     /* "Northwind Riverside" */
	const char *currency;	     /* "USD" */
	const char *currency_symbol; /* "$" */
	bool prices_include_tax;
};

struct catalog;

/*
 * Loads every *.json in dir (sorted by name). On success *ret owns a new
 * catalog (catalog_free). On failure *ret is untouched and err (may be NULL)
 * says what and where. Errors: -ENOENT/-EACCES/-ENOTDIR (folder or file),
 * -EFBIG (a file over CATALOG_FILE_MAX_BYTES), -E2BIG (too many files or
 * entries), -EINVAL (bad JSON, missing or bad field, unknown or duplicate
 * id), -ENOMEM.
 */
int catalog_load(const char *dir, struct catalog **ret, char *err, size_t errlen);
/*
 * Same, with the folder from the config: [section] dir = PATH (relative to
 * the config file; default def_dir). A bad key names the config file and
 * line; catalog errors as catalog_load.
 */
int catalog_load_config(const struct config *cfg, const char *section, const char *def_dir,
			struct catalog **ret, char *err, size_t errlen);
void catalog_free(struct catalog *c);

/* The folder it was loaded from. */
const char *catalog_dir(const struct catalog *c);
const struct catalog_telco *catalog_telco(const struct catalog *c);

size_t catalog_product_count(const struct catalog *c);
/* NULL when i is out of range. */
const struct catalog_product *catalog_product_at(const struct catalog *c, size_t i);
/* NULL when there is no such id. */
const struct catalog_product *catalog_product_find(const struct catalog *c, const char *id);
/* The product whose id is closest to a mistyped id (a few edits away), or NULL. */
const struct catalog_product *catalog_product_suggest(const struct catalog *c, const char *id);
/* Index of p in the catalog (for per-product tables), or -1. */
long catalog_product_index(const struct catalog *c, const struct catalog_product *p);
/* The spec with key on p, or NULL. */
const struct catalog_spec *catalog_product_spec(const struct catalog_product *p, const char *key);

size_t catalog_competitor_count(const struct catalog *c);
const struct catalog_competitor *catalog_competitor_at(const struct catalog *c, size_t i);
/* By id, or by name or alias (case-insensitive); NULL when none. */
const struct catalog_competitor *catalog_competitor_find(const struct catalog *c, const char *id);
long catalog_competitor_index(const struct catalog *c, const struct catalog_competitor *k);
/* An offer by its id (unique across competitors); NULL when none. */
const struct catalog_offer *catalog_offer_find(const struct catalog *c, const char *id);

size_t catalog_promotion_count(const struct catalog *c);
const struct catalog_promotion *catalog_promotion_at(const struct catalog *c, size_t i);
const struct catalog_promotion *catalog_promotion_find(const struct catalog *c, const char *id);
bool catalog_promotion_active(const struct catalog_promotion *p, int32_t day);
bool catalog_promotion_covers(const struct catalog_promotion *p,
			      const struct catalog_product *prod);
/*
 * Promotions active on day, in file order; product (may be NULL) keeps the
 * ones covering it. Writes at most max to out and returns how many there are
 * in all (which may be more than max).
 */
size_t catalog_promotions_active(const struct catalog *c, int32_t day,
				 const struct catalog_product *product,
				 const struct catalog_promotion **out, size_t max);
/*
 * What promotion p takes off price_cents (one month of a monthly product,
 * or the one-off price): an amount (never more than the price) or a percent
 * rounded half up to the cent.
 */
int64_t catalog_promotion_discount_cents(const struct catalog_promotion *p, int64_t price_cents);
/*
 * The monthly payment when a ONCE product is paid over its
 * installment_months: the price divided by the months, rounded up to the
 * cent (the last payment is smaller so the total is the price). 0 when the
 * product has no installments.
 */
int64_t catalog_installment_cents(const struct catalog_product *p);

/* Search: products matching a customer's words, best first. */
struct catalog_query {
	const char *text;	 /* NULL or "": every product that passes the filters */
	int category;		 /* enum catalog_category, or -1 for any */
	int64_t max_price_cents; /* -1: no limit (compared with price as billed) */
};
#define CATALOG_QUERY_MAX 200 /* bytes of query text; longer is -E2BIG */
/*
 * Scores products by the query's words against keywords (whole phrases
 * count most), names, categories, features and prose; plural "s" is
 * ignored. Ties go to the cheaper product. Writes at most max results to
 * out and returns the number written, or -E2BIG for an over-long query,
 * -ENOMEM.
 * With empty text the products passing the filters come cheapest first.
 */
int catalog_search(const struct catalog *c, const struct catalog_query *q,
		   const struct catalog_product **out, size_t max);

/* "YYYY-MM-DD" (a real calendar day, 1970..9999) to days since 1970-01-01;
 * -EINVAL otherwise. */
int catalog_date_parse(const char *s, int32_t *ret);
/* Writes "YYYY-MM-DD" (11 bytes with the NUL). */
void catalog_date_format(int32_t day, char buf[11]);
/* 0 = Monday ... 6 = Sunday. */
int catalog_date_weekday(int32_t day);

/* Writes cents as "12.34" (or "-12.34"); buf needs 24 bytes. */
void catalog_format_cents(int64_t cents, char buf[24]);

#endif
