#include "agent/agent.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/archetype.h"
#include "agent/catalog.h"
#include "agent/conversation.h"
#include "agent/figures.h"
#include "agent/llm.h"
#include "agent/prompt.h"
#include "agent/responder.h"
#include "agent/scope_guard.h"
#include "agent/skills.h"
#include "agent/tools.h"
#include "firmware/config.h"
#include "firmware/display.h"
#include "hal/errmsg.h"

#define MSG_MAX 16384	    /* one display line */
#define TRANSCRIPT_MAX 6000 /* bytes of transcript kept for escalations */
#define HISTORY_MAX 16	    /* LLM messages kept between turns */
#define PATH_MAX_LEN 1024

struct agent {
	struct scope_guard *guard;
	pthread_mutex_t guard_lock; /* the guard's match data is per guard */
	struct catalog *catalog;
	struct signals_detector *signals;
	struct skills *skills;
	struct archetype_set *archetypes;
	struct llm_client *llm; /* NULL: the offline responder answers */
	char llm_model[128];
	int32_t day;
	unsigned max_tool_calls;
	unsigned prompt_max_lines;
};

struct agent_session {
	struct agent *a;
	struct agent_sink sink;
	struct agent_visitor v;
	char *strings[8]; /* owned copies behind v */
	const char **facts_copy;
	enum agent_state state;
	int turn;
	bool staff_has_it;
	bool holding_sent; /* "a colleague is coming" said once per hand-over */
	_Atomic bool cancel;
	struct archetype_tracker *tracker;
	struct responder_memory *memory;
	struct figures_facts *facts;
	struct tools_ctx tools;
	struct prompt *prompt;
	char focus[AGENT_ID_MAX];
	char transcript[TRANSCRIPT_MAX];
	size_t transcript_len;
	cJSON *history; /* LLM messages of earlier turns */
	/* per turn */
	struct agent_turn_report *rep;
	char card[AGENT_ID_MAX];
	bool reply_started;
};

static int32_t today_utc(void)
{
	return (int32_t)(time(NULL) / 86400);
}

/* ---- building the agent ------------------------------------------------- */

/* Catalog names and keywords, and competitor names, are what signals see. */
static int fill_lexicon(struct agent *a, struct signals_lexicon *lex)
{
	size_t i, k;
	int rc;

	for (i = 0; i < catalog_product_count(a->catalog); i++) {
		const struct catalog_product *p = catalog_product_at(a->catalog, i);

		if ((rc = signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, p->id, p->name)) < 0)
			return rc;
		for (k = 0; k < p->n_keywords; k++)
			if ((rc = signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, p->id,
						      p->keywords[k])) < 0)
				return rc;
	}
	for (i = 0; i < catalog_competitor_count(a->catalog); i++) {
		const struct catalog_competitor *c = catalog_competitor_at(a->catalog, i);

		if ((rc = signals_lexicon_add(lex, SIGNAL_TERM_COMPETITOR, c->id, c->name)) < 0)
			return rc;
		for (k = 0; k < c->n_aliases; k++)
			if ((rc = signals_lexicon_add(lex, SIGNAL_TERM_COMPETITOR, c->id,
						      c->aliases[k])) < 0)
				return rc;
	}
	return archetype_register_cues(a->archetypes, lex);
}

static int load_all(struct agent *a, const char *rules, const char *signals_conf,
		    const char *archetypes, const char *manifest, const char *catalog_dir,
		    char *err, size_t errlen)
{
	struct signals_lexicon *lex = NULL;
	struct signals_error serr;
	struct skills_error kerr;
	struct archetype_error aerr;
	int rc;

	rc = scope_guard_load(rules, &a->guard, err, errlen);
	if (rc < 0)
		return rc;
	rc = catalog_load(catalog_dir, &a->catalog, err, errlen);
	if (rc < 0)
		return rc;
	rc = skills_load(manifest, &a->skills, &kerr);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s", kerr.msg);
	rc = archetype_set_load(archetypes, &a->archetypes, &aerr);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s", aerr.msg);
	rc = signals_lexicon_new(&lex);
	if (rc < 0)
		return errmsg(err, errlen, rc, "out of memory");
	rc = fill_lexicon(a, lex);
	if (rc < 0) {
		signals_lexicon_free(lex);
		return errmsg(err, errlen, rc,
			      "%s: a product or competitor name is not a usable "
			      "signal term (%s)",
			      catalog_dir, strerror(-rc));
	}
	rc = signals_detector_new(signals_conf, lex, &a->signals, &serr);
	signals_lexicon_free(lex);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s", serr.msg);
	return 0;
}

static struct agent *agent_alloc(void)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	pthread_mutex_init(&a->guard_lock, NULL);
	a->day = today_utc();
	a->max_tool_calls = TOOLS_DEFAULT_MAX_CALLS;
	a->prompt_max_lines = 400;
	return a;
}

int agent_new_paths(const struct agent_paths *p, struct agent **ret, char *err, size_t errlen)
{
	char paths[5][PATH_MAX_LEN];
	const char *base = p && p->base ? p->base : ".";
	struct agent *a;
	int rc;

	*ret = NULL;
	snprintf(paths[0], PATH_MAX_LEN, "%s/config/scope_rules.conf", base);
	snprintf(paths[1], PATH_MAX_LEN, "%s/config/signals.conf", base);
	snprintf(paths[2], PATH_MAX_LEN, "%s/config/archetypes.conf", base);
	snprintf(paths[3], PATH_MAX_LEN, "%s/skills/manifest.conf", base);
	snprintf(paths[4], PATH_MAX_LEN, "%s/catalog", base);
	a = agent_alloc();
	if (!a)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	rc = load_all(a, p && p->scope_rules ? p->scope_rules : paths[0],
		      p && p->signals ? p->signals : paths[1],
		      p && p->archetypes ? p->archetypes : paths[2],
		      p && p->skills ? p->skills : paths[3],
		      p && p->catalog ? p->catalog : paths[4], err, errlen);
	if (rc < 0) {
		agent_free(a);
		return rc;
	}
	*ret = a;
	return 0;
}

