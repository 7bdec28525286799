/*
 * Watchdog: the /dev/watchdog protocol (hal/watchdog_io.c) against a fake
 * that logs every call, the dev driver on paths that are not watchdogs, and
 * the soft watchdog's timing.
 */
#include "tests/test.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "firmware/config.h"
#include "hal/time.h"
#include "hal/watchdog.h"
#include "hal/watchdog_io.h"

extern const struct watchdog_ops watchdog_dev_ops;
extern const struct watchdog_ops watchdog_soft_ops;

#define MS 1000000ull
#define FAKE_FD 7

/* ---- a fake device that logs the calls --------------------------------- */

struct fake {
	char log[1024];
	uint32_t options;
	int open_rc; /* returned by open when < 0 */
	int getsupport_rc;
	int settimeout_rc;
	int chosen; /* what SETTIMEOUT writes back; 0: the value asked for */
	int keepalive_rc;
};

static void fake_log(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fake_log(struct fake *f, const char *fmt, ...)
{
	size_t off = strlen(f->log);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->log + off, sizeof(f->log) - off, fmt, ap);
	va_end(ap);
}

static int fake_open(void *ctx, const char *path, int flags)
{
	struct fake *f = ctx;

	fake_log(f, "open %s %s; ", path,
		 flags == (O_WRONLY | O_CLOEXEC) ? "O_WRONLY|O_CLOEXEC" : "other-flags");
	return f->open_rc < 0 ? f->open_rc : FAKE_FD;
}

static int fake_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
	struct fake *f = ctx;

	if (fd != FAKE_FD) {
		fake_log(f, "ioctl on fd %d; ", fd);
		return -EBADF;
	}
	if (request == WDIOC_GETSUPPORT) {
		struct watchdog_info *info = arg;

		fake_log(f, "GETSUPPORT; ");
		if (f->getsupport_rc < 0)
			return f->getsupport_rc;
		info->options = f->options;
		memcpy(info->identity, "fake wdt", 9);
		return 0;
	}
	if (request == WDIOC_SETTIMEOUT) {
		int *t = arg;

		fake_log(f, "SETTIMEOUT %d; ", *t);
		if (f->settimeout_rc < 0)
			return f->settimeout_rc;
		if (f->chosen)
			*t = f->chosen;
		return 0;
	}
	if (request == WDIOC_KEEPALIVE) {
		fake_log(f, "KEEPALIVE; ");
		return f->keepalive_rc;
	}
	fake_log(f, "ioctl %#lx; ", request);
	return -ENOTTY;
}

static ssize_t fake_write(void *ctx, int fd, const void *buf, size_t len)
{
	struct fake *f = ctx;
	const unsigned char *b = buf;
	size_t i;

	fake_log(f, "write fd %d", fd);
	for (i = 0; i < len; i++)
		fake_log(f, isprint(b[i]) ? " '%c'" : " %02x", b[i]);
	fake_log(f, "; ");
	return (ssize_t)len;
}

static int fake_close(void *ctx, int fd)
{
	fake_log(ctx, "close %d", fd);
	return 0;
}

static void fake_init(struct fake *f, struct watchdog_io *io, uint32_t options)
{
	memset(f, 0, sizeof(*f));
	f->options = options;
	io->ctx = f;
	io->open = fake_open;
	io->ioctl = fake_ioctl;
	io->write = fake_write;
	io->close = fake_close;
}

#define FULL_OPTIONS (WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING)

/* ---- the protocol -------------------------------------------------------- */

TEST(io_start_keepalive_magic_close_sequence)
{
	struct watchdog_io_dev *w;
	struct watchdog_io io;
	struct fake f;
	char err[256] = "";
	int chosen = 0;

	fake_init(&f, &io, FULL_OPTIONS);
	ASSERT_EQ(watchdog_io_start(&io, "/dev/watchdog", 15, &w, &chosen, err, sizeof(err)), 0);
	ASSERT_EQ(chosen, 15);
	ASSERT_STREQ(watchdog_io_identity(w), "fake wdt");
	ASSERT_EQ(watchdog_io_options(w), FULL_OPTIONS);
	ASSERT_EQ(watchdog_io_keepalive(w), 0);
	ASSERT_EQ(watchdog_io_keepalive(w), 0);
	ASSERT_EQ(watchdog_io_stop(w), 0);
	ASSERT_STREQ(f.log, "open /dev/watchdog O_WRONLY|O_CLOEXEC; GETSUPPORT; SETTIMEOUT 15; "
			    "KEEPALIVE; KEEPALIVE; write fd 7 'V'; close 7");
}

