/*
 * agent/beacon.c: byte tables for iBeacon, AltBeacon and Eddystone-UID, in
 * legacy- and extended-sized advertising data; every truncation; lying AD
 * lengths; several AD structures; unknown companies and frames; a fuzz loop
 * on exact-size heap buffers (run under ASan by `make asan`); the store
 * mapping and the text forms.
 */
#include "test.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/beacon.h"

/* E2C56DB5-DFFB-48D2-B060-D0F5A71096E0, the store app's UUID in the fixtures. */
static const uint8_t store_uuid[16] = {0xE2, 0xC5, 0x6D, 0xB5, 0xDF, 0xFB, 0x48, 0xD2,
				       0xB0, 0x60, 0xD0, 0xF5, 0xA7, 0x10, 0x96, 0xE0};

/* clang-format off */
/* Flags, then Apple manufacturer data: 02 15, UUID, major 0x0102, minor 0x2A2B, -59 dBm. */
static const uint8_t ibeacon[] = {
	0x02, 0x01, 0x06,
	0x1A, 0xFF, 0x4C, 0x00, 0x02, 0x15,
	0xE2, 0xC5, 0x6D, 0xB5, 0xDF, 0xFB, 0x48, 0xD2, 0xB0, 0x60, 0xD0, 0xF5, 0xA7, 0x10, 0x96, 0xE0,
	0x01, 0x02, 0x2A, 0x2B, 0xC5,
};
/* Flags, then Radius Networks (0x0118) manufacturer data: BE AC, 20-byte id,
 * reference RSSI -62, manufacturer byte 0x5A. */
static const uint8_t altbeacon[] = {
	0x02, 0x01, 0x06,
	0x1B, 0xFF, 0x18, 0x01, 0xBE, 0xAC,
	0xE2, 0xC5, 0x6D, 0xB5, 0xDF, 0xFB, 0x48, 0xD2, 0xB0, 0x60, 0xD0, 0xF5, 0xA7, 0x10, 0x96, 0xE0,
	0x00, 0x01, 0x00, 0xCA,
	0xC2, 0x5A,
};
/* Flags, service UUID list 0xFEAA, service data: FEAA, frame 0x00, -18 dBm at
 * 0 m, namespace, instance, RFU. */
static const uint8_t eddystone[] = {
	0x02, 0x01, 0x06,
	0x03, 0x03, 0xAA, 0xFE,
	0x17, 0x16, 0xAA, 0xFE, 0x00, 0xEE,
	0xE2, 0xC5, 0x6D, 0xB5, 0xD0, 0xF5, 0xA7, 0x10, 0x96, 0xE0,
	0x00, 0x00, 0x00, 0x00, 0x00, 0xC1,
	0x00, 0x00,
};
/* clang-format on */

/* An exact-size heap copy, so ASan sees any read past the end. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	if (n)
		memcpy(q, p, n);
	return q;
}

static int decode_exact(const uint8_t *p, size_t n, struct beacon_id *id, struct beacon_stats *st)
{
	uint8_t *q = dup_exact(p, n);
	int rc = beacon_decode(q, n, id, st);

	free(q);
	return rc;
}

TEST(ibeacon_fields)
{
	struct beacon_stats st = {0};
	struct beacon_id id;

	ASSERT_EQ(decode_exact(ibeacon, sizeof(ibeacon), &id, &st), 1);
	ASSERT_EQ(id.kind, BEACON_IBEACON);
	ASSERT(memcmp(id.uuid, store_uuid, 16) == 0);
	ASSERT_EQ(id.major, 0x0102);
	ASSERT_EQ(id.minor, 0x2A2B);
	ASSERT_EQ(id.measured_power, -59);
	ASSERT_EQ(id.company_id, 0x004C);
	ASSERT_EQ(st.reports, 1);
	ASSERT_EQ(st.beacons, 1);
	ASSERT_EQ(st.ibeacon, 1);
	ASSERT_EQ(st.malformed, 0);
}

TEST(altbeacon_fields_map_like_ibeacon)
{
	struct beacon_stats st = {0};
	struct beacon_id id;

	ASSERT_EQ(decode_exact(altbeacon, sizeof(altbeacon), &id, &st), 1);
	ASSERT_EQ(id.kind, BEACON_ALTBEACON);
	/* id[0..15] is the UUID, id[16..17] major, id[18..19] minor. */
	ASSERT(memcmp(id.uuid, store_uuid, 16) == 0);
	ASSERT_EQ(id.major, 1);
	ASSERT_EQ(id.minor, 0xCA);
	ASSERT_EQ(id.measured_power, -62);
	ASSERT_EQ(id.company_id, 0x0118);
	ASSERT_EQ(id.reserved, 0x5A);
	ASSERT_EQ(st.altbeacon, 1);
}

