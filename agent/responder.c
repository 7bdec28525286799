/*
 * responder — the offline salesperson. The design (moves, phrase banks, the
 * archetype styles, the figure self-check) is in docs/responder.md.
 */
#include "agent/responder.h"

#include "agent/figures.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const struct need_def needs[NEED_COUNT] = {
    [NEED_FAMILY] = {"family",
		     L("family", "household", "everyone at home", "whole house", "all of us"),
		     "family", "So it has to work for the whole family.", "the whole family",
		     "it has to work for the whole family",
		     "Would that work for everyone at home?"},
    [NEED_KIDS] = {"kids",
		   L("kids", "kid", "children", "child", "son", "daughter", "cartoons", "toddler",
		     "little ones"),
		   "kids family", "So the kids are a big part of this.", "the kids",
		   "the kids are a big part of this", "Would that keep the peace at home?"},
    [NEED_TEENS] = {"teens", L("teen", "teens", "teenager", "teenagers", "teenage"), "teenagers",
		    "Teenagers in the house, got it.", "the teenagers",
		    "there are teenagers in the house", "Would that work for the teenagers?"},
    [NEED_SENIORS] = {"seniors",
		      L("mum", "mom", "dad", "mother", "father", "gran", "grandma", "grandad",
			"granddad", "grandparents", "grandmother", "grandfather", "elderly",
			"senior", "seniors", "pensioner"),
		      "seniors simple", "So it's for someone who wants it kept simple.",
		      "someone who wants it kept simple", "it needs to be simple for them",
		      "Does that sound right for them?"},
    [NEED_STREAMING] = {"streaming",
			L("streaming", "stream", "streammax", "netflix", "films", "movies",
			  "series", "box sets"),
			"streaming", "So streaming is a big part of it.",
			"all the streaming you do", "you stream a lot",
			"Would that cover what you watch?"},
    [NEED_SPORTS] = {"sports",
		     L("sport", "sports", "football", "soccer", "basketball", "the game",
		       "the match", "league", "leagues", "rugby", "cricket"),
		     "sports", "So the sport really matters.", "following the sport",
		     "the sport really matters to you", "Does that cover the games you follow?"},
    [NEED_GAMING] = {"gaming",
		     L("gaming", "gamer", "gamers", "games", "console", "ping", "latency", "lag",
		       "xbox", "playstation"),
		     "gaming", "Gaming, so lag really matters.", "gaming",
		     "gaming is a big deal at home", "Would that suit the gaming?"},
    [NEED_WFH] = {"work_from_home",
		  L("work from home", "working from home", "wfh", "home office", "video calls",
		    "zoom", "meetings", "remote work", "work calls"),
		  "work from home", "So it has to hold up for work.", "working from home",
		  "it has to hold up for work", "Would that cover your work calls?"},
    [NEED_BUDGET] = {"budget",
		     L("budget", "cheap", "cheaper", "cheapest", "afford", "affordable",
		       "save money", "saving money", "low cost", "best price", "dont want to spend",
		       "not spend much", "dont spend much", "nothing too expensive",
		       "nothing fancy"),
		     "cheap", "Keeping the cost down, got it.", "keeping the cost down",
		     "you want to keep the cost down", "Does that fit the budget?"},
    [NEED_PREMIUM] = {"premium",
		      L("the best", "top of the range", "premium", "flagship", "fastest",
			"best camera"),
		      "best premium", "So you want the best there is.", "the best there is",
		      "you want the best", "Is that the kind of thing you had in mind?"},
    [NEED_COVERAGE] = {"coverage", L("signal", "coverage", "reception", "no bars"), "5g",
		       "So signal is the sore point.", "good signal",
		       "signal matters where you are", "Would that help with the signal?"},
    [NEED_SPEED] = {"speed",
		    L("slow", "buffering", "buffers", "faster", "speed", "keeps freezing",
		      "freezes"),
		    "fast internet", "So the speed is what lets you down.", "proper speed",
		    "the speed is what lets you down now", "Would that fix the slowdowns?"},
    [NEED_WIFI_RANGE] = {"wifi_range",
			 L("upstairs", "dead spot", "dead spots", "doesnt reach", "dont reach",
			   "every room", "back bedroom", "garden office", "weak wifi", "loft",
			   "mesh"),
			 "mesh dead spots wifi upstairs",
			 "So the Wi-Fi just doesn't reach everywhere.",
			 "Wi-Fi that reaches every room", "the Wi-Fi doesn't reach everywhere",
			 "Would that reach the rooms that struggle now?"},
    [NEED_SECURITY] = {"security",
		       L("burglar", "burglary", "break in", "break ins", "broken into", "parcels",
			 "parcel", "doorbell", "alarm", "security", "peace of mind"),
		       "security", "Peace of mind at home, got it.", "peace of mind at home",
		       "you want peace of mind at home",
		       "Would that give you the peace of mind you're after?"},
    [NEED_TRAVEL] = {"travel",
		     L("travel", "travelling", "traveling", "abroad", "holiday", "holidays",
		       "roaming", "trips", "vacation", "overseas"),
		     "travel roaming", "So you're away a fair bit.", "travelling",
		     "you're away a lot", "Would that cover your trips?"},
    [NEED_SWITCHING] = {"switching",
			L("switch", "switching", "leaving", "currently with", "my provider",
			  "moving from", "contract ends", "contract is up"),
			"", "So you're weighing up a switch.", "a switch",
			"you're weighing up a switch", "Would that make the switch worth it?"},
    [NEED_NEW_HOME] = {"new_home",
		       L("moving house", "moving in", "new home", "new house", "new flat",
			 "new place", "just moved", "moved in"),
		       "new home moving house", "A new home, exciting.", "a new home",
		       "you're setting up a new home", "Would that suit the new place?"},
    [NEED_SMALL_BUSINESS] = {"small_business",
			     L("business", "my shop", "self employed", "home business", "clients"),
			     "home business", "So it's for the business too.",
			     "running the business", "the business depends on it",
			     "Would that hold up for the business?"},
    [NEED_ACCESSIBILITY] = {"accessibility",
			    L("big buttons", "easy to use", "simple", "hearing", "eyesight",
			      "not good with technology", "not techy"),
			    "simple big buttons", "So it needs to be easy to use.",
			    "something easy to use", "it needs to be easy to use",
			    "Does that sound easy enough?"},
    [NEED_DEVICE_UPGRADE] = {"device_upgrade",
			     L("new phone", "upgrade", "upgrading", "old phone", "phone is broken",
			       "cracked screen", "phone is slow"),
			     "new phone", "Time for a new phone, then.", "a new phone",
			     "it's time for a new phone",
			     "Does that sound like the right phone for you?"},
    [NEED_DATA] = {"",
		   L("run out of data", "running out of data", "out of data", "more data",
		     "data runs out", "data allowance", "unlimited data", "no data left"),
		   "unlimited data", "So the data runs out before the month does.",
		   "never running out of data", "you keep running out of data",
		   "Would that stop the data running out?"},
    [NEED_NO_INSTALL] = {"",
			 L("renting", "rented", "rental", "landlord", "no installation",
			   "without installation", "without any installation", "no engineer",
			   "no drilling", "no fibre", "no fiber", "plug and play", "temporary"),
			 "no installation renting plug and play",
			 "So nothing that needs an engineer or drilling.",
			 "a setup with no engineer visit", "you'd rather skip an installation",
			 "Would that work for the place you're in?"},
};

/* Category words: the first thing a message says about what it is about. */
static const char *const *const category_cues[CATALOG_CATEGORY_COUNT] = {
    [CATALOG_CATEGORY_MOBILE] =
	L("phone plan", "mobile plan", "mobile", "sim", "sim only", "data plan", "more data",
	  "run out of data", "running out of data", "unlimited data", "calls and texts", "roaming",
	  "hotspot", "phone bill", "family plan", "5g plan", "lines", "talk and text", "phone",
	  "first phone", "my number", "keep my number", "data", "unlimited"),
    [CATALOG_CATEGORY_BROADBAND] =
	L("internet", "broadband", "wifi", "wi fi", "fibre", "fiber", "router", "buffering",
	  "gaming", "upload", "download", "mesh", "connection", "online", "gigabit", "mbps"),
    [CATALOG_CATEGORY_TV] =
	L("tv", "television", "channels", "channel", "remote", "sport", "sports", "football",
	  "soccer", "basketball", "the game", "the match", "cartoons", "live tv"),
    [CATALOG_CATEGORY_STREAMING] =
	L("streaming", "streammax", "netflix", "arenapass", "films", "movies", "series"),
    [CATALOG_CATEGORY_SECURITY] =
	L("security", "alarm", "doorbell", "burglar", "break in", "break ins", "cameras", "cctv",
	  "smart lock", "parcels", "monitoring", "monitored"),
    [CATALOG_CATEGORY_DEVICES] =
	L("new phone", "a phone", "handset", "smartphone", "iphone", "android", "tablet", "ipad",
	  "touchscreen", "touch screen", "keypad", "smartwatch", "flip phone", "camera phone"),
    [CATALOG_CATEGORY_ADDONS] =
	L("insurance", "phone insurance", "travel pass", "extra line", "add a line",
	  "kids channels", "tv box", "extender", "booster", "device care"),
};

/* How a category is talked about. */
static const struct {
	const char *plural;  /* "phone plans" */
	const char *what;    /* "your phone plan" */
	const char *spend_q; /* asking for the anchor */
	const char *const *discovery;
} category_talk[CATALOG_CATEGORY_COUNT] = {
    [CATALOG_CATEGORY_MOBILE] = {"phone plans", "your phone plan",
				 "What do you pay for your phone plan now, roughly?",
				 L("How do you use your phone most days: lots of streaming and "
				   "maps, or mainly calls and messages?",
				   "Do you tend to run out of data before the month is up?")},
    [CATALOG_CATEGORY_BROADBAND] =
	{"home internet", "the internet at home", "What do you pay for the internet now, roughly?",
	 L("How many of you are online at home on a busy evening?",
	   "When does the internet let you down most: evenings, video calls, or certain rooms?")},
    [CATALOG_CATEGORY_TV] =
	{"TV", "TV at home", "What do you pay for TV and streaming now, roughly?",
	 L("Who's watching at home, and what do they love: sport, films or kids' shows?",
	   "What gets watched most at yours: sport, films, or a bit of everything?")},
    [CATALOG_CATEGORY_STREAMING] = {"streaming", "streaming",
				    "What do you pay for streaming now, roughly?",
				    L("Which streaming services do you pay for at the moment?",
				      "Is it mostly films and series, or live sport as well?")},
    [CATALOG_CATEGORY_SECURITY] =
	{"home security", "security at home", NULL,
	 L("What's prompting it: parcels, break-ins nearby, or someone at home on their own?",
	   "Is it a house or a flat, and do you own it or rent?")},
    [CATALOG_CATEGORY_DEVICES] = {"devices", "a new device",
				  "What would you like to spend on it, roughly?",
				  L("Who's it for, and what will it be used for most?",
				    "What matters most in the next one: the camera, the battery, "
				    "or keeping the price down?")},
    [CATALOG_CATEGORY_ADDONS] = {"add-ons", "an add-on", "What do you pay for it now, roughly?",
				 L("Which plan or device would it go with?",
				   "What would you like it to cover?")},
};

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

static const char *const *const objection_cues[OBJ_COUNT] = {
    [OBJ_PRICE] = L("too expensive", "expensive", "pricey", "too much", "a lot of money",
		    "cant afford", "out of my budget", "over my budget", "over budget", "cheaper",
		    "thats a lot", "seems high", "costs a lot"),
    [OBJ_THINK] =
	L("not sure", "ill think about it", "think about it", "need to think", "sleep on it",
	  "not ready", "not now", "not today", "maybe later", "another time", "i dont know", "hmm"),
    [OBJ_CONTRACT] = L("locked in", "in a contract", "under contract", "tied in",
		       "cancellation fee", "stuck in"),
    [OBJ_PARTNER] = L("check with my", "ask my wife", "ask my husband", "ask my partner",
		      "talk to my", "speak to my"),
    [OBJ_TRUST] = L("whats the catch", "is there a catch", "any catch", "hidden fees",
		    "hidden costs", "dont trust", "bad reviews", "small print"),
    [OBJ_NEED] = L("dont need", "dont want", "dont really need", "happy with what i have",
		   "happy with my", "no thanks", "not interested"),
    [OBJ_HASSLE] = L("too complicated", "too much hassle", "hassle", "complicated"),
    [OBJ_VALUE] = L("is it worth it", "not worth", "worth it"),
};

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

static const char *const *const chat_cues[CHAT_COUNT] = {
    [CHAT_GREET] =
	L("hello", "hi", "hey", "good morning", "good afternoon", "good evening", "hiya"),
    [CHAT_HOWRU] = L("how are you", "hows it going", "hows your day"),
    [CHAT_WEATHER] =
	L("nice day", "lovely day", "the weather", "raining", "cold out", "hot today", "weather"),
    [CHAT_THANKS] = L("thanks", "thank you", "cheers"),
    [CHAT_BYE] = L("bye", "goodbye", "have a nice day", "have a good day", "see you", "see ya"),
    [CHAT_WHO] =
	L("are you a robot", "are you real", "who are you", "whats your name", "are you a person"),
    [CHAT_BROWSE] = L("just looking", "just browsing", "looking around", "killing time"),
    [CHAT_BUSY] = L("busy today", "the weekend"),
    [CHAT_JOKE] = L("joke", "a joke", "make me laugh", "something funny"),
};

enum complaint {
	COMPLAINT_OUTAGE,
	COMPLAINT_WAITING,
	COMPLAINT_BILLING,
	COMPLAINT_TREATED,
	COMPLAINT_OTHER,
};

static const char *const *const complaint_cues[COMPLAINT_OTHER] = {
    [COMPLAINT_OUTAGE] = L("keeps dropping", "keeps cutting out", "not working again",
			   "still not working", "still not fixed", "down again", "stopped working",
			   "no signal", "keeps going off", "not working"),
    [COMPLAINT_WAITING] = L("been waiting", "still waiting", "nobody called", "never called back",
			    "nobody helps", "waste of time", "no one called", "nobody came"),
    [COMPLAINT_BILLING] =
	L("overcharged", "charged twice", "rip off", "ripoff", "scam", "charged me"),
    [COMPLAINT_TREATED] = L("lied to me", "rude", "lied"),
};

static const char *const complaint_ack[COMPLAINT_OTHER + 1] = {
    [COMPLAINT_OUTAGE] = "I'm sorry, a service that keeps letting you down like that isn't okay.",
    [COMPLAINT_WAITING] = "I'm sorry you've been left waiting like that; that isn't okay.",
    [COMPLAINT_BILLING] = "I'm sorry, being charged wrongly is really frustrating.",
    [COMPLAINT_TREATED] = "I'm sorry, that's not how anyone should be treated.",
    [COMPLAINT_OTHER] = "I'm sorry, that sounds really frustrating.",
};

/* Words that say which service a complaint is about (then no question is needed). */
static const char *const *const service_words =
    L("internet", "broadband", "wifi", "wi fi", "fibre", "phone", "mobile", "signal", "tv",
      "television", "channels", "alarm", "camera", "bill", "charged", "connection", "sim", "data",
      "streaming", "box", "router", "installation", "engineer");

static const struct {
	const char *const *cues;
	const char *topic;  /* "A colleague can look at <topic> with you" */
	const char *reason; /* escalate's reason */
} scope_topics[] = {
    {L("my bill", "the bill", "billing", "my invoice", "my payment", "direct debit", "refund",
       "my balance", "top up", "roaming charges", "check my bill", "charged"),
     "your bill", "billing"},
    {L("my data usage", "data left", "how much data do i have"), "your usage", "billing"},
    {L("when does my contract end", "my contract end", "contract end"), "your contract dates",
     "contract_terms"},
    {L("puk", "sim swap", "replace my sim", "unlock my phone", "new sim"), "your SIM",
     "account_change"},
    {L("repair", "warranty claim", "warranty"), "the repair", "technical_fault"},
    {L("my account", "account number", "change my address", "my password", "my pin",
       "check my account"),
     "your account", "account_change"},
};
#define N_SCOPE_TOPICS (sizeof(scope_topics) / sizeof(scope_topics[0]))

/* Yes and no to an offer of ours. */
static const char *const *const yes_words =
    L("yes", "yeah", "yep", "yup", "sure", "ok", "okay", "please", "go ahead", "sounds good",
      "sounds great", "perfect", "great", "lets do it", "lets do that", "do it", "why not",
      "absolutely", "definitely", "of course", "that works", "add it", "go on", "alright",
      "all right", "fine", "deal", "lovely", "brilliant");
static const char *const *const no_words =
    L("no", "nope", "nah", "no thanks", "not now", "not today", "maybe later", "keep it simple",
      "im fine", "im good", "not really", "leave it", "dont", "rather not", "without");

/* Closing cues that are a decision, not just interest. */
static const char *const *const strong_close = L(
    "sign me up", "sign up", "where do i sign", "ill take it", "ill take the", "ill go with",
    "lets go with", "lets do it", "its a deal", "go ahead", "buy it", "ill buy", "order it",
    "im ready", "ready to buy", "ready to switch", "pay now", "pay today", "book the installation",
    "book an installation", "set it up", "get started", "youve got a deal", "i want it",
    "ill have it", "ill have the", "book it", "book it in", "book me in", "lets book",
    "ill sign up", "when can you install", "when can it be installed", "installation date");

static const char *const weekday_names[7] = {"monday", "tuesday",  "wednesday", "thursday",
					     "friday", "saturday", "sunday"};
static const char *const month_names[12] = {"January",	 "February", "March",	 "April",
					    "May",	 "June",     "July",	 "August",
					    "September", "October",  "November", "December"};

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

static void memory_init(struct responder_memory *m)
{
	memset(m, 0, sizeof(*m));
	m->focus_category = -1;
	m->category = -1;
	m->spend_cents = -1;
	m->budget_cents = -1;
}

int responder_memory_new(struct responder_memory **ret)
{
	struct responder_memory *m;

	if (!ret)
		return -EINVAL;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	memory_init(m);
	*ret = m;
	return 0;
}

void responder_memory_free(struct responder_memory *m)
{
	free(m);
}

void responder_memory_reset(struct responder_memory *m)
{
	if (m)
		memory_init(m);
}

const char *responder_memory_focus(const struct responder_memory *m)
{
	return m ? m->focus : "";
}

static bool id_in(const char (*list)[ID_MAX], unsigned n, const char *id)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(list[i], id) == 0)
			return true;
	return false;
}

static void id_add(char (*list)[ID_MAX], unsigned *n, unsigned max, const char *id)
{
	if (!id || !*id || id_in(list, *n, id))
		return;
	if (*n == max) { /* forget the oldest */
		memmove(list[0], list[1], (size_t)(max - 1) * ID_MAX);
		(*n)--;
	}
	snprintf(list[*n], ID_MAX, "%s", id);
	(*n)++;
}

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

/* ---- text helpers ------------------------------------------------------------ */

static uint32_t fnv(uint32_t h, const char *s)
{
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* One of n phrasings, fixed for (turn, product, slot): varied, never random. */
static unsigned pick(const struct turn *t, const char *slot, unsigned n)
{
	char num[16];
	uint32_t h = 2166136261u;

	if (n <= 1)
		return 0;
	snprintf(num, sizeof(num), "%d", t->in->turn);
	h = fnv(h, num);
	h = fnv(h, "|");
	h = fnv(h, t->salt);
	h = fnv(h, "|");
	h = fnv(h, slot);
	return (h >> 7) % n;
}

static unsigned list_len(const char *const *l)
{
	unsigned n = 0;

	while (l && l[n])
		n++;
	return n;
}

static const char *pick_from(const struct turn *t, const char *slot, const char *const *l)
{
	unsigned n = list_len(l);

	return n ? l[pick(t, slot, n)] : "";
}

/* Whole-word phrase in a padded normalised text (" a b c "). Returns the offset or -1. */
static long find_phrase(const char *padded, const char *phrase)
{
	char pat[SIGNALS_MAX_PHRASE + 4];
	const char *p;

	if (snprintf(pat, sizeof(pat), " %s ", phrase) >= (int)sizeof(pat))
		return -1;
	p = strstr(padded, pat);
	return p ? p - padded : -1;
}

static bool has_phrase(const char *padded, const char *phrase)
{
	return find_phrase(padded, phrase) >= 0;
}

/* A cue not cancelled by a negation just before it ("not too expensive"). */
static bool has_cue(const char *padded, const char *phrase)
{
	long off = find_phrase(padded, phrase);
	static const char *const neg[] = {" not ",  " no ",	 " never ", " dont ",
					  " isnt ", " without ", " wont ",  NULL};

	while (off >= 0) {
		long start = off > 14 ? off - 14 : 0;
		char window[20];
		bool negated = false;

		snprintf(window, sizeof(window), "%.*s ", (int)(off - start + 1), padded + start);
		for (const char *const *w = neg; *w; w++)
			negated |= strstr(window, *w) != NULL;
		if (!negated)
			return true;
		{
			const char *next = strstr(padded + off + 1, phrase);

			off = -1;
			while (next) {
				long o = next - padded - 1;

				if (o >= 0 && padded[o] == ' ' && next[strlen(phrase)] == ' ') {
					off = o;
					break;
				}
				next = strstr(next + 1, phrase);
			}
		}
	}
	return false;
}

static bool any_phrase(const char *padded, const char *const *l)
{
	for (; l && *l; l++)
		if (has_phrase(padded, *l))
			return true;
	return false;
}

static bool any_cue(const char *padded, const char *const *l)
{
	for (; l && *l; l++)
		if (has_cue(padded, *l))
			return true;
	return false;
}

/* Blanks every occurrence of the (normalised) phrase in s. */
static bool blank(char *s, const char *phrase)
{
	long off = find_phrase(s, phrase);
	bool any = false;

	while (off >= 0) {
		memset(s + off + 1, '#', strlen(phrase));
		any = true;
		off = find_phrase(s, phrase);
	}
	return any;
}

/* The first word of a padded text, after a link word ("and what ..." -> "what"). */
static void lead_word(const char *padded, char *out, size_t len)
{
	char w[2][32] = {"", ""};

	sscanf(padded, " %31s %31s", w[0], w[1]);
	for (const char *const *l = L("and", "so", "ok", "okay", "but", "also", "oh", "right"); *l;
	     l++)
		if (strcmp(w[0], *l) == 0) {
			snprintf(out, len, "%s", w[1]);
			return;
		}
	snprintf(out, len, "%s", w[0]);
}

/* Normalises s into out as " words " (for has_phrase); "" when it does not fit. */
static void norm_padded(const char *s, size_t len, char *out, size_t outlen)
{
	int n;

	out[0] = '\0';
	if (outlen < 4)
		return;
	n = signals_normalize(s, len, out + 1, outlen - 3);
	if (n < 0) {
		out[0] = '\0';
		return;
	}
	out[0] = ' ';
	out[n + 1] = ' ';
	out[n + 2] = '\0';
}

/* Copies at most max bytes of s, cut at a UTF-8 boundary and a word end. */
static void copy_words(char *dst, size_t dstlen, const char *s, size_t max)
{
	size_t n = strlen(s);

	if (max >= dstlen)
		max = dstlen - 1;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		for (size_t k = n; k > max / 2; k--)
			if (s[k] == ' ') {
				n = k;
				break;
			}
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	for (char *p = dst; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* Characters (not bytes) of UTF-8 s. */
static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Cuts s to at most max characters, at a character boundary. */
static void utf8_cut(char *s, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == max) {
			s[i] = '\0';
			return;
		}
	}
}

/* "$1,099" or "$49.99": the way a person says it. */
static void money(const struct turn *t, int64_t cents, char *buf, size_t len)
{
	uint64_t a = cents < 0 ? (uint64_t)-cents : (uint64_t)cents;
	uint64_t w = a / 100, c = a % 100;
	char digits[40];

	if (w >= 1000)
		snprintf(digits, sizeof(digits), "%llu,%03llu", (unsigned long long)(w / 1000),
			 (unsigned long long)(w % 1000));
	else
		snprintf(digits, sizeof(digits), "%llu", (unsigned long long)w);
	if (c)
		snprintf(buf, len, "%.4s%.16s.%02llu", t->sym, digits, (unsigned long long)c);
	else
		snprintf(buf, len, "%.4s%.16s", t->sym, digits);
}

/* Cents from a tool's money text ("$1,099.00 a month"); -1 when there is none. */
static int64_t money_parse(const char *s)
{
	int64_t w = 0, c = 0;
	int dec = -1;
	bool digits = false;

	if (!s)
		return -1;
	while (*s && !isdigit((unsigned char)*s))
		s++;
	for (; *s; s++) {
		if (isdigit((unsigned char)*s)) {
			digits = true;
			if (dec < 0)
				w = w * 10 + (*s - '0');
			else if (dec < 2) {
				c = c * 10 + (*s - '0');
				dec++;
			}
		} else if (*s == ',' && dec < 0) {
			continue;
		} else if (*s == '.' && dec < 0) {
			dec = 0;
		} else {
			break;
		}
	}
	if (!digits || w > CATALOG_PRICE_MAX_CENTS)
		return -1;
	if (dec == 1)
		c *= 10;
	return w * 100 + c;
}

/* "YYYY-MM-DD" -> "December 1" */
static void date_words(const char *iso, char *buf, size_t len)
{
	int y, mo, d;

	if (sscanf(iso, "%d-%d-%d", &y, &mo, &d) == 3 && mo >= 1 && mo <= 12)
		snprintf(buf, len, "%s %d", month_names[mo - 1], d);
	else
		snprintf(buf, len, "%s", iso);
}

/* The n-th sentence of text (0-based) into out; false when there is none. */
static bool nth_sentence(const char *text, unsigned n, char *out, size_t len)
{
	const char *s = text;

	for (unsigned i = 0;; i++) {
		const char *e = s;

		while (*s == ' ')
			s++;
		if (!*s)
			return false;
		e = s;
		while (*e &&
		       !((*e == '.' || *e == '!' || *e == '?') && (e[1] == '\0' || e[1] == ' ')))
			e++;
		if (*e)
			e++;
		if (i == n) {
			size_t k = (size_t)(e - s);

			if (k >= len)
				k = len - 1;
			memcpy(out, s, k);
			out[k] = '\0';
			return true;
		}
		s = e;
	}
}

/* Does s start with a word that stays capitalised (a name, "I", an acronym)? */
static bool starts_with_name(const struct turn *t, const char *s)
{
	char w[48];
	size_t n = 0;

	while (s[n] && s[n] != ' ' && s[n] != ',' && s[n] != ':' && n < sizeof(w) - 1) {
		w[n] = s[n];
		n++;
	}
	w[n] = '\0';
	if (n == 0)
		return false;
	if (strcmp(w, "I") == 0 || (n > 1 && isupper((unsigned char)w[1])) ||
	    isdigit((unsigned char)w[0]))
		return true;
	for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
		const char *nm = catalog_product_at(t->cat, i)->name;

		if (strncasecmp(nm, w, n) == 0 && (nm[n] == ' ' || nm[n] == '\0'))
			return true;
	}
	for (size_t i = 0; i < catalog_competitor_count(t->cat); i++) {
		const char *nm = catalog_competitor_at(t->cat, i)->name;

		if (strncasecmp(nm, w, n) == 0 && (nm[n] == ' ' || nm[n] == '\0'))
			return true;
	}
	return strcmp(w, catalog_telco(t->cat)->name) == 0;
}

