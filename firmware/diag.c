/*
 * diag — the technicians' checks, the config checker, what may leave the box
 * (redaction, audit sanitizing) and the diagnostics bundle. The contract is
 * in firmware/diag.h; the checks and their verdicts in docs/technicians.md.
 */
#include "firmware/diag.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <linux/videodev2.h>
#include <math.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/agent.h"
#include "agent/face_track.h"
#include "agent/llm.h"
#include "agent/proximity.h"
#include "agent/tools.h"
#include "agent/visitor.h"
#include "firmware/agent_stage.h"
#include "firmware/config.h"
#include "firmware/control.h"
#include "firmware/display.h"
#include "firmware/store.h"
#include "firmware/update.h"
#include "hal/camera.h"
#include "hal/errmsg.h"
#include "hal/registry.h"
#include "hal/strbuf.h"

#define PATH_LEN 4096
#define DEFAULT_STORE_PATH "/var/lib/edgebox/store.db"
#define CHECK_OUTPUT_MAX (64 * 1024) /* bytes of edgeboxd --check-config output kept */
#define CHECK_CONFIG_TIMEOUT_MS 20000
#define REDACTED "<redacted>"
#define SECRETS_MAX 32 /* secret values remembered to scrub from a bundle */
#define SANITIZE_WORD_MAX 48

extern char **environ;

struct diag {
	struct diag_env env;
	char config_path[PATH_LEN];
	struct config *cfg; /* NULL: it did not load (cfg_err says why) */
	char cfg_err[CONFIG_ERROR_MAX];
	cJSON *status; /* NULL: the daemon is not running */
};

static const char *const result_names[] = {
    [DIAG_PASS] = "PASS",
    [DIAG_WARN] = "WARN",
    [DIAG_FAIL] = "FAIL",
};

const char *diag_result_name(enum diag_result r)
{
	switch (r) {
	case DIAG_PASS:
	case DIAG_WARN:
	case DIAG_FAIL:
		return result_names[r];
	}
	return "?";
}

int diag_result_from_name(const char *s, enum diag_result *ret)
{
	for (int i = DIAG_PASS; i <= DIAG_FAIL; i++)
		if (s && strcmp(s, result_names[i]) == 0) {
			*ret = (enum diag_result)i;
			return 0;
		}
	return -EINVAL;
}

/* ---- verdicts ------------------------------------------------------------------- */

static void begin(struct diag_check *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
}

static void verdict(struct diag_check *c, enum diag_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verdict(struct diag_check *c, enum diag_result r, const char *fmt, ...)
{
	va_list ap;

	c->result = r;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static void fix(struct diag_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fix(struct diag_check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fix, sizeof(c->fix), fmt, ap);
	va_end(ap);
}

/* The other checks cannot look without a config. */
static bool need_config(struct diag *d, struct diag_check *c)
{
	if (d->cfg)
		return true;
	verdict(c, DIAG_WARN, "not checked: the config does not load");
	fix(c, "fix the config first (see the config check)");
	return false;
}

/* ---- life cycle ----------------------------------------------------------------- */

int diag_new(const struct diag_env *env, struct diag **ret)
{
	struct config_error err;
	struct diag *d;

	*ret = NULL;
	if (!env || !env->config_path || !*env->config_path || strlen(env->config_path) >= PATH_LEN)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->env = *env;
	snprintf(d->config_path, sizeof(d->config_path), "%s", env->config_path);
	d->env.config_path = d->config_path;
	d->env.status_json = NULL;
	if (config_load(d->config_path, &d->cfg, &err) < 0) {
		d->cfg = NULL;
		snprintf(d->cfg_err, sizeof(d->cfg_err), "%s", err.msg);
	}
	for (size_t i = 0; d->cfg && i < env->nsets; i++)
		if (config_set(d->cfg, env->sets[i], &err) < 0) {
			config_free(d->cfg);
			d->cfg = NULL;
			snprintf(d->cfg_err, sizeof(d->cfg_err), "%s", err.msg);
		}
	if (env->status_json) {
		if (strlen(env->status_json) > DIAG_STATUS_MAX) {
			diag_free(d);
			return -EINVAL;
		}
		d->status = cJSON_Parse(env->status_json);
		if (!cJSON_IsObject(d->status)) {
			diag_free(d);
			return -EINVAL;
		}
	}
	*ret = d;
	return 0;
}

void diag_free(struct diag *d)
{
	if (!d)
		return;
	config_free(d->cfg);
	cJSON_Delete(d->status);
	free(d);
}

/* ---- small readers ---------------------------------------------------------------- */

static const char *cfg_str(struct diag *d, const char *sec, const char *key, const char *def)
{
	struct config_error e;
	const char *v = def;

	if (config_str(d->cfg, sec, key, def, false, &v, &e) < 0 || !v)
		return def;
	return v;
}

static double cfg_double(struct diag *d, const char *sec, const char *key, double def)
{
	struct config_error e;
	double v;

	return config_double(d->cfg, sec, key, def, -1e300, 1e300, &v, &e) < 0 ? def : v;
}

/* A path key resolved against the config's folder; "" when unset and no def. */
static void cfg_path(struct diag *d, const char *sec, const char *key, const char *def, char *buf,
		     size_t len)
{
	struct config_error e;

	buf[0] = '\0';
	if (config_path(d->cfg, sec, key, def, false, buf, len, &e) < 0)
		snprintf(buf, len, "%s", def ? def : "");
}

static const cJSON *status_stage(struct diag *d, const char *name)
{
	const cJSON *st;

	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(d->status, "stages"))
	{
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "name");

		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
			return st;
	}
	return NULL;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *key, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* ", 12.5<unit> lately" when the status has a rate, else "". */
static const char *rate_note(const cJSON *st, const char *unit, char *buf, size_t len)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(st, "items_per_s");

	buf[0] = '\0';
	if (cJSON_IsNumber(r))
		snprintf(buf, len, ", %.1f%s lately", r->valuedouble, unit);
	return buf;
}

static bool is_char_dev(const char *path, int *ret_errno)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		*ret_errno = errno;
		return false;
	}
	*ret_errno = S_ISCHR(st.st_mode) ? 0 : ENOTTY;
	return S_ISCHR(st.st_mode);
}

static bool readable_file(const char *path)
{
	struct stat st;

	return path[0] && stat(path, &st) == 0 && access(path, R_OK) == 0;
}

static void human_bytes(long long n, char *buf, size_t len)
{
	if (n >= 1LL << 30)
		snprintf(buf, len, "%.1f GiB", (double)n / (1 << 30));
	else if (n >= 1 << 20)
		snprintf(buf, len, "%.1f MiB", (double)n / (1 << 20));
	else if (n >= 1 << 10)
		snprintf(buf, len, "%.1f KiB", (double)n / (1 << 10));
	else
		snprintf(buf, len, "%lld B", n);
}

/*
 * The common part of the device checks when the daemon runs: the stage's
 * state. Returns true when the stage runs and the caller judges its rate;
 * false when *c already holds the verdict.
 */
static bool judge_stage_state(struct diag *d, struct diag_check *c, const char *name,
			      const char *device_fix, const cJSON **ret_stage)
{
	const cJSON *st = status_stage(d, name);
	const char *state, *err;
	double restarts;

	*ret_stage = st;
	if (!st) {
		verdict(c, DIAG_FAIL,
			"the running edgeboxd has no %s stage although the config names a driver",
			name);
		fix(c, "edgeboxd runs an older config: `systemctl reload edgeboxd` (the config "
		       "check says whether the new one would be taken)");
		return false;
	}
	state = jstr(st, "state");
	err = jstr(st, "last_error");
	restarts = jnum(st, "restarts", 0);
	if (strcmp(state, "failed") == 0) {
		verdict(c, DIAG_FAIL,
			"stage %s has failed and was given up after %.0f restarts%s%s", name,
			restarts, *err ? ": " : "", err);
		fix(c, "%s; then `systemctl restart edgeboxd`", device_fix);
		return false;
	}
	if (strcmp(state, "exited") == 0 || strcmp(state, "starting") == 0 ||
	    strcmp(state, "stopped") == 0) {
		verdict(c, DIAG_WARN, "stage %s is %s (%.0f restarts so far)%s%s", name, state,
			restarts, *err ? ": " : "", err);
		fix(c, "%s; the supervisor retries on its own", device_fix);
		return false;
	}
	if (strcmp(state, "done") == 0) {
		verdict(c, DIAG_PASS, "stage %s has finished its input (a replay without loop)",
			name);
		return false;
	}
	return true;
}

/* ---- config ------------------------------------------------------------------------ */

static int config_check_with(const char *path, const char *const *sets, size_t nsets,
			     const char *edgeboxd_path, char *msg, size_t len);

void diag_check_config(struct diag *d, struct diag_check *c)
{
	char msg[DIAG_DETAIL_MAX];

	begin(c, "config");
	if (config_check_with(d->config_path, d->env.sets, d->env.nsets, d->env.edgeboxd_path, msg,
			      sizeof(msg)) == 0) {
		verdict(c, DIAG_PASS, "%s", msg);
		return;
	}
	verdict(c, DIAG_FAIL, "%s%s", msg,
		d->status ? " (the running edgeboxd keeps its previous config; a reload would "
			    "be refused)"
			  : "");
	fix(c, "edit %s where the message says, then `edgeboxctl config check %s`%s",
	    d->config_path, d->config_path, d->status ? " and `systemctl reload edgeboxd`" : "");
}

/* ---- BLE ----------------------------------------------------------------------------- */