TEST(eddystone_uid_fields_with_and_without_rfu)
{
	static const uint8_t ns[10] = {0xE2, 0xC5, 0x6D, 0xB5, 0xD0, 0xF5, 0xA7, 0x10, 0x96, 0xE0};
	static const uint8_t inst[6] = {0, 0, 0, 0, 0, 0xC1};
	uint8_t short_form[sizeof(eddystone) - 2];
	struct beacon_stats st = {0};
	struct beacon_id id;

	ASSERT_EQ(decode_exact(eddystone, sizeof(eddystone), &id, &st), 1);
	ASSERT_EQ(id.kind, BEACON_EDDYSTONE_UID);
	ASSERT(memcmp(id.uuid, ns, 10) == 0);
	for (int i = 10; i < 16; i++)
		ASSERT_EQ(id.uuid[i], 0);
	ASSERT(memcmp(id.instance, inst, 6) == 0);
	/* -18 dBm at 0 m is -59 dBm at 1 m. */
	ASSERT_EQ(id.measured_power, -59);
	ASSERT_EQ(id.major, 0);
	ASSERT_EQ(id.company_id, 0);

	/* Without the two RFU bytes: length 0x15. */
	memcpy(short_form, eddystone, sizeof(short_form));
	short_form[7] = 0x15;
	ASSERT_EQ(decode_exact(short_form, sizeof(short_form), &id, &st), 1);
	ASSERT(memcmp(id.instance, inst, 6) == 0);
	ASSERT_EQ(st.eddystone_uid, 2);
	ASSERT_EQ(st.malformed, 0);

	/* 0 m power of -128 stays in range at 1 m. */
	memcpy(short_form, eddystone, sizeof(short_form));
	short_form[7] = 0x15;
	short_form[12] = 0x80;
	ASSERT_EQ(decode_exact(short_form, sizeof(short_form), &id, &st), 1);
	ASSERT_EQ(id.measured_power, -128);
}

TEST(extended_sized_data)
{
	/* 20 bytes of name, 12 of other service data, 100 of vendor data,
	 * then the iBeacon: 164 bytes, as an extended report carries. */
	uint8_t ad[BLE_ADV_DATA_MAX];
	struct beacon_stats st = {0};
	struct beacon_id id;
	size_t n = 0;

	ad[n++] = 21;
	ad[n++] = 0x09;
	memcpy(ad + n, "Store kiosk speaker!", 20);
	n += 20;
	ad[n++] = 12;
	ad[n++] = 0x16;
	ad[n++] = 0x0F;
	ad[n++] = 0x18; /* Battery service data */
	memset(ad + n, 0x64, 9);
	n += 9;
	ad[n++] = 101;
	ad[n++] = 0xFF;
	ad[n++] = 0x59; /* Nordic */
	ad[n++] = 0x00;
	memset(ad + n, 0xA5, 98);
	n += 98;
	memcpy(ad + n, ibeacon + 3, sizeof(ibeacon) - 3);
	n += sizeof(ibeacon) - 3;
	ASSERT(n > 31);
	ASSERT_EQ(decode_exact(ad, n, &id, &st), 1);
	ASSERT_EQ(id.kind, BEACON_IBEACON);
	ASSERT_EQ(id.minor, 0x2A2B);

	/* The largest report: 251 bytes, the beacon last, zero padding never needed. */
	n = 0;
	ad[n++] = 200;
	ad[n++] = 0xFF;
	ad[n++] = 0x59;
	ad[n++] = 0x00;
	memset(ad + n, 0x11, 197);
	n += 197;
	ad[n++] = 21;
	ad[n++] = 0x09;
	memset(ad + n, 'x', 20);
	n += 20;
	memcpy(ad + n, altbeacon + 3, sizeof(altbeacon) - 3);
	n += sizeof(altbeacon) - 3;
	ASSERT_EQ(n, BLE_ADV_DATA_MAX);
	ASSERT_EQ(decode_exact(ad, n, &id, &st), 1);
	ASSERT_EQ(id.kind, BEACON_ALTBEACON);
	ASSERT_EQ(st.malformed, 0);
}

