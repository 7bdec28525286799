/*
 * hal/hci.c: the event parser from byte-exact tables, and the fd reader and
 * command path over socketpairs where a thread plays the controller.
 */
#include "test.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hal/hci.h"
#include "hal/time.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- byte tables ------------------------------------------------------ */

/* Byte tables laid out one report field group per line. */
/* clang-format off */
/* LE Advertising Report, 3 reports: an iBeacon (30 bytes of data), a
 * scan response with a name, and an empty ADV_IND with RSSI "unknown". */
static const uint8_t legacy3[] = {
	0x3e, 0x45, 0x02, 0x03,
	/* 1: ADV_NONCONN_IND, random, 5C:3A:91:0E:7B:22 */
	0x03, 0x01, 0x22, 0x7b, 0x0e, 0x91, 0x3a, 0x5c, 0x1e,
	0x02, 0x01, 0x06, 0x1a, 0xff, 0x4c, 0x00, 0x02, 0x15,
	0x6f, 0x2c, 0x1a, 0x5e, 0x8b, 0x3d, 0x4c, 0x7a, 0x9e, 0x10, 0x3b, 0x5d, 0x7c, 0x2a, 0x9f, 0x41,
	0x00, 0x01, 0x00, 0x2a, 0xc5,
	0xb5, /* -75 dBm */
	/* 2: SCAN_RSP, public, F0:99:B6:11:22:33, "LE-TV" */
	0x04, 0x00, 0x33, 0x22, 0x11, 0xb6, 0x99, 0xf0, 0x07,
	0x06, 0x09, 'L', 'E', '-', 'T', 'V',
	0xc4, /* -60 dBm */
	/* 3: ADV_IND, public, 01:02:03:04:05:06, no data */
	0x00, 0x00, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x00,
	0x7f, /* not available */
};

/* LE Extended Advertising Report, one report: connectable+scannable
 * legacy-style properties 0x0013, random, LE 1M/none, SID 0xff, tx +4 dBm,
 * -61 dBm, no periodic, no direct address, 3 bytes of data. */
static const uint8_t ext1[] = {
	0x3e, 0x1d, 0x0d, 0x01,
	0x13, 0x00, 0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	0x01, 0x00, 0xff, 0x04, 0xc3,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x03, 0x02, 0x01, 0x06,
};

/* Two extended reports, the second on LE Coded/2M with 0 bytes of data. */
static const uint8_t ext2[] = {
	0x3e, 0x35, 0x0d, 0x02,
	0x13, 0x00, 0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	0x01, 0x00, 0xff, 0x04, 0xc3,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x03, 0x02, 0x01, 0x06,
	0x20, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
	0x03, 0x02, 0x05, 0x7f, 0x7f,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00,
};
/* clang-format on */

static const uint8_t cmd_complete_scan_params[] = {0x0e, 0x04, 0x01, 0x0b, 0x20, 0x00};

static void check_legacy3(const struct ble_adv_report *r)
{
	static const uint8_t a0[6] = {0x22, 0x7b, 0x0e, 0x91, 0x3a, 0x5c};

	ASSERT_EQ(r[0].kind, BLE_REPORT_LEGACY);
	ASSERT_EQ(r[0].event_type, 3);
	ASSERT_EQ(r[0].addr_type, 1);
	ASSERT(memcmp(r[0].addr, a0, 6) == 0);
	ASSERT_EQ(r[0].data_len, 30);
	ASSERT(memcmp(r[0].data, &legacy3[13], 30) == 0);
	ASSERT_EQ(r[0].rssi, -75);
	ASSERT_EQ(r[0].tx_power, BLE_TX_POWER_NONE);
	ASSERT_EQ(r[0].primary_phy, 0);
	ASSERT_EQ(r[1].event_type, 4);
	ASSERT_EQ(r[1].addr_type, 0);
	ASSERT_EQ(r[1].addr[5], 0xf0);
	ASSERT_EQ(r[1].data_len, 7);
	ASSERT(memcmp(r[1].data, "\x06\x09LE-TV", 7) == 0);
	ASSERT_EQ(r[1].rssi, -60);
	ASSERT_EQ(r[2].event_type, 0);
	ASSERT_EQ(r[2].addr[0], 0x06);
	ASSERT_EQ(r[2].data_len, 0);
	ASSERT_EQ(r[2].rssi, BLE_RSSI_NONE);
}

TEST(legacy_event_with_three_reports)
{
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];

	ASSERT_EQ(sizeof(legacy3), 2 + 0x45);
	ASSERT_EQ(hci_parse_event(legacy3, sizeof(legacy3), r, NELEM(r)), 3);
	check_legacy3(r);
	if (test_failed())
		return;
	ASSERT_EQ(r[0].ts_ns, 0);
}