/* Adapters in <sysfs>/class/bluetooth, comma-separated, into buf; their count. */
static int list_adapters(const char *sysfs, char *buf, size_t len)
{
	char dir[PATH_LEN];
	struct dirent *e;
	size_t used = 0;
	int n = 0;
	DIR *dh;

	buf[0] = '\0';
	snprintf(dir, sizeof(dir), "%s/class/bluetooth", sysfs);
	dh = opendir(dir);
	if (!dh)
		return 0;
	while ((e = readdir(dh))) {
		if (strncmp(e->d_name, "hci", 3) != 0 || strchr(e->d_name, ':'))
			continue;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", n ? ", " : "",
						 e->d_name);
		n++;
	}
	closedir(dh);
	return n;
}

/* Is an rfkill switch of the adapter on? "soft", "hard" or NULL. */
static const char *rfkill_blocked(const char *sysfs, const char *adapter)
{
	static const char *const kinds[] = {"hard", "soft"};
	char dir[PATH_LEN], path[PATH_LEN + 300];
	struct dirent *e;
	const char *why = NULL;
	DIR *dh;

	snprintf(dir, sizeof(dir), "%s/class/bluetooth/%s", sysfs, adapter);
	dh = opendir(dir);
	if (!dh)
		return NULL;
	while (!why && (e = readdir(dh))) {
		if (strncmp(e->d_name, "rfkill", 6) != 0)
			continue;
		for (size_t k = 0; k < 2 && !why; k++) {
			char v[8] = "";
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s/%s", dir, e->d_name, kinds[k]);
			f = fopen(path, "r");
			if (f) {
				if (fgets(v, sizeof(v), f) && v[0] == '1')
					why = kinds[k];
				fclose(f);
			}
		}
	}
	closedir(dh);
	return why;
}

void diag_check_ble(struct diag *d, struct diag_check *c)
{
	static const char hci_fix[] = "check the adapter (`btmgmt info`, `rfkill list`, `dmesg | "
				      "grep -i bluetooth`) and [ble] adapter";
	const char *driver, *sysfs = d->env.sysfs_root ? d->env.sysfs_root : "/sys";
	const cJSON *st;
	char path[PATH_LEN], list[256], rate[64];

	begin(c, "ble");
	if (!need_config(d, c))
		return;
	driver = cfg_str(d, "ble", "driver", "none");
	if (strcmp(driver, "none") == 0) {
		verdict(c, DIAG_PASS, "off ([ble] driver = none): no app-beacon presence");
		return;
	}
	if (strcmp(driver, "btsnoop") == 0) {
		cfg_path(d, "ble", "file", NULL, path, sizeof(path));
		if (d->status) {
			if (!judge_stage_state(d, c, "ble",
					       "set [ble] file to a `btmon -w` capture", &st))
				return;
			verdict(c, DIAG_PASS,
				"replay driver configured (btsnoop %s): %.0f reports "
				"replayed%s",
				path, jnum(st, "items", 0),
				rate_note(st, "/s", rate, sizeof(rate)));
			return;
		}
		if (!readable_file(path)) {
			verdict(c, DIAG_FAIL,
				"replay driver configured, but its capture '%s' cannot "
				"be read",
				path);
			fix(c,
			    "set [ble] file to a `btmon -w` capture (tests/fixtures/ble has some)");
			return;
		}
		verdict(c, DIAG_PASS, "replay driver configured (btsnoop %s)", path);
		return;
	}
	if (strcmp(driver, "hci") != 0) {
		verdict(c, DIAG_FAIL, "[ble] driver = %s: not a driver this build has", driver);
		fix(c, "set [ble] driver to hci, btsnoop or none (`edgeboxctl drivers`)");
		return;
	}
	if (d->status) {
		double rate;

		if (!judge_stage_state(d, c, "ble", hci_fix, &st))
			return;
		rate = jnum(st, "items_per_s", -1);
		if (rate < 0) {
			verdict(c, DIAG_PASS,
				"adapter scanning, %.0f advertisements so far (no "
				"recent rate in this status)",
				jnum(st, "items", 0));
			return;
		}
		if (rate == 0) {
			verdict(c, DIAG_WARN,
				"adapter scanning but no advertisements in the last "
				"%.0f s (%.0f so far)",
				jnum(st, "rate_window_s", 0), jnum(st, "items", 0));
			fix(c, "check that the store app's beacons are nearby and advertising "
			       "(`btmon` shows the traffic) and the antenna");
			return;
		}
		verdict(c, DIAG_PASS, "receiving %.1f advertisements/s (%.0f so far)", rate,
			jnum(st, "items", 0));
		return;
	}
	{
		const char *adapter = cfg_str(d, "ble", "adapter", "hci0"), *blocked;
		int n = list_adapters(sysfs, list, sizeof(list));

		if (strncmp(adapter, "hci", 3) != 0) { /* a Bluetooth address */
			if (n == 0) {
				verdict(c, DIAG_FAIL,
					"no Bluetooth adapter (%s/class/bluetooth is "
					"empty or missing)",
					sysfs);
				fix(c, "%s", hci_fix);
				return;
			}
			verdict(c, DIAG_PASS,
				"adapters present: %s ([ble] adapter = %s; the "
				"address is matched when edgeboxd opens it)",
				list, adapter);
			return;
		}
		snprintf(path, sizeof(path), "%s/class/bluetooth/%s", sysfs, adapter);
		if (access(path, F_OK) < 0) {
			if (n == 0) {
				verdict(c, DIAG_FAIL,
					"no Bluetooth adapter: %s is missing and %s/class/"
					"bluetooth lists none",
					adapter, sysfs);
				fix(c,
				    "plug in or enable the adapter (`dmesg | grep -i bluetooth`, "
				    "firmware packages), or set [ble] driver = none");
			} else {
				verdict(c, DIAG_FAIL, "adapter %s is missing; present: %s", adapter,
					list);
				fix(c, "set [ble] adapter to one of: %s", list);
			}
			return;
		}
		blocked = rfkill_blocked(sysfs, adapter);
		if (blocked) {
			verdict(c, DIAG_FAIL, "adapter %s is blocked by rfkill (%s)", adapter,
				blocked);
			fix(c, "%s",
			    strcmp(blocked, "soft") == 0
				? "`rfkill unblock bluetooth`"
				: "a hardware switch blocks it: switch the radio on");
			return;
		}
		verdict(c, DIAG_PASS,
			"adapter %s present (edgeboxd not running: reception not "
			"checked)",
			adapter);
	}
}

/* ---- camera ---------------------------------------------------------------------- */

static void camera_direct_v4l2(struct diag_check *c, const char *dev)
{
	struct v4l2_capability cap;
	uint32_t caps;
	int fd, e;

	if (!is_char_dev(dev, &e)) {
		if (e == ENOTTY)
			verdict(c, DIAG_FAIL, "%s is not a device node", dev);
		else
			verdict(c, DIAG_FAIL, "no camera at %s (%s)", dev, strerror(e));
		fix(c, "plug in the camera; `v4l2-ctl --list-devices` shows the node to set as "
		       "[camera] device");
		return;
	}
	fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		verdict(c, e == EACCES || e == EPERM ? DIAG_WARN : DIAG_FAIL, "cannot open %s: %s",
			dev, strerror(e));
		fix(c, "%s",
		    e == EACCES || e == EPERM ? "run as root or as a member of group video"
					      : "replug the camera; `dmesg | tail` says why");
		return;
	}
	memset(&cap, 0, sizeof(cap));
	if (ioctl(fd, VIDIOC_QUERYCAP, &cap) < 0) {
		e = errno;
		close(fd);
		verdict(c, DIAG_FAIL, "%s does not answer VIDIOC_QUERYCAP (%s): not a V4L2 device",
			dev, strerror(e));
		fix(c, "set [camera] device to the camera's node (`v4l2-ctl --list-devices`)");
		return;
	}
	close(fd);
	caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
		verdict(c, DIAG_FAIL, "%s (%.32s) cannot stream video capture (a metadata node?)",
			dev, (const char *)cap.card);
		fix(c, "a camera has several /dev/video nodes: set [camera] device to the capture "
		       "one (`v4l2-ctl --list-devices`)");
		return;
	}
	verdict(c, DIAG_PASS,
		"%s: %.32s (%.16s), capture and streaming (edgeboxd not running: "
		"frame rate not measured)",
		dev, (const char *)cap.card, (const char *)cap.driver);
}

