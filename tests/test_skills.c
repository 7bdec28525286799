#include "tests/test.h"
#include "agent/signals.h"
#include "agent/skills.h"

#include <errno.h>
#include <stdlib.h>

#define MINI "tests/fixtures/skills/mini/"

/* clang-format off */
static const char *const the_thirteen[] = {
	"core_selling", "discovery", "archetype_adaptation", "four_forces",
	"product_presentation", "objection_handling", "competitive_response", "closing",
	"cross_sell", "promotions", "small_talk", "scope_boundaries",
	"service_recovery",
};

static const char *const selling[] = {
	"core_selling", "product_presentation", "closing", "cross_sell", "promotions",
	"competitive_response",
};
/* clang-format on */

static struct skills *real(void)
{
	struct skills_error err;
	struct skills *s = NULL;

	if (skills_load("skills/manifest.conf", &s, &err) < 0)
		printf("    %s\n", err.msg);
	return s;
}

static int sel_has(const struct skills *s, const struct skills_selection *sel, const char *id)
{
	int i = skills_find(s, id);

	return i >= 0 && skills_selected(sel, (size_t)i);
}

TEST(real_manifest_has_the_thirteen_skills_in_order)
{
	struct skills *s = real();
	unsigned total = 0;

	ASSERT(s);
	ASSERT_EQ(skills_count(s), 13);
	for (size_t i = 0; i < 13; i++) {
		const char *text = skills_text(s, i);

		ASSERT_STREQ(skills_id(s, i), the_thirteen[i]);
		ASSERT(strncmp(text, "# ", 2) == 0);
		ASSERT(text[skills_text_len(s, i) - 1] == '\n');
		ASSERT(skills_lines(s, i) >= 8 && skills_lines(s, i) <= SKILLS_MAX_FILE_LINES);
		total += skills_lines(s, i);
		/* Skills never carry prices: facts come from tools. */
		ASSERT_MSG(!strchr(text, '$') && !strstr(text, "per cent") && !strchr(text, '%'),
			   "%s has a figure", skills_id(s, i));
	}
	printf("    13 skills, %u lines in all\n", total);
	ASSERT(total >= 250 && total <= 400);
	/* Core first, so the cached prefix survives changes of optional skills. */
	for (size_t i = 0; i < 3; i++)
		ASSERT(skills_is_core(s, i));
	for (size_t i = 3; i < 13; i++)
		ASSERT(!skills_is_core(s, i));
	ASSERT_EQ(skills_min(s), 5);
	ASSERT_EQ(skills_max(s), 10);
	ASSERT_EQ(skills_find(s, "nope"), -ENOENT);
	skills_free(s);
}

TEST(discovery_turn_loads_core_and_presentation)
{
	struct skills *s = real();
	struct skills_selection sel;

	ASSERT(s);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, 0, 0, &sel), 5);
	ASSERT(sel_has(s, &sel, "core_selling"));
	ASSERT(sel_has(s, &sel, "discovery"));
	ASSERT(sel_has(s, &sel, "four_forces"));
	ASSERT(sel_has(s, &sel, "product_presentation"));
	ASSERT(!sel_has(s, &sel, "promotions"));
	ASSERT(!sel.service_recovery);
	skills_free(s);
}

TEST(each_signal_adds_its_skills)
{
	struct skills *s = real();
	struct skills_selection sel;

	ASSERT(s);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST), 0, &sel),
		  6);
	ASSERT(sel_has(s, &sel, "product_presentation") && sel_has(s, &sel, "cross_sell") &&
	       sel_has(s, &sel, "promotions"));
	ASSERT(!sel_has(s, &sel, "four_forces"));
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_OBJECTION), 0, &sel), 5);
	ASSERT(sel_has(s, &sel, "objection_handling") && sel_has(s, &sel, "four_forces"));
	ASSERT(!sel_has(s, &sel, "promotions")); /* objection rules alone */
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_COMPARISON), 0, &sel), 6);
	ASSERT(sel_has(s, &sel, "competitive_response") && sel_has(s, &sel, "four_forces"));
	ASSERT(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_CLOSING), 0, &sel) >= 5);
	ASSERT(sel_has(s, &sel, "closing"));
	ASSERT(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_SMALL_TALK), 0, &sel) >= 5);
	ASSERT(sel_has(s, &sel, "small_talk"));
	ASSERT(!sel_has(s, &sel, "product_presentation"));
	ASSERT(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_SCOPE_BOUNDARY), 0, &sel) >= 5);
	ASSERT(sel_has(s, &sel, "scope_boundaries"));
	skills_free(s);
}

