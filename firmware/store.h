/*
 * store — the box's only persistent state, in one SQLite file.
 *
 * Customers, consents, face embeddings, beacon mapping, visits, sessions,
 * conversation turns, the audit log and paired staff devices. WAL mode with
 * synchronous=FULL: a function that writes has committed durably (fsync of
 * the WAL) when it returns 0. Versioned migrations (store_schema.c) run at
 * open; an integrity check runs at open and a corrupt file is moved aside to
 * "<path>.corrupt-<UTC time>" (with its -wal/-shm), never overwritten.
 * Design notes: docs/store.md.
 *
 * Threads: a struct store holds one connection and its cached statements and
 * is NOT safe to share: use it from one thread at a time (the daemon's writer
 * stage owns one). Other threads or processes open their own; WAL lets
 * readers (edgeboxctl, STORE_OPEN_READONLY) run while the daemon writes.
 *
 * Errors: functions return 0 (or a count / an id where said) or -errno, and
 * store_errmsg() says what was wrong and, when there is one, the fix. Errors
 * any function that touches the database can return besides the ones listed:
 * -EBUSY (another connection held the lock past the busy timeout), -ENOSPC
 * (disk full), -EROFS (read-only store or file system), -EIO, -ENOMEM,
 * -EUCLEAN (corruption found while running: restart edgeboxd to move the file
 * aside). -EINVAL always means a bad argument (NULL, empty, too long, not
 * JSON, out of range) and the message names it.
 *
 * Strings handed to callbacks are valid only during the call.
 */
#ifndef FIRMWARE_STORE_H
#define FIRMWARE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

#define STORE_ERROR_MAX 512
#define STORE_PATH_MAX 4096
#define STORE_TEXT_MAX (16 * 1024)    /* bytes of one turn's text */
#define STORE_JSON_MAX (16 * 1024)    /* bytes of a turn's meta or an audit detail */
#define STORE_SUMMARY_MAX 4096	      /* bytes of a visit summary */
#define STORE_NAME_MAX 128	      /* bytes of a display name or staff device name */
#define STORE_WORD_MAX 64	      /* bytes of a state, archetype, kind, source, granted_by */
#define STORE_SESSION_TURNS_MAX 10000 /* turns in one session: a runaway loop, not a talk */
#define STORE_EMBEDDINGS_MAX 16	      /* face embeddings kept per customer */
#define STORE_EMBEDDING_DIM 128	      /* float32, stored in host order (little-endian) */
#define STORE_TOKEN_HASH_BYTES 32     /* SHA-256 of a staff device token */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_APPLICATION_ID 0x45424f58 /* "EBOX" in PRAGMA application_id */

struct store;

struct store_error {
	char msg[STORE_ERROR_MAX];
};

/* One migration: run inside one transaction with the bump of user_version. */
struct store_migration {
	int version;	  /* 1, 2, 3, ... in order, no gaps */
	const char *name; /* for messages */
	const char *sql;  /* one or more statements */
};

/* The firmware's migrations (store_schema.c) and the latest version. */
const struct store_migration *store_schema_migrations(size_t *ret_count);
int store_schema_latest(void);

enum store_open_flags {
	/* edgeboxctl: no writes, no migration, no recovery; a missing or older
	 * file is an error. */
	STORE_OPEN_READONLY = 1 << 0,
	/* Report corruption as -EUCLEAN and leave the file where it is. */
	STORE_OPEN_NO_RECOVER = 1 << 1,
	/* PRAGMA integrity_check (also checks every index) instead of
	 * quick_check at open; slower, O(N log N). */
	STORE_OPEN_FULL_CHECK = 1 << 2,
	/* No check at open (the check reads the whole file): for edgeboxctl,
	 * which opens on every call while edgeboxd checked at its start.
	 * Corruption then surfaces as -EUCLEAN from the call that meets it. */
	STORE_OPEN_NO_CHECK = 1 << 3,
};

/* What store_open found and did; filled on success and on failure. */
struct store_open_info {
	int from_version;	       /* user_version found on disk, 0 for a new file */
	int version;		       /* user_version now */
	bool created;		       /* the file did not exist (or was moved aside) */
	bool recovered;		       /* a corrupt database was moved aside; this one is fresh */
	char moved_to[STORE_PATH_MAX]; /* where it went ("-wal", "-shm" appended for those) */
	char problem[STORE_ERROR_MAX]; /* what the check or SQLite said about it */
};

