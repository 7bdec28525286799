/*
 * display — the kiosk and staff sockets: AF_UNIX stream servers speaking
 * newline-delimited JSON (docs/display-protocol.md has the schema, v1).
 *
 * One struct display per socket, each with its own I/O thread (epoll on the
 * listening socket, the clients and an eventfd). Many clients per socket.
 *
 * Outbound (server -> clients): display_send() may be called from any
 * thread (the conversation stage). Under one short lock (priority
 * inheriting) it writes the line to every client with one non-blocking
 * send() each when that client's queue is empty; what the socket does not
 * take goes into the client's bounded byte queue, which the I/O thread
 * flushes when the socket is writable again. It never waits for a client
 * and never allocates: every client slot and its queue are allocated in
 * display_create. A client whose queue would overflow is marked too slow;
 * the I/O thread sends it (best effort) an error line "too_slow" and closes
 * it. Messages reach each client in the order of the display_send calls.
 *
 * Inbound (clients -> server): the I/O thread reads complete lines (at most
 * max_line_bytes; a longer line gets "line_too_long" and the connection is
 * closed, never split), parses and validates each against the role's
 * schema, answers a bad one with an error line (and logs it), and pushes a
 * good one as a fixed-size struct display_inbound into a bounded ring
 * (firmware/ring.h, SPSC: the I/O thread produces, the owner consumes with
 * display_recv / display_wait). When that ring is full the message is
 * refused with an error "busy" to its client; nothing blocks.
 */
#ifndef FIRMWARE_DISPLAY_H
#define FIRMWARE_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct config_error;

#define DISPLAY_PROTOCOL_VERSION 1

#define DISPLAY_PATH_MAX 108	/* sun_path, including the NUL */
#define DISPLAY_GROUP_MAX 64	/* group name, including the NUL */
#define DISPLAY_TOKEN_MAX 128	/* hello token, including the NUL */
#define DISPLAY_ID_MAX 64	/* client/device names, ids, consent kinds, with the NUL */
#define DISPLAY_TEXT_MAX 2048	/* customer/staff text, bytes with the NUL */
#define DISPLAY_MAX_CLIENTS 64	/* per socket */
#define DISPLAY_QUEUE_MIN 16384 /* per-client outbound queue, bytes */
#define DISPLAY_QUEUE_MAX (1u << 20)
#define DISPLAY_LINE_MIN 256 /* inbound line limit, bytes without the newline */
#define DISPLAY_LINE_MAX 65536
#define DISPLAY_INBOUND_MAX 4096 /* inbound ring capacity, messages */
#define DISPLAY_MSG_MAX 16384	 /* a good message buffer; every display_send can take it */
#define DISPLAY_ERROR_MAX 512	 /* display_create's message */
#define DISPLAY_MAX_ERRORS 64	 /* bad messages one connection may send before it is closed */

enum display_role {
	DISPLAY_ROLE_KIOSK,
	DISPLAY_ROLE_STAFF,
};

struct display_params {
	enum display_role role;
	char path[DISPLAY_PATH_MAX];   /* the socket file */
	unsigned mode;		       /* permissions of the socket file, e.g. 0660; <= 0777 */
	char group[DISPLAY_GROUP_MAX]; /* "" leaves the group as created */
	/* "" = no token. Otherwise a client gets nothing and may send nothing but
	 * hello until it sends hello with this token. */
	char token[DISPLAY_TOKEN_MAX];
	unsigned max_clients;	 /* 1 .. DISPLAY_MAX_CLIENTS */
	size_t queue_bytes;	 /* per client: DISPLAY_QUEUE_MIN .. DISPLAY_QUEUE_MAX */
	size_t max_line_bytes;	 /* inbound: DISPLAY_LINE_MIN .. DISPLAY_LINE_MAX */
	size_t inbound_capacity; /* messages: a power of two, 2 .. DISPLAY_INBOUND_MAX */
	/*
	 * Optional: called by the I/O thread after each message it queues for
	 * the owner (e.g. ring_wake on the ring the conversation stage waits
	 * on). Must be quick and must not call back into this display.
	 */
	void (*notify)(void *ctx);
	void *notify_ctx;
	/*
	 * Optional (staff tablets): decides a hello's token instead of the fixed
	 * one. 1 allowed, and when a pairing PIN was redeemed ret_token holds the
	 * new device token, sent back once as {"type":"paired","token":...};
	 * 0 refused. Called on the I/O thread; must be quick.
	 */
	int (*auth)(void *ctx, const char *name, const char *token, char *ret_token, size_t len);
	void *auth_ctx;
};

