#include "agent/skills.h"
#include "agent/conf_lines.h"
#include "agent/signals.h"
#include "agent/state.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PRIORITY_CORE 100
#define PRIORITY_RECOVERY 0
#define MAX_ENTRIES 512

struct skill {
	char id[SKILLS_MAX_ID];
	char *text;
	size_t len;
	unsigned lines;
	int priority; /* PRIORITY_CORE, PRIORITY_RECOVERY or 1..99 */
	int line;     /* in the manifest */
};

struct skills {
	struct skill sk[SKILLS_MAX];
	size_t n;
	unsigned min, max;
	uint32_t core, no_signal, recovery;
	uint32_t adds[SIGNAL_COUNT];
	uint32_t triggers;		  /* SIGNAL_BIT()s that take the service-recovery path */
	uint8_t share[AGENT_STATE_COUNT]; /* [budget]: percent of the full prompt */
};

static int fail(struct skills_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct skills_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

void skills_free(struct skills *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->sk[i].text);
	free(s);
}

size_t skills_count(const struct skills *s)
{
	return s ? s->n : 0;
}

const char *skills_id(const struct skills *s, size_t i)
{
	return s && i < s->n ? s->sk[i].id : NULL;
}

const char *skills_text(const struct skills *s, size_t i)
{
	return s && i < s->n ? s->sk[i].text : NULL;
}

size_t skills_text_len(const struct skills *s, size_t i)
{
	return s && i < s->n ? s->sk[i].len : 0;
}

unsigned skills_lines(const struct skills *s, size_t i)
{
	return s && i < s->n ? s->sk[i].lines : 0;
}

bool skills_is_core(const struct skills *s, size_t i)
{
	return s && i < s->n && s->sk[i].priority == PRIORITY_CORE;
}

int skills_priority(const struct skills *s, size_t i)
{
	return s && i < s->n ? s->sk[i].priority : -EINVAL;
}

unsigned skills_min(const struct skills *s)
{
	return s ? s->min : 0;
}

unsigned skills_max(const struct skills *s)
{
	return s ? s->max : 0;
}

unsigned skills_share(const struct skills *s, enum agent_state st)
{
	return s && (unsigned)st < AGENT_STATE_COUNT ? s->share[st] : 100;
}

int skills_find(const struct skills *s, const char *id)
{
	if (!s || !id)
		return -EINVAL;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->sk[i].id, id) == 0)
			return (int)i;
	return -ENOENT;
}

bool skills_selected(const struct skills_selection *sel, size_t i)
{
	for (unsigned k = 0; sel && k < sel->n; k++)
		if (sel->idx[k] == i)
			return true;
	return false;
}

/* ---- files ------------------------------------------------------------------ */

/* Reads a whole text file of at most max bytes into *ret (caller frees). */
static int read_text(const char *path, size_t max, const char *what, char **ret, size_t *retlen,
		     struct skills_error *err)
{
	struct stat st;
	char *text;
	FILE *f;
	int rc = 0;

	*ret = NULL;
	f = fopen(path, "r");
	if (!f)
		return fail(err, -errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) < 0) {
		rc = fail(err, -errno, "%s: cannot stat: %s", path, strerror(errno));
		goto close_file;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(err, -EINVAL, "%s: not a regular file", path);
		goto close_file;
	}
	if ((size_t)st.st_size > max) {
		rc = fail(err, -EFBIG, "%s: %lld bytes, over the %zu-byte limit for %s; shorten it",
			  path, (long long)st.st_size, max, what);
		goto close_file;
	}
	text = calloc(1, (size_t)st.st_size + 2);
	if (!text) {
		rc = fail(err, -ENOMEM, "%s: out of memory", path);
		goto close_file;
	}
	if (fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(text);
		rc = fail(err, -EIO, "%s: short read", path);
		goto close_file;
	}
	if (memchr(text, '\0', (size_t)st.st_size)) {
		free(text);
		rc = fail(err, -EINVAL, "%s: contains a NUL byte; is this a text file?", path);
		goto close_file;
	}
	*ret = text;
	*retlen = (size_t)st.st_size;
close_file:
	fclose(f);
	return rc;
}

