#include "agent/ble_walk.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firmware/config.h"
#include "hal/btsnoop.h"
#include "hal/hci.h"

#define US_PER_S 1000000ll
#define US_PER_MS 1000ll
/* The Link Layer adds 0..10 ms to every advertising interval (Core Vol 6 B 4.4.2.2.1). */
#define ADV_DELAY_MAX_US 10000
/* Extended report parameters: subevent, num_reports, 24 fixed bytes, data. */
#define EXT_FIXED 24
#define EXT_DATA_MAX (255 - 2 - EXT_FIXED)

struct waypoint {
	int64_t t_us; /* since the walk's start */
	double d;     /* metres */
	bool off;
	int line;
};

enum adv_key {
	K_KIND,
	K_UUID,
	K_MAJOR,
	K_MINOR,
	K_NAMESPACE,
	K_INSTANCE,
	K_COMPANY,
	K_MEASURED_POWER,
	K_NAME,
	K_ADDR,
	K_ADDR_TYPE,
	K_INTERVAL_MS,
	K_NOISE_DB,
	K_LOSS,
	K_PATH_LOSS_EXPONENT,
	K_COUNT,
};

static const char *const adv_keys[K_COUNT] = {
    "kind",	 "uuid",	"major",	  "minor", "namespace",
    "instance",	 "company",	"measured_power", "name",  "addr",
    "addr_type", "interval_ms", "noise_db",	  "loss",  "path_loss_exponent",
};

enum global_key {
	G_SEED,
	G_START,
	G_END_S,
	G_REPORT,
	G_ADAPTER,
	G_SENSITIVITY,
	G_COUNT,
};

static const char *const global_keys[G_COUNT] = {
    "seed", "start", "end_s", "report", "adapter", "sensitivity_dbm",
};

static const char *const kind_words[] = {"ibeacon", "altbeacon", "eddystone_uid", "other", NULL};

struct adv {
	int line;
	int key_line[K_COUNT]; /* 0: not given */
	enum ble_walk_kind kind;
	struct beacon_id id;
	char name[BLE_WALK_NAME_EXT_MAX + 1];
	uint8_t addr[6];
	uint8_t addr_type;
	uint32_t interval_ms;
	int measured_power;
	double noise_db, loss, ple;
	struct waypoint wp[BLE_WALK_WAYPOINTS_MAX];
	size_t nwp;
};

struct ble_walk {
	char name[256];
	int key_line[G_COUNT];
	uint64_t seed;
	int64_t start_us; /* since 1970 */
	int64_t end_us;	  /* since start; < 0: the last waypoint */
	bool extended;
	uint8_t adapter[6];
	int sensitivity;
	struct adv adv[BLE_WALK_ADVERTISERS_MAX];
	size_t n;
};

static int set_err(struct ble_walk_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_err(struct ble_walk_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- parsing ---------------------------------------------------------- */

struct parser {
	struct ble_walk *w;
	const char *name;
	int line;
	struct ble_walk_error *err;
};

static int perr(struct parser *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *ps, int line, const char *fmt, ...)
{
	char what[BLE_WALK_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return set_err(ps->err, -EINVAL, "%s:%d: %s", ps->name, line, what);
}

static bool parse_double(const char *s, double min, double max, double *ret)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || d < min || d > max)
		return false;
	*ret = d;
	return true;
}

static bool parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

/* "5C:3A:91:0E:7B:22" into wire order (least significant byte first). */
static bool parse_addr(const char *s, uint8_t ret[6])
{
	uint8_t b[6];

	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++) {
		if (i < 5 && s[3 * i + 2] != ':')
			return false;
		char two[3] = {s[3 * i], s[3 * i + 1], 0};
		if (beacon_parse_hex(two, &b[i], 1) < 0)
			return false;
	}
	for (int i = 0; i < 6; i++)
		ret[i] = b[5 - i];
	return true;
}

/* "2024-05-14T09:30:00Z" into microseconds since 1970. */
static bool parse_time(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, n = 0;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    (size_t)n != strlen(s) || y < 1970 || y > 2100 || mo < 1 || mo > 12 || d < 1 ||
	    d > 31 || h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*ret = (int64_t)t * US_PER_S;
	return true;
}

static int find_word(const char *const *words, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (words[i] && strcmp(words[i], s) == 0)
			return (int)i;
	return -1;
}

static int global_value(struct parser *ps, int key, const char *v)
{
	struct ble_walk *w = ps->w;
	double d;
	long l;

	switch ((enum global_key)key) {
	case G_SEED: {
		char *end;

		errno = 0;
		w->seed = strtoull(v, &end, 0);
		if (errno || end == v || *end || *v == '-')
			return perr(ps, ps->line,
				    "seed: expected a whole number (0x... allowed), got '%s'", v);
		return 0;
	}
	case G_START:
		if (!parse_time(v, &w->start_us))
			return perr(
			    ps, ps->line,
			    "start: expected a UTC time like 2024-05-14T09:30:00Z, got '%s'", v);
		return 0;
	case G_END_S:
		if (!parse_double(v, 0.001, BLE_WALK_DURATION_MAX_S, &d))
			return perr(ps, ps->line,
				    "end_s: expected seconds from 0.001 to %d, got '%s'",
				    BLE_WALK_DURATION_MAX_S, v);
		w->end_us = (int64_t)llround(d * US_PER_S);
		return 0;
	case G_REPORT:
		if (strcmp(v, "legacy") != 0 && strcmp(v, "extended") != 0)
			return perr(ps, ps->line, "report: expected legacy or extended, got '%s'",
				    v);
		w->extended = strcmp(v, "extended") == 0;
		return 0;
	case G_ADAPTER:
		if (!parse_addr(v, w->adapter))
			return perr(ps, ps->line,
				    "adapter: expected an address like 00:1A:7D:DA:71:13, got '%s'",
				    v);
		return 0;
	case G_SENSITIVITY:
		if (!parse_long(v, -127, 0, &l))
			return perr(
			    ps, ps->line,
			    "sensitivity_dbm: expected a whole number from -127 to 0, got '%s'", v);
		w->sensitivity = (int)l;
		return 0;
	case G_COUNT:
		break;
	}
	return perr(ps, ps->line, "internal: bad key");
}

