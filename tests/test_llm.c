/*
 * agent/llm against tests/llm_server.py, a scripted OpenAI-compatible server
 * replaying tests/fixtures/llm/<model>.json: normal streams, tool calls in
 * pieces, UTF-8 cut anywhere, malformed JSON, HTTP errors, stalls, drops,
 * floods, cancellation, retries and the circuit breaker. Every scenario
 * asserts its outcome, what the customer saw, and what the server received.
 */
#include "tests/test.h"
#include "tests/support/script_server.h"

#include "agent/llm.h"
#include "firmware/config.h"
#include "hal/time.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000ull

/* ---- the scripted server, one per test binary ---- */

static int server_port;

/* The scripted server (tests/support/script_server.c); 0 or -1. */
static int server_start(void)
{
	server_port = script_server_start();
	return server_port > 0 ? 0 : -1;
}

struct body {
	char *p;
	size_t len;
};

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t n = size * nmemb;
	char *np = realloc(b->p, b->len + n + 1);

	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* GET or POST (post != NULL) a path on the server; the body, malloc'd. */
static char *server_http(const char *path, const char *post)
{
	struct body b = {0};
	char url[128];
	CURL *e = curl_easy_init();
	CURLcode rc;

	if (!e)
		return NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	if (post)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	rc = curl_easy_perform(e);
	curl_easy_cleanup(e);
	if (rc != CURLE_OK) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* The requests the server got since the last reset (cJSON array; caller
 * deletes). */
static cJSON *server_requests(void)
{
	char *s = server_http("/requests", NULL);
	cJSON *a = s ? cJSON_Parse(s) : NULL;

	free(s);
	return a;
}

static int server_request_count(void)
{
	cJSON *a = server_requests();
	int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;

	cJSON_Delete(a);
	return n;
}

/* Starts (once) and resets the server; fills p for script model. */
static int setup(struct llm_params *p, const char *model)
{
	char *s;

	if (server_start() < 0)
		return -1;
	s = server_http("/reset", "");
	if (!s)
		return -1;
	free(s);
	llm_params_default(p);
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d/v1/chat/completions", server_port);
	snprintf(p->model, sizeof(p->model), "%s", model);
	snprintf(p->api_key, sizeof(p->api_key), "sk-test-123");
	p->connect_timeout_ms = 1000;
	p->first_token_timeout_ms = 3000;
	p->gap_timeout_ms = 1500;
	p->request_timeout_ms = 10000;
	p->max_retries = 0;
	p->backoff_ms = 10;
	p->backoff_max_ms = 40;
	p->breaker_failures = 100;
	p->breaker_cooldown_ms = 300;
	return 0;
}

#define SETUP(p, model) ASSERT_MSG(setup(&(p), model) == 0, "cannot start tests/llm_server.py")

static const char conversation[] = "[{\"role\":\"system\",\"content\":\"You sell TV packs.\"},"
				   "{\"role\":\"user\",\"content\":\"Which pack has football?\"}]";

static const char tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"catalog_lookup\",\"description\":"
    "\"A product by SKU\",\"parameters\":{\"type\":\"object\",\"properties\":{\"sku\":{"
    "\"type\":\"string\"}}}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"check_stock\",\"description\":"
    "\"Stock in a store\",\"parameters\":{\"type\":\"object\",\"properties\":{\"store\":{"
    "\"type\":\"string\"}}}}}]";

/* ---- what a test's callbacks saw ---- */

struct seen {
	char text[1 << 16];
	size_t text_len;
	unsigned pieces;
	bool bad_piece; /* a piece that was not whole, valid UTF-8 */
	unsigned calls;
	char call_id[4][64], call_name[4][64], call_args[4][256];
	const char *result;		   /* what on_tool_call returns (NULL: a default) */
	size_t result_bytes;		   /* > 0: return a result this long instead */
	struct llm_client *cancel_in_tool; /* llm_cancel this from on_tool_call */
	uint64_t cancel_at;		   /* should_cancel true from this time (ns) */
	uint64_t cancelled_at;		   /* when it first answered true */
};

/* Whole, valid UTF-8 (the same rules as the client: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static bool valid_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		int n = *s < 0x80   ? 1
			: *s < 0xc2 ? 0
			: *s < 0xe0 ? 2
			: *s < 0xf0 ? 3
			: *s < 0xf5 ? 4
				    : 0;
		int i;

		if (!n)
			return false;
		for (i = 1; i < n; i++)
			if ((s[i] & 0xc0) != 0x80)
				return false;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
		    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return false;
		s += n;
	}
	return true;
}

static void on_token(void *ctx, const char *utf8)
{
	struct seen *s = ctx;
	size_t n = strlen(utf8);

	s->pieces++;
	if (!n || !valid_utf8(utf8))
		s->bad_piece = true;
	if (s->text_len + n < sizeof(s->text)) {
		memcpy(s->text + s->text_len, utf8, n + 1);
		s->text_len += n;
	}
}

static int on_tool_call(void *ctx, const char *id, const char *name, const char *args,
			char **ret_result)
{
	struct seen *s = ctx;
	char buf[256];

	if (s->calls < 4) {
		snprintf(s->call_id[s->calls], sizeof(s->call_id[0]), "%s", id);
		snprintf(s->call_name[s->calls], sizeof(s->call_name[0]), "%s", name);
		snprintf(s->call_args[s->calls], sizeof(s->call_args[0]), "%s", args);
	}
	s->calls++;
	if (s->cancel_in_tool)
		llm_cancel(s->cancel_in_tool);
	if (s->result_bytes) {
		*ret_result = malloc(s->result_bytes + 1);
		if (!*ret_result)
			return -ENOMEM;
		memset(*ret_result, 'r', s->result_bytes);
		(*ret_result)[s->result_bytes] = '\0';
		return 0;
	}
	if (s->result) {
		*ret_result = strdup(s->result);
	} else if (strcmp(name, "catalog_lookup") == 0) {
		*ret_result = strdup("{\"sku\":\"TV-80\",\"price\":\"costs 39 a month\"}");
	} else {
		snprintf(buf, sizeof(buf), "{\"stock\":\"in stock\",\"args\":%s}", args);
		*ret_result = strdup(buf);
	}
	return *ret_result ? 0 : -ENOMEM;
}

static bool should_cancel(void *ctx)
{
	struct seen *s = ctx;

	if (s->cancel_at && hal_now_ns() >= s->cancel_at) {
		if (!s->cancelled_at)
			s->cancelled_at = hal_now_ns();
		return true;
	}
	return false;
}

static const struct llm_callbacks callbacks = {on_token, on_tool_call, should_cancel};
static const struct llm_callbacks no_poll = {on_token, on_tool_call, NULL};

static int chat(const struct llm_params *p, const char *tools_json, struct seen *s,
		struct llm_result *r)
{
	struct llm_client *c;
	int rc;

	rc = llm_client_new(p, &c);
	if (rc < 0) {
		memset(r, 0, sizeof(*r));
		snprintf(r->detail, sizeof(r->detail), "llm_client_new: %d", rc);
		r->outcome = LLM_INTERNAL_ERROR;
		return rc;
	}
	rc = llm_chat(c, conversation, tools_json, &callbacks, s, r);
	llm_client_free(c);
	return rc;
}

#define ASSERT_OUTCOME(r, o)                                                                       \
	ASSERT_MSG((r).outcome == (o), "outcome %s, expected %s: %s",                              \
		   llm_outcome_name((r).outcome), llm_outcome_name(o), (r).detail)

/* ---- configuration ---- */

static int load(const char *text, struct config **cfg, struct config_error *err)
{
	return config_load_string("test.conf", test_tmpdir(), text, cfg, err);
}

TEST(params_from_config)
{
	struct config_error err = {{0}};
	struct llm_params p;
	struct config *cfg;
	char text[1024], path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/key", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fputs("sk-from-file\n", f);
	fclose(f);
	snprintf(text, sizeof(text),
		 "[llm]\nurl = http://10.0.0.5:11434/v1\nmodel = qwen2.5:7b\n"
		 "api_key_file = key\nconnect_timeout_ms = 500\nfirst_token_timeout_ms = 9000\n"
		 "gap_timeout_ms = 700\nmax_retries = 1\nbreaker_failures = 5\n"
		 "breaker_cooldown_ms = 1000\nmax_steps = 3\nmax_reply_bytes = 4096\n"
		 "temperature = 0.2\nstream_usage = false\nmax_tokens = 0\n");
	ASSERT_EQ(load(text, &cfg, &err), 0);
	ASSERT_MSG(llm_params_from_config(cfg, "llm", &p, &err) == 0, "%s", err.msg);
	ASSERT_EQ(config_check_unused(cfg, &err), 0);
	config_free(cfg);
	ASSERT(llm_params_configured(&p));
	ASSERT_STREQ(p.url, "http://10.0.0.5:11434/v1/chat/completions");
	ASSERT_STREQ(p.model, "qwen2.5:7b");
	ASSERT_STREQ(p.api_key, "sk-from-file");
	ASSERT_EQ(p.connect_timeout_ms, 500);
	ASSERT_EQ(p.first_token_timeout_ms, 9000);
	ASSERT_EQ(p.gap_timeout_ms, 700);
	ASSERT_EQ(p.max_retries, 1);
	ASSERT_EQ(p.breaker_failures, 5);
	ASSERT_EQ(p.max_steps, 3);
	ASSERT_EQ(p.max_reply_bytes, 4096);
	ASSERT_EQ(p.max_tokens, 0);
	ASSERT(!p.stream_usage);
	ASSERT(p.temperature > 0.19 && p.temperature < 0.21);

	/* No section, or an empty url: no LLM, defaults kept. */
	ASSERT_EQ(load("[daemon]\n", &cfg, &err), 0);
	ASSERT_EQ(llm_params_from_config(cfg, "llm", &p, &err), 0);
	config_free(cfg);
	ASSERT(!llm_params_configured(&p));
	ASSERT_EQ(load("[llm]\nurl =\nmodel =\napi_key =\n", &cfg, &err), 0);
	ASSERT_MSG(llm_params_from_config(cfg, "llm", &p, &err) == 0, "%s", err.msg);
	ASSERT_EQ(config_check_unused(cfg, &err), 0);
	config_free(cfg);
	ASSERT(!llm_params_configured(&p));
	ASSERT_EQ(p.max_retries, 2);
	ASSERT_EQ(p.first_token_timeout_ms, 20000);
}

static void expect_config_error(const char *text, const char *needle, int *ok, char *msg,
				size_t len)
{
	struct config_error err = {{0}};
	struct llm_params p;
	struct config *cfg;
	int rc;

	*ok = 0;
	if (load(text, &cfg, &err) < 0) {
		snprintf(msg, len, "config did not load: %s", err.msg);
		return;
	}
	rc = llm_params_from_config(cfg, "llm", &p, &err);
	config_free(cfg);
	snprintf(msg, len, "rc %d: %s", rc, err.msg);
	*ok = rc < 0 && strstr(err.msg, needle) != NULL;
}

TEST(params_from_config_errors)
{
	static const struct {
		const char *text, *needle;
	} cases[] = {
	    {"[llm]\nurl = http://h/v1\nmodel = m\ngap_timeout_ms = soon\n",
	     "test.conf:4: [llm] gap_timeout_ms: expected a whole number"},
	    {"[llm]\nurl = ftp://h/v1\nmodel = m\n", "[llm] url: expected an http:// or https://"},
	    {"[llm]\nurl = http://h/v1\n", "[llm] model: missing"},
	    {"[llm]\nurl = http://h/v1\nmodel = two words\n", "[llm] model: expected"},
	    {"[llm]\nurl = http://h/v1\nmodel = m\napi_key = a\napi_key_file = k\n", "both set"},
	    {"[llm]\nurl = http://h/v1\nmodel = m\napi_key_file = missing-key\n",
	     "api_key_file: cannot read"},
	    {"[llm]\nurl = http://h/v1\nmodel = m\nconnect_timeout_ms = 5000\n"
	     "first_token_timeout_ms = 4000\n",
	     "first_token_timeout_ms: 4000 must be above connect_timeout_ms"},
	    {"[llm]\nurl = http://h/v1\nmodel = m\nmax_steps = 0\n",
	     "test.conf:4: [llm] max_steps: expected a whole number from 1 to 32, got '0'"},
	    {"[llm]\nurl = http://h/v1\nmodel = m\nbackoff_ms = 500\nbackoff_max_ms = 100\n",
	     "backoff_max_ms: 100 is below backoff_ms"},
	};
	char msg[CONFIG_ERROR_MAX + 32];
	size_t i;
	int ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_config_error(cases[i].text, cases[i].needle, &ok, msg, sizeof(msg));
		ASSERT_MSG(ok, "case %zu: expected \"%s\", got %s", i, cases[i].needle, msg);
	}
}

