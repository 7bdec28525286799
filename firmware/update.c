/*
 * update — signed A/B firmware updates. The bundle format and the state file
 * are described byte by byte in docs/updates.md; this file follows it.
 *
 * Order of an install, and why:
 *   1. lock, read the state: nothing may change under us;
 *   2. header, size, signature, manifest, hardware id, version, slot size:
 *      the cheap checks, so a wrong bundle is refused without reading the
 *      payload; the manifest is only parsed once its signature verified;
 *   3. hash the payload against the signed hash: a damaged bundle is refused
 *      before anything is written;
 *   4. mark the target slot empty (the state file says what is going on if
 *      the power goes now), write it, fsync, read it back and hash again;
 *   5. commit: one atomic rename of the state file makes the slot active.
 */
#include "firmware/update.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (1u << 20)	 /* bytes per read/write */
#define SYNC_EVERY (16ull << 20) /* fdatasync the slot every this many bytes */
#define KEY_FILE_MAX 1024	 /* bytes of a key file */
#define LOCK_WAIT_MS 10000	 /* boot / mark-good wait this long for an install */
#define SECRET_HEADER "EDGEBOX UPDATE SECRET KEY 1"
#define STATE_KEYS_MAX 64		/* lines with a key in the state file */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53: exact in a JSON number */

struct update {
	struct update_params p;
};

/* ---- small helpers ------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int fail(struct update_error *err, int rc,
						      const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

/* Reads up to len bytes at off; the count (short only at end of file). */
static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		done += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		done += (size_t)n;
	}
	return 0;
}

/* fsync of the folder holding path, so a rename in it is durable. */
static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc = 0;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	if (fsync(fd) < 0)
		rc = neg_errno();
	close(fd);
	return rc;
}

/* Reads a whole small file (at most max bytes) into a NUL-terminated buffer. */
static int slurp(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	if (fstat(fd, &st) < 0) {
		n = neg_errno();
		close(fd);
		return (int)n;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = pread_full(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = (size_t)n;
	return 0;
}

static void iso_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "never");
}

/* Copies a note into dst: control bytes become spaces (the state file is
 * line-based), and a note that does not fit ends in "...". */
static void set_note(char *dst, const char *src)
{
	size_t i, n = strlen(src);

	for (i = 0; i < n && i < UPDATE_NOTE_MAX - 1; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
	dst[i] = '\0';
	if (n > UPDATE_NOTE_MAX - 1)
		memcpy(dst + UPDATE_NOTE_MAX - 4, "...", 4);
}

static void hex32(const uint8_t *bin, char out[65])
{
	sodium_bin2hex(out, 65, bin, 32);
}

static bool is_zero32(const uint8_t *b)
{
	for (int i = 0; i < 32; i++)
		if (b[i])
			return false;
	return true;
}

/* Exactly 2*len hex digits into bin. */
static bool hex_decode(const char *s, uint8_t *bin, size_t len)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(s) != 2 * len)
		return false;
	return sodium_hex2bin(bin, len, s, 2 * len, NULL, &got, &end) == 0 && got == len &&
	       end == s + 2 * len;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

const char *update_slot_name(enum update_slot s)
{
	switch (s) {
	case UPDATE_SLOT_A:
		return "a";
	case UPDATE_SLOT_B:
		return "b";
	case UPDATE_SLOT_NONE:
		break;
	}
	return "none";
}

const char *update_status_name(enum update_slot_status s)
{
	switch (s) {
	case UPDATE_STATUS_EMPTY:
		return "empty";
	case UPDATE_STATUS_GOOD:
		return "good";
	case UPDATE_STATUS_TRYING:
		return "trying";
	case UPDATE_STATUS_BAD:
		return "bad";
	}
	return "?";
}

static int status_from_name(const char *s, enum update_slot_status *ret)
{
	static const enum update_slot_status all[] = {UPDATE_STATUS_EMPTY, UPDATE_STATUS_GOOD,
						      UPDATE_STATUS_TRYING, UPDATE_STATUS_BAD};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, update_status_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return -EINVAL;
}

static enum update_slot other(enum update_slot s)
{
	return s == UPDATE_SLOT_A ? UPDATE_SLOT_B : UPDATE_SLOT_A;
}

/* ---- semantic versions -------------------------------------------------- */

struct semver {
	uint64_t num[3];
	const char *pre; /* points into the string; NULL when none */
	size_t pre_len;
};

static bool ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '-';
}

/* One dot-separated list of identifiers [s, end): non-empty, [0-9A-Za-z-];
 * numeric ones without leading zeros when strict_numeric. */
static bool idents_valid(const char *s, const char *end, bool strict_numeric)
{
	const char *p = s;

	if (s == end)
		return false;
	while (p <= end) {
		const char *q = p;
		bool numeric = true;

		while (q < end && *q != '.') {
			if (!ident_char(*q))
				return false;
			if (!isdigit((unsigned char)*q))
				numeric = false;
			q++;
		}
		if (q == p)
			return false;
		if (strict_numeric && numeric && q - p > 1 && *p == '0')
			return false;
		p = q + 1;
	}
	return true;
}

static int semver_parse(const char *s, struct semver *v)
{
	const char *p = s, *plus, *end;
	size_t len;

	if (!s)
		return -EINVAL;
	len = strlen(s);
	if (len == 0 || len > UPDATE_VERSION_MAX)
		return -EINVAL;
	plus = strchr(s, '+');
	end = plus ? plus : s + len;
	if (plus && !idents_valid(plus + 1, s + len, false))
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		uint64_t n = 0;
		const char *start = p;

		while (p < end && isdigit((unsigned char)*p)) {
			if (n > 99999999)
				return -EINVAL;
			n = n * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (p == start || (p - start > 1 && *start == '0'))
			return -EINVAL;
		v->num[i] = n;
		if (i < 2) {
			if (p >= end || *p != '.')
				return -EINVAL;
			p++;
		}
	}
	v->pre = NULL;
	v->pre_len = 0;
	if (p < end) {
		if (*p != '-' || !idents_valid(p + 1, end, true))
			return -EINVAL;
		v->pre = p + 1;
		v->pre_len = (size_t)(end - p - 1);
	}
	return 0;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_pre(const struct semver *a, const struct semver *b)
{
	const char *pa = a->pre, *pb = b->pre, *ea, *eb;

	if (!pa || !pb) /* a release ranks above its pre-releases */
		return pa ? -1 : pb ? 1 : 0;
	ea = pa + a->pre_len;
	eb = pb + b->pre_len;
	while (pa < ea && pb < eb) {
		const char *qa = memchr(pa, '.', (size_t)(ea - pa)), *qb;
		size_t la, lb;
		bool na = true, nb = true;
		int c;

		qa = qa ? qa : ea;
		qb = memchr(pb, '.', (size_t)(eb - pb));
		qb = qb ? qb : eb;
		la = (size_t)(qa - pa);
		lb = (size_t)(qb - pb);
		for (size_t i = 0; i < la; i++)
			na = na && isdigit((unsigned char)pa[i]);
		for (size_t i = 0; i < lb; i++)
			nb = nb && isdigit((unsigned char)pb[i]);
		if (na && nb) /* no leading zeros: longer is larger */
			c = la != lb ? (la < lb ? -1 : 1) : memcmp(pa, pb, la);
		else if (na || nb) /* numeric identifiers rank below alphanumeric ones */
			c = na ? -1 : 1;
		else {
			c = memcmp(pa, pb, la < lb ? la : lb);
			if (c == 0)
				c = la < lb ? -1 : la > lb;
		}
		if (c)
			return c < 0 ? -1 : 1;
		pa = qa + 1;
		pb = qb + 1;
	}
	/* A larger set of identifiers ranks higher when all before are equal. */
	return pa < ea ? 1 : pb < eb ? -1 : 0;
}

int update_version_compare(const char *a, const char *b, int *ret)
{
	struct semver va, vb;
	int c = 0;

	if (semver_parse(a, &va) < 0 || semver_parse(b, &vb) < 0)
		return -EINVAL;
	for (int i = 0; i < 3 && !c; i++)
		c = cmp_u64(va.num[i], vb.num[i]);
	if (!c)
		c = cmp_pre(&va, &vb);
	*ret = c;
	return 0;
}

bool update_version_valid(const char *v)
{
	struct semver s;

	return semver_parse(v, &s) == 0;
}

static bool hwid_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > UPDATE_HWID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* ---- keys ----------------------------------------------------------------- */

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (isspace((unsigned char)s[i]))
		i++;
	memmove(s, s + i, n - i + 1);
}

