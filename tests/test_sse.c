/*
 * agent/sse: line ends (CR, LF, CRLF, a CRLF split over two chunks), comments,
 * multi-line data, event names and ids, retry, the BOM, limits, and a real
 * OpenAI-style stream fed whole, byte by byte and split at every point.
 */
#include "tests/test.h"

#include "agent/sse.h"

#include <errno.h>
#include <stdlib.h>

#define MAX_EVENTS 64

struct got {
	int n;
	char event[MAX_EVENTS][64];
	char data[MAX_EVENTS][512];
	size_t data_len[MAX_EVENTS];
	char id[MAX_EVENTS][64];
	int stop_at; /* return -ECANCELED on this event (1-based); 0 never */
};

static int collect(void *ctx, const struct sse_event *ev)
{
	struct got *g = ctx;

	if (g->n >= MAX_EVENTS)
		return -ENOSPC;
	snprintf(g->event[g->n], sizeof(g->event[0]), "%s", ev->event);
	snprintf(g->data[g->n], sizeof(g->data[0]), "%s", ev->data);
	g->data_len[g->n] = ev->data_len;
	snprintf(g->id[g->n], sizeof(g->id[0]), "%s", ev->id);
	g->n++;
	if (g->stop_at && g->n == g->stop_at)
		return -ECANCELED;
	return 0;
}

/* Feeds text whole into a fresh parser; returns sse_feed's result. */
static int parse(const char *text, size_t len, struct got *g, size_t max_line, size_t max_data)
{
	struct sse_parser *p;
	int rc;

	if (sse_parser_new(max_line, max_data, &p) < 0)
		return -999;
	rc = sse_feed(p, text, len, collect, g);
	sse_parser_free(p);
	return rc;
}

TEST(basic_event)
{
	static const char s[] = "data: hello\n\n";
	struct got g = {0};

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 1024, 1024), 1);
	ASSERT_EQ(g.n, 1);
	ASSERT_STREQ(g.event[0], "message");
	ASSERT_STREQ(g.data[0], "hello");
	ASSERT_EQ(g.data_len[0], 5);
	ASSERT_STREQ(g.id[0], "");
}

TEST(line_ends_cr_lf_crlf)
{
	static const char s[] = "data: a\r\rdata: b\n\ndata: c\r\n\r\ndata: d\r\n\n";
	struct got g = {0};

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 1024, 1024), 4);
	ASSERT_STREQ(g.data[0], "a");
	ASSERT_STREQ(g.data[1], "b");
	ASSERT_STREQ(g.data[2], "c");
	ASSERT_STREQ(g.data[3], "d");
}

TEST(crlf_split_across_chunks_is_one_line_end)
{
	struct sse_parser *p;
	struct got g = {0};

	ASSERT_EQ(sse_parser_new(1024, 1024, &p), 0);
	/* "data: a" CR | LF "data: b" CR | LF CR | LF: one event "a\nb". If the
	 * split CRLF counted twice the first CRLF would end the event early. */
	ASSERT_EQ(sse_feed(p, "data: a\r", 8, collect, &g), 0);
	ASSERT_EQ(sse_feed(p, "\ndata: b\r", 9, collect, &g), 0);
	ASSERT_EQ(sse_feed(p, "\n\r", 2, collect, &g), 1);
	ASSERT_EQ(sse_feed(p, "\n", 1, collect, &g), 0);
	ASSERT_EQ(g.n, 1);
	ASSERT_STREQ(g.data[0], "a\nb");
	ASSERT_EQ(sse_finish(p), 0);
	sse_parser_free(p);
}

TEST(comments_and_keepalives_ignored)
{
	static const char s[] = ": keep-alive\n\n:\n: ping\ndata: x\n: in the middle\ndata: y\n\n";
	struct got g = {0};

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 1024, 1024), 1);
	ASSERT_STREQ(g.data[0], "x\ny");
}

TEST(multi_line_data_and_field_forms)
{
	/* No space after the colon keeps the value whole; only one space goes;
	 * a line without a colon is a field with an empty value. */
	static const char s[] = "data:one\ndata:  two\ndata\ndata: \n\n";
	struct got g = {0};

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 1024, 1024), 1);
	ASSERT_STREQ(g.data[0], "one\n two\n\n");
}