TEST(client_rejects_bad_params)
{
	struct llm_client *c = NULL;
	struct llm_params p;

	llm_params_default(&p);
	ASSERT_EQ(llm_client_new(&p, &c), -EINVAL); /* no url */
	snprintf(p.url, sizeof(p.url), "http://127.0.0.1:1/v1/chat/completions");
	ASSERT_EQ(llm_client_new(&p, &c), -EINVAL); /* no model */
	snprintf(p.model, sizeof(p.model), "m");
	p.max_steps = 0;
	ASSERT_EQ(llm_client_new(&p, &c), -EINVAL);
	p.max_steps = 4;
	snprintf(p.api_key, sizeof(p.api_key), "a\r\nX-Evil: 1");
	ASSERT_EQ(llm_client_new(&p, &c), -EINVAL); /* header injection */
	p.api_key[0] = '\0';
	ASSERT_EQ(llm_client_new(&p, &c), 0);
	llm_client_free(c);
	llm_client_free(NULL);
}

TEST(names)
{
	ASSERT_STREQ(llm_outcome_name(LLM_OK), "ok");
	ASSERT_STREQ(llm_outcome_name(LLM_TIMEOUT_FIRST_TOKEN), "timeout_first_token");
	ASSERT_STREQ(llm_outcome_name(LLM_TOOL_LOOP_LIMIT), "tool_loop_limit");
	ASSERT(llm_outcome_name(LLM_OUTCOME_COUNT) == NULL);
	ASSERT_STREQ(llm_breaker_state_name(LLM_BREAKER_HALF_OPEN), "half_open");
}

