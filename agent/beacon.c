#include "agent/beacon.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define AD_TYPE_SERVICE_DATA_16 0x16
#define AD_TYPE_MANUFACTURER 0xFF

/* Manufacturer data after the type byte: company (2), then the layout. */
#define IBEACON_DATA_LEN (2 + 2 + 16 + 2 + 2 + 1)
#define ALTBEACON_DATA_LEN (2 + 2 + BEACON_ALTBEACON_ID_LEN + 1 + 1)
/* Service data after the type byte: UUID (2), frame, power, namespace, instance [, RFU 2]. */
#define EDDYSTONE_UID_LEN (2 + 1 + 1 + BEACON_NAMESPACE_LEN + BEACON_INSTANCE_LEN)
#define EDDYSTONE_UID_RFU_LEN (EDDYSTONE_UID_LEN + 2)

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* 1 decoded, 0 not a beacon, -EBADMSG a beacon layout with the wrong length. */
static int decode_manufacturer(const uint8_t *d, size_t n, struct beacon_id *ret)
{
	uint16_t company;

	if (n < 4)
		return 0;
	company = get_le16(d);
	if (company == BEACON_COMPANY_APPLE && d[2] == 0x02) {
		/* Apple type 0x02 is iBeacon; its own length byte must say 21. */
		if (d[3] != 0x15 || n != IBEACON_DATA_LEN)
			return -EBADMSG;
		memset(ret, 0, sizeof(*ret));
		ret->kind = BEACON_IBEACON;
		ret->company_id = company;
		memcpy(ret->uuid, d + 4, 16);
		ret->major = get_be16(d + 20);
		ret->minor = get_be16(d + 22);
		ret->measured_power = (int8_t)d[24];
		return 1;
	}
	if (d[2] == 0xBE && d[3] == 0xAC) {
		if (n != ALTBEACON_DATA_LEN)
			return -EBADMSG;
		memset(ret, 0, sizeof(*ret));
		ret->kind = BEACON_ALTBEACON;
		ret->company_id = company;
		memcpy(ret->uuid, d + 4, 16);
		ret->major = get_be16(d + 20);
		ret->minor = get_be16(d + 22);
		ret->measured_power = (int8_t)d[24];
		ret->reserved = d[25];
		return 1;
	}
	return 0;
}

static int decode_service_data(const uint8_t *d, size_t n, struct beacon_id *ret)
{
	int power;

	if (n < 3 || get_le16(d) != BEACON_EDDYSTONE_UUID || d[2] != 0x00)
		return 0;
	if (n != EDDYSTONE_UID_LEN && n != EDDYSTONE_UID_RFU_LEN)
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->kind = BEACON_EDDYSTONE_UID;
	power = (int8_t)d[3] - BEACON_EDDYSTONE_LOSS_1M;
	ret->measured_power = (int8_t)(power < -128 ? -128 : power);
	memcpy(ret->uuid, d + 4, BEACON_NAMESPACE_LEN);
	memcpy(ret->instance, d + 4 + BEACON_NAMESPACE_LEN, BEACON_INSTANCE_LEN);
	return 1;
}

int beacon_decode(const uint8_t *ad, size_t len, struct beacon_id *ret, struct beacon_stats *stats)
{
	struct beacon_stats dummy;
	size_t off = 0;
	int rc = 0;

	if (!ret || (!ad && len))
		return -EINVAL;
	if (!stats)
		stats = &dummy;
	stats->reports++;
	while (off < len && rc <= 0) {
		size_t l = ad[off];
		const uint8_t *data;

		if (l == 0) {
			/* The rest is the non-significant part: zeros, or junk. */
			for (off++; off < len; off++)
				if (ad[off]) {
					stats->malformed++;
					break;
				}
			break;
		}
		if (l > len - off - 1) {
			/* The length runs past the data: nothing after it can be framed. */
			stats->malformed++;
			break;
		}
		data = ad + off + 2;
		switch (ad[off + 1]) {
		case AD_TYPE_MANUFACTURER:
			rc = decode_manufacturer(data, l - 1, ret);
			break;
		case AD_TYPE_SERVICE_DATA_16:
			rc = decode_service_data(data, l - 1, ret);
			break;
		default:
			rc = 0;
			break;
		}
		if (rc < 0)
			stats->malformed++;
		off += 1 + l;
	}
	if (rc <= 0)
		return 0;
	stats->beacons++;
	switch (ret->kind) {
	case BEACON_IBEACON:
		stats->ibeacon++;
		break;
	case BEACON_ALTBEACON:
		stats->altbeacon++;
		break;
	case BEACON_EDDYSTONE_UID:
		stats->eddystone_uid++;
		break;
	}
	return 1;
}

