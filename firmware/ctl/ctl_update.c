/*
 * edgeboxctl update — signed A/B firmware updates for field technicians, the
 * boot scripts and the release process. The work is done by
 * firmware/update.c (docs/updates.md); this file is arguments and printing.
 *
 *   edgeboxctl update BUNDLE [--force] [--config FILE] [--json]
 *   edgeboxctl update --verify BUNDLE | --status | --boot | --mark-good |
 *                     --reset-state a|b | --make-bundle ... | --keygen OUT
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "firmware/config.h"
#include "firmware/ctl/ctl.h"
#include "firmware/update.h"

#define DEFAULT_CONFIG "/etc/edgebox/edgebox.conf"

enum mode {
	MODE_NONE,
	MODE_INSTALL,
	MODE_VERIFY,
	MODE_STATUS,
	MODE_BOOT,
	MODE_MARK_GOOD,
	MODE_RESET,
	MODE_MAKE,
	MODE_KEYGEN,
};

static const char update_usage[] =
    "Usage: edgeboxctl update BUNDLE [--force] [--config FILE] [--json]\n"
    "       edgeboxctl update --verify BUNDLE [--force] [--config FILE] [--json]\n"
    "       edgeboxctl update --status [--config FILE] [--json]\n"
    "       edgeboxctl update --boot [--booted-slot a|b] [--config FILE] [--json]\n"
    "       edgeboxctl update --mark-good [--config FILE] [--json]\n"
    "       edgeboxctl update --reset-state a|b [--version X.Y.Z] [--config FILE] [--json]\n"
    "       edgeboxctl update --make-bundle --key SECRET --hardware-id ID --version X.Y.Z\n"
    "                         --payload FILE -o OUT [--min-version X.Y.Z] [--build-time S]\n"
    "       edgeboxctl update --keygen OUT [--json]\n"
    "\n"
    "  BUNDLE         verify a signed bundle, write it to the inactive slot, read it\n"
    "                 back, and switch to it on trial (progress while writing)\n"
    "  --verify       every check of an install, nothing written\n"
    "  --status       both slots, which is active, why the last rollback happened\n"
    "  --boot         count a start of a slot on trial; roll back when it has none left\n"
    "  --mark-good    the running firmware is healthy: end the trial\n"
    "  --reset-state  recover from a lost or damaged state file\n"
    "  --make-bundle  build and sign a bundle (the release process)\n"
    "  --keygen       make a signing key pair\n"
    "\n"
    "The box's settings come from [update] of --config (default " DEFAULT_CONFIG ").\n"
    "edgeboxctl update --status --help (and so on) for details; docs/updates.md.\n"
    "Exit status: 0 ok, 1 refused or failed, 2 bad arguments.\n";

static const char install_usage[] =
    "Usage: edgeboxctl update BUNDLE [--force] [--config FILE] [--json]\n"
    "\n"
    "Checks the bundle completely before anything is written: its header and size\n"
    "(a truncated copy is refused), its Ed25519 signature against [update]\n"
    "public_key, its hardware id against [update] hardware_id, its version against\n"
    "the running slot's (no downgrade), its size against the slot, and its payload\n"
    "against the signed SHA-256. Then writes the inactive slot, reads it back,\n"
    "and makes it active on trial: the new firmware must report healthy within\n"
    "[update] healthy_within_s, with max_tries starts to do so; otherwise the box\n"
    "returns to the slot it runs now. Restart the box to start the new slot.\n"
    "\n"
    "  --force        allow a downgrade (an older version than the running one)\n"
    "  --config FILE  the box's config (default " DEFAULT_CONFIG ")\n"
    "  --json         progress and the result as JSON lines on standard output:\n"
    "                 {\"event\":\"progress\",\"phase\":\"write\",\"done\":N,\"total\":N,\n"
    "                  \"percent\":42}, then {\"event\":\"installed\",...} or\n"
    "                 {\"event\":\"error\",\"code\":\"bad_signature\",\"error\":\"...\"}\n"
    "Without --json, progress goes to standard error.\n"
    "\n"
    "Exit status: 0 installed, 1 refused (nothing written) or failed (the running\n"
    "slot stays active), 2 bad arguments.\n";

static const char verify_usage[] =
    "Usage: edgeboxctl update --verify BUNDLE [--force] [--config FILE] [--json]\n"
    "\n"
    "Every check of an install (structure, signature, hardware id, version, slot\n"
    "size, payload hash) and nothing written. Prints the manifest.\n"
    "Exit status: 0 the bundle would install, 1 refused, 2 bad arguments.\n";

static const char status_usage[] =
    "Usage: edgeboxctl update --status [--config FILE] [--json]\n"
    "\n"
    "Both slots (status empty, good, trying or bad; version; starts left on trial;\n"
    "install time; last error), which one is active, and when and why the box last\n"
    "rolled back. With no state file yet, the factory default: slot a good.\n"
    "Exit status: 0 ok, 1 the state file is unreadable or damaged, 2 bad arguments.\n";

static const char boot_usage[] =
    "Usage: edgeboxctl update --boot [--booted-slot a|b] [--config FILE] [--json]\n"
    "\n"
    "For the boot scripts (edgeboxd does the same at start-up): if the active slot\n"
    "is on trial, counts this start; when it has no starts left, marks it bad and\n"
    "makes the other slot active: then prints \"reboot\" and the box must restart.\n"
    "  --booted-slot a|b  the slot the bootloader actually started (from the kernel\n"
    "                     command line); if it fell back on its own, the trial slot\n"
    "                     is marked bad\n"
    "Exit status: 0 ok (see the output for a rollback), 1 failed, 2 bad arguments.\n";

static const char mark_good_usage[] =
    "Usage: edgeboxctl update --mark-good [--config FILE] [--json]\n"
    "\n"
    "The running firmware is healthy: ends the active slot's trial (status good),\n"
    "so it is kept. edgeboxd does this itself once it has been healthy for\n"
    "[update] healthy_for_s; this is for boot scripts and test rigs.\n"
    "Exit status: 0 ok (also when it was good already), 1 failed, 2 bad arguments.\n";

static const char reset_usage[] =
    "Usage: edgeboxctl update --reset-state a|b [--version X.Y.Z] [--config FILE] [--json]\n"
    "\n"
    "Writes a fresh state file in which the given slot is active and good (with\n"
    "--version, or [update] factory_version) and the other slot empty. For a lost\n"
    "or damaged state file: name the slot the box really runs (the kernel command\n"
    "line says which), or the next install could overwrite it.\n"
    "Exit status: 0 ok, 1 failed, 2 bad arguments.\n";

static const char make_usage[] =
    "Usage: edgeboxctl update --make-bundle --key SECRET --hardware-id ID --version X.Y.Z\n"
    "                         --payload FILE -o OUT [--min-version X.Y.Z] [--build-time S]\n"
    "                         [--json]\n"
    "\n"
    "Builds a bundle from a slot image and signs it (docs/updates.md). The secret\n"
    "key is what --keygen wrote; it must be mode 0600.\n"
    "  --hardware-id ID    the boxes it is for ([update] hardware_id on them)\n"
    "  --version X.Y.Z     the firmware version (semver; 1.4.0-rc.1 is before 1.4.0)\n"
    "  --min-version X.Y.Z boxes must run at least this to install it\n"
    "  --build-time S      seconds since 1970 (default $SOURCE_DATE_EPOCH, else now)\n"
    "Exit status: 0 written, 1 failed, 2 bad arguments.\n";

static const char keygen_usage[] =
    "Usage: edgeboxctl update --keygen OUT [--json]\n"
    "\n"
    "Makes an Ed25519 signing key pair: OUT is the secret key (mode 0600; keep it\n"
    "with the release process, never on a box), OUT.pub the public key (one line\n"
    "of hex) for [update] public_key on the boxes. Existing files are never\n"
    "overwritten.\n"
    "Exit status: 0 written, 1 failed, 2 bad arguments.\n";

struct opts {
	enum mode mode;
	const char *arg; /* BUNDLE, OUT (keygen) or the slot (reset) */
	const char *config, *key, *hwid, *version, *payload, *out, *min_version;
	const char *build_time, *booted;
	bool force, json, help;
};