/* ---- streams ---- */

TEST(normal_stream)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;
	cJSON *reqs, *req, *body, *h, *msgs;

	memset(&s, 0, sizeof(s));
	SETUP(p, "normal");
	ASSERT_EQ(chat(&p, NULL, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_STREQ(s.text, "Hello there! The TV-80 pack fits you.");
	ASSERT_STREQ(r.reply, s.text);
	ASSERT_EQ(s.pieces, 5);
	ASSERT(!s.bad_piece);
	ASSERT_STREQ(r.finish_reason, "stop");
	ASSERT_EQ(r.prompt_tokens, 42);
	ASSERT_EQ(r.completion_tokens, 6);
	ASSERT_EQ(r.attempts, 1);
	ASSERT_EQ(r.steps, 1);
	ASSERT_EQ(r.http_status, 200);
	ASSERT(r.ttft_ms >= 0 && r.ttft_ms <= r.elapsed_ms);
	ASSERT(r.bytes_received > 300);
	ASSERT_STREQ(r.messages_json, "[{\"role\":\"assistant\",\"content\":\"Hello there! The "
				      "TV-80 pack fits you.\"}]");
	llm_result_release(&r);

	/* What went over the wire. */
	reqs = server_requests();
	ASSERT_EQ(cJSON_GetArraySize(reqs), 1);
	req = cJSON_GetArrayItem(reqs, 0);
	body = cJSON_GetObjectItem(req, "body");
	h = cJSON_GetObjectItem(req, "headers");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(body, "model")), "normal");
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(body, "stream")));
	ASSERT(cJSON_IsTrue(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(body, "stream_options"), "include_usage")));
	ASSERT_EQ(cJSON_GetObjectItem(body, "max_tokens")->valuedouble, 512);
	ASSERT(cJSON_GetObjectItem(body, "tools") == NULL);
	msgs = cJSON_GetObjectItem(body, "messages");
	ASSERT_EQ(cJSON_GetArraySize(msgs), 2);
	ASSERT_STREQ(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content")),
	    "Which pack has football?");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(h, "authorization")),
		     "Bearer sk-test-123");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(h, "accept")), "text/event-stream");
	ASSERT(cJSON_GetObjectItem(h, "expect") == NULL);
	cJSON_Delete(reqs);
}

