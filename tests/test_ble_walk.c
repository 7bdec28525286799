/*
 * agent/ble_walk.c and `edgeboxctl ble`: walk file parsing and its errors,
 * the generated capture (records, timing, path loss, noise, loss, silence,
 * extended reports), determinism, the committed fixtures being exactly what
 * their walk files generate (EDGEBOX_REGEN_FIXTURES=1 rewrites them), the
 * replay's error paths, and the CLI (build/bin/edgeboxctl, or
 * $EDGEBOX_BIN/edgeboxctl).
 */
#include "test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "agent/ble_walk.h"
#include "hal/btsnoop.h"
#include "hal/hci.h"
#include "tests/support/daemon.h"

#define STORE_UUID "E2C56DB5-DFFB-48D2-B060-D0F5A71096E0"

/* A path in the scratch folder; valid until the 16th call after. */
static const char *tmp_path(const char *name)
{
	static char path[16][512];
	static int k;

	k = (k + 1) % 16;
	snprintf(path[k], sizeof(path[k]), "%s/%s", test_tmpdir(), name);
	return path[k];
}

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
		if (buf)
			buf[n] = 0;
		*len = (size_t)n;
	}
	fclose(f);
	return buf;
}

static int parse(const char *text, struct ble_walk **w, struct ble_walk_error *err)
{
	return ble_walk_parse("walk", text, strlen(text), w, err);
}

static const char one_beacon[] = "seed = 3\n"
				 "[advertiser]\n"
				 "kind = ibeacon\n"
				 "uuid = " STORE_UUID "\n"
				 "major = 1\n"
				 "minor = 5\n"
				 "addr = 5C:3A:91:0E:7B:22\n"
				 "0 2\n"
				 "60 2\n";

/* ---- parsing ------------------------------------------------------------ */

TEST(parse_minimal_and_info)
{
	struct ble_walk_error err;
	struct ble_walk_info info;
	struct ble_walk *w;

	ASSERT_MSG(parse(one_beacon, &w, &err) == 0, "%s", err.msg);
	ASSERT_EQ(ble_walk_count(w), 1);
	ASSERT_EQ(ble_walk_info(w, 0, &info), 0);
	ASSERT_EQ(info.kind, BLE_WALK_IBEACON);
	ASSERT_EQ(info.id.kind, BEACON_IBEACON);
	ASSERT_EQ(info.id.minor, 5);
	ASSERT_EQ(info.id.measured_power, -59);
	ASSERT_EQ(info.addr[0], 0x22);
	ASSERT_EQ(info.addr[5], 0x5C);
	ASSERT_EQ(info.addr_type, 1);
	ASSERT_EQ(info.interval_ms, 100);
	ASSERT_EQ(info.line, 2);
	ASSERT_EQ(ble_walk_info(w, 1, &info), -ENOENT);
	ble_walk_free(w);
	ble_walk_free(NULL);

	/* Eddystone: the decoder will see the 0 m value minus 41. */
	ASSERT_MSG(parse("[advertiser]\nkind = eddystone_uid\nnamespace = E2C56DB5D0F5A71096E0\n"
			 "instance = 0000000000C1\nmeasured_power = -60\n0 1\n1 1\n",
			 &w, &err) == 0,
		   "%s", err.msg);
	ASSERT_EQ(ble_walk_info(w, 0, &info), 0);
	ASSERT_EQ(info.id.kind, BEACON_EDDYSTONE_UID);
	ASSERT_EQ(info.id.measured_power, -60);
	ASSERT_EQ(info.id.instance[5], 0xC1);
	ble_walk_free(w);
}