int beacon_decode_report(const struct ble_adv_report *r, struct beacon_id *ret,
			 struct beacon_stats *stats)
{
	if (!r)
		return -EINVAL;
	return beacon_decode(r->data, r->data_len <= BLE_ADV_DATA_MAX ? r->data_len : 0, ret,
			     stats);
}

const char *beacon_kind_name(enum beacon_kind kind)
{
	switch (kind) {
	case BEACON_IBEACON:
		return "ibeacon";
	case BEACON_ALTBEACON:
		return "altbeacon";
	case BEACON_EDDYSTONE_UID:
		return "eddystone_uid";
	}
	return "unknown";
}

void beacon_to_store(const struct beacon_id *b, struct store_beacon_id *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->kind = b->kind == BEACON_EDDYSTONE_UID ? STORE_BEACON_EDDYSTONE : STORE_BEACON_IBEACON;
	memcpy(ret->uuid, b->uuid, 16);
	if (b->kind == BEACON_EDDYSTONE_UID) {
		memset(ret->uuid + BEACON_NAMESPACE_LEN, 0, 16 - BEACON_NAMESPACE_LEN);
		memcpy(ret->instance, b->instance, BEACON_INSTANCE_LEN);
	} else {
		ret->major = b->major;
		ret->minor = b->minor;
	}
}

bool beacon_same(const struct beacon_id *a, const struct beacon_id *b)
{
	struct store_beacon_id x, y;

	beacon_to_store(a, &x);
	beacon_to_store(b, &y);
	return x.kind == y.kind && memcmp(x.uuid, y.uuid, 16) == 0 && x.major == y.major &&
	       x.minor == y.minor && memcmp(x.instance, y.instance, BEACON_INSTANCE_LEN) == 0;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_hex_run(const char *s, size_t digits, uint8_t *out)
{
	for (size_t i = 0; i < digits; i += 2) {
		int hi = hex_val(s[i]), lo = hi < 0 ? -1 : hex_val(s[i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int beacon_parse_hex(const char *s, uint8_t *ret, size_t n)
{
	if (!s || !ret)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (strlen(s) != 2 * n)
		return -EINVAL;
	return parse_hex_run(s, 2 * n, ret);
}

int beacon_parse_uuid(const char *s, uint8_t ret[16])
{
	/* Hex digits per dash-separated group of the canonical form. */
	static const size_t groups[] = {8, 4, 4, 4, 12};
	uint8_t out[16];
	size_t len, g, k = 0;

	if (!s || !ret)
		return -EINVAL;
	len = strlen(s);
	if (len == 32) {
		if (parse_hex_run(s, 32, out) < 0)
			return -EINVAL;
		memcpy(ret, out, 16);
		return 0;
	}
	if (len != 36)
		return -EINVAL;
	for (g = 0; g < 5; g++) {
		if (parse_hex_run(s, groups[g], out + k) < 0)
			return -EINVAL;
		k += groups[g] / 2;
		s += groups[g];
		if (g < 4 && *s++ != '-')
			return -EINVAL;
	}
	memcpy(ret, out, 16);
	return 0;
}

char *beacon_hex_str(const uint8_t *p, size_t n, char *buf)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = digits[p[i] >> 4];
		buf[2 * i + 1] = digits[p[i] & 15];
	}
	buf[2 * n] = '\0';
	return buf;
}

char *beacon_uuid_str(const uint8_t uuid[16], char buf[BEACON_UUID_STR_LEN])
{
	char hex[33];

	beacon_hex_str(uuid, 16, hex);
	snprintf(buf, BEACON_UUID_STR_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
	return buf;
}

int beacon_id_to_json(const struct beacon_id *b, char *buf, size_t len)
{
	char a[BEACON_UUID_STR_LEN], c[2 * BEACON_INSTANCE_LEN + 1];
	int n = -1;

	switch (b->kind) {
	case BEACON_IBEACON:
		n = snprintf(buf, len,
			     "\"kind\":\"ibeacon\",\"uuid\":\"%s\",\"major\":%u,\"minor\":%u",
			     beacon_uuid_str(b->uuid, a), b->major, b->minor);
		break;
	case BEACON_ALTBEACON:
		n = snprintf(buf, len,
			     "\"kind\":\"altbeacon\",\"uuid\":\"%s\",\"major\":%u,\"minor\":%u,"
			     "\"company_id\":%u",
			     beacon_uuid_str(b->uuid, a), b->major, b->minor, b->company_id);
		break;
	case BEACON_EDDYSTONE_UID:
		beacon_hex_str(b->uuid, BEACON_NAMESPACE_LEN, a);
		n = snprintf(buf, len,
			     "\"kind\":\"eddystone_uid\",\"namespace\":\"%s\",\"instance\":\"%s\"",
			     a, beacon_hex_str(b->instance, BEACON_INSTANCE_LEN, c));
		break;
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