/* Kiosk: /run/edgebox/kiosk.sock, 0660, 4 clients. Staff: staff.sock, 16.
 * Both: 64 KiB queues, 4 KiB lines, 64 inbound messages, no group/token. */
void display_params_default(enum display_role role, struct display_params *ret);

/*
 * Reads section [kiosk] or [staff] (keys: socket, mode, group, token_file,
 * max_clients, queue_bytes, max_line_bytes, inbound_capacity) over the
 * defaults. socket = none switches the display off: *ret_enabled = false.
 * Errors: -EINVAL (err names file, line, key, expected), -ENAMETOOLONG,
 * or the -errno of reading token_file (err says which file and why).
 */
int display_params_from_config(const struct config *cfg, enum display_role role,
			       struct display_params *ret, bool *ret_enabled,
			       struct config_error *err);

struct display;

/*
 * Binds p->path and starts the I/O thread. An existing file at the path is
 * replaced only if it is a socket nobody listens on. The socket accepts
 * connections only after its mode and group are set. p is copied. On
 * success *ret owns the server (display_free). Errors, with err (may be
 * NULL) saying what and how to fix it:
 *   -EINVAL       a bad parameter, or an unknown group
 *   -ENAMETOOLONG the path does not fit sun_path
 *   -EEXIST       the path exists and is not a socket
 *   -EADDRINUSE   another process listens on the path
 *   -ENOENT/-EACCES/-EPERM/...  the folder is missing or not writable, or
 *                 chown to the group is not allowed
 *   -ENOMEM, or the -errno of socket/epoll/eventfd/pthread_create
 * *ret is untouched on error.
 */
int display_create(const struct display_params *p, struct display **ret, char *err, size_t errlen);

/*
 * Stops the I/O thread, tells every client (best effort, error
 * "shutdown"), closes them, removes the socket file if it is still ours,
 * frees everything. NULL is fine. No thread may still use d.
 */
void display_free(struct display *d);

/*
 * Sends one message to every client (that passed hello when a token is
 * set). line must be one JSON line ending in '\n' with no other newline;
 * it is copied (queued) or written before return. Never blocks on a client.
 * Returns the number of clients it was written or queued for, or
 *   -EINVAL    len is 0, or the line does not end in / contains a newline
 *   -EMSGSIZE  len > queue_bytes
 * Any thread.
 */
int display_send(struct display *d, const char *line, size_t len);

/*
 * Sends one message to one client (client id from a struct display_inbound).
 * 0, -EINVAL / -EMSGSIZE as display_send, -ENOENT (no such client now,
 * or it just went away), -ENOBUFS (its queue overflowed: it is being
 * dropped as too slow).
 */
int display_send_to(struct display *d, uint32_t client, const char *line, size_t len);

/* ---- inbound messages --------------------------------------------------- */

enum display_in_type {
	DISPLAY_IN_CONNECT,	  /* a client connected (and passed hello if a token is set) */
	DISPLAY_IN_DISCONNECT,	  /* that client left or was dropped: u.disconnect */
	DISPLAY_IN_HELLO,	  /* kiosk and staff: u.hello */
	DISPLAY_IN_CUSTOMER_TEXT, /* kiosk: u.text */
	DISPLAY_IN_TAP,		  /* kiosk: u.tap */
	DISPLAY_IN_CONSENT,	  /* kiosk: u.consent */
	DISPLAY_IN_TAKE_OVER,	  /* staff: u.session */
	DISPLAY_IN_HAND_BACK,	  /* staff: u.session */
	DISPLAY_IN_STAFF_TEXT,	  /* staff: u.staff_text */
};

enum display_tap_kind {
	DISPLAY_TAP_SUGGESTION,
	DISPLAY_TAP_PRODUCT,
};

/* Fixed size: travels by value through the inbound ring. */
struct display_inbound {
	enum display_in_type type;
	uint32_t client;  /* the connection: reply with display_send_to */
	uint64_t recv_ns; /* CLOCK_MONOTONIC when the line was complete */
	uint64_t ts_ms;	  /* the client's "ts", 0 when it sent none */
	union {
		struct {
			char name[DISPLAY_ID_MAX];     /* kiosk "client" / staff "device" */
			char token[DISPLAY_TOKEN_MAX]; /* checked by the server, then cleared */
		} hello;
		struct {
			char text[DISPLAY_TEXT_MAX]; /* customer_text: valid UTF-8, not blank */
		} text;
		struct {
			enum display_tap_kind kind;
			char id[DISPLAY_ID_MAX];
		} tap;
		struct {
			char kind[DISPLAY_ID_MAX]; /* "face", "ble", ... */
			bool granted;
			char name[DISPLAY_ID_MAX]; /* what to call them; "" when not given */
		} consent;
		int64_t session; /* take_over, hand_back: >= 1 */
		struct {
			int64_t session;
			char text[DISPLAY_TEXT_MAX];
		} staff_text;
		struct {
			char
			    reason[DISPLAY_ID_MAX]; /* "closed", "too_slow", "line_too_long", ... */
		} disconnect;
	} u;
};