static int adv_value(struct parser *ps, struct adv *a, int key, const char *v)
{
	double d;
	long l;
	int k;

	switch ((enum adv_key)key) {
	case K_KIND:
		k = find_word(kind_words, 4, v);
		if (k < 0)
			return perr(
			    ps, ps->line,
			    "kind: expected ibeacon, altbeacon, eddystone_uid or other, got '%s'",
			    v);
		a->kind = (enum ble_walk_kind)k;
		return 0;
	case K_UUID:
		if (beacon_parse_uuid(v, a->id.uuid) < 0)
			return perr(ps, ps->line,
				    "uuid: expected 32 hex digits like "
				    "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0, got '%s'",
				    v);
		return 0;
	case K_MAJOR:
	case K_MINOR:
		if (!parse_long(v, 0, 65535, &l))
			return perr(ps, ps->line,
				    "%s: expected a whole number from 0 to 65535, got '%s'",
				    adv_keys[key], v);
		*(key == K_MAJOR ? &a->id.major : &a->id.minor) = (uint16_t)l;
		return 0;
	case K_NAMESPACE:
		if (beacon_parse_hex(v, a->id.uuid, BEACON_NAMESPACE_LEN) < 0)
			return perr(ps, ps->line, "namespace: expected 20 hex digits, got '%s'", v);
		return 0;
	case K_INSTANCE:
		if (beacon_parse_hex(v, a->id.instance, BEACON_INSTANCE_LEN) < 0)
			return perr(ps, ps->line, "instance: expected 12 hex digits, got '%s'", v);
		return 0;
	case K_COMPANY:
		if (!parse_long(v, 0, 65535, &l))
			return perr(ps, ps->line,
				    "company: expected a company id from 0 to 0xFFFF, got '%s'", v);
		a->id.company_id = (uint16_t)l;
		return 0;
	case K_MEASURED_POWER:
		if (!parse_long(v, -110, 0, &l))
			return perr(ps, ps->line,
				    "measured_power: expected dBm at 1 m from -110 to 0, got '%s'",
				    v);
		a->measured_power = (int)l;
		return 0;
	case K_NAME:
		if (strlen(v) == 0 || strlen(v) > BLE_WALK_NAME_EXT_MAX)
			return perr(ps, ps->line, "name: expected 1 to %d bytes, got %zu",
				    BLE_WALK_NAME_EXT_MAX, strlen(v));
		snprintf(a->name, sizeof(a->name), "%s", v);
		return 0;
	case K_ADDR:
		if (!parse_addr(v, a->addr))
			return perr(ps, ps->line,
				    "addr: expected an address like 5C:3A:91:0E:7B:22, got '%s'",
				    v);
		return 0;
	case K_ADDR_TYPE:
		if (strcmp(v, "public") != 0 && strcmp(v, "random") != 0)
			return perr(ps, ps->line, "addr_type: expected public or random, got '%s'",
				    v);
		a->addr_type = strcmp(v, "random") == 0;
		return 0;
	case K_INTERVAL_MS:
		if (!parse_long(v, 20, 10240, &l))
			return perr(
			    ps, ps->line,
			    "interval_ms: expected an advertising interval from 20 to 10240 ms, "
			    "got '%s'",
			    v);
		a->interval_ms = (uint32_t)l;
		return 0;
	case K_NOISE_DB:
		if (!parse_double(v, 0, 20, &d))
			return perr(ps, ps->line,
				    "noise_db: expected a sigma from 0 to 20 dB, got '%s'", v);
		a->noise_db = d;
		return 0;
	case K_LOSS:
		if (!parse_double(v, 0, 1, &d))
			return perr(ps, ps->line, "loss: expected a fraction from 0 to 1, got '%s'",
				    v);
		a->loss = d;
		return 0;
	case K_PATH_LOSS_EXPONENT:
		if (!parse_double(v, 1.5, 6, &d))
			return perr(ps, ps->line,
				    "path_loss_exponent: expected a number from 1.5 to 6, got '%s'",
				    v);
		a->ple = d;
		return 0;
	case K_COUNT:
		break;
	}
	return perr(ps, ps->line, "internal: bad key");
}

static void adv_defaults(struct adv *a, size_t index, int line)
{
	memset(a, 0, sizeof(*a));
	a->line = line;
	a->kind = BLE_WALK_OTHER;
	a->addr_type = 1;
	/* A random static address (top bits 11) unique per advertiser. */
	a->addr[5] = 0xC0;
	a->addr[0] = (uint8_t)(index + 1);
	a->interval_ms = 100;
	a->measured_power = -59;
	a->noise_db = 3.0;
	a->loss = 0.0;
	a->ple = 2.0;
	a->id.company_id = BEACON_COMPANY_RADIUS;
	snprintf(a->name, sizeof(a->name), "LE-Device");
}

