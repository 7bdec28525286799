#include "tests/test.h"
#include "agent/conf_lines.h"

#include <errno.h>

/* What the callbacks saw, one "LINE [name]" or "LINE key=value" per call, ';'-separated. */
struct seen {
	char log[1024];
	int fail_line; /* a callback at this line returns -ERANGE with its own message */
	char *err;
	size_t errlen;
};

static int record(struct seen *s, int line, const char *what)
{
	size_t len = strlen(s->log);

	snprintf(s->log + len, sizeof(s->log) - len, "%d %s;", line, what);
	if (line == s->fail_line) {
		snprintf(s->err, s->errlen, "callback refused line %d", line);
		return -ERANGE;
	}
	return 0;
}

static int on_section(void *ctx, int line, const char *name)
{
	char what[64];

	snprintf(what, sizeof(what), "[%s]", name);
	return record(ctx, line, what);
}

static int on_entry(void *ctx, int line, const char *key, char *value)
{
	char what[64];

	snprintf(what, sizeof(what), "%s=%s", key, value);
	return record(ctx, line, what);
}

static const struct conf_lines_ops ops = {
    .max_line = 16,
    .section_example = "demo",
    .section = on_section,
    .entry = on_entry,
};

static struct seen seen;
static char err[256];

static int walk(const char *text)
{
	memset(&seen, 0, sizeof(seen));
	seen.err = err;
	seen.errlen = sizeof(err);
	strcpy(err, "untouched");
	return conf_lines_each(&ops, "t.conf", text, &seen, err, sizeof(err));
}

/* Each text, what the callbacks saw, and the result (0, or -EINVAL with err). */
static const struct {
	const char *text, *log, *err;
} cases[] = {
    /* sections and entries in order, trimmed, with their line numbers */
    {"[a]\nx = 1\ny=two words\n[ b.c ]\n  z =  3  \n", "1 [a];2 x=1;3 y=two words;4 [b.c];5 z=3;",
     NULL},
    /* comments and blank lines are skipped but counted */
    {"# head\n\n[a]\n  ; note\n\t\n x = 1\n", "3 [a];6 x=1;", NULL},
    /* split at the first '='; a value may be empty; an empty name goes to the caller */
    {"[a]\nk = a=b\ne =\n[ ]\n", "1 [a];2 k=a=b;3 e=;4 [];", NULL},
    /* CRLF */
    {"[a]\r\nx = 1\r\n\r\n# c\r\ny = 2\r\n", "1 [a];2 x=1;5 y=2;", NULL},
    /* no final newline */
    {"[a]\nx = 1", "1 [a];2 x=1;", NULL},
    {"[a]", "1 [a];", NULL},
    {"", "", NULL},
    /* 16 characters, the limit, read; with CRLF too: the line end does not count */
    {"[a]\nkey = 1234567890\nkey = 0987654321\r\n", "1 [a];2 key=1234567890;3 key=0987654321;",
     NULL},
    {"[a]\nkey = 1234567890\r", "1 [a];2 key=1234567890;", NULL},
    {"[a]\nkey = 12345678901\n", "1 [a];", "t.conf:2: line longer than 16 characters"},
    /* the limit is on the raw line, comments included */
    {"#23456789012345678", "", "t.conf:1: line longer than 16 characters"},
    {"[a]\n[b\n", "1 [a];", "t.conf:2: expected a section header like [demo], got '[b'"},
    {"[a] x\n", "", "t.conf:1: expected a section header like [demo], got '[a] x'"},
    {"[a]\n\njust words \n", "1 [a];", "t.conf:3: expected 'key = value', got 'just words'"},
    {"# c\n key = v\n[a]\n", "", "t.conf:2: 'key' comes before any [section]; put it under one"},
};

TEST(each_case_walks_to_its_sections_entries_and_error)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = walk(cases[i].text);

		ASSERT_MSG(rc == (cases[i].err ? -EINVAL : 0), "case %zu: rc %d", i, rc);
		ASSERT_MSG(strcmp(seen.log, cases[i].log) == 0, "case %zu: saw \"%s\"", i,
			   seen.log);
		ASSERT_MSG(strcmp(err, cases[i].err ? cases[i].err : "untouched") == 0,
			   "case %zu: err \"%s\"", i, err);
	}
}

TEST(the_long_line_message_carries_the_format_hint)
{
	struct conf_lines_ops hinted = ops;

	hinted.long_line_hint = "; split it";
	memset(&seen, 0, sizeof(seen));
	ASSERT_EQ(
	    conf_lines_each(&hinted, "t.conf", "[a]\nkey = 12345678901", &seen, err, sizeof(err)),
	    -EINVAL);
	ASSERT_STREQ(err, "t.conf:2: line longer than 16 characters; split it");
}

TEST(a_callback_error_stops_the_walk_and_is_returned)
{
	memset(&seen, 0, sizeof(seen));
	seen.err = err;
	seen.errlen = sizeof(err);
	seen.fail_line = 3;
	ASSERT_EQ(conf_lines_each(&ops, "t.conf", "[a]\nx = 1\ny = 2\n[b]\nz = 3\n", &seen, err,
				  sizeof(err)),
		  -ERANGE);
	ASSERT_STREQ(seen.log, "1 [a];2 x=1;3 y=2;");
	ASSERT_STREQ(err, "callback refused line 3");

	memset(&seen, 0, sizeof(seen));
	seen.err = err;
	seen.errlen = sizeof(err);
	seen.fail_line = 2;
	ASSERT_EQ(conf_lines_each(&ops, "t.conf", "x\n[a]\nx = 1\n", &seen, err, sizeof(err)),
		  -EINVAL); /* the tokenizer's own error on line 1 comes first */
	ASSERT_EQ(conf_lines_each(&ops, "t.conf", "\n[a]\nx = 1\n", &seen, err, sizeof(err)),
		  -ERANGE);
	ASSERT_STREQ(err, "callback refused line 2");
}

TEST(bad_arguments_and_a_null_error_buffer)
{
	struct conf_lines_ops big = ops;

	ASSERT_EQ(conf_lines_each(NULL, "t", "", NULL, err, sizeof(err)), -EINVAL);
	ASSERT_EQ(conf_lines_each(&ops, NULL, "", NULL, err, sizeof(err)), -EINVAL);
	ASSERT_EQ(conf_lines_each(&ops, "t", NULL, NULL, err, sizeof(err)), -EINVAL);
	big.max_line = CONF_LINES_MAX_LINE + 1;
	ASSERT_EQ(conf_lines_each(&big, "t", "", NULL, err, sizeof(err)), -EINVAL);
	big.max_line = 0;
	ASSERT_EQ(conf_lines_each(&big, "t", "", NULL, err, sizeof(err)), -EINVAL);
	memset(&seen, 0, sizeof(seen));
	ASSERT_EQ(conf_lines_each(&ops, "t", "oops\n", &seen, NULL, 0), -EINVAL);
}

TEST(trim_strips_both_ends_in_place)
{
	char s[] = " \t a b \r\n";

	ASSERT_STREQ(conf_lines_trim(s), "a b");
	ASSERT_STREQ(conf_lines_trim(s + sizeof(s) - 1), "");
}
