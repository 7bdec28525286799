/*
 * responder_priv — the offline responder's own types and the functions its
 * files share: the turn being answered, the session's memory, the data as
 * the tools returned it, the tables more than one file reads. Private to
 * agent/responder.c and agent/responder_*.c (what each holds: the groups
 * below, and docs/responder.md); other modules use agent/responder.h.
 */
#ifndef AGENT_RESPONDER_PRIV_H
#define AGENT_RESPONDER_PRIV_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/responder.h"

#define ID_MAX AGENT_ID_MAX
#define PART_MAX 700 /* bytes of one sentence of a reply */
#define PARTS_MAX 8  /* sentences in one reply */
#define NORM_MAX (3 * AGENT_TEXT_MAX + 8)
#define NEED_TEXT_MAX 300 /* record_need's limit, in characters */
#define SUMMARY_MAX 300	  /* escalate's limit */
#define QUERY_MAX 200	  /* search_products' limit */
#define SPECS_MAX 24
#define QA_MAX 12
#define XS_MAX 8
#define PROMOS_MAX 4
#define EXTRAS_MAX 8

/* ---- needs: what the customer says they need, as record_need's tags ----------- */

enum need {
	NEED_FAMILY,
	NEED_KIDS,
	NEED_TEENS,
	NEED_SENIORS,
	NEED_STREAMING,
	NEED_SPORTS,
	NEED_GAMING,
	NEED_WFH,
	NEED_BUDGET,
	NEED_PREMIUM,
	NEED_COVERAGE,
	NEED_SPEED,
	NEED_WIFI_RANGE,
	NEED_SECURITY,
	NEED_TRAVEL,
	NEED_SWITCHING,
	NEED_NEW_HOME,
	NEED_SMALL_BUSINESS,
	NEED_ACCESSIBILITY,
	NEED_DEVICE_UPGRADE,
	NEED_DATA,	 /* runs out of data: said back and searched for; no record_need tag */
	NEED_NO_INSTALL, /* renting, no engineer visit: the same, no tag */
};
#define NEED_COUNT (NEED_NO_INSTALL + 1)
#define NB(n) (1u << (n))

struct need_def {
	const char *tag;	 /* record_need's tag */
	const char *const *cues; /* normalised phrases, whole words */
	const char *query;	 /* words added to search_products' query */
	const char *reflect;	 /* said back in discovery */
	const char *for_phrase;	 /* "For <...>, I'd go with ..." */
	const char *bridge;	 /* "You said <...>" in an objection */
	const char *check;	 /* the checking question after presenting */
};

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- objections, small talk, complaints, scope: kinds by cue ------------------ */

enum objection {
	OBJ_PRICE,
	OBJ_THINK,
	OBJ_CONTRACT,
	OBJ_PARTNER,
	OBJ_TRUST,
	OBJ_NEED,
	OBJ_HASSLE,
	OBJ_VALUE,
};
#define OBJ_COUNT (OBJ_VALUE + 1)

enum chat {
	CHAT_GREET,
	CHAT_HOWRU,
	CHAT_WEATHER,
	CHAT_THANKS,
	CHAT_BYE,
	CHAT_WHO,
	CHAT_BROWSE,
	CHAT_BUSY,
	CHAT_JOKE,
};
#define CHAT_COUNT (CHAT_JOKE + 1)

/* ---- memory ----------------------------------------------------------------- */

enum pending {
	PENDING_NONE,
	PENDING_ESCALATE,   /* "Shall I get someone now?" (scope) */
	PENDING_CROSS_SELL, /* "would you like <extra> as well?" */
	PENDING_HANDOFF,    /* "Shall I get a colleague to set that up?" */
	PENDING_BOOK,	    /* "Which day suits you for the installation?" */
	PENDING_VISIT,	    /* "Shall I book a time for you to come back?" */
	PENDING_REVISIT,    /* "last time you looked at X; still thinking about it?" */
};

