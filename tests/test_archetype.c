#include "tests/test.h"
#include "agent/archetype.h"
#include "agent/signals.h"

#include <errno.h>
#include <stdlib.h>

struct rig {
	struct archetype_set *set;
	struct signals_detector *det;
	struct archetype_tracker *t;
	struct archetype_verdict v;
};

static int rig_open(struct rig *r)
{
	struct archetype_error aerr;
	struct signals_error serr;
	struct signals_lexicon *lex = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = archetype_set_load("config/archetypes.conf", &r->set, &aerr);
	if (rc < 0) {
		printf("    %s\n", aerr.msg);
		return rc;
	}
	if (signals_lexicon_new(&lex) < 0)
		return -ENOMEM;
	signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "tv-family-plus", "family tv");
	signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "fibre-900", "fibre 900");
	signals_lexicon_add(lex, SIGNAL_TERM_COMPETITOR, "crestel", "crestel");
	rc = archetype_register_cues(r->set, lex);
	if (rc == 0)
		rc = signals_detector_new("config/signals.conf", lex, &r->det, &serr);
	if (rc < 0)
		printf("    %s\n", serr.msg);
	signals_lexicon_free(lex);
	if (rc == 0)
		rc = archetype_tracker_new(r->set, &r->t);
	return rc;
}

static void rig_close(struct rig *r)
{
	archetype_tracker_free(r->t);
	signals_detector_free(r->det);
	archetype_set_free(r->set);
}

/* One customer message; returns the current archetype id or "-". */
static const char *say(struct rig *r, const char *msg, unsigned facts)
{
	struct signals_result sig;

	if (signals_detect(r->det, msg, strlen(msg), NULL, &sig) < 0)
		return "error";
	if (archetype_observe(r->t, &sig, facts, &r->v) < 0)
		return "error";
	return r->v.current < 0 ? "-" : archetype_id(r->set, (size_t)r->v.current);
}

TEST(real_config_has_nine_archetypes_in_four_tiers)
{
	struct archetype_set *set = NULL;
	struct archetype_error err;
	unsigned tiers[ARCHETYPE_TIER_COUNT] = {0};

	ASSERT_EQ(archetype_set_load("config/archetypes.conf", &set, &err), 0);
	ASSERT_EQ(archetype_count(set), 9);
	for (size_t i = 0; i < 9; i++) {
		const char *d = archetype_directive(set, i);
		unsigned lines = 0;

		tiers[archetype_tier(set, i)]++;
		for (const char *p = d; *p; p++)
			lines += *p == '\n';
		ASSERT_EQ(lines, 4);
		ASSERT(archetype_name(set, i)[0]);
	}
	for (int t = 0; t < ARCHETYPE_TIER_COUNT; t++)
		ASSERT_MSG(tiers[t] > 0, "tier %s empty",
			   archetype_tier_name((enum archetype_tier)t));
	ASSERT_EQ(archetype_tier(set, (size_t)archetype_find(set, "frustrated")),
		  ARCHETYPE_TIER_SERVICE_RECOVERY);
	ASSERT_CONTAINS(archetype_directive(set, (size_t)archetype_find(set, "family")),
			"Do the comparison math");
	ASSERT_EQ(archetype_find(set, "nobody"), -ENOENT);
	archetype_set_free(set);
}

TEST(nothing_before_two_exchanges)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	/* Strong evidence on the first message is not enough. */
	ASSERT_STREQ(say(&r, "I'm in a hurry, just tell me the best phone plan", 0), "-");
	ASSERT_EQ(r.v.exchanges, 1);
	ASSERT(!r.v.changed);
	ASSERT_STREQ(say(&r, "quickly please, I only have my lunch break", 0), "professional");
	ASSERT(r.v.changed);
	ASSERT_EQ(r.v.previous, -1);
	ASSERT(r.v.reason != NULL);
	rig_close(&r);
}