void diag_check_camera(struct diag *d, struct diag_check *c)
{
	static const char v4l2_fix[] = "check the camera (`v4l2-ctl -d DEVICE --all`, cable, "
				       "`dmesg | tail`) and [camera] device";
	const cJSON *st, *ring;
	const char *driver;
	char path[PATH_LEN], note[64];
	double rate, fps;

	begin(c, "camera");
	if (!need_config(d, c))
		return;
	driver = cfg_str(d, "camera", "driver", "none");
	if (strcmp(driver, "none") == 0) {
		verdict(c, DIAG_PASS, "off ([camera] driver = none): no faces, no motion");
		return;
	}
	if (strcmp(driver, "replay") == 0) {
		cfg_path(d, "camera", "path", NULL, path, sizeof(path));
		if (d->status) {
			if (!judge_stage_state(
				d, c, "camera",
				"set [camera] path to a folder of images or a .y4m file", &st))
				return;
			verdict(c, DIAG_PASS, "replay driver configured (%s): %.0f frames so far%s",
				path, jnum(st, "items", 0),
				rate_note(st, " frames/s", note, sizeof(note)));
			return;
		}
		if (!readable_file(path)) {
			verdict(c, DIAG_FAIL, "replay driver configured, but '%s' cannot be read",
				path);
			fix(c, "set [camera] path to a folder of images or a .y4m file");
			return;
		}
		verdict(c, DIAG_PASS, "replay driver configured (%s)", path);
		return;
	}
	if (strcmp(driver, "v4l2") != 0) {
		verdict(c, DIAG_FAIL, "[camera] driver = %s: not a driver this build has", driver);
		fix(c, "set [camera] driver to v4l2, replay or none (`edgeboxctl drivers`)");
		return;
	}
	if (!d->status) {
		camera_direct_v4l2(c, cfg_str(d, "camera", "device", "/dev/video0"));
		return;
	}
	if (!judge_stage_state(d, c, "camera", v4l2_fix, &st))
		return;
	fps = cfg_double(d, "camera", "fps", 15);
	rate = jnum(st, "items_per_s", -1);
	ring = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(d->status, "rings"), "frame");
	if (rate < 0) {
		verdict(c, DIAG_PASS,
			"streaming, %.0f frames so far (no recent rate in this "
			"status; configured %.1f fps)",
			jnum(st, "items", 0), fps);
		return;
	}
	if (rate == 0) {
		verdict(c, DIAG_FAIL, "no frames in the last %.0f s (configured %.1f fps)",
			jnum(st, "rate_window_s", 0), fps);
		fix(c, "%s; `v4l2-ctl -d DEVICE --stream-mmap --stream-count=30` tests it alone",
		    v4l2_fix);
		return;
	}
	if (rate < DIAG_CAMERA_RATE_MIN * fps) {
		verdict(c, DIAG_WARN,
			"%.1f frames/s, configured %.1f fps (%.0f dropped by the frame "
			"ring)",
			rate, fps, jnum(ring, "drops", 0));
		fix(c, "low light makes auto-exposure slow the camera: light the entrance, or "
		       "lower [camera] fps or resolution; a shared USB bus also limits it");
		return;
	}
	verdict(c, DIAG_PASS,
		"streaming %.1f frames/s (configured %.1f fps), %.0f dropped by the "
		"frame ring",
		rate, fps, jnum(ring, "drops", 0));
}

/* ---- GPIO ------------------------------------------------------------------------- */

static void gpio_direct(struct diag *d, struct diag_check *c)
{
	static const char *const keys[] = {"door_line", "staff_call_line", "led_line"};
	const char *chip_name = cfg_str(d, "gpio", "chip", "gpiochip0");
	struct config_error e;
	struct gpiod_chip *chip;
	long off[3];
	unsigned n;
	int err;

	for (size_t i = 0; i < 3; i++) {
		if (!config_get(d->cfg, "gpio", keys[i])) {
			verdict(c, DIAG_FAIL, "[gpio] %s is missing", keys[i]);
			fix(c, "set [gpio] %s to the line's offset (`gpioinfo %s`)", keys[i],
			    chip_name);
			return;
		}
		if (config_int(d->cfg, "gpio", keys[i], 0, 0, 65535, &off[i], &e) < 0) {
			verdict(c, DIAG_FAIL, "%s", e.msg);
			fix(c, "set [gpio] %s to the line's offset (`gpioinfo %s`)", keys[i],
			    chip_name);
			return;
		}
	}
	errno = 0;
	chip = gpiod_chip_open_lookup(chip_name);
	if (!chip) {
		err = errno ? errno : ENODEV;
		verdict(c, err == EACCES || err == EPERM ? DIAG_WARN : DIAG_FAIL,
			"cannot open GPIO chip %s: %s", chip_name, strerror(err));
		fix(c, "%s",
		    err == EACCES || err == EPERM
			? "run as root or as a member of the group owning /dev/gpiochip*"
			: "`gpiodetect` lists the chips: set [gpio] chip to the one the "
			  "door contact and button are wired to");
		return;
	}
	n = gpiod_chip_num_lines(chip);
	for (size_t i = 0; i < 3; i++) {
		struct gpiod_line *line;

		if ((unsigned long)off[i] >= n) {
			verdict(c, DIAG_FAIL, "[gpio] %s = %ld, but %s has lines 0 to %u", keys[i],
				off[i], chip_name, n ? n - 1 : 0);
			fix(c, "set [gpio] %s to the wired line (`gpioinfo %s`)", keys[i],
			    chip_name);
			gpiod_chip_close(chip);
			return;
		}
		line = gpiod_chip_get_line(chip, (unsigned)off[i]);
		if (line && gpiod_line_is_used(line)) {
			const char *who = gpiod_line_consumer(line);

			verdict(c, DIAG_WARN, "line %ld (%s) of %s is held by '%s'", off[i],
				keys[i], chip_name, who ? who : "?");
			fix(c,
			    "stop what holds it (`gpioinfo %s`), or wire another line and set "
			    "[gpio] %s",
			    chip_name, keys[i]);
			gpiod_chip_close(chip);
			return;
		}
	}
	verdict(c, DIAG_PASS,
		"%s (%s) has %u lines; door %ld, staff call %ld, LED %ld are free "
		"(edgeboxd not running)",
		chip_name, gpiod_chip_label(chip), n, off[0], off[1], off[2]);
	gpiod_chip_close(chip);
}

void diag_check_gpio(struct diag *d, struct diag_check *c)
{
	const char *driver;
	const cJSON *st;
	char path[PATH_LEN];

	begin(c, "gpio");
	if (!need_config(d, c))
		return;
	driver = cfg_str(d, "gpio", "driver", "none");
	if (strcmp(driver, "none") == 0) {
		verdict(c, DIAG_PASS,
			"off ([gpio] driver = none): no door contact, no staff-call "
			"button");
		return;
	}
	if (strcmp(driver, "replay") == 0) {
		cfg_path(d, "gpio", "script", NULL, path, sizeof(path));
		if (d->status) {
			if (!judge_stage_state(d, c, "gpio", "set [gpio] script to a replay script",
					       &st))
				return;
			verdict(c, DIAG_PASS, "replay driver configured (%s): %.0f edges so far",
				path, jnum(st, "items", 0));
			return;
		}
		if (!readable_file(path)) {
			verdict(c, DIAG_FAIL,
				"replay driver configured, but its script '%s' cannot "
				"be read",
				path);
			fix(c,
			    "set [gpio] script to a replay script (tests/fixtures/gpio has one)");
			return;
		}
		verdict(c, DIAG_PASS, "replay driver configured (%s)", path);
		return;
	}
	if (strcmp(driver, "gpiod") != 0) {
		verdict(c, DIAG_FAIL, "[gpio] driver = %s: not a driver this build has", driver);
		fix(c, "set [gpio] driver to gpiod, replay or none (`edgeboxctl drivers`)");
		return;
	}
	if (!d->status) {
		gpio_direct(d, c);
		return;
	}
	if (!judge_stage_state(d, c, "gpio",
			       "check [gpio] chip and the line offsets against `gpioinfo`", &st))
		return;
	verdict(c, DIAG_PASS, "lines requested on %s, %.0f edges so far",
		cfg_str(d, "gpio", "chip", "gpiochip0"), jnum(st, "items", 0));
}

/* ---- watchdog ---------------------------------------------------------------------- */

void diag_check_watchdog(struct diag *d, struct diag_check *c)
{
	const cJSON *wd;
	const char *driver, *running;
	char dev[PATH_LEN];
	int e;

	begin(c, "watchdog");
	if (!need_config(d, c))
		return;
	driver = cfg_str(d, "watchdog", "driver", "none");
	if (strcmp(driver, "none") == 0) {
		verdict(c, DIAG_WARN,
			"no watchdog ([watchdog] driver = none): a hung box is not "
			"reset");
		fix(c, "set [watchdog] driver = dev (device = /dev/watchdog)");
		return;
	}
	if (strcmp(driver, "dev") != 0 && strcmp(driver, "soft") != 0) {
		verdict(c, DIAG_FAIL, "[watchdog] driver = %s: not a driver this build has",
			driver);
		fix(c, "set [watchdog] driver to dev, soft or none (`edgeboxctl drivers`)");
		return;
	}
	cfg_path(d, "watchdog", "device", "/dev/watchdog", dev, sizeof(dev));
	if (d->status) {
		wd = cJSON_GetObjectItemCaseSensitive(d->status, "watchdog");
		running = jstr(wd, "driver");
		if (!*running || strcmp(running, "none") == 0) {
			verdict(c, DIAG_FAIL,
				"edgeboxd runs without its watchdog: it could not open "
				"%s",
				strcmp(driver, "dev") == 0 ? dev : "the soft watchdog");
			fix(c, "`journalctl -u edgeboxd | grep watchdog` says why; load the SoC "
			       "watchdog driver, then `systemctl restart edgeboxd`");
			return;
		}
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d->status, "healthy"))) {
			verdict(c, DIAG_WARN,
				"%s watchdog is not being fed: %s (a hardware "
				"watchdog resets the box if this lasts)",
				running,
				*jstr(d->status, "unhealthy_reason")
				    ? jstr(d->status, "unhealthy_reason")
				    : "a critical stage is not healthy");
			fix(c, "see the stage checks above and `edgeboxctl status`");
			return;
		}
		if (jnum(wd, "expired", 0) > 0) {
			verdict(c, DIAG_WARN, "soft watchdog: expired %.0f times (fed %.0f times)",
				jnum(wd, "expired", 0), jnum(wd, "keepalives", 0));
			fix(c, "on a real box that would have been a reset: `edgeboxctl logs` and "
			       "`journalctl -u edgeboxd` around those times");
			return;
		}
		verdict(c, DIAG_PASS, "%s watchdog fed %.0f times", running,
			jnum(wd, "keepalives", 0));
		return;
	}
	if (strcmp(driver, "soft") == 0) {
		verdict(c, DIAG_PASS,
			"soft watchdog configured (simulated: reports an expiry, never "
			"resets)");
		return;
	}
	if (!is_char_dev(dev, &e)) {
		verdict(c, DIAG_FAIL, "no watchdog device at %s (%s)", dev,
			e == ENOTTY ? "not a device node" : strerror(e));
		fix(c, "load the SoC's watchdog driver (or `modprobe softdog`), or set [watchdog] "
		       "device");
		return;
	}
	verdict(c, DIAG_PASS, "%s present (not opened: opening it would arm it)", dev);
}