struct responder_memory {
	char focus[ID_MAX];
	int focus_category; /* -1 none */
	char presented[RESPONDER_MEMORY_PRODUCTS][ID_MAX];
	unsigned n_presented;
	unsigned needs;					/* NB() of every need heard */
	unsigned needs_recorded;			/* those already sent to record_need */
	int category;					/* the category talked about, -1 none */
	unsigned discovery[CATALOG_CATEGORY_COUNT + 1]; /* questions asked per category (+none) */
	unsigned questions_in_row;
	char cross_offered[RESPONDER_MEMORY_OFFERS][ID_MAX];
	unsigned n_cross_offered;
	bool cross_declined;
	char promos_said[RESPONDER_MEMORY_OFFERS][ID_MAX];
	unsigned n_promos_said;
	int promo_turn; /* the turn a promotion was last said, 0 none */
	char deadlines_said[RESPONDER_MEMORY_OFFERS][ID_MAX]; /* end dates said, once each */
	unsigned n_deadlines_said;
	unsigned objections[OBJ_COUNT];
	bool price_objection;
	char competitor[ID_MAX];
	char competitors_heard[RESPONDER_MEMORY_OFFERS][ID_MAX];
	unsigned n_competitors_heard;
	int64_t spend_cents;  /* what they pay now, -1 unknown */
	int64_t budget_cents; /* the most they want to pay, -1 unknown */
	int people;	      /* how many they are ("five of us"), 0 unknown */
	bool spend_asked;
	enum pending pending;
	char pending_product[ID_MAX];
	char pending_extra[ID_MAX];
	char pending_reason[32];
	char pending_kind[16];
	bool escalated, welcomed, sold, farewell;
	bool checked;	       /* the checking question was asked */
	bool thanked;	       /* an existing customer was thanked for staying */
	bool complained;       /* a complaint was heard this visit */
	bool asked_colleague;  /* the last reply's question offered a colleague */
	char contract_end[12]; /* "March": when their contract elsewhere ends, "" unknown */
	char booking_ref[TOOLS_REF_MAX];
	uint32_t evidence[RESPONDER_MEMORY_OFFERS]; /* sentences of proof already said */
	unsigned n_evidence;
	unsigned turns;
};

/* ---- product, comparison and promotion data, as the tools returned them ------- */

struct spec {
	char label[40];
	char value[48];
};

struct qa {
	char q[CATALOG_TEXT_MAX], a[CATALOG_TEXT_MAX];
};

struct xsell {
	char id[ID_MAX], name[CATALOG_NAME_MAX], why[CATALOG_TEXT_MAX];
	int64_t cents;
	bool monthly;
};

struct promo {
	char id[ID_MAX], name[CATALOG_NAME_MAX], description[CATALOG_TEXT_MAX];
	char ends[11];
	int64_t promo_cents;
	int months;
	bool monthly;
};

struct pinfo {
	bool ok, full; /* found; from get_product (else from a search result) */
	const struct catalog_product *p;
	char id[ID_MAX], name[CATALOG_NAME_MAX];
	int64_t price_cents, monthly_cents, setup_cents;
	bool monthly;
	int pay_months;
	int contract_months;
	char value_story[CATALOG_TEXT_MAX], best_for[CATALOG_TEXT_MAX];
	struct spec specs[SPECS_MAX];
	unsigned n_specs;
	char features[CATALOG_LIST_MAX][CATALOG_NAME_MAX];
	unsigned n_features;
	struct qa qa[QA_MAX];
	unsigned n_qa;
	struct xsell xs[XS_MAX];
	unsigned n_xs;
	char charge_what[8][CATALOG_NAME_MAX];
	int64_t charge_cents[8];
	unsigned n_charges;
	struct promo promos[PROMOS_MAX];
	unsigned n_promos;
	char promotion_name[CATALOG_NAME_MAX]; /* search results name one */
};

