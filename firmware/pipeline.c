#include "firmware/pipeline.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "firmware/agent_stage.h"
#include "firmware/config.h"
#include "firmware/control.h"
#include "firmware/display.h"
#include "firmware/enrol_slot.h"
#include "firmware/log.h"
#include "firmware/pipeline_stages.h"
#include "firmware/ring.h"
#include "firmware/store.h"
#include "firmware/supervisor.h"
#include "hal/hal.h"
#include "hal/registry.h"
#include "hal/time.h"
#include "hal/watchdog.h"

#define MS 1000000ull

struct pipeline {
	const struct config *cfg;
	struct store *store;
	struct ring *ble_ring, *frame_ring, *event_ring;
	struct ble_stage ble;
	struct presence_stage presence;
	struct camera_stage camera;
	struct face_stage face;
	struct gpio_stage gpio;
	struct agent *agent;
	struct display_params kiosk_dp, staff_dp; /* read by pipeline_create */
	bool kiosk_on, staff_on;
	struct display *kiosk, *staff;	   /* created by pipeline_start */
	_Atomic(struct control *) control; /* pairing and tokens, once edgeboxd has it */
	struct agent_stage *conversation;
	struct enrol_slot *enrol; /* kiosk enrolments: conversation <-> face (with a camera) */
	struct stage stages[6];
	size_t nstages;
	struct watchdog_dev wd;
	bool wd_open;
	struct supervisor sup;
	char status_file[512];
	uint64_t status_interval_ns, last_status_ns, started_ns;
	bool stopped;
	long tick_ms;
};