/* ---- models ------------------------------------------------------------------------ */

int diag_sha256_file(const char *path, char hex[65])
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], h[crypto_hash_sha256_BYTES];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	}
	close(fd);
	if (rc < 0)
		return rc;
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, 65, h, sizeof(h));
	return 0;
}

void diag_check_models(struct diag *d, struct diag_check *c)
{
	static const char *const names[] = {DIAG_MODEL_LANDMARKS, DIAG_MODEL_EMBEDDER};
	static const char *const sums[] = {DIAG_MODEL_LANDMARKS_SHA256, DIAG_MODEL_EMBEDDER_SHA256};
	char dir[PATH_LEN], path[PATH_LEN + 64], hex[65], sz[2][32];
	struct stat st;
	int rc;

	begin(c, "models");
	if (!need_config(d, c))
		return;
	cfg_path(d, "faces", "models", FACE_MODELS_DEFAULT, dir, sizeof(dir));
	if (strcmp(cfg_str(d, "camera", "driver", "none"), "none") == 0) {
		verdict(c, DIAG_PASS, "camera off: the face models in %s are not used", dir);
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) < 0) {
			verdict(c, DIAG_FAIL, "%s is missing (%s)", path, strerror(errno));
			fix(c,
			    "make deps (it fetches the models and checks their SHA-256 into "
			    "models/); point [faces] models at that folder or copy them to %s",
			    dir);
			return;
		}
		rc = diag_sha256_file(path, hex);
		if (rc < 0) {
			verdict(c, rc == -EACCES ? DIAG_WARN : DIAG_FAIL, "cannot read %s: %s",
				path, strerror(-rc));
			fix(c, "%s", rc == -EACCES ? "run as root" : "make deps");
			return;
		}
		if (strcmp(hex, sums[i]) != 0) {
			verdict(c, DIAG_FAIL,
				"%s has SHA-256 %s, expected %s (damaged or another "
				"model)",
				path, hex, sums[i]);
			fix(c, "delete it and run make deps (it fetches and verifies it again)");
			return;
		}
		human_bytes((long long)st.st_size, sz[i], sizeof(sz[i]));
	}
	verdict(c, DIAG_PASS, "%s: %s (%s) and %s (%s), SHA-256 verified", dir, names[0], sz[0],
		names[1], sz[1]);
}

/* ---- database --------------------------------------------------------------------- */

void diag_check_database(struct diag *d, struct diag_check *c)
{
	static const char corrupt_fix[] =
	    "keep a copy of the file, then `systemctl restart edgeboxd`: it moves a corrupt "
	    "database aside (<path>.corrupt-<time>) and starts a fresh one";
	struct store_open_info info;
	struct store_error err;
	struct store *s = NULL;
	char path[PATH_LEN], wal[PATH_LEN + 8], dbs[32], wals[32];
	struct stat st;
	long long walsize = 0;
	int rc, ver;

	begin(c, "database");
	if (!need_config(d, c))
		return;
	cfg_path(d, "store", "path", DEFAULT_STORE_PATH, path, sizeof(path));
	if (stat(path, &st) < 0) {
		if (d->status) {
			verdict(c, DIAG_FAIL, "%s is missing while edgeboxd runs (%s)", path,
				strerror(errno));
			fix(c,
			    "someone removed it: `systemctl restart edgeboxd` creates a fresh one");
		} else {
			verdict(c, DIAG_WARN,
				"no database at %s yet (edgeboxd creates it at start)", path);
			fix(c, "start edgeboxd; if it exists elsewhere, set [store] path");
		}
		return;
	}
	snprintf(wal, sizeof(wal), "%s-wal", path);
	{
		struct stat ws;

		if (stat(wal, &ws) == 0)
			walsize = (long long)ws.st_size;
	}
	human_bytes((long long)st.st_size, dbs, sizeof(dbs));
	human_bytes(walsize, wals, sizeof(wals));
	rc = store_open(path, STORE_OPEN_READONLY | STORE_OPEN_NO_RECOVER | STORE_OPEN_NO_CHECK, &s,
			&info, &err);
	if (rc < 0) {
		switch (rc) {
		case -EACCES:
		case -EPERM:
			verdict(c, DIAG_WARN, "cannot read %s (%s): not checked", path, err.msg);
			fix(c, "run as root (the store is mode 0600)");
			return;
		case -EUCLEAN:
		case -EMEDIUMTYPE:
		case -ENOTSUP:
			verdict(c, DIAG_FAIL, "%s: %s", path, err.msg);
			fix(c, "%s",
			    rc == -ENOTSUP ? "the database is newer than this firmware: "
					     "install the newer firmware again"
					   : corrupt_fix);
			return;
		case -ESTALE:
			verdict(c, DIAG_WARN, "%s: %s", path, err.msg);
			fix(c, "start edgeboxd: it migrates the database");
			return;
		default:
			verdict(c, DIAG_FAIL, "cannot open %s: %s", path, err.msg);
			fix(c, "%s", corrupt_fix);
			return;
		}
	}
	ver = store_schema_version(s);
	rc = store_integrity_check(s, false);
	if (rc < 0) {
		verdict(c, DIAG_FAIL, "%s fails the integrity check: %.400s", path,
			store_errmsg(s));
		fix(c, "%s",
		    rc == -EUCLEAN ? corrupt_fix
				   : "run again; if it persists, restart "
				     "edgeboxd");
		store_close(s);
		return;
	}
	store_close(s);
	if (walsize > DIAG_WAL_WARN_BYTES) {
		verdict(c, DIAG_WARN, "%s: integrity ok, schema %d, %s, but its WAL is %s", path,
			ver, dbs, wals);
		fix(c, "a reader keeps the WAL from being checkpointed: stop long-running "
		       "`sqlite3` sessions or edgeboxctl commands on the box");
		return;
	}
	verdict(c, DIAG_PASS, "%s: integrity ok (quick_check), schema %d, %s, WAL %s", path, ver,
		dbs, wals);
}

/* ---- LLM ---------------------------------------------------------------------------- */

static bool llm_should_cancel(void *ctx)
{
	const atomic_bool *cancel = ctx;

	return cancel && atomic_load(cancel);
}

void diag_check_llm(struct diag *d, struct diag_check *c)
{
	static const char messages[] =
	    "[{\"role\":\"user\",\"content\":\"Reply with the single word OK.\"}]";
	struct llm_callbacks cb = {.should_cancel = llm_should_cancel};
	struct config_error err;
	struct llm_client *cl;
	struct llm_result res;
	struct llm_params p;
	long cap = d->env.llm_timeout_ms > 0 ? d->env.llm_timeout_ms : DIAG_LLM_TIMEOUT_MS;
	int rc;

	begin(c, "llm");
	if (!need_config(d, c))
		return;
	if (llm_params_from_config(d->cfg, "llm", &p, &err) < 0) {
		verdict(c, DIAG_FAIL, "%s", err.msg);
		fix(c, "fix [llm] in %s", d->config_path);
		return;
	}
	if (!llm_params_configured(&p)) {
		verdict(c, DIAG_PASS,
			"no LLM configured ([llm] url empty): the offline responder "
			"answers every turn");
		return;
	}
	if (cap < 200)
		cap = 200;
	/* One short probe within the cap: no retries, one step, a few tokens. */
	if (p.connect_timeout_ms > cap / 2)
		p.connect_timeout_ms = cap / 2;
	p.first_token_timeout_ms = cap;
	p.gap_timeout_ms = cap;
	p.request_timeout_ms = cap;
	p.max_retries = 0;
	p.max_steps = 1;
	p.max_tokens = 8;
	p.stream_usage = false;
	rc = llm_client_new(&p, &cl);
	if (rc < 0) {
		verdict(c, DIAG_FAIL, "cannot set up the LLM client for %s: %s", p.url,
			strerror(-rc));
		fix(c, "check [llm] url and model");
		return;
	}
	rc = llm_chat(cl, messages, NULL, &cb, (void *)d->env.cancel, &res);
	if (rc == 0) {
		if (res.ttft_ms > DIAG_LLM_SLOW_MS) {
			verdict(c, DIAG_WARN,
				"%s (model %s) answers, but the first token took %lld "
				"ms",
				p.url, p.model, (long long)res.ttft_ms);
			fix(c, "customers wait that long for each reply: a smaller or quantized "
			       "model, or a faster server");
		} else {
			verdict(c, DIAG_PASS, "%s (model %s) answers; first token in %lld ms",
				p.url, p.model, (long long)res.ttft_ms);
		}
	} else {
		verdict(c, DIAG_WARN,
			"%s (model %s) does not answer within %ld ms: %s (%s); the "
			"box uses the offline responder meanwhile",
			p.url, p.model, cap, llm_outcome_name(res.outcome), res.detail);
		fix(c,
		    "is the LLM server running (`curl %s`)? check [llm] url, model and the "
		    "network",
		    p.url);
	}
	llm_result_release(&res);
	llm_client_free(cl);
}

