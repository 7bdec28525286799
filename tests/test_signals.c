#include "tests/test.h"
#include "agent/signals.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static struct signals_detector *real_detector(void)
{
	struct signals_lexicon *lex = NULL;
	struct signals_detector *d = NULL;
	struct signals_error err;

	if (signals_lexicon_new(&lex) < 0)
		return NULL;
	signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "tv-family-plus", "family tv");
	signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "tv-family-plus", "family plus");
	signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "tv-family-max", "family tv max");
	signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "fibre-500", "fibre 500");
	signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "mobile-unlimited", "unlimited plan");
	signals_lexicon_add(lex, SIGNAL_TERM_COMPETITOR, "crestel", "crestel");
	signals_lexicon_add(lex, SIGNAL_TERM_COMPETITOR, "streammax", "streammax");
	signals_lexicon_add(lex, SIGNAL_TERM_COMPETITOR, "streammax", "stream max");
	signals_lexicon_add(lex, SIGNAL_TERM_TAG, "kids", "kids");
	if (signals_detector_new("config/signals.conf", lex, &d, &err) < 0)
		printf("    signals.conf: %s\n", err.msg);
	signals_lexicon_free(lex);
	return d;
}

static int detect(const struct signals_detector *d, const char *text,
		  const struct signals_context *ctx, struct signals_result *r)
{
	return signals_detect(d, text, strlen(text), ctx, r);
}

#define HAS(r, s) (((r).mask & SIGNAL_BIT(s)) != 0)

TEST(names_round_trip)
{
	enum signal s;

	for (int i = 0; i < SIGNAL_COUNT; i++) {
		ASSERT_EQ(signals_from_name(signals_name((enum signal)i), &s), 0);
		ASSERT_EQ(s, i);
	}
	ASSERT(signals_name(SIGNAL_COUNT) == NULL);
	ASSERT_EQ(signals_from_name("anger", &s), -EINVAL);
}

TEST(real_config_has_cues_for_every_signal)
{
	struct signals_detector *d = real_detector();

	ASSERT(d);
	for (int s = 0; s < SIGNAL_COUNT; s++)
		ASSERT_MSG(signals_cue_count(d, (enum signal)s) >= 5, "%s has %zu cues",
			   signals_name((enum signal)s), signals_cue_count(d, (enum signal)s));
	signals_detector_free(d);
}

TEST(product_interest_with_product_ids_and_cues)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "Can you tell me about the Family TV plan?", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_PRODUCT_INTEREST));
	ASSERT(signals_has_evidence(&r, SIGNAL_PRODUCT_INTEREST, "tv-family-plus"));
	ASSERT(signals_has_evidence(&r, SIGNAL_PRODUCT_INTEREST, "tell me about"));
	ASSERT_EQ(r.n_products, 1);
	ASSERT_STREQ(r.products[0], "tv-family-plus");
	/* The longer product name wins over the shorter one inside it. */
	ASSERT_EQ(detect(d, "what about family tv max", NULL, &r), 0);
	ASSERT_EQ(r.n_products, 1);
	ASSERT_STREQ(r.products[0], "tv-family-max");
	/* Two phrases for one id count once. */
	ASSERT_EQ(detect(d, "family plus or family tv, same thing?", NULL, &r), 0);
	ASSERT_EQ(r.n_products, 1);
	/* Negative: nothing about products. */
	ASSERT_EQ(detect(d, "my son starts school next week", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_PRODUCT_INTEREST));
	ASSERT_EQ(r.n_products, 0);
	signals_detector_free(d);
}

TEST(objection_with_cues)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "Hmm, that's way too expensive for us.", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	ASSERT(signals_has_evidence(&r, SIGNAL_OBJECTION, "too expensive"));
	/* "expensive" inside "too expensive" gives way to it. */
	ASSERT(!signals_has_evidence(&r, SIGNAL_OBJECTION, "expensive"));
	ASSERT_EQ(detect(d, "I'll think about it", NULL, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_OBJECTION, "ill think about it"));
	ASSERT_EQ(detect(d, "we're locked in with someone until spring", NULL, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_OBJECTION, "locked in"));
	ASSERT_EQ(detect(d, "I'm not sure", NULL, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_OBJECTION, "not sure"));
	ASSERT_EQ(detect(d, "that sounds great for the kids", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_OBJECTION));
	signals_detector_free(d);
}