/* s with its first letter lowered, unless it starts with a name. */
static void lower_first(const struct turn *t, char *s)
{
	if (s[0] && isupper((unsigned char)s[0]) && !starts_with_name(t, s))
		s[0] = (char)tolower((unsigned char)s[0]);
}

/* "the Kids Pack", "the Entertainment Bundle", "Fibre 300": how a name sits in a sentence. */
static const char *the(const char *name, char *buf, size_t len)
{
	static const char *const nouns[] = {"Pack",  "Bundle", "Pass",	 "Box", "Add-on",
					    "Point", "Line",   "Camera", NULL};
	const char *last = strrchr(name, ' ');

	last = last ? last + 1 : name;
	for (const char *const *n = nouns; *n; n++)
		if (strcmp(last, *n) == 0) {
			snprintf(buf, len, "the %s", name);
			return buf;
		}
	snprintf(buf, len, "%s", name);
	return buf;
}

/* Drops a final '.', for sentences that get more words. */
static void chop_period(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '.' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/* ---- the reply, sentence by sentence -------------------------------------------- */

static void say(struct turn *t, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct turn *t, int prio, const char *fmt, ...)
{
	struct part *p;
	va_list ap;

	if (t->n_parts == PARTS_MAX)
		return;
	p = &t->parts[t->n_parts];
	va_start(ap, fmt);
	vsnprintf(p->text, sizeof(p->text), fmt, ap);
	va_end(ap);
	if (!p->text[0])
		return;
	p->prio = prio;
	p->question = strchr(p->text, '?') != NULL;
	t->n_parts++;
}

static bool asked(const struct turn *t)
{
	for (unsigned i = 0; i < t->n_parts; i++)
		if (t->parts[i].question)
			return true;
	return false;
}

/* Does a sentence said so far this turn name it? */
static bool named_yet(const struct turn *t, const char *name)
{
	for (unsigned i = 0; i < t->n_parts; i++)
		if (strcasestr(t->parts[i].text, name))
			return true;
	return false;
}

/* Ask one question, unless one is already asked this reply. */
static bool ask(struct turn *t, const char *q)
{
	if (asked(t) || !q || !*q)
		return false;
	say(t, 0, "%s", q);
	return true;
}

static void talking_point(struct turn *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void talking_point(struct turn *t, const char *fmt, ...)
{
	va_list ap;

	if (t->tp >= 3)
		return;
	va_start(ap, fmt);
	vsnprintf(t->out->talking_points[t->tp], sizeof(t->out->talking_points[0]), fmt, ap);
	va_end(ap);
	if (t->out->talking_points[t->tp][0])
		t->tp++;
}

static void action(struct turn *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void action(struct turn *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->out->next_best_action, sizeof(t->out->next_best_action), fmt, ap);
	va_end(ap);
}

static void suggest(struct turn *t, const char *a, const char *b, const char *c)
{
	const char *v[3] = {a, b, c};

	for (int i = 0; i < 3; i++)
		snprintf(t->out->suggestions[i], sizeof(t->out->suggestions[0]), "%s",
			 v[i] ? v[i] : "");
}

static void set_focus(struct turn *t, const char *id, bool card)
{
	const struct catalog_product *p = id ? catalog_product_find(t->cat, id) : NULL;

	if (!p)
		return;
	snprintf(t->m->focus, sizeof(t->m->focus), "%s", p->id);
	t->m->focus_category = (int)p->category;
	t->m->category = (int)p->category;
	id_add(t->m->presented, &t->m->n_presented, RESPONDER_MEMORY_PRODUCTS, p->id);
	if (card)
		snprintf(t->out->card_product, sizeof(t->out->card_product), "%s", p->id);
	snprintf(t->salt, sizeof(t->salt), "%s", p->id);
}

/* A promotion said this turn: remembered, so "how long does that last?" is about it. */
static void promo_said(struct turn *t, const char *id)
{
	id_add(t->m->promos_said, &t->m->n_promos_said, RESPONDER_MEMORY_OFFERS, id);
	t->m->promo_turn = t->in->turn;
}

/* ---- tools ------------------------------------------------------------------------ */

static unsigned calls_left(const struct turn *t)
{
	const struct tools_ctx *c = t->in->tools;
	unsigned max = c->max_calls_per_turn ? c->max_calls_per_turn : TOOLS_DEFAULT_MAX_CALLS;

	if (max > TOOLS_MAX_CALLS_LIMIT)
		max = TOOLS_MAX_CALLS_LIMIT;
	return c->calls_this_turn >= max ? 0 : max - c->calls_this_turn;
}

/*
 * Calls a tool with args (consumed) through tools_call, within what the
 * per-turn cap has left (keep: calls to leave for later, essential steps).
 * On success *ret holds the parsed result (cJSON_Delete it).
 */
static int tool(struct turn *t, const char *name, cJSON *args, unsigned keep, cJSON **ret)
{
	char *a, *res = NULL;
	int r;

	*ret = NULL;
	if (!args) {
		t->err = -ENOMEM;
		return -ENOMEM;
	}
	if (calls_left(t) <= keep || !tools_allowed(tools_find(name), t->in->tools->state)) {
		cJSON_Delete(args);
		return calls_left(t) <= keep ? -EAGAIN : -EPERM;
	}
	a = cJSON_PrintUnformatted(args);
	cJSON_Delete(args);
	if (!a) {
		t->err = -ENOMEM;
		return -ENOMEM;
	}
	t->out->tool_calls++;
	r = tools_call(t->in->tools, name, a, &res);
	free(a);
	if (r == -ENOMEM) {
		t->err = -ENOMEM;
		free(res);
		return r;
	}
	if (r == 0) {
		*ret = cJSON_Parse(res);
		if (!*ret)
			r = -EIO;
	}
	free(res);
	return r;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void jcopy(char *dst, size_t len, const cJSON *o, const char *key)
{
	const char *s = jstr(o, key);

	snprintf(dst, len, "%s", s ? s : "");
}

static int jint(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

static int contract_months(const char *s)
{
	return s && isdigit((unsigned char)*s) ? atoi(s) : 0;
}

/* The fields a search result or get_product gives. */
static void pinfo_common(struct turn *t, const cJSON *o, struct pinfo *pi)
{
	const char *pm = jstr(o, "pay_monthly");

	jcopy(pi->id, sizeof(pi->id), o, "id");
	jcopy(pi->name, sizeof(pi->name), o, "name");
	pi->p = catalog_product_find(t->cat, pi->id);
	pi->price_cents = money_parse(jstr(o, "price"));
	pi->monthly = jstr(o, "price") && strstr(jstr(o, "price"), "a month");
	if (pm) {
		pi->monthly_cents = money_parse(pm);
		{
			const char *f = strstr(pm, " for ");

			pi->pay_months = f ? atoi(f + 5) : 0;
		}
	}
	pi->contract_months = contract_months(jstr(o, "contract"));
	jcopy(pi->best_for, sizeof(pi->best_for), o, "best_for");
	pi->ok = pi->p && pi->name[0] && pi->price_cents >= 0;
}

static void pinfo_parse(struct turn *t, const cJSON *o, struct pinfo *pi)
{
	const cJSON *it, *arr;

	memset(pi, 0, sizeof(*pi));
	pinfo_common(t, o, pi);
	pi->full = true;
	pi->setup_cents = money_parse(jstr(o, "setup_fee"));
	if (pi->setup_cents < 0)
		pi->setup_cents = 0;
	jcopy(pi->value_story, sizeof(pi->value_story), o, "value_story");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "specs"))
	{
		if (pi->n_specs < SPECS_MAX && cJSON_IsString(it)) {
			snprintf(pi->specs[pi->n_specs].label, sizeof(pi->specs[0].label), "%s",
				 it->string);
			snprintf(pi->specs[pi->n_specs].value, sizeof(pi->specs[0].value), "%s",
				 it->valuestring);
			pi->n_specs++;
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "features"))
	{
		if (pi->n_features < CATALOG_LIST_MAX && cJSON_IsString(it))
			snprintf(pi->features[pi->n_features++], sizeof(pi->features[0]), "%s",
				 it->valuestring);
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "common_questions"))
	{
		if (pi->n_qa < QA_MAX) {
			jcopy(pi->qa[pi->n_qa].q, sizeof(pi->qa[0].q), it, "q");
			jcopy(pi->qa[pi->n_qa].a, sizeof(pi->qa[0].a), it, "a");
			pi->n_qa++;
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "cross_sells"))
	{
		struct xsell *x = &pi->xs[pi->n_xs];

		if (pi->n_xs == XS_MAX)
			break;
		jcopy(x->id, sizeof(x->id), it, "id");
		jcopy(x->name, sizeof(x->name), it, "name");
		jcopy(x->why, sizeof(x->why), it, "why");
		x->cents = money_parse(jstr(it, "price"));
		x->monthly = jstr(it, "price") && strstr(jstr(it, "price"), "a month");
		if (x->id[0] && x->cents >= 0)
			pi->n_xs++;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "extra_charges"))
	{
		if (pi->n_charges < 8) {
			jcopy(pi->charge_what[pi->n_charges], sizeof(pi->charge_what[0]), it,
			      "what");
			pi->charge_cents[pi->n_charges] = money_parse(jstr(it, "amount"));
			if (pi->charge_cents[pi->n_charges] >= 0)
				pi->n_charges++;
		}
	}
	arr = cJSON_GetObjectItemCaseSensitive(o, "promotions");
	cJSON_ArrayForEach(it, arr)
	{
		struct promo *pr = &pi->promos[pi->n_promos];

		if (pi->n_promos == PROMOS_MAX)
			break;
		jcopy(pr->id, sizeof(pr->id), it, "id");
		jcopy(pr->name, sizeof(pr->name), it, "name");
		jcopy(pr->description, sizeof(pr->description), it, "description");
		jcopy(pr->ends, sizeof(pr->ends), it, "ends");
		pr->promo_cents = money_parse(jstr(it, "promo_price"));
		pr->monthly = jstr(it, "promo_price") && strstr(jstr(it, "promo_price"), "a month");
		pr->months = jint(it, "for_months");
		if (pr->id[0] && pr->promo_cents >= 0)
			pi->n_promos++;
	}
}

static int get_product(struct turn *t, const char *id, unsigned keep, struct pinfo *pi)
{
	cJSON *args = cJSON_CreateObject(), *res;
	int r;

	memset(pi, 0, sizeof(*pi));
	if (args && !cJSON_AddStringToObject(args, "product_id", id)) {
		cJSON_Delete(args);
		args = NULL;
	}
	r = tool(t, "get_product", args, keep, &res);
	if (r == 0) {
		pinfo_parse(t, res, pi);
		if (!pi->ok)
			r = -EIO;
	}
	cJSON_Delete(res);
	return r;
}

/*
 * search_products with the customer's words (plus the words of the needs
 * heard), in category (or -1), up to budget. Fills up to max results.
 */
static int search_run(struct turn *t, const char *q, int category, int64_t budget, unsigned keep,
		      struct pinfo *out, unsigned max);

static int search(struct turn *t, int category, int64_t budget, unsigned keep, struct pinfo *out,
		  unsigned max, bool words)
{
	char q[QUERY_MAX + 1], raw[QUERY_MAX + 1];
	size_t off;

	/* the need words first (they carry the catalog's own keywords), then theirs */
	q[0] = '\0';
	off = 0;
	for (int i = 0; i < NEED_COUNT; i++) {
		if (!((t->tags | t->m->needs) & NB(i)) || !needs[i].query[0])
			continue;
		if (off + strlen(needs[i].query) + 2 >= 120)
			break;
		off += (size_t)snprintf(q + off, sizeof(q) - off, "%s%s", off ? " " : "",
					needs[i].query);
	}
	{
		/* their words, without the asking ("do you sell") or a competitor's names */
		static const char *const filler[] = {"do you sell",
						     "do you have",
						     "do you do",
						     "what do you have",
						     "what do you offer",
						     "what have you got",
						     "have you got",
						     "looking for",
						     "looking at",
						     "interested in",
						     "tell me about",
						     "tell me more",
						     "i need a",
						     "i need an",
						     "i want a",
						     "i want an",
						     "id like a",
						     "can i get",
						     "can i have",
						     "please",
						     NULL};
		char words_only[NORM_MAX];
		size_t w = 0;

		snprintf(words_only, sizeof(words_only), "%s", t->masked);
		for (const char *const *f = filler; *f; f++)
			blank(words_only, *f);
		for (size_t i = 0; words_only[i]; i++) {
			char c = words_only[i] == '#' || words_only[i] == ',' ? ' ' : words_only[i];

			if (c == ' ' && (w == 0 || words_only[w - 1] == ' '))
				continue;
			words_only[w++] = c;
		}
		while (w && words_only[w - 1] == ' ')
			w--;
		words_only[w] = '\0';
		copy_words(raw, sizeof(raw), words_only, QUERY_MAX - off - 1);
	}
	if (raw[0] && off + 1 + strlen(raw) <= QUERY_MAX)
		snprintf(q + off, sizeof(q) - off, "%s%s", off ? " " : "", raw);
	if (!words)
		q[0] = '\0'; /* everything that passes the filters, cheapest first */
	return search_run(t, q, category, budget, keep, out, max);
}

/* search_products with query q ("" none); fills up to max results, returns how many. */
static int search_run(struct turn *t, const char *q, int category, int64_t budget, unsigned keep,
		      struct pinfo *out, unsigned max)
{
	cJSON *args = cJSON_CreateObject(), *res, *it;
	unsigned n = 0;
	int r;

	if (args) {
		if (q[0])
			cJSON_AddStringToObject(args, "query", q);
		if (category >= 0)
			cJSON_AddStringToObject(
			    args, "category",
			    catalog_category_name((enum catalog_category)category));
		if (budget > 0)
			cJSON_AddNumberToObject(args, "max_price", (double)budget / 100.0);
		cJSON_AddNumberToObject(args, "max_results", 5);
	}
	r = tool(t, "search_products", args, keep, &res);
	if (r < 0)
		return r;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "results"))
	{
		if (n == max)
			break;
		memset(&out[n], 0, sizeof(out[n]));
		pinfo_common(t, it, &out[n]);
		jcopy(out[n].promotion_name, sizeof(out[n].promotion_name), it, "promotion");
		if (out[n].ok)
			n++;
	}
	cJSON_Delete(res);
	return (int)n;
}

/* ---- reading the message --------------------------------------------------------- */

static bool signal_on(const struct turn *t, enum signal s)
{
	return t->in->signals && (t->in->signals->mask & SIGNAL_BIT(s));
}

static bool skill_on(const struct turn *t, const char *id)
{
	int i;

	if (!t->in->skills || !t->in->selection)
		return true;
	i = skills_find(t->in->skills, id);
	return i >= 0 && skills_selected(t->in->selection, (size_t)i);
}

static void read_competitor(struct turn *t)
{
	char nm[NORM_MAX];
	size_t best_len = 0;

	snprintf(t->masked, sizeof(t->masked), "%s", t->norm);
	/* offers first (the longest names), then names and aliases */
	for (size_t i = 0; i < catalog_competitor_count(t->cat); i++) {
		const struct catalog_competitor *k = catalog_competitor_at(t->cat, i);

		for (size_t j = 0; j < k->n_offers; j++) {
			norm_padded(k->offers[j].name, strlen(k->offers[j].name), nm, sizeof(nm));
			chop_period(nm);
			if (!nm[0] || !blank(t->masked, nm + 1))
				continue;
			if (t->n_offers < 4)
				t->offers[t->n_offers++] = &k->offers[j];
			if (strlen(nm) > best_len) {
				t->comp = k;
				t->comp_offer = &k->offers[j];
				best_len = strlen(nm);
			}
		}
	}
	for (size_t i = 0; i < catalog_competitor_count(t->cat); i++) {
		const struct catalog_competitor *k = catalog_competitor_at(t->cat, i);

		for (size_t j = 0; j <= k->n_aliases; j++) {
			const char *a = j == 0 ? k->name : k->aliases[j - 1];

			norm_padded(a, strlen(a), nm, sizeof(nm));
			chop_period(nm);
			if (nm[0] && blank(t->masked, nm + 1) && !t->comp)
				t->comp = k;
		}
	}
	if (!t->comp && t->in->signals && t->in->signals->n_competitors)
		t->comp = catalog_competitor_find(t->cat, t->in->signals->competitors[0]);
	/* every provider named counts as one they use or considered */
	for (size_t i = 0; i < catalog_competitor_count(t->cat); i++) {
		const struct catalog_competitor *k = catalog_competitor_at(t->cat, i);

		for (size_t j = 0; j <= k->n_aliases; j++) {
			const char *a = j == 0 ? k->name : k->aliases[j - 1];

			norm_padded(a, strlen(a), nm, sizeof(nm));
			chop_period(nm);
			if (nm[0] && has_phrase(t->norm, nm + 1))
				id_add(t->m->competitors_heard, &t->m->n_competitors_heard,
				       RESPONDER_MEMORY_OFFERS, k->id);
		}
	}
}

/* A product named outright ("Fibre 500", "the Family Plus"): the earliest, longest. */
static void read_product(struct turn *t)
{
	struct {
		long off;
		size_t len;
		const struct catalog_product *p;
	} hit[16];
	unsigned n = 0;
	char nm[NORM_MAX];

	snprintf(t->plain, sizeof(t->plain), "%s", t->masked);
	for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
		const struct catalog_product *p = catalog_product_at(t->cat, i);
		const char *cands[2] = {p->name, NULL};

		/* "Family Plus" for "TV Family Plus": the name without its first word,
		 * when two or more words remain and they are not everyday words */
		{
			const char *sp = strchr(p->name, ' ');
			static const char *const generic[] = {"home", "internet", "phone", "plan",
							      "tv",   "data",	  "line",  "for",
							      "and",  "box",	  "x",	   NULL};

			if (sp && strchr(sp + 1, ' ')) {
				char suffix[NORM_MAX];
				bool gen = false;

				norm_padded(sp + 1, strlen(sp + 1), suffix, sizeof(suffix));
				for (const char *const *g = generic; *g && !gen; g++)
					gen = has_phrase(suffix, *g);
				if (!gen)
					cands[1] = sp + 1;
			}
		}
		for (int c = 0; c < 2 && cands[c]; c++) {
			long off;

			norm_padded(cands[c], strlen(cands[c]), nm, sizeof(nm));
			chop_period(nm);
			if (!nm[0])
				continue;
			off = find_phrase(t->masked, nm + 1);
			if (off >= 0 && n < 16) {
				hit[n].off = off;
				hit[n].len = strlen(nm + 1);
				hit[n].p = p;
				n++;
			}
		}
	}
	/* the earliest, longest mention; then the next one outside it */
	for (unsigned i = 0; i < n; i++) {
		unsigned best = i;

		for (unsigned j = i + 1; j < n; j++)
			if (hit[j].off < hit[best].off ||
			    (hit[j].off == hit[best].off && hit[j].len > hit[best].len))
				best = j;
		if (best != i) {
			__typeof__(hit[0]) x = hit[i];

			hit[i] = hit[best];
			hit[best] = x;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		bool inside = false;

		for (unsigned j = 0; j < i; j++)
			inside |= hit[i].off < hit[j].off + (long)hit[j].len + 1 &&
				  hit[i].off >= hit[j].off;
		if (inside)
			continue;
		memset(t->plain + hit[i].off + 1, '#', hit[i].len);
		if (!t->named)
			t->named = hit[i].p;
		else if (!t->named2 && hit[i].p != t->named)
			t->named2 = hit[i].p;
	}
	/* "what upload does the 500 give?": the plan of the category in focus whose
	 * name ends in that number */
	for (size_t i = 0; i < catalog_product_count(t->cat) && !t->named && t->m->focus[0]; i++) {
		const struct catalog_product *p = catalog_product_at(t->cat, i);
		const char *last = strrchr(p->name, ' ');
		char ph[32];
		long off;

		if ((int)p->category != t->m->focus_category || !last ||
		    !isdigit((unsigned char)last[1]) || strlen(last + 1) > 8)
			continue;
		snprintf(ph, sizeof(ph), "the %s", last + 1);
		off = find_phrase(t->plain, ph);
		if (off >= 0) {
			t->named = p;
			memset(t->plain + off + 1, '#', strlen(ph));
		}
	}
}

static void read_category(struct turn *t)
{
	int best = -1;
	unsigned best_n = 0;
	long best_off = 0;

	if (t->named) {
		t->category = (int)t->named->category;
		return;
	}
	for (int c = 0; c < CATALOG_CATEGORY_COUNT; c++) {
		unsigned n = 0;
		long first = -1;

		for (const char *const *w = category_cues[c]; *w; w++) {
			char pl[SIGNALS_MAX_PHRASE + 2];
			long off = find_phrase(t->masked, *w);

			if (off < 0 && snprintf(pl, sizeof(pl), "%ss", *w) < (int)sizeof(pl))
				off = find_phrase(t->masked, pl);

			if (off >= 0) {
				n++;
				if (first < 0 || off < first)
					first = off;
			}
		}
		if (n && (best < 0 || n > best_n || (n == best_n && first < best_off))) {
			best = c;
			best_n = n;
			best_off = first;
		}
	}
	t->category = best;
	/* how they use it ("streaming on the train", "gaming") is not a new subject
	 * while something is on the table */
	if (best >= 0 && t->m->focus[0] && best != t->m->focus_category) {
		static const char *const weak[] = {
		    "streaming", "films",    "movies",	   "series",	 "gaming",    "online",
		    "upload",	 "download", "connection", "data",	 "unlimited", "sport",
		    "sports",	 "football", "soccer",	   "basketball", "the game",  "the match",
		    "cartoons",	 "roaming",  "hotspot",	   "lines",	 NULL};
		char strong[NORM_MAX];
		bool any = false;

		snprintf(strong, sizeof(strong), "%s", t->masked);
		for (const char *const *w = weak; *w; w++)
			blank(strong, *w);
		for (const char *const *w = category_cues[best]; *w && !any; w++) {
			char pl[SIGNALS_MAX_PHRASE + 2];

			any = has_phrase(strong, *w) ||
			      (snprintf(pl, sizeof(pl), "%ss", *w) < (int)sizeof(pl) &&
			       has_phrase(strong, pl));
		}
		if (!any)
			t->category = t->m->focus_category;
	}
	/* internet and TV (or streaming) together: the bundles live under streaming */
	{
		bool net = false, tv = false;

		for (const char *const *w = category_cues[CATALOG_CATEGORY_BROADBAND]; *w; w++)
			net |= has_phrase(t->masked, *w);
		for (const char *const *w = category_cues[CATALOG_CATEGORY_TV]; *w; w++)
			tv |= has_phrase(t->masked, *w);
		if (net && tv)
			t->category = CATALOG_CATEGORY_STREAMING;
	}
}

/* "five of us", "a family of 4", "six people": how many they are. */
static void read_people(struct turn *t)
{
	static const char *const nums[] = {"two",   "three", "four", "five", "six",
					   "seven", "eight", "nine", "ten",  NULL};
	static const char *const fmts[] = {"%s of us",	       "family of %s",	  "%s people",
					   "%s in the family", "household of %s", NULL};

	/* "he's 12", "she's 78": an age says who it is for */
	for (const char *const *f = L("hes", "shes", "aged", "im"); *f; f++) {
		long off = find_phrase(t->norm, *f);
		int age;

		if (off >= 0 && sscanf(t->norm + off + strlen(*f) + 1, "%d", &age) == 1) {
			if (age >= 3 && age <= 12)
				t->tags |= NB(NEED_KIDS);
			else if (age >= 13 && age <= 19)
				t->tags |= NB(NEED_TEENS);
			else if (age >= 65 && age <= 110)
				t->tags |= NB(NEED_SENIORS);
		}
	}
	for (int i = 0; nums[i]; i++)
		for (const char *const *f = fmts; *f; f++) {
			char w[4], ph[40];

			snprintf(w, sizeof(w), "%d", i + 2);
			snprintf(ph, sizeof(ph), *f, nums[i]);
			if (has_phrase(t->norm, ph) && i + 2 > t->people)
				t->people = i + 2;
			snprintf(ph, sizeof(ph), *f, w);
			if (has_phrase(t->norm, ph) && i + 2 > t->people)
				t->people = i + 2;
		}
}

static void read_needs(struct turn *t)
{
	for (int i = 0; i < NEED_COUNT; i++)
		if (any_cue(t->plain, needs[i].cues))
			t->tags |= NB(i);
	/* "how much" is a question, not a budget */
	if (t->comp)
		t->tags |= NB(NEED_SWITCHING);
	/* three or more of them: a household to plan for */
	if (t->people >= 3)
		t->tags |= NB(NEED_FAMILY);
}

/*
 * The amount right after word in a padded text ("pay about 50 now" -> 5000
 * cents), when nothing after it makes it another unit ("50 gb"); -1 none.
 */
static int64_t bare_amount(const char *padded, const char *word)
{
	static const char *const soft[] = {"about", "around", "roughly", "only",
					   "just",  "like",   "of",	 NULL};
	static const char *const after[] = {
	    "now", "a",	 "per", "monthly", "each", "every",   "for",   "with", "to", "and",
	    "at",  "on", "but", "or",	   "in",   "dollars", "bucks", ",",    NULL};
	long off = find_phrase(padded, word);
	const char *p, *e;
	char next[16] = "";
	bool ok;
	int64_t c;

	if (off < 0)
		return -1;
	p = padded + off + 1 + strlen(word) + 1;
	for (const char *const *x = soft; *x; x++)
		if (strncmp(p, *x, strlen(*x)) == 0 && p[strlen(*x)] == ' ') {
			p += strlen(*x) + 1;
			break;
		}
	if (!isdigit((unsigned char)*p))
		return -1;
	c = money_parse(p);
	for (e = p; isdigit((unsigned char)*e) || *e == '.'; e++)
		;
	sscanf(e, " %15s", next);
	ok = !next[0];
	for (const char *const *x = after; *x && !ok; x++)
		ok = strcmp(next, *x) == 0;
	return ok && c > 0 && c <= 100000 ? c : -1;
}

