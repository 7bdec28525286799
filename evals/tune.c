/*
 * tune — the skill-tuning loop (evals/tune.h, docs/evals.md "Tuning").
 */
#include "evals/tune.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/skills.h"
#include "hal/errmsg.h"

#define PATH_LEN 1024
#define COPY_FILE_MAX (256 * 1024) /* one file of the skills folder */
#define WHAT_MAX 400
#define WHY_MAX 600
#define LINES_MAX SKILLS_MAX_FILE_LINES

/* ---- files --------------------------------------------------------------------- */

static int read_all(const char *path, size_t max, char **ret)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	*ret = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		rc = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			free(buf);
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret = buf;
out:
	close(fd);
	return rc;
}

/* Writes text to path through path.tmp and a rename: never half a file. */
static int write_atomic(const char *path, const char *text)
{
	char tmp[PATH_LEN];
	size_t n = strlen(text);
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	if (fwrite(text, 1, n, f) != n || fclose(f) != 0) {
		int e = errno ? errno : EIO;

		unlink(tmp);
		return -e;
	}
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return -e;
	}
	return 0;
}

/* Copies every regular file of src (not recursive) into dst. */
static int copy_folder(const char *src, const char *dst, char *err, size_t errlen)
{
	char from[PATH_LEN], to[PATH_LEN], *text;
	struct dirent *de;
	unsigned n = 0;
	DIR *d = opendir(src);
	int rc = 0;

	if (!d)
		return errmsg(err, errlen, -errno, "%s: cannot open the skills folder: %s", src,
			      strerror(errno));
	while ((de = readdir(d)) && rc == 0) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(from, sizeof(from), "%s/%s", src, de->d_name) >=
			sizeof(from) ||
		    stat(from, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (++n > EVAL_TUNE_COPY_MAX) {
			rc = errmsg(err, errlen, -E2BIG, "%s: more than %d files to copy", src,
				    EVAL_TUNE_COPY_MAX);
			break;
		}
		if ((size_t)snprintf(to, sizeof(to), "%s/%s", dst, de->d_name) >= sizeof(to)) {
			rc = errmsg(err, errlen, -ENAMETOOLONG, "%s/%s: path too long", dst,
				    de->d_name);
			break;
		}
		rc = read_all(from, COPY_FILE_MAX, &text);
		if (rc < 0) {
			errmsg(err, errlen, rc, "%s: cannot read for the scratch copy: %s", from,
			       strerror(-rc));
			break;
		}
		rc = write_atomic(to, text);
		free(text);
		if (rc < 0)
			errmsg(err, errlen, rc, "%s: cannot write: %s", to, strerror(-rc));
	}
	closedir(d);
	return rc;
}

static void remove_folder(const char *dir)
{
	char p[PATH_LEN];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) < sizeof(p))
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* ---- scores ---------------------------------------------------------------------- */

struct suite_score {
	char name[EVAL_ID_MAX];
	unsigned passed, runs;
	double det, reply; /* reply -1: no reply checks */
};

struct scores {
	double det, reply, score;
	unsigned fallback; /* turns where the model failed and the responder answered */
	long lines;
	uint64_t fp;
	size_t n;
	struct suite_score *s;
};

static void scores_free(struct scores *s)
{
	free(s->s);
	memset(s, 0, sizeof(*s));
}

static int scores_of(const struct eval_results *r, struct scores *ret)
{
	struct eval_totals t;
	size_t ns = eval_results_suite_count(r);

	memset(ret, 0, sizeof(*ret));
	eval_results_totals(r, NULL, &t);
	ret->det = t.runs ? (double)t.passed / t.runs : 0;
	ret->reply = t.reply_score;
	ret->fallback = t.fallback_turns;
	ret->score = ret->det + (ret->reply > 0 ? ret->reply : 0);
	ret->lines = eval_results_prompt_lines(r);
	ret->fp = eval_results_fingerprint(r);
	ret->s = calloc(ns + 1, sizeof(*ret->s));
	if (!ret->s)
		return -ENOMEM;
	for (size_t i = 0; i < ns; i++) {
		struct suite_score *ss = &ret->s[ret->n];

		if (eval_results_totals(r, eval_results_suite(r, i), &t) < 0)
			continue;
		snprintf(ss->name, sizeof(ss->name), "%s", eval_results_suite(r, i));
		ss->passed = t.passed;
		ss->runs = t.runs;
		ss->det = t.runs ? (double)t.passed / t.runs : 0;
		ss->reply = t.reply_score;
		ret->n++;
	}
	return 0;
}

/* ---- the variants ------------------------------------------------------------------ */

struct rec {
	unsigned round;
	char *what, *why, *text;
	enum eval_tune_decision decision;
	double det, reply, score;
	long lines;
};