TEST(extended_reports)
{
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];

	ASSERT_EQ(sizeof(ext1), 2 + 0x1d);
	ASSERT_EQ(hci_parse_event(ext1, sizeof(ext1), r, NELEM(r)), 1);
	ASSERT_EQ(r[0].kind, BLE_REPORT_EXTENDED);
	ASSERT_EQ(r[0].event_type, 0x0013);
	ASSERT_EQ(r[0].addr_type, 1);
	ASSERT_EQ(r[0].addr[0], 0xaa);
	ASSERT_EQ(r[0].addr[5], 0xff);
	ASSERT_EQ(r[0].primary_phy, 1);
	ASSERT_EQ(r[0].secondary_phy, 0);
	ASSERT_EQ(r[0].sid, 0xff);
	ASSERT_EQ(r[0].tx_power, 4);
	ASSERT_EQ(r[0].rssi, -61);
	ASSERT_EQ(r[0].data_len, 3);
	ASSERT(memcmp(r[0].data, "\x02\x01\x06", 3) == 0);

	ASSERT_EQ(sizeof(ext2), 2 + 0x35);
	ASSERT_EQ(hci_parse_event(ext2, sizeof(ext2), r, NELEM(r)), 2);
	ASSERT_EQ(r[1].event_type, 0x0020);
	ASSERT_EQ(r[1].addr[5], 0x66);
	ASSERT_EQ(r[1].primary_phy, 3);
	ASSERT_EQ(r[1].secondary_phy, 2);
	ASSERT_EQ(r[1].sid, 5);
	ASSERT_EQ(r[1].tx_power, BLE_TX_POWER_NONE);
	ASSERT_EQ(r[1].rssi, BLE_RSSI_NONE);
	ASSERT_EQ(r[1].data_len, 0);
}

/* Parses a copy in a heap block of exactly len bytes, so ASan sees any
 * read past the end. */
static int parse_copy(const uint8_t *evt, size_t len, struct ble_adv_report *r, size_t max)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, evt, len);
	rc = hci_parse_event(copy, len, r, max);
	free(copy);
	return rc;
}

TEST(lying_parameter_length)
{
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];
	uint8_t e[sizeof(legacy3)];

	memcpy(e, legacy3, sizeof(e));
	e[1] = 0x46; /* one more than present */
	ASSERT_EQ(parse_copy(e, sizeof(e), r, NELEM(r)), -EBADMSG);
	e[1] = 0x44; /* one fewer */
	ASSERT_EQ(parse_copy(e, sizeof(e), r, NELEM(r)), -EBADMSG);
	e[1] = 0xff;
	ASSERT_EQ(parse_copy(e, sizeof(e), r, NELEM(r)), -EBADMSG);
}

TEST(every_truncation_is_rejected)
{
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];
	uint8_t e[sizeof(legacy3)];
	size_t n;

	/* Cut anywhere with the header's length fixed up to match: a report
	 * always ends up short or the counts disagree. */
	for (n = 3; n < sizeof(legacy3); n++) {
		memcpy(e, legacy3, n);
		e[1] = (uint8_t)(n - 2);
		ASSERT_MSG(parse_copy(e, n, r, NELEM(r)) == -EBADMSG, "legacy cut at %zu", n);
	}
	for (n = 3; n < sizeof(ext2); n++) {
		memcpy(e, ext2, n);
		e[1] = (uint8_t)(n - 2);
		ASSERT_MSG(parse_copy(e, n, r, NELEM(r)) == -EBADMSG, "extended cut at %zu", n);
	}
	/* And without fixing it up. */
	for (n = 0; n < sizeof(legacy3); n++)
		ASSERT_MSG(parse_copy(legacy3, n, r, NELEM(r)) == -EBADMSG, "raw cut at %zu", n);
}

TEST(data_len_past_the_end)
{
	/* One report whose data_len says 10 but 2 bytes follow before RSSI. */
	static const uint8_t e[] = {0x3e, 0x0e, 0x02, 0x01, 0x00, 0x00, 1,    2,
				    3,	  4,	5,    6,    0x0a, 0xaa, 0xbb, 0xc0};
	/* Extended report whose data_len says 200. */
	uint8_t x[sizeof(ext1)];
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];

	ASSERT_EQ(sizeof(e), 2 + 0x0e);
	ASSERT_EQ(parse_copy(e, sizeof(e), r, NELEM(r)), -EBADMSG);
	memcpy(x, ext1, sizeof(x));
	x[27] = 200;
	ASSERT_EQ(parse_copy(x, sizeof(x), r, NELEM(r)), -EBADMSG);
	x[27] = 2; /* fewer than present: trailing byte */
	ASSERT_EQ(parse_copy(x, sizeof(x), r, NELEM(r)), -EBADMSG);
}

