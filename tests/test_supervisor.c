#include "tests/test.h"
#include "firmware/log.h"
#include "firmware/stage.h"
#include "firmware/supervisor.h"
#include "hal/time.h"
#include "hal/watchdog.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "firmware/sdnotify.h"

#define MS 1000000ull

/* A test stage whose behaviour the test sets. */
struct fake {
	_Atomic int inits, finis, steps;
	_Atomic int stall_after;  /* steps before it sleeps forever; -1 never */
	_Atomic int fail_init;	  /* init fails while > 0, counting down */
	_Atomic int fail_step_at; /* step number that returns -EIO; -1 never */
	_Atomic int done_at;	  /* step number that returns -ENODATA; -1 never */
};

static int fake_init(void *ctx, char *err, size_t len)
{
	struct fake *f = ctx;

	atomic_fetch_add(&f->inits, 1);
	if (atomic_load(&f->fail_init) > 0) {
		atomic_fetch_sub(&f->fail_init, 1);
		snprintf(err, len, "cannot open /dev/fake0: No such device (plug it in)");
		return -ENODEV;
	}
	return 0;
}

static int fake_step(void *ctx, struct stage *st, char *err, size_t len)
{
	struct fake *f = ctx;
	int n = atomic_fetch_add(&f->steps, 1);

	(void)st;
	if (atomic_load(&f->stall_after) >= 0 && n >= atomic_load(&f->stall_after)) {
		atomic_store(&f->stall_after, -1); /* stall once */
		for (;;)
			sleep(10); /* a cancellation point, like a blocked read */
	}
	if (n == atomic_load(&f->fail_step_at)) {
		snprintf(err, len, "device went away");
		return -EIO;
	}
	if (n == atomic_load(&f->done_at))
		return -ENODATA;
	usleep(2000);
	return 0;
}

static void fake_fini(void *ctx)
{
	struct fake *f = ctx;

	atomic_fetch_add(&f->finis, 1);
}

static void fake_reset(struct fake *f)
{
	atomic_store(&f->inits, 0);
	atomic_store(&f->finis, 0);
	atomic_store(&f->steps, 0);
	atomic_store(&f->stall_after, -1);
	atomic_store(&f->fail_init, 0);
	atomic_store(&f->fail_step_at, -1);
	atomic_store(&f->done_at, -1);
}

static void make_stage(struct stage *st, struct fake *f, const char *name, bool critical,
		       uint32_t deadline_ms)
{
	struct stage_desc d = {
	    .name = name,
	    .priority = STAGE_PRIO_SENSOR,
	    .critical = critical,
	    .deadline_ms = deadline_ms,
	    .init = fake_init,
	    .step = fake_step,
	    .fini = fake_fini,
	    .ctx = f,
	};

	fake_reset(f);
	stage_init(st, &d);
}

/* A watchdog that counts keepalives. */
static int fake_wd_open(struct watchdog_dev *dev, const struct config *c, const char *s)
{
	(void)c;
	(void)s;
	dev->timeout_s = 1;
	return 0;
}

static int fake_wd_keepalive(struct watchdog_dev *dev)
{
	(void)dev;
	return 0;
}

static const struct watchdog_ops fake_wd_ops = {
    .name = "fake",
    .open = fake_wd_open,
    .keepalive = fake_wd_keepalive,
};

static void params(struct supervisor_params *p)
{
	supervisor_params_default(p);
	p->realtime = false;
	p->backoff_initial_ms = 20;
	p->backoff_max_ms = 40;
	p->cancel_timeout_ms = 500;
}

/* Ticks every 10 ms for ms milliseconds, or until cond holds. */
#define RUN_UNTIL(sup, ms, cond)                                                                   \
	do {                                                                                       \
		uint64_t end_ = hal_now_ns() + (uint64_t)(ms)*MS;                                  \
		while (!(cond) && hal_now_ns() < end_) {                                           \
			supervisor_tick((sup), hal_now_ns());                                      \
			usleep(10000);                                                             \
		}                                                                                  \
	} while (0)