static int waypoint_line(struct parser *ps, struct adv *a, char *s)
{
	char *save = NULL, *t = strtok_r(s, " \t", &save), *dist = strtok_r(NULL, " \t", &save),
	     *extra = strtok_r(NULL, " \t", &save);
	struct waypoint *wp;
	double sec;

	if (!t || !dist || extra)
		return perr(
		    ps, ps->line,
		    "expected 'key = value', '[advertiser]' or a waypoint 'time_s distance_m' "
		    "(or 'time_s off')");
	if (a->nwp == BLE_WALK_WAYPOINTS_MAX)
		return perr(ps, ps->line, "more than %d waypoints for the advertiser of line %d",
			    BLE_WALK_WAYPOINTS_MAX, a->line);
	wp = &a->wp[a->nwp];
	if (!parse_double(t, 0, BLE_WALK_DURATION_MAX_S, &sec))
		return perr(ps, ps->line, "waypoint time: expected seconds from 0 to %d, got '%s'",
			    BLE_WALK_DURATION_MAX_S, t);
	wp->t_us = (int64_t)llround(sec * US_PER_S);
	wp->line = ps->line;
	if (strcmp(dist, "off") == 0) {
		wp->off = true;
	} else if (!parse_double(dist, 0.05, 1000, &wp->d)) {
		return perr(
		    ps, ps->line,
		    "waypoint distance: expected metres from 0.05 to 1000 or 'off', got '%s'",
		    dist);
	}
	if (a->nwp > 0 && wp->t_us <= a->wp[a->nwp - 1].t_us)
		return perr(ps, ps->line,
			    "waypoint at %s s is not after the previous one (line %d); times must "
			    "increase",
			    t, a->wp[a->nwp - 1].line);
	if (a->nwp == 0 && wp->off)
		return perr(ps, ps->line,
			    "the first waypoint must be a distance: an advertiser starts where its "
			    "first waypoint is");
	a->nwp++;
	return 0;
}