static const char *mode_usage(enum mode m)
{
	switch (m) {
	case MODE_INSTALL:
		return install_usage;
	case MODE_VERIFY:
		return verify_usage;
	case MODE_STATUS:
		return status_usage;
	case MODE_BOOT:
		return boot_usage;
	case MODE_MARK_GOOD:
		return mark_good_usage;
	case MODE_RESET:
		return reset_usage;
	case MODE_MAKE:
		return make_usage;
	case MODE_KEYGEN:
		return keygen_usage;
	case MODE_NONE:
		break;
	}
	return update_usage;
}

static int usage_error(enum mode m, const char *fmt, const char *a)
{
	fprintf(stderr, "edgeboxctl update: ");
	fprintf(stderr, fmt, a);
	fprintf(stderr, "\n\n%s", mode_usage(m));
	return CTL_EXIT_USAGE;
}

static int set_mode(struct opts *o, enum mode m, const char *flag)
{
	if (o->mode != MODE_NONE && o->mode != m) {
		usage_error(m, "%s cannot be combined with another action", flag);
		return -1;
	}
	o->mode = m;
	return 0;
}

/* Which value options each mode takes. */
static bool allowed(enum mode m, const char *const *field, const struct opts *o)
{
	const char *const *cfg = &o->config;

	switch (m) {
	case MODE_INSTALL:
	case MODE_VERIFY:
	case MODE_STATUS:
	case MODE_MARK_GOOD:
		return field == cfg;
	case MODE_BOOT:
		return field == cfg || field == &o->booted;
	case MODE_RESET:
		return field == cfg || field == &o->version;
	case MODE_MAKE:
		return field == &o->key || field == &o->hwid || field == &o->version ||
		       field == &o->payload || field == &o->out || field == &o->min_version ||
		       field == &o->build_time;
	case MODE_KEYGEN:
	case MODE_NONE:
		break;
	}
	return false;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct {
		const char *name;
		size_t off;
	} values[] = {
	    {"--config", offsetof(struct opts, config)},
	    {"--key", offsetof(struct opts, key)},
	    {"--hardware-id", offsetof(struct opts, hwid)},
	    {"--version", offsetof(struct opts, version)},
	    {"--payload", offsetof(struct opts, payload)},
	    {"-o", offsetof(struct opts, out)},
	    {"--output", offsetof(struct opts, out)},
	    {"--min-version", offsetof(struct opts, min_version)},
	    {"--build-time", offsetof(struct opts, build_time)},
	    {"--booted-slot", offsetof(struct opts, booted)},
	};
	static const struct {
		const char *name;
		enum mode mode;
		bool takes_value;
	} actions[] = {
	    {"--status", MODE_STATUS, false},	    {"--boot", MODE_BOOT, false},
	    {"--mark-good", MODE_MARK_GOOD, false}, {"--make-bundle", MODE_MAKE, false},
	    {"--verify", MODE_VERIFY, true},	    {"--keygen", MODE_KEYGEN, true},
	    {"--reset-state", MODE_RESET, true},
	};
	const char *given[sizeof(values) / sizeof(values[0])] = {0};
	int i;

	memset(o, 0, sizeof(*o));
	/* --help anywhere wins, even after an action that wants a value. */
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			o->help = true;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t v;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			o->help = true;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "--force") == 0) {
			o->force = true;
			continue;
		}
		for (v = 0; v < sizeof(actions) / sizeof(actions[0]); v++)
			if (strcmp(a, actions[v].name) == 0)
				break;
		if (v < sizeof(actions) / sizeof(actions[0])) {
			if (set_mode(o, actions[v].mode, a) < 0)
				return -1;
			if (actions[v].takes_value) {
				if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1])) {
					if (o->help)
						continue;
					usage_error(actions[v].mode, "%s needs a value", a);
					return -1;
				}
				o->arg = argv[++i];
			}
			continue;
		}
		for (v = 0; v < sizeof(values) / sizeof(values[0]); v++)
			if (strcmp(a, values[v].name) == 0)
				break;
		if (v < sizeof(values) / sizeof(values[0])) {
			if (i + 1 >= argc) {
				usage_error(o->mode, "%s needs a value", a);
				return -1;
			}
			*(const char **)((char *)o + values[v].off) = argv[++i];
			given[v] = a;
			continue;
		}
		if (a[0] == '-' && a[1]) {
			usage_error(o->mode, "unknown option '%s'", a);
			return -1;
		}
		if (o->mode == MODE_NONE || (o->mode == MODE_INSTALL && !o->arg)) {
			o->mode = MODE_INSTALL;
			o->arg = a;
			continue;
		}
		usage_error(o->mode, "unexpected argument '%s'", a);
		return -1;
	}
	if (o->help)
		return 0;
	if (o->mode == MODE_NONE) {
		usage_error(MODE_NONE, "%s",
			    "which bundle? Give BUNDLE, or one of --status, --boot, "
			    "--mark-good, --verify, --reset-state, --make-bundle, "
			    "--keygen");
		return -1;
	}
	for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++)
		if (given[v] &&
		    !allowed(o->mode, (const char *const *)((char *)o + values[v].off), o)) {
			usage_error(o->mode, "%s does not apply here", given[v]);
			return -1;
		}
	if (o->force && o->mode != MODE_INSTALL && o->mode != MODE_VERIFY) {
		usage_error(o->mode, "%s does not apply here", "--force");
		return -1;
	}
	if (o->mode == MODE_MAKE) {
		const char *missing = !o->key	    ? "--key SECRET"
				      : !o->hwid    ? "--hardware-id ID"
				      : !o->version ? "--version X.Y.Z"
				      : !o->payload ? "--payload FILE"
				      : !o->out	    ? "-o OUT"
						    : NULL;
		if (missing) {
			usage_error(MODE_MAKE, "--make-bundle needs %s", missing);
			return -1;
		}
	}
	if (o->booted && strcmp(o->booted, "a") != 0 && strcmp(o->booted, "b") != 0) {
		usage_error(MODE_BOOT, "--booted-slot: expected a or b, got '%s'", o->booted);
		return -1;
	}
	if (o->mode == MODE_RESET && strcmp(o->arg, "a") != 0 && strcmp(o->arg, "b") != 0) {
		usage_error(MODE_RESET, "--reset-state: expected a or b, got '%s'", o->arg);
		return -1;
	}
	return 0;
}