TEST(stalled_stage_is_restarted_within_its_deadline)
{
	static struct fake f;
	static struct stage st;
	struct supervisor_params p;
	struct supervisor sup;
	uint64_t stalled_at, restarted_at;

	log_set_level(LOG_LEVEL_ERROR - 1); /* quiet */
	make_stage(&st, &f, "stall", true, 100);
	atomic_store(&f.stall_after, 5);
	params(&p);
	p.backoff_initial_ms = 1;
	supervisor_init(&sup, &p, NULL);
	ASSERT_EQ(supervisor_add(&sup, &st), 0);
	ASSERT_EQ(supervisor_start_all(&sup), 0);
	RUN_UNTIL(&sup, 1000, atomic_load(&f.steps) >= 5);
	stalled_at = hal_now_ns();
	RUN_UNTIL(&sup, 2000,
		  atomic_load(&st.restarts) >= 1 && stage_get_state(&st) == STAGE_STATE_RUNNING);
	restarted_at = hal_now_ns();
	ASSERT_EQ(atomic_load(&st.restarts), 1);
	ASSERT_EQ(stage_get_state(&st), STAGE_STATE_RUNNING);
	/* deadline 100 ms + a tick + cancel and start: well under 400 ms */
	ASSERT_MSG(restarted_at - stalled_at < 400 * MS, "restart took %llu ms",
		   (unsigned long long)((restarted_at - stalled_at) / MS));
	ASSERT_EQ(atomic_load(&f.inits), 2);
	ASSERT_EQ(atomic_load(&f.finis), 1); /* fini ran for the cancelled run */
	supervisor_stop_all(&sup, 500);
	ASSERT_EQ(atomic_load(&f.finis), 2);
	ASSERT_EQ(stage_get_state(&st), STAGE_STATE_STOPPED);
}

TEST(stage_that_keeps_failing_is_marked_failed)
{
	static struct fake f;
	static struct stage st;
	struct supervisor_params p;
	struct supervisor sup;

	make_stage(&st, &f, "broken", false, 100);
	atomic_store(&f.fail_init, 1000);
	params(&p);
	p.max_failures = 3;
	supervisor_init(&sup, &p, NULL);
	supervisor_add(&sup, &st);
	supervisor_start_all(&sup);
	RUN_UNTIL(&sup, 3000, stage_get_state(&st) == STAGE_STATE_FAILED);
	ASSERT_EQ(stage_get_state(&st), STAGE_STATE_FAILED);
	ASSERT_EQ(atomic_load(&f.inits), 4); /* first start + 3 restarts */
	ASSERT_EQ(atomic_load(&f.finis), 0); /* init never succeeded */
	ASSERT_CONTAINS(st.error, "/dev/fake0");
	/* a non-critical failed stage leaves the box healthy (degraded) */
	ASSERT(sup.healthy);
	supervisor_stop_all(&sup, 500);
}

TEST(stage_that_fails_once_recovers)
{
	static struct fake f;
	static struct stage st;
	struct supervisor_params p;
	struct supervisor sup;

	make_stage(&st, &f, "flaky", false, 100);
	atomic_store(&f.fail_step_at, 3);
	params(&p);
	supervisor_init(&sup, &p, NULL);
	supervisor_add(&sup, &st);
	supervisor_start_all(&sup);
	RUN_UNTIL(&sup, 2000, atomic_load(&st.restarts) == 1 && atomic_load(&f.steps) > 10);
	ASSERT_EQ(atomic_load(&st.restarts), 1);
	ASSERT_EQ(stage_get_state(&st), STAGE_STATE_RUNNING);
	ASSERT_EQ(atomic_load(&st.errors), 1);
	supervisor_stop_all(&sup, 500);
}

