#include "agent/proximity.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/config.h"

#define MS 1000000ull

struct device {
	bool used;
	struct beacon_id id;
	uint8_t addr[6];
	uint64_t samples;
	uint64_t last_ns;
	/* The median window, oldest first. */
	int8_t win[PROXIMITY_WINDOW_MAX];
	uint64_t win_ns[PROXIMITY_WINDOW_MAX];
	unsigned win_n;
	double median;
	/* Kalman state: estimate and its variance (dB, dB^2). */
	double x, var;
	double power; /* measured power at 1 m used for the distance */
	double distance;
	enum proximity_zone zone;
	uint64_t zone_since;
	bool present, dwelt;
	uint64_t approach_ns;
};

struct proximity {
	struct proximity_params p;
	struct device dev[PROXIMITY_MAX_DEVICES];
	struct proximity_stats stats;
};

static int fail(struct config_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct config_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void proximity_params_default(struct proximity_params *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->path_loss_exponent = 2.0;
	ret->kiosk_m = 1.0;
	ret->near_m = 3.0;
	ret->hysteresis_m = 0.3;
	ret->dwell_enter_ms = 500;
	ret->dwell_ms = 5000;
	ret->leave_ms = 3000;
	ret->lost_ms = 5000;
	ret->rssi_window = 5;
	ret->rssi_process_noise = 20.0;
	ret->rssi_measurement_noise = 9.0;
}

/* Ranges, shared by the struct check and the config reader. */
#define PLE_MIN 2.0
#define PLE_MAX 4.0
#define ZONE_M_MIN 0.1
#define ZONE_M_MAX 50.0
#define HYST_MAX 10.0
#define DWELL_ENTER_MAX 60000
#define DWELL_MAX 3600000
#define LEAVE_MAX 600000
#define LOST_MIN 200
#define LOST_MAX 600000
#define NOISE_MIN 0.01
#define NOISE_MAX 10000.0

int proximity_params_check(const struct proximity_params *p, struct config_error *err)
{
	if (!p)
		return fail(err, "proximity: no parameters");
	if (p->n_uuids > PROXIMITY_FILTER_MAX || p->n_namespaces > PROXIMITY_FILTER_MAX)
		return fail(err, "proximity: at most %d UUIDs and %d namespaces",
			    PROXIMITY_FILTER_MAX, PROXIMITY_FILTER_MAX);
	if (!(p->path_loss_exponent >= PLE_MIN && p->path_loss_exponent <= PLE_MAX))
		return fail(err, "proximity: path_loss_exponent: expected %g..%g, got %g", PLE_MIN,
			    PLE_MAX, p->path_loss_exponent);
	if (!(p->kiosk_m >= ZONE_M_MIN && p->kiosk_m <= ZONE_M_MAX))
		return fail(err, "proximity: kiosk_m: expected %g..%g m, got %g", ZONE_M_MIN,
			    ZONE_M_MAX, p->kiosk_m);
	if (!(p->hysteresis_m >= 0 && p->hysteresis_m <= HYST_MAX))
		return fail(err, "proximity: hysteresis_m: expected 0..%g m, got %g", HYST_MAX,
			    p->hysteresis_m);
	if (!(p->near_m >= p->kiosk_m + p->hysteresis_m && p->near_m <= ZONE_M_MAX))
		return fail(err,
			    "proximity: near_m: expected kiosk_m + hysteresis_m (%g)..%g m, got %g",
			    p->kiosk_m + p->hysteresis_m, ZONE_M_MAX, p->near_m);
	if (p->dwell_enter_ms > DWELL_ENTER_MAX)
		return fail(err, "proximity: dwell_enter_ms: expected 0..%d, got %u",
			    DWELL_ENTER_MAX, p->dwell_enter_ms);
	if (p->dwell_ms < p->dwell_enter_ms || p->dwell_ms > DWELL_MAX)
		return fail(err, "proximity: dwell_ms: expected dwell_enter_ms (%u)..%d, got %u",
			    p->dwell_enter_ms, DWELL_MAX, p->dwell_ms);
	if (p->leave_ms > LEAVE_MAX)
		return fail(err, "proximity: leave_ms: expected 0..%d, got %u", LEAVE_MAX,
			    p->leave_ms);
	if (p->lost_ms < LOST_MIN || p->lost_ms > LOST_MAX)
		return fail(err, "proximity: lost_ms: expected %d..%d, got %u", LOST_MIN, LOST_MAX,
			    p->lost_ms);
	if (p->rssi_window < 1 || p->rssi_window > PROXIMITY_WINDOW_MAX)
		return fail(err, "proximity: rssi_window: expected 1..%d samples, got %u",
			    PROXIMITY_WINDOW_MAX, p->rssi_window);
	if (!(p->rssi_process_noise >= NOISE_MIN && p->rssi_process_noise <= NOISE_MAX))
		return fail(err, "proximity: rssi_process_noise: expected %g..%g dB^2/s, got %g",
			    NOISE_MIN, NOISE_MAX, p->rssi_process_noise);
	if (!(p->rssi_measurement_noise >= NOISE_MIN && p->rssi_measurement_noise <= NOISE_MAX))
		return fail(err, "proximity: rssi_measurement_noise: expected %g..%g dB^2, got %g",
			    NOISE_MIN, NOISE_MAX, p->rssi_measurement_noise);
	return 0;
}

/*
 * An error about a key whose value the typed readers cannot judge (a list,
 * a cross-field rule). config.h has no way to ask for a key's line, but
 * config_enum names it: give it the expectation as its only word, then
 * drop its "one of " so the message reads like the other readers'.
 */
static int key_error(const struct config *cfg, const char *section, const char *key,
		     const char *expected, struct config_error *err)
{
	const char *const words[] = {expected, NULL};
	struct config_error e;
	char *at;
	int idx;

	if (config_enum(cfg, section, key, NULL, words, &idx, &e) == 0)
		return fail(err, "%s: [%s] %s: expected %s", config_name(cfg), section, key,
			    expected);
	at = strstr(e.msg, "expected one of ");
	if (at)
		memmove(at + 9, at + 16, strlen(at + 16) + 1);
	if (err)
		*err = e;
	return -EINVAL;
}

/*
 * A comma-separated list of n-byte ids (uuid: UUIDs, else hex) into
 * out[PROXIMITY_FILTER_MAX][n]. Entries are trimmed; empty ones are errors.
 */
static int read_list(const struct config *cfg, const char *section, const char *key, bool uuid,
		     uint8_t *out, size_t n, size_t *ret_count, struct config_error *err)
{
	const char *v = config_get(cfg, section, key);
	char expected[256], item[128];
	size_t count = 0;

	*ret_count = 0;
	if (!v)
		return 0;
	for (const char *s = v;; s++) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);

		while (len && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (count == PROXIMITY_FILTER_MAX) {
			snprintf(expected, sizeof(expected), "at most %d comma-separated entries",
				 PROXIMITY_FILTER_MAX);
			return key_error(cfg, section, key, expected, err);
		}
		if (len == 0 || len >= sizeof(item)) {
			snprintf(expected, sizeof(expected),
				 "%s, comma-separated (entry %zu is %s)",
				 uuid ? "UUIDs like E2C56DB5-DFFB-48D2-B060-D0F5A71096E0"
				      : "namespaces of 20 hex digits",
				 count + 1, len ? "too long" : "empty");
			return key_error(cfg, section, key, expected, err);
		}
		memcpy(item, s, len);
		item[len] = '\0';
		if ((uuid ? beacon_parse_uuid(item, out + count * n)
			  : beacon_parse_hex(item, out + count * n, n)) < 0) {
			snprintf(expected, sizeof(expected),
				 "%s, comma-separated (entry %zu, '%.40s', is not one)",
				 uuid ? "UUIDs of 32 hex digits, dashed 8-4-4-4-12 or plain"
				      : "namespaces of 20 hex digits",
				 count + 1, item);
			return key_error(cfg, section, key, expected, err);
		}
		count++;
		if (!end)
			break;
		s = end;
	}
	*ret_count = count;
	return 0;
}

