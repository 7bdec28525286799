/*
 * hal/btsnoop.c: write -> read round trips for each datalink with the bytes
 * on disk checked exactly, corrupt files, and the committed fixture being
 * exactly what tests/support/btsnoop_fixtures.c writes.
 */
#include "test.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal/btsnoop.h"
#include "hal/hci.h"
#include "tests/support/btsnoop_fixtures.h"

/* 2024-05-14 09:30:00.250000 UTC */
#define TS 1715679000250000ll

static const uint8_t evt[] = {0x0e, 0x04, 0x01, 0x0c, 0x20, 0x00};
static const uint8_t cmd[] = {0x0c, 0x20, 0x02, 0x01, 0x00};
static const uint8_t acl[] = {0x40, 0x20, 0x02, 0x00, 0xaa, 0xbb};

static const char *tmp_path(const char *name)
{
	static char path[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", test_tmpdir(), name);
	return path[k];
}

/* The whole file in a malloc'd buffer (caller frees); NULL if unreadable. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

TEST(monitor_round_trip)
{
	static const uint8_t bdaddr[6] = {0x13, 0x71, 0xda, 0x7d, 0x1a, 0x00};
	/* clang-format off */
	static const uint8_t head[] = { 'b', 't', 's', 'n', 'o', 'o', 'p', 0, 0, 0, 0, 1,
					0x00, 0x00, 0x07, 0xd1 };
	/* clang-format on */
	const char *path = tmp_path("mon.btsnoop");
	struct btsnoop_writer *w;
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;
	uint8_t *file;
	size_t len;

	ASSERT_EQ(btsnoop_writer_create(path, 0, &w, &err), 0);
	ASSERT_EQ(btsnoop_writer_new_index(w, TS, 0, 1, bdaddr, "hci0", &err), 0);
	ASSERT_EQ(
	    btsnoop_writer_packet(w, TS + 1, BTSNOOP_PACKET_COMMAND, 0, cmd, sizeof(cmd), &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, TS + 2, evt, sizeof(evt), &err), 0);
	ASSERT_EQ(
	    btsnoop_writer_packet(w, TS + 3, BTSNOOP_PACKET_ACL_RX, 3, acl, sizeof(acl), &err), 0);
	ASSERT_EQ(btsnoop_writer_close(w, &err), 0);

	/* On disk: header, then the event record (third) byte for byte. */
	file = slurp(path, &len);
	ASSERT(file);
	ASSERT_EQ(len, 16 + (24 + 16) + (24 + 5) + (24 + 6) + (24 + 6));
	ASSERT(memcmp(file, head, 16) == 0);
	{
		const uint8_t *e = file + 16 + 40 + 29;
		/* clang-format off */
		static const uint8_t rec_hdr[] = {
			0, 0, 0, 6, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0, 0,
			/* 0x00dcddb30f2f8000 + TS + 2 = 0x00e2f619b48b4692 */
			0x00, 0xe2, 0xf6, 0x19, 0xb4, 0x8b, 0x46, 0x92,
		};
		/* clang-format on */

		ASSERT_EQ(BTSNOOP_EPOCH_DELTA_US + TS + 2, 0x00e2f619b48b4692ull);
		ASSERT(memcmp(e, rec_hdr, sizeof(rec_hdr)) == 0);
		ASSERT(memcmp(e + 24, evt, sizeof(evt)) == 0);
		/* ACL on index 3: flags 0x00030005 */
		ASSERT_EQ(be32(file + len - 6 - 24 + 8), 0x00030005);
		/* New Index: opcode 0, 16 bytes: type 0, bus 1, bdaddr, "hci0" */
		ASSERT_EQ(be32(file + 16 + 8), 0);
		ASSERT_EQ(file[16 + 24 + 1], 1);
		ASSERT(memcmp(file + 16 + 24 + 2, bdaddr, 6) == 0);
		ASSERT(memcmp(file + 16 + 24 + 8, "hci0\0\0\0\0", 8) == 0);
	}
	free(file);

	ASSERT_EQ(btsnoop_reader_open(path, &r, &err), 0);
	ASSERT_EQ(btsnoop_reader_format(r), BTSNOOP_FORMAT_MONITOR);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_OTHER);
	ASSERT_EQ(rec.opcode, BTSNOOP_OPCODE_NEW_INDEX);
	ASSERT_EQ(rec.ts_us, TS);
	ASSERT_EQ(rec.offset, 16);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_COMMAND);
	ASSERT_EQ(rec.len, sizeof(cmd));
	ASSERT(memcmp(rec.data, cmd, sizeof(cmd)) == 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_EVENT);
	ASSERT_EQ(rec.ts_us, TS + 2);
	ASSERT_EQ(rec.len, sizeof(evt));
	ASSERT_EQ(rec.orig_len, sizeof(evt));
	ASSERT(memcmp(rec.data, evt, sizeof(evt)) == 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_ACL_RX);
	ASSERT_EQ(rec.index, 3);
	ASSERT(memcmp(rec.data, acl, sizeof(acl)) == 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 0);
	/* Rewind starts over at the first record. */
	ASSERT_EQ(btsnoop_reader_rewind(r, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.offset, 16);
	btsnoop_reader_free(r);
}

