/*
 * Tests for firmware/update.c and `edgeboxctl update` (run from
 * $EDGEBOX_BIN/edgeboxctl, default build/bin). Every box lives in its own
 * folder under test_tmpdir(): slots are plain files, keys are generated
 * here. Power cuts are simulated by a child that installs and dies (_exit or
 * SIGKILL) from its progress callback at chosen points.
 */
#include "tests/test.h"
#include "firmware/config.h"
#include "firmware/update.h"
#include "tests/support/daemon.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define HWID "edgebox-rpi4"
#define MIB (1024 * 1024)

/* ---- files ---------------------------------------------------------------- */

/* Deterministic bytes: a different image per seed. */
static int make_payload(const char *path, size_t len, uint32_t seed)
{
	char *buf = malloc(len ? len : 1);
	uint32_t x = seed * 2654435761u + 1;
	int rc;

	if (!buf)
		return -1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (char)x;
	}
	rc = test_write_file(path, buf, len);
	free(buf);
	return rc;
}

static bool same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *da = test_read_file(a, &la), *db = test_read_file(b, &lb);
	bool same = da && db && la == lb && memcmp(da, db, la) == 0;

	free(da);
	free(db);
	return same;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- a box ----------------------------------------------------------------- */

struct box {
	char dir[256];
	char sk[300], pk[300], factory[300];
	struct update_params p;
	struct update *u;
};

static int box_init_ex(struct box *b, const char *name, int max_tries)
{
	struct update_error ue;

	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "%s/%s", test_tmpdir(), name);
	if (mkdir(b->dir, 0755) < 0)
		return -1;
	snprintf(b->sk, sizeof(b->sk), "%s/release.key", b->dir);
	snprintf(b->pk, sizeof(b->pk), "%s/release.key.pub", b->dir);
	snprintf(b->factory, sizeof(b->factory), "%s/factory.img", b->dir);
	if (update_keygen(b->sk, b->pk, &ue) < 0) {
		printf("    keygen: %s\n", ue.msg);
		return -1;
	}
	update_params_default(&b->p);
	snprintf(b->p.slot_path[0], sizeof(b->p.slot_path[0]), "%s/slot_a", b->dir);
	snprintf(b->p.slot_path[1], sizeof(b->p.slot_path[1]), "%s/slot_b", b->dir);
	snprintf(b->p.state_path, sizeof(b->p.state_path), "%s/state/update.state", b->dir);
	snprintf(b->p.hardware_id, sizeof(b->p.hardware_id), HWID);
	snprintf(b->p.factory_version, sizeof(b->p.factory_version), "1.0.0");
	b->p.max_tries = max_tries;
	if (update_public_key_parse(b->pk, NULL, b->p.public_key, &ue) < 0) {
		printf("    key: %s\n", ue.msg);
		return -1;
	}
	/* The factory image is in slot a; slot b holds leftovers. */
	if (make_payload(b->factory, 200000, 7) < 0 ||
	    make_payload(b->p.slot_path[0], 200000, 7) < 0 ||
	    make_payload(b->p.slot_path[1], 50000, 8) < 0)
		return -1;
	if (update_new(&b->p, &b->u, &ue) < 0) {
		printf("    update_new: %s\n", ue.msg);
		return -1;
	}
	return 0;
}

static int box_init(struct box *b, const char *name)
{
	return box_init_ex(b, name, 3);
}

static void box_fini(struct box *b)
{
	update_free(b->u);
	b->u = NULL;
}

static const char *box_path(const struct box *b, const char *name)
{
	static char bufs[8][400];
	static int next;
	char *p = bufs[next++ % 8];

	snprintf(p, 400, "%s/%s", b->dir, name);
	return p;
}

/* A payload of len bytes (seed) and a bundle of it signed with the box's key. */
static int bundle_ex(const struct box *b, const char *name, const char *version, size_t len,
		     uint32_t seed, const char *hwid, const char *min_version, const char *key)
{
	struct update_bundle_spec spec = {
	    .secret_key_path = key ? key : b->sk,
	    .payload_path = box_path(b, "payload.tmp"),
	    .hardware_id = hwid ? hwid : HWID,
	    .version = version,
	    .min_version = min_version,
	    .build_time = 1715679000,
	};
	struct update_error ue;
	char img[400];
	int rc;

	snprintf(img, sizeof(img), "%s/%s.img", b->dir, name);
	spec.payload_path = img;
	if (make_payload(img, len, seed) < 0)
		return -1;
	rc = update_make_bundle(&spec, box_path(b, name), NULL, &ue);
	if (rc < 0)
		printf("    make_bundle %s: %s\n", name, ue.msg);
	return rc;
}

static int bundle(const struct box *b, const char *name, const char *version, size_t len)
{
	return bundle_ex(b, name, version, len, (uint32_t)len ^ 0x5a5a, NULL, NULL, NULL);
}

/* The image a bundle was made from (bundle_ex wrote it beside the bundle). */
static const char *image_of(const struct box *b, const char *name)
{
	static char p[400];

	snprintf(p, sizeof(p), "%s/%s.img", b->dir, name);
	return p;
}

/* Slot files and the state file, to prove a refusal wrote nothing. */
struct snap {
	char *data[3];
	size_t len[3];
};

static void snap_take(const struct box *b, struct snap *s)
{
	const char *paths[3] = {b->p.slot_path[0], b->p.slot_path[1], b->p.state_path};

	for (int i = 0; i < 3; i++)
		s->data[i] = test_read_file(paths[i], &s->len[i]);
}

/* Which file differs, or NULL when all are byte-identical (or all absent). */
static const char *snap_diff(const struct box *b, const struct snap *s)
{
	const char *paths[3] = {b->p.slot_path[0], b->p.slot_path[1], b->p.state_path};

	for (int i = 0; i < 3; i++) {
		size_t len = 0;
		char *now = test_read_file(paths[i], &len);
		bool same = (!now && !s->data[i]) || (now && s->data[i] && len == s->len[i] &&
						      !memcmp(now, s->data[i], len));

		free(now);
		if (!same)
			return paths[i];
	}
	return NULL;
}

static void snap_free(struct snap *s)
{
	for (int i = 0; i < 3; i++)
		free(s->data[i]);
}

/* Signs header + manifest by hand, following docs/updates.md byte by byte:
 * an independent writer for bundles make-bundle would never produce. */
static int craft(const struct box *b, const char *out, uint16_t format, const char *manifest,
		 const void *payload, size_t plen)
{
	uint8_t sk[crypto_sign_SECRETKEYBYTES], sig[64], *msg;
	size_t mlen = strlen(manifest), n;
	char *text = test_read_file(b->sk, &n), *nl;
	FILE *f;
	int rc = -1;

	if (!text || !(nl = strchr(text, '\n')) ||
	    sodium_hex2bin(sk, sizeof(sk), nl + 1, 128, NULL, &n, NULL) != 0 || n != sizeof(sk)) {
		free(text);
		return -1;
	}
	free(text);
	msg = calloc(1, 32 + mlen);
	memcpy(msg, "EBXUPD01", 8);
	msg[8] = (uint8_t)format;
	msg[9] = (uint8_t)(format >> 8);
	msg[10] = 32;
	for (int i = 0; i < 4; i++)
		msg[12 + i] = (uint8_t)(mlen >> (8 * i));
	for (int i = 0; i < 8; i++)
		msg[16 + i] = (uint8_t)((uint64_t)plen >> (8 * i));
	msg[24] = 1;
	msg[26] = 64;
	memcpy(msg + 32, manifest, mlen);
	crypto_sign_detached(sig, NULL, msg, 32 + mlen, sk);
	f = fopen(out, "wb");
	if (f && fwrite(msg, 1, 32 + mlen, f) == 32 + mlen && fwrite(sig, 1, 64, f) == 64 &&
	    fwrite(payload, 1, plen, f) == plen)
		rc = 0;
	if (f && fclose(f) != 0)
		rc = -1;
	free(msg);
	return rc;
}

/* A manifest for payload with one field replaced (or added) by extra. */
static void manifest_for(const void *payload, size_t len, const char *version, const char *extra,
			 char *out, size_t outlen)
{
	uint8_t h[32];
	char hex[65];

	crypto_hash_sha256(h, payload, len);
	sodium_bin2hex(hex, sizeof(hex), h, 32);
	snprintf(out, outlen,
		 "{\"format\":1,\"hardware_id\":\"" HWID "\",\"version\":\"%s\",\"build_time\":"
		 "1715679000,\"payload_size\":%zu,\"payload_sha256\":\"%s\"%s}",
		 version, len, hex, extra);
}

/* ---- keys ------------------------------------------------------------------ */