TEST(num_reports_out_of_range)
{
	static const uint8_t zero[] = {0x3e, 0x02, 0x02, 0x00};
	static const uint8_t ext_zero[] = {0x3e, 0x02, 0x0d, 0x00};
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];
	uint8_t e[2 + 255];

	ASSERT_EQ(parse_copy(zero, sizeof(zero), r, NELEM(r)), -EBADMSG);
	ASSERT_EQ(parse_copy(ext_zero, sizeof(ext_zero), r, NELEM(r)), -EBADMSG);

	/* 26 empty reports fit in 255 bytes (26 * 10 = 260 does not): build
	 * 25 that fit and claim 26. */
	memset(e, 0, sizeof(e));
	e[0] = 0x3e;
	e[2] = 0x02;
	e[3] = 25;
	for (int i = 0; i < 25; i++)
		e[4 + i * 10 + 9] = 0xc0;
	e[1] = 2 + 25 * 10;
	ASSERT_EQ(parse_copy(e, 4 + 250, r, NELEM(r)), 25);
	e[3] = 26;
	ASSERT_EQ(parse_copy(e, 4 + 250, r, NELEM(r)), -EBADMSG);
	e[3] = 0xff;
	ASSERT_EQ(parse_copy(e, 4 + 250, r, NELEM(r)), -EBADMSG);
	/* Claims 3, carries 2. */
	memcpy(e, legacy3, sizeof(legacy3));
	e[3] = 4;
	ASSERT_EQ(parse_copy(e, sizeof(legacy3), r, NELEM(r)), -EBADMSG);
	/* Claims 2, carries 3: leftover bytes. */
	e[3] = 2;
	ASSERT_EQ(parse_copy(e, sizeof(legacy3), r, NELEM(r)), -EBADMSG);
	/* Extended: 11 is over the spec's 10 even before the length check. */
	memcpy(e, ext1, sizeof(ext1));
	e[3] = 11;
	ASSERT_EQ(parse_copy(e, sizeof(ext1), r, NELEM(r)), -EBADMSG);
}

TEST(legacy_data_over_31_bytes)
{
	/* data_len 32 with all 32 bytes and the RSSI present: still rejected. */
	uint8_t e[4 + 9 + 32 + 1];
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];

	memset(e, 0x11, sizeof(e));
	e[0] = 0x3e;
	e[1] = sizeof(e) - 2;
	e[2] = 0x02;
	e[3] = 1;
	e[4] = 0x00;
	e[5] = 0x00;
	e[12] = 32;
	ASSERT_EQ(parse_copy(e, sizeof(e), r, NELEM(r)), -EBADMSG);
	/* 31 is the limit and fine. */
	e[1] = sizeof(e) - 3;
	e[12] = 31;
	ASSERT_EQ(parse_copy(e, sizeof(e) - 1, r, NELEM(r)), 1);
	ASSERT_EQ(r[0].data_len, 31);
	ASSERT_EQ(r[0].rssi, 0x11);
}

TEST(legacy_event_type_out_of_range)
{
	uint8_t e[sizeof(legacy3)];
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];

	memcpy(e, legacy3, sizeof(e));
	e[4] = 5;
	ASSERT_EQ(parse_copy(e, sizeof(e), r, NELEM(r)), -EBADMSG);
}

TEST(other_events_are_ignored)
{
	/* LE Connection Complete (subevent 0x01) */
	static const uint8_t conn[] = {0x3e, 0x13, 0x01, 0x00, 0x40, 0x00, 0x00,
				       0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
				       0x18, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00};
	/* Disconnection Complete */
	static const uint8_t disc[] = {0x05, 0x04, 0x00, 0x40, 0x00, 0x13};
	static const uint8_t empty_meta[] = {0x3e, 0x00};
	static const uint8_t short_hdr[] = {0x3e};
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];

	ASSERT_EQ(parse_copy(conn, sizeof(conn), r, NELEM(r)), 0);
	ASSERT_EQ(parse_copy(disc, sizeof(disc), r, NELEM(r)), 0);
	ASSERT_EQ(
	    parse_copy(cmd_complete_scan_params, sizeof(cmd_complete_scan_params), r, NELEM(r)), 0);
	/* Still checked: a lying length is malformed whatever the event. */
	ASSERT_EQ(parse_copy(disc, sizeof(disc) - 1, r, NELEM(r)), -EBADMSG);
	ASSERT_EQ(parse_copy(empty_meta, sizeof(empty_meta), r, NELEM(r)), -EBADMSG);
	ASSERT_EQ(parse_copy(short_hdr, sizeof(short_hdr), r, NELEM(r)), -EBADMSG);
	ASSERT_EQ(parse_copy(short_hdr, 0, r, NELEM(r)), -EBADMSG);
}

TEST(too_few_slots_is_enospc_and_stays_in_bounds)
{
	struct ble_adv_report r[3];

	memset(&r[1], 0xa5, sizeof(r[1]));
	ASSERT_EQ(hci_parse_event(legacy3, sizeof(legacy3), r, 1), -ENOSPC);
	ASSERT_EQ(r[0].data_len, 30);
	ASSERT_EQ(r[1].data_len, 0xa5);
	ASSERT_EQ(hci_parse_event(legacy3, sizeof(legacy3), r, 3), 3);
}