/* Every prefix of a valid list: no beacon unless whole, and a structure cut
 * after its length byte is counted malformed. */
static void check_truncations(const uint8_t *full, size_t len)
{
	for (size_t cut = 0; cut < len; cut++) {
		struct beacon_stats st = {0};
		struct beacon_id id;
		uint64_t want_malformed;
		size_t off = 0;

		ASSERT_EQ(decode_exact(full, cut, &id, &st), 0);
		/* Does the cut fall inside a structure (after its length byte)? */
		while (off < cut && off + 1 + full[off] <= cut)
			off += 1 + full[off];
		want_malformed = off < cut;
		ASSERT_MSG(st.malformed == want_malformed, "cut at %zu: malformed %llu, want %llu",
			   cut, (unsigned long long)st.malformed,
			   (unsigned long long)want_malformed);
	}
}

TEST(every_truncation)
{
	struct beacon_id id;

	check_truncations(ibeacon, sizeof(ibeacon));
	check_truncations(altbeacon, sizeof(altbeacon));
	check_truncations(eddystone, sizeof(eddystone));
	ASSERT_EQ(decode_exact(ibeacon, sizeof(ibeacon), &id, NULL), 1);
}

TEST(lying_lengths)
{
	uint8_t ad[64];
	struct beacon_stats st = {0};
	struct beacon_id id;

	/* Zero length then zeros: the spec's padding, not malformed. */
	memset(ad, 0, sizeof(ad));
	memcpy(ad, ibeacon, 3);
	ASSERT_EQ(decode_exact(ad, 31, &id, &st), 0);
	ASSERT_EQ(st.malformed, 0);

	/* Zero length then junk: counted; what follows is not looked at. */
	memset(ad, 0, sizeof(ad));
	memcpy(ad + 1, ibeacon + 3, sizeof(ibeacon) - 3);
	ASSERT_EQ(decode_exact(ad, 1 + sizeof(ibeacon) - 3, &id, &st), 0);
	ASSERT_EQ(st.malformed, 1);

	/* A length of 255 in a 30-byte list: counted, nothing read past the end. */
	memcpy(ad, ibeacon, sizeof(ibeacon));
	ad[3] = 0xFF;
	ASSERT_EQ(decode_exact(ad, sizeof(ibeacon), &id, &st), 0);
	ASSERT_EQ(st.malformed, 2);

	/* iBeacon layout one byte too long (0x1B: a stray byte inside), then a
	 * good iBeacon: the first is skipped and counted, the second decoded. */
	{
		uint8_t two[31 + 30];
		size_t n = 0;

		two[n++] = 0x1B;
		memcpy(two + n, ibeacon + 4, 26);
		n += 26;
		two[n++] = 0x77;
		two[1 + 24] = 0x99; /* the first one's minor: 0x2A99 */
		memcpy(two + n, ibeacon + 3, 27);
		n += 27;
		ASSERT_EQ(decode_exact(two, n, &id, &st), 1);
		ASSERT_EQ(st.malformed, 3);
		ASSERT_EQ(id.minor, 0x2A2B);
	}

	/* The iBeacon's own length byte says 0x16 instead of 0x15. */
	memcpy(ad, ibeacon, sizeof(ibeacon));
	ad[8] = 0x16;
	ASSERT_EQ(decode_exact(ad, sizeof(ibeacon), &id, &st), 0);
	ASSERT_EQ(st.malformed, 4);

	/* AltBeacon one byte short (0x1A): the manufacturer byte missing. */
	memcpy(ad, altbeacon, sizeof(altbeacon) - 1);
	ad[3] = 0x1A;
	ASSERT_EQ(decode_exact(ad, sizeof(altbeacon) - 1, &id, &st), 0);
	ASSERT_EQ(st.malformed, 5);

	/* Eddystone-UID service data of 19 bytes (neither 18 nor 20). */
	memcpy(ad, eddystone, sizeof(eddystone) - 1);
	ad[7] = 0x16;
	ASSERT_EQ(decode_exact(ad, sizeof(eddystone) - 1, &id, &st), 0);
	ASSERT_EQ(st.malformed, 6);

	/* A structure of length 1 (type only, no data) is fine. */
	ad[0] = 0x01;
	ad[1] = 0xFF;
	memcpy(ad + 2, ibeacon + 3, 27);
	ASSERT_EQ(decode_exact(ad, 29, &id, &st), 1);
	ASSERT_EQ(st.malformed, 6);
}

