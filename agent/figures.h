/*
 * figures — the output check: every price, allowance or count in a generated
 * reply must match the catalog or this session's tool results.
 *
 * A figure is a number with a unit: a currency amount ("$35", "35.00",
 * "35 dollars", "$35/month"), a percent, or a count of GB, Mbps, channels,
 * screens, lines, devices, mesh points, cameras, sensors, months (years
 * count as 12), days (weeks as 7), hours, minutes, countries, inches,
 * megapixels or mAh. Number words one..twenty (and thirty..hundred) count
 * when a unit follows ("four screens"). Not figures, never flagged: bare
 * numbers without a unit, years ("in 2027"), dates ("2026-12-01", "Dec 1"),
 * times ("9am", "7:30", "at 10.30"), phone numbers and booking references
 * ("NW-0042"), ordinals ("1st"), model names ("S24", "5G", "4K", "Wi-Fi 6"),
 * ages ("12 years old"), and catalog names ("Fibre 300"), which are masked.
 *
 * The allowed set (struct figures_facts) holds facts: a unit, a value and the
 * catalog entry it belongs to (a product, a competitor, or none for figures a
 * tool computed this session). figures_facts_new() fills it from the catalog
 * (structured fields, promotions active that day, and the figures in the
 * catalog's own prose); tools add what they return.
 *
 * The rule for one figure, in its sentence (S = catalog products and
 * competitors named in that sentence):
 *   pass     when a fact of the same unit and value exists that is a session
 *            fact, or belongs to an entry in S, or (S empty) belongs to any
 *            entry. "about/around/nearly/over/under N" also matches a fact
 *            that rounds (down or up) to N; "N+" matches a fact >= N; a
 *            figure said per month never matches a one-off fact.
 *   correct  when it fails and is not some other catalog entry's figure, and
 *            the entries in S (or, with S empty, those named in the nearest
 *            earlier sentence) have exactly one distinct value in that unit:
 *            the number is replaced with it, the wording kept.
 *   remove   otherwise: the whole sentence goes (a figure that belongs to an
 *            entry not named in its sentence may be misattributed, so it is
 *            never "corrected" into another product's price).
 * Every corrected or removed figure is reported as a flag for staff.
 *
 * Limits: replies up to FIGURES_REPLY_MAX bytes, FIGURES_ITEMS_MAX figures,
 * FIGURES_FLAGS_MAX flags (more is -E2BIG: the reply should be regenerated or
 * replaced, not patched), FIGURES_FACTS_MAX facts.
 */
#ifndef AGENT_FIGURES_H
#define AGENT_FIGURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/catalog.h"

#define FIGURES_REPLY_MAX 8192
#define FIGURES_ITEMS_MAX 128
#define FIGURES_FLAGS_MAX 32
#define FIGURES_FACTS_MAX 16384
#define FIGURES_TEXT_MAX 48 /* bytes of a figure's text in a flag */

/* struct figures_item.flags */
enum {
	FIGURES_MONTHLY = 1 << 0,  /* "$45 a month", "/mo", "monthly" */
	FIGURES_APPROX = 1 << 1,   /* "about", "around", "nearly", "over", ... */
	FIGURES_AT_LEAST = 1 << 2, /* "120+ channels" */
	FIGURES_WORD = 1 << 3,	   /* written as a word: "four screens" */
};

struct figures_item {
	size_t offset, len;	    /* the figure as written: "$45", "4 screens" */
	size_t num_offset, num_len; /* its number: "45", "four" */
	enum catalog_unit unit;
	int64_t centi; /* value x 100 in the unit's base (Mbps, GB, months, days) */
	int scale;     /* base units per written unit: 1000 for Gbps, 12 for years */
	unsigned flags;
};

/*
 * The figures in text, in order. currency_symbol (NULL: "$") marks amounts.
 * Returns how many (written to out, at most max), or -E2BIG when there are
 * more than max.
 */
int figures_extract(const char *text, const char *currency_symbol, struct figures_item *out,
		    size_t max);

/* struct figures_facts flags for one fact */
enum {
	FIGURES_FACT_MONTHLY = 1 << 0, /* a monthly amount */
	FIGURES_FACT_ONCE = 1 << 1,    /* a one-off amount */
};

struct figures_facts;

/*
 * The catalog-wide facts for day (days since 1970-01-01: promotions active
 * that day count). c must outlive the set. -ENOMEM, -E2BIG (more than
 * FIGURES_FACTS_MAX).
 */
int figures_facts_new(const struct catalog *c, int32_t day, struct figures_facts **ret);
void figures_facts_free(struct figures_facts *f);
/*
 * Adds a session fact (from a tool result). product or competitor (both may
 * be NULL: a figure the tool computed) say whose figure it is. Returns 1 when
 * added, 0 when already known, -ENOSPC when the set is full, -EINVAL for a
 * bad unit.
 */
int figures_facts_add(struct figures_facts *f, enum catalog_unit unit, int64_t centi,
		      unsigned flags, const struct catalog_product *product,
		      const struct catalog_competitor *competitor);
/* Drops the session facts (a new visitor). */
void figures_facts_reset_session(struct figures_facts *f);
/* Facts in the set; session_only counts the ones tools added. */
size_t figures_facts_count(const struct figures_facts *f, bool session_only);
/* Is there any fact with this unit and value? */
bool figures_facts_has(const struct figures_facts *f, enum catalog_unit unit, int64_t centi);

enum figures_action {
	FIGURES_ACTION_CORRECTED,
	FIGURES_ACTION_REMOVED,
};

/* "corrected", "removed" */
const char *figures_action_name(enum figures_action a);

struct figures_flag {
	char figure[FIGURES_TEXT_MAX]; /* as written in the reply */
	size_t offset;		       /* in the original reply */
	enum catalog_unit unit;
	int64_t centi;
	enum figures_action action;
	char replacement[FIGURES_TEXT_MAX]; /* CORRECTED: the figure as it now reads */
	char reason[200];
};

struct figures_report {
	char *text;	  /* the checked reply (malloc'd; figures_report_free) */
	size_t n_figures; /* figures found */
	size_t n_flags;
	struct figures_flag flags[FIGURES_FLAGS_MAX];
	size_t n_removed_sentences;
};

/*
 * Checks reply against f. On success (0) ret holds the cleaned reply (equal to
 * reply when nothing was flagged; possibly "" when every sentence went) and
 * the flags. Errors, ret untouched: -E2BIG (reply over FIGURES_REPLY_MAX, or
 * more figures or flags than the limits), -ENOMEM.
 */
int figures_check(const struct figures_facts *f, const char *reply, struct figures_report *ret);
void figures_report_free(struct figures_report *r);
/*
 * The flags as JSON for the staff feed and the audit log:
 * {"figures":N,"removed_sentences":N,"flags":[{"figure":"$49","offset":18,
 * "unit":"money","value":49,"action":"corrected","to":"$40","reason":"..."}]}
 * malloc'd; NULL on -ENOMEM.
 */
char *figures_report_json(const struct figures_report *r);

/*
 * Catalog consistency: a figure in a product's prose (value story, best for,
 * questions, cross-sell reasons) or a promotion's text, in a unit the entry
 * has structured data for, must match that data ("4 screens" in the story of
 * a product whose specs say 5 streams is an error). 0, or -EINVAL with the
 * file, entry, field and the figure in err.
 */
int figures_lint_catalog(const struct catalog *c, char *err, size_t errlen);

#endif