/* ---- output helpers ------------------------------------------------------- */

static void print_json(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	if (s)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
	fflush(stdout);
}

static const char *error_code(int rc)
{
	switch (-rc) {
	case EBADMSG:
		return "bad_bundle";
	case EKEYREJECTED:
		return "bad_signature";
	case ENOEXEC:
		return "wrong_hardware";
	case ERANGE:
		return "version_refused";
	case ENOTSUP:
		return "unsupported";
	case EFBIG:
		return "too_large";
	case EBUSY:
		return "busy";
	case EUCLEAN:
		return "state_damaged";
	case ECANCELED:
		return "cancelled";
	case ESTALE:
		return "slot_mismatch";
	default:
		return "failed";
	}
}

/* Refusals happen before anything is written. */
static bool is_refusal(int rc)
{
	switch (-rc) {
	case EBADMSG:
	case EKEYREJECTED:
	case ENOEXEC:
	case ERANGE:
	case ENOTSUP:
	case EFBIG:
	case EBUSY:
	case EUCLEAN:
		return true;
	default:
		return false;
	}
}

static int report_error(const struct opts *o, const char *what, int rc, const char *msg)
{
	if (o->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "event", "error");
		cJSON_AddStringToObject(j, "code", error_code(rc));
		cJSON_AddStringToObject(j, "error", msg);
		print_json(j);
	} else {
		fprintf(stderr, "edgeboxctl update: %s: %s\n", what, msg);
	}
	return CTL_EXIT_FAIL;
}

