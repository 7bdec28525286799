/*
 * update — signed A/B firmware updates (docs/updates.md).
 *
 * A bundle is a fixed header, a JSON manifest, an Ed25519 signature over
 * header + manifest (the manifest carries the payload's SHA-256), and the
 * payload: the slot image, opaque bytes. update_install() verifies it
 * completely before anything is written, writes the inactive slot of the A/B
 * pair, reads it back, and then switches `active` in the state file: that
 * rename is the commit point. The new slot starts on trial ("trying") with
 * max_tries starts; update_boot() counts the starts, update_mark_good() ends
 * the trial, and a slot that used up its starts is marked bad and the box
 * returns to the other slot.
 *
 * Slots are block devices on a box and plain files in tests. The state file
 * (the bootloader environment's analogue) is written atomically: temp file,
 * fsync, rename, fsync of the folder. Every change to it holds an flock on
 * "<state>.lock", so the daemon and edgeboxctl never interleave.
 *
 * Errors are 0/count or -errno, with err->msg (err may be NULL) saying what
 * was wrong and how to fix it. The refusals of a bundle each have their own
 * code, so callers can tell them apart:
 *   -EBADMSG       not a bundle, an unknown format, truncated, trailing bytes,
 *                  a bad manifest, a payload that does not match its hash
 *   -EKEYREJECTED  the signature does not verify with this box's public key
 *   -ENOEXEC       the bundle is for other hardware
 *   -ERANGE        a downgrade without force / allow_downgrade, or the
 *                  installed version is below the bundle's min_version
 *   -ENOTSUP       the bundle needs a flag this updater does not know
 *   -EFBIG         the payload is larger than the slot
 *   -EBUSY         another update holds the lock, or the active slot is still
 *                  on trial (installing would overwrite the fallback)
 *   -EUCLEAN       the state file is corrupt (err->msg names file:line)
 * and -ENOENT, -EACCES, -EIO, -ENOSPC, ... from the file system.
 */
#ifndef FIRMWARE_UPDATE_H
#define FIRMWARE_UPDATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "firmware/config.h"

#define UPDATE_MAGIC "EBXUPD01"
#define UPDATE_FORMAT 1
#define UPDATE_HEADER_LEN 32
#define UPDATE_SIG_LEN 64
#define UPDATE_MANIFEST_MAX 4096 /* bytes of manifest JSON */
#define UPDATE_VERSION_MAX 64	 /* bytes of a version string */
#define UPDATE_HWID_MAX 64	 /* bytes of a hardware id */
#define UPDATE_NOTE_MAX 256	 /* bytes of a slot's last error / rollback reason */
#define UPDATE_STATE_MAX 16384	 /* bytes of the state file */
#define UPDATE_PUBLIC_KEY_LEN 32
#define UPDATE_ERROR_MAX 1024

struct update_error {
	char msg[UPDATE_ERROR_MAX];
};

enum update_slot {
	UPDATE_SLOT_NONE = -1,
	UPDATE_SLOT_A = 0,
	UPDATE_SLOT_B = 1,
};

enum update_slot_status {
	UPDATE_STATUS_EMPTY,  /* no usable image (never written, or a write did not finish) */
	UPDATE_STATUS_GOOD,   /* reported healthy (or the factory image) */
	UPDATE_STATUS_TRYING, /* installed, on trial: tries starts left to report healthy */
	UPDATE_STATUS_BAD,    /* failed its trial; the box rolled back from it */
};

/* The [update] settings (docs/updates.md). */
struct update_params {
	char slot_path[2][PATH_MAX]; /* slot a, slot b: block devices or files */
	char state_path[PATH_MAX];
	char hardware_id[UPDATE_HWID_MAX + 1];
	uint8_t public_key[UPDATE_PUBLIC_KEY_LEN];
	int max_tries;		/* starts a new slot gets to report healthy, 1..20 */
	int healthy_within_s;	/* a start that is not healthy by then failed */
	int healthy_for_s;	/* healthy without a break this long: the slot is good */
	bool allow_downgrade;	/* older bundles install without --force */
	uint64_t slot_capacity; /* bytes; 0: no limit for files, the device size for devices */
	char factory_version[UPDATE_VERSION_MAX + 1]; /* slot a's version with no state file */
};

struct update_manifest {
	char hardware_id[UPDATE_HWID_MAX + 1];
	char version[UPDATE_VERSION_MAX + 1];
	char min_version[UPDATE_VERSION_MAX + 1]; /* "" when the bundle sets none */
	int64_t build_time;			  /* seconds since 1970, UTC */
	uint64_t payload_size;
	uint8_t payload_sha256[32];
};

