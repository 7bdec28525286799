/*
 * responder_read — the words a message is read by (needs, categories,
 * objections, small talk, closing cues) and the reading of one message: the
 * competitor, product and category named, how many they are, the needs,
 * money, a day, the archetype's styles and the skills selected. Private to
 * the responder (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "agent/figures.h"

/* ---- needs, categories, objections, small talk: the words that say them ---------- */

const struct need_def needs[NEED_COUNT] = {
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
const struct category_talk category_talk[CATALOG_CATEGORY_COUNT] = {
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

const char *const *const objection_cues[OBJ_COUNT] = {
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

const char *const *const chat_cues[CHAT_COUNT] = {
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

/* Closing cues that are a decision, not just interest. */
const char *const *const strong_close = L(
    "sign me up", "sign up", "where do i sign", "ill take it", "ill take the", "ill go with",
    "lets go with", "lets do it", "its a deal", "go ahead", "buy it", "ill buy", "order it",
    "im ready", "ready to buy", "ready to switch", "pay now", "pay today", "book the installation",
    "book an installation", "set it up", "get started", "youve got a deal", "i want it",
    "ill have it", "ill have the", "book it", "book it in", "book me in", "lets book",
    "ill sign up", "when can you install", "when can it be installed", "installation date");

static const char *const weekday_names[7] = {"monday", "tuesday",  "wednesday", "thursday",
					     "friday", "saturday", "sunday"};

/* ---- reading the message --------------------------------------------------------- */

bool signal_on(const struct turn *t, enum signal s)
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
			if (!nm[0])
				continue;
			/* every provider named counts as one they use or considered */
			if (has_phrase(t->norm, nm + 1))
				id_add(t->m->competitors_heard, &t->m->n_competitors_heard,
				       RESPONDER_MEMORY_OFFERS, k->id);
			if (blank(t->masked, nm + 1) && !t->comp)
				t->comp = k;
		}
	}
	if (!t->comp && t->in->signals && t->in->signals->n_competitors)
		t->comp = catalog_competitor_find(t->cat, t->in->signals->competitors[0]);
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

void read_message(struct turn *t)
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

const char *visitor_name(const struct turn *t)
{
	const char *n = t->in->visitor ? t->in->visitor->name : NULL;

	return n && *n && strlen(n) < 40 ? n : NULL;
}

/* ---- needs: the one to say back -------------------------------------------------- */

int first_need(unsigned tags)
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
