/*
 * diag — the technicians' checks: one verdict per subsystem (PASS, WARN or
 * FAIL), what was found, and the fix. Used by `edgeboxctl diag` (directly,
 * when the daemon is stopped) and by the control socket's "diag" request
 * (inside edgeboxd, with its live status). docs/technicians.md lists every
 * check and what each verdict means.
 *
 * With the daemon's status JSON (the control socket's "status", which adds
 * items_per_s to each stage), the BLE, camera, GPIO and watchdog checks
 * judge the running stages; without it they look at the devices the config
 * names (sysfs, /dev nodes, V4L2 capabilities, GPIO chip lines) without
 * taking them over: a watchdog device is never opened (that would arm it).
 *
 * Also here, because the bundle and the control socket share them: the
 * config checker behind `edgeboxctl config check`, the config redaction and
 * audit sanitizer that keep secrets and customer data out of what leaves the
 * box, and the diagnostics bundle (a .tar.gz written with zlib).
 *
 * Threads: a struct diag is used by one thread at a time; separate ones are
 * independent.
 */
#ifndef FIRMWARE_DIAG_H
#define FIRMWARE_DIAG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>

struct config;

#define DIAG_NAME_MAX 24
#define DIAG_DETAIL_MAX 640
#define DIAG_FIX_MAX 400
#define DIAG_CHECKS_MAX 16
#define DIAG_ERROR_MAX 512
#define DIAG_STATUS_MAX (1024 * 1024) /* bytes of a status JSON we parse */

/* The dlib models the face stage loads, with their SHA-256. firmware/deps.sh
 * has the same pairs (tests/test_diag.c checks they agree). */
#define DIAG_MODEL_LANDMARKS "shape_predictor_5_face_landmarks.dat"
#define DIAG_MODEL_LANDMARKS_SHA256                                                                \
	"c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
#define DIAG_MODEL_EMBEDDER "dlib_face_recognition_resnet_model_v1.dat"
#define DIAG_MODEL_EMBEDDER_SHA256                                                                 \
	"55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"

/* Clock sanity: before this the clock is surely wrong (2025-01-01T00:00Z). */
#define DIAG_CLOCK_MIN_MS 1735689600000LL
/* ... and more than this past the newest of that and the firmware's own
 * build (the binary's mtime) it is surely wrong too: 20 years. */
#define DIAG_CLOCK_SPAN_MS (20LL * 366 * 86400 * 1000)

/* Disk thresholds of the store's file system, percent free. */
#define DIAG_DISK_WARN_PCT 10.0
#define DIAG_DISK_FAIL_PCT 2.0
/* A WAL this large means checkpoints are starved (a reader never lets go). */
#define DIAG_WAL_WARN_BYTES (64LL << 20)
/* The camera delivers at least this share of its configured fps to PASS. */
#define DIAG_CAMERA_RATE_MIN 0.8
/* The LLM probe's cap, and the time to first token above which it WARNs. */
#define DIAG_LLM_TIMEOUT_MS 5000
#define DIAG_LLM_SLOW_MS 3000

enum diag_result {
	DIAG_PASS,
	DIAG_WARN,
	DIAG_FAIL,
};

/* "PASS", "WARN", "FAIL"; "?" out of range. */
const char *diag_result_name(enum diag_result r);
/* The inverse; -EINVAL for anything else. */
int diag_result_from_name(const char *s, enum diag_result *ret);

struct diag_check {
	char name[DIAG_NAME_MAX]; /* "config", "ble", "camera", ... */
	enum diag_result result;
	char detail[DIAG_DETAIL_MAX]; /* what was found */
	char fix[DIAG_FIX_MAX];	      /* what to do; "" for a PASS */
};

/* What the checks look at. Only config_path is required; the rest are for
 * the daemon's side and for tests. */
struct diag_env {
	const char *config_path;
	/* The daemon's status JSON (as the control socket's "status" gives it),
	 * or NULL when it is not running. Copied by diag_new. */
	const char *status_json;
	/* edgeboxd to run as `edgeboxd --check-config --config FILE` for the
	 * config check (it reads what only the daemon knows); NULL: not run. */
	const char *edgeboxd_path;
	/* edgeboxd's --set overrides ("section.key=value"), applied after
	 * loading, so the checks see what the daemon runs with. May be NULL. */
	const char *const *sets;
	size_t nsets;
	const char *sysfs_root; /* NULL: "/sys" (the BLE adapter's folder) */
	int64_t now_ms;		/* the wall clock to judge; 0: CLOCK_REALTIME */
	int64_t clock_ref_ms;	/* the firmware's build time; 0: this binary's mtime */
	/* statvfs of the store's folder; NULL: statvfs(3). Tests hand in numbers. */
	int (*statvfs_fn)(const char *path, struct statvfs *ret, void *ctx);
	void *statvfs_ctx;
	int llm_timeout_ms;	   /* 0: DIAG_LLM_TIMEOUT_MS */
	const atomic_bool *cancel; /* may be NULL; set: the LLM probe stops at once */
};

struct diag;

/*
 * Loads the config for the checks (a config that does not load is not an
 * error here: diag_check_config reports it and the other checks say they
 * could not look) and parses status_json. On success *ret owns a new diag
 * (diag_free). -EINVAL (no config_path, status_json not a JSON object or
 * over DIAG_STATUS_MAX), -ENOMEM; *ret is NULL then.
 */