static int check_adv(struct parser *ps, struct ble_walk *w, struct adv *a)
{
	static const bool allowed[4][K_COUNT] = {
	    /* kind uuid maj min ns inst comp pow name addr atype int noise loss ple */
	    [BLE_WALK_IBEACON] = {1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1},
	    [BLE_WALK_ALTBEACON] = {1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1},
	    [BLE_WALK_EDDYSTONE_UID] = {1, 0, 0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1},
	    [BLE_WALK_OTHER] = {1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
	};
	int k;

	if (!a->key_line[K_KIND])
		return perr(ps, a->line,
			    "[advertiser] has no kind; add 'kind = ibeacon' (or altbeacon, "
			    "eddystone_uid, other)");
	for (k = 0; k < K_COUNT; k++)
		if (a->key_line[k] && !allowed[a->kind][k])
			return perr(ps, a->key_line[k], "%s: not a key of kind %s", adv_keys[k],
				    kind_words[a->kind]);
	if ((a->kind == BLE_WALK_IBEACON || a->kind == BLE_WALK_ALTBEACON) && !a->key_line[K_UUID])
		return perr(ps, a->line, "%s advertiser has no uuid; add 'uuid = ...'",
			    kind_words[a->kind]);
	if (a->kind == BLE_WALK_EDDYSTONE_UID &&
	    (!a->key_line[K_NAMESPACE] || !a->key_line[K_INSTANCE]))
		return perr(ps, a->line,
			    "eddystone_uid advertiser needs namespace (20 hex digits) and instance "
			    "(12 hex digits)");
	if (a->kind == BLE_WALK_OTHER &&
	    strlen(a->name) > (w->extended ? BLE_WALK_NAME_EXT_MAX : BLE_WALK_NAME_MAX))
		return perr(
		    ps, a->key_line[K_NAME],
		    "name: %zu bytes do not fit a legacy advertisement (at most %d); shorten "
		    "it or set 'report = extended'",
		    strlen(a->name), BLE_WALK_NAME_MAX);
	if (a->nwp < 2)
		return perr(
		    ps, a->line,
		    "[advertiser] needs at least two waypoints 'time_s distance_m' (where it "
		    "starts and where it ends)");
	switch (a->kind) {
	case BLE_WALK_IBEACON:
		a->id.kind = BEACON_IBEACON;
		a->id.company_id = BEACON_COMPANY_APPLE;
		break;
	case BLE_WALK_ALTBEACON:
		a->id.kind = BEACON_ALTBEACON;
		break;
	case BLE_WALK_EDDYSTONE_UID:
		a->id.kind = BEACON_EDDYSTONE_UID;
		a->id.company_id = 0;
		break;
	case BLE_WALK_OTHER:
		break;
	}
	a->id.measured_power = (int8_t)a->measured_power;
	if (a->kind == BLE_WALK_EDDYSTONE_UID) {
		/* What a decoder will report: the 0 m value on air is rounded to int8. */
		int p0 = a->measured_power + BEACON_EDDYSTONE_LOSS_1M;

		a->id.measured_power = (int8_t)((p0 > 127 ? 127 : p0) - BEACON_EDDYSTONE_LOSS_1M);
	}
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s && isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int ble_walk_parse(const char *name, const char *text, size_t len, struct ble_walk **ret,
		   struct ble_walk_error *err)
{
	struct parser ps = {.name = name ? name : "walk", .err = err};
	struct ble_walk *w;
	struct adv *cur = NULL;
	size_t off = 0;
	int rc = 0;

	*ret = NULL;
	if (len > BLE_WALK_FILE_MAX)
		return set_err(err, -EFBIG, "%s: %zu bytes; a walk file is at most %d bytes",
			       ps.name, len, BLE_WALK_FILE_MAX);
	w = calloc(1, sizeof(*w));
	if (!w)
		return set_err(err, -ENOMEM, "%s: out of memory", ps.name);
	ps.w = w;
	snprintf(w->name, sizeof(w->name), "%s", ps.name);
	w->seed = 1;
	parse_time("2024-05-14T09:30:00Z", &w->start_us);
	w->end_us = -1;
	parse_addr("00:1A:7D:DA:71:13", w->adapter);
	w->sensitivity = -100;

	while (off < len && rc == 0) {
		char line[BLE_WALK_LINE_MAX + 2], *s, *eq, *hash;
		size_t n = 0;

		ps.line++;
		while (off + n < len && text[off + n] != '\n')
			n++;
		if (n > BLE_WALK_LINE_MAX) {
			rc = perr(&ps, ps.line, "line longer than %d bytes", BLE_WALK_LINE_MAX);
			break;
		}
		memcpy(line, text + off, n);
		line[n] = '\0';
		off += n + 1;
		if (memchr(line, '\0', n)) {
			rc = perr(&ps, ps.line, "NUL byte in the line; a walk file is text");
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			if (strcmp(s, "[advertiser]") != 0) {
				rc = perr(&ps, ps.line,
					  "unknown section '%s'; expected [advertiser]", s);
				break;
			}
			if (w->n == BLE_WALK_ADVERTISERS_MAX) {
				rc = perr(&ps, ps.line, "more than %d advertisers",
					  BLE_WALK_ADVERTISERS_MAX);
				break;
			}
			cur = &w->adv[w->n];
			adv_defaults(cur, w->n, ps.line);
			w->n++;
			continue;
		}
		eq = strchr(s, '=');
		if (eq) {
			char *key, *val;
			int k;

			*eq = '\0';
			key = trim(s);
			val = trim(eq + 1);
			if (!*val) {
				rc = perr(&ps, ps.line, "%s: no value after '='", key);
				break;
			}
			if (!cur) {
				k = find_word(global_keys, G_COUNT, key);
				if (k < 0) {
					rc =
					    perr(&ps, ps.line,
						 "unknown key '%s' before any [advertiser]; "
						 "expected seed, "
						 "start, end_s, report, adapter or sensitivity_dbm",
						 key);
					break;
				}
				if (w->key_line[k]) {
					rc =
					    perr(&ps, ps.line, "%s: given twice (first at line %d)",
						 key, w->key_line[k]);
					break;
				}
				w->key_line[k] = ps.line;
				rc = global_value(&ps, k, val);
			} else {
				k = find_word(adv_keys, K_COUNT, key);
				if (k < 0) {
					rc = perr(
					    &ps, ps.line,
					    "unknown key '%s' in [advertiser]; expected kind, "
					    "uuid, "
					    "major, minor, namespace, instance, company, "
					    "measured_power, name, addr, addr_type, interval_ms, "
					    "noise_db, loss or path_loss_exponent",
					    key);
					break;
				}
				if (cur->key_line[k]) {
					rc =
					    perr(&ps, ps.line, "%s: given twice (first at line %d)",
						 key, cur->key_line[k]);
					break;
				}
				cur->key_line[k] = ps.line;
				rc = adv_value(&ps, cur, k, val);
			}
			continue;
		}
		if (!cur) {
			rc = perr(
			    &ps, ps.line,
			    "a waypoint or unknown line before any [advertiser]; start one with "
			    "'[advertiser]'");
			break;
		}
		rc = waypoint_line(&ps, cur, s);
	}
	if (rc == 0 && w->n == 0)
		rc = set_err(err, -EINVAL, "%s: no [advertiser]; a walk needs at least one",
			     ps.name);
	for (size_t i = 0; rc == 0 && i < w->n; i++)
		rc = check_adv(&ps, w, &w->adv[i]);
	if (rc < 0) {
		free(w);
		return rc;
	}
	*ret = w;
	return 0;
}

int ble_walk_load(const char *path, struct ble_walk **ret, struct ble_walk_error *err)
{
	char *buf;
	size_t n;
	FILE *f;
	int rc;

	*ret = NULL;
	f = fopen(path, "rb");
	if (!f)
		return set_err(err, -errno, "%s: cannot open: %s", path, strerror(errno));
	buf = malloc(BLE_WALK_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return set_err(err, -ENOMEM, "%s: out of memory", path);
	}
	n = fread(buf, 1, BLE_WALK_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = set_err(err, -EIO, "%s: read error", path);
	} else if (n > BLE_WALK_FILE_MAX) {
		rc = set_err(err, -EFBIG, "%s: over %d bytes; a walk file is at most that", path,
			     BLE_WALK_FILE_MAX);
	} else {
		rc = ble_walk_parse(path, buf, n, ret, err);
	}
	free(buf);
	fclose(f);
	return rc;
}

void ble_walk_free(struct ble_walk *w)
{
	free(w);
}

size_t ble_walk_count(const struct ble_walk *w)
{
	return w->n;
}

int ble_walk_info(const struct ble_walk *w, size_t i, struct ble_walk_info *ret)
{
	const struct adv *a;

	if (i >= w->n)
		return -ENOENT;
	a = &w->adv[i];
	memset(ret, 0, sizeof(*ret));
	ret->kind = a->kind;
	ret->id = a->id;
	memcpy(ret->addr, a->addr, 6);
	ret->addr_type = a->addr_type;
	ret->interval_ms = a->interval_ms;
	ret->line = a->line;
	return 0;
}

/* ---- generating ------------------------------------------------------- */

/* splitmix64: a small PRNG with the same output on every libc and machine. */
static uint64_t next_u64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double next_unit(uint64_t *s)
{
	return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Standard normal from 12 uniforms (Irwin-Hall): no libm, so bit-identical everywhere. */
static double next_gauss(uint64_t *s)
{
	double sum = 0;

	for (int i = 0; i < 12; i++)
		sum += next_unit(s);
	return sum - 6.0;
}

static size_t adv_data(const struct adv *a, uint8_t *out)
{
	size_t n = 0;

	/* Flags: LE General Discoverable, BR/EDR not supported. */
	out[n++] = 0x02;
	out[n++] = 0x01;
	out[n++] = 0x06;
	switch (a->kind) {
	case BLE_WALK_IBEACON:
		out[n++] = 0x1A;
		out[n++] = 0xFF;
		out[n++] = BEACON_COMPANY_APPLE & 0xFF;
		out[n++] = BEACON_COMPANY_APPLE >> 8;
		out[n++] = 0x02;
		out[n++] = 0x15;
		memcpy(out + n, a->id.uuid, 16);
		n += 16;
		out[n++] = (uint8_t)(a->id.major >> 8);
		out[n++] = (uint8_t)a->id.major;
		out[n++] = (uint8_t)(a->id.minor >> 8);
		out[n++] = (uint8_t)a->id.minor;
		out[n++] = (uint8_t)(int8_t)a->measured_power;
		break;
	case BLE_WALK_ALTBEACON:
		out[n++] = 0x1B;
		out[n++] = 0xFF;
		out[n++] = (uint8_t)a->id.company_id;
		out[n++] = (uint8_t)(a->id.company_id >> 8);
		out[n++] = 0xBE;
		out[n++] = 0xAC;
		memcpy(out + n, a->id.uuid, 16);
		n += 16;
		out[n++] = (uint8_t)(a->id.major >> 8);
		out[n++] = (uint8_t)a->id.major;
		out[n++] = (uint8_t)(a->id.minor >> 8);
		out[n++] = (uint8_t)a->id.minor;
		out[n++] = (uint8_t)(int8_t)a->measured_power;
		out[n++] = 0x00; /* manufacturer reserved */
		break;
	case BLE_WALK_EDDYSTONE_UID: {
		int p0 = a->measured_power + BEACON_EDDYSTONE_LOSS_1M;

		/* Complete list of 16-bit service UUIDs: 0xFEAA, then its service data. */
		out[n++] = 0x03;
		out[n++] = 0x03;
		out[n++] = BEACON_EDDYSTONE_UUID & 0xFF;
		out[n++] = BEACON_EDDYSTONE_UUID >> 8;
		out[n++] = 0x17;
		out[n++] = 0x16;
		out[n++] = BEACON_EDDYSTONE_UUID & 0xFF;
		out[n++] = BEACON_EDDYSTONE_UUID >> 8;
		out[n++] = 0x00; /* frame type UID */
		out[n++] = (uint8_t)(int8_t)(p0 > 127 ? 127 : p0);
		memcpy(out + n, a->id.uuid, BEACON_NAMESPACE_LEN);
		n += BEACON_NAMESPACE_LEN;
		memcpy(out + n, a->id.instance, BEACON_INSTANCE_LEN);
		n += BEACON_INSTANCE_LEN;
		out[n++] = 0x00;
		out[n++] = 0x00;
		break;
	}
	case BLE_WALK_OTHER: {
		size_t l = strlen(a->name);

		out[n++] = (uint8_t)(l + 1);
		out[n++] = 0x09; /* complete local name */
		memcpy(out + n, a->name, l);
		n += l;
		break;
	}
	}
	return n;
}

/* One LE (Extended) Advertising Report event with one report; its length. */
static size_t encode_event(const struct ble_walk *w, const struct adv *a, size_t index, int8_t rssi,
			   const uint8_t *data, size_t dlen, uint8_t *out)
{
	bool beacon = a->kind != BLE_WALK_OTHER;
	size_t n = 0;

	out[n++] = HCI_EVT_LE_META;
	n++; /* parameter length, below */
	if (!w->extended) {
		out[n++] = HCI_LE_SUB_ADV_REPORT;
		out[n++] = 1;
		out[n++] = beacon ? 0x03 : 0x00; /* ADV_NONCONN_IND : ADV_IND */
		out[n++] = a->addr_type;
		memcpy(out + n, a->addr, 6);
		n += 6;
		out[n++] = (uint8_t)dlen;
		memcpy(out + n, data, dlen);
		n += dlen;
		out[n++] = (uint8_t)rssi;
	} else {
		/* Legacy PDUs fit 31 bytes and carry bit 4; longer data is an
		 * extended (non-legacy, non-connectable) advertisement on LE 1M. */
		bool legacy = dlen <= HCI_LEGACY_DATA_MAX;
		uint16_t props = legacy ? (beacon ? 0x0010 : 0x0013) : 0x0000;

		out[n++] = HCI_LE_SUB_EXT_ADV_REPORT;
		out[n++] = 1;
		out[n++] = (uint8_t)props;
		out[n++] = (uint8_t)(props >> 8);
		out[n++] = a->addr_type;
		memcpy(out + n, a->addr, 6);
		n += 6;
		out[n++] = 0x01;				    /* primary PHY: LE 1M */
		out[n++] = legacy ? 0x00 : 0x01;		    /* secondary PHY */
		out[n++] = legacy ? 0xFF : (uint8_t)(index & 0x0F); /* SID */
		out[n++] = BLE_TX_POWER_NONE;
		out[n++] = (uint8_t)rssi;
		out[n++] = 0x00; /* periodic advertising interval */
		out[n++] = 0x00;
		out[n++] = 0x00; /* direct address type and address */
		memset(out + n, 0, 6);
		n += 6;
		out[n++] = (uint8_t)dlen;
		memcpy(out + n, data, dlen);
		n += dlen;
	}
	out[1] = (uint8_t)(n - 2);
	return n;
}

struct gen {
	uint64_t rng;
	int64_t next_us; /* since start */
	size_t seg;
	bool done;
};

static int64_t last_time(const struct ble_walk *w)
{
	int64_t end = 0;

	for (size_t i = 0; i < w->n; i++)
		if (w->adv[i].wp[w->adv[i].nwp - 1].t_us > end)
			end = w->adv[i].wp[w->adv[i].nwp - 1].t_us;
	return end;
}

/* Where a is at t: 1 with *ret_d, 0 when it is silent. */
static int position(const struct adv *a, struct gen *g, int64_t t, double *ret_d)
{
	const struct waypoint *p, *q;

	while (g->seg + 1 < a->nwp && a->wp[g->seg + 1].t_us <= t)
		g->seg++;
	p = &a->wp[g->seg];
	if (p->off || t < p->t_us)
		return 0;
	if (g->seg + 1 == a->nwp || a->wp[g->seg + 1].off) {
		*ret_d = p->d;
		return 1;
	}
	q = &a->wp[g->seg + 1];
	*ret_d = p->d + (q->d - p->d) * (double)(t - p->t_us) / (double)(q->t_us - p->t_us);
	return 1;
}

static int write_setup(const struct ble_walk *w, struct btsnoop_writer *bw, int64_t t0,
		       struct ble_walk_stats *st, struct btsnoop_error *e)
{
	/* Legacy: LE Set Scan Parameters (passive, 100 ms interval and window)
	 * and LE Set Scan Enable. Extended: their LE Set Extended Scan
	 * counterparts (1M PHY). Each answered by Command Complete, status 0. */
	static const uint8_t params[] = {0x0b, 0x20, 0x07, 0x00, 0xa0,
					 0x00, 0xa0, 0x00, 0x00, 0x00};
	static const uint8_t params_done[] = {0x0e, 0x04, 0x01, 0x0b, 0x20, 0x00};
	static const uint8_t enable[] = {0x0c, 0x20, 0x02, 0x01, 0x00};
	static const uint8_t enable_done[] = {0x0e, 0x04, 0x01, 0x0c, 0x20, 0x00};
	static const uint8_t ext_params[] = {0x41, 0x20, 0x08, 0x00, 0x00, 0x01,
					     0x00, 0xa0, 0x00, 0xa0, 0x00};
	static const uint8_t ext_params_done[] = {0x0e, 0x04, 0x01, 0x41, 0x20, 0x00};
	static const uint8_t ext_enable[] = {0x42, 0x20, 0x06, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t ext_enable_done[] = {0x0e, 0x04, 0x01, 0x42, 0x20, 0x00};
	int rc;

	if ((rc = btsnoop_writer_new_index(bw, t0 - 5 * US_PER_MS, 0, 1, w->adapter, "hci0", e)) <
	    0)
		return rc;
	if (w->extended) {
		if ((rc = btsnoop_writer_packet(bw, t0 - 4 * US_PER_MS, BTSNOOP_PACKET_COMMAND, 0,
						ext_params, sizeof(ext_params), e)) < 0 ||
		    (rc = btsnoop_writer_event(bw, t0 - 3 * US_PER_MS, ext_params_done,
					       sizeof(ext_params_done), e)) < 0 ||
		    (rc = btsnoop_writer_packet(bw, t0 - 2 * US_PER_MS, BTSNOOP_PACKET_COMMAND, 0,
						ext_enable, sizeof(ext_enable), e)) < 0 ||
		    (rc = btsnoop_writer_event(bw, t0 - 1 * US_PER_MS, ext_enable_done,
					       sizeof(ext_enable_done), e)) < 0)
			return rc;
	} else {
		if ((rc = btsnoop_writer_packet(bw, t0 - 4 * US_PER_MS, BTSNOOP_PACKET_COMMAND, 0,
						params, sizeof(params), e)) < 0 ||
		    (rc = btsnoop_writer_event(bw, t0 - 3 * US_PER_MS, params_done,
					       sizeof(params_done), e)) < 0 ||
		    (rc = btsnoop_writer_packet(bw, t0 - 2 * US_PER_MS, BTSNOOP_PACKET_COMMAND, 0,
						enable, sizeof(enable), e)) < 0 ||
		    (rc = btsnoop_writer_event(bw, t0 - 1 * US_PER_MS, enable_done,
					       sizeof(enable_done), e)) < 0)
			return rc;
	}
	st->records += 5;
	return 0;
}

static int write_teardown(const struct ble_walk *w, struct btsnoop_writer *bw, int64_t t,
			  struct ble_walk_stats *st, struct btsnoop_error *e)
{
	static const uint8_t disable[] = {0x0c, 0x20, 0x02, 0x00, 0x00};
	static const uint8_t disable_done[] = {0x0e, 0x04, 0x01, 0x0c, 0x20, 0x00};
	static const uint8_t ext_disable[] = {0x42, 0x20, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t ext_disable_done[] = {0x0e, 0x04, 0x01, 0x42, 0x20, 0x00};
	int rc;

	if ((rc = btsnoop_writer_packet(
		 bw, t, BTSNOOP_PACKET_COMMAND, 0, w->extended ? ext_disable : disable,
		 w->extended ? sizeof(ext_disable) : sizeof(disable), e)) < 0 ||
	    (rc = btsnoop_writer_event(
		 bw, t + US_PER_MS, w->extended ? ext_disable_done : disable_done,
		 w->extended ? sizeof(ext_disable_done) : sizeof(disable_done), e)) < 0)
		return rc;
	st->records += 2;
	return 0;
}

static int write_reports(const struct ble_walk *w, struct btsnoop_writer *bw, int64_t end_us,
			 struct ble_walk_stats *st, struct btsnoop_error *e)
{
	struct gen g[BLE_WALK_ADVERTISERS_MAX];
	uint8_t data[BLE_ADV_DATA_MAX], evt[HCI_EVENT_LEN_MAX];
	size_t i;
	int rc;

	for (i = 0; i < w->n; i++) {
		const struct adv *a = &w->adv[i];

		memset(&g[i], 0, sizeof(g[i]));
		/* One stream per advertiser: adding one does not move the others. */
		g[i].rng = w->seed ^ (0xD1B54A32D192ED03ull * (i + 1));
		g[i].next_us = a->wp[0].t_us +
			       (int64_t)(next_u64(&g[i].rng) % ((uint64_t)a->interval_ms * 1000));
	}
	for (;;) {
		const struct adv *a;
		struct gen *gi = NULL;
		double d, rssi_f, noise, u;
		size_t dlen, elen, best = 0;
		long rssi;

		for (i = 0; i < w->n; i++) {
			if (g[i].done)
				continue;
			if (g[i].next_us > end_us ||
			    g[i].next_us > w->adv[i].wp[w->adv[i].nwp - 1].t_us) {
				g[i].done = true;
				continue;
			}
			if (!gi || g[i].next_us < gi->next_us) {
				gi = &g[i];
				best = i;
			}
		}
		if (!gi)
			return 0;
		a = &w->adv[best];
		/* Draw for every advertising event, heard or not, so one walk's
		 * stream does not depend on where it is silent. */
		noise = next_gauss(&gi->rng) * a->noise_db;
		u = next_unit(&gi->rng);
		if (position(a, gi, gi->next_us, &d)) {
			rssi_f = a->measured_power - 10.0 * a->ple * log10(d) + noise;
			rssi = lround(rssi_f);
			if (rssi > 20)
				rssi = 20;
			if (u < a->loss) {
				st->lost++;
			} else if (rssi < w->sensitivity) {
				st->unheard++;
			} else {
				if (st->reports == BLE_WALK_REPORTS_MAX)
					return -E2BIG;
				dlen = adv_data(a, data);
				elen = encode_event(w, a, best, (int8_t)rssi, data, dlen, evt);
				rc = btsnoop_writer_event(bw, w->start_us + gi->next_us, evt, elen,
							  e);
				if (rc < 0)
					return rc;
				st->reports++;
				st->records++;
			}
		}
		gi->next_us += (int64_t)a->interval_ms * US_PER_MS +
			       (int64_t)(next_u64(&gi->rng) % (ADV_DELAY_MAX_US + 1));
	}
}

int ble_walk_write(const struct ble_walk *w, const char *path, struct ble_walk_stats *ret_stats,
		   struct ble_walk_error *err)
{
	struct ble_walk_stats st = {0};
	struct btsnoop_writer *bw;
	struct btsnoop_error e = {{0}};
	int64_t end_us = w->end_us >= 0 ? w->end_us : last_time(w);
	int rc, rc2;

	rc = btsnoop_writer_create(path, BTSNOOP_FORMAT_MONITOR, &bw, &e);
	if (rc < 0)
		return set_err(err, rc, "%s", e.msg);
	rc = write_setup(w, bw, w->start_us, &st, &e);
	if (rc == 0)
		rc = write_reports(w, bw, end_us, &st, &e);
	if (rc == -E2BIG)
		snprintf(e.msg, sizeof(e.msg),
			 "%.160s: the walk makes more than %d reports; shorten it or raise "
			 "interval_ms",
			 path, BLE_WALK_REPORTS_MAX);
	if (rc == 0)
		rc = write_teardown(w, bw, w->start_us + end_us, &st, &e);
	rc2 = btsnoop_writer_close(bw, rc < 0 ? NULL : &e);
	if (rc == 0)
		rc = rc2;
	st.duration_us = end_us;
	if (ret_stats)
		*ret_stats = st;
	if (rc < 0)
		return set_err(err, rc, "%s", e.msg);
	return 0;
}

/* ---- replay ----------------------------------------------------------- */

struct replay {
	struct proximity *px;
	ble_replay_fn fn;
	void *ctx;
	int64_t base_us; /* the first record's time: the tracker's 0 */
	uint64_t now_ns; /* never goes back */
	struct ble_replay_stats *st;
};

static int deliver_events(struct replay *r, const struct proximity_event *ev, int n,
			  uint64_t offset)
{
	for (int i = 0; i < n; i++) {
		struct ble_replay_item it = {
		    .kind = BLE_REPLAY_EVENT,
		    .ts_us = r->base_us + (int64_t)(ev[i].ts_ns / 1000),
		    .offset = offset,
		    .event = &ev[i],
		};
		int rc = r->fn ? r->fn(&it, r->ctx) : 0;

		if (rc)
			return rc;
	}
	return 0;
}

static int replay_record(struct replay *r, const struct btsnoop_record *rec)
{
	struct ble_adv_report rep[HCI_ADV_REPORTS_MAX];
	struct proximity_event ev[PROXIMITY_SIGHTING_EVENTS_MAX];
	int n, rc, i;

	if (rec->ts_us > r->base_us && (uint64_t)(rec->ts_us - r->base_us) * 1000 > r->now_ns)
		r->now_ns = (uint64_t)(rec->ts_us - r->base_us) * 1000;
	do {
		n = proximity_tick(r->px, r->now_ns, ev, PROXIMITY_SIGHTING_EVENTS_MAX);
		rc = deliver_events(r, ev, n, rec->offset);
		if (rc)
			return rc;
	} while (n == PROXIMITY_SIGHTING_EVENTS_MAX);

	if (rec->type != BTSNOOP_PACKET_EVENT)
		return 0;
	r->st->hci_events++;
	n = hci_parse_event(rec->data, rec->len, rep, HCI_ADV_REPORTS_MAX);
	if (n < 0) {
		r->st->malformed_events++;
		return 0;
	}
	if (n == 0)
		return 0;
	r->st->adv_events++;
	r->st->reports += (uint64_t)n;
	for (i = 0; i < n; i++) {
		struct proximity_sighting s = {0};
		struct proximity_device_info info;
		struct ble_replay_item it = {
		    .kind = BLE_REPLAY_SIGHTING,
		    .ts_us = rec->ts_us,
		    .offset = rec->offset,
		    .report = &rep[i],
		    .beacon = &s.id,
		};
		int ne;

		if (beacon_decode_report(&rep[i], &s.id, &r->st->beacons) != 1)
			continue;
		memcpy(s.addr, rep[i].addr, 6);
		s.rssi = rep[i].rssi;
		s.ts_ns = r->now_ns;
		ne = proximity_sighting(r->px, &s, ev, PROXIMITY_SIGHTING_EVENTS_MAX);
		if (ne < 0)
			return ne;
		if (proximity_lookup(r->px, &s.id, &info) == 1 && rep[i].rssi != BLE_RSSI_NONE) {
			it.tracked = true;
			it.track = &info;
		}
		rc = r->fn ? r->fn(&it, r->ctx) : 0;
		if (rc)
			return rc;
		rc = deliver_events(r, ev, ne, rec->offset);
		if (rc)
			return rc;
	}
	return 0;
}

int ble_walk_replay(const char *path, const struct proximity_params *p, ble_replay_fn fn, void *ctx,
		    struct ble_replay_stats *ret_stats, struct ble_walk_error *err)
{
	struct proximity_params defaults;
	struct ble_replay_stats st = {0};
	struct replay r = {.fn = fn, .ctx = ctx, .st = &st};
	struct btsnoop_reader *rd = NULL;
	struct btsnoop_record rec;
	struct btsnoop_error e = {{0}};
	struct config_error ce;
	bool first = true;
	int rc;

	if (!p) {
		proximity_params_default(&defaults);
		p = &defaults;
	}
	rc = proximity_params_check(p, &ce);
	if (rc < 0) {
		set_err(err, rc, "%s", ce.msg);
		goto out;
	}
	rc = proximity_new(p, &r.px);
	if (rc < 0) {
		set_err(err, rc, "out of memory");
		goto out;
	}
	rc = btsnoop_reader_open(path, &rd, &e);
	if (rc < 0) {
		set_err(err, rc, "%s", e.msg);
		goto out;
	}
	while ((rc = btsnoop_reader_next(rd, &rec, &e)) > 0) {
		st.records++;
		if (first) {
			r.base_us = rec.ts_us;
			first = false;
		}
		rc = replay_record(&r, &rec);
		if (rc) {
			if (rc > 0)
				rc = 0;
			goto out;
		}
	}
	if (rc < 0)
		set_err(err, rc, "%s", e.msg);
out:
	if (r.px)
		proximity_get_stats(r.px, &st.proximity);
	if (ret_stats)
		*ret_stats = st;
	btsnoop_reader_free(rd);
	proximity_free(r.px);
	return rc;
}