TEST(multiple_structures_first_beacon_wins)
{
	uint8_t ad[BLE_ADV_DATA_MAX];
	struct beacon_id id;
	size_t n = 0;

	/* Flags, TX power level, short name, Eddystone, iBeacon. */
	memcpy(ad + n, "\x02\x01\x06\x02\x0A\xF4\x04\x08Pix", 11);
	n += 11;
	memcpy(ad + n, eddystone + 3, sizeof(eddystone) - 3);
	n += sizeof(eddystone) - 3;
	memcpy(ad + n, ibeacon + 3, sizeof(ibeacon) - 3);
	n += sizeof(ibeacon) - 3;
	ASSERT_EQ(decode_exact(ad, n, &id, NULL), 1);
	ASSERT_EQ(id.kind, BEACON_EDDYSTONE_UID);
}

TEST(not_beacons)
{
	struct beacon_stats st = {0};
	struct beacon_id id;
	uint8_t ad[40];

	/* 02 15 under another company is not an iBeacon. */
	memcpy(ad, ibeacon, sizeof(ibeacon));
	ad[5] = 0x59;
	ad[6] = 0x00;
	ASSERT_EQ(decode_exact(ad, sizeof(ibeacon), &id, &st), 0);
	/* Apple, but another type (0x10 Nearby Info). */
	memcpy(ad, "\x02\x01\x1A\x0A\xFF\x4C\x00\x10\x05\x01\x18\x44\x33\x11", 14);
	ASSERT_EQ(decode_exact(ad, 14, &id, &st), 0);
	/* Eddystone-URL (0x10) and TLM (0x20) frames. */
	memcpy(ad, "\x0A\x16\xAA\xFE\x10\xEE\x03goo", 11);
	ASSERT_EQ(decode_exact(ad, 11, &id, &st), 0);
	memcpy(ad, "\x11\x16\xAA\xFE\x20\x00\x0B\xB8\x17\x00\x00\x00\x01\x00\x00\x00\x10\x00", 18);
	ASSERT_EQ(decode_exact(ad, 18, &id, &st), 0);
	/* Service data of another UUID with a 0x00 first byte. */
	memcpy(ad, eddystone + 7, sizeof(eddystone) - 7);
	ad[2] = 0xAB;
	ASSERT_EQ(decode_exact(ad, sizeof(eddystone) - 7, &id, &st), 0);
	/* Manufacturer data too short to hold a layout. */
	ASSERT_EQ(decode_exact((const uint8_t *)"\x03\xFF\x4C\x00", 4, &id, &st), 0);
	ASSERT_EQ(st.beacons, 0);
	ASSERT_EQ(st.malformed, 0);
	ASSERT_EQ(st.reports, 6);
}