/* The agent keeps at most AGENT_REPLY_MAX - 1 bytes of a reply (report,
 * figure check, transcript): a longer one must end the model's turn as
 * too_large, not reach the kiosk whole and be cut here unchecked. */
static int start_llm(struct agent *a, struct llm_params *lp)
{
	int rc;

	if (lp->max_reply_bytes > AGENT_REPLY_MAX - 1)
		lp->max_reply_bytes = AGENT_REPLY_MAX - 1;
	rc = llm_client_new(lp, &a->llm);
	if (rc == 0)
		snprintf(a->llm_model, sizeof(a->llm_model), "%s", lp->model);
	return rc;
}

int agent_new(const struct config *cfg, struct agent **ret, char *err, size_t errlen)
{
	char rules[PATH_MAX_LEN], sig[PATH_MAX_LEN], arch[PATH_MAX_LEN], man[PATH_MAX_LEN],
	    cat[PATH_MAX_LEN];
	struct config_error cerr;
	struct llm_params lp;
	struct agent *a;
	long lines;
	int rc = 0;

	*ret = NULL;
	rc = rc
		 ?: config_path(cfg, "agent", "scope_rules", "scope_rules.conf", false, rules,
				sizeof(rules), &cerr);
	rc = rc
		 ?: config_path(cfg, "agent", "signals", "signals.conf", false, sig, sizeof(sig),
				&cerr);
	rc = rc
		 ?: config_path(cfg, "agent", "archetypes", "archetypes.conf", false, arch,
				sizeof(arch), &cerr);
	rc = rc
		 ?: config_path(cfg, "agent", "skills", "../skills/manifest.conf", false, man,
				sizeof(man), &cerr);
	rc = rc
		 ?: config_path(cfg, "agent", "catalog", "../catalog", false, cat, sizeof(cat),
				&cerr);
	rc = rc ?: config_int(cfg, "agent", "prompt_max_lines", 400, 50, 400, &lines, &cerr);
	rc = rc ?: llm_params_from_config(cfg, "llm", &lp, &cerr);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s", cerr.msg);
	a = agent_alloc();
	if (!a)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	a->prompt_max_lines = (unsigned)lines;
	rc = tools_config(cfg, "agent", &a->max_tool_calls, &cerr);
	if (rc < 0) {
		errmsg(err, errlen, rc, "%s", cerr.msg);
		goto fail;
	}
	rc = load_all(a, rules, sig, arch, man, cat, err, errlen);
	if (rc < 0)
		goto fail;
	if (llm_params_configured(&lp)) {
		rc = start_llm(a, &lp);
		if (rc < 0) {
			errmsg(err, errlen, rc, "[llm] cannot set up the client: %s",
			       strerror(-rc));
			goto fail;
		}
	}
	*ret = a;
	return 0;
fail:
	agent_free(a);
	return rc;
}

int agent_use_llm(struct agent *a, const char *url, const char *model, char *err, size_t errlen)
{
	struct llm_params lp;
	int rc;

	llm_params_default(&lp);
	snprintf(lp.url, sizeof(lp.url), "%s", url);
	snprintf(lp.model, sizeof(lp.model), "%s", model ? model : "default");
	llm_client_free(a->llm);
	a->llm = NULL;
	rc = start_llm(a, &lp);
	if (rc < 0)
		return errmsg(err, errlen, rc, "cannot use the LLM at %s: %s", url, strerror(-rc));
	return 0;
}

void agent_set_day(struct agent *a, int32_t day)
{
	a->day = day;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	scope_guard_free(a->guard);
	catalog_free(a->catalog);
	signals_detector_free(a->signals);
	skills_free(a->skills);
	archetype_set_free(a->archetypes);
	llm_client_free(a->llm);
	pthread_mutex_destroy(&a->guard_lock);
	free(a);
}

/* ---- output ------------------------------------------------------------- */

static void to_kiosk(struct agent_session *s, const char *buf, int n)
{
	/* display lines end in '\n'; the sink gets the JSON without it */
	if (n > 0 && s->sink.kiosk)
		s->sink.kiosk(s->sink.ctx, buf, (size_t)n - 1);
}

static void to_staff(struct agent_session *s, const char *buf, int n)
{
	if (n > 0 && s->sink.staff)
		s->sink.staff(s->sink.ctx, buf, (size_t)n - 1);
}