TEST(uart_round_trip)
{
	const char *path = tmp_path("h4.btsnoop");
	struct btsnoop_writer *w;
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;
	uint8_t *file;
	size_t len;

	ASSERT_EQ(btsnoop_writer_create(path, BTSNOOP_FORMAT_UART, &w, &err), 0);
	ASSERT_EQ(btsnoop_writer_packet(w, TS, BTSNOOP_PACKET_COMMAND, 0, cmd, sizeof(cmd), &err),
		  0);
	ASSERT_EQ(btsnoop_writer_event(w, TS + 100, evt, sizeof(evt), &err), 0);
	ASSERT_EQ(
	    btsnoop_writer_packet(w, TS + 200, BTSNOOP_PACKET_ACL_TX, 0, acl, sizeof(acl), &err),
	    0);
	ASSERT_EQ(btsnoop_writer_close(w, &err), 0);

	file = slurp(path, &len);
	ASSERT(file);
	ASSERT_EQ(len, 16 + 24 + 6 + 24 + 7 + 24 + 7);
	ASSERT_EQ(be32(file + 12), 1002);
	/* Command: lengths include the H4 byte, flags 2 (sent command), 0x01 first. */
	ASSERT_EQ(be32(file + 16), 6);
	ASSERT_EQ(be32(file + 16 + 4), 6);
	ASSERT_EQ(be32(file + 16 + 8), 2);
	ASSERT_EQ(file[16 + 24], 0x01);
	/* Event: flags 3 (received event), 0x04 first. */
	ASSERT_EQ(be32(file + 46 + 8), 3);
	ASSERT_EQ(file[46 + 24], 0x04);
	ASSERT(memcmp(file + 46 + 25, evt, sizeof(evt)) == 0);
	/* ACL sent: flags 0, 0x02 first. */
	ASSERT_EQ(be32(file + 77 + 8), 0);
	ASSERT_EQ(file[77 + 24], 0x02);
	free(file);

	ASSERT_EQ(btsnoop_reader_open(path, &r, &err), 0);
	ASSERT_EQ(btsnoop_reader_format(r), BTSNOOP_FORMAT_UART);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_COMMAND);
	ASSERT_EQ(rec.len, sizeof(cmd));
	ASSERT(memcmp(rec.data, cmd, sizeof(cmd)) == 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_EVENT);
	ASSERT_EQ(rec.ts_us, TS + 100);
	ASSERT_EQ(rec.len, sizeof(evt));
	ASSERT(memcmp(rec.data, evt, sizeof(evt)) == 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_ACL_TX);
	ASSERT_EQ(rec.index, 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 0);
	btsnoop_reader_free(r);
}