TEST(family_classified_on_the_second_exchange)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "hi there", 0), "-");
	ASSERT_STREQ(say(&r, "we've got three kids and they fight over the TV every night", 0),
		     "family");
	ASSERT_STREQ(r.v.reason, "kids");
	ASSERT_STREQ(say(&r, "what's the cheapest way to sort that out per month?", 0), "family");
	ASSERT(!r.v.changed);
	rig_close(&r);
}

TEST(thin_evidence_waits_for_decide_by_then_takes_the_leader_or_default)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "ok", 0), "-");
	ASSERT_STREQ(say(&r, "right", 0), "-");
	ASSERT_STREQ(say(&r, "hmm let me see", 0), "browser"); /* the default */
	archetype_tracker_reset(r.t);
	ASSERT_STREQ(say(&r, "ok", 0), "-");
	ASSERT_STREQ(say(&r, "is the router any good", 0), "-"); /* 2 points, under min_score */
	ASSERT_STREQ(say(&r, "right", 0), "tech_enthusiast");	 /* the leader by decide_by */
	rig_close(&r);
}

TEST(service_recovery_wins_at_once)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "This is ridiculous, my internet keeps dropping every evening", 0),
		     "frustrated");
	ASSERT_EQ(r.v.exchanges, 1);
	ASSERT(r.v.changed);
	ASSERT_EQ(archetype_tier(r.set, (size_t)r.v.current), ARCHETYPE_TIER_SERVICE_RECOVERY);
	/* It also overrides an archetype already chosen. */
	archetype_tracker_reset(r.t);
	ASSERT_STREQ(say(&r, "we have two kids", 0), "-");
	ASSERT_STREQ(say(&r, "the family tv for the kids sounds good", 0), "family");
	ASSERT_STREQ(say(&r, "actually your billing is a joke, I was overcharged again", 0),
		     "frustrated");
	ASSERT(r.v.changed);
	ASSERT_STREQ(archetype_id(r.set, (size_t)r.v.previous), "family");
	rig_close(&r);
}

TEST(service_recovery_holds_then_gives_way_to_steady_evidence)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "worst service ever, I'm fed up with waiting", 0), "frustrated");
	/* A calm message with strong other evidence (more than the switch margin
	 * ahead) does not end service recovery while the complaint is fresh... */
	ASSERT_STREQ(say(&r,
			 "sorry. I want to switch from crestel if you beat their quote and I "
			 "keep my number",
			 0),
		     "frustrated");
	ASSERT(!r.v.changed);
	ASSERT(archetype_score(r.t, (size_t)archetype_find(r.set, "switcher")) >
	       archetype_score(r.t, (size_t)archetype_find(r.set, "frustrated")) + 3);
	/* ...but once the complaint has faded, sustained evidence wins. */
	ASSERT_STREQ(say(&r, "can you beat the crestel quote if I keep my number?", 0), "switcher");
	ASSERT(r.v.changed);
	ASSERT_STREQ(archetype_id(r.set, (size_t)r.v.previous), "frustrated");
	rig_close(&r);
}

TEST(revised_when_the_evidence_changes_with_hysteresis)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "it's for the family, two kids and a tight budget", 0), "-");
	ASSERT_STREQ(say(&r, "the kids mostly watch cartoons", 0), "family");
	/* One message that puts another archetype ahead, but by less than the
	 * switch margin, does not flip it... */
	ASSERT_STREQ(say(&r, "is there wifi 6, and what's the latency like", 0), "family");
	ASSERT(!r.v.changed);
	ASSERT(archetype_score(r.t, (size_t)archetype_find(r.set, "tech_enthusiast")) >
	       archetype_score(r.t, (size_t)archetype_find(r.set, "family")));
	/* ...sustained evidence does. */
	ASSERT_STREQ(say(&r, "I game a lot: ping, latency, is there wifi 6 and a mesh router?", 0),
		     "tech_enthusiast");
	ASSERT(r.v.changed);
	ASSERT_STREQ(archetype_id(r.set, (size_t)r.v.previous), "family");
	ASSERT(archetype_score(r.t, (size_t)archetype_find(r.set, "tech_enthusiast")) >
	       archetype_score(r.t, (size_t)archetype_find(r.set, "family")));
	rig_close(&r);
}