static void audit(struct agent_session *s, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void audit(struct agent_session *s, const char *kind, const char *fmt, ...)
{
	char detail[2048];
	va_list ap;

	if (!s->sink.audit)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	s->sink.audit(s->sink.ctx, kind, detail);
}

/* A JSON string literal of s (for audit details), into buf. */
static const char *jstr(const char *s, char *buf, size_t len)
{
	char *out = NULL;
	cJSON *j = cJSON_CreateString(s ? s : "");

	if (j)
		out = cJSON_PrintUnformatted(j);
	snprintf(buf, len, "%s", out ? out : "\"\"");
	free(out);
	cJSON_Delete(j);
	return buf;
}

static void keep_turn(struct agent_session *s, const char *role, const char *text)
{
	char buf[MSG_MAX];
	size_t n = strlen(role) + strlen(text) + 3;

	if (s->sink.turn)
		s->sink.turn(s->sink.ctx, role, text, NULL);
	to_staff(s, buf, display_msg_transcript(buf, sizeof(buf), 0, s->v.session_id, role, text));
	/* the transcript for escalations keeps the most recent part */
	if (n >= TRANSCRIPT_MAX)
		return;
	while (s->transcript_len + n >= TRANSCRIPT_MAX) {
		char *nl = memchr(s->transcript, '\n', s->transcript_len);
		size_t cut = nl ? (size_t)(nl - s->transcript) + 1 : s->transcript_len;

		memmove(s->transcript, s->transcript + cut, s->transcript_len - cut);
		s->transcript_len -= cut;
	}
	s->transcript_len +=
	    (size_t)snprintf(s->transcript + s->transcript_len, TRANSCRIPT_MAX - s->transcript_len,
			     "%s: %s\n", role, text);
}

/* Streams a whole reply as tokens of a word or two: the same messages the
 * kiosk gets from the LLM, so it renders both alike. */
static void stream_text(struct agent_session *s, const char *text)
{
	char buf[MSG_MAX];
	const char *p = text;

	to_kiosk(s, buf, display_msg_reply_start(buf, sizeof(buf), 0, (uint32_t)s->turn));
	while (*p) {
		const char *e = p;
		int words = 0;

		while (*e && words < 2) {
			while (*e == ' ')
				e++;
			while (*e && *e != ' ')
				e++;
			words++;
		}
		to_kiosk(
		    s, buf,
		    display_msg_token(buf, sizeof(buf), 0, (uint32_t)s->turn, p, (size_t)(e - p)));
		p = e;
	}
	to_kiosk(s, buf, display_msg_reply_end(buf, sizeof(buf), 0, (uint32_t)s->turn));
}

static void product_card(struct agent_session *s, const char *id)
{
	const struct catalog_product *p = catalog_product_find(s->a->catalog, id);
	char buf[MSG_MAX], price[48], cents[24];
	struct display_product card = {0};

	if (!p)
		return;
	catalog_format_cents(p->price_cents, cents);
	snprintf(price, sizeof(price), "%s%s%s", catalog_telco(s->a->catalog)->currency_symbol,
		 cents, p->billing == CATALOG_BILLING_MONTHLY ? "/month" : "");
	card.id = p->id;
	card.name = p->name;
	card.summary = p->value_story;
	card.price = price;
	for (size_t i = 0; i < p->n_features && i < DISPLAY_CARD_HIGHLIGHTS_MAX - 1; i++)
		card.highlights[i] = p->features[i];
	to_kiosk(s, buf, display_msg_product_card(buf, sizeof(buf), 0, &card));
}

/* ---- tools: the hooks the runtime supplies ------------------------------ */

static int hook_audit(void *user, const char *kind, const char *detail)
{
	struct agent_session *s = user;
	struct agent_turn_report *rep = s->rep;
	cJSON *d;

	if (s->sink.audit)
		s->sink.audit(s->sink.ctx, kind, detail);
	if (!rep)
		return 0;
	d = cJSON_Parse(detail);
	if (strcmp(kind, "tool_call") == 0 && rep->n_tools < AGENT_TURN_TOOLS_MAX) {
		struct agent_tool_call *t = &rep->tools[rep->n_tools++];
		cJSON *tool = cJSON_GetObjectItem(d, "tool");
		char *args = cJSON_PrintUnformatted(cJSON_GetObjectItem(d, "args"));

		snprintf(t->name, sizeof(t->name), "%s",
			 cJSON_IsString(tool) ? tool->valuestring : "?");
		snprintf(t->args, sizeof(t->args), "%s", args ? args : "{}");
		t->ok = false;
		free(args);
	} else if (strcmp(kind, "tool_result") == 0 && rep->n_tools) {
		cJSON *res = cJSON_GetObjectItem(d, "result");
		cJSON *id = cJSON_GetObjectItem(res, "id");

		rep->tools[rep->n_tools - 1].ok = true;
		/* a product looked up is a card the customer can tap */
		if (cJSON_IsString(id) &&
		    strcmp(rep->tools[rep->n_tools - 1].name, "get_product") == 0)
			snprintf(s->card, sizeof(s->card), "%s", id->valuestring);
	}
	cJSON_Delete(d);
	return 0;
}

static int hook_book(void *user, const struct tools_booking *b, char *ret_ref, size_t reflen)
{
	struct agent_session *s = user;
	char date[11], kind[64];

	catalog_date_format(b->day, date);
	snprintf(ret_ref, reflen, "NW-%d%02d-%c%c", b->day % 1000, s->turn % 100,
		 (char)('A' + (s->v.session_id % 26)), (char)('A' + (b->day % 26)));
	audit(s, "booking", "{\"ref\":\"%s\",\"kind\":%s,\"day\":\"%s\"}", ret_ref,
	      jstr(b->kind, kind, sizeof(kind)), date);
	return 0;
}

static int hook_need(void *user, const char *need, const char *const *tags, size_t n_tags,
		     const char *const *products, size_t n_products)
{
	struct agent_session *s = user;
	char buf[1024];

	(void)tags;
	(void)n_tags;
	(void)products;
	(void)n_products;
	audit(s, "need", "{\"need\":%s}", jstr(need, buf, sizeof(buf)));
	return 0;
}

static int hook_escalate(void *user, const char *reason, const char *summary, bool urgent)
{
	struct agent_session *s = user;
	char buf[MSG_MAX];

	(void)urgent;
	to_staff(s, buf,
		 display_msg_escalation(buf, sizeof(buf), 0, s->v.session_id, reason, "tool",
					summary, s->transcript));
	if (s->rep)
		s->rep->escalated = true;
	return 0;
}

/* ---- sessions ----------------------------------------------------------- */

static char *keep(struct agent_session *s, int i, const char *str)
{
	if (!str)
		return NULL;
	s->strings[i] = strdup(str);
	return s->strings[i];
}

static void greeting_text(struct agent_session *s, char *buf, size_t len)
{
	const struct catalog_telco *t = catalog_telco(s->a->catalog);

	if (s->v.returning && s->v.name)
		snprintf(buf, len,
			 "Welcome back, %s! Good to see you at %s again. What can I help "
			 "you with today?",
			 s->v.name, t->store);
	else if (s->v.name)
		snprintf(buf, len, "Hi %s, welcome to %s! What brings you in today?", s->v.name,
			 t->store);
	else
		snprintf(buf, len, "Hi, welcome to %s! What brings you in today?", t->store);
}

static int session_new(struct agent *a, const struct agent_visitor *v,
		       const struct agent_sink *sink, struct agent_session **ret)
{
	struct agent_session *s;
	size_t nf = 0;
	int rc;

	*ret = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->a = a;
	if (sink)
		s->sink = *sink;
	if (v)
		s->v = *v;
	s->v.name = keep(s, 0, s->v.name);
	s->v.recognised_by = keep(s, 1, s->v.recognised_by);
	s->v.last_visit = keep(s, 2, s->v.last_visit);
	if (v && v->facts) {
		while (v->facts[nf])
			nf++;
		s->facts_copy = calloc(nf + 1, sizeof(char *));
		for (size_t i = 0; s->facts_copy && i < nf; i++)
			s->facts_copy[i] = strdup(v->facts[i]);
	}
	s->v.facts = s->facts_copy;
	s->history = cJSON_CreateArray();
	rc = archetype_tracker_new(a->archetypes, &s->tracker);
	rc = rc ?: responder_memory_new(&s->memory);
	rc = rc ?: figures_facts_new(a->catalog, a->day, &s->facts);
	rc = rc ?: prompt_new(a->skills, a->prompt_max_lines, &s->prompt);
	if (rc < 0 || !s->history) {
		agent_session_end(s, AGENT_END_SHUTDOWN);
		return rc < 0 ? rc : -ENOMEM;
	}
	tools_ctx_init(&s->tools, a->catalog, s->facts, a->day);
	s->tools.max_calls_per_turn = a->max_tool_calls;
	s->tools.hooks = (struct tools_hooks){
	    .audit = hook_audit,
	    .book = hook_book,
	    .record_need = hook_need,
	    .escalate = hook_escalate,
	    .user = s,
	};
	s->state = AGENT_STATE_IDLE;
	*ret = s;
	return 0;
}

static void announce(struct agent_session *s)
{
	struct display_visitor dv = {0};
	char buf[MSG_MAX];

	dv.session = s->v.session_id;
	dv.recognised = s->v.customer_id != 0;
	dv.customer_id = s->v.customer_id;
	dv.name = s->v.name;
	dv.returning = s->v.returning;
	dv.last_visit_summary = s->v.last_visit;
	dv.via = s->v.recognised_by;
	to_staff(s, buf, display_msg_visitor_arrived(buf, sizeof(buf), 0, &dv));
}

int agent_session_begin(struct agent *a, const struct agent_visitor *v,
			const struct agent_sink *sink, struct agent_session **ret)
{
	struct agent_session *s;
	char buf[MSG_MAX], text[512];
	int rc;

	rc = session_new(a, v, sink, &s);
	if (rc < 0)
		return rc;
	conversation_move(&s->state, AGENT_STATE_GREETING, CONV_EV_SESSION_START);
	greeting_text(s, text, sizeof(text));
	to_kiosk(s, buf, display_msg_greeting(buf, sizeof(buf), 0, text));
	announce(s);
	audit(s, "state", "{\"from\":\"idle\",\"to\":\"greeting\",\"evidence\":\"session_start\"}");
	keep_turn(s, "agent", text);
	*ret = s;
	return 0;
}

int agent_session_resume(struct agent *a, const struct agent_visitor *v,
			 const struct agent_sink *sink, struct agent_session **ret)
{
	struct agent_session *s;
	int rc;

	rc = session_new(a, v, sink, &s);
	if (rc < 0)
		return rc;
	conversation_move(&s->state, AGENT_STATE_GREETING, CONV_EV_SESSION_START);
	conversation_move(&s->state, AGENT_STATE_DISCOVERY, CONV_EV_MESSAGE);
	announce(s);
	audit(s, "resumed", "{\"state\":\"discovery\"}");
	*ret = s;
	return 0;
}

int agent_session_restore_turn(struct agent_session *s, const char *role, const char *text)
{
	size_t n = strlen(role) + strlen(text) + 3;
	cJSON *m;

	if (strcmp(role, "customer") != 0 && strcmp(role, "agent") != 0)
		return 0;
	if (n < TRANSCRIPT_MAX && s->transcript_len + n < TRANSCRIPT_MAX)
		s->transcript_len +=
		    (size_t)snprintf(s->transcript + s->transcript_len,
				     TRANSCRIPT_MAX - s->transcript_len, "%s: %s\n", role, text);
	while (cJSON_GetArraySize(s->history) >= HISTORY_MAX)
		cJSON_DeleteItemFromArray(s->history, 0);
	m = cJSON_CreateObject();
	if (!m)
		return -ENOMEM;
	cJSON_AddStringToObject(m, "role", strcmp(role, "customer") == 0 ? "user" : "assistant");
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(s->history, m);
	if (strcmp(role, "customer") == 0)
		s->turn++;
	return 0;
}

void agent_session_cancel(struct agent_session *s)
{
	atomic_store(&s->cancel, true);
	if (s->a->llm)
		llm_cancel(s->a->llm);
}

enum agent_state agent_session_state(const struct agent_session *s)
{
	return s->state;
}

static void move(struct agent_session *s, enum agent_state to, enum conversation_evidence ev)
{
	enum agent_state from = s->state;

	if (conversation_move(&s->state, to, ev) < 0) {
		audit(s, "blocked_transition",
		      "{\"from\":\"%s\",\"to\":\"%s\",\"evidence\":\"%s\"}", agent_state_name(from),
		      agent_state_name(to), conversation_evidence_name(ev));
		return;
	}
	if (from != to)
		audit(s, "state", "{\"from\":\"%s\",\"to\":\"%s\",\"evidence\":\"%s\"}",
		      agent_state_name(from), agent_state_name(to), conversation_evidence_name(ev));
}

int agent_session_takeover(struct agent_session *s, bool staff_has_it)
{
	char buf[MSG_MAX];

	if (staff_has_it == s->staff_has_it)
		return 0;
	if (staff_has_it)
		move(s, AGENT_STATE_HANDED_OVER, CONV_EV_STAFF_TAKEOVER);
	else
		move(s, s->focus[0] ? AGENT_STATE_PRESENTING : AGENT_STATE_DISCOVERY,
		     CONV_EV_STAFF_HANDBACK);
	if (staff_has_it && s->state != AGENT_STATE_HANDED_OVER)
		return -EPERM;
	s->staff_has_it = staff_has_it;
	s->holding_sent = false;
	to_staff(
	    s, buf,
	    display_msg_takeover_state(buf, sizeof(buf), 0, s->v.session_id, staff_has_it, NULL));
	return 0;
}

void agent_session_end(struct agent_session *s, enum agent_end_reason why)
{
	static const char *const reasons[] = {"left", "silence", "shutdown"};
	static const enum conversation_evidence ev[] = {CONV_EV_LEFT, CONV_EV_SILENCE,
							CONV_EV_SHUTDOWN};
	char buf[MSG_MAX];

	if (!s)
		return;
	if (why == AGENT_END_SHUTDOWN) {
		/* the box is restarting: no goodbye; the store keeps the session
		 * open so the next start resumes it */
		to_staff(
		    s, buf,
		    display_msg_visitor_left(buf, sizeof(buf), 0, s->v.session_id, reasons[why]));
	} else if (s->state != AGENT_STATE_IDLE && s->state != AGENT_STATE_FAREWELL) {
		const char *text = why == AGENT_END_SILENCE
				       ? "I'll let you be for now. Thanks for stopping by, and "
					 "just tap the screen if you'd like to pick this up again!"
				       : "Thanks for stopping by! Have a great day.";

		move(s, AGENT_STATE_FAREWELL, ev[why]);
		to_kiosk(s, buf, display_msg_farewell(buf, sizeof(buf), 0, text));
		to_staff(
		    s, buf,
		    display_msg_visitor_left(buf, sizeof(buf), 0, s->v.session_id, reasons[why]));
		if (s->sink.turn)
			s->sink.turn(s->sink.ctx, "agent", text, NULL);
		move(s, AGENT_STATE_IDLE, CONV_EV_CLOSED);
	}
	archetype_tracker_free(s->tracker);
	responder_memory_free(s->memory);
	figures_facts_free(s->facts);
	prompt_free(s->prompt);
	cJSON_Delete(s->history);
	for (size_t i = 0; i < sizeof(s->strings) / sizeof(s->strings[0]); i++)
		free(s->strings[i]);
	for (size_t i = 0; s->facts_copy && s->facts_copy[i]; i++)
		free((char *)s->facts_copy[i]);
	free(s->facts_copy);
	free(s);
}

/* ---- one turn ----------------------------------------------------------- */

static void report_skills(struct agent_session *s, const struct skills_selection *sel)
{
	struct agent_turn_report *rep = s->rep;

	rep->n_skills = 0;
	for (unsigned i = 0; i < sel->n && i < AGENT_TURN_SKILLS_MAX; i++)
		snprintf(rep->skills[rep->n_skills++], AGENT_ID_MAX, "%s",
			 skills_id(s->a->skills, sel->idx[i]));
}

/*
 * The prompt may leave optional skills out (the state's share of the full
 * prompt, the line budget): what the model reads is what the turn selected.
 */
static void kept_skills(struct skills_selection *sel, const struct prompt_report *prep)
{
	for (unsigned i = 0; i < prep->n_dropped && sel->n_dropped < SKILLS_MAX; i++)
		sel->dropped[sel->n_dropped++] = prep->dropped[i];
	sel->n = prep->n_skills;
	memcpy(sel->idx, prep->skills, prep->n_skills);
}

/* The guard said no: hand over (or refuse politely) without any model. */
static void guard_turn(struct agent_session *s, const struct scope_verdict *v)
{
	struct agent_turn_report *rep = s->rep;
	struct skills_selection sel;
	char buf[MSG_MAX];

	rep->source = AGENT_REPLY_GUARD;
	snprintf(rep->reply, sizeof(rep->reply), "%s", v->reply ? v->reply : "");
	if (!v->escalate) {
		rep->refused = true;
		stream_text(s, rep->reply);
		keep_turn(s, "agent", rep->reply);
		return;
	}
	rep->escalated = true;
	snprintf(rep->category, sizeof(rep->category), "%s",
		 v->category_name ? v->category_name : "");
	snprintf(rep->rule, sizeof(rep->rule), "%s", v->rule_id ? v->rule_id : "");
	/* what an LLM would read if it were asked: only service recovery */
	if (skills_select(s->a->skills, s->state, 0, SKILLS_SELECT_SERVICE_RECOVERY, &sel) >= 0)
		report_skills(s, &sel);
	to_kiosk(s, buf, display_msg_handoff(buf, sizeof(buf), 0, rep->category, rep->reply));
	to_staff(s, buf,
		 display_msg_escalation(buf, sizeof(buf), 0, s->v.session_id, rep->category,
					rep->rule, "the scope guard matched the customer's words",
					s->transcript));
	audit(s, "escalation", "{\"category\":\"%s\",\"rule\":\"%s\",\"by\":\"scope_guard\"}",
	      rep->category, rep->rule);
	move(s, AGENT_STATE_HANDED_OVER, CONV_EV_ESCALATION);
	s->holding_sent = true;
	keep_turn(s, "agent", rep->reply);
}

/* The context layer's visitor lines: the last visit and the known facts. */
static const char *visitor_context(struct agent_session *s, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (s->v.name)
		off += (size_t)snprintf(buf + off, len - off, "Name: %s%s\n", s->v.name,
					s->v.returning ? " (returning)" : "");
	if (s->v.last_visit && off < len)
		off += (size_t)snprintf(buf + off, len - off, "Last visit: %s\n", s->v.last_visit);
	for (size_t i = 0; s->v.facts && s->v.facts[i] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "Known: %s\n", s->v.facts[i]);
	return buf[0] ? buf : NULL;
}

static void staff_signals(struct agent_session *s, const struct signals_result *sig)
{
	struct display_signal list[SIGNAL_COUNT];
	char buf[MSG_MAX], ev[SIGNAL_COUNT][160];
	size_t n = 0;

	for (int i = 0; i < SIGNAL_COUNT; i++) {
		const struct signals_evidence *e = &sig->ev[i];
		size_t off = 0;

		if (!(sig->mask & SIGNAL_BIT(i)))
			continue;
		ev[n][0] = '\0';
		for (unsigned k = 0; k < e->n_cues && off < sizeof(ev[n]); k++)
			off += (size_t)snprintf(ev[n] + off, sizeof(ev[n]) - off, "%s\"%s\"",
						off ? ", " : "", e->cues[k]);
		for (unsigned k = 0; k < e->n_ids && off < sizeof(ev[n]); k++)
			off += (size_t)snprintf(ev[n] + off, sizeof(ev[n]) - off, "%s%s",
						off ? ", " : "", e->ids[k]);
		list[n].signal = signals_name((enum signal)i);
		list[n].evidence = ev[n];
		list[n].confidence = -1;
		n++;
	}
	to_staff(s, buf, display_msg_signals(buf, sizeof(buf), 0, s->v.session_id, list, n));
}

static void observe_archetype(struct agent_session *s, const struct signals_result *sig,
			      bool *service_recovery)
{
	struct agent_turn_report *rep = s->rep;
	struct archetype_verdict verdict;
	unsigned facts = 0;
	char buf[MSG_MAX];
	int cur;

	if (s->v.returning)
		facts |= ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_RETURNING);
	for (size_t i = 0; s->v.facts && s->v.facts[i]; i++) {
		if (strncmp(s->v.facts[i], "has_contract=", 13) == 0 &&
		    strcmp(s->v.facts[i] + 13, "no") != 0)
			facts |= ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_HAS_CONTRACT);
		if (strncmp(s->v.facts[i], "accompanied=", 12) == 0 &&
		    strcmp(s->v.facts[i] + 12, "no") != 0)
			facts |= ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_ACCOMPANIED);
	}
	if (archetype_observe(s->tracker, sig, facts, &verdict) < 0 || verdict.current < 0)
		return;
	cur = verdict.current;
	snprintf(rep->archetype, sizeof(rep->archetype), "%s",
		 archetype_id(s->a->archetypes, (size_t)cur));
	snprintf(rep->archetype_tier, sizeof(rep->archetype_tier), "%s",
		 archetype_tier_name(archetype_tier(s->a->archetypes, (size_t)cur)));
	*service_recovery =
	    archetype_tier(s->a->archetypes, (size_t)cur) == ARCHETYPE_TIER_SERVICE_RECOVERY;
	if (!verdict.changed)
		return;
	to_staff(s, buf,
		 display_msg_archetype(buf, sizeof(buf), 0, s->v.session_id, rep->archetype,
				       (int)archetype_tier(s->a->archetypes, (size_t)cur),
				       archetype_directive(s->a->archetypes, (size_t)cur)));
	audit(s, "archetype", "{\"archetype\":\"%s\",\"reason\":\"%s\"}", rep->archetype,
	      verdict.reason ? verdict.reason : "");
}