/* Money the customer mentions: what they pay now, or the most they want to pay. */
static void read_money(struct turn *t)
{
	struct figures_item it[8];
	int n = figures_extract(t->raw, t->sym, it, 8);
	static const char *const budget_w[] = {"budget", "under",   "up to",	 "no more than",
					       "max",	 "maximum", "less than", "below",
					       "spend",	 NULL};
	static const char *const spend_w[] = {"pay",	"paying",  "bill",	"costs me",
					      "charge", "charged", "currently", "spending",
					      "now",	NULL};

	for (int i = 0; i < n; i++) {
		char before[64];
		size_t s = it[i].offset > 40 ? it[i].offset - 40 : 0;
		bool b = false, p = false;

		if (it[i].unit != CATALOG_UNIT_MONEY || it[i].centi <= 0 || it[i].centi > 1000000)
			continue;
		snprintf(before, sizeof(before), "%.*s", (int)(it[i].offset - s), t->raw + s);
		for (char *c = before; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (const char *const *w = budget_w; *w; w++)
			b |= strstr(before, *w) != NULL;
		for (const char *const *w = spend_w; *w; w++)
			p |= strstr(before, *w) != NULL;
		if (strstr(before, "spend") && !strstr(before, "want") && !strstr(before, "budget"))
			b = false, p = true;
		{
			bool monthly =
			    it[i].flags & FIGURES_MONTHLY || strstr(t->norm, " a month ") ||
			    strstr(t->norm, " monthly ") || strstr(t->norm, " per month ");
			bool one_off = strstr(before, "install") || strstr(before, "setup") ||
				       strstr(before, "set up") || strstr(before, "upfront") ||
				       strstr(before, "fee") || strstr(t->norm, " install ") ||
				       strstr(t->norm, " installation ") ||
				       strstr(t->norm, " setup ") || strstr(t->norm, " fee ");

			if (b && !(p && t->comp))
				t->budget = it[i].centi;
			else if (!one_off && (p || monthly || t->m->spend_asked))
				t->spend = it[i].centi;
			else
				continue; /* "is it $40?", "$199 to install": not their monthly bill
					   */
		}
		break;
	}
	/* "we only pay 50 now", "my budget is 300": an amount without its currency,
	 * right after paying or a limit */
	for (const char *const *w = L("pay", "paying", "paid"); *w && t->spend < 0 && t->budget < 0;
	     w++)
		t->spend = bare_amount(t->norm, *w);
	for (const char *const *w = L("budget is", "budget of", "under", "up to", "no more than",
				      "less than", "max", "spend");
	     *w && t->spend < 0 && t->budget < 0; w++)
		t->budget = bare_amount(t->norm, *w);
}

static void read_day(struct turn *t)
{
	int32_t today = t->in->tools->today;

	t->day = -1;
	if (has_phrase(t->norm, "today"))
		t->day = today;
	else if (has_phrase(t->norm, "tomorrow"))
		t->day = today + 1;
	else if (has_phrase(t->norm, "weekend") || has_phrase(t->norm, "this weekend"))
		t->day = today + (5 - catalog_date_weekday(today) + 7) % 7;
	for (int i = 0; i < 7 && t->day < 0; i++) {
		char abbr[4];

		snprintf(abbr, sizeof(abbr), "%.3s", weekday_names[i]);
		if (has_phrase(t->norm, weekday_names[i]) ||
		    (i != 6 && i != 0 && has_phrase(t->norm, abbr))) {
			int d = (i - catalog_date_weekday(today) + 7) % 7;

			t->day = today + (d ? d : 7);
		}
	}
	if (has_phrase(t->norm, "morning"))
		t->time = "morning";
	else if (has_phrase(t->norm, "afternoon") || has_phrase(t->norm, "lunchtime"))
		t->time = "afternoon";
	else if (has_phrase(t->norm, "evening") || has_phrase(t->norm, "after work"))
		t->time = "evening";
}

/* The archetype directive's words become styles; the tier sets how firmly to close. */
static void read_archetype(struct turn *t)
{
	static const struct {
		const char *words;
		unsigned style;
	} map[] = {
	    {"comparison math", STYLE_COMPARE},
	    {"compare like with like", STYLE_COMPARE},
	    {"one or two sentences", STYLE_SHORT},
	    {"answer first", STYLE_SHORT},
	    {"brisk", STYLE_SHORT},
	    {"skip the tour", STYLE_SHORT},
	    {"skip the tour", STYLE_NO_EXTRAS},
	    {"respect their time", STYLE_NO_EXTRAS},
	    {"the spec", STYLE_SPEC},
	    {"specs", STYLE_SPEC},
	    {"no pitch", STYLE_NO_CLOSE},
	    {"no close", STYLE_NO_CLOSE},
	    {"sell nothing", STYLE_NO_SELL},
	    {"never sell", STYLE_NO_SELL},
	    {"two-visit", STYLE_SOFT},
	    {"no pressure", STYLE_SOFT},
	    {"decision later", STYLE_SOFT},
	    {"next step in this visit", STYLE_HARD},
	    {"fastest next step", STYLE_HARD},
	    {"upgrade this visit", STYLE_HARD},
	    {"loyalty", STYLE_LOYAL},
	    {"existing customer", STYLE_LOYAL},
	    {"someone else", STYLE_COMPANION},
	    {"who will use it", STYLE_COMPANION},
	    {"switching", STYLE_SWITCH},
	    {"switch", STYLE_SWITCH},
	    {"no small talk", STYLE_NO_CHAT},
	};
	const char *d;
	char low[ARCHETYPE_DIRECTIVE_LINES * (ARCHETYPE_MAX_DIRECTIVE_LINE + 2)];

	t->tier = -1;
	if (!t->in->archetypes || t->in->archetype < 0 ||
	    (size_t)t->in->archetype >= archetype_count(t->in->archetypes))
		return;
	t->tier = (int)archetype_tier(t->in->archetypes, (size_t)t->in->archetype);
	d = archetype_directive(t->in->archetypes, (size_t)t->in->archetype);
	snprintf(low, sizeof(low), "%s", d ? d : "");
	for (char *c = low; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(low, map[i].words))
			t->style |= map[i].style;
	switch ((enum archetype_tier)t->tier) {
	case ARCHETYPE_TIER_SERVICE_RECOVERY:
		t->style |= STYLE_NO_SELL;
		break;
	case ARCHETYPE_TIER_HIGH:
		t->style |= STYLE_HARD;
		break;
	case ARCHETYPE_TIER_MEDIUM:
		break;
	case ARCHETYPE_TIER_LOW:
		t->style |= STYLE_NO_CLOSE;
		t->style &= ~(unsigned)STYLE_HARD;
		break;
	}
	if (t->style & STYLE_NO_CLOSE)
		t->style &= ~(unsigned)STYLE_HARD;
}

static void read_skills(struct turn *t)
{
	const struct skills_selection *sel = t->in->selection;

	t->sk_recovery =
	    (sel && t->in->skills) ? sel->service_recovery : signal_on(t, SIGNAL_COMPLAINT);
	t->sk_objection = skill_on(t, "objection_handling");
	t->sk_compare = skill_on(t, "competitive_response");
	t->sk_closing = skill_on(t, "closing");
	t->sk_cross = skill_on(t, "cross_sell");
	t->sk_promos = skill_on(t, "promotions");
	t->sk_small = skill_on(t, "small_talk");
	t->sk_scope = skill_on(t, "scope_boundaries");
	t->sk_present = skill_on(t, "product_presentation");
}

static void read_message(struct turn *t)
{
	const char *txt = t->raw;

	norm_padded(txt, strlen(txt), t->norm, sizeof(t->norm));
	for (const char *c = t->norm; *c; c++)
		if (*c == ' ' && c[1] && c[1] != ' ')
			t->words++;
	{
		char first[32];

		lead_word(t->norm, first, sizeof(first));
		t->question = strchr(txt, '?') != NULL;
		for (const char *const *w = L("what", "how", "does", "do", "is", "can", "which",
					      "are", "will", "whats", "hows", "could", "would");
		     *w && !t->question; w++)
			t->question = strcmp(first, *w) == 0;
	}
	t->spend = t->budget = -1;
	read_competitor(t);
	read_product(t);
	read_category(t);
	read_people(t);
	read_needs(t);
	read_money(t);
	read_day(t);
	read_archetype(t);
	read_skills(t);
}

static const char *visitor_name(const struct turn *t)
{
	const char *n = t->in->visitor ? t->in->visitor->name : NULL;

	return n && *n && strlen(n) < 40 ? n : NULL;
}

/* ---- needs: record them, say them back -------------------------------------------- */

static int first_need(unsigned tags)
{
	/* the order that best says what the customer is after */
	static const enum need order[] = {
	    NEED_WIFI_RANGE,	 NEED_DATA,	     NEED_NO_INSTALL, NEED_WFH,
	    NEED_GAMING,	 NEED_SPEED,	     NEED_KIDS,	      NEED_TEENS,
	    NEED_SENIORS,	 NEED_ACCESSIBILITY, NEED_SPORTS,     NEED_STREAMING,
	    NEED_TRAVEL,	 NEED_SECURITY,	     NEED_NEW_HOME,   NEED_FAMILY,
	    NEED_SMALL_BUSINESS, NEED_COVERAGE,	     NEED_PREMIUM,    NEED_DEVICE_UPGRADE,
	    NEED_BUDGET,	 NEED_SWITCHING,
	};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (tags & NB(order[i]))
			return (int)order[i];
	return -1;
}

/* record_need with the customer's words, when this message says something new. */
static void record(struct turn *t, const char *product_id)
{
	unsigned fresh = t->tags & ~t->m->needs_recorded;
	bool money = t->spend > 0 || t->budget > 0;
	cJSON *args, *tags, *res = NULL;
	char need[NEED_TEXT_MAX * 4 + 64], words[NEED_TEXT_MAX * 4 + 1];

	if (!fresh && !money && !(t->comp && !t->m->competitor[0]))
		return;
	copy_words(words, sizeof(words), t->raw, 3 * 250);
	utf8_cut(words, 250);
	if (utf8_len(words) < 3)
		return;
	snprintf(need, sizeof(need), "In their words: %.1000s", words);
	args = cJSON_CreateObject();
	if (!args)
		goto oom;
	cJSON_AddStringToObject(args, "need", need);
	tags = cJSON_AddArrayToObject(args, "tags");
	for (int i = 0, n = 0; i < NEED_COUNT && n < 6 && tags; i++)
		if (t->tags & NB(i) && needs[i].tag[0]) {
			cJSON_AddItemToArray(tags, cJSON_CreateString(needs[i].tag));
			n++;
		}
	if (product_id && *product_id && catalog_product_find(t->cat, product_id)) {
		cJSON *ids = cJSON_AddArrayToObject(args, "product_ids");

		if (ids)
			cJSON_AddItemToArray(ids, cJSON_CreateString(product_id));
	}
	if (tool(t, "record_need", args, 0, &res) == 0)
		t->m->needs_recorded |= t->tags;
	cJSON_Delete(res);
	return;
oom:
	t->err = -ENOMEM;
}

/* ---- choosing and presenting a product ----------------------------------------- */

/* Who the search results fit best: the catalog's order, nudged by the needs heard. */
static int overlap(const char *padded, const char *s);

static int best_fit(struct turn *t, const struct pinfo *r, int n)
{
	int best = -1, best_score = -1000;
	unsigned all = t->tags | t->m->needs;
	int64_t cheapest = -1;

	for (int i = 0; i < n; i++)
		if (r[i].p && (cheapest < 0 || r[i].price_cents < cheapest))
			cheapest = r[i].price_cents;
	for (int i = 0; i < n; i++) {
		const struct catalog_product *p = r[i].p;
		int score = 2 * (n - i);

		if (!p)
			continue;
		/* an add-on is the answer only when they asked for one */
		if (p->category == CATALOG_CATEGORY_ADDONS &&
		    t->category != CATALOG_CATEGORY_ADDONS)
			score -= 20;
		if (t->category >= 0 && (int)p->category == t->category)
			score += 6;
		/* the catalog's own words for who it is for, said by the customer */
		for (size_t j = 0; j < p->n_keywords; j++) {
			char kw[NORM_MAX];

			norm_padded(p->keywords[j], strlen(p->keywords[j]), kw, sizeof(kw));
			chop_period(kw);
			if (kw[0] && strchr(kw + 1, ' ') && has_phrase(t->plain, kw + 1))
				score += 4; /* a phrase: "first phone", "work from home" */
			else if (kw[0] && has_phrase(t->plain, kw + 1))
				score += 1;
		}
		/* each need the product's own keywords and best-for speak to */
		{
			char text[CATALOG_TEXT_MAX + CATALOG_LIST_MAX * (CATALOG_NAME_MAX + 1)];
			char padded[sizeof(text) * 3 + 8];
			size_t off = (size_t)snprintf(text, sizeof(text), "%s ", p->best_for);

			for (size_t j = 0; j < p->n_keywords && off < sizeof(text); j++)
				off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ",
							p->keywords[j]);
			norm_padded(text, strlen(text), padded, sizeof(padded));
			/* the need comes first; the budget picks among those that meet it */
			for (int k = 0; k < NEED_COUNT; k++)
				if (all & NB(k) && any_phrase(padded, needs[k].cues))
					score += k == NEED_BUDGET ? 2 : 5;
		}
		/* who it is for: a phone made for grandparents is not a 12-year-old's */
		{
			char text[CATALOG_TEXT_MAX + CATALOG_LIST_MAX * (CATALOG_NAME_MAX + 1)];
			char padded[sizeof(text) * 3 + 8];
			size_t off = (size_t)snprintf(text, sizeof(text), "%s ", p->best_for);
			bool young = all & (NB(NEED_KIDS) | NB(NEED_TEENS)),
			     old = all & NB(NEED_SENIORS);
			bool p_young, p_old;

			for (size_t j = 0; j < p->n_keywords && off < sizeof(text); j++)
				off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ",
							p->keywords[j]);
			norm_padded(text, strlen(text), padded, sizeof(padded));
			p_young = any_phrase(padded, needs[NEED_KIDS].cues) ||
				  any_phrase(padded, needs[NEED_TEENS].cues);
			p_old = any_phrase(padded, needs[NEED_SENIORS].cues);
			if ((young && !old && p_old && !p_young) ||
			    (old && !young && p_young && !p_old))
				score -= 8;
			/* a child's phone and a teen's are neighbours */
			if ((all & NB(NEED_KIDS) && any_phrase(padded, needs[NEED_TEENS].cues) &&
			     !any_phrase(padded, needs[NEED_KIDS].cues)) ||
			    (all & NB(NEED_TEENS) && any_phrase(padded, needs[NEED_KIDS].cues) &&
			     !any_phrase(padded, needs[NEED_TEENS].cues)))
				score += 3;
		}
		/* their question is one the catalog answers for this product */
		if (t->question)
			for (size_t j = 0; j < p->n_questions; j++)
				if (overlap(t->plain, p->questions[j].q) >= 2)
					score += 5;
		if ((t->style & STYLE_COMPARE || all & NB(NEED_BUDGET)) &&
		    r[i].price_cents == cheapest)
			score += all & NB(NEED_BUDGET) ? 2 : 1;
		if (best < 0 || score > best_score) {
			best = i;
			best_score = score;
		}
	}
	return best;
}

/* Distinct words of s (lower case, 4+ letters, not stop words) found in the padded text. */
static int overlap(const char *padded, const char *s)
{
	char w[64], seen[16][64];
	int n = 0, n_seen = 0;
	static const char *const stop[] = {"what",  "does", "with", "have",  "that",  "this",
					   "your",  "will", "from", "they",  "there", "much",
					   "about", "when", "many", "need",  "want",  "into",
					   "more",  "than", "just", "every", "some",  NULL};

	while (*s) {
		size_t k = 0;
		bool skip = false;
		char *ap;

		while (*s && !isalnum((unsigned char)*s))
			s++;
		while (*s && (isalnum((unsigned char)*s) || *s == '\'') && k < sizeof(w) - 1)
			w[k++] = (char)tolower((unsigned char)*s++);
		w[k] = '\0';
		while ((ap = strchr(w, '\'')))
			memmove(ap, ap + 1, strlen(ap));
		k = strlen(w);
		if (k < 4)
			continue;
		for (const char *const *x = stop; *x; x++)
			skip |= strcmp(*x, w) == 0;
		for (int i = 0; i < n_seen && !skip; i++)
			skip = strcmp(seen[i], w) == 0;
		if (skip)
			continue;
		if (n_seen < 16)
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", w);
		if (has_phrase(padded, w)) {
			n++;
		} else if (w[k - 1] == 's') { /* plural against singular */
			w[k - 1] = '\0';
			if (has_phrase(padded, w))
				n++;
		} else if (k > 6 && strcmp(w + k - 3, "ing") == 0) { /* working: work */
			w[k - 3] = '\0';
			if (has_phrase(padded, w))
				n++;
		} else {
			char pl[70];

			snprintf(pl, sizeof(pl), "%ss", w);
			if (has_phrase(padded, pl))
				n++;
			else if (snprintf(pl, sizeof(pl), "%sing", w) > 0 && has_phrase(padded, pl))
				n++;
		}
	}
	return n;
}

/* Figures in a sentence. */
static int n_figures(const struct turn *t, const char *s)
{
	struct figures_item it[16];
	int n = figures_extract(s, t->sym, it, 16);

	return n < 0 ? 16 : n;
}

/* Does s name a catalog entry other than p? (its figures would then be
 * judged against that entry) */
static bool names_other(const struct turn *t, const char *s, const struct catalog_product *p)
{
	char ns[NORM_MAX], nm[NORM_MAX];

	norm_padded(s, strlen(s), ns, sizeof(ns));
	for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
		const struct catalog_product *q = catalog_product_at(t->cat, i);

		if (q == p)
			continue;
		norm_padded(q->name, strlen(q->name), nm, sizeof(nm));
		chop_period(nm);
		if (nm[0] && has_phrase(ns, nm + 1))
			return true;
	}
	for (size_t i = 0; i < catalog_competitor_count(t->cat); i++) {
		const struct catalog_competitor *k = catalog_competitor_at(t->cat, i);

		norm_padded(k->name, strlen(k->name), nm, sizeof(nm));
		chop_period(nm);
		if (nm[0] && has_phrase(ns, nm + 1))
			return true;
	}
	return false;
}

/* Would the figure check pass s on its own? (the catalog's own prose has figures
 * the allowed set may not hold; such a sentence is skipped, not said and removed) */
static bool sentence_ok(const struct turn *t, const char *s)
{
	struct figures_report rep;
	bool ok;

	if (!t->in->tools->facts || n_figures(t, s) == 0)
		return true;
	if (figures_check(t->in->tools->facts, s, &rep) < 0)
		return false;
	ok = rep.n_flags == 0;
	figures_report_free(&rep);
	return ok;
}

/* The sentences of an answer that name no other entry and pass the check. */
static bool clean_answer(const struct turn *t, const char *a, const struct catalog_product *p,
			 int max_figs, char *out, size_t len)
{
	char sn[PART_MAX];
	size_t off = 0;
	int figs = 0;

	out[0] = '\0';
	for (unsigned i = 0; nth_sentence(a, i, sn, sizeof(sn)); i++) {
		int f = n_figures(t, sn);

		if ((f && names_other(t, sn, p)) || figs + f > max_figs || !sentence_ok(t, sn))
			continue;
		figs += f;
		off += (size_t)snprintf(out + off, off < len ? len - off : 0, "%s%s",
					off ? " " : "", sn);
		if (off >= len)
			return false;
	}
	return off > 20;
}

/* "Yes, kids profiles show ..." -> "Kids profiles show ..." (out may be a) */
static void skip_yes(const char *a, char *out, size_t len)
{
	size_t n;

	if (strncmp(a, "Yes. ", 5) == 0 || strncmp(a, "Yes, ", 5) == 0)
		a += 5;
	else if (strncmp(a, "No. ", 4) == 0)
		a += 4;
	n = strnlen(a, len - 1);
	memmove(out, a, n);
	out[n] = '\0';
	if (out[0])
		out[0] = (char)toupper((unsigned char)out[0]);
}

static bool evidence_used(const struct turn *t, const char *s)
{
	uint32_t h = fnv(2166136261u, s);

	for (unsigned i = 0; i < RESPONDER_MEMORY_OFFERS; i++)
		if (t->m->evidence[i] == h)
			return true;
	return false;
}

static void evidence_remember(struct turn *t, const char *s)
{
	t->m->evidence[t->m->n_evidence++ % RESPONDER_MEMORY_OFFERS] = fnv(2166136261u, s);
}

/*
 * The sentence that proves the product fits what they said: the common
 * question whose words match the customer's own words, else the value story
 * sentence that matches them (and their needs) best, with at most max_figs
 * figures, naming nothing else, and not said already in this session.
 */
static bool evidence(struct turn *t, const struct pinfo *pi, int max_figs, char *out, size_t len)
{
	char all[NORM_MAX], s[PART_MAX], a[PART_MAX], c[PART_MAX];
	int best = -1, best_score = 0;

	snprintf(all, sizeof(all), "%s", t->plain);
	for (int k = 0; k < NEED_COUNT; k++)
		if ((t->tags | t->m->needs) & NB(k)) {
			size_t l = strlen(all);

			if (l + strlen(needs[k].query) + 2 < sizeof(all))
				snprintf(all + l, sizeof(all) - l, "%s ", needs[k].query);
		}
	for (unsigned i = 0; i < pi->n_qa; i++) {
		int sc = overlap(all, pi->qa[i].q);

		if (sc <= best_score ||
		    !clean_answer(t, pi->qa[i].a, pi->p, max_figs, c, sizeof(c)))
			continue;
		skip_yes(c, a, sizeof(a));
		if (!evidence_used(t, a)) {
			best = (int)i;
			best_score = sc;
		}
	}
	if (best >= 0 && best_score >= 2 &&
	    clean_answer(t, pi->qa[best].a, pi->p, max_figs, c, sizeof(c))) {
		skip_yes(c, out, len);
		evidence_remember(t, out);
		return true;
	}
	/* the value story sentence that fits best; one already said only when nothing else is left
	 */
	for (int pass = 0; pass < 2; pass++) {
		best = -1;
		best_score = -1000;
		for (unsigned i = 0; nth_sentence(pi->value_story, i, s, sizeof(s)); i++) {
			int figs = n_figures(t, s);
			int sc = 2 * overlap(all, s) - figs - (strlen(s) < 40 ? 2 : 0);

			if (figs > max_figs || names_other(t, s, pi->p) || strlen(s) < 20 ||
			    (pass == 0 && evidence_used(t, s)) || !sentence_ok(t, s))
				continue;
			if (sc > best_score) {
				best = (int)i;
				best_score = sc;
			}
		}
		if (best >= 0 && nth_sentence(pi->value_story, (unsigned)best, out, len)) {
			evidence_remember(t, out);
			return true;
		}
	}
	return false;
}

/* The customer's own question about p, answered from the tool's questions. */
static bool answer_question(struct turn *t, const struct pinfo *pi, char *out, size_t len)
{
	int best = -1, best_score = 0;
	char c[PART_MAX];

	for (unsigned i = 0; i < pi->n_qa; i++) {
		/* their words in the question or its answer ("their own profiles":
		 * "kids profiles show only ..."); the question's own words break ties */
		char both[2 * CATALOG_TEXT_MAX + 2];
		int sc;

		snprintf(both, sizeof(both), "%s %s", pi->qa[i].q, pi->qa[i].a);
		sc = 4 * overlap(t->plain, both) + overlap(t->plain, pi->qa[i].q);
		if (sc > best_score && clean_answer(t, pi->qa[i].a, pi->p, 3, c, sizeof(c))) {
			best = (int)i;
			best_score = sc;
		}
	}
	best_score /= 4;
	/* "Is it monitored?": one strong word is enough in a short question */
	if (best < 0 || best_score < (t->words <= 6 ? 1 : 2) ||
	    !clean_answer(t, pi->qa[best].a, pi->p, 3, out, len))
		return false;
	return true;
}

/* One spec as a phrase: "300 Mbps down", "4 screens at once", "unlimited data". */
static bool spec_phrase(const struct pinfo *pi, const char *label, char *out, size_t len)
{
	static const struct {
		const char *label, *fmt;
	} f[] = {
	    {"download speed", "%s down"},
	    {"upload speed", "%s up"},
	    {"data", "%s of data"},
	    {"hotspot data", "%s of hotspot data"},
	    {"screens at once", "%s at once"},
	    {"channels", "%s"},
	    {"cloud recording", "%s of cloud recording"},
	    {"roaming countries", "roaming in %s"},
	    {"cameras", "%s"},
	    {"sensors", "%s"},
	    {"video history", "%s of video history"},
	    {"storage", "%s of storage"},
	    {"camera", "a %s camera"},
	    {"battery", "a %s battery"},
	    {"warranty", "a warranty of %s"},
	    {"lines", "%s"},
	    {"mesh Wi-Fi points", "%s"},
	    {"call minutes", "%s of calls"},
	    {"valid for", "valid for %s"},
	    {"devices covered", "cover for %s"},
	    {"screen", "a screen of %s"},
	};

	for (unsigned i = 0; i < pi->n_specs; i++) {
		if (strcmp(pi->specs[i].label, label) != 0)
			continue;
		for (size_t j = 0; j < sizeof(f) / sizeof(f[0]); j++)
			if (strcmp(f[j].label, label) == 0) {
				if (strcmp(pi->specs[i].value, "unlimited") == 0 &&
				    strcmp(label, "call minutes") == 0)
					snprintf(out, len, "unlimited calls");
				else
					snprintf(out, len, f[j].fmt, pi->specs[i].value);
				return true;
			}
		snprintf(out, len, "%s %s", pi->specs[i].value, label);
		return true;
	}
	return false;
}

/* The spec a tech enthusiast (or their question) cares about in this category. */
static const char *const *key_specs(const struct pinfo *pi)
{
	static const char *const broadband[] = {"download speed", "upload speed", NULL};
	static const char *const mobile[] = {"data", "hotspot data", NULL};
	static const char *const tv[] = {"screens at once", "channels", NULL};
	static const char *const security[] = {"cameras", "video history", NULL};
	static const char *const devices[] = {"camera", "battery", NULL};
	static const char *const other[] = {"data", "screens at once", NULL};

	switch (pi->p ? pi->p->category : CATALOG_CATEGORY_ADDONS) {
	case CATALOG_CATEGORY_BROADBAND:
		return broadband;
	case CATALOG_CATEGORY_MOBILE:
		return mobile;
	case CATALOG_CATEGORY_TV:
	case CATALOG_CATEGORY_STREAMING:
		return tv;
	case CATALOG_CATEGORY_SECURITY:
		return security;
	case CATALOG_CATEGORY_DEVICES:
		return devices;
	case CATALOG_CATEGORY_ADDONS:
		break;
	}
	return other;
}

/* "It's $40 a month with no contract." */
static void price_sentence(struct turn *t, const struct pinfo *pi, bool instalments, char *out,
			   size_t len)
{
	char pr[32], pm[32], setup[64] = "", contract[64];

	money(t, pi->price_cents, pr, sizeof(pr));
	if (pi->setup_cents > 0) {
		char s[32];

		money(t, pi->setup_cents, s, sizeof(s));
		snprintf(setup, sizeof(setup), " plus a %s setup fee", s);
	}
	if (pi->monthly) {
		if (pi->contract_months)
			snprintf(contract, sizeof(contract), " on a %d-month contract",
				 pi->contract_months);
		else
			snprintf(contract, sizeof(contract), " with no contract");
		snprintf(out, len, "It's %s a month%s%s.", pr, setup, contract);
	} else if (instalments && pi->monthly_cents > 0 && pi->pay_months > 0) {
		money(t, pi->monthly_cents, pm, sizeof(pm));
		snprintf(out, len, "It's %s, or %s a month over %d months with no interest.", pr,
			 pm, pi->pay_months);
	} else {
		snprintf(out, len, "It's %s.", pr);
	}
}

/* The promotion on pi (the first running one) as a clause, "right now ... months". */
static bool promo_clause(struct turn *t, const struct pinfo *pi, char *out, size_t len)
{
	const struct promo *pr;
	char price[32], until[48] = "";

	if (!pi->n_promos)
		return false;
	pr = &pi->promos[0];
	money(t, pr->promo_cents, price, sizeof(price));
	if (pr->ends[0]) {
		/* the end date is part of the offer, said plainly (no countdown) */
		char end[32];

		date_words(pr->ends, end, sizeof(end));
		snprintf(until, sizeof(until), ", until %s", end);
	}
	if (pr->monthly && pr->months > 0)
		snprintf(out, len, "right now %s brings it to %s a month for the first %d months%s",
			 pr->name, price, pr->months, until);
	else if (pr->monthly)
		snprintf(out, len, "right now %s brings it to %s a month%s", pr->name, price,
			 until);
	else
		snprintf(out, len, "right now %s brings it down to %s%s", pr->name, price, until);
	promo_said(t, pr->id);
	return true;
}