TEST(io_keeps_the_timeout_the_driver_chose)
{
	struct watchdog_io_dev *w;
	struct watchdog_io io;
	struct fake f;
	char err[256] = "";
	int chosen = 0;

	fake_init(&f, &io, FULL_OPTIONS);
	f.chosen = 16; /* e.g. hardware that counts in 2 s steps */
	ASSERT_EQ(watchdog_io_start(&io, "/dev/watchdog1", 15, &w, &chosen, err, sizeof(err)), 0);
	ASSERT_EQ(chosen, 16);
	ASSERT_EQ(watchdog_io_stop(w), 0);
}

TEST(io_keepalive_by_write_without_keepaliveping)
{
	struct watchdog_io_dev *w;
	struct watchdog_io io;
	struct fake f;
	char err[256] = "";
	int chosen = 0;

	fake_init(&f, &io, WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE);
	ASSERT_EQ(watchdog_io_start(&io, "/dev/watchdog", 30, &w, &chosen, err, sizeof(err)), 0);
	ASSERT_EQ(watchdog_io_keepalive(w), 0);
	ASSERT_EQ(watchdog_io_stop(w), 0);
	ASSERT_STREQ(f.log, "open /dev/watchdog O_WRONLY|O_CLOEXEC; GETSUPPORT; SETTIMEOUT 30; "
			    "write fd 7 00; write fd 7 'V'; close 7");
}

TEST(io_keepalive_error_is_returned)
{
	struct watchdog_io_dev *w;
	struct watchdog_io io;
	struct fake f;
	char err[256] = "";
	int chosen = 0;

	fake_init(&f, &io, FULL_OPTIONS);
	ASSERT_EQ(watchdog_io_start(&io, "/dev/watchdog", 15, &w, &chosen, err, sizeof(err)), 0);
	f.keepalive_rc = -EIO;
	ASSERT_EQ(watchdog_io_keepalive(w), -EIO);
	ASSERT_EQ(watchdog_io_stop(w), 0);
	ASSERT_EQ(watchdog_io_stop(NULL), 0);
}

TEST(io_not_a_watchdog_is_closed_without_a_write)
{
	struct watchdog_io_dev *w = (struct watchdog_io_dev *)1;
	struct watchdog_io io;
	struct fake f;
	char err[256] = "";
	int chosen = 0;

	fake_init(&f, &io, 0);
	f.getsupport_rc = -ENOTTY;
	ASSERT_EQ(watchdog_io_start(&io, "/tmp/x", 15, &w, &chosen, err, sizeof(err)), -ENOTTY);
	ASSERT(w == NULL);
	ASSERT_STREQ(f.log, "open /tmp/x O_WRONLY|O_CLOEXEC; GETSUPPORT; close 7");
	ASSERT_CONTAINS(err, "watchdog: /tmp/x is not a watchdog device (WDIOC_GETSUPPORT: "
			     "Inappropriate ioctl for device)");
	ASSERT_CONTAINS(err, "use driver = soft");
}

TEST(io_refused_timeout_disarms_with_magic_close)
{
	struct watchdog_io_dev *w;
	struct watchdog_io io;
	struct fake f;
	char err[256] = "";
	int chosen = 0;

	fake_init(&f, &io, FULL_OPTIONS);
	f.settimeout_rc = -EINVAL;
	ASSERT_EQ(watchdog_io_start(&io, "/dev/watchdog", 600, &w, &chosen, err, sizeof(err)),
		  -EINVAL);
	ASSERT_STREQ(f.log, "open /dev/watchdog O_WRONLY|O_CLOEXEC; GETSUPPORT; SETTIMEOUT 600; "
			    "write fd 7 'V'; close 7");
	ASSERT_CONTAINS(err, "watchdog: /dev/watchdog (fake wdt) refused a timeout of 600 s: "
			     "Invalid argument; pick another timeout_s");
}