/* ---- the LLM path -------------------------------------------------------- */

static void llm_token(void *ctx, const char *utf8)
{
	struct agent_session *s = ctx;
	char buf[MSG_MAX];
	size_t n = strlen(utf8);

	if (!s->reply_started) {
		to_kiosk(s, buf, display_msg_reply_start(buf, sizeof(buf), 0, (uint32_t)s->turn));
		s->reply_started = true;
	}
	to_kiosk(s, buf, display_msg_token(buf, sizeof(buf), 0, (uint32_t)s->turn, utf8, n));
}

static int llm_tool(void *ctx, const char *id, const char *name, const char *args,
		    char **ret_result)
{
	struct agent_session *s = ctx;

	(void)id;
	tools_call(&s->tools, name, args, ret_result);
	/* a rejection is an answer the model reads, not a failed turn */
	return *ret_result ? 0 : -ENOMEM;
}

static bool llm_should_cancel(void *ctx)
{
	struct agent_session *s = ctx;

	if (s->sink.poll && s->sink.poll(s->sink.ctx))
		atomic_store(&s->cancel, true);
	return atomic_load(&s->cancel);
}

/* 0 when the model answered; -errno (and *outcome) when it did not. */
static int llm_turn(struct agent_session *s, const char *text, const char *system_prompt,
		    struct llm_result *res)
{
	struct llm_callbacks cb = {llm_token, llm_tool, llm_should_cancel};
	cJSON *msgs = cJSON_CreateArray(), *m;
	char *messages, *tools_json;
	int rc;