/* ---- disk ---------------------------------------------------------------------------- */

static int default_statvfs(const char *path, struct statvfs *ret, void *ctx)
{
	(void)ctx;
	return statvfs(path, ret) == 0 ? 0 : -errno;
}

void diag_check_disk(struct diag *d, struct diag_check *c)
{
	int (*fn)(const char *, struct statvfs *, void *) =
	    d->env.statvfs_fn ? d->env.statvfs_fn : default_statvfs;
	char path[PATH_LEN], *slash, freeb[32], total[32];
	struct statvfs sv;
	double pct;
	int rc;

	begin(c, "disk");
	if (!need_config(d, c))
		return;
	cfg_path(d, "store", "path", DEFAULT_STORE_PATH, path, sizeof(path));
	slash = strrchr(path, '/');
	if (slash == path)
		path[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(path, sizeof(path), ".");
	memset(&sv, 0, sizeof(sv));
	rc = fn(path, &sv, d->env.statvfs_ctx);
	if (rc < 0) {
		verdict(c, DIAG_FAIL, "cannot look at %s, the store's folder: %s", path,
			strerror(-rc));
		fix(c, "%s",
		    rc == -ENOENT ? "create it (systemd's StateDirectory=edgebox does) or "
				    "set [store] path"
				  : "check the file system (`df`, `dmesg`)");
		return;
	}
	if (sv.f_blocks == 0) {
		verdict(c, DIAG_WARN, "%s: the file system reports no size", path);
		fix(c, "check it with `df %s`", path);
		return;
	}
	pct = 100.0 * (double)sv.f_bavail / (double)sv.f_blocks;
	human_bytes((long long)((double)sv.f_bavail * (double)sv.f_frsize), freeb, sizeof(freeb));
	human_bytes((long long)((double)sv.f_blocks * (double)sv.f_frsize), total, sizeof(total));
	if (pct < DIAG_DISK_FAIL_PCT) {
		verdict(c, DIAG_FAIL,
			"%s: %.1f%% free (%s of %s): the store will soon fail to "
			"write",
			path, pct, freeb, total);
		fix(c, "free space now: old logs (`journalctl --vacuum-size=50M`), old "
		       "*.corrupt-* copies of the store, core files");
	} else if (pct < DIAG_DISK_WARN_PCT) {
		verdict(c, DIAG_WARN, "%s: %.1f%% free (%s of %s)", path, pct, freeb, total);
		fix(c, "free space: `journalctl --vacuum-size=50M`, old *.corrupt-* copies of the "
		       "store; check [privacy] anonymous_retention_days");
	} else {
		verdict(c, DIAG_PASS, "%s: %.1f%% free (%s of %s)", path, pct, freeb, total);
	}
}

/* ---- clock --------------------------------------------------------------------------- */

static void fmt_utc(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "%lld ms", (long long)ms);
}

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void diag_check_clock(struct diag *d, struct diag_check *c)
{
	static const char set_fix[] = "set the time: `timedatectl set-ntp true` (needs the "
				      "network) or `date -s`; TLS to the LLM and promotion dates "
				      "depend on it";
	int64_t now = d->env.now_ms ? d->env.now_ms : realtime_ms();
	int64_t ref = d->env.clock_ref_ms, high;
	char when[64], refs[64], sync[48] = "";
	struct stat st;

	begin(c, "clock");
	if (!ref && stat("/proc/self/exe", &st) == 0)
		ref = (int64_t)st.st_mtime * 1000;
	high = (ref > DIAG_CLOCK_MIN_MS ? ref : DIAG_CLOCK_MIN_MS) + DIAG_CLOCK_SPAN_MS;
	fmt_utc(now, when, sizeof(when));
	if (!d->env.now_ms) {
		struct timex tx = {0};
		int state = adjtimex(&tx);

		if (state >= 0)
			snprintf(sync, sizeof(sync), ", %s",
				 state == TIME_ERROR || (tx.status & STA_UNSYNC)
				     ? "not synchronised"
				     : "synchronised");
	}
	if (now < DIAG_CLOCK_MIN_MS) {
		verdict(c, DIAG_WARN, "the clock says %s: before 2025, surely wrong%s", when, sync);
		fix(c, "%s", set_fix);
		return;
	}
	if (ref && now < ref - 86400000LL) {
		fmt_utc(ref, refs, sizeof(refs));
		verdict(c, DIAG_WARN, "the clock says %s, before this firmware was built (%s)%s",
			when, refs, sync);
		fix(c, "%s", set_fix);
		return;
	}
	if (now > high) {
		verdict(c, DIAG_WARN, "the clock says %s: too far in the future%s", when, sync);
		fix(c, "%s", set_fix);
		return;
	}
	verdict(c, DIAG_PASS, "%s%s", when, sync);
}

/* ---- all of them --------------------------------------------------------------------- */

int diag_run(struct diag *d, diag_fn fn, void *ctx)
{
	static void (*const checks[])(struct diag *, struct diag_check *) = {
	    diag_check_config,	 diag_check_ble,    diag_check_camera,	 diag_check_gpio,
	    diag_check_watchdog, diag_check_models, diag_check_database, diag_check_llm,
	    diag_check_disk,	 diag_check_clock,
	};
	struct diag_check c;
	int fails = 0;

	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		checks[i](d, &c);
		if (c.result == DIAG_FAIL)
			fails++;
		if (fn)
			fn(&c, ctx);
	}
	return fails;
}

int diag_check_json(const struct diag_check *c, char **ret)
{
	cJSON *o = cJSON_CreateObject();

	*ret = NULL;
	if (!o)
		return -ENOMEM;
	cJSON_AddNumberToObject(o, "v", 1);
	cJSON_AddStringToObject(o, "type", "check");
	cJSON_AddStringToObject(o, "name", c->name);
	cJSON_AddStringToObject(o, "result", diag_result_name(c->result));
	cJSON_AddStringToObject(o, "detail", c->detail);
	cJSON_AddStringToObject(o, "fix", c->fix);
	{
		char *s = cJSON_PrintUnformatted(o);

		cJSON_Delete(o);
		if (!s)
			return -ENOMEM;
		*ret = malloc(strlen(s) + 2);
		if (*ret)
			sprintf(*ret, "%s\n", s);
		cJSON_free(s);
	}
	return *ret ? 0 : -ENOMEM;
}