static void iso(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static bool zero32(const uint8_t *b)
{
	for (int i = 0; i < 32; i++)
		if (b[i])
			return false;
	return true;
}

static cJSON *manifest_json(const struct update_manifest *m)
{
	cJSON *j = cJSON_CreateObject();
	char h[65];

	hex(m->payload_sha256, 32, h);
	cJSON_AddStringToObject(j, "hardware_id", m->hardware_id);
	cJSON_AddStringToObject(j, "version", m->version);
	cJSON_AddStringToObject(j, "min_version", m->min_version);
	cJSON_AddNumberToObject(j, "build_time", (double)m->build_time);
	cJSON_AddNumberToObject(j, "payload_size", (double)m->payload_size);
	cJSON_AddStringToObject(j, "payload_sha256", h);
	return j;
}

static int open_updater(const struct opts *o, struct update **ret)
{
	const char *path = o->config ? o->config : DEFAULT_CONFIG;
	struct update_params p;
	struct config_error ce;
	struct update_error ue;
	struct config *cfg;
	int rc;

	rc = config_load(path, &cfg, &ce);
	if (rc < 0)
		return report_error(o, "config", rc, ce.msg);
	if (!config_has_section(cfg, "update")) {
		snprintf(ce.msg, sizeof(ce.msg),
			 "%s has no [update] section: add slot_a, slot_b, hardware_id and "
			 "public_key (docs/updates.md)",
			 path);
		config_free(cfg);
		return report_error(o, "config", -EINVAL, ce.msg);
	}
	rc = update_params_from_config(cfg, "update", &p, &ce);
	config_free(cfg);
	if (rc < 0)
		return report_error(o, "config", rc, ce.msg);
	rc = update_new(&p, ret, &ue);
	if (rc < 0)
		return report_error(o, "config", rc, ue.msg);
	return CTL_EXIT_OK;
}

/* ---- progress ------------------------------------------------------------- */

struct progress {
	bool json, tty;
	const char *slot;
	int last_pct;
	enum update_phase last_phase;
};

static const char *phase_name(enum update_phase p)
{
	switch (p) {
	case UPDATE_PHASE_VERIFY:
		return "verify";
	case UPDATE_PHASE_WRITE:
		return "write";
	case UPDATE_PHASE_READBACK:
		return "readback";
	case UPDATE_PHASE_DONE:
		return "done";
	}
	return "?";
}

static int on_progress(void *ctx, enum update_phase phase, uint64_t done, uint64_t total)
{
	struct progress *pr = ctx;
	int pct = total ? (int)(done * 100 / total) : 100;
	char label[64];

	if (phase == UPDATE_PHASE_DONE)
		return 0;
	if (phase == pr->last_phase && pct == pr->last_pct)
		return 0;
	if (phase != pr->last_phase)
		pr->last_pct = -1;
	pr->last_phase = phase;
	if (pr->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "event", "progress");
		cJSON_AddStringToObject(j, "phase", phase_name(phase));
		cJSON_AddNumberToObject(j, "done", (double)done);
		cJSON_AddNumberToObject(j, "total", (double)total);
		cJSON_AddNumberToObject(j, "percent", pct);
		print_json(j);
		pr->last_pct = pct;
		return 0;
	}
	if (phase == UPDATE_PHASE_VERIFY)
		snprintf(label, sizeof(label), "checking the payload");
	else
		snprintf(label, sizeof(label), "%s slot %s",
			 phase == UPDATE_PHASE_WRITE ? "writing" : "reading back", pr->slot);
	if (pr->tty) {
		fprintf(stderr, "\r%-22s %3d%%  %.1f of %.1f MiB", label, pct, done / 1048576.0,
			total / 1048576.0);
		if (done == total)
			fprintf(stderr, "\n");
	} else if (pct / 25 != pr->last_pct / 25 || pr->last_pct < 0) {
		/* Logs and pipes get a line per quarter, not a line per chunk. */
		fprintf(stderr, "%s: %d%% (%.1f of %.1f MiB)\n", label, pct, done / 1048576.0,
			total / 1048576.0);
	}
	pr->last_pct = pct;
	return 0;
}