TEST(keygen_writes_a_private_secret_and_never_overwrites)
{
	struct update_error ue;
	uint8_t pk[32];
	struct stat st;
	char sk[400], pub[400], pub2[400], *text;
	size_t n;

	snprintf(sk, sizeof(sk), "%s/k1", test_tmpdir());
	snprintf(pub, sizeof(pub), "%s/k1.pub", test_tmpdir());
	ASSERT_EQ(update_keygen(sk, pub, &ue), 0);
	ASSERT_EQ(stat(sk, &st), 0);
	ASSERT_EQ(st.st_mode & 0777, 0600);
	ASSERT_EQ(stat(pub, &st), 0);
	ASSERT_EQ(st.st_mode & 0777, 0644);
	text = test_read_file(pub, &n);
	ASSERT(text);
	ASSERT_EQ(n, 65); /* 64 hex digits and a newline */
	free(text);
	ASSERT_EQ(update_public_key_parse(pub, NULL, pk, &ue), 0);

	snprintf(pub2, sizeof(pub2), "%s/k2.pub", test_tmpdir());
	ASSERT_EQ(update_keygen(sk, pub2, &ue), -EEXIST);
	ASSERT_CONTAINS(ue.msg, "never overwritten");
	ASSERT_EQ(access(pub2, F_OK), -1);
	ASSERT_EQ(update_keygen(box_path(&(struct box){0}, "k3"), pub, &ue), -EEXIST);

	/* The secret key is not a public key. */
	ASSERT_EQ(update_public_key_parse(sk, NULL, pk, &ue), -EINVAL);
	ASSERT_CONTAINS(ue.msg, "SECRET");
}

TEST(secret_key_readable_by_others_or_damaged_is_refused)
{
	struct update_bundle_spec spec = {.hardware_id = HWID, .version = "1.0.0", .build_time = 1};
	struct update_error ue;
	struct box b;
	char *text;
	size_t n;

	ASSERT_EQ(box_init(&b, "seckey"), 0);
	spec.secret_key_path = b.sk;
	spec.payload_path = b.factory;
	ASSERT_EQ(chmod(b.sk, 0644), 0);
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x.ebx"), NULL, &ue), -EACCES);
	ASSERT_CONTAINS(ue.msg, "chmod 600");
	ASSERT_EQ(access(box_path(&b, "x.ebx"), F_OK), -1);
	ASSERT_EQ(chmod(b.sk, 0600), 0);

	/* One hex digit changed: the public half no longer matches. */
	text = test_read_file(b.sk, &n);
	ASSERT(text);
	text[n - 2] = text[n - 2] == '0' ? '1' : '0';
	ASSERT_EQ(test_write_file(b.sk, text, n), 0);
	free(text);
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x.ebx"), NULL, &ue), -EBADMSG);
	ASSERT_CONTAINS(ue.msg, "damaged");

	ASSERT_EQ(test_write_file(b.sk, "hello\n", 6), 0);
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x.ebx"), NULL, &ue), -EBADMSG);
	ASSERT_CONTAINS(ue.msg, "--keygen");
	box_fini(&b);
}

TEST(public_key_hex_base64_or_file)
{
	static const uint8_t want[32] = {1,  2,	 3,  4,	 5,  6,	 7,  8,	 9,  10, 11,
					 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
	char hex[65], b64[64], path[400];
	struct update_error ue;
	uint8_t pk[32];

	sodium_bin2hex(hex, sizeof(hex), want, 32);
	sodium_bin2base64(b64, sizeof(b64), want, 32, sodium_base64_VARIANT_ORIGINAL);
	memset(pk, 0, 32);
	ASSERT_EQ(update_public_key_parse(hex, NULL, pk, &ue), 0);
	ASSERT(memcmp(pk, want, 32) == 0);
	memset(pk, 0, 32);
	ASSERT_EQ(update_public_key_parse(b64, NULL, pk, &ue), 0);
	ASSERT(memcmp(pk, want, 32) == 0);
	/* A relative file name is taken against base_dir. */
	snprintf(path, sizeof(path), "%s/pk.b64", test_tmpdir());
	ASSERT_EQ(test_write_file(path, b64, strlen(b64)), 0);
	memset(pk, 0, 32);
	ASSERT_EQ(update_public_key_parse("pk.b64", test_tmpdir(), pk, &ue), 0);
	ASSERT(memcmp(pk, want, 32) == 0);

	/* 63 hex digits: a typo, said as such rather than "no such file". */
	hex[63] = '\0';
	ASSERT_EQ(update_public_key_parse(hex, NULL, pk, &ue), -EINVAL);
	ASSERT_CONTAINS(ue.msg, "64 hex digits");
	ASSERT_CONTAINS(ue.msg, "63 characters");
	ASSERT_EQ(update_public_key_parse("keys/missing.pub", test_tmpdir(), pk, &ue), -ENOENT);
	ASSERT_CONTAINS(ue.msg, "keys/missing.pub");
	ASSERT_EQ(test_write_file(path, "not a key\n", 10), 0);
	ASSERT_EQ(update_public_key_parse(path, NULL, pk, &ue), -EINVAL);
	ASSERT_CONTAINS(ue.msg, "expected one line of 64 hex digits");
	ASSERT_EQ(update_public_key_parse("", NULL, pk, &ue), -EINVAL);
}

/* ---- config ---------------------------------------------------------------- */

static int conf(const char *text, struct update_params *p, struct config_error *err)
{
	struct config *c;
	int rc;

	rc = config_load_string("box.conf", "/etc/edgebox", text, &c, err);
	if (rc < 0)
		return rc;
	rc = update_params_from_config(c, "update", p, err);
	config_free(c);
	return rc;
}

#define KEYHEX "0101010101010101010101010101010101010101010101010101010101010101"

TEST(config_reads_the_update_section)
{
	struct config_error err;
	struct update_params p;

	ASSERT_EQ(
	    conf("[update]\nslot_a = /dev/mmcblk0p2\nslot_b = /dev/mmcblk0p3\n"
		 "state = state/update.state\nhardware_id = edgebox-rpi4\npublic_key = " KEYHEX
		 "\nmax_tries = 5\nhealthy_within_s = 90\nhealthy_for_s = 20\n"
		 "allow_downgrade = yes\nslot_capacity_mb = 512\nfactory_version = 1.2.3\n",
		 &p, &err),
	    0);
	ASSERT_STREQ(p.slot_path[0], "/dev/mmcblk0p2");
	ASSERT_STREQ(p.slot_path[1], "/dev/mmcblk0p3");
	ASSERT_STREQ(p.state_path, "/etc/edgebox/state/update.state");
	ASSERT_STREQ(p.hardware_id, "edgebox-rpi4");
	ASSERT_EQ(p.public_key[0], 1);
	ASSERT_EQ(p.max_tries, 5);
	ASSERT_EQ(p.healthy_within_s, 90);
	ASSERT_EQ(p.healthy_for_s, 20);
	ASSERT(p.allow_downgrade);
	ASSERT_EQ(p.slot_capacity, 512ull * MIB);
	ASSERT_STREQ(p.factory_version, "1.2.3");

	/* A key file relative to the config's folder (not the current one). */
	{
		char cfgtext[600], dir[400];

		snprintf(dir, sizeof(dir), "%s/cfgdir", test_tmpdir());
		ASSERT_EQ(mkdir(dir, 0755), 0);
		snprintf(cfgtext, sizeof(cfgtext), "%s/keys", dir);
		ASSERT_EQ(mkdir(cfgtext, 0755), 0);
		snprintf(cfgtext, sizeof(cfgtext), "%s/keys/box.pub", dir);
		ASSERT_EQ(test_write_file(cfgtext, KEYHEX "\n", 65), 0);
		snprintf(cfgtext, sizeof(cfgtext),
			 "[update]\nslot_a = /a\nslot_b = /b\nhardware_id = x\n"
			 "public_key = keys/box.pub\n");
		{
			struct config *c;

			ASSERT_EQ(config_load_string("box.conf", dir, cfgtext, &c, &err), 0);
			memset(p.public_key, 0, 32);
			ASSERT_EQ(update_params_from_config(c, "update", &p, &err), 0);
			config_free(c);
		}
		ASSERT_EQ(p.public_key[31], 1);
	}

	/* Defaults. */
	ASSERT_EQ(conf("[update]\nslot_a = /a\nslot_b = /b\nhardware_id = x\npublic_key = " KEYHEX
		       "\n",
		       &p, &err),
		  0);
	ASSERT_STREQ(p.state_path, "/var/lib/edgebox/update.state");
	ASSERT_EQ(p.max_tries, 3);
	ASSERT_EQ(p.healthy_within_s, 120);
	ASSERT(!p.allow_downgrade);
	ASSERT_EQ(p.slot_capacity, 0);
}

TEST(config_errors_name_the_file_key_and_what_was_expected)
{
	struct config_error err;
	struct update_params p;

	ASSERT_EQ(
	    conf("[update]\nslot_b = /b\nhardware_id = x\npublic_key = " KEYHEX "\n", &p, &err),
	    -EINVAL);
	ASSERT_CONTAINS(err.msg, "box.conf");
	ASSERT_CONTAINS(err.msg, "slot_a");
	ASSERT_CONTAINS(err.msg, "missing");
	ASSERT_EQ(conf("[update]\nslot_a = /a\nslot_b = /b\nhardware_id = x\npublic_key = " KEYHEX
		       "\nmax_tries = 0\n",
		       &p, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "box.conf:6: [update] max_tries: expected a whole number from 1 "
				 "to 20, got '0'");
	ASSERT_EQ(conf("[update]\nslot_a = /a\nslot_b = /a\nhardware_id = x\npublic_key = " KEYHEX
		       "\n",
		       &p, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "same path as slot_a");
	ASSERT_EQ(
	    conf("[update]\nslot_a = /a\nslot_b = /b\nhardware_id = rpi 4\npublic_key = " KEYHEX
		 "\n",
		 &p, &err),
	    -EINVAL);
	ASSERT_CONTAINS(err.msg, "[update] hardware_id: expected 1 to 64 letters");
	ASSERT_CONTAINS(err.msg, "'rpi 4'");
	ASSERT_EQ(conf("[update]\nslot_a = /a\nslot_b = /b\nhardware_id = x\npublic_key = abc\n",
		       &p, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "box.conf: [update] public_key: expected 64 hex digits");
	ASSERT_EQ(conf("[update]\nslot_a = /a\nslot_b = /b\nhardware_id = x\npublic_key = " KEYHEX
		       "\nhealthy_within_s = 60\nhealthy_for_s = 90\n",
		       &p, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "healthy_for_s: 90 is longer than healthy_within_s (60)");
	ASSERT_EQ(conf("[update]\nslot_a = /a\nslot_b = /b\nhardware_id = x\npublic_key = " KEYHEX
		       "\nfactory_version = v1\n",
		       &p, &err),
		  -EINVAL);
	ASSERT_CONTAINS(err.msg, "factory_version: expected a version");
}

/* ---- versions ---------------------------------------------------------------- */

TEST(versions_follow_semver_precedence)
{
	/* semver.org's own example order, and numeric (not text) comparison. */
	static const char *const order[] = {
	    "0.9.9",	  "1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta",
	    "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
	    "1.0.0",	  "1.0.1",	  "1.9.0",	   "1.10.0",
	    "2.0.0",
	};
	static const char *const bad[] = {"",		"1",	  "1.0",    "1.0.0.0",	"01.0.0",
					  "1.00.0",	"v1.0.0", "1.0.0-", "1.0.0-01", "1.0.0+",
					  "1.0.0-a..b", "1.0.x",  "-1.0.0", "1.0.0 "};
	size_t n = sizeof(order) / sizeof(order[0]);
	char longv[80];
	int c;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			ASSERT_EQ(update_version_compare(order[i], order[j], &c), 0);
			ASSERT_MSG((c < 0) == (i < j) && (c == 0) == (i == j), "%s vs %s gave %d",
				   order[i], order[j], c);
		}
	ASSERT_EQ(update_version_compare("1.2.3+build.5", "1.2.3+other", &c), 0);
	ASSERT_EQ(c, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_MSG(!update_version_valid(bad[i]), "'%s' accepted", bad[i]);
	ASSERT_EQ(update_version_compare("1.0", "1.0.0", &c), -EINVAL);
	memset(longv, '1', sizeof(longv));
	memcpy(longv, "1.0.0-", 6);
	longv[70] = '\0';
	ASSERT(!update_version_valid(longv)); /* over UPDATE_VERSION_MAX */
}

/* ---- bundles ------------------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

TEST(bundle_layout_is_as_documented)
{
	struct update_manifest m;
	struct update_error ue;
	uint8_t pk[32], h[32];
	struct box b;
	uint8_t *f;
	size_t n, mlen;
	cJSON *j;
	char hex[65];

	ASSERT_EQ(box_init(&b, "layout"), 0);
	ASSERT_EQ(bundle_ex(&b, "b.ebx", "1.4.0-rc.1", 300000, 3, NULL, "1.0.0", NULL), 0);
	f = (uint8_t *)test_read_file(box_path(&b, "b.ebx"), &n);
	ASSERT(f);
	ASSERT(memcmp(f, "EBXUPD01", 8) == 0);
	ASSERT_EQ(f[8] | f[9] << 8, 1);	   /* format */
	ASSERT_EQ(f[10] | f[11] << 8, 32); /* header length */
	mlen = le32(f + 12);
	ASSERT(mlen > 0 && mlen <= UPDATE_MANIFEST_MAX);
	ASSERT_EQ(le32(f + 16), 300000); /* payload length, low half */
	ASSERT_EQ(le32(f + 20), 0);
	ASSERT_EQ(f[24] | f[25] << 8, 1);  /* Ed25519 */
	ASSERT_EQ(f[26] | f[27] << 8, 64); /* signature length */
	ASSERT_EQ(le32(f + 28), 0);
	ASSERT_EQ(n, 32 + mlen + 64 + 300000);
	/* The signature covers header + manifest, checked here with libsodium alone. */
	ASSERT_EQ(update_public_key_parse(b.pk, NULL, pk, &ue), 0);
	ASSERT_EQ(crypto_sign_verify_detached(f + 32 + mlen, f, 32 + mlen, pk), 0);
	j = cJSON_ParseWithLength((const char *)f + 32, mlen);
	ASSERT(j);
	ASSERT_EQ(cJSON_GetObjectItem(j, "format")->valueint, 1);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "hardware_id")->valuestring, HWID);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "version")->valuestring, "1.4.0-rc.1");
	ASSERT_STREQ(cJSON_GetObjectItem(j, "min_version")->valuestring, "1.0.0");
	ASSERT_EQ(cJSON_GetObjectItem(j, "build_time")->valuedouble, 1715679000);
	ASSERT_EQ(cJSON_GetObjectItem(j, "payload_size")->valuedouble, 300000);
	crypto_hash_sha256(h, f + 32 + mlen + 64, 300000);
	sodium_bin2hex(hex, sizeof(hex), h, 32);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "payload_sha256")->valuestring, hex);
	ASSERT(cJSON_IsArray(cJSON_GetObjectItem(j, "flags")));
	cJSON_Delete(j);
	free(f);

	ASSERT_EQ(update_verify(b.u, box_path(&b, "b.ebx"), 0, &m, NULL, NULL, &ue), 0);
	ASSERT_STREQ(m.version, "1.4.0-rc.1");
	ASSERT_STREQ(m.min_version, "1.0.0");
	ASSERT_EQ(m.payload_size, 300000);
	ASSERT_EQ(m.build_time, 1715679000);
	ASSERT(memcmp(m.payload_sha256, h, 32) == 0);
	box_fini(&b);
}

