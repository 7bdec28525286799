/*
 * responder — the offline salesperson. The design (moves, phrase banks, the
 * archetype styles, the figure self-check) is in docs/responder.md.
 *
 * This file: the API of agent/responder.h (the session's memory, one turn),
 * the choice of the move (first match wins), and the reply's assembly and
 * figure check. The moves and their helpers are in agent/responder_*.c,
 * which share agent/responder_priv.h.
 */
#include "agent/responder_priv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/figures.h"

/* ---- memory ----------------------------------------------------------------- */

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

bool id_in(const char (*list)[ID_MAX], unsigned n, const char *id)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(list[i], id) == 0)
			return true;
	return false;
}

void id_add(char (*list)[ID_MAX], unsigned *n, unsigned max, const char *id)
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
