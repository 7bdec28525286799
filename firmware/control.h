/*
 * control — the technicians' control socket inside edgeboxd, and the client
 * side edgeboxctl uses. docs/technicians.md has the protocol.
 *
 * An AF_UNIX stream socket ([control] socket, default
 * /run/edgebox/control.sock), mode 0660 and group [control] group, so only
 * root and the technicians' group can connect; each peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS) are checked again at accept, and anyone else
 * gets one error line and is closed. A connection carries one request line
 * (JSON, at most CONTROL_REQUEST_MAX bytes: {"v":1,"cmd":"status"}) and
 * gets one or more response lines (JSON), then the server closes it.
 *
 * Threads: one listener thread; each connection is served on a worker thread
 * of its own (at most CONTROL_CLIENTS_MAX at once; more are told "busy"),
 * with a read/write timeout, so a slow or stuck client never holds the
 * others, and nothing here ever waits on the pipeline: the daemon publishes
 * its status JSON (control_publish_status) from its main loop, and the
 * store is reached through connections of this module's own (SQLite WAL lets
 * them run beside the conversation stage's writer).
 *
 * Staff tablet pairing: `edgeboxctl pair` asks for a one-time PIN
 * (CONTROL_PIN_DIGITS digits, valid pin_ttl_s, kept in this process's memory
 * only); the staff socket's hello carries it and control_pair_redeem turns
 * it into a device token (32 random bytes in hex), of which the store keeps
 * only the SHA-256; control_token_check recognises the token on later
 * hellos; `edgeboxctl unpair ID` revokes it. Wrong PINs are counted: after
 * pin_attempts of them every pending PIN is void until a new one is issued.
 */
#ifndef FIRMWARE_CONTROL_H
#define FIRMWARE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct config_error;
struct store;

#define CONTROL_PROTOCOL_VERSION 1
#define CONTROL_PATH_MAX 108  /* sun_path, with the NUL */
#define CONTROL_GROUP_MAX 64  /* group name, with the NUL */
#define CONTROL_FILE_MAX 4096 /* store, config and edgeboxd paths, with the NUL */
#define CONTROL_VERSION_MAX 32
#define CONTROL_REQUEST_MAX 4096    /* one request line, bytes without its newline */
#define CONTROL_LINE_MAX (1u << 20) /* one response line, for the client */
#define CONTROL_CLIENTS_MAX 4	    /* connections served at once */
#define CONTROL_STATUS_HISTORY 16   /* status snapshots kept for the rates */
#define CONTROL_RATE_WINDOW_S 10    /* items_per_s is measured over about this long */
#define CONTROL_PIN_DIGITS 6
#define CONTROL_PINS_MAX 4   /* PINs pending at once; a new one replaces the oldest */
#define CONTROL_TOKEN_HEX 64 /* a device token: 32 random bytes as hex */
#define CONTROL_NAME_MAX 128 /* staff device name, bytes (the store's limit) */
#define CONTROL_LOGS_DEFAULT 50
#define CONTROL_LOGS_MAX 1000 /* rows one logs request returns */
#define CONTROL_KINDS_MAX 16  /* kinds one logs filter names */
#define CONTROL_KIND_MAX 64   /* bytes of one kind */
#define CONTROL_ERROR_MAX 512

struct control_params {
	char path[CONTROL_PATH_MAX];	      /* the socket file */
	unsigned mode;			      /* 0600 or 0660 (0666 only for tests) */
	char group[CONTROL_GROUP_MAX];	      /* the technicians' group; "": root only */
	char store_path[CONTROL_FILE_MAX];    /* "": no store (logs, devices, pair fail) */
	char config_path[CONTROL_FILE_MAX];   /* the daemon's config, for diag and config */
	char edgeboxd_path[CONTROL_FILE_MAX]; /* for diag's `--check-config`; "": not run */
	/* edgeboxd's --set overrides for diag (NULL: none); the strings are not
	 * copied and must outlive the control (argv does). */
	const char *const *config_sets;
	size_t n_config_sets;
	char version[CONTROL_VERSION_MAX]; /* the daemon's version, for "version" */
	unsigned pin_ttl_s;		   /* a PIN's life: 30 .. 3600 */
	unsigned pin_attempts;		   /* wrong PINs before all are void: 1 .. 20 */
	unsigned timeout_ms;		   /* per connection, reading and each write */
	unsigned diag_llm_timeout_ms;	   /* the diag's LLM probe cap; 0: the default */
	/* CLOCK_MONOTONIC in ns for PIN expiry; NULL: the real one (tests pass their own). */
	uint64_t (*now_ns)(void *ctx);
	void *clock_ctx;
	/* Optional, called on a worker thread after a device was revoked (drop its
	 * staff connection). Must be quick and must not call into this control. */
	void (*on_revoke)(void *ctx, int64_t device_id);
	void *revoke_ctx;
};