struct eval_tune {
	char *skill, *skill_path, *responder, *final_text;
	unsigned repeat, scenarios;
	bool offline, improved, applied, any_changed;
	struct rec *v;
	size_t n, cap;
	struct scores base, best;
};

static int rec_add(struct eval_tune *t, unsigned round, const char *what, const char *text)
{
	struct rec *r;

	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		struct rec *g = realloc(t->v, nc * sizeof(*g));

		if (!g)
			return -ENOMEM;
		t->v = g;
		t->cap = nc;
	}
	r = &t->v[t->n];
	memset(r, 0, sizeof(*r));
	r->round = round;
	r->what = strdup(what);
	r->text = strdup(text);
	r->reply = -1;
	if (!r->what || !r->text) {
		free(r->what);
		free(r->text);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

static void rec_why(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rec_why(struct rec *r, const char *fmt, ...)
{
	char buf[WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(r->why);
	r->why = strdup(buf);
}

static bool tried(const struct eval_tune *t, const char *text)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].text, text) == 0)
			return true;
	return false;
}

/* A skill file as lines; units are an instruction line with its indented
 * continuation lines. Line 0 (the "# " header) and blank lines are never
 * mutated. */
struct doc {
	char *buf;
	unsigned n;
	const char *line[LINES_MAX + 2];
	size_t len[LINES_MAX + 2];
	unsigned nu;
	unsigned ustart[LINES_MAX + 1], uend[LINES_MAX + 1];
};

static int doc_split(const char *text, struct doc *d)
{
	const char *p = text;

	memset(d, 0, sizeof(*d));
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (d->n > LINES_MAX)
			return -E2BIG;
		d->line[d->n] = p;
		d->len[d->n] = l;
		d->n++;
		p += l + (e ? 1 : 0);
	}
	for (unsigned i = 1; i < d->n; i++) {
		bool blank = true,
		     cont = d->len[i] && (d->line[i][0] == ' ' || d->line[i][0] == '\t');

		for (size_t k = 0; k < d->len[i]; k++)
			if (d->line[i][k] != ' ' && d->line[i][k] != '\t')
				blank = false;
		if (blank)
			continue;
		if (cont && d->nu && d->uend[d->nu - 1] == i) {
			d->uend[d->nu - 1] = i + 1;
			continue;
		}
		d->ustart[d->nu] = i;
		d->uend[d->nu] = i + 1;
		d->nu++;
	}
	return 0;
}

/* The file with unit u replaced by repl (NULL: dropped), or units a and b
 * swapped when swap_with >= 0. malloc'd. */
static char *doc_build(const struct doc *d, unsigned u, const char *repl, int swap_with)
{
	size_t cap = 16;
	char *out, *o;

	for (unsigned i = 0; i < d->n; i++)
		cap += d->len[i] + 1;
	if (repl)
		cap += strlen(repl) + 1;
	out = o = malloc(cap);
	if (!out)
		return NULL;
	for (unsigned i = 0; i < d->n;) {
		unsigned from = i, to;

		if (i == d->ustart[u]) {
			if (swap_with >= 0) {
				/* unit u's text goes where swap_with was: emitted there */
				i = d->uend[u];
				continue;
			}
			if (repl) {
				size_t l = strlen(repl);

				memcpy(o, repl, l);
				o += l;
				*o++ = '\n';
			}
			i = d->uend[u];
			continue;
		}
		if (swap_with >= 0 && i == d->ustart[swap_with]) {
			for (unsigned k = d->ustart[u]; k < d->uend[u]; k++) {
				memcpy(o, d->line[k], d->len[k]);
				o += d->len[k];
				*o++ = '\n';
			}
		}
		to = i + 1;
		for (unsigned k = from; k < to; k++) {
			memcpy(o, d->line[k], d->len[k]);
			o += d->len[k];
			*o++ = '\n';
		}
		i = to;
	}
	*o = '\0';
	return out;
}

static char *unit_text(const struct doc *d, unsigned u)
{
	size_t cap = 1;
	char *s, *o;

	for (unsigned k = d->ustart[u]; k < d->uend[u]; k++)
		cap += d->len[k] + 1;
	s = o = malloc(cap);
	if (!s)
		return NULL;
	for (unsigned k = d->ustart[u]; k < d->uend[u]; k++) {
		if (k > d->ustart[u])
			*o++ = '\n';
		memcpy(o, d->line[k], d->len[k]);
		o += d->len[k];
	}
	*o = '\0';
	return s;
}