TEST(keep_alive_reuses_the_connection)
{
	static struct seen s;
	struct llm_client *c;
	struct llm_params p;
	struct llm_result r;
	cJSON *reqs;
	double a, b;

	memset(&s, 0, sizeof(s));
	SETUP(p, "normal");
	ASSERT_EQ(llm_client_new(&p, &c), 0);
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), 0);
	llm_result_release(&r);
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), 0);
	llm_result_release(&r);
	llm_client_free(c);
	reqs = server_requests();
	ASSERT_EQ(cJSON_GetArraySize(reqs), 2);
	a = cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0), "conn")->valuedouble;
	b = cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 1), "conn")->valuedouble;
	cJSON_Delete(reqs);
	ASSERT_MSG(a == b, "connections %g and %g", a, b);
}

TEST(tool_calls_split_across_chunks)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;
	cJSON *reqs, *msgs, *m, *appended;

	memset(&s, 0, sizeof(s));
	SETUP(p, "tool_split");
	ASSERT_EQ(chat(&p, tools, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	/* Each call ran once, after its arguments were whole. */
	ASSERT_EQ(s.calls, 2);
	ASSERT_EQ(r.tool_calls_run, 2);
	ASSERT_STREQ(s.call_id[0], "call_a");
	ASSERT_STREQ(s.call_name[0], "catalog_lookup");
	ASSERT_STREQ(s.call_args[0], "{\"sku\":\"TV-80\"}");
	ASSERT_STREQ(s.call_id[1], "call_b");
	ASSERT_STREQ(s.call_name[1], "check_stock");
	ASSERT_STREQ(s.call_args[1], "{\"store\": \"north\"}");
	ASSERT_STREQ(s.text, "The TV-80 pack costs 39 a month and the north store has it.");
	ASSERT_EQ(r.steps, 2);
	ASSERT_EQ(r.attempts, 2);
	ASSERT_EQ(r.tool_calls_cancelled, 0);
	/* Usage of both responses, summed. */
	ASSERT_EQ(r.prompt_tokens, 90);
	ASSERT_EQ(r.completion_tokens, 26);

	/* The second request carried the assistant tool_calls and both results
	 * (the server checked too: it answers 400 on a mismatch). */
	reqs = server_requests();
	ASSERT_EQ(cJSON_GetArraySize(reqs), 2);
	msgs = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 1), "body"),
				   "messages");
	ASSERT_EQ(cJSON_GetArraySize(msgs), 5);
	m = cJSON_GetArrayItem(msgs, 2);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(m, "role")), "assistant");
	ASSERT(cJSON_IsNull(cJSON_GetObjectItem(m, "content")));
	ASSERT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(m, "tool_calls")), 2);
	m = cJSON_GetArrayItem(msgs, 3);
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(m, "tool_call_id")), "call_a");
	ASSERT_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(m, "content")), "costs 39");
	cJSON_Delete(reqs);

	/* The turn's own record: tool_calls, two results, the reply. */
	appended = cJSON_Parse(r.messages_json);
	ASSERT_EQ(cJSON_GetArraySize(appended), 4);
	ASSERT_STREQ(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(appended, 3), "content")),
	    s.text);
	cJSON_Delete(appended);
	llm_result_release(&r);
}

TEST(utf8_split_across_chunks)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "utf8_split");
	ASSERT_EQ(chat(&p, NULL, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_STREQ(s.text, "Grüße aus dem Laden 👋 — café €5 😀");
	ASSERT_MSG(!s.bad_piece, "a piece was not whole UTF-8");
	/* 4 whole deltas + "caf", "é", " ", "€", "5 ", "😀". */
	ASSERT_EQ(s.pieces, 10);
	llm_result_release(&r);
}

TEST(invalid_utf8_is_a_bad_stream)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "bad_utf8");
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_BAD_STREAM);
	ASSERT_CONTAINS(r.detail, "not valid UTF-8");
	ASSERT_STREQ(s.text, "ok ");
	llm_result_release(&r);

	memset(&s, 0, sizeof(s));
	SETUP(p, "cut_utf8");
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_BAD_STREAM);
	ASSERT_CONTAINS(r.detail, "inside a UTF-8 character");
	ASSERT_STREQ(s.text, "caf");
	llm_result_release(&r);
}

TEST(malformed_json)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "malformed");
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_BAD_STREAM);
	ASSERT_CONTAINS(r.detail, "is not a JSON object");
	/* The customer saw "Hi"; the turn's record says so. */
	ASSERT_STREQ(s.text, "Hi");
	ASSERT_STREQ(r.reply, "Hi");
	ASSERT_STREQ(r.messages_json, "[{\"role\":\"assistant\",\"content\":\"Hi\"}]");
	ASSERT_EQ(r.attempts, 1);
	llm_result_release(&r);
}