/* 64 hex digits or the base64 of exactly 32 bytes. */
static bool key_text_decode(const char *s, uint8_t pk[UPDATE_PUBLIC_KEY_LEN])
{
	size_t got = 0;
	const char *end = NULL;

	if (hex_decode(s, pk, UPDATE_PUBLIC_KEY_LEN))
		return true;
	if (strlen(s) != 44)
		return false;
	return sodium_base642bin(pk, UPDATE_PUBLIC_KEY_LEN, s, 44, NULL, &got, &end,
				 sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       got == UPDATE_PUBLIC_KEY_LEN && end == s + 44;
}

int update_public_key_parse(const char *text, const char *base_dir,
			    uint8_t ret[UPDATE_PUBLIC_KEY_LEN], struct update_error *err)
{
	char path[PATH_MAX], *buf = NULL;
	size_t len, n = text ? strlen(text) : 0;
	bool keyish = n > 0;
	int rc;

	if (sodium_init() < 0)
		return fail(err, -EIO, "libsodium could not be initialised");
	if (n == 0)
		return fail(err, -EINVAL,
			    "expected 64 hex digits, base64 of 32 bytes, or a key "
			    "file; got nothing");
	if (key_text_decode(text, ret))
		return 0;
	for (size_t i = 0; i < n; i++)
		keyish = keyish && (isalnum((unsigned char)text[i]) || strchr("+/=", text[i]));
	if (text[0] == '/' || !base_dir)
		rc = snprintf(path, sizeof(path), "%s", text);
	else
		rc = snprintf(path, sizeof(path), "%s/%s", base_dir, text);
	if (rc < 0 || (size_t)rc >= sizeof(path))
		return fail(err, -ENAMETOOLONG, "key path longer than %zu bytes", sizeof(path) - 1);
	rc = slurp(path, KEY_FILE_MAX, &buf, &len);
	if (rc == -ENOENT && keyish)
		return fail(
		    err, -EINVAL,
		    "expected 64 hex digits, base64 of 32 bytes, or a key file; got '%.80s' "
		    "(%zu characters, and no such file)",
		    text, n);
	if (rc == -EFBIG)
		return fail(err, -EINVAL, "public key file %s is larger than %d bytes: not a key",
			    path, KEY_FILE_MAX);
	if (rc < 0)
		return fail(err, rc, "public key file %s: %s", path, strerror(-rc));
	if (strncmp(buf, SECRET_HEADER, strlen(SECRET_HEADER)) == 0) {
		free(buf);
		return fail(err, -EINVAL,
			    "%s is the SECRET signing key: give its .pub file, and keep the secret "
			    "key off the box",
			    path);
	}
	trim(buf);
	if (!key_text_decode(buf, ret)) {
		free(buf);
		return fail(err, -EINVAL,
			    "public key file %s: expected one line of 64 hex digits or base64 of "
			    "32 bytes (what `edgeboxctl update --keygen` writes)",
			    path);
	}
	free(buf);
	return 0;
}

/* The 64-byte libsodium secret key from update_keygen's file. */
static int secret_key_load(const char *path, uint8_t sk[crypto_sign_SECRETKEYBYTES],
			   struct update_error *err)
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
	    sk2[crypto_sign_SECRETKEYBYTES];
	struct stat st;
	char *buf = NULL, *line;
	size_t len;
	int rc;

	if (stat(path, &st) < 0)
		return fail(err, neg_errno(), "secret key %s: %s", path, strerror(errno));
	if (st.st_mode & 077)
		return fail(err, -EACCES,
			    "secret key %s is readable by others (mode %04o): chmod 600 %s, and "
			    "consider the key exposed if others could read it",
			    path, (unsigned)(st.st_mode & 07777), path);
	rc = slurp(path, KEY_FILE_MAX, &buf, &len);
	if (rc < 0)
		return fail(err, rc, "secret key %s: %s", path, strerror(-rc));
	if (strncmp(buf, SECRET_HEADER "\n", strlen(SECRET_HEADER) + 1) != 0) {
		free(buf);
		return fail(err, -EBADMSG,
			    "%s is not an edgebox update secret key (its first line is not \"%s\"; "
			    "make one with `edgeboxctl update --keygen`)",
			    path, SECRET_HEADER);
	}
	line = buf + strlen(SECRET_HEADER) + 1;
	trim(line);
	rc = hex_decode(line, sk, crypto_sign_SECRETKEYBYTES) ? 0 : -EBADMSG;
	sodium_memzero(buf, len);
	free(buf);
	if (rc < 0)
		return fail(err, rc, "secret key %s: line 2: expected %d hex digits", path,
			    2 * crypto_sign_SECRETKEYBYTES);
	/* The key carries its public half: a damaged file must not sign. */
	crypto_sign_ed25519_sk_to_seed(seed, sk);
	crypto_sign_seed_keypair(pk, sk2, seed);
	rc = sodium_memcmp(sk, sk2, sizeof(sk2)) == 0 ? 0 : -EBADMSG;
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk2, sizeof(sk2));
	if (rc < 0)
		return fail(err, rc, "secret key %s is damaged: its public half does not match",
			    path);
	return 0;
}

static int write_new_file(const char *path, mode_t mode, const void *data, size_t len,
			  struct update_error *err)
{
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = neg_errno();
		if (rc == -EEXIST)
			return fail(err, rc,
				    "%s exists: a key is never overwritten; remove it "
				    "first or choose another name",
				    path);
		return fail(err, rc, "%s: %s", path, strerror(-rc));
	}
	rc = fchmod(fd, mode) < 0 ? neg_errno() : 0;
	if (rc == 0)
		rc = write_full(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = neg_errno();
	if (close(fd) < 0 && rc == 0)
		rc = neg_errno();
	if (rc < 0) {
		unlink(path);
		return fail(err, rc, "writing %s: %s", path, strerror(-rc));
	}
	return 0;
}

int update_keygen(const char *secret_path, const char *public_path, struct update_error *err)
{
	uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	char sk_text[sizeof(SECRET_HEADER) + 2 * crypto_sign_SECRETKEYBYTES + 2];
	char pk_text[2 * crypto_sign_PUBLICKEYBYTES + 2];
	struct stat st;
	int rc;

	if (!secret_path || !public_path || !*secret_path || !*public_path)
		return fail(err, -EINVAL, "keygen needs a secret and a public key path");
	if (sodium_init() < 0)
		return fail(err, -EIO, "libsodium could not be initialised");
	if (stat(public_path, &st) == 0)
		return fail(err, -EEXIST,
			    "%s exists: a key is never overwritten; remove it first or choose "
			    "another name",
			    public_path);
	crypto_sign_keypair(pk, sk);
	memcpy(sk_text, SECRET_HEADER "\n", sizeof(SECRET_HEADER));
	sodium_bin2hex(sk_text + sizeof(SECRET_HEADER), 2 * sizeof(sk) + 1, sk, sizeof(sk));
	strcat(sk_text, "\n");
	sodium_bin2hex(pk_text, sizeof(pk_text), pk, sizeof(pk));
	strcat(pk_text, "\n");
	rc = write_new_file(secret_path, 0600, sk_text, strlen(sk_text), err);
	if (rc == 0) {
		rc = write_new_file(public_path, 0644, pk_text, strlen(pk_text), err);
		if (rc < 0)
			unlink(secret_path);
	}
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(sk_text, sizeof(sk_text));
	return rc;
}

/* ---- params --------------------------------------------------------------- */

void update_params_default(struct update_params *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->state_path, sizeof(ret->state_path), "/var/lib/edgebox/update.state");
	ret->max_tries = 3;
	ret->healthy_within_s = 120;
	ret->healthy_for_s = 30;
	ret->allow_downgrade = false;
	ret->slot_capacity = 0;
	snprintf(ret->factory_version, sizeof(ret->factory_version), "0.0.0");
}