TEST(empty_data_is_dispatched_no_data_is_not)
{
	static const char s[] = "event: ping\n\ndata:\n\nid: 7\n\n";
	struct got g = {0};

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 1024, 1024), 1);
	ASSERT_STREQ(g.data[0], "");
	ASSERT_EQ(g.data_len[0], 0);
	/* The name of the event without data was spent on it. */
	ASSERT_STREQ(g.event[0], "message");
}

TEST(event_name_and_id_persist)
{
	static const char s[] = "event: delta\nid: 41\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"
				"id: x\0y\ndata: d\n\n";
	struct got g = {0};

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 1024, 1024), 4);
	ASSERT_STREQ(g.event[0], "delta");
	ASSERT_STREQ(g.id[0], "41");
	/* The name is per event, the id carries over until changed. */
	ASSERT_STREQ(g.event[1], "message");
	ASSERT_STREQ(g.id[1], "41");
	ASSERT_STREQ(g.id[2], "");
	/* An id with a NUL is ignored. */
	ASSERT_STREQ(g.id[3], "");
	ASSERT_STREQ(g.data[3], "d");
}

TEST(retry_field)
{
	struct sse_parser *p;
	struct got g = {0};

	ASSERT_EQ(sse_parser_new(64, 64, &p), 0);
	ASSERT_EQ(sse_retry_ms(p), -1);
	ASSERT_EQ(sse_feed(p, "retry: 1500\n", 12, collect, &g), 0);
	ASSERT_EQ(sse_retry_ms(p), 1500);
	ASSERT_EQ(sse_feed(p, "retry: 15x\nretry:\n", 18, collect, &g), 0);
	ASSERT_EQ(sse_retry_ms(p), 1500);
	sse_parser_free(p);
}

TEST(unknown_fields_ignored)
{
	static const char s[] = "foo: bar\nDATA: no\ndata: yes\n\n";
	struct got g = {0};

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 1024, 1024), 1);
	ASSERT_STREQ(g.data[0], "yes");
}

TEST(bom_at_start_whole_and_split)
{
	static const char s[] = "\xef\xbb\xbf"
				"data: a\n\n";
	struct sse_parser *p;
	struct got g = {0};
	size_t i;

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 64, 64), 1);
	ASSERT_STREQ(g.data[0], "a");
	/* Byte by byte: the BOM is recognised across three feeds. */
	memset(&g, 0, sizeof(g));
	ASSERT_EQ(sse_parser_new(64, 64, &p), 0);
	for (i = 0; i < sizeof(s) - 1; i++)
		ASSERT(sse_feed(p, s + i, 1, collect, &g) >= 0);
	ASSERT_EQ(g.n, 1);
	ASSERT_STREQ(g.data[0], "a");
	sse_parser_free(p);
}

TEST(bom_only_at_start_and_partial_bom_is_text)
{
	/* A BOM later in the stream is data; a would-be BOM that is not one
	 * (EF BB then 'x') keeps its bytes as text. */
	static const char later[] = "data: a\n\n\xef\xbb\xbf"
				    "data: b\n\n";
	static const char partial[] = "\xef\xbbx: 1\ndata: c\n\n";
	struct sse_parser *p;
	struct got g = {0};

	ASSERT_EQ(parse(later, sizeof(later) - 1, &g, 64, 64), 1);
	ASSERT_STREQ(g.data[0], "a");
	memset(&g, 0, sizeof(g));
	ASSERT_EQ(sse_parser_new(64, 64, &p), 0);
	ASSERT_EQ(sse_feed(p, partial, 1, collect, &g), 0);
	ASSERT_EQ(sse_feed(p, partial + 1, 1, collect, &g), 0);
	ASSERT_EQ(sse_feed(p, partial + 2, sizeof(partial) - 3, collect, &g), 1);
	ASSERT_STREQ(g.data[0], "c");
	sse_parser_free(p);
}

