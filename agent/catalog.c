#include "agent/catalog.h"

#include "firmware/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- names ------------------------------------------------------------ */

static const char *const category_names[CATALOG_CATEGORY_COUNT] = {
    [CATALOG_CATEGORY_MOBILE] = "mobile",
    [CATALOG_CATEGORY_BROADBAND] = "broadband",
    [CATALOG_CATEGORY_TV] = "tv",
    [CATALOG_CATEGORY_STREAMING] = "streaming",
    [CATALOG_CATEGORY_SECURITY] = "security",
    [CATALOG_CATEGORY_DEVICES] = "devices",
    [CATALOG_CATEGORY_ADDONS] = "addons",
};

const char *catalog_category_name(enum catalog_category c)
{
	if ((unsigned)c >= CATALOG_CATEGORY_COUNT)
		return NULL;
	return category_names[c];
}

int catalog_category_from_name(const char *s, enum catalog_category *ret)
{
	for (int i = 0; i < CATALOG_CATEGORY_COUNT; i++)
		if (strcmp(s, category_names[i]) == 0) {
			*ret = (enum catalog_category)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const unit_names[CATALOG_UNIT_COUNT] = {
    [CATALOG_UNIT_MONEY] = "money",
    [CATALOG_UNIT_PERCENT] = "percent",
    [CATALOG_UNIT_GB] = "GB",
    [CATALOG_UNIT_MBPS] = "Mbps",
    [CATALOG_UNIT_CHANNELS] = "channels",
    [CATALOG_UNIT_SCREENS] = "screens",
    [CATALOG_UNIT_LINES] = "lines",
    [CATALOG_UNIT_DEVICES] = "devices",
    [CATALOG_UNIT_MESH_POINTS] = "mesh points",
    [CATALOG_UNIT_CAMERAS] = "cameras",
    [CATALOG_UNIT_SENSORS] = "sensors",
    [CATALOG_UNIT_MONTHS] = "months",
    [CATALOG_UNIT_DAYS] = "days",
    [CATALOG_UNIT_HOURS] = "hours",
    [CATALOG_UNIT_MINUTES] = "minutes",
    [CATALOG_UNIT_COUNTRIES] = "countries",
    [CATALOG_UNIT_INCHES] = "inches",
    [CATALOG_UNIT_MEGAPIXELS] = "MP",
    [CATALOG_UNIT_MAH] = "mAh",
};

const char *catalog_unit_name(enum catalog_unit u)
{
	if ((unsigned)u >= CATALOG_UNIT_COUNT)
		return NULL;
	return unit_names[u];
}

static const struct catalog_spec_key spec_keys[] = {
    {"data_gb", "data", CATALOG_UNIT_GB, true},
    {"hotspot_gb", "hotspot data", CATALOG_UNIT_GB, true},
    {"lines", "lines", CATALOG_UNIT_LINES, false},
    {"minutes", "call minutes", CATALOG_UNIT_MINUTES, true},
    {"roaming_countries", "roaming countries", CATALOG_UNIT_COUNTRIES, false},
    {"download_mbps", "download speed", CATALOG_UNIT_MBPS, false},
    {"upload_mbps", "upload speed", CATALOG_UNIT_MBPS, false},
    {"mesh_points", "mesh Wi-Fi points", CATALOG_UNIT_MESH_POINTS, false},
    {"channels", "channels", CATALOG_UNIT_CHANNELS, false},
    {"streams", "screens at once", CATALOG_UNIT_SCREENS, false},
    {"dvr_hours", "cloud recording", CATALOG_UNIT_HOURS, true},
    {"cameras", "cameras", CATALOG_UNIT_CAMERAS, false},
    {"sensors", "sensors", CATALOG_UNIT_SENSORS, false},
    {"video_history_days", "video history", CATALOG_UNIT_DAYS, false},
    {"devices", "devices covered", CATALOG_UNIT_DEVICES, false},
    {"storage_gb", "storage", CATALOG_UNIT_GB, false},
    {"screen_inches", "screen", CATALOG_UNIT_INCHES, false},
    {"camera_mp", "camera", CATALOG_UNIT_MEGAPIXELS, false},
    {"battery_mah", "battery", CATALOG_UNIT_MAH, false},
    {"warranty_months", "warranty", CATALOG_UNIT_MONTHS, false},
    {"validity_days", "valid for", CATALOG_UNIT_DAYS, false},
};
#define N_SPEC_KEYS (sizeof(spec_keys) / sizeof(spec_keys[0]))

const struct catalog_spec_key *catalog_spec_keys(size_t *ret_count)
{
	*ret_count = N_SPEC_KEYS;
	return spec_keys;
}

/* ---- the catalog and its arena ---------------------------------------- */

/* Everything the catalog hands out lives in these chunks, freed at once. */
struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct catalog {
	char *dir;
	struct arena_chunk *arena;
	struct catalog_telco telco;
	bool have_telco;
	const char *telco_file;
	struct catalog_product products[CATALOG_PRODUCTS_MAX];
	size_t n_products;
	struct catalog_competitor competitors[CATALOG_COMPETITORS_MAX];
	size_t n_competitors;
	struct catalog_promotion promotions[CATALOG_PROMOTIONS_MAX];
	size_t n_promotions;
};

#define ARENA_CHUNK (64 * 1024)

static void *arena_alloc(struct catalog *c, size_t n)
{
	struct arena_chunk *ch = c->arena;
	size_t align = sizeof(max_align_t);
	void *p;

	n = (n + align - 1) / align * align;
	if (!n)
		n = align;
	if (!ch || ch->size - ch->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		ch = malloc(sizeof(*ch) + size);
		if (!ch)
			return NULL;
		ch->size = size;
		ch->used = 0;
		ch->next = c->arena;
		c->arena = ch;
	}
	p = (char *)ch->data + ch->used;
	ch->used += n;
	memset(p, 0, n);
	return p;
}

static char *arena_strdup(struct catalog *c, const char *s, bool lower)
{
	size_t n = strlen(s);
	char *d = arena_alloc(c, n + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		d[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
	return d;
}

void catalog_free(struct catalog *c)
{
	struct arena_chunk *ch, *next;

	if (!c)
		return;
	for (ch = c->arena; ch; ch = next) {
		next = ch->next;
		free(ch);
	}
	free(c->dir);
	free(c);
}

/* ---- dates and money -------------------------------------------------- */

/* Howard Hinnant's days_from_civil / civil_from_days. */
static int32_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void civil_from_days(int32_t z, int *y, int *m, int *d)
{
	z += 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	int doe = z - era * 146097;
	int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

int catalog_date_parse(const char *s, int32_t *ret)
{
	int y, m, d;

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
			return -EINVAL;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -EINVAL;
	*ret = days_from_civil(y, m, d);
	return 0;
}

void catalog_date_format(int32_t day, char buf[11])
{
	int y, m, d;

	civil_from_days(day, &y, &m, &d);
	snprintf(buf, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
		 (unsigned)d % 100u);
}

int catalog_date_weekday(int32_t day)
{
	/* 1970-01-01 was a Thursday (3 with Monday = 0). */
	int w = (int)((day % 7 + 7 + 3) % 7);

	return w;
}

void catalog_format_cents(int64_t cents, char buf[24])
{
	uint64_t a = cents < 0 ? (uint64_t)(-(cents + 1)) + 1 : (uint64_t)cents;

	snprintf(buf, 24, "%s%llu.%02llu", cents < 0 ? "-" : "", (unsigned long long)(a / 100),
		 (unsigned long long)(a % 100));
}

/* A JSON number as fixed point x 100, if it has at most 2 decimals. */
static bool to_centi(double v, int64_t *ret)
{
	double x = v * 100.0;
	double r;

	if (!isfinite(v) || fabs(v) > 1e12)
		return false;
	r = nearbyint(x);
	if (fabs(x - r) > 1e-6 * (fabs(x) > 1 ? fabs(x) : 1))
		return false;
	*ret = (int64_t)r;
	return true;
}

/* ---- the loader's error reporting -------------------------------------- */

struct loader {
	struct catalog *c;
	const char *path; /* "catalog/tv.json" (arena) */
	char entry[256];  /* "product 'tv-family-plus'" */
	char *err;
	size_t errlen;
};

static int fail(struct loader *L, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *L, int rc, const char *fmt, ...)
{
	va_list ap;

	if (L->err && L->errlen) {
		va_start(ap, fmt);
		vsnprintf(L->err, L->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* "<file>: <entry>: field '<field>': <what>" */
static int bad(struct loader *L, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct loader *L, const char *field, const char *fmt, ...)
{
	char what[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(L, -EINVAL, "%s: %s: field '%s': %s", L->path, L->entry, field, what);
}

/* What a JSON value looks like, for "got ..." in messages. */
static const char *got(const cJSON *v, char *buf, size_t len)
{
	if (!v)
		return "nothing";
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		size_t n = strlen(s);

		if (n > 40)
			snprintf(buf, len, "\"%.37s...\" (%zu bytes)", s, n);
		else
			snprintf(buf, len, "\"%s\"", s);
		return buf;
	}
	if (cJSON_IsNumber(v)) {
		snprintf(buf, len, "%.10g", v->valuedouble);
		return buf;
	}
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "a list";
	if (cJSON_IsObject(v))
		return "an object";
	return "something else";
}

#define GOT(v) got((v), gotbuf, sizeof(gotbuf))

static bool valid_id(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CATALOG_ID_MAX || !islower((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-')
			return false;
	return s[-1] != '-';
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n')
			return true;
	return false;
}

/* Every key of obj is in allowed (NULL-terminated). */
static int check_keys(struct loader *L, const cJSON *obj, const char *const *allowed,
		      const char *prefix)
{
	const cJSON *it;
	char list[400];
	char field[96];
	size_t off = 0;

	cJSON_ArrayForEach(it, obj)
	{
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			if (strcmp(it->string, *a) == 0)
				ok = true;
		if (ok)
			continue;
		list[0] = '\0';
		for (const char *const *a = allowed; *a && off < sizeof(list) - 1; a++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						a == allowed ? "" : ", ", *a);
		snprintf(field, sizeof(field), "%s%s", prefix, it->string);
		return bad(L, field, "not a known field (a typo?); known fields: %s", list);
	}
	return 0;
}

/* ---- typed field readers ---------------------------------------------- */

static int get_string(struct loader *L, const cJSON *obj, const char *key, const char *field,
		      bool required, size_t maxlen, bool lower, const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char gotbuf[80];
	size_t n;

	if (!v) {
		if (!required) {
			*ret = NULL;
			return 0;
		}
		return bad(L, field, "missing; it is required");
	}
	if (!cJSON_IsString(v))
		return bad(L, field, "expected a string, got %s", GOT(v));
	n = strlen(v->valuestring);
	if (n == 0)
		return bad(L, field, "expected a non-empty string, got \"\"");
	if (n > maxlen)
		return bad(L, field, "expected at most %zu bytes, got %zu; shorten it", maxlen, n);
	if (has_control(v->valuestring))
		return bad(L, field, "contains control characters; use plain text");
	*ret = arena_strdup(L->c, v->valuestring, lower);
	return *ret ? 0 : -ENOMEM;
}

static int get_id(struct loader *L, const cJSON *obj, const char *key, const char *field,
		  const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char gotbuf[80];
	int r;

	if (v && cJSON_IsString(v) && !valid_id(v->valuestring))
		return bad(L, field,
			   "expected an id of lower-case letters, digits and '-' (at most %d "
			   "bytes, starting with a letter), got %s",
			   CATALOG_ID_MAX, GOT(v));
	r = get_string(L, obj, key, field, true, CATALOG_ID_MAX, false, ret);
	return r;
}

static int get_money(struct loader *L, const cJSON *obj, const char *key, const char *field,
		     bool required, int64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char gotbuf[80];
	int64_t cents;

	if (!v) {
		if (!required) {
			*ret = 0;
			return 0;
		}
		return bad(L, field, "missing; it is required (a number like 45.00)");
	}
	if (!cJSON_IsNumber(v) || !to_centi(v->valuedouble, &cents) || cents < 0 ||
	    cents > CATALOG_PRICE_MAX_CENTS)
		return bad(
		    L, field,
		    "expected a number >= 0 with at most 2 decimals (at most 100000), got %s",
		    GOT(v));
	*ret = cents;
	return 0;
}

static int get_int(struct loader *L, const cJSON *obj, const char *key, const char *field,
		   bool required, int min, int max, int *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char gotbuf[80];

	if (!v) {
		if (!required) {
			*ret = 0;
			return 0;
		}
		return bad(L, field, "missing; it is required (a whole number %d..%d)", min, max);
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > max)
		return bad(L, field, "expected a whole number %d..%d, got %s", min, max, GOT(v));
	*ret = (int)v->valuedouble;
	return 0;
}

static int get_enum(struct loader *L, const cJSON *obj, const char *key, const char *field,
		    const char *const *words, int *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char gotbuf[80], list[200];
	size_t off = 0;

	list[0] = '\0';
	for (const char *const *w = words; *w; w++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					w == words ? "" : ", ", *w);
	if (!v)
		return bad(L, field, "missing; it is required (one of %s)", list);
	if (cJSON_IsString(v))
		for (int i = 0; words[i]; i++)
			if (strcmp(v->valuestring, words[i]) == 0) {
				*ret = i;
				return 0;
			}
	return bad(L, field, "expected one of %s, got %s", list, GOT(v));
}

static const char *const category_words[] = {"mobile",	 "broadband", "tv",	"streaming",
					     "security", "devices",   "addons", NULL};
static const char *const billing_words[] = {"monthly", "once", NULL};

/* A list of strings; min items at least. */
static int get_string_list(struct loader *L, const cJSON *obj, const char *key, const char *name,
			   bool required, size_t min, size_t maxlen, bool lower,
			   const char *const **ret, size_t *ret_n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *it;
	const char **arr;
	char gotbuf[80], field[96];
	size_t n, i = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!v) {
		if (!required && min == 0)
			return 0;
		return bad(L, name, "missing; it is required (a list of strings)");
	}
	if (!cJSON_IsArray(v))
		return bad(L, name, "expected a list of strings, got %s", GOT(v));
	n = (size_t)cJSON_GetArraySize(v);
	if (n < min)
		return bad(L, name, "expected at least %zu entries, got %zu", min, n);
	if (n > CATALOG_LIST_MAX)
		return bad(L, name, "expected at most %d entries, got %zu; keep the best ones",
			   CATALOG_LIST_MAX, n);
	arr = arena_alloc(L->c, (n ? n : 1) * sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	cJSON_ArrayForEach(it, v)
	{
		snprintf(field, sizeof(field), "%s[%zu]", name, i);
		if (!cJSON_IsString(it))
			return bad(L, field, "expected a string, got %s", GOT(it));
		if (!it->valuestring[0] || strlen(it->valuestring) > maxlen)
			return bad(L, field, "expected 1..%zu bytes, got %zu", maxlen,
				   strlen(it->valuestring));
		if (has_control(it->valuestring))
			return bad(L, field, "contains control characters; use plain text");
		arr[i] = arena_strdup(L->c, it->valuestring, lower);
		if (!arr[i])
			return -ENOMEM;
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(arr[j], arr[i]) == 0)
				return bad(L, field, "\"%s\" is listed twice", it->valuestring);
		i++;
	}
	*ret = arr;
	*ret_n = n;
	return 0;
}

static const struct catalog_spec_key *spec_key(const char *key)
{
	for (size_t i = 0; i < N_SPEC_KEYS; i++)
		if (strcmp(spec_keys[i].key, key) == 0)
			return &spec_keys[i];
	return NULL;
}

static int get_specs(struct loader *L, const cJSON *obj, const struct catalog_spec **ret,
		     size_t *ret_n)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "specs");
	const cJSON *it;
	struct catalog_spec *specs;
	char gotbuf[80], field[64];
	size_t n, i = 0;

	if (!v)
		return bad(L, "specs",
			   "missing; it is required (an object like {\"data_gb\": 25})");
	if (!cJSON_IsObject(v))
		return bad(L, "specs", "expected an object like {\"data_gb\": 25}, got %s", GOT(v));
	n = (size_t)cJSON_GetArraySize(v);
	if (n > CATALOG_LIST_MAX)
		return bad(L, "specs", "expected at most %d specs, got %zu", CATALOG_LIST_MAX, n);
	specs = arena_alloc(L->c, (n ? n : 1) * sizeof(*specs));
	if (!specs)
		return -ENOMEM;
	cJSON_ArrayForEach(it, v)
	{
		const struct catalog_spec_key *k = spec_key(it->string);

		snprintf(field, sizeof(field), "specs.%s", it->string);
		if (!k) {
			char list[600];
			size_t off = 0;

			for (size_t j = 0; j < N_SPEC_KEYS; j++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
							j ? ", " : "", spec_keys[j].key);
			return bad(L, field, "not a known spec; known specs: %s", list);
		}
		specs[i].key = k->key;
		specs[i].label = k->label;
		specs[i].unit = k->unit;
		if (cJSON_IsString(it) && strcmp(it->valuestring, "unlimited") == 0 &&
		    k->unlimited_ok) {
			specs[i].unlimited = true;
		} else if (!cJSON_IsNumber(it) || !to_centi(it->valuedouble, &specs[i].centi) ||
			   specs[i].centi < 0 || specs[i].centi > 100000000) {
			return bad(L, field,
				   "expected a number >= 0 (at most 2 decimals)%s, got %s",
				   k->unlimited_ok ? " or \"unlimited\"" : "", GOT(it));
		}
		i++;
	}
	*ret = specs;
	*ret_n = n;
	return 0;
}

/* A list of objects: checks the type and size, returns the count. */
static int get_object_list(struct loader *L, const cJSON *obj, const char *key, bool required,
			   size_t min, size_t max, const cJSON **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *it;
	char gotbuf[80], field[64];
	size_t n, i = 0;

	*ret = NULL;
	if (!v) {
		if (!required)
			return 0;
		return bad(L, key, "missing; it is required (a list, [] for none)");
	}
	if (!cJSON_IsArray(v))
		return bad(L, key, "expected a list, got %s", GOT(v));
	n = (size_t)cJSON_GetArraySize(v);
	if (n < min)
		return bad(L, key, "expected at least %zu entries, got %zu", min, n);
	if (n > max)
		return bad(L, key, "expected at most %zu entries, got %zu", max, n);
	cJSON_ArrayForEach(it, v)
	{
		snprintf(field, sizeof(field), "%s[%zu]", key, i++);
		if (!cJSON_IsObject(it))
			return bad(L, field, "expected an object, got %s", GOT(it));
	}
	*ret = v;
	return (int)n;
}

/*
 * Does prose that must carry no figures (comparison angles, talk tracks)
 * have one anyway? Catalog names ("Fibre 300") are masked first; digits glued
 * to letters ("4K", "5G") are technology names, not figures. A standalone
 * number, a currency sign or a percent sign is a figure.
 */
static bool has_figure(const struct catalog *c, const char *s)
{
	char buf[CATALOG_TEXT_MAX + 1];
	size_t n = strlen(s);

	if (n > CATALOG_TEXT_MAX)
		n = CATALOG_TEXT_MAX;
	memcpy(buf, s, n);
	buf[n] = '\0';
	for (size_t i = 0; i < c->n_products + c->n_competitors; i++) {
		const struct catalog_competitor *k =
		    i >= c->n_products ? &c->competitors[i - c->n_products] : NULL;
		size_t m = k ? k->n_offers : 1;

		for (size_t j = 0; j < m; j++) {
			const char *name = k ? k->offers[j].name : c->products[i].name;
			size_t len = strlen(name);
			char *at = buf;

			while ((at = strcasestr(at, name))) {
				memset(at, 'x', len);
				at += len;
			}
		}
	}
	for (size_t i = 0; buf[i]; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch == '$' || ch == '%')
			return true;
		if (isdigit(ch)) {
			size_t j = i;

			while (isdigit((unsigned char)buf[j]) || buf[j] == '.' || buf[j] == ',')
				j++;
			if (!(i > 0 && isalpha((unsigned char)buf[i - 1])) &&
			    !isalpha((unsigned char)buf[j]))
				return true;
			i = j - 1;
		}
	}
	return false;
}

/* ---- entries ---------------------------------------------------------- */

static void set_entry(struct loader *L, const char *kind, const cJSON *obj, size_t index)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");

	if (id && cJSON_IsString(id) && id->valuestring[0] && strlen(id->valuestring) <= 80)
		snprintf(L->entry, sizeof(L->entry), "%s '%s'", kind, id->valuestring);
	else
		snprintf(L->entry, sizeof(L->entry), "%s #%zu (no valid 'id')", kind, index + 1);
}

static const char *const product_fields[] = {"id",
					     "name",
					     "category",
					     "price",
					     "billing",
					     "setup_fee",
					     "contract_months",
					     "installment_months",
					     "specs",
					     "features",
					     "value_story",
					     "best_for",
					     "comparisons",
					     "common_questions",
					     "cross_sells",
					     "charges",
					     "keywords",
					     NULL};

static int load_product(struct loader *L, const cJSON *obj, size_t index)
{
	struct catalog *c = L->c;
	struct catalog_product *p;
	const cJSON *list, *it;
	char field[64];
	int n, i, r, v;

	set_entry(L, "product", obj, index);
	if (c->n_products == CATALOG_PRODUCTS_MAX)
		return fail(L, -E2BIG, "%s: %s: more than %d products in the catalog", L->path,
			    L->entry, CATALOG_PRODUCTS_MAX);
	p = &c->products[c->n_products];
	memset(p, 0, sizeof(*p));
	p->file = L->path;
	if ((r = check_keys(L, obj, product_fields, "")) < 0 ||
	    (r = get_id(L, obj, "id", "id", &p->id)) < 0)
		return r;
	for (size_t j = 0; j < c->n_products; j++)
		if (strcmp(c->products[j].id, p->id) == 0)
			return bad(L, "id", "duplicate id: '%s' is already used in %s", p->id,
				   c->products[j].file);
	if ((r = get_string(L, obj, "name", "name", true, CATALOG_NAME_MAX, false, &p->name)) < 0)
		return r;
	for (size_t j = 0; j < c->n_products; j++)
		if (strcasecmp(c->products[j].name, p->name) == 0)
			return bad(L, "name", "duplicate name: \"%s\" is also product '%s'",
				   p->name, c->products[j].id);
	if ((r = get_enum(L, obj, "category", "category", category_words, &v)) < 0)
		return r;
	p->category = (enum catalog_category)v;
	if ((r = get_money(L, obj, "price", "price", true, &p->price_cents)) < 0)
		return r;
	if ((r = get_enum(L, obj, "billing", "billing", billing_words, &v)) < 0)
		return r;
	p->billing = (enum catalog_billing)v;
	if ((r = get_money(L, obj, "setup_fee", "setup_fee", false, &p->setup_cents)) < 0 ||
	    (r = get_int(L, obj, "contract_months", "contract_months", true, 0,
			 CATALOG_CONTRACT_MAX_MONTHS, &p->contract_months)) < 0 ||
	    (r = get_int(L, obj, "installment_months", "installment_months", false, 0, 48,
			 &p->installment_months)) < 0)
		return r;
	if (p->installment_months && p->billing != CATALOG_BILLING_ONCE)
		return bad(L, "installment_months",
			   "only a product billed \"once\" can be paid in installments; remove "
			   "it or set billing to \"once\"");
	if ((r = get_specs(L, obj, &p->specs, &p->n_specs)) < 0 ||
	    (r = get_string_list(L, obj, "features", "features", false, 0, CATALOG_NAME_MAX, false,
				 &p->features, &p->n_features)) < 0 ||
	    (r = get_string(L, obj, "value_story", "value_story", true, CATALOG_TEXT_MAX, false,
			    &p->value_story)) < 0 ||
	    (r = get_string(L, obj, "best_for", "best_for", true, CATALOG_TEXT_MAX, false,
			    &p->best_for)) < 0)
		return r;

	/* comparisons: the offers are resolved once every file is loaded */
	if ((n = get_object_list(L, obj, "comparisons", true, 0, 8, &list)) < 0)
		return n;
	if (n > 0) {
		struct catalog_comparison *cmp = arena_alloc(c, (size_t)n * sizeof(*cmp));
		static const char *const f[] = {"against", "angle", NULL};

		if (!cmp)
			return -ENOMEM;
		i = 0;
		cJSON_ArrayForEach(it, list)
		{
			char pre[40];
			size_t no;

			snprintf(pre, sizeof(pre), "comparisons[%d].", i);
			if ((r = check_keys(L, it, f, pre)) < 0)
				return r;
			snprintf(field, sizeof(field), "comparisons[%d].against", i);
			if ((r = get_string_list(L, it, "against", field, true, 1, CATALOG_ID_MAX,
						 false, &cmp[i].offer_ids, &no)) < 0)
				return r;
			if (no > CATALOG_COMPARISON_OFFERS_MAX)
				return bad(L, field, "expected at most %d offers, got %zu",
					   CATALOG_COMPARISON_OFFERS_MAX, no);
			cmp[i].n_offers = no;
			snprintf(field, sizeof(field), "comparisons[%d].angle", i);
			if ((r = get_string(L, it, "angle", field, true, CATALOG_TEXT_MAX, false,
					    &cmp[i].angle)) < 0)
				return r;
			i++;
		}
		p->comparisons = cmp;
		p->n_comparisons = (size_t)n;
	}

	if ((n = get_object_list(L, obj, "common_questions", true, 1, 12, &list)) < 0)
		return n;
	{
		struct catalog_qa *qa = arena_alloc(c, (size_t)n * sizeof(*qa));
		static const char *const f[] = {"q", "a", NULL};

		if (!qa)
			return -ENOMEM;
		i = 0;
		cJSON_ArrayForEach(it, list)
		{
			char pre[48];

			snprintf(pre, sizeof(pre), "common_questions[%d].", i);
			if ((r = check_keys(L, it, f, pre)) < 0)
				return r;
			snprintf(field, sizeof(field), "common_questions[%d].q", i);
			if ((r = get_string(L, it, "q", field, true, CATALOG_NAME_MAX * 2, false,
					    &qa[i].q)) < 0)
				return r;
			snprintf(field, sizeof(field), "common_questions[%d].a", i);
			if ((r = get_string(L, it, "a", field, true, CATALOG_TEXT_MAX, false,
					    &qa[i].a)) < 0)
				return r;
			i++;
		}
		p->questions = qa;
		p->n_questions = (size_t)n;
	}

	if ((n = get_object_list(L, obj, "cross_sells", true, 0, 8, &list)) < 0)
		return n;
	if (n > 0) {
		struct catalog_cross_sell *xs = arena_alloc(c, (size_t)n * sizeof(*xs));
		static const char *const f[] = {"id", "why", NULL};

		if (!xs)
			return -ENOMEM;
		i = 0;
		cJSON_ArrayForEach(it, list)
		{
			char pre[40];

			snprintf(pre, sizeof(pre), "cross_sells[%d].", i);
			if ((r = check_keys(L, it, f, pre)) < 0)
				return r;
			snprintf(field, sizeof(field), "cross_sells[%d].id", i);
			if ((r = get_id(L, it, "id", field, &xs[i].id)) < 0)
				return r;
			if (strcmp(xs[i].id, p->id) == 0)
				return bad(L, field, "a product cannot cross-sell itself");
			snprintf(field, sizeof(field), "cross_sells[%d].why", i);
			if ((r = get_string(L, it, "why", field, true, CATALOG_NAME_MAX * 3, false,
					    &xs[i].why)) < 0)
				return r;
			i++;
		}
		p->cross_sells = xs;
		p->n_cross_sells = (size_t)n;
	}

	if ((n = get_object_list(L, obj, "charges", false, 0, 8, &list)) < 0)
		return n;
	if (n > 0) {
		struct catalog_charge *ch = arena_alloc(c, (size_t)n * sizeof(*ch));
		static const char *const f[] = {"name", "amount", NULL};

		if (!ch)
			return -ENOMEM;
		i = 0;
		cJSON_ArrayForEach(it, list)
		{
			char pre[40];

			snprintf(pre, sizeof(pre), "charges[%d].", i);
			if ((r = check_keys(L, it, f, pre)) < 0)
				return r;
			snprintf(field, sizeof(field), "charges[%d].name", i);
			if ((r = get_string(L, it, "name", field, true, CATALOG_NAME_MAX, false,
					    &ch[i].name)) < 0)
				return r;
			snprintf(field, sizeof(field), "charges[%d].amount", i);
			if ((r = get_money(L, it, "amount", field, true, &ch[i].cents)) < 0)
				return r;
			i++;
		}
		p->charges = ch;
		p->n_charges = (size_t)n;
	}

	if ((r = get_string_list(L, obj, "keywords", "keywords", true, 1, CATALOG_NAME_MAX, true,
				 &p->keywords, &p->n_keywords)) < 0)
		return r;
	c->n_products++;
	return 0;
}

static const char *const offer_fields[] = {
    "id",	    "name",	 "category",	    "price",
    "billing",	    "setup_fee", "contract_months", "intro_price",
    "intro_months", "specs",	 "features",	    NULL};

static int load_offer(struct loader *L, const cJSON *obj, int index, struct catalog_competitor *k,
		      struct catalog_offer *o)
{
	struct catalog *c = L->c;
	char pre[48], field[96];
	int r, v;

#define F(name) (snprintf(field, sizeof(field), "offers[%d].%s", index, name), field)
	snprintf(pre, sizeof(pre), "offers[%d].", index);
	if ((r = check_keys(L, obj, offer_fields, pre)) < 0 ||
	    (r = get_id(L, obj, "id", F("id"), &o->id)) < 0)
		return r;
	for (size_t j = 0; j < c->n_competitors; j++)
		for (size_t m = 0; m < c->competitors[j].n_offers; m++)
			if (strcmp(c->competitors[j].offers[m].id, o->id) == 0)
				return bad(L, F("id"), "duplicate offer id '%s' (competitor '%s')",
					   o->id, c->competitors[j].id);
	for (int m = 0; m < index; m++)
		if (strcmp(k->offers[m].id, o->id) == 0)
			return bad(L, F("id"), "duplicate offer id '%s'", o->id);
	if ((r = get_string(L, obj, "name", F("name"), true, CATALOG_NAME_MAX, false, &o->name)) <
		0 ||
	    (r = get_enum(L, obj, "category", F("category"), category_words, &v)) < 0)
		return r;
	o->category = (enum catalog_category)v;
	if ((r = get_money(L, obj, "price", F("price"), true, &o->price_cents)) < 0 ||
	    (r = get_enum(L, obj, "billing", F("billing"), billing_words, &v)) < 0)
		return r;
	o->billing = (enum catalog_billing)v;
	if ((r = get_money(L, obj, "setup_fee", F("setup_fee"), false, &o->setup_cents)) < 0 ||
	    (r = get_int(L, obj, "contract_months", F("contract_months"), true, 0,
			 CATALOG_CONTRACT_MAX_MONTHS, &o->contract_months)) < 0 ||
	    (r = get_money(L, obj, "intro_price", F("intro_price"), false, &o->intro_cents)) < 0 ||
	    (r = get_int(L, obj, "intro_months", F("intro_months"), false, 0, 36,
			 &o->intro_months)) < 0)
		return r;
	if ((o->intro_months > 0) != (cJSON_GetObjectItemCaseSensitive(obj, "intro_price") != NULL))
		return bad(L, F("intro_months"),
			   "intro_price and intro_months go together: give both or neither");
	if (o->intro_months && o->intro_cents >= o->price_cents)
		return bad(L, F("intro_price"), "expected less than the standard price %.2f",
			   (double)o->price_cents / 100);
	/* specs and features read into the offer's own fields */
	{
		char saved[sizeof(L->entry)];

		memcpy(saved, L->entry, sizeof(saved));
		snprintf(L->entry, sizeof(L->entry), "%.150s: offer '%s'", saved, o->id);
		if ((r = get_specs(L, obj, &o->specs, &o->n_specs)) < 0 ||
		    (r = get_string_list(L, obj, "features", "features", false, 0, CATALOG_NAME_MAX,
					 false, &o->features, &o->n_features)) < 0)
			return r;
		memcpy(L->entry, saved, sizeof(saved));
	}
	o->competitor = k;
#undef F
	return 0;
}

static const char *const competitor_fields[] = {"id",	      "name",	"aliases",
						"how_we_win", "offers", NULL};

static int load_competitor(struct loader *L, const cJSON *obj, size_t index)
{
	struct catalog *c = L->c;
	struct catalog_competitor *k;
	struct catalog_offer *offers;
	const cJSON *list, *it;
	int n, i, r;

	set_entry(L, "competitor", obj, index);
	if (c->n_competitors == CATALOG_COMPETITORS_MAX)
		return fail(L, -E2BIG, "%s: %s: more than %d competitors", L->path, L->entry,
			    CATALOG_COMPETITORS_MAX);
	k = &c->competitors[c->n_competitors];
	memset(k, 0, sizeof(*k));
	k->file = L->path;
	if ((r = check_keys(L, obj, competitor_fields, "")) < 0 ||
	    (r = get_id(L, obj, "id", "id", &k->id)) < 0)
		return r;
	for (size_t j = 0; j < c->n_competitors; j++)
		if (strcmp(c->competitors[j].id, k->id) == 0)
			return bad(L, "id", "duplicate competitor id '%s'", k->id);
	if ((r = get_string(L, obj, "name", "name", true, CATALOG_NAME_MAX, false, &k->name)) < 0 ||
	    (r = get_string_list(L, obj, "aliases", "aliases", false, 0, CATALOG_NAME_MAX, true,
				 &k->aliases, &k->n_aliases)) < 0 ||
	    (r = get_string(L, obj, "how_we_win", "how_we_win", true, CATALOG_TEXT_MAX, false,
			    &k->how_we_win)) < 0)
		return r;
	if ((n = get_object_list(L, obj, "offers", true, 1, CATALOG_OFFERS_MAX, &list)) < 0)
		return n;
	offers = arena_alloc(c, (size_t)n * sizeof(*offers));
	if (!offers)
		return -ENOMEM;
	k->offers = offers;
	i = 0;
	cJSON_ArrayForEach(it, list)
	{
		if ((r = load_offer(L, it, i, k, &offers[i])) < 0)
			return r;
		i++;
		k->n_offers = (size_t)i;
	}
	c->n_competitors++;
	return 0;
}

static const char *const promotion_fields[] = {
    "id", "name", "products", "description", "discount", "start", "end", "terms", NULL};

static int get_date(struct loader *L, const cJSON *obj, const char *key, int32_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char gotbuf[80];

	if (!v)
		return bad(L, key, "missing; it is required (a date \"YYYY-MM-DD\")");
	if (!cJSON_IsString(v) || catalog_date_parse(v->valuestring, ret) < 0)
		return bad(L, key, "expected a date \"YYYY-MM-DD\" (a real calendar day), got %s",
			   GOT(v));
	return 0;
}

static int load_promotion(struct loader *L, const cJSON *obj, size_t index)
{
	static const char *const discount_fields[] = {"type", "value", "months", NULL};
	static const char *const discount_words[] = {"amount", "percent", NULL};
	struct catalog *c = L->c;
	struct catalog_promotion *p;
	const cJSON *d;
	char gotbuf[80];
	int r, v;

	set_entry(L, "promotion", obj, index);
	if (c->n_promotions == CATALOG_PROMOTIONS_MAX)
		return fail(L, -E2BIG, "%s: %s: more than %d promotions", L->path, L->entry,
			    CATALOG_PROMOTIONS_MAX);
	p = &c->promotions[c->n_promotions];
	memset(p, 0, sizeof(*p));
	p->file = L->path;
	if ((r = check_keys(L, obj, promotion_fields, "")) < 0 ||
	    (r = get_id(L, obj, "id", "id", &p->id)) < 0)
		return r;
	for (size_t j = 0; j < c->n_promotions; j++)
		if (strcmp(c->promotions[j].id, p->id) == 0)
			return bad(L, "id", "duplicate promotion id '%s'", p->id);
	if ((r = get_string(L, obj, "name", "name", true, CATALOG_NAME_MAX, false, &p->name)) < 0 ||
	    (r = get_string_list(L, obj, "products", "products", true, 1, CATALOG_ID_MAX, false,
				 &p->product_ids, &p->n_products)) < 0 ||
	    (r = get_string(L, obj, "description", "description", true, CATALOG_TEXT_MAX, false,
			    &p->description)) < 0 ||
	    (r = get_string(L, obj, "terms", "terms", true, CATALOG_TEXT_MAX, false, &p->terms)) <
		0)
		return r;
	d = cJSON_GetObjectItemCaseSensitive(obj, "discount");
	if (!d)
		return bad(L, "discount",
			   "missing; it is required ({\"type\": \"amount\"|\"percent\", "
			   "\"value\": N, \"months\": N})");
	if (!cJSON_IsObject(d))
		return bad(L, "discount", "expected an object, got %s", GOT(d));
	if ((r = check_keys(L, d, discount_fields, "discount.")) < 0 ||
	    (r = get_enum(L, d, "type", "discount.type", discount_words, &v)) < 0)
		return r;
	p->discount = (enum catalog_discount)v;
	if (p->discount == CATALOG_DISCOUNT_AMOUNT) {
		if ((r = get_money(L, d, "value", "discount.value", true, &p->value)) < 0)
			return r;
		if (p->value == 0)
			return bad(L, "discount.value", "expected an amount above 0, got 0");
	} else {
		const cJSON *pv = cJSON_GetObjectItemCaseSensitive(d, "value");

		if (!pv || !cJSON_IsNumber(pv) || !to_centi(pv->valuedouble, &p->value) ||
		    p->value <= 0 || p->value > 10000)
			return bad(L, "discount.value",
				   "expected a percent above 0 and at most 100 (at most 2 "
				   "decimals), got %s",
				   GOT(pv));
	}
	if ((r = get_int(L, d, "months", "discount.months", true, 0, 36, &p->months)) < 0 ||
	    (r = get_date(L, obj, "start", &p->start)) < 0 ||
	    (r = get_date(L, obj, "end", &p->end)) < 0)
		return r;
	if (p->end < p->start)
		return bad(L, "end", "the promotion ends before it starts; check start and end");
	c->n_promotions++;
	return 0;
}

static int load_telco(struct loader *L, const cJSON *obj)
{
	static const char *const f[] = {
	    "name", "store", "currency", "currency_symbol", "prices_include_tax", NULL};
	struct catalog_telco *t = &L->c->telco;
	const cJSON *tax;
	char gotbuf[80];
	int r;

	snprintf(L->entry, sizeof(L->entry), "telco");
	if (L->c->have_telco)
		return fail(L, -EINVAL,
			    "%s: a second 'telco' object (the first is in %s); keep one", L->path,
			    L->c->telco_file);
	if (!cJSON_IsObject(obj))
		return bad(L, "telco", "expected an object, got %s", GOT(obj));
	if ((r = check_keys(L, obj, f, "")) < 0 ||
	    (r = get_string(L, obj, "name", "name", true, CATALOG_NAME_MAX, false, &t->name)) < 0 ||
	    (r = get_string(L, obj, "store", "store", true, CATALOG_NAME_MAX, false, &t->store)) <
		0 ||
	    (r = get_string(L, obj, "currency", "currency", true, 3, false, &t->currency)) < 0 ||
	    (r = get_string(L, obj, "currency_symbol", "currency_symbol", true, 4, false,
			    &t->currency_symbol)) < 0)
		return r;
	tax = cJSON_GetObjectItemCaseSensitive(obj, "prices_include_tax");
	if (!cJSON_IsBool(tax))
		return bad(L, "prices_include_tax", "expected true or false, got %s", GOT(tax));
	t->prices_include_tax = cJSON_IsTrue(tax);
	L->c->have_telco = true;
	L->c->telco_file = L->path;
	return 0;
}

/* ---- files ------------------------------------------------------------- */

static int read_file(struct loader *L, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	int fd, r;

	fd = open(L->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		return fail(L, r, "%s: cannot open: %s", L->path, strerror(-r));
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return fail(L, r, "%s: cannot stat: %s", L->path, strerror(-r));
	}
	if (st.st_size > CATALOG_FILE_MAX_BYTES) {
		close(fd);
		return fail(L, -EFBIG,
			    "%s: %lld bytes, more than the %d a catalog file may have; split it "
			    "into smaller files",
			    L->path, (long long)st.st_size, CATALOG_FILE_MAX_BYTES);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			free(buf);
			close(fd);
			return fail(L, r, "%s: cannot read: %s", L->path, strerror(-r));
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*ret = buf;
	*ret_len = off;
	return 0;
}

/* Does the text end inside a string, an object or a list (a cut-off file)? */
static bool unbalanced(const char *t, size_t len)
{
	bool in_string = false, escaped = false;
	long depth = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = t[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (ch == '\\')
				escaped = true;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return in_string || depth > 0;
}

static int load_file(struct loader *L)
{
	static const char *const top[] = {"telco", "products", "competitors", "promotions", NULL};
	const char *parse_end = NULL;
	const cJSON *list, *it;
	cJSON *root;
	char *text = NULL;
	size_t len = 0;
	int r, n;

	if ((r = read_file(L, &text, &len)) < 0)
		return r;
	/* len + 1: cJSON wants to see the NUL when it must check for trailing junk */
	root = cJSON_ParseWithLengthOpts(text, len + 1, &parse_end, true);
	if (!root) {
		size_t at = parse_end && parse_end >= text && parse_end <= text + len
				? (size_t)(parse_end - text)
				: len;
		int line = 1, col = 1;
		char near[24];
		size_t k = 0;

		for (size_t i = 0; i < at; i++, col++)
			if (text[i] == '\n') {
				line++;
				col = 0;
			}
		for (size_t i = at; text[i] && k < sizeof(near) - 1 && text[i] != '\n'; i++)
			near[k++] = text[i];
		near[k] = '\0';
		bool cut = unbalanced(text, len);

		free(text);
		if (at >= len || cut)
			return fail(L, -EINVAL,
				    "%s:%d:%d: not valid JSON: the file ends too early (truncated? "
				    "an unfinished string, or a missing ']' or '}')",
				    L->path, line, col);
		return fail(L, -EINVAL, "%s:%d:%d: not valid JSON near '%s'", L->path, line, col,
			    near);
	}
	free(text);
	snprintf(L->entry, sizeof(L->entry), "top level");
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return fail(L, -EINVAL,
			    "%s: expected an object with \"products\", \"competitors\", "
			    "\"promotions\" or \"telco\"",
			    L->path);
	}
	cJSON_ArrayForEach(it, root)
	{
		bool ok = false;

		for (const char *const *t = top; *t; t++)
			ok |= strcmp(it->string, *t) == 0;
		if (!ok) {
			cJSON_Delete(root);
			return fail(L, -EINVAL,
				    "%s: top-level key '%s' is not known; expected \"products\", "
				    "\"competitors\", \"promotions\" or \"telco\"",
				    L->path, it->string);
		}
	}
	r = 0;
	if ((it = cJSON_GetObjectItemCaseSensitive(root, "telco")) && (r = load_telco(L, it)) < 0)
		goto out;
	snprintf(L->entry, sizeof(L->entry), "top level");
	if ((n = get_object_list(L, root, "competitors", false, 0, CATALOG_COMPETITORS_MAX,
				 &list)) < 0) {
		r = n;
		goto out;
	}
	if (list) {
		size_t i = 0;

		cJSON_ArrayForEach(it, list)
		{
			if ((r = load_competitor(L, it, i++)) < 0)
				goto out;
		}
	}
	snprintf(L->entry, sizeof(L->entry), "top level");
	if ((n = get_object_list(L, root, "products", false, 0, CATALOG_PRODUCTS_MAX, &list)) < 0) {
		r = n;
		goto out;
	}
	if (list) {
		size_t i = 0;

		cJSON_ArrayForEach(it, list)
		{
			if ((r = load_product(L, it, i++)) < 0)
				goto out;
		}
	}
	snprintf(L->entry, sizeof(L->entry), "top level");
	if ((n = get_object_list(L, root, "promotions", false, 0, CATALOG_PROMOTIONS_MAX, &list)) <
	    0) {
		r = n;
		goto out;
	}
	if (list) {
		size_t i = 0;

		cJSON_ArrayForEach(it, list)
		{
			if ((r = load_promotion(L, it, i++)) < 0)
				goto out;
		}
	}
out:
	cJSON_Delete(root);
	return r;
}

/* ---- cross-references -------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[CATALOG_ID_MAX + 2];

	if (la > CATALOG_ID_MAX || lb > CATALOG_ID_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

const struct catalog_product *catalog_product_suggest(const struct catalog *c, const char *id)
{
	size_t best = SIZE_MAX, bi = 0;

	if (!id)
		return NULL;
	for (size_t i = 0; i < c->n_products; i++) {
		size_t d = edit_distance(id, c->products[i].id);

		if (d < best) {
			best = d;
			bi = i;
		}
	}
	if (best != SIZE_MAX && best <= 2 + strlen(id) / 5)
		return &c->products[bi];
	return NULL;
}

/* "; did you mean 'x'?" for the closest offer id, or "". */
static void suggest_offer(const struct catalog *c, const char *id, char *buf, size_t len)
{
	size_t best = SIZE_MAX;
	const char *bid = NULL;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n_competitors; i++)
		for (size_t j = 0; j < c->competitors[i].n_offers; j++) {
			size_t d = edit_distance(id, c->competitors[i].offers[j].id);

			if (d < best) {
				best = d;
				bid = c->competitors[i].offers[j].id;
			}
		}
	if (bid && best <= 2 + strlen(id) / 5)
		snprintf(buf, len, "; did you mean '%s'?", bid);
}

/* "; did you mean 'x'?" for the closest product id, or "". */
static void suggest_product(const struct catalog *c, const char *id, char *buf, size_t len)
{
	const struct catalog_product *p = catalog_product_suggest(c, id);

	buf[0] = '\0';
	if (p)
		snprintf(buf, len, "; did you mean '%s'?", p->id);
}

static int resolve(struct loader *L)
{
	struct catalog *c = L->c;
	char sug[96], field[64];

	if (!c->have_telco)
		return fail(L, -EINVAL,
			    "%s: no file has a \"telco\" object (name, store, currency, "
			    "currency_symbol, prices_include_tax); add a telco.json to the folder",
			    c->dir);
	if (c->n_products == 0)
		return fail(L, -EINVAL, "%s: no products; a catalog needs at least one", c->dir);
	for (size_t i = 0; i < c->n_products; i++) {
		struct catalog_product *p = &c->products[i];

		L->path = p->file;
		snprintf(L->entry, sizeof(L->entry), "product '%s'", p->id);
		for (size_t j = 0; j < p->n_cross_sells; j++) {
			struct catalog_cross_sell *x =
			    (struct catalog_cross_sell *)&p->cross_sells[j];

			snprintf(field, sizeof(field), "cross_sells[%zu].id", j);
			x->product = catalog_product_find(c, x->id);
			if (!x->product) {
				suggest_product(c, x->id, sug, sizeof(sug));
				return bad(L, field, "no product '%s' in the catalog%s", x->id,
					   sug);
			}
			for (size_t m = 0; m < j; m++)
				if (p->cross_sells[m].product == x->product)
					return bad(L, field, "'%s' is listed twice", x->id);
		}
		for (size_t j = 0; j < p->n_comparisons; j++) {
			struct catalog_comparison *x =
			    (struct catalog_comparison *)&p->comparisons[j];
			const struct catalog_offer **offers =
			    arena_alloc(c, x->n_offers * sizeof(*offers));

			if (!offers)
				return -ENOMEM;
			for (size_t m = 0; m < x->n_offers; m++) {
				snprintf(field, sizeof(field), "comparisons[%zu].against[%zu]", j,
					 m);
				offers[m] = catalog_offer_find(c, x->offer_ids[m]);
				if (!offers[m]) {
					suggest_offer(c, x->offer_ids[m], sug, sizeof(sug));
					return bad(L, field,
						   "no competitor offer '%s' in the catalog%s",
						   x->offer_ids[m], sug);
				}
			}
			x->offers = offers;
			snprintf(field, sizeof(field), "comparisons[%zu].angle", j);
			if (has_figure(c, x->angle))
				return bad(L, field,
					   "write the angle without figures (no prices, counts or "
					   "percents; product names are fine): the compare tool "
					   "computes the math from the stored prices");
		}
	}
	for (size_t i = 0; i < c->n_competitors; i++) {
		L->path = c->competitors[i].file;
		snprintf(L->entry, sizeof(L->entry), "competitor '%s'", c->competitors[i].id);
		if (has_figure(c, c->competitors[i].how_we_win))
			return bad(L, "how_we_win",
				   "write it without figures: the compare tool computes the math");
	}
	for (size_t i = 0; i < c->n_promotions; i++) {
		struct catalog_promotion *p = &c->promotions[i];
		const struct catalog_product **prods;

		L->path = p->file;
		snprintf(L->entry, sizeof(L->entry), "promotion '%s'", p->id);
		prods = arena_alloc(c, p->n_products * sizeof(*prods));
		if (!prods)
			return -ENOMEM;
		for (size_t j = 0; j < p->n_products; j++) {
			const struct catalog_product *q =
			    catalog_product_find(c, p->product_ids[j]);

			snprintf(field, sizeof(field), "products[%zu]", j);
			if (!q) {
				suggest_product(c, p->product_ids[j], sug, sizeof(sug));
				return bad(L, field, "no product '%s' in the catalog%s",
					   p->product_ids[j], sug);
			}
			if (q->billing == CATALOG_BILLING_ONCE && p->months != 0)
				return bad(L, "discount.months",
					   "'%s' is paid once: a discount on it has months 0",
					   q->id);
			if (q->billing == CATALOG_BILLING_MONTHLY && p->months == 0)
				return bad(L, "discount.months",
					   "'%s' is monthly: say for how many months (1..36)",
					   q->id);
			if (p->discount == CATALOG_DISCOUNT_AMOUNT && p->value > q->price_cents)
				return bad(L, "discount.value",
					   "%.2f off is more than the price of '%s' (%.2f)",
					   (double)p->value / 100, q->id,
					   (double)q->price_cents / 100);
			prods[j] = q;
		}
		p->products = prods;
	}
	return 0;
}

/* ---- loading ----------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int catalog_load(const char *dir, struct catalog **ret, char *err, size_t errlen)
{
	struct loader L = {.err = err, .errlen = errlen};
	char *names[CATALOG_FILES_MAX];
	size_t n_names = 0, dlen;
	struct dirent *de;
	struct catalog *c;
	DIR *d;
	int r = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!dir || !*dir || !ret)
		return fail(&L, -EINVAL, "catalog_load: no folder given");
	d = opendir(dir);
	if (!d) {
		r = -errno;
		return fail(&L, r, "%s: cannot open the catalog folder: %s", dir, strerror(-r));
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		if (n_names == CATALOG_FILES_MAX) {
			r = fail(&L, -E2BIG, "%s: more than %d .json files; merge some", dir,
				 CATALOG_FILES_MAX);
			goto out_names;
		}
		names[n_names] = strdup(de->d_name);
		if (!names[n_names]) {
			r = -ENOMEM;
			goto out_names;
		}
		n_names++;
	}
	qsort(names, n_names, sizeof(names[0]), cmp_names);
	if (n_names == 0) {
		r = fail(&L, -ENOENT, "%s: no .json files in the catalog folder", dir);
		goto out_names;
	}

	c = calloc(1, sizeof(*c));
	if (!c || !(c->dir = strdup(dir))) {
		free(c);
		r = -ENOMEM;
		goto out_names;
	}
	L.c = c;
	dlen = strlen(dir);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	for (size_t i = 0; i < n_names; i++) {
		size_t plen = dlen + 1 + strlen(names[i]) + 1;
		char *path = arena_alloc(c, plen);

		if (!path) {
			r = -ENOMEM;
			break;
		}
		snprintf(path, plen, "%.*s/%s", (int)dlen, dir, names[i]);
		L.path = path;
		if ((r = load_file(&L)) < 0)
			break;
	}
	if (r == 0)
		r = resolve(&L);
	if (r < 0) {
		if (r == -ENOMEM && err && errlen && !err[0])
			snprintf(err, errlen, "%s: out of memory", dir);
		catalog_free(c);
	} else {
		*ret = c;
	}
out_names:
	closedir(d);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	return r;
}

int catalog_load_config(const struct config *cfg, const char *section, const char *def_dir,
			struct catalog **ret, char *err, size_t errlen)
{
	struct config_error cerr;
	char dir[4096];
	int r;

	r = config_path(cfg, section, "dir", def_dir, def_dir == NULL, dir, sizeof(dir), &cerr);
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s", cerr.msg);
		return r;
	}
	return catalog_load(dir, ret, err, errlen);
}

/* ---- lookups ----------------------------------------------------------- */

const char *catalog_dir(const struct catalog *c)
{
	return c->dir;
}

const struct catalog_telco *catalog_telco(const struct catalog *c)
{
	return &c->telco;
}

size_t catalog_product_count(const struct catalog *c)
{
	return c->n_products;
}

const struct catalog_product *catalog_product_at(const struct catalog *c, size_t i)
{
	return i < c->n_products ? &c->products[i] : NULL;
}

const struct catalog_product *catalog_product_find(const struct catalog *c, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < c->n_products; i++)
		if (strcmp(c->products[i].id, id) == 0)
			return &c->products[i];
	return NULL;
}

long catalog_product_index(const struct catalog *c, const struct catalog_product *p)
{
	if (p < c->products || p >= c->products + c->n_products)
		return -1;
	return (long)(p - c->products);
}

const struct catalog_spec *catalog_product_spec(const struct catalog_product *p, const char *key)
{
	for (size_t i = 0; i < p->n_specs; i++)
		if (strcmp(p->specs[i].key, key) == 0)
			return &p->specs[i];
	return NULL;
}

size_t catalog_competitor_count(const struct catalog *c)
{
	return c->n_competitors;
}

const struct catalog_competitor *catalog_competitor_at(const struct catalog *c, size_t i)
{
	return i < c->n_competitors ? &c->competitors[i] : NULL;
}

const struct catalog_competitor *catalog_competitor_find(const struct catalog *c, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < c->n_competitors; i++)
		if (strcmp(c->competitors[i].id, id) == 0)
			return &c->competitors[i];
	for (size_t i = 0; i < c->n_competitors; i++) {
		const struct catalog_competitor *k = &c->competitors[i];

		if (strcasecmp(k->name, id) == 0)
			return k;
		for (size_t j = 0; j < k->n_aliases; j++)
			if (strcasecmp(k->aliases[j], id) == 0)
				return k;
	}
	return NULL;
}

long catalog_competitor_index(const struct catalog *c, const struct catalog_competitor *k)
{
	if (k < c->competitors || k >= c->competitors + c->n_competitors)
		return -1;
	return (long)(k - c->competitors);
}

const struct catalog_offer *catalog_offer_find(const struct catalog *c, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < c->n_competitors; i++)
		for (size_t j = 0; j < c->competitors[i].n_offers; j++)
			if (strcmp(c->competitors[i].offers[j].id, id) == 0)
				return &c->competitors[i].offers[j];
	return NULL;
}

size_t catalog_promotion_count(const struct catalog *c)
{
	return c->n_promotions;
}

const struct catalog_promotion *catalog_promotion_at(const struct catalog *c, size_t i)
{
	return i < c->n_promotions ? &c->promotions[i] : NULL;
}

const struct catalog_promotion *catalog_promotion_find(const struct catalog *c, const char *id)
{
	if (!id)
		return NULL;
	for (size_t i = 0; i < c->n_promotions; i++)
		if (strcmp(c->promotions[i].id, id) == 0)
			return &c->promotions[i];
	return NULL;
}

bool catalog_promotion_active(const struct catalog_promotion *p, int32_t day)
{
	return day >= p->start && day <= p->end;
}

bool catalog_promotion_covers(const struct catalog_promotion *p, const struct catalog_product *prod)
{
	for (size_t i = 0; i < p->n_products; i++)
		if (p->products[i] == prod)
			return true;
	return false;
}

size_t catalog_promotions_active(const struct catalog *c, int32_t day,
				 const struct catalog_product *product,
				 const struct catalog_promotion **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_promotions; i++) {
		const struct catalog_promotion *p = &c->promotions[i];

		if (!catalog_promotion_active(p, day))
			continue;
		if (product && !catalog_promotion_covers(p, product))
			continue;
		if (n < max)
			out[n] = p;
		n++;
	}
	return n;
}

int64_t catalog_promotion_discount_cents(const struct catalog_promotion *p, int64_t price_cents)
{
	int64_t d;

	if (price_cents <= 0)
		return 0;
	if (p->discount == CATALOG_DISCOUNT_AMOUNT)
		d = p->value;
	else
		d = (price_cents * p->value + 5000) / 10000; /* percent x 100: half up */
	return d > price_cents ? price_cents : d;
}

int64_t catalog_installment_cents(const struct catalog_product *p)
{
	if (p->billing != CATALOG_BILLING_ONCE || p->installment_months <= 0)
		return 0;
	return (p->price_cents + p->installment_months - 1) / p->installment_months;
}

/* ---- search ------------------------------------------------------------- */

#define SEARCH_TOKENS_MAX 24
#define SEARCH_TOKEN_MAX 32

/* Lower-case words of s (letters, digits, '+'); a plural 's' and an "ing"
 * are dropped so "streams" finds "stream" and "working" finds "work". */
static size_t tokenize(const char *s, char toks[][SEARCH_TOKEN_MAX], size_t max)
{
	size_t n = 0;

	while (*s && n < max) {
		size_t len = 0;

		while (*s && !isalnum((unsigned char)*s) && *s != '+')
			s++;
		while (*s && (isalnum((unsigned char)*s) || *s == '+')) {
			if (len < SEARCH_TOKEN_MAX - 1)
				toks[n][len++] = (char)tolower((unsigned char)*s);
			s++;
		}
		if (!len)
			break;
		if (len > 3 && toks[n][len - 1] == 's' && toks[n][len - 2] != 's')
			len--;
		else if (len >= 6 && memcmp(&toks[n][len - 3], "ing", 3) == 0)
			len -= 3;
		toks[n][len] = '\0';
		n++;
	}
	return n;
}

static bool stop_word(const char *w)
{
	static const char *const stop[] = {
	    "a",       "an",	    "the",   "i",    "we",   "my",   "our", "me",   "for",
	    "of",      "to",	    "and",   "or",   "is",   "it",   "in",  "on",   "with",
	    "do",      "you",	    "have",  "want", "need", "some", "any", "what", "get",
	    "looking", "can",	    "that",  "thi",  "at",   "be",   "are", "plan", "deal",
	    "like",    "something", "about", "how",  "much", NULL};

	for (const char *const *s = stop; *s; s++)
		if (strcmp(w, *s) == 0)
			return true;
	return false;
}

/* Does the token sequence b (nb) occur in a (na)? */
static bool has_phrase(char a[][SEARCH_TOKEN_MAX], size_t na, char b[][SEARCH_TOKEN_MAX], size_t nb)
{
	if (!nb || nb > na)
		return false;
	for (size_t i = 0; i + nb <= na; i++) {
		size_t j = 0;

		while (j < nb && strcmp(a[i + j], b[j]) == 0)
			j++;
		if (j == nb)
			return true;
	}
	return false;
}

/* The words of one product, tokenized once per search. */
#define BAG_MAX (CATALOG_TEXT_MAX + CATALOG_LIST_MAX * 8)
struct bag {
	char name[SEARCH_TOKENS_MAX][SEARCH_TOKEN_MAX];
	size_t n_name;
	char kw[CATALOG_LIST_MAX * 8][SEARCH_TOKEN_MAX];
	size_t n_kw;
	char prose[BAG_MAX][SEARCH_TOKEN_MAX]; /* features, best for, value story */
	size_t n_prose;
};

static bool bag_has(char t[][SEARCH_TOKEN_MAX], size_t n, const char *tok)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i], tok) == 0)
			return true;
	return false;
}