/* The price sentence with the promotion (when one runs and may be said) folded in. */
static void price_with_promo(struct turn *t, const struct pinfo *pi, bool instalments, bool promo,
			     char *out, size_t len)
{
	char pc[PART_MAX];

	price_sentence(t, pi, instalments, out, len);
	if (promo && pi->full && promo_clause(t, pi, pc, sizeof(pc))) {
		size_t l;

		chop_period(out);
		l = strlen(out);
		snprintf(out + l, len - l, ", and %s.", pc);
	}
}

/* Whether the product arrives without a visit (5G Home Internet: "No installation visit"). */
static bool no_visit(const struct catalog_product *p)
{
	for (size_t i = 0; p && i < p->n_features; i++)
		if (strcasecmp(p->features[i], "No installation visit") == 0)
			return true;
	return false;
}

/* A technician installs it: broadband, security, and bundles with a connection. */
static bool needs_install(const struct catalog_product *p)
{
	if (!p || no_visit(p))
		return false;
	return p->category == CATALOG_CATEGORY_BROADBAND ||
	       p->category == CATALOG_CATEGORY_SECURITY ||
	       catalog_product_spec(p, "download_mbps") != NULL;
}

/* A direct next step for p: book its installation, or get a colleague to set it up. */
static void close_question(struct turn *t, const struct catalog_product *p)
{
	if (needs_install(p)) {
		ask(t, pick_from(t, "hardq",
				 L("Shall I book the installation for you?",
				   "Want me to book the installation in?")));
		t->m->pending = PENDING_BOOK;
		snprintf(t->m->pending_kind, sizeof(t->m->pending_kind), "install");
	} else {
		ask(t, pick_from(t, "hardq",
				 L("Shall I get that set up for you?",
				   "Want me to get a colleague to set that up for you now?")));
		t->m->pending = PENDING_HANDOFF;
	}
	snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", p->id);
	t->m->pending_extra[0] = '\0';
}

/* The question that ends a presentation, by the archetype's tier and style. */
static void present_question(struct turn *t, const struct pinfo *pi)
{
	int nd = first_need(t->tags | t->m->needs);

	if (t->style & STYLE_HARD && pi->p) {
		close_question(t, pi->p);
		return;
	}
	if (t->style & STYLE_COMPANION) {
		ask(t, pick_from(t, "compq",
				 L("Would it help to come in together to set it up?",
				   "Does that sound right for them?")));
		return;
	}
	if (t->style & STYLE_NO_CLOSE) {
		ask(t, pick_from(t, "lowq",
				 L("Is that the sort of thing that caught your eye?",
				   "Want to hear a bit more, or are you happy to browse?")));
		return;
	}
	if (t->style & STYLE_COMPARE && pi->monthly && t->m->spend_cents < 0 &&
	    !t->m->spend_asked && pi->p && category_talk[pi->p->category].spend_q) {
		t->m->spend_asked = true;
		ask(t, category_talk[pi->p->category].spend_q);
		return;
	}
	if (t->style & STYLE_SPEC) {
		ask(t, pick_from(t, "specq",
				 L("Want to see it side by side with what you have now?",
				   "Anything in the specs you'd like me to dig into?")));
		return;
	}
	if (nd >= 0 && nd != NEED_SWITCHING && !t->m->checked) {
		t->m->checked = true;
		if (nd == NEED_KIDS && pi->p && pi->p->category != CATALOG_CATEGORY_TV &&
		    pi->p->category != CATALOG_CATEGORY_STREAMING)
			ask(t, "Would that work for the kids?");
		else
			ask(t, needs[nd].check);
		return;
	}
	if (t->m->checked && pi->p && !t->m->sold && t->sk_closing) {
		close_question(t, pi->p);
		return;
	}
	t->m->checked = true;
	ask(t, pick_from(t, "checkq",
			 L("Does that sound like what you're after?", "Would that work for you?",
			   "Is that the kind of thing you had in mind?")));
}

/*
 * More of them than the plan has lines: the add-on from its cross-sells
 * that brings a line, with the tool's price ("For the fifth person, add the
 * Extra Family Line for $20 a month.").
 */
static void more_people(struct turn *t, const struct pinfo *pi)
{
	static const char *const nth[] = {"second",  "third",  "fourth", "fifth", "sixth",
					  "seventh", "eighth", "ninth",	 "tenth"};
	char xp[32];
	int n = 0;

	for (unsigned i = 0; i < pi->n_specs; i++)
		if (strcmp(pi->specs[i].label, "lines") == 0)
			n = atoi(pi->specs[i].value);
	if (n < 2 || n > 9 || t->m->people <= n)
		return;
	for (unsigned i = 0; i < pi->n_xs; i++) {
		const struct catalog_product *x = catalog_product_find(t->cat, pi->xs[i].id);
		char xn[CATALOG_NAME_MAX + 8];

		if (!x || !catalog_product_spec(x, "lines"))
			continue;
		money(t, pi->xs[i].cents, xp, sizeof(xp));
		the(pi->xs[i].name, xn, sizeof(xn));
		/* no "4 lines" here: the figure check judges a sentence against the
		 * entry it names, and this one names the add-on */
		if (t->m->people == n + 1)
			say(t, 0, "For the %s person, add %s for %s%s.", nth[n - 1], xn, xp,
			    pi->xs[i].monthly ? " a month" : "");
		else
			say(t, 0, "Everyone after the %s joins with %s, at %s%s each.", nth[n - 2],
			    xn, xp, pi->xs[i].monthly ? " a month" : "");
		return;
	}
}

enum present_how {
	PRESENT_FIT,   /* our pick for what they said */
	PRESENT_NAMED, /* they asked for it by name */
	PRESENT_AGAIN, /* a returning visitor's product */
};

/*
 * Presents pi: the need and the product as its answer, one sentence of
 * outcome, the price once, then one question. When pi is already the
 * product in focus, it is not pitched again: the new need is said back and
 * one new piece of proof is given. opener: said first (may be NULL).
 */
static void present(struct turn *t, const struct pinfo *pi, const char *opener,
		    enum present_how how)
{
	char ev[PART_MAX], price[PART_MAX], sp1[80], sp2[80];
	int nd = first_need(t->tags | t->m->needs);
	int fresh = first_need(t->tags & ~t->m->needs);
	bool again = strcmp(t->m->focus, pi->id) == 0 && how == PRESENT_FIT;
	bool promo =
	    t->sk_promos && pi->full && pi->n_promos && !(t->style & STYLE_NO_CLOSE) && !again;
	int budget = promo ? 0 : 1; /* figures in the proof sentence */

	set_focus(t, pi->id, true);
	if (opener && *opener)
		say(t, how == PRESENT_AGAIN ? 0 : 3, "%s", opener);
	else if (t->style & STYLE_LOYAL && !t->m->thanked) {
		t->m->thanked = true;
		say(t, 2, "Thanks for being with us.");
	}
	price_with_promo(
	    t, pi,
	    !promo && ((t->style & STYLE_COMPARE) || ((t->tags | t->m->needs) & NB(NEED_BUDGET))),
	    promo, price, sizeof(price));

	if (again) {
		/* short on time, or "the bottom line": the price, not more proof */
		bool price_asked =
		    t->style & STYLE_SHORT ||
		    any_phrase(t->norm, L("how much", "price", "cost", "costs", "bottom line",
					  "what would i pay", "total"));

		/* the same product still fits: take in what they added, give new proof */
		if (fresh >= 0 && fresh != NEED_SWITCHING)
			say(t, 1, "%s", needs[fresh].reflect);
		if (pick(t, "still", 2))
			say(t, 0, "%s is still the one I'd pick.", pi->name);
		else
			say(t, 0, "%s still fits best.", pi->name);
		if (pi->full && !(t->style & STYLE_SHORT) && evidence(t, pi, 1, ev, sizeof(ev)))
			say(t, 1, "%s", ev);
		if (fresh == NEED_BUDGET || t->budget > 0 || price_asked)
			say(t, 0, "%s", price);
		present_question(t, pi);
		action(t, "%s still fits: confirm the new detail they gave, then the next step.",
		       pi->name);
		suggest(t, "Sounds good", "What's the catch?",
			"How does it compare with my provider?");
		t->out->suggested_state = AGENT_STATE_PRESENTING;
		return;
	}
	if (t->answer[0]) {
		/* their question first; the name comes before an answer that lacks it */
		if (!strcasestr(t->answer, pi->name)) {
			char a[PART_MAX];

			snprintf(a, sizeof(a), "%s", t->answer);
			lower_first(t, a);
			say(t, 0, "On %s: %s", pi->name, a);
		} else
			say(t, 0, "%s", t->answer);
		evidence_remember(t, t->answer);
		budget = 0;
	}
	if (t->style & STYLE_SHORT) {
		/* the answer first, one reason, a fast next step; the offer waits for the close */
		price_sentence(t, pi, false, price, sizeof(price));
		if (t->answer[0]) {
			/* answered: the price and the next step are all that is left */
		} else if (pi->full && evidence(t, pi, 2, ev, sizeof(ev))) {
			lower_first(t, ev);
			say(t, 0, "%s is the one I'd pick \xe2\x80\x94 %s", pi->name, ev);
		} else {
			say(t, 0, "%s is the one I'd pick.", pi->name);
		}
		say(t, 0, "%s", price);
		present_question(t, pi);
		action(t, "Short on time: %s, one reason, then book it or hand over.", pi->name);
		suggest(t, "Book it", "What's the catch?", "");
		t->out->suggested_state = AGENT_STATE_PRESENTING;
		return;
	}
	if (t->style & STYLE_SPEC && pi->full && !t->answer[0]) {
		const char *const *ks = key_specs(pi);

		if (spec_phrase(pi, ks[0], sp1, sizeof(sp1))) {
			if (spec_phrase(pi, ks[1], sp2, sizeof(sp2)))
				say(t, 0, "%s gives you %s and %s.", pi->name, sp1, sp2);
			else
				say(t, 0, "%s gives you %s.", pi->name, sp1);
			budget = 0;
		}
	}
	if (!named_yet(t, pi->name)) {
		if (how == PRESENT_NAMED) {
			if (pick(t, "named", 2))
				say(t, 0, "%s, good choice.", pi->name);
			else
				say(t, 0, "Happy to tell you about %s.", pi->name);
		} else if (how == PRESENT_AGAIN) {
			/* the opener named it */
		} else if (nd >= 0 && nd != NEED_SWITCHING) {
			unsigned k = pick(t, "intro", 3);

			if (k == 1)
				say(t, 0, "%s is the one I'd suggest for %s.", pi->name,
				    needs[nd].for_phrase);
			else if (k == 2)
				say(t, 0, "%s is a great fit for %s.", pi->name,
				    needs[nd].for_phrase);
			else
				say(t, 0, "For %s, I'd go with %s.", needs[nd].for_phrase,
				    pi->name);
		} else {
			unsigned k = pick(t, "intro0", 3);

			if (k == 0)
				say(t, 0, "%s is a good place to start.", pi->name);
			else if (k == 1)
				say(t, 0, "I'd start with %s.", pi->name);
			else
				say(t, 0, "The one I'd point you to is %s.", pi->name);
		}
	}
	if (pi->full && evidence(t, pi, budget, ev, sizeof(ev))) {
		say(t, 1, "%s", ev);
	} else if (pi->best_for[0]) {
		char bf[PART_MAX];

		snprintf(bf, sizeof(bf), "%s", pi->best_for);
		lower_first(t, bf);
		chop_period(bf);
		say(t, 1, "It's made for %s.", bf);
	}
	say(t, 0, "%s", price);
	more_people(t, pi);
	if (t->sk_promos && !pi->full && pi->promotion_name[0])
		say(t, 2, "There's a %s offer on it at the moment too.", pi->promotion_name);
	present_question(t, pi);

	talking_point(t, "Best for: %.180s", pi->best_for);
	if (pi->full && pi->n_xs)
		talking_point(t, "Pairs with %s: %.150s", pi->xs[0].name, pi->xs[0].why);
	action(t, "Show the %s card; confirm it fits what they said, then offer the next step.",
	       pi->name);
	suggest(t, "Sounds good", "What's the catch?", "How does it compare with my provider?");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
}

/* The best fit for what they said: the product named, the focus, or a search. */
static bool still_fits(const struct turn *t, const struct catalog_product *q);

static bool find_fit(struct turn *t, unsigned keep, struct pinfo *ret)
{
	struct pinfo r[5];
	int n, b;
	int cat = t->category >= 0 ? t->category : t->m->category;

	memset(ret, 0, sizeof(*ret));
	if (t->named) {
		if (get_product(t, t->named->id, keep, ret) == 0)
			return true;
		/* not allowed yet (greeting) or failed: what search says about it */
		n = search(t, (int)t->named->category, -1, keep, r, 5, true);
		for (int i = 0; i < n; i++)
			if (r[i].p == t->named) {
				*ret = r[i];
				return true;
			}
		return false;
	}
	{
		/* what is on the table stays there while it still covers what they said */
		const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);

		if (f && (cat < 0 || (int)f->category == cat) && still_fits(t, f) &&
		    !(t->budget > 0 && f->price_cents > t->budget) &&
		    get_product(t, f->id, keep, ret) == 0)
			return true;
	}
	if (t->question) {
		/* "can I keep my number?": the product whose own questions answer it */
		const struct catalog_product *q = NULL;
		int best = 1;

		for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
			const struct catalog_product *c = catalog_product_at(t->cat, i);

			if ((cat >= 0 && (int)c->category != cat) ||
			    c->category == CATALOG_CATEGORY_ADDONS)
				continue;
			for (size_t j = 0; j < c->n_questions; j++) {
				int o = overlap(t->plain, c->questions[j].q);

				if (o > best) {
					best = o;
					q = c;
				}
			}
		}
		if (q && get_product(t, q->id, keep, ret) == 0)
			return true;
	}
	{
		/* leave a call for get_product when the cap allows; else the search result will do
		 */
		unsigned k2 = calls_left(t) >= keep + 2 ? keep + 1 : keep;
		int64_t budget = t->budget > 0 ? t->budget : t->m->budget_cents;

		n = search(t, cat, budget, k2, r, 5, true);
		if (n <= 0 && cat >= 0 && calls_left(t) >= k2 + 1)
			n = search(t, cat, budget, k2, r, 5, false);
	}
	if (n <= 0)
		return false;
	b = best_fit(t, r, n);
	if (b < 0)
		return false;
	if (get_product(t, r[b].id, keep, ret) == 0)
		return true;
	*ret = r[b];
	return true;
}

/* ---- answering their question ----------------------------------------------------- */

/* The spec a question asks about: "how fast" is the download speed. */
static const struct {
	const char *const *words;
	const char *label;
} spec_questions[] = {
    {L("upload", "uploads"), "upload speed"},
    {L("how fast", "speed", "mbps", "fast"), "download speed"},
    {L("channels", "channel"), "channels"},
    {L("screens", "at once", "how many people", "same time"), "screens at once"},
    {L("hotspot", "tether", "tethering"), "hotspot data"},
    {L("data", "gb", "gigabytes"), "data"},
    {L("roaming", "abroad", "countries"), "roaming countries"},
    {L("record", "recording", "dvr"), "cloud recording"},
    {L("battery"), "battery"},
    {L("storage", "memory"), "storage"},
    {L("camera", "megapixel", "megapixels"), "camera"},
    {L("cameras"), "cameras"},
    {L("warranty"), "warranty"},
};

enum answer {
	ANSWER_NONE,	/* not a question this can answer */
	ANSWER_SAID,	/* the answer is in out */
	ANSWER_UNKNOWN, /* "does it come with X?" and the tool says nothing of X */
};

/* A question to answer yes or no ("is it", "can I", "does it"), not "how"/"what". */
static bool asks_yes_no(const struct turn *t)
{
	char first[32];

	lead_word(t->plain, first, sizeof(first));
	for (const char *const *w =
		 L("how", "what", "whats", "which", "when", "where", "why", "who");
	     *w; w++)
		if (strcmp(first, *w) == 0)
			return false;
	return true;
}

/* A feature as it sits after "comes with": "a Wi-Fi 6 router", "kids profiles". */
static void feature_phrase(const struct turn *t, const char *f, char *out, size_t len)
{
	const char *last = strrchr(f, ' ');
	size_t n = strlen(f);
	char first[24] = "";
	bool upper = false, article;

	last = last ? last + 1 : f;
	sscanf(f, "%23[^ ]", first);
	for (size_t i = 1; first[i]; i++)
		upper |= isupper((unsigned char)first[i]) != 0;
	/* no article for plurals, "-ing" words, numbers and what is never counted */
	article = isalpha((unsigned char)f[0]) && n > 1 && f[n - 1] != 's' &&
		  !(strlen(last) > 4 && strcmp(last + strlen(last) - 3, "ing") == 0);
	for (const char *const *w = L("free", "no", "unlimited", "all", "priority", "data", "spam",
				      "catch-up", "roaming", "mesh");
	     *w && article; w++)
		article = strcasecmp(first, *w) != 0;
	snprintf(out, len, "%s%s", article ? (strchr("AEIOUaeiou", f[0]) ? "an " : "a ") : "", f);
	if (!upper)
		lower_first(t, out + (article ? (out[1] == 'n' ? 3 : 2) : 0));
}

/* The catalog's answer to their question; no leading "Yes," to a "how" or "what". */
static bool qa_answer(struct turn *t, const struct pinfo *pi, char *out, size_t len)
{
	if (!answer_question(t, pi, out, len))
		return false;
	if (!asks_yes_no(t))
		skip_yes(out, out, len);
	return true;
}

/* "Does it come with ...?", "does it have ...?": asks whether it has something. */
static bool asks_has(const struct turn *t)
{
	return t->question &&
	       any_phrase(t->norm, L("come with", "comes with", "include", "includes", "included",
				     "have a", "have an", "has a", "has an", "support", "supports",
				     "got a", "offer a"));
}

/*
 * The customer's question about pi, answered into out from what the tool
 * returned: its questions and answers, the price and contract (price_too),
 * a spec, a feature. ANSWER_UNKNOWN when they ask whether it has something
 * the tool does not list.
 */
static enum answer answer_about(struct turn *t, const struct pinfo *pi, bool price_too, char *out,
				size_t len)
{
	bool quantity = any_phrase(t->norm, L("how many", "how much", "how fast", "what speed"));
	char sp[96], up[96];

	out[0] = '\0';
	/* "how many screens?": a number from the specs beats a catalog answer's yes */
	if (!quantity && qa_answer(t, pi, out, len))
		return ANSWER_SAID;
	if (price_too && any_phrase(t->norm, L("how much", "price", "cost", "costs", "monthly",
					       "pay", "bottom line"))) {
		price_with_promo(t, pi, !(t->sk_promos && pi->n_promos), t->sk_promos, out, len);
		return ANSWER_SAID;
	}
	if (price_too &&
	    any_phrase(t->norm, L("contract", "tied in", "locked in", "cancel", "leave"))) {
		if (pi->contract_months)
			snprintf(out, len, "%s is a %d-month contract.", pi->name,
				 pi->contract_months);
		else
			snprintf(out, len, "There's no contract on %s: you can leave any month.",
				 pi->name);
		return ANSWER_SAID;
	}
	for (size_t i = 0; i < sizeof(spec_questions) / sizeof(spec_questions[0]); i++) {
		if (!any_phrase(t->norm, spec_questions[i].words) ||
		    !spec_phrase(pi, spec_questions[i].label, sp, sizeof(sp)))
			continue;
		if (strcmp(spec_questions[i].label, "download speed") == 0 &&
		    spec_phrase(pi, "upload speed", up, sizeof(up)))
			snprintf(out, len, "%s gives you %s and %s.", pi->name, sp, up);
		else
			snprintf(out, len, "%s gives you %s.", pi->name, sp);
		return ANSWER_SAID;
	}
	if (quantity && qa_answer(t, pi, out, len))
		return ANSWER_SAID;
	/* "does it come with a Wi-Fi 6 router?": a feature the tool lists */
	for (unsigned i = 0; i < pi->n_features && t->question; i++) {
		char f[CATALOG_NAME_MAX + 4];

		if (overlap(t->plain, pi->features[i]) < (asks_has(t) ? 1 : 2))
			continue;
		feature_phrase(t, pi->features[i], f, sizeof(f));
		snprintf(out, len, "%s%s comes with %s.", asks_has(t) ? "Yes, " : "", pi->name, f);
		return ANSWER_SAID;
	}
	if (any_phrase(t->norm, L("install", "installation", "engineer", "set up", "setup")))
		for (unsigned i = 0; i < pi->n_features; i++)
			if (strcasestr(pi->features[i], "install")) {
				snprintf(out, len, "%s comes with %s.", pi->name, pi->features[i]);
				return ANSWER_SAID;
			}
	/* the service terms (compensation, refunds, guarantees) are not in the catalog */
	if (t->question &&
	    any_phrase(t->norm, L("compensation", "compensate", "refund", "refunds", "money back",
				  "guarantee", "guaranteed", "uptime", "goes down", "outage",
				  "outages", "terms and conditions", "early termination")))
		return ANSWER_UNKNOWN;
	return asks_has(t) ? ANSWER_UNKNOWN : ANSWER_NONE;
}

/*
 * Their question answered by another product of the category, read with
 * get_product (keep: calls to leave). A question about what they can do
 * ("can I keep my number?") is the store's answer for the category; a
 * question about what a product has is that product's ("Fibre Gig has it").
 */
static bool other_answer(struct turn *t, int cat, const struct catalog_product *except,
			 unsigned keep, char *out, size_t len)
{
	const struct catalog_product *best = NULL;
	int best_sc = 1;
	struct pinfo pi;
	char a[PART_MAX];

	if (cat < 0 || !t->question)
		return false;
	for (size_t i = 0; i < catalog_product_count(t->cat); i++) {
		const struct catalog_product *c = catalog_product_at(t->cat, i);

		if ((int)c->category != cat || c == except ||
		    c->category == CATALOG_CATEGORY_ADDONS)
			continue;
		for (size_t j = 0; j < c->n_questions; j++) {
			char both[2 * CATALOG_TEXT_MAX + 2];
			int sc;

			/* what they can do: the question itself must be theirs; what a
			 * product has: its answer's words count too ("home servers") */
			snprintf(both, sizeof(both), "%s %s", c->questions[j].q,
				 asks_has(t) ? c->questions[j].a : "");
			sc = overlap(t->plain, both);
			if (sc > best_sc) {
				best = c;
				best_sc = sc;
			}
		}
		/* what a product has: a feature it lists ("Smart lock") */
		for (size_t j = 0; j < c->n_features && asks_has(t); j++)
			if (overlap(t->plain, c->features[j]) + 1 > best_sc) {
				best = c;
				best_sc = overlap(t->plain, c->features[j]) + 1;
			}
	}
	if (!best || get_product(t, best->id, keep, &pi) < 0)
		return false;
	if (asks_has(t)) {
		char b[PART_MAX];

		for (unsigned i = 0; i < pi.n_features; i++)
			if (overlap(t->plain, pi.features[i]) >= 1) {
				feature_phrase(t, pi.features[i], b, sizeof(b));
				snprintf(out, len, "If it's a must, %s comes with %.200s.", pi.name,
					 b);
				return true;
			}
		if (!answer_question(t, &pi, a, sizeof(a)) || n_figures(t, a) > 0)
			return false;
		skip_yes(a, b, sizeof(b));
		lower_first(t, b);
		snprintf(out, len, "%s has it, if it's a must: %.400s", pi.name, b);
		return true;
	}
	if (!answer_question(t, &pi, a, sizeof(a)) || n_figures(t, a) > 0)
		return false;
	snprintf(out, len, "%s", a);
	return true;
}

/* ---- comparison ------------------------------------------------------------------- */

/* "screens at once: 4 screens against 2 screens" -> "4 screens at once instead of 2 screens" */
static bool extra_phrase(const char *line, char *out, size_t len, const struct turn *t)
{
	static const struct {
		const char *label, *fmt_both, *fmt_none;
	} f[] = {
	    {"screens at once", "%s at once instead of %s", "%s at once"},
	    {"download speed", "%s download instead of %s", "%s download"},
	    {"upload speed", "%s upload instead of %s", "%s upload"},
	    {"data", "%s of data instead of %s", "%s of data"},
	    {"hotspot data", "%s of hotspot data instead of %s", "%s of hotspot data"},
	    {"channels", "%s instead of %s", "%s"},
	    {"cloud recording", "%s of cloud recording instead of %s", "%s of cloud recording"},
	    {"roaming countries", "roaming in %s instead of %s", "roaming in %s"},
	    {"video history", "%s of video history instead of %s", "%s of video history"},
	    {"cameras", "%s instead of %s", "%s"},
	    {"sensors", "%s instead of %s", "%s"},
	    {"mesh Wi-Fi points", "%s of mesh Wi-Fi instead of %s", "mesh Wi-Fi (%s)"},
	};
	const char *colon = strstr(line, ": ");
	const char *against;
	char label[64], mine[64], theirs[64];

	if (strncmp(line, "no contract", 11) == 0 || strstr(line, "-month contract"))
		return false; /* the contracts are said with the prices */
	if (!colon) {
		snprintf(out, len, "%s", line);
		lower_first(t, out);
		return true;
	}
	against = strstr(colon, " against ");
	if (!against)
		return false;
	snprintf(label, sizeof(label), "%.*s", (int)(colon - line), line);
	snprintf(mine, sizeof(mine), "%.*s", (int)(against - colon - 2), colon + 2);
	snprintf(theirs, sizeof(theirs), "%s", against + 9);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strcmp(label, f[i].label) == 0) {
			if (strcmp(theirs, "none") == 0)
				snprintf(out, len, f[i].fmt_none, mine);
			else
				snprintf(out, len, f[i].fmt_both, mine, theirs);
			return true;
		}
	if (strcmp(theirs, "none") == 0)
		snprintf(out, len, "%.60s %.60s", mine, label);
	else
		snprintf(out, len, "%.40s %.40s instead of %.40s", mine, label, theirs);
	return true;
}

/* How much a compare extra matters to this customer. */
static int extra_score(const struct turn *t, const char *line)
{
	unsigned all = t->tags | t->m->needs;
	int s = strchr(line, ':') ? 2 : 1;

	if (strstr(line, "screens") &&
	    all & (NB(NEED_KIDS) | NB(NEED_FAMILY) | NB(NEED_TEENS) | NB(NEED_STREAMING)))
		s += 4;
	if (strstr(line, "upload") &&
	    all & (NB(NEED_WFH) | NB(NEED_GAMING) | NB(NEED_SMALL_BUSINESS)))
		s += 4;
	if (strstr(line, "download") && all & (NB(NEED_SPEED) | NB(NEED_GAMING)))
		s += 3;
	if (strstr(line, "roaming") && all & NB(NEED_TRAVEL))
		s += 4;
	if (strstr(line, "mesh") && all & NB(NEED_WIFI_RANGE))
		s += 4;
	if (strstr(line, "Free installation") || strstr(line, "setup"))
		s += 1;
	return s;
}