static int cfg_fail(struct config_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_fail(struct config_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

int update_params_from_config(const struct config *cfg, const char *section,
			      struct update_params *ret, struct config_error *err)
{
	char keypath[PATH_MAX];
	const char *hwid = NULL, *key = NULL, *fv = NULL;
	struct update_error ue;
	long n;
	int rc;

	update_params_default(ret);
	if ((rc = config_path(cfg, section, "slot_a", NULL, true, ret->slot_path[0],
			      sizeof(ret->slot_path[0]), err)) < 0 ||
	    (rc = config_path(cfg, section, "slot_b", NULL, true, ret->slot_path[1],
			      sizeof(ret->slot_path[1]), err)) < 0 ||
	    (rc = config_path(cfg, section, "state", "/var/lib/edgebox/update.state", false,
			      ret->state_path, sizeof(ret->state_path), err)) < 0)
		return rc;
	rc = config_str(cfg, section, "hardware_id", NULL, true, &hwid, err);
	if (rc < 0)
		return rc;
	if (!hwid_valid(hwid))
		return cfg_fail(err, -EINVAL,
				"%s: [%s] hardware_id: expected 1 to %d letters, digits, '.', '_' "
				"or '-', got '%.80s'",
				config_name(cfg), section, UPDATE_HWID_MAX, hwid);
	snprintf(ret->hardware_id, sizeof(ret->hardware_id), "%s", hwid);
	rc = config_str(cfg, section, "public_key", NULL, true, &key, err);
	if (rc < 0)
		return rc;
	/* A key file is a path like any other: relative to the config's folder,
	 * which is what config_path put before the value. */
	if ((rc = config_path(cfg, section, "public_key", NULL, true, keypath, sizeof(keypath),
			      err)) < 0)
		return rc;
	if (key[0] != '/' && strlen(keypath) > strlen(key))
		keypath[strlen(keypath) - strlen(key) - 1] = '\0';
	else
		strcpy(keypath, "/");
	rc = update_public_key_parse(key, keypath, ret->public_key, &ue);
	if (rc < 0)
		return cfg_fail(err, rc, "%s: [%s] public_key: %s", config_name(cfg), section,
				ue.msg);
	if ((rc = config_int(cfg, section, "max_tries", 3, 1, 20, &n, err)) < 0)
		return rc;
	ret->max_tries = (int)n;
	if ((rc = config_int(cfg, section, "healthy_within_s", 120, 5, 86400, &n, err)) < 0)
		return rc;
	ret->healthy_within_s = (int)n;
	if ((rc = config_int(cfg, section, "healthy_for_s", 30, 1, 86400, &n, err)) < 0)
		return rc;
	ret->healthy_for_s = (int)n;
	if (ret->healthy_for_s > ret->healthy_within_s)
		return cfg_fail(err, -EINVAL,
				"%s: [%s] healthy_for_s: %d is longer than healthy_within_s (%d): "
				"no start could ever pass; make it shorter",
				config_name(cfg), section, ret->healthy_for_s,
				ret->healthy_within_s);
	if ((rc = config_bool(cfg, section, "allow_downgrade", false, &ret->allow_downgrade, err)) <
	    0)
		return rc;
	if ((rc = config_int(cfg, section, "slot_capacity_mb", 0, 0, 16L * 1024 * 1024, &n, err)) <
	    0)
		return rc;
	ret->slot_capacity = (uint64_t)n << 20;
	if ((rc = config_str(cfg, section, "factory_version", "0.0.0", false, &fv, err)) < 0)
		return rc;
	if (!update_version_valid(fv))
		return cfg_fail(err, -EINVAL,
				"%s: [%s] factory_version: expected a version MAJOR.MINOR.PATCH "
				"(semver), got '%.80s'",
				config_name(cfg), section, fv);
	snprintf(ret->factory_version, sizeof(ret->factory_version), "%s", fv);
	if (strcmp(ret->slot_path[0], ret->slot_path[1]) == 0)
		return cfg_fail(err, -EINVAL,
				"%s: [%s] slot_b: the same path as slot_a (%s): the two slots "
				"must be different devices or files",
				config_name(cfg), section, ret->slot_path[0]);
	return 0;
}

int update_new(const struct update_params *p, struct update **ret, struct update_error *err)
{
	struct stat sa, sb;
	struct update *u;

	*ret = NULL;
	if (sodium_init() < 0)
		return fail(err, -EIO, "libsodium could not be initialised");
	if (!p->slot_path[0][0] || !p->slot_path[1][0] || !p->state_path[0])
		return fail(err, -EINVAL, "update: slot_a, slot_b and state must be set");
	if (strcmp(p->slot_path[0], p->slot_path[1]) == 0 ||
	    (stat(p->slot_path[0], &sa) == 0 && stat(p->slot_path[1], &sb) == 0 &&
	     sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino))
		return fail(err, -EINVAL, "update: slot_a and slot_b are the same (%s)",
			    p->slot_path[0]);
	if (strlen(p->state_path) + 8 >= PATH_MAX)
		return fail(err, -ENAMETOOLONG, "update: state path too long");
	if (!hwid_valid(p->hardware_id))
		return fail(err, -EINVAL,
			    "update: hardware_id '%s' is not 1 to %d of [A-Za-z0-9._-]",
			    p->hardware_id, UPDATE_HWID_MAX);
	if (is_zero32(p->public_key))
		return fail(err, -EINVAL, "update: no public key");
	if (p->max_tries < 1 || p->max_tries > 20 || p->healthy_within_s < 1 ||
	    p->healthy_for_s < 1 || p->healthy_for_s > p->healthy_within_s)
		return fail(err, -EINVAL,
			    "update: max_tries must be 1..20 and 1 <= healthy_for_s <= "
			    "healthy_within_s");
	if (!update_version_valid(p->factory_version))
		return fail(err, -EINVAL, "update: factory_version '%s' is not a version",
			    p->factory_version);
	u = calloc(1, sizeof(*u));
	if (!u)
		return fail(err, -ENOMEM, "out of memory");
	u->p = *p;
	*ret = u;
	return 0;
}

void update_free(struct update *u)
{
	free(u);
}

const struct update_params *update_get_params(const struct update *u)
{
	return &u->p;
}

/* ---- the state file ------------------------------------------------------- */

static void state_factory(const struct update *u, struct update_status *s)
{
	memset(s, 0, sizeof(*s));
	s->active = UPDATE_SLOT_A;
	s->from_factory = true;
	s->slot[0].status = UPDATE_STATUS_GOOD;
	snprintf(s->slot[0].version, sizeof(s->slot[0].version), "%s", u->p.factory_version);
	s->slot[1].status = UPDATE_STATUS_EMPTY;
	s->rollback.from = s->rollback.to = UPDATE_SLOT_NONE;
}

/* The text of the state file; its length, or -ENOSPC. */
static int state_format(const struct update_status *s, char *buf, size_t len)
{
	size_t off = 0;
	char hex[65];
	int n;

#define EMIT(...)                                                                                  \
	do {                                                                                       \
		n = snprintf(buf + off, len - off, __VA_ARGS__);                                   \
		if (n < 0 || (size_t)n >= len - off)                                               \
			return -ENOSPC;                                                            \
		off += (size_t)n;                                                                  \
	} while (0)

	EMIT("# edgebox update state (docs/updates.md): written by edgeboxd and edgeboxctl.\n"
	     "# Do not edit: the crc32 line checks every byte above it.\n");
	EMIT("format=1\nseq=%llu\nactive=%s\n", (unsigned long long)s->seq,
	     update_slot_name(s->active));
	for (int i = 0; i < 2; i++) {
		const struct update_slot_info *sl = &s->slot[i];
		const char *x = update_slot_name((enum update_slot)i);

		if (is_zero32(sl->sha256))
			hex[0] = '\0';
		else
			hex32(sl->sha256, hex);
		EMIT("%s.status=%s\n%s.version=%s\n%s.tries=%d\n%s.size=%llu\n%s.sha256=%s\n"
		     "%s.installed=%lld\n%s.error=%s\n%s.error_time=%lld\n",
		     x, update_status_name(sl->status), x, sl->version, x, sl->tries, x,
		     (unsigned long long)sl->size, x, hex, x, (long long)sl->installed, x,
		     sl->error, x, (long long)sl->error_time);
	}
	EMIT("rollback.time=%lld\nrollback.from=%s\nrollback.to=%s\nrollback.version=%s\n"
	     "rollback.reason=%s\n",
	     (long long)s->rollback.time,
	     s->rollback.from == UPDATE_SLOT_NONE ? "" : update_slot_name(s->rollback.from),
	     s->rollback.to == UPDATE_SLOT_NONE ? "" : update_slot_name(s->rollback.to),
	     s->rollback.version, s->rollback.reason);
	EMIT("crc32=%08lx\n", crc32(crc32(0L, Z_NULL, 0), (const Bytef *)buf, (uInt)off));
#undef EMIT
	return (int)off;
}

#define STATE_FIX                                                                                  \
	" The update state file is damaged: check which slot the box runs (`cat /proc/cmdline`), " \
	"then `edgeboxctl update --reset-state a|b` (docs/updates.md)."

/* -EUCLEAN with msg and the fix appended. */
__attribute__((format(printf, 2, 3))) static int state_fail(struct update_error *err,
							    const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, "%s", STATE_FIX);
	}
	return -EUCLEAN;
}

struct state_line {
	char *key, *value;
	int line;
	bool used;
};

struct state_parse {
	const char *path;
	struct state_line lines[STATE_KEYS_MAX];
	int n;
	struct update_error *err;
};

static int state_bad(struct state_parse *sp, int line, const char *key, const char *expected,
		     const char *got)
{
	return state_fail(sp->err, "%s:%d: %s: expected %s, got '%.80s'.", sp->path, line, key,
			  expected, got);
}

static const char *state_get(struct state_parse *sp, const char *key, int *ret_line)
{
	for (int i = 0; i < sp->n; i++)
		if (strcmp(sp->lines[i].key, key) == 0) {
			sp->lines[i].used = true;
			*ret_line = sp->lines[i].line;
			return sp->lines[i].value;
		}
	return NULL;
}

#define STATE_GET(sp, key, v, line)                                                                \
	do {                                                                                       \
		(v) = state_get((sp), (key), &(line));                                             \
		if (!(v))                                                                          \
			return state_fail((sp)->err, "%s: key '%s' is missing.", (sp)->path,       \
					  (key));                                                  \
	} while (0)

static int state_int(struct state_parse *sp, const char *key, int64_t min, int64_t max,
		     int64_t *ret)
{
	char expected[96], *end;
	const char *v;
	long long n;
	int line;

	STATE_GET(sp, key, v, line);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max) {
		snprintf(expected, sizeof(expected), "a whole number from %lld to %lld",
			 (long long)min, (long long)max);
		return state_bad(sp, line, key, expected, v);
	}
	*ret = n;
	return 0;
}

static int state_slot_name(struct state_parse *sp, const char *key, bool allow_none,
			   enum update_slot *ret)
{
	const char *v;
	int line;

	STATE_GET(sp, key, v, line);
	if (strcmp(v, "a") == 0)
		*ret = UPDATE_SLOT_A;
	else if (strcmp(v, "b") == 0)
		*ret = UPDATE_SLOT_B;
	else if (allow_none && !*v)
		*ret = UPDATE_SLOT_NONE;
	else
		return state_bad(sp, line, key, allow_none ? "a, b or nothing" : "a or b", v);
	return 0;
}

static int state_text(struct state_parse *sp, const char *key, char *dst, size_t len, bool version)
{
	const char *v;
	int line;

	STATE_GET(sp, key, v, line);
	if (strlen(v) >= len)
		return state_bad(sp, line, key, "a shorter value", v);
	if (version && *v && !update_version_valid(v))
		return state_bad(sp, line, key, "a version (semver) or nothing", v);
	snprintf(dst, len, "%s", v);
	return 0;
}