	if (!msgs)
		return -ENOMEM;
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "system");
	cJSON_AddStringToObject(m, "content", system_prompt);
	cJSON_AddItemToArray(msgs, m);
	for (cJSON *h = s->history->child; h; h = h->next)
		cJSON_AddItemToArray(msgs, cJSON_Duplicate(h, true));
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(msgs, m);
	messages = cJSON_PrintUnformatted(msgs);
	cJSON_Delete(msgs);
	tools_json = tools_schemas_json((int)s->state);
	if (!messages || !tools_json) {
		free(messages);
		free(tools_json);
		return -ENOMEM;
	}
	rc = llm_chat(s->a->llm, messages, tools_json, &cb, s, res);
	free(messages);
	free(tools_json);
	return rc;
}

static void remember(struct agent_session *s, const char *text, const char *reply)
{
	cJSON *m;

	while (cJSON_GetArraySize(s->history) >= HISTORY_MAX - 1)
		cJSON_DeleteItemFromArray(s->history, 0);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", text);
	cJSON_AddItemToArray(s->history, m);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "assistant");
	cJSON_AddStringToObject(m, "content", reply);
	cJSON_AddItemToArray(s->history, m);
}

/* ---- the turn ------------------------------------------------------------ */

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Runs the figure check; staff see what was corrected or removed. */
static void check_figures(struct agent_session *s, char *reply, size_t cap)
{
	struct figures_report fr;
	char buf[MSG_MAX];

	if (figures_check(s->facts, reply, &fr) < 0)
		return;
	s->rep->flagged_figures = (unsigned)fr.n_flags;
	for (size_t i = 0; i < fr.n_flags; i++) {
		to_staff(s, buf,
			 display_msg_flagged_figure(
			     buf, sizeof(buf), 0, s->v.session_id, fr.flags[i].figure,
			     figures_action_name(fr.flags[i].action), reply));
	}
	if (fr.n_flags) {
		char *json = figures_report_json(&fr);

		if (json && s->sink.audit)
			s->sink.audit(s->sink.ctx, "flagged_figure", json);
		free(json);
		snprintf(reply, cap, "%s", fr.text);
	}
	figures_report_free(&fr);
}