TEST(error_event_in_stream)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "error_event");
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_BAD_STREAM);
	ASSERT_CONTAINS(r.detail, "out of memory");
	llm_result_release(&r);
}

TEST(http_500_retried_then_reported)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "http500");
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_HTTP_ERROR);
	ASSERT_EQ(r.http_status, 500);
	ASSERT_CONTAINS(r.detail, "HTTP 500");
	ASSERT_CONTAINS(r.detail, "model crashed");
	ASSERT_EQ(r.attempts, 3);
	ASSERT_EQ(r.retries, 2);
	ASSERT_EQ(server_request_count(), 3);
	ASSERT_STREQ(r.reply, "");
	ASSERT_STREQ(r.messages_json, "[]");
	ASSERT_EQ(s.pieces, 0);
	llm_result_release(&r);
}

TEST(http_404_not_retried)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "no_such_model");
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_HTTP_ERROR);
	ASSERT_EQ(r.http_status, 404);
	ASSERT_CONTAINS(r.detail, "not found");
	ASSERT_EQ(r.attempts, 1);
	llm_result_release(&r);
}

TEST(retry_before_first_token_then_ok)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "retry_then_ok");
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_STREQ(s.text, "Back again.");
	ASSERT_EQ(r.attempts, 3);
	ASSERT_EQ(r.retries, 2);
	ASSERT_EQ(server_request_count(), 3);
	llm_result_release(&r);

	/* With one retry only, the 503 is what the turn ends with. */
	memset(&s, 0, sizeof(s));
	SETUP(p, "retry_then_ok");
	p.max_retries = 1;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_EQ(r.http_status, 503);
	ASSERT_CONTAINS(r.detail, "loading model");
	llm_result_release(&r);
}

TEST(stall_mid_stream_is_a_gap_timeout)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "stall");
	p.gap_timeout_ms = 300;
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -ETIMEDOUT);
	ASSERT_OUTCOME(r, LLM_TIMEOUT_GAP);
	ASSERT_STREQ(s.text, "Let me");
	ASSERT_EQ(r.attempts, 1); /* tokens had flowed: never retried */
	ASSERT_MSG(r.elapsed_ms >= 290 && r.elapsed_ms < 1500, "elapsed %lld ms",
		   (long long)r.elapsed_ms);
	llm_result_release(&r);
}

TEST(keepalives_do_not_count_as_a_first_token)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "slow_first");
	p.connect_timeout_ms = 200;
	p.first_token_timeout_ms = 500;
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -ETIMEDOUT);
	ASSERT_OUTCOME(r, LLM_TIMEOUT_FIRST_TOKEN);
	ASSERT_EQ(r.attempts, 1);
	ASSERT_EQ(r.ttft_ms, -1);
	ASSERT_MSG(r.elapsed_ms >= 490 && r.elapsed_ms < 1500, "elapsed %lld ms",
		   (long long)r.elapsed_ms);
	llm_result_release(&r);
}

TEST(dropped_after_tokens_is_not_retried)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "drop_mid");
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_BAD_STREAM);
	ASSERT_STREQ(s.text, "Partial");
	ASSERT_EQ(r.attempts, 1);
	ASSERT_EQ(server_request_count(), 1);
	llm_result_release(&r);
}

TEST(dropped_before_first_token_is_retried)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "drop_then_ok");
	p.max_retries = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_STREQ(s.text, "Back again.");
	ASSERT_EQ(r.attempts, 2);
	ASSERT_EQ(server_request_count(), 2);
	llm_result_release(&r);
}

/* Peak resident memory of this process, in KiB (VmHWM); -1 if unknown. */
static long peak_rss_kib(void)
{
	char line[128];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

TEST(flood_one_endless_line)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;
	long before, after;

	memset(&s, 0, sizeof(s));
	SETUP(p, "flood_line");
	p.max_event_bytes = 65536;
	before = peak_rss_kib();
	ASSERT_EQ(chat(&p, NULL, &s, &r), -E2BIG);
	after = peak_rss_kib();
	/* 20 MB offered; the peak grows by far less (buffers are capped). */
	ASSERT_MSG(before > 0 && after - before < 4096, "peak RSS %ld -> %ld KiB", before, after);
	ASSERT_OUTCOME(r, LLM_TOO_LARGE);
	ASSERT_CONTAINS(r.detail, "max_event_bytes");
	/* Stopped at the limit, not after reading 20 MB. */
	ASSERT_MSG(r.bytes_received < 65536 + 256 * 1024, "read %llu bytes",
		   (unsigned long long)r.bytes_received);
	llm_result_release(&r);
}

TEST(flood_of_tokens_stops_at_max_reply_bytes)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "flood_reply");
	p.max_reply_bytes = 4000;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -E2BIG);
	ASSERT_OUTCOME(r, LLM_TOO_LARGE);
	ASSERT_CONTAINS(r.detail, "max_reply_bytes");
	/* Every delivered piece is whole; the reply is within the limit and is
	 * exactly what the customer saw. */
	ASSERT_EQ(s.text_len, 4000);
	ASSERT_STREQ(r.reply, s.text);
	ASSERT(r.bytes_received < 2u << 20);
	llm_result_release(&r);
}