struct update_slot_info {
	enum update_slot_status status;
	char version[UPDATE_VERSION_MAX + 1]; /* "" when empty */
	int tries;			      /* starts left (trying only) */
	uint64_t size;			      /* image bytes */
	uint8_t sha256[32];		      /* of the image; zero when empty */
	int64_t installed;		      /* seconds since 1970; 0 unknown */
	char error[UPDATE_NOTE_MAX];	      /* the last thing that went wrong, or "" */
	int64_t error_time;
};

struct update_status {
	enum update_slot active;
	uint64_t seq;	   /* bumped by every write of the state file */
	bool from_factory; /* no state file yet: the factory default is shown */
	struct update_slot_info slot[2];
	struct {
		int64_t time; /* 0: the box never rolled back */
		enum update_slot from, to;
		char version[UPDATE_VERSION_MAX + 1]; /* the version rolled back from */
		char reason[UPDATE_NOTE_MAX];
	} rollback;
};

enum update_phase {
	UPDATE_PHASE_VERIFY,   /* hashing the bundle's payload; nothing written yet */
	UPDATE_PHASE_WRITE,    /* writing the inactive slot */
	UPDATE_PHASE_READBACK, /* reading the slot back to check its hash */
	UPDATE_PHASE_DONE,     /* committed: the new slot is active, on trial */
};

/*
 * Called at the start of each phase (done = 0), after every chunk, and at its
 * end (done = total). A non-zero return cancels the install with -ECANCELED
 * (before DONE: the old slot stays active).
 */
typedef int (*update_progress_fn)(void *ctx, enum update_phase phase, uint64_t done,
				  uint64_t total);

/* Flags for update_verify / update_install. */
#define UPDATE_FORCE 0x1u /* allow a downgrade */

enum update_boot_action {
	UPDATE_BOOT_NORMAL,	 /* the active slot is good: nothing to do */
	UPDATE_BOOT_TRYING,	 /* the active slot is on trial; one start counted */
	UPDATE_BOOT_ROLLED_BACK, /* the trial is over: the other slot is active; reboot */
	UPDATE_BOOT_FELL_BACK,	 /* the bootloader already started the other slot */
};

struct update_boot_result {
	enum update_boot_action action;
	enum update_slot active; /* after the call */
	int tries;		 /* TRYING: starts left after this one */
};

enum update_trial {
	UPDATE_TRIAL_WAIT,   /* not healthy long enough yet, still within the deadline */
	UPDATE_TRIAL_GOOD,   /* call update_mark_good() */
	UPDATE_TRIAL_FAILED, /* deadline passed: update_note_failure(), then restart */
};

struct update;

/* The defaults: state /var/lib/edgebox/update.state, max_tries 3,
 * healthy_within_s 120, healthy_for_s 30, no downgrades, no capacity limit,
 * factory_version 0.0.0; no slots, hardware id or key (those are required). */
void update_params_default(struct update_params *ret);

/*
 * Reads [section] of cfg over the defaults: slot_a, slot_b, hardware_id and
 * public_key are required; state, max_tries, healthy_within_s, healthy_for_s,
 * allow_downgrade, slot_capacity_mb, factory_version are optional. Relative
 * paths are against the config's folder. public_key is 64 hex digits, the
 * base64 of 32 bytes, or the path of a file holding either (what
 * update_keygen writes). -EINVAL with err->msg naming file, line when known,
 * key, what was expected and what was found; -ENOENT/-EACCES for a key file.
 */
int update_params_from_config(const struct config *cfg, const char *section,
			      struct update_params *ret, struct config_error *err);

/* A new updater for these params (copied). -EINVAL for inconsistent params
 * (same path for both slots, healthy_for_s > healthy_within_s, ...), -ENOMEM.
 * *ret is NULL on error; free with update_free (NULL is fine). */
int update_new(const struct update_params *p, struct update **ret, struct update_error *err);
void update_free(struct update *u);

/*
 * Every check of update_install, writing nothing: no trial under way,
 * structure, signature, manifest, hardware id, version against the active
 * slot (flags: UPDATE_FORCE), the target slot's size, and the payload's hash
 * (progress gets UPDATE_PHASE_VERIFY; may be NULL). On success
 * *ret (may be NULL) gets the manifest. Errors: the refusals listed above.
 */
int update_verify(struct update *u, const char *bundle, unsigned flags, struct update_manifest *ret,
		  update_progress_fn progress, void *ctx, struct update_error *err);