TEST(status_names)
{
	ASSERT_STREQ(hci_status_str(0x0c), "Command Disallowed");
	ASSERT_STREQ(hci_status_str(0x12), "Invalid HCI Command Parameters");
	ASSERT_STREQ(hci_status_str(0xee), "unknown status");
}

/* Random bytes and mutations of good events: no crash, no out-of-range
 * result, and any report handed back is within its limits. */
TEST(fuzz_never_crashes)
{
	const uint8_t *seeds[] = {legacy3, ext1, ext2};
	const size_t seed_len[] = {sizeof(legacy3), sizeof(ext1), sizeof(ext2)};
	struct ble_adv_report r[HCI_ADV_REPORTS_MAX];
	uint32_t s = 12345;
	uint8_t e[2 + 255];
	int i, accepted = 0, rejected = 0;

	for (i = 0; i < 20000; i++) {
		size_t len, k;
		int rc;

		s = s * 1103515245u + 12345u;
		if (i % 2) {
			len = (s >> 8) % sizeof(e);
			for (k = 0; k < len; k++) {
				s = s * 1103515245u + 12345u;
				e[k] = (uint8_t)(s >> 16);
			}
			if (len > 2 && (s & 1)) {
				/* Mostly LE meta with a consistent header, to get deep. */
				e[0] = 0x3e;
				e[1] = (uint8_t)(len - 2);
				e[2] = (s & 2) ? 0x02 : 0x0d;
			}
		} else {
			size_t which = (s >> 4) % 3, flips = 1 + (s >> 12) % 4;

			len = seed_len[which];
			memcpy(e, seeds[which], len);
			for (k = 0; k < flips; k++) {
				s = s * 1103515245u + 12345u;
				e[(s >> 8) % len] ^= (uint8_t)(1u << ((s >> 20) % 8));
			}
		}
		rc = parse_copy(e, len, r, NELEM(r));
		ASSERT_MSG(rc == -EBADMSG || (rc >= 0 && rc <= HCI_ADV_REPORTS_MAX),
			   "iteration %d: rc %d", i, rc);
		for (int j = 0; j < rc; j++) {
			ASSERT(r[j].data_len <= BLE_ADV_DATA_MAX);
			ASSERT(r[j].kind != BLE_REPORT_LEGACY || r[j].data_len <= 31);
		}
		if (rc > 0)
			accepted++;
		else if (rc < 0)
			rejected++;
	}
	/* Both paths exercised, or the fuzzing proves nothing. */
	ASSERT(accepted > 100);
	ASSERT(rejected > 100);
}

/* ---- the fd reader ---------------------------------------------------- */

static void pair(int type, int sv[2])
{
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		abort();
	}
}

static void send_all(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n) {
		perror("write");
		abort();
	}
}

/* An H4 packet: indicator + event. */
static void send_event(int fd, const uint8_t *evt, size_t len)
{
	uint8_t pkt[1 + 2 + 255];

	pkt[0] = HCI_PKT_EVENT;
	memcpy(pkt + 1, evt, len);
	send_all(fd, pkt, len + 1);
}

TEST(reader_hands_up_reports_one_at_a_time)
{
	struct ble_adv_report r[3], x;
	struct ble_stats st;
	struct hci_io *io;
	int sv[2];

	pair(SOCK_SEQPACKET, sv);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	send_event(sv[1], cmd_complete_scan_params, sizeof(cmd_complete_scan_params));
	send_event(sv[1], legacy3, sizeof(legacy3));
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(hci_io_read_report(io, &r[i], 1000), 1);
	check_legacy3(r);
	ASSERT(r[0].ts_ns > 0);
	ASSERT(r[0].ts_ns <= r[1].ts_ns && r[1].ts_ns <= r[2].ts_ns);
	ASSERT_EQ(hci_io_read_report(io, &x, 10), 0);
	hci_io_stats(io, &st);
	ASSERT_EQ(st.events, 2);
	ASSERT_EQ(st.reports, 3);
	ASSERT_EQ(st.malformed, 0);
	hci_io_free(io);
	close(sv[0]);
	close(sv[1]);
}

TEST(reader_skips_bad_datagrams)
{
	static const uint8_t acl[] = {0x02, 0x40, 0x20, 0x02, 0x00, 0xaa, 0xbb};
	static const uint8_t unknown[] = {0x09, 0x01, 0x02};
	uint8_t lying[1 + 12];
	struct ble_adv_report r;
	struct ble_stats st;
	struct hci_io *io;
	int sv[2];

	pair(SOCK_SEQPACKET, sv);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	/* The header says 0x45 parameter bytes; the datagram carries 10. */
	lying[0] = HCI_PKT_EVENT;
	memcpy(lying + 1, legacy3, 12);
	send_all(sv[1], lying, sizeof(lying));
	send_all(sv[1], acl, sizeof(acl));
	send_all(sv[1], unknown, sizeof(unknown));
	send_event(sv[1], ext1, sizeof(ext1));
	ASSERT_EQ(hci_io_read_report(io, &r, 1000), 1);
	ASSERT_EQ(r.kind, BLE_REPORT_EXTENDED);
	hci_io_stats(io, &st);
	ASSERT_EQ(st.malformed, 2);
	ASSERT_EQ(st.events, 1);
	ASSERT_CONTAINS(hci_io_error(io), "0x09");
	hci_io_free(io);
	close(sv[0]);
	close(sv[1]);
}