static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/*
 * Checks and tidies a skill file in place: CRs go, trailing blank lines go,
 * it ends in exactly one newline. Its first line must be a "# " header and at
 * least one line of instructions must follow.
 */
static int check_skill(struct skill *sk, const char *path, char *text, size_t len,
		       struct skills_error *err)
{
	size_t o = 0, lines = 0, content = 0;
	const char *p = text, *end = text + len;
	int lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		while (l > 0 && p[l - 1] == '\r')
			l--;
		if (utf8_chars(p, l) > SKILLS_MAX_LINE)
			return fail(err, -EINVAL,
				    "%s:%d: line longer than %d characters (the prompt's line "
				    "width); split it",
				    path, lineno, SKILLS_MAX_LINE);
		if (lineno == 1 && (l < 3 || p[0] != '#' || p[1] != ' '))
			return fail(err, -EINVAL,
				    "%s:1: expected a one-line header '# Title — purpose', got "
				    "'%.*s'",
				    path, (int)(l > 60 ? 60 : l), p);
		memmove(text + o, p, l);
		o += l;
		text[o++] = '\n';
		lines++;
		if (lineno > 1) {
			for (size_t k = 0; k < l; k++)
				if (!isspace((unsigned char)p[k])) {
					content = lines;
					break;
				}
		}
		p = nl ? nl + 1 : end;
	}
	if (lineno == 0)
		return fail(err, -EINVAL, "%s: the skill file is empty; write its instructions",
			    path);
	if (!content)
		return fail(err, -EINVAL,
			    "%s: the skill has a header but no instructions; add its 'when X, "
			    "do Y' lines",
			    path);
	/* Drop trailing blank lines: content is the last line with text. */
	for (size_t k = 0, seen = 0; k < o; k++)
		if (text[k] == '\n' && ++seen == content) {
			o = k + 1;
			break;
		}
	if (content > SKILLS_MAX_FILE_LINES)
		return fail(err, -EINVAL,
			    "%s: %zu lines, over the %d-line limit for a skill; tighten it", path,
			    content, SKILLS_MAX_FILE_LINES);
	text[o] = '\0';
	sk->text = text;
	sk->len = o;
	sk->lines = (unsigned)content;
	return 0;
}

/* ---- manifest --------------------------------------------------------------- */

struct entry {
	int line;
	char section[48];
	char key[32];
	char value[SKILLS_MANIFEST_MAX_LINE];
};

struct manifest {
	const char *name;
	struct entry *e;
	size_t ne;
	char section[48];
	struct skills_error *err;
};

static int manifest_section(void *ctx, int line, const char *name)
{
	struct manifest *m = ctx;

	if (!*name || strlen(name) >= sizeof(m->section))
		return fail(m->err, -EINVAL, "%s:%d: bad section name '%s'", m->name, line, name);
	strcpy(m->section, name);
	return 0;
}

static int manifest_entry(void *ctx, int line, const char *key, char *value)
{
	struct manifest *m = ctx;
	struct entry *e;

	if (m->ne == MAX_ENTRIES)
		return fail(m->err, -E2BIG, "%s:%d: more than %d entries", m->name, line,
			    MAX_ENTRIES);
	e = &m->e[m->ne];
	if (strlen(key) >= sizeof(e->key))
		return fail(m->err, -EINVAL, "%s:%d: key '%s' is too long", m->name, line, key);
	e->line = line;
	strcpy(e->section, m->section);
	strcpy(e->key, key);
	strcpy(e->value, value);
	m->ne++;
	return 0;
}

static const struct conf_lines_ops manifest_ops = {
    .max_line = SKILLS_MANIFEST_MAX_LINE,
    .section_example = "skills",
    .section = manifest_section,
    .entry = manifest_entry,
};

static int parse_lines(const char *name, const char *text, struct entry *e, size_t *ne,
		       struct skills_error *err)
{
	struct manifest m = {.name = name, .e = e, .err = err};
	int rc;

	rc = conf_lines_each(&manifest_ops, name, text, &m, err ? err->msg : NULL,
			     err ? sizeof(err->msg) : 0);
	*ne = m.ne;
	return rc;
}

