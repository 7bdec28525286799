/*
 * test_strbuf — the growing string the reports and bundles are built with:
 * no cap, a cap with its mark, cuts on a UTF-8 boundary, long formats.
 */
#include "tests/test.h"

#include <stdlib.h>

#include "hal/strbuf.h"

TEST(a_zeroed_builder_grows_without_a_cap)
{
	struct strbuf b = {0};
	char *s;

	s = strbuf_take(&b);
	ASSERT_STREQ(s, "");
	free(s);
	for (int i = 0; i < 1000; i++)
		strbuf_add(&b, "line %d\n", i);
	ASSERT(!b.cut);
	ASSERT_CONTAINS(b.p, "line 0\n");
	ASSERT_CONTAINS(b.p, "line 999\n");
	strbuf_str(&b, "end");
	strbuf_put(&b, "xyz", 1);
	s = strbuf_take(&b);
	ASSERT(strlen(s) > 7000);
	ASSERT(strcmp(s + strlen(s) - 4, "endx") == 0);
	free(s);
	ASSERT(b.p == NULL && b.len == 0);
}

TEST(the_cap_holds_and_the_mark_comes_once)
{
	struct strbuf b;
	char *s;

	strbuf_init(&b, 20, "...");
	strbuf_add(&b, "%s", "0123456789");
	strbuf_add(&b, "%s", "abcdefghijklmnop");
	strbuf_add(&b, "%s", "never");
	ASSERT(b.cut);
	s = strbuf_take(&b);
	ASSERT_STREQ(s, "0123456789abcdefg...");
	ASSERT_EQ(strlen(s), 20);
	free(s);
	/* exactly at the cap is not a cut */
	strbuf_init(&b, 4, "!");
	strbuf_str(&b, "abcd");
	ASSERT(!b.cut);
	strbuf_str(&b, "e");
	ASSERT(b.cut);
	ASSERT_STREQ(b.p, "abc!");
	strbuf_free(&b);
}

TEST(a_cut_never_splits_a_character)
{
	struct strbuf b;

	strbuf_init(&b, 6, "~");
	strbuf_str(&b, "ab\xc3\xa9\xc3\xa9"); /* "abéé": 6 bytes, fits */
	ASSERT(!b.cut);
	strbuf_free(&b);
	strbuf_init(&b, 5, "~");
	strbuf_str(&b, "ab\xc3\xa9\xc3\xa9"); /* room for 4 bytes before the mark */
	ASSERT(b.cut);
	ASSERT_STREQ(b.p, "ab\xc3\xa9~");
	strbuf_free(&b);
	strbuf_init(&b, 4, "~");
	strbuf_str(&b, "ab\xc3\xa9\xc3\xa9"); /* 3 bytes: the é does not fit whole */
	ASSERT_STREQ(b.p, "ab~");
	strbuf_free(&b);
}

TEST(long_formats_are_not_truncated_on_the_way_in)
{
	struct strbuf b = {0};
	char *big = malloc(5001);

	ASSERT(big);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	strbuf_add(&b, "[%s]", big);
	ASSERT_EQ(b.len, 5002);
	ASSERT(b.p[0] == '[' && b.p[5001] == ']');
	free(big);
	strbuf_free(&b);
}