TEST(line_limit_exact_and_over)
{
	char line[64 + 16];
	struct sse_parser *p;
	struct got g = {0};

	/* "data: " + 10 bytes = a 16-byte line: accepted at max_line 16. */
	snprintf(line, sizeof(line), "data: 0123456789\n\n");
	ASSERT_EQ(parse(line, strlen(line), &g, 16, 64), 1);
	ASSERT_STREQ(g.data[0], "0123456789");
	/* One more byte is over, whether fed whole or in pieces; and sticky. */
	snprintf(line, sizeof(line), "data: 0123456789A\n\n");
	memset(&g, 0, sizeof(g));
	ASSERT_EQ(parse(line, strlen(line), &g, 16, 64), -E2BIG);
	ASSERT_EQ(g.n, 0);
	ASSERT_EQ(sse_parser_new(16, 64, &p), 0);
	ASSERT_EQ(sse_feed(p, "data: 01234", 11, collect, &g), 0);
	ASSERT_EQ(sse_feed(p, "56789A", 6, collect, &g), -E2BIG);
	ASSERT_EQ(sse_feed(p, "\n\n", 2, collect, &g), -E2BIG);
	ASSERT_EQ(sse_finish(p), -E2BIG);
	/* A reset starts over. */
	sse_parser_reset(p);
	ASSERT_EQ(sse_feed(p, "data: ok\n\n", 10, collect, &g), 1);
	ASSERT_STREQ(g.data[0], "ok");
	sse_parser_free(p);
}

TEST(event_limit_exact_and_over)
{
	struct got g = {0};
	/* 3 data lines of 6 bytes join to 6+1+6+1+6 = 20 bytes. */
	static const char s[] = "data: aaaaaa\ndata: bbbbbb\ndata: cccccc\n\n";

	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 64, 20), 1);
	ASSERT_EQ(g.data_len[0], 20);
	memset(&g, 0, sizeof(g));
	ASSERT_EQ(parse(s, sizeof(s) - 1, &g, 64, 19), -E2BIG);
	ASSERT_EQ(g.n, 0);
}

TEST(field_limits)
{
	char s[SSE_FIELD_MAX + 64];
	struct got g = {0};

	snprintf(s, sizeof(s), "event: %0*d\ndata: x\n\n", SSE_FIELD_MAX, 0);
	ASSERT_EQ(parse(s, strlen(s), &g, 1024, 64), 1);
	snprintf(s, sizeof(s), "event: %0*d\ndata: x\n\n", SSE_FIELD_MAX + 1, 0);
	ASSERT_EQ(parse(s, strlen(s), &g, 1024, 64), -E2BIG);
	snprintf(s, sizeof(s), "id: %0*d\ndata: x\n\n", SSE_FIELD_MAX + 1, 0);
	ASSERT_EQ(parse(s, strlen(s), &g, 1024, 64), -E2BIG);
}

TEST(bad_limits_refused)
{
	struct sse_parser *p = NULL;

	ASSERT_EQ(sse_parser_new(0, 64, &p), -EINVAL);
	ASSERT_EQ(sse_parser_new(64, SSE_LIMIT_MAX + 1ul, &p), -EINVAL);
	ASSERT(p == NULL);
	sse_parser_free(NULL);
}

TEST(callback_stop_is_sticky)
{
	static const char s[] = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	struct sse_parser *p;
	struct got g = {0};

	g.stop_at = 2;
	ASSERT_EQ(sse_parser_new(64, 64, &p), 0);
	ASSERT_EQ(sse_feed(p, s, sizeof(s) - 1, collect, &g), -ECANCELED);
	ASSERT_EQ(g.n, 2);
	ASSERT_EQ(sse_feed(p, "data: 4\n\n", 9, collect, &g), -ECANCELED);
	ASSERT_EQ(g.n, 2);
	sse_parser_free(p);
}

