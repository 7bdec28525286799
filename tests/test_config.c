#include "tests/test.h"
#include "firmware/config.h"

#include <errno.h>
#include <stdio.h>

static struct config *load(const char *text, struct config_error *err)
{
	struct config *c = NULL;

	if (config_load_string("t.conf", "/etc/edgebox", text, &c, err) < 0)
		return NULL;
	return c;
}

TEST(parses_sections_keys_comments_and_quotes)
{
	struct config_error err;
	struct config *c =
	    load("# top\n[ble]\ndriver = btsnoop\n; other\n  file = \"a b.snoop\"  \n"
		 "[camera]\ndriver=replay\n",
		 &err);
	const char *v;

	ASSERT(c);
	ASSERT_STREQ(config_get(c, "ble", "driver"), "btsnoop");
	ASSERT_STREQ(config_get(c, "ble", "file"), "a b.snoop");
	ASSERT_EQ(config_str(c, "camera", "driver", NULL, true, &v, &err), 0);
	ASSERT_STREQ(v, "replay");
	ASSERT(config_get(c, "camera", "file") == NULL);
	ASSERT(config_has_section(c, "ble"));
	ASSERT(!config_has_section(c, "gpio"));
	config_free(c);
}

TEST(later_keys_override_earlier_ones)
{
	struct config_error err;
	struct config *c = load("[a]\nx = 1\nx = 2\n", &err);

	ASSERT(c);
	ASSERT_STREQ(config_get(c, "a", "x"), "2");
	ASSERT_EQ(config_check_unused(c, &err), 0);
	config_free(c);
}

TEST(syntax_errors_name_file_and_line)
{
	struct config_error err;

	ASSERT(!load("[a]\nno equals here\n", &err));
	ASSERT_CONTAINS(err.msg, "t.conf:2:");
	ASSERT_CONTAINS(err.msg, "key = value");
	ASSERT(!load("x = 1\n", &err));
	ASSERT_CONTAINS(err.msg, "t.conf:1: key 'x' comes before any [section]");
	ASSERT(!load("[a\n", &err));
	ASSERT_CONTAINS(err.msg, "t.conf:1: expected a section header");
	ASSERT(!load("[a]\nbad key = 1\n", &err));
	ASSERT_CONTAINS(err.msg, "t.conf:2: key 'bad key'");
}

