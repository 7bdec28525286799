/*
 * skills — the skill files (skills/<id>.md) and the manifest that decides,
 * from the turn's signals, which of them the model reads this turn.
 *
 * The manifest (skills/manifest.conf) lists every skill once, in the one
 * global order every prompt uses, each "core" (always loaded), "recovery"
 * (only on the service-recovery path) or with a drop priority 1..99; per
 * signal the skills it adds; the skills a turn with no signal adds; and the
 * service-recovery set: the only skills loaded when the customer complains
 * (or the archetype is in the service-recovery tier), never a core skill. Loading checks that every
 * file exists, is a skill (a "# " header and at least one instruction) within the size limits, that
 * every id named is known, and that every possible turn gets between [limits]
 * min and max skills. docs/skills-and-signals.md describes the format.
 *
 * A loaded set is read-only: any number of threads may select from it.
 */
#ifndef AGENT_SKILLS_H
#define AGENT_SKILLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/state.h"

#define SKILLS_MAX 32		   /* skills in one manifest */
#define SKILLS_MAX_ID 32	   /* bytes in an id, [a-z0-9_] */
#define SKILLS_MAX_FILE_BYTES 8192 /* one skill file */
#define SKILLS_MAX_FILE_LINES 80
#define SKILLS_MAX_LINE 120 /* characters in one line of a skill file (the prompt's line width) */
#define SKILLS_MANIFEST_MAX_BYTES (32 * 1024)
#define SKILLS_MANIFEST_MAX_LINE 256
#define SKILLS_ERROR_MAX 512

struct skills_error {
	char msg[SKILLS_ERROR_MAX];
};

struct skills;

/*
 * Loads the manifest at path and every skill file it names, from the
 * manifest's folder. *ret owns everything (free with skills_free). Errors:
 * -ENOENT/-EACCES/... (manifest or a skill file unreadable), -EFBIG (a file
 * over its size limit), -EINVAL (bad line, unknown section, key, signal or
 * skill id, duplicate, an empty or malformed skill file, bounds that some turn
 * cannot meet), -E2BIG (more than SKILLS_MAX skills), -ENOMEM; err->msg names
 * the file and line and says how to fix it. On error *ret is NULL.
 */
int skills_load(const char *manifest_path, struct skills **ret, struct skills_error *err);
void skills_free(struct skills *s);

/* Skills in global (prompt) order: index 0 comes first in every prompt. */
size_t skills_count(const struct skills *s);
const char *skills_id(const struct skills *s, size_t i);
/* The file's text, ending in a newline; owned by s. */
const char *skills_text(const struct skills *s, size_t i);
size_t skills_text_len(const struct skills *s, size_t i);
unsigned skills_lines(const struct skills *s, size_t i);
bool skills_is_core(const struct skills *s, size_t i);
/* Drop priority (1..99, higher is kept longer); 100 for core skills. */
int skills_priority(const struct skills *s, size_t i);
/* The index of id, or -ENOENT. */
int skills_find(const struct skills *s, const char *id);
/* [limits] min and max. */
unsigned skills_min(const struct skills *s);
unsigned skills_max(const struct skills *s);
/*
 * [budget]: the share (percent) of the full prompt, every skill loaded, that
 * a turn may read when the message arrives in state st; 100 when the manifest
 * sets none for st.
 */
unsigned skills_share(const struct skills *s, enum agent_state st);

/* The archetype is in the service-recovery tier: load only that set. */
#define SKILLS_SELECT_SERVICE_RECOVERY 0x1u

struct skills_selection {
	unsigned n;
	uint8_t idx[SKILLS_MAX]; /* ascending: the global order */
	bool service_recovery;	 /* the exclusive path was taken */
	unsigned share;		 /* [budget] of the state: percent of the full prompt */
	unsigned n_dropped;	 /* optional skills left out to stay within max */
	uint8_t dropped[SKILLS_MAX];
};

/*
 * Picks this turn's skills from a signal mask (SIGNAL_BIT(...) of
 * agent/signals.h) and flags, for a message arriving in state (which sets
 * ret->share; agent/prompt drops optional skills to meet it). A complaint, or
 * SKILLS_SELECT_SERVICE_RECOVERY, selects exactly the service-recovery set. Otherwise: core, plus
 * what each raised signal adds (or the no-signal set), and when that is more than max, the optional
 * skills with the lowest priority (then the latest in the order) are dropped and listed. Returns
 * the count, or -EINVAL.
 */
int skills_select(const struct skills *s, enum agent_state state, uint32_t signal_mask,
		  unsigned flags, struct skills_selection *ret);

/* Is skill i in the selection? */
bool skills_selected(const struct skills_selection *sel, size_t i);

#endif