static void bag_fill(struct bag *b, const struct catalog_product *p)
{
	b->n_name = tokenize(p->name, b->name, SEARCH_TOKENS_MAX);
	b->n_kw = 0;
	for (size_t k = 0; k < p->n_keywords; k++)
		b->n_kw += tokenize(p->keywords[k], b->kw + b->n_kw,
				    sizeof(b->kw) / sizeof(b->kw[0]) - b->n_kw);
	b->n_prose = 0;
	for (size_t k = 0; k < p->n_features; k++)
		b->n_prose += tokenize(p->features[k], b->prose + b->n_prose, BAG_MAX - b->n_prose);
	b->n_prose += tokenize(p->best_for, b->prose + b->n_prose, BAG_MAX - b->n_prose);
	b->n_prose += tokenize(p->value_story, b->prose + b->n_prose, BAG_MAX - b->n_prose);
}

static int product_score(const struct catalog_product *p, struct bag *b, char q[][SEARCH_TOKEN_MAX],
			 size_t nq)
{
	char t[SEARCH_TOKENS_MAX][SEARCH_TOKEN_MAX], cat[1][SEARCH_TOKEN_MAX];
	int score = 0;
	size_t n;

	bag_fill(b, p);
	tokenize(catalog_category_name(p->category), cat, 1);
	/* whole keyword phrases: what customers call it */
	for (size_t k = 0; k < p->n_keywords; k++) {
		n = tokenize(p->keywords[k], t, SEARCH_TOKENS_MAX);
		if (has_phrase(q, nq, t, n))
			score += 6 + 2 * (int)n;
	}
	for (size_t i = 0; i < nq; i++) {
		if (stop_word(q[i]))
			continue;
		if (bag_has(b->name, b->n_name, q[i]))
			score += 4;
		else if (strcmp(cat[0], q[i]) == 0)
			score += 3;
		else if (bag_has(b->kw, b->n_kw, q[i]))
			score += 2;
		else if (bag_has(b->prose, b->n_prose, q[i]))
			score += 1;
	}
	return score;
}