/*
 * Why a line was refused: code is a static string (the "error" field of
 * the reply: bad_encoding, bad_json, not_object, bad_version, missing_field,
 * bad_field, unknown_type, not_allowed), detail says which field, what was
 * expected and how to fix it.
 */
struct display_parse_error {
	const char *code;
	char detail[256];
};

/*
 * Parses and validates one inbound line (without its newline) for role.
 * 0 with *ret filled (client, recv_ns left 0), or -EINVAL with err filled.
 * Also the I/O thread's parser; public so it can be tested and reused.
 */
int display_parse(enum display_role role, const char *line, size_t len, struct display_inbound *ret,
		  struct display_parse_error *err);

/*
 * The owner's side (one consumer thread). display_recv: 1 with *ret set,
 * 0 when nothing is waiting. display_wait: as ring_wait: 1 readable, 0
 * timed out, -EINTR woken by display_wake. timeout_ms -1 waits forever.
 */
int display_recv(struct display *d, struct display_inbound *ret);
int display_wait(struct display *d, int timeout_ms);
void display_wake(struct display *d);

/* ---- statistics --------------------------------------------------------- */

struct display_stats {
	unsigned clients;	 /* connected now */
	uint64_t accepted;	 /* connections taken */
	uint64_t refused;	 /* connections turned away: max_clients reached */
	uint64_t sent;		 /* messages written or queued, summed over clients */
	uint64_t bytes_out;	 /* bytes written to sockets */
	uint64_t dropped_slow;	 /* clients disconnected as too slow */
	uint64_t malformed;	 /* inbound lines refused with an error */
	uint64_t received;	 /* inbound messages handed to the owner */
	uint64_t busy;		 /* inbound messages refused: the owner's ring was full */
	uint64_t bytes_in;	 /* bytes read from clients */
	size_t queue_high_water; /* most bytes ever queued for one client */
};

/* Any thread. */
void display_get_stats(struct display *d, struct display_stats *ret);
const char *display_role_name(enum display_role role); /* "kiosk" / "staff" */
const char *display_path(const struct display *d);

/* ---- building outbound messages ---------------------------------------- */

/*
 * A bounded JSON writer over a caller's buffer; no allocation. Strings are
 * escaped, and bytes that are not valid UTF-8 become U+FFFD (so an LLM
 * token must carry whole code points to arrive intact). Once something does
 * not fit, the writer stays failed and display_json_end returns -ENOSPC.
 */
struct display_json {
	char *buf;
	size_t cap;
	size_t len;
	bool failed;
	bool first; /* no member yet in the innermost object/array */
};

/* Starts {"v":1,"type":type,"ts":ts_ms (0: now, wall clock in ms)}. */
void display_json_begin(struct display_json *w, char *buf, size_t cap, const char *type,
			uint64_t ts_ms);
/* Members of the current object (key) or elements of the current array (key NULL). */
void display_json_str(struct display_json *w, const char *key, const char *s);
void display_json_strn(struct display_json *w, const char *key, const char *s, size_t n);
void display_json_int(struct display_json *w, const char *key, int64_t v);
void display_json_double(struct display_json *w, const char *key, double v);
void display_json_bool(struct display_json *w, const char *key, bool v);
void display_json_object(struct display_json *w, const char *key); /* opens { */
void display_json_array(struct display_json *w, const char *key);  /* opens [ */
void display_json_close_object(struct display_json *w);
void display_json_close_array(struct display_json *w);
/* Closes the message with "}\n" and NUL-terminates: its length with the
 * newline, or -ENOSPC. */
int display_json_end(struct display_json *w);

/* Wall clock in ms: what "ts" carries. */
uint64_t display_now_ms(void);

/*
 * Builders for the messages in docs/display-protocol.md. Each writes one
 * line with its newline into buf (cap bytes, NUL-terminated) and returns
 * its length, or -ENOSPC. ts_ms 0 means now. Strings are copied; NULL
 * optional strings are left out.
 */