/* ---- the actions -------------------------------------------------------------- */

static int cmd_install(const struct opts *o, bool write)
{
	struct progress pr = {
	    .json = o->json, .tty = isatty(2), .last_pct = -1, .last_phase = UPDATE_PHASE_DONE};
	struct update_manifest m;
	struct update_status st;
	struct update_error ue;
	struct update *u = NULL;
	int rc, slot;

	rc = open_updater(o, &u);
	if (rc != CTL_EXIT_OK)
		return rc;
	/* The slot about to be written, for the progress line. */
	pr.slot = update_status(u, &st, &ue) == 0 && st.active == UPDATE_SLOT_A ? "b" : "a";
	if (write)
		slot = update_install(u, o->arg, o->force ? UPDATE_FORCE : 0, &m, on_progress, &pr,
				      &ue);
	else
		slot = update_verify(u, o->arg, o->force ? UPDATE_FORCE : 0, &m, on_progress, &pr,
				     &ue);
	if (slot < 0) {
		char msg[UPDATE_ERROR_MAX + 128];

		snprintf(msg, sizeof(msg), "%s%s", ue.msg,
			 !write		    ? ""
			 : is_refusal(slot) ? " (nothing was written)"
					    : " (the running slot stays active)");
		rc = report_error(o, write ? "refused" : "verify", slot, msg);
		if (!is_refusal(slot) && !o->json)
			fprintf(stderr, "edgeboxctl update: see `edgeboxctl update --status`\n");
		update_free(u);
		return rc;
	}
	rc = update_status(u, &st, &ue);
	if (rc < 0) {
		update_free(u);
		return report_error(o, "status", rc, ue.msg);
	}
	{
		const struct update_params *p = update_get_params(u);
		enum update_slot target =
		    write ? (enum update_slot)slot
			  : (st.active == UPDATE_SLOT_A ? UPDATE_SLOT_B : UPDATE_SLOT_A);
		enum update_slot fb = target == UPDATE_SLOT_A ? UPDATE_SLOT_B : UPDATE_SLOT_A;
		char h[65];

		hex(m.payload_sha256, 32, h);
		if (o->json) {
			cJSON *j = manifest_json(&m), *f;

			cJSON_AddStringToObject(j, "event", write ? "installed" : "verified");
			cJSON_AddStringToObject(j, "slot", update_slot_name(target));
			cJSON_AddStringToObject(j, "path", p->slot_path[target]);
			if (write) {
				cJSON_AddNumberToObject(j, "tries", p->max_tries);
				cJSON_AddNumberToObject(j, "healthy_within_s", p->healthy_within_s);
				f = cJSON_AddObjectToObject(j, "fallback");
				cJSON_AddStringToObject(f, "slot", update_slot_name(fb));
				cJSON_AddStringToObject(f, "version", st.slot[fb].version);
			}
			print_json(j);
		} else if (write) {
			printf("installed %s into slot %s (%s): %.1f MiB, SHA-256 %.16s...\n"
			       "slot %s is active on trial: it must report healthy within %d s, "
			       "with %d starts to do so;\n"
			       "otherwise the box returns to slot %s (%s). Restart the box to "
			       "start it.\n",
			       m.version, update_slot_name(target), p->slot_path[target],
			       m.payload_size / 1048576.0, h, update_slot_name(target),
			       p->healthy_within_s, p->max_tries, update_slot_name(fb),
			       st.slot[fb].version);
		} else {
			printf("%s would install: %s for %s, %.1f MiB, SHA-256 %.16s..., into slot "
			       "%s (%s)\n",
			       o->arg, m.version, m.hardware_id, m.payload_size / 1048576.0, h,
			       update_slot_name(target), p->slot_path[target]);
		}
	}
	update_free(u);
	return CTL_EXIT_OK;
}