TEST(reader_counts_malformed_events)
{
	uint8_t bad[sizeof(legacy3)];
	struct ble_adv_report r;
	struct ble_stats st;
	struct hci_io *io;
	int sv[2];

	pair(SOCK_SEQPACKET, sv);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	memcpy(bad, legacy3, sizeof(bad));
	bad[12] = 0x40; /* first report's data_len: 64 */
	send_event(sv[1], bad, sizeof(bad));
	send_event(sv[1], ext1, sizeof(ext1));
	ASSERT_EQ(hci_io_read_report(io, &r, 1000), 1);
	ASSERT_EQ(r.kind, BLE_REPORT_EXTENDED);
	hci_io_stats(io, &st);
	ASSERT_EQ(st.events, 2);
	ASSERT_EQ(st.malformed, 1);
	ASSERT_EQ(st.reports, 1);
	ASSERT_CONTAINS(hci_io_error(io), "malformed HCI event 0x3e/0x02 (71 bytes)");
	hci_io_free(io);
	close(sv[0]);
	close(sv[1]);
}

TEST(stream_reassembles_split_packets)
{
	/* ACL and command packets in the stream are skipped by their lengths. */
	static const uint8_t acl[] = {0x02, 0x40, 0x20, 0x03, 0x00, 0xaa, 0xbb, 0xcc};
	static const uint8_t cmd[] = {0x01, 0x0c, 0x20, 0x02, 0x01, 0x00};
	uint8_t stream[512];
	size_t n = 0, cut;
	struct ble_adv_report r;
	struct ble_stats st;
	struct hci_io *io;
	int sv[2];

	memcpy(stream + n, acl, sizeof(acl));
	n += sizeof(acl);
	stream[n++] = HCI_PKT_EVENT;
	memcpy(stream + n, legacy3, sizeof(legacy3));
	n += sizeof(legacy3);
	memcpy(stream + n, cmd, sizeof(cmd));
	n += sizeof(cmd);
	stream[n++] = HCI_PKT_EVENT;
	memcpy(stream + n, ext1, sizeof(ext1));
	n += sizeof(ext1);

	/* Every cut point: first part, a timeout, the rest, then all 4 reports. */
	for (cut = 1; cut < n; cut += 7) {
		pair(SOCK_STREAM, sv);
		ASSERT_EQ(hci_io_new(sv[0], &io), 0);
		send_all(sv[1], stream, cut);
		if (cut < sizeof(acl) + 1 + sizeof(legacy3))
			ASSERT_MSG(hci_io_read_report(io, &r, 0) == 0, "cut %zu", cut);
		send_all(sv[1], stream + cut, n - cut);
		for (int i = 0; i < 3; i++) {
			ASSERT_MSG(hci_io_read_report(io, &r, 1000) == 1, "cut %zu", cut);
			ASSERT_EQ(r.kind, BLE_REPORT_LEGACY);
		}
		ASSERT_MSG(hci_io_read_report(io, &r, 1000) == 1, "cut %zu", cut);
		ASSERT_EQ(r.kind, BLE_REPORT_EXTENDED);
		hci_io_stats(io, &st);
		ASSERT_EQ(st.events, 2);
		ASSERT_EQ(st.malformed, 0);
		hci_io_free(io);
		close(sv[0]);
		close(sv[1]);
	}
}

TEST(stream_byte_by_byte_through_a_pipe)
{
	struct ble_adv_report r;
	struct hci_io *io;
	int p[2];

	ASSERT_EQ(pipe(p), 0);
	ASSERT_EQ(hci_io_new(p[0], &io), 0);
	send_all(p[1], "\x04", 1);
	for (size_t i = 0; i < sizeof(ext1); i++) {
		ASSERT_EQ(hci_io_read_report(io, &r, 0), 0);
		send_all(p[1], &ext1[i], 1);
	}
	ASSERT_EQ(hci_io_read_report(io, &r, 0), 1);
	ASSERT_EQ(r.rssi, -61);
	close(p[1]);
	ASSERT_EQ(hci_io_read_report(io, &r, 1000), -EPIPE);
	ASSERT_CONTAINS(hci_io_error(io), "end of file");
	hci_io_free(io);
	close(p[0]);
}