TEST(flood_of_comments_stops_at_max_stream_bytes)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "flood_comments");
	p.max_stream_bytes = 200000;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -E2BIG);
	ASSERT_OUTCOME(r, LLM_TOO_LARGE);
	ASSERT_CONTAINS(r.detail, "max_stream_bytes");
	ASSERT_MSG(r.bytes_received <= 200000 + 256 * 1024, "read %llu bytes",
		   (unsigned long long)r.bytes_received);
	ASSERT_EQ(s.pieces, 0);
	llm_result_release(&r);
}

TEST(flood_of_tool_arguments)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "flood_tool_args");
	p.max_tool_args_bytes = 16384;
	ASSERT_EQ(chat(&p, tools, &s, &r), -E2BIG);
	ASSERT_OUTCOME(r, LLM_TOO_LARGE);
	ASSERT_CONTAINS(r.detail, "max_tool_args_bytes");
	ASSERT_EQ(s.calls, 0);
	llm_result_release(&r);
}

TEST(tool_call_index_out_of_range)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "huge_index");
	ASSERT_EQ(chat(&p, tools, &s, &r), -E2BIG);
	ASSERT_OUTCOME(r, LLM_TOO_LARGE);
	ASSERT_CONTAINS(r.detail, "more than 8 tool calls");
	ASSERT_EQ(s.calls, 0);
	llm_result_release(&r);
}

struct canceller {
	struct llm_client *c;
	unsigned delay_ms;
	uint64_t at;
};

static void *cancel_later(void *arg)
{
	struct canceller *k = arg;

	usleep(k->delay_ms * 1000);
	k->at = hal_now_ns();
	llm_cancel(k->c);
	return NULL;
}

TEST(cancel_while_tool_arguments_stream)
{
	static struct seen s;
	struct canceller k;
	struct llm_params p;
	struct llm_result r;
	pthread_t th;
	uint64_t end;
	int rc;

	memset(&s, 0, sizeof(s));
	SETUP(p, "cancel_tool");
	p.max_retries = 2;
	ASSERT_EQ(llm_client_new(&p, &k.c), 0);
	k.delay_ms = 400;
	pthread_create(&th, NULL, cancel_later, &k);
	/* No should_cancel: llm_cancel alone must wake the wait. */
	rc = llm_chat(k.c, conversation, tools, &no_poll, &s, &r);
	end = hal_now_ns();
	pthread_join(th, NULL);
	llm_client_free(k.c);
	ASSERT_EQ(rc, -ECANCELED);
	ASSERT_OUTCOME(r, LLM_CANCELLED);
	ASSERT_MSG(end - k.at < 50 * MS, "returned %llu ms after llm_cancel",
		   (unsigned long long)((end - k.at) / MS));
	/* The half-streamed call is marked cancelled and never ran. */
	ASSERT_EQ(s.calls, 0);
	ASSERT_EQ(r.tool_calls_run, 0);
	ASSERT_EQ(r.tool_calls_cancelled, 1);
	ASSERT_STREQ(r.cancelled_tool_id, "call_x");
	ASSERT_STREQ(r.cancelled_tool_name, "catalog_lookup");
	/* The transcript keeps what was said and no dangling tool call. */
	ASSERT_STREQ(r.messages_json,
		     "[{\"role\":\"assistant\",\"content\":\"Let me check that for you.\"}]");
	ASSERT_EQ(r.attempts, 1);
	llm_result_release(&r);
}

TEST(should_cancel_stops_within_50ms)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;
	uint64_t end;

	memset(&s, 0, sizeof(s));
	SETUP(p, "slow_reply");
	s.cancel_at = hal_now_ns() + 350 * MS;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -ECANCELED);
	end = hal_now_ns();
	ASSERT_OUTCOME(r, LLM_CANCELLED);
	ASSERT(s.cancelled_at);
	ASSERT_MSG(end - s.cancelled_at < 50 * MS, "returned %llu ms after should_cancel",
		   (unsigned long long)((end - s.cancelled_at) / MS));
	ASSERT(s.pieces >= 1 && s.pieces < 10);
	ASSERT_STREQ(r.reply, s.text);
	llm_result_release(&r);
}

TEST(cancel_while_a_tool_runs_marks_the_rest)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;
	struct llm_client *c;
	cJSON *a;

	memset(&s, 0, sizeof(s));
	SETUP(p, "parallel_tools");
	ASSERT_EQ(llm_client_new(&p, &c), 0);
	s.cancel_in_tool = c; /* the customer leaves while the first tool runs */
	ASSERT_EQ(llm_chat(c, conversation, tools, &callbacks, &s, &r), -ECANCELED);
	llm_client_free(c);
	ASSERT_OUTCOME(r, LLM_CANCELLED);
	ASSERT_EQ(s.calls, 1);
	ASSERT_STREQ(s.call_id[0], "call_1");
	ASSERT_EQ(r.tool_calls_run, 1);
	ASSERT_EQ(r.tool_calls_cancelled, 1);
	ASSERT_STREQ(r.cancelled_tool_id, "call_2");
	ASSERT_STREQ(r.cancelled_tool_name, "check_stock");
	/* Both calls are answered, so the conversation stays valid. */
	a = cJSON_Parse(r.messages_json);
	ASSERT_EQ(cJSON_GetArraySize(a), 3);
	ASSERT_STREQ(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 2), "tool_call_id")),
	    "call_2");
	ASSERT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 2), "content")),
		     "{\"error\":\"cancelled\"}");
	cJSON_Delete(a);
	ASSERT_EQ(server_request_count(), 1);
	llm_result_release(&r);
}