TEST(negated_cues_do_not_count)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "I'm not in a hurry at all", 0), "-");
	ASSERT_STREQ(say(&r, "take your time, I'm not quick with these things", 0), "-");
	ASSERT_EQ(archetype_score(r.t, (size_t)archetype_find(r.set, "professional")), 0);
	rig_close(&r);
}

TEST(facts_count_as_evidence)
{
	struct rig r;
	unsigned contract = ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_HAS_CONTRACT) |
			    ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_RETURNING);

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "hello again", contract), "-");
	ASSERT_STREQ(say(&r, "I think I need more data", contract), "upgrade_ready");
	archetype_tracker_reset(r.t);
	ASSERT_STREQ(say(&r, "hi", ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_ACCOMPANIED)), "-");
	ASSERT_STREQ(say(&r, "it's for my mum, she needs a simple phone",
			 ARCHETYPE_FACT_BIT(ARCHETYPE_FACT_ACCOMPANIED)),
		     "companion");
	rig_close(&r);
}

TEST(ready_buyer_and_switcher_and_browser)
{
	struct rig r;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_STREQ(say(&r, "I know what I want: the fibre 900", 0), "-");
	ASSERT_STREQ(say(&r, "how do I sign up today?", 0), "ready_buyer");
	archetype_tracker_reset(r.t);
	ASSERT_STREQ(say(&r, "I'm currently with crestel", 0), "-");
	ASSERT_STREQ(say(&r, "is it cheaper than crestel if I keep my number?", 0), "switcher");
	archetype_tracker_reset(r.t);
	ASSERT_STREQ(say(&r, "just looking, thanks", 0), "-");
	ASSERT_STREQ(say(&r, "killing time while my partner is at the counter", 0), "browser");
	rig_close(&r);
}

TEST(observe_rejects_bad_input)
{
	struct rig r;
	struct archetype_verdict v;

	ASSERT_EQ(rig_open(&r), 0);
	ASSERT_EQ(archetype_observe(NULL, NULL, 0, &v), -EINVAL);
	ASSERT_EQ(v.current, -1);
	ASSERT_EQ(archetype_observe(r.t, NULL, 0, NULL), -EINVAL);
	/* No signals at all is a valid message. */
	ASSERT_EQ(archetype_observe(r.t, NULL, 0, &v), 0);
	ASSERT_EQ(v.exchanges, 1);
	{
		struct archetype_tracker *t = (struct archetype_tracker *)1;

		ASSERT_EQ(archetype_tracker_new(NULL, &t), -EINVAL);
		ASSERT(t == NULL);
	}
	rig_close(&r);
}

static const char base[] = "[settings]\n"
			   "default = b\n"
			   "[archetype.a]\n"
			   "name = A\n"
			   "tier = high\n"
			   "signal = closing 4\n"
			   "directive = one\n"
			   "directive = two\n"
			   "directive = three\n"
			   "directive = four\n"
			   "[archetype.b]\n"
			   "name = B\n"
			   "tier = low\n"
			   "phrase = just looking 4\n"
			   "directive = one\n"
			   "directive = two\n"
			   "directive = three\n"
			   "directive = four\n";

static int load_text(const char *text, struct archetype_error *err)
{
	struct archetype_set *set = NULL;
	int rc = archetype_set_load_string("a.conf", text, &set, err);

	if (rc < 0 && set)
		rc = -1000; /* *ret must stay NULL on error */
	archetype_set_free(set);
	return rc;
}

/* base with its first occurrence of from replaced by to */
static int load_edit(const char *from, const char *to, struct archetype_error *err)
{
	char text[2048];
	const char *at = strstr(base, from);

	if (!at)
		return -12345;
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
	return load_text(text, err);
}