static bool valid_id(const char *s)
{
	if (!*s || strlen(s) >= SKILLS_MAX_ID)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '_')
			return false;
	return true;
}

static int popcount(uint32_t x)
{
	return __builtin_popcount(x);
}

static int lookup(const struct skills *s, const char *name, const struct entry *e, uint32_t *bit,
		  struct skills_error *err)
{
	int i = skills_find(s, e->value);

	if (i < 0)
		return fail(err, -EINVAL,
			    "%s:%d: [%s] %s: unknown skill '%s'; the skills are the ids listed in "
			    "[skills]",
			    name, e->line, e->section, e->key, e->value);
	*bit = 1u << i;
	return 0;
}

/* Selling turns must not load a recovery-only skill; the recovery path must not load core. */
static int check_use(const struct skills *s, const char *name, const struct entry *e, uint32_t bit,
		     bool recovery, struct skills_error *err)
{
	int i = __builtin_ctz(bit);

	if (!recovery && s->sk[i].priority == PRIORITY_RECOVERY)
		return fail(err, -EINVAL,
			    "%s:%d: [%s] adds '%s', which is for the service-recovery path only",
			    name, e->line, e->section, s->sk[i].id);
	if (recovery && s->sk[i].priority == PRIORITY_CORE)
		return fail(err, -EINVAL,
			    "%s:%d: [service_recovery] skill '%s' is core (it sells); the "
			    "service-recovery path must not sell",
			    name, e->line, s->sk[i].id);
	return 0;
}