int proximity_params_from_config(const struct config *cfg, const char *section,
				 struct proximity_params *ret, struct config_error *err)
{
	struct proximity_params p;
	long l;
	int rc;

	proximity_params_default(&p);
	if ((rc = read_list(cfg, section, "uuid", true, &p.uuids[0][0], 16, &p.n_uuids, err)) < 0 ||
	    (rc = read_list(cfg, section, "eddystone_namespace", false, &p.namespaces[0][0],
			    BEACON_NAMESPACE_LEN, &p.n_namespaces, err)) < 0 ||
	    (rc = config_double(cfg, section, "path_loss_exponent", p.path_loss_exponent, PLE_MIN,
				PLE_MAX, &p.path_loss_exponent, err)) < 0 ||
	    (rc = config_double(cfg, section, "kiosk_m", p.kiosk_m, ZONE_M_MIN, ZONE_M_MAX,
				&p.kiosk_m, err)) < 0 ||
	    (rc = config_double(cfg, section, "near_m", p.near_m, ZONE_M_MIN, ZONE_M_MAX, &p.near_m,
				err)) < 0 ||
	    (rc = config_double(cfg, section, "hysteresis_m", p.hysteresis_m, 0, HYST_MAX,
				&p.hysteresis_m, err)) < 0)
		return rc;
	if ((rc = config_int(cfg, section, "dwell_enter_ms", p.dwell_enter_ms, 0, DWELL_ENTER_MAX,
			     &l, err)) < 0)
		return rc;
	p.dwell_enter_ms = (uint32_t)l;
	if ((rc = config_int(cfg, section, "dwell_ms", p.dwell_ms, 0, DWELL_MAX, &l, err)) < 0)
		return rc;
	p.dwell_ms = (uint32_t)l;
	if ((rc = config_int(cfg, section, "leave_ms", p.leave_ms, 0, LEAVE_MAX, &l, err)) < 0)
		return rc;
	p.leave_ms = (uint32_t)l;
	if ((rc = config_int(cfg, section, "lost_ms", p.lost_ms, LOST_MIN, LOST_MAX, &l, err)) < 0)
		return rc;
	p.lost_ms = (uint32_t)l;
	if ((rc = config_int(cfg, section, "rssi_window", p.rssi_window, 1, PROXIMITY_WINDOW_MAX,
			     &l, err)) < 0)
		return rc;
	p.rssi_window = (unsigned)l;
	if ((rc = config_double(cfg, section, "rssi_process_noise", p.rssi_process_noise, NOISE_MIN,
				NOISE_MAX, &p.rssi_process_noise, err)) < 0 ||
	    (rc = config_double(cfg, section, "rssi_measurement_noise", p.rssi_measurement_noise,
				NOISE_MIN, NOISE_MAX, &p.rssi_measurement_noise, err)) < 0)
		return rc;