struct cmpinfo {
	bool ok;
	char ours[200], theirs[200];
	int64_t ours_m, theirs_m, diff_m, diff_y, diff_fy, theirs_setup, spend;
	int cheaper_m, cheaper_fy; /* 1 ours, -1 theirs, 0 same */
	char our_contract[32], their_contract[32];
	char intro[160];
	int64_t intro_cents;
	int intro_months;
	char first_offer[CATALOG_NAME_MAX];
	char extras[EXTRAS_MAX][160];
	unsigned n_extras;
	char angle[CATALOG_TEXT_MAX];
	char summary[512];
	char promo_name[CATALOG_NAME_MAX];
	int64_t promo_cents;
	int promo_months;
};

/* ---- one turn ---------------------------------------------------------------- */

/* Styles read from the archetype directive (and its tier). */
enum {
	STYLE_COMPARE = 1 << 0,	   /* lead with comparison math and savings */
	STYLE_SHORT = 1 << 1,	   /* answer first, one option, fast next step */
	STYLE_SPEC = 1 << 2,	   /* one crisp spec is welcome */
	STYLE_NO_CLOSE = 1 << 3,   /* no pitch and no close */
	STYLE_NO_SELL = 1 << 4,	   /* sell nothing */
	STYLE_SOFT = 1 << 5,	   /* expect a second visit; no pressure today */
	STYLE_HARD = 1 << 6,	   /* a direct next step in this reply */
	STYLE_LOYAL = 1 << 7,	   /* recognise an existing customer */
	STYLE_COMPANION = 1 << 8,  /* here with or for someone else */
	STYLE_SWITCH = 1 << 9,	   /* take the fear out of switching */
	STYLE_NO_CHAT = 1 << 10,   /* no small talk beyond a greeting */
	STYLE_NO_EXTRAS = 1 << 11, /* skip the tour: no add-ons offered */
};

struct part {
	char text[PART_MAX];
	int prio; /* 0: essential; higher goes first when the reply must shrink */
	bool question;
};

struct turn {
	const struct responder_input *in;
	struct responder_memory *m;
	struct responder_output *out;
	const struct catalog *cat;
	const char *sym;
	char raw[AGENT_TEXT_MAX + 1]; /* the message, NUL-terminated (a NUL inside ends it) */
	char norm[NORM_MAX];	      /* " normalised text " */
	char masked[NORM_MAX];	      /* norm with competitor names blanked */
	char plain[NORM_MAX]; /* masked with product names blanked too: the customer's own words */
	unsigned words;
	unsigned tags;				      /* needs this message states */
	int category;				      /* this message's category, -1 */
	const struct catalog_product *named, *named2; /* products named outright, in order */
	const struct catalog_competitor *comp;
	const struct catalog_offer *comp_offer;
	const struct catalog_offer *offers[4]; /* every competitor offer named, in order */
	unsigned n_offers;
	int64_t spend, budget; /* this message's, -1 */
	int people;	       /* "five of us": how many they are, 0 unknown */
	int32_t day;	       /* a day this message names, -1 */
	const char *time;      /* "morning", ... or NULL */
	bool question;	       /* the customer asked something */
	bool push;	       /* a complaint about a competitor: their reason to switch */
	unsigned style;
	int tier; /* enum archetype_tier, or -1 unclassified */
	bool sk_recovery, sk_objection, sk_compare, sk_closing, sk_cross, sk_promos, sk_small,
	    sk_scope, sk_present;
	struct part parts[PARTS_MAX];
	unsigned n_parts;
	unsigned tp;	       /* talking points used */
	bool comparing;	       /* longer replies are fine */
	bool reason_only;      /* an add-on only for a reason they gave, not as a natural fit */
	char salt[ID_MAX];     /* product id for phrase choice */
	char answer[PART_MAX]; /* the answer to their question a presentation leads with */
	int err;	       /* -ENOMEM seen */
};

/* ---- tables more than one file reads ----------------------------------------- */