/*
 * Verifies the bundle as update_verify does, then writes its payload to the
 * inactive slot, reads it back, and commits: the slot becomes active with
 * status trying and max_tries starts. Returns the slot written (UPDATE_SLOT_A
 * or _B). A refusal writes nothing at all. A failure after writing began
 * (I/O error, a bundle changed under us, -ECANCELED, a crash, a power cut)
 * leaves the old slot active and good, and the target slot marked empty with
 * the reason. *ret (may be NULL) gets the manifest.
 */
int update_install(struct update *u, const char *bundle, unsigned flags,
		   struct update_manifest *ret, update_progress_fn progress, void *ctx,
		   struct update_error *err);

/*
 * At every start of the firmware (edgeboxd at start-up, or the boot script):
 * counts a start of a slot on trial, and rolls back when it has none left:
 * the slot is marked bad with "did not report healthy within N s after M
 * starts" and the other slot becomes active (ret->action ROLLED_BACK: reboot
 * into it). booted is the slot the bootloader started when known (kernel
 * command line), else UPDATE_SLOT_NONE; when the bootloader fell back on its
 * own, the trial slot is marked bad (FELL_BACK). -ESTALE when booted differs
 * from a good active slot (nothing is changed), -EUCLEAN, -EIO, ...
 */
int update_boot(struct update *u, enum update_slot booted, struct update_boot_result *ret,
		struct update_error *err);

/* The running firmware is healthy: ends the active slot's trial (status
 * good). 1 when a trial ended, 0 when the active slot was good already. */
int update_mark_good(struct update *u, struct update_error *err);

/* Records why this start of a trial slot failed (shown by --status and in
 * the rollback reason). 1 recorded, 0 the active slot is not on trial. */
int update_note_failure(struct update *u, const char *why, struct update_error *err);

/*
 * The daemon's trial check, pure: uptime_s since start, healthy_streak_s how
 * long it has been healthy without a break. GOOD once the streak reaches
 * healthy_for_s; FAILED when uptime reaches healthy_within_s first.
 */
enum update_trial update_trial_judge(const struct update *u, double uptime_s,
				     double healthy_streak_s);

/* Both slots, the active one, the last rollback. A missing state file gives
 * the factory default (from_factory). -EUCLEAN for a corrupt one. */
int update_status(struct update *u, struct update_status *ret, struct update_error *err);

/*
 * Recovery from a lost or corrupt state file: writes a fresh one in which
 * `active` is good with version (NULL or "": factory_version) and the other
 * slot empty. Use the slot the box is really running (the kernel command
 * line says which): an install then writes the other one.
 */
int update_reset_state(struct update *u, enum update_slot active, const char *version,
		       struct update_error *err);

/* The params the updater was made with (owned by u). */
const struct update_params *update_get_params(const struct update *u);

/*
 * A new signing key pair: secret_path (mode 0600) and public_path (0644,
 * one line of hex: usable as public_key = in the config, or its path).
 * Neither may exist (-EEXIST): a release key is never overwritten.
 */
int update_keygen(const char *secret_path, const char *public_path, struct update_error *err);

struct update_bundle_spec {
	const char *secret_key_path; /* update_keygen's secret file; must be mode 0600 */
	const char *payload_path;    /* the slot image */
	const char *hardware_id;
	const char *version;	 /* semver MAJOR.MINOR.PATCH[-pre][+build] */
	const char *min_version; /* NULL or "": any installed version may update */
	int64_t build_time;	 /* < 0: $SOURCE_DATE_EPOCH, else now */
};

/*
 * Builds and signs a bundle into out (written to out.tmp, then renamed).
 * *ret (may be NULL) gets its manifest. -EINVAL bad spec, -EACCES a secret
 * key readable by others, -EBADMSG a corrupt key file, -EIO the payload
 * changed while it was read, and file system errors.
 */
int update_make_bundle(const struct update_bundle_spec *spec, const char *out,
		       struct update_manifest *ret, struct update_error *err);

/*
 * Semantic versions (semver.org 2.0.0 precedence; build metadata ignored).
 * update_version_compare: 0 and *ret < 0, 0, > 0; -EINVAL if either is not
 * a version. update_version_valid: true for MAJOR.MINOR.PATCH[-pre][+build].
 */
int update_version_compare(const char *a, const char *b, int *ret);
bool update_version_valid(const char *v);

/* 64 hex digits, base64 of 32 bytes, or a file holding either. base_dir
 * resolves a relative path (NULL: the current folder). */
int update_public_key_parse(const char *text, const char *base_dir,
			    uint8_t ret[UPDATE_PUBLIC_KEY_LEN], struct update_error *err);

const char *update_slot_name(enum update_slot s);	   /* "a", "b", "none" */
const char *update_status_name(enum update_slot_status s); /* "empty", "good", ... */

#endif