TEST(comparison_with_competitor_ids)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "It's cheaper at Crestel though", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_COMPARISON));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "crestel"));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "cheaper at"));
	ASSERT_EQ(r.n_competitors, 1);
	ASSERT_STREQ(r.competitors[0], "crestel");
	/* A competitor name alone is comparison shopping. */
	ASSERT_EQ(detect(d, "I already pay for Stream Max", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_COMPARISON));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "streammax"));
	ASSERT_EQ(detect(d, "family tv vs streammax?", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_COMPARISON) && HAS(r, SIGNAL_PRODUCT_INTEREST));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "vs"));
	/* Negative: "crest" is not Crestel, "versus" needs a whole word. */
	ASSERT_EQ(detect(d, "the crest on the logo, and conversuses", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_COMPARISON));
	signals_detector_free(d);
}

TEST(closing_and_after_offer_cues)
{
	struct signals_detector *d = real_detector();
	struct signals_context discovery = {.state = AGENT_STATE_DISCOVERY};
	struct signals_context offer = {.state = AGENT_STATE_PRESENTING,
					.focus_product = "tv-family-plus"};
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "OK how do I sign up?", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_CLOSING));
	ASSERT(signals_has_evidence(&r, SIGNAL_CLOSING, "sign up"));
	ASSERT_EQ(detect(d, "When can it be installed?", NULL, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_CLOSING, "when can it be installed"));
	/* Typographic apostrophe and no apostrophe match the same cue. */
	ASSERT_EQ(detect(d, "I\xe2\x80\x99ll take it", NULL, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_CLOSING, "ill take it"));
	ASSERT_EQ(detect(d, "ill take it", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_CLOSING));
	/* "yes" is a closing cue only with an offer on the table. */
	ASSERT_EQ(detect(d, "yes", &discovery, &r), 0);
	ASSERT(!HAS(r, SIGNAL_CLOSING));
	ASSERT_EQ(detect(d, "yes, sounds good", &offer, &r), 0);
	ASSERT(HAS(r, SIGNAL_CLOSING));
	ASSERT(signals_has_evidence(&r, SIGNAL_CLOSING, "sounds good"));
	ASSERT(signals_has_evidence(&r, SIGNAL_CLOSING, "tv-family-plus"));
	/* A bare yes next to a doubt or a comparison is not a yes. */
	ASSERT_EQ(detect(d, "sounds good but I need to ask my wife first", &offer, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	ASSERT(!HAS(r, SIGNAL_CLOSING));
	ASSERT_EQ(detect(d, "ok what about something cheaper", &offer, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	ASSERT(!HAS(r, SIGNAL_CLOSING));
	ASSERT_EQ(detect(d, "yes, we pay for Crestel at the moment", &offer, &r), 0);
	ASSERT(HAS(r, SIGNAL_COMPARISON));
	ASSERT(!HAS(r, SIGNAL_CLOSING));
	/* ... but a real closing cue stands, and a negated doubt does not count */
	ASSERT_EQ(detect(d, "sign me up, though it is expensive", &offer, &r), 0);
	ASSERT(HAS(r, SIGNAL_CLOSING) && HAS(r, SIGNAL_OBJECTION));
	ASSERT_EQ(detect(d, "ok, not too expensive", &offer, &r), 0);
	ASSERT(HAS(r, SIGNAL_CLOSING));
	ASSERT(!HAS(r, SIGNAL_OBJECTION));
	/* The focus product gives "how much is it" its product. */
	ASSERT_EQ(detect(d, "and how much", &offer, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_PRODUCT_INTEREST, "tv-family-plus"));
	ASSERT_EQ(detect(d, "and how much", &discovery, &r), 0);
	ASSERT(!HAS(r, SIGNAL_PRODUCT_INTEREST));
	signals_detector_free(d);
}

TEST(small_talk)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "Good morning! How are you?", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_SMALL_TALK));
	ASSERT(signals_has_evidence(&r, SIGNAL_SMALL_TALK, "good morning"));
	ASSERT(signals_has_evidence(&r, SIGNAL_SMALL_TALK, "how are you"));
	ASSERT_EQ(r.mask, SIGNAL_BIT(SIGNAL_SMALL_TALK));
	/* "hi" is a word, not the start of "this" or "high". */
	ASSERT_EQ(detect(d, "this is high up", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_SMALL_TALK));
	/* "no thanks" is an objection, not a thank-you. */
	ASSERT_EQ(detect(d, "no thanks", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	ASSERT(!HAS(r, SIGNAL_SMALL_TALK));
	signals_detector_free(d);
}

TEST(complaint)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "This is RIDICULOUS, my internet keeps dropping every night", NULL, &r),
		  0);
	ASSERT(HAS(r, SIGNAL_COMPLAINT));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPLAINT, "ridiculous"));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPLAINT, "keeps dropping"));
	ASSERT_EQ(detect(d, "worst service ever", NULL, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPLAINT, "worst"));
	/* Anger at a competitor, in the same clause, is a reason to switch. */
	ASSERT_EQ(detect(d, "Crestel is terrible, my current provider is the worst", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_COMPLAINT));
	ASSERT(HAS(r, SIGNAL_COMPARISON));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "terrible"));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "worst"));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "crestel"));
	ASSERT_EQ(detect(d, "Crestel was cheaper. Your service is terrible", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_COMPLAINT));
	/* Negative: a broken old phone is a sale, not a complaint. */
	ASSERT_EQ(detect(d, "my old phone is broken, I need a new phone", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_COMPLAINT));
	ASSERT(HAS(r, SIGNAL_PRODUCT_INTEREST));
	signals_detector_free(d);
}