TEST(finish_reports_truncation)
{
	struct sse_parser *p;
	struct got g = {0};

	ASSERT_EQ(sse_parser_new(64, 64, &p), 0);
	ASSERT_EQ(sse_feed(p, "data: a\n\n", 9, collect, &g), 1);
	ASSERT_EQ(sse_finish(p), 0);
	/* Data without the blank line: discarded, and finish says so. */
	ASSERT_EQ(sse_feed(p, "data: b\n", 8, collect, &g), 0);
	ASSERT_EQ(sse_finish(p), -EPIPE);
	sse_parser_reset(p);
	ASSERT_EQ(sse_feed(p, "data: c", 7, collect, &g), 0);
	ASSERT_EQ(sse_finish(p), -EPIPE);
	ASSERT_EQ(g.n, 1);
	ASSERT_EQ(sse_bytes(p), 7);
	ASSERT_EQ(sse_events(p), 0);
	sse_parser_free(p);
}

/* A llama.cpp-like stream: CRLF line ends, a keep-alive, an id, multibyte
 * UTF-8 (2, 3 and 4 bytes), a tool call, a usage chunk, [DONE]. */
static const char stream[] =
    ": ping\r\n\r\n"
    "id: 1\r\n"
    "data: "
    "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Grüße \xe2\x82\xac "
    "\xf0\x9f\x91\x8b\"}}]}\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
    "\"type\":\"function\",\"function\":{\"name\":\"catalog_lookup\",\"arguments\":\"\"}}]}}]}"
    "\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"{\\\"sku\\\":\\\"TV-80\\\"}\"}}]}}]}\n\n"
    "event: usage\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\n"
    "data: \"completion_tokens\":7}}\r\r"
    "data: [DONE]\n\n";

static void expect_stream(const struct got *g, int *ok)
{
	*ok = 0;
	if (g->n != 6)
		return;
	if (strcmp(g->id[0], "1") || strcmp(g->id[5], "1"))
		return;
	if (!strstr(g->data[1], "Grüße \xe2\x82\xac \xf0\x9f\x91\x8b"))
		return;
	if (!strstr(g->data[2], "catalog_lookup") || !strstr(g->data[3], "TV-80"))
		return;
	if (strcmp(g->event[4], "usage") || !strstr(g->data[4], "12,\n\"completion_tokens\""))
		return;
	if (strcmp(g->data[5], "[DONE]") || strcmp(g->event[5], "message"))
		return;
	*ok = 1;
}

TEST(real_stream_whole)
{
	struct got g = {0};
	int ok;

	ASSERT_EQ(parse(stream, sizeof(stream) - 1, &g, 1024, 4096), 6);
	expect_stream(&g, &ok);
	ASSERT_MSG(ok, "events: %d; data[1]=%s data[4]=%s", g.n, g.data[1], g.data[4]);
}

TEST(real_stream_byte_by_byte)
{
	struct sse_parser *p;
	struct got g = {0};
	size_t i;
	int ok;

	ASSERT_EQ(sse_parser_new(1024, 4096, &p), 0);
	for (i = 0; i < sizeof(stream) - 1; i++)
		ASSERT(sse_feed(p, stream + i, 1, collect, &g) >= 0);
	ASSERT_EQ(sse_finish(p), 0);
	sse_parser_free(p);
	expect_stream(&g, &ok);
	ASSERT(ok);
}

TEST(real_stream_every_split_point)
{
	struct sse_parser *p;
	size_t i, j, n = sizeof(stream) - 1;
	int ok;

	ASSERT_EQ(sse_parser_new(1024, 4096, &p), 0);
	/* Every way to cut the stream in three pieces: covers splits inside
	 * every CRLF, every UTF-8 character, the BOM-free start and the
	 * "data" field name. */
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j += 7) {
			struct got g = {0};

			sse_parser_reset(p);
			ASSERT(sse_feed(p, stream, i, collect, &g) >= 0);
			ASSERT(sse_feed(p, stream + i, j - i, collect, &g) >= 0);
			ASSERT(sse_feed(p, stream + j, n - j, collect, &g) >= 0);
			ASSERT_EQ(sse_finish(p), 0);
			expect_stream(&g, &ok);
			ASSERT_MSG(ok, "split at %zu and %zu: %d events", i, j, g.n);
		}
	}
	sse_parser_free(p);
}