static int cmd_status(const struct opts *o)
{
	struct update_status st;
	struct update_error ue;
	struct update *u = NULL;
	const struct update_params *p;
	char t1[32], t2[32], h[65];
	int rc;

	rc = open_updater(o, &u);
	if (rc != CTL_EXIT_OK)
		return rc;
	p = update_get_params(u);
	rc = update_status(u, &st, &ue);
	if (rc < 0) {
		update_free(u);
		return report_error(o, "status", rc, ue.msg);
	}
	if (o->json) {
		cJSON *j = cJSON_CreateObject(), *slots, *rb;

		cJSON_AddStringToObject(j, "state", p->state_path);
		cJSON_AddNumberToObject(j, "seq", (double)st.seq);
		cJSON_AddBoolToObject(j, "from_factory", st.from_factory);
		cJSON_AddStringToObject(j, "active", update_slot_name(st.active));
		cJSON_AddStringToObject(j, "hardware_id", p->hardware_id);
		slots = cJSON_AddArrayToObject(j, "slots");
		for (int i = 0; i < 2; i++) {
			const struct update_slot_info *sl = &st.slot[i];
			cJSON *s = cJSON_CreateObject();

			hex(sl->sha256, 32, h);
			cJSON_AddStringToObject(s, "slot", update_slot_name((enum update_slot)i));
			cJSON_AddStringToObject(s, "path", p->slot_path[i]);
			cJSON_AddBoolToObject(s, "active", i == (int)st.active);
			cJSON_AddStringToObject(s, "status", update_status_name(sl->status));
			cJSON_AddStringToObject(s, "version", sl->version);
			cJSON_AddNumberToObject(s, "tries", sl->tries);
			cJSON_AddNumberToObject(s, "size", (double)sl->size);
			cJSON_AddStringToObject(s, "sha256", zero32(sl->sha256) ? "" : h);
			cJSON_AddNumberToObject(s, "installed", (double)sl->installed);
			cJSON_AddStringToObject(s, "error", sl->error);
			cJSON_AddNumberToObject(s, "error_time", (double)sl->error_time);
			cJSON_AddItemToArray(slots, s);
		}
		if (st.rollback.time) {
			rb = cJSON_AddObjectToObject(j, "rollback");
			cJSON_AddNumberToObject(rb, "time", (double)st.rollback.time);
			cJSON_AddStringToObject(rb, "from", update_slot_name(st.rollback.from));
			cJSON_AddStringToObject(rb, "to", update_slot_name(st.rollback.to));
			cJSON_AddStringToObject(rb, "version", st.rollback.version);
			cJSON_AddStringToObject(rb, "reason", st.rollback.reason);
		} else {
			cJSON_AddNullToObject(j, "rollback");
		}
		print_json(j);
		update_free(u);
		return CTL_EXIT_OK;
	}
	if (st.from_factory)
		printf("update state %s: none yet (factory default)\n", p->state_path);
	else
		printf("update state %s (written %llu times)\n", p->state_path,
		       (unsigned long long)st.seq);
	printf("\n%-6s %-7s %-14s %-6s %-21s %s\n", "SLOT", "STATUS", "VERSION", "TRIES",
	       "INSTALLED", "PATH");
	for (int i = 0; i < 2; i++) {
		const struct update_slot_info *sl = &st.slot[i];
		char tries[16];

		iso(sl->installed, t1, sizeof(t1));
		if (sl->status == UPDATE_STATUS_TRYING)
			snprintf(tries, sizeof(tries), "%d", sl->tries);
		else
			snprintf(tries, sizeof(tries), "-");
		printf("%-1s %-4s %-7s %-14s %-6s %-21s %s\n",
		       update_slot_name((enum update_slot)i), i == (int)st.active ? "*" : "",
		       update_status_name(sl->status), sl->version[0] ? sl->version : "-", tries,
		       t1, p->slot_path[i]);
		if (sl->error[0]) {
			iso(sl->error_time, t2, sizeof(t2));
			printf("       last error (%s): %s\n", t2, sl->error);
		}
	}
	printf("\nactive: slot %s (%s %s)\n", update_slot_name(st.active),
	       update_status_name(st.slot[st.active].status), st.slot[st.active].version);
	if (st.rollback.time) {
		iso(st.rollback.time, t1, sizeof(t1));
		printf("last rollback: %s, from slot %s (%s) to slot %s: %s\n", t1,
		       update_slot_name(st.rollback.from), st.rollback.version,
		       update_slot_name(st.rollback.to), st.rollback.reason);
	} else {
		printf("last rollback: never\n");
	}
	update_free(u);
	return CTL_EXIT_OK;
}