TEST(scope_boundary)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "Can you look at my bill?", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_SCOPE_BOUNDARY));
	ASSERT(signals_has_evidence(&r, SIGNAL_SCOPE_BOUNDARY, "my bill"));
	ASSERT_EQ(detect(d, "how much data do I have left this month", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_SCOPE_BOUNDARY));
	/* "how much" inside the longer scope cue does not raise product interest. */
	ASSERT(!HAS(r, SIGNAL_PRODUCT_INTEREST));
	ASSERT_EQ(detect(d, "what do the plans include", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_SCOPE_BOUNDARY));
	signals_detector_free(d);
}

TEST(negation_cancels_a_cue_in_the_same_clause)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "it's not too expensive actually", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_OBJECTION));
	ASSERT_EQ(r.n_negated, 1);
	ASSERT_STREQ(r.negated[0], "too expensive");
	ASSERT_EQ(detect(d, "I don't think it's too expensive", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_OBJECTION));
	ASSERT_EQ(detect(d, "honestly it is not terrible", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_COMPLAINT));
	ASSERT_EQ(detect(d, "we don't want the family tv", NULL, &r), 0);
	ASSERT(!HAS(r, SIGNAL_PRODUCT_INTEREST));
	ASSERT(HAS(r, SIGNAL_OBJECTION)); /* "don't want" */
	ASSERT_EQ(r.n_products, 0);
	/* A comma ends the negation's reach: "no, too expensive" objects. */
	ASSERT_EQ(detect(d, "No, too expensive.", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	/* So does "but". */
	ASSERT_EQ(detect(d, "not bad but too expensive", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	/* Beyond the window (3 words) a negation no longer applies. */
	ASSERT_EQ(detect(d, "not what I said earlier: it's too expensive", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	ASSERT_EQ(detect(d, "never said it was really far too expensive", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_OBJECTION));
	/* A competitor named under a negation is still comparison shopping. */
	ASSERT_EQ(detect(d, "I'm not with crestel any more", NULL, &r), 0);
	ASSERT(HAS(r, SIGNAL_COMPARISON));
	signals_detector_free(d);
}

TEST(phrases_do_not_match_across_clauses)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "we got locked. in the end it was fine", NULL, &r), 0);
	ASSERT(!signals_has_evidence(&r, SIGNAL_OBJECTION, "locked in"));
	ASSERT_EQ(detect(d, "we got LOCKED   IN", NULL, &r), 0);
	ASSERT(signals_has_evidence(&r, SIGNAL_OBJECTION, "locked in"));
	signals_detector_free(d);
}

TEST(several_signals_in_one_message)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d,
			 "Hi! Crestel is cheaper, but if you match the price I'll take the "
			 "fibre 500 today",
			 NULL, &r),
		  0);
	ASSERT(HAS(r, SIGNAL_SMALL_TALK));
	ASSERT(HAS(r, SIGNAL_COMPARISON));
	ASSERT(HAS(r, SIGNAL_CLOSING));
	ASSERT(HAS(r, SIGNAL_PRODUCT_INTEREST));
	ASSERT(signals_has_evidence(&r, SIGNAL_PRODUCT_INTEREST, "fibre-500"));
	ASSERT(signals_has_evidence(&r, SIGNAL_COMPARISON, "match the price"));
	ASSERT(!HAS(r, SIGNAL_COMPLAINT));
	signals_detector_free(d);
}