TEST(config_errors_name_file_line_and_fix)
{
	struct archetype_error err;

	ASSERT_EQ(load_text(base, &err), 0);
	ASSERT_EQ(load_edit("tier = high", "tier = urgent", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:5: [archetype.a] tier: expected service_recovery, high, "
				 "medium or low, got 'urgent'");
	ASSERT_EQ(load_edit("directive = four\n", "", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:3: [archetype.a] has 3 directive lines; write exactly 4");
	ASSERT_EQ(load_edit("directive = four\n", "directive = four\ndirective = five\n", &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:11: [archetype.a] directive: more than 4 lines");
	ASSERT_EQ(load_edit("signal = closing 4", "signal = closing", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg,
			"a.conf:6: [archetype.a] signal: expected 'signal = <what> <weight>'");
	ASSERT_EQ(load_edit("signal = closing 4", "signal = closing 0", &err), -EINVAL);
	ASSERT_EQ(load_edit("signal = closing 4", "signal = closing 99", &err), -EINVAL);
	ASSERT_EQ(load_edit("signal = closing 4", "signal = anger 4", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:6: [archetype.a] signal: unknown signal 'anger'");
	ASSERT_EQ(load_edit("signal = closing 4", "fact = rich 4", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:6: [archetype.a] fact: unknown fact 'rich'");
	ASSERT_EQ(load_edit("signal = closing 4", "phrase = a, b 4", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:6: [archetype.a] phrase: 'a, b' must be 1 to 8 words");
	ASSERT_EQ(load_edit("signal = closing 4", "mood = happy", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:6: [archetype.a] mood: unknown key");
	ASSERT_EQ(load_edit("signal = closing 4\n", "", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:3: [archetype.a] has no cues");
	ASSERT_EQ(load_edit("name = A\n", "", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:3: [archetype.a] has no 'name ='");
	ASSERT_EQ(load_edit("[archetype.b]", "[archetype.a]", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:11: [archetype.a] is defined twice (first on line 3)");
	ASSERT_EQ(load_edit("[archetype.b]", "[persona.b]", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:11: unknown section [persona.b]");
	ASSERT_EQ(load_edit("default = b", "default = c", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:2: [settings] default: no archetype 'c'");
	ASSERT_EQ(load_edit("default = b\n", "", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "[settings] default is missing");
	ASSERT_EQ(load_edit("tier = low", "tier = service_recovery", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "default: 'b' is a service-recovery archetype");
	ASSERT_EQ(load_edit("default = b", "default = b\ndecay = 2", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:3: [settings] decay: expected a number from 0.05 to 1");
	ASSERT_EQ(load_edit("default = b", "default = b\nmin_exchanges = 3\ndecide_by = 2", &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "decide_by (2) is below min_exchanges (3)");
	ASSERT_EQ(load_edit("default = b", "default = b\nmin_exchanges = 2.5", &err), -EINVAL);
	ASSERT_EQ(load_edit("default = b", "default = b\nspeed = 3", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:3: [settings] speed: unknown key");
	ASSERT_EQ(load_text("name = x\n", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:1: 'name' comes before any [section]");
	ASSERT_EQ(load_text("[settings]\ndefault = b\n", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "no archetypes");
	ASSERT_EQ(load_edit("[archetype.b]", "[archetype.b", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "a.conf:11: expected a section header");
}

TEST(config_file_errors)
{
	struct archetype_set *set = NULL;
	struct archetype_error err;
	char path[512];
	FILE *f;

	ASSERT_EQ(archetype_set_load("config/no-such-archetypes.conf", &set, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "no-such-archetypes.conf: cannot open");
	snprintf(path, sizeof(path), "%s/big.conf", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	for (int i = 0; i < ARCHETYPE_CONF_MAX_BYTES / 10 + 1; i++)
		fputs("#########\n", f);
	fclose(f);
	ASSERT_EQ(archetype_set_load(path, &set, &err), -EFBIG);
	ASSERT(set == NULL);
}
