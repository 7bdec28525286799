#include "agent/llm.h"

#include "agent/sse.h"
#include "firmware/config.h"
#include "hal/time.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS 1000000ull
/* How often should_cancel is polled while waiting. */
#define POLL_MS 10
/* The longest single wait when nothing is due: llm_cancel wakes the wait
 * (curl_multi_wakeup), the deadlines bound it. */
#define WAIT_MAX_MS 1000
/* Bytes of a non-stream (error) body kept for the detail message. */
#define ERRBODY_MAX 1024
#define API_KEY_FILE_MAX 4096

/* ---- names ---- */

static const char *const outcome_names[LLM_OUTCOME_COUNT] = {
    [LLM_OK] = "ok",
    [LLM_CANCELLED] = "cancelled",
    [LLM_TIMEOUT_CONNECT] = "timeout_connect",
    [LLM_TIMEOUT_FIRST_TOKEN] = "timeout_first_token",
    [LLM_TIMEOUT_GAP] = "timeout_gap",
    [LLM_TIMEOUT_TOTAL] = "timeout_total",
    [LLM_UNREACHABLE] = "unreachable",
    [LLM_HTTP_ERROR] = "http_error",
    [LLM_BAD_STREAM] = "bad_stream",
    [LLM_TOO_LARGE] = "too_large",
    [LLM_CIRCUIT_OPEN] = "circuit_open",
    [LLM_TOOL_LOOP_LIMIT] = "tool_loop_limit",
    [LLM_INTERNAL_ERROR] = "internal_error",
};

const char *llm_outcome_name(enum llm_outcome o)
{
	if ((unsigned)o >= LLM_OUTCOME_COUNT)
		return NULL;
	return outcome_names[o];
}

const char *llm_breaker_state_name(enum llm_breaker_state s)
{
	switch (s) {
	case LLM_BREAKER_CLOSED:
		return "closed";
	case LLM_BREAKER_OPEN:
		return "open";
	case LLM_BREAKER_HALF_OPEN:
		return "half_open";
	}
	return NULL;
}

static int outcome_errno(enum llm_outcome o)
{
	switch (o) {
	case LLM_OK:
		return 0;
	case LLM_CANCELLED:
		return -ECANCELED;
	case LLM_TIMEOUT_CONNECT:
	case LLM_TIMEOUT_FIRST_TOKEN:
	case LLM_TIMEOUT_GAP:
	case LLM_TIMEOUT_TOTAL:
		return -ETIMEDOUT;
	case LLM_UNREACHABLE:
		return -EHOSTUNREACH;
	case LLM_HTTP_ERROR:
	case LLM_BAD_STREAM:
		return -EPROTO;
	case LLM_TOO_LARGE:
		return -E2BIG;
	case LLM_CIRCUIT_OPEN:
		return -EAGAIN;
	case LLM_TOOL_LOOP_LIMIT:
		return -ELOOP;
	case LLM_INTERNAL_ERROR:
		return -EIO;
	}
	return -EIO;
}

/* ---- parameters ---- */

struct int_key {
	const char *key;
	size_t off;
	long min, max;
};

static const struct int_key int_keys[] = {
    {"connect_timeout_ms", offsetof(struct llm_params, connect_timeout_ms), 10, 60000},
    {"first_token_timeout_ms", offsetof(struct llm_params, first_token_timeout_ms), 20, 600000},
    {"gap_timeout_ms", offsetof(struct llm_params, gap_timeout_ms), 10, 600000},
    {"request_timeout_ms", offsetof(struct llm_params, request_timeout_ms), 100, 3600000},
    {"max_retries", offsetof(struct llm_params, max_retries), 0, 10},
    {"backoff_ms", offsetof(struct llm_params, backoff_ms), 0, 60000},
    {"backoff_max_ms", offsetof(struct llm_params, backoff_max_ms), 0, 600000},
    {"breaker_failures", offsetof(struct llm_params, breaker_failures), 1, 1000},
    {"breaker_cooldown_ms", offsetof(struct llm_params, breaker_cooldown_ms), 10, 3600000},
    {"max_steps", offsetof(struct llm_params, max_steps), 1, 32},
    {"max_tokens", offsetof(struct llm_params, max_tokens), 0, 1000000},
    {"max_reply_bytes", offsetof(struct llm_params, max_reply_bytes), 16, 16 << 20},
    {"max_stream_bytes", offsetof(struct llm_params, max_stream_bytes), 1024, 256 << 20},
    {"max_event_bytes", offsetof(struct llm_params, max_event_bytes), 256, 16 << 20},
    {"max_tool_args_bytes", offsetof(struct llm_params, max_tool_args_bytes), 16, 1 << 20},
    {"max_tool_result_bytes", offsetof(struct llm_params, max_tool_result_bytes), 64, 4 << 20},
    {"max_request_bytes", offsetof(struct llm_params, max_request_bytes), 1024, 64 << 20},
};

#define N_INT_KEYS (sizeof(int_keys) / sizeof(int_keys[0]))

void llm_params_default(struct llm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->connect_timeout_ms = 2000;
	p->first_token_timeout_ms = 20000;
	p->gap_timeout_ms = 5000;
	p->request_timeout_ms = 120000;
	p->max_retries = 2;
	p->backoff_ms = 250;
	p->backoff_max_ms = 2000;
	p->breaker_failures = 3;
	p->breaker_cooldown_ms = 30000;
	p->max_steps = 4;
	p->max_tokens = 512;
	p->temperature = 0.7;
	p->stream_usage = true;
	p->max_reply_bytes = 16384;
	p->max_stream_bytes = 2 << 20;
	p->max_event_bytes = 65536;
	p->max_tool_args_bytes = 16384;
	p->max_tool_result_bytes = 32768;
	p->max_request_bytes = 1 << 20;
}

bool llm_params_configured(const struct llm_params *p)
{
	return p && p->url[0] != '\0';
}