TEST(hci_1001_round_trip)
{
	const char *path = tmp_path("hci.btsnoop");
	struct btsnoop_writer *w;
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;

	ASSERT_EQ(btsnoop_writer_create(path, BTSNOOP_FORMAT_HCI, &w, &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, TS, evt, sizeof(evt), &err), 0);
	ASSERT_EQ(btsnoop_writer_packet(w, TS, BTSNOOP_PACKET_SCO_RX, 0, acl, sizeof(acl), &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "SCO or ISO");
	ASSERT_EQ(btsnoop_writer_packet(w, TS, BTSNOOP_PACKET_ACL_RX, 0, acl, sizeof(acl), &err),
		  0);
	ASSERT_EQ(btsnoop_writer_close(w, &err), 0);
	ASSERT_EQ(btsnoop_reader_open(path, &r, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_EVENT);
	ASSERT_EQ(rec.flags, 3);
	ASSERT(memcmp(rec.data, evt, sizeof(evt)) == 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.type, BTSNOOP_PACKET_ACL_RX);
	ASSERT_EQ(rec.flags, 1);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 0);
	btsnoop_reader_free(r);
}

TEST(writer_rejects_bad_requests)
{
	static const uint8_t bdaddr[6] = {0};
	struct btsnoop_writer *w;
	struct btsnoop_error err;

	ASSERT_EQ(btsnoop_writer_create(tmp_path("x"), 1003, &w, &err), -EPROTONOSUPPORT);
	ASSERT(w == NULL);
	ASSERT_CONTAINS(err.msg, "1003");
	ASSERT_EQ(btsnoop_writer_create("/nonexistent/dir/x.btsnoop", 0, &w, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "/nonexistent/dir/x.btsnoop");

	ASSERT_EQ(btsnoop_writer_create(tmp_path("uart"), BTSNOOP_FORMAT_UART, &w, &err), 0);
	ASSERT_EQ(btsnoop_writer_packet(w, TS, BTSNOOP_PACKET_OTHER, 0, evt, sizeof(evt), &err),
		  -EINVAL);
	ASSERT_EQ(btsnoop_writer_packet(w, TS, BTSNOOP_PACKET_EVENT, 1, evt, sizeof(evt), &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "index 1");
	ASSERT_EQ(btsnoop_writer_new_index(w, TS, 0, 1, bdaddr, "hci0", &err), -EINVAL);
	ASSERT_EQ(
	    btsnoop_writer_event(w, -(int64_t)BTSNOOP_EPOCH_DELTA_US - 1, evt, sizeof(evt), &err),
	    -EINVAL);
	ASSERT_CONTAINS(err.msg, "before 0 AD");
	ASSERT_EQ(btsnoop_writer_event(w, TS, evt, BTSNOOP_RECORD_MAX, &err), -EINVAL);
	ASSERT_EQ(btsnoop_writer_close(w, &err), 0);
	ASSERT_EQ(btsnoop_writer_close(NULL, &err), 0);
}

TEST(writer_reports_a_full_disk)
{
	struct btsnoop_writer *w;
	struct btsnoop_error err;
	static uint8_t big[8192];
	int rc = 0;

	if (access("/dev/full", W_OK) != 0)
		return; /* nothing to test against on this system */
	ASSERT_EQ(btsnoop_writer_create("/dev/full", 0, &w, &err), 0);
	/* stdio buffers; the error shows at the latest on close. */
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = btsnoop_writer_packet(w, TS, BTSNOOP_PACKET_ACL_RX, 0, big, sizeof(big), &err);
	ASSERT_EQ(rc, -ENOSPC);
	ASSERT_EQ(btsnoop_writer_event(w, TS, evt, sizeof(evt), &err), -ENOSPC);
	ASSERT_EQ(btsnoop_writer_close(w, &err), -ENOSPC);
	ASSERT_CONTAINS(err.msg, "/dev/full");
}

TEST(timestamps_before_1970_survive)
{
	const char *path = tmp_path("old.btsnoop");
	struct btsnoop_writer *w;
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;

	ASSERT_EQ(btsnoop_writer_create(path, 0, &w, &err), 0);
	ASSERT_EQ(btsnoop_writer_event(w, -(int64_t)BTSNOOP_EPOCH_DELTA_US, evt, sizeof(evt), &err),
		  0);
	ASSERT_EQ(btsnoop_writer_event(w, -1, evt, sizeof(evt), &err), 0);
	ASSERT_EQ(btsnoop_writer_close(w, &err), 0);
	ASSERT_EQ(btsnoop_reader_open(path, &r, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.ts_us, -(int64_t)BTSNOOP_EPOCH_DELTA_US);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(rec.ts_us, -1);
	btsnoop_reader_free(r);
}

/* ---- corrupt files ---------------------------------------------------- */

/* clang-format off */
static const uint8_t good_header[16] = { 'b', 't', 's', 'n', 'o', 'o', 'p', 0, 0, 0, 0, 1,
					 0x00, 0x00, 0x07, 0xd1 };
/* clang-format on */

/* Writes the bytes as a file and opens it: btsnoop_reader_open's result, or
 * test_write_file's error. */
static int open_bytes(const char *name, const uint8_t *p, size_t n, struct btsnoop_reader **r,
		      struct btsnoop_error *err)
{
	const char *path = tmp_path(name);
	int rc = test_write_file(path, p, n);

	if (rc < 0)
		return rc;
	return btsnoop_reader_open(path, r, err);
}

TEST(rejects_bad_headers)
{
	uint8_t h[16];
	struct btsnoop_reader *r;
	struct btsnoop_error err;

	memcpy(h, good_header, 16);
	h[0] = 'B';
	ASSERT_EQ(open_bytes("magic", h, 16, &r, &err), -EBADMSG);
	ASSERT(r == NULL);
	ASSERT_CONTAINS(err.msg, "magic");
	ASSERT_CONTAINS(err.msg, "/magic");
	ASSERT_CONTAINS(err.msg, "btmon -w");

	memcpy(h, good_header, 16);
	h[11] = 2;
	ASSERT_EQ(open_bytes("version", h, 16, &r, &err), -EBADMSG);
	ASSERT_CONTAINS(err.msg, "byte 8: btsnoop version 2");

	memcpy(h, good_header, 16);
	h[14] = 0x03;
	h[15] = 0xeb; /* 1003, BCSP */
	ASSERT_EQ(open_bytes("datalink", h, 16, &r, &err), -EPROTONOSUPPORT);
	ASSERT_CONTAINS(err.msg, "byte 12: datalink type 1003 not supported");

	ASSERT_EQ(open_bytes("short", good_header, 10, &r, &err), -EBADMSG);
	ASSERT_CONTAINS(err.msg, "10 bytes, too short");

	ASSERT_EQ(btsnoop_reader_open(tmp_path("missing"), &r, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "cannot open");
}

/* A monitor file: header + one 6-byte event record + the given tail. */
static size_t with_tail(uint8_t *out, const uint8_t *tail, size_t n)
{
	/* clang-format off */
	static const uint8_t rec[] = { 0, 0, 0, 6, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0, 0,
				       0, 0xe2, 0xf6, 0x19, 0xb4, 0x8b, 0x46, 0x92 };
	/* clang-format on */

	memcpy(out, good_header, 16);
	memcpy(out + 16, rec, 24);
	memcpy(out + 40, evt, 6);
	memcpy(out + 46, tail, n);
	return 46 + n;
}

static void expect_corrupt(const char *name, const uint8_t *tail, size_t n, const char *what)
{
	uint8_t file[256];
	size_t len = with_tail(file, tail, n);
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;

	ASSERT_EQ(open_bytes(name, file, len, &r, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), -EBADMSG);
	ASSERT_CONTAINS(err.msg, name);
	ASSERT_CONTAINS(err.msg, "byte 46: ");
	ASSERT_CONTAINS(err.msg, what);
	/* It stays failed: no reading on from a lost position. */
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), -EBADMSG);
	ASSERT_EQ(btsnoop_reader_rewind(r, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 1);
	btsnoop_reader_free(r);
}

TEST(rejects_corrupt_records)
{
	/* clang-format off */
	/* Header cut after 10 bytes. */
	static const uint8_t cut_header[10] = { 0, 0, 0, 6, 0, 0, 0, 6, 0, 0 };
	/* Claims 100 bytes, carries 4. */
	static const uint8_t truncated[] = { 0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 3, 0, 0, 0, 0,
					     0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
	/* 2 GB. */
	static const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
					0,    0,    0,    3,    0,    0,    0,    0,
					0,    0,    0,    0,    0,    0,    0,    0 };
	/* 65541: one over the limit. */
	static const uint8_t over[] = { 0, 1, 0, 5, 0, 1, 0, 5, 0, 0, 0, 3, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0 };
	/* Included 6 > original 4. */
	static const uint8_t incl[] = { 0, 0, 0, 4, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6 };
	/* clang-format on */

	expect_corrupt("cut_header", cut_header, sizeof(cut_header), "header cut short (10 of 24");
	if (test_failed())
		return;
	expect_corrupt("truncated", truncated, sizeof(truncated),
		       "record of 100 bytes runs past the end of the file (74 bytes)");
	if (test_failed())
		return;
	expect_corrupt("huge", huge, sizeof(huge), "included length 2147483647 is over the");
	if (test_failed())
		return;
	expect_corrupt("over", over, sizeof(over), "included length 65541 is over the 65540");
	if (test_failed())
		return;
	expect_corrupt("incl", incl, sizeof(incl), "larger than the original length 4");
}

TEST(empty_h4_record_is_corrupt)
{
	/* clang-format off */
	static const uint8_t file[] = { 'b', 't', 's', 'n', 'o', 'o', 'p', 0, 0, 0, 0, 1,
					0x00, 0x00, 0x03, 0xea,
					0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0 };
	/* clang-format on */
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;

	ASSERT_EQ(open_bytes("h4empty", file, sizeof(file), &r, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), -EBADMSG);
	ASSERT_CONTAINS(err.msg, "byte 16: H4 record without its packet type byte");
	btsnoop_reader_free(r);
}

TEST(header_only_file_is_empty)
{
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;

	ASSERT_EQ(open_bytes("empty", good_header, 16, &r, &err), 0);
	ASSERT_EQ(btsnoop_reader_next(r, &rec, &err), 0);
	btsnoop_reader_free(r);
	btsnoop_reader_free(NULL);
}

/* ---- the committed fixture -------------------------------------------- */

TEST(fixture_walkin_matches_generator)
{
	const char *path = tmp_path("walkin.btsnoop");
	struct btsnoop_error err;
	uint8_t *want, *got;
	size_t want_len = 0, got_len = 0, i;

	if (getenv("EDGEBOX_REGEN_FIXTURES")) {
		ASSERT_MSG(fixture_write_walkin(FIXTURE_WALKIN_PATH, &err) == 0, "%s", err.msg);
		printf("    wrote %s\n", FIXTURE_WALKIN_PATH);
	}
	ASSERT_MSG(fixture_write_walkin(path, &err) == 0, "%s", err.msg);
	got = slurp(path, &got_len);
	want = slurp(FIXTURE_WALKIN_PATH, &want_len);
	ASSERT(got);
	ASSERT_MSG(want,
		   "%s is missing; EDGEBOX_REGEN_FIXTURES=1 build/tests/test_btsnoop "
		   "fixture_walkin_matches_generator writes it",
		   FIXTURE_WALKIN_PATH);
	for (i = 0; i < want_len && i < got_len && want[i] == got[i]; i++)
		;
	free(want);
	free(got);
	ASSERT_MSG(
	    i == want_len && i == got_len,
	    "%s differs from what tests/support/btsnoop_fixtures.c writes at byte %zu "
	    "(%zu vs %zu bytes); if the generator changed on purpose, run "
	    "EDGEBOX_REGEN_FIXTURES=1 build/tests/test_btsnoop fixture_walkin_matches_generator",
	    FIXTURE_WALKIN_PATH, i, want_len, got_len);
	ASSERT(want_len < 100 * 1024);
}

TEST(fixture_walkin_content)
{
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error err;
	struct ble_adv_report rep[HCI_ADV_REPORTS_MAX];
	int beacons = 0, others = 0, adv_events = 0, commands = 0, rc, n;
	int first_rssi = 0, last_rssi = 0;
	int64_t first_ts = 0, last_ts = 0, prev_ts = 0;

	ASSERT_MSG(btsnoop_reader_open(FIXTURE_WALKIN_PATH, &r, &err) == 0, "%s", err.msg);
	while ((rc = btsnoop_reader_next(r, &rec, &err)) > 0) {
		ASSERT_MSG(rec.ts_us >= prev_ts, "time goes back at byte %llu",
			   (unsigned long long)rec.offset);
		prev_ts = rec.ts_us;
		if (rec.type == BTSNOOP_PACKET_COMMAND)
			commands++;
		if (rec.type != BTSNOOP_PACKET_EVENT)
			continue;
		n = hci_parse_event(rec.data, rec.len, rep, HCI_ADV_REPORTS_MAX);
		ASSERT(n >= 0);
		if (n > 0)
			adv_events++;
		for (int i = 0; i < n; i++) {
			if (memcmp(rep[i].addr, fixture_walkin_beacon_addr, 6) == 0) {
				/* iBeacon: Apple, type 0x02 0x15, UUID, major, minor, power. */
				ASSERT_EQ(rep[i].data_len, 30);
				ASSERT(memcmp(rep[i].data + 3, "\x1a\xff\x4c\x00\x02\x15", 6) == 0);
				ASSERT(memcmp(rep[i].data + 9, fixture_walkin_uuid, 16) == 0);
				ASSERT_EQ(rep[i].data[28], FIXTURE_WALKIN_MINOR);
				ASSERT_EQ((int8_t)rep[i].data[29], -59);
				if (!beacons) {
					first_rssi = rep[i].rssi;
					first_ts = rec.ts_us;
				}
				last_rssi = rep[i].rssi;
				last_ts = rec.ts_us;
				beacons++;
			} else {
				ASSERT(memcmp(rep[i].addr, fixture_walkin_other_addr, 6) == 0);
				others++;
			}
		}
	}
	ASSERT_EQ(rc, 0);
	btsnoop_reader_free(r);
	ASSERT_EQ(beacons, FIXTURE_WALKIN_BEACONS);
	ASSERT_EQ(others, FIXTURE_WALKIN_OTHERS);
	ASSERT_EQ(adv_events, FIXTURE_WALKIN_ADV_EVENTS);
	ASSERT_EQ(commands, 3);
	ASSERT(first_rssi <= -88 && first_rssi >= -92);
	ASSERT(last_rssi <= -53 && last_rssi >= -57);
	/* ~100 ms apart over ~6 s. */
	ASSERT((last_ts - first_ts) / (FIXTURE_WALKIN_BEACONS - 1) > 95000);
	ASSERT((last_ts - first_ts) / (FIXTURE_WALKIN_BEACONS - 1) < 105000);
}