static void cmp_parse(struct turn *t, const cJSON *r, struct cmpinfo *ci)
{
	const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
	const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(r, "theirs");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "monthly");
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(r, "yearly");
	const cJSON *fy = cJSON_GetObjectItemCaseSensitive(r, "first_year");
	const cJSON *it, *ex;
	const char *lines[EXTRAS_MAX * 3];
	int scores[EXTRAS_MAX * 3];
	unsigned nl = 0;

	memset(ci, 0, sizeof(*ci));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(ours, "products"))
	{
		const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "promotion");
		size_t l = strlen(ci->ours);

		snprintf(ci->ours + l, sizeof(ci->ours) - l, "%s%s", l ? " plus " : "",
			 jstr(it, "name") ? jstr(it, "name") : "");
		if (pr && !ci->promo_name[0]) {
			jcopy(ci->promo_name, sizeof(ci->promo_name), pr, "name");
			ci->promo_cents = money_parse(jstr(pr, "price"));
			ci->promo_months = jint(pr, "months");
		}
	}
	jcopy(ci->our_contract, sizeof(ci->our_contract), ours, "contract");
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(theirs, "offers"))
	{
		size_t l = strlen(ci->theirs);
		int64_t setup = money_parse(jstr(it, "setup_fee"));

		snprintf(ci->theirs + l, sizeof(ci->theirs) - l, "%s%s", l ? " and " : "",
			 jstr(it, "name") ? jstr(it, "name") : "");
		if (setup > 0)
			ci->theirs_setup += setup;
		if (!ci->first_offer[0])
			jcopy(ci->first_offer, sizeof(ci->first_offer), it, "name");
		if (jstr(it, "intro") && !ci->intro[0]) {
			const char *f;

			jcopy(ci->intro, sizeof(ci->intro), it, "intro");
			ci->intro_cents = money_parse(ci->intro);
			f = strstr(ci->intro, "first ");
			ci->intro_months = f ? atoi(f + 6) : 0;
		}
	}
	jcopy(ci->their_contract, sizeof(ci->their_contract), theirs, "contract");
	ci->spend = money_parse(jstr(theirs, "current_spend"));
	ci->ours_m = money_parse(jstr(m, "ours"));
	ci->theirs_m = money_parse(jstr(m, "theirs"));
	ci->diff_m = money_parse(jstr(m, "difference"));
	ci->diff_y = money_parse(jstr(y, "difference"));
	ci->diff_fy = money_parse(jstr(fy, "difference"));
	ci->cheaper_m = jstr(m, "cheaper") ? (strcmp(jstr(m, "cheaper"), "ours") == 0	  ? 1
					      : strcmp(jstr(m, "cheaper"), "theirs") == 0 ? -1
											  : 0)
					   : 0;
	ci->cheaper_fy = jstr(fy, "cheaper") ? (strcmp(jstr(fy, "cheaper"), "ours") == 0     ? 1
						: strcmp(jstr(fy, "cheaper"), "theirs") == 0 ? -1
											     : 0)
					     : 0;
	jcopy(ci->angle, sizeof(ci->angle), r, "angle");
	jcopy(ci->summary, sizeof(ci->summary), r, "summary");
	ex = cJSON_GetObjectItemCaseSensitive(r, "we_include_more");
	if (!ex)
		ex = cJSON_GetObjectItemCaseSensitive(r, "what_you_get");
	cJSON_ArrayForEach(it, ex)
	{
		if (nl < sizeof(lines) / sizeof(lines[0]) && cJSON_IsString(it)) {
			lines[nl] = it->valuestring;
			scores[nl] = extra_score(t, it->valuestring);
			nl++;
		}
	}
	/* best first, stable */
	for (unsigned i = 1; i < nl; i++)
		for (unsigned j = i; j > 0 && scores[j] > scores[j - 1]; j--) {
			const char *l = lines[j];
			int s = scores[j];

			lines[j] = lines[j - 1];
			scores[j] = scores[j - 1];
			lines[j - 1] = l;
			scores[j - 1] = s;
		}
	for (unsigned i = 0; i < nl && ci->n_extras < EXTRAS_MAX; i++)
		if (extra_phrase(lines[i], ci->extras[ci->n_extras], sizeof(ci->extras[0]), t))
			ci->n_extras++;
	ci->ok = ci->ours[0] && ci->ours_m >= 0 && ci->theirs_m >= 0 && ci->diff_m >= 0;
}

static bool competitor_heard(const struct turn *t, const struct catalog_competitor *k)
{
	return k == t->comp || id_in(t->m->competitors_heard, t->m->n_competitors_heard, k->id);
}

/*
 * compare p against k (or the offer they named, or the offers p's catalog
 * comparison sets against k when every one of them is a provider the
 * customer mentioned), and/or what they pay now.
 */
static int compare(struct turn *t, const struct catalog_product *p,
		   const struct catalog_competitor *k, const struct catalog_offer *const *offers,
		   unsigned n_offers, int64_t spend, unsigned keep, struct cmpinfo *ci)
{
	cJSON *args = cJSON_CreateObject(), *ids, *res;
	int r;

	memset(ci, 0, sizeof(*ci));
	if (!args) {
		t->err = -ENOMEM;
		return -ENOMEM;
	}
	ids = cJSON_AddArrayToObject(args, "product_ids");
	if (ids)
		cJSON_AddItemToArray(ids, cJSON_CreateString(p->id));
	if (n_offers) {
		cJSON *o = cJSON_AddArrayToObject(args, "offer_ids");

		for (unsigned i = 0; o && i < n_offers; i++)
			cJSON_AddItemToArray(o, cJSON_CreateString(offers[i]->id));
	} else if (k) {
		const struct catalog_comparison *use = NULL;

		for (size_t i = 0; i < p->n_comparisons && !use; i++) {
			const struct catalog_comparison *c = &p->comparisons[i];
			bool has_k = false, all_heard = true;

			for (size_t j = 0; j < c->n_offers; j++) {
				has_k |= c->offers[j]->competitor == k;
				all_heard &= competitor_heard(t, c->offers[j]->competitor);
			}
			if (has_k && all_heard && c->n_offers > 1)
				use = c;
		}
		if (use) {
			cJSON *o = cJSON_AddArrayToObject(args, "offer_ids");

			for (size_t j = 0; o && j < use->n_offers; j++)
				cJSON_AddItemToArray(o, cJSON_CreateString(use->offers[j]->id));
		} else {
			cJSON_AddStringToObject(args, "competitor_id", k->id);
		}
	}
	if (spend > 0)
		cJSON_AddNumberToObject(args, "current_monthly_spend", (double)spend / 100.0);
	r = tool(t, "compare", args, keep, &res);
	if (r == 0) {
		cmp_parse(t, res, ci);
		if (!ci->ok)
			r = -EIO;
	}
	cJSON_Delete(res);
	return r;
}

/* Does p have something to compare with k? */
static bool comparable(const struct catalog_product *p, const struct catalog_competitor *k)
{
	if (!p || !k)
		return p != NULL;
	for (size_t i = 0; i < p->n_comparisons; i++)
		for (size_t j = 0; j < p->comparisons[i].n_offers; j++)
			if (p->comparisons[i].offers[j]->competitor == k)
				return true;
	for (size_t i = 0; i < k->n_offers; i++)
		if (k->offers[i].category == p->category)
			return true;
	return false;
}

/* The one category a competitor sells in, or -1 when it sells several. */
static int competitor_category(const struct catalog_competitor *k)
{
	int c = -1;

	for (size_t i = 0; k && i < k->n_offers; i++) {
		if (c >= 0 && (int)k->offers[i].category != c)
			return -1;
		c = (int)k->offers[i].category;
	}
	return c;
}

/* "on a 24-month contract" / "with no contract" / "" */
static void contract_clause(const char *contract, char *out, size_t len)
{
	int months = contract_months(contract);

	if (months > 0)
		snprintf(out, len, " on a %d-month contract", months);
	else if (contract && strcmp(contract, "no contract") == 0)
		snprintf(out, len, " with no contract");
	else
		out[0] = '\0';
}

/* Does p list a feature naming what (e.g. "StreamMax Standard included" for StreamMax)? */
static bool includes(const struct catalog_product *p, const char *what)
{
	for (size_t i = 0; p && what && i < p->n_features; i++)
		if (strcasestr(p->features[i], what) && strcasestr(p->features[i], "included"))
			return true;
	return false;
}

/*
 * Says the comparison math: theirs, ours, the difference per month and per
 * year (and the first year when fees, intro prices or our offer change it),
 * and what else they get. before: the product in focus before this one
 * (for "less than X on its own"), or NULL.
 */
static void say_comparison(struct turn *t, const struct cmpinfo *ci,
			   const struct catalog_competitor *k, const struct catalog_product *before,
			   int64_t before_cents)
{
	char a[32], b[32], c[32], d[32], setup[64] = "", tc[48], oc[48], intro[160] = "";
	char why[200] = "";

	money(t, ci->theirs_m, a, sizeof(a));
	money(t, ci->ours_m, b, sizeof(b));
	contract_clause(ci->their_contract, tc, sizeof(tc));
	contract_clause(ci->our_contract, oc, sizeof(oc));
	char ours_b[sizeof(ci->ours) + 8];
	const char *ours =
	    strstr(ci->ours, " plus ") ? ci->ours : the(ci->ours, ours_b, sizeof(ours_b));

	if (ci->spend > 0 && k) {
		say(t, 0, "That's %s a month with %s; %s is %s a month%s.", a, k->name, ours, b,
		    oc);
	} else if (ci->spend > 0) {
		say(t, 0, "You pay %s a month now; %s is %s a month%s.", a, ours, b, oc);
	} else {
		if (ci->theirs_setup > 0) {
			money(t, ci->theirs_setup, c, sizeof(c));
			snprintf(setup, sizeof(setup), " plus a %s setup fee", c);
		}
		if (ci->intro_cents > 0 && ci->intro_months > 0) {
			money(t, ci->intro_cents, c, sizeof(c));
			snprintf(intro, sizeof(intro), " (%s a month for the first %d months)", c,
				 ci->intro_months);
		}
		say(t, 0, "%s %s %s a month%s%s%s; %s is %s a month%s.", ci->theirs,
		    strstr(ci->theirs, " and ") ? "come to" : "is", a, intro, setup, tc, ours, b,
		    oc);
	}
	money(t, ci->diff_m, a, sizeof(a));
	money(t, ci->diff_y, b, sizeof(b));
	money(t, ci->diff_fy, d, sizeof(d));
	/* what changes the first year: fees and intro prices count only against list prices */
	if (ci->spend <= 0 && ci->theirs_setup > 0)
		snprintf(why, sizeof(why), "their setup fee");
	if (ci->spend <= 0 && ci->intro_cents > 0)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%stheir intro price",
			 why[0] ? " and " : "");
	if (ci->promo_name[0])
		snprintf(why + strlen(why), sizeof(why) - strlen(why), "%sour %s offer",
			 why[0] ? " and " : "", ci->promo_name);
	if (ci->cheaper_m > 0) {
		if (pick(t, "math", 2))
			say(t, 0, "That's %s a month less, or %s a year.", a, b);
		else
			say(t, 0, "That saves you %s a month, %s over a year.", a, b);
		if (ci->cheaper_fy > 0 && ci->diff_fy != ci->diff_y && ci->diff_fy > 0 && why[0])
			say(t, 2, "Counting %s, the first year comes to %s less with us.", why, d);
		else if (ci->cheaper_fy < 0)
			say(t, 0,
			    "Their intro price does make the first year %s cheaper with them; "
			    "after that, you'd save %s a month with us.",
			    d, a);
	} else if (ci->cheaper_m < 0) {
		if (ci->n_extras) {
			/* "on top of what you pay now" only when they pay it now; their
			 * name stays out of a sentence with our figures (the figure check
			 * would judge them against their offer) */
			const char *than =
			    ci->spend > 0 || any_phrase(t->norm, L("i pay", "we pay", "paying",
								   "currently", "i have", "we have",
								   "im with", "were with",
								   "already", "i use", "we use"))
				? "on top of what you pay now"
				: "more";

			if (ci->n_extras >= 2)
				say(t, 0, "So %s and %s come to %s a month %s.", ci->extras[0],
				    ci->extras[1], a, than);
			else
				say(t, 0, "So %s comes to %s a month %s.", ci->extras[0], a, than);
			if (before && before_cents > ci->diff_m)
				say(t, 0, "That's less than %s on its own.", before->name);
			return;
		}
		say(t, 0,
		    "So %s is %s a month cheaper, %s a year; the question is what you get for the "
		    "difference.",
		    k ? k->name : "theirs", a, b);
	} else {
		say(t, 0, "It costs the same each month, so the difference is in what's included.");
		/* the same list price, but our offer makes the first year cheaper */
		if (ci->cheaper_fy > 0 && ci->diff_fy > 0 && why[0])
			say(t, 0, "Counting %s, the first year comes to %s less with us.", why, d);
	}
	if (t->answer[0])
		return; /* their question took the room the extras would have had */
	if (ci->n_extras >= 2)
		say(t, ci->cheaper_m < 0 ? 0 : 1, "With us you also get %s, and %s.", ci->extras[0],
		    ci->extras[1]);
	else if (ci->n_extras == 1)
		say(t, ci->cheaper_m < 0 ? 0 : 1, "With us you also get %s.", ci->extras[0]);
}

/* Record what the comparison found, for staff and the next visit. */
static void record_comparison(struct turn *t, const struct cmpinfo *ci, const char *pid)
{
	char need[NEED_TEXT_MAX + 1];
	cJSON *args = cJSON_CreateObject(), *tags, *ids, *res = NULL;

	snprintf(need, sizeof(need), "Compared %.100s with %.100s%s", ci->ours,
		 ci->theirs[0] ? ci->theirs : "what they pay now",
		 ci->cheaper_m > 0 ? "; ours is cheaper each month" : "");
	if (!args) {
		t->err = -ENOMEM;
		return;
	}
	cJSON_AddStringToObject(args, "need", need);
	tags = cJSON_AddArrayToObject(args, "tags");
	if (tags)
		cJSON_AddItemToArray(tags, cJSON_CreateString("switching"));
	ids = cJSON_AddArrayToObject(args, "product_ids");
	if (ids)
		cJSON_AddItemToArray(ids, cJSON_CreateString(pid));
	if (tool(t, "record_need", args, 0, &res) == 0)
		t->m->needs_recorded |= t->tags;
	cJSON_Delete(res);
}

static void do_compare(struct turn *t)
{
	const struct catalog_competitor *k = t->comp;
	const struct catalog_offer *offer = t->comp_offer;
	int64_t spend = t->spend > 0 ? t->spend : t->m->spend_cents;
	const struct catalog_product *p = t->named;
	struct cmpinfo ci;
	int cat, r;

	if (!k && t->m->competitor[0])
		k = catalog_competitor_find(t->cat, t->m->competitor);
	if (!p && t->m->focus[0] && k) {
		/* they already pay k for what one of the focus product's cross-sells
		 * includes (StreamMax in the Entertainment Bundle): compare that */
		const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);

		for (size_t i = 0; f && !includes(f, k->name) && i < f->n_cross_sells && !p; i++)
			if (includes(f->cross_sells[i].product, k->name) &&
			    f->cross_sells[i].product->billing == CATALOG_BILLING_MONTHLY)
				p = f->cross_sells[i].product;
	}
	if (!p && t->m->focus[0]) {
		const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);

		if (f && f->billing == CATALOG_BILLING_MONTHLY &&
		    (t->category < 0 || (int)f->category == t->category) &&
		    (spend > 0 || comparable(f, k)))
			p = f;
	}
	if (!p && offer) {
		/* our product the catalog sets against that very offer */
		for (size_t i = 0; i < catalog_product_count(t->cat) && !p; i++) {
			const struct catalog_product *q = catalog_product_at(t->cat, i);

			for (size_t c = 0; c < q->n_comparisons && !p; c++)
				for (size_t j = 0; j < q->comparisons[c].n_offers; j++)
					if (q->comparisons[c].offers[j] == offer &&
					    q->comparisons[c].n_offers == 1)
						p = q;
		}
	}
	if (!p) {
		struct pinfo r5[5];
		int n, b = -1;

		cat = t->category >= 0		    ? t->category
		      : offer			    ? (int)offer->category
		      : competitor_category(k) >= 0 ? competitor_category(k)
						    : t->m->category;
		if (cat < 0) {
			char q[200];

			/* tied in elsewhere: timing, not a no */
			if (k && any_cue(t->norm, objection_cues[OBJ_CONTRACT]))
				say(t, 0,
				    "Being tied in is worth planning around: we can line the "
				    "switch up with the day your contract ends.");
			else
				say(t, 0, "Happy to put the numbers side by side.");
			if (k)
				snprintf(
				    q, sizeof(q),
				    pick(t, "whichsvc", 2)
					? "Is it your phone, the internet or TV you have with %s "
					  "now?"
					: "Which service is it with %s: phone, internet or TV?",
				    k->name);
			ask(t, k ? q
				 : "Which service would you like me to compare: phone, internet or "
				   "TV?");
			suggest(t, "My phone plan", "Home internet", "TV");
			action(t,
			       "Comparison shopper%s%s: find out which service, then run compare.",
			       k ? " with " : "", k ? k->name : "");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			return;
		}
		n = search(t, cat, -1, 1, r5, 5, true);
		{
			/* the product whose catalog comparison covers most of what they pay for */
			unsigned best_cover = 0;

			for (int i = 0; i < n && k; i++) {
				const struct catalog_product *q = r5[i].p;

				if (!q || q->billing != CATALOG_BILLING_MONTHLY ||
				    q->category == CATALOG_CATEGORY_ADDONS)
					continue;
				for (size_t c = 0; c < q->n_comparisons; c++) {
					unsigned cover = 0;
					bool has_k = false;

					for (size_t j = 0; j < q->comparisons[c].n_offers; j++) {
						const struct catalog_competitor *o =
						    q->comparisons[c].offers[j]->competitor;

						has_k |= o == k;
						cover += competitor_heard(t, o);
					}
					if (has_k && cover > best_cover) {
						best_cover = cover;
						b = i;
					}
				}
			}
		}
		if (b < 0 && n > 0)
			b = best_fit(t, r5, n);
		if (b >= 0 && r5[b].p && r5[b].p->billing == CATALOG_BILLING_MONTHLY)
			p = r5[b].p;
	}
	if (!p || (!k && spend <= 0)) {
		say(t, 0, "Happy to do the math for you.");
		ask(t, spend > 0 ? "Which service is that for: phone, internet or TV?"
		       : k	 ? "What do you pay them each month for it now, roughly?"
			   : "Who are you with now, and what do you pay each month, roughly?");
		if (spend > 0)
			t->m->spend_cents = spend;
		action(t, "Get their current provider or monthly spend, then run compare.");
		suggest(t, "", "", "");
		t->out->suggested_state = AGENT_STATE_DISCOVERY;
		return;
	}
	if (signal_on(t, SIGNAL_OBJECTION))
		say(t, 3, "%s",
		    pick_from(t, "cmpack", L("Fair question.", "Good that you're checking.")));
	/* "I'm switching from Crestel, can I keep my number?": the answer, then the math */
	if (t->question && calls_left(t) >= 3 &&
	    other_answer(t, (int)p->category, NULL, 1, t->answer, sizeof(t->answer)))
		say(t, 0, "%s", t->answer);
	{
		/* everything they named of theirs ("StreamMax and Crestel TV Plus"), added up */
		const struct catalog_offer *const *ov = t->n_offers > 1 ? t->offers : &offer;
		unsigned no = t->n_offers > 1 ? t->n_offers : offer ? 1 : 0;

		r = compare(t, p, no ? NULL : k, ov, no, spend, 0, &ci);
	}
	if (r < 0 && k && spend <= 0 && k->n_offers == 1 && t->n_offers == 0 &&
	    p->billing == CATALOG_BILLING_MONTHLY) {
		/* "is TV Sports Max cheaper than ArenaPass?": they sell one thing, in
		 * another category; set it against that, the question asked */
		const struct catalog_offer *only = &k->offers[0];

		r = compare(t, p, NULL, &only, 1, spend, 0, &ci);
	}
	if (r < 0 && k && spend <= 0) {
		/* nothing of theirs to set against it (or not allowed yet): ask for the anchor */
		say(t, 0, "I'd rather compare like with like than guess at %s's prices.", k->name);
		ask(t, "What do you pay them each month now, roughly?");
		action(t, "Ask what they pay %s now, then run compare with that figure.", k->name);
		t->out->suggested_state = AGENT_STATE_DISCOVERY;
		return;
	}
	if (r < 0) {
		say(t, 0, "I can't run the numbers just now.");
		ask(t, "Shall I get a colleague to go through them with you?");
		t->m->pending = PENDING_ESCALATE;
		snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "custom_quote");
		action(t, "The comparison tool failed: run the numbers for them by hand.");
		return;
	}
	t->comparing = true;
	{
		const struct catalog_product *before = catalog_product_find(t->cat, t->m->focus);

		if (before == p)
			before = NULL;
		if (before && k && includes(p, k->name) && !includes(before, k->name)) {
			char pn[CATALOG_NAME_MAX + 8];

			say(t, 0, "%s doesn't include %s, but %s does.", before->name, k->name,
			    the(p->name, pn, sizeof(pn)));
		} else if (before && k && before->category != p->category && !t->named &&
			   competitor_category(k) == (int)p->category) {
			say(t, 0, "%s only does %s, so here's that side by side.", k->name,
			    category_talk[p->category].plural);
		}
		set_focus(t, p->id, true);
		say_comparison(t, &ci, k,
			       before && before->billing == CATALOG_BILLING_MONTHLY ? before : NULL,
			       before ? before->price_cents : 0);
	}
	if (t->style & STYLE_SWITCH && k) {
		char q[160];

		if (t->m->contract_end[0])
			snprintf(
			    q, sizeof(q),
			    "Shall we plan the switch for %s, when your contract with %s ends?",
			    t->m->contract_end, k->name);
		else
			snprintf(q, sizeof(q),
				 "When does your contract with %s end, so we can time the switch?",
				 k->name);
		ask(t, q);
	} else if (t->style & STYLE_HARD) {
		close_question(t, p);
	} else if (t->style & STYLE_SOFT) {
		say(t, 2,
		    "I've noted these numbers, so you can talk it over at home and pick up here "
		    "next time.");
		ask(t,
		    (t->tags | t->m->needs) & (NB(NEED_FAMILY) | NB(NEED_KIDS) | NB(NEED_TEENS))
			? "Which matters more to the family, the monthly price or what's included?"
			: "Which matters more to you, the monthly price or what's included?");
	} else {
		ask(t,
		    pick_from(
			t, "cmpq",
			L("What matters most to you: the monthly price, what's included, or being "
			  "free to leave?",
			  "Which matters more to you, the monthly price or what comes with it?")));
	}
	if (k)
		snprintf(t->m->competitor, sizeof(t->m->competitor), "%s", k->id);
	if (spend > 0)
		t->m->spend_cents = spend;
	record_comparison(t, &ci, p->id);
	talking_point(t, "Math: %.190s", ci.summary);
	if (ci.angle[0])
		talking_point(t, "Angle: %.190s", ci.angle);
	if (k && k->how_we_win)
		talking_point(t, "Against %s: %.170s", k->name, k->how_we_win);
	action(
	    t,
	    "Walk them through %s against %s on the kiosk card; answer what matters most to them.",
	    ci.ours, ci.theirs[0] ? ci.theirs : "what they pay now");
	suggest(t, "Sounds good", "I need to think about it", "What's the catch?");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
}

/* ---- tools with side effects ------------------------------------------------------- */

static int escalate(struct turn *t, const char *reason, const char *summary, bool urgent,
		    char *say_out, size_t len)
{
	cJSON *args = cJSON_CreateObject(), *res;
	char s[SUMMARY_MAX * 4 + 1];
	int r;

	copy_words(s, sizeof(s), summary, 3 * SUMMARY_MAX);
	utf8_cut(s, SUMMARY_MAX - 5);
	if (args) {
		cJSON_AddStringToObject(args, "reason", reason);
		cJSON_AddStringToObject(args, "summary",
					utf8_len(s) >= 3 ? s : "Customer asked for help");
		cJSON_AddBoolToObject(args, "urgent", urgent);
	}
	r = tool(t, "escalate", args, 0, &res);
	if (r == 0) {
		if (say_out)
			jcopy(say_out, len, res, "say");
		t->out->escalated = true;
		t->m->escalated = true;
		t->out->suggested_state = AGENT_STATE_HANDED_OVER;
	}
	cJSON_Delete(res);
	return r;
}

struct booking {
	char ref[TOOLS_REF_MAX], date[11], weekday[16], time[16];
};

static int book(struct turn *t, const char *kind, const char *pid, int32_t day, const char *time,
		struct booking *b)
{
	cJSON *args = cJSON_CreateObject(), *res;
	char iso[11];
	int r;

	memset(b, 0, sizeof(*b));
	catalog_date_format(day, iso);
	if (args) {
		cJSON_AddStringToObject(args, "kind", kind);
		cJSON_AddStringToObject(args, "preferred_day", iso);
		cJSON_AddStringToObject(args, "preferred_time", time ? time : "morning");
		if (pid && *pid)
			cJSON_AddStringToObject(args, "product_id", pid);
		if (visitor_name(t))
			cJSON_AddStringToObject(args, "contact_name", visitor_name(t));
	}
	r = tool(t, "book_appointment", args, 0, &res);
	if (r == 0) {
		jcopy(b->ref, sizeof(b->ref), res, "reference");
		jcopy(b->date, sizeof(b->date), res, "date");
		jcopy(b->weekday, sizeof(b->weekday), res, "weekday");
		jcopy(b->time, sizeof(b->time), res, "time");
		if (b->weekday[0])
			b->weekday[0] = (char)toupper((unsigned char)b->weekday[0]);
		t->out->booked = true;
		snprintf(t->m->booking_ref, sizeof(t->m->booking_ref), "%s", b->ref);
	}
	cJSON_Delete(res);
	return r;
}

static void say_booking(struct turn *t, const struct booking *b, const char *what)
{
	char d[32];

	date_words(b->date, d, sizeof(d));
	say(t, 0, "You're booked in for %s on %s, %s, in the %s; your reference is %s.", what,
	    b->weekday, d, b->time, b->ref);
	say(t, 1, "The team will confirm the exact time by phone or in the app.");
}

/* ---- closing ----------------------------------------------------------------------- */

static bool is_yes(const struct turn *t)
{
	char first[32];

	if (sscanf(t->norm, " %31s", first) == 1)
		for (const char *const *w = no_words; *w; w++)
			if (strcmp(first, *w) == 0)
				return false;
	if (any_phrase(t->norm, L("no thanks", "not now", "not today", "keep it simple",
				  "maybe later", "rather not")))
		return false;
	if (sscanf(t->norm, " %31s", first) == 1)
		for (const char *const *w = yes_words; *w; w++)
			if (!strchr(*w, ' ') && strcmp(first, *w) == 0)
				return true;
	return t->words <= 8 && any_phrase(t->norm, yes_words);
}

static bool is_no(const struct turn *t)
{
	char first[32];

	if (sscanf(t->norm, " %31s", first) == 1)
		for (const char *const *w = no_words; *w; w++)
			if (!strchr(*w, ' ') && strcmp(first, *w) == 0)
				return true;
	return t->words <= 8 &&
	       any_phrase(t->norm,
			  L("no thanks", "not now", "not today", "keep it simple", "maybe later",
			    "rather not", "im fine", "im good", "not really", "leave it"));
}

