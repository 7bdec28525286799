/*
 * llm — the streaming client for an OpenAI-compatible chat endpoint
 * (POST /v1/chat/completions with "stream": true: llama.cpp's llama-server,
 * Ollama, vLLM), and the tool loop around it.
 *
 * One call to llm_chat is one customer turn: it sends the conversation,
 * streams the reply to on_token as whole UTF-8 characters, reassembles tool
 * calls from their deltas, runs each complete one through on_tool_call,
 * appends the assistant tool_calls message and a "tool" message per call,
 * and asks again, up to max_steps requests. Every turn ends in one outcome
 * (enum llm_outcome) so the runtime can fall back to the offline responder
 * and tell staff when it is not LLM_OK.
 *
 * Time limits (measured here, not with curl's low-speed options): connect,
 * first token (from the start of the request, connecting included), gap
 * between stream events after the first token, and a total per request.
 * Requests that fail before the first token are retried with back-off; a
 * circuit breaker opens after repeated failures, stays open for a cool-down,
 * then lets one trial request through (half-open). See docs/llm.md.
 *
 * Threads: one llm_chat at a time per client, on one thread; llm_cancel and
 * llm_breaker may be called from any thread.
 */
#ifndef AGENT_LLM_H
#define AGENT_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct config_error;

#define LLM_URL_MAX 512
#define LLM_MODEL_MAX 128
#define LLM_API_KEY_MAX 512
#define LLM_DETAIL_MAX 320
#define LLM_TOOL_ID_MAX 128
#define LLM_TOOL_NAME_MAX 64
/* Tool calls one model response may make (parallel calls). */
#define LLM_MAX_TOOL_CALLS 8

struct llm_params {
	char url[LLM_URL_MAX];	       /* the full .../v1/chat/completions URL; "" = no LLM */
	char model[LLM_MODEL_MAX];     /* "model" in the request */
	char api_key[LLM_API_KEY_MAX]; /* sent as "Authorization: Bearer"; "" = none */
	long connect_timeout_ms;
	long first_token_timeout_ms; /* from the start of a request to its first token */
	long gap_timeout_ms;	     /* between stream events once tokens flow */
	long request_timeout_ms;     /* one request, end to end */
	long max_retries;	     /* extra attempts, only before the first token */
	long backoff_ms;	     /* first retry delay, doubled per retry ... */
	long backoff_max_ms;	     /* ... up to this; half of it is random (jitter) */
	long breaker_failures;	     /* consecutive failed requests that open the breaker */
	long breaker_cooldown_ms;    /* open this long, then one trial (half-open) */
	long max_steps;		     /* requests per turn (each tool round is one) */
	long max_tokens;	     /* "max_tokens" in the request; 0 = not sent */
	double temperature;	     /* "temperature"; < 0 = not sent */
	bool stream_usage;	     /* ask for a usage chunk (stream_options.include_usage) */
	long max_reply_bytes;	     /* text delivered to on_token per turn */
	long max_stream_bytes;	     /* bytes received per request */
	long max_event_bytes;	     /* one SSE line / event */
	long max_tool_args_bytes;    /* one tool call's arguments */
	long max_tool_result_bytes;  /* one tool result sent back to the model */
	long max_request_bytes;	     /* one request body (conversation + tools) */
};

enum llm_outcome {
	LLM_OK,			 /* the model finished its reply */
	LLM_CANCELLED,		 /* llm_cancel or should_cancel: stopped at once */
	LLM_TIMEOUT_CONNECT,	 /* no connection within connect_timeout_ms */
	LLM_TIMEOUT_FIRST_TOKEN, /* connected, but no token within first_token_timeout_ms */
	LLM_TIMEOUT_GAP,	 /* tokens stopped for gap_timeout_ms mid-reply */
	LLM_TIMEOUT_TOTAL,	 /* one request ran past request_timeout_ms */
	LLM_UNREACHABLE,	 /* refused, no route, DNS or TLS failure */
	LLM_HTTP_ERROR,		 /* a status other than 2xx (in http_status) */
	LLM_BAD_STREAM,		 /* malformed JSON, protocol violation, dropped connection */
	LLM_TOO_LARGE,		 /* a limit was hit (flood, reply, tool arguments, request) */
	LLM_CIRCUIT_OPEN,	 /* the breaker is open: no request was made */
	LLM_TOOL_LOOP_LIMIT,	 /* the model still called tools after max_steps requests */
	LLM_INTERNAL_ERROR,	 /* our side: bad arguments, out of memory, libcurl setup */
};

#define LLM_OUTCOME_COUNT (LLM_INTERNAL_ERROR + 1)

enum llm_breaker_state {
	LLM_BREAKER_CLOSED,    /* requests flow */
	LLM_BREAKER_OPEN,      /* failing: no requests until the cool-down ends */
	LLM_BREAKER_HALF_OPEN, /* cool-down over: the next request is the trial */
};

struct llm_callbacks {
	/* Reply text as it arrives, always whole UTF-8 characters, NUL-terminated;
	 * the string is valid during the call. May be NULL. */
	void (*on_token)(void *ctx, const char *utf8);
	/*
	 * Runs one complete tool call: args_json is a JSON object (validated
	 * here). Returns 0 with *ret_result_json a malloc'd JSON text (this
	 * module frees it), or a negative errno: the model is then told the tool
	 * failed; -ECANCELED also ends the turn as cancelled. NULL: every call is
	 * answered "tool not available".
	 */
	int (*on_tool_call)(void *ctx, const char *id, const char *name, const char *args_json,
			    char **ret_result_json);
	/* Polled about every 10 ms while waiting; true stops the turn at once.
	 * May be NULL (then only llm_cancel cancels). */
	bool (*should_cancel)(void *ctx);
};