static int turn_impl(struct agent_session *s, const char *text, size_t len,
		     struct agent_turn_report *rep, bool plan_only)
{
	struct responder_output out;
	struct responder_input in;
	struct scope_verdict verdict;
	struct skills_selection sel;
	struct prompt_context pctx = {0};
	struct prompt_report prep;
	struct timespec t0;
	enum conversation_evidence ev;
	enum agent_state next;
	bool service_recovery = false, used_llm = false;
	char buf[MSG_MAX], msg[AGENT_TEXT_MAX + 1], ctxbuf[1024];
	int rc;

	if (!s || !text || !rep)
		return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(rep, 0, sizeof(*rep));
	s->rep = rep;
	s->card[0] = '\0';
	s->reply_started = false;
	atomic_store(&s->cancel, false);
	rep->turn = ++s->turn;
	rep->state_before = s->state;

	/* 1. the guard, before anything else sees the words */
	pthread_mutex_lock(&s->a->guard_lock);
	rc = scope_guard_check(s->a->guard, text, len, &verdict);
	pthread_mutex_unlock(&s->a->guard_lock);
	if (rc < 0)
		return rc;
	if (len <= AGENT_TEXT_MAX) {
		memcpy(msg, text, len);
		msg[len] = '\0';
	} else {
		snprintf(msg, sizeof(msg), "[a message of %zu bytes, refused as too long]", len);
	}
	if (!plan_only)
		keep_turn(s, "customer", msg);
	if (verdict.outcome != SCOPE_OUTCOME_PASS && plan_only) {
		rep->escalated = verdict.escalate;
		rep->refused = !verdict.escalate;
		snprintf(rep->category, sizeof(rep->category), "%s",
			 verdict.category_name ? verdict.category_name : "");
		snprintf(rep->rule, sizeof(rep->rule), "%s",
			 verdict.rule_id ? verdict.rule_id : "");
		goto done;
	}
	if (verdict.outcome != SCOPE_OUTCOME_PASS) {
		guard_turn(s, &verdict);
		goto done;
	}