/* /run/edgebox/control.sock, 0600, no group, PINs for 300 s, 5 wrong PINs,
 * 2000 ms timeouts; no store, config or edgeboxd; version "". */
void control_params_default(struct control_params *ret);

/*
 * Reads [control] over the defaults: socket (a path, or none: no control
 * socket, *ret_enabled = false), group (must exist: a missing group is
 * -EINVAL naming it), mode (0600 | 0660; 0660 when a group is set and mode
 * is not), pin_ttl_s, pin_attempts, timeout_ms; and [store] path and the
 * config's own path. Errors: -EINVAL (err names the file, line, key, what
 * was expected and how to fix it), -ENAMETOOLONG.
 */
int control_params_from_config(const struct config *cfg, struct control_params *ret,
			       bool *ret_enabled, struct config_error *err);

struct control;

/*
 * Binds p->path (a stale socket file is replaced; anything else is refused),
 * sets its mode and group before listening, starts the listener thread. p
 * is copied. On success *ret owns the server (control_free); untouched on
 * error. Errors with err (may be NULL) saying what and how to fix it:
 *   -EINVAL       a bad parameter or an unknown group
 *   -ENAMETOOLONG the path does not fit sun_path
 *   -EEXIST       the path exists and is not a socket
 *   -EADDRINUSE   another process listens on it
 *   -ENOENT/-EACCES/-EPERM  the folder is missing or not writable, chown not allowed
 *   -ENOMEM, or the -errno of socket/bind/listen/eventfd/pthread_create
 */
int control_create(const struct control_params *p, struct control **ret, char *err, size_t errlen);

/* Stops the listener, cuts every connection short, waits for the workers,
 * removes the socket file if still ours, frees everything. NULL is fine. */
void control_free(struct control *c);

/*
 * The daemon's status as pipeline_status_json made it, with the monotonic
 * time it was made; takes ownership of json (freed here, also on error).
 * Call it from the main loop about once a second: "status" answers with the
 * latest, each stage given items_per_s measured across the kept snapshots.
 * Any thread; never blocks for long (one short lock).
 */
void control_publish_status(struct control *c, char *json, uint64_t now_ns);

/* The store the handlers open (after a reload moved it). Any thread.
 * -ENAMETOOLONG. */
int control_set_store_path(struct control *c, const char *path);

/* ---- peers ------------------------------------------------------------------------- */

struct control_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const gid_t *groups; /* supplementary groups */
	size_t ngroups;
};

/*
 * Is this peer allowed: uid 0, or (when the server has a group) that group
 * as its primary or a supplementary group. 0, or -EPERM with why (may be
 * NULL) saying who was refused and how to get access.
 */
int control_peer_allowed(const struct control_peer *peer, bool has_group, gid_t group,
			 const char *group_name, char *why, size_t len);

/* ---- pairing ----------------------------------------------------------------------- */

/*
 * A new one-time PIN (6 digits and a NUL into ret_pin), valid pin_ttl_s;
 * name (NULL or "": the tablet's hello names it) is the device name it will
 * be paired under. Resets the wrong-PIN count. *ret_expires_in_s (may be
 * NULL) gets the validity. 0, -EINVAL (name too long or not printable).
 */
int control_pair_begin(struct control *c, const char *name, char ret_pin[CONTROL_PIN_DIGITS + 1],
		       unsigned *ret_expires_in_s);