static int state_parse_slot(struct state_parse *sp, int i, struct update_slot_info *sl)
{
	const char *x = update_slot_name((enum update_slot)i), *v;
	char key[32];
	int64_t n;
	int line, rc;

	snprintf(key, sizeof(key), "%s.status", x);
	STATE_GET(sp, key, v, line);
	if (status_from_name(v, &sl->status) < 0)
		return state_bad(sp, line, key, "empty, good, trying or bad", v);
	snprintf(key, sizeof(key), "%s.version", x);
	if ((rc = state_text(sp, key, sl->version, sizeof(sl->version), true)) < 0)
		return rc;
	snprintf(key, sizeof(key), "%s.tries", x);
	if ((rc = state_int(sp, key, 0, 20, &n)) < 0)
		return rc;
	sl->tries = (int)n;
	snprintf(key, sizeof(key), "%s.size", x);
	if ((rc = state_int(sp, key, 0, INT64_MAX, &n)) < 0)
		return rc;
	sl->size = (uint64_t)n;
	snprintf(key, sizeof(key), "%s.sha256", x);
	STATE_GET(sp, key, v, line);
	if (*v && !hex_decode(v, sl->sha256, 32))
		return state_bad(sp, line, key, "64 hex digits or nothing", v);
	snprintf(key, sizeof(key), "%s.installed", x);
	if ((rc = state_int(sp, key, 0, INT64_MAX, &sl->installed)) < 0)
		return rc;
	snprintf(key, sizeof(key), "%s.error", x);
	if ((rc = state_text(sp, key, sl->error, sizeof(sl->error), false)) < 0)
		return rc;
	snprintf(key, sizeof(key), "%s.error_time", x);
	if ((rc = state_int(sp, key, 0, INT64_MAX, &sl->error_time)) < 0)
		return rc;
	if ((sl->status == UPDATE_STATUS_GOOD || sl->status == UPDATE_STATUS_TRYING) &&
	    !sl->version[0])
		return state_fail(sp->err, "%s: slot %s is %s but has no version.", sp->path, x,
				  update_status_name(sl->status));
	return 0;
}

/* Parses text (NUL-terminated, len bytes, modified in place) into *s. */
static int state_parse(const char *path, char *text, size_t len, struct update_status *s,
		       struct update_error *err)
{
	struct state_parse sp = {.path = path, .err = err};
	char *crc_line, *p, *end = text + len;
	unsigned long want, got;
	int line = 0, rc;
	int64_t n;

	memset(s, 0, sizeof(*s));
	if (len == 0 || text[len - 1] != '\n' || strlen(text) != len)
		return state_fail(err,
				  "%s: not a complete update state file (empty, a NUL byte, or no "
				  "final newline).",
				  path);
	/* The crc32 line is the last one and covers every byte before it. */
	text[len - 1] = '\0';
	crc_line = strrchr(text, '\n');
	crc_line = crc_line ? crc_line + 1 : text;
	text[len - 1] = '\n';
	if (strncmp(crc_line, "crc32=", 6) != 0 || sscanf(crc_line + 6, "%8lx", &want) != 1 ||
	    end - crc_line != 15)
		return state_fail(
		    err,
		    "%s: the last line is not 'crc32=XXXXXXXX': the file was cut short "
		    "or edited.",
		    path);
	got = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)text, (uInt)(crc_line - text));
	if (got != want)
		return state_fail(err,
				  "%s: crc32 %08lx does not match the content (%08lx): the file is "
				  "damaged or was edited.",
				  path, want, got);
	for (p = text; p < crc_line;) {
		char *nl = memchr(p, '\n', (size_t)(crc_line - p)), *eq;

		line++;
		*nl = '\0';
		if (*p && *p != '#') {
			eq = strchr(p, '=');
			if (!eq || eq == p)
				return state_fail(err, "%s:%d: expected key=value, got '%.80s'.",
						  path, line, p);
			*eq = '\0';
			for (int i = 0; i < sp.n; i++)
				if (strcmp(sp.lines[i].key, p) == 0)
					return state_fail(
					    err, "%s:%d: %s: set twice (first on line %d).", path,
					    line, p, sp.lines[i].line);
			if (sp.n == STATE_KEYS_MAX)
				return state_fail(err, "%s:%d: more than %d keys.", path, line,
						  STATE_KEYS_MAX);
			sp.lines[sp.n++] = (struct state_line){p, eq + 1, line, false};
		}
		p = nl + 1;
	}
	if ((rc = state_int(&sp, "format", 1, 1, &n)) < 0 ||
	    (rc = state_int(&sp, "seq", 0, INT64_MAX, &n)) < 0)
		return rc;
	s->seq = (uint64_t)n;
	if ((rc = state_slot_name(&sp, "active", false, &s->active)) < 0)
		return rc;
	for (int i = 0; i < 2; i++)
		if ((rc = state_parse_slot(&sp, i, &s->slot[i])) < 0)
			return rc;
	if ((rc = state_int(&sp, "rollback.time", 0, INT64_MAX, &s->rollback.time)) < 0 ||
	    (rc = state_slot_name(&sp, "rollback.from", true, &s->rollback.from)) < 0 ||
	    (rc = state_slot_name(&sp, "rollback.to", true, &s->rollback.to)) < 0 ||
	    (rc = state_text(&sp, "rollback.version", s->rollback.version,
			     sizeof(s->rollback.version), true)) < 0 ||
	    (rc = state_text(&sp, "rollback.reason", s->rollback.reason, sizeof(s->rollback.reason),
			     false)) < 0)
		return rc;
	for (int i = 0; i < sp.n; i++)
		if (!sp.lines[i].used)
			return state_fail(
			    err,
			    "%s:%d: unknown key '%s' (format 1 has no such key): written "
			    "by a newer updater, or damaged.",
			    path, sp.lines[i].line, sp.lines[i].key);
	{
		const struct update_slot_info *act = &s->slot[s->active];

		if (act->status != UPDATE_STATUS_GOOD && act->status != UPDATE_STATUS_TRYING)
			return state_fail(
			    err, "%s: the active slot %s is %s: the box cannot run it.", path,
			    update_slot_name(s->active), update_status_name(act->status));
	}
	return 0;
}

/* 0 and *s; a missing file gives the factory default. */
static int state_load(const struct update *u, struct update_status *s, struct update_error *err)
{
	size_t len;
	char *text;
	int rc;

	rc = slurp(u->p.state_path, UPDATE_STATE_MAX, &text, &len);
	if (rc == -ENOENT) {
		state_factory(u, s);
		return 0;
	}
	if (rc == -EFBIG)
		return state_fail(err, "%s: larger than %d bytes: not an update state file.",
				  u->p.state_path, UPDATE_STATE_MAX);
	if (rc < 0)
		return fail(err, rc, "reading the update state %s: %s", u->p.state_path,
			    strerror(-rc));
	rc = state_parse(u->p.state_path, text, len, s, err);
	free(text);
	return rc;
}

/* Temp file, fsync, rename, fsync of the folder: the file is old or new. */
static int state_save(const struct update *u, struct update_status *s, struct update_error *err)
{
	char tmp[PATH_MAX + 8], buf[UPDATE_STATE_MAX];
	int fd, len, rc;

	s->seq++;
	s->from_factory = false;
	len = state_format(s, buf, sizeof(buf));
	if (len < 0)
		return fail(err, len, "the update state does not fit in %d bytes",
			    UPDATE_STATE_MAX);
	snprintf(tmp, sizeof(tmp), "%s.tmp", u->p.state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(err, neg_errno(), "writing the update state %s: %s", tmp,
			    strerror(errno));
	rc = write_full(fd, buf, (size_t)len);
	if (rc == 0 && fsync(fd) < 0)
		rc = neg_errno();
	if (close(fd) < 0 && rc == 0)
		rc = neg_errno();
	if (rc == 0 && rename(tmp, u->p.state_path) < 0)
		rc = neg_errno();
	if (rc < 0) {
		unlink(tmp);
		return fail(err, rc, "writing the update state %s: %s", u->p.state_path,
			    strerror(-rc));
	}
	rc = fsync_parent(u->p.state_path);
	if (rc < 0)
		return fail(err, rc, "syncing the folder of %s: %s", u->p.state_path,
			    strerror(-rc));
	return 0;
}

/* An exclusive flock on "<state>.lock"; the fd to close, or -EBUSY when
 * wait_ms passes (0: do not wait). The state's folder is made if missing. */
static int state_lock(const struct update *u, int wait_ms, struct update_error *err)
{
	char path[PATH_MAX + 8], dir[PATH_MAX], *slash;
	int fd, waited = 0;

	snprintf(path, sizeof(path), "%s.lock", u->p.state_path);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		snprintf(dir, sizeof(dir), "%s", u->p.state_path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST)
				return fail(err, neg_errno(),
					    "cannot create %s for the update "
					    "state: %s",
					    dir, strerror(errno));
		}
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return fail(err, neg_errno(), "update lock %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int rc = neg_errno();

			close(fd);
			return fail(err, rc, "update lock %s: %s", path, strerror(-rc));
		}
		if (waited >= wait_ms) {
			close(fd);
			return fail(err, -EBUSY,
				    "another update is running (%s is locked): wait for it to "
				    "finish",
				    path);
		}
		usleep(50 * 1000);
		waited += 50;
	}
	return fd;
}

static void state_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* ---- bundles ---------------------------------------------------------------- */

struct bundle {
	int fd;
	const char *path;
	uint64_t size;
	uint32_t manifest_len;
	uint64_t payload_len, payload_off;
	uint8_t signed_part[UPDATE_HEADER_LEN + UPDATE_MANIFEST_MAX + 1];
	uint8_t sig[UPDATE_SIG_LEN];
	struct update_manifest m;
};

static void bundle_close(struct bundle *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

static int json_int(const cJSON *root, const char *key, bool required, double max, int64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!v && !required)
		return 1;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*ret = (int64_t)v->valuedouble;
	return 0;
}