static int cmd_boot(const struct opts *o)
{
	static const char *const actions[] = {"normal", "trying", "rolled_back", "fell_back"};
	struct update_boot_result r;
	struct update_status st;
	struct update_error ue;
	struct update *u = NULL;
	enum update_slot booted = UPDATE_SLOT_NONE;
	int rc;

	if (o->booted)
		booted = o->booted[0] == 'a' ? UPDATE_SLOT_A : UPDATE_SLOT_B;
	rc = open_updater(o, &u);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = update_boot(u, booted, &r, &ue);
	if (rc == 0)
		rc = update_status(u, &st, &ue);
	if (rc < 0) {
		update_free(u);
		return report_error(o, "boot", rc, ue.msg);
	}
	if (o->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "event", "boot");
		cJSON_AddStringToObject(j, "action", actions[r.action]);
		cJSON_AddStringToObject(j, "active", update_slot_name(r.active));
		cJSON_AddStringToObject(j, "version", st.slot[r.active].version);
		cJSON_AddNumberToObject(j, "tries", r.tries);
		cJSON_AddBoolToObject(j, "reboot", r.action == UPDATE_BOOT_ROLLED_BACK);
		if (r.action == UPDATE_BOOT_ROLLED_BACK || r.action == UPDATE_BOOT_FELL_BACK)
			cJSON_AddStringToObject(j, "reason", st.rollback.reason);
		print_json(j);
	} else {
		switch (r.action) {
		case UPDATE_BOOT_NORMAL:
			printf("slot %s (%s) is good: nothing to do\n", update_slot_name(r.active),
			       st.slot[r.active].version);
			break;
		case UPDATE_BOOT_TRYING:
			printf("slot %s (%s) is on trial: this start counted, %d left to report "
			       "healthy within %d s\n",
			       update_slot_name(r.active), st.slot[r.active].version, r.tries,
			       update_get_params(u)->healthy_within_s);
			break;
		case UPDATE_BOOT_ROLLED_BACK:
			printf("rolled back: slot %s (%s) %s; slot %s (%s) is active: reboot\n",
			       update_slot_name(st.rollback.from), st.rollback.version,
			       st.rollback.reason, update_slot_name(r.active),
			       st.slot[r.active].version);
			break;
		case UPDATE_BOOT_FELL_BACK:
			printf("the bootloader fell back: slot %s (%s) marked bad; slot %s (%s) is "
			       "active\n",
			       update_slot_name(st.rollback.from), st.rollback.version,
			       update_slot_name(r.active), st.slot[r.active].version);
			break;
		}
	}
	update_free(u);
	return CTL_EXIT_OK;
}

static int cmd_mark_good(const struct opts *o)
{
	struct update_status st;
	struct update_error ue;
	struct update *u = NULL;
	int rc, changed;

	rc = open_updater(o, &u);
	if (rc != CTL_EXIT_OK)
		return rc;
	changed = update_mark_good(u, &ue);
	rc = changed < 0 ? changed : update_status(u, &st, &ue);
	if (rc < 0) {
		update_free(u);
		return report_error(o, "mark-good", rc, ue.msg);
	}
	if (o->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "event", "mark_good");
		cJSON_AddStringToObject(j, "active", update_slot_name(st.active));
		cJSON_AddStringToObject(j, "version", st.slot[st.active].version);
		cJSON_AddBoolToObject(j, "changed", changed == 1);
		print_json(j);
	} else {
		printf("slot %s (%s) %s good\n", update_slot_name(st.active),
		       st.slot[st.active].version, changed ? "is now marked" : "was already");
	}
	update_free(u);
	return CTL_EXIT_OK;
}