TEST(bad_arguments_and_empty)
{
	struct beacon_id id;
	struct ble_adv_report r = {0};

	ASSERT_EQ(beacon_decode(NULL, 3, &id, NULL), -EINVAL);
	ASSERT_EQ(beacon_decode(ibeacon, sizeof(ibeacon), NULL, NULL), -EINVAL);
	ASSERT_EQ(beacon_decode(NULL, 0, &id, NULL), 0);
	ASSERT_EQ(beacon_decode_report(NULL, &id, NULL), -EINVAL);
	ASSERT_EQ(beacon_decode_report(&r, &id, NULL), 0);
	r.data_len = sizeof(altbeacon);
	memcpy(r.data, altbeacon, sizeof(altbeacon));
	ASSERT_EQ(beacon_decode_report(&r, &id, NULL), 1);
	ASSERT_EQ(id.kind, BEACON_ALTBEACON);
	/* A report claiming more than it can hold is treated as empty. */
	r.data_len = 255;
	ASSERT_EQ(beacon_decode_report(&r, &id, NULL), 0);
}

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/*
 * Random lists and bit-flipped, length-poked beacons on exact-size heap
 * buffers. Besides ASan (make asan), the result must not depend on bytes
 * past len: the same bytes followed by junk decode the same.
 */
TEST(fuzz)
{
	static const uint8_t *const seeds[] = {ibeacon, altbeacon, eddystone};
	static const size_t seed_len[] = {sizeof(ibeacon), sizeof(altbeacon), sizeof(eddystone)};
	struct beacon_stats st = {0};
	uint64_t found = 0, cases = 0;

	for (int i = 0; i < 60000; i++) {
		uint8_t buf[BLE_ADV_DATA_MAX + 16], *q;
		struct beacon_id a, b;
		size_t len;
		int r1, r2;

		if (i % 3 == 0) {
			len = rnd() % (BLE_ADV_DATA_MAX + 1);
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)rnd();
		} else {
			size_t s = rnd() % 3, flips = 1 + rnd() % 4;

			len = seed_len[s];
			memcpy(buf, seeds[s], len);
			for (size_t k = 0; k < flips; k++) {
				size_t at = rnd() % len;

				if (rnd() % 2)
					buf[at] ^= (uint8_t)(1u << (rnd() % 8));
				else
					buf[at] = (uint8_t)rnd(); /* lengths too */
			}
			if (rnd() % 4 == 0)
				len = rnd() % (len + 1);
		}
		q = dup_exact(buf, len);
		r1 = beacon_decode(q, len, &a, &st);
		free(q);
		for (size_t k = len; k < sizeof(buf); k++)
			buf[k] = (uint8_t)rnd();
		r2 = beacon_decode(buf, len, &b, NULL);
		ASSERT_MSG(r1 == 0 || r1 == 1, "case %d: rc %d", i, r1);
		ASSERT_MSG(r1 == r2, "case %d: result depends on bytes past the end", i);
		if (r1 == 1) {
			ASSERT(a.kind == BEACON_IBEACON || a.kind == BEACON_ALTBEACON ||
			       a.kind == BEACON_EDDYSTONE_UID);
			ASSERT_MSG(memcmp(&a, &b, sizeof(a)) == 0, "case %d: decoded differently",
				   i);
			found++;
		}
		cases++;
	}
	ASSERT_EQ(st.reports, cases);
	ASSERT_EQ(st.beacons, found);
	ASSERT_EQ(st.ibeacon + st.altbeacon + st.eddystone_uid, found);
	/* The mutations must exercise both outcomes. */
	ASSERT(found > 1000);
	ASSERT(st.malformed > 1000);
}

TEST(store_mapping_and_identity)
{
	struct beacon_id ib, alt, ed;
	struct store_beacon_id s;

	ASSERT_EQ(beacon_decode(ibeacon, sizeof(ibeacon), &ib, NULL), 1);
	ASSERT_EQ(beacon_decode(altbeacon, sizeof(altbeacon), &alt, NULL), 1);
	ASSERT_EQ(beacon_decode(eddystone, sizeof(eddystone), &ed, NULL), 1);

	beacon_to_store(&ib, &s);
	ASSERT_EQ(s.kind, STORE_BEACON_IBEACON);
	ASSERT(memcmp(s.uuid, store_uuid, 16) == 0);
	ASSERT_EQ(s.major, 0x0102);
	ASSERT_EQ(s.minor, 0x2A2B);

	beacon_to_store(&alt, &s);
	ASSERT_EQ(s.kind, STORE_BEACON_IBEACON);
	ASSERT_EQ(s.major, 1);
	ASSERT_EQ(s.minor, 0xCA);

	beacon_to_store(&ed, &s);
	ASSERT_EQ(s.kind, STORE_BEACON_EDDYSTONE);
	ASSERT(memcmp(s.uuid, ed.uuid, 10) == 0);
	ASSERT_EQ(s.uuid[12], 0);
	ASSERT_EQ(s.instance[5], 0xC1);
	ASSERT_EQ(s.major, 0);

	/* The same app install as iBeacon and as AltBeacon is one identity. */
	alt.major = ib.major;
	alt.minor = ib.minor;
	alt.measured_power = -70;
	ASSERT(beacon_same(&ib, &alt));
	alt.minor++;
	ASSERT(!beacon_same(&ib, &alt));
	ASSERT(!beacon_same(&ib, &ed));
	ASSERT(beacon_same(&ed, &ed));
}