static int load_skills_section(struct skills *s, const char *name, const char *dir,
			       const struct entry *e, size_t ne, struct skills_error *err)
{
	int rc;

	for (size_t k = 0; k < ne; k++) {
		struct skill *sk;
		char path[4096], *text;
		size_t len;

		if (strcmp(e[k].section, "skills") != 0)
			continue;
		if (!valid_id(e[k].key))
			return fail(err, -EINVAL,
				    "%s:%d: [skills] '%s' is not a skill id; use a-z, 0-9 and '_', "
				    "at most %d characters (the file is skills/<id>.md)",
				    name, e[k].line, e[k].key, SKILLS_MAX_ID - 1);
		rc = skills_find(s, e[k].key);
		if (rc >= 0)
			return fail(err, -EINVAL,
				    "%s:%d: [skills] '%s' is listed twice (first on line %d); keep "
				    "one",
				    name, e[k].line, e[k].key, s->sk[rc].line);
		if (s->n == SKILLS_MAX)
			return fail(err, -E2BIG, "%s:%d: more than %d skills", name, e[k].line,
				    SKILLS_MAX);
		sk = &s->sk[s->n];
		strcpy(sk->id, e[k].key);
		sk->line = e[k].line;
		if (strcmp(e[k].value, "core") == 0)
			sk->priority = PRIORITY_CORE;
		else if (strcmp(e[k].value, "recovery") == 0)
			sk->priority = PRIORITY_RECOVERY;
		else {
			char *end;
			long v = strtol(e[k].value, &end, 10);

			if (end == e[k].value || *end || v < 1 || v > 99)
				return fail(err, -EINVAL,
					    "%s:%d: [skills] %s: expected 'core', 'recovery' or a "
					    "drop priority from 1 to 99, got '%s'",
					    name, e[k].line, e[k].key, e[k].value);
			sk->priority = (int)v;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s.md", dir, sk->id) >= sizeof(path))
			return fail(err, -ENAMETOOLONG, "%s:%d: path of skill '%s' too long", name,
				    e[k].line, sk->id);
		rc = read_text(path, SKILLS_MAX_FILE_BYTES, "a skill file", &text, &len, err);
		if (rc < 0) {
			char inner[SKILLS_ERROR_MAX];

			snprintf(inner, sizeof(inner), "%s", err ? err->msg : "");
			return fail(err, rc, "%s:%d: skill '%s': %s", name, e[k].line, sk->id,
				    inner);
		}
		rc = check_skill(sk, path, text, len, err);
		if (rc < 0) {
			char inner[SKILLS_ERROR_MAX];

			free(text);
			snprintf(inner, sizeof(inner), "%s", err ? err->msg : "");
			return fail(err, rc, "%s:%d: skill '%s': %s", name, e[k].line, sk->id,
				    inner);
		}
		s->n++;
	}
	if (s->n == 0)
		return fail(err, -EINVAL,
			    "%s: no [skills] section; list every skill there in prompt order",
			    name);
	return 0;
}

static int load_limits(struct skills *s, const char *name, const struct entry *e, size_t ne,
		       struct skills_error *err)
{
	s->min = 5;
	s->max = 10;
	for (size_t k = 0; k < ne; k++) {
		char *end;
		long v;

		if (strcmp(e[k].section, "limits") != 0)
			continue;
		if (strcmp(e[k].key, "min") != 0 && strcmp(e[k].key, "max") != 0)
			return fail(err, -EINVAL,
				    "%s:%d: [limits] %s: unknown key; expected min or max", name,
				    e[k].line, e[k].key);
		v = strtol(e[k].value, &end, 10);
		if (end == e[k].value || *end || v < 1 || v > SKILLS_MAX)
			return fail(err, -EINVAL,
				    "%s:%d: [limits] %s: expected a whole number from 1 to %d, got "
				    "'%s'",
				    name, e[k].line, e[k].key, SKILLS_MAX, e[k].value);
		if (e[k].key[1] == 'i')
			s->min = (unsigned)v;
		else
			s->max = (unsigned)v;
	}
	if (s->min > s->max)
		return fail(err, -EINVAL, "%s: [limits] min %u is above max %u", name, s->min,
			    s->max);
	return 0;
}

/* [budget]: state = percent of the full prompt a turn in that state may read. */
static int load_budget(struct skills *s, const char *name, const struct entry *e, size_t ne,
		       struct skills_error *err)
{
	int seen[AGENT_STATE_COUNT] = {0};

	for (int st = 0; st < AGENT_STATE_COUNT; st++)
		s->share[st] = 100;
	for (size_t k = 0; k < ne; k++) {
		enum agent_state st;
		char *end;
		long v;

		if (strcmp(e[k].section, "budget") != 0)
			continue;
		if (agent_state_from_name(e[k].key, &st) < 0)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [budget] %s: unknown state; the states are idle, "
			    "approaching, greeting, discovery, presenting, objection, closing, "
			    "handed_over, farewell",
			    name, e[k].line, e[k].key);
		if (seen[st])
			return fail(err, -EINVAL,
				    "%s:%d: [budget] %s is set twice (first on line %d); keep one",
				    name, e[k].line, e[k].key, seen[st]);
		v = strtol(e[k].value, &end, 10);
		if (*end == '%')
			end++;
		if (end == e[k].value || *end || v < 1 || v > 100)
			return fail(
			    err, -EINVAL,
			    "%s:%d: [budget] %s: expected a share of the full prompt from 1%% "
			    "to 100%%, got '%s'",
			    name, e[k].line, e[k].key, e[k].value);
		seen[st] = e[k].line;
		s->share[st] = (uint8_t)v;
	}
	return 0;
}

