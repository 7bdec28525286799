/*
 * responder_service — the moves that do not sell: scope boundary, service
 * recovery, small talk, the greeting, discovery questions, and what the
 * kiosk will not do. Private to the responder (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- scope boundary and service recovery: no selling ---------------------------------- */

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

void do_scope(struct turn *t)
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
void do_recovery_quiet(struct turn *t)
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

void do_recovery(struct turn *t)
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

int chat_kind(const struct turn *t)
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
void back_to_need(struct turn *t)
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

void do_small_talk(struct turn *t)
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

void do_greeting(struct turn *t)
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
void ask_discovery(struct turn *t, int cat)
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

void do_discovery(struct turn *t)
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

/* ---- what the kiosk will not do: said plainly, then what it can do ------------------ */

enum refusal refusal_kind(const struct turn *t)
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

void do_refusal(struct turn *t, enum refusal kind)
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