static void tidy(char *s)
{
	char *r = s, *w = s;

	for (; *r; r++) {
		if (*r == ' ' && w > s && w[-1] == ' ')
			continue;
		if ((*r == '.' || *r == ',' || *r == ':' || *r == ';') && w > s && w[-1] == ' ')
			w--;
		*w++ = *r;
	}
	*w = '\0';
	/* "... :." or ":," left by a cut */
	for (char *p = s; *p; p++)
		if ((p[0] == ':' || p[0] == ',') && (p[1] == '.' || p[1] == ',' || p[1] == ':'))
			memmove(p, p + 1, strlen(p));
	while (w > s && (w[-1] == ' ' || w[-1] == ':' || w[-1] == ','))
		*--w = '\0';
}

/* Does the unit keep some words? (a cut that leaves "- ." is no variant) */
static bool has_words(const char *s)
{
	unsigned letters = 0;

	for (; *s; s++)
		letters += (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');
	return letters >= 8;
}

/* Tightening rules, each one variant: 0 the quoted example, 1 the
 * parenthesis, 2 filler words. The tightened unit (malloc'd) or NULL. */
static char *tighten(const char *unit, int rule)
{
	static const char *const filler[] = {"always ",	   "just ",   "really ",    "very ",
					     "actually ",  "simply ", "basically ", "quite ",
					     "of course ", NULL};
	char *s = strdup(unit), *a, *b;
	bool changed = false;

	if (!s)
		return NULL;
	if (rule == 0) {
		a = strchr(s, '"');
		b = a ? strchr(a + 1, '"') : NULL;
		if (a && b && b - a > 8) {
			char *from = a;

			while (from > s && (from[-1] == ' ' || from[-1] == ':'))
				from--;
			if (from > s && from[-1] == ',')
				from--;
			memmove(from, b + 1, strlen(b + 1) + 1);
			changed = true;
		}
	} else if (rule == 1) {
		while ((a = strchr(s, '(')) && (b = strchr(a, ')'))) {
			char *from = a > s && a[-1] == ' ' ? a - 1 : a;

			memmove(from, b + 1, strlen(b + 1) + 1);
			changed = true;
		}
	} else {
		for (size_t i = 0; filler[i]; i++) {
			size_t fl = strlen(filler[i]);

			for (a = strstr(s, filler[i]); a; a = strstr(a, filler[i])) {
				if (a > s && a[-1] != ' ') {
					a += fl;
					continue;
				}
				memmove(a, a + fl, strlen(a + fl) + 1);
				changed = true;
			}
		}
	}
	if (changed)
		tidy(s);
	if (!changed || strcmp(s, unit) == 0 || !has_words(s)) {
		free(s);
		return NULL;
	}
	return s;
}

static void brief(const char *s, char *out, size_t max)
{
	size_t n = 0;

	for (; *s && n + 4 < max; s++) {
		char ch = *s == '\n' || *s == '\t' ? ' ' : *s;

		if (ch == ' ' && n && out[n - 1] == ' ')
			continue; /* a continuation line's indent reads as one space */
		out[n++] = ch;
	}
	if (*s)
		memcpy(out + n, "...", 4);
	else
		out[n] = '\0';
}

/* ---- the loop ------------------------------------------------------------------------ */

struct ctx {
	const struct eval_set *set;
	struct eval_options o;
	const char *manifest;	/* the scratch manifest */
	const char *skill_file; /* the scratch copy of the skill */
	FILE *progress;
	struct eval_tune *t;
	unsigned budget;
	bool stop;
};

/* Writes the text into the scratch copy and runs the evals; 0 with *ret, 1 when
 * the variant does not load (why in msg), or -errno. */
static int evaluate(struct ctx *c, const char *text, struct scores *ret, char *msg, size_t len)
{
	struct skills_error kerr;
	struct skills *sk = NULL;
	struct eval_results *r = NULL;
	int rc;

	rc = write_atomic(c->skill_file, text);
	if (rc < 0)
		return errmsg(msg, len, rc, "%s: cannot write: %s", c->skill_file, strerror(-rc));
	if (skills_load(c->manifest, &sk, &kerr) < 0) {
		snprintf(msg, len, "%s", kerr.msg);
		return 1;
	}
	skills_free(sk);
	rc = eval_run(c->set, &c->o, &r, msg, len);
	if (rc < 0)
		return rc;
	rc = scores_of(r, ret);
	eval_results_free(r);
	return rc;
}

static void fmt_reply(double v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.3f", v);
}

/* Compares a candidate with the best so far; fills the record's decision. */
static void decide(struct ctx *c, struct rec *r, const struct scores *cand)
{
	const struct scores *best = &c->t->best;
	char why[WHY_MAX], a[16], b[16];
	size_t off = 0;
	unsigned regressed = 0;

	for (size_t i = 0; i < best->n; i++) {
		const struct suite_score *bs = &best->s[i], *cs = NULL;

		for (size_t k = 0; k < cand->n; k++)
			if (strcmp(cand->s[k].name, bs->name) == 0)
				cs = &cand->s[k];
		if (!cs)
			continue;
		if (cs->det < bs->det - EVAL_TUNE_EPSILON) {
			if (regressed++ < 3 && off < sizeof(why))
				off += (size_t)snprintf(why + off, sizeof(why) - off,
							"%ssuite %s: deterministic %u/%u -> %u/%u",
							off ? "; " : "", bs->name, bs->passed,
							bs->runs, cs->passed, cs->runs);
		} else if (bs->reply >= 0 && cs->reply >= 0 &&
			   cs->reply < bs->reply - EVAL_TUNE_EPSILON) {
			fmt_reply(bs->reply, a, sizeof(a));
			fmt_reply(cs->reply, b, sizeof(b));
			if (regressed++ < 3 && off < sizeof(why))
				off += (size_t)snprintf(why + off, sizeof(why) - off,
							"%ssuite %s: reply %s -> %s",
							off ? "; " : "", bs->name, a, b);
		}
	}
	fmt_reply(best->reply, a, sizeof(a));
	fmt_reply(cand->reply, b, sizeof(b));
	if (regressed) {
		r->decision = EVAL_TUNE_DROPPED;
		rec_why(r, "a suite regressed (%s%s); score %.4f -> %.4f", why,
			regressed > 3 ? "; ..." : "", best->score, cand->score);
	} else if (cand->score > best->score + EVAL_TUNE_EPSILON) {
		r->decision = EVAL_TUNE_KEPT;
		rec_why(r,
			"score %.4f -> %.4f (deterministic %.1f%% -> %.1f%%, reply %s -> %s), no "
			"suite regressed",
			best->score, cand->score, 100 * best->det, 100 * cand->det, a, b);
	} else if (cand->fp == best->fp) {
		r->decision = EVAL_TUNE_DROPPED;
		rec_why(r, "no change: every reply and tool call identical%s",
			c->t->offline ? " (the offline responder does not read skill text)" : "");
	} else {
		r->decision = EVAL_TUNE_DROPPED;
		c->t->any_changed = true;
		rec_why(r,
			"replies changed but the score did not improve: %.4f -> %.4f (reply %s "
			"-> %s)",
			best->score, cand->score, a, b);
	}
}

/* Tries one candidate text; true when it was kept. */
static int try_variant(struct ctx *c, unsigned round, const char *what, const char *text,
		       bool *kept)
{
	struct eval_tune *t = c->t;
	struct scores cand = {0};
	char msg[EVAL_ERROR_MAX];
	struct rec *r;
	int rc;

	*kept = false;
	if (tried(t, text))
		return 0;
	if (c->budget == 0) {
		c->stop = true;
		return 0;
	}
	c->budget--;
	rc = rec_add(t, round, what, text);
	if (rc < 0)
		return rc;
	r = &t->v[t->n - 1];
	rc = evaluate(c, text, &cand, msg, sizeof(msg));
	if (rc < 0) {
		scores_free(&cand);
		return rc;
	}
	if (rc == 1) {
		r->decision = EVAL_TUNE_REJECTED;
		rec_why(r, "does not load: %s", msg);
	} else {
		r->det = cand.det;
		r->reply = cand.reply;
		r->score = cand.score;
		r->lines = cand.lines;
		decide(c, r, &cand);
		if (r->decision == EVAL_TUNE_KEPT) {
			scores_free(&t->best);
			t->best = cand;
			memset(&cand, 0, sizeof(cand));
			free(t->final_text);
			t->final_text = strdup(text);
			t->improved = true;
			*kept = true;
		}
	}
	scores_free(&cand);
	if (c->progress) {
		fprintf(c->progress, "  [%zu] %s\n      -> %s: %s", t->n - 1, r->what,
			r->decision == EVAL_TUNE_KEPT	    ? "KEPT"
			: r->decision == EVAL_TUNE_REJECTED ? "rejected"
							    : "dropped",
			r->why ? r->why : "");
		if (r->decision != EVAL_TUNE_REJECTED)
			fprintf(c->progress, " (prompt lines %+ld)", r->lines - t->base.lines);
		fprintf(c->progress, "\n");
		fflush(c->progress);
	}
	/* the scratch file goes back to the current text */
	if (!*kept && (rc = write_atomic(c->skill_file, t->final_text)) < 0)
		return rc;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Variants written by a person: every *.md in dir, by name. A missing
 * folder is no error (there are none). */
static int person_variants(struct ctx *c, const char *dir, char *err, size_t errlen)
{
	char *names[EVAL_TUNE_PERSON_MAX], path[PATH_LEN], what[WHAT_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d)
		return errno == ENOENT
			   ? 0
			   : errmsg(err, errlen, -errno, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) && n < EVAL_TUNE_PERSON_MAX) {
		size_t l = strlen(de->d_name);

		if (l > 3 && strcmp(de->d_name + l - 3, ".md") == 0 && de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
		if (n && !names[n - 1]) {
			n--;
			rc = -ENOMEM;
			break;
		}
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n && rc == 0 && !c->stop; i++) {
		char *text;
		bool kept;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
			rc = errmsg(err, errlen, -ENAMETOOLONG, "%s/%s: path too long", dir,
				    names[i]);
			break;
		}
		rc = read_all(path, SKILLS_MAX_FILE_BYTES, &text);
		if (rc < 0) {
			errmsg(err, errlen, rc, "%s: cannot read the variant: %s", path,
			       strerror(-rc));
			break;
		}
		if ((size_t)snprintf(what, sizeof(what), "written by a person: %s", path) >=
		    sizeof(what))
			what[sizeof(what) - 1] = '\0';
		rc = try_variant(c, 1, what, text, &kept);
		free(text);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return rc;
}

/* One round of mutations of the current text; *kept when one was kept. */
static int mutation_round(struct ctx *c, unsigned round, bool *kept)
{
	static const char *const rule_names[] = {"quoted example", "parenthesis", "filler words"};
	struct doc *d = malloc(sizeof(*d));
	char what[WHAT_MAX], b1[120], b2[120];
	int rc = 0;

	*kept = false;
	if (!d)
		return -ENOMEM;
	if (doc_split(c->t->final_text, d) < 0) {
		free(d);
		return 0; /* too long to mutate line by line; skills_load would refuse it too */
	}
	for (int pass = 0; pass < 5 && !*kept && !c->stop && rc == 0; pass++) {
		for (unsigned u = 0; u < d->nu && !*kept && !c->stop && rc == 0; u++) {
			char *text = NULL, *ut = unit_text(d, u), *tt = NULL;

			if (!ut) {
				rc = -ENOMEM;
				break;
			}
			brief(ut, b1, sizeof(b1));
			if (pass == 0) {
				text = doc_build(d, u, NULL, -1);
				snprintf(what, sizeof(what), "drop line %u: \"%s\"",
					 d->ustart[u] + 1, b1);
			} else if (pass == 1 && u > 0) {
				text = doc_build(d, u, NULL, (int)u - 1);
				snprintf(what, sizeof(what),
					 "move line %u up, above line %u: \"%s\"", d->ustart[u] + 1,
					 d->ustart[u - 1] + 1, b1);
			} else if (pass >= 2 && (tt = tighten(ut, pass - 2))) {
				brief(tt, b2, sizeof(b2));
				text = doc_build(d, u, tt, -1);
				snprintf(what, sizeof(what),
					 "tighten line %u (%s): \"%s\" -> \"%s\"", d->ustart[u] + 1,
					 rule_names[pass - 2], b1, b2);
			}
			free(ut);
			free(tt);
			if (!text)
				continue;
			rc = try_variant(c, round, what, text, kept);
			free(text);
		}
	}
	free(d);
	return rc;
}

static bool skill_id_ok(const char *s)
{
	if (!*s || strlen(s) >= SKILLS_MAX_ID)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

int eval_tune(const struct eval_set *set, const struct eval_options *o,
	      const struct eval_tune_options *to, FILE *progress, struct eval_tune **ret, char *err,
	      size_t errlen)
{
	const char *base = o->paths.base ? o->paths.base : ".";
	char manifest[PATH_LEN], dir[PATH_LEN], scratch[PATH_LEN], smanifest[PATH_LEN],
	    sskill[PATH_LEN], vdir[PATH_LEN], msg[EVAL_ERROR_MAX];
	const char *tmp = to->scratch_parent ? to->scratch_parent : getenv("TMPDIR");
	struct skills_error kerr;
	struct skills *sk = NULL;
	struct eval_tune *t;
	struct ctx c = {0};
	char *slash, *original = NULL;
	bool have_scratch = false, kept;
	int rc;

	*ret = NULL;
	if (!to->skill || !skill_id_ok(to->skill))
		return errmsg(err, errlen, -EINVAL,
			      "--tune %s: a skill id is lower case letters, digits and '_' "
			      "(the file skills/<id>.md)",
			      to->skill ? to->skill : "(none)");
	snprintf(manifest, sizeof(manifest), "%s", o->paths.skills ? o->paths.skills : "");
	if (!o->paths.skills)
		snprintf(manifest, sizeof(manifest), "%s/skills/manifest.conf", base);
	snprintf(dir, sizeof(dir), "%s", manifest);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	rc = skills_load(manifest, &sk, &kerr);
	if (rc < 0)
		return errmsg(err, errlen, rc, "%s", kerr.msg);
	if (skills_find(sk, to->skill) < 0) {
		size_t off = 0;

		for (size_t i = 0; i < skills_count(sk) && off < sizeof(msg); i++)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s", i ? ", " : "",
						skills_id(sk, i));
		skills_free(sk);
		return errmsg(err, errlen, -EINVAL, "--tune %s: %s names no such skill (known: %s)",
			      to->skill, manifest, msg);
	}
	skills_free(sk);
	t = calloc(1, sizeof(*t));
	if (!t)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	t->skill = strdup(to->skill);
	t->offline = o->llm_url == NULL;
	t->repeat = o->repeat ? o->repeat : 1;
	t->scenarios = (unsigned)eval_set_count(set);
	t->responder = strdup(o->llm_url ? o->llm_url : "the offline responder");
	if (asprintf(&t->skill_path, "%s/%s.md", dir, to->skill) < 0)
		t->skill_path = NULL;
	if (!t->skill || !t->responder || !t->skill_path) {
		rc = errmsg(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	rc = read_all(t->skill_path, SKILLS_MAX_FILE_BYTES, &original);
	if (rc < 0) {
		errmsg(err, errlen, rc, "%s: cannot read: %s", t->skill_path, strerror(-rc));
		goto out;
	}
	snprintf(scratch, sizeof(scratch), "%s/edgebox-tune-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		rc = errmsg(err, errlen, -errno, "%s: cannot make the scratch folder: %s", scratch,
			    strerror(errno));
		goto out;
	}
	have_scratch = true;
	rc = copy_folder(dir, scratch, err, errlen);
	if (rc < 0)
		goto out;
	if ((size_t)snprintf(smanifest, sizeof(smanifest), "%s/%s", scratch,
			     strrchr(manifest, '/') ? strrchr(manifest, '/') + 1 : manifest) >=
		sizeof(smanifest) ||
	    (size_t)snprintf(sskill, sizeof(sskill), "%s/%s.md", scratch, to->skill) >=
		sizeof(sskill)) {
		rc = errmsg(err, errlen, -ENAMETOOLONG, "%s: path too long", scratch);
		goto out;
	}
	c.set = set;
	c.o = *o;
	c.o.paths.skills = smanifest;
	c.o.progress = NULL;
	c.manifest = smanifest;
	c.skill_file = sskill;
	c.progress = progress;
	c.t = t;
	c.budget = to->max_variants ? to->max_variants : EVAL_TUNE_DEFAULT_VARIANTS;

	/* the baseline: the file as it is */
	rc = rec_add(t, 0, "baseline: the file unchanged", original);
	if (rc < 0)
		goto out;
	rc = evaluate(&c, original, &t->base, msg, sizeof(msg));
	if (rc != 0) {
		rc = errmsg(err, errlen, rc < 0 ? rc : -EINVAL, "baseline: %s", msg);
		goto out;
	}
	t->v[0].decision = EVAL_TUNE_BASELINE;
	t->v[0].det = t->base.det;
	t->v[0].reply = t->base.reply;
	t->v[0].score = t->base.score;
	t->v[0].lines = t->base.lines;
	rec_why(&t->v[0], "the reference every variant is compared with");
	t->best = t->base;
	t->best.s = calloc(t->base.n + 1, sizeof(*t->best.s));
	t->final_text = strdup(original);
	if (!t->best.s || !t->final_text) {
		rc = errmsg(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(t->best.s, t->base.s, t->base.n * sizeof(*t->best.s));
	if (progress) {
		char a[16];

		fmt_reply(t->base.reply, a, sizeof(a));
		fprintf(progress,
			"tune %s: baseline score %.4f (deterministic %.1f%%, reply %s), %ld prompt "
			"lines over %u scenarios x %u runs, replies from %s\n",
			t->skill, t->base.score, 100 * t->base.det, a, t->base.lines, t->scenarios,
			t->repeat, t->responder);
	}
	if (progress && t->base.fallback)
		fprintf(progress,
			"warning: the model failed on %u turns of the baseline and the offline "
			"responder answered them; those turns cannot tell variants apart\n",
			t->base.fallback);
	if (to->variants_dir)
		snprintf(vdir, sizeof(vdir), "%s", to->variants_dir);
	else
		snprintf(vdir, sizeof(vdir), "%s/evals/variants/%s", base, to->skill);
	rc = person_variants(&c, vdir, err, errlen);
	if (rc < 0)
		goto out;
	for (unsigned round = 1; !c.stop; round++) {
		rc = mutation_round(&c, round, &kept);
		if (rc < 0) {
			errmsg(err, errlen, rc, "round %u: %s", round, strerror(-rc));
			goto out;
		}
		if (!kept)
			break;
	}
	if (to->apply && t->improved) {
		rc = write_atomic(t->skill_path, t->final_text);
		if (rc < 0) {
			errmsg(err, errlen, rc, "--apply: %s: cannot write: %s", t->skill_path,
			       strerror(-rc));
			goto out;
		}
		t->applied = true;
	}
	rc = 0;
out:
	if (have_scratch)
		remove_folder(scratch);
	free(original);
	if (rc < 0) {
		eval_tune_free(t);
		return rc;
	}
	*ret = t;
	return 0;
}

void eval_tune_free(struct eval_tune *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].what);
		free(t->v[i].why);
		free(t->v[i].text);
	}
	free(t->v);
	scores_free(&t->base);
	scores_free(&t->best);
	free(t->skill);
	free(t->skill_path);
	free(t->responder);
	free(t->final_text);
	free(t);
}

size_t eval_tune_count(const struct eval_tune *t)
{
	return t->n;
}

int eval_tune_at(const struct eval_tune *t, size_t i, struct eval_tune_variant *v)
{
	if (i >= t->n)
		return -ERANGE;
	v->round = t->v[i].round;
	v->what = t->v[i].what;
	v->decision = t->v[i].decision;
	v->why = t->v[i].why ? t->v[i].why : "";
	v->det_rate = t->v[i].det;
	v->reply_score = t->v[i].reply;
	v->score = t->v[i].score;
	v->prompt_lines = t->v[i].lines;
	v->text = t->v[i].text;
	return 0;
}

bool eval_tune_improved(const struct eval_tune *t)
{
	return t->improved;
}

const char *eval_tune_final_text(const struct eval_tune *t)
{
	return t->final_text;
}

bool eval_tune_applied(const struct eval_tune *t)
{
	return t->applied;
}

static const char *decision_name(enum eval_tune_decision d)
{
	switch (d) {
	case EVAL_TUNE_BASELINE:
		return "baseline";
	case EVAL_TUNE_KEPT:
		return "kept";
	case EVAL_TUNE_DROPPED:
		return "dropped";
	case EVAL_TUNE_REJECTED:
		return "rejected";
	}
	return "?";
}

int eval_tune_write_report(const struct eval_tune *t, const char *path, const char *command,
			   char *err, size_t errlen)
{
	static const char *const vh[] = {
	    "#",     "round", "variant",  "prompt lines", "deterministic",
	    "reply", "score", "decision", "why"};
	static const char *const sh[] = {"suite", "baseline deterministic", "baseline reply",
					 "final deterministic", "final reply"};
	struct eval_doc *d;
	char title[128];
	unsigned kept = 0, dropped = 0, rejected = 0;
	int rc;

	snprintf(title, sizeof(title), "edgebox skill tuning: %s", t->skill);
	rc = eval_doc_open(path, title, &d, err, errlen);
	if (rc < 0)
		return rc;
	for (size_t i = 1; i < t->n; i++) {
		kept += t->v[i].decision == EVAL_TUNE_KEPT;
		dropped += t->v[i].decision == EVAL_TUNE_DROPPED;
		rejected += t->v[i].decision == EVAL_TUNE_REJECTED;
	}
	if (command)
		eval_doc_para(d, "Command: %s", command);
	eval_doc_para(d,
		      "Skill file: %s. Replies from %s; %u scenarios x %u runs per variant. "
		      "Variants live in a scratch copy of the skills folder; %s",
		      t->skill_path, t->responder, t->scenarios, t->repeat,
		      t->applied ? "the kept text was written back (--apply)."
		      : t->improved
			  ? "skills/ is untouched (run with --apply to write the kept text)."
			  : "skills/ is untouched.");
	eval_doc_para(d,
		      "A variant is kept only when the score (deterministic pass rate + reply "
		      "score) improves and no suite's pass rate or reply score drops; a kept "
		      "variant becomes the text the next round mutates. Tried %zu: %u kept, %u "
		      "dropped, %u did not load.",
		      t->n - 1, kept, dropped, rejected);
	if (t->base.fallback)
		eval_doc_para(
		    d,
		    "Warning: the model failed on %u turns of the baseline; the offline "
		    "responder answered them, and those turns cannot tell variants apart.",
		    t->base.fallback);
	if (t->offline)
		eval_doc_para(
		    d, "Note: the offline responder does not read skill text, so no variant "
		       "can change its replies and none is kept; only the prompt sizes move. "
		       "The loop is meant for an LLM: --llm URL --model NAME --repeat N.");
	eval_doc_heading(d, 2, "Suites");
	eval_doc_table(d, 5, sh);
	for (size_t i = 0; i < t->base.n; i++) {
		const struct suite_score *b = &t->base.s[i], *f = &t->best.s[i];
		char c[5][48];
		const char *cells[5];

		snprintf(c[1], sizeof(c[1]), "%u/%u", b->passed, b->runs);
		fmt_reply(b->reply, c[2], sizeof(c[2]));
		snprintf(c[3], sizeof(c[3]), "%u/%u", f->passed, f->runs);
		fmt_reply(f->reply, c[4], sizeof(c[4]));
		for (int k = 1; k < 5; k++)
			cells[k] = c[k];
		cells[0] = b->name;
		eval_doc_row(d, cells);
	}
	eval_doc_table_end(d);
	eval_doc_heading(d, 2, "Variants tried");
	eval_doc_table(d, 9, vh);
	for (size_t i = 0; i < t->n; i++) {
		const struct rec *r = &t->v[i];
		char c[7][48];
		const char *cells[9];
		bool ran = r->decision != EVAL_TUNE_REJECTED;

		snprintf(c[0], sizeof(c[0]), "%zu", i);
		snprintf(c[1], sizeof(c[1]), "%u", r->round);
		if (ran)
			snprintf(c[2], sizeof(c[2]), "%ld (%+ld)", r->lines,
				 r->lines - t->base.lines);
		else
			snprintf(c[2], sizeof(c[2]), "-");
		snprintf(c[3], sizeof(c[3]), ran ? "%.1f%%" : "-", 100 * r->det);
		if (ran)
			fmt_reply(r->reply, c[4], sizeof(c[4]));
		else
			snprintf(c[4], sizeof(c[4]), "-");
		snprintf(c[5], sizeof(c[5]), ran ? "%.4f" : "-", r->score);
		snprintf(c[6], sizeof(c[6]), "%s", decision_name(r->decision));
		cells[0] = c[0];
		cells[1] = c[1];
		cells[2] = r->what;
		cells[3] = c[2];
		cells[4] = c[3];
		cells[5] = c[4];
		cells[6] = c[5];
		cells[7] = c[6];
		cells[8] = r->why ? r->why : "";
		eval_doc_row(d, cells);
	}
	eval_doc_table_end(d);
	eval_doc_heading(d, 2, "Final text");
	eval_doc_para(d, "%s",
		      t->improved ? "With every kept variant applied:"
				  : "Unchanged (no variant was kept):");
	eval_doc_pre(d, t->final_text ? t->final_text : "");
	return eval_doc_close(d, err, errlen);
}

int eval_tune_write_json(const struct eval_tune *t, const char *path, char *err, size_t errlen)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char *text;
	int rc;

	cJSON_AddStringToObject(root, "tool", "edgebox-eval --tune");
	cJSON_AddStringToObject(root, "skill", t->skill);
	cJSON_AddStringToObject(root, "file", t->skill_path);
	cJSON_AddStringToObject(root, "responder", t->offline ? "offline" : "llm");
	cJSON_AddNumberToObject(root, "repeat", t->repeat);
	cJSON_AddNumberToObject(root, "scenarios", t->scenarios);
	cJSON_AddBoolToObject(root, "improved", t->improved);
	cJSON_AddBoolToObject(root, "applied", t->applied);
	arr = cJSON_AddArrayToObject(root, "variants");
	for (size_t i = 0; i < t->n; i++) {
		const struct rec *r = &t->v[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "round", r->round);
		cJSON_AddStringToObject(o, "what", r->what);
		cJSON_AddStringToObject(o, "decision", decision_name(r->decision));
		cJSON_AddStringToObject(o, "why", r->why ? r->why : "");
		if (r->decision != EVAL_TUNE_REJECTED) {
			cJSON_AddNumberToObject(o, "deterministic_pass_rate", r->det);
			if (r->reply >= 0)
				cJSON_AddNumberToObject(o, "reply_score", r->reply);
			else
				cJSON_AddNullToObject(o, "reply_score");
			cJSON_AddNumberToObject(o, "score", r->score);
			cJSON_AddNumberToObject(o, "prompt_lines", (double)r->lines);
		}
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddStringToObject(root, "final_text", t->final_text ? t->final_text : "");
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return errmsg(err, errlen, -ENOMEM, "out of memory");
	if (strcmp(path, "-") == 0) {
		puts(text);
		rc = 0;
	} else {
		size_t n = strlen(text);
		char *t2 = realloc(text, n + 2);

		if (t2) {
			text = t2;
			memcpy(text + n, "\n", 2);
		}
		rc = write_atomic(path, text);
		if (rc < 0)
			errmsg(err, errlen, rc, "%s: cannot write: %s", path, strerror(-rc));
	}
	free(text);
	return rc;
}