TEST(tool_loop_limit)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "tool_loop");
	p.max_steps = 3;
	ASSERT_EQ(chat(&p, tools, &s, &r), -ELOOP);
	ASSERT_OUTCOME(r, LLM_TOOL_LOOP_LIMIT);
	ASSERT_EQ(r.attempts, 3);
	ASSERT_EQ(s.calls, 2); /* the third round's call never runs */
	ASSERT_CONTAINS(r.detail, "catalog_lookup");
	llm_result_release(&r);
}

TEST(tool_arguments_not_json_are_never_run)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "bad_args");
	ASSERT_EQ(chat(&p, tools, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_EQ(s.calls, 0);
	ASSERT_STREQ(s.text, "Sorry, let me look that up differently.");
	ASSERT_EQ(r.attempts, 2);
	llm_result_release(&r);
}

TEST(ollama_style_tool_call)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "ollama_style");
	ASSERT_EQ(chat(&p, tools, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_EQ(s.calls, 1);
	ASSERT_STREQ(s.call_args[0], "{\"sku\":\"TV-80\"}");
	ASSERT_STREQ(s.text, "Found it.");
	llm_result_release(&r);
}

TEST(tool_result_over_the_limit)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "big_result");
	p.max_tool_result_bytes = 1000;
	s.result_bytes = 1001;
	ASSERT_EQ(chat(&p, tools, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_EQ(s.calls, 1);
	ASSERT_CONTAINS(r.messages_json, "1001 bytes, over the 1000-byte limit");
	llm_result_release(&r);
}

TEST(not_an_event_stream)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "not_sse");
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_BAD_STREAM);
	ASSERT_CONTAINS(r.detail, "expected text/event-stream, got 'application/json'");
	llm_result_release(&r);
}

TEST(finish_reason_without_done_on_a_stuck_server)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "finish_no_done");
	p.gap_timeout_ms = 200;
	ASSERT_EQ(chat(&p, NULL, &s, &r), 0);
	ASSERT_OUTCOME(r, LLM_OK);
	ASSERT_STREQ(s.text, "All set.");
	ASSERT(r.elapsed_ms < 1500);
	llm_result_release(&r);
}

TEST(request_too_large_is_not_sent)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	static char long_conv[4096];
	struct llm_client *c;

	memset(&s, 0, sizeof(s));
	SETUP(p, "normal");
	p.max_request_bytes = 1024;
	snprintf(long_conv, sizeof(long_conv), "[{\"role\":\"user\",\"content\":\"%01500d\"}]", 0);
	ASSERT_EQ(llm_client_new(&p, &c), 0);
	ASSERT_EQ(llm_chat(c, long_conv, NULL, &callbacks, &s, &r), -E2BIG);
	llm_client_free(c);
	ASSERT_OUTCOME(r, LLM_TOO_LARGE);
	ASSERT_CONTAINS(r.detail, "max_request_bytes");
	ASSERT_EQ(r.attempts, 0);
	ASSERT_EQ(server_request_count(), 0);
	llm_result_release(&r);
}

TEST(bad_arguments)
{
	struct llm_client *c;
	struct llm_params p;
	struct llm_result r;

	SETUP(p, "normal");
	ASSERT_EQ(llm_client_new(&p, &c), 0);
	ASSERT_EQ(llm_chat(c, "{\"role\":\"user\"}", NULL, NULL, NULL, &r), -EINVAL);
	ASSERT_OUTCOME(r, LLM_INTERNAL_ERROR);
	ASSERT_CONTAINS(r.detail, "messages_json: expected a JSON array");
	llm_result_release(&r);
	ASSERT_EQ(llm_chat(c, "[1]", NULL, NULL, NULL, &r), -EINVAL);
	ASSERT_CONTAINS(r.detail, "every element must be a JSON object");
	llm_result_release(&r);
	ASSERT_EQ(llm_chat(c, conversation, "{}", NULL, NULL, &r), -EINVAL);
	ASSERT_CONTAINS(r.detail, "tools_json");
	llm_result_release(&r);
	/* Nothing went out, and the client still works (no callbacks at all). */
	ASSERT_EQ(server_request_count(), 0);
	ASSERT_EQ(llm_chat(c, conversation, NULL, NULL, NULL, &r), 0);
	ASSERT_STREQ(r.reply, "Hello there! The TV-80 pack fits you.");
	llm_result_release(&r);
	llm_client_free(c);
}