static int cfg_fail(struct config_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_fail(struct config_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * The driver a section names: NULL with *ret_ops NULL for "none" (the
 * subsystem is switched off), or -EINVAL naming the known drivers.
 */
static int pick_driver(const struct config *cfg, enum hal_class cls, const void **ret_ops,
		       struct config_error *err)
{
	const char *section = hal_class_name(cls), *name;
	char known[128];
	int rc;

	*ret_ops = NULL;
	rc = config_str(cfg, section, "driver", "none", false, &name, err);
	if (rc < 0)
		return rc;
	if (strcmp(name, "none") == 0)
		return 0;
	*ret_ops = hal_driver_find(cls, name);
	if (*ret_ops)
		return 0;
	hal_driver_names(cls, known, sizeof(known));
	return cfg_fail(err, -EINVAL, "%s: [%s] driver: expected none, %s; got '%s'",
			config_name(cfg), section, known, name);
}

static int make_ring(const char *name, size_t slot, long capacity, enum ring_overflow ov,
		     enum ring_producers prod, struct ring **ret, struct config_error *err)
{
	struct ring_params rp = {
	    .name = name,
	    .slot_size = slot,
	    .capacity = (size_t)capacity,
	    .overflow = ov,
	    .producers = prod,
	};
	char msg[RING_ERROR_MAX];
	int rc;

	rc = ring_params_check(&rp, msg, sizeof(msg));
	if (rc < 0)
		return cfg_fail(err, rc, "[rings] %s", msg);
	rc = ring_create(&rp, ret);
	if (rc < 0)
		return cfg_fail(err, rc, "cannot create the %s ring: %s", name, strerror(-rc));
	return 0;
}

static int read_params(struct pipeline *p, struct supervisor_params *sp,
		       struct proximity_params *pp, struct motion_params *mp, long *ble_cap,
		       long *frame_cap, long *frame_bytes, long *event_cap,
		       struct config_error *err)
{
	const struct config *c = p->cfg;
	long v, window_s, interval_ms;
	double d;
	bool realtime;
	int rc = 0;

	supervisor_params_default(sp);
	rc = rc ?: config_bool(c, "daemon", "realtime", true, &realtime, err);
	rc = rc ?: config_int(c, "daemon", "tick_ms", 100, 10, 1000, &p->tick_ms, err);
	rc = rc
		 ?: config_path(c, "daemon", "status_file", "/run/edgebox/status.json", false,
				p->status_file, sizeof(p->status_file), err);
	rc = rc
		 ?: config_int(c, "daemon", "status_interval_ms", 1000, 100, 600000, &interval_ms,
			       err);
	rc = rc ?: config_int(c, "supervisor", "max_failures", 5, 0, 1000, &v, err);
	sp->max_failures = (uint32_t)v;
	rc = rc ?: config_int(c, "supervisor", "failure_window_s", 60, 1, 86400, &window_s, err);
	sp->failure_window_ms = (uint32_t)window_s * 1000;
	rc = rc ?: config_int(c, "supervisor", "backoff_initial_ms", 200, 1, 60000, &v, err);
	sp->backoff_initial_ms = (uint32_t)v;
	rc = rc ?: config_int(c, "supervisor", "backoff_max_ms", 10000, 1, 600000, &v, err);
	sp->backoff_max_ms = (uint32_t)v;
	sp->realtime = realtime;
	p->status_interval_ns = (uint64_t)interval_ms * MS;

	rc = rc ?: config_int(c, "rings", "ble_capacity", 256, 2, 65536, ble_cap, err);
	rc = rc ?: config_int(c, "rings", "frame_capacity", 4, 2, 64, frame_cap, err);
	rc = rc
		 ?: config_int(c, "rings", "frame_bytes", 640 * 480 * 3, 64 * 48 * 3,
			       (long)CAMERA_FRAME_MAX_BYTES, frame_bytes, err);
	rc = rc ?: config_int(c, "rings", "event_capacity", 256, 2, 65536, event_cap, err);

	rc = rc ?: proximity_params_from_config(c, "beacons", pp, err);

	motion_params_default(mp);
	rc = rc ?: config_int(c, "motion", "cell_delta", mp->cell_delta, 1, 255, &v, err);
	mp->cell_delta = (int)v;
	rc = rc ?: config_double(c, "motion", "start_score", mp->start_score, 0.0001, 1, &d, err);
	mp->start_score = (float)d;
	rc = rc ?: config_double(c, "motion", "stop_score", mp->stop_score, 0, 1, &d, err);
	mp->stop_score = (float)d;
	rc = rc ?: config_int(c, "motion", "start_frames", mp->start_frames, 1, 100, &v, err);
	mp->start_frames = (unsigned)v;
	rc = rc ?: config_int(c, "motion", "still_frames", mp->still_frames, 1, 1000, &v, err);
	mp->still_frames = (unsigned)v;
	return rc;
}

static void add_stage(struct pipeline *p, const struct stage_desc *tmpl, void *ctx)
{
	struct stage_desc d = *tmpl;
	struct stage *st = &p->stages[p->nstages++];

	d.ctx = ctx;
	stage_init(st, &d);
	supervisor_add(&p->sup, st);
}

/*
 * First open of a device, on the main thread, so a config error (-EINVAL)
 * stops the daemon before it reports ready. Any other failure (no such
 * device) is left to the stage: its init tries again and the supervisor
 * reports it once, with the fix, then retries and gives up.
 */
static int first_open(int rc, const char *msg, struct config_error *err)
{
	if (rc == -EINVAL)
		return cfg_fail(err, rc, "%s", msg);
	return 0;
}

static void wake_event_ring(void *ctx)
{
	ring_wake(ctx);
}

/*
 * A staff tablet's hello: a pairing PIN from `edgeboxctl pair` is redeemed
 * for a device token (sent back once), and a device token must belong to a
 * live paired device. Before the control socket exists nobody gets in.
 */
static int staff_auth(void *ctx, const char *name, const char *token, char *ret_token, size_t len)
{
	struct pipeline *p = ctx;
	struct control *c = atomic_load(&p->control);
	size_t n = strlen(token);

	if (!c)
		return 0;
	if (n == CONTROL_PIN_DIGITS)
		return control_pair_redeem(c, token, name, ret_token, len, NULL) == 0;
	return control_token_check(c, token, NULL) == 0;
}

void pipeline_set_control(struct pipeline *p, struct control *c)
{
	atomic_store(&p->control, c);
}

/* Reads a display's config; its socket is created by pipeline_start, once
 * the whole config has been checked (edgeboxd refuses unknown keys after
 * pipeline_create), so no tablet reaches a box about to refuse its config. */
static int read_display(struct pipeline *p, enum display_role role, struct display_params *dp,
			bool *ret_enabled, struct config_error *err)
{
	static const char *const pairing[] = {"off", "required", NULL};
	int rc, mode = 0;

	rc = display_params_from_config(p->cfg, role, dp, ret_enabled, err);
	if (rc < 0)
		return rc;
	if (role == DISPLAY_ROLE_STAFF) {
		rc = config_enum(p->cfg, "staff", "pairing", "off", pairing, &mode, err);
		if (rc < 0)
			return rc;
		if (mode == 1) {
			dp->auth = staff_auth;
			dp->auth_ctx = p;
		}
	}
	dp->notify = wake_event_ring;
	dp->notify_ctx = p->event_ring;
	return 0;
}

static struct display *open_display(const struct display_params *dp, bool enabled)
{
	struct display *d = NULL;
	char msg[512];

	if (!enabled)
		return NULL; /* socket = none */
	if (display_create(dp, &d, msg, sizeof(msg)) < 0) {
		/* no tablets until this is fixed, but the box still runs */
		log_error("pipeline", "%s; the %s display is off", msg,
			  display_role_name(dp->role));
		return NULL;
	}
	return d;
}

/* The agent's knowledge, the displays' config and the conversation stage. */
static int open_conversation(struct pipeline *p, struct config_error *err)
{
	struct agent_stage_params ap;
	int rc;

	rc = agent_stage_params_from_config(p->cfg, &ap, err);
	if (rc < 0)
		return rc;
	rc = agent_new(p->cfg, &p->agent, err->msg, sizeof(err->msg));
	if (rc < 0)
		return rc == -ENOMEM ? rc : -EINVAL;
	rc = read_display(p, DISPLAY_ROLE_KIOSK, &p->kiosk_dp, &p->kiosk_on, err);
	rc = rc ?: read_display(p, DISPLAY_ROLE_STAFF, &p->staff_dp, &p->staff_on, err);
	if (rc < 0)
		return rc;
	return agent_stage_new(&ap, p->event_ring, p->store, p->agent, p->enrol, p->cfg,
			       &p->conversation, err);
}

int pipeline_create(const struct config *cfg, struct pipeline **ret, struct config_error *err)
{
	struct supervisor_params sp;
	struct proximity_params pp;
	struct motion_params mp;
	struct store_open_info info;
	struct store_error serr;
	long ble_cap, frame_cap, frame_bytes, event_cap;
	const void *ble_ops, *cam_ops, *gpio_ops, *wd_ops;
	struct pipeline *p;
	char msg[HAL_ERROR_MAX];
	int rc;

	*ret = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return cfg_fail(err, -ENOMEM, "out of memory");
	p->cfg = cfg;
	rc = read_params(p, &sp, &pp, &mp, &ble_cap, &frame_cap, &frame_bytes, &event_cap, err);
	if (rc < 0)
		goto fail;
	rc = pick_driver(cfg, HAL_CLASS_BLE, &ble_ops, err);
	rc = rc ?: pick_driver(cfg, HAL_CLASS_CAMERA, &cam_ops, err);
	rc = rc ?: pick_driver(cfg, HAL_CLASS_GPIO, &gpio_ops, err);
	rc = rc ?: pick_driver(cfg, HAL_CLASS_WATCHDOG, &wd_ops, err);
	if (rc < 0)
		goto fail;

	rc = make_ring("event", sizeof(struct event), event_cap, RING_OVERFLOW_REJECT, RING_MPSC,
		       &p->event_ring, err);
	if (rc == 0 && ble_ops)
		rc = make_ring("ble", sizeof(struct ble_adv_report), ble_cap,
			       RING_OVERFLOW_DROP_OLDEST, RING_SPSC, &p->ble_ring, err);
	if (rc == 0 && cam_ops)
		rc = make_ring("frame", sizeof(struct frame_slot) + (size_t)frame_bytes, frame_cap,
			       RING_OVERFLOW_DROP_OLDEST, RING_SPSC, &p->frame_ring, err);
	if (rc < 0)
		goto fail;

	rc = store_open_config(cfg, "store", 0, &p->store, &info, &serr);
	if (rc < 0) {
		cfg_fail(err, rc, "%s", serr.msg);
		goto fail;
	}
	if (rc == 1)
		log_error("store",
			  "the database was corrupt (%s); moved it to %s and started a "
			  "fresh one",
			  info.problem, info.moved_to);
	else if (info.from_version != info.version)
		log_notice("store", "%s: schema %d -> %d", store_path(p->store), info.from_version,
			   info.version);

	supervisor_init(&p->sup, &sp, NULL);
	/* Added producers first: supervisor_stop_all stops in this order. */
	if (ble_ops) {
		p->ble.cfg = cfg;
		p->ble.ops = ble_ops;
		p->ble.out = p->ble_ring;
		rc = first_open(ble_stage_open(&p->ble, msg, sizeof(msg)), msg, err);
		if (rc < 0)
			goto fail;
		add_stage(p, &ble_stage_desc, &p->ble);
	}
	if (cam_ops) {
		p->camera.cfg = cfg;
		p->camera.ops = cam_ops;
		p->camera.out = p->frame_ring;
		rc = first_open(camera_stage_open(&p->camera, msg, sizeof(msg)), msg, err);
		if (rc < 0)
			goto fail;
		add_stage(p, &camera_stage_desc, &p->camera);
	}
	if (gpio_ops) {
		p->gpio.cfg = cfg;
		p->gpio.ops = gpio_ops;
		p->gpio.outbox.ring = p->event_ring;
		rc = first_open(gpio_stage_open(&p->gpio, msg, sizeof(msg)), msg, err);
		if (rc < 0)
			goto fail;
		add_stage(p, &gpio_stage_desc, &p->gpio);
	}
	if (ble_ops) {
		p->presence.in = p->ble_ring;
		p->presence.outbox.ring = p->event_ring;
		rc = proximity_new(&pp, &p->presence.proximity);
		if (rc < 0) {
			cfg_fail(err, rc, "cannot create the proximity tracker: %s", strerror(-rc));
			goto fail;
		}
		add_stage(p, &presence_stage_desc, &p->presence);
	}
	if (cam_ops) {
		rc = enrol_slot_new(&p->enrol);
		if (rc < 0) {
			cfg_fail(err, rc, "out of memory");
			goto fail;
		}
		p->face.in = p->frame_ring;
		p->face.outbox.ring = p->event_ring;
		p->face.enrol = p->enrol;
		motion_init(&p->face.motion, &mp);
		rc = face_params_from_config(cfg, "faces", &p->face.params, err);
		rc = rc
			 ?: config_path(cfg, "store", "path", NULL, true, p->face.store_path,
					sizeof(p->face.store_path), err);
		if (rc < 0)
			goto fail;
		add_stage(p, &face_stage_desc, &p->face);
	}
	rc = open_conversation(p, err);
	if (rc < 0)
		goto fail;
	add_stage(p, &agent_stage_desc, p->conversation);

	if (wd_ops) {
		rc = watchdog_open(&p->wd, wd_ops, cfg, "watchdog");
		if (rc == -EINVAL) {
			cfg_fail(err, rc, "%s", p->wd.error);
			watchdog_close(&p->wd);
			goto fail;
		}
		if (rc < 0) {
			log_error("watchdog", "%s; running without a hardware watchdog",
				  p->wd.error);
			watchdog_close(&p->wd);
		} else {
			p->wd_open = true;
			p->sup.wd = &p->wd;
		}
	}
	*ret = p;
	return 0;

fail:
	pipeline_free(p);
	return rc;
}

int pipeline_start(struct pipeline *p)
{
	size_t i;
	int rc;

	p->started_ns = hal_now_ns();
	p->kiosk = open_display(&p->kiosk_dp, p->kiosk_on);
	p->staff = open_display(&p->staff_dp, p->staff_on);
	agent_stage_set_displays(p->conversation, p->kiosk, p->staff);
	rc = supervisor_start_all(&p->sup);
	/* Let each thread apply its priority, then say once what it got. */
	usleep(20000);
	for (i = 0; i < p->nstages; i++)
		log_info("pipeline", "stage %s: %s", p->stages[i].desc.name,
			 p->stages[i].sched[0] ? p->stages[i].sched : "starting");
	return rc;
}

int pipeline_tick_ms(const struct pipeline *p)
{
	return (int)p->tick_ms;
}

struct supervisor *pipeline_supervisor(struct pipeline *p)
{
	return &p->sup;
}

void pipeline_tick(struct pipeline *p, uint64_t now_ns)
{
	supervisor_tick(&p->sup, now_ns);
	if (p->status_file[0] && now_ns - p->last_status_ns >= p->status_interval_ns) {
		p->last_status_ns = now_ns;
		pipeline_write_status(p);
	}
}

void pipeline_stop(struct pipeline *p)
{
	supervisor_stop_all(&p->sup, 2000);
	p->stopped = true;
	if (p->status_file[0])
		pipeline_write_status(p);
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	if (p->wd_open)
		watchdog_close(&p->wd);
	/* Devices opened by pipeline_create but never run by a stage. */
	if (p->ble.open)
		ble_close(&p->ble.dev);
	if (p->camera.open)
		camera_close(&p->camera.dev);
	if (p->gpio.open)
		gpio_close(&p->gpio.dev);
	agent_stage_free(p->conversation);
	display_free(p->kiosk);
	display_free(p->staff);
	agent_free(p->agent);
	store_close(p->store);
	proximity_free(p->presence.proximity);
	ring_free(p->ble_ring);
	ring_free(p->frame_ring);
	ring_free(p->event_ring);
	enrol_slot_free(p->enrol);
	free(p);
}

static void add_ring(cJSON *rings, const struct ring *r)
{
	struct ring_stats rs;
	cJSON *o;

	if (!r)
		return;
	ring_get_stats(r, &rs);
	o = cJSON_AddObjectToObject(rings, ring_name(r));
	cJSON_AddNumberToObject(o, "capacity", (double)rs.capacity);
	cJSON_AddNumberToObject(o, "depth", (double)rs.depth);
	cJSON_AddNumberToObject(o, "high_water", (double)rs.high_water);
	cJSON_AddNumberToObject(o, "pushed", (double)rs.pushed);
	cJSON_AddNumberToObject(o, "popped", (double)rs.popped);
	cJSON_AddNumberToObject(o, "drops", (double)rs.drops);
	cJSON_AddNumberToObject(o, "rejects", (double)rs.rejects);
}

int pipeline_status_json(struct pipeline *p, char **ret)
{
	uint64_t now = hal_now_ns();
	cJSON *root, *stages, *rings, *wd;
	size_t i;

	*ret = NULL;
	root = cJSON_CreateObject();
	if (!root)
		return -ENOMEM;
	cJSON_AddNumberToObject(root, "version", 1);
	cJSON_AddNumberToObject(root, "pid", getpid());
	cJSON_AddStringToObject(root, "daemon", p->stopped ? "stopped" : "running");
	cJSON_AddNumberToObject(root, "uptime_s", (double)(now - p->started_ns) / 1e9);
	cJSON_AddBoolToObject(root, "healthy", p->sup.healthy && !p->stopped);
	if (p->sup.unhealthy_reason[0])
		cJSON_AddStringToObject(root, "unhealthy_reason", p->sup.unhealthy_reason);
	stages = cJSON_AddArrayToObject(root, "stages");
	for (i = 0; i < p->nstages; i++) {
		struct stage *st = &p->stages[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "name", st->desc.name);
		cJSON_AddStringToObject(o, "state", stage_state_name(stage_get_state(st)));
		cJSON_AddBoolToObject(o, "critical", st->desc.critical);
		cJSON_AddStringToObject(o, "sched", st->sched);
		cJSON_AddNumberToObject(o, "items", (double)atomic_load(&st->items));
		cJSON_AddNumberToObject(o, "errors", (double)atomic_load(&st->errors));
		cJSON_AddNumberToObject(o, "restarts", (double)atomic_load(&st->restarts));
		cJSON_AddNumberToObject(o, "heartbeat_age_ms",
					(double)(now - atomic_load(&st->heartbeat_ns)) / 1e6);
		cJSON_AddNumberToObject(o, "latency_p50_us",
					(double)histogram_quantile(&st->latency, 0.50) / 1e3);
		cJSON_AddNumberToObject(o, "latency_p99_us",
					(double)histogram_quantile(&st->latency, 0.99) / 1e3);
		if (st->error[0])
			cJSON_AddStringToObject(o, "last_error", st->error);
		cJSON_AddItemToArray(stages, o);
	}
	rings = cJSON_AddObjectToObject(root, "rings");
	add_ring(rings, p->ble_ring);
	add_ring(rings, p->frame_ring);
	add_ring(rings, p->event_ring);
	wd = cJSON_AddObjectToObject(root, "watchdog");
	cJSON_AddStringToObject(wd, "driver", p->wd_open ? p->wd.ops->name : "none");
	cJSON_AddNumberToObject(wd, "keepalives", (double)p->sup.keepalives);
	if (p->wd_open && p->wd.ops->expired)
		cJSON_AddNumberToObject(wd, "expired", watchdog_expired(&p->wd));
	*ret = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return *ret ? 0 : -ENOMEM;
}

int pipeline_write_status(struct pipeline *p)
{
	char tmp[560], *json;
	size_t len;
	int fd, rc;

	rc = pipeline_status_json(p, &json);
	if (rc < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->status_file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto free_json;
	}
	len = strlen(json);
	if (write(fd, json, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		rc = -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, p->status_file) < 0)
		rc = -errno;
free_json:
	free(json);
	return rc;
}