TEST(complaint_loads_only_service_recovery)
{
	struct skills *s = real();
	struct skills_selection sel;

	ASSERT(s);
	/* Whatever else the message says. */
	for (uint32_t mask = 0; mask < (1u << SIGNAL_COUNT); mask++) {
		if (!(mask & SIGNAL_BIT(SIGNAL_COMPLAINT)))
			continue;
		ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, mask, 0, &sel), 1);
		ASSERT(sel.service_recovery);
		ASSERT(sel_has(s, &sel, "service_recovery"));
		for (size_t k = 0; k < sizeof(selling) / sizeof(selling[0]); k++)
			ASSERT(!sel_has(s, &sel, selling[k]));
	}
	/* The archetype's service-recovery tier takes the same path on a calm message. */
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST),
				SKILLS_SELECT_SERVICE_RECOVERY, &sel),
		  1);
	ASSERT(sel_has(s, &sel, "service_recovery"));
	skills_free(s);
}

TEST(every_turn_has_five_to_ten_skills_in_global_order)
{
	struct skills *s = real();
	struct skills_selection sel;

	ASSERT(s);
	for (uint32_t mask = 0; mask < (1u << SIGNAL_COUNT); mask++) {
		int n = skills_select(s, AGENT_STATE_IDLE, mask, 0, &sel);

		if (mask & SIGNAL_BIT(SIGNAL_COMPLAINT))
			continue;
		ASSERT_MSG(n >= 5 && n <= 10, "mask %#x: %d skills", mask, n);
		ASSERT_EQ(sel.n, (unsigned)n);
		for (unsigned i = 1; i < sel.n; i++)
			ASSERT(sel.idx[i] > sel.idx[i - 1]);
		for (size_t i = 0; i < 3; i++)
			ASSERT(skills_selected(&sel, i)); /* core always */
		ASSERT(!sel_has(s, &sel, "service_recovery"));
	}
	skills_free(s);
}

TEST(over_max_drops_the_lowest_priority_and_says_so)
{
	struct skills *s = real();
	struct skills_selection sel;
	uint32_t all = (1u << SIGNAL_COUNT) - 1 - SIGNAL_BIT(SIGNAL_COMPLAINT);

	ASSERT(s);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, all, 0, &sel), 10);
	ASSERT_EQ(sel.n_dropped, 2);
	ASSERT_STREQ(skills_id(s, sel.dropped[0]), "small_talk");
	ASSERT_STREQ(skills_id(s, sel.dropped[1]), "promotions");
	ASSERT(sel_has(s, &sel, "closing") && sel_has(s, &sel, "scope_boundaries"));
	skills_free(s);
}

TEST(each_state_carries_its_share_of_the_full_prompt)
{
	struct skills *s = real();
	struct skills_selection sel;

	ASSERT(s);
	/* skills/manifest.conf [budget]: discovery at most 55%, product talk 70%. */
	ASSERT_EQ(skills_share(s, AGENT_STATE_GREETING), 55);
	ASSERT_EQ(skills_share(s, AGENT_STATE_DISCOVERY), 55);
	ASSERT_EQ(skills_share(s, AGENT_STATE_PRESENTING), 70);
	ASSERT_EQ(skills_share(s, AGENT_STATE_OBJECTION), 70);
	ASSERT_EQ(skills_share(s, AGENT_STATE_CLOSING), 70);
	ASSERT_EQ(skills_share(s, AGENT_STATE_IDLE), 100); /* not listed: no limit */
	ASSERT_EQ(skills_share(s, (enum agent_state)99), 100);
	ASSERT(skills_select(s, AGENT_STATE_DISCOVERY, SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST), 0,
			     &sel) > 0);
	ASSERT_EQ(sel.share, 55);
	/* The selection itself is the same in every state; the prompt applies the share. */
	ASSERT_EQ(sel.n, 6);
	ASSERT(skills_select(s, AGENT_STATE_CLOSING, SIGNAL_BIT(SIGNAL_CLOSING), 0, &sel) > 0);
	ASSERT_EQ(sel.share, 70);
	/* The service-recovery path has its own set, never trimmed. */
	ASSERT_EQ(skills_select(s, AGENT_STATE_DISCOVERY, SIGNAL_BIT(SIGNAL_COMPLAINT), 0, &sel),
		  1);
	ASSERT_EQ(sel.share, 100);
	skills_free(s);
}