TEST(circuit_breaker_opens_then_half_opens)
{
	static struct seen s;
	struct llm_client *c;
	struct llm_params p;
	struct llm_result r;
	unsigned failures;
	int64_t wait;

	memset(&s, 0, sizeof(s));
	SETUP(p, "breaker");
	p.breaker_failures = 2;
	p.breaker_cooldown_ms = 300;
	ASSERT_EQ(llm_client_new(&p, &c), 0);
	ASSERT_EQ(llm_breaker(c, NULL, NULL), LLM_BREAKER_CLOSED);
	/* Two failures open it. */
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), -EPROTO);
	llm_result_release(&r);
	ASSERT_EQ(llm_breaker(c, &failures, NULL), LLM_BREAKER_CLOSED);
	ASSERT_EQ(failures, 1);
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), -EPROTO);
	llm_result_release(&r);
	ASSERT_EQ(llm_breaker(c, NULL, &wait), LLM_BREAKER_OPEN);
	ASSERT(wait > 0 && wait <= 300);
	/* Open: refused at once, nothing sent. */
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), -EAGAIN);
	ASSERT_OUTCOME(r, LLM_CIRCUIT_OPEN);
	ASSERT_EQ(r.attempts, 0);
	ASSERT(r.elapsed_ms < 50);
	ASSERT_CONTAINS(r.detail, "circuit breaker open");
	llm_result_release(&r);
	ASSERT_EQ(server_request_count(), 2);
	/* After the cool-down one trial goes out; it fails: open again. */
	usleep(320 * 1000);
	ASSERT_EQ(llm_breaker(c, NULL, NULL), LLM_BREAKER_HALF_OPEN);
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), -EPROTO);
	ASSERT_EQ(r.attempts, 1);
	llm_result_release(&r);
	ASSERT_EQ(llm_breaker(c, NULL, NULL), LLM_BREAKER_OPEN);
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), -EAGAIN);
	llm_result_release(&r);
	ASSERT_EQ(server_request_count(), 3);
	/* Next trial succeeds: closed, failures forgotten. */
	usleep(320 * 1000);
	ASSERT_EQ(llm_chat(c, conversation, NULL, &callbacks, &s, &r), 0);
	ASSERT_STREQ(r.reply, "Back again.");
	llm_result_release(&r);
	ASSERT_EQ(llm_breaker(c, &failures, NULL), LLM_BREAKER_CLOSED);
	ASSERT_EQ(failures, 0);
	ASSERT_EQ(server_request_count(), 4);
	llm_client_free(c);
}

TEST(retries_stop_when_the_breaker_opens)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;

	memset(&s, 0, sizeof(s));
	SETUP(p, "http500");
	p.max_retries = 5;
	p.breaker_failures = 2;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EPROTO);
	ASSERT_OUTCOME(r, LLM_HTTP_ERROR);
	ASSERT_EQ(r.attempts, 2);
	ASSERT_CONTAINS(r.detail, "circuit breaker now open");
	llm_result_release(&r);
}

/* A port with nothing listening. */
static int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

TEST(unreachable_is_retried_with_backoff)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;
	int port = closed_port();

	ASSERT(port > 0);
	memset(&s, 0, sizeof(s));
	llm_params_default(&p);
	snprintf(p.url, sizeof(p.url), "http://127.0.0.1:%d/v1/chat/completions", port);
	snprintf(p.model, sizeof(p.model), "m");
	p.max_retries = 2;
	p.backoff_ms = 100;
	p.backoff_max_ms = 200;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -EHOSTUNREACH);
	ASSERT_OUTCOME(r, LLM_UNREACHABLE);
	ASSERT_EQ(r.attempts, 3);
	ASSERT_EQ(r.http_status, 0);
	ASSERT_CONTAINS(r.detail, "cannot reach");
	/* Back-off: 50..100 ms, then 100..200 ms. */
	ASSERT_MSG(r.elapsed_ms >= 150 && r.elapsed_ms < 1000, "elapsed %lld ms",
		   (long long)r.elapsed_ms);
	llm_result_release(&r);
}

TEST(cancel_during_backoff)
{
	static struct seen s;
	struct llm_params p;
	struct llm_result r;
	int port = closed_port();
	uint64_t end;

	ASSERT(port > 0);
	memset(&s, 0, sizeof(s));
	llm_params_default(&p);
	snprintf(p.url, sizeof(p.url), "http://127.0.0.1:%d/v1/chat/completions", port);
	snprintf(p.model, sizeof(p.model), "m");
	p.max_retries = 3;
	p.backoff_ms = 2000;
	p.backoff_max_ms = 2000;
	s.cancel_at = hal_now_ns() + 100 * MS;
	ASSERT_EQ(chat(&p, NULL, &s, &r), -ECANCELED);
	end = hal_now_ns();
	ASSERT_OUTCOME(r, LLM_CANCELLED);
	ASSERT_EQ(r.attempts, 1);
	ASSERT(end - s.cancelled_at < 50 * MS);
	llm_result_release(&r);
}

TEST(connect_timeout)
{
	static struct seen s;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct llm_params p;
	struct llm_result r;
	int lfd, fill[8], i, n = 0;

	/* A listener whose accept queue is full: the kernel drops further SYNs,
	 * so a connect hangs the way it does to a host that is off. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT(lfd >= 0);
	ASSERT(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	ASSERT(listen(lfd, 0) == 0);
	ASSERT(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
	for (i = 0; i < 8; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fill[i] >= 0) {
			connect(fill[i], (struct sockaddr *)&a, sizeof(a));
			n++;
		}
	}
	usleep(50 * 1000);
	memset(&s, 0, sizeof(s));
	llm_params_default(&p);
	snprintf(p.url, sizeof(p.url), "http://127.0.0.1:%d/v1/chat/completions",
		 ntohs(a.sin_port));
	snprintf(p.model, sizeof(p.model), "m");
	p.connect_timeout_ms = 300;
	p.first_token_timeout_ms = 5000;
	p.max_retries = 0;
	chat(&p, NULL, &s, &r);
	for (i = 0; i < n; i++)
		close(fill[i]);
	close(lfd);
	ASSERT_OUTCOME(r, LLM_TIMEOUT_CONNECT);
	ASSERT_MSG(r.elapsed_ms >= 280 && r.elapsed_ms < 1500, "elapsed %lld ms",
		   (long long)r.elapsed_ms);
	llm_result_release(&r);
}