TEST(make_bundle_refuses_bad_input)
{
	struct update_bundle_spec spec = {
	    .hardware_id = HWID, .version = "1.0.0", .build_time = -1};
	struct update_manifest m;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "makebad"), 0);
	spec.secret_key_path = b.sk;
	spec.payload_path = b.factory;
	spec.version = "1.0";
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x"), NULL, &ue), -EINVAL);
	ASSERT_CONTAINS(ue.msg, "version '1.0': expected a semantic version");
	spec.version = "1.0.0";
	spec.hardware_id = "edge box";
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x"), NULL, &ue), -EINVAL);
	ASSERT_CONTAINS(ue.msg, "hardware id 'edge box'");
	spec.hardware_id = HWID;
	spec.min_version = "x";
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x"), NULL, &ue), -EINVAL);
	spec.min_version = NULL;
	spec.payload_path = box_path(&b, "nope.img");
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x"), NULL, &ue), -ENOENT);
	ASSERT_CONTAINS(ue.msg, "nope.img");
	spec.payload_path = b.factory;
	ASSERT_EQ(update_make_bundle(&spec, b.factory, NULL, &ue), -EINVAL);
	ASSERT_CONTAINS(ue.msg, "is the payload itself");
	ASSERT(same_file(b.factory, b.p.slot_path[0]));
	ASSERT_EQ(access(box_path(&b, "x"), F_OK), -1);

	/* Reproducible builds: the time comes from SOURCE_DATE_EPOCH. */
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	ASSERT_EQ(update_make_bundle(&spec, box_path(&b, "x"), &m, &ue), 0);
	unsetenv("SOURCE_DATE_EPOCH");
	ASSERT_EQ(m.build_time, 1700000000);
	box_fini(&b);
}

/* ---- install ------------------------------------------------------------------ */

struct seen {
	int calls[4];
	uint64_t last_done[4], total;
	bool monotonic;
	enum update_phase order[16];
	int n_order;
};

static int record(void *ctx, enum update_phase phase, uint64_t done, uint64_t total)
{
	struct seen *s = ctx;

	if (s->calls[phase] && done < s->last_done[phase])
		s->monotonic = false;
	if (!s->calls[phase] && s->n_order < 16)
		s->order[s->n_order++] = phase;
	s->calls[phase]++;
	s->last_done[phase] = done;
	s->total = total;
	return 0;
}