struct store_options {
	unsigned flags;				  /* enum store_open_flags */
	int busy_timeout_ms;			  /* <= 0: STORE_BUSY_TIMEOUT_MS */
	const struct store_migration *migrations; /* NULL: store_schema_migrations() */
	size_t n_migrations;
	/* Wall clock in ms since the epoch, for row times and the name of a
	 * moved-aside file. NULL: CLOCK_REALTIME. Tests hand in their own. */
	int64_t (*now_ms)(void *ctx);
	void *clock_ctx;
};

/*
 * Opens (creating it, mode 0600, if missing) and migrates the database at
 * path. On success *ret owns a new store (free with store_close) and the
 * result is 0, or 1 when a corrupt database was moved aside and a fresh one
 * created: ret_info (may be NULL) then says where the old file went and why,
 * so the daemon can log it and raise an alert.
 * Errors (err->msg, ret_info->problem when about the file):
 *   -EINVAL       bad argument or migration table
 *   -ENAMETOOLONG path too long for the moved-aside name
 *   -ENOENT       folder missing; or READONLY and no file
 *   -EUCLEAN      corrupt and READONLY or NO_RECOVER (the file is untouched)
 *   -ENOTSUP      the database is newer than this build knows (untouched)
 *   -ESTALE       READONLY and the database is older: edgeboxd migrates it
 *   -EMEDIUMTYPE  an SQLite file that is not an edgebox store (untouched)
 *   -EBUSY, -EACCES, -EROFS, -ENOSPC, -EIO, -ENOMEM, or a failed migration
 *   (its -errno; the database stays at the last good version)
 */
int store_open(const char *path, unsigned flags, struct store **ret,
	       struct store_open_info *ret_info, struct store_error *err);
/* Same with all options; opts may be NULL. */
int store_open_ex(const char *path, const struct store_options *opts, struct store **ret,
		  struct store_open_info *ret_info, struct store_error *err);
/*
 * Same, with the keys of [section] in cfg:
 *   path            = /var/lib/edgebox/store.db  (required; relative to the config file)
 *   busy_timeout_ms = 5000                      (0..60000)
 *   check           = quick | full              (integrity check at open)
 * A bad key is -EINVAL with the config file, line and key in err->msg.
 */
int store_open_config(const struct config *cfg, const char *section, unsigned flags,
		      struct store **ret, struct store_open_info *ret_info,
		      struct store_error *err);

/* Finalizes the statements and closes the connection (the last one out
 * checkpoints the WAL). NULL is fine. */
void store_close(struct store *s);

/* The last error's message; owned by s, valid until the next call. */
const char *store_errmsg(const struct store *s);
const char *store_path(const struct store *s);

/* PRAGMA user_version, or -errno. */
int store_schema_version(struct store *s);

/*
 * quick_check (full = false) or integrity_check (full = true, also checks
 * every index against its table). 0 when "ok"; -EUCLEAN with the first
 * problems in store_errmsg() otherwise.
 */
int store_integrity_check(struct store *s, bool full);

/* ---- customers and their data ----------------------------------------- */

/* New customer; *ret_id gets its id (never reused). */
int store_customer_add(struct store *s, const char *display_name, int64_t *ret_id);

/* Rows removed by a forget or a purge. */
struct store_delete_counts {
	int64_t customers, consents, embeddings, beacons, visits, sessions, turns, audit;
};

/*
 * Deletes every trace of a customer in one transaction: embeddings, consents
 * (with their history), beacons, visits, their sessions and turns, audit rows
 * of those sessions and of the customer. secure_delete overwrites the freed
 * pages, and a TRUNCATE checkpoint (best effort: a reader may block it) drops
 * the old page images from the WAL. ret_counts may be NULL.
 * -ENOENT: no such customer (nothing changed). -EIO: a table this code
 * does not know still refers to the customer (nothing changed).
 */
int store_customer_forget(struct store *s, int64_t customer_id,
			  struct store_delete_counts *ret_counts);

/*
 * Retention: deletes anonymous visits (customer_id NULL) that ended, or
 * started if never ended, more than older_than_ms ago, with their sessions,
 * turns and audit rows, in one transaction. ret_counts may be NULL.
 * Returns the number of visits removed.
 */
int store_purge_anonymous(struct store *s, int64_t older_than_ms,
			  struct store_delete_counts *ret_counts);

enum store_consent_method {
	STORE_CONSENT_KIOSK,
	STORE_CONSENT_STAFF,
};

/* Kinds with a meaning to the store; any other short word is kept as given. */
#define STORE_CONSENT_FACE "face"