static int cmd_reset(const struct opts *o)
{
	struct update_error ue;
	struct update *u = NULL;
	enum update_slot s = o->arg[0] == 'a' ? UPDATE_SLOT_A : UPDATE_SLOT_B;
	int rc;

	rc = open_updater(o, &u);
	if (rc != CTL_EXIT_OK)
		return rc;
	rc = update_reset_state(u, s, o->version, &ue);
	if (rc < 0) {
		update_free(u);
		return report_error(o, "reset-state", rc, ue.msg);
	}
	if (o->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "event", "reset_state");
		cJSON_AddStringToObject(j, "active", update_slot_name(s));
		print_json(j);
	} else {
		printf("%s rewritten: slot %s active and good, slot %s empty\n",
		       update_get_params(u)->state_path, update_slot_name(s),
		       update_slot_name(s == UPDATE_SLOT_A ? UPDATE_SLOT_B : UPDATE_SLOT_A));
	}
	update_free(u);
	return CTL_EXIT_OK;
}

static int cmd_make(const struct opts *o)
{
	struct update_bundle_spec spec = {
	    .secret_key_path = o->key,
	    .payload_path = o->payload,
	    .hardware_id = o->hwid,
	    .version = o->version,
	    .min_version = o->min_version,
	    .build_time = -1,
	};
	struct update_manifest m;
	struct update_error ue;
	char h[65];
	int rc;

	if (o->build_time) {
		char *end;
		long long t = strtoll(o->build_time, &end, 10);

		if (!*o->build_time || *end || t < 0)
			return usage_error(MODE_MAKE,
					   "--build-time: expected seconds since 1970, got '%s'",
					   o->build_time);
		spec.build_time = t;
	}
	rc = update_make_bundle(&spec, o->out, &m, &ue);
	if (rc < 0)
		return report_error(o, "make-bundle", rc, ue.msg);
	if (o->json) {
		cJSON *j = manifest_json(&m);

		cJSON_AddStringToObject(j, "event", "bundle");
		cJSON_AddStringToObject(j, "path", o->out);
		print_json(j);
	} else {
		hex(m.payload_sha256, 32, h);
		printf("%s: %s for %s, payload %llu bytes, SHA-256 %s%s%s\n", o->out, m.version,
		       m.hardware_id, (unsigned long long)m.payload_size, h,
		       m.min_version[0] ? ", needs " : "", m.min_version);
	}
	return CTL_EXIT_OK;
}

static int cmd_keygen(const struct opts *o)
{
	struct update_error ue;
	uint8_t pk[UPDATE_PUBLIC_KEY_LEN];
	char pub[PATH_MAX + 8], h[65];
	int rc;

	if (snprintf(pub, sizeof(pub), "%s.pub", o->arg) >= (int)sizeof(pub))
		return usage_error(MODE_KEYGEN, "%s", "OUT is too long");
	rc = update_keygen(o->arg, pub, &ue);
	if (rc == 0)
		rc = update_public_key_parse(pub, NULL, pk, &ue);
	if (rc < 0)
		return report_error(o, "keygen", rc, ue.msg);
	hex(pk, sizeof(pk), h);
	if (o->json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "event", "keygen");
		cJSON_AddStringToObject(j, "secret_key", o->arg);
		cJSON_AddStringToObject(j, "public_key_file", pub);
		cJSON_AddStringToObject(j, "public_key", h);
		print_json(j);
	} else {
		printf("secret key: %s (mode 0600: keep it with the release process, never on a "
		       "box)\npublic key: %s\nfor the boxes' [update] section:\n  public_key = "
		       "%s\n",
		       o->arg, pub, h);
	}
	return CTL_EXIT_OK;
}

int ctl_update(int argc, char **argv)
{
	struct opts o;

	if (parse(argc, argv, &o) < 0)
		return CTL_EXIT_USAGE;
	if (o.help) {
		fputs(mode_usage(o.mode), stdout);
		return CTL_EXIT_OK;
	}
	switch (o.mode) {
	case MODE_INSTALL:
		return cmd_install(&o, true);
	case MODE_VERIFY:
		return cmd_install(&o, false);
	case MODE_STATUS:
		return cmd_status(&o);
	case MODE_BOOT:
		return cmd_boot(&o);
	case MODE_MARK_GOOD:
		return cmd_mark_good(&o);
	case MODE_RESET:
		return cmd_reset(&o);
	case MODE_MAKE:
		return cmd_make(&o);
	case MODE_KEYGEN:
		return cmd_keygen(&o);
	case MODE_NONE:
		break;
	}
	fputs(update_usage, stderr);
	return CTL_EXIT_USAGE;
}