TEST(text_forms)
{
	uint8_t u[16], h[10];
	char buf[BEACON_UUID_STR_LEN], small[16], json[BEACON_JSON_MAX];
	struct beacon_id id;

	ASSERT_EQ(beacon_parse_uuid("E2C56DB5-DFFB-48D2-B060-D0F5A71096E0", u), 0);
	ASSERT(memcmp(u, store_uuid, 16) == 0);
	ASSERT_EQ(beacon_parse_uuid("e2c56db5dffb48d2b060d0f5a71096e0", u), 0);
	ASSERT(memcmp(u, store_uuid, 16) == 0);
	ASSERT_STREQ(beacon_uuid_str(u, buf), "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0");
	ASSERT_EQ(beacon_parse_uuid("E2C56DB5-DFFB-48D2-B060D0F5A71096E0", u), -EINVAL);
	ASSERT_EQ(beacon_parse_uuid("E2C56DB5DFFB-48D2-B060-D0F5A71096E0-", u), -EINVAL);
	ASSERT_EQ(beacon_parse_uuid("E2C56DB5-DFFB-48D2-B060-D0F5A71096E", u), -EINVAL);
	ASSERT_EQ(beacon_parse_uuid("G2C56DB5-DFFB-48D2-B060-D0F5A71096E0", u), -EINVAL);
	ASSERT_EQ(beacon_parse_uuid("", u), -EINVAL);
	ASSERT_EQ(beacon_parse_hex("E2C56DB5D0F5A71096E0", h, 10), 0);
	ASSERT_EQ(h[9], 0xE0);
	ASSERT_EQ(beacon_parse_hex("0xe2c56db5d0f5a71096e0", h, 10), 0);
	ASSERT_EQ(beacon_parse_hex("E2C56DB5D0F5A71096E", h, 10), -EINVAL);
	ASSERT_EQ(beacon_parse_hex("E2C56DB5D0F5A71096EZ", h, 10), -EINVAL);
	ASSERT_STREQ(beacon_kind_name(BEACON_EDDYSTONE_UID), "eddystone_uid");
	ASSERT_STREQ(beacon_kind_name((enum beacon_kind)42), "unknown");

	ASSERT_EQ(beacon_decode(ibeacon, sizeof(ibeacon), &id, NULL), 1);
	ASSERT(beacon_id_to_json(&id, json, sizeof(json)) > 0);
	ASSERT_STREQ(json, "\"kind\":\"ibeacon\",\"uuid\":\"E2C56DB5-DFFB-48D2-B060-D0F5A71096E0\","
			   "\"major\":258,\"minor\":10795");
	ASSERT_EQ(beacon_id_to_json(&id, small, sizeof(small)), -ENOSPC);
	ASSERT_EQ(beacon_decode(eddystone, sizeof(eddystone), &id, NULL), 1);
	ASSERT(beacon_id_to_json(&id, json, sizeof(json)) > 0);
	ASSERT_STREQ(json, "\"kind\":\"eddystone_uid\",\"namespace\":\"E2C56DB5D0F5A71096E0\","
			   "\"instance\":\"0000000000C1\"");
	ASSERT_EQ(beacon_decode(altbeacon, sizeof(altbeacon), &id, NULL), 1);
	ASSERT(beacon_id_to_json(&id, json, sizeof(json)) > 0);
	ASSERT_CONTAINS(json, "\"kind\":\"altbeacon\"");
	ASSERT_CONTAINS(json, "\"minor\":202,\"company_id\":280");
}