TEST(select_rejects_bad_input)
{
	struct skills *s = real();
	struct skills_selection sel;

	ASSERT(s);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, 1u << SIGNAL_COUNT, 0, &sel), -EINVAL);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, 0, 0x8, &sel), -EINVAL);
	ASSERT_EQ(skills_select(NULL, AGENT_STATE_IDLE, 0, 0, &sel), -EINVAL);
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, 0, 0, NULL), -EINVAL);
	skills_free(s);
}

TEST(mini_manifest_loads_and_tidies_files)
{
	struct skills_error err;
	struct skills *s = NULL;
	struct skills_selection sel;

	ASSERT_EQ(skills_load(MINI "ok.conf", &s, &err), 0);
	ASSERT_EQ(skills_count(s), 6);
	ASSERT_EQ(skills_priority(s, 0), 100);
	ASSERT_EQ(skills_priority(s, 2), 50);
	/* Trailing blank lines and CRs go. */
	ASSERT_STREQ(skills_text(s, 3), "# Sell Y — closing\n- When they say yes, close.\n");
	ASSERT_EQ(skills_lines(s, 3), 2);
	ASSERT_STREQ(skills_text(s, 4),
		     "# Sell Z — objections\n- When they object, acknowledge.\n");
	/* product_interest adds three: five is over max 4, so sell_z (30) goes. */
	ASSERT_EQ(skills_select(s, AGENT_STATE_IDLE, SIGNAL_BIT(SIGNAL_PRODUCT_INTEREST), 0, &sel),
		  4);
	ASSERT_EQ(sel.n_dropped, 1);
	ASSERT_STREQ(skills_id(s, sel.dropped[0]), "sell_z");
	skills_free(s);
}

struct bad {
	const char *file;
	int rc;
	const char *msg;
};