TEST(good_bundle_installs_into_the_inactive_slot_and_switches)
{
	struct seen seen = {.monotonic = true};
	struct update_status st;
	struct update_manifest m;
	struct update_error ue;
	struct box b;
	uint8_t h[32];
	size_t n;
	char *img;

	ASSERT_EQ(box_init(&b, "install"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 3 * MIB + 12345), 0);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT(st.from_factory);
	ASSERT_EQ(st.active, UPDATE_SLOT_A);

	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, &m, record, &seen, &ue),
		  UPDATE_SLOT_B);
	ASSERT_STREQ(m.version, "1.1.0");
	ASSERT(same_file(b.p.slot_path[1], image_of(&b, "v110.ebx")));
	ASSERT(same_file(b.p.slot_path[0], b.factory));
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT(!st.from_factory);
	ASSERT_EQ(st.active, UPDATE_SLOT_B);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_TRYING);
	ASSERT_EQ(st.slot[1].tries, 3);
	ASSERT_STREQ(st.slot[1].version, "1.1.0");
	ASSERT_EQ(st.slot[1].size, 3 * MIB + 12345);
	ASSERT_STREQ(st.slot[1].error, "");
	ASSERT(st.slot[1].installed > 0);
	img = test_read_file(image_of(&b, "v110.ebx"), &n);
	crypto_hash_sha256(h, (uint8_t *)img, n);
	free(img);
	ASSERT(memcmp(st.slot[1].sha256, h, 32) == 0);
	ASSERT_EQ(st.slot[0].status, UPDATE_STATUS_GOOD);
	ASSERT_STREQ(st.slot[0].version, "1.0.0");

	/* Progress: verify, write, read back, done; each from 0 to the total. */
	ASSERT_EQ(seen.n_order, 4);
	ASSERT_EQ(seen.order[0], UPDATE_PHASE_VERIFY);
	ASSERT_EQ(seen.order[1], UPDATE_PHASE_WRITE);
	ASSERT_EQ(seen.order[2], UPDATE_PHASE_READBACK);
	ASSERT_EQ(seen.order[3], UPDATE_PHASE_DONE);
	ASSERT(seen.monotonic);
	ASSERT_EQ(seen.total, 3 * MIB + 12345);
	for (int p = 0; p < 3; p++) {
		ASSERT_EQ(seen.last_done[p], 3 * MIB + 12345);
		ASSERT(seen.calls[p] >= 5); /* 0, four chunks */
	}

	/* The state file is valid as written: a fresh updater reads it. */
	box_fini(&b);
	ASSERT_EQ(update_new(&b.p, &b.u, &ue), 0);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.active, UPDATE_SLOT_B);
	box_fini(&b);
}

struct refusal {
	const char *what, *bundle;
	int rc;
	const char *msg;
};

/* Each refusal returns its code and message, and leaves the slots and the
 * state byte-identical, through verify and through install. */
static void expect_refusals(struct box *b, const struct refusal *r, size_t n)
{
	struct update_error ue;
	struct snap s;

	for (size_t i = 0; i < n; i++) {
		const char *diff;
		int rc;

		snap_take(b, &s);
		rc = update_verify(b->u, box_path(b, r[i].bundle), 0, NULL, NULL, NULL, &ue);
		if (rc != r[i].rc) {
			test_fail(__FILE__, __LINE__, "%s: verify gave %d (%s), expected %d",
				  r[i].what, rc, ue.msg, r[i].rc);
			snap_free(&s);
			return;
		}
		rc = update_install(b->u, box_path(b, r[i].bundle), 0, NULL, NULL, NULL, &ue);
		diff = snap_diff(b, &s);
		snap_free(&s);
		if (rc != r[i].rc || !strstr(ue.msg, r[i].msg) || diff) {
			test_fail(__FILE__, __LINE__,
				  "%s: install gave %d \"%s\", expected %d \"...%s...\"%s%s",
				  r[i].what, rc, ue.msg, r[i].rc, r[i].msg,
				  diff ? "; changed: " : "", diff ? diff : "");
			return;
		}
	}
}

/* Copies the first len bytes of src to dst within the box, with optional
 * byte flip at flip (or -1) and an extra trailing byte. */
static int variant(struct box *b, const char *src, const char *dst, long len, long flip,
		   bool trailing)
{
	size_t n;
	char *d = test_read_file(box_path(b, src), &n);
	int rc;

	if (!d)
		return -1;
	if (len < 0)
		len = (long)n;
	if (flip >= 0)
		d[flip] ^= 0x01;
	d = realloc(d, (size_t)len + 1);
	if (trailing)
		d[len++] = 0;
	rc = test_write_file(box_path(b, dst), d, (size_t)len);
	free(d);
	return rc;
}

TEST(bad_bundles_are_refused_with_a_reason_and_nothing_written)
{
	char other_sk[400], other_pk[400], man[1024], vname[64];
	struct update_error ue;
	struct box b;
	uint8_t *pl;
	size_t n, mlen;
	uint8_t *f;

	ASSERT_EQ(box_init(&b, "refuse"), 0);
	ASSERT_EQ(bundle(&b, "good.ebx", "1.1.0", 2 * MIB + 7), 0);
	f = (uint8_t *)test_read_file(box_path(&b, "good.ebx"), &n);
	ASSERT(f);
	mlen = le32(f + 12);
	free(f);

	/* Signed with a key this box does not trust. */
	snprintf(other_sk, sizeof(other_sk), "%s/other.key", b.dir);
	snprintf(other_pk, sizeof(other_pk), "%s/other.key.pub", b.dir);
	ASSERT_EQ(update_keygen(other_sk, other_pk, &ue), 0);
	ASSERT_EQ(bundle_ex(&b, "otherkey.ebx", "1.1.0", 100000, 1, NULL, NULL, other_sk), 0);
	/* Altered after signing: header, manifest, signature, payload. */
	ASSERT_EQ(variant(&b, "good.ebx", "flip_manifest.ebx", -1, 32 + 20, false), 0);
	ASSERT_EQ(variant(&b, "good.ebx", "flip_sig.ebx", -1, (long)(32 + mlen + 3), false), 0);
	ASSERT_EQ(variant(&b, "good.ebx", "flip_payload.ebx", -1, (long)(n - 1000), false), 0);
	ASSERT_EQ(variant(&b, "good.ebx", "flip_magic.ebx", -1, 2, false), 0);
	ASSERT_EQ(variant(&b, "good.ebx", "trailing.ebx", -1, -1, true), 0);
	ASSERT_EQ(bundle_ex(&b, "rpi5.ebx", "1.1.0", 100000, 1, "edgebox-rpi5", NULL, NULL), 0);
	ASSERT_EQ(bundle_ex(&b, "old.ebx", "0.9.0", 100000, 1, NULL, NULL, NULL), 0);
	ASSERT_EQ(bundle_ex(&b, "needs.ebx", "2.0.0", 100000, 1, NULL, "1.5.0", NULL), 0);

	/* Signed correctly, but not something this updater may install. */
	pl = calloc(1, 1000);
	manifest_for(pl, 1000, "1.1.0", ",\"flags\":[\"delta-v2\"]", man, sizeof(man));
	ASSERT_EQ(craft(&b, box_path(&b, "flag.ebx"), 1, man, pl, 1000), 0);
	manifest_for(pl, 1000, "1.1.0", "", man, sizeof(man));
	ASSERT_EQ(craft(&b, box_path(&b, "format2.ebx"), 2, man, pl, 1000), 0);
	manifest_for(pl, 1000, "1.1", "", man, sizeof(man));
	ASSERT_EQ(craft(&b, box_path(&b, "badver.ebx"), 1, man, pl, 1000), 0);
	ASSERT_EQ(craft(&b, box_path(&b, "notjson.ebx"), 1, "{\"format\":1,", pl, 1000), 0);
	manifest_for(pl, 999, "1.1.0", "", man, sizeof(man)); /* size and hash of other bytes */
	ASSERT_EQ(craft(&b, box_path(&b, "sizediff.ebx"), 1, man, pl, 1000), 0);
	free(pl);

	{
		const struct refusal r[] = {
		    {"other key", "otherkey.ebx", -EKEYREJECTED, "bad signature"},
		    {"manifest altered", "flip_manifest.ebx", -EKEYREJECTED, "bad signature"},
		    {"signature altered", "flip_sig.ebx", -EKEYREJECTED, "bad signature"},
		    {"payload altered", "flip_payload.ebx", -EBADMSG,
		     "does not match its signed SHA-256"},
		    {"bad magic", "flip_magic.ebx", -EBADMSG, "bad magic \"EBYUPD01\""},
		    {"trailing", "trailing.ebx", -EBADMSG, "bytes after the end of the bundle"},
		    {"hardware", "rpi5.ebx", -ENOEXEC,
		     "the bundle is for edgebox-rpi5, this box is edgebox-rpi4"},
		    {"downgrade", "old.ebx", -ERANGE,
		     "bundle 0.9.0 is older than installed 1.0.0 (use --force to downgrade)"},
		    {"min version", "needs.ebx", -ERANGE, "installs only over 1.5.0 or newer"},
		    {"unknown flag", "flag.ebx", -ENOTSUP, "needs 'delta-v2'"},
		    {"format 2", "format2.ebx", -EBADMSG,
		     "bundle format 2; this updater reads "
		     "format 1"},
		    {"bad version", "badver.ebx", -EBADMSG, "manifest: version"},
		    {"not json", "notjson.ebx", -EBADMSG, "manifest: not a JSON object"},
		    {"size differs", "sizediff.ebx", -EBADMSG, "payload_size 999 differs"},
		    {"missing", "nope.ebx", -ENOENT, "nope.ebx"},
		};
		expect_refusals(&b, r, sizeof(r) / sizeof(r[0]));
		if (test_failed())
			return;
	}

	/* Truncated at several points: in the magic, the header, the manifest,
	 * the signature, the payload, one byte short; and empty. */
	{
		const long cuts[] = {0,
				     5,
				     31,
				     32,
				     (long)(32 + mlen / 2),
				     (long)(32 + mlen + 10),
				     (long)(32 + mlen + 64),
				     (long)(32 + mlen + 64 + MIB),
				     (long)n - 1};

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			char want[96];
			struct refusal r = {"truncated", vname, -EBADMSG, want};

			snprintf(vname, sizeof(vname), "cut%ld.ebx", cuts[i]);
			ASSERT_EQ(variant(&b, "good.ebx", vname, cuts[i], -1, false), 0);
			if (cuts[i] == 0)
				snprintf(want, sizeof(want), "the file is empty");
			else
				snprintf(want, sizeof(want), "truncated at byte %ld", cuts[i]);
			expect_refusals(&b, &r, 1);
			if (test_failed())
				return;
		}
	}

	/* The same again once a state file exists (after a good install). */
	ASSERT_EQ(update_install(b.u, box_path(&b, "good.ebx"), 0, NULL, NULL, NULL, &ue),
		  UPDATE_SLOT_B);
	ASSERT_EQ(update_mark_good(b.u, &ue), 1);
	{
		const struct refusal r[] = {
		    {"other key", "otherkey.ebx", -EKEYREJECTED, "bad signature"},
		    {"payload altered", "flip_payload.ebx", -EBADMSG, "does not match"},
		    {"truncated", "cut40.ebx", -EBADMSG, "truncated at byte"},
		    {"downgrade", "old.ebx", -ERANGE,
		     "bundle 0.9.0 is older than installed 1.1.0 (use --force to downgrade)"},
		};
		ASSERT_EQ(variant(&b, "good.ebx", "cut40.ebx", 40, -1, false), 0);
		expect_refusals(&b, r, sizeof(r) / sizeof(r[0]));
	}
	box_fini(&b);
}