TEST(stream_garbage_drops_the_buffer)
{
	static const uint8_t junk[] = {0xee, 0x3e, 0x01};
	struct ble_adv_report r;
	struct ble_stats st;
	struct hci_io *io;
	int sv[2];

	pair(SOCK_STREAM, sv);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	send_all(sv[1], junk, sizeof(junk));
	ASSERT_EQ(hci_io_read_report(io, &r, 50), 0);
	hci_io_stats(io, &st);
	ASSERT_EQ(st.malformed, 1);
	ASSERT_CONTAINS(hci_io_error(io), "0xee");
	/* Once the junk is gone, framing resumes with the next packet. */
	send_event(sv[1], ext1, sizeof(ext1));
	ASSERT_EQ(hci_io_read_report(io, &r, 1000), 1);
	hci_io_free(io);
	close(sv[0]);
	close(sv[1]);
}

TEST(read_event_needs_a_full_size_buffer)
{
	uint8_t small[16], big[HCI_EVENT_LEN_MAX];
	struct hci_io *io;
	int sv[2];

	pair(SOCK_SEQPACKET, sv);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	ASSERT_EQ(hci_io_read_event(io, small, sizeof(small), 0), -ENOSPC);
	send_event(sv[1], ext1, sizeof(ext1));
	ASSERT_EQ(hci_io_read_event(io, big, sizeof(big), 1000), (int)sizeof(ext1));
	ASSERT(memcmp(big, ext1, sizeof(ext1)) == 0);
	hci_io_free(io);
	close(sv[0]);
	close(sv[1]);
}

/* ---- commands against a scripted controller ---------------------------- */

struct step {
	const uint8_t *expect; /* command bytes the host must send; NULL: none */
	size_t expect_len;
	const uint8_t *reply[3]; /* H4 packets to answer with, in order */
	size_t reply_len[3];
};

struct controller {
	int fd;
	const struct step *steps;
	size_t nsteps;
	bool quiet_after; /* fail if the host sends anything more */
	char fail[512];
};

static void hex(char *out, size_t cap, const uint8_t *p, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used + 4 < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%02x ", p[i]);
}

static void *controller_run(void *arg)
{
	struct controller *c = arg;
	uint8_t buf[512];
	char got[200], want[200];

	for (size_t i = 0; i < c->nsteps; i++) {
		const struct step *s = &c->steps[i];

		if (s->expect) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
			ssize_t n;

			if (poll(&pfd, 1, 2000) != 1) {
				snprintf(c->fail, sizeof(c->fail), "step %zu: no command came", i);
				return NULL;
			}
			n = read(c->fd, buf, sizeof(buf));
			if (n != (ssize_t)s->expect_len || memcmp(buf, s->expect, s->expect_len)) {
				hex(got, sizeof(got), buf, n > 0 ? (size_t)n : 0);
				hex(want, sizeof(want), s->expect, s->expect_len);
				snprintf(c->fail, sizeof(c->fail), "step %zu: got [%s] want [%s]",
					 i, got, want);
				return NULL;
			}
		}
		for (int k = 0; k < 3 && s->reply[k]; k++)
			send_all(c->fd, s->reply[k], s->reply_len[k]);
	}
	if (c->quiet_after) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

		if (poll(&pfd, 1, 100) == 1 && read(c->fd, buf, sizeof(buf)) > 0)
			snprintf(c->fail, sizeof(c->fail),
				 "a command after the last step: %02x %02x %02x", buf[0], buf[1],
				 buf[2]);
	}
	return NULL;
}

static const uint8_t set_params_active[] = {0x01, 0x0b, 0x20, 0x07, 0x01, 0xa0,
					    0x00, 0x50, 0x00, 0x00, 0x00};
static const uint8_t set_params_passive_dup[] = {0x01, 0x0b, 0x20, 0x07, 0x00, 0x40,
						 0x06, 0x40, 0x06, 0x01, 0x00};
static const uint8_t enable_nodup[] = {0x01, 0x0c, 0x20, 0x02, 0x01, 0x00};
static const uint8_t enable_dup[] = {0x01, 0x0c, 0x20, 0x02, 0x01, 0x01};
static const uint8_t disable[] = {0x01, 0x0c, 0x20, 0x02, 0x00, 0x00};
static const uint8_t cc_params_ok[] = {0x04, 0x0e, 0x04, 0x01, 0x0b, 0x20, 0x00};
static const uint8_t cc_params_disallowed[] = {0x04, 0x0e, 0x04, 0x01, 0x0b, 0x20, 0x0c};
static const uint8_t cc_enable_ok[] = {0x04, 0x0e, 0x04, 0x01, 0x0c, 0x20, 0x00};
static const uint8_t cs_enable_unknown[] = {0x04, 0x0f, 0x04, 0x01, 0x01, 0x0c, 0x20};
/* Command Complete for another command (Reset, 0x0c03). */
static const uint8_t cc_reset[] = {0x04, 0x0e, 0x04, 0x01, 0x03, 0x0c, 0x00};
/* Command Complete for our opcode without return parameters. */
static const uint8_t cc_enable_nostatus[] = {0x04, 0x0e, 0x03, 0x01, 0x0c, 0x20};