TEST(finished_input_is_not_restarted)
{
	static struct fake f;
	static struct stage st;
	struct supervisor_params p;
	struct supervisor sup;

	make_stage(&st, &f, "replay", false, 100);
	atomic_store(&f.done_at, 3);
	params(&p);
	supervisor_init(&sup, &p, NULL);
	supervisor_add(&sup, &st);
	supervisor_start_all(&sup);
	RUN_UNTIL(&sup, 300, 0);
	ASSERT_EQ(stage_get_state(&st), STAGE_STATE_DONE);
	ASSERT_EQ(atomic_load(&st.restarts), 0);
	ASSERT_EQ(atomic_load(&f.finis), 1);
	supervisor_stop_all(&sup, 500);
}

TEST(watchdog_fed_only_while_critical_stages_are_healthy)
{
	static struct fake fc, fs;
	static struct stage crit, sensor;
	struct supervisor_params p;
	struct supervisor sup;
	struct watchdog_dev wd;
	uint64_t fed;

	ASSERT_EQ(watchdog_open(&wd, &fake_wd_ops, NULL, "watchdog"), 0);
	make_stage(&crit, &fc, "conversation", true, 100);
	make_stage(&sensor, &fs, "ble", false, 100);
	atomic_store(&fs.fail_init, 1000); /* a dead sensor does not starve the watchdog */
	params(&p);
	p.max_failures = 1000;
	supervisor_init(&sup, &p, &wd);
	supervisor_add(&sup, &sensor);
	supervisor_add(&sup, &crit);
	supervisor_start_all(&sup);
	RUN_UNTIL(&sup, 300, 0);
	ASSERT(sup.healthy);
	ASSERT(wd.keepalives > 5);

	/* Now the critical stage dies for good: feeding stops. */
	atomic_store(&fc.fail_init, 1000);
	atomic_store(&fc.fail_step_at, atomic_load(&fc.steps) + 1);
	RUN_UNTIL(&sup, 1000, !sup.healthy);
	ASSERT(!sup.healthy);
	ASSERT_CONTAINS(sup.unhealthy_reason, "conversation");
	fed = wd.keepalives;
	RUN_UNTIL(&sup, 300, 0);
	ASSERT_EQ(wd.keepalives, fed);
	supervisor_stop_all(&sup, 500);
}

TEST(systemd_watchdog_pings_go_to_notify_socket)
{
	static struct fake f;
	static struct stage st;
	struct supervisor_params p;
	struct supervisor sup;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[200], buf[64];
	int fd, pings = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/notify.sock", test_tmpdir());
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	ASSERT(fd >= 0);
	ASSERT(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", path, 1);
	ASSERT_EQ(sdnotify_send("READY=1"), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	ASSERT_EQ(n, 7);
	buf[n] = '\0';
	ASSERT_STREQ(buf, "READY=1");

	make_stage(&st, &f, "conversation", true, 100);
	params(&p);
	p.sd_watchdog_usec = 100000; /* WatchdogSec=100ms: ping every 50 ms */
	supervisor_init(&sup, &p, NULL);
	supervisor_add(&sup, &st);
	supervisor_start_all(&sup);
	RUN_UNTIL(&sup, 400, 0);
	while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		ASSERT_STREQ(buf, "WATCHDOG=1");
		pings++;
	}
	ASSERT_MSG(pings >= 4 && pings <= 9, "pings %d", pings);
	supervisor_stop_all(&sup, 500);
	unsetenv("NOTIFY_SOCKET");
	ASSERT_EQ(sdnotify_send("READY=1"), 0);
	close(fd);
}

TEST(stage_records_latency_and_priority)
{
	static struct fake f;
	static struct stage st;

	make_stage(&st, &f, "lat", false, 100);
	stage_item_done(&st, 1000, 1000 + 5000);
	stage_item_done(&st, 1000, 1000 + 7000);
	ASSERT_EQ(atomic_load(&st.items), 2);
	ASSERT(histogram_quantile(&st.latency, 0.5) >= 5000);
	ASSERT(histogram_quantile(&st.latency, 0.99) >= 7000);
	ASSERT_EQ(stage_start(&st, false), 0);
	usleep(50000);
	stage_request_stop(&st);
	ASSERT_EQ(stage_join(&st, 500), 0);
	ASSERT_CONTAINS(st.sched, "nice");
}