/*
 * The tablet's side: checks pin and, if it is pending and fresh, pairs a
 * device (the PIN's name, else device_name, else "tablet-XXXXXXXX") with a
 * new token, stores its SHA-256, and writes the token (CONTROL_TOKEN_HEX hex
 * digits and a NUL) to ret_token. The PIN is then used up. ret_device_id
 * may be NULL. Any thread (the staff socket's owner calls it).
 *   -EINVAL     pin is not CONTROL_PIN_DIGITS digits, or a bad device name
 *   -ENOSPC     len < CONTROL_TOKEN_HEX + 1 (nothing is used up)
 *   -ENOENT     no PIN is pending
 *   -EACCES     wrong PIN (counted)
 *   -ETIMEDOUT  that PIN has expired (it is removed)
 *   -EPERM      too many wrong PINs: none is valid until a new one is issued
 *   -EEXIST     a live device already has that name (the PIN stays valid)
 *   -ENODEV     no store configured; or the store's -errno
 */
int control_pair_redeem(struct control *c, const char *pin, const char *device_name,
			char *ret_token, size_t len, int64_t *ret_device_id);

/* A token from a later hello: 0 and *ret_device_id (may be NULL) when it
 * belongs to a live device; -ENOENT unknown or revoked; -EINVAL not 64 hex
 * digits; -ENODEV no store; or the store's -errno. Any thread. */
int control_token_check(struct control *c, const char *token, int64_t *ret_device_id);

/* Revokes a device and calls on_revoke. -ENOENT no such live device. */
int control_unpair(struct control *c, int64_t device_id);

/* How many PINs are pending and fresh now. */
unsigned control_pins_pending(struct control *c);

/* ---- shared by the server and edgeboxctl's direct (no daemon) paths ---------------- */

/* One response line (JSON, no newline), valid during the call; non-zero
 * stops (a negative value is returned as is). */
typedef int (*control_line_fn)(const char *line, size_t len, void *ctx);

struct control_log_filter {
	int64_t since_ms; /* rows at or after this wall-clock time; 0: any */
	char kinds[CONTROL_KINDS_MAX][CONTROL_KIND_MAX + 1];
	size_t nkinds;	 /* 0: any kind */
	int64_t session; /* 0: any */
	unsigned limit;	 /* the newest this many: 1 .. CONTROL_LOGS_MAX */
	bool full;	 /* the raw detail; false: diag_audit_sanitize's fields only */
};

/*
 * Parses a logs request's fields ({"since_ms","kinds":[..],"session",
 * "limit","full"}) over the defaults (limit CONTROL_LOGS_DEFAULT). -EINVAL
 * with why naming the field, the expected form and what was found.
 */
int control_log_filter_from_json(const char *json, struct control_log_filter *ret, char *why,
				 size_t len);

/*
 * The newest f->limit audit rows matching f, oldest first, each as a line
 * {"v":1,"type":"log","id","ts","session","kind","detail",...} to fn.
 * Returns how many, or -errno (the store's, or fn's negative value).
 */
int control_logs_query(struct store *s, const struct control_log_filter *f, control_line_fn fn,
		       void *ctx);

/*
 * The paired staff devices (all = also the revoked ones) of the store at
 * path, read-only, as lines {"v":1,"type":"device","id","name","paired_at",
 * "revoked_at"} (revoked_at 0: live) to fn. Returns how many, or -errno with
 * err saying why.
 */
int control_devices_list(const char *store_path, bool all, control_line_fn fn, void *ctx, char *err,
			 size_t errlen);

/*
 * The client: connects to path, sends request (one JSON object, no
 * newline), and calls fn for each response line until the server closes.
 * timeout_ms bounds the connect, the send and each wait for data. Returns
 * the number of lines, or -errno with err saying what failed:
 *   -ENOENT, -ECONNREFUSED  no daemon listens there
 *   -EACCES                 not allowed to connect (not root or in the group)
 *   -ETIMEDOUT, -EPROTO (a line over CONTROL_LINE_MAX), -ENAMETOOLONG,
 *   or fn's negative value
 */
int control_request(const char *path, const char *request, int timeout_ms, control_line_fn fn,
		    void *ctx, char *err, size_t errlen);

#endif