TEST(io_open_errors_name_the_fix)
{
	static const struct {
		int rc;
		const char *want;
	} cases[] = {
	    {-ENOENT, "watchdog: cannot open /dev/watchdog: No such file or directory (is the "
		      "watchdog driver loaded? test rigs can use driver = soft)"},
	    {-EACCES, "watchdog: cannot open /dev/watchdog: Permission denied (run edgeboxd as "
		      "root or give its user write access to the device)"},
	    {-EBUSY, "watchdog: cannot open /dev/watchdog: Device or resource busy (another "
		     "process holds it"},
	};
	struct watchdog_io_dev *w;
	struct watchdog_io io;
	struct fake f;
	char err[256];
	int chosen = 0;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_init(&f, &io, FULL_OPTIONS);
		f.open_rc = cases[i].rc;
		ASSERT_EQ(
		    watchdog_io_start(&io, "/dev/watchdog", 15, &w, &chosen, err, sizeof(err)),
		    cases[i].rc);
		ASSERT_STREQ(f.log, "open /dev/watchdog O_WRONLY|O_CLOEXEC; ");
		ASSERT_CONTAINS(err, cases[i].want);
	}
	fake_init(&f, &io, FULL_OPTIONS);
	ASSERT_EQ(watchdog_io_start(&io, "/dev/watchdog", 0, &w, &chosen, err, sizeof(err)),
		  -EINVAL);
	ASSERT_STREQ(f.log, "");
}

/* ---- the dev driver on the real libc calls ------------------------------- */

static struct config *load_cfg(const char *text)
{
	struct config_error err;
	struct config *cfg = NULL;

	if (config_load_string("test.conf", ".", text, &cfg, &err) < 0)
		printf("    config: %s\n", err.msg);
	return cfg;
}

TEST(dev_nonexistent_device_fails_clearly)
{
	struct config *cfg = load_cfg("[watchdog]\ndevice = /nonexistent/watchdog\n");
	struct watchdog_dev dev;

	ASSERT(cfg);
	ASSERT_EQ(watchdog_open(&dev, &watchdog_dev_ops, cfg, "watchdog"), -ENOENT);
	ASSERT_STREQ(dev.error, "watchdog: cannot open /nonexistent/watchdog: No such file or "
				"directory (is the watchdog driver loaded? test rigs can use "
				"driver = soft)");
	ASSERT(dev.priv == NULL);
	watchdog_close(&dev);
	config_free(cfg);
}

TEST(dev_plain_file_is_not_a_watchdog_and_is_left_alone)
{
	char path[300], text[400], back[32] = "";
	struct config_error err;
	struct watchdog_dev dev;
	struct config *cfg;
	FILE *f;

	snprintf(path, sizeof(path), "%s/not-a-watchdog", test_tmpdir());
	f = fopen(path, "w");
	ASSERT(f);
	fputs("keep me", f);
	fclose(f);
	snprintf(text, sizeof(text), "[watchdog]\ndevice = %s\ntimeout_s = 20\n", path);
	cfg = load_cfg(text);
	ASSERT(cfg);
	ASSERT_EQ(watchdog_open(&dev, &watchdog_dev_ops, cfg, "watchdog"), -ENOTTY);
	ASSERT_CONTAINS(dev.error, "is not a watchdog device (WDIOC_GETSUPPORT: Inappropriate "
				   "ioctl for device)");
	ASSERT_CONTAINS(dev.error, path);
	ASSERT(dev.priv == NULL);
	ASSERT_MSG(config_check_unused(cfg, &err) == 0, "%s", err.msg);
	config_free(cfg);
	/* No magic 'V' was written into it. */
	f = fopen(path, "r");
	ASSERT(f);
	ASSERT(fgets(back, sizeof(back), f) != NULL);
	fclose(f);
	ASSERT_STREQ(back, "keep me");
}

TEST(dev_config_errors)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"[watchdog]\ntimeout_s = 0\n",
	     "watchdog: test.conf:2: [watchdog] timeout_s: expected a whole number from 1 to "
	     "600, got '0'"},
	    {"[watchdog]\ntimeout_s = 601\n", "got '601'"},
	    {"[watchdog]\ndevice = \"\"\n", "[watchdog] device: expected a path"},
	};
	struct watchdog_dev dev;
	struct config *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = load_cfg(cases[i].text);
		ASSERT(cfg);
		ASSERT_EQ(watchdog_open(&dev, &watchdog_dev_ops, cfg, "watchdog"), -EINVAL);
		ASSERT_CONTAINS(dev.error, cases[i].want);
		config_free(cfg);
	}
	ASSERT_EQ(watchdog_dev_ops.expired, NULL);
}

