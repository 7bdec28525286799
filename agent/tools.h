/*
 * tools — what the model (or the offline responder) may call, each with a
 * JSON schema in the OpenAI "function" tool format:
 *
 *   search_products     the customer's words, a category, a price ceiling
 *   get_product         one product with its selling intelligence
 *   compare             products against a competitor's offers or the
 *                       customer's current monthly spend; the arithmetic is
 *                       done here, in integer cents, never by the model
 *   current_promotions  what runs on ctx->today
 *   book_appointment    a store visit, demo or installation (hook: book)
 *   record_need         what the customer needs, with tags (hook: record_need)
 *   escalate            hand over to staff (hook: escalate)
 *
 * tools_call() checks, in this order: the per-turn cap, that the tool
 * exists, that it is allowed in ctx->state, the arguments against the
 * schema, then runs it. Every attempt is audited as "tool_call" followed by
 * "tool_result" or "tool_rejected" (hook: audit, detail as JSON). Every
 * figure a result states is added to ctx->facts, the session's allowed set
 * for the figure check (agent/figures.h). Design notes:
 * docs/catalog-and-tools.md.
 */
#ifndef AGENT_TOOLS_H
#define AGENT_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/catalog.h"
#include "agent/figures.h"
#include "agent/state.h"

struct config;
struct config_error;

#define TOOLS_NAME_MAX 64
#define TOOLS_ARGS_MAX 4096	  /* bytes of one call's arguments */
#define TOOLS_RESULT_MAX 8192	  /* bytes of one result; bigger is rejected, not cut */
#define TOOLS_DEFAULT_MAX_CALLS 4 /* per turn */
#define TOOLS_MAX_CALLS_LIMIT 16  /* the most a config may allow */
#define TOOLS_REF_MAX 32	  /* bytes of a booking reference */
#define TOOLS_BOOKING_DAYS_AHEAD 60
#define TOOLS_ERROR_MAX 320

/* A booking handed to the book hook; strings valid during the call only. */
struct tools_booking {
	const char *kind;	   /* "store", "demo", "install" */
	int32_t day;		   /* days since 1970-01-01 */
	const char *time;	   /* "morning", "afternoon", "evening" */
	const char *product_id;	   /* NULL when none */
	const char *contact_name;  /* NULL when not given */
	const char *contact_phone; /* NULL when not given */
	const char *notes;	   /* NULL when none */
};

/*
 * The side effects, supplied by the runtime. A hook returns 0 or -errno; a
 * NULL hook makes its tool answer "not available here" (-ENOTSUP).
 * Strings passed in are valid during the call only.
 */
struct tools_hooks {
	/* kind: "tool_call", "tool_result" or "tool_rejected"; detail: JSON.
	 * When auditing "tool_call" fails, the tool does not run. */
	int (*audit)(void *user, const char *kind, const char *detail_json);
	/* Writes a reference (NUL-terminated, < reflen) for the booking. */
	int (*book)(void *user, const struct tools_booking *b, char *ret_ref, size_t reflen);
	int (*record_need)(void *user, const char *need, const char *const *tags, size_t n_tags,
			   const char *const *product_ids, size_t n_products);
	/* reason: one of the schema's words ("billing", "complaint", ...). */
	int (*escalate)(void *user, const char *reason, const char *summary, bool urgent);
	void *user;
};

/* One session's tool context; the caller owns it and everything it points to. */
struct tools_ctx {
	const struct catalog *catalog; /* required */
	struct figures_facts *facts;   /* the session's allowed figures; NULL: not tracked */
	enum agent_state state;	       /* the conversation's state now */
	int32_t today;		       /* days since 1970-01-01, from the caller's clock */
	unsigned max_calls_per_turn;   /* 0: TOOLS_DEFAULT_MAX_CALLS */
	unsigned calls_this_turn;      /* counted by tools_call(), zeroed by tools_turn_begin() */
	struct tools_hooks hooks;
};

/* Zeroes ctx and sets the catalog, facts (may be NULL) and date; state IDLE. */
void tools_ctx_init(struct tools_ctx *ctx, const struct catalog *c, struct figures_facts *facts,
		    int32_t today);
/* A new customer turn: the per-turn count starts again. */
void tools_turn_begin(struct tools_ctx *ctx);

struct tools_def {
	const char *name;
	const char *description; /* for the model */
	const char *schema;	 /* JSON Schema of the arguments (an object) */
	unsigned states;	 /* bit (1u << state) for each agent state it is allowed in */
};

size_t tools_count(void);
const struct tools_def *tools_at(size_t i);
const struct tools_def *tools_find(const char *name);
bool tools_allowed(const struct tools_def *t, enum agent_state s);

/*
 * The OpenAI "tools" array: [{"type":"function","function":{"name",
 * "description","parameters"}}, ...], every tool (state < 0) or only those
 * allowed in state. malloc'd; NULL on -ENOMEM.
 */
char *tools_schemas_json(int state);

/*
 * Runs the tool name with args_json (a JSON object; "" means {}).
 * *ret_result is always set (malloc'd, the caller frees) unless the result is
 * -ENOMEM: the tool's result, or {"error": "..."} saying what to do instead,
 * for the model to read. Returns 0 when the tool ran, or the rejection:
 *   -EAGAIN   the per-turn cap is reached
 *   -ENOENT   no such tool
 *   -EPERM    not allowed in ctx->state
 *   -EINVAL   bad arguments (schema, or an id that does not exist)
 *   -ENOTSUP  the tool's hook is not set on this box
 *   -E2BIG    arguments over TOOLS_ARGS_MAX or a result over TOOLS_RESULT_MAX
 *   -ENOMEM, or a hook's own error (the audit hook's stops the call)
 */
int tools_call(struct tools_ctx *ctx, const char *name, const char *args_json, char **ret_result);

/*
 * Validates args_json against schema_json (the subset the tools use: type
 * object/string/number/integer/boolean/array, properties, required,
 * additionalProperties false, enum, minimum, maximum, minLength, maxLength,
 * items, minItems, maxItems, description). 0, or -EINVAL with err naming the
 * argument ("argument 'max_price': expected a number <= 100000, got 250000").
 */
int tools_validate(const char *schema_json, const char *args_json, char *err, size_t errlen);

/* schema_json parses, is an object schema and uses only that subset (with
 * additionalProperties false where given); -EINVAL naming name and the
 * keyword otherwise. */
int tools_schema_check(const char *name, const char *schema_json, char *err, size_t errlen);
/* tools_schema_check() on every built-in tool. */
int tools_self_check(char *err, size_t errlen);

/* [section] max_calls_per_turn = 4 (1..TOOLS_MAX_CALLS_LIMIT); -EINVAL with the
 * config file, line and key in err for a bad value. */
int tools_config(const struct config *cfg, const char *section, unsigned *ret_max_calls,
		 struct config_error *err);

#endif