static int manifest_parse(struct bundle *b, struct update_error *err)
{
	const char *json = (const char *)b->signed_part + UPDATE_HEADER_LEN;
	struct update_manifest *m = &b->m;
	const cJSON *v, *flag;
	cJSON *root;
	int64_t n;
	int rc = -EBADMSG;

	memset(m, 0, sizeof(*m));
	if (strlen(json) != b->manifest_len)
		return fail(err, -EBADMSG, "%s: manifest: a NUL byte inside the JSON", b->path);
	root = cJSON_ParseWithLength(json, b->manifest_len);
	if (!cJSON_IsObject(root)) {
		fail(err, rc, "%s: manifest: not a JSON object", b->path);
		goto out;
	}
#define MBAD(...)                                                                                  \
	do {                                                                                       \
		fail(err, rc, __VA_ARGS__);                                                        \
		goto out;                                                                          \
	} while (0)
	if (json_int(root, "format", true, 1000, &n) < 0 || n != UPDATE_FORMAT)
		MBAD("%s: manifest: format: expected %d", b->path, UPDATE_FORMAT);
	v = cJSON_GetObjectItemCaseSensitive(root, "hardware_id");
	if (!cJSON_IsString(v) || !hwid_valid(v->valuestring))
		MBAD("%s: manifest: hardware_id: expected 1 to %d of [A-Za-z0-9._-]", b->path,
		     UPDATE_HWID_MAX);
	snprintf(m->hardware_id, sizeof(m->hardware_id), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsString(v) || !update_version_valid(v->valuestring))
		MBAD("%s: manifest: version: expected a semantic version MAJOR.MINOR.PATCH",
		     b->path);
	snprintf(m->version, sizeof(m->version), "%s", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(root, "min_version");
	if (v && !cJSON_IsNull(v)) {
		if (!cJSON_IsString(v) ||
		    (*v->valuestring && !update_version_valid(v->valuestring)))
			MBAD("%s: manifest: min_version: expected a semantic version or \"\"",
			     b->path);
		snprintf(m->min_version, sizeof(m->min_version), "%s", v->valuestring);
	}
	if (json_int(root, "build_time", true, JSON_INT_MAX, &m->build_time) < 0)
		MBAD("%s: manifest: build_time: expected seconds since 1970", b->path);
	if (json_int(root, "payload_size", true, JSON_INT_MAX, &n) < 0)
		MBAD("%s: manifest: payload_size: expected a byte count", b->path);
	m->payload_size = (uint64_t)n;
	if (m->payload_size != b->payload_len)
		MBAD("%s: manifest: payload_size %llu differs from the header's %llu", b->path,
		     (unsigned long long)m->payload_size, (unsigned long long)b->payload_len);
	v = cJSON_GetObjectItemCaseSensitive(root, "payload_sha256");
	if (!cJSON_IsString(v) || !hex_decode(v->valuestring, m->payload_sha256, 32))
		MBAD("%s: manifest: payload_sha256: expected 64 hex digits", b->path);
	v = cJSON_GetObjectItemCaseSensitive(root, "flags");
	if (v && !cJSON_IsArray(v))
		MBAD("%s: manifest: flags: expected an array of strings", b->path);
	cJSON_ArrayForEach(flag, v)
	{
		/* Format 1 knows no flags: a bundle that needs one must be refused. */
		rc = -ENOTSUP;
		MBAD("%s: the bundle needs '%.64s', which this updater does not know: install a "
		     "release whose updater supports it first",
		     b->path, cJSON_IsString(flag) ? flag->valuestring : "(not a string)");
	}
#undef MBAD
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

static void printable_prefix(const uint8_t *p, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < len; i++)
		o += (size_t)(isprint(p[i]) && p[i] != '"' && p[i] != '\\'
				  ? snprintf(out + o, len - o, "%c", p[i])
				  : snprintf(out + o, len - o, "\\x%02x", p[i]));
	out[o] = '\0';
}

/*
 * Opens the bundle and checks everything but the payload's hash: header,
 * size, signature, manifest. The manifest is parsed only after the signature
 * verified. b->fd stays open on success (bundle_close).
 */
static int bundle_open(const char *path, const uint8_t pk[32], struct bundle *b,
		       struct update_error *err)
{
	uint8_t *h = b->signed_part;
	struct stat st;
	uint64_t total;
	ssize_t n;
	int rc;

	memset(b, 0, sizeof(*b));
	b->path = path;
	b->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->fd < 0)
		return fail(err, neg_errno(), "bundle %s: %s", path, strerror(errno));
	if (fstat(b->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = fail(err, -EINVAL, "bundle %s: not a regular file", path);
		goto bad;
	}
	b->size = (uint64_t)st.st_size;
	n = pread_full(b->fd, h, UPDATE_HEADER_LEN, 0);
	if (n < 0) {
		rc = fail(err, (int)n, "bundle %s: %s", path, strerror((int)-n));
		goto bad;
	}
	if (n == 0) {
		rc = fail(err, -EBADMSG, "%s: the file is empty: not an update bundle", path);
		goto bad;
	}
	if (memcmp(h, UPDATE_MAGIC, (size_t)n < 8 ? (size_t)n : 8) != 0) {
		char shown[64];

		printable_prefix(h, (size_t)n < 8 ? (size_t)n : 8, shown, sizeof(shown));
		rc = fail(err, -EBADMSG,
			  "%s: not an edgebox update bundle: bad magic \"%s\", expected \"%s\"",
			  path, shown, UPDATE_MAGIC);
		goto bad;
	}
	if (n < UPDATE_HEADER_LEN) {
		rc = fail(err, -EBADMSG,
			  "%s: truncated at byte %zd: the header alone is %d bytes (copy the "
			  "bundle again)",
			  path, n, UPDATE_HEADER_LEN);
		goto bad;
	}
	if (get_le16(h + 8) != UPDATE_FORMAT) {
		rc = fail(err, -EBADMSG,
			  "%s: bundle format %u; this updater reads format %d: install a release "
			  "that reads it first",
			  path, get_le16(h + 8), UPDATE_FORMAT);
		goto bad;
	}
	b->manifest_len = get_le32(h + 12);
	b->payload_len = get_le64(h + 16);
	if (get_le16(h + 10) != UPDATE_HEADER_LEN || get_le16(h + 24) != 1 ||
	    get_le16(h + 26) != UPDATE_SIG_LEN || get_le32(h + 28) != 0) {
		rc = fail(err, -EBADMSG,
			  "%s: bad header: header length %u (expected %d), signature algorithm "
			  "%u/length %u (expected 1 = Ed25519/%d), reserved 0x%08x (expected 0)",
			  path, get_le16(h + 10), UPDATE_HEADER_LEN, get_le16(h + 24),
			  get_le16(h + 26), UPDATE_SIG_LEN, get_le32(h + 28));
		goto bad;
	}
	if (b->manifest_len == 0 || b->manifest_len > UPDATE_MANIFEST_MAX) {
		rc = fail(err, -EBADMSG, "%s: the manifest is %u bytes; expected 1 to %d", path,
			  b->manifest_len, UPDATE_MANIFEST_MAX);
		goto bad;
	}
	b->payload_off = UPDATE_HEADER_LEN + (uint64_t)b->manifest_len + UPDATE_SIG_LEN;
	if (b->payload_len > UINT64_MAX - b->payload_off || b->payload_len > (uint64_t)INT64_MAX) {
		rc = fail(err, -EBADMSG, "%s: payload length %llu is impossible", path,
			  (unsigned long long)b->payload_len);
		goto bad;
	}
	total = b->payload_off + b->payload_len;
	if (b->size < total) {
		rc = fail(err, -EBADMSG,
			  "%s: truncated at byte %llu: the header says the bundle is %llu bytes "
			  "(copy or download it again)",
			  path, (unsigned long long)b->size, (unsigned long long)total);
		goto bad;
	}
	if (b->size > total) {
		rc = fail(err, -EBADMSG,
			  "%s: %llu bytes after the end of the bundle (byte %llu): it was altered "
			  "or is not one file as written by --make-bundle",
			  path, (unsigned long long)(b->size - total), (unsigned long long)total);
		goto bad;
	}
	if (pread_full(b->fd, h + UPDATE_HEADER_LEN, b->manifest_len, UPDATE_HEADER_LEN) !=
		(ssize_t)b->manifest_len ||
	    pread_full(b->fd, b->sig, UPDATE_SIG_LEN,
		       UPDATE_HEADER_LEN + (uint64_t)b->manifest_len) != UPDATE_SIG_LEN) {
		rc = fail(err, -EIO, "bundle %s: reading the manifest and signature failed", path);
		goto bad;
	}
	h[UPDATE_HEADER_LEN + b->manifest_len] = '\0';
	if (crypto_sign_verify_detached(b->sig, h, UPDATE_HEADER_LEN + b->manifest_len, pk) != 0) {
		char hex[65];

		hex32(pk, hex);
		rc = fail(err, -EKEYREJECTED,
			  "%s: bad signature: the bundle was not signed with this box's update key "
			  "(public key %.16s...), or it was changed after signing",
			  path, hex);
		goto bad;
	}
	rc = manifest_parse(b, err);
	if (rc < 0)
		goto bad;
	return 0;
bad:
	bundle_close(b);
	return rc;
}

/* The SHA-256 of the payload, read in chunks; progress gets phase. */
static int bundle_hash(struct bundle *b, enum update_phase phase, update_progress_fn progress,
		       void *ctx, uint8_t out[32], struct update_error *err)
{
	crypto_hash_sha256_state hs;
	uint64_t off = 0;
	uint8_t *buf;
	int rc = 0;

	buf = malloc(CHUNK);
	if (!buf)
		return fail(err, -ENOMEM, "out of memory");
	crypto_hash_sha256_init(&hs);
	if (progress && progress(ctx, phase, 0, b->payload_len)) {
		rc = fail(err, -ECANCELED, "cancelled");
		goto out;
	}
	while (off < b->payload_len) {
		size_t want = b->payload_len - off < CHUNK ? (size_t)(b->payload_len - off) : CHUNK;
		ssize_t n = pread_full(b->fd, buf, want, b->payload_off + off);

		if (n != (ssize_t)want) {
			rc = fail(err, n < 0 ? (int)n : -EIO,
				  "%s: reading the payload at byte %llu failed%s", b->path,
				  (unsigned long long)(b->payload_off + off),
				  n >= 0 ? ": the file shrank" : "");
			goto out;
		}
		crypto_hash_sha256_update(&hs, buf, want);
		off += want;
		if (progress && progress(ctx, phase, off, b->payload_len)) {
			rc = fail(err, -ECANCELED, "cancelled");
			goto out;
		}
	}
	crypto_hash_sha256_final(&hs, out);
out:
	free(buf);
	return rc;
}

/* Hardware id, version rules, and the target slot's capacity. */
static int compat_check(const struct update *u, const struct update_status *st,
			const struct bundle *b, unsigned flags, struct update_error *err)
{
	const struct update_manifest *m = &b->m;
	const char *installed = st->slot[st->active].version;
	int c;

	if (strcmp(m->hardware_id, u->p.hardware_id) != 0)
		return fail(err, -ENOEXEC, "%s: the bundle is for %s, this box is %s", b->path,
			    m->hardware_id, u->p.hardware_id);
	if (update_version_valid(installed)) {
		update_version_compare(m->version, installed, &c);
		if (c < 0 && !(flags & UPDATE_FORCE) && !u->p.allow_downgrade)
			return fail(err, -ERANGE,
				    "%s: bundle %s is older than installed %s (use --force to "
				    "downgrade)",
				    b->path, m->version, installed);
		if (m->min_version[0]) {
			update_version_compare(installed, m->min_version, &c);
			if (c < 0)
				return fail(
				    err, -ERANGE,
				    "%s: bundle %s installs only over %s or newer; this box "
				    "runs %s: install a release in between first",
				    b->path, m->version, m->min_version, installed);
		}
	}
	return 0;
}

/* Bytes the slot can hold (UINT64_MAX: no limit); -errno for a slot that is
 * neither a block device nor a regular file (or missing: a file to create). */
static int slot_capacity(const struct update *u, enum update_slot slot, uint64_t *ret,
			 bool *ret_regular, struct update_error *err)
{
	const char *path = u->p.slot_path[slot];
	struct stat st;
	uint64_t dev = 0;
	int fd;

	*ret = u->p.slot_capacity ? u->p.slot_capacity : UINT64_MAX;
	*ret_regular = true;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(err, neg_errno(), "slot %s (%s): %s", update_slot_name(slot), path,
			    strerror(errno));
	}
	if (S_ISREG(st.st_mode))
		return 0;
	if (!S_ISBLK(st.st_mode))
		return fail(err, -EINVAL,
			    "slot %s (%s) is neither a block device nor a regular file: check "
			    "slot_%s in [update]",
			    update_slot_name(slot), path, update_slot_name(slot));
	*ret_regular = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &dev) < 0) {
		int rc = neg_errno();

		if (fd >= 0)
			close(fd);
		return fail(err, rc, "slot %s (%s): cannot read the device size: %s",
			    update_slot_name(slot), path, strerror(-rc));
	}
	close(fd);
	if (dev < *ret)
		*ret = dev;
	return 0;
}