/* The one add-on that completes what they are buying, if any fits. */
static const struct xsell *choose_cross(struct turn *t, const struct pinfo *pi)
{
	const struct xsell *best = NULL;
	int best_score = 0;
	char all[NORM_MAX];

	if (!t->sk_cross || t->m->cross_declined || t->m->n_cross_offered >= 2 ||
	    t->style & (STYLE_NO_EXTRAS | STYLE_NO_CLOSE | STYLE_NO_SELL))
		return NULL;
	/* "can I get it today?": they want it done, not a tour of extras */
	if (any_phrase(t->norm, L("today", "right now", "straight away", "right away", "asap",
				  "quick", "quickly", "in a hurry")))
		return NULL;
	snprintf(all, sizeof(all), "%s", t->norm);
	for (int k = 0; k < NEED_COUNT; k++)
		if ((t->tags | t->m->needs) & NB(k)) {
			size_t l = strlen(all);

			if (l + strlen(needs[k].query) + strlen(needs[k].for_phrase) + 3 <
			    sizeof(all))
				snprintf(all + l, sizeof(all) - l, "%s %s ", needs[k].query,
					 needs[k].for_phrase);
		}
	for (unsigned i = 0; i < pi->n_xs; i++) {
		const struct xsell *x = &pi->xs[i];
		const struct catalog_product *xp = catalog_product_find(t->cat, x->id);
		int s;

		if (!xp || id_in(t->m->cross_offered, t->m->n_cross_offered, x->id) ||
		    id_in(t->m->presented, t->m->n_presented, x->id))
			continue;
		if (t->m->price_objection && !strstr(x->why, "less than") &&
		    !strstr(x->why, "cheaper"))
			continue;
		s = 2 * overlap(all, x->why) + overlap(all, x->name);
		if (xp->category == CATALOG_CATEGORY_ADDONS) {
			s += 1;
			/* a cheap natural fit: an add-on at most a third of the plan's
			 * price, or a year of it at most a quarter of a device's */
			if (!t->reason_only && pi->price_cents > 0 &&
			    (pi->monthly ? 3 * x->cents <= pi->price_cents
					 : x->monthly && 48 * x->cents <= pi->price_cents))
				s += 1;
		} else if (x->cents > pi->price_cents && pi->monthly) {
			s -= 3; /* a second, dearer plan is not an add-on */
		}
		if (s > best_score) {
			best = x;
			best_score = s;
		}
	}
	return best_score >= 2 ? best : NULL;
}

/* The promotion's end date, once per session, when closing. */
static void say_deadline(struct turn *t, const struct pinfo *pi)
{
	char end[32], pr[32];

	if (!pi->n_promos || id_in(t->m->deadlines_said, t->m->n_deadlines_said, pi->promos[0].id))
		return;
	date_words(pi->promos[0].ends, end, sizeof(end));
	money(t, pi->promos[0].promo_cents, pr, sizeof(pr));
	if (pi->promos[0].monthly && pi->promos[0].months > 0)
		say(t, 1, "%s runs until %s, so you'd pay %s a month for the first %d months.",
		    pi->promos[0].name, end, pr, pi->promos[0].months);
	else
		say(t, 1, "%s runs until %s, so you'd pay %s.", pi->promos[0].name, end, pr);
	promo_said(t, pi->promos[0].id);
	id_add(t->m->deadlines_said, &t->m->n_deadlines_said, RESPONDER_MEMORY_OFFERS,
	       pi->promos[0].id);
}

/*
 * After their yes: one add-on if it fits (and was not offered), then the
 * booking for an installation or a colleague to complete the sign-up.
 */
static void next_step(struct turn *t, const struct pinfo *pi, const char *extra, bool allow_cross)
{
	const struct xsell *x = allow_cross ? choose_cross(t, pi) : NULL;
	const struct catalog_product *xp =
	    extra && *extra ? catalog_product_find(t->cat, extra) : NULL;
	char xpr[32], why[PART_MAX], say_line[300] = "", summary[SUMMARY_MAX * 2];
	struct booking b;
	bool booking_failed = false;

	set_focus(t, pi->id, true);
	t->m->sold = true;
	if (x) {
		char xn[CATALOG_NAME_MAX + 8];

		money(t, x->cents, xpr, sizeof(xpr));
		snprintf(why, sizeof(why), "%s", x->why);
		chop_period(why);
		lower_first(t, why);
		say_deadline(t, pi); /* the offer they said yes to, confirmed once */
		say(t, 0, "One thing that would round it off: %s.", why);
		{
			char q[PART_MAX];

			snprintf(q, sizeof(q),
				 "Would you like %s for %s%s as well, or keep it simple for now?",
				 the(x->name, xn, sizeof(xn)), xpr, x->monthly ? " a month" : "");
			ask(t, q);
		}
		id_add(t->m->cross_offered, &t->m->n_cross_offered, RESPONDER_MEMORY_OFFERS, x->id);
		t->m->pending = PENDING_CROSS_SELL;
		snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", pi->id);
		snprintf(t->m->pending_extra, sizeof(t->m->pending_extra), "%s", x->id);
		action(t, "They said yes to %s; %s offered as the add-on.", pi->name, x->name);
		suggest(t, "Yes, add it", "No thanks, keep it simple", "");
		t->out->suggested_state = AGENT_STATE_CLOSING;
		return;
	}
	if (needs_install(pi->p)) {
		if (t->day >= 0 && book(t, "install", pi->id, t->day, t->time, &b) == 0) {
			char what[160];

			snprintf(what, sizeof(what), "the installation of %s", pi->name);
			say_booking(t, &b, what);
			say_deadline(t, pi);
			t->m->pending = PENDING_NONE;
			action(t,
			       "Installation of %s booked (%s); a colleague completes the order.",
			       pi->name, b.ref);
			suggest(t, "Thank you", "", "");
			t->out->suggested_state = AGENT_STATE_CLOSING;
			return;
		}
		if (t->day < 0) {
			say_deadline(t, pi);
			ask(t, pick_from(t, "dayq",
					 L("Which day suits you for the installation, and is "
					   "morning or afternoon better?",
					   "What day would suit you for the installation, morning "
					   "or afternoon?")));
			t->m->pending = PENDING_BOOK;
			snprintf(t->m->pending_kind, sizeof(t->m->pending_kind), "install");
			snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s",
				 pi->id);
			action(t, "Ready for %s: agree an installation day.", pi->name);
			suggest(t, "Saturday morning", "Tomorrow afternoon", "Monday evening");
			t->out->suggested_state = AGENT_STATE_CLOSING;
			return;
		}
		/* the booking failed: a colleague sorts the date */
		say(t, 0, "I couldn't book the installation from here.");
		booking_failed = true;
	}
	snprintf(summary, sizeof(summary), "Ready to buy %s%s%s. %s", pi->name, xp ? " with " : "",
		 xp ? xp->name : "",
		 t->m->needs ? "Needs recorded in this session."
			     : "Wants to complete the sign-up.");
	if (escalate(t, "customer_request", summary, false, say_line, sizeof(say_line)) == 0) {
		if (xp)
			say(t, 0, "%s",
			    pick_from(t, "yes2",
				      L("Lovely, I've added that.", "Great, that's added.")));
		if (booking_failed)
			say(t, 0,
			    "A colleague is coming over now to set the date and finish the sign-up "
			    "with you.");
		else
			say(t, 0, "%s",
			    pick_from(t, "handoff",
				      L("A colleague is coming over now to complete the sign-up "
					"with you.",
					"I've asked a colleague to come and finish the sign-up "
					"with you; they'll be right over.")));
		say_deadline(t, pi);
		action(t, "Complete the sign-up: %s%s%s.", pi->name, xp ? " + " : "",
		       xp ? xp->name : "");
	} else {
		say(t, 0,
		    "Please ask at the counter and a colleague will complete the sign-up with "
		    "you.");
		action(t, "The customer is ready to buy %s: go to them.", pi->name);
	}
	t->m->pending = PENDING_NONE;
	suggest(t, "Thank you", "", "");
}

static void do_closing(struct turn *t)
{
	const struct catalog_product *p = t->named;
	struct pinfo pi;
	bool strong = any_phrase(t->norm, strong_close);

	if (!p && t->m->focus[0])
		p = catalog_product_find(t->cat, t->m->focus);
	if (!p) {
		say(t, 0, "%s",
		    pick_from(t, "closenop",
			      L("Happy to get you started.", "Great, let's get you sorted.")));
		ask(t, "Which one did you have in mind?");
		t->out->suggested_state = AGENT_STATE_DISCOVERY;
		return;
	}
	if (strong && calls_left(t) < 2) {
		/* one call left: it goes to the hand-over, not to reading the product again */
		memset(&pi, 0, sizeof(pi));
		pi.ok = true;
		pi.p = p;
		snprintf(pi.id, sizeof(pi.id), "%s", p->id);
		snprintf(pi.name, sizeof(pi.name), "%s", p->name);
		pi.price_cents = -1;
		say(t, 3, "%s",
		    pick_from(t, "yes", L("Great choice.", "Lovely, good choice.", "Brilliant.")));
		next_step(t, &pi, NULL, false);
		return;
	}
	if (get_product(t, p->id, 0, &pi) < 0) {
		say(t, 0, "Great, a colleague can take it from here.");
		ask(t, "Shall I get someone to complete it with you?");
		t->m->pending = PENDING_HANDOFF;
		snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", p->id);
		return;
	}
	/* "when can it be installed?" for something that needs no visit: say so, and
	 * it is still a question, so the decision is asked for */
	if (any_phrase(t->norm, L("installed", "installation", "install", "engineer")) &&
	    !needs_install(pi.p)) {
		say(t, 0,
		    "There's no installation visit for %s: it's ready to use the day you sign "
		    "up.",
		    pi.name);
		strong = false;
	}
	/* "what do I need to bring?": answered, then the next step */
	if (any_phrase(t->norm, L("need to bring", "should i bring", "what do i bring",
				  "what documents", "do i need id", "bring anything")))
		say(t, 0,
		    "A colleague confirms your ID and payment details with you when you sign "
		    "up, so that's all you need.");
	if (strong || t->day >= 0) {
		say(t, 3, "%s",
		    pick_from(t, "yes", L("Great choice.", "Lovely, good choice.", "Brilliant.")));
		next_step(t, &pi, NULL, true);
		return;
	}
	/* interest, not yet a decision: summarise in one line and ask for it */
	{
		char price[200];

		price_sentence(t, &pi, false, price, sizeof(price));
		chop_period(price);
		say(t, 0, "So that's %s at %s.", pi.name, price + 5 /* after "It's " */);
	}
	set_focus(t, pi.id, true);
	say_deadline(t, &pi);
	if (needs_install(pi.p)) {
		ask(t, "Shall I book the installation for you?");
		t->m->pending = PENDING_BOOK;
		snprintf(t->m->pending_kind, sizeof(t->m->pending_kind), "install");
	} else {
		ask(t, pick_from(t, "closeq",
				 L("Shall I get a colleague to set that up for you now?",
				   "Would you like me to get that set up for you?")));
		t->m->pending = PENDING_HANDOFF;
	}
	snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", pi.id);
	action(t, "Buying signal on %s: be ready to complete the sign-up.", pi.name);
	suggest(t, "Yes, please", "Not today", "What's the catch?");
	t->out->suggested_state = AGENT_STATE_CLOSING;
}

/* ---- objections: acknowledge, bridge, evidence, empower --------------------------- */

static bool still_fits(const struct turn *t, const struct catalog_product *q);

/*
 * The alternative a step down from orig: among the results (all cheaper), the
 * one that still fits what they said, sharing the most of orig's keywords,
 * then the closest in price (the smallest step down keeps the same class).
 */
static int step_down(const struct turn *t, const struct catalog_product *orig,
		     const struct pinfo *r, int n)
{
	int best = -1, best_score = -1;

	for (int i = 0; i < n; i++) {
		const struct catalog_product *q = r[i].p;
		int shared = 0, sc;

		if (!q || q == orig || q->category != orig->category || !still_fits(t, q))
			continue;
		for (size_t a = 0; a < orig->n_keywords; a++)
			for (size_t b = 0; b < q->n_keywords; b++)
				shared += strcmp(orig->keywords[a], q->keywords[b]) == 0;
		/* price closeness: 0..99 */
		sc = 100 * shared +
		     (int)(99 * q->price_cents / (orig->price_cents ? orig->price_cents : 1));
		if (sc > best_score) {
			best = i;
			best_score = sc;
		}
	}
	return best;
}

/* Does q still cover the needs heard (when there are any)? */
static bool still_fits(const struct turn *t, const struct catalog_product *q)
{
	unsigned all =
	    (t->tags | t->m->needs) & ~(NB(NEED_BUDGET) | NB(NEED_SWITCHING) | NB(NEED_FAMILY));
	char text[CATALOG_TEXT_MAX * 3 + CATALOG_LIST_MAX * (CATALOG_NAME_MAX + 1)];
	size_t off;

	if (!all)
		return true;
	off = (size_t)snprintf(text, sizeof(text), "%s %s ", q->best_for, q->value_story);
	for (size_t i = 0; i < q->n_keywords && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ", q->keywords[i]);
	for (size_t i = 0; i < q->n_features && off < sizeof(text); i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s ", q->features[i]);
	{
		char padded[sizeof(text) * 3 + 8];

		norm_padded(text, strlen(text), padded, sizeof(padded));
		for (int k = 0; k < NEED_COUNT; k++)
			if (all & NB(k) && !any_phrase(padded, needs[k].cues) &&
			    !(needs[k].query[0] && has_phrase(padded, needs[k].query)))
				return false;
	}
	return true;
}

/* current_promotions for pi: the first promotion running on it, into *ret. */
static int current_promotion(struct turn *t, const struct pinfo *pi, struct promo *ret)
{
	cJSON *args = cJSON_CreateObject(), *res, *it, *pp;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (args)
		cJSON_AddStringToObject(args, "product_id", pi->id);
	r = tool(t, "current_promotions", args, 1, &res);
	if (r < 0)
		return r;
	r = -ENOENT;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "promotions"))
	{
		cJSON_ArrayForEach(pp, cJSON_GetObjectItemCaseSensitive(it, "products"))
		{
			const char *id = jstr(pp, "id");

			if (!id || strcmp(id, pi->id) != 0)
				continue;
			jcopy(ret->id, sizeof(ret->id), it, "id");
			jcopy(ret->name, sizeof(ret->name), it, "name");
			jcopy(ret->ends, sizeof(ret->ends), it, "ends");
			ret->promo_cents = money_parse(jstr(pp, "promo_price"));
			ret->monthly =
			    jstr(pp, "promo_price") && strstr(jstr(pp, "promo_price"), "a month");
			ret->months = jint(pp, "for_months");
			if (ret->promo_cents >= 0 && ret->name[0]) {
				r = 0;
				break;
			}
		}
		if (r == 0)
			break;
	}
	cJSON_Delete(res);
	return r;
}

/*
 * A cheaper product in pi's category that still fits what they said (one
 * search_products call), said as "<lead>X is $Y and is made for ...", and put
 * in focus. false when there is none.
 */
static bool say_step_down(struct turn *t, const struct pinfo *pi, const char *lead)
{
	struct pinfo r[5];
	char bf[PART_MAX], pr[32], q[QUERY_MAX + 1] = "";
	int n = 0, b;

	/* the products most like it (its own keywords), under its price */
	for (size_t i = 0; pi->p && i < pi->p->n_keywords; i++)
		if (strlen(q) + strlen(pi->p->keywords[i]) + 2 < sizeof(q))
			snprintf(q + strlen(q), sizeof(q) - strlen(q), "%s%s", q[0] ? " " : "",
				 pi->p->keywords[i]);
	if (pi->p)
		n = search_run(t, q, (int)pi->p->category, pi->price_cents - 1, 1, r, 5);
	if (n <= 0 && pi->p)
		n = search(t, (int)pi->p->category, pi->price_cents - 1, 1, r, 5, false);
	b = n > 0 ? step_down(t, pi->p, r, n) : -1;

	if (b < 0)
		return false;
	money(t, r[b].price_cents, pr, sizeof(pr));
	snprintf(bf, sizeof(bf), "%s", r[b].best_for);
	chop_period(bf);
	lower_first(t, bf);
	say(t, 0, "%s%s is %s%s and is made for %s.", lead, r[b].name, pr,
	    r[b].monthly ? " a month" : "", bf);
	set_focus(t, r[b].id, true);
	ask(t, "Would that be closer to what you had in mind?");
	return true;
}

static int objection_kind(const struct turn *t)
{
	static const enum objection order[] = {OBJ_PARTNER, OBJ_CONTRACT, OBJ_TRUST, OBJ_HASSLE,
					       OBJ_NEED,    OBJ_VALUE,	  OBJ_PRICE, OBJ_THINK};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (any_cue(t->norm, objection_cues[order[i]]) ||
		    (order[i] == OBJ_NEED && any_phrase(t->norm, objection_cues[OBJ_NEED])))
			return (int)order[i];
	return t->tags & NB(NEED_BUDGET) ? OBJ_PRICE : OBJ_THINK;
}

/* "You said the kids are a big part of this" when a need was heard. */
static bool bridge(const struct turn *t, char *out, size_t len)
{
	int nd = first_need(t->m->needs | t->tags);

	if (nd < 0 || nd == NEED_SWITCHING || nd == NEED_BUDGET)
		return false;
	snprintf(out, len, "%s", needs[nd].bridge);
	return true;
}

/* One sentence on the contract: no_contract with the name, or tied with the name and months. */
static void say_terms(struct turn *t, const struct pinfo *pi, int prio, const char *no_contract,
		      const char *tied)
{
	if (pi->monthly && pi->contract_months == 0)
		say(t, prio, no_contract, pi->name);
	else if (pi->contract_months > 0)
		say(t, prio, tied, pi->name, pi->contract_months);
}

static void do_objection(struct turn *t)
{
	int kind = objection_kind(t);
	const struct catalog_product *p = catalog_product_find(t->cat, t->m->focus);
	struct pinfo pi;
	char br[200], ev[PART_MAX] = "", pr[32];
	bool have_br, repeat = t->m->objections[kind] > 0;

	t->out->suggested_state = AGENT_STATE_OBJECTION;
	t->m->objections[kind]++;
	if (kind == OBJ_PRICE)
		t->m->price_objection = true;
	t->m->pending = PENDING_NONE;
	if (!p || get_product(t, p->id, 0, &pi) < 0) {
		say(t, 0, "%s",
		    pick_from(t, "objnop",
			      L("Fair enough, no pressure at all.", "That's completely fair.")));
		ask(t, category_talk[t->m->category >= 0 ? t->m->category : CATALOG_CATEGORY_MOBILE]
			   .discovery[0]);
		return;
	}
	snprintf(t->salt, sizeof(t->salt), "%s", pi.id);
	snprintf(t->out->card_product, sizeof(t->out->card_product), "%s", pi.id);
	if (repeat) {
		/* the same concern twice: stop persuading, leave the door open */
		say(t, 0, "%s",
		    pick_from(t, "objrep",
			      L("I understand, and there's no pressure at all.",
				"That's completely fine, no pressure.")));
		say(t, 0,
		    "I've noted what we looked at, so whenever you're ready the team here can pick "
		    "it up from there.");
		record(t, pi.id);
		action(t, "Same concern twice (%s): stop selling %s; leave the door open.",
		       kind == OBJ_PRICE ? "price" : "timing", pi.name);
		suggest(t, "Thanks", "Tell me about something else", "");
		return;
	}
	have_br = bridge(t, br, sizeof(br));
	switch ((enum objection)kind) {
	case OBJ_PRICE: {
		struct cmpinfo ci;
		struct promo promo;
		const struct catalog_competitor *k =
		    t->comp ? t->comp : catalog_competitor_find(t->cat, t->m->competitor);
		int64_t spend = t->spend > 0 ? t->spend : t->m->spend_cents;

		say(t, 0, "%s",
		    pick_from(t, "ackprice",
			      L("Fair enough, the monthly cost matters.",
				"That's fair, it has to make sense for the budget.",
				"I hear you, nobody wants to pay for more than they need.")));
		/* "ok what about something cheaper": they asked for another one, so that
		 * comes first, before paying monthly or an offer on this one */
		if (any_phrase(t->norm, L("something cheaper", "anything cheaper", "cheaper one",
					  "cheaper option", "cheaper alternative", "cheaper plan",
					  "cheaper phone", "less expensive", "cheapest")) &&
		    say_step_down(t, &pi, "A step down that still fits: "))
			break;
		if ((k || spend > 0) && pi.monthly &&
		    compare(t, pi.p, k, NULL, 0, spend, 0, &ci) == 0) {
			char a[32], b[32], c[32];

			money(t, ci.theirs_m, a, sizeof(a));
			money(t, ci.ours_m, b, sizeof(b));
			money(t, ci.diff_m, c, sizeof(c));
			if (have_br)
				say(t, 1, "You said %s.", br);
			if (ci.spend > 0 && ci.cheaper_m > 0)
				say(t, 0,
				    "Against the %s a month you pay now, %s at %s works out %s a "
				    "month less.",
				    a, pi.name, b, c);
			else if (ci.spend > 0)
				say(t, 0,
				    "Against the %s a month you pay now, %s at %s is %s a month "
				    "more, for what it adds.",
				    a, pi.name, b, c);
			else if (ci.cheaper_m > 0)
				say(t, 0,
				    "Against %s at %s a month, %s at %s works out %s a month less.",
				    ci.theirs, a, pi.name, b, c);
			else
				say(t, 0,
				    "Against %s at %s a month, %s at %s is %s a month more, for "
				    "what it adds.",
				    ci.theirs, a, pi.name, b, c);
			t->comparing = true;
			ask(t, "Would it help to take these numbers home and decide there?");
			break;
		}
		if (!pi.monthly && pi.monthly_cents > 0 && pi.pay_months > 0) {
			char pm[32];

			money(t, pi.monthly_cents, pm, sizeof(pm));
			if (have_br)
				say(t, 1, "You said %s, and %s fits that.", br, pi.name);
			say(t, 0,
			    "You don't have to pay it all at once: it's %s a month over %d months, "
			    "with no interest.",
			    pm, pi.pay_months);
			ask(t, "Would spreading it like that work better for you?");
			break;
		}
		if (current_promotion(t, &pi, &promo) == 0) {
			char pp[32];

			money(t, promo.promo_cents, pp, sizeof(pp));
			if (have_br)
				say(t, 1, "You said %s, and %s fits that.", br, pi.name);
			if (promo.monthly && promo.months > 0)
				say(t, 0, "With %s it's %s a month for the first %d months%s.",
				    promo.name, pp, promo.months,
				    pi.contract_months ? "" : ", with no contract");
			else
				say(t, 0, "With %s it's %s.", promo.name, pp);
			promo_said(t, promo.id);
			if (pi.monthly && pi.p && t->m->spend_cents < 0 &&
			    category_talk[pi.p->category].spend_q) {
				t->m->spend_asked = true;
				ask(t, category_talk[pi.p->category].spend_q);
			} else {
				ask(t, "Would it help to see it against what you pay now?");
			}
			break;
		}
		if (say_step_down(t, &pi, "If the price is the sticking point, "))
			break;
		/* the value, then the anchor that lets compare do the math next time */
		if (evidence(t, &pi, 1, ev, sizeof(ev))) {
			lower_first(t, ev);
			if (strchr(ev, ':')) {
				ev[0] = (char)toupper((unsigned char)ev[0]);
				if (have_br)
					say(t, 1,
					    "You said %s, and that's what you'd be paying for.",
					    br);
				say(t, 0, "%s", ev);
			} else if (have_br) {
				say(t, 0, "You said %s, and that's what you'd be paying for: %s",
				    br, ev);
			} else {
				say(t, 0, "What you'd be paying for is this: %s", ev);
			}
		}
		if (pi.monthly && pi.p && category_talk[pi.p->category].spend_q) {
			t->m->spend_asked = true;
			ask(t, category_talk[pi.p->category].spend_q);
		} else if (pi.monthly) {
			ask(t,
			    "Would it help to go through what's included, so you can weigh it up?");
		} else {
			ask(t, "Would it help to look at something simpler?");
		}
		break;
	}
	case OBJ_THINK:
		say(t, 0, "%s",
		    pick_from(t, "ackthink",
			      L("Of course, it's worth thinking over.",
				"Makes sense, there's no rush at all.")));
		say_terms(t, &pi, 1,
			  "%s has no contract, so whenever you decide, you're never stuck with it.",
			  "Worth knowing: %s is a %d-month contract, so it's right to be sure.");
		if (tools_allowed(tools_find("book_appointment"), t->in->tools->state) ||
		    t->in->tools->state == AGENT_STATE_PRESENTING) {
			ask(t, "Would it help to book a time to come back, so someone has it ready "
			       "for you?");
			t->m->pending = PENDING_VISIT;
			snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", pi.id);
		} else {
			ask(t, "Is there anything that would help you decide?");
		}
		break;
	case OBJ_CONTRACT:
		say(t, 0, "Being tied in is a real constraint, and it's worth timing it right.");
		if (pi.monthly && pi.contract_months == 0)
			say(t, 0,
			    "%s has no contract of its own, so the switch can happen the day yours "
			    "ends.",
			    pi.name);
		else
			say(t, 0,
			    "%s is a %d-month contract, so it's worth starting it when yours ends.",
			    pi.name, pi.contract_months);
		ask(t, "When does your current contract end? We can plan the switch for then.");
		break;
	case OBJ_PARTNER:
		say(t, 0, "That makes sense, it's a decision to make together.");
		{
			char price[200];

			price_sentence(t, &pi, false, price, sizeof(price));
			chop_period(price);
			say(t, 1, "So you have it: %s is %s.", pi.name, price + 5);
		}
		ask(t, "Would it help to book a time to come in together?");
		t->m->pending = PENDING_VISIT;
		snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s", pi.id);
		break;
	case OBJ_TRUST: {
		char price[200];

		if (!any_cue(t->norm,
			     L("whats the catch", "is there a catch", "any catch", "hidden fees",
			       "hidden costs", "small print", "fine print"))) {
			/* reviews, doubt: no "no catch"; what makes it safe to try */
			say(t, 0, "%s",
			    pick_from(t, "ackdoubt",
				      L("It's fair to check what other people say first.",
					"That's a fair worry, and worth taking seriously.")));
			say_terms(
			    t, &pi, 0,
			    "%s has no contract, so you can try it and leave any month if it "
			    "doesn't work for you.",
			    "%s is a %d-month contract, so a colleague can go through it with "
			    "you first.");
			ask(t, "What was it in the reviews that worried you?");
			break;
		}

		say(t, 0, "%s",
		    pick_from(t, "acktrust",
			      L("Good question to ask.", "Fair question, it's worth checking.")));
		price_sentence(t, &pi, false, price, sizeof(price));
		chop_period(price);
		say(t, 0, "No catch: %s is %s%s.", pi.name, price + 5,
		    pi.setup_cents > 0 ? "" : " and no setup fee");
		if (pi.n_charges) {
			money(t, pi.charge_cents[0], pr, sizeof(pr));
			say(t, 1, "The only extra is the %s of %s, and only if you use it.",
			    pi.charge_what[0][0] ? pi.charge_what[0] : "excess", pr);
		}
		ask(t, "Is there anything else you'd like me to check?");
		break;
	}
	case OBJ_NEED:
		/* "I don't need that much speed": less of the same, not a no; and
		 * not a need for speed */
		t->tags = 0;
		if (any_phrase(t->norm,
			       L("that much", "so much", "as much", "that many", "so many",
				 "all that", "that fast", "the fastest", "the best", "that big")) &&
		    say_step_down(t, &pi,
				  "Fair enough, no point paying for more than you'll use: "))
			break;
		say(t, 0, "Fair enough; if you don't need it, it's not worth paying for.");
		ask(t, "What would have to change for it to be worth it to you?");
		t->out->suggested_state = AGENT_STATE_DISCOVERY;
		break;
	case OBJ_HASSLE: {
		int best = -1;
		char pr2[PART_MAX];

		say(t, 0, "Nobody wants a hassle, so here's how it works.");
		for (unsigned i = 0; i < pi.n_qa && best < 0; i++)
			if (strcasestr(pi.qa[i].q, "install") || strcasestr(pi.qa[i].q, "set up") ||
			    strcasestr(pi.qa[i].q, "keep my") ||
			    strcasestr(pi.qa[i].q, "engineer") || strcasestr(pi.qa[i].q, "move"))
				best = (int)i;
		if (best >= 0 && clean_answer(t, pi.qa[best].a, pi.p, 2, pr2, sizeof(pr2))) {
			skip_yes(pr2, ev, sizeof(ev));
			say(t, 0, "%s", ev);
		} else
			for (unsigned i = 0; i < pi.n_features; i++)
				if (strcasestr(pi.features[i], "install") ||
				    strcasestr(pi.features[i], "app")) {
					char f[CATALOG_NAME_MAX];

					snprintf(f, sizeof(f), "%s", pi.features[i]);
					lower_first(t, f);
					say(t, 0, "It comes with %s.", f);
					break;
				}
		ask(t, "Would it help if a colleague walked you through it?");
		t->m->pending = PENDING_ESCALATE;
		snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "customer_request");
		break;
	}
	case OBJ_VALUE:
		say(t, 0, "Fair question.");
		if (!evidence(t, &pi, 1, ev, sizeof(ev)) && pi.best_for[0]) {
			char bf[PART_MAX];

			snprintf(bf, sizeof(bf), "%s", pi.best_for);
			chop_period(bf);
			lower_first(t, bf);
			snprintf(ev, sizeof(ev), "It's made for %s.", bf);
		}
		if (ev[0]) {
			if (have_br) {
				lower_first(t, ev);
				say(t, 0, "You said %s, and that's where it earns its keep: %s", br,
				    ev);
			} else {
				say(t, 0, "%s", ev);
			}
		}
		ask(t, pick_from(t, "valq",
				 L("Would that make the difference for you?",
				   "Does that change how it looks?")));
		break;
	}
	record(t, pi.id);
	talking_point(t, "Concern: %s",
		      kind == OBJ_PRICE	     ? "price"
		      : kind == OBJ_THINK    ? "timing, wants to think"
		      : kind == OBJ_CONTRACT ? "in a contract elsewhere"
		      : kind == OBJ_PARTNER  ? "someone else decides"
		      : kind == OBJ_TRUST    ? "trust, hidden costs"
		      : kind == OBJ_NEED     ? "not sure they need it"
		      : kind == OBJ_HASSLE   ? "hassle of switching"
					     : "value");
	talking_point(t, "Value story: %.180s", pi.value_story);
	action(t, "Objection on %s: acknowledge it; no pressure, one easy next step.", pi.name);
	suggest(t, "Book a time to come back", "What's the catch?", "Tell me more");
}