	/* The rules between keys, blamed on the key that breaks them. */
	if (p.dwell_ms < p.dwell_enter_ms) {
		char expected[96];

		snprintf(expected, sizeof(expected), "at least dwell_enter_ms (%u)",
			 p.dwell_enter_ms);
		return key_error(cfg, section,
				 config_get(cfg, section, "dwell_ms") ? "dwell_ms"
								      : "dwell_enter_ms",
				 expected, err);
	}
	if (p.near_m < p.kiosk_m + p.hysteresis_m) {
		char expected[128];

		snprintf(expected, sizeof(expected),
			 "near_m at least kiosk_m + hysteresis_m (%g + %g)", p.kiosk_m,
			 p.hysteresis_m);
		return key_error(cfg, section,
				 config_get(cfg, section, "near_m")	    ? "near_m"
				 : config_get(cfg, section, "hysteresis_m") ? "hysteresis_m"
									    : "kiosk_m",
				 expected, err);
	}
	rc = proximity_params_check(&p, err);
	if (rc < 0)
		return rc;
	*ret = p;
	return 0;
}

bool proximity_wants(const struct proximity_params *p, const struct beacon_id *id)
{
	size_t i;

	if (p->n_uuids == 0 && p->n_namespaces == 0)
		return true;
	if (id->kind == BEACON_EDDYSTONE_UID) {
		for (i = 0; i < p->n_namespaces; i++)
			if (memcmp(p->namespaces[i], id->uuid, BEACON_NAMESPACE_LEN) == 0)
				return true;
		return false;
	}
	for (i = 0; i < p->n_uuids; i++)
		if (memcmp(p->uuids[i], id->uuid, 16) == 0)
			return true;
	return false;
}

int proximity_new(const struct proximity_params *p, struct proximity **ret)
{
	struct proximity *px;

	*ret = NULL;
	if (proximity_params_check(p, NULL) < 0)
		return -EINVAL;
	px = calloc(1, sizeof(*px));
	if (!px)
		return -ENOMEM;
	px->p = *p;
	*ret = px;
	return 0;
}