TEST(typed_readers_report_expected_and_found)
{
	struct config_error err;
	struct config *c = load("[s]\nn = fast\nm = 50\nd = 1.5\nb = maybe\ne = ftp\n", &err);
	static const char *const words[] = {"hci", "btsnoop", NULL};
	long n;
	double d;
	bool b;
	int e;

	ASSERT(c);
	ASSERT_EQ(config_int(c, "s", "n", 1, 1, 100, &n, &err), -EINVAL);
	ASSERT_STREQ(err.msg, "t.conf:2: [s] n: expected a whole number from 1 to 100, got 'fast'");
	ASSERT_EQ(config_int(c, "s", "m", 1, 1, 10, &n, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:3: [s] m: expected a whole number from 1 to 10, got '50'");
	ASSERT_EQ(config_int(c, "s", "m", 1, 1, 100, &n, &err), 0);
	ASSERT_EQ(n, 50);
	ASSERT_EQ(config_int(c, "s", "absent", 7, 1, 100, &n, &err), 0);
	ASSERT_EQ(n, 7);
	ASSERT_EQ(config_double(c, "s", "d", 0, 0, 2, &d, &err), 0);
	ASSERT(d == 1.5);
	ASSERT_EQ(config_bool(c, "s", "b", false, &b, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "expected true or false, got 'maybe'");
	ASSERT_EQ(config_enum(c, "s", "e", NULL, words, &e, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:6: [s] e: expected one of hci, btsnoop, got 'ftp'");
	ASSERT_EQ(config_enum(c, "s", "missing", NULL, words, &e, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "[s] missing: missing; expected one of hci, btsnoop");
	config_free(c);
}

TEST(required_keys_and_unknown_keys)
{
	struct config_error err;
	struct config *c = load("[ble]\ndriver = hci\nadaptr = hci1\n", &err);
	const char *v;

	ASSERT(c);
	ASSERT_EQ(config_str(c, "ble", "file", NULL, true, &v, &err), -EINVAL);
	ASSERT_STREQ(err.msg, "t.conf: [ble] file: missing; this key is required");
	config_get(c, "ble", "driver");
	ASSERT_EQ(config_check_unused(c, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "t.conf:3: [ble] adaptr: unknown key");
	config_free(c);
}

TEST(paths_resolve_against_the_config_folder)
{
	struct config_error err;
	struct config *c = load("[a]\nrel = data/x.snoop\nabs = /var/x\n", &err);
	char buf[64], tiny[8];

	ASSERT(c);
	ASSERT_EQ(config_path(c, "a", "rel", NULL, true, buf, sizeof(buf), &err), 0);
	ASSERT_STREQ(buf, "/etc/edgebox/data/x.snoop");
	ASSERT_EQ(config_path(c, "a", "abs", NULL, true, buf, sizeof(buf), &err), 0);
	ASSERT_STREQ(buf, "/var/x");
	ASSERT_EQ(config_path(c, "a", "rel", NULL, true, tiny, sizeof(tiny), &err), -ENAMETOOLONG);
	config_free(c);
}

TEST(files_missing_binary_or_too_big_are_refused)
{
	struct config_error err;
	struct config *c = NULL;
	char path[300];
	FILE *f;

	ASSERT_EQ(config_load("/nonexistent/edgebox.conf", &c, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "/nonexistent/edgebox.conf: cannot open");
	snprintf(path, sizeof(path), "%s/bin.conf", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fwrite("[a]\nx=\0y\n", 1, 9, f);
	fclose(f);
	ASSERT_EQ(config_load(path, &c, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "NUL byte");
	f = fopen(path, "w");
	ASSERT(f);
	for (int i = 0; i < CONFIG_MAX_BYTES / 10 + 10; i++)
		fputs("# padding\n", f);
	fclose(f);
	ASSERT_EQ(config_load(path, &c, &err), -EFBIG);
}

TEST(real_file_relative_base_dir)
{
	struct config_error err;
	struct config *c = NULL;
	char path[300], buf[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ok.conf", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fputs("[ble]\nfile = walk.snoop\n", f);
	fclose(f);
	ASSERT_EQ(config_load(path, &c, &err), 0);
	ASSERT_EQ(config_path(c, "ble", "file", NULL, true, buf, sizeof(buf), &err), 0);
	snprintf(path, sizeof(path), "%s/walk.snoop", test_tmpdir());
	ASSERT_STREQ(buf, path);
	config_free(c);
}

TEST(command_line_overrides)
{
	struct config_error err;
	struct config *c = load("[store]\npath = a.db\n", &err);
	long n;

	ASSERT(c);
	ASSERT_EQ(config_set(c, "store.path=/tmp/b.db", &err), 0);
	ASSERT_STREQ(config_get(c, "store", "path"), "/tmp/b.db");
	ASSERT_EQ(config_set(c, "daemon.tick_ms=fast", &err), 0);
	ASSERT_EQ(config_int(c, "daemon", "tick_ms", 100, 10, 1000, &n, &err), -EINVAL);
	ASSERT_STREQ(err.msg,
		     "--set daemon.tick_ms: expected a whole number from 10 to 1000, got 'fast'");
	ASSERT_EQ(config_set(c, "nodot=1", &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "expected section.key=value");
	ASSERT_EQ(config_set(c, "a.b", &err), -EINVAL);
	ASSERT_EQ(config_set(c, "ble.typo=1", &err), 0);
	ASSERT_EQ(config_check_unused(c, &err), -EINVAL);
	ASSERT_STREQ(err.msg,
		     "--set ble.typo: unknown key; check the spelling against config/edgebox.conf");
	config_free(c);
}

TEST(inline_comments_end_unquoted_values)
{
	struct config_error err;
	struct config *c =
	    load("[a]\nx = hci      # the adapter\ny = a;b ; note\nz = \"q # kept\"\nw = c#d\n"
		 "e =    # nothing\n",
		 &err);

	ASSERT(c);
	ASSERT_STREQ(config_get(c, "a", "x"), "hci");
	ASSERT_STREQ(config_get(c, "a", "y"), "a;b");
	ASSERT_STREQ(config_get(c, "a", "z"), "q # kept");
	ASSERT_STREQ(config_get(c, "a", "w"), "c#d");
	ASSERT_STREQ(config_get(c, "a", "e"), "");
	config_free(c);
}