TEST(parse_errors)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"[advertiser]\nkind = ibeacon\nuuid = " STORE_UUID "\ncolour = red\n0 1\n1 1\n",
	     "walk:4: unknown key 'colour' in [advertiser]"},
	    {"sede = 1\n", "walk:1: unknown key 'sede' before any [advertiser]"},
	    {"[advertiser]\nkind = ibeacon\nkind = other\n",
	     "walk:3: kind: given twice (first at line 2)"},
	    {"[advertiser]\nkind = ibeacon\nuuid = E2C56DB5\n",
	     "walk:3: uuid: expected 32 hex digits"},
	    {"[advertiser]\nkind = ibeacon\nuuid = " STORE_UUID "\n0 1\n2 3\n2 4\n",
	     "walk:6: waypoint at 2 s is not after the previous one (line 5)"},
	    {"0 1\n", "walk:1: a waypoint or unknown line before any [advertiser]"},
	    {"[advertiser]\nuuid = " STORE_UUID "\n0 1\n1 1\n", "walk:1: [advertiser] has no kind"},
	    {"[advertiser]\nkind = ibeacon\n0 1\n1 1\n", "walk:1: ibeacon advertiser has no uuid"},
	    {"\n[advertiser]\nkind = ibeacon\nuuid = " STORE_UUID
	     "\ninstance = 000000000001\n0 1\n1 1\n",
	     "walk:5: instance: not a key of kind ibeacon"},
	    {"[advertiser]\nkind = eddystone_uid\nnamespace = E2C56DB5D0F5A71096E0\n0 1\n1 1\n",
	     "walk:1: eddystone_uid advertiser needs namespace"},
	    {"[advertiser]\nkind = other\n0 off\n",
	     "walk:3: the first waypoint must be a distance"},
	    {"[advertiser]\nkind = other\n0 1\n",
	     "walk:1: [advertiser] needs at least two waypoints"},
	    {"[advertiser]\nkind = other\n0 1\n1 -2\n",
	     "walk:4: waypoint distance: expected metres"},
	    {"[advertiser]\nkind = other\n0 1\nsoon 2\n",
	     "walk:4: waypoint time: expected seconds"},
	    {"[advertiser]\nkind = other\n0 1 2\n", "walk:3: expected 'key = value'"},
	    {"[beacon]\n", "walk:1: unknown section '[beacon]'; expected [advertiser]"},
	    {"start = yesterday\n", "walk:1: start: expected a UTC time like 2024-05-14T09:30:00Z"},
	    {"report = both\n", "walk:1: report: expected legacy or extended"},
	    {"seed = -1\n", "walk:1: seed: expected a whole number"},
	    {"end_s = 0\n", "walk:1: end_s: expected seconds"},
	    {"[advertiser]\nkind = other\ninterval_ms = 5\n",
	     "walk:3: interval_ms: expected an advertising interval from 20 to 10240 ms"},
	    {"[advertiser]\nkind = other\nloss = 1.5\n", "walk:3: loss: expected a fraction"},
	    {"[advertiser]\nkind = other\nnoise_db = 30\n", "walk:3: noise_db"},
	    {"[advertiser]\nkind = other\nmeasured_power = 10\n", "walk:3: measured_power"},
	    {"[advertiser]\nkind = other\naddr = 5C:3A:91:0E:7B\n",
	     "walk:3: addr: expected an address"},
	    {"[advertiser]\nkind = ibeacon\nmajor = 70000\n",
	     "walk:3: major: expected a whole number from 0 to 65535"},
	    {"[advertiser]\nkind = other\nname =\n", "walk:3: name: no value after '='"},
	    {"[advertiser]\nkind = other\nname = a name far too long for a legacy advertisement\n0 "
	     "1\n1 1\n",
	     "walk:3: name: 46 bytes do not fit a legacy advertisement (at most 26)"},
	    {"# nothing\n\n", "walk: no [advertiser]"},
	};
	struct ble_walk_error err;
	struct ble_walk *w = (struct ble_walk *)1;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err.msg[0] = '\0';
		ASSERT_MSG(parse(cases[i].text, &w, &err) == -EINVAL, "case %zu parsed", i);
		ASSERT(w == NULL);
		ASSERT_MSG(strstr(err.msg, cases[i].want), "case %zu: \"%s\" lacks \"%s\"", i,
			   err.msg, cases[i].want);
	}
}