/* kiosk */
int display_msg_greeting(char *buf, size_t cap, uint64_t ts_ms, const char *text);
int display_msg_reply_start(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn);
int display_msg_token(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn, const char *text,
		      size_t len);
int display_msg_reply_end(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn);
/* The figure check changed a streamed reply: text replaces the turn's reply. */
int display_msg_reply_fix(char *buf, size_t cap, uint64_t ts_ms, uint32_t turn, const char *text);

#define DISPLAY_CARD_HIGHLIGHTS_MAX 8
struct display_product {
	const char *id;
	const char *name;
	const char *summary; /* the value story in one line; optional */
	const char *price;   /* as shown, e.g. "$45/month"; optional */
	const char *image;   /* a path or URL the tablet can show; optional */
	const char *highlights[DISPLAY_CARD_HIGHLIGHTS_MAX]; /* NULL-terminated if short */
};
int display_msg_product_card(char *buf, size_t cap, uint64_t ts_ms,
			     const struct display_product *p);

struct display_suggestion {
	const char *id;
	const char *text;
};
#define DISPLAY_SUGGESTIONS_MAX 8
/* -EINVAL when n > DISPLAY_SUGGESTIONS_MAX. */
int display_msg_suggestions(char *buf, size_t cap, uint64_t ts_ms,
			    const struct display_suggestion *items, size_t n);
int display_msg_handoff(char *buf, size_t cap, uint64_t ts_ms, const char *reason,
			const char *text);
int display_msg_farewell(char *buf, size_t cap, uint64_t ts_ms, const char *text);
/* ask_name: the kiosk should offer a field for the customer's name (sent
 * back as the consent's "name"): the box does not know them yet. */
int display_msg_consent_request(char *buf, size_t cap, uint64_t ts_ms, const char *kind,
				const char *text, bool ask_name);
/* What came of the customer's answer: ok false with text saying why and what
 * to do (e.g. the camera did not see them). */
int display_msg_consent_result(char *buf, size_t cap, uint64_t ts_ms, const char *kind, bool ok,
			       const char *text);
/* Both roles. fatal: the server closes the connection after it. */
int display_msg_error(char *buf, size_t cap, uint64_t ts_ms, const char *code, const char *detail,
		      bool fatal);

/* staff */
struct display_visitor {
	int64_t session;
	bool recognised;     /* a consenting customer matched (face or app beacon) */
	int64_t customer_id; /* 0: anonymous */
	const char *name;    /* optional */
	bool returning;
	int visits;			/* earlier visits, 0 when unknown */
	uint64_t last_visit_ms;		/* 0: none */
	const char *last_visit_summary; /* optional */
	const char *via;		/* "face", "ble", "door": what noticed them; optional */
};
int display_msg_visitor_arrived(char *buf, size_t cap, uint64_t ts_ms,
				const struct display_visitor *v);
/* The customer answered a consent question at the kiosk: granted or not,
 * and for "face" whether their face was enrolled (customer_id 0: left out). */
int display_msg_consent_recorded(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
				 const char *kind, bool granted, bool enrolled,
				 int64_t customer_id);
int display_msg_visitor_left(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			     const char *reason);
int display_msg_archetype(char *buf, size_t cap, uint64_t ts_ms, int64_t session, const char *id,
			  int tier, const char *directive);

struct display_signal {
	const char *signal;   /* "product_interest", "objection", ... */
	const char *evidence; /* the words that showed it */
	double confidence;    /* 0..1; < 0 leaves it out */
};
#define DISPLAY_SIGNALS_MAX 16
#define DISPLAY_POINTS_MAX 8
/* -EINVAL when n > DISPLAY_SIGNALS_MAX. */
int display_msg_signals(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			const struct display_signal *list, size_t n);
/* -EINVAL when n > DISPLAY_POINTS_MAX. */
int display_msg_next_best_action(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
				 const char *text, const char *const *talking_points, size_t n);
int display_msg_escalation(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			   const char *category, const char *rule, const char *reason,
			   const char *transcript_summary);
int display_msg_offline_mode(char *buf, size_t cap, uint64_t ts_ms, bool on, const char *reason);
int display_msg_flagged_figure(char *buf, size_t cap, uint64_t ts_ms, int64_t session,
			       const char *figure, const char *action, const char *reply_excerpt);
/* role: "customer", "agent" or "staff". */
int display_msg_transcript(char *buf, size_t cap, uint64_t ts_ms, int64_t session, const char *role,
			   const char *text);
/* staff_device NULL when the agent has the session. */
int display_msg_takeover_state(char *buf, size_t cap, uint64_t ts_ms, int64_t session, bool staff,
			       const char *staff_device);

#endif