	/* 2. a person on staff has the conversation: the agent keeps quiet */
	if (s->staff_has_it) {
		rep->source = AGENT_REPLY_NONE;
		goto done;
	}

	/* 3. signals, archetype, skills, prompt */
	struct signals_context sctx = {s->state, s->focus[0] ? s->focus : NULL};

	rc = signals_detect(s->a->signals, msg, strlen(msg), &sctx, &rep->evidence);
	if (rc < 0)
		memset(&rep->evidence, 0, sizeof(rep->evidence));
	rep->signals = rep->evidence.mask;
	if (!plan_only)
		staff_signals(s, &rep->evidence);
	observe_archetype(s, &rep->evidence, &service_recovery);
	if (s->state == AGENT_STATE_HANDED_OVER)
		service_recovery = true;
	skills_select(s->a->skills, s->state, rep->signals,
		      service_recovery ? SKILLS_SELECT_SERVICE_RECOVERY : 0, &sel);
	if (rep->archetype[0]) {
		int i = archetype_find(s->a->archetypes, rep->archetype);

		pctx.archetype = archetype_name(s->a->archetypes, (size_t)i);
		pctx.directive = archetype_directive(s->a->archetypes, (size_t)i);
	}
	pctx.visitor = visitor_context(s, ctxbuf, sizeof(ctxbuf));
	/* the full prompt first: the LLM reads the text of the last assembly */
	if (prompt_assemble_full(s->prompt, NULL, 0, &pctx, &prep) == 0)
		rep->full_prompt_lines = prep.lines;
	if (prompt_assemble(s->prompt, &sel, NULL, 0, &pctx, &prep) == 0) {
		rep->prompt_lines = prep.lines;
		rep->prompt_tokens = prep.tokens;
		kept_skills(&sel, &prep);
	}
	report_skills(s, &sel);

	if (plan_only)
		goto done;

	/* 4. the reply. Once the customer has spoken the greeting is over: the
	 * tools see discovery, so a first question can already look a product up. */
	tools_turn_begin(&s->tools);
	s->tools.state = s->state == AGENT_STATE_GREETING ? AGENT_STATE_DISCOVERY : s->state;
	memset(&out, 0, sizeof(out));
	if (s->a->llm && s->state != AGENT_STATE_HANDED_OVER) {
		struct llm_result res = {0};

		used_llm = true;
		rc = llm_turn(s, msg, prompt_text(s->prompt), &res);
		snprintf(rep->llm_outcome, sizeof(rep->llm_outcome), "%s",
			 llm_outcome_name(res.outcome));
		if (rc == 0 && res.reply && res.reply[0]) {
			rep->source = AGENT_REPLY_LLM;
			snprintf(rep->reply, sizeof(rep->reply), "%s", res.reply);
		} else if (atomic_load(&s->cancel)) {
			llm_result_release(&res);
			if (s->reply_started)
				to_kiosk(
				    s, buf,
				    display_msg_reply_end(buf, sizeof(buf), 0, (uint32_t)s->turn));
			rep->elapsed_ms = ms_since(&t0);
			s->rep = NULL;
			return -ECANCELED;
		} else {
			/* the model is down, slow or talking nonsense: the box still answers */
			rep->source = AGENT_REPLY_FALLBACK;
			to_staff(s, buf,
				 display_msg_offline_mode(buf, sizeof(buf), 0, true, res.detail));
			audit(s, "offline", "{\"outcome\":\"%s\"}", rep->llm_outcome);
			/* a reply already started stays open: step 5 replaces it */
		}
		llm_result_release(&res);
	}
	if (!rep->reply[0]) {
		if (!used_llm)
			rep->source = AGENT_REPLY_OFFLINE;
		in = (struct responder_input){
		    .catalog = s->a->catalog,
		    .tools = &s->tools,
		    .state = s->state,
		    .text = msg,
		    .len = strlen(msg),
		    .signals = &rep->evidence,
		    .skills = s->a->skills,
		    .selection = &sel,
		    .archetype = archetype_current(s->tracker),
		    .archetypes = s->a->archetypes,
		    .visitor = &s->v,
		    .turn = s->turn,
		};
		if (s->state == AGENT_STATE_HANDED_OVER && s->holding_sent) {
			rep->source = AGENT_REPLY_NONE;
		} else if (responder_reply(&in, s->memory, &out) == 0) {
			snprintf(rep->reply, sizeof(rep->reply), "%s", out.reply);
		}
		if (s->state == AGENT_STATE_HANDED_OVER)
			s->holding_sent = true;
	}