TEST(parse_limits)
{
	struct ble_walk_error err;
	struct ble_walk *w;
	char *big = malloc(BLE_WALK_FILE_MAX + 2), line[400];
	size_t n = 0;

	/* A line over BLE_WALK_LINE_MAX. */
	memset(line, 'x', sizeof(line));
	line[sizeof(line) - 1] = '\0';
	ASSERT_EQ(parse(line, &w, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "walk:1: line longer than 256 bytes");
	/* A NUL byte inside the text. */
	ASSERT_EQ(ble_walk_parse("walk", "seed = 1\n\0x\n", 12, &w, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "walk:2: NUL byte");
	/* Too many advertisers and waypoints. */
	for (int i = 0; i <= BLE_WALK_ADVERTISERS_MAX; i++)
		n += (size_t)sprintf(big + n, "[advertiser]\nkind = other\n0 1\n1 1\n");
	ASSERT_EQ(parse(big, &w, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "more than 16 advertisers");
	n = (size_t)sprintf(big, "[advertiser]\nkind = other\n");
	for (int i = 0; i <= BLE_WALK_WAYPOINTS_MAX; i++)
		n += (size_t)sprintf(big + n, "%d 1\n", i);
	ASSERT_EQ(parse(big, &w, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "walk:259: more than 256 waypoints for the advertiser of line 1");
	/* Too big a file. */
	memset(big, '#', BLE_WALK_FILE_MAX + 1);
	ASSERT_EQ(ble_walk_parse("walk", big, BLE_WALK_FILE_MAX + 1, &w, &err), -EFBIG);
	ASSERT_EQ(test_write_file(tmp_path("big.walk"), big, BLE_WALK_FILE_MAX + 1), 0);
	ASSERT_EQ(ble_walk_load(tmp_path("big.walk"), &w, &err), -EFBIG);
	ASSERT_CONTAINS(err.msg, "big.walk");
	free(big);
	ASSERT_EQ(ble_walk_load(tmp_path("missing.walk"), &w, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "missing.walk: cannot open");
}

/* Mutated walk files on exact-size heap copies (ASan in make asan): every
 * one parses or is refused with a message, none crashes. */
TEST(parse_fuzz)
{
	static const char base[] = "seed = 7\nstart = 2024-05-14T09:30:00Z\nreport = legacy\n"
				   "[advertiser]\nkind = altbeacon\nuuid = " STORE_UUID "\n"
				   "major = 1\nminor = 2\nloss = 0.1\n0 12\n5.5 0.6\n9 off\n12 3\n"
				   "[advertiser]\nkind = other\nname = TV\n0 4\n12 4\n";
	uint32_t x = 0x9E3779B9;
	int ok = 0, refused = 0;

	for (int i = 0; i < 20000; i++) {
		size_t len = sizeof(base) - 1, flips = 1 + i % 6;
		char *t = malloc(len);
		struct ble_walk_error err;
		struct ble_walk *w;
		int rc;

		memcpy(t, base, len);
		for (size_t k = 0; k < flips; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			t[x % len] =
			    (char)(i % 3 ? "0123456789.=-#[] \nx\0"[x % 20] : (char)(x >> 8));
		}
		if (i % 5 == 0)
			len = x % (len + 1);
		err.msg[0] = '\0';
		rc = ble_walk_parse("fuzz", t, len, &w, &err);
		free(t);
		ASSERT_MSG(rc == 0 || rc == -EINVAL, "case %d: rc %d", i, rc);
		if (rc == 0) {
			ASSERT(ble_walk_count(w) >= 1);
			ble_walk_free(w);
			ok++;
		} else {
			ASSERT_MSG(strncmp(err.msg, "fuzz", 4) == 0, "case %d: message \"%s\"", i,
				   err.msg);
			refused++;
		}
	}
	ASSERT(ok > 100 && refused > 1000);
}

/* ---- generating ------------------------------------------------------- */

struct seen {
	int64_t ts[4096];
	int rssi[4096];
	int n;
	int events;
	struct ble_replay_stats st;
};

static int collect(const struct ble_replay_item *it, void *ctx)
{
	struct seen *s = ctx;

	if (it->kind == BLE_REPLAY_EVENT) {
		s->events++;
		return 0;
	}
	if (s->n < 4096) {
		s->ts[s->n] = it->ts_us;
		s->rssi[s->n++] = it->report->rssi;
	}
	return 0;
}

static int gen_and_replay(const char *text, const char *name, struct ble_walk_stats *ws,
			  struct seen *s)
{
	struct ble_walk_error err;
	struct ble_walk *w;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = parse(text, &w, &err);
	if (rc == 0) {
		rc = ble_walk_write(w, tmp_path(name), ws, &err);
		ble_walk_free(w);
	}
	if (rc == 0)
		rc = ble_walk_replay(tmp_path(name), NULL, collect, s, &s->st, &err);
	if (rc < 0)
		printf("    %s\n", err.msg);
	return rc;
}

TEST(path_loss_noise_and_timing)
{
	struct ble_walk_stats ws;
	struct seen s;
	double sum = 0, sq = 0, mean, sd;
	int short_gaps = 0;

	/* 60 s at 2 m, -59 dBm at 1 m, n = 2, 3 dB of noise, no loss. */
	ASSERT_EQ(gen_and_replay(one_beacon, "pl.btsnoop", &ws, &s), 0);
	ASSERT(s.n > 500);
	ASSERT_EQ(ws.reports, (uint64_t)s.n);
	ASSERT_EQ(ws.lost, 0);
	ASSERT_EQ(ws.records, ws.reports + 7); /* New Index, 2 commands, 2 answers, stop + answer */
	ASSERT_EQ(s.st.records, ws.records);
	ASSERT_EQ(ws.duration_us, 60000000);
	for (int i = 0; i < s.n; i++) {
		sum += s.rssi[i];
		sq += (double)s.rssi[i] * s.rssi[i];
	}
	mean = sum / s.n;
	sd = sqrt(sq / s.n - mean * mean);
	ASSERT_MSG(fabs(mean - (-59 - 20 * log10(2.0))) < 0.4, "mean %.2f", mean);
	ASSERT_MSG(sd > 2.6 && sd < 3.4, "sd %.2f", sd);
	/* Advertising interval plus the 0..10 ms advDelay. */
	for (int i = 1; i < s.n; i++) {
		int64_t gap = s.ts[i] - s.ts[i - 1];

		ASSERT_MSG(gap >= 100000 && gap <= 110000, "gap %lld us", (long long)gap);
		short_gaps += gap < 105000;
	}
	ASSERT(short_gaps > s.n / 3 && short_gaps < 2 * s.n / 3);
}

TEST(loss_sensitivity_and_silence)
{
	char text[1024];
	struct ble_walk_stats ws;
	struct seen s;
	double frac;
	int in_gap = 0, after = 0;

	snprintf(text, sizeof(text), "%s", one_beacon);
	strcpy(strstr(text, "0 2\n"), "loss = 0.25\n0 2\n60 2\n");
	ASSERT_EQ(gen_and_replay(text, "loss.btsnoop", &ws, &s), 0);
	frac = (double)ws.lost / (double)(ws.lost + ws.reports);
	ASSERT_MSG(frac > 0.21 && frac < 0.29, "lost %.3f", frac);

	/* 500 m away: below the -100 dBm sensitivity, nothing is written. */
	strcpy(strstr(text, "loss = "), "0 500\n60 500\n");
	ASSERT_EQ(gen_and_replay(text, "far.btsnoop", &ws, &s), 0);
	ASSERT_EQ(ws.reports, 0);
	ASSERT(ws.unheard > 500);

	/* Silent from 5.5 s to 10 s, then back. */
	strcpy(strstr(text, "0 500"), "0 1\n5 1\n5.5 off\n10 1\n15 1\n");
	ASSERT_EQ(gen_and_replay(text, "off.btsnoop", &ws, &s), 0);
	for (int i = 0; i < s.n; i++) {
		int64_t t = s.ts[i] - 1715679000000000ll; /* the default start */

		in_gap += t >= 5500000 && t < 10000000;
		after += t >= 10000000;
	}
	ASSERT_EQ(in_gap, 0);
	ASSERT(after > 40);
	ASSERT(s.n > 90);
}

TEST(deterministic_and_streams_independent)
{
	char two[1024];
	struct ble_walk_stats ws;
	struct seen *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	uint8_t *x, *y;
	size_t xl, yl;

	ASSERT_EQ(gen_and_replay(one_beacon, "d1.btsnoop", &ws, a), 0);
	ASSERT_EQ(gen_and_replay(one_beacon, "d2.btsnoop", &ws, b), 0);
	x = slurp(tmp_path("d1.btsnoop"), &xl);
	y = slurp(tmp_path("d2.btsnoop"), &yl);
	ASSERT(x && y && xl == yl && memcmp(x, y, xl) == 0);
	free(y);

	/* Another seed: other bytes. */
	snprintf(two, sizeof(two), "%s", one_beacon);
	two[7] = '4';
	ASSERT_EQ(gen_and_replay(two, "d3.btsnoop", &ws, b), 0);
	y = slurp(tmp_path("d3.btsnoop"), &yl);
	ASSERT(y && (xl != yl || memcmp(x, y, xl) != 0));
	free(x);
	free(y);

	/* A second advertiser does not change the first one's draws. */
	snprintf(two, sizeof(two), "%s[advertiser]\nkind = other\nname = TV\n0 4\n60 4\n",
		 one_beacon);
	ASSERT_EQ(gen_and_replay(two, "d4.btsnoop", &ws, b), 0);
	ASSERT_EQ(a->n, b->n);
	ASSERT(memcmp(a->ts, b->ts, sizeof(a->ts[0]) * (size_t)a->n) == 0);
	ASSERT(memcmp(a->rssi, b->rssi, sizeof(a->rssi[0]) * (size_t)a->n) == 0);
	ASSERT(b->st.reports > b->st.beacons.beacons); /* the TV's reports are there too */
	free(a);
	free(b);
}

TEST(capture_records)
{
	struct ble_walk_error err;
	struct ble_walk *w;
	struct btsnoop_reader *r;
	struct btsnoop_record rec;
	struct btsnoop_error be;
	struct ble_adv_report rep[HCI_ADV_REPORTS_MAX];
	int idx = 0, legacy_beacons = 0, long_names = 0, rc;
	const char *path = tmp_path("ext.btsnoop");

	/* Extended reports: a legacy-PDU beacon and a 60-byte name that needs an
	 * extended advertisement. */
	ASSERT_MSG(parse("report = extended\nstart = 2024-01-02T03:04:05Z\nend_s = 3\n"
			 "[advertiser]\nkind = altbeacon\nuuid = " STORE_UUID
			 "\nloss = 0\n0 1\n5 1\n"
			 "[advertiser]\nkind = other\naddr_type = public\n"
			 "name = 0123456789012345678901234567890123456789012345678901234567890\n"
			 "interval_ms = 250\n0 3\n5 3\n",
			 &w, &err) == 0,
		   "%s", err.msg);
	ASSERT_MSG(ble_walk_write(w, path, NULL, &err) == 0, "%s", err.msg);
	ble_walk_free(w);
	ASSERT_EQ(btsnoop_reader_open(path, &r, &be), 0);
	ASSERT_EQ(btsnoop_reader_format(r), BTSNOOP_FORMAT_MONITOR);
	while ((rc = btsnoop_reader_next(r, &rec, &be)) > 0) {
		int n;

		if (idx == 0) {
			ASSERT_EQ(rec.opcode, BTSNOOP_OPCODE_NEW_INDEX);
			ASSERT_EQ(rec.ts_us, 1704164645000000ll - 5000);
		}
		if (idx == 1) {
			/* LE Set Extended Scan Parameters */
			ASSERT_EQ(rec.type, BTSNOOP_PACKET_COMMAND);
			ASSERT_EQ(rec.data[0], 0x41);
			ASSERT_EQ(rec.data[1], 0x20);
		}
		idx++;
		if (rec.type != BTSNOOP_PACKET_EVENT)
			continue;
		n = hci_parse_event(rec.data, rec.len, rep, HCI_ADV_REPORTS_MAX);
		ASSERT_MSG(n >= 0, "record at byte %llu does not parse",
			   (unsigned long long)rec.offset);
		if (n == 0)
			continue;
		ASSERT_EQ(n, 1);
		ASSERT_EQ(rec.data[2], HCI_LE_SUB_EXT_ADV_REPORT);
		ASSERT_EQ(rep[0].kind, BLE_REPORT_EXTENDED);
		ASSERT(rec.ts_us < 1704164645000000ll + 3000000);
		if (rep[0].addr_type == 1) {
			ASSERT_EQ(rep[0].event_type, 0x0010); /* legacy PDU, non-connectable */
			ASSERT_EQ(rep[0].data_len, 31);
			legacy_beacons++;
		} else {
			ASSERT_EQ(rep[0].event_type, 0x0000); /* extended, non-connectable */
			ASSERT_EQ(rep[0].data_len, 3 + 2 + 61);
			ASSERT_EQ(rep[0].secondary_phy, 1);
			long_names++;
		}
	}
	ASSERT_EQ(rc, 0);
	btsnoop_reader_free(r);
	ASSERT(legacy_beacons >= 28 && legacy_beacons <= 30);
	ASSERT(long_names >= 11 && long_names <= 12);
}

/* ---- the committed fixtures ------------------------------------------- */

static const char *const fixtures[] = {"walk_in", "walk_past", "two_customers", "phone_stops"};

TEST(fixtures_match_their_walks)
{
	for (size_t f = 0; f < sizeof(fixtures) / sizeof(fixtures[0]); f++) {
		char walk[256], capture[256];
		struct ble_walk_error err;
		struct ble_walk *w;
		uint8_t *got, *want;
		size_t got_len = 0, want_len = 0, i;

		snprintf(walk, sizeof(walk), "tests/fixtures/ble/%s.walk", fixtures[f]);
		snprintf(capture, sizeof(capture), "tests/fixtures/ble/%s.btsnoop", fixtures[f]);
		ASSERT_MSG(ble_walk_load(walk, &w, &err) == 0, "%s", err.msg);
		if (getenv("EDGEBOX_REGEN_FIXTURES")) {
			ASSERT_MSG(ble_walk_write(w, capture, NULL, &err) == 0, "%s", err.msg);
			printf("    wrote %s\n", capture);
		}
		ASSERT_MSG(ble_walk_write(w, tmp_path("regen.btsnoop"), NULL, &err) == 0, "%s",
			   err.msg);
		ble_walk_free(w);
		got = slurp(tmp_path("regen.btsnoop"), &got_len);
		want = slurp(capture, &want_len);
		ASSERT(got);
		ASSERT_MSG(want,
			   "%s is missing; EDGEBOX_REGEN_FIXTURES=1 build/tests/test_ble_walk "
			   "fixtures_match_their_walks writes it",
			   capture);
		for (i = 0; i < want_len && i < got_len && want[i] == got[i]; i++)
			;
		free(got);
		free(want);
		ASSERT_MSG(i == want_len && i == got_len,
			   "%s differs from what %s generates at byte %zu (%zu vs %zu bytes); if "
			   "the walk or the generator changed on purpose, run "
			   "EDGEBOX_REGEN_FIXTURES=1 build/tests/test_ble_walk "
			   "fixtures_match_their_walks",
			   capture, walk, i, want_len, got_len);
		ASSERT_MSG(want_len < 150 * 1024, "%s is %zu bytes", capture, want_len);
	}
}

/* ---- replay errors -------------------------------------------------- */

TEST(replay_errors)
{
	struct ble_walk_error err;
	struct ble_replay_stats st;
	struct proximity_params p;
	struct seen *s = calloc(1, sizeof(*s));
	uint8_t *file;
	size_t len;
	int rc;

	ASSERT_EQ(ble_walk_replay(tmp_path("none.btsnoop"), NULL, collect, s, &st, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "none.btsnoop");

	proximity_params_default(&p);
	p.kiosk_m = 0;
	ASSERT_EQ(ble_walk_replay("tests/fixtures/ble/walk_in.btsnoop", &p, collect, s, &st, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "kiosk_m");

	/* Cut in the middle of a record: what came before is delivered, then
	 * the error names the byte offset. */
	file = slurp("tests/fixtures/ble/walk_in.btsnoop", &len);
	ASSERT(file);
	ASSERT_EQ(test_write_file(tmp_path("cut.btsnoop"), file, len / 2 + 7), 0);
	free(file);
	memset(s, 0, sizeof(*s));
	rc = ble_walk_replay(tmp_path("cut.btsnoop"), NULL, collect, s, &st, &err);
	ASSERT_EQ(rc, -EBADMSG);
	ASSERT_CONTAINS(err.msg, "cut.btsnoop");
	ASSERT_CONTAINS(err.msg, "byte");
	ASSERT(s->n > 100);
	ASSERT(st.records > 200);

	/* Stopping from the callback. */
	ASSERT_EQ(
	    ble_walk_replay("tests/fixtures/ble/walk_in.btsnoop", NULL, NULL, NULL, &st, &err), 0);
	ASSERT_EQ(st.proximity.approaches, 1);
	free(s);
}

static int stop_at_first(const struct ble_replay_item *it, void *ctx)
{
	(void)it;
	(*(int *)ctx)++;
	return -ECANCELED;
}

TEST(replay_malformed_events_and_stop)
{
	static const uint8_t bad[] = {0x3e, 0x05, 0x02, 0x01,
				      0x03, 0x01, 0x00}; /* report cut short */
	const char *path = tmp_path("mixed.btsnoop");
	struct btsnoop_writer *bw;
	struct btsnoop_error be;
	struct ble_walk_error err;
	struct ble_walk *w;
	struct ble_replay_stats st;
	struct seen *s = calloc(1, sizeof(*s));
	uint8_t *good;
	size_t good_len;
	int calls = 0;

	/* A one-beacon capture, and a copy with a malformed event in front. */
	ASSERT_EQ(parse(one_beacon, &w, &err), 0);
	ASSERT_EQ(ble_walk_write(w, tmp_path("good.btsnoop"), NULL, &err), 0);
	ble_walk_free(w);
	good = slurp(tmp_path("good.btsnoop"), &good_len);
	ASSERT_EQ(btsnoop_writer_create(path, 0, &bw, &be), 0);
	ASSERT_EQ(btsnoop_writer_event(bw, 1715679000000000ll, bad, sizeof(bad), &be), 0);
	ASSERT_EQ(btsnoop_writer_close(bw, &be), 0);
	{
		/* Append the good capture's records (after its 16-byte header). */
		FILE *f = fopen(path, "ab");

		ASSERT(f && fwrite(good + 16, 1, good_len - 16, f) == good_len - 16);
		fclose(f);
	}
	free(good);
	ASSERT_EQ(ble_walk_replay(path, NULL, collect, s, &st, &err), 0);
	ASSERT_EQ(st.malformed_events, 1);
	ASSERT(s->n > 500);
	ASSERT_EQ(st.beacons.beacons, (uint64_t)s->n);

	ASSERT_EQ(ble_walk_replay(path, NULL, stop_at_first, &calls, &st, &err), -ECANCELED);
	ASSERT_EQ(calls, 1);
	free(s);
}

/* ---- the CLI ---------------------------------------------------------- */

/* The binary has the ble group (registered in firmware/edgeboxctl.c's table). */
static int cli_ready(void)
{
	char *out, *err;
	int rc = test_ctl("ble --help", &out, &err);
	int ok = rc == 0 && out && strstr(out, "ble decode");

	if (!ok)
		printf("    edgeboxctl ble --help exited %d: %s", rc, err ? err : "");
	free(out);
	free(err);
	return ok;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (!needle || memmem(p, len, needle, strlen(needle)))
			n++;
		p += len + (nl ? 1 : 0);
	}
	return n;
}

TEST(cli_decode)
{
	static const char beacons[] = "[beacons]\nuuid = " STORE_UUID "\n";
	char args[1024], *out, *err;
	const char *conf = tmp_path("box.conf");
	struct ble_replay_stats st;
	struct ble_walk_error werr;
	int lines = 0;

	ASSERT_MSG(cli_ready(), "edgeboxctl lacks the ble group: ctl_ble must be listed in "
				"firmware/edgeboxctl.c's command table");

	ASSERT_EQ(test_write_file(conf, beacons, strlen(beacons)), 0);
	snprintf(args, sizeof(args), "ble decode tests/fixtures/ble/walk_in.btsnoop --config %s",
		 conf);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	/* Every line is a JSON object: sightings, then three events among them. */
	for (char *p = out, *nl; p && *p; p = nl + 1) {
		cJSON *o;

		nl = strchr(p, '\n');
		ASSERT(nl);
		*nl = '\0';
		o = cJSON_Parse(p);
		ASSERT_MSG(o, "not JSON: %s", p);
		if (lines == 0) {
			ASSERT_STREQ(cJSON_GetObjectItem(o, "type")->valuestring, "sighting");
			ASSERT_STREQ(cJSON_GetObjectItem(o, "kind")->valuestring, "ibeacon");
			ASSERT_STREQ(cJSON_GetObjectItem(o, "uuid")->valuestring, STORE_UUID);
			ASSERT_EQ(cJSON_GetObjectItem(o, "minor")->valueint, 42);
			ASSERT_EQ(cJSON_GetObjectItem(o, "tx_power")->valueint, -59);
			ASSERT_STREQ(cJSON_GetObjectItem(o, "addr")->valuestring,
				     "5C:3A:91:0E:7B:22");
			ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(o, "tracked")));
			ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(o, "rssi")));
			ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(o, "distance_m")));
			ASSERT(cJSON_GetObjectItem(o, "ts")->valuedouble > 1715679000.0);
		}
		cJSON_Delete(o);
		lines++;
		*nl = '\n';
	}
	ASSERT_EQ(
	    ble_walk_replay("tests/fixtures/ble/walk_in.btsnoop", NULL, NULL, NULL, &st, &werr), 0);
	ASSERT_EQ(count_lines(out, "\"type\":\"sighting\""), (int)st.beacons.beacons);
	ASSERT_EQ(count_lines(out, "\"type\":\"event\""), 3);
	ASSERT_EQ(lines, (int)st.beacons.beacons + 3);
	ASSERT_CONTAINS(out, "\"event\":\"approach\"");
	ASSERT_CONTAINS(out, "\"reason\":\"walked_away\"");
	ASSERT_CONTAINS(err, "walk_in.btsnoop: 545 records");
	ASSERT_CONTAINS(err, "3 presence events");
	free(out);
	free(err);

	snprintf(args, sizeof(args),
		 "ble decode --events-only --config %s tests/fixtures/ble/two_customers.btsnoop",
		 conf);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_EQ(count_lines(out, NULL), 6);
	ASSERT_EQ(count_lines(out, "\"minor\":7,"), 0);
	free(out);
	free(err);
	/* No config: every beacon is tracked, the foreign one too. */
	ASSERT_EQ(test_ctl("ble decode --events-only tests/fixtures/ble/two_customers.btsnoop",
			   &out, &err),
		  0);
	ASSERT(count_lines(out, "\"minor\":7,") >= 1);
	ASSERT_CONTAINS(err, "tracking every beacon");
	free(out);
	free(err);
}