struct llm_result {
	enum llm_outcome outcome;
	long http_status;	       /* of the last response, 0 if none came */
	unsigned attempts;	       /* HTTP requests made, retries included */
	unsigned steps;		       /* model responses completed (tool rounds + final) */
	unsigned retries;	       /* attempts that were retries */
	uint64_t bytes_received;       /* response bytes over all attempts */
	unsigned deltas;	       /* content and tool-call deltas received */
	long prompt_tokens;	       /* from the server's usage, summed; -1 if never sent */
	long completion_tokens;	       /* likewise */
	int64_t ttft_ms;	       /* turn start to the first token; -1 if none */
	int64_t elapsed_ms;	       /* the whole call */
	unsigned tool_calls_run;       /* on_tool_call invocations */
	unsigned tool_calls_cancelled; /* calls cut off by a cancellation, never run */
	char cancelled_tool_id[LLM_TOOL_ID_MAX];     /* the first of them, "" if none */
	char cancelled_tool_name[LLM_TOOL_NAME_MAX]; /* likewise */
	char finish_reason[32];	     /* of the last response: "stop", "length", ... */
	char detail[LLM_DETAIL_MAX]; /* what happened, for logs and staff */
	/* malloc'd, NUL-terminated; free with llm_result_release: */
	char *reply;	     /* every character delivered to on_token this turn */
	char *messages_json; /* JSON array of the messages this turn added (assistant,
				tool), always a valid continuation of the conversation */
};

/*
 * Fills p with the defaults (url empty: no LLM), then reads section (e.g.
 * "llm") of cfg: url, model, api_key or api_key_file, the timeouts, retry,
 * breaker and size keys named like the fields. A missing section leaves the
 * defaults. Errors: -EINVAL (a bad value, url and model inconsistent, both
 * api_key and api_key_file, first_token_timeout_ms not above
 * connect_timeout_ms), -ENAMETOOLONG, -errno reading api_key_file, each with
 * err->msg naming the file, line, key, what was expected and what was found.
 */
int llm_params_from_config(const struct config *cfg, const char *section, struct llm_params *p,
			   struct config_error *err);

/* The defaults llm_params_from_config starts from. */
void llm_params_default(struct llm_params *p);

/* Is an LLM configured (url not empty)? */
bool llm_params_configured(const struct llm_params *p);

struct llm_client;

/*
 * A client for p (copied). On success *ret is owned by the caller
 * (llm_client_free). Errors: -EINVAL (no url or model, a value out of range),
 * -ENOMEM, -EIO (libcurl would not initialise).
 */
int llm_client_new(const struct llm_params *p, struct llm_client **ret);

/* Closes the kept-alive connection. NULL is fine. Not while llm_chat runs. */
void llm_client_free(struct llm_client *c);

/*
 * One turn. messages_json is the conversation so far (a JSON array of
 * OpenAI messages); tools_json the tools (a JSON array of {"type":
 * "function", "function": {...}}) or NULL. cb may be NULL (nothing
 * streamed out). Always fills *ret (release with llm_result_release), and
 * returns 0 when ret->outcome is LLM_OK, or else:
 *   -ECANCELED     LLM_CANCELLED
 *   -ETIMEDOUT     LLM_TIMEOUT_*
 *   -EHOSTUNREACH  LLM_UNREACHABLE
 *   -EPROTO        LLM_HTTP_ERROR, LLM_BAD_STREAM
 *   -E2BIG         LLM_TOO_LARGE
 *   -EAGAIN        LLM_CIRCUIT_OPEN
 *   -ELOOP         LLM_TOOL_LOOP_LIMIT
 *   -EINVAL        LLM_INTERNAL_ERROR: messages_json or tools_json is not a
 *                  JSON array (detail says which), or another call runs
 *   -ENOMEM, -EIO  LLM_INTERNAL_ERROR
 */
int llm_chat(struct llm_client *c, const char *messages_json, const char *tools_json,
	     const struct llm_callbacks *cb, void *ctx, struct llm_result *ret);

/* Frees ret->reply and ret->messages_json (a zeroed result is fine). */
void llm_result_release(struct llm_result *ret);

/*
 * Cancels the llm_chat running on c, from any thread: the stream is closed
 * at once, a tool call still streaming is marked cancelled and never run.
 * Does nothing when no call runs (use should_cancel for a race-free check
 * tied to the session).
 */
void llm_cancel(struct llm_client *c);

/* The breaker now; *ret_failures (may be NULL): consecutive failures;
 * *ret_retry_in_ms (may be NULL): ms until a trial is allowed, 0 if now. */
enum llm_breaker_state llm_breaker(struct llm_client *c, unsigned *ret_failures,
				   int64_t *ret_retry_in_ms);

/* "ok", "cancelled", "timeout_connect", ...; NULL out of range. */
const char *llm_outcome_name(enum llm_outcome o);
/* "closed", "open", "half_open"; NULL out of range. */
const char *llm_breaker_state_name(enum llm_breaker_state s);

#endif