/* responder_read.c */
extern const struct need_def needs[NEED_COUNT];

/* How a category is talked about. */
struct category_talk {
	const char *plural;  /* "phone plans" */
	const char *what;    /* "your phone plan" */
	const char *spend_q; /* asking for the anchor */
	const char *const *discovery;
};
extern const struct category_talk category_talk[CATALOG_CATEGORY_COUNT];

extern const char *const *const objection_cues[OBJ_COUNT];
extern const char *const *const chat_cues[CHAT_COUNT];
/* Closing cues that are a decision, not just interest. */
extern const char *const *const strong_close;

/* responder_text.c */
extern const char *const month_names[12];

/* ---- functions, by the file that defines them (each one's comment is there) -------- */

/* responder.c: the memory's id lists */
bool id_in(const char (*list)[ID_MAX], unsigned n, const char *id);
void id_add(char (*list)[ID_MAX], unsigned *n, unsigned max, const char *id);

/* responder_text.c: text helpers; the reply, sentence by sentence */
uint32_t fnv(uint32_t h, const char *s);
unsigned pick(const struct turn *t, const char *slot, unsigned n);
unsigned list_len(const char *const *l);
const char *pick_from(const struct turn *t, const char *slot, const char *const *l);
long find_phrase(const char *padded, const char *phrase);
bool has_phrase(const char *padded, const char *phrase);
bool any_phrase(const char *padded, const char *const *l);
bool any_cue(const char *padded, const char *const *l);
bool blank(char *s, const char *phrase);
void lead_word(const char *padded, char *out, size_t len);
void norm_padded(const char *s, size_t len, char *out, size_t outlen);
void copy_words(char *dst, size_t dstlen, const char *s, size_t max);
size_t utf8_len(const char *s);
void utf8_cut(char *s, size_t max);
void money(const struct turn *t, int64_t cents, char *buf, size_t len);
int64_t money_parse(const char *s);
void date_words(const char *iso, char *buf, size_t len);
bool nth_sentence(const char *text, unsigned n, char *out, size_t len);
void lower_first(const struct turn *t, char *s);
const char *the(const char *name, char *buf, size_t len);
void chop_period(char *s);
void say(struct turn *t, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool named_yet(const struct turn *t, const char *name);
bool ask(struct turn *t, const char *q);
void talking_point(struct turn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void action(struct turn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void suggest(struct turn *t, const char *a, const char *b, const char *c);
void set_focus(struct turn *t, const char *id, bool card);
void promo_said(struct turn *t, const char *id);

/* responder_read.c: reading the message */
bool signal_on(const struct turn *t, enum signal s);
void read_message(struct turn *t);
const char *visitor_name(const struct turn *t);
int first_need(unsigned tags);

/* responder_tools.c: tool calls, and what they returned */
unsigned calls_left(const struct turn *t);
int tool(struct turn *t, const char *name, cJSON *args, unsigned keep, cJSON **ret);
const char *jstr(const cJSON *o, const char *key);
void jcopy(char *dst, size_t len, const cJSON *o, const char *key);
int jint(const cJSON *o, const char *key);
int contract_months(const char *s);
int get_product(struct turn *t, const char *id, unsigned keep, struct pinfo *pi);
int search(struct turn *t, int category, int64_t budget, unsigned keep, struct pinfo *out,
	   unsigned max, bool words);
int search_run(struct turn *t, const char *q, int category, int64_t budget, unsigned keep,
	       struct pinfo *out, unsigned max);
void record(struct turn *t, const char *product_id);

/* responder_present.c: choosing and presenting a product; the product move */
enum present_how {
	PRESENT_FIT,   /* our pick for what they said */
	PRESENT_NAMED, /* they asked for it by name */
	PRESENT_AGAIN, /* a returning visitor's product */
};

int best_fit(struct turn *t, const struct pinfo *r, int n);
int overlap(const char *padded, const char *s);
int n_figures(const struct turn *t, const char *s);
bool clean_answer(const struct turn *t, const char *a, const struct catalog_product *p,
		  int max_figs, char *out, size_t len);
void skip_yes(const char *a, char *out, size_t len);
bool evidence(struct turn *t, const struct pinfo *pi, int max_figs, char *out, size_t len);
bool answer_question(struct turn *t, const struct pinfo *pi, char *out, size_t len);
bool spec_phrase(const struct pinfo *pi, const char *label, char *out, size_t len);
const char *const *key_specs(const struct pinfo *pi);
void price_sentence(struct turn *t, const struct pinfo *pi, bool instalments, char *out,
		    size_t len);
void price_with_promo(struct turn *t, const struct pinfo *pi, bool instalments, bool promo,
		      char *out, size_t len);
bool needs_install(const struct catalog_product *p);
void close_question(struct turn *t, const struct catalog_product *p);
void present_question(struct turn *t, const struct pinfo *pi);
void present(struct turn *t, const struct pinfo *pi, const char *opener, enum present_how how);
bool still_fits(const struct turn *t, const struct catalog_product *q);
bool find_fit(struct turn *t, unsigned keep, struct pinfo *ret);
void do_product(struct turn *t, const char *opener);

/* responder_answer.c: answering their question; offers and deals */
enum answer {
	ANSWER_NONE,	/* not a question this can answer */
	ANSWER_SAID,	/* the answer is in out */
	ANSWER_UNKNOWN, /* "does it come with X?" and the tool says nothing of X */
};

void feature_phrase(const struct turn *t, const char *f, char *out, size_t len);
enum answer answer_about(struct turn *t, const struct pinfo *pi, bool price_too, char *out,
			 size_t len);
bool other_answer(struct turn *t, int cat, const struct catalog_product *except, unsigned keep,
		  char *out, size_t len);
void say_unknown(struct turn *t, const struct pinfo *pi);
bool answer_focus(struct turn *t);
bool offer_question(const struct turn *t);
bool do_offer_question(struct turn *t);
void do_deals(struct turn *t);

/* responder_compare.c: comparison; two of ours side by side */
int compare(struct turn *t, const struct catalog_product *p, const struct catalog_competitor *k,
	    const struct catalog_offer *const *offers, unsigned n_offers, int64_t spend,
	    unsigned keep, struct cmpinfo *ci);
void do_compare(struct turn *t);
bool do_contrast(struct turn *t);

/* responder_close.c: tools with side effects, closing, the answer to an offer of ours */
int escalate(struct turn *t, const char *reason, const char *summary, bool urgent, char *say_out,
	     size_t len);
bool is_yes(const struct turn *t);
bool is_no(const struct turn *t);
void do_closing(struct turn *t);
bool do_pending(struct turn *t);

/* responder_objection.c: objections in four beats; a step down that still fits */
int step_down(const struct turn *t, const struct catalog_product *orig, const struct pinfo *r,
	      int n);
int objection_kind(const struct turn *t);
void do_objection(struct turn *t);

/* responder_service.c: scope, service recovery, small talk, greeting, discovery, refusals */
enum refusal {
	REFUSE_NONE,
	REFUSE_DISCOUNT, /* "promise me 50% off", "approve a discount" */
	REFUSE_ROLE,	 /* "pretend you're the store manager" */
	REFUSE_ABSENT,	 /* "book it for my neighbour, she's not here" */
	REFUSE_PRIVACY,	 /* "what did the last customer buy?" */
};

void do_scope(struct turn *t);
void do_recovery_quiet(struct turn *t);
void do_recovery(struct turn *t);
int chat_kind(const struct turn *t);
void back_to_need(struct turn *t);
void do_small_talk(struct turn *t);
void do_greeting(struct turn *t);
void ask_discovery(struct turn *t, int cat);
void do_discovery(struct turn *t);
enum refusal refusal_kind(const struct turn *t);
void do_refusal(struct turn *t, enum refusal kind);

#endif