TEST(downgrade_needs_force_or_allow_downgrade)
{
	struct update_status st;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "downgrade"), 0);
	ASSERT_EQ(bundle(&b, "v120.ebx", "1.2.0", 100000), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 90000), 0);
	ASSERT_EQ(bundle(&b, "v120rc.ebx", "1.2.0-rc.1", 80000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v120.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(update_mark_good(b.u, &ue), 1);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), -ERANGE);
	ASSERT_CONTAINS(ue.msg, "bundle 1.1.0 is older than installed 1.2.0 (use --force");
	/* A pre-release of the installed version is older too. */
	ASSERT_EQ(update_install(b.u, box_path(&b, "v120rc.ebx"), 0, NULL, NULL, NULL, &ue),
		  -ERANGE);
	ASSERT_EQ(
	    update_install(b.u, box_path(&b, "v110.ebx"), UPDATE_FORCE, NULL, NULL, NULL, &ue),
	    UPDATE_SLOT_A);
	ASSERT(same_file(b.p.slot_path[0], image_of(&b, "v110.ebx")));
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.active, UPDATE_SLOT_A);
	ASSERT_STREQ(st.slot[0].version, "1.1.0");
	ASSERT_EQ(update_mark_good(b.u, &ue), 1);
	/* Reinstalling the same version is not a downgrade. */
	ASSERT_EQ(bundle(&b, "v110b.ebx", "1.1.0", 95000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110b.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(update_mark_good(b.u, &ue), 1);
	box_fini(&b);

	b.p.allow_downgrade = true;
	ASSERT_EQ(update_new(&b.p, &b.u, &ue), 0);
	ASSERT_EQ(bundle(&b, "v090.ebx", "0.9.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v090.ebx"), 0, NULL, NULL, NULL, &ue),
		  UPDATE_SLOT_A);
	box_fini(&b);
}

/* ---- trial and rollback -------------------------------------------------------- */

TEST(failed_starts_roll_back_after_max_tries)
{
	struct update_boot_result r;
	struct update_status st;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "rollback"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 200000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	/* Three starts that never report healthy. */
	for (int left = 2; left >= 0; left--) {
		ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
		ASSERT_EQ(r.action, UPDATE_BOOT_TRYING);
		ASSERT_EQ(r.active, UPDATE_SLOT_B);
		ASSERT_EQ(r.tries, left);
	}
	ASSERT_EQ(update_note_failure(b.u, "stage conversation failed", &ue), 1);
	/* The fourth start finds no tries left: back to slot a. */
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
	ASSERT_EQ(r.action, UPDATE_BOOT_ROLLED_BACK);
	ASSERT_EQ(r.active, UPDATE_SLOT_A);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.active, UPDATE_SLOT_A);
	ASSERT_EQ(st.slot[0].status, UPDATE_STATUS_GOOD);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_BAD);
	ASSERT_STREQ(st.rollback.reason, "did not report healthy within 120 s after 3 starts "
					 "(last: stage conversation failed)");
	ASSERT_STREQ(st.slot[1].error, st.rollback.reason);
	ASSERT_EQ(st.rollback.from, UPDATE_SLOT_B);
	ASSERT_EQ(st.rollback.to, UPDATE_SLOT_A);
	ASSERT_STREQ(st.rollback.version, "1.1.0");
	ASSERT(st.rollback.time > 0);
	ASSERT(same_file(b.p.slot_path[0], b.factory));

	/* The old slot is good: later starts change nothing. */
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
	ASSERT_EQ(r.action, UPDATE_BOOT_NORMAL);
	ASSERT_EQ(update_note_failure(b.u, "x", &ue), 0);
	ASSERT_EQ(update_mark_good(b.u, &ue), 0);

	/* A fixed release installs over the bad slot; the rollback stays on record. */
	ASSERT_EQ(bundle(&b, "v111.ebx", "1.1.1", 210000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v111.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_TRYING);
	ASSERT_CONTAINS(st.rollback.reason, "did not report healthy");
	box_fini(&b);
}

TEST(one_try_rolls_back_on_the_second_start)
{
	struct update_boot_result r;
	struct update_status st;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init_ex(&b, "onetry", 1), 0);
	ASSERT_EQ(bundle(&b, "v2.ebx", "2.0.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v2.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
	ASSERT_EQ(r.action, UPDATE_BOOT_TRYING);
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
	ASSERT_EQ(r.action, UPDATE_BOOT_ROLLED_BACK);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_STREQ(st.rollback.reason, "did not report healthy within 120 s after 1 starts");
	box_fini(&b);
}

TEST(mark_good_stops_the_countdown)
{
	struct update_boot_result r;
	struct update_status st;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "markgood"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 200000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
	ASSERT_EQ(r.tries, 2);
	ASSERT_EQ(update_mark_good(b.u, &ue), 1);
	ASSERT_EQ(update_mark_good(b.u, &ue), 0);
	for (int i = 0; i < 5; i++) {
		ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
		ASSERT_EQ(r.action, UPDATE_BOOT_NORMAL);
		ASSERT_EQ(r.active, UPDATE_SLOT_B);
	}
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_GOOD);
	ASSERT_EQ(st.slot[1].tries, 0);
	ASSERT_EQ(st.rollback.time, 0);
	/* Now slot a is the inactive one. */
	ASSERT_EQ(bundle(&b, "v120.ebx", "1.2.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v120.ebx"), 0, NULL, NULL, NULL, &ue),
		  UPDATE_SLOT_A);
	box_fini(&b);
}

TEST(no_install_while_the_active_slot_is_on_trial)
{
	struct update_error ue;
	struct snap s;
	struct box b;

	ASSERT_EQ(box_init(&b, "ontrial"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 1000), 0);
	ASSERT_EQ(bundle(&b, "v120.ebx", "1.2.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	snap_take(&b, &s);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v120.ebx"), 0, NULL, NULL, NULL, &ue), -EBUSY);
	ASSERT_CONTAINS(ue.msg, "slot b (1.1.0) is still on trial (3 starts left)");
	ASSERT_EQ(update_verify(b.u, box_path(&b, "v120.ebx"), 0, NULL, NULL, NULL, &ue), -EBUSY);
	ASSERT(snap_diff(&b, &s) == NULL);
	snap_free(&s);
	box_fini(&b);
}

TEST(a_second_install_at_the_same_time_is_refused)
{
	struct update_error ue;
	char lock[PATH_MAX + 8];
	struct snap s;
	struct box b;
	int fd;

	ASSERT_EQ(box_init(&b, "locked"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 1000), 0);
	ASSERT_EQ(mkdir(box_path(&b, "state"), 0755), 0);
	snprintf(lock, sizeof(lock), "%s.lock", b.p.state_path);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	ASSERT(fd >= 0);
	ASSERT_EQ(flock(fd, LOCK_EX), 0);
	snap_take(&b, &s);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), -EBUSY);
	ASSERT_CONTAINS(ue.msg, "another update is running");
	ASSERT(snap_diff(&b, &s) == NULL);
	snap_free(&s);
	close(fd);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	box_fini(&b);
}