struct scored {
	const struct catalog_product *p;
	int score;
	size_t index;
};

static int cmp_scored(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;

	if (x->score != y->score)
		return y->score - x->score;
	if (x->p->price_cents != y->p->price_cents)
		return x->p->price_cents < y->p->price_cents ? -1 : 1;
	return x->index < y->index ? -1 : 1;
}

int catalog_search(const struct catalog *c, const struct catalog_query *q,
		   const struct catalog_product **out, size_t max)
{
	char toks[SEARCH_TOKENS_MAX][SEARCH_TOKEN_MAX];
	struct scored s[CATALOG_PRODUCTS_MAX];
	size_t nq = 0, n = 0, useful = 0;
	const char *text = q && q->text ? q->text : "";

	struct bag *bag = NULL;

	if (strlen(text) > CATALOG_QUERY_MAX)
		return -E2BIG;
	nq = tokenize(text, toks, SEARCH_TOKENS_MAX);
	for (size_t i = 0; i < nq; i++)
		useful += !stop_word(toks[i]);
	for (size_t i = 0; i < c->n_products; i++) {
		const struct catalog_product *p = &c->products[i];
		int score = 0;

		if (q && q->category >= 0 && (int)p->category != q->category)
			continue;
		if (q && q->max_price_cents >= 0 && p->price_cents > q->max_price_cents)
			continue;
		if (useful) {
			if (!bag && !(bag = malloc(sizeof(*bag))))
				return -ENOMEM;
			score = product_score(p, bag, toks, nq);
			if (score <= 0)
				continue;
		}
		s[n].p = p;
		s[n].score = score;
		s[n].index = i;
		n++;
	}
	free(bag);
	qsort(s, n, sizeof(s[0]), cmp_scored);
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++)
		out[i] = s[i].p;
	return (int)n;
}