int diag_new(const struct diag_env *env, struct diag **ret);
void diag_free(struct diag *d);

/* Each check fills *ret; problems are verdicts, never function errors. */
void diag_check_config(struct diag *d, struct diag_check *ret);
void diag_check_ble(struct diag *d, struct diag_check *ret);
void diag_check_camera(struct diag *d, struct diag_check *ret);
void diag_check_gpio(struct diag *d, struct diag_check *ret);
void diag_check_watchdog(struct diag *d, struct diag_check *ret);
void diag_check_models(struct diag *d, struct diag_check *ret);
void diag_check_database(struct diag *d, struct diag_check *ret);
void diag_check_llm(struct diag *d, struct diag_check *ret);
void diag_check_disk(struct diag *d, struct diag_check *ret);
void diag_check_clock(struct diag *d, struct diag_check *ret);

/* Called after each check; the check is valid during the call. */
typedef void (*diag_fn)(const struct diag_check *c, void *ctx);
/* Runs every check above in that order. Returns the number of FAILs. */
int diag_run(struct diag *d, diag_fn fn, void *ctx);

/* One check as a JSON line {"v":1,"type":"check","name","result","detail",
 * "fix"} with its newline, into a new string *ret (caller frees); 0 or
 * -ENOMEM. */
int diag_check_json(const struct diag_check *c, char **ret);
/* The inverse, for a line from the control socket. -EINVAL naming the
 * field when it is not such a line. */
int diag_check_from_json(const char *line, struct diag_check *ret);

/* ---- config check --------------------------------------------------------------- */

/*
 * What `edgeboxctl config check FILE` and the "config" diag check do: the
 * syntax; every section edgeboxd reads, through the modules' own typed
 * readers where they are public (kiosk, staff, llm, beacons, faces, visitor,
 * agent, conversation, privacy, update, control) and through a mirror of the
 * daemon's own key table elsewhere (daemon, supervisor, rings, motion,
 * store, and the keys of the driver each device section names); unknown
 * keys (typos); then, when edgeboxd_path is given, `edgeboxd --check-config`
 * on the file. 0 when valid, with a one-line summary of what was checked in
 * ret_msg; -EINVAL (or the -errno of reading the file) with the first
 * problem (file, line, key, expected, found) in ret_msg.
 */
int diag_config_check(const char *path, const char *edgeboxd_path, char *ret_msg, size_t len);

/*
 * The same readers and the unknown-key check on a config already loaded
 * (with edgeboxd's --set overrides applied): what `edgeboxd --check-config`
 * runs. Marks the keys it reads as used. 0, or -EINVAL / -ENOMEM / the
 * -errno of a file a reader opens, with the first problem in ret_msg.
 */
int diag_config_check_cfg(const struct config *cfg, char *ret_msg, size_t len);

/* ---- what may leave the box ------------------------------------------------------ */

/*
 * The config text with secret values replaced by "<redacted>": keys named
 * api_key, token, secret, password, passwd, private_key or containing one
 * of those words (a *_file key keeps its path: the file is never read), and
 * user:password@ in URLs. Comments and layout stay. *ret is a new string
 * (caller frees). 0, -ENOMEM, -E2BIG (over 256 KiB, as config_load).
 */
int diag_redact_config(const char *text, char **ret);

/*
 * An audit row as one JSON line for people outside the store: id, ts,
 * session, kind, and of the detail only the fields known to carry no
 * customer data (category, rule, by, from, to, state, archetype, outcome,
 * tool, code, turn counts, ...) and only when their value is a number, a
 * boolean or a short word ([A-Za-z0-9_.:-], at most 48 bytes). Names, turn
 * text, tool arguments, evidence quotes and customer ids never pass. *ret
 * is a new string with a trailing newline (caller frees). 0 or -ENOMEM.
 */
int diag_audit_sanitize(int64_t id, int64_t ts_ms, int64_t session_id, const char *kind,
			const char *detail_json, char **ret);

/* ---- the diagnostics bundle ------------------------------------------------------ */

/* What goes into a bundle; NULL parts are left out and the manifest says
 * why (the why_* strings, or a default). */
struct diag_bundle {
	const char *config_path;   /* shown in the manifest */
	const char *config_text;   /* redacted here (diag_redact_config) */
	const char *diag_jsonl;	   /* diag --json lines */
	const char *status_json;   /* the daemon's status */
	const char *audit_jsonl;   /* audit rows as JSON lines: sanitized again here */
	const char *versions;	   /* free text: edgeboxctl, edgeboxd, kernel */
	const char *why_no_status; /* e.g. "edgeboxd is not running" */
	const char *why_no_audit;  /* e.g. "the store is not readable" */
	int64_t now_ms;		   /* archive times; 0: now */
};

/*
 * Writes the bundle as a gzip-compressed POSIX ustar archive at out_path
 * (temp file + rename, mode 0600), every member under "edgebox-bundle/":
 * MANIFEST.txt, config.redacted.conf, diag.jsonl, status.json, audit.jsonl,
 * versions.txt. 0, or -errno with err saying what failed.
 */
int diag_bundle_write(const struct diag_bundle *b, const char *out_path, char *err, size_t errlen);

/* ---- small helpers, public for the CLI and the tests ----------------------------- */

/* SHA-256 of a file as 64 lowercase hex digits. 0 or -errno. */
int diag_sha256_file(const char *path, char hex[65]);

#endif