TEST(bootloader_fallback_marks_the_trial_slot_bad)
{
	struct update_boot_result r;
	struct update_status st;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "fellback"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_B, &r, &ue), 0); /* booted as asked */
	ASSERT_EQ(r.action, UPDATE_BOOT_TRYING);
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_A, &r, &ue), 0); /* the bootloader gave up */
	ASSERT_EQ(r.action, UPDATE_BOOT_FELL_BACK);
	ASSERT_EQ(r.active, UPDATE_SLOT_A);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_BAD);
	ASSERT_CONTAINS(st.rollback.reason,
			"the bootloader fell back to slot a with 2 of 3 starts");
	/* Slot b is bad now: a box that claims to run it is inconsistent. */
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_B, &r, &ue), -ESTALE);
	ASSERT_CONTAINS(ue.msg, "the bootloader started slot b");
	ASSERT_CONTAINS(ue.msg, "--reset-state");
	box_fini(&b);
}

TEST(trial_judge_needs_a_healthy_streak_within_the_deadline)
{
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "judge"), 0); /* healthy_for_s 30, healthy_within_s 120 */
	ASSERT_EQ(update_trial_judge(b.u, 10, 0), UPDATE_TRIAL_WAIT);
	ASSERT_EQ(update_trial_judge(b.u, 40, 29.9), UPDATE_TRIAL_WAIT);
	ASSERT_EQ(update_trial_judge(b.u, 40, 30), UPDATE_TRIAL_GOOD);
	ASSERT_EQ(update_trial_judge(b.u, 119.9, 5), UPDATE_TRIAL_WAIT);
	ASSERT_EQ(update_trial_judge(b.u, 120, 5), UPDATE_TRIAL_FAILED);
	ASSERT_EQ(update_trial_judge(b.u, 130, 30), UPDATE_TRIAL_GOOD);
	box_fini(&b);
	b.p.healthy_for_s = 200;
	ASSERT_EQ(update_new(&b.p, &b.u, &ue), -EINVAL);
	ASSERT(b.u == NULL);
}

/* ---- power cuts ------------------------------------------------------------------ */

struct cut {
	enum update_phase phase;
	uint64_t at; /* die once done >= at in phase */
	bool sigkill;
};

static int die_at(void *ctx, enum update_phase phase, uint64_t done, uint64_t total)
{
	const struct cut *c = ctx;

	(void)total;
	if (phase == c->phase && done >= c->at) {
		if (c->sigkill)
			raise(SIGKILL);
		_exit(0);
	}
	return 0;
}

/* Installs in a child that dies at the cut; the child's exit status. */
static int install_and_die(struct box *b, const char *bundle_name, const struct cut *c)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct update_error ue;
		struct update *u;

		if (update_new(&b->p, &u, &ue) < 0)
			_exit(3);
		update_install(u, box_path(b, bundle_name), 0, NULL, die_at, (void *)c, &ue);
		_exit(4); /* the cut never came */
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

TEST(power_cut_while_writing_keeps_the_old_slot_then_a_retry_works)
{
	const uint64_t size = 3 * MIB + 500;
	const struct cut cuts[] = {
	    {UPDATE_PHASE_VERIFY, MIB, false},	  /* before anything is written */
	    {UPDATE_PHASE_WRITE, 0, false},	  /* slot marked, nothing written yet */
	    {UPDATE_PHASE_WRITE, 1, true},	  /* after the first chunk */
	    {UPDATE_PHASE_WRITE, 2 * MIB, false}, /* in the middle */
	    {UPDATE_PHASE_WRITE, size, true},	  /* written, not yet synced/read back */
	    {UPDATE_PHASE_READBACK, MIB, true},	  /* while checking */
	    {UPDATE_PHASE_READBACK, size, false}, /* checked, not committed */
	};

	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct update_status st;
		struct update_error ue;
		char name[32];
		struct snap s;
		struct box b;
		int ws;

		snprintf(name, sizeof(name), "cut%zu", i);
		ASSERT_EQ(box_init(&b, name), 0);
		ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", size), 0);
		snap_take(&b, &s);
		ws = install_and_die(&b, "v110.ebx", &cuts[i]);
		ASSERT_MSG(cuts[i].sigkill ? WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL
					   : WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
			   "cut %zu: child status 0x%x", i, ws);

		/* The state file is valid, the old slot active, good and intact. */
		ASSERT_MSG(update_status(b.u, &st, &ue) == 0, "cut %zu: %s", i, ue.msg);
		ASSERT_EQ(st.active, UPDATE_SLOT_A);
		ASSERT_EQ(st.slot[0].status, UPDATE_STATUS_GOOD);
		ASSERT_STREQ(st.slot[0].version, "1.0.0");
		ASSERT(same_file(b.p.slot_path[0], b.factory));
		if (cuts[i].phase == UPDATE_PHASE_VERIFY) {
			ASSERT_MSG(snap_diff(&b, &s) == NULL, "cut %zu wrote something", i);
		} else {
			ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_EMPTY);
			ASSERT_STREQ(st.slot[1].version, "");
			ASSERT_CONTAINS(st.slot[1].error, "the install of 1.1.0 started");
			ASSERT_CONTAINS(st.slot[1].error, "did not finish");
		}
		snap_free(&s);
		ASSERT_EQ(access(box_path(&b, "state/update.state.tmp"), F_OK), -1);

		/* A start after the cut is a normal start of the old slot. */
		{
			struct update_boot_result r;

			ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
			ASSERT_EQ(r.action, UPDATE_BOOT_NORMAL);
			ASSERT_EQ(r.active, UPDATE_SLOT_A);
		}
		/* The retry succeeds (the dead child's lock went with it). */
		ASSERT_MSG(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL,
					  &ue) == UPDATE_SLOT_B,
			   "cut %zu retry: %s", i, ue.msg);
		ASSERT(same_file(b.p.slot_path[1], image_of(&b, "v110.ebx")));
		ASSERT_EQ(update_status(b.u, &st, &ue), 0);
		ASSERT_EQ(st.active, UPDATE_SLOT_B);
		ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_TRYING);
		ASSERT_STREQ(st.slot[1].error, "");
		box_fini(&b);
	}
}

TEST(power_cut_right_after_the_commit_starts_the_new_slot_on_trial)
{
	const struct cut cut = {UPDATE_PHASE_DONE, 0, true};
	struct update_status st;
	struct update_error ue;
	struct box b;
	int ws;

	ASSERT_EQ(box_init(&b, "cutdone"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", MIB), 0);
	ws = install_and_die(&b, "v110.ebx", &cut);
	ASSERT(WIFSIGNALED(ws));
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.active, UPDATE_SLOT_B);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_TRYING);
	ASSERT(same_file(b.p.slot_path[1], image_of(&b, "v110.ebx")));
	box_fini(&b);
}

/* Rewrites the payload part of the bundle when writing starts. */
struct swap {
	const char *path;
	uint64_t off;
};

static int swap_payload(void *ctx, enum update_phase phase, uint64_t done, uint64_t total)
{
	const struct swap *s = ctx;
	int fd;

	(void)total;
	if (phase == UPDATE_PHASE_WRITE && done == 0) {
		fd = open(s->path, O_WRONLY);
		if (fd < 0 || pwrite(fd, "X", 1, (off_t)s->off) != 1)
			return 1;
		close(fd);
	}
	return 0;
}

TEST(a_bundle_changed_during_the_install_is_caught)
{
	struct update_status st;
	struct update_error ue;
	struct box b;
	struct swap sw;

	ASSERT_EQ(box_init(&b, "swapped"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 2 * MIB), 0);
	sw.path = box_path(&b, "v110.ebx");
	sw.off = file_size(sw.path) - 10;
	ASSERT_EQ(update_install(b.u, sw.path, 0, NULL, swap_payload, &sw, &ue), -EIO);
	ASSERT_CONTAINS(ue.msg, "changed while it was being installed");
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.active, UPDATE_SLOT_A);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_EMPTY);
	ASSERT_CONTAINS(st.slot[1].error, "the install of 1.1.0 failed");
	ASSERT_CONTAINS(st.slot[1].error, "changed while");
	box_fini(&b);
}

static int cancel_in_write(void *ctx, enum update_phase phase, uint64_t done, uint64_t total)
{
	(void)ctx;
	(void)total;
	return phase == UPDATE_PHASE_WRITE && done > 0;
}

TEST(a_cancelled_install_leaves_the_old_slot_active)
{
	struct update_status st;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "cancel"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 2 * MIB), 0);
	ASSERT_EQ(
	    update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, cancel_in_write, NULL, &ue),
	    -ECANCELED);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.active, UPDATE_SLOT_A);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_EMPTY);
	ASSERT_CONTAINS(st.slot[1].error, "cancelled");
	box_fini(&b);
}

/* ---- the state file ------------------------------------------------------------- */

/* Rewrites the state file with its crc fixed, after replacing from by to. */
static int state_edit(const struct box *b, const char *from, const char *to, bool fix_crc)
{
	size_t n;
	char *text = test_read_file(b->p.state_path, &n), *at, *crc, out[UPDATE_STATE_MAX + 256];
	int len;

	if (!text || !(at = strstr(text, from))) {
		free(text);
		return -1;
	}
	*at = '\0';
	len = snprintf(out, sizeof(out), "%s%s%s", text, to, at + strlen(from));
	free(text);
	if (fix_crc) {
		crc = strstr(out, "crc32=");
		if (!crc)
			return -1;
		len = (int)(crc - out);
		len += snprintf(crc, 16, "crc32=%08lx\n",
				crc32(crc32(0L, Z_NULL, 0), (const Bytef *)out, (uInt)len));
	}
	return test_write_file(b->p.state_path, out, (size_t)len);
}

