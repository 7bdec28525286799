#include "firmware/stage.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hal/time.h"

static const struct {
	int fifo;
	int nice;
} priorities[] = {
    [STAGE_PRIO_CONVERSATION] = {30, -10},
    [STAGE_PRIO_SENSOR] = {20, -5},
    [STAGE_PRIO_BACKGROUND] = {0, 10},
};

const char *stage_state_name(enum stage_state s)
{
	switch (s) {
	case STAGE_STATE_STOPPED:
		return "stopped";
	case STAGE_STATE_STARTING:
		return "starting";
	case STAGE_STATE_RUNNING:
		return "running";
	case STAGE_STATE_EXITED:
		return "exited";
	case STAGE_STATE_DONE:
		return "done";
	case STAGE_STATE_FAILED:
		return "failed";
	}
	return "?";
}

void stage_init(struct stage *st, const struct stage_desc *desc)
{
	memset(st, 0, sizeof(*st));
	st->desc = *desc;
	atomic_store(&st->state, STAGE_STATE_STOPPED);
	histogram_reset(&st->latency);
}

/*
 * SCHED_FIFO when asked for and permitted (root or CAP_SYS_NICE), else a
 * nice level; either way the thread records what it got for the log.
 */
static void apply_priority(struct stage *st, bool realtime)
{
	int fifo = priorities[st->desc.priority].fifo;
	int nice_level = priorities[st->desc.priority].nice;
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (realtime && fifo > 0) {
		struct sched_param sp = {.sched_priority = fifo};

		if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0) {
			snprintf(st->sched, sizeof(st->sched), "SCHED_FIFO %d", fifo);
			return;
		}
	}
	/* Linux applies nice per thread when given the thread id. */
	if (setpriority(PRIO_PROCESS, (id_t)tid, nice_level) == 0)
		snprintf(st->sched, sizeof(st->sched), "nice %d", nice_level);
	else
		snprintf(st->sched, sizeof(st->sched), "nice %d (wanted %d: %s)",
			 getpriority(PRIO_PROCESS, (id_t)tid), nice_level, strerror(errno));
}

static void run_fini(void *arg)
{
	struct stage *st = arg;

	if (st->initialised && st->desc.fini)
		st->desc.fini(st->desc.ctx);
	st->initialised = false;
}

static void *stage_main(void *arg)
{
	struct stage *st = arg;
	int rc, old;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &old);
	apply_priority(st, st->realtime);
	atomic_store(&st->heartbeat_ns, hal_now_ns());
	st->error[0] = '\0';
	rc = st->desc.init ? st->desc.init(st->desc.ctx, st->error, sizeof(st->error)) : 0;
	if (rc < 0) {
		if (!st->error[0])
			snprintf(st->error, sizeof(st->error), "init failed: %s", strerror(-rc));
		atomic_fetch_add(&st->errors, 1);
		atomic_store(&st->state, STAGE_STATE_EXITED);
		return NULL;
	}
	st->initialised = true;
	atomic_store(&st->state, STAGE_STATE_RUNNING);

	pthread_cleanup_push(run_fini, st);
	while (!atomic_load(&st->stop)) {
		atomic_store_explicit(&st->heartbeat_ns, hal_now_ns(), memory_order_relaxed);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
		rc = st->desc.step(st->desc.ctx, st, st->error, sizeof(st->error));
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
		atomic_store_explicit(&st->heartbeat_ns, hal_now_ns(), memory_order_relaxed);
		if (rc == -ENODATA) {
			atomic_store(&st->state, STAGE_STATE_DONE);
			break;
		}
		if (rc < 0) {
			if (!st->error[0])
				snprintf(st->error, sizeof(st->error), "step failed: %s",
					 strerror(-rc));
			atomic_fetch_add(&st->errors, 1);
			atomic_store(&st->state, STAGE_STATE_EXITED);
			break;
		}
	}
	pthread_cleanup_pop(1);
	if (atomic_load(&st->stop) && stage_get_state(st) == STAGE_STATE_RUNNING)
		atomic_store(&st->state, STAGE_STATE_STOPPED);
	return NULL;
}

int stage_start(struct stage *st, bool realtime)
{
	pthread_attr_t attr;
	int rc;

	atomic_store(&st->stop, false);
	atomic_store(&st->state, STAGE_STATE_STARTING);
	atomic_store(&st->started_ns, hal_now_ns());
	atomic_store(&st->heartbeat_ns, hal_now_ns());
	st->sched[0] = '\0';
	st->realtime = realtime;
	pthread_attr_init(&attr);
	rc = pthread_create(&st->thread, &attr, stage_main, st);
	pthread_attr_destroy(&attr);
	if (rc) {
		atomic_store(&st->state, STAGE_STATE_EXITED);
		snprintf(st->error, sizeof(st->error), "cannot start thread: %s", strerror(rc));
		return -rc;
	}
	st->thread_valid = true;
	{
		char name[16];

		snprintf(name, sizeof(name), "eb-%s", st->desc.name);
		pthread_setname_np(st->thread, name);
	}
	return 0;
}

void stage_request_stop(struct stage *st)
{
	atomic_store(&st->stop, true);
	if (st->desc.wake)
		st->desc.wake(st->desc.ctx);
}

int stage_join(struct stage *st, int timeout_ms)
{
	struct timespec ts;
	int rc;

	if (!st->thread_valid)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	rc = pthread_timedjoin_np(st->thread, NULL, &ts);
	if (rc == ETIMEDOUT)
		return -ETIMEDOUT;
	st->thread_valid = false;
	return 0;
}

int stage_cancel(struct stage *st, int timeout_ms)
{
	if (!st->thread_valid)
		return 0;
	atomic_store(&st->stop, true);
	pthread_cancel(st->thread);
	if (st->desc.wake)
		st->desc.wake(st->desc.ctx);
	if (stage_join(st, timeout_ms) < 0)
		return -ETIMEDOUT;
	atomic_store(&st->state, STAGE_STATE_EXITED);
	return 0;
}

void stage_item_done(struct stage *st, uint64_t item_ts_ns, uint64_t now_ns)
{
	atomic_fetch_add_explicit(&st->items, 1, memory_order_relaxed);
	if (item_ts_ns && now_ns >= item_ts_ns)
		histogram_add(&st->latency, now_ns - item_ts_ns);
	atomic_store_explicit(&st->heartbeat_ns, now_ns, memory_order_relaxed);
}

void stage_critical_begin(void)
{
	int old;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
}

void stage_critical_end(void)
{
	int old;

	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
}