struct rig {
	int sv[2];
	struct hci_io *io;
	struct controller ctl;
	pthread_t thread;
};

static void rig_start(struct rig *r, const struct step *steps, size_t n, bool quiet_after)
{
	pair(SOCK_SEQPACKET, r->sv);
	if (hci_io_new(r->sv[0], &r->io) < 0)
		abort();
	memset(&r->ctl, 0, sizeof(r->ctl));
	r->ctl.fd = r->sv[1];
	r->ctl.steps = steps;
	r->ctl.nsteps = n;
	r->ctl.quiet_after = quiet_after;
	if (pthread_create(&r->thread, NULL, controller_run, &r->ctl) != 0)
		abort();
}

static void rig_stop(struct rig *r)
{
	pthread_join(r->thread, NULL);
	hci_io_free(r->io);
	close(r->sv[0]);
	close(r->sv[1]);
}

TEST(scan_start_sends_exact_commands)
{
	const struct step steps[] = {
	    {set_params_active, sizeof(set_params_active), {cc_params_ok}, {sizeof(cc_params_ok)}},
	    {enable_nodup, sizeof(enable_nodup), {cc_enable_ok}, {sizeof(cc_enable_ok)}},
	};
	struct hci_scan_params p = {.active = true, .interval = 160, .window = 80};
	struct rig r;
	uint8_t status = 0xff;

	rig_start(&r, steps, NELEM(steps), true);
	ASSERT_EQ(hci_io_scan_start(r.io, &p, 1000, &status), 0);
	ASSERT_EQ(status, 0);
	rig_stop(&r);
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(scan_start_passive_with_duplicate_filter)
{
	const struct step steps[] = {
	    {set_params_passive_dup,
	     sizeof(set_params_passive_dup),
	     {cc_params_ok},
	     {sizeof(cc_params_ok)}},
	    {enable_dup, sizeof(enable_dup), {cc_enable_ok}, {sizeof(cc_enable_ok)}},
	};
	struct hci_scan_params p = {
	    .interval = 0x0640, .window = 0x0640, .filter_duplicates = true, .own_addr_type = 1};
	struct rig r;

	rig_start(&r, steps, NELEM(steps), true);
	ASSERT_EQ(hci_io_scan_start(r.io, &p, 1000, NULL), 0);
	rig_stop(&r);
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(scan_start_error_status_stops_there)
{
	const struct step steps[] = {
	    {set_params_active,
	     sizeof(set_params_active),
	     {cc_params_disallowed},
	     {sizeof(cc_params_disallowed)}},
	};
	struct hci_scan_params p = {.active = true, .interval = 160, .window = 80};
	struct rig r;
	uint8_t status = 0;

	rig_start(&r, steps, NELEM(steps), true);
	ASSERT_EQ(hci_io_scan_start(r.io, &p, 1000, &status), -EIO);
	ASSERT_EQ(status, 0x0c);
	ASSERT_CONTAINS(hci_io_error(r.io), "LE Set Scan Parameters (0x200b)");
	ASSERT_CONTAINS(hci_io_error(r.io), "status 0x0c (Command Disallowed)");
	rig_stop(&r);
	/* quiet_after: the enable command was never sent. */
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(command_status_error)
{
	const struct step steps[] = {
	    {enable_nodup, sizeof(enable_nodup), {cs_enable_unknown}, {sizeof(cs_enable_unknown)}},
	};
	struct rig r;
	uint8_t status = 0;

	rig_start(&r, steps, NELEM(steps), true);
	ASSERT_EQ(hci_io_command(r.io, HCI_OP_LE_SET_SCAN_ENABLE, "\x01\x00", 2, 1000, &status),
		  -EIO);
	ASSERT_EQ(status, 0x01);
	ASSERT_CONTAINS(hci_io_error(r.io), "Unknown HCI Command");
	rig_stop(&r);
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(command_waits_past_other_events)
{
	uint8_t adv[1 + sizeof(legacy3)];
	struct ble_adv_report rep;
	struct ble_stats st;
	struct rig r;

	adv[0] = HCI_PKT_EVENT;
	memcpy(adv + 1, legacy3, sizeof(legacy3));
	{
		const struct step steps[] = {
		    {disable,
		     sizeof(disable),
		     {adv, cc_reset, cc_enable_ok},
		     {sizeof(adv), sizeof(cc_reset), sizeof(cc_enable_ok)}},
		};

		rig_start(&r, steps, NELEM(steps), true);
		ASSERT_EQ(hci_io_scan_stop(r.io, 1000), 0);
		/* The reports that came meanwhile were dropped, not queued. */
		ASSERT_EQ(hci_io_read_report(r.io, &rep, 0), 0);
		hci_io_stats(r.io, &st);
		ASSERT_EQ(st.events, 3);
		ASSERT_EQ(st.reports, 0);
		rig_stop(&r);
	}
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(command_keeps_reports_already_queued)
{
	const struct step steps[] = {
	    {NULL, 0, {NULL}, {0}},
	    {disable, sizeof(disable), {cc_enable_ok}, {sizeof(cc_enable_ok)}},
	};
	struct ble_adv_report rep[3];
	struct rig r;

	rig_start(&r, steps, NELEM(steps), true);
	send_event(r.sv[1], legacy3, sizeof(legacy3));
	ASSERT_EQ(hci_io_read_report(r.io, &rep[0], 1000), 1);
	ASSERT_EQ(hci_io_scan_stop(r.io, 1000), 0);
	ASSERT_EQ(hci_io_read_report(r.io, &rep[1], 0), 1);
	ASSERT_EQ(hci_io_read_report(r.io, &rep[2], 0), 1);
	check_legacy3(rep);
	if (test_failed())
		return;
	rig_stop(&r);
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(timeout_holds_under_a_flood_of_other_events)
{
	struct ble_adv_report rep;
	struct ble_stats st;
	struct hci_io *io;
	int sv[2];

	/* 50 other events queued before a report: with no time left, the
	 * reader stops after one instead of draining the flood. */
	pair(SOCK_SEQPACKET, sv);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	for (int i = 0; i < 50; i++)
		send_all(sv[1], cc_reset, sizeof(cc_reset));
	send_event(sv[1], ext1, sizeof(ext1));
	ASSERT_EQ(hci_io_read_report(io, &rep, 0), 0);
	hci_io_stats(io, &st);
	ASSERT_EQ(st.events, 1);
	ASSERT_EQ(hci_io_read_report(io, &rep, 1000), 1);
	hci_io_stats(io, &st);
	ASSERT_EQ(st.events, 51);
	hci_io_free(io);
	close(sv[0]);
	close(sv[1]);
}

TEST(command_complete_without_status)
{
	const struct step steps[] = {
	    {disable, sizeof(disable), {cc_enable_nostatus}, {sizeof(cc_enable_nostatus)}},
	};
	struct rig r;

	rig_start(&r, steps, NELEM(steps), true);
	ASSERT_EQ(hci_io_scan_stop(r.io, 1000), -EBADMSG);
	ASSERT_CONTAINS(hci_io_error(r.io), "no status");
	rig_stop(&r);
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(command_times_out_when_the_controller_is_silent)
{
	const struct step steps[] = {
	    {disable, sizeof(disable), {NULL}, {0}},
	};
	struct rig r;
	uint64_t t0, ms;

	rig_start(&r, steps, NELEM(steps), false);
	t0 = hal_now_ns();
	ASSERT_EQ(hci_io_scan_stop(r.io, 100), -ETIMEDOUT);
	ms = (hal_now_ns() - t0) / 1000000;
	ASSERT_MSG(ms >= 100 && ms < 1000, "timed out after %llu ms", (unsigned long long)ms);
	ASSERT_CONTAINS(hci_io_error(r.io), "LE Set Scan Enable (0x200c) within 100 ms");
	rig_stop(&r);
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}

TEST(command_reports_end_of_file)
{
	struct hci_io *io;
	int sv[2];

	pair(SOCK_SEQPACKET, sv);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	shutdown(sv[1], SHUT_WR);
	ASSERT_EQ(hci_io_scan_stop(io, 1000), -EPIPE);
	hci_io_free(io);
	close(sv[0]);
	close(sv[1]);
}

TEST(command_write_error)
{
	struct hci_io *io;
	int sv[2];

	pair(SOCK_SEQPACKET, sv);
	close(sv[1]);
	ASSERT_EQ(hci_io_new(sv[0], &io), 0);
	ASSERT_EQ(hci_io_scan_stop(io, 100), -EPIPE);
	ASSERT_CONTAINS(hci_io_error(io), "cannot send LE Set Scan Enable");
	hci_io_free(io);
	close(sv[0]);
}

TEST(scan_params_out_of_range_send_nothing)
{
	struct hci_scan_params p = {.interval = 160, .window = 200};
	struct rig r;

	rig_start(&r, NULL, 0, true);
	ASSERT_EQ(hci_io_scan_start(r.io, &p, 100, NULL), -EINVAL);
	ASSERT_CONTAINS(hci_io_error(r.io), "window 200");
	p.window = 3;
	ASSERT_EQ(hci_io_scan_start(r.io, &p, 100, NULL), -EINVAL);
	p.window = 4;
	p.interval = 0x4001;
	ASSERT_EQ(hci_io_scan_start(r.io, &p, 100, NULL), -EINVAL);
	ASSERT_CONTAINS(hci_io_error(r.io), "interval 16385");
	p.interval = 0x4000;
	p.own_addr_type = 4;
	ASSERT_EQ(hci_io_scan_start(r.io, &p, 100, NULL), -EINVAL);
	rig_stop(&r);
	ASSERT_MSG(!r.ctl.fail[0], "%s", r.ctl.fail);
}