/*
 * Records a live consent of kind ("face", "ble", ...). granted_by: the staff
 * device name for STORE_CONSENT_STAFF, NULL for the kiosk.
 * -ENOENT: no such customer; -EEXIST: already granted and not revoked.
 */
int store_consent_grant(struct store *s, int64_t customer_id, const char *kind,
			enum store_consent_method method, const char *granted_by);
/*
 * Revokes the live consent; revoking "face" also deletes the customer's face
 * embeddings in the same transaction. Returns the number of embeddings
 * deleted. -ENOENT: no live consent of that kind.
 */
int store_consent_revoke(struct store *s, int64_t customer_id, const char *kind);
/* 1 if a live consent of that kind exists, 0 if not, or -errno. */
int store_consent_active(struct store *s, int64_t customer_id, const char *kind);

/*
 * Stores a face embedding (STORE_EMBEDDING_DIM floats, copied) for a
 * customer. -EPERM: no live "face" consent; -ENOSPC: already
 * STORE_EMBEDDINGS_MAX for this customer; -ENOENT: no such customer.
 * ret_id may be NULL.
 */
int store_embedding_add(struct store *s, int64_t customer_id, const float *vec, const char *source,
			int64_t *ret_id);

struct store_embedding {
	int64_t id;
	int64_t customer_id;
	int64_t created_at;
	float vec[STORE_EMBEDDING_DIM];
};
/* fn: 0 to go on, non-zero to stop (a negative value is returned as is). */
typedef int (*store_embedding_fn)(const struct store_embedding *e, void *ctx);
/*
 * "That is not this person": deletes one embedding of a customer (the one a
 * wrong recognition matched). -ENOENT: no such embedding of that customer.
 */
int store_embedding_delete(struct store *s, int64_t customer_id, int64_t embedding_id);

/* Calls fn for every embedding, by customer; returns how many were delivered. */
int store_embeddings_load(struct store *s, store_embedding_fn fn, void *ctx);

enum store_beacon_kind {
	STORE_BEACON_IBEACON,	/* uuid[16], major, minor */
	STORE_BEACON_EDDYSTONE, /* uuid[0..9] = namespace, instance[6] */
};

struct store_beacon_id {
	enum store_beacon_kind kind;
	uint8_t uuid[16];
	uint16_t major, minor;
	uint8_t instance[6];
};

/* Maps a beacon to a customer. -EEXIST: the beacon is already mapped;
 * -ENOENT: no such customer. */
int store_beacon_add(struct store *s, int64_t customer_id, const struct store_beacon_id *b);
/* The customer a beacon belongs to. -ENOENT: unknown beacon. */
int store_beacon_find(struct store *s, const struct store_beacon_id *b, int64_t *ret_customer_id);

/* What the box knows about a customer, for the greeting and the staff feed. */
struct store_customer {
	int64_t id;
	char name[STORE_NAME_MAX + 1];
	int64_t created_at;
	int64_t last_seen;			  /* 0: never */
	int visits;				  /* visits ended before this one */
	int64_t last_visit_at;			  /* start of the latest ended visit, 0: none */
	char last_summary[STORE_SUMMARY_MAX + 1]; /* its summary, "" when none */
	bool face_consent;			  /* a live "face" consent */
};

/* Fills *ret. -ENOENT: no such customer. */
int store_customer_get(struct store *s, int64_t customer_id, struct store_customer *ret);

/* ---- visits, sessions, turns ------------------------------------------ */

/* Starts a visit; customer_id 0 is an anonymous visitor. A known customer's
 * last_seen is updated. -ENOENT: no such customer. */
int store_visit_begin(struct store *s, int64_t customer_id, int64_t *ret_visit_id);
/* Ends a visit with an optional summary (NULL). -ENOENT: no such open visit. */
int store_visit_end(struct store *s, int64_t visit_id, const char *summary);
/* An anonymous visitor was recognised. -ENOENT: no such visit or customer. */
int store_visit_set_customer(struct store *s, int64_t visit_id, int64_t customer_id);

struct store_session_new {
	int64_t visit_id;      /* an existing visit, or 0 to start one now */
	int64_t customer_id;   /* for a new visit: the customer, 0 for anonymous */
	const char *state;     /* NULL: "open" */
	const char *archetype; /* NULL: not known yet */
};

/*
 * Opens a conversation session (and its visit when req->visit_id is 0), in
 * one transaction. *ret_session_id gets the id; ret_visit_id (may be NULL)
 * the visit's. -ENOENT: no such visit or customer.
 */
int store_session_open(struct store *s, const struct store_session_new *req,
		       int64_t *ret_session_id, int64_t *ret_visit_id);