/* What update_verify checks beyond bundle_open: compatibility, the target
 * slot's size, and the payload hashed against the signed hash. */
static int check_bundle(struct update *u, const struct update_status *st, struct bundle *b,
			unsigned flags, update_progress_fn progress, void *ctx,
			struct update_error *err)
{
	enum update_slot target = other(st->active);
	uint8_t hash[32];
	uint64_t cap;
	bool regular;
	int rc;

	rc = compat_check(u, st, b, flags, err);
	if (rc < 0)
		return rc;
	rc = slot_capacity(u, target, &cap, &regular, err);
	if (rc < 0)
		return rc;
	if (b->payload_len > cap)
		return fail(err, -EFBIG,
			    "%s: the payload is %llu bytes, slot %s (%s) holds %llu: build a "
			    "smaller image or make the slot larger",
			    b->path, (unsigned long long)b->payload_len, update_slot_name(target),
			    u->p.slot_path[target], (unsigned long long)cap);
	rc = bundle_hash(b, UPDATE_PHASE_VERIFY, progress, ctx, hash, err);
	if (rc < 0)
		return rc;
	if (memcmp(hash, b->m.payload_sha256, 32) != 0)
		return fail(err, -EBADMSG,
			    "%s: the payload does not match its signed SHA-256: the bundle is "
			    "damaged or was altered after signing",
			    b->path);
	return 0;
}

/* -EBUSY while the active slot is on trial: the other slot is its fallback. */
static int trial_blocks(const struct update_status *st, struct update_error *err)
{
	const struct update_slot_info *a = &st->slot[st->active];

	if (a->status != UPDATE_STATUS_TRYING)
		return 0;
	return fail(err, -EBUSY,
		    "slot %s (%s) is still on trial (%d starts left): installing now would "
		    "overwrite the slot the box falls back to; wait until it is marked good or "
		    "rolls back (`edgeboxctl update --status`)",
		    update_slot_name(st->active), a->version, a->tries);
}

int update_verify(struct update *u, const char *bundle, unsigned flags, struct update_manifest *ret,
		  update_progress_fn progress, void *ctx, struct update_error *err)
{
	struct update_status st;
	struct bundle b;
	int rc;

	rc = state_load(u, &st, err);
	if (rc < 0)
		return rc;
	rc = trial_blocks(&st, err);
	if (rc < 0)
		return rc;
	rc = bundle_open(bundle, u->p.public_key, &b, err);
	if (rc < 0)
		return rc;
	rc = check_bundle(u, &st, &b, flags, progress, ctx, err);
	if (rc == 0 && ret)
		*ret = b.m;
	bundle_close(&b);
	return rc;
}

/* Payload -> slot, hashing what was read; fsync. */
static int write_slot(struct update *u, struct bundle *b, enum update_slot slot,
		      update_progress_fn progress, void *ctx, struct update_error *err)
{
	const char *path = u->p.slot_path[slot];
	crypto_hash_sha256_state hs;
	uint64_t off = 0, synced = 0;
	uint8_t *buf, hash[32];
	struct stat st;
	int fd, rc = 0;

	buf = malloc(CHUNK);
	if (!buf)
		return fail(err, -ENOMEM, "out of memory");
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = fail(err, neg_errno(), "opening slot %s (%s): %s", update_slot_name(slot),
			  path, strerror(errno));
		goto out;
	}
	crypto_hash_sha256_init(&hs);
	if (progress && progress(ctx, UPDATE_PHASE_WRITE, 0, b->payload_len)) {
		rc = fail(err, -ECANCELED, "cancelled while writing");
		goto out;
	}
	while (off < b->payload_len) {
		size_t want = b->payload_len - off < CHUNK ? (size_t)(b->payload_len - off) : CHUNK;
		ssize_t n = pread_full(b->fd, buf, want, b->payload_off + off);

		if (n != (ssize_t)want) {
			rc = fail(err, n < 0 ? (int)n : -EIO,
				  "%s: reading the payload at byte %llu failed", b->path,
				  (unsigned long long)(b->payload_off + off));
			goto out;
		}
		crypto_hash_sha256_update(&hs, buf, want);
		rc = pwrite_full(fd, buf, want, off);
		if (rc < 0) {
			fail(err, rc, "writing slot %s (%s) at byte %llu: %s",
			     update_slot_name(slot), path, (unsigned long long)off, strerror(-rc));
			goto out;
		}
		off += want;
		if (off - synced >= SYNC_EVERY) {
			/* Bounded dirty data: a power cut loses little and fsync stays short. */
			if (fdatasync(fd) < 0) {
				rc = fail(err, neg_errno(), "syncing slot %s: %s",
					  update_slot_name(slot), strerror(errno));
				goto out;
			}
			synced = off;
		}
		if (progress && progress(ctx, UPDATE_PHASE_WRITE, off, b->payload_len)) {
			rc = fail(err, -ECANCELED, "cancelled while writing");
			goto out;
		}
	}
	if (S_ISREG(st.st_mode) && ftruncate(fd, (off_t)b->payload_len) < 0) {
		rc = fail(err, neg_errno(), "truncating slot %s: %s", update_slot_name(slot),
			  strerror(errno));
		goto out;
	}
	if (fsync(fd) < 0) {
		rc = fail(err, neg_errno(), "syncing slot %s: %s", update_slot_name(slot),
			  strerror(errno));
		goto out;
	}
	crypto_hash_sha256_final(&hs, hash);
	if (memcmp(hash, b->m.payload_sha256, 32) != 0)
		rc = fail(err, -EIO,
			  "%s changed while it was being installed (its payload no longer matches "
			  "the verified hash): run the update again",
			  b->path);
out:
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = fail(err, neg_errno(), "closing slot %s: %s", update_slot_name(slot),
			  strerror(errno));
	free(buf);
	return rc;
}

/* Reads the slot back (from the device, not the page cache where it can be
 * dropped) and checks its hash. */