static int load_rules(struct skills *s, const char *name, const struct entry *e, size_t ne,
		      int *signal_line, struct skills_error *err)
{
	int rc;

	for (size_t k = 0; k < ne; k++) {
		const char *sec = e[k].section;
		uint32_t bit;

		if (strcmp(sec, "skills") == 0 || strcmp(sec, "limits") == 0 ||
		    strcmp(sec, "budget") == 0)
			continue;
		if (strcmp(sec, "no_signal") == 0) {
			if (strcmp(e[k].key, "add") != 0)
				return fail(err, -EINVAL,
					    "%s:%d: [no_signal] %s: unknown key; expected 'add = "
					    "skill'",
					    name, e[k].line, e[k].key);
			rc = lookup(s, name, &e[k], &bit, err);
			if (rc == 0)
				rc = check_use(s, name, &e[k], bit, false, err);
			if (rc < 0)
				return rc;
			s->no_signal |= bit;
		} else if (strncmp(sec, "signal.", 7) == 0) {
			enum signal sig;

			if (signals_from_name(sec + 7, &sig) < 0)
				return fail(err, -EINVAL,
					    "%s:%d: [%s]: unknown signal '%s'; the signals are "
					    "product_interest, objection, comparison, closing, "
					    "small_talk, complaint, scope_boundary",
					    name, e[k].line, sec, sec + 7);
			if (strcmp(e[k].key, "add") != 0)
				return fail(err, -EINVAL,
					    "%s:%d: [%s] %s: unknown key; expected 'add = skill'",
					    name, e[k].line, sec, e[k].key);
			rc = lookup(s, name, &e[k], &bit, err);
			if (rc == 0)
				rc = check_use(s, name, &e[k], bit, false, err);
			if (rc < 0)
				return rc;
			s->adds[sig] |= bit;
			if (!signal_line[sig])
				signal_line[sig] = e[k].line;
		} else if (strcmp(sec, "service_recovery") == 0) {
			if (strcmp(e[k].key, "skill") == 0) {
				rc = lookup(s, name, &e[k], &bit, err);
				if (rc == 0)
					rc = check_use(s, name, &e[k], bit, true, err);
				if (rc < 0)
					return rc;
				s->recovery |= bit;
			} else if (strcmp(e[k].key, "trigger") == 0) {
				enum signal sig;

				if (signals_from_name(e[k].value, &sig) < 0)
					return fail(err, -EINVAL,
						    "%s:%d: [service_recovery] trigger: unknown "
						    "signal '%s'",
						    name, e[k].line, e[k].value);
				s->triggers |= SIGNAL_BIT(sig);
			} else
				return fail(err, -EINVAL,
					    "%s:%d: [service_recovery] %s: unknown key; expected "
					    "'skill = id' or 'trigger = signal'",
					    name, e[k].line, e[k].key);
		} else
			return fail(err, -EINVAL,
				    "%s:%d: unknown section [%s]; expected [limits], [budget], "
				    "[skills], [no_signal], [signal.<name>] or [service_recovery]",
				    name, e[k].line, sec);
	}
	return 0;
}

/* Every turn the manifest can produce must fit [limits]; every skill must be reachable. */
static int check_bounds(struct skills *s, const char *name, const int *signal_line,
			struct skills_error *err)
{
	uint32_t reachable = s->core | s->no_signal | s->recovery;

	for (size_t i = 0; i < s->n; i++)
		if (s->sk[i].priority == PRIORITY_CORE)
			s->core |= 1u << i;
	reachable |= s->core;
	if ((unsigned)popcount(s->core) > s->max)
		return fail(err, -EINVAL, "%s: %d core skills, more than [limits] max %u", name,
			    popcount(s->core), s->max);
	if (!s->recovery || !s->triggers)
		return fail(err, -EINVAL,
			    "%s: [service_recovery] needs at least one 'skill =' and one "
			    "'trigger =' (complaint): an upset customer must get a path with no "
			    "selling",
			    name);
	if ((unsigned)popcount(s->recovery) > s->max)
		return fail(err, -EINVAL, "%s: [service_recovery] has more than max %u skills",
			    name, s->max);
	for (size_t i = 0; i < s->n; i++) {
		uint32_t bit = 1u << i;

		if (s->sk[i].priority == PRIORITY_RECOVERY && !(s->recovery & bit))
			return fail(err, -EINVAL,
				    "%s:%d: skill '%s' is marked 'recovery' but not listed in "
				    "[service_recovery]",
				    name, s->sk[i].line, s->sk[i].id);
	}
	for (int sig = 0; sig < SIGNAL_COUNT; sig++) {
		uint32_t bit = SIGNAL_BIT(sig);
		unsigned n = (unsigned)popcount(s->core | s->adds[sig]);

		reachable |= s->adds[sig];
		if (s->triggers & bit) {
			if (s->adds[sig])
				return fail(err, -EINVAL,
					    "%s:%d: [signal.%s] is never used: %s takes the "
					    "service-recovery path; remove the section",
					    name, signal_line[sig], signals_name(sig),
					    signals_name(sig));
			continue;
		}
		if (!s->adds[sig])
			return fail(err, -EINVAL,
				    "%s: signal '%s' adds no skill; add a [signal.%s] section or "
				    "make it a [service_recovery] trigger",
				    name, signals_name(sig), signals_name(sig));
		if (n < s->min)
			return fail(err, -EINVAL,
				    "%s:%d: a turn with only %s would load %u skills, fewer than "
				    "[limits] min %u; add skills to [signal.%s] or the core",
				    name, signal_line[sig], signals_name(sig), n, s->min,
				    signals_name(sig));
	}
	if ((unsigned)popcount(s->core | s->no_signal) < s->min)
		return fail(err, -EINVAL,
			    "%s: a turn with no signal would load %d skills, fewer than [limits] "
			    "min %u; add skills to [no_signal] or the core",
			    name, popcount(s->core | s->no_signal), s->min);
	for (size_t i = 0; i < s->n; i++) {
		if (!(reachable & (1u << i)))
			return fail(err, -EINVAL,
				    "%s:%d: skill '%s' is never loaded; add it to a [signal.*] "
				    "section or remove it",
				    name, s->sk[i].line, s->sk[i].id);
	}
	return 0;
}