/* New state, and archetype unless NULL. -ENOENT: no such open session. */
int store_session_set_state(struct store *s, int64_t session_id, const char *state,
			    const char *archetype);
/* Closes a session, setting its final state unless NULL. -ENOENT: no such
 * open session. */
int store_session_close(struct store *s, int64_t session_id, const char *final_state);
/*
 * After a crash the daemon closes sessions idle (no turn, not opened) for
 * more than older_than_ms, then resumes the rest. Returns how many closed.
 */
int store_session_close_stale(struct store *s, int64_t older_than_ms);

struct store_session {
	int64_t id;
	int64_t visit_id;
	int64_t customer_id; /* 0: anonymous */
	const char *state;
	const char *archetype; /* NULL: not known */
	int64_t opened_at;
	int turns; /* committed turns; the next seq is turns + 1 */
};
/* fn: 0 to go on, non-zero to stop (a negative value is returned as is). */
typedef int (*store_session_fn)(const struct store_session *sess, void *ctx);
/*
 * Calls fn for every open session, oldest first, for resume after a
 * restart; fn may call store_turns_load() on the same store. Returns how
 * many were delivered.
 */
int store_session_find_open(struct store *s, store_session_fn fn, void *ctx);

enum store_role {
	STORE_ROLE_CUSTOMER,
	STORE_ROLE_AGENT,
	STORE_ROLE_STAFF,
	STORE_ROLE_SYSTEM,
};
/* "customer", "agent", "staff", "system"; NULL for a value out of range. */
const char *store_role_name(enum store_role role);

/*
 * Appends a turn to an open session and returns its seq (1, 2, ...) once the
 * commit is durable: this is what a "committed turn" means. text is at most
 * STORE_TEXT_MAX bytes (never truncated), meta_json NULL or valid JSON of at
 * most STORE_JSON_MAX bytes.
 * -E2BIG: text or meta too long; -EINVAL: bad role, meta not JSON;
 * -ENOENT: no such session, or it is closed; -ENOSPC: the session already has
 * STORE_SESSION_TURNS_MAX turns.
 */
int store_turn_append(struct store *s, int64_t session_id, enum store_role role, const char *text,
		      const char *meta_json);

struct store_turn {
	int64_t session_id;
	int seq;
	enum store_role role;
	const char *text;
	const char *meta; /* NULL when none */
	int64_t created_at;
};
/* fn: 0 to go on, non-zero to stop (a negative value is returned as is). */
typedef int (*store_turn_fn)(const struct store_turn *t, void *ctx);
/* Calls fn for each turn of the session in seq order; returns how many were
 * delivered (0 for an unknown session). */
int store_turns_load(struct store *s, int64_t session_id, store_turn_fn fn, void *ctx);

/* ---- audit and staff devices ------------------------------------------ */

/*
 * Appends an audit event (tool call, escalation, blocked action, ...) of a
 * session (0: none). detail_json: NULL or valid JSON, at most STORE_JSON_MAX
 * bytes. -ENOENT: no such session.
 */
int store_audit_append(struct store *s, int64_t session_id, const char *kind,
		       const char *detail_json);
/* Same for an event about a customer outside a session (consent given to
 * staff, ...), so that forget removes it too. -ENOENT: no such customer. */
int store_audit_append_customer(struct store *s, int64_t customer_id, const char *kind,
				const char *detail_json);

struct store_audit_row {
	int64_t id;
	int64_t ts;
	int64_t session_id;  /* 0: none */
	int64_t customer_id; /* 0: none */
	const char *kind;
	const char *detail; /* NULL when none */
};
typedef int (*store_audit_fn)(const struct store_audit_row *a, void *ctx);
/* Calls fn for each audit row with id > after_id, oldest first; fn: 0 to go
 * on, non-zero to stop (a negative value is returned). Returns how many. */
int store_audit_load(struct store *s, int64_t after_id, store_audit_fn fn, void *ctx);

/*
 * Pairs a staff device. Only the hash of its token is stored.
 * -EEXIST: a live device has that name, or the hash is known.
 */
int store_staff_pair(struct store *s, const char *name,
		     const uint8_t token_hash[STORE_TOKEN_HASH_BYTES], int64_t *ret_id);
/* -ENOENT: no such live device. */
int store_staff_revoke(struct store *s, int64_t device_id);
/* The live device with that token hash. -ENOENT: unknown or revoked. */
int store_staff_find(struct store *s, const uint8_t token_hash[STORE_TOKEN_HASH_BYTES],
		     int64_t *ret_id);

#endif