TEST(tags_are_reported_without_raising_a_signal)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;

	ASSERT(d);
	ASSERT_EQ(detect(d, "the kids", NULL, &r), 0);
	ASSERT_EQ(r.mask, 0);
	ASSERT_EQ(r.n_tags, 1);
	ASSERT_STREQ(r.tags[0], "kids");
	ASSERT_EQ(detect(d, "no kids", NULL, &r), 0);
	ASSERT_EQ(r.n_tags, 0);
	signals_detector_free(d);
}

TEST(empty_and_oversized_messages)
{
	struct signals_detector *d = real_detector();
	struct signals_result r;
	char *big;

	ASSERT(d);
	ASSERT_EQ(signals_detect(d, "", 0, NULL, &r), 0);
	ASSERT_EQ(r.mask, 0);
	ASSERT_EQ(signals_detect(d, "?!...", 5, NULL, &r), 0);
	ASSERT_EQ(r.n_words, 0);
	big = malloc(SIGNALS_MAX_TEXT + 2);
	ASSERT(big);
	memset(big, 'a', SIGNALS_MAX_TEXT + 1);
	ASSERT_EQ(signals_detect(d, big, SIGNALS_MAX_TEXT + 1, NULL, &r), -E2BIG);
	/* Too many words within the byte limit: refused, not cut. */
	for (int i = 0; i < SIGNALS_MAX_TEXT; i++)
		big[i] = i % 2 ? ' ' : 'a';
	ASSERT_EQ(signals_detect(d, big, SIGNALS_MAX_TEXT, NULL, &r), -E2BIG);
	/* Binary garbage is words or separators, never a crash. */
	for (int i = 0; i < 1000; i++)
		big[i] = (char)(i * 37 + 11);
	ASSERT_EQ(signals_detect(d, big, 1000, NULL, &r), 0);
	free(big);
	ASSERT_EQ(signals_detect(NULL, "x", 1, NULL, &r), -EINVAL);
	ASSERT_EQ(signals_detect(d, NULL, 3, NULL, &r), -EINVAL);
	ASSERT_EQ(signals_detect(d, "x", 1, NULL, NULL), -EINVAL);
	signals_detector_free(d);
}

TEST(normalize)
{
	char out[128];

	ASSERT_EQ(signals_normalize("Don\xe2\x80\x99t STOP\xe2\x80\x94now!", 19, out, sizeof(out)),
		  (int)strlen("dont stop , now"));
	ASSERT_STREQ(out, "dont stop , now");
	ASSERT(signals_normalize("  It's 3.5 GB,  1,000 texts ", 28, out, sizeof(out)) > 0);
	ASSERT_STREQ(out, "its 3.5 gb , 1000 texts");
	ASSERT(signals_normalize("caf\xc3\xa9 wi-fi", 11, out, sizeof(out)) > 0);
	ASSERT_STREQ(out, "caf\xc3\xa9 wi fi");
	ASSERT_EQ(signals_normalize("a.b.c.d", 7, out, 6), -E2BIG);
}

TEST(lexicon_rejects_bad_terms)
{
	struct signals_lexicon *lex;
	char longp[SIGNALS_MAX_PHRASE + 10];

	ASSERT_EQ(signals_lexicon_new(&lex), 0);
	ASSERT_EQ(signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "p", "family tv"), 0);
	ASSERT_EQ(signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "p", "Family  TV"), 0);
	ASSERT_EQ(signals_lexicon_count(lex), 1); /* the same term again counts once */
	ASSERT_EQ(signals_lexicon_add(lex, (enum signal_term)9, "p", "x"), -EINVAL);
	ASSERT_EQ(signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "", "x"), -EINVAL);
	ASSERT_EQ(signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "p", "  ... "), -EINVAL);
	ASSERT_EQ(signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "p", "a b c d e f g h i"), -EINVAL);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	ASSERT_EQ(signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, "p", longp), -E2BIG);
	ASSERT_EQ(signals_lexicon_add(lex, SIGNAL_TERM_PRODUCT, longp, "x"), -EINVAL);
	ASSERT_EQ(signals_lexicon_count(lex), 1);
	signals_lexicon_free(lex);
}