static int readback_slot(struct update *u, const struct bundle *b, enum update_slot slot,
			 update_progress_fn progress, void *ctx, struct update_error *err)
{
	const char *path = u->p.slot_path[slot];
	crypto_hash_sha256_state hs;
	uint64_t off = 0;
	uint8_t *buf, hash[32];
	int fd, rc = 0;

	buf = malloc(CHUNK);
	if (!buf)
		return fail(err, -ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = fail(err, neg_errno(), "reading slot %s back: %s", update_slot_name(slot),
			  strerror(errno));
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	crypto_hash_sha256_init(&hs);
	if (progress && progress(ctx, UPDATE_PHASE_READBACK, 0, b->payload_len)) {
		rc = fail(err, -ECANCELED, "cancelled while reading back");
		goto out;
	}
	while (off < b->payload_len) {
		size_t want = b->payload_len - off < CHUNK ? (size_t)(b->payload_len - off) : CHUNK;
		ssize_t n = pread_full(fd, buf, want, off);

		if (n != (ssize_t)want) {
			rc = fail(err, n < 0 ? (int)n : -EIO,
				  "reading slot %s (%s) back at byte %llu failed",
				  update_slot_name(slot), path, (unsigned long long)off);
			goto out;
		}
		crypto_hash_sha256_update(&hs, buf, want);
		off += want;
		if (progress && progress(ctx, UPDATE_PHASE_READBACK, off, b->payload_len)) {
			rc = fail(err, -ECANCELED, "cancelled while reading back");
			goto out;
		}
	}
	crypto_hash_sha256_final(&hs, hash);
	if (memcmp(hash, b->m.payload_sha256, 32) != 0)
		rc = fail(err, -EIO,
			  "slot %s (%s) reads back different from what was written: the storage "
			  "may be failing; the old slot stays active",
			  update_slot_name(slot), path);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int update_install(struct update *u, const char *bundle, unsigned flags,
		   struct update_manifest *ret, update_progress_fn progress, void *ctx,
		   struct update_error *err)
{
	struct update_slot_info *t;
	struct update_status st;
	enum update_slot target;
	struct bundle b = {.fd = -1};
	char when[32], note[UPDATE_NOTE_MAX + UPDATE_ERROR_MAX];
	int lock, rc;

	lock = state_lock(u, 0, err);
	if (lock < 0)
		return lock;
	rc = state_load(u, &st, err);
	if (rc < 0)
		goto out;
	rc = trial_blocks(&st, err);
	if (rc < 0)
		goto out;
	rc = bundle_open(bundle, u->p.public_key, &b, err);
	if (rc < 0)
		goto out;
	rc = check_bundle(u, &st, &b, flags, progress, ctx, err);
	if (rc < 0)
		goto out;

	/* From here on the target slot is being changed: say so first. */
	target = other(st.active);
	t = &st.slot[target];
	iso_time(time(NULL), when, sizeof(when));
	memset(t, 0, sizeof(*t));
	t->status = UPDATE_STATUS_EMPTY;
	snprintf(note, sizeof(note), "the install of %s started %s did not finish", b.m.version,
		 when);
	set_note(t->error, note);
	t->error_time = time(NULL);
	rc = state_save(u, &st, err);
	if (rc < 0)
		goto out;

	rc = write_slot(u, &b, target, progress, ctx, err);
	if (rc == 0)
		rc = readback_slot(u, &b, target, progress, ctx, err);
	if (rc < 0) {
		struct update_error ignored;

		snprintf(note, sizeof(note), "the install of %s failed %s: %s", b.m.version, when,
			 err ? err->msg : strerror(-rc));
		set_note(t->error, note);
		state_save(u, &st, &ignored); /* best effort: the slot is empty either way */
		goto out;
	}

	/* The commit point. */
	t->status = UPDATE_STATUS_TRYING;
	snprintf(t->version, sizeof(t->version), "%s", b.m.version);
	t->tries = u->p.max_tries;
	t->size = b.payload_len;
	memcpy(t->sha256, b.m.payload_sha256, 32);
	t->installed = time(NULL);
	t->error[0] = '\0';
	t->error_time = 0;
	st.active = target;
	rc = state_save(u, &st, err);
	if (rc < 0)
		goto out;
	rc = (int)target;
	if (ret)
		*ret = b.m;
	if (progress)
		progress(ctx, UPDATE_PHASE_DONE, b.payload_len, b.payload_len);
out:
	bundle_close(&b);
	state_unlock(lock);
	return rc;
}

/* ---- trial, boot, rollback ------------------------------------------------- */

static void roll_back(struct update_status *st, const char *reason)
{
	enum update_slot from = st->active, to = other(st->active);
	struct update_slot_info *f = &st->slot[from];
	int64_t now = time(NULL);

	st->rollback.time = now;
	st->rollback.from = from;
	st->rollback.to = to;
	snprintf(st->rollback.version, sizeof(st->rollback.version), "%s", f->version);
	set_note(st->rollback.reason, reason);
	f->status = UPDATE_STATUS_BAD;
	f->tries = 0;
	set_note(f->error, reason);
	f->error_time = now;
	st->active = to;
}

int update_boot(struct update *u, enum update_slot booted, struct update_boot_result *ret,
		struct update_error *err)
{
	struct update_boot_result r = {UPDATE_BOOT_NORMAL, UPDATE_SLOT_A, 0};
	char reason[UPDATE_NOTE_MAX + 256];
	struct update_slot_info *act;
	struct update_status st;
	int lock, rc;

	if (booted != UPDATE_SLOT_NONE && booted != UPDATE_SLOT_A && booted != UPDATE_SLOT_B)
		return fail(err, -EINVAL, "booted slot must be a, b or none");
	lock = state_lock(u, LOCK_WAIT_MS, err);
	if (lock < 0)
		return lock;
	rc = state_load(u, &st, err);
	if (rc < 0)
		goto out;
	act = &st.slot[st.active];
	if (booted != UPDATE_SLOT_NONE && booted != st.active) {
		if (act->status != UPDATE_STATUS_TRYING ||
		    st.slot[booted].status != UPDATE_STATUS_GOOD) {
			rc = fail(
			    err, -ESTALE,
			    "the bootloader started slot %s, but the update state says slot "
			    "%s (%s, %s) is active and slot %s is %s: check the bootloader's "
			    "configuration, or `edgeboxctl update --reset-state %s`",
			    update_slot_name(booted), update_slot_name(st.active), act->version,
			    update_status_name(act->status), update_slot_name(booted),
			    update_status_name(st.slot[booted].status), update_slot_name(booted));
			goto out;
		}
		snprintf(reason, sizeof(reason),
			 "did not start: the bootloader fell back to slot %s with %d of %d starts "
			 "left",
			 update_slot_name(booted), act->tries, u->p.max_tries);
		roll_back(&st, reason);
		r.action = UPDATE_BOOT_FELL_BACK;
	} else if (act->status == UPDATE_STATUS_TRYING && act->tries <= 0) {
		if (st.slot[other(st.active)].status != UPDATE_STATUS_GOOD) {
			rc = fail(err, -ENOENT,
				  "slot %s (%s) used up its starts, but slot %s is %s: there is "
				  "nothing to roll back to; staying on slot %s",
				  update_slot_name(st.active), act->version,
				  update_slot_name(other(st.active)),
				  update_status_name(st.slot[other(st.active)].status),
				  update_slot_name(st.active));
			goto out;
		}
		if (act->error[0])
			snprintf(reason, sizeof(reason),
				 "did not report healthy within %d s after %d starts (last: %s)",
				 u->p.healthy_within_s, u->p.max_tries, act->error);
		else
			snprintf(reason, sizeof(reason),
				 "did not report healthy within %d s after %d starts",
				 u->p.healthy_within_s, u->p.max_tries);
		roll_back(&st, reason);
		r.action = UPDATE_BOOT_ROLLED_BACK;
	} else if (act->status == UPDATE_STATUS_TRYING) {
		act->tries--;
		r.action = UPDATE_BOOT_TRYING;
		r.tries = act->tries;
	} else {
		r.active = st.active;
		goto out; /* a good slot: nothing to write */
	}
	rc = state_save(u, &st, err);
	r.active = st.active;
out:
	state_unlock(lock);
	if (rc == 0 && ret)
		*ret = r;
	return rc;
}

/* Read without the lock first: the common case (a good slot) writes nothing
 * and never waits for an install. */
static int trial_change(struct update *u, const char *why, struct update_error *err)
{
	struct update_status st;
	int lock, rc;

	rc = state_load(u, &st, err);
	if (rc < 0 || st.slot[st.active].status != UPDATE_STATUS_TRYING)
		return rc;
	lock = state_lock(u, LOCK_WAIT_MS, err);
	if (lock < 0)
		return lock;
	rc = state_load(u, &st, err);
	if (rc == 0 && st.slot[st.active].status == UPDATE_STATUS_TRYING) {
		struct update_slot_info *a = &st.slot[st.active];

		if (why) {
			set_note(a->error, why);
			a->error_time = time(NULL);
		} else {
			a->status = UPDATE_STATUS_GOOD;
			a->tries = 0;
			a->error[0] = '\0';
			a->error_time = 0;
		}
		rc = state_save(u, &st, err);
		if (rc == 0)
			rc = 1;
	}
	state_unlock(lock);
	return rc;
}

int update_mark_good(struct update *u, struct update_error *err)
{
	return trial_change(u, NULL, err);
}

int update_note_failure(struct update *u, const char *why, struct update_error *err)
{
	if (!why || !*why)
		return fail(err, -EINVAL, "a failure needs a reason");
	return trial_change(u, why, err);
}

enum update_trial update_trial_judge(const struct update *u, double uptime_s,
				     double healthy_streak_s)
{
	if (healthy_streak_s >= u->p.healthy_for_s)
		return UPDATE_TRIAL_GOOD;
	if (uptime_s >= u->p.healthy_within_s)
		return UPDATE_TRIAL_FAILED;
	return UPDATE_TRIAL_WAIT;
}

int update_status(struct update *u, struct update_status *ret, struct update_error *err)
{
	return state_load(u, ret, err);
}

int update_reset_state(struct update *u, enum update_slot active, const char *version,
		       struct update_error *err)
{
	struct update_status st;
	int lock, rc;

	if (active != UPDATE_SLOT_A && active != UPDATE_SLOT_B)
		return fail(err, -EINVAL, "the active slot must be a or b");
	if (version && *version && !update_version_valid(version))
		return fail(err, -EINVAL, "'%s' is not a version (MAJOR.MINOR.PATCH)", version);
	lock = state_lock(u, LOCK_WAIT_MS, err);
	if (lock < 0)
		return lock;
	state_factory(u, &st);
	st.slot[0].status = UPDATE_STATUS_EMPTY;
	st.slot[0].version[0] = '\0';
	st.active = active;
	st.slot[active].status = UPDATE_STATUS_GOOD;
	snprintf(st.slot[active].version, sizeof(st.slot[active].version), "%s",
		 version && *version ? version : u->p.factory_version);
	rc = state_save(u, &st, err);
	state_unlock(lock);
	return rc;
}

/* ---- making bundles ---------------------------------------------------------- */

static int hash_fd(int fd, uint64_t len, uint8_t out[32])
{
	crypto_hash_sha256_state hs;
	uint64_t off = 0;
	uint8_t *buf = malloc(CHUNK);

	if (!buf)
		return -ENOMEM;
	crypto_hash_sha256_init(&hs);
	while (off < len) {
		size_t want = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
		ssize_t n = pread_full(fd, buf, want, off);

		if (n != (ssize_t)want) {
			free(buf);
			return n < 0 ? (int)n : -EIO;
		}
		crypto_hash_sha256_update(&hs, buf, want);
		off += want;
	}
	crypto_hash_sha256_final(&hs, out);
	free(buf);
	return 0;
}

static int build_time(int64_t t, int64_t *ret, struct update_error *err)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (t >= 0) {
		*ret = t;
		return 0;
	}
	if (!sde || !*sde) {
		*ret = time(NULL);
		return 0;
	}
	errno = 0;
	v = strtoll(sde, &end, 10);
	if (errno || *end || v < 0 || (double)v > JSON_INT_MAX)
		return fail(err, -EINVAL,
			    "SOURCE_DATE_EPOCH: expected seconds since 1970, got '%s'", sde);
	*ret = v;
	return 0;
}

int update_make_bundle(const struct update_bundle_spec *spec, const char *out,
		       struct update_manifest *ret, struct update_error *err)
{
	uint8_t sk[crypto_sign_SECRETKEYBYTES], hash[32], hash2[32], sig[UPDATE_SIG_LEN];
	uint8_t *msg = NULL, *buf = NULL;
	char tmp[PATH_MAX + 8], hex[65], *json = NULL;
	struct update_manifest m = {0};
	crypto_hash_sha256_state hs;
	struct stat pst, ost;
	cJSON *root = NULL;
	size_t mlen;
	uint64_t off = 0;
	int pfd = -1, ofd = -1, rc;

	if (sodium_init() < 0)
		return fail(err, -EIO, "libsodium could not be initialised");
	if (!spec->secret_key_path || !spec->payload_path || !out || !*out)
		return fail(err, -EINVAL, "a bundle needs a secret key, a payload and an output");
	if (!hwid_valid(spec->hardware_id))
		return fail(
		    err, -EINVAL,
		    "hardware id '%.80s': expected 1 to %d letters, digits, '.', '_' or '-'",
		    spec->hardware_id ? spec->hardware_id : "", UPDATE_HWID_MAX);
	if (!update_version_valid(spec->version))
		return fail(err, -EINVAL,
			    "version '%.80s': expected a semantic version MAJOR.MINOR.PATCH (e.g. "
			    "1.4.0 or 1.4.0-rc.1)",
			    spec->version ? spec->version : "");
	if (spec->min_version && *spec->min_version && !update_version_valid(spec->min_version))
		return fail(err, -EINVAL, "min version '%.80s': expected MAJOR.MINOR.PATCH",
			    spec->min_version);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= (int)sizeof(tmp))
		return fail(err, -ENAMETOOLONG, "output path too long");
	snprintf(m.hardware_id, sizeof(m.hardware_id), "%s", spec->hardware_id);
	snprintf(m.version, sizeof(m.version), "%s", spec->version);
	snprintf(m.min_version, sizeof(m.min_version), "%s",
		 spec->min_version ? spec->min_version : "");
	rc = build_time(spec->build_time, &m.build_time, err);
	if (rc < 0)
		return rc;
	rc = secret_key_load(spec->secret_key_path, sk, err);
	if (rc < 0)
		return rc;

	pfd = open(spec->payload_path, O_RDONLY | O_CLOEXEC);
	if (pfd < 0 || fstat(pfd, &pst) < 0 || !S_ISREG(pst.st_mode)) {
		rc = fail(err, pfd < 0 ? neg_errno() : -EINVAL, "payload %s: %s",
			  spec->payload_path, pfd < 0 ? strerror(errno) : "not a regular file");
		goto out;
	}
	if (stat(out, &ost) == 0 && ost.st_dev == pst.st_dev && ost.st_ino == pst.st_ino) {
		rc = fail(err, -EINVAL, "the output %s is the payload itself", out);
		goto out;
	}
	m.payload_size = (uint64_t)pst.st_size;
	if ((double)m.payload_size > JSON_INT_MAX) {
		rc = fail(err, -EFBIG, "payload %s is too large", spec->payload_path);
		goto out;
	}
	rc = hash_fd(pfd, m.payload_size, hash);
	if (rc < 0) {
		fail(err, rc, "reading payload %s: %s", spec->payload_path, strerror(-rc));
		goto out;
	}
	memcpy(m.payload_sha256, hash, 32);

	root = cJSON_CreateObject();
	hex32(hash, hex);
	if (!root || !cJSON_AddNumberToObject(root, "format", UPDATE_FORMAT) ||
	    !cJSON_AddStringToObject(root, "hardware_id", m.hardware_id) ||
	    !cJSON_AddStringToObject(root, "version", m.version) ||
	    !cJSON_AddStringToObject(root, "min_version", m.min_version) ||
	    !cJSON_AddNumberToObject(root, "build_time", (double)m.build_time) ||
	    !cJSON_AddNumberToObject(root, "payload_size", (double)m.payload_size) ||
	    !cJSON_AddStringToObject(root, "payload_sha256", hex) ||
	    !cJSON_AddArrayToObject(root, "flags") || !(json = cJSON_PrintUnformatted(root))) {
		rc = fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	mlen = strlen(json);
	if (mlen > UPDATE_MANIFEST_MAX) {
		rc = fail(err, -E2BIG, "the manifest is %zu bytes, more than %d", mlen,
			  UPDATE_MANIFEST_MAX);
		goto out;
	}
	msg = calloc(1, UPDATE_HEADER_LEN + mlen);
	buf = malloc(CHUNK);
	if (!msg || !buf) {
		rc = fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	memcpy(msg, UPDATE_MAGIC, 8);
	put_le16(msg + 8, UPDATE_FORMAT);
	put_le16(msg + 10, UPDATE_HEADER_LEN);
	put_le32(msg + 12, (uint32_t)mlen);
	put_le64(msg + 16, m.payload_size);
	put_le16(msg + 24, 1);
	put_le16(msg + 26, UPDATE_SIG_LEN);
	memcpy(msg + UPDATE_HEADER_LEN, json, mlen);
	crypto_sign_detached(sig, NULL, msg, UPDATE_HEADER_LEN + mlen, sk);

	ofd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ofd < 0) {
		rc = fail(err, neg_errno(), "writing %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = write_full(ofd, msg, UPDATE_HEADER_LEN + mlen);
	if (rc == 0)
		rc = write_full(ofd, sig, sizeof(sig));
	crypto_hash_sha256_init(&hs);
	while (rc == 0 && off < m.payload_size) {
		size_t want = m.payload_size - off < CHUNK ? (size_t)(m.payload_size - off) : CHUNK;
		ssize_t n = pread_full(pfd, buf, want, off);

		if (n != (ssize_t)want) {
			rc = n < 0 ? (int)n : -EIO;
			break;
		}
		crypto_hash_sha256_update(&hs, buf, want);
		rc = write_full(ofd, buf, want);
		off += want;
	}
	if (rc == 0 && fsync(ofd) < 0)
		rc = neg_errno();
	if (close(ofd) < 0 && rc == 0)
		rc = neg_errno();
	ofd = -1;
	if (rc < 0) {
		fail(err, rc, "writing %s: %s", out, strerror(-rc));
		goto out_unlink;
	}
	crypto_hash_sha256_final(&hs, hash2);
	if (memcmp(hash, hash2, 32) != 0) {
		rc = fail(err, -EIO, "payload %s changed while the bundle was made: make it again",
			  spec->payload_path);
		goto out_unlink;
	}
	if (rename(tmp, out) < 0) {
		rc = fail(err, neg_errno(), "renaming %s to %s: %s", tmp, out, strerror(errno));
		goto out_unlink;
	}
	fsync_parent(out);
	if (ret)
		*ret = m;
	rc = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	sodium_memzero(sk, sizeof(sk));
	if (pfd >= 0)
		close(pfd);
	if (ofd >= 0)
		close(ofd);
	cJSON_Delete(root);
	free(json);
	free(msg);
	free(buf);
	return rc;
}