TEST(broken_manifests_name_file_line_and_fix)
{
	static const struct bad cases[] = {
	    {"unknown_skill", -EINVAL,
	     "unknown_skill.conf:23: [signal.objection] add: unknown skill 'sell_q'"},
	    {"unknown_skill_in_recovery", -EINVAL,
	     "unknown_skill_in_recovery.conf:38: [service_recovery] skill: unknown skill "
	     "'calm_down'"},
	    {"missing_file", -ENOENT, "missing_file.conf:13: skill 'ghost': "},
	    {"missing_file", -ENOENT, "ghost.md: cannot open: No such file or directory"},
	    {"empty_file", -EINVAL, "empty_file.conf:13: skill 'empty': "},
	    {"empty_file", -EINVAL, "empty.md: the skill file is empty"},
	    {"header_only", -EINVAL, "header_only.md: the skill has a header but no instructions"},
	    {"no_header", -EINVAL, "no_header.md:1: expected a one-line header"},
	    {"long_line", -EINVAL, "long_line.md:2: line longer than 120 characters"},
	    {"bad_line", -EINVAL, "bad_line.conf:29: expected 'key = value', got 'add sell_y'"},
	    {"unknown_section", -EINVAL,
	     "unknown_section.conf:29: unknown section [signals.closing]"},
	    {"unknown_signal", -EINVAL, "unknown_signal.conf:29: [signal.anger]: unknown signal"},
	    {"duplicate_skill", -EINVAL,
	     "duplicate_skill.conf:12: [skills] 'sell_x' is listed twice (first on line 9)"},
	    {"bad_priority", -EINVAL,
	     "bad_priority.conf:9: [skills] sell_x: expected 'core', 'recovery' or a drop "
	     "priority from 1 to 99, got 'high'"},
	    {"bad_id", -EINVAL, "bad_id.conf:9: [skills] 'Sell-X' is not a skill id"},
	    {"under_min", -EINVAL,
	     "under_min.conf:23: a turn with only objection would load 3 skills, fewer than "
	     "[limits] min 4"},
	    {"min_over_max", -EINVAL, "min_over_max.conf: [limits] min 5 is above max 4"},
	    {"core_over_max", -EINVAL, "2 core skills, more than [limits] max 1"},
	    {"core_in_recovery", -EINVAL,
	     "core_in_recovery.conf:39: [service_recovery] skill 'core_a' is core (it sells)"},
	    {"recovery_added", -EINVAL,
	     "recovery_added.conf:30: [signal.closing] adds 'calm', which is for the "
	     "service-recovery path only"},
	    {"unreachable", -EINVAL, "unreachable.conf:13: skill 'spare' is never loaded"},
	    {"trigger_with_section", -EINVAL,
	     "trigger_with_section.conf:35: [signal.complaint] is never used"},
	    {"no_recovery", -EINVAL, "[service_recovery] needs at least one 'skill ='"},
	    {"bad_share", -EINVAL,
	     "bad_share.conf:8: [budget] presenting: expected a share of the full prompt from "
	     "1% to 100%, got '170%'"},
	    {"unknown_state", -EINVAL, "unknown_state.conf:7: [budget] browsing: unknown state"},
	    {"duplicate_share", -EINVAL,
	     "duplicate_share.conf:8: [budget] discovery is set twice (first on line 7)"},
	    {"signal_without_skills", -EINVAL,
	     "signal 'small_talk' adds no skill; add a [signal.small_talk] section"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct skills_error err = {{0}};
		struct skills *s = (struct skills *)1;
		char path[256];
		int rc;

		snprintf(path, sizeof(path), MINI "%s.conf", cases[i].file);
		rc = skills_load(path, &s, &err);
		ASSERT_MSG(rc == cases[i].rc, "%s: rc %d, want %d (%s)", cases[i].file, rc,
			   cases[i].rc, err.msg);
		ASSERT_MSG(s == NULL, "%s: *ret set on error", cases[i].file);
		ASSERT_MSG(strstr(err.msg, cases[i].msg), "%s: got \"%s\", want \"%s\"",
			   cases[i].file, err.msg, cases[i].msg);
	}
}

TEST(oversized_files_are_refused)
{
	struct skills_error err;
	struct skills *s = NULL;
	char path[512], *big;
	FILE *f;

	/* A skill file over the byte limit. */
	snprintf(path, sizeof(path), "%s/huge.md", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fputs("# Huge — too big\n", f);
	for (int i = 0; i < SKILLS_MAX_FILE_BYTES / 40; i++)
		fputs("- When anything happens, say something useful.\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/m.conf", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fputs("[skills]\nhuge = core\n", f);
	fclose(f);
	ASSERT_EQ(skills_load(path, &s, &err), -EFBIG);
	ASSERT_CONTAINS(err.msg, "m.conf:2: skill 'huge': ");
	ASSERT_CONTAINS(err.msg, "over the 8192-byte limit");
	/* A skill file over the line limit. */
	snprintf(path, sizeof(path), "%s/long.md", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fputs("# Long — too many lines\n", f);
	for (int i = 0; i < SKILLS_MAX_FILE_LINES + 1; i++)
		fputs("- x\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/m.conf", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fputs("[skills]\nlong = core\n", f);
	fclose(f);
	ASSERT_EQ(skills_load(path, &s, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "over the 80-line limit");
	/* The manifest itself. */
	big = calloc(1, SKILLS_MANIFEST_MAX_BYTES + 2);
	ASSERT(big);
	memset(big, '#', SKILLS_MANIFEST_MAX_BYTES + 1);
	f = fopen(path, "w");
	ASSERT(f);
	fputs(big, f);
	fclose(f);
	free(big);
	ASSERT_EQ(skills_load(path, &s, &err), -EFBIG);
	ASSERT_CONTAINS(err.msg, "m.conf: ");
	ASSERT(s == NULL);
	ASSERT_EQ(skills_load("tests/fixtures/skills/none/manifest.conf", &s, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "manifest.conf: cannot open");
}