void proximity_free(struct proximity *px)
{
	free(px);
}

double proximity_distance(double measured_power, double rssi, double path_loss_exponent)
{
	double d = pow(10.0, (measured_power - rssi) / (10.0 * path_loss_exponent));

	if (!(d >= PROXIMITY_DISTANCE_MIN_M))
		return PROXIMITY_DISTANCE_MIN_M;
	return d > PROXIMITY_DISTANCE_MAX_M ? PROXIMITY_DISTANCE_MAX_M : d;
}

static uint64_t elapsed(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

static void reset(struct device *d, const struct beacon_id *id, uint64_t ts)
{
	memset(d, 0, sizeof(*d));
	d->used = true;
	d->id = *id;
	d->zone = PROXIMITY_ZONE_FAR;
	d->zone_since = ts;
	d->last_ns = ts;
}

static void fill_event(const struct device *d, enum proximity_event_kind kind,
		       enum proximity_leave_reason reason, uint64_t ts, uint64_t since,
		       struct proximity_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->reason = reason;
	ev->id = d->id;
	memcpy(ev->addr, d->addr, 6);
	ev->zone = d->zone;
	ev->distance_m = d->distance;
	ev->rssi = d->x;
	ev->ts_ns = ts;
	ev->since_ns = since;
}

static void emit_leave(struct proximity *px, struct device *d, enum proximity_leave_reason reason,
		       uint64_t ts, struct proximity_event *ev)
{
	fill_event(d, PROXIMITY_LEAVE, reason, ts, d->approach_ns, ev);
	d->present = false;
	d->dwelt = false;
	px->stats.leaves++;
}

/* A slot for a new device: a free one, else the least recently heard one
 * not present, else the least recently heard (its LEAVE goes to *ev). */
static struct device *allocate(struct proximity *px, uint64_t ts, struct proximity_event *ev,
			       int *n_ev)
{
	struct device *victim = NULL, *victim_present = NULL;

	for (size_t i = 0; i < PROXIMITY_MAX_DEVICES; i++) {
		struct device *d = &px->dev[i];

		if (!d->used)
			return d;
		if (d->present) {
			if (!victim_present || d->last_ns < victim_present->last_ns)
				victim_present = d;
		} else if (!victim || d->last_ns < victim->last_ns) {
			victim = d;
		}
	}
	px->stats.evictions++;
	if (victim)
		return victim;
	emit_leave(px, victim_present, PROXIMITY_LEAVE_EVICTED, ts, ev);
	(*n_ev)++;
	return victim_present;
}

static double median_of(const int8_t *v, unsigned n)
{
	int8_t s[PROXIMITY_WINDOW_MAX];
	unsigned i, j;

	for (i = 0; i < n; i++) {
		int8_t x = v[i];

		for (j = i; j > 0 && s[j - 1] > x; j--)
			s[j] = s[j - 1];
		s[j] = x;
	}
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
}

static void add_sample(struct proximity *px, struct device *d, int8_t rssi, uint64_t ts)
{
	const struct proximity_params *p = &px->p;
	unsigned keep = 0, i;
	double dt;

	/* Drop samples that are too old, then the oldest beyond the window. */
	for (i = 0; i < d->win_n; i++)
		if (elapsed(ts, d->win_ns[i]) <= PROXIMITY_WINDOW_AGE_MS * MS) {
			d->win[keep] = d->win[i];
			d->win_ns[keep] = d->win_ns[i];
			keep++;
		}
	d->win_n = keep;
	if (d->win_n == p->rssi_window) {
		memmove(d->win, d->win + 1, (d->win_n - 1) * sizeof(d->win[0]));
		memmove(d->win_ns, d->win_ns + 1, (d->win_n - 1) * sizeof(d->win_ns[0]));
		d->win_n--;
	}
	d->win[d->win_n] = rssi;
	d->win_ns[d->win_n] = ts;
	d->win_n++;
	d->median = median_of(d->win, d->win_n);

	/* Random-walk Kalman filter: the variance grows with the time since the
	 * last sample, so a gap lets the estimate move faster afterwards. */
	if (d->samples == 0) {
		d->x = d->median;
		d->var = p->rssi_measurement_noise;
	} else {
		double k;

		dt = (double)elapsed(ts, d->last_ns) / 1e9;
		d->var += p->rssi_process_noise * dt;
		k = d->var / (d->var + p->rssi_measurement_noise);
		d->x += k * (d->median - d->x);
		d->var *= 1.0 - k;
	}
	d->samples++;
	if (ts > d->last_ns)
		d->last_ns = ts;
}

static enum proximity_zone next_zone(const struct proximity_params *p, enum proximity_zone cur,
				     double dist)
{
	double h = p->hysteresis_m;

	switch (cur) {
	case PROXIMITY_ZONE_KIOSK:
		if (dist <= p->kiosk_m + h)
			return PROXIMITY_ZONE_KIOSK;
		return dist <= p->near_m + h ? PROXIMITY_ZONE_NEAR : PROXIMITY_ZONE_FAR;
	case PROXIMITY_ZONE_NEAR:
		if (dist <= p->kiosk_m)
			return PROXIMITY_ZONE_KIOSK;
		return dist <= p->near_m + h ? PROXIMITY_ZONE_NEAR : PROXIMITY_ZONE_FAR;
	case PROXIMITY_ZONE_FAR:
		if (dist <= p->kiosk_m)
			return PROXIMITY_ZONE_KIOSK;
		return dist <= p->near_m ? PROXIMITY_ZONE_NEAR : PROXIMITY_ZONE_FAR;
	}
	return PROXIMITY_ZONE_FAR;
}

int proximity_sighting(struct proximity *px, const struct proximity_sighting *s,
		       struct proximity_event *ret, size_t max)
{
	const struct proximity_params *p = &px->p;
	struct device *d = NULL;
	enum proximity_zone zone;
	uint64_t ts = s->ts_ns;
	int n = 0;
	size_t i;

	if (max < PROXIMITY_SIGHTING_EVENTS_MAX)
		return -EINVAL;
	px->stats.sightings++;
	if (s->rssi == BLE_RSSI_NONE || !proximity_wants(p, &s->id)) {
		px->stats.ignored++;
		return 0;
	}
	for (i = 0; i < PROXIMITY_MAX_DEVICES; i++)
		if (px->dev[i].used && beacon_same(&px->dev[i].id, &s->id)) {
			d = &px->dev[i];
			break;
		}
	if (d && elapsed(ts, d->last_ns) > (uint64_t)p->lost_ms * MS) {
		/* Heard again after it was lost and no tick noticed: close the
		 * old visit, start afresh. */
		if (d->present)
			emit_leave(px, d, PROXIMITY_LEAVE_LOST, ts, &ret[n++]);
		reset(d, &s->id, ts);
	} else if (!d) {
		d = allocate(px, ts, &ret[n], &n);
		reset(d, &s->id, ts);
	}
	d->id = s->id; /* the latest power and company */
	memcpy(d->addr, s->addr, 6);
	d->power = s->id.measured_power >= -110 && s->id.measured_power <= 0
		       ? s->id.measured_power
		       : PROXIMITY_DEFAULT_MEASURED_POWER;
	add_sample(px, d, s->rssi, ts);
	d->distance = proximity_distance(d->power, d->x, p->path_loss_exponent);
	zone = next_zone(p, d->zone, d->distance);
	if (zone != d->zone) {
		d->zone = zone;
		d->zone_since = ts;
	}

	if (d->present && d->zone == PROXIMITY_ZONE_FAR &&
	    elapsed(ts, d->zone_since) >= (uint64_t)p->leave_ms * MS)
		emit_leave(px, d, PROXIMITY_LEAVE_WALKED_AWAY, ts, &ret[n++]);
	if (!d->present && d->zone == PROXIMITY_ZONE_KIOSK &&
	    elapsed(ts, d->zone_since) >= (uint64_t)p->dwell_enter_ms * MS) {
		d->present = true;
		d->approach_ns = ts;
		fill_event(d, PROXIMITY_APPROACH, PROXIMITY_LEAVE_NONE, ts, d->zone_since,
			   &ret[n++]);
		px->stats.approaches++;
	}
	if (d->present && !d->dwelt && d->zone == PROXIMITY_ZONE_KIOSK &&
	    elapsed(ts, d->zone_since) >= (uint64_t)p->dwell_ms * MS) {
		d->dwelt = true;
		fill_event(d, PROXIMITY_DWELL, PROXIMITY_LEAVE_NONE, ts, d->approach_ns, &ret[n++]);
		px->stats.dwells++;
	}
	return n;
}

int proximity_tick(struct proximity *px, uint64_t now_ns, struct proximity_event *ret, size_t max)
{
	const struct proximity_params *p = &px->p;
	size_t n = 0, i;

	for (i = 0; i < PROXIMITY_MAX_DEVICES && n < max; i++) {
		struct device *d = &px->dev[i];

		if (!d->used)
			continue;
		if (elapsed(now_ns, d->last_ns) > (uint64_t)p->lost_ms * MS) {
			if (d->present)
				emit_leave(px, d, PROXIMITY_LEAVE_LOST, now_ns, &ret[n++]);
			d->used = false;
		} else if (d->present && d->zone == PROXIMITY_ZONE_FAR &&
			   elapsed(now_ns, d->zone_since) >= (uint64_t)p->leave_ms * MS) {
			emit_leave(px, d, PROXIMITY_LEAVE_WALKED_AWAY, now_ns, &ret[n++]);
		}
	}
	return (int)n;
}

int proximity_lookup(const struct proximity *px, const struct beacon_id *id,
		     struct proximity_device_info *ret)
{
	for (size_t i = 0; i < PROXIMITY_MAX_DEVICES; i++) {
		const struct device *d = &px->dev[i];

		if (!d->used || !beacon_same(&d->id, id))
			continue;
		ret->zone = d->zone;
		ret->distance_m = d->distance;
		ret->rssi = d->x;
		ret->median = d->median;
		ret->present = d->present;
		ret->samples = d->samples;
		ret->last_ns = d->last_ns;
		return 1;
	}
	return 0;
}

void proximity_get_stats(const struct proximity *px, struct proximity_stats *ret)
{
	*ret = px->stats;
	ret->devices = 0;
	ret->present = 0;
	for (size_t i = 0; i < PROXIMITY_MAX_DEVICES; i++) {
		ret->devices += px->dev[i].used;
		ret->present += px->dev[i].used && px->dev[i].present;
	}
}

const char *proximity_zone_name(enum proximity_zone zone)
{
	switch (zone) {
	case PROXIMITY_ZONE_FAR:
		return "far";
	case PROXIMITY_ZONE_NEAR:
		return "near";
	case PROXIMITY_ZONE_KIOSK:
		return "kiosk";
	}
	return "unknown";
}

const char *proximity_event_name(enum proximity_event_kind kind)
{
	switch (kind) {
	case PROXIMITY_APPROACH:
		return "approach";
	case PROXIMITY_DWELL:
		return "dwell";
	case PROXIMITY_LEAVE:
		return "leave";
	}
	return "unknown";
}

const char *proximity_leave_reason_name(enum proximity_leave_reason reason)
{
	switch (reason) {
	case PROXIMITY_LEAVE_NONE:
		return "none";
	case PROXIMITY_LEAVE_WALKED_AWAY:
		return "walked_away";
	case PROXIMITY_LEAVE_LOST:
		return "lost";
	case PROXIMITY_LEAVE_EVICTED:
		return "evicted";
	}
	return "unknown";
}

int proximity_event_to_json(const struct proximity_event *ev, int64_t ts_us, char *buf, size_t len)
{
	char id[BEACON_JSON_MAX], reason[48] = "";
	const uint8_t *a = ev->addr;
	uint64_t abs_us = ts_us < 0 ? -(uint64_t)ts_us : (uint64_t)ts_us;
	int n;

	if (beacon_id_to_json(&ev->id, id, sizeof(id)) < 0)
		return -ENOSPC;
	if (ev->kind == PROXIMITY_LEAVE)
		snprintf(reason, sizeof(reason), ",\"reason\":\"%s\"",
			 proximity_leave_reason_name(ev->reason));
	n = snprintf(buf, len,
		     "{\"type\":\"event\",\"event\":\"%s\",\"ts\":%s%llu.%06llu,"
		     "\"addr\":\"%02X:%02X:%02X:%02X:%02X:%02X\",%s,\"zone\":\"%s\","
		     "\"distance_m\":%.2f,\"rssi\":%.1f%s}",
		     proximity_event_name(ev->kind), ts_us < 0 ? "-" : "",
		     (unsigned long long)(abs_us / 1000000), (unsigned long long)(abs_us % 1000000),
		     a[5], a[4], a[3], a[2], a[1], a[0], id, proximity_zone_name(ev->zone),
		     ev->distance_m, ev->rssi, reason);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