static int fail(struct config_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct config_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Printable ASCII, no spaces: what may go into an HTTP header or URL. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* url as configured: http(s)://, no spaces; a base ending in /v1 gets
 * /chat/completions appended. */
static int set_url(struct llm_params *p, const char *url)
{
	const char *rest;
	int n;

	if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else
		return -EINVAL;
	if (!*rest || *rest == '/' || !header_safe(url))
		return -EINVAL;
	if (ends_with(url, "/v1"))
		n = snprintf(p->url, sizeof(p->url), "%s/chat/completions", url);
	else if (ends_with(url, "/v1/"))
		n = snprintf(p->url, sizeof(p->url), "%schat/completions", url);
	else
		n = snprintf(p->url, sizeof(p->url), "%s", url);
	if (n < 0 || (size_t)n >= sizeof(p->url)) {
		p->url[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

static int read_key_file(const char *path, char *buf, size_t len)
{
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > API_KEY_FILE_MAX || (size_t)st.st_size >= len) {
		rc = -EFBIG;
		goto close_fd;
	}
	n = read(fd, buf, len - 1);
	if (n < 0) {
		rc = -errno;
		goto close_fd;
	}
	buf[n] = '\0';
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
close_fd:
	close(fd);
	return rc;
}

int llm_params_from_config(const struct config *cfg, const char *section, struct llm_params *p,
			   struct config_error *err)
{
	const char *name = config_name(cfg), *url, *model, *key;
	char key_path[LLM_URL_MAX];
	size_t i;
	int rc;

	llm_params_default(p);
	for (i = 0; i < N_INT_KEYS; i++) {
		long *field = (long *)((char *)p + int_keys[i].off);

		rc = config_int(cfg, section, int_keys[i].key, *field, int_keys[i].min,
				int_keys[i].max, field, err);
		if (rc < 0)
			return rc;
	}
	rc = config_double(cfg, section, "temperature", p->temperature, -1.0, 2.0, &p->temperature,
			   err);
	if (rc < 0)
		return rc;
	rc = config_bool(cfg, section, "stream_usage", p->stream_usage, &p->stream_usage, err);
	if (rc < 0)
		return rc;

	rc = config_str(cfg, section, "url", "", false, &url, err);
	if (rc < 0)
		return rc;
	rc = config_str(cfg, section, "model", "", false, &model, err);
	if (rc < 0)
		return rc;
	rc = config_str(cfg, section, "api_key", "", false, &key, err);
	if (rc < 0)
		return rc;
	rc =
	    config_path(cfg, section, "api_key_file", NULL, false, key_path, sizeof(key_path), err);
	if (rc < 0)
		return rc;

	if (*url) {
		rc = set_url(p, url);
		if (rc == -ENAMETOOLONG)
			return fail(err, rc, "%s: [%s] url: longer than %d bytes; shorten it", name,
				    section, LLM_URL_MAX - 1);
		if (rc < 0)
			return fail(err, rc,
				    "%s: [%s] url: expected an http:// or https:// URL such as "
				    "http://127.0.0.1:8080/v1/chat/completions, got '%s'",
				    name, section, url);
		if (!*model)
			return fail(err, -EINVAL,
				    "%s: [%s] model: missing; a configured url needs the model "
				    "name the server serves (e.g. model = qwen2.5-7b-instruct)",
				    name, section);
	}
	if (strlen(model) >= sizeof(p->model) || !header_safe(model))
		return fail(err, -EINVAL,
			    "%s: [%s] model: expected a name of 1 to %d printable characters "
			    "without spaces, got '%s'",
			    name, section, LLM_MODEL_MAX - 1, model);
	snprintf(p->model, sizeof(p->model), "%s", model);

	if (*key && key_path[0])
		return fail(err, -EINVAL,
			    "%s: [%s] api_key and api_key_file: both set; keep one of them", name,
			    section);
	if (key_path[0]) {
		rc = read_key_file(key_path, p->api_key, sizeof(p->api_key));
		if (rc == -EFBIG)
			return fail(err, rc,
				    "%s: [%s] api_key_file: '%s' is not a regular file of at most "
				    "%d bytes",
				    name, section, key_path, LLM_API_KEY_MAX - 1);
		if (rc < 0)
			return fail(err, rc, "%s: [%s] api_key_file: cannot read '%s': %s", name,
				    section, key_path, strerror(-rc));
		if (!p->api_key[0] || !header_safe(p->api_key)) {
			p->api_key[0] = '\0';
			return fail(err, -EINVAL,
				    "%s: [%s] api_key_file: '%s' must hold one key of printable "
				    "characters without spaces",
				    name, section, key_path);
		}
	} else if (*key) {
		if (strlen(key) >= sizeof(p->api_key) || !header_safe(key))
			return fail(err, -EINVAL,
				    "%s: [%s] api_key: expected 1 to %d printable characters "
				    "without spaces",
				    name, section, LLM_API_KEY_MAX - 1);
		snprintf(p->api_key, sizeof(p->api_key), "%s", key);
	}

	if (p->first_token_timeout_ms <= p->connect_timeout_ms)
		return fail(err, -EINVAL,
			    "%s: [%s] first_token_timeout_ms: %ld must be above "
			    "connect_timeout_ms (%ld), since it includes connecting",
			    name, section, p->first_token_timeout_ms, p->connect_timeout_ms);
	if (p->backoff_max_ms < p->backoff_ms)
		return fail(err, -EINVAL,
			    "%s: [%s] backoff_max_ms: %ld is below backoff_ms (%ld); raise it",
			    name, section, p->backoff_max_ms, p->backoff_ms);
	return 0;
}

static bool params_valid(const struct llm_params *p)
{
	size_t i;

	if (!p->url[0] || !p->model[0] || !memchr(p->url, '\0', sizeof(p->url)) ||
	    !memchr(p->model, '\0', sizeof(p->model)) ||
	    !memchr(p->api_key, '\0', sizeof(p->api_key)))
		return false;
	if (!header_safe(p->url) || !header_safe(p->model) || !header_safe(p->api_key))
		return false;
	for (i = 0; i < N_INT_KEYS; i++) {
		long v = *(const long *)((const char *)p + int_keys[i].off);

		if (v < int_keys[i].min || v > int_keys[i].max)
			return false;
	}
	return p->first_token_timeout_ms > p->connect_timeout_ms &&
	       p->backoff_max_ms >= p->backoff_ms;
}

/* ---- a growing buffer with a cap (always NUL-terminated once used) ---- */

struct dbuf {
	char *p;
	size_t len, cap, max;
};

static int dbuf_add(struct dbuf *b, const char *s, size_t n)
{
	size_t want;
	char *np;

	if (n > b->max - b->len)
		return -E2BIG;
	want = b->len + n + 1;
	if (want > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < want)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static const char *dbuf_str(const struct dbuf *b)
{
	return b->len ? b->p : "";
}

static void dbuf_clear(struct dbuf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

static void dbuf_free(struct dbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- UTF-8 ---- */

/*
 * The character at s (n bytes available): its length when whole and valid,
 * 0 when s holds a valid but incomplete start of one, -1 when invalid
 * (stray continuation, overlong form, surrogate, above U+10FFFF).
 */
static int utf8_char(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	int len, i;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return -1;
	if (c < 0xe0)
		len = 2;
	else if (c < 0xf0)
		len = 3;
	else if (c < 0xf5)
		len = 4;
	else
		return -1;
	for (i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		if (i == 1 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
			       (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f)))
			return -1;
	}
	return len;
}

/* ---- the client ---- */

struct llm_client {
	struct llm_params p;
	CURL *easy;
	CURLM *multi;
	struct curl_slist *headers;
	struct sse_parser *sse;
	char curl_err[CURL_ERROR_SIZE];
	pthread_mutex_t lock; /* running, the breaker */
	bool running;
	atomic_bool cancel;
	enum llm_breaker_state bstate;
	unsigned bfailures;
	uint64_t bopen_until;
	uint64_t rng;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud);

static int setup_curl(struct llm_client *c)
{
	char auth[LLM_API_KEY_MAX + 32];
	struct curl_slist *h = NULL, *n;
	static const char *const fixed[] = {"Content-Type: application/json",
					    "Accept: text/event-stream", "Expect:"};
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		n = curl_slist_append(h, fixed[i]);
		if (!n)
			goto nomem;
		h = n;
	}
	if (c->p.api_key[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->p.api_key);
		n = curl_slist_append(h, auth);
		explicit_bzero(auth, sizeof(auth));
		if (!n)
			goto nomem;
		h = n;
	}
	c->headers = h;
	if (curl_easy_setopt(c->easy, CURLOPT_URL, c->p.url) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, c->p.connect_timeout_ms) !=
		CURLE_OK ||
	    /* The model is on this box or the store's LAN: no proxy from the
	     * environment may sit in between. */
	    curl_easy_setopt(c->easy, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) !=
		CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_USERAGENT, "edgebox-llm/1") != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->curl_err) != CURLE_OK)
		return -EIO;
	return 0;
nomem:
	curl_slist_free_all(h);
	return -ENOMEM;
}

int llm_client_new(const struct llm_params *p, struct llm_client **ret)
{
	struct llm_client *c;
	int rc;

	if (!p || !params_valid(p))
		return -EINVAL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return -EIO;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->p = *p;
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->cancel, false);
	c->rng = hal_now_ns() ^ (uintptr_t)c ^ 0x9e3779b97f4a7c15ull;
	rc = sse_parser_new((size_t)p->max_event_bytes, (size_t)p->max_event_bytes, &c->sse);
	if (rc < 0)
		goto fail;
	c->easy = curl_easy_init();
	c->multi = curl_multi_init();
	if (!c->easy || !c->multi) {
		rc = -EIO;
		goto fail;
	}
	rc = setup_curl(c);
	if (rc < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	llm_client_free(c);
	return rc;
}

void llm_client_free(struct llm_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	curl_slist_free_all(c->headers);
	sse_parser_free(c->sse);
	pthread_mutex_destroy(&c->lock);
	explicit_bzero(&c->p, sizeof(c->p));
	free(c);
}

void llm_cancel(struct llm_client *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->running) {
		atomic_store(&c->cancel, true);
		curl_multi_wakeup(c->multi);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- the circuit breaker (every function takes c->lock) ---- */

/* May a request go out now? Moves open -> half-open when the cool-down is over. */
static bool breaker_allow(struct llm_client *c, uint64_t now, int64_t *ret_wait_ms)
{
	bool ok = true;

	pthread_mutex_lock(&c->lock);
	if (c->bstate == LLM_BREAKER_OPEN) {
		if (now >= c->bopen_until) {
			c->bstate = LLM_BREAKER_HALF_OPEN;
		} else {
			ok = false;
			*ret_wait_ms = (int64_t)((c->bopen_until - now + MS - 1) / MS);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

enum breaker_verdict { VERDICT_SUCCESS, VERDICT_FAILURE, VERDICT_NEUTRAL };

static void breaker_record(struct llm_client *c, enum breaker_verdict v, uint64_t now)
{
	pthread_mutex_lock(&c->lock);
	switch (v) {
	case VERDICT_SUCCESS:
		c->bstate = LLM_BREAKER_CLOSED;
		c->bfailures = 0;
		break;
	case VERDICT_FAILURE:
		/* The count is only cleared by a success, so a failed half-open
		 * trial opens the breaker again at once. */
		c->bfailures++;
		if (c->bfailures >= (unsigned)c->p.breaker_failures) {
			c->bstate = LLM_BREAKER_OPEN;
			c->bopen_until = now + (uint64_t)c->p.breaker_cooldown_ms * MS;
		}
		break;
	case VERDICT_NEUTRAL:
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

enum llm_breaker_state llm_breaker(struct llm_client *c, unsigned *ret_failures,
				   int64_t *ret_retry_in_ms)
{
	enum llm_breaker_state s;
	uint64_t now = hal_now_ns();

	pthread_mutex_lock(&c->lock);
	s = c->bstate;
	if (s == LLM_BREAKER_OPEN && now >= c->bopen_until)
		s = LLM_BREAKER_HALF_OPEN;
	if (ret_failures)
		*ret_failures = c->bfailures;
	if (ret_retry_in_ms)
		*ret_retry_in_ms =
		    s == LLM_BREAKER_OPEN ? (int64_t)((c->bopen_until - now + MS - 1) / MS) : 0;
	pthread_mutex_unlock(&c->lock);
	return s;
}

/* ---- one turn, one request ---- */

struct turn {
	struct llm_client *c;
	const struct llm_callbacks *cb;
	void *ctx;
	struct llm_result *ret;
	uint64_t t0;
	struct dbuf reply; /* everything delivered this turn */
	unsigned char carry[4];
	size_t carry_len; /* an incomplete UTF-8 character awaiting its rest */
};

struct tool_slot {
	bool used;
	char id[LLM_TOOL_ID_MAX];
	char name[LLM_TOOL_NAME_MAX];
	struct dbuf args;
};

struct req {
	struct turn *t;
	uint64_t t_start, t_last;
	bool got_token;
	bool headers_checked;
	long status;
	bool sse_ok;
	char content_type[64];
	struct dbuf errbody;
	uint64_t bytes;
	bool done;     /* [DONE] seen */
	bool finished; /* a finish_reason seen */
	char finish[32];
	bool stopped;
	enum llm_outcome stop;
	bool dropped; /* the connection ended early: worth a retry before tokens */
	char detail[LLM_DETAIL_MAX];
	unsigned chunk;
	bool has_usage; /* the last usage seen: servers send it once or in every chunk */
	long prompt_tokens, completion_tokens;
	struct dbuf text; /* this response's text */
	struct tool_slot slots[LLM_MAX_TOOL_CALLS];
	int nslots;
};

static void req_stop(struct req *r, enum llm_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void req_stop(struct req *r, enum llm_outcome o, const char *fmt, ...)
{
	va_list ap;

	if (r->stopped)
		return;
	r->stopped = true;
	r->stop = o;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

static void req_init(struct req *r, struct turn *t)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	r->t = t;
	r->errbody.max = ERRBODY_MAX;
	r->text.max = (size_t)t->c->p.max_reply_bytes;
	for (i = 0; i < LLM_MAX_TOOL_CALLS; i++)
		r->slots[i].args.max = (size_t)t->c->p.max_tool_args_bytes;
}

/* Back to the state before an attempt, keeping the memory. */
static void req_reset(struct req *r)
{
	struct dbuf errbody = r->errbody, text = r->text;
	struct dbuf args[LLM_MAX_TOOL_CALLS];
	struct turn *t = r->t;
	size_t i;

	for (i = 0; i < LLM_MAX_TOOL_CALLS; i++) {
		args[i] = r->slots[i].args;
		dbuf_clear(&args[i]);
	}
	dbuf_clear(&errbody);
	dbuf_clear(&text);
	memset(r, 0, sizeof(*r));
	r->t = t;
	r->errbody = errbody;
	r->text = text;
	for (i = 0; i < LLM_MAX_TOOL_CALLS; i++)
		r->slots[i].args = args[i];
}

static void req_free(struct req *r)
{
	size_t i;

	dbuf_free(&r->errbody);
	dbuf_free(&r->text);
	for (i = 0; i < LLM_MAX_TOOL_CALLS; i++)
		dbuf_free(&r->slots[i].args);
}

static bool cancel_requested(struct turn *t)
{
	if (atomic_load(&t->c->cancel))
		return true;
	return t->cb && t->cb->should_cancel && t->cb->should_cancel(t->ctx);
}

static void mark_token(struct req *r)
{
	struct turn *t = r->t;

	if (!r->got_token) {
		r->got_token = true;
		if (t->ret->ttft_ms < 0)
			t->ret->ttft_ms = (int64_t)((hal_now_ns() - t->t0) / MS);
	}
}

/* Hands n bytes of whole characters to on_token, within max_reply_bytes. */
static int emit(struct req *r, const char *s, size_t n)
{
	struct turn *t = r->t;
	size_t at = t->reply.len;

	if (!n)
		return 0;
	if (dbuf_add(&t->reply, s, n) < 0 || dbuf_add(&r->text, s, n) < 0) {
		t->reply.len = at;
		if (t->reply.p)
			t->reply.p[at] = '\0';
		req_stop(r, LLM_TOO_LARGE, "reply longer than %ld bytes (max_reply_bytes)",
			 t->c->p.max_reply_bytes);
		return -1;
	}
	if (t->cb && t->cb->on_token)
		t->cb->on_token(t->ctx, t->reply.p + at);
	return 0;
}

/* Content from one delta: only whole, valid UTF-8 characters go out; a
 * character cut between deltas waits for its rest. */
static int deliver_text(struct req *r, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	struct turn *t = r->t;
	size_t i = 0, start;
	int k;

	while (t->carry_len && i < n) {
		t->carry[t->carry_len++] = s[i++];
		k = utf8_char(t->carry, t->carry_len);
		if (k < 0)
			goto invalid;
		if (k > 0) {
			t->carry_len = 0;
			if (emit(r, (const char *)t->carry, (size_t)k) < 0)
				return -1;
		}
	}
	start = i;
	while (i < n) {
		k = utf8_char(s + i, n - i);
		if (k < 0)
			goto invalid;
		if (k == 0) {
			memcpy(t->carry, s + i, n - i);
			t->carry_len = n - i;
			break;
		}
		i += (size_t)k;
	}
	return emit(r, str + start, i - start);
invalid:
	req_stop(r, LLM_BAD_STREAM, "event %u: reply text is not valid UTF-8", r->chunk);
	return -1;
}

static int tool_delta(struct req *r, const cJSON *tc)
{
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(tc, "index");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
	const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
	const cJSON *name, *args;
	struct tool_slot *slot;
	long i;

	if (!cJSON_IsObject(tc))
		goto bad;
	if (cJSON_IsNumber(index)) {
		/* Range first: casting a huge double to long is undefined. */
		if (index->valuedouble < 0)
			goto bad;
		i = index->valuedouble < LLM_MAX_TOOL_CALLS ? (long)index->valuedouble
							    : LLM_MAX_TOOL_CALLS;
		if (i < LLM_MAX_TOOL_CALLS && index->valuedouble != (double)i)
			goto bad;
	} else if (index && !cJSON_IsNull(index)) {
		goto bad;
	} else if (cJSON_IsString(id) && id->valuestring[0] &&
		   (r->nslots == 0 || strcmp(r->slots[r->nslots - 1].id, id->valuestring) != 0)) {
		/* No index (some servers): a new id is a new call. */
		i = r->nslots;
	} else {
		i = r->nslots ? r->nslots - 1 : 0;
	}
	if (i >= LLM_MAX_TOOL_CALLS) {
		req_stop(r, LLM_TOO_LARGE, "event %u: more than %d tool calls in one response",
			 r->chunk, LLM_MAX_TOOL_CALLS);
		return -1;
	}
	slot = &r->slots[i];
	slot->used = true;
	if (i >= r->nslots)
		r->nslots = (int)i + 1;

	if (cJSON_IsString(id) && id->valuestring[0]) {
		if (!slot->id[0]) {
			if (strlen(id->valuestring) >= sizeof(slot->id) ||
			    !header_safe(id->valuestring)) {
				req_stop(
				    r, LLM_BAD_STREAM,
				    "event %u: tool call id is not 1 to %d printable characters",
				    r->chunk, LLM_TOOL_ID_MAX - 1);
				return -1;
			}
			snprintf(slot->id, sizeof(slot->id), "%s", id->valuestring);
		} else if (strcmp(slot->id, id->valuestring) != 0) {
			req_stop(r, LLM_BAD_STREAM, "event %u: tool call %ld changed its id",
				 r->chunk, i);
			return -1;
		}
	} else if (id && !cJSON_IsNull(id) && !cJSON_IsString(id)) {
		goto bad;
	}
	if (!fn || cJSON_IsNull(fn))
		return 0;
	if (!cJSON_IsObject(fn))
		goto bad;
	name = cJSON_GetObjectItemCaseSensitive(fn, "name");
	args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
	if (cJSON_IsString(name) && name->valuestring[0] &&
	    strcmp(slot->name, name->valuestring) != 0) {
		/* The name normally comes whole, once; a repeat of it is ignored. */
		if (strlen(slot->name) + strlen(name->valuestring) >= sizeof(slot->name)) {
			req_stop(r, LLM_TOO_LARGE, "event %u: tool name longer than %d bytes",
				 r->chunk, LLM_TOOL_NAME_MAX - 1);
			return -1;
		}
		strcat(slot->name, name->valuestring);
	} else if (name && !cJSON_IsNull(name) && !cJSON_IsString(name)) {
		goto bad;
	}
	if (cJSON_IsString(args) || cJSON_IsObject(args)) {
		/* An object (a server that parsed it for us) is taken as its text. */
		char *text = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
		const char *s = text ? text : args->valuestring;
		int rc;

		if (!s) {
			req_stop(r, LLM_INTERNAL_ERROR, "out of memory");
			return -1;
		}
		rc = dbuf_add(&slot->args, s, strlen(s));
		free(text);
		if (rc == -E2BIG) {
			req_stop(r, LLM_TOO_LARGE,
				 "event %u: tool call '%s' arguments longer than %ld bytes "
				 "(max_tool_args_bytes)",
				 r->chunk, slot->name, r->t->c->p.max_tool_args_bytes);
			return -1;
		}
		if (rc < 0) {
			req_stop(r, LLM_INTERNAL_ERROR, "out of memory");
			return -1;
		}
	} else if (args && !cJSON_IsNull(args)) {
		goto bad;
	}
	return 0;
bad:
	req_stop(r, LLM_BAD_STREAM, "event %u: malformed tool_calls delta", r->chunk);
	return -1;
}

static void copy_excerpt(char *dst, size_t len, const char *s, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 1 < len; i++)
		dst[j++] = (unsigned char)s[i] < 0x20 ? ' ' : s[i];
	if (len)
		dst[j] = '\0';
}

static int handle_choice(struct req *r, const cJSON *choice)
{
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(choice, "index");
	const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
	const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
	const cJSON *content, *reasoning, *calls, *tc;

	if (!cJSON_IsObject(choice))
		goto bad;
	/* We ask for one choice; others (n > 1) are not ours to show. */
	if (cJSON_IsNumber(index) && index->valuedouble != 0)
		return 0;
	if (delta && !cJSON_IsNull(delta)) {
		if (!cJSON_IsObject(delta))
			goto bad;
		content = cJSON_GetObjectItemCaseSensitive(delta, "content");
		reasoning = cJSON_GetObjectItemCaseSensitive(delta, "reasoning_content");
		if (!reasoning)
			reasoning = cJSON_GetObjectItemCaseSensitive(delta, "reasoning");
		calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
		if (cJSON_IsString(content)) {
			if (content->valuestring[0]) {
				mark_token(r);
				r->t->ret->deltas++;
				if (deliver_text(r, content->valuestring,
						 strlen(content->valuestring)) < 0)
					return -1;
			}
		} else if (content && !cJSON_IsNull(content)) {
			goto bad;
		}
		/* Reasoning is not shown, but it proves the model is working. */
		if (cJSON_IsString(reasoning) && reasoning->valuestring[0])
			mark_token(r);
		if (cJSON_IsArray(calls)) {
			cJSON_ArrayForEach(tc, calls)
			{
				mark_token(r);
				r->t->ret->deltas++;
				if (tool_delta(r, tc) < 0)
					return -1;
			}
		} else if (calls && !cJSON_IsNull(calls)) {
			goto bad;
		}
	}
	if (cJSON_IsString(finish)) {
		r->finished = true;
		snprintf(r->finish, sizeof(r->finish), "%s", finish->valuestring);
	} else if (finish && !cJSON_IsNull(finish)) {
		goto bad;
	}
	return 0;
bad:
	req_stop(r, LLM_BAD_STREAM, "event %u: malformed choice in chat.completion.chunk",
		 r->chunk);
	return -1;
}

static long usage_count(const cJSON *n)
{
	return cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < 1e15
		   ? (long)n->valuedouble
		   : 0;
}

static void add_usage(long *sum, long n)
{
	*sum = (*sum < 0 ? 0 : *sum) + n;
}

/* One "data:" payload of the stream. */
static int handle_data(struct req *r, const char *data, size_t len)
{
	const cJSON *choices, *choice, *usage, *error;
	const char *end = NULL;
	cJSON *root;
	char excerpt[48];
	int rc = 0;

	if (r->done)
		return 0; /* nothing counts after [DONE] */
	if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
		r->done = true;
		return 0;
	}
	root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	if (root && end) {
		while (end < data + len && isspace((unsigned char)*end))
			end++;
		if (end != data + len) {
			cJSON_Delete(root);
			root = NULL;
		}
	}
	if (!cJSON_IsObject(root)) {
		copy_excerpt(excerpt, sizeof(excerpt), data, len);
		req_stop(r, LLM_BAD_STREAM, "event %u is not a JSON object: '%s'", r->chunk,
			 excerpt);
		cJSON_Delete(root);
		return -1;
	}
	error = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (error && !cJSON_IsNull(error)) {
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
		const char *m = cJSON_IsString(msg)	? msg->valuestring
				: cJSON_IsString(error) ? error->valuestring
							: "(no message)";

		copy_excerpt(excerpt, sizeof(excerpt), m, strlen(m));
		req_stop(r, LLM_BAD_STREAM, "event %u: the server reported an error: %s", r->chunk,
			 excerpt);
		cJSON_Delete(root);
		return -1;
	}
	usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	if (cJSON_IsObject(usage)) {
		r->has_usage = true;
		r->prompt_tokens =
		    usage_count(cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens"));
		r->completion_tokens =
		    usage_count(cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens"));
	}
	choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	if (cJSON_IsArray(choices)) {
		cJSON_ArrayForEach(choice, choices)
		{
			rc = handle_choice(r, choice);
			if (rc < 0)
				break;
		}
	} else if (choices && !cJSON_IsNull(choices)) {
		req_stop(r, LLM_BAD_STREAM, "event %u: \"choices\" is not an array", r->chunk);
		rc = -1;
	}
	cJSON_Delete(root);
	return rc;
}

static int on_event(void *ud, const struct sse_event *ev)
{
	struct req *r = ud;

	r->chunk++;
	r->t_last = hal_now_ns();
	if (cancel_requested(r->t)) {
		req_stop(r, LLM_CANCELLED, "cancelled while streaming");
		return -ECANCELED;
	}
	if (strcmp(ev->event, "error") == 0) {
		char excerpt[64];

		copy_excerpt(excerpt, sizeof(excerpt), ev->data, ev->data_len);
		req_stop(r, LLM_BAD_STREAM, "event %u: error event: %s", r->chunk, excerpt);
		return -EPROTO;
	}
	if (strcmp(ev->event, "message") != 0)
		return 0;
	return handle_data(r, ev->data, ev->data_len) < 0 ? -EPROTO : 0;
}

static void check_headers(struct req *r)
{
	CURL *easy = r->t->c->easy;
	char *ct = NULL;
	long status = 0;

	r->headers_checked = true;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct);
	r->status = status;
	if (ct)
		copy_excerpt(r->content_type, sizeof(r->content_type), ct, strlen(ct));
	r->sse_ok =
	    status >= 200 && status < 300 && (!ct || strncasecmp(ct, "text/event-stream", 17) == 0);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	struct llm_client *c = r->t->c;
	size_t n = size * nmemb;
	int rc;

	if (r->stopped)
		return 0;
	if (!r->headers_checked)
		check_headers(r);
	r->bytes += n;
	r->t->ret->bytes_received += n;
	if (r->bytes > (uint64_t)c->p.max_stream_bytes) {
		req_stop(r, LLM_TOO_LARGE, "response longer than %ld bytes (max_stream_bytes)",
			 c->p.max_stream_bytes);
		return 0;
	}
	if (!r->sse_ok) {
		/* An error body: keep its start for the message. */
		size_t room = r->errbody.max - r->errbody.len;

		if (room && dbuf_add(&r->errbody, ptr, n < room ? n : room) < 0) {
			req_stop(r, LLM_INTERNAL_ERROR, "out of memory");
			return 0;
		}
		return n;
	}
	rc = sse_feed(c->sse, ptr, n, on_event, r);
	if (rc == -E2BIG)
		req_stop(r, LLM_TOO_LARGE,
			 "an SSE line or event longer than %ld bytes "
			 "(max_event_bytes)",
			 c->p.max_event_bytes);
	if (rc < 0) {
		req_stop(r, LLM_INTERNAL_ERROR, "SSE parser: %s", strerror(-rc));
		return 0;
	}
	return n;
}

/* The message of an error body: OpenAI/vLLM/llama.cpp {"error":{"message"}},
 * Ollama {"error":"..."}, FastAPI {"detail":...}, else its text. */
static void error_message(const struct dbuf *body, char *dst, size_t len)
{
	cJSON *root = body->len ? cJSON_ParseWithLength(body->p, body->len) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "detail");
	const char *s = NULL;

	if (cJSON_IsString(m))
		s = m->valuestring;
	else if (cJSON_IsString(e))
		s = e->valuestring;
	else if (cJSON_IsString(d))
		s = d->valuestring;
	if (s)
		copy_excerpt(dst, len, s, strlen(s));
	else
		copy_excerpt(dst, len, dbuf_str(body), body->len);
	cJSON_Delete(root);
}

static void classify(struct req *r, bool completed, CURLcode res)
{
	struct llm_client *c = r->t->c;
	char msg[160];

	if (r->stopped)
		return;
	if (!completed) {
		req_stop(r, LLM_INTERNAL_ERROR, "transfer neither completed nor stopped");
		return;
	}
	if (!r->headers_checked && res == CURLE_OK)
		check_headers(r);
	if (res == CURLE_OK) {
		if (r->status < 200 || r->status >= 300) {
			error_message(&r->errbody, msg, sizeof(msg));
			req_stop(r, LLM_HTTP_ERROR, "HTTP %ld from %s: %s", r->status, c->p.url,
				 msg[0] ? msg : "(no body)");
		} else if (!r->sse_ok) {
			error_message(&r->errbody, msg, sizeof(msg));
			req_stop(r, LLM_BAD_STREAM, "expected text/event-stream, got '%s': %s",
				 r->content_type, msg);
		} else if (!r->done && !r->finished) {
			r->dropped = true;
			req_stop(r, LLM_BAD_STREAM,
				 "the stream ended after %llu bytes without a finish_reason or "
				 "[DONE]",
				 (unsigned long long)r->bytes);
		}
		return;
	}
	switch (res) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		req_stop(r, LLM_UNREACHABLE, "cannot reach %s: %s", c->p.url,
			 c->curl_err[0] ? c->curl_err : curl_easy_strerror(res));
		return;
	case CURLE_OPERATION_TIMEDOUT:
		/* Only the connect timeout is curl's; the others are measured here. */
		req_stop(r, LLM_TIMEOUT_CONNECT, "no connection to %s within %ld ms", c->p.url,
			 c->p.connect_timeout_ms);
		return;
	default:
		break;
	}
	if (r->done || r->finished)
		return; /* the reply was complete; the close after it is harmless */
	r->dropped = true;
	req_stop(r, LLM_BAD_STREAM, "connection dropped after %llu bytes: %s",
		 (unsigned long long)r->bytes,
		 c->curl_err[0] ? c->curl_err : curl_easy_strerror(res));
}

/* Checks the clocks; true when the attempt must end now. */
static bool past_deadline(struct req *r, uint64_t now, uint64_t *ret_next)
{
	const struct llm_params *p = &r->t->c->p;
	uint64_t total = r->t_start + (uint64_t)p->request_timeout_ms * MS;
	uint64_t phase;

	if (now >= total) {
		req_stop(r, LLM_TIMEOUT_TOTAL, "request ran past %ld ms (request_timeout_ms)",
			 p->request_timeout_ms);
		return true;
	}
	if (!r->got_token) {
		phase = r->t_start + (uint64_t)p->first_token_timeout_ms * MS;
		if (now >= phase) {
			req_stop(r, LLM_TIMEOUT_FIRST_TOKEN,
				 "no token within %ld ms (first_token_timeout_ms)",
				 p->first_token_timeout_ms);
			return true;
		}
	} else {
		phase = r->t_last + (uint64_t)p->gap_timeout_ms * MS;
		if (now >= phase) {
			/* After [DONE] or a finish_reason the reply is whole; a server
			 * that keeps the response open only costs the connection. */
			if (r->done || r->finished)
				return true;
			req_stop(r, LLM_TIMEOUT_GAP, "stream stalled for %ld ms (gap_timeout_ms)",
				 p->gap_timeout_ms);
			return true;
		}
	}
	*ret_next = phase < total ? phase : total;
	return false;
}

static void run_attempt(struct llm_client *c, struct req *r, const char *body, size_t len)
{
	const struct llm_callbacks *cb = r->t->cb;
	bool polled = cb && cb->should_cancel, completed = false;
	CURLcode res = CURLE_OK;
	struct CURLMsg *msg;
	uint64_t now, next;
	int running, left;
	long wait;

	sse_parser_reset(c->sse);
	c->curl_err[0] = '\0';
	r->t_start = r->t_last = hal_now_ns();
	if (curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) != CURLE_OK ||
	    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
		req_stop(r, LLM_INTERNAL_ERROR, "libcurl refused the request");
		return;
	}
	for (;;) {
		if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
			req_stop(r, LLM_INTERNAL_ERROR, "curl_multi_perform failed");
			break;
		}
		while ((msg = curl_multi_info_read(c->multi, &left)))
			if (msg->msg == CURLMSG_DONE) {
				res = msg->data.result;
				completed = true;
			}
		if (r->stopped || completed)
			break;
		if (cancel_requested(r->t)) {
			req_stop(r, LLM_CANCELLED, "cancelled");
			break;
		}
		now = hal_now_ns();
		if (past_deadline(r, now, &next)) {
			completed = true; /* a stop, or a whole reply on a stuck server */
			break;
		}
		wait = (long)((next - now + MS - 1) / MS);
		if (wait > (polled ? POLL_MS : WAIT_MAX_MS))
			wait = polled ? POLL_MS : WAIT_MAX_MS;
		if (curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL) != CURLM_OK) {
			req_stop(r, LLM_INTERNAL_ERROR, "curl_multi_poll failed");
			break;
		}
	}
	/* Removing an unfinished transfer closes its connection at once; a
	 * finished one goes back to the pool for the next request. */
	curl_multi_remove_handle(c->multi, c->easy);
	if (!r->headers_checked && !r->stopped) {
		long status = 0;

		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		r->status = status;
	}
	classify(r, completed, res);
	if (r->has_usage) {
		add_usage(&r->t->ret->prompt_tokens, r->prompt_tokens);
		add_usage(&r->t->ret->completion_tokens, r->completion_tokens);
	}
	if (!r->stopped && r->t->carry_len) {
		r->t->carry_len = 0;
		req_stop(r, LLM_BAD_STREAM, "the reply ends inside a UTF-8 character");
	}
}

static enum llm_outcome req_outcome(const struct req *r)
{
	return r->stopped ? r->stop : LLM_OK;
}

static bool retryable(const struct req *r)
{
	if (r->got_token)
		return false;
	switch (req_outcome(r)) {
	case LLM_UNREACHABLE:
	case LLM_TIMEOUT_CONNECT:
		return true;
	case LLM_HTTP_ERROR:
		return r->status >= 500 || r->status == 408 || r->status == 429;
	case LLM_BAD_STREAM:
		return r->dropped;
	case LLM_OK:
	case LLM_CANCELLED:
	case LLM_TIMEOUT_FIRST_TOKEN:
	case LLM_TIMEOUT_GAP:
	case LLM_TIMEOUT_TOTAL:
	case LLM_TOO_LARGE:
	case LLM_CIRCUIT_OPEN:
	case LLM_TOOL_LOOP_LIMIT:
	case LLM_INTERNAL_ERROR:
		return false;
	}
	return false;
}

static enum breaker_verdict verdict(const struct req *r)
{
	switch (req_outcome(r)) {
	case LLM_OK:
		return VERDICT_SUCCESS;
	case LLM_TIMEOUT_CONNECT:
	case LLM_TIMEOUT_FIRST_TOKEN:
	case LLM_TIMEOUT_GAP:
	case LLM_TIMEOUT_TOTAL:
	case LLM_UNREACHABLE:
	case LLM_BAD_STREAM:
	case LLM_TOO_LARGE:
		return VERDICT_FAILURE;
	case LLM_HTTP_ERROR:
		/* A 4xx is our request, not the model's health. */
		return r->status >= 500 || r->status == 408 || r->status == 429 ? VERDICT_FAILURE
										: VERDICT_NEUTRAL;
	case LLM_CANCELLED:
	case LLM_CIRCUIT_OPEN:
	case LLM_TOOL_LOOP_LIMIT:
	case LLM_INTERNAL_ERROR:
		return VERDICT_NEUTRAL;
	}
	return VERDICT_NEUTRAL;
}

static uint64_t next_random(struct llm_client *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

/* Sleeps ms unless cancelled first (then returns true). */
static bool backoff_wait(struct turn *t, long ms)
{
	uint64_t end = hal_now_ns() + (uint64_t)ms * MS, now;

	while ((now = hal_now_ns()) < end) {
		long left = (long)((end - now + MS - 1) / MS);

		if (cancel_requested(t))
			return true;
		curl_multi_poll(t->c->multi, NULL, 0, (int)(left < POLL_MS ? left : POLL_MS), NULL);
	}
	return cancel_requested(t);
}

/* One model response, with retries before its first token. r holds the
 * result. */
static void request(struct turn *t, struct req *r, const char *body, size_t len)
{
	struct llm_client *c = t->c;
	unsigned attempt;
	int64_t wait_ms = 0;
	long delay;

	for (attempt = 0;; attempt++) {
		if (!breaker_allow(c, hal_now_ns(), &wait_ms)) {
			if (attempt == 0) {
				req_stop(
				    r, LLM_CIRCUIT_OPEN,
				    "circuit breaker open after %ld failed requests; next trial "
				    "in %lld ms",
				    c->p.breaker_failures, (long long)wait_ms);
			} else {
				size_t n = strlen(r->detail);

				snprintf(r->detail + n, sizeof(r->detail) - n,
					 " (circuit breaker now open)");
			}
			return;
		}
		req_reset(r);
		t->ret->attempts++;
		if (attempt)
			t->ret->retries++;
		run_attempt(c, r, body, len);
		breaker_record(c, verdict(r), hal_now_ns());
		t->ret->http_status = r->status;
		if (!retryable(r) || attempt >= (unsigned)c->p.max_retries)
			return;
		delay = c->p.backoff_ms;
		for (unsigned i = 0; i < attempt && delay < c->p.backoff_max_ms; i++)
			delay *= 2;
		if (delay > c->p.backoff_max_ms)
			delay = c->p.backoff_max_ms;
		delay = delay / 2 + (long)(next_random(c) % (uint64_t)(delay / 2 + 1));
		if (backoff_wait(t, delay)) {
			r->stopped = false;
			req_stop(r, LLM_CANCELLED, "cancelled while waiting to retry");
			return;
		}
	}
}

/* ---- the tool loop ---- */

static char *build_body(struct llm_client *c, cJSON *conv, cJSON *tools)
{
	cJSON *root = cJSON_CreateObject(), *opts;
	char *s = NULL;

	if (!root)
		return NULL;
	if (!cJSON_AddStringToObject(root, "model", c->p.model) ||
	    !cJSON_AddItemReferenceToObject(root, "messages", conv) ||
	    !cJSON_AddBoolToObject(root, "stream", 1))
		goto out;
	if (c->p.stream_usage) {
		opts = cJSON_AddObjectToObject(root, "stream_options");
		if (!opts || !cJSON_AddBoolToObject(opts, "include_usage", 1))
			goto out;
	}
	if (c->p.max_tokens > 0 &&
	    !cJSON_AddNumberToObject(root, "max_tokens", (double)c->p.max_tokens))
		goto out;
	if (c->p.temperature >= 0 &&
	    !cJSON_AddNumberToObject(root, "temperature", c->p.temperature))
		goto out;
	if (tools && cJSON_GetArraySize(tools) > 0 &&
	    !cJSON_AddItemReferenceToObject(root, "tools", tools))
		goto out;
	s = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return s;
}

/* Adds msg to the conversation and a copy to this turn's list. */
static int append_message(cJSON *conv, cJSON *appended, cJSON *msg)
{
	cJSON *copy;

	if (!msg)
		return -ENOMEM;
	copy = cJSON_Duplicate(msg, 1);
	if (!copy) {
		cJSON_Delete(msg);
		return -ENOMEM;
	}
	if (!cJSON_AddItemToArray(conv, msg)) {
		cJSON_Delete(msg);
		cJSON_Delete(copy);
		return -ENOMEM;
	}
	if (!cJSON_AddItemToArray(appended, copy)) {
		cJSON_Delete(copy);
		return -ENOMEM;
	}
	return 0;
}

static cJSON *text_message(const char *role, const char *text)
{
	cJSON *m = cJSON_CreateObject();

	if (m && (!cJSON_AddStringToObject(m, "role", role) ||
		  !cJSON_AddStringToObject(m, "content", text))) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

static cJSON *tool_result_message(const char *id, const char *content)
{
	cJSON *m = cJSON_CreateObject();

	if (m && (!cJSON_AddStringToObject(m, "role", "tool") ||
		  !cJSON_AddStringToObject(m, "tool_call_id", id) ||
		  !cJSON_AddStringToObject(m, "content", content))) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

/* {"role":"assistant","content":text|null,"tool_calls":[...]} */
static cJSON *tool_calls_message(const struct req *r)
{
	cJSON *m = cJSON_CreateObject(), *calls, *call, *fn;
	int i;

	if (!m)
		return NULL;
	if (!cJSON_AddStringToObject(m, "role", "assistant"))
		goto fail;
	if (r->text.len ? !cJSON_AddStringToObject(m, "content", dbuf_str(&r->text))
			: !cJSON_AddNullToObject(m, "content"))
		goto fail;
	calls = cJSON_AddArrayToObject(m, "tool_calls");
	if (!calls)
		goto fail;
	for (i = 0; i < r->nslots; i++) {
		const struct tool_slot *s = &r->slots[i];

		if (!s->used)
			continue;
		call = cJSON_CreateObject();
		if (!call || !cJSON_AddItemToArray(calls, call)) {
			cJSON_Delete(call);
			goto fail;
		}
		fn = cJSON_CreateObject();
		if (!cJSON_AddStringToObject(call, "id", s->id) ||
		    !cJSON_AddStringToObject(call, "type", "function") || !fn ||
		    !cJSON_AddItemToObject(call, "function", fn)) {
			cJSON_Delete(fn);
			goto fail;
		}
		if (!cJSON_AddStringToObject(fn, "name", s->name) ||
		    !cJSON_AddStringToObject(fn, "arguments", dbuf_str(&s->args)))
			goto fail;
	}
	return m;
fail:
	cJSON_Delete(m);
	return NULL;
}

static void note_cancelled_tools(struct turn *t, const struct req *r, int from)
{
	int i;

	for (i = from; i < r->nslots; i++) {
		if (!r->slots[i].used)
			continue;
		if (!t->ret->tool_calls_cancelled) {
			snprintf(t->ret->cancelled_tool_id, sizeof(t->ret->cancelled_tool_id), "%s",
				 r->slots[i].id);
			snprintf(t->ret->cancelled_tool_name, sizeof(t->ret->cancelled_tool_name),
				 "%s", r->slots[i].name);
		}
		t->ret->tool_calls_cancelled++;
	}
}

/* Complete tool calls: ids (made up when a server sends none), names, and
 * "" arguments as "{}". */
static int finish_tool_calls(struct req *r, unsigned step)
{
	int i;

	if (r->nslots == 0 && strcmp(r->finish, "tool_calls") == 0) {
		req_stop(r, LLM_BAD_STREAM, "finish_reason \"tool_calls\" without a tool call");
		return -1;
	}
	for (i = 0; i < r->nslots; i++) {
		struct tool_slot *s = &r->slots[i];

		if (!s->used)
			continue;
		if (!s->name[0]) {
			req_stop(r, LLM_BAD_STREAM, "tool call %d has no function name", i);
			return -1;
		}
		if (!s->id[0])
			snprintf(s->id, sizeof(s->id), "call_%u_%d", step, i);
		if (strspn(dbuf_str(&s->args), " \t\r\n") == s->args.len) {
			dbuf_clear(&s->args);
			if (dbuf_add(&s->args, "{}", 2) < 0) {
				req_stop(r, LLM_INTERNAL_ERROR, "out of memory");
				return -1;
			}
		}
	}
	return 0;
}

/* The text the model gets back for one call; malloc'd. *ret_cancel is set
 * when the tool asked to end the turn. */
static char *run_tool(struct turn *t, const struct tool_slot *s, bool *ret_cancel)
{
	const struct llm_params *p = &t->c->p;
	char buf[LLM_TOOL_NAME_MAX + 160], *result = NULL;
	cJSON *args = cJSON_ParseWithLength(dbuf_str(&s->args), s->args.len);
	bool valid = cJSON_IsObject(args);
	int rc;

	cJSON_Delete(args);
	if (!valid) {
		snprintf(buf, sizeof(buf),
			 "{\"error\":\"the arguments of %s are not a valid JSON object; call it "
			 "again with valid JSON\"}",
			 s->name);
		return strdup(buf);
	}
	if (!t->cb || !t->cb->on_tool_call) {
		snprintf(buf, sizeof(buf), "{\"error\":\"tool %s is not available\"}", s->name);
		return strdup(buf);
	}
	t->ret->tool_calls_run++;
	rc = t->cb->on_tool_call(t->ctx, s->id, s->name, dbuf_str(&s->args), &result);
	if (rc == -ECANCELED) {
		free(result);
		*ret_cancel = true;
		return strdup("{\"error\":\"cancelled\"}");
	}
	if (rc < 0 || !result) {
		free(result);
		snprintf(buf, sizeof(buf), "{\"error\":\"tool %s failed: %s\"}", s->name,
			 strerror(rc < 0 ? -rc : EIO));
		return strdup(buf);
	}
	if (strlen(result) > (size_t)p->max_tool_result_bytes) {
		snprintf(buf, sizeof(buf),
			 "{\"error\":\"the result of %s was %zu bytes, over the %ld-byte "
			 "limit\"}",
			 s->name, strlen(result), p->max_tool_result_bytes);
		free(result);
		return strdup(buf);
	}
	return result;
}

static void set_detail(struct llm_result *ret, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_detail(struct llm_result *ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ret->detail, sizeof(ret->detail), fmt, ap);
	va_end(ap);
}

/* Parses a JSON array argument; NULL with ret->detail set when it is not. */
static cJSON *parse_array(const char *json, const char *what, struct llm_result *ret)
{
	cJSON *a = cJSON_Parse(json);
	const cJSON *m;

	if (!cJSON_IsArray(a)) {
		set_detail(ret, "%s: expected a JSON array", what);
		cJSON_Delete(a);
		return NULL;
	}
	cJSON_ArrayForEach(m, a)
	{
		if (!cJSON_IsObject(m)) {
			set_detail(ret, "%s: every element must be a JSON object", what);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

static enum llm_outcome run_turn(struct turn *t, cJSON *conv, cJSON *tools, cJSON *appended)
{
	struct llm_client *c = t->c;
	struct llm_result *ret = t->ret;
	enum llm_outcome o = LLM_OK;
	struct req r;
	unsigned step;
	char *body;
	size_t len;
	int i;

	req_init(&r, t);
	for (step = 0;; step++) {
		if (cancel_requested(t)) {
			o = LLM_CANCELLED;
			set_detail(ret, "cancelled before request %u", step + 1);
			break;
		}
		body = build_body(c, conv, tools);
		if (!body) {
			o = LLM_INTERNAL_ERROR;
			set_detail(ret, "out of memory building the request");
			break;
		}
		len = strlen(body);
		if (len > (size_t)c->p.max_request_bytes) {
			free(body);
			o = LLM_TOO_LARGE;
			set_detail(ret,
				   "request of %zu bytes over max_request_bytes (%ld): shorten the "
				   "conversation or the tools",
				   len, c->p.max_request_bytes);
			break;
		}
		request(t, &r, body, len);
		free(body);
		snprintf(ret->finish_reason, sizeof(ret->finish_reason), "%s", r.finish);
		o = req_outcome(&r);
		if (o == LLM_OK && finish_tool_calls(&r, step) < 0)
			o = req_outcome(&r);
		if (o != LLM_OK) {
			snprintf(ret->detail, sizeof(ret->detail), "%s", r.detail);
			if (o == LLM_CANCELLED)
				note_cancelled_tools(t, &r, 0);
			/* What the customer already saw stays in the transcript. */
			if (r.text.len &&
			    append_message(conv, appended,
					   text_message("assistant", dbuf_str(&r.text))) < 0)
				o = LLM_INTERNAL_ERROR;
			break;
		}
		ret->steps++;
		if (r.nslots == 0) {
			if (append_message(conv, appended,
					   text_message("assistant", dbuf_str(&r.text))) < 0)
				o = LLM_INTERNAL_ERROR;
			set_detail(ret, "finished (%s) after %u request(s)",
				   r.finish[0] ? r.finish : "[DONE]", ret->attempts);
			break;
		}
		if (step + 1 >= (unsigned)c->p.max_steps) {
			o = LLM_TOOL_LOOP_LIMIT;
			set_detail(ret, "the model still called %s after %ld requests (max_steps)",
				   r.slots[0].name, c->p.max_steps);
			if (r.text.len &&
			    append_message(conv, appended,
					   text_message("assistant", dbuf_str(&r.text))) < 0)
				o = LLM_INTERNAL_ERROR;
			break;
		}
		if (append_message(conv, appended, tool_calls_message(&r)) < 0) {
			o = LLM_INTERNAL_ERROR;
			break;
		}
		/* Every call gets its tool message, run or not, so the
		 * conversation stays valid whatever happens. */
		for (i = 0; i < r.nslots; i++) {
			const struct tool_slot *s = &r.slots[i];
			bool stop = false;
			char *result;

			if (!s->used)
				continue;
			if (o == LLM_CANCELLED || cancel_requested(t)) {
				if (o != LLM_CANCELLED)
					set_detail(ret, "cancelled before tool %s ran", s->name);
				o = LLM_CANCELLED;
				note_cancelled_tools(t, &r, i);
				/* The remaining calls were counted; answer them all. */
				for (; i < r.nslots; i++)
					if (r.slots[i].used &&
					    append_message(conv, appended,
							   tool_result_message(
							       r.slots[i].id,
							       "{\"error\":\"cancelled\"}")) < 0)
						o = LLM_INTERNAL_ERROR;
				break;
			}
			result = run_tool(t, s, &stop);
			if (!result || append_message(conv, appended,
						      tool_result_message(s->id, result)) < 0) {
				free(result);
				o = LLM_INTERNAL_ERROR;
				break;
			}
			free(result);
			if (stop) {
				o = LLM_CANCELLED;
				set_detail(ret, "tool %s cancelled the turn", s->name);
			}
		}
		if (o != LLM_OK)
			break;
	}
	req_free(&r);
	return o;
}

int llm_chat(struct llm_client *c, const char *messages_json, const char *tools_json,
	     const struct llm_callbacks *cb, void *ctx, struct llm_result *ret)
{
	cJSON *conv = NULL, *tools = NULL, *appended = NULL;
	struct turn t;
	bool busy;
	int rc;

	memset(ret, 0, sizeof(*ret));
	ret->ttft_ms = -1;
	ret->prompt_tokens = -1;
	ret->completion_tokens = -1;
	memset(&t, 0, sizeof(t));
	t.c = c;
	t.cb = cb;
	t.ctx = ctx;
	t.ret = ret;
	t.t0 = hal_now_ns();
	ret->outcome = LLM_INTERNAL_ERROR;
	if (!c || !messages_json) {
		set_detail(ret, "no client or no messages");
		return -EINVAL;
	}
	t.reply.max = (size_t)c->p.max_reply_bytes;

	pthread_mutex_lock(&c->lock);
	busy = c->running;
	if (!busy) {
		c->running = true;
		atomic_store(&c->cancel, false);
	}
	pthread_mutex_unlock(&c->lock);
	if (busy) {
		set_detail(ret, "another llm_chat runs on this client");
		return -EINVAL;
	}

	rc = -EINVAL;
	conv = parse_array(messages_json, "messages_json", ret);
	if (!conv)
		goto out;
	if (tools_json) {
		tools = parse_array(tools_json, "tools_json", ret);
		if (!tools)
			goto out;
	}
	appended = cJSON_CreateArray();
	rc = -ENOMEM;
	if (!appended) {
		set_detail(ret, "out of memory");
		goto out;
	}
	ret->outcome = run_turn(&t, conv, tools, appended);
	ret->messages_json = cJSON_PrintUnformatted(appended);
	ret->reply = strdup(dbuf_str(&t.reply));
	if (!ret->messages_json || !ret->reply) {
		ret->outcome = LLM_INTERNAL_ERROR;
		set_detail(ret, "out of memory");
		goto out;
	}
	rc = outcome_errno(ret->outcome);
out:
	if (!ret->messages_json)
		ret->messages_json = strdup("[]");
	if (!ret->reply)
		ret->reply = strdup("");
	ret->elapsed_ms = (int64_t)((hal_now_ns() - t.t0) / MS);
	cJSON_Delete(conv);
	cJSON_Delete(tools);
	cJSON_Delete(appended);
	dbuf_free(&t.reply);
	pthread_mutex_lock(&c->lock);
	c->running = false;
	atomic_store(&c->cancel, false);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void llm_result_release(struct llm_result *ret)
{
	if (!ret)
		return;
	free(ret->reply);
	free(ret->messages_json);
	ret->reply = NULL;
	ret->messages_json = NULL;
}
