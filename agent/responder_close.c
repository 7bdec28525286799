/*
 * responder_close — the tools with side effects (escalate, book_appointment),
 * closing (one add-on, the installation day or a colleague, the offer's end
 * date once), and the answer to an offer of ours (yes, no, a day). Private
 * to the responder (agent/responder_priv.h).
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- tools with side effects ------------------------------------------------------- */

int escalate(struct turn *t, const char *reason, const char *summary, bool urgent, char *say_out,
	     size_t len)
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

/* Yes and no to an offer of ours. */
static const char *const *const yes_words =
    L("yes", "yeah", "yep", "yup", "sure", "ok", "okay", "please", "go ahead", "sounds good",
      "sounds great", "perfect", "great", "lets do it", "lets do that", "do it", "why not",
      "absolutely", "definitely", "of course", "that works", "add it", "go on", "alright",
      "all right", "fine", "deal", "lovely", "brilliant");
static const char *const *const no_words =
    L("no", "nope", "nah", "no thanks", "not now", "not today", "maybe later", "keep it simple",
      "im fine", "im good", "not really", "leave it", "dont", "rather not", "without");

bool is_yes(const struct turn *t)
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

bool is_no(const struct turn *t)
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

void do_closing(struct turn *t)
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

/* ---- the answer to an offer of ours --------------------------------------------- */

bool do_pending(struct turn *t)
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