/* ---- the soft watchdog ------------------------------------------------------ */

/* Sends stderr to a file while the soft watchdog writes to it. */
struct capture {
	char path[300];
	int saved;
};

static int capture_start(struct capture *c, const char *name)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "%s/%s", test_tmpdir(), name);
	fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	fflush(stderr);
	c->saved = dup(2);
	dup2(fd, 2);
	close(fd);
	return 0;
}

static void capture_stop(struct capture *c, char *out, size_t len)
{
	FILE *f;
	size_t n = 0;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	f = fopen(c->path, "r");
	if (f) {
		n = fread(out, 1, len - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Waits until the soft watchdog has expired at least n times, up to 3 s. */
static int wait_expired(struct watchdog_dev *dev, int n)
{
	uint64_t end = hal_now_ns() + 3000 * MS;
	int got;

	while ((got = watchdog_expired(dev)) < n && hal_now_ns() < end)
		usleep(1000);
	return got;
}

TEST(soft_fed_regularly_never_expires)
{
	struct config *cfg = load_cfg("[watchdog]\ntimeout_ms = 100\n");
	struct watchdog_dev dev;
	int i;

	ASSERT(cfg);
	ASSERT_MSG(watchdog_open(&dev, &watchdog_soft_ops, cfg, "watchdog") == 0, "%s", dev.error);
	for (i = 0; i < 25; i++) {
		usleep(20000);
		ASSERT_EQ(watchdog_keepalive(&dev), 0);
	}
	ASSERT_EQ(watchdog_expired(&dev), 0);
	ASSERT_EQ(dev.keepalives, 25);
	watchdog_close(&dev);
	config_free(cfg);
}

TEST(soft_not_fed_expires_within_timeout_and_says_so)
{
	struct config *cfg = load_cfg("[watchdog]\ntimeout_ms = 100\n");
	struct watchdog_dev dev;
	struct capture cap;
	char out[512];
	uint64_t t0, took;
	unsigned long long ms = 0;
	int got;

	ASSERT(cfg);
	ASSERT_EQ(capture_start(&cap, "soft1.stderr"), 0);
	t0 = hal_now_ns();
	if (watchdog_open(&dev, &watchdog_soft_ops, cfg, "watchdog") < 0) {
		capture_stop(&cap, out, sizeof(out));
		ASSERT_MSG(0, "%s", dev.error);
	}
	got = wait_expired(&dev, 1);
	took = hal_now_ns() - t0;
	watchdog_close(&dev);
	capture_stop(&cap, out, sizeof(out));
	ASSERT_EQ(got, 1);
	ASSERT_MSG(took >= 100 * MS && took < 250 * MS, "expired after %llu ms",
		   (unsigned long long)(took / MS));
	ASSERT_EQ(dev.timeout_s, 1); /* rounded up for the supervisor */
	ASSERT_MSG(sscanf(out, "watchdog(soft): expired after %llu ms without keepalive\n", &ms) ==
		       1,
		   "stderr was \"%s\"", out);
	ASSERT_MSG(ms >= 100 && ms < 250, "reported %llu ms", ms);
	ASSERT_EQ(count_lines(out), 1);
	config_free(cfg);
}

TEST(soft_counts_every_expiry_and_rearms)
{
	struct config *cfg = load_cfg("[watchdog]\ntimeout_ms = 40\n");
	struct watchdog_dev dev;
	struct capture cap;
	unsigned long long ms[3];
	char out[1024];
	const char *p;
	uint64_t t0, took;
	int got, lines, i;

	ASSERT(cfg);
	ASSERT_EQ(capture_start(&cap, "soft2.stderr"), 0);
	t0 = hal_now_ns();
	if (watchdog_open(&dev, &watchdog_soft_ops, cfg, "watchdog") < 0) {
		capture_stop(&cap, out, sizeof(out));
		ASSERT_MSG(0, "%s", dev.error);
	}
	got = wait_expired(&dev, 3);
	took = hal_now_ns() - t0;
	/* A keepalive re-arms but does not reset the count. */
	watchdog_keepalive(&dev);
	lines = watchdog_expired(&dev);
	watchdog_close(&dev);
	capture_stop(&cap, out, sizeof(out));
	ASSERT_EQ(got, 3);
	ASSERT_MSG(took >= 120 * MS, "3 expiries after %llu ms", (unsigned long long)(took / MS));
	ASSERT(lines >= 3);
	ASSERT_EQ(count_lines(out), lines);
	/* Silence is measured from the last keepalive, not from the last expiry. */
	for (p = out, i = 0; i < 3; i++) {
		ASSERT_MSG(sscanf(p, "watchdog(soft): expired after %llu ms without keepalive\n",
				  &ms[i]) == 1,
			   "line %d of \"%s\"", i + 1, out);
		ASSERT_MSG(ms[i] >= 40ull * (unsigned)(i + 1), "expiry %d after %llu ms", i + 1,
			   ms[i]);
		ASSERT(i == 0 || ms[i] > ms[i - 1]);
		p = strchr(p, '\n') + 1;
	}
	config_free(cfg);
}

TEST(soft_close_stops_it)
{
	struct config *cfg = load_cfg("[watchdog]\ntimeout_ms = 20\n");
	struct config *slow = load_cfg("[watchdog]\ntimeout_s = 600\n");
	struct watchdog_dev dev;
	struct capture cap;
	char out[1024];
	uint64_t t0, took;
	int at_close;

	ASSERT(cfg && slow);
	ASSERT_EQ(capture_start(&cap, "soft3.stderr"), 0);
	if (watchdog_open(&dev, &watchdog_soft_ops, cfg, "watchdog") < 0) {
		capture_stop(&cap, out, sizeof(out));
		ASSERT_MSG(0, "%s", dev.error);
	}
	wait_expired(&dev, 1);
	watchdog_close(&dev);
	ASSERT(dev.priv == NULL);
	fflush(stderr);
	{
		FILE *f = fopen(cap.path, "r");
		char buf[1024];
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = '\0';
		at_close = count_lines(buf);
	}
	usleep(100000); /* five more timeouts' worth */
	capture_stop(&cap, out, sizeof(out));
	ASSERT(at_close >= 1);
	ASSERT_EQ(count_lines(out), at_close);

	/* Close does not wait out a long timeout. */
	ASSERT_MSG(watchdog_open(&dev, &watchdog_soft_ops, slow, "watchdog") == 0, "%s", dev.error);
	ASSERT_EQ(dev.timeout_s, 600);
	t0 = hal_now_ns();
	watchdog_close(&dev);
	took = hal_now_ns() - t0;
	ASSERT_MSG(took < 100 * MS, "close took %llu ms", (unsigned long long)(took / MS));
	watchdog_close(&dev); /* twice is harmless */
	config_free(cfg);
	config_free(slow);
}

TEST(soft_defaults_and_config_errors)
{
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"[watchdog]\ntimeout_s = 5\ntimeout_ms = 100\n",
	     "watchdog(soft): test.conf: [watchdog] has both timeout_s and timeout_ms; keep one"},
	    {"[watchdog]\ntimeout_ms = 5\n",
	     "test.conf:2: [watchdog] timeout_ms: expected a whole number from 10 to 600000, "
	     "got '5'"},
	    {"[watchdog]\ntimeout_s = 0\n", "[watchdog] timeout_s: expected a whole number from 1 "
					    "to 600, got '0'"},
	};
	struct config_error err;
	struct watchdog_dev dev;
	struct config *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cfg = load_cfg(cases[i].text);
		ASSERT(cfg);
		ASSERT_EQ(watchdog_open(&dev, &watchdog_soft_ops, cfg, "watchdog"), -EINVAL);
		ASSERT_CONTAINS(dev.error, cases[i].want);
		ASSERT(dev.priv == NULL);
		config_free(cfg);
	}

	cfg = load_cfg("[watchdog]\n");
	ASSERT(cfg);
	ASSERT_EQ(watchdog_open(&dev, &watchdog_soft_ops, cfg, "watchdog"), 0);
	ASSERT_EQ(dev.timeout_s, 15);
	watchdog_close(&dev);
	config_free(cfg);

	cfg = load_cfg("[watchdog]\ntimeout_ms = 1500\n");
	ASSERT(cfg);
	ASSERT_EQ(watchdog_open(&dev, &watchdog_soft_ops, cfg, "watchdog"), 0);
	ASSERT_EQ(dev.timeout_s, 2);
	ASSERT_MSG(config_check_unused(cfg, &err) == 0, "%s", err.msg);
	watchdog_close(&dev);
	config_free(cfg);
}