	/* 5. figures: every price and count must come from the catalog or a tool */
	if (rep->reply[0])
		check_figures(s, rep->reply, sizeof(rep->reply));
	if (s->reply_started && rep->source != AGENT_REPLY_LLM) {
		/* The model failed after streaming part of a reply: the kiosk shows
		 * the fallback instead, in the same reply, never the partial text
		 * ended as if it were whole. */
		to_kiosk(s, buf,
			 display_msg_reply_fix(buf, sizeof(buf), 0, (uint32_t)s->turn, rep->reply));
		to_kiosk(s, buf, display_msg_reply_end(buf, sizeof(buf), 0, (uint32_t)s->turn));
	} else if (rep->reply[0] && rep->source != AGENT_REPLY_LLM) {
		stream_text(s, rep->reply);
	} else if (rep->source == AGENT_REPLY_LLM) {
		to_kiosk(s, buf, display_msg_reply_end(buf, sizeof(buf), 0, (uint32_t)s->turn));
		if (rep->flagged_figures)
			to_kiosk(s, buf,
				 display_msg_reply_fix(buf, sizeof(buf), 0, (uint32_t)s->turn,
						       rep->reply));
	}
	if (out.card_product[0])
		snprintf(s->card, sizeof(s->card), "%s", out.card_product);
	if (s->card[0])
		product_card(s, s->card);
	if (out.focus_product[0])
		snprintf(s->focus, sizeof(s->focus), "%s", out.focus_product);
	else if (s->card[0])
		snprintf(s->focus, sizeof(s->focus), "%s", s->card);
	if (out.suggestions[0][0]) {
		struct display_suggestion sug[3];
		size_t n = 0;

		for (; n < 3 && out.suggestions[n][0]; n++) {
			sug[n].id = out.suggestions[n];
			sug[n].text = out.suggestions[n];
		}
		to_kiosk(s, buf, display_msg_suggestions(buf, sizeof(buf), 0, sug, n));
	}
	if (out.next_best_action[0]) {
		const char *points[3];
		size_t n = 0;

		for (; n < 3 && out.talking_points[n][0]; n++)
			points[n] = out.talking_points[n];
		to_staff(s, buf,
			 display_msg_next_best_action(buf, sizeof(buf), 0, s->v.session_id,
						      out.next_best_action, points, n));
	}
	if (rep->reply[0]) {
		keep_turn(s, "agent", rep->reply);
		remember(s, msg, rep->reply);
	}

	/* 6. where the talk is now */
	next =
	    conversation_after_turn(s->state, rep->escalated, rep->signals, s->focus[0] != 0, &ev);
	if (s->state != AGENT_STATE_HANDED_OVER) {
		/* A complaint hands over only when the reply did (the offline
		 * responder may read "fed up with my provider, I want to switch"
		 * as a reason to switch, not a grievance); with the LLM the
		 * signal decides. */
		if (ev == CONV_EV_ESCALATION && !rep->escalated && !used_llm &&
		    out.suggested_state != AGENT_STATE_HANDED_OVER && !out.escalated)
			next = conversation_after_turn(s->state, false,
						       rep->signals & ~SIGNAL_BIT(SIGNAL_COMPLAINT),
						       s->focus[0] != 0, &ev);
		if (ev == CONV_EV_ESCALATION && !rep->escalated) {
			/* a complaint: the responder spoke for the box, staff take it */
			to_staff(s, buf,
				 display_msg_escalation(
				     buf, sizeof(buf), 0, s->v.session_id, "complaint", "signals",
				     "the customer sounds unhappy", s->transcript));
			audit(s, "escalation", "{\"category\":\"complaint\",\"by\":\"signals\"}");
			rep->escalated = true;
			snprintf(rep->category, sizeof(rep->category), "complaint");
		}
		move(s, next, ev);
	}
done:
	rep->state_after = s->state;
	rep->elapsed_ms = ms_since(&t0);
	if (plan_only) {
		s->turn--;
		s->rep = NULL;
		return 0;
	}
	audit(s, "turn",
	      "{\"turn\":%d,\"signals\":%u,\"skills\":%u,\"archetype\":\"%s\",\"state\":\"%s\","
	      "\"source\":%d,\"prompt_lines\":%u}",
	      rep->turn, rep->signals, rep->n_skills, rep->archetype,
	      agent_state_name(rep->state_after), (int)rep->source, rep->prompt_lines);
	s->rep = NULL;
	return 0;
}

int agent_session_turn(struct agent_session *s, const char *text, size_t len,
		       struct agent_turn_report *rep)
{
	return turn_impl(s, text, len, rep, false);
}

int agent_session_plan(struct agent_session *s, const char *text, size_t len,
		       struct agent_turn_report *rep)
{
	return turn_impl(s, text, len, rep, true);
}