/* ---- the answer to an offer of ours --------------------------------------------- */

static bool do_pending(struct turn *t)
{
	struct responder_memory *m = t->m;
	/* "yes, but I need to ask my wife" is the objection, not the yes */
	bool yes = is_yes(t) && !signal_on(t, SIGNAL_OBJECTION), no = !yes && is_no(t);
	bool day = t->day >= 0;
	const struct catalog_product *pp = catalog_product_find(t->cat, m->pending_product);
	struct pinfo pi;
	struct booking b;
	char line[300];

	if (m->pending == PENDING_NONE)
		return false;
	if ((t->named && t->named != pp) || t->comp || (!yes && !no && !day)) {
		m->pending = PENDING_NONE; /* they moved on */
		return false;
	}
	/* "no, something else today, my daughter needs her first phone": the no
	 * is to last visit's product, the rest is today's need; answer that. */
	if (m->pending == PENDING_REVISIT && no && signal_on(t, SIGNAL_PRODUCT_INTEREST)) {
		m->pending = PENDING_NONE;
		return false;
	}
	if (pp)
		snprintf(t->salt, sizeof(t->salt), "%s", pp->id);
	switch (m->pending) {
	case PENDING_NONE:
		return false;
	case PENDING_ESCALATE:
		m->pending = PENDING_NONE;
		if (yes) {
			line[0] = '\0';
			if (escalate(t,
				     m->pending_reason[0] ? m->pending_reason : "customer_request",
				     "Customer asked for a colleague (kiosk offered one).", false,
				     line, sizeof(line)) == 0)
				say(t, 0, "%s",
				    line[0] ? line : "A colleague will be with you in a moment.");
			else
				say(t, 0,
				    "Please ask at the counter and a colleague will help you "
				    "straight away.");
			action(t, "Go to the customer: they asked for someone.");
		} else {
			say(t, 0, "No problem, just say whenever you'd like someone.");
			if (m->focus[0] && catalog_product_find(t->cat, m->focus)) {
				char q[200];

				snprintf(q, sizeof(q), "Shall we carry on with %s?",
					 catalog_product_find(t->cat, m->focus)->name);
				ask(t, q);
			} else {
				ask(t, "What else can I help you with today?");
			}
		}
		return true;
	case PENDING_CROSS_SELL:
	case PENDING_HANDOFF:
	case PENDING_BOOK:
	case PENDING_VISIT:
	case PENDING_REVISIT:
		break;
	}
	if (!pp || get_product(t, pp->id, 0, &pi) < 0) {
		m->pending = PENDING_NONE;
		return false;
	}
	switch (m->pending) {
	case PENDING_CROSS_SELL: {
		char extra[ID_MAX];

		snprintf(extra, sizeof(extra), "%s", m->pending_extra);
		m->pending = PENDING_NONE;
		if (no) {
			m->cross_declined = true;
			say(t, 0, "%s",
			    pick_from(t, "xsno",
				      L("No problem, we'll keep it simple.",
					"Of course, keeping it simple.")));
			next_step(t, &pi, NULL, false);
		} else if (!yes) {
			/* "Saturday morning": the day for what they said yes to, not the add-on */
			m->cross_declined = true;
			next_step(t, &pi, NULL, false);
		} else {
			next_step(t, &pi, extra, false);
		}
		return true;
	}
	case PENDING_HANDOFF: {
		m->pending = PENDING_NONE;
		/* a yes to "shall I get a colleague?" is a yes to the colleague: only
		 * an add-on that answers something they said is worth the wait */
		t->reason_only = m->asked_colleague;
		if (no) {
			say(t, 0, "No problem at all.");
			say(t, 0,
			    "I've noted what we looked at, so the team can pick it up whenever "
			    "you're ready.");
			record(t, pi.id);
			suggest(t, "Thanks", "Tell me about something else", "");
			return true;
		}
		say(t, 3, "%s", pick_from(t, "yes", L("Great choice.", "Lovely.", "Brilliant.")));
		next_step(t, &pi, NULL, true);
		return true;
	}
	case PENDING_BOOK:
		if (no) {
			m->pending = PENDING_NONE;
			say(t, 0,
			    "No problem, a colleague can sort the date with you whenever suits.");
			return true;
		}
		if (!day) {
			ask(t, "Great. Which day suits you best, and morning or afternoon?");
			suggest(t, "Saturday morning", "Tomorrow afternoon", "Monday evening");
			t->out->suggested_state = AGENT_STATE_CLOSING;
			return true;
		}
		m->pending = PENDING_NONE;
		next_step(t, &pi, NULL, false);
		return true;
	case PENDING_VISIT:
		if (no) {
			m->pending = PENDING_NONE;
			say(t, 0,
			    "No problem, you're welcome back any time, and the team can pick it up "
			    "from here.");
			record(t, pi.id);
			return true;
		}
		if (!day) {
			ask(t, "Which day would suit you, and morning or afternoon?");
			suggest(t, "Saturday morning", "Tomorrow afternoon", "");
			return true;
		}
		m->pending = PENDING_NONE;
		if (book(t, "store", pi.id, t->day, t->time, &b) == 0) {
			char what[160];

			snprintf(what, sizeof(what), "a visit to look at %s again", pi.name);
			say_booking(t, &b, what);
			action(t, "Store visit booked (%s) for %s.", b.ref, pi.name);
		} else {
			say(t, 0,
			    "I couldn't book that from here; a colleague at the counter can set it "
			    "up for you.");
		}
		return true;
	case PENDING_REVISIT:
		m->pending = PENDING_NONE;
		if (no) {
			say(t, 0, "No problem at all.");
			ask(t, "What brings you in today?");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			return true;
		}
		{
			char op[200];

			snprintf(op, sizeof(op),
				 pick(t, "revisit", 2)
				     ? "Great, let's pick up where you left off with %s."
				     : "Good to pick %s up again.",
				 pi.name);
			present(t, &pi, op, PRESENT_AGAIN);
		}
		return true;
	case PENDING_NONE:
	case PENDING_ESCALATE:
		break;
	}
	return false;
}

/* ---- scope boundary and service recovery: no selling ---------------------------------- */

static bool long_number(const char *s, size_t len)
{
	unsigned run = 0;

	for (size_t i = 0; i < len; i++) {
		if (isdigit((unsigned char)s[i]))
			run++;
		else if (s[i] != ' ' && s[i] != '-')
			run = 0;
		if (run >= 8)
			return true;
	}
	return false;
}

static void do_scope(struct turn *t)
{
	const char *topic = "that", *reason = "other";
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);

	for (size_t i = 0; i < N_SCOPE_TOPICS; i++)
		if (any_phrase(t->norm, scope_topics[i].cues)) {
			topic = scope_topics[i].topic;
			reason = scope_topics[i].reason;
			break;
		}
	if (long_number(t->raw, strlen(t->raw)))
		say(t, 0,
		    "Please don't share account or card numbers here; a colleague will check it "
		    "with you securely.");
	say(t, 0, "A colleague can look at %s with you; they can see your account and I can't.",
	    topic);
	if (f) {
		char q[200];

		snprintf(q, sizeof(q),
			 "Shall I get someone now, or shall we finish looking at %s first?",
			 f->name);
		ask(t, q);
	} else {
		ask(t, "Shall I get someone for you now?");
	}
	t->m->pending = PENDING_ESCALATE;
	snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "%s", reason);
	action(t, "Account question (%s): be ready to take over if they say yes.", reason);
	suggest(t, "Yes, get someone", "Let's finish here first", "");
}

/*
 * The service-recovery path chosen by the archetype alone (no complaint in
 * this visit): still no selling, but no apology for a frustration nobody
 * voiced; a colleague is offered, not summoned.
 */
static void do_recovery_quiet(struct turn *t)
{
	bool declined = t->m->pending == PENDING_ESCALATE && is_no(t);

	t->m->pending = PENDING_NONE;
	t->m->focus[0] = '\0';
	if (declined) {
		say(t, 0, "No problem at all; I'm right here if you need anything.");
		action(t, "Archetype says frustrated, but they declined a colleague: stay close, "
			  "sell nothing.");
		return;
	}
	say(t, 0, "%s", pick_from(t, "quiet", L("Of course.", "Sure.")));
	say(t, 0,
	    "If anything about your service isn't right, a colleague who can see your account can "
	    "sort it out with you.");
	ask(t, "Would you like me to get someone?");
	t->m->pending = PENDING_ESCALATE;
	snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "customer_request");
	action(t, "The customer may be unhappy: check in with them; sell nothing for now.");
	suggest(t, "Yes, get someone", "No, I'm fine", "");
}

static void do_recovery(struct turn *t)
{
	enum complaint kind = COMPLAINT_OTHER;
	static const char *const reason[COMPLAINT_OTHER + 1] = {
	    [COMPLAINT_OUTAGE] = "technical_fault", [COMPLAINT_WAITING] = "complaint",
	    [COMPLAINT_BILLING] = "billing",	    [COMPLAINT_TREATED] = "complaint",
	    [COMPLAINT_OTHER] = "complaint",
	};
	char summary[SUMMARY_MAX * 4 + 64], words[SUMMARY_MAX * 4];

	t->m->pending = PENDING_NONE;
	t->m->focus[0] = '\0';
	for (int k = 0; k < COMPLAINT_OTHER; k++)
		if (any_phrase(t->norm, complaint_cues[k])) {
			kind = (enum complaint)k;
			break;
		}
	if (t->m->escalated) {
		say(t, 0, "%s",
		    pick_from(
			t, "recov2",
			L("A colleague is on the way, and they already have what you told me.",
			  "Someone is coming over now; you won't need to repeat any of this.")));
		action(t, "Customer still waiting and upset: go to them now.");
		t->out->suggested_state = AGENT_STATE_HANDED_OVER;
		return;
	}
	say(t, 0, "%s", complaint_ack[kind]);
	copy_words(words, sizeof(words), t->raw, 240);
	snprintf(summary, sizeof(summary), "Upset customer, in their words: %s", words);
	if (escalate(t, reason[kind], summary, true, NULL, 0) == 0) {
		say(t, 0,
		    "I'm getting a colleague who can see your account right now, and I've passed "
		    "on what you told me.");
		if (!any_phrase(t->norm, service_words))
			ask(t, "So they can start straight away, which service is it about?");
	} else {
		say(t, 0,
		    "Please ask at the counter and a colleague will look at it with you straight "
		    "away.");
	}
	action(t, "Go to the customer now: %s. Sell nothing; listen first.",
	       kind == COMPLAINT_OUTAGE	   ? "a service that keeps failing"
	       : kind == COMPLAINT_WAITING ? "left waiting for a callback"
	       : kind == COMPLAINT_BILLING ? "a billing problem"
					   : "an upset customer");
	talking_point(t, "In their words: %.180s", words);
	talking_point(t, "Apologise once, do not explain or defend; promise only what you can do.");
	suggest(t, "", "", "");
}

/* ---- small talk, greeting, discovery ----------------------------------------------- */

static int chat_kind(const struct turn *t)
{
	static const enum chat order[] = {CHAT_BYE,	CHAT_THANKS, CHAT_WHO,
					  CHAT_BROWSE,	CHAT_JOKE,   CHAT_HOWRU,
					  CHAT_WEATHER, CHAT_BUSY,   CHAT_GREET};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (any_phrase(t->norm, chat_cues[order[i]]))
			return (int)order[i];
	return -1;
}

/* One line back to what they came for. */
static void back_to_need(struct turn *t)
{
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);
	char q[200];

	if (f) {
		snprintf(q, sizeof(q), "%s",
			 pick(t, "back", 2) ? "Shall we pick up where we were with %s?"
					    : "Would you like to carry on with %s?");
		{
			char q2[240];

			snprintf(q2, sizeof(q2), q, f->name);
			ask(t, q2);
		}
		return;
	}
	if (t->m->category >= 0) {
		snprintf(q, sizeof(q), "So, shall we get back to %s?",
			 category_talk[t->m->category].what);
		ask(t, q);
		return;
	}
	ask(t, pick_from(t, "back0",
			 L("What brings you in today?", "What can I help you with today?")));
}

static void do_small_talk(struct turn *t)
{
	int kind = chat_kind(t);
	const char *name = visitor_name(t);

	t->out->suggested_state =
	    t->in->state == AGENT_STATE_GREETING ? AGENT_STATE_DISCOVERY : t->in->state;
	switch (kind) {
	case CHAT_BYE:
		t->m->farewell = true;
		t->m->pending = PENDING_NONE;
		if (name)
			say(t, 0, "Thanks for stopping by, %s.", name);
		else
			say(t, 0, "Thanks for stopping by.");
		say(t, 0, "If anything comes up, the team here is always happy to help.");
		action(t, "The customer is leaving: a wave goodbye if you're free.");
		return;
	case CHAT_THANKS:
		say(t, 0, "%s", pick_from(t, "thanks", L("You're very welcome.", "My pleasure.")));
		if (t->m->escalated || t->m->booking_ref[0]) {
			say(t, 0, "Enjoy the rest of your day.");
			return;
		}
		break;
	case CHAT_WHO:
		say(t, 0,
		    "I'm the store's assistant here on the kiosk, and the team is right here if "
		    "you'd rather talk to a person.");
		break;
	case CHAT_BROWSE:
		say(t, 0, "%s",
		    pick_from(
			t, "browse",
			L("No problem at all, take your time.", "Of course, have a look around.")));
		ask(t, "Has anything caught your eye so far?");
		suggest(t, "Phones", "Home internet", "TV and streaming");
		action(t, "Browsing: give them space; be nearby if something catches their eye.");
		return;
	case CHAT_JOKE:
		/* play along for one line, then back to why they came */
		say(t, 0, "%s",
		    pick_from(
			t, "joke",
			L("Here's one: I'd tell you a joke about Wi-Fi, but you'd need to stand "
			  "closer to get it.",
			  "Jokes aren't my strong point, I'm afraid; I'm much better with phone "
			  "plans.")));
		break;
	case CHAT_HOWRU:
		if (!(t->style & STYLE_NO_CHAT))
			say(t, 0, "I'm doing well, thanks for asking.");
		break;
	case CHAT_WEATHER:
	case CHAT_BUSY:
		if (!(t->style & STYLE_NO_CHAT))
			say(t, 0, "%s",
			    pick_from(t, "chat",
				      L("Glad you made it in!", "It's good to have you in.")));
		break;
	case CHAT_GREET:
	default:
		say(t, 0, "%s", pick_from(t, "hi", L("Hi again!", "Hello!")));
		break;
	}
	back_to_need(t);
	suggest(t, "Phone plans", "Home internet", "TV and streaming");
}

/* ---- what the kiosk will not do: said plainly, then what it can do ------------------ */

enum refusal {
	REFUSE_NONE,
	REFUSE_DISCOUNT, /* "promise me 50% off", "approve a discount" */
	REFUSE_ROLE,	 /* "pretend you're the store manager" */
	REFUSE_ABSENT,	 /* "book it for my neighbour, she's not here" */
	REFUSE_PRIVACY,	 /* "what did the last customer buy?" */
};

static enum refusal refusal_kind(const struct turn *t)
{
	bool off = any_phrase(t->norm, L("discount", "half price", "percent", "per cent")) ||
		   strstr(t->norm, "0 off ") || strstr(t->norm, "5 off ");

	if (any_phrase(t->norm, L("last customer", "another customer", "other customer",
				  "other customers", "previous customer", "someone elses",
				  "somebody elses", "the person before", "other peoples",
				  "what did my neighbour", "what did he buy", "what did she buy",
				  "what did they buy", "their phone number", "his phone number",
				  "her phone number", "their address")))
		return REFUSE_PRIVACY;
	if (any_phrase(t->norm, L("pretend youre", "pretend you are", "pretend to be", "act as the",
				  "act like the", "youre the manager", "you are the manager",
				  "role play", "roleplay")))
		return REFUSE_ROLE;
	/* asking is fine ("can you give me a discount?" gets the running offer);
	 * a demand for one we do not have is not */
	if (off && any_phrase(t->norm, L("promise", "approve", "guarantee", "authorise",
					 "authorize", "or i walk", "or ill walk", "or im leaving")))
		return REFUSE_DISCOUNT;
	if (any_phrase(t->norm,
		       L("book", "install", "installation", "sign up", "order", "set up")) &&
	    any_phrase(t->norm, L("not here", "isnt here", "arent here", "not with me", "cant come",
				  "on her behalf", "on his behalf", "on their behalf")))
		return REFUSE_ABSENT;
	return REFUSE_NONE;
}

static void do_refusal(struct turn *t, enum refusal kind)
{
	const struct catalog_product *p =
	    t->named ? t->named : catalog_product_find(t->cat, t->m->focus);
	struct pinfo pi;
	char price[PART_MAX];

	t->m->pending = PENDING_NONE;
	switch (kind) {
	case REFUSE_PRIVACY:
		say(t, 0,
		    "I can't share anything about other customers; their details are private, "
		    "just as yours are.");
		back_to_need(t);
		action(t, "Asked about another customer's details: refused; nothing shared.");
		return;
	case REFUSE_ABSENT:
		say(t, 0,
		    "I can't book that for someone who isn't here: they'll need to arrange it "
		    "themselves, in person or with a colleague.");
		say(t, 1, "I'm happy to tell you about the options so you can pass them on.");
		action(t, "Asked to book for someone who is not here: declined; no booking made.");
		return;
	case REFUSE_ROLE:
	case REFUSE_DISCOUNT:
		say(t, 0, "%s",
		    kind == REFUSE_ROLE
			? "I can't act as a manager or approve discounts; only staff can, and the "
			  "prices are the ones I can show you."
			: "I can't promise a discount that isn't there, and I won't make one up.");
		if (p && get_product(t, p->id, 0, &pi) == 0) {
			set_focus(t, pi.id, true);
			price_with_promo(t, &pi, false, true, price, sizeof(price));
			say(t, 0, "The real price: %s is %s", pi.name,
			    price + 5 /* after "It's " */);
			ask(t, "Would it help to look at a plan that costs less?");
		} else {
			back_to_need(t);
		}
		action(t, "Pushed for a discount: refused plainly; only real prices and offers.");
		return;
	case REFUSE_NONE:
		break;
	}
}

/* A fact "key=value" from earlier visits. */
static const char *visitor_fact(const struct turn *t, const char *key)
{
	size_t kl = strlen(key);

	if (!t->in->visitor || !t->in->visitor->facts)
		return NULL;
	for (const char *const *f = t->in->visitor->facts; *f; f++)
		if (strncmp(*f, key, kl) == 0 && (*f)[kl] == '=')
			return *f + kl + 1;
	return NULL;
}

static void do_greeting(struct turn *t)
{
	const char *name = visitor_name(t);
	const struct catalog_product *last = NULL;
	const char *store = catalog_telco(t->cat)->store;

	t->m->welcomed = true;
	if (t->in->visitor && t->in->visitor->returning) {
		const char *ids[] = {visitor_fact(t, "interest"), visitor_fact(t, "product"),
				     visitor_fact(t, "looked_at")};

		for (int i = 0; i < 3 && !last; i++)
			if (ids[i])
				last = catalog_product_find(t->cat, ids[i]);
		if (last) {
			char q[200];

			snprintf(t->salt, sizeof(t->salt), "%s", last->id);
			/* the session's greeting already said "welcome back": this answers their
			 * hello */
			say(t, 0, "Good to see you again%s%s! Last time you looked at %s.",
			    name ? ", " : "", name ? name : "", last->name);
			snprintf(q, sizeof(q), "%s",
				 pick_from(t, "stillq",
					   L("Still thinking about it?",
					     "Are you still thinking about it, or is it something "
					     "else today?")));
			ask(t, q);
			t->m->pending = PENDING_REVISIT;
			snprintf(t->m->pending_product, sizeof(t->m->pending_product), "%s",
				 last->id);
			snprintf(t->out->card_product, sizeof(t->out->card_product), "%s",
				 last->id);
			action(t, "Returning visitor%s%s; last looked at %s.", name ? ": " : "",
			       name ? name : "", last->name);
			suggest(t, "Yes, tell me again", "Something else today", "");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			return;
		}
		say(t, 0, "Good to see you again%s%s!", name ? ", " : "", name ? name : "");
		ask(t, "What can I help you with today?");
	} else {
		unsigned k = pick(t, "greet", 3);

		if (k == 0)
			say(t, 0, "Hi, welcome to %s!", store && *store ? store : "the store");
		else if (k == 1)
			say(t, 0, "Hello, and welcome in!");
		else
			say(t, 0, "Hi there, good to see you!");
		ask(t,
		    pick_from(
			t, "greetq",
			L("What brings you in today?",
			  "Is it something for your phone, or for home, that brings you in today?",
			  "What would you like to sort out today?")));
	}
	suggest(t, "Phone plans", "Home internet", "TV and streaming");
	action(t, "New conversation: discovery first, one question at a time.");
	t->out->suggested_state = AGENT_STATE_DISCOVERY;
}

/* One discovery question for the category (or to find the category). */
static void ask_discovery(struct turn *t, int cat)
{
	unsigned idx = cat >= 0 ? (unsigned)cat : CATALOG_CATEGORY_COUNT;
	unsigned n = t->m->discovery[idx]++;

	t->m->questions_in_row++;
	if (cat >= 0) {
		const char *const *q = category_talk[cat].discovery;

		if (n < list_len(q))
			ask(t, q[n]);
		else if (category_talk[cat].spend_q)
			ask(t, category_talk[cat].spend_q);
		else
			ask(t, "What would make it worth it for you?");
		if (cat == CATALOG_CATEGORY_TV || cat == CATALOG_CATEGORY_STREAMING)
			suggest(t, "Sport", "Films and series", "Kids' shows");
		else if (cat == CATALOG_CATEGORY_BROADBAND)
			suggest(t, "Just me", "Two or three of us", "A busy family");
		else if (cat == CATALOG_CATEGORY_MOBILE)
			suggest(t, "Lots of streaming", "Mostly calls and messages",
				"I run out of data");
		else
			suggest(t, "", "", "");
	} else if (t->tags) {
		ask(t, pick_from(t, "catq",
				 L("Is this about the TV, the internet at home, or phones?",
				   "Which would help most: the TV, the internet, or phones?")));
		suggest(t, "TV", "Home internet", "Phones");
	} else {
		ask(t, pick_from(t, "anyq",
				 L("What would you like to sort out today: something for your "
				   "phone, or for home?",
				   "Is it something for you, or for someone at home?")));
		suggest(t, "Phone plans", "Home internet", "TV and streaming");
	}
	action(t, "Discovery: let them answer the kiosk's question about %s.",
	       cat >= 0 ? category_talk[cat].what : "what brings them in");
	t->out->suggested_state = AGENT_STATE_DISCOVERY;
}

/* "Does Fibre 300 come with a static IP?" and the tool does not say: honest, and a colleague. */
static void say_unknown(struct turn *t, const struct pinfo *pi)
{
	char other[PART_MAX];

	set_focus(t, pi->id, true);
	say(t, 0,
	    "That's not something I can confirm for %s from what I have here; a colleague "
	    "can check it for you.",
	    pi->name);
	if (other_answer(t, pi->p ? (int)pi->p->category : -1, pi->p, 1, other, sizeof(other)))
		say(t, 1, "%s", other);
	ask(t, "Shall I get someone to check it with you?");
	t->m->pending = PENDING_ESCALATE;
	snprintf(t->m->pending_reason, sizeof(t->m->pending_reason), "customer_request");
	action(t,
	       "They asked whether %s has something the catalog does not list: check it "
	       "with them.",
	       pi->name);
	suggest(t, "Yes, please", "No, that's fine", "");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
}

/* Answers a question about the product in focus. */
static bool answer_focus(struct turn *t)
{
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);
	struct pinfo pi;
	char ans[PART_MAX];
	enum answer r;

	if (!f || get_product(t, f->id, 0, &pi) < 0)
		return false;
	snprintf(t->salt, sizeof(t->salt), "%s", pi.id);
	snprintf(t->out->card_product, sizeof(t->out->card_product), "%s", pi.id);
	r = answer_about(t, &pi, true, ans, sizeof(ans));
	if (r == ANSWER_SAID) {
		say(t, 0, "%s", ans);
	} else if (r == ANSWER_NONE && other_answer(t, (int)f->category, f, 0, ans, sizeof(ans))) {
		say(t, 0, "%s", ans); /* "can I keep my number?": the store's answer */
	} else if (r == ANSWER_UNKNOWN) {
		say_unknown(t, &pi);
		return true;
	} else {
		/* nothing specific to answer: the same product, with new proof */
		present(t, &pi, NULL, PRESENT_FIT);
		return true;
	}
	present_question(t, &pi);
	action(t, "They are asking about %s: answer, then check it fits.", pi.name);
	suggest(t, "Sounds good", "What's the catch?", "How does it compare with my provider?");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
	return true;
}