TEST(a_damaged_state_file_is_refused_with_where_and_how_to_fix)
{
	struct update_boot_result r;
	struct update_status st;
	struct update_error ue;
	char good[UPDATE_STATE_MAX];
	size_t n;
	char *text;
	struct box b;
	const struct {
		const char *what, *from, *to;
		bool fix_crc;
		const char *msg;
		const char *pre_from, *pre_to; /* an edit made first, crc not fixed */
	} cases[] = {
	    {"flipped byte", "b.tries=3", "b.tries=4", false, "crc32", NULL, NULL},
	    {"bad value", "b.tries=3", "b.tries=lots", true,
	     ":16: b.tries: expected a whole number from 0 to 20, got 'lots'", NULL, NULL},
	    {"bad status", "b.status=trying", "b.status=maybe", true,
	     "b.status: expected empty, good, trying or bad", NULL, NULL},
	    {"unknown key", "seq=", "colour=red\nseq=", true, ":4: unknown key 'colour'", NULL,
	     NULL},
	    {"twice", "seq=", "active=a\nseq=", true, "set twice", NULL, NULL},
	    {"missing key", "a.sha256=\n", "", true, "key 'a.sha256' is missing", NULL, NULL},
	    {"bad active", "active=b", "active=c", true, "active: expected a or b, got 'c'", NULL,
	     NULL},
	    {"empty active", "active=b", "active=a", false, "crc32", NULL, NULL},
	    {"no crc", "crc32=", "crc33=", false, "the last line is not 'crc32=XXXXXXXX'", NULL,
	     NULL},
	    {"bad version", "b.version=1.1.0", "b.version=1.1", true, "a version (semver)", NULL,
	     NULL},
	    {"active empty", "active=b", "active=a", true, "the active slot a is empty",
	     "a.status=good", "a.status=empty"},
	};

	ASSERT_EQ(box_init(&b, "damaged"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	text = test_read_file(b.p.state_path, &n);
	ASSERT(text && n < sizeof(good));
	memcpy(good, text, n);
	free(text);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snap s;

		ASSERT_EQ(test_write_file(b.p.state_path, good, n), 0);
		if (cases[i].pre_from)
			ASSERT_EQ(state_edit(&b, cases[i].pre_from, cases[i].pre_to, false), 0);
		ASSERT_MSG(state_edit(&b, cases[i].from, cases[i].to, cases[i].fix_crc) == 0,
			   "%s: edit", cases[i].what);
		snap_take(&b, &s);
		ASSERT_EQ(update_status(b.u, &st, &ue), -EUCLEAN);
		ASSERT_MSG(strstr(ue.msg, cases[i].msg), "%s: %s", cases[i].what, ue.msg);
		ASSERT_CONTAINS(ue.msg, b.p.state_path);
		ASSERT_CONTAINS(ue.msg, "--reset-state");
		/* Nothing acts on a damaged state, and nothing is written. */
		ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue),
			  -EUCLEAN);
		ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), -EUCLEAN);
		ASSERT_EQ(update_mark_good(b.u, &ue), -EUCLEAN);
		ASSERT(snap_diff(&b, &s) == NULL);
		snap_free(&s);
	}
	/* Truncated and oversized files. */
	ASSERT_EQ(test_write_file(b.p.state_path, good, n / 2), 0);
	ASSERT_EQ(update_status(b.u, &st, &ue), -EUCLEAN);
	ASSERT_EQ(test_write_file(b.p.state_path, "", 0), 0);
	ASSERT_EQ(update_status(b.u, &st, &ue), -EUCLEAN);
	{
		char *big = calloc(1, UPDATE_STATE_MAX + 1);

		memset(big, '#', UPDATE_STATE_MAX);
		ASSERT_EQ(test_write_file(b.p.state_path, big, UPDATE_STATE_MAX + 1), 0);
		free(big);
	}
	ASSERT_EQ(update_status(b.u, &st, &ue), -EUCLEAN);
	ASSERT_CONTAINS(ue.msg, "larger than 16384 bytes");

	/* The fix: name the slot the box runs. */
	ASSERT_EQ(update_reset_state(b.u, UPDATE_SLOT_B, "1.1.0", &ue), 0);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT_EQ(st.active, UPDATE_SLOT_B);
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_GOOD);
	ASSERT_STREQ(st.slot[1].version, "1.1.0");
	ASSERT_EQ(st.slot[0].status, UPDATE_STATUS_EMPTY);
	ASSERT_EQ(update_reset_state(b.u, UPDATE_SLOT_A, "x", &ue), -EINVAL);
	box_fini(&b);
}

TEST(a_missing_state_file_is_the_factory_default)
{
	struct update_boot_result r;
	struct update_status st;
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "factory"), 0);
	ASSERT_EQ(update_status(b.u, &st, &ue), 0);
	ASSERT(st.from_factory);
	ASSERT_EQ(st.active, UPDATE_SLOT_A);
	ASSERT_EQ(st.slot[0].status, UPDATE_STATUS_GOOD);
	ASSERT_STREQ(st.slot[0].version, "1.0.0");
	ASSERT_EQ(st.slot[1].status, UPDATE_STATUS_EMPTY);
	ASSERT_EQ(st.rollback.time, 0);
	/* Starting and marking good on the factory image write nothing. */
	ASSERT_EQ(update_boot(b.u, UPDATE_SLOT_NONE, &r, &ue), 0);
	ASSERT_EQ(r.action, UPDATE_BOOT_NORMAL);
	ASSERT_EQ(update_mark_good(b.u, &ue), 0);
	ASSERT_EQ(access(b.p.state_path, F_OK), -1);
	box_fini(&b);
}

/* ---- slot size ---------------------------------------------------------------------- */