TEST(cli_decode_errors)
{
	static const char near[] = "[beacons]\nkiosk_m = near\n";
	char args[1024], *out, *err;
	const char *conf = tmp_path("bad.conf");
	uint8_t *file;
	size_t len;

	ASSERT_MSG(cli_ready(), "edgeboxctl lacks the ble group: ctl_ble must be listed in "
				"firmware/edgeboxctl.c's command table");

	ASSERT_EQ(test_ctl("ble decode tests/fixtures/ble/nothing.btsnoop", &out, &err), 1);
	ASSERT_CONTAINS(err, "nothing.btsnoop");
	free(out);
	free(err);

	file = slurp("tests/fixtures/ble/walk_in.btsnoop", &len);
	ASSERT(file);
	ASSERT_EQ(test_write_file(tmp_path("cut.btsnoop"), file, len - 3), 0);
	free(file);
	snprintf(args, sizeof(args), "ble decode %s", tmp_path("cut.btsnoop"));
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "byte");
	ASSERT(count_lines(out, "sighting") > 300); /* what came before is printed */
	free(out);
	free(err);

	ASSERT_EQ(test_write_file(conf, near, strlen(near)), 0);
	snprintf(args, sizeof(args), "ble decode tests/fixtures/ble/walk_in.btsnoop --config %s",
		 conf);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "bad.conf:2: [beacons] kiosk_m");
	free(out);
	free(err);

	ASSERT_EQ(test_ctl("ble decode", &out, &err), 2);
	ASSERT_CONTAINS(err, "Usage");
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble decode a b", &out, &err), 2);
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble decode --frob x", &out, &err), 2);
	ASSERT_CONTAINS(err, "unknown option '--frob'");
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble decode x --config", &out, &err), 2);
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble", &out, &err), 2);
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble frob", &out, &err), 2);
	ASSERT_CONTAINS(err, "unknown subcommand 'frob'");
	free(out);
	free(err);
}