int skills_load(const char *manifest_path, struct skills **ret, struct skills_error *err)
{
	int signal_line[SIGNAL_COUNT] = {0}, rc;
	char dir[4096], *text = NULL, *slash;
	struct entry *e = NULL;
	struct skills *s;
	size_t len, ne;

	*ret = NULL;
	if (snprintf(dir, sizeof(dir), "%s", manifest_path) >= (int)sizeof(dir))
		return fail(err, -ENAMETOOLONG, "%s: path too long", manifest_path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	rc = read_text(manifest_path, SKILLS_MANIFEST_MAX_BYTES, "a manifest", &text, &len, err);
	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	e = calloc(MAX_ENTRIES, sizeof(*e));
	if (!s || !e) {
		rc = fail(err, -ENOMEM, "%s: out of memory", manifest_path);
		goto free_all;
	}
	rc = parse_lines(manifest_path, text, e, &ne, err);
	if (rc < 0)
		goto free_all;
	rc = load_limits(s, manifest_path, e, ne, err);
	if (rc < 0)
		goto free_all;
	rc = load_budget(s, manifest_path, e, ne, err);
	if (rc < 0)
		goto free_all;
	rc = load_skills_section(s, manifest_path, dir, e, ne, err);
	if (rc < 0)
		goto free_all;
	rc = load_rules(s, manifest_path, e, ne, signal_line, err);
	if (rc < 0)
		goto free_all;
	rc = check_bounds(s, manifest_path, signal_line, err);
	if (rc < 0)
		goto free_all;
	*ret = s;
	s = NULL;
free_all:
	skills_free(s);
	free(e);
	free(text);
	return rc;
}

/* ---- selection -------------------------------------------------------------- */

int skills_select(const struct skills *s, enum agent_state state, uint32_t signal_mask,
		  unsigned flags, struct skills_selection *ret)
{
	uint32_t set = 0;

	if (!ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (!s || (signal_mask >> SIGNAL_COUNT) || (flags & ~SKILLS_SELECT_SERVICE_RECOVERY))
		return -EINVAL;
	ret->share = 100;
	if ((signal_mask & s->triggers) || (flags & SKILLS_SELECT_SERVICE_RECOVERY)) {
		set = s->recovery;
		ret->service_recovery = true;
	} else {
		ret->share = skills_share(s, state);
		set = s->core;
		if (!signal_mask)
			set |= s->no_signal;
		for (int sig = 0; sig < SIGNAL_COUNT; sig++)
			if (signal_mask & SIGNAL_BIT(sig))
				set |= s->adds[sig];
		while ((unsigned)popcount(set) > s->max) {
			int victim = -1;

			for (size_t i = 0; i < s->n; i++) {
				if (!(set & (1u << i)) || (s->core & (1u << i)))
					continue;
				if (victim < 0 || s->sk[i].priority <= s->sk[victim].priority)
					victim = (int)i;
			}
			if (victim < 0)
				break; /* only core left: the loader keeps core <= max */
			set &= ~(1u << victim);
			ret->dropped[ret->n_dropped++] = (uint8_t)victim;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		if (set & (1u << i))
			ret->idx[ret->n++] = (uint8_t)i;
	return (int)ret->n;
}