int diag_check_from_json(const char *line, struct diag_check *ret)
{
	cJSON *o = cJSON_Parse(line);
	const cJSON *name, *res, *detail, *fx;
	int rc = -EINVAL;

	memset(ret, 0, sizeof(*ret));
	if (!cJSON_IsObject(o))
		goto out;
	name = cJSON_GetObjectItemCaseSensitive(o, "name");
	res = cJSON_GetObjectItemCaseSensitive(o, "result");
	detail = cJSON_GetObjectItemCaseSensitive(o, "detail");
	fx = cJSON_GetObjectItemCaseSensitive(o, "fix");
	if (!cJSON_IsString(name) || !cJSON_IsString(res) ||
	    diag_result_from_name(res->valuestring, &ret->result) < 0)
		goto out;
	snprintf(ret->name, sizeof(ret->name), "%s", name->valuestring);
	snprintf(ret->detail, sizeof(ret->detail), "%s",
		 cJSON_IsString(detail) ? detail->valuestring : "");
	snprintf(ret->fix, sizeof(ret->fix), "%s", cJSON_IsString(fx) ? fx->valuestring : "");
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

/* ---- config check ------------------------------------------------------------------ */

/*
 * The keys the daemon reads through code with no public reader (pipeline.c's
 * read_params, store_open_config, the drivers' open). A mirror: keep it in
 * step with those (tests/test_diag.c checks config/edgebox.conf and
 * config/sim.conf pass, so a new key there without a row here fails).
 */
enum key_type {
	KEY_STR,
	KEY_INT,
	KEY_DOUBLE,
	KEY_BOOL,
	KEY_PATH,
	KEY_WORDS,
};

struct key_spec {
	const char *section;
	const char *driver; /* NULL: always read; else only with that [section] driver */
	const char *key;
	enum key_type type;
	double min, max;
	const char *const *words;
};

static const char *const log_levels[] = {"error", "warning", "notice", "info", "debug", NULL};
static const char *const store_checks[] = {"quick", "full", NULL};

static const struct key_spec key_table[] = {
    {"daemon", NULL, "log_level", KEY_WORDS, 0, 0, log_levels},
    {"daemon", NULL, "realtime", KEY_BOOL, 0, 0, NULL},
    {"daemon", NULL, "tick_ms", KEY_INT, 10, 1000, NULL},
    {"daemon", NULL, "status_file", KEY_PATH, 0, 0, NULL},
    {"daemon", NULL, "status_interval_ms", KEY_INT, 100, 600000, NULL},
    {"supervisor", NULL, "max_failures", KEY_INT, 0, 1000, NULL},
    {"supervisor", NULL, "failure_window_s", KEY_INT, 1, 86400, NULL},
    {"supervisor", NULL, "backoff_initial_ms", KEY_INT, 1, 60000, NULL},
    {"supervisor", NULL, "backoff_max_ms", KEY_INT, 1, 600000, NULL},
    {"rings", NULL, "ble_capacity", KEY_INT, 2, 65536, NULL},
    {"rings", NULL, "frame_capacity", KEY_INT, 2, 64, NULL},
    {"rings", NULL, "frame_bytes", KEY_INT, 64 * 48 * 3, (double)CAMERA_FRAME_MAX_BYTES, NULL},
    {"rings", NULL, "event_capacity", KEY_INT, 2, 65536, NULL},
    {"motion", NULL, "cell_delta", KEY_INT, 1, 255, NULL},
    {"motion", NULL, "start_score", KEY_DOUBLE, 0.0001, 1, NULL},
    {"motion", NULL, "stop_score", KEY_DOUBLE, 0, 1, NULL},
    {"motion", NULL, "start_frames", KEY_INT, 1, 100, NULL},
    {"motion", NULL, "still_frames", KEY_INT, 1, 1000, NULL},
    {"store", NULL, "path", KEY_PATH, 0, 0, NULL},
    {"store", NULL, "busy_timeout_ms", KEY_INT, 0, 60000, NULL},
    {"store", NULL, "check", KEY_WORDS, 0, 0, store_checks},
    {"ble", "hci", "adapter", KEY_STR, 0, 0, NULL},
    {"ble", "hci", "scan_interval_ms", KEY_INT, 3, 10240, NULL},
    {"ble", "hci", "scan_window_ms", KEY_INT, 3, 10240, NULL},
    {"ble", "hci", "active", KEY_BOOL, 0, 0, NULL},
    {"ble", "hci", "filter_duplicates", KEY_BOOL, 0, 0, NULL},
    {"ble", "btsnoop", "file", KEY_PATH, 0, 0, NULL},
    {"ble", "btsnoop", "speed", KEY_DOUBLE, 0, 1000, NULL},
    {"ble", "btsnoop", "loop", KEY_BOOL, 0, 0, NULL},
    {"camera", "v4l2", "device", KEY_STR, 0, 0, NULL},
    {"camera", "v4l2", "width", KEY_INT, 1, CAMERA_MAX_WIDTH, NULL},
    {"camera", "v4l2", "height", KEY_INT, 1, CAMERA_MAX_HEIGHT, NULL},
    {"camera", "v4l2", "fps", KEY_DOUBLE, 0.1, 240, NULL},
    {"camera", "replay", "path", KEY_PATH, 0, 0, NULL},
    {"camera", "replay", "fps", KEY_DOUBLE, 0.1, 1000, NULL},
    {"camera", "replay", "loop", KEY_BOOL, 0, 0, NULL},
    {"camera", "replay", "speed", KEY_DOUBLE, 0, 100, NULL},
    {"camera", "replay", "cache_mb", KEY_INT, 0, 1024, NULL},
    {"gpio", "gpiod", "chip", KEY_STR, 0, 0, NULL},
    {"gpio", "gpiod", "consumer", KEY_STR, 0, 0, NULL},
    {"gpio", "gpiod", "debounce_ms", KEY_INT, 0, 1000, NULL},
    {"gpio", "gpiod", "door_active_low", KEY_BOOL, 0, 0, NULL},
    {"gpio", "gpiod", "staff_call_active_low", KEY_BOOL, 0, 0, NULL},
    {"gpio", "gpiod", "door_line", KEY_INT, 0, 65535, NULL},
    {"gpio", "gpiod", "staff_call_line", KEY_INT, 0, 65535, NULL},
    {"gpio", "gpiod", "led_line", KEY_INT, 0, 65535, NULL},
    {"gpio", "replay", "script", KEY_PATH, 0, 0, NULL},
    {"gpio", "replay", "speed", KEY_DOUBLE, 0, 1000, NULL},
    {"gpio", "replay", "loop", KEY_BOOL, 0, 0, NULL},
    {"watchdog", "dev", "device", KEY_PATH, 0, 0, NULL},
    {"watchdog", "dev", "timeout_s", KEY_INT, 1, 600, NULL},
    {"watchdog", "soft", "timeout_s", KEY_INT, 1, 600, NULL},
    {"watchdog", "soft", "timeout_ms", KEY_INT, 10, 600000, NULL},
};

static int check_key(const struct config *cfg, const struct key_spec *k, struct config_error *err)
{
	char buf[PATH_LEN];
	const char *s;
	double d;
	long v;
	bool b;
	int i;

	if (!config_get(cfg, k->section, k->key))
		return 0;
	switch (k->type) {
	case KEY_STR:
		return config_str(cfg, k->section, k->key, "", false, &s, err);
	case KEY_INT:
		return config_int(cfg, k->section, k->key, (long)k->min, (long)k->min, (long)k->max,
				  &v, err);
	case KEY_DOUBLE:
		return config_double(cfg, k->section, k->key, k->min, k->min, k->max, &d, err);
	case KEY_BOOL:
		return config_bool(cfg, k->section, k->key, false, &b, err);
	case KEY_PATH:
		return config_path(cfg, k->section, k->key, NULL, false, buf, sizeof(buf), err);
	case KEY_WORDS:
		return config_enum(cfg, k->section, k->key, k->words[0], k->words, &i, err);
	}
	return 0;
}

/* The driver a device section names; -EINVAL naming the known ones. */
static int check_driver(const struct config *cfg, enum hal_class cls, const char **ret,
			struct config_error *err)
{
	const char *sec = hal_class_name(cls);
	char known[128];
	int rc;

	rc = config_str(cfg, sec, "driver", "none", false, ret, err);
	if (rc < 0 || strcmp(*ret, "none") == 0 || hal_driver_find(cls, *ret))
		return rc;
	hal_driver_names(cls, known, sizeof(known));
	snprintf(err->msg, sizeof(err->msg), "%s: [%s] driver: expected none, %s; got '%s'",
		 config_name(cfg), sec, known, *ret);
	return -EINVAL;
}

/* Every reader the daemon runs on cfg, in its order, without opening a device. */
static int check_all_keys(const struct config *cfg, struct config_error *err)
{
	static const enum hal_class classes[] = {HAL_CLASS_BLE, HAL_CLASS_CAMERA, HAL_CLASS_GPIO,
						 HAL_CLASS_WATCHDOG};
	const char *drivers[4];
	union {
		struct proximity_params prox;
		struct face_params face;
		struct visitor_params visitor;
		struct agent_stage_params stage;
		struct display_params display;
		struct update_params update;
		struct control_params control;
	} * u;
	struct agent *agent = NULL;
	bool enabled;
	int rc = 0;

	u = malloc(sizeof(*u)); /* a few KiB: not on a daemon thread's stack */
	if (!u) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < 4 && rc == 0; i++)
		rc = check_driver(cfg, classes[i], &drivers[i], err);
	for (size_t i = 0; i < sizeof(key_table) / sizeof(key_table[0]) && rc == 0; i++) {
		const struct key_spec *k = &key_table[i];

		if (k->driver) {
			size_t c;

			for (c = 0; c < 4; c++)
				if (strcmp(hal_class_name(classes[c]), k->section) == 0)
					break;
			if (c == 4 || strcmp(drivers[c], k->driver) != 0)
				continue;
		}
		rc = check_key(cfg, k, err);
	}
	rc = rc ?: proximity_params_from_config(cfg, "beacons", &u->prox, err);
	if (rc == 0 && strcmp(drivers[1], "none") != 0)
		rc = face_params_from_config(cfg, "faces", &u->face, err);
	rc = rc ?: agent_stage_params_from_config(cfg, &u->stage, err);
	rc = rc ?: visitor_params_from_config(cfg, "visitor", &u->visitor, err);
	rc = rc ?: display_params_from_config(cfg, DISPLAY_ROLE_KIOSK, &u->display, &enabled, err);
	rc = rc ?: display_params_from_config(cfg, DISPLAY_ROLE_STAFF, &u->display, &enabled, err);
	if (rc == 0) {
		static const char *const pairing[] = {"off", "required", NULL};
		int mode;

		rc = config_enum(cfg, "staff", "pairing", "off", pairing, &mode, err);
	}
	rc = rc ?: control_params_from_config(cfg, &u->control, &enabled, err);
	if (rc == 0 && config_has_section(cfg, "update"))
		rc = update_params_from_config(cfg, "update", &u->update, err);
	/* [agent] and [llm]: the agent's own loader, which also reads the files they name. */
	if (rc == 0) {
		rc = agent_new(cfg, &agent, err->msg, sizeof(err->msg));
		agent_free(agent);
	}
	free(u);
	return rc ?: config_check_unused(cfg, err);
}

/* Runs `edgeboxd --check-config --config path`: 0 ok, -EINVAL with its message,
 * or -errno when it could not be run. */