/* A cheaper product than the one in focus, in the same category, that still fits. */
static bool cheaper_option(struct turn *t)
{
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);
	struct pinfo r[5], pi;
	int64_t limit;
	int n, b;

	if (!f)
		return false;
	limit = f->price_cents - 1;
	if (t->budget > 0 && t->budget < limit)
		limit = t->budget;
	n = search(t, (int)f->category, limit, 1, r, 5, false);
	b = n > 0 ? step_down(t, f, r, n) : -1;
	if (b < 0) {
		char pr[32];

		money(t, f->price_cents, pr, sizeof(pr));
		if (n == 0 && t->budget > 0) {
			say(t, 0, "I don't have anything in %s under that, I'm afraid.",
			    category_talk[f->category].what);
			ask(t, "Would it help to see what you'd save against what you pay now?");
			return true;
		}
		return false;
	}
	if (get_product(t, r[b].id, 0, &pi) < 0)
		pi = r[b];
	say(t, 0, "%s",
	    pick_from(t, "cheaper", L("Sure, there's a cheaper option.", "Of course.")));
	present(t, &pi, NULL, PRESENT_FIT);
	return true;
}

static void do_product(struct turn *t, const char *opener)
{
	struct pinfo pi;
	int cat = t->category >= 0 ? t->category : t->m->category;
	bool need_known = (t->tags | t->m->needs) & ~NB(NEED_SWITCHING);

	/* something cheaper than what is on the table */
	if (t->m->focus[0] && !t->named &&
	    (t->category < 0 || t->category == t->m->focus_category) &&
	    (any_cue(t->norm, L("cheaper", "less expensive", "cheapest", "lower price")) ||
	     t->budget > 0) &&
	    cheaper_option(t)) {
		record(t, t->m->focus);
		return;
	}
	/* a question about what is on the table */
	if (t->m->focus[0] && !t->named &&
	    (t->category < 0 || t->category == t->m->focus_category) && t->question &&
	    answer_focus(t)) {
		record(t, t->m->focus);
		return;
	}
	/* a category and nothing else: one question that would change the answer */
	if (!t->named && cat >= 0 && !need_known && t->m->discovery[cat] == 0 && !t->question &&
	    !(t->m->focus[0] && t->m->focus_category == cat) &&
	    !(t->style & (STYLE_SHORT | STYLE_HARD)) && t->words <= 14 && t->budget < 0) {
		if (opener)
			say(t, 3, "%s", opener);
		say(t, 1, "Happy to help with %s.", category_talk[cat].what);
		ask_discovery(t, cat);
		t->m->category = cat;
		return;
	}
	/* "do you sell lawnmowers?": say so when nothing matches at all (asking
	 * what we recommend is not asking for something we lack) */
	if (!t->named && cat < 0 && !t->tags && t->question &&
	    !any_phrase(t->norm, L("recommend", "suggest", "what should i get", "whats good",
				   "whats best", "what would you", "what do you think"))) {
		struct pinfo r[5];

		if (search(t, -1, -1, 1, r, 5, true) == 0) {
			if (opener)
				say(t, 3, "%s", opener);
			say(t, 0, "I'm afraid that's not something we have here.");
			ask(t, "Is there something for your phone, or for home, I can help with "
			       "instead?");
			suggest(t, "Phone plans", "Home internet", "TV and streaming");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			return;
		}
	}
	/* a need but no idea which service: ask that once before guessing */
	if (!t->named && cat < 0 && t->m->discovery[CATALOG_CATEGORY_COUNT] == 0) {
		int nd = first_need(t->tags & ~t->m->needs);

		if (opener)
			say(t, 3, "%s", opener);
		if (nd >= 0)
			say(t, 1, "%s", needs[nd].reflect);
		ask_discovery(t, -1);
		record(t, NULL);
		return;
	}
	/* a phone for someone, and nothing yet on what it's for or what to spend:
	 * ask that once before picking one */
	if (!t->named && cat == CATALOG_CATEGORY_DEVICES && t->m->discovery[cat] == 0 &&
	    t->budget < 0 && t->m->budget_cents < 0 && !t->question &&
	    !(t->style & (STYLE_SHORT | STYLE_HARD))) {
		unsigned who = NB(NEED_KIDS) | NB(NEED_TEENS) | NB(NEED_SENIORS) | NB(NEED_FAMILY);
		unsigned all = t->tags | t->m->needs;

		if (all & who && !(all & ~(who | NB(NEED_DEVICE_UPGRADE) | NB(NEED_SWITCHING)))) {
			int nd = first_need(t->tags & ~t->m->needs);

			if (opener)
				say(t, 3, "%s", opener);
			if (nd >= 0)
				say(t, 1, "%s", needs[nd].reflect);
			t->m->discovery[cat]++;
			t->m->category = cat;
			ask(t,
			    "What will it mostly be used for, and roughly what would you like to "
			    "spend?");
			suggest(t, "Games and messages", "Calls and photos",
				"As cheap as possible");
			action(
			    t,
			    "A device for someone: find out what it's for and the budget first.");
			t->out->suggested_state = AGENT_STATE_DISCOVERY;
			record(t, NULL);
			return;
		}
	}
	if (!find_fit(t, 0, &pi)) {
		if (opener)
			say(t, 3, "%s", opener);
		say(t, 0, "I couldn't find a good match for that here.");
		ask_discovery(t, -1);
		return;
	}
	/* "what upload do I get on Fibre Gig?": the answer leads, the pitch follows */
	if (t->question && t->named && pi.full) {
		enum answer r = answer_about(t, &pi, false, t->answer, sizeof(t->answer));

		if (r == ANSWER_UNKNOWN) {
			if (opener)
				say(t, 3, "%s", opener);
			say_unknown(t, &pi);
			record(t, pi.id);
			return;
		}
		if (r != ANSWER_SAID)
			t->answer[0] = '\0';
	}
	present(t, &pi, opener, t->named ? PRESENT_NAMED : PRESENT_FIT);
	record(t, pi.id);
}

/* "What's the difference between Fibre 300 and Fibre 500?": both, side by side, briefly. */
static bool do_contrast(struct turn *t)
{
	struct pinfo a, b;
	char pa[32], pb[32], sa[96], sb[96], extra[CATALOG_NAME_MAX] = "";
	const char *const *ks;
	bool spec = false;

	if (calls_left(t) < 2 || get_product(t, t->named->id, 1, &a) < 0 ||
	    get_product(t, t->named2->id, 0, &b) < 0)
		return false;
	set_focus(t, b.id, false);
	set_focus(t, a.id, true);
	money(t, a.price_cents, pa, sizeof(pa));
	money(t, b.price_cents, pb, sizeof(pb));
	say(t, 0, "%s is %s%s and %s is %s%s.", a.name, pa, a.monthly ? " a month" : "", b.name, pb,
	    b.monthly ? " a month" : "");
	/* the difference that matters: the key spec, then a feature only one has */
	ks = key_specs(&a);
	for (int i = 0; ks[i] && !spec; i++)
		if (spec_phrase(&a, ks[i], sa, sizeof(sa)) &&
		    spec_phrase(&b, ks[i], sb, sizeof(sb)) && strcmp(sa, sb) != 0) {
			say(t, 0, "%s gives you %s, %s %s.", a.name, sa, b.name, sb);
			spec = true;
		}
	{
		const struct pinfo *more = b.price_cents >= a.price_cents ? &b : &a;
		const struct pinfo *less = more == &b ? &a : &b;

		for (unsigned i = 0; i < more->n_features && !extra[0]; i++) {
			bool both = false;

			for (unsigned j = 0; j < less->n_features; j++)
				both |= strcasecmp(more->features[i], less->features[j]) == 0;
			if (!both)
				snprintf(extra, sizeof(extra), "%s", more->features[i]);
		}
		if (extra[0]) {
			char f[CATALOG_NAME_MAX + 4];

			feature_phrase(t, extra, f, sizeof(f));
			say(t, 1, "%s also comes with %s.", more->name, f);
		}
	}
	if (!spec && !extra[0])
		return false;
	ask(t, pick_from(t, "contrastq",
			 L("Which sounds closer to what you need?",
			   "Which matters more to you, the price or the extra?")));
	action(t, "Comparing %s and %s: help them pick on what matters to them.", a.name, b.name);
	suggest(t, a.name, b.name, "");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
	return true;
}

/*
 * "Is the Black Friday deal still on?", "how long does that last?": a
 * question about how long an offer runs, naming an offer or coming right
 * after we said one.
 */
static bool offer_question(const struct turn *t)
{
	bool offer_words = any_phrase(t->norm, L("deal", "offer", "promotion", "promo", "discount",
						 "saving", "sale", "price", "black friday"));
	bool right_after = t->m->promo_turn > 0 && t->m->promo_turn == t->in->turn - 1 &&
			   any_phrase(t->norm, L("that", "it", "this"));

	return t->question &&
	       any_phrase(t->norm, L("still on", "still running", "still available", "still valid",
				     "still going", "until when", "end", "ends", "ending", "expire",
				     "expires", "last", "lasts")) &&
	       (offer_words || right_after);
}

/* Answers how long the offer on the product named (or in focus) runs, from get_product. */
static bool do_offer_question(struct turn *t)
{
	const struct catalog_product *p =
	    t->named ? t->named : catalog_product_find(t->cat, t->m->focus);
	struct pinfo pi;
	char price[PART_MAX];

	if (!p || get_product(t, p->id, 0, &pi) < 0)
		return false;
	set_focus(t, pi.id, true);
	if (pi.n_promos) {
		const struct promo *pr = &pi.promos[0];
		char end[32], pp[32], full[32];
		bool still = any_phrase(t->norm, L("still", "is there", "is it on"));

		date_words(pr->ends, end, sizeof(end));
		money(t, pr->promo_cents, pp, sizeof(pp));
		money(t, pi.price_cents, full, sizeof(full));
		if (pr->monthly && pr->months > 0)
			say(t, 0,
			    "%s%s runs until %s, so %s is %s a month for the first %d months, "
			    "then %s a month.",
			    still ? "Yes, " : "", pr->name, end, pi.name, pp, pr->months, full);
		else
			say(t, 0, "%s%s runs until %s, so %s is %s instead of %s.",
			    still ? "Yes, " : "", pr->name, end, pi.name, pp, full);
		promo_said(t, pr->id);
		id_add(t->m->deadlines_said, &t->m->n_deadlines_said, RESPONDER_MEMORY_OFFERS,
		       pr->id);
		action(t, "Asked how long %s runs: until %s.", pr->name, end);
	} else {
		price_sentence(t, &pi, false, price, sizeof(price));
		say(t, 0, "There's no offer running on %s at the moment, so I won't promise one.",
		    pi.name);
		say(t, 1, "%s", price);
		action(t, "Asked about an offer on %s: none runs today.", pi.name);
	}
	ask(t, pick_from(t, "offerq",
			 L("Would that work for you?",
			   "Is there anything else you'd like to check about it?")));
	suggest(t, "Sounds good", "What's the catch?", "");
	t->out->suggested_state = AGENT_STATE_PRESENTING;
	return true;
}

/* "Any deals on?": the running promotion that fits them, with its end date and condition. */
static void do_deals(struct turn *t)
{
	cJSON *args = cJSON_CreateObject(), *res = NULL, *it, *pp;
	const struct catalog_product *f = catalog_product_find(t->cat, t->m->focus);
	int cat = t->category >= 0 ? t->category : t->m->category;
	const cJSON *best = NULL, *best_p = NULL;
	int best_score = -1;

	if (args && f)
		cJSON_AddStringToObject(args, "product_id", f->id);
	else if (args && cat >= 0)
		cJSON_AddStringToObject(args, "category",
					catalog_category_name((enum catalog_category)cat));
	if (tool(t, "current_promotions", args, 1, &res) < 0) {
		say(t, 0, "A colleague at the counter can tell you about today's offers.");
		back_to_need(t);
		return;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res, "promotions"))
	{
		cJSON_ArrayForEach(pp, cJSON_GetObjectItemCaseSensitive(it, "products"))
		{
			const struct catalog_product *p =
			    catalog_product_find(t->cat, jstr(pp, "id"));
			int sc = 0;

			if (!p)
				continue;
			if (f && p == f)
				sc += 10;
			if (cat >= 0 && (int)p->category == cat)
				sc += 4;
			if (still_fits(t, p))
				sc += 2;
			if (sc > best_score) {
				best = it;
				best_p = pp;
				best_score = sc;
			}
		}
	}
	if (!best) {
		say(t, 0, "There's no offer running on %s at the moment, so I won't promise one.",
		    f	       ? f->name
		    : cat >= 0 ? category_talk[cat].what
			       : "that");
		back_to_need(t);
		cJSON_Delete(res);
		return;
	}
	{
		char pr[32], end[32], terms[CATALOG_TEXT_MAX], *cut;
		const char *name = jstr(best, "name"), *pname = jstr(best_p, "name");
		int months = jint(best_p, "for_months");
		bool monthly =
		    jstr(best_p, "promo_price") && strstr(jstr(best_p, "promo_price"), "a month");

		money(t, money_parse(jstr(best_p, "promo_price")), pr, sizeof(pr));
		date_words(jstr(best, "ends") ? jstr(best, "ends") : "", end, sizeof(end));
		if (monthly && months > 0)
			say(t, 0,
			    "Right now %s brings %s to %s a month for the first %d months, until "
			    "%s.",
			    name, pname, pr, months, end);
		else
			say(t, 0, "Right now %s brings %s down to %s, until %s.", name, pname, pr,
			    end);
		jcopy(terms, sizeof(terms), best, "terms");
		if ((cut = strpbrk(terms, ";.")))
			*cut = '\0';
		if (terms[0] && n_figures(t, terms) == 0) {
			lower_first(t, terms);
			say(t, 1, "The condition: %s.", terms);
		}
		set_focus(t, jstr(best_p, "id"), true);
		promo_said(t, jstr(best, "id"));
		id_add(t->m->deadlines_said, &t->m->n_deadlines_said, RESPONDER_MEMORY_OFFERS,
		       jstr(best, "id"));
		{
			char q[200];

			snprintf(q, sizeof(q), "Would %s suit what you need?", pname);
			ask(t, q);
		}
		action(t, "Asked about offers: %s on %s.", name, pname);
		suggest(t, "Tell me more", "Sounds good", "Any other offers?");
		t->out->suggested_state = AGENT_STATE_PRESENTING;
	}
	cJSON_Delete(res);
}

static void do_discovery(struct turn *t)
{
	int cat = t->category >= 0 ? t->category : t->m->category;
	unsigned fresh = t->tags & ~t->m->needs;
	int nd = first_need(fresh);
	struct pinfo pi;

	/* what they pay now, with something on the table: do the math */
	if (t->spend > 0 && t->m->focus[0]) {
		do_compare(t);
		return;
	}
	/* an existing customer whose contract is ending: start from the plan they have */
	if (cat < 0 &&
	    any_phrase(t->norm, L("contract is up", "contract is nearly up",
				  "contract is almost up", "contract ends", "contract ending",
				  "end of my contract", "out of contract", "renew", "renewal",
				  "upgrade", "what can you do for me"))) {
		const char *plan = visitor_fact(t, "plan");
		const struct catalog_product *pp = plan ? catalog_product_find(t->cat, plan) : NULL;

		if (pp) {
			cat = (int)pp->category;
			t->m->category = cat;
			say(t, 0,
			    "You're on %s now, so it's a good moment to check the plan still "
			    "fits.",
			    pp->name);
			ask_discovery(t, cat);
			record(t, NULL);
			return;
		}
	}
	if (nd >= 0)
		say(t, 1, "%s", needs[nd].reflect);
	if (cat >= 0 && ((t->tags | t->m->needs) || t->budget > 0 || t->m->discovery[cat] >= 2)) {
		if (find_fit(t, 0, &pi)) {
			present(t, &pi, NULL, PRESENT_FIT);
			record(t, pi.id);
			return;
		}
	}
	if (cat < 0 && t->m->discovery[CATALOG_CATEGORY_COUNT] >= 2 && t->tags &&
	    find_fit(t, 0, &pi)) {
		present(t, &pi, NULL, PRESENT_FIT);
		record(t, pi.id);
		return;
	}
	ask_discovery(t, cat);
	if (cat >= 0)
		t->m->category = cat;
	record(t, NULL);
}

/* ---- assembly: order, length, one question, the figure check ----------------------- */

/* Sentences, split the way the figure check splits them. */
static unsigned sentences(const char *s)
{
	unsigned n = 0;
	bool in = false;

	for (; *s; s++) {
		if (!isspace((unsigned char)*s))
			in = true;
		if ((*s == '.' || *s == '!' || *s == '?') &&
		    (s[1] == '\0' || isspace((unsigned char)s[1]))) {
			if (in)
				n++;
			in = false;
		}
	}
	return n + (in ? 1 : 0);
}

static size_t join(const struct turn *t, const bool *drop, char *out, size_t len)
{
	size_t off = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < t->n_parts; i++) {
		if (drop[i])
			continue;
		off += (size_t)snprintf(out + off, off < len ? len - off : 0, "%s%s",
					off ? " " : "", t->parts[i].text);
		if (off >= len) {
			off = len - 1;
			break;
		}
	}
	return off;
}

/* Which part holds byte offset off of the joined text. */
static int part_at(const struct turn *t, const bool *drop, size_t off)
{
	size_t pos = 0;
	bool first = true;

	for (unsigned i = 0; i < t->n_parts; i++) {
		size_t l;

		if (drop[i])
			continue;
		l = strlen(t->parts[i].text) + (first ? 0 : 1);
		if (off < pos + l)
			return (int)i;
		pos += l;
		first = false;
	}
	return -1;
}

static void finish(struct turn *t)
{
	bool drop[PARTS_MAX] = {false};
	char text[AGENT_REPLY_MAX];
	size_t target = t->comparing ? RESPONDER_COMPARE_TARGET : RESPONDER_REPLY_TARGET;
	int last_q = -1;

	/* one question: the last one asked stands */
	for (unsigned i = 0; i < t->n_parts; i++)
		if (t->parts[i].question)
			last_q = (int)i;
	for (unsigned i = 0; i < t->n_parts; i++)
		if (t->parts[i].question && (int)i != last_q)
			drop[i] = true;
	/* length: optional sentences go, the least needed first */
	while (join(t, drop, text, sizeof(text)) > target ||
	       sentences(text) > (t->comparing ? 5u : 4u)) {
		int worst = -1;

		for (unsigned i = 0; i < t->n_parts; i++)
			if (!drop[i] && t->parts[i].prio > 0 &&
			    (worst < 0 || t->parts[i].prio >= t->parts[worst].prio))
				worst = (int)i;
		if (worst < 0)
			break;
		drop[worst] = true;
		t->out->dropped_sentences++;
	}
	/* the figure check the runtime will run: an optional sentence it would
	 * flag goes now; an essential one is replaced by the check's own fix */
	for (int round = 0; round < PARTS_MAX && t->in->tools->facts; round++) {
		struct figures_report rep;
		bool changed = false;

		join(t, drop, text, sizeof(text));
		if (figures_check(t->in->tools->facts, text, &rep) < 0)
			break;
		for (size_t i = 0; i < rep.n_flags; i++) {
			int p = part_at(t, drop, rep.flags[i].offset);

			if (p >= 0 && t->parts[p].prio > 0 && !drop[p]) {
				drop[p] = true;
				changed = true;
				t->out->dropped_sentences++;
			}
		}
		if (!changed && rep.n_flags) {
			snprintf(text, sizeof(text), "%s", rep.text);
			figures_report_free(&rep);
			snprintf(t->out->reply, sizeof(t->out->reply), "%s", text);
			goto done;
		}
		figures_report_free(&rep);
		if (!changed)
			break;
	}
	join(t, drop, t->out->reply, sizeof(t->out->reply));
done:
	if (!t->out->reply[0])
		snprintf(t->out->reply, sizeof(t->out->reply),
			 "A colleague here can help with that; just ask at the counter.");
	snprintf(t->out->focus_product, sizeof(t->out->focus_product), "%s", t->m->focus);
	if (!strchr(t->out->reply, '?'))
		t->m->questions_in_row = 0;
	{
		/* the question the customer will answer: does it offer a person? */
		const char *q = strrchr(t->out->reply, '?'), *st = q;

		while (st && st > t->out->reply && !strchr(".!", st[-1]))
			st--;
		t->m->asked_colleague = false;
		for (const char *w = st; q && w < q && !t->m->asked_colleague; w++)
			t->m->asked_colleague =
			    strncmp(w, "colleague", 9) == 0 || strncmp(w, "someone", 7) == 0;
	}
}

/* ---- the turn ---------------------------------------------------------------------- */

int responder_reply(const struct responder_input *in, struct responder_memory *mem,
		    struct responder_output *out)
{
	struct turn *t;
	struct responder_memory saved;
	int r = 0;
	bool offer, objection, closing, comparison, interest, chat, scope, recovery;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!in || !mem || !out || !in->catalog || !in->tools || (!in->text && in->len))
		return -EINVAL;
	if (in->len > AGENT_TEXT_MAX)
		return -E2BIG;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	saved = *mem;
	if (in->len)
		memcpy(t->raw, in->text, in->len);
	t->raw[in->len] = '\0';
	t->in = in;
	t->m = mem;
	t->out = out;
	t->cat = in->catalog;
	t->sym = catalog_telco(in->catalog)->currency_symbol;
	if (!t->sym || !*t->sym)
		t->sym = "$";
	out->suggested_state = in->state;
	read_message(t);
	mem->turns++;

	/* "is it cheaper than the Aurora X Pro?": the one in focus against the one named */
	if (signal_on(t, SIGNAL_COMPARISON) && t->named && !t->named2 && !t->comp) {
		const struct catalog_product *f = catalog_product_find(t->cat, mem->focus);

		if (f && f != t->named && f->category == t->named->category)
			t->named2 = f;
	}
	if (t->comp) {
		snprintf(mem->competitor, sizeof(mem->competitor), "%s", t->comp->id);
		id_add(mem->competitors_heard, &mem->n_competitors_heard, RESPONDER_MEMORY_OFFERS,
		       t->comp->id);
	}
	if (t->budget > 0)
		mem->budget_cents = t->budget;
	if (t->people > 0)
		mem->people = t->people;
	/* "locked in with Crestel until March": the month the switch can happen */
	if (any_cue(t->norm, objection_cues[OBJ_CONTRACT]) || has_phrase(t->norm, "contract"))
		for (int i = 0; i < 12; i++) {
			char mn[16];

			snprintf(mn, sizeof(mn), "%s", month_names[i]);
			mn[0] = (char)tolower((unsigned char)mn[0]);
			if (has_phrase(t->norm, mn))
				snprintf(mem->contract_end, sizeof(mem->contract_end), "%s",
					 month_names[i]);
		}
	if (t->category >= 0 && !(mem->focus[0] && t->category == mem->focus_category))
		mem->category = t->category;

	/* "fed up with Pebble's app, I want to switch": the complaint is about a
	 * competitor, not about us; it is the push to switch. */
	if (signal_on(t, SIGNAL_COMPLAINT) && t->comp && t->tags & NB(NEED_SWITCHING) &&
	    !any_phrase(t->norm, L("you", "your", "youre", "northwind", "here", "this store")) &&
	    !mem->complained && !mem->escalated) {
		t->push = true;
		t->sk_recovery = false;
		t->sk_compare = t->sk_present = t->sk_promos = true;
		t->style = 0; /* the archetype read the same complaint as ours */
		t->tier = -1;
	}
	if (signal_on(t, SIGNAL_COMPLAINT) && !t->push)
		mem->complained = true;
	recovery = !t->push &&
		   (t->sk_recovery || signal_on(t, SIGNAL_COMPLAINT) || t->style & STYLE_NO_SELL);
	scope = signal_on(t, SIGNAL_SCOPE_BOUNDARY) && t->sk_scope;
	offer = mem->focus[0] || in->state == AGENT_STATE_PRESENTING ||
		in->state == AGENT_STATE_OBJECTION || in->state == AGENT_STATE_CLOSING;
	objection = signal_on(t, SIGNAL_OBJECTION) && t->sk_objection;
	closing = signal_on(t, SIGNAL_CLOSING) || any_phrase(t->norm, strong_close);
	/* "cheaper down the road" needs something to compare: a provider, a bill, an offer */
	comparison = (t->comp || (signal_on(t, SIGNAL_COMPARISON) &&
				  (mem->competitor[0] || t->spend > 0 || mem->focus[0]))) &&
		     t->sk_compare;
	chat = signal_on(t, SIGNAL_SMALL_TALK) || chat_kind(t) >= 0;
	interest = signal_on(t, SIGNAL_PRODUCT_INTEREST) || t->named || t->category >= 0 ||
		   (mem->focus[0] && t->question && !chat);

	if (in->state == AGENT_STATE_HANDED_OVER || in->state == AGENT_STATE_FAREWELL ||
	    in->state == AGENT_STATE_IDLE) {
		say(t, 0, "A colleague will be with you shortly.");
	} else if (recovery && !mem->complained && !mem->escalated) {
		if (mem->pending == PENDING_ESCALATE && is_yes(t))
			do_pending(t);
		else
			do_recovery_quiet(t);
	} else if (recovery) {
		do_recovery(t);
	} else if (scope) {
		do_scope(t);
	} else if (refusal_kind(t) != REFUSE_NONE) {
		do_refusal(t, refusal_kind(t));
	} else if (offer_question(t) && do_offer_question(t)) {
		/* how long an offer runs */
	} else if (do_pending(t)) {
		/* answered */
	} else if (objection && offer &&
		   !(comparison && t->comp &&
		     (objection_kind(t) == OBJ_PRICE || objection_kind(t) == OBJ_VALUE))) {
		do_objection(t);
	} else if (closing && (offer || t->named) && !signal_on(t, SIGNAL_OBJECTION)) {
		do_closing(t);
	} else if (!t->comp && t->named && t->named2 && t->named->category == t->named2->category &&
		   do_contrast(t)) {
		/* two of ours side by side ("is it cheaper than the Aurora X Pro?") */
	} else if (comparison || (t->spend > 0 && (mem->focus[0] || mem->competitor[0]))) {
		do_compare(t);
	} else if (any_phrase(t->norm, L("are you open", "opening hours", "opening times",
					 "what time do you close", "when do you close", "open on",
					 "open at the weekend", "open tomorrow", "where is the",
					 "toilets", "parking"))) {
		say(t, 0, "A colleague at the counter can tell you that straight away.");
		back_to_need(t);
		action(t, "They asked about the store (hours, directions): a quick answer at the "
			  "counter.");
	} else if (any_phrase(t->norm, L("deals", "any deal", "offers", "any offers", "promotion",
					 "promotions", "discount", "discounts", "special offer",
					 "on offer", "on sale")) &&
		   !t->named) {
		do_deals(t);
	} else if (interest) {
		const char *opener = NULL;

		if (in->turn <= 1 && any_phrase(t->norm, chat_cues[CHAT_GREET]) && !mem->welcomed) {
			opener =
			    pick_from(t, "hiopen", L("Hi, welcome in!", "Hello, and welcome!"));
			mem->welcomed = true;
		}
		do_product(t, opener);
	} else if (chat && !(in->turn <= 1 && chat_kind(t) == CHAT_GREET)) {
		do_small_talk(t);
	} else if (!mem->welcomed && (in->turn <= 1 || chat) && !t->tags) {
		do_greeting(t);
	} else if (signal_on(t, SIGNAL_OBJECTION)) {
		/* a concern with nothing on the table yet: a budget, or back to discovery */
		if (t->tags & NB(NEED_BUDGET) || any_cue(t->norm, objection_cues[OBJ_PRICE]))
			t->tags |= NB(NEED_BUDGET);
		do_discovery(t);
	} else {
		do_discovery(t);
	}
	mem->needs |= t->tags;

	if (t->err) {
		r = t->err;
		*mem = saved;
		memset(out, 0, sizeof(*out));
		goto out;
	}
	finish(t);
out:
	free(t);
	return r;
}