TEST(cli_help)
{
	char *out, *err;

	ASSERT_MSG(cli_ready(), "edgeboxctl lacks the ble group: ctl_ble must be listed in "
				"firmware/edgeboxctl.c's command table");

	ASSERT_EQ(test_ctl("ble --help", &out, &err), 0);
	ASSERT_CONTAINS(out, "ble decode FILE");
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble decode --help", &out, &err), 0);
	ASSERT_CONTAINS(out, "--config CONF");
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble synth --help", &out, &err), 0);
	ASSERT_CONTAINS(out, "WALKFILE");
	free(out);
	free(err);
}

TEST(cli_synth)
{
	char args[1024], *out, *err;
	uint8_t *a, *b;
	size_t al, bl;
	cJSON *o;

	ASSERT_MSG(cli_ready(), "edgeboxctl lacks the ble group: ctl_ble must be listed in "
				"firmware/edgeboxctl.c's command table");

	snprintf(args, sizeof(args), "ble synth tests/fixtures/ble/phone_stops.walk %s",
		 tmp_path("ps.btsnoop"));
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "wrote ");
	ASSERT_CONTAINS(out, "2 advertisers");
	free(out);
	free(err);
	a = slurp(tmp_path("ps.btsnoop"), &al);
	b = slurp("tests/fixtures/ble/phone_stops.btsnoop", &bl);
	ASSERT(a && b && al == bl && memcmp(a, b, al) == 0);
	free(a);
	free(b);

	snprintf(args, sizeof(args), "ble synth --json tests/fixtures/ble/phone_stops.walk %s",
		 tmp_path("ps2.btsnoop"));
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	o = cJSON_Parse(out);
	ASSERT(o);
	ASSERT_EQ(cJSON_GetObjectItem(o, "advertisers")->valueint, 2);
	ASSERT(cJSON_GetObjectItem(o, "reports")->valueint > 100);
	cJSON_Delete(o);
	free(out);
	free(err);

	{
		static const char bad[] = "[advertiser]\nkind = ibeacon\nmajor = x\n";

		ASSERT_EQ(test_write_file(tmp_path("bad.walk"), bad, strlen(bad)), 0);
	}
	snprintf(args, sizeof(args), "ble synth %s %s", tmp_path("bad.walk"),
		 tmp_path("x.btsnoop"));
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "bad.walk:3: major");
	free(out);
	free(err);
	snprintf(args, sizeof(args), "ble synth tests/fixtures/ble/phone_stops.walk %s/no/such/x",
		 test_tmpdir());
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "no/such/x");
	free(out);
	free(err);
	ASSERT_EQ(test_ctl("ble synth only-one", &out, &err), 2);
	free(out);
	free(err);
}