static const char minimal[] =
    "[product_interest]\ncue = x1\n[objection]\ncue = x2\n"
    "[comparison]\ncue = x3\n[closing]\ncue = x4\n[small_talk]\ncue = x5\n"
    "[complaint]\ncue = x6\n[scope_boundary]\ncue = x7\n";

static int load_err(const char *text, struct signals_error *err)
{
	struct signals_detector *d = NULL;
	int rc = signals_detector_new_string("t.conf", text, NULL, &d, err);

	signals_detector_free(d);
	return rc;
}

TEST(config_errors_name_file_and_line)
{
	struct signals_error err;
	char text[2048];

	ASSERT_EQ(load_err(minimal, &err), 0);
	snprintf(text, sizeof(text), "%s[anger]\ncue = grr\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:15: unknown section [anger]");
	snprintf(text, sizeof(text), "%s[objection]\ncue = y\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:15: section [objection] appears twice (first on line 3)");
	snprintf(text, sizeof(text), "%scues = y\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:15: [scope_boundary] cues: unknown key");
	snprintf(text, sizeof(text), "%scue = x7\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:15: [scope_boundary] 'x7' is already a cue on line 14");
	snprintf(text, sizeof(text), "%scue = too, expensive\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg,
			"t.conf:15: [scope_boundary] cue: 'too, expensive' has punctuation");
	snprintf(text, sizeof(text), "%scue = ?!\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:15: [scope_boundary] cue: the phrase has no words");
	snprintf(text, sizeof(text), "%scue = a b c d e f g h i\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "longer than 8 words");
	snprintf(text, sizeof(text), "%s[negation]\nword = not really\n", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:16: [negation] word: expected one word");
	snprintf(text, sizeof(text), "[settings]\nnegation_window = many\n%s", minimal);
	ASSERT_EQ(load_err(text, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:2: [settings] negation_window: expected a whole number");
	ASSERT_EQ(load_err("cue = x\n", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:1: 'cue' comes before any [section]");
	ASSERT_EQ(load_err("[objection]\njust words\n", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:2: expected 'key = value'");
	ASSERT_EQ(load_err("[objection\n", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:1: expected a section header");
	/* Every signal needs cues. */
	ASSERT_EQ(load_err("[objection]\ncue = x\n", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "signal 'product_interest' has no cues");
}

TEST(config_file_limits)
{
	struct signals_detector *d = NULL;
	struct signals_error err;
	char path[512], *big;
	FILE *f;

	ASSERT_EQ(signals_detector_new("tests/fixtures/skills/no-such.conf", NULL, &d, &err),
		  -ENOENT);
	ASSERT_CONTAINS(err.msg, "no-such.conf: cannot open");
	snprintf(path, sizeof(path), "%s/big.conf", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	big = calloc(1, SIGNALS_CONF_MAX_BYTES + 2);
	ASSERT(big);
	memset(big, '#', SIGNALS_CONF_MAX_BYTES + 1);
	fputs(big, f);
	fclose(f);
	free(big);
	ASSERT_EQ(signals_detector_new(path, NULL, &d, &err), -EFBIG);
	ASSERT_CONTAINS(err.msg, "big.conf: larger than");
	ASSERT(d == NULL);
	/* A line over the limit names its line. */
	big = calloc(1, 2000);
	ASSERT(big);
	snprintf(big, 2000, "%s# ", minimal);
	memset(big + strlen(big), 'x', SIGNALS_CONF_MAX_LINE);
	ASSERT_EQ(load_err(big, &err), -EINVAL);
	free(big);
	ASSERT_CONTAINS(err.msg, "t.conf:15: line longer than");
}

TEST(detection_is_fast)
{
	struct signals_detector *d = real_detector();
	static const char *const msgs[] = {
	    "Hi there, we've got three kids and they fight over the TV every evening",
	    "It's cheaper at Crestel and I'm locked in until March, not sure it's worth it",
	    "how much is the family tv plan and when can it be installed?",
	    "This is ridiculous, my internet keeps dropping and nobody called me back",
	};
	struct signals_result r;
	struct timespec a, b;
	const int rounds = 20000;
	double ns;

	ASSERT(d);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < rounds; i++)
		signals_detect(d, msgs[i % 4], strlen(msgs[i % 4]), NULL, &r);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / rounds;
	printf("    signals_detect: %.0f ns per message (mean over %d)\n", ns, rounds);
	/* The whole deterministic turn has 1 ms; detection must be a small part of it. */
	ASSERT_MSG(ns < 100000, "%.0f ns per message", ns);
	signals_detector_free(d);
}