static int run_daemon_check(const char *edgeboxd, const char *path, const char *const *sets,
			    size_t nsets, char *msg, size_t len)
{
	char **argv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	char out[CHECK_OUTPUT_MAX + 1];
	size_t got = 0;
	int pipefd[2], status = 0, rc;
	int64_t deadline = realtime_ms() + CHECK_CONFIG_TIMEOUT_MS;
	pid_t pid;

	argv = calloc(5 + 2 * nsets, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[0] = (char *)edgeboxd;
	argv[1] = "--check-config";
	argv[2] = "--config";
	argv[3] = (char *)path;
	for (size_t i = 0; i < nsets; i++) {
		argv[4 + 2 * i] = "--set";
		argv[5 + 2 * i] = (char *)sets[i];
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		free(argv);
		return -errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, edgeboxd, &fa, &attr, argv, environ);
	free(argv);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		return -rc;
	}
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct timespec pause = {0, 10 * 1000000};
		ssize_t n = read(pipefd[0], out + got, CHECK_OUTPUT_MAX - got);

		if (n > 0) {
			got += (size_t)n;
			if (got == CHECK_OUTPUT_MAX)
				got = 0; /* keep the tail: the verdict comes last */
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			break;
		if (realtime_ms() > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		nanosleep(&pause, NULL);
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	out[got] = '\0';
	while (got && (out[got - 1] == '\n' || out[got - 1] == ' '))
		out[--got] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	{
		const char *last = strrchr(out, '\n');

		last = last ? last + 1 : out;
		if (!*last)
			snprintf(msg, len, "edgeboxd --check-config %s %s", path,
				 WIFSIGNALED(status) ? "was killed (it took too long)"
						     : "failed without a message");
		else
			snprintf(msg, len, "%s", last);
	}
	return -EINVAL;
}

int diag_config_check_cfg(const struct config *cfg, char *msg, size_t len)
{
	struct config_error err;
	int rc = check_all_keys(cfg, &err);

	if (rc < 0) {
		snprintf(msg, len, "%s", err.msg);
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	snprintf(msg, len, "%s: syntax, keys and values valid", config_name(cfg));
	return 0;
}

int diag_config_check(const char *path, const char *edgeboxd_path, char *msg, size_t len)
{
	return config_check_with(path, NULL, 0, edgeboxd_path, msg, len);
}

static int config_check_with(const char *path, const char *const *sets, size_t nsets,
			     const char *edgeboxd_path, char *msg, size_t len)
{
	struct config_error err;
	struct config *cfg;
	int rc;

	rc = config_load(path, &cfg, &err);
	if (rc < 0) {
		snprintf(msg, len, "%s", err.msg);
		return rc;
	}
	for (size_t i = 0; i < nsets; i++) {
		rc = config_set(cfg, sets[i], &err);
		if (rc < 0) {
			snprintf(msg, len, "%s", err.msg);
			config_free(cfg);
			return rc;
		}
	}
	rc = diag_config_check_cfg(cfg, msg, len);
	config_free(cfg);
	if (rc < 0)
		return rc;
	if (edgeboxd_path && *edgeboxd_path) {
		rc = run_daemon_check(edgeboxd_path, path, sets, nsets, msg, len);
		if (rc == -EINVAL)
			return rc;
		if (rc < 0) {
			snprintf(msg, len,
				 "%s: syntax, keys and values valid (edgeboxd "
				 "--check-config could not run: %s)",
				 path, strerror(-rc));
			return 0;
		}
		snprintf(msg, len,
			 "%s: syntax, keys and values valid; edgeboxd --check-config "
			 "agrees",
			 path);
		return 0;
	}
	snprintf(msg, len, "%s: syntax, keys and values valid", path);
	return 0;
}

/* ---- redaction ---------------------------------------------------------------------- */

struct secrets {
	char *v[SECRETS_MAX];
	size_t n;
};

static void secrets_free(struct secrets *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

static void secrets_add(struct secrets *s, const char *v, size_t len)
{
	/* Very short values would scrub half the bundle and hide nothing. */
	if (!s || len < 4 || s->n == SECRETS_MAX)
		return;
	s->v[s->n] = strndup(v, len);
	if (s->v[s->n])
		s->n++;
}

static bool key_is_secret(const char *key, size_t len)
{
	static const char *const words[] = {"api_key", "token",	      "secret",	    "password",
					    "passwd",  "private_key", "credential", NULL};
	char k[64];

	if (len == 0 || len >= sizeof(k))
		return false;
	for (size_t i = 0; i < len; i++)
		k[i] = (char)tolower((unsigned char)key[i]);
	k[len] = '\0';
	if (len > 5 && strcmp(k + len - 5, "_file") == 0)
		return false; /* a path; the file itself never leaves the box */
	for (size_t i = 0; words[i]; i++)
		if (strstr(k, words[i]))
			return true;
	return false;
}

/* One value: user:password@ in a URL becomes <redacted>@. */
static void put_value(struct strbuf *b, const char *v, size_t n, struct secrets *sec)
{
	const char *scheme = NULL, *at, *end = v + n;

	for (const char *p = v; p + 3 <= end; p++)
		if (memcmp(p, "://", 3) == 0) {
			scheme = p + 3;
			break;
		}
	if (scheme) {
		const char *host_end = scheme;

		while (host_end < end && *host_end != '/' && *host_end != ' ' && *host_end != '\t')
			host_end++;
		at = memchr(scheme, '@', (size_t)(host_end - scheme));
		if (at) {
			secrets_add(sec, scheme, (size_t)(at - scheme));
			strbuf_put(b, v, (size_t)(scheme - v));
			strbuf_str(b, REDACTED);
			strbuf_put(b, at, (size_t)(end - at));
			return;
		}
	}
	strbuf_put(b, v, n);
}

static int redact(const char *text, char **ret, struct secrets *sec)
{
	struct strbuf b = {0};
	const char *line = text;

	*ret = NULL;
	if (strlen(text) > CONFIG_MAX_BYTES)
		return -E2BIG;
	strbuf_put(&b, "", 0);
	while (*line) {
		const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line);
		const char *p = line, *eq, *k0, *k1, *v0, *v1;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (p == end || *p == '#' || *p == ';' || *p == '[' || !eq) {
			strbuf_put(&b, line, (size_t)(end - line));
			goto next;
		}
		k0 = p;
		k1 = eq;
		while (k1 > k0 && (k1[-1] == ' ' || k1[-1] == '\t'))
			k1--;
		v0 = eq + 1;
		while (v0 < end && (*v0 == ' ' || *v0 == '\t'))
			v0++;
		v1 = end;
		while (v1 > v0 && (v1[-1] == ' ' || v1[-1] == '\t' || v1[-1] == '\r'))
			v1--;
		if (key_is_secret(k0, (size_t)(k1 - k0))) {
			/* an inline comment goes too: it may repeat the value */
			const char *hash = v0;

			while (hash < v1 && !(*hash == '#' &&
					      (hash == v0 || hash[-1] == ' ' || hash[-1] == '\t')))
				hash++;
			while (hash > v0 && (hash[-1] == ' ' || hash[-1] == '\t'))
				hash--;
			secrets_add(sec, v0, (size_t)(hash - v0));
			strbuf_put(&b, line, (size_t)(v0 - line));
			if (hash > v0)
				strbuf_str(&b, REDACTED);
		} else {
			strbuf_put(&b, line, (size_t)(v0 - line));
			put_value(&b, v0, (size_t)(end - v0), sec);
		}
	next:
		if (nl)
			strbuf_put(&b, "\n", 1);
		line = nl ? nl + 1 : end;
	}
	if (b.cut) {
		free(b.p);
		return -ENOMEM;
	}
	*ret = b.p;
	return 0;
}

int diag_redact_config(const char *text, char **ret)
{
	return redact(text ? text : "", ret, NULL);
}

/* ---- audit sanitizing -------------------------------------------------------------- */

/* Detail fields that name categories, states, rules and counts, never a
 * customer: anything else in a detail is withheld. */
static const char *const safe_fields[] = {
    "category",
    "rule",
    "by",
    "from",
    "to",
    "state",
    "archetype",
    "outcome",
    "tool",
    "code",
    "turn",
    "turns",
    "signals",
    "skills",
    "source",
    "prompt_lines",
    "call",
    "bytes",
    "new_figures",
    "how",
    "confidence",
    "kind",
    "stage",
    "reason",
    "tier",
    "on",
    "granted",
    "attempts",
    "removed_embedding",
    "event",
    "active",
    "score",
    "track",
    "face_px",
    "frames",
    "distance",
    "margin",
    "rssi",
    "distance_m",
    "device",
    NULL,
};

static bool safe_field(const char *k)
{
	for (size_t i = 0; safe_fields[i]; i++)
		if (strcmp(k, safe_fields[i]) == 0)
			return true;
	return false;
}

static bool safe_word(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SANITIZE_WORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.:-", s[i]))
			return false;
	return true;
}

int diag_audit_sanitize(int64_t id, int64_t ts_ms, int64_t session_id, const char *kind,
			const char *detail_json, char **ret)
{
	cJSON *o, *det = NULL, *in = NULL;
	const cJSON *f;
	int withheld = 0;
	char *s;

	*ret = NULL;
	o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddNumberToObject(o, "ts", (double)ts_ms);
	cJSON_AddNumberToObject(o, "session", (double)session_id);
	cJSON_AddStringToObject(o, "kind", kind && safe_word(kind) ? kind : "?");
	if (detail_json && *detail_json) {
		in = cJSON_Parse(detail_json);
		det = cJSON_AddObjectToObject(o, "detail");
		if (!cJSON_IsObject(in)) {
			withheld++;
		} else {
			cJSON_ArrayForEach(f, in)
			{
				if (!f->string || !safe_field(f->string)) {
					withheld++;
				} else if (cJSON_IsNumber(f)) {
					cJSON_AddNumberToObject(det, f->string, f->valuedouble);
				} else if (cJSON_IsBool(f)) {
					cJSON_AddBoolToObject(det, f->string, cJSON_IsTrue(f));
				} else if (cJSON_IsString(f) && safe_word(f->valuestring)) {
					cJSON_AddStringToObject(det, f->string, f->valuestring);
				} else {
					withheld++;
				}
			}
		}
		cJSON_Delete(in);
	}
	if (withheld)
		cJSON_AddNumberToObject(o, "withheld", withheld);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return -ENOMEM;
	*ret = malloc(strlen(s) + 2);
	if (*ret)
		sprintf(*ret, "%s\n", s);
	cJSON_free(s);
	return *ret ? 0 : -ENOMEM;
}

/* ---- the bundle: ustar inside gzip -------------------------------------------------- */

struct targz {
	int fd;
	z_stream zs;
	unsigned char out[16384];
	int err; /* first -errno */
};

static void tgz_flush(struct targz *t, int mode)
{
	int zr;

	do {
		t->zs.next_out = t->out;
		t->zs.avail_out = sizeof(t->out);
		zr = deflate(&t->zs, mode);
		if (zr == Z_STREAM_ERROR) {
			t->err = t->err ?: -EIO;
			return;
		}
		{
			size_t have = sizeof(t->out) - t->zs.avail_out, off = 0;

			while (off < have && !t->err) {
				ssize_t n = write(t->fd, t->out + off, have - off);

				if (n < 0 && errno != EINTR)
					t->err = -errno;
				else if (n > 0)
					off += (size_t)n;
			}
		}
	} while (t->zs.avail_out == 0 && !t->err);
	(void)zr;
}

static void tgz_write(struct targz *t, const void *buf, size_t len)
{
	if (t->err)
		return;
	t->zs.next_in = (unsigned char *)(uintptr_t)buf;
	t->zs.avail_in = (uInt)len;
	while (t->zs.avail_in && !t->err)
		tgz_flush(t, Z_NO_FLUSH);
}

static void octal(char *field, size_t width, unsigned long long v)
{
	/* width - 1 digits and a NUL, as ustar wants */
	snprintf(field, width, "%0*llo", (int)width - 1, v);
}

static void tgz_add(struct targz *t, const char *name, const char *data, size_t len,
		    int64_t mtime_s)
{
	static const char zeros[512];
	unsigned char h[512];
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	snprintf((char *)h, 100, "edgebox-bundle/%s", name);
	octal((char *)h + 100, 8, 0600);
	octal((char *)h + 108, 8, 0);
	octal((char *)h + 116, 8, 0);
	octal((char *)h + 124, 12, len);
	octal((char *)h + 136, 12, (unsigned long long)mtime_s);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 5);
	memcpy(h + 297, "root", 5);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	tgz_write(t, h, sizeof(h));
	tgz_write(t, data, len);
	if (len % 512)
		tgz_write(t, zeros, 512 - len % 512);
}

/* Every secret value replaced by <redacted>, in a new string. */
static char *scrub(const char *text, const struct secrets *sec)
{
	struct strbuf b = {0};
	const char *p = text;

	strbuf_put(&b, "", 0);
	while (*p) {
		size_t best = 0;

		for (size_t i = 0; i < sec->n; i++) {
			size_t n = strlen(sec->v[i]);

			if (n > best && strncmp(p, sec->v[i], n) == 0)
				best = n;
		}
		if (best) {
			strbuf_str(&b, REDACTED);
			p += best;
		} else {
			strbuf_put(&b, p, 1);
			p++;
		}
	}
	if (b.cut) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Audit lines sanitized again, whatever made them. */
static char *resanitize_audit(const char *jsonl, size_t *ret_rows)
{
	struct strbuf b = {0};
	const char *line = jsonl;

	*ret_rows = 0;
	strbuf_put(&b, "", 0);
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		cJSON *o = cJSON_ParseWithLength(line, n);

		if (cJSON_IsObject(o)) {
			const cJSON *det = cJSON_GetObjectItemCaseSensitive(o, "detail");
			char *dj = NULL, *out = NULL;

			if (cJSON_IsObject(det))
				dj = cJSON_PrintUnformatted(det);
			else if (cJSON_IsString(det))
				dj = strdup(det->valuestring);
			if (diag_audit_sanitize(
				(int64_t)jnum(o, "id", 0), (int64_t)jnum(o, "ts", 0),
				(int64_t)jnum(o, "session", 0), jstr(o, "kind"), dj, &out) == 0) {
				strbuf_str(&b, out);
				(*ret_rows)++;
			}
			free(out);
			if (cJSON_IsObject(det))
				cJSON_free(dj);
			else
				free(dj);
		}
		cJSON_Delete(o);
		line = nl ? nl + 1 : line + n;
	}
	if (b.cut) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int diag_bundle_write(const struct diag_bundle *b, const char *out_path, char *err, size_t errlen)
{
	struct secrets sec = {0};
	struct strbuf man = {0};
	struct targz t = {.fd = -1};
	char *config = NULL, *diagj = NULL, *status = NULL, *audit = NULL, *versions = NULL;
	char tmp[PATH_LEN + 16], when[64];
	int64_t now = b->now_ms ? b->now_ms : realtime_ms();
	size_t rows = 0;
	int rc = 0;

	if (!out_path || strlen(out_path) >= PATH_LEN)
		return errmsg(err, errlen, -EINVAL, "bundle: no output path or too long");
	if (b->config_text) {
		rc = redact(b->config_text, &config, &sec);
		if (rc < 0) {
			rc = errmsg(err, errlen, rc, "bundle: cannot redact the config: %s",
				    strerror(-rc));
			goto out;
		}
	}
	/* Secrets found in the config are scrubbed from everything else too
	 * (a config error message may quote a value). */
	if ((b->diag_jsonl && !(diagj = scrub(b->diag_jsonl, &sec))) ||
	    (b->status_json && !(status = scrub(b->status_json, &sec))) ||
	    (b->versions && !(versions = scrub(b->versions, &sec)))) {
		rc = errmsg(err, errlen, -ENOMEM, "bundle: out of memory");
		goto out;
	}
	if (b->audit_jsonl) {
		char *a = resanitize_audit(b->audit_jsonl, &rows);

		audit = a ? scrub(a, &sec) : NULL;
		free(a);
		if (!audit) {
			rc = errmsg(err, errlen, -ENOMEM, "bundle: out of memory");
			goto out;
		}
	}

	fmt_utc(now, when, sizeof(when));
	strbuf_str(&man, "edgebox diagnostics bundle\n\n");
	strbuf_add(&man, "created: %s\nconfig:  %s\n\n", when,
		   b->config_path ? b->config_path : "(unknown)");
	strbuf_str(&man, "Included:\n");
	strbuf_str(&man, "  MANIFEST.txt          this list\n");
	if (config)
		strbuf_str(&man,
			   "  config.redacted.conf  the config; secret values (api_key, tokens, "
			   "passwords, URL credentials) replaced by <redacted>\n");
	if (diagj)
		strbuf_str(
		    &man, "  diag.jsonl            `edgeboxctl diag --json`: one check per line\n");
	if (status)
		strbuf_str(&man, "  status.json           the daemon's status: stages, rings, "
				 "watchdog, open sessions (ids and states only)\n");
	if (audit)
		strbuf_add(&man,
			   "  audit.jsonl           the last %zu audit rows: id, time, session "
			   "number, kind, and only the detail fields that name categories, "
			   "rules, states and counts (\"withheld\" counts the rest)\n",
			   rows);
	if (versions)
		strbuf_str(&man, "  versions.txt          firmware and system versions\n");
	strbuf_str(&man, "\nLeft out, and why:\n");
	strbuf_str(&man,
		   "  customer names, conversation text, tool arguments, evidence quotes, "
		   "customer ids, beacon ids, face embeddings: customers' personal data never "
		   "leaves the box\n");
	strbuf_str(&man, "  secret values of the config, token and key files: credentials\n");
	strbuf_str(&man, "  staff device names and tokens: staff personal data and credentials\n");
	strbuf_str(&man, "  the journal (journalctl -u edgeboxd): it may quote customers; send it "
			 "separately only after reading it\n");
	if (!config)
		strbuf_str(&man, "  config.redacted.conf: the config could not be read\n");
	if (!diagj)
		strbuf_str(&man, "  diag.jsonl: the checks did not run\n");
	if (!status)
		strbuf_add(&man, "  status.json: %s\n",
			   b->why_no_status ? b->why_no_status : "no status available");
	if (!audit)
		strbuf_add(&man, "  audit.jsonl: %s\n",
			   b->why_no_audit ? b->why_no_audit : "the audit log could not be read");
	if (man.cut) {
		rc = errmsg(err, errlen, -ENOMEM, "bundle: out of memory");
		goto out;
	}

	snprintf(tmp, sizeof(tmp), "%s.tmp", out_path);
	t.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (t.fd < 0) {
		rc = errmsg(err, errlen, -errno, "bundle: cannot create %s: %s", tmp,
			    strerror(errno));
		goto out;
	}
	if (deflateInit2(&t.zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		close(t.fd);
		unlink(tmp);
		rc = errmsg(err, errlen, -ENOMEM, "bundle: zlib would not start");
		goto out;
	}
	tgz_add(&t, "MANIFEST.txt", man.p, man.len, now / 1000);
	if (config)
		tgz_add(&t, "config.redacted.conf", config, strlen(config), now / 1000);
	if (diagj)
		tgz_add(&t, "diag.jsonl", diagj, strlen(diagj), now / 1000);
	if (status)
		tgz_add(&t, "status.json", status, strlen(status), now / 1000);
	if (audit)
		tgz_add(&t, "audit.jsonl", audit, strlen(audit), now / 1000);
	if (versions)
		tgz_add(&t, "versions.txt", versions, strlen(versions), now / 1000);
	{
		static const char end[1024];

		tgz_write(&t, end, sizeof(end));
	}
	t.zs.next_in = NULL;
	t.zs.avail_in = 0;
	if (!t.err)
		tgz_flush(&t, Z_FINISH);
	deflateEnd(&t.zs);
	if (!t.err && fsync(t.fd) < 0)
		t.err = -errno;
	if (close(t.fd) < 0 && !t.err)
		t.err = -errno;
	if (!t.err && rename(tmp, out_path) < 0)
		t.err = -errno;
	if (t.err) {
		unlink(tmp);
		rc = errmsg(err, errlen, t.err, "bundle: cannot write %s: %s", out_path,
			    strerror(-t.err));
	}
out:
	secrets_free(&sec);
	free(man.p);
	free(config);
	free(diagj);
	free(status);
	free(audit);
	free(versions);
	return rc;
}