TEST(a_payload_larger_than_the_slot_is_refused_before_writing)
{
	struct update_error ue;
	struct snap s;
	struct box b;

	ASSERT_EQ(box_init(&b, "capacity"), 0);
	box_fini(&b);
	b.p.slot_capacity = MIB;
	ASSERT_EQ(update_new(&b.p, &b.u, &ue), 0);
	ASSERT_EQ(bundle(&b, "big.ebx", "1.1.0", MIB + 1), 0);
	ASSERT_EQ(bundle(&b, "fits.ebx", "1.1.0", MIB), 0);
	snap_take(&b, &s);
	ASSERT_EQ(update_install(b.u, box_path(&b, "big.ebx"), 0, NULL, NULL, NULL, &ue), -EFBIG);
	ASSERT_CONTAINS(ue.msg, "the payload is 1048577 bytes, slot b");
	ASSERT_CONTAINS(ue.msg, "holds 1048576");
	ASSERT(snap_diff(&b, &s) == NULL);
	snap_free(&s);
	ASSERT_EQ(update_install(b.u, box_path(&b, "fits.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	box_fini(&b);

	/* A slot that is a folder is neither a device nor a file. */
	ASSERT_EQ(box_init(&b, "dirslot"), 0);
	ASSERT_EQ(unlink(b.p.slot_path[1]), 0);
	ASSERT_EQ(mkdir(b.p.slot_path[1], 0755), 0);
	ASSERT_EQ(bundle(&b, "v.ebx", "1.1.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v.ebx"), 0, NULL, NULL, NULL, &ue), -EINVAL);
	ASSERT_CONTAINS(ue.msg, "neither a block device nor a regular file");
	ASSERT_EQ(access(b.p.state_path, F_OK), -1);
	box_fini(&b);
}

TEST(a_shorter_image_leaves_no_tail_of_the_old_one)
{
	struct update_error ue;
	struct box b;

	ASSERT_EQ(box_init(&b, "shorter"), 0);
	ASSERT_EQ(bundle(&b, "v110.ebx", "1.1.0", 2 * MIB), 0);
	ASSERT_EQ(bundle(&b, "v120.ebx", "1.2.0", 3000), 0);
	ASSERT_EQ(bundle(&b, "v130.ebx", "1.3.0", 1000), 0);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v110.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(update_mark_good(b.u, &ue), 1);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v120.ebx"), 0, NULL, NULL, NULL, &ue), 0);
	ASSERT_EQ(update_mark_good(b.u, &ue), 1);
	ASSERT_EQ(update_install(b.u, box_path(&b, "v130.ebx"), 0, NULL, NULL, NULL, &ue), 1);
	ASSERT_EQ(file_size(b.p.slot_path[1]), 1000);
	ASSERT(same_file(b.p.slot_path[1], image_of(&b, "v130.ebx")));
	box_fini(&b);
}

/* ---- the CLI ---------------------------------------------------------------------- */

static int cli_ready(void)
{
	char *out, *err;
	int rc = test_ctl("update --help", &out, &err);
	int ok = rc == 0 && out && strstr(out, "edgeboxctl update BUNDLE");

	if (!ok)
		printf("    edgeboxctl update --help exited %d: %s", rc, err ? err : "");
	free(out);
	free(err);
	return ok;
}

/* The last line of out that parses as a JSON object with "event" == event. */
static cJSON *json_event(const char *out, const char *event)
{
	cJSON *found = NULL;
	char *copy = strdup(out ? out : ""), *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cJSON *j = cJSON_Parse(line);
		const cJSON *e = cJSON_GetObjectItem(j, "event");

		if (cJSON_IsString(e) && strcmp(e->valuestring, event) == 0) {
			cJSON_Delete(found);
			found = j;
		} else {
			cJSON_Delete(j);
		}
	}
	free(copy);
	return found;
}

TEST(cli_keygen_make_bundle_install_status_boot_mark_good)
{
	char args[2048], cfg[400], *out, *err;
	const char *d;
	struct box b;
	cJSON *j;
	int progress_lines = 0;

	ASSERT_MSG(cli_ready(), "edgeboxctl lacks the update group: ctl_update must be listed in "
				"firmware/edgeboxctl.c's command table");
	ASSERT_EQ(box_init(&b, "cli"), 0);
	d = b.dir;
	snprintf(cfg, sizeof(cfg), "%s/box.conf", d);
	snprintf(args, sizeof(args),
		 "[update]\nslot_a = slot_a\nslot_b = slot_b\nstate = state/update.state\n"
		 "hardware_id = " HWID "\npublic_key = rel.key.pub\nfactory_version = 1.0.0\n");
	ASSERT_EQ(test_write_file(cfg, args, strlen(args)), 0);

	snprintf(args, sizeof(args), "update --keygen %s/rel.key", d);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "public_key = ");
	free(out);
	free(err);
	ASSERT_EQ(test_ctl(args, &out, &err), 1); /* never overwritten */
	ASSERT_CONTAINS(err, "never overwritten");
	free(out);
	free(err);

	ASSERT_EQ(make_payload(box_path(&b, "img"), 2 * MIB + 3, 11), 0);
	snprintf(args, sizeof(args),
		 "update --make-bundle --key %s/rel.key --hardware-id " HWID " --version 1.1.0 "
		 "--payload %s/img -o %s/v110.ebx --build-time 1715679000 --json",
		 d, d, d);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	j = json_event(out, "bundle");
	ASSERT_MSG(j, "no bundle event: %s %s", out, err);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "version")->valuestring, "1.1.0");
	ASSERT_EQ(cJSON_GetObjectItem(j, "payload_size")->valuedouble, 2 * MIB + 3);
	cJSON_Delete(j);
	free(out);
	free(err);

	/* A refusal: exit 1, the reason, nothing written. */
	ASSERT_EQ(variant(&b, "v110.ebx", "cut.ebx", 100, -1, false), 0);
	ASSERT_EQ(variant(&b, "slot_b", "slot_b.before", -1, -1, false), 0);
	snprintf(args, sizeof(args), "update %s/cut.ebx --config %s", d, cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "truncated at byte 100");
	ASSERT_CONTAINS(err, "nothing was written");
	free(out);
	free(err);
	ASSERT(same_file(box_path(&b, "slot_b"), box_path(&b, "slot_b.before")));
	ASSERT_EQ(access(box_path(&b, "state/update.state"), F_OK), -1);
	snprintf(args, sizeof(args), "update %s/cut.ebx --config %s --json", d, cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	j = json_event(out, "error");
	ASSERT(j);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "code")->valuestring, "bad_bundle");
	cJSON_Delete(j);
	free(out);
	free(err);

	/* Install with JSON progress. */
	snprintf(args, sizeof(args), "update %s/v110.ebx --config %s --json", d, cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	for (char *p = out; (p = strstr(p, "\"event\":\"progress\"")); p++)
		progress_lines++;
	ASSERT_MSG(progress_lines >= 9, "%d progress lines: %s", progress_lines, out);
	ASSERT_CONTAINS(out, "\"phase\":\"write\",\"done\":2097155,\"total\":2097155,"
			     "\"percent\":100");
	j = json_event(out, "installed");
	ASSERT_MSG(j, "no installed event: %s %s", out, err);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "slot")->valuestring, "b");
	ASSERT_EQ(cJSON_GetObjectItem(j, "tries")->valueint, 3);
	ASSERT_STREQ(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fallback"), "version")->valuestring,
	    "1.0.0");
	cJSON_Delete(j);
	free(out);
	free(err);
	ASSERT(same_file(box_path(&b, "slot_b"), box_path(&b, "img")));

	/* Status, human and JSON. */
	snprintf(args, sizeof(args), "update --status --config %s", cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "active: slot b (trying 1.1.0)");
	ASSERT_CONTAINS(out, "last rollback: never");
	free(out);
	free(err);

	/* Three failed starts, then the rollback; --status says why. */
	snprintf(args, sizeof(args), "update --boot --config %s --json", cfg);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(test_ctl(args, &out, &err), 0);
		ASSERT_CONTAINS(out, "\"action\":\"trying\"");
		free(out);
		free(err);
	}
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	j = json_event(out, "boot");
	ASSERT(j);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "action")->valuestring, "rolled_back");
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(j, "reboot")));
	ASSERT_STREQ(cJSON_GetObjectItem(j, "active")->valuestring, "a");
	cJSON_Delete(j);
	free(out);
	free(err);
	snprintf(args, sizeof(args), "update --status --config %s --json", cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	j = cJSON_Parse(out);
	ASSERT_MSG(j, "status --json: %s", out);
	ASSERT_STREQ(cJSON_GetObjectItem(j, "active")->valuestring, "a");
	ASSERT_STREQ(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "slots"), 1), "status")
		->valuestring,
	    "bad");
	ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "rollback"), "reason")->valuestring,
		     "did not report healthy within 120 s after 3 starts");
	cJSON_Delete(j);
	free(out);
	free(err);
	snprintf(args, sizeof(args), "update --status --config %s", cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "last rollback: ");
	ASSERT_CONTAINS(out, "from slot b (1.1.0) to slot a: did not report healthy within 120 s "
			     "after 3 starts");
	free(out);
	free(err);

	/* Again, and this time it reports healthy. */
	snprintf(args, sizeof(args), "update %s/v110.ebx --config %s", d, cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "installed 1.1.0 into slot b");
	ASSERT_CONTAINS(err, "writing"); /* progress, on standard error */
	free(out);
	free(err);
	snprintf(args, sizeof(args), "update --mark-good --config %s", cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "slot b (1.1.0) is now marked good");
	free(out);
	free(err);
	snprintf(args, sizeof(args), "update --verify %s/v110.ebx --config %s", d, cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "would install");
	ASSERT_CONTAINS(out, "into slot a");
	free(out);
	free(err);
	box_fini(&b);
}

TEST(cli_help_and_usage_errors)
{
	static const char *const helps[] = {
	    "update --help",
	    "update --status --help",
	    "update --boot --help",
	    "update --mark-good --help",
	    "update --make-bundle --help",
	    "update --keygen --help",
	    "update --verify --help",
	    "update --reset-state --help",
	    "update x.ebx --help",
	};
	static const struct {
		const char *args, *msg;
	} bad[] = {
	    {"update", "which bundle?"},
	    {"update --status --boot", "cannot be combined"},
	    {"update --make-bundle --key k", "--make-bundle needs --hardware-id ID"},
	    {"update --status --key k", "--key does not apply here"},
	    {"update --status --force", "--force does not apply here"},
	    {"update --frobnicate", "unknown option '--frobnicate'"},
	    {"update a.ebx b.ebx", "unexpected argument 'b.ebx'"},
	    {"update --keygen", "--keygen needs a value"},
	    {"update --boot --booted-slot c", "expected a or b, got 'c'"},
	    {"update --reset-state c", "expected a or b, got 'c'"},
	    {"update --make-bundle --key k --hardware-id h --version 1.0.0 --payload p -o o "
	     "--build-time soon",
	     "--build-time: expected seconds"},
	};
	char *out, *err;

	ASSERT_MSG(cli_ready(), "edgeboxctl lacks the update group");
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++) {
		ASSERT_MSG(test_ctl(helps[i], &out, &err) == 0, "%s", helps[i]);
		ASSERT_MSG(out && strstr(out, "Usage: edgeboxctl update") &&
			       strstr(out, "Exit status"),
			   "%s: %s", helps[i], out);
		free(out);
		free(err);
	}
	ASSERT_EQ(test_ctl("update --status --help", &out, &err), 0);
	ASSERT_CONTAINS(out, "why the box last");
	free(out);
	free(err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_MSG(test_ctl(bad[i].args, &out, &err) == 2, "%s", bad[i].args);
		ASSERT_MSG(err && strstr(err, bad[i].msg), "%s: %s", bad[i].args, err);
		free(out);
		free(err);
	}
	/* A config without [update] says what to add. */
	{
		char args[600], cfg[400];

		snprintf(cfg, sizeof(cfg), "%s/noupdate.conf", test_tmpdir());
		ASSERT_EQ(test_write_file(cfg, "[daemon]\ntick_ms = 100\n", 23), 0);
		snprintf(args, sizeof(args), "update --status --config %s", cfg);
		ASSERT_EQ(test_ctl(args, &out, &err), 1);
		ASSERT_CONTAINS(err, "has no [update] section: add slot_a, slot_b, hardware_id");
		free(out);
		free(err);
	}
}
